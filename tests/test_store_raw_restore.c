/* SPDX-License-Identifier: MIT OR Unlicense */
/* Raw-block store restore from a checkpoint that spans several read chunks
   (kvsi_raw_load_copy: reader threads fill a ring of chunks, the opener
   checks and decodes each as it arrives): entries straddling chunk
   boundaries, a byte damaged in a later chunk (in a key: only the CRC sees
   it; in an entry's reserved field: the decoder does; in a straddling
   entry; in both copies), a read error in a later chunk (the open fails
   with it, nothing leaks), and every allocation of the reopen failing in
   turn. Also a checkpoint copy of another store (valid CRCs, another
   store_id) in the store's file: never loaded.
   tests/test_store_raw_restore_chunks.c builds this file with 16 KiB
   chunks: dozens of boundaries instead of a few.
   Environment: KVS_TEST_DIR (scratch directory), KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include "test_store_raw_util.h"

#ifndef T_NAME
#define T_NAME "test_store_raw_restore"
#endif
#define MiB ((uint64_t)1 << 20)

static uint64_t g_n;       /* objects in the store      */
static uint64_t g_chunk;   /* the load's chunk size     */

/* Key of id: its 8 bytes, then bytes of id up to 8..1024 bytes (one in
   eight short): entries of very different sizes, so chunk boundaries fall
   in every part of an entry. */
static size_t klen_of(uint64_t id)
{
    uint64_t h = (id + 1) * 0x9e3779b97f4a7c15ULL;
    return (h >> 61) == 0 ? 8 + (size_t)((h >> 20) % 57) : 8 + (size_t)((h >> 20) % 1017);
}

static void key_of(unsigned char *k, uint64_t id)
{
    size_t i, n = klen_of(id);
    memcpy(k, &id, 8);
    for (i = 8; i < n; i++)
        k[i] = (unsigned char)(id * 31 + i * 7);
}

static size_t vlen_of(uint64_t id) { return 16 + (size_t)(id % 200); }

/* Direct I/O for the load (aligned chunks), but for the opens that scan
   thousands of slots (buffered: the page cache has them). */
static kvs_store *open_raw(const char *path, int scan, const kvs_sysops *ops, const kvs_allocator *al,
                           kvs_result *res, char *err, size_t cap)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    raw_cfg(&c, path, 0, 0, scan ? KVS_DIRECT_OFF : KVS_DIRECT_PREFER);
    c.format = KVS_FORMAT_NEVER;
    c.max_key_bytes = KVS_KEY_MAX;
    c.sysops = ops;
    if (al != NULL)
        c.allocator = *al;
    *res = kvs_store_open(&c, &s, err, cap);
    return *res == KVS_OK ? s : NULL;
}

/* Every object readable with its value; the count of objects is g_n. */
static void verify_all(kvs_store *s)
{
    unsigned char k[KVS_KEY_MAX], rd[512], want[512];
    kvs_store_stats st;
    uint64_t id, bad = 0;
    size_t got;
    for (id = 0; id < g_n; id++) {
        key_of(k, id);
        got = 0;
        fill_obj(want, vlen_of(id), id, 1);
        if (kvs_store_get(s, k, klen_of(id), rd, sizeof rd, &got) != KVS_OK || got != vlen_of(id) ||
            memcmp(rd, want, got) != 0)
            bad++;
    }
    CHECK(bad == 0);
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == g_n);
    CHECK(st.corruptions == 0);
}

/* The newest checkpoint copy of the store at path: its offset, payload
   length, and the payload itself (malloc'd). */
typedef struct ckinfo {
    kvs_layout l;
    uint32_t copy;
    uint64_t off[2], len[2];
    unsigned char *payload;
} ckinfo;

static int ck_read(const char *path, ckinfo *ci)
{
    unsigned char h[64];
    kvs_ckpt_header ch[2];
    kvs_result rc[2];
    uint32_t c;
    memset(ci, 0, sizeof *ci);
    if (file_layout(path, &ci->l) != 0)
        return -1;
    for (c = 0; c < 2; c++) {
        ci->off[c] = ci->l.ckpt_offset[c];
        rc[c] = read_at(path, ci->off[c], h, 64) == 0
                    ? kvs_ckpt_header_decode(h, 64, ci->l.ckpt_bytes - 64, &ch[c]) : KVS_E_IO;
        ci->len[c] = rc[c] == KVS_OK ? ch[c].payload_len : 0;
    }
    if (kvs_ckpt_pick(rc[0], &ch[0], rc[1], &ch[1], &ci->copy) != KVS_OK)
        return -1;
    ci->payload = (unsigned char *)t_xmalloc((size_t)ci->len[ci->copy]);
    return read_at(path, ci->off[ci->copy] + 64, ci->payload, (size_t)ci->len[ci->copy]);
}

/* The entry (payload offset and size) of the newest copy that lies in
   chunk `k` or later: whole in one chunk (straddle 0), or across a chunk
   boundary with the boundary in its key (straddle 1). -1 when none. */
static int64_t find_entry(const ckinfo *ci, uint64_t k, int straddle, size_t *size)
{
    size_t pos = KVS_INDEX_HEADER_BYTES, used;
    uint64_t len = ci->len[ci->copy];
    kvs_index_entry e;
    while (pos < len &&
           kvs_index_entry_decode(ci->payload + pos, (size_t)len - pos, ci->l.slot_count, &e, &used) == KVS_OK) {
        uint64_t a = 64 + pos, b = a + used; /* copy offsets */
        int across = a / g_chunk != (b - 1) / g_chunk;
        if (a / g_chunk >= k && across == (straddle != 0) &&
            (!straddle || (b - 1) / g_chunk * g_chunk >= a + KVS_INDEX_ENTRY_FIXED_BYTES + 8)) {
            *size = used;
            return (int64_t)pos;
        }
        pos += used;
    }
    return -1;
}

/* How the chunk boundaries of the newest copy fall: at an entry's start,
   in its 32 fixed bytes, in its key or padding. */
static void boundaries(const ckinfo *ci, unsigned *at, unsigned *fixed, unsigned *key)
{
    size_t pos = KVS_INDEX_HEADER_BYTES, used;
    uint64_t len = ci->len[ci->copy];
    kvs_index_entry e;
    *at = *fixed = *key = 0;
    while (pos < len &&
           kvs_index_entry_decode(ci->payload + pos, (size_t)len - pos, ci->l.slot_count, &e, &used) == KVS_OK) {
        uint64_t a = 64 + pos, b = a + used, bd = (a / g_chunk + 1) * g_chunk;
        if (a % g_chunk == 0)
            (*at)++;
        else if (bd < b && bd - a < KVS_INDEX_ENTRY_FIXED_BYTES)
            (*fixed)++;
        else if (bd < b)
            (*key)++;
        pos += used;
    }
}

static void fill(const char *path)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    char err[256];
    unsigned char k[KVS_KEY_MAX], v[512];
    uint64_t id;
    raw_cfg(&c, path, 96 * MiB, 512, KVS_DIRECT_OFF);
    c.max_key_bytes = KVS_KEY_MAX;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s == NULL) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    for (id = 0; id < g_n; id++) {
        key_of(k, id);
        fill_obj(v, vlen_of(id), id, 1);
        if (kvs_store_put(s, k, klen_of(id), v, vlen_of(id)) != KVS_OK) {
            FAILF("put %llu failed", (unsigned long long)id);
            break;
        }
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* Reopen: every object back, and whether the open wrote a checkpoint (a
   clean load does not; a fallback to the other copy or a scan does). */
static void reopen_check(const char *path, int want_ckpt, const unsigned char *gone, size_t gone_len)
{
    char err[256];
    kvs_result r;
    kvs_store_stats st;
    kvs_store *s = open_raw(path, want_ckpt, NULL, NULL, &r, err, sizeof err);
    CHECK_R(r, KVS_OK);
    if (s == NULL) {
        fprintf(stderr, "reopen: %s\n", err);
        return;
    }
    kvs_store_get_stats(s, &st);
    CHECK(want_ckpt ? st.checkpoints >= 1 : st.checkpoints == 0);
    verify_all(s);
    if (gone != NULL)
        CHECK_R(kvs_store_exists(s, gone, gone_len), KVS_NOT_FOUND); /* the damaged key is nowhere */
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* Flip a byte of the newest copy's payload at payload offset `at`, reopen:
   the copy is rejected (whatever was decoded before the damage showed is
   dropped), the other copy and the scan bring every object back. */
static void damage_newest(const char *path, uint64_t chunk, int straddle, int reserved)
{
    ckinfo ci;
    size_t size = 0;
    int64_t pos;
    uint64_t at;
    unsigned char key[KVS_KEY_MAX];
    size_t klen = 0;
    CHECK(ck_read(path, &ci) == 0);
    pos = find_entry(&ci, chunk, straddle, &size);
    CHECK(pos >= 0);
    if (pos < 0) {
        free(ci.payload);
        return;
    }
    if (reserved) {
        at = (uint64_t)pos + 29; /* the entry's reserved u32: the decoder rejects it */
    } else {
        klen = kvsi_get32(ci.payload + pos + 4);
        /* a key byte past the first 4 (so the damaged key is no other
           object's): in the second chunk of a straddling entry, else the middle */
        at = straddle ? ((64 + (uint64_t)pos) / g_chunk + 1) * g_chunk - 64 + 1
                      : (uint64_t)pos + 32 + (klen / 2 > 8 ? klen / 2 : 8);
        if (at >= (uint64_t)pos + 32 + klen)
            at = (uint64_t)pos + 32 + klen - 1;
        memcpy(key, ci.payload + pos + 32, klen);
        key[at - ((uint64_t)pos + 32)] ^= 0x5a; /* the key the damaged entry would name */
    }
    snprintf(t_ctx, sizeof t_ctx, "damage copy %u payload byte %llu (chunk %llu, straddle %d, reserved %d)",
             (unsigned)ci.copy, (unsigned long long)at, (unsigned long long)((64 + at) / g_chunk), straddle,
             reserved);
    CHECK(poke(path, ci.off[ci.copy] + 64 + at, 0x5a) == 0);
    reopen_check(path, 1, reserved ? NULL : key, klen);
    t_ctx[0] = '\0';
    free(ci.payload);
}

/* Both copies damaged in a later chunk: the full scan. */
static void damage_both(const char *path)
{
    ckinfo ci;
    uint32_t c;
    CHECK(ck_read(path, &ci) == 0);
    for (c = 0; c < 2; c++) {
        uint64_t at = ci.len[c] * 3 / 4;
        CHECK(ci.len[c] > 2 * g_chunk);
        CHECK(poke(path, ci.off[c] + 64 + at, 0x01) == 0);
    }
    snprintf(t_ctx, sizeof t_ctx, "both copies damaged");
    reopen_check(path, 1, NULL, 0);
    t_ctx[0] = '\0';
    free(ci.payload);
}

/* ---- read errors ---- */
typedef struct rfault {
    uint64_t lo, hi; /* a pread touching [lo, hi) fails with EIO */
    unsigned hits;
} rfault;

static int64_t r_pread(void *user, int fd, void *buf, size_t len, uint64_t off)
{
    rfault *f = (rfault *)user;
    ssize_t n;
    if (off < f->hi && off + len > f->lo) {
        __atomic_fetch_add(&f->hits, 1, __ATOMIC_RELAXED);
        return -EIO;
    }
    n = pread(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

/* A read of chunk `k` of the newest copy fails: the open fails with that
   error (no fallback to the older copy), and nothing leaks: no block of the
   counting allocator (nor, under the sanitizers, memory or a thread). */
static void read_error(const char *path, uint64_t k, int counting)
{
    ckinfo ci;
    rfault f;
    kvs_sysops ops;
    t_alloc_state as;
    kvs_allocator al = t_allocator(&as, -1);
    kvs_result r;
    kvs_store *s;
    char err[256];
    CHECK(ck_read(path, &ci) == 0);
    memset(&f, 0, sizeof f);
    f.lo = ci.off[ci.copy] + k * g_chunk;
    f.hi = f.lo + g_chunk;
    memset(&ops, 0, sizeof ops);
    ops.user = &f;
    ops.pread = r_pread;
    snprintf(t_ctx, sizeof t_ctx, "read error in chunk %llu of copy %u%s", (unsigned long long)k,
             (unsigned)ci.copy, counting ? ", counting allocator" : "");
    s = open_raw(path, 0, &ops, counting ? &al : NULL, &r, err, sizeof err);
    CHECK_R(r, KVS_E_IO);
    CHECK(s == NULL);
    CHECK(f.hits >= 1);
    CHECK(strstr(err, "reading checkpoint copy") != NULL);
    if (s != NULL)
        (void)kvs_store_close(s);
    if (counting)
        CHECK(t_alloc_live(&as) == 0 && as.bad_free == 0);
    t_ctx[0] = '\0';
    free(ci.payload);
}

/* Allocation n of the reopen fails, for every n: the open fails with
   KVS_E_NOMEM (or copes), and every block is freed. */
static void alloc_failures(const char *path)
{
    long n;
    int done = 0;
    for (n = 0; !done && n < 200; n++) {
        t_alloc_state as;
        kvs_allocator al = t_allocator(&as, n);
        kvs_result r;
        char err[256];
        kvs_store *s;
        snprintf(t_ctx, sizeof t_ctx, "allocation %ld of the reopen fails", n);
        s = open_raw(path, 0, NULL, &al, &r, err, sizeof err);
        if (r == KVS_OK) {
            /* the open made fewer allocations than n: done */
            done = !__atomic_load_n(&as.fired, __ATOMIC_ACQUIRE);
            t_alloc_arm(&as, -1);
            verify_all(s);
            CHECK_R(kvs_store_close(s), KVS_OK);
        } else {
            CHECK_R(r, KVS_E_NOMEM);
        }
        CHECK(t_alloc_live(&as) == 0 && as.bad_free == 0);
    }
    CHECK(done);
    t_ctx[0] = '\0';
}

/* ---- a checkpoint copy of another store ----
   Stores A and B of one geometry; B's checkpoint copies, whose CRCs hold,
   are put into A's file. A's restore must not load them (their store_id is
   not A's): it finds A's objects through its own copy, or through the scan
   when both copies are B's, and none of B's keys. */
/* A store of 8 slots of 4 KiB payload, formatted or reopened. */
static kvs_store *open_small(const char *path, int format)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    char err[256];
    raw_cfg(&c, path, 4096 + 2 * 8192 + 8192 * 8, 4096, KVS_DIRECT_PREFER);
    c.meta_bytes = 2 * 8192;
    c.max_key_bytes = 64;
    c.format = format ? KVS_FORMAT_ALWAYS : KVS_FORMAT_NEVER;
    c.checkpoint_interval_ms = 3600000; /* checkpoints only at sync and close */
    if (kvs_store_open(&c, &s, err, sizeof err) != KVS_OK)
        fprintf(stderr, "open %s: %s\n", path, err);
    return s;
}

/* The file `to` made a copy of `from` (a raw store's device file: taken
   while a store has it open, the state a crash leaves). */
static void copy_file(const char *from, const char *to)
{
    struct stat sb;
    int fd;
    if (!CHECK(stat(from, &sb) == 0))
        return;
    fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, sb.st_size) == 0);
    if (fd >= 0)
        close(fd);
    CHECK(copy_at(from, to, 0, (size_t)sb.st_size) == 0);
}

/* Formats store `tag` (A or B) of 8 slots with n objects "<tag><i>" of
   100 + i bytes, with `syncs` a checkpoint after each (B's thus get ahead
   of A's in seq). */
static void foreign_fill(const char *path, char tag, unsigned n, int syncs)
{
    kvs_store *s = open_small(path, 1);
    unsigned char v[200];
    char k[16];
    unsigned i;
    if (!CHECK(s != NULL))
        return;
    for (i = 0; i < n; i++) {
        snprintf(k, sizeof k, "%c%u", tag, i);
        t_fill_tag(v, 100 + i, (uint64_t)tag << 8 | i);
        CHECK_R(kvs_store_put(s, k, strlen(k), v, 100 + i), KVS_OK);
        if (syncs)
            CHECK_R(kvs_store_sync(s), KVS_OK);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* A opens with its 5 objects, byte-exact, and none of B's 8 keys. */
static void foreign_check(const char *path)
{
    kvs_store *s = open_small(path, 0);
    kvs_store_stats st;
    unsigned char v[200];
    char k[16];
    size_t got;
    unsigned i;
    if (!CHECK(s != NULL))
        return;
    for (i = 0; i < 5; i++) {
        snprintf(k, sizeof k, "A%u", i);
        got = 0;
        CHECK_R(kvs_store_get(s, k, strlen(k), v, sizeof v, &got), KVS_OK);
        CHECK(got == 100 + i && t_check_tag(v, got, (uint64_t)'A' << 8 | i));
    }
    for (i = 0; i < 8; i++) {
        snprintf(k, sizeof k, "B%u", i);
        CHECK_R(kvs_store_exists(s, k, strlen(k)), KVS_NOT_FOUND);
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == 5 && st.corruptions == 0);
    CHECK_R(kvs_store_close(s), KVS_OK);
}

static void test_foreign_checkpoint(void)
{
    char pa[1200], pb[1200], pc[1200];
    kvs_layout la, lb;
    kvs_superblock sa, sb;
    kvs_ckpt_header ha[2], hb[2];
    kvs_result ra[2], rb[2];
    unsigned char b[256];
    uint32_t newest, older, c;
    t_path(pa, sizeof pa, "foreignA");
    t_path(pb, sizeof pb, "foreignB");
    t_path(pc, sizeof pc, "foreignA2");
    foreign_fill(pa, 'A', 5, 0);
    foreign_fill(pb, 'B', 8, 1);
    CHECK(file_layout(pa, &la) == 0 && file_layout(pb, &lb) == 0);
    CHECK(la.ckpt_offset[0] == lb.ckpt_offset[0] && la.ckpt_bytes == lb.ckpt_bytes &&
          la.slot_count == lb.slot_count && la.slot_count == 8);
    CHECK(read_at(pa, 0, b, sizeof b) == 0 && kvs_superblock_decode(b, sizeof b, &sa) == KVS_OK);
    CHECK(read_at(pb, 0, b, sizeof b) == 0 && kvs_superblock_decode(b, sizeof b, &sb) == KVS_OK);
    CHECK(sa.store_id != sb.store_id);
    for (c = 0; c < 2; c++) {
        unsigned char h[64];
        ra[c] = read_at(pa, la.ckpt_offset[c], h, 64) == 0
                    ? kvs_ckpt_header_decode(h, 64, la.ckpt_bytes - 64, &ha[c]) : KVS_E_IO;
        rb[c] = read_at(pb, lb.ckpt_offset[c], h, 64) == 0
                    ? kvs_ckpt_header_decode(h, 64, lb.ckpt_bytes - 64, &hb[c]) : KVS_E_IO;
        CHECK_R(ra[c], KVS_OK);
        CHECK_R(rb[c], KVS_OK); /* B's copies are valid records */
    }
    if (kvs_ckpt_pick(ra[0], &ha[0], ra[1], &ha[1], &newest) != KVS_OK || ra[0] != KVS_OK || rb[0] != KVS_OK ||
        ra[1] != KVS_OK || rb[1] != KVS_OK) {
        FAILF("store files not as expected");
        goto out;
    }
    older = newest ^ 1u;
    /* B's copy in the region of A's older one is newer than A's newest:
       taken for A's, it would be the copy loaded */
    CHECK(ha[older].store_id == sa.store_id && hb[older].store_id == sb.store_id);
    CHECK(hb[older].seq > ha[newest].seq);

    /* B's newer copy over A's older copy: A's own copy is loaded */
    snprintf(t_ctx, sizeof t_ctx, "B's checkpoint copy %u in A's file", (unsigned)older);
    copy_file(pa, pc);
    CHECK(copy_at(pb, pc, la.ckpt_offset[older], (size_t)la.ckpt_bytes) == 0);
    foreign_check(pc);
    foreign_check(pc); /* and after the checkpoints that open and close wrote */

    /* both of A's copies replaced by B's: no checkpoint of A's, the scan */
    snprintf(t_ctx, sizeof t_ctx, "both checkpoint copies of B in A's file");
    CHECK(copy_at(pb, pa, la.ckpt_offset[0], (size_t)(2 * la.ckpt_bytes)) == 0);
    foreign_check(pa);
    foreign_check(pa);
    t_ctx[0] = '\0';
out:
    unlink(pa);
    unlink(pb);
    unlink(pc);
}

/* ---- the newest checkpoint copy damaged after it was on disk ----
   Slots the older copy lists may have been freed by the newer checkpoint
   and reused since. A restore from the older copy checks every slot it
   lists against its header and scans every slot: an object put into a
   reused slot is found (a stale value would otherwise win, or the new
   key be lost), and stats.restore_fallback says which copy was taken. */
static void nf_put(kvs_store *s, const char *k, unsigned tag)
{
    unsigned char v[300];
    t_fill_tag(v, 100 + tag, tag);
    CHECK_R(kvs_store_put(s, k, strlen(k), v, 100 + tag), KVS_OK);
}

/* k holds the value of tag (0: must miss, -1: either) */
static void nf_check(kvs_store *s, const char *k, int tag)
{
    unsigned char v[300];
    size_t got = 0;
    kvs_result r = kvs_store_get(s, k, strlen(k), v, sizeof v, &got);
    if (tag == 0 || (tag < 0 && r == KVS_NOT_FOUND)) {
        CHECK_R(r, KVS_NOT_FOUND);
        return;
    }
    CHECK_R(r, KVS_OK);
    if (tag > 0)
        CHECK(got == 100 + (size_t)tag && t_check_tag(v, got, (uint64_t)tag));
}

/* Open the store at path: its restore took the route `fallback`
   (stats.restore_fallback), counted no corruption, and k holds tag. */
static void nf_reopen(const char *path, int fallback, const char *k, int tag)
{
    kvs_store *s = open_small(path, 0);
    kvs_store_stats st;
    if (!CHECK(s != NULL))
        return;
    kvs_store_get_stats(s, &st);
    CHECK(st.restore_fallback == fallback && st.corruptions == 0);
    nf_check(s, k, tag);
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* Flip a payload byte of the newest copy of the store at path. */
static void nf_damage(const char *path)
{
    ckinfo ci;
    CHECK(ck_read(path, &ci) == 0 && ci.len[ci.copy] > 40);
    CHECK(poke(path, ci.off[ci.copy] + 64 + ci.len[ci.copy] / 2, 0x5a) == 0);
    free(ci.payload);
}

static void test_newest_copy_damaged(void)
{
    char pa[1200], pc[1200], pd[1200];
    kvs_store *s;
    kvs_store_stats st;
    int scen;
    t_path(pa, sizeof pa, "nfA");
    t_path(pc, sizeof pc, "nfC");
    t_path(pd, sizeof pd, "nfD");
    /* 0: K's third value goes into the slot the older copy lists for K's
       first; 1: a new key J does. The newest copy (K at slot 1) is
       damaged; the older lists K at slot 0. */
    for (scen = 0; scen < 2; scen++) {
        snprintf(t_ctx, sizeof t_ctx, "newest copy damaged, slot reused by %s", scen ? "J" : "K");
        s = open_small(pa, 1);
        if (!CHECK(s != NULL))
            return;
        nf_put(s, "K", 1);
        CHECK_R(kvs_store_sync(s), KVS_OK);
        nf_put(s, "K", 2);
        CHECK_R(kvs_store_sync(s), KVS_OK); /* slot 0 free from here */
        nf_put(s, scen ? "J" : "K", 3);
        copy_file(pa, pc); /* to damage */
        copy_file(pa, pd); /* as it is */
        CHECK_R(kvs_store_close(s), KVS_OK);
        nf_reopen(pd, 0, "K", scen ? 2 : 3); /* undamaged: the newest copy, trusted */
        nf_damage(pc);
        s = open_small(pc, 0);
        if (!CHECK(s != NULL))
            return;
        kvs_store_get_stats(s, &st);
        CHECK(st.restore_fallback == 1 && st.corruptions == 0);
        nf_check(s, "K", scen ? 2 : 3);
        if (scen)
            nf_check(s, "J", 3);
        CHECK_R(kvs_store_close(s), KVS_OK);
        nf_reopen(pc, 0, "K", scen ? 2 : 3); /* that restore wrote a checkpoint: trusted again */
        unlink(pc);
        unlink(pd);
    }
    /* A remove recorded only in the damaged copy comes back (documented),
       with its own bytes; nothing else changes. Both copies damaged: the
       full scan, restore_fallback 2. */
    snprintf(t_ctx, sizeof t_ctx, "newest copy damaged after a remove");
    s = open_small(pa, 1);
    if (!CHECK(s != NULL))
        return;
    nf_put(s, "K", 1);
    nf_put(s, "J", 2);
    CHECK_R(kvs_store_sync(s), KVS_OK);
    CHECK_R(kvs_store_remove(s, "K", 1), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    nf_damage(pa);
    s = open_small(pa, 0);
    if (CHECK(s != NULL)) {
        kvs_store_get_stats(s, &st);
        CHECK(st.restore_fallback == 1);
        nf_check(s, "K", -1);
        nf_check(s, "J", 2);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    {
        ckinfo ci;
        uint32_t c;
        CHECK(ck_read(pa, &ci) == 0);
        for (c = 0; c < 2; c++)
            CHECK(poke(pa, ci.off[c] + 8, 0x77) == 0); /* each header */
        free(ci.payload);
    }
    s = open_small(pa, 0);
    if (CHECK(s != NULL)) {
        kvs_store_get_stats(s, &st);
        CHECK(st.restore_fallback == 2);
        nf_check(s, "J", 2);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    t_ctx[0] = '\0';
    unlink(pa);
}

/* An all-zero header is "never written" only beside the format's
   checkpoint (seq 1): a store copied right after its format restores from
   copy 0 as the newest. A newest copy whose header was zeroed after it was
   on disk is damage: the older copy (seq 2) lists K at the slot K's third
   value took after the newest freed it, and only the fallback's checks and
   full scan find that value (trusted as the newest, the older copy's scan
   would take K's second value). */
static void test_zeroed_header(void)
{
    char pa[1200], pc[1200];
    kvs_store *s;
    ckinfo ci;
    t_path(pa, sizeof pa, "zhA");
    t_path(pc, sizeof pc, "zhC");
    snprintf(t_ctx, sizeof t_ctx, "zeroed header: just formatted");
    s = open_small(pa, 1);
    if (!CHECK(s != NULL))
        return;
    nf_put(s, "K", 1);
    copy_file(pa, pc); /* copy 0: the format's checkpoint; copy 1: zero */
    CHECK_R(kvs_store_close(s), KVS_OK);
    nf_reopen(pc, 0, "K", 1);
    snprintf(t_ctx, sizeof t_ctx, "zeroed header: the newest copy's");
    s = open_small(pa, 1);
    if (!CHECK(s != NULL))
        return;
    nf_put(s, "K", 1);
    CHECK_R(kvs_store_sync(s), KVS_OK); /* seq 2, copy 1: K at slot 0 */
    nf_put(s, "K", 2);
    CHECK_R(kvs_store_sync(s), KVS_OK); /* seq 3, copy 0: K at slot 1, slot 0 free */
    nf_put(s, "K", 3);                  /* into slot 0 */
    copy_file(pa, pc);
    CHECK_R(kvs_store_close(s), KVS_OK);
    if (CHECK(ck_read(pc, &ci) == 0)) {
        CHECK(ci.copy == 0);
        CHECK(zero_range(pc, ci.off[ci.copy], 64) == 0);
        free(ci.payload);
    }
    nf_reopen(pc, 1, "K", 3);
    nf_reopen(pc, 0, "K", 3); /* that restore wrote a checkpoint: trusted again */
    t_ctx[0] = '\0';
    unlink(pa);
    unlink(pc);
}

/* Two more restores from the older copy (the newest damaged), each the
   state a crash leaves (the file copied while the store has it open):
   - the slot the older copy lists for K was freed and taken again by a new
     put of K with the same bytes: only the generation tells the listed
     entry from the object now there, and the restore must take the new one
     (else every get of K misses as a corruption);
   - an object in the slot right at the older copy's alloc_limit (put after
     a raise the damaged copy recorded): the restore must raise the limit
     past it, or the next put takes that slot and overwrites it. */
static void test_fallback_reuse_and_limit(void)
{
    char pa[1200], pc[1200];
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_store_stats st;
    kvsi_raw *R;
    kvsi_rent *e;
    char err[256], k[32];
    uint32_t s0 = 0;
    unsigned i;
    t_path(pa, sizeof pa, "fbA");
    t_path(pc, sizeof pc, "fbC");

    snprintf(t_ctx, sizeof t_ctx, "older copy: a listed slot reused by the same key and bytes");
    s = open_small(pa, 1);
    if (!CHECK(s != NULL))
        return;
    R = (kvsi_raw *)s->engine;
    nf_put(s, "K", 1);
    e = kvsi_raw_find(R, "K", 1, kvsi_raw_hash("K", 1));
    if (CHECK(e != NULL))
        s0 = e->slot;
    CHECK_R(kvs_store_sync(s), KVS_OK); /* the older copy: K at s0 */
    CHECK_R(kvs_store_remove(s, "K", 1), KVS_OK);
    CHECK_R(kvs_store_sync(s), KVS_OK); /* the newest: s0 free */
    nf_put(s, "K", 1);                  /* the same bytes, a new generation */
    e = kvsi_raw_find(R, "K", 1, kvsi_raw_hash("K", 1));
    CHECK(e != NULL && e->slot == s0); /* the freed slot, taken again */
    copy_file(pa, pc);
    CHECK_R(kvs_store_close(s), KVS_OK);
    {
        /* the newest copy lists nothing: damage its header */
        ckinfo ci;
        CHECK(ck_read(pc, &ci) == 0 && poke(pc, ci.off[ci.copy] + 8, 0x77) == 0);
        free(ci.payload);
    }
    s = open_small(pc, 0);
    if (CHECK(s != NULL)) {
        kvs_store_get_stats(s, &st);
        CHECK(st.restore_fallback == 1);
        nf_check(s, "K", 1);
        kvs_store_get_stats(s, &st);
        CHECK(st.corruptions == 0 && st.objects == 1);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    unlink(pa);
    unlink(pc);

    /* 600 slots: more than the first allocation step (256), so a put past
       it raises alloc_limit with a checkpoint of its own. */
    snprintf(t_ctx, sizeof t_ctx, "older copy: an object at its alloc_limit");
    raw_cfg(&c, pa, 4096 + 2 * ((uint64_t)256 << 10) + (uint64_t)8192 * 600, 4096, KVS_DIRECT_PREFER);
    c.meta_bytes = 2 * ((uint64_t)256 << 10);
    c.max_key_bytes = 64;
    c.format = KVS_FORMAT_ALWAYS;
    c.checkpoint_interval_ms = 3600000;
    if (!CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK)) {
        fprintf(stderr, "open: %s\n", err);
        return;
    }
    R = (kvsi_raw *)s->engine;
    for (i = 0; i < 600 && !(R->nfree == 0 && R->next_unwritten == R->alloc_disk); i++) {
        snprintf(k, sizeof k, "f%u", i);
        nf_put(s, k, 2);
    }
    CHECK(i < 600 && R->alloc_disk < 600); /* the first step is full */
    CHECK_R(kvs_store_sync(s), KVS_OK); /* the older copy: alloc_limit at the step */
    s0 = (uint32_t)R->alloc_disk;
    nf_put(s, "last", 3); /* raises alloc_limit: the newest copy */
    e = kvsi_raw_find(R, "last", 4, kvsi_raw_hash("last", 4));
    CHECK(e != NULL && e->slot == s0);
    copy_file(pa, pc);
    CHECK_R(kvs_store_close(s), KVS_OK);
    nf_damage(pc);
    c.paths = pc;
    c.format = KVS_FORMAT_NEVER;
    s = NULL;
    if (CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK)) {
        kvs_store_get_stats(s, &st);
        CHECK(st.restore_fallback == 1);
        nf_check(s, "last", 3);
        nf_put(s, "new", 4); /* never into "last"'s slot */
        nf_check(s, "last", 3);
        nf_check(s, "new", 4);
        kvs_store_get_stats(s, &st);
        CHECK(st.corruptions == 0 && st.objects == (uint64_t)i + 2);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    t_ctx[0] = '\0';
    unlink(pa);
    unlink(pc);
}

/* A torn overwrite after the last checkpoint: the new value's header is on
   disk, a byte of its payload is not. The restore's scan finds the newer
   generation and must check its payload: the key keeps its durable value,
   and no corruption is counted for what a crash legitimately leaves. */
static void test_torn_overwrite_scan(void)
{
    char pa[1200], pc[1200];
    kvs_store *s;
    kvs_store_stats st;
    kvsi_raw *R;
    kvsi_rent *e;
    uint64_t off = 0;
    t_path(pa, sizeof pa, "tornA");
    t_path(pc, sizeof pc, "tornC");
    snprintf(t_ctx, sizeof t_ctx, "torn overwrite found by the scan");
    s = open_small(pa, 1);
    if (!CHECK(s != NULL))
        return;
    R = (kvsi_raw *)s->engine;
    nf_put(s, "K", 1);
    CHECK_R(kvs_store_sync(s), KVS_OK); /* durable: K = 1 */
    nf_put(s, "K", 2);                  /* after the checkpoint */
    e = kvsi_raw_find(R, "K", 1, kvsi_raw_hash("K", 1));
    if (CHECK(e != NULL))
        off = kvsi_raw_slot_off(R, e->slot) + R->L.slot_header_bytes + 10;
    copy_file(pa, pc);
    CHECK_R(kvs_store_close(s), KVS_OK);
    CHECK(off != 0 && poke(pc, off, 0xff) == 0);
    s = open_small(pc, 0);
    if (CHECK(s != NULL)) {
        nf_check(s, "K", 1);
        kvs_store_get_stats(s, &st);
        CHECK(st.corruptions == 0 && st.objects == 1 && st.restore_fallback == 0);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    t_ctx[0] = '\0';
    unlink(pa);
    unlink(pc);
}

/* A checkpoint copy is valid only in the region its header names
   (FORMAT.md 6.2). The newest copy's block, written into the other region
   as well (a misplaced or stale block), is not a copy of that region: with
   the newest damaged, neither is valid, and the restore scans every slot
   (restore_fallback 2), finding every object. */
static void test_misplaced_copy(void)
{
    char pa[1200], k[16];
    kvs_store *s;
    kvs_store_stats st;
    ckinfo ci;
    unsigned char *blk = NULL;
    uint32_t c, o;
    unsigned i;
    int fd;
    t_path(pa, sizeof pa, "misplaced");
    snprintf(t_ctx, sizeof t_ctx, "a copy's block in the other region");
    s = open_small(pa, 1);
    if (!CHECK(s != NULL))
        return;
    for (i = 1; i <= 5; i++) {
        snprintf(k, sizeof k, "m%u", i);
        nf_put(s, k, i);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
    if (!CHECK(ck_read(pa, &ci) == 0 && ci.len[ci.copy] > 40))
        return;
    c = ci.copy;
    o = c ^ 1u;
    blk = (unsigned char *)t_xmalloc((size_t)(64 + ci.len[c]));
    fd = open(pa, O_RDWR);
    CHECK(fd >= 0 && read_at(pa, ci.off[c], blk, (size_t)(64 + ci.len[c])) == 0 &&
          pwrite(fd, blk, (size_t)(64 + ci.len[c]), (off_t)ci.off[o]) == (ssize_t)(64 + ci.len[c]));
    if (fd >= 0)
        close(fd);
    CHECK(poke(pa, ci.off[c] + 64 + ci.len[c] / 2, 0x5a) == 0); /* the newest, in its own region */
    free(blk);
    free(ci.payload);
    s = open_small(pa, 0);
    if (CHECK(s != NULL)) {
        kvs_store_get_stats(s, &st);
        CHECK(st.restore_fallback == 2 && st.objects == 5);
        for (i = 1; i <= 5; i++) {
            snprintf(k, sizeof k, "m%u", i);
            nf_check(s, k, (int)i);
        }
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    t_ctx[0] = '\0';
    unlink(pa);
}

int main(void)
{
    char path[1200];
    ckinfo ci;
    unsigned at, fixed, key;
    uint64_t nch, want;
    t_init_seed(T_NAME, 0x5e57023eULL);
    t_setup_dir("rawld");
    test_foreign_checkpoint();
    test_newest_copy_damaged();
    test_zeroed_header();
    test_fallback_reuse_and_limit();
    test_torn_overwrite_scan();
    test_misplaced_copy();
    t_path(path, sizeof path, "store");
    g_chunk = kvsi_ru(kvsi_max64(KVSI_RAW_CHUNK, 4096), 4096);
    /* A payload of about four and a half chunks (at least 1500 entries):
       entries average some 520 bytes. */
    want = g_chunk * 9 / 2;
    g_n = want / 520 > 1500 ? want / 520 : 1500;
    fill(path);
    {
        kvs_superblock sb;
        unsigned char b[256];
        CHECK(read_at(path, 0, b, sizeof b) == 0 && kvs_superblock_decode(b, sizeof b, &sb) == KVS_OK);
        g_chunk = kvsi_ru(kvsi_max64(KVSI_RAW_CHUNK, 4096), sb.align); /* as the store rounds it */
    }
    CHECK(ck_read(path, &ci) == 0);
    nch = (64 + ci.len[ci.copy] + g_chunk - 1) / g_chunk;
    boundaries(&ci, &at, &fixed, &key);
    fprintf(stderr,
            "%llu objects, checkpoint %llu bytes in %llu chunks of %llu KiB; boundaries at an entry %u, "
            "in its fixed part %u, in its key %u\n",
            (unsigned long long)g_n, (unsigned long long)ci.len[ci.copy], (unsigned long long)nch,
            (unsigned long long)(g_chunk >> 10), at, fixed, key);
    CHECK(nch >= 4);           /* the readers' path: more than two chunks */
    CHECK(key >= 1);           /* entries straddle */
    if (nch >= 20)
        CHECK(fixed >= 1);     /* and some in their 32 fixed bytes */
    free(ci.payload);

    reopen_check(path, 0, NULL, 0);    /* clean: loaded as is */
    damage_newest(path, 3, 0, 0);      /* a key byte, chunk 3: only the CRC sees it */
    reopen_check(path, 0, NULL, 0);    /* the open rewrote the damaged copy */
    damage_newest(path, 3, 0, 1);      /* reserved bytes, chunk 3: the decoder stops */
    damage_newest(path, nch - 2, 1, 0); /* a straddling entry's key, into the last chunk */
    damage_newest(path, 2, 1, 0);
    damage_both(path);
    reopen_check(path, 0, NULL, 0);
    read_error(path, 3, 0);
    read_error(path, 3, 1);
    read_error(path, nch - 1, 1);
    read_error(path, 1, 0);
    alloc_failures(path);
    reopen_check(path, 0, NULL, 0);    /* nothing above changed the store */
    unlink(path);
    t_rm_rf(t_dir);
    return t_done(T_NAME);
}
