#!/usr/bin/env bash
# Creates bench/cpsat/.venv with the pinned OR-Tools (CP-SAT) of requirements.txt.
# Usage: bench/cpsat/setup.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install --quiet --upgrade pip
"$here/.venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
"$here/.venv/bin/python" -c 'import ortools; print("ortools", ortools.__version__, "ready in", "'"$here"'/.venv")'
