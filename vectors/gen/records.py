# SPDX-License-Identifier: MIT OR Unlicense
"""records.txt: superblock, checkpoint header and object header (FORMAT.md 6.1-6.3)."""

import kvspec as K

SB_COLS = K.SB_FIELDS  # 13 numbers, decimal


def gen_records(Out, Rng, GEN):
    o = Out("records.txt", "encoded records (FORMAT.md 6.1, 6.2, 6.3)", [
        "All numbers decimal. Field order of a superblock (13 numbers, 'SBF' below):",
        "    " + " ".join(SB_COLS),
        "sb_enc <cap> SBF <result> [<record-hex>]   kvs_superblock_encode into a cap-byte",
        "    buffer (format_version 1); on KVS_OK the 256 encoded bytes",
        "sb_dec <buf-hex> <result> [SBF]            kvs_superblock_decode of the whole buffer",
        "ck_enc <copy> <seq> <payload_len> <payload_crc> <store_id> <result> [<hex>]",
        "ck_dec <payload_max> <buf-hex> <result> [<copy> <seq> <payload_len> <payload_crc>",
        "    <store_id>]",
        "ck_pick <r0> <copy0> <seq0> <r1> <copy1> <seq1> <result> [<picked copy>]",
        "    r0, r1 are the decode results of copies 0 and 1 (names), the header fields",
        "    that matter follow each; result KVS_OK (with the copy) or KVS_NOT_FOUND",
        "obj_enc <key-hex> <payload_len> <generation> <store_id> <payload_offset>",
        "    <payload_crc> <result> [<hex>]   the 64 + key_len bytes the encoder writes",
        "obj_dec <buf-hex> <result> [<key_len> <payload_len> <generation> <store_id>",
        "    <payload_offset> <payload_crc> <key-hex>]",
        "Decode records follow FORMAT.md's check order: the comment above each names the",
        "damage; where several checks fail at once the earlier one in the spec's order wins.",
    ])
    hx = lambda b: b.hex() if len(b) else "-"  # noqa: E731

    # ---------------------------------------------------------- superblock
    def sbf(**kw):
        f = {"device_bytes": 1 << 30, "align": 4096, "meta_bytes": 1 << 21,
             "slot_bytes": (1 << 20) + 4096, "tp_rank": 0, "tp_world": 1, "shard_policy": 0,
             "flags": 0, "store_id": 0x1122334455667788, "path_id": 0x99AABBCCDDEEFF00,
             "created_ns": 1700000000123456789}
        f.update(kw)
        if "slot_count" not in kw or "slots_offset" not in kw:
            try:
                lay = K.layout_compute(f["device_bytes"], f["align"], f["meta_bytes"],
                                       f["slot_bytes"])
                f.setdefault("slot_count", lay["slot_count"])
                f.setdefault("slots_offset", lay["slots_offset"])
            except K.KvsError:
                f.setdefault("slot_count", 1)
                f.setdefault("slots_offset", 8192)
        return f

    def sb_enc(f, cap=256, note=None):
        if note:
            o.c(note)
        vals = [f[c] for c in SB_COLS]
        try:
            b = K.sb_encode(f, cap)
        except K.KvsError as e:
            o.r("sb_enc", cap, *vals, e.name)
            return None
        assert K.sb_decode(b) == f
        o.r("sb_enc", cap, *vals, "KVS_OK", hx(b))
        return b

    def sb_dec(buf, note):
        o.c(note)
        try:
            f = K.sb_decode(buf)
        except K.KvsError as e:
            o.r("sb_dec", hx(buf), e.name)
            return
        o.r("sb_dec", hx(buf), "KVS_OK", *[f[c] for c in SB_COLS])

    o.group("generated: %s (superblock encodings)" % GEN)
    rng = Rng(909)
    sb_enc(sbf(), note="defaults of this file")
    sb_enc(sbf(tp_rank=3, tp_world=8, shard_policy=1))
    sb_enc(sbf(tp_rank=1023, tp_world=1024, shard_policy=2))
    sb_enc(sbf(store_id=1, path_id=0, created_ns=0))
    sb_enc(sbf(store_id=K.M64, path_id=K.M64, created_ns=K.M64))
    sb_enc(sbf(device_bytes=4 << 40, align=512, meta_bytes=8192, slot_bytes=4608))
    sb_enc(sbf(device_bytes=K.M64, align=1 << 20, meta_bytes=2 << 20, slot_bytes=1 << 40))
    sb_enc(sbf(path_id=K.fnv1a64(b"/dev/nvme0n1")), cap=4096, note="larger buffer")
    for _ in range(8):
        a = 1 << (9 + rng.below(8))
        world = 1 + rng.below(1024)
        sb_enc(sbf(device_bytes=(1 << 40) + rng.below(1 << 40), align=a,
                   meta_bytes=2 * a * (4096 // a + 1 + rng.below(8)),
                   slot_bytes=a * (4096 // a + 1 + rng.below(1000)), tp_world=world,
                   tp_rank=rng.below(world), shard_policy=rng.below(3), store_id=rng.u64() | 1,
                   path_id=rng.u64(), created_ns=rng.u64() >> 1))
    o.group("generated: %s (superblock encoder refusals: FORMAT.md 6.1 last sentence)" % GEN)
    sb_enc(sbf(), cap=255, note="buffer under 256 bytes")
    sb_enc(sbf(), cap=0)
    sb_enc(sbf(flags=1), note="flags not 0")
    sb_enc(sbf(tp_world=0), note="tp_world 0")
    sb_enc(sbf(tp_world=1025), note="tp_world above 1024")
    sb_enc(sbf(tp_rank=1, tp_world=1), note="tp_rank >= tp_world")
    sb_enc(sbf(tp_rank=1024, tp_world=1024))
    sb_enc(sbf(shard_policy=3), note="shard_policy above 2")
    sb_enc(sbf(store_id=0), note="store_id 0")
    sb_enc(sbf(align=1000), note="invalid geometry")
    sb_enc(sbf(device_bytes=4096), note="device too small")
    sb_enc(sbf(slot_count=sbf()["slot_count"] + 1), note="slot_count not the derived one")
    sb_enc(sbf(slots_offset=sbf()["slots_offset"] + 4096), note="slots_offset not derived")

    good = sbf(tp_rank=2, tp_world=4, shard_policy=0)
    gb = K.sb_encode(good)

    def with_crc(b):
        b = bytearray(b[:252])
        return bytes(b) + K.crc32c(bytes(b)).to_bytes(4, "little")

    def patch(b, off, data, fix_crc=True):
        b = bytearray(b)
        b[off:off + len(data)] = data
        return with_crc(bytes(b)) if fix_crc else bytes(b)

    u32 = lambda v: v.to_bytes(4, "little")  # noqa: E731
    u64 = lambda v: v.to_bytes(8, "little")  # noqa: E731
    o.group("generated: %s (superblock decoding, FORMAT.md 6.1 check order)" % GEN)
    sb_dec(gb, "valid")
    sb_dec(gb + bytes(256), "valid, 512-byte buffer (rest of the region zero)")
    sb_dec(gb[:255], "255 bytes: KVS_E_BUFSIZE")
    sb_dec(b"", "0 bytes: KVS_E_BUFSIZE")
    sb_dec(b"XVSSUPER"[:1] + gb[1:255], "255 bytes and bad magic: KVS_E_BUFSIZE first")
    sb_dec(patch(gb, 0, b"kVSSUPER"), "magic")
    sb_dec(patch(gb, 0, b"KVSCKPNT"), "magic of another record")
    sb_dec(bytes(256), "all zero: magic")
    sb_dec(patch(gb, 0, b"XVSSUPER", False), "magic and CRC: KVS_E_MAGIC first")
    sb_dec(patch(gb, 8, u32(2)), "version 2")
    sb_dec(patch(gb, 8, u32(0)), "version 0")
    sb_dec(patch(gb, 8, u32(0x100)), "version 256")
    sb_dec(patch(gb, 8, u32(2), False), "version and CRC: KVS_E_VERSION first")
    sb_dec(patch(gb, 252, u32(K.crc32c(gb[:252]) ^ 1), False), "CRC off by one bit")
    sb_dec(patch(gb, 16, u64(good["device_bytes"] + 1), False), "field changed, CRC stale")
    sb_dec(patch(gb, 200, b"\x01", False), "reserved byte changed, CRC stale: CHECKSUM first")
    sb_dec(patch(gb, 12, u32(255), False), "record bytes changed, CRC stale")
    sb_dec(patch(gb, 12, u32(255)), "record bytes 255")
    sb_dec(patch(gb, 12, u32(4096)), "record bytes 4096")
    sb_dec(patch(gb, 76, u32(1)), "flags 1")
    sb_dec(patch(gb, 76, u32(0x80000000)), "flags high bit")
    for off in (104, 150, 251):
        sb_dec(patch(gb, off, b"\x01"), "reserved byte %d" % off)
    sb_dec(patch(gb, 68, u32(0)), "tp_world 0")
    sb_dec(patch(patch(gb, 64, u32(0), False), 68, u32(0)), "tp_rank 0, tp_world 0")
    sb_dec(patch(gb, 68, u32(1025)), "tp_world 1025")
    sb_dec(patch(patch(gb, 64, u32(1023), False), 68, u32(1024)), "tp 1023 of 1024: valid")
    sb_dec(patch(gb, 64, u32(4)), "tp_rank == tp_world")
    sb_dec(patch(gb, 64, u32(0xFFFFFFFF)), "tp_rank huge")
    sb_dec(patch(gb, 72, u32(3)), "shard_policy 3")
    sb_dec(patch(gb, 72, u32(2)), "shard_policy 2: valid")
    sb_dec(patch(gb, 80, u64(0)), "store_id 0")
    sb_dec(patch(gb, 88, u64(0)), "path_id 0: valid")
    sb_dec(patch(patch(gb, 76, u32(1), False), 24, u64(1000)),
           "flags and geometry both bad: KVS_E_CORRUPT first")
    sb_dec(patch(gb, 24, u64(1000)), "align 1000: KVS_E_GEOMETRY")
    sb_dec(patch(gb, 24, u64(0)), "align 0")
    sb_dec(patch(gb, 32, u64(4096)), "meta_bytes too small")
    sb_dec(patch(gb, 40, u64(4096)), "slot_bytes not above the header region")
    sb_dec(patch(gb, 16, u64(8192)), "device_bytes too small")
    sb_dec(patch(gb, 48, u64(good["slot_count"] + 1)), "slot_count differs")
    sb_dec(patch(gb, 48, u64(good["slot_count"] - 1)), "slot_count differs (smaller)")
    sb_dec(patch(gb, 56, u64(good["slots_offset"] + 4096)), "slots_offset differs")
    sb_dec(patch(gb, 16, u64(good["device_bytes"] + 4095)),
           "device_bytes changed but slot_count still right: valid")
    rng = Rng(910)
    for i in range(12):
        b = bytearray(gb)
        b[rng.below(256)] ^= 1 << rng.below(8)
        sb_dec(bytes(b), "random bit flip %d" % i)

    # ---------------------------------------------------------- checkpoint
    o.group("generated: %s (checkpoint header encodings)" % GEN)

    def ck_enc(copy, seq, plen, pcrc, sid):
        b = K.ck_pack(copy, seq, plen, pcrc, sid)
        assert K.ck_decode(b, K.M64)["seq"] == seq
        o.r("ck_enc", copy, seq, plen, pcrc, sid, "KVS_OK", hx(b))
        return b

    ck_enc(0, 1, 0, 0, 1)
    ck_enc(1, 2, 4096 - 64, K.crc32c(bytes(4032)), 0x1122334455667788)
    ck_enc(0, K.M64, K.M64, 0xFFFFFFFF, K.M64)
    rng = Rng(911)
    for _ in range(6):
        ck_enc(rng.below(2), 1 + rng.below(1 << 40), rng.below(1 << 30), rng.u64() & 0xFFFFFFFF,
               rng.u64() | 1)

    def ck_dec(pmax, buf, note):
        o.c(note)
        try:
            h = K.ck_decode(buf, pmax)
        except K.KvsError as e:
            o.r("ck_dec", pmax, hx(buf), e.name)
            return
        o.r("ck_dec", pmax, hx(buf), "KVS_OK", h["copy"], h["seq"], h["payload_len"],
            h["payload_crc"], h["store_id"])

    def ckfix(b):
        b = bytearray(b[:60])
        return bytes(b) + K.crc32c(bytes(b)).to_bytes(4, "little")

    def cpatch(b, off, data, fix=True):
        b = bytearray(b)
        b[off:off + len(data)] = data
        return ckfix(bytes(b)) if fix else bytes(b)

    o.group("generated: %s (checkpoint header decoding, FORMAT.md 6.2 check order)" % GEN)
    pmax = 1048576 - 64
    cb = K.ck_pack(1, 7, 1000, 0xDEADBEEF, 0x1122334455667788)
    ck_dec(pmax, cb, "valid")
    ck_dec(pmax, cb + bytes(1000), "valid, with its payload area following")
    ck_dec(pmax, cb[:63], "63 bytes")
    ck_dec(pmax, b"", "0 bytes")
    ck_dec(pmax, b"X" + cb[1:63], "63 bytes and bad magic: BUFSIZE first")
    ck_dec(pmax, cpatch(cb, 0, b"KVSCKPNt"), "magic")
    ck_dec(pmax, cpatch(cb, 0, b"KVSSUPER"), "magic of another record")
    ck_dec(pmax, bytes(64), "all zero")
    ck_dec(pmax, cpatch(cb, 0, b"XVSCKPNT", False), "magic and CRC: MAGIC first")
    ck_dec(pmax, cpatch(cb, 8, u32(2)), "version 2")
    ck_dec(pmax, cpatch(cb, 8, u32(0)), "version 0")
    ck_dec(pmax, cpatch(cb, 8, u32(2), False), "version and CRC: VERSION first")
    ck_dec(pmax, cpatch(cb, 60, u32(K.crc32c(cb[:60]) ^ 0x80000000), False), "CRC")
    ck_dec(pmax, cpatch(cb, 16, u64(8), False), "seq changed, CRC stale")
    ck_dec(pmax, cpatch(cb, 12, u32(2), False), "copy 2, CRC stale: CHECKSUM first")
    ck_dec(pmax, cpatch(cb, 12, u32(2)), "copy 2")
    ck_dec(pmax, cpatch(cb, 12, u32(0)), "copy 0: valid")
    ck_dec(pmax, cpatch(cb, 16, u64(0)), "seq 0")
    ck_dec(pmax, cpatch(cb, 36, u32(1)), "flags 1")
    for off in (48, 53, 59):
        ck_dec(pmax, cpatch(cb, off, b"\x80"), "reserved byte %d" % off)
    ck_dec(pmax, cpatch(cb, 40, u64(0)), "store_id 0")
    ck_dec(1000, cb, "payload_len == payload_max: valid")
    ck_dec(999, cb, "payload_len above payload_max")
    ck_dec(0, cpatch(cb, 24, u64(0)), "payload_len 0, payload_max 0: valid")
    ck_dec(K.M64, cpatch(cb, 24, u64(K.M64)), "payload_len 2^64-1, max 2^64-1: valid")
    ck_dec(pmax, cpatch(cpatch(cb, 12, u32(5), False), 24, u64(K.M64)),
           "copy 5 and payload_len too large: both CORRUPT")
    ck_dec(pmax, cpatch(cb, 32, u32(0)), "payload CRC is not checked here: valid")

    o.group("generated: %s (newest valid copy wins, FORMAT.md 6.2)" % GEN)
    picks = [
        ("KVS_OK", 0, 5, "KVS_OK", 1, 6), ("KVS_OK", 0, 6, "KVS_OK", 1, 5),
        ("KVS_OK", 0, 5, "KVS_OK", 1, 5), ("KVS_OK", 0, 1, "KVS_E_CHECKSUM", 1, 9),
        ("KVS_E_MAGIC", 0, 9, "KVS_OK", 1, 1), ("KVS_E_CORRUPT", 0, 0, "KVS_E_CHECKSUM", 1, 0),
        ("KVS_OK", 1, 9, "KVS_OK", 1, 3), ("KVS_OK", 0, 9, "KVS_OK", 0, 30),
        ("KVS_OK", 1, 9, "KVS_OK", 0, 30), ("KVS_OK", 0, K.M64, "KVS_OK", 1, K.M64 - 1),
        ("KVS_OK", 0, 1, "KVS_OK", 1, K.M64), ("KVS_E_VERSION", 0, 1, "KVS_E_BUFSIZE", 1, 1),
    ]
    for r0, c0, s0, r1, c1, s1 in picks:
        got = K.ck_pick(r0, (c0, s0), r1, (c1, s1))
        if got is None:
            o.r("ck_pick", r0, c0, s0, r1, c1, s1, "KVS_NOT_FOUND")
        else:
            o.r("ck_pick", r0, c0, s0, r1, c1, s1, "KVS_OK", got)

    # ------------------------------------------------------- object header
    o.group("generated: %s (object header encodings)" % GEN)

    def obj_enc(key, plen, gen, sid, poff, pcrc):
        b = K.obj_pack(key, plen, gen, sid, poff, pcrc)
        assert K.obj_decode(b)["key"] == key
        o.r("obj_enc", hx(key), plen, gen, sid, poff, pcrc, "KVS_OK", hx(b))
        return b

    obj_enc(b"k", 0, 1, 1, 512, 0)
    obj_enc(b"llama3-8b@rank0@c0ffee", 1 << 20, 3, 0x1122334455667788, 4096,
            K.crc32c(bytes(1 << 10)))
    obj_enc(b"\x00" * 448, 5, 2, 9, 512, 0x0badf00d)
    obj_enc(b"a" * 1024, K.M64, K.M64, K.M64, 1048576, 0xFFFFFFFF)
    obj_enc(b"\xff" * 1024, 100, 7, 8, 1536, 0x12345678)
    rng = Rng(912)
    for _ in range(10):
        k = rng.bytes(1 + rng.below(1024))
        poff = 512 * ((64 + len(k) + 511) // 512 + rng.below(8))
        obj_enc(k, rng.below(1 << 32), 1 + rng.below(1 << 20), rng.u64() | 1, poff,
                rng.u64() & 0xFFFFFFFF)

    def obj_dec(buf, note):
        o.c(note)
        try:
            h = K.obj_decode(buf)
        except K.KvsError as e:
            o.r("obj_dec", hx(buf), e.name)
            return
        o.r("obj_dec", hx(buf), "KVS_OK", h["key_len"], h["payload_len"], h["generation"],
            h["store_id"], h["payload_offset"], h["payload_crc"], hx(h["key"]))

    key = b"model@rank1@abc"
    base = dict(key=key, payload_len=65536, generation=5, store_id=0xABCDEF0123456789,
                payload_offset=512, payload_crc=0xCAFEBABE)

    def ob(**kw):
        d = dict(base)
        d.update(kw)
        k = d.pop("key")
        return K.obj_pack(k, d.pop("payload_len"), d.pop("generation"), d.pop("store_id"),
                          d.pop("payload_offset"), d.pop("payload_crc"), **d)

    gb = ob()
    L = 64 + len(key)
    o.group("generated: %s (object header decoding, FORMAT.md 6.3 check order)" % GEN)
    obj_dec(gb, "valid")
    obj_dec(gb + bytes(512 - L), "valid, with the zero padding up to payload_offset")
    obj_dec(gb[:63], "63 bytes")
    obj_dec(b"", "0 bytes")
    obj_dec(b"X" + gb[1:63], "63 bytes and bad magic: BUFSIZE first")
    obj_dec(ob(magic=b"KVSOBJCt"), "magic")
    obj_dec(bytes(64), "all zero")
    obj_dec(ob(magic=b"KVSOBJCX", crc=0), "magic and CRC: MAGIC first")
    obj_dec(ob(version=2), "version 2")
    obj_dec(ob(version=0), "version 0")
    obj_dec(ob(version=0x101), "version 257")
    obj_dec(ob(version=2, crc=0), "version and CRC: VERSION first")
    obj_dec(ob(key_len=0, key=b""), "key_len 0")
    obj_dec(ob(key_len=0), "key_len 0 (key bytes following)")
    obj_dec(ob(key_len=1025, key=b""), "key_len 1025, 64-byte buffer: CORRUPT before BUFSIZE")
    obj_dec(ob(key_len=0xFFFFFFFF, key=b"", crc=0), "key_len 2^32-1, CRC bad: CORRUPT first")
    obj_dec(ob(version=2, key_len=0), "version and key_len: VERSION first")
    obj_dec(gb[:L - 1], "buffer one byte short of the key")
    obj_dec(gb[:64], "buffer holds no key bytes")
    obj_dec(ob(crc=0)[:L - 1], "short and CRC bad: BUFSIZE first")
    obj_dec(ob(crc=K.crc32c(gb[:60])), "header CRC without the key")
    obj_dec(gb[:-1] + bytes([gb[-1] ^ 1]), "key byte changed, CRC stale")
    obj_dec(ob(flags=1, crc=0x12345678), "flags and CRC: CHECKSUM first")
    obj_dec(ob(flags=1), "flags 1")
    obj_dec(ob(flags=0x8000), "flags high bit")
    obj_dec(ob(reserved=1), "reserved 1")
    obj_dec(ob(reserved=0x01000000), "reserved high byte")
    obj_dec(ob(generation=0), "generation 0")
    obj_dec(ob(store_id=0), "store_id 0")
    obj_dec(ob(payload_offset=0), "payload_offset 0")
    obj_dec(ob(payload_offset=513), "payload_offset not a multiple of 512")
    obj_dec(ob(payload_offset=1024), "payload_offset 1024: valid")
    obj_dec(ob(payload_offset=1048576), "payload_offset 1048576: valid")
    obj_dec(ob(payload_offset=1048576 + 512), "payload_offset above 1048576")
    obj_dec(ob(payload_offset=0xFFFFFE00), "payload_offset huge")
    k448 = b"q" * 448
    obj_dec(ob(key=k448, payload_offset=512), "64 + key_len = 512 = payload_offset: valid")
    k449 = b"q" * 449
    obj_dec(ob(key=k449, payload_offset=512), "64 + key_len = 513 > payload_offset")
    obj_dec(ob(key=k449, payload_offset=1024), "64 + key_len = 513, payload_offset 1024: valid")
    obj_dec(ob(key_hash=K.fnv1a64(key) ^ 1), "key hash does not match")
    obj_dec(ob(key_hash=0), "key hash 0")
    obj_dec(ob(key_hash=K.fnv1a64(b"other")), "hash of another key")
    obj_dec(ob(generation=0, key_hash=0), "generation and hash: both CORRUPT")
    obj_dec(ob(payload_len=0, payload_crc=0), "empty payload: valid")
    obj_dec(ob(key=b"a" * 1024, payload_offset=1536), "1024-byte key: valid")
    obj_dec(ob(key=b"a" * 1024, payload_offset=1536)[:64 + 1023], "1024-byte key, short")
    rng = Rng(913)
    for i in range(12):
        b = bytearray(gb)
        b[rng.below(len(b))] ^= 1 << rng.below(8)
        obj_dec(bytes(b), "random bit flip %d" % i)
    return o
