/* SPDX-License-Identifier: MIT OR Unlicense */
/* Raw-block layout and records: each geometry rule of FORMAT.md 6 in order,
   overflow at huge values, random valid geometry (regions aligned, disjoint,
   inside the device), encode -> decode identity for the superblock, the
   checkpoint header and the object header, every decoder check in its
   documented order, every single-bit flip and truncation of a valid record
   rejected, random bytes never accepted, and the checkpoint pick rule. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "test_util.h"

static const uint64_t MiB = 1u << 20, GiB = 1u << 30;

static void geo_err(uint64_t dev, uint64_t align, uint64_t meta, uint64_t slot, const char *msg)
{
    kvs_layout l;
    char err[128];
    if (!CHECK_R(kvs_layout_compute(dev, align, meta, slot, &l, err, sizeof err), KVS_E_GEOMETRY))
        fprintf(stderr, "  %llu %llu %llu %llu\n", (unsigned long long)dev, (unsigned long long)align,
                (unsigned long long)meta, (unsigned long long)slot);
    else if (!CHECK(strstr(err, msg) != NULL))
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err, msg);
    CHECK(l.slot_count == 0 && l.used_bytes == 0);
}

static void test_geometry_rules(void)
{
    kvs_layout l;
    uint64_t off;
    /* rule 1 */
    geo_err(GiB, 0, MiB, MiB, "align");
    geo_err(GiB, 256, MiB, MiB, "align");
    geo_err(GiB, 768, MiB, MiB, "align");
    geo_err(GiB, 2 * MiB, 4 * MiB, 4 * MiB, "align");
    /* rule 2 */
    geo_err(GiB, 4096, 0, MiB, "meta_bytes");
    geo_err(GiB, 4096, 4096, MiB, "meta_bytes");
    geo_err(GiB, 4096, 8192 + 4096, MiB, "meta_bytes");
    geo_err(GiB, 512, 4096, MiB, "meta_bytes");
    geo_err(GiB, 512, 8192 - 1024, MiB, "meta_bytes");
    /* rule 3: a 4096-byte header region below align 4096, align above */
    geo_err(GiB, 4096, MiB, 0, "slot_bytes");
    geo_err(GiB, 4096, MiB, 4096, "slot_bytes");
    geo_err(GiB, 4096, MiB, 6144, "slot_bytes");
    geo_err(GiB, 512, MiB, 4096, "slot_bytes");
    geo_err(GiB, MiB, 2 * MiB, MiB, "slot_bytes");
    /* rule 4, with overflow */
    geo_err(4096 + 8192 + 8192 - 1, 4096, 8192, 8192, "device");
    geo_err(0, 4096, 8192, 8192, "device");
    geo_err(UINT64_MAX, 4096, UINT64_MAX - 8191, 8192, "device");
    geo_err(UINT64_MAX, 4096, 8192, UINT64_MAX - 4095, "device");
    geo_err(UINT64_MAX, 4096, 8192 * 2, UINT64_MAX - 16383, "device"); /* 4096 + 16384 + slot wraps */
    /* rule 5 */
    geo_err(UINT64_MAX, 512, 8192, 8192, "2^32");
    CHECK_R(kvs_layout_compute(4096 + 8192 + (uint64_t)UINT32_MAX * 8192, 512, 8192, 8192, &l, NULL, 0), KVS_OK);
    CHECK(l.slot_count == UINT32_MAX);
    geo_err(4096 + 8192 + ((uint64_t)UINT32_MAX + 1) * 8192, 512, 8192, 8192, "2^32");
    /* the smallest valid device, and hand-computed derived values */
    CHECK_R(kvs_layout_compute(4096 + 8192 + 8192, 4096, 8192, 8192, &l, NULL, 0), KVS_OK);
    CHECK(l.slot_count == 1 && l.used_bytes == 4096 + 8192 + 8192 && l.slot_payload_max == 4096);
    CHECK_R(kvs_layout_compute(10 * GiB + 123, 2 * MiB / 2, 4 * MiB, 32 * MiB + MiB, &l, NULL, 0), KVS_OK);
    CHECK(l.sb_bytes == MiB && l.ckpt_offset[0] == MiB && l.ckpt_bytes == 2 * MiB &&
          l.ckpt_offset[1] == 3 * MiB && l.slots_offset == 5 * MiB && l.slot_header_bytes == MiB &&
          l.slot_payload_max == 32 * MiB && l.slot_count == (10 * GiB + 123 - 5 * MiB) / (33 * MiB));
    CHECK(l.sb_offset == 0 && l.device_bytes == 10 * GiB + 123 && l.align == MiB && l.meta_bytes == 4 * MiB &&
          l.slot_bytes == 33 * MiB);
    CHECK_R(kvs_layout_slot_offset(&l, 0, &off), KVS_OK);
    CHECK(off == 5 * MiB);
    CHECK_R(kvs_layout_slot_offset(&l, l.slot_count - 1, &off), KVS_OK);
    CHECK(off + l.slot_bytes == l.used_bytes);
    CHECK_R(kvs_layout_slot_offset(&l, l.slot_count, &off), KVS_E_INVAL);
    CHECK(off == 0);
    /* err may be NULL or tiny */
    {
        char e[2] = "x";
        CHECK_R(kvs_layout_compute(0, 1, 0, 0, &l, e, 1), KVS_E_GEOMETRY);
        CHECK(e[0] == '\0');
    }
}

static void test_geometry_random(void)
{
    int iter, valid = 0;
    for (iter = 0; iter < 200000; iter++) {
        uint64_t align = (uint64_t)1 << (9 + t_below(12)), meta, slot, dev;
        kvs_layout l;
        kvs_result r;
        meta = 2 * align * (1 + t_below(64));
        slot = align * (1 + t_below(3000));
        dev = t_below(3) == 0 ? t_rand() : (t_rand() >> t_below(64)) + t_below(3) * (4096 + meta + slot);
        if (t_below(8) == 0)
            align += t_below(2) ? 1 : 512; /* sometimes nonsense */
        r = kvs_layout_compute(dev, align, meta, slot, &l, NULL, 0);
        if (r != KVS_OK) {
            CHECK_R(r, KVS_E_GEOMETRY);
            continue;
        }
        valid++;
        CHECK(kvs_is_pow2(align) && align >= 512 && align <= MiB);
        CHECK(l.sb_offset == 0 && l.sb_bytes >= KVS_SB_RECORD_BYTES && l.sb_bytes % align == 0);
        CHECK(l.ckpt_offset[0] == l.sb_bytes && l.ckpt_offset[1] == l.ckpt_offset[0] + l.ckpt_bytes);
        CHECK(l.ckpt_bytes % align == 0 && l.ckpt_bytes >= 4096);
        CHECK(l.slots_offset == l.ckpt_offset[1] + l.ckpt_bytes && l.slots_offset % align == 0);
        CHECK(l.slot_header_bytes % align == 0 && l.slot_header_bytes >= KVS_OBJHDR_REGION);
        CHECK(l.slot_payload_max > 0 && l.slot_header_bytes + l.slot_payload_max == slot);
        CHECK(l.slot_count >= 1 && l.slot_count <= UINT32_MAX);
        CHECK(l.used_bytes <= dev && dev - l.used_bytes < slot);
        CHECK(l.used_bytes == l.slots_offset + l.slot_count * slot);
        {
            uint64_t i = t_below((size_t)l.slot_count), off;
            CHECK_R(kvs_layout_slot_offset(&l, i, &off), KVS_OK);
            CHECK(off % align == 0 && off >= l.slots_offset && off + slot <= l.used_bytes);
        }
    }
    CHECK(valid > 1000);
}

static kvs_superblock sample_sb(void)
{
    kvs_superblock sb;
    kvs_layout l;
    memset(&sb, 0, sizeof sb);
    sb.format_version = KVS_FORMAT_VERSION;
    sb.device_bytes = 100 * GiB + 12345;
    sb.align = 4096;
    sb.meta_bytes = 64 * MiB;
    sb.slot_bytes = 32 * MiB + 4096;
    kvs_layout_compute(sb.device_bytes, sb.align, sb.meta_bytes, sb.slot_bytes, &l, NULL, 0);
    sb.slot_count = l.slot_count;
    sb.slots_offset = l.slots_offset;
    sb.tp_rank = 3;
    sb.tp_world = 8;
    sb.shard_policy = KVS_SHARD_MOD;
    sb.store_id = 0x1122334455667788ULL;
    sb.path_id = kvs_fnv1a64("/dev/nvme0n1", 12);
    sb.created_ns = 1767225600000000000ULL;
    return sb;
}

static void reseal(unsigned char *b, size_t crc_at)
{
    uint32_t c = kvs_crc32c(0, b, crc_at);
    b[crc_at] = (unsigned char)c;
    b[crc_at + 1] = (unsigned char)(c >> 8);
    b[crc_at + 2] = (unsigned char)(c >> 16);
    b[crc_at + 3] = (unsigned char)(c >> 24);
}

static void put32(unsigned char *b, uint32_t v)
{
    int i;
    for (i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b + 4, (uint32_t)(v >> 32));
}

/* Field by field: the structs have padding that memcmp would compare. */
static int sb_equal(const kvs_superblock *a, const kvs_superblock *b)
{
    return a->format_version == b->format_version && a->flags == b->flags &&
           a->device_bytes == b->device_bytes && a->align == b->align && a->meta_bytes == b->meta_bytes &&
           a->slot_bytes == b->slot_bytes && a->slot_count == b->slot_count &&
           a->slots_offset == b->slots_offset && a->tp_rank == b->tp_rank && a->tp_world == b->tp_world &&
           a->shard_policy == b->shard_policy && a->store_id == b->store_id && a->path_id == b->path_id &&
           a->created_ns == b->created_ns;
}

static int ckpt_equal(const kvs_ckpt_header *a, const kvs_ckpt_header *b)
{
    return a->copy == b->copy && a->seq == b->seq && a->payload_len == b->payload_len &&
           a->payload_crc == b->payload_crc && a->store_id == b->store_id;
}

static void test_superblock(void)
{
    unsigned char buf[512], b[512];
    kvs_superblock sb = sample_sb(), d, s2;
    size_t i;
    memset(buf, 0xee, sizeof buf);
    CHECK_R(kvs_superblock_encode(&sb, buf, 255), KVS_E_BUFSIZE);
    CHECK_R(kvs_superblock_encode(&sb, buf, sizeof buf), KVS_OK);
    CHECK(buf[256] == 0xee && memcmp(buf, "KVSSUPER", 8) == 0 && buf[8] == 1 && buf[12] == 0 && buf[13] == 1);
    CHECK(buf[64] == 3 && buf[68] == 8 && buf[72] == 1);
    CHECK_R(kvs_superblock_decode(buf, 256, &d), KVS_OK);
    CHECK(sb_equal(&d, &sb));
    /* encoder refusals */
    s2 = sb; s2.format_version = 2; CHECK_R(kvs_superblock_encode(&s2, b, 256), KVS_E_INVAL);
    s2 = sb; s2.flags = 1; CHECK_R(kvs_superblock_encode(&s2, b, 256), KVS_E_INVAL);
    s2 = sb; s2.tp_world = 0; CHECK_R(kvs_superblock_encode(&s2, b, 256), KVS_E_INVAL);
    s2 = sb; s2.tp_world = 1025; s2.tp_rank = 0; CHECK_R(kvs_superblock_encode(&s2, b, 256), KVS_E_INVAL);
    s2 = sb; s2.tp_rank = 8; CHECK_R(kvs_superblock_encode(&s2, b, 256), KVS_E_INVAL);
    s2 = sb; s2.shard_policy = 3; CHECK_R(kvs_superblock_encode(&s2, b, 256), KVS_E_INVAL);
    s2 = sb; s2.store_id = 0; CHECK_R(kvs_superblock_encode(&s2, b, 256), KVS_E_INVAL);
    s2 = sb; s2.slot_count++; CHECK_R(kvs_superblock_encode(&s2, b, 256), KVS_E_GEOMETRY);
    s2 = sb; s2.slots_offset += 4096; CHECK_R(kvs_superblock_encode(&s2, b, 256), KVS_E_GEOMETRY);
    s2 = sb; s2.align = 3; CHECK_R(kvs_superblock_encode(&s2, b, 256), KVS_E_GEOMETRY);
    s2 = sb; s2.tp_world = 1024; s2.tp_rank = 1023; CHECK_R(kvs_superblock_encode(&s2, b, 256), KVS_OK);
    /* decoder checks in order */
    CHECK_R(kvs_superblock_decode(buf, 255, &d), KVS_E_BUFSIZE);
    CHECK(d.store_id == 0);
    memcpy(b, buf, 256); b[0] = 'k'; CHECK_R(kvs_superblock_decode(b, 256, &d), KVS_E_MAGIC);
    memcpy(b, buf, 256); b[8] = 2; CHECK_R(kvs_superblock_decode(b, 256, &d), KVS_E_VERSION);
    memcpy(b, buf, 256); b[8] = 2; b[0] = 0; CHECK_R(kvs_superblock_decode(b, 256, &d), KVS_E_MAGIC);
    memcpy(b, buf, 256); b[200] = 1; CHECK_R(kvs_superblock_decode(b, 256, &d), KVS_E_CHECKSUM);
    {
        static const struct { size_t at; int width; uint64_t v; kvs_result want; } m[] = {
            {12, 4, 512, KVS_E_CORRUPT}, {76, 4, 1, KVS_E_CORRUPT}, {104, 4, 1, KVS_E_CORRUPT},
            {248, 4, 1u << 31, KVS_E_CORRUPT}, {68, 4, 0, KVS_E_CORRUPT}, {68, 4, 1025, KVS_E_CORRUPT},
            {64, 4, 8, KVS_E_CORRUPT}, {72, 4, 3, KVS_E_CORRUPT}, {80, 8, 0, KVS_E_CORRUPT},
            {48, 8, 1, KVS_E_GEOMETRY}, {56, 8, 0, KVS_E_GEOMETRY}, {24, 8, 4097, KVS_E_GEOMETRY},
            {16, 8, 4096, KVS_E_GEOMETRY}, {32, 8, 0, KVS_E_GEOMETRY}, {40, 8, 4096, KVS_E_GEOMETRY},
            {88, 8, 0, KVS_OK}, {96, 8, UINT64_MAX, KVS_OK},
        };
        for (i = 0; i < sizeof m / sizeof m[0]; i++) {
            memcpy(b, buf, 256);
            if (m[i].width == 4)
                put32(b + m[i].at, (uint32_t)m[i].v);
            else
                put64(b + m[i].at, m[i].v);
            reseal(b, 252);
            if (!CHECK_R(kvs_superblock_decode(b, 256, &d), m[i].want))
                fprintf(stderr, "  field at %zu\n", m[i].at);
        }
        /* CORRUPT wins over GEOMETRY */
        memcpy(b, buf, 256);
        put32(b + 76, 1);
        put64(b + 48, 1);
        reseal(b, 252);
        CHECK_R(kvs_superblock_decode(b, 256, &d), KVS_E_CORRUPT);
    }
}

static void test_ckpt(void)
{
    unsigned char buf[64], b[64];
    kvs_ckpt_header h, d, h1;
    uint32_t copy = 9;
    size_t i;
    memset(&h, 0, sizeof h);
    h.copy = 1;
    h.seq = 77;
    h.payload_len = 1000;
    h.payload_crc = 0xdeadbeef;
    h.store_id = 5;
    CHECK_R(kvs_ckpt_header_encode(&h, buf, 63), KVS_E_BUFSIZE);
    CHECK_R(kvs_ckpt_header_encode(&h, buf, 64), KVS_OK);
    CHECK(memcmp(buf, "KVSCKPNT", 8) == 0 && buf[12] == 1 && buf[16] == 77);
    CHECK_R(kvs_ckpt_header_decode(buf, 64, 1000, &d), KVS_OK);
    CHECK(ckpt_equal(&d, &h));
    CHECK_R(kvs_ckpt_header_decode(buf, 64, 999, &d), KVS_E_CORRUPT);
    CHECK_R(kvs_ckpt_header_decode(buf, 63, 1000, &d), KVS_E_BUFSIZE);
    h1 = h; h1.copy = 2; CHECK_R(kvs_ckpt_header_encode(&h1, b, 64), KVS_E_INVAL);
    h1 = h; h1.seq = 0; CHECK_R(kvs_ckpt_header_encode(&h1, b, 64), KVS_E_INVAL);
    h1 = h; h1.store_id = 0; CHECK_R(kvs_ckpt_header_encode(&h1, b, 64), KVS_E_INVAL);
    memcpy(b, buf, 64); b[7] = 'X'; CHECK_R(kvs_ckpt_header_decode(b, 64, 1000, &d), KVS_E_MAGIC);
    memcpy(b, buf, 64); b[9] = 1; CHECK_R(kvs_ckpt_header_decode(b, 64, 1000, &d), KVS_E_VERSION);
    memcpy(b, buf, 64); b[33] ^= 1; CHECK_R(kvs_ckpt_header_decode(b, 64, 1000, &d), KVS_E_CHECKSUM);
    {
        static const struct { size_t at; int width; uint64_t v; } m[] = {
            {12, 4, 2}, {16, 8, 0}, {36, 4, 1}, {48, 4, 1}, {56, 4, 1u << 24}, {40, 8, 0}, {24, 8, 1001},
        };
        for (i = 0; i < sizeof m / sizeof m[0]; i++) {
            memcpy(b, buf, 64);
            if (m[i].width == 4)
                put32(b + m[i].at, (uint32_t)m[i].v);
            else
                put64(b + m[i].at, m[i].v);
            reseal(b, 60);
            if (!CHECK_R(kvs_ckpt_header_decode(b, 64, 1000, &d), KVS_E_CORRUPT))
                fprintf(stderr, "  field at %zu\n", m[i].at);
        }
    }
    /* pick */
    {
        kvs_ckpt_header a = h, c = h;
        a.copy = 0;
        c.copy = 1;
        a.seq = 5; c.seq = 6;
        CHECK_R(kvs_ckpt_pick(KVS_OK, &a, KVS_OK, &c, &copy), KVS_OK); CHECK(copy == 1);
        a.seq = 7;
        CHECK_R(kvs_ckpt_pick(KVS_OK, &a, KVS_OK, &c, &copy), KVS_OK); CHECK(copy == 0);
        a.seq = 6;
        CHECK_R(kvs_ckpt_pick(KVS_OK, &a, KVS_OK, &c, &copy), KVS_OK); CHECK(copy == 0);
        CHECK_R(kvs_ckpt_pick(KVS_E_CHECKSUM, &a, KVS_OK, &c, &copy), KVS_OK); CHECK(copy == 1);
        CHECK_R(kvs_ckpt_pick(KVS_OK, &a, KVS_E_MAGIC, &c, &copy), KVS_OK); CHECK(copy == 0);
        CHECK_R(kvs_ckpt_pick(KVS_E_MAGIC, &a, KVS_E_CORRUPT, &c, &copy), KVS_NOT_FOUND);
        c.copy = 0; /* copy 1's region holds a header naming copy 0: invalid */
        CHECK_R(kvs_ckpt_pick(KVS_OK, &a, KVS_OK, &c, &copy), KVS_OK); CHECK(copy == 0);
        CHECK_R(kvs_ckpt_pick(KVS_E_IO, &a, KVS_OK, &c, &copy), KVS_NOT_FOUND);
        CHECK_R(kvs_ckpt_pick(KVS_OK, NULL, KVS_OK, NULL, &copy), KVS_NOT_FOUND);
    }
}

static void test_objhdr(void)
{
    unsigned char key[KVS_KEY_MAX], buf[KVS_OBJHDR_MAX_BYTES + 8], b[KVS_OBJHDR_MAX_BYTES + 8];
    kvs_objhdr h, d, h2;
    size_t n = 0, klen;
    int iter;
    for (iter = 0; iter < 2000; iter++) {
        klen = 1 + (iter < 1000 ? t_below(KVS_KEY_MAX) : t_below(40));
        t_fill(key, klen);
        memset(&h, 0, sizeof h);
        h.key_len = (uint32_t)klen;
        h.key = key;
        h.payload_len = t_rand();
        h.generation = t_rand() | 1;
        h.store_id = t_rand() | 2;
        h.payload_offset = (uint32_t)((64 + klen + 511) / 512 * 512 + 512 * t_below(3));
        h.payload_crc = (uint32_t)t_rand();
        CHECK_R(kvs_objhdr_encode(&h, buf, 64 + klen - 1, &n), KVS_E_BUFSIZE);
        CHECK_R(kvs_objhdr_encode(&h, buf, sizeof buf, &n), KVS_OK);
        CHECK(n == 64 + klen && memcmp(buf + 64, key, klen) == 0);
        CHECK_R(kvs_objhdr_decode(buf, n, &d), KVS_OK);
        CHECK(d.key == buf + 64 && d.key_len == h.key_len && d.payload_len == h.payload_len &&
              d.generation == h.generation && d.store_id == h.store_id &&
              d.payload_offset == h.payload_offset && d.payload_crc == h.payload_crc);
        CHECK_R(kvs_objhdr_decode(buf, n - 1, &d), KVS_E_BUFSIZE);
        if (iter >= 1000) {
            /* every single-bit flip and every truncation is an error */
            size_t bit, len;
            for (bit = 0; bit < 8 * n; bit++) {
                memcpy(b, buf, n);
                b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
                if (!CHECK(kvs_objhdr_decode(b, n, &d) != KVS_OK))
                    fprintf(stderr, "  bit %zu\n", bit);
            }
            for (len = 0; len < n; len++)
                CHECK(kvs_objhdr_decode(buf, len, &d) < 0);
        }
    }
    /* the key already in the output buffer, at every offset from the
       start to past the fixed fields: the same bytes as from a key apart */
    {
        size_t off;
        klen = 100;
        t_fill(key, klen);
        h.key_len = (uint32_t)klen;
        h.key = key;
        h.payload_offset = 512;
        CHECK_R(kvs_objhdr_encode(&h, b, sizeof b, &n), KVS_OK);
        for (off = 0; off <= 130; off++) {
            memset(buf, 0xee, sizeof buf);
            memcpy(buf + off, key, klen);
            h2 = h;
            h2.key = buf + off;
            CHECK_R(kvs_objhdr_encode(&h2, buf, sizeof buf, &n), KVS_OK);
            if (!CHECK(n == 64 + klen && memcmp(buf, b, n) == 0))
                fprintf(stderr, "  key at buf + %zu\n", off);
            CHECK_R(kvs_objhdr_decode(buf, n, &d), KVS_OK);
        }
    }
    /* encoder refusals */
    klen = 10;
    h.key_len = 10;
    h.payload_offset = 512;
    h2 = h; h2.key_len = 0; CHECK_R(kvs_objhdr_encode(&h2, buf, sizeof buf, &n), KVS_E_KEY);
    h2 = h; h2.key_len = KVS_KEY_MAX + 1; CHECK_R(kvs_objhdr_encode(&h2, buf, sizeof buf, &n), KVS_E_KEY);
    h2 = h; h2.generation = 0; CHECK_R(kvs_objhdr_encode(&h2, buf, sizeof buf, &n), KVS_E_INVAL);
    h2 = h; h2.store_id = 0; CHECK_R(kvs_objhdr_encode(&h2, buf, sizeof buf, &n), KVS_E_INVAL);
    h2 = h; h2.payload_offset = 0; CHECK_R(kvs_objhdr_encode(&h2, buf, sizeof buf, &n), KVS_E_INVAL);
    h2 = h; h2.payload_offset = 1000; CHECK_R(kvs_objhdr_encode(&h2, buf, sizeof buf, &n), KVS_E_INVAL);
    h2 = h; h2.payload_offset = 1048576 + 512; CHECK_R(kvs_objhdr_encode(&h2, buf, sizeof buf, &n), KVS_E_INVAL);
    h2 = h; h2.payload_offset = 1048576; CHECK_R(kvs_objhdr_encode(&h2, buf, sizeof buf, &n), KVS_OK);
    h2 = h; h2.key_len = 449; h2.payload_offset = 512; CHECK_R(kvs_objhdr_encode(&h2, buf, sizeof buf, &n), KVS_E_INVAL);
    h2 = h; h2.key_len = 448; h2.payload_offset = 512; CHECK_R(kvs_objhdr_encode(&h2, buf, sizeof buf, &n), KVS_OK);
    /* decoder checks in order */
    CHECK_R(kvs_objhdr_encode(&h, buf, sizeof buf, &n), KVS_OK);
    CHECK_R(kvs_objhdr_decode(buf, 63, &d), KVS_E_BUFSIZE);
    memcpy(b, buf, n); b[0] = 0; CHECK_R(kvs_objhdr_decode(b, n, &d), KVS_E_MAGIC);
    memcpy(b, buf, n); b[8] = 2; CHECK_R(kvs_objhdr_decode(b, n, &d), KVS_E_VERSION);
    memcpy(b, buf, n); b[9] = 1; CHECK_R(kvs_objhdr_decode(b, n, &d), KVS_E_VERSION);
    memcpy(b, buf, n); put32(b + 12, 0); CHECK_R(kvs_objhdr_decode(b, n, &d), KVS_E_CORRUPT);
    memcpy(b, buf, n); put32(b + 12, 1025); CHECK_R(kvs_objhdr_decode(b, n, &d), KVS_E_CORRUPT);
    memcpy(b, buf, n); put32(b + 12, 11); CHECK_R(kvs_objhdr_decode(b, n, &d), KVS_E_BUFSIZE);
    memcpy(b, buf, n); b[70] ^= 1; CHECK_R(kvs_objhdr_decode(b, n, &d), KVS_E_CHECKSUM);
    {
        static const struct { size_t at; int width; uint64_t v; } m[] = {
            {10, 4, 1u | (10u << 16)}, {56, 4, 1}, {24, 8, 0}, {32, 8, 0}, {40, 4, 0}, {40, 4, 513},
            {40, 4, 1048576 + 512}, {48, 8, 0},
        };
        size_t i;
        for (i = 0; i < sizeof m / sizeof m[0]; i++) {
            memcpy(b, buf, n);
            if (m[i].at == 10) {
                b[10] = 1; /* flags, u16 */
            } else if (m[i].width == 4) {
                put32(b + m[i].at, (uint32_t)m[i].v);
            } else {
                put64(b + m[i].at, m[i].v);
            }
            {
                uint32_t c = kvs_crc32c(kvs_crc32c(0, b, 60), b + 64, 10);
                put32(b + 60, c);
            }
            if (!CHECK_R(kvs_objhdr_decode(b, n, &d), KVS_E_CORRUPT))
                fprintf(stderr, "  field at %zu\n", m[i].at);
        }
    }
}

/* Random bytes, and valid records with every bit flipped, never decode. */
static void test_hostile(void)
{
    unsigned char buf[KVS_OBJHDR_MAX_BYTES + 64], b[512];
    kvs_superblock sb = sample_sb(), dsb;
    kvs_ckpt_header ch, dch;
    kvs_objhdr doh;
    size_t bit, len;
    int iter;
    for (iter = 0; iter < 20000; iter++) {
        len = t_below(sizeof buf);
        t_fill(buf, len);
        if (t_below(2) && len >= 8)
            memcpy(buf, t_below(3) == 0 ? "KVSSUPER" : t_below(2) ? "KVSCKPNT" : "KVSOBJCT", 8);
        if (t_below(2) && len >= 12)
            buf[8] = 1, buf[9] = 0, buf[10] = 0, buf[11] = 0;
        /* copy to an exact-size heap block so ASan sees any over-read */
        {
            unsigned char *h = (unsigned char *)malloc(len ? len : 1);
            memcpy(h, buf, len);
            CHECK(kvs_superblock_decode(h, len, &dsb) < 0);
            CHECK(kvs_ckpt_header_decode(h, len, UINT64_MAX, &dch) < 0);
            CHECK(kvs_objhdr_decode(h, len, &doh) < 0);
            free(h);
        }
    }
    CHECK_R(kvs_superblock_encode(&sb, b, sizeof b), KVS_OK);
    for (bit = 0; bit < 256 * 8; bit++) {
        unsigned char c[256];
        memcpy(c, b, 256);
        c[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        if (!CHECK(kvs_superblock_decode(c, 256, &dsb) < 0))
            fprintf(stderr, "  bit %zu\n", bit);
    }
    for (len = 0; len < 256; len++)
        CHECK_R(kvs_superblock_decode(b, len, &dsb), KVS_E_BUFSIZE);
    memset(&ch, 0, sizeof ch);
    ch.seq = 1;
    ch.store_id = 1;
    CHECK_R(kvs_ckpt_header_encode(&ch, b, 64), KVS_OK);
    for (bit = 0; bit < 64 * 8; bit++) {
        unsigned char c[64];
        memcpy(c, b, 64);
        c[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        CHECK(kvs_ckpt_header_decode(c, 64, UINT64_MAX, &dch) < 0);
    }
    for (len = 0; len < 64; len++)
        CHECK_R(kvs_ckpt_header_decode(b, len, 0, &dch), KVS_E_BUFSIZE);
}

int main(void)
{
    t_init("test_core_layout");
    test_geometry_rules();
    test_geometry_random();
    test_superblock();
    test_ckpt();
    test_objhdr();
    test_hostile();
    return t_done("test_core_layout");
}
