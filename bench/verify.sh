#!/usr/bin/env bash
# bench/verify.sh — what the inbound checks cost: ternd with SPF, DKIM,
# DMARC and the sender-domain check on, against the same ternd with them
# off, under the same smtp-source load, with a local unbound answering.
#
# Usage (as root, after make build and one run of ../shared/bench/peers.sh,
# which unpacks Postfix's smtp-source):
#   bench/verify.sh                 # 10000 x 4 KiB, 20 sessions, 3 reps per mode
#   bench/verify.sh --quick         # 1000 messages, 1 rep
#   bench/verify.sh -n 5000 -s 50 --reps 2
#   Environment: BUILD (default build), TERN_IO_THREADS (default 8).
#
# The message is one file sent by smtp-source -F: From sender@bench.example,
# a 4 KiB body, DKIM-signed (rsa-sha256, 2048-bit key, relaxed/relaxed) by
# dkimpy; the envelope sender is sender@bench.example, HELO
# client.bench.example, the client 127.0.0.1. unbound (127.0.0.1:10353)
# serves bench.example: MX, SPF "v=spf1 ip4:127.0.0.1 -all", the DKIM key,
# DMARC "v=DMARC1; p=reject". With checks on every message gets spf=pass,
# dkim=pass, dmarc=pass (checked on a delivered one) and costs an MX, a TXT
# (SPF), a TXT (key) and a TXT (DMARC) lookup, answered from libunbound's
# cache after the first message: the DNS round trips are measured once, the
# cost per message is tern's own work (hashing, RSA verify, parsing).
# Modes: "on" (check_spf, check_dkim, check_dmarc, check_sender_domain) and
# "off"; interleaved per rep. Measured: accept rate, delivery rate, CPU of
# ternd's cgroup and of unbound's. For the ratio to Postfix, run
# `../shared/bench/peers.sh --only postfix --loads a` in the same sitting
# (same smtp-source, 10000 x 4 KiB, 20 sessions, no checks).
# Runs in `unshare --net --mount` (lo only). Output: a table on stdout and
# a dated section appended to bench/RESULTS.new-verify.md.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

N=10000; SESS=20; LEN=4096; REPS=3
SRV_PORT=10300; DNS_PORT=10353; RCPT=tbench@example.test
ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --quick) N=1000; REPS=1; shift;;
    -n) N=$2; shift 2;;
    -s) SESS=$2; shift 2;;
    --reps) REPS=$2; shift 2;;
    --out) OUTDIR=$2; shift 2;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0;;
    *) die "unknown option $1 (see --help)";;
  esac
done
need_root
check_build
command -v unbound >/dev/null || die "unbound missing (make deps)"
if [ "${TERN_BENCH_NS:-}" != 1 ]; then
  VERIFY_LOAD_BEFORE=$(load_line); VERIFY_BUSY_BEFORE=$(busy_line)
  export VERIFY_LOAD_BEFORE VERIFY_BUSY_BEFORE
  export OUTDIR=${OUTDIR:-$BENCH_HOME/verify.$(date +%Y%m%d-%H%M%S)}
fi
in_private_netns "${ORIG_ARGS[@]}"

mkdir -p "$OUTDIR"
RAW=$OUTDIR/raw.tsv
cg_setup verify
trap 'stop_all' EXIT
trap 'exit 130' INT TERM
printf 'mode\trep\tn\tsessions\tsend_s\taccept_per_s\tdeliv_s\tdeliv_per_s\tsrv_cpu_s\tsrv_ms_per_msg\tdns_cpu_s\tgen_cpu_s\tsource_rc\tnotes\n' > "$RAW"

# ------------------------------------------------ the message and the zone --
/usr/bin/python3 - "$OUTDIR" "$LEN" <<'PY' || die "cannot make the signed message (python3-dkim)"
import base64, subprocess, sys
import dkim
out, n = sys.argv[1], int(sys.argv[2])
subprocess.run(["openssl", "genrsa", "-out", out + "/dkim.key", "2048"], check=True, capture_output=True)
der = subprocess.run(["openssl", "rsa", "-in", out + "/dkim.key", "-pubout", "-outform", "DER"],
                     check=True, capture_output=True).stdout
body = b"".join(b"x" * 70 + b"\r\n" for _ in range(n // 72))
msg = (b"From: Bench <sender@bench.example>\r\nTo: <tbench@example.test>\r\n"
       b"Subject: verify bench\r\nDate: Tue, 01 Dec 2026 00:00:00 +0000\r\n"
       b"Message-ID: <verify-bench@bench.example>\r\n\r\n" + body)
sig = dkim.sign(msg, b"sel", b"bench.example", open(out + "/dkim.key", "rb").read(),
                include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
# smtp-source -F appends CRLF to every line: the file has LF ends.
open(out + "/msg.eml", "wb").write((sig + msg).replace(b"\r\n", b"\n"))
key = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
chunks = " ".join('"%s"' % key[i:i + 255] for i in range(0, len(key), 255))
open(out + "/dkim.txt", "w").write(chunks)
PY
cat > "$OUTDIR/unbound.conf" <<UNBOUND_CONF
server:
  interface: 127.0.0.1@$DNS_PORT
  port: $DNS_PORT
  do-daemonize: no
  chroot: ""
  username: ""
  pidfile: ""
  directory: "$OUTDIR"
  logfile: ""
  use-syslog: no
  verbosity: 0
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "bench.example." static
  local-data: "bench.example. IN MX 10 mx.bench.example."
  local-data: "mx.bench.example. IN A 127.0.0.9"
  local-data: 'bench.example. IN TXT "v=spf1 ip4:127.0.0.1 -all"'
  local-data: 'sel._domainkey.bench.example. IN TXT $(cat "$OUTDIR/dkim.txt")'
  local-data: '_dmarc.bench.example. IN TXT "v=DMARC1; p=reject"'
UNBOUND_CONF
cg_new dns
( cg_run dns unbound -d -c "$OUTDIR/unbound.conf" ) > "$OUTDIR/unbound.log" 2>&1 &
DNS_PID=$!; track $DNS_PID
sleep 1
kill -0 $DNS_PID 2>/dev/null || die "unbound did not start (see $OUTDIR/unbound.log)"

start_tern() {  # dir mode
  local d=$1 mode=$2 checks=""
  [ "$mode" = on ] && checks=$'check_spf yes\ncheck_dkim yes\ncheck_dmarc yes\ncheck_sender_domain yes'
  printf 'listen smtp 127.0.0.1:%s\nresolver 127.0.0.1@%s\n%s\n' "$SRV_PORT" "$DNS_PORT" "$checks" |
    tern_conf "$d"
  cg_new srv
  ( cg_run srv "$TERND" -c "$d/ternd.conf" ) > "$d/ternd.log" 2>&1 &
  SRV_PID=$!; track $SRV_PID
}

count_new() { find "$1" -maxdepth 1 -type f | wc -l; }

run_one() {  # mode rep
  local mode=$1 rep=$2 d=$OUTDIR/$1.$2 maildir
  rm -rf "$d"; mkdir -p "$d"
  rmdir "$CGBASE/srv" "$CGBASE/gen" 2>/dev/null
  start_tern "$d" "$mode"
  maildir=$d/data/mail/example.test/tbench/new
  wait_banner 127.0.0.1 $SRV_PORT 30 || { log "tern: no banner (see $d)"; stop_cg srv "$SRV_PID"; return 1; }
  local scpu0 dcpu0 gcpu0 t0 t1 t2=NA rc c last=-1 lastt
  scpu0=$(cg_cpu srv); dcpu0=$(cg_cpu dns); cg_new gen; gcpu0=$(cg_cpu gen)
  t0=$(now)
  ( cg_run gen env LD_LIBRARY_PATH=$PFX_LIB timeout 900 "$SMTP_SOURCE" -4 -s "$SESS" -m "$N" \
      -F "$OUTDIR/msg.eml" -M client.bench.example -f sender@bench.example -t "$RCPT" \
      127.0.0.1:$SRV_PORT ) > "$d/source.log" 2>&1
  rc=$?
  t1=$(now); lastt=$t1
  while :; do
    c=$(count_new "$maildir")
    if [ "$c" -ge "$N" ]; then t2=$(now); break; fi
    if [ "$c" != "$last" ]; then last=$c; lastt=$(now); fi
    awk -v a="$lastt" -v b="$(now)" 'BEGIN { exit !(b - a > 30) }' && break
    sleep 0.1
  done
  sleep 1
  local scpu dcpu gcpu send deliv notes one
  scpu=$(fsub "$scpu0" "$(cg_cpu srv)"); dcpu=$(fsub "$dcpu0" "$(cg_cpu dns)"); gcpu=$(fsub "$gcpu0" "$(cg_cpu gen)")
  send=$(fsub "$t0" "$t1")
  if [ "$t2" = NA ]; then deliv=NA; else deliv=$(fsub "$t0" "$t2"); fi
  one=$(find "$maildir" -maxdepth 1 -type f | head -1)
  notes="delivered=$(count_new "$maildir")"
  if [ "$mode" = on ]; then
    if [ -n "$one" ] && grep -q 'dkim=pass' "$one" && grep -q 'dmarc=pass' "$one" && grep -q 'spf=pass' "$one"; then
      notes="$notes checks=pass"
    else
      notes="$notes CHECKS-NOT-PASSING"
    fi
  fi
  [ $rc = 0 ] || notes="$notes source_failed:$(tail -1 "$d/source.log" | tr '\t' ' ')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$rep" "$N" "$SESS" \
    "$send" "$(fdiv "$N" "$send")" "$deliv" "$(fdiv "$N" "$deliv")" "$scpu" \
    "$(awk -v c="$scpu" -v n="$N" 'BEGIN { printf "%.3f", 1000 * c / n }')" "$dcpu" "$gcpu" "$rc" "$notes" >> "$RAW"
  log "checks $mode #$rep: $N msgs accepted in ${send}s ($(fdiv "$N" "$send")/s), delivered after ${deliv}s; cpu ternd ${scpu}s unbound ${dcpu}s gen ${gcpu}s; $notes"
  stop_cg srv "$SRV_PID"
}

log "verify: $N x $LEN B, $SESS sessions, $REPS reps; output $OUTDIR"
for ((rep = 1; rep <= REPS; rep++)); do
  for mode in off on; do run_one "$mode" "$rep"; done
done

# ------------------------------------------------------------- report -----
col() { awk -F'\t' -v m="$1" -v c="$2" 'NR > 1 && $1 == m && $13 == 0 { printf "%s ", $c }' "$RAW"; }
range() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%s-%s", a[1], a[NR] }'; }
table=$(
  printf '%-7s %-22s %-22s %-18s %-12s\n' checks "accept msgs/s" "delivered msgs/s" "ternd ms/msg" "unbound s"
  for m in off on; do
    printf '%-7s %-22s %-22s %-18s %-12s\n' "$m" "$(col $m 6 | median) ($(col $m 6 | range))" \
      "$(col $m 8 | median) ($(col $m 8 | range))" "$(col $m 10 | median) ($(col $m 10 | range))" "$(col $m 11 | median)"
  done
)
echo
echo "$table"
added=$(awk -v a="$(col on 10 | median)" -v b="$(col off 10 | median)" 'BEGIN { printf "%.3f", a - b }')
echo "CPU per message the checks add: ${added} ms"
res=$BENCH_DIR/RESULTS.new-verify.md
[ -f "$res" ] || printf '# Inbound checks benchmark (bench/verify.sh)\n\nOne section per run, newest last.\n' > "$res"
{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`bench/verify.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}\`"
  echo
  echo "Machine: $(machine_line). Load average before: $VERIFY_LOAD_BEFORE (busy: $VERIFY_BUSY_BEFORE)."
  echo "tern $(git -C "$TOP" describe --always --dirty 2>/dev/null) ($BUILD). Load: smtp-source -F (DKIM-signed 4 KiB message), $N messages, $SESS sessions; $REPS rep(s) per mode, median (min-max)."
  echo
  echo '```'
  echo "$table"
  echo "CPU per message the checks add: ${added} ms"
  echo '```'
  echo
  echo '```'
  column -t -s $'\t' "$RAW"
  echo '```'
} >> "$res"
log "appended to $res"
