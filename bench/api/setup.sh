#!/bin/sh
# Creates bench/api/.venv with schemathesis (from PyPI), for schemathesis.sh.
set -eu
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -r requirements.txt
.venv/bin/schemathesis --version
