/* SPDX-License-Identifier: MIT OR Unlicense */
/* The filesystem store's map of what is on disk, when another operation is
   in flight in this handle or another handle changes the directory:

   - a pin while an eviction is removing the file: the pin waits for it and
     reports the object gone, never KVS_OK for an object that is then gone
     ("pinned objects are never evicted");
   - a long key (hashed file name) removed by another handle: this handle's
     get and remove miss it and stop counting its bytes, as for a short key;
   - a damaged file at a long key's name: remove deletes it (it holds no
     valid object), while a file of another key at that name is left alone;
   - a get that found no file while a later get of the same handle found
     the file put since: the earlier get's miss does not undo the later
     record;
   - a put that must evict while the least recently used file is being
     read (and the other pinned): it waits for the read, and the file is
     there until the read is over;
   - a known file replaced by another handle with one of the same padded
     size and the same first bytes, on a filesystem whose identity (inode,
     mtime) cannot tell them apart: the get returns the new value.

   A gate in the hooks holds one thread inside a system call (unlinkat,
   openat) until the test lets it go, so each interleaving is forced rather
   than hoped for. Environment: KVS_TEST_DIR, KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_store_fs_util.h"

/* ---- the gate (tests/test_util.h) ---- */
enum { G_UNLINK = 1, G_OPEN_MISS, G_PREAD };
static t_gate g_gate = T_GATE_INIT;

static int h_unlinkat(void *u, int dfd, const char *path, int flags)
{
    (void)u;
    t_gate_pass(&g_gate, G_UNLINK, path, NULL);
    return unlinkat(dfd, path, flags) == 0 ? 0 : -errno;
}

/* An eviction takes the name away by a rename to a temporary name first:
   the gate stops that as the name's removal too. */
static int h_renameat(void *u, int fd1, const char *from, int fd2, const char *to)
{
    (void)u;
    t_gate_pass(&g_gate, G_UNLINK, from, NULL);
    return renameat(fd1, from, fd2, to) == 0 ? 0 : -errno;
}

static int h_openat(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd = openat(dfd, path, flags, (mode_t)mode), e = errno;
    (void)u;
    if (fd < 0 && e == ENOENT)
        t_gate_pass(&g_gate, G_OPEN_MISS, path, NULL);
    return fd < 0 ? -e : fd;
}

static int64_t h_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    (void)u;
    return t_gated_pread(&g_gate, G_PREAD, fd, buf, len, off);
}

static kvs_sysops g_ops;

#define VLEN 8192
#define CAP2 (2 * (4096 + VLEN) + 4096) /* room for two VLEN objects, not three */

/* Handle A (capacity for two objects, hooks ops) and handle B (no bound:
   it never evicts) on the same paths; 0 when they did not both open. */
static int open_evicting_pair(const char *paths, kvs_sysops *ops, kvs_store **a, kvs_store **b)
{
    return open_pair_cap(paths, CAP2, ops, NULL, a, b);
}

static uint64_t objects_of(kvs_store *s)
{
    kvs_store_stats st;
    kvs_store_get_stats(s, &st);
    return st.objects;
}

static unsigned char g_val[VLEN], g_rd[VLEN];

/* ---- 1. a pin during the eviction of its file ---- */
typedef struct job {
    kvs_store *s;
    const char *key;
    kvs_result r;
} job;

static void *put_main(void *arg)
{
    job *j = (job *)arg;
    j->r = kvs_store_put(j->s, j->key, strlen(j->key), g_val, VLEN);
    return NULL;
}

static void *pin_main(void *arg)
{
    job *j = (job *)arg;
    j->r = kvs_store_pin(j->s, j->key, strlen(j->key));
    return NULL;
}

static void *get_main(void *arg)
{
    job *j = (job *)arg;
    size_t n = 0;
    j->r = kvs_store_get(j->s, j->key, strlen(j->key), g_rd, VLEN, &n);
    return NULL;
}

static void test_pin_during_eviction(const char *dir)
{
    kvs_store_config c;
    kvs_store *s;
    char n1[KVS_FSNAME_MAX + 1];
    job put3, pin1;
    pthread_t tp, tq;
    cfg_fs(&c, dir);
    c.sysops = &g_ops;
    c.capacity_bytes = CAP2; /* two objects, not three */
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK_R(kvs_store_put(s, "k1", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_put(s, "k2", 2, g_val, VLEN), KVS_OK);
    fs_name_of("k1", n1);
    t_gate_arm(&g_gate, G_UNLINK, n1, NULL);
    put3.s = s;
    put3.key = "k3";
    CHECK(pthread_create(&tp, NULL, put_main, &put3) == 0);
    CHECK(t_gate_wait_entered(&g_gate)); /* the eviction of k1 is removing its file */
    pin1.s = s;
    pin1.key = "k1";
    CHECK(pthread_create(&tq, NULL, pin_main, &pin1) == 0);
    t_sleep_ms(150); /* long enough for a pin that does not wait to finish */
    t_gate_release(&g_gate);
    pthread_join(tp, NULL);
    pthread_join(tq, NULL);
    CHECK_R(put3.r, KVS_OK);
    /* the pin waited for the eviction, then found nothing to pin */
    CHECK_R(pin1.r, KVS_NOT_FOUND);
    CHECK_R(kvs_store_exists(s, "k1", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_unpin(s, "k1", 2), KVS_E_INVAL); /* no pin was left behind */
    /* a pin that succeeds holds: k2 pinned, k4 evicts k3, not k2 */
    CHECK_R(kvs_store_pin(s, "k2", 2), KVS_OK);
    CHECK_R(kvs_store_put(s, "k4", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_exists(s, "k2", 2), KVS_OK);
    CHECK_R(kvs_store_exists(s, "k3", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* ---- 2. and 3. long keys ---- */
static void long_key(char *k, size_t cap, char tag)
{
    size_t i;
    for (i = 0; i + 1 < cap && i < 300; i++)
        k[i] = (char)(tag + (char)(i % 7));
    k[i] = '\0';
}

static void test_long_keys(const char *dir)
{
    kvs_store_config c;
    kvs_store *a, *b;
    char key[400], other[400], name[KVS_FSNAME_MAX + 1], path[2400];
    kvs_fsname_kind kind = KVS_FSNAME_READABLE;
    size_t n = 0;
    int fd;
    struct stat sb;
    long_key(key, sizeof key, 'a');
    long_key(other, sizeof other, 'A');
    CHECK_R(kvs_fsname_encode(key, strlen(key), name, sizeof name, &n, &kind), KVS_OK);
    CHECK(kind == KVS_FSNAME_HASHED);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cfg_fs(&c, dir);
    a = open_store(&c);
    b = open_store(&c);
    if (!both_open(a, b))
        return;

    /* 2. removed by the other handle: a's get and remove miss it, and a
       stops counting it */
    CHECK_R(kvs_store_put(a, key, strlen(key), g_val, VLEN), KVS_OK);
    CHECK(objects_of(a) == 1);
    CHECK_R(kvs_store_remove(b, key, strlen(key)), KVS_OK);
    n = 0;
    CHECK_R(kvs_store_get(a, key, strlen(key), g_rd, VLEN, &n), KVS_NOT_FOUND);
    CHECK(objects_of(a) == 0);
    CHECK_R(kvs_store_put(a, key, strlen(key), g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_remove(b, key, strlen(key)), KVS_OK);
    CHECK_R(kvs_store_remove(a, key, strlen(key)), KVS_NOT_FOUND);
    CHECK(objects_of(a) == 0);

    /* 3. a damaged file at the name: removed */
    CHECK_R(kvs_store_put(a, key, strlen(key), g_val, VLEN), KVS_OK);
    CHECK(truncate(path, 4096 + 100) == 0); /* torn: the payload is short */
    CHECK_R(kvs_store_get(a, key, strlen(key), g_rd, VLEN, &n), KVS_NOT_FOUND);
    fd = open(path, O_RDWR);
    CHECK(fd >= 0 && pwrite(fd, "XXXXXXXX", 8, 0) == 8); /* and its magic gone */
    if (fd >= 0)
        close(fd);
    CHECK_R(kvs_store_remove(a, key, strlen(key)), KVS_OK);
    CHECK(stat(path, &sb) != 0 && errno == ENOENT);
    CHECK(objects_of(a) == 0);
    /* another key's valid file at the name (as a hash collision would put
       it there): left alone */
    {
        char oname[KVS_FSNAME_MAX + 1], opath[2400];
        CHECK_R(kvs_fsname_encode(other, strlen(other), oname, sizeof oname, &n, &kind), KVS_OK);
        snprintf(opath, sizeof opath, "%s/%s", dir, oname);
        CHECK_R(kvs_store_put(a, other, strlen(other), g_val, VLEN), KVS_OK);
        CHECK(rename(opath, path) == 0); /* other's file at key's name */
        CHECK_R(kvs_store_remove(a, key, strlen(key)), KVS_NOT_FOUND);
        CHECK(stat(path, &sb) == 0);
        CHECK(unlink(path) == 0);
    }
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- 4. a get that found nothing, finishing after one that found a file ---- */
static void test_stale_miss(const char *dir)
{
    kvs_store_config c;
    kvs_store *a, *b;
    char name[KVS_FSNAME_MAX + 1];
    job g1;
    pthread_t t;
    size_t n = 0;
    cfg_fs(&c, dir);
    c.direct = KVS_DIRECT_OFF;
    b = open_store(&c);
    c.sysops = &g_ops;
    a = open_store(&c);
    if (!both_open(a, b))
        return;
    CHECK_R(kvs_store_put(a, "k", 1, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_remove(b, "k", 1), KVS_OK);
    fs_name_of("k", name);
    t_gate_arm(&g_gate, G_OPEN_MISS, name, NULL);
    g1.s = a;
    g1.key = "k";
    CHECK(pthread_create(&t, NULL, get_main, &g1) == 0);
    CHECK(t_gate_wait_entered(&g_gate)); /* get 1 found no file, and waits */
    CHECK_R(kvs_store_put(b, "k", 1, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_get(a, "k", 1, g_rd, VLEN, &n), KVS_OK); /* get 2 finds it */
    CHECK(n == VLEN && memcmp(g_rd, g_val, VLEN) == 0);
    CHECK(objects_of(a) == 1);
    t_gate_release(&g_gate);
    pthread_join(t, NULL);
    /* get 1's miss is older than get 2's record: it does not drop the
       file, and reads again (session 17) */
    CHECK_R(g1.r, KVS_OK);
    CHECK(objects_of(a) == 1);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- 5. eviction waits for a read ---- */
static unsigned char *g_abuf; /* aligned: the payload is read straight into it */

static void *get_aligned_main(void *arg)
{
    job *j = (job *)arg;
    size_t n = 0;
    j->r = kvs_store_get(j->s, j->key, strlen(j->key), g_abuf, VLEN, &n);
    if (j->r == KVS_OK && (n != VLEN || memcmp(g_abuf, g_val, VLEN) != 0))
        j->r = KVS_E_CORRUPT;
    return NULL;
}

static void test_evict_waits_for_read(const char *dir)
{
    kvs_store_config c;
    kvs_store *s;
    char n1[KVS_FSNAME_MAX + 1], path[2400];
    job g1, p3;
    pthread_t tg, tp;
    struct stat sb;
    void *m = NULL;
    cfg_fs(&c, dir);
    c.sysops = &g_ops;
    c.capacity_bytes = CAP2; /* two objects, not three */
    CHECK_R(kvs_aligned_alloc(NULL, VLEN, 4096, &m), KVS_OK);
    g_abuf = (unsigned char *)m;
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL || g_abuf == NULL)
        return;
    CHECK_R(kvs_store_put(s, "k1", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_put(s, "k2", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_pin(s, "k2", 2), KVS_OK);
    fs_name_of("k1", n1);
    snprintf(path, sizeof path, "%s/%s", dir, n1);
    t_gate_arm(&g_gate, G_PREAD, NULL, g_abuf);
    g1.s = s;
    g1.key = "k1";
    CHECK(pthread_create(&tg, NULL, get_aligned_main, &g1) == 0);
    CHECK(t_gate_wait_entered(&g_gate)); /* the get of k1 is reading */
    p3.s = s;
    p3.key = "k3";
    CHECK(pthread_create(&tp, NULL, put_main, &p3) == 0);
    t_sleep_ms(200); /* time for a put that does not wait to evict k1 */
    CHECK(stat(path, &sb) == 0); /* k1 is being read: not evicted */
    t_gate_release(&g_gate);
    pthread_join(tg, NULL);
    pthread_join(tp, NULL);
    CHECK_R(g1.r, KVS_OK);
    CHECK_R(p3.r, KVS_OK);           /* then k1 went, k2 is pinned */
    CHECK_R(kvs_store_exists(s, "k1", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_exists(s, "k2", 2), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    kvs_aligned_free(NULL, g_abuf, VLEN, 4096);
}

/* A pin of a key whose file is gone, while a get that began before the
   remove still holds the name's entry (with the sizes of the file it
   had): the pin fails and must leave nothing pinned; the store then still
   evicts for room. (Were the gone file's bytes counted as pinned, they
   would stay in the pinned total for good, and puts would fail KVS_E_FULL
   with nothing pinned.) */
static void test_pin_gone_while_read(const char *dir)
{
    kvs_store_config c;
    kvs_store *s;
    job g1;
    pthread_t tg;
    void *m = NULL;
    cfg_fs(&c, dir);
    c.sysops = &g_ops;
    c.capacity_bytes = CAP2; /* two objects, not three */
    CHECK_R(kvs_aligned_alloc(NULL, VLEN, 4096, &m), KVS_OK);
    g_abuf = (unsigned char *)m;
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL || g_abuf == NULL)
        return;
    CHECK_R(kvs_store_put(s, "k1", 2, g_val, VLEN), KVS_OK);
    t_gate_arm(&g_gate, G_PREAD, NULL, g_abuf);
    g1.s = s;
    g1.key = "k1";
    CHECK(pthread_create(&tg, NULL, get_aligned_main, &g1) == 0);
    CHECK(t_gate_wait_entered(&g_gate)); /* the get of k1 is reading */
    CHECK_R(kvs_store_remove(s, "k1", 2), KVS_OK);
    CHECK_R(kvs_store_pin(s, "k1", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_pin(s, "k1", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_unpin(s, "k1", 2), KVS_E_INVAL); /* nothing pinned */
    t_gate_release(&g_gate);
    pthread_join(tg, NULL);
    CHECK_R(kvs_store_put(s, "k2", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_put(s, "k3", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_put(s, "k4", 2, g_val, VLEN), KVS_OK); /* evicts k2 */
    CHECK_R(kvs_store_exists(s, "k2", 2), KVS_NOT_FOUND);
    CHECK(objects_of(s) == 2);
    CHECK_R(kvs_store_close(s), KVS_OK);
    kvs_aligned_free(NULL, g_abuf, VLEN, 4096);
}

/* ---- 5. a known file replaced where identity cannot tell ----
   Handle A knows k's file (it put a 1000-byte value). Handle B removes k
   and puts the same bytes plus three more: a direct-I/O file of the same
   padded size, and the same first 1000 bytes. A filesystem that reuses the
   inode number at once and stamps both files within one timestamp tick
   (Linux before 6.13 takes mtime from the coarse clock) gives A no way to
   tell the two files apart by device, inode, mtime and size; the fstat
   hook below plays one, reporting the same inode and mtime for every
   file. A's get must still return B's 1003 bytes: its known-file read
   (payload only, checked against the known CRC) is taken only when the
   payload ends where the file does, so equal sizes mean equal lengths. */
static int same_id_fstat(void *u, int fd, kvs_file_status *st)
{
    int r = kvs_sys_fstat(fd, st);
    (void)u;
    if (r == 0 && st->type == KVS_FTYPE_REGULAR) {
        st->ino = 42;
        st->mtime_ns = 1000000000ull;
    }
    return r;
}

static void test_known_replaced_same_size(const char *dir)
{
    kvs_store_config c;
    kvs_store *a, *b;
    kvs_sysops ops;
    unsigned char v2[1003], rd[4096];
    size_t n = 0;
    memset(&ops, 0, sizeof ops);
    ops.fstat = same_id_fstat;
    cfg_fs(&c, dir);
    c.sysops = &ops;
    a = open_store(&c);
    b = open_store(&c);
    if (!both_open(a, b))
        return;
    memcpy(v2, g_val, 1000);
    memcpy(v2 + 1000, "NEW", 3);
    CHECK_R(kvs_store_put(a, "k", 1, g_val, 1000), KVS_OK);
    CHECK_R(kvs_store_get(a, "k", 1, rd, sizeof rd, &n), KVS_OK); /* a knows it */
    CHECK(n == 1000 && memcmp(rd, g_val, 1000) == 0);
    CHECK_R(kvs_store_remove(b, "k", 1), KVS_OK);
    CHECK_R(kvs_store_put(b, "k", 1, v2, sizeof v2), KVS_OK);
    n = 0;
    CHECK_R(kvs_store_get(a, "k", 1, rd, sizeof rd, &n), KVS_OK);
    CHECK(n == sizeof v2 && memcmp(rd, v2, sizeof v2) == 0);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* ---- 6. an eviction spares a file another handle put since ----
   Handle A (capacity for two objects) put k1 and k2; handle B (no capacity
   bound, so it never evicts) replaces k1. A's next put must evict, and k1
   is the least recently used in A's view; but the file at k1's name is
   B's, newer than anything A has, and not A's to remove.

   Mode 0: B put before A's eviction. A looks at the name first (device,
   inode, mtime, size against what it saw), never moves B's file, and
   evicts k2 instead. The other modes put B's file at the name in the
   window between A's look and its rename (the hook on A's fstatat), so A
   takes B's file away, checks it under the temporary name and must put it
   back: mode 4, it goes back; mode 1, B puts again while A has it away
   (B's newest put stays, the one A took goes); mode 2, a filesystem that
   refuses hard links (the file A took cannot go back: it goes, as the
   eviction would have removed it unchecked; nothing else is lost); mode 3,
   linkat fails otherwise (the eviction fails, the file is left for the
   orphan scan); mode 5, as mode 1, but the unlink of the file A took
   fails (EIO): that file's bytes are still on disk, under the temporary
   name, so the eviction freed nothing and fails (counted as done, it
   would let the put go ahead with those bytes uncounted); mode 6, k1's
   file grown in place with its mtime put back (same device, inode and
   mtime, another size): not the file A saw, so never moved (A's first
   look tells it by its size), recorded as it is now, and k2 goes. */
typedef struct window {
    kvs_store *b;                 /* B's handle */
    const char *name;             /* k1's file name */
    const unsigned char *look_val; /* B puts this after A's look at name */
    const unsigned char *away_val; /* ...and this once A has it away */
    int link_err;                 /* linkat answers this, when nonzero */
    int unlink_err;               /* the next unlinkat of a temporary name
                                     answers this, when nonzero */
    int puts, links, takes;       /* takes: A's renames of name */
} window;

static void window_put(window *w, const unsigned char **val)
{
    const unsigned char *v = *val;
    *val = NULL; /* once */
    CHECK_R(kvs_store_put(w->b, "k1", 2, v, VLEN), KVS_OK);
    w->puts++;
}

static int w_fstatat(void *u, int dfd, const char *path, kvs_file_status *st)
{
    window *w = (window *)u;
    int r = kvs_sys_fstatat(dfd, path, st);
    if (r == 0 && w->look_val != NULL && strcmp(path, w->name) == 0)
        window_put(w, &w->look_val);
    return r;
}

static int w_renameat(void *u, int fd1, const char *from, int fd2, const char *to)
{
    window *w = (window *)u;
    int r = renameat(fd1, from, fd2, to) == 0 ? 0 : -errno;
    if (r == 0 && strcmp(from, w->name) == 0) {
        w->takes++;
        if (w->away_val != NULL)
            window_put(w, &w->away_val);
    }
    return r;
}

static int w_linkat(void *u, int fd1, const char *from, int fd2, const char *to)
{
    window *w = (window *)u;
    w->links++;
    if (w->link_err != 0)
        return -w->link_err;
    return linkat(fd1, from, fd2, to, 0) == 0 ? 0 : -errno;
}

static int w_unlinkat(void *u, int dfd, const char *path, int flags)
{
    window *w = (window *)u;
    if (w->unlink_err != 0 && strncmp(path, "~t", 2) == 0) {
        int e = w->unlink_err;
        w->unlink_err = 0; /* once */
        return -e;
    }
    return unlinkat(dfd, path, flags) == 0 ? 0 : -errno;
}

static void get_is(kvs_store *s, const char *key, const unsigned char *want)
{
    size_t n = 0;
    memset(g_rd, 0, VLEN);
    CHECK_R(kvs_store_get(s, key, strlen(key), g_rd, VLEN, &n), KVS_OK);
    CHECK(n == VLEN && memcmp(g_rd, want, VLEN) == 0);
}

/* Hooks that fail a put's fstat of its file, and its fallback fstatat of
   the temporary name, once each when armed. */
static int g_fail_fstat;   /* atomic: the next fstat answers EIO */
static int g_fail_tmpstat; /* atomic: the next fstatat of a temporary name answers EIO */
static int g_tmpstats;     /* atomic: fstatat calls on a temporary name */
static int h_fstat_once(void *u, int fd, kvs_file_status *st)
{
    (void)u;
    if (__atomic_exchange_n(&g_fail_fstat, 0, __ATOMIC_SEQ_CST))
        return -EIO;
    return kvs_sys_fstat(fd, st);
}

static int h_fstatat_tmp_once(void *u, int dirfd, const char *path, kvs_file_status *st)
{
    (void)u;
    if (strncmp(path, "~t", 2) == 0 && strlen(path) == 38) { /* FORMAT.md 5.3 */
        __atomic_fetch_add(&g_tmpstats, 1, __ATOMIC_SEQ_CST);
        if (__atomic_exchange_n(&g_fail_tmpstat, 0, __ATOMIC_SEQ_CST))
            return -EIO;
    }
    return kvs_sys_fstatat(dirfd, path, st);
}

/* A put whose fstat and fallback fstatat both fail publishes a file its
   handle cannot identify. */
static void put_unidentified(kvs_store *s, const char *key, const void *v, size_t n)
{
    int seen = __atomic_load_n(&g_tmpstats, __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_fail_fstat, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_fail_tmpstat, 1, __ATOMIC_SEQ_CST);
    CHECK_R(kvs_store_put(s, key, strlen(key), v, n), KVS_OK);
    CHECK(!__atomic_load_n(&g_fail_fstat, __ATOMIC_SEQ_CST));   /* the put's fstat failed */
    CHECK(!__atomic_load_n(&g_fail_tmpstat, __ATOMIC_SEQ_CST)); /* then its fallback */
    CHECK(__atomic_load_n(&g_tmpstats, __ATOMIC_SEQ_CST) == seen + 1);
    __atomic_store_n(&g_fail_fstat, 0, __ATOMIC_SEQ_CST); /* unfired: no cascade */
    __atomic_store_n(&g_fail_tmpstat, 0, __ATOMIC_SEQ_CST);
}

/* ops cleared, with the two hooks above */
static void stat_hooks(kvs_sysops *ops)
{
    memset(ops, 0, sizeof *ops);
    ops->fstat = h_fstat_once;
    ops->fstatat = h_fstatat_tmp_once;
}

/* A store of CAP2 bytes on dir whose fstat and temporary-name fstatat go
   through the hooks above; ops must outlive it. */
static kvs_store *open_stat_hooked(const char *dir, kvs_sysops *ops)
{
    kvs_store_config c;
    stat_hooks(ops);
    cfg_fs(&c, dir);
    c.sysops = ops;
    c.capacity_bytes = CAP2;
    return open_store(&c);
}

/* key's file is gone from dir */
static void check_gone(const char *dir, const char *key)
{
    char name[KVS_FSNAME_MAX + 1], path[1500];
    struct stat sb;
    fs_name_of(key, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(stat(path, &sb) != 0 && errno == ENOENT);
}

/* A put whose fstat failed published a file its handle could not identify.
   When that entry's turn to be evicted comes, another handle's newer,
   acknowledged file at the name stays (the eviction once unlinked whatever
   was at the name); the unidentified file itself goes in a later turn. */
static void test_evict_unidentified(const char *dir)
{
    kvs_sysops ops;
    kvs_store *a, *b;
    kvs_store_stats st;
    unsigned char w[VLEN];
    size_t n = 0;
    stat_hooks(&ops);
    if (!open_pair_cap(dir, CAP2, &ops, NULL, &a, &b))
        return;
    memset(w, 'A', sizeof w);
    put_unidentified(a, "k1", w, sizeof w);
    CHECK_R(kvs_store_put(b, "k1", 2, g_val, VLEN), KVS_OK); /* newer, acknowledged */
    memset(w, 'C', sizeof w);
    CHECK_R(kvs_store_put(a, "k2", 2, w, sizeof w), KVS_OK);
    CHECK_R(kvs_store_put(a, "k3", 2, w, sizeof w), KVS_OK); /* k1's turn: it stays */
    get_is(b, "k1", g_val);
    get_is(a, "k1", g_val);
    CHECK_R(kvs_store_get(a, "k3", 2, w, sizeof w, &n), KVS_OK);
    kvs_store_get_stats(a, &st);
    CHECK(st.disk_bytes <= CAP2 && st.evictions >= 1);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* A handle's own unidentified file is still evicted when it is the only
   candidate: recorded at its turn, then removed, checked, by the same put. */
static void test_evict_own_unidentified(const char *dir)
{
    kvs_sysops ops;
    kvs_store *a;
    kvs_store_stats st;
    a = open_stat_hooked(dir, &ops);
    if (a == NULL)
        return;
    put_unidentified(a, "u1", g_val, VLEN);
    CHECK_R(kvs_store_put(a, "u2", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_pin(a, "u2", 2), KVS_OK);
    CHECK_R(kvs_store_put(a, "u3", 2, g_val, VLEN), KVS_OK); /* only u1 can go */
    check_gone(dir, "u1");
    get_is(a, "u2", g_val);
    get_is(a, "u3", g_val);
    kvs_store_get_stats(a, &st);
    CHECK(st.objects == 2 && st.evictions == 1 && st.disk_bytes <= CAP2);
    CHECK_R(kvs_store_unpin(a, "u2", 2), KVS_OK);
    CHECK_R(kvs_store_close(a), KVS_OK);
}

/* A put whose fstat fails identifies its file by the temporary name before
   the rename, so the entry keeps its LRU place: the oldest object is the
   one evicted. (Unidentified, it would be recorded at its turn and outlive
   the next one, as test_evict_own_unidentified shows.) */
static void test_put_fstat_fallback(const char *dir)
{
    kvs_sysops ops;
    kvs_store *a;
    kvs_store_stats st;
    int seen;
    a = open_stat_hooked(dir, &ops);
    if (a == NULL)
        return;
    seen = __atomic_load_n(&g_tmpstats, __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_fail_fstat, 1, __ATOMIC_SEQ_CST);
    CHECK_R(kvs_store_put(a, "f1", 2, g_val, VLEN), KVS_OK);
    CHECK(!__atomic_load_n(&g_fail_fstat, __ATOMIC_SEQ_CST));
    CHECK(__atomic_load_n(&g_tmpstats, __ATOMIC_SEQ_CST) == seen + 1); /* asked by the temporary name */
    __atomic_store_n(&g_fail_fstat, 0, __ATOMIC_SEQ_CST);
    CHECK_R(kvs_store_put(a, "f2", 2, g_val, VLEN), KVS_OK);
    CHECK(__atomic_load_n(&g_tmpstats, __ATOMIC_SEQ_CST) == seen + 1); /* only when the fstat failed */
    CHECK_R(kvs_store_put(a, "f3", 2, g_val, VLEN), KVS_OK); /* f1 goes, in its LRU place */
    check_gone(dir, "f1");
    get_is(a, "f2", g_val);
    get_is(a, "f3", g_val);
    kvs_store_get_stats(a, &st);
    CHECK(st.objects == 2 && st.evictions == 1 && st.disk_bytes <= CAP2);
    CHECK_R(kvs_store_close(a), KVS_OK);
}

/* A pin holds across handles after removes of its key: a second remove
   (a miss) looks at the name and lets it go again, which must not drop the
   lock of the pin still held, so the key put again stays pinned against
   another handle's evictions. */
static void test_pin_after_removes(const char *dir)
{
    kvs_store_config c;
    kvs_store *ev, *a;
    kvs_store_stats st;
    char k[16];
    int i;
    cfg_fs(&c, dir);
    a = open_store(&c);
    if (a == NULL)
        return;
    kvs_store_get_stats(a, &st);
    if (st.lock_errno != 0) {
        printf("SKIP pin after removes: no byte locks here (errno %d)\n", st.lock_errno);
        CHECK_R(kvs_store_close(a), KVS_OK);
        return;
    }
    CHECK_R(kvs_store_put(a, "K", 1, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_pin(a, "K", 1), KVS_OK);
    CHECK_R(kvs_store_remove(a, "K", 1), KVS_OK);        /* the pin stays on the name */
    CHECK_R(kvs_store_remove(a, "K", 1), KVS_NOT_FOUND); /* the miss */
    CHECK_R(kvs_store_put(a, "K", 1, g_val, VLEN), KVS_OK);
    c.capacity_bytes = CAP2;
    ev = open_store(&c); /* its scan finds K, the oldest file */
    if (ev != NULL) {
        for (i = 0; i < 6; i++) { /* three times its room */
            snprintf(k, sizeof k, "e%d", i);
            CHECK_R(kvs_store_put(ev, k, strlen(k), g_val, VLEN), KVS_OK);
        }
        get_is(a, "K", g_val);
        kvs_store_get_stats(ev, &st);
        CHECK(st.evictions >= 4);
        CHECK_R(kvs_store_close(ev), KVS_OK);
    }
    CHECK_R(kvs_store_unpin(a, "K", 1), KVS_OK);
    CHECK_R(kvs_store_close(a), KVS_OK);
}

/* dir/name grows by 4096 bytes in place (same inode), its mtime put back:
   the file an eviction saw, changed since without a new identity. */
static void grow_in_place(const char *dir, const char *name)
{
    char path[1500];
    static unsigned char z[4096]; /* zeros */
    struct stat sb;
    struct timespec ts[2];
    int fd;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(stat(path, &sb) == 0);
    fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, z, sizeof z) == (ssize_t)sizeof z);
    close(fd);
    ts[0] = sb.st_atim;
    ts[1] = sb.st_mtim;
    CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
}

static void test_evict_spares_newer(const char *dir, int mode)
{
    kvs_store *a, *b;
    kvs_sysops ops;
    kvs_store_stats st;
    window w;
    char n1[KVS_FSNAME_MAX + 1];
    unsigned char v2[VLEN], v3[VLEN];
    memcpy(v2, g_val, VLEN);
    memcpy(v3, g_val, VLEN);
    v2[0] ^= 0x5a;
    v3[1] ^= 0xa5;
    fs_name_of("k1", n1);
    memset(&w, 0, sizeof w);
    w.name = n1;
    memset(&ops, 0, sizeof ops);
    ops.user = &w;
    ops.fstatat = w_fstatat;
    ops.renameat = w_renameat;
    ops.linkat = w_linkat;
    ops.unlinkat = w_unlinkat;
    if (!open_evicting_pair(dir, &ops, &a, &b))
        return;
    w.b = b;
    put_k1_k2(a, g_val, VLEN);
    if (mode == 0)
        CHECK_R(kvs_store_put(b, "k1", 2, v2, VLEN), KVS_OK); /* B's k1, unknown to A */
    else if (mode == 6)
        grow_in_place(dir, n1); /* the file A saw, another size: not A's to move */
    else
        w.look_val = v2; /* B's k1 lands between A's look and its rename */
    if (mode == 1 || mode == 5)
        w.away_val = v3; /* B puts v3 while A has k1's file away */
    if (mode == 2) {
        w.link_err = EPERM; /* no hard links here */
    } else if (mode == 5) {
        w.unlink_err = EIO; /* the file A took stays, under its temporary name */
        CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_E_IO);
        CHECK(w.unlink_err == 0 && w.links == 1 && w.takes == 1 && w.puts == 2);
        CHECK(count_files(dir, 2) == 1);                /* left for the orphan scan */
        get_is(a, "k1", v3);                            /* B's newest stays */
        CHECK_R(kvs_store_exists(a, "k2", 2), KVS_OK); /* nothing else went */
        CHECK_R(kvs_store_exists(a, "k3", 2), KVS_NOT_FOUND);
        kvs_store_get_stats(a, &st);
        CHECK(st.evictions == 0);
        CHECK_R(kvs_store_close(a), KVS_OK);
        CHECK_R(kvs_store_close(b), KVS_OK);
        return;
    } else if (mode == 3) {
        w.link_err = ENOSPC; /* B's file cannot go back: the eviction fails */
        CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_E_NOSPC);
        CHECK(w.links == 1 && w.takes == 1 && w.puts == 1);
        CHECK(count_files(dir, 2) == 1);                /* left for the orphan scan */
        CHECK_R(kvs_store_exists(a, "k2", 2), KVS_OK); /* nothing else went */
        kvs_store_get_stats(a, &st);
        CHECK(st.evictions == 0 && st.objects == 1);
        CHECK_R(kvs_store_close(a), KVS_OK);
        CHECK_R(kvs_store_close(b), KVS_OK);
        return;
    }
    CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_OK); /* must evict */
    CHECK(w.look_val == NULL && w.away_val == NULL); /* each window was hit */
    kvs_store_get_stats(a, &st);
    CHECK(st.evictions == 1 && st.objects == 2);
    if (mode == 0) /* k3's, and B's k1 as A's look found it: its size less the header */
        CHECK(st.bytes == 2 * VLEN && st.disk_bytes == 2 * (4096 + VLEN));
    CHECK(w.takes == (mode == 0 || mode == 6 ? 0 : 1)); /* modes 0, 6: never moved */
    CHECK(w.links == (mode == 0 || mode == 6 ? 0 : 1));
    CHECK(w.puts == (mode == 0 || mode == 6 ? 0 : mode == 1 ? 2 : 1));
    if (mode == 6) {
        get_is(a, "k1", g_val); /* the payload is intact; the file stays */
        CHECK_R(kvs_store_exists(a, "k2", 2), KVS_NOT_FOUND);
    } else if (mode == 0 || mode == 4) {
        get_is(a, "k1", v2); /* B's, left or put back */
        get_is(b, "k1", v2);
        CHECK_R(kvs_store_exists(a, "k2", 2), KVS_NOT_FOUND); /* A's own went */
    } else if (mode == 1) {
        get_is(a, "k1", v3); /* B's newest stays; the v2 A took went */
        get_is(b, "k1", v3);
        CHECK_R(kvs_store_exists(a, "k2", 2), KVS_OK);
    } else {
        CHECK_R(kvs_store_exists(a, "k1", 2), KVS_NOT_FOUND);
        CHECK_R(kvs_store_exists(a, "k2", 2), KVS_OK);
    }
    get_is(a, "k3", g_val);
    CHECK(count_files(dir, 2) == 0); /* no temporary file left */
    CHECK(count_files(dir, 1) == (mode == 1 ? 3u : 2u)); /* mode 1: B's k1 is new to A */
    if (mode == 6) /* k1 as it is now, and k3: the capacity, exactly */
        CHECK(st.disk_bytes == (4096 + VLEN + 4096) + (4096 + VLEN) && st.disk_bytes == CAP2);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

/* The same across processes: a child process replaces k1 through its own
   handle and exits; the parent's eviction spares the child's file. The
   child is forked before the parent has threads (a store's pool), and
   waits on a pipe for its turn. */
static void test_evict_spares_child(const char *dir)
{
    kvs_store_config c;
    kvs_store *a;
    kvs_store_stats st;
    unsigned char v2[VLEN];
    pid_t pid;
    int status = 0, go[2];
    char byte = 0;
    memcpy(v2, g_val, VLEN);
    v2[VLEN - 1] ^= 0x77;
    cfg_fs(&c, dir);
    CHECK(pipe(go) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        kvs_store *b;
        close(go[1]);
        if (read(go[0], &byte, 1) != 1)
            _exit(2);
        b = open_store(&c);
        _exit(b != NULL && kvs_store_put(b, "k1", 2, v2, VLEN) == KVS_OK && kvs_store_close(b) == KVS_OK ? 0 : 1);
    }
    close(go[0]);
    c.capacity_bytes = CAP2; /* two objects, not three */
    a = open_store(&c);
    CHECK(a != NULL);
    if (a != NULL) {
        CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK);
        CHECK_R(kvs_store_put(a, "k2", 2, g_val, VLEN), KVS_OK);
    }
    CHECK(write(go[1], &byte, 1) == 1); /* the child's turn */
    close(go[1]);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (a == NULL)
        return;
    CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_OK); /* must evict */
    kvs_store_get_stats(a, &st);
    CHECK(st.evictions == 1);
    get_is(a, "k1", v2); /* the child's, put back */
    CHECK_R(kvs_store_exists(a, "k2", 2), KVS_NOT_FOUND);
    get_is(a, "k3", g_val);
    CHECK(count_files(dir, 2) == 0);
    CHECK_R(kvs_store_close(a), KVS_OK);
}

/* ---- 7. what is no object goes; a put-back is synced ----
   A symlink planted at the name of the least recently used entry is no
   object (a get misses it): the eviction removes it, as before the check,
   rather than put it back and pick it again for ever (k2 is pinned, so
   k1's name is the one candidate). */
static void test_evict_non_file(const char *dir)
{
    kvs_store_config c;
    kvs_store *a;
    kvs_store_stats st;
    char n1[KVS_FSNAME_MAX + 1], path[4096];
    cfg_fs(&c, dir);
    c.capacity_bytes = CAP2; /* two objects, not three */
    a = open_store(&c);
    CHECK(a != NULL);
    if (a == NULL)
        return;
    put_k1_k2(a, g_val, VLEN);
    fs_name_of("k1", n1);
    snprintf(path, sizeof path, "%s/%s", dir, n1);
    CHECK(unlink(path) == 0 && symlink("/nonexistent", path) == 0);
    CHECK_R(kvs_store_pin(a, "k2", 2), KVS_OK); /* k1's name: the one candidate */
    alarm(60); /* the old loop never ended */
    CHECK_R(kvs_store_put(a, "k3", 2, g_val, VLEN), KVS_OK);
    alarm(0);
    kvs_store_get_stats(a, &st);
    CHECK(st.evictions == 1);
    {
        struct stat sb;
        CHECK(lstat(path, &sb) != 0 && errno == ENOENT); /* the symlink went */
    }
    CHECK_R(kvs_store_exists(a, "k2", 2), KVS_OK);
    CHECK(count_files(dir, 2) == 0);
    CHECK_R(kvs_store_close(a), KVS_OK);
}

/* A file put back is a change to its directory: the next sync fsyncs that
   directory, even when the put that evicted went to another one. Two
   directories; k1 and the evicting put's key on different ones. */
typedef struct dsyncs {
    int dirfd_of_k1;
    int synced;
    window w; /* B's k1 lands in A's window: A takes it and puts it back */
} dsyncs;

static int ds_fstatat(void *u, int dfd, const char *path, kvs_file_status *st)
{
    return w_fstatat(&((dsyncs *)u)->w, dfd, path, st);
}

static int ds_renameat(void *u, int fd1, const char *from, int fd2, const char *to)
{
    return w_renameat(&((dsyncs *)u)->w, fd1, from, fd2, to);
}

static int ds_linkat(void *u, int fd1, const char *from, int fd2, const char *to)
{
    return w_linkat(&((dsyncs *)u)->w, fd1, from, fd2, to);
}

static int ds_fsync(void *u, int fd)
{
    dsyncs *d = (dsyncs *)u;
    struct stat a, b;
    if (d->dirfd_of_k1 >= 0 && fstat(fd, &a) == 0 && fstat(d->dirfd_of_k1, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        d->synced++;
    return fsync(fd) == 0 ? 0 : -errno;
}

static void test_put_back_synced(const char *d0, const char *d1)
{
    kvs_store *a, *b;
    kvs_sysops ops;
    dsyncs ds;
    char paths[2500], key[32], dk1[1200], n1[KVS_FSNAME_MAX + 1];
    const char *other;
    unsigned char v2[VLEN];
    int i, found = 0;
    memcpy(v2, g_val, VLEN);
    v2[3] ^= 0x11;
    snprintf(paths, sizeof paths, "%s,%s", d0, d1);
    memset(&ds, 0, sizeof ds);
    ds.dirfd_of_k1 = -1;
    fs_name_of("k1", n1);
    ds.w.name = n1;
    memset(&ops, 0, sizeof ops);
    ops.user = &ds;
    ops.fsync = ds_fsync;
    ops.fstatat = ds_fstatat;
    ops.renameat = ds_renameat;
    ops.linkat = ds_linkat;
    if (!open_evicting_pair(paths, &ops, &a, &b))
        return;
    CHECK_R(kvs_store_put(a, "k1", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_sync(a), KVS_OK);
    other = count_files(d0, 1) == 1 ? d1 : d0; /* the directory without k1 */
    snprintf(dk1, sizeof dk1, "%s", other == d1 ? d0 : d1);
    CHECK_R(kvs_store_put(a, "k2", 2, g_val, VLEN), KVS_OK);
    CHECK_R(kvs_store_sync(a), KVS_OK); /* nothing of A's left unsynced */
    /* a key of the other directory, not stored: A's put of it evicts k1 */
    for (i = 0; i < 1000 && !found; i++) {
        size_t before = count_files(other, 1);
        snprintf(key, sizeof key, "probe%d", i);
        CHECK_R(kvs_store_put(b, key, strlen(key), g_val, 16), KVS_OK);
        found = count_files(other, 1) > before;
        CHECK_R(kvs_store_remove(b, key, strlen(key)), KVS_OK);
    }
    CHECK(found);
    ds.dirfd_of_k1 = open(dk1, O_RDONLY | O_DIRECTORY);
    CHECK(ds.dirfd_of_k1 >= 0);
    ds.w.b = b;
    ds.w.look_val = v2; /* B's k1 lands between A's look and its rename */
    CHECK_R(kvs_store_put(a, key, strlen(key), g_val, VLEN), KVS_OK); /* evicts: k1 back */
    CHECK(ds.w.takes == 1 && ds.w.links == 1 && ds.w.puts == 1);
    get_is(a, "k1", v2);
    ds.synced = 0;
    CHECK_R(kvs_store_sync(a), KVS_OK);
    CHECK(ds.synced >= 1); /* k1's directory: renamed and linked back */
    close(ds.dirfd_of_k1);
    CHECK_R(kvs_store_close(a), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
}

int main(void)
{
    char d1[1200], d2[1200], d3[1200], d4[1200];
    uint64_t rs;
    int mode;
    t_init("test_store_fs_handles");
    t_setup_dir("fsh");
    rs = t_seed;
    t_fill_random(g_val, VLEN, &rs);
    memset(&g_ops, 0, sizeof g_ops);
    g_ops.unlinkat = h_unlinkat;
    g_ops.renameat = h_renameat;
    g_ops.openat = h_openat;
    g_ops.pread = h_pread;
    t_path(d4, sizeof d4, "child");
    test_evict_spares_child(d4); /* first: it forks before any store thread */
    t_path(d1, sizeof d1, "pin");
    t_path(d2, sizeof d2, "long");
    t_path(d3, sizeof d3, "miss");
    test_pin_during_eviction(d1);
    test_long_keys(d2);
    test_stale_miss(d3);
    t_path(d4, sizeof d4, "evict");
    test_evict_waits_for_read(d4);
    t_path(d4, sizeof d4, "pingone");
    test_pin_gone_while_read(d4);
    t_path(d4, sizeof d4, "known");
    test_known_replaced_same_size(d4);
    for (mode = 0; mode <= 6; mode++) {
        char sub[32];
        snprintf(sub, sizeof sub, "spare%d", mode);
        t_path(d4, sizeof d4, sub);
        test_evict_spares_newer(d4, mode);
    }
    t_path(d4, sizeof d4, "nonfile");
    test_evict_non_file(d4);
    t_path(d4, sizeof d4, "unided");
    test_evict_unidentified(d4);
    t_path(d4, sizeof d4, "unided_own");
    test_evict_own_unidentified(d4);
    t_path(d4, sizeof d4, "fallback");
    test_put_fstat_fallback(d4);
    t_path(d4, sizeof d4, "pinrm");
    test_pin_after_removes(d4);
    t_path(d1, sizeof d1, "pb0");
    t_path(d2, sizeof d2, "pb1");
    test_put_back_synced(d1, d2);
    t_rm_rf(t_dir);
    return t_done("test_store_fs_handles");
}
