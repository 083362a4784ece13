/* SPDX-License-Identifier: MIT OR Unlicense */
/* Filesystem store under fault injection: the order of syncs and renames per
   durability level (a recording kvs_sysops), and every hooked system call of
   put, get, remove, eviction, sync and open failed (EIO, ENOSPC), interrupted
   or shortened in turn, plus every allocation failed in turn: the result is
   right, no temporary file is left, and nothing stored before is lost or
   read back wrong. Environment: KVS_TEST_DIR, KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define FS_THREADS 1
#include "test_store_fs_util.h"

/* ---- recording / faulting system calls ---- */
enum { F_NONE = 0, F_EIO, F_ENOSPC, F_SHORT, F_EINTR, F_KINDS };
static const char *const fault_names[F_KINDS] = {"none", "EIO", "ENOSPC", "short", "EINTR"};

#define REC_MAX 256
typedef struct rec {
    char op[16];
    int isdir;  /* fsync/fdatasync on a directory */
    char name[64];
} rec;

typedef struct fault {
    pthread_mutex_t mu;
    unsigned count;    /* hooked calls so far */
    unsigned fail_at;  /* 1-based; 0 = never */
    int kind;
    int fired;
    char fired_op[16];
    int fired_isdir;
    int fired_written; /* a close or fstat, of a descriptor something was written through */
    int recording;
    unsigned nrec;
    rec recs[REC_MAX];
} fault;

static fault g_ft;

/* Fault points walked (runs where the failure fired), by operation. */
enum { W_PUT, W_GET, W_REMOVE, W_EVICT, W_SYNC, W_OPEN, W_N };
static unsigned g_walked[W_N], g_alloc_walked;

/* 1 when this call is the one to fail. */
static int ft_hit(const char *op, int fd, const char *name, int can_short)
{
    int hit = 0, isdir = 0;
    struct stat sb;
    if (fd >= 0 && fstat(fd, &sb) == 0)
        isdir = S_ISDIR(sb.st_mode);
    pthread_mutex_lock(&g_ft.mu);
    /* short transfers and EINTR apply to transfers and syncs: count those */
    if ((g_ft.kind != F_SHORT && g_ft.kind != F_EINTR) || can_short)
        g_ft.count++;
    if (g_ft.recording && g_ft.nrec < REC_MAX) {
        rec *r = &g_ft.recs[g_ft.nrec++];
        snprintf(r->op, sizeof r->op, "%s", op);
        r->isdir = isdir;
        snprintf(r->name, sizeof r->name, "%s", name ? name : "");
    }
    if (g_ft.fail_at != 0 && g_ft.count == g_ft.fail_at && !g_ft.fired) {
        if ((g_ft.kind != F_SHORT && g_ft.kind != F_EINTR) || can_short) {
            hit = 1;
            g_ft.fired = 1;
            snprintf(g_ft.fired_op, sizeof g_ft.fired_op, "%s", op);
            g_ft.fired_isdir = isdir;
        }
    }
    pthread_mutex_unlock(&g_ft.mu);
    return hit;
}

static int ft_err(void)
{
    return g_ft.kind == F_ENOSPC ? -ENOSPC : g_ft.kind == F_EINTR ? -EINTR : -EIO;
}

/* The descriptors something was written through (pwrite, fallocate)
   since they were opened: a failed close of one must fail the operation. */
#define FD_TRACK 4096
static unsigned char g_written[FD_TRACK];
static void fd_mark(int fd, unsigned char v)
{
    if (fd >= 0 && fd < FD_TRACK)
        __atomic_store_n(&g_written[fd], v, __ATOMIC_RELAXED);
}

static int h_open(void *u, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    if (ft_hit("open", -1, path, 0))
        return ft_err();
    fd = open(path, flags, (mode_t)mode);
    fd_mark(fd, 0);
    return fd < 0 ? -errno : fd;
}
/* g_refuse_direct: the filesystem turns O_DIRECT down after the store
   opened. 1: openat with O_DIRECT answers EINVAL, having created the file
   as Linux does (the check comes after the create); 2: setfl with O_DIRECT
   answers EINVAL too. */
static int g_refuse_direct;

static int h_openat(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    if (ft_hit("openat", -1, path, 0))
        return ft_err();
    if (g_refuse_direct >= 1 && (flags & O_DIRECT) != 0) {
        fd = openat(dfd, path, flags & ~O_DIRECT, (mode_t)mode);
        if (fd >= 0)
            close(fd);
        return -EINVAL;
    }
    fd = openat(dfd, path, flags, (mode_t)mode);
    fd_mark(fd, 0);
    return fd < 0 ? -errno : fd;
}
static int h_setfl(void *u, int fd, int flags)
{
    (void)u;
    if (ft_hit("setfl", -1, NULL, 0))
        return ft_err();
    if (g_refuse_direct >= 2 && (flags & O_DIRECT) != 0)
        return -EINVAL;
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}
static int64_t h_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    int shorten = 0;
    (void)u;
    if (ft_hit("pread", -1, NULL, 1)) {
        if (g_ft.kind != F_SHORT)
            return ft_err();
        shorten = 1;
    }
    n = pread(fd, buf, len, (off_t)off);
    if (n > 1 && shorten)
        n /= 2; /* moved all, reports half: the caller must go on (O_DIRECT-safe) */
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}
static int64_t h_pwrite(void *u, int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    int shorten = 0;
    (void)u;
    fd_mark(fd, 1);
    if (ft_hit("pwrite", -1, NULL, 1)) {
        if (g_ft.kind != F_SHORT)
            return ft_err();
        shorten = 1;
    }
    n = pwrite(fd, buf, len, (off_t)off);
    if (n > 1 && shorten)
        n /= 2; /* moved all, reports half: the caller must go on (O_DIRECT-safe) */
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}
static int h_fsync(void *u, int fd)
{
    (void)u;
    if (ft_hit("fsync", fd, NULL, 1))
        return ft_err();
    return fsync(fd) < 0 ? -errno : 0;
}
static int h_fdatasync(void *u, int fd)
{
    (void)u;
    if (ft_hit("fdatasync", fd, NULL, 1))
        return ft_err();
    return fdatasync(fd) < 0 ? -errno : 0;
}
static int h_rename(void *u, const char *a, const char *b)
{
    (void)u;
    if (ft_hit("rename", -1, b, 0))
        return ft_err();
    return rename(a, b) < 0 ? -errno : 0;
}
static int h_renameat(void *u, int fa, const char *a, int fb, const char *b)
{
    (void)u;
    if (ft_hit("renameat", -1, b, 0))
        return ft_err();
    return renameat(fa, a, fb, b) < 0 ? -errno : 0;
}
static int h_unlinkat(void *u, int fd, const char *p, int flags)
{
    (void)u;
    if (ft_hit("unlinkat", -1, p, 0))
        return ft_err();
    return unlinkat(fd, p, flags) < 0 ? -errno : 0;
}

/* g_falloc_unsupported: fallocate answers EOPNOTSUPP (a filesystem
   without it) and the put goes on, the write allocating. */
static int g_falloc_unsupported;
static int g_falloc_errno; /* every fallocate fails with this (0: none) */
static unsigned g_falloc_calls, g_falloc_failed_puts, g_close_failed_puts, g_fstat_absorbed_puts;

static int h_fallocate(void *u, int fd, uint64_t off, uint64_t len)
{
    (void)u;
    fd_mark(fd, 1);
    pthread_mutex_lock(&g_ft.mu);
    g_falloc_calls++;
    pthread_mutex_unlock(&g_ft.mu);
    /* EINTR is injected here too (the store retries it); "short" has no
       meaning for a reservation and leaves it out of the count */
    if (ft_hit("fallocate", -1, NULL, g_ft.kind == F_EINTR))
        return ft_err();
    if (g_falloc_errno != 0)
        return -g_falloc_errno;
    if (g_falloc_unsupported)
        return -EOPNOTSUPP;
    return fallocate(fd, 0, (off_t)off, (off_t)len) != 0 ? -errno : 0;
}

/* A failed close still releases the descriptor (as Linux does); EINTR is
   success to the store, "short" has no meaning here. */
static int h_close(void *u, int fd)
{
    int wr = fd >= 0 && fd < FD_TRACK && __atomic_load_n(&g_written[fd], __ATOMIC_RELAXED);
    (void)u;
    fd_mark(fd, 0);
    if (ft_hit("close", fd, NULL, g_ft.kind == F_EINTR)) {
        pthread_mutex_lock(&g_ft.mu);
        g_ft.fired_written = wr;
        pthread_mutex_unlock(&g_ft.mu);
        (void)close(fd);
        return ft_err();
    }
    return close(fd) != 0 ? -errno : 0;
}

/* Status calls: failed (EIO, ENOSPC) like any other; nothing to shorten
   or interrupt. */
/* g_fstat_errno: every fstat answers -g_fstat_errno (0: none). */
static int g_fstat_errno;
static int h_fstat(void *u, int fd, kvs_file_status *st)
{
    int wr = fd >= 0 && fd < FD_TRACK && __atomic_load_n(&g_written[fd], __ATOMIC_RELAXED);
    (void)u;
    if (ft_hit("fstat", fd, NULL, 0)) {
        pthread_mutex_lock(&g_ft.mu);
        g_ft.fired_written = wr;
        pthread_mutex_unlock(&g_ft.mu);
        return ft_err();
    }
    if (g_fstat_errno != 0)
        return -g_fstat_errno;
    return kvs_sys_fstat(fd, st);
}
/* g_fstatat_errno: fstatat of names ending in g_fstatat_suffix answers
   -g_fstatat_errno (a file gone since the directory read: ENOENT). */
static int g_fstatat_errno;
static const char *g_fstatat_suffix = "";
static int h_fstatat(void *u, int dfd, const char *path, kvs_file_status *st)
{
    size_t pl = strlen(path), sl = strlen(g_fstatat_suffix);
    (void)u;
    if (ft_hit("fstatat", -1, path, 0))
        return ft_err();
    if (g_fstatat_errno != 0 && pl >= sl && strcmp(path + pl - sl, g_fstatat_suffix) == 0)
        return -g_fstatat_errno;
    return kvs_sys_fstatat(dfd, path, st);
}

/* Directory reads: walked by ft_hit like any call; besides, the
   g_readdir_at-th read since g_readdir_calls was zeroed answers
   -g_readdir_errno, or 1 without a name when g_readdir_errno is 0. */
static unsigned g_readdir_calls, g_readdir_at;
static int g_readdir_errno;
static int h_readdir(void *u, void *stream, const char **name)
{
    unsigned n;
    (void)u;
    if (ft_hit("readdir", -1, NULL, 0))
        return ft_err();
    n = __atomic_add_fetch(&g_readdir_calls, 1, __ATOMIC_RELAXED);
    if (g_readdir_at != 0 && n == g_readdir_at)
        return g_readdir_errno != 0 ? -g_readdir_errno : 1;
    return kvs_sys_readdir(stream, name);
}

/* Read-ahead hints: recorded (the last call's range per advice), answered
   -g_fadvise_errno when set, else by the real call. */
typedef struct fadv_rec {
    unsigned calls, seq, willneed, other;
    uint64_t off[3], len[3]; /* by advice: [KVS_FADV_SEQUENTIAL], [KVS_FADV_WILLNEED] */
} fadv_rec;
static fadv_rec g_fadv;
static int g_fadvise_errno;
static int h_fadvise(void *u, int fd, uint64_t off, uint64_t len, int advice)
{
    (void)u;
    pthread_mutex_lock(&g_ft.mu);
    g_fadv.calls++;
    g_fadv.seq += advice == KVS_FADV_SEQUENTIAL;
    g_fadv.willneed += advice == KVS_FADV_WILLNEED;
    g_fadv.other += advice != KVS_FADV_SEQUENTIAL && advice != KVS_FADV_WILLNEED;
    if (advice == KVS_FADV_SEQUENTIAL || advice == KVS_FADV_WILLNEED) {
        g_fadv.off[advice] = off;
        g_fadv.len[advice] = len;
    }
    pthread_mutex_unlock(&g_ft.mu);
    if (g_fadvise_errno != 0)
        return -g_fadvise_errno;
    return kvs_sys_fadvise(fd, off, len, advice);
}

/* A failed close that must be absorbed: of a descriptor nothing was
   written through, or an EINTR (success). 0 when the fault was elsewhere. */
static int close_absorbed(void)
{
    return strcmp(g_ft.fired_op, "close") == 0 && (g_ft.kind == F_EINTR || !g_ft.fired_written);
}

static kvs_sysops g_ops;

static void ops_init(void)
{
    memset(&g_ops, 0, sizeof g_ops);
    g_ops.open = h_open;
    g_ops.openat = h_openat;
    g_ops.setfl = h_setfl;
    g_ops.pread = h_pread;
    g_ops.pwrite = h_pwrite;
    g_ops.fsync = h_fsync;
    g_ops.fdatasync = h_fdatasync;
    g_ops.rename = h_rename;
    g_ops.renameat = h_renameat;
    g_ops.unlinkat = h_unlinkat;
    g_ops.fallocate = h_fallocate;
    g_ops.close = h_close;
    g_ops.fstat = h_fstat;
    g_ops.fstatat = h_fstatat;
    g_ops.readdir = h_readdir;
    g_ops.fadvise = h_fadvise;
}

static void ft_arm(unsigned at, int kind)
{
    pthread_mutex_lock(&g_ft.mu);
    g_ft.count = 0;
    g_ft.fail_at = at;
    g_ft.kind = kind;
    g_ft.fired = 0;
    g_ft.fired_op[0] = '\0';
    g_ft.fired_isdir = 0;
    g_ft.fired_written = 0;
    pthread_mutex_unlock(&g_ft.mu);
}

/* Stop failing; keep what fired for the checks. */
static void ft_disarm(void)
{
    pthread_mutex_lock(&g_ft.mu);
    g_ft.fail_at = 0;
    pthread_mutex_unlock(&g_ft.mu);
}

static void ft_record(int on)
{
    pthread_mutex_lock(&g_ft.mu);
    g_ft.recording = on;
    if (on)
        g_ft.nrec = 0;
    pthread_mutex_unlock(&g_ft.mu);
}

/* cfg_fs through the hooked system calls */
static void cfg_fs_hooked(kvs_store_config *c, const char *paths)
{
    cfg_fs(c, paths);
    c->sysops = &g_ops;
}

static int find_rec(const char *op, int isdir, unsigned from)
{
    unsigned i;
    for (i = from; i < g_ft.nrec; i++)
        if (strcmp(g_ft.recs[i].op, op) == 0 && (isdir < 0 || g_ft.recs[i].isdir == isdir))
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------------ */
static void test_durability_order(void)
{
    kvs_durability lv;
    for (lv = KVS_DURABLE_NONE; lv <= KVS_DURABLE_FULL; lv = (kvs_durability)(lv + 1)) {
        char d[1100], name[32];
        kvs_store_config c;
        kvs_store *s;
        unsigned char v[6000];
        int ren, fds, dirs;
        snprintf(name, sizeof name, "dur%d", (int)lv);
        t_path(d, sizeof d, name);
        cfg_fs_hooked(&c, d);
        c.durability = lv;
        ft_arm(0, F_NONE);
        s = open_store(&c);
        CHECK(s != NULL);
        if (s == NULL)
            continue;
        t_fill_tag(v, sizeof v, 3);
        ft_record(1);
        CHECK_R(kvs_store_put(s, "dkey", 4, v, sizeof v), KVS_OK);
        ft_record(0);
        ren = find_rec("renameat", -1, 0);
        fds = find_rec("fdatasync", 0, 0);
        dirs = find_rec("fsync", 1, 0);
        CHECK(ren >= 0);
        CHECK(find_rec("openat", -1, 0) >= 0 && find_rec("openat", -1, 0) < ren);
        CHECK(find_rec("pwrite", -1, 0) < ren);
        /* the written file is closed before the rename publishes it, after
           its last write and sync (NFS writes back and reports errors at
           close; the put walk below checks a failed close fails the put) */
        {
            int pw = find_rec("pwrite", -1, 0), cl = pw >= 0 ? find_rec("close", 0, (unsigned)pw + 1) : -1;
            CHECK(cl > pw && cl < ren);
            CHECK(find_rec("fdatasync", 0, (unsigned)cl + 1) < 0 && find_rec("pwrite", -1, (unsigned)cl + 1) < 0);
        }
        if (lv == KVS_DURABLE_NONE) {
            CHECK(fds < 0 && dirs < 0);
        } else {
            CHECK(fds >= 0 && fds < ren);              /* data synced before the rename */
            CHECK(find_rec("pwrite", -1, (unsigned)fds + 1) < 0); /* ...after every write */
            if (lv == KVS_DURABLE_FULL)
                CHECK(dirs > ren);                     /* directory synced after it */
            else
                CHECK(dirs < 0);
        }
        /* remove under FULL syncs the directory after the unlink */
        ft_record(1);
        CHECK_R(kvs_store_remove(s, "dkey", 4), KVS_OK);
        ft_record(0);
        if (lv == KVS_DURABLE_FULL)
            CHECK(find_rec("fsync", 1, 0) > find_rec("unlinkat", -1, 0));
        else
            CHECK(find_rec("fsync", 1, 0) < 0);
        /* sync: file data (NONE), then directories */
        CHECK_R(kvs_store_put(s, "dkey2", 5, v, sizeof v), KVS_OK);
        ft_record(1);
        CHECK_R(kvs_store_sync(s), KVS_OK);
        ft_record(0);
        if (lv == KVS_DURABLE_NONE) {
            fds = find_rec("fdatasync", 0, 0);
            CHECK(fds >= 0);
            CHECK(find_rec("fsync", 1, 0) > fds);
        } else if (lv == KVS_DURABLE_DATA) {
            CHECK(find_rec("fdatasync", 0, 0) < 0);
            CHECK(find_rec("fsync", 1, 0) >= 0);
        } else {
            CHECK(g_ft.nrec == 0); /* nothing left to sync */
        }
        ft_record(1);
        CHECK_R(kvs_store_sync(s), KVS_OK);
        ft_record(0);
        CHECK(g_ft.nrec == 0);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
}

static unsigned count_rec(const char *op)
{
    unsigned i, n = 0;
    for (i = 0; i < g_ft.nrec; i++)
        n += strcmp(g_ft.recs[i].op, op) == 0;
    return n;
}

/* ------------------------------------------------------------------ */
/* Object files open like the directory's probe file: one openat with
   O_DIRECT in its flags, no setfl, for every policy; when the filesystem
   refuses O_DIRECT at open after all, the full open applies the policy
   (PREFER falls back, REQUIRE fails) and no file is left behind. */
static void test_open_like(void)
{
    kvs_direct_policy pol;
    for (pol = KVS_DIRECT_PREFER; pol <= KVS_DIRECT_REQUIRE; pol = (kvs_direct_policy)(pol + 1)) {
        char d[1100], name[32];
        kvs_store_config c;
        kvs_store_stats st;
        kvs_store *s;
        unsigned char v[9000], b[9000];
        size_t got = 0;
        kvs_result r;
        snprintf(name, sizeof name, "like%d", (int)pol);
        t_path(d, sizeof d, name);
        cfg_fs_hooked(&c, d);
        c.direct = pol;
        ft_arm(0, F_NONE);
        g_refuse_direct = 0;
        s = open_store(&c);
        if (s == NULL) {
            CHECK(pol == KVS_DIRECT_REQUIRE); /* a filesystem without O_DIRECT */
            printf("SKIP test_open_like: REQUIRE: %s refuses O_DIRECT\n", d);
            continue;
        }
        kvs_store_get_stats(s, &st);
        t_fill_tag(v, sizeof v, 7);
        ft_record(1);
        CHECK_R(kvs_store_put(s, "ol", 2, v, sizeof v), KVS_OK);
        CHECK_R(kvs_store_get(s, "ol", 2, b, sizeof b, &got), KVS_OK);
        ft_record(0);
        CHECK(got == sizeof v && memcmp(b, v, sizeof v) == 0);
        CHECK(count_rec("openat") == 2); /* the temp file, then the final name */
        CHECK(count_rec("setfl") == 0);
        CHECK(count_rec("renameat") == 1);
        /* the filesystem turns O_DIRECT down at open */
        g_refuse_direct = 1;
        memset(b, 0, sizeof b);
        t_fill_tag(v, sizeof v, 8);
        ft_record(1);
        r = kvs_store_put(s, "ol", 2, v, sizeof v);
        ft_record(0);
        if (st.direct != 0) {
            CHECK_R(r, KVS_OK);              /* the full open: setfl succeeds */
            CHECK(count_rec("setfl") == 1);
            CHECK_R(kvs_store_get(s, "ol", 2, b, sizeof b, &got), KVS_OK);
            CHECK(got == sizeof v && memcmp(b, v, sizeof v) == 0);
            g_refuse_direct = 2;
            t_fill_tag(v, sizeof v, 9);
            r = kvs_store_put(s, "ol2", 3, v, sizeof v);
            if (pol == KVS_DIRECT_REQUIRE) {
                CHECK_R(r, KVS_E_NODIRECT);
                CHECK_R(kvs_store_exists(s, "ol2", 3), KVS_NOT_FOUND);
                r = kvs_store_get(s, "ol", 2, b, sizeof b, &got);
                CHECK_R(r, KVS_E_NODIRECT);
            } else {
                CHECK_R(r, KVS_OK);          /* buffered */
                CHECK_R(kvs_store_get(s, "ol2", 3, b, sizeof b, &got), KVS_OK);
                CHECK(got == sizeof v && memcmp(b, v, sizeof v) == 0);
            }
        } else {
            CHECK_R(r, KVS_OK); /* no O_DIRECT asked for: nothing refused */
        }
        CHECK(count_files(d, 2) == 0); /* no temp left behind */
        g_refuse_direct = 0;
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
}

/* ------------------------------------------------------------------ */
static int get_is(kvs_store *s, const char *key, const unsigned char *want, size_t n)
{
    unsigned char *buf = (unsigned char *)malloc(n + 16);
    size_t got = 0;
    kvs_result r;
    int ok;
    if (buf == NULL)
        return 0;
    r = kvs_store_get(s, key, strlen(key), buf, n + 16, &got);
    ok = r == KVS_OK && got == n && memcmp(buf, want, n) == 0;
    free(buf);
    return ok;
}

/* One get under the fault armed at call `at`: the right bytes, or (a
   short transfer or an EINTR being absorbed) never failed at pread, or an
   error, never a miss or wrong data. 1 when the fault fired. */
static int get_step(kvs_store *s, const void *key, size_t kl, const unsigned char *want, size_t n, unsigned at,
                    int kind)
{
    /* aligned, as a zero-copy caller's: under direct I/O the payload goes
       straight into it and only the tail is bounced, the same calls on
       every run (a malloc'd buffer's alignment follows the heap's layout) */
    unsigned char *buf = NULL;
    size_t got = 0;
    kvs_result r;
    CHECK(posix_memalign((void **)&buf, 4096, n) == 0 && buf != NULL);
    if (buf == NULL)
        return 0;
    ft_arm(at, kind);
    r = kvs_store_get(s, key, kl, buf, n, &got);
    ft_disarm();
    g_walked[W_GET] += g_ft.fired ? 1u : 0u;
    if (close_absorbed())
        CHECK_R(r, KVS_OK); /* the file was only read */
    if (r == KVS_OK)
        CHECK(got == n && memcmp(buf, want, n) == 0);
    else if (kind == F_SHORT || kind == F_EINTR)
        CHECK(strcmp(g_ft.fired_op, "pread") != 0);
    else
        CHECK(r < 0); /* an error, never a miss or wrong data */
    free(buf);
    return g_ft.fired;
}

/* Walk a fault over every hooked call of put/get/remove/evict. */
static void walk_ops(kvs_direct_policy pol, kvs_durability lv, int kind)
{
    char d[1100], name[64];
    kvs_store_config c;
    kvs_store *s;
    const size_t n = 9000;
    unsigned char *A = (unsigned char *)malloc(n), *B = (unsigned char *)malloc(n),
                  *other = (unsigned char *)malloc(n);
    unsigned at;
    snprintf(name, sizeof name, "walk_%d_%d_%d", (int)pol, (int)lv, kind);
    t_path(d, sizeof d, name);
    cfg_fs_hooked(&c, d);
    c.direct = pol;
    c.durability = lv;
    c.capacity_bytes = 4 * 16384; /* 4 objects of 9000 bytes: 16 KiB each */
    ft_arm(0, F_NONE);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL || A == NULL || B == NULL || other == NULL)
        goto out;
    t_fill_tag(A, n, 1);
    t_fill_tag(B, n, 2);
    t_fill_tag(other, n, 3);
    CHECK_R(kvs_store_put(s, "keep", 4, other, n), KVS_OK);
    CHECK_R(kvs_store_pin(s, "keep", 4), KVS_OK);
    /* put over an existing key */
    for (at = 1; at < 200; at++) {
        kvs_result r;
        CHECK_R(kvs_store_put(s, "k", 1, A, n), KVS_OK);
        ft_arm(at, kind);
        r = kvs_store_put(s, "k", 1, B, n);
        ft_disarm();
        g_walked[W_PUT] += g_ft.fired ? 1u : 0u;
        if (!g_ft.fired) {
            CHECK_R(r, KVS_OK);
            CHECK(get_is(s, "k", B, n));
            break;
        }
        if (kind == F_SHORT || kind == F_EINTR) {
            /* short transfers continue, EINTR retries (setfl aside) */
            if (r != KVS_OK) {
                CHECK(strcmp(g_ft.fired_op, "pwrite") != 0 && strcmp(g_ft.fired_op, "pread") != 0);
                if (strcmp(g_ft.fired_op, "pwrite") == 0 || strcmp(g_ft.fired_op, "pread") == 0)
                    fprintf(stderr, "  %s at %u: %s (%s, direct %d)\n", fault_names[kind], at, kvs_result_name(r),
                            g_ft.fired_op, (int)pol);
            }
        } else if (strcmp(g_ft.fired_op, "fstat") == 0 && g_ft.fired_written) {
            /* the record of what it published (the fstat of the file it
               wrote): forgone, the put stands (the next get reads the
               header); any other fstat of a put fails it */
            CHECK_R(r, KVS_OK);
            g_fstat_absorbed_puts++;
        } else {
            CHECK(r != KVS_OK);
            if (r == KVS_OK)
                fprintf(stderr, "  put ok despite %s at call %u (%s)\n", fault_names[kind], at, g_ft.fired_op);
        }
        if (r != KVS_OK && strcmp(g_ft.fired_op, "fallocate") == 0) {
            CHECK_R(r, kind == F_ENOSPC ? KVS_E_NOSPC : KVS_E_IO);
            g_falloc_failed_puts++;
        }
        if (close_absorbed())
            CHECK_R(r, KVS_OK); /* an EINTR: success */
        if (strcmp(g_ft.fired_op, "close") == 0 && kind != F_EINTR) {
            /* the written file's close failed (NFS reports write-back
               errors there): the put fails and publishes nothing */
            CHECK_R(r, kind == F_ENOSPC ? KVS_E_NOSPC : KVS_E_IO);
            g_close_failed_puts++;
        }
        if (r == KVS_OK || (strcmp(g_ft.fired_op, "fsync") == 0 && g_ft.fired_isdir))
            CHECK(get_is(s, "k", B, n)); /* renamed; only its durability failed */
        else
            CHECK(get_is(s, "k", A, n)); /* the old object stays */
        CHECK(count_files(d, 2) == 0);    /* no temp left */
        CHECK(get_is(s, "keep", other, n));
    }
    CHECK(at > 2 && at < 200);
    if (!(at > 2 && at < 200))
        fprintf(stderr, "  put walk ended at %u (%s)\n", at, fault_names[kind]);
    /* get of a file the handle knows */
    for (at = 1; at < 100; at++)
        if (!get_step(s, "k", 1, B, n, at, kind))
            break;
    CHECK(at > 1 && at < 100);
    if (!(at > 1 && at < 100))
        fprintf(stderr, "  get walk ended at %u (%s)\n", at, fault_names[kind]);
    /* get of a key with a hashed name, whose length the handle knows: the
       header is always read, here with the payload in one vectored read */
    {
        unsigned char hk[300];
        memset(hk, 'q', sizeof hk);
        CHECK_R(kvs_store_put(s, hk, sizeof hk, B, n), KVS_OK);
        for (at = 1; at < 100; at++)
            if (!get_step(s, hk, sizeof hk, B, n, at, kind))
                break;
        CHECK(at > 1 && at < 100);
        CHECK_R(kvs_store_remove(s, hk, sizeof hk), KVS_OK);
    }
    /* get by a store handle that does not know the file (opened afresh for
       every fault point): it reads and checks the header too */
    for (at = 1; at < 100; at++) {
        CHECK_R(kvs_store_close(s), KVS_OK);
        s = open_store(&c);
        CHECK(s != NULL);
        if (s == NULL)
            goto out;
        CHECK_R(kvs_store_pin(s, "keep", 4), KVS_OK);
        if (!get_step(s, "k", 1, B, n, at, kind))
            break;
    }
    CHECK(at > 1 && at < 100);
    /* remove: fails -> still there */
    for (at = 1; at < 50; at++) {
        kvs_result r;
        ft_arm(at, kind);
        r = kvs_store_remove(s, "k", 1);
        ft_disarm();
        g_walked[W_REMOVE] += g_ft.fired ? 1u : 0u;
        if (!g_ft.fired) {
            CHECK_R(r, KVS_OK);
            break;
        }
        if (r == KVS_OK) {
            CHECK(kind == F_SHORT || kind == F_EINTR || (strcmp(g_ft.fired_op, "fsync") == 0));
            CHECK_R(kvs_store_put(s, "k", 1, B, n), KVS_OK);
        } else if (strcmp(g_ft.fired_op, "fsync") == 0) {
            CHECK_R(kvs_store_exists(s, "k", 1), KVS_NOT_FOUND); /* unlinked, not durable */
            CHECK_R(kvs_store_put(s, "k", 1, B, n), KVS_OK);
        } else {
            CHECK(get_is(s, "k", B, n));
        }
    }
    /* eviction: fill up, then a put that must evict */
    {
        CHECK_R(kvs_store_put(s, "e1", 2, A, n), KVS_OK);
        CHECK_R(kvs_store_put(s, "e2", 2, A, n), KVS_OK);
        CHECK_R(kvs_store_put(s, "e3", 2, A, n), KVS_OK);
        for (at = 1; at < 200; at++) {
            kvs_result r;
            kvs_store_stats st;
            ft_arm(at, kind);
            r = kvs_store_put(s, "e4", 2, B, n);
            ft_disarm();
            g_walked[W_EVICT] += g_ft.fired ? 1u : 0u;
            kvs_store_get_stats(s, &st);
            CHECK(st.disk_bytes <= c.capacity_bytes);
            CHECK(count_files(d, 2) == 0);
            CHECK(get_is(s, "keep", other, n));
            if (!g_ft.fired) {
                CHECK_R(r, KVS_OK);
                break;
            }
            if (r == KVS_OK || (strcmp(g_ft.fired_op, "fsync") == 0 && g_ft.fired_isdir))
                CHECK(get_is(s, "e4", B, n)); /* renamed (only its durability may have failed) */
            else
                CHECK_R(kvs_store_exists(s, "e4", 2), KVS_NOT_FOUND); /* a failed put publishes nothing */
            {
                /* one eviction makes the room: at most one of e1..e3 is
                   gone, and those left are whole */
                static const char *const ek[3] = {"e1", "e2", "e3"};
                unsigned j, gone = 0;
                for (j = 0; j < 3; j++) {
                    if (kvs_store_exists(s, ek[j], 2) == KVS_OK)
                        CHECK(get_is(s, ek[j], A, n));
                    else
                        gone++;
                }
                CHECK(gone <= 1);
            }
            /* restore: e4 gone, e1..e3 present */
            (void)kvs_store_remove(s, "e4", 2);
            if (kvs_store_exists(s, "e1", 2) != KVS_OK)
                CHECK_R(kvs_store_put(s, "e1", 2, A, n), KVS_OK);
            if (kvs_store_exists(s, "e2", 2) != KVS_OK)
                CHECK_R(kvs_store_put(s, "e2", 2, A, n), KVS_OK);
            if (kvs_store_exists(s, "e3", 2) != KVS_OK)
                CHECK_R(kvs_store_put(s, "e3", 2, A, n), KVS_OK);
        }
    }
    /* sync */
    if (lv == KVS_DURABLE_NONE) {
        for (at = 1; at < 50; at++) {
            kvs_result r;
            CHECK_R(kvs_store_put(s, "sy", 2, A, n), KVS_OK);
            ft_arm(at, kind);
            r = kvs_store_sync(s);
            ft_disarm();
            g_walked[W_SYNC] += g_ft.fired ? 1u : 0u;
            if (!g_ft.fired) {
                CHECK_R(r, KVS_OK);
                break;
            }
            /* a failed close after the fdatasync changes nothing: the
               descriptor was only read and its file is already synced */
            if (close_absorbed())
                CHECK_R(r, KVS_OK);
            else if (kind == F_EIO || kind == F_ENOSPC)
                CHECK(r != KVS_OK);
            CHECK_R(kvs_store_sync(s), KVS_OK); /* a retry makes it durable */
        }
    }
    {
        kvs_store_stats st;
        kvs_store_get_stats(s, &st);
        CHECK(st.corruptions == 0);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
out:
    free(A);
    free(B);
    free(other);
}

static void test_walks(void)
{
    int kind;
    for (kind = F_EIO; kind < F_KINDS; kind++) {
        walk_ops(KVS_DIRECT_REQUIRE, KVS_DURABLE_FULL, kind);
        walk_ops(KVS_DIRECT_OFF, KVS_DURABLE_NONE, kind);
    }
    walk_ops(KVS_DIRECT_PREFER, KVS_DURABLE_DATA, F_EIO);
    /* the walks reached the put's block reservation and its close, and
       failed puts there */
    CHECK(g_falloc_failed_puts >= 4);
    CHECK(g_close_failed_puts >= 4);
    CHECK(g_fstat_absorbed_puts >= 4);
}

/* ------------------------------------------------------------------ */
/* The open-time scan and exists through kvs_sysops.fstatat: a name gone
   between the directory read and its fstatat (ENOENT, or ESTALE on NFS)
   is skipped and the open goes on; any other error fails the open with
   its result (it no longer skips the file, under-counting the capacity in
   use); exists reports the error, and ENOENT as a miss. And a get whose
   fstat of the opened file fails is an error whatever the errno. */
static void test_fstatat(void)
{
    char d[1100];
    kvs_store_config c;
    kvs_store_stats st;
    kvs_store *s;
    kvs_result r;
    unsigned char v[3000];
    char err[256];
    t_path(d, sizeof d, "fstatat");
    cfg_fs_hooked(&c, d);
    ft_arm(0, F_NONE);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    t_fill_tag(v, sizeof v, 21);
    CHECK_R(kvs_store_put(s, "alpha", 5, v, sizeof v), KVS_OK);
    CHECK_R(kvs_store_put(s, "beta", 4, v, sizeof v), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    /* the data file of "beta" (the codec keeps short printable keys
       readable) */
    g_fstatat_suffix = "beta.kv";
    g_fstatat_errno = ENOENT;
    s = NULL;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s != NULL) {
        kvs_store_get_stats(s, &st);
        CHECK(st.objects == 1); /* alpha only: beta was "gone" */
        CHECK_R(kvs_store_exists(s, "beta", 4), KVS_NOT_FOUND);
        g_fstatat_errno = EIO;
        CHECK_R(kvs_store_exists(s, "beta", 4), KVS_E_IO);
        CHECK_R(kvs_store_exists(s, "alpha", 5), KVS_OK);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    g_fstatat_errno = EIO;
    s = NULL;
    r = kvs_store_open(&c, &s, err, sizeof err);
    CHECK_R(r, KVS_E_IO);
    CHECK(s == NULL && err[0] != '\0');
    if (s != NULL)
        kvs_store_close(s);
    g_fstatat_errno = ESTALE; /* NFS: gone since the directory read */
    s = NULL;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s != NULL) {
        kvs_store_get_stats(s, &st);
        CHECK(st.objects == 1);
        CHECK_R(kvs_store_exists(s, "beta", 4), KVS_NOT_FOUND);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    g_fstatat_errno = 0;
    s = open_store(&c);
    CHECK(s != NULL);
    if (s != NULL) {
        kvs_store_stats st2;
        unsigned char got[3000];
        size_t gl = 0;
        kvs_store_get_stats(s, &st);
        CHECK(st.objects == 2);
        CHECK(get_is(s, "beta", v, sizeof v));
        /* a status call that fails on an open object file is an error,
           never a miss: ENOENT from fstat must not read as "no such file"
           (which would also drop the object from the accounting) */
        g_fstat_errno = ENOENT;
        CHECK_R(kvs_store_get(s, "alpha", 5, got, sizeof got, &gl), KVS_E_IO);
        g_fstat_errno = ELOOP;
        CHECK_R(kvs_store_get(s, "alpha", 5, got, sizeof got, &gl), KVS_E_IO);
        g_fstat_errno = 0;
        kvs_store_get_stats(s, &st2);
        CHECK(st2.objects == 2 && st2.corruptions == st.corruptions);
        CHECK(get_is(s, "alpha", v, sizeof v));
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
}

/* The put's block reservation (kvs_sysops.fallocate): one call per put of
   a payload, none for an empty one; a filesystem without it (EOPNOTSUPP)
   still stores the object; a reservation that fails (ENOSPC, EDQUOT, EIO)
   fails the put with the mapped result, leaves the old object readable, no
   temporary file and the capacity accounting as it was. */
static void test_fallocate(void)
{
    static const int errs[] = {ENOSPC, EDQUOT, EIO};
    static const kvs_result want[] = {KVS_E_NOSPC, KVS_E_NOSPC, KVS_E_IO};
    char d[1100];
    kvs_store_config c;
    kvs_store_stats st0, st1;
    kvs_store *s;
    const size_t n = 70000;
    unsigned char *A = (unsigned char *)malloc(n), *B = (unsigned char *)malloc(n);
    unsigned calls;
    size_t i;
    t_path(d, sizeof d, "falloc");
    cfg_fs_hooked(&c, d);
    c.capacity_bytes = 1u << 20;
    ft_arm(0, F_NONE);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL || A == NULL || B == NULL)
        goto out;
    t_fill_tag(A, n, 11);
    t_fill_tag(B, n, 12);
    calls = g_falloc_calls;
    CHECK_R(kvs_store_put(s, "fa", 2, A, n), KVS_OK);
    CHECK(g_falloc_calls == calls + 1);
    CHECK_R(kvs_store_put(s, "empty", 5, A, 0), KVS_OK);
    CHECK(g_falloc_calls == calls + 1); /* nothing to reserve */
    CHECK(get_is(s, "fa", A, n));

    g_falloc_unsupported = 1;
    CHECK_R(kvs_store_put(s, "fb", 2, B, n), KVS_OK);
    CHECK(g_falloc_calls == calls + 2);
    CHECK(get_is(s, "fb", B, n));
    g_falloc_unsupported = 0;

    for (i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        kvs_store_get_stats(s, &st0);
        g_falloc_errno = errs[i];
        CHECK_R(kvs_store_put(s, "fa", 2, B, n), want[i]); /* over an existing key */
        CHECK_R(kvs_store_put(s, "fc", 2, B, n), want[i]); /* a new key */
        g_falloc_errno = 0;
        kvs_store_get_stats(s, &st1);
        CHECK(st1.objects == st0.objects && st1.disk_bytes == st0.disk_bytes);
        CHECK(count_files(d, 2) == 0); /* no temporary file left */
        CHECK(get_is(s, "fa", A, n));  /* the old object stays */
        CHECK_R(kvs_store_exists(s, "fc", 2), KVS_NOT_FOUND);
    }
    CHECK_R(kvs_store_put(s, "fc", 2, B, n), KVS_OK); /* and works again */
    CHECK(get_is(s, "fc", B, n));
    CHECK_R(kvs_store_close(s), KVS_OK);
out:
    free(A);
    free(B);
}

/* ------------------------------------------------------------------ */
/* Open under faults: fresh directories (records written) and existing
   ones (records read, scan). */
static void test_open_walk(void)
{
    char d[2400], a[1100], b[1100];
    kvs_store_config c;
    kvs_store *s;
    unsigned char v[5000];
    unsigned at, written_close_failed = 0;
    int kind, fresh;
    t_path(a, sizeof a, "ow_a");
    t_path(b, sizeof b, "ow_b");
    snprintf(d, sizeof d, "%s,%s", a, b);
    t_fill_tag(v, sizeof v, 9);
    for (kind = F_EIO; kind < F_KINDS; kind++) {
        for (fresh = 0; fresh < 2; fresh++) {
            for (at = 1; at < 100; at++) {
                kvs_result r;
                char err[256];
                s = NULL;
                t_rm_rf(a);
                t_rm_rf(b);
                if (!fresh) {
                    cfg_fs_hooked(&c, d);
                    ft_arm(0, F_NONE);
                    s = open_store(&c);
                    CHECK(s != NULL);
                    if (s == NULL)
                        return;
                    CHECK_R(kvs_store_put(s, "x", 1, v, sizeof v), KVS_OK);
                    CHECK_R(kvs_store_put(s, "y", 1, v, sizeof v), KVS_OK);
                    kvs_store_close(s);
                    s = NULL;
                    /* a changed set on reopen: records are rewritten */
                    if (at & 1)
                        snprintf(d, sizeof d, "%s,%s", b, a);
                }
                cfg_fs_hooked(&c, d);
                c.direct = KVS_DIRECT_PREFER;
                ft_arm(at, kind);
                r = kvs_store_open(&c, &s, err, sizeof err);
                ft_disarm();
                g_walked[W_OPEN] += g_ft.fired ? 1u : 0u;
                snprintf(d, sizeof d, "%s,%s", a, b);
                /* a failed close: of the path-set record (written) fails the
                   open; of the probe or a directory (nothing written) not */
                if (close_absorbed())
                    CHECK_R(r, KVS_OK);
                else if (strcmp(g_ft.fired_op, "close") == 0) {
                    CHECK_R(r, kind == F_ENOSPC ? KVS_E_NOSPC : KVS_E_IO);
                    written_close_failed++;
                }
                if (r == KVS_OK) {
                    CHECK(s != NULL);
                    if (!fresh) {
                        CHECK(get_is(s, "x", v, sizeof v));
                        CHECK(get_is(s, "y", v, sizeof v));
                    }
                    kvs_store_close(s);
                } else {
                    CHECK(s == NULL);
                    CHECK(err[0] != '\0');
                    CHECK(g_ft.fired);
                    if (kind == F_SHORT || kind == F_EINTR)
                        CHECK(strcmp(g_ft.fired_op, "pwrite") != 0);
                }
                if (strcmp(g_ft.fired_op, "unlinkat") != 0)
                    CHECK(count_files(a, 2) + count_files(b, 2) == 0);
                /* afterwards a clean open works and loses nothing */
                cfg_fs_hooked(&c, d);
                s = open_store(&c);
                CHECK(s != NULL);
                if (s != NULL) {
                    if (!fresh) {
                        CHECK(get_is(s, "x", v, sizeof v));
                        CHECK(get_is(s, "y", v, sizeof v));
                    }
                    kvs_store_close(s);
                }
                if (!g_ft.fired)
                    break;
            }
            CHECK(at > 3 && at < 100);
        }
    }
    /* the walk reached the path-set record's close: EIO and ENOSPC, on a
       fresh open and a reopen with a changed set */
    CHECK(written_close_failed >= 4);
}


/* Directory reads (kvs_sysops.readdir). An error at any point of the
   open-time scan fails the open (a scan cut short would under-count the
   capacity in use: before, readdir's NULL ended the scan whatever the
   cause); at any point of the iteration's listing it fails the iteration
   before any key is reported. A hook's "name" without a name is an error.
   Every read passed through: all objects are found. */
static int g_it_count;
static int it_count(void *user, const void *key, size_t kl, uint64_t len)
{
    (void)user;
    (void)key;
    (void)kl;
    (void)len;
    g_it_count++;
    return 0;
}

static void test_readdir(void)
{
    char d[1100], err[256];
    kvs_store_config c;
    kvs_store_stats st;
    kvs_store *s;
    unsigned char v[3000];
    unsigned at, reads;
    int i;
    t_path(d, sizeof d, "readdir");
    cfg_fs_hooked(&c, d);
    ft_arm(0, F_NONE);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    t_fill_tag(v, sizeof v, 31);
    for (i = 0; i < 5; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%d", i);
        CHECK_R(kvs_store_put(s, k, strlen(k), v, sizeof v), KVS_OK);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);

    /* how many reads a clean scan makes: the names, then the end */
    g_readdir_at = 0;
    g_readdir_calls = 0;
    s = open_store(&c);
    CHECK(s != NULL);
    reads = g_readdir_calls;
    CHECK(reads >= 5 + 1);
    if (s != NULL) {
        kvs_store_get_stats(s, &st);
        CHECK(st.objects == 5);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    for (at = 1; at <= reads; at++) {
        static const int errs[] = {EIO, ENOMEM, 0};
        size_t e;
        for (e = 0; e < sizeof errs / sizeof errs[0]; e++) {
            kvs_result r;
            snprintf(t_ctx, sizeof t_ctx, "open scan, read %u of %u, errno %d", at, reads, errs[e]);
            g_readdir_calls = 0;
            g_readdir_at = at;
            g_readdir_errno = errs[e];
            s = NULL;
            err[0] = '\0';
            r = kvs_store_open(&c, &s, err, sizeof err);
            CHECK_R(r, errs[e] == ENOMEM ? KVS_E_NOMEM : KVS_E_IO);
            CHECK(s == NULL && err[0] != '\0');
            if (s != NULL)
                kvs_store_close(s);
        }
    }
    g_readdir_at = 0;
    t_ctx[0] = '\0';

    /* the iteration: the listing fails, nothing is reported half */
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    g_readdir_calls = 0;
    g_it_count = 0;
    CHECK_R(kvs_store_iterate(s, it_count, NULL), KVS_OK);
    CHECK(g_it_count == 5);
    reads = g_readdir_calls;
    CHECK(reads >= 5 + 1);
    for (at = 1; at <= reads; at++) {
        snprintf(t_ctx, sizeof t_ctx, "iterate, read %u of %u", at, reads);
        g_readdir_calls = 0;
        g_readdir_at = at;
        g_readdir_errno = EIO;
        g_it_count = 0;
        CHECK_R(kvs_store_iterate(s, it_count, NULL), KVS_E_IO);
        CHECK(g_it_count == 0);
        g_readdir_errno = 0; /* a "name" without one */
        g_readdir_calls = 0;
        CHECK_R(kvs_store_iterate(s, it_count, NULL), KVS_E_IO);
        CHECK(g_it_count == 0);
    }
    g_readdir_at = 0;
    t_ctx[0] = '\0';
    g_it_count = 0;
    CHECK_R(kvs_store_iterate(s, it_count, NULL), KVS_OK);
    CHECK(g_it_count == 5);
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == 5 && st.corruptions == 0);
    for (i = 0; i < 5; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%d", i);
        CHECK(get_is(s, k, v, sizeof v));
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* Read-ahead hints (kvs_sysops.fadvise): with the readahead option on, a
   buffered get gives SEQUENTIAL then WILLNEED for the payload it reads, on
   each read path: the known-file read (a readable name after the put), the
   read after the header (after a reopen), and the header-and-payload read
   (a hashed name the handle knows the length of: its second get after the
   reopen, and any get after the put); off, or on a direct store, none. A
   hint that fails changes nothing the get returns. Plus the real call's
   answers. */
static void check_hints(size_t n)
{
    CHECK(g_fadv.calls == 2 && g_fadv.seq == 1 && g_fadv.willneed == 1 && g_fadv.other == 0);
    CHECK(g_fadv.off[KVS_FADV_SEQUENTIAL] == 4096 && g_fadv.len[KVS_FADV_SEQUENTIAL] == n);
    CHECK(g_fadv.off[KVS_FADV_WILLNEED] == 4096 && g_fadv.len[KVS_FADV_WILLNEED] == n);
}

/* A get of "small" (bytes v) through the store at d opened with this
   policy and readahead option gives no hint: 1, else 0. A store that
   falls back to buffered I/O under PREFER is said and not judged. */
static int no_hints(const char *d, kvs_direct_policy pol, int readahead, const unsigned char *v, size_t n)
{
    kvs_store_config c;
    kvs_store_stats st;
    kvs_store *s;
    int ok;
    cfg_fs_hooked(&c, d);
    c.direct = pol;
    c.readahead = readahead;
    s = open_store(&c);
    if (s == NULL)
        return 0;
    kvs_store_get_stats(s, &st);
    memset(&g_fadv, 0, sizeof g_fadv);
    ok = get_is(s, "small", v, n);
    if (pol != KVS_DIRECT_OFF && !st.direct) {
        CHECK(!t_direct_ok(d)); /* else the store failed to use it */
        printf("SKIP: %s refused O_DIRECT; the direct store's hints not checked\n", d);
    } else
        ok = ok && g_fadv.calls == 0;
    return kvs_store_close(s) == KVS_OK && ok;
}

static void test_fadvise(void)
{
    char d[1100];
    kvs_store_config c;
    kvs_store_stats st;
    kvs_store *s;
    unsigned char v[3000], w[9000];
    char hk[301];
    int pass, fail, k;
    kvs_fsname_kind kind = KVS_FSNAME_READABLE;
    char nm[600];
    size_t nl = 0;
    memset(hk, 'h', 300);
    hk[300] = '\0';
    /* a key too long for a readable name: the store hashes it */
    CHECK_R(kvs_fsname_encode(hk, 300, nm, sizeof nm, &nl, &kind), KVS_OK);
    CHECK(kind == KVS_FSNAME_HASHED);
    t_path(d, sizeof d, "fadvise");
    t_fill_tag(v, sizeof v, 41);
    t_fill_tag(w, sizeof w, 42);
    for (fail = 0; fail < 2; fail++) {
        for (pass = 0; pass < 2; pass++) { /* 0: as put (known file); 1: after a reopen (header first) */
            snprintf(t_ctx, sizeof t_ctx, "fadvise fail %d pass %d", fail, pass);
            if (pass == 0)
                t_rm_rf(d);
            cfg_fs_hooked(&c, d);
            c.direct = KVS_DIRECT_OFF;
            c.readahead = 1;
            ft_arm(0, F_NONE);
            s = open_store(&c);
            CHECK(s != NULL);
            if (s == NULL)
                return;
            if (pass == 0) {
                CHECK_R(kvs_store_put(s, "small", 5, v, sizeof v), KVS_OK);
                CHECK_R(kvs_store_put(s, "large", 5, w, sizeof w), KVS_OK);
                CHECK_R(kvs_store_put(s, hk, 300, w, sizeof w), KVS_OK);
            }
            g_fadvise_errno = fail ? EIO : 0;
            memset(&g_fadv, 0, sizeof g_fadv);
            CHECK(get_is(s, "small", v, sizeof v));
            check_hints(sizeof v);
            memset(&g_fadv, 0, sizeof g_fadv);
            CHECK(get_is(s, "large", w, sizeof w));
            check_hints(sizeof w);
            for (k = 0; k < 2; k++) {
                memset(&g_fadv, 0, sizeof g_fadv);
                CHECK(get_is(s, hk, w, sizeof w));
                check_hints(sizeof w);
            }
            g_fadvise_errno = 0;
            kvs_store_get_stats(s, &st);
            CHECK(st.corruptions == 0 && st.misses == 0);
            CHECK_R(kvs_store_close(s), KVS_OK);
        }
    }
    /* option off; and a direct store (where the directory takes it) */
    CHECK(no_hints(d, KVS_DIRECT_OFF, 0, v, sizeof v));
    CHECK(no_hints(d, KVS_DIRECT_PREFER, 1, v, sizeof v));
    t_ctx[0] = '\0';
    /* the real call */
    {
        char p[1200];
        int fd;
        snprintf(p, sizeof p, "%s/plain", d);
        fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        if (fd >= 0) {
            CHECK(pwrite(fd, v, sizeof v, 0) == (ssize_t)sizeof v);
            CHECK(kvs_sys_fadvise(fd, 0, sizeof v, 0) == -EINVAL);
            CHECK(kvs_sys_fadvise(fd, 0, sizeof v, 3) == -EINVAL);
#if defined(POSIX_FADV_WILLNEED)
            CHECK(kvs_sys_fadvise(fd, 0, sizeof v, KVS_FADV_SEQUENTIAL) == 0);
            CHECK(kvs_sys_fadvise(fd, 0, sizeof v, KVS_FADV_WILLNEED) == 0);
            CHECK(kvs_sys_fadvise(fd, UINT64_MAX, 1, KVS_FADV_WILLNEED) == -EINVAL);
#else
            CHECK(kvs_sys_fadvise(fd, 0, sizeof v, KVS_FADV_WILLNEED) < 0);
#endif
            close(fd);
        }
#if defined(POSIX_FADV_WILLNEED)
        CHECK(kvs_sys_fadvise(-1, 0, 1, KVS_FADV_WILLNEED) == -EBADF);
#endif
        unlink(p);
    }
}

/* ------------------------------------------------------------------ */
/* Every allocation failed in turn. */
static t_alloc_state g_al;

static int it_noop(void *user, const void *key, size_t kl, uint64_t len)
{
    (void)key;
    (void)kl;
    (void)len;
    (*(size_t *)user)++;
    return 0;
}

static void test_alloc_walk(void)
{
    char d[1100];
    kvs_store_config c;
    kvs_store *s = NULL;
    unsigned char v[5000], w[5000];
    unsigned at;
    t_path(d, sizeof d, "alloc");
    t_fill_tag(v, sizeof v, 11);
    for (at = 1; at < 200; at++) {
        kvs_result r;
        kvs_store_config_init(&c);
        c.kind = KVS_STORE_FS;
        c.paths = d;
        c.threads = 1;
        c.capacity_bytes = 1 << 20;
        c.allocator.user = &g_al;
        c.allocator.alloc = t_alloc_fn;
        c.allocator.free = t_free_fn;
        t_alloc_arm(&g_al, (long)at - 1); /* fail the at-th allocation */
        s = NULL;
        r = kvs_store_open(&c, &s, NULL, 0);
        if (r == KVS_OK) {
            size_t got = 0, cnt = 0;
            kvs_result rp = kvs_store_put(s, "ak", 2, v, sizeof v);
            kvs_result rg = kvs_store_get(s, "ak", 2, w, sizeof w, &got);
            CHECK(rp == KVS_OK || rp == KVS_E_NOMEM);
            CHECK(rg == KVS_OK || rg == KVS_E_NOMEM || (rp != KVS_OK && rg == KVS_NOT_FOUND));
            if (rg == KVS_OK)
                CHECK(got == sizeof v && memcmp(v, w, sizeof v) == 0);
            r = kvs_store_iterate(s, it_noop, &cnt);
            CHECK(r == KVS_OK || r == KVS_E_NOMEM);
            r = kvs_store_sync(s);
            CHECK(r == KVS_OK || r == KVS_E_NOMEM);
            r = kvs_store_remove(s, "ak", 2);
            CHECK(r == KVS_OK || r == KVS_E_NOMEM || r == KVS_NOT_FOUND);
            kvs_store_close(s);
        } else {
            CHECK(r == KVS_E_NOMEM);
        }
        CHECK(count_files(d, 2) == 0);
        CHECK(t_alloc_live(&g_al) == 0 && g_al.bad_free == 0);
        g_alloc_walked += g_al.fired ? 1u : 0u;
        if (!g_al.fired)
            break;
    }
    CHECK(at > 5 && at < 200);
    t_alloc_arm(&g_al, -1);
}

int main(void)
{
    pthread_mutex_init(&g_ft.mu, NULL);
    ops_init();
    t_init_seed("test_store_fs_faults", 0x5eed1234ULL);
    t_setup_dir("fsf");
    test_durability_order();
    test_open_like();
    test_fallocate();
    test_fstatat();
    test_readdir();
    test_fadvise();
    test_walks();
    test_open_walk();
    test_alloc_walk();
    t_rm_rf(t_dir);
    {
        unsigned f = 0, i;
        for (i = 0; i < W_N; i++) {
            CHECK(g_walked[i] > 0); /* every walk injected faults */
            f += g_walked[i];
        }
        printf("fault points walked: %u (put %u, %u of them failed at fallocate and %u at close, %u went on past a failed fstat, get %u, remove %u, evict %u, sync %u, open %u), allocation points "
               "walked: %u, failures injected: %u\n",
               f, g_walked[W_PUT], g_falloc_failed_puts, g_close_failed_puts, g_fstat_absorbed_puts, g_walked[W_GET], g_walked[W_REMOVE], g_walked[W_EVICT], g_walked[W_SYNC],
               g_walked[W_OPEN], g_alloc_walked, f + g_alloc_walked);
    }
    return t_done("test_store_fs_faults");
}
