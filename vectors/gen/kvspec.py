# SPDX-License-Identifier: MIT OR Unlicense
"""An independent implementation of docs/FORMAT.md (format version 1).

Written from docs/FORMAT.md alone, Python 3 standard library only. It is the
reference the vectors are generated from; kvstore.h is checked against it.
Errors are returned as the KVS_E_... result names the spec uses.
"""

import struct

FORMAT_VERSION = 1
M64 = (1 << 64) - 1

OK = "KVS_OK"
NOT_FOUND = "KVS_NOT_FOUND"


class KvsError(Exception):
    def __init__(self, name, why=""):
        Exception.__init__(self, name, why)
        self.name = name
        self.why = why


# ---------------------------------------------------------------- 1. hashes

FNV_BASIS = 0xCBF29CE484222325
FNV_PRIME = 0x00000100000001B3


def fnv1a64(data, h=FNV_BASIS):
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & M64
    return h


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_T = _crc32c_table()


def crc32c(data, crc=0):
    """CRC-32/ISCSI; crc is a previous result to continue a stream."""
    c = crc ^ 0xFFFFFFFF
    t = _CRC_T
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def crc32c_bitwise(data):
    """Bit-at-a-time form straight from the parameters, to cross-check the table."""
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    return c ^ 0xFFFFFFFF


def mix64(x):
    x &= M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


# ------------------------------------------------------------ 2. path lists

WS = b" \t\n\x0b\x0c\r"
PATHS_MAX = 64
PATH_MAX = 4095


def trim(b):
    return b.strip(WS)


def normalize_path(entry):
    """Section 2 steps 1-6 for one entry; returns bytes or raises KvsError."""
    e = trim(entry)
    if e.startswith(b"file://"):
        e = e[7:]
    if len(e) == 0:
        raise KvsError("KVS_E_EMPTY")
    for b in e:
        if b < 0x20 or b == 0x7F:
            raise KvsError("KVS_E_PATH")
    out = bytearray()
    for b in e:
        if b == 0x2F and out and out[-1] == 0x2F:
            continue
        out.append(b)
    if len(out) > 1 and out[-1] == 0x2F:
        out.pop()
    if len(out) > PATH_MAX:
        raise KvsError("KVS_E_PATH")
    return bytes(out)


def pathlist_parse(text):
    """Returns a list of normalised paths or raises KvsError."""
    if b"\x00" in text:
        raise KvsError("KVS_E_PATH")
    acc = []
    for entry in text.split(b","):
        p = normalize_path(entry)
        if len(acc) >= PATHS_MAX:
            raise KvsError("KVS_E_LIMIT")
        if p in acc:
            raise KvsError("KVS_E_DUPLICATE")
        acc.append(p)
    return acc


def path_has_prefix(path, d):
    if path == d:
        return True
    if d == b"/" and path.startswith(b"/"):
        return True
    return path.startswith(d + b"/")


# -------------------------------------------------------------- 3. sharding

RENDEZVOUS, MOD, RANK = 0, 1, 2
POLICY_NAMES = {RENDEZVOUS: "rendezvous", MOD: "mod", RANK: "rank"}
KEY_MAX = 1024


def shard_pick(policy, key, ids, rank):
    n = len(ids)
    if policy == RANK:
        return rank % n
    h = fnv1a64(key)
    if policy == MOD:
        return h % n
    best, best_i = -1, -1
    for i, ident in enumerate(ids):
        s = mix64(h ^ ident)
        if s > best:
            best, best_i = s, i
    return best_i


# ---------------------------------------------------------------- 4. TP map

TP_MAX = 1024


def _unquote_rank(r):
    if len(r) >= 2 and r[0] in b"\"'" and r[-1] == r[0]:
        return r[1:-1]
    return r


def _parse_rank(raw):
    r = _unquote_rank(trim(raw))
    if len(r) == 0 or not all(0x30 <= c <= 0x39 for c in r):
        raise KvsError("KVS_E_RANK")
    if len(r) > 1 and r[0] == 0x30:
        raise KvsError("KVS_E_RANK")
    v = int(r.decode("ascii"))
    if v >= TP_MAX:
        raise KvsError("KVS_E_LIMIT")
    return v


def _parse_tp_path(raw):
    p = trim(raw)
    if len(p) > 0 and p[0] in b"\"'":
        q = p[0]
        end = p.find(bytes([q]), 1)
        if end < 0:
            raise KvsError("KVS_E_INVAL", "unclosed quote")
        if end != len(p) - 1:
            raise KvsError("KVS_E_INVAL", "text after closing quote")
        p = p[1:end]
    return normalize_path(p)


def tpmap_parse(text, expected_world):
    """Returns paths[rank] (list of bytes) or raises KvsError."""
    t = trim(text)
    if t.startswith(b"{") or t.endswith(b"}"):
        if not (t.startswith(b"{") and t.endswith(b"}") and len(t) >= 2):
            raise KvsError("KVS_E_INVAL", "unmatched brace")
        t = t[1:-1]
    entries = []
    for piece in t.replace(b"\n", b",").split(b","):
        if len(trim(piece)) == 0:
            continue
        entries.append(piece)
    bymap = {}
    for e in entries:
        pos = [i for i in (e.find(b"="), e.find(b":")) if i >= 0]
        if not pos:
            raise KvsError("KVS_E_INVAL", "no separator")
        k = min(pos)
        rank = _parse_rank(e[:k])
        path = _parse_tp_path(e[k + 1:])
        if rank in bymap:
            raise KvsError("KVS_E_DUPLICATE")
        if path in bymap.values():
            raise KvsError("KVS_E_DUPLICATE")
        bymap[rank] = path
    if not bymap:
        raise KvsError("KVS_E_EMPTY")
    if expected_world > TP_MAX:
        raise KvsError("KVS_E_LIMIT")
    w = expected_world if expected_world else max(bymap) + 1
    if max(bymap) >= w:
        raise KvsError("KVS_E_RANK")
    for r in range(w):
        if r not in bymap:
            raise KvsError("KVS_E_RANK")
    return [bymap[r] for r in range(w)]


# ------------------------------------------------------------- 5. filenames

FSNAME_MAX = 255
_LIT = set(b"abcdefghijklmnopqrstuvwxyz0123456789_")


def _literal_ok(b, p):
    return b in _LIT or (b in (0x2E, 0x2D) and p > 0)


def escape_key(key):
    out = []
    for p, b in enumerate(key):
        if _literal_ok(b, p):
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out).encode("ascii")


def fsname_encode(key):
    """Returns (kind, name bytes); kind 'readable' or 'hashed'."""
    if len(key) < 1 or len(key) > KEY_MAX:
        raise KvsError("KVS_E_KEY")
    esc = escape_key(key)
    if len(esc) <= 252:
        return "readable", esc + b".kv"
    name = "~%016x%08x%04x.kv" % (fnv1a64(key), crc32c(key), len(key))
    return "hashed", name.encode("ascii")


def fsname_temp(writer, seq):
    return ("~t%016x%016x.tmp" % (writer, seq)).encode("ascii")


def fsname_lock_byte(name):
    """FORMAT.md 7.3: the byte of a directory's ~kvstore-pins that stands for
    the object file name (bytes): mix64(fnv1a64(name)) >> 2."""
    return mix64(fnv1a64(name)) >> 2


_LHEX = b"0123456789abcdef"
_UHEX = b"0123456789ABCDEF"


def fsname_decode(name):
    """Returns ('readable', key) / ('hashed', key_len) / ('temp', None) or raises."""
    n = len(name)
    if n == 38 and name.startswith(b"~t") and name.endswith(b".tmp"):
        if all(c in _LHEX for c in name[2:34]):
            return "temp", None
        raise KvsError("KVS_E_NAME")
    if n == 32 and name.startswith(b"~") and name.endswith(b".kv"):
        h = name[1:29]
        if all(c in _LHEX for c in h):
            klen = int(h[24:28].decode("ascii"), 16)
            if 85 <= klen <= KEY_MAX:
                return "hashed", klen
        raise KvsError("KVS_E_NAME")
    if not name.endswith(b".kv"):
        raise KvsError("KVS_E_NAME")
    body = name[:-3]
    if len(body) == 0 or len(body) > 252:
        raise KvsError("KVS_E_NAME")
    key = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        p = len(key)
        if c == 0x25:
            if i + 3 > len(body):
                raise KvsError("KVS_E_NAME")
            h1, h2 = body[i + 1], body[i + 2]
            if h1 not in _UHEX or h2 not in _UHEX:
                raise KvsError("KVS_E_NAME")
            v = int(body[i + 1:i + 3].decode("ascii"), 16)
            if _literal_ok(v, p):
                raise KvsError("KVS_E_NAME")
            key.append(v)
            i += 3
        else:
            if not _literal_ok(c, p):
                raise KvsError("KVS_E_NAME")
            key.append(c)
            i += 1
    return "readable", bytes(key)


# -------------------------------------------------------- 6. raw-block layout

ALIGN_MIN = 512
ALIGN_MAX = 1048576


def roundup(v, a):
    return (v + a - 1) // a * a


def layout_compute(device_bytes, align, meta_bytes, slot_bytes):
    """Returns a dict of derived fields or raises KvsError('KVS_E_GEOMETRY')."""
    g = "KVS_E_GEOMETRY"
    if align < ALIGN_MIN or align > ALIGN_MAX or (align & (align - 1)) != 0:
        raise KvsError(g, "align")
    if meta_bytes == 0 or meta_bytes % (2 * align) != 0 or meta_bytes // 2 < 4096:
        raise KvsError(g, "meta")
    sb_bytes = roundup(4096, align)
    slot_header_bytes = roundup(4096, align)
    if slot_bytes == 0 or slot_bytes % align != 0 or slot_bytes <= slot_header_bytes:
        raise KvsError(g, "slot")
    slots_offset = sb_bytes + meta_bytes
    if slots_offset > M64 or slots_offset + slot_bytes > M64:
        raise KvsError(g, "overflow")
    if slots_offset + slot_bytes > device_bytes:
        raise KvsError(g, "device too small")
    slot_count = (device_bytes - slots_offset) // slot_bytes
    if slot_count > 0xFFFFFFFF:
        raise KvsError(g, "slot_count")
    return {
        "sb_bytes": sb_bytes,
        "ckpt_bytes": meta_bytes // 2,
        "ckpt_offset0": sb_bytes,
        "ckpt_offset1": sb_bytes + meta_bytes // 2,
        "slots_offset": slots_offset,
        "slot_header_bytes": slot_header_bytes,
        "slot_payload_max": slot_bytes - slot_header_bytes,
        "slot_count": slot_count,
        "used_bytes": slots_offset + slot_count * slot_bytes,
    }


# ------------------------------------------------------------ 6.1 superblock

SB_BYTES = 256
SB_FIELDS = ("device_bytes", "align", "meta_bytes", "slot_bytes", "slot_count",
             "slots_offset", "tp_rank", "tp_world", "shard_policy", "flags",
             "store_id", "path_id", "created_ns")


def sb_pack(f, version=FORMAT_VERSION, record_bytes=SB_BYTES, reserved=b"\x00" * 148,
            magic=b"KVSSUPER", crc=None):
    """Raw packing with no validation (used to build hostile inputs too)."""
    b = magic + struct.pack("<II", version, record_bytes)
    b += struct.pack("<6Q", f["device_bytes"], f["align"], f["meta_bytes"], f["slot_bytes"],
                     f["slot_count"], f["slots_offset"])
    b += struct.pack("<4I", f["tp_rank"], f["tp_world"], f["shard_policy"], f["flags"])
    b += struct.pack("<3Q", f["store_id"], f["path_id"], f["created_ns"])
    b += reserved
    assert len(b) == 252
    b += struct.pack("<I", crc32c(b) if crc is None else crc)
    return b


def _sb_check_fields(f):
    if f["flags"] != 0:
        return "KVS_E_INVAL"
    if f["tp_world"] == 0 or f["tp_world"] > TP_MAX or f["tp_rank"] >= f["tp_world"]:
        return "KVS_E_INVAL"
    if f["shard_policy"] > 2 or f["store_id"] == 0:
        return "KVS_E_INVAL"
    return None


def sb_encode(f, cap=SB_BYTES):
    if cap < SB_BYTES:
        raise KvsError("KVS_E_BUFSIZE")
    bad = _sb_check_fields(f)
    if bad:
        raise KvsError(bad)
    lay = layout_compute(f["device_bytes"], f["align"], f["meta_bytes"], f["slot_bytes"])
    if lay["slot_count"] != f["slot_count"] or lay["slots_offset"] != f["slots_offset"]:
        raise KvsError("KVS_E_GEOMETRY")
    return sb_pack(f)


def sb_decode(buf):
    if len(buf) < SB_BYTES:
        raise KvsError("KVS_E_BUFSIZE")
    if buf[0:8] != b"KVSSUPER":
        raise KvsError("KVS_E_MAGIC")
    version, record_bytes = struct.unpack_from("<II", buf, 8)
    if version != FORMAT_VERSION:
        raise KvsError("KVS_E_VERSION")
    if struct.unpack_from("<I", buf, 252)[0] != crc32c(buf[0:252]):
        raise KvsError("KVS_E_CHECKSUM")
    v6 = struct.unpack_from("<6Q", buf, 16)
    v4 = struct.unpack_from("<4I", buf, 64)
    v3 = struct.unpack_from("<3Q", buf, 80)
    f = dict(zip(SB_FIELDS, v6 + v4 + v3))
    if record_bytes != SB_BYTES or f["flags"] != 0 or any(buf[104:252]):
        raise KvsError("KVS_E_CORRUPT")
    if f["tp_world"] == 0 or f["tp_world"] > TP_MAX or f["tp_rank"] >= f["tp_world"]:
        raise KvsError("KVS_E_CORRUPT")
    if f["shard_policy"] > 2 or f["store_id"] == 0:
        raise KvsError("KVS_E_CORRUPT")
    lay = layout_compute(f["device_bytes"], f["align"], f["meta_bytes"], f["slot_bytes"])
    if lay["slot_count"] != f["slot_count"] or lay["slots_offset"] != f["slots_offset"]:
        raise KvsError("KVS_E_GEOMETRY")
    return f


# ------------------------------------------------------------ 6.2 checkpoint

CK_BYTES = 64


def ck_pack(copy, seq, payload_len, payload_crc, store_id, version=FORMAT_VERSION, flags=0,
            reserved=b"\x00" * 12, magic=b"KVSCKPNT", crc=None):
    b = magic + struct.pack("<IIQQIIQ", version, copy, seq, payload_len, payload_crc, flags,
                            store_id) + reserved
    assert len(b) == 60
    return b + struct.pack("<I", crc32c(b) if crc is None else crc)


def ck_decode(buf, payload_max):
    if len(buf) < CK_BYTES:
        raise KvsError("KVS_E_BUFSIZE")
    if buf[0:8] != b"KVSCKPNT":
        raise KvsError("KVS_E_MAGIC")
    (version, copy, seq, payload_len, payload_crc, flags,
     store_id) = struct.unpack_from("<IIQQIIQ", buf, 8)
    if version != FORMAT_VERSION:
        raise KvsError("KVS_E_VERSION")
    if struct.unpack_from("<I", buf, 60)[0] != crc32c(buf[0:60]):
        raise KvsError("KVS_E_CHECKSUM")
    if copy > 1 or seq == 0 or flags != 0 or any(buf[48:60]) or store_id == 0:
        raise KvsError("KVS_E_CORRUPT")
    if payload_len > payload_max:
        raise KvsError("KVS_E_CORRUPT")
    return {"copy": copy, "seq": seq, "payload_len": payload_len, "payload_crc": payload_crc,
            "store_id": store_id}


def ck_pick(r0, h0, r1, h1):
    """r = result name, h = (copy, seq). Returns 0, 1 or None (no checkpoint)."""
    v0 = r0 == OK and h0[0] == 0
    v1 = r1 == OK and h1[0] == 1
    if v0 and v1:
        return 1 if h1[1] > h0[1] else 0
    if v0:
        return 0
    if v1:
        return 1
    return None


# --------------------------------------------------------- 6.3 object header

OBJ_FIXED = 64


def obj_pack(key, payload_len, generation, store_id, payload_offset, payload_crc,
             key_len=None, version=FORMAT_VERSION, flags=0, key_hash=None, reserved=0,
             magic=b"KVSOBJCT", crc=None):
    kl = len(key) if key_len is None else key_len
    kh = fnv1a64(key) if key_hash is None else key_hash
    b = magic + struct.pack("<HHIQQQIIQI", version, flags, kl, payload_len, generation,
                            store_id, payload_offset, payload_crc, kh, reserved)
    assert len(b) == 60
    c = crc32c(b + key) if crc is None else crc
    return b + struct.pack("<I", c) + key


def _obj_offset_ok(payload_offset, key_len):
    return (payload_offset % 512 == 0 and payload_offset >= 64 + key_len
            and payload_offset <= 1048576)


def obj_decode(buf):
    if len(buf) < OBJ_FIXED:
        raise KvsError("KVS_E_BUFSIZE")
    if buf[0:8] != b"KVSOBJCT":
        raise KvsError("KVS_E_MAGIC")
    (version, flags, key_len, payload_len, generation, store_id, payload_offset,
     payload_crc, key_hash, reserved, hcrc) = struct.unpack_from("<HHIQQQIIQII", buf, 8)
    if version != FORMAT_VERSION:
        raise KvsError("KVS_E_VERSION")
    if key_len == 0 or key_len > KEY_MAX:
        raise KvsError("KVS_E_CORRUPT")
    if len(buf) < 64 + key_len:
        raise KvsError("KVS_E_BUFSIZE")
    key = bytes(buf[64:64 + key_len])
    if hcrc != crc32c(buf[0:60] + key):
        raise KvsError("KVS_E_CHECKSUM")
    if flags != 0 or reserved != 0 or generation == 0 or store_id == 0:
        raise KvsError("KVS_E_CORRUPT")
    if not _obj_offset_ok(payload_offset, key_len):
        raise KvsError("KVS_E_CORRUPT")
    if key_hash != fnv1a64(key):
        raise KvsError("KVS_E_CORRUPT")
    return {"key_len": key_len, "payload_len": payload_len, "generation": generation,
            "store_id": store_id, "payload_offset": payload_offset,
            "payload_crc": payload_crc, "key": key}


# ------------------------------------------- 6.4 checkpoint payload: the index

IX_HDR_BYTES = 40
IX_ENT_FIXED = 32


def ix_entry_size(key_len):
    """32 + roundup(key_len, 8): the bytes one entry takes (FORMAT.md 6.4)."""
    return IX_ENT_FIXED + roundup(key_len, 8)


def ixh_pack(gen_floor, alloc_limit, slot_count, entry_count, reserved=0, magic=b"KVSINDEX"):
    """Raw packing of the 40-byte index header, no validation."""
    b = magic + struct.pack("<QQQII", gen_floor, alloc_limit, slot_count, entry_count, reserved)
    assert len(b) == IX_HDR_BYTES
    return b


def ixh_decode(buf):
    if len(buf) < IX_HDR_BYTES:
        raise KvsError("KVS_E_BUFSIZE")
    if buf[0:8] != b"KVSINDEX":
        raise KvsError("KVS_E_MAGIC")
    gen_floor, alloc_limit, slot_count, entry_count, reserved = struct.unpack_from(
        "<QQQII", buf, 8)
    if reserved != 0:
        raise KvsError("KVS_E_CORRUPT", "reserved")
    if alloc_limit > slot_count:
        raise KvsError("KVS_E_CORRUPT", "alloc_limit > slot_count")
    if entry_count > slot_count:
        raise KvsError("KVS_E_CORRUPT", "entry_count > slot_count")
    return {"gen_floor": gen_floor, "alloc_limit": alloc_limit, "slot_count": slot_count,
            "entry_count": entry_count}


def ixe_pack(slot, key, generation, payload_len, payload_crc, key_len=None, reserved=0,
             pad=None):
    """Raw packing of one index entry: fixed part, key, zero padding to 8 (or pad)."""
    kl = len(key) if key_len is None else key_len
    b = struct.pack("<IIQQII", slot, kl, generation, payload_len, payload_crc, reserved)
    assert len(b) == IX_ENT_FIXED
    b += key
    b += bytes(roundup(len(key), 8) - len(key)) if pad is None else pad
    return b


def ixe_decode(buf, slot_count):
    """One entry at the start of buf (len(buf) bytes of payload remain)."""
    if len(buf) < IX_ENT_FIXED:
        raise KvsError("KVS_E_CORRUPT", "runs past the payload")
    slot, kl, generation, payload_len, payload_crc, reserved = struct.unpack_from(
        "<IIQQII", buf, 0)
    if kl == 0 or kl > KEY_MAX:
        raise KvsError("KVS_E_CORRUPT", "key_len")
    size = ix_entry_size(kl)
    if len(buf) < size:
        raise KvsError("KVS_E_CORRUPT", "runs past the payload")
    if slot >= slot_count:
        raise KvsError("KVS_E_CORRUPT", "slot")
    if generation == 0:
        raise KvsError("KVS_E_CORRUPT", "generation")
    if reserved != 0 or any(buf[IX_ENT_FIXED + kl:size]):
        raise KvsError("KVS_E_CORRUPT", "reserved or padding")
    return {"slot": slot, "key_len": kl, "generation": generation,
            "payload_len": payload_len, "payload_crc": payload_crc,
            "key": bytes(buf[IX_ENT_FIXED:IX_ENT_FIXED + kl]), "used": size}


def ixe_encode(slot, key, generation, payload_len, payload_crc):
    """The spec names no entry-encoder refusals; only valid entries are encoded."""
    assert 1 <= len(key) <= KEY_MAX and generation != 0 and slot <= 0xFFFFFFFF
    return ixe_pack(slot, key, generation, payload_len, payload_crc)


# ---------------------------------------------------------- 7.2 path-set record

PS_FIXED = 36


def ps_size(n):
    return PS_FIXED + 8 * n


def ps_pack(n, index, policy, store_id, ids, version=FORMAT_VERSION, magic=b"KVSPATHS",
            crc=None):
    """Raw packing; n is written as given and need not equal len(ids)."""
    b = magic + struct.pack("<IIIIQ", version, n, index, policy, store_id)
    b += b"".join(struct.pack("<Q", i) for i in ids)
    return b + struct.pack("<I", crc32c(b) if crc is None else crc)


def ps_encode(n, index, policy, store_id, ids):
    """Encoder refusals (FORMAT.md 7.2): the decoder's field checks as KVS_E_INVAL,
    two equal identities KVS_E_DUPLICATE."""
    if n < 1 or n > PATHS_MAX:
        raise KvsError("KVS_E_INVAL", "n")
    assert len(ids) == n
    if index >= n or policy > 2 or store_id == 0:
        raise KvsError("KVS_E_INVAL")
    if len(set(ids)) != n:
        raise KvsError("KVS_E_DUPLICATE")
    return ps_pack(n, index, policy, store_id, ids)


def ps_decode(buf):
    if len(buf) < PS_FIXED:
        raise KvsError("KVS_E_BUFSIZE")
    if buf[0:8] != b"KVSPATHS":
        raise KvsError("KVS_E_MAGIC")
    version, n, index, policy, store_id = struct.unpack_from("<IIIIQ", buf, 8)
    if version != FORMAT_VERSION:
        raise KvsError("KVS_E_VERSION")
    if n < 1 or n > PATHS_MAX:
        raise KvsError("KVS_E_CORRUPT", "n")
    if len(buf) < ps_size(n):
        raise KvsError("KVS_E_BUFSIZE")
    end = 32 + 8 * n
    if struct.unpack_from("<I", buf, end)[0] != crc32c(buf[0:end]):
        raise KvsError("KVS_E_CHECKSUM")
    ids = list(struct.unpack_from("<%dQ" % n, buf, 32))
    if index >= n or policy > 2 or store_id == 0:
        raise KvsError("KVS_E_CORRUPT")
    if len(set(ids)) != n:
        raise KvsError("KVS_E_CORRUPT", "duplicate identity")
    return {"n": n, "index": index, "policy": policy, "store_id": store_id, "ids": ids}
