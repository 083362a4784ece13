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
    # $cc unquoted: a compiler command of several words (CC="ccache gcc")
    # shellcheck disable=SC2086
    if $cc "$flag" "$tmp/t.c" -o "$tmp/t" >/dev/null 2>&1; then rm -rf "$tmp"; return 0; fi
    rm -rf "$tmp"; return 1
}

case "$what" in
build)
    # the compiler make will call ($CC, cc by default), and a C library to
    # link against (libc6-dev is only a Recommends of gcc)
    # (its first word: CC="ccache gcc" needs ccache, then the compiler)
    cc=${CC:-cc}
    cc=${cc%% *}
    if ! have "$cc"; then
        case "$(basename "$cc")" in
        cc|gcc|c99|gcc-[0-9]*) need+=(gcc) ;;
        clang|clang-[0-9]*) need+=(clang) ;;
        ccache) need+=(ccache) ;;
        *) echo "deps: CC=$cc is not installed, and which Debian package has it is not known here: install it, or run with CC=gcc" >&2; exit 1 ;;
        esac
    elif ! links_with "${CC:-cc}" -O0; then
        need+=(libc6-dev)
    fi
    ;;
test)
    have gcc || need+=(gcc)
    have g++ || need+=(g++)
    have make || need+=(make)
    have python3 || need+=(python3)
    # the 32-bit builds of the matrix (x86-64: gcc -m32 must link; a
    # machine without gcc needs it too, as nothing else brings the 32-bit
    # C library and gcc's 32-bit runtime)
    if [ "$(uname -m)" = x86_64 ] && { ! have gcc || ! links_with gcc -m32; }; then
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

# KVS_DEPS_CHECKED: set for the check after an install, which never
# installs again
if [ "$(id -u)" = 0 ] && have apt-get && [ -z "${KVS_DEPS_CHECKED:-}" ]; then
    echo "deps: installing ${need[*]} (Debian packages)" >&2
    export DEBIAN_FRONTEND=noninteractive
    # an update that fails (no network, no mirror) is said, and the install
    # is still tried: the package lists may be recent enough
    apt-get update -qq >/dev/null || echo "deps: apt-get update failed; trying the install with the package lists at hand" >&2
    if ! apt-get install -y -qq "${need[@]}" >/dev/null; then
        echo "deps: apt-get install ${need[*]} failed (see apt's message above): install these Debian packages and re-run" >&2
        exit 1
    fi
    # installed: everything this target needs must now be there
    KVS_DEPS_CHECKED=1 exec "$0" "$what"
fi
if [ -n "${KVS_DEPS_CHECKED:-}" ]; then
    echo "deps: still missing after the install: ${need[*]}" >&2
    exit 1
fi
echo "deps: missing ${need[*]}: install these Debian packages (apt-get install ${need[*]}) and re-run" >&2
exit 1
