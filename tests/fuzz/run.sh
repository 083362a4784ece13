#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Unlicense
# Fuzz every decoder of kvstore.h (tests/fuzz/fuzz_*.c) for a bounded time.
#
#   tests/fuzz/run.sh                   CI-bounded: 8 s per harness, under 2 min on 2 cores
#   FUZZ_SECONDS=300 tests/fuzz/run.sh  the longer run (make fuzz)
#
# Steps: generate the seed corpus from vectors/ (tests/fuzz/seeds.py) into
# build/fuzz/corpus/<harness>/; build every harness twice, with gcc and the
# replay driver (ASan+UBSan) and with clang + libFuzzer (ASan+UBSan); replay
# the seeds and tests/fuzz/regress/<harness>/ through the gcc builds; fuzz
# each harness for FUZZ_SECONDS with libFuzzer, JOBS at a time; replay what libFuzzer added to the
# corpus through the gcc builds. Prints the executions per harness and the
# total; exits nonzero on any crash, leak, sanitizer report or invariant
# violation (libFuzzer's reproducer is left in build/fuzz/artifacts/).
#
# Environment: FUZZ_SECONDS (seconds per harness; unset = 8, the CI bound),
# JOBS (parallel builds and fuzzers; default: the number of CPUs),
# FUZZ_ONLY=pattern (harness names matching the shell pattern), CC_FUZZ
# (default clang), CC_REPLAY (default gcc).
set -u
cd "$(dirname "$0")/../.."

SECONDS_EACH=${FUZZ_SECONDS:-8}
JOBS=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
CC_FUZZ=${CC_FUZZ:-clang}
CC_REPLAY=${CC_REPLAY:-gcc}
B=build/fuzz
WARN="-std=c99 -Wall -Wextra -Wpedantic -Werror -Wshadow -Wconversion -Wstrict-prototypes -Wmissing-prototypes -Wundef -Wvla"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

harnesses=()
for f in tests/fuzz/fuzz_*.c; do
    h=$(basename "$f" .c)
    h=${h#fuzz_}
    if [ -n "${FUZZ_ONLY:-}" ]; then
        case "$h" in $FUZZ_ONLY) ;; *) continue ;; esac
    fi
    harnesses+=("$h")
done
[ ${#harnesses[@]} -gt 0 ] || { echo "fuzz: no harness matches" >&2; exit 1; }

fail=0
bad() { fail=$((fail + 1)); echo "FAIL: $1" >&2; }

# ---- libFuzzer present? -------------------------------------------------
mkdir -p "$B/bin" "$B/gcc" "$B/logs" "$B/artifacts"
if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
    echo "fuzz: $CC_FUZZ not found: install the Debian package clang (apt-get install clang)" >&2
    exit 1
fi
probe="$B/probe.c"
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$probe"
if ! "$CC_FUZZ" -fsanitize=fuzzer,address,undefined "$probe" -o "$B/probe" >"$B/logs/probe.log" 2>&1; then
    cat "$B/logs/probe.log" >&2
    ver=$("$CC_FUZZ" -dumpversion 2>/dev/null | cut -d. -f1)
    echo "fuzz: $CC_FUZZ cannot link libFuzzer (libclang_rt.fuzzer is missing)." >&2
    echo "fuzz: install the Debian package libclang-rt-dev (the default clang's runtimes;" \
         "for clang ${ver:-14} itself: libclang-rt-${ver:-14}-dev), e.g. apt-get install libclang-rt-${ver:-14}-dev" >&2
    exit 1
fi

# ---- seeds --------------------------------------------------------------
rm -rf "$B/corpus"
python3 tests/fuzz/seeds.py "$B/corpus" vectors >"$B/logs/seeds.log" 2>&1 || { cat "$B/logs/seeds.log" >&2; exit 1; }

# ---- build: gcc replay driver and clang libFuzzer, in parallel ----------
build_one() {  # build_one KIND HARNESS
    local kind=$1 h=$2
    if [ "$kind" = gcc ]; then
        $CC_REPLAY $WARN -g -O1 $SAN -DKVS_FUZZ_DRIVER -I. "tests/fuzz/fuzz_$h.c" tests/fuzz/driver.c \
            -o "$B/gcc/fuzz_$h" >"$B/logs/build-gcc-$h.log" 2>&1
    else
        $CC_FUZZ $WARN -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
            "tests/fuzz/fuzz_$h.c" -o "$B/bin/fuzz_$h" >"$B/logs/build-clang-$h.log" 2>&1
    fi || { echo "build failed" >>"$B/logs/build-$kind-$h.log"; }
}
export -f build_one
export B CC_REPLAY CC_FUZZ WARN SAN
for h in "${harnesses[@]}"; do printf 'gcc %s\nclang %s\n' "$h" "$h"; done |
    xargs -P "$JOBS" -L 1 bash -c 'build_one "$0" "$1"'
for h in "${harnesses[@]}"; do
    for kind in gcc clang; do
        if grep -q "build failed" "$B/logs/build-$kind-$h.log"; then
            cat "$B/logs/build-$kind-$h.log" >&2
            bad "build $kind fuzz_$h"
        fi
    done
done
[ $fail -eq 0 ] || exit 1

# ---- replay (gcc): seeds and regression inputs --------------------------
replay() {  # replay TAG HARNESS DIRS...
    local tag=$1 h=$2
    shift 2
    if "$B/gcc/fuzz_$h" "$@" >"$B/logs/replay-$tag-$h.log" 2>&1; then
        echo "   ok   gcc replay ($tag): $(tail -n 1 "$B/logs/replay-$tag-$h.log")"
    else
        tail -n 30 "$B/logs/replay-$tag-$h.log" >&2
        bad "gcc replay ($tag) fuzz_$h"
    fi
}
echo "== replay seeds with $CC_REPLAY (ASan+UBSan)"
for h in "${harnesses[@]}"; do
    dirs=("$B/corpus/$h")
    [ -d "tests/fuzz/regress/$h" ] && dirs+=("tests/fuzz/regress/$h")
    cp -r "$B/corpus/$h" "$B/corpus/$h.seeds"
    replay seeds "$h" "${dirs[@]}"
done

# ---- fuzz (clang + libFuzzer) -------------------------------------------
echo "== libFuzzer: ${SECONDS_EACH}s per harness, $JOBS at a time"
fuzz_one() {  # fuzz_one HARNESS
    local h=$1 dirs
    dirs=("$B/corpus/$h")
    [ -d "tests/fuzz/regress/$h" ] && dirs+=("tests/fuzz/regress/$h")
    mkdir -p "$B/artifacts/$h"
    "$B/bin/fuzz_$h" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$B/artifacts/$h/" "${dirs[@]}" >"$B/logs/fuzz-$h.log" 2>&1
    echo $? >"$B/logs/fuzz-$h.rc"
}
export -f fuzz_one
export SECONDS_EACH
printf '%s\n' "${harnesses[@]}" | xargs -P "$JOBS" -I{} bash -c 'fuzz_one "$0"' {}

total=0
for h in "${harnesses[@]}"; do
    rc=$(cat "$B/logs/fuzz-$h.rc" 2>/dev/null || echo 99)
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$B/logs/fuzz-$h.log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$B/logs/fuzz-$h.log" | tail -n 1 | cut -d' ' -f2)
    corp=$(ls "$B/corpus/$h" | wc -l)
    if [ "$rc" != 0 ] || [ -z "$execs" ]; then
        tail -n 40 "$B/logs/fuzz-$h.log" >&2
        ls "$B/artifacts/$h" >&2 2>/dev/null
        bad "libFuzzer fuzz_$h (exit $rc)"
        execs=${execs:-0}
    fi
    total=$((total + execs))
    printf '   %-4s fuzz_%-11s %12s executions  %5s corpus  cov %s\n' \
        "$([ "$rc" = 0 ] && echo ok || echo FAIL)" "$h" "$execs" "$corp" "${cov:-?}"
done
echo "   total executions: $total (${SECONDS_EACH}s per harness, ${#harnesses[@]} harnesses)"

# ---- replay (gcc): what libFuzzer found --------------------------------
echo "== replay new corpus inputs with $CC_REPLAY"
for h in "${harnesses[@]}"; do
    mkdir -p "$B/corpus/$h.new"
    for f in "$B/corpus/$h"/*; do
        [ -e "$B/corpus/$h.seeds/$(basename "$f")" ] || cp "$f" "$B/corpus/$h.new/"
    done
    replay new "$h" "$B/corpus/$h.new"
    rm -rf "$B/corpus/$h.seeds" "$B/corpus/$h.new"
done

echo
echo "fuzz: $total executions, $fail failures"
[ $fail -eq 0 ]
