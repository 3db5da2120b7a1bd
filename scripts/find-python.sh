#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or explain what to install.
# Looks at $LONGHAUL_PYTHON, then python3.13/python3.12/python3 on PATH, then
# pyenv and uv-managed installs, so a machine whose default python3 is older
# still works without any manual step.
set -euo pipefail

ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }

candidates=()
[ -n "${LONGHAUL_PYTHON:-}" ] && candidates+=("$LONGHAUL_PYTHON")
for name in python3.14 python3.13 python3.12 python3 python; do
  p=$(command -v "$name" 2>/dev/null) && candidates+=("$p")
done
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
for dir in "$pyenv_root"/versions/3.1[2-9]* "$HOME"/.local/share/uv/python/cpython-3.1[2-9]*; do
  [ -x "$dir/bin/python3" ] && candidates+=("$dir/bin/python3")
done

for c in "${candidates[@]}"; do
  # pyenv shims answer for whatever version is selected: resolve them first.
  real=$("$c" -c 'import sys; print(sys.executable)' 2>/dev/null) || continue
  if ok "$real"; then
    echo "$real"
    exit 0
  fi
done

cat >&2 <<'MSG'
Longhaul needs Python 3.12 or newer, and none was found
(looked at $LONGHAUL_PYTHON, python3.1x/python3 on PATH, pyenv and uv installs).
Install one, for example:
  Debian/Ubuntu:  apt-get install python3.12 python3.12-venv
  macOS:          brew install python@3.12
  pyenv:          pyenv install 3.12
then run the command again, or point LONGHAUL_PYTHON at it.
MSG
exit 1
