#!/usr/bin/env bash
# run-tests.sh - runs each test program given on the command line, each under a time limit, shows
# its output (cmocka's summary lines included), and fails at the end if any test program failed.
set -uo pipefail

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
limit="${TEST_TIMEOUT:-600}"

failed=()
for t in "$@"; do
    echo "=== $t"
    timeout --kill-after=10 "$limit" "$t"
    rc=$?
    if [ $rc -ne 0 ]; then
        [ $rc -eq 124 ] && echo "=== $t: timed out after ${limit}s"
        failed+=("$t (exit $rc)")
    fi
done

echo
if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED test programs: ${#failed[@]} of $#"
    printf '  %s\n' "${failed[@]}"
    exit 1
fi
echo "All $# test programs passed."
