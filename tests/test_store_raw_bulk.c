/* SPDX-License-Identifier: MIT OR Unlicense */
/* Raw store with many entries: a restore of 20 000 entries (keys of 12 to
   1024 bytes, so most entry size classes) finds every key with its bytes;
   after it, removals, new keys, overwrites and evictions reuse the freed
   entry memory correctly; every byte the store took from a counting
   allocator is given back at close; and a clean close leaves alloc_limit at
   the slots handed out (the next restore scans no unused slot). */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c"
#include "test_store_raw_util.h"

#define NKEYS 20000u
#define PAYLOAD 64u

/* Key i: a length from 12 to 1024 that walks through the size classes,
   unique by the id and generation in its first 12 bytes. */
static size_t key_of(uint64_t i, unsigned gen, char *k)
{
    size_t n = 12 + (size_t)((i * 37u + gen * 11u) % 1013u), j;
    uint64_t s = i * 0x9e3779b97f4a7c15ULL ^ gen;
    for (j = 0; j < n; j++) {
        if ((j & 7) == 0)
            s = t_rng_next(&s);
        k[j] = (char)('a' + (s >> ((j & 7) * 8)) % 26);
    }
    snprintf(k, 12, "%05u-%05u", (unsigned)(i % 100000u), gen % 100000u);
    k[11] = '/';
    return n;
}

/* Per key id: its key generation (a removed key comes back under another
   key), the version of its value, and whether it should be there. */
typedef struct model {
    unsigned gen[2 * NKEYS], ver[2 * NKEYS];
    unsigned char live[2 * NKEYS];
} model;

static int open_store(kvs_store **s, const char *path, uint64_t dev, t_alloc_state *cnt, int fmt)
{
    kvs_store_config c;
    char err[512] = "";
    kvs_result r;
    raw_cfg(&c, path, dev, PAYLOAD, KVS_DIRECT_OFF);
    c.max_key_bytes = 1024;
    c.align = 4096; /* 8 KiB slots */
    c.format = fmt ? KVS_FORMAT_ALWAYS : KVS_FORMAT_NEVER;
    c.allocator.user = cnt;
    c.allocator.alloc = t_alloc_fn;
    c.allocator.free = t_free_fn;
    r = kvs_store_open(&c, s, err, sizeof err);
    if (r != KVS_OK)
        fprintf(stderr, "open: %s (%s)\n", err, kvs_result_name(r));
    return r == KVS_OK;
}

static int put_key(kvs_store *s, model *m, uint64_t i)
{
    char k[1024];
    unsigned char v[PAYLOAD];
    size_t kl = key_of(i, m->gen[i], k);
    fill_obj(v, sizeof v, i * 1000u + m->gen[i], m->ver[i]);
    return kvs_store_put(s, k, kl, v, sizeof v) == KVS_OK;
}

/* Every key: present with its bytes when live, a miss otherwise (an
   evicted key counts as not live once kvs_store_exists says so). */
static void check_all(kvs_store *s, model *m, uint64_t n, unsigned *found)
{
    uint64_t i;
    unsigned ok = 0, bad = 0, live = 0;
    for (i = 0; i < n; i++) {
        char k[1024];
        unsigned char v[PAYLOAD], w[PAYLOAD];
        size_t kl = key_of(i, m->gen[i], k), got = 0;
        kvs_result r = kvs_store_get(s, k, kl, v, sizeof v, &got);
        if (m->live[i]) {
            live++;
            fill_obj(w, sizeof w, i * 1000u + m->gen[i], m->ver[i]);
            if (r == KVS_OK && got == sizeof v && memcmp(v, w, sizeof v) == 0)
                ok++;
            else
                bad++;
        } else if (r != KVS_NOT_FOUND) {
            bad++;
        }
    }
    CHECK(bad == 0);
    CHECK(ok == live);
    *found = ok;
}

static int count_fn(void *user, const void *key, size_t klen, uint64_t len)
{
    (void)key;
    (void)klen;
    (void)len;
    (*(unsigned *)user)++;
    return 0;
}

/* alloc_limit of the newest checkpoint, read with the public decoders. */
static uint64_t disk_alloc_limit(const char *path)
{
    int fd = open(path, O_RDONLY);
    static unsigned char b[1u << 16];
    kvs_superblock sb;
    kvs_layout l;
    kvs_ckpt_header h[2];
    kvs_result r[2];
    kvs_index_header ih;
    uint32_t copy = 0;
    unsigned i;
    uint64_t out = UINT64_MAX;
    if (fd < 0)
        return out;
    if (pread(fd, b, 4096, 0) == 4096 && kvs_superblock_decode(b, 4096, &sb) == KVS_OK &&
        kvs_layout_compute(sb.device_bytes, sb.align, sb.meta_bytes, sb.slot_bytes, &l, NULL, 0) == KVS_OK) {
        for (i = 0; i < 2; i++) {
            r[i] = pread(fd, b, 4096, (off_t)l.ckpt_offset[i]) == 4096 ? KVS_OK : KVS_E_IO;
            if (r[i] == KVS_OK)
                r[i] = kvs_ckpt_header_decode(b, KVS_CKPT_HEADER_BYTES, l.ckpt_bytes - KVS_CKPT_HEADER_BYTES, &h[i]);
        }
        if (kvs_ckpt_pick(r[0], &h[0], r[1], &h[1], &copy) == KVS_OK &&
            pread(fd, b, 4096, (off_t)l.ckpt_offset[copy]) == 4096 &&
            kvs_index_header_decode(b + KVS_CKPT_HEADER_BYTES, 4096 - KVS_CKPT_HEADER_BYTES, &ih) == KVS_OK)
            out = ih.alloc_limit;
    }
    close(fd);
    return out;
}

int main(void)
{
    static model m;
    t_alloc_state cnt;
    kvs_store *s = NULL;
    kvs_store_stats st;
    char path[1200];
    /* Room for NKEYS + NKEYS / 8 slots: the second phase runs out. */
    uint64_t slots = NKEYS + NKEYS / 8, dev, i, nlive, before_blocks;
    unsigned found = 0, iter = 0, evicted;

    t_init_seed("test_store_raw_bulk", 0x5eed1234ULL);
    t_setup_dir("rawbulk");
    t_path(path, sizeof path, "bulk.dev");
    (void)t_allocator(&cnt, -1);
    /* 4 KiB header region + 4 KiB payload block per slot; two checkpoint
       copies of 1056 bytes per slot; the superblock. */
    dev = slots * 8192u + 2u * (slots * 1056u + (1u << 20)) + (1u << 20);

    /* Fill sequentially; close. */
    if (!open_store(&s, path, dev, &cnt, 1)) {
        CHECK(0);
        return 1;
    }
    kvs_store_get_stats(s, &st);
    slots = st.slots_total;
    CHECK(slots >= NKEYS + NKEYS / 16);
    for (i = 0; i < NKEYS; i++) {
        m.live[i] = 1;
        CHECK(put_key(s, &m, i));
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == NKEYS);
    /* Doubling raises of alloc_limit (up to slots / 16): under a third of
       the NKEYS / (slots / 64) checkpoints a fixed step needs (17 of 60). */
    CHECK(slots / 64 > 256);
    CHECK(st.checkpoints * 3 < NKEYS / (slots / 64));
    CHECK_R(kvs_store_close(s), KVS_OK);
    CHECK(cnt.live_bytes == 0 && cnt.live == 0 && cnt.bad_free == 0);
    CHECK(disk_alloc_limit(path) == NKEYS);

    /* Restore: every key with its bytes, in few allocations. */
    before_blocks = (uint64_t)cnt.total;
    if (!open_store(&s, path, 0, &cnt, 0)) {
        CHECK(0);
        return 1;
    }
    CHECK((uint64_t)cnt.total - before_blocks < 64);
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == NKEYS);
    CHECK(st.checkpoints == 0); /* nothing to scan, nothing changed */
    check_all(s, &m, NKEYS, &found);
    CHECK(found == NKEYS);
    CHECK_R(kvs_store_iterate(s, count_fn, &iter), KVS_OK);
    CHECK(iter == NKEYS);

    /* Remove every third key, put new keys (other sizes: their entries
       come from the free lists and fresh slab space), overwrite every
       fifth, then more new keys than there are slots: evictions. */
    for (i = 0; i < NKEYS; i += 3) {
        char k[1024];
        size_t kl = key_of(i, m.gen[i], k);
        CHECK_R(kvs_store_remove(s, k, kl), KVS_OK);
        m.live[i] = 0;
    }
    for (i = 0; i < NKEYS; i += 3) {
        m.gen[i]++;
        m.live[i] = 1;
        CHECK(put_key(s, &m, i));
    }
    for (i = 1; i < NKEYS; i += 5) {
        if (!m.live[i])
            continue;
        m.ver[i]++;
        CHECK(put_key(s, &m, i));
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 0);
    check_all(s, &m, NKEYS, &found);
    for (i = NKEYS; i < 2 * NKEYS; i++) {
        m.live[i] = 1;
        CHECK(put_key(s, &m, i));
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions > 0);
    /* The model: what kvs_store_exists no longer finds was evicted. */
    for (i = 0, nlive = 0, evicted = 0; i < 2 * NKEYS; i++) {
        char k[1024];
        size_t kl = key_of(i, m.gen[i], k);
        if (m.live[i] && kvs_store_exists(s, k, kl) == KVS_NOT_FOUND) {
            m.live[i] = 0;
            evicted++;
        }
        nlive += m.live[i];
    }
    CHECK(evicted == st.evictions);
    CHECK(st.objects == nlive);
    check_all(s, &m, 2 * NKEYS, &found);
    CHECK(found == nlive);
    CHECK_R(kvs_store_close(s), KVS_OK);
    CHECK(cnt.live_bytes == 0 && cnt.live == 0 && cnt.bad_free == 0);

    /* Again: the same set, and remove/put after this restore too. */
    if (!open_store(&s, path, 0, &cnt, 0)) {
        CHECK(0);
        return 1;
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == nlive);
    check_all(s, &m, 2 * NKEYS, &found);
    CHECK(found == nlive);
    for (i = 0; i < 2 * NKEYS; i += 7) {
        char k[1024];
        size_t kl = key_of(i, m.gen[i], k);
        if (!m.live[i])
            continue;
        CHECK_R(kvs_store_remove(s, k, kl), KVS_OK);
        m.live[i] = 0;
        if (i % 2 == 0) {
            m.gen[i]++;
            m.live[i] = 1;
            CHECK(put_key(s, &m, i));
        }
    }
    check_all(s, &m, 2 * NKEYS, &found);
    CHECK_R(kvs_store_close(s), KVS_OK);
    CHECK(cnt.live_bytes == 0 && cnt.live == 0 && cnt.bad_free == 0);

    t_rm_rf(t_dir);
    return t_done("test_store_raw_bulk");
}
