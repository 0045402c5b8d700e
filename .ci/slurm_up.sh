#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine (Debian bookworm, root, no systemd), for testing
# profiles/slurm in CI. Idempotent: a running cluster is left alone. Follows shared notes/slurm.md:
# munge -> slurmctld -> slurmd, each with a pidfile; stop with .ci/slurm_down.sh.
#   Partition: "debug" (Default=YES), all CPUs of this machine, 90% of its memory.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "error: .ci/slurm_up.sh must run as root (it installs and starts slurmctld/slurmd)" >&2
  exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  echo "[slurm] installing slurmctld slurmd slurm-client munge" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# munge: authentication between the daemons and the client commands.
if [ ! -f /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge && chown munge:munge /run/munge
if ! running /run/munge/munged.pid; then
  runuser -u munge -- munged --force
fi

# slurm.conf: one node (this machine, as reported by slurmd -C), one default partition.
host="$(hostname -s)"
node_line="$(slurmd -C | head -1)"
cpus="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node_line")"
memory="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")"
memory=$((memory * 9 / 10))
node_hw="$(sed -e 's/^NodeName=[^ ]* //' -e 's/ *UpTime=.*//' -e "s/RealMemory=[0-9]*/RealMemory=$memory/" <<<"$node_line")"
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
chown slurm:slurm /var/spool/slurmctld /var/log/slurm 2>/dev/null || true
conf=/etc/slurm/slurm.conf
new_conf="$(mktemp)"
cat >"$new_conf" <<CONF
# Written by sksr .ci/slurm_up.sh: single-node test cluster.
ClusterName=sksr-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=300
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host NodeAddr=127.0.0.1 $node_hw State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
changed=1
if [ -f "$conf" ] && cmp -s "$conf" "$new_conf"; then changed=0; fi
mv "$new_conf" "$conf" && chmod 644 "$conf"

if [ "$changed" = 1 ]; then
  for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
    if running "$pidfile"; then kill "$(cat "$pidfile")"; sleep 1; fi
  done
fi
running /run/slurmctld.pid || slurmctld
running /run/slurmd.pid || slurmd

# Wait until the node accepts jobs.
for _ in $(seq 1 30); do
  state="$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)"
  case "$state" in idle* | mix* | alloc*) break ;; esac
  sleep 1
done
state="$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)"
case "$state" in
  idle* | mix* | alloc*) echo "[slurm] up: node $host ($cpus CPUs, $memory MB), partition debug, state $state" >&2 ;;
  *)
    echo "error: SLURM node not ready (state '$state'); see /var/log/slurm/slurmctld.log and slurmd.log" >&2
    exit 1
    ;;
esac
