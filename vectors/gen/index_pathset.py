# SPDX-License-Identifier: MIT OR Unlicense
"""index.txt and pathset.txt: the checkpoint payload (FORMAT.md 6.4) and the
path-set record (FORMAT.md 7.2)."""

import kvspec as K


def _hx(b):
    return b.hex() if len(b) else "-"


def _u32(v):
    return v.to_bytes(4, "little")


def _u64(v):
    return v.to_bytes(8, "little")


def _patch(b, off, data):
    b = bytearray(b)
    b[off:off + len(data)] = data
    return bytes(b)


# ------------------------------------------------------------------ index.txt

def gen_index(Out, Rng, GEN):
    o = Out("index.txt", "checkpoint payload: the raw store's index (FORMAT.md 6.4)", [
        "All numbers decimal.",
        "ixh_enc <gen_floor> <alloc_limit> <slot_count> <entry_count> <result> [<hex>]",
        "    kvs_index_header_encode into a 40-byte buffer; on KVS_OK the 40 bytes",
        "ixh_dec <buf-hex> <result> [<gen_floor> <alloc_limit> <slot_count> <entry_count>]",
        "    kvs_index_header_decode of the whole buffer",
        "ixe_enc <slot> <key-hex> <generation> <payload_len> <payload_crc> <result> [<hex>]",
        "    kvs_index_entry_encode; on KVS_OK the entry bytes (32 + key + zero padding to",
        "    a multiple of 8), whose length is also kvs_index_entry_size(key_len)",
        "ixe_dec <slot_count> <buf-hex> <result> [<slot> <key_len> <generation> <payload_len>",
        "    <payload_crc> <key-hex> <used>]   kvs_index_entry_decode of the entry at the",
        "    start of buf, len = the whole buffer (the payload bytes that remain)",
        "ixe_size <key_len> <bytes>   kvs_index_entry_size",
        "Decode records follow FORMAT.md's check order: the comment above each names the",
        "damage; where several checks fail at once the earlier one in the spec's order wins.",
    ])

    # ------------------------------------------------------------- header
    def ixh_enc(g, a, s, e, note=None):
        if note:
            o.c(note)
        b = K.ixh_pack(g, a, s, e)
        assert K.ixh_decode(b) == {"gen_floor": g, "alloc_limit": a, "slot_count": s,
                                   "entry_count": e}
        o.r("ixh_enc", g, a, s, e, "KVS_OK", _hx(b))
        return b

    def ixh_dec(buf, note):
        o.c(note)
        try:
            h = K.ixh_decode(buf)
        except K.KvsError as ex:
            o.r("ixh_dec", _hx(buf), ex.name)
            return
        o.r("ixh_dec", _hx(buf), "KVS_OK", h["gen_floor"], h["alloc_limit"], h["slot_count"],
            h["entry_count"])

    o.group("generated: %s (index header encodings)" % GEN)
    ixh_enc(0, 0, 1, 0, "empty index of a one-slot store")
    ixh_enc(1, 5, 100, 3)
    ixh_enc(7, 100, 100, 100, "alloc_limit = entry_count = slot_count")
    ixh_enc(K.M64, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, "largest slot_count a layout allows")
    ixh_enc(0x0102030405060708, 0x1112131415161718, 0x2122232425262728, 0x31323334,
            "distinct bytes in every field")
    rng = Rng(1001)
    for _ in range(8):
        s = 1 + rng.below(0xFFFFFFFF)
        ixh_enc(rng.u64() >> rng.below(64), rng.below(s + 1), s, rng.below(min(s, 0xFFFFFFFF) + 1))

    hb = K.ixh_pack(42, 10, 1000, 7)
    o.group("generated: %s (index header decoding, FORMAT.md 6.4 check order)" % GEN)
    ixh_dec(hb, "valid")
    ixh_dec(hb + K.ixe_pack(3, b"key", 5, 6, 7), "valid, entries following")
    ixh_dec(hb[:39], "39 bytes: KVS_E_BUFSIZE")
    ixh_dec(b"", "0 bytes")
    ixh_dec(b"X" + hb[1:39], "39 bytes and bad magic: BUFSIZE first")
    ixh_dec(_patch(hb, 0, b"KVSINDEx"), "magic")
    ixh_dec(_patch(hb, 0, b"KVSCKPNT"), "magic of another record")
    ixh_dec(bytes(40), "all zero: magic")
    ixh_dec(_patch(_patch(hb, 0, b"XVSINDEX"), 36, _u32(1)), "magic and reserved: MAGIC first")
    ixh_dec(_patch(_patch(hb, 0, b"XVSINDEX"), 16, _u64(2000)),
            "magic and alloc_limit: MAGIC first")
    for v in (1, 0x100, 0x80000000):
        ixh_dec(_patch(hb, 36, _u32(v)), "reserved = %#x" % v)
    ixh_dec(_patch(hb, 16, _u64(1001)), "alloc_limit = slot_count + 1")
    ixh_dec(_patch(hb, 16, _u64(1000)), "alloc_limit = slot_count: valid")
    ixh_dec(_patch(hb, 16, _u64(K.M64)), "alloc_limit 2^64-1")
    ixh_dec(_patch(hb, 32, _u32(1001)), "entry_count = slot_count + 1")
    ixh_dec(_patch(hb, 32, _u32(1000)), "entry_count = slot_count: valid")
    ixh_dec(_patch(hb, 32, _u32(0xFFFFFFFF)), "entry_count 2^32-1")
    ixh_dec(_patch(_patch(hb, 24, _u64(5)), 32, _u32(6)),
            "entry_count > slot_count, alloc_limit > slot_count: both CORRUPT")
    ixh_dec(_patch(_patch(hb, 36, _u32(1)), 16, _u64(2000)),
            "reserved and alloc_limit: both CORRUPT")
    ixh_dec(_patch(hb, 8, _u64(0)), "gen_floor 0: valid")
    ixh_dec(_patch(hb, 8, _u64(K.M64)), "gen_floor 2^64-1: valid")
    ixh_dec(_patch(hb, 24, _u64(K.M64)), "slot_count 2^64-1: valid (the reader compares it "
            "with the superblock's)")
    ixh_dec(_patch(_patch(hb, 24, _u64(K.M64)), 16, _u64(K.M64)),
            "alloc_limit = slot_count = 2^64-1: valid")
    ixh_dec(K.ixh_pack(0, 0, 0, 0), "all counts 0: valid (no check in 6.4 names it)")
    ixh_dec(K.ixh_pack(0, 1, 0, 0), "slot_count 0, alloc_limit 1")
    ixh_dec(K.ixh_pack(0, 0, 0, 1), "slot_count 0, entry_count 1")

    # ------------------------------------------------------------- entries
    def ixe_enc(slot, key, gen, plen, pcrc, note=None):
        if note:
            o.c(note)
        b = K.ixe_encode(slot, key, gen, plen, pcrc)
        d = K.ixe_decode(b, slot + 1)
        assert d["key"] == key and d["used"] == len(b) == K.ix_entry_size(len(key))
        o.r("ixe_enc", slot, _hx(key), gen, plen, pcrc, "KVS_OK", _hx(b))
        return b

    def ixe_dec(slot_count, buf, note):
        o.c(note)
        try:
            e = K.ixe_decode(buf, slot_count)
        except K.KvsError as ex:
            o.r("ixe_dec", slot_count, _hx(buf), ex.name)
            return
        o.r("ixe_dec", slot_count, _hx(buf), "KVS_OK", e["slot"], e["key_len"],
            e["generation"], e["payload_len"], e["payload_crc"], _hx(e["key"]), e["used"])

    o.group("generated: %s seed 1002 (index entry encodings: key lengths 1..17, 1024)" % GEN)
    rng = Rng(1002)
    for kl in list(range(1, 18)) + [1024]:
        ixe_enc(rng.below(1 << 20), rng.bytes(kl), 1 + rng.below(1 << 40), rng.below(1 << 36),
                rng.u64() & 0xFFFFFFFF, "key_len %d: %d padding bytes" %
                (kl, K.roundup(kl, 8) - kl))
    o.group("generated: %s (index entry encodings: edge values)" % GEN)
    ixe_enc(0, b"k", 1, 0, 0, "slot 0, generation 1, empty payload")
    ixe_enc(0xFFFFFFFF, b"\xff" * 8, K.M64, K.M64, 0xFFFFFFFF, "all fields at their maximum")
    ixe_enc(0x01020304, b"model@rank3@deadbeef", 0x1112131415161718, 0x2122232425262728,
            0x31323334, "distinct bytes in every field")
    ixe_enc(5, bytes(1023), 9, 4096, 0x0badf00d, "1023 zero bytes: 1 padding byte")
    ixe_enc(6, b"\x00", 2, 1, 0x12345678, "a one-byte key of 0x00")

    o.group("generated: %s (ixe_size: FORMAT.md 6.4, 32 + roundup(key_len, 8))" % GEN)
    for kl in list(range(1, 18)) + [63, 64, 65, 255, 1017, 1023, 1024]:
        o.r("ixe_size", kl, K.ix_entry_size(kl))
    o.group("API (kvstore.h declarations): kvs_index_entry_size is 0 for a bad key_len")
    for kl in (0, 1025, 0xFFFFFFFF):
        o.r("ixe_size", kl, 0)

    key = b"llama@rank1"  # 11 bytes: 5 padding bytes
    base = dict(slot=17, key=key, generation=1234, payload_len=1 << 20,
                payload_crc=0xCAFEBABE)

    def eb(**kw):
        d = dict(base)
        d.update(kw)
        return K.ixe_pack(d.pop("slot"), d.pop("key"), d.pop("generation"),
                          d.pop("payload_len"), d.pop("payload_crc"), **d)

    good = eb()
    sc = 100
    o.group("generated: %s (index entry decoding, FORMAT.md 6.4)" % GEN)
    ixe_dec(sc, good, "valid: 11-byte key, 5 padding bytes, used 48")
    ixe_dec(sc, good + K.ixe_pack(18, b"next", 1, 2, 3), "valid, another entry following")
    ixe_dec(sc, good + bytes(3), "valid, 3 stray bytes following (the reader's concern)")
    ixe_dec(sc, eb(key=b"12345678"), "valid: 8-byte key, no padding")
    ixe_dec(sc, eb(key=b"q" * 1024), "valid: 1024-byte key")
    ixe_dec(sc, eb(slot=99), "slot = slot_count - 1: valid")
    ixe_dec(K.M64, eb(slot=0xFFFFFFFF), "slot 2^32-1, slot_count 2^64-1: valid")
    o.c("runs past the payload")
    ixe_dec(sc, b"", "0 bytes")
    ixe_dec(sc, good[:31], "31 bytes: no room for the fixed part")
    ixe_dec(sc, good[:32], "fixed part only, key missing")
    ixe_dec(sc, good[:43], "key present, padding missing")
    ixe_dec(sc, good[:47], "one padding byte missing")
    ixe_dec(sc, eb(key=b"q" * 1024)[:1055], "1024-byte key, one byte short")
    ixe_dec(sc, eb(key_len=17), "key_len 17 over an 11-byte key: needs 56 bytes, has 48")
    ixe_dec(sc, eb(key_len=12), "key_len 12 over 11 key bytes + 5 zero bytes: a 12-byte key "
            "ending in 0x00, 4 padding bytes: valid")
    o.c("key_len")
    ixe_dec(sc, eb(key_len=0, key=b""), "key_len 0")
    ixe_dec(sc, eb(key_len=0), "key_len 0, key bytes following")
    ixe_dec(sc, eb(key_len=1025, key=b"q" * 1025), "key_len 1025 (with 1025 key bytes + pad)")
    ixe_dec(sc, eb(key_len=1025, key=b""), "key_len 1025, 32 bytes")
    ixe_dec(sc, eb(key_len=0xFFFFFFFF, key=b""), "key_len 2^32-1")
    o.c("slot")
    ixe_dec(sc, eb(slot=100), "slot = slot_count")
    ixe_dec(sc, eb(slot=0xFFFFFFFF), "slot 2^32-1")
    ixe_dec(0, eb(slot=0), "slot_count 0: every slot is out of range")
    o.c("generation")
    ixe_dec(sc, eb(generation=0), "generation 0")
    o.c("reserved and padding")
    for v in (1, 0x100, 0x80000000):
        ixe_dec(sc, eb(reserved=v), "reserved = %#x" % v)
    for i in range(5):
        pad = bytearray(5)
        pad[i] = 0x01 if i % 2 == 0 else 0x80
        ixe_dec(sc, eb(pad=bytes(pad)), "padding byte %d (entry byte %d) nonzero" %
                (i, 43 + i))
    ixe_dec(sc, eb(key=b"q" * 1017, pad=b"\x00" * 6 + b"\x01"),
            "1017-byte key, last padding byte nonzero")
    o.c("several problems at once (all KVS_E_CORRUPT)")
    ixe_dec(sc, eb(slot=100, generation=0, reserved=1), "slot, generation and reserved")
    ixe_dec(sc, eb(key_len=0, generation=0), "key_len 0 and generation 0")
    ixe_dec(sc, eb(slot=500)[:40], "slot out of range and runs past the payload")
    o.c("not checked by the entry decoder: payload_len, payload_crc, key bytes")
    ixe_dec(sc, eb(payload_len=0, payload_crc=0), "empty payload: valid")
    ixe_dec(sc, eb(payload_len=K.M64), "payload_len 2^64-1: valid (the reader compares it)")
    ixe_dec(sc, eb(key=bytes(11)), "key of zero bytes: valid")
    rng = Rng(1003)
    for i in range(12):
        b = bytearray(good)
        b[rng.below(len(b))] ^= 1 << rng.below(8)
        ixe_dec(sc, bytes(b), "random bit flip %d" % i)
    return o


# ---------------------------------------------------------------- pathset.txt

def gen_pathset(Out, Rng, GEN):
    o = Out("pathset.txt", "path-set record of a filesystem store directory (FORMAT.md 7.2)", [
        "n, index, policy, store_id and k decimal; identities 16 lowercase hex digits.",
        "ps_enc <n> <index> <policy> <store_id> <k> <id_0> ... <id_k-1> <result> [<hex>]",
        "    kvs_pathset_encode with count n and the k = min(n, 64) identities given, into",
        "    a buffer of kvs_pathset_size(64) bytes; on KVS_OK the 36 + 8n record bytes",
        "ps_dec <buf-hex> <result> [<n> <index> <policy> <store_id> <id_0> ... <id_n-1>]",
        "    kvs_pathset_decode of the whole buffer",
        "Decode records follow FORMAT.md's check order: the comment above each names the",
        "damage; where several checks fail at once the earlier one in the spec's order wins.",
    ])

    def ps_enc(n, index, policy, sid, ids, note=None):
        if note:
            o.c(note)
        fields = [n, index, policy, sid, len(ids)] + ["%016x" % i for i in ids]
        try:
            b = K.ps_encode(n, index, policy, sid, ids)
        except K.KvsError as ex:
            o.r("ps_enc", *(fields + [ex.name]))
            return None
        d = K.ps_decode(b)
        assert d == {"n": n, "index": index, "policy": policy, "store_id": sid, "ids": ids}
        assert len(b) == K.ps_size(n)
        o.r("ps_enc", *(fields + ["KVS_OK", _hx(b)]))
        return b

    def ps_dec(buf, note):
        o.c(note)
        try:
            d = K.ps_decode(buf)
        except K.KvsError as ex:
            o.r("ps_dec", _hx(buf), ex.name)
            return
        o.r("ps_dec", _hx(buf), "KVS_OK", d["n"], d["index"], d["policy"], d["store_id"],
            *["%016x" % i for i in d["ids"]])

    dirs = [b"/mnt/nvme%d/kv" % i for i in range(64)]
    pid = [K.fnv1a64(p) for p in dirs]
    o.group("generated: %s (path-set encodings, n = 1, 2, 64; ids = fnv1a64 of "
            "/mnt/nvme<i>/kv)" % GEN)
    ps_enc(1, 0, 0, 0x1122334455667788, pid[:1], "n = 1")
    ps_enc(2, 0, 0, 0x1122334455667788, pid[:2], "n = 2, index 0")
    ps_enc(2, 1, 1, 0x99AABBCCDDEEFF00, pid[:2], "n = 2, index 1, policy mod")
    ps_enc(2, 1, 2, 1, list(reversed(pid[:2])), "n = 2, reversed order, policy rank")
    ps_enc(64, 0, 0, K.M64, pid, "n = 64, index 0")
    ps_enc(64, 63, 2, 0x0123456789ABCDEF, pid, "n = 64, index 63")
    ps_enc(3, 2, 0, 5, [0, 1, K.M64], "identities 0, 1, 2^64-1 (7.2 names no rule on their values)")
    rng = Rng(1101)
    o.group("generated: %s seed 1101 (random path sets)" % GEN)
    for _ in range(8):
        n = 1 + rng.below(64)
        ps_enc(n, rng.below(n), rng.below(3), rng.u64() | 1, [rng.u64() for _ in range(n)])

    o.group("generated: %s (path-set encoder refusals, FORMAT.md 7.2: KVS_E_INVAL for the "
            "decoder's field checks, KVS_E_DUPLICATE for equal identities)" % GEN)
    ps_enc(0, 0, 0, 7, [], "n = 0")
    ps_enc(65, 0, 0, 7, pid, "n = 65 (the 64 identities the struct holds)")
    ps_enc(0xFFFFFFFF, 0, 0, 7, pid, "n = 2^32-1")
    ps_enc(2, 2, 0, 7, pid[:2], "index = n")
    ps_enc(1, 0xFFFFFFFF, 0, 7, pid[:1], "index 2^32-1")
    ps_enc(2, 0, 3, 7, pid[:2], "policy 3")
    ps_enc(2, 0, 0xFFFFFFFF, 7, pid[:2], "policy 2^32-1")
    ps_enc(2, 0, 0, 0, pid[:2], "store_id 0")
    ps_enc(2, 0, 0, 7, [pid[0], pid[0]], "two equal identities")
    ps_enc(3, 0, 0, 7, [pid[0], pid[1], pid[0]], "equal identities, not adjacent")
    ps_enc(64, 5, 1, 7, pid[:63] + [pid[0]], "n = 64, last equals first")
    ps_enc(2, 0, 0, 7, [0, 0], "two zero identities")

    base = dict(n=4, index=2, policy=1, store_id=0xABCDEF0123456789, ids=pid[:4])

    def pb(**kw):
        d = dict(base)
        d.update(kw)
        return K.ps_pack(d.pop("n"), d.pop("index"), d.pop("policy"), d.pop("store_id"),
                         d.pop("ids"), **d)

    good = pb()
    L = len(good)
    assert L == K.ps_size(4) == 68
    o.group("generated: %s (path-set decoding, FORMAT.md 7.2 check order)" % GEN)
    ps_dec(good, "valid, n = 4")
    ps_dec(good + b"\x00" * 4, "valid, 4 zero bytes after the record (not part of it)")
    ps_dec(good + b"\xff" * 100, "valid, 100 bytes of 0xff after the record")
    ps_dec(pb(n=1, index=0, ids=pid[:1]), "valid, n = 1 (44 bytes)")
    ps_dec(pb(n=64, index=63, ids=pid), "valid, n = 64 (548 bytes)")
    o.c("under 36 bytes")
    ps_dec(b"", "0 bytes")
    ps_dec(good[:35], "35 bytes")
    ps_dec(b"X" + good[1:35], "35 bytes and bad magic: BUFSIZE first")
    o.c("magic")
    ps_dec(pb(magic=b"KVSPATHs"), "magic")
    ps_dec(pb(magic=b"KVSINDEX"), "magic of another record")
    ps_dec(bytes(L), "all zero")
    ps_dec(pb(magic=b"XVSPATHS", version=2, n=0), "magic, version and n: MAGIC first")
    ps_dec(b"XVSPATHS" + good[8:36], "36 bytes, bad magic, n = 4: MAGIC before BUFSIZE for n")
    o.c("version")
    ps_dec(pb(version=2), "version 2")
    ps_dec(pb(version=0), "version 0")
    ps_dec(pb(version=0x100), "version 256")
    ps_dec(pb(version=2, n=0, crc=0), "version, n and CRC: VERSION first")
    o.c("n outside 1 to 64")
    ps_dec(pb(n=0, ids=[]), "n = 0 (36-byte record with a valid CRC)")
    ps_dec(pb(n=0), "n = 0, identities following")
    ps_dec(pb(n=65, ids=pid + [1]), "n = 65 with 65 identities and a valid CRC")
    ps_dec(pb(n=65, ids=[]), "n = 65, 36 bytes: CORRUPT before BUFSIZE")
    ps_dec(pb(n=0xFFFFFFFF, ids=[]), "n = 2^32-1, 36 bytes")
    o.c("under 36 + 8n bytes")
    ps_dec(good[:L - 1], "one byte short")
    ps_dec(good[:36], "36 bytes, n = 4")
    ps_dec(pb(n=64, index=63, ids=pid)[:547], "n = 64, 547 bytes")
    ps_dec(pb(crc=0)[:L - 1], "short and CRC bad: BUFSIZE first")
    ps_dec(pb(n=5), "n = 5 with 4 identities (record 4 bytes short of 76)")
    o.c("CRC")
    ps_dec(_patch(good, L - 4, _u32(K.crc32c(good[:L - 4]) ^ 1)), "CRC off by one bit")
    ps_dec(_patch(good, 40, b"\x01"), "identity byte changed, CRC stale")
    ps_dec(pb(crc=K.crc32c(good[:32])), "CRC of the fixed part only")
    ps_dec(pb(index=4, crc=0), "index = n and CRC bad: CHECKSUM first")
    ps_dec(pb(ids=[pid[0]] * 4, crc=0), "duplicates and CRC bad: CHECKSUM first")
    ps_dec(pb(n=3), "n = 3 with 4 identities: CRC read from the 4th identity")
    o.c("index >= n")
    ps_dec(pb(index=4), "index = n")
    ps_dec(pb(index=3), "index = n - 1: valid")
    ps_dec(pb(index=0xFFFFFFFF), "index 2^32-1")
    o.c("policy above 2")
    ps_dec(pb(policy=3), "policy 3")
    ps_dec(pb(policy=2), "policy 2: valid")
    ps_dec(pb(policy=0), "policy 0: valid")
    ps_dec(pb(policy=0x80000000), "policy high bit")
    o.c("store_id 0")
    ps_dec(pb(store_id=0), "store_id 0")
    ps_dec(pb(store_id=1), "store_id 1: valid")
    o.c("two equal identities")
    ps_dec(pb(ids=[pid[0], pid[0], pid[2], pid[3]]), "ids 0 and 1 equal")
    ps_dec(pb(ids=[pid[0], pid[1], pid[2], pid[0]]), "ids 0 and 3 equal")
    ps_dec(pb(ids=[7, 7, 7, 7]), "all equal")
    ps_dec(pb(ids=[0, 0, 1, 2]), "two zero identities")
    ps_dec(pb(ids=[0, 1, 2, 3]), "identities 0..3: valid")
    ps_dec(pb(n=64, index=0, ids=pid[:63] + [pid[62]]), "n = 64, last two equal")
    o.c("several CORRUPT causes at once")
    ps_dec(pb(index=9, policy=9, store_id=0, ids=[1, 1, 1, 1]), "all four")
    rng = Rng(1102)
    for i in range(12):
        b = bytearray(good)
        b[rng.below(L)] ^= 1 << rng.below(8)
        ps_dec(bytes(b), "random bit flip %d" % i)
    return o
