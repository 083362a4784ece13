/* SPDX-License-Identifier: MIT OR Unlicense */
/*
    kvstore_posix.c -- the optional POSIX backend of kvstore.h: files and
    block devices, O_DIRECT with tail-only bounce, alignment discovery,
    full-transfer loops, directory durability, and a thread pool with a
    pollable completion fd. Guide: docs/POSIX.md.

    HOW TO BUILD IT
    ===============
    Either as its own translation unit (cc -c kvstore_posix.c) linked with
    the one file of your program that defines KVS_IMPLEMENTATION, or
    included into one C file. When included, it must come FIRST, before
    kvstore.h and before any system header, because it sets _GNU_SOURCE
    (needed for O_DIRECT and the statx system call) and glibc reads feature
    macros only at the first system header:

        #define KVS_IMPLEMENTATION      (optional: also compile the core here)
        #include "kvstore_posix.c"
        #include <stdio.h>              (anything else after)

    Compiling with -D_GNU_SOURCE lifts the ordering rule. A wrong order is a
    compile-time #error on glibc, never a silently buffered build.

    Configuration macros (0 or 1):
        KVS_POSIX_USE_EVENTFD  completion fd is an eventfd (default 1 on
                               Linux) or a pipe (0; default elsewhere)
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#if defined(__GLIBC__) && !defined(__USE_GNU)
#error "kvstore_posix.c: a system header was included before it without _GNU_SOURCE; include kvstore_posix.c first or compile with -D_GNU_SOURCE"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/fs.h>
#include <sys/syscall.h>
#endif

#ifndef KVS_POSIX_USE_EVENTFD
#if defined(__linux__)
#define KVS_POSIX_USE_EVENTFD 1
#else
#define KVS_POSIX_USE_EVENTFD 0
#endif
#endif
#if KVS_POSIX_USE_EVENTFD
#include <sys/eventfd.h>
#endif

#include "kvstore.h"

#ifndef KVS_ASSERT
#include <assert.h>
#define KVS_ASSERT(c) assert(c)
#endif

#if defined(__linux__) && defined(SYS_statx)
#define KVSI_HAVE_STATX 1
#else
#define KVSI_HAVE_STATX 0
#endif
#if defined(__linux__) && defined(BLKGETSIZE64) && defined(BLKSSZGET)
#define KVSI_HAVE_BLKIOCTL 1
#else
#define KVSI_HAVE_BLKIOCTL 0
#endif
#if defined(__APPLE__)
#define KVSI_HAVE_FDATASYNC 0
#define KVSI_HAVE_FALLOCATE 0
#else
#define KVSI_HAVE_FDATASYNC 1
#define KVSI_HAVE_FALLOCATE 1
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
   errno mapping: the only place errno values become results
   ------------------------------------------------------------------------ */
KVSDEF kvs_result kvs_result_from_errno(int e)
{
    switch (e) {
    case 0: return KVS_OK;
    case EIO: return KVS_E_IO;
    case ENOSPC: return KVS_E_NOSPC;
#ifdef EDQUOT
    case EDQUOT: return KVS_E_NOSPC;
#endif
    case EFBIG: return KVS_E_NOSPC;
    case EACCES: return KVS_E_PERM;
    case EPERM: return KVS_E_PERM;
    case EROFS: return KVS_E_PERM;
    case EBADF: return KVS_E_PERM;
    case ENOENT: return KVS_E_NOENT;
    case ENOTDIR: return KVS_E_NOENT;
    case EEXIST: return KVS_E_EXIST;
    case ENOMEM: return KVS_E_NOMEM;
    case EINVAL: return KVS_E_INVAL;
    case EISDIR: return KVS_E_INVAL;
    case EBUSY: return KVS_E_BUSY;
    case ETXTBSY: return KVS_E_BUSY;
    case EAGAIN: return KVS_E_AGAIN;
#if defined(EWOULDBLOCK) && EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK: return KVS_E_AGAIN;
#endif
    case ENAMETOOLONG: return KVS_E_PATH;
    case ELOOP: return KVS_E_PATH;
    case EMFILE: return KVS_E_LIMIT;
    case ENFILE: return KVS_E_LIMIT;
    case EOVERFLOW: return KVS_E_OVERFLOW;
    case ENOSYS: return KVS_E_NOTSUP;
    case EXDEV: return KVS_E_NOTSUP;
#ifdef EOPNOTSUPP
    case EOPNOTSUPP: return KVS_E_NOTSUP;
#endif
#if defined(ENOTSUP) && defined(EOPNOTSUPP) && ENOTSUP != EOPNOTSUPP
    case ENOTSUP: return KVS_E_NOTSUP;
#endif
#ifdef ECANCELED
    case ECANCELED: return KVS_E_CANCELED;
#endif
    default: return KVS_E_IO;
    }
}

/* ------------------------------------------------------------------------
   System calls, through the optional hook table
   ------------------------------------------------------------------------ */
static int kvsi_sys_open(const kvs_sysops *o, const char *path, int flags, unsigned mode)
{
    int fd;
    if (o != NULL && o->open != NULL)
        return o->open(o->user, path, flags, mode);
    do {
        fd = open(path, flags, (mode_t)mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int kvsi_sys_setfl(const kvs_sysops *o, int fd, int flags)
{
    if (o != NULL && o->setfl != NULL)
        return o->setfl(o->user, fd, flags);
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

static int64_t kvsi_sys_pread(const kvs_sysops *o, int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    if (o != NULL && o->pread != NULL)
        return o->pread(o->user, fd, buf, len, off);
    if (off > (uint64_t)INT64_MAX)
        return -EOVERFLOW;
    n = pread(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

static int64_t kvsi_sys_pwrite(const kvs_sysops *o, int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    if (o != NULL && o->pwrite != NULL)
        return o->pwrite(o->user, fd, buf, len, off);
    if (off > (uint64_t)INT64_MAX)
        return -EOVERFLOW;
    n = pwrite(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

/* fsync-like calls retry EINTR here so hooks and real calls behave alike. */
static int kvsi_sys_fsync(const kvs_sysops *o, int fd)
{
    int r;
    do {
        if (o != NULL && o->fsync != NULL)
            r = o->fsync(o->user, fd);
        else
            r = fsync(fd) < 0 ? -errno : 0;
    } while (r == -EINTR);
    return r;
}

static int kvsi_sys_fdatasync(const kvs_sysops *o, int fd)
{
    int r;
    do {
        if (o != NULL && o->fdatasync != NULL)
            r = o->fdatasync(o->user, fd);
        else
#if KVSI_HAVE_FDATASYNC
            r = fdatasync(fd) < 0 ? -errno : 0;
#else
            r = fsync(fd) < 0 ? -errno : 0;
#endif
    } while (r == -EINTR);
    return r;
}

static int kvsi_sys_rename(const kvs_sysops *o, const char *from, const char *to)
{
    if (o != NULL && o->rename != NULL)
        return o->rename(o->user, from, to);
    return rename(from, to) < 0 ? -errno : 0;
}

static void kvsi_close_fd(int fd)
{
    /* close() is never retried on EINTR: on Linux the fd is gone either way. */
    (void)close(fd);
}

/* ------------------------------------------------------------------------
   Files
   ------------------------------------------------------------------------ */
#define KVSI_DEFAULT_BOUNCE ((size_t)1 << 20)
#define KVSI_STALL_MAX 8

struct kvs_file {
    int fd;
    int direct;
    int fell_back;
    int is_blockdev;
    int read_only;
    kvs_direct_policy policy;
    kvs_align_source align_source;
    size_t mem_align, offset_align;
    size_t align;      /* offset and length unit in direct mode  */
    size_t buf_align;  /* buffer alignment in direct mode        */
    size_t unit;       /* max(align, buf_align)                  */
    size_t tail_pad;   /* write tails pad to this when aligned to it */
    size_t bounce;     /* bounce piece, a multiple of unit       */
    kvs_allocator alloc;
    int has_alloc;
    kvs_sysops ops;
    int has_ops;
    kvs_file_stats st; /* updated with __atomic builtins         */
};

static const kvs_allocator *kvsi_file_alloc(const kvs_file *f)
{
    return f->has_alloc ? &f->alloc : NULL;
}

static const kvs_sysops *kvsi_file_ops(const kvs_file *f)
{
    return f->has_ops ? &f->ops : NULL;
}

static void kvsi_add(uint64_t *counter, uint64_t v)
{
    (void)__atomic_fetch_add(counter, v, __ATOMIC_RELAXED);
}

static uint64_t kvsi_load(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static size_t kvsi_max_sz(size_t a, size_t b) { return a > b ? a : b; }
static size_t kvsi_min_sz(size_t a, size_t b) { return a < b ? a : b; }

KVSDEF void kvs_file_config_init(kvs_file_config *cfg)
{
    KVS_ASSERT(cfg != NULL);
    memset(cfg, 0, sizeof *cfg);
}

/* Direct-I/O alignment of an open file: statx STATX_DIOALIGN, else the
   block device's logical sector size, else st_blksize. *dio_refused = 1 when
   statx says the file supports no direct I/O at all. */
static void kvsi_discover_align(int fd, const struct stat *sb, int is_blk, kvs_file *f, int *dio_refused)
{
    *dio_refused = 0;
    f->align_source = KVS_ALIGN_SRC_NONE;
    f->mem_align = 0;
    f->offset_align = 0;
#if KVSI_HAVE_STATX
    {
        /* The kernel's struct statx is 256 bytes; the fields used here sit at
           fixed offsets (stx_mask 0, stx_dio_mem_align 152,
           stx_dio_offset_align 156). A private buffer keeps this working with
           C libraries whose headers predate STATX_DIOALIGN. */
        uint64_t raw[32];
        uint32_t mask, mem, offa;
        memset(raw, 0, sizeof raw);
        if (syscall(SYS_statx, fd, "", 0x1000 /* AT_EMPTY_PATH */, 0x2000u /* STATX_DIOALIGN */,
                    (void *)raw) == 0) {
            memcpy(&mask, (unsigned char *)raw + 0, 4);
            memcpy(&mem, (unsigned char *)raw + 152, 4);
            memcpy(&offa, (unsigned char *)raw + 156, 4);
            if ((mask & 0x2000u) != 0) {
                if (offa == 0 || mem == 0) {
                    *dio_refused = 1;
                } else if (kvs_is_pow2(mem) && kvs_is_pow2(offa)) {
                    f->mem_align = mem;
                    f->offset_align = offa;
                    f->align_source = KVS_ALIGN_SRC_STATX;
                    return;
                }
            }
        }
    }
#endif
#if KVSI_HAVE_BLKIOCTL
    if (is_blk) {
        int ssz = 0;
        if (ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz > 0 && kvs_is_pow2((uint64_t)ssz)) {
            f->mem_align = (size_t)ssz;
            f->offset_align = (size_t)ssz;
            f->align_source = KVS_ALIGN_SRC_BLKSSZ;
            return;
        }
    }
#else
    (void)fd;
    (void)is_blk;
#endif
    {
        size_t b = sb->st_blksize > 0 ? (size_t)sb->st_blksize : 4096;
        if (!kvs_is_pow2(b))
            b = 4096;
        f->mem_align = b;
        f->offset_align = b;
        f->align_source = KVS_ALIGN_SRC_BLKSIZE;
    }
}

static kvs_result kvsi_blockdev_size(int fd, uint64_t *out)
{
#if KVSI_HAVE_BLKIOCTL
    uint64_t sz = 0;
    if (ioctl(fd, BLKGETSIZE64, &sz) != 0)
        return kvs_result_from_errno(errno);
    *out = sz;
    return KVS_OK;
#else
    (void)fd;
    *out = 0;
    return KVS_E_NOTSUP;
#endif
}

KVSDEF kvs_result kvs_file_open(const char *path, const kvs_file_config *cfg_in, kvs_file **out)
{
    kvs_file_config cfg;
    kvs_file *f = NULL;
    void *mem = NULL;
    int fd = -1, oflags, is_blk, dio_refused, created_excl, r;
    struct stat sb;
    kvs_result res;
    const kvs_sysops *ops;
    const uint32_t known = KVS_FILE_RDONLY | KVS_FILE_CREATE | KVS_FILE_EXCL | KVS_FILE_TRUNC |
                           KVS_FILE_PREALLOC;

    KVS_ASSERT(out != NULL);
    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return KVS_E_INVAL;
    if (cfg_in != NULL)
        cfg = *cfg_in;
    else
        kvs_file_config_init(&cfg);
    if (cfg.direct != KVS_DIRECT_PREFER && cfg.direct != KVS_DIRECT_OFF &&
        cfg.direct != KVS_DIRECT_REQUIRE)
        return KVS_E_INVAL;
    if ((cfg.flags & ~known) != 0)
        return KVS_E_INVAL;
    if ((cfg.flags & KVS_FILE_EXCL) && !(cfg.flags & KVS_FILE_CREATE))
        return KVS_E_INVAL;
    if ((cfg.flags & KVS_FILE_RDONLY) &&
        ((cfg.flags & (KVS_FILE_CREATE | KVS_FILE_TRUNC | KVS_FILE_PREALLOC)) || cfg.size != 0))
        return KVS_E_INVAL;
    if (cfg.mode > 07777u)
        return KVS_E_INVAL;
    if (cfg.align != 0 && (!kvs_is_pow2(cfg.align) || cfg.align > KVS_ALIGN_MAX))
        return KVS_E_ALIGN;
    if (cfg.size > (uint64_t)INT64_MAX)
        return KVS_E_OVERFLOW;

    res = kvs_aligned_alloc(cfg.alloc, sizeof(kvs_file), sizeof(void *) * 2, &mem);
    if (res != KVS_OK)
        return res;
    f = (kvs_file *)mem;
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (cfg.alloc != NULL && cfg.alloc->alloc != NULL && cfg.alloc->free != NULL) {
        f->alloc = *cfg.alloc;
        f->has_alloc = 1;
    }
    if (cfg.sysops != NULL) {
        f->ops = *cfg.sysops;
        f->has_ops = 1;
    }
    ops = kvsi_file_ops(f);
    f->policy = cfg.direct;
    f->read_only = (cfg.flags & KVS_FILE_RDONLY) ? 1 : 0;

    oflags = O_CLOEXEC | (f->read_only ? O_RDONLY : O_RDWR);
    if (cfg.flags & KVS_FILE_CREATE)
        oflags |= O_CREAT;
    if (cfg.flags & KVS_FILE_EXCL)
        oflags |= O_EXCL;
    if (cfg.flags & KVS_FILE_TRUNC)
        oflags |= O_TRUNC;
    created_excl = (cfg.flags & KVS_FILE_EXCL) ? 1 : 0;

    /* Open buffered first (creation, truncation and sizing never depend on
       O_DIRECT), then switch O_DIRECT on with F_SETFL: a filesystem that
       refuses it answers EINVAL there, and nothing has to be re-opened. */
    fd = kvsi_sys_open(ops, path, oflags, cfg.mode ? cfg.mode : 0644u);
    if (fd < 0) {
        res = kvs_result_from_errno(-fd);
        fd = -1;
        created_excl = 0;
        goto fail;
    }
    f->fd = fd;
    if (fstat(fd, &sb) != 0) {
        res = kvs_result_from_errno(errno);
        goto fail;
    }
    is_blk = S_ISBLK(sb.st_mode) ? 1 : 0;
    if (!is_blk && !S_ISREG(sb.st_mode)) {
        res = KVS_E_NOTSUP;
        goto fail;
    }
    f->is_blockdev = is_blk;

    if (cfg.size != 0) {
        if (is_blk) {
            uint64_t dev = 0;
            res = kvsi_blockdev_size(fd, &dev);
            if (res != KVS_OK)
                goto fail;
            if (cfg.size > dev) {
                res = KVS_E_NOSPC;
                goto fail;
            }
        } else if ((uint64_t)sb.st_size < cfg.size) {
            if (cfg.flags & KVS_FILE_PREALLOC) {
#if KVSI_HAVE_FALLOCATE
                do {
                    r = posix_fallocate(fd, 0, (off_t)cfg.size);
                } while (r == EINTR);
#else
                r = ENOTSUP;
#endif
            } else {
                r = ftruncate(fd, (off_t)cfg.size) == 0 ? 0 : errno;
            }
            if (r != 0) {
                res = kvs_result_from_errno(r);
                goto fail;
            }
        }
    }

    kvsi_discover_align(fd, &sb, is_blk, f, &dio_refused);
    f->align = kvsi_max_sz(f->offset_align, cfg.align);
    f->buf_align = kvsi_max_sz(f->mem_align, cfg.align);
    f->unit = kvsi_max_sz(f->align, f->buf_align);
    /* A tail padded only to the O_DIRECT unit (512 here) can land in a
       partly written filesystem block, which the filesystem must zero
       around (ext4: a fresh file's tail writes ran 35% slower). Padding to
       the filesystem block avoids that for a few KiB of zeros. */
    f->tail_pad = f->align;
    if (!is_blk && sb.st_blksize > 0 && kvs_is_pow2((uint64_t)sb.st_blksize) &&
        (size_t)sb.st_blksize <= ((size_t)64 << 10) && (size_t)sb.st_blksize > f->tail_pad)
        f->tail_pad = (size_t)sb.st_blksize;
    f->bounce = cfg.bounce_bytes ? cfg.bounce_bytes : KVSI_DEFAULT_BOUNCE;
    f->bounce -= f->bounce % f->unit;
    if (f->bounce == 0)
        f->bounce = f->unit;

    if (cfg.direct != KVS_DIRECT_OFF) {
        int refused = dio_refused;
#ifdef O_DIRECT
        if (!refused) {
            int cur = fcntl(fd, F_GETFL);
            if (cur < 0) {
                res = kvs_result_from_errno(errno);
                goto fail;
            }
            r = kvsi_sys_setfl(ops, fd, cur | O_DIRECT);
            if (r == -EINVAL || r == -EOPNOTSUPP || r == -ENOTSUP)
                refused = 1;
            else if (r < 0) {
                res = kvs_result_from_errno(-r);
                goto fail;
            }
        }
#else
        refused = 1;
#endif
        if (refused) {
            if (cfg.direct == KVS_DIRECT_REQUIRE) {
                res = KVS_E_NODIRECT;
                goto fail;
            }
            f->fell_back = 1;
            f->st.direct_fallbacks = 1;
        } else {
            f->direct = 1;
        }
    }
    *out = f;
    return KVS_OK;

fail:
    if (fd >= 0)
        kvsi_close_fd(fd);
    if (created_excl)
        (void)unlink(path); /* we created it; leave no half-configured file */
    kvs_aligned_free(cfg.alloc, mem, sizeof(kvs_file), sizeof(void *) * 2);
    return res;
}

KVSDEF kvs_result kvs_file_close(kvs_file *f)
{
    kvs_result res = KVS_OK;
    kvs_allocator a;
    int has;
    if (f == NULL)
        return KVS_OK;
    if (f->fd >= 0 && close(f->fd) != 0 && errno != EINTR)
        res = kvs_result_from_errno(errno);
    a = f->alloc;
    has = f->has_alloc;
    kvs_aligned_free(has ? &a : NULL, f, sizeof(kvs_file), sizeof(void *) * 2);
    return res;
}

KVSDEF int kvs_file_fd(const kvs_file *f)
{
    KVS_ASSERT(f != NULL);
    return f->fd;
}

KVSDEF void kvs_file_get_info(const kvs_file *f, kvs_file_info *out)
{
    KVS_ASSERT(f != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    out->policy = f->policy;
    out->direct = f->direct;
    out->fell_back = f->fell_back;
    out->is_blockdev = f->is_blockdev;
    out->read_only = f->read_only;
    out->align_source = f->align_source;
    out->mem_align = f->mem_align;
    out->offset_align = f->offset_align;
    out->align = f->align;
    out->buf_align = f->buf_align;
    out->tail_pad = f->tail_pad;
    out->bounce_bytes = f->bounce;
}

KVSDEF void kvs_file_get_stats(const kvs_file *f, kvs_file_stats *out)
{
    KVS_ASSERT(f != NULL && out != NULL);
    out->reads = kvsi_load(&f->st.reads);
    out->writes = kvsi_load(&f->st.writes);
    out->bytes_read = kvsi_load(&f->st.bytes_read);
    out->bytes_written = kvsi_load(&f->st.bytes_written);
    out->bounce_bytes = kvsi_load(&f->st.bounce_bytes);
    out->bounce_calls = kvsi_load(&f->st.bounce_calls);
    out->pad_bytes = kvsi_load(&f->st.pad_bytes);
    out->syscalls = kvsi_load(&f->st.syscalls);
    out->short_transfers = kvsi_load(&f->st.short_transfers);
    out->eintr_retries = kvsi_load(&f->st.eintr_retries);
    out->errors = kvsi_load(&f->st.errors);
    out->direct_fallbacks = kvsi_load(&f->st.direct_fallbacks);
}

KVSDEF kvs_result kvs_file_size(kvs_file *f, uint64_t *out)
{
    struct stat sb;
    KVS_ASSERT(f != NULL && out != NULL);
    *out = 0;
    if (f->is_blockdev)
        return kvsi_blockdev_size(f->fd, out);
    if (fstat(f->fd, &sb) != 0)
        return kvs_result_from_errno(errno);
    *out = (uint64_t)sb.st_size;
    return KVS_OK;
}

/* The I/O plan of a direct write or read at an aligned offset: the header's
   plan over info.align, with the tail block widened to tail_pad when it
   starts on a multiple of tail_pad. */
static kvs_result kvsi_plan(const kvs_file *f, uint64_t off, size_t len, kvs_io_plan *plan)
{
    kvs_result r = kvs_io_plan_make(off, (uint64_t)len, (uint64_t)f->align, plan);
    if (r != KVS_OK)
        return r;
    if (plan->tail > 0 && f->tail_pad > f->align && kvs_is_aligned(off + plan->direct, f->tail_pad)) {
        if (off + plan->direct > UINT64_MAX - f->tail_pad)
            return KVS_E_OVERFLOW;
        plan->bounce = f->tail_pad;
        plan->padded = plan->direct + plan->bounce;
    }
    return KVS_OK;
}

KVSDEF kvs_result kvs_file_written_len(const kvs_file *f, uint64_t offset, size_t len, uint64_t *out)
{
    kvs_io_plan plan;
    kvs_result r;
    KVS_ASSERT(f != NULL && out != NULL);
    *out = 0;
    if (!f->direct) {
        if ((uint64_t)len > UINT64_MAX - offset)
            return KVS_E_OVERFLOW;
        *out = (uint64_t)len;
        return KVS_OK;
    }
    r = kvsi_plan(f, offset, len, &plan);
    if (r != KVS_OK)
        return r;
    *out = plan.padded;
    return KVS_OK;
}

/* The full-transfer loop. Moves len bytes at off; a read is satisfied once
   `need` (<= len) bytes arrived and may stop early at end of file after
   that. Short transfers continue, EINTR retries. In direct mode a short
   transfer that ends off the alignment unit resumes from the unit boundary
   below it (the few bytes are moved again: same data, so harmless), since
   O_DIRECT cannot start there. KVSI_STALL_MAX rounds without progress end
   the loop (KVS_E_EOF for reads, KVS_E_IO for writes). */
static kvs_result kvsi_xfer(kvs_file *f, int wr, uint64_t off, unsigned char *buf, size_t len,
                            size_t need, size_t *got)
{
    const kvs_sysops *ops = kvsi_file_ops(f);
    size_t done = 0, hw = 0, unit = f->direct ? f->unit : 1;
    unsigned stall = 0;
    *got = 0;
    while (hw < len) {
        size_t ask = len - done;
        int64_t n;
        kvsi_add(&f->st.syscalls, 1);
        if (wr)
            n = kvsi_sys_pwrite(ops, f->fd, buf + done, ask, off + done);
        else
            n = kvsi_sys_pread(ops, f->fd, buf + done, ask, off + done);
        if (n < 0) {
            if (n == -EINTR) {
                kvsi_add(&f->st.eintr_retries, 1);
                continue;
            }
            kvsi_add(&f->st.errors, 1);
            return kvs_result_from_errno((int)-n);
        }
        if ((uint64_t)n > (uint64_t)ask) { /* a hook that lies */
            kvsi_add(&f->st.errors, 1);
            return KVS_E_IO;
        }
        if ((size_t)n < ask)
            kvsi_add(&f->st.short_transfers, 1);
        if (n == 0 && !wr) {
            if (hw >= need)
                break;
            kvsi_add(&f->st.errors, 1);
            return KVS_E_EOF;
        }
        if (done + (size_t)n > hw) {
            hw = done + (size_t)n;
            stall = 0;
        } else if (++stall > KVSI_STALL_MAX) {
            if (!wr && hw >= need)
                break;
            kvsi_add(&f->st.errors, 1);
            return wr ? KVS_E_IO : KVS_E_EOF;
        }
        if (!wr && (size_t)n < ask && hw >= need)
            break; /* end of file inside the padding: we have what we need */
        done = hw - hw % unit;
    }
    *got = hw;
    return KVS_OK;
}

/* Bounce block: the caller's scratch when it is large and aligned enough,
   else one from the file's allocator. */
typedef struct kvsi_bounce {
    unsigned char *p;
    size_t size;
    int owned;
} kvsi_bounce;

static kvs_result kvsi_bounce_get(kvs_file *f, size_t want, unsigned char *scratch, size_t scratch_len,
                                  kvsi_bounce *b)
{
    void *mem = NULL;
    kvs_result r;
    b->p = NULL;
    b->size = 0;
    b->owned = 0;
    if (scratch != NULL && kvs_ptr_is_aligned(scratch, f->unit) && scratch_len >= f->unit) {
        b->p = scratch;
        b->size = kvsi_min_sz(want, scratch_len - scratch_len % f->unit);
        return KVS_OK;
    }
    r = kvs_aligned_alloc(kvsi_file_alloc(f), want, f->unit, &mem);
    if (r != KVS_OK)
        return r;
    b->p = (unsigned char *)mem;
    b->size = want;
    b->owned = 1;
    return KVS_OK;
}

static void kvsi_bounce_put(kvs_file *f, kvsi_bounce *b)
{
    if (b->owned)
        kvs_aligned_free(kvsi_file_alloc(f), b->p, b->size, f->unit);
    b->p = NULL;
}

static uint64_t kvsi_ru(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
static uint64_t kvsi_rd(uint64_t v, uint64_t a) { return v & ~(a - 1); }

/* One read or write of a file: the engine behind kvs_file_read/write and the
   pool's tasks. scratch (may be NULL) is a bounce area to use instead of
   allocating. */
static kvs_result kvsi_file_rw(kvs_file *f, int wr, uint64_t off, unsigned char *buf, size_t len,
                               unsigned char *scratch, size_t scratch_len)
{
    kvs_result r = KVS_OK;
    size_t got;
    if (len == 0)
        return KVS_OK;
    if (buf == NULL)
        return KVS_E_INVAL;
    if (wr && f->read_only)
        return KVS_E_PERM;
    if ((uint64_t)len > UINT64_MAX - off || off + (uint64_t)len > (uint64_t)INT64_MAX)
        return KVS_E_OVERFLOW;
    kvsi_add(wr ? &f->st.writes : &f->st.reads, 1);

    if (!f->direct) {
        r = kvsi_xfer(f, wr, off, buf, len, len, &got);
    } else if (wr && !kvs_is_aligned(off, f->align)) {
        r = KVS_E_ALIGN; /* documented: no read-modify-write of edge blocks */
    } else if (kvs_is_aligned(off, f->align) && kvs_ptr_is_aligned(buf, f->buf_align)) {
        /* The fast path: aligned prefix straight from/to the caller. */
        kvs_io_plan plan;
        r = wr ? kvsi_plan(f, off, len, &plan)
               : kvs_io_plan_make(off, (uint64_t)len, (uint64_t)f->align, &plan);
        if (r == KVS_OK && plan.direct > 0)
            r = kvsi_xfer(f, wr, off, buf, (size_t)plan.direct, (size_t)plan.direct, &got);
        if (r == KVS_OK && plan.tail > 0) {
            kvsi_bounce b;
            r = kvsi_bounce_get(f, (size_t)plan.bounce, scratch, scratch_len, &b);
            if (r == KVS_OK) {
                unsigned char *src = buf + plan.direct;
                if (wr) {
                    memcpy(b.p, src, (size_t)plan.tail);
                    memset(b.p + plan.tail, 0, (size_t)(plan.bounce - plan.tail));
                    r = kvsi_xfer(f, 1, off + plan.direct, b.p, (size_t)plan.bounce,
                                  (size_t)plan.bounce, &got);
                    if (r == KVS_OK)
                        kvsi_add(&f->st.pad_bytes, plan.bounce - plan.tail);
                } else {
                    r = kvsi_xfer(f, 0, off + plan.direct, b.p, (size_t)plan.bounce,
                                  (size_t)plan.tail, &got);
                    if (r == KVS_OK)
                        memcpy(src, b.p, (size_t)plan.tail);
                }
                kvsi_bounce_put(f, &b);
                kvsi_add(&f->st.bounce_bytes, plan.tail);
                kvsi_add(&f->st.bounce_calls, 1);
            }
        }
    } else {
        /* Misaligned buffer (or a read at a misaligned offset): everything
           through a bounce area, in pieces of at most f->bounce bytes over
           the aligned range that covers [off, off + len). */
        uint64_t a = (uint64_t)f->align;
        uint64_t start = kvsi_rd(off, a), end = kvsi_ru(off + (uint64_t)len, a);
        uint64_t pos = start;
        kvsi_bounce b;
        if (wr) { /* same on-disk length as the fast path */
            kvs_io_plan plan;
            r = kvsi_plan(f, off, len, &plan);
            if (r != KVS_OK)
                return r;
            end = off + plan.padded;
        }
        size_t want = (size_t)kvsi_min_sz(f->bounce, (size_t)(end - start));
        want = (size_t)kvsi_ru((uint64_t)want, (uint64_t)f->unit);
        r = kvsi_bounce_get(f, want, scratch, scratch_len, &b);
        if (r == KVS_OK) {
            while (pos < end && r == KVS_OK) {
                size_t clen = (size_t)((end - pos) < (uint64_t)b.size ? (end - pos) : (uint64_t)b.size);
                uint64_t lo = pos > off ? pos : off;
                uint64_t hi = pos + clen < off + len ? pos + clen : off + len;
                if (wr) {
                    /* off is aligned here, so lo == pos */
                    size_t data = (size_t)(hi - lo);
                    memcpy(b.p, buf + (lo - off), data);
                    if (data < clen)
                        memset(b.p + data, 0, clen - data);
                    r = kvsi_xfer(f, 1, pos, b.p, clen, clen, &got);
                    if (r == KVS_OK)
                        kvsi_add(&f->st.pad_bytes, clen - data);
                } else {
                    r = kvsi_xfer(f, 0, pos, b.p, clen, (size_t)(hi - pos), &got);
                    if (r == KVS_OK)
                        memcpy(buf + (lo - off), b.p + (lo - pos), (size_t)(hi - lo));
                }
                pos += clen;
            }
            kvsi_bounce_put(f, &b);
            kvsi_add(&f->st.bounce_bytes, (uint64_t)len);
            kvsi_add(&f->st.bounce_calls, 1);
        }
    }
    if (r == KVS_OK)
        kvsi_add(wr ? &f->st.bytes_written : &f->st.bytes_read, (uint64_t)len);
    return r;
}

KVSDEF kvs_result kvs_file_read(kvs_file *f, uint64_t offset, void *buf, size_t len)
{
    KVS_ASSERT(f != NULL);
    return kvsi_file_rw(f, 0, offset, (unsigned char *)buf, len, NULL, 0);
}

KVSDEF kvs_result kvs_file_write(kvs_file *f, uint64_t offset, const void *buf, size_t len)
{
    KVS_ASSERT(f != NULL);
    /* The write path only reads from buf; the cast serves the shared engine. */
    return kvsi_file_rw(f, 1, offset, (unsigned char *)(uintptr_t)buf, len, NULL, 0);
}

KVSDEF kvs_result kvs_file_sync(kvs_file *f)
{
    int r;
    KVS_ASSERT(f != NULL);
    r = kvsi_sys_fsync(kvsi_file_ops(f), f->fd);
    return r < 0 ? kvs_result_from_errno(-r) : KVS_OK;
}

KVSDEF kvs_result kvs_file_datasync(kvs_file *f)
{
    int r;
    KVS_ASSERT(f != NULL);
    r = kvsi_sys_fdatasync(kvsi_file_ops(f), f->fd);
    return r < 0 ? kvs_result_from_errno(-r) : KVS_OK;
}

/* ------------------------------------------------------------------------
   Directories
   ------------------------------------------------------------------------ */
KVSDEF kvs_result kvs_dirfd_sync(int dirfd, const kvs_sysops *ops)
{
    int r = kvsi_sys_fsync(ops, dirfd);
    return r < 0 ? kvs_result_from_errno(-r) : KVS_OK;
}

KVSDEF kvs_result kvs_dir_sync(const char *path, const kvs_sysops *ops)
{
    int fd;
    kvs_result res;
    if (path == NULL || path[0] == '\0')
        return KVS_E_INVAL;
    fd = kvsi_sys_open(ops, path, O_RDONLY | O_CLOEXEC | O_DIRECTORY, 0);
    if (fd < 0)
        return kvs_result_from_errno(-fd);
    res = kvs_dirfd_sync(fd, ops);
    kvsi_close_fd(fd);
    return res;
}

/* Directory part of path into out ("." when there is none). */
static kvs_result kvsi_parent(const char *path, char *out, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    while (n > 0 && path[n - 1] != '/')
        n--;
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (n == 0) {
        if (cap < 2)
            return KVS_E_PATH;
        out[0] = '.';
        out[1] = '\0';
        return KVS_OK;
    }
    if (n >= cap)
        return KVS_E_PATH;
    memcpy(out, path, n);
    out[n] = '\0';
    return KVS_OK;
}

KVSDEF kvs_result kvs_rename_sync(const char *from, const char *to, const kvs_sysops *ops)
{
    char dto[4096], dfrom[4096];
    kvs_result res;
    int r;
    if (from == NULL || to == NULL || from[0] == '\0' || to[0] == '\0')
        return KVS_E_INVAL;
    if ((res = kvsi_parent(to, dto, sizeof dto)) != KVS_OK)
        return res;
    if ((res = kvsi_parent(from, dfrom, sizeof dfrom)) != KVS_OK)
        return res;
    r = kvsi_sys_rename(ops, from, to);
    if (r < 0)
        return kvs_result_from_errno(-r);
    res = kvs_dir_sync(dto, ops);
    if (res == KVS_OK && strcmp(dto, dfrom) != 0)
        res = kvs_dir_sync(dfrom, ops);
    return res;
}

KVSDEF kvs_result kvs_mkdir_p(const char *path, uint32_t mode)
{
    char buf[4096];
    size_t n, i;
    struct stat sb;
    mode_t m = (mode_t)(mode ? mode : 0755u);
    if (path == NULL || path[0] == '\0')
        return KVS_E_INVAL;
    n = strlen(path);
    if (n >= sizeof buf)
        return KVS_E_PATH;
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/')
            continue; /* repeated slash */
        buf[i] = '\0';
        if (mkdir(buf, m) != 0) {
            int e = errno;
            if (e != EEXIST)
                return kvs_result_from_errno(e);
            if (stat(buf, &sb) != 0)
                return kvs_result_from_errno(errno);
            if (!S_ISDIR(sb.st_mode))
                return KVS_E_EXIST;
        }
        if (i < n)
            buf[i] = '/';
    }
    return KVS_OK;
}

/* ------------------------------------------------------------------------
   Thread pool
   ------------------------------------------------------------------------
   One mutex guards all queue and batch state. A worker takes it once per
   task: to finish the previous task and pick the next. A task is a piece
   of one op; an op's result is the first error of its tasks. */
#define KVSI_DEFAULT_TASK ((size_t)4 << 20)
#define KVSI_POOL_THREADS_MAX 1024u
#define KVSI_STRUCT_ALIGN 64

typedef struct kvsi_task {
    struct kvsi_task *next;
    kvs_batch *batch;
    size_t op;
    uint64_t off;
    unsigned char *buf;
    size_t len;
} kvsi_task;

typedef struct kvsi_opstate {
    size_t pending;    /* tasks not finished */
    kvs_result err;
} kvsi_opstate;

struct kvs_batch {
    kvs_pool *pool;
    void *owner;           /* set at submit: the store batch it belongs to */
    kvs_io_op *ops;
    size_t n;
    size_t pending;        /* ops not finished */
    size_t failed;
    int done;
    int in_done_list;
    kvs_batch *dprev, *dnext;   /* completed, not reaped */
    kvs_batch *aprev, *anext;   /* every live batch      */
    kvsi_opstate *st;
    kvsi_task *tasks;
    size_t ntasks;
    size_t mem_size;
};

typedef struct kvsi_worker {
    kvs_pool *pool;
    unsigned index;
    int started;
    pthread_t thread;
    unsigned char *scratch;
} kvsi_worker;

typedef struct kvsi_queue {
    kvsi_task *head, *tail;
} kvsi_queue;

struct kvs_pool {
    kvs_pool_config cfg;     /* effective */
    kvs_allocator alloc;
    int has_alloc;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    pthread_cond_t done_cv;
    kvsi_queue q[2];         /* [0] reads (or all, FIFO), [1] writes */
    int stopping;            /* no new work; workers exit when idle  */
    int closed;              /* shutdown called                      */
    int joined;
    kvsi_worker *workers;
    unsigned nworkers;
    kvs_batch *done_head, *done_tail;
    size_t ndone;
    kvs_batch *all_head;
    int rfd, wfd;            /* completion fd (eventfd: rfd == wfd)  */
    size_t tokens;           /* counts signalled on the fd           */
    kvs_pool_stats stats;
};

static const kvs_allocator *kvsi_pool_alloc(const kvs_pool *p)
{
    return p->has_alloc ? &p->alloc : NULL;
}

KVSDEF void kvs_pool_config_init(kvs_pool_config *cfg)
{
    KVS_ASSERT(cfg != NULL);
    memset(cfg, 0, sizeof *cfg);
}

KVSDEF unsigned kvs_pool_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 2)
        n = 2;
    if (n > 16)
        n = 16;
    return (unsigned)n;
}

/* Make the fd's count equal ndone (called with the mutex held). */
static void kvsi_fd_sync_tokens(kvs_pool *p)
{
    while (p->tokens < p->ndone) {
#if KVS_POSIX_USE_EVENTFD
        uint64_t one = 1;
        if (write(p->wfd, &one, sizeof one) != (ssize_t)sizeof one)
            break;
#else
        char c = 'k';
        if (write(p->wfd, &c, 1) != 1)
            break; /* pipe full: it is readable anyway */
#endif
        p->tokens++;
    }
    while (p->tokens > p->ndone) {
#if KVS_POSIX_USE_EVENTFD
        uint64_t v;
        if (read(p->rfd, &v, sizeof v) != (ssize_t)sizeof v)
            break;
#else
        char c;
        if (read(p->rfd, &c, 1) != 1)
            break;
#endif
        p->tokens--;
    }
}

static void kvsi_done_unlink(kvs_pool *p, kvs_batch *b)
{
    if (b->dprev)
        b->dprev->dnext = b->dnext;
    else
        p->done_head = b->dnext;
    if (b->dnext)
        b->dnext->dprev = b->dprev;
    else
        p->done_tail = b->dprev;
    b->dprev = b->dnext = NULL;
    b->in_done_list = 0;
    p->ndone--;
}

static void kvsi_batch_complete(kvs_pool *p, kvs_batch *b)
{
    b->done = 1;
    b->in_done_list = 1;
    b->dnext = NULL;
    b->dprev = p->done_tail;
    if (p->done_tail)
        p->done_tail->dnext = b;
    else
        p->done_head = b;
    p->done_tail = b;
    p->ndone++;
    p->stats.batches_completed++;
    kvsi_fd_sync_tokens(p);
    pthread_cond_broadcast(&p->done_cv);
}

/* A task ended with r (mutex held). */
static void kvsi_task_done(kvs_pool *p, kvsi_task *t, kvs_result r)
{
    kvs_batch *b = t->batch;
    kvsi_opstate *s = &b->st[t->op];
    if (r == KVS_E_CANCELED)
        p->stats.tasks_canceled++;
    else
        p->stats.tasks_run++;
    if (r != KVS_OK && s->err == KVS_OK)
        s->err = r;
    if (--s->pending == 0) {
        kvs_io_op *op = &b->ops[t->op];
        op->result = s->err;
        op->bytes = s->err == KVS_OK ? op->len : 0;
        p->stats.ops_completed++;
        if (s->err != KVS_OK) {
            b->failed++;
            p->stats.ops_failed++;
        }
        if (--b->pending == 0)
            kvsi_batch_complete(p, b);
    }
}

static int kvsi_op_is_call(const kvs_io_op *op)
{
    return op->kind == KVS_OP_CALL || op->kind == KVS_OP_CALL_LOW;
}

static kvsi_task *kvsi_pop(kvs_pool *p)
{
    int i;
    for (i = 0; i < 2; i++) {
        kvsi_task *t = p->q[i].head;
        if (t != NULL) {
            p->q[i].head = t->next;
            if (p->q[i].head == NULL)
                p->q[i].tail = NULL;
            t->next = NULL;
            return t;
        }
    }
    return NULL;
}

static void kvsi_push(kvs_pool *p, kvsi_task *t, int qi)
{
    t->next = NULL;
    if (p->q[qi].tail)
        p->q[qi].tail->next = t;
    else
        p->q[qi].head = t;
    p->q[qi].tail = t;
}

static void *kvsi_worker_main(void *arg)
{
    kvsi_worker *w = (kvsi_worker *)arg;
    kvs_pool *p = w->pool;
    if (p->cfg.thread_start)
        p->cfg.thread_start(p->cfg.thread_user, w->index);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        kvsi_task *t = kvsi_pop(p);
        kvs_io_op *op;
        kvs_result r;
        if (t == NULL) {
            if (p->stopping)
                break;
            pthread_cond_wait(&p->work_cv, &p->mu);
            continue;
        }
        op = &t->batch->ops[t->op];
        pthread_mutex_unlock(&p->mu);
        if (kvsi_op_is_call(op))
            r = op->call(op->buf);
        else
            r = kvsi_file_rw(op->file, op->kind == KVS_OP_WRITE, t->off, t->buf, t->len, w->scratch,
                             p->cfg.bounce_bytes);
        pthread_mutex_lock(&p->mu);
        kvsi_task_done(p, t, r);
    }
    pthread_mutex_unlock(&p->mu);
    if (p->cfg.thread_exit)
        p->cfg.thread_exit(p->cfg.thread_user, w->index);
    return NULL;
}

static void kvsi_pool_free_mem(kvs_pool *p, int sync_ok)
{
    kvs_allocator a = p->alloc;
    const kvs_allocator *ap = p->has_alloc ? &a : NULL;
    unsigned i;
    if (p->workers != NULL) {
        for (i = 0; i < p->nworkers; i++)
            kvs_aligned_free(ap, p->workers[i].scratch, p->cfg.bounce_bytes, 4096);
        kvs_aligned_free(ap, p->workers, sizeof(kvsi_worker) * p->nworkers, KVSI_STRUCT_ALIGN);
    }
    if (p->rfd >= 0)
        kvsi_close_fd(p->rfd);
    if (p->wfd >= 0 && p->wfd != p->rfd)
        kvsi_close_fd(p->wfd);
    if (sync_ok) {
        pthread_cond_destroy(&p->done_cv);
        pthread_cond_destroy(&p->work_cv);
        pthread_mutex_destroy(&p->mu);
    }
    kvs_aligned_free(ap, p, sizeof(kvs_pool), KVSI_STRUCT_ALIGN);
}

static void kvsi_pool_stop_join(kvs_pool *p)
{
    unsigned i;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nworkers; i++)
        if (p->workers[i].started)
            pthread_join(p->workers[i].thread, NULL);
    p->joined = 1;
}

KVSDEF kvs_result kvs_pool_create(const kvs_pool_config *cfg_in, kvs_pool **out)
{
    kvs_pool_config cfg;
    kvs_pool *p;
    void *mem = NULL;
    kvs_result res;
    unsigned i;
    int sync_ok = 0;

    KVS_ASSERT(out != NULL);
    *out = NULL;
    if (cfg_in != NULL)
        cfg = *cfg_in;
    else
        kvs_pool_config_init(&cfg);
    if (cfg.threads == 0)
        cfg.threads = kvs_pool_default_threads();
    if (cfg.threads > KVSI_POOL_THREADS_MAX)
        return KVS_E_INVAL;
    if (cfg.task_bytes == 0)
        cfg.task_bytes = KVSI_DEFAULT_TASK;
    if (!kvs_is_pow2(cfg.task_bytes) || cfg.task_bytes < 4096 || cfg.task_bytes > ((size_t)1 << 30))
        return KVS_E_INVAL;
    if (cfg.bounce_bytes == 0)
        cfg.bounce_bytes = KVSI_DEFAULT_BOUNCE;
    if (cfg.bounce_bytes % 4096 != 0 || cfg.bounce_bytes > ((size_t)256 << 20))
        return KVS_E_INVAL;
    if (cfg.read_priority != 0 && cfg.read_priority != 1)
        return KVS_E_INVAL;

    res = kvs_aligned_alloc(cfg.alloc, sizeof(kvs_pool), KVSI_STRUCT_ALIGN, &mem);
    if (res != KVS_OK)
        return res;
    p = (kvs_pool *)mem;
    memset(p, 0, sizeof *p);
    p->rfd = p->wfd = -1;
    if (cfg.alloc != NULL && cfg.alloc->alloc != NULL && cfg.alloc->free != NULL) {
        p->alloc = *cfg.alloc;
        p->has_alloc = 1;
    }
    cfg.alloc = p->has_alloc ? &p->alloc : NULL;
    p->cfg = cfg;

    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        kvsi_pool_free_mem(p, 0);
        return KVS_E_NOMEM;
    }
    if (pthread_cond_init(&p->work_cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        kvsi_pool_free_mem(p, 0);
        return KVS_E_NOMEM;
    }
    if (pthread_cond_init(&p->done_cv, NULL) != 0) {
        pthread_cond_destroy(&p->work_cv);
        pthread_mutex_destroy(&p->mu);
        kvsi_pool_free_mem(p, 0);
        return KVS_E_NOMEM;
    }
    sync_ok = 1;

#if KVS_POSIX_USE_EVENTFD
    p->rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
    if (p->rfd < 0) {
        res = kvs_result_from_errno(errno);
        goto fail;
    }
    p->wfd = p->rfd;
#else
    {
        int fds[2];
        if (pipe(fds) != 0) {
            res = kvs_result_from_errno(errno);
            goto fail;
        }
        p->rfd = fds[0];
        p->wfd = fds[1];
        if (fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK) != 0 ||
            fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK) != 0 ||
            fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
            res = kvs_result_from_errno(errno);
            goto fail;
        }
    }
#endif

    res = kvs_aligned_alloc(cfg.alloc, sizeof(kvsi_worker) * cfg.threads, KVSI_STRUCT_ALIGN, &mem);
    if (res != KVS_OK)
        goto fail;
    p->workers = (kvsi_worker *)mem;
    memset(p->workers, 0, sizeof(kvsi_worker) * cfg.threads);
    p->nworkers = cfg.threads;
    for (i = 0; i < cfg.threads; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i;
        res = kvs_aligned_alloc(cfg.alloc, cfg.bounce_bytes, 4096, &mem);
        if (res != KVS_OK)
            goto fail;
        p->workers[i].scratch = (unsigned char *)mem;
    }
    for (i = 0; i < cfg.threads; i++) {
        int e = pthread_create(&p->workers[i].thread, NULL, kvsi_worker_main, &p->workers[i]);
        if (e != 0) {
            res = e == EAGAIN ? KVS_E_LIMIT : kvs_result_from_errno(e);
            goto fail;
        }
        p->workers[i].started = 1;
    }
    *out = p;
    return KVS_OK;

fail:
    if (p->workers != NULL)
        kvsi_pool_stop_join(p);
    kvsi_pool_free_mem(p, sync_ok);
    return res;
}

KVSDEF void kvs_pool_get_config(const kvs_pool *p, kvs_pool_config *out)
{
    KVS_ASSERT(p != NULL && out != NULL);
    *out = p->cfg;
}

KVSDEF int kvs_pool_fd(const kvs_pool *p)
{
    KVS_ASSERT(p != NULL);
    return p->rfd;
}

static size_t kvsi_pad_up(size_t v)
{
    return (v + (KVSI_STRUCT_ALIGN - 1)) & ~(size_t)(KVSI_STRUCT_ALIGN - 1);
}

/* Number of tasks op i splits into (0 for an empty op). */
static size_t kvsi_op_tasks(const kvs_pool *p, const kvs_io_op *op, size_t *task_size)
{
    size_t ts = p->cfg.task_bytes, first;
    kvs_file_info fi;
    if (kvsi_op_is_call(op)) {
        *task_size = p->cfg.task_bytes;
        return 1;
    }
    kvs_file_get_info(op->file, &fi);
    ts = kvsi_max_sz(ts, fi.align);
    ts = kvsi_max_sz(ts, fi.buf_align);
    *task_size = ts;
    if (op->len == 0)
        return 0;
    if (op->len <= ts)
        return 1;
    first = ts - (size_t)(op->offset & (uint64_t)(ts - 1));
    if (first >= op->len)
        return 1;
    return 1 + (op->len - first + ts - 1) / ts;
}

static kvs_result kvsi_pool_submit(kvs_pool *p, kvs_io_op *ops, size_t n, void *owner, kvs_batch **out);

KVSDEF kvs_result kvs_pool_submit(kvs_pool *p, kvs_io_op *ops, size_t n, kvs_batch **out)
{
    return kvsi_pool_submit(p, ops, n, NULL, out);
}

static kvs_result kvsi_pool_submit(kvs_pool *p, kvs_io_op *ops, size_t n, void *owner, kvs_batch **out)
{
    size_t i, ntasks = 0, hdr, st_bytes, total, k, pending = 0;
    kvs_batch *b;
    void *mem = NULL;
    kvs_result res;

    KVS_ASSERT(p != NULL && out != NULL);
    *out = NULL;
    if (n > 0 && ops == NULL)
        return KVS_E_INVAL;
    for (i = 0; i < n; i++) {
        size_t ts, t;
        if (kvsi_op_is_call(&ops[i])) {
            if (ops[i].call == NULL)
                return KVS_E_INVAL;
            ntasks++;
            continue;
        }
        if (ops[i].file == NULL || (ops[i].kind != KVS_OP_READ && ops[i].kind != KVS_OP_WRITE) ||
            (ops[i].len > 0 && ops[i].buf == NULL))
            return KVS_E_INVAL;
        if ((uint64_t)ops[i].len > UINT64_MAX - ops[i].offset)
            return KVS_E_OVERFLOW;
        t = kvsi_op_tasks(p, &ops[i], &ts);
        if (ntasks > (size_t)-1 - t)
            return KVS_E_OVERFLOW;
        ntasks += t;
    }
    hdr = kvsi_pad_up(sizeof(kvs_batch));
    if (n > ((size_t)-1 / 2) / sizeof(kvsi_opstate) || ntasks > ((size_t)-1 / 2) / sizeof(kvsi_task))
        return KVS_E_OVERFLOW;
    st_bytes = kvsi_pad_up(n * sizeof(kvsi_opstate));
    total = hdr + st_bytes + ntasks * sizeof(kvsi_task);
    res = kvs_aligned_alloc(kvsi_pool_alloc(p), total, KVSI_STRUCT_ALIGN, &mem);
    if (res != KVS_OK)
        return res;
    memset(mem, 0, total);
    b = (kvs_batch *)mem;
    b->pool = p;
    b->owner = owner;
    b->ops = ops;
    b->n = n;
    b->mem_size = total;
    b->st = (kvsi_opstate *)((unsigned char *)mem + hdr);
    b->tasks = (kvsi_task *)((unsigned char *)mem + hdr + st_bytes);
    b->ntasks = ntasks;

    /* Build the tasks: KvikIO-style, the first piece ends at a task_size
       boundary of the file offset so every later piece starts aligned. */
    k = 0;
    for (i = 0; i < n; i++) {
        kvs_io_op *op = &ops[i];
        size_t ts, t = kvsi_op_tasks(p, op, &ts), done = 0, j;
        op->bytes = 0;
        b->st[i].err = KVS_OK;
        b->st[i].pending = t;
        if (t == 0) {
            op->result = KVS_OK;
            continue;
        }
        op->result = KVS_E_AGAIN; /* pending */
        pending++;
        for (j = 0; j < t; j++) {
            kvsi_task *task = &b->tasks[k++];
            size_t piece;
            if (t == 1)
                piece = op->len;
            else if (j == 0)
                piece = ts - (size_t)(op->offset & (uint64_t)(ts - 1));
            else
                piece = kvsi_min_sz(ts, op->len - done);
            task->batch = b;
            task->op = i;
            task->off = op->offset + done;
            task->buf = (unsigned char *)op->buf + done;
            task->len = piece;
            done += piece;
        }
    }
    b->pending = pending;

    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        pthread_mutex_unlock(&p->mu);
        kvs_aligned_free(kvsi_pool_alloc(p), mem, total, KVSI_STRUCT_ALIGN);
        return KVS_E_CLOSED;
    }
    b->anext = p->all_head;
    if (p->all_head)
        p->all_head->aprev = b;
    p->all_head = b;
    p->stats.batches_submitted++;
    for (i = 0; i < n; i++)
        if (b->st[i].pending > 1)
            p->stats.ops_split++;
    for (k = 0; k < ntasks; k++) {
        kvsi_task *task = &b->tasks[k];
        kvs_op_kind kind = ops[task->op].kind;
        int qi = (p->cfg.read_priority && (kind == KVS_OP_WRITE || kind == KVS_OP_CALL_LOW)) ? 1 : 0;
        kvsi_push(p, task, qi);
    }
    if (pending == 0)
        kvsi_batch_complete(p, b);
    else if (ntasks == 1)
        pthread_cond_signal(&p->work_cv);
    else
        pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    *out = b;
    return KVS_OK;
}

KVSDEF kvs_result kvs_pool_reap(kvs_pool *p, kvs_batch **out)
{
    kvs_batch *b;
    KVS_ASSERT(p != NULL && out != NULL);
    pthread_mutex_lock(&p->mu);
    b = p->done_head;
    if (b != NULL) {
        kvsi_done_unlink(p, b);
        kvsi_fd_sync_tokens(p);
    }
    pthread_mutex_unlock(&p->mu);
    *out = b;
    return b != NULL ? KVS_OK : KVS_E_AGAIN;
}

KVSDEF kvs_result kvs_batch_poll(kvs_batch *b)
{
    int done;
    KVS_ASSERT(b != NULL);
    pthread_mutex_lock(&b->pool->mu);
    done = b->done;
    pthread_mutex_unlock(&b->pool->mu);
    return done ? KVS_OK : KVS_E_AGAIN;
}

KVSDEF kvs_result kvs_batch_wait(kvs_batch *b)
{
    kvs_pool *p;
    KVS_ASSERT(b != NULL);
    p = b->pool;
    pthread_mutex_lock(&p->mu);
    while (!b->done)
        pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return KVS_OK;
}

KVSDEF size_t kvs_batch_failed(kvs_batch *b)
{
    size_t f;
    KVS_ASSERT(b != NULL);
    pthread_mutex_lock(&b->pool->mu);
    f = b->failed;
    pthread_mutex_unlock(&b->pool->mu);
    return f;
}

static void kvsi_all_unlink(kvs_pool *p, kvs_batch *b)
{
    if (b->aprev)
        b->aprev->anext = b->anext;
    else
        p->all_head = b->anext;
    if (b->anext)
        b->anext->aprev = b->aprev;
    b->aprev = b->anext = NULL;
}

KVSDEF kvs_result kvs_batch_free(kvs_batch *b)
{
    kvs_pool *p;
    if (b == NULL)
        return KVS_OK;
    p = b->pool;
    pthread_mutex_lock(&p->mu);
    if (!b->done) {
        pthread_mutex_unlock(&p->mu);
        return KVS_E_BUSY;
    }
    if (b->in_done_list) {
        kvsi_done_unlink(p, b);
        kvsi_fd_sync_tokens(p);
    }
    kvsi_all_unlink(p, b);
    pthread_mutex_unlock(&p->mu);
    kvs_aligned_free(kvsi_pool_alloc(p), b, b->mem_size, KVSI_STRUCT_ALIGN);
    return KVS_OK;
}

KVSDEF kvs_result kvs_pool_shutdown(kvs_pool *p, kvs_shutdown_mode mode)
{
    KVS_ASSERT(p != NULL);
    if (mode != KVS_SHUTDOWN_DRAIN && mode != KVS_SHUTDOWN_CANCEL)
        return KVS_E_INVAL;
    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        pthread_mutex_unlock(&p->mu);
        return KVS_E_CLOSED;
    }
    p->closed = 1;
    if (mode == KVS_SHUTDOWN_CANCEL) {
        kvsi_task *t;
        while ((t = kvsi_pop(p)) != NULL)
            kvsi_task_done(p, t, KVS_E_CANCELED);
    }
    pthread_mutex_unlock(&p->mu);
    kvsi_pool_stop_join(p);
    return KVS_OK;
}

KVSDEF void kvs_pool_destroy(kvs_pool *p)
{
    if (p == NULL)
        return;
    if (!p->joined)
        (void)kvs_pool_shutdown(p, KVS_SHUTDOWN_DRAIN);
    while (p->all_head != NULL) {
        kvs_batch *b = p->all_head;
        kvsi_all_unlink(p, b);
        kvs_aligned_free(kvsi_pool_alloc(p), b, b->mem_size, KVSI_STRUCT_ALIGN);
    }
    kvsi_pool_free_mem(p, 1);
}

KVSDEF void kvs_pool_get_stats(kvs_pool *p, kvs_pool_stats *out)
{
    KVS_ASSERT(p != NULL && out != NULL);
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    pthread_mutex_unlock(&p->mu);
}

/* ===== BEGIN STORE COMMON ===== */
/* ------------------------------------------------------------------------
   Stores: the public API, configuration, batches and async, on top of two
   engines (raw-block and filesystem) that implement kvsi_engine_ops.
   Engines do their own locking and run their I/O synchronously on the
   calling thread; batches fan out over the store's pool with CALL ops (an
   engine never waits on the pool, so a batch cannot deadlock it).
   ------------------------------------------------------------------------ */
typedef struct kvsi_engine_ops {
    kvs_result (*put)(void *e, const void *key, size_t klen, const void *data, size_t len);
    /* KVS_OK / KVS_NOT_FOUND / KVS_E_BUFSIZE (with *out_len) / error.
       A record that fails a check is KVS_NOT_FOUND, counted by the engine. */
    kvs_result (*get)(void *e, const void *key, size_t klen, void *buf, size_t cap, size_t *out_len);
    kvs_result (*exists)(void *e, const void *key, size_t klen);
    kvs_result (*remove)(void *e, const void *key, size_t klen);
    kvs_result (*pin)(void *e, const void *key, size_t klen, int delta); /* +1 / -1 */
    kvs_result (*sync)(void *e);
    kvs_result (*iterate)(void *e, kvs_key_fn fn, void *user);
    /* Fill every field but kind, puts, gets, hits, misses, removes, errors. */
    void (*stats)(void *e, kvs_store_stats *out);
    /* Final checkpoint / sync, then free the engine (always frees). */
    kvs_result (*close)(void *e);
    size_t (*buffer_align)(void *e);
} kvsi_engine_ops;

/* Engine constructors. cfg is the store's effective configuration, owned by
   the store for its whole life: the engine validates its own fields,
   resolves their defaults in place, and may keep the pointer. */
static kvs_result kvsi_raw_open(kvs_store_config *cfg, const kvsi_engine_ops **ops, void **engine,
                                char *err, size_t err_cap);
static kvs_result kvsi_fs_open(kvs_store_config *cfg, const kvsi_engine_ops **ops, void **engine,
                               char *err, size_t err_cap);

/* A sentence into err (may be NULL); returns r so callers can
   `return kvsi_errf(err, cap, KVS_E_INVAL, "...")`. */
static kvs_result kvsi_errf(char *err, size_t cap, kvs_result r, const char *fmt, ...)
{
    va_list ap;
    if (err != NULL && cap > 0) {
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* Nonzero random 64-bit value (store ids, writer ids): getrandom where the
   kernel has it, else /dev/urandom; mixed with time and address as a last
   resort so two processes never share a value by accident. */
static uint64_t kvsi_random64(void)
{
    uint64_t v = 0;
    int ok = 0;
#if defined(__linux__) && defined(SYS_getrandom)
    ok = syscall(SYS_getrandom, &v, sizeof v, 0) == (long)sizeof v;
#endif
    if (!ok) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ok = read(fd, &v, sizeof v) == (ssize_t)sizeof v;
            close(fd);
        }
    }
    if (!ok) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = kvs_mix64((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
            kvs_mix64((uint64_t)getpid()) ^ kvs_mix64((uint64_t)(uintptr_t)&v);
    }
    return v != 0 ? v : 1;
}

/* Nanoseconds: CLOCK_REALTIME (timestamps on disk) or CLOCK_MONOTONIC. */
static uint64_t kvsi_now_ns(int realtime)
{
    struct timespec ts;
    clock_gettime(realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct kvsi_call {
    kvs_store *s;
    kvs_batch_op op;
    kvs_item *item;
} kvsi_call;

struct kvs_store_batch {
    kvs_store *s;
    kvs_batch_op op;
    kvs_item *items;
    size_t n;
    size_t run;                /* GET_PREFIX: items submitted (the probed run) */
    kvs_batch *pb;             /* NULL when nothing had to run                 */
    kvs_io_op *ops;
    kvsi_call *calls;
    size_t mem_size;
    int finished;              /* results folded into result/count           */
    kvs_result result;
    size_t count;
    kvs_store_batch *prev, *next; /* the store's live batches                  */
};

struct kvs_store {
    kvs_store_config cfg;      /* effective; strings point into strs          */
    kvs_allocator alloc;
    const kvsi_engine_ops *ops;
    void *engine;
    kvs_pool *pool;
    char *strs;
    size_t strs_size;
    pthread_mutex_t mu;        /* guards the batch list                        */
    kvs_store_batch *batches;
    uint64_t puts, gets, hits, misses, removes, errors; /* kvsi_add/kvsi_load */
};

static const kvs_allocator *kvsi_store_alloc(const kvs_store *s)
{
    return (s->alloc.alloc != NULL && s->alloc.free != NULL) ? &s->alloc : NULL;
}

static kvs_result kvsi_key_check(const void *key, size_t klen)
{
    if (key == NULL && klen != 0)
        return KVS_E_INVAL;
    if (klen == 0 || klen > KVS_KEY_MAX)
        return KVS_E_KEY;
    return KVS_OK;
}

/* Count a call's outcome in the store's counters. */
static kvs_result kvsi_count(kvs_store *s, kvs_result r)
{
    if (r < 0 && r != KVS_E_BUFSIZE)
        kvsi_add(&s->errors, 1);
    return r;
}

KVSDEF void kvs_store_config_init(kvs_store_config *cfg)
{
    KVS_ASSERT(cfg != NULL);
    memset(cfg, 0, sizeof *cfg);
}

/* Settings that belong to the other kind must be left at zero. */
static kvs_result kvsi_store_cfg_check(const kvs_store_config *c, char *err, size_t cap)
{
    if (c->kind != KVS_STORE_FS && c->kind != KVS_STORE_RAW)
        return kvsi_errf(err, cap, KVS_E_INVAL, "kind %d is neither KVS_STORE_FS nor KVS_STORE_RAW", (int)c->kind);
    if ((unsigned)c->shard > KVS_SHARD_RANK)
        return kvsi_errf(err, cap, KVS_E_INVAL, "shard policy %d is unknown", (int)c->shard);
    if ((unsigned)c->direct > KVS_DIRECT_REQUIRE)
        return kvsi_errf(err, cap, KVS_E_INVAL, "direct policy %d is unknown", (int)c->direct);
    if ((unsigned)c->durability > KVS_DURABLE_FULL)
        return kvsi_errf(err, cap, KVS_E_INVAL, "durability %d is unknown", (int)c->durability);
    if ((unsigned)c->format > KVS_FORMAT_ALWAYS)
        return kvsi_errf(err, cap, KVS_E_INVAL, "format mode %d is unknown", (int)c->format);
    if (c->allow_other_rank != 0 && c->allow_other_rank != 1)
        return kvsi_errf(err, cap, KVS_E_INVAL, "allow_other_rank must be 0 or 1");
    if (c->readahead != 0 && c->readahead != 1)
        return kvsi_errf(err, cap, KVS_E_INVAL, "readahead must be 0 or 1");
    if (c->strict_pathset != 0 && c->strict_pathset != 1)
        return kvsi_errf(err, cap, KVS_E_INVAL, "strict_pathset must be 0 or 1");
    if (c->file_mode > 07777)
        return kvsi_errf(err, cap, KVS_E_INVAL, "file_mode %o has bits beyond 07777", (unsigned)c->file_mode);
    if (c->align != 0 && (!kvs_is_pow2(c->align) || c->align > KVS_DEV_ALIGN_MAX))
        return kvsi_errf(err, cap, KVS_E_ALIGN, "align %zu is not a power of two up to 1 MiB", c->align);
    if (c->tp_world > KVS_TP_MAX)
        return kvsi_errf(err, cap, KVS_E_LIMIT, "tp_world %u exceeds %u", (unsigned)c->tp_world, (unsigned)KVS_TP_MAX);
    if (c->tp_world != 0 && c->tp_rank >= c->tp_world)
        return kvsi_errf(err, cap, KVS_E_RANK, "tp_rank %u is not below tp_world %u", (unsigned)c->tp_rank,
                         (unsigned)c->tp_world);
    if (c->kind == KVS_STORE_FS) {
        const char *bad = c->tp_map ? "tp_map" : c->tp_map_file ? "tp_map_file"
                        : c->allow_other_rank ? "allow_other_rank" : c->format ? "format"
                        : c->device_bytes ? "device_bytes" : c->slot_payload_bytes ? "slot_payload_bytes"
                        : c->meta_bytes ? "meta_bytes" : c->max_key_bytes ? "max_key_bytes"
                        : c->checkpoint_interval_ms ? "checkpoint_interval_ms"
                        : c->checkpoint_idle_ms ? "checkpoint_idle_ms" : NULL;
        if (bad != NULL)
            return kvsi_errf(err, cap, KVS_E_INVAL, "%s applies to the raw store only; leave it 0 for KVS_STORE_FS", bad);
        if (c->paths == NULL)
            return kvsi_errf(err, cap, KVS_E_INVAL, "paths (the store's directories) is required");
    } else {
        const char *bad = c->capacity_bytes ? "capacity_bytes" : c->readahead ? "readahead"
                        : c->temp_max_age_s ? "temp_max_age_s" : c->strict_pathset ? "strict_pathset" : NULL;
        int where = (c->paths != NULL) + (c->tp_map != NULL) + (c->tp_map_file != NULL);
        if (bad != NULL)
            return kvsi_errf(err, cap, KVS_E_INVAL, "%s applies to the filesystem store only; leave it 0 for KVS_STORE_RAW", bad);
        if (where != 1)
            return kvsi_errf(err, cap, KVS_E_INVAL, "give exactly one of paths, tp_map and tp_map_file for KVS_STORE_RAW");
    }
    return KVS_OK;
}

/* Copy the config's strings into one block the store owns. */
static kvs_result kvsi_store_own_strings(kvs_store *s)
{
    const char **fields[3];
    size_t total = 0, i, n;
    char *p;
    void *mem = NULL;
    kvs_result r;
    fields[0] = &s->cfg.paths;
    fields[1] = &s->cfg.tp_map;
    fields[2] = &s->cfg.tp_map_file;
    for (i = 0; i < 3; i++)
        if (*fields[i] != NULL)
            total += strlen(*fields[i]) + 1;
    if (total == 0)
        return KVS_OK;
    r = kvs_aligned_alloc(kvsi_store_alloc(s), total, 1, &mem);
    if (r != KVS_OK)
        return r;
    s->strs = (char *)mem;
    s->strs_size = total;
    p = s->strs;
    for (i = 0; i < 3; i++) {
        if (*fields[i] == NULL)
            continue;
        n = strlen(*fields[i]) + 1;
        memcpy(p, *fields[i], n);
        *fields[i] = p;
        p += n;
    }
    return KVS_OK;
}

static void kvsi_store_free(kvs_store *s)
{
    kvs_allocator a = s->alloc;
    const kvs_allocator *ap = (a.alloc != NULL && a.free != NULL) ? &a : NULL;
    if (s->pool != NULL)
        kvs_pool_destroy(s->pool);
    kvs_aligned_free(ap, s->strs, s->strs_size, 1);
    pthread_mutex_destroy(&s->mu);
    kvs_aligned_free(ap, s, sizeof *s, KVSI_STRUCT_ALIGN);
}

KVSDEF kvs_result kvs_store_open(const kvs_store_config *cfg, kvs_store **out, char *err, size_t err_cap)
{
    kvs_store *s;
    void *mem = NULL;
    kvs_result r;
    kvs_pool_config pc;
    const kvs_allocator *ap;

    KVS_ASSERT(cfg != NULL && out != NULL);
    *out = NULL;
    if (err != NULL && err_cap > 0)
        err[0] = '\0';
    r = kvsi_store_cfg_check(cfg, err, err_cap);
    if (r != KVS_OK)
        return r;
    ap = (cfg->allocator.alloc != NULL && cfg->allocator.free != NULL) ? &cfg->allocator : NULL;
    r = kvs_aligned_alloc(ap, sizeof(kvs_store), KVSI_STRUCT_ALIGN, &mem);
    if (r != KVS_OK)
        return kvsi_errf(err, err_cap, r, "cannot allocate the store");
    s = (kvs_store *)mem;
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->alloc = cfg->allocator;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        kvs_aligned_free(ap, s, sizeof *s, KVSI_STRUCT_ALIGN);
        return kvsi_errf(err, err_cap, KVS_E_NOMEM, "cannot create a mutex");
    }
    r = kvsi_store_own_strings(s);
    if (r != KVS_OK) {
        kvsi_store_free(s);
        return kvsi_errf(err, err_cap, r, "cannot copy the configuration's strings");
    }
    kvs_pool_config_init(&pc);
    pc.threads = cfg->threads;
    pc.task_bytes = cfg->task_bytes;
    pc.read_priority = 1; /* loads are on the latency path */
    pc.alloc = kvsi_store_alloc(s);
    r = kvs_pool_create(&pc, &s->pool);
    if (r != KVS_OK) {
        kvsi_store_free(s);
        return kvsi_errf(err, err_cap, r, "cannot create the thread pool (threads %u, task_bytes %zu)",
                         cfg->threads, cfg->task_bytes);
    }
    kvs_pool_get_config(s->pool, &pc);
    s->cfg.threads = pc.threads;
    s->cfg.task_bytes = pc.task_bytes;
    if (s->cfg.kind == KVS_STORE_RAW)
        r = kvsi_raw_open(&s->cfg, &s->ops, &s->engine, err, err_cap);
    else
        r = kvsi_fs_open(&s->cfg, &s->ops, &s->engine, err, err_cap);
    if (r != KVS_OK) {
        kvsi_store_free(s);
        return r;
    }
    *out = s;
    return KVS_OK;
}

static void kvsi_sbatch_free_mem(kvs_store_batch *b);

KVSDEF kvs_result kvs_store_close(kvs_store *s)
{
    kvs_result r, r2;
    if (s == NULL)
        return KVS_OK;
    /* Finish every batch still running, then release the ones the caller
       did not free. */
    r = kvs_pool_shutdown(s->pool, KVS_SHUTDOWN_DRAIN);
    if (r == KVS_E_CLOSED)
        r = KVS_OK;
    while (s->batches != NULL)
        kvsi_sbatch_free_mem(s->batches);
    r2 = s->ops->close(s->engine);
    if (r == KVS_OK)
        r = r2;
    kvsi_store_free(s);
    return r;
}

KVSDEF void kvs_store_get_config(const kvs_store *s, kvs_store_config *out)
{
    KVS_ASSERT(s != NULL && out != NULL);
    *out = s->cfg;
}

KVSDEF size_t kvs_store_buffer_align(const kvs_store *s)
{
    KVS_ASSERT(s != NULL);
    return s->ops->buffer_align(s->engine);
}

KVSDEF kvs_result kvs_store_put(kvs_store *s, const void *key, size_t key_len, const void *data, size_t len)
{
    kvs_result r;
    KVS_ASSERT(s != NULL);
    kvsi_add(&s->puts, 1);
    r = kvsi_key_check(key, key_len);
    if (r == KVS_OK && data == NULL && len != 0)
        r = KVS_E_INVAL;
    if (r == KVS_OK)
        r = s->ops->put(s->engine, key, key_len, data, len);
    return kvsi_count(s, r);
}

KVSDEF kvs_result kvs_store_get(kvs_store *s, const void *key, size_t key_len, void *buf, size_t cap,
                                size_t *out_len)
{
    kvs_result r;
    size_t len = 0;
    KVS_ASSERT(s != NULL);
    kvsi_add(&s->gets, 1);
    r = kvsi_key_check(key, key_len);
    if (r == KVS_OK && buf == NULL && cap != 0)
        r = KVS_E_INVAL;
    if (r == KVS_OK)
        r = s->ops->get(s->engine, key, key_len, buf, cap, &len);
    if (r == KVS_OK || r == KVS_E_BUFSIZE)
        kvsi_add(&s->hits, 1);
    else if (r == KVS_NOT_FOUND)
        kvsi_add(&s->misses, 1);
    if (out_len != NULL)
        *out_len = (r == KVS_OK || r == KVS_E_BUFSIZE) ? len : 0;
    return kvsi_count(s, r);
}

KVSDEF kvs_result kvs_store_exists(kvs_store *s, const void *key, size_t key_len)
{
    kvs_result r;
    KVS_ASSERT(s != NULL);
    r = kvsi_key_check(key, key_len);
    if (r == KVS_OK)
        r = s->ops->exists(s->engine, key, key_len);
    return kvsi_count(s, r);
}

KVSDEF kvs_result kvs_store_remove(kvs_store *s, const void *key, size_t key_len)
{
    kvs_result r;
    KVS_ASSERT(s != NULL);
    r = kvsi_key_check(key, key_len);
    if (r == KVS_OK)
        r = s->ops->remove(s->engine, key, key_len);
    if (r == KVS_OK)
        kvsi_add(&s->removes, 1);
    return kvsi_count(s, r);
}

static kvs_result kvsi_store_pin(kvs_store *s, const void *key, size_t key_len, int delta)
{
    kvs_result r;
    KVS_ASSERT(s != NULL);
    r = kvsi_key_check(key, key_len);
    if (r == KVS_OK)
        r = s->ops->pin(s->engine, key, key_len, delta);
    return kvsi_count(s, r);
}

KVSDEF kvs_result kvs_store_pin(kvs_store *s, const void *key, size_t key_len)
{
    return kvsi_store_pin(s, key, key_len, 1);
}

KVSDEF kvs_result kvs_store_unpin(kvs_store *s, const void *key, size_t key_len)
{
    return kvsi_store_pin(s, key, key_len, -1);
}

KVSDEF kvs_result kvs_store_sync(kvs_store *s)
{
    KVS_ASSERT(s != NULL);
    return kvsi_count(s, s->ops->sync(s->engine));
}

KVSDEF kvs_result kvs_store_iterate(kvs_store *s, kvs_key_fn fn, void *user)
{
    KVS_ASSERT(s != NULL);
    if (fn == NULL)
        return KVS_E_INVAL;
    return kvsi_count(s, s->ops->iterate(s->engine, fn, user));
}

KVSDEF void kvs_store_get_stats(kvs_store *s, kvs_store_stats *out)
{
    KVS_ASSERT(s != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    s->ops->stats(s->engine, out);
    out->kind = s->cfg.kind;
    out->puts = kvsi_load(&s->puts);
    out->gets = kvsi_load(&s->gets);
    out->hits = kvsi_load(&s->hits);
    out->misses = kvsi_load(&s->misses);
    out->removes = kvsi_load(&s->removes);
    out->errors = kvsi_load(&s->errors);
}

/* ---- batches ---- */

/* One item of a batch, run on a pool worker (or inline). */
static kvs_result kvsi_item_run(void *arg)
{
    kvsi_call *c = (kvsi_call *)arg;
    kvs_item *it = c->item;
    switch (c->op) {
    case KVS_BATCH_PUT:
        it->result = kvs_store_put(c->s, it->key, it->key_len, it->buf, it->len);
        break;
    case KVS_BATCH_GET_PREFIX:
        it->result = kvs_store_get(c->s, it->key, it->key_len, it->buf, it->len, &it->out_len);
        break;
    default:
        it->result = kvs_store_exists(c->s, it->key, it->key_len);
        break;
    }
    return it->result;
}

/* Fold the items' results into the batch's result and count. */
static void kvsi_sbatch_finish(kvs_store_batch *b)
{
    size_t i, k;
    kvs_result r = KVS_OK;
    if (b->finished)
        return;
    b->count = 0;
    if (b->op == KVS_BATCH_GET_PREFIX) {
        for (k = 0; k < b->run && b->items[k].result == KVS_OK; k++)
            ;
        /* items[k] is the first miss or failure: from its get, or (k == run)
           from the probe. */
        if (k < b->n && b->items[k].result != KVS_NOT_FOUND)
            r = b->items[k].result;
        /* Nothing past the first miss or failure counts as loaded. */
        for (i = k + 1; i < b->n; i++) {
            if (i < b->run || b->items[i].result == KVS_E_AGAIN)
                b->items[i].result = KVS_E_CANCELED;
            b->items[i].out_len = 0;
        }
        b->count = k;
    } else {
        for (i = 0; i < b->n; i++) {
            kvs_result ir = b->items[i].result;
            if (b->op == KVS_BATCH_PUT) {
                if (ir != KVS_OK) {
                    b->count++;
                    if (r == KVS_OK)
                        r = ir;
                }
            } else if (ir == KVS_OK) {
                b->count++;
            } else if (ir != KVS_NOT_FOUND && r == KVS_OK) {
                r = ir;
            }
        }
    }
    b->result = r;
    b->finished = 1;
}

static void kvsi_sbatch_free_mem(kvs_store_batch *b)
{
    kvs_store *s = b->s;
    pthread_mutex_lock(&s->mu);
    if (b->prev)
        b->prev->next = b->next;
    else
        s->batches = b->next;
    if (b->next)
        b->next->prev = b->prev;
    pthread_mutex_unlock(&s->mu);
    if (b->pb != NULL)
        (void)kvs_batch_free(b->pb);
    kvs_aligned_free(kvsi_store_alloc(s), b, b->mem_size, KVSI_STRUCT_ALIGN);
}

KVSDEF kvs_result kvs_store_submit(kvs_store *s, kvs_batch_op op, kvs_item *items, size_t n,
                                   kvs_store_batch **out)
{
    kvs_store_batch *b;
    size_t hdr, opsz, total, i, run;
    void *mem = NULL;
    kvs_result r;

    KVS_ASSERT(s != NULL && out != NULL);
    *out = NULL;
    if ((unsigned)op > KVS_BATCH_EXISTS || (n > 0 && items == NULL))
        return KVS_E_INVAL;
    if (n > ((size_t)-1 / 4) / (sizeof(kvs_io_op) + sizeof(kvsi_call)))
        return KVS_E_OVERFLOW;
    for (i = 0; i < n; i++) {
        items[i].result = KVS_E_AGAIN;
        items[i].out_len = 0;
    }
    /* A prefix get first finds the leading run of keys that exist (a cheap,
       in-order probe), and loads only those, in parallel. */
    run = n;
    if (op == KVS_BATCH_GET_PREFIX) {
        for (run = 0; run < n; run++) {
            kvs_result pr = kvs_store_exists(s, items[run].key, items[run].key_len);
            if (pr != KVS_OK) {
                items[run].result = pr;
                break;
            }
        }
    }
    hdr = (sizeof(kvs_store_batch) + KVSI_STRUCT_ALIGN - 1) & ~(size_t)(KVSI_STRUCT_ALIGN - 1);
    opsz = run * sizeof(kvs_io_op);
    total = hdr + opsz + run * sizeof(kvsi_call) + 1;
    r = kvs_aligned_alloc(kvsi_store_alloc(s), total, KVSI_STRUCT_ALIGN, &mem);
    if (r != KVS_OK)
        return r;
    memset(mem, 0, total);
    b = (kvs_store_batch *)mem;
    b->s = s;
    b->op = op;
    b->items = items;
    b->n = n;
    b->run = run;
    b->mem_size = total;
    b->ops = (kvs_io_op *)((unsigned char *)mem + hdr);
    b->calls = (kvsi_call *)((unsigned char *)mem + hdr + opsz);
    for (i = 0; i < run; i++) {
        b->calls[i].s = s;
        b->calls[i].op = op;
        b->calls[i].item = &items[i];
        b->ops[i].kind = op == KVS_BATCH_PUT ? KVS_OP_CALL_LOW : KVS_OP_CALL;
        b->ops[i].buf = &b->calls[i];
        b->ops[i].call = kvsi_item_run;
    }
    pthread_mutex_lock(&s->mu);
    b->next = s->batches;
    if (s->batches)
        s->batches->prev = b;
    s->batches = b;
    pthread_mutex_unlock(&s->mu);
    r = kvsi_pool_submit(s->pool, b->ops, run, b, &b->pb);
    if (r != KVS_OK) {
        b->pb = NULL;
        kvsi_sbatch_free_mem(b);
        for (i = 0; i < n; i++)
            items[i].result = r;
        return r;
    }
    *out = b;
    return KVS_OK;
}

KVSDEF int kvs_store_fd(const kvs_store *s)
{
    KVS_ASSERT(s != NULL);
    return kvs_pool_fd(s->pool);
}

KVSDEF kvs_result kvs_store_reap(kvs_store *s, kvs_store_batch **out)
{
    kvs_batch *pb = NULL;
    kvs_result r;
    KVS_ASSERT(s != NULL && out != NULL);
    *out = NULL;
    r = kvs_pool_reap(s->pool, &pb);
    if (r != KVS_OK)
        return r;
    *out = (kvs_store_batch *)pb->owner;
    kvsi_sbatch_finish(*out);
    return KVS_OK;
}

KVSDEF kvs_result kvs_store_batch_poll(kvs_store_batch *b, size_t *count)
{
    KVS_ASSERT(b != NULL);
    if (b->pb != NULL && kvs_batch_poll(b->pb) != KVS_OK)
        return KVS_E_AGAIN;
    kvsi_sbatch_finish(b);
    if (count != NULL)
        *count = b->count;
    return b->result;
}

KVSDEF kvs_result kvs_store_batch_wait(kvs_store_batch *b, size_t *count)
{
    KVS_ASSERT(b != NULL);
    if (b->pb != NULL)
        (void)kvs_batch_wait(b->pb);
    kvsi_sbatch_finish(b);
    if (count != NULL)
        *count = b->count;
    return b->result;
}

KVSDEF kvs_result kvs_store_batch_free(kvs_store_batch *b)
{
    if (b == NULL)
        return KVS_OK;
    if (b->pb != NULL && kvs_batch_poll(b->pb) != KVS_OK)
        return KVS_E_BUSY;
    kvsi_sbatch_free_mem(b);
    return KVS_OK;
}

/* The synchronous batch calls: one item runs inline, more go to the pool. */
static kvs_result kvsi_store_batch_sync(kvs_store *s, kvs_batch_op op, kvs_item *items, size_t n, size_t *count)
{
    kvs_store_batch *b = NULL;
    kvs_result r;
    size_t c = 0;
    if (n == 1 && op != KVS_BATCH_GET_PREFIX) {
        kvsi_call call;
        call.s = s;
        call.op = op;
        call.item = &items[0];
        items[0].out_len = 0;
        r = kvsi_item_run(&call);
        if (op == KVS_BATCH_PUT) {
            c = r == KVS_OK ? 0 : 1;
        } else {
            c = r == KVS_OK ? 1 : 0;
            if (r == KVS_NOT_FOUND)
                r = KVS_OK;
        }
    } else {
        r = kvs_store_submit(s, op, items, n, &b);
        if (r == KVS_OK) {
            r = kvs_store_batch_wait(b, &c);
            (void)kvs_store_batch_free(b);
        }
    }
    if (count != NULL)
        *count = c;
    return r;
}

KVSDEF kvs_result kvs_store_put_batch(kvs_store *s, kvs_item *items, size_t n, size_t *failed)
{
    return kvsi_store_batch_sync(s, KVS_BATCH_PUT, items, n, failed);
}

KVSDEF kvs_result kvs_store_get_prefix(kvs_store *s, kvs_item *items, size_t n, size_t *loaded)
{
    return kvsi_store_batch_sync(s, KVS_BATCH_GET_PREFIX, items, n, loaded);
}

KVSDEF kvs_result kvs_store_exists_batch(kvs_store *s, kvs_item *items, size_t n, size_t *found)
{
    return kvsi_store_batch_sync(s, KVS_BATCH_EXISTS, items, n, found);
}
/* ===== END STORE COMMON ===== */

/* ===== BEGIN STORE RAW ===== */
static kvs_result kvsi_raw_open(kvs_store_config *cfg, const kvsi_engine_ops **ops, void **engine,
                                char *err, size_t err_cap)
{
    (void)cfg;
    *ops = NULL;
    *engine = NULL;
    (void)&kvsi_random64; /* used by the engines; referenced until they land */
    (void)&kvsi_now_ns;
    return kvsi_errf(err, err_cap, KVS_E_NOTSUP, "the raw-block store is not built yet");
}
/* ===== END STORE RAW ===== */

/* ===== BEGIN STORE FS ===== */
static kvs_result kvsi_fs_open(kvs_store_config *cfg, const kvsi_engine_ops **ops, void **engine,
                               char *err, size_t err_cap)
{
    (void)cfg;
    *ops = NULL;
    *engine = NULL;
    return kvsi_errf(err, err_cap, KVS_E_NOTSUP, "the filesystem store is not built yet");
}
/* ===== END STORE FS ===== */

#ifdef __cplusplus
}
#endif
