/* SPDX-License-Identifier: MIT OR Unlicense */
/* Power-cut simulation of the filesystem store through the I/O layer
   (issue 6, docs/RELIABILITY.md "Power-cut simulation: filesystem store").

   1. The store directories are created empty (taken as durable). A store is
      opened on them with a recording kvs_sysops table that hooks every
      member: the calls go through to the real directories (so the store's
      unhooked fstatat/readdir see what it did), fsync/fdatasync are recorded
      and not issued, and one log, under a mutex, gets:
        create  dir name -> file id  (openat with O_CREAT; ids assigned here)
        rename  dir from -> to       (renameat)
        link    dir from -> to       (linkat: a second name)
        unlink  dir name             (unlinkat)
        write   file id, offset, bytes (pwrite, pwritev; once complete)
        fsync   file id              (fsync or fdatasync of a file)
        dirsync dir                  (fsync of a directory descriptor)
      and the workload's events: begin/ack of put, put_batch items, remove,
      sync, and reopen (close + open of the store, still recorded).
   2. The model of what a power cut at log position c leaves (RELIABILITY.md
      gives it in full): per directory, every entry operation before its last
      dirsync before c is applied; each later one is applied or not (all,
      none, an ordered prefix, or an arbitrary subset applied in log order;
      a rename whose source is missing is skipped, an applied one is now and
      then left half done with the file under both names). Per file named in that
      namespace, every write before its last fsync before c is applied and
      its size then is kept; each later write is dropped, applied or torn at
      absolute 512-byte sectors; the size is the synced one, the end of what
      was applied, the full size, or a sector boundary in between; bytes never
      written inside it are zeros or garbage.
   3. Each state is written into the same directory paths (the path-set
      record names them), files backdated by a day so orphan temporaries are
      old, and the store is opened there with real system calls. Checked:
      the open succeeds; every key reads as its durable state or as a value
      put after it (never other bytes: values are self-describing); a miss
      only where the model allows it; no temporary file is left and the
      orphan count matches; iteration lists no unknown key; a put and a get
      work; with a capacity, disk_bytes is within it after that put, and
      the all-applied state (what a process crash leaves) is within it
      before the open.

   Environment: KVS_POWERCUT_STATES (states over all workloads; default 4000,
   1000 under sanitizers), KVS_POWERCUT_OPS (workload length, default 240),
   KVS_SEED, KVS_TEST_DIR (else the states live in /dev/shm when usable,
   else /tmp). */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include "test_util.h"


static char g_dir[1024];

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return q;
}

/* ---- self-describing values (tests/test_util.h) ---- */
#define VMAX ((size_t)48 << 10)
static const t_valspec g_val = {VMAX, 60, 92, 6, 30000, "kvFS"};

/* Every sixth key is 300 bytes long: a hashed file name (key in the file). */
#define KEYCAP 320
static size_t keyname(char *k, uint32_t id)
{
    int n;
    if (id % 6 == 5) {
        size_t i;
        n = snprintf(k, KEYCAP, "pcfs/long/%u/", (unsigned)id);
        for (i = (size_t)n; i < 300; i++)
            k[i] = (char)('a' + (i * 7 + id) % 26);
        k[300] = '\0';
        return 300;
    }
    n = snprintf(k, KEYCAP, "pcfs/layer%02u/block-%08x", (unsigned)(id % 5), (unsigned)(id * 2654435761u));
    return (size_t)n;
}

/* ---- the log ---- */
enum {
    E_CREATE = 1, E_RENAME, E_UNLINK, E_WRITE, E_FSYNC, E_DSYNC, /* file system */
    E_MKDIR, E_PSYNC,        /* a store directory made; fsync of their parent */
    E_LINK,                  /* linkat: name2 becomes a second name of name's file */
    E_BEGIN_PUT, E_ACK_PUT, E_BEGIN_RM, E_ACK_RM, E_ACK_SYNC, E_REOPEN /* workload */
};

/* A change to a directory's entries (applied or not at a power cut). */
static int is_entry_op(uint32_t t)
{
    return t == E_CREATE || t == E_RENAME || t == E_LINK || t == E_UNLINK;
}

typedef struct lent {
    uint32_t type;
    uint32_t dir;     /* entry ops, DSYNC                         */
    uint32_t id;      /* file id (CREATE, WRITE, FSYNC); key      */
    uint32_t name, name2; /* interned names: CREATE/UNLINK name; RENAME, LINK from, to */
    uint64_t off, ver; /* WRITE: offset; events: version          */
    size_t len, data; /* WRITE: length and position in the arena  */
    int res;
} lent;

#define MAXDIRS 2
#define FDMAX 4096
enum { FD_NONE = 0, FD_DIR, FD_FILE, FD_PARENT, FD_OTHER };

typedef struct recorder {
    pthread_mutex_t mu;
    unsigned ndirs;
    char dirpath[MAXDIRS][1100];
    char parent[1100];       /* the directory holding the store directories */
    int made[MAXDIRS];       /* its E_MKDIR is logged                        */
    unsigned char fdkind[FDMAX];
    uint32_t fdval[FDMAX];
    /* interned names */
    char **names;
    size_t nnames, capnames;
    /* the live namespace (what the running process sees): dir x name -> id */
    uint32_t *live[MAXDIRS];
    size_t caplive;
    uint32_t nfiles; /* ids 1..nfiles */
    lent *ev;
    size_t nev, capev;
    unsigned char *arena;
    size_t narena, caparena;
    uint64_t writes, fsyncs, dsyncs, creates, renames, unlinks, bytes, reserves;
    unsigned unmodelled;
    /* block reservations (fallocate), end by file id: not logged, see
       h_fallocate; rec_check_reserves holds them to the files' writes */
    uint64_t *resv;
    size_t capresv;
} recorder;

static recorder g_rec;

static void rec_push(recorder *R, const lent *e, const void *data)
{
    if (R->nev == R->capev) {
        R->capev = R->capev ? R->capev * 2 : 4096;
        R->ev = (lent *)xrealloc(R->ev, R->capev * sizeof *R->ev);
    }
    R->ev[R->nev] = *e;
    if (data != NULL) {
        if (R->narena + e->len > R->caparena) {
            size_t nc = R->caparena ? R->caparena : (size_t)1 << 22;
            while (nc < R->narena + e->len)
                nc *= 2;
            R->arena = (unsigned char *)xrealloc(R->arena, nc);
            R->caparena = nc;
        }
        memcpy(R->arena + R->narena, data, e->len);
        R->ev[R->nev].data = R->narena;
        R->narena += e->len;
    }
    R->nev++;
}

/* Interned name index (mutex held). */
static uint32_t rec_name(recorder *R, const char *nm)
{
    size_t i, d;
    for (i = 0; i < R->nnames; i++)
        if (strcmp(R->names[i], nm) == 0)
            return (uint32_t)i;
    if (R->nnames == R->capnames) {
        R->capnames = R->capnames ? R->capnames * 2 : 256;
        R->names = (char **)xrealloc(R->names, R->capnames * sizeof *R->names);
    }
    if (R->nnames == R->caplive) {
        size_t nc = R->caplive ? R->caplive * 2 : 256;
        for (d = 0; d < MAXDIRS; d++) {
            R->live[d] = (uint32_t *)xrealloc(R->live[d], nc * sizeof(uint32_t));
            memset(R->live[d] + R->caplive, 0, (nc - R->caplive) * sizeof(uint32_t));
        }
        R->caplive = nc;
    }
    R->names[R->nnames] = (char *)t_xmalloc(strlen(nm) + 1);
    memcpy(R->names[R->nnames], nm, strlen(nm) + 1);
    return (uint32_t)R->nnames++;
}

static void rec_unmodelled(recorder *R, const char *what)
{
    R->unmodelled++;
    FAILF("the store made a call the model does not cover: %s", what);
}

static void rec_event(uint32_t type, uint32_t key, uint64_t ver, kvs_result res)
{
    lent e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.id = key;
    e.ver = ver;
    e.res = (int)res;
    pthread_mutex_lock(&g_rec.mu);
    rec_push(&g_rec, &e, NULL);
    pthread_mutex_unlock(&g_rec.mu);
}

static void rec_setfd(recorder *R, int fd, unsigned kind, uint32_t val)
{
    if (fd < 0)
        return;
    if (fd >= FDMAX) {
        rec_unmodelled(R, "descriptor above FDMAX");
        return;
    }
    R->fdkind[fd] = (unsigned char)kind;
    R->fdval[fd] = val;
}

/* mkdir has no hook: a store directory that exists now and did not when
   the recording began was made since the last hooked call, so its E_MKDIR
   goes in here (no later than any hooked call that could sync it). Mutex
   held. */
static void rec_note_mkdirs(recorder *R)
{
    unsigned d;
    struct stat sb;
    for (d = 0; d < R->ndirs; d++)
        if (!R->made[d] && stat(R->dirpath[d], &sb) == 0) {
            lent e;
            memset(&e, 0, sizeof e);
            e.type = E_MKDIR;
            e.dir = d;
            rec_push(R, &e, NULL);
            R->made[d] = 1;
        }
}

static int h_open(void *user, const char *path, int flags, unsigned mode)
{
    recorder *R = (recorder *)user;
    unsigned d;
    int fd;
    pthread_mutex_lock(&R->mu);
    rec_note_mkdirs(R);
    fd = open(path, flags, (mode_t)mode);
    if (fd < 0) {
        fd = -errno;
    } else {
        unsigned kind = FD_OTHER;
        uint32_t val = 0;
        for (d = 0; d < R->ndirs; d++)
            if (strcmp(path, R->dirpath[d]) == 0 && (flags & O_DIRECTORY)) {
                kind = FD_DIR;
                val = d;
            }
        if (kind == FD_OTHER && strcmp(path, R->parent) == 0 && (flags & O_DIRECTORY))
            kind = FD_PARENT;
        if (kind == FD_OTHER && (flags & (O_CREAT | O_WRONLY | O_RDWR | O_TRUNC)))
            rec_unmodelled(R, "open of a path outside the store directories for writing");
        rec_setfd(R, fd, kind, val);
    }
    pthread_mutex_unlock(&R->mu);
    return fd;
}

/* The directory of dirfd, or -1. Mutex held. */
static int rec_dir_of(recorder *R, int dirfd)
{
    if (dirfd < 0 || dirfd >= FDMAX || R->fdkind[dirfd] != FD_DIR)
        return -1;
    return (int)R->fdval[dirfd];
}

/* Namespace calls run under the mutex, so the log has them in the order the
   file system saw them. */
static int h_openat(void *user, int dirfd, const char *path, int flags, unsigned mode)
{
    recorder *R = (recorder *)user;
    int fd, d;
    pthread_mutex_lock(&R->mu);
    rec_note_mkdirs(R);
    d = rec_dir_of(R, dirfd);
    fd = openat(dirfd, path, flags, (mode_t)mode);
    if (fd < 0) {
        fd = -errno;
    } else if (d < 0 || strchr(path, '/') != NULL) {
        rec_unmodelled(R, "openat outside a store directory");
        rec_setfd(R, fd, FD_OTHER, 0);
    } else if (strcmp(path, ".") == 0) {
        rec_setfd(R, fd, FD_DIR, (uint32_t)d);
    } else {
        uint32_t nm = rec_name(R, path), id = R->live[d][nm];
        if (flags & O_TRUNC)
            rec_unmodelled(R, "O_TRUNC");
        if (id == 0 && (flags & O_CREAT)) {
            lent e;
            id = ++R->nfiles;
            R->live[d][nm] = id;
            memset(&e, 0, sizeof e);
            e.type = E_CREATE;
            e.dir = (uint32_t)d;
            e.name = nm;
            e.id = id;
            rec_push(R, &e, NULL);
            R->creates++;
        } else if (id == 0) {
            rec_unmodelled(R, "openat of a file the log never created");
        }
        rec_setfd(R, fd, id ? FD_FILE : FD_OTHER, id);
    }
    pthread_mutex_unlock(&R->mu);
    return fd;
}

/* Log a rename (E_RENAME: the source name is emptied) or a link (E_LINK:
   it keeps its file) that returned r, under R->mu. */
static void rec_move(recorder *R, uint32_t type, int fromdir, const char *from, int todir, const char *to, int r)
{
    int d = rec_dir_of(R, fromdir), d2 = rec_dir_of(R, todir);
    lent e;
    uint32_t a, b;
    if (r != 0)
        return;
    if (d < 0 || d != d2 || strchr(from, '/') != NULL || strchr(to, '/') != NULL) {
        rec_unmodelled(R, type == E_RENAME ? "renameat across or outside store directories"
                                           : "linkat across or outside store directories");
        return;
    }
    a = rec_name(R, from);
    b = rec_name(R, to);
    memset(&e, 0, sizeof e);
    e.type = type;
    e.dir = (uint32_t)d;
    e.name = a;
    e.name2 = b;
    e.id = R->live[d][a];
    if (e.id == 0)
        rec_unmodelled(R, "rename or link of a file the log never created");
    R->live[d][b] = R->live[d][a];
    if (type == E_RENAME) {
        R->live[d][a] = 0;
        R->renames++;
    }
    rec_push(R, &e, NULL);
}

static int h_renameat(void *user, int fromdir, const char *from, int todir, const char *to)
{
    recorder *R = (recorder *)user;
    int r;
    pthread_mutex_lock(&R->mu);
    r = renameat(fromdir, from, todir, to) < 0 ? -errno : 0;
    rec_move(R, E_RENAME, fromdir, from, todir, to, r);
    pthread_mutex_unlock(&R->mu);
    return r;
}

static int h_linkat(void *user, int fromdir, const char *from, int todir, const char *to)
{
    recorder *R = (recorder *)user;
    int r;
    pthread_mutex_lock(&R->mu);
    r = linkat(fromdir, from, todir, to, 0) < 0 ? -errno : 0;
    rec_move(R, E_LINK, fromdir, from, todir, to, r);
    pthread_mutex_unlock(&R->mu);
    return r;
}

static int h_unlinkat(void *user, int dirfd, const char *path, int flags)
{
    recorder *R = (recorder *)user;
    int r, d;
    pthread_mutex_lock(&R->mu);
    d = rec_dir_of(R, dirfd);
    r = unlinkat(dirfd, path, flags) < 0 ? -errno : 0;
    if (r == 0) {
        if (d < 0 || flags != 0 || strchr(path, '/') != NULL) {
            rec_unmodelled(R, "unlinkat outside a store directory, or of a directory");
        } else {
            lent e;
            uint32_t nm = rec_name(R, path);
            memset(&e, 0, sizeof e);
            e.type = E_UNLINK;
            e.dir = (uint32_t)d;
            e.name = nm;
            e.id = R->live[d][nm];
            R->live[d][nm] = 0;
            rec_push(R, &e, NULL);
            R->unlinks++;
        }
    }
    pthread_mutex_unlock(&R->mu);
    return r;
}

static int h_rename(void *user, const char *from, const char *to)
{
    recorder *R = (recorder *)user;
    int r = rename(from, to) < 0 ? -errno : 0;
    pthread_mutex_lock(&R->mu);
    rec_unmodelled(R, "rename by path");
    pthread_mutex_unlock(&R->mu);
    return r;
}

static int h_setfl(void *user, int fd, int flags)
{
    (void)user;
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

static int64_t h_pread(void *user, int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n = pread(fd, buf, len, (off_t)off);
    (void)user;
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

/* A completed write of n bytes at off (data contiguous). */
static void rec_write(recorder *R, int fd, const void *data, size_t n, uint64_t off)
{
    pthread_mutex_lock(&R->mu);
    if (fd < 0 || fd >= FDMAX || R->fdkind[fd] != FD_FILE) {
        rec_unmodelled(R, "write to a descriptor that is not a recorded file");
    } else if (n > 0) {
        lent e;
        memset(&e, 0, sizeof e);
        e.type = E_WRITE;
        e.id = R->fdval[fd];
        e.off = off;
        e.len = n;
        rec_push(R, &e, data);
        R->writes++;
        R->bytes += (uint64_t)n;
    }
    pthread_mutex_unlock(&R->mu);
}

static int64_t h_pwrite(void *user, int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n = pwrite(fd, buf, len, (off_t)off);
    if (n < 0)
        return -(int64_t)errno;
    /* recorded once complete: a sync recorded later covers it */
    rec_write((recorder *)user, fd, buf, (size_t)n, off);
    return (int64_t)n;
}

/* Every member of kvs_sysops is hooked below (rec_sysops): a member added
   to the table must be hooked here too, or a call could bypass the log. */
typedef char t_every_sysop_hooked[sizeof(kvs_sysops) == sizeof(void *) + 23 * sizeof(int (*)(void)) ? 1 : -1];

/* A byte lock (the filesystem store's pins): no state on disk, not logged. */
static int h_lock(void *user, int fd, int how, uint64_t off)
{
    (void)user;
    return kvs_sys_lock(fd, how, off);
}

/* A release: the descriptor no longer names its file, so a write through
   its number before an open hands it out again is unmodelled. Not logged
   (a close syncs nothing). Directory streams are closed by closedir and
   never reach this hook; their numbers are remapped by the next open. */
static int h_close(void *user, int fd)
{
    recorder *R = (recorder *)user;
    int r;
    pthread_mutex_lock(&R->mu);
    if (fd >= 0 && fd < FDMAX)
        R->fdkind[fd] = FD_NONE;
    r = close(fd) != 0 ? -errno : 0; /* under the mutex: no open reuses the number before it is cleared */
    pthread_mutex_unlock(&R->mu);
    return r;
}

/* Status calls change nothing: passed through, not logged. */
static int h_fstat(void *user, int fd, kvs_file_status *st)
{
    (void)user;
    return kvs_sys_fstat(fd, st);
}

static int h_fstatat(void *user, int dirfd, const char *path, kvs_file_status *st)
{
    (void)user;
    return kvs_sys_fstatat(dirfd, path, st);
}

/* Growing a file to a size: the filesystem store never does (a call is
   outside the model). mkdir: passed through; the directory is logged at
   the first hooked call after it appears, as before the hook. */
static int h_ftruncate(void *user, int fd, uint64_t size)
{
    (void)fd;
    (void)size;
    pthread_mutex_lock(&((recorder *)user)->mu);
    rec_unmodelled((recorder *)user, "ftruncate");
    pthread_mutex_unlock(&((recorder *)user)->mu);
    return -EIO;
}

static int h_mkdir(void *user, const char *path, unsigned mode)
{
    (void)user;
    return mkdir(path, (mode_t)mode) == 0 ? 0 : -errno;
}

/* Neither moves nor syncs data: passed through, not logged. */
static int h_getfl(void *user, int fd)
{
    int r = fcntl(fd, F_GETFL);
    (void)user;
    return r < 0 ? -errno : r;
}
static int h_fadvise(void *user, int fd, uint64_t off, uint64_t len, int advice)
{
    (void)user;
    return kvs_sys_fadvise(fd, off, len, advice);
}
static int h_readdir(void *user, void *stream, const char **name)
{
    (void)user;
    return kvs_sys_readdir(stream, name);
}

/* A put's block reservation (fallocate mode 0 from offset 0): done for
   real and not logged. After a power cut it can leave the file at the
   reserved size with zeros where no write landed, which the model already
   allows as long as the put's writes reach the reserved end (the file's
   full size; bytes never written are zeros or garbage).
   rec_check_reserves checks that they do. */
static int h_fallocate(void *user, int fd, uint64_t off, uint64_t len)
{
    recorder *R = (recorder *)user;
    uint32_t id = 0;
    pthread_mutex_lock(&R->mu);
    if (fd < 0 || fd >= FDMAX || R->fdkind[fd] != FD_FILE || off != 0) {
        rec_unmodelled(R, "fallocate of an unknown descriptor or not from offset 0");
    } else {
        id = R->fdval[fd];
        if (id >= R->capresv) {
            size_t nc = R->capresv ? R->capresv : 64;
            while (nc <= id)
                nc *= 2;
            R->resv = (uint64_t *)xrealloc(R->resv, nc * sizeof(uint64_t));
            memset(R->resv + R->capresv, 0, (nc - R->capresv) * sizeof(uint64_t));
            R->capresv = nc;
        }
        if (len > R->resv[id])
            R->resv[id] = len;
        R->reserves++;
    }
    pthread_mutex_unlock(&R->mu);
    return fallocate(fd, 0, (off_t)off, (off_t)len) != 0 ? -errno : 0;
}

/* Every reservation is covered by its file's logged writes (see
   h_fallocate); the count of files checked. */
static uint64_t rec_check_reserves(recorder *R)
{
    uint64_t *wend, n = 0;
    size_t i;
    if (R->capresv == 0)
        return 0;
    wend = (uint64_t *)t_xmalloc(R->capresv * sizeof(uint64_t));
    memset(wend, 0, R->capresv * sizeof(uint64_t));
    for (i = 0; i < R->nev; i++) {
        const lent *e = &R->ev[i];
        if (e->type == E_WRITE && e->id < R->capresv && e->off + e->len > wend[e->id])
            wend[e->id] = e->off + e->len;
    }
    for (i = 0; i < R->capresv; i++) {
        if (R->resv[i] == 0)
            continue;
        n++;
        if (wend[i] < R->resv[i])
            FAILF("file %u: reserved to %llu, written to %llu: outside the model", (unsigned)i,
                  (unsigned long long)R->resv[i], (unsigned long long)wend[i]);
    }
    free(wend);
    return n;
}

static int64_t h_preadv(void *user, int fd, const kvs_iovec *iov, int cnt, uint64_t off)
{
    struct iovec v[KVS_IOV_BATCH];
    int i;
    ssize_t n;
    (void)user;
    if (cnt < 1 || cnt > KVS_IOV_BATCH)
        return -EINVAL;
    for (i = 0; i < cnt; i++) {
        v[i].iov_base = iov[i].base;
        v[i].iov_len = iov[i].len;
    }
    n = preadv(fd, v, cnt, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

static int64_t h_pwritev(void *user, int fd, const kvs_iovec *iov, int cnt, uint64_t off)
{
    struct iovec v[KVS_IOV_BATCH];
    unsigned char *cat;
    size_t total = 0, at = 0;
    int i;
    ssize_t n;
    if (cnt < 1 || cnt > KVS_IOV_BATCH)
        return -EINVAL;
    for (i = 0; i < cnt; i++) {
        v[i].iov_base = iov[i].base;
        v[i].iov_len = iov[i].len;
        total += iov[i].len;
    }
    n = pwritev(fd, v, cnt, (off_t)off);
    if (n < 0)
        return -(int64_t)errno;
    /* one write event of the bytes that moved */
    cat = (unsigned char *)t_xmalloc(total);
    for (i = 0; i < cnt && at < (size_t)n; i++) {
        size_t k = iov[i].len < (size_t)n - at ? iov[i].len : (size_t)n - at;
        memcpy(cat + at, iov[i].base, k);
        at += k;
    }
    rec_write((recorder *)user, fd, cat, (size_t)n, off);
    free(cat);
    return (int64_t)n;
}

/* Recorded when it starts: it covers the writes (or entry operations)
   completed before it. Not issued: the model decides what is durable. */
static int h_fsync(void *user, int fd)
{
    recorder *R = (recorder *)user;
    lent e;
    memset(&e, 0, sizeof e);
    pthread_mutex_lock(&R->mu);
    if (fd >= 0 && fd < FDMAX && R->fdkind[fd] == FD_DIR) {
        e.type = E_DSYNC;
        e.dir = R->fdval[fd];
        rec_push(R, &e, NULL);
        R->dsyncs++;
    } else if (fd >= 0 && fd < FDMAX && R->fdkind[fd] == FD_PARENT) {
        e.type = E_PSYNC;
        rec_push(R, &e, NULL);
        R->dsyncs++;
    } else if (fd >= 0 && fd < FDMAX && R->fdkind[fd] == FD_FILE) {
        e.type = E_FSYNC;
        e.id = R->fdval[fd];
        rec_push(R, &e, NULL);
        R->fsyncs++;
    } else {
        rec_unmodelled(R, "fsync of an unknown descriptor");
    }
    pthread_mutex_unlock(&R->mu);
    return 0;
}

/* fdatasync: the same for a file (its data and size). The model does not
   count an fdatasync of a directory as a directory sync (never done). */
static int h_fdatasync(void *user, int fd)
{
    recorder *R = (recorder *)user;
    int isdir;
    pthread_mutex_lock(&R->mu);
    isdir = fd >= 0 && fd < FDMAX && (R->fdkind[fd] == FD_DIR || R->fdkind[fd] == FD_PARENT);
    pthread_mutex_unlock(&R->mu);
    if (isdir)
        return 0;
    return h_fsync(user, fd);
}

static void rec_reset(recorder *R, unsigned ndirs, const char (*paths)[1100])
{
    size_t i;
    unsigned d;
    pthread_mutex_lock(&R->mu);
    for (i = 0; i < R->nnames; i++)
        free(R->names[i]);
    R->nnames = 0;
    for (d = 0; d < MAXDIRS; d++)
        if (R->live[d] != NULL)
            memset(R->live[d], 0, R->caplive * sizeof(uint32_t));
    memset(R->fdkind, 0, sizeof R->fdkind);
    R->ndirs = ndirs;
    memset(R->made, 0, sizeof R->made);
    snprintf(R->parent, sizeof R->parent, "%s", g_dir);
    for (d = 0; d < ndirs; d++)
    {
        memcpy(R->dirpath[d], paths[d], sizeof R->dirpath[d]);
        R->dirpath[d][sizeof R->dirpath[d] - 1] = '\0';
    }
    R->nfiles = 0;
    R->nev = 0;
    R->narena = 0;
    R->writes = R->fsyncs = R->dsyncs = R->creates = R->renames = R->unlinks = R->bytes = R->reserves = 0;
    if (R->resv != NULL)
        memset(R->resv, 0, R->capresv * sizeof(uint64_t));
    pthread_mutex_unlock(&R->mu);
}

static void rec_sysops(kvs_sysops *so)
{
    memset(so, 0, sizeof *so);
    so->user = &g_rec;
    so->open = h_open;
    so->setfl = h_setfl;
    so->pread = h_pread;
    so->pwrite = h_pwrite;
    so->fsync = h_fsync;
    so->fdatasync = h_fdatasync;
    so->rename = h_rename;
    so->openat = h_openat;
    so->renameat = h_renameat;
    so->unlinkat = h_unlinkat;
    so->linkat = h_linkat;
    so->preadv = h_preadv;
    so->pwritev = h_pwritev;
    so->fallocate = h_fallocate;
    so->close = h_close;
    so->fstat = h_fstat;
    so->fstatat = h_fstatat;
    so->ftruncate = h_ftruncate;
    so->mkdir = h_mkdir;
    so->getfl = h_getfl;
    so->fadvise = h_fadvise;
    so->readdir = h_readdir;
    so->lock = h_lock;
}

/* ---- workloads ---- */
typedef struct wcfg {
    const char *name;
    kvs_durability dur;
    kvs_direct_policy direct;
    unsigned ndirs;
    unsigned nkeys;
    uint64_t capacity; /* 0: none (no eviction) */
} wcfg;

#define MAXKEYS 64
#define NCAND 512

static char g_paths[MAXDIRS][1100];
static char g_pathlist[2300];

static void store_cfg(const wcfg *w, kvs_store_config *sc, const kvs_sysops *ops)
{
    kvs_store_config_init(sc);
    sc->kind = KVS_STORE_FS;
    sc->paths = g_pathlist;
    sc->durability = w->dur;
    sc->direct = w->direct;
    sc->capacity_bytes = w->capacity;
    sc->temp_max_age_s = 60;
    sc->strict_pathset = 1; /* the record is synced before its rename: never torn */
    sc->threads = 2;
    sc->sysops = ops;
}

typedef struct kmodel {
    uint64_t base, cur;
    uint32_t cur_h;         /* handle of the last acknowledged op      */
    uint64_t cand[NCAND];   /* versions put since the durable point    */
    size_t ncand;
    int rm_after, put_after, overflow;
} kmodel;

static uint64_t g_states, g_objects, g_keys_checked, g_misses, g_lost, g_wrong, g_open_fail, g_torn_writes,
    g_dropped_writes, g_entry_skipped, g_rename_nosrc, g_short_files, g_orphans, g_live_states, g_cap_over,
    g_cap_excess_max, g_none_overwrite_miss, g_rename_both, g_dir_lost;

/* Per key, at cut position `cut` (events before it). */
static void model_at(const wcfg *w, size_t cut, kmodel *km)
{
    size_t i;
    unsigned k;
    uint32_t h = 0;
    memset(km, 0, sizeof(kmodel) * w->nkeys);
    for (i = 0; i < cut; i++) {
        const lent *e = &g_rec.ev[i];
        kmodel *m = (e->type >= E_BEGIN_PUT && e->type <= E_ACK_RM && e->id < w->nkeys) ? &km[e->id] : NULL;
        switch (e->type) {
        case E_BEGIN_PUT:
            m->put_after = 1;
            if (m->ncand < NCAND)
                m->cand[m->ncand++] = e->ver;
            else
                m->overflow = 1;
            break;
        case E_ACK_PUT:
            if (e->res == KVS_OK) {
                m->cur = e->ver;
                m->cur_h = h;
                if (w->dur == KVS_DURABLE_FULL) {
                    m->base = e->ver;
                    m->ncand = 0;
                    m->rm_after = m->put_after = m->overflow = 0;
                }
            }
            break;
        case E_BEGIN_RM:
            m->rm_after = 1;
            break;
        case E_ACK_RM:
            if (e->res == KVS_OK || e->res == KVS_NOT_FOUND) {
                m->cur = 0;
                m->cur_h = h;
                if (w->dur == KVS_DURABLE_FULL && e->res == KVS_OK) {
                    m->base = 0;
                    m->ncand = 0;
                    m->rm_after = m->put_after = m->overflow = 0;
                }
            }
            break;
        case E_ACK_SYNC:
            /* a sync covers what this handle acknowledged (close syncs
               nothing, and a new handle does not know what an earlier one
               left unsynced) */
            if (e->res == KVS_OK)
                for (k = 0; k < w->nkeys; k++)
                    if (km[k].cur_h == h) {
                        km[k].base = km[k].cur;
                        km[k].ncand = 0;
                        km[k].rm_after = km[k].put_after = km[k].overflow = 0;
                    }
            break;
        case E_REOPEN:
            h++;
            break;
        default:
            break;
        }
    }
}

/* ---- rebuilding a state ---- */
typedef struct rebuild {
    uint32_t *ns[MAXDIRS];     /* name -> id                         */
    size_t *fsync_at;          /* per file id: index+1 of its last fsync before the cut */
    size_t *dsync_at;          /* per dir                            */
    size_t *wcount;            /* per dir: unsynced entry ops        */
    size_t *first;             /* per file id: dir * nnames + name + 1 of its first name written */
    unsigned char *buf;        /* file content                       */
    size_t capbuf;
    unsigned ntemps;
    uint64_t disk_sum;         /* objects and temps, rounded to 4096  */
} rebuild;

static int is_temp_name(const char *nm)
{
    unsigned char kb[KVS_KEY_MAX];
    size_t kl = 0;
    kvs_fsname_kind kind;
    return kvs_fsname_decode(nm, strlen(nm), kb, sizeof kb, &kl, &kind) == KVS_OK && kind == KVS_FSNAME_TEMP;
}

static int is_data_name(const char *nm)
{
    unsigned char kb[KVS_KEY_MAX];
    size_t kl = 0;
    kvs_fsname_kind kind;
    return kvs_fsname_decode(nm, strlen(nm), kb, sizeof kb, &kl, &kind) == KVS_OK && kind != KVS_FSNAME_TEMP;
}

static void apply_sectors(unsigned char *dst, const lent *e, int mode, uint64_t *rs, uint64_t *applied_end)
{
    const unsigned char *src = g_rec.arena + e->data;
    uint64_t pos = e->off, end = e->off + e->len;
    if (mode == 0)
        return;
    if (mode == 1) {
        memcpy(dst + e->off, src, e->len);
        if (end > *applied_end)
            *applied_end = end;
        return;
    }
    while (pos < end) {
        uint64_t sec_end = (pos / 512 + 1) * 512;
        if (sec_end > end)
            sec_end = end;
        if (t_rng_below(rs, 2)) {
            memcpy(dst + pos, src + (pos - e->off), (size_t)(sec_end - pos));
            if (sec_end > *applied_end)
                *applied_end = sec_end;
        }
        pos = sec_end;
    }
}

/* Content of file id at the cut into B->buf; returns its size. dvar: 0 all
   applied (the live content), 1 unsynced writes all dropped, 2 mixed. */
static size_t build_file(rebuild *B, uint32_t id, size_t cut, int dvar, uint64_t *rs)
{
    size_t i, synced = B->fsync_at[id], size;
    uint64_t dsize = 0, full = 0, aend = 0;
    int garbage = dvar != 0 && t_rng_below(rs, 4) == 0, any_unsynced = 0;
    for (i = 0; i < cut; i++) {
        const lent *e = &g_rec.ev[i];
        if (e->type == E_WRITE && e->id == id && e->off + e->len > full)
            full = e->off + e->len;
    }
    if (full > B->capbuf) {
        B->capbuf = (size_t)full * 2;
        B->buf = (unsigned char *)xrealloc(B->buf, B->capbuf);
    }
    /* never-written bytes inside the size: zeros or garbage */
    if (garbage) {
        uint64_t s = t_rng_next(rs);
        for (i = 0; i < (size_t)full; i++)
            B->buf[i] = (unsigned char)(t_rng_next(&s) >> 56);
    } else if (full > 0) {
        memset(B->buf, 0, (size_t)full);
    }
    for (i = 0; i < cut; i++) {
        const lent *e = &g_rec.ev[i];
        int mode;
        if (e->type != E_WRITE || e->id != id)
            continue;
        if (i < synced) {
            apply_sectors(B->buf, e, 1, rs, &dsize);
            continue;
        }
        any_unsynced = 1;
        mode = dvar == 0 ? 1 : dvar == 1 ? 0 : (int)t_rng_below(rs, 3);
        if (mode == 2)
            g_torn_writes++;
        else if (mode == 0)
            g_dropped_writes++;
        apply_sectors(B->buf, e, mode, rs, &aend);
    }
    if (dvar == 0 || !any_unsynced) {
        size = (size_t)full;
    } else {
        uint64_t c = t_rng_below(rs, 4), lo = dsize;
        if (c == 0)
            size = (size_t)dsize;
        else if (c == 1)
            size = (size_t)(aend > dsize ? aend : dsize);
        else if (c == 2)
            size = (size_t)full;
        else {
            uint64_t span = full > lo ? (full - lo) / 512 : 0;
            size = (size_t)(lo + 512 * t_rng_below(rs, span + 1));
            if (size > full)
                size = (size_t)full;
        }
        if (size < full)
            g_short_files++;
    }
    return size;
}

/* Unlink every entry of dir (a flat directory of files). */
static void clear_dir(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    if (dp == NULL)
        return;
    while ((de = readdir(dp)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            (void)unlinkat(dirfd(dp), de->d_name, 0);
    closedir(dp);
}

static int write_file(const char *dir, const char *name, const unsigned char *p, size_t n, time_t mt)
{
    char path[4096];
    struct timespec ts[2];
    size_t put = 0;
    int fd;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return -1;
    while (put < n) {
        ssize_t k = pwrite(fd, p + put, n - put, (off_t)put);
        if (k <= 0) {
            close(fd);
            return -1;
        }
        put += (size_t)k;
    }
    ts[0].tv_sec = ts[1].tv_sec = mt;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    (void)futimens(fd, ts);
    close(fd);
    return 0;
}

/* Rebuild the state at `cut` into the store directories. Returns 0 on
   success. *live is set when everything was applied (the process-crash
   state). */
static int rebuild_state(const wcfg *w, rebuild *B, size_t cut, uint64_t *rs, int *live)
{
    size_t i, nn = g_rec.nnames;
    unsigned d;
    int joint = (int)t_rng_below(rs, 8);
    int dvar = joint == 0 ? 0 : t_rng_below(rs, 4) == 0 ? 1 : 2; /* all / all dropped / mixed */
    int mvar[MAXDIRS];
    uint64_t pct[MAXDIRS], prefix[MAXDIRS], seen[MAXDIRS];
    size_t mk_at[MAXDIRS], psync_at = 0;
    int exists[MAXDIRS];
    time_t base = time(NULL) - 86400;
    *live = joint == 0;
    /* last syncs before the cut */
    memset(B->fsync_at, 0, sizeof(size_t) * (g_rec.nfiles + 1));
    memset(B->dsync_at, 0, sizeof(size_t) * MAXDIRS);
    memset(B->wcount, 0, sizeof(size_t) * MAXDIRS);
    memset(B->first, 0, sizeof(size_t) * (g_rec.nfiles + 1));
    for (i = 0; i < cut; i++) {
        const lent *e = &g_rec.ev[i];
        if (e->type == E_FSYNC)
            B->fsync_at[e->id] = i + 1;
        else if (e->type == E_DSYNC)
            B->dsync_at[e->dir] = i + 1;
        else if (e->type == E_PSYNC)
            psync_at = i + 1;
    }
    for (d = 0; d < w->ndirs; d++)
        mk_at[d] = 0;
    for (i = 0; i < cut; i++)
        if (g_rec.ev[i].type == E_MKDIR)
            mk_at[g_rec.ev[i].dir] = i + 1;
    for (i = 0; i < cut; i++) {
        const lent *e = &g_rec.ev[i];
        if (is_entry_op(e->type) && i >= B->dsync_at[e->dir])
            B->wcount[e->dir]++;
    }
    /* metadata variant per directory: 0 all, 1 none, 2 ordered prefix,
       3 arbitrary subset */
    for (d = 0; d < w->ndirs; d++) {
        mvar[d] = joint == 0 ? 0 : (int)t_rng_below(rs, 8);
        mvar[d] = mvar[d] == 0 ? 0 : mvar[d] == 1 ? 1 : mvar[d] < 4 ? 2 : 3;
        prefix[d] = t_rng_below(rs, (uint64_t)B->wcount[d] + 1);
        pct[d] = 25 * (1 + t_rng_below(rs, 3));
        seen[d] = 0;
        /* the store directory itself: an entry of the parent, durable once
           the parent is synced after its mkdir */
        if (mk_at[d] == 0)
            exists[d] = 0;
        else if (mk_at[d] <= psync_at || mvar[d] == 0)
            exists[d] = 1;
        else
            exists[d] = mvar[d] == 1 ? 0 : (int)t_rng_below(rs, 2);
        if (!exists[d])
            g_dir_lost++;
        memset(B->ns[d], 0, nn * sizeof(uint32_t));
    }
    for (i = 0; i < cut; i++) {
        const lent *e = &g_rec.ev[i];
        uint32_t *ns;
        int apply;
        if (!is_entry_op(e->type))
            continue;
        ns = B->ns[e->dir];
        if (i < B->dsync_at[e->dir]) {
            apply = 1;
        } else {
            int mv = mvar[e->dir];
            apply = mv == 0 ? 1 : mv == 1 ? 0 : mv == 2 ? seen[e->dir] < prefix[e->dir] : t_rng_below(rs, 100) < pct[e->dir];
            seen[e->dir]++;
            if (!apply)
                g_entry_skipped++;
        }
        if (!apply)
            continue;
        if (e->type == E_CREATE) {
            ns[e->name] = e->id;
        } else if (e->type == E_LINK) {
            if (ns[e->name] != 0)
                ns[e->name2] = ns[e->name]; /* else its source was never created here */
        } else if (e->type == E_RENAME) {
            if (ns[e->name] == 0) {
                g_rename_nosrc++; /* its source was never created here */
                continue;
            }
            ns[e->name2] = ns[e->name];
            /* an unsynced rename may also be left half done, the file under
               both names (a non-journalled file system after fsck) */
            if (i >= B->dsync_at[e->dir] && mvar[e->dir] >= 2 && t_rng_below(rs, 16) == 0)
                g_rename_both++;
            else
                ns[e->name] = 0;
        } else {
            ns[e->name] = 0;
        }
    }
    B->ntemps = 0;
    B->disk_sum = 0;
    for (d = 0; d < w->ndirs; d++) {
        clear_dir(g_paths[d]);
        if (!exists[d]) {
            (void)rmdir(g_paths[d]);
            continue;
        }
        if (mkdir(g_paths[d], 0700) != 0 && errno != EEXIST) {
            FAILF("%s: mkdir %s: %s", w->name, g_paths[d], strerror(errno));
            return -1;
        }
        for (i = 0; i < nn; i++) {
            uint32_t id = B->ns[d][i];
            size_t n;
            if (id == 0)
                continue;
            if (B->first[id] != 0) {
                /* a half-done rename: the second name is a hard link */
                char from[4096], to[4096];
                size_t f = B->first[id] - 1;
                struct stat sb;
                snprintf(from, sizeof from, "%s/%s", g_paths[f / nn], g_rec.names[f % nn]);
                snprintf(to, sizeof to, "%s/%s", g_paths[d], g_rec.names[i]);
                if (link(from, to) != 0 || stat(to, &sb) != 0) {
                    FAILF("%s: cannot link %s to %s: %s", w->name, from, to, strerror(errno));
                    return -1;
                }
                n = (size_t)sb.st_size;
            } else {
                n = build_file(B, id, cut, dvar, rs);
                B->first[id] = d * nn + i + 1;
                if (write_file(g_paths[d], g_rec.names[i], B->buf, n, base + (time_t)id) != 0) {
                    FAILF("%s: cannot write %s/%s: %s", w->name, g_paths[d], g_rec.names[i], strerror(errno));
                    return -1;
                }
            }
            if (is_temp_name(g_rec.names[i]))
                B->ntemps++;
            if (is_temp_name(g_rec.names[i]) || is_data_name(g_rec.names[i]))
                B->disk_sum += ((uint64_t)n + 4095) / 4096 * 4096;
        }
    }
    return 0;
}

typedef struct itx {
    unsigned nkeys, phantom;
} itx;

static int iter_cb(void *user, const void *key, size_t key_len, uint64_t len)
{
    itx *x = (itx *)user;
    char k[KEYCAP];
    unsigned i;
    (void)len;
    for (i = 0; i < x->nkeys; i++) {
        size_t kl = keyname(k, i);
        if (kl == key_len && memcmp(k, key, key_len) == 0)
            return 0;
    }
    if (!(key_len == 5 && memcmp(key, "probe", 5) == 0))
        x->phantom++;
    return 0;
}

static unsigned count_temps(unsigned ndirs)
{
    unsigned d, n = 0;
    for (d = 0; d < ndirs; d++) {
        DIR *dp = opendir(g_paths[d]);
        struct dirent *de;
        if (dp == NULL)
            continue;
        while ((de = readdir(dp)) != NULL)
            if (is_temp_name(de->d_name))
                n++;
        closedir(dp);
    }
    return n;
}

/* Open the store on the rebuilt state and check it against the model. */
static void check_state(const wcfg *w, const rebuild *B, const kmodel *km, size_t cut, int live,
                        unsigned char *rd, unsigned char *scratch)
{
    kvs_store_config sc;
    kvs_store *s = NULL;
    kvs_store_stats st;
    char err[256], k[KEYCAP], why[160];
    unsigned i, left;
    size_t got = 0, j, kl;
    kvs_result r;
    itx x;

    g_states++;
    if (live && w->capacity != 0) {
        /* what a process crash leaves: within the bound, no slack */
        g_live_states++;
        if (B->disk_sum > w->capacity)
            FAILF("%s cut %zu: the live state holds %llu bytes in object and temporary files, capacity %llu",
                  w->name, cut, (unsigned long long)B->disk_sum, (unsigned long long)w->capacity);
    }
    if (w->capacity != 0 && B->disk_sum > w->capacity) {
        g_cap_over++;
        if (B->disk_sum - w->capacity > g_cap_excess_max)
            g_cap_excess_max = B->disk_sum - w->capacity;
    }
    store_cfg(w, &sc, NULL);
    r = kvs_store_open(&sc, &s, err, sizeof err);
    if (r != KVS_OK) {
        g_open_fail++;
        FAILF("%s cut %zu: open of the rebuilt state failed: %s: %s", w->name, cut, kvs_result_name(r), err);
        return;
    }
    kvs_store_get_stats(s, &st);
    left = count_temps(w->ndirs);
    g_orphans += st.orphans_removed;
    if (left != 0 || st.orphans_removed != B->ntemps)
        FAILF("%s cut %zu: %u orphan temporary files rebuilt, %llu removed at open, %u left", w->name, cut,
              B->ntemps, (unsigned long long)st.orphans_removed, left);
    else
        t_check(1, __FILE__, __LINE__, "");
    for (i = 0; i < w->nkeys; i++) {
        const kmodel *m = &km[i];
        uint64_t seen = 0;
        kl = keyname(k, i);
        r = kvs_store_get(s, k, kl, rd, VMAX, &got);
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
                FAILF("%s cut %zu: WRONG read of key %u (durable version %llu, %zu candidates): %s", w->name, cut,
                      i, (unsigned long long)m->base, m->ncand, why);
            } else
                t_check(1, __FILE__, __LINE__, "");
        } else if (r == KVS_NOT_FOUND) {
            /* a miss: nothing durable, a remove since, eviction, or (NONE)
               an overwrite since whose unsynced file replaced the old one */
            g_misses++;
            if (m->base == 0 || m->rm_after || w->capacity != 0)
                t_check(1, __FILE__, __LINE__, "");
            else if (w->dur == KVS_DURABLE_NONE && m->put_after) {
                t_check(1, __FILE__, __LINE__, "");
                g_none_overwrite_miss++; /* the synced version is gone too */
            }
            else {
                g_lost++;
                FAILF("%s cut %zu: LOST durable object: key %u version %llu", w->name, cut, i,
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
    /* usable: a put and a get */
    t_val_fill(&g_val, scratch, 999, 1, t_val_len(&g_val, 999, 1));
    r = kvs_store_put(s, "probe", 5, scratch, t_val_len(&g_val, 999, 1));
    if (r != KVS_OK)
        FAILF("%s cut %zu: put after the power cut: %s", w->name, cut, kvs_result_name(r));
    else {
        r = kvs_store_get(s, "probe", 5, rd, VMAX, &got);
        if (r != KVS_OK || !t_val_is(&g_val, rd, got, 999, 1, scratch))
            FAILF("%s cut %zu: get after the power cut: %s", w->name, cut, kvs_result_name(r));
        else
            t_check(1, __FILE__, __LINE__, "");
    }
    if (w->capacity != 0) {
        kvs_store_get_stats(s, &st);
        if (st.disk_bytes > w->capacity)
            FAILF("%s cut %zu: disk_bytes %llu above capacity %llu after a put", w->name, cut,
                  (unsigned long long)st.disk_bytes, (unsigned long long)w->capacity);
        else
            t_check(1, __FILE__, __LINE__, "");
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

/* The store keeps the table's address: it must outlive the store. */
static kvs_sysops g_so;

static kvs_result open_recorded(const wcfg *w, kvs_store **s)
{
    kvs_store_config sc;
    char err[256];
    kvs_result r;
    rec_sysops(&g_so);
    store_cfg(w, &sc, &g_so);
    r = kvs_store_open(&sc, s, err, sizeof err);
    if (r != KVS_OK)
        FAILF("%s: open for the workload: %s: %s", w->name, kvs_result_name(r), err);
    return r;
}

static void run_workload(const wcfg *w, uint64_t states, unsigned ops, uint64_t seed, unsigned char *rd,
                         unsigned char *scratch)
{
    char k[KEYCAP], bk[3][KEYCAP];
    kvs_store *s = NULL;
    unsigned char *buf, *bb[3];
    void *mem = NULL;
    size_t i, ncut = 0, *cuts, nsync = 0, ci, kl;
    uint64_t rs = seed, ver = 1, mine = 0, acked_puts = 0, acked_rm = 0, syncs = 0, reopens = 0, batches = 0;
    kmodel *km = (kmodel *)t_xmalloc(sizeof(kmodel) * MAXKEYS);
    rebuild B;
    unsigned op, d;
    int direct = 0;
    kvs_result r;

    /* 1: empty directories, then the recorded workload */
    g_pathlist[0] = '\0';
    for (d = 0; d < w->ndirs; d++) {
        snprintf(g_paths[d], sizeof g_paths[d], "%s/%s-d%u", g_dir, w->name, d);
        clear_dir(g_paths[d]);
        (void)rmdir(g_paths[d]); /* the store makes it */
        if (d > 0)
            strcat(g_pathlist, ",");
        strcat(g_pathlist, g_paths[d]);
    }
    rec_reset(&g_rec, w->ndirs, (const char (*)[1100])g_paths);
    if (open_recorded(w, &s) != KVS_OK) {
        free(km);
        return;
    }
    {
        kvs_store_stats st;
        kvs_store_get_stats(s, &st);
        direct = st.direct;
    }
    if (posix_memalign(&mem, 4096, 4 * (VMAX + 4096)) != 0)
        exit(1);
    buf = (unsigned char *)mem;
    for (i = 0; i < 3; i++)
        bb[i] = buf + (i + 1) * (VMAX + 4096);
    for (op = 0; op < ops && s != NULL; op++) {
        uint32_t key = (uint32_t)t_rng_below(&rs, w->nkeys);
        uint64_t c = t_rng_below(&rs, 100);
        kl = keyname(k, key);
        if (c < 55) {
            size_t n = t_val_len(&g_val, key, ver), mis = t_rng_below(&rs, 4) == 0 ? 8 : 0;
            t_val_fill(&g_val, buf + mis, key, ver, n);
            rec_event(E_BEGIN_PUT, key, ver, KVS_OK);
            r = kvs_store_put(s, k, kl, buf + mis, n);
            rec_event(E_ACK_PUT, key, ver, r);
            if (r != KVS_OK)
                FAILF("%s: put: %s", w->name, kvs_result_name(r));
            else
                acked_puts++;
            ver++;
        } else if (c < 59) {
            /* a batch of up to three distinct keys, on the pool's workers */
            kvs_item it[3];
            uint32_t ks[3];
            size_t n = 2 + (size_t)t_rng_below(&rs, 2), failed = 0, m;
            for (m = 0; m < n; m++) {
                size_t q;
                ks[m] = (uint32_t)((key + m * 7) % w->nkeys);
                for (q = 0; q < m; q++)
                    if (ks[q] == ks[m])
                        ks[m] = (ks[m] + 1) % w->nkeys;
                memset(&it[m], 0, sizeof it[m]);
                it[m].key_len = keyname(bk[m], ks[m]);
                it[m].key = bk[m];
                it[m].len = t_val_len(&g_val, ks[m], ver + m);
                t_val_fill(&g_val, bb[m], ks[m], ver + m, it[m].len);
                it[m].buf = bb[m];
                rec_event(E_BEGIN_PUT, ks[m], ver + m, KVS_OK);
            }
            r = kvs_store_put_batch(s, it, n, &failed);
            for (m = 0; m < n; m++) {
                rec_event(E_ACK_PUT, ks[m], ver + m, it[m].result);
                if (it[m].result != KVS_OK)
                    FAILF("%s: batch put: %s", w->name, kvs_result_name(it[m].result));
                else
                    acked_puts++;
            }
            if (r != KVS_OK)
                FAILF("%s: put_batch: %s", w->name, kvs_result_name(r));
            ver += n;
            batches++;
        } else if (c < 71) {
            rec_event(E_BEGIN_RM, key, 0, KVS_OK);
            r = kvs_store_remove(s, k, kl);
            rec_event(E_ACK_RM, key, 0, r);
            if (r != KVS_OK && r != KVS_NOT_FOUND)
                FAILF("%s: remove: %s", w->name, kvs_result_name(r));
            else if (r == KVS_OK)
                acked_rm++;
        } else if (c < 77) {
            r = kvs_store_sync(s);
            rec_event(E_ACK_SYNC, 0, 0, r);
            CHECK(r == KVS_OK);
            syncs++;
        } else if (c < 79) {
            /* close (syncs nothing) and open again: the scan, still recorded */
            CHECK(kvs_store_close(s) == KVS_OK);
            s = NULL;
            rec_event(E_REOPEN, 0, 0, KVS_OK);
            (void)open_recorded(w, &s);
            reopens++;
        } else {
            size_t got = 0;
            (void)kvs_store_get(s, k, kl, buf, VMAX, &got);
        }
    }
    if (s != NULL)
        CHECK(kvs_store_close(s) == KVS_OK);

    /* every workload puts: each non-empty put reserved its file's blocks */
    CHECK(g_rec.reserves > 0);
    CHECK(rec_check_reserves(&g_rec) == g_rec.reserves);

    /* 2: cut points: right before and right after every sync (file or
       directory), the end, and random positions */
    for (i = 0; i < g_rec.nev; i++)
        if (g_rec.ev[i].type == E_FSYNC || g_rec.ev[i].type == E_DSYNC || g_rec.ev[i].type == E_PSYNC)
            nsync++;
    cuts = (size_t *)t_xmalloc(sizeof(size_t) * (size_t)(2 * nsync + states + 2));
    for (i = 0; i < g_rec.nev; i++)
        if (g_rec.ev[i].type == E_FSYNC || g_rec.ev[i].type == E_DSYNC || g_rec.ev[i].type == E_PSYNC) {
            cuts[ncut++] = i;
            cuts[ncut++] = i + 1;
        }
    cuts[ncut++] = g_rec.nev;
    if (ncut > states / 2) {
        /* half the budget on an even spread of the sync points */
        size_t keep = (size_t)(states / 2), o = 0;
        for (i = 0; i < keep; i++)
            cuts[o++] = cuts[i * ncut / keep];
        ncut = o;
    }
    while (ncut < states)
        cuts[ncut++] = (size_t)t_rng_below(&rs, g_rec.nev + 1);
    qsort(cuts, ncut, sizeof *cuts, cmp_size);

    memset(&B, 0, sizeof B);
    for (d = 0; d < MAXDIRS; d++)
        B.ns[d] = (uint32_t *)t_xmalloc(sizeof(uint32_t) * (g_rec.nnames + 1));
    B.fsync_at = (size_t *)t_xmalloc(sizeof(size_t) * (g_rec.nfiles + 1));
    B.dsync_at = (size_t *)t_xmalloc(sizeof(size_t) * MAXDIRS);
    B.wcount = (size_t *)t_xmalloc(sizeof(size_t) * MAXDIRS);
    B.first = (size_t *)t_xmalloc(sizeof(size_t) * (g_rec.nfiles + 1));
    for (ci = 0; ci < ncut; ci++) {
        int live = 0;
        if (rebuild_state(w, &B, cuts[ci], &rs, &live) != 0)
            break;
        model_at(w, cuts[ci], km);
        check_state(w, &B, km, cuts[ci], live, rd, scratch);
        mine++;
    }
    printf("  %-27s %s, ops %u (puts %llu, batches %llu, removes %llu, syncs %llu, reopens %llu): %llu files, "
           "%llu writes (%llu bytes), %llu fsyncs, %llu dirsyncs, %llu creates, %llu renames, %llu unlinks, "
           "%llu reservations; %llu states\n",
           w->name, direct ? "direct" : "buffered", ops, (unsigned long long)acked_puts, (unsigned long long)batches, (unsigned long long)acked_rm,
           (unsigned long long)syncs, (unsigned long long)reopens, (unsigned long long)g_rec.nfiles,
           (unsigned long long)g_rec.writes, (unsigned long long)g_rec.bytes, (unsigned long long)g_rec.fsyncs,
           (unsigned long long)g_rec.dsyncs, (unsigned long long)g_rec.creates, (unsigned long long)g_rec.renames,
           (unsigned long long)g_rec.unlinks, (unsigned long long)g_rec.reserves, (unsigned long long)mine);
    for (d = 0; d < MAXDIRS; d++)
        free(B.ns[d]);
    free(B.fsync_at);
    free(B.dsync_at);
    free(B.wcount);
    free(B.first);
    free(B.buf);
    for (d = 0; d < w->ndirs; d++) {
        clear_dir(g_paths[d]);
        rmdir(g_paths[d]);
    }
    free(cuts);
    free(mem);
    free(km);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    static const wcfg W[] = {
        {"fs-none-buffered", KVS_DURABLE_NONE, KVS_DIRECT_OFF, 1, 24, 0},
        {"fs-data-buffered-2dir-evict", KVS_DURABLE_DATA, KVS_DIRECT_OFF, 2, 40, 160u << 10},
        {"fs-full-direct-2dir", KVS_DURABLE_FULL, KVS_DIRECT_PREFER, 2, 24, 0},
        {"fs-none-direct-evict", KVS_DURABLE_NONE, KVS_DIRECT_PREFER, 1, 40, 160u << 10},
        {"fs-data-direct", KVS_DURABLE_DATA, KVS_DIRECT_PREFER, 1, 24, 0},
        {"fs-full-buffered-evict", KVS_DURABLE_FULL, KVS_DIRECT_OFF, 1, 40, 160u << 10},
    };
    const unsigned nw = (unsigned)(sizeof W / sizeof W[0]);
    const char *env;
    uint64_t states = T_SAN ? 1000 : 4000, per, t0;
    unsigned ops = 240, i;
    unsigned char *rd, *scratch;
    void *mem = NULL;
    struct timespec ts;

    t_init_seed("test_powercut_fs", 0x5eedf5ULL);
    env = getenv("KVS_POWERCUT_STATES");
    if (env != NULL && env[0] != '\0')
        states = strtoull(env, NULL, 0);
    env = getenv("KVS_POWERCUT_OPS");
    if (env != NULL && env[0] != '\0')
        ops = (unsigned)strtoul(env, NULL, 0);
    env = getenv("KVS_TEST_DIR");
    if (env != NULL && env[0] != '\0')
        snprintf(g_dir, sizeof g_dir, "%s/kvs_powercut_fs_XXXXXX", env);
    else
        snprintf(g_dir, sizeof g_dir, "/dev/shm/kvs_powercut_fs_XXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        snprintf(g_dir, sizeof g_dir, "/tmp/kvs_powercut_fs_XXXXXX");
        if (mkdtemp(g_dir) == NULL) {
            fprintf(stderr, "%s:%d: mkdtemp(%s) failed (seed %llu)\n", __FILE__, __LINE__, g_dir, t_seed);
            return 1;
        }
    }
    if (pthread_mutex_init(&g_rec.mu, NULL) != 0)
        return 1;
    if (posix_memalign(&mem, 4096, VMAX + 4096) != 0)
        return 1;
    rd = (unsigned char *)mem;
    scratch = (unsigned char *)t_xmalloc(VMAX);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    per = states / nw + 1;
    printf("test_powercut_fs: %llu states over %u workloads in %s, seed %llu\n", (unsigned long long)states, nw,
           g_dir, t_seed);
    for (i = 0; i < nw; i++) {
        unsigned o = ops;
        if (per > 1000)
            o = (unsigned)(ops * (per / 1000 + 1) < 3000 ? ops * (per / 1000 + 1) : 3000);
        run_workload(&W[i], per, o, t_seed ^ (0x9e37u * (i + 1)), rd, scratch);
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("power-cut states checked: %llu (%u workloads, seed %llu, %.1f s; %llu writes torn at 512-byte "
           "sectors, %llu dropped, %llu files short; %llu unsynced entry operations not applied, %llu renames "
           "without their source skipped, %llu left under both names; %llu store directories not there; %llu orphan temporaries removed at open)\n",
           (unsigned long long)g_states, nw, t_seed,
           (double)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u - t0) / 1e3,
           (unsigned long long)g_torn_writes, (unsigned long long)g_dropped_writes,
           (unsigned long long)g_short_files, (unsigned long long)g_entry_skipped,
           (unsigned long long)g_rename_nosrc, (unsigned long long)g_rename_both,
           (unsigned long long)g_dir_lost, (unsigned long long)g_orphans);
    printf("objects checked: %llu byte-exact of %llu key checks (%llu misses allowed by the model, %llu of them "
           "synced NONE objects replaced by an unsynced overwrite); lost durable objects: %llu; wrong reads: %llu; failed opens: %llu; capacity: %llu all-applied states within it, "
           "%llu mixed states above it before the open (by at most %llu bytes), all within it after a put\n",
           (unsigned long long)g_objects, (unsigned long long)g_keys_checked, (unsigned long long)g_misses,
           (unsigned long long)g_none_overwrite_miss,
           (unsigned long long)g_lost, (unsigned long long)g_wrong, (unsigned long long)g_open_fail,
           (unsigned long long)g_live_states, (unsigned long long)g_cap_over,
           (unsigned long long)g_cap_excess_max);
    (void)nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(rd);
    free(scratch);
    free(g_rec.ev);
    free(g_rec.arena);
    free(g_rec.resv);
    for (i = 0; i < g_rec.nnames; i++)
        free(g_rec.names[i]);
    free(g_rec.names);
    for (i = 0; i < MAXDIRS; i++)
        free(g_rec.live[i]);
    pthread_mutex_destroy(&g_rec.mu);
    return t_done("test_powercut_fs");
}
