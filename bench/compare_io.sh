#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Unlicense
#
# kvstore's I/O layer (bench/kvio) against fio on the same file, in the same
# run, interleaved (kvio, fio, fio, kvio, ...: one hyperfine call per round),
# timed by hyperfine. Prints kvstore/fio throughput ratios.
#
# Throughput figures: each tool's OWN measurement of its transfer phase (fio's
# JSON bw_bytes, kvio's --json gbps), median over the timed runs. That leaves
# out process start-up and file set-up, which differ between the two programs
# (fio's start-up alone is tens of milliseconds). hyperfine's wall-clock
# medians are exported too (results dir) and a second, wall-clock ratio
# (bytes / median time) is printed next to the first for reference.
#
# Cases (each at THREADS in "1 2"):
#   direct read and write, 2 MiB and 256 KiB objects   kvio vs fio psync direct=1
#   2 MiB + 100-byte tail vs 2 MiB aligned, direct      kvio vs kvio
#   buffered read from a warm page cache, 2 MiB         kvio vs fio psync direct=0
#
# Environment: TOTAL (bytes per phase, default 1G), RUNS (default 5),
# THREADS (default "1 2"), DIR (where the test file goes, default $TMPDIR,
# or /tmp when TMPDIR is unset or empty), RESULTS (default
# bench/results/<timestamp>), KVIO (default build/kvio; rebuilt with
# $CC -std=c99 $BENCHFLAGS, default cc -O2 -march=native, when missing or
# older than its sources), ENGINE (kvio engine, default pool).
#
# Paths (DIR, RESULTS, KVIO) may hold spaces, colons, quotes or any other
# byte: every path in a command is single-quoted for hyperfine's sh. A command that fails stops the run and prints its own error
# output (every command appends it to <case>.stderr).
#
# RESULTS may be an existing directory: every case's files are removed when
# the case starts, so no case mixes sittings; files of cases this run does
# not have are left alone (summary.md covers this run's cases.txt only).
set -euo pipefail
cd "$(dirname "$0")/.."

TOTAL=${TOTAL:-1G}
RUNS=${RUNS:-5}
THREADS=${THREADS:-"1 2"}
DIR=${DIR:-${TMPDIR:-/tmp}}
ENGINE=${ENGINE:-pool}
KVIO=${KVIO:-build/kvio}
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=${RESULTS:-bench/results/$STAMP}

# tools: hyperfine, fio, python3 (scripts/deps.sh installs them as root,
# or names the Debian packages and exits 1)
if ! scripts/deps.sh bench; then
    echo "compare_io.sh: missing tools (above)" >&2
    exit 1
fi

if [ ! -x "$KVIO" ] || [ bench/kvio.c -nt "$KVIO" ] || [ bench/bench_signals.h -nt "$KVIO" ] || [ kvstore_posix.c -nt "$KVIO" ] ||
    [ kvstore.h -nt "$KVIO" ]; then
    mkdir -p "$(dirname "$KVIO")"
    # shellcheck disable=SC2086 # CC and BENCHFLAGS may hold several words
    ${CC:-cc} -std=c99 ${BENCHFLAGS:--O2 -march=native} -I. bench/kvio.c -o "$KVIO" -pthread -lm
fi

to_bytes() { numfmt --from=iec "$1"; }
TOTAL_B=$(to_bytes "$TOTAL")

# Free space: the file and, in the tail cases, its copy with 100-byte tails
# (each object then takes up to 4 KiB more), plus 64 MiB.
need=$(( 2 * (TOTAL_B + TOTAL_B / 512 + 64 * 1048576) ))
avail=$(df -B1 --output=avail "$DIR" | tail -1)
if [ "$avail" -lt "$need" ]; then
    echo "compare_io.sh: $DIR has $((avail >> 20)) MiB free; this run needs about $((need >> 20)) MiB (lower TOTAL)" >&2
    exit 2
fi
if [ "$(stat -f -c %T "$DIR" 2>/dev/null)" = tmpfs ]; then
    echo "compare_io.sh: note: $DIR is on tmpfs: the figures measure memory, not a disk (DIR=... picks another place)" >&2
fi

mkdir -p "$RESULTS"
FILE=$(mktemp "$DIR/kvs_compare_XXXXXX")
trap 'rm -f "$FILE" "$FILE.tail"' EXIT

{
    echo "machine: $(nproc) CPUs, $(uname -sr), $(awk '/MemTotal/{print $2" kB"}' /proc/meminfo)"
    echo "file system: $(df -T "$DIR" | awk 'NR==2{print $2" on "$1}')"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "hyperfine: $(hyperfine --version)  fio: $(fio --version)"
    echo "TOTAL=$TOTAL RUNS=$RUNS THREADS=\"$THREADS\" ENGINE=$ENGINE"
} | tee "$RESULTS/machine.txt"

# single-quoted for sh (hyperfine runs every command through sh -c): bash's
# printf %q writes $'...' for tabs and other bytes, which dash takes literally
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
# fio splits --filename at ':' unless escaped
fio_path() { printf '%s' "${1//:/\\:}"; }

# fio job for one case: rw, bs, threads, direct
fio_cmd() {
    local rw=$1 bs=$2 t=$3 direct=$4 out=$5
    local per=$((TOTAL_B / t))
    local bsb
    bsb=$(to_bytes "$bs")
    per=$((per / bsb * bsb))
    echo "fio --name=cmp --filename=$(q "$(fio_path "$FILE")") --ioengine=psync --direct=$direct --rw=$rw --bs=$bs" \
         "--numjobs=$t --size=$per --offset_increment=$per --group_reporting=1" \
         "--invalidate=0 --fallocate=none --create_on_open=0 --output-format=json >> $(q "$out")" \
         "2>> $(q "${out%.*}.stderr")"
}

# kvio command for one case (file: default $FILE)
kvio_cmd() {
    local mode=$1 size=$2 tail=$3 t=$4 policy=$5 out=$6 file=${7:-$FILE}
    local count=$(( TOTAL_B / $(to_bytes "$size") ))
    echo "$(q "$KVIO") --engine $ENGINE --mode $mode --size $size --tail $tail --count $count" \
         "--threads $t $policy --file $(q "$file") --json >> $(q "$out") 2>> $(q "${out%.*}.stderr")"
}

# hyperfine failed: its own output, then the commands' error output
failed() {
    cat "$1" >&2
    local e
    for e in "$RESULTS/$2".*stderr; do
        [ -s "$e" ] && { echo "compare_io.sh: $e:" >&2; tail -n 20 "$e" >&2; }
    done
    exit 1
}

# prepare: kvio writes the file with its verification stamps
prepare() {
    local size=$1 tail=$2
    local count=$(( TOTAL_B / $(to_bytes "$size") ))
    "$KVIO" --mode write --size "$size" --tail "$tail" --count "$count" --direct --file "$FILE" >/dev/null
}

# run_pair NAME CMD_A CMD_B NAME_A NAME_B: one warm-up round, then RUNS
# rounds, each one hyperfine call with --runs 1 over both commands, the order
# alternating (A B, B A, ...). hyperfine on its own runs every run of A and
# then every run of B, so slow drift of this VM's disk lands on one tool (the
# reason the first version of this script could not reach a verdict on the
# 2 MiB targets). Per-round exports: NAME.roundR.{hyperfine.json,md}; the
# rounds' times are merged into NAME.hyperfine.json for the wall-clock ratio.
run_pair() {
    local name=$1 a=$2 b=$3 an=$4 bn=$5 r
    rm -f "$RESULTS/$name".* # a reused RESULTS: nothing of an earlier sitting
    hyperfine --style basic --runs 1 -n "$an" "$a" -n "$bn" "$b" \
        >"$RESULTS/$name.warmup.txt" 2>&1 || failed "$RESULTS/$name.warmup.txt" "$name"
    for ((r = 1; r <= RUNS; r++)); do
        local -a order
        if ((r % 2)); then order=(-n "$an" "$a" -n "$bn" "$b"); else order=(-n "$bn" "$b" -n "$an" "$a"); fi
        hyperfine --style basic --runs 1 \
            --export-json "$RESULTS/$name.round$r.hyperfine.json" \
            --export-markdown "$RESULTS/$name.round$r.md" \
            "${order[@]}" >"$RESULTS/$name.round$r.hyperfine.txt" 2>&1 ||
            failed "$RESULTS/$name.round$r.hyperfine.txt" "$name"
    done
    python3 - "$RESULTS" "$name" "$RUNS" <<'MERGE'
import json, statistics, sys
res, name, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = {}
for r in range(1, runs + 1):
    for x in json.load(open(f"{res}/{name}.round{r}.hyperfine.json"))["results"]:
        times.setdefault(x["command"], []).append(x["times"][0])
out = {"results": [{"command": c, "times": t, "median": statistics.median(t), "mean": statistics.mean(t),
                    "min": min(t), "max": max(t)} for c, t in times.items()]}
json.dump(out, open(f"{res}/{name}.hyperfine.json", "w"), indent=1)
with open(f"{res}/{name}.md", "w") as f:
    f.write("| Command | Median [s] | Min [s] | Max [s] | runs (interleaved) |\n|:---|---:|---:|---:|---:|\n")
    for x in out["results"]:
        f.write(f"| `{x['command']}` | {x['median']:.3f} | {x['min']:.3f} | {x['max']:.3f} | {len(x['times'])} |\n")
MERGE
}

CASES="$RESULTS/cases.txt"
: >"$CASES"
for t in $THREADS; do
    for bs in 2M 256K; do
        prepare "$bs" 0
        n="read-$bs-t$t"
        run_pair "$n" "$(kvio_cmd read "$bs" 0 "$t" --direct "$RESULTS/$n.kvio.jsonl")" \
                      "$(fio_cmd read "$bs" "$t" 1 "$RESULTS/$n.fio.json")" kvio fio
        echo "$n fio $((TOTAL_B / $(to_bytes $bs) * $(to_bytes $bs)))" >>"$CASES"
        n="write-$bs-t$t"
        run_pair "$n" "$(kvio_cmd write "$bs" 0 "$t" --direct "$RESULTS/$n.kvio.jsonl")" \
                      "$(fio_cmd write "$bs" "$t" 1 "$RESULTS/$n.fio.json")" kvio fio
        echo "$n fio $((TOTAL_B / $(to_bytes $bs) * $(to_bytes $bs)))" >>"$CASES"
    done
    # 100-byte tail against the aligned case (kvio both times; separate files
    # would differ in layout, so each command writes/reads its own layout)
    for rw in read write; do
        n="tail-$rw-2M-t$t"
        A="$RESULTS/$n.aligned.jsonl"
        B="$RESULTS/$n.tail.jsonl"
        if [ $rw = read ]; then
            prepare 2M 100
            cp --reflink=never "$FILE" "$FILE.tail" 2>/dev/null || cp "$FILE" "$FILE.tail"
            prepare 2M 0
            run_pair "$n" "$(kvio_cmd read 2M 0 "$t" --direct "$A")" \
                "$(kvio_cmd read 2M 100 "$t" --direct "$B" "$FILE.tail")" aligned tail
        else
            run_pair "$n" "$(kvio_cmd write 2M 0 "$t" --direct "$A")" \
                "$(kvio_cmd write 2M 100 "$t" --direct "$B" "$FILE.tail")" aligned tail
        fi
        echo "$n tail 0" >>"$CASES"
    done
    rm -f "$FILE.tail"
    # buffered reads from a warm page cache (the warm-up run fills it)
    prepare 2M 0
    n="bufread-2M-t$t"
    run_pair "$n" "$(kvio_cmd read 2M 0 "$t" --buffered "$RESULTS/$n.kvio.jsonl")" \
                  "$(fio_cmd read 2M "$t" 0 "$RESULTS/$n.fio.json")" kvio fio
    echo "$n fio $((TOTAL_B / 2097152 * 2097152))" >>"$CASES"
done

python3 - "$RESULTS" "$RUNS" <<'PY' | tee "$RESULTS/summary.md"
import json, sys, statistics, os
res, runs = sys.argv[1], int(sys.argv[2])

def jsonl(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out

def fio_docs(path):
    txt = open(path).read()
    dec, i, out = json.JSONDecoder(), 0, []
    while True:
        j = txt.find('{', i)
        if j < 0:
            break
        doc, i = dec.raw_decode(txt, j)
        out.append(doc)
    return out

def fio_bw(doc):
    job = doc["jobs"][0]
    return (job["read"]["bw_bytes"] + job["write"]["bw_bytes"]) / 1e9

def hf(name):
    d = json.load(open(os.path.join(res, name + ".hyperfine.json")))
    return {r["command"]: r for r in d["results"]}

def med_last(vals):
    vals = vals[-runs:]  # drop the warm-up run
    return statistics.median(vals)

print("| case | kvstore GB/s | reference GB/s | ratio (tools' own) | ratio (hyperfine wall) | bounce B/object |")
print("|---|---|---|---|---|---|")
for line in open(os.path.join(res, "cases.txt")):
    name, kind, nbytes = line.split()
    h = hf(name)
    if kind == "fio":
        k = jsonl(os.path.join(res, name + ".kvio.jsonl"))
        f = fio_docs(os.path.join(res, name + ".fio.json"))
        kv = med_last([x["gbps"] for x in k])
        fv = med_last([fio_bw(x) for x in f])
        bounce = med_last([x["bounce_bytes_per_object"] for x in k])
        kb = k[-1]["bytes"]
        wall = (kb / h["kvio"]["median"]) / (int(nbytes) / h["fio"]["median"])
        print(f"| {name} (kvio/fio) | {kv:.3f} | {fv:.3f} | {kv / fv:.3f} | {wall:.3f} | {bounce:.1f} |")
    else:
        a = jsonl(os.path.join(res, name + ".aligned.jsonl"))
        b = jsonl(os.path.join(res, name + ".tail.jsonl"))
        av = med_last([x["gbps"] for x in a])
        bv = med_last([x["gbps"] for x in b])
        bounce = med_last([x["bounce_bytes_per_object"] for x in b])
        wall = (b[-1]["bytes"] / h["tail"]["median"]) / (a[-1]["bytes"] / h["aligned"]["median"])
        print(f"| {name} (tail/aligned) | {bv:.3f} | {av:.3f} | {bv / av:.3f} | {wall:.3f} | {bounce:.1f} |")
PY
echo "results in $RESULTS"
