#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on this machine (Debian's slurm-wlm), so the
# cluster path (submitit, sbatch/srun) can be tried on one box and in CI.
#
#   tools/local_slurm.sh         install if needed, configure, start, wait for idle
#   tools/local_slurm.sh stop    stop the daemons this script started
#
# Idempotent: a second run with the cluster up only checks it. Needs root (or
# sudo). No systemd is assumed: munged, slurmctld and slurmd are started
# directly as background daemons. /etc/slurm/slurm.conf is only written when it
# is absent or was written by this script (first line is the marker below); a
# config of your own is used as it is.
set -euo pipefail

MARKER="# Written by gan_jax tools/local_slurm.sh"
CONF=/etc/slurm/slurm.conf
STATE_DIR=/var/run/local_slurm        # pid files of the daemons we started
LOG_DIR=/var/log/slurm
PARTITION=debug
WAIT_S=${LOCAL_SLURM_WAIT_S:-90}

if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo); fi
as_root() { "${SUDO[@]}" "$@"; }
log() { echo "local_slurm: $*" >&2; }

# A process with this exact command name is running (pgrep -x on the name).
running() { pgrep -x "$1" >/dev/null 2>&1; }

stop_daemon() {  # name
  local name=$1 pidfile=$STATE_DIR/$1.started pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    as_root kill -TERM "$pid" || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && as_root kill -KILL "$pid" || true
    log "stopped $name (pid $pid)"
  fi
  as_root rm -f "$pidfile"
}

if [ "${1:-}" = stop ]; then
  # Reverse order: compute node, controller, then munge.
  for d in slurmd slurmctld munged; do stop_daemon "$d"; done
  exit 0
elif [ -n "${1:-}" ]; then
  echo "usage: $0 [stop]" >&2
  exit 2
fi

# ---- 1. packages ------------------------------------------------------------
missing=()
for p in slurm-wlm munge; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  # Package lists only when they do not know the packages (fresh image).
  apt-cache show slurm-wlm munge >/dev/null 2>&1 || as_root apt-get update -qq
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      slurm-wlm munge >/dev/null; then
    # Stale package lists: refresh once and retry.
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      slurm-wlm munge >/dev/null
  fi
fi
as_root mkdir -p "$STATE_DIR" "$LOG_DIR"

# ---- 2. munge ----------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  as_root mkdir -p /etc/munge
  if command -v mungekey >/dev/null 2>&1; then
    as_root mungekey --create --keyfile=/etc/munge/munge.key --force
  else
    as_root dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
fi
as_root chown munge:munge /etc/munge/munge.key
as_root chmod 400 /etc/munge/munge.key
as_root mkdir -p /run/munge /var/log/munge /var/lib/munge
as_root chown munge:munge /run/munge /var/log/munge /var/lib/munge
as_root chmod 755 /run/munge

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if ! running munged; then
    log "starting munged"
    as_root rm -f /run/munge/munged.pid
    # munged refuses to run as root without --force; run it as its own user.
    as_root runuser -u munge -- /usr/sbin/munged
    as_root sh -c "cat /run/munge/munged.pid > $STATE_DIR/munged.started" 2>/dev/null \
      || as_root sh -c "pgrep -x -n munged > $STATE_DIR/munged.started"
  fi
  for _ in $(seq 1 20); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munge does not answer (munge -n | unmunge); munged log:"
    as_root tail -n 20 /var/log/munge/munged.log >&2 || true
    exit 1
  fi
fi

# ---- 3. slurm.conf -------------------------------------------------------------
NODE=$(hostname -s 2>/dev/null || echo localhost)
[ -n "$NODE" ] || NODE=localhost
if [ ! -f "$CONF" ] || head -n 1 "$CONF" | grep -qF "$MARKER"; then
  # What slurmd sees on this machine: CPUs, sockets/cores/threads, memory.
  hw=$(slurmd -C 2>/dev/null | head -n 1 || true)
  cpus=$(nproc --all)
  sockets=$(sed -n 's/.*[[:space:]]\(Sockets\|SocketsPerBoard\)=\([0-9]*\).*/\2/p' <<<"$hw")
  cores=$(sed -n 's/.*CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$hw")
  threads=$(sed -n 's/.*ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$hw")
  if [ -n "$sockets" ] && [ -n "$cores" ] && [ -n "$threads" ] \
      && [ $((sockets * cores * threads)) = "$cpus" ]; then
    topo="Sockets=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads"
  else
    topo=""
  fi
  mem_total=$(free -m | awk '/^Mem:/{print $2}')
  # Leave 10 % (at least 512 MiB) to the system; slurmd drains a node that
  # reports less memory than configured.
  margin=$(( mem_total / 10 > 512 ? mem_total / 10 : 512 ))
  mem=$(( mem_total - margin > 256 ? mem_total - margin : 256 ))
  new_conf=$(cat <<EOF
$MARKER (remove this line to keep your edits)
ClusterName=local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Look at pending jobs (e.g. a requeued one whose BeginTime has passed) every
# few seconds instead of every 30-60 s.
SchedulerParameters=bf_interval=5,sched_interval=5
SwitchType=switch/none
ReturnToService=2
# Jobs may be requeued (scontrol requeue; submitit's preemption path). A
# requeued job waits cred_expire s before it can start again (default 120).
JobRequeue=1
AuthInfo=cred_expire=10
KillWait=30
MinJobAge=300
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus $topo RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
)
  if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$new_conf" ]; then
    log "writing $CONF (node $NODE, $cpus CPUs, ${mem} MiB)"
    as_root mkdir -p /etc/slurm
    printf '%s\n' "$new_conf" | as_root tee "$CONF" >/dev/null
    conf_changed=1
  fi
else
  log "$CONF was not written by this script; starting the daemons with it as it is"
  NODE=$(sed -n 's/^[[:space:]]*NodeName=\([^[:space:],]*\).*/\1/p' "$CONF" | head -n 1)
  PARTITION=$(sed -n 's/^[[:space:]]*PartitionName=\([^[:space:]]*\).*/\1/p' "$CONF" | head -n 1)
fi
as_root mkdir -p /var/lib/slurm/slurmctld /var/lib/slurm/slurmd "$LOG_DIR"

# ---- 4. daemons ----------------------------------------------------------------
start_daemon() {  # name
  local name=$1
  if running "$name"; then return 0; fi
  log "starting $name"
  as_root "/usr/sbin/$name"       # forks into the background
  for _ in $(seq 1 20); do
    [ -s "/run/$name.pid" ] && break
    sleep 0.25
  done
  as_root sh -c "cat /run/$name.pid > $STATE_DIR/$name.started 2>/dev/null \
    || pgrep -x -n $name > $STATE_DIR/$name.started"
}
fail() {
  log "$*"
  for f in slurmctld slurmd; do
    echo "---- $LOG_DIR/$f.log (tail) ----" >&2
    as_root tail -n 30 "$LOG_DIR/$f.log" >&2 2>/dev/null || true
  done
  exit 1
}

if [ -n "${conf_changed:-}" ]; then
  # A new node definition needs fresh daemons: restart the ones we started;
  # any others are asked to re-read the file below.
  stop_daemon slurmd
  stop_daemon slurmctld
fi
start_daemon slurmctld
start_daemon slurmd
if [ -n "${conf_changed:-}" ]; then
  as_root scontrol reconfigure >/dev/null 2>&1 || true
fi

# ---- 5. wait for the node -------------------------------------------------------
t0=0   # SECONDS counts from the script's start
state=""
resumed=0
while :; do
  state=$(sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -n 1 || true)
  case "$state" in
    idle|mix|alloc|comp) break ;;
    down*|drain*|drng*|fail*)
      if [ "$resumed" -lt 3 ]; then
        as_root scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
        resumed=$((resumed + 1))
      fi ;;
  esac
  if ! running slurmctld; then fail "slurmctld is not running"; fi
  if ! running slurmd; then fail "slurmd is not running"; fi
  if [ $((SECONDS - t0)) -ge "$WAIT_S" ]; then
    fail "node $NODE not up after ${WAIT_S} s (state '${state:-none}')"
  fi
  sleep 1
done
echo "local SLURM up: partition $PARTITION, node $NODE $state ($((SECONDS - t0)) s)"
