#!/usr/bin/env bash
# bench/submission.sh — TLS submission load: tern vs. Exim (OpenSMTPD optional).
#
# Every session: connect to the submission port, EHLO, STARTTLS (full
# handshake, no resumption), EHLO, AUTH PLAIN, one 4 KiB message to a local
# Maildir, QUIT. The load generator is bench/smtpload.c (C, OpenSSL, one
# blocking thread per concurrent session), compiled at run time; its own
# CPU is measured too, since it shares the cores with the server.
#
# Usage (as root, after make build):
#   bench/submission.sh                 # 1000 sessions, 20 concurrent, 2 reps per server
#   bench/submission.sh --quick         # 200 sessions, 1 rep
#   bench/submission.sh -n 5000 -c 50 --reps 1 --only tern
#   bench/submission.sh --hash sha512   # password hash for both (default yescrypt,
#                                       # what `ternctl user passwd` writes)
#   bench/submission.sh --key ec        # P-256 certificate instead of RSA 2048
#   bench/submission.sh --only tern,opensmtpd   # fails: see below
#   Environment: BUILD (default build), TERN_IO_THREADS (default 8).
#
# All servers get the same certificate (openssl req, self-signed) and the
# same crypt(3) password hash for tbench@example.test, and deliver to a
# Maildir; before each run one good session must succeed and one with a
# wrong password must get 535.
#   tern:      listen submission 127.0.0.1:10587, tls_cert/tls_key; users file
#              line tbench@example.test:{CRYPT}<hash>; direct Maildir delivery
#   Exim:      exim4-daemon-light 4.96 (GnuTLS), unpacked; STARTTLS, plaintext
#              authenticator (PLAIN) checking the hash with crypteq, MAIL
#              refused without TLS and AUTH, appendfile Maildir as tbench
#   OpenSMTPD: listen on ... tls-require pki bench auth <passwds>; Debian
#              12's 6.8.0p2 fails every TLS handshake with OpenSSL 3
#              ("missing private key" in its privsep signer), so it is not
#              in the default comparison
# Measured per run: sessions/s (= handshakes/s), session latency p50/p99,
# server CPU (cgroup) per session, generator CPU, peak PSS; Maildir files
# are counted to check every message arrived.
# Runs in `unshare --net --mount` (lo only). Output: table on stdout and
# bench/RESULTS.new-submission.md (a dated section appended); logs under
# $BENCH_HOME/submission.<date>/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

N=1000; CONC=20; REPS=2; ONLY="tern,exim"; HASH=yescrypt; KEY=rsa; LEN=4096
PORT=10587; PASS=bench-secret-1
ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --quick) N=200; REPS=1; shift;;
    -n) N=$2; shift 2;;
    -c) CONC=$2; shift 2;;
    --reps) REPS=$2; shift 2;;
    --only) ONLY=$2; shift 2;;
    --hash) HASH=$2; shift 2;;
    --key) KEY=$2; shift 2;;
    --out) OUTDIR=$2; shift 2;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0;;
    *) die "unknown option $1 (see --help)";;
  esac
done
case $HASH in yescrypt|sha512) ;; *) die "--hash yescrypt|sha512";; esac
case $KEY in rsa|ec) ;; *) die "--key rsa|ec";; esac
need_root
check_build
OSMTPD=$BROOT/opensmtpd
if [ "${TERN_BENCH_NS:-}" != 1 ]; then
  SUB_LOAD_BEFORE=$(load_line); SUB_BUSY_BEFORE=$(busy_line)
  export SUB_LOAD_BEFORE SUB_BUSY_BEFORE
  export OUTDIR=${OUTDIR:-$BENCH_HOME/submission.$(date +%Y%m%d-%H%M%S)}
fi
in_private_netns "${ORIG_ARGS[@]}"

mkdir -p "$OUTDIR"
RAW=$OUTDIR/raw.tsv
cg_setup sub
OVERLAYS=""
cleanup() {
  stop_all
  mountpoint -q /var/spool/smtpd 2>/dev/null && umount /var/spool/smtpd
  local o; for o in $OVERLAYS; do umount "$o" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Generator, certificate, password hash: shared by both servers.
cc -O2 -o "$OUTDIR/smtpload" "$BENCH_DIR/smtpload.c" -lssl -lcrypto -lpthread || die "cannot build smtpload"
PKI=$OUTDIR/pki; mkdir -p "$PKI"
if [ $KEY = rsa ]; then keyopt=(-newkey rsa:2048); else keyopt=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); fi
openssl req -x509 "${keyopt[@]}" -nodes -days 30 -subj /CN=bench.test -addext subjectAltName=DNS:bench.test \
  -keyout "$PKI/key.pem" -out "$PKI/cert.pem" >/dev/null 2>&1 || die "openssl req failed"
chmod 600 "$PKI/key.pem"
if [ $HASH = yescrypt ]; then
  mkdir -p "$OUTDIR/hash"; echo "tbench@example.test" > "$OUTDIR/hash/users"
  printf 'hostname bench.test\ndata_dir %s\ndomains example.test\nlisten smtp 127.0.0.1:1\n' "$OUTDIR/hash" > "$OUTDIR/hash/ternd.conf"
  echo "$PASS" | "$TERNCTL" -c "$OUTDIR/hash/ternd.conf" user passwd tbench@example.test >/dev/null || die "ternctl user passwd failed"
  PWHASH=$(sed -n 's/^tbench@example.test:{CRYPT}\([^:]*\).*/\1/p' "$OUTDIR/hash/users")
else
  PWHASH=$(openssl passwd -6 "$PASS")
fi
case $PWHASH in \$*) ;; *) die "no password hash ($PWHASH)";; esac

printf 'server\trep\tn\tconc\tok\tfailed\telapsed_s\tsessions_per_s\tlat_p50_ms\tlat_p99_ms\ths_p50_ms\tsrv_cpu_s\tsrv_ms_per_session\tgen_cpu_s\tgen_ms_per_session\tpss_mib\tprocs\tdelivered\n' > "$RAW"

# --------------------------------------------------------------- tern -----
start_tern() {  # dir
  local d=$1
  tern_conf "$d" <<EOF
listen submission 127.0.0.1:$PORT
tls_cert $PKI/cert.pem
tls_key $PKI/key.pem
EOF
  echo "tbench@example.test:{CRYPT}$PWHASH" > "$d/data/users"
  MAILDIR=$d/data/mail/example.test/tbench
  cg_new srv
  ( cg_run srv "$TERND" -c "$d/ternd.conf" ) > "$d/ternd.log" 2>&1 &
  SRV_PID=$!; track $SRV_PID
}

# ----------------------------------------------------------- OpenSMTPD ----
# A private copy-on-write view of a system directory, in this mount
# namespace only (gone with it).
overlay_dir() {
  local dir=$1 key; key=$(echo "$dir" | tr / _)
  grep -q "^overlay $dir overlay " /proc/self/mounts && return 0
  mkdir -p "$OUTDIR/ovl$key/up" "$OUTDIR/ovl$key/work"
  mount -t overlay overlay -o "lowerdir=$dir,upperdir=$OUTDIR/ovl$key/up,workdir=$OUTDIR/ovl$key/work" "$dir" ||
    die "overlay mount on $dir failed"
  OVERLAYS="$OVERLAYS $dir"
}
start_opensmtpd() {  # dir
  local d=$1
  [ -x "$OSMTPD/usr/sbin/smtpd" ] || { log "opensmtpd: $OSMTPD not unpacked; skipped"; return 1; }
  MAILDIR=$d/Maildir; mkdir -p "$MAILDIR"/{tmp,new,cur}; chown -R tbench:tbench "$MAILDIR"
  # Compiled-in paths: chroot dir, spool (fresh per run), MDA directory,
  # control socket (/run: private, so another smtpd on the host is no matter).
  overlay_dir /run
  rm -f /run/smtpd.sock
  overlay_dir /var/lib; mkdir -p /var/lib/opensmtpd/empty
  overlay_dir /var/spool; mkdir -p /var/spool/smtpd "$d/spool"; chmod 711 "$d/spool"
  mountpoint -q /var/spool/smtpd && umount /var/spool/smtpd
  mount --bind "$d/spool" /var/spool/smtpd || return 1
  overlay_dir /usr/libexec
  [ -e /usr/libexec/opensmtpd ] || ln -s "$OSMTPD/usr/libexec/opensmtpd" /usr/libexec/opensmtpd
  echo "tbench@example.test $PWHASH" > "$d/passwds"; chmod 640 "$d/passwds"
  cat > "$d/smtpd.conf" <<EOF
pki bench cert "$PKI/cert.pem"
pki bench key "$PKI/key.pem"
table passwds file:$d/passwds
listen on 127.0.0.1 port $PORT tls-require pki bench auth <passwds> hostname bench.test
action "md" maildir "$MAILDIR" user tbench
match from any for domain "example.test" action "md"
EOF
  chmod 644 "$d/smtpd.conf"
  "$OSMTPD/usr/sbin/smtpd" -n -f "$d/smtpd.conf" >/dev/null 2>&1 || { "$OSMTPD/usr/sbin/smtpd" -n -f "$d/smtpd.conf"; return 1; }
  cg_new srv
  ( cg_run srv "$OSMTPD/usr/sbin/smtpd" -d -f "$d/smtpd.conf" ) > "$d/smtpd.log" 2>&1 &
  SRV_PID=$!; track $SRV_PID
}
# -------------------------------------------------------------- Exim ------
# exim4-daemon-light (GnuTLS): STARTTLS, then AUTH PLAIN by the plaintext
# authenticator, whose server_condition checks the same crypt(3) hash with
# crypteq (libxcrypt: $y$ and $6$ alike). MAIL needs TLS and AUTH.
start_exim() {  # dir
  local d=$1 R=$BROOT/exim4-daemon-light
  [ -x "$R/usr/sbin/exim4" ] || { log "exim: $R not unpacked; skipped"; return 1; }
  MAILDIR=$d/Maildir; mkdir -p "$MAILDIR"/{tmp,new,cur}; chown -R tbench:tbench "$MAILDIR"
  mkdir -p "$d/spool" "$d/log" "$d/pki"; chown Debian-exim:Debian-exim "$d/spool" "$d/log"
  # The receiving process reads the key after dropping to the Exim user.
  cp "$PKI/cert.pem" "$PKI/key.pem" "$d/pki/"; chgrp Debian-exim "$d/pki/key.pem"; chmod 640 "$d/pki/key.pem"
  local h=${PWHASH//\$/\\\$}   # "$" is special in Exim expansions
  cat > "$d/exim.conf" <<EOF
exim_path = $R/usr/sbin/exim4
exim_user = Debian-exim
exim_group = Debian-exim
primary_hostname = bench.test
spool_directory = $d/spool
log_file_path = $d/log/%slog
pid_file_path = $d/exim.pid
daemon_smtp_ports = $PORT
local_interfaces = 127.0.0.1
domainlist local_domains = example.test
tls_advertise_hosts = *
tls_certificate = $d/pki/cert.pem
tls_privatekey = $d/pki/key.pem
acl_smtp_mail = acl_check_mail
acl_smtp_rcpt = acl_check_rcpt
smtp_accept_max = 200
never_users = root
keep_environment =
begin acl
acl_check_mail:
  deny   message = TLS required
         !encrypted = *
  deny   message = authentication required
         !authenticated = *
  accept
acl_check_rcpt:
  accept domains = +local_domains
  deny   message = relay not permitted
begin routers
local_maildir:
  driver = accept
  domains = +local_domains
  transport = maildir_delivery
begin transports
maildir_delivery:
  driver = appendfile
  directory = $MAILDIR
  maildir_format
  delivery_date_add
  envelope_to_add
  return_path_add
  user = tbench
  group = tbench
  mode = 0600
begin retry
*  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h
begin authenticators
PLAIN:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_advertise_condition = \${if def:tls_in_cipher}
  server_condition = \${if and {{eq{\$auth2}{tbench@example.test}}{crypteq{\$auth3}{\\{crypt\\}$h}}}}
  server_set_id = \$auth2
EOF
  # Exim keeps root (for the delivery as tbench) only for a -C config named
  # in the compiled-in TRUSTED_CONFIG_LIST: written in a private overlay.
  overlay_dir /etc
  mkdir -p /etc/exim4; echo "$d/exim.conf" >> /etc/exim4/trusted_configs; chmod 644 /etc/exim4/trusted_configs
  "$R/usr/sbin/exim4" -C "$d/exim.conf" -bV >/dev/null 2>&1 || { "$R/usr/sbin/exim4" -C "$d/exim.conf" -bV; return 1; }
  cg_new srv
  # -bdf: daemon in the foreground; -q30s: a queue runner for anything deferred.
  ( cg_run srv "$R/usr/sbin/exim4" -C "$d/exim.conf" -bdf -q30s ) > "$d/exim.out" 2>&1 &
  SRV_PID=$!; track $SRV_PID
}

version_of() { cat "$BROOT/$1/.unpacked" 2>/dev/null || echo "?"; }

count_maildir() { find "$MAILDIR/new" "$MAILDIR/cur" -maxdepth 1 -type f 2>/dev/null | wc -l; }

run_one() {  # server rep
  local srv=$1 rep=$2 d=$OUTDIR/$1.$2
  rm -rf "$d"; mkdir -p "$d"
  rmdir "$CGBASE/srv" "$CGBASE/gen" 2>/dev/null
  "start_$srv" "$d" || { log "$srv: start failed"; return 1; }
  if ! wait_banner 127.0.0.1 $PORT 30; then
    log "$srv: no banner on 127.0.0.1:$PORT (see $d)"; stop_cg srv "$SRV_PID"; return 1
  fi
  sleep 1
  # One session first, to check the setup (and warm up); and one with a
  # wrong password, which must fail at AUTH (the check is real).
  if ! "$OUTDIR/smtpload" -a 127.0.0.1 -p $PORT -c 1 -n 1 -u tbench@example.test -w "$PASS" \
      -f tbench@example.test -t tbench@example.test -l $LEN -v > "$d/check.log" 2>&1; then
    log "$srv: a single session failed: $(grep 'first error' "$d/check.log")"; stop_cg srv "$SRV_PID"; return 1
  fi
  if "$OUTDIR/smtpload" -a 127.0.0.1 -p $PORT -c 1 -n 1 -u tbench@example.test -w "wrong-$PASS" \
      -f tbench@example.test -t tbench@example.test -l $LEN > "$d/check-wrong.log" 2>&1 ||
     ! grep -q 'AUTH PLAIN: 535' "$d/check-wrong.log"; then
    log "$srv: a wrong password was not refused with 535: $(cat "$d/check-wrong.log")"; stop_cg srv "$SRV_PID"; return 1
  fi
  local m0 scpu0 gcpu0 out
  mem_start srv "$d/mem"
  cg_new gen
  scpu0=$(cg_cpu srv); gcpu0=$(cg_cpu gen)
  m0=$(count_maildir)
  out=$( (cg_run gen "$OUTDIR/smtpload" -a 127.0.0.1 -p $PORT -c "$CONC" -n "$N" -u tbench@example.test -w "$PASS" \
      -f tbench@example.test -t tbench@example.test -l $LEN) 2> "$d/smtpload.err")
  echo "$out" > "$d/smtpload.out"
  local scpu gcpu
  scpu=$(fsub "$scpu0" "$(cg_cpu srv)"); gcpu=$(fsub "$gcpu0" "$(cg_cpu gen)")
  # Delivery may trail the 250 (OpenSMTPD queues first): wait up to 30 s.
  local i got
  for ((i = 0; i < 300; i++)); do got=$(( $(count_maildir) - m0 )); [ "$got" -ge "$N" ] && break; sleep 0.1; done
  sleep 1
  mem_stop
  local pss np; read -r pss _ np < "$d/mem"
  # key=value output of smtpload -> variables
  local ok=NA failed=NA elapsed_s=NA sessions_per_s=NA lat_p50_ms=NA lat_p99_ms=NA hs_p50_ms=NA kv
  for kv in $out; do case ${kv%%=*} in ok|failed|elapsed_s|sessions_per_s|lat_p50_ms|lat_p99_ms|hs_p50_ms) local "$kv";; esac; done
  [ -s "$d/smtpload.err" ] && log "$srv #$rep: $(head -1 "$d/smtpload.err")"
  local per=NA gper=NA
  [ "$ok" != NA ] && [ "$ok" -gt 0 ] && per=$(awk -v c="$scpu" -v n="$ok" 'BEGIN { printf "%.2f", 1000 * c / n }') &&
    gper=$(awk -v c="$gcpu" -v n="$ok" 'BEGIN { printf "%.2f", 1000 * c / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$rep" "$N" "$CONC" "$ok" "$failed" \
    "$elapsed_s" "$sessions_per_s" "$lat_p50_ms" "$lat_p99_ms" "$hs_p50_ms" "$scpu" "$per" "$gcpu" "$gper" \
    "$((pss / 1024))" "$np" "$got" >> "$RAW"
  log "$srv #$rep: $ok ok, $failed failed in ${elapsed_s}s = $sessions_per_s sessions/s; latency p50 ${lat_p50_ms} ms p99 ${lat_p99_ms} ms (handshake p50 ${hs_p50_ms} ms); cpu srv ${scpu}s (${per} ms/session) gen ${gcpu}s (${gper} ms/session); pss $((pss / 1024)) MiB ($np procs); $got in Maildir"
  stop_cg srv "$SRV_PID"
  mountpoint -q /var/spool/smtpd && umount /var/spool/smtpd
  return 0
}

log "submission: $N sessions, $CONC concurrent, $REPS reps; $HASH hash, $KEY key; servers $ONLY; output $OUTDIR"
for ((rep = 1; rep <= REPS; rep++)); do
  for srv in ${ONLY//,/ }; do
    case $srv in tern|exim|opensmtpd) run_one "$srv" "$rep";; *) die "unknown server $srv";; esac
  done
done

# ------------------------------------------------------------- report -----
col() { awk -F'\t' -v s="$1" -v c="$2" 'NR > 1 && $1 == s && $6 == 0 && $5 != "NA" { printf "%s ", $c }' "$RAW"; }
range() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%s-%s", a[1], a[NR] }'; }
# The peer in the comparison: the first server in --only that is not tern.
PEER=$(echo "${ONLY//,/ }" | tr ' ' '\n' | grep -v '^tern$' | head -1); PEER=${PEER:-exim}
case $PEER in exim) PEERNAME=Exim;; opensmtpd) PEERNAME=OpenSMTPD;; *) PEERNAME=$PEER;; esac
ratio() {
  local t p; t=$(col tern "$1" | median); p=$(col "$PEER" "$1" | median)
  awk -v t="$t" -v p="$p" 'BEGIN { if (t == "NA" || p == "NA" || p + 0 == 0) print "-"; else printf "%.2fx", t / p }'
}
table=$(
  printf '%-10s %-22s %-10s %-10s %-16s %-16s %-9s %s\n' server "sessions/s" "p50 ms" "p99 ms" "srv ms/session" "gen ms/session" "pss MiB" runs
  for srv in ${ONLY//,/ }; do
    nok=$(awk -F'\t' -v s="$srv" 'NR > 1 && $1 == s && $6 == 0 && $5 != "NA"' "$RAW" | wc -l)
    nall=$(awk -F'\t' -v s="$srv" 'NR > 1 && $1 == s' "$RAW" | wc -l)
    [ "$nok" -gt 0 ] || { printf '%-10s no clean run (%s runs; see %s)\n' "$srv" "$nall" "$RAW"; continue; }
    printf '%-10s %-22s %-10s %-10s %-16s %-16s %-9s %s\n' "$srv" "$(col "$srv" 8 | median) ($(col "$srv" 8 | range))" \
      "$(col "$srv" 9 | median)" "$(col "$srv" 10 | median)" "$(col "$srv" 13 | median)" "$(col "$srv" 15 | median)" \
      "$(col "$srv" 16 | tr ' ' '\n' | sort -g | tail -1)" "$nok/$nall ok"
  done
)
echo
echo "$table"
load_after=$(load_line); busy_after=$(busy_line)
res=$BENCH_DIR/RESULTS.new-submission.md
[ -f "$res" ] || cat > "$res" <<'EOF'
# Submission benchmark (bench/submission.sh)

TLS submission sessions (connect, STARTTLS, AUTH PLAIN, one 4 KiB message,
QUIT) from bench/smtpload.c against tern and a peer; one section per run,
newest last.

The peer is Exim, not OpenSMTPD: Debian 12's OpenSMTPD 6.8.0p2 with
OpenSSL 3 cannot complete a server-side TLS handshake at all (privsep key:
"rsae_priv_enc ... missing private key" / "SSL routines::EVP lib", RSA and
ECDSA alike; upstream OpenSMTPD issues #1171 and #1239). `--only
tern,opensmtpd` still runs it and shows the failure. Postfix would need
Cyrus SASL modules that are not unpacked here.
EOF
{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`bench/submission.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}\` ($HASH, $KEY)"
  echo
  echo "Machine: $(machine_line); generator and server share the cores."
  echo "tern $(git -C "$TOP" describe --always --dirty 2>/dev/null) ($BUILD, io_threads ${TERN_IO_THREADS:-8}, OpenSSL $(openssl version | awk '{ print $2 }')); Exim $(version_of exim4-daemon-light) (GnuTLS)."
  echo "Load average before: $SUB_LOAD_BEFORE (busy: $SUB_BUSY_BEFORE); after: $load_after (busy: $busy_after)."
  if awk -v a="${SUB_LOAD_BEFORE%% *}" -v b="${load_after%% *}" -v c="$(nproc)" 'BEGIN { exit !(a > 0.5 || b > 0.5 * c + 1) }'; then
    echo "**The machine was not idle** (other builds/tests were running): absolute numbers are noisy; runs were interleaved, compare the ratio."
  fi
  echo
  echo "Load: bench/smtpload.c, $N sessions, $CONC concurrent; each session = connect, EHLO, STARTTLS"
  echo "(full handshake, no resumption; $KEY certificate, same for both), EHLO, AUTH PLAIN ($HASH hash, same"
  echo "for both), one $LEN-octet message to a local Maildir, QUIT. $REPS rep(s) per server, interleaved; median."
  echo
  echo "| | tern | $PEERNAME | tern/$PEERNAME |"
  echo '|---|---|---|---|'
  echo "| sessions (handshakes) /s | $(col tern 8 | median) | $(col "$PEER" 8 | median) | $(ratio 8) |"
  echo "| server CPU ms / session | $(col tern 13 | median) | $(col "$PEER" 13 | median) | $(ratio 13) |"
  echo "| session latency p50 ms | $(col tern 9 | median) | $(col "$PEER" 9 | median) | $(ratio 9) |"
  echo "| session latency p99 ms | $(col tern 10 | median) | $(col "$PEER" 10 | median) | $(ratio 10) |"
  echo "| generator CPU ms / session | $(col tern 15 | median) | $(col "$PEER" 15 | median) | |"
  echo "| peak PSS MiB | $(col tern 16 | tr ' ' '\n' | sort -g | tail -1) | $(col "$PEER" 16 | tr ' ' '\n' | sort -g | tail -1) | |"
  echo
  echo '```'
  echo "$table"
  echo '```'
  echo
  echo "Raw runs ($RAW; delivered = new files in the Maildir):"
  echo
  echo '```'
  column -t -s $'\t' "$RAW"
  echo '```'
} >> "$res"
log "appended to $res"
