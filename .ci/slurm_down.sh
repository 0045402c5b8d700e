#!/usr/bin/env bash
# Stop the test cluster started by .ci/slurm_up.sh, by its pidfiles (never by process name).
set -uo pipefail
for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")" && echo "[slurm] stopped $(basename "$pidfile" .pid)" >&2
  fi
done
