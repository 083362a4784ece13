/* SPDX-License-Identifier: MIT OR Unlicense */
/* Raw-store puts whose payload write is in flight while its CRC32C is
   computed (kvsi_aiow_start / kvsi_aiow_finish, Linux AIO), built here with
   KVSI_OVL_MIN lowered to 128 KiB so objects of a few hundred KiB take that
   path:
   - which puts overlap (large, aligned length, aligned buffer, direct) and
     which do not (misaligned buffer, unaligned length, small), counted in
     stats.overlapped_writes; every object read back exactly, before and
     after a reopen, and after an overwrite;
   - four threads putting and getting at once, one key shared by all: a get
     returns one whole version or a miss, never a mix (run under TSan by the
     matrix);
   - with write hooks installed nothing is submitted: the header and the
     payload go through the hooks, and failing either write fails the put
     and leaves the previous version of the key readable; a short payload
     write is finished;
   - an overlapped write whose completion reports a short count that is not
     a multiple of the alignment (KVSI_AIO_RES, a seam): the put resumes at
     the unit boundary below it, and every object reads back, before and
     after a reopen.
   Built with -DKVS_POSIX_USE_AIO=0 by the matrix too: then no put overlaps
   and stats.overlap_errno is ENOSYS.
   Environment: KVS_TEST_DIR (scratch directory), KVS_SEED. */
#define KVSI_OVL_MIN ((size_t)128 << 10)
/* A completion the kernel reports short (test_short_completion). */
static long long t_aio_res(long long res, unsigned long long len);
#define KVSI_AIO_RES(res, len) t_aio_res((long long)(res), (unsigned long long)(len))
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include "test_store_raw_util.h"

#define T_NAME "test_store_raw_overlap"
#define KiB ((size_t)1 << 10)
#define SLOT ((uint64_t)512 << 10)
#define DEV ((uint64_t)96 << 20)

/* While g_aio_short is set, every overlapped write's completion reports
   5000 bytes (not a multiple of any alignment) though the kernel wrote
   all of them: the put finishes the rest with ordinary writes, resuming at
   the unit boundary below 5000, and the bytes on disk are the caller's. */
static int g_aio_short;
static long g_aio_shortened;

T_FN long long t_aio_res(long long res, unsigned long long len)
{
    if (__atomic_load_n(&g_aio_short, __ATOMIC_RELAXED) && res > 5000 && (unsigned long long)res == len) {
        __atomic_add_fetch(&g_aio_shortened, 1, __ATOMIC_RELAXED);
        return 5000;
    }
    return res;
}

/* ---- write hooks: count, fail or shorten the n-th pwrite ---- */
static int g_mode;        /* 0 off, 1 fail (EIO), 2 shorten by half */
static long g_at, g_calls;
static int g_fired;

static int64_t h_pwrite(void *u, int fd, const void *buf, size_t len, uint64_t off)
{
    long n = __atomic_add_fetch(&g_calls, 1, __ATOMIC_RELAXED);
    ssize_t w;
    (void)u;
    if (g_mode != 0 && n == g_at) {
        g_fired = 1;
        if (g_mode == 1)
            return -EIO;
        if (len >= 8192)
            len = len / 2 / 4096 * 4096;
    }
    w = pwrite(fd, buf, len, (off_t)off);
    return w < 0 ? -(int64_t)errno : (int64_t)w;
}

static kvs_store *open_store(const char *path, const kvs_sysops *ops)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    char err[256] = "";
    raw_cfg(&c, path, DEV, SLOT, KVS_DIRECT_PREFER);
    c.sysops = ops;
    if (kvs_store_open(&c, &s, err, sizeof err) != KVS_OK) {
        FAILF("open %s: %s", path, err);
        return NULL;
    }
    return s;
}

static kvs_store_stats stats_of(kvs_store *s)
{
    kvs_store_stats st;
    kvs_store_get_stats(s, &st);
    return st;
}

/* Sizes of ids 0..19: overlapped when >= 128 KiB and a multiple of 4 KiB. */
static size_t size_of(uint64_t id)
{
    static const size_t sz[] = {128 * KiB, 512 * KiB, 256 * KiB + 4096, 300000, 96 * KiB, 200 * KiB,
                                512 * KiB - 100};
    return sz[id % (sizeof sz / sizeof sz[0])];
}

#if KVS_POSIX_USE_AIO
#include <sys/syscall.h>
/* 1 when this kernel gives an AIO context (io_setup), asked directly. */
static int aio_ok(void)
{
    unsigned long ctx = 0;
    if (syscall(SYS_io_setup, 1, &ctx) != 0)
        return 0;
    (void)syscall(SYS_io_destroy, ctx);
    return 1;
}
#endif

static int overlaps(size_t n) { return n >= 128 * KiB && n % 4096 == 0; }

static void check_all(kvs_store *s, uint64_t n, unsigned char *buf, unsigned char *want, const char *when)
{
    uint64_t id;
    for (id = 0; id < n; id++) {
        snprintf(t_ctx, sizeof t_ctx, "%s: id %llu (%zu bytes)", when, (unsigned long long)id, size_of(id));
        CHECK(get_check(s, id, id == 0 ? 2 : 1, size_of(id), buf, SLOT, want));
    }
    t_ctx[0] = '\0';
}

static void test_which_overlap(const char *path)
{
    kvs_store *s = open_store(path, NULL);
    unsigned char *buf = (unsigned char *)xalloc(SLOT + 4096), *want = (unsigned char *)xalloc(SLOT);
    kvs_store_stats st;
    uint64_t id, expect = 0;
    char k[64];
    if (s == NULL)
        return;
    st = stats_of(s);
    /* told without the library: where the filesystem takes O_DIRECT and
       the kernel gives an AIO context, the overlap must be on */
    CHECK(st.direct == t_direct_ok(t_dir));
#if KVS_POSIX_USE_AIO
    CHECK(st.overlap_errno == 0 || st.overlap_errno == EPERM || st.overlap_errno == ENOSYS);
    if (aio_ok())
        CHECK_R(st.overlap_errno, 0);
    else
        printf("SKIP: no Linux AIO context here (io_setup refused): overlapped puts not run\n");
#else
    CHECK_R(st.overlap_errno, ENOSYS);
#endif
    for (id = 0; id < 20; id++) {
        CHECK_R(put_obj(s, id, 1, size_of(id), buf), KVS_OK);
        expect += (uint64_t)overlaps(size_of(id));
    }
    /* a misaligned buffer: the CRC first, then one write */
    fill_obj(buf + 64, 256 * KiB, 100, 1);
    keyname(k, sizeof k, 100);
    CHECK_R(kvs_store_put(s, k, strlen(k), buf + 64, 256 * KiB), KVS_OK);
    CHECK_R(put_obj(s, 0, 2, size_of(0), buf), KVS_OK); /* an overwrite */
    expect += (uint64_t)overlaps(size_of(0));
    st = stats_of(s);
    fprintf(stderr, "direct %d, overlap_errno %d, overlapped_writes %llu (expected %llu when on)\n", st.direct,
            st.overlap_errno, (unsigned long long)st.overlapped_writes, (unsigned long long)expect);
    if (st.direct && st.overlap_errno == 0)
        CHECK(st.overlapped_writes == expect);
    else
        CHECK(st.overlapped_writes == 0);
    CHECK(expect >= 8);
    check_all(s, 20, buf, want, "before reopen");
    CHECK(get_check(s, 100, 1, 256 * KiB, buf, SLOT, want));
    CHECK_R(kvs_store_close(s), KVS_OK);

    s = open_store(path, NULL);
    if (s == NULL)
        return;
    check_all(s, 20, buf, want, "after reopen");
    CHECK(get_check(s, 100, 1, 256 * KiB, buf, SLOT, want));
    CHECK(stats_of(s).corruptions == 0);
    CHECK_R(kvs_store_close(s), KVS_OK);
    free(buf);
    free(want);
}

static void test_short_completion(const char *path)
{
    kvs_store *s = open_store(path, NULL);
    unsigned char *buf = (unsigned char *)xalloc(SLOT + 4096), *want = (unsigned char *)xalloc(SLOT);
    kvs_store_stats st;
    uint64_t id;
    if (s == NULL)
        return;
    st = stats_of(s);
    g_aio_short = 1;
    for (id = 0; id < 20; id++)
        CHECK_R(put_obj(s, id, 1, size_of(id), buf), KVS_OK);
    CHECK_R(put_obj(s, 0, 2, size_of(0), buf), KVS_OK);
    g_aio_short = 0;
    if (st.direct && st.overlap_errno == 0)
        CHECK(g_aio_shortened >= 8); /* every overlapped put came back short */
    else
        CHECK(g_aio_shortened == 0);
    fprintf(stderr, "short completions finished: %ld\n", g_aio_shortened);
    check_all(s, 20, buf, want, "after short completions");
    CHECK_R(kvs_store_close(s), KVS_OK);
    s = open_store(path, NULL);
    if (s == NULL)
        return;
    check_all(s, 20, buf, want, "short completions, after reopen");
    CHECK(stats_of(s).corruptions == 0);
    CHECK_R(kvs_store_close(s), KVS_OK);
    free(buf);
    free(want);
}

/* ---- threads ---- */
#define NT 4
#define PER 12
#define SHARED 1000
typedef struct tw {
    kvs_store *s;
    unsigned tid;
    int bad;
} tw;

static void *worker(void *arg)
{
    tw *w = (tw *)arg;
    unsigned char *buf = (unsigned char *)xalloc(SLOT), *want = (unsigned char *)xalloc(SLOT);
    unsigned i, v;
    for (i = 0; i < PER; i++) {
        uint64_t own = 200 + w->tid * PER + i, ver = (uint64_t)w->tid * 100 + i + 1;
        char k[64];
        size_t got = 0;
        kvs_result r;
        if (put_obj(w->s, own, 1, 256 * KiB, buf) != KVS_OK || put_obj(w->s, SHARED, ver, 384 * KiB, buf) != KVS_OK)
            w->bad++;
        if (!get_check(w->s, own, 1, 256 * KiB, buf, SLOT, want))
            w->bad++;
        keyname(k, sizeof k, SHARED);
        r = kvs_store_get(w->s, k, strlen(k), buf, SLOT, &got);
        if (r == KVS_OK) { /* one whole version of some writer */
            int found = 0;
            for (v = 0; v < NT * 100 && !found; v++) {
                fill_obj(want, 384 * KiB, SHARED, v);
                found = got == 384 * KiB && memcmp(buf, want, got) == 0;
            }
            w->bad += !found;
        } else if (r != KVS_NOT_FOUND) {
            w->bad++;
        }
    }
    free(buf);
    free(want);
    return NULL;
}

static void test_threads(const char *path)
{
    kvs_store *s = open_store(path, NULL);
    pthread_t th[NT];
    tw w[NT];
    unsigned i;
    if (s == NULL)
        return;
    for (i = 0; i < NT; i++) {
        w[i].s = s;
        w[i].tid = i;
        w[i].bad = 0;
        CHECK(pthread_create(&th[i], NULL, worker, &w[i]) == 0);
    }
    for (i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        snprintf(t_ctx, sizeof t_ctx, "thread %u", i);
        CHECK_R(w[i].bad, 0);
    }
    t_ctx[0] = '\0';
    CHECK(stats_of(s).corruptions == 0);
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* ---- faults through the hooks ---- */
static void test_faults(const char *path)
{
    kvs_sysops ops;
    kvs_store *s;
    unsigned char *buf = (unsigned char *)xalloc(SLOT), *want = (unsigned char *)xalloc(SLOT);
    long k, calls;
    memset(&ops, 0, sizeof ops);
    ops.pwrite = h_pwrite; /* pwritev NULL: vectored writes come here segment by segment */
    s = open_store(path, &ops);
    if (s == NULL)
        return;
    CHECK_R(put_obj(s, 7, 1, 256 * KiB, buf), KVS_OK);
    /* how many writes a large put makes with hooks: the header, the payload */
    g_calls = 0;
    CHECK_R(put_obj(s, 8, 1, 256 * KiB, buf), KVS_OK);
    calls = g_calls;
    fprintf(stderr, "a 256 KiB put with write hooks: %ld writes\n", calls);
    CHECK(calls >= 2);
    CHECK(stats_of(s).overlapped_writes == 0); /* nothing submitted past the hooks */
    for (k = 1; k <= calls; k++) {
        snprintf(t_ctx, sizeof t_ctx, "write %ld of the put fails", k);
        g_calls = 0;
        g_fired = 0;
        g_at = k;
        g_mode = 1;
        CHECK(put_obj(s, 7, 2, 256 * KiB, buf) == KVS_E_IO);
        g_mode = 0;
        CHECK(g_fired);
        CHECK(get_check(s, 7, 1, 256 * KiB, buf, SLOT, want)); /* the old version stands */
        snprintf(t_ctx, sizeof t_ctx, "write %ld of the put is short", k);
        g_calls = 0;
        g_fired = 0;
        g_mode = 2;
        CHECK_R(put_obj(s, 9 + (uint64_t)k, 1, 256 * KiB, buf), KVS_OK);
        g_mode = 0;
        CHECK(g_fired);
        CHECK(get_check(s, 9 + (uint64_t)k, 1, 256 * KiB, buf, SLOT, want));
    }
    t_ctx[0] = '\0';
    CHECK_R(put_obj(s, 7, 3, 256 * KiB, buf), KVS_OK);
    CHECK(get_check(s, 7, 3, 256 * KiB, buf, SLOT, want));
    CHECK_R(kvs_store_close(s), KVS_OK);
    s = open_store(path, NULL);
    if (s != NULL) {
        CHECK(get_check(s, 7, 3, 256 * KiB, buf, SLOT, want));
        CHECK(get_check(s, 8, 1, 256 * KiB, buf, SLOT, want));
        CHECK(stats_of(s).corruptions == 0);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    free(buf);
    free(want);
}

int main(void)
{
    char p1[1200], p2[1200], p3[1200], p4[1200];
    t_init_seed(T_NAME, 0x0b3e7a9ULL);
    t_setup_dir("rawovl");
    t_path(p1, sizeof p1, "a");
    t_path(p2, sizeof p2, "b");
    t_path(p3, sizeof p3, "c");
    t_path(p4, sizeof p4, "d");
    test_which_overlap(p1);
    test_short_completion(p4);
    test_threads(p2);
    test_faults(p3);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    unlink(p4);
    t_remove_empty_dir();
    return t_done(T_NAME);
}
