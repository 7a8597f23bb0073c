# shellcheck shell=bash
# bench/lib.sh — helpers shared by bench/relay.sh, scheduler.sh and
# submission.sh (sourced, not run).
#
# What it provides:
#   in_private_netns "$@"   re-exec the calling script under
#                           `unshare --net --mount` (only "lo" exists there:
#                           nothing leaves the machine; ports cannot clash
#                           with anybody else's), then brings lo up
#   cg_new/cg_run/cg_cpu/cg_pids   one cpuacct cgroup (v1 or v2) per process
#                           tree we start: CPU seconds and its process list
#   mem_start/mem_stop      1 s sampler of the peak sum of PSS (and RSS) of
#                           a cgroup's processes
#   sink_start/sink_count   Postfix's smtp-sink with -c (running counters);
#                           the count is the last "mesg=N" it printed
#   tern_conf               a ternd.conf plus users file under a work dir
#   machine_line, load_line text for the results files
#   stop_all                stop (by pid) everything this script started
# Everything started is recorded in STARTED and stopped by pid at exit.
#
# Unpacked Debian packages come from $BENCH_HOME/root/<pkg> (peers.sh in
# ../shared/bench fetches them); nothing is installed.

BENCH_HOME=${BENCH_HOME:-/var/tmp/tern-bench}
BROOT=$BENCH_HOME/root
PFX=$BROOT/postfix
PFX_LIB=$PFX/usr/lib/postfix
SMTP_SOURCE=$PFX/usr/sbin/smtp-source
SMTP_SINK=$PFX/usr/sbin/smtp-sink
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(dirname "$BENCH_DIR")
BUILD=${BUILD:-build}
TERND=$TOP/$BUILD/ternd
TERNCTL=$TOP/$BUILD/ternctl   # used by submission.sh
export TERNCTL

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }
# fsub A B -> B-A with 2 decimals; fdiv A B -> A/B
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
fdiv() { awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" 'BEGIN { if (b + 0 == 0) print "NA"; else printf f, a / b }'; }

need_root() { [ "$(id -u)" = 0 ] || die "run as root (namespaces, cgroups, daemons)"; }

# Re-exec "$0" "$@" in a private network and mount namespace.
in_private_netns() {
  if [ "${TERN_BENCH_NS:-}" != 1 ]; then
    command -v unshare >/dev/null || die "unshare (util-linux) missing"
    exec unshare --net --mount --propagation private -- env TERN_BENCH_NS=1 "$BASH" "$0" "$@"
  fi
  ip link set lo up || die "cannot bring up lo in the private network namespace"
}

# ------------------------------------------------------------- cgroups ----
CGBASE=""; CGKIND=none
cg_setup() {
  if [ -d /sys/fs/cgroup/cpuacct ] && mkdir -p "/sys/fs/cgroup/cpuacct/tern-bench-$1.$$" 2>/dev/null; then
    CGBASE=/sys/fs/cgroup/cpuacct/tern-bench-$1.$$; CGKIND=v1
  elif [ -f /sys/fs/cgroup/cgroup.controllers ] && mkdir -p "/sys/fs/cgroup/tern-bench-$1.$$" 2>/dev/null; then
    CGBASE=/sys/fs/cgroup/tern-bench-$1.$$; CGKIND=v2
  else
    die "no cpuacct cgroup available (needed for CPU accounting)"
  fi
}
cg_new() { mkdir -p "$CGBASE/$1"; }
cg_pids() { cat "$CGBASE/$1/cgroup.procs" 2>/dev/null; }
cg_cpu() {  # CPU seconds used by everything that ever ran in cgroup $1
  if [ $CGKIND = v1 ]; then awk '{ printf "%.3f\n", $1 / 1e9 }' "$CGBASE/$1/cpuacct.usage"
  else awk '$1 == "usage_usec" { printf "%.3f\n", $2 / 1e6 }' "$CGBASE/$1/cpu.stat"; fi
}
# "user_s system_s" of cgroup $1 (the kernel's share shows file system work).
cg_cpu_split() {
  if [ $CGKIND = v1 ]; then
    awk -v hz="$(getconf CLK_TCK)" '$1 == "user" { u = $2 } $1 == "system" { s = $2 } END { printf "%.2f %.2f\n", u / hz, s / hz }' "$CGBASE/$1/cpuacct.stat"
  else awk '$1 == "user_usec" { u = $2 } $1 == "system_usec" { s = $2 } END { printf "%.2f %.2f\n", u / 1e6, s / 1e6 }' "$CGBASE/$1/cpu.stat"; fi
}
# cg_run CG CMD...: run CMD in cgroup CG (the caller backgrounds it and
# takes $! as its pid: the subshell execs CMD).
cg_run() { local cg=$1; shift; echo $BASHPID > "$CGBASE/$cg/cgroup.procs"; exec "$@"; }

STARTED=""
track() { STARTED="$STARTED $1"; }
stop_pid() {  # pid [seconds]: TERM, wait, then KILL
  local pid=$1 t=${2:-15} i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < t * 10; i++)); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}
# Stop a cgroup's processes: pid we started first (clean shutdown), then any
# children left in the cgroup (they were started by that pid).
stop_cg() {  # cg pid
  local cg=$1 pid=$2 p
  [ -n "$pid" ] && stop_pid "$pid" 20
  for p in $(cg_pids "$cg"); do kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in $(cg_pids "$cg"); do kill -KILL "$p" 2>/dev/null; done
  STARTED=$(echo " $STARTED " | sed "s/ $pid / /")
}
stop_all() {
  mem_stop
  local p d
  for p in $STARTED; do stop_pid "$p" 10; done
  STARTED=""
  if [ -n "$CGBASE" ] && [ -d "$CGBASE" ]; then
    for d in "$CGBASE"/*/; do
      [ -d "$d" ] || continue
      for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    sleep 0.2
    for d in "$CGBASE"/*/; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    rmdir "$CGBASE" 2>/dev/null
  fi
}

# ------------------------------------------------------------- memory -----
MEMPID=""
mem_start() {  # cg outfile: writes "peak_pss_kib peak_rss_kib peak_nprocs"
  local cg=$1 outf=$2
  echo "0 0 0" > "$outf"
  ( mp=0; mr=0; mn=0
    while :; do
      read -r pss rss n < <(for p in $(cg_pids "$cg"); do
          cat "/proc/$p/smaps_rollup" 2>/dev/null | sed 's/^/x /'; echo "x END"; done |
        awk '$2 == "Pss:" { s += $3 } $2 == "Rss:" { r += $3 } $2 == "END" { n++ } END { print s + 0, r + 0, n + 0 }')
      [ "$pss" -gt "$mp" ] && mp=$pss
      [ "$rss" -gt "$mr" ] && mr=$rss
      [ "$n" -gt "$mn" ] && mn=$n
      echo "$mp $mr $mn" > "$outf.tmp" && mv "$outf.tmp" "$outf"
      sleep 1
    done ) >/dev/null 2>&1 &
  MEMPID=$!
}
mem_stop() { [ -n "$MEMPID" ] && kill "$MEMPID" 2>/dev/null && wait "$MEMPID" 2>/dev/null; MEMPID=""; }
# Current PSS/RSS (KiB) of one cgroup: "pss rss nprocs".
mem_now() {
  for p in $(cg_pids "$1"); do cat "/proc/$p/smaps_rollup" 2>/dev/null | sed 's/^/x /'; echo "x END"; done |
    awk '$2 == "Pss:" { s += $3 } $2 == "Rss:" { r += $3 } $2 == "END" { n++ } END { print s + 0, r + 0, n + 0 }'
}

# ------------------------------------------------------------- network ----
# Wait until host:port answers with a 220 greeting.
wait_banner() {
  local host=$1 port=$2 t=${3:-30} i line
  for ((i = 0; i < t * 5; i++)); do
    if { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
      line=""; read -r -t 5 line <&3; printf 'QUIT\r\n' >&3 2>/dev/null; exec 3>&- 3<&-
      case $line in 220*) return 0;; esac
    fi
    sleep 0.2
  done
  return 1
}

# smtp-sink on HOST:PORT in cgroup "sink", counting into LOG (-c prints
# "sess=N quit=N mesg=N" after every session/message, separated by CR).
SINK_PID=""
sink_start() {  # host port log
  cg_new sink
  ( cg_run sink env LD_LIBRARY_PATH=$PFX_LIB "$SMTP_SINK" -4 -c -u tbench -m 1000 "$1:$2" 1024 ) > "$3" 2>&1 &
  SINK_PID=$!; track $SINK_PID
  wait_banner "$1" "$2" 10 || die "smtp-sink did not start on $1:$2 (see $3)"
}
sink_count() {  # log -> messages received so far (the banner probe is not one)
  local n
  n=$(tail -c 200 "$1" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1)
  echo "${n#mesg=}" | sed 's/^$/0/'
}
# Wait until sink_count >= N; prints the time it got there, or "NA" after
# STALL seconds without progress.
sink_wait() {  # log n stall
  local logf=$1 n=$2 stall=${3:-60} c last=-1 lastt
  lastt=$(now)
  while :; do
    c=$(sink_count "$logf")
    if [ "$c" -ge "$n" ]; then now; return 0; fi
    if [ "$c" != "$last" ]; then last=$c; lastt=$(now); fi
    if awk -v a="$lastt" -v b="$(now)" -v s="$stall" 'BEGIN { exit !(b - a > s) }'; then echo NA; return 1; fi
    sleep 0.1
  done
}

# smtp-source: N messages of LEN octets, S sessions, one recipient each.
source_run() {  # cg host:port n sessions len rcpt logfile
  cg_new "$1"
  ( cg_run "$1" env LD_LIBRARY_PATH=$PFX_LIB timeout 900 "$SMTP_SOURCE" -4 -s "$4" -m "$3" -l "$5" \
      -M client.test -f sender@client.test -t "$6" "$2" ) > "$7" 2>&1
}

# ------------------------------------------------------------- tern -------
# tern_conf DIR [extra config lines on stdin]: DIR/ternd.conf, DIR/data/users.
tern_conf() {
  local d=$1
  mkdir -p "$d/data/mail/example.test/tbench"/{tmp,new,cur}
  echo "tbench@example.test" > "$d/data/users"
  : > "$d/data/aliases"
  {
    echo "hostname bench.test"
    echo "data_dir $d/data"
    echo "domains example.test"
    echo "max_connections_per_ip 2000"
    echo "max_line_length 0"
    echo "io_threads ${TERN_IO_THREADS:-8}"
    cat
  } > "$d/ternd.conf"
  "$TERND" -n -c "$d/ternd.conf" || die "ternd -n rejected $d/ternd.conf"
}
check_build() {
  [ -x "$TERND" ] || die "$TERND missing: cd $TOP && meson setup $BUILD -Dunit_tests=false && ninja -C $BUILD"
  [ -x "$SMTP_SOURCE" ] || die "$SMTP_SOURCE missing (run ../shared/bench/peers.sh once: it unpacks the packages)"
  getent passwd tbench >/dev/null || die "user tbench missing (peers.sh creates it)"
}

# ------------------------------------------------------------- text -------
machine_line() {
  echo "$(nproc) cores ($(awk -F: '/model name/ { print $2; exit }' /proc/cpuinfo | sed 's/^ *//')), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r), /var/tmp on $(df -T /var/tmp | awk 'NR == 2 { print $2 }')"
}
load_line() { awk '{ print $1, $2, $3 }' /proc/loadavg; }
# Other processes that used CPU lately (the machine may be shared).
busy_line() {
  ps -e -o pcpu=,comm= --sort=-pcpu | awk '$1 >= 5 { printf "%s%s %s%%", (n++ ? ", " : ""), $2, $1 } END { if (!n) printf "none" }'
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (!NR) print "NA"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
