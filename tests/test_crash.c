/* SPDX-License-Identifier: MIT OR Unlicense */
/* Crash harness (issue 6, docs/RELIABILITY.md "Crash harness").

   For each configuration (store kind x durability x direct/buffered x with
   or without eviction pressure) one store lives across many rounds. In a
   round a forked child opens the store and runs a seeded random workload:
   puts of new keys and overwrites (sizes from 20 bytes to 128 KiB, aligned
   and unaligned, from aligned and misaligned buffers), removes, syncs, gets
   (checked in the child), while it logs to the parent through a pipe
   "begin put k v" before each call and "ack put k v" / "ack remove k" /
   "ack sync" after it. The parent kills the child with SIGKILL after a
   seeded random delay (sometimes while the store is still opening), drains
   the log, checks the FS capacity bound on the files left on disk, reopens
   the store and checks every key against the model built from the log:

   - a key is allowed to read as its durable state (last acknowledged put;
     for an acknowledged remove: a miss on the filesystem store, on the raw
     store the removed value too until the next acknowledged sync, since a
     remove is only recorded by a checkpoint) or as any value put (begun)
     after that point -- a put in flight at the kill, or one that failed;
   - a miss of an acknowledged object is a LOST object, except in the
     configurations with eviction pressure (the child cannot see which keys
     the store evicted) -- the configurations without pressure check that
     the store reported no eviction at all;
   - any other bytes are a WRONG read (values are self-describing: key id,
     version and length in their first 20 bytes, then a pattern of both);
   - iteration lists no key the workload never wrote; corruptions stay 0;
     raw: slot count and file size fixed; FS: sum over object and temporary
     files of their size rounded up to 4 KiB <= capacity_bytes (no slack:
     the store reserves an in-flight put's bytes before writing its file).
   What was read becomes the model for the next round.

   Environment: KVS_CRASH_ITERS (rounds over all configurations; default
   576, 144 under sanitizers), KVS_CRASH_MAXDELAY_US (kill delay bound,
   default 30000), KVS_SEED, KVS_TEST_DIR. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <dirent.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test_util.h"

/* ---- self-describing values (tests/test_util.h) ---- */
#define VMAX ((size_t)128 << 10) /* largest value (raw slot payload) */

/* Lengths 20 bytes to VMAX, many near 512/4096 multiples (tails one byte
   over or under), some above 64 KiB (the raw store's two-write path).
   T_CRASH_UNITS raises the largest aligned length: the matrix builds this
   test with 32 (up to 128 KiB) and KVSI_OVL_MIN lowered to 68 KiB, so some
   puts take the raw store's overlapped path (payload in flight while the
   CRC is computed) when the process is killed. */
#ifndef T_CRASH_UNITS
#define T_CRASH_UNITS 12
#endif
static const t_valspec g_val = {VMAX, 55, 85, T_CRASH_UNITS, 60000, "kvCT"};

/* ---- configurations ---- */
#define MAXKEYS 64
#define SLOT_BYTES ((uint64_t)4096 + VMAX) /* slot size for align <= 4096 */

typedef struct kmodel {
    uint64_t base;      /* durable state: version, 0 = absent           */
    uint64_t cur;       /* logical state after the last acknowledged op */
    uint64_t *cand;     /* versions begun after base                    */
    size_t ncand, capc;
    int may_miss;       /* a remove began after base                    */
} kmodel;

typedef struct ccfg {
    const char *name;
    kvs_store_kind kind;
    kvs_durability dur;
    kvs_direct_policy direct;
    int pressure;
    unsigned nkeys;
    uint64_t slots;     /* RAW: slot count wanted                       */
    uint64_t capacity;  /* FS: capacity_bytes                           */
    char path[1200];
    uint64_t next_ver;
    uint64_t slots_total, file_size; /* RAW, after format                */
    int broken;         /* open failed: skip further rounds              */
    kmodel km[MAXKEYS];
    /* figures */
    uint64_t rounds, kills_in_open, acked_puts, acked_removes, acked_syncs, failed_ops;
    uint64_t checked, hits, misses_allowed, lost, wrong, inflight_seen;
} ccfg;

static uint64_t g_objects, g_keys_checked, g_lost, g_wrong, g_rounds;

static void km_cand(kmodel *m, uint64_t v)
{
    if (m->ncand == m->capc) {
        size_t nc = m->capc ? m->capc * 2 : 8;
        uint64_t *p = (uint64_t *)realloc(m->cand, nc * sizeof *p);
        if (p == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        m->cand = p;
        m->capc = nc;
    }
    m->cand[m->ncand++] = v;
}

static void km_settle(kmodel *m, uint64_t v)
{
    m->base = m->cur = v;
    m->ncand = 0;
    m->may_miss = 0;
}

static void cfg_store(const ccfg *c, kvs_store_config *sc, int format)
{
    kvs_store_config_init(sc);
    sc->kind = c->kind;
    sc->paths = c->path;
    sc->durability = c->dur;
    sc->direct = c->direct;
    sc->threads = 2;
    if (c->kind == KVS_STORE_RAW) {
        sc->format = format ? KVS_FORMAT_ALWAYS : KVS_FORMAT_NEVER;
        sc->slot_payload_bytes = VMAX;
        sc->max_key_bytes = 64;
        sc->meta_bytes = 262144;
        /* superblock + metadata + slots; the unit is at most 4096 here */
        sc->device_bytes = format ? 4096 + 262144 + c->slots * SLOT_BYTES : 0;
        /* frequent background checkpoints, so kills land inside them */
        sc->checkpoint_interval_ms = 3;
        sc->checkpoint_idle_ms = 1;
    } else {
        sc->capacity_bytes = c->capacity;
        sc->temp_max_age_s = 3600;
    }
}

static void keyname(char *k, size_t cap, uint32_t id)
{
    snprintf(k, cap, "crash/layer%02u/block-%08x", (unsigned)(id % 7), (unsigned)(id * 2654435761u));
}

/* ---- the child ---- */
enum { R_READY = 1, R_BEGIN_PUT, R_ACK_PUT, R_BEGIN_RM, R_ACK_RM, R_BEGIN_SYNC, R_ACK_SYNC, R_BAD_READ,
       R_EVICTED, R_OPEN_FAILED };

typedef struct rec {
    uint32_t type, key;
    uint64_t ver;
    int32_t res;
    uint32_t pad;
} rec;

static void child_log(int fd, uint32_t type, uint32_t key, uint64_t ver, kvs_result res)
{
    rec r;
    memset(&r, 0, sizeof r);
    r.type = type;
    r.key = key;
    r.ver = ver;
    r.res = (int32_t)res;
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r)
        _exit(5);
}

static void child_run(ccfg *c, int wfd, uint64_t seed)
{
    kvs_store_config sc;
    kvs_store *s = NULL;
    char err[256], k[64];
    uint64_t rs = seed, ver = c->next_ver, ops = 0, ev0 = 0;
    uint64_t cur[MAXKEYS];
    unsigned char *buf = NULL, *rd = NULL, *scratch = NULL;
    void *mem = NULL;
    kvs_store_stats st;
    unsigned i;
    kvs_result r;

    for (i = 0; i < c->nkeys; i++)
        cur[i] = c->km[i].cur; /* the parent's model: exact after its check */
    if (posix_memalign(&mem, 4096, VMAX + 4096) != 0)
        _exit(6);
    buf = (unsigned char *)mem;
    if (posix_memalign(&mem, 4096, VMAX + 4096) != 0)
        _exit(6);
    rd = (unsigned char *)mem;
    scratch = (unsigned char *)malloc(VMAX);
    if (scratch == NULL)
        _exit(6);
    cfg_store(c, &sc, 0);
    r = kvs_store_open(&sc, &s, err, sizeof err);
    if (r != KVS_OK) {
        fprintf(stderr, "child open %s: %s\n", c->name, err);
        child_log(wfd, R_OPEN_FAILED, 0, 0, r);
        _exit(2);
    }
    kvs_store_get_stats(s, &st);
    ev0 = st.evictions;
    child_log(wfd, R_READY, 0, 0, KVS_OK);
    for (;; ops++) {
        uint32_t key = (uint32_t)t_rng_below(&rs, c->nkeys);
        uint64_t op = t_rng_below(&rs, 100);
        keyname(k, sizeof k, key);
        if (op < 55) {
            size_t n = t_val_len(&g_val, key, ver), mis = t_rng_below(&rs, 4) == 0 ? 8 : 0;
            t_val_fill(&g_val, buf + mis, key, ver, n);
            child_log(wfd, R_BEGIN_PUT, key, ver, KVS_OK);
            r = kvs_store_put(s, k, strlen(k), buf + mis, n);
            child_log(wfd, R_ACK_PUT, key, ver, r);
            if (r == KVS_OK)
                cur[key] = ver;
            ver++;
        } else if (op < 67) {
            child_log(wfd, R_BEGIN_RM, key, 0, KVS_OK);
            r = kvs_store_remove(s, k, strlen(k));
            child_log(wfd, R_ACK_RM, key, 0, r);
            if (r == KVS_OK || r == KVS_NOT_FOUND)
                cur[key] = 0;
        } else if (op < 70) {
            child_log(wfd, R_BEGIN_SYNC, 0, 0, KVS_OK);
            r = kvs_store_sync(s);
            child_log(wfd, R_ACK_SYNC, 0, 0, r);
        } else {
            size_t got = 0;
            r = kvs_store_get(s, k, strlen(k), rd, VMAX, &got);
            if (r == KVS_OK) {
                if (cur[key] == 0 || !t_val_is(&g_val, rd, got, key, cur[key], scratch))
                    child_log(wfd, R_BAD_READ, key, cur[key], r);
            } else if (r == KVS_NOT_FOUND) {
                if (cur[key] != 0 && !c->pressure)
                    child_log(wfd, R_BAD_READ, key, cur[key], r);
            } else {
                child_log(wfd, R_BAD_READ, key, cur[key], r);
            }
        }
        if (!c->pressure) {
            kvs_store_get_stats(s, &st);
            if (st.evictions != ev0)
                child_log(wfd, R_EVICTED, 0, st.evictions, KVS_OK);
        }
        if (ops > 2000000)
            _exit(7); /* the parent never killed us */
    }
}

/* ---- the parent ---- */
static int is_raw_remove_pending(const ccfg *c) { return c->kind == KVS_STORE_RAW; }

static void apply(ccfg *c, const rec *r, int *ready)
{
    kmodel *m = r->key < c->nkeys ? &c->km[r->key] : NULL;
    unsigned i;
    switch (r->type) {
    case R_READY:
        *ready = 1;
        break;
    case R_OPEN_FAILED:
        FAILF("%s: the child could not open the store: %s", c->name, kvs_result_name(r->res));
        c->broken = 1;
        break;
    case R_BEGIN_PUT:
        km_cand(m, r->ver);
        if (r->ver >= c->next_ver)
            c->next_ver = r->ver + 1;
        break;
    case R_ACK_PUT:
        if (r->res == KVS_OK) {
            km_settle(m, r->ver);
            c->acked_puts++;
        } else {
            c->failed_ops++;
            /* the failed value stays a candidate; the old state stands */
            if (!c->pressure || r->res != KVS_E_FULL)
                FAILF("%s: put of key %u version %llu failed: %s", c->name, (unsigned)r->key,
                      (unsigned long long)r->ver, kvs_result_name(r->res));
        }
        break;
    case R_BEGIN_RM:
        m->may_miss = 1;
        break;
    case R_ACK_RM:
        if (r->res != KVS_OK && r->res != KVS_NOT_FOUND) {
            c->failed_ops++;
            FAILF("%s: remove of key %u failed: %s", c->name, (unsigned)r->key, kvs_result_name(r->res));
            break;
        }
        c->acked_removes++;
        m->cur = 0;
        if (!is_raw_remove_pending(c)) {
            km_settle(m, 0);
        }
        /* raw: base and candidates stay until a sync; may_miss stays 1 */
        break;
    case R_BEGIN_SYNC:
        break;
    case R_ACK_SYNC:
        if (r->res != KVS_OK) {
            c->failed_ops++;
            FAILF("%s: sync failed: %s", c->name, kvs_result_name(r->res));
            break;
        }
        c->acked_syncs++;
        for (i = 0; i < c->nkeys; i++)
            km_settle(&c->km[i], c->km[i].cur);
        break;
    case R_BAD_READ:
        g_wrong++;
        c->wrong++;
        FAILF("%s: the child read key %u wrongly (expected version %llu): %s", c->name, (unsigned)r->key,
              (unsigned long long)r->ver, kvs_result_name(r->res));
        break;
    case R_EVICTED:
        FAILF("%s: %llu evictions in a configuration without eviction pressure", c->name,
              (unsigned long long)r->ver);
        break;
    default:
        FAILF("%s: bad log record type %u", c->name, (unsigned)r->type);
        break;
    }
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Read whole records from fd; apply them. 0 at EOF, 1 otherwise. */
static int drain(ccfg *c, int fd, unsigned char *acc, size_t *have, int *ready)
{
    ssize_t n = read(fd, acc + *have, 4096);
    size_t off = 0;
    if (n <= 0)
        return n < 0 && errno == EINTR ? 1 : 0;
    *have += (size_t)n;
    while (*have - off >= sizeof(rec)) {
        rec r;
        memcpy(&r, acc + off, sizeof r);
        apply(c, &r, ready);
        off += sizeof r;
    }
    memmove(acc, acc + off, *have - off);
    *have -= off;
    return 1;
}

static uint64_t round_up4k(uint64_t v) { return (v + 4095) & ~(uint64_t)4095; }

/* FS: bytes on disk of object and temporary files; removes temporary files
   when clean (they are what the killed children left). */
static uint64_t fs_disk_bytes(const char *dir, int clean, unsigned *ntemp)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    uint64_t sum = 0;
    *ntemp = 0;
    if (dp == NULL)
        return 0;
    while ((de = readdir(dp)) != NULL) {
        struct stat st;
        char p[2400];
        unsigned char kb[KVS_KEY_MAX];
        size_t kl = 0;
        kvs_fsname_kind kind;
        if (de->d_name[0] == '.' || strcmp(de->d_name, "~kvstore-pathset") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        sum += round_up4k((uint64_t)st.st_size);
        if (kvs_fsname_decode(de->d_name, strlen(de->d_name), kb, sizeof kb, &kl, &kind) == KVS_OK &&
            kind == KVS_FSNAME_TEMP) {
            (*ntemp)++;
            if (clean)
                (void)unlink(p);
        }
    }
    closedir(dp);
    return sum;
}

typedef struct itx {
    ccfg *c;
    unsigned phantom;
} itx;

static int iter_cb(void *user, const void *key, size_t key_len, uint64_t len)
{
    itx *x = (itx *)user;
    char k[64];
    unsigned i;
    (void)len;
    for (i = 0; i < x->c->nkeys; i++) {
        keyname(k, sizeof k, i);
        if (strlen(k) == key_len && memcmp(k, key, key_len) == 0)
            return 0;
    }
    x->phantom++;
    return 0;
}

/* Reopen after the kill and check every key; the result is the new model. */
static void check_store(ccfg *c, unsigned char *rd, unsigned char *scratch)
{
    kvs_store_config sc;
    kvs_store *s = NULL;
    kvs_store_stats st;
    char err[256], k[64], why[160];
    unsigned i, ntemp = 0;
    itx x;
    kvs_result r;

    if (c->kind == KVS_STORE_FS && c->capacity != 0) {
        /* the bound on what the killed process left: objects + its temp file */
        uint64_t disk = fs_disk_bytes(c->path, 0, &ntemp);
        if (disk > c->capacity)
            FAILF("%s: %llu bytes on disk (%u temporary files) > capacity %llu", c->name,
                  (unsigned long long)disk, ntemp, (unsigned long long)c->capacity);
        else
            t_pass++;
    }
    cfg_store(c, &sc, 0);
    r = kvs_store_open(&sc, &s, err, sizeof err);
    if (r != KVS_OK) {
        FAILF("%s: reopen after the kill failed: %s: %s", c->name, kvs_result_name(r), err);
        c->broken = 1;
        return;
    }
    for (i = 0; i < c->nkeys; i++) {
        kmodel *m = &c->km[i];
        size_t got = 0, j;
        uint64_t seen = 0;
        keyname(k, sizeof k, i);
        r = kvs_store_get(s, k, strlen(k), rd, VMAX, &got);
        c->checked++;
        g_keys_checked++;
        if (r == KVS_OK) {
            c->hits++;
            if (m->base != 0 && t_val_is(&g_val, rd, got, i, m->base, scratch))
                seen = m->base;
            for (j = 0; j < m->ncand && seen == 0; j++)
                if (t_val_is(&g_val, rd, got, i, m->cand[j], scratch))
                    seen = m->cand[j];
            if (seen != 0)
                g_objects++; /* byte-exact: it is one of the values put */
            if (seen == 0) {
                t_val_describe(&g_val, rd, got, why, sizeof why, scratch);
                g_wrong++;
                c->wrong++;
                FAILF("%s round %llu: WRONG read of key %u (durable version %llu, %zu candidates): %s", c->name,
                      (unsigned long long)c->rounds, i, (unsigned long long)m->base, m->ncand, why);
            } else {
                t_pass++;
                if (seen != m->base)
                    c->inflight_seen++;
            }
        } else if (r == KVS_NOT_FOUND) {
            if (m->base == 0 || m->may_miss || c->pressure) {
                t_pass++;
                if (m->base != 0)
                    c->misses_allowed++;
            } else {
                g_lost++;
                c->lost++;
                FAILF("%s round %llu: LOST acknowledged object: key %u version %llu", c->name,
                      (unsigned long long)c->rounds, i, (unsigned long long)m->base);
            }
        } else {
            FAILF("%s: get of key %u: %s", c->name, i, kvs_result_name(r));
        }
        km_settle(m, seen);
    }
    x.c = c;
    x.phantom = 0;
    CHECK(kvs_store_iterate(s, iter_cb, &x) == KVS_OK);
    if (x.phantom != 0)
        FAILF("%s: iteration lists %u keys the workload never wrote", c->name, x.phantom);
    kvs_store_get_stats(s, &st);
    if (st.corruptions != 0)
        FAILF("%s: %llu corruptions after a process crash", c->name, (unsigned long long)st.corruptions);
    if (c->kind == KVS_STORE_RAW) {
        struct stat fst;
        CHECK(st.slots_total == c->slots_total);
        CHECK(stat(c->path, &fst) == 0 && (uint64_t)fst.st_size == c->file_size);
    } else if (c->capacity != 0) {
        CHECK(st.disk_bytes <= c->capacity);
    }
    r = kvs_store_close(s);
    if (r != KVS_OK)
        FAILF("%s: close: %s", c->name, kvs_result_name(r));
    if (c->kind == KVS_STORE_FS)
        (void)fs_disk_bytes(c->path, 1, &ntemp);
}

static void one_round(ccfg *c, uint64_t *rs, uint64_t maxdelay, unsigned char *rd, unsigned char *scratch)
{
    int pfd[2], status = 0, ready = 0, in_open;
    pid_t pid;
    uint64_t delay, t0, t0_ready = 0, cseed = t_rng_next(rs);
    unsigned char acc[8192];
    size_t have = 0;

    in_open = t_rng_below(rs, 10) == 0;
    delay = in_open ? t_rng_below(rs, 3000) : t_rng_below(rs, maxdelay + 1);
    if (pipe(pfd) != 0) {
        FAILF("pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        FAILF("fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return;
    }
    if (pid == 0) {
        close(pfd[0]);
        child_run(c, pfd[1], cseed);
        _exit(0);
    }
    close(pfd[1]);
    t0 = now_us();
    for (;;) {
        struct pollfd p;
        uint64_t now = now_us();
        int to;
        if (!in_open && !ready) {
            if (now - t0 > 20000000u) {
                FAILF("%s: the child did not open the store within 20 s", c->name);
                break;
            }
            to = 100;
        } else {
            if (!in_open && t0_ready == 0)
                t0_ready = now; /* the delay counts from READY */
            if (now >= (in_open ? t0 : t0_ready) + delay)
                break;
            to = (int)(((in_open ? t0 : t0_ready) + delay - now + 999) / 1000);
        }
        p.fd = pfd[0];
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, to) > 0 && !drain(c, pfd[0], acc, &have, &ready))
            break; /* the child died by itself */
    }
    if (in_open && !ready)
        c->kills_in_open++;
    kill(pid, SIGKILL);
    while (drain(c, pfd[0], acc, &have, &ready))
        ;
    close(pfd[0]);
    waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
        FAILF("%s: the child ended by itself (status 0x%x)", c->name, (unsigned)status);
    c->rounds++;
    g_rounds++;
    if (!c->broken)
        check_store(c, rd, scratch);
}

/* ---- remove + sync while an older put is in flight (deterministic) ----
   Thread A's put takes generation g and stalls in its payload write; the
   main thread puts key B (generation g + 1), removes it and syncs: OK. A
   crash image taken now must not bring B back: the checkpoint that sync
   wrote does not list B, but its gen_floor (the smallest generation in
   flight, g) is not above B's generation, so the restore scan used to take
   B's slot for an object written after the checkpoint. */
typedef struct stall {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t len;          /* the write to stall: this length              */
    int stalled, release;
} stall;

static stall g_stall;

static int64_t stall_pwrite(void *user, int fd, const void *buf, size_t len, uint64_t off)
{
    stall *st = (stall *)user;
    ssize_t n;
    if (len == st->len) {
        pthread_mutex_lock(&st->mu);
        st->stalled = 1;
        pthread_cond_broadcast(&st->cv);
        while (!st->release)
            pthread_cond_wait(&st->cv, &st->mu);
        pthread_mutex_unlock(&st->mu);
    }
    n = pwrite(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

typedef struct slow_put {
    kvs_store *s;
    unsigned char *buf;
    size_t len;
    kvs_result r;
} slow_put;

static void *slow_put_main(void *arg)
{
    slow_put *p = (slow_put *)arg;
    p->r = kvs_store_put(p->s, "slow", 4, p->buf, p->len);
    return NULL;
}

static void *release_main(void *arg)
{
    struct timespec d = {0, 50000000};
    (void)arg;
    nanosleep(&d, NULL);
    pthread_mutex_lock(&g_stall.mu);
    g_stall.release = 1;
    pthread_cond_broadcast(&g_stall.cv);
    pthread_mutex_unlock(&g_stall.mu);
    return NULL;
}

static int copy_file(const char *from, const char *to)
{
    static unsigned char cb[1 << 16];
    int a = open(from, O_RDONLY), b = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600), ok = a >= 0 && b >= 0;
    ssize_t n;
    while (ok && (n = read(a, cb, sizeof cb)) > 0)
        ok = write(b, cb, (size_t)n) == n;
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
    return ok ? 0 : -1;
}

static void test_remove_sync_inflight(void)
{
    char path[1200], img[1200], err[256];
    kvs_store_config sc;
    kvs_store *s = NULL, *t = NULL;
    kvs_sysops so;
    pthread_t th, rel;
    slow_put sp;
    unsigned char *val, *rd;
    void *mem = NULL;
    size_t got = 0, blen = 3000;
    kvs_result r;

    snprintf(path, sizeof path, "%s/inflight.img", t_dir);
    snprintf(img, sizeof img, "%s/inflight.crash", t_dir);
    if (posix_memalign(&mem, 4096, VMAX) != 0)
        return;
    val = (unsigned char *)mem;
    if (posix_memalign(&mem, 4096, VMAX) != 0)
        return;
    rd = (unsigned char *)mem;
    memset(&g_stall, 0, sizeof g_stall);
    pthread_mutex_init(&g_stall.mu, NULL);
    pthread_cond_init(&g_stall.cv, NULL);
    g_stall.len = 100000; /* above 64 KiB: the payload is its own write */
    memset(&so, 0, sizeof so);
    so.user = &g_stall;
    so.pwrite = stall_pwrite;
    kvs_store_config_init(&sc);
    sc.kind = KVS_STORE_RAW;
    sc.paths = path;
    sc.format = KVS_FORMAT_ALWAYS;
    sc.device_bytes = 4096 + 262144 + 32 * SLOT_BYTES;
    sc.slot_payload_bytes = VMAX;
    sc.meta_bytes = 262144;
    sc.max_key_bytes = 64;
    sc.direct = KVS_DIRECT_OFF;
    sc.threads = 2;
    sc.sysops = &so;
    r = kvs_store_open(&sc, &s, err, sizeof err);
    if (r != KVS_OK) {
        FAILF("inflight: open: %s", err);
        return;
    }
    t_val_fill(&g_val, val, 1, 1, g_stall.len);
    sp.s = s;
    sp.buf = val;
    sp.len = g_stall.len;
    sp.r = KVS_E_IO;
    CHECK(pthread_create(&th, NULL, slow_put_main, &sp) == 0);
    pthread_mutex_lock(&g_stall.mu);
    while (!g_stall.stalled)
        pthread_cond_wait(&g_stall.cv, &g_stall.mu);
    pthread_mutex_unlock(&g_stall.mu);
    /* A is in flight with the older generation */
    t_val_fill(&g_val, rd, 2, 2, blen);
    CHECK(kvs_store_put(s, "gone", 4, rd, blen) == KVS_OK);
    CHECK(kvs_store_remove(s, "gone", 4) == KVS_OK);
    /* sync may wait for the put in flight: a helper releases it later */
    CHECK(pthread_create(&rel, NULL, release_main, NULL) == 0);
    CHECK(kvs_store_sync(s) == KVS_OK);
    /* the crash image after the acknowledged remove and sync */
    CHECK(copy_file(path, img) == 0);
    pthread_join(rel, NULL);
    pthread_join(th, NULL);
    CHECK(sp.r == KVS_OK);
    CHECK(kvs_store_close(s) == KVS_OK);
    sc.sysops = NULL;
    sc.paths = img;
    sc.format = KVS_FORMAT_NEVER;
    sc.device_bytes = 0;
    r = kvs_store_open(&sc, &t, err, sizeof err);
    if (r != KVS_OK) {
        FAILF("inflight: open of the crash image: %s", err);
    } else {
        r = kvs_store_get(t, "gone", 4, rd, VMAX, &got);
        if (r != KVS_NOT_FOUND)
            FAILF("a removed object came back after an acknowledged sync: get = %s (%zu bytes)", kvs_result_name(r),
                  got);
        else
            t_pass++;
        CHECK(kvs_store_close(t) == KVS_OK);
    }
    pthread_cond_destroy(&g_stall.cv);
    pthread_mutex_destroy(&g_stall.mu);
    unlink(path);
    unlink(img);
    free(val);
    free(rd);
}

static void setup(ccfg *c)
{
    kvs_store_config sc;
    kvs_store *s = NULL;
    kvs_store_stats st;
    struct stat fst;
    char err[256];
    kvs_result r;
    memset(c->km, 0, sizeof c->km);
    c->next_ver = 1;
    cfg_store(c, &sc, 1);
    r = kvs_store_open(&sc, &s, err, sizeof err);
    if (r != KVS_OK) {
        FAILF("%s: create: %s: %s", c->name, kvs_result_name(r), err);
        c->broken = 1;
        return;
    }
    kvs_store_get_stats(s, &st);
    c->slots_total = st.slots_total;
    CHECK(kvs_store_close(s) == KVS_OK);
    if (c->kind == KVS_STORE_RAW) {
        CHECK(stat(c->path, &fst) == 0);
        c->file_size = (uint64_t)fst.st_size;
        /* without pressure every key fits; with it, far from all */
        if (c->pressure)
            CHECK(c->slots_total < c->nkeys / 2);
        else
            CHECK(c->slots_total > c->nkeys);
    }
}

int main(void)
{
    static ccfg cfgs[18];
    const char *env;
    uint64_t iters = T_SAN ? 144 : 576, maxdelay = 30000, rs, i, t_start;
    unsigned ncfg = 0, j, kind, dur, dir, pr;
    unsigned char *rd, *scratch;
    void *mem = NULL;

    t_init_seed("test_crash", 0x5eed1234ULL);
    env = getenv("KVS_CRASH_ITERS");
    if (env != NULL && env[0] != '\0')
        iters = strtoull(env, NULL, 0);
    env = getenv("KVS_CRASH_MAXDELAY_US");
    if (env != NULL && env[0] != '\0')
        maxdelay = strtoull(env, NULL, 0);
    t_setup_dir("crash");
    signal(SIGPIPE, SIG_IGN);
    if (posix_memalign(&mem, 4096, VMAX + 4096) != 0)
        return 1;
    rd = (unsigned char *)mem;
    scratch = (unsigned char *)malloc(VMAX);
    if (scratch == NULL)
        return 1;

    /* RAW: NONE, DATA; FS: NONE, DATA, FULL (DATA buffered only); each
       direct (PREFER) and buffered; with and without eviction pressure. */
    for (kind = 0; kind < 2; kind++)
        for (dur = 0; dur < 3; dur++)
            for (dir = 0; dir < 2; dir++)
                for (pr = 0; pr < 2; pr++) {
                    ccfg *c;
                    static char names[18][64];
                    if (kind == 0 && dur == 2)
                        continue; /* raw FULL is DATA */
                    if (kind == 1 && dur == 1 && dir == 0)
                        continue;
                    c = &cfgs[ncfg];
                    c->kind = kind == 0 ? KVS_STORE_RAW : KVS_STORE_FS;
                    c->dur = dur == 0 ? KVS_DURABLE_NONE : dur == 1 ? KVS_DURABLE_DATA : KVS_DURABLE_FULL;
                    c->direct = dir == 0 ? KVS_DIRECT_PREFER : KVS_DIRECT_OFF;
                    c->pressure = (int)pr;
                    c->nkeys = pr ? 64 : 40;
                    c->slots = pr ? 20 : 56;
                    c->capacity = pr ? 640u << 10 : 0;
                    snprintf(names[ncfg], sizeof names[ncfg], "%s-%s-%s-%s", kind == 0 ? "raw" : "fs",
                             dur == 0 ? "none" : dur == 1 ? "data" : "full", dir == 0 ? "direct" : "buffered",
                             pr ? "evict" : "noevict");
                    c->name = names[ncfg];
                    snprintf(c->path, sizeof c->path, "%s/%s%s", t_dir, c->name, kind == 0 ? ".img" : "");
                    setup(c);
                    ncfg++;
                }

    test_remove_sync_inflight();
    rs = t_seed ^ 0xc3a5c85c97cb3127ULL;
    t_start = now_us();
    for (i = 0; i < iters; i++) {
        ccfg *c = &cfgs[i % ncfg];
        if (!c->broken)
            one_round(c, &rs, maxdelay, rd, scratch);
    }
    for (j = 0; j < ncfg; j++) {
        ccfg *c = &cfgs[j];
        unsigned k;
        printf("  %-26s rounds %4llu (killed in open %3llu)  acked puts %6llu removes %5llu syncs %4llu  "
               "checked %5llu hits %5llu in-flight seen %3llu  lost %llu wrong %llu\n",
               c->name, (unsigned long long)c->rounds, (unsigned long long)c->kills_in_open,
               (unsigned long long)c->acked_puts, (unsigned long long)c->acked_removes,
               (unsigned long long)c->acked_syncs, (unsigned long long)c->checked, (unsigned long long)c->hits,
               (unsigned long long)c->inflight_seen, (unsigned long long)c->lost, (unsigned long long)c->wrong);
        for (k = 0; k < MAXKEYS; k++)
            free(c->km[k].cand);
    }
    printf("iterations survived: %llu (%u configurations, seed %llu, %.1f s)\n", (unsigned long long)g_rounds, ncfg,
           t_seed, (double)(now_us() - t_start) / 1e6);
    printf("objects checked: %llu byte-exact of %llu keys checked; lost acknowledged objects: %llu; wrong reads: %llu\n",
           (unsigned long long)g_objects, (unsigned long long)g_keys_checked, (unsigned long long)g_lost,
           (unsigned long long)g_wrong);
    t_rm_rf(t_dir);
    free(rd);
    free(scratch);
    return t_done("test_crash");
}
