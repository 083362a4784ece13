/* SPDX-License-Identifier: MIT OR Unlicense */
/* The store API shared by both engines, run against each: configuration
   checks and read-back, batched put and exists with per-item results, prefix
   get (all hits, a miss in the middle, a too-small buffer, a read error),
   asynchronous batches completed through the pollable fd, iteration and
   stats, threads hammering shared keys with self-checking values, the
   synchronous batch calls and an event loop's submits next to a reaper on
   another thread, and batches that fail whole (an allocation, an EAGAIN)
   with a final result for every item.
   Environment: KVS_TEST_DIR (scratch directory), KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "test_util.h"

static char g_err[256];

/* A value that describes itself: key index, version and length in the first
   bytes, then a pattern derived from them. check_value() finds any byte that
   belongs to another key, another version or another length. */
static void make_value(unsigned char *p, size_t len, uint32_t key, uint32_t version)
{
    uint64_t s = ((uint64_t)key << 32) ^ version ^ ((uint64_t)len << 17), z;
    size_t i;
    for (i = 0; i < len; i++) {
        if ((i & 7) == 0) {
            z = (s += 0x9e3779b97f4a7c15ULL);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            s ^= z;
        }
        p[i] = (unsigned char)(s >> ((i & 7) * 8));
    }
}

static int check_value(const unsigned char *p, size_t len, uint32_t key, uint32_t version)
{
    unsigned char *want = (unsigned char *)malloc(len ? len : 1);
    int ok;
    if (want == NULL)
        return 0;
    make_value(want, len, key, version);
    ok = memcmp(want, p, len) == 0;
    free(want);
    return ok;
}

static void key_name(char *out, size_t cap, uint32_t i)
{
    snprintf(out, cap, "model@tp0@chunk-%06u", (unsigned)i);
}

/* ---- fault injection: fail preads that land in one buffer ---- */
typedef struct pread_trap {
    const unsigned char *lo, *hi;   /* fail preads whose buffer is in [lo, hi) */
    int armed;
} pread_trap;

static int64_t trap_pread(void *user, int fd, void *buf, size_t len, uint64_t off)
{
    pread_trap *t = (pread_trap *)user;
    const unsigned char *b = (const unsigned char *)buf;
    ssize_t r;
    if (__atomic_load_n(&t->armed, __ATOMIC_SEQ_CST) && b >= t->lo && b < t->hi)
        return -EIO;
    r = pread(fd, buf, len, (off_t)off);
    return r < 0 ? -(int64_t)errno : (int64_t)r;
}

static void base_config(kvs_store_config *c, kvs_store_kind kind, const char *where)
{
    kvs_store_config_init(c);
    c->kind = kind;
    c->paths = where;
    c->direct = KVS_DIRECT_OFF;
    c->threads = 3;
    if (kind == KVS_STORE_RAW) {
        c->format = KVS_FORMAT_ALWAYS;
        c->device_bytes = (uint64_t)48 << 20;
        c->slot_payload_bytes = (uint64_t)256 << 10;
    }
}

/* Open a store for a test that allocated val and bufs: 1, or 0 with both
   freed (a failure is CHECKed). */
static int open_with_bufs(const kvs_store_config *c, kvs_store **s, unsigned char *val, unsigned char *bufs)
{
    if (val != NULL && bufs != NULL && CHECK_R(kvs_store_open(c, s, g_err, sizeof g_err), KVS_OK))
        return 1;
    fprintf(stderr, "open: %s\n", g_err);
    free(val);
    free(bufs);
    return 0;
}

static void test_config_errors(void)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    char raw[1100];

    snprintf(raw, sizeof raw, "%s/cfg.raw", t_dir);
    kvs_store_config_init(&c); /* FS without paths */
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    CHECK(s == NULL && strstr(g_err, "paths") != NULL);

    base_config(&c, KVS_STORE_FS, t_dir);
    c.format = KVS_FORMAT_ALWAYS;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    CHECK(strstr(g_err, "format") != NULL);

    base_config(&c, KVS_STORE_FS, t_dir);
    c.checkpoint_idle_ms = 5;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    CHECK(strstr(g_err, "checkpoint_idle_ms") != NULL);

    base_config(&c, KVS_STORE_RAW, raw);
    c.capacity_bytes = 1 << 20;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    CHECK(strstr(g_err, "capacity_bytes") != NULL);

    base_config(&c, KVS_STORE_RAW, raw);
    c.tp_map = "0=/tmp/a";
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);

    /* the raw store's one device takes every key: a shard policy would be
       recorded and then ignored */
    base_config(&c, KVS_STORE_RAW, raw);
    c.shard = KVS_SHARD_MOD;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    CHECK(strstr(g_err, "shard") != NULL);

    /* half an allocator: never silently malloc */
    {
        t_alloc_state as;
        base_config(&c, KVS_STORE_FS, t_dir);
        c.allocator = t_allocator(&as, -1);
        c.allocator.free = NULL;
        CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
        CHECK(s == NULL && strstr(g_err, "allocator") != NULL && as.live == 0);
        base_config(&c, KVS_STORE_RAW, raw);
        c.allocator = t_allocator(&as, -1);
        c.allocator.alloc = NULL;
        CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
        CHECK(s == NULL && strstr(g_err, "allocator") != NULL);
    }

    base_config(&c, KVS_STORE_FS, t_dir);
    c.kind = (kvs_store_kind)7;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    base_config(&c, KVS_STORE_FS, t_dir);
    c.durability = (kvs_durability)9;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    base_config(&c, KVS_STORE_FS, t_dir);
    c.shard = (kvs_shard_policy)3;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    base_config(&c, KVS_STORE_FS, t_dir);
    c.align = 3000;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_ALIGN);
    base_config(&c, KVS_STORE_FS, t_dir);
    c.tp_rank = 2;
    c.tp_world = 2;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_RANK);
    base_config(&c, KVS_STORE_FS, t_dir);
    c.threads = 5000;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    base_config(&c, KVS_STORE_RAW, raw);
    c.file_mode = 0400; /* the owner could not write its own device file */
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    CHECK(strstr(g_err, "file_mode") != NULL);
    base_config(&c, KVS_STORE_FS, t_dir);
    c.file_mode = 010000;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    CHECK(s == NULL);
    c.file_mode = 04600; /* setuid on a data file: permission bits only */
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    CHECK(s == NULL && strstr(g_err, "file_mode") != NULL);

    /* A raw store's single path is spelled as in a path list. */
    {
        char spelled[1200];
        snprintf(spelled, sizeof spelled, "  file://%s  ", raw);
        base_config(&c, KVS_STORE_RAW, spelled);
        CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_OK);
        CHECK_R(kvs_store_put(s, "k", 1, "v", 1), KVS_OK);
        CHECK_R(kvs_store_close(s), KVS_OK);
        s = NULL;
        base_config(&c, KVS_STORE_RAW, raw);
        c.format = KVS_FORMAT_NEVER;
        c.device_bytes = 0;
        CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_OK);
        CHECK_R(kvs_store_exists(s, "k", 1), KVS_OK);
        CHECK_R(kvs_store_close(s), KVS_OK);
        s = NULL;
        base_config(&c, KVS_STORE_RAW, "file://");
        CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_EMPTY);
        CHECK(s == NULL && strstr(g_err, "paths") != NULL);
        /* A comma is refused, with nothing created: a format open must not
           make a file named "<raw>,b" (a list of two: <raw> and "b") */
        snprintf(spelled, sizeof spelled, "%.900s,b", raw);
        base_config(&c, KVS_STORE_RAW, spelled);
        CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
        CHECK(s == NULL && strstr(g_err, "comma") != NULL && strstr(g_err, "tp_map") != NULL);
        CHECK(access(spelled, F_OK) != 0 && errno == ENOENT);
    }
}

/* ---- what the store keeps of its configuration ---- */
static int g_hook_calls, g_trap_calls; /* atomic */

static int count_openat(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    __atomic_fetch_add(&g_hook_calls, 1, __ATOMIC_ACQ_REL);
    fd = openat(dfd, path, flags, (mode_t)mode);
    return fd < 0 ? -errno : fd;
}

static int trap_openat(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    __atomic_fetch_add(&g_trap_calls, 1, __ATOMIC_ACQ_REL);
    return count_openat(u, dfd, path, flags, mode);
}

static int count_open(void *u, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    __atomic_fetch_add(&g_hook_calls, 1, __ATOMIC_ACQ_REL);
    fd = open(path, flags, (mode_t)mode);
    return fd < 0 ? -errno : fd;
}

static int trap_open(void *u, const char *path, int flags, unsigned mode)
{
    __atomic_fetch_add(&g_trap_calls, 1, __ATOMIC_ACQ_REL);
    return count_open(u, path, flags, mode);
}

/* The sysops table is copied at open: a caller may reuse or free its table
   once kvs_store_open returns (the store went on reading the caller's,
   after it changed, before). task_bytes, which the store's pool cannot use,
   is refused; the pool's workers keep no megabyte of unused scratch. */
static void test_config_owned(kvs_store_kind kind, const char *where, const char *label)
{
    kvs_store_config c, eff;
    kvs_store *s = NULL;
    kvs_sysops *ops = (kvs_sysops *)calloc(1, sizeof *ops);
    t_alloc_state as;
    unsigned char out[16];
    size_t len = 0;
    int before;
    printf("-- %s\n", label);
    if (!CHECK(ops != NULL))
        return;
    ops->openat = count_openat;
    ops->open = count_open;
    base_config(&c, kind, where);
    c.sysops = ops;
    __atomic_store_n(&g_hook_calls, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&g_trap_calls, 0, __ATOMIC_RELEASE);
    if (!CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_OK)) {
        fprintf(stderr, "open: %s\n", g_err);
        free(ops);
        return;
    }
    ops->openat = trap_openat; /* the caller's table changes, then goes */
    ops->open = trap_open;
    kvs_store_get_config(s, &eff);
    CHECK(eff.sysops != NULL && eff.sysops != ops && eff.sysops->openat == count_openat);
    free(ops);
    before = __atomic_load_n(&g_hook_calls, __ATOMIC_ACQUIRE);
    CHECK_R(kvs_store_put(s, "owned", 5, "value", 5), KVS_OK);
    CHECK_R(kvs_store_get(s, "owned", 5, out, sizeof out, &len), KVS_OK);
    CHECK(len == 5 && memcmp(out, "value", 5) == 0);
    CHECK_R(kvs_store_close(s), KVS_OK);
    s = NULL;
    if (kind == KVS_STORE_FS) /* its files open through the hook */
        CHECK(__atomic_load_n(&g_hook_calls, __ATOMIC_ACQUIRE) > before);
    CHECK(__atomic_load_n(&g_trap_calls, __ATOMIC_ACQUIRE) == 0);

    /* task_bytes: refused, named; read back as 0 */
    base_config(&c, kind, where);
    c.task_bytes = (size_t)4 << 20;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_INVAL);
    CHECK(s == NULL && strstr(g_err, "task_bytes") != NULL);

    /* 16 workers: their scratch is 4 KiB each (it was 1 MiB each) */
    base_config(&c, kind, where);
    c.threads = 16;
    c.allocator = t_allocator(&as, -1);
    if (CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_OK)) {
        long long live = __atomic_load_n(&as.live_bytes, __ATOMIC_ACQUIRE);
        kvs_store_get_config(s, &eff);
        CHECK(eff.threads == 16 && eff.task_bytes == 0);
        if (kind == KVS_STORE_FS && !CHECK(live < (1 << 20)))
            fprintf(stderr, "live bytes after open: %lld\n", live);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    CHECK(t_alloc_live(&as) == 0 && as.bad_free == 0);
}

#define NKEYS 24

typedef struct fixture {
    kvs_store *s;
    kvs_store_kind kind;
    char keys[NKEYS][64];
    unsigned char *vals[NKEYS];
    size_t lens[NKEYS];
    unsigned char *bufs[NKEYS];
    size_t caps[NKEYS];
} fixture;

static size_t value_len(uint32_t i)
{
    static const size_t sizes[] = {1, 100, 511, 512, 4095, 4096, 4097, 65536 + 100, 200000, 7777};
    return sizes[i % (sizeof sizes / sizeof sizes[0])] + i;
}

static void fixture_items(fixture *f, kvs_item *items, const uint32_t *idx, size_t n, int for_get)
{
    size_t i;
    memset(items, 0, n * sizeof *items);
    for (i = 0; i < n; i++) {
        uint32_t k = idx[i];
        items[i].key = f->keys[k];
        items[i].key_len = strlen(f->keys[k]);
        items[i].buf = for_get ? f->bufs[k] : f->vals[k];
        items[i].len = for_get ? f->caps[k] : f->lens[k];
    }
}

static void run_api(kvs_store_kind kind, const char *where, const char *label)
{
    kvs_store_config c, eff;
    fixture f;
    kvs_item items[NKEYS + 4];
    uint32_t idx[NKEYS + 4];
    kvs_store_stats st;
    kvs_store_batch *b = NULL, *got = NULL;
    pread_trap trap;
    kvs_sysops ops;
    size_t count, i, out_len;
    int fd;
    struct pollfd pf;
    const char absent[] = "model@tp0@absent";

    printf("-- %s\n", label);
    memset(&trap, 0, sizeof trap);
    memset(&ops, 0, sizeof ops);
    ops.user = &trap;
    ops.pread = trap_pread;
    base_config(&c, kind, where);
    c.sysops = &ops;
    memset(&f, 0, sizeof f);
    f.kind = kind;
    if (!CHECK_R(kvs_store_open(&c, &f.s, g_err, sizeof g_err), KVS_OK)) {
        fprintf(stderr, "open: %s\n", g_err);
        return;
    }

    /* The effective configuration: defaults resolved, strings owned. */
    kvs_store_get_config(f.s, &eff);
    CHECK(eff.kind == kind && eff.threads == 3 && eff.task_bytes == 0);
    CHECK(eff.paths != NULL && eff.paths != where && strcmp(eff.paths, where) == 0);
    if (kind == KVS_STORE_RAW) {
        struct stat sb;
        CHECK(eff.slot_payload_bytes == ((uint64_t)256 << 10) && eff.max_key_bytes == 256 &&
              eff.checkpoint_interval_ms == 60000 && eff.checkpoint_idle_ms == 1000 && eff.meta_bytes != 0);
        /* The device file it created is the owner's only, as FS objects are. */
        CHECK(eff.file_mode == 0600);
        CHECK(stat(where, &sb) == 0 && (sb.st_mode & 07777) == 0600);
    } else
        CHECK(eff.file_mode == 0600 && eff.temp_max_age_s == 600);
    CHECK(kvs_is_pow2(kvs_store_buffer_align(f.s)));

    for (i = 0; i < NKEYS; i++) {
        key_name(f.keys[i], sizeof f.keys[i], (uint32_t)i);
        f.lens[i] = value_len((uint32_t)i);
        f.vals[i] = (unsigned char *)malloc(f.lens[i]);
        f.caps[i] = f.lens[i] + 4096;
        f.bufs[i] = (unsigned char *)malloc(f.caps[i]);
        make_value(f.vals[i], f.lens[i], (uint32_t)i, 1);
        idx[i] = (uint32_t)i;
    }

    /* Batched put: every item its own result. */
    fixture_items(&f, items, idx, NKEYS, 0);
    CHECK_R(kvs_store_put_batch(f.s, items, NKEYS, &count), KVS_OK);
    CHECK(count == 0);
    for (i = 0; i < NKEYS; i++)
        CHECK_R(items[i].result, KVS_OK);
    /* A bad item fails alone. */
    fixture_items(&f, items, idx, 3, 0);
    items[1].key_len = 0;
    CHECK_R(kvs_store_put_batch(f.s, items, 3, &count), KVS_E_KEY);
    CHECK(count == 1 && items[0].result == KVS_OK && items[1].result == KVS_E_KEY && items[2].result == KVS_OK);

    /* Batched exists with absent keys mixed in. */
    fixture_items(&f, items, idx, NKEYS, 0);
    for (i = NKEYS; i < NKEYS + 4; i++) {
        memset(&items[i], 0, sizeof items[i]);
        items[i].key = absent;
        items[i].key_len = sizeof absent - 1 - (i - NKEYS);
    }
    CHECK_R(kvs_store_exists_batch(f.s, items, NKEYS + 4, &count), KVS_OK);
    CHECK(count == NKEYS);
    for (i = 0; i < NKEYS + 4; i++)
        CHECK_R(items[i].result, i < NKEYS ? KVS_OK : KVS_NOT_FOUND);

    /* Prefix get, all hits. */
    fixture_items(&f, items, idx, 8, 1);
    CHECK_R(kvs_store_get_prefix(f.s, items, 8, &count), KVS_OK);
    CHECK(count == 8);
    for (i = 0; i < 8; i++)
        CHECK(items[i].result == KVS_OK && items[i].out_len == f.lens[i] &&
              check_value(f.bufs[i], f.lens[i], (uint32_t)i, 1));

    /* A miss in the middle ends the prefix; nothing after it is loaded. */
    fixture_items(&f, items, idx, 5, 1);
    items[2].key = absent;
    items[2].key_len = sizeof absent - 1;
    CHECK_R(kvs_store_get_prefix(f.s, items, 5, &count), KVS_OK);
    CHECK(count == 2);
    CHECK_R(items[2].result, KVS_NOT_FOUND);
    CHECK(items[3].out_len == 0 && items[4].out_len == 0);
    CHECK(items[3].result != KVS_OK && items[4].result != KVS_OK);
    /* A miss first: nothing loaded. */
    CHECK_R(kvs_store_get_prefix(f.s, &items[2], 3, &count), KVS_OK);
    CHECK(count == 0);

    /* A buffer too small is a clear result with the needed length. */
    fixture_items(&f, items, idx, 4, 1);
    items[1].len = f.lens[1] - 1;
    CHECK_R(kvs_store_get_prefix(f.s, items, 4, &count), KVS_E_BUFSIZE);
    CHECK(count == 1 && items[1].result == KVS_E_BUFSIZE && items[1].out_len == f.lens[1]);
    CHECK(items[2].result != KVS_OK && items[3].result != KVS_OK);

    /* A read error: the items before it stay loaded, the error is reported.
       The trap fails preads into item 8's buffer: a 200 KB object, which
       both engines read straight into the caller's buffer. */
    fixture_items(&f, items, idx, 10, 1);
    trap.lo = f.bufs[8];
    trap.hi = f.bufs[8] + f.caps[8];
    __atomic_store_n(&trap.armed, 1, __ATOMIC_SEQ_CST);
    CHECK_R(kvs_store_get_prefix(f.s, items, 10, &count), KVS_E_IO);
    __atomic_store_n(&trap.armed, 0, __ATOMIC_SEQ_CST);
    if (!CHECK(count == 8 && items[8].result == KVS_E_IO && items[8].out_len == 0))
        fprintf(stderr, "  (%s: loaded %zu, item 8 %s)\n", label, count, kvs_result_name(items[8].result));
    CHECK(items[9].result != KVS_OK && items[9].out_len == 0);
    for (i = 0; i < 8; i++)
        CHECK(items[i].result == KVS_OK && check_value(f.bufs[i], f.lens[i], (uint32_t)i, 1));

    /* Single get: too small, exact, missing, bad keys. */
    CHECK_R(kvs_store_get(f.s, f.keys[5], strlen(f.keys[5]), NULL, 0, &out_len), KVS_E_BUFSIZE);
    CHECK(out_len == f.lens[5]);
    CHECK_R(kvs_store_get(f.s, f.keys[5], strlen(f.keys[5]), f.bufs[5], f.lens[5], &out_len), KVS_OK);
    CHECK(out_len == f.lens[5] && check_value(f.bufs[5], f.lens[5], 5, 1));
    CHECK_R(kvs_store_get(f.s, absent, sizeof absent - 1, f.bufs[5], f.caps[5], &out_len), KVS_NOT_FOUND);
    CHECK(out_len == 0);
    CHECK_R(kvs_store_get(f.s, absent, 0, f.bufs[5], f.caps[5], &out_len), KVS_E_KEY);
    CHECK_R(kvs_store_get(f.s, f.bufs[0], KVS_KEY_MAX + 1, f.bufs[5], f.caps[5], &out_len), KVS_E_KEY);
    CHECK_R(kvs_store_put(f.s, absent, 0, f.vals[0], 1), KVS_E_KEY);
    /* the other single-key calls too: an empty key and one past KVS_KEY_MAX */
    for (i = 0; i < 2; i++) {
        size_t bl = i == 0 ? 0 : KVS_KEY_MAX + 1;
        const void *bk = i == 0 ? (const void *)absent : (const void *)f.bufs[0];
        CHECK_R(kvs_store_exists(f.s, bk, bl), KVS_E_KEY);
        CHECK_R(kvs_store_remove(f.s, bk, bl), KVS_E_KEY);
        CHECK_R(kvs_store_pin(f.s, bk, bl), KVS_E_KEY);
        CHECK_R(kvs_store_unpin(f.s, bk, bl), KVS_E_KEY);
    }
    /* a bad item in a batched exists fails alone; in a prefix get it ends
       the run with its error */
    fixture_items(&f, items, idx, 4, 0);
    items[2].key_len = 0;
    CHECK_R(kvs_store_exists_batch(f.s, items, 4, &count), KVS_E_KEY);
    CHECK(count == 3 && items[0].result == KVS_OK && items[1].result == KVS_OK && items[2].result == KVS_E_KEY &&
          items[3].result == KVS_OK);
    fixture_items(&f, items, idx, 4, 1);
    items[2].key_len = KVS_KEY_MAX + 1;
    CHECK_R(kvs_store_get_prefix(f.s, items, 4, &count), KVS_E_KEY);
    CHECK(count == 2 && items[2].result == KVS_E_KEY && items[2].out_len == 0);
    CHECK(items[0].result == KVS_OK && check_value(f.bufs[0], f.lens[0], 0, 1));
    CHECK(items[3].result != KVS_OK && items[3].out_len == 0);

    /* Asynchronous put, completed through the fd. */
    for (i = 0; i < NKEYS; i++)
        make_value(f.vals[i], f.lens[i], (uint32_t)i, 2);
    fixture_items(&f, items, idx, NKEYS, 0);
    fd = kvs_store_fd(f.s);
    CHECK(fd >= 0);
    CHECK_R(kvs_store_submit(f.s, KVS_BATCH_PUT, items, NKEYS, &b), KVS_OK);
    pf.fd = fd;
    pf.events = POLLIN;
    pf.revents = 0;
    CHECK(poll(&pf, 1, 30000) == 1 && (pf.revents & POLLIN));
    CHECK_R(kvs_store_reap(f.s, &got), KVS_OK);
    CHECK(got == b);
    CHECK_R(kvs_store_batch_wait(b, &count), KVS_OK);
    CHECK(count == 0);
    CHECK_R(kvs_store_batch_poll(b, &count), KVS_OK);
    CHECK_R(kvs_store_batch_free(b), KVS_OK);
    CHECK_R(kvs_store_reap(f.s, &got), KVS_E_AGAIN);

    /* Asynchronous prefix get, polled without blocking. */
    fixture_items(&f, items, idx, NKEYS, 1);
    b = NULL;
    CHECK_R(kvs_store_submit(f.s, KVS_BATCH_GET_PREFIX, items, NKEYS, &b), KVS_OK);
    if (b != NULL) {
        kvs_result pr;
        int spins = 0;
        while ((pr = kvs_store_batch_poll(b, &count)) == KVS_E_AGAIN && spins++ < 3000000)
            ;
        CHECK_R(pr, KVS_OK);
        CHECK(count == NKEYS);
        for (i = 0; i < NKEYS; i++)
            CHECK(check_value(f.bufs[i], f.lens[i], (uint32_t)i, 2));
        CHECK_R(kvs_store_reap(f.s, &got), KVS_OK);
        CHECK(got == b);
        CHECK_R(kvs_store_batch_free(b), KVS_OK);
    }

    /* Remove, exists, iteration, stats. */
    CHECK_R(kvs_store_remove(f.s, f.keys[0], strlen(f.keys[0])), KVS_OK);
    CHECK_R(kvs_store_remove(f.s, f.keys[0], strlen(f.keys[0])), KVS_NOT_FOUND);
    CHECK_R(kvs_store_exists(f.s, f.keys[0], strlen(f.keys[0])), KVS_NOT_FOUND);
    CHECK_R(kvs_store_exists(f.s, f.keys[1], strlen(f.keys[1])), KVS_OK);
    kvs_store_get_stats(f.s, &st);
    CHECK(st.kind == kind && st.objects == NKEYS - 1);
    CHECK(st.hits >= 8 + 2 + 1 + 9 + 1 + NKEYS && st.misses >= 1 && st.removes == 1);
    CHECK(st.puts >= 2 * NKEYS + 3);

    /* An async batch left unfreed at close is released by close (ASan
       would report the leak). */
    fixture_items(&f, items, idx, 2, 0);
    b = NULL;
    CHECK_R(kvs_store_submit(f.s, KVS_BATCH_EXISTS, items, 2, &b), KVS_OK);
    CHECK_R(kvs_store_close(f.s), KVS_OK);
    for (i = 0; i < NKEYS; i++) {
        free(f.vals[i]);
        free(f.bufs[i]);
    }
}

/* ---- threads on shared keys: no torn or mixed values ---- */
#define T_THREADS 4
#define T_KEYS 6

typedef struct thr {
    kvs_store *s;
    unsigned id;
    unsigned iters;
    unsigned bad;       /* values that failed their self-check */
    unsigned errors;    /* unexpected results */
    uint32_t *versions; /* shared: highest version written per key (atomic) */
} thr;

static void *thr_main(void *arg)
{
    thr *t = (thr *)arg;
    size_t cap = 70000, out_len;
    unsigned char *buf = (unsigned char *)malloc(cap);
    char key[64];
    unsigned i;
    uint64_t rs = 0x1234u + t->id;
    for (i = 0; i < t->iters && buf != NULL; i++) {
        uint32_t k, z;
        kvs_result r;
        rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
        z = (uint32_t)(rs >> 33);
        k = z % T_KEYS;
        key_name(key, sizeof key, k);
        if ((z >> 8) % 3 == 0) {
            uint32_t v = __atomic_add_fetch(&t->versions[k], 1u, __ATOMIC_SEQ_CST);
            size_t len = 1000 + (v * 977u) % 60000u;
            make_value(buf, len, k, v);
            r = kvs_store_put(t->s, key, strlen(key), buf, len);
            if (r != KVS_OK)
                t->errors++;
        } else {
            r = kvs_store_get(t->s, key, strlen(key), buf, cap, &out_len);
            if (r == KVS_OK) {
                /* Which version? Try the ones that could be there. */
                uint32_t top = __atomic_load_n(&t->versions[k], __ATOMIC_SEQ_CST), v;
                int found = 0;
                for (v = top; v >= 1 && !found; v--)
                    if (out_len == 1000 + (v * 977u) % 60000u && check_value(buf, out_len, k, v))
                        found = 1;
                if (!found)
                    t->bad++;
            } else if (r != KVS_NOT_FOUND) {
                t->errors++;
            }
        }
    }
    free(buf);
    return NULL;
}

static void run_threads(kvs_store_kind kind, const char *where, const char *label)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    pthread_t th[T_THREADS];
    thr args[T_THREADS];
    uint32_t versions[T_KEYS];
    unsigned i, bad = 0, errors = 0;
    printf("-- %s\n", label);
    base_config(&c, kind, where);
    if (kind == KVS_STORE_RAW)
        c.format = KVS_FORMAT_ALWAYS;
    if (!CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_OK)) {
        fprintf(stderr, "open: %s\n", g_err);
        return;
    }
    memset(versions, 0, sizeof versions);
    for (i = 0; i < T_THREADS; i++) {
        args[i].s = s;
        args[i].id = i;
        args[i].iters = T_SAN ? 150 : 1500;
        args[i].bad = args[i].errors = 0;
        args[i].versions = versions;
        CHECK(pthread_create(&th[i], NULL, thr_main, &args[i]) == 0);
    }
    for (i = 0; i < T_THREADS; i++) {
        pthread_join(th[i], NULL);
        bad += args[i].bad;
        errors += args[i].errors;
    }
    CHECK(bad == 0);
    CHECK(errors == 0);
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* ---- batches and reapers on other threads ---- */
#define R_KEYS 4
#define R_LEN 4096

typedef struct race {
    kvs_store *s;
    int stop;           /* atomic: the other side is done */
    unsigned iters;
    unsigned reaped;    /* batches a reaper got */
    unsigned bad;       /* unexpected results or bytes */
    kvs_item *items;    /* the event loop's: 2 per batch */
    kvs_store_batch **handles; /* the submitter's pointers, one per batch */
    unsigned submitted; /* atomic */
} race;

static void race_key(char *out, size_t cap, unsigned i)
{
    snprintf(out, cap, "race-%u", i);
}

/* The synchronous batch calls, while another thread reaps: the batches
   they use inside are theirs alone. */
static void *race_sync_main(void *arg)
{
    race *r = (race *)arg;
    char keys[R_KEYS][32];
    unsigned char *bufs = (unsigned char *)malloc((size_t)R_KEYS * R_LEN);
    unsigned it, i;
    for (i = 0; i < R_KEYS; i++)
        race_key(keys[i], sizeof keys[i], i);
    for (it = 0; it < r->iters && bufs != NULL; it++) {
        kvs_item items[R_KEYS];
        size_t c = 99;
        kvs_result res;
        memset(items, 0, sizeof items);
        for (i = 0; i < R_KEYS; i++) {
            items[i].key = keys[i];
            items[i].key_len = strlen(keys[i]);
            items[i].buf = bufs + (size_t)i * R_LEN;
            items[i].len = R_LEN;
        }
        switch (it % 3) {
        case 0:
            res = kvs_store_exists_batch(r->s, items, 2, &c);
            if (res != KVS_OK || c != 2 || items[0].result != KVS_OK || items[1].result != KVS_OK)
                r->bad++;
            break;
        case 1:
            res = kvs_store_get_prefix(r->s, items, R_KEYS, &c);
            if (res != KVS_OK || c != R_KEYS)
                r->bad++;
            for (i = 0; i < R_KEYS && res == KVS_OK; i++)
                if (items[i].out_len != R_LEN || !check_value((const unsigned char *)items[i].buf, R_LEN, i, 1))
                    r->bad++;
            break;
        default:
            for (i = 0; i < 2; i++)
                make_value((unsigned char *)items[i].buf, R_LEN, i, 1);
            res = kvs_store_put_batch(r->s, items, 2, &c);
            if (res != KVS_OK || c != 0)
                r->bad++;
            break;
        }
    }
    free(bufs);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *race_reaper_main(void *arg)
{
    race *r = (race *)arg;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        kvs_store_batch *b = NULL;
        if (kvs_store_reap(r->s, &b) == KVS_OK) {
            r->reaped++;
            (void)kvs_store_batch_free(b);
        }
        sched_yield();
    }
    return NULL;
}

/* Reaps and frees, counting with relaxed atomics: a submitter that waits on
   the count learns nothing ordered from it (so TSan still sees whether what
   it read of a batch races with what the reaping wrote). */
static void *race_relaxed_reaper_main(void *arg)
{
    race *r = (race *)arg;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        kvs_store_batch *b = NULL;
        if (kvs_store_reap(r->s, &b) == KVS_OK) {
            (void)kvs_store_batch_free(b);
            __atomic_add_fetch(&r->reaped, 1, __ATOMIC_RELAXED);
        }
        sched_yield();
    }
    return NULL;
}

/* Submits async batches as fast as it can; the main thread reaps them. */
static void *race_submit_main(void *arg)
{
    race *r = (race *)arg;
    unsigned i;
    for (i = 0; i < r->iters; i++) {
        if (kvs_store_submit(r->s, KVS_BATCH_EXISTS, r->items + 2 * (size_t)i, 2, &r->handles[i]) != KVS_OK)
            r->bad++;
        else
            __atomic_add_fetch(&r->submitted, 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void run_batch_races(kvs_store_kind kind, const char *where, const char *label)
{
    kvs_store_config c;
    t_alloc_state as;
    race r;
    pthread_t a, b;
    char keys[R_KEYS][32];
    unsigned char *val = (unsigned char *)malloc(R_LEN);
    unsigned i;
    struct pollfd pf;
    printf("-- %s\n", label);
    base_config(&c, kind, where);
    c.allocator = t_allocator(&as, -1);
    memset(&r, 0, sizeof r);
    if (val == NULL || !CHECK_R(kvs_store_open(&c, &r.s, g_err, sizeof g_err), KVS_OK)) {
        fprintf(stderr, "open: %s\n", g_err);
        free(val);
        return;
    }
    for (i = 0; i < R_KEYS; i++) {
        race_key(keys[i], sizeof keys[i], i);
        make_value(val, R_LEN, i, 1);
        CHECK_R(kvs_store_put(r.s, keys[i], strlen(keys[i]), val, R_LEN), KVS_OK);
    }

    /* 1. A reaper never gets the batches of the synchronous calls, and the
       fd never turns readable for them. */
    r.iters = T_SAN ? 300 : 3000;
    CHECK(pthread_create(&a, NULL, race_sync_main, &r) == 0);
    CHECK(pthread_create(&b, NULL, race_reaper_main, &r) == 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CHECK(r.bad == 0);
    CHECK(r.reaped == 0);
    pf.fd = kvs_store_fd(r.s);
    pf.events = POLLIN;
    pf.revents = 0;
    CHECK(poll(&pf, 1, 0) == 0);

    /* 2. An event loop reaps what another thread submits, freeing each
       batch at once: every batch is complete and whole when reaped (its
       pool batch attached), none is lost, and nothing leaks. The batch it
       gets is the one the submitter's pointer holds: kvs_store_submit sets
       *out before any work can run (it did after, and a reaper could free
       a batch before the submitter had its pointer). */
    r.stop = 0;
    r.bad = 0;
    r.items = (kvs_item *)calloc(2 * (size_t)r.iters, sizeof(kvs_item));
    r.handles = (kvs_store_batch **)calloc((size_t)r.iters, sizeof(kvs_store_batch *));
    CHECK(r.items != NULL && r.handles != NULL);
    if (r.items != NULL && r.handles != NULL) {
        unsigned got = 0, incomplete = 0, unmatched = 0;
        for (i = 0; i < 2 * r.iters; i++) {
            r.items[i].key = keys[i % 2];
            r.items[i].key_len = strlen(keys[i % 2]);
        }
        CHECK(pthread_create(&a, NULL, race_submit_main, &r) == 0);
        while (got < r.iters) {
            kvs_store_batch *sb = NULL;
            size_t cnt = 0;
            if (kvs_store_reap(r.s, &sb) != KVS_OK) {
                if (__atomic_load_n(&r.stop, __ATOMIC_ACQUIRE) &&
                    got == __atomic_load_n(&r.submitted, __ATOMIC_ACQUIRE))
                    break; /* a failed submit: counted in bad */
                pf.revents = 0;
                (void)poll(&pf, 1, 100);
                continue;
            }
            got++;
            if (kvs_store_batch_poll(sb, &cnt) != KVS_OK || cnt != 2)
                incomplete++;
            {
                size_t ni = 0;
                kvs_item *it = kvs_store_batch_items(sb, &ni);
                size_t k = (size_t)(it - r.items) / 2;
                if (ni != 2 || it < r.items || k >= r.iters || r.handles[k] != sb)
                    unmatched++;
            }
            CHECK_R(kvs_store_batch_free(sb), KVS_OK);
        }
        pthread_join(a, NULL);
        CHECK(r.bad == 0);
        CHECK(got == r.iters);
        CHECK(incomplete == 0);
        CHECK(unmatched == 0);
        CHECK(poll(&pf, 1, 0) == 0);
    }
    free(r.items);
    free(r.handles);

    /* 3. A prefix get's items from the first key the existence check finds
       missing on are final when kvs_store_submit returns: the submitter
       reads them while the reaper completes and frees the batch. (The
       reaper's completion wrote them again: a data race, which TSan
       reports.) */
    {
        const unsigned nb = T_SAN ? 100u : 500u;
        kvs_item *pi = (kvs_item *)calloc(3 * (size_t)nb, sizeof(kvs_item));
        unsigned char *pb = (unsigned char *)malloc(3 * (size_t)nb * R_LEN);
        unsigned tails = 0, done = 0, ok = 0;
        CHECK(pi != NULL && pb != NULL);
        r.stop = 0;
        r.reaped = 0;
        CHECK(pthread_create(&b, NULL, race_relaxed_reaper_main, &r) == 0);
        for (i = 0; i < nb && pi != NULL && pb != NULL; i++) {
            kvs_item *it = pi + 3 * (size_t)i;
            kvs_store_batch *sb = NULL;
            unsigned j;
            for (j = 0; j < 3; j++) {
                it[j].key = j == 1 ? "race-absent" : keys[j / 2];
                it[j].key_len = strlen((const char *)it[j].key);
                it[j].buf = pb + (3 * (size_t)i + j) * R_LEN;
                it[j].len = R_LEN;
            }
            if (kvs_store_submit(r.s, KVS_BATCH_GET_PREFIX, it, 3, &sb) != KVS_OK) {
                r.bad++;
                continue;
            }
            ok++;
            if (it[1].result == KVS_NOT_FOUND && it[2].result == KVS_E_CANCELED && it[2].out_len == 0)
                tails++;
            /* until the reaper has it (no ordering: no submit of ours in between) */
            while (__atomic_load_n(&r.reaped, __ATOMIC_RELAXED) < ok)
                sched_yield();
        }
        __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
        pthread_join(b, NULL);
        done = __atomic_load_n(&r.reaped, __ATOMIC_RELAXED);
        while (done < ok) { /* what the reaper left */
            kvs_store_batch *sb = NULL;
            if (kvs_store_reap(r.s, &sb) == KVS_OK) {
                (void)kvs_store_batch_free(sb);
                done++;
            } else {
                pf.revents = 0;
                (void)poll(&pf, 1, 100);
            }
        }
        CHECK(r.bad == 0 && ok == nb && tails == nb);
        for (i = 0; i < ok; i++) /* the loaded hit, and the tail left alone */
            CHECK(pi[3 * (size_t)i].result == KVS_OK && pi[3 * (size_t)i].out_len == R_LEN &&
                  pi[3 * (size_t)i + 2].result == KVS_E_CANCELED && pi[3 * (size_t)i + 2].out_len == 0);
        free(pi);
        free(pb);
    }
    CHECK_R(kvs_store_close(r.s), KVS_OK);
    CHECK(t_alloc_live(&as) == 0 && as.bad_free == 0);
    free(val);
}

/* ---- batch results when the batch itself fails ---- */
typedef struct again_hooks {
    int armed; /* atomic */
} again_hooks;

static int again_on(void *u)
{
    return __atomic_load_n(&((again_hooks *)u)->armed, __ATOMIC_ACQUIRE);
}
static int64_t again_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    if (again_on(u))
        return -EAGAIN;
    n = pread(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}
static int64_t again_pwrite(void *u, int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    if (again_on(u))
        return -EAGAIN;
    n = pwrite(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}
static int again_openat(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd;
    if (again_on(u))
        return -EAGAIN;
    fd = openat(dfd, path, flags, (mode_t)mode);
    return fd < 0 ? -errno : fd;
}
static int again_fstatat(void *u, int dfd, const char *path, kvs_file_status *st)
{
    if (again_on(u))
        return -EAGAIN;
    return kvs_sys_fstatat(dfd, path, st);
}

/* Every item of a batch has a final result (never KVS_E_AGAIN, the mark of
   an item still pending), *failed counts the items that failed, and the
   call's result is the first failing item's. */
static void check_put_batch(const kvs_item *items, size_t n, kvs_result r, size_t failed)
{
    size_t i, nf = 0;
    kvs_result first = KVS_OK;
    for (i = 0; i < n; i++) {
        CHECK(items[i].result != KVS_E_AGAIN);
        if (items[i].result != KVS_OK) {
            nf++;
            if (first == KVS_OK)
                first = items[i].result;
        }
    }
    CHECK(failed == nf);
    CHECK_R(r, first);
}

static void run_batch_failures(kvs_store_kind kind, const char *where, const char *label)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    t_alloc_state as;
    again_hooks ah;
    kvs_sysops ops;
    kvs_item items[3];
    char keys[3][48];
    unsigned char *val = (unsigned char *)malloc(R_LEN), *bufs = (unsigned char *)malloc(3 * (size_t)R_LEN);
    long n;
    size_t i, failed, cnt;
    int fired = 1;
    kvs_result r;
    kvs_store_batch *b = NULL;
    printf("-- %s\n", label);
    memset(&ah, 0, sizeof ah);
    memset(&ops, 0, sizeof ops);
    ops.user = &ah;
    ops.pread = again_pread;
    ops.pwrite = again_pwrite;
    ops.openat = again_openat;
    ops.fstatat = again_fstatat;
    base_config(&c, kind, where);
    c.allocator = t_allocator(&as, -1);
    c.sysops = &ops;
    if (!open_with_bufs(&c, &s, val, bufs))
        return;
    make_value(val, R_LEN, 7, 1);

    /* 1. The Nth allocation of a put batch fails, for every N it makes. */
    for (n = 0; fired && n < 200; n++) {
        for (i = 0; i < 3; i++) {
            snprintf(keys[i], sizeof keys[i], "fail-%ld-%u", n, (unsigned)i);
            memset(&items[i], 0, sizeof items[i]);
            items[i].key = keys[i];
            items[i].key_len = strlen(keys[i]);
            items[i].buf = val;
            items[i].len = R_LEN;
        }
        failed = 99;
        t_alloc_arm(&as, n);
        r = kvs_store_put_batch(s, items, 3, &failed);
        fired = __atomic_load_n(&as.fired, __ATOMIC_ACQUIRE);
        t_alloc_arm(&as, -1);
        check_put_batch(items, 3, r, failed);
        if (fired == 0)
            CHECK_R(r, KVS_OK);
    }
    CHECK(n > 1 && !fired);

    /* 1b. A batch that cannot start (its own allocation, n = 0, or the
       pool's, n = 1) counts each item as a put that failed, as it would
       have counted had the items run; so does a prefix get's run. */
    for (n = 0; n < 2; n++) {
        kvs_store_stats st0, st1;
        kvs_store_get_stats(s, &st0);
        for (i = 0; i < 3; i++) {
            snprintf(keys[i], sizeof keys[i], "unrun-%ld-%u", n, (unsigned)i);
            memset(&items[i], 0, sizeof items[i]);
            items[i].key = keys[i];
            items[i].key_len = strlen(keys[i]);
            items[i].buf = val;
            items[i].len = R_LEN;
        }
        t_alloc_arm(&as, n);
        r = kvs_store_put_batch(s, items, 3, &failed);
        t_alloc_arm(&as, -1);
        CHECK_R(r, KVS_E_NOMEM);
        CHECK(failed == 3 && items[2].result == KVS_E_NOMEM);
        kvs_store_get_stats(s, &st1);
        CHECK(st1.puts == st0.puts + 3 && st1.errors == st0.errors + 3);
        for (i = 0; i < 3; i++) { /* now stored: a prefix get's run of 3 */
            CHECK_R(kvs_store_put(s, keys[i], strlen(keys[i]), val, R_LEN), KVS_OK);
            items[i].buf = bufs + i * R_LEN;
        }
        kvs_store_get_stats(s, &st0);
        t_alloc_arm(&as, n);
        r = kvs_store_get_prefix(s, items, 3, &cnt);
        t_alloc_arm(&as, -1);
        CHECK_R(r, KVS_E_NOMEM);
        CHECK(cnt == 0 && items[0].result == KVS_E_NOMEM);
        kvs_store_get_stats(s, &st1);
        CHECK(st1.gets == st0.gets + 3 && st1.errors == st0.errors + 3 && st1.hits == st0.hits);
    }

    /* 2. An EAGAIN from the system is an item's KVS_E_IO: a finished batch
       never answers KVS_E_AGAIN, the answer of one still running. */
    for (i = 0; i < 3; i++) {
        snprintf(keys[i], sizeof keys[i], "again-%u", (unsigned)i);
        memset(&items[i], 0, sizeof items[i]);
        items[i].key = keys[i];
        items[i].key_len = strlen(keys[i]);
        items[i].buf = val;
        items[i].len = R_LEN;
    }
    CHECK_R(kvs_store_put_batch(s, items, 3, &failed), KVS_OK); /* stored, for the gets */
    __atomic_store_n(&ah.armed, 1, __ATOMIC_RELEASE);
    for (i = 0; i < 3; i++) {
        snprintf(keys[i], sizeof keys[i], "again-new-%u", (unsigned)i);
        items[i].key_len = strlen(keys[i]);
    }
    failed = 99;
    r = kvs_store_put_batch(s, items, 3, &failed);
    check_put_batch(items, 3, r, failed);
    CHECK(failed == 3 && items[0].result == KVS_E_IO);
    failed = 99;
    r = kvs_store_put_batch(s, items, 1, &failed); /* inline */
    check_put_batch(items, 1, r, failed);
    CHECK(failed == 1 && items[0].result == KVS_E_IO);
    CHECK_R(kvs_store_submit(s, KVS_BATCH_PUT, items, 3, &b), KVS_OK);
    if (b != NULL) {
        CHECK_R(kvs_store_batch_wait(b, &cnt), KVS_E_IO);
        CHECK(cnt == 3);
        CHECK_R(kvs_store_batch_poll(b, &cnt), KVS_E_IO);
        CHECK_R(kvs_store_batch_free(b), KVS_OK);
    }
    for (i = 0; i < 3; i++) {
        snprintf(keys[i], sizeof keys[i], "again-%u", (unsigned)i);
        items[i].key_len = strlen(keys[i]);
        items[i].buf = bufs + i * R_LEN;
    }
    cnt = 99;
    CHECK_R(kvs_store_get_prefix(s, items, 3, &cnt), KVS_E_IO);
    CHECK(cnt == 0 && items[0].result == KVS_E_IO);
    if (kind == KVS_STORE_FS) { /* the raw store's exists is its index */
        CHECK_R(kvs_store_exists_batch(s, items, 3, &cnt), KVS_E_IO);
        for (i = 0; i < 3; i++)
            CHECK_R(items[i].result, KVS_E_IO);
    }
    __atomic_store_n(&ah.armed, 0, __ATOMIC_RELEASE);
    CHECK_R(kvs_store_get_prefix(s, items, 3, &cnt), KVS_OK);
    CHECK(cnt == 3 && check_value((const unsigned char *)items[2].buf, R_LEN, 7, 1));

    CHECK_R(kvs_store_close(s), KVS_OK);
    CHECK(t_alloc_live(&as) == 0 && as.bad_free == 0);
    free(val);
    free(bufs);
}

/* ---- batch edges: NULL items, a prefix get's miss in the stats, items
   final without a poll ---- */
static char g_fail_name[KVS_FSNAME_MAX + 1];
static int g_fail_on; /* atomic */

static int fail_name_openat(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    if (__atomic_load_n(&g_fail_on, __ATOMIC_ACQUIRE) && strcmp(path, g_fail_name) == 0)
        return -EIO;
    fd = openat(dfd, path, flags, (mode_t)mode);
    return fd < 0 ? -errno : fd;
}

static void edge_items(kvs_item *items, char (*keys)[32], const char *const *names, unsigned char *bufs)
{
    size_t i;
    for (i = 0; i < 3; i++) {
        snprintf(keys[i], 32, "%s", names[i]);
        memset(&items[i], 0, sizeof items[i]);
        items[i].key = keys[i];
        items[i].key_len = strlen(keys[i]);
        items[i].buf = bufs + i * R_LEN;
        items[i].len = R_LEN;
    }
}

static void free_when_done(kvs_store_batch *b)
{
    kvs_result r;
    while ((r = kvs_store_batch_free(b)) == KVS_E_BUSY)
        sched_yield();
    CHECK_R(r, KVS_OK);
}


/* 32-bit only: an item array that exists (1 GiB of kvs_item) but whose batch
   bookkeeping (an I/O op and a call per item) would pass half the address
   space. Every item gets KVS_E_NOMEM and the store goes on working; a
   prefix get counts one error, a put or exists one per item. On 64-bit no
   such array can exist and the check is the count's KVS_E_OVERFLOW above. */
static void huge_batch_nomem(kvs_store *s)
{
#if SIZE_MAX <= UINT32_MAX
    const size_t per = sizeof(kvs_io_op) + sizeof(kvsi_call);
    const size_t n = (SIZE_MAX / 2) / per + 1;
    const kvs_batch_op ops[3] = {KVS_BATCH_PUT, KVS_BATCH_EXISTS, KVS_BATCH_GET_PREFIX};
    kvs_store_stats st0, st1;
    kvs_store_batch *b;
    kvs_item *items;
    void *m;
    size_t i, bad;
    int k;
    if (n > SIZE_MAX / sizeof(kvs_item)) {
        printf("huge_batch_nomem: kvs_item too large for the case on this target\n");
        return;
    }
    m = mmap(NULL, n * sizeof(kvs_item), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
             -1, 0);
    if (m == MAP_FAILED) {
        printf("huge_batch_nomem: no room for %zu items (%s): case not run\n", n, strerror(errno));
        return;
    }
    items = (kvs_item *)m;
    for (k = 0; k < 3; k++) {
        items[0].result = (kvs_result)4242;
        items[n - 1].result = (kvs_result)4242;
        items[n - 1].out_len = 5;
        kvs_store_get_stats(s, &st0);
        b = (kvs_store_batch *)&b;
        CHECK_R(kvs_store_submit(s, ops[k], items, n, &b), KVS_E_NOMEM);
        CHECK(b == NULL);
        for (i = 0, bad = 0; i < n; i += 4093)
            bad += items[i].result != KVS_E_NOMEM || items[i].out_len != 0;
        CHECK(bad == 0);
        CHECK(items[n - 1].result == KVS_E_NOMEM && items[n - 1].out_len == 0);
        kvs_store_get_stats(s, &st1);
        CHECK(st1.errors == st0.errors + (ops[k] == KVS_BATCH_GET_PREFIX ? 1u : (uint64_t)n));
        CHECK(st1.puts == st0.puts + (ops[k] == KVS_BATCH_PUT ? (uint64_t)n : 0u));
    }
    (void)munmap(m, n * sizeof(kvs_item));
    CHECK_R(kvs_store_put(s, "after", 5, "x", 1), KVS_OK);
    CHECK_R(kvs_store_exists(s, "after", 5), KVS_OK);
#else
    (void)s;
#endif
}

static void run_batch_edges(kvs_store_kind kind, const char *where, const char *label)
{
    static const char *const hit_miss_hit[3] = {"edge-0", "edge-none", "edge-2"};
    static const char *const all3[3] = {"edge-0", "edge-1", "edge-2"};
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_sysops ops;
    kvs_item items[3];
    char keys[3][32];
    unsigned char *val = (unsigned char *)malloc(R_LEN), *bufs = (unsigned char *)malloc(3 * (size_t)R_LEN);
    kvs_store_stats st0, st1;
    kvs_store_batch *b = NULL;
    size_t cnt, i;
    printf("-- %s\n", label);
    memset(&ops, 0, sizeof ops);
    ops.openat = fail_name_openat;
    base_config(&c, kind, where);
    c.sysops = &ops;
    if (!open_with_bufs(&c, &s, val, bufs))
        return;
    for (i = 0; i < 3; i++) {
        make_value(val, R_LEN, (uint32_t)i, 1);
        CHECK_R(kvs_store_put(s, all3[i], strlen(all3[i]), val, R_LEN), KVS_OK);
    }

    /* 1. NULL items with a count of 1 (the one-item calls run inline) */
    cnt = 99;
    CHECK_R(kvs_store_put_batch(s, NULL, 1, &cnt), KVS_E_INVAL);
    CHECK(cnt == 1);
    cnt = 99;
    CHECK_R(kvs_store_exists_batch(s, NULL, 1, &cnt), KVS_E_INVAL);
    CHECK(cnt == 0);
    cnt = 99;
    CHECK_R(kvs_store_get_prefix(s, NULL, 1, &cnt), KVS_E_INVAL);
    CHECK(cnt == 0);

    /* 1b. Refused submits: an unknown op gives every item KVS_E_INVAL; a
       count no array can have leaves the items alone; each is one error. */
    kvs_store_get_stats(s, &st0);
    edge_items(items, keys, all3, bufs);
    for (i = 0; i < 3; i++) {
        items[i].result = (kvs_result)4242;
        items[i].out_len = 77;
    }
    CHECK_R(kvs_store_submit(s, (kvs_batch_op)7, items, 3, &b), KVS_E_INVAL);
    CHECK(b == NULL);
    for (i = 0; i < 3; i++)
        CHECK(items[i].result == KVS_E_INVAL && items[i].out_len == 0);
    items[0].result = (kvs_result)4242;
    CHECK_R(kvs_store_submit(s, KVS_BATCH_EXISTS, items, (size_t)-1 / 2, &b), KVS_E_OVERFLOW);
    CHECK(b == NULL && items[0].result == (kvs_result)4242);
    /* the count is checked before the op: an unknown op with it writes
       no item either (ASan: items has 3) */
    CHECK_R(kvs_store_submit(s, (kvs_batch_op)7, items, (size_t)-1 / sizeof(kvs_item) + 1, &b), KVS_E_OVERFLOW);
    CHECK(b == NULL && items[0].result == (kvs_result)4242);
    kvs_store_get_stats(s, &st1);
    CHECK(st1.errors == st0.errors + 3);
    huge_batch_nomem(s);

    /* 2. A prefix get's first miss is a get and a miss in the stats, as a
       single get's is (it is found by the in-order probe, not a get). */
    kvs_store_get_stats(s, &st0);
    edge_items(items, keys, hit_miss_hit, bufs);
    CHECK_R(kvs_store_get_prefix(s, items, 3, &cnt), KVS_OK);
    CHECK(cnt == 1);
    CHECK_R(items[1].result, KVS_NOT_FOUND);
    CHECK_R(items[2].result, KVS_E_CANCELED);
    CHECK_R(kvs_store_get_prefix(s, items + 1, 1, &cnt), KVS_OK);
    CHECK(cnt == 0);
    kvs_store_get_stats(s, &st1);
    CHECK(st1.gets == st0.gets + 3);
    CHECK(st1.hits == st0.hits + 1);
    CHECK(st1.misses == st0.misses + 2);

    /* 3. Asynchronous: what follows the first miss is final (CANCELED) when
       the submit returns, and a batch freed without a poll leaves every
       item final. */
    edge_items(items, keys, hit_miss_hit, bufs);
    CHECK_R(kvs_store_submit(s, KVS_BATCH_GET_PREFIX, items, 3, &b), KVS_OK);
    CHECK_R(items[1].result, KVS_NOT_FOUND);
    CHECK_R(items[2].result, KVS_E_CANCELED);
    if (b != NULL) {
        size_t ni = 0;
        CHECK(kvs_store_batch_items(b, &ni) == items && ni == 3);
        free_when_done(b);
    }
    CHECK_R(items[0].result, KVS_OK);
    CHECK(items[0].out_len == R_LEN && check_value((const unsigned char *)items[0].buf, R_LEN, 0, 1));

    /* 3b. What the manual says of the edges: a submit of no items is a
       batch completing with count 0 (poll and wait take a NULL count);
       puts counts failed puts, removes only removes that answered KVS_OK. */
    {
        static const kvs_batch_op ops3[3] = {KVS_BATCH_PUT, KVS_BATCH_GET_PREFIX, KVS_BATCH_EXISTS};
        kvs_item none[1];
        for (i = 0; i < 3; i++) {
            b = NULL;
            CHECK_R(kvs_store_submit(s, ops3[i], none, 0, &b), KVS_OK);
            if (!CHECK(b != NULL))
                continue;
            CHECK_R(kvs_store_batch_wait(b, NULL), KVS_OK);
            cnt = 99;
            CHECK_R(kvs_store_batch_poll(b, &cnt), KVS_OK);
            CHECK(cnt == 0);
            CHECK_R(kvs_store_batch_poll(b, NULL), KVS_OK);
            CHECK_R(kvs_store_batch_free(b), KVS_OK);
        }
        kvs_store_get_stats(s, &st0);
        CHECK_R(kvs_store_put(s, "", 0, val, R_LEN), KVS_E_KEY);
        CHECK_R(kvs_store_put(s, all3[0], strlen(all3[0]), NULL, 1), KVS_E_INVAL); /* no bytes */
        CHECK_R(kvs_store_remove(s, "edge-none", 9), KVS_NOT_FOUND);
        CHECK_R(kvs_store_put(s, all3[0], strlen(all3[0]), val, R_LEN), KVS_OK); /* an overwrite */
        kvs_store_get_stats(s, &st1);
        CHECK(st1.puts == st0.puts + 3 && st1.errors == st0.errors + 2);
        CHECK(st1.removes == st0.removes && st1.objects == st0.objects);
        CHECK_R(kvs_store_remove(s, all3[0], strlen(all3[0])), KVS_OK);
        kvs_store_get_stats(s, &st0);
        CHECK(st0.removes == st1.removes + 1 && st0.objects == st1.objects - 1);
        /* a get that finds the object with too small a buffer is a hit */
        cnt = 0;
        CHECK_R(kvs_store_get(s, all3[1], strlen(all3[1]), bufs, R_LEN - 1, &cnt), KVS_E_BUFSIZE);
        CHECK(cnt == R_LEN);
        kvs_store_get_stats(s, &st1);
        CHECK(st1.gets == st0.gets + 1 && st1.hits == st0.hits + 1 && st1.misses == st0.misses &&
              st1.errors == st0.errors);
        make_value(val, R_LEN, 0, 1); /* back as it was, for what follows */
        CHECK_R(kvs_store_put(s, all3[0], strlen(all3[0]), val, R_LEN), KVS_OK);
    }

    /* 4. FS: a load that fails in the middle of the run (its file cannot
       be opened). The items after it were loaded, but released: CANCELED
       with no length, also when the batch is freed without a poll, and
       when it is left to kvs_store_close. */
    if (kind == KVS_STORE_FS) {
        size_t nl = 0;
        CHECK_R(kvs_fsname_encode(all3[1], strlen(all3[1]), g_fail_name, sizeof g_fail_name, &nl, NULL), KVS_OK);
        __atomic_store_n(&g_fail_on, 1, __ATOMIC_RELEASE);
        edge_items(items, keys, all3, bufs);
        CHECK_R(kvs_store_submit(s, KVS_BATCH_GET_PREFIX, items, 3, &b), KVS_OK);
        if (b != NULL)
            free_when_done(b);
        CHECK_R(items[0].result, KVS_OK);
        CHECK_R(items[1].result, KVS_E_IO);
        CHECK_R(items[2].result, KVS_E_CANCELED);
        CHECK(items[2].out_len == 0);
        edge_items(items, keys, all3, bufs);
        CHECK_R(kvs_store_submit(s, KVS_BATCH_GET_PREFIX, items, 3, &b), KVS_OK);
    }
    {
        /* the completion fd is the store's: closed by kvs_store_close */
        int fd = kvs_store_fd(s);
        CHECK(fd >= 0 && fcntl(fd, F_GETFD) >= 0);
        CHECK_R(kvs_store_close(s), KVS_OK); /* the batch of 4 still unfreed */
        errno = 0;
        CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
    }
    __atomic_store_n(&g_fail_on, 0, __ATOMIC_RELEASE);
    if (kind == KVS_STORE_FS) {
        CHECK_R(items[0].result, KVS_OK);
        CHECK_R(items[1].result, KVS_E_IO);
        CHECK_R(items[2].result, KVS_E_CANCELED);
        CHECK(items[2].out_len == 0);
    }
    free(val);
    free(bufs);
}

/* Objects longer than a size_t can hold (a 32-bit process, and objects a
   64-bit one wrote): the raw store refuses slots it could not hold in
   memory, at format and at the open of a store formatted so elsewhere; the
   filesystem store's get of such a file is KVS_E_OVERFLOW, not a
   corruption, while exists and iteration see it. The files are sparse. On
   64-bit the same steps show what a 64-bit process does with them. */
#define BIG_LEN (((uint64_t)1 << 32) + 10)
static int big_iter(void *user, const void *key, size_t klen, uint64_t len)
{
    (void)key;
    (void)klen;
    *(uint64_t *)user = len;
    return 0;
}

static void test_wide_objects(void)
{
    char raw[1100], dir[1100], path[1400], name[KVS_FSNAME_MAX + 1];
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_store_stats st;
    kvs_superblock sb;
    kvs_layout L;
    kvs_objhdr h;
    unsigned char *blk = (unsigned char *)t_xalloc_aligned(4096, 4096), small[64];
    const int wide = (uint64_t)SIZE_MAX > BIG_LEN;
    size_t n = 0, got = 99;
    uint64_t seen = 0;
    int fd;

    if (!CHECK(blk != NULL))
        return;
    /* raw, format: 3 GiB slots on an 8 GiB sparse file */
    snprintf(raw, sizeof raw, "%s/wide.raw", t_dir);
    base_config(&c, KVS_STORE_RAW, raw);
    c.device_bytes = (uint64_t)8 << 30;
    c.slot_payload_bytes = (uint64_t)3 << 30;
    if (wide) {
        CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_OK);
        if (s != NULL)
            CHECK_R(kvs_store_close(s), KVS_OK);
    } else {
        CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_E_LIMIT);
        CHECK(s == NULL && strstr(g_err, "address") != NULL);
    }
    unlink(raw);
    /* raw, open: a superblock with 3 GiB slots, as a 64-bit process formats */
    CHECK_R(kvs_layout_compute((uint64_t)8 << 30, 4096, (uint64_t)1 << 20, ((uint64_t)3 << 30) + 4096, &L, NULL, 0),
            KVS_OK);
    memset(&sb, 0, sizeof sb);
    sb.format_version = KVS_FORMAT_VERSION;
    sb.device_bytes = L.device_bytes;
    sb.align = 4096;
    sb.meta_bytes = L.meta_bytes;
    sb.slot_bytes = L.slot_bytes;
    sb.slot_count = L.slot_count;
    sb.slots_offset = L.slots_offset;
    sb.tp_world = 1;
    sb.store_id = 7;
    memset(blk, 0, 4096);
    CHECK_R(kvs_superblock_encode(&sb, blk, 4096), KVS_OK);
    fd = open(raw, O_CREAT | O_TRUNC | O_RDWR, 0600);
    CHECK(fd >= 0 && pwrite(fd, blk, 4096, 0) == 4096 && ftruncate(fd, (off_t)L.device_bytes) == 0);
    if (fd >= 0)
        close(fd);
    base_config(&c, KVS_STORE_RAW, raw);
    c.format = KVS_FORMAT_NEVER;
    c.device_bytes = 0; /* as recorded */
    c.slot_payload_bytes = 0;
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), wide ? KVS_OK : KVS_E_LIMIT);
    if (s != NULL) {
        kvs_store_get_config(s, &c);
        CHECK(c.slot_payload_bytes == L.slot_payload_max);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    unlink(raw);

    /* filesystem: a file holding a whole object of 2^32 + 10 bytes (the
       payload is sparse zeros, its CRC that of the zeros is not needed:
       no get here reads it) */
    snprintf(dir, sizeof dir, "%s/wide_fs", t_dir);
    base_config(&c, KVS_STORE_FS, dir);
    CHECK_R(kvs_store_open(&c, &s, g_err, sizeof g_err), KVS_OK);
    if (s == NULL) {
        free(blk);
        return;
    }
    CHECK_R(kvs_fsname_encode("wide", 4, name, sizeof name, &n, NULL), KVS_OK);
    memset(&h, 0, sizeof h);
    h.key_len = 4;
    h.key = "wide";
    h.payload_len = BIG_LEN;
    h.generation = 1;
    h.store_id = 1;
    h.payload_offset = 4096;
    memset(blk, 0, 4096);
    CHECK_R(kvs_objhdr_encode(&h, blk, 4096, &n), KVS_OK);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    CHECK(fd >= 0 && pwrite(fd, blk, 4096, 0) == 4096 && ftruncate(fd, (off_t)(4096 + BIG_LEN)) == 0);
    if (fd >= 0)
        close(fd);
    CHECK_R(kvs_store_exists(s, "wide", 4), KVS_OK);
    if (wide) {
        CHECK_R(kvs_store_get(s, "wide", 4, small, sizeof small, &got), KVS_E_BUFSIZE);
        CHECK((uint64_t)got - BIG_LEN == 0); /* not ==: gcc -m32 -Wtype-limits */
    } else {
        CHECK_R(kvs_store_get(s, "wide", 4, small, sizeof small, &got), KVS_E_OVERFLOW);
        CHECK(got == 0);
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.corruptions == 0);
    CHECK_R(kvs_store_iterate(s, big_iter, &seen), KVS_OK);
    CHECK(seen == BIG_LEN);
    CHECK_R(kvs_store_remove(s, "wide", 4), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    free(blk);
}

/* A prefix get whose run ends at a load that misses (b's file there for
   the existence check, damaged when read) before a key the check found
   missing (d): the run is 1, b and d are KVS_NOT_FOUND, c and e
   KVS_E_CANCELED, and the call counts two misses (kvstore.h,
   kvs_store_get_prefix). */
static void test_prefix_two_misses(const char *dir)
{
    static const char *const keys[5] = {"a", "b", "c", "d", "e"};
    static const kvs_result want[5] = {KVS_OK, KVS_NOT_FOUND, KVS_E_CANCELED, KVS_NOT_FOUND, KVS_E_CANCELED};
    static unsigned char v[8192], g[5][8192];
    char name[KVS_FSNAME_MAX + 1], path[1600], err[256];
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_item it[5];
    kvs_store_stats st0, st1;
    size_t i, nl = 0, cnt = 99;
    unsigned char x = 0;
    int fd;
    t_rm_rf(dir);
    kvs_store_config_init(&c);
    c.kind = KVS_STORE_FS;
    c.paths = dir;
    c.direct = KVS_DIRECT_OFF;
    memset(v, 'v', sizeof v);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s == NULL)
        return;
    for (i = 0; i < 5; i++)
        if (i != 3)
            CHECK_R(kvs_store_put(s, keys[i], 1, v, sizeof v), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    CHECK_R(kvs_fsname_encode("b", 1, name, sizeof name, &nl, NULL), KVS_OK);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_RDWR); /* one payload byte flipped, for a handle that does not know the file */
    CHECK(fd >= 0 && pread(fd, &x, 1, 5000) == 1);
    x ^= 0xff;
    CHECK(fd >= 0 && pwrite(fd, &x, 1, 5000) == 1);
    if (fd >= 0)
        close(fd);
    s = NULL;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s == NULL)
        return;
    for (i = 0; i < 5; i++) {
        memset(&it[i], 0, sizeof it[i]);
        it[i].key = keys[i];
        it[i].key_len = 1;
        it[i].buf = g[i];
        it[i].len = sizeof g[i];
    }
    kvs_store_get_stats(s, &st0);
    CHECK_R(kvs_store_get_prefix(s, it, 5, &cnt), KVS_OK);
    kvs_store_get_stats(s, &st1);
    CHECK(cnt == 1 && memcmp(g[0], v, sizeof v) == 0);
    for (i = 0; i < 5; i++)
        CHECK_R(it[i].result, want[i]);
    CHECK(st1.misses - st0.misses == 2 && st1.corruptions - st0.corruptions == 1);
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(dir);
}

/* A prefix get whose in-order existence check stops at an error (here an
   empty key) rather than a miss: that item has the error, and the call
   returns it, only when every load before it succeeded; after an earlier
   failed load it is released as KVS_E_CANCELED and not counted as an
   error. Synchronous and asynchronous. */
static void run_prefix_check_error(kvs_store_kind kind, const char *where, const char *label)
{
    static const char *const keys[3] = {"pe-0", "", "pe-2"};
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_store_batch *b = NULL, *got = NULL;
    kvs_item it[3];
    kvs_store_stats st0, st1;
    unsigned char *val = (unsigned char *)malloc(R_LEN), *bufs = (unsigned char *)malloc(3 * (size_t)R_LEN);
    size_t cnt, i;
    int round;
    printf("-- %s\n", label);
    base_config(&c, kind, where);
    if (!open_with_bufs(&c, &s, val, bufs))
        return;
    make_value(val, R_LEN, 7, 1);
    CHECK_R(kvs_store_put(s, "pe-0", 4, val, R_LEN), KVS_OK);
    CHECK_R(kvs_store_put(s, "pe-2", 4, val, R_LEN), KVS_OK);
    for (round = 0; round < 6; round++) {
        /* rounds 0, 1: the first load succeeds; 2, 3: its buffer is too
           small; 4, 5: the bad key is first. Odd rounds: asynchronous. */
        size_t first = round < 4 ? 0 : 1, small = round == 2 || round == 3;
        kvs_result want_r = small ? KVS_E_BUFSIZE : KVS_E_KEY, r;
        for (i = 0; i < 3; i++) { /* "pe-0", "", "pe-2", or "", "pe-2", "pe-0" */
            memset(&it[i], 0, sizeof it[i]);
            it[i].key = keys[(first + i) % 3];
            it[i].key_len = strlen(keys[(first + i) % 3]);
            it[i].buf = bufs + i * (size_t)R_LEN;
            it[i].len = small && i == 0 ? 10 : R_LEN;
        }
        kvs_store_get_stats(s, &st0);
        cnt = 99;
        if (round % 2 == 0) {
            r = kvs_store_get_prefix(s, it, 3, &cnt);
        } else {
            CHECK_R(kvs_store_submit(s, KVS_BATCH_GET_PREFIX, it, 3, &b), KVS_OK);
            /* what follows the item the check stopped at is final now;
               that item too when it is the first (no load before it),
               else it is pending until the batch completes */
            CHECK_R(it[first == 1 ? 1 : 2].result, KVS_E_CANCELED);
            CHECK_R(it[first == 1 ? 0 : 1].result, first == 1 ? KVS_E_KEY : KVS_E_AGAIN);
            r = b == NULL ? KVS_E_INVAL : kvs_store_batch_wait(b, &cnt);
            CHECK_R(kvs_store_reap(s, &got), KVS_OK);
            CHECK(got == b);
            if (b != NULL)
                CHECK_R(kvs_store_batch_free(b), KVS_OK);
            b = NULL;
        }
        kvs_store_get_stats(s, &st1);
        CHECK_R(r, want_r);
        if (first == 1) {
            CHECK(cnt == 0);
            CHECK_R(it[0].result, KVS_E_KEY);
            CHECK_R(it[1].result, KVS_E_CANCELED);
            CHECK_R(it[2].result, KVS_E_CANCELED);
            CHECK(st1.gets - st0.gets == 1 && st1.errors - st0.errors == 1);
        } else if (small) {
            CHECK(cnt == 0 && it[0].out_len == R_LEN);
            CHECK_R(it[0].result, KVS_E_BUFSIZE);
            CHECK_R(it[1].result, KVS_E_CANCELED);
            CHECK_R(it[2].result, KVS_E_CANCELED);
            CHECK(it[1].out_len == 0 && it[2].out_len == 0);
            CHECK(st1.gets - st0.gets == 1 && st1.errors == st0.errors);
        } else {
            CHECK(cnt == 1 && it[0].out_len == R_LEN && check_value(bufs, R_LEN, 7, 1));
            CHECK_R(it[0].result, KVS_OK);
            CHECK_R(it[1].result, KVS_E_KEY);
            CHECK_R(it[2].result, KVS_E_CANCELED);
            CHECK(st1.gets - st0.gets == 2 && st1.errors - st0.errors == 1);
        }
        CHECK(st1.misses == st0.misses);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
    free(val);
    free(bufs);
}

int main(void)
{
    char fsdir[2200], fsdir2[1100], raw[1100], raw2[1100];
    t_init("test_store_api");
    t_setup_dir("api");
    snprintf(fsdir, sizeof fsdir, "%s/fs_a, %s/fs_b", t_dir, t_dir);
    snprintf(fsdir2, sizeof fsdir2, "%s/fs_t", t_dir);
    snprintf(raw, sizeof raw, "%s/dev.raw", t_dir);
    snprintf(raw2, sizeof raw2, "%s/dev_t.raw", t_dir);
    test_config_errors();
    test_config_owned(KVS_STORE_FS, fsdir2, "filesystem store, the configuration it keeps");
    test_config_owned(KVS_STORE_RAW, raw2, "raw-block store, the configuration it keeps");
    run_api(KVS_STORE_FS, fsdir, "filesystem store, two directories");
    run_api(KVS_STORE_RAW, raw, "raw-block store on a file");
    run_threads(KVS_STORE_FS, fsdir2, "filesystem store, threads");
    run_threads(KVS_STORE_RAW, raw2, "raw-block store, threads");
    run_batch_races(KVS_STORE_FS, fsdir2, "filesystem store, batches and a reaper on other threads");
    run_batch_races(KVS_STORE_RAW, raw2, "raw-block store, batches and a reaper on other threads");
    run_batch_failures(KVS_STORE_FS, fsdir2, "filesystem store, batches that fail whole");
    run_batch_failures(KVS_STORE_RAW, raw2, "raw-block store, batches that fail whole");
    run_batch_edges(KVS_STORE_FS, fsdir2, "filesystem store, batch edges");
    run_batch_edges(KVS_STORE_RAW, raw2, "raw-block store, batch edges");
    test_wide_objects();
    test_prefix_two_misses(fsdir2);
    run_prefix_check_error(KVS_STORE_FS, fsdir2, "filesystem store, a prefix get's existence check fails");
    run_prefix_check_error(KVS_STORE_RAW, raw2, "raw-block store, a prefix get's existence check fails");
    t_rm_rf(t_dir);
    return t_done("test_store_api");
}
