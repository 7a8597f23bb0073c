#!/usr/bin/env bash
# bench/run.sh — tern beside Postfix under the same smtp-source loads.
#
# Runs ../shared/bench/peers.sh twice in one go: once for Postfix (and any
# other peers in PEERS_ONLY), once with --target for ternd started from
# this tree's build, then writes bench/RESULTS.new.md (to be merged into
# bench/RESULTS.md by hand): the date, the machine,
# both tables, and tern's ratio to Postfix per load.
#
# Usage (as root): bench/run.sh [--quick] [--loads a,b,c] [--reps N]
#   Environment: BUILD (default build), PEERS_ONLY (default postfix),
#   TERN_IO_THREADS (default 8).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
PEERS=${PEERS:-$top/../shared/bench/peers.sh}
BUILD=${BUILD:-build}
ONLY=${PEERS_ONLY:-postfix}
LOADS=a,b,c
REPS=3
QUICK=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=(--quick); shift;;
    --loads) LOADS=$2; shift 2;;
    --reps) REPS=$2; shift 2;;
    *) echo "usage: $0 [--quick] [--loads a,b,c] [--reps N]" >&2; exit 2;;
  esac
done
[ -x "$top/$BUILD/ternd" ] || { echo "bench: build first (make build)" >&2; exit 1; }
[ -x "$PEERS" ] || [ -f "$PEERS" ] || { echo "bench: $PEERS not found" >&2; exit 1; }

stamp=$(date +%Y%m%d-%H%M%S)
out=/var/tmp/tern-bench/results/tern-$stamp
work=/var/tmp/tern-bench/tern-$stamp
mkdir -p "$out" "$work/data"
maildir=$work/data/mail/example.test/tbench
mkdir -p "$maildir"/{tmp,new,cur}
echo "tbench@example.test" > "$work/data/users"
: > "$work/data/aliases"
cat > "$work/ternd.conf" <<CONF
hostname bench.test
data_dir $work/data
domains example.test
listen smtp 127.0.0.1:10040
max_connections_per_ip 2000
max_line_length 0
io_threads ${TERN_IO_THREADS:-8}
CONF

bash "$PEERS" --only "$ONLY" --loads "$LOADS" --reps "$REPS" "${QUICK[@]}" --out "$out/peers"
bash "$PEERS" --target 127.0.0.1:10040 --maildir "$maildir" --name tern \
  --cmd "$top/$BUILD/ternd -c $work/ternd.conf" \
  --loads "$LOADS" --reps "$REPS" "${QUICK[@]}" --out "$out/tern"

# Ratio of medians (accept rate and delivered rate) to Postfix, per load.
ratios=$(awk -F'\t' '
  FNR == 1 { next }
  $16 != 0 { next }
  { k = $1 SUBSEP $2; acc[k] = acc[k] " " $8; if ($9 != "NA") dl[k] = dl[k] " " ($4 / $9); loads[$2] = 1 }
  function med(s,   a, n, i, j, t) { n = split(s, a, " ")
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j+1] = a[j]; a[j+1] = t }
    return n ? ((n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2) : 0 }
  END { for (l in loads) {
      pa = med(acc["postfix" SUBSEP l]); ta = med(acc["tern" SUBSEP l])
      pd = med(dl["postfix" SUBSEP l]); td = med(dl["tern" SUBSEP l])
      printf "| %s | %.0f | %.0f | %s | %.0f | %.0f | %s |\n", l, ta, pa, (pa ? sprintf("%.2fx", ta / pa) : "-"),
        td, pd, (pd ? sprintf("%.2fx", td / pd) : "-") } }' \
  "$out/peers/raw.tsv" "$out/tern/raw.tsv" | sort)

{
  echo "# tern benchmark results"
  echo
  echo "Run by \`bench/run.sh ${QUICK[*]} --loads $LOADS --reps $REPS\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "Machine: $(nproc) cores ($(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//')),"
  echo "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -r), data on $(df -T /var/tmp | awk 'NR==2{print $2}')."
  echo "Loads: a = 10000 x 4 KiB, 20 sessions; b = 10000 x 4 KiB, 100 sessions;"
  echo "c = 1000 x 1 MiB, 10 sessions (--quick: a tenth). Both servers fsync before 250."
  echo
  echo "| load | tern accept/s | Postfix accept/s | ratio | tern delivered/s | Postfix delivered/s | ratio |"
  echo "|---|---|---|---|---|---|---|"
  echo "$ratios"
  echo
  echo "## Postfix (and other peers)"
  echo
  echo '```'
  cat "$out/peers/table.txt"
  echo '```'
  echo
  echo "## tern"
  echo
  echo '```'
  cat "$out/tern/table.txt"
  echo '```'
} > "$here/RESULTS.new.md"
echo "bench: wrote $here/RESULTS.new.md (raw data in $out)"
