#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests (tests/retention/): installed with
# apt-get when missing, started in a directory of its own on a loopback port.
#
#   scripts/postgres.sh install          # Debian's postgresql package, if no initdb is found
#   scripts/postgres.sh start DIR PORT   # initdb + pg_ctl start; prints the URL on stdout
#   scripts/postgres.sh stop DIR         # pg_ctl stop -m immediate (the cluster is thrown away)
#
# PostgreSQL refuses to run as root: as root the cluster belongs to the
# `postgres` user (created by the package) and DIR is handed to it.
set -euo pipefail

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { printf 'postgres.sh: ERROR: %s\n' "$*" >&2; exit 1; }

bindir() {
  local found
  found=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [ -n "$found" ] && [ -x "$found/initdb" ] && printf '%s\n' "$found"
}

install() {
  [ -n "$(bindir)" ] && return 0
  command -v apt-get >/dev/null || die "no PostgreSQL server and no apt-get: install postgresql yourself"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  log "installing postgresql (apt-get)"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq postgresql >/dev/null
  [ -n "$(bindir)" ] || die "postgresql installed but no initdb under /usr/lib/postgresql"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  local dir=$1 port=$2 bin
  install
  bin=$(bindir)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U longhaul --auth=trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  # fsync off: a test cluster, thrown away after the run.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=50" start >/dev/null \
    || { cat "$dir/server.log" >&2; die "pg_ctl start failed"; }
  printf 'postgresql://longhaul@127.0.0.1:%s/postgres\n' "$port"
}

stop() {
  local dir=$1 bin
  bin=$(bindir) || return 0
  [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}

case "${1:-}" in
  install) install ;;
  start) [ $# -eq 3 ] || die "usage: $0 start DIR PORT"; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  *) die "usage: $0 install | start DIR PORT | stop DIR" ;;
esac
