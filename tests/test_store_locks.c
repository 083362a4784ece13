/* SPDX-License-Identifier: MIT OR Unlicense */
/* The stores' locks (kvs_sysops.lock; docs/STORES.md "Eviction across
   handles" and "One handle per device"):

   - filesystem store: a pin holds across handles and processes. Handle A
     (capacity for two objects) must evict; handle B, or a child process,
     has pinned A's least recently used object: A evicts another one, and
     when everything is pinned elsewhere the put finds the store full, with
     nothing lost. An unpin, a close, or the pinning process's death (even
     by SIGKILL) makes the object evictable again;
   - a pin waits for an eviction under way in another handle, and then
     reports the object gone, never KVS_OK for a file that is then removed
     (the gate holds A's eviction inside its rename);
   - the lock file is no object: not counted, not iterated, not taken for
     an orphan, and a FIFO or directory planted at its name fails the open;
     removed under running stores (and re-created by another open), the
     evictions fail rather than evict files pinned on the old one's locks;
   - where the locks are missing (the probe answers ENOLCK) the open
     succeeds and stats.lock_errno says so; a lock that fails otherwise
     fails the pin (and an unlock that fails, the unpin, with the name
     locked until close); a pin whose name stays locked gives up with
     KVS_E_BUSY; a lock file this handle may only read still serves its
     pins;
   - a put whose candidates are pinned elsewhere waits while one of its
     own objects is being read, rather than find the store full, and waits
     for its own handle's sync holding a candidate's byte rather than take
     that for a pin elsewhere;
   - fork: the child's copies of the lock descriptors keep a raw device
     busy and pins held, until kvs_store_drop_locks_after_fork;
   - raw open racing a failed open that removes the file it made: the
     second open notices and opens again;
   - raw store: one handle per device file. A second open, in this process
     or another, gets KVS_E_BUSY and changes nothing; after the first
     handle's close (or its process's death) the device opens again.

   Environment: KVS_TEST_DIR, KVS_SEED. */
#define KVS_IMPLEMENTATION
#define KVSI_PIN_WAIT_MS 2000u /* the pin's wait for a held lock, shortened (from
                                  10 s; a loaded CI machine took over 200 ms to
                                  finish a released eviction) */
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_store_fs_util.h"
#include "test_store_raw_util.h"

#define VLEN 8192
#define CAP2 (2 * (4096 + VLEN) + 4096) /* room for two VLEN objects, not three */

static unsigned char g_val[VLEN], g_rd[VLEN];

static void get_is(kvs_store *s, const char *key)
{
    size_t n = 0;
    memset(g_rd, 0, VLEN);
    CHECK_R(kvs_store_get(s, key, strlen(key), g_rd, VLEN, &n), KVS_OK);
    CHECK(n == VLEN && memcmp(g_rd, g_val, VLEN) == 0);
}

static int lock_errno_of(kvs_store *s)
{
    kvs_store_stats st;
    kvs_store_get_stats(s, &st);
    return st.lock_errno;
}

static uint64_t objects_of(kvs_store *s)
{
    kvs_store_stats st;
    kvs_store_get_stats(s, &st);
    return st.objects;
}

static uint64_t evictions_of(kvs_store *s)
{
    kvs_store_stats st;
    kvs_store_get_stats(s, &st);
    return st.evictions;
}

/* ---- hooks: a gate on A's rename of one name; lock answers ---- */
static t_gate g_gate = T_GATE_INIT;
enum { G_RENAME = 1 };

typedef struct lockhook {
    int probe_err;   /* the open's probe (byte 0, shared) answers this */
    int ex_err;      /* every exclusive lock answers this */
    int sh_err;      /* a pin's lock answers this (once) */
    int un_err;      /* an unlock answers this (once) */
    int sh_calls, ex_calls, un_calls;
} lockhook;

static int h_renameat(void *u, int fd1, const char *from, int fd2, const char *to)
{
    (void)u;
    t_gate_pass(&g_gate, G_RENAME, from, NULL);
    return renameat(fd1, from, fd2, to) == 0 ? 0 : -errno;
}

static int h_lock(void *u, int fd, int how, uint64_t off)
{
    lockhook *h = (lockhook *)u;
    int e;
    if (how == KVS_LOCK_SH && off == 0 && h->probe_err != 0) /* the probe's byte */
        return -h->probe_err;
    if (how == KVS_LOCK_SH) {
        h->sh_calls++;
        if (h->sh_err != 0 && off != 0) {
            e = h->sh_err;
            h->sh_err = 0;
            return -e;
        }
    } else if (how == KVS_LOCK_EX) {
        h->ex_calls++;
        if (h->ex_err != 0)
            return -h->ex_err;
    } else {
        h->un_calls++;
        if (h->un_err != 0) {
            e = h->un_err;
            h->un_err = 0;
            return -e;
        }
    }
    return kvs_sys_lock(fd, how, off);
}

/* Handle A (capacity for two objects, aops) and B (no bound, bops) on dir. */
static int open_pair(const char *dir, kvs_sysops *aops, kvs_sysops *bops, kvs_store **a, kvs_store **b)
{
    return open_pair_cap(dir, CAP2, aops, bops, a, b);
}

/* ---- 1. a pin in another handle of this process ---- */
static void test_pin_other_handle(const char *dir)
{
    kvs_store *a, *b;
    if (!open_pair(dir, NULL, NULL, &a, &b))
        return;
    CHECK(lock_errno_of(a) == 0 && lock_errno_of(b) == 0); /* Linux: the locks work */
    put_k1_k2(a, g_val, VLEN);
    CHECK_R(kvs_store_pin(b, "k1", 2), KVS_OK);
    CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_OK); /* evicts k2, not k1 */
    CHECK(evictions_of(a) == 1);
    get_is(a, "k1");
    CHECK_R(kvs_store_exists(a, "k2", 2), KVS_NOT_FOUND);
    /* k1 and k3 both pinned elsewhere: full, nothing lost */
    CHECK_R(kvs_store_pin(b, "k3", 2), KVS_OK);
    CHECK_R(kvs_store_put(a, "k4", 2, g_val, VLEN), KVS_E_FULL);
    get_is(a, "k1");
    get_is(a, "k3");
    CHECK(count_files(dir, 1) == 2 && count_files(dir, 2) == 0);
    /* pins count: k1 twice, unpinned once, still held */
    CHECK_R(kvs_store_pin(b, "k1", 2), KVS_OK);
    CHECK_R(kvs_store_unpin(b, "k1", 2), KVS_OK);
    CHECK_R(kvs_store_put(a, "k4", 2, g_val, VLEN), KVS_E_FULL);
    CHECK_R(kvs_store_unpin(b, "k1", 2), KVS_OK); /* now k1 is free */
    CHECK_R(kvs_store_put(a, "k4", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_exists(a, "k1", 2), KVS_NOT_FOUND);
    get_is(a, "k3");
    CHECK(evictions_of(a) == 2);
    CHECK_R(kvs_store_unpin(b, "k1", 2), KVS_E_INVAL); /* not pinned */
    /* B's close drops its pin of k3: with k4 pinned by A itself, k3 is
       the one A can evict */
    CHECK_R(kvs_store_pin(a, "k4", 2), KVS_OK);
    CHECK_R(kvs_store_put(a, "k5", 2, g_val, VLEN), KVS_E_FULL);
    CHECK_R(kvs_store_close(b), KVS_OK);
    CHECK_R(kvs_store_put(a, "k5", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_exists(a, "k3", 2), KVS_NOT_FOUND);
    get_is(a, "k4");
    CHECK_R(kvs_store_unpin(a, "k4", 2), KVS_OK);
    /* the lock file is no object: not counted, not iterated, kept */
    CHECK_R(kvs_store_close(a), KVS_OK);
    {
        kvs_store_config c;
        kvs_store_stats st;
        char path[1300];
        struct stat sb;
        cfg_fs(&c, dir);
        a = open_store(&c);
        CHECK(a != NULL);
        if (a != NULL) {
            kvs_store_get_stats(a, &st);
            CHECK(st.objects == 2 && st.orphans_removed == 0);
            CHECK_R(kvs_store_close(a), KVS_OK);
        }
        snprintf(path, sizeof path, "%s/%s", dir, KVS_PINS_NAME);
        CHECK(stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0);
    }
}

/* ---- 2. a pin in another process, released by its death ----
   The child is forked before this process has store threads; it pins k1
   and k2 when told, reports, and waits to be killed. */
static int g_to_child[2], g_from_child[2];
static pid_t g_child = -1;

static void child_main(const char *dir)
{
    kvs_store_config c;
    kvs_store *b;
    char byte = 0;
    if (read(g_to_child[0], &byte, 1) != 1)
        _exit(2);
    cfg_fs(&c, dir);
    b = open_store(&c);
    byte = (char)(b != NULL && kvs_store_pin(b, "k1", 2) == KVS_OK && kvs_store_pin(b, "k2", 2) == KVS_OK ? 'y' : 'n');
    if (write(g_from_child[1], &byte, 1) != 1)
        _exit(3);
    for (;;)
        pause(); /* SIGKILL: the kernel drops the locks */
}

static void fork_child(const char *dir)
{
    CHECK(pipe(g_to_child) == 0 && pipe(g_from_child) == 0);
    g_child = fork();
    CHECK(g_child >= 0);
    if (g_child == 0)
        child_main(dir);
    close(g_to_child[0]);
    close(g_from_child[1]);
}

static void test_pin_other_process(const char *dir)
{
    kvs_store_config c;
    kvs_store *a;
    char byte = 'g';
    int status = 0;
    if (g_child <= 0)
        return;
    cfg_fs(&c, dir);
    c.capacity_bytes = CAP2;
    a = open_store(&c);
    CHECK(a != NULL);
    if (a != NULL) {
        CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK);
        CHECK_R(kvs_store_put(a, "k2", 2, g_val, VLEN), KVS_OK);
    }
    CHECK(write(g_to_child[1], &byte, 1) == 1);
    CHECK(read(g_from_child[0], &byte, 1) == 1 && byte == 'y');
    if (a != NULL) {
        CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_E_FULL); /* both pinned in the child */
        get_is(a, "k1");
        get_is(a, "k2");
    }
    CHECK(kill(g_child, SIGKILL) == 0);
    CHECK(waitpid(g_child, &status, 0) == g_child && WIFSIGNALED(status));
    g_child = -1;
    if (a == NULL)
        return;
    CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_OK); /* the pins died with it */
    CHECK(evictions_of(a) == 1);
    get_is(a, "k3");
    CHECK_R(kvs_store_close(a), KVS_OK);
}

/* ---- 3. a pin waits for another handle's eviction of its file ---- */
typedef struct pinjob {
    kvs_store *s;
    kvs_result r;
    int done;
} pinjob;

static void *pin_main(void *arg)
{
    pinjob *j = (pinjob *)arg;
    kvs_result r = kvs_store_pin(j->s, "k1", 2);
    __atomic_store_n(&j->r, r, __ATOMIC_RELAXED);
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_pin_waits_for_eviction(const char *dir)
{
    kvs_store *a, *b;
    kvs_sysops ops;
    pthread_t tp, te;
    pinjob pj;
    putjob ej;
    char n1[KVS_FSNAME_MAX + 1];
    memset(&ops, 0, sizeof ops);
    ops.renameat = h_renameat;
    if (!open_pair(dir, &ops, NULL, &a, &b))
        return;
    put_k1_k2(a, g_val, VLEN);
    fs_name_of("k1", n1);
    t_gate_arm(&g_gate, G_RENAME, n1, NULL); /* A's eviction stops as it takes k1 */
    ej.s = a, ej.key = "k3", ej.val = g_val, ej.len = VLEN;
    ej.r = KVS_OK;
    CHECK(pthread_create(&te, NULL, putjob_main, &ej) == 0);
    CHECK(t_gate_wait_entered(&g_gate)); /* A holds k1's lock, the file still at its name */
    memset(&pj, 0, sizeof pj);
    pj.s = b;
    CHECK(pthread_create(&tp, NULL, pin_main, &pj) == 0);
    t_sleep_ms(100); /* well inside the pin's wait, 2 s here */
    CHECK(!__atomic_load_n(&pj.done, __ATOMIC_ACQUIRE)); /* waiting for the eviction */
    t_gate_release(&g_gate);
    CHECK(pthread_join(te, NULL) == 0);
    CHECK(pthread_join(tp, NULL) == 0);
    CHECK_R(ej.r, KVS_OK);
    CHECK_R(pj.r, KVS_NOT_FOUND); /* k1 went: the pin says so */
    CHECK_R(kvs_store_exists(b, "k1", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_unpin(b, "k1", 2), KVS_E_INVAL);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- 3b. the object changes here while A's eviction tries it and finds
   it pinned elsewhere (A's eviction held at its open of the lock file) ---- */
enum { G_OPENAT = 2 };

static char g_oname[KVS_FSNAME_MAX + 1]; /* an open of this name that finds nothing */
static int g_omissed;                      /* sets this */

static int h_openat_gate(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    t_gate_pass(&g_gate, G_OPENAT, path, NULL);
    fd = openat(dfd, path, flags, (mode_t)mode);
    if (fd < 0 && errno == ENOENT && strcmp(path, g_oname) == 0)
        __atomic_store_n(&g_omissed, 1, __ATOMIC_RELEASE);
    return fd < 0 ? -errno : fd;
}


/* Waits up to 10 s for *flag. */
static int wait_flag(int *flag)
{
    int i;
    for (i = 0; i < 10000 && !__atomic_load_n(flag, __ATOMIC_ACQUIRE); i++)
        t_sleep_ms(1);
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

/* mode 0: B pinned k1 and removed it, and A's get of k1 finds nothing at
   its name. The get waits for the eviction's try to end (an eviction may
   have a file aside and put it back) and then records k1 gone, so the
   entry leaves A's eviction order after the try put it back there (and is
   freed there); the eviction, which could not know, has taken k2 for the
   room meanwhile. Mode 1: A removes k2, and there is room for k3 when the
   try ends. Either way the put takes it: no KVS_E_FULL. */
static void test_pinned_try_meanwhile(const char *dir, int mode)
{
    kvs_store *a, *b;
    kvs_sysops ops;
    pthread_t te, tg;
    putjob ej;
    getjob gj;
    memset(&ops, 0, sizeof ops);
    ops.openat = h_openat_gate;
    fs_name_of("k1", g_oname);
    __atomic_store_n(&g_omissed, 0, __ATOMIC_RELEASE);
    if (!open_pair(dir, &ops, NULL, &a, &b))
        return;
    put_k1_k2(a, g_val, VLEN);
    CHECK_R(kvs_store_pin(b, "k1", 2), KVS_OK);
    if (mode == 0)
        CHECK_R(kvs_store_remove(b, "k1", 2), KVS_OK); /* a pin does not stop a remove */
    t_gate_arm(&g_gate, G_OPENAT, KVS_PINS_NAME, NULL);
    ej.s = a, ej.key = "k3", ej.val = g_val, ej.len = VLEN;
    ej.r = KVS_OK;
    CHECK(pthread_create(&te, NULL, putjob_main, &ej) == 0);
    CHECK(t_gate_wait_entered(&g_gate)); /* A's eviction picked k1 */
    if (mode == 0) {
        getjob_set(&gj, a, "k1", g_rd, VLEN);
        CHECK(pthread_create(&tg, NULL, getjob_main, &gj) == 0);
        CHECK(wait_flag(&g_omissed)); /* the get found nothing at k1's name */
    } else {
        CHECK_R(kvs_store_remove(a, "k2", 2), KVS_OK);
    }
    t_gate_release(&g_gate);
    if (mode == 0) {
        CHECK(pthread_join(tg, NULL) == 0);
        CHECK_R(gj.r, KVS_NOT_FOUND);
    }
    CHECK(pthread_join(te, NULL) == 0);
    CHECK_R(ej.r, KVS_OK);
    get_is(a, "k3");
    CHECK(evictions_of(a) == (mode == 0 ? 1u : 0u));
    CHECK(count_files(dir, 1) == (mode == 0 ? 1u : 2u)); /* k3, and in mode 1 k1 */
    CHECK_R(kvs_store_put(a, "k4", 2, g_val, VLEN), KVS_OK); /* the order is whole */
    CHECK_R(kvs_store_unpin(b, "k1", 2), KVS_OK);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- 4. no locks here, a failing lock, a failing unlock ---- */
static void test_lock_answers(const char *dir)
{
    kvs_store *a, *b;
    kvs_sysops ao, bo;
    lockhook ah, bh;
    memset(&ah, 0, sizeof ah);
    memset(&bh, 0, sizeof bh);
    memset(&ao, 0, sizeof ao);
    memset(&bo, 0, sizeof bo);
    ao.user = &ah;
    ao.lock = h_lock;
    bo.user = &bh;
    bo.lock = h_lock;

    /* B's probe: ENOLCK (an NFS mount without a lock manager) */
    bh.probe_err = ENOLCK;
    if (!open_pair(dir, &ao, &bo, &a, &b))
        return;
    CHECK(lock_errno_of(a) == 0 && lock_errno_of(b) == ENOLCK);
    put_k1_k2(a, g_val, VLEN);
    CHECK_R(kvs_store_pin(b, "k1", 2), KVS_OK); /* per handle: A cannot see it */
    CHECK(bh.sh_calls == 0);
    CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_exists(a, "k1", 2), KVS_NOT_FOUND); /* as the stats said */
    CHECK_R(kvs_store_close(b), KVS_OK);

    /* B's pin lock fails: the pin is not taken */
    memset(&bh, 0, sizeof bh);
    bh.sh_err = EIO;
    {
        kvs_store_config cb;
        cfg_fs(&cb, dir);
        cb.sysops = &bo;
        b = open_store(&cb);
        CHECK(b != NULL);
    }
    if (b == NULL) {
        (void)kvs_store_close(a);
        return;
    }
    CHECK(lock_errno_of(b) == 0);
    CHECK_R(kvs_store_pin(b, "k2", 2), KVS_E_IO);
    CHECK_R(kvs_store_unpin(b, "k2", 2), KVS_E_INVAL);
    /* A's own pin of k3 keeps its own eviction off it: k2 goes */
    CHECK_R(kvs_store_pin(a, "k3", 2), KVS_OK);
    CHECK_R(kvs_store_put(a, "k4", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_exists(a, "k2", 2), KVS_NOT_FOUND);
    get_is(a, "k3");
    CHECK_R(kvs_store_unpin(a, "k3", 2), KVS_OK);

    /* B's unlock fails: the unpin says so, and the name stays locked (A
       cannot evict it) until B's close */
    CHECK_R(kvs_store_pin(b, "k4", 2), KVS_OK);
    bh.un_err = EIO;
    CHECK_R(kvs_store_unpin(b, "k4", 2), KVS_E_IO);
    CHECK_R(kvs_store_unpin(b, "k4", 2), KVS_E_INVAL); /* the pin itself is gone */
    CHECK_R(kvs_store_pin(a, "k3", 2), KVS_OK);
    CHECK_R(kvs_store_put(a, "k5", 2, g_val, VLEN), KVS_E_FULL);
    get_is(a, "k4");
    CHECK_R(kvs_store_close(b), KVS_OK);
    CHECK_R(kvs_store_put(a, "k5", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_exists(a, "k4", 2), KVS_NOT_FOUND);
    CHECK(ah.ex_calls >= 3); /* A's evictions took the names' locks */
    CHECK_R(kvs_store_close(a), KVS_OK);
}

/* ---- one try per candidate ----
   A pins k1 itself, B pins k2: a put of A's that finds the store full has
   tried k2's lock once (one candidate), not once per object. */
static void test_one_try_per_candidate(const char *dir)
{
    kvs_store *a, *b;
    kvs_sysops ao;
    lockhook ah;
    memset(&ah, 0, sizeof ah);
    memset(&ao, 0, sizeof ao);
    ao.user = &ah;
    ao.lock = h_lock;
    if (!open_pair(dir, &ao, NULL, &a, &b))
        return;
    put_k1_k2(a, g_val, VLEN);
    CHECK_R(kvs_store_pin(a, "k1", 2), KVS_OK);
    CHECK_R(kvs_store_pin(b, "k2", 2), KVS_OK);
    ah.ex_calls = 0;
    CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_E_FULL);
    CHECK(ah.ex_calls == 1);
    get_is(a, "k1");
    get_is(a, "k2");
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- 5. the lock file: planted or removed ---- */
static void test_lock_file(const char *dir)
{
    kvs_store_config c;
    kvs_store *a = NULL;
    char path[1300], err[512];
    cfg_fs(&c, dir);
    CHECK(mkdir(dir, 0700) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/%s", dir, KVS_PINS_NAME);
    CHECK(mkfifo(path, 0600) == 0);
    CHECK_R(kvs_store_open(&c, &a, err, sizeof err), KVS_E_INVAL);
    CHECK(a == NULL && strstr(err, KVS_PINS_NAME) != NULL);
    CHECK(unlink(path) == 0 && mkdir(path, 0700) == 0);
    CHECK(kvs_store_open(&c, &a, err, sizeof err) < 0);
    CHECK(a == NULL && strstr(err, KVS_PINS_NAME) != NULL);
    CHECK(rmdir(path) == 0);
    /* removed under running stores: B's pins are on the old file, so A's
       evictions fail rather than evict them; still so once another open
       (C) has made a new lock file, which A's evictions see is another
       file; nothing is lost */
    {
        kvs_store *b, *cs;
        kvs_store_config cb;
        c.capacity_bytes = CAP2;
        cfg_fs(&cb, dir);
        a = open_store(&c);
        b = open_store(&cb);
        CHECK(a != NULL && b != NULL);
        if (a == NULL || b == NULL) {
            (void)kvs_store_close(a);
            (void)kvs_store_close(b);
            return;
        }
        CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK);
        CHECK_R(kvs_store_put(a, "k2", 2, g_val, VLEN), KVS_OK);
        CHECK_R(kvs_store_pin(b, "k1", 2), KVS_OK);
        CHECK_R(kvs_store_pin(b, "k2", 2), KVS_OK);
        CHECK(unlink(path) == 0);
        CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_E_NOENT);
        cs = open_store(&cb); /* makes a new lock file */
        CHECK(cs != NULL);
        CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_E_NOENT);
        get_is(a, "k1");
        get_is(a, "k2");
        CHECK_R(kvs_store_exists(a, "k3", 2), KVS_NOT_FOUND);
        CHECK(count_files(dir, 2) == 0);
        CHECK_R(kvs_store_close(a), KVS_OK);
        CHECK_R(kvs_store_close(b), KVS_OK);
        (void)kvs_store_close(cs);
    }
    a = open_store(&c); /* reopened: the new file, and nothing pinned */
    CHECK(a != NULL);
    if (a != NULL) {
        CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_OK);
        CHECK(evictions_of(a) == 1);
        CHECK_R(kvs_store_close(a), KVS_OK);
    }
}

/* ---- a put that must wait for a read, with the rest pinned elsewhere ----
   A holds k1 and k2; B pins k1; A's get of k2 is held in its read. A put
   of A's must wait for the read (k2 is evictable once it is over), not
   find the store full. Mode 0: the read ends while the put waits; mode 1:
   it ends while the put is out of the store's mutex, trying k1's lock (a
   wake-up nobody waited for: the put must not wait for another). */
static int g_ex_calls;
static t_gate g_rgate = T_GATE_INIT;

static int64_t h_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    (void)u;
    return t_gated_pread(&g_rgate, 1, fd, buf, len, off);
}

static getjob *g_readjob; /* the read h_lock_ends_read ends */

static int h_lock_ends_read(void *u, int fd, int how, uint64_t off)
{
    (void)u;
    if (how == KVS_LOCK_EX && ++g_ex_calls == 1) {
        t_gate_release(&g_rgate);
        while (!__atomic_load_n(&g_readjob->done, __ATOMIC_ACQUIRE))
            t_sleep_ms(1);
    }
    return kvs_sys_lock(fd, how, off);
}

static void *put3_main(void *arg)
{
    pinjob *j = (pinjob *)arg;
    kvs_result r = kvs_store_put(j->s, "k3", 2, g_val, VLEN);
    __atomic_store_n(&j->r, r, __ATOMIC_RELAXED);
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_full_waits_for_read(const char *dir, int mode)
{
    kvs_store *a, *b;
    kvs_sysops ops;
    pthread_t tg, tp;
    getjob gj;
    pinjob pj;
    g_ex_calls = 0;
    g_readjob = &gj;
    memset(&ops, 0, sizeof ops);
    ops.pread = h_pread;
    if (mode == 1)
        ops.lock = h_lock_ends_read;
    if (!open_pair(dir, &ops, NULL, &a, &b))
        return;
    put_k1_k2(a, g_val, VLEN);
    CHECK_R(kvs_store_pin(b, "k1", 2), KVS_OK);
    getjob_set(&gj, a, "k2", (unsigned char *)t_xalloc_aligned(VLEN, 4096), VLEN);
    t_gate_arm(&g_rgate, 1, NULL, gj.buf);
    CHECK(pthread_create(&tg, NULL, getjob_main, &gj) == 0);
    CHECK(t_gate_wait_entered(&g_rgate));
    memset(&pj, 0, sizeof pj);
    pj.s = a;
    CHECK(pthread_create(&tp, NULL, put3_main, &pj) == 0);
    if (mode == 0) {
        t_sleep_ms(300);
        CHECK(!__atomic_load_n(&pj.done, __ATOMIC_ACQUIRE)); /* waiting, not full */
        t_gate_release(&g_rgate);
    } else {
        int i;
        for (i = 0; i < 3000 && !__atomic_load_n(&pj.done, __ATOMIC_ACQUIRE); i++)
            t_sleep_ms(10);
        CHECK(__atomic_load_n(&pj.done, __ATOMIC_ACQUIRE)); /* not waiting for a second wake-up */
        CHECK(g_ex_calls >= 1);
        t_gate_release(&g_rgate); /* (released in the hook already) */
        if (!__atomic_load_n(&pj.done, __ATOMIC_ACQUIRE))
            get_is(a, "k1"); /* failed: any get's end wakes the put, so the test ends */
    }
    CHECK(pthread_join(tg, NULL) == 0);
    CHECK(pthread_join(tp, NULL) == 0);
    CHECK_R(gj.r, KVS_OK);
    CHECK_R(pj.r, KVS_OK);
    CHECK_R(kvs_store_exists(a, "k2", 2), KVS_NOT_FOUND);
    get_is(a, "k1");
    get_is(a, "k3");
    free(gj.buf);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- after a wait, a new pass: a file found pinned before the wait is
   tried again ----
   k1 is pinned in B, k2 is being read in A; a put that needs both objects'
   room tries k1 (pinned), waits for the read, and meanwhile B unpins k1.
   After the wait the put evicts k2 and then k1: it used to skip k1 for the
   rest of the put and fail with KVS_E_FULL. */
static uint64_t evfail_seq_of(kvs_store *s)
{
    kvsi_fs *fs = (kvsi_fs *)s->engine;
    uint64_t v;
    pthread_mutex_lock(&fs->mu);
    v = fs->evfail_seq;
    pthread_mutex_unlock(&fs->mu);
    return v;
}

static void test_retry_after_wait(const char *dir)
{
    kvs_store *a, *b;
    kvs_sysops ops;
    pthread_t tg, tp;
    getjob gj;
    putjob bp;
    unsigned char *big = (unsigned char *)xalloc(2 * VLEN), *rd = (unsigned char *)xalloc(2 * VLEN);
    uint64_t f0;
    size_t n = 0;
    int i;
    memset(&ops, 0, sizeof ops);
    ops.pread = h_pread;
    if (!open_pair(dir, &ops, NULL, &a, &b))
        return;
    put_k1_k2(a, g_val, VLEN);
    CHECK_R(kvs_store_pin(b, "k1", 2), KVS_OK);
    getjob_set(&gj, a, "k2", (unsigned char *)t_xalloc_aligned(VLEN, 4096), VLEN);
    t_gate_arm(&g_rgate, 1, NULL, gj.buf);
    CHECK(pthread_create(&tg, NULL, getjob_main, &gj) == 0);
    CHECK(t_gate_wait_entered(&g_rgate)); /* k2 is being read */
    f0 = evfail_seq_of(a);
    memset(big, 'B', 2 * VLEN);
    bp.s = a;
    bp.key = "k3";
    bp.val = big;
    bp.len = 2 * VLEN; /* room for it: both k1 and k2 must go */
    bp.r = KVS_E_IO;
    CHECK(pthread_create(&tp, NULL, putjob_main, &bp) == 0);
    for (i = 0; i < 30000 && evfail_seq_of(a) == f0; i++)
        t_sleep_ms(1);
    CHECK(evfail_seq_of(a) > f0); /* the put tried k1 and found it pinned */
    CHECK_R(kvs_store_unpin(b, "k1", 2), KVS_OK);
    t_gate_release(&g_rgate);
    CHECK(pthread_join(tg, NULL) == 0);
    CHECK(pthread_join(tp, NULL) == 0);
    CHECK_R(gj.r, KVS_OK);
    CHECK_R(bp.r, KVS_OK);
    CHECK_R(kvs_store_exists(a, "k1", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_exists(a, "k2", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_get(a, "k3", 2, rd, 2 * VLEN, &n), KVS_OK);
    CHECK(n == 2 * VLEN && memcmp(rd, big, n) == 0);
    free(gj.buf);
    free(big);
    free(rd);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- the last resort waits for a new pass ----
   Another put's old value (Y, its overwrite under way) is a put's last
   resort: it goes only when nothing else can. Here X was taken out of T2's
   pass by T1's failed try (X pinned in B), and B unpinned X before T2 chose
   again: T2 must try X in a new pass, not evict Y. The overwrite of Y then
   fails, and Y's old value is still there. Four objects' room: Z, X, W, Y.
   P (overwrite of Y) is held at its temporary file's creation and then
   fails; T2 (two objects' room) is held in its eviction of Z; T1 (one
   object) fails on X, evicts W and is held in its write. */
static t_gate g_pgate = T_GATE_INIT, g_zgate = T_GATE_INIT, g_wgate = T_GATE_INIT;
static int g_fail_create;
static char g_zname[KVS_FSNAME_MAX + 1];

static int h_openat_fail(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    if ((flags & O_CREAT) && __atomic_exchange_n(&g_fail_create, 0, __ATOMIC_SEQ_CST)) {
        t_gate_pass(&g_pgate, 1, NULL, NULL);
        return -EIO;
    }
    fd = openat(dfd, path, flags, (mode_t)mode);
    return fd < 0 ? -errno : fd;
}

static int h_renameat_z(void *u, int fd1, const char *from, int fd2, const char *to)
{
    (void)u;
    t_gate_pass(&g_zgate, 1, from, NULL);
    return renameat(fd1, from, fd2, to) == 0 ? 0 : -errno;
}

static int64_t h_pwritev_t1(void *u, int fd, const kvs_iovec *v, int cnt, uint64_t off)
{
    ssize_t n;
    (void)u;
    if (cnt > 1)
        t_gate_pass(&g_wgate, 1, NULL, v[cnt - 1].base);
    n = pwritev(fd, (const struct iovec *)(const void *)v, cnt, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

static void test_last_resort_after_new_pass(const char *dir)
{
    kvs_store *a, *b;
    kvs_sysops ops;
    pthread_t tpp, t1, t2;
    putjob jp, j1, j2;
    unsigned char y2[VLEN], *big = (unsigned char *)xalloc(2 * VLEN), *v1 = (unsigned char *)xalloc(VLEN);
    static const char *const keys[4] = {"Z", "X", "W", "Y"};
    size_t n = 0;
    int k;
    memset(&ops, 0, sizeof ops);
    ops.openat = h_openat_fail;
    ops.renameat = h_renameat_z;
    ops.pwritev = h_pwritev_t1;
    if (!open_pair_cap(dir, 4 * (4096 + VLEN), &ops, NULL, &a, &b))
        return;
    for (k = 0; k < 4; k++)
        CHECK_R(kvs_store_put(a, keys[k], 1, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_pin(b, "X", 1), KVS_OK);
    fs_name_of("Z", g_zname);
    memset(y2, 'y', sizeof y2);
    memset(big, '2', 2 * VLEN);
    memset(v1, '1', VLEN);
    /* P: the overwrite of Y, held before its temporary file exists */
    __atomic_store_n(&g_fail_create, 1, __ATOMIC_SEQ_CST);
    t_gate_arm(&g_pgate, 1, NULL, NULL);
    jp.s = a, jp.key = "Y", jp.val = y2, jp.len = VLEN, jp.r = KVS_OK;
    CHECK(pthread_create(&tpp, NULL, putjob_main, &jp) == 0);
    CHECK(t_gate_wait_entered(&g_pgate));
    /* T2: room for two, held while it takes Z away */
    t_gate_arm(&g_zgate, 1, g_zname, NULL);
    j2.s = a, j2.key = "K2", j2.val = big, j2.len = 2 * VLEN, j2.r = KVS_E_IO;
    CHECK(pthread_create(&t2, NULL, putjob_main, &j2) == 0);
    CHECK(t_gate_wait_entered(&g_zgate));
    /* T1: Z busy, X pinned in B (a failure T2's pass did not see), W
       evicted; held in its write, its room reserved */
    t_gate_arm(&g_wgate, 1, NULL, v1);
    j1.s = a, j1.key = "K1", j1.val = v1, j1.len = VLEN, j1.r = KVS_E_IO;
    CHECK(pthread_create(&t1, NULL, putjob_main, &j1) == 0);
    CHECK(t_gate_wait_entered(&g_wgate));
    CHECK_R(kvs_store_exists(a, "W", 1), KVS_NOT_FOUND);
    CHECK_R(kvs_store_unpin(b, "X", 1), KVS_OK);
    t_gate_release(&g_zgate);
    CHECK(pthread_join(t2, NULL) == 0);
    t_gate_release(&g_wgate);
    CHECK(pthread_join(t1, NULL) == 0);
    t_gate_release(&g_pgate);
    CHECK(pthread_join(tpp, NULL) == 0);
    CHECK_R(j2.r, KVS_OK);
    CHECK_R(j1.r, KVS_OK);
    CHECK_R(jp.r, KVS_E_IO);
    CHECK_R(kvs_store_exists(a, "X", 1), KVS_NOT_FOUND); /* X went, not Y */
    get_is(a, "Y"); /* the old value of the failed overwrite */
    CHECK_R(kvs_store_get(a, "K2", 2, big, 2 * VLEN, &n), KVS_OK);
    CHECK(n == 2 * VLEN && big[0] == '2');
    free(big);
    free(v1);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- an overwrite of a key another handle removed ----
   A still counts k1's file, which B removed; an overwrite that would not
   fit beside the old file looks at the name before it fails (it used to
   fail with KVS_E_FULL for ever, the directory empty). One that does not
   fit beside a file that is there still fails at once. */
static void test_overwrite_after_remove_elsewhere(const char *dir)
{
    kvs_store *a, *b;
    unsigned char *big = (unsigned char *)xalloc(2 * VLEN);
    kvs_store_stats st;
    memset(big, 'R', 2 * VLEN);
    if (!open_pair(dir, NULL, NULL, &a, &b))
        return;
    CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_remove(b, "k1", 2), KVS_OK);
    CHECK_R(kvs_store_put(a, "k1", 2, big, 2 * VLEN), KVS_OK);
    kvs_store_get_stats(a, &st);
    CHECK(st.objects == 1 && st.evictions == 0);
    /* the 2 x VLEN file is there now: a second such overwrite can never
       fit beside it */
    CHECK_R(kvs_store_put(a, "k1", 2, big, 2 * VLEN), KVS_E_FULL);
    CHECK_R(kvs_store_exists(a, "k1", 2), KVS_OK);
    free(big);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
    /* the rest of the room taken by an object pinned in the other handle
       (found only by trying it): the overwrite looks at its name too */
    if (!open_pair_cap(dir, 10 * 4096, NULL, NULL, &a, &b))
        return;
    big = (unsigned char *)xalloc(4 * 4096);
    memset(big, 'P', 4 * 4096);
    CHECK_R(kvs_store_put(a, "k1", 2, big, 4 * 4096), KVS_OK); /* 5 blocks */
    CHECK_R(kvs_store_put(a, "z", 1, g_val, VLEN), KVS_OK);    /* 3 blocks */
    CHECK_R(kvs_store_pin(b, "z", 1), KVS_OK);
    CHECK_R(kvs_store_remove(b, "k1", 2), KVS_OK);
    CHECK_R(kvs_store_put(a, "k1", 2, big, 4 * 4096), KVS_OK);
    CHECK_R(kvs_store_exists(a, "z", 1), KVS_OK);
    kvs_store_get_stats(a, &st);
    CHECK(st.objects == 2 && st.evictions == 0);
    CHECK_R(kvs_store_unpin(b, "z", 1), KVS_OK);
    free(big);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* The look of such an overwrite at its name, held while handle B puts a
   one-byte k1 and a get of it in A records that file: the overwrite looks
   at the room again (k1 now takes 2 blocks, and the new value's 5 fit
   beside it) and succeeds (it used to fail with KVS_E_FULL because the
   record changed during the look). */
static t_gate g_sgate = T_GATE_INIT;

static int h_fstatat_gate(void *u, int dfd, const char *path, kvs_file_status *st)
{
    (void)u;
    t_gate_pass(&g_sgate, 1, path, NULL);
    return kvs_sys_fstatat(dfd, path, st);
}

static void test_overwrite_look_meanwhile(const char *dir)
{
    kvs_store *a, *b;
    kvs_sysops ops;
    pthread_t t;
    putjob bp;
    char name[KVS_FSNAME_MAX + 1];
    unsigned char *big = (unsigned char *)xalloc(2 * VLEN), *rd = (unsigned char *)xalloc(2 * VLEN);
    size_t n = 0;
    memset(&ops, 0, sizeof ops);
    ops.fstatat = h_fstatat_gate;
    memset(big, 'L', 2 * VLEN);
    if (!open_pair(dir, &ops, NULL, &a, &b))
        return;
    CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_remove(b, "k1", 2), KVS_OK);
    fs_name_of("k1", name);
    t_gate_arm(&g_sgate, 1, name, NULL);
    bp.s = a;
    bp.key = "k1";
    bp.val = big;
    bp.len = 2 * VLEN;
    bp.r = KVS_E_IO;
    CHECK(pthread_create(&t, NULL, putjob_main, &bp) == 0);
    CHECK(t_gate_wait_entered(&g_sgate)); /* the overwrite looks at the name */
    CHECK_R(kvs_store_put(b, "k1", 2, "1", 1), KVS_OK);
    CHECK_R(kvs_store_get(a, "k1", 2, rd, 2 * VLEN, &n), KVS_OK);
    CHECK(n == 1 && rd[0] == '1');
    t_gate_release(&g_sgate);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_R(bp.r, KVS_OK);
    CHECK_R(kvs_store_get(a, "k1", 2, rd, 2 * VLEN, &n), KVS_OK);
    CHECK(n == 2 * VLEN && memcmp(rd, big, n) == 0);
    free(big);
    free(rd);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- a miss while an eviction has the file aside, and puts it back ----
   Handle A evicts k1 for a put: k1 goes to a temporary name, and its
   unlink there fails (EIO, with the gate holding it), so the eviction puts
   it back. Meanwhile (mode 0) a get of k1 in A, (1) a get of k1 in handle
   B, or (2) a remove of k1 in B finds nothing at the name. A get waits and
   reads k1 (it used to miss, and A stopped counting a file that was back
   on disk: its bound could then be exceeded); the remove waits for A's
   eviction (its lock) and removes the file put back (it used to answer
   "not found" and leave k1 to come back). Mode 3: as mode 0, and a second
   get of k1 in A reads and records k1 while the first one looks at the
   name again: the first reads it too (it used to miss). Mode 4: the same,
   with the second get before the first one's look (the first is held just
   after its miss): the first reads k1 too. */
static t_gate g_backgate = T_GATE_INIT;
static t_gate g_lookgate = T_GATE_INIT, g_missgate = T_GATE_INIT;
static int g_marmed;           /* the next open of g_pname that misses holds */
static int g_parmed;           /* the next unlink of a temporary name fails */
static int g_larmed;           /* the next fstatat that finds g_pname holds */
static int g_pmissed;          /* an open or unlink of g_pname found nothing */
static char g_pname[KVS_FSNAME_MAX + 1];

static int is_temp_name(const char *p)
{
    unsigned char kb[KVS_KEY_MAX];
    size_t kl = 0;
    kvs_fsname_kind k;
    return kvs_fsname_decode(p, strlen(p), kb, sizeof kb, &kl, &k) == KVS_OK && k == KVS_FSNAME_TEMP;
}

static int h_unlinkat_putback(void *u, int dfd, const char *path, int flags)
{
    int r;
    (void)u;
    if (is_temp_name(path) && __atomic_exchange_n(&g_parmed, 0, __ATOMIC_ACQ_REL)) {
        t_gate_pass(&g_backgate, 1, "temp", NULL);
        return -EIO;
    }
    r = unlinkat(dfd, path, flags) == 0 ? 0 : -errno;
    if (r == -ENOENT && strcmp(path, g_pname) == 0)
        __atomic_store_n(&g_pmissed, 1, __ATOMIC_RELEASE);
    return r;
}

static int h_fstatat_putback(void *u, int dfd, const char *path, kvs_file_status *st)
{
    int r;
    (void)u;
    r = kvs_sys_fstatat(dfd, path, st);
    if (r == 0 && strcmp(path, g_pname) == 0 && __atomic_exchange_n(&g_larmed, 0, __ATOMIC_ACQ_REL))
        t_gate_pass(&g_lookgate, 1, "look", NULL);
    return r;
}

static int h_openat_putback(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    fd = openat(dfd, path, flags, (mode_t)mode);
    if (fd < 0 && errno == ENOENT && strcmp(path, g_pname) == 0) {
        __atomic_store_n(&g_pmissed, 1, __ATOMIC_RELEASE);
        if (__atomic_exchange_n(&g_marmed, 0, __ATOMIC_ACQ_REL)) {
            t_gate_pass(&g_missgate, 1, "miss", NULL);
            errno = ENOENT;
        }
    }
    return fd >= 0 ? fd : -errno;
}

typedef struct opjob {
    kvs_store *s;
    int remove;
    size_t n;
    kvs_result r;
} opjob;

static void *opjob_main(void *arg)
{
    opjob *j = (opjob *)arg;
    j->r = j->remove ? kvs_store_remove(j->s, "k1", 2) : kvs_store_get(j->s, "k1", 2, g_rd, VLEN, &j->n);
    return NULL;
}

static void test_miss_during_putback(const char *dir, int mode)
{
    kvs_store *a, *b;
    kvs_sysops ops;
    pthread_t tp, to;
    putjob wp;
    opjob op;
    kvs_store_stats st;
    unsigned char *big = (unsigned char *)xalloc(4 * 4096);
    memset(&ops, 0, sizeof ops);
    ops.unlinkat = h_unlinkat_putback;
    ops.openat = h_openat_putback;
    ops.fstatat = h_fstatat_putback;
    memset(big, 'W', 4 * 4096);
    fs_name_of("k1", g_pname);
    __atomic_store_n(&g_parmed, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&g_pmissed, 0, __ATOMIC_RELEASE);
    if (!open_pair_cap(dir, 10 * 4096, &ops, &ops, &a, &b)) {
        free(big);
        return;
    }
    CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK); /* 3 blocks */
    CHECK_R(kvs_store_put(a, "k2", 2, g_val, VLEN), KVS_OK); /* 3 blocks */
    if (mode == 1)
        get_is(b, "k1"); /* B counts k1 */
    t_gate_arm(&g_backgate, 1, "temp", NULL);
    __atomic_store_n(&g_parmed, 1, __ATOMIC_RELEASE);
    wp.s = a;
    wp.key = "w";
    wp.val = big;
    wp.len = 4 * 4096; /* 5 blocks: k1, the least recent, goes */
    wp.r = KVS_E_IO;
    CHECK(pthread_create(&tp, NULL, putjob_main, &wp) == 0);
    CHECK(t_gate_wait_entered(&g_backgate)); /* k1 is aside; its unlink will fail */
    op.s = mode == 0 || mode >= 3 ? a : b;
    op.remove = mode == 2;
    op.n = 0;
    op.r = KVS_E_IO;
    memset(g_rd, 0, VLEN);
    if (mode == 4) {
        t_gate_arm(&g_missgate, 1, "miss", NULL);
        __atomic_store_n(&g_marmed, 1, __ATOMIC_RELEASE);
    }
    CHECK(pthread_create(&to, NULL, opjob_main, &op) == 0);
    CHECK(wait_flag(&g_pmissed)); /* it found nothing at the name */
    if (mode == 4) {
        size_t n2 = 0;
        unsigned char *rd2 = (unsigned char *)xalloc(VLEN);
        CHECK(t_gate_wait_entered(&g_missgate)); /* held just after its miss */
        t_gate_release(&g_backgate);
        CHECK(pthread_join(tp, NULL) == 0); /* k1 back, the put done */
        CHECK_R(kvs_store_get(a, "k1", 2, rd2, VLEN, &n2), KVS_OK);
        CHECK(n2 == VLEN && memcmp(rd2, g_val, VLEN) == 0);
        t_gate_release(&g_missgate);
        __atomic_store_n(&g_marmed, 0, __ATOMIC_RELEASE);
        free(rd2);
    } else if (mode == 3) {
        size_t n2 = 0;
        unsigned char *rd2 = (unsigned char *)xalloc(VLEN);
        t_gate_arm(&g_lookgate, 1, "look", NULL);
        __atomic_store_n(&g_larmed, 1, __ATOMIC_RELEASE);
        t_gate_release(&g_backgate);
        CHECK(t_gate_wait_entered(&g_lookgate)); /* the first get found k1 back */
        CHECK_R(kvs_store_get(a, "k1", 2, rd2, VLEN, &n2), KVS_OK);
        CHECK(n2 == VLEN && memcmp(rd2, g_val, VLEN) == 0);
        t_gate_release(&g_lookgate);
        free(rd2);
    } else {
        t_gate_release(&g_backgate);
    }
    CHECK(pthread_join(to, NULL) == 0);
    if (mode != 4)
        CHECK(pthread_join(tp, NULL) == 0);
    CHECK_R(wp.r, KVS_OK); /* k2 went instead */
    if (mode == 2) {
        CHECK_R(op.r, KVS_OK);
        CHECK_R(kvs_store_exists(a, "k1", 2), KVS_NOT_FOUND);
        CHECK_R(kvs_store_exists(b, "k1", 2), KVS_NOT_FOUND);
        CHECK(count_files(dir, 1) == 1); /* w */
    } else {
        CHECK_R(op.r, KVS_OK);
        CHECK(op.n == VLEN && memcmp(g_rd, g_val, VLEN) == 0);
        CHECK(count_files(dir, 1) == 2); /* k1, w */
        kvs_store_get_stats(a, &st);
        CHECK(st.objects == 2 && st.disk_bytes == 8 * 4096); /* A counts both */
        /* and so its bound holds: a put of 4 blocks evicts */
        CHECK_R(kvs_store_put(a, "k3", 2, big, 3 * 4096), KVS_OK);
        kvs_store_get_stats(a, &st);
        CHECK(st.disk_bytes <= 10 * 4096 && st.objects == count_files(dir, 1));
    }
    CHECK(count_files(dir, 2) == 0); /* no temporary file left */
    free(big);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- the byte held through the second look ----
   A evicts k1 twice, and each time the unlink under the temporary name
   fails, so k1 goes back. B counts k1; its get (mode 0) or remove (mode 1)
   misses during the first eviction and waits on A's byte. The moment B
   gives the byte up, A's second eviction takes k1 aside (and is held
   there). B's look at the name came before that, with the byte held, and
   found k1: the get reads again, misses again and, A holding the name for
   the whole wait, answers KVS_E_BUSY with k1 still counted; the remove
   removes k1. (The byte used to be given up before that look, which then
   found nothing: the get missed and dropped k1 from B's count, the remove
   answered "not found", and k1 came back.) Mode 2: B put k1 (not yet
   synced), and B's sync finds it aside: it waits, and syncs k1 (it used
   to open the name again after giving the byte up, find nothing, and
   take k1 for removed: not synced, yet back on disk). */
static t_gate g_ev1 = T_GATE_INIT, g_ev2 = T_GATE_INIT;
static int g_k1fd = -1, g_k1synced; /* B's open of k1 (not for a get), and its fdatasync */
static int g_evarmed;          /* 1, 2: which eviction's unlink holds and fails */
static int g_bwaits, g_bunarmed, g_ew2done, g_et2made;
static kvs_store *g_ea;
static unsigned char *g_ebig;
static pthread_t g_et1, g_et2;
static putjob g_ew1, g_ew2;

static int h_unlinkat_twice(void *u, int dfd, const char *path, int flags)
{
    int n;
    (void)u;
    if (is_temp_name(path) && (n = __atomic_exchange_n(&g_evarmed, 0, __ATOMIC_ACQ_REL)) != 0) {
        t_gate_pass(n == 1 ? &g_ev1 : &g_ev2, 1, "t", NULL);
        return -EIO;
    }
    return unlinkat(dfd, path, flags) == 0 ? 0 : -errno;
}

static int h_openat_k1(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    fd = openat(dfd, path, flags, (mode_t)mode);
    if (fd >= 0 && strcmp(path, g_pname) == 0)
        __atomic_store_n(&g_k1fd, fd, __ATOMIC_RELEASE);
    return fd >= 0 ? fd : -errno;
}

static int h_fdatasync_k1(void *u, int fd)
{
    (void)u;
    if (fd == __atomic_load_n(&g_k1fd, __ATOMIC_ACQUIRE))
        __atomic_store_n(&g_k1synced, 1, __ATOMIC_RELEASE);
    return fdatasync(fd) == 0 ? 0 : -errno;
}

static void *sync_main(void *arg)
{
    opjob *j = (opjob *)arg;
    j->r = kvs_store_sync(j->s);
    return NULL;
}

static void *evict2_main(void *arg)
{
    putjob_main(arg);
    __atomic_store_n(&g_ew2done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int gate_entered(t_gate *g)
{
    int e;
    pthread_mutex_lock(&g->mu);
    e = g->entered;
    pthread_mutex_unlock(&g->mu);
    return e;
}

static int h_lock_then_evict(void *u, int fd, int how, uint64_t off)
{
    int r, i;
    (void)u;
    r = kvs_sys_lock(fd, how, off);
    if (off != 0 && how == KVS_LOCK_SH && r == -EAGAIN)
        __atomic_store_n(&g_bwaits, 1, __ATOMIC_RELEASE);
    if (off != 0 && how == KVS_LOCK_UN && r == 0 && __atomic_exchange_n(&g_bunarmed, 0, __ATOMIC_ACQ_REL)) {
        __atomic_store_n(&g_et2made, 1, __ATOMIC_RELEASE);
        CHECK(pthread_join(g_et1, NULL) == 0);
        t_gate_arm(&g_ev2, 1, "t", NULL);
        __atomic_store_n(&g_evarmed, 2, __ATOMIC_RELEASE);
        g_ew2.s = g_ea;
        g_ew2.key = "w2";
        g_ew2.val = g_ebig;
        g_ew2.len = 4 * 4096;
        g_ew2.r = KVS_E_IO;
        CHECK(pthread_create(&g_et2, NULL, evict2_main, &g_ew2) == 0);
        /* k1 aside again; or, when B removed it, the put done without */
        for (i = 0; i < 30000 && !gate_entered(&g_ev2) && !__atomic_load_n(&g_ew2done, __ATOMIC_ACQUIRE); i++)
            t_sleep_ms(1);
    }
    return r;
}

static void test_aside_again(const char *dir, int mode)
{
    kvs_store *b;
    kvs_sysops oa, ob;
    pthread_t to;
    opjob op;
    kvs_store_stats st;
    memset(&oa, 0, sizeof oa);
    memset(&ob, 0, sizeof ob);
    oa.unlinkat = h_unlinkat_twice;
    ob.lock = h_lock_then_evict;
    ob.openat = h_openat_k1;
    ob.fdatasync = h_fdatasync_k1;
    fs_name_of("k1", g_pname);
    __atomic_store_n(&g_k1synced, 0, __ATOMIC_RELEASE);
    g_ebig = (unsigned char *)xalloc(4 * 4096);
    memset(g_ebig, 'E', 4 * 4096);
    __atomic_store_n(&g_evarmed, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&g_bwaits, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&g_bunarmed, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&g_ew2done, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&g_et2made, 0, __ATOMIC_RELEASE);
    if (!open_pair_cap(dir, 10 * 4096, &oa, &ob, &g_ea, &b)) {
        free(g_ebig);
        return;
    }
    if (mode == 2) {
        CHECK_R(kvs_store_put(b, "k1", 2, g_val, VLEN), KVS_OK); /* to sync */
        get_is(g_ea, "k1");
    } else {
        CHECK_R(kvs_store_put(g_ea, "k1", 2, g_val, VLEN), KVS_OK);
    }
    CHECK_R(kvs_store_put(g_ea, "k2", 2, g_val, VLEN), KVS_OK);
    get_is(b, "k1"); /* B counts k1 */
    __atomic_store_n(&g_k1fd, -1, __ATOMIC_RELEASE);
    t_gate_arm(&g_ev1, 1, "t", NULL);
    __atomic_store_n(&g_evarmed, 1, __ATOMIC_RELEASE);
    g_ew1.s = g_ea;
    g_ew1.key = "w";
    g_ew1.val = g_ebig;
    g_ew1.len = 4 * 4096; /* 5 blocks: k1, the least recent, goes */
    g_ew1.r = KVS_E_IO;
    CHECK(pthread_create(&g_et1, NULL, putjob_main, &g_ew1) == 0);
    CHECK(t_gate_wait_entered(&g_ev1)); /* k1 aside */
    op.s = b;
    op.remove = mode == 1;
    op.n = 0;
    op.r = KVS_E_IO;
    CHECK(pthread_create(&to, NULL, mode == 2 ? sync_main : opjob_main, &op) == 0);
    CHECK(wait_flag(&g_bwaits)); /* B missed, and waits on A's byte */
    __atomic_store_n(&g_bunarmed, 1, __ATOMIC_RELEASE);
    t_gate_release(&g_ev1); /* k1 goes back */
    CHECK(pthread_join(to, NULL) == 0);
    kvs_store_get_stats(b, &st);
    if (mode == 0) {
        CHECK_R(op.r, KVS_E_BUSY);
        CHECK(st.objects == 1); /* k1, which comes back */
    } else if (mode == 1) {
        CHECK_R(op.r, KVS_OK);
        CHECK(st.objects == 0);
    } else {
        CHECK_R(op.r, KVS_OK);
        CHECK(__atomic_load_n(&g_k1synced, __ATOMIC_ACQUIRE)); /* k1's data synced */
    }
    t_gate_release(&g_ev2);
    __atomic_store_n(&g_evarmed, 0, __ATOMIC_RELEASE); /* mode 1: never used */
    CHECK(__atomic_load_n(&g_et2made, __ATOMIC_ACQUIRE)); /* B gave the byte up */
    if (__atomic_load_n(&g_et2made, __ATOMIC_ACQUIRE)) {
        CHECK(pthread_join(g_et2, NULL) == 0);
        CHECK_R(g_ew2.r, KVS_OK);
    } else {
        __atomic_store_n(&g_bunarmed, 0, __ATOMIC_RELEASE);
        CHECK(pthread_join(g_et1, NULL) == 0);
    }
    CHECK_R(g_ew1.r, KVS_OK);
    CHECK_R(kvs_store_exists(b, "k1", 2), mode != 1 ? KVS_OK : KVS_NOT_FOUND);
    if (mode != 1)
        get_is(b, "k1");
    CHECK(count_files(dir, 2) == 0);
    free(g_ebig);
    CHECK_R(kvs_store_close(g_ea), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- a remove beside a sync that waits for the byte ----
   A's eviction has k1 (put by B, not yet synced) aside. B's sync misses k1
   and waits on A's byte, holding k1 busy in B. B's remove of k1 waits
   behind the sync (it used to miss at once, then find the byte the sync had
   taken since, which once made it skip its own wait, drop k1 from B's count
   and answer "not found", k1 on disk). A puts k1 back; the sync opens it,
   and the remove then removes it. */
static int g_rmunlinks; /* B's unlinks of g_pname */

static int h_unlinkat_rm(void *u, int dfd, const char *path, int flags)
{
    (void)u;
    if (strcmp(path, g_pname) == 0)
        __atomic_add_fetch(&g_rmunlinks, 1, __ATOMIC_ACQ_REL);
    return unlinkat(dfd, path, flags) == 0 ? 0 : -errno;
}

static int h_lock_waits(void *u, int fd, int how, uint64_t off)
{
    int r;
    (void)u;
    r = kvs_sys_lock(fd, how, off);
    if (off != 0 && how == KVS_LOCK_SH && r == -EAGAIN)
        __atomic_store_n(&g_bwaits, 1, __ATOMIC_RELEASE);
    return r;
}

static void test_remove_beside_sync(const char *dir)
{
    kvs_store *a, *b;
    kvs_sysops oa, ob;
    pthread_t tp, ts, tr;
    putjob wp;
    opjob sj, rj;
    unsigned char *big = (unsigned char *)xalloc(4 * 4096);
    memset(&oa, 0, sizeof oa);
    memset(&ob, 0, sizeof ob);
    oa.unlinkat = h_unlinkat_putback;
    ob.unlinkat = h_unlinkat_rm;
    ob.lock = h_lock_waits;
    memset(big, 'S', 4 * 4096);
    fs_name_of("k1", g_pname);
    __atomic_store_n(&g_bwaits, 0, __ATOMIC_RELEASE);
    if (!open_pair_cap(dir, 10 * 4096, &oa, &ob, &a, &b)) {
        free(big);
        return;
    }
    CHECK_R(kvs_store_put(b, "k1", 2, g_val, VLEN), KVS_OK); /* unsynced in B */
    get_is(a, "k1");
    CHECK_R(kvs_store_put(a, "k2", 2, g_val, VLEN), KVS_OK);
    t_gate_arm(&g_backgate, 1, "temp", NULL);
    __atomic_store_n(&g_parmed, 1, __ATOMIC_RELEASE);
    wp.s = a;
    wp.key = "w";
    wp.val = big;
    wp.len = 4 * 4096;
    wp.r = KVS_E_IO;
    CHECK(pthread_create(&tp, NULL, putjob_main, &wp) == 0);
    CHECK(t_gate_wait_entered(&g_backgate)); /* k1 aside, A holds its byte */
    sj.s = b;
    sj.remove = 0;
    sj.r = KVS_E_IO;
    CHECK(pthread_create(&ts, NULL, sync_main, &sj) == 0);
    CHECK(wait_flag(&g_bwaits)); /* the sync waits on A's byte */
    rj.s = b;
    rj.remove = 1;
    rj.r = KVS_E_IO;
    rj.n = 0;
    CHECK(pthread_create(&tr, NULL, opjob_main, &rj) == 0);
    t_sleep_ms(200);
    CHECK(__atomic_load_n(&g_rmunlinks, __ATOMIC_ACQUIRE) == 0); /* waits behind the sync */
    t_gate_release(&g_backgate); /* k1 goes back */
    CHECK(pthread_join(tp, NULL) == 0);
    CHECK(pthread_join(ts, NULL) == 0);
    CHECK(pthread_join(tr, NULL) == 0);
    CHECK_R(sj.r, KVS_OK);
    CHECK_R(wp.r, KVS_OK);
    CHECK_R(rj.r, KVS_OK);
    CHECK_R(kvs_store_exists(b, "k1", 2), KVS_NOT_FOUND);
    CHECK(objects_of(b) == 0);
    free(big);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- a miss while another handle's eviction holds the name, and holds
   it past the wait (KVSI_PIN_WAIT_MS, 2 s here): B counts k1, its file is
   removed behind B's back, and every shared lock of a name in B answers
   EAGAIN. B's get and remove of k1 wait, then answer KVS_E_BUSY and keep
   counting k1 (it may still come back); the get opens the name once (it
   does not read again after the wait). Once the name is free, a get finds
   k1 gone and stops counting it. */
static int g_hold;          /* B's shared locks of names answer EAGAIN */
static int g_hopens;        /* B's opens of g_pname */

static int h_lock_hold(void *u, int fd, int how, uint64_t off)
{
    (void)u;
    if (how == KVS_LOCK_SH && off != 0 && __atomic_load_n(&g_hold, __ATOMIC_ACQUIRE))
        return -EAGAIN;
    return kvs_sys_lock(fd, how, off);
}

static int h_openat_count(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    if (strcmp(path, g_pname) == 0)
        __atomic_add_fetch(&g_hopens, 1, __ATOMIC_ACQ_REL);
    fd = openat(dfd, path, flags, (mode_t)mode);
    return fd >= 0 ? fd : -errno;
}

static void test_miss_name_held(const char *dir)
{
    kvs_store *a, *b;
    kvs_sysops ops;
    char path[2048];
    size_t n = 0;
    memset(&ops, 0, sizeof ops);
    ops.lock = h_lock_hold;
    ops.openat = h_openat_count;
    fs_name_of("k1", g_pname);
    __atomic_store_n(&g_hold, 0, __ATOMIC_RELEASE);
    if (!open_pair_cap(dir, 0, NULL, &ops, &a, &b))
        return;
    CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK);
    get_is(b, "k1");
    CHECK(objects_of(b) == 1);
    snprintf(path, sizeof path, "%s/%s", dir, g_pname);
    CHECK(unlink(path) == 0);
    __atomic_store_n(&g_hold, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&g_hopens, 0, __ATOMIC_RELEASE);
    CHECK_R(kvs_store_get(b, "k1", 2, g_rd, VLEN, &n), KVS_E_BUSY);
    CHECK(n == 0 && __atomic_load_n(&g_hopens, __ATOMIC_ACQUIRE) == 1);
    CHECK(objects_of(b) == 1);
    CHECK_R(kvs_store_remove(b, "k1", 2), KVS_E_BUSY);
    CHECK(objects_of(b) == 1);
    __atomic_store_n(&g_hold, 0, __ATOMIC_RELEASE);
    CHECK_R(kvs_store_get(b, "k1", 2, g_rd, VLEN, &n), KVS_NOT_FOUND);
    CHECK(objects_of(b) == 0);
    CHECK_R(kvs_store_remove(b, "k1", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- sync's second look beside an eviction of the same handle: A (room
   for one object) counts k1, not yet synced. A's sync finds nothing at k1's
   name (the hook's ENOENT stands for another handle's eviction having it
   aside) and takes k1's byte for its second look. A put of k2 needs k1's
   room meanwhile: it must wait for the sync, then evict k1. Its eviction
   used to try the byte the sync holds, take it for a pin elsewhere and pass
   k1 over; k1 the only candidate, the put answered KVS_E_FULL. The sync is
   held:
     mode 0: in its second open (the byte held and counted in `settled`);
     mode 1: just after its lock call took the byte, before its handle
             counts it;
     mode 2: just before the unlock call that gives the byte up, no longer
             counted;
     mode 3: as 0 with the put waiting, then as 2 while a get of another key
             wakes the put (it must wait again, not fail);
     mode 4: k1's file really removed (by another process); the put's
             eviction has picked k1 and is held before its lock when the
             sync misses k1: the sync waits for that eviction (the name is
             busy) rather than take the byte under it, and the put finds k1
             gone and has its room;
     mode 5: k1's byte held exclusively elsewhere (another handle's
             eviction stopped midway, k1's file aside): the sync's lock
             waits for it, and the put, which could not take the byte
             either, answers KVS_E_FULL at once rather than wait with it. */
static t_gate g_sngate = T_GATE_INIT, g_slgate = T_GATE_INIT;
static int g_snarmed;  /* 1: the next open of g_pname misses; 2: the one after holds */
static int g_slarmed;  /* 1: the next shared lock, 2: the next unlock of a name holds */
static int g_snputdone;
static int g_snevarmed; /* mode 4: the eviction's open of the lock file holds */
static t_gate g_snevgate = T_GATE_INIT;

static int h_openat_syncmiss(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd, e;
    (void)u;
    if (strcmp(path, KVS_PINS_NAME) == 0 && __atomic_exchange_n(&g_snevarmed, 0, __ATOMIC_ACQ_REL))
        t_gate_pass(&g_snevgate, 1, "ev", NULL); /* victim picked, its lock not yet taken */
    if (strcmp(path, g_pname) == 0 && __atomic_load_n(&g_snarmed, __ATOMIC_ACQUIRE) == 1) {
        __atomic_store_n(&g_snarmed, 2, __ATOMIC_RELEASE);
        return -ENOENT;
    }
    fd = openat(dfd, path, flags, (mode_t)mode);
    e = errno;
    if (fd >= 0 && strcmp(path, g_pname) == 0 && __atomic_load_n(&g_snarmed, __ATOMIC_ACQUIRE) == 2) {
        __atomic_store_n(&g_snarmed, 0, __ATOMIC_RELEASE);
        t_gate_pass(&g_sngate, 1, "open", NULL);
    }
    return fd >= 0 ? fd : -e;
}

static int h_lock_syncmiss(void *u, int fd, int how, uint64_t off)
{
    int r;
    (void)u;
    if (off != 0 && how == KVS_LOCK_SH && __atomic_load_n(&g_slarmed, __ATOMIC_ACQUIRE) == 1) {
        __atomic_store_n(&g_slarmed, 0, __ATOMIC_RELEASE);
        r = kvs_sys_lock(fd, how, off);
        t_gate_pass(&g_slgate, 1, "lock", NULL); /* taken, not yet counted */
        return r;
    }
    if (off != 0 && how == KVS_LOCK_UN && __atomic_load_n(&g_slarmed, __ATOMIC_ACQUIRE) == 2) {
        __atomic_store_n(&g_slarmed, 0, __ATOMIC_RELEASE);
        t_gate_pass(&g_slgate, 1, "lock", NULL); /* no longer counted, still held */
    }
    r = kvs_sys_lock(fd, how, off);
    if (off != 0 && how == KVS_LOCK_SH && r == -EAGAIN)
        __atomic_store_n(&g_bwaits, 1, __ATOMIC_RELEASE); /* held elsewhere: waits */
    return r;
}

static void *snput_main(void *arg)
{
    putjob_main(arg);
    __atomic_store_n(&g_snputdone, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_sync_beside_evict(const char *dir, int mode)
{
    kvs_store_config c;
    kvs_store *a;
    kvs_sysops ops;
    pthread_t ts, tp;
    opjob sj;
    putjob wp;
    size_t n = 0;
    memset(&ops, 0, sizeof ops);
    ops.openat = h_openat_syncmiss;
    ops.lock = h_lock_syncmiss;
    fs_name_of("k1", g_pname);
    cfg_fs(&c, dir);
    c.sysops = &ops;
    c.capacity_bytes = (4096 + VLEN) + 4096; /* room for one VLEN object, not two */
    a = open_store(&c);
    CHECK(a != NULL);
    if (a == NULL)
        return;
    CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK);
    CHECK(lock_errno_of(a) == 0); /* the locks work here: the byte is taken */
    __atomic_store_n(&g_snputdone, 0, __ATOMIC_RELEASE);
    sj.s = a;
    sj.remove = 0;
    sj.r = KVS_E_IO;
    wp.s = a;
    wp.key = "k2";
    wp.val = g_val;
    wp.len = VLEN;
    wp.r = KVS_E_IO;
    if (mode == 4 || mode == 5) {
        char path[1600], aside[1600];
        int lfd = -1;
        snprintf(path, sizeof path, "%s/%s", dir, g_pname);
        snprintf(aside, sizeof aside, "%s/aside", dir);
        if (mode == 4) {
            CHECK(unlink(path) == 0);
            t_gate_arm(&g_snevgate, 1, "ev", NULL);
            t_gate_arm(&g_slgate, 1, "lock", NULL);
            __atomic_store_n(&g_snevarmed, 1, __ATOMIC_RELEASE);
            CHECK(pthread_create(&tp, NULL, snput_main, &wp) == 0);
            CHECK(t_gate_wait_entered(&g_snevgate));
            /* a sync that took the byte now would stop in its lock hook,
               holding it, until the put is done */
            __atomic_store_n(&g_slarmed, 1, __ATOMIC_RELEASE);
            CHECK(pthread_create(&ts, NULL, sync_main, &sj) == 0);
            t_sleep_ms(200);
            t_gate_release(&g_snevgate);
            CHECK(pthread_join(tp, NULL) == 0);
            t_gate_release(&g_slgate);
            __atomic_store_n(&g_slarmed, 0, __ATOMIC_RELEASE);
        } else {
            struct timespec t0, t1;
            double ms;
            snprintf(aside, sizeof aside, "%s/%s", dir, KVS_PINS_NAME);
            lfd = open(aside, O_RDWR | O_CLOEXEC);
            CHECK(lfd >= 0 && kvs_sys_lock(lfd, KVS_LOCK_EX, kvs_fsname_lock_byte(g_pname, strlen(g_pname))) == 0);
            snprintf(aside, sizeof aside, "%s/aside", dir);
            CHECK(rename(path, aside) == 0);
            __atomic_store_n(&g_bwaits, 0, __ATOMIC_RELEASE);
            CHECK(pthread_create(&ts, NULL, sync_main, &sj) == 0);
            CHECK(wait_flag(&g_bwaits)); /* the sync's lock waits for the byte */
            clock_gettime(CLOCK_MONOTONIC, &t0);
            CHECK(pthread_create(&tp, NULL, snput_main, &wp) == 0);
            CHECK(pthread_join(tp, NULL) == 0);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            CHECK_R(wp.r, KVS_E_FULL);
            CHECK(ms < 1000.0); /* not the sync's wait (2 s here) */
            CHECK(rename(aside, path) == 0); /* the eviction elsewhere puts k1 back */
            CHECK(close(lfd) == 0);
            CHECK(pthread_join(ts, NULL) == 0);
            CHECK_R(sj.r, KVS_OK);
            get_is(a, "k1");
            CHECK(objects_of(a) == 1 && evictions_of(a) == 0);
            CHECK_R(kvs_store_close(a), KVS_OK);
            return;
        }
    } else {
        t_gate_arm(&g_sngate, mode == 0 || mode == 3 ? 1 : 0, "open", NULL); /* kind 0: disarmed */
        t_gate_arm(&g_slgate, mode != 0 ? 1 : 0, "lock", NULL);
        __atomic_store_n(&g_slarmed, mode == 1 ? 1 : mode == 2 ? 2 : 0, __ATOMIC_RELEASE);
        __atomic_store_n(&g_snarmed, 1, __ATOMIC_RELEASE);
        CHECK(pthread_create(&ts, NULL, sync_main, &sj) == 0);
        CHECK(t_gate_wait_entered(mode == 1 || mode == 2 ? &g_slgate : &g_sngate));
        CHECK(pthread_create(&tp, NULL, snput_main, &wp) == 0);
        t_sleep_ms(200); /* the put reaches its eviction, and waits */
        CHECK(!__atomic_load_n(&g_snputdone, __ATOMIC_ACQUIRE));
        if (mode == 3) {
            __atomic_store_n(&g_slarmed, 2, __ATOMIC_RELEASE);
            t_gate_release(&g_sngate);
            CHECK(t_gate_wait_entered(&g_slgate)); /* about to give the byte up */
            CHECK_R(kvs_store_get(a, "zz", 2, g_rd, VLEN, &n), KVS_NOT_FOUND); /* wakes the put */
            t_sleep_ms(100);
            CHECK(!__atomic_load_n(&g_snputdone, __ATOMIC_ACQUIRE));
        }
        t_gate_release(mode == 0 ? &g_sngate : &g_slgate);
    }
    CHECK(pthread_join(ts, NULL) == 0);
    if (mode != 4)
        CHECK(pthread_join(tp, NULL) == 0);
    CHECK_R(sj.r, KVS_OK);
    CHECK_R(wp.r, KVS_OK);
    CHECK_R(kvs_store_exists(a, "k1", 2), KVS_NOT_FOUND);
    CHECK(evictions_of(a) == (mode == 4 ? 0u : 1u) && objects_of(a) == 1); /* mode 4: found gone */
    get_is(a, "k2");
    CHECK_R(kvs_store_close(a), KVS_OK);
}

/* ---- a pin that cannot get its lock: KVS_E_BUSY, after the wait ----
   (KVSI_PIN_WAIT_MS is 2 s in this test) */
static int h_lock_held(void *u, int fd, int how, uint64_t off)
{
    (void)u;
    if (how == KVS_LOCK_SH && off != 0)
        return -EAGAIN; /* an eviction elsewhere that never ends */
    return kvs_sys_lock(fd, how, off);
}

static void test_pin_gives_up(const char *dir)
{
    kvs_store_config c;
    kvs_store *a;
    kvs_sysops ops;
    struct timespec t0, t1;
    double ms;
    memset(&ops, 0, sizeof ops);
    ops.lock = h_lock_held;
    cfg_fs(&c, dir);
    c.sysops = &ops;
    a = open_store(&c);
    CHECK(a != NULL);
    if (a == NULL)
        return;
    CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_R(kvs_store_pin(a, "k1", 2), KVS_E_BUSY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms >= 2000.0); /* it tried for the whole wait */
    CHECK_R(kvs_store_unpin(a, "k1", 2), KVS_E_INVAL); /* not taken */
    get_is(a, "k1");
    CHECK_R(kvs_store_close(a), KVS_OK);
}

/* ---- 6. raw store: one handle per device file ---- */
#define RDEV ((uint64_t)8 << 20)

static void test_raw_exclusive(const char *path)
{
    kvs_store_config c;
    kvs_store *a, *b = NULL;
    char err[512];
    unsigned char before[4096], after[4096];
    int fd;
    pid_t pid;
    int status = 0, to[2], from[2];
    char byte = 0;
    raw_cfg(&c, path, RDEV, 16384, KVS_DIRECT_PREFER);
    a = open_store(&c);
    CHECK(a != NULL);
    if (a == NULL)
        return;
    CHECK(lock_errno_of(a) == 0);
    CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_sync(a), KVS_OK);
    fd = open(path, O_RDONLY);
    CHECK(fd >= 0 && pread(fd, before, sizeof before, 0) == (ssize_t)sizeof before);
    /* a second handle, any format mode: busy, the device untouched */
    c.format = KVS_FORMAT_ALWAYS;
    CHECK_R(kvs_store_open(&c, &b, err, sizeof err), KVS_E_BUSY);
    CHECK(b == NULL && strstr(err, "another store handle") != NULL);
    CHECK(fd >= 0 && pread(fd, after, sizeof after, 0) == (ssize_t)sizeof after);
    CHECK(memcmp(before, after, sizeof before) == 0);
    if (fd >= 0)
        close(fd);
    get_is(a, "k1");
    CHECK_R(kvs_store_close(a), KVS_OK);
    /* closed: it opens again, and keeps what was put */
    c.format = KVS_FORMAT_IF_EMPTY;
    a = open_store(&c);
    CHECK(a != NULL);
    if (a == NULL)
        return;
    get_is(a, "k1");
    CHECK_R(kvs_store_close(a), KVS_OK);

    /* another process holds it: busy here until that process is gone.
       The child forks with no store thread in this process running. */
    CHECK(pipe(to) == 0 && pipe(from) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        kvs_store *s = open_store(&c);
        byte = (char)(s != NULL ? 'y' : 'n');
        if (write(from[1], &byte, 1) != 1)
            _exit(3);
        if (read(to[0], &byte, 1) != 1) /* then exits without a close */
            _exit(2);
        _exit(0);
    }
    CHECK(read(from[0], &byte, 1) == 1 && byte == 'y');
    CHECK_R(kvs_store_open(&c, &b, err, sizeof err), KVS_E_BUSY);
    CHECK(write(to[1], &byte, 1) == 1);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(to[0]);
    close(to[1]);
    close(from[0]);
    close(from[1]);
    a = open_store(&c);
    CHECK(a != NULL);
    if (a != NULL) {
        get_is(a, "k1");
        CHECK_R(kvs_store_close(a), KVS_OK);
    }
}

/* The raw store where the locks are missing: it opens, and says so; a
   lock that fails otherwise fails the open, and a device file the open
   created is removed again. */
static void test_raw_lock_answers(const char *path)
{
    kvs_store_config c;
    kvs_store *a = NULL;
    kvs_sysops ops;
    lockhook h;
    char err[512];
    struct stat sb;
    memset(&h, 0, sizeof h);
    memset(&ops, 0, sizeof ops);
    ops.user = &h;
    ops.lock = h_lock;
    raw_cfg(&c, path, RDEV, 16384, KVS_DIRECT_PREFER);
    c.sysops = &ops;
    h.ex_err = ENOLCK;
    a = open_store(&c);
    CHECK(a != NULL);
    if (a != NULL) {
        CHECK(lock_errno_of(a) == ENOLCK && h.ex_calls == 1);
        get_is(a, "k1");
        CHECK_R(kvs_store_close(a), KVS_OK);
    }
    h.ex_err = EIO;
    CHECK_R(kvs_store_open(&c, &a, err, sizeof err), KVS_E_IO);
    CHECK(a == NULL && strstr(err, "cannot lock") != NULL);
    CHECK(stat(path, &sb) == 0); /* it was there before: kept */
    CHECK(unlink(path) == 0);
    CHECK_R(kvs_store_open(&c, &a, err, sizeof err), KVS_E_IO);
    CHECK(stat(path, &sb) != 0 && errno == ENOENT); /* made by the open: removed */
}

/* ---- a lock file this handle may only read ----
   (root reads and writes anything, so a hook refuses the read-write open:
   as for another user's 0644 file) The handle opens it read-only; its pins
   hold against A's evictions, its own evictions fail with KVS_E_PERM. */
static int h_openat_ro(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    if (strcmp(path, KVS_PINS_NAME) == 0 && (flags & O_ACCMODE) != O_RDONLY)
        return -EACCES;
    fd = openat(dfd, path, flags, (mode_t)mode);
    return fd < 0 ? -errno : fd;
}

static void test_read_only_lock_file(const char *dir)
{
    kvs_store *a, *b;
    kvs_store_config cb;
    kvs_sysops ops;
    memset(&ops, 0, sizeof ops);
    ops.openat = h_openat_ro;
    if (!open_pair(dir, NULL, &ops, &a, &b))
        return;
    CHECK(lock_errno_of(b) == 0);
    put_k1_k2(a, g_val, VLEN);
    CHECK_R(kvs_store_pin(b, "k1", 2), KVS_OK);
    CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_OK); /* k2 goes, not k1 */
    get_is(a, "k1");
    CHECK_R(kvs_store_exists(a, "k2", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_close(b), KVS_OK);
    /* such a handle with a capacity: its evictions cannot lock */
    cfg_fs(&cb, dir);
    cb.sysops = &ops;
    cb.capacity_bytes = CAP2;
    b = open_store(&cb);
    CHECK(b != NULL);
    if (b != NULL) {
        CHECK_R(kvs_store_put(b, "k4", 2, g_val, VLEN), KVS_E_PERM);
        get_is(b, "k1");
        get_is(b, "k3");
        CHECK_R(kvs_store_close(b), KVS_OK);
    }
    CHECK_R(kvs_store_close(a), KVS_OK);
}

/* ---- after fork: the child's copies of the lock descriptors ----
   Without kvs_store_drop_locks_after_fork the child keeps the raw device
   busy after the parent closed it; with it, the parent reopens at once.
   Same for a filesystem store's pins. The children exit when told. */
static pid_t fork_holder(kvs_store *s, int drop, int *to_child)
{
    int to[2], from[2];
    char byte = 0;
    pid_t pid;
    CHECK(pipe(to) == 0 && pipe(from) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (drop)
            kvs_store_drop_locks_after_fork(s);
        if (write(from[1], "r", 1) != 1 || read(to[0], &byte, 1) != 1)
            _exit(2);
        _exit(0);
    }
    close(to[0]);
    close(from[1]);
    CHECK(read(from[0], &byte, 1) == 1 && byte == 'r');
    close(from[0]);
    *to_child = to[1];
    return pid;
}

static void end_holder(pid_t pid, int to_child)
{
    int status = 0;
    CHECK(write(to_child, "x", 1) == 1);
    close(to_child);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_fork(const char *rawpath, const char *dir)
{
    kvs_store_config c, ca, cb;
    kvs_store *a, *b = NULL;
    char err[512];
    int drop, to = -1;
    pid_t pid;
    raw_cfg(&c, rawpath, RDEV, 16384, KVS_DIRECT_PREFER);
    for (drop = 0; drop < 2; drop++) {
        a = open_store(&c);
        CHECK(a != NULL);
        if (a == NULL)
            return;
        pid = fork_holder(a, drop, &to);
        CHECK_R(kvs_store_close(a), KVS_OK);
        if (!drop) {
            CHECK_R(kvs_store_open(&c, &b, err, sizeof err), KVS_E_BUSY); /* the child's copy */
            end_holder(pid, to);
        }
        a = open_store(&c);
        CHECK(a != NULL);
        if (drop)
            end_holder(pid, to);
        if (a != NULL) {
            get_is(a, "k1");
            CHECK_R(kvs_store_close(a), KVS_OK);
        }
    }
    /* Filesystem store: B pins both of A's objects, forks, and closes.
       The child shares B's lock descriptor: an unpin in B still drops its
       lock (one file description), but the pins B held at its close stay
       held while a child that did not drop them lives. */
    cfg_fs(&ca, dir);
    ca.capacity_bytes = CAP2;
    cfg_fs(&cb, dir);
    a = open_store(&ca);
    CHECK(a != NULL);
    if (a == NULL)
        return;
    put_k1_k2(a, g_val, VLEN);
    for (drop = 0; drop < 2; drop++) {
        const char *next = drop ? "k4" : "k3";
        b = open_store(&cb);
        CHECK(b != NULL);
        if (b == NULL)
            break;
        CHECK_R(kvs_store_pin(b, "k1", 2), KVS_OK);
        CHECK_R(kvs_store_pin(b, "k2", 2), KVS_OK);
        pid = fork_holder(b, drop, &to);
        CHECK_R(kvs_store_close(b), KVS_OK);
        if (!drop) {
            CHECK_R(kvs_store_put(a, next, 2, g_val, VLEN), KVS_E_FULL); /* the child holds B's pins */
            end_holder(pid, to);
            CHECK_R(kvs_store_put(a, next, 2, g_val, VLEN), KVS_OK);
            /* k1 (evicted by that put) and k2 again, for the second
               round (an overwrite of k2 now would evict k1: never its
               own old value) */
            CHECK_R(kvs_store_remove(a, next, 2), KVS_OK);
            CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK);
            CHECK_R(kvs_store_exists(a, "k2", 2), KVS_OK);
        } else {
            CHECK_R(kvs_store_put(a, next, 2, g_val, VLEN), KVS_OK); /* dropped: free while it lives */
            end_holder(pid, to);
        }
    }
    CHECK(evictions_of(a) >= 2);
    CHECK_R(kvs_store_close(a), KVS_OK);
}

/* ---- raw: a failed open's file, opened by another open meanwhile ----
   A creates the device file; its lock hook lets B open the same path (B
   then waits in its own lock hook) and fails A's open, which removes the
   file it made. B, let go, finds its descriptor's file no longer at the
   path and opens again: it creates a file of its own, which stays. */
static t_gate g_bgate = T_GATE_INIT;

typedef struct rawopen {
    kvs_store_config c;
    kvs_sysops ops;
    kvs_store *s;
    kvs_result r;
    pthread_t t;
} rawopen;

static rawopen g_rb;

static int h_lock_b(void *u, int fd, int how, uint64_t off)
{
    (void)u;
    t_gate_pass(&g_bgate, 1, "b", NULL);
    return kvs_sys_lock(fd, how, off);
}

static void *rawopen_main(void *arg)
{
    rawopen *o = (rawopen *)arg;
    char err[512];
    o->r = kvs_store_open(&o->c, &o->s, err, sizeof err);
    if (o->r != KVS_OK)
        fprintf(stderr, "B's open: %s\n", err);
    return NULL;
}

static const char *g_rawpath;
static int g_closed_with_file; /* A closed its device file while its file was at the path */

static int h_close_a(void *u, int fd)
{
    struct stat sb;
    (void)u;
    if (stat(g_rawpath, &sb) == 0)
        g_closed_with_file++; /* B could lock it, then lose it to A's unlink */
    return close(fd) == 0 ? 0 : -errno;
}

static int h_lock_a(void *u, int fd, int how, uint64_t off)
{
    (void)u;
    (void)fd;
    (void)how;
    (void)off;
    t_gate_arm(&g_bgate, 1, "b", NULL);
    CHECK(pthread_create(&g_rb.t, NULL, rawopen_main, &g_rb) == 0);
    CHECK(t_gate_wait_entered(&g_bgate)); /* B has A's file open */
    return -EIO; /* A's open fails: it removes its file */
}

static void test_raw_removed_while_opening(const char *path)
{
    kvs_store_config c;
    kvs_store *a = NULL;
    kvs_sysops ops;
    char err[512];
    struct stat sb;
    memset(&ops, 0, sizeof ops);
    ops.lock = h_lock_a;
    ops.close = h_close_a;
    g_rawpath = path;
    raw_cfg(&c, path, RDEV, 16384, KVS_DIRECT_PREFER);
    c.sysops = &ops;
    memset(&g_rb, 0, sizeof g_rb);
    raw_cfg(&g_rb.c, path, RDEV, 16384, KVS_DIRECT_PREFER);
    g_rb.ops.lock = h_lock_b;
    g_rb.c.sysops = &g_rb.ops;
    (void)unlink(path);
    CHECK_R(kvs_store_open(&c, &a, err, sizeof err), KVS_E_IO);
    CHECK(stat(path, &sb) != 0 && errno == ENOENT); /* A's file went */
    CHECK(g_closed_with_file == 0);                  /* before its lock did */
    t_gate_release(&g_bgate);
    CHECK(pthread_join(g_rb.t, NULL) == 0);
    CHECK_R(g_rb.r, KVS_OK);
    if (g_rb.s == NULL)
        return;
    CHECK_R(kvs_store_put(g_rb.s, "k1", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_close(g_rb.s), KVS_OK);
    CHECK(stat(path, &sb) == 0); /* B's own file, at the path */
    raw_cfg(&c, path, RDEV, 16384, KVS_DIRECT_PREFER);
    a = open_store(&c);
    CHECK(a != NULL);
    if (a != NULL) {
        get_is(a, "k1"); /* what B put is there */
        CHECK_R(kvs_store_close(a), KVS_OK);
    }
}

int main(void)
{
    char d[1200], p[1200];
    uint64_t rs;
    int i;
    t_init("test_store_locks");
    t_setup_dir("locks");
    rs = t_seed;
    t_fill_random(g_val, VLEN, &rs);
    t_path(d, sizeof d, "child");
    fork_child(d); /* first: before any store thread */
    test_pin_other_process(d);
    t_path(d, sizeof d, "handle");
    test_pin_other_handle(d);
    t_path(d, sizeof d, "wait");
    test_pin_waits_for_eviction(d);
    t_path(d, sizeof d, "meanwhile0");
    test_pinned_try_meanwhile(d, 0);
    t_path(d, sizeof d, "meanwhile1");
    test_pinned_try_meanwhile(d, 1);
    t_path(d, sizeof d, "answers");
    test_lock_answers(d);
    t_path(d, sizeof d, "tries");
    test_one_try_per_candidate(d);
    t_path(d, sizeof d, "file");
    test_lock_file(d);
    t_path(d, sizeof d, "full");
    test_full_waits_for_read(d, 0);
    t_path(d, sizeof d, "full1");
    test_full_waits_for_read(d, 1);
    t_path(d, sizeof d, "retry");
    test_retry_after_wait(d);
    t_path(d, sizeof d, "lastresort");
    test_last_resort_after_new_pass(d);
    t_path(d, sizeof d, "removed");
    test_overwrite_after_remove_elsewhere(d);
    t_path(d, sizeof d, "looked");
    test_overwrite_look_meanwhile(d);
    t_path(d, sizeof d, "putback0");
    test_miss_during_putback(d, 0);
    t_path(d, sizeof d, "putback1");
    test_miss_during_putback(d, 1);
    t_path(d, sizeof d, "putback2");
    test_miss_during_putback(d, 2);
    t_path(d, sizeof d, "putback3");
    test_miss_during_putback(d, 3);
    t_path(d, sizeof d, "putback4");
    test_miss_during_putback(d, 4);
    t_path(d, sizeof d, "again0");
    test_aside_again(d, 0);
    t_path(d, sizeof d, "again1");
    test_aside_again(d, 1);
    t_path(d, sizeof d, "again2");
    test_aside_again(d, 2);
    t_path(d, sizeof d, "besidesync");
    test_remove_beside_sync(d);
    t_path(d, sizeof d, "held");
    test_miss_name_held(d);
    for (i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "syncev%d", i);
        t_path(d, sizeof d, name);
        test_sync_beside_evict(d, i);
    }
    t_path(d, sizeof d, "giveup");
    test_pin_gives_up(d);
    t_path(d, sizeof d, "readonly");
    test_read_only_lock_file(d);
    t_path(p, sizeof p, "raw.dev");
    test_raw_exclusive(p);
    test_raw_lock_answers(p);
    t_path(p, sizeof p, "raw2.dev");
    test_raw_removed_while_opening(p);
    t_path(d, sizeof d, "fork");
    test_fork(p, d);
    t_rm_rf(t_dir);
    return t_done("test_store_locks");
}
