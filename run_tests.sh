#!/usr/bin/env bash
# Set up the environment (first call only) and run the whole test suite.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k scf -x
set -euo pipefail
cd "$(dirname "$0")"
source tools/bootstrap.sh
python -m pytest "$@"
