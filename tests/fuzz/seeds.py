#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Unlicense
"""Write the fuzz seed corpus from the test vectors.

    python3 tests/fuzz/seeds.py [OUT_DIR] [VECTORS_DIR]

OUT_DIR defaults to build/fuzz/corpus, VECTORS_DIR to vectors. Every
harness gets OUT_DIR/<harness>/ with one file per distinct seed, named by
the SHA-1 of its bytes (as libFuzzer names its own finds). Each seed is in
the input format of its harness (see the comment at the top of
tests/fuzz/fuzz_<harness>.c): records as they are, ckpt with 8 bytes of
payload_max first, text parsers with their mode bytes first, layout as four
little-endian u64s. Prints the count per harness. Standard library only.
"""
import hashlib
import os
import struct
import sys

HARNESSES = ["superblock", "ckpt", "objhdr", "index", "pathset", "fsname", "pathlist", "tpmap", "layout"]


def records(vdir, name):
    """Yield the field lists of every record line of vectors/<name>."""
    with open(os.path.join(vdir, name), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                yield line.split()


def hexb(s):
    return b"" if s == "-" else bytes.fromhex(s)


def u64(v):
    return struct.pack("<Q", v % (1 << 64))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/fuzz/corpus"
    vdir = sys.argv[2] if len(sys.argv) > 2 else "vectors"
    seeds = {h: set() for h in HARNESSES}

    # ---- records.txt: superblock, checkpoint, object header
    ck_ok = []
    for f in records(vdir, "records.txt"):
        kind = f[0]
        if kind == "sb_dec":
            seeds["superblock"].add(hexb(f[1]))
        elif kind == "sb_enc" and f[15] == "KVS_OK":
            seeds["superblock"].add(hexb(f[16]))
        elif kind == "ck_dec":
            seeds["ckpt"].add(u64(int(f[1])) + hexb(f[2]))
        elif kind == "ck_enc" and f[6] == "KVS_OK":
            rec = hexb(f[7])
            ck_ok.append(rec)
            seeds["ckpt"].add(u64(1 << 20) + rec)
        elif kind == "obj_dec":
            seeds["objhdr"].add(hexb(f[1]))
        elif kind == "obj_enc" and f[7] == "KVS_OK":
            seeds["objhdr"].add(hexb(f[8]))
    # both copies back to back, so kvs_ckpt_pick sees two valid headers
    for a in ck_ok:
        for b in ck_ok:
            seeds["ckpt"].add(u64((1 << 64) - 1) + a + b)

    # ---- index.txt: a whole payload per seed (header, then entries)
    def ixh(gen_floor, alloc_limit, slot_count, entry_count):
        return b"KVSINDEX" + struct.pack("<QQQII", gen_floor, alloc_limit, slot_count, entry_count, 0)

    entries = []
    for f in records(vdir, "index.txt"):
        kind = f[0]
        if kind == "ixh_dec":
            seeds["index"].add(hexb(f[1]))
        elif kind == "ixh_enc" and f[5] == "KVS_OK":
            seeds["index"].add(hexb(f[6]))
        elif kind == "ixe_dec":
            sc = int(f[1])
            seeds["index"].add(ixh(0, 0, sc, 1) + hexb(f[2]))
            seeds["index"].add(ixh(7, sc, sc, min(sc, 2)) + hexb(f[2]))
        elif kind == "ixe_enc" and f[6] == "KVS_OK":
            e = hexb(f[7])
            slot = int(f[1])
            entries.append((slot, e))
            seeds["index"].add(ixh(1, slot + 1, slot + 1, 1) + e)
    if entries:
        # every encoded entry in one payload
        sc = max(s for s, _ in entries) + 1
        seeds["index"].add(ixh(3, sc, sc, len(entries)) + b"".join(e for _, e in entries))

    # ---- pathset.txt
    for f in records(vdir, "pathset.txt"):
        if f[0] == "ps_dec":
            seeds["pathset"].add(hexb(f[1]))
        elif f[0] == "ps_enc" and f[-2] == "KVS_OK":
            seeds["pathset"].add(hexb(f[-1]))

    # ---- fsname.txt: names to decode and keys to encode (one input is both)
    for f in records(vdir, "fsname.txt"):
        if f[0] == "dec":
            seeds["fsname"].add(hexb(f[1]))
        elif f[0] == "enc":
            seeds["fsname"].add(hexb(f[1]))
            if f[2] == "KVS_OK":
                seeds["fsname"].add(f[4].encode("ascii"))
        elif f[0] == "temp":
            seeds["fsname"].add(f[3].encode("ascii"))

    # ---- pathlist.txt: byte 0 = allocator mode, then the text
    n = 0
    for f in records(vdir, "pathlist.txt"):
        if f[0] == "parse":
            text = hexb(f[1])
        elif f[0] == "norm":
            text = hexb(f[1])
        elif f[0] == "prefix":
            text = hexb(f[1]) + b"," + hexb(f[2])
        else:
            continue
        # mostly the default allocator; every mode on some records
        seeds["pathlist"].add(bytes([n % 4 if n % 5 == 0 else 1]) + text)
        n += 1

    # ---- tp_map.txt: byte 0 = allocator mode | error-buffer size,
    #      bytes 1-2 = expected_world (u16 LE), then the text
    n = 0
    for f in records(vdir, "tp_map.txt"):
        if f[0] != "tp":
            continue
        text, world = hexb(f[1]), int(f[2])
        world = min(world, 0xFFFF)  # the harness reads a u16; above 1024 all alike (KVS_E_LIMIT)
        mode = (n % 4) | ((n // 4) % 4) << 2
        seeds["tpmap"].add(bytes([mode]) + struct.pack("<H", world) + text)
        n += 1

    # ---- layout.txt: four u64s
    for f in records(vdir, "layout.txt"):
        if f[0] == "layout":
            vals = [int(x) for x in f[1:5]]
            seeds["layout"].add(b"".join(u64(v) for v in vals))
            seeds["layout"].add(b"".join(u64(v) for v in vals) + u64(0xFFFFFFFF))

    for h in HARNESSES:
        d = os.path.join(out, h)
        os.makedirs(d, exist_ok=True)
        for s in seeds[h]:
            with open(os.path.join(d, hashlib.sha1(s).hexdigest()), "wb") as fh:
                fh.write(s)
        if not seeds[h]:
            sys.exit("seeds.py: no seeds for %s (vectors missing?)" % h)
        print("seeds: %-10s %5d" % (h, len(seeds[h])))


if __name__ == "__main__":
    main()
