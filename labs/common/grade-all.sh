#!/usr/bin/env bash
# grade-all.sh - `make grade`: runs the graders of the labs named on the command line one after
# another (each prints its own story and keeps its own labs/out/labN/), then a summary table.
# Exits 1 when any check failed anywhere.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
status=0
for n in "$@"; do
    "$root/labs/lab$n/grade.sh" || status=1
    echo
done
printf '%-6s %-50s %5s %5s %5s  %s\n' lab title PASS FAIL SKIP score
for n in "$@"; do
    title=$(sed -n 's/^lab_begin [0-9]* "\(.*\)"$/\1/p' "$root/labs/lab$n/grade.sh")
    f="$root/labs/out/lab$n/score.tsv"
    if [ -s "$f" ]; then
        IFS=$'\t' read -r _ p fl s t <"$f"
        printf '%-6s %-50s %5s %5s %5s  %s/%s\n' "lab$n" "$title" "$p" "$fl" "$s" "$p" "$t"
    else
        printf '%-6s %-50s %5s %5s %5s  %s\n' "lab$n" "$title" - - - "did not finish"
        status=1
    fi
done
[ $status -eq 0 ] && echo "All checks passed or were skipped (a SKIP names what enables it)."
exit $status
