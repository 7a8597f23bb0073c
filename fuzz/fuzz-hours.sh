#!/bin/bash
# The CPU time each fuzz target has had, summed over fuzz/ledger.tsv (which
# fuzz/fuzz-long.sh appends to), fewest first: target, runs, CPU hours,
# executions, the last coverage, findings. Targets of fuzz/ that the
# ledger lacks show 0. Run from the top of the source tree.
set -u
{
	for f in fuzz/fuzz_*.c; do
		printf '%s\t0\t0\t0\t0\t0\n' "$(basename "$f" .c)"
	done
	awk -F'\t' '!/^#/ { print $2 "\t1\t" $4 "\t" $5 "\t" $6 "\t" $8 }' fuzz/ledger.tsv
} | awk -F'\t' '
	{ runs[$1] += $2; cpu[$1] += $3; execs[$1] += $4; fi[$1] += $6; if ($2) cov[$1] = $5 }
	END {
		for (t in runs)
			printf "%-24s %4d %8.2f %12d %6d %4d\n", t, runs[t], cpu[t] / 3600,
			    execs[t], cov[t], fi[t]
	}' | sort -k3,3n -k1,1 | {
	printf '%-24s %4s %8s %12s %6s %4s\n' target runs cpu_h execs cov finds
	cat
}
