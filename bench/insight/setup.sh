#!/bin/sh
# Creates bench/insight/.venv with pm4py (from PyPI).
set -eu
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -r requirements.txt
.venv/bin/python -c "import pm4py; print('pm4py', pm4py.__version__)"
