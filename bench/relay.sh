#!/usr/bin/env bash
# bench/relay.sh — relay load: tern and Postfix accept 4 KiB messages from
# smtp-source on 127.0.0.1 and deliver every one to a remote smtp-sink on
# another loopback address (127.0.0.2), in the same run.
#
# Usage (as root, after make build):
#   bench/relay.sh                  # 10000 x 4 KiB, 20 sessions, 3 reps per server
#   bench/relay.sh --quick          # 1000 messages, 1 rep (smoke test)
#   bench/relay.sh -n 5000 -s 50 --reps 2 --only tern
#   Environment: BUILD (default build), TERN_IO_THREADS (default 8),
#   BENCH_HOME (default /var/tmp/tern-bench: the unpacked Postfix package).
#
# Per run, a fresh server and a fresh smtp-sink (-c: counts messages) on
# 127.0.0.2:10200. The server listens on 127.0.0.1:10100 and relays all
# mail for the non-local domain remote.test:
#   tern:    relay_networks 127.0.0.0/8, route * 127.0.0.2:10200, smtp_tls no
#   Postfix: mynetworks 127.0.0.0/8, relayhost [127.0.0.2]:10200, no local
#            delivery, its own config and queue dir (unpacked package, not
#            installed; Debian's master.cf, chroot off)
# Measured: accept rate (N / time smtp-source ran: every message got 250),
# end-to-end rate (N / time from start until smtp-sink counted N), CPU
# seconds of the server's cgroup and of smtp-source, peak PSS (sum over the
# server's processes, sampled every second).
# Everything runs in `unshare --net --mount` (lo only). Results: a table on
# stdout, appended as a dated section to bench/RESULTS.new-relay.md; raw
# numbers and logs under $BENCH_HOME/relay.<date>/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

N=10000; SESS=20; LEN=4096; REPS=3; ONLY="tern,postfix"
SRV_PORT=10100; SINK_PORT=10200; RCPT=tbench@remote.test
ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --quick) N=1000; REPS=1; shift;;
    -n) N=$2; shift 2;;
    -s) SESS=$2; shift 2;;
    --reps) REPS=$2; shift 2;;
    --only) ONLY=$2; shift 2;;
    --out) OUTDIR=$2; shift 2;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0;;
    *) die "unknown option $1 (see --help)";;
  esac
done
need_root
check_build
if [ "${TERN_BENCH_NS:-}" != 1 ]; then
  # Load before we start, for the results file (read again at the end).
  RELAY_LOAD_BEFORE=$(load_line); RELAY_BUSY_BEFORE=$(busy_line)
  export RELAY_LOAD_BEFORE RELAY_BUSY_BEFORE
  export OUTDIR=${OUTDIR:-$BENCH_HOME/relay.$(date +%Y%m%d-%H%M%S)}
fi
in_private_netns "${ORIG_ARGS[@]}"

mkdir -p "$OUTDIR"
RAW=$OUTDIR/raw.tsv
cg_setup relay
trap 'stop_all' EXIT
trap 'exit 130' INT TERM
printf 'server\trep\tn\tsessions\tsend_s\taccept_per_s\te2e_s\te2e_per_s\tsrv_cpu_s\tgen_cpu_s\tsink_cpu_s\tpss_mib\trss_mib\tprocs\tsource_rc\tnotes\n' > "$RAW"

start_tern() {  # dir
  local d=$1
  tern_conf "$d" <<EOF
listen smtp 127.0.0.1:$SRV_PORT
relay_networks 127.0.0.0/8
route * 127.0.0.2:$SINK_PORT
smtp_tls no
EOF
  cg_new srv
  ( cg_run srv "$TERND" -c "$d/ternd.conf" ) > "$d/ternd.log" 2>&1 &
  SRV_PID=$!; track $SRV_PID
}
tern_notes() {  # dir: deliveries not "sent", and what is left in the queue
  local d=$1 def left
  def=$(grep -c 'event=delivery.*status=deferred' "$d/ternd.log")
  left=$(find "$d/data/queue/msg" -type f 2>/dev/null | wc -l)
  echo "deferred=$def queued_after=$left"
}

start_postfix() {  # dir
  local d=$1
  mkdir -p "$d/conf" "$d/spool" "$d/data"
  ( cd "$d/spool" && mkdir -p active bounce corrupt defer deferred flush hold incoming private saved trace maildrop public pid &&
    chown postfix active bounce corrupt defer deferred flush hold incoming private saved trace &&
    chmod 700 active bounce corrupt defer deferred flush hold incoming private saved trace &&
    chown postfix:postdrop maildrop public && chmod 730 maildrop && chmod 710 public )
  chown postfix "$d/data"; chmod 700 "$d/data"
  # Postfix defaults except paths, the listener, and relaying everything
  # from 127.0.0.0/8 to the smarthost (no local delivery at all).
  cat > "$d/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
daemon_directory = $PFX/usr/lib/postfix/sbin
command_directory = $PFX/usr/sbin
shlib_directory = $PFX/usr/lib/postfix
meta_directory = $d/conf
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH=$PFX_LIB
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.example.test
mydomain = example.test
mydestination =
local_recipient_maps =
local_transport = error:no local delivery (benchmark)
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.2]:$SINK_PORT
alias_maps =
alias_database =
maillog_file = $d/maillog
biff = no
EOF
  cat > "$d/conf/master.cf" <<EOF
127.0.0.1:$SRV_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  : > "$d/conf/dynamicmaps.cf"
  cg_new srv
  # master(8) stays in the foreground without -w.
  ( cg_run srv env LD_LIBRARY_PATH=$PFX_LIB "$PFX/usr/lib/postfix/sbin/master" -c "$d/conf" ) > "$d/master.out" 2>&1 &
  SRV_PID=$!; track $SRV_PID
}
postfix_notes() {
  local d=$1 def left
  def=$(grep -c 'status=deferred' "$d/maillog" 2>/dev/null)
  left=$(find "$d/spool/incoming" "$d/spool/active" "$d/spool/deferred" -type f 2>/dev/null | wc -l)
  echo "deferred=$def queued_after=$left"
}

version_of() { cat "$BROOT/$1/.unpacked" 2>/dev/null || echo "?"; }

run_one() {  # server rep
  local srv=$1 rep=$2 d=$OUTDIR/$1.$2
  rm -rf "$d"; mkdir -p "$d"
  rmdir "$CGBASE/srv" "$CGBASE/sink" "$CGBASE/gen" 2>/dev/null   # fresh counters
  sink_start 127.0.0.2 $SINK_PORT "$d/sink.log"
  "start_$srv" "$d"
  wait_banner 127.0.0.1 $SRV_PORT 30 || { log "$srv: no banner on 127.0.0.1:$SRV_PORT (see $d)"; stop_cg srv "$SRV_PID"; stop_cg sink "$SINK_PID"; return 1; }
  sleep 1   # let the server settle (Postfix starts its services lazily)
  local sink0 scpu0 gcpu0 kcpu0 t0 t1 t2 rc
  sink0=$(sink_count "$d/sink.log")
  mem_start srv "$d/mem"
  scpu0=$(cg_cpu srv); kcpu0=$(cg_cpu sink); cg_new gen; gcpu0=$(cg_cpu gen)
  t0=$(now)
  source_run gen 127.0.0.1:$SRV_PORT "$N" "$SESS" "$LEN" "$RCPT" "$d/source.log"
  rc=$?
  t1=$(now)
  t2=$(sink_wait "$d/sink.log" $((N + sink0)) 60)
  sleep 1
  mem_stop
  local scpu gcpu kcpu send e2e got pss rss np notes
  scpu=$(fsub "$scpu0" "$(cg_cpu srv)"); gcpu=$(fsub "$gcpu0" "$(cg_cpu gen)"); kcpu=$(fsub "$kcpu0" "$(cg_cpu sink)")
  send=$(fsub "$t0" "$t1")
  got=$(( $(sink_count "$d/sink.log") - sink0 ))
  if [ "$t2" = NA ]; then e2e=NA; else e2e=$(fsub "$t0" "$t2"); fi
  read -r pss rss np < "$d/mem"
  notes="$("${srv}_notes" "$d") sink_got=$got"
  [ $rc = 0 ] || notes="$notes source_failed:$(tail -1 "$d/source.log" | tr '\t' ' ')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$rep" "$N" "$SESS" \
    "$send" "$(fdiv "$N" "$send")" "$e2e" "$(fdiv "$N" "$e2e")" "$scpu" "$gcpu" "$kcpu" \
    "$((pss / 1024))" "$((rss / 1024))" "$np" "$rc" "$notes" >> "$RAW"
  log "$srv #$rep: $N msgs accepted in ${send}s ($(fdiv "$N" "$send")/s), all at the sink after ${e2e}s ($(fdiv "$N" "$e2e")/s); cpu srv ${scpu}s gen ${gcpu}s sink ${kcpu}s; pss $((pss / 1024)) MiB ($np procs); $notes"
  stop_cg srv "$SRV_PID"
  stop_cg sink "$SINK_PID"
}

log "relay: $N x $LEN B, $SESS sessions, $REPS reps; servers: $ONLY; output $OUTDIR"
for ((rep = 1; rep <= REPS; rep++)); do
  # Interleave the servers so that a change in background load hits both.
  for srv in ${ONLY//,/ }; do
    case $srv in tern|postfix) run_one "$srv" "$rep";; *) die "unknown server $srv";; esac
  done
done

# ------------------------------------------------------------- report -----
col() {  # server column -> values of good runs
  awk -F'\t' -v s="$1" -v c="$2" 'NR > 1 && $1 == s && $15 == 0 && $7 != "NA" { printf "%s ", $c }' "$RAW"
}
range() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%s-%s", a[1], a[NR] }'; }
table=$(
  printf '%-8s %-16s %-20s %-20s %-10s %-10s %-12s %-9s %s\n' server what "accept msgs/s" "end-to-end msgs/s" "srv cpu s" "gen cpu s" "srv ms/msg" "pss MiB" runs
  for srv in ${ONLY//,/ }; do
    nok=$(awk -F'\t' -v s="$srv" 'NR > 1 && $1 == s && $15 == 0 && $7 != "NA"' "$RAW" | wc -l)
    nall=$(awk -F'\t' -v s="$srv" 'NR > 1 && $1 == s' "$RAW" | wc -l)
    [ "$nok" -gt 0 ] || { printf '%-8s all %s runs failed (see %s)\n' "$srv" "$nall" "$RAW"; continue; }
    acc=$(col "$srv" 6 | median); e2e=$(col "$srv" 8 | median)
    sc=$(col "$srv" 9 | median); gc=$(col "$srv" 10 | median)
    pss=$(col "$srv" 12 | tr ' ' '\n' | sort -g | tail -1)
    printf '%-8s %-16s %-20s %-20s %-10s %-10s %-12s %-9s %s\n' "$srv" "${N}x$((LEN / 1024))KiB s=$SESS" \
      "$acc ($(col "$srv" 6 | range))" "$e2e ($(col "$srv" 8 | range))" "$sc" "$gc" \
      "$(awk -v c="$sc" -v n="$N" 'BEGIN { printf "%.3f", 1000 * c / n }')" "$pss" "$nok/$nall ok"
  done
)
ratio() {  # column -> tern/postfix of medians
  local t p; t=$(col tern "$1" | median); p=$(col postfix "$1" | median)
  awk -v t="$t" -v p="$p" 'BEGIN { if (t == "NA" || p == "NA" || p + 0 == 0) print "-"; else printf "%.2fx", t / p }'
}
echo
echo "$table"
load_after=$(load_line); busy_after=$(busy_line)
res=$BENCH_DIR/RESULTS.new-relay.md
[ -f "$res" ] || printf '# Relay benchmark (bench/relay.sh)\n\ntern and Postfix relay 4 KiB messages from smtp-source (127.0.0.1) to a\nremote smtp-sink (127.0.0.2); one section per run, newest last.\n' > "$res"
{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`bench/relay.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}\`"
  echo
  echo "Machine: $(machine_line). Generator, servers and smtp-sink share the cores."
  echo "tern $(git -C "$TOP" describe --always --dirty 2>/dev/null) ($BUILD, io_threads ${TERN_IO_THREADS:-8}); Postfix $(version_of postfix) (defaults, relayhost)."
  echo "Load average before: $RELAY_LOAD_BEFORE (busy: $RELAY_BUSY_BEFORE); after: $load_after (busy: $busy_after)."
  if awk -v a="${RELAY_LOAD_BEFORE%% *}" -v b="${load_after%% *}" -v c="$(nproc)" 'BEGIN { exit !(a > 0.5 || b > 0.5 * c + 1) }'; then
    echo "**The machine was not idle** (other builds/tests were running): absolute numbers are low and noisy; the ratio is what to look at (runs were interleaved)."
  fi
  echo
  echo "Load: smtp-source, $N messages x $LEN B body, $SESS sessions, one message per session, rcpt $RCPT; $REPS rep(s) per server, median (min-max)."
  echo "accept = N / time smtp-source ran (every message got 250); end-to-end = N / time from start until smtp-sink had all N."
  echo
  echo '| | tern | Postfix | tern/Postfix |'
  echo '|---|---|---|---|'
  echo "| accept msgs/s | $(col tern 6 | median) | $(col postfix 6 | median) | $(ratio 6) |"
  echo "| end-to-end msgs/s | $(col tern 8 | median) | $(col postfix 8 | median) | $(ratio 8) |"
  echo "| server CPU s per run | $(col tern 9 | median) | $(col postfix 9 | median) | $(ratio 9) |"
  echo "| peak PSS MiB | $(col tern 12 | tr ' ' '\n' | sort -g | tail -1) | $(col postfix 12 | tr ' ' '\n' | sort -g | tail -1) | |"
  echo
  echo '```'
  echo "$table"
  echo '```'
  echo
  echo "Raw runs ($RAW):"
  echo
  echo '```'
  column -t -s $'\t' "$RAW"
  echo '```'
} >> "$res"
log "appended to $res"
