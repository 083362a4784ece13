/* SPDX-License-Identifier: MIT OR Unlicense */
/* Raw-block store under fault injection: a kvs_sysops table fails (EIO,
   ENOSPC) or shortens (pread/pwrite; EINTR for fdatasync) the Nth call,
   walking N over every call of a put, an overwrite, a get, a sync
   (checkpoint) and a put that evicts. After each, the store is closed and
   reopened with real system calls: the result code must make sense and
   every object stored before must be intact; a failed put leaves the old
   value (or nothing), never the new one.
   Environment: KVS_TEST_DIR (scratch directory), KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include "test_store_raw_util.h"

enum { F_PREAD = 0, F_PWRITE = 1, F_SYNC = 2 };
enum { M_EIO = 0, M_NOSPC = 1, M_SHORT = 2 };
enum { S_PUT = 0, S_OVERWRITE = 1, S_GET = 2, S_SYNC = 3, S_EVICT = 4, S_COUNT = 5 };

typedef struct fault {
    int type, mode;
    int armed;
    uint64_t n __attribute__((aligned(8))), count __attribute__((aligned(8))); /* 8-byte atomics, i386 too */
    pthread_t caller; /* the thread of the operation under test */
    int on_caller;    /* the failure hit a call that thread made */
} fault;

/* 1 when this call is the one to fail. */
static int fault_hit(fault *f, int type)
{
    if (!__atomic_load_n(&f->armed, __ATOMIC_ACQUIRE) || f->type != type)
        return 0;
    if (__atomic_add_fetch(&f->count, 1, __ATOMIC_ACQ_REL) != f->n)
        return 0;
    __atomic_store_n(&f->on_caller, pthread_equal(pthread_self(), f->caller) ? 1 : 0, __ATOMIC_RELEASE);
    return 1;
}

static size_t short_len(size_t len)
{
    size_t h = len / 2;
    if (len >= 1024)
        return h - h % 512; /* keep O_DIRECT lengths aligned */
    return len;
}

static int64_t f_pread(void *user, int fd, void *buf, size_t len, uint64_t off)
{
    fault *f = (fault *)user;
    ssize_t n;
    if (fault_hit(f, F_PREAD)) {
        if (f->mode == M_EIO)
            return -EIO;
        if (f->mode == M_NOSPC)
            return -ENOSPC;
        len = short_len(len);
    }
    n = pread(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

static int64_t f_pwrite(void *user, int fd, const void *buf, size_t len, uint64_t off)
{
    fault *f = (fault *)user;
    ssize_t n;
    if (fault_hit(f, F_PWRITE)) {
        if (f->mode == M_EIO)
            return -EIO;
        if (f->mode == M_NOSPC)
            return -ENOSPC;
        len = short_len(len);
    }
    n = pwrite(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

static int f_fdatasync(void *user, int fd)
{
    fault *f = (fault *)user;
    if (fault_hit(f, F_SYNC)) {
        if (f->mode == M_EIO)
            return -EIO;
        if (f->mode == M_NOSPC)
            return -ENOSPC;
        return -EINTR; /* retried by the I/O layer */
    }
    /* No power cut is simulated here: the page cache is the disk, so the
       real (slow) fdatasync is skipped. */
    (void)fd;
    return 0;
}

static int g_big; /* values above the 64 KiB single-I/O threshold */
#define VLEN(id, v) ((size_t)(500 + ((id) * 977 + (v) * 131) % 7000) + (g_big ? (size_t)70000 : 0))
#define VMAX 81920

static int check_key(kvs_store *s, uint64_t id, uint64_t v, unsigned char *rd, unsigned char *want)
{
    return get_check(s, id, v, VLEN(id, v), rd, VMAX, want);
}

static unsigned g_errors_seen, g_hits, g_scen_hits[S_COUNT];

static const char *sname[] = {"put", "overwrite", "get", "sync", "evict"};

static void run(int scen, int type, int mode)
{
    char path[1200], err[256], k[64];
    kvs_store_config c;
    kvs_store *s;
    fault f;
    kvs_sysops ops;
    unsigned char *buf = (unsigned char *)xalloc(VMAX), *rd = (unsigned char *)xalloc(VMAX),
                  *want = (unsigned char *)xalloc(VMAX);
    uint64_t N, i;
    unsigned slots = scen == S_EVICT ? 8 : 64;
    t_path(path, sizeof path, "f.dev");
    memset(&ops, 0, sizeof ops);
    ops.user = &f;
    ops.pread = f_pread;
    ops.pwrite = f_pwrite;
    ops.fdatasync = f_fdatasync;
    for (N = 1; N < 200; N++) {
        kvs_result r = KVS_OK, rc;
        int hit, present;
        size_t got = 0;
        memset(&f, 0, sizeof f);
        f.type = type;
        f.mode = mode;
        unlink(path);
        /* direct I/O for put and get (short transfers under O_DIRECT);
           buffered elsewhere: direct writes into fresh ext4 blocks are slow */
        raw_cfg(&c, path, 4096 + 16384 + (uint64_t)(4096 + VMAX) * slots, VMAX,
                (scen == S_PUT || scen == S_GET) ? KVS_DIRECT_PREFER : KVS_DIRECT_OFF);
        c.meta_bytes = 16384;
        c.max_key_bytes = 64;
        c.sysops = &ops;
        c.durability = (N & 1) ? KVS_DURABLE_DATA : KVS_DURABLE_NONE;
        s = NULL;
        if (kvs_store_open(&c, &s, err, sizeof err) != KVS_OK) {
            CHECK(0);
            fprintf(stderr, "open: %s\n", err);
            break;
        }
        for (i = 0; i < 8; i++)
            CHECK_R(put_obj(s, i, 1, VLEN(i, 1), buf), KVS_OK);
        CHECK_R(kvs_store_sync(s), KVS_OK);
        if (scen == S_SYNC)
            for (i = 8; i < 12; i++)
                CHECK_R(put_obj(s, i, 1, VLEN(i, 1), buf), KVS_OK);
        if (scen == S_EVICT) {
            keyname(k, sizeof k, 0);
            CHECK_R(kvs_store_pin(s, k, strlen(k)), KVS_OK);
        }
        f.n = N;
        f.caller = pthread_self();
        __atomic_store_n(&f.armed, 1, __ATOMIC_RELEASE);
        switch (scen) {
        case S_PUT:
        case S_EVICT:
            r = put_obj(s, 100, 1, VLEN(100, 1), buf);
            break;
        case S_OVERWRITE:
            r = put_obj(s, 3, 2, VLEN(3, 2), buf);
            break;
        case S_GET:
            keyname(k, sizeof k, 5);
            r = kvs_store_get(s, k, strlen(k), rd, VMAX, &got);
            if (r == KVS_OK) {
                fill_obj(want, VLEN(5, 1), 5, 1);
                CHECK(got == VLEN(5, 1) && memcmp(rd, want, got) == 0);
            }
            break;
        default:
            r = kvs_store_sync(s);
            break;
        }
        __atomic_store_n(&f.armed, 0, __ATOMIC_RELEASE);
        hit = __atomic_load_n(&f.count, __ATOMIC_ACQUIRE) >= N;
        g_hits += hit ? 1u : 0u;
        g_scen_hits[scen] += hit ? 1u : 0u;
        g_errors_seen += r < 0 ? 1u : 0u;
        /* results: a short transfer or an EINTR is absorbed by the I/O
           layer; an error in a call the operation made is its result; one
           in a call of another thread (the checkpoint thread) is not */
        if (!hit || mode == M_SHORT)
            CHECK_R(r, KVS_OK);
        else if (__atomic_load_n(&f.on_caller, __ATOMIC_ACQUIRE))
            CHECK_R(r, mode == M_EIO ? KVS_E_IO : KVS_E_NOSPC);
        else
            CHECK(r == KVS_OK || r == (mode == M_EIO ? KVS_E_IO : KVS_E_NOSPC));
        rc = kvs_store_close(s);
        CHECK_R(rc, KVS_OK);

        /* reopen with real system calls */
        c.sysops = NULL;
        c.format = KVS_FORMAT_NEVER;
        s = NULL;
        if (kvs_store_open(&c, &s, err, sizeof err) != KVS_OK) {
            CHECK(0);
            fprintf(stderr, "reopen (%s, N=%llu): %s\n", sname[scen], (unsigned long long)N, err);
            break;
        }
        {
            unsigned have = 0;
            uint64_t top = scen == S_SYNC ? 12 : 8;
            for (i = 0; i < top; i++) {
                uint64_t v = (scen == S_OVERWRITE && i == 3 && r == KVS_OK) ? 2 : 1;
                keyname(k, sizeof k, i);
                present = kvs_store_exists(s, k, strlen(k)) == KVS_OK;
                if (present) {
                    have++;
                    CHECK(check_key(s, i, v, rd, want));
                }
            }
            if (scen == S_EVICT)
                CHECK(have == 7 || (have == 8 && r != KVS_OK));
            else
                CHECK(have == top);
            keyname(k, sizeof k, 100);
            present = kvs_store_exists(s, k, strlen(k)) == KVS_OK;
            if (scen == S_PUT || scen == S_EVICT) {
                CHECK(present == (r == KVS_OK));
                if (present)
                    CHECK(check_key(s, 100, 1, rd, want));
            }
            if (scen == S_EVICT) {
                keyname(k, sizeof k, 0);
                CHECK_R(kvs_store_exists(s, k, strlen(k)), KVS_OK); /* pinned before: never evicted */
            }
        }
        {
            kvs_store_stats st;
            kvs_store_get_stats(s, &st);
            CHECK(st.corruptions == 0);
        }
        CHECK_R(kvs_store_close(s), KVS_OK);
        if (t_fail > 0 && t_fail < 3)
            fprintf(stderr, "  (scenario %s, call %d, mode %d, big %d, N=%llu, r=%s)\n", sname[scen], type, mode,
                    g_big, (unsigned long long)N, kvs_result_name(r));
        if (!hit)
            break;
    }
    CHECK(N < 200);
    free(buf);
    free(rd);
    free(want);
    unlink(path);
}

/* A put that evicts, whose checkpoint fails: the put fails and nothing goes
   for it (every entry still there, in the same LRU order, evictions 0); a
   remove that runs meanwhile, and misses its key because the put has
   evicted it, is not undone when the evictions are. */
static int g_fe_fail;            /* fdatasync calls left to fail */
static kvs_store *g_fe_store;
static const char *g_fe_rmkey;   /* removed inside the failing call */
static kvs_result g_fe_rmres;

static int fe_fdatasync(void *user, int fd)
{
    (void)user;
    (void)fd;
    if (g_fe_fail > 0) {
        g_fe_fail--;
        if (g_fe_rmkey != NULL) /* the put holds no store lock here, only the checkpoint's */
            g_fe_rmres = kvs_store_remove(g_fe_store, g_fe_rmkey, strlen(g_fe_rmkey));
        g_fe_rmkey = NULL;
        return -EIO;
    }
    return 0;
}

static void test_failed_evicting_put(void)
{
    char path[1200], err[256], k[64], rk[64];
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_store_stats st;
    kvs_sysops ops;
    unsigned char *buf = (unsigned char *)xalloc(VMAX), *rd = (unsigned char *)xalloc(VMAX),
                  *want = (unsigned char *)xalloc(VMAX);
    uint64_t S, W, i, have = 0;
    t_path(path, sizeof path, "fe.dev");
    unlink(path);
    memset(&ops, 0, sizeof ops);
    ops.fdatasync = fe_fdatasync;
    raw_cfg(&c, path, 2 * 1024 * 1024, 4096, KVS_DIRECT_OFF);
    c.durability = KVS_DURABLE_NONE;
    c.checkpoint_interval_ms = 3600000; /* the puts' own checkpoints only */
    c.sysops = &ops;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s == NULL)
        goto out;
    kvs_store_get_stats(s, &st);
    S = st.slots_total;
    W = S / 32 > 1 ? S / 32 : 1; /* evicted per round */
    CHECK(S >= 64);
    for (i = 0; i < S; i++)
        CHECK_R(put_obj(s, i, 1, 1000, buf), KVS_OK);
    g_fe_fail = 1;
    CHECK_R(put_obj(s, 1000, 1, 1000, buf), KVS_E_IO);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 0 && st.objects == S);
    for (i = 0; i < S; i++) /* in order: the LRU order stays as it was */
        CHECK(get_check(s, i, 1, 1000, rd, VMAX, want));
    keyname(k, sizeof k, 1000);
    CHECK_R(kvs_store_exists(s, k, strlen(k)), KVS_NOT_FOUND);
    /* the same put again: the same least recent entries go */
    CHECK_R(put_obj(s, 1000, 1, 1000, buf), KVS_OK);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == W);
    for (i = 0; i < S; i++) {
        keyname(k, sizeof k, i);
        CHECK_R(kvs_store_exists(s, k, strlen(k)), i < W ? KVS_NOT_FOUND : KVS_OK);
    }
    for (i = 1; i < W; i++) /* full again: the rest of the slots freed */
        CHECK_R(put_obj(s, 2000 + i, 1, 1000, buf), KVS_OK);
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == S && st.evictions == W);
    /* a remove of a key the failing put evicted, during its checkpoint */
    keyname(rk, sizeof rk, W + 1);
    g_fe_store = s;
    g_fe_rmkey = rk;
    g_fe_rmres = KVS_E_IO;
    g_fe_fail = 1;
    CHECK_R(put_obj(s, 1001, 1, 1000, buf), KVS_E_IO);
    CHECK_R(g_fe_rmres, KVS_NOT_FOUND); /* it ran while the key was evicted */
    CHECK_R(kvs_store_exists(s, rk, strlen(rk)), KVS_NOT_FOUND);
    for (i = W; i < S; i++) { /* the rest: intact where present */
        keyname(k, sizeof k, i);
        if (kvs_store_exists(s, k, strlen(k)) == KVS_OK) {
            have++;
            CHECK(get_check(s, i, 1, 1000, rd, VMAX, want));
        }
    }
    CHECK(have + W >= S - W - 1 && have < S - W);
    CHECK_R(kvs_store_close(s), KVS_OK);
    c.sysops = NULL;
    c.format = KVS_FORMAT_NEVER;
    s = NULL;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK); /* and after a reopen */
    if (s != NULL) {
        CHECK_R(kvs_store_exists(s, rk, strlen(rk)), KVS_NOT_FOUND);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
out:
    unlink(path);
    free(buf);
    free(rd);
    free(want);
}

int main(void)
{
    int scen, type, mode;
    t_init_seed("test_store_raw_faults", 0x5eed1234ULL);
    t_setup_dir("rawft");
    test_failed_evicting_put();
    for (g_big = 0; g_big < 2; g_big++)
        for (scen = 0; scen < S_COUNT; scen++)
            for (type = 0; type < 3; type++)
                for (mode = 0; mode < 3; mode++)
                    run(scen, type, mode);
    fprintf(stderr, "faults injected: %u, operations that failed: %u\n", g_hits, g_errors_seen);
    printf("fault points walked: %u (put %u, overwrite %u, get %u, sync %u, evict %u), allocation points walked: 0, "
           "failures injected: %u\n",
           g_hits, g_scen_hits[S_PUT], g_scen_hits[S_OVERWRITE], g_scen_hits[S_GET], g_scen_hits[S_SYNC],
           g_scen_hits[S_EVICT], g_hits);
    CHECK(g_hits >= 80 && g_errors_seen >= 50);
    t_rm_rf(t_dir);
    return t_done("test_store_raw_faults");
}
