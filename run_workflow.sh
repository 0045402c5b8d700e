#!/usr/bin/env bash
# Set up the environment (first call only) and regenerate every table and figure of the paper config
# with the default local executor. Extra arguments go to snakemake, e.g. ./run_workflow.sh references
set -euo pipefail
cd "$(dirname "$0")"
source tools/bootstrap.sh
snakemake --cores all "$@"
