#!/usr/bin/env bash
# Create or refresh .venv from uv.lock. Idempotent and quick when nothing changed.
# uv itself is installed from PyPI into .tools/uv so nothing global is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

groups=("$@")  # extra dependency groups, e.g. bench
python=$(bash scripts/find-python.sh)

uv=.tools/uv/bin/uv
if [ ! -x "$uv" ]; then
  echo "bootstrap: installing uv into .tools/uv (using $python)" >&2
  "$python" -m venv .tools/uv
  .tools/uv/bin/pip install --quiet --disable-pip-version-check "uv>=0.9,<1"
fi

stamp=.venv/.longhaul-sync
want="$(cat uv.lock pyproject.toml | sha256sum | cut -c1-16) ${groups[*]:-}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/python ]; then
  exit 0
fi
# --inexact: a plain `make test` must not uninstall what `make bench` added.
args=(sync --frozen --inexact --python "$python")
for g in "${groups[@]}"; do args+=(--group "$g"); done
UV_PYTHON_DOWNLOADS=never "$uv" "${args[@]}" >&2
echo "$want" > "$stamp"
