#!/usr/bin/env bash
# deps.sh - installs the Debian packages lblab needs and this machine lacks.
# Usage: scripts/deps.sh build|test|bench   (test and bench include build)
#        scripts/deps.sh --check build|test  (install nothing: check that the compiler $CC finds
#                                             each header; name the missing packages and fail)
# Runs apt-get as root, or through sudo when that works without a password; otherwise it names the
# packages and the command to install them, and fails.
set -euo pipefail

# The check the build runs first (no root, no package manager): one preprocessor run per header,
# so a missing package is named instead of surfacing as a compiler error halfway through.
if [ "${1:-}" = "--check" ]; then
    read -r -a cc <<<"${CC:-cc}" # CC may carry words ("ccache gcc")
    headers=(pcap/pcap.h:libpcap-dev curses.h:libncurses-dev openssl/evp.h:libssl-dev)
    target="make deps"
    if [ "${2:-build}" = "test" ]; then
        headers+=(cmocka.h:libcmocka-dev)
        target="make deps-test"
    fi
    if ! command -v "${cc[0]}" >/dev/null 2>&1; then
        echo "lblab: the C compiler '${cc[0]}' is missing (package gcc, or clang); $target installs it" >&2
        exit 1
    fi
    missing=()
    for hp in "${headers[@]}"; do
        if ! printf '#include <%s>\n' "${hp%%:*}" | "${cc[@]}" -E -x c - >/dev/null 2>&1; then
            missing+=("${hp##*:} (for <${hp%%:*}>)")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && exit 0
    list=$(printf ', %s' "${missing[@]}")
    echo "lblab: cannot build: missing packages: ${list:2}" >&2
    echo "lblab: '$target' installs them (Debian/Ubuntu; root or sudo)." >&2
    exit 1
fi

build_pkgs=(gcc make libc6-dev pkg-config libncurses-dev libcmocka-dev libpcap-dev libssl-dev openssl)
test_pkgs=(clang libclang-rt-dev curl tmux tshark procps iproute2 jq)
bench_pkgs=(wrk nginx-light libnginx-mod-stream haproxy curl)

case "${1:-build}" in
build) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) want=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "deps.sh: unknown set '$1' (build, test or bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "lblab: missing packages: ${missing[*]}" >&2
    echo "lblab: this is not a Debian-like system; install their equivalents by hand." >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "lblab: missing packages: ${missing[*]}" >&2
    echo "lblab: run as root, or install them first:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

echo "lblab: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
