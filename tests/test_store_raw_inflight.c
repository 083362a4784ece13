/* SPDX-License-Identifier: MIT OR Unlicense */
/* Raw-block store: a put held in flight (a pwrite hook stalls on its
   payload) while other calls go on.

   1. Puts of one key that end out of order. Put A starts first and stalls;
      put B of the same key is published, then removed; A ends. A is ordered
      before B (B's newer generation was published first), so A is not
      linked: a get misses, and after a crash (a child that _exits without
      closing) the reopened store may bring back the unsynced remove's B,
      but can never return something the last get before the crash did not
      allow (with A linked, the crash replaced the acknowledged A by B).
   2. Eviction next to a slow put. Entries newer than the put in flight
      cannot have their slots reused until it ends, so a put that needs a
      slot waits for it rather than evicting them: the store is not drained
      while the slow put stalls.
      With checkpoints every 10 ms, that wait outlasts them, and none is
      written for nothing meanwhile.
   3. Eviction next to a get. A get held inside its payload read (a pread
      hook) keeps its entry: with every other entry pinned, a put that
      needs a slot finds nothing to evict (KVS_E_FULL), and the entry is
      still there after the get.
   4. One damaged record read by two gets at once counts one corruption.

   Environment: KVS_TEST_DIR, KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "test_store_raw_util.h"

#define MiB ((uint64_t)1 << 20)
#define BIG ((size_t)128 << 10) /* above the single-write size: the payload
                                   reaches the hook as the caller's buffer */

/* ---- the stall: a pwrite or pread of one buffer waits until released
   (t_gate, tests/test_util.h) ---- */
enum { G_WRITE = 1, G_READ };
static t_gate g_gate = T_GATE_INIT;

static int64_t h_pwrite(void *u, int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    (void)u;
    t_gate_pass(&g_gate, G_WRITE, NULL, buf);
    n = pwrite(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

static t_gate g_rgate = T_GATE_INIT; /* a read held while g_gate holds a write */

static int64_t h_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    (void)u;
    t_gate_pass(&g_rgate, G_READ, NULL, buf);
    return t_gated_pread(&g_gate, G_READ, fd, buf, len, off);
}

static kvs_sysops g_ops;


/* ---- 1 ---- */
enum { SEEN_MISS = 1, SEEN_A = 2, SEEN_B = 3, SEEN_OTHER = 4 };

static int seen_of(kvs_store *s, const unsigned char *a, const unsigned char *b, unsigned char *rd)
{
    size_t n = 0;
    kvs_result r = kvs_store_get(s, "K", 1, rd, BIG, &n);
    if (r == KVS_NOT_FOUND)
        return SEEN_MISS;
    if (r == KVS_OK && n == BIG && memcmp(rd, a, BIG) == 0)
        return SEEN_A;
    if (r == KVS_OK && n == BIG && memcmp(rd, b, BIG) == 0)
        return SEEN_B;
    return SEEN_OTHER;
}

static void test_out_of_order(const char *path)
{
    unsigned char *a = (unsigned char *)xalloc(BIG), *b = (unsigned char *)xalloc(BIG),
                  *rd = (unsigned char *)xalloc(BIG);
    int pfd[2], status = 0, before = 0, after;
    pid_t pid;
    kvs_store_config c;
    kvs_store *s = NULL;
    char err[256];
    fill_obj(a, BIG, 1, 1);
    fill_obj(b, BIG, 1, 2);
    CHECK(pipe(pfd) == 0);
    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* the child: the sequence, then a crash */
        putjob ja;
        pthread_t t;
        int code = 0, seen;
        close(pfd[0]);
        raw_cfg(&c, path, 16 * MiB, BIG, KVS_DIRECT_PREFER);
        c.durability = KVS_DURABLE_DATA;
        c.sysops = &g_ops;
        if (kvs_store_open(&c, &s, err, sizeof err) != KVS_OK)
            _exit(10);
        t_gate_arm(&g_gate, G_WRITE, NULL, a);
        ja.s = s;
        ja.key = "K";
        ja.val = a;
        ja.len = BIG;
        if (pthread_create(&t, NULL, putjob_main, &ja) != 0)
            _exit(11);
        if (!t_gate_wait_entered(&g_gate))
            _exit(12);
        if (kvs_store_put(s, "K", 1, b, BIG) != KVS_OK) /* B: newer, published first */
            _exit(13);
        if (kvs_store_remove(s, "K", 1) != KVS_OK)
            _exit(14);
        t_gate_release(&g_gate);
        pthread_join(t, NULL);
        if (ja.r != KVS_OK)
            _exit(15);
        seen = seen_of(s, a, b, rd);
        if (write(pfd[1], &seen, sizeof seen) != (ssize_t)sizeof seen)
            code = 16;
        _exit(code); /* no close, no checkpoint: a crash */
    }
    close(pfd[1]);
    CHECK(read(pfd[0], &before, sizeof before) == (ssize_t)sizeof before);
    close(pfd[0]);
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* A ended after B was published: ordered before it, so not linked */
    CHECK(before == SEEN_MISS);
    raw_cfg(&c, path, 0, 0, KVS_DIRECT_PREFER);
    c.format = KVS_FORMAT_NEVER;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s != NULL) {
        after = seen_of(s, a, b, rd);
        /* the unsynced remove may be undone (B back); A, a put the store
           ordered before B, never returns, and nothing else ever does */
        CHECK(after == SEEN_MISS || after == SEEN_B);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    unlink(path);
    free(a);
    free(b);
    free(rd);
}

/* The put of "slow" (BIG bytes of slow) on a thread of its own, held in
   its payload write until t_gate_release(&g_gate). 1 once it is held. */
static int start_slow_put(putjob *js, pthread_t *t, kvs_store *s, const unsigned char *slow)
{
    t_gate_arm(&g_gate, G_WRITE, NULL, slow);
    js->s = s;
    js->key = "slow";
    js->val = slow;
    js->len = BIG;
    return pthread_create(t, NULL, putjob_main, js) == 0 && t_gate_wait_entered(&g_gate);
}

/* ---- 2 ---- */
typedef struct watch {
    kvs_store *s;
    uint64_t objects, evictions; /* at the snapshot, the slow put stalled */
} watch;

static void *watch_main(void *arg)
{
    watch *w = (watch *)arg;
    struct timespec ts = {0, 400 * 1000000L};
    kvs_store_stats st;
    nanosleep(&ts, NULL); /* the puts below have blocked, or drained the store */
    kvs_store_get_stats(w->s, &st);
    w->objects = st.objects;
    w->evictions = st.evictions;
    t_gate_release(&g_gate);
    return NULL;
}

static void test_slow_put_eviction(const char *path)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_store_stats st;
    char err[256], key[32];
    unsigned char *slow = (unsigned char *)xalloc(BIG), *v = (unsigned char *)xalloc(BIG);
    putjob js;
    watch w;
    pthread_t t, tw;
    uint64_t S, i, want;
    raw_cfg(&c, path, 16 * MiB, BIG, KVS_DIRECT_PREFER);
    c.sysops = &g_ops;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s == NULL)
        return;
    kvs_store_get_stats(s, &st);
    S = st.slots_total;
    want = S / 32 > 1 ? S / 32 : 1;
    CHECK(S >= 64);
    fill_obj(v, BIG, 7, 7);
    fill_obj(slow, BIG, 8, 8);
    for (i = 0; i < S; i++) { /* full, every entry older than the slow put */
        snprintf(key, sizeof key, "old-%llu", (unsigned long long)i);
        CHECK_R(kvs_store_put(s, key, strlen(key), v, 4096), KVS_OK);
    }
    CHECK(start_slow_put(&js, &t, s, slow));
    w.s = s;
    CHECK(pthread_create(&tw, NULL, watch_main, &w) == 0);
    /* S puts: the old entries go, then the store holds only entries newer
       than the slow put, and the next put waits for it */
    for (i = 0; i < S + 4; i++) {
        snprintf(key, sizeof key, "new-%llu", (unsigned long long)i);
        CHECK_R(kvs_store_put(s, key, strlen(key), v, 4096), KVS_OK);
    }
    pthread_join(tw, NULL);
    pthread_join(t, NULL);
    CHECK_R(js.r, KVS_OK);
    /* while the slow put stalled: the store was full, not drained, and
       nothing newer than the slow put had been evicted for nothing */
    CHECK(w.objects + want + 1 >= S);
    CHECK(w.evictions <= S + want);
    kvs_store_get_stats(s, &st);
    CHECK(st.objects + want + 1 >= S);
    CHECK_R(kvs_store_close(s), KVS_OK);
    unlink(path);
    free(slow);
    free(v);
}

/* 2b. The same wait with frequent checkpoints (then with none: a remove or
   an unpin of an older entry ends the wait too, and so does the end of the
   last read of an older entry removed while it was read: freed 4, or
   unpinned while it was read: freed 5). The store is full of
   entries newer than the slow put, one of them removed (its slot waits in
   quarantine for the slow put too); checkpoints every 10 ms. The put that
   needs a slot waits for the slow put however long it takes: checkpoint
   wake-ups are not put ends (it used to give up with KVS_E_FULL after 64
   of them), and no checkpoint is written for a quarantine that none would
   release (one used to be written every interval). */
typedef struct late {
    kvs_store *s;
    int done;
    kvs_result r;
} late;

static void *late_main(void *arg)
{
    late *l = (late *)arg;
    unsigned char v[100];
    memset(v, 'p', sizeof v);
    l->r = kvs_store_put(l->s, "P", 1, v, sizeof v);
    __atomic_store_n(&l->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_wait_past_checkpoints(const char *path, int freed)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_store_stats st0, st;
    char err[256], key[32];
    unsigned char *slow = (unsigned char *)xalloc(BIG), v[100], rd[100];
    unsigned char *ob = (unsigned char *)xalloc(BIG), *og = (unsigned char *)xalloc(BIG);
    putjob js;
    late l;
    getjob jg;
    pthread_t t, tl, tg;
    uint64_t S, i;
    size_t got = 0;
    raw_cfg(&c, path, 2 * MiB, BIG, KVS_DIRECT_PREFER);
    c.checkpoint_interval_ms = freed >= 2 ? 3600000 : 10; /* 2-5: no background checkpoint */
    c.checkpoint_idle_ms = 1;
    c.sysops = &g_ops;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s == NULL)
        return;
    kvs_store_get_stats(s, &st);
    S = st.slots_total;
    CHECK(S >= 3 && S <= 64);
    fill_obj(slow, BIG, 5, 5);
    memset(v, 'o', sizeof v);
    fill_obj(ob, BIG, 6, 6);
    if (freed) { /* older than the slow put, pinned: not evictable */
        if (freed >= 4) /* big: its read reaches the hook with the caller's buffer */
            CHECK_R(kvs_store_put(s, "O", 1, ob, BIG), KVS_OK);
        else
            CHECK_R(kvs_store_put(s, "O", 1, v, sizeof v), KVS_OK);
        CHECK_R(kvs_store_pin(s, "O", 1), KVS_OK);
    }
    CHECK(start_slow_put(&js, &t, s, slow));
    memset(v, 'x', sizeof v);
    for (i = 0; i + 1 + (freed ? 1u : 0u) < S; i++) { /* the other slots: full, all newer */
        snprintf(key, sizeof key, "x%llu", (unsigned long long)i);
        CHECK_R(kvs_store_put(s, key, strlen(key), v, sizeof v), KVS_OK);
    }
    CHECK_R(kvs_store_remove(s, "x0", 2), KVS_OK);
    if (freed < 2) {
        /* the background checkpoints of the fill and the remove written
           first (a loaded machine lags them): from here on, one that
           frees nothing is the fault */
        kvsi_raw *R = (kvsi_raw *)s->engine;
        int done = 0;
        for (i = 0; i < 1000 && !done; i++) {
            pthread_mutex_lock(&R->mu);
            done = R->mut_seq == R->ckpt_mut_seq;
            pthread_mutex_unlock(&R->mu);
            if (!done)
                t_sleep_ms(10);
        }
        CHECK(done);
    }
    kvs_store_get_stats(s, &st0);
    memset(&l, 0, sizeof l);
    l.s = s;
    CHECK(pthread_create(&tl, NULL, late_main, &l) == 0);
    for (i = 0; i < 150 && !__atomic_load_n(&l.done, __ATOMIC_ACQUIRE); i++)
        t_sleep_ms(10);
    kvs_store_get_stats(s, &st);
    if (!CHECK(!__atomic_load_n(&l.done, __ATOMIC_ACQUIRE)))
        fprintf(stderr, "  the put ended (%s) while the slow put was in flight\n", kvs_result_name(l.r));
    CHECK(st.checkpoints - st0.checkpoints <= 1); /* none for nothing */
    if (freed) {
        /* O removed (1, 3) or unpinned (2): older than the slow put, so a
           checkpoint frees its slot (the background one, or the waiting
           put's own, woken by the remove), or the waiting put evicts it;
           either way it no longer waits for the slow put */
        if (freed == 2) {
            CHECK_R(kvs_store_unpin(s, "O", 1), KVS_OK);
        } else if (freed >= 4) {
            /* O read, and unpinned (5) or removed too (4) while it is: the
               unpin or remove wakes the put with nothing to take yet; the
               read's end makes O evictable (5) or quarantines its slot (4),
               and must wake it again */
            t_gate_arm(&g_rgate, G_READ, NULL, og);
            getjob_set(&jg, s, "O", og, BIG);
            CHECK(pthread_create(&tg, NULL, getjob_main, &jg) == 0);
            CHECK(t_gate_wait_entered(&g_rgate));
            CHECK_R(kvs_store_unpin(s, "O", 1), KVS_OK);
            if (freed == 4)
                CHECK_R(kvs_store_remove(s, "O", 1), KVS_OK);
            t_sleep_ms(200);
            CHECK(!__atomic_load_n(&l.done, __ATOMIC_ACQUIRE)); /* O still read */
            t_gate_release(&g_rgate);
            CHECK(pthread_join(tg, NULL) == 0);
            CHECK_R(jg.r, KVS_OK);
            CHECK(jg.n == BIG && memcmp(og, ob, BIG) == 0);
        } else {
            CHECK_R(kvs_store_remove(s, "O", 1), KVS_OK);
        }
        for (i = 0; i < 3000 && !__atomic_load_n(&l.done, __ATOMIC_ACQUIRE); i++)
            t_sleep_ms(10);
        CHECK(__atomic_load_n(&l.done, __ATOMIC_ACQUIRE));
    }
    t_gate_release(&g_gate);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(pthread_join(tl, NULL) == 0);
    CHECK_R(js.r, KVS_OK);
    CHECK_R(l.r, KVS_OK);
    CHECK_R(kvs_store_get(s, "P", 1, rd, sizeof rd, &got), KVS_OK);
    CHECK(got == sizeof rd && rd[0] == 'p');
    CHECK_R(kvs_store_close(s), KVS_OK);
    unlink(path);
    free(slow);
    free(ob);
    free(og);
}

/* ---- 3 ---- */

static void test_reader_not_evicted(const char *path)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_store_stats st;
    char err[256], key[32];
    unsigned char *v = (unsigned char *)xalloc(BIG), *rd = NULL;
    void *m = NULL;
    getjob g;
    pthread_t t;
    uint64_t S, i;
    CHECK_R(kvs_aligned_alloc(NULL, BIG, 4096, &m), KVS_OK);
    rd = (unsigned char *)m;
    raw_cfg(&c, path, 8 * MiB, BIG, KVS_DIRECT_PREFER);
    c.sysops = &g_ops;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s == NULL || rd == NULL)
        return;
    kvs_store_get_stats(s, &st);
    S = st.slots_total;
    fill_obj(v, BIG, 9, 9);
    for (i = 0; i < S; i++) { /* full; every entry but k0 pinned */
        snprintf(key, sizeof key, "k%llu", (unsigned long long)i);
        CHECK_R(kvs_store_put(s, key, strlen(key), v, BIG), KVS_OK);
        if (i > 0)
            CHECK_R(kvs_store_pin(s, key, strlen(key)), KVS_OK);
    }
    t_gate_arm(&g_gate, G_READ, NULL, rd);
    getjob_set(&g, s, "k0", rd, BIG);
    CHECK(pthread_create(&t, NULL, getjob_main, &g) == 0);
    CHECK(t_gate_wait_entered(&g_gate)); /* the get of k0 is reading its payload */
    /* nothing to evict: k0 is being read, the rest pinned */
    CHECK_R(kvs_store_put(s, "x", 1, v, 4096), KVS_E_FULL);
    t_gate_release(&g_gate);
    pthread_join(t, NULL);
    CHECK_R(g.r, KVS_OK);
    CHECK(g.n == BIG && memcmp(rd, v, BIG) == 0);
    CHECK_R(kvs_store_exists(s, "k0", 2), KVS_OK);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 0);
    /* once the get is over, k0 is the one entry a put can evict */
    CHECK_R(kvs_store_put(s, "x", 1, v, 4096), KVS_OK);
    CHECK_R(kvs_store_exists(s, "k0", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_close(s), KVS_OK);
    unlink(path);
    kvs_aligned_free(NULL, rd, BIG, 4096);
    free(v);
}

/* 4. One damaged record read by two gets at once counts as one
   corruption: the get held inside its payload read finds the record
   already dropped by the other. */
static void test_corrupt_counted_once(const char *path)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_store_stats st;
    char err[256];
    unsigned char *v = (unsigned char *)xalloc(BIG), *rd1 = NULL, *rd2 = NULL;
    void *m1 = NULL, *m2 = NULL;
    getjob g;
    pthread_t t;
    uint64_t off = 0;
    size_t n = 0;
    CHECK_R(kvs_aligned_alloc(NULL, BIG, 4096, &m1), KVS_OK);
    CHECK_R(kvs_aligned_alloc(NULL, BIG, 4096, &m2), KVS_OK);
    rd1 = (unsigned char *)m1;
    rd2 = (unsigned char *)m2;
    raw_cfg(&c, path, 8 * MiB, BIG, KVS_DIRECT_PREFER);
    c.sysops = &g_ops;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s == NULL || rd1 == NULL || rd2 == NULL)
        return;
    fill_obj(v, BIG, 11, 11);
    CHECK_R(kvs_store_put(s, "K", 1, v, BIG), KVS_OK);
    {
        kvsi_raw *R = (kvsi_raw *)s->engine;
        kvsi_rent *e;
        pthread_mutex_lock(&R->mu);
        e = kvsi_raw_find(R, "K", 1, kvsi_raw_hash("K", 1));
        if (e != NULL)
            off = kvsi_raw_slot_off(R, e->slot) + R->L.slot_header_bytes + 1000;
        pthread_mutex_unlock(&R->mu);
        CHECK(e != NULL);
    }
    CHECK(off != 0 && poke(path, off, 0x5a) == 0); /* one payload byte */
    t_gate_arm(&g_gate, G_READ, NULL, rd1);
    getjob_set(&g, s, "K", rd1, BIG);
    CHECK(pthread_create(&t, NULL, getjob_main, &g) == 0);
    CHECK(t_gate_wait_entered(&g_gate)); /* the first get is in its read */
    CHECK_R(kvs_store_get(s, "K", 1, rd2, BIG, &n), KVS_NOT_FOUND);
    t_gate_release(&g_gate);
    pthread_join(t, NULL);
    CHECK_R(g.r, KVS_NOT_FOUND);
    kvs_store_get_stats(s, &st);
    CHECK(st.corruptions == 1);
    CHECK_R(kvs_store_get(s, "K", 1, rd2, BIG, &n), KVS_NOT_FOUND); /* gone: a plain miss */
    kvs_store_get_stats(s, &st);
    CHECK(st.corruptions == 1);
    /* a damaged record removed while a get reads it is still counted */
    CHECK_R(kvs_store_put(s, "R", 1, v, BIG), KVS_OK);
    {
        kvsi_raw *R = (kvsi_raw *)s->engine;
        kvsi_rent *e;
        pthread_mutex_lock(&R->mu);
        e = kvsi_raw_find(R, "R", 1, kvsi_raw_hash("R", 1));
        off = e != NULL ? kvsi_raw_slot_off(R, e->slot) + R->L.slot_header_bytes + 1000 : 0;
        pthread_mutex_unlock(&R->mu);
    }
    CHECK(off != 0 && poke(path, off, 0x5a) == 0);
    t_gate_arm(&g_gate, G_READ, NULL, rd1);
    g.key = "R";
    CHECK(pthread_create(&t, NULL, getjob_main, &g) == 0);
    CHECK(t_gate_wait_entered(&g_gate));
    CHECK_R(kvs_store_remove(s, "R", 1), KVS_OK);
    t_gate_release(&g_gate);
    pthread_join(t, NULL);
    CHECK_R(g.r, KVS_NOT_FOUND);
    kvs_store_get_stats(s, &st);
    CHECK(st.corruptions == 2);
    CHECK_R(kvs_store_close(s), KVS_OK);
    unlink(path);
    kvs_aligned_free(NULL, rd1, BIG, 4096);
    kvs_aligned_free(NULL, rd2, BIG, 4096);
    free(v);
}

int main(void)
{
    char p1[1200], p2[1200];
    t_init("test_store_raw_inflight");
    t_setup_dir("rawinf");
    memset(&g_ops, 0, sizeof g_ops);
    g_ops.pwrite = h_pwrite;
    g_ops.pread = h_pread;
    t_path(p1, sizeof p1, "order.dev");
    t_path(p2, sizeof p2, "evict.dev");
    test_out_of_order(p1);
    test_slow_put_eviction(p2);
    t_path(p2, sizeof p2, "ckwait.dev");
    test_wait_past_checkpoints(p2, 0);
    test_wait_past_checkpoints(p2, 1);
    test_wait_past_checkpoints(p2, 2);
    test_wait_past_checkpoints(p2, 3);
    test_wait_past_checkpoints(p2, 4);
    test_wait_past_checkpoints(p2, 5);
    t_path(p1, sizeof p1, "reader.dev");
    test_reader_not_evicted(p1);
    t_path(p1, sizeof p1, "corrupt.dev");
    test_corrupt_counted_once(p1);
    t_rm_rf(t_dir);
    return t_done("test_store_raw_inflight");
}
