#!/usr/bin/env bash
# fuzz.sh - builds and runs the libFuzzer target for the shared HTTP parser.
#
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]      (default 60 seconds)
#
# Builds tests/fuzz/fuzz_http.c with common/http.c using clang -fsanitize=fuzzer,address,undefined
# into build/fuzz/fuzz_http, then runs it for SECONDS on one core, starting from the seed inputs in
# tests/fuzz/corpus/ and the unit-test-derived seeds; new interesting inputs go to
# build/fuzz/corpus/ (kept between runs), crashing inputs to build/fuzz/crash-*. Exits non-zero
# when the fuzzer found a crash or a broken invariant. A found input belongs in
# tests/unit/test_http.c as a regression case once fixed.
# Not part of `make test` (it needs clang's libFuzzer runtime and minutes of CPU).
set -euo pipefail

cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
out=build/fuzz
mkdir -p "$out/corpus"

clang -std=c11 -g -O1 -D_GNU_SOURCE -Icommon -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -o "$out/fuzz_http" tests/fuzz/fuzz_http.c common/http.c

exec "$out/fuzz_http" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
    -dict=tests/fuzz/http.dict -artifact_prefix="$out/" "$@" "$out/corpus" tests/fuzz/corpus
