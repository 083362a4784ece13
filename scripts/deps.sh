#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Unlicense
# Make sure the tools a make target needs are installed.
#   scripts/deps.sh build   a C compiler (cc) for the benchmark programs
#   scripts/deps.sh test    compilers and sanitizer runtimes for `make test`
#   scripts/deps.sh bench   hyperfine, fio, gnuplot and python3 for the benchmark scripts
# Installs missing Debian packages with apt-get when run as root; otherwise
# names the packages and exits 1. Prints nothing when everything is present.
set -euo pipefail
what=${1:-test}
need=()

have() { command -v "$1" >/dev/null 2>&1; }

# A sanitizer runtime is present when a tiny program links with it.
links_with() {
    local cc=$1 flag=$2 tmp
    tmp=$(mktemp -d)
    printf 'int main(void){return 0;}\n' > "$tmp/t.c"
    if "$cc" "$flag" "$tmp/t.c" -o "$tmp/t" >/dev/null 2>&1; then rm -rf "$tmp"; return 0; fi
    rm -rf "$tmp"; return 1
}

case "$what" in
build)
    # the compiler make will call ($CC, cc by default), and a C library to
    # link against (libc6-dev is only a Recommends of gcc)
    cc=${CC:-cc}
    if ! have "$cc"; then
        need+=(gcc)
    elif ! links_with "$cc" -O0; then
        need+=(libc6-dev)
    fi
    ;;
test)
    have gcc || need+=(gcc)
    have g++ || need+=(g++)
    have make || need+=(make)
    have python3 || need+=(python3)
    # the 32-bit builds of the matrix (x86-64: gcc -m32 must link)
    if [ "$(uname -m)" = x86_64 ] && have gcc && ! links_with gcc -m32; then
        need+=(gcc-multilib)
    fi
    if have clang; then
        links_with clang -fsanitize=thread || need+=(libclang-rt-dev)
        have clang++ || need+=(clang)
    else
        # the sanitizer runtimes too: a Recommends that an install without
        # recommended packages would leave out
        need+=(clang libclang-rt-dev)
    fi
    ;;
bench)
    have hyperfine || need+=(hyperfine)
    have fio || need+=(fio)
    have gnuplot || need+=(gnuplot-nox)
    have python3 || need+=(python3)
    ;;
*)
    echo "usage: scripts/deps.sh build|test|bench" >&2; exit 2 ;;
esac

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "deps: installing ${need[*]} (Debian packages)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    apt-get install -y -qq "${need[@]}" >/dev/null
    exit 0
fi
echo "deps: missing ${need[*]}: install these Debian packages (apt-get install ${need[*]}) and re-run" >&2
exit 1
