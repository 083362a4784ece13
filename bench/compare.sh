#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Unlicense
#
# kvstore's stores against fio and against the designs they replace, on the
# same file and directory, in the same run, interleaved, timed by hyperfine.
#
# For every object size in SIZES and thread count in THREADS:
#   file group  (one device file $DIR/kvs_compare.dev, O_DIRECT, written once
#               at the start and overwritten in place by every command)
#     kvbench --mode io | raw | legacy-raw      vs  fio psync direct=1, bs = object size,
#                                                   numjobs = threads, each job its own
#                                                   contiguous share of the file
#   dir group   (directories under $DIR, one file per object, O_DIRECT where used)
#     kvbench --mode fs | legacy-fsconn | legacy-localdisk
#                                               vs  fio with nrfiles = objects per job,
#                                                   filesize = object size, openfiles=1,
#                                                   file_service_type=sequential: one
#                                                   file opened, written or read, closed
#                                                   after another. Writes: create_on_open,
#                                                   fallocate=none, unlink after the job,
#                                                   so every run creates its files as a
#                                                   put does. (fio writes in place: no temp
#                                                   file, no rename, no header.)
#   put is compared with fio's write, get with fio's read.
#   dir get cases also run fio-crc (FIO_CHECK=1, the default): fio's read
#   with --verify=crc32c over its own files, written with verify headers
#   by an untimed fio write before the case's rounds. It reads every block
#   and checks every byte with CRC32C, as the fs store's get does and fio's
#   plain read does not. The targets are against the plain read; fio-crc
#   says what a checking reader reaches in the same sitting.
#
# Interleaving. hyperfine runs all runs of one command before the next, so
# slow drift of this VM's disk (the field notes measured a median run-to-run
# noise of 13%) lands on one tool. Here every round calls hyperfine once with
# every command of a group and --runs 1: one run of each, back to back, in
# the order of a balanced (Williams) Latin square: over every n rounds (2n
# for an odd number n of commands) each command runs once in each position
# and right after each other command once. A rotation of one list, as
# before session 20, kept every command behind the same neighbour in every
# round, so whatever one command left behind (the host's writeback, a cache
# drop, a cold CPU cache) always landed on the same next one. The order is
# a function of the round number and the number of commands only, the same
# in every sitting; each round's hyperfine export lists it. hyperfine times
# each run (JSON and
# Markdown exports per round); the throughput figures and ratios come from
# each tool's own measurement of its transfer phase (fio JSON bw_bytes,
# kvbench --json gbps), median over the rounds. Wall-clock time includes
# process start-up, fio's set-up and (kvbench get) the untimed fill, so it is
# exported but not used for ratios.
#
# kvbench get runs are self-contained: they fill the objects (untimed) and
# time the reads. fio's write job would overwrite a store kept between
# commands on the same file; this way each command reads what it wrote
# itself.
#
# Page cache: fio drops nothing before its read jobs (its files and their
# inodes stay cached from the round before). So the O_DIRECT kvbench runs
# get --no-drop too: their data bypasses the page cache either way, and a
# drop would also empty the dentry and inode caches, leaving kvbench's
# per-file opens to read metadata from disk that fio's find in memory. Only
# legacy-localdisk (buffered by design) drops the cache (as root) between
# its fill and its reads, or they would come from memory. That drop also
# empties the dentry and inode caches for whatever command runs next. The
# kvbench dir modes fill (untimed) before they read, and fio stats every
# file of its job in its own set-up, before its timing starts, so the
# metadata their timed opens use is cached again either way.
#
# Stores read back (REOPEN): a kvbench get run fills and reads in one
# process, and an fs store handle reads a file it published itself by a
# fast path (payload only, no header read). REOPEN=1 (the default since
# session 20) passes --reopen to the store modes (raw, fs): their handles
# are closed after the fill and new ones read, as another process or a
# restarted one would, which is how the targets are judged. REOPEN=0 reads
# through the writer's handle.
#
# Data: every kvbench command of round r runs with --seed 100+r (three
# digits, so every round's keys have one length), which goes into its key
# names and the stamps in every object, so a read that found an earlier
# round's bytes (a write that never reached the file) fails the check
# instead of passing with identical stale data.
#
# Directories: fio's directory stays from round to round; the dir-group
# kvbench runs get --keep-dirs, so their store directories stay too (files
# removed). Made afresh every run, they landed in ext4 block groups just
# emptied by the run before, and on an ext4 without a journal (this VM's)
# every create there first walks the inodes deleted in the last minute:
# fs put at 256 KiB x 2 threads measured 0.53 of fio that way, 1.09 with
# the directories kept (docs/BENCHMARKS.md).
#
# Buffer memory: both tools get the same kind. A direct read goes to the
# device as one DMA segment per physically contiguous run of the buffer,
# and a 2 MiB buffer of 4 KiB pages is anything from 1 to 512 runs, as the
# page allocator happens to hand them to each process; virtio-blk takes 254
# segments per request, so the same 2 MiB read is one request for one
# process and five for the next. With MEM=hugetlb (the default when it can
# be had) fio gets --iomem=mmaphuge and kvbench --mem hugetlb: 2 MiB huge
# pages from the hugetlb pool, one run each, for every command. As root the
# script reserves the few pages it needs and gives them back at the end.
# MEM=page leaves both on ordinary pages (fio's malloc, kvbench's 4 KiB
# aligned buffers), as before; MEM=auto (default) is hugetlb when the pool
# has or can be given the pages, else page, and says which.
#
# Environment: SIZES (default "2M 256K"), THREADS ("1 2"), TOTAL (bytes per
# phase, 512M), RUNS (rounds, 3), DIR ($TMPDIR, or /tmp when TMPDIR is unset
# or empty), MODES_FILE ("io raw legacy-raw"), MODES_DIR ("fs legacy-fsconn
# legacy-localdisk"), MEM (auto | hugetlb | page), REOPEN (1 | 0), FIO_CHECK (1 | 0),
# KVBENCH (build/kvbench), CC (cc) and BENCHFLAGS (-O2 -march=native) for
# building it, RESULTS (bench/results/<timestamp>).
#
# KVBENCH is (re)built with $CC -std=c99 $BENCHFLAGS when it is missing,
# older than its sources, or not known to have been built by that command
# (the command is kept beside it in $KVBENCH.buildcmd), so machine.txt names
# the flags of the binary that ran.
#
# The verdicts in summary.md's "Targets" table need a disk and enough
# rounds: on tmpfs they read "n/a (tmpfs)", and with fewer than 15 rounds
# (this VM's noise; docs/BENCHMARKS.md), such as the default 3, they say
# how many there were; with REOPEN=0 they say the targets are judged with
# REOPEN=1. Ratios there have three decimals, so a "no" never shows 0.85.
#
# Paths (DIR, RESULTS, KVBENCH) may hold spaces, colons, quotes or any
# other byte: every path in a command is single-quoted for hyperfine's sh.
# A command that fails stops the sitting and prints its own error output
# (each round's commands append it to <case>.round<N>.stderr).
#
# RESULTS may be an existing directory: every case's files are removed when
# the case starts, so no case mixes sittings; files of cases this run does
# not have are left alone (summary.md covers this run's cases.txt only).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"2M 256K"}
THREADS=${THREADS:-"1 2"}
TOTAL=${TOTAL:-512M}
RUNS=${RUNS:-3}
DIR=${DIR:-${TMPDIR:-/tmp}}
MODES_FILE=${MODES_FILE-"io raw legacy-raw"}
MODES_DIR=${MODES_DIR-"fs legacy-fsconn legacy-localdisk"}
KVBENCH=${KVBENCH:-build/kvbench}
MEM=${MEM:-auto}
REOPEN=${REOPEN:-1}
FIO_CHECK=${FIO_CHECK:-1}
CC=${CC:-cc}
BENCHFLAGS=${BENCHFLAGS:--O2 -march=native}
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=${RESULTS:-bench/results/$STAMP}

# tools: hyperfine, fio, gnuplot (scripts/deps.sh installs them as root)
if ! scripts/deps.sh bench; then
    echo "compare.sh: needs hyperfine, fio and gnuplot (Debian: apt-get install hyperfine fio gnuplot-nox)" >&2
    exit 1
fi
command -v python3 >/dev/null 2>&1 || { echo "compare.sh: needs python3" >&2; exit 1; }

if [ ! -d "$DIR" ]; then
    echo "compare.sh: DIR=$DIR does not exist" >&2
    exit 2
fi
case $REOPEN in 0|1) ;; *) echo "compare.sh: REOPEN=$REOPEN is not 0 or 1" >&2; exit 2 ;; esac
case $FIO_CHECK in 0|1) ;; *) echo "compare.sh: FIO_CHECK=$FIO_CHECK is not 0 or 1" >&2; exit 2 ;; esac
# single-quoted for sh (hyperfine runs every command through sh -c): bash's
# printf %q writes $'...' for tabs and other bytes, which dash takes literally
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
KV_BUILD="$CC -std=c99 $BENCHFLAGS -I. bench/kvbench.c -o $(q "$KVBENCH") -pthread -lm"
if [ ! -x "$KVBENCH" ] || [ bench/kvbench.c -nt "$KVBENCH" ] || [ bench/bench_signals.h -nt "$KVBENCH" ] || [ kvstore_posix.c -nt "$KVBENCH" ] ||
    [ kvstore.h -nt "$KVBENCH" ] || [ "$(cat "$KVBENCH.buildcmd" 2>/dev/null)" != "$KV_BUILD" ] ||
    [ "$KVBENCH" -nt "$KVBENCH.buildcmd" ]; then
    mkdir -p "$(dirname "$KVBENCH")"
    # shellcheck disable=SC2086 # CC and BENCHFLAGS may hold several words
    $CC -std=c99 $BENCHFLAGS -I. bench/kvbench.c -o "$KVBENCH" -pthread -lm
    echo "$KV_BUILD" >"$KVBENCH.buildcmd"
fi

# cleanup is armed before anything it undoes (the huge-page pool, WORK);
# INT, TERM and HUP exit through it too
HP_RESTORE=""
WORK=""
cleanup() {
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
    if [ -n "$HP_RESTORE" ]; then echo "$HP_RESTORE" > /proc/sys/vm/nr_hugepages || true; fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# huge pages: the most one command holds at once, with room. fio rounds
# its buffer (bs plus alignment) up to whole huge pages, and at 2 MiB x 2
# jobs it needed 6 here (with 5 it got ENOMEM and crashed); kvbench takes
# one per thread at 2 MiB and below.
hp_free() { awk '/^HugePages_Free:/{print $2}' /proc/meminfo 2>/dev/null || echo 0; }
case $MEM in
auto|hugetlb)
    maxt=1
    for t in $THREADS; do [ "$t" -gt "$maxt" ] && maxt=$t; done
    maxb=0
    for s in $SIZES; do b=$(numfmt --from=iec "$s"); [ "$b" -gt "$maxb" ] && maxb=$b; done
    hp_need=$(( maxt * ((maxb + 4096 + 2097151) / 2097152 + 1) + 2 ))
    if [ "$(hp_free)" -lt "$hp_need" ] && [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/nr_hugepages ]; then
        HP_RESTORE=$(cat /proc/sys/vm/nr_hugepages)
        echo $(( HP_RESTORE + hp_need - $(hp_free) )) > /proc/sys/vm/nr_hugepages || true
    fi
    if [ "$(hp_free)" -ge "$hp_need" ]; then
        MEM=hugetlb
    elif [ "$MEM" = hugetlb ]; then
        echo "compare.sh: MEM=hugetlb needs $hp_need free 2 MiB huge pages; the pool has $(hp_free) (as root: echo N > /proc/sys/vm/nr_hugepages)" >&2
        exit 2 # cleanup gives the pages back
    else
        echo "compare.sh: no huge pages to be had (not root, or the pool cannot grow): MEM=page" >&2
        MEM=page
    fi ;;
page) ;;
*) echo "compare.sh: MEM=$MEM is not one of auto, hugetlb, page" >&2; exit 2 ;;
esac
if [ "$MEM" = hugetlb ]; then
    KV_MEM="--mem hugetlb"; FIO_MEM="--iomem=mmaphuge"
else
    KV_MEM=""; FIO_MEM=""
fi

mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
WORK=$(mktemp -d "$DIR/kvs_compare.XXXXXX")
FILE=$WORK/kvs_compare.dev

to_bytes() { numfmt --from=iec "$1"; }
TOTAL_B=$(to_bytes "$TOTAL")

# The device file is written once, here, large enough for every mode (the
# raw store's metadata and spare slots included), and every command of the
# file group overwrites it in place: kvbench keeps it (--keep) as fio does.
# A file removed and made again by each command lands on blocks just freed
# (and, with the discard mount option, punched out of the VM's backing
# store), and fio's write job then wrote a fresh file every time: about
# 2 GB/s at 2 MiB here, against 4 GB/s overwriting in place as kvbench did.
layout_device() {
    local mib=$(( (TOTAL_B + TOTAL_B / 8) / 1048576 + 64 ))
    dd if=/dev/zero of="$FILE" bs=1M count="$mib" oflag=direct conv=fsync status=none
}

# Free space: the most this run holds at once, for the configured SIZES,
# THREADS (they do not change it: every case moves TOTAL bytes) and groups.
#   device file (file group): stays all run, as large as the largest size
#     needs (layout_device, or kvbench growing it: the raw store's slots of
#     object + 4 KiB header, 2% spare, its index copies and 8 MiB; legacy-raw's
#     4 MiB + slots; io's objects)
#   plus, in a file-group case: kvbench's own free-space check, which asks
#     for its estimate of the file + 64 MiB free even though the file is
#     already there (nothing else is written)
#   or, in a dir-group case: fio-r's read files (TOTAL, removed at the end of
#     each dir get case, so they do not pile up across sizes and thread
#     counts) + fio-rc's (TOTAL more, FIO_CHECK=1, removed likewise) + one kvbench run's objects (fs, the largest dir mode: object +
#     8 KiB each, removed at the end of the run; fio-w's files, TOTAL, are
#     unlinked by fio) + kvbench's 64 MiB margin
# Commands run one at a time, so these are the only things on disk at once.
E=160     # raw index entry bytes at 128-byte keys (kvs_index_entry_size(128))
MiB=1048576
ru() { echo $(( ($1 + $2 - 1) / $2 * $2 )); }
dev_max=0; case_max=0
for s in $SIZES; do
    b=$(to_bytes "$s"); n=$(( TOTAL_B / b ))
    slot=$(ru $(( b + 4096 )) 4096); slots=$(( n + n / 50 + 8 ))
    dev=$(( 4096 + 4 * $(ru $(( 104 + slots * E )) $MiB) + 8 * MiB + slots * slot ))   # raw
    [ $(( 4 * MiB + n * slot )) -gt "$dev" ] && dev=$(( 4 * MiB + n * slot ))            # legacy-raw
    lay=$(( ((TOTAL_B + TOTAL_B / 8) / MiB + 64) * MiB ))                                # layout_device
    [ "$lay" -gt "$dev" ] && dev=$lay
    if [ -n "$MODES_FILE" ]; then
        [ "$dev" -gt "$dev_max" ] && dev_max=$dev
        [ $(( dev + 64 * MiB )) -gt "$case_max" ] && case_max=$(( dev + 64 * MiB ))
    fi
    if [ -n "$MODES_DIR" ]; then
        dcase=$(( (1 + FIO_CHECK) * TOTAL_B + n * $(ru $(( b + 8192 )) 4096) + 64 * MiB ))
        [ "$dcase" -gt "$case_max" ] && case_max=$dcase
    fi
done
need=$(( dev_max + case_max ))
avail=$(df -B1 --output=avail "$WORK" | tail -1)
if [ "$avail" -lt "$need" ]; then
    echo "compare.sh: $DIR has $((avail >> 20)) MiB free; this run needs about $((need >> 20)) MiB (lower TOTAL)" >&2
    exit 2
fi
FSTYPE=$(df --output=fstype "$WORK" 2>/dev/null | tail -n 1)
FSTYPE=${FSTYPE:-unknown}
if [ "$FSTYPE" = tmpfs ]; then
    echo "compare.sh: note: $DIR is on tmpfs: the figures measure memory, not a disk (DIR=... picks another place)" >&2
fi

{
    echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(uname -sr), $(awk '/MemTotal/{print $2" kB"}' /proc/meminfo) RAM"
    echo "file system: $(df -T "$WORK" | awk 'NR==2{print $2" on "$1}')"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "hyperfine: $(hyperfine --version)  fio: $(fio --version)  gnuplot: $(gnuplot --version)"
    echo "kvbench: $KVBENCH built with: $(cat "$KVBENCH.buildcmd"); $("$KVBENCH" --version)"
    echo "SIZES=\"$SIZES\" THREADS=\"$THREADS\" TOTAL=$TOTAL RUNS=$RUNS DIR=$DIR REOPEN=$REOPEN FIO_CHECK=$FIO_CHECK"
    echo "store reads (raw, fs): $( [ "$REOPEN" = 1 ] && echo "--reopen: handles closed after the fill, new ones read" || echo "the handle that wrote the objects reads them (REOPEN=0)")"
    echo "buffer memory: $MEM (both tools)$( [ -n "$HP_RESTORE" ] && echo "; the hugetlb pool was raised for this run and restored after")"
    echo "page cache drop before reads: none for fio and O_DIRECT kvbench runs; legacy-localdisk: $( [ "$(id -u)" = 0 ] && echo "yes (root)" || echo "no (not root): its read figures are warm")"
    case " $MODES_DIR " in *" legacy-localdisk "*) [ "$(id -u)" = 0 ] && echo "note: legacy-localdisk's cache drop empties the dentry and inode caches (fio stats its files in its set-up, before its timing)" ;; esac
    [ "$FSTYPE" = tmpfs ] && echo "note: $DIR is on tmpfs: the figures measure memory, not a disk; no verdicts"
    echo "command order: a balanced (Williams) Latin square over the rounds; kvbench --seed = 100 + round number"
} | tee "$RESULTS/machine.txt"

# fio splits --filename and --directory at ':' unless escaped
fio_path() { printf '%s' "${1//:/\\:}"; }
ERRF=/dev/null # each round's error output (set per round below)

# kvbench command line for one mode/op/size/threads/round, appending JSON to
# out and its error output to ERRF
kv_cmd() {
    local mode=$1 op=$2 size=$3 t=$4 out=$5 r=$6 count where direct
    count=$(( TOTAL_B / $(to_bytes "$size") ))
    case $mode in
        io|raw|legacy-raw) where="--file $(q "$FILE") --dir $(q "$WORK") --keep" ;;
        *) where="--dir $(q "$WORK") --keep-dirs" ;;
    esac
    direct="--direct --no-drop"
    [ "$mode" = legacy-localdisk ] && direct=""   # buffered by design: drops the cache
    case $mode in raw|fs) [ "$REOPEN" = 1 ] && direct="$direct --reopen" ;; esac
    echo "$(q "$KVBENCH") --mode $mode --op $op --size $size --count $count --threads $t $direct" \
         "--seed $((100 + r)) --verify stamps $KV_MEM $where --json >> $(q "$out") 2>> $(q "$ERRF")"
}

# fio job on the device file: each job its own contiguous share
fio_file_cmd() {
    local rw=$1 size=$2 t=$3 out=$4 bsb per
    bsb=$(to_bytes "$size")
    per=$(( TOTAL_B / bsb / t * bsb ))
    echo "fio --name=kv --filename=$(q "$(fio_path "$FILE")") --ioengine=psync --direct=1 --rw=$rw --bs=$size" \
         "--numjobs=$t --size=$per --offset_increment=$per --group_reporting=1 --invalidate=0" \
         "--fallocate=none $FIO_MEM --output-format=json --output=$(q "$out") 2>> $(q "$ERRF")"
}

# fio job with one file per object. rw: write, read, or (FIO_CHECK) check,
# a read of fio-rc's files that checks every block's CRC32C, or checkfill,
# the untimed write of those files with the verify headers the check reads.
fio_dir_cmd() {
    local rw=$1 size=$2 t=$3 out=$4 bsb nfiles d extra
    bsb=$(to_bytes "$size")
    nfiles=$(( TOTAL_B / bsb / t ))
    case $rw in
    write) d=$WORK/fio-w; extra="--create_on_open=1 --fallocate=none --unlink=1" ;;
    read) d=$WORK/fio-r; extra="" ;;
    check) d=$WORK/fio-rc; rw="read"; extra="--verify=crc32c" ;;
    checkfill) d=$WORK/fio-rc; rw="write"; extra="--verify=crc32c --do_verify=0 --verify_state_save=0" ;;
    esac
    mkdir -p "$d"
    echo "fio --name=kv --directory=$(q "$(fio_path "$d")") --ioengine=psync --direct=1 --rw=$rw --bs=$size" \
         "--numjobs=$t --nrfiles=$nfiles --filesize=$size --file_service_type=sequential" \
         "--openfiles=1 $extra $FIO_MEM --group_reporting=1 --output-format=json --output=$(q "$out") 2>> $(q "$ERRF")"
}

# Row k (from 0) of a Williams Latin square for n commands: the sequence
# 0, 1, n-1, 2, n-2, ... plus k mod n; for odd n, rows n to 2n-1 are rows 0
# to n-1 reversed. Over n rows (2n for odd n) every command takes every
# position once and follows every other command once.
williams() {
    local n=$1 k=$2 len i lo=1 hi=$(($1 - 1))
    local -a base=(0) row=()
    if ((n % 2)); then len=$((2 * n)); else len=$n; fi
    k=$((k % len))
    for ((i = 1; i < n; i++)); do
        if ((i % 2)); then base+=("$lo"); lo=$((lo + 1)); else base+=("$hi"); hi=$((hi - 1)); fi
    done
    for ((i = 0; i < n; i++)); do
        if ((k < n)); then row+=($(((base[i] + k) % n))); else row+=($(((base[n - 1 - i] + k) % n))); fi
    done
    echo "${row[@]}"
}

# one round of one group: hyperfine --runs 1 over every command, in the
# order of row r - 1 of the Williams square
round() {
    local name=$1 r=$2; shift 2
    local -a names=() cmds=() args=() order=()
    while [ $# -gt 0 ]; do names+=("$1"); cmds+=("$2"); shift 2; done
    local n=${#names[@]} i
    read -r -a order < <(williams "$n" $((r - 1)))
    for i in "${order[@]}"; do
        args+=(-n "${names[$i]}" "${cmds[$i]}")
    done
    hyperfine --style basic --runs 1 \
        --export-json "$RESULTS/$name.round$r.hyperfine.json" \
        --export-markdown "$RESULTS/$name.round$r.md" \
        "${args[@]}" >"$RESULTS/$name.round$r.hyperfine.txt" 2>&1 || {
        cat "$RESULTS/$name.round$r.hyperfine.txt" >&2
        if [ -s "$ERRF" ]; then
            echo "compare.sh: the commands' error output ($ERRF):" >&2
            tail -n 20 "$ERRF" >&2
        fi
        exit 1
    }
}

[ -n "$MODES_FILE" ] && layout_device

CASES=$RESULTS/cases.txt
: >"$CASES"
for size in $SIZES; do
    for t in $THREADS; do
        for group in file dir; do
            if [ $group = file ]; then modes=$MODES_FILE; else modes=$MODES_DIR; fi
            [ -n "$modes" ] || continue # MODES_FILE="" or MODES_DIR="": skip the group
            for op in put get; do
                name="$group-$op-$size-t$t"
                if [ $op = put ]; then rw="write"; else rw="read"; fi
                echo "compare.sh: $name ($RUNS interleaved rounds)" >&2
                rm -f "$RESULTS/$name".* # a reused RESULTS: nothing of an earlier sitting
                check=0
                if [ $group = dir ] && [ $op = get ] && [ "$FIO_CHECK" = 1 ]; then
                    check=1 # fio-crc's files, with their verify headers
                    ERRF=$RESULTS/$name.checkfill.stderr
                    eval "$(fio_dir_cmd checkfill "$size" "$t" "$WORK/fio-rc-fill.json")" || {
                        echo "compare.sh: fio's untimed write of fio-crc's files failed:" >&2
                        tail -n 20 "$ERRF" >&2
                        exit 1
                    }
                fi
                for ((r = 1; r <= RUNS; r++)); do
                    ERRF=$RESULTS/$name.round$r.stderr
                    set --
                    for m in $modes; do
                        set -- "$@" "$m" "$(kv_cmd "$m" "$op" "$size" "$t" "$RESULTS/$name.$m.jsonl" "$r")"
                    done
                    if [ $group = file ]; then
                        set -- "$@" fio "$(fio_file_cmd $rw "$size" "$t" "$RESULTS/$name.fio.round$r.json")"
                    else
                        set -- "$@" fio "$(fio_dir_cmd $rw "$size" "$t" "$RESULTS/$name.fio.round$r.json")"
                        [ "$check" = 1 ] &&
                            set -- "$@" fio-crc "$(fio_dir_cmd check "$size" "$t" "$RESULTS/$name.fio-crc.round$r.json")"
                    fi
                    round "$name" "$r" "$@"
                done
                # fio's read files stay for the rounds of this case only
                [ $group = dir ] && [ $op = get ] && rm -rf "$WORK/fio-r" "$WORK/fio-rc"
                echo "$name $group $op $size $t $check $modes" >>"$CASES"
            done
        done
    done
done

python3 - "$RESULTS" "$RUNS" "$FSTYPE" "$REOPEN" "$MEM" "$MODES_DIR" <<'PY' | tee "$RESULTS/summary.md"
import json, os, statistics, sys
res, runs, fstype, reopen, mem, modes_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
MIN_ROUNDS = 15  # this VM's noise: docs/BENCHMARKS.md

def size_bytes(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    s = s.strip().upper().rstrip("IB")
    return int(float(s[:-1]) * mult[s[-1]]) if s and s[-1] in mult else int(s)

def jsonl(path):
    out = []
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                out.append(json.loads(line))
    return out

def fio_gbps(path):
    txt = open(path).read()
    doc = json.loads(txt[txt.find("{"):])
    job = doc["jobs"][0]
    if job.get("error", 0):
        sys.exit(f"compare.sh: {path}: fio reported error {job['error']} (a failed check, for fio-crc)")
    return (job["read"]["bw_bytes"] + job["write"]["bw_bytes"]) / 1e9

def med(v):
    return statistics.median(v) if v else float("nan")

rows, data, checks = [], {}, []
for line in open(os.path.join(res, "cases.txt")):
    name, group, op, size, t, check, *modes = line.split()
    fio = [fio_gbps(os.path.join(res, f"{name}.fio.round{r}.json")) for r in range(1, runs + 1)]
    fv = med(fio)
    data[(op, size, t, "fio " + ("file" if group == "file" else "1 file/object"))] = fv
    crc = []
    if check == "1":
        crc = [fio_gbps(os.path.join(res, f"{name}.fio-crc.round{r}.json")) for r in range(1, runs + 1)]
        data[(op, size, t, "fio-crc 1 file/object")] = med(crc)
    for m in modes:
        recs = [x for x in jsonl(os.path.join(res, f"{name}.{m}.jsonl")) if x["phase"] == op]
        kv = med([x["gbps"] for x in recs])
        data[(op, size, t, m)] = kv
        io = recs[-1]["io"] if recs else "?"
        cache = recs[-1]["cache"] if recs else "?"
        bounce = med([x["bounce_bytes_per_object"] for x in recs])
        cpu = med([x["cpu_s_per_gb"] for x in recs])
        p99 = med([x["p99_us"] for x in recs]) / 1e3
        spread = (min(x["gbps"] for x in recs), max(x["gbps"] for x in recs)) if recs else (0, 0)
        # per-round ratios: round r's kvbench record (appended in round
        # order) over round r's fio run, back to back in the same round
        pr = [x["gbps"] / f for x, f in zip(recs, fio) if f]
        rows.append((op, size, int(t), group, m, kv, fv, kv / fv if fv else float("nan"), io, cache, cpu, p99,
                     bounce, spread, (min(fio), max(fio)), pr))
        if crc:
            checks.append((op, size, int(t), m, kv, fv, med(crc), (min(crc), max(crc)),
                           [x["gbps"] / c for x, c in zip(recs, crc) if c], [c / f for c, f in zip(crc, fio) if f]))

print("## kvbench and the designs it replaces vs fio (medians of %d interleaved rounds)\n" % runs)
print("| op | size | threads | mode | I/O used | GB/s (min-max) | fio GB/s (min-max) | ratio vs fio | CPU s/GB | p99 ms | bounce B/obj |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (op, size, t, group, m, kv, fv, ratio, io, cache, cpu, p99, bounce, sp, fsp, _pr) in rows:
    fio_name = "fio (same file)" if group == "file" else "fio (1 file/object)"
    print(f"| {op} | {size} | {t} | {m} | {io}{' '+cache if op=='get' and cache != '-' else ''} | {kv:.3f} ({sp[0]:.2f}-{sp[1]:.2f}) | "
          f"{fv:.3f} ({fsp[0]:.2f}-{fsp[1]:.2f}) | {ratio:.2f} | {cpu:.3f} | {p99:.2f} | {bounce:.0f} |")

if checks:
    print("\n## Checking readers: fio-crc (fio's read with --verify=crc32c, every byte checked)\n")
    print("Ratios of medians; per-round median (min-max) in parentheses, each round's")
    print("runs back to back. fio-crc / fio is what checking every byte costs fio itself")
    print("in this sitting; the targets stay against the plain read.\n")
    print("| op | size | threads | mode | GB/s | fio-crc GB/s (min-max) | fio-crc / fio | mode / fio-crc |")
    print("|---|---|---|---|---|---|---|---|")
    for (op, size, t, m, kv, fv, cv, csp, prc, pcf) in checks:
        pc = f" ({med(pcf):.2f}, {min(pcf):.2f}-{max(pcf):.2f})" if pcf else ""
        pm = f" ({med(prc):.2f}, {min(prc):.2f}-{max(prc):.2f})" if prc else ""
        print(f"| {op} | {size} | {t} | {m} | {kv:.3f} | {cv:.3f} ({csp[0]:.2f}-{csp[1]:.2f}) | "
              f"{cv / fv if fv else float('nan'):.2f}{pc} | {kv / cv if cv else float('nan'):.2f}{pm} |")

print("\n## kvstore vs the designs it replaces (ratio of medians)\n")
print("| op | size | threads | raw / legacy-raw | fs / legacy-fsconn | fs / legacy-localdisk |")
print("|---|---|---|---|---|---|")
keys = sorted({(op, size, t) for (op, size, t, m) in data}, key=lambda k: (k[0] != "put", k[1], k[2]))
def ratio(k, a, b):
    va, vb = data.get(k + (a,)), data.get(k + (b,))
    return f"{va / vb:.2f}" if va and vb else "-"
for k in keys:
    print(f"| {k[0]} | {k[1]} | {k[2]} | {ratio(k, 'raw', 'legacy-raw')} | {ratio(k, 'fs', 'legacy-fsconn')} | "
          f"{ratio(k, 'fs', 'legacy-localdisk')} |")

if " legacy-localdisk " in f" {modes_dir} ":
    print("\nlegacy-localdisk puts are buffered writes with no fsync (the design it stands for), and")
    print("its files are removed after the run: its put figures are the page cache's, not the disk's.")

print("\n## Targets (issue 4)\n")
print("Verdict on the ratio of the medians; beside it the median (min-max) of the")
print("per-round ratios, each round's kvbench run over the fio run in the same round.")
print(f"Store reads: {'new handles (REOPEN=1)' if reopen == '1' else 'the writer handle (REOPEN=0)'}; "
      f"buffer memory: {mem}; {runs} rounds; filesystem: {fstype}.\n")
print("| target | case | ratio of medians | per-round ratios | met |")
print("|---|---|---|---|---|")
for (op, size, t, group, m, kv, fv, r, *_rest, pr) in rows:
    goal = None
    if m == "raw" and size_bytes(size) == 2 << 20:
        goal = 0.90
    elif m == "fs":
        goal = 0.85 if op == "get" else 0.70
    if goal is not None:
        prs = f"{med(pr):.2f} ({min(pr):.2f}-{max(pr):.2f})" if pr else "-"
        if fstype == "tmpfs":
            met = "n/a (tmpfs: memory, not a disk)"
        else:
            met = "yes" if r >= goal else "no"
            notes = []
            if runs < MIN_ROUNDS:
                notes.append(f"only {runs} rounds; a verdict needs {MIN_ROUNDS}")
            if reopen != "1" and op == "get":
                notes.append("read by the writer's handle; the targets are judged with REOPEN=1")
            if notes:
                met += " (" + "; ".join(notes) + ")"
        print(f"| {m} {op} >= {goal:.2f} x fio | {size} t{t} | {r:.3f} | {prs} | {met} |")

# chart data: one line per mode, x = size/threads case
modes = []
for (op, size, t, m) in data:
    if m not in modes:
        modes.append(m)
cases = sorted({(size, t) for (op, size, t, m) in data}, key=lambda c: (-size_bytes(c[0]), int(c[1])))
nmodes = {}
for op in ("put", "get"):
    # only the modes with a figure for this op (fio-crc runs in gets only):
    # gnuplot refuses a column of nothing but NaN
    opm = [m for m in modes if any((op, size, t, m) in data for (size, t) in cases)]
    nmodes[op] = len(opm)
    with open(os.path.join(res, f"chart-{op}.dat"), "w") as f:
        f.write("case\t" + "\t".join('"%s"' % m for m in opm) + "\n")
        for (size, t) in cases:
            vals = [data.get((op, size, t, m)) for m in opm]
            f.write(f'"{size} x{t}"\t' + "\t".join("%.4f" % v if v else "NaN" for v in vals) + "\n")
with open(os.path.join(res, "chart-modes.txt"), "w") as f:
    f.write("%d %d\n" % (nmodes["put"], nmodes["get"]))
PY

# chart: GB/s by object size and thread count, put/write and get/read
read -r NMP NMG <"$RESULTS/chart-modes.txt"
gnuplot <<GP
set terminal pngcairo size 1200,600 font ",10" noenhanced
set output "$RESULTS/chart.png"
set multiplot layout 1,2 title "kvstore vs fio and the replaced designs (median GB/s, $(nproc) CPUs, $(df -T "$WORK" | awk 'NR==2{print $2}'), $(date +%Y-%m-%d))"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "GB/s"
set yrange [0:*]
set grid ytics
set key below horizontal font ",9"
set xtics font ",9"
set title "put (fio: write)"
plot for [i=2:$((NMP + 1))] "$RESULTS/chart-put.dat" using i:xtic(1) title columnheader(i)
set title "get (fio: read)"
plot for [i=2:$((NMG + 1))] "$RESULTS/chart-get.dat" using i:xtic(1) title columnheader(i)
unset multiplot
GP
echo "results in $RESULTS (summary.md, chart.png, hyperfine exports per round)"
