#!/usr/bin/env bash
# report-bench.sh - the one table of `make bench`: the rows the benchmark scripts wrote (bench_row
# in lib/common.sh) printed side by side, lb next to HAProxy and nginx with lb's ratio to the best
# of them, under the machine, the versions and the date; and the same table written into
# docs/performance.md between its two "make bench" markers (the rest of the file is left alone;
# without the markers, the section is appended).
#
# Usage: scripts/report-bench.sh BIN_DIR ROWS_FILE [DOC]   (DOC: default docs/performance.md)
# ROWS_FILE holds one row a line, tab-separated: SECTION LABEL UNIT BETTER LB HAPROXY NGINX, or
# "note" and a text. Sections are printed in this order: http, scaling, l4, tls, memory, then any
# other in the order first seen. Not named bench-*.sh: `make bench` runs it after the others.
set -uo pipefail

bin="${1:-bin}"
rows="${2:-}"
doc="${3:-docs/performance.md}"
script_name=report-bench
# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ -n "$rows" ] || die "usage: $0 BIN_DIR ROWS_FILE [DOC]"
[ -s "$rows" ] || die "$rows is empty or missing: no benchmark wrote a row"
make_temp_dir

begin_mark='<!-- make bench: begin (scripts/report-bench.sh rewrites this section; edit around it) -->'
end_mark='<!-- make bench: end -->'

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
lbv=$("$bin/lb" --version 2>&1 | head -1)
hapv=$(haproxy -v 2>/dev/null | awk 'NR == 1 { print "HAProxy " $3 }')
ngxv=$(nginx -v 2>&1 | sed 's,^nginx version: nginx/,nginx ,')
wrkv=$(wrk -v 2>&1 | awk 'NR == 1 { print $1 " " $2 }')
read -r load1 _ </proc/loadavg

# The table in Markdown (it reads as plain text too).
awk -F'\t' '
function fmt(v, unit) {
    if (v == "?" || v == "") return "?"
    if (unit == "req/s" || unit == "B" || unit == "kB" || unit == "c/s") return sprintf("%\047.0f", v)
    return v
}
function row(i,   best, b, r) {
    best = ""
    if (hp[i] != "?" && hp[i] != "") best = hp[i]
    if (ng[i] != "?" && ng[i] != "") {
        if (best == "") best = ng[i]
        else if (better[i] == "more" && ng[i] + 0 > best + 0) best = ng[i]
        else if (better[i] == "less" && ng[i] + 0 < best + 0) best = ng[i]
    }
    r = "?"
    if (best != "" && best + 0 > 0 && lb[i] != "?" && lb[i] + 0 >= 0) r = sprintf("%.2f", lb[i] / best)
    printf "| %s (%s) | %s | %s | %s | %s | %s |\n", label[i], unit[i], fmt(lb[i], unit[i]),
        fmt(hp[i], unit[i]), fmt(ng[i], unit[i]), r, (better[i] == "more" ? "higher" : "lower")
}
BEGIN {
    order["http"] = 1; order["scaling"] = 2; order["l4"] = 3; order["tls"] = 4; order["memory"] = 5
    title["http"] = "HTTP, one worker each"; title["scaling"] = "Scaling with the number of clients (1 KiB, keep-alive)"
    title["l4"] = "Layer 4 (lb -m tcp, HAProxy mode tcp, nginx stream)"; title["tls"] = "HTTPS (TLS terminated by the proxy)"
    title["memory"] = "Memory, one worker each"
    nsec = 0
}
$1 == "note" { notes[++nnotes] = $2; next }
NF == 7 {
    n++
    sec[n] = $1; label[n] = $2; unit[n] = $3; better[n] = $4; lb[n] = $5; hp[n] = $6; ng[n] = $7
    if (!($1 in seen)) { seen[$1] = 1; nsec++; secs[nsec] = $1; if (!($1 in order)) order[$1] = 100 + nsec }
    next
}
{ bad++ }
END {
    # sections in their fixed order, then unknown ones as first seen
    for (i = 1; i <= nsec; i++) for (j = i + 1; j <= nsec; j++)
        if (order[secs[j]] < order[secs[i]]) { t = secs[i]; secs[i] = secs[j]; secs[j] = t }
    print "| row | lb | HAProxy | nginx | lb / best | better |"
    print "|---|---:|---:|---:|---:|---|"
    for (s = 1; s <= nsec; s++) {
        printf "| **%s** | | | | | |\n", (secs[s] in title ? title[secs[s]] : secs[s])
        for (i = 1; i <= n; i++) if (sec[i] == secs[s]) row(i)
    }
    for (i = 1; i <= nnotes; i++) printf "\nNote: %s\n", notes[i]
    if (bad) printf "\nNote: %d malformed line(s) in the rows file were left out.\n", bad
}' "$rows" >"$tmp/table.md" || die "awk failed on $rows"

{
    echo "$begin_mark"
    echo
    echo "## The table of \`make bench\`"
    echo
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on ${cpu:-an unknown CPU}, $(nproc) cores, Linux $(uname -r)" \
         "(load average ${load1} when the table was written: the machine was shared with other work)."
    echo "Versions: ${lbv:-lb ?}; ${hapv:-HAProxy ?}; ${ngxv:-nginx ?}; ${wrkv:-wrk ?}."
    echo
    cat "$tmp/table.md"
    echo
    echo "$end_mark"
} >"$tmp/section.md"

cat "$tmp/section.md"

# Rewrite the marked section of the document, leaving the rest alone.
if [ ! -e "$doc" ]; then
    printf '# Performance\n\n' >"$doc" || die "cannot create $doc"
fi
if grep -qF "$begin_mark" "$doc" && grep -qF "$end_mark" "$doc"; then
    awk -v b="$begin_mark" -v e="$end_mark" -v f="$tmp/section.md" '
        $0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
        $0 == e { skip = 0; next }
        !skip' "$doc" >"$tmp/doc.md" || die "awk failed on $doc"
else
    { cat "$doc"; echo; cat "$tmp/section.md"; } >"$tmp/doc.md"
fi
cat "$tmp/doc.md" >"$doc" || die "cannot write $doc"
echo "report-bench: the table is in $doc"
