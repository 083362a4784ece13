/* SPDX-License-Identifier: MIT OR Unlicense */
/* Raw-store index payload (FORMAT.md 6.4) and filesystem path-set record
   (7.2): entry sizes, hand-built byte images of each record, encode -> decode
   identity for random headers, entries (every key length 1..1024) and path
   sets (n = 1..64), every decoder check in its documented order, encoder
   refusals, every single-bit flip (path sets: always rejected; index entries,
   which have no CRC of their own: judged field by field against a reference
   decoder written from FORMAT.md), every truncation, random bytes in
   exact-size heap blocks (ASan sees any over-read), and whole payloads walked
   entry by entry. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "test_util.h"

/* Every u32 slot index is below this slot_count. */
#define SLOTS_ANY ((uint64_t)UINT32_MAX + 1)

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

static uint32_t get32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get64(const unsigned char *b)
{
    return (uint64_t)get32(b) | (uint64_t)get32(b + 4) << 32;
}

static void reseal(unsigned char *b, size_t crc_at)
{
    put32(b + crc_at, kvs_crc32c(0, b, crc_at));
}

static size_t round8(size_t n)
{
    return (n + 7) / 8 * 8;
}

static void flip(unsigned char *b, size_t bit)
{
    b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
}

/* An exact-size heap copy, so that ASan reports a read past len (len 0 gives
   a zero-size block where the allocator allows it). */
static unsigned char *heap_copy(const void *src, size_t len)
{
    unsigned char *h = (unsigned char *)malloc(len);
    if (h == NULL && len == 0)
        h = (unsigned char *)malloc(1);
    if (h == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    if (len)
        memcpy(h, src, len);
    return h;
}

static int all_byte(const unsigned char *b, size_t n, unsigned char v)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i] != v)
            return 0;
    return 1;
}

/* Random u64 that is often an edge value. */
static uint64_t rand_u64(void)
{
    uint64_t v;
    static const uint64_t edge[] = {0, 1, 2, UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX - 1, UINT64_MAX,
                                    (uint64_t)1 << 63};
    if (t_below(4) == 0)
        return edge[t_below(sizeof edge / sizeof edge[0])];
    v = t_rand();
    return v >> t_below(64);
}

static uint64_t rand_nonzero64(void)
{
    uint64_t v;
    do
        v = rand_u64();
    while (v == 0);
    return v;
}

/* Key lengths weighted toward 1..17, multiples of 8 +-1 and the maximum. */
static uint32_t pick_key_len(void)
{
    uint32_t k;
    switch (t_below(4)) {
    case 0:
        return (uint32_t)(1 + t_below(17));
    case 1:
        k = 8 * (uint32_t)(1 + t_below(128)) - 1;
        k += (uint32_t)t_below(3); /* a separate statement: same stream on every compiler */
        return k > KVS_KEY_MAX ? KVS_KEY_MAX : k;
    case 2:
        return (uint32_t)(KVS_KEY_MAX - 3 + t_below(4));
    default:
        return (uint32_t)(1 + t_below(KVS_KEY_MAX));
    }
}

/* ---------------------------------------------------------------- sizes */

static void test_sizes(void)
{
    uint32_t k;
    CHECK(KVS_INDEX_HEADER_BYTES == 40 && KVS_INDEX_ENTRY_FIXED_BYTES == 32);
    CHECK(kvs_index_entry_size(0) == 0);
    CHECK(kvs_index_entry_size(KVS_KEY_MAX + 1) == 0);
    CHECK(kvs_index_entry_size(UINT32_MAX) == 0);
    CHECK(kvs_index_entry_size(0x80000001u) == 0);
    CHECK(kvs_index_entry_size(1) == 40 && kvs_index_entry_size(8) == 40 && kvs_index_entry_size(9) == 48);
    CHECK(kvs_index_entry_size(16) == 48 && kvs_index_entry_size(17) == 56);
    CHECK(kvs_index_entry_size(KVS_KEY_MAX) == 32 + 1024);
    for (k = 1; k <= KVS_KEY_MAX; k++)
        if (!CHECK(kvs_index_entry_size(k) == 32 + round8(k)))
            fprintf(stderr, "  key_len %u\n", (unsigned)k);
    CHECK(kvs_pathset_size(0) == 36 && kvs_pathset_size(1) == 44 && kvs_pathset_size(64) == 548);
    for (k = 1; k <= KVS_PATHS_MAX; k++)
        CHECK(kvs_pathset_size(k) == 36 + 8 * (size_t)k);
    /* no record holds more: 0, where 36 + 8 * count could wrap a 32-bit
       size_t */
    CHECK(kvs_pathset_size(KVS_PATHS_MAX + 1) == 0 && kvs_pathset_size(UINT32_MAX) == 0);
    /* the CRC the path-set record is sealed with is CRC32C */
    CHECK(kvs_crc32c(0, "123456789", 9) == 0xe3069283u);
}

/* ---------------------------------------------------------------- header */

static int hdr_equal(const kvs_index_header *a, const kvs_index_header *b)
{
    return a->gen_floor == b->gen_floor && a->alloc_limit == b->alloc_limit && a->slot_count == b->slot_count &&
           a->entry_count == b->entry_count;
}

static int hdr_zero(const kvs_index_header *a)
{
    return a->gen_floor == 0 && a->alloc_limit == 0 && a->slot_count == 0 && a->entry_count == 0;
}

static kvs_index_header rand_header(void)
{
    kvs_index_header h;
    uint64_t ec_max;
    memset(&h, 0, sizeof h);
    h.slot_count = rand_u64();
    if (t_below(4) == 0)
        h.alloc_limit = h.slot_count;
    else if (h.slot_count == UINT64_MAX)
        h.alloc_limit = t_rand();
    else
        h.alloc_limit = t_rand() % (h.slot_count + 1);
    ec_max = h.slot_count < UINT32_MAX ? h.slot_count : UINT32_MAX;
    h.entry_count = (uint32_t)(t_below(4) == 0 ? ec_max : t_rand() % (ec_max + 1));
    h.gen_floor = rand_u64();
    return h;
}

static void test_header(void)
{
    static const unsigned char want[40] = {
        'K',  'V',  'S',  'I',  'N',  'D',  'E',  'X',  0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
        0x07, 0x08, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x22, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x20, 0x66, 0x55, 0x44, 0x33, 0x00, 0x00, 0x00, 0x00,
    };
    unsigned char buf[64], b[64], *h;
    kvs_index_header x, d;
    size_t len, bit, i;
    int iter;

    /* a hand-built image: field offsets and byte order */
    x.gen_floor = 0x0807060504030201ULL;
    x.alloc_limit = 0x1000000000000011ULL;
    x.slot_count = 0x2000000000000022ULL;
    x.entry_count = 0x33445566u;
    memset(buf, 0xAA, sizeof buf);
    CHECK_R(kvs_index_header_encode(&x, buf, sizeof buf), KVS_OK);
    CHECK(memcmp(buf, want, 40) == 0);
    CHECK(all_byte(buf + 40, sizeof buf - 40, 0xAA)); /* writes exactly 40 bytes */
    CHECK_R(kvs_index_header_decode(want, 40, &d), KVS_OK);
    CHECK(hdr_equal(&d, &x));

    /* random valid headers: identity, exactly 40 bytes, trailing bytes ignored */
    for (iter = 0; iter < 5000; iter++) {
        x = rand_header();
        memset(buf, 0xAA, sizeof buf);
        if (!CHECK_R(kvs_index_header_encode(&x, buf, 40 + t_below(3)), KVS_OK))
            continue;
        CHECK(all_byte(buf + 40, sizeof buf - 40, 0xAA));
        CHECK(get64(buf + 8) == x.gen_floor && get64(buf + 16) == x.alloc_limit &&
              get64(buf + 24) == x.slot_count && get32(buf + 32) == x.entry_count && get32(buf + 36) == 0);
        h = heap_copy(buf, 40);
        CHECK_R(kvs_index_header_decode(h, 40, &d), KVS_OK);
        CHECK(hdr_equal(&d, &x));
        free(h);
        t_fill(buf + 40, 24);
        CHECK_R(kvs_index_header_decode(buf, 40 + t_below(25), &d), KVS_OK);
        CHECK(hdr_equal(&d, &x));
    }

    /* edges of the two relations */
    x.gen_floor = 0;
    x.slot_count = 0, x.alloc_limit = 0, x.entry_count = 0;
    CHECK_R(kvs_index_header_encode(&x, buf, 40), KVS_OK);
    CHECK_R(kvs_index_header_decode(buf, 40, &d), KVS_OK);
    CHECK(hdr_equal(&d, &x));
    x.slot_count = UINT64_MAX, x.alloc_limit = UINT64_MAX, x.entry_count = UINT32_MAX, x.gen_floor = UINT64_MAX;
    CHECK_R(kvs_index_header_encode(&x, buf, 40), KVS_OK);
    CHECK_R(kvs_index_header_decode(buf, 40, &d), KVS_OK);
    CHECK(hdr_equal(&d, &x));

    /* encoder refusals; nothing written */
    x.gen_floor = 5, x.slot_count = 100, x.alloc_limit = 100, x.entry_count = 100;
    memset(buf, 0xAA, sizeof buf);
    CHECK_R(kvs_index_header_encode(&x, buf, 39), KVS_E_BUFSIZE);
    CHECK_R(kvs_index_header_encode(&x, NULL, 0), KVS_E_BUFSIZE);
    x.alloc_limit = 101;
    CHECK_R(kvs_index_header_encode(&x, buf, sizeof buf), KVS_E_INVAL);
    x.alloc_limit = 100, x.entry_count = 101;
    CHECK_R(kvs_index_header_encode(&x, buf, sizeof buf), KVS_E_INVAL);
    x.slot_count = 0, x.alloc_limit = 0, x.entry_count = 1;
    CHECK_R(kvs_index_header_encode(&x, buf, sizeof buf), KVS_E_INVAL);
    x.slot_count = 0, x.alloc_limit = 1, x.entry_count = 0;
    CHECK_R(kvs_index_header_encode(&x, buf, sizeof buf), KVS_E_INVAL);
    CHECK(all_byte(buf, sizeof buf, 0xAA));

    /* decoder checks in order: length, magic, then the CORRUPT group */
    x.gen_floor = 7, x.slot_count = 100, x.alloc_limit = 50, x.entry_count = 10;
    CHECK_R(kvs_index_header_encode(&x, buf, 40), KVS_OK);
    CHECK_R(kvs_index_header_decode(NULL, 0, &d), KVS_E_BUFSIZE);
    for (len = 0; len < 40; len++) {
        memcpy(b, buf, 40);
        h = heap_copy(b, len);
        d.gen_floor = 9;
        CHECK_R(kvs_index_header_decode(h, len, &d), KVS_E_BUFSIZE);
        CHECK(hdr_zero(&d));
        free(h);
        b[0] = 'X', b[36] = 1; /* bad magic and reserved do not come first */
        h = heap_copy(b, len);
        CHECK_R(kvs_index_header_decode(h, len, &d), KVS_E_BUFSIZE);
        free(h);
    }
    for (i = 0; i < 8; i++) {
        memcpy(b, buf, 40);
        b[i] ^= 0x20; /* "kVSINDEX" etc. */
        put32(b + 36, 1);
        put64(b + 16, 1000); /* alloc_limit > slot_count too: magic wins */
        CHECK_R(kvs_index_header_decode(b, 40, &d), KVS_E_MAGIC);
        CHECK(hdr_zero(&d));
    }
    memcpy(b, buf, 40);
    memcpy(b, "KVSPATHS", 8);
    CHECK_R(kvs_index_header_decode(b, 40, &d), KVS_E_MAGIC);
    for (i = 36; i < 40; i++) {
        memcpy(b, buf, 40);
        b[i] = 0x80;
        CHECK_R(kvs_index_header_decode(b, 40, &d), KVS_E_CORRUPT);
        CHECK(hdr_zero(&d));
    }
    memcpy(b, buf, 40);
    put64(b + 16, 101);
    CHECK_R(kvs_index_header_decode(b, 40, &d), KVS_E_CORRUPT);
    put64(b + 16, 100);
    CHECK_R(kvs_index_header_decode(b, 40, &d), KVS_OK);
    CHECK(d.alloc_limit == 100);
    put32(b + 32, 101);
    CHECK_R(kvs_index_header_decode(b, 40, &d), KVS_E_CORRUPT);
    put32(b + 32, 100);
    CHECK_R(kvs_index_header_decode(b, 40, &d), KVS_OK);
    put64(b + 24, 99); /* shrinking slot_count breaks both relations */
    CHECK_R(kvs_index_header_decode(b, 40, &d), KVS_E_CORRUPT);
    put64(b + 24, 0), put64(b + 16, 0), put32(b + 32, 1);
    CHECK_R(kvs_index_header_decode(b, 40, &d), KVS_E_CORRUPT);
    put32(b + 32, 0);
    CHECK_R(kvs_index_header_decode(b, 40, &d), KVS_OK);
    put64(b + 8, UINT64_MAX); /* gen_floor is unconstrained */
    CHECK_R(kvs_index_header_decode(b, 40, &d), KVS_OK);
    CHECK(d.gen_floor == UINT64_MAX);

    /* every bit flip: the outcome a reading of FORMAT.md predicts */
    for (bit = 0; bit < 40 * 8; bit++) {
        kvs_result want_r;
        uint64_t al, sc;
        uint32_t ec;
        memcpy(b, buf, 40);
        flip(b, bit);
        al = get64(b + 16), sc = get64(b + 24), ec = get32(b + 32);
        if (bit / 8 < 8)
            want_r = KVS_E_MAGIC;
        else if (bit / 8 >= 36 || al > sc || ec > sc)
            want_r = KVS_E_CORRUPT;
        else
            want_r = KVS_OK;
        h = heap_copy(b, 40);
        if (!CHECK_R(kvs_index_header_decode(h, 40, &d), want_r))
            fprintf(stderr, "  bit %zu\n", bit);
        else if (want_r == KVS_OK)
            CHECK(d.gen_floor == get64(b + 8) && d.alloc_limit == al && d.slot_count == sc && d.entry_count == ec &&
                  !hdr_equal(&d, &x));
        free(h);
    }
}

/* ---------------------------------------------------------------- entries */

static int entry_equal(const kvs_index_entry *a, const kvs_index_entry *b)
{
    return a->slot == b->slot && a->key_len == b->key_len && a->generation == b->generation &&
           a->payload_len == b->payload_len && a->payload_crc == b->payload_crc &&
           memcmp(a->key, b->key, a->key_len) == 0;
}

static int entry_zero(const kvs_index_entry *a)
{
    return a->slot == 0 && a->key_len == 0 && a->generation == 0 && a->payload_len == 0 && a->payload_crc == 0 &&
           a->key == NULL;
}

/* Reference decoder for one entry, from FORMAT.md 6.4 alone: 1 and the
   fields, or 0 for KVS_E_CORRUPT. */
static int ref_entry(const unsigned char *p, size_t len, uint64_t slot_count, kvs_index_entry *e, size_t *used)
{
    uint32_t kl;
    size_t size, i;
    if (len < 32)
        return 0;
    kl = get32(p + 4);
    if (kl < 1 || kl > 1024)
        return 0;
    size = 32 + round8(kl);
    if (size > len || get32(p) >= slot_count || get64(p + 8) == 0 || get32(p + 28) != 0)
        return 0;
    for (i = 32 + kl; i < size; i++)
        if (p[i] != 0)
            return 0;
    e->slot = get32(p);
    e->key_len = kl;
    e->generation = get64(p + 8);
    e->payload_len = get64(p + 16);
    e->payload_crc = get32(p + 24);
    e->key = p + 32;
    *used = size;
    return 1;
}

static kvs_index_entry rand_entry(uint32_t key_len, uint64_t slot_count, unsigned char *key, int nonzero_key)
{
    kvs_index_entry e;
    uint32_t i;
    memset(&e, 0, sizeof e);
    e.key_len = key_len;
    e.key = key;
    t_fill(key, key_len);
    if (nonzero_key)
        for (i = 0; i < key_len; i++)
            key[i] = (unsigned char)(key[i] | 1);
    else if (t_below(8) == 0)
        memset(key + t_below(key_len), 0, 1); /* zero bytes inside a key are data */
    e.slot = (uint32_t)(slot_count >= SLOTS_ANY ? t_rand() : t_rand() % slot_count);
    if (t_below(8) == 0)
        e.slot = (uint32_t)(slot_count >= SLOTS_ANY ? UINT32_MAX : slot_count - 1);
    e.generation = t_below(3) == 0 ? (uint64_t)1 << t_below(64) : rand_nonzero64();
    e.payload_len = rand_u64();
    e.payload_crc = (uint32_t)t_rand();
    return e;
}

static void entry_roundtrip(uint32_t key_len)
{
    static unsigned char key[KVS_KEY_MAX], buf[KVS_KEY_MAX + 128];
    unsigned char *h;
    kvs_index_entry e, d;
    uint64_t slot_count = t_below(2) ? SLOTS_ANY : 1 + t_below(100000);
    size_t n = 99, size = kvs_index_entry_size(key_len), used = 99;
    e = rand_entry(key_len, slot_count, key, 0);
    memset(buf, 0xAA, sizeof buf);
    if (!CHECK_R(kvs_index_entry_encode(&e, buf, size + t_below(3), &n), KVS_OK)) {
        fprintf(stderr, "  key_len %u\n", (unsigned)key_len);
        return;
    }
    CHECK(n == size && size == 32 + round8(key_len));
    CHECK(buf[size] == 0xAA); /* writes exactly size bytes */
    CHECK(get32(buf) == e.slot && get32(buf + 4) == key_len && get64(buf + 8) == e.generation &&
          get64(buf + 16) == e.payload_len && get32(buf + 24) == e.payload_crc && get32(buf + 28) == 0 &&
          memcmp(buf + 32, key, key_len) == 0 && all_byte(buf + 32 + key_len, size - 32 - key_len, 0));
    h = heap_copy(buf, size);
    if (CHECK_R(kvs_index_entry_decode(h, size, slot_count, &d, &used), KVS_OK))
        CHECK(entry_equal(&d, &e) && d.key == h + 32 && used == size);
    free(h);
    /* more payload after it: only this entry is consumed */
    t_fill(buf + size, 40);
    CHECK_R(kvs_index_entry_decode(buf, size + 1 + t_below(40), slot_count, &d, &used), KVS_OK);
    CHECK(entry_equal(&d, &e) && used == size);
}

/* Every bit of one exact-size entry, flipped in place. */
static void entry_flips(uint32_t key_len, int pow2_gen)
{
    unsigned char key[KVS_KEY_MAX], *h;
    kvs_index_entry e, d, r;
    size_t n, size = kvs_index_entry_size(key_len), bit, used, rused;
    int ok_r;
    e = rand_entry(key_len, SLOTS_ANY, key, 1);
    e.generation = pow2_gen ? (uint64_t)1 << t_below(64) : (t_rand() | 3);
    h = (unsigned char *)malloc(size);
    if (h == NULL)
        exit(2);
    CHECK_R(kvs_index_entry_encode(&e, h, size, &n), KVS_OK);
    for (bit = 0; bit < 8 * size; bit++) {
        size_t at = bit / 8;
        kvs_result got;
        flip(h, bit);
        got = kvs_index_entry_decode(h, size, SLOTS_ANY, &d, &used);
        ok_r = ref_entry(h, size, SLOTS_ANY, &r, &rused);
        if (!CHECK_R(got, ok_r ? KVS_OK : KVS_E_CORRUPT))
            fprintf(stderr, "  key_len %u bit %zu\n", (unsigned)key_len, bit);
        else if (got == KVS_OK)
            CHECK(entry_equal(&d, &r) && d.key == h + 32 && used == rused && used <= size);
        else
            CHECK(entry_zero(&d) && used == 0);
        /* what each region's flip must do */
        if (at >= 28 && at < 32) {
            CHECK_R(got, KVS_E_CORRUPT); /* reserved */
        } else if (at >= 32 + key_len) {
            CHECK_R(got, KVS_E_CORRUPT); /* padding */
        } else if (at >= 4 && at < 8) {
            /* key_len (the key's bytes are all nonzero): a growth past the
               8-byte round runs past len, and a shrink that leaves key bytes
               where padding would be is caught. Two flips do decode, and
               only the checkpoint's payload CRC can catch them: a growth
               inside the round (the zero padding becomes key), and a shrink
               to a multiple of 8 (no padding to check; the entry is shorter
               and the bytes after it are left for the next entry). */
            uint32_t k2 = key_len ^ (uint32_t)(1u << (bit - 32));
            int survive = k2 >= 1 && k2 <= KVS_KEY_MAX && round8(k2) <= round8(key_len) &&
                          (k2 > key_len || k2 % 8 == 0);
            if (!CHECK_R(got, survive ? KVS_OK : KVS_E_CORRUPT))
                fprintf(stderr, "  key_len %u -> %u\n", (unsigned)key_len, (unsigned)k2);
            else if (survive)
                CHECK(d.key_len == k2 && used == 32 + round8(k2));
        } else if (at >= 8 && at < 16) {
            if (get64(h + 8) == 0)
                CHECK_R(got, KVS_E_CORRUPT);
            else if (CHECK_R(got, KVS_OK))
                CHECK(d.generation != e.generation && d.slot == e.slot && d.payload_len == e.payload_len);
        } else if (CHECK_R(got, KVS_OK)) {
            /* slot (any u32 is below SLOTS_ANY), payload_len, crc, key bytes */
            CHECK(d.key_len == key_len && used == size && !entry_equal(&d, &e));
            CHECK((d.slot != e.slot) + (d.payload_len != e.payload_len) + (d.payload_crc != e.payload_crc) +
                      (memcmp(d.key, e.key, key_len) != 0) ==
                  1);
        }
        flip(h, bit);
    }
    /* slot flips against a small slot_count: above it is CORRUPT */
    for (bit = 0; bit < 32; bit++) {
        uint64_t sc = (uint64_t)e.slot + 1;
        flip(h, bit);
        CHECK_R(kvs_index_entry_decode(h, size, sc, &d, &used), get32(h) < sc ? KVS_OK : KVS_E_CORRUPT);
        flip(h, bit);
    }
    free(h);
}

static void test_entry(void)
{
    unsigned char key[KVS_KEY_MAX + 8], buf[KVS_KEY_MAX + 64], b[KVS_KEY_MAX + 64], *h;
    static const uint32_t flip_lens[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                                         31, 32, 33, 63, 64, 65, 255, 256, 257, 1023, 1024};
    kvs_index_entry e, x, d;
    size_t n, used, len, size, i;
    uint32_t k;
    int iter;

    /* a hand-built image */
    {
        static const unsigned char want[40] = {
            0x04, 0x03, 0x02, 0x01, 0x03, 0x00, 0x00, 0x00, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
            0x22, 0x11, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0xef, 0xbe, 0xad, 0xde,
            0x00, 0x00, 0x00, 0x00, 'a',  'b',  'c',  0x00, 0x00, 0x00, 0x00, 0x00,
        };
        memset(&e, 0, sizeof e);
        e.slot = 0x01020304u;
        e.key_len = 3;
        e.key = "abc";
        e.generation = 0x1122334455667788ULL;
        e.payload_len = 0x8000000000000099ULL;
        e.payload_crc = 0xdeadbeefu;
        memset(buf, 0xAA, sizeof buf);
        CHECK_R(kvs_index_entry_encode(&e, buf, 40, &n), KVS_OK);
        CHECK(n == 40 && memcmp(buf, want, 40) == 0 && buf[40] == 0xAA);
        CHECK_R(kvs_index_entry_decode(want, 40, 0x01020305u, &d, &used), KVS_OK);
        CHECK(entry_equal(&d, &e) && used == 40 && d.key == want + 32);
        CHECK_R(kvs_index_entry_decode(want, 40, 0x01020304u, &d, &used), KVS_E_CORRUPT);
    }

    /* identity: every key length, then random ones */
    for (k = 1; k <= KVS_KEY_MAX; k++)
        entry_roundtrip(k);
    for (iter = 0; iter < 3000; iter++)
        entry_roundtrip(pick_key_len());

    /* encoding in place: a key already where it goes */
    for (k = 1; k <= 24; k++) {
        memset(buf, 0xAA, sizeof buf);
        t_fill(buf + 32, k);
        memcpy(key, buf + 32, k);
        memset(&e, 0, sizeof e);
        e.slot = 1, e.key_len = k, e.key = buf + 32, e.generation = 1;
        CHECK_R(kvs_index_entry_encode(&e, buf, sizeof buf, &n), KVS_OK);
        CHECK(memcmp(buf + 32, key, k) == 0 && all_byte(buf + 32 + k, n - 32 - k, 0));
    }

    /* encoder refusals: KVS_E_KEY, then KVS_E_INVAL, then KVS_E_BUFSIZE
       (the object header encoder's order); nothing written, out_len 0 */
    t_fill(key, sizeof key);
    memset(&x, 0, sizeof x);
    x.slot = 7, x.key_len = 13, x.key = key, x.generation = 2, x.payload_len = 3, x.payload_crc = 4;
    memset(buf, 0xAA, sizeof buf);
    e = x, e.key_len = 0, n = 1;
    CHECK_R(kvs_index_entry_encode(&e, buf, sizeof buf, &n), KVS_E_KEY);
    CHECK(n == 0);
    e = x, e.key_len = KVS_KEY_MAX + 1;
    CHECK_R(kvs_index_entry_encode(&e, buf, sizeof buf, &n), KVS_E_KEY);
    e = x, e.key_len = UINT32_MAX;
    CHECK_R(kvs_index_entry_encode(&e, buf, sizeof buf, &n), KVS_E_KEY);
    e = x, e.key_len = 0, e.generation = 0;
    CHECK_R(kvs_index_entry_encode(&e, NULL, 0, &n), KVS_E_KEY);
    e = x, e.generation = 0, n = 1;
    CHECK_R(kvs_index_entry_encode(&e, buf, sizeof buf, &n), KVS_E_INVAL);
    CHECK(n == 0);
    CHECK_R(kvs_index_entry_encode(&e, NULL, 0, &n), KVS_E_INVAL);
    for (k = 1; k <= KVS_KEY_MAX; k += (k < 40 ? 1 : 37)) {
        e = x, e.key_len = k;
        size = kvs_index_entry_size(k);
        memset(buf, 0xAA, sizeof buf);
        n = 1;
        CHECK_R(kvs_index_entry_encode(&e, buf, size - 1, &n), KVS_E_BUFSIZE);
        CHECK(n == 0);
        CHECK_R(kvs_index_entry_encode(&e, buf, 32 + k, &n), 32 + k == size ? KVS_OK : KVS_E_BUFSIZE);
        if (32 + k != size)
            CHECK(all_byte(buf, sizeof buf, 0xAA));
    }
    e = x;
    CHECK_R(kvs_index_entry_encode(&e, NULL, 0, &n), KVS_E_BUFSIZE);
    e.key_len = KVS_KEY_MAX;
    CHECK_R(kvs_index_entry_encode(&e, buf, KVS_KEY_MAX + 32, &n), KVS_OK);
    CHECK(n == KVS_KEY_MAX + 32);
    e.slot = UINT32_MAX, e.generation = UINT64_MAX, e.payload_len = UINT64_MAX, e.payload_crc = UINT32_MAX;
    CHECK_R(kvs_index_entry_encode(&e, buf, sizeof buf, &n), KVS_OK);
    CHECK_R(kvs_index_entry_decode(buf, n, SLOTS_ANY, &d, &used), KVS_OK);
    CHECK(entry_equal(&d, &e));
    CHECK_R(kvs_index_entry_decode(buf, n, UINT32_MAX, &d, &used), KVS_E_CORRUPT);

    /* decoder checks, in FORMAT.md's order; each one KVS_E_CORRUPT, out and
       used cleared. Base: key_len 13 (3 padding bytes), slot 7 of 8. */
    e = x;
    CHECK_R(kvs_index_entry_encode(&e, buf, sizeof buf, &n), KVS_OK);
    CHECK(n == 48);
    CHECK_R(kvs_index_entry_decode(buf, n, 8, &d, &used), KVS_OK);
    CHECK_R(kvs_index_entry_decode(NULL, 0, 8, &d, &used), KVS_E_CORRUPT);
    /* runs past the payload: every truncation, also of the fixed part, with
       other faults present that must not be reached first */
    for (len = 0; len < n; len++) {
        memcpy(b, buf, n);
        h = heap_copy(b, len);
        used = 5;
        d.slot = 5;
        CHECK_R(kvs_index_entry_decode(h, len, 8, &d, &used), KVS_E_CORRUPT);
        CHECK(used == 0 && entry_zero(&d));
        free(h);
        put32(b, 1000), put64(b + 8, 0), put32(b + 28, 1), b[47] = 1;
        h = heap_copy(b, len);
        CHECK_R(kvs_index_entry_decode(h, len, 8, &d, &used), KVS_E_CORRUPT);
        free(h);
    }
    /* key_len 0 / above 1024 / huge, in an exact buffer and a long one */
    {
        static const uint32_t bad_kl[] = {0, KVS_KEY_MAX + 1, 2048, 0x7fffffffu, 0x80000000u, 0xfffffff8u, UINT32_MAX};
        for (i = 0; i < sizeof bad_kl / sizeof bad_kl[0]; i++) {
            memset(b, 0, sizeof b);
            memcpy(b, buf, n);
            put32(b + 4, bad_kl[i]);
            h = heap_copy(b, n);
            CHECK_R(kvs_index_entry_decode(h, n, 8, &d, &used), KVS_E_CORRUPT);
            free(h);
            h = heap_copy(b, sizeof b);
            CHECK_R(kvs_index_entry_decode(h, sizeof b, 8, &d, &used), KVS_E_CORRUPT);
            free(h);
        }
    }
    /* a key_len whose entry runs past len: no read beyond len */
    for (k = 14; k <= KVS_KEY_MAX; k += (k < 80 ? 1 : 61)) {
        memcpy(b, buf, n);
        put32(b + 4, k);
        h = heap_copy(b, n);
        CHECK_R(kvs_index_entry_decode(h, n, 8, &d, &used), round8(k) + 32 > n ? KVS_E_CORRUPT : KVS_OK);
        free(h);
    }
    /* slot >= slot_count */
    CHECK_R(kvs_index_entry_decode(buf, n, 7, &d, &used), KVS_E_CORRUPT);
    CHECK_R(kvs_index_entry_decode(buf, n, 0, &d, &used), KVS_E_CORRUPT);
    CHECK_R(kvs_index_entry_decode(buf, n, UINT64_MAX, &d, &used), KVS_OK);
    memcpy(b, buf, n);
    put32(b, UINT32_MAX);
    CHECK_R(kvs_index_entry_decode(b, n, UINT32_MAX, &d, &used), KVS_E_CORRUPT);
    CHECK_R(kvs_index_entry_decode(b, n, SLOTS_ANY, &d, &used), KVS_OK);
    CHECK(d.slot == UINT32_MAX);
    /* generation 0 */
    memcpy(b, buf, n);
    put64(b + 8, 0);
    CHECK_R(kvs_index_entry_decode(b, n, 8, &d, &used), KVS_E_CORRUPT);
    put64(b + 8, (uint64_t)1 << 63);
    CHECK_R(kvs_index_entry_decode(b, n, 8, &d, &used), KVS_OK);
    /* reserved, byte by byte */
    for (i = 28; i < 32; i++) {
        memcpy(b, buf, n);
        b[i] = 0x01;
        CHECK_R(kvs_index_entry_decode(b, n, 8, &d, &used), KVS_E_CORRUPT);
        CHECK(used == 0 && entry_zero(&d));
    }
    /* padding, byte by byte, for every padded key length */
    for (k = 1; k <= 64; k++) {
        e = x, e.key_len = k;
        CHECK_R(kvs_index_entry_encode(&e, b, sizeof b, &n), KVS_OK);
        for (i = 32 + k; i < n; i++) {
            b[i] = 0x80;
            h = heap_copy(b, n);
            CHECK_R(kvs_index_entry_decode(h, n, 8, &d, &used), KVS_E_CORRUPT);
            free(h);
            b[i] = 0;
        }
        CHECK_R(kvs_index_entry_decode(b, n, 8, &d, &used), KVS_OK);
    }

    /* every bit flip of exact-size entries, judged against the reference */
    for (i = 0; i < sizeof flip_lens / sizeof flip_lens[0]; i++) {
        entry_flips(flip_lens[i], 0);
        entry_flips(flip_lens[i], 1);
    }
    /* and every truncation of random entries */
    for (iter = 0; iter < 60; iter++) {
        k = iter < 17 ? (uint32_t)iter + 1 : pick_key_len();
        e = rand_entry(k, SLOTS_ANY, key, 0);
        CHECK_R(kvs_index_entry_encode(&e, buf, sizeof buf, &n), KVS_OK);
        for (len = 0; len < n; len++) {
            h = heap_copy(buf, len);
            if (!CHECK_R(kvs_index_entry_decode(h, len, SLOTS_ANY, &d, &used), KVS_E_CORRUPT))
                fprintf(stderr, "  key_len %u len %zu\n", (unsigned)k, len);
            free(h);
        }
    }
}

/* ---------------------------------------------------------------- path sets */

static int pathset_equal(const kvs_pathset *a, const kvs_pathset *b)
{
    uint32_t i;
    if (a->count != b->count || a->index != b->index || a->shard_policy != b->shard_policy ||
        a->store_id != b->store_id)
        return 0;
    for (i = 0; i < a->count && i < KVS_PATHS_MAX; i++)
        if (a->ids[i] != b->ids[i])
            return 0;
    return 1;
}

/* A decoded set: ids past count are zero. */
static int pathset_tail_zero(const kvs_pathset *a)
{
    uint32_t i;
    for (i = a->count; i < KVS_PATHS_MAX; i++)
        if (a->ids[i] != 0)
            return 0;
    return 1;
}

static int pathset_zero(const kvs_pathset *a)
{
    return a->count == 0 && a->index == 0 && a->shard_policy == 0 && a->store_id == 0 && pathset_tail_zero(a);
}

static void rand_pathset(kvs_pathset *ps, uint32_t n)
{
    uint32_t i, j;
    memset(ps, 0, sizeof *ps);
    ps->count = n;
    ps->index = t_below(4) == 0 ? n - 1 : (uint32_t)t_below(n);
    ps->shard_policy = (uint32_t)t_below(3);
    ps->store_id = rand_nonzero64();
    for (i = 0; i < n; i++) {
    again:
        ps->ids[i] = rand_u64();
        for (j = 0; j < i; j++)
            if (ps->ids[j] == ps->ids[i])
                goto again;
    }
}

/* What a decoder must say about a record of len bytes that was valid before
   one bit flipped (FORMAT.md 7.2 order). */
static kvs_result pathset_flip_expect(const unsigned char *b, size_t len, size_t at)
{
    uint32_t n2;
    if (at < 8)
        return KVS_E_MAGIC;
    if (at < 12)
        return KVS_E_VERSION;
    if (at < 16) {
        n2 = get32(b + 12);
        if (n2 < 1 || n2 > 64)
            return KVS_E_CORRUPT;
        if (36 + 8 * (size_t)n2 > len)
            return KVS_E_BUFSIZE;
    }
    return KVS_E_CHECKSUM;
}

static void test_pathset(void)
{
    unsigned char buf[600], b[600], *h;
    kvs_pathset ps, x, d;
    size_t n = 0, len, bit, size, i;
    uint32_t cnt;
    int rep;

    /* a hand-built image */
    {
        static const unsigned char want[48] = {
            'K',  'V',  'S',  'P',  'A',  'T',  'H',  'S',  0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
            0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
            0xa8, 0xa7, 0xa6, 0xa5, 0xa4, 0xa3, 0xa2, 0xa1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb1,
        };
        memset(&ps, 0, sizeof ps);
        ps.count = 2, ps.index = 1, ps.shard_policy = 2, ps.store_id = 0x0102030405060708ULL;
        ps.ids[0] = 0xa1a2a3a4a5a6a7a8ULL, ps.ids[1] = 0xb100000000000000ULL;
        memset(buf, 0xAA, sizeof buf);
        CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_OK);
        CHECK(n == 52 && memcmp(buf, want, 48) == 0 && get32(buf + 48) == kvs_crc32c(0, want, 48));
        CHECK(all_byte(buf + 52, sizeof buf - 52, 0xAA));
        CHECK_R(kvs_pathset_decode(buf, 52, &d), KVS_OK);
        CHECK(pathset_equal(&d, &ps) && pathset_tail_zero(&d));
    }

    /* identity for n = 1..64; trailing bytes are not part of the record */
    for (cnt = 1; cnt <= KVS_PATHS_MAX; cnt++) {
        for (rep = 0; rep < 20; rep++) {
            rand_pathset(&ps, cnt);
            size = kvs_pathset_size(cnt);
            memset(buf, 0xAA, sizeof buf);
            if (!CHECK_R(kvs_pathset_encode(&ps, buf, size + t_below(3), &n), KVS_OK))
                continue;
            CHECK(n == size && buf[size] == 0xAA);
            CHECK(get32(buf + 8) == 1 && get32(buf + 12) == cnt && get32(buf + 16) == ps.index &&
                  get32(buf + 20) == ps.shard_policy && get64(buf + 24) == ps.store_id &&
                  get64(buf + 32 + 8 * (size_t)(cnt - 1)) == ps.ids[cnt - 1] &&
                  get32(buf + size - 4) == kvs_crc32c(0, buf, size - 4));
            h = heap_copy(buf, size);
            memset(&d, 0xEE, sizeof d);
            CHECK_R(kvs_pathset_decode(h, size, &d), KVS_OK);
            CHECK(pathset_equal(&d, &ps) && pathset_tail_zero(&d));
            free(h);
            t_fill(buf + size, 40);
            CHECK_R(kvs_pathset_decode(buf, size + 1 + t_below(40), &d), KVS_OK);
            CHECK(pathset_equal(&d, &ps));
        }
    }

    /* encoder refusals: nothing written, out_len 0 */
    rand_pathset(&x, 5);
    x.index = 4;
    memset(buf, 0xAA, sizeof buf);
    ps = x, ps.count = 0, n = 1;
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_INVAL);
    CHECK(n == 0);
    ps = x, ps.count = KVS_PATHS_MAX + 1;
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_INVAL);
    ps = x, ps.count = UINT32_MAX;
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_INVAL);
    ps = x, ps.index = 5;
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_INVAL);
    ps = x, ps.index = UINT32_MAX;
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_INVAL);
    ps = x, ps.shard_policy = 3;
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_INVAL);
    ps = x, ps.store_id = 0;
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_INVAL);
    ps = x, ps.store_id = 0, ps.ids[1] = ps.ids[0]; /* field refusals come before duplicates */
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_INVAL);
    ps = x, ps.ids[1] = ps.ids[0], n = 1;
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_DUPLICATE);
    CHECK(n == 0);
    ps = x, ps.ids[4] = ps.ids[0];
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_DUPLICATE);
    ps = x, ps.ids[3] = ps.ids[2];
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_DUPLICATE);
    ps = x, ps.ids[2] = 0, ps.ids[3] = 0;
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_DUPLICATE);
    CHECK(all_byte(buf, sizeof buf, 0xAA));
    ps = x, ps.ids[5] = ps.ids[0]; /* ids past count are not part of the set */
    CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_OK);
    for (cnt = 1; cnt <= KVS_PATHS_MAX; cnt++) {
        rand_pathset(&ps, cnt);
        size = kvs_pathset_size(cnt);
        memset(buf, 0xAA, sizeof buf);
        n = 1;
        CHECK_R(kvs_pathset_encode(&ps, buf, size - 1, &n), KVS_E_BUFSIZE);
        CHECK(n == 0 && all_byte(buf, sizeof buf, 0xAA));
        CHECK_R(kvs_pathset_encode(&ps, NULL, 0, &n), KVS_E_BUFSIZE);
        if (cnt > 1) {
            ps.ids[cnt - 1] = ps.ids[t_below(cnt - 1)];
            CHECK_R(kvs_pathset_encode(&ps, buf, sizeof buf, &n), KVS_E_DUPLICATE);
        }
    }

    /* decoder checks in order */
    x.index = 4, x.shard_policy = 2;
    CHECK_R(kvs_pathset_encode(&x, buf, sizeof buf, &n), KVS_OK);
    CHECK(n == 76);
    CHECK_R(kvs_pathset_decode(NULL, 0, &d), KVS_E_BUFSIZE);
    /* 1. under 36 bytes, whatever the bytes */
    for (len = 0; len < 36; len++) {
        memcpy(b, buf, n);
        h = heap_copy(b, len);
        d.count = 3;
        CHECK_R(kvs_pathset_decode(h, len, &d), KVS_E_BUFSIZE);
        CHECK(pathset_zero(&d));
        free(h);
        b[0] = 0, b[8] = 9, put32(b + 12, 0);
        h = heap_copy(b, len);
        CHECK_R(kvs_pathset_decode(h, len, &d), KVS_E_BUFSIZE);
        free(h);
    }
    /* 2. magic, before version, n, length and CRC */
    for (i = 0; i < 8; i++) {
        memcpy(b, buf, n);
        b[i] ^= 0x01;
        put32(b + 8, 2), put32(b + 12, 0);
        h = heap_copy(b, 36);
        CHECK_R(kvs_pathset_decode(h, 36, &d), KVS_E_MAGIC);
        CHECK(pathset_zero(&d));
        free(h);
    }
    memcpy(b, buf, n);
    memcpy(b, "KVSINDEX", 8);
    CHECK_R(kvs_pathset_decode(b, n, &d), KVS_E_MAGIC);
    /* 3. version, before n and CRC */
    {
        static const uint32_t bad_v[] = {0, 2, 0x100, 0x01000001u, UINT32_MAX};
        for (i = 0; i < sizeof bad_v / sizeof bad_v[0]; i++) {
            memcpy(b, buf, n);
            put32(b + 8, bad_v[i]);
            CHECK_R(kvs_pathset_decode(b, n, &d), KVS_E_VERSION);
            put32(b + 12, 0);
            h = heap_copy(b, 36);
            CHECK_R(kvs_pathset_decode(h, 36, &d), KVS_E_VERSION);
            free(h);
        }
    }
    /* 4. n outside 1..64, before the length check (a 36-byte buffer) */
    {
        static const uint32_t bad_n[] = {0, 65, 66, 0x100, 0x20000000u, 0x80000000u, UINT32_MAX};
        for (i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++) {
            memcpy(b, buf, n);
            put32(b + 12, bad_n[i]);
            h = heap_copy(b, 36);
            CHECK_R(kvs_pathset_decode(h, 36, &d), KVS_E_CORRUPT);
            free(h);
            reseal(b, 72); /* even with a CRC over what would be there */
            CHECK_R(kvs_pathset_decode(b, n, &d), KVS_E_CORRUPT);
        }
    }
    /* 5. under 36 + 8n bytes, before the CRC */
    for (len = 36; len < n; len++) {
        h = heap_copy(buf, len);
        CHECK_R(kvs_pathset_decode(h, len, &d), KVS_E_BUFSIZE);
        free(h);
    }
    memcpy(b, buf, n);
    put32(b + 12, 6);
    CHECK_R(kvs_pathset_decode(b, n, &d), KVS_E_BUFSIZE);
    put32(b + 12, 64);
    h = heap_copy(b, 547);
    CHECK_R(kvs_pathset_decode(h, 547, &d), KVS_E_BUFSIZE);
    free(h);
    /* 6. CRC, before the field checks */
    memcpy(b, buf, n);
    b[40] ^= 0x10;
    CHECK_R(kvs_pathset_decode(b, n, &d), KVS_E_CHECKSUM);
    CHECK(pathset_zero(&d));
    memcpy(b, buf, n);
    b[74] ^= 0x01; /* the CRC itself */
    CHECK_R(kvs_pathset_decode(b, n, &d), KVS_E_CHECKSUM);
    memcpy(b, buf, n);
    put32(b + 16, 5), put32(b + 20, 3), put64(b + 24, 0), put64(b + 32, get64(b + 40));
    CHECK_R(kvs_pathset_decode(b, n, &d), KVS_E_CHECKSUM);
    memcpy(b, buf, n);
    put32(b + 12, 4), put32(b + 16, 3); /* shorter n: the CRC is read from the last id */
    CHECK_R(kvs_pathset_decode(b, n, &d), KVS_E_CHECKSUM);
    reseal(b, 64); /* ... and a resealed shorter set is a valid shorter set */
    CHECK_R(kvs_pathset_decode(b, n, &d), KVS_OK);
    CHECK(d.count == 4 && d.index == 3 && d.ids[3] == x.ids[3] && d.ids[4] == 0);
    /* 7. the field checks, each resealed so that it is what fails */
    {
        static const struct {
            size_t at;
            int width;
            uint64_t v;
        } m[] = {
            {16, 4, 5}, {16, 4, 6}, {16, 4, UINT32_MAX}, {20, 4, 3}, {20, 4, UINT32_MAX}, {24, 8, 0},
        };
        for (i = 0; i < sizeof m / sizeof m[0]; i++) {
            memcpy(b, buf, n);
            if (m[i].width == 4)
                put32(b + m[i].at, (uint32_t)m[i].v);
            else
                put64(b + m[i].at, m[i].v);
            reseal(b, 72);
            h = heap_copy(b, n);
            if (!CHECK_R(kvs_pathset_decode(h, n, &d), KVS_E_CORRUPT))
                fprintf(stderr, "  field at %zu\n", m[i].at);
            CHECK(pathset_zero(&d));
            free(h);
        }
    }
    {
        size_t a, c;
        for (a = 0; a < 5; a++)
            for (c = a + 1; c < 5; c++) {
                memcpy(b, buf, n);
                put64(b + 32 + 8 * c, get64(b + 32 + 8 * a));
                reseal(b, 72);
                CHECK_R(kvs_pathset_decode(b, n, &d), KVS_E_CORRUPT);
            }
    }
    memcpy(b, buf, n);
    put32(b + 16, 0), put32(b + 20, 0), put64(b + 24, UINT64_MAX);
    reseal(b, 72);
    CHECK_R(kvs_pathset_decode(b, n, &d), KVS_OK);
    CHECK(d.index == 0 && d.shard_policy == 0 && d.store_id == UINT64_MAX);

    /* every single-bit flip rejected, with the check FORMAT.md's order names;
       every truncation KVS_E_BUFSIZE */
    {
        static const uint32_t sizes[] = {1, 2, 3, 7, 8, 31, 63, 64};
        for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            cnt = sizes[i];
            rand_pathset(&ps, cnt);
            size = kvs_pathset_size(cnt);
            h = (unsigned char *)malloc(size);
            if (h == NULL)
                exit(2);
            CHECK_R(kvs_pathset_encode(&ps, h, size, &n), KVS_OK);
            for (bit = 0; bit < 8 * size; bit++) {
                flip(h, bit);
                if (!CHECK_R(kvs_pathset_decode(h, size, &d), pathset_flip_expect(h, size, bit / 8)))
                    fprintf(stderr, "  n %u bit %zu\n", (unsigned)cnt, bit);
                flip(h, bit);
            }
            CHECK_R(kvs_pathset_decode(h, size, &d), KVS_OK);
            free(h);
            CHECK_R(kvs_pathset_encode(&ps, b, sizeof b, &n), KVS_OK);
            for (len = 0; len < size; len++) {
                h = heap_copy(b, len);
                CHECK_R(kvs_pathset_decode(h, len, &d), KVS_E_BUFSIZE);
                free(h);
            }
        }
    }
}

/* ---------------------------------------------------------------- payloads */

#define PAY_MAX 600
#define PAY_SLOTS 2048

static unsigned char pay_keys[PAY_MAX][KVS_KEY_MAX];
static kvs_index_entry pay_e[PAY_MAX];
static uint32_t pay_perm[PAY_SLOTS];

static void test_payload(void)
{
    int round;
    for (round = 0; round < 40; round++) {
        kvs_index_header hd, dh;
        kvs_index_entry d;
        uint32_t cnt, i, j;
        uint64_t slot_count;
        size_t total, off, n, used;
        unsigned char *p;
        kvs_result r = KVS_OK;

        cnt = round == 0 ? 0 : (uint32_t)(1 + t_below(round < 30 ? 64 : PAY_MAX));
        slot_count = round == 1 ? cnt : cnt + t_below(PAY_SLOTS - cnt + 1);
        for (i = 0; i < slot_count; i++)
            pay_perm[i] = i;
        total = KVS_INDEX_HEADER_BYTES;
        for (i = 0; i < cnt; i++) {
            /* distinct slots (a partial shuffle) and distinct keys */
            uint32_t k = round == 2 ? 1 + i % 17 : pick_key_len();
            j = i + (uint32_t)t_below((size_t)(slot_count - i));
            pay_e[i] = rand_entry(k, slot_count, pay_keys[i], 0);
            pay_e[i].slot = pay_perm[j];
            pay_perm[j] = pay_perm[i];
            for (j = 0; j < i; j++)
                if (pay_e[j].key_len == k && memcmp(pay_e[j].key, pay_e[i].key, k) == 0) {
                    t_fill(pay_keys[i], k);
                    j = (uint32_t)-1;
                }
            total += 32 + round8(k);
        }
        memset(&hd, 0, sizeof hd);
        hd.gen_floor = rand_u64();
        hd.slot_count = slot_count;
        hd.alloc_limit = slot_count - t_below((size_t)slot_count + 1) / 2;
        hd.entry_count = cnt;

        /* encode back to back into an exact-size block */
        p = (unsigned char *)malloc(total);
        if (p == NULL)
            exit(2);
        CHECK_R(kvs_index_header_encode(&hd, p, total), KVS_OK);
        off = KVS_INDEX_HEADER_BYTES;
        for (i = 0; i < cnt; i++) {
            if (!CHECK_R(kvs_index_entry_encode(&pay_e[i], p + off, total - off, &n), KVS_OK))
                break;
            off += n;
        }
        CHECK(off == total);

        /* walk it */
        CHECK_R(kvs_index_header_decode(p, total, &dh), KVS_OK);
        CHECK(hdr_equal(&dh, &hd));
        off = KVS_INDEX_HEADER_BYTES;
        for (i = 0; i < dh.entry_count; i++) {
            r = kvs_index_entry_decode(p + off, total - off, dh.slot_count, &d, &used);
            if (!CHECK_R(r, KVS_OK)) {
                fprintf(stderr, "  round %d entry %u\n", round, (unsigned)i);
                break;
            }
            CHECK(entry_equal(&d, &pay_e[i]) && d.key == p + off + 32 && used == kvs_index_entry_size(d.key_len));
            off += used;
        }
        CHECK(i == cnt && off == total);

        /* the same payload one byte short: the last entry runs past it */
        if (cnt > 0) {
            off = KVS_INDEX_HEADER_BYTES;
            for (i = 0; i < cnt; i++) {
                r = kvs_index_entry_decode(p + off, total - 1 - off, slot_count, &d, &used);
                if (r != KVS_OK)
                    break;
                off += used;
            }
            CHECK(i == cnt - 1 && r == KVS_E_CORRUPT);
        }
        free(p);
    }
}

/* ---------------------------------------------------------------- hostile */

/* Random and half-valid bytes in exact-size heap blocks: no crash, no read
   past len, only documented results, and whatever decodes re-encodes to the
   same bytes. */
static void test_hostile(void)
{
    static unsigned char buf[1200], re[1200];
    static const uint64_t scs[] = {0, 1, 9, 1000, UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX};
    kvs_index_header dh;
    kvs_index_entry de, rf;
    kvs_pathset dp;
    size_t len, used, rused, n, i;
    int iter, mode, ok_r;
    kvs_result r;
    for (iter = 0; iter < 30000; iter++) {
        unsigned char *h;
        uint64_t sc = scs[t_below(sizeof scs / sizeof scs[0])];
        len = t_below(iter < 20000 ? 80 : sizeof buf);
        t_fill(buf, len);
        mode = (int)t_below(4);
        if (mode == 1 && len >= 40) {
            memcpy(buf, "KVSINDEX", 8);
            if (t_below(2))
                memset(buf + 36, 0, 4);
            if (t_below(2))
                memset(buf + 16, 0, t_below(2) ? 8 : 4), memset(buf + 32, 0, t_below(2) ? 4 : 3);
        } else if (mode == 2 && len >= 32) {
            uint32_t k = (uint32_t)(1 + t_below(len - 31));
            put32(buf + 4, t_below(4) ? k : (uint32_t)t_rand());
            put32(buf + 28, 0);
            if (t_below(2)) {
                buf[0] = (unsigned char)(buf[0] & 7);
                memset(buf + 1, 0, 3);
            }
            if (t_below(2) && k <= KVS_KEY_MAX && 32 + round8(k) <= len)
                memset(buf + 32 + k, 0, round8(k) - k);
        } else if (mode == 3 && len >= 16) {
            uint32_t c = (uint32_t)(t_below(8) ? 1 + t_below(64) : t_rand());
            memcpy(buf, "KVSPATHS", 8);
            put32(buf + 8, t_below(8) ? 1 : (uint32_t)t_rand());
            put32(buf + 12, c);
            if (len >= 32 && t_below(2)) {
                put32(buf + 16, (uint32_t)t_below(3));
                put32(buf + 20, (uint32_t)t_below(4));
            }
            if (c >= 1 && c <= 64 && 36 + 8 * (size_t)c <= len && t_below(4))
                reseal(buf, 32 + 8 * (size_t)c);
        }
        h = heap_copy(buf, len);

        r = kvs_index_header_decode(h, len, &dh);
        CHECK(r == KVS_OK || r == KVS_E_BUFSIZE || r == KVS_E_MAGIC || r == KVS_E_CORRUPT);
        if (r == KVS_OK) {
            CHECK_R(kvs_index_header_encode(&dh, re, sizeof re), KVS_OK);
            CHECK(memcmp(re, h, 40) == 0);
        }

        r = kvs_index_entry_decode(h, len, sc, &de, &used);
        ok_r = ref_entry(h, len, sc, &rf, &rused);
        if (!CHECK_R(r, ok_r ? KVS_OK : KVS_E_CORRUPT))
            fprintf(stderr, "  iter %d len %zu\n", iter, len);
        if (r == KVS_OK) {
            CHECK(entry_equal(&de, &rf) && de.key == h + 32 && used == rused && used <= len);
            CHECK_R(kvs_index_entry_encode(&de, re, sizeof re, &n), KVS_OK);
            CHECK(n == used && memcmp(re, h, n) == 0);
        } else {
            CHECK(used == 0);
        }

        r = kvs_pathset_decode(h, len, &dp);
        CHECK(r == KVS_OK || r == KVS_E_BUFSIZE || r == KVS_E_MAGIC || r == KVS_E_VERSION ||
              r == KVS_E_CORRUPT || r == KVS_E_CHECKSUM);
        if (r == KVS_OK) {
            CHECK(dp.count >= 1 && dp.count <= 64 && dp.index < dp.count && dp.shard_policy <= 2 &&
                  dp.store_id != 0 && pathset_tail_zero(&dp));
            CHECK_R(kvs_pathset_encode(&dp, re, sizeof re, &n), KVS_OK);
            CHECK(n <= len && memcmp(re, h, n) == 0);
        } else {
            CHECK(pathset_zero(&dp));
        }
        free(h);
    }
    /* a random walk over random bytes stops inside the buffer */
    for (iter = 0; iter < 200; iter++) {
        unsigned char *h;
        size_t off = 0;
        len = t_below(sizeof buf);
        t_fill(buf, len);
        for (i = 0; i + 32 <= len; i += 8)
            if (t_below(2))
                put32(buf + i + 4, (uint32_t)(1 + t_below(24))), put32(buf + i + 28, 0);
        h = heap_copy(buf, len);
        while (kvs_index_entry_decode(h + off, len - off, SLOTS_ANY, &de, &used) == KVS_OK) {
            CHECK(used >= 40 && off + used <= len);
            off += used;
        }
        CHECK(off <= len);
        free(h);
    }
}

/* The key already in the output buffer, at any offset up to past the
   fixed fields: the same bytes as from a key apart. */
static void test_entry_key_in_buf(void)
{
    unsigned char key[KVS_KEY_MAX], want[512], buf[512];
    kvs_index_entry e, ek, d;
    size_t n = 0, size, off, used = 0;
    e = rand_entry(100, SLOTS_ANY, key, 1);
    size = kvs_index_entry_size(100);
    CHECK_R(kvs_index_entry_encode(&e, want, sizeof want, &n), KVS_OK);
    CHECK(n == size);
    for (off = 0; off <= 140; off++) {
        memset(buf, 0xee, sizeof buf);
        memcpy(buf + off, key, 100);
        ek = e;
        ek.key = buf + off;
        CHECK_R(kvs_index_entry_encode(&ek, buf, sizeof buf, &n), KVS_OK);
        if (!CHECK(n == size && memcmp(buf, want, n) == 0))
            fprintf(stderr, "  key at buf + %zu\n", off);
        CHECK_R(kvs_index_entry_decode(buf, n, SLOTS_ANY, &d, &used), KVS_OK);
    }
}

int main(void)
{
    t_init("test_core_index");
    test_entry_key_in_buf();
    test_sizes();
    test_header();
    test_entry();
    test_pathset();
    test_payload();
    test_hostile();
    return t_done("test_core_index");
}
