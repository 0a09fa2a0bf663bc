#!/usr/bin/env bash
# valgrind-reports.sh - reads the memcheck logs `make test-valgrind` leaves in DIR (one per
# process, TEST.PID.log) and fails when any of them reports an error or a definite or possible
# leak. A log without a summary is from a process killed before it could exit (a test's
# SIGKILL, or the harness's after its stop timeout): listed, not counted as a failure.
set -uo pipefail

dir="${1:?usage: valgrind-reports.sh DIR}"
shopt -s nullglob
logs=("$dir"/*.log)
bad=()
unfinished=()
clean=0
for log in "${logs[@]}"; do
    summary=$(grep -E '== ERROR SUMMARY: [0-9]+ errors' "$log" | tail -1)
    if [ -z "$summary" ]; then
        unfinished+=("$(basename "$log")")
    elif echo "$summary" | grep -q 'ERROR SUMMARY: 0 errors'; then
        clean=$((clean + 1))
    else
        bad+=("$log")
    fi
done

for log in "${bad[@]}"; do
    echo "=== $log"
    cat "$log"
done
echo
echo "valgrind: ${#logs[@]} processes: $clean clean, ${#bad[@]} with errors or leaks," \
    "${#unfinished[@]} killed before exiting"
[ ${#unfinished[@]} -eq 0 ] || printf '  killed: %s\n' "${unfinished[@]}"
[ ${#logs[@]} -gt 0 ] || { echo "valgrind: no logs in $dir (did the wrapper run?)"; exit 1; }
[ ${#bad[@]} -eq 0 ] || { echo "valgrind: FAILED: ${#bad[@]} processes with errors (logs above)"; exit 1; }
echo "valgrind: no error, no leak"
