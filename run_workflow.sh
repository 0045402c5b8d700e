#!/usr/bin/env bash
# Set up the environment (first call only) and regenerate every table and figure of the paper config
# with the default local executor. Extra arguments go to snakemake, e.g. ./run_workflow.sh references
# `sksr run` checks the --configfile files (naming file and line; empty overrides are no-ops), then
# replaces itself with `snakemake --cores all "$@"`: this script's PID becomes Snakemake's, so Ctrl-C,
# `kill PID` (SIGTERM) or even `kill -9 PID` stop the run and every job it started (sksr/io/interrupts.py).
set -euo pipefail
cd "$(dirname "$0")"
source tools/bootstrap.sh
exec python -m sksr.pipeline.cli run "$@"
