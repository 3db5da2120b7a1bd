#!/usr/bin/env bash
# `make test`: every tier. The soak tier spends 400 s mostly waiting (a job a
# second against its own stack), so it runs beside the other tiers instead of
# after them: CI's wall time is the longer of the two, not their sum.
#
#   LONGHAUL_TEST_MARKERS="not images" make test   # leave tiers out (a pytest -m expression)
#   LONGHAUL_TEST_SERIAL=1 make test               # the soak after the rest, as one pytest run
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
py=.venv/bin/python
markers=${LONGHAUL_TEST_MARKERS:-}

with() {  # with EXPR: the -m expression "(markers) and (EXPR)"
  if [ -n "$markers" ]; then echo "($markers) and ($1)"; else echo "$1"; fi
}

if [ -n "${LONGHAUL_TEST_SERIAL:-}" ]; then
  if [ -n "$markers" ]; then exec "$py" -m pytest -m "$markers"; fi
  exec "$py" -m pytest
fi

soak_log=$(mktemp -t longhaul-soak.XXXXXX)
rest_log=$(mktemp -t longhaul-rest.XXXXXX)
trap 'rm -f "$soak_log" "$rest_log"' EXIT
"$py" -m pytest -m "$(with soak)" -p no:cacheprovider >"$soak_log" 2>&1 &
soak_pid=$!
echo "make test: the soak tier runs in the background (pid $soak_pid); its output follows the rest"

"$py" -m pytest -m "$(with 'not soak')" 2>&1 | tee "$rest_log"
rest=${PIPESTATUS[0]}
wait "$soak_pid"
soak=$?

echo
echo "===== soak tier (ran beside the tiers above) ====="
cat "$soak_log"
# pytest's 5 is "no test collected": a marker expression may leave the soak out.
[ "$soak" -eq 5 ] && soak=0
echo
echo "===== make test: other tiers exit $rest, soak exit $soak; the other tiers' summary again ====="
tail -n 1 "$rest_log"
[ "$rest" -eq 0 ] && [ "$soak" -eq 0 ]
