/* SPDX-License-Identifier: MIT OR Unlicense */
/* The harness shared by every tests/test_*.c program. Include it after
   kvstore.h, or after kvstore_posix.c (which must come first of all: it sets
   _GNU_SOURCE); the scratch-directory, file and aligned-buffer helpers exist
   only in the second case.

   - CHECK(c), CHECK_R(got, want), FAILF(fmt, ...): count a pass or a failure;
     a failure prints file:line, the seed (once t_init ran) and t_ctx
     (when set). The counters are bumped with atomic builtins, so worker
     threads may check too. Only the first T_MAX_REPORTS failures are
     printed; all are counted.
   - t_init(name) / t_init_seed(name, default_seed): KVS_SEED or the default
     into t_seed (and the t_rand() stream); t_done(name) prints the final line
     "<name>: N passed, M failed" and returns the exit status.
   - splitmix64: t_rng_next(&state), t_rng_below(&state, n), and t_rand() /
     t_below(n) on a stream seeded by t_seed.
   - fill patterns: t_fill (t_rand() bytes), t_fill_rng (8 bytes per draw of
     a caller's stream), t_fill_random (one byte per draw), t_fill_tag /
     t_check_tag (bytes determined by a tag and the length).
   - self-describing values (t_valspec, t_val_len / t_val_fill / t_val_is /
     t_val_describe): key id, version, length and a magic in their first
     T_VAL_HDR bytes; each test sets the length distribution and magic.
   - a counting allocator that can fail its Nth allocation (thread-safe).
   - POSIX only: t_setup_dir / t_dir / t_path (a scratch directory under
     KVS_TEST_DIR or /tmp), t_rm_rf, t_xalloc_aligned, and t_gate (hold one
     thread inside a hooked system call until the test releases it). */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define T_FN static __attribute__((unused))
#define T_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define T_FN static
#define T_PRINTF(f, a)
#endif

/* T_TSAN: built with ThreadSanitizer. T_SAN: with ThreadSanitizer or
   AddressSanitizer (tests scale their work down under either). */
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
#ifndef T_TSAN
#define T_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define T_SAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_SAN 1
#endif
#endif
#ifndef T_SAN
#define T_SAN T_TSAN
#endif

#define T_MAX_REPORTS 50

static unsigned long t_pass, t_fail;
static unsigned long long t_seed;
static uint64_t t_rng_state;
static int t_seeded;     /* t_init ran: failures print the seed */
static char t_ctx[256]; /* what is being checked, printed with failures */

/* ---- checks ---------------------------------------------------------- */
#define CHECK(c) t_check((c) != 0, __FILE__, __LINE__, #c)
/* Compare two kvs_result values and print both names on failure. */
#define CHECK_R(got, want) t_check_r((int)(got), (int)(want), __FILE__, __LINE__, #got)
/* A failure with a printf-style message. */
#define FAILF(...) t_failf(__FILE__, __LINE__, __VA_ARGS__)

/* Counts a failure; 1 when it is to be printed. */
T_FN int t_count_fail(void)
{
    unsigned long n = __atomic_fetch_add(&t_fail, 1, __ATOMIC_RELAXED);
    if (n == T_MAX_REPORTS)
        fprintf(stderr, "(further failures are counted, not printed)\n");
    return n < T_MAX_REPORTS;
}

T_FN void t_fail_end(void)
{
    if (t_seeded)
        fprintf(stderr, " (seed %llu)", t_seed);
    if (t_ctx[0] != '\0')
        fprintf(stderr, " [%s]", t_ctx);
    fputc('\n', stderr);
}

T_FN int t_check(int ok, const char *file, int line, const char *what)
{
    if (ok) {
        __atomic_fetch_add(&t_pass, 1, __ATOMIC_RELAXED);
        return 1;
    }
    if (t_count_fail()) {
        fprintf(stderr, "%s:%d: CHECK failed: %s", file, line, what);
        t_fail_end();
    }
    return 0;
}

T_FN int t_check_r(int got, int want, const char *file, int line, const char *what)
{
    if (got == want) {
        __atomic_fetch_add(&t_pass, 1, __ATOMIC_RELAXED);
        return 1;
    }
    if (t_count_fail()) {
        fprintf(stderr, "%s:%d: %s = %s, want %s", file, line, what, kvs_result_name(got),
                kvs_result_name(want));
        t_fail_end();
    }
    return 0;
}

T_FN T_PRINTF(3, 4) void t_failf(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    if (!t_count_fail())
        return;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    t_fail_end();
}

T_FN unsigned long t_failures(void)
{
    return __atomic_load_n(&t_fail, __ATOMIC_RELAXED);
}

/* ---- start and end --------------------------------------------------- */
T_FN void t_init_seed(const char *name, unsigned long long default_seed)
{
    const char *s = getenv("KVS_SEED");
    t_seed = s != NULL ? strtoull(s, NULL, 0) : default_seed;
    t_rng_state = t_seed;
    t_seeded = 1;
    printf("%s: seed %llu (set KVS_SEED to change)\n", name, t_seed);
    fflush(stdout); /* not again from a forked child's exit */
}

T_FN void t_init(const char *name)
{
    t_init_seed(name, 20260101ULL);
}

/* The exit status of a test program that could test nothing on this
   machine (after printing a "SKIP: why" line): run_all.sh lists it as
   skipped, never as passed (77, as automake's test harness has it). */
#define T_SKIPPED 77

T_FN int t_done(const char *name)
{
    unsigned long p = __atomic_load_n(&t_pass, __ATOMIC_RELAXED), f = t_failures();
    printf("%s: %lu passed, %lu failed\n", name, p, f);
    return f ? 1 : 0;
}

/* ---- splitmix64 ------------------------------------------------------ */
T_FN uint64_t t_rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform-ish in [0, n) */
T_FN uint64_t t_rng_below(uint64_t *s, uint64_t n)
{
    return n ? t_rng_next(s) % n : 0;
}

/* The stream seeded by t_init. */
T_FN uint64_t t_rand(void)
{
    return t_rng_next(&t_rng_state);
}

T_FN size_t t_below(size_t n)
{
    return n ? (size_t)(t_rand() % n) : 0;
}

/* ---- fill patterns --------------------------------------------------- */
/* One t_rand() per byte (its low byte). */
T_FN void t_fill(void *p, size_t n)
{
    unsigned char *b = (unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        b[i] = (unsigned char)t_rand();
}

/* One draw of *s per byte (its high byte). */
T_FN void t_fill_random(void *p, size_t n, uint64_t *s)
{
    unsigned char *b = (unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        b[i] = (unsigned char)(t_rng_next(s) >> 56);
}

/* One draw of *s per 8 bytes, least significant byte first. */
T_FN void t_fill_rng(void *p, size_t n, uint64_t *s)
{
    unsigned char *b = (unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        uint64_t v = t_rng_next(s);
        size_t k;
        for (k = 0; k < 8 && i < n; k++, i++)
            b[i] = (unsigned char)(v >> (8 * k));
    }
}

/* Deterministic bytes for (tag, n): the value a key holds. */
T_FN void t_fill_tag(void *p, size_t n, uint64_t tag)
{
    uint64_t s = tag * 0x9e3779b97f4a7c15ULL + n;
    t_fill_rng(p, n, &s);
}

/* 1 when p[0..n) is t_fill_tag(tag, n). */
T_FN int t_check_tag(const void *p, size_t n, uint64_t tag)
{
    const unsigned char *b = (const unsigned char *)p;
    unsigned char w[256];
    uint64_t s = tag * 0x9e3779b97f4a7c15ULL + n;
    size_t i = 0;
    while (i < n) {
        size_t k = n - i < sizeof w ? n - i : sizeof w;
        t_fill_rng(w, k, &s); /* k is a multiple of 8 but for the last piece */
        if (memcmp(b + i, w, k) != 0)
            return 0;
        i += k;
    }
    return 1;
}

/* ---- self-describing values ----------------------------------------- */
/* Values that name themselves (the crash and power-cut tests): the first
   T_VAL_HDR bytes hold the key id (4 bytes), version (8), length (4, all in
   host order) and a 4-character magic, the rest a stream drawn from (key,
   version, t_seed). The length of (key, version) is deterministic too, its
   distribution set by the test's t_valspec: small_pct % of lengths are
   T_VAL_HDR + [0, 6000); up to aligned_pct % are 1..units multiples of 512 or
   4096, one byte over or under or exact; the rest are in [big_min, max). */
#define T_VAL_HDR 20

typedef struct t_valspec {
    size_t max;           /* largest value                              */
    unsigned small_pct;   /* lengths T_VAL_HDR + [0, 6000) below this %  */
    unsigned aligned_pct; /* 512/4096 multiples (+-1) below this %       */
    unsigned units;       /* up to this many 512/4096 units              */
    size_t big_min;       /* the rest: [big_min, max)                    */
    char magic[5];        /* 4 characters at bytes 16..19                */
} t_valspec;

/* Length of (key, ver): T_VAL_HDR to vs->max. */
T_FN size_t t_val_len(const t_valspec *vs, uint32_t key, uint64_t ver)
{
    uint64_t s = ((uint64_t)key << 40) ^ ver ^ (t_seed * 31);
    uint64_t c = t_rng_below(&s, 100);
    size_t n;
    if (c < vs->small_pct)
        n = (size_t)(T_VAL_HDR + t_rng_below(&s, 6000));
    else if (c < vs->aligned_pct) {
        uint64_t unit = t_rng_below(&s, 2) ? 512 : 4096;
        n = (size_t)(unit * (1 + t_rng_below(&s, vs->units)));
        n = n + (size_t)t_rng_below(&s, 3) - 1; /* -1, 0, +1 */
    } else
        n = (size_t)(vs->big_min + t_rng_below(&s, vs->max - vs->big_min));
    if (n < T_VAL_HDR)
        n = T_VAL_HDR;
    if (n > vs->max)
        n = vs->max;
    return n;
}

/* Writes the value (key, ver) as n bytes (n >= T_VAL_HDR) at p. */
T_FN void t_val_fill(const t_valspec *vs, unsigned char *p, uint32_t key, uint64_t ver, size_t n)
{
    uint64_t s = ((uint64_t)key * 0x100000001b3ULL) ^ (ver << 7) ^ t_seed;
    uint32_t n32 = (uint32_t)n;
    size_t i;
    memcpy(p, &key, 4);
    memcpy(p + 4, &ver, 8);
    memcpy(p + 12, &n32, 4);
    memcpy(p + 16, vs->magic, 4);
    for (i = T_VAL_HDR; i < n; i += 8) {
        uint64_t v = t_rng_next(&s);
        size_t k = n - i < 8 ? n - i : 8;
        memcpy(p + i, &v, k);
    }
}

/* 1 when p[0..n) is exactly the value (key, ver); scratch holds vs->max. */
T_FN int t_val_is(const t_valspec *vs, const unsigned char *p, size_t n, uint32_t key, uint64_t ver,
                  unsigned char *scratch)
{
    if (ver == 0 || n != t_val_len(vs, key, ver))
        return 0;
    t_val_fill(vs, scratch, key, ver, n);
    return memcmp(p, scratch, n) == 0;
}

/* Describe bytes that matched nothing allowed (for the failure message). */
T_FN void t_val_describe(const t_valspec *vs, const unsigned char *p, size_t n, char *out, size_t cap,
                         unsigned char *scratch)
{
    uint32_t k = 0, n32 = 0;
    uint64_t v = 0;
    if (n < T_VAL_HDR || memcmp(p + 16, vs->magic, 4) != 0) {
        snprintf(out, cap, "%zu bytes of garbage", n);
        return;
    }
    memcpy(&k, p, 4);
    memcpy(&v, p + 4, 8);
    memcpy(&n32, p + 12, 4);
    snprintf(out, cap, "%zu bytes claiming key %u version %llu length %u (%s)", n, (unsigned)k,
             (unsigned long long)v, (unsigned)n32,
             t_val_is(vs, p, n, k, v, scratch) ? "a complete value of that key/version" : "torn or damaged");
}

/* malloc that exits when out of memory. */
T_FN void *t_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- counting allocator ---------------------------------------------- */
/* Fails the allocation numbered fail_at (0-based from t_allocator or
   t_alloc_arm; -1 never), counts calls, live blocks and bytes, and checks
   that free gets the size the block was allocated with. Thread-safe. */
typedef struct t_alloc_state {
    long fail_at;
    long calls;
    long live;
    long long live_bytes __attribute__((aligned(8))); /* 8-byte atomic on i386 too */
    long total;    /* blocks handed out */
    long bad_free; /* frees with another size than the allocation's */
    int fired;     /* the failure was injected */
} t_alloc_state;

T_FN void *t_alloc_fn(void *user, size_t size, size_t align)
{
    t_alloc_state *st = (t_alloc_state *)user;
    unsigned char *raw, *p;
    size_t total;
    if (__atomic_fetch_add(&st->calls, 1, __ATOMIC_ACQ_REL) == __atomic_load_n(&st->fail_at, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&st->fired, 1, __ATOMIC_RELEASE);
        return NULL;
    }
    if (align < 16)
        align = 16;
    total = size + align + 16;
    raw = (unsigned char *)malloc(total);
    if (raw == NULL)
        return NULL;
    p = raw + 16;
    p += (align - ((uintptr_t)p & (align - 1))) & (align - 1);
    memcpy(p - 16, &raw, sizeof raw);
    memcpy(p - 8, &size, sizeof size);
    __atomic_fetch_add(&st->live, 1, __ATOMIC_ACQ_REL);
    __atomic_fetch_add(&st->total, 1, __ATOMIC_ACQ_REL);
    __atomic_fetch_add(&st->live_bytes, (long long)size, __ATOMIC_ACQ_REL);
    return p;
}

T_FN void t_free_fn(void *user, void *ptr, size_t size, size_t align)
{
    t_alloc_state *st = (t_alloc_state *)user;
    unsigned char *p = (unsigned char *)ptr, *raw;
    size_t got;
    (void)align;
    if (p == NULL)
        return;
    memcpy(&raw, p - 16, sizeof raw);
    memcpy(&got, p - 8, sizeof got);
    if (got != size)
        __atomic_fetch_add(&st->bad_free, 1, __ATOMIC_ACQ_REL);
    __atomic_fetch_sub(&st->live, 1, __ATOMIC_ACQ_REL);
    __atomic_fetch_sub(&st->live_bytes, (long long)got, __ATOMIC_ACQ_REL);
    free(raw);
}

/* Fail the allocation numbered fail_at from now on (-1: none); live blocks
   stay counted. */
T_FN void t_alloc_arm(t_alloc_state *st, long fail_at)
{
    __atomic_store_n(&st->calls, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&st->fired, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&st->fail_at, fail_at, __ATOMIC_RELEASE);
}

/* Fail the next allocation (the call counter goes on). */
T_FN void t_alloc_fail_next(t_alloc_state *st)
{
    __atomic_store_n(&st->fail_at, __atomic_load_n(&st->calls, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

T_FN long t_alloc_live(t_alloc_state *st)
{
    return __atomic_load_n(&st->live, __ATOMIC_ACQUIRE);
}

T_FN kvs_allocator t_allocator(t_alloc_state *st, long fail_at)
{
    kvs_allocator a;
    memset(st, 0, sizeof *st);
    st->fail_at = fail_at;
    a.user = st;
    a.alloc = t_alloc_fn;
    a.free = t_free_fn;
    return a;
}

/* ---- POSIX: scratch directory, files, buffers ------------------------- */
#ifdef KVS_POSIX_USE_EVENTFD /* kvstore_posix.c was included */
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>

static char t_dir[1024];

/* A fresh directory <KVS_TEST_DIR or /tmp>/kvs_<tag>_XXXXXX into t_dir;
   exits when it cannot be made. */
T_FN void t_setup_dir(const char *tag)
{
    const char *env = getenv("KVS_TEST_DIR");
    snprintf(t_dir, sizeof t_dir, "%s/kvs_%s_XXXXXX", (env != NULL && env[0] != '\0') ? env : "/tmp", tag);
    if (mkdtemp(t_dir) == NULL) {
        fprintf(stderr, "%s:%d: mkdtemp(%s) failed (seed %llu)\n", __FILE__, __LINE__, t_dir, t_seed);
        exit(1);
    }
}

/* t_dir/name */
T_FN void t_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", t_dir, name);
}

T_FN int t_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes path and everything below it (links are not followed). */
T_FN void t_rm_rf(const char *path)
{
    (void)nftw(path, t_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Removes t_dir, which the test must have emptied: a note if it could not. */
T_FN void t_remove_empty_dir(void)
{
    if (rmdir(t_dir) != 0)
        fprintf(stderr, "note: could not remove %s\n", t_dir);
}

/* n bytes (at least 1) aligned to align; NULL when out of memory. */
T_FN void *t_xalloc_aligned(size_t n, size_t align)
{
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n ? n : 1) != 0)
        return NULL;
    return p;
}

/* 1 when dir takes O_DIRECT: a file there opens with it, and a 4 KiB write
   and read of an aligned buffer at offset 0 go through. Told without the
   library, so a test can tell "this filesystem refuses O_DIRECT" (a skip)
   from "the library did not use it" (a failure). */
#include <fcntl.h>
#include <unistd.h>
T_FN int t_direct_ok(const char *dir)
{
#ifdef O_DIRECT
    char p[1200];
    void *b = NULL;
    int fd, ok;
    snprintf(p, sizeof p, "%s/.t_direct_probe", dir);
    fd = open(p, O_CREAT | O_TRUNC | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
    if (fd < 0)
        return 0;
    ok = posix_memalign(&b, 4096, 4096) == 0;
    if (ok) {
        memset(b, 0, 4096);
        ok = pwrite(fd, b, 4096, 0) == 4096 && pread(fd, b, 4096, 0) == 4096;
    }
    free(b);
    close(fd);
    unlink(p);
    return ok;
#else
    (void)dir;
    return 0;
#endif
}

/* ---- POSIX: a gate that holds one thread inside a hooked call ---------
   The test arms it for one call (a kind the test numbers itself, and either
   a name or a buffer), a kvs_sysops hook calls t_gate_pass with what it was
   given, and the first matching call stops there until t_gate_release; the
   gate then disarms. t_gate_wait_entered waits up to 30 s for a thread to
   stop in it and says whether one did. */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

typedef struct t_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int kind;          /* the armed kind; 0: disarmed */
    const void *buf;   /* match this buffer, when name is empty */
    char name[4096];   /* match this name */
    int entered, released;
} t_gate;
#define T_GATE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, "", 0, 0}

/* Arms g for the next call of `kind` (non-zero) with this name (when not
   NULL) or else this buffer. */
T_FN void t_gate_arm(t_gate *g, int kind, const char *name, const void *buf)
{
    pthread_mutex_lock(&g->mu);
    g->kind = kind;
    g->buf = buf;
    snprintf(g->name, sizeof g->name, "%s", name != NULL ? name : "");
    g->entered = g->released = 0;
    pthread_mutex_unlock(&g->mu);
}

/* In a hook: holds the calling thread when this call is the armed one. */
T_FN void t_gate_pass(t_gate *g, int kind, const char *name, const void *buf)
{
    int match;
    pthread_mutex_lock(&g->mu);
    match = g->kind != 0 && g->kind == kind &&
            (g->name[0] != '\0' ? name != NULL && strcmp(name, g->name) == 0 : buf == g->buf);
    if (match) {
        g->kind = 0;
        g->entered = 1;
        pthread_cond_broadcast(&g->cv);
        while (!g->released)
            pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
}

T_FN int t_gate_wait_entered(t_gate *g)
{
    struct timespec dl;
    int r = 0;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 30;
    pthread_mutex_lock(&g->mu);
    while (!g->entered && r == 0)
        r = pthread_cond_timedwait(&g->cv, &g->mu, &dl);
    r = g->entered;
    pthread_mutex_unlock(&g->mu);
    return r;
}

T_FN void t_gate_release(t_gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->released = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Sleep ms milliseconds. */
T_FN void t_sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* A pread hook's body: the gate (by buffer) for `kind`, then the real call. */
T_FN int64_t t_gated_pread(t_gate *g, int kind, int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    t_gate_pass(g, kind, NULL, buf);
    n = pread(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

#endif /* KVS_POSIX_USE_EVENTFD */

#endif
