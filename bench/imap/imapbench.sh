#!/usr/bin/env bash
# bench/imap/imapbench.sh — IMAP: tern beside Dovecot 2.3, as bench/retrieval.sh
# does for POP3.
#
# Both servers on this machine, on copies of the same generated Maildirs
# (bench/imap/mkimapmail.py: realistic mixed mail, 70% read, no index, no
# dovecot-uidlist: both make theirs at the first login), in one sitting,
# runs interleaved (tern, Dovecot, tern, ...):
#
#   fetch   LOGIN + SELECT INBOX + FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)
#           + LOGOUT on a mailbox of 1,000 and one of 100,000 messages:
#           "cold" the first session on the fresh copy, "warm" the same again.
#           Time of the whole session, server CPU.
#   search  SEARCH TEXT zebra over 10,000 messages (in ~1% of them), the
#           first (cold) then 5 more (warm, median).
#   mixed   100 clients at once, each its own user (300 messages), for
#           --duration seconds, sessions of: LOGIN, SELECT, the last 20
#           headers, 5 bodies, STORE on 3, APPEND 1, EXPUNGE 1, IDLE 0.2 s,
#           LOGOUT. messages/s = headers + bodies fetched per second.
#   idle    1,000 clients logged in (each its own user, 5 messages),
#           SELECTed and in IDLE: the server's RSS and PSS (all its
#           processes) and the kernel's socket memory of its side of the
#           connections (ss -tm: r+t+f+w+o+bl of each socket), before and
#           after, per connection. RSS sums each process's resident pages,
#           so a page shared by Dovecot's 1,000 imap processes counts 1,000
#           times; PSS divides it among them: both are given.
#
# The load generator is bench/imap/imapload.py (asyncio, one process); its
# CPU seconds are in every raw line (gen_cpu_s), to show it is not what
# limits a run.
#
# Usage (as root):
#   bench/imap/imapbench.sh --peer-only          # Dovecot alone (no tern IMAP yet)
#   bench/imap/imapbench.sh --tern build         # tern (BUILD_DIR/ternd) and Dovecot
#   bench/imap/imapbench.sh --peer-only --quick  # small sizes, 1 rep: does it work?
#   Options: --reps N (3), --only fetch,search,mixed,idle, --duration S (20),
#   --big N (100000), --small N (1000), --search-n N (10000), --clients N (100),
#   --idle N (1000), --out DIR, --no-append (do not append to bench/RESULTS.md).
#
# Same for both: {PLAIN} passwords in one users file (tern's, a Dovecot
# passwd-file); LOGIN in cleartext on loopback (tern: auth_cleartext_loopback
# yes; Dovecot counts a loopback client as secured); Maildirs at
# <root>/<domain>/<local>. Dovecot: Debian's 2.3 as dovecotenv.py --serve
# runs it (unprivileged, its own dovecot.conf), plus service imap {
# process_limit = 1200 }, default_client_limit = 5000 and
# mail_max_userip_connections = 2000 for the 1,000 connections. Runs in
# `unshare --net --mount` (lo only). Output: a summary on stderr,
# $OUTDIR/raw-*.tsv, $OUTDIR/results.md, appended to bench/RESULTS.md.
set -uo pipefail
BENCH_IMAP=$(cd "$(dirname "$0")" && pwd)
. "$BENCH_IMAP/../lib.sh"

REPS=3; ONLY="fetch,search,mixed,idle"; DURATION=20; BIG=100000; SMALL=1000; SEARCH_N=10000
CLIENTS=100; MIX_MSGS=300; IDLE=1000; IDLE_MSGS=5; PEER_ONLY=0; TERN_BUILD=""; APPEND=1
PASS=bench-secret-1
T_IMAP=10143
DOMAIN=example.test
ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --quick) REPS=1; BIG=5000; SMALL=500; SEARCH_N=2000; CLIENTS=20; MIX_MSGS=100; IDLE=100; DURATION=5; shift;;
    --reps) REPS=$2; shift 2;;
    --only) ONLY=$2; shift 2;;
    --duration) DURATION=$2; shift 2;;
    --big) BIG=$2; shift 2;;
    --small) SMALL=$2; shift 2;;
    --search-n) SEARCH_N=$2; shift 2;;
    --clients) CLIENTS=$2; shift 2;;
    --idle) IDLE=$2; shift 2;;
    --peer-only) PEER_ONLY=1; shift;;
    --tern) TERN_BUILD=$2; shift 2;;
    --out) OUTDIR=$2; shift 2;;
    --no-append) APPEND=0; shift;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0;;
    *) die "unknown option $1 (see --help)";;
  esac
done
for v in REPS DURATION BIG SMALL SEARCH_N CLIENTS IDLE; do
  case ${!v} in ''|*[!0-9]*|0) die "${v,,}: a positive number";; esac
done
[ "$CLIENTS" -le 999 ] && [ "$IDLE" -le 9999 ] || die "at most 999 clients and 9999 idle connections"
if [ $PEER_ONLY = 1 ]; then SERVERS=dovecot
else
  [ -n "$TERN_BUILD" ] || die "--tern BUILD_DIR (tern with its IMAP server) or --peer-only"
  TERND=$(cd "$TERN_BUILD" 2>/dev/null && pwd)/ternd
  [ -x "$TERND" ] || die "$TERND missing"
  SERVERS=tern,dovecot
fi
need_root
getent passwd tern >/dev/null || die "user tern missing (make deps creates it)"
[ -x /usr/sbin/dovecot ] || die "Dovecot missing (dovecot-core, dovecot-imapd)"
PY=/usr/bin/python3
DOVECOTENV=$TOP/tests/integration/dovecotenv.py
LOAD=$BENCH_IMAP/imapload.py
if [ "${TERN_BENCH_NS:-}" != 1 ]; then
  RB_LOAD_BEFORE=$(load_line); RB_BUSY_BEFORE=$(busy_line)
  export RB_LOAD_BEFORE RB_BUSY_BEFORE
  export OUTDIR=${OUTDIR:-$BENCH_HOME/imap.$(date +%Y%m%d-%H%M%S)}
fi
in_private_netns "${ORIG_ARGS[@]}"

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
cg_setup imap
trap stop_all EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ material ----
PRISTINE=$OUTDIR/pristine
if [ ! -e "$PRISTINE/.done" ]; then
  rm -rf "$PRISTINE"
  log "generating mailboxes: $SMALL, $BIG, $SEARCH_N messages; $CLIENTS x $MIX_MSGS; $IDLE x $IDLE_MSGS"
  mk() { "$PY" "$BENCH_IMAP/mkimapmail.py" "$@" || die "mkimapmail failed"; }
  mk "$PRISTINE/small" $DOMAIN small 0 1 "$SMALL"
  mk "$PRISTINE/big" $DOMAIN big 0 1 "$BIG"
  mk "$PRISTINE/search" $DOMAIN search 0 1 "$SEARCH_N"
  mk "$PRISTINE/mixed" $DOMAIN m%03d 1 "$CLIENTS" "$MIX_MSGS"
  mk "$PRISTINE/idle" $DOMAIN i%04d 1 "$IDLE" "$IDLE_MSGS"
  {
    for u in small big search; do printf '%s@%s:{PLAIN}%s\n' $u $DOMAIN "$PASS"; done
    for ((k = 1; k <= CLIENTS; k++)); do printf 'm%03d@%s:{PLAIN}%s\n' $k $DOMAIN "$PASS"; done
    for ((k = 1; k <= IDLE; k++)); do printf 'i%04d@%s:{PLAIN}%s\n' $k $DOMAIN "$PASS"; done
  } > "$PRISTINE/users"
  touch "$PRISTINE/.done"
fi

prepare() {  # dir kind: DIR/mail (a copy of pristine/KIND), DIR/users
  local d=$1 kind=$2
  rm -rf "$d"; mkdir -p "$d"
  cp -a "$PRISTINE/$kind" "$d/mail"
  cp "$PRISTINE/users" "$d/users"
  chown -R tern:tern "$d/mail"
  chown root:tern "$d/users"; chmod 640 "$d/users"
  sync
}

# ------------------------------------------------------------ servers -----
wait_imap() {  # port: until "* OK" greets
  local port=$1 i line
  for ((i = 0; i < 150; i++)); do
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      line=""; read -r -t 5 line <&3; printf 'a LOGOUT\r\n' >&3 2>/dev/null; exec 3>&- 3<&-
      case $line in '* OK'*) return 0;; esac
    fi
    sleep 0.2
  done
  return 1
}

SRV_PID=""; IMAP_PORT=""
start_tern() {  # dir
  local d=$1
  mkdir -p "$d/data"; chmod 755 "$d" "$d/data"
  mv "$d/mail" "$d/data/mail"; mv "$d/users" "$d/data/users"
  : > "$d/data/aliases"
  cat > "$d/ternd.conf" <<EOF
hostname bench.test
data_dir $d/data
domains $DOMAIN
listen imap 127.0.0.1:$T_IMAP
auth_cleartext_loopback yes
max_connections 20000
max_connections_per_ip 20000
io_threads ${TERN_IO_THREADS:-8}
EOF
  "$TERND" -n -c "$d/ternd.conf" || die "ternd -n rejected $d/ternd.conf"
  IMAP_PORT=$T_IMAP
  cg_new srv
  ( cg_run srv "$TERND" -c "$d/ternd.conf" ) > "$d/ternd.log" 2>&1 &
  SRV_PID=$!; track $SRV_PID
  wait_imap $T_IMAP || { log "tern: no IMAP greeting (see $d/ternd.log)"; return 1; }
}

start_dovecot() {  # dir
  local d=$1 i
  cg_new srv; cg_new aux
  ( cg_run srv "$PY" "$DOVECOTENV" --serve "$d/dc" --mail-root "$d/mail" --users "$d/users" \
      --set "default_client_limit = 5000" \
      --set "service imap {" --set "  process_limit = 1200" --set "}" \
      --set "protocol imap {" --set "  mail_max_userip_connections = 2000" --set "}" ) \
      > "$d/serve.out" 2>&1 &
  SRV_PID=$!; track $SRV_PID
  for ((i = 0; i < 300; i++)); do grep -q '^ready$' "$d/serve.out" && break; sleep 0.1; done
  grep -q '^ready$' "$d/serve.out" || { log "dovecot: not ready (see $d/serve.out)"; return 1; }
  IMAP_PORT=$(sed -n 's/^imap_port=//p' "$d/serve.out")
  echo "$SRV_PID" > "$CGBASE/aux/cgroup.procs"     # only Dovecot is measured
}

start_server() { "start_$1" "$2" || { stop_server; return 1; }; sleep 1; }
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
fsub3() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
kv() {  # "k=v k=v" key -> v
  local x; for x in $1; do [ "${x%%=*}" = "$2" ] && { echo "${x#*=}"; return; }; done; echo NA
}
# The kernel's memory for the server's side of the connections to PORT
# (ss -tm skmem: rmem_alloc, wmem_alloc, fwd_alloc, wmem_queued, opt,
# backlog; not the buffer limits rb/tb), in KiB.
sockmem_kib() {
  ss -tmnH state established "( sport = :$1 )" 2>/dev/null | grep -o 'skmem:([^)]*)' |
    awk -F'[(),]' '{ for (i = 2; i <= NF; i++) if ($i ~ /^(r|t|f|w|o|bl)[0-9]+$/) { v = $i; sub(/^[a-z]+/, "", v); s += v } }
                   END { printf "%d\n", s / 1024 }'
}

RAW_FETCH=$OUTDIR/raw-fetch.tsv; RAW_SEARCH=$OUTDIR/raw-search.tsv
RAW_MIXED=$OUTDIR/raw-mixed.tsv; RAW_IDLE=$OUTDIR/raw-idle.tsv
printf 'server\trep\tbox\tround\tmessages\tok\telapsed_s\tlogin_ms\tselect_ms\tfetch_ms\tsrv_cpu_s\tgen_cpu_s\n' > "$RAW_FETCH"
printf 'server\trep\tround\tsearches\thits\tp50_ms\tmax_ms\tsrv_cpu_s\tgen_cpu_s\n' > "$RAW_SEARCH"
printf 'server\trep\tclients\tduration_s\tsessions\tfailed\tmessages\tmsgs_per_s\tsessions_per_s\tsession_p50_ms\tsession_p99_ms\tsrv_cpu_s\tsrv_us_per_msg\tgen_cpu_s\n' > "$RAW_MIXED"
printf 'server\trep\tconnections\tin_idle\trss_before_kib\trss_after_kib\tpss_before_kib\tpss_after_kib\tsock_kib\tper_conn_kib\tprocs_after\tlogin_p50_ms\tper_conn_pss_kib\n' > "$RAW_IDLE"

# ---------------------------------------------------------------- fetch ---
fetch_round() {  # server rep box user n round dir
  local srv=$1 rep=$2 box=$3 user=$4 n=$5 round=$6 d=$7 c0 out
  c0=$(cg_cpu srv)
  out=$("$PY" "$LOAD" fetchall -p "$IMAP_PORT" -u "$user@$DOMAIN" -w "$PASS" -n "$n" 2>> "$d/load.err")
  local cpu; cpu=$(fsub3 "$c0" "$(cg_cpu srv)")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$rep" "$box" "$round" \
    "$(kv "$out" messages)" "$(kv "$out" ok)" "$(kv "$out" elapsed_s)" "$(kv "$out" login_ms)" \
    "$(kv "$out" select_ms)" "$(kv "$out" fetch_ms)" "$cpu" "$(kv "$out" cpu_s)" >> "$RAW_FETCH"
  log "$srv #$rep fetch $box $round: $(kv "$out" messages)/$n in $(kv "$out" elapsed_s)s (select $(kv "$out" select_ms) ms, fetch $(kv "$out" fetch_ms) ms); server cpu ${cpu}s; generator $(kv "$out" cpu_s)s"
}
fetch_run() {  # server rep
  local srv=$1 rep=$2 box n
  for box in small big; do
    local d=$OUTDIR/$srv.$rep.fetch-$box
    n=$SMALL; [ $box = big ] && n=$BIG
    prepare "$d" "$box"
    start_server "$srv" "$d" || return 1
    fetch_round "$srv" "$rep" "$box" "$box" "$n" cold "$d"
    fetch_round "$srv" "$rep" "$box" "$box" "$n" warm "$d"
    stop_server "$d"
  done
}

# --------------------------------------------------------------- search ---
search_run() {  # server rep
  local srv=$1 rep=$2 d=$OUTDIR/$1.$2.search c0 out round r
  prepare "$d" search
  start_server "$srv" "$d" || return 1
  # The first login makes the UIDs (and Dovecot's index): not measured.
  "$PY" "$LOAD" fetchall -p "$IMAP_PORT" -u "search@$DOMAIN" -w "$PASS" -n "$SEARCH_N" > /dev/null 2>> "$d/load.err"
  for round in cold warm; do
    r=1; [ $round = warm ] && r=5
    c0=$(cg_cpu srv)
    out=$("$PY" "$LOAD" search -p "$IMAP_PORT" -u "search@$DOMAIN" -w "$PASS" -q "TEXT zebra" -r $r 2>> "$d/load.err")
    local cpu; cpu=$(fsub3 "$c0" "$(cg_cpu srv)")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$rep" "$round" "$(kv "$out" searches)" \
      "$(kv "$out" hits)" "$(kv "$out" p50_ms)" "$(kv "$out" max_ms)" "$cpu" "$(kv "$out" cpu_s)" >> "$RAW_SEARCH"
    log "$srv #$rep search $round: $(kv "$out" searches) x SEARCH TEXT zebra over $SEARCH_N: p50 $(kv "$out" p50_ms) ms, $(kv "$out" hits) hits; server cpu ${cpu}s"
  done
  stop_server "$d"
}

# ---------------------------------------------------------------- mixed ---
mixed_run() {  # server rep
  local srv=$1 rep=$2 d=$OUTDIR/$1.$2.mixed c0 g0 out
  prepare "$d" mixed
  start_server "$srv" "$d" || return 1
  # Every user's first login (UIDs, index) before the clock starts.
  "$PY" "$LOAD" idle -p "$IMAP_PORT" -U "m%03d@$DOMAIN" -w "$PASS" -c "$CLIENTS" < /dev/null > /dev/null 2>> "$d/load.err"
  c0=$(cg_cpu srv); cg_new gen; g0=$(cg_cpu gen)
  out=$( (cg_run gen "$PY" "$LOAD" mixed -p "$IMAP_PORT" -U "m%03d@$DOMAIN" -w "$PASS" -c "$CLIENTS" -d "$DURATION") 2>> "$d/load.err")
  local cpu gcpu msgs per
  cpu=$(fsub3 "$c0" "$(cg_cpu srv)"); gcpu=$(fsub3 "$g0" "$(cg_cpu gen)")
  msgs=$(kv "$out" messages)
  per=$(awk -v c="$cpu" -v n="$msgs" 'BEGIN { if (n + 0 > 0) printf "%.1f", 1e6 * c / n; else print "NA" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$rep" "$CLIENTS" "$DURATION" \
    "$(kv "$out" sessions)" "$(kv "$out" failed)" "$msgs" "$(kv "$out" msgs_per_s)" "$(kv "$out" sessions_per_s)" \
    "$(kv "$out" session_p50_ms)" "$(kv "$out" session_p99_ms)" "$cpu" "$per" "$gcpu" >> "$RAW_MIXED"
  log "$srv #$rep mixed: $CLIENTS clients ${DURATION}s: $(kv "$out" sessions) sessions ($(kv "$out" failed) failed), $msgs messages = $(kv "$out" msgs_per_s) msgs/s; server cpu ${cpu}s = $per us/msg; generator ${gcpu}s"
  stop_server "$d"
}

# ----------------------------------------------------------------- idle ---
idle_run() {  # server rep
  local srv=$1 rep=$2 d=$OUTDIR/$1.$2.idle m0 m1 fifo pid i out nin sock
  prepare "$d" idle
  start_server "$srv" "$d" || return 1
  # One session first, so that what each server starts at its first login
  # (Dovecot's auth process, tern's pool threads) is in the baseline.
  "$PY" "$LOAD" fetchall -p "$IMAP_PORT" -u "i0001@$DOMAIN" -w "$PASS" > /dev/null 2>> "$d/load.err"
  sleep 2
  m0=$(mem_now srv)
  fifo=$d/hold; mkfifo "$fifo"
  "$PY" "$LOAD" idle -p "$IMAP_PORT" -U "i%04d@$DOMAIN" -w "$PASS" -c "$IDLE" < "$fifo" > "$d/idle.out" 2> "$d/idle.err" &
  pid=$!; track $pid
  exec 4> "$fifo"
  for ((i = 0; i < 3000; i++)); do grep -q '^ready' "$d/idle.out" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  sleep 3
  m1=$(mem_now srv)
  sock=$(sockmem_kib "$IMAP_PORT")
  exec 4>&-
  wait $pid; STARTED=$(echo " $STARTED " | sed "s/ $pid / /")
  nin=$(sed -n 's/^ready n=\([0-9]*\).*/\1/p' "$d/idle.out")
  local p0 r0 n0 p1 r1 n1 per perp
  read -r p0 r0 n0 <<< "$m0"; read -r p1 r1 n1 <<< "$m1"
  per=$(awk -v a="$r0" -v b="$r1" -v s="$sock" -v n="${nin:-0}" 'BEGIN { if (n > 0) printf "%.1f", (b - a + s) / n; else print "NA" }')
  perp=$(awk -v a="$p0" -v b="$p1" -v s="$sock" -v n="${nin:-0}" 'BEGIN { if (n > 0) printf "%.1f", (b - a + s) / n; else print "NA" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$rep" "$IDLE" "${nin:-0}" "$r0" "$r1" \
    "$p0" "$p1" "$sock" "$per" "$n1" "$(sed -n 's/.*login_p50_ms=\([0-9.]*\).*/\1/p' "$d/idle.out" | head -1)" "$perp" >> "$RAW_IDLE"
  [ -s "$d/idle.err" ] && log "$srv #$rep idle: $(head -c 300 "$d/idle.err")"
  log "$srv #$rep idle: ${nin:-0}/$IDLE in IDLE; RSS $r0 -> $r1 KiB, PSS $p0 -> $p1 KiB ($n0 -> $n1 processes), sockets $sock KiB = $per KiB per connection (RSS + sockets)"
  stop_server "$d"
}

# ---------------------------------------------------------------- run -----
log "imap: servers $SERVERS; parts $ONLY; $REPS rep(s); output $OUTDIR"
for part in ${ONLY//,/ }; do
  case $part in fetch|search|mixed|idle) ;; *) die "unknown part $part";; esac
  for ((rep = 1; rep <= REPS; rep++)); do
    for srv in ${SERVERS//,/ }; do "${part}_run" "$srv" "$rep" || log "$srv #$rep $part: failed"; done
  done
done

# ------------------------------------------------------------- report -----
# col FILE server column [filter-column filter-value]...: values.
col() {
  local f=$1 s=$2 c=$3; shift 3
  awk -F'\t' -v s="$s" -v c="$c" -v filt="$*" 'BEGIN { n = split(filt, fa, " ") }
    NR > 1 && $1 == s && $c != "NA" && $c != "" { for (i = 1; i < n; i += 2) if ($(fa[i]) != fa[i + 1]) next; printf "%s ", $c }' "$f"
}
range() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%s-%s", a[1], a[NR]; else printf "-" }'; }
ratio() { awk -v t="$1" -v p="$2" 'BEGIN { if (t == "NA" || p == "NA" || p + 0 == 0) print "-"; else printf "%.2fx", t / p }'; }
cell() { local v; v=$(col "$@"); [ -n "$v" ] || { echo "-"; return; }; echo "$(echo "$v" | median) ($(echo "$v" | range))"; }
med() { col "$@" | median; }
has() { case ,$ONLY, in *,$1,*) return 0;; esac; return 1; }
row() {  # label file column filters...: | label | tern | Dovecot | ratio |
  local label=$1 f=$2 c=$3; shift 3
  echo "| $label | $(cell "$f" tern "$c" "$@") | $(cell "$f" dovecot "$c" "$@") | $(ratio "$(med "$f" tern "$c" "$@")" "$(med "$f" dovecot "$c" "$@")") |"
}

load_after=$(load_line); busy_after=$(busy_line)
{
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`bench/imap/imapbench.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}\`"
  echo
  echo "Machine: $(machine_line); load generator and servers share the cores."
  if [ $PEER_ONLY = 1 ]; then echo "Dovecot $(version_of dovecot) (Debian) alone (--peer-only): tern has no IMAP server yet."
  else echo "tern $(version_of tern) ($TERN_BUILD, io_threads ${TERN_IO_THREADS:-8}); Dovecot $(version_of dovecot) (Debian)."; fi
  echo "Load average before: $RB_LOAD_BEFORE (busy: $RB_BUSY_BEFORE); after: $load_after (busy: $busy_after)."
  echo "$REPS rep(s) per server, interleaved; median (min-max). Times in ms, lower is better; rates higher."
  echo
  if has fetch; then
    echo "### LOGIN + SELECT + FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE) + LOGOUT, whole session in ms"
    echo
    echo "| mailbox, round | tern | Dovecot | tern/Dovecot |"
    echo "|---|---|---|---|"
    for box in small big; do for round in cold warm; do
      n=$SMALL; [ $box = big ] && n=$BIG
      # elapsed_s (column 7) in ms
      tv=$(col "$RAW_FETCH" tern 7 3 $box 4 $round | tr ' ' '\n' | awk 'NF { printf "%.1f ", $1 * 1000 }')
      dv=$(col "$RAW_FETCH" dovecot 7 3 $box 4 $round | tr ' ' '\n' | awk 'NF { printf "%.1f ", $1 * 1000 }')
      tc="-"; [ -n "$tv" ] && tc="$(echo "$tv" | median) ($(echo "$tv" | range))"
      dcl="-"; [ -n "$dv" ] && dcl="$(echo "$dv" | median) ($(echo "$dv" | range))"
      echo "| $n messages, $round | $tc | $dcl | $(ratio "$(echo "$tv" | median)" "$(echo "$dv" | median)") |"
    done; done
    echo
    echo "| server CPU s | tern | Dovecot | tern/Dovecot |"
    echo "|---|---|---|---|"
    for box in small big; do for round in cold warm; do row "$box $round" "$RAW_FETCH" 11 3 $box 4 $round; done; done
    echo
  fi
  if has search; then
    echo "### SEARCH TEXT zebra over $SEARCH_N messages (ms; warm: median of 5)"
    echo
    echo "| round | tern | Dovecot | tern/Dovecot |"
    echo "|---|---|---|---|"
    row cold "$RAW_SEARCH" 6 3 cold
    row warm "$RAW_SEARCH" 6 3 warm
    echo
  fi
  if has mixed; then
    echo "### $CLIENTS clients, mixed sessions for ${DURATION}s (select, headers, bodies, store, append, expunge, idle)"
    echo
    echo "| | tern | Dovecot | tern/Dovecot |"
    echo "|---|---|---|---|"
    row "messages/s" "$RAW_MIXED" 8
    row "sessions/s" "$RAW_MIXED" 9
    row "server µs CPU/msg" "$RAW_MIXED" 13
    row "generator CPU s" "$RAW_MIXED" 14
    echo
  fi
  if has idle; then
    echo "### Idle IMAP connections: $IDLE logged in, SELECTed, in IDLE (each its own user, $IDLE_MSGS messages)"
    echo
    echo "| | tern | Dovecot | tern/Dovecot |"
    echo "|---|---|---|---|"
    row "KiB per connection (RSS + socket memory)" "$RAW_IDLE" 10
    row "KiB per connection (PSS + socket memory)" "$RAW_IDLE" 13
    row "socket memory KiB, all" "$RAW_IDLE" 9
    row "RSS KiB with all connected" "$RAW_IDLE" 6
    row "PSS KiB with all connected" "$RAW_IDLE" 8
    row "processes with all connected" "$RAW_IDLE" 11
    echo
  fi
  echo "Raw runs ($OUTDIR):"
  echo
  echo '```'
  for f in "$RAW_FETCH" "$RAW_SEARCH" "$RAW_MIXED" "$RAW_IDLE"; do
    [ "$(wc -l < "$f")" -gt 1 ] && { column -t -s $'\t' "$f"; echo; }
  done
  echo '```'
} > "$OUTDIR/results.md"
cat "$OUTDIR/results.md" >&2
if [ $APPEND = 1 ]; then
  { echo; cat "$OUTDIR/results.md"; } >> "$TOP/bench/RESULTS.md"
  log "appended $OUTDIR/results.md to bench/RESULTS.md"
else
  log "wrote $OUTDIR/results.md"
fi
