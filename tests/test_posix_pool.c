/* SPDX-License-Identifier: MIT OR Unlicense */
/* kvstore_posix.c thread pool on real files and real threads: many small
   and a few huge ops (split across workers), mixed reads and writes, errors
   in the middle of a batch, completion fd readiness via poll(), non-blocking
   poll, read priority, shutdown while busy (drain and cancel), thread hooks,
   allocation failure injection. Built also with -DKVS_POSIX_USE_EVENTFD=0
   to run the pipe completion fd.
   Environment: KVS_TEST_DIR, KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_util.h"

static void fill_pattern(unsigned char *p, size_t n, uint64_t tag)
{
    uint64_t s = tag;
    size_t i;
    for (i = 0; i < n; i++) {
        if ((i & 7) == 0)
            s = t_rng_next(&s) ^ tag;
        p[i] = (unsigned char)(s >> ((i & 7) * 8));
    }
}

static int fd_ready(int fd, int timeout_ms)
{
    struct pollfd pf;
    pf.fd = fd;
    pf.events = POLLIN;
    pf.revents = 0;
    return poll(&pf, 1, timeout_ms) == 1 && (pf.revents & POLLIN) != 0;
}

/* ---- a gate: a pread hook that blocks until opened ---- */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    int entered;
    /* distinct-thread detection for the split test */
    int want_distinct;
    pthread_t seen[8];
    int nseen;
} gate;

static void gate_init(gate *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void gate_destroy(gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait_entered(gate *g, int n)
{
    pthread_mutex_lock(&g->mu);
    while (g->entered < n)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void deadline_in(struct timespec *ts, int seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += seconds;
}

static int64_t gate_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    gate *g = (gate *)u;
    ssize_t n;
    struct timespec ts;
    pthread_mutex_lock(&g->mu);
    g->entered++;
    if (g->want_distinct) {
        int i, known = 0;
        for (i = 0; i < g->nseen; i++)
            known |= pthread_equal(g->seen[i], pthread_self()) != 0;
        if (!known && g->nseen < 8)
            g->seen[g->nseen++] = pthread_self();
        pthread_cond_broadcast(&g->cv);
        deadline_in(&ts, 10);
        while (g->nseen < 2)
            if (pthread_cond_timedwait(&g->cv, &g->mu, &ts) != 0)
                break;
    } else {
        pthread_cond_broadcast(&g->cv);
        while (!g->open)
            pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    n = pread(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

/* ---- a recorder: the order in which ops reached the disk ---- */
typedef struct recorder {
    pthread_mutex_t mu;
    char order[64];
    int n;
} recorder;

static int64_t rec_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    recorder *r = (recorder *)u;
    ssize_t n;
    pthread_mutex_lock(&r->mu);
    if (r->n < 63)
        r->order[r->n++] = 'R';
    pthread_mutex_unlock(&r->mu);
    n = pread(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

static int64_t rec_pwrite(void *u, int fd, const void *buf, size_t len, uint64_t off)
{
    recorder *r = (recorder *)u;
    ssize_t n;
    pthread_mutex_lock(&r->mu);
    if (r->n < 63)
        r->order[r->n++] = 'W';
    pthread_mutex_unlock(&r->mu);
    n = pwrite(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

/* ---- error injection by offset (deterministic under concurrency) ---- */
typedef struct badzone {
    uint64_t lo, hi;
    int err;
} badzone;

static int64_t bad_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    badzone *z = (badzone *)u;
    ssize_t n;
    if (off < z->hi && off + len > z->lo)
        return -(int64_t)z->err;
    n = pread(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

/* ---- thread hooks ---- */
typedef struct hooks {
    unsigned starts[64];
    unsigned exits[64];
} hooks;

static void on_start(void *u, unsigned i)
{
    hooks *h = (hooks *)u;
    if (i < 64)
        __atomic_fetch_add(&h->starts[i], 1u, __ATOMIC_RELAXED);
}

static void on_exit_hook(void *u, unsigned i)
{
    hooks *h = (hooks *)u;
    if (i < 64)
        __atomic_fetch_add(&h->exits[i], 1u, __ATOMIC_RELAXED);
}

static kvs_file *open_file(const char *name, kvs_direct_policy pol, uint64_t size,
                           const kvs_sysops *ops, uint32_t flags)
{
    char path[1200];
    kvs_file_config cfg;
    kvs_file *f = NULL;
    snprintf(path, sizeof path, "%s/%s", t_dir, name);
    kvs_file_config_init(&cfg);
    cfg.direct = pol;
    cfg.flags = flags;
    cfg.size = size;
    cfg.sysops = ops;
    if (kvs_file_open(path, &cfg, &f) != KVS_OK) {
        fprintf(stderr, "%s:%d: cannot open %s (seed %llu)\n", __FILE__, __LINE__, path, t_seed);
        return NULL;
    }
    return f;
}

static void remove_file(const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", t_dir, name);
    unlink(path);
}

/* ------------------------------------------------------------------ */
/* Many small and a few huge ops, mixed, plus errors in the middle. */
static void test_mixed(void)
{
    const size_t MiB = (size_t)1 << 20;
    const size_t nsmall = T_TSAN ? 24 : 96, nhuge = 3;
    const size_t huge = T_TSAN ? 3 * MiB + 100 : 6 * MiB + 100;
    size_t i, total_ops = nsmall + nhuge;
    size_t *lens, *offs_sz;
    uint64_t *offs, pos = 0;
    unsigned char **bufs, **rbufs;
    kvs_io_op *ops, *rops;
    kvs_pool_config pc;
    kvs_pool *p = NULL;
    kvs_batch *b = NULL, *rb = NULL, *got = NULL;
    kvs_file *f, *fro;
    kvs_file_info fi;
    kvs_file_stats fs0, fs1;
    kvs_pool_stats ps;
    uint64_t rs = t_seed;
    size_t A;

    f = open_file("mixed", KVS_DIRECT_PREFER, 0, NULL, KVS_FILE_CREATE | KVS_FILE_TRUNC);
    if (f == NULL) {
        CHECK(f != NULL);
        return;
    }
    kvs_file_get_info(f, &fi);
    A = kvsi_max_sz(fi.align, fi.buf_align);
    lens = (size_t *)calloc(total_ops, sizeof *lens);
    offs_sz = (size_t *)calloc(total_ops, sizeof *offs_sz);
    offs = (uint64_t *)calloc(total_ops, sizeof *offs);
    bufs = (unsigned char **)calloc(total_ops, sizeof *bufs);
    rbufs = (unsigned char **)calloc(total_ops, sizeof *rbufs);
    ops = (kvs_io_op *)calloc(total_ops + 4, sizeof *ops);
    rops = (kvs_io_op *)calloc(total_ops + 8, sizeof *rops);
    (void)offs_sz;
    for (i = 0; i < total_ops; i++) {
        void *m = NULL;
        size_t len = i < nsmall ? 1 + (size_t)(t_rng_next(&rs) % (64 * 1024)) : huge;
        if (i % 4 == 0 && i < nsmall)
            len = 4096 * (1 + (size_t)(t_rng_next(&rs) % 16)); /* aligned ones too */
        lens[i] = len;
        offs[i] = pos;
        pos += kvsi_ru(len, 1 << 20) + (1 << 20); /* gaps */
        CHECK_R(kvs_aligned_alloc(NULL, len, 4096, &m), KVS_OK);
        bufs[i] = (unsigned char *)m;
        fill_pattern(bufs[i], len, 0xabc000 + i);
        CHECK_R(kvs_aligned_alloc(NULL, len, 4096, &m), KVS_OK);
        rbufs[i] = (unsigned char *)m;
        ops[i].file = f;
        ops[i].kind = KVS_OP_WRITE;
        ops[i].offset = offs[i];
        ops[i].buf = bufs[i];
        ops[i].len = len;
    }

    kvs_pool_config_init(&pc);
    pc.threads = 3;
    pc.task_bytes = MiB;
    CHECK_R(kvs_pool_create(&pc, &p), KVS_OK);
    if (p == NULL)
        return;
    {
        kvs_pool_config eff;
        kvs_pool_get_config(p, &eff);
        CHECK(eff.threads == 3 && eff.task_bytes == MiB && eff.bounce_bytes == MiB);
    }
    CHECK(!fd_ready(kvs_pool_fd(p), 0));
    kvs_file_get_stats(f, &fs0);
    CHECK_R(kvs_pool_submit(p, ops, total_ops, &b), KVS_OK);
    CHECK(fd_ready(kvs_pool_fd(p), 20000));
    CHECK_R(kvs_pool_reap(p, &got), KVS_OK);
    CHECK(got == b);
    CHECK(!fd_ready(kvs_pool_fd(p), 0));
    CHECK_R(kvs_pool_reap(p, &got), KVS_E_AGAIN);
    CHECK_R(kvs_batch_poll(b), KVS_OK);
    CHECK(kvs_batch_failed(b) == 0);
    for (i = 0; i < total_ops; i++) {
        CHECK_R(ops[i].result, KVS_OK);
        CHECK(ops[i].bytes == lens[i]);
    }
    kvs_file_get_stats(f, &fs1);
    if (fi.direct) {
        /* at most one alignment unit bounced per object (aligned buffers) */
        uint64_t tails = 0;
        for (i = 0; i < total_ops; i++)
            tails += lens[i] % fi.align;
        CHECK(fs1.bounce_bytes - fs0.bounce_bytes == tails);
        CHECK(fs1.bounce_bytes - fs0.bounce_bytes <= (uint64_t)total_ops * A);
    }
    kvs_pool_get_stats(p, &ps);
    CHECK(ps.ops_split == nhuge);
    CHECK(ps.tasks_run >= nsmall + nhuge * (huge / MiB));
    CHECK_R(kvs_batch_free(b), KVS_OK);

    /* mixed: read everything back while writing new objects, with errors
       in the middle: a read past the end, a write to a read-only file, a
       misaligned direct write, and reads through an EIO zone */
    {
        badzone z;
        kvs_sysops bops;
        kvs_file *fbad;
        size_t n = 0, k, bad_idx[6], nbad = 0;
        kvs_result bad_want[6];
        unsigned char extra[3][8192];
        char path[1200];
        memset(&bops, 0, sizeof bops);
        z.lo = offs[2];
        z.hi = offs[2] + 1;
        z.err = EIO;
        bops.user = &z;
        bops.pread = bad_pread;
        snprintf(path, sizeof path, "%s/mixed", t_dir);
        fbad = open_file("mixed", KVS_DIRECT_PREFER, 0, &bops, 0);
        fro = open_file("mixed", KVS_DIRECT_OFF, 0, NULL, KVS_FILE_RDONLY);
        CHECK(fbad != NULL && fro != NULL);
        for (i = 0; i < total_ops; i++) {
            rops[n].file = f;
            rops[n].kind = KVS_OP_READ;
            rops[n].offset = offs[i];
            rops[n].buf = rbufs[i];
            rops[n].len = lens[i];
            n++;
            if (i == nsmall / 2 && fbad && fro) {
                /* the EIO zone covers object 2 */
                rops[n].file = fbad;
                rops[n].kind = KVS_OP_READ;
                rops[n].offset = offs[2];
                rops[n].buf = extra[0];
                rops[n].len = lens[2] < 8192 ? lens[2] : 8192;
                bad_idx[nbad] = n;
                bad_want[nbad++] = KVS_E_IO;
                n++;
                rops[n].file = fro;
                rops[n].kind = KVS_OP_WRITE;
                rops[n].offset = 0;
                rops[n].buf = extra[1];
                rops[n].len = 100;
                bad_idx[nbad] = n;
                bad_want[nbad++] = KVS_E_PERM;
                n++;
                rops[n].file = f;
                rops[n].kind = KVS_OP_READ;
                rops[n].offset = pos + (64 << 20);
                rops[n].buf = extra[2];
                rops[n].len = 4096;
                bad_idx[nbad] = n;
                bad_want[nbad++] = KVS_E_EOF;
                n++;
                if (fi.direct) {
                    rops[n].file = f;
                    rops[n].kind = KVS_OP_WRITE;
                    rops[n].offset = 7;
                    rops[n].buf = extra[1];
                    rops[n].len = 100;
                    bad_idx[nbad] = n;
                    bad_want[nbad++] = KVS_E_ALIGN;
                    n++;
                }
                /* a zero-length op completes at once */
                rops[n].file = f;
                rops[n].kind = KVS_OP_READ;
                rops[n].offset = 0;
                rops[n].buf = NULL;
                rops[n].len = 0;
                n++;
            }
        }
        CHECK_R(kvs_pool_submit(p, rops, n, &rb), KVS_OK);
        CHECK_R(kvs_batch_wait(rb), KVS_OK);
        CHECK(kvs_batch_failed(rb) == nbad);
        for (k = 0; k < nbad; k++) {
            CHECK_R(rops[bad_idx[k]].result, bad_want[k]);
            CHECK(rops[bad_idx[k]].bytes == 0);
        }
        for (i = 0; i < total_ops; i++)
            CHECK(memcmp(rbufs[i], bufs[i], lens[i]) == 0);
        /* the completed batch counts on the fd until freed (never reaped) */
        CHECK(fd_ready(kvs_pool_fd(p), 0));
        CHECK_R(kvs_batch_free(rb), KVS_OK);
        CHECK(!fd_ready(kvs_pool_fd(p), 0));
        CHECK_R(kvs_file_close(fbad), KVS_OK);
        CHECK_R(kvs_file_close(fro), KVS_OK);
        (void)path;
    }
    /* invalid submits queue nothing */
    {
        kvs_io_op bad;
        memset(&bad, 0, sizeof bad);
        CHECK_R(kvs_pool_submit(p, &bad, 1, &b), KVS_E_INVAL);
        bad.file = f;
        bad.len = 10;
        CHECK_R(kvs_pool_submit(p, &bad, 1, &b), KVS_E_INVAL);
    }
    kvs_pool_destroy(p);
    CHECK_R(kvs_file_close(f), KVS_OK);
    remove_file("mixed");
    for (i = 0; i < total_ops; i++) {
        kvs_aligned_free(NULL, bufs[i], lens[i], 4096);
        kvs_aligned_free(NULL, rbufs[i], lens[i], 4096);
    }
    free(lens);
    free(offs_sz);
    free(offs);
    free(bufs);
    free(rbufs);
    free(ops);
    free(rops);
}

/* ------------------------------------------------------------------ */
/* A huge op is split into aligned tasks that run on different workers;
   completion readiness while pending; non-blocking poll. */
static void test_split_and_poll(void)
{
    const size_t MiB = (size_t)1 << 20;
    size_t len = 4 * MiB + 512 + 100, i;
    gate g;
    kvs_sysops gops;
    kvs_file *f, *fg;
    kvs_pool_config pc;
    kvs_pool *p = NULL;
    kvs_batch *b = NULL, *got = NULL;
    kvs_io_op op, gop;
    kvs_pool_stats ps;
    unsigned char *w, *r, gb[4096];
    void *m1 = NULL, *m2 = NULL;

    gate_init(&g);
    memset(&gops, 0, sizeof gops);
    gops.user = &g;
    gops.pread = gate_pread;
    CHECK_R(kvs_aligned_alloc(NULL, len, 4096, &m1), KVS_OK);
    CHECK_R(kvs_aligned_alloc(NULL, len, 4096, &m2), KVS_OK);
    w = (unsigned char *)m1;
    r = (unsigned char *)m2;
    fill_pattern(w, len, 77);
    f = open_file("split", KVS_DIRECT_PREFER, 0, NULL, KVS_FILE_CREATE | KVS_FILE_TRUNC);
    CHECK(f != NULL);
    if (f == NULL)
        return;
    CHECK_R(kvs_file_write(f, 0, w, len), KVS_OK);
    fg = open_file("split", KVS_DIRECT_PREFER, 0, &gops, 0);
    CHECK(fg != NULL);
    kvs_pool_config_init(&pc);
    pc.threads = 2;
    pc.task_bytes = MiB;
    CHECK_R(kvs_pool_create(&pc, &p), KVS_OK);
    if (p == NULL || fg == NULL)
        return;

    /* split: the first task waits (up to 10 s) until a second thread is in
       the same op */
    g.want_distinct = 1;
    memset(&op, 0, sizeof op);
    op.file = fg;
    op.kind = KVS_OP_READ;
    op.offset = 512; /* misaligned to the task size: first task shortened */
    op.buf = r;
    op.len = len - 512;
    CHECK_R(kvs_pool_submit(p, &op, 1, &b), KVS_OK);
    CHECK_R(kvs_batch_wait(b), KVS_OK);
    CHECK_R(op.result, KVS_OK);
    CHECK(op.bytes == len - 512);
    CHECK(memcmp(r, w + 512, len - 512) == 0);
    pthread_mutex_lock(&g.mu);
    CHECK(g.nseen >= 2); /* two workers ran pieces of one op */
    pthread_mutex_unlock(&g.mu);
    kvs_pool_get_stats(p, &ps);
    CHECK(ps.ops_split == 1);
    CHECK(ps.tasks_run == 5); /* 1 MiB - 512, then 3 x 1 MiB, then 612 bytes */
    CHECK_R(kvs_batch_free(b), KVS_OK);

    /* readiness: not ready while pending, ready after */
    g.want_distinct = 0;
    g.entered = 0;
    memset(&gop, 0, sizeof gop);
    gop.file = fg;
    gop.kind = KVS_OP_READ;
    gop.offset = 0;
    gop.buf = gb;
    gop.len = sizeof gb;
    CHECK(!fd_ready(kvs_pool_fd(p), 0));
    CHECK_R(kvs_pool_submit(p, &gop, 1, &b), KVS_OK);
    gate_wait_entered(&g, 1);
    CHECK_R(kvs_batch_poll(b), KVS_E_AGAIN);
    CHECK(!fd_ready(kvs_pool_fd(p), 50));
    CHECK_R(kvs_pool_reap(p, &got), KVS_E_AGAIN);
    CHECK(got == NULL);
    CHECK_R(kvs_batch_free(b), KVS_E_BUSY);
    gate_open(&g);
    CHECK(fd_ready(kvs_pool_fd(p), 10000));
    CHECK_R(kvs_batch_poll(b), KVS_OK);
    CHECK_R(gop.result, KVS_OK);
    CHECK(memcmp(gb, w, sizeof gb) == 0);
    CHECK_R(kvs_pool_reap(p, &got), KVS_OK);
    CHECK(got == b);
    CHECK(!fd_ready(kvs_pool_fd(p), 0));
    CHECK_R(kvs_batch_free(b), KVS_OK);

    /* several batches: one count each on the fd, reaped in completion order */
    {
        kvs_io_op o3[3];
        kvs_batch *bs[3];
        unsigned char b3[3][4096];
        int k, seen = 0;
        for (k = 0; k < 3; k++) {
            o3[k] = gop;
            o3[k].buf = b3[k];
            CHECK_R(kvs_pool_submit(p, &o3[k], 1, &bs[k]), KVS_OK);
        }
        for (k = 0; k < 3; k++)
            CHECK_R(kvs_batch_wait(bs[k]), KVS_OK);
        for (k = 0; k < 3; k++) {
            CHECK(fd_ready(kvs_pool_fd(p), 0));
            CHECK_R(kvs_pool_reap(p, &got), KVS_OK);
            seen += got == bs[0] || got == bs[1] || got == bs[2];
            CHECK_R(kvs_batch_free(got), KVS_OK);
        }
        CHECK(seen == 3);
        CHECK(!fd_ready(kvs_pool_fd(p), 0));
        CHECK_R(kvs_pool_reap(p, &got), KVS_E_AGAIN);
    }
    /* an empty batch completes at once */
    CHECK_R(kvs_pool_submit(p, NULL, 0, &b), KVS_OK);
    CHECK_R(kvs_batch_poll(b), KVS_OK);
    CHECK(fd_ready(kvs_pool_fd(p), 0));
    CHECK_R(kvs_batch_free(b), KVS_OK);

    kvs_pool_destroy(p);
    CHECK_R(kvs_file_close(fg), KVS_OK);
    CHECK_R(kvs_file_close(f), KVS_OK);
    remove_file("split");
    kvs_aligned_free(NULL, m1, len, 4096);
    kvs_aligned_free(NULL, m2, len, 4096);
    gate_destroy(&g);
    (void)i;
}

/* ------------------------------------------------------------------ */
/* An op split into tasks that fail in several pieces reports the error of
   the piece first in the file, not of the first to finish: the piece at
   offset 0 fails (EIO) only after the last piece has failed (EACCES). With
   `reverse`, the first piece fails first: the same answer. */
typedef struct order_fail {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t first_off, last_off;
    int reverse, last_failed, first_failed, waited_out;
} order_fail;

static int64_t order_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    order_fail *o = (order_fail *)u;
    struct timespec ts;
    ssize_t n;
    int64_t r = 0;
    pthread_mutex_lock(&o->mu);
    deadline_in(&ts, 10);
    if (off == o->first_off) {
        while (!o->reverse && !o->last_failed && !o->waited_out)
            if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) != 0)
                o->waited_out = 1;
        o->first_failed = 1;
        r = -EIO;
    } else if (off == o->last_off) {
        while (o->reverse && !o->first_failed && !o->waited_out)
            if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) != 0)
                o->waited_out = 1;
        o->last_failed = 1;
        r = -EACCES;
    }
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    if (r != 0)
        return r;
    n = pread(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

static void test_split_error_order(void)
{
    const size_t MiB = (size_t)1 << 20, len = 4 * MiB;
    kvs_sysops ops;
    kvs_pool_config pc;
    kvs_pool *p = NULL;
    kvs_file *f;
    kvs_batch *b = NULL;
    kvs_io_op op;
    kvs_pool_stats ps;
    order_fail o;
    void *m = NULL;
    int reverse;
    memset(&o, 0, sizeof o);
    pthread_mutex_init(&o.mu, NULL);
    pthread_cond_init(&o.cv, NULL);
    o.first_off = 0;
    o.last_off = 3 * MiB;
    memset(&ops, 0, sizeof ops);
    ops.user = &o;
    ops.pread = order_pread;
    f = open_file("splitorder", KVS_DIRECT_PREFER, len, &ops, KVS_FILE_CREATE | KVS_FILE_TRUNC);
    kvs_pool_config_init(&pc);
    pc.threads = 2;
    pc.task_bytes = MiB;
    CHECK_R(kvs_aligned_alloc(NULL, len, 4096, &m), KVS_OK);
    if (!CHECK(f != NULL && m != NULL) || !CHECK_R(kvs_pool_create(&pc, &p), KVS_OK))
        goto out;
    for (reverse = 0; reverse < 2; reverse++) {
        pthread_mutex_lock(&o.mu);
        o.reverse = reverse;
        o.first_failed = o.last_failed = o.waited_out = 0;
        pthread_mutex_unlock(&o.mu);
        memset(&op, 0, sizeof op);
        op.file = f;
        op.kind = KVS_OP_READ;
        op.offset = 0;
        op.buf = m;
        op.len = len;
        CHECK_R(kvs_pool_submit(p, &op, 1, &b), KVS_OK);
        if (b == NULL)
            break;
        CHECK_R(kvs_batch_wait(b), KVS_OK);
        CHECK(!o.waited_out); /* both pieces failed, in the order wanted */
        CHECK(o.first_failed && o.last_failed);
        CHECK_R(op.result, KVS_E_IO);
        CHECK(op.bytes == 0);
        CHECK(kvs_batch_failed(b) == 1);
        CHECK_R(kvs_batch_free(b), KVS_OK);
    }
    kvs_pool_get_stats(p, &ps);
    CHECK(ps.ops_split == 2 && ps.ops_failed == 2 && ps.tasks_run == 8);
out:
    if (p != NULL)
        kvs_pool_destroy(p);
    if (f != NULL)
        CHECK_R(kvs_file_close(f), KVS_OK);
    remove_file("splitorder");
    kvs_aligned_free(NULL, m, len, 4096);
    pthread_mutex_destroy(&o.mu);
    pthread_cond_destroy(&o.cv);
}

/* ------------------------------------------------------------------ */
/* With one worker held at a gate, queued writes then queued reads: with
   read priority the reads reach the disk first, without it FIFO order; and
   with read priority a write queued behind a long run of reads waits for
   KVSI_READ_BURST (8) of them, not for all. */
#define PRIO_MAXR 40
static void test_priority(void)
{
    /* {read_priority, writes, reads} */
    static const int cases[3][3] = {{0, 8, 1}, {1, 8, 1}, {1, 1, PRIO_MAXR}};
    int c;
    for (c = 0; c < 3; c++) {
        const int prio = cases[c][0], nw = cases[c][1], nr = cases[c][2];
        gate g;
        recorder rec;
        kvs_sysops gops, rops_;
        kvs_file *fg, *fr;
        kvs_pool_config pc;
        kvs_pool *p = NULL;
        kvs_batch *bg = NULL, *bw = NULL, *br = NULL;
        kvs_io_op gop, wops[8], rdops[PRIO_MAXR];
        unsigned char gb[512], data[8][4096];
        int k, i, first_w = -1, last_w = -1, first_r = -1, last_r = -1;

        gate_init(&g);
        memset(&rec, 0, sizeof rec);
        pthread_mutex_init(&rec.mu, NULL);
        memset(&gops, 0, sizeof gops);
        gops.user = &g;
        gops.pread = gate_pread;
        memset(&rops_, 0, sizeof rops_);
        rops_.user = &rec;
        rops_.pread = rec_pread;
        rops_.pwrite = rec_pwrite;
        fg = open_file("prio", KVS_DIRECT_OFF, 65536, &gops, KVS_FILE_CREATE);
        fr = open_file("prio", KVS_DIRECT_OFF, 0, &rops_, 0);
        CHECK(fg != NULL && fr != NULL);
        if (fg == NULL || fr == NULL)
            return;
        kvs_pool_config_init(&pc);
        pc.threads = 1;
        pc.read_priority = prio;
        CHECK_R(kvs_pool_create(&pc, &p), KVS_OK);
        if (p == NULL)
            return;
        memset(&gop, 0, sizeof gop);
        gop.file = fg;
        gop.kind = KVS_OP_READ;
        gop.buf = gb;
        gop.len = sizeof gb;
        CHECK_R(kvs_pool_submit(p, &gop, 1, &bg), KVS_OK);
        gate_wait_entered(&g, 1); /* the only worker is now busy */
        for (k = 0; k < nw; k++) {
            memset(data[k], k, sizeof data[k]);
            memset(&wops[k], 0, sizeof wops[k]);
            wops[k].file = fr;
            wops[k].kind = KVS_OP_WRITE;
            wops[k].offset = (uint64_t)k * 4096;
            wops[k].buf = data[k];
            wops[k].len = 4096;
        }
        for (k = 0; k < nr; k++) {
            memset(&rdops[k], 0, sizeof rdops[k]);
            rdops[k].file = fr;
            rdops[k].kind = KVS_OP_READ;
            rdops[k].offset = 32768 + (uint64_t)(k % 8) * 4096;
            rdops[k].buf = gb;
            rdops[k].len = 256;
        }
        CHECK_R(kvs_pool_submit(p, wops, (size_t)nw, &bw), KVS_OK);
        CHECK_R(kvs_pool_submit(p, rdops, (size_t)nr, &br), KVS_OK);
        gate_open(&g);
        CHECK_R(kvs_batch_wait(bg), KVS_OK);
        CHECK_R(kvs_batch_wait(bw), KVS_OK);
        CHECK_R(kvs_batch_wait(br), KVS_OK);
        CHECK(kvs_batch_failed(bw) == 0 && kvs_batch_failed(br) == 0);
        pthread_mutex_lock(&rec.mu);
        CHECK(rec.n == nw + nr);
        for (i = 0; i < rec.n; i++) {
            if (rec.order[i] == 'W') {
                if (first_w < 0)
                    first_w = i;
                last_w = i;
            } else {
                if (first_r < 0)
                    first_r = i;
                last_r = i;
            }
        }
        pthread_mutex_unlock(&rec.mu);
        if (c == 0)
            CHECK(first_w == 0 && last_r == 8); /* FIFO */
        else if (c == 1)
            CHECK(last_r == 0 && first_w == 1); /* the read overtook 8 writes */
        else /* 8 reads, the write, the other 32 reads */
            CHECK(first_r == 0 && first_w == 8 && last_w == 8 && last_r == nr);
        CHECK_R(kvs_batch_free(bg), KVS_OK);
        CHECK_R(kvs_batch_free(bw), KVS_OK);
        CHECK_R(kvs_batch_free(br), KVS_OK);
        kvs_pool_destroy(p);
        CHECK_R(kvs_file_close(fg), KVS_OK);
        CHECK_R(kvs_file_close(fr), KVS_OK);
        pthread_mutex_destroy(&rec.mu);
        gate_destroy(&g);
    }
    remove_file("prio");
}

/* ------------------------------------------------------------------ */
typedef struct opener {
    gate *g;
    int delay_ms;
} opener;

static void *opener_main(void *arg)
{
    opener *o = (opener *)arg;
    struct timespec ts;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)o->delay_ms * 1000000L;
    nanosleep(&ts, NULL);
    gate_open(o->g);
    return NULL;
}

/* Shutdown while busy: both workers held at the gate with more work queued;
   another thread opens the gate while shutdown waits for the workers. */
static void test_shutdown(void)
{
    int mode, k;
    for (mode = 0; mode < 3; mode++) {
        gate g;
        hooks h;
        kvs_sysops gops;
        kvs_file *fg, *f;
        kvs_pool_config pc;
        kvs_pool *p = NULL;
        kvs_batch *bg = NULL, *bq = NULL, *bx = NULL;
        kvs_io_op gops2[2], q[20];
        unsigned char gb[2][512], qb[20][1024];
        pthread_t th;
        opener o;

        gate_init(&g);
        memset(&h, 0, sizeof h);
        memset(&gops, 0, sizeof gops);
        gops.user = &g;
        gops.pread = gate_pread;
        fg = open_file("shut", KVS_DIRECT_OFF, 1 << 20, &gops, KVS_FILE_CREATE);
        f = open_file("shut", KVS_DIRECT_OFF, 0, NULL, 0);
        CHECK(fg != NULL && f != NULL);
        if (fg == NULL || f == NULL)
            return;
        kvs_pool_config_init(&pc);
        pc.threads = 2;
        pc.thread_start = on_start;
        pc.thread_exit = on_exit_hook;
        pc.thread_user = &h;
        CHECK_R(kvs_pool_create(&pc, &p), KVS_OK);
        if (p == NULL)
            return;
        for (k = 0; k < 2; k++) {
            memset(&gops2[k], 0, sizeof gops2[k]);
            gops2[k].file = fg;
            gops2[k].kind = KVS_OP_READ;
            gops2[k].offset = (uint64_t)k * 512;
            gops2[k].buf = gb[k];
            gops2[k].len = 512;
        }
        CHECK_R(kvs_pool_submit(p, gops2, 2, &bg), KVS_OK);
        gate_wait_entered(&g, 2); /* both workers blocked */
        for (k = 0; k < 20; k++) {
            memset(&q[k], 0, sizeof q[k]);
            memset(qb[k], k + 1, sizeof qb[k]);
            q[k].file = f;
            q[k].kind = k % 2 ? KVS_OP_READ : KVS_OP_WRITE;
            q[k].offset = 4096 + (uint64_t)k * 1024;
            q[k].buf = qb[k];
            q[k].len = 1024;
        }
        CHECK_R(kvs_pool_submit(p, q, 20, &bq), KVS_OK);
        o.g = &g;
        o.delay_ms = 100;
        CHECK(pthread_create(&th, NULL, opener_main, &o) == 0);
        if (mode == 0) {
            CHECK_R(kvs_pool_shutdown(p, KVS_SHUTDOWN_CANCEL), KVS_OK);
            CHECK_R(kvs_batch_poll(bq), KVS_OK);
            CHECK(kvs_batch_failed(bq) == 20);
            for (k = 0; k < 20; k++)
                CHECK_R(q[k].result, KVS_E_CANCELED);
            CHECK(kvs_batch_failed(bg) == 0); /* running ones finished */
            {
                kvs_pool_stats ps;
                kvs_pool_get_stats(p, &ps);
                CHECK(ps.tasks_canceled == 20);
            }
        } else if (mode == 1) {
            CHECK_R(kvs_pool_shutdown(p, KVS_SHUTDOWN_DRAIN), KVS_OK);
            CHECK_R(kvs_batch_poll(bq), KVS_OK);
            CHECK(kvs_batch_failed(bq) == 0);
            for (k = 0; k < 20; k++)
                CHECK_R(q[k].result, KVS_OK);
        }
        if (mode < 2) {
            CHECK_R(kvs_pool_shutdown(p, KVS_SHUTDOWN_DRAIN), KVS_E_CLOSED);
            q[0].result = KVS_OK;
            q[1].result = KVS_E_AGAIN;
            CHECK_R(kvs_pool_submit(p, q, 2, &bx), KVS_E_CLOSED);
            CHECK(bx == NULL);
            /* nothing left marked pending: each op has the submit's error */
            CHECK_R(q[0].result, KVS_E_CLOSED);
            CHECK_R(q[1].result, KVS_E_CLOSED);
            for (k = 0; k < 2; k++) {
                CHECK(h.starts[k] == 1);
                CHECK(h.exits[k] == 1);
            }
            CHECK(h.starts[2] == 0 && h.exits[2] == 0);
        }
        /* mode 2: destroy while busy without shutdown (it drains), with
           batches never freed: no hang, no leak */
        kvs_pool_destroy(p);
        pthread_join(th, NULL);
        if (mode == 2) {
            for (k = 0; k < 2; k++)
                CHECK(h.starts[k] == 1 && h.exits[k] == 1);
            for (k = 0; k < 20; k++)
                CHECK_R(q[k].result, KVS_OK);
        }
        CHECK_R(kvs_file_close(fg), KVS_OK);
        CHECK_R(kvs_file_close(f), KVS_OK);
        gate_destroy(&g);
    }
    remove_file("shut");
}

/* ------------------------------------------------------------------ */

static void test_alloc_failure(void)
{
    t_alloc_state fa;
    kvs_allocator al;
    kvs_pool_config pc;
    kvs_pool *p = NULL;
    kvs_batch *b = NULL;
    kvs_file *f;
    kvs_io_op op;
    unsigned char buf[1000];
    long n;
    hooks h;

    al = t_allocator(&fa, -1);
    memset(&h, 0, sizeof h);
    kvs_pool_config_init(&pc);
    pc.threads = 2;
    pc.alloc = &al;
    pc.bounce_bytes = 65536;
    pc.thread_start = on_start;
    pc.thread_exit = on_exit_hook;
    pc.thread_user = &h;
    for (n = 0; n < 20; n++) {
        kvs_result r;
        t_alloc_arm(&fa, n);
        r = kvs_pool_create(&pc, &p);
        if (r == KVS_OK)
            break;
        CHECK_R(r, KVS_E_NOMEM);
        CHECK(p == NULL);
        CHECK(t_alloc_live(&fa) == 0 && fa.bad_free == 0);
    }
    CHECK(n == 4); /* pool, workers array, two bounce areas */
    CHECK(p != NULL);
    if (p == NULL)
        return;
    f = open_file("alloc", KVS_DIRECT_OFF, 4096, NULL, KVS_FILE_CREATE);
    CHECK(f != NULL);
    memset(&op, 0, sizeof op);
    op.file = f;
    op.kind = KVS_OP_READ;
    op.buf = buf;
    op.len = sizeof buf;
    t_alloc_fail_next(&fa);
    op.result = KVS_E_AGAIN;
    CHECK_R(kvs_pool_submit(p, &op, 1, &b), KVS_E_NOMEM);
    CHECK(b == NULL);
    CHECK_R(op.result, KVS_E_NOMEM); /* not left looking pending */
    CHECK_R(kvs_pool_submit(p, &op, 1, &b), KVS_OK);
    CHECK_R(kvs_batch_wait(b), KVS_OK);
    CHECK_R(op.result, KVS_OK);
    /* leave it unfreed: destroy frees it */
    kvs_pool_destroy(p);
    CHECK(t_alloc_live(&fa) == 0 && fa.bad_free == 0);
    /* started workers of failed creates also ran their exit hooks */
    for (n = 0; n < 2; n++)
        CHECK(h.starts[n] == h.exits[n]);
    CHECK_R(kvs_file_close(f), KVS_OK);
    remove_file("alloc");

    /* config validation */
    kvs_pool_config_init(&pc);
    pc.task_bytes = 3000;
    CHECK_R(kvs_pool_create(&pc, &p), KVS_E_INVAL);
    pc.task_bytes = 0;
    pc.bounce_bytes = 1000;
    CHECK_R(kvs_pool_create(&pc, &p), KVS_E_INVAL);
    pc.bounce_bytes = 0;
    pc.threads = 100000;
    CHECK_R(kvs_pool_create(&pc, &p), KVS_E_INVAL);
    pc.threads = 0;
    pc.read_priority = 2;
    CHECK_R(kvs_pool_create(&pc, &p), KVS_E_INVAL);
    {
        unsigned d = kvs_pool_default_threads();
        CHECK(d >= 2 && d <= 16);
    }
}

/* Several pools at once, each used from its own thread. */
typedef struct user_arg {
    kvs_file *f;
    int id;
    int ok;
} user_arg;

static void *pool_user(void *arg)
{
    user_arg *ua = (user_arg *)arg;
    kvs_pool *p = NULL;
    kvs_pool_config pc;
    kvs_io_op ops[16];
    unsigned char bufs[16][4096], chk[4096];
    kvs_batch *b = NULL;
    int k, round;
    ua->ok = 1;
    kvs_pool_config_init(&pc);
    pc.threads = 2;
    if (kvs_pool_create(&pc, &p) != KVS_OK) {
        ua->ok = 0;
        return NULL;
    }
    for (round = 0; round < 4; round++) {
        for (k = 0; k < 16; k++) {
            memset(bufs[k], (ua->id * 16 + k + round) & 0xff, 4096);
            memset(&ops[k], 0, sizeof ops[k]);
            ops[k].file = ua->f;
            ops[k].kind = KVS_OP_WRITE;
            ops[k].offset = ((uint64_t)ua->id * 16 + (uint64_t)k) * 4096;
            ops[k].buf = bufs[k];
            ops[k].len = 4096;
        }
        if (kvs_pool_submit(p, ops, 16, &b) != KVS_OK || kvs_batch_wait(b) != KVS_OK ||
            kvs_batch_failed(b) != 0)
            ua->ok = 0;
        kvs_batch_free(b);
        for (k = 0; k < 16; k++) {
            if (kvs_file_read(ua->f, ops[k].offset, chk, 4096) != KVS_OK ||
                memcmp(chk, bufs[k], 4096) != 0)
                ua->ok = 0;
        }
    }
    kvs_pool_destroy(p);
    return NULL;
}

static void test_many_pools(void)
{
    pthread_t th[3];
    user_arg ua[3];
    kvs_file *f = open_file("pools", KVS_DIRECT_PREFER, 0, NULL, KVS_FILE_CREATE | KVS_FILE_TRUNC);
    int k;
    CHECK(f != NULL);
    if (f == NULL)
        return;
    for (k = 0; k < 3; k++) {
        ua[k].f = f;
        ua[k].id = k;
        ua[k].ok = 0;
        CHECK(pthread_create(&th[k], NULL, pool_user, &ua[k]) == 0);
    }
    for (k = 0; k < 3; k++) {
        pthread_join(th[k], NULL);
        CHECK(ua[k].ok == 1);
    }
    CHECK_R(kvs_file_close(f), KVS_OK);
    remove_file("pools");
}

/* CALL ops: arbitrary work on the pool (the stores' batches use them). */
typedef struct call_arg {
    unsigned *counter;
    unsigned index;
    int fail; /* what the call returns: 0 KVS_OK, 1 KVS_E_IO, 2 KVS_NOT_FOUND, 3 KVS_E_AGAIN */
} call_arg;

static kvs_result call_fn(void *arg)
{
    static const kvs_result rets[5] = {KVS_OK, KVS_E_IO, KVS_NOT_FOUND, KVS_E_AGAIN, KVS_E_CANCELED};
    call_arg *a = (call_arg *)arg;
    __atomic_add_fetch(a->counter, 1u, __ATOMIC_SEQ_CST);
    return rets[a->fail];
}

static void test_calls(void)
{
    enum { N = 64 };
    kvs_pool_config cfg;
    kvs_pool *p = NULL;
    kvs_batch *b = NULL;
    kvs_io_op ops[N];
    call_arg args[N];
    kvs_pool_stats st0, st1;
    unsigned counter = 0, i, fails = 0;
    kvs_pool_config_init(&cfg);
    cfg.threads = 3;
    cfg.read_priority = 1;
    CHECK_R(kvs_pool_create(&cfg, &p), KVS_OK);
    if (p == NULL)
        return;
    memset(ops, 0, sizeof ops);
    for (i = 0; i < N; i++) {
        args[i].counter = &counter;
        args[i].index = i;
        args[i].fail = (i % 7) == 3 ? 1 : (i % 7) == 5 ? 2 : (i % 11) == 4 ? 3 : (i % 13) == 6 ? 4 : 0;
        fails += args[i].fail == 1 || args[i].fail == 3 || args[i].fail == 4; /* a miss is an outcome */
        ops[i].kind = (i & 1) ? KVS_OP_CALL_LOW : KVS_OP_CALL;
        ops[i].buf = &args[i];
        ops[i].len = 77; /* ignored for a CALL: bytes stays 0 */
        ops[i].call = call_fn;
    }
    kvs_pool_get_stats(p, &st0);
    CHECK_R(kvs_pool_submit(p, ops, N, &b), KVS_OK);
    if (b != NULL) {
        static const kvs_result want[5] = {KVS_OK, KVS_E_IO, KVS_NOT_FOUND, KVS_E_IO, KVS_E_CANCELED};
        CHECK_R(kvs_batch_wait(b), KVS_OK);
        CHECK(fails > 0 && kvs_batch_failed(b) == fails);
        CHECK(__atomic_load_n(&counter, __ATOMIC_SEQ_CST) == N);
        for (i = 0; i < N; i++) {
            CHECK_R(ops[i].result, want[args[i].fail]);
            CHECK(ops[i].bytes == 0);
        }
        kvs_pool_get_stats(p, &st1);
        CHECK(st1.ops_failed == st0.ops_failed + fails);
        CHECK(st1.ops_completed == st0.ops_completed + N);
        /* every call ran, also those that answered KVS_E_CANCELED: only a
           CANCEL shutdown's unrun tasks count as canceled */
        CHECK(st1.tasks_run == st0.tasks_run + N && st1.tasks_canceled == st0.tasks_canceled);
        CHECK_R(kvs_batch_free(b), KVS_OK);
    }
    /* A CALL op without a function is refused before anything runs. */
    ops[5].call = NULL;
    b = NULL;
    CHECK_R(kvs_pool_submit(p, ops, N, &b), KVS_E_INVAL);
    CHECK(b == NULL);
    CHECK(__atomic_load_n(&counter, __ATOMIC_SEQ_CST) == N);
    kvs_pool_destroy(p);
}

/* The completion fd is level-triggered and a caller may read it: it is
   readable exactly while completed batches wait. An event loop that reads
   it to clear it (as eventfd users do) sees it readable again at the next
   completion, and after a reap or a free that leaves batches waiting; it is not
   readable once the last one is reaped or freed. */
static void drain_fd(int fd)
{
    char c[64];
    while (read(fd, c, sizeof c) > 0)
        ;
}

static int submit_call(kvs_pool *p, kvs_io_op *op, call_arg *arg, unsigned *counter, kvs_batch **b)
{
    memset(op, 0, sizeof *op);
    memset(arg, 0, sizeof *arg);
    arg->counter = counter;
    op->kind = KVS_OP_CALL;
    op->buf = arg;
    op->call = call_fn;
    *b = NULL;
    if (kvs_pool_submit(p, op, 1, b) != KVS_OK || *b == NULL)
        return 0;
    return 1;
}

static void test_fd_read_by_caller(void)
{
    kvs_pool_config cfg;
    kvs_pool *p = NULL;
    kvs_io_op ops[4];
    call_arg args[4];
    kvs_batch *b[4], *got = NULL;
    unsigned counter = 0;
    int fd, i;
    kvs_pool_config_init(&cfg);
    cfg.threads = 2;
    CHECK_R(kvs_pool_create(&cfg, &p), KVS_OK);
    if (p == NULL)
        return;
    fd = kvs_pool_fd(p);
    for (i = 0; i < 2; i++) {
        CHECK(submit_call(p, &ops[i], &args[i], &counter, &b[i]));
        if (b[i] != NULL)
            CHECK_R(kvs_batch_wait(b[i]), KVS_OK);
    }
    CHECK(fd_ready(fd, 0));
    drain_fd(fd); /* the caller clears it: two batches still wait */
    CHECK(!fd_ready(fd, 0));
    CHECK(submit_call(p, &ops[2], &args[2], &counter, &b[2]));
    if (b[2] != NULL)
        CHECK_R(kvs_batch_wait(b[2]), KVS_OK);
    CHECK(fd_ready(fd, 0)); /* a completion sets it again */
    drain_fd(fd);
    CHECK_R(kvs_pool_reap(p, &got), KVS_OK);
    CHECK(got == b[0]);
    CHECK(fd_ready(fd, 0)); /* the reap left two waiting: readable */
    drain_fd(fd);
    CHECK(!fd_ready(fd, 0));
    CHECK_R(kvs_batch_free(got), KVS_OK);
    CHECK(fd_ready(fd, 0)); /* the free of the reaped one: two still wait */
    drain_fd(fd);
    CHECK_R(kvs_batch_free(b[1]), KVS_OK); /* freed unreaped: one waits */
    CHECK(fd_ready(fd, 0));
    CHECK_R(kvs_pool_reap(p, &got), KVS_OK);
    CHECK(got == b[2]);
    CHECK(!fd_ready(fd, 0)); /* none waits */
    CHECK_R(kvs_batch_free(got), KVS_OK);
    CHECK_R(kvs_pool_reap(p, &got), KVS_E_AGAIN);
    /* Never read by the caller: readable through completions and reaps
       until the last reap, however many batches wait. */
    for (i = 0; i < 4; i++) {
        CHECK(submit_call(p, &ops[i], &args[i], &counter, &b[i]));
        if (b[i] != NULL)
            CHECK_R(kvs_batch_wait(b[i]), KVS_OK);
    }
    for (i = 0; i < 4; i++) {
        CHECK(fd_ready(fd, 0));
        CHECK_R(kvs_pool_reap(p, &got), KVS_OK);
        CHECK(got == b[i]);
        CHECK_R(kvs_batch_free(got), KVS_OK);
    }
    CHECK(!fd_ready(fd, 0));
    CHECK(__atomic_load_n(&counter, __ATOMIC_SEQ_CST) == 7);
    kvs_pool_destroy(p);
}

/* Direct writes through a pool whose worker scratch is smaller than the
   tail a write is padded to (st_blksize 64 KiB, as XFS with large-I/O
   hints reports: an fstat hook says so), from aligned and misaligned
   buffers: the padded tail fits no scratch and gets a bounce block of its
   own, and the file gets the bytes and zeros. And a direct write at a
   misaligned offset is refused whole, as kvs_file_write refuses it, not
   split into tasks of which all but the first align and write. */
static int big_blk_fstat(void *u, int fd, kvs_file_status *st)
{
    int r = kvs_sys_fstat(fd, st);
    (void)u;
    if (r == 0 && st->type == KVS_FTYPE_REGULAR)
        st->blksize = 65536;
    return r;
}

static void write_op(kvs_io_op *op, kvs_file *f, uint64_t off, void *buf, size_t len)
{
    memset(op, 0, sizeof *op);
    op->file = f;
    op->kind = KVS_OP_WRITE;
    op->offset = off;
    op->buf = buf;
    op->len = len;
}

static void test_small_scratch(void)
{
    kvs_pool_config cfg;
    kvs_pool *p = NULL;
    kvs_sysops ops;
    kvs_file *f;
    kvs_file_info fi;
    kvs_io_op op;
    kvs_batch *b = NULL;
    unsigned char *mem = NULL, *disk = (unsigned char *)malloc(3 * 65536);
    void *m = NULL;
    uint64_t rs = t_seed ^ 0x5c7a;
    char path[1200];
    size_t lens[4] = {100, 4096 + 100, 65536 + 100, 12188};
    int li, mis;
    memset(&ops, 0, sizeof ops);
    ops.fstat = big_blk_fstat;
    kvs_pool_config_init(&cfg);
    cfg.threads = 2;
    cfg.bounce_bytes = 4096;
    cfg.task_bytes = 4096;
    if (kvs_aligned_alloc(NULL, 3 * 65536, 65536, &m) == KVS_OK)
        mem = (unsigned char *)m;
    CHECK(mem != NULL && disk != NULL);
    CHECK_R(kvs_pool_create(&cfg, &p), KVS_OK);
    f = open_file("scratch", KVS_DIRECT_PREFER, 0, &ops, KVS_FILE_CREATE | KVS_FILE_TRUNC);
    CHECK(f != NULL);
    if (p == NULL || f == NULL || mem == NULL || disk == NULL) {
        if (p != NULL)
            kvs_pool_destroy(p);
        if (f != NULL)
            (void)kvs_file_close(f);
        if (mem != NULL)
            kvs_aligned_free(NULL, mem, 3 * 65536, 65536);
        free(disk);
        return;
    }
    kvs_file_get_info(f, &fi);
    snprintf(path, sizeof path, "%s/scratch", t_dir);
    if (!fi.direct) {
        CHECK(!t_direct_ok(t_dir)); /* else the library failed to use it */
        printf("SKIP: %s refused O_DIRECT; the small-scratch writes run buffered\n", t_dir);
    } else
        CHECK(fi.tail_pad == 65536);
    for (li = 0; li < 4; li++) {
        for (mis = 0; mis < 2; mis++) {
            size_t len = lens[li], k, nz = 0;
            unsigned char *src = mem + mis;
            int fd;
            t_fill_random(src, len, &rs);
            CHECK(truncate(path, 0) == 0);
            write_op(&op, f, 0, src, len);
            b = NULL;
            CHECK_R(kvs_pool_submit(p, &op, 1, &b), KVS_OK);
            if (b == NULL)
                continue;
            CHECK_R(kvs_batch_wait(b), KVS_OK);
            CHECK_R(op.result, KVS_OK);
            CHECK_R(kvs_batch_free(b), KVS_OK);
            memset(disk, 0xEE, 3 * 65536);
            fd = open(path, O_RDONLY);
            CHECK(fd >= 0 && pread(fd, disk, 3 * 65536, 0) >= (ssize_t)len);
            if (fd >= 0)
                close(fd);
            CHECK(memcmp(disk, src, len) == 0);
            for (k = len; k < 3 * 65536 && disk[k] != 0xEE; k++)
                nz += disk[k] != 0;
            CHECK(nz == 0);
        }
    }
    /* a misaligned offset: refused whole, nothing written */
    if (fi.direct) {
        CHECK(truncate(path, 0) == 0);
        write_op(&op, f, 100, mem, 12188); /* three 4 KiB tasks if it were split at 4096 */
        b = NULL;
        CHECK_R(kvs_pool_submit(p, &op, 1, &b), KVS_OK);
        if (b != NULL) {
            struct stat sb;
            CHECK_R(kvs_batch_wait(b), KVS_OK);
            CHECK_R(op.result, KVS_E_ALIGN);
            CHECK_R(kvs_batch_free(b), KVS_OK);
            CHECK(stat(path, &sb) == 0 && sb.st_size == 0);
        }
    }
    kvs_pool_destroy(p);
    CHECK_R(kvs_file_close(f), KVS_OK);
    remove_file("scratch");
    kvs_aligned_free(NULL, mem, 3 * 65536, 65536);
    free(disk);
}

int main(void)
{
    t_init_seed("test_posix_pool", 0xC0FFEEULL);
    t_setup_dir("pool");
    test_mixed();
    test_split_and_poll();
    test_split_error_order();
    test_priority();
    test_shutdown();
    test_alloc_failure();
    test_many_pools();
    test_calls();
    test_fd_read_by_caller();
    test_small_scratch();
    t_remove_empty_dir();
    return t_done("test_posix_pool");
}
