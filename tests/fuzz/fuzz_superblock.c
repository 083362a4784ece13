/* SPDX-License-Identifier: MIT OR Unlicense */
/* Fuzz kvs_superblock_decode (docs/FORMAT.md 6.1).

   The input is the record. It is decoded as given and, when it holds 256
   bytes, once more with its CRC recomputed so that the fuzzer also reaches
   the checks behind the checksum. Invariants: the result is the one the
   spec's check order gives (an independent reference below); a decoded
   superblock satisfies every documented constraint, its geometry is the one
   kvs_layout_compute derives, and re-encoding it gives back the 256 input
   bytes exactly; nothing is written to *out on failure. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "fuzz_common.h"

static kvs_result ref_decode(const unsigned char *p, size_t len)
{
    uint64_t hdr, count, so;
    uint32_t rank, world;
    if (len < 256)
        return KVS_E_BUFSIZE;
    if (memcmp(p, "KVSSUPER", 8) != 0)
        return KVS_E_MAGIC;
    if (kvsfz_get32(p + 8) != 1)
        return KVS_E_VERSION;
    if (kvsfz_get32(p + 252) != kvsfz_crc(p, 252))
        return KVS_E_CHECKSUM;
    rank = kvsfz_get32(p + 64);
    world = kvsfz_get32(p + 68);
    if (kvsfz_get32(p + 12) != 256 || kvsfz_get32(p + 76) != 0 || !kvsfz_zero(p + 104, 148) || world == 0 ||
        world > 1024 || rank >= world || kvsfz_get32(p + 72) > 2 || kvsfz_get64(p + 80) == 0)
        return KVS_E_CORRUPT;
    if (!kvsfz_ref_layout(kvsfz_get64(p + 16), kvsfz_get64(p + 24), kvsfz_get64(p + 32), kvsfz_get64(p + 40), &hdr,
                          &count, &so) ||
        count != kvsfz_get64(p + 48) || so != kvsfz_get64(p + 56))
        return KVS_E_GEOMETRY;
    return KVS_OK;
}

static int sb_equal(const kvs_superblock *a, const kvs_superblock *b)
{
    return a->format_version == b->format_version && a->flags == b->flags && a->device_bytes == b->device_bytes &&
           a->align == b->align && a->meta_bytes == b->meta_bytes && a->slot_bytes == b->slot_bytes &&
           a->slot_count == b->slot_count && a->slots_offset == b->slots_offset && a->tp_rank == b->tp_rank &&
           a->tp_world == b->tp_world && a->shard_policy == b->shard_policy && a->store_id == b->store_id &&
           a->path_id == b->path_id && a->created_ns == b->created_ns;
}

static void check(const unsigned char *buf, size_t len)
{
    kvs_superblock sb, sb2, zero;
    kvs_layout l;
    unsigned char enc[KVS_SB_RECORD_BYTES];
    kvs_result r;

    memset(&zero, 0, sizeof zero);
    r = kvs_superblock_decode(buf, len, &sb);
    KVSFZ_CHECK(r == ref_decode(buf, len));
    if (r != KVS_OK) {
        KVSFZ_CHECK(sb_equal(&sb, &zero));
        return;
    }
    KVSFZ_CHECK(sb.format_version == KVS_FORMAT_VERSION && sb.flags == 0);
    KVSFZ_CHECK(sb.tp_world >= 1 && sb.tp_world <= KVS_TP_MAX && sb.tp_rank < sb.tp_world);
    KVSFZ_CHECK(sb.shard_policy <= KVS_SHARD_RANK && sb.store_id != 0);
    KVSFZ_CHECK(kvs_layout_compute(sb.device_bytes, sb.align, sb.meta_bytes, sb.slot_bytes, &l, NULL, 0) == KVS_OK);
    KVSFZ_CHECK(l.slot_count == sb.slot_count && l.slots_offset == sb.slots_offset);
    KVSFZ_CHECK(l.slot_count >= 1 && l.used_bytes <= sb.device_bytes);
    /* decode -> encode is the identity on the record's 256 bytes */
    KVSFZ_CHECK(kvs_superblock_encode(&sb, enc, sizeof enc) == KVS_OK);
    KVSFZ_CHECK(memcmp(enc, buf, KVS_SB_RECORD_BYTES) == 0);
    KVSFZ_CHECK(kvs_superblock_encode(&sb, enc, sizeof enc - 1) == KVS_E_BUFSIZE);
    /* bytes after the record are not part of it; one byte short is BUFSIZE */
    KVSFZ_CHECK(kvs_superblock_decode(buf, KVS_SB_RECORD_BYTES, &sb2) == KVS_OK && sb_equal(&sb, &sb2));
    KVSFZ_CHECK(kvs_superblock_decode(buf, KVS_SB_RECORD_BYTES - 1, &sb2) == KVS_E_BUFSIZE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = kvsfz_dup(data, size);
    check(buf, size);
    if (size >= KVS_SB_RECORD_BYTES) {
        kvsfz_put32(buf + 252, kvsfz_crc(buf, 252));
        check(buf, size);
    }
    free(buf);
    return 0;
}
