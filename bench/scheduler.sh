#!/usr/bin/env bash
# bench/scheduler.sh — does the cost of a delivery stay flat while 100,000
# deferred messages wait in tern's queue?
#
# Usage (as root, after make build):
#   bench/scheduler.sh              # 100,000 deferred; 3 batches of 1,000 before and after
#   bench/scheduler.sh --quick      # 10,000 deferred, 1 batch each (smoke test)
#   bench/scheduler.sh --deferred N --batch N --reps N --no-restart --keep
#   Environment: BUILD (default build), TERN_IO_THREADS (default 8).
#
# One ternd (in `unshare --net --mount`, lo only) with
#   route work.test 127.0.0.2:10200     smtp-sink (-c counts messages)
#   route *         127.0.0.9:1         nothing listens: connection refused
#   retry_initial 1h                    so the deferred stay deferred
# Phases:
#   1 empty queue: --reps batches of --batch messages (4 KiB, 20 sessions)
#     to tbench@work.test; per batch: wall time until smtp-sink has them all,
#     ternd CPU (accept + relay) per message, delay= of the deliveries
#     (arrival to 250 from the sink) p50/p99/max
#   2 fill: --deferred messages (1 KiB, 50 sessions) to x@deferred.test;
#     every one is tried at once, refused and deferred for 1h; accept rate,
#     CPU per message, ternd RSS/PSS afterwards
#   1b (unless --no-slow) 16 messages (io_threads x 2) to slow.test, whose
#     server (smtp-sink -W connect:15) greets after 15 s, then 100 messages
#     to work.test: does a slow destination hold up everybody's mail?
#   3 idle 10 s with the queue full: CPU used (a scan of the queue would show)
#   4 the same batches as in 1, with the deferred messages waiting,
#     alternating with batches to a second ternd (same configuration, empty
#     queue, port 10101) so that both see the same background load
#   5 (unless --no-restart) stop ternd and start it again on the full queue:
#     shutdown time, time until "event=started", RSS, and what happens to
#     the deferred messages (their next-attempt time is not on disk), and
#     the delay of a batch of new mail sent right after the start
# Output: a table on stdout, bench/RESULTS.new-scheduler.md (overwritten),
# logs under $BENCH_HOME/scheduler.<date>/ (the queue is deleted unless --keep).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

NDEF=100000; BATCH=1000; REPS=3; RESTART=1; KEEP=0; SLOW=1
SRV_PORT=10100; REF_PORT=10101; SINK_PORT=10200; SLOW_PORT=10300; SLOW_DELAY=15
ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --quick) NDEF=10000; REPS=1; shift;;
    --deferred) NDEF=$2; shift 2;;
    --batch) BATCH=$2; shift 2;;
    --reps) REPS=$2; shift 2;;
    --no-restart) RESTART=0; shift;;
    --no-slow) SLOW=0; shift;;
    --keep) KEEP=1; shift;;
    --out) OUTDIR=$2; shift 2;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0;;
    *) die "unknown option $1 (see --help)";;
  esac
done
need_root
check_build
if [ "${TERN_BENCH_NS:-}" != 1 ]; then
  SCHED_LOAD_BEFORE=$(load_line); SCHED_BUSY_BEFORE=$(busy_line)
  export SCHED_LOAD_BEFORE SCHED_BUSY_BEFORE
  export OUTDIR=${OUTDIR:-$BENCH_HOME/scheduler.$(date +%Y%m%d-%H%M%S)}
fi
in_private_netns "${ORIG_ARGS[@]}"

mkdir -p "$OUTDIR"
W=$OUTDIR/tern
TLOG=$OUTDIR/ternd.log
cg_setup sched
cleanup() { stop_all; [ $KEEP = 1 ] || rm -rf "$W/data/queue"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

tern_conf "$W" <<EOF
listen smtp 127.0.0.1:$SRV_PORT
relay_networks 127.0.0.0/8
route work.test 127.0.0.2:$SINK_PORT
route slow.test 127.0.0.3:$SLOW_PORT
route * 127.0.0.9:1
retry_initial 1h
smtp_tls no
max_connections 4000
EOF

start_ternd() {
  cg_new srv
  ( cg_run srv "$TERND" -c "$W/ternd.conf" ) >> "$TLOG" 2>&1 &
  SRV_PID=$!; track $SRV_PID
}
count_log() { grep -c -F "$1" "$TLOG"; }
mem_mib() { mem_now srv | awk '{ printf "pss %.0f MiB, rss %.0f MiB", $1 / 1024, $2 / 1024 }'; }

# Percentiles of the delay= field of delivery lines with status=sent
# number FROM+1 .. FROM+N in log LOG.
delays() {  # log from n
  grep -F 'status=sent' "$1" | tail -n +$(($2 + 1)) | head -n "$3" |
    sed -n 's/.* delay=\([0-9.]*\) .*/\1/p' | sort -g |
    awk '{ a[NR] = $1; s += $1 } END { if (!NR) { print "NA NA NA NA"; exit }
      printf "%.3f %.3f %.3f %.3f\n", s / NR, a[int(NR * 0.5 + 0.5) ? int(NR * 0.5 + 0.5) : 1], a[int(NR * 0.99 + 0.5)], a[NR] }'
}

RES=$OUTDIR/batches.tsv
printf 'phase\trep\tn\tsend_s\te2e_s\tsrv_cpu_s\tsrv_ms_per_msg\tdelay_mean_s\tdelay_p50_s\tdelay_p99_s\tdelay_max_s\tqueued\tuser_ms_per_msg\tsys_ms_per_msg\n' > "$RES"
# The ternd a batch goes to: "main" (the one whose queue gets filled) or
# "ref" (a second ternd, same configuration, whose queue stays empty: its
# batches alternate with main's, so both see the same background load).
use_main() { B_CG=srv; B_PORT=$SRV_PORT; B_LOG=$TLOG; B_DATA=$W/data; }
use_ref() { B_CG=ref; B_PORT=$REF_PORT; B_LOG=$OUTDIR/ternd-ref.log; B_DATA=$OUTDIR/ref/data; }
use_main
batch() {  # phase rep [n]
  local s0 k0 c0 t0 t1 t2 c1 rc n=${3:-$BATCH}
  s0=$(grep -c -F 'status=sent' "$B_LOG"); k0=$(sink_count "$OUTDIR/sink.log"); c0=$(cg_cpu "$B_CG")
  local us0; us0=$(cg_cpu_split "$B_CG")
  t0=$(now)
  source_run gen 127.0.0.1:$B_PORT "$n" 20 4096 tbench@work.test "$OUTDIR/source.$1.$2.log"; rc=$?
  t1=$(now)
  t2=$(sink_wait "$OUTDIR/sink.log" $((k0 + n)) 60)
  c1=$(cg_cpu "$B_CG")
  local us1; us1=$(cg_cpu_split "$B_CG")
  local upm spm
  upm=$(awk -v a="${us0% *}" -v b="${us1% *}" -v n="$n" 'BEGIN { printf "%.3f", 1000 * (b - a) / n }')
  spm=$(awk -v a="${us0#* }" -v b="${us1#* }" -v n="$n" 'BEGIN { printf "%.3f", 1000 * (b - a) / n }')
  [ $rc = 0 ] || log "batch $1 #$2: smtp-source failed: $(tail -1 "$OUTDIR/source.$1.$2.log")"
  sleep 0.5   # the last delivery lines
  local e2e=NA; [ "$t2" = NA ] || e2e=$(fsub "$t0" "$t2")
  local cpu; cpu=$(fsub "$c0" "$c1")
  local queued; queued=$(find "$B_DATA/queue/msg" -maxdepth 1 -type f | wc -l)
  read -r dm d50 d99 dmax < <(delays "$B_LOG" "$s0" "$n")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$n" "$(fsub "$t0" "$t1")" "$e2e" "$cpu" \
    "$(awk -v c="$cpu" -v n="$n" 'BEGIN { printf "%.3f", 1000 * c / n }')" "$dm" "$d50" "$d99" "$dmax" "$queued" "$upm" "$spm" >> "$RES"
  LAST_DELAYS="$dm/$d50/$d99/$dmax"; LAST_E2E=$e2e
  log "batch $1 #$2: $n msgs at the sink ${e2e}s after start (sent ${t1:+$(fsub "$t0" "$t1")}s); ternd cpu ${cpu}s (user/sys ms/msg $upm/$spm); delay mean/p50/p99/max $dm/$d50/$d99/$dmax s; $queued in queue/msg"
}

log "scheduler: $NDEF deferred, batches of $BATCH x $REPS; output $OUTDIR"
sink_start 127.0.0.2 $SINK_PORT "$OUTDIR/sink.log"
start_ternd
wait_banner 127.0.0.1 $SRV_PORT 30 || die "ternd did not start (see $TLOG)"
# The reference ternd: same configuration, another port and data_dir.
sed -e "s|$W/data|$OUTDIR/ref/data|" -e "s|127.0.0.1:$SRV_PORT|127.0.0.1:$REF_PORT|" "$W/ternd.conf" > "$OUTDIR/ref.conf"
mkdir -p "$OUTDIR/ref/data"; cp "$W/data/users" "$W/data/aliases" "$OUTDIR/ref/data/"
sed -i "s|^data_dir .*|data_dir $OUTDIR/ref/data|" "$OUTDIR/ref.conf"
cg_new ref
( cg_run ref "$TERND" -c "$OUTDIR/ref.conf" ) >> "$OUTDIR/ternd-ref.log" 2>&1 &
REF_PID=$!; track $REF_PID
wait_banner 127.0.0.1 $REF_PORT 30 || die "the reference ternd did not start (see $OUTDIR/ternd-ref.log)"
mem_start srv "$OUTDIR/mem.peak"
log "ternd up: $(mem_mib)"
MEM_START=$(mem_mib)

# 1: empty queue
for ((r = 1; r <= REPS; r++)); do batch empty "$r"; done

# 1b: a slow destination takes every delivery slot? SLOW_N messages to a
# server whose greeting comes after SLOW_DELAY s, then 100 to work.test.
SLOW_N=$(( 2 * ${TERN_IO_THREADS:-8} ))   # ternd runs io_threads * 2 deliveries at a time
if [ $SLOW = 1 ]; then
  cg_new slowsink
  ( cg_run slowsink env LD_LIBRARY_PATH=$PFX_LIB "$SMTP_SINK" -4 -c -u tbench -m 1000 -W "connect:$SLOW_DELAY" \
      127.0.0.3:$SLOW_PORT 1024 ) > "$OUTDIR/slowsink.log" 2>&1 &
  SLOWSINK_PID=$!; track $SLOWSINK_PID
  sleep 0.5
  source_run slow 127.0.0.1:$SRV_PORT "$SLOW_N" 8 1024 tbench@slow.test "$OUTDIR/source.slow.log"
  sleep 0.2
  batch slowdest 1 100
  SLOW_DELAYS=$LAST_DELAYS; SLOW_E2E=$LAST_E2E
  sink_wait "$OUTDIR/slowsink.log" "$SLOW_N" $((SLOW_DELAY + 30)) >/dev/null
  stop_cg slowsink "$SLOWSINK_PID"
fi

# 2: fill
d0=$(count_log 'status=deferred'); c0=$(cg_cpu srv)
t0=$(now)
source_run fill 127.0.0.1:$SRV_PORT "$NDEF" 50 1024 tbench@deferred.test "$OUTDIR/source.fill.log"; rc=$?
t1=$(now)
[ $rc = 0 ] || log "fill: smtp-source failed: $(tail -2 "$OUTDIR/source.fill.log" | tr '\n' ' ')"
# Wait until every one has had its (refused) attempt.
last=-1; lastt=$(now)
while :; do
  c=$(( $(count_log 'status=deferred') - d0 ))
  [ "$c" -ge "$NDEF" ] && break
  if [ "$c" != "$last" ]; then last=$c; lastt=$(now); fi
  awk -v a="$lastt" -v b="$(now)" 'BEGIN { exit !(b - a > 60) }' && { log "fill: only $c of $NDEF deferred; stalled"; break; }
  sleep 1
done
t2=$(now); c1=$(cg_cpu srv)
FILL_SEND=$(fsub "$t0" "$t1"); FILL_ALL=$(fsub "$t0" "$t2"); FILL_CPU=$(fsub "$c0" "$c1")
FILL_DEF=$(( $(count_log 'status=deferred') - d0 ))
FILL_GEN=$(cg_cpu fill)
QUEUED=$(find "$W/data/queue/msg" -maxdepth 1 -type f | wc -l)
QDU=$(du -sh "$W/data/queue" | cut -f1)
FILL_DETAIL=$(grep -F 'status=deferred' "$TLOG" | tail -1 | sed -n 's/.*detail=//p')
sleep 2
MEM_FULL=$(mem_mib)
log "fill: $NDEF msgs accepted in ${FILL_SEND}s ($(fdiv "$NDEF" "$FILL_SEND")/s), all $FILL_DEF deferred after ${FILL_ALL}s; ternd cpu ${FILL_CPU}s; $QUEUED in queue/msg ($QDU); $MEM_FULL"

# 3: idle with the full queue
c0=$(cg_cpu srv); sleep 10; c1=$(cg_cpu srv)
IDLE_CPU=$(fsub "$c0" "$c1")
log "idle 10 s with $QUEUED queued: ternd cpu ${IDLE_CPU}s"

# 4: batches with the deferred messages waiting
for ((r = 1; r <= REPS; r++)); do
  use_ref; batch ref "$r"
  use_main; batch full "$r"
done
stop_cg ref "$REF_PID"
MEM_AFTER=$(mem_mib)
mem_stop
read -r PEAK_PSS PEAK_RSS _ < "$OUTDIR/mem.peak"
STRAY=$(( $(count_log 'status=deferred') - d0 - FILL_DEF ))

# 5: restart on the full queue
if [ $RESTART = 1 ]; then
  t0=$(now); stop_cg srv "$SRV_PID"; t1=$(now)
  STOP_S=$(fsub "$t0" "$t1")
  rmdir "$CGBASE/srv" 2>/dev/null
  dd0=$(count_log 'status=deferred'); st0=$(count_log 'event=started')
  t0=$(now)
  start_ternd
  while [ "$(count_log 'event=started')" -le "$st0" ]; do
    kill -0 "$SRV_PID" 2>/dev/null || die "ternd exited during restart (see $TLOG)"
    sleep 0.05
  done
  t1=$(now)
  START_S=$(fsub "$t0" "$t1")
  RECOVERED=$(grep -F 'event=queue-recovered' "$TLOG" | tail -1 | sed 's/.*event=queue-recovered //')
  MEM_RESTART=$(mem_mib)
  # Are the deferred messages tried again at once (next attempt not kept)?
  # And new mail that arrives meanwhile: how long does it wait?
  batch restart 1
  RESTART_DELAYS=$LAST_DELAYS; RESTART_E2E=$LAST_E2E
  RETRY5=$(( $(count_log 'status=deferred') - dd0 ))
  RETRY5_S=$(fsub "$t0" "$(now)")
  last=-1; lastt=$(now)
  while [ "$RETRY5" -gt 0 ]; do
    c=$(( $(count_log 'status=deferred') - dd0 ))
    [ "$c" -ge "$QUEUED" ] && break
    if [ "$c" != "$last" ]; then last=$c; lastt=$(now); fi
    awk -v a="$lastt" -v b="$(now)" 'BEGIN { exit !(b - a > 10) }' && break
    awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 150) }' && break
    sleep 1
  done
  t2=$(now)
  RETRY_ALL=$(( $(count_log 'status=deferred') - dd0 ))
  RETRY_S=$(fsub "$t0" "$t2")
  RESTART_CPU=$(cg_cpu srv)
  log "restart: stop ${STOP_S}s; started after ${START_S}s ($RECOVERED); $MEM_RESTART; deferred again: $RETRY5 after ${RETRY5_S}s, $RETRY_ALL after ${RETRY_S}s; ternd cpu ${RESTART_CPU}s; a batch of $BATCH sent right after the start: delay mean/p50/p99/max $RESTART_DELAYS s"
fi
stop_cg srv "$SRV_PID"
cp "$W/ternd.conf" "$OUTDIR/"

# ------------------------------------------------------------- report -----
colm() { awk -F'\t' -v p="$1" -v c="$2" 'NR > 1 && $1 == p { printf "%s ", $c }' "$RES" | median; }
rat() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
table=$(
  printf '%-28s %-15s %-15s %-15s %s\n' "batch of $BATCH x 4 KiB" "empty, before" "empty (ref)" "$NDEF waiting" "waiting/ref"
  for spec in "e2e s:5" "ternd ms CPU per msg:7" "  of which user:13" "  of which kernel:14" "delay mean s:8" "delay p50 s:9" "delay p99 s:10" "delay max s:11"; do
    name=${spec%:*}; c=${spec##*:}
    e=$(colm empty "$c"); r=$(colm ref "$c"); f=$(colm full "$c")
    printf '%-28s %-15s %-15s %-15s %s\n' "$name" "$e" "$r" "$f" "$(rat "$f" "$r")"
  done
)
load_after=$(load_line); busy_after=$(busy_line)
echo
echo "$table"
{
  echo "# Scheduler benchmark (bench/scheduler.sh)"
  echo
  echo "Run by \`bench/scheduler.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "Machine: $(machine_line); everything (smtp-source, ternd, smtp-sink) shares the cores."
  echo "tern $(git -C "$TOP" describe --always --dirty 2>/dev/null) ($BUILD, io_threads ${TERN_IO_THREADS:-8})."
  echo "Load average before: $SCHED_LOAD_BEFORE (busy: $SCHED_BUSY_BEFORE); after: $load_after (busy: $busy_after)."
  if awk -v a="${SCHED_LOAD_BEFORE%% *}" -v b="${load_after%% *}" -v c="$(nproc)" 'BEGIN { exit !(a > 0.5 || b > 0.5 * c + 1) }'; then
    echo "**The machine was not idle** (other builds/tests were running): absolute times are noisy."
  fi
  echo
  echo "Setup: ternd with \`route work.test 127.0.0.2:$SINK_PORT\` (smtp-sink), \`route * 127.0.0.9:1\`"
  echo "(nothing listens: connection refused), \`retry_initial 1h\`. Batches: smtp-source, $BATCH x 4 KiB,"
  echo "20 sessions, to tbench@work.test; e2e = start of smtp-source until smtp-sink has all; CPU = ternd's"
  echo "cgroup (accepting and relaying; user and kernel time); delay = ternd's \`delay=\` of each delivery"
  echo "(arrival to the sink's 250). Medians of $REPS batches. \"empty, before\": the same ternd before the fill;"
  echo "\"empty (ref)\": a second ternd with the same configuration and an empty queue, whose batches"
  echo "alternate with those of the full one (same background load); \"waiting/ref\" compares those two."
  echo
  echo '## Per-delivery cost, empty queue vs. deferred messages waiting'
  echo
  echo '```'
  echo "$table"
  echo '```'
  echo
  echo "All batches ($RES):"
  echo
  echo '```'
  column -t -s $'\t' "$RES"
  echo '```'
  echo
  echo '## Filling the queue'
  echo
  echo "- $NDEF messages x 1 KiB, 50 sessions, to tbench@deferred.test: accepted in ${FILL_SEND} s ($(fdiv "$NDEF" "$FILL_SEND") msgs/s);"
  echo "  all $FILL_DEF tried once and deferred after ${FILL_ALL} s (detail: ${FILL_DETAIL});"
  echo "  ternd CPU ${FILL_CPU} s ($(awk -v c="$FILL_CPU" -v n="$NDEF" 'BEGIN { printf "%.3f", 1000 * c / n }') ms/msg: accept + fsync + one refused attempt), smtp-source CPU ${FILL_GEN} s."
  echo "- queue/msg: $QUEUED files, queue/ $QDU on disk."
  echo "- ternd memory: at start $MEM_START; with the queue full $MEM_FULL; after the batches $MEM_AFTER;"
  echo "  peak $((PEAK_PSS / 1024)) MiB PSS / $((PEAK_RSS / 1024)) MiB RSS."
  echo "  ($(awk -v a="${MEM_START#*rss }" -v b="${MEM_FULL#*rss }" -v n="$NDEF" 'BEGIN { printf "about %.1f KiB RSS per waiting message", (b - a) * 1024 / n }'))"
  echo "- Idle 10 s with the queue full: ternd CPU ${IDLE_CPU} s."
  echo "- Deferred attempts after the fill (should be 0 with retry_initial 1h): $STRAY."
  if [ $SLOW = 1 ]; then
    echo
    echo '## A slow destination'
    echo
    echo "$SLOW_N messages (io_threads x 2, ternd's limit on deliveries in progress) to slow.test, whose server"
    echo "(smtp-sink -W connect:$SLOW_DELAY on 127.0.0.3) greets only after $SLOW_DELAY s, then 100 messages to work.test:"
    echo "the work.test batch was at the sink ${SLOW_E2E} s after it began; delay mean/p50/p99/max $SLOW_DELAYS s"
    echo "(empty queue: $(colm empty 8)/$(colm empty 9)/$(colm empty 10)/$(colm empty 11) s). Deliveries to a fast destination wait"
    echo "for a free slot when a slow one holds them all."
  fi
  if [ $RESTART = 1 ]; then
    echo
    echo '## Restart with the queue full'
    echo
    echo "- SIGTERM to exit: ${STOP_S} s. Start until \`event=started\`: ${START_S} s ($RECOVERED); then $MEM_RESTART."
    echo "- Deferred messages attempted again right after the restart: $RETRY5 after ${RETRY5_S} s, $RETRY_ALL after ${RETRY_S} s"
    echo "  (of $QUEUED; ternd CPU since the restart ${RESTART_CPU} s). A non-zero count means the next-attempt"
    echo "  time and the attempt count are not kept across a restart: every deferred message is retried at once."
    echo "- A batch of $BATCH to work.test sent right after the start: at the sink ${RESTART_E2E} s after it began;"
    echo "  delay mean/p50/p99/max $RESTART_DELAYS s (empty queue: $(colm empty 8)/$(colm empty 9)/$(colm empty 10)/$(colm empty 11) s)."
    echo "  New mail waits behind the recovered messages when they are all due at once."
  fi
} > "$BENCH_DIR/RESULTS.new-scheduler.md"
log "wrote $BENCH_DIR/RESULTS.new-scheduler.md"
