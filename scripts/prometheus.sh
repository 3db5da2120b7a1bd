#!/usr/bin/env bash
# Prometheus and promtool for the observability tests (tests/observability/):
# Debian's `prometheus` package (2.42 on bookworm), installed when missing.
# Prints the directory holding both binaries. The package's own service is
# never started (the tests run their own Prometheus on a free loopback port).
#
#   bash scripts/prometheus.sh        # install if needed, print the bin dir
set -euo pipefail

have() { command -v prometheus >/dev/null && command -v promtool >/dev/null; }

if ! have; then
  command -v apt-get >/dev/null || { echo "prometheus.sh: no prometheus/promtool and no apt-get: install Prometheus 2.42+ yourself" >&2; exit 1; }
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  echo "prometheus.sh: installing prometheus (apt-get)" >&2
  "${sudo[@]}" apt-get update -qq >&2
  # dpkg must not start the packaged daemon on :9090: a policy-rc.d that
  # forbids it, for the time of the install when the machine has none.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >&2 || status=$?
  [ -z "$own_policy" ] || "${sudo[@]}" rm -f "$policy"
  [ "${status:-0}" = 0 ] || exit "$status"
fi
have || { echo "prometheus.sh: prometheus or promtool still missing after install" >&2; exit 1; }
dirname "$(command -v promtool)"
