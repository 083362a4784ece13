/* SPDX-License-Identifier: MIT OR Unlicense */
/* Power-cut simulation of the raw-block store through the I/O layer
   (issue 6, docs/RELIABILITY.md "Power-cut simulation").

   1. Format a store on a file and close it: that image (superblock, empty
      checkpoint) is the synced starting point.
   2. Reopen it with a recording kvs_sysops table: open, pwrite, fdatasync
      and fsync of the device go through to the real file (fdatasync/fsync
      are recorded but not issued: the file's own durability does not matter
      here, the model decides what survives), and every write (offset and
      bytes) and every sync is appended to one log, under a mutex (the
      background checkpoint thread writes too). The workload -- seeded puts
      of new keys and overwrites, removes, syncs and gets -- appends its own
      events to the same log: "begin put k v" before the call, "ack put k v",
      "ack remove k", "ack sync" after it.
   3. For many cut points (right after every sync, right before every sync,
      and random positions), rebuild a device image: every write before the
      last sync at or before the cut applied in order; every write between
      that sync and the cut dropped, applied or torn (a random subset of its
      512-byte sectors, at absolute sector boundaries); some cuts also get
      the all-applied and all-dropped variants. Write it to a fresh file and
      open the store on it with real system calls.
   4. Check: the open succeeds (the superblock was synced at format); a key
      reads as its durable state -- its value at the last acknowledged sync
      before the cut, or at its last put acknowledged under DATA durability
      -- or as any value put after that point (acknowledged or in flight);
      a miss only when the durable state is absent, a remove began after it,
      or the workload has eviction pressure; never any other bytes (values
      are self-describing); no key the workload never wrote; no corruption
      counted; then a put and a get of a new key work and the store closes.

   The filesystem store has its own simulation, tests/test_powercut_fs.c.
   Environment: KVS_POWERCUT_STATES (images checked over all workloads;
   default 4000, 1000 under sanitizers), KVS_POWERCUT_OPS (workload length,
   default 260), KVS_SEED, KVS_TEST_DIR. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "test_util.h"

static char g_imgdir[1024]; /* cut images: /dev/shm when usable (fast syncs) */

/* ---- self-describing values (tests/test_util.h) ---- */
#define VMAX ((size_t)72 << 10)
static const t_valspec g_val = {VMAX, 60, 90, 10, 60000, "kvCT"};

static void keyname(char *k, size_t cap, uint32_t id)
{
    snprintf(k, cap, "pc/layer%02u/block-%08x", (unsigned)(id % 5), (unsigned)(id * 2654435761u));
}

/* ---- the log ---- */
enum { L_WRITE = 1, L_SYNC, L_BEGIN_PUT, L_ACK_PUT, L_BEGIN_RM, L_ACK_RM, L_ACK_SYNC };

typedef struct lent {
    uint32_t type, key;
    uint64_t off, ver;    /* WRITE: offset; events: version           */
    size_t len, data;     /* WRITE: length and position in the arena  */
    int res;
} lent;

typedef struct recorder {
    pthread_mutex_t mu;
    const char *path;
    int fds[8];
    unsigned nfds;
    lent *ev;
    size_t nev, capev;
    unsigned char *arena;
    size_t narena, caparena;
    uint64_t writes, syncs, bytes;
} recorder;

static recorder g_rec;

static void rec_push(recorder *R, const lent *e, const void *data)
{
    if (R->nev == R->capev) {
        size_t nc = R->capev ? R->capev * 2 : 4096;
        lent *p = (lent *)realloc(R->ev, nc * sizeof *p);
        if (p == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        R->ev = p;
        R->capev = nc;
    }
    R->ev[R->nev] = *e;
    if (data != NULL) {
        if (R->narena + e->len > R->caparena) {
            size_t nc = R->caparena ? R->caparena : (size_t)1 << 22;
            unsigned char *p;
            while (nc < R->narena + e->len)
                nc *= 2;
            p = (unsigned char *)realloc(R->arena, nc);
            if (p == NULL) {
                fprintf(stderr, "out of memory\n");
                exit(1);
            }
            R->arena = p;
            R->caparena = nc;
        }
        memcpy(R->arena + R->narena, data, e->len);
        R->ev[R->nev].data = R->narena;
        R->narena += e->len;
    }
    R->nev++;
}

static int rec_is_dev(recorder *R, int fd)
{
    unsigned i;
    for (i = 0; i < R->nfds; i++)
        if (R->fds[i] == fd)
            return 1;
    return 0;
}

static void rec_event(uint32_t type, uint32_t key, uint64_t ver, kvs_result res)
{
    lent e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.key = key;
    e.ver = ver;
    e.res = (int)res;
    pthread_mutex_lock(&g_rec.mu);
    rec_push(&g_rec, &e, NULL);
    pthread_mutex_unlock(&g_rec.mu);
}

static int h_open(void *user, const char *path, int flags, unsigned mode)
{
    recorder *R = (recorder *)user;
    int fd;
    do {
        fd = open(path, flags, (mode_t)mode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    pthread_mutex_lock(&R->mu);
    if (strcmp(path, R->path) == 0 && R->nfds < 8)
        R->fds[R->nfds++] = fd;
    pthread_mutex_unlock(&R->mu);
    return fd;
}

static int64_t h_pwrite(void *user, int fd, const void *buf, size_t len, uint64_t off)
{
    recorder *R = (recorder *)user;
    ssize_t n = pwrite(fd, buf, len, (off_t)off);
    if (n < 0)
        return -(int64_t)errno;
    /* recorded once complete: a sync recorded later covers it */
    pthread_mutex_lock(&R->mu);
    if (rec_is_dev(R, fd) && n > 0) {
        lent e;
        memset(&e, 0, sizeof e);
        e.type = L_WRITE;
        e.off = off;
        e.len = (size_t)n;
        rec_push(R, &e, buf);
        R->writes++;
        R->bytes += (uint64_t)n;
    }
    pthread_mutex_unlock(&R->mu);
    return (int64_t)n;
}

/* Recorded when it starts: it covers the writes completed before it. Not
   issued: the simulation decides what is durable. */
static int h_sync(void *user, int fd)
{
    recorder *R = (recorder *)user;
    pthread_mutex_lock(&R->mu);
    if (rec_is_dev(R, fd)) {
        lent e;
        memset(&e, 0, sizeof e);
        e.type = L_SYNC;
        rec_push(R, &e, NULL);
        R->syncs++;
    }
    pthread_mutex_unlock(&R->mu);
    return 0;
}

/* ---- workloads ---- */
typedef struct wcfg {
    const char *name;
    kvs_durability dur;
    kvs_direct_policy direct;
    int pressure;
    int background;     /* background checkpoints (timing-dependent log) */
    unsigned nkeys;
    uint64_t slots;
} wcfg;

#define MAXKEYS 64
#define SLOT_BYTES ((uint64_t)4096 + VMAX)
#define META_BYTES ((uint64_t)131072)

static void store_cfg(const wcfg *w, const char *path, kvs_store_config *sc, int format, const kvs_sysops *ops)
{
    kvs_store_config_init(sc);
    sc->kind = KVS_STORE_RAW;
    sc->paths = path;
    sc->durability = w->dur;
    sc->direct = w->direct;
    sc->threads = 1;
    sc->format = format ? KVS_FORMAT_ALWAYS : KVS_FORMAT_NEVER;
    sc->device_bytes = format ? 4096 + META_BYTES + w->slots * SLOT_BYTES : 0;
    sc->slot_payload_bytes = VMAX;
    sc->meta_bytes = META_BYTES;
    sc->max_key_bytes = 64;
    sc->checkpoint_interval_ms = w->background ? 2 : 4000000000u;
    sc->checkpoint_idle_ms = w->background ? 1 : 4000000000u;
    sc->sysops = ops;
}

typedef struct kmodel {
    uint64_t base, cur;
    uint64_t cand[512];
    size_t ncand;
    int may_miss, overflow;
} kmodel;

static uint64_t g_states, g_objects, g_keys_checked, g_lost, g_wrong, g_open_fail, g_torn_writes;

static unsigned char *read_file(const char *path, size_t *n)
{
    struct stat st;
    unsigned char *p;
    int fd = open(path, O_RDONLY);
    size_t got = 0;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "%s:%d: cannot read %s (seed %llu)\n", __FILE__, __LINE__, path, t_seed);
        exit(1);
    }
    *n = (size_t)st.st_size;
    p = (unsigned char *)t_xmalloc(*n);
    while (got < *n) {
        ssize_t k = pread(fd, p + got, *n - got, (off_t)got);
        if (k <= 0)
            exit(1);
        got += (size_t)k;
    }
    close(fd);
    return p;
}

static int write_image(const char *path, const unsigned char *img, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t put = 0;
    if (fd < 0)
        return -1;
    while (put < n) {
        ssize_t k = pwrite(fd, img + put, n - put, (off_t)put);
        if (k <= 0) {
            close(fd);
            return -1;
        }
        put += (size_t)k;
    }
    close(fd);
    return 0;
}

/* Apply write e to img: mode 0 drop, 1 whole, 2 torn (random sectors). */
static void apply_write(unsigned char *img, size_t n, const lent *e, int mode, uint64_t *rs)
{
    const unsigned char *src = g_rec.arena + e->data;
    uint64_t pos = e->off, end = e->off + e->len;
    if (mode == 0 || end > n)
        return;
    if (mode == 1) {
        memcpy(img + e->off, src, e->len);
        return;
    }
    while (pos < end) {
        uint64_t sec_end = (pos / 512 + 1) * 512;
        if (sec_end > end)
            sec_end = end;
        if (t_rng_below(rs, 2))
            memcpy(img + pos, src + (pos - e->off), (size_t)(sec_end - pos));
        pos = sec_end;
    }
}

typedef struct itx {
    unsigned nkeys, phantom;
} itx;

static int iter_cb(void *user, const void *key, size_t key_len, uint64_t len)
{
    itx *x = (itx *)user;
    char k[64];
    unsigned i;
    (void)len;
    for (i = 0; i < x->nkeys; i++) {
        keyname(k, sizeof k, i);
        if (strlen(k) == key_len && memcmp(k, key, key_len) == 0)
            return 0;
    }
    if (!(key_len == 5 && memcmp(key, "probe", 5) == 0))
        x->phantom++;
    return 0;
}

/* The model at cut position `cut` (events before it). */
static void model_at(const wcfg *w, size_t cut, kmodel *km)
{
    size_t i;
    unsigned k;
    memset(km, 0, sizeof(kmodel) * w->nkeys);
    for (i = 0; i < cut; i++) {
        const lent *e = &g_rec.ev[i];
        kmodel *m = e->key < w->nkeys ? &km[e->key] : NULL;
        switch (e->type) {
        case L_BEGIN_PUT:
            if (m->ncand < sizeof m->cand / sizeof m->cand[0])
                m->cand[m->ncand++] = e->ver;
            else
                m->overflow = 1;
            break;
        case L_ACK_PUT:
            if (e->res == KVS_OK) {
                m->cur = e->ver;
                if (w->dur != KVS_DURABLE_NONE) {
                    m->base = e->ver;
                    m->ncand = 0;
                    m->may_miss = 0;
                    m->overflow = 0;
                }
            }
            break;
        case L_BEGIN_RM:
            m->may_miss = 1;
            break;
        case L_ACK_RM:
            if (e->res == KVS_OK || e->res == KVS_NOT_FOUND)
                m->cur = 0;
            break;
        case L_ACK_SYNC:
            if (e->res == KVS_OK)
                for (k = 0; k < w->nkeys; k++) {
                    km[k].base = km[k].cur;
                    km[k].ncand = 0;
                    km[k].may_miss = 0;
                    km[k].overflow = 0;
                }
            break;
        default:
            break;
        }
    }
}

/* Open the store on the image file and check it against the model. */
static void check_image(const wcfg *w, const char *path, const kmodel *km, size_t cut, unsigned char *rd,
                        unsigned char *scratch)
{
    kvs_store_config sc;
    kvs_store *s = NULL;
    kvs_store_stats st;
    char err[256], k[64], why[160];
    unsigned i;
    size_t got = 0, j;
    kvs_result r;
    itx x;

    store_cfg(w, path, &sc, 0, NULL);
    r = kvs_store_open(&sc, &s, err, sizeof err);
    g_states++;
    if (r != KVS_OK) {
        g_open_fail++;
        FAILF("%s cut %zu: open of the image failed: %s: %s", w->name, cut, kvs_result_name(r), err);
        return;
    }
    for (i = 0; i < w->nkeys; i++) {
        const kmodel *m = &km[i];
        uint64_t seen = 0;
        keyname(k, sizeof k, i);
        r = kvs_store_get(s, k, strlen(k), rd, VMAX, &got);
        g_keys_checked++;
        if (r == KVS_OK) {
            if (m->base != 0 && t_val_is(&g_val, rd, got, i, m->base, scratch))
                seen = m->base;
            for (j = 0; j < m->ncand && seen == 0; j++)
                if (t_val_is(&g_val, rd, got, i, m->cand[j], scratch))
                    seen = m->cand[j];
            if (seen != 0)
                g_objects++; /* byte-exact: it is one of the values put */
            if (seen == 0 && !m->overflow) {
                t_val_describe(&g_val, rd, got, why, sizeof why, scratch);
                g_wrong++;
                FAILF("%s cut %zu: WRONG read of key %u (durable version %llu, %zu candidates): %s", w->name, cut, i,
                      (unsigned long long)m->base, m->ncand, why);
            } else
                t_pass++;
        } else if (r == KVS_NOT_FOUND) {
            if (m->base == 0 || m->may_miss || w->pressure)
                t_pass++;
            else {
                g_lost++;
                FAILF("%s cut %zu: LOST synced object: key %u version %llu", w->name, cut, i,
                      (unsigned long long)m->base);
            }
        } else {
            FAILF("%s cut %zu: get of key %u: %s", w->name, cut, i, kvs_result_name(r));
        }
    }
    x.nkeys = w->nkeys;
    x.phantom = 0;
    CHECK(kvs_store_iterate(s, iter_cb, &x) == KVS_OK);
    if (x.phantom != 0)
        FAILF("%s cut %zu: iteration lists %u keys never written", w->name, cut, x.phantom);
    kvs_store_get_stats(s, &st);
    if (st.corruptions != 0)
        FAILF("%s cut %zu: %llu corruptions counted", w->name, cut, (unsigned long long)st.corruptions);
    /* usable: a put and a get */
    t_val_fill(&g_val, scratch, 999, 1, t_val_len(&g_val, 999, 1));
    r = kvs_store_put(s, "probe", 5, scratch, t_val_len(&g_val, 999, 1));
    if (r != KVS_OK)
        FAILF("%s cut %zu: put after the restore: %s", w->name, cut, kvs_result_name(r));
    else {
        r = kvs_store_get(s, "probe", 5, rd, VMAX, &got);
        if (r != KVS_OK || !t_val_is(&g_val, rd, got, 999, 1, scratch))
            FAILF("%s cut %zu: get after the restore: %s", w->name, cut, kvs_result_name(r));
        else
            t_pass++;
    }
    r = kvs_store_close(s);
    if (r != KVS_OK)
        FAILF("%s cut %zu: close: %s", w->name, cut, kvs_result_name(r));
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void run_workload(const wcfg *w, uint64_t states, unsigned ops, uint64_t seed, unsigned char *rd,
                         unsigned char *scratch)
{
    char path[1200], ipath[1200], err[256], k[64];
    kvs_store_config sc;
    kvs_store *s = NULL;
    kvs_sysops so;
    unsigned char *img0, *base, *img, *buf;
    void *mem = NULL;
    size_t n0, i, ncut = 0, *cuts, nsync = 0, applied_to = 0, ci;
    uint64_t rs = seed, ver = 1, mine = 0;
    kmodel *km = (kmodel *)t_xmalloc(sizeof(kmodel) * MAXKEYS);
    unsigned op;
    kvs_result r;

    snprintf(path, sizeof path, "%s/%s.img", t_dir, w->name);
    snprintf(ipath, sizeof ipath, "%s/%s.cut", g_imgdir, w->name);
    /* 1: format, close: the synced start */
    store_cfg(w, path, &sc, 1, NULL);
    r = kvs_store_open(&sc, &s, err, sizeof err);
    if (r != KVS_OK) {
        FAILF("%s: format: %s: %s", w->name, kvs_result_name(r), err);
        free(km);
        return;
    }
    {
        kvs_store_stats st;
        kvs_store_get_stats(s, &st);
        if (w->pressure)
            CHECK(st.slots_total < w->nkeys / 2);
        else
            CHECK(st.slots_total > w->nkeys);
    }
    CHECK(kvs_store_close(s) == KVS_OK);
    img0 = read_file(path, &n0);

    /* 2: the recorded workload */
    pthread_mutex_lock(&g_rec.mu);
    g_rec.path = path;
    g_rec.nfds = 0;
    g_rec.nev = 0;
    g_rec.narena = 0;
    pthread_mutex_unlock(&g_rec.mu);
    memset(&so, 0, sizeof so);
    so.user = &g_rec;
    so.open = h_open;
    so.pwrite = h_pwrite;
    so.fdatasync = h_sync;
    so.fsync = h_sync;
    store_cfg(w, path, &sc, 0, &so);
    r = kvs_store_open(&sc, &s, err, sizeof err);
    if (r != KVS_OK) {
        FAILF("%s: open for the workload: %s: %s", w->name, kvs_result_name(r), err);
        free(img0);
        free(km);
        return;
    }
    if (posix_memalign(&mem, 4096, VMAX + 4096) != 0)
        exit(1);
    buf = (unsigned char *)mem;
    for (op = 0; op < ops; op++) {
        uint32_t key = (uint32_t)t_rng_below(&rs, w->nkeys);
        uint64_t c = t_rng_below(&rs, 100);
        keyname(k, sizeof k, key);
        if (c < 62) {
            size_t n = t_val_len(&g_val, key, ver), mis = t_rng_below(&rs, 4) == 0 ? 8 : 0;
            t_val_fill(&g_val, buf + mis, key, ver, n);
            rec_event(L_BEGIN_PUT, key, ver, KVS_OK);
            r = kvs_store_put(s, k, strlen(k), buf + mis, n);
            rec_event(L_ACK_PUT, key, ver, r);
            if (r != KVS_OK)
                FAILF("%s: put: %s", w->name, kvs_result_name(r));
            ver++;
        } else if (c < 76) {
            rec_event(L_BEGIN_RM, key, 0, KVS_OK);
            r = kvs_store_remove(s, k, strlen(k));
            rec_event(L_ACK_RM, key, 0, r);
        } else if (c < 81) {
            r = kvs_store_sync(s);
            rec_event(L_ACK_SYNC, 0, 0, r);
            CHECK(r == KVS_OK);
        } else {
            size_t got = 0;
            (void)kvs_store_get(s, k, strlen(k), buf, VMAX, &got);
        }
    }
    /* the close is part of the log too (its checkpoint) */
    CHECK(kvs_store_close(s) == KVS_OK);
    rec_event(L_ACK_SYNC, 0, 0, KVS_OK);

    /* 3: cut points: right after and right before every sync, the end, and
       random positions; each with a random choice per unsynced write. */
    for (i = 0; i < g_rec.nev; i++)
        if (g_rec.ev[i].type == L_SYNC)
            nsync++;
    cuts = (size_t *)t_xmalloc(sizeof(size_t) * (size_t)(2 * nsync + states + 2));
    for (i = 0; i < g_rec.nev; i++)
        if (g_rec.ev[i].type == L_SYNC) {
            cuts[ncut++] = i;     /* just before: the widest unsynced window */
            cuts[ncut++] = i + 1; /* just after */
        }
    cuts[ncut++] = g_rec.nev;
    if (ncut > states) {
        /* keep an even spread of the sync points within the budget */
        size_t keep = (size_t)states, o = 0;
        for (i = 0; i < keep; i++)
            cuts[o++] = cuts[i * ncut / keep];
        ncut = o;
    } else {
        uint64_t extra = states - ncut;
        for (i = 0; i < extra; i++)
            cuts[ncut++] = (size_t)t_rng_below(&rs, g_rec.nev + 1);
    }
    qsort(cuts, ncut, sizeof *cuts, cmp_size);

    base = (unsigned char *)t_xmalloc(n0);
    img = (unsigned char *)t_xmalloc(n0);
    memcpy(base, img0, n0);
    for (ci = 0; ci < ncut; ci++) {
        size_t cut = cuts[ci], last_sync = 0, j;
        int variant = (int)t_rng_below(&rs, 8); /* 0: all applied, 1: all dropped, else mixed */
        for (j = cut; j > 0; j--)
            if (g_rec.ev[j - 1].type == L_SYNC) {
                last_sync = j - 1;
                break;
            }
        /* base: every write before the last sync (in order) */
        for (; applied_to < last_sync; applied_to++)
            if (g_rec.ev[applied_to].type == L_WRITE)
                apply_write(base, n0, &g_rec.ev[applied_to], 1, &rs);
        memcpy(img, base, n0);
        for (j = applied_to; j < cut; j++) {
            const lent *e = &g_rec.ev[j];
            int mode;
            if (e->type != L_WRITE)
                continue;
            mode = variant == 0 ? 1 : variant == 1 ? 0 : (int)t_rng_below(&rs, 3);
            if (mode == 2)
                g_torn_writes++;
            apply_write(img, n0, e, mode, &rs);
        }
        if (write_image(ipath, img, n0) != 0) {
            FAILF("%s: cannot write %s", w->name, ipath);
            break;
        }
        model_at(w, cut, km);
        check_image(w, ipath, km, cut, rd, scratch);
        mine++;
    }
    printf("  %-28s ops %u: %llu writes (%llu bytes), %llu syncs; %llu images checked\n", w->name, ops,
           (unsigned long long)g_rec.writes, (unsigned long long)g_rec.bytes, (unsigned long long)g_rec.syncs,
           (unsigned long long)mine);
    g_rec.writes = g_rec.bytes = g_rec.syncs = 0;
    unlink(ipath);
    unlink(path);
    free(cuts);
    free(base);
    free(img);
    free(img0);
    free(buf);
    free(km);
}

int main(void)
{
    static const wcfg W[] = {
        {"raw-none-buffered-noevict", KVS_DURABLE_NONE, KVS_DIRECT_OFF, 0, 0, 24, 40},
        {"raw-data-buffered-evict", KVS_DURABLE_DATA, KVS_DIRECT_OFF, 1, 0, 48, 14},
        {"raw-none-direct-evict-bg", KVS_DURABLE_NONE, KVS_DIRECT_PREFER, 1, 1, 48, 14},
        {"raw-data-direct-noevict-bg", KVS_DURABLE_DATA, KVS_DIRECT_PREFER, 0, 1, 24, 40},
        {"raw-none-direct-noevict", KVS_DURABLE_NONE, KVS_DIRECT_PREFER, 0, 0, 24, 40},
        {"raw-full-buffered-noevict-bg", KVS_DURABLE_FULL, KVS_DIRECT_OFF, 0, 1, 24, 40},
    };
    const unsigned nw = (unsigned)(sizeof W / sizeof W[0]);
    const char *env;
    uint64_t states = T_SAN ? 1000 : 4000, per, t0;
    unsigned ops = 260, i;
    unsigned char *rd, *scratch;
    void *mem = NULL;
    struct timespec ts;

    t_init_seed("test_powercut", 0x5eed1234ULL);
    env = getenv("KVS_POWERCUT_STATES");
    if (env != NULL && env[0] != '\0')
        states = strtoull(env, NULL, 0);
    env = getenv("KVS_POWERCUT_OPS");
    if (env != NULL && env[0] != '\0')
        ops = (unsigned)strtoul(env, NULL, 0);
    env = getenv("KVS_TEST_DIR");
    t_setup_dir("powercut");
    /* The images are opened with real system calls; on tmpfs their syncs
       cost nothing (KVS_TEST_DIR, when set, holds them too). */
    snprintf(g_imgdir, sizeof g_imgdir, "/dev/shm/kvs_powercut_XXXXXX");
    if ((env != NULL && env[0] != '\0') || mkdtemp(g_imgdir) == NULL)
        snprintf(g_imgdir, sizeof g_imgdir, "%s", t_dir);
    if (pthread_mutex_init(&g_rec.mu, NULL) != 0)
        return 1;
    if (posix_memalign(&mem, 4096, VMAX + 4096) != 0)
        return 1;
    rd = (unsigned char *)mem;
    scratch = (unsigned char *)t_xmalloc(VMAX);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    per = states / nw + 1;
    for (i = 0; i < nw; i++) {
        /* longer workloads when more states are asked for */
        unsigned o = ops;
        if (per > 2000)
            o = (unsigned)(ops * (per / 2000 + 1) < 4000 ? ops * (per / 2000 + 1) : 4000);
        run_workload(&W[i], per, o, t_seed ^ (0x9e37u * (i + 1)), rd, scratch);
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("power-cut states checked: %llu (%u workloads, seed %llu, %.1f s; %llu writes torn at 512-byte sectors)\n",
           (unsigned long long)g_states, nw, t_seed,
           (double)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u - t0) / 1e3,
           (unsigned long long)g_torn_writes);
    printf("objects checked: %llu byte-exact of %llu keys checked; lost synced objects: %llu; wrong reads: %llu; "
           "failed opens: %llu\n",
           (unsigned long long)g_objects, (unsigned long long)g_keys_checked, (unsigned long long)g_lost,
           (unsigned long long)g_wrong, (unsigned long long)g_open_fail);
    t_rm_rf(t_dir);
    if (strcmp(g_imgdir, t_dir) != 0)
        t_rm_rf(g_imgdir);
    free(rd);
    free(scratch);
    free(g_rec.ev);
    free(g_rec.arena);
    pthread_mutex_destroy(&g_rec.mu);
    return t_done("test_powercut");
}
