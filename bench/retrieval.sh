#!/usr/bin/env bash
# bench/retrieval.sh — mail retrieval and LMTP delivery: tern beside Dovecot.
#
# Both servers on this machine, on the same generated mailboxes, in one
# sitting, runs interleaved (tern, Dovecot, tern, Dovecot, ...):
#
#   pop3  50 clients at once, each its own user with 1,000 messages of
#         4 KiB (bench/mkmaildirs.py: named as tern's delivery names them,
#         CRLF, in new/). Each server gets its own fresh copy, without a
#         dovecot-uidlist or index, so both do their first sync. Each client
#         (bench/pop3load.c): USER/PASS, STAT, LIST, UIDL, RETR all, QUIT, no
#         DELE; every RETR's octet count is checked against LIST. Round
#         "cold" is the first login (UIDs assigned, new/ -> cur/; the QUIT
#         marks the messages \Seen), round "warm" a second one on the same
#         server. messages/s and server CPU (utime+stime of all its
#         processes, from a cpuacct cgroup) per message.
#   lmtp  Postfix's smtp-source -L: 10,000 messages of 4 KiB, 20 sessions,
#         one recipient, into tern's `listen lmtp` and Dovecot's LMTP;
#         messages/s, server CPU per message, and every message counted in
#         the Maildir.
#   idle  1,000 POP3 connections logged in (each its own user, 5 messages)
#         and idle: PSS of all the server's processes before and after, per
#         connection.
#
# Usage (as root, after `meson setup build && ninja -C build`):
#   bench/retrieval.sh                       # the full sitting: 3 reps of each
#   bench/retrieval.sh --quick               # 5 users x 100, 1,000 LMTP, 100 idle; 1 rep
#   bench/retrieval.sh --only pop3 --reps 1 --users 10 --msgs 200
#   Options: --reps N, --users N, --msgs N, --size OCTETS, --lmtp-n N,
#   --lmtp-c N, --idle N, --only pop3,lmtp,idle, --servers tern,dovecot,
#   --out DIR (default $BENCH_HOME/retrieval.<date>), --perf (profile tern's
#   POP3 rounds with `perf record -g`: <out>/tern.<rep>.pop3/perf-<round>.txt;
#   perf costs CPU, so a --perf sitting is for the profile, not the numbers).
#
# Same for both: passwords as {PLAIN} in one users file (tern's, which is a
# Dovecot passwd-file), so neither spends time on a hash; plaintext login
# on loopback (tern: auth_cleartext_loopback yes; Dovecot:
# disable_plaintext_auth = no); Maildirs at <root>/<domain>/<local>.
#   tern:    build/ternd started as root (it runs as `tern`, with its keeper),
#            io_threads 8, listen pop3 and lmtp on 127.0.0.1.
#   Dovecot: Debian's 2.3 as tests/integration/dovecotenv.py --serve runs it
#            (unprivileged, as `tern`; its own dovecot.conf: defaults but
#            for the listeners, passwd-file + static userdb), plus the limits
#            1,000 connections need: service pop3 { process_limit = 1100 },
#            default_client_limit = 4000 (anvil, auth, stats, log take a
#            connection per pop3 process). Its Python wrapper is moved out of
#            the measured cgroup once Dovecot is up.
# Runs in `unshare --net --mount` (lo only). Output: a summary on stdout,
# $OUTDIR/raw-*.tsv and $OUTDIR/results.md (a section for bench/RESULTS.md).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

REPS=3; USERS=50; MSGS=1000; SIZE=4096; LMTP_N=10000; LMTP_C=20; IDLE=1000; IDLE_MSGS=5
ONLY="pop3,lmtp,idle"; SERVERS="tern,dovecot"; PERF=0
PASS=bench-secret-1
T_POP3=10110; T_LMTP=10024
DOMAIN=example.test
ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --quick) USERS=5; MSGS=100; LMTP_N=1000; IDLE=100; REPS=1; shift;;
    --reps) REPS=$2; shift 2;;
    --users) USERS=$2; shift 2;;
    --msgs) MSGS=$2; shift 2;;
    --size) SIZE=$2; shift 2;;
    --lmtp-n) LMTP_N=$2; shift 2;;
    --lmtp-c) LMTP_C=$2; shift 2;;
    --idle) IDLE=$2; shift 2;;
    --only) ONLY=$2; shift 2;;
    --servers) SERVERS=$2; shift 2;;
    --out) OUTDIR=$2; shift 2;;
    --perf) PERF=1; shift;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0;;
    *) die "unknown option $1 (see --help)";;
  esac
done
for v in REPS USERS MSGS SIZE LMTP_N LMTP_C IDLE; do
  case ${!v} in ''|*[!0-9]*|0) die "${v,,}: a positive number";; esac
done
if [ "$USERS" -gt 999 ] || [ "$IDLE" -gt 9999 ]; then die "at most 999 users and 9999 idle connections"; fi
need_root
[ -x "$TERND" ] || die "$TERND missing: cd $TOP && meson setup $BUILD && ninja -C $BUILD"
case ,$ONLY, in *,lmtp,*) [ -x "$SMTP_SOURCE" ] || die "$SMTP_SOURCE missing (../shared/bench/peers.sh unpacks Postfix)";; esac
getent passwd tern >/dev/null || die "user tern missing (make deps creates it)"
[ -x /usr/sbin/dovecot ] || die "Dovecot missing (preflight: dovecot-core, -pop3d, -lmtpd)"
PY=/usr/bin/python3
DOVECOTENV=$TOP/tests/integration/dovecotenv.py
if [ "${TERN_BENCH_NS:-}" != 1 ]; then
  RB_LOAD_BEFORE=$(load_line); RB_BUSY_BEFORE=$(busy_line)
  export RB_LOAD_BEFORE RB_BUSY_BEFORE
  export OUTDIR=${OUTDIR:-$BENCH_HOME/retrieval.$(date +%Y%m%d-%H%M%S)}
fi
in_private_netns "${ORIG_ARGS[@]}"

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
cg_setup retr
trap stop_all EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ material ----
cc -O2 -Wall -Wextra -o "$OUTDIR/pop3load" "$BENCH_DIR/pop3load.c" -lpthread || die "cannot build pop3load"
PRISTINE=$OUTDIR/pristine
if [ ! -e "$PRISTINE/.done" ]; then
  rm -rf "$PRISTINE"
  log "generating mailboxes: $USERS x $MSGS x $SIZE octets, $IDLE x $IDLE_MSGS for the idle test"
  "$PY" "$BENCH_DIR/mkmaildirs.py" "$PRISTINE/pop3" $DOMAIN u%03d 1 "$USERS" "$MSGS" "$SIZE" || die "mkmaildirs failed"
  "$PY" "$BENCH_DIR/mkmaildirs.py" "$PRISTINE/idle" $DOMAIN i%04d 1 "$IDLE" "$IDLE_MSGS" "$SIZE" || die "mkmaildirs failed"
  mkdir -p "$PRISTINE/lmtp/$DOMAIN/lmtp"/{new,cur,tmp}
  {
    for ((k = 1; k <= USERS; k++)); do printf 'u%03d@%s:{PLAIN}%s\n' $k $DOMAIN "$PASS"; done
    for ((k = 1; k <= IDLE; k++)); do printf 'i%04d@%s:{PLAIN}%s\n' $k $DOMAIN "$PASS"; done
    echo "lmtp@$DOMAIN:{PLAIN}$PASS"
  } > "$PRISTINE/users"
  touch "$PRISTINE/.done"
fi

# A server's files: DIR/mail (a copy of pristine/KIND) and DIR/users,
# owned by tern, written out to disk before anything is measured.
prepare() {  # dir kind
  local d=$1 kind=$2
  rm -rf "$d"; mkdir -p "$d"
  cp -a "$PRISTINE/$kind" "$d/mail"
  cp "$PRISTINE/users" "$d/users"
  chown -R tern:tern "$d/mail"
  chown root:tern "$d/users"; chmod 640 "$d/users"
  sync
}

# ------------------------------------------------------------ servers -----
wait_pop3() {  # port: until "+OK" greets
  local port=$1 i line
  for ((i = 0; i < 150; i++)); do
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      line=""; read -r -t 5 line <&3; printf 'QUIT\r\n' >&3 2>/dev/null; exec 3>&- 3<&-
      case $line in +OK*) return 0;; esac
    fi
    sleep 0.2
  done
  return 1
}

SRV_PID=""; POP3_PORT=""; LMTP_PORT=""; MAILROOT=""
start_tern() {  # dir
  local d=$1
  mkdir -p "$d/data"; chmod 755 "$d" "$d/data"
  mv "$d/mail" "$d/data/mail"; mv "$d/users" "$d/data/users"
  : > "$d/data/aliases"
  cat > "$d/ternd.conf" <<EOF
hostname bench.test
data_dir $d/data
domains $DOMAIN
listen pop3 127.0.0.1:$T_POP3
listen lmtp 127.0.0.1:$T_LMTP
auth_cleartext_loopback yes
max_connections 20000
max_connections_per_ip 20000
io_threads ${TERN_IO_THREADS:-8}
EOF
  "$TERND" -n -c "$d/ternd.conf" || die "ternd -n rejected $d/ternd.conf"
  MAILROOT=$d/data/mail; POP3_PORT=$T_POP3; LMTP_PORT=$T_LMTP
  cg_new srv
  ( cg_run srv "$TERND" -c "$d/ternd.conf" ) > "$d/ternd.log" 2>&1 &
  SRV_PID=$!; track $SRV_PID
  wait_pop3 $T_POP3 || { log "tern: no POP3 greeting (see $d/ternd.log)"; return 1; }
}

start_dovecot() {  # dir
  local d=$1 i
  MAILROOT=$d/mail
  cg_new srv; cg_new aux
  ( cg_run srv "$PY" "$DOVECOTENV" --serve "$d/dc" --mail-root "$d/mail" --users "$d/users" \
      --set "default_client_limit = 4000" \
      --set "service pop3 {" --set "  process_limit = 1100" --set "}" ) > "$d/serve.out" 2>&1 &
  SRV_PID=$!; track $SRV_PID
  for ((i = 0; i < 300; i++)); do grep -q '^ready$' "$d/serve.out" && break; sleep 0.1; done
  grep -q '^ready$' "$d/serve.out" || { log "dovecot: not ready (see $d/serve.out)"; return 1; }
  POP3_PORT=$(sed -n 's/^pop3_port=//p' "$d/serve.out")
  LMTP_PORT=$(sed -n 's/^lmtp_port=//p' "$d/serve.out")
  # Only Dovecot's processes are measured: the wrapper leaves the cgroup.
  echo "$SRV_PID" > "$CGBASE/aux/cgroup.procs"
}

start_server() {  # server dir
  "start_$1" "$2" || { stop_server; return 1; }
  sleep 1
}
# Stops the server, then reports what its log says went wrong.
stop_server() {  # [dir]
  [ -n "$SRV_PID" ] && stop_cg srv "$SRV_PID"
  SRV_PID=""
  [ -n "${1:-}" ] || return 0
  local bad
  bad=$(cat "$1/ternd.log" "$1/dc/dovecot.log" 2>/dev/null | grep -E 'failed|Panic|Fatal|Error: ' | grep -vc 'event=auth-failed')
  [ "$bad" = 0 ] || log "$(basename "$1"): $bad problem line(s) in the server's log, e.g. $(cat "$1/ternd.log" "$1/dc/dovecot.log" 2>/dev/null | grep -E 'failed|Panic|Fatal|Error: ' | head -1)"
}

version_of() {
  case $1 in
    tern) git -C "$TOP" describe --always --dirty 2>/dev/null;;
    dovecot) /usr/sbin/dovecot --version | awk '{ print $1 }';;
  esac
}
count_files() {  # maildir...
  find "$@" -path '*/new/*' -type f -o -path '*/cur/*' -type f 2>/dev/null | wc -l
}
fsub3() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
kv() {  # "k=v k=v" key -> v
  local x; for x in $1; do [ "${x%%=*}" = "$2" ] && { echo "${x#*=}"; return; }; done; echo NA
}

# ---------------------------------------------------------------- pop3 ----
RAW_POP3=$OUTDIR/raw-pop3.tsv
RAW_LMTP=$OUTDIR/raw-lmtp.tsv
RAW_IDLE=$OUTDIR/raw-idle.tsv
printf 'server\trep\tround\tclients\tok\tfailed\tmessages\telapsed_s\tmsgs_per_s\tmib_per_s\tsrv_cpu_s\tsrv_us_per_msg\tsrv_user_s\tsrv_sys_s\tgen_cpu_s\tlogin_p50_ms\tlogin_max_ms\tsession_p50_ms\tprocs_after\n' > "$RAW_POP3"
printf 'server\trep\tn\tsessions\trc\telapsed_s\tmsgs_per_s\tsrv_cpu_s\tsrv_us_per_msg\tgen_cpu_s\tin_maildir\n' > "$RAW_LMTP"
printf 'server\trep\tconnections\tlogged_in\tpss_before_kib\tpss_after_kib\tpss_per_conn_kib\trss_before_kib\trss_after_kib\tprocs_before\tprocs_after\tlogin_p50_ms\n' > "$RAW_IDLE"

pop3_round() {  # server rep round dir
  local srv=$1 rep=$2 round=$3 d=$4 c0 c1 u0 s0 u1 s1 g0 out rc
  c0=$(cg_cpu srv); read -r u0 s0 < <(cg_cpu_split srv)
  cg_new gen; g0=$(cg_cpu gen)
  local perf=""
  if [ $PERF = 1 ] && [ "$srv" = tern ]; then
    perf record -F 499 --call-graph dwarf,16384 -o "$d/perf-$round.data" -p "$(cg_pids srv | paste -sd,)" > "$d/perf-$round.log" 2>&1 &
    perf=$!; sleep 1
  fi
  out=$( (cg_run gen "$OUTDIR/pop3load" -p "$POP3_PORT" -U "u%03d@$DOMAIN" -w "$PASS" -c "$USERS" -m "$MSGS") \
    2> "$d/pop3load-$round.err")
  rc=$?
  c1=$(cg_cpu srv); read -r u1 s1 < <(cg_cpu_split srv)
  echo "$out" > "$d/pop3load-$round.out"
  if [ -n "$perf" ]; then
    kill -INT "$perf"; wait "$perf"
    perf report -i "$d/perf-$round.data" --no-children --sort comm,dso,symbol --stdio 2>/dev/null |
      grep -v '^$' | grep -E '^ +[0-9.]+%' | head -60 > "$d/perf-$round.txt"
    perf report -i "$d/perf-$round.data" --children --sort symbol --stdio -g none --percent-limit 0.5 2>/dev/null |
      grep -E '^ +[0-9.]+%' | head -80 > "$d/perf-$round-children.txt"
  fi
  [ -s "$d/pop3load-$round.err" ] && log "$srv #$rep $round: $(head -c 300 "$d/pop3load-$round.err")"
  local cpu gcpu msgs per np
  cpu=$(fsub3 "$c0" "$c1"); gcpu=$(fsub3 "$g0" "$(cg_cpu gen)")
  msgs=$(kv "$out" messages)
  per=$(awk -v c="$cpu" -v n="$msgs" 'BEGIN { if (n + 0 > 0) printf "%.1f", 1e6 * c / n; else print "NA" }')
  np=$(cg_pids srv | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$rep" "$round" "$USERS" \
    "$(kv "$out" ok)" "$(kv "$out" failed)" "$msgs" "$(kv "$out" elapsed_s)" "$(kv "$out" msgs_per_s)" \
    "$(kv "$out" mib_per_s)" "$cpu" "$per" "$(fsub "$u0" "$u1")" "$(fsub "$s0" "$s1")" "$gcpu" \
    "$(kv "$out" login_p50_ms)" "$(kv "$out" login_max_ms)" "$(kv "$out" session_p50_ms)" "$np" >> "$RAW_POP3"
  log "$srv #$rep pop3 $round: $(kv "$out" ok)/$USERS clients ok, $msgs RETRs in $(kv "$out" elapsed_s)s = $(kv "$out" msgs_per_s) msgs/s; server cpu ${cpu}s = $per us/msg; pop3load cpu ${gcpu}s; rc $rc"
}

pop3_run() {  # server rep
  local srv=$1 rep=$2 d=$OUTDIR/$1.$2.pop3 n
  prepare "$d" pop3
  start_server "$srv" "$d" || return 1
  pop3_round "$srv" "$rep" cold "$d"
  pop3_round "$srv" "$rep" warm "$d"
  n=$(count_files "$MAILROOT/$DOMAIN")
  [ "$n" = $((USERS * MSGS)) ] || log "$srv #$rep pop3: $n messages in the Maildirs after the rounds, expected $((USERS * MSGS))"
  [ -e "$MAILROOT/$DOMAIN/u001/dovecot-uidlist" ] || log "$srv #$rep pop3: no dovecot-uidlist written"
  stop_server "$d"
}

# ---------------------------------------------------------------- lmtp ----
lmtp_run() {  # server rep
  local srv=$1 rep=$2 d=$OUTDIR/$1.$2.lmtp c0 g0 t0 t1 rc n i
  prepare "$d" lmtp
  start_server "$srv" "$d" || return 1
  c0=$(cg_cpu srv); cg_new gen; g0=$(cg_cpu gen)
  t0=$(now)
  ( cg_run gen env LD_LIBRARY_PATH="$PFX_LIB" timeout 900 "$SMTP_SOURCE" -4 -L -s "$LMTP_C" -m "$LMTP_N" \
      -l "$SIZE" -M client.test -f sender@client.test -t "lmtp@$DOMAIN" "127.0.0.1:$LMTP_PORT" ) > "$d/smtp-source.log" 2>&1
  rc=$?
  t1=$(now)
  # Every reply came after the delivery; this wait is for a miscount only.
  for ((i = 0; i < 50; i++)); do n=$(count_files "$MAILROOT/$DOMAIN/lmtp"); [ "$n" -ge "$LMTP_N" ] && break; sleep 0.2; done
  local cpu gcpu el
  cpu=$(fsub3 "$c0" "$(cg_cpu srv)"); gcpu=$(fsub3 "$g0" "$(cg_cpu gen)"); el=$(fsub3 "$t0" "$t1")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$rep" "$LMTP_N" "$LMTP_C" "$rc" "$el" \
    "$(fdiv "$LMTP_N" "$el")" "$cpu" "$(awk -v c="$cpu" -v n="$LMTP_N" 'BEGIN { printf "%.1f", 1e6 * c / n }')" "$gcpu" "$n" >> "$RAW_LMTP"
  [ "$rc" = 0 ] || log "$srv #$rep lmtp: smtp-source exit $rc: $(tail -c 300 "$d/smtp-source.log")"
  [ "$n" = "$LMTP_N" ] || log "$srv #$rep lmtp: $n messages in the Maildir, expected $LMTP_N"
  log "$srv #$rep lmtp: $LMTP_N x $SIZE in ${el}s = $(fdiv "$LMTP_N" "$el") msgs/s; server cpu ${cpu}s; smtp-source cpu ${gcpu}s; $n in the Maildir"
  stop_server "$d"
}

# ---------------------------------------------------------------- idle ----
idle_run() {  # server rep
  local srv=$1 rep=$2 d=$OUTDIR/$1.$2.idle m0 m1 fifo pid i out
  prepare "$d" idle
  start_server "$srv" "$d" || return 1
  # One login first, so that what every server starts at its first login
  # (Dovecot's auth process, tern's pool threads) is in the baseline.
  "$OUTDIR/pop3load" -p "$POP3_PORT" -U "i%04d@$DOMAIN" -w "$PASS" -c 1 -m $IDLE_MSGS > "$d/warmup.out" 2>&1 ||
    log "$srv #$rep idle: the warm-up login failed: $(cat "$d/warmup.out")"
  sleep 2
  m0=$(mem_now srv)
  fifo=$d/hold; mkfifo "$fifo"
  "$OUTDIR/pop3load" -I -p "$POP3_PORT" -U "i%04d@$DOMAIN" -w "$PASS" -c "$IDLE" -m $IDLE_MSGS -T 120 \
    < "$fifo" > "$d/idle.out" 2> "$d/idle.err" &
  pid=$!; track $pid
  exec 4> "$fifo"
  for ((i = 0; i < 3000; i++)); do grep -q '^ready' "$d/idle.out" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  sleep 3
  m1=$(mem_now srv)
  exec 4>&-
  wait $pid; STARTED=$(echo " $STARTED " | sed "s/ $pid / /")
  out=$(tail -1 "$d/idle.out")
  local nin p0 r0 n0 p1 r1 n1
  nin=$(sed -n 's/^ready n=\([0-9]*\).*/\1/p' "$d/idle.out")
  read -r p0 r0 n0 <<< "$m0"; read -r p1 r1 n1 <<< "$m1"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$rep" "$IDLE" "${nin:-0}" "$p0" "$p1" \
    "$(fdiv $((p1 - p0)) "${nin:-0}" '%.1f')" "$r0" "$r1" "$n0" "$n1" "$(kv "$out" login_p50_ms)" >> "$RAW_IDLE"
  [ -s "$d/idle.err" ] && log "$srv #$rep idle: $(head -c 300 "$d/idle.err")"
  log "$srv #$rep idle: ${nin:-0}/$IDLE logged in; PSS $p0 -> $p1 KiB ($n0 -> $n1 processes) = $(fdiv $((p1 - p0)) "${nin:-0}" '%.1f') KiB per connection"
  stop_server "$d"
}

# ---------------------------------------------------------------- run -----
log "retrieval: servers $SERVERS; parts $ONLY; $REPS rep(s); output $OUTDIR"
for part in ${ONLY//,/ }; do
  case $part in pop3|lmtp|idle) ;; *) die "unknown part $part";; esac
  for ((rep = 1; rep <= REPS; rep++)); do
    for srv in ${SERVERS//,/ }; do
      case $srv in tern|dovecot) "${part}_run" "$srv" "$rep" || log "$srv #$rep $part: failed";; *) die "unknown server $srv";; esac
    done
  done
done

# ------------------------------------------------------------- report -----
# col FILE server column [filter-column filter-value]: values of clean runs.
col() {
  awk -F'\t' -v s="$2" -v c="$3" -v fc="${4:-0}" -v fv="${5:-}" -v okc="${6:-}" -v okv="${7:-}" \
    'NR > 1 && $1 == s && (fc == 0 || $fc == fv) && (okc == "" || $okc == okv) && $c != "NA" { printf "%s ", $c }' "$1"
}
range() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%s-%s", a[1], a[NR]; else printf "-" }'; }
ratio() { awk -v t="$1" -v p="$2" 'BEGIN { if (t == "NA" || p == "NA" || p + 0 == 0) print "-"; else printf "%.2fx", t / p }'; }
# cell FILE server column filter...: "median (min-max)"
cell() { local v; v=$(col "$@"); echo "$(echo "$v" | median) ($(echo "$v" | range))"; }
med() { col "$@" | median; }

load_after=$(load_line); busy_after=$(busy_line)
{
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`bench/retrieval.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}\`"
  echo
  echo "Machine: $(machine_line); load generators and servers share the cores."
  echo "tern $(version_of tern) ($BUILD, io_threads ${TERN_IO_THREADS:-8}); Dovecot $(version_of dovecot) (Debian)."
  echo "Load average before: $RB_LOAD_BEFORE (busy: $RB_BUSY_BEFORE); after: $load_after (busy: $busy_after)."
  echo "$REPS rep(s) per server, interleaved; median (min-max)."
  echo
  if case ,$ONLY, in *,pop3,*) true;; *) false;; esac; then
    echo "### POP3: $USERS clients at once, each its own user, $MSGS x $SIZE octets, RETR all"
    echo
    echo "| round | tern msgs/s | Dovecot msgs/s | tern/Dovecot | tern µs CPU/msg | Dovecot µs CPU/msg | tern/Dovecot |"
    echo "|---|---|---|---|---|---|---|"
    for round in cold warm; do
      tm=$(med "$RAW_POP3" tern 9 3 $round 6 0); dm=$(med "$RAW_POP3" dovecot 9 3 $round 6 0)
      tc=$(med "$RAW_POP3" tern 12 3 $round 6 0); dc=$(med "$RAW_POP3" dovecot 12 3 $round 6 0)
      echo "| $round | $(cell "$RAW_POP3" tern 9 3 $round 6 0) | $(cell "$RAW_POP3" dovecot 9 3 $round 6 0) | $(ratio "$tm" "$dm") | $(cell "$RAW_POP3" tern 12 3 $round 6 0) | $(cell "$RAW_POP3" dovecot 12 3 $round 6 0) | $(ratio "$tc" "$dc") |"
    done
    echo
  fi
  if case ,$ONLY, in *,lmtp,*) true;; *) false;; esac; then
    echo "### LMTP: smtp-source -L, $LMTP_N x $SIZE octets, $LMTP_C sessions, one recipient"
    echo
    echo "| | tern | Dovecot | tern/Dovecot |"
    echo "|---|---|---|---|"
    echo "| msgs/s | $(cell "$RAW_LMTP" tern 7 5 0) | $(cell "$RAW_LMTP" dovecot 7 5 0) | $(ratio "$(med "$RAW_LMTP" tern 7 5 0)" "$(med "$RAW_LMTP" dovecot 7 5 0)") |"
    echo "| server µs CPU/msg | $(cell "$RAW_LMTP" tern 9 5 0) | $(cell "$RAW_LMTP" dovecot 9 5 0) | $(ratio "$(med "$RAW_LMTP" tern 9 5 0)" "$(med "$RAW_LMTP" dovecot 9 5 0)") |"
    echo
  fi
  if case ,$ONLY, in *,idle,*) true;; *) false;; esac; then
    echo "### Idle POP3 connections: $IDLE logged in, each its own user ($IDLE_MSGS messages)"
    echo
    echo "| | tern | Dovecot | tern/Dovecot |"
    echo "|---|---|---|---|"
    echo "| PSS KiB per connection | $(cell "$RAW_IDLE" tern 7) | $(cell "$RAW_IDLE" dovecot 7) | $(ratio "$(med "$RAW_IDLE" tern 7)" "$(med "$RAW_IDLE" dovecot 7)") |"
    echo "| PSS MiB with all connected | $(med "$RAW_IDLE" tern 6 | awk '{ printf "%.1f", $1 / 1024 }') | $(med "$RAW_IDLE" dovecot 6 | awk '{ printf "%.1f", $1 / 1024 }') | |"
    echo "| processes with all connected | $(med "$RAW_IDLE" tern 11) | $(med "$RAW_IDLE" dovecot 11) | |"
    echo
  fi
  echo "Raw runs ($OUTDIR):"
  echo
  echo '```'
  for f in "$RAW_POP3" "$RAW_LMTP" "$RAW_IDLE"; do
    [ "$(wc -l < "$f")" -gt 1 ] && { column -t -s $'\t' "$f"; echo; }
  done
  echo '```'
} > "$OUTDIR/results.md"
echo
cat "$OUTDIR/results.md"
log "wrote $OUTDIR/results.md"
