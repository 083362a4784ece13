#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Unlicense
# The whole test matrix behind `make test`.
#
# Every tests/test_*.c is one program built by one command. Each is built and
# run in several configurations (compiler, standard, optimisation, sanitizer);
# the threaded ones (test_posix_*, test_store_*) also under TSan. Then the
# build checks: the header as C++, two translation units linked together, the
# header included several ways, no POSIX symbol in the portable core, and the
# vectors regenerated identically by their independent generator.
#
# Environment:
#   KVS_MATRIX=quick   one configuration (gcc -O2) and the build checks
#   KVS_ONLY=pattern   only tests whose file name matches the shell pattern
#   JOBS=N             parallel builds (default: number of CPUs)
set -u
cd "$(dirname "$0")/.."

B=build/matrix
mkdir -p "$B"
JOBS=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
WARN="-std=c99 -Wall -Wextra -Wpedantic -Werror -Wshadow -Wconversion -Wstrict-prototypes -Wmissing-prototypes -Wundef -Wvla"
WARN11=${WARN/-std=c99/-std=c11}
# The hardware CRC32C paths built in (not chosen at run time): x86 only.
case "$(uname -m)" in x86_64|i?86) SSE42=-msse4.2 ;; *) SSE42= ;; esac

pass=0
fail=0
failed=()
skipped=()  # parts a test skipped (a "SKIP ..." line in its log), shown in the summary

ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); failed+=("$1"); echo "FAIL: $1" >&2; }

tests_matching() {  # $1: shell pattern on the basename
    local f
    for f in tests/test_*.c; do
        [ -e "$f" ] || continue
        case "$(basename "$f")" in $1) ;; *) continue ;; esac
        if [ -n "${KVS_ONLY:-}" ]; then
            case "$(basename "$f")" in $KVS_ONLY) ;; *) continue ;; esac
        fi
        echo "$f"
    done
}

# run_cfg NAME PATTERN CC FLAGS...: build every matching test, then run each.
run_cfg() {
    local name=$1 pattern=$2 cc=$3
    shift 3
    local flags="$*" dir="$B/$name" f t log rc
    mkdir -p "$dir"
    local list t0=$SECONDS
    list=$(tests_matching "$pattern")
    [ -n "$list" ] || return 0
    echo "== $name: $cc $flags"
    # Build in parallel; a failed build is reported as a failure of that test.
    printf '%s\n' $list | xargs -P "$JOBS" -I{} sh -c '
        f={}; t=$(basename "$f" .c)
        '"$cc"' '"$flags"' -I. "$f" -o "'"$dir"'/$t" -pthread -lm 2>"'"$dir"'/$t.build.log" \
            || echo "build failed" >>"'"$dir"'/$t.build.log"'
    for f in $list; do
        t=$(basename "$f" .c)
        if grep -q "build failed" "$dir/$t.build.log" 2>/dev/null; then
            cat "$dir/$t.build.log" >&2
            bad "$name/$t (build)"
            continue
        fi
        log="$dir/$t.log"
        "$dir/$t" >"$log" 2>&1
        rc=$?
        if [ $rc -eq 77 ]; then
            # T_SKIPPED: the program could test nothing here; neither a
            # pass nor a failure, and listed with its reason
            skipped+=("$name/$t: $(grep -E '^SKIP' "$log" | tail -n 1)")
            echo "   skip $t  ($(grep -E '^SKIP' "$log" | tail -n 1))"
        elif [ $rc -eq 0 ]; then
            ok
            echo "   ok   $t  ($(tail -n 1 "$log"))"
            # a part the test could not run here is never a silent "ok"
            while IFS= read -r line; do
                skipped+=("$name/$t: $line")
                echo "        $line"
            done < <(grep -E '^SKIP' "$log")
        else
            tail -n 30 "$log" >&2
            bad "$name/$t"
        fi
    done
    echo "   ($name: $((SECONDS - t0)) s)"
}

SAN_ENV="ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
: "$SAN_ENV"

run_cfg gcc-c99-O2 'test_*' gcc $WARN -O2 -g
if [ "${KVS_MATRIX:-full}" != quick ]; then
    run_cfg clang-c99-O2${SSE42:+-sse42} 'test_*' clang $WARN -O2 -g $SSE42
    run_cfg gcc-c11-O0 'test_*' gcc $WARN11 -O0 -g
    run_cfg clang-c11-O0 'test_core_*' clang $WARN11 -O0 -g
    run_cfg clang-asan-ubsan 'test_*' clang $WARN -O1 -g -fno-omit-frame-pointer \
        -fsanitize=address,undefined -fno-sanitize-recover=all
    run_cfg gcc-asan-ubsan${SSE42:+-sse42} 'test_core_*' gcc $WARN -O1 -g $SSE42 \
        -fsanitize=address,undefined -fno-sanitize-recover=all
    run_cfg clang-tsan 'test_posix_*' clang $WARN -O1 -g -fsanitize=thread
    run_cfg gcc-pipe-fd 'test_posix_pool*' gcc $WARN -O2 -g -DKVS_POSIX_USE_EVENTFD=0
    # CRC32C paths: compiled for this CPU (no run-time checks), and without AVX-512.
    run_cfg gcc-native 'test_core_*' gcc $WARN -O2 -g -march=native
    run_cfg gcc-no-avx512 'test_core_hash*' gcc $WARN -O2 -g -DKVS_NO_AVX512_CRC32C
    run_cfg clang-tsan-store 'test_store_*' clang $WARN -O1 -g -fsanitize=thread
    # Without Linux AIO: the raw store's puts compute the CRC, then write once.
    run_cfg gcc-no-aio 'test_store_raw*' gcc $WARN -O2 -g -DKVS_POSIX_USE_AIO=0
    # SIGKILL during the raw store's overlapped puts (threshold lowered to 68 KiB).
    run_cfg gcc-crash-overlap 'test_crash*' gcc $WARN -O2 -g -DT_CRASH_UNITS=32 -DKVSI_OVL_MIN=69632
    # 32-bit build: on x86-64 gcc-multilib is required (scripts/deps.sh test
    # installs it), and a missing one fails the run; elsewhere it is skipped,
    # and the summary says so.
    if printf 'int main(void){return 0;}\n' | gcc -m32 -x c - -o "$B/m32probe" 2>/dev/null; then
        run_cfg gcc-m32 'test_core_*' gcc $WARN -O2 -g -m32
        run_cfg gcc-m32-vectors 'test_vectors*' gcc $WARN -O2 -g -m32
        # The POSIX layer with 64-bit file offsets (32-bit size_t, pointers).
        run_cfg gcc-m32-posix 'test_posix_*' gcc $WARN -O2 -g -m32 -D_FILE_OFFSET_BITS=64
        # clang checks 8-byte atomics' alignment (-Watomic-alignment): on i386
        # a counter only 4-aligned could tear. The store and the pool, 32-bit.
        run_cfg clang-m32-store 'test_store_api*' clang $WARN -O2 -g -m32 -D_FILE_OFFSET_BITS=64
        run_cfg clang-m32-pool 'test_posix_pool*' clang $WARN -O2 -g -m32 -D_FILE_OFFSET_BITS=64
    elif [ "$(uname -m)" = x86_64 ]; then
        bad "gcc-m32 (gcc -m32 cannot link: install gcc-multilib; scripts/deps.sh test does as root)"
    else
        skipped+=("gcc-m32: no 32-bit gcc target on $(uname -m)")
        echo "== gcc-m32: skipped (no 32-bit gcc target on $(uname -m))"
    fi
fi

# ---- build checks -------------------------------------------------------
echo "== build checks"
check() {  # check NAME CMD...
    local name=$1
    shift
    if "$@" >"$B/$name.log" 2>&1; then ok; echo "   ok   $name"; else cat "$B/$name.log" >&2; bad "$name"; fi
}

one="$B/one_impl.c"
printf '#define KVS_IMPLEMENTATION\n#include "kvstore.h"\nint main(void){return kvs_version() == KVS_VERSION_NUMBER ? 0 : 1;}\n' > "$one"
cp "$one" "$B/one_impl.cpp"
for cxx in g++ clang++; do
    if ! command -v $cxx >/dev/null 2>&1; then bad "header-as-c++-$cxx ($cxx not found)"; continue; fi
    check "header-as-c++-$cxx" $cxx -std=c++11 -Wall -Wextra -Wpedantic -Werror -I. "$B/one_impl.cpp" -o "$B/one_cxx_$cxx"
    if [ -f kvstore_posix.c ]; then
        check "posix-as-c++-$cxx" $cxx -x c++ -std=c++11 -Wall -Wextra -Werror -I. -c kvstore_posix.c -o "$B/posix_cxx_$cxx.o"
    fi
done
# Two translation units: one holds the implementation, the other only the
# declarations; they must link into one program.
check two-tu gcc $WARN -I. tests/tu/impl.c tests/tu/user.c -o "$B/two_tu"
check two-tu-run "$B/two_tu"
# KVS_STATIC twice in one program: private copies must not clash.
check static-two-copies gcc $WARN -I. tests/tu/static_a.c tests/tu/static_b.c -o "$B/static_two"
check static-two-copies-run "$B/static_two"
# KVS_STATIC with kvstore_posix.c included, KVS_POSIX left out: it still builds.
check static-posix gcc $WARN -I. tests/tu/static_posix.c -o "$B/static_posix" -pthread
check static-posix-run "$B/static_posix"
# Included twice in one file, with and without the implementation macro.
check include-twice gcc $WARN -I. tests/tu/include_twice.c -o "$B/include_twice"
# The portable core references no POSIX/OS symbol.
check core-symbols sh -c '
    gcc '"$WARN"' -O2 -I. -c tests/tu/impl.c -o '"$B"'/core.o &&
    ! nm -u '"$B"'/core.o | grep -Ew "pread|pwrite|read|write|open|open64|openat|close|pthread_[a-z_]+|fsync|fdatasync|rename|renameat|statx|stat|fstat|ioctl|mmap|unlink|mkdir|opendir|readdir|getpid|time|clock_gettime|gettimeofday|getrandom"'
if [ -f kvstore_posix.c ]; then
    check posix-own-tu gcc $WARN -O2 -I. -c kvstore_posix.c -o "$B/posix.o"
    # A 32-bit off_t would cut offsets past 2 GiB: the build refuses it.
    if printf 'int main(void){return 0;}\n' | gcc -m32 -x c - -o "$B/m32probe" 2>/dev/null; then
        check posix-m32-refuses-32-bit-off_t sh -c '! gcc -m32 -I. -c kvstore_posix.c -o "$0/posix32.o" 2>/dev/null &&
            gcc -m32 -D_FILE_OFFSET_BITS=64 -I. -c kvstore_posix.c -o "$0/posix32.o"' "$B"
        # Every 8-byte atomic is lock-free inline on i386: no call into
        # libatomic (which users do not link) at any optimisation level.
        for cc in gcc clang; do
            command -v $cc >/dev/null 2>&1 || continue
            check "posix-m32-no-libatomic-$cc" sh -c 'for o in -O0 -O1 -O2 -O3 -Os; do
                "$1" -std=c99 $o -m32 -D_FILE_OFFSET_BITS=64 -I. -c kvstore_posix.c -o "$0/posix32a.o" || exit 1
                if nm -u "$0/posix32a.o" | grep -q __atomic_; then echo "$1 $o calls libatomic:"; nm -u "$0/posix32a.o" | grep __atomic_; exit 1; fi
            done' "$B" "$cc"
        done
    fi
fi
# The README's example, extracted and compiled as users would paste it.
awk '/^```c$/{on=1;next} /^```$/{on=0} on' README.md > "$B/readme_example.c"
check readme-example gcc $WARN -I. "$B/readme_example.c" -o "$B/readme_example" -pthread
# It runs on this run's own directories (its /tmp/kvs-example is shared by
# every run on the machine): the same program with the paths moved.
rm -rf "$B/kvs-example"
sed "s|/tmp/kvs-example/|$B/kvs-example/|g" "$B/readme_example.c" > "$B/readme_example_run.c"
check readme-example-moved grep -q "$B/kvs-example/" "$B/readme_example_run.c"
check readme-example-run-build gcc $WARN -I. "$B/readme_example_run.c" -o "$B/readme_example_run" -pthread
check readme-example-run "$B/readme_example_run"
# The benchmark programs build clean with both compilers, and kvbench's
# harness works: a short run of every store mode and the I/O layer, every
# byte read back verified (exit 1 on a wrong byte), and its flags checked.
for cc in gcc clang; do
    if ! command -v $cc >/dev/null 2>&1; then bad "bench-$cc ($cc not found)"; continue; fi
    for p in kvbench kvio bench_core readcheck; do
        check "bench-$p-$cc" $cc $WARN -O2 -I. "bench/$p.c" -o "$B/${p}_$cc" -pthread -lm
    done
done
# readcheck: a short run on a file it makes in the build directory (O_DIRECT,
# which tmpfs may refuse), on 4 KiB pages; and it never writes over what it
# did not make: a directory or a too-short existing file is exit 2, untouched.
if [ -x "$B/readcheck_gcc" ]; then
    check readcheck-smoke sh -c 'd=$(mktemp -d "$1/readcheck.XXXXXX") || exit 1
        out=$("$0" --file "$d/f" --size 64K --count 8 --rounds 3 --mem page --json); rc=$?; rm -rf "$d"
        [ $rc -eq 0 ] && [ "$(printf "%s\n" "$out" | grep -c "\"gbps\":")" -eq 3 ]' "$B/readcheck_gcc" "$B"
    check readcheck-threads sh -c 'd=$(mktemp -d "$1/readcheck.XXXXXX") || exit 1
        out=$("$0" --file "$d/f" --size 64K --count 8 --rounds 3 --threads 2 --mem page --json); rc=$?; rm -rf "$d"
        [ $rc -eq 0 ] && [ "$(printf "%s\n" "$out" | grep -c "\"threads\":2,")" -eq 3 ]' "$B/readcheck_gcc" "$B"
    check readcheck-bad-threads sh -c '"$0" --threads 9 >/dev/null 2>&1; [ $? -eq 2 ]' "$B/readcheck_gcc"
    check readcheck-bad-size sh -c '"$0" --size 1000 >/dev/null 2>&1; [ $? -eq 2 ]' "$B/readcheck_gcc"
    check readcheck-not-a-file sh -c '"$0" --file "$1" --size 4K --count 1 >/dev/null 2>&1; [ $? -eq 2 ]' \
        "$B/readcheck_gcc" "$B"
    check readcheck-short-file-kept sh -c 'f=$(mktemp "$1/readcheck.XXXXXX") || exit 1
        printf "keep me" > "$f"; "$0" --file "$f" --size 4K --count 2 >/dev/null 2>&1; rc=$?
        c=$(cat "$f"); rm -f "$f"; [ $rc -eq 2 ] && [ "$c" = "keep me" ]' "$B/readcheck_gcc" "$B"
fi
if [ -x "$B/kvbench_gcc" ]; then
    check kvbench-smoke "$B/kvbench_gcc" --size 64K --tail 100 --count 24 --threads 1,2 --verify full --json
    check kvbench-legacy sh -c 'for m in legacy-raw legacy-fsconn legacy-localdisk; do
        "$0" --mode $m --size 64K --count 16 --threads 2 --verify full --no-drop --json || exit 1; done' "$B/kvbench_gcc"
    check kvbench-bad-mem sh -c '"$0" --mem bogus >/dev/null 2>&1; [ $? -eq 2 ]' "$B/kvbench_gcc"
    # --mem hugetlb: runs on huge pages when the pool has them, else exits 2
    # and says how to reserve them.
    check kvbench-hugetlb sh -c 'out=$("$0" --mode raw --size 64K --count 16 --threads 2 --mem hugetlb --verify full --json 2>&1)
        rc=$?
        free=$(awk "/^HugePages_Free:/{print \$2}" /proc/meminfo 2>/dev/null)
        if [ "${free:-0}" -ge 2 ]; then [ $rc -eq 0 ] && printf "%s" "$out" | grep -q "\"mem\":\"hugetlb\""
        else [ $rc -eq 2 ] && printf "%s" "$out" | grep -q nr_hugepages; fi' "$B/kvbench_gcc"
fi
# Vectors: the independent generator reproduces the committed files exactly.
if [ -f vectors/gen/gen.py ]; then
    check vectors-regenerate python3 vectors/gen/gen.py --check
fi
# Bounded fuzzing of every decoder: libFuzzer (clang), seeds and finds replayed with gcc.
if [ "${KVS_MATRIX:-full}" != quick ] && [ -z "${KVS_ONLY:-}" ]; then
    check fuzz-bounded bash tests/fuzz/run.sh
    grep -E '^ +(ok|FAIL) +fuzz_|total executions' "$B/fuzz-bounded.log" || true
fi

echo
echo "matrix time: $SECONDS s"
if [ ${#skipped[@]} -ne 0 ]; then
    echo "skipped here (not failures; what this machine or user cannot do):"
    printf '  %s\n' "${skipped[@]}"
fi
if [ $fail -ne 0 ]; then
    echo "failures:"
    printf '  %s\n' "${failed[@]}"
fi
echo "run_all: $pass passed, $fail failed, ${#skipped[@]} parts skipped"
[ $fail -eq 0 ]
