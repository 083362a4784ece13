/* SPDX-License-Identifier: MIT OR Unlicense */
/* Fault walk over both stores (issue 6, "Fault injection").

   For the raw-block store and the filesystem store, for every operation --
   open of a fresh store, open/restore of a clean one, open with a restore
   scan (raw: slots written after the checkpoint, or no valid checkpoint at
   all; FS: an orphan temporary file and a reordered path set), put, put of
   a large object, overwrite, get, prefix get, remove, sync, a put that must
   evict, close, iteration over the keys -- and for every fault kind, the
   Nth hooked system call of the operation is made to fail, for N = 1, 2,
   ... until the operation makes fewer than N calls:

     EIO, ENOSPC  any hooked call (open, setfl, pread, pwrite, fsync,
                  fdatasync, rename, openat, renameat, unlinkat, fallocate,
                  close, fstat, fstatat, ftruncate, mkdir, getfl (F_GETFL),
                  fadvise (the FS store's buffered variant has readahead
                  on), readdir, lock (the raw store's device lock, the FS
                  store's probe at open and evictions' name locks)); EIO
                  at every even point is answered as
                  INT_MIN (INT64_MIN for pread/pwrite), no errno at all,
                  which must read as EIO
     EINTR        open, openat, pread, pwrite, fsync, fdatasync, fallocate,
                  close, ftruncate, lock (the calls that can be interrupted;
                  rename/unlink/F_SETFL/F_GETFL/fstat/mkdir/
                  posix_fadvise/readdir cannot)
     short        pread, pwrite (half the bytes, or all moved but half
                  reported where O_DIRECT forbids a shorter transfer)

   and the Nth allocation through the store's kvs_allocator is made to fail
   (the allocator counts live blocks with __atomic builtins: pool workers
   allocate too).

   After each run: EIO gives KVS_E_IO, ENOSPC KVS_E_NOSPC, an allocation
   failure KVS_E_NOMEM (or success where the failure is absorbed by design:
   a failed close of a descriptor nothing was written through must be, and
   a failed read-ahead hint must change nothing);
   a successful iteration listed every stored key once with its length;
   EINTR and short transfers are invisible (the operation succeeds); the
   store stays usable (a put, get and remove of another key); no block is
   live after close; the filesystem store leaves no temporary file; and after
   a reopen with real system calls every object stored before is there and
   byte-exact, a failed put left the old value (or nothing), a removed and
   synced key did not come back, and no corruption is counted. (The hooks
   skip the real fsync/fdatasync -- no power cut is simulated here -- which
   keeps the walk fast; the reopen uses the real calls.)

   Prints: fault points walked: N (per operation), allocation points walked:
   M, failures injected: K. Environment: KVS_TEST_DIR, KVS_WALK_VERBOSE. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <dirent.h>
#include <limits.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_util.h"

/* ------------------------------------------------------------------ */
/* Faulting system calls */
enum {
    C_OPEN, C_SETFL, C_PREAD, C_PWRITE, C_FSYNC, C_FDATASYNC, C_RENAME, C_OPENAT, C_RENAMEAT, C_UNLINKAT,
    C_FALLOCATE, C_CLOSE, C_FSTAT, C_FSTATAT, C_FTRUNCATE, C_MKDIR, C_GETFL, C_FADVISE, C_READDIR, C_LOCK, C_NCALLS
};
static const char *const call_name[C_NCALLS] = {"open",    "setfl",  "pread",    "pwrite",   "fsync",    "fdatasync",
                                                "rename",  "openat", "renameat", "unlinkat", "fallocate", "close",   "fstat",    "fstatat",  "ftruncate", "mkdir",
                                                "getfl",   "fadvise", "readdir", "lock"};
enum { K_EIO, K_ENOSPC, K_EINTR, K_SHORT, K_ALLOC, K_NKINDS };
static const char *const kind_name[K_NKINDS] = {"EIO", "ENOSPC", "EINTR", "short", "alloc"};

typedef struct fstate {
    int armed, kind;
    uint64_t n __attribute__((aligned(8))), count __attribute__((aligned(8))); /* 8-byte atomics, i386 too */
    int fired, fired_call, fired_isdir, fired_written;
} fstate;
static fstate g_f;

static int eligible(int call, int kind)
{
    switch (kind) {
    case K_EIO:
    case K_ENOSPC:
        return 1;
    case K_EINTR:
        return call == C_OPEN || call == C_OPENAT || call == C_PREAD || call == C_PWRITE || call == C_FSYNC ||
               call == C_FDATASYNC || call == C_FALLOCATE || call == C_CLOSE || call == C_FTRUNCATE || call == C_LOCK;
    case K_SHORT:
        return call == C_PREAD || call == C_PWRITE;
    default:
        return 0;
    }
}

/* 1 when this call is the one to fail. */
static int f_hit(int call, int fd)
{
    int kind, isdir = 0;
    struct stat sb;
    if (!__atomic_load_n(&g_f.armed, __ATOMIC_ACQUIRE))
        return 0;
    kind = __atomic_load_n(&g_f.kind, __ATOMIC_RELAXED);
    if (!eligible(call, kind))
        return 0;
    if (__atomic_add_fetch(&g_f.count, 1, __ATOMIC_ACQ_REL) != __atomic_load_n(&g_f.n, __ATOMIC_RELAXED))
        return 0;
    if (fd >= 0 && fstat(fd, &sb) == 0)
        isdir = S_ISDIR(sb.st_mode) ? 1 : 0;
    __atomic_store_n(&g_f.fired_call, call, __ATOMIC_RELAXED);
    __atomic_store_n(&g_f.fired_isdir, isdir, __ATOMIC_RELAXED);
    __atomic_store_n(&g_f.fired, 1, __ATOMIC_RELEASE);
    return 1;
}

/* EIO is spelled two ways, alternating by fault point: -EIO, and at every
   even point a value no errno has (INT_MIN; INT64_MIN from the transfer
   hooks), which the library must take as EIO, not negate (UBSan's
   signed-overflow check watches the sanitizer configurations). */
static int f_bogus(void)
{
    return __atomic_load_n(&g_f.kind, __ATOMIC_RELAXED) == K_EIO && __atomic_load_n(&g_f.n, __ATOMIC_RELAXED) % 2 == 0;
}
static int f_err(void)
{
    int k = __atomic_load_n(&g_f.kind, __ATOMIC_RELAXED);
    if (f_bogus())
        return INT_MIN;
    return k == K_ENOSPC ? -ENOSPC : k == K_EINTR ? -EINTR : -EIO;
}
static int64_t f_err64(void)
{
    return f_bogus() ? INT64_MIN : (int64_t)f_err();
}

/* A transfer, shortened when `shorten`: buffered, half the bytes really
   move; under O_DIRECT (which refuses unaligned lengths) an aligned half
   when there is one, else everything moves and half is reported. */
static int64_t f_xfer(int wr, int fd, void *buf, size_t len, uint64_t off, int shorten)
{
    size_t ask = len;
    ssize_t n;
    int direct = 0;
    if (shorten && len >= 2) {
#ifdef O_DIRECT
        int fl = fcntl(fd, F_GETFL);
        direct = fl >= 0 && (fl & O_DIRECT) != 0;
#endif
        if (!direct)
            ask = len / 2;
        else if (len >= 8192)
            ask = (len / 2) & ~(size_t)4095;
    }
    n = wr ? pwrite(fd, buf, ask, (off_t)off) : pread(fd, buf, ask, (off_t)off);
    if (n < 0)
        return -(int64_t)errno;
    if (shorten && ask == len && n >= 2)
        n /= 2;
    return (int64_t)n;
}

/* Descriptors something was written through (pwrite, fallocate) since
   they were opened: a failed close of one must fail the operation. */
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
    if (f_hit(C_OPEN, -1))
        return f_err();
    fd = open(path, flags, (mode_t)mode);
    fd_mark(fd, 0);
    return fd < 0 ? -errno : fd;
}
static int h_setfl(void *u, int fd, int flags)
{
    (void)u;
    if (f_hit(C_SETFL, -1))
        return f_err();
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}
static int64_t h_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    (void)u;
    if (f_hit(C_PREAD, -1)) {
        if (__atomic_load_n(&g_f.kind, __ATOMIC_RELAXED) != K_SHORT)
            return f_err64();
        return f_xfer(0, fd, buf, len, off, 1);
    }
    return f_xfer(0, fd, buf, len, off, 0);
}
static int64_t h_pwrite(void *u, int fd, const void *buf, size_t len, uint64_t off)
{
    (void)u;
    fd_mark(fd, 1);
    if (f_hit(C_PWRITE, -1)) {
        if (__atomic_load_n(&g_f.kind, __ATOMIC_RELAXED) != K_SHORT)
            return f_err64();
        return f_xfer(1, fd, (void *)(uintptr_t)buf, len, off, 1);
    }
    return f_xfer(1, fd, (void *)(uintptr_t)buf, len, off, 0);
}
static int h_fsync(void *u, int fd)
{
    (void)u;
    if (f_hit(C_FSYNC, fd))
        return f_err();
    (void)fd; /* as fdatasync: no power cut is simulated, skip the real sync */
    return 0;
}
static int h_fdatasync(void *u, int fd)
{
    (void)u;
    if (f_hit(C_FDATASYNC, fd))
        return f_err();
    /* no power cut is simulated here: skip the slow real sync */
    return 0;
}
static int h_rename(void *u, const char *a, const char *b)
{
    (void)u;
    if (f_hit(C_RENAME, -1))
        return f_err();
    return rename(a, b) < 0 ? -errno : 0;
}
static int h_openat(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    if (f_hit(C_OPENAT, -1))
        return f_err();
    fd = openat(dfd, path, flags, (mode_t)mode);
    fd_mark(fd, 0);
    return fd < 0 ? -errno : fd;
}
static int h_renameat(void *u, int fa, const char *a, int fb, const char *b)
{
    (void)u;
    if (f_hit(C_RENAMEAT, -1))
        return f_err();
    return renameat(fa, a, fb, b) < 0 ? -errno : 0;
}
static int h_unlinkat(void *u, int fd, const char *p, int flags)
{
    (void)u;
    if (f_hit(C_UNLINKAT, -1))
        return f_err();
    return unlinkat(fd, p, flags) < 0 ? -errno : 0;
}

static int h_fallocate(void *u, int fd, uint64_t off, uint64_t len)
{
    (void)u;
    fd_mark(fd, 1);
    if (f_hit(C_FALLOCATE, -1))
        return f_err();
    return fallocate(fd, 0, (off_t)off, (off_t)len) != 0 ? -errno : 0;
}

static int h_fstat(void *u, int fd, kvs_file_status *st)
{
    int wr = fd >= 0 && fd < FD_TRACK && __atomic_load_n(&g_written[fd], __ATOMIC_RELAXED);
    (void)u;
    if (f_hit(C_FSTAT, -1)) {
        __atomic_store_n(&g_f.fired_written, wr, __ATOMIC_RELAXED);
        return f_err();
    }
    return kvs_sys_fstat(fd, st);
}
static int h_fstatat(void *u, int dfd, const char *path, kvs_file_status *st)
{
    (void)u;
    if (f_hit(C_FSTATAT, -1))
        return f_err();
    return kvs_sys_fstatat(dfd, path, st);
}

static int h_ftruncate(void *u, int fd, uint64_t size)
{
    (void)u;
    fd_mark(fd, 1);
    if (f_hit(C_FTRUNCATE, -1))
        return f_err();
    return ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
}
static int h_mkdir(void *u, const char *path, unsigned mode)
{
    (void)u;
    if (f_hit(C_MKDIR, -1))
        return f_err();
    return mkdir(path, (mode_t)mode) == 0 ? 0 : -errno;
}

static int h_getfl(void *u, int fd)
{
    int r;
    (void)u;
    if (f_hit(C_GETFL, -1))
        return f_err();
    r = fcntl(fd, F_GETFL);
    return r < 0 ? -errno : r;
}
static int h_fadvise(void *u, int fd, uint64_t off, uint64_t len, int advice)
{
    (void)u;
    if (f_hit(C_FADVISE, -1))
        return f_err();
    return kvs_sys_fadvise(fd, off, len, advice);
}
static int h_lock(void *u, int fd, int how, uint64_t off)
{
    (void)u;
    if (f_hit(C_LOCK, -1))
        return f_err();
    return kvs_sys_lock(fd, how, off);
}
static int h_readdir(void *u, void *stream, const char **name)
{
    (void)u;
    if (f_hit(C_READDIR, -1))
        return f_err();
    return kvs_sys_readdir(stream, name);
}

/* The descriptor is released whatever the hook answers (as on Linux). */
static int h_close(void *u, int fd)
{
    int wr = fd >= 0 && fd < FD_TRACK && __atomic_load_n(&g_written[fd], __ATOMIC_RELAXED);
    (void)u;
    fd_mark(fd, 0);
    if (f_hit(C_CLOSE, fd)) {
        __atomic_store_n(&g_f.fired_written, wr, __ATOMIC_RELAXED);
        (void)close(fd);
        return f_err();
    }
    return close(fd) != 0 ? -errno : 0;
}

static kvs_sysops g_ops;

/* Faulting, counting allocator (armed: t_alloc_arm; unarmed: fail_at -1). */
static t_alloc_state g_a;

static void arm(int kind, uint64_t n)
{
    if (kind == K_ALLOC) {
        t_alloc_arm(&g_a, (long)n - 1); /* fail the n-th allocation */
    } else {
        __atomic_store_n(&g_f.kind, kind, __ATOMIC_RELAXED);
        __atomic_store_n(&g_f.n, n, __ATOMIC_RELAXED);
        __atomic_store_n(&g_f.count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&g_f.fired, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&g_f.fired_call, -1, __ATOMIC_RELAXED);
        __atomic_store_n(&g_f.fired_isdir, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&g_f.fired_written, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&g_f.armed, 1, __ATOMIC_RELEASE);
    }
}

/* Stop injecting; 1 when the failure fired. */
static int disarm(int kind)
{
    if (kind == K_ALLOC) {
        int fired = __atomic_load_n(&g_a.fired, __ATOMIC_ACQUIRE);
        t_alloc_arm(&g_a, -1);
        return fired;
    }
    __atomic_store_n(&g_f.armed, 0, __ATOMIC_RELEASE);
    return __atomic_load_n(&g_f.fired, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------ */
/* Objects: id -> key, (id, version) -> length and bytes */
#define NBASE 6
#define ID_EXTRA 6   /* 6, 7 */
#define ID_NEW 10
#define ID_BIG 11
#define ID_FILL 20   /* 20, 21 */
#define ID_PROBE 30
#define ID_GONE 40
#define NIDS 48
#define VMAX ((size_t)96 << 10)
#define BUFCAP ((size_t)128 << 10)

static const size_t base_len[NBASE] = {100, 4096, 5000, 70000, 1, 12345};

static size_t key_of(int id, char *k)
{
    if (id == 4) { /* a key too long for a readable file name: hashed, header-checked */
        memset(k, 'z', 300);
        memcpy(k, "long", 4);
        return 300;
    }
    return (size_t)snprintf(k, 64, "obj_%d", id);
}

static size_t len_of(int id, int ver)
{
    if (id < NBASE)
        return ver == 2 ? 6000 : base_len[id];
    if (id == ID_BIG)
        return 90000;
    if (id == ID_PROBE)
        return 777;
    if (id == ID_GONE)
        return 1500;
    if (id == ID_EXTRA || id == ID_EXTRA + 1)
        return 2500 + (size_t)id;
    return 3000; /* new, fillers */
}

static void fill(unsigned char *p, int id, int ver, size_t n)
{
    uint64_t s = 0x9e3779b97f4a7c15ULL * (uint64_t)(unsigned)(id * 31 + ver) + (uint64_t)n;
    size_t i;
    for (i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = (unsigned char)(s >> 24);
    }
}

static unsigned char *g_wbuf, *g_rbuf, *g_want_buf;
static unsigned char *g_items_buf[NBASE];

static kvs_result put_id(kvs_store *s, int id, int ver)
{
    char k[400];
    size_t kl = key_of(id, k), n = len_of(id, ver);
    fill(g_wbuf, id, ver, n);
    return kvs_store_put(s, k, kl, g_wbuf, n);
}

static kvs_result get_id(kvs_store *s, int id, int ver)
{
    char k[400];
    size_t kl = key_of(id, k), n = len_of(id, ver), got = 0;
    kvs_result r = kvs_store_get(s, k, kl, g_rbuf, BUFCAP, &got);
    if (r != KVS_OK)
        return r;
    fill(g_want_buf, id, ver, n);
    return got == n && memcmp(g_rbuf, g_want_buf, n) == 0 ? KVS_OK : KVS_E_CORRUPT;
}

static kvs_result remove_id(kvs_store *s, int id)
{
    char k[400];
    size_t kl = key_of(id, k);
    return kvs_store_remove(s, k, kl);
}

static kvs_result pin_id(kvs_store *s, int id)
{
    char k[400];
    size_t kl = key_of(id, k);
    return kvs_store_pin(s, k, kl);
}

/* ------------------------------------------------------------------ */
/* Stores, directories */
enum { ST_RAW, ST_FS, ST_N };
static const char *const store_name[ST_N] = {"raw", "fs"};
enum {
    OP_OPEN_FRESH, OP_OPEN_RESTORE, OP_OPEN_SCAN, OP_PUT, OP_PUT_BIG, OP_OVERWRITE, OP_GET, OP_PREFIX,
    OP_REMOVE, OP_SYNC, OP_EVICT, OP_CLOSE, OP_ITERATE, OP_N
};
static const char *const op_name[OP_N] = {"open", "restore", "restore-scan", "put", "put-big", "overwrite",
                                          "get", "prefix-get", "remove", "sync", "evict", "close", "iterate"};

static char g_dev[1200], g_img[1200], g_fa[1200], g_fb[1200], g_paths[2500], g_paths_rev[2500];

static int raw_slots(int op)
{
    return op == OP_EVICT ? 8 : 16;
}

static void cfg_make(kvs_store_config *c, int S, int op, int v, int hooked, int counted, uint64_t cap)
{
    kvs_store_config_init(c);
    c->threads = 2;
    if (S == ST_RAW) {
        c->kind = KVS_STORE_RAW;
        c->paths = g_dev;
        c->format = KVS_FORMAT_IF_EMPTY;
        c->meta_bytes = 32768;
        c->max_key_bytes = 320;
        c->slot_payload_bytes = VMAX;
        c->device_bytes = 4096 + 32768 + (uint64_t)(4096 + VMAX) * (uint64_t)raw_slots(op);
        c->direct = v ? KVS_DIRECT_PREFER : KVS_DIRECT_OFF;
        c->durability = v ? KVS_DURABLE_NONE : KVS_DURABLE_DATA;
    } else {
        c->kind = KVS_STORE_FS;
        c->paths = op == OP_OPEN_SCAN ? g_paths_rev : g_paths;
        c->direct = v ? KVS_DIRECT_PREFER : KVS_DIRECT_OFF;
        c->durability = v ? KVS_DURABLE_FULL : KVS_DURABLE_NONE;
        c->readahead = !v; /* buffered: the gets' posix_fadvise hints are walked */
        c->capacity_bytes = cap;
    }
    if (hooked)
        c->sysops = &g_ops;
    if (counted) {
        c->allocator.user = &g_a;
        c->allocator.alloc = t_alloc_fn;
        c->allocator.free = t_free_fn;
    }
}

static kvs_store *open_real(kvs_store_config *c)
{
    kvs_store *s = NULL;
    char err[512];
    kvs_result r = kvs_store_open(c, &s, err, sizeof err);
    if (r != KVS_OK) {
        fprintf(stderr, "open failed: %s: %s [%s]\n", kvs_result_name(r), err, t_ctx);
        return NULL;
    }
    return s;
}

/* Files whose names decode as temporary, in both FS directories. */
static size_t count_temps(int unlink_them)
{
    const char *dirs[2];
    size_t n = 0, i;
    dirs[0] = g_fa;
    dirs[1] = g_fb;
    for (i = 0; i < 2; i++) {
        DIR *dp = opendir(dirs[i]);
        struct dirent *de;
        if (dp == NULL)
            continue;
        while ((de = readdir(dp)) != NULL) {
            unsigned char kb[KVS_KEY_MAX];
            size_t kl = 0;
            kvs_fsname_kind kind;
            if (kvs_fsname_decode(de->d_name, strlen(de->d_name), kb, sizeof kb, &kl, &kind) == KVS_OK &&
                kind == KVS_FSNAME_TEMP) {
                n++;
                if (unlink_them)
                    (void)unlinkat(dirfd(dp), de->d_name, 0);
            }
        }
        closedir(dp);
    }
    return n;
}

/* Copy file a to b (the raw device image while a store has it open). */
static int copy_file(const char *a, const char *b)
{
    int fa = open(a, O_RDONLY), fb = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int ok = fa >= 0 && fb >= 0;
    while (ok) {
        ssize_t n = read(fa, g_rbuf, BUFCAP), w;
        if (n <= 0) {
            ok = n == 0;
            break;
        }
        w = write(fb, g_rbuf, (size_t)n);
        ok = w == n;
    }
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    return ok ? 0 : -1;
}

/* Zero both checkpoint copies' header blocks: the restore scans every slot. */
static int kill_checkpoints(const char *path)
{
    unsigned char b[256], z[4096];
    kvs_superblock sb;
    kvs_layout L;
    int fd = open(path, O_RDWR), ok, c;
    if (fd < 0)
        return -1;
    memset(z, 0, sizeof z);
    ok = pread(fd, b, sizeof b, 0) == (ssize_t)sizeof b && kvs_superblock_decode(b, sizeof b, &sb) == KVS_OK &&
         kvs_layout_compute(sb.device_bytes, sb.align, sb.meta_bytes, sb.slot_bytes, &L, NULL, 0) == KVS_OK &&
         sb.align <= sizeof z;
    for (c = 0; c < 2 && ok; c++)
        ok = pwrite(fd, z, (size_t)sb.align, (off_t)L.ckpt_offset[c]) == (ssize_t)sb.align;
    close(fd);
    return ok ? 0 : -1;
}

/* Expected state of each id after a run. */
enum { W_UNTRACKED = 0, W_ABSENT, W_V1, W_V2, W_MAYBE1 };
static int g_want[NIDS];

/* The state before the operation, built with real system calls. */
static int build(int S, int op, int v)
{
    kvs_store_config c;
    kvs_store *s;
    int i, ok = 1;
    memset(g_want, 0, sizeof g_want);
    if (op == OP_OPEN_FRESH)
        return 1;
    cfg_make(&c, S, op, v, 1, 0, 0); /* hooked, unarmed: only the syncs are skipped */
    if (S == ST_FS)
        c.paths = g_paths;
    s = open_real(&c);
    if (s == NULL)
        return 0;
    if (op == OP_EVICT) { /* first, as the store is full afterwards */
        ok = ok && put_id(s, ID_GONE, 1) == KVS_OK && kvs_store_sync(s) == KVS_OK;
        ok = ok && remove_id(s, ID_GONE) == KVS_OK && kvs_store_sync(s) == KVS_OK;
    }
    for (i = 0; i < NBASE && ok; i++) {
        ok = put_id(s, i, 1) == KVS_OK;
        g_want[i] = W_V1;
    }
    if (op == OP_EVICT)
        for (i = ID_FILL; i < ID_FILL + 2 && ok; i++) {
            ok = put_id(s, i, 1) == KVS_OK;
            g_want[i] = W_MAYBE1;
        }
    /* A key removed and synced must never come back. Raw: the older
       checkpoint copy lists it, the newer one does not. */
    if (op != OP_EVICT) {
        ok = ok && put_id(s, ID_GONE, 1) == KVS_OK && kvs_store_sync(s) == KVS_OK;
        ok = ok && remove_id(s, ID_GONE) == KVS_OK && kvs_store_sync(s) == KVS_OK;
    }
    ok = ok && kvs_store_sync(s) == KVS_OK;
    g_want[ID_GONE] = W_ABSENT;
    if (op == OP_OPEN_SCAN && S == ST_RAW) {
        /* acknowledged after the last checkpoint: only the scan finds them */
        for (i = ID_EXTRA; i < ID_EXTRA + 2 && ok; i++) {
            ok = put_id(s, i, 1) == KVS_OK;
            g_want[i] = W_V1;
        }
        ok = ok && copy_file(g_dev, g_img) == 0;
    }
    ok = kvs_store_close(s) == KVS_OK && ok;
    if (op == OP_OPEN_SCAN && S == ST_RAW) {
        ok = ok && rename(g_img, g_dev) == 0;
        if (v)
            ok = ok && kill_checkpoints(g_dev) == 0;
    }
    if (op == OP_OPEN_SCAN && S == ST_FS) {
        /* an orphan temporary file, two hours old: the scan removes it */
        char tmp[64], p[1300];
        size_t tl = 0;
        struct timespec ts[2];
        int fd;
        ok = ok && kvs_fsname_temp(0x1234, 99, tmp, sizeof tmp, &tl) == KVS_OK;
        snprintf(p, sizeof p, "%s/%s", g_fa, tmp);
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
        ok = ok && fd >= 0;
        if (fd >= 0)
            close(fd);
        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[0].tv_sec -= 7200;
        ts[1] = ts[0];
        ok = ok && utimensat(AT_FDCWD, p, ts, 0) == 0;
    }
    return ok;
}

/* Reopen with real system calls and check every tracked id. */
static void verify(int S, int op, int v)
{
    kvs_store_config c;
    kvs_store *s;
    kvs_store_stats st;
    int id;
    cfg_make(&c, S, op, v, 0, 0, 0);
    if (S == ST_RAW && op != OP_OPEN_FRESH)
        c.format = KVS_FORMAT_NEVER;
    s = open_real(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    for (id = 0; id < NIDS; id++) {
        kvs_result r;
        switch (g_want[id]) {
        case W_ABSENT:
            CHECK_R(get_id(s, id, 1), KVS_NOT_FOUND);
            break;
        case W_V1:
        case W_V2:
            r = get_id(s, id, g_want[id] == W_V2 ? 2 : 1);
            CHECK_R(r, KVS_OK);
            if (r != KVS_OK && t_fail <= 40)
                fprintf(stderr, "  id %d lost or wrong\n", id);
            break;
        case W_MAYBE1:
            r = get_id(s, id, 1);
            CHECK(r == KVS_OK || r == KVS_NOT_FOUND);
            break;
        default:
            break;
        }
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.corruptions == 0);
    CHECK_R(kvs_store_close(s), KVS_OK);
    if (S == ST_FS)
        CHECK(count_temps(0) == 0);
}

/* ------------------------------------------------------------------ */
/* Figures */
static unsigned long g_points[ST_N][K_NKINDS][OP_N]; /* runs where the failure fired */
static unsigned long g_by_call[ST_N][C_NCALLS];
static unsigned long g_absorbed[ST_N][OP_N][C_NCALLS + 1]; /* fired, yet the operation succeeded */
static unsigned long g_failed_ops, g_runs;

static kvs_result mapped(int kind)
{
    return kind == K_EIO ? KVS_E_IO : kind == K_ENOSPC ? KVS_E_NOSPC : kind == K_ALLOC ? KVS_E_NOMEM : KVS_OK;
}

/* An error may be reported only as the injected one; EINTR and short
   transfers never show. Successes despite a fault are tallied. */
static void check_result(int S, int op, int kind, int fired, kvs_result r)
{
    if (!fired || kind == K_EINTR || kind == K_SHORT) {
        CHECK_R(r, KVS_OK);
        return;
    }
    if (kind != K_ALLOC && __atomic_load_n(&g_f.fired_call, __ATOMIC_RELAXED) == C_CLOSE &&
        !__atomic_load_n(&g_f.fired_written, __ATOMIC_RELAXED)) {
        /* a descriptor nothing was written through: its close's error
           must not fail the operation */
        CHECK_R(r, KVS_OK);
        g_absorbed[S][op][C_CLOSE]++;
        return;
    }
    if (kind != K_ALLOC && __atomic_load_n(&g_f.fired_call, __ATOMIC_RELAXED) == C_FADVISE) {
        /* a hint: its failure must change nothing */
        CHECK_R(r, KVS_OK);
        g_absorbed[S][op][C_FADVISE]++;
        return;
    }
    if (r == KVS_OK) {
        int call = kind == K_ALLOC ? C_NCALLS : __atomic_load_n(&g_f.fired_call, __ATOMIC_RELAXED);
        g_absorbed[S][op][call]++;
        /* By design: a failed removal of the FS open's probe file or of an
           orphan (aged out at a later open), a failed growth of a hash
           table (the chains get longer), a failed fstat of the file an FS
           put has just written (it only forgoes the record of what it
           published: the next get reads the header), a failed eviction of
           one FS file (its look, move aside or removal: it is passed over
           and the other fill file goes, checked after the put); a failed
           close of a descriptor nothing was written through is absorbed
           above. Anything else must report. */
        CHECK(kind == K_ALLOC || (S == ST_FS && op <= OP_OPEN_SCAN && call == C_UNLINKAT) ||
              (S == ST_FS && call == C_FSTAT && __atomic_load_n(&g_f.fired_written, __ATOMIC_RELAXED) &&
               (op == OP_PUT || op == OP_PUT_BIG || op == OP_OVERWRITE || op == OP_EVICT)) ||
              (S == ST_FS && op == OP_EVICT && (call == C_FSTATAT || call == C_RENAMEAT || call == C_UNLINKAT)));
        return;
    }
    g_failed_ops++;
    CHECK_R(r, mapped(kind));
}

static int fired_dir_fsync(int kind)
{
    return kind != K_ALLOC && __atomic_load_n(&g_f.fired_call, __ATOMIC_RELAXED) == C_FSYNC &&
           __atomic_load_n(&g_f.fired_isdir, __ATOMIC_RELAXED);
}

/* Expected state of a put's key after result r. A failed directory fsync
   after the rename (FS, FULL) reports the error with the object in place. */
static int want_after_put(int S, int kind, kvs_result r, int newver, int oldwant)
{
    if (r == KVS_OK)
        return newver;
    if (S == ST_FS && fired_dir_fsync(kind))
        return newver;
    return oldwant;
}

/* Iteration: how often each id was listed (the length checked against
   its tracked version), and keys that are no id's. */
static int g_seen[NIDS], g_seen_other;
static int seen_key(void *user, const void *key, size_t klen, uint64_t len)
{
    char k[400];
    int id;
    (void)user;
    for (id = 0; id < NIDS; id++) {
        size_t kl = key_of(id, k);
        if (kl == klen && memcmp(k, key, kl) == 0) {
            int ver = g_want[id] == W_V2 ? 2 : 1;
            CHECK(len == (uint64_t)len_of(id, ver));
            g_seen[id]++;
            return 0;
        }
    }
    g_seen_other++;
    return 0;
}

/* One run: build, fail the Nth call (or allocation) of op, check. Returns
   whether the failure fired. */
static int run_one(int S, int op, int kind, uint64_t N, int v)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_result r = KVS_OK;
    int fired, counted = kind == K_ALLOC, closed = 0, i;
    uint64_t cap = 0;
    char err[512];

    snprintf(t_ctx, sizeof t_ctx, "%s %s %s N=%llu variant %d", store_name[S], op_name[op], kind_name[kind],
             (unsigned long long)N, v);
    g_runs++;
    (void)unlink(g_dev);
    t_rm_rf(g_fa);
    t_rm_rf(g_fb);
    if (!build(S, op, v)) {
        CHECK(0);
        return 0;
    }
    if (S == ST_FS && op == OP_EVICT) {
        /* the bound: what is there now, plus less than one more object */
        kvs_store_stats st;
        cfg_make(&c, S, op, v, 1, 0, 0);
        s = open_real(&c);
        if (s == NULL) {
            CHECK(0);
            return 0;
        }
        kvs_store_get_stats(s, &st);
        cap = st.disk_bytes + 4096;
        CHECK_R(kvs_store_close(s), KVS_OK);
        s = NULL;
    }
    __atomic_store_n(&g_a.live, 0, __ATOMIC_RELAXED);
    cfg_make(&c, S, op, v, 1, counted, cap);
    if (op <= OP_OPEN_SCAN) {
        arm(kind, N);
        r = kvs_store_open(&c, &s, err, sizeof err);
        fired = disarm(kind);
        if (r != KVS_OK) {
            CHECK(s == NULL && err[0] != '\0');
            s = NULL;
            if (counted)
                CHECK(t_alloc_live(&g_a) == 0 && g_a.bad_free == 0);
            if (S == ST_RAW && op == OP_OPEN_FRESH) {
                /* the device file this open created went with it */
                struct stat sb;
                CHECK(stat(g_dev, &sb) != 0 && errno == ENOENT);
            }
        }
        check_result(S, op, kind, fired, r);
        if (s != NULL && op == OP_OPEN_SCAN && S == ST_FS && __atomic_load_n(&g_f.fired_call, __ATOMIC_RELAXED) != C_UNLINKAT)
            CHECK(count_temps(0) == 0); /* the orphan went */
    } else {
        s = open_real(&c);
        CHECK(s != NULL);
        if (s == NULL)
            return 0;
        if (S == ST_RAW && op == OP_EVICT) {
            kvs_store_stats st;
            kvs_store_get_stats(s, &st);
            CHECK(st.slots_total == 8);
        }
        if (op == OP_EVICT)
            for (i = 0; i < NBASE; i++)
                CHECK_R(pin_id(s, i), KVS_OK);
        if (op == OP_SYNC || op == OP_CLOSE) {
            CHECK_R(put_id(s, ID_EXTRA, 1), KVS_OK); /* unsynced; raw: the checkpoint is stale */
            g_want[ID_EXTRA] = W_V1;
        }
        arm(kind, N);
        switch (op) {
        case OP_PUT:
            r = put_id(s, ID_NEW, 1);
            break;
        case OP_PUT_BIG:
            r = put_id(s, ID_BIG, 1);
            break;
        case OP_OVERWRITE:
            r = put_id(s, 2, 2);
            break;
        case OP_EVICT:
            r = put_id(s, ID_NEW, 1);
            break;
        case OP_GET:
            r = get_id(s, 2, 1);
            if (r == KVS_OK)
                r = get_id(s, 3, 1);
            if (r == KVS_OK)
                r = get_id(s, 4, 1);
            break;
        case OP_PREFIX: {
            kvs_item it[NBASE];
            char keys[NBASE][400];
            size_t loaded = 0;
            for (i = 0; i < NBASE; i++) {
                memset(&it[i], 0, sizeof it[i]);
                it[i].key = keys[i];
                it[i].key_len = key_of(i, keys[i]);
                it[i].buf = g_items_buf[i];
                it[i].len = BUFCAP;
            }
            r = kvs_store_get_prefix(s, it, NBASE, &loaded);
            CHECK(loaded <= NBASE);
            CHECK((r == KVS_OK) == (loaded == NBASE));
            for (i = 0; i < (int)loaded && i < NBASE; i++) {
                fill(g_want_buf, i, 1, len_of(i, 1));
                CHECK(it[i].out_len == len_of(i, 1) && memcmp(it[i].buf, g_want_buf, len_of(i, 1)) == 0);
            }
            break;
        }
        case OP_REMOVE:
            r = remove_id(s, 1);
            if (r == KVS_OK)
                g_want[1] = W_ABSENT;
            else if (S == ST_FS && fired_dir_fsync(kind))
                g_want[1] = W_ABSENT;
            if (r == KVS_OK) {
                r = remove_id(s, 4);
                if (r == KVS_OK || (S == ST_FS && fired_dir_fsync(kind)))
                    g_want[4] = W_ABSENT;
            }
            break;
        case OP_SYNC:
            r = kvs_store_sync(s);
            break;
        case OP_CLOSE:
            r = kvs_store_close(s);
            closed = 1;
            break;
        case OP_ITERATE: {
            /* every key listed once, with its length, and nothing else;
               an error stops the walk over the keys */
            memset(g_seen, 0, sizeof g_seen);
            g_seen_other = 0;
            r = kvs_store_iterate(s, seen_key, NULL);
            if (r == KVS_OK) {
                CHECK(g_seen_other == 0);
                for (i = 0; i < NIDS; i++)
                    if (g_want[i] == W_V1 || g_want[i] == W_V2)
                        CHECK(g_seen[i] == 1);
                    else if (g_want[i] == W_ABSENT)
                        CHECK(g_seen[i] == 0);
                    else if (g_want[i] == W_MAYBE1)
                        CHECK(g_seen[i] <= 1);
            }
            break;
        }
        default:
            break;
        }
        fired = disarm(kind);
        check_result(S, op, kind, fired, r);
        switch (op) {
        case OP_PUT:
        case OP_EVICT:
            g_want[ID_NEW] = want_after_put(S, kind, r, W_V1, W_ABSENT);
            break;
        case OP_PUT_BIG:
            g_want[ID_BIG] = want_after_put(S, kind, r, W_V1, W_ABSENT);
            break;
        case OP_OVERWRITE:
            g_want[2] = want_after_put(S, kind, r, W_V2, W_V1);
            break;
        default:
            break;
        }
    }
    /* Still usable: the objects are there and a put, get, remove work. */
    if (s != NULL && !closed) {
        if (op == OP_EVICT) {
            CHECK_R(get_id(s, 0, 1), KVS_OK);
            if (r == KVS_OK) {
                int have = 0;
                for (i = ID_FILL; i < ID_FILL + 2; i++)
                    have += get_id(s, i, 1) == KVS_OK;
                CHECK(have <= 1); /* one was evicted */
                CHECK_R(get_id(s, ID_NEW, 1), KVS_OK);
            }
        } else {
            CHECK_R(put_id(s, ID_PROBE, 1), KVS_OK);
            CHECK_R(get_id(s, ID_PROBE, 1), KVS_OK);
            CHECK_R(remove_id(s, ID_PROBE), KVS_OK);
            for (i = 0; i < NIDS; i++)
                if (g_want[i] == W_V1 || g_want[i] == W_V2)
                    CHECK_R(get_id(s, i, g_want[i] == W_V2 ? 2 : 1), KVS_OK);
        }
        if (op == OP_SYNC && r != KVS_OK)
            CHECK_R(kvs_store_sync(s), KVS_OK); /* a retry succeeds */
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    if (counted)
        CHECK(t_alloc_live(&g_a) == 0 && g_a.bad_free == 0);
    if (S == ST_FS) {
        /* No temporary file is left, except where the failed call was the
           removal of one, or the open failed before removing the orphan. */
        size_t t = count_temps(1);
        int excuse = fired && kind != K_ALLOC &&
                     (__atomic_load_n(&g_f.fired_call, __ATOMIC_RELAXED) == C_UNLINKAT ||
                      (op == OP_OPEN_SCAN && r != KVS_OK));
        if (fired && kind == K_ALLOC && op == OP_OPEN_SCAN && r != KVS_OK)
            excuse = 1;
        CHECK(t == 0 || excuse);
        if (t != 0 && !excuse && t_fail <= 40)
            fprintf(stderr, "  %zu temporary files left\n", t);
    }
    if (fired) {
        g_points[S][kind][op]++;
        if (kind != K_ALLOC)
            g_by_call[S][__atomic_load_n(&g_f.fired_call, __ATOMIC_RELAXED)]++;
    }
    verify(S, op, v);
    return fired;
}

static void walk(int S, int op, int kind, int v)
{
    uint64_t N;
    const uint64_t nmax = 400;
    for (N = 1; N < nmax; N++)
        if (!run_one(S, op, kind, N, v))
            break;
    snprintf(t_ctx, sizeof t_ctx, "%s %s %s variant %d", store_name[S], op_name[op], kind_name[kind], v);
    CHECK(N < nmax);
}

int main(void)
{
    int verbose = getenv("KVS_WALK_VERBOSE") != NULL;
    const char *only_s = getenv("KVS_WALK_STORE"), *only_op = getenv("KVS_WALK_OP");
    int S, op, kind, v, c;
    unsigned long tot_fault = 0, tot_alloc = 0;
    time_t t0 = time(NULL);

    (void)t_allocator(&g_a, -1);
    t_setup_dir("walk");
    snprintf(g_dev, sizeof g_dev, "%s/dev.raw", t_dir);
    snprintf(g_img, sizeof g_img, "%s/dev.img", t_dir);
    snprintf(g_fa, sizeof g_fa, "%s/fa", t_dir);
    snprintf(g_fb, sizeof g_fb, "%s/fb", t_dir);
    snprintf(g_paths, sizeof g_paths, "%s,%s", g_fa, g_fb);
    snprintf(g_paths_rev, sizeof g_paths_rev, "%s,%s", g_fb, g_fa);
    memset(&g_ops, 0, sizeof g_ops);
    g_ops.open = h_open;
    g_ops.setfl = h_setfl;
    g_ops.pread = h_pread;
    g_ops.pwrite = h_pwrite;
    g_ops.fsync = h_fsync;
    g_ops.fdatasync = h_fdatasync;
    g_ops.rename = h_rename;
    g_ops.openat = h_openat;
    g_ops.renameat = h_renameat;
    g_ops.unlinkat = h_unlinkat;
    g_ops.fallocate = h_fallocate;
    g_ops.close = h_close;
    g_ops.fstat = h_fstat;
    g_ops.fstatat = h_fstatat;
    g_ops.ftruncate = h_ftruncate;
    g_ops.mkdir = h_mkdir;
    g_ops.getfl = h_getfl;
    g_ops.fadvise = h_fadvise;
    g_ops.readdir = h_readdir;
    g_ops.lock = h_lock;
    if (posix_memalign((void **)&g_wbuf, 4096, BUFCAP) != 0 || posix_memalign((void **)&g_rbuf, 4096, BUFCAP) != 0 ||
        posix_memalign((void **)&g_want_buf, 4096, BUFCAP) != 0)
        return 1;
    for (c = 0; c < NBASE; c++)
        if (posix_memalign((void **)&g_items_buf[c], 4096, BUFCAP) != 0)
            return 1;

    for (S = 0; S < ST_N; S++)
        for (op = 0; op < OP_N; op++)
            for (kind = 0; kind < K_NKINDS; kind++)
                for (v = 0; v < 2; v++) {
                    if ((only_s != NULL && strcmp(only_s, store_name[S]) != 0) ||
                        (only_op != NULL && strcmp(only_op, op_name[op]) != 0))
                        continue;
                    /* under sanitizers: the direct/durable variant only for EIO */
                    if (T_SAN && v == 1 && kind != K_EIO)
                        continue;
                    walk(S, op, kind, v);
                }

    for (S = 0; S < ST_N; S++) {
        unsigned long f = 0, a = 0, per_op[OP_N];
        char line[2048];
        size_t len = 0;
        line[0] = '\0';
        for (op = 0; op < OP_N; op++) {
            per_op[op] = 0;
            for (kind = 0; kind < K_ALLOC; kind++)
                per_op[op] += g_points[S][kind][op];
            f += per_op[op];
            a += g_points[S][K_ALLOC][op];
        }
        for (op = 0; op < OP_N; op++)
            len += (size_t)snprintf(line + len, sizeof line - len, "%s%s %lu", op ? ", " : "", op_name[op],
                                    per_op[op]);
        printf("%s store: fault points walked: %lu (%s)\n", store_name[S], f, line);
        len = 0;
        for (kind = 0; kind < K_ALLOC; kind++) {
            unsigned long k = 0;
            for (op = 0; op < OP_N; op++)
                k += g_points[S][kind][op];
            len += (size_t)snprintf(line + len, sizeof line - len, "%s%s %lu", kind ? ", " : "", kind_name[kind], k);
        }
        printf("%s store:   by fault kind: %s\n", store_name[S], line);
        len = 0;
        line[0] = '\0';
        for (c = 0; c < C_NCALLS; c++)
            if (g_by_call[S][c])
                len += (size_t)snprintf(line + len, sizeof line - len, "%s%s %lu", len ? ", " : "", call_name[c],
                                        g_by_call[S][c]);
        printf("%s store:   by call: %s\n", store_name[S], line);
        len = 0;
        for (op = 0; op < OP_N; op++)
            len += (size_t)snprintf(line + len, sizeof line - len, "%s%s %lu", op ? ", " : "", op_name[op],
                                    g_points[S][K_ALLOC][op]);
        printf("%s store: allocation points walked: %lu (%s)\n", store_name[S], a, line);
        tot_fault += f;
        tot_alloc += a;
        if (verbose)
            for (op = 0; op < OP_N; op++)
                for (c = 0; c <= C_NCALLS; c++)
                    if (g_absorbed[S][op][c])
                        printf("  absorbed: %s %s %s x%lu\n", store_name[S], op_name[op],
                               c == C_NCALLS ? "allocation" : call_name[c], g_absorbed[S][op][c]);
    }
    printf("fault points walked: %lu, allocation points walked: %lu, failures injected: %lu "
           "(operations that failed: %lu, runs: %lu, %ld s%s)\n",
           tot_fault, tot_alloc, tot_fault + tot_alloc, g_failed_ops, g_runs, (long)(time(NULL) - t0),
           T_SAN ? ", sanitizer scale" : "");
    t_rm_rf(t_dir);
    free(g_wbuf);
    free(g_rbuf);
    free(g_want_buf);
    for (c = 0; c < NBASE; c++)
        free(g_items_buf[c]);
    return t_done("test_store_faults_walk");
}
