#!/usr/bin/env bash
# Create (once) and refresh (when pyproject.toml changes) the project's virtual environment in .venv.
# Sourced by run_workflow.sh and run_tests.sh; needs only python3 (>= 3.11) with venv and pip.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SKSR_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: $python is $("$python" --version 2>&1); sksr needs Python >= 3.11" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating virtual environment $venv" >&2
  "$python" -m venv "$venv" || {
    echo "error: '$python -m venv' failed; on Debian/Ubuntu run: apt-get install python3-venv" >&2
    exit 1
  }
fi
stamp="$venv/.sksr-installed"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing sksr and its pinned dependencies into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e "$root[dev]"
  echo "$want" >"$stamp"
fi
export PATH="$venv/bin:$PATH"
