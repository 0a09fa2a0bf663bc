#!/usr/bin/env bash
# fuzz.sh - runs lblab's libFuzzer targets (tests/fuzz/fuzz_NAME.c), which `make fuzz-build`
# builds into build/fuzz/fuzz_NAME. Normally called by make:
#
#   scripts/fuzz.sh --check                 exit 0 when clang can link a libFuzzer target
#   scripts/fuzz.sh smoke NAME...           each target once over its seeds and crash reproducers
#   scripts/fuzz.sh run SECONDS NAME... [-- libFuzzer flags]   fuzz each target SECONDS in turn
#   scripts/fuzz.sh coverage NAME...        per source file: functions and edges the corpus reaches
#
# `make fuzz FUZZ_SECONDS=N` is the usual way in. A run starts from the seeds in
# tests/fuzz/corpus/NAME/ and keeps what it finds in build/fuzz/corpus/NAME/ (reused next run);
# a crashing input is saved as build/fuzz/NAME-crash-*, the run's output and final statistics in
# build/fuzz/NAME.log. Each target runs on one core, one after another. Exits non-zero when any
# target crashed or broke an invariant. A crash, once fixed, gets a unit test with the input and
# its file in tests/fuzz/crashes/NAME/, which the smoke run replays.
set -uo pipefail

cd "$(dirname "$0")/.."
out=build/fuzz
cc="${FUZZ_CC:-clang}"

dict_of() {
    case "$1" in
    http | body | headers | hashkey | backend_sim | backend_sim_conn) echo "-dict=tests/fuzz/http.dict" ;;
    esac
}

maxlen_of() {
    case "$1" in
    lbtrace) echo 8192 ;; # whole captures of a few connections
    *) echo 4096 ;;
    esac
}

inputs_of() {
    local d
    for d in "tests/fuzz/corpus/$1" "tests/fuzz/crashes/$1"; do
        [ -d "$d" ] && find "$d" -type f ! -name '*.md' | sort
    done
}

case "${1:-}" in
--check)
    tmp=$(mktemp -d)
    printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
        >"$tmp/t.c"
    if "$cc" -fsanitize=fuzzer,address,undefined -o "$tmp/t" "$tmp/t.c" >/dev/null 2>&1; then
        rm -rf "$tmp"
        exit 0
    fi
    rm -rf "$tmp"
    echo "fuzz: $cc cannot link a libFuzzer target (install clang, with libclang-rt-dev if the" \
        "distribution splits it out)" >&2
    exit 1
    ;;
smoke)
    shift
    failed=()
    for t in "$@"; do
        mapfile -t files < <(inputs_of "$t")
        if [ ${#files[@]} -eq 0 ]; then
            echo "fuzz-smoke $t: no seeds in tests/fuzz/corpus/$t" >&2
            failed+=("$t")
            continue
        fi
        if "$out/fuzz_$t" -runs=1 "${files[@]}" >"$out/$t-smoke.log" 2>&1; then
            echo "fuzz-smoke $t: ${#files[@]} inputs ok"
        else
            cat "$out/$t-smoke.log"
            echo "fuzz-smoke $t: FAILED (log: $out/$t-smoke.log)"
            failed+=("$t")
        fi
    done
    [ ${#failed[@]} -eq 0 ] || { echo "fuzz-smoke failed: ${failed[*]}"; exit 1; }
    ;;
coverage)
    # Replays the seeds and what runs found (-runs=0: no fuzzing) with -print_coverage=1 and
    # sums its COVERED_FUNC/UNCOVERED_FUNC lines per source file. Edges include the sanitizers'
    # never-taken error branches, so an edge ratio is a floor, not a line coverage.
    shift
    for t in "$@"; do
        dirs=("tests/fuzz/corpus/$t")
        [ -d "$out/corpus/$t" ] && dirs=("$out/corpus/$t" "${dirs[@]}")
        "$out/fuzz_$t" -runs=0 -print_coverage=1 "${dirs[@]}" 2>&1 |
            awk -v t="$t" -v root="$PWD/" '
                /^(UN)?COVERED_FUNC:/ {
                    file = $NF; sub(/:[0-9]+$/, "", file); sub(root, "", file)
                    if (file ~ /^tests\/fuzz\//) next
                    split($5, e, "/")
                    funcs[file]++; edges[file] += e[2]; hit[file] += e[1]
                    if ($1 == "COVERED_FUNC:") reached[file]++
                }
                END {
                    for (f in funcs)
                        printf "%s %s: %d of %d functions reached, %d of %d edges\n", t, f,
                               reached[f], funcs[f], hit[f], edges[f]
                }' | sort
    done
    ;;
run)
    shift
    secs="${1:?seconds}"
    shift
    targets=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do targets+=("$1"); shift; done
    [ "${1:-}" = "--" ] && shift
    failed=()
    for t in "${targets[@]}"; do
        mkdir -p "$out/corpus/$t"
        # shellcheck disable=SC2046
        "$out/fuzz_$t" -max_total_time="$secs" -max_len="$(maxlen_of "$t")" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$out/$t-" $(dict_of "$t") "$@" \
            "$out/corpus/$t" "tests/fuzz/corpus/$t" >"$out/$t.log" 2>&1
        rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -1)
        cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$out/$t.log" | tail -1 |
            sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/cov \1, ft \2, corpus \3/p')
        if [ $rc -eq 0 ]; then
            echo "fuzz $t: ${secs}s, ${execs:-?} executions, ${cov:-?}: ok"
        else
            grep -E 'ERROR|invariant failed|SUMMARY|Test unit written' "$out/$t.log" | head -8
            echo "fuzz $t: FAILED (exit $rc; log: $out/$t.log)"
            failed+=("$t")
        fi
    done
    [ ${#failed[@]} -eq 0 ] || { echo "fuzz failed: ${failed[*]}"; exit 1; }
    ;;
*)
    sed -n '2,16p' "$0" >&2
    exit 2
    ;;
esac
