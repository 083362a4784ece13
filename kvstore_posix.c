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
        KVS_POSIX_USE_AIO      the raw store's large direct puts start the
                               payload write (Linux AIO) and compute its
                               CRC while it is in flight (default 1 on
                               Linux; 0: CRC first, then one write;
                               docs/STORES.md, "Put")
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
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Every file offset here is a uint64_t checked against INT64_MAX before it
   becomes an off_t: off_t must hold 64 bits, or offsets past 2 GiB would be
   cut silently. A 32-bit glibc build needs -D_FILE_OFFSET_BITS=64 (for
   this file only: no kvs_ type contains an off_t); without it the build
   stops here. */
typedef char kvsi_off_t_holds_64_bits[sizeof(off_t) >= 8 ? 1 : -1];
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
#ifndef KVS_POSIX_USE_AIO
#if defined(__linux__) && defined(SYS_io_setup) && defined(SYS_io_submit) && defined(SYS_io_getevents) && \
    defined(SYS_io_destroy)
#define KVS_POSIX_USE_AIO 1
#else
#define KVS_POSIX_USE_AIO 0
#endif
#endif
#if KVS_POSIX_USE_AIO
#include <linux/aio_abi.h>
#endif

#if defined(KVS_STATIC) && !defined(KVS_POSIX)
#define KVS_POSIX /* this file is the backend: its declarations are needed */
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
/* preadv/pwritev: Linux, the BSDs (macOS only from 11: per-segment there). */
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) || \
    defined(__DragonFly__)
#define KVSI_HAVE_PREADV 1
#else
#define KVSI_HAVE_PREADV 0
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
    case EMFILE: return KVS_E_NOMEM; /* out of descriptors: a resource, not a size */
    case ENFILE: return KVS_E_NOMEM;
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
/* A hook's error is -errno, and no errno is above 4095 (Linux's MAX_ERRNO;
   other systems stay far below it). An answer below -4095 is a hook's bug
   -- INT_MIN above all, which no caller could negate -- and reads as -EIO. */
#define KVSI_ERRNO_MAX 4095
static int kvsi_hook(int r)
{
    return r < -KVSI_ERRNO_MAX ? -EIO : r;
}
static int64_t kvsi_hook64(int64_t r)
{
    return r < -KVSI_ERRNO_MAX ? -EIO : r;
}

static int kvsi_sys_open(const kvs_sysops *o, const char *path, int flags, unsigned mode)
{
    int fd;
    /* EINTR is retried for hooks too, as for the real call */
    if (o != NULL && o->open != NULL) {
        do {
            fd = kvsi_hook(o->open(o->user, path, flags, mode));
        } while (fd == -EINTR);
        return fd;
    }
    do {
        fd = open(path, flags, (mode_t)mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int kvsi_sys_setfl(const kvs_sysops *o, int fd, int flags)
{
    if (o != NULL && o->setfl != NULL)
        return kvsi_hook(o->setfl(o->user, fd, flags));
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

static int64_t kvsi_sys_pread(const kvs_sysops *o, int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    if (o != NULL && o->pread != NULL)
        return kvsi_hook64(o->pread(o->user, fd, buf, len, off));
    if (off > (uint64_t)INT64_MAX)
        return -EOVERFLOW;
    n = pread(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

static int64_t kvsi_sys_pwrite(const kvs_sysops *o, int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    if (o != NULL && o->pwrite != NULL)
        return kvsi_hook64(o->pwrite(o->user, fd, buf, len, off));
    if (off > (uint64_t)INT64_MAX)
        return -EOVERFLOW;
    n = pwrite(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

/* Segments per vectored call: KVS_IOV_BATCH, or IOV_MAX when smaller. */
#if defined(IOV_MAX)
#define KVSI_IOV_N ((size_t)IOV_MAX < (size_t)KVS_IOV_BATCH ? (size_t)IOV_MAX : (size_t)KVS_IOV_BATCH)
#else
#define KVSI_IOV_N ((size_t)16) /* _XOPEN_IOV_MAX, the POSIX minimum */
#endif

/* A vector one segment at a time through the scalar wrappers (so a pread or
   pwrite hook sees every segment): stops at the first short segment. An
   error of any segment is the call's error (the caller repeats the call: a
   fault injected into any segment fails the transfer, as it failed one of
   the scalar calls before); an EINTR after some segments moved is a short
   transfer, as the kernel reports it (so a hook interrupting every other
   call cannot stop all progress). */
static int64_t kvsi_sys_rwv_each(const kvs_sysops *o, int wr, int fd, const struct iovec *iov, int cnt,
                                 uint64_t off)
{
    uint64_t total = 0;
    int i;
    for (i = 0; i < cnt; i++) {
        int64_t n = wr ? kvsi_sys_pwrite(o, fd, iov[i].iov_base, iov[i].iov_len, off + total)
                       : kvsi_sys_pread(o, fd, iov[i].iov_base, iov[i].iov_len, off + total);
        if (n == -EINTR && total > 0)
            break;
        if (n < 0)
            return n;
        if ((uint64_t)n > (uint64_t)iov[i].iov_len)
            return -EIO; /* a hook that lies */
        total += (uint64_t)n;
        if ((size_t)n < iov[i].iov_len)
            break;
    }
    return (int64_t)total;
}

/* preadv/pwritev of cnt (1..KVSI_IOV_N) segments: the preadv/pwritev hook;
   else, when the scalar call is hooked (or there is no preadv), segment by
   segment; else the real call. One segment is the scalar call. */
static int64_t kvsi_sys_rwv(const kvs_sysops *o, int wr, int fd, const struct iovec *iov, int cnt, uint64_t off)
{
    int64_t (*hv)(void *, int, const kvs_iovec *, int, uint64_t) =
        o == NULL ? NULL : wr ? o->pwritev : o->preadv;
    if (cnt == 1)
        return wr ? kvsi_sys_pwrite(o, fd, iov[0].iov_base, iov[0].iov_len, off)
                  : kvsi_sys_pread(o, fd, iov[0].iov_base, iov[0].iov_len, off);
    if (hv != NULL) {
        kvs_iovec kv[KVS_IOV_BATCH];
        int i;
        for (i = 0; i < cnt; i++) {
            kv[i].base = iov[i].iov_base;
            kv[i].len = iov[i].iov_len;
        }
        return kvsi_hook64(hv(o->user, fd, kv, cnt, off));
    }
    if (o != NULL && (wr ? o->pwrite != NULL : o->pread != NULL))
        return kvsi_sys_rwv_each(o, wr, fd, iov, cnt, off);
#if KVSI_HAVE_PREADV
    {
        ssize_t n;
        if (off > (uint64_t)INT64_MAX)
            return -EOVERFLOW;
        n = wr ? pwritev(fd, iov, cnt, (off_t)off) : preadv(fd, iov, cnt, (off_t)off);
        return n < 0 ? -(int64_t)errno : (int64_t)n;
    }
#else
    return kvsi_sys_rwv_each(o, wr, fd, iov, cnt, off);
#endif
}

/* fsync-like calls retry EINTR here so hooks and real calls behave alike. */
static int kvsi_sys_fsync(const kvs_sysops *o, int fd)
{
    int r;
    do {
        if (o != NULL && o->fsync != NULL)
            r = kvsi_hook(o->fsync(o->user, fd));
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
            r = kvsi_hook(o->fdatasync(o->user, fd));
        else
#if KVSI_HAVE_FDATASYNC
            r = fdatasync(fd) < 0 ? -errno : 0;
#else
            r = fsync(fd) < 0 ? -errno : 0;
#endif
    } while (r == -EINTR);
    return r;
}

/* Block reservation (kvs_sysops.fallocate). preallocate: the file layer's
   KVS_FILE_PREALLOC (real call posix_fallocate, which allocates by writing
   where the filesystem cannot); else the filesystem store's per-put
   reservation (real call fallocate(2) mode 0, -EOPNOTSUPP where there is
   none). EINTR is retried. */
static int kvsi_sys_fallocate(const kvs_sysops *o, int fd, uint64_t off, uint64_t len, int preallocate)
{
    int r;
    do {
        if (o != NULL && o->fallocate != NULL) {
            r = kvsi_hook(o->fallocate(o->user, fd, off, len));
        } else if (preallocate) {
#if KVSI_HAVE_FALLOCATE
            r = -posix_fallocate(fd, (off_t)off, (off_t)len);
#else
            r = -ENOTSUP;
#endif
        } else {
#if defined(__linux__)
            r = fallocate(fd, 0, (off_t)off, (off_t)len) != 0 ? -errno : 0;
#else
            r = -EOPNOTSUPP;
#endif
        }
    } while (r == -EINTR);
    return r;
}

static int kvsi_sys_rename(const kvs_sysops *o, const char *from, const char *to)
{
    if (o != NULL && o->rename != NULL)
        return kvsi_hook(o->rename(o->user, from, to));
    return rename(from, to) < 0 ? -errno : 0;
}

static int kvsi_sys_openat(const kvs_sysops *o, int dirfd, const char *path, int flags, unsigned mode)
{
    int fd;
    if (o != NULL && o->openat != NULL) {
        do {
            fd = kvsi_hook(o->openat(o->user, dirfd, path, flags, mode));
        } while (fd == -EINTR);
        return fd;
    }
    do {
        fd = openat(dirfd, path, flags, (mode_t)mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

/* open (dirfd AT_FDCWD) or openat, waiting out another process's lease
   (F_SETLEASE, a Samba oplock, an NFS delegation): an open with O_NONBLOCK
   that meets one answers EWOULDBLOCK and starts the lease's break; it is
   made again, still non-blocking, with a growing pause (100 us to 10 ms),
   for up to KVSI_LEASE_WAIT_MS, as long as the kernel lets a holder take
   to give a lease up (45 s by default). Never made blocking: the name may
   be a FIFO by then, whose blocking open would wait for a writer. -EBUSY
   when the lease outlasts the wait. */
#define KVSI_LEASE_WAIT_MS 60000u

/* One pause of a bounded wait whose pauses grow from 100 us to 10 ms
   (*waited_us and *step_us start at 0 and 100): 0, with no pause, once
   limit_ms have been waited; else 1 after the pause. */
static int kvsi_backoff(uint64_t *waited_us, uint64_t *step_us, uint64_t limit_ms)
{
    struct timespec ts;
    if (*waited_us >= limit_ms * 1000u)
        return 0;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)(*step_us * 1000u);
    (void)nanosleep(&ts, NULL);
    *waited_us += *step_us;
    *step_us = *step_us >= 5000u ? 10000u : *step_us * 2;
    return 1;
}

static int kvsi_open_leased(const kvs_sysops *o, int dirfd, const char *path, int flags, unsigned mode)
{
    uint64_t waited_us = 0, step_us = 100;
    for (;;) {
        int fd = dirfd == AT_FDCWD ? kvsi_sys_open(o, path, flags, mode) : kvsi_sys_openat(o, dirfd, path, flags, mode);
        if ((fd != -EWOULDBLOCK && fd != -EAGAIN) || !(flags & O_NONBLOCK))
            return fd;
        if (!kvsi_backoff(&waited_us, &step_us, KVSI_LEASE_WAIT_MS))
            return -EBUSY;
    }
}

static int kvsi_sys_renameat(const kvs_sysops *o, int fromdir, const char *from, int todir, const char *to)
{
    if (o != NULL && o->renameat != NULL)
        return kvsi_hook(o->renameat(o->user, fromdir, from, todir, to));
    return renameat(fromdir, from, todir, to) < 0 ? -errno : 0;
}

static int kvsi_sys_linkat(const kvs_sysops *o, int fromdir, const char *from, int todir, const char *to)
{
    if (o != NULL && o->linkat != NULL)
        return kvsi_hook(o->linkat(o->user, fromdir, from, todir, to));
    return linkat(fromdir, from, todir, to, 0) < 0 ? -errno : 0;
}

static int kvsi_sys_unlinkat(const kvs_sysops *o, int dirfd, const char *path, int flags)
{
    if (o != NULL && o->unlinkat != NULL)
        return kvsi_hook(o->unlinkat(o->user, dirfd, path, flags));
    return unlinkat(dirfd, path, flags) < 0 ? -errno : 0;
}

/* 0 or -errno. Never retried: the descriptor is gone either way (Linux
   releases it even on EINTR, which is therefore success). */
static int kvsi_sys_close(const kvs_sysops *o, int fd)
{
    int r;
    if (o != NULL && o->close != NULL)
        r = kvsi_hook(o->close(o->user, fd));
    else
        r = close(fd) != 0 ? -errno : 0;
    return r < 0 && r != -EINTR ? r : 0;
}

static uint64_t kvsi_mtime_ns(const struct stat *st)
{
#if defined(__APPLE__)
    return (uint64_t)st->st_mtimespec.tv_sec * 1000000000u + (uint64_t)st->st_mtimespec.tv_nsec;
#elif defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) || \
    defined(__DragonFly__)
    return (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
#else
    return (uint64_t)st->st_mtime * 1000000000u; /* whole seconds */
#endif
}

static void kvsi_status_of(const struct stat *sb, kvs_file_status *out)
{
    memset(out, 0, sizeof *out);
    out->type = S_ISREG(sb->st_mode)   ? KVS_FTYPE_REGULAR
                : S_ISDIR(sb->st_mode) ? KVS_FTYPE_DIRECTORY
                : S_ISBLK(sb->st_mode) ? KVS_FTYPE_BLOCKDEV
                : S_ISLNK(sb->st_mode) ? KVS_FTYPE_SYMLINK
                                       : KVS_FTYPE_OTHER;
    out->size = sb->st_size > 0 ? (uint64_t)sb->st_size : 0;
    out->blksize = sb->st_blksize > 0 ? (uint64_t)sb->st_blksize : 0;
    out->dev = (uint64_t)sb->st_dev;
    out->ino = (uint64_t)sb->st_ino;
    out->mtime_ns = kvsi_mtime_ns(sb);
}

KVSDEF int kvs_sys_fstat(int fd, kvs_file_status *out)
{
    struct stat sb;
    KVS_ASSERT(out != NULL);
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        memset(out, 0, sizeof *out);
        return -e;
    }
    kvsi_status_of(&sb, out);
    return 0;
}

KVSDEF int kvs_sys_fstatat(int dirfd, const char *path, kvs_file_status *out)
{
    struct stat sb;
    KVS_ASSERT(path != NULL && out != NULL);
    if (fstatat(dirfd, path, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        int e = errno;
        memset(out, 0, sizeof *out);
        return -e;
    }
    kvsi_status_of(&sb, out);
    return 0;
}

static int kvsi_sys_ftruncate(const kvs_sysops *o, int fd, uint64_t size)
{
    int r;
    if (size > (uint64_t)INT64_MAX)
        return -EFBIG;
    do {
        if (o != NULL && o->ftruncate != NULL)
            r = kvsi_hook(o->ftruncate(o->user, fd, size));
        else
            r = ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
    } while (r == -EINTR);
    return r < 0 ? r : 0;
}

static int kvsi_sys_mkdir(const kvs_sysops *o, const char *path, unsigned mode)
{
    int r;
    if (o != NULL && o->mkdir != NULL)
        r = kvsi_hook(o->mkdir(o->user, path, mode));
    else
        r = mkdir(path, (mode_t)mode) == 0 ? 0 : -errno;
    return r < 0 ? r : 0;
}

static int kvsi_sys_getfl(const kvs_sysops *o, int fd)
{
    int r;
    if (o != NULL && o->getfl != NULL)
        return kvsi_hook(o->getfl(o->user, fd));
    r = fcntl(fd, F_GETFL);
    return r < 0 ? -errno : r;
}

KVSDEF int kvs_sys_fadvise(int fd, uint64_t offset, uint64_t len, int advice)
{
#if defined(POSIX_FADV_WILLNEED)
    int adv, r;
    if (advice == KVS_FADV_SEQUENTIAL)
        adv = POSIX_FADV_SEQUENTIAL;
    else if (advice == KVS_FADV_WILLNEED)
        adv = POSIX_FADV_WILLNEED;
    else
        return -EINVAL;
    if (offset > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - offset)
        return -EINVAL;
    r = posix_fadvise(fd, (off_t)offset, (off_t)len, adv); /* returns the error number */
    return r == 0 ? 0 : -r;
#else
    (void)fd;
    (void)offset;
    (void)len;
#ifdef EOPNOTSUPP
    return advice == KVS_FADV_SEQUENTIAL || advice == KVS_FADV_WILLNEED ? -EOPNOTSUPP : -EINVAL;
#else
    return advice == KVS_FADV_SEQUENTIAL || advice == KVS_FADV_WILLNEED ? -ENOSYS : -EINVAL;
#endif
#endif
}

/* A hint: the answer is the hook's or the system's, and callers ignore it. */
static int kvsi_sys_fadvise(const kvs_sysops *o, int fd, uint64_t offset, uint64_t len, int advice)
{
    if (o != NULL && o->fadvise != NULL)
        return kvsi_hook(o->fadvise(o->user, fd, offset, len, advice));
    return kvs_sys_fadvise(fd, offset, len, advice);
}

KVSDEF int kvs_sys_lock(int fd, int how, uint64_t offset)
{
#if defined(F_OFD_SETLK)
    struct flock fl;
    int r;
    if ((how != KVS_LOCK_UN && how != KVS_LOCK_SH && how != KVS_LOCK_EX) || offset >= (uint64_t)INT64_MAX)
        return -EINVAL;
    memset(&fl, 0, sizeof fl); /* l_pid 0, as open-file-description locks need */
    fl.l_type = (short)(how == KVS_LOCK_SH ? F_RDLCK : how == KVS_LOCK_EX ? F_WRLCK : F_UNLCK);
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)offset;
    fl.l_len = 1;
    do {
        r = fcntl(fd, F_OFD_SETLK, &fl);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
#else
    (void)fd;
    (void)how;
    (void)offset;
    return -ENOSYS;
#endif
}

/* -EINTR is retried for hooks too, as for the real call. */
static int kvsi_sys_lock(const kvs_sysops *o, int fd, int how, uint64_t offset)
{
    int r;
    if (o == NULL || o->lock == NULL)
        return kvs_sys_lock(fd, how, offset);
    do {
        r = kvsi_hook(o->lock(o->user, fd, how, offset));
    } while (r == -EINTR);
    return r > 0 ? -EIO : r;
}

/* Errors of a lock probe that mean "no such locks here" rather than a
   failure: pins stay per handle, the raw store's device unguarded
   (kvs_store_stats.lock_errno). */
static int kvsi_lock_unsupported(int e)
{
    return e == EINVAL || e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS;
}

KVSDEF int kvs_sys_readdir(void *stream, const char **name)
{
    struct dirent *de;
    KVS_ASSERT(stream != NULL && name != NULL);
    errno = 0;
    de = readdir((DIR *)stream);
    if (de == NULL) {
        *name = NULL;
        return errno != 0 ? -errno : 0; /* NULL with errno unchanged: the end */
    }
    *name = de->d_name;
    return 1;
}

/* 1 with *name, 0 at the end, -errno (a hook's positive answer without a
   name is an error, never a name the library would read from NULL). */
static int kvsi_sys_readdir(const kvs_sysops *o, DIR *dp, const char **name)
{
    int r;
    *name = NULL;
    r = o != NULL && o->readdir != NULL ? kvsi_hook(o->readdir(o->user, (void *)dp, name))
                                          : kvs_sys_readdir((void *)dp, name);
    if (r < 0)
        return r;
    if (r == 0)
        return 0;
    return *name != NULL ? 1 : -EIO;
}

/* The result of a failed status call on a descriptor that is open: an
   error, never an answer a caller reads as the open's (no such file, a
   symlink, not supported), which would turn a failing device into a miss. */
static kvs_result kvsi_fstat_result(int neg)
{
    kvs_result r = kvs_result_from_errno(-neg);
    return r == KVS_E_NOENT || r == KVS_E_PATH || r == KVS_E_NOTSUP ? KVS_E_IO : r;
}

/* Through the hook when there is one; -EINTR retried, a positive answer
   is success. */
static int kvsi_sys_fstat(const kvs_sysops *o, int fd, kvs_file_status *st)
{
    int r;
    do {
        r = o != NULL && o->fstat != NULL ? kvsi_hook(o->fstat(o->user, fd, st)) : kvs_sys_fstat(fd, st);
    } while (r == -EINTR);
    return r < 0 ? r : 0;
}

static int kvsi_sys_fstatat(const kvs_sysops *o, int dirfd, const char *path, kvs_file_status *st)
{
    int r;
    do {
        r = o != NULL && o->fstatat != NULL ? kvsi_hook(o->fstatat(o->user, dirfd, path, st))
                                              : kvs_sys_fstatat(dirfd, path, st);
    } while (r == -EINTR);
    return r < 0 ? r : 0;
}

/* A descriptor nothing was written through, or one whose writes are being
   discarded on a path that already fails: its close's error changes
   nothing. (A written file's close is checked, even after an fsync.) */
static void kvsi_close_fd(const kvs_sysops *o, int fd)
{
    (void)kvsi_sys_close(o, fd);
}

/* ------------------------------------------------------------------------
   Files
   ------------------------------------------------------------------------ */
#define KVSI_DEFAULT_BOUNCE ((size_t)1 << 20)
#define KVSI_STALL_MAX 8

/* Counters updated with __atomic builtins are 8-byte aligned: on i386 a
   uint64_t in a struct is only 4-aligned, where an 8-byte atomic may tear (a
   stats read seeing half an update) or be a libatomic call. */
#define KVSI_A8 __attribute__((aligned(8)))
typedef uint64_t kvsi_a64 KVSI_A8;

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
    struct {                   /* kvs_file_stats, atomically kept */
        kvsi_a64 reads, writes, bytes_read, bytes_written, bounce_bytes, bounce_calls;
        kvsi_a64 pad_bytes, syscalls, short_transfers, eintr_retries, errors, direct_fallbacks;
    } st;
};

/* a when it is a complete custom allocator (both functions set), else NULL:
   the default one. */
static const kvs_allocator *kvsi_custom_alloc(const kvs_allocator *a)
{
    return (a != NULL && a->alloc != NULL && a->free != NULL) ? a : NULL;
}

static const kvs_allocator *kvsi_file_alloc(const kvs_file *f)
{
    return f->has_alloc ? &f->alloc : NULL;
}

static const kvs_sysops *kvsi_file_ops(const kvs_file *f)
{
    return f->has_ops ? &f->ops : NULL;
}

/* v == 0 adds nothing and is skipped: clang 14 on i386 turns an atomic add
   of a constant 0 into an atomic load that has lost the counter's 8-byte
   alignment, which it then makes a call to libatomic's __atomic_load. */
static void kvsi_add(kvsi_a64 *counter, uint64_t v)
{
    if (v != 0)
        (void)__atomic_fetch_add(counter, v, __ATOMIC_RELAXED);
}

static uint64_t kvsi_load(const kvsi_a64 *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* Small arithmetic shared by every part of this file: max and min of size_t
   and of uint64_t values, and rounding to a power of two. */
static size_t kvsi_max_sz(size_t a, size_t b) { return a > b ? a : b; }
static size_t kvsi_min_sz(size_t a, size_t b) { return a < b ? a : b; }
static uint64_t kvsi_max64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static uint64_t kvsi_min64(uint64_t a, uint64_t b) { return a < b ? a : b; }
/* v rounded up (kvsi_ru) or down (kvsi_rd) to a multiple of a power of two */
static uint64_t kvsi_ru(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
static uint64_t kvsi_rd(uint64_t v, uint64_t a) { return v & ~(a - 1); }

KVSDEF void kvs_file_config_init(kvs_file_config *cfg)
{
    KVS_ASSERT(cfg != NULL);
    memset(cfg, 0, sizeof *cfg);
}

/* Direct-I/O alignment of an open file: statx STATX_DIOALIGN, else the
   block device's logical sector size, else st_blksize. *dio_refused = 1 when
   statx says the file supports no direct I/O at all. */
static void kvsi_discover_align(int fd, const kvs_file_status *sb, int is_blk, kvs_file *f, int *dio_refused)
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
        size_t b = sb->blksize > 0 && sb->blksize <= KVS_ALIGN_MAX ? (size_t)sb->blksize : 4096;
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

/* kvs_file_open relative to dirfd (AT_FDCWD: the path as given, through the
   open hook; otherwise through the openat hook) with extra open(2) flags
   (O_NOFOLLOW, O_NONBLOCK...) or'ed in. */
static kvs_result kvsi_file_open_at(int dirfd, const char *path, const kvs_file_config *cfg_in, int extra,
                                    kvs_file **out)
{
    kvs_file_config cfg;
    kvs_file *f = NULL;
    void *mem = NULL;
    int fd = -1, oflags, is_blk, dio_refused, created_excl, r;
    kvs_file_status sb;
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
    if (kvsi_custom_alloc(cfg.alloc) != NULL) {
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

    /* O_NONBLOCK for reading: a FIFO's read-only open would otherwise wait
       for a writer before the type check below refuses it. It changes
       nothing for reads of a regular file or a block device (an open that
       meets a lease is made again until the lease is given up, below). */
    oflags = O_CLOEXEC | (f->read_only ? O_RDONLY | O_NONBLOCK : O_RDWR);
    if (cfg.flags & KVS_FILE_CREATE)
        oflags |= O_CREAT;
    if (cfg.flags & KVS_FILE_EXCL)
        oflags |= O_EXCL;
    created_excl = (cfg.flags & KVS_FILE_EXCL) ? 1 : 0;

    /* Open buffered first (creation, truncation and sizing never depend on
       O_DIRECT), then switch O_DIRECT on with F_SETFL: a filesystem that
       refuses it answers EINVAL there, and nothing has to be re-opened.
       Truncation and growth come last, once nothing can fail the open but
       their own calls: an open refused (KVS_E_NODIRECT, a block device too
       small) leaves an existing file as it was. */
    oflags |= extra;
    /* another process's lease: waited out, non-blocking (kvsi_open_leased) */
    fd = kvsi_open_leased(ops, dirfd, path, oflags, cfg.mode ? cfg.mode : 0644u);
    if (fd < 0) {
        /* a directory opened for writing, a socket (ENXIO), a device
           without a driver (ENXIO, ENODEV): as any other non-file, below */
        res = fd == -EISDIR || fd == -ENXIO || fd == -ENODEV ? KVS_E_NOTSUP : kvs_result_from_errno(-fd);
        fd = -1;
        created_excl = 0;
        goto fail;
    }
    f->fd = fd;
    r = kvsi_sys_fstat(ops, fd, &sb);
    if (r < 0) {
        res = kvsi_fstat_result(r);
        goto fail;
    }
    is_blk = sb.type == KVS_FTYPE_BLOCKDEV ? 1 : 0;
    if (!is_blk && sb.type != KVS_FTYPE_REGULAR) {
        res = KVS_E_NOTSUP;
        goto fail;
    }
    f->is_blockdev = is_blk;

    if (cfg.size != 0 && is_blk) {
        uint64_t dev = 0;
        res = kvsi_blockdev_size(fd, &dev);
        if (res != KVS_OK)
            goto fail;
        if (cfg.size > dev) {
            res = KVS_E_NOSPC;
            goto fail;
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
    if (!is_blk && sb.blksize > 0 && kvs_is_pow2(sb.blksize) && sb.blksize <= ((uint64_t)64 << 10) &&
        (size_t)sb.blksize > f->tail_pad)
        f->tail_pad = (size_t)sb.blksize;
    f->bounce = cfg.bounce_bytes ? cfg.bounce_bytes : KVSI_DEFAULT_BOUNCE;
    f->bounce -= f->bounce % f->unit;
    if (f->bounce == 0)
        f->bounce = f->unit;

    if (cfg.direct != KVS_DIRECT_OFF) {
        int refused = dio_refused;
#ifdef O_DIRECT
        if (!refused) {
            int cur = kvsi_sys_getfl(ops, fd);
            if (cur < 0) {
                res = kvs_result_from_errno(-cur);
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

    /* A regular file only: O_TRUNC leaves a block device as it is, and so
       does this. */
    if (!is_blk && (cfg.flags & KVS_FILE_TRUNC) && sb.size > 0) {
        r = -kvsi_sys_ftruncate(ops, fd, 0);
        if (r != 0) {
            res = kvs_result_from_errno(r);
            goto fail;
        }
        sb.size = 0;
    }
    if (!is_blk && sb.size < cfg.size) {
        if (cfg.flags & KVS_FILE_PREALLOC)
            r = -kvsi_sys_fallocate(ops, fd, 0, cfg.size, 1);
        else
            r = -kvsi_sys_ftruncate(ops, fd, cfg.size);
        if (r != 0) {
            res = kvs_result_from_errno(r);
            goto fail;
        }
    }
    *out = f;
    return KVS_OK;

fail:
    if (fd >= 0)
        kvsi_close_fd(ops, fd);
    if (created_excl) {
        /* we created it; leave no half-configured file */
        if (dirfd == AT_FDCWD)
            (void)unlink(path);
        else
            (void)kvsi_sys_unlinkat(ops, dirfd, path, 0);
    }
    kvs_aligned_free(cfg.alloc, mem, sizeof(kvs_file), sizeof(void *) * 2);
    return res;
}

KVSDEF kvs_result kvs_file_open(const char *path, const kvs_file_config *cfg_in, kvs_file **out)
{
    return kvsi_file_open_at(AT_FDCWD, path, cfg_in, 0, out);
}

/* Which file a descriptor is: device, inode and modification time. An
   object file is never written after its rename, and a replacement is a
   new file (a new inode while the old one is still linked). A reused inode
   number usually comes with a later mtime, but not within one tick of a
   coarse timestamp clock (Linux before 6.13): the known-file get relies on
   this identity only together with an unpadded size and the CRC. */
typedef struct kvsi_fid {
    uint64_t dev, ino, mtime_ns;
} kvsi_fid;

static void kvsi_fid_of(const kvs_file_status *sb, kvsi_fid *id)
{
    id->dev = sb->dev;
    id->ino = sb->ino;
    id->mtime_ns = sb->mtime_ns;
}

static int kvsi_fid_eq(const kvsi_fid *a, const kvsi_fid *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->mtime_ns == b->mtime_ns;
}

/* Open `path` under dirfd like `tmpl`, a file opened by kvsi_file_open_at
   earlier in the same directory with the same policy, allocator and
   sysops: O_DIRECT goes straight into the open flags and the alignment is
   copied, not discovered again. One openat, plus one fstat unless the file
   is created here (O_CREAT|O_EXCL: a regular file by construction, empty).
   The filesystem store opens every object file this way (statx, F_GETFL
   and F_SETFL are three system calls per object saved).

   cfg: flags RDONLY, or CREATE|EXCL; mode; alloc and sysops as for tmpl.
   *size: the file's size at open; id (may be NULL): with RDONLY, which
   file it is. Anything but a regular file is KVS_E_NOTSUP. If the
   filesystem refuses O_DIRECT at open after all (EINVAL), the file goes
   through kvsi_file_open_at, which applies the
   policy (fallback, or KVS_E_NODIRECT under REQUIRE); a file this call
   created is removed first. */
static kvs_result kvsi_file_open_like(int dirfd, const char *path, const kvs_file_config *cfg, int extra,
                                      const kvs_file *tmpl, uint64_t *size, kvsi_fid *id, kvs_file **out)
{
    kvs_file *f;
    void *mem = NULL;
    int fd, oflags, excl = (cfg->flags & KVS_FILE_EXCL) != 0;
    kvs_file_status sb;
    kvs_result res;
    const kvs_sysops *ops = cfg->sysops;

    KVS_ASSERT(out != NULL && size != NULL && tmpl != NULL);
    KVS_ASSERT(cfg->flags == KVS_FILE_RDONLY || cfg->flags == (KVS_FILE_CREATE | KVS_FILE_EXCL));
    *out = NULL;
    *size = 0;
    if (path == NULL || path[0] == '\0')
        return KVS_E_INVAL;
    oflags = O_CLOEXEC | extra | (excl ? O_RDWR | O_CREAT | O_EXCL : O_RDONLY);
#ifdef O_DIRECT
    if (tmpl->direct)
        oflags |= O_DIRECT;
#endif
    /* a lease another process holds on the file: waited out */
    fd = kvsi_open_leased(ops, dirfd, path, oflags, cfg->mode ? cfg->mode : 0644u);
    if (fd == -ENXIO || fd == -ENODEV)
        return KVS_E_NOTSUP; /* a socket, a device without a driver: not a regular file */
    if (fd == -EINVAL && tmpl->direct) {
        if (excl)
            (void)kvsi_sys_unlinkat(ops, dirfd, path, 0);
        res = kvsi_file_open_at(dirfd, path, cfg, extra, out);
        if (res == KVS_OK && !excl) {
            /* kvsi_file_open_at also takes block devices: not here */
            int sr = kvsi_sys_fstat(ops, kvs_file_fd(*out), &sb);
            if (sr < 0)
                res = kvsi_fstat_result(sr);
            else if (sb.type != KVS_FTYPE_REGULAR)
                res = KVS_E_NOTSUP;
            if (res != KVS_OK) {
                (void)kvs_file_close(*out);
                *out = NULL;
                return res;
            }
            *size = sb.size;
            if (id != NULL)
                kvsi_fid_of(&sb, id);
        }
        return res;
    }
    if (fd < 0)
        return kvs_result_from_errno(-fd);
    if (!excl) {
        int sr = kvsi_sys_fstat(ops, fd, &sb);
        if (sr < 0) {
            kvsi_close_fd(ops, fd);
            return kvsi_fstat_result(sr);
        }
        if (sb.type != KVS_FTYPE_REGULAR) {
            kvsi_close_fd(ops, fd);
            return KVS_E_NOTSUP;
        }
        *size = sb.size;
        if (id != NULL)
            kvsi_fid_of(&sb, id);
    }
    res = kvs_aligned_alloc(cfg->alloc, sizeof(kvs_file), sizeof(void *) * 2, &mem);
    if (res != KVS_OK) {
        kvsi_close_fd(ops, fd);
        if (excl)
            (void)kvsi_sys_unlinkat(ops, dirfd, path, 0);
        return res;
    }
    f = (kvs_file *)mem;
    *f = *tmpl;
    memset(&f->st, 0, sizeof f->st);
    f->st.direct_fallbacks = tmpl->fell_back ? 1 : 0;
    f->fd = fd;
    f->read_only = !excl;
    f->is_blockdev = 0;
    *out = f;
    return KVS_OK;
}

KVSDEF kvs_result kvs_file_close(kvs_file *f)
{
    kvs_result res = KVS_OK;
    kvs_allocator a;
    int has;
    if (f == NULL)
        return KVS_OK;
    if (f->fd >= 0) {
        int r = kvsi_sys_close(kvsi_file_ops(f), f->fd);
        if (r < 0)
            res = kvs_result_from_errno(-r);
    }
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
    kvs_file_status sb;
    KVS_ASSERT(f != NULL && out != NULL);
    *out = 0;
    if (f->is_blockdev)
        return kvsi_blockdev_size(f->fd, out);
    {
        int r = kvsi_sys_fstat(kvsi_file_ops(f), f->fd, &sb);
        if (r < 0)
            return kvsi_fstat_result(r);
    }
    *out = sb.size;
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

/* One call's outcome in the transfer loops (kvsi_xfer, kvsi_xferv): the call
   asked for ask bytes at position done of the transfer and returned n (bytes
   moved, or -errno). Counts it in f's statistics and moves the high-water
   mark *hw and the stall count *stall. Returns 1 when the loop calls again
   (after EINTR the mark has not moved, so from where it was), 0 when it
   ends: *r is KVS_OK for a read that has its `need` bytes, else the error. */
static int kvsi_xfer_step(kvs_file *f, int wr, int64_t n, size_t ask, size_t done, size_t need, size_t *hw,
                          unsigned *stall, kvs_result *r)
{
    *r = KVS_OK;
    if (n < 0) {
        if (n == -EINTR) {
            kvsi_add(&f->st.eintr_retries, 1);
            return 1;
        }
        kvsi_add(&f->st.errors, 1);
        *r = kvs_result_from_errno((int)-n);
        return 0;
    }
    if ((uint64_t)n > (uint64_t)ask) { /* a hook that lies */
        kvsi_add(&f->st.errors, 1);
        *r = KVS_E_IO;
        return 0;
    }
    if ((size_t)n < ask)
        kvsi_add(&f->st.short_transfers, 1);
    if (n == 0 && !wr) {
        if (*hw >= need)
            return 0;
        kvsi_add(&f->st.errors, 1);
        *r = KVS_E_EOF;
        return 0;
    }
    if (done + (size_t)n > *hw) {
        *hw = done + (size_t)n;
        *stall = 0;
    } else if (++*stall > KVSI_STALL_MAX) {
        if (!wr && *hw >= need)
            return 0;
        kvsi_add(&f->st.errors, 1);
        *r = wr ? KVS_E_IO : KVS_E_EOF;
        return 0;
    }
    if (!wr && (size_t)n < ask && *hw >= need)
        return 0; /* end of file inside the padding: we have what we need */
    return 1;
}

/* The full-transfer loop. Moves len bytes at off; a read is satisfied once
   `need` (<= len) bytes arrived and may stop early at end of file after
   that. Short transfers continue, EINTR retries. In direct mode a short
   transfer that ends off the alignment unit resumes from the unit boundary
   below it (the few bytes are moved again: same data, so harmless), since
   O_DIRECT cannot start there. More than KVSI_STALL_MAX calls in a row
   without progress end the loop (KVS_E_EOF for reads, KVS_E_IO for
   writes). */
static kvs_result kvsi_xfer(kvs_file *f, int wr, uint64_t off, unsigned char *buf, size_t len,
                            size_t need, size_t *got)
{
    const kvs_sysops *ops = kvsi_file_ops(f);
    size_t done = 0, hw = 0, unit = f->direct ? f->unit : 1;
    unsigned stall = 0;
    kvs_result r;
    *got = 0;
    while (hw < len) {
        size_t ask = len - done;
        int64_t n;
        kvsi_add(&f->st.syscalls, 1);
        if (wr)
            n = kvsi_sys_pwrite(ops, f->fd, buf + done, ask, off + done);
        else
            n = kvsi_sys_pread(ops, f->fd, buf + done, ask, off + done);
        if (!kvsi_xfer_step(f, wr, n, ask, done, need, &hw, &stall, &r)) {
            if (r != KVS_OK)
                return r;
            break;
        }
        done = hw - hw % unit;
    }
    *got = hw;
    return KVS_OK;
}

/* Bounce block: the caller's scratch when it is aligned and holds at least
   need bytes (a unit for a transfer in pieces, the whole padded tail for
   the fast path's one transfer), else one of want bytes from the file's
   allocator. */
typedef struct kvsi_bounce {
    unsigned char *p;
    size_t size;
    int owned;
} kvsi_bounce;

static kvs_result kvsi_bounce_get(kvs_file *f, size_t want, size_t need, unsigned char *scratch,
                                  size_t scratch_len, kvsi_bounce *b)
{
    void *mem = NULL;
    kvs_result r;
    b->p = NULL;
    b->size = 0;
    b->owned = 0;
    scratch_len -= scratch_len % f->unit; /* the whole units of it */
    if (scratch != NULL && kvs_ptr_is_aligned(scratch, f->unit) && scratch_len >= kvsi_max_sz(need, f->unit)) {
        b->p = scratch;
        b->size = kvsi_min_sz(want, scratch_len);
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
    if (f->direct && wr && !kvs_is_aligned(off, f->align))
        return KVS_E_ALIGN; /* documented: no read-modify-write of edge blocks */
    kvsi_add(wr ? &f->st.writes : &f->st.reads, 1);

    if (!f->direct) {
        r = kvsi_xfer(f, wr, off, buf, len, len, &got);
    } else if (kvs_is_aligned(off, f->align) && kvs_ptr_is_aligned(buf, f->buf_align)) {
        /* The fast path: aligned prefix straight from/to the caller. */
        kvs_io_plan plan;
        r = wr ? kvsi_plan(f, off, len, &plan)
               : kvs_io_plan_make(off, (uint64_t)len, (uint64_t)f->align, &plan);
        if (r == KVS_OK && plan.direct > 0)
            r = kvsi_xfer(f, wr, off, buf, (size_t)plan.direct, (size_t)plan.direct, &got);
        if (r == KVS_OK && plan.tail > 0) {
            kvsi_bounce b;
            r = kvsi_bounce_get(f, (size_t)plan.bounce, (size_t)plan.bounce, scratch, scratch_len, &b);
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
        r = kvsi_bounce_get(f, want, f->unit, scratch, scratch_len, &b);
        if (r == KVS_OK) {
            while (pos < end && r == KVS_OK) {
                size_t clen = (size_t)((end - pos) < (uint64_t)b.size ? (end - pos) : (uint64_t)b.size);
                uint64_t lo = pos > off ? pos : off;
                uint64_t hi = pos + clen < off + len ? pos + clen : off + len;
                if (wr) {
                    /* off is aligned here, so lo == pos; a piece of the
                       padding past the data (tail_pad above the bounce
                       size) carries none of it */
                    size_t data = hi > lo ? (size_t)(hi - lo) : 0;
                    if (data > 0)
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

/* ---- vectored transfers ---- */

/* kvsi_xfer over cnt (1..KVSI_IOV_N) segments of len bytes in all, at off;
   direct: every segment buffer-aligned and a multiple of f->align long. A
   short transfer resumes inside the vector: at the high-water mark
   (buffered), or at the last unit boundary below it within its segment
   (direct: a few bytes moved again, as in kvsi_xfer). iov[] is patched
   during a call and restored. */
static kvs_result kvsi_xferv(kvs_file *f, int wr, uint64_t off, struct iovec *iov, int cnt, size_t len,
                             size_t need)
{
    const kvs_sysops *ops = kvsi_file_ops(f);
    size_t done = 0, hw = 0, unit = f->direct ? f->unit : 1;
    unsigned stall = 0;
    kvs_result r;
    while (hw < len) {
        size_t ask = len - done, pos = 0;
        int j = 0;
        struct iovec save;
        int64_t n;
        while (pos + iov[j].iov_len <= done)
            pos += iov[j++].iov_len;
        save = iov[j];
        iov[j].iov_base = (unsigned char *)iov[j].iov_base + (done - pos);
        iov[j].iov_len -= done - pos;
        kvsi_add(&f->st.syscalls, 1);
        n = kvsi_sys_rwv(ops, wr, f->fd, iov + j, cnt - j, off + done);
        iov[j] = save;
        if (!kvsi_xfer_step(f, wr, n, ask, done, need, &hw, &stall, &r)) {
            if (r != KVS_OK)
                return r;
            break;
        }
        if (hw >= len)
            break;
        for (pos = 0, j = 0; pos + iov[j].iov_len <= hw; j++)
            pos += iov[j].iov_len;
        done = pos + (hw - pos) - (hw - pos) % unit;
    }
    return KVS_OK;
}

/* A position in the caller's vector: segment i, byte k of it. */
typedef struct kvsi_vcur {
    const kvs_iovec *iov;
    size_t n, i, k;
} kvsi_vcur;

static void kvsi_vcur_fix(kvsi_vcur *c)
{
    while (c->i < c->n && c->k >= c->iov[c->i].len) {
        c->i++;
        c->k = 0;
    }
}

/* Move the cursor over len caller bytes, copying them to mem (out = 1),
   from mem (out = 0), or not at all (mem NULL). */
static void kvsi_vcopy(kvsi_vcur *c, unsigned char *mem, size_t len, int out)
{
    while (len > 0) {
        size_t take;
        unsigned char *p;
        kvsi_vcur_fix(c);
        take = kvsi_min_sz(len, c->iov[c->i].len - c->k);
        p = (unsigned char *)c->iov[c->i].base + c->k;
        if (mem != NULL) {
            if (out)
                memcpy(mem, p, take);
            else
                memcpy(p, mem, take);
            mem += take;
        }
        len -= take;
        c->k += take;
    }
}

/* The pieces of a direct vectored transfer, in file order. A piece starts
   on f->align and is a multiple of it: either caller memory moved straight
   (an aligned buffer at an aligned file position, rounded down to the
   unit) or a bounce block from the file position up to the end of the
   current segment rounded up to the unit (and through the padding when
   that reaches the end of the data), at most `room` bytes. */
typedef struct kvsi_vplan {
    kvsi_vcur cur;       /* next caller byte                              */
    uint64_t c;          /* its file position                             */
    uint64_t p;          /* file position of the next piece (<= c)        */
    uint64_t lim;        /* end of the pieces: data end, padded           */
    uint64_t dend;       /* end of the caller's data                      */
} kvsi_vplan;

typedef struct kvsi_vpiece {
    int direct;
    unsigned char *ptr;  /* direct: the caller's memory                   */
    uint64_t pos, len;
    kvsi_vcur from;      /* bounce: its first caller byte                 */
    uint64_t skip;       /* bounce: bytes before that byte (a read's head) */
    uint64_t data;       /* bounce: caller bytes in it                    */
} kvsi_vpiece;

static int kvsi_vplan_direct(const kvs_file *f, kvsi_vplan *s)
{
    const kvs_iovec *v;
    kvsi_vcur_fix(&s->cur);
    if (s->c != s->p || s->cur.i >= s->cur.n)
        return 0;
    v = &s->cur.iov[s->cur.i];
    return v->len - s->cur.k >= f->align && kvs_ptr_is_aligned((unsigned char *)v->base + s->cur.k, f->buf_align);
}

/* The next piece (s->p < s->lim; room >= f->align unless it is direct). */
static void kvsi_vplan_next(const kvs_file *f, kvsi_vplan *s, uint64_t room, kvsi_vpiece *pc)
{
    uint64_t a = (uint64_t)f->align, q;
    pc->pos = s->p;
    if (kvsi_vplan_direct(f, s)) {
        const kvs_iovec *v = &s->cur.iov[s->cur.i];
        pc->direct = 1;
        pc->ptr = (unsigned char *)v->base + s->cur.k;
        pc->len = kvsi_rd((uint64_t)(v->len - s->cur.k), a);
        pc->skip = pc->data = 0;
        pc->from = s->cur;
        s->cur.k += (size_t)pc->len;
        s->c += pc->len;
        s->p += pc->len;
        return;
    }
    pc->direct = 0;
    pc->ptr = NULL;
    pc->from = s->cur;
    pc->skip = s->c - s->p;
    q = s->cur.i < s->cur.n ? kvsi_ru(s->c + (uint64_t)(s->cur.iov[s->cur.i].len - s->cur.k), a) : s->lim;
    if (q >= s->dend)
        q = s->lim;
    if (q - s->p > room)
        q = s->p + room;
    pc->len = q - s->p;
    pc->data = (q < s->dend ? q : s->dend) - s->c;
    kvsi_vcopy(&s->cur, NULL, (size_t)pc->data, 0);
    s->c += pc->data;
    s->p = q;
}

static kvs_result kvsi_file_rwv(kvs_file *f, int wr, uint64_t off, const kvs_iovec *iov, size_t n)
{
    kvs_result r = KVS_OK;
    size_t total = 0, i;
    if (n > 0 && iov == NULL)
        return KVS_E_INVAL;
    for (i = 0; i < n; i++) {
        if (iov[i].len > 0 && iov[i].base == NULL)
            return KVS_E_INVAL;
        if (iov[i].len > (size_t)-1 - total)
            return KVS_E_OVERFLOW;
        total += iov[i].len;
    }
    if (total == 0)
        return KVS_OK;
    if (wr && f->read_only)
        return KVS_E_PERM;
    if ((uint64_t)total > UINT64_MAX - off || off + (uint64_t)total > (uint64_t)INT64_MAX)
        return KVS_E_OVERFLOW;
    if (f->direct && wr && !kvs_is_aligned(off, f->align))
        return KVS_E_ALIGN; /* as kvs_file_write: refused, uncounted */
    kvsi_add(wr ? &f->st.writes : &f->st.reads, 1);

    if (!f->direct) {
        uint64_t pos = off;
        i = 0;
        while (r == KVS_OK && i < n) {
            struct iovec v[KVS_IOV_BATCH];
            int cnt = 0;
            size_t blen = 0;
            for (; i < n && (size_t)cnt < KVSI_IOV_N; i++) {
                if (iov[i].len == 0)
                    continue;
                v[cnt].iov_base = iov[i].base;
                v[cnt].iov_len = iov[i].len;
                blen += iov[i].len;
                cnt++;
            }
            if (cnt == 0)
                break;
            r = kvsi_xferv(f, wr, pos, v, cnt, blen, blen);
            pos += (uint64_t)blen;
        }
    } else {
        uint64_t a = (uint64_t)f->align, unit = (uint64_t)f->unit, bneed = 0;
        kvsi_vplan s, d;
        kvsi_vpiece pc;
        kvsi_bounce b;
        int bounced = 0;
        s.cur.iov = iov;
        s.cur.n = n;
        s.cur.i = s.cur.k = 0;
        s.c = off;
        s.p = kvsi_rd(off, a);
        s.dend = off + (uint64_t)total;
        if (wr) { /* the same on-disk length as kvs_file_write */
            kvs_io_plan plan;
            r = kvsi_plan(f, off, total, &plan);
            if (r != KVS_OK)
                return r;
            s.lim = off + plan.padded;
        } else {
            s.lim = kvsi_ru(s.dend, a);
        }
        if (s.lim - s.p > (uint64_t)((size_t)-1))
            return KVS_E_OVERFLOW;
        /* Dry run: the bounce bytes it takes, to size the bounce block. */
        for (d = s; d.p < d.lim;) {
            kvsi_vplan_next(f, &d, kvsi_rd((uint64_t)INT64_MAX, a), &pc);
            if (!pc.direct)
                bneed += kvsi_ru(pc.len, unit);
        }
        b.p = NULL;
        b.size = 0;
        b.owned = 0;
        if (bneed > 0)
            r = kvsi_bounce_get(f, bneed < (uint64_t)f->bounce ? (size_t)bneed : f->bounce, f->unit, NULL, 0, &b);
        while (r == KVS_OK && s.p < s.lim) {
            struct iovec v[KVS_IOV_BATCH];
            kvsi_vpiece bp[KVS_IOV_BATCH];
            unsigned char *bm[KVS_IOV_BATCH];
            int cnt = 0, nb = 0, k;
            uint64_t bpos = s.p, used = 0, blen = 0, need;
            while ((size_t)cnt < KVSI_IOV_N && s.p < s.lim) {
                uint64_t room = (uint64_t)b.size - used;
                if (!kvsi_vplan_direct(f, &s) && room < a)
                    break;
                kvsi_vplan_next(f, &s, room, &pc);
                if (pc.direct) {
                    v[cnt].iov_base = pc.ptr;
                } else {
                    unsigned char *m = b.p + used;
                    v[cnt].iov_base = m;
                    bp[nb] = pc;
                    bm[nb++] = m;
                    used += kvsi_ru(pc.len, unit);
                    if (wr) { /* skip is 0: the offset is aligned */
                        kvsi_vcur cc = pc.from;
                        kvsi_vcopy(&cc, m, (size_t)pc.data, 1);
                        memset(m + pc.data, 0, (size_t)(pc.len - pc.data));
                    }
                }
                v[cnt++].iov_len = (size_t)pc.len;
                blen += pc.len;
            }
            if (cnt == 0) { /* cannot happen: the dry run sized the block */
                r = KVS_E_IO;
                break;
            }
            need = wr ? blen : (s.dend - bpos < blen ? s.dend - bpos : blen);
            r = kvsi_xferv(f, wr, bpos, v, cnt, (size_t)blen, (size_t)need);
            if (r != KVS_OK)
                break;
            for (k = 0; k < nb; k++) {
                if (!wr) {
                    kvsi_vcur cc = bp[k].from;
                    kvsi_vcopy(&cc, bm[k] + bp[k].skip, (size_t)bp[k].data, 0);
                } else {
                    kvsi_add(&f->st.pad_bytes, bp[k].len - bp[k].data);
                }
                kvsi_add(&f->st.bounce_bytes, bp[k].data);
                bounced = 1;
            }
        }
        if (b.p != NULL)
            kvsi_bounce_put(f, &b);
        if (bounced)
            kvsi_add(&f->st.bounce_calls, 1);
    }
    if (r == KVS_OK)
        kvsi_add(wr ? &f->st.bytes_written : &f->st.bytes_read, (uint64_t)total);
    return r;
}

KVSDEF kvs_result kvs_file_readv(kvs_file *f, uint64_t offset, const kvs_iovec *iov, size_t n)
{
    KVS_ASSERT(f != NULL);
    return kvsi_file_rwv(f, 0, offset, iov, n);
}

KVSDEF kvs_result kvs_file_writev(kvs_file *f, uint64_t offset, const kvs_iovec *iov, size_t n)
{
    KVS_ASSERT(f != NULL);
    return kvsi_file_rwv(f, 1, offset, iov, n);
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
   A direct write in flight while the caller works (Linux AIO)
   ------------------------------------------------------------------------
   The raw store's put must compute the payload's CRC32C before it can
   write the header that holds it. Done first, that is a serial step: about
   0.1 ms per 2 MiB on the development VM (data a device or another core
   just wrote is not in this core's caches), 15% of a 2 MiB direct write at
   4 GB/s. kvsi_aiow_start submits the payload write with io_submit and
   returns at once; the caller computes the CRC and writes the header while
   the payload is on its way; kvsi_aiow_finish waits for it. A write that
   is refused at submit time is done synchronously by kvsi_aiow_finish, a
   short one is finished with kvs_file_write, and the caller's buffer is
   never used after kvsi_aiow_finish returns, on any path. AIO is only
   asynchronous for direct I/O on allocated blocks, which is what a raw
   store's slots are. */

#define KVSI_AIO_CACHE 64 /* idle contexts kept per store */
#ifndef KVSI_OVL_MIN
#define KVSI_OVL_MIN ((size_t)1 << 20) /* payload bytes worth overlapping */
#endif
#ifndef KVSI_AIO_RES /* a test's seam: what a completion reports */
#define KVSI_AIO_RES(res, len) (res)
#endif

/* AIO contexts of a store: one per concurrent overlapped write, kept for
   the next (io_setup and io_destroy are slow). */
typedef struct kvsi_aio {
    pthread_mutex_t mu;
    int ready;                        /* mu initialised                        */
    int err;                          /* io_setup's errno when it was refused  */
    size_t n;
    unsigned long ctx[KVSI_AIO_CACHE];
    kvsi_a64 overlapped;              /* writes overlapped (atomic)            */
} kvsi_aio;

static void kvsi_aio_init(kvsi_aio *a)
{
    memset(a, 0, sizeof *a);
#if !KVS_POSIX_USE_AIO
    a->err = ENOSYS;
#endif
    a->ready = pthread_mutex_init(&a->mu, NULL) == 0;
    if (!a->ready)
        a->err = ENOMEM;
}

static void kvsi_aio_destroy(kvsi_aio *a)
{
    if (!a->ready)
        return;
#if KVS_POSIX_USE_AIO
    while (a->n > 0)
        (void)syscall(SYS_io_destroy, (aio_context_t)a->ctx[--a->n]);
#endif
    pthread_mutex_destroy(&a->mu);
    a->ready = 0;
}

/* 0, or why overlapped writes are off */
static int kvsi_aio_errno(kvsi_aio *a)
{
    int e;
    if (!a->ready)
        return a->err;
    pthread_mutex_lock(&a->mu);
    e = a->err;
    pthread_mutex_unlock(&a->mu);
    return e;
}

#if KVS_POSIX_USE_AIO
/* Back to the store's idle contexts, or destroyed when there are enough. */
static void kvsi_aio_give(kvsi_aio *a, aio_context_t ctx)
{
    pthread_mutex_lock(&a->mu);
    if (a->n < KVSI_AIO_CACHE) {
        a->ctx[a->n++] = (unsigned long)ctx;
        ctx = 0;
    }
    pthread_mutex_unlock(&a->mu);
    if (ctx != 0)
        (void)syscall(SYS_io_destroy, ctx);
}
#endif

typedef struct kvsi_aiow {
    kvsi_aio *a;
    kvs_file *f;
    uint64_t off;
    const unsigned char *buf;
    size_t len;
    int live;                         /* submitted and not yet reaped          */
#if KVS_POSIX_USE_AIO
    aio_context_t ctx;
    struct iocb cb;
#endif
} kvsi_aiow;

/* Start writing len bytes of buf at off (direct, aligned). Whether or not
   it could be submitted, kvsi_aiow_finish completes it. With write hooks
   installed (kvs_sysops) nothing is submitted: kvsi_aiow_finish writes
   through the hooks, so a test can fail or shorten it. */
static void kvsi_aiow_start(kvsi_aiow *w, kvsi_aio *a, kvs_file *f, uint64_t off, const void *buf, size_t len)
{
    w->a = a;
    w->f = f;
    w->off = off;
    w->buf = (const unsigned char *)buf;
    w->len = len;
    w->live = 0;
#if KVS_POSIX_USE_AIO
    if (!(f->has_ops && (f->ops.pwrite != NULL || f->ops.pwritev != NULL))) {
        struct iocb *cbp = &w->cb;
        int have = 0, off_for_good;
        pthread_mutex_lock(&a->mu);
        off_for_good = a->err != 0;
        if (!off_for_good && a->n > 0) {
            w->ctx = (aio_context_t)a->ctx[--a->n];
            have = 1;
        }
        pthread_mutex_unlock(&a->mu);
        if (!have && !off_for_good) {
            w->ctx = 0;
            if (syscall(SYS_io_setup, 4L, &w->ctx) == 0) {
                have = 1;
            } else if (errno != EAGAIN && errno != ENOMEM) { /* ENOSYS, EPERM: off for good */
                int e = errno;
                pthread_mutex_lock(&a->mu);
                a->err = e;
                pthread_mutex_unlock(&a->mu);
            }
        }
        if (!have)
            return;
        memset(&w->cb, 0, sizeof w->cb);
        w->cb.aio_lio_opcode = IOCB_CMD_PWRITE;
        w->cb.aio_fildes = (uint32_t)kvs_file_fd(f);
        w->cb.aio_buf = (uint64_t)(uintptr_t)buf;
        w->cb.aio_nbytes = (uint64_t)len;
        w->cb.aio_offset = (int64_t)off;
        kvsi_add(&f->st.syscalls, 1);
        if (syscall(SYS_io_submit, w->ctx, 1L, &cbp) == 1) {
            w->live = 1;
            kvsi_add(&a->overlapped, 1);
            return;
        }
        kvsi_aio_give(a, w->ctx); /* not submitted: kvsi_aiow_finish writes */
    }
#endif
}

/* Wait for the write (or do it now, when it was never submitted). */
static kvs_result kvsi_aiow_finish(kvsi_aiow *w)
{
#if KVS_POSIX_USE_AIO
    if (w->live) {
        struct io_event ev;
        long g;
        int64_t res;
        do {
            kvsi_add(&w->f->st.syscalls, 1);
            g = syscall(SYS_io_getevents, w->ctx, 1L, 1L, &ev, NULL);
        } while (g < 0 && errno == EINTR);
        if (g == 1) {
            res = (int64_t)KVSI_AIO_RES(ev.res, w->len);
            kvsi_aio_give(w->a, w->ctx);
        } else { /* cannot happen; io_destroy waits for the write to end */
            res = -(int64_t)(g < 0 ? errno : EIO);
            (void)syscall(SYS_io_destroy, w->ctx);
        }
        w->live = 0;
        kvsi_add(&w->f->st.writes, 1);
        if (res < 0) {
            kvsi_add(&w->f->st.errors, 1);
            return kvs_result_from_errno((int)-res);
        }
        kvsi_add(&w->f->st.bytes_written, (uint64_t)res);
        if ((uint64_t)res >= (uint64_t)w->len)
            return KVS_OK;
        /* The rest, the usual way, from the last unit boundary below what
           was written (a direct write must start on one; the bytes between
           are written again, as kvsi_xfer resumes). */
        kvsi_add(&w->f->st.short_transfers, 1);
        {
            size_t done = (size_t)res;
            if (w->f->direct)
                done -= done % w->f->unit;
            return kvs_file_write(w->f, w->off + (uint64_t)done, w->buf + done, w->len - done);
        }
    }
#endif
    return kvs_file_write(w->f, w->off, w->buf, w->len);
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
    kvsi_close_fd(ops, fd);
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

/* kvs_mkdir_p through the mkdir hook. */
static kvs_result kvsi_mkdir_p(const char *path, uint32_t mode, const kvs_sysops *ops)
{
    char buf[4096];
    size_t n, i;
    struct stat sb;
    unsigned m = mode ? (unsigned)mode : 0755u;
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
        {
            int e = -kvsi_sys_mkdir(ops, buf, m);
            if (e == EEXIST) {
                if (stat(buf, &sb) != 0) {
                    int se = errno;
                    if ((se == ENOENT || se == ELOOP) && lstat(buf, &sb) == 0)
                        return KVS_E_EXIST; /* a dangling or looping symlink in the way */
                    return kvs_result_from_errno(se);
                }
                if (!S_ISDIR(sb.st_mode))
                    return KVS_E_EXIST;
            } else if (e != 0) {
                return kvs_result_from_errno(e);
            }
        }
        if (i < n)
            buf[i] = '/';
    }
    return KVS_OK;
}

KVSDEF kvs_result kvs_mkdir_p(const char *path, uint32_t mode)
{
    return kvsi_mkdir_p(path, mode, NULL);
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
    kvs_result err;    /* the failed task's at the lowest offset, or KVS_OK */
    uint64_t err_off;  /* that task's offset */
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
    int quiet;             /* a synchronous store call's own: never on the
                              done list or the fd, so no reaper can take it */
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
    unsigned read_streak;    /* reads taken in a row while a write waited */
    int stopping;            /* no new work; workers exit when idle  */
    int closed;              /* shutdown called                      */
    int joined;
    kvsi_worker *workers;
    unsigned nworkers;
    kvs_batch *done_head, *done_tail;
    size_t ndone;
    kvs_batch *all_head;
    int rfd, wfd;            /* completion fd (eventfd: rfd == wfd)  */
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

/* Make the fd readable exactly while completed batches wait (ndone > 0;
   called with the mutex held). Its state is looked at, not counted: a
   caller may read the fd (an event loop clearing it), and the next
   completion, reap or free sets it right again. `first`: ndone has just
   gone from 0 to 1, so the fd is empty (drained when ndone reached 0) and
   needs no look. */
static void kvsi_fd_sync(kvs_pool *p, int first)
{
    if (p->ndone > 0) {
        struct pollfd pf;
        int n = 0;
        pf.fd = p->rfd;
        pf.events = POLLIN;
        pf.revents = 0;
        if (!first) {
            do
                n = poll(&pf, 1, 0);
            while (n < 0 && errno == EINTR);
        }
        if (n != 1 || (pf.revents & POLLIN) == 0) {
            /* (a failed write leaves nothing to do: an eventfd refuses
               one only at its maximum count, a pipe only when full, and
               either is readable then) */
#if KVS_POSIX_USE_EVENTFD
            uint64_t one = 1;
            if (write(p->wfd, &one, sizeof one) < 0)
                return;
#else
            char c = 'k';
            if (write(p->wfd, &c, 1) < 0)
                return;
#endif
        }
    } else {
#if KVS_POSIX_USE_EVENTFD
        uint64_t v;
        if (read(p->rfd, &v, sizeof v) < 0) /* takes the whole count */
            return;                          /* EAGAIN: nothing there */
#else
        char c[64];
        while (read(p->rfd, c, sizeof c) == (ssize_t)sizeof c)
            ;
#endif
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
    p->stats.batches_completed++;
    if (b->quiet) {
        pthread_cond_broadcast(&p->done_cv);
        return;
    }
    b->in_done_list = 1;
    b->dnext = NULL;
    b->dprev = p->done_tail;
    if (p->done_tail)
        p->done_tail->dnext = b;
    else
        p->done_head = b;
    p->done_tail = b;
    p->ndone++;
    kvsi_fd_sync(p, p->ndone == 1);
    pthread_cond_broadcast(&p->done_cv);
}

static int kvsi_op_is_call(const kvs_io_op *op)
{
    return op->kind == KVS_OP_CALL || op->kind == KVS_OP_CALL_LOW;
}

/* A task ended with r (mutex held): run, or dropped unrun by a CANCEL
   shutdown (canceled; r is KVS_E_CANCELED). A call that ran counts as run
   whatever it answered. */
static void kvsi_task_done(kvs_pool *p, kvsi_task *t, kvs_result r, int canceled)
{
    kvs_batch *b = t->batch;
    kvsi_opstate *s = &b->st[t->op];
    if (canceled)
        p->stats.tasks_canceled++;
    else
        p->stats.tasks_run++;
    /* KVS_E_AGAIN marks a pending op: an I/O or a call that ended with it
       (EAGAIN) reports KVS_E_IO, as the stores do */
    if (r == KVS_E_AGAIN)
        r = KVS_E_IO;
    /* of several failed pieces, the first in the file (not the first to
       finish): the same result whatever order the workers ran them in */
    if (r != KVS_OK && (s->err == KVS_OK || t->off < s->err_off)) {
        s->err = r;
        s->err_off = t->off;
    }
    if (--s->pending == 0) {
        kvs_io_op *op = &b->ops[t->op];
        op->result = s->err;
        /* a CALL moves no bytes of its own; its positive returns are
           outcomes (KVS_NOT_FOUND), not failures */
        op->bytes = s->err == KVS_OK && !kvsi_op_is_call(op) ? op->len : 0;
        p->stats.ops_completed++;
        if (s->err < 0) {
            b->failed++;
            p->stats.ops_failed++;
        }
        if (--b->pending == 0)
            kvsi_batch_complete(p, b);
    }
}

/* Reads first, but never for ever: after KVSI_READ_BURST reads taken in a
   row while a write waited, the next task is a write. A steady stream of
   reads (an engine keeping loads in flight) would otherwise hold a queued
   write back for as long as it lasts. */
#define KVSI_READ_BURST 8u
static kvsi_task *kvsi_pop(kvs_pool *p)
{
    int qi;
    kvsi_task *t;
    if (p->q[1].head != NULL && (p->q[0].head == NULL || p->read_streak >= KVSI_READ_BURST)) {
        qi = 1;
        p->read_streak = 0;
    } else if (p->q[0].head != NULL) {
        qi = 0;
        p->read_streak = p->q[1].head != NULL ? p->read_streak + 1 : 0;
    } else {
        return NULL;
    }
    t = p->q[qi].head;
    p->q[qi].head = t->next;
    if (p->q[qi].head == NULL)
        p->q[qi].tail = NULL;
    t->next = NULL;
    return t;
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
        kvsi_task_done(p, t, r, 0);
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
        kvsi_close_fd(NULL, p->rfd);
    if (p->wfd >= 0 && p->wfd != p->rfd)
        kvsi_close_fd(NULL, p->wfd);
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
    if (kvsi_custom_alloc(cfg.alloc) != NULL) {
        p->alloc = *cfg.alloc;
        p->has_alloc = 1;
    }
    cfg.alloc = kvsi_pool_alloc(p);
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
    p->rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
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

/* v rounded up to KVSI_STRUCT_ALIGN: where the next part of a block holding
   a struct and its trailing arrays starts (pool and store batches). */
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
    /* A direct write at a misaligned offset is refused whole (KVS_E_ALIGN,
       nothing written), so it is not split into pieces that would align. */
    if (op->kind == KVS_OP_WRITE && fi.direct && !kvs_is_aligned(op->offset, fi.align))
        return 1;
    first = ts - (size_t)(op->offset & (uint64_t)(ts - 1));
    if (first >= op->len)
        return 1;
    return 1 + (op->len - first + ts - 1) / ts;
}

static kvs_result kvsi_pool_submit(kvs_pool *p, kvs_io_op *ops, size_t n, void *owner, int quiet,
                                   kvs_batch **out);

KVSDEF kvs_result kvs_pool_submit(kvs_pool *p, kvs_io_op *ops, size_t n, kvs_batch **out)
{
    return kvsi_pool_submit(p, ops, n, NULL, 0, out);
}

/* Every op of a batch that could not be queued ends with r. */
static void kvsi_ops_fail(kvs_io_op *ops, size_t n, kvs_result r)
{
    size_t i;
    for (i = 0; i < n; i++) {
        ops[i].result = r;
        ops[i].bytes = 0;
    }
}

/* *out is set under the pool's mutex, before any task can run: a reaper on
   another thread may take and free the batch the moment the mutex drops, so
   nothing here touches it after that (the store keeps *out in memory such a
   reaper frees). */
static kvs_result kvsi_pool_submit(kvs_pool *p, kvs_io_op *ops, size_t n, void *owner, int quiet,
                                   kvs_batch **out)
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
    if (res != KVS_OK) {
        kvsi_ops_fail(ops, n, res);
        return res;
    }
    memset(mem, 0, total);
    b = (kvs_batch *)mem;
    b->pool = p;
    b->owner = owner;
    b->quiet = quiet;
    b->ops = ops;
    b->n = n;
    b->mem_size = total;
    b->st = (kvsi_opstate *)(void *)((unsigned char *)mem + hdr); /* offsets padded */
    b->tasks = (kvsi_task *)(void *)((unsigned char *)mem + hdr + st_bytes);
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
        kvsi_ops_fail(ops, n, KVS_E_CLOSED);
        return KVS_E_CLOSED;
    }
    b->anext = p->all_head;
    if (p->all_head)
        p->all_head->aprev = b;
    p->all_head = b;
    *out = b;
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
        kvsi_fd_sync(p, 0);
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
    if (b->in_done_list)
        kvsi_done_unlink(p, b);
    kvsi_fd_sync(p, 0); /* readable again while batches wait (also after a
                           free of one reaped earlier: the caller may have
                           read the fd meanwhile) */
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
            kvsi_task_done(p, t, KVS_E_CANCELED, 1);
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
    /* In a forked child: close the descriptors that carry the engine's
       locks (close(2) only; kvs_store_drop_locks_after_fork). */
    void (*drop_locks)(void *e);
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
#if defined(__GNUC__) || defined(__clang__)
static kvs_result kvsi_errf(char *err, size_t cap, kvs_result r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#endif
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
    kvs_result perr;           /* GET_PREFIX: the existence check's error at
                                  items[run] (pending until the batch
                                  completes), or KVS_OK                      */
    kvs_batch *pb;             /* the pool's batch (one for every batch that
                                  started, also with nothing to run); NULL
                                  only while a failed submit unwinds         */
    kvs_io_op *ops;
    kvsi_call *calls;
    size_t mem_size;
    int finished;              /* results folded into result/count           */
    kvs_result result;
    size_t count;
    kvs_store_batch *prev, *next; /* the store's live batches                  */
};

struct kvs_store {
    kvs_store_config cfg;      /* effective; strings point into strs, sysops
                                  to the copy below                           */
    kvs_sysops sysops;         /* the caller's table, copied at open          */
    kvs_allocator alloc;
    const kvsi_engine_ops *ops;
    void *engine;
    kvs_pool *pool;
    char *strs;
    size_t strs_size;
    pthread_mutex_t mu;        /* guards the batch list                        */
    kvs_store_batch *batches;
    kvsi_a64 puts, gets, hits, misses, removes, errors; /* kvsi_add/kvsi_load */
};

static const kvs_allocator *kvsi_store_alloc(const kvs_store *s)
{
    return kvsi_custom_alloc(&s->alloc);
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
    if ((c->allocator.alloc == NULL) != (c->allocator.free == NULL))
        return kvsi_errf(err, cap, KVS_E_INVAL, "allocator: alloc and free must both be set, or both NULL");
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
    if (c->must_exist != 0 && c->must_exist != 1)
        return kvsi_errf(err, cap, KVS_E_INVAL, "must_exist must be 0 or 1");
    if (c->file_mode > 0777)
        return kvsi_errf(err, cap, KVS_E_INVAL,
                         "file_mode %o has bits beyond 0777 (permission bits only: no setuid, setgid or sticky)",
                         (unsigned)c->file_mode);
    if (c->file_mode != 0 && (c->file_mode & 0600u) != 0600u)
        return kvsi_errf(err, cap, KVS_E_INVAL, "file_mode %o must give the owner read and write (0600)",
                         (unsigned)c->file_mode);
    if (c->align != 0 && (!kvs_is_pow2(c->align) || c->align > KVS_DEV_ALIGN_MAX))
        return kvsi_errf(err, cap, KVS_E_ALIGN, "align %zu is not a power of two up to 1 MiB", c->align);
    if (c->task_bytes != 0) /* a setting that would change nothing is refused */
        return kvsi_errf(err, cap, KVS_E_INVAL,
                         "task_bytes %zu: the store's pool runs whole calls and splits nothing; leave it 0", c->task_bytes);
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
        if (c->shard != KVS_SHARD_RANK && (c->tp_rank != 0 || c->tp_world != 0))
            return kvsi_errf(err, cap, KVS_E_INVAL,
                             "tp_rank and tp_world place keys in a filesystem store only with KVS_SHARD_RANK "
                             "(shard policy %s ignores them); leave them 0",
                             kvs_shard_policy_name(c->shard));
        if (c->paths == NULL)
            return kvsi_errf(err, cap, KVS_E_INVAL, "paths (the store's directories) is required");
    } else {
        const char *bad = c->capacity_bytes ? "capacity_bytes" : c->readahead ? "readahead"
                        : c->temp_max_age_s ? "temp_max_age_s" : c->strict_pathset ? "strict_pathset"
                        : c->must_exist ? "must_exist"
                        : c->shard != KVS_SHARD_RENDEZVOUS ? "shard" : NULL;
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
    const kvs_allocator *ap = kvsi_custom_alloc(&a);
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
    ap = kvsi_custom_alloc(&cfg->allocator);
    r = kvs_aligned_alloc(ap, sizeof(kvs_store), KVSI_STRUCT_ALIGN, &mem);
    if (r != KVS_OK)
        return kvsi_errf(err, err_cap, r, "cannot allocate the store");
    s = (kvs_store *)mem;
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    if (cfg->sysops != NULL) { /* the caller's table need not outlive the open */
        s->sysops = *cfg->sysops;
        s->cfg.sysops = &s->sysops;
    }
    if (s->cfg.file_mode == 0)
        s->cfg.file_mode = 0600u; /* files the store creates: owner only */
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
    pc.read_priority = 1; /* loads are on the latency path */
    /* The store's pool runs whole calls (KVS_OP_CALL), which never use a
       worker's bounce scratch: the smallest there is, not 1 MiB a worker. */
    pc.bounce_bytes = 4096;
    pc.alloc = kvsi_store_alloc(s);
    r = kvs_pool_create(&pc, &s->pool);
    if (r != KVS_OK) {
        kvsi_store_free(s);
        return kvsi_errf(err, err_cap, r, "cannot create the thread pool (threads %u)", cfg->threads);
    }
    kvs_pool_get_config(s->pool, &pc);
    s->cfg.threads = pc.threads;
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

static void kvsi_sbatch_finish(kvs_store_batch *b);

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
    while (s->batches != NULL) {
        kvsi_sbatch_finish(s->batches); /* its items final */
        kvsi_sbatch_free_mem(s->batches);
    }
    r2 = s->ops->close(s->engine);
    if (r == KVS_OK)
        r = r2;
    kvsi_store_free(s);
    return r;
}

KVSDEF void kvs_store_drop_locks_after_fork(kvs_store *s)
{
    if (s != NULL)
        s->ops->drop_locks(s->engine);
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

/* exists, not counted in the stats (a prefix get's existence check) */
static kvs_result kvsi_store_exists(kvs_store *s, const void *key, size_t key_len)
{
    kvs_result r = kvsi_key_check(key, key_len);
    return r == KVS_OK ? s->ops->exists(s->engine, key, key_len) : r;
}

KVSDEF kvs_result kvs_store_exists(kvs_store *s, const void *key, size_t key_len)
{
    KVS_ASSERT(s != NULL);
    return kvsi_count(s, kvsi_store_exists(s, key, key_len));
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
        return kvsi_count(s, KVS_E_INVAL);
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

/* An item's result: KVS_E_AGAIN marks an item still pending (and a batch
   still running), so an EAGAIN from the system reads as KVS_E_IO. */
static kvs_result kvsi_item_result(kvs_result r)
{
    return r == KVS_E_AGAIN ? KVS_E_IO : r;
}

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
    it->result = kvsi_item_result(it->result);
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
           from the probe: its miss, final since the submit, or its error,
           written now. An error of the probe stands for a get of that key
           that failed, and is counted so only when it is the call's result;
           past an earlier miss or failure it is released like a load. */
        if (k == b->run && b->perr != KVS_OK) {
            b->items[k].result = b->perr;
            kvsi_add(&b->s->gets, 1);
            kvsi_count(b->s, b->perr);
        }
        if (k < b->n && b->items[k].result != KVS_NOT_FOUND)
            r = b->items[k].result;
        /* Nothing past the first miss or failure counts as loaded: the
           loads after it are released. Items from the probe's first miss on
           were final when the submit returned (that miss, then
           KVS_E_CANCELED with out_len 0) and are not written again: the
           submitter may read them while another thread reaps. */
        for (i = k + 1; i < b->run + (b->perr != KVS_OK); i++) {
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

/* A batch that cannot start: every item gets r, and each that would have
   run (a prefix get's: the run its probe found, whose first miss it has
   counted) counts in the stats as the call it stands for, one that returned
   r; with none, the call itself is one error. */
static kvs_result kvsi_store_unrun(kvs_store *s, kvs_batch_op op, kvs_item *items, size_t n, size_t run,
                                   kvs_result r)
{
    size_t i;
    for (i = 0; i < n; i++) {
        items[i].result = r;
        items[i].out_len = 0;
    }
    if (op == KVS_BATCH_PUT)
        kvsi_add(&s->puts, (uint64_t)run);
    else if (op == KVS_BATCH_GET_PREFIX)
        kvsi_add(&s->gets, (uint64_t)run);
    kvsi_add(&s->errors, run > 0 ? (uint64_t)run : 1u);
    return r;
}

/* quiet: a synchronous batch call's own batch, which kvs_store_reap never
   returns and the completion fd never counts (another thread reaping would
   free it under the caller). */
static kvs_result kvsi_store_submit(kvs_store *s, kvs_batch_op op, kvs_item *items, size_t n, int quiet,
                                    kvs_store_batch **out)
{
    kvs_store_batch *b;
    size_t hdr, opsz, total, i, run;
    void *mem = NULL;
    kvs_result r, pr = KVS_OK;

    KVS_ASSERT(s != NULL && out != NULL);
    *out = NULL;
    /* Refused before anything runs: the call is one error in the stats
       (an unknown op has no kind of call to count the items as). */
    if (n > 0 && items == NULL) {
        kvsi_add(&s->errors, 1);
        return KVS_E_INVAL;
    }
    if (n > (size_t)-1 / sizeof(kvs_item)) {
        kvsi_add(&s->errors, 1); /* no array that long exists: items untouched */
        return KVS_E_OVERFLOW;
    }
    if ((unsigned)op > KVS_BATCH_EXISTS)
        return kvsi_store_unrun(s, op, items, n, 0, KVS_E_INVAL);
    if (n > ((size_t)-1 / 2) / (sizeof(kvs_io_op) + sizeof(kvsi_call)))
        /* the array exists (on 32-bit it can), the batch's own memory for
           it could never be had */
        return kvsi_store_unrun(s, op, items, n, op == KVS_BATCH_GET_PREFIX ? 0 : n, KVS_E_NOMEM);
    for (i = 0; i < n; i++) {
        items[i].result = KVS_E_AGAIN;
        items[i].out_len = 0;
    }
    /* A prefix get first finds the leading run of keys that exist (a cheap,
       in-order probe), and loads only those, in parallel. A miss there is
       final now; an error stays pending until the batch completes: it is
       the call's result only if no load before it failed or missed. */
    run = n;
    if (op == KVS_BATCH_GET_PREFIX) {
        for (run = 0; run < n; run++) {
            pr = kvsi_item_result(kvsi_store_exists(s, items[run].key, items[run].key_len));
            if (pr != KVS_OK) {
                if (pr == KVS_NOT_FOUND) { /* a miss, counted as a get's */
                    items[run].result = pr;
                    kvsi_add(&s->gets, 1);
                    kvsi_add(&s->misses, 1);
                }
                break;
            }
        }
        /* what follows the first miss never runs: final now */
        for (i = run + 1; i < n; i++)
            items[i].result = KVS_E_CANCELED;
    }
    hdr = kvsi_pad_up(sizeof(kvs_store_batch));
    opsz = run * sizeof(kvs_io_op);
    total = hdr + opsz + run * sizeof(kvsi_call) + 1;
    r = kvs_aligned_alloc(kvsi_store_alloc(s), total, KVSI_STRUCT_ALIGN, &mem);
    if (r != KVS_OK)
        return kvsi_store_unrun(s, op, items, n, run, r); /* none is left pending */
    memset(mem, 0, total);
    b = (kvs_store_batch *)mem;
    b->s = s;
    b->op = op;
    b->items = items;
    b->n = n;
    b->run = run;
    b->perr = pr == KVS_NOT_FOUND ? KVS_OK : pr;
    if (run == 0 && b->perr != KVS_OK) {
        /* no load before it: the call's result already, final now */
        items[0].result = b->perr;
        kvsi_add(&s->gets, 1);
        kvsi_count(s, b->perr);
        b->perr = KVS_OK;
    }
    b->mem_size = total;
    b->ops = (kvs_io_op *)(void *)((unsigned char *)mem + hdr); /* offsets padded */
    b->calls = (kvsi_call *)(void *)((unsigned char *)mem + hdr + opsz);
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
    /* *out before the pool can run anything: a reaper on another thread
       may get the batch the moment it completes, and the caller's pointer
       is how it tells which one it got (the pool's mutex orders this
       write before the reap). */
    *out = b;
    r = kvsi_pool_submit(s->pool, b->ops, run, b, quiet, &b->pb);
    if (r != KVS_OK) {
        *out = NULL;
        b->pb = NULL;
        kvsi_sbatch_free_mem(b);
        return kvsi_store_unrun(s, op, items, n, run, r);
    }
    return KVS_OK;
}

KVSDEF kvs_result kvs_store_submit(kvs_store *s, kvs_batch_op op, kvs_item *items, size_t n,
                                   kvs_store_batch **out)
{
    return kvsi_store_submit(s, op, items, n, 0, out);
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

KVSDEF kvs_item *kvs_store_batch_items(const kvs_store_batch *b, size_t *n)
{
    KVS_ASSERT(b != NULL);
    if (n != NULL)
        *n = b->n;
    return b->items;
}

KVSDEF kvs_result kvs_store_batch_free(kvs_store_batch *b)
{
    if (b == NULL)
        return KVS_OK;
    if (b->pb != NULL && kvs_batch_poll(b->pb) != KVS_OK)
        return KVS_E_BUSY;
    kvsi_sbatch_finish(b); /* items final also when never polled */
    kvsi_sbatch_free_mem(b);
    return KVS_OK;
}

/* The synchronous batch calls: one item runs inline, more go to the pool. */
static kvs_result kvsi_store_batch_sync(kvs_store *s, kvs_batch_op op, kvs_item *items, size_t n, size_t *count)
{
    kvs_store_batch *b = NULL;
    kvs_result r;
    size_t c = 0;
    if (n > 0 && items == NULL) {
        kvsi_add(&s->errors, 1);
        if (count != NULL)
            *count = op == KVS_BATCH_PUT ? n : 0; /* nothing was stored */
        return KVS_E_INVAL;
    }
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
        r = kvsi_store_submit(s, op, items, n, 1, &b);
        if (r == KVS_OK) {
            r = kvs_store_batch_wait(b, &c);
            (void)kvs_store_batch_free(b);
        } else if (op == KVS_BATCH_PUT) {
            c = n; /* nothing was stored: every item has the error */
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
/* ------------------------------------------------------------------------
   Raw-block store (docs/STORES.md, docs/FORMAT.md section 6).

   Memory: a chained hash table of entries (key -> slot, generation, length,
   payload CRC, LRU links, readers, pins), a free-slot stack, a quarantine
   of released slots and the list of puts in flight, all under one mutex
   (R->mu) that is never held across I/O. Checkpoints are serialised by
   their own mutex (R->ckmu), which is held across their I/O.

   Slots: never-written slots are handed out in order below alloc_limit
   (raised by a checkpoint first); released slots (overwritten, removed,
   evicted, corrupt, or a failed put's) are quarantined and return to the
   free stack after a checkpoint that does not list them AND whose gen_floor
   is above their object's generation, so the restore scan can never bring
   a removed or replaced object back. When no slot is free, up to
   max(1, slot_count / 32) least recently used entries that are neither
   pinned nor being read are evicted at once and one checkpoint frees them
   all (a checkpoint per put would be far too slow on a full store).

   Alignment: the store's unit A is max(offset align, buffer align, 512,
   cfg.align, tail_pad) of the file, so no direct write -- not even a tail
   the I/O layer widens to the filesystem block -- can spill out of a slot
   or a checkpoint copy. A is recorded in the superblock.

   Checkpoint write: the copy image [64-byte header | payload] is built in
   one aligned buffer; blocks [A, end) are written first, fdatasync, then
   block [0, A) holding the header (and the payload's first A - 64 bytes),
   fdatasync. The first fdatasync also makes every slot published before
   the snapshot durable before the header that lists it.
   ------------------------------------------------------------------------ */
#define KVSI_RAW_DEF_PAYLOAD ((uint64_t)2 << 20)
#define KVSI_RAW_DEF_KEY 256u
#define KVSI_RAW_DEF_INTERVAL 60000u
#define KVSI_RAW_DEF_IDLE 1000u
#define KVSI_RAW_TRIES 64
#define KVSI_RAW_MAPFILE_MAX ((size_t)1 << 20)
/* Objects up to this size move in one I/O with their header (through one
   aligned buffer: a copy costs less than a second I/O); larger ones go
   straight between the caller's buffer and the disk, header apart. */
#define KVSI_RAW_SMALL ((size_t)64 << 10)

typedef struct kvsi_rent {
    struct kvsi_rent *hnext;          /* hash chain                            */
    struct kvsi_rent *lprev, *lnext;  /* LRU: lprev towards the MRU end        */
    uint64_t hash, gen, len;
    uint32_t slot, klen, crc;
    uint32_t readers, pins;
    unsigned char dead;               /* out of the index, waiting for readers */
    unsigned char orphan;             /* out of the index with pins: kept in
                                         the hash table for them alone (never
                                         found by kvsi_raw_find)             */
    unsigned char bad;                /* a reader found it damaged (counted)    */
    size_t mem;
    unsigned char *key;
} kvsi_rent;

/* Entry memory: an entry and its key are carved out of a slab taken from
   the store's allocator, in sizes that are multiples of KVSI_RAW_ECLASS,
   and a freed entry goes to the free list of its size, to be reused by the
   next entry of that size. A restore of n entries thus costs one slab, not
   n allocations, and close frees the slabs. Slabs are released only at
   close: entry memory stays at the peak the store reached (per size). */
#define KVSI_RAW_ECLASS ((size_t)16)
#define KVSI_RAW_ESIZE(klen) ((sizeof(kvsi_rent) + (size_t)(klen) + KVSI_RAW_ECLASS - 1) & ~(KVSI_RAW_ECLASS - 1))
#define KVSI_RAW_NCLASS (KVSI_RAW_ESIZE(KVS_KEY_MAX) / KVSI_RAW_ECLASS + 1)
#define KVSI_RAW_SLAB ((size_t)64 << 10)
#define KVSI_RAW_SLAB_HDR KVSI_RAW_ECLASS

typedef struct kvsi_rslab {           /* at the start of each slab             */
    struct kvsi_rslab *next;
    size_t size;
} kvsi_rslab;

/* With AddressSanitizer, free entries and unused slab space are poisoned:
   a use after free of an entry is still reported. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KVSI_RAW_ASAN 1
#endif
#endif
#if !defined(KVSI_RAW_ASAN) && defined(__SANITIZE_ADDRESS__)
#define KVSI_RAW_ASAN 1
#endif
#ifdef KVSI_RAW_ASAN
#include <sanitizer/asan_interface.h>
#define KVSI_RAW_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define KVSI_RAW_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define KVSI_RAW_POISON(p, n) ((void)0)
#define KVSI_RAW_UNPOISON(p, n) ((void)0)
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__GNUC__) || defined(__clang__)
#define KVSI_RAW_PREFETCH(p) __builtin_prefetch(p)
#else
#define KVSI_RAW_PREFETCH(p) ((void)0)
#endif

typedef struct kvsi_rq {              /* a quarantined slot                    */
    uint64_t gen;                     /* generation of the object it holds     */
    uint32_t slot;
} kvsi_rq;

typedef struct kvsi_rfl {             /* a put in flight (on its stack)        */
    uint64_t gen;
    const struct kvsi_rent *e;        /* its entry: the key                    */
    int superseded;                   /* a newer put of the key was published
                                         while this one was in flight        */
    struct kvsi_rfl *prev, *next;
    struct kvsi_rfl *rprev, *rnext;   /* R->rsv: still reserving its slot      */
    uint32_t claim_slot;              /* a slot this put evicted, and (claim) */
    int claim;                        /* 0: none; 1: the checkpoint that
                                         releases claim_slot hands it to this
                                         put; 2: it did (the slot is ours)   */
} kvsi_rfl;

/* Checkpoint seq, generations and gen_floor read from the device at or
   above this are corrupt: counting by one from 1 never gets there, and
   taking them would leave nothing to count up to (next_seq or next_gen
   wrapping to 0, the header encoders refusing every put). */
#define KVSI_RAW_COUNTER_MAX ((uint64_t)1 << 62)

typedef struct kvsi_raw {
    kvs_store_config *cfg;
    kvs_allocator alloc;
    const kvs_allocator *ap;
    kvs_file *f;
    kvs_file_info info;
    kvs_layout L;
    uint64_t A;                       /* the store's alignment unit            */
    uint64_t store_id;
    uint64_t probe;                   /* header bytes the scan reads           */
    char *path;
    size_t path_size;
    int created;                      /* this open made the device file: a
                                         failed open removes it again      */
    int lock_errno;                   /* 0: byte 0 of the device file is
                                         locked by this handle; else why not
                                         (kvs_store_stats.lock_errno)      */

    pthread_mutex_t mu, ckmu;
    pthread_cond_t cv;                /* wakes the checkpoint thread           */
    pthread_cond_t icv;               /* a put in flight finished              */
    int have_mu, have_ckmu, have_cv, have_icv;
    pthread_t thr;
    int thr_on, stop;

    /* index (mu) */
    kvsi_rent **bk;
    size_t nbk, count;
    uint64_t bytes, idx_bytes;        /* payload bytes; checkpoint entry bytes */
    kvsi_rent *mru, *lru;
    size_t nopins;                    /* entries in the hash table that hold
                                         pins of keys not in the index (removed
                                         or found damaged while pinned): the
                                         key's next entry takes them        */
    uint32_t *freel;
    size_t nfree;
    kvsi_rq *quar;
    size_t nquar;
    kvsi_rfl *fl;
    size_t nfl;
    uint64_t fl_ended;                /* puts in flight that have ended     */
    uint64_t removes;                 /* removes run (kvsi_raw_evict_end)   */
    size_t room_waits;                /* puts waiting on icv for room       */
    size_t nclaims;                   /* puts in R->rsv with claim 1         */
    kvsi_rfl *rsv;                    /* puts reserving a slot (no generation
                                         yet): their keys are not evicted    */
    uint64_t next_unwritten, alloc_disk, alloc_want, next_gen;
    uint64_t alloc_step;              /* the next raise of alloc_limit          */
    int tighten;                      /* next checkpoint lowers alloc_limit: 1 quiet, 2 close */
    uint64_t mut_seq, ckpt_mut_seq, snap_seq, done_snap;
    uint64_t last_put_ns, last_ckpt_ns;
    uint64_t evictions, corruptions, checkpoints, ckpt_errors;
    int restore_fallback;             /* stats.restore_fallback             */

    /* entry memory (amu; never taken before mu) */
    pthread_mutex_t amu;
    int have_amu;
    kvsi_rslab *slabs;
    unsigned char *sptr;              /* unused space of the newest slab       */
    size_t sleft;
    kvsi_rent *efree[KVSI_RAW_NCLASS];

    /* checkpoint writer (ckmu) */
    unsigned char *ck;
    size_t ckcap;
    uint32_t next_copy;
    uint64_t next_seq;

    kvsi_aio aio;                     /* overlapped payload writes             */
} kvsi_raw;

/* A slab of several MiB (a restore's) from the default allocator may use
   transparent huge pages: 4 KiB page faults were about a third of the
   cost of building the index. A hint only; not for a caller's allocator. */
static void kvsi_raw_hugepages(const kvsi_raw *R, void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t H = (uintptr_t)2 << 20;
    uintptr_t a = ((uintptr_t)p + H - 1) & ~(H - 1), e = ((uintptr_t)p + n) & ~(H - 1);
    if (R->ap == NULL && e > a)
        (void)madvise((void *)a, (size_t)(e - a), MADV_HUGEPAGE);
#else
    (void)R;
    (void)p;
    (void)n;
#endif
}

/* ---- index ---- */

/* The index's hash of a key: in memory only, never stored. Eight bytes at a
   step, then the splitmix64 finaliser (byte-at-a-time FNV-1a was the
   largest single cost of a restore). */
static uint64_t kvsi_raw_hash(const void *key, size_t klen)
{
    const unsigned char *p = (const unsigned char *)key;
    uint64_t h = 0x9e3779b97f4a7c15u ^ (uint64_t)klen, w = 0;
    size_t n = klen;
    if (n >= 8) {
        for (; n > 8; p += 8, n -= 8) {
            memcpy(&w, p, 8);
            h = (h ^ w) * 0xbf58476d1ce4e5b9u;
            h ^= h >> 29;
        }
        memcpy(&w, p + n - 8, 8); /* the last 8 bytes (the length is in h) */
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        w = (uint64_t)a << 32 | b;
    } else if (n > 0) {
        w = (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 | p[n - 1];
    }
    return kvs_mix64((h ^ w) * 0x94d049bb133111ebu);
}

static kvsi_rent *kvsi_raw_find(const kvsi_raw *R, const void *key, size_t klen, uint64_t h)
{
    kvsi_rent *e;
    if (R->nbk == 0)
        return NULL;
    for (e = R->bk[h & (R->nbk - 1)]; e != NULL; e = e->hnext)
        if (e->hash == h && e->klen == klen && !e->orphan && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

/* The alignment of a bucket array of n buckets: one of 2 MiB or more from
   the default allocator is aligned to 2 MiB, so that it can be backed by
   huge pages (kvsi_raw_hugepages): one page fault, not 512, when a restore
   presizes it, and fewer TLB misses on every lookup. */
static size_t kvsi_raw_bk_align(const kvsi_raw *R, size_t n)
{
    const size_t H = (size_t)2 << 20;
    return R->ap == NULL && n >= H / sizeof(kvsi_rent *) ? H : sizeof(void *);
}

/* Rebuild the bucket array with n buckets (a power of two); on allocation
   failure the old one stays and chains just get longer. */
static void kvsi_raw_rehash(kvsi_raw *R, size_t n)
{
    void *mem = NULL;
    size_t i;
    kvsi_rent **nb;
    if (n > ((size_t)-1) / sizeof(kvsi_rent *) ||
        kvs_aligned_alloc(R->ap, n * sizeof(kvsi_rent *), kvsi_raw_bk_align(R, n), &mem) != KVS_OK)
        return;
    kvsi_raw_hugepages(R, mem, n * sizeof(kvsi_rent *));
    nb = (kvsi_rent **)mem;
    for (i = 0; i < n; i++)
        nb[i] = NULL;
    for (i = 0; i < R->nbk; i++) {
        kvsi_rent *e = R->bk[i], *nx;
        for (; e != NULL; e = nx) {
            nx = e->hnext;
            e->hnext = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
        }
    }
    if (R->bk != NULL)
        kvs_aligned_free(R->ap, R->bk, R->nbk * sizeof(kvsi_rent *), kvsi_raw_bk_align(R, R->nbk));
    R->bk = nb;
    R->nbk = n;
}

/* Double the bucket array. */
static void kvsi_raw_grow(kvsi_raw *R)
{
    kvsi_raw_rehash(R, R->nbk ? R->nbk * 2 : 64);
}

static void kvsi_raw_lru_unlink(kvsi_raw *R, kvsi_rent *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        R->mru = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        R->lru = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void kvsi_raw_lru_front(kvsi_raw *R, kvsi_rent *e)
{
    e->lprev = NULL;
    e->lnext = R->mru;
    if (R->mru)
        R->mru->lprev = e;
    else
        R->lru = e;
    R->mru = e;
}

static void kvsi_raw_lru_back(kvsi_raw *R, kvsi_rent *e)
{
    e->lnext = NULL;
    e->lprev = R->lru;
    if (R->lru)
        R->lru->lnext = e;
    else
        R->mru = e;
    R->lru = e;
}

static void kvsi_raw_touch(kvsi_raw *R, kvsi_rent *e)
{
    if (R->mru != e) {
        kvsi_raw_lru_unlink(R, e);
        kvsi_raw_lru_front(R, e);
    }
}

static void kvsi_raw_ent_free(kvsi_raw *R, kvsi_rent *e); /* below */

static void kvsi_raw_bk_put(kvsi_raw *R, kvsi_rent *e)
{
    size_t b = (size_t)(e->hash & (R->nbk - 1));
    e->hnext = R->bk[b];
    R->bk[b] = e;
}

static void kvsi_raw_bk_take(kvsi_raw *R, kvsi_rent *e)
{
    kvsi_rent **pp = &R->bk[e->hash & (R->nbk - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
}

/* The pins of a key no entry in the index holds (mu held, e just out of
   the index): they stay with the key, as the filesystem store's stay with
   the file name, so that an unpin by their holder does not release pins
   taken on the key's next object. The entry keeps them, back in the hash
   table but flagged (no lookup but kvsi_raw_orphan_find sees it; not on
   the LRU, not counted), until its key is linked again (kvsi_raw_link) or
   they are unpinned to 0. */
static void kvsi_raw_orphan(kvsi_raw *R, kvsi_rent *e)
{
    e->orphan = 1;
    kvsi_raw_bk_put(R, e);
    R->nopins++;
}

/* The orphaned pins of this key, or NULL (mu held). */
static kvsi_rent *kvsi_raw_orphan_find(const kvsi_raw *R, const void *key, size_t klen, uint64_t h)
{
    kvsi_rent *o;
    if (R->nopins == 0)
        return NULL;
    for (o = R->bk[h & (R->nbk - 1)]; o != NULL; o = o->hnext)
        if (o->orphan && o->hash == h && o->klen == klen && memcmp(o->key, key, klen) == 0)
            return o;
    return NULL;
}

/* o's pins are gone (unpinned to 0, or taken by the key's new entry): out
   of the hash table, and freed unless a reader still holds it (its last
   release quarantines the slot and frees it; with no reader, its slot
   already went at the drop). */
static void kvsi_raw_orphan_end(kvsi_raw *R, kvsi_rent *o)
{
    kvsi_raw_bk_take(R, o);
    R->nopins--;
    o->orphan = 0;
    o->pins = 0;
    if (o->readers == 0)
        kvsi_raw_ent_free(R, o);
}

/* Into the hash table and at the MRU end, with the key's orphaned pins. */
static void kvsi_raw_link(kvsi_raw *R, kvsi_rent *e)
{
    kvsi_rent *o = kvsi_raw_orphan_find(R, e->key, e->klen, e->hash);
    if (o != NULL) {
        e->pins = o->pins; /* an entry linked anew has none of its own */
        kvsi_raw_orphan_end(R, o);
    }
    if (R->count >= R->nbk)
        kvsi_raw_grow(R);
    kvsi_raw_bk_put(R, e);
    kvsi_raw_lru_front(R, e);
    R->count++;
    R->bytes += e->len;
    R->idx_bytes += kvs_index_entry_size(e->klen);
}

static void kvsi_raw_unlink(kvsi_raw *R, kvsi_rent *e)
{
    kvsi_raw_bk_take(R, e);
    kvsi_raw_lru_unlink(R, e);
    R->count--;
    R->bytes -= e->len;
    R->idx_bytes -= kvs_index_entry_size(e->klen);
}

/* Make sure the newest slab has `bytes` unused bytes: a new slab of that
   size when it has not (amu held, or single-threaded at open). */
static kvs_result kvsi_raw_slab_reserve(kvsi_raw *R, size_t bytes)
{
    void *mem = NULL;
    kvsi_rslab *s;
    kvs_result r;
    if (R->sleft >= bytes)
        return KVS_OK;
    if (bytes > ((size_t)-1) - KVSI_RAW_SLAB_HDR)
        return KVS_E_NOMEM;
    bytes += KVSI_RAW_SLAB_HDR;
    r = kvs_aligned_alloc(R->ap, bytes, KVSI_RAW_ECLASS, &mem);
    if (r != KVS_OK)
        return r;
    kvsi_raw_hugepages(R, mem, bytes);
    s = (kvsi_rslab *)mem;
    s->next = R->slabs;
    s->size = bytes;
    R->slabs = s;
    R->sptr = (unsigned char *)mem + KVSI_RAW_SLAB_HDR;
    R->sleft = bytes - KVSI_RAW_SLAB_HDR;
    KVSI_RAW_POISON(R->sptr, R->sleft);
    return KVS_OK;
}

/* Memory for an entry of `size` bytes (KVSI_RAW_ESIZE): a free one of that
   size, else the newest slab's unused space, else a new slab (amu held,
   or single-threaded at open). NULL when out of memory. */
static kvsi_rent *kvsi_raw_ent_alloc(kvsi_raw *R, size_t size)
{
    size_t c = size / KVSI_RAW_ECLASS;
    kvsi_rent *e = R->efree[c];
    if (e != NULL) {
        KVSI_RAW_UNPOISON(e, size);
        R->efree[c] = e->hnext;
        return e;
    }
    if (R->sleft < size && kvsi_raw_slab_reserve(R, KVSI_RAW_SLAB) != KVS_OK)
        return NULL;
    e = (kvsi_rent *)(void *)R->sptr;
    KVSI_RAW_UNPOISON(e, size);
    R->sptr += size;
    R->sleft -= size;
    return e;
}

static void kvsi_raw_ent_init(kvsi_rent *e, size_t size, const void *key, size_t klen, uint64_t hash)
{
    memset(e, 0, sizeof *e);
    e->mem = size;
    e->key = (unsigned char *)e + sizeof(kvsi_rent);
    memcpy(e->key, key, klen);
    e->klen = (uint32_t)klen;
    e->hash = hash;
}

/* Back to its free list (amu held, or single-threaded at open). */
static void kvsi_raw_ent_put(kvsi_raw *R, kvsi_rent *e)
{
    size_t size = e->mem;
    e->hnext = R->efree[size / KVSI_RAW_ECLASS];
    R->efree[size / KVSI_RAW_ECLASS] = e;
    KVSI_RAW_POISON((unsigned char *)e + sizeof(kvsi_rent *), size - sizeof(kvsi_rent *));
}

static kvs_result kvsi_raw_ent_new(kvsi_raw *R, const void *key, size_t klen, kvsi_rent **out)
{
    size_t size = KVSI_RAW_ESIZE(klen);
    kvsi_rent *e;
    *out = NULL;
    if (klen > KVS_KEY_MAX)
        return KVS_E_KEY;
    pthread_mutex_lock(&R->amu);
    e = kvsi_raw_ent_alloc(R, size);
    pthread_mutex_unlock(&R->amu);
    if (e == NULL)
        return KVS_E_NOMEM;
    kvsi_raw_ent_init(e, size, key, klen, kvsi_raw_hash(key, klen));
    *out = e;
    return KVS_OK;
}

static void kvsi_raw_ent_free(kvsi_raw *R, kvsi_rent *e)
{
    if (e != NULL) {
        pthread_mutex_lock(&R->amu);
        kvsi_raw_ent_put(R, e);
        pthread_mutex_unlock(&R->amu);
    }
}

static void kvsi_raw_quarantine(kvsi_raw *R, uint32_t slot, uint64_t gen)
{
    R->quar[R->nquar].slot = slot;
    R->quar[R->nquar].gen = gen;
    R->nquar++;
}

/* Evict e (no reader, no pin) for a put: out of the index, its slot
   quarantined for the checkpoint the put writes next, and the entry kept
   on *held until that checkpoint has been tried (kvsi_raw_evict_end). */
static void kvsi_raw_evict_hold(kvsi_raw *R, kvsi_rent *e, kvsi_rent **held)
{
    kvsi_raw_unlink(R, e);
    R->mut_seq++;
    kvsi_raw_quarantine(R, e->slot, e->gen);
    R->evictions++;
    e->hnext = *held;
    *held = e;
}

/* The end of a put's evictions (mu held). Their checkpoint done (ok): the
   entries go. It failed: the put fails and nothing goes for it, so each
   entry comes back at the LRU end where it was, with its slot taken out of
   the quarantine, unless that slot is no longer there (another checkpoint
   released it), a put under its key has linked a newer entry, or a remove
   ran since the evictions (removes_at): a remove that missed an evicted
   key must not see it come back. With ckmu held too, when !ok: no
   checkpoint is between its snapshot and its release, whose count of
   quarantined slots this changes. */
static void kvsi_raw_evict_end(kvsi_raw *R, kvsi_rent *held, int ok, uint64_t removes_at)
{
    while (held != NULL) {
        kvsi_rent *e = held;
        size_t i, k;
        held = e->hnext;
        e->hnext = NULL;
        if (!ok && R->removes == removes_at && kvsi_raw_find(R, e->key, e->klen, e->hash) == NULL) {
            for (i = 0; i < R->nquar && (R->quar[i].slot != e->slot || R->quar[i].gen != e->gen); i++)
                ;
            if (i < R->nquar) {
                for (k = i + 1; k < R->nquar; k++)
                    R->quar[k - 1] = R->quar[k];
                R->nquar--;
                kvsi_raw_link(R, e);
                kvsi_raw_lru_unlink(R, e); /* at the LRU end, as it was */
                kvsi_raw_lru_back(R, e);
                R->mut_seq++;
                R->evictions--;
                pthread_cond_broadcast(&R->icv); /* evictable again */
                continue;
            }
        }
        kvsi_raw_ent_free(R, e);
    }
}

/* Take e out of the index; its slot is quarantined now or by its last
   reader, and its pins stay with the key (kvsi_raw_orphan). */
static void kvsi_raw_drop(kvsi_raw *R, kvsi_rent *e)
{
    kvsi_raw_unlink(R, e);
    R->mut_seq++;
    if (e->pins > 0)
        kvsi_raw_orphan(R, e);
    if (e->readers == 0) {
        kvsi_raw_quarantine(R, e->slot, e->gen);
        if (!e->orphan)
            kvsi_raw_ent_free(R, e);
    } else {
        e->dead = 1;
    }
}

/* Smallest generation of a put in flight, else the next one. */
static uint64_t kvsi_raw_floor(const kvsi_raw *R)
{
    uint64_t g = R->next_gen;
    const kvsi_rfl *p;
    for (p = R->fl; p != NULL; p = p->next)
        if (p->gen < g)
            g = p->gen;
    return g;
}

static uint64_t kvsi_raw_slot_off(const kvsi_raw *R, uint32_t slot)
{
    return R->L.slots_offset + (uint64_t)slot * R->L.slot_bytes;
}

/* alloc_limit: the first raise, and the cap of the doubling steps. */
static uint64_t kvsi_raw_step0(const kvsi_raw *R)
{
    return kvsi_max64(256, R->L.slot_count / 64);
}

static uint64_t kvsi_raw_step_cap(const kvsi_raw *R)
{
    return kvsi_max64(kvsi_raw_step0(R), R->L.slot_count / 16);
}

/* alloc_limit on disk is more than step0 above the slots handed out (mu held). */
static int kvsi_raw_alloc_loose(const kvsi_raw *R)
{
    return R->alloc_disk > R->next_unwritten + kvsi_raw_step0(R);
}

/* Bytes the checkpoint copy image takes for the current index (mu held). */
static uint64_t kvsi_raw_ck_need(const kvsi_raw *R)
{
    return kvsi_ru(KVS_CKPT_HEADER_BYTES + KVS_INDEX_HEADER_BYTES + R->idx_bytes, R->A);
}

/* Grow the checkpoint buffer (ckmu held, or single-threaded at open). */
static kvs_result kvsi_raw_ck_reserve(kvsi_raw *R, uint64_t need)
{
    void *mem = NULL;
    kvs_result r;
    if (need <= R->ckcap)
        return KVS_OK;
    if (need > (uint64_t)((size_t)-1))
        return KVS_E_OVERFLOW;
    r = kvs_aligned_alloc(R->ap, (size_t)need, (size_t)R->A, &mem);
    if (r != KVS_OK)
        return r;
    kvsi_raw_hugepages(R, mem, (size_t)need);
    if (R->ck != NULL)
        kvs_aligned_free(R->ap, R->ck, R->ckcap, (size_t)R->A);
    R->ck = (unsigned char *)mem;
    R->ckcap = (size_t)need;
    return KVS_OK;
}

/* ---- checkpoints ---- */

/* A slot a checkpoint releases goes to the reserving put that evicted it
   for its room, if one still waits for it (mu held): else the other puts
   could take every slot a put frees for itself, round after round, until
   it gives up with KVS_E_FULL in a store where nothing is pinned. */
static int kvsi_raw_grant(kvsi_raw *R, uint32_t slot)
{
    kvsi_rfl *p;
    for (p = R->rsv; p != NULL; p = p->rnext)
        if (p->claim == 1 && p->claim_slot == slot) {
            p->claim = 2;
            R->nclaims--;
            return 1;
        }
    return 0;
}

/* Write a checkpoint. after != 0: skip it when a checkpoint whose snapshot
   was taken at or after snapshot number `after` has already completed. */
static kvs_result kvsi_raw_ckpt_write(kvsi_raw *R, uint64_t after)
{
    kvs_result r = KVS_OK;
    uint64_t need, floor, alloc_lim, mut_at, snap, total, copy_off, payload_len;
    size_t q0, i, k, pos, used;
    uint32_t copy, crc;
    unsigned char *p;
    kvs_index_header ih;
    kvs_ckpt_header ch;
    kvsi_rent *e;

    pthread_mutex_lock(&R->ckmu);
    pthread_mutex_lock(&R->mu);
    if (after != 0 && R->done_snap >= after) {
        pthread_mutex_unlock(&R->mu);
        pthread_mutex_unlock(&R->ckmu);
        return KVS_OK;
    }
    if (R->next_seq >= KVSI_RAW_COUNTER_MAX || kvsi_raw_floor(R) >= KVSI_RAW_COUNTER_MAX) {
        /* as in kvsi_raw_reserve: never a seq or gen_floor the restore
           takes for corrupt (a generation of 2^62 - 1 loaded from a
           damaged store leaves no floor to write) */
        pthread_mutex_unlock(&R->mu);
        pthread_mutex_unlock(&R->ckmu);
        return KVS_E_OVERFLOW;
    }
    for (;;) {
        need = kvsi_raw_ck_need(R);
        if (need > R->L.ckpt_bytes) {
            pthread_mutex_unlock(&R->mu);
            pthread_mutex_unlock(&R->ckmu);
            return KVS_E_LIMIT; /* only with keys longer than max_key_bytes from an earlier open */
        }
        if (need <= R->ckcap)
            break;
        pthread_mutex_unlock(&R->mu);
        r = kvsi_raw_ck_reserve(R, kvsi_min64(R->L.ckpt_bytes, need + need / 8 + R->A));
        pthread_mutex_lock(&R->mu);
        if (r != KVS_OK) {
            pthread_mutex_unlock(&R->mu);
            pthread_mutex_unlock(&R->ckmu);
            return r;
        }
    }
    snap = ++R->snap_seq;
    floor = kvsi_raw_floor(R);
    alloc_lim = kvsi_max64(R->alloc_want, R->alloc_disk);
    if (R->tighten) {
        /* Lower alloc_limit to the slots handed out (close) or that plus
           the first step (the store is quiet), so the restore scan does not
           read the unused rest of a big step. Safe: from now on no slot at
           or above the lowered limit is handed out before a checkpoint
           raises it again, and the checkpoint on disk covers more. */
        uint64_t t = R->next_unwritten + (R->tighten == 2 ? 0 : kvsi_raw_step0(R));
        if (R->alloc_want <= R->alloc_disk && t < R->alloc_disk) { /* no raise pending */
            alloc_lim = kvsi_min64(t, R->L.slot_count);
            R->alloc_disk = R->alloc_want = alloc_lim;
            R->alloc_step = kvsi_raw_step0(R);
        }
        R->tighten = 0;
    }
    mut_at = R->mut_seq;
    q0 = R->nquar;
    payload_len = KVS_INDEX_HEADER_BYTES + R->idx_bytes;
    ih.gen_floor = floor;
    ih.alloc_limit = alloc_lim;
    ih.slot_count = R->L.slot_count;
    ih.entry_count = (uint32_t)R->count;
    p = R->ck + KVS_CKPT_HEADER_BYTES;
    r = kvs_index_header_encode(&ih, p, KVS_INDEX_HEADER_BYTES);
    pos = KVS_INDEX_HEADER_BYTES;
    /* Least recently used first: restore appends, so the order survives. */
    for (e = R->lru; e != NULL && r == KVS_OK; e = e->lprev) {
        kvs_index_entry ie;
        ie.slot = e->slot;
        ie.key_len = e->klen;
        ie.generation = e->gen;
        ie.payload_len = e->len;
        ie.payload_crc = e->crc;
        ie.key = e->key;
        r = kvs_index_entry_encode(&ie, p + pos, (size_t)payload_len - pos, &used);
        pos += used;
    }
    pthread_mutex_unlock(&R->mu);

    copy = R->next_copy;
    copy_off = R->L.ckpt_offset[copy];
    total = kvsi_ru(KVS_CKPT_HEADER_BYTES + payload_len, R->A);
    if (r == KVS_OK) {
        memset(R->ck + KVS_CKPT_HEADER_BYTES + payload_len, 0,
               (size_t)(total - KVS_CKPT_HEADER_BYTES - payload_len));
        crc = kvs_crc32c(0, p, (size_t)payload_len);
        ch.copy = copy;
        ch.seq = R->next_seq;
        ch.payload_len = payload_len;
        ch.payload_crc = crc;
        ch.store_id = R->store_id;
        r = kvs_ckpt_header_encode(&ch, R->ck, KVS_CKPT_HEADER_BYTES);
    }
    if (r == KVS_OK && total > R->A)
        r = kvs_file_write(R->f, copy_off + R->A, R->ck + R->A, (size_t)(total - R->A));
    if (r == KVS_OK)
        r = kvs_file_datasync(R->f);
    if (r == KVS_OK)
        r = kvs_file_write(R->f, copy_off, R->ck, (size_t)R->A);
    if (r == KVS_OK)
        r = kvs_file_datasync(R->f);

    pthread_mutex_lock(&R->mu);
    R->last_ckpt_ns = kvsi_now_ns(0);
    if (r == KVS_OK) {
        if (alloc_lim > R->alloc_disk) {
            /* A raise: the store is filling; the next one is twice as big. */
            R->alloc_disk = alloc_lim;
            R->alloc_step = kvsi_min64(R->alloc_step * 2, kvsi_raw_step_cap(R));
        }
        /* Release what was quarantined before the snapshot and is older
           than its gen_floor; keep the rest in order. */
        for (i = 0, k = 0; i < R->nquar; i++) {
            if (i < q0 && R->quar[i].gen < floor) {
                if (R->nclaims == 0 || !kvsi_raw_grant(R, R->quar[i].slot))
                    R->freel[R->nfree++] = R->quar[i].slot;
            } else {
                R->quar[k++] = R->quar[i];
            }
        }
        R->nquar = k;
        if (mut_at > R->ckpt_mut_seq)
            R->ckpt_mut_seq = mut_at;
        R->done_snap = snap;
        R->checkpoints++;
        R->next_copy = copy ^ 1u;
        R->next_seq++;
        pthread_cond_broadcast(&R->icv);
    }
    pthread_mutex_unlock(&R->mu);
    pthread_mutex_unlock(&R->ckmu);
    return r;
}

/* Write a checkpoint (none when one covering snapshot `after` is done),
   counting a failure: the background thread's ones reach no caller until
   the next sync or close, so the stats show them. */
static kvs_result kvsi_raw_ckpt(kvsi_raw *R, uint64_t after)
{
    kvs_result r = kvsi_raw_ckpt_write(R, after);
    if (r != KVS_OK) {
        pthread_mutex_lock(&R->mu);
        R->ckpt_errors++;
        pthread_mutex_unlock(&R->mu);
    }
    return r;
}

/* Quarantined slots a checkpoint would free now: older than every put in
   flight (mu held). The others wait for those puts, and a checkpoint
   written for them alone would free nothing. */
static size_t kvsi_raw_releasable(const kvsi_raw *R)
{
    uint64_t floor = kvsi_raw_floor(R);
    size_t i, n = 0;
    for (i = 0; i < R->nquar; i++)
        if (R->quar[i].gen < floor)
            n++;
    return n;
}

static void *kvsi_raw_thread(void *arg)
{
    kvsi_raw *R = (kvsi_raw *)arg;
    uint64_t interval = (uint64_t)R->cfg->checkpoint_interval_ms * 1000000u;
    uint64_t idle = (uint64_t)R->cfg->checkpoint_idle_ms * 1000000u;
    uint64_t period = kvsi_min64(interval, idle) / 2;
    if (period < 1000000u)
        period = 1000000u;
    if (period > 1000000000u)
        period = 1000000000u;
    pthread_mutex_lock(&R->mu);
    while (!R->stop) {
        struct timespec ts;
        uint64_t now = kvsi_now_ns(0) + period;
        ts.tv_sec = (time_t)(now / 1000000000u);
        ts.tv_nsec = (long)(now % 1000000000u);
        (void)pthread_cond_timedwait(&R->cv, &R->mu, &ts);
        if (R->stop)
            break;
        now = kvsi_now_ns(0);
        if ((R->mut_seq != R->ckpt_mut_seq || kvsi_raw_releasable(R) > 0 || kvsi_raw_alloc_loose(R)) &&
            now - R->last_put_ns >= idle && now - R->last_ckpt_ns >= interval) {
            R->tighten = 1;
            pthread_mutex_unlock(&R->mu);
            (void)kvsi_raw_ckpt(R, 0);
            pthread_mutex_lock(&R->mu);
        }
    }
    pthread_mutex_unlock(&R->mu);
    return NULL;
}

/* ---- put ---- */

/* Whether e's key has a put under way: in flight (R->fl) or still
   reserving its slot (R->rsv, this one among them). Its object is not
   evicted: an overwrite keeps the old value readable until the new one is
   published, and keeps it should the new one fail. */
static int kvsi_raw_same_key(const kvsi_rent *a, const kvsi_rent *b)
{
    return a->hash == b->hash && a->klen == b->klen && memcmp(a->key, b->key, a->klen) == 0;
}

static int kvsi_raw_key_busy(const kvsi_raw *R, const kvsi_rent *e)
{
    const kvsi_rfl *p;
    for (p = R->fl; p != NULL; p = p->next)
        if (kvsi_raw_same_key(p->e, e))
            return 1;
    for (p = R->rsv; p != NULL; p = p->rnext)
        if (kvsi_raw_same_key(p->e, e))
            return 1;
    return 0;
}

/* fl leaves R->rsv (R->mu held). A claim it still has ends: a slot handed
   to it and not taken goes to the free list (and a waiting put looks). */
static void kvsi_raw_rsv_done(kvsi_raw *R, kvsi_rfl *fl)
{
    if (fl->claim == 1) {
        R->nclaims--;
    } else if (fl->claim == 2) {
        R->freel[R->nfree++] = fl->claim_slot;
        pthread_cond_broadcast(&R->icv);
    }
    fl->claim = 0;
    if (fl->rprev)
        fl->rprev->rnext = fl->rnext;
    else
        R->rsv = fl->rnext;
    if (fl->rnext)
        fl->rnext->rprev = fl->rprev;
}

/* Reserve a slot and a generation for a put (registers it in flight). */
static kvs_result kvsi_raw_reserve(kvsi_raw *R, uint32_t *slot, kvsi_rfl *fl)
{
    unsigned tries, waits = 0; /* rounds of eviction; waits a put in flight ended */
    kvs_result r;
    kvsi_rent *held = NULL;    /* this round's evictions (kvsi_raw_evict_end) */
    uint64_t removes_at;
    pthread_mutex_lock(&R->mu);
    if (R->next_gen >= KVSI_RAW_COUNTER_MAX - 1) {
        /* never a generation, nor a checkpoint's gen_floor (next_gen when
           quiet), that the restore would take for corrupt; reached only
           from counters a damaged store handed in */
        pthread_mutex_unlock(&R->mu);
        return KVS_E_OVERFLOW;
    }
    fl->rprev = NULL;
    fl->rnext = R->rsv;
    if (R->rsv)
        R->rsv->rprev = fl;
    R->rsv = fl;
    for (tries = 0;;) {
        uint64_t after;
        if (fl->claim == 2) { /* handed to this put by the checkpoint */
            fl->claim = 0;
            *slot = fl->claim_slot;
            break;
        }
        if (R->nfree > 0) {
            *slot = R->freel[--R->nfree];
            break;
        }
        if (R->next_unwritten < R->L.slot_count) {
            if (R->next_unwritten < R->alloc_disk) {
                *slot = (uint32_t)R->next_unwritten++;
                break;
            }
            R->alloc_want = kvsi_max64(R->alloc_want,
                kvsi_min64(R->L.slot_count, R->alloc_disk + R->alloc_step));
        } else {
            uint64_t floor = kvsi_raw_floor(R);
            if (kvsi_raw_releasable(R) == 0) {
                /* Victims older than every put in flight: the checkpoint
                   below frees their slots. A newer one's slot would stay
                   quarantined until that put ends, so evicting it gains
                   nothing yet (and a slow put would drain the store, one
                   checkpoint per round): wait for the put instead. */
                uint64_t want = kvsi_max64(1, R->L.slot_count / 32), got = 0;
                kvsi_rent *e = R->lru, *prev;
                if (tries >= KVSI_RAW_TRIES) {
                    /* before evicting: nothing goes for a put that fails */
                    kvsi_raw_rsv_done(R, fl);
                    pthread_mutex_unlock(&R->mu);
                    return KVS_E_FULL;
                }
                for (; e != NULL && got < want; e = prev) {
                    prev = e->lprev;
                    if (e->readers == 0 && e->pins == 0 && e->gen < floor && !kvsi_raw_key_busy(R, e)) {
                        kvsi_raw_evict_hold(R, e, &held);
                        got++;
                    }
                }
                if (got == 0 && R->nfl > 0) {
                    /* Only slots newer than a put in flight are quarantined:
                       wait for a put to end, or a checkpoint to free a slot
                       (icv), and look again. Up to KVSI_RAW_TRIES puts in
                       flight may end meanwhile; other wake-ups do not count. */
                    uint64_t ended = R->fl_ended;
                    if (waits >= KVSI_RAW_TRIES) {
                        kvsi_raw_rsv_done(R, fl);
                        pthread_mutex_unlock(&R->mu);
                        return KVS_E_FULL;
                    }
                    R->room_waits++;
                    pthread_cond_wait(&R->icv, &R->mu);
                    R->room_waits--;
                    if (R->fl_ended != ended)
                        waits++;
                    continue;
                }
                if (got == 0) {
                    /* The last resort (no put in flight), as in the
                       filesystem store: the least recent object whose key
                       has another put under way (never this put's own
                       key). That put's old value goes only when nothing
                       else can; two overwrites in a full store both
                       succeed, as one after the other would. */
                    for (e = R->lru; e != NULL; e = e->lprev)
                        if (e->readers == 0 && e->pins == 0 && e->gen < floor && !kvsi_raw_same_key(e, fl->e)) {
                            kvsi_raw_evict_hold(R, e, &held);
                            got++;
                            break;
                        }
                }
                if (got == 0) {
                    kvsi_raw_rsv_done(R, fl);
                    pthread_mutex_unlock(&R->mu);
                    return KVS_E_FULL;
                }
            }
        }
        if (tries >= KVSI_RAW_TRIES) {
            KVS_ASSERT(held == NULL); /* evictions only below KVSI_RAW_TRIES */
            kvsi_raw_rsv_done(R, fl);
            pthread_mutex_unlock(&R->mu);
            return KVS_E_FULL;
        }
        if (held != NULL && fl->claim == 0) {
            /* one of this round's slots is this put's when released */
            fl->claim_slot = held->slot;
            fl->claim = 1;
            R->nclaims++;
        }
        after = R->snap_seq + 1;
        removes_at = R->removes;
        pthread_mutex_unlock(&R->mu);
        r = kvsi_raw_ckpt(R, after);
        if (r != KVS_OK && held != NULL) {
            pthread_mutex_lock(&R->ckmu); /* lock order: ckmu, then mu */
            pthread_mutex_lock(&R->mu);
            kvsi_raw_evict_end(R, held, 0, removes_at);
            pthread_mutex_unlock(&R->ckmu);
        } else {
            pthread_mutex_lock(&R->mu);
            kvsi_raw_evict_end(R, held, r == KVS_OK, removes_at);
        }
        held = NULL;
        if (r != KVS_OK) {
            kvsi_raw_rsv_done(R, fl);
            pthread_mutex_unlock(&R->mu);
            return r;
        }
        tries++;
    }
    kvsi_raw_rsv_done(R, fl);
    fl->gen = R->next_gen++;
    fl->prev = NULL;
    fl->next = R->fl;
    if (R->fl)
        R->fl->prev = fl;
    R->fl = fl;
    R->nfl++;
    pthread_mutex_unlock(&R->mu);
    return KVS_OK;
}

static void kvsi_raw_fl_done(kvsi_raw *R, kvsi_rfl *fl)
{
    if (fl->prev)
        fl->prev->next = fl->next;
    else
        R->fl = fl->next;
    if (fl->next)
        fl->next->prev = fl->prev;
    R->nfl--;
    R->fl_ended++;
    pthread_cond_broadcast(&R->icv);
}

static kvs_result kvsi_raw_put(void *eng, const void *key, size_t klen, const void *data, size_t len)
{
    kvsi_raw *R = (kvsi_raw *)eng;
    kvsi_rent *e = NULL, *old;
    kvsi_rfl fl;
    uint32_t slot = 0;
    void *hmem = NULL;
    size_t hlen = 0, hdr = (size_t)R->L.slot_header_bytes, hsize;
    uint64_t off;
    kvs_objhdr oh;
    kvs_result r;
    int small, ovl;

    if (klen > R->cfg->max_key_bytes)
        return KVS_E_KEY;
    if ((uint64_t)len > R->L.slot_payload_max)
        return KVS_E_LIMIT;
    small = len <= KVSI_RAW_SMALL;
    /* A large aligned payload is written while its CRC is computed
       (kvsi_aiow_start); anything else: the CRC, then one write. */
    ovl = !small && R->info.direct && len >= KVSI_OVL_MIN && len % R->info.align == 0 &&
          kvs_ptr_is_aligned(data, R->info.buf_align) && kvsi_aio_errno(&R->aio) == 0;
    hsize = small ? hdr + (size_t)kvsi_ru((uint64_t)len, R->A) : hdr;
    r = kvsi_raw_ent_new(R, key, klen, &e);
    if (r != KVS_OK)
        return r;
    r = kvs_aligned_alloc(R->ap, hsize, (size_t)R->A, &hmem);
    if (r != KVS_OK) {
        kvsi_raw_ent_free(R, e);
        return r;
    }
    e->len = (uint64_t)len;
    e->crc = len > 0 && !ovl ? kvs_crc32c(0, data, len) : 0;
    fl.e = e;
    fl.superseded = 0;
    fl.claim = 0;
    r = kvsi_raw_reserve(R, &slot, &fl);
    if (r != KVS_OK) {
        kvsi_raw_ent_free(R, e);
        kvs_aligned_free(R->ap, hmem, hsize, (size_t)R->A);
        return r;
    }
    e->slot = slot;
    e->gen = fl.gen;
    off = kvsi_raw_slot_off(R, slot);
    oh.key_len = (uint32_t)klen;
    oh.payload_len = (uint64_t)len;
    oh.generation = e->gen;
    oh.store_id = R->store_id;
    oh.payload_offset = (uint32_t)hdr;
    oh.key = key;
    if (ovl) {
        /* The payload goes first and is in flight while its CRC is
           computed and the header written after it. Either may reach the
           disk first: a crash between them leaves a header whose payload
           CRC fails (a miss), as with one pwritev. */
        kvsi_aiow w;
        kvs_result rw;
        kvsi_aiow_start(&w, &R->aio, R->f, off + (uint64_t)hdr, data, len);
        e->crc = kvs_crc32c(0, data, len);
        oh.payload_crc = e->crc;
        r = kvs_objhdr_encode(&oh, hmem, hdr, &hlen);
        if (r == KVS_OK) {
            memset((unsigned char *)hmem + hlen, 0, hdr - hlen);
            r = kvs_file_write(R->f, off, hmem, hdr);
        }
        rw = kvsi_aiow_finish(&w); /* always: the caller's buffer is in use until then */
        if (r == KVS_OK)
            r = rw;
    } else {
        oh.payload_crc = e->crc;
        r = kvs_objhdr_encode(&oh, hmem, hdr, &hlen);
        if (r == KVS_OK && small) {
            /* One write: header, zeros, payload, zeros to the unit. */
            memset((unsigned char *)hmem + hlen, 0, hsize - hlen);
            if (len > 0)
                memcpy((unsigned char *)hmem + hdr, data, len);
            r = kvs_file_write(R->f, off, hmem, hsize);
        } else if (r == KVS_OK) {
            /* One pwritev: the header region, then the payload straight
               from the caller's buffer. The header may reach the disk
               before the payload; a crash between them leaves a header
               whose payload CRC fails, which get and the restore scan
               treat as a miss. */
            kvs_iovec v[2];
            memset((unsigned char *)hmem + hlen, 0, hdr - hlen);
            v[0].base = hmem;
            v[0].len = hdr;
            v[1].base = (void *)(uintptr_t)data; /* only read */
            v[1].len = len;
            r = kvs_file_writev(R->f, off, v, 2);
        }
    }
    if (r == KVS_OK && R->cfg->durability != KVS_DURABLE_NONE)
        r = kvs_file_datasync(R->f);
    kvs_aligned_free(R->ap, hmem, hsize, (size_t)R->A);

    pthread_mutex_lock(&R->mu);
    kvsi_raw_fl_done(R, &fl);
    if (r != KVS_OK) {
        kvsi_raw_quarantine(R, slot, e->gen);
        pthread_mutex_unlock(&R->mu);
        kvsi_raw_ent_free(R, e);
        return r;
    }
    old = kvsi_raw_find(R, e->key, klen, e->hash);
    if (fl.superseded || (old != NULL && old->gen > e->gen)) {
        /* A newer put of this key was published first (and may be gone
           since, removed or evicted): ours is ordered before it. Linking
           ours now would let a crash bring the newer one back over it (the
           restore keeps the higher generation of a key), or bring back a
           removed value over an acknowledged put. */
        kvsi_raw_quarantine(R, slot, e->gen);
        pthread_mutex_unlock(&R->mu);
        kvsi_raw_ent_free(R, e);
        return KVS_OK;
    }
    if (old != NULL) {
        e->pins = old->pins; /* pins belong to the key */
        old->pins = 0;
        kvsi_raw_drop(R, old);
    }
    {
        /* Older puts of this key still in flight are superseded by ours. */
        kvsi_rfl *p;
        for (p = R->fl; p != NULL; p = p->next)
            if (p->gen < e->gen && p->e->hash == e->hash && p->e->klen == e->klen &&
                memcmp(p->e->key, e->key, e->klen) == 0)
                p->superseded = 1;
    }
    kvsi_raw_link(R, e);
    R->mut_seq++;
    R->last_put_ns = kvsi_now_ns(0);
    pthread_mutex_unlock(&R->mu);
    return KVS_OK;
}

/* ---- get and the small calls ---- */

/* A reader is done with e: drop it when it failed its checks, free it when
   it was the last reader of a dropped entry (mu held). */
static void kvsi_raw_release(kvsi_raw *R, kvsi_rent *e, int corrupt)
{
    e->readers--;
    if (corrupt && !e->bad) { /* one damaged record, counted once */
        e->bad = 1;
        R->corruptions++;
    }
    if (corrupt) {
        if (!e->dead) {
            kvsi_raw_unlink(R, e);
            R->mut_seq++;
            e->dead = 1;
            if (e->pins > 0)
                kvsi_raw_orphan(R, e);
        }
    }
    if (e->readers != 0)
        return;
    if (e->dead) {
        kvsi_raw_quarantine(R, e->slot, e->gen);
        if (!e->orphan)
            kvsi_raw_ent_free(R, e);
    }
    if (R->room_waits > 0) /* a put waiting for room: this entry was read (it
                              may be evictable now), or its slot is
                              quarantined (a checkpoint frees it now) */
        pthread_cond_broadcast(&R->icv);
}

static kvs_result kvsi_raw_get(void *eng, const void *key, size_t klen, void *buf, size_t cap, size_t *out_len)
{
    kvsi_raw *R = (kvsi_raw *)eng;
    kvsi_rent *e;
    uint64_t h = kvsi_raw_hash(key, klen), off, gen, len;
    uint32_t slot, crc;
    size_t hn;
    void *hmem = NULL;
    kvs_objhdr oh;
    kvs_result r;
    int bad = 0, small;

    *out_len = 0;
    pthread_mutex_lock(&R->mu);
    e = kvsi_raw_find(R, key, klen, h);
    if (e == NULL) {
        pthread_mutex_unlock(&R->mu);
        return KVS_NOT_FOUND;
    }
    *out_len = (size_t)e->len;
    if (e->len > (uint64_t)cap) {
        pthread_mutex_unlock(&R->mu);
        return KVS_E_BUFSIZE;
    }
    e->readers++;
    kvsi_raw_touch(R, e);
    slot = e->slot;
    gen = e->gen;
    len = e->len;
    crc = e->crc;
    pthread_mutex_unlock(&R->mu);

    off = kvsi_raw_slot_off(R, slot);
    small = len <= (uint64_t)KVSI_RAW_SMALL;
    /* small: header and payload in one read, then a copy; else one preadv:
       the header region into an aligned block, the payload straight into
       the caller's buffer (checked once the header is). */
    hn = small ? (size_t)kvsi_ru(R->L.slot_header_bytes + len, R->A) : (size_t)R->L.slot_header_bytes;
    r = kvs_aligned_alloc(R->ap, hn, (size_t)R->A, &hmem);
    if (r == KVS_OK && small) {
        r = kvs_file_read(R->f, off, hmem, hn);
    } else if (r == KVS_OK) {
        kvs_iovec v[2];
        v[0].base = hmem;
        v[0].len = hn;
        v[1].base = buf;
        v[1].len = (size_t)len;
        r = kvs_file_readv(R->f, off, v, 2);
    }
    if (r == KVS_OK) {
        bad = kvs_objhdr_decode(hmem, hn, &oh) != KVS_OK || oh.store_id != R->store_id ||
              oh.key_len != klen || memcmp(oh.key, key, klen) != 0 || oh.generation != gen ||
              oh.payload_len != len || oh.payload_offset != R->L.slot_header_bytes || oh.payload_crc != crc;
        if (!bad && small && len > 0)
            memcpy(buf, (unsigned char *)hmem + R->L.slot_header_bytes, (size_t)len);
        if (r == KVS_OK && !bad)
            bad = (len > 0 ? kvs_crc32c(0, buf, (size_t)len) : 0) != crc;
    }
    if (hmem != NULL)
        kvs_aligned_free(R->ap, hmem, hn, (size_t)R->A);
    pthread_mutex_lock(&R->mu);
    kvsi_raw_release(R, e, r == KVS_OK && bad);
    pthread_mutex_unlock(&R->mu);
    if (r != KVS_OK) {
        *out_len = 0;
        return r;
    }
    if (bad) {
        *out_len = 0;
        return KVS_NOT_FOUND;
    }
    return KVS_OK;
}

static kvs_result kvsi_raw_exists(void *eng, const void *key, size_t klen)
{
    kvsi_raw *R = (kvsi_raw *)eng;
    kvs_result r;
    pthread_mutex_lock(&R->mu);
    r = kvsi_raw_find(R, key, klen, kvsi_raw_hash(key, klen)) != NULL ? KVS_OK : KVS_NOT_FOUND;
    pthread_mutex_unlock(&R->mu);
    return r;
}

static kvs_result kvsi_raw_remove(void *eng, const void *key, size_t klen)
{
    kvsi_raw *R = (kvsi_raw *)eng;
    kvsi_rent *e;
    pthread_mutex_lock(&R->mu);
    R->removes++;
    e = kvsi_raw_find(R, key, klen, kvsi_raw_hash(key, klen));
    if (e != NULL) {
        kvsi_raw_drop(R, e);
        pthread_cond_broadcast(&R->icv); /* a waiting put may free its slot */
    }
    pthread_mutex_unlock(&R->mu);
    return e != NULL ? KVS_OK : KVS_NOT_FOUND;
}

static kvs_result kvsi_raw_pin(void *eng, const void *key, size_t klen, int delta)
{
    kvsi_raw *R = (kvsi_raw *)eng;
    kvsi_rent *e;
    kvs_result r = KVS_OK;
    uint64_t h = kvsi_raw_hash(key, klen);
    pthread_mutex_lock(&R->mu);
    e = kvsi_raw_find(R, key, klen, h);
    if (e == NULL && delta < 0 && (e = kvsi_raw_orphan_find(R, key, klen, h)) != NULL) {
        if (--e->pins == 0) /* the last pin of a key not stored */
            kvsi_raw_orphan_end(R, e);
    } else if (e == NULL)
        r = KVS_NOT_FOUND;
    else if (delta > 0 && e->pins == UINT32_MAX)
        r = KVS_E_OVERFLOW;
    else if (delta < 0 && e->pins == 0)
        r = KVS_E_INVAL;
    else if (delta > 0)
        e->pins++;
    else if (--e->pins == 0)
        pthread_cond_broadcast(&R->icv); /* evictable now: a waiting put looks again */
    pthread_mutex_unlock(&R->mu);
    return r;
}

static kvs_result kvsi_raw_sync(void *eng)
{
    kvsi_raw *R = (kvsi_raw *)eng;
    int dirty;
    uint64_t upto;
    pthread_mutex_lock(&R->mu);
    /* Wait for the puts already in flight: otherwise the checkpoint's
       gen_floor (their generation) is not above an object removed before
       this sync, and the restore scan would bring that object back. */
    upto = R->next_gen;
    while (kvsi_raw_floor(R) < upto)
        pthread_cond_wait(&R->icv, &R->mu);
    dirty = R->mut_seq != R->ckpt_mut_seq || R->nquar > 0;
    pthread_mutex_unlock(&R->mu);
    /* A checkpoint fdatasyncs before its header; without changes since the
       last one, an fdatasync covers the bytes of every acknowledged put. */
    return dirty ? kvsi_raw_ckpt(R, 0) : kvs_file_datasync(R->f);
}

static kvs_result kvsi_raw_iterate(void *eng, kvs_key_fn fn, void *user)
{
    kvsi_raw *R = (kvsi_raw *)eng;
    void *mem = NULL;
    size_t total = 0, pos = 0, n, i;
    kvsi_rent *e;
    kvs_result r = KVS_OK;
    unsigned char *p;
    pthread_mutex_lock(&R->mu);
    n = R->count;
    for (e = R->mru; e != NULL; e = e->lnext)
        total += 16 + (((size_t)e->klen + 7u) & ~(size_t)7u);
    if (total > 0)
        r = kvs_aligned_alloc(R->ap, total, 8, &mem);
    if (r == KVS_OK && total > 0) {
        p = (unsigned char *)mem;
        for (e = R->mru; e != NULL; e = e->lnext) {
            uint64_t kl = e->klen;
            memcpy(p + pos, &kl, 8);
            memcpy(p + pos + 8, &e->len, 8);
            memcpy(p + pos + 16, e->key, e->klen);
            pos += 16 + (((size_t)e->klen + 7u) & ~(size_t)7u);
        }
    }
    pthread_mutex_unlock(&R->mu);
    if (r != KVS_OK)
        return r;
    p = (unsigned char *)mem;
    for (i = 0, pos = 0; i < n; i++) {
        uint64_t kl, len;
        memcpy(&kl, p + pos, 8);
        memcpy(&len, p + pos + 8, 8);
        if (fn(user, p + pos + 16, (size_t)kl, len) != 0)
            break;
        pos += 16 + (((size_t)kl + 7u) & ~(size_t)7u);
    }
    if (mem != NULL)
        kvs_aligned_free(R->ap, mem, total, 8);
    return KVS_OK;
}

static void kvsi_raw_stats(void *eng, kvs_store_stats *out)
{
    kvsi_raw *R = (kvsi_raw *)eng;
    kvs_file_stats fs;
    pthread_mutex_lock(&R->mu);
    out->objects = R->count;
    out->bytes = R->bytes;
    out->disk_bytes = (uint64_t)R->count * R->L.slot_bytes;
    out->capacity_bytes = R->L.slot_count * R->L.slot_bytes;
    out->slots_total = R->L.slot_count;
    out->slots_free = (uint64_t)R->nfree + (R->L.slot_count - R->next_unwritten) + (uint64_t)R->nquar;
    out->evictions = R->evictions;
    out->corruptions = R->corruptions;
    out->restore_fallback = R->restore_fallback;
    out->checkpoints = R->checkpoints;
    out->checkpoint_errors = R->ckpt_errors;
    pthread_mutex_unlock(&R->mu);
    kvs_file_get_stats(R->f, &fs);
    out->direct = R->info.direct;
    out->direct_fallbacks = fs.direct_fallbacks;
    out->bounce_bytes = fs.bounce_bytes;
    out->bounce_calls = fs.bounce_calls;
    out->overlapped_writes = kvsi_load(&R->aio.overlapped);
    out->overlap_errno = kvsi_aio_errno(&R->aio);
    out->lock_errno = R->lock_errno;
}

static size_t kvsi_raw_buffer_align(void *eng)
{
    kvsi_raw *R = (kvsi_raw *)eng;
    return R->info.buf_align > 0 ? R->info.buf_align : 1;
}

/* ---- open, close ---- */

/* Stops and joins the checkpoint thread, when it runs. */
static void kvsi_raw_stop_thread(kvsi_raw *R)
{
    if (R->thr_on) {
        pthread_mutex_lock(&R->mu);
        R->stop = 1;
        pthread_cond_broadcast(&R->cv);
        pthread_mutex_unlock(&R->mu);
        pthread_join(R->thr, NULL);
        R->thr_on = 0;
    }
}

static void kvsi_raw_free(kvsi_raw *R)
{
    kvsi_raw_stop_thread(R);
    /* Every entry lives in a slab. */
    while (R->slabs != NULL) {
        kvsi_rslab *s = R->slabs;
        size_t size = s->size;
        R->slabs = s->next;
        KVSI_RAW_UNPOISON(s, size);
        kvs_aligned_free(R->ap, s, size, KVSI_RAW_ECLASS);
    }
    if (R->bk != NULL)
        kvs_aligned_free(R->ap, R->bk, R->nbk * sizeof(kvsi_rent *), kvsi_raw_bk_align(R, R->nbk));
    if (R->freel != NULL)
        kvs_aligned_free(R->ap, R->freel, (size_t)R->L.slot_count * sizeof(uint32_t), sizeof(uint32_t));
    if (R->quar != NULL)
        kvs_aligned_free(R->ap, R->quar, (size_t)R->L.slot_count * sizeof(kvsi_rq), sizeof(uint64_t));
    if (R->ck != NULL)
        kvs_aligned_free(R->ap, R->ck, R->ckcap, (size_t)R->A);
    /* A file this open made goes before its descriptor closes: the close
       drops the device lock, and another open that then takes it must not
       be left on a file removed under it. */
    if (R->created && R->path != NULL)
        (void)kvsi_sys_unlinkat(R->cfg->sysops, AT_FDCWD, R->path, 0);
    if (R->f != NULL)
        (void)kvs_file_close(R->f);
    if (R->path != NULL)
        kvs_aligned_free(R->ap, R->path, R->path_size, 1);
    kvsi_aio_destroy(&R->aio);
    if (R->have_icv)
        pthread_cond_destroy(&R->icv);
    if (R->have_cv)
        pthread_cond_destroy(&R->cv);
    if (R->have_amu)
        pthread_mutex_destroy(&R->amu);
    if (R->have_ckmu)
        pthread_mutex_destroy(&R->ckmu);
    if (R->have_mu)
        pthread_mutex_destroy(&R->mu);
    kvs_aligned_free(R->ap, R, sizeof *R, KVSI_STRUCT_ALIGN);
}

static kvs_result kvsi_raw_close(void *eng)
{
    kvsi_raw *R = (kvsi_raw *)eng;
    kvs_result r = KVS_OK, r2;
    int dirty;
    kvsi_raw_stop_thread(R);
    pthread_mutex_lock(&R->mu);
    /* The last checkpoint records alloc_limit at the slots handed out, so
       the next open scans no unused slot: worth one more checkpoint when
       more than the first step would be left for that scan. */
    dirty = R->mut_seq != R->ckpt_mut_seq || R->nquar > 0 || kvsi_raw_alloc_loose(R);
    R->tighten = 2;
    pthread_mutex_unlock(&R->mu);
    if (dirty)
        r = kvsi_raw_ckpt(R, 0);
    r2 = kvs_file_close(R->f);
    R->f = NULL;
    if (r == KVS_OK)
        r = r2;
    kvsi_raw_free(R);
    return r;
}

/* The device lock rides on the device file's description. */
static void kvsi_raw_drop_locks(void *eng)
{
    kvsi_raw *R = (kvsi_raw *)eng;
    if (R->f != NULL && R->f->fd >= 0) {
        (void)close(R->f->fd);
        R->f->fd = -1; /* a later call fails (EBADF), never on a reused number */
    }
}

static const kvsi_engine_ops kvsi_raw_ops = {
    kvsi_raw_put, kvsi_raw_get, kvsi_raw_exists, kvsi_raw_remove, kvsi_raw_pin,
    kvsi_raw_sync, kvsi_raw_iterate, kvsi_raw_stats, kvsi_raw_close, kvsi_raw_buffer_align,
    kvsi_raw_drop_locks
};

/* Bytes a checkpoint copy needs for slot_count entries of max_key keys. */
static uint64_t kvsi_raw_ck_bound(uint64_t slot_count, uint32_t max_key)
{
    return KVS_CKPT_HEADER_BYTES + KVS_INDEX_HEADER_BYTES +
           slot_count * (KVS_INDEX_ENTRY_FIXED_BYTES + (((uint64_t)max_key + 7u) & ~(uint64_t)7u));
}

/* The largest slot (header and payload) a store opens: the payload of one
   must fit in a size_t with room to spare (a buffer of it is allocated, and
   a get returns its length in a size_t). 2^63 on 64-bit, far above the
   2^48 any config allows; 2 GiB on 32-bit. */
#define KVSI_RAW_SLOT_ADDR_MAX ((uint64_t)(SIZE_MAX / 2))

/* The geometry for formatting: meta_bytes sized (when 0) so a checkpoint of
   every slot fits; iterate because slot_count depends on meta_bytes. */
static kvs_result kvsi_raw_geometry(kvsi_raw *R, uint64_t dev, char *err, size_t cap)
{
    kvs_store_config *c = R->cfg;
    uint64_t A = R->A, hdr = kvsi_max64(KVS_OBJHDR_REGION, A), slot_bytes, meta, m2;
    char why[160];
    kvs_result r;
    unsigned it;
    if (c->slot_payload_bytes > ((uint64_t)1 << 48))
        return kvsi_errf(err, cap, KVS_E_INVAL, "slot_payload_bytes %llu is too large",
                         (unsigned long long)c->slot_payload_bytes);
    slot_bytes = kvsi_ru(hdr + c->slot_payload_bytes, A);
    if (slot_bytes > KVSI_RAW_SLOT_ADDR_MAX)
        return kvsi_errf(err, cap, KVS_E_LIMIT,
                         "slot_payload_bytes %llu: a slot of %llu bytes is more than this process can address",
                         (unsigned long long)c->slot_payload_bytes, (unsigned long long)slot_bytes);
    if (c->meta_bytes != 0) {
        why[0] = '\0';
        r = kvs_layout_compute(dev, A, c->meta_bytes, slot_bytes, &R->L, why, sizeof why);
        if (r != KVS_OK)
            return kvsi_errf(err, cap, r, "geometry (device_bytes %llu, align %llu, meta_bytes %llu, slot_bytes %llu): %s",
                             (unsigned long long)dev, (unsigned long long)A, (unsigned long long)c->meta_bytes,
                             (unsigned long long)slot_bytes, why);
        if (kvsi_raw_ck_bound(R->L.slot_count, c->max_key_bytes) > R->L.ckpt_bytes)
            return kvsi_errf(err, cap, KVS_E_INVAL,
                             "meta_bytes %llu is too small: a checkpoint of %llu slots with %u-byte keys (max_key_bytes) needs meta_bytes %llu",
                             (unsigned long long)c->meta_bytes, (unsigned long long)R->L.slot_count,
                             (unsigned)c->max_key_bytes,
                             (unsigned long long)(2 * kvsi_ru(kvsi_raw_ck_bound(R->L.slot_count, c->max_key_bytes), A)));
        return KVS_OK;
    }
    meta = 2 * kvsi_ru(4096, A);
    for (it = 0; it < 64; it++) {
        why[0] = '\0';
        r = kvs_layout_compute(dev, A, meta, slot_bytes, &R->L, why, sizeof why);
        if (r != KVS_OK)
            return kvsi_errf(err, cap, r, "geometry (device_bytes %llu, align %llu, meta_bytes %llu, slot_bytes %llu): %s",
                             (unsigned long long)dev, (unsigned long long)A, (unsigned long long)meta,
                             (unsigned long long)slot_bytes, why);
        m2 = 2 * kvsi_max64(kvsi_ru(kvsi_raw_ck_bound(R->L.slot_count, c->max_key_bytes), A),
                            kvsi_ru(4096, A));
        if (m2 <= meta) {
            /* meta suffices; try the smaller size once more and keep it if it fits */
            kvs_layout l2;
            if (m2 < meta && kvs_layout_compute(dev, A, m2, slot_bytes, &l2, NULL, 0) == KVS_OK &&
                kvsi_raw_ck_bound(l2.slot_count, c->max_key_bytes) <= l2.ckpt_bytes) {
                meta = m2;
                continue;
            }
            return KVS_OK;
        }
        meta = m2;
    }
    return KVS_OK;
}

/* Read the map file (tp_map_file) into allocated, NUL-terminated text. */
static kvs_result kvsi_raw_read_text(kvsi_raw *R, const char *path, char **out, size_t *out_size, char *err,
                                     size_t cap)
{
    int fd;
    struct stat sb;
    void *mem = NULL;
    size_t n = 0, size;
    kvs_result r;
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kvsi_errf(err, cap, kvs_result_from_errno(errno), "tp_map_file %s: cannot open: %s", path,
                         strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > KVSI_RAW_MAPFILE_MAX) {
        kvsi_close_fd(NULL, fd);
        return kvsi_errf(err, cap, KVS_E_INVAL, "tp_map_file %s is not a regular file of at most 1 MiB", path);
    }
    size = (size_t)sb.st_size + 1;
    r = kvs_aligned_alloc(R->ap, size, 1, &mem);
    if (r != KVS_OK) {
        kvsi_close_fd(NULL, fd);
        return kvsi_errf(err, cap, r, "cannot allocate the TP map text");
    }
    while (n + 1 < size) {
        ssize_t k = read(fd, (char *)mem + n, size - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) { /* never a shorter map that parses */
            int e = errno;
            kvsi_close_fd(NULL, fd);
            kvs_aligned_free(R->ap, mem, size, 1);
            return kvsi_errf(err, cap, kvs_result_from_errno(e), "tp_map_file %s: cannot read: %s", path,
                             strerror(e));
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    kvsi_close_fd(NULL, fd);
    if (n + 1 != size || memchr(mem, '\0', n) != NULL) {
        kvs_aligned_free(R->ap, mem, size, 1);
        return kvsi_errf(err, cap, n + 1 != size ? KVS_E_IO : KVS_E_INVAL, "tp_map_file %s: %s", path,
                         n + 1 != size ? "it shrank while it was read" : "it holds a NUL byte");
    }
    ((char *)mem)[n] = '\0';
    *out = (char *)mem;
    *out_size = size;
    return KVS_OK;
}

/* Which path this rank opens: cfg->paths, or the rank's entry of the whole
   map (validated before anything is opened). Sets tp_world. */
static kvs_result kvsi_raw_pick_path(kvsi_raw *R, char *err, size_t cap)
{
    kvs_store_config *c = R->cfg;
    const char *path = c->paths;
    char *text = NULL, norm[KVS_PATH_MAX + 1];
    size_t text_size = 0, n;
    kvs_tpmap map;
    kvs_result r = KVS_OK;
    void *mem = NULL;
    memset(&map, 0, sizeof map);
    if (path == NULL) {
        const char *t = c->tp_map;
        char why[256];
        if (c->tp_map_file != NULL) {
            r = kvsi_raw_read_text(R, c->tp_map_file, &text, &text_size, err, cap);
            if (r != KVS_OK)
                return r;
            t = text;
        }
        why[0] = '\0';
        r = kvs_tpmap_parse(t, c->tp_world, R->ap, &map, why, sizeof why);
        if (text != NULL)
            kvs_aligned_free(R->ap, text, text_size, 1);
        if (r != KVS_OK)
            return kvsi_errf(err, cap, r, "%s: %s", c->tp_map_file ? "tp_map_file" : "tp_map", why);
        if (c->tp_rank >= map.world) {
            uint32_t w = map.world;
            kvs_tpmap_free(&map);
            return kvsi_errf(err, cap, KVS_E_RANK, "tp_rank %u is not in the TP map (ranks 0..%u)",
                             (unsigned)c->tp_rank, (unsigned)(w - 1));
        }
        c->tp_world = map.world;
        path = map.paths[c->tp_rank];
    } else {
        /* One path, spelled as in a path list: trimmed, file:// removed. */
        size_t nl = 0;
        if (c->tp_world == 0) {
            if (c->tp_rank != 0)
                return kvsi_errf(err, cap, KVS_E_RANK,
                                 "tp_rank %u with one device and tp_world 0 (a world of 1: rank 0 only)",
                                 (unsigned)c->tp_rank);
            c->tp_world = 1;
        }
        if (strchr(path, ',') != NULL)
            /* a path list, as the filesystem store takes: refused, never
               read as one file name with a comma in it */
            return kvsi_errf(err, cap, KVS_E_INVAL,
                             "paths \"%s\": the raw store takes one device or file, and a comma "
                             "separates a path list (one path per rank: tp_map or tp_map_file)",
                             path);
        r = kvs_path_normalize(path, strlen(path), norm, sizeof norm, &nl);
        if (r != KVS_OK)
            return kvsi_errf(err, cap, r, "paths \"%s\" (the raw store's device or file): %s", path,
                             kvs_result_str(r));
        path = norm;
    }
    n = strlen(path) + 1;
    r = kvs_aligned_alloc(R->ap, n, 1, &mem);
    if (r == KVS_OK) {
        memcpy(mem, path, n);
        R->path = (char *)mem;
        R->path_size = n;
    }
    if (map.world != 0)
        kvs_tpmap_free(&map);
    return r == KVS_OK ? KVS_OK : kvsi_errf(err, cap, r, "cannot allocate the path");
}

static kvs_result kvsi_raw_alloc_state(kvsi_raw *R)
{
    void *mem = NULL;
    kvs_result r;
    size_t n = (size_t)R->L.slot_count;
    /* The bucket array exists from the start: kvsi_raw_link cannot fail,
       and only a growth may (the chains get longer). */
    if (R->nbk == 0)
        kvsi_raw_grow(R);
    if (R->nbk == 0)
        return KVS_E_NOMEM;
    r = kvs_aligned_alloc(R->ap, n * sizeof(uint32_t), sizeof(uint32_t), &mem);
    if (r != KVS_OK)
        return r;
    R->freel = (uint32_t *)mem;
    r = kvs_aligned_alloc(R->ap, n * sizeof(kvsi_rq), sizeof(uint64_t), &mem);
    if (r != KVS_OK)
        return r;
    R->quar = (kvsi_rq *)mem;
    /* The checkpoint buffer also holds the scan's header probes. */
    return kvsi_raw_ck_reserve(R, kvsi_max64(R->probe, kvsi_min64(R->L.ckpt_bytes,
                               kvsi_ru(kvsi_raw_ck_bound(R->L.slot_count, R->cfg->max_key_bytes), R->A))));
}

static kvs_result kvsi_raw_format(kvsi_raw *R, uint64_t dev, char *err, size_t cap)
{
    kvs_superblock sb;
    kvs_result r;
    void *mem = NULL;
    size_t sbn;
    char norm[KVS_PATH_MAX + 1];
    size_t nl = 0;

    r = kvsi_raw_geometry(R, dev, err, cap);
    if (r != KVS_OK)
        return r;
    r = kvsi_raw_alloc_state(R);
    if (r != KVS_OK)
        return kvsi_errf(err, cap, r, "cannot allocate the index of %llu slots", (unsigned long long)R->L.slot_count);
    R->store_id = kvsi_random64();
    R->next_gen = 1;
    R->next_unwritten = 0;
    R->alloc_want = 0;
    R->alloc_disk = 0; /* the first checkpoint below raises it */
    R->alloc_step = kvsi_raw_step0(R);
    R->alloc_want = kvsi_min64(R->L.slot_count, R->alloc_step);
    R->next_copy = 0;
    R->next_seq = 1;
    /* The superblock is encoded before anything is written (a bad field
       fails here, with the device untouched). Then the old superblock is
       zeroed and synced first: from that moment the device reads as
       unformatted, so a format cut short -- an error, a crash -- can never
       leave an older store's superblock over checkpoints it no longer
       matches (its restore would scan every slot and bring back removed
       objects). Copy 1's header block is zeroed (an older store's
       checkpoint must not linger), copy 0 gets an empty checkpoint, and the
       new superblock goes last. */
    sbn = (size_t)R->L.sb_bytes;
    if (sbn < (size_t)R->A)
        sbn = (size_t)R->A;
    r = kvs_aligned_alloc(R->ap, 2 * sbn, (size_t)R->A, &mem);
    if (r != KVS_OK)
        return kvsi_errf(err, cap, r, "cannot allocate the superblock");
    memset(mem, 0, 2 * sbn);
    {
        memset(&sb, 0, sizeof sb);
        sb.format_version = KVS_FORMAT_VERSION;
        sb.device_bytes = R->L.device_bytes;
        sb.align = R->A;
        sb.meta_bytes = R->L.meta_bytes;
        sb.slot_bytes = R->L.slot_bytes;
        sb.slot_count = R->L.slot_count;
        sb.slots_offset = R->L.slots_offset;
        sb.tp_rank = R->cfg->tp_rank;
        sb.tp_world = R->cfg->tp_world;
        sb.shard_policy = (uint32_t)R->cfg->shard;
        sb.store_id = R->store_id;
        if (kvs_path_normalize(R->path, strlen(R->path), norm, sizeof norm, &nl) == KVS_OK)
            sb.path_id = kvs_fnv1a64(norm, nl);
        else
            sb.path_id = kvs_fnv1a64(R->path, strlen(R->path));
        sb.created_ns = kvsi_now_ns(1);
        r = kvs_superblock_encode(&sb, (unsigned char *)mem + sbn, sbn);
    }
    if (r == KVS_OK)
        r = kvs_file_write(R->f, 0, mem, (size_t)R->L.sb_bytes);
    if (r == KVS_OK)
        r = kvs_file_datasync(R->f);
    if (r == KVS_OK)
        r = kvs_file_write(R->f, R->L.ckpt_offset[1], mem, (size_t)R->A);
    if (r == KVS_OK)
        r = kvsi_raw_ckpt(R, 0);
    if (r == KVS_OK)
        r = kvs_file_write(R->f, 0, (unsigned char *)mem + sbn, (size_t)R->L.sb_bytes);
    if (r == KVS_OK)
        r = kvs_file_datasync(R->f);
    kvs_aligned_free(R->ap, mem, 2 * sbn, (size_t)R->A);
    if (r != KVS_OK)
        return kvsi_errf(err, cap, r, "formatting %s failed: %s", R->path, kvs_result_str(r));
    return KVS_OK;
}

/* Free every entry of the index (restore falling back to another source). */
static void kvsi_raw_index_clear(kvsi_raw *R)
{
    size_t i;
    kvsi_rent *e, *nx;
    /* Every entry is on the LRU list (a half-loaded copy's too). */
    for (e = R->mru; e != NULL; e = nx) {
        nx = e->lnext;
        kvsi_raw_ent_put(R, e);
    }
    for (i = 0; i < R->nbk; i++)
        R->bk[i] = NULL;
    R->count = 0;
    R->bytes = R->idx_bytes = 0;
    R->mru = R->lru = NULL;
}

/* ---- restore: loading a checkpoint copy ----

   A copy larger than two chunks is read in chunks of KVSI_RAW_CHUNK bytes
   into a ring of at most KVSI_RAW_RING chunk buffers carved out of R->ck,
   by a short-lived reader thread that also computes the CRC, while the
   calling thread decodes the chunk before: the index is built while the
   checkpoint is read, and only the ring's pages of R->ck are touched. A
   smaller copy, or one whose reader cannot be started, is read in one
   piece. Measured on a 2-CPU VM (100k entries, 7.2 MB): two readers (two
   reads in flight), 512 KiB or 2 MiB chunks and rings of 2 to 4 were no
   faster, or slower. (A test may define KVSI_RAW_CHUNK smaller: more chunk
   boundaries.) */
#ifndef KVSI_RAW_CHUNK
#define KVSI_RAW_CHUNK ((size_t)1 << 20)
#endif
#define KVSI_RAW_RING 3
/* The largest index entry; one that straddles two chunks is decoded from a
   buffer of twice this: its start, then the next chunk's first bytes. */
#define KVSI_RAW_IEMAX (KVS_INDEX_ENTRY_FIXED_BYTES + (((size_t)KVS_KEY_MAX + 7u) & ~(size_t)7u))

typedef struct kvsi_rrd {            /* reading a copy                        */
    kvs_file *f;
    uint64_t off;                     /* the copy's offset                     */
    size_t total, len;                /* bytes to read; payload bytes          */
    size_t chunk, nchunk, nring;
    unsigned char *ring;              /* nring chunks (R->ck)                  */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t freed;                     /* chunks the parser is done with        */
    size_t have[KVSI_RAW_RING];       /* k + 1: the ring slot holds chunk k    */
    uint32_t crc[KVSI_RAW_RING];      /* CRC of the payload to its end         */
    kvs_result err;                   /* a failed read                         */
    int stop, on;
    pthread_t thr;
} kvsi_rrd;

/* Payload bytes [*ps, *pe) are in chunk k, after the container header in
   the first (every chunk holds at least one: the copy is rounded up to A). */
static void kvsi_raw_rd_span(const kvsi_rrd *D, size_t k, size_t *ps, size_t *pe)
{
    *ps = k == 0 ? 0 : k * D->chunk - KVS_CKPT_HEADER_BYTES;
    *pe = (k + 1) * D->chunk - KVS_CKPT_HEADER_BYTES;
    if (*pe > D->len)
        *pe = D->len;
}

/* Read chunk k into its ring slot; *crc goes on over its payload bytes. */
static kvs_result kvsi_raw_rd_one(kvsi_rrd *D, size_t k, uint32_t *crc)
{
    unsigned char *b = D->ring + (k % D->nring) * D->chunk;
    size_t at = k * D->chunk, ps, pe;
    kvs_result r = kvs_file_read(D->f, D->off + at, b, D->total - at < D->chunk ? D->total - at : D->chunk);
    if (r == KVS_OK) {
        kvsi_raw_rd_span(D, k, &ps, &pe);
        *crc = kvs_crc32c(*crc, b + (k == 0 ? KVS_CKPT_HEADER_BYTES : 0), pe - ps);
    }
    return r;
}

/* The reader: each chunk in turn, once its ring slot is free; it also
   computes the CRC, which the decoding thread would otherwise. */
static void *kvsi_raw_reader(void *arg)
{
    kvsi_rrd *D = (kvsi_rrd *)arg;
    size_t k;
    uint32_t crc = 0;
    kvs_result r;
    int stop = 0;
    for (k = 0; k < D->nchunk && !stop; k++) {
        pthread_mutex_lock(&D->mu);
        while (!D->stop && k >= D->freed + D->nring)
            pthread_cond_wait(&D->cv, &D->mu);
        stop = D->stop;
        pthread_mutex_unlock(&D->mu);
        if (stop)
            break;
        r = kvsi_raw_rd_one(D, k, &crc);
        pthread_mutex_lock(&D->mu);
        if (r != KVS_OK)
            D->err = r;
        D->have[k % D->nring] = k + 1;
        D->crc[k % D->nring] = crc;
        pthread_cond_broadcast(&D->cv);
        pthread_mutex_unlock(&D->mu);
        stop = r != KVS_OK;
    }
    return NULL;
}

/* Read the copy of `total` bytes at off, `len` of them payload (in R->ck):
   chunked with a reader thread when worth it and possible, else in one
   piece by kvsi_raw_rd_get. */
static void kvsi_raw_rd_start(kvsi_raw *R, kvsi_rrd *D, uint64_t off, size_t total, size_t len)
{
    size_t chunk = (size_t)kvsi_ru(kvsi_max64(KVSI_RAW_CHUNK, 4096), R->A), nring = R->ckcap / chunk;
    memset(D, 0, sizeof *D);
    D->f = R->f;
    D->off = off;
    D->total = total;
    D->len = len;
    D->ring = R->ck;
    D->chunk = total;
    D->nchunk = D->nring = 1;
    if (total / 2 <= chunk || nring < 2)
        return;
    if (pthread_mutex_init(&D->mu, NULL) != 0)
        return;
    if (pthread_cond_init(&D->cv, NULL) != 0) {
        pthread_mutex_destroy(&D->mu);
        return;
    }
    D->chunk = chunk;
    D->nchunk = (total + chunk - 1) / chunk;
    D->nring = nring < KVSI_RAW_RING ? nring : KVSI_RAW_RING;
    {
        /* The ring from a 2 MiB boundary when it fits: huge pages (R->ck
           has the hint), not hundreds of 4 KiB faults in the first reads. */
        const uintptr_t H = (uintptr_t)2 << 20;
        size_t skip = (size_t)((H - ((uintptr_t)R->ck & (H - 1))) & (H - 1));
        if (skip + D->nring * chunk <= R->ckcap)
            D->ring = R->ck + skip;
    }
    if (pthread_create(&D->thr, NULL, kvsi_raw_reader, D) == 0) {
        D->on = 1;
        return;
    }
    pthread_cond_destroy(&D->cv);
    pthread_mutex_destroy(&D->mu);
    D->ring = R->ck;
    D->chunk = total;
    D->nchunk = D->nring = 1;
}

/* Chunk k, once read: *out its bytes, *crc the CRC of the payload to its
   end. A failed read's result. */
static kvs_result kvsi_raw_rd_get(kvsi_rrd *D, size_t k, const unsigned char **out, uint32_t *crc)
{
    kvs_result r = KVS_OK;
    *out = D->ring + (k % D->nring) * D->chunk;
    if (!D->on)
        return kvsi_raw_rd_one(D, k, crc);
    pthread_mutex_lock(&D->mu);
    while (D->have[k % D->nring] != k + 1)
        pthread_cond_wait(&D->cv, &D->mu);
    r = D->err;
    *crc = D->crc[k % D->nring];
    pthread_mutex_unlock(&D->mu);
    return r;
}

/* Done with chunk k: its ring slot may be read into again. */
static void kvsi_raw_rd_put(kvsi_rrd *D, size_t k)
{
    if (!D->on)
        return;
    pthread_mutex_lock(&D->mu);
    D->have[k % D->nring] = 0;
    D->freed = k + 1;
    pthread_cond_broadcast(&D->cv);
    pthread_mutex_unlock(&D->mu);
}

/* Stop and join the reader (a read in progress completes first). */
static void kvsi_raw_rd_stop(kvsi_rrd *D)
{
    if (!D->on)
        return;
    pthread_mutex_lock(&D->mu);
    D->stop = 1;
    pthread_cond_broadcast(&D->cv);
    pthread_mutex_unlock(&D->mu);
    (void)pthread_join(D->thr, NULL);
    pthread_cond_destroy(&D->cv);
    pthread_mutex_destroy(&D->mu);
    D->on = 0;
}

/* Presize the index for n entries in a payload of len bytes: buckets for
   twice the entries (no growth while loading, short chains), and one slab
   for all of them: an entry takes at most sizeof(kvsi_rent) + 15 bytes more
   than its key, and the keys take at most len - 32 bytes per entry. Neither
   is needed: the table grows and slabs come as entries do. */
static void kvsi_raw_presize(kvsi_raw *R, uint32_t n, size_t len)
{
    size_t nb = 64;
    if (n == 0)
        return;
    while (nb < 2 * (size_t)n && nb < ((size_t)1 << (sizeof(size_t) * 8 - 5)))
        nb *= 2;
    if (nb > R->nbk)
        kvsi_raw_rehash(R, nb);
    if ((uint64_t)n * sizeof(kvsi_rent) + len <= (uint64_t)((size_t)-1) / 2)
        (void)kvsi_raw_slab_reserve(R, (size_t)n * (sizeof(kvsi_rent) + KVSI_RAW_ECLASS - KVS_INDEX_ENTRY_FIXED_BYTES) +
                                           len);
}

/* Faulting in the slab a restore fills, on a thread of its own: writing
   fresh memory (the kernel zeroing pages on first touch) was about a third
   of the decoding thread's time, and the other CPU is mostly idle while
   the reader waits for the device. MADV_POPULATE_WRITE (Linux 5.14) maps
   the pages without writing to them, so the decoding thread may already be
   filling them. The default allocator's memory only, as for
   kvsi_raw_hugepages. */
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
#define KVSI_RAW_POPULATE 1
#define KVSI_RAW_POP_STEP ((size_t)2 << 20)
typedef struct kvsi_rpf {
    unsigned char *p;
    size_t n;
    pthread_mutex_t mu;
    int stop, on;
    pthread_t thr;
} kvsi_rpf;

static void *kvsi_raw_populate(void *arg)
{
    kvsi_rpf *F = (kvsi_rpf *)arg;
    size_t at, k;
    int stop = 0;
    for (at = 0; at < F->n && !stop; at += k) {
        /* to the next 2 MiB boundary: whole huge pages */
        k = KVSI_RAW_POP_STEP - (size_t)(((uintptr_t)F->p + at) & (KVSI_RAW_POP_STEP - 1));
        if (k > F->n - at)
            k = F->n - at;
        if (madvise(F->p + at, k, MADV_POPULATE_WRITE) != 0)
            break; /* an older kernel: EINVAL */
        pthread_mutex_lock(&F->mu);
        stop = F->stop;
        pthread_mutex_unlock(&F->mu);
    }
    return NULL;
}

/* Populate the next `bytes` of the newest slab's unused space, when worth it. */
static void kvsi_raw_pf_start(kvsi_raw *R, kvsi_rpf *F, size_t bytes)
{
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a, e;
    memset(F, 0, sizeof *F);
    if (bytes > R->sleft)
        bytes = R->sleft;
    if (R->ap != NULL || pg <= 0 || bytes < 2 * KVSI_RAW_POP_STEP)
        return;
    a = ((uintptr_t)R->sptr + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
    e = (uintptr_t)R->sptr + bytes;
    if (e <= a || pthread_mutex_init(&F->mu, NULL) != 0)
        return;
    F->p = (unsigned char *)a;
    F->n = (size_t)(e - a);
    if (pthread_create(&F->thr, NULL, kvsi_raw_populate, F) == 0)
        F->on = 1;
    else
        pthread_mutex_destroy(&F->mu);
}

static void kvsi_raw_pf_stop(kvsi_rpf *F)
{
    if (!F->on)
        return;
    pthread_mutex_lock(&F->mu);
    F->stop = 1;
    pthread_mutex_unlock(&F->mu);
    (void)pthread_join(F->thr, NULL);
    pthread_mutex_destroy(&F->mu);
    F->on = 0;
}
#endif

typedef struct kvsi_rld {            /* decoding a copy                       */
    kvsi_raw *R;
    unsigned char *smap;
    kvs_index_header *ih;
    uint64_t *maxgen, *maxslot;
    size_t len;                       /* payload bytes                         */
    size_t pos;                       /* payload offset of the next entry      */
    size_t jl;                        /* bytes of it carried in join           */
    uint32_t ne;                      /* entries decoded                       */
    int hdr;                          /* the index header is decoded           */
    kvs_result bad;                   /* the first decoding error: stop        */
    uint64_t k;                       /* entries through the ring              */
    kvsi_rent *ring[16];
    unsigned char join[2 * KVSI_RAW_IEMAX];
} kvsi_rld;

/* Entry e (NULL: none, to flush) into the ring; the entry 16 before it into
   the hash table. Its bucket was prefetched when it was built, and the
   first entry of that bucket's chain 8 steps ago: no cache miss is left to
   wait for. KVS_E_CORRUPT for a key listed twice. */
static kvs_result kvsi_raw_ld_push(kvsi_rld *P, kvsi_rent *e)
{
    kvsi_raw *R = P->R;
    const size_t mask = R->nbk - 1;
    uint64_t k = P->k++;
    kvsi_rent *o = P->ring[(k + 8) & 15], *x, **b;
    if (o != NULL && R->bk[o->hash & mask] != NULL)
        KVSI_RAW_PREFETCH(R->bk[o->hash & mask]);
    o = P->ring[k & 15];
    P->ring[k & 15] = e;
    if (o == NULL)
        return KVS_OK;
    b = &R->bk[o->hash & mask];
    for (x = *b; x != NULL; x = x->hnext)
        if (x->hash == o->hash && x->klen == o->klen && memcmp(x->key, o->key, o->klen) == 0)
            return KVS_E_CORRUPT;
    o->hnext = *b;
    *b = o;
    return KVS_OK;
}

/* Decode the entry at p (avail bytes of the payload follow, all of them
   when fewer than KVSI_RAW_IEMAX), check its slot and build it, appended at
   the MRU end (the order of the list survives); *used its size. */
static kvs_result kvsi_raw_ld_entry(kvsi_rld *P, const unsigned char *p, size_t avail, size_t *used)
{
    kvsi_raw *R = P->R;
    kvs_index_entry ie;
    kvsi_rent *e;
    size_t size;
    kvs_result r = kvs_index_entry_decode(p, avail, R->L.slot_count, &ie, used);
    if (r != KVS_OK)
        return r;
    if (ie.payload_len > R->L.slot_payload_max || P->smap[ie.slot] != 0 || ie.generation >= KVSI_RAW_COUNTER_MAX)
        return KVS_E_CORRUPT;
    size = KVSI_RAW_ESIZE(ie.key_len);
    e = kvsi_raw_ent_alloc(R, size);
    if (e == NULL)
        return KVS_E_NOMEM;
    kvsi_raw_ent_init(e, size, ie.key, ie.key_len, kvsi_raw_hash(ie.key, ie.key_len));
    KVSI_RAW_PREFETCH(&R->bk[e->hash & (R->nbk - 1)]);
    e->slot = ie.slot;
    e->gen = ie.generation;
    e->len = ie.payload_len;
    e->crc = ie.payload_crc;
    kvsi_raw_lru_front(R, e);
    R->count++;
    R->bytes += e->len;
    R->idx_bytes += *used;
    P->smap[ie.slot] = 1;
    if (e->gen > *P->maxgen)
        *P->maxgen = e->gen;
    if ((uint64_t)ie.slot + 1 > *P->maxslot)
        *P->maxslot = (uint64_t)ie.slot + 1;
    P->ne++;
    r = kvsi_raw_ld_push(P, e);
    while (r == KVS_OK && P->ne == P->ih->entry_count && P->k < (uint64_t)P->ne + 16)
        r = kvsi_raw_ld_push(P, NULL); /* the last one: flush the ring */
    return r;
}

/* Decode what payload bytes [ps, pe) (at b) add: the index header (in the
   first chunk), the entry carried from the chunk before, then every entry
   that starts here, but for a last one that may run into the next chunk:
   its bytes are carried. An error stops the decoding (P->bad). */
static void kvsi_raw_ld_chunk(kvsi_rld *P, const unsigned char *b, size_t ps, size_t pe)
{
    size_t used, q, m, rem;
    kvs_result r = KVS_OK;
    if (!P->hdr) {
        r = kvs_index_header_decode(b, pe - ps, P->ih);
        if (r == KVS_OK && P->ih->slot_count != P->R->L.slot_count)
            r = KVS_E_CORRUPT;
        if (r != KVS_OK) {
            P->bad = r;
            return;
        }
        P->hdr = 1;
        P->pos = KVS_INDEX_HEADER_BYTES;
        kvsi_raw_presize(P->R, P->ih->entry_count, P->len); /* nothing when the hint was right */
        if (P->ih->entry_count == 0)
            return;
    }
    if (P->jl > 0) {
        m = pe - ps < KVSI_RAW_IEMAX ? pe - ps : KVSI_RAW_IEMAX;
        memcpy(P->join + P->jl, b, m);
        for (q = 0; q < P->jl && P->ne < P->ih->entry_count; q += used) {
            r = kvsi_raw_ld_entry(P, P->join + q, P->jl + m - q, &used);
            if (r != KVS_OK) {
                P->bad = r;
                return;
            }
        }
        P->pos += q;
        P->jl = 0;
    }
    while (P->ne < P->ih->entry_count) {
        rem = pe - P->pos;
        if (rem < KVSI_RAW_IEMAX && pe < P->len) {
            memcpy(P->join, b + (P->pos - ps), rem);
            P->jl = rem;
            return;
        }
        r = kvsi_raw_ld_entry(P, b + (P->pos - ps), rem, &used);
        if (r != KVS_OK) {
            P->bad = r;
            return;
        }
        P->pos += used;
    }
}

/* Load checkpoint copy c (header h already decoded and matching) into the
   index; smap[slot] = 1 for every listed slot. hint: the entry count of the
   index header in the copy's first block (read with the header), to presize
   the index while the payload is read; 0 when unknown. KVS_E_NOMEM and a
   failed read (*read_err set) are fatal: falling back to the older copy on
   a transient error would bring back objects removed since, and hide
   objects put into the slots they freed. Any other error means "this copy
   is not usable".

   Entries are decoded as chunks arrive, before the CRC of the whole payload
   is known (the decoder checks every field); the copy is read to its end
   even after a decoding error, and a CRC mismatch is KVS_E_CHECKSUM
   whatever the decoding found, as when the CRC was checked first. The
   caller empties the index after any error. */
static kvs_result kvsi_raw_load_copy(kvsi_raw *R, uint32_t c, const kvs_ckpt_header *h, uint32_t hint,
                                     unsigned char *smap, kvs_index_header *ih, uint64_t *maxgen,
                                     uint64_t *maxslot, kvs_result *read_err)
{
    uint64_t total = kvsi_ru(KVS_CKPT_HEADER_BYTES + h->payload_len, R->A);
    size_t k, ps, pe;
    uint32_t crc = 0;
    kvsi_rrd D;
    kvsi_rld ld, *P = &ld;
#ifdef KVSI_RAW_POPULATE
    kvsi_rpf F;
#endif
    kvs_result r = kvsi_raw_ck_reserve(R, total);
    if (r != KVS_OK)
        return r;
    if (R->nbk == 0)
        kvsi_raw_grow(R);
    if (R->nbk == 0)
        return KVS_E_NOMEM;
    memset(P, 0, sizeof *P);
    P->R = R;
    P->smap = smap;
    P->ih = ih;
    P->maxgen = maxgen;
    P->maxslot = maxslot;
    P->len = (size_t)h->payload_len;
    memset(ih, 0, sizeof *ih);
    if ((uint64_t)hint * (KVS_INDEX_ENTRY_FIXED_BYTES + 8) > h->payload_len)
        hint = 0; /* more entries than the payload can hold */
    kvsi_raw_rd_start(R, &D, R->L.ckpt_offset[c], (size_t)total, P->len);
    kvsi_raw_presize(R, hint, P->len); /* while the first chunks are read */
#ifdef KVSI_RAW_POPULATE
    /* What the entries will take, about: an entry's memory exceeds its
       index entry by sizeof(kvsi_rent) - 32 bytes, give or take padding. */
    kvsi_raw_pf_start(R, &F, (size_t)kvsi_min64((uint64_t)hint * (sizeof(kvsi_rent) - KVS_INDEX_ENTRY_FIXED_BYTES) +
                                                     P->len, R->sleft));
#endif
    for (k = 0; k < D.nchunk; k++) {
        const unsigned char *b;
        r = kvsi_raw_rd_get(&D, k, &b, &crc);
        if (r != KVS_OK) {
            *read_err = r;
            break;
        }
        kvsi_raw_rd_span(&D, k, &ps, &pe);
        if (k == 0)
            b += KVS_CKPT_HEADER_BYTES;
        if (P->bad == KVS_OK && (k + 1 < D.nchunk || crc == h->payload_crc)) /* last: CRC known */
            kvsi_raw_ld_chunk(P, b, ps, pe);
        kvsi_raw_rd_put(&D, k);
    }
    kvsi_raw_rd_stop(&D);
#ifdef KVSI_RAW_POPULATE
    kvsi_raw_pf_stop(&F);
#endif
    if (r == KVS_OK && crc != h->payload_crc)
        r = KVS_E_CHECKSUM;
    if (r == KVS_OK)
        r = P->bad;
    if (r == KVS_OK && (P->ne != ih->entry_count || P->pos != P->len))
        r = KVS_E_CORRUPT; /* bytes after the last entry */
    return r;
}

/* FORMAT.md 6.4 "Restore", step 2b: the copy taken may not be the newest
   checkpoint written (the other copy is newer and failed its checks, or its
   header is unreadable). Slots freed after the copy taken and reused since
   then hold other objects than it lists: every listed slot's header is
   checked against its entry, and a slot that does not match is unlisted, for
   step 3 to read as what it holds now. I/O errors are returned. */
static kvs_result kvsi_raw_verify_listed(kvsi_raw *R, unsigned char *smap)
{
    kvsi_rent *e, *prev;
    for (e = R->lru; e != NULL; e = prev) {
        kvs_objhdr oh;
        kvs_result r;
        prev = e->lprev;
        r = kvs_file_read(R->f, kvsi_raw_slot_off(R, e->slot), R->ck, (size_t)R->probe);
        if (r != KVS_OK)
            return r;
        if (kvs_objhdr_decode(R->ck, (size_t)R->probe, &oh) == KVS_OK && oh.store_id == R->store_id &&
            oh.payload_offset == R->L.slot_header_bytes && oh.generation == e->gen && oh.payload_len == e->len &&
            oh.payload_crc == e->crc && oh.key_len == e->klen && memcmp(oh.key, e->key, e->klen) == 0)
            continue;
        smap[e->slot] = 0;
        kvsi_raw_unlink(R, e);
        kvsi_raw_ent_free(R, e);
    }
    return KVS_OK;
}

/* FORMAT.md 6.4 "Restore", steps 2 to 4 (the superblock is checked). */
static kvs_result kvsi_raw_restore(kvsi_raw *R, char *err, size_t cap)
{
    kvs_result r, rc[2], rerr;
    kvs_ckpt_header hc[2];
    kvs_index_header ih;
    unsigned char *smap = NULL, *pbuf = NULL;
    void *mem = NULL;
    size_t n = (size_t)R->L.slot_count, pcap = 0, s;
    uint64_t maxgen = 0, maxslot = 0, floor = 0, alim = R->L.slot_count, maxseq = 0;
    uint32_t c, first, hint[2];
    int loaded = 0, changed = 0, tried, blank[2];
    size_t slim;

    r = kvsi_raw_alloc_state(R);
    if (r == KVS_OK)
        r = kvs_aligned_alloc(R->ap, n, 1, &mem);
    if (r != KVS_OK)
        return kvsi_errf(err, cap, r, "cannot allocate the index of %llu slots", (unsigned long long)R->L.slot_count);
    smap = (unsigned char *)mem;
    memset(smap, 0, n);
    /* Both headers. */
    for (c = 0; c < 2; c++) {
        r = kvs_file_read(R->f, R->L.ckpt_offset[c], R->ck, (size_t)R->A);
        if (r != KVS_OK) {
            kvs_aligned_free(R->ap, smap, n, 1);
            return kvsi_errf(err, cap, r, "reading checkpoint copy %u of %s failed: %s", (unsigned)c, R->path,
                             kvs_result_str(r));
        }
        /* all zero: never written (a format zeroes copy 1's header) */
        for (s = 0, blank[c] = 1; s < KVS_CKPT_HEADER_BYTES && blank[c]; s++)
            blank[c] = R->ck[s] == 0;
        rc[c] = kvs_ckpt_header_decode(R->ck, KVS_CKPT_HEADER_BYTES, R->L.ckpt_bytes - KVS_CKPT_HEADER_BYTES, &hc[c]);
        if (rc[c] == KVS_OK && (hc[c].store_id != R->store_id || hc[c].seq >= KVSI_RAW_COUNTER_MAX))
            rc[c] = KVS_E_CORRUPT;
        if (rc[c] == KVS_OK && hc[c].seq > maxseq)
            maxseq = hc[c].seq;
        /* The index header is in this block too (A >= 512): its entry count
           presizes the index while the payload is read. A hint only. */
        hint[c] = 0;
        if (rc[c] == KVS_OK &&
            kvs_index_header_decode(R->ck + KVS_CKPT_HEADER_BYTES,
                                    (size_t)kvsi_min64(hc[c].payload_len, R->A - KVS_CKPT_HEADER_BYTES),
                                    &ih) == KVS_OK)
            hint[c] = ih.entry_count;
    }
    /* Newest valid copy whose payload parses; else the other one. */
    if (kvs_ckpt_pick(rc[0], &hc[0], rc[1], &hc[1], &first) == KVS_OK) {
        for (tried = 0; tried < 2 && !loaded; tried++) {
            c = tried == 0 ? first : first ^ 1u;
            if (rc[c] != KVS_OK || hc[c].copy != c)
                continue;
            maxgen = maxslot = 0;
            rerr = KVS_OK;
            r = kvsi_raw_load_copy(R, c, &hc[c], hint[c], smap, &ih, &maxgen, &maxslot, &rerr);
            if (r == KVS_OK && ih.gen_floor >= KVSI_RAW_COUNTER_MAX)
                r = KVS_E_CORRUPT;
            if (r == KVS_E_NOMEM || rerr != KVS_OK) {
                kvs_aligned_free(R->ap, smap, n, 1);
                if (rerr != KVS_OK)
                    return kvsi_errf(err, cap, rerr, "reading checkpoint copy %u of %s failed: %s", (unsigned)c,
                                     R->path, kvs_result_str(rerr));
                return kvsi_errf(err, cap, r, "out of memory loading the checkpoint");
            }
            if (r == KVS_OK) {
                loaded = 1;
                floor = ih.gen_floor;
                alim = kvsi_max64(ih.alloc_limit, maxslot);
                R->next_copy = c ^ 1u;
                if (tried > 0)
                    changed = 1;
            } else {
                kvsi_raw_index_clear(R);
                memset(smap, 0, n);
            }
        }
    }
    slim = (size_t)alim;
    if (!loaded) {
        changed = 1; /* full scan */
        R->next_copy = 0;
        R->restore_fallback = 2;
    } else {
        /* Step 2b. The copy taken is the newest checkpoint written when the
           other one's header decodes with a smaller seq (a newer one's
           write would have replaced it, header last) or is all zero while
           the copy taken is seq 1 (never written: a format zeroes it and
           writes seq 1 to copy 0, and checkpoints alternate, so a later
           seq means the other copy was written once and is damaged now).
           Otherwise slots it lists may have been reused: each is checked,
           and the scan covers every slot (a newer checkpoint may have
           raised alloc_limit); stats.restore_fallback says so. */
        uint32_t o = R->next_copy;
        if (!(blank[o] && hc[o ^ 1u].seq == 1) &&
            !(rc[o] == KVS_OK && hc[o].copy == o && hc[o].seq < hc[o ^ 1u].seq)) {
            r = kvsi_raw_verify_listed(R, smap);
            if (r != KVS_OK) {
                kvs_aligned_free(R->ap, smap, n, 1);
                return kvsi_errf(err, cap, r, "restoring %s: checking the slots of checkpoint copy %u failed: %s",
                                 R->path, (unsigned)(o ^ 1u), kvs_result_str(r));
            }
            slim = n;
            changed = 1;
            R->restore_fallback = 1;
        }
    }
    R->next_seq = maxseq + 1;

    /* Scan the slots below alloc_limit the checkpoint does not list (all
       of them after step 2b). */
    for (s = 0; s < slim; s++) {
        kvs_objhdr oh;
        kvsi_rent *e, *old;
        uint64_t off;
        if (smap[s] != 0)
            continue;
        off = kvsi_raw_slot_off(R, (uint32_t)s);
        r = kvs_file_read(R->f, off, R->ck, (size_t)R->probe);
        if (r != KVS_OK)
            break;
        if (kvs_objhdr_decode(R->ck, (size_t)R->probe, &oh) != KVS_OK || oh.store_id != R->store_id ||
            oh.payload_offset != R->L.slot_header_bytes || oh.payload_len > R->L.slot_payload_max ||
            oh.generation < floor || oh.generation >= KVSI_RAW_COUNTER_MAX)
            continue;
        /* Every generation seen counts, also a torn or stale object's: a
           generation handed out again could lose to that object, should its
           payload read whole later (a put of the same bytes into the slot,
           torn before its header). The checkpoint below then raises
           gen_floor above it, so no later scan takes it. */
        if (oh.generation > maxgen)
            maxgen = oh.generation;
        changed = 1;
        if (pcap < (size_t)kvsi_ru(oh.payload_len + 1, R->A)) {
            if (pbuf != NULL)
                kvs_aligned_free(R->ap, pbuf, pcap, (size_t)R->A);
            pbuf = NULL;
            pcap = (size_t)kvsi_ru(kvsi_max64(oh.payload_len + 1, (uint64_t)1 << 20), R->A);
            r = kvs_aligned_alloc(R->ap, pcap, (size_t)R->A, &mem);
            if (r != KVS_OK) {
                pcap = 0;
                break;
            }
            pbuf = (unsigned char *)mem;
        }
        /* oh.key points into R->ck: copy the key before it is overwritten. */
        r = kvsi_raw_ent_new(R, oh.key, oh.key_len, &e);
        if (r != KVS_OK)
            break;
        e->slot = (uint32_t)s;
        e->gen = oh.generation;
        e->len = oh.payload_len;
        e->crc = oh.payload_crc;
        r = kvs_file_read(R->f, off + R->L.slot_header_bytes, pbuf, (size_t)oh.payload_len);
        if (r != KVS_OK) {
            kvsi_raw_ent_free(R, e);
            break;
        }
        if ((oh.payload_len > 0 ? kvs_crc32c(0, pbuf, (size_t)oh.payload_len) : 0) != e->crc) {
            kvsi_raw_ent_free(R, e);
            continue;
        }
        old = kvsi_raw_find(R, e->key, e->klen, e->hash);
        if (old != NULL && old->gen >= e->gen) {
            kvsi_raw_ent_free(R, e); /* stale copy: free space */
            continue;
        }
        if (old != NULL) {
            /* The older object of the key: a listed slot is quarantined (the
               checkpoint on disk still names it), a scanned one is free. */
            kvsi_raw_unlink(R, old);
            if (smap[old->slot] == 1) {
                kvsi_raw_quarantine(R, old->slot, old->gen);
                smap[old->slot] = 3;
            } else {
                smap[old->slot] = 0;
            }
            kvsi_raw_ent_free(R, old);
        }
        kvsi_raw_link(R, e);
        smap[s] = 2;
        if (s + 1 > alim) /* above the copy's alloc_limit (step 2b) */
            alim = s + 1;
    }
    if (pbuf != NULL)
        kvs_aligned_free(R->ap, pbuf, pcap, (size_t)R->A);
    if (r != KVS_OK) {
        kvs_aligned_free(R->ap, smap, n, 1);
        return kvsi_errf(err, cap, r, "restoring %s: scanning slot %zu failed: %s", R->path, s, kvs_result_str(r));
    }
    /* Free stack: slots below alloc_limit that hold nothing listed, lowest on top. */
    for (s = (size_t)alim; s-- > 0;)
        if (smap[s] == 0)
            R->freel[R->nfree++] = (uint32_t)s;
    kvs_aligned_free(R->ap, smap, n, 1);
    R->next_unwritten = alim;
    R->alloc_disk = R->alloc_want = alim;
    R->alloc_step = kvsi_raw_step0(R);
    R->next_gen = kvsi_max64(kvsi_max64(maxgen + 1, floor), 1);
    R->mut_seq = changed ? 1 : 0;
    if (changed) {
        r = kvsi_raw_ckpt(R, 0);
        if (r != KVS_OK)
            return kvsi_errf(err, cap, r, "restoring %s: writing the checkpoint failed: %s", R->path,
                             kvs_result_str(r));
    }
    return KVS_OK;
}

/* Open the device file and take its lock (one handle per device). A file
   that exists (or a block device) opens as it is: a file smaller than
   device_bytes is grown only when it is formatted, so an open that fails (a
   geometry mismatch) leaves it as it was. A missing one is created at
   device_bytes with O_EXCL, so this open knows it made the file and a
   failure further on removes it again; a file another opener created in
   between opens as it is. The lock is an exclusive one on byte 0, held
   until close, taken before anything is read or formatted; then the path
   must still name the locked file (an open that failed may have removed
   the file it made, which this one had opened meanwhile): if not, the open
   starts again, a few times. err is filled on failure. */
static kvs_result kvsi_raw_open_file(kvsi_raw *R, kvs_file_config *fc, char *err, size_t err_cap)
{
    kvs_store_config *cfg = R->cfg;
    kvs_result r = KVS_OK;
    int tries;
    for (tries = 0; tries < 4; tries++) {
        struct stat a, b;
        int lk;
        fc->flags = 0;
        fc->size = 0;
        r = kvs_file_open(R->path, fc, &R->f);
        if (r == KVS_E_NOENT && cfg->format != KVS_FORMAT_NEVER && cfg->device_bytes != 0) {
            fc->flags = KVS_FILE_CREATE | KVS_FILE_EXCL;
            fc->size = cfg->device_bytes;
            fc->mode = cfg->file_mode;
            r = kvs_file_open(R->path, fc, &R->f);
            R->created = r == KVS_OK;
            if (r == KVS_E_EXIST) {
                fc->flags = 0;
                fc->size = 0;
                r = kvs_file_open(R->path, fc, &R->f);
            }
        }
        if (r != KVS_OK) {
            R->f = NULL;
            return kvsi_errf(err, err_cap, r, "cannot open %s: %s%s", R->path, kvs_result_str(r),
                             r == KVS_E_NOENT && cfg->device_bytes == 0 ? " (give device_bytes and a format mode to create it)"
                                                                        : "");
        }
        lk = kvsi_sys_lock(cfg->sysops, R->f->fd, KVS_LOCK_EX, 0);
        if (lk == -EAGAIN || lk == -EACCES) {
            R->created = 0; /* the handle that has it may be using it */
            return kvsi_errf(err, err_cap, KVS_E_BUSY, "%s is open in another store handle (in this process or another)",
                             R->path);
        }
        if (lk < 0 && !kvsi_lock_unsupported(-lk)) {
            r = kvs_result_from_errno(-lk);
            return kvsi_errf(err, err_cap, r, "cannot lock %s: %s", R->path, kvs_result_str(r));
        }
        R->lock_errno = -lk;
        if (stat(R->path, &a) == 0 && fstat(R->f->fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
            return KVS_OK;
        R->created = 0; /* whatever it made is not at the path any more */
        (void)kvs_file_close(R->f);
        R->f = NULL;
    }
    return kvsi_errf(err, err_cap, KVS_E_BUSY, "%s was removed or replaced while it was being opened, %d times", R->path,
                     tries);
}

static kvs_result kvsi_raw_open(kvs_store_config *cfg, const kvsi_engine_ops **ops, void **engine,
                                char *err, size_t err_cap)
{
    kvsi_raw *R;
    void *mem = NULL;
    const kvs_allocator *ap = kvsi_custom_alloc(&cfg->allocator);
    kvs_result r;
    kvs_file_config fc;
    pthread_condattr_t ca;
    uint64_t fsize = 0, dev, acheck, afmt, blkn;
    unsigned char *blk = NULL;
    int do_format, zero, key_given = cfg->max_key_bytes != 0;
    size_t i;

    *ops = NULL;
    *engine = NULL;
    if (cfg->max_key_bytes > KVS_KEY_MAX)
        return kvsi_errf(err, err_cap, KVS_E_INVAL, "max_key_bytes %u exceeds %u", (unsigned)cfg->max_key_bytes,
                         (unsigned)KVS_KEY_MAX);
    if (cfg->max_key_bytes == 0)
        cfg->max_key_bytes = KVSI_RAW_DEF_KEY;
    if (cfg->checkpoint_interval_ms == 0)
        cfg->checkpoint_interval_ms = KVSI_RAW_DEF_INTERVAL;
    if (cfg->checkpoint_idle_ms == 0)
        cfg->checkpoint_idle_ms = KVSI_RAW_DEF_IDLE;

    r = kvs_aligned_alloc(ap, sizeof(kvsi_raw), KVSI_STRUCT_ALIGN, &mem);
    if (r != KVS_OK)
        return kvsi_errf(err, err_cap, r, "cannot allocate the raw store");
    R = (kvsi_raw *)mem;
    memset(R, 0, sizeof *R);
    R->cfg = cfg;
    if (ap != NULL) {
        R->alloc = *ap;
        R->ap = &R->alloc;
    }
    R->A = 512; /* until known: frees of never-allocated buffers use it */
    if (pthread_mutex_init(&R->mu, NULL) == 0)
        R->have_mu = 1;
    if (pthread_mutex_init(&R->ckmu, NULL) == 0)
        R->have_ckmu = 1;
    if (pthread_mutex_init(&R->amu, NULL) == 0)
        R->have_amu = 1;
    if (pthread_condattr_init(&ca) == 0) {
        (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (pthread_cond_init(&R->cv, &ca) == 0)
            R->have_cv = 1;
        pthread_condattr_destroy(&ca);
    }
    if (pthread_cond_init(&R->icv, NULL) == 0)
        R->have_icv = 1;
    kvsi_aio_init(&R->aio); /* not ready: puts compute the CRC first */
    if (!R->have_mu || !R->have_ckmu || !R->have_amu || !R->have_cv || !R->have_icv) {
        kvsi_raw_free(R);
        return kvsi_errf(err, err_cap, KVS_E_NOMEM, "cannot create the raw store's mutexes");
    }

    r = kvsi_raw_pick_path(R, err, err_cap);
    if (r != KVS_OK) {
        kvsi_raw_free(R);
        return r;
    }

    kvs_file_config_init(&fc);
    fc.direct = cfg->direct;
    fc.align = cfg->align;
    fc.alloc = ap;
    fc.sysops = cfg->sysops;
    r = kvsi_raw_open_file(R, &fc, err, err_cap);
    if (r != KVS_OK) {
        kvsi_raw_free(R);
        return r;
    }
    kvs_file_get_info(R->f, &R->info);
    r = kvs_file_size(R->f, &fsize);
    if (r != KVS_OK) {
        r = kvsi_errf(err, err_cap, r, "cannot get the size of %s", R->path);
        kvsi_raw_free(R); /* after the message: it names R->path */
        return r;
    }
    acheck = kvsi_max64(kvsi_max64(R->info.align, R->info.buf_align),
                        kvsi_max64(KVS_DEV_ALIGN_MIN, cfg->align));
    afmt = kvsi_max64(acheck, R->info.tail_pad);
    if (R->info.direct)
        acheck = afmt;
    if (afmt > KVS_DEV_ALIGN_MAX) {
        r = kvsi_errf(err, err_cap, KVS_E_GEOMETRY, "align: %s needs %llu-byte alignment, above the 1 MiB maximum",
                      R->path, (unsigned long long)afmt);
        kvsi_raw_free(R);
        return r;
    }

    /* The first 4 KiB: superblock, or zeros. */
    blkn = kvsi_ru(4096, afmt);
    r = kvs_aligned_alloc(R->ap, (size_t)blkn, (size_t)afmt, &mem);
    if (r != KVS_OK) {
        kvsi_raw_free(R);
        return kvsi_errf(err, err_cap, r, "cannot allocate a buffer");
    }
    blk = (unsigned char *)mem;
    memset(blk, 0, (size_t)blkn);
    if (fsize >= 4096) {
        r = kvs_file_read(R->f, 0, blk, 4096);
    } else if (fsize > 0) {
        /* A file shorter than the 4 KiB looked at: its bytes, whatever they
           are, decide whether it is empty (KVS_E_EOF if it shrank since). */
        r = kvs_file_read(R->f, 0, blk, (size_t)fsize);
    }
    if (r != KVS_OK) {
        kvs_aligned_free(R->ap, blk, (size_t)blkn, (size_t)afmt);
        r = kvsi_errf(err, err_cap, r, "reading the superblock of %s failed: %s", R->path, kvs_result_str(r));
        kvsi_raw_free(R);
        return r;
    }
    for (zero = 1, i = 0; i < 4096 && zero; i++)
        zero = blk[i] == 0;
    do_format = cfg->format == KVS_FORMAT_ALWAYS || (cfg->format == KVS_FORMAT_IF_EMPTY && zero);

    if (do_format) {
        kvs_aligned_free(R->ap, blk, (size_t)blkn, (size_t)afmt);
        R->A = afmt;
        dev = cfg->device_bytes != 0 ? cfg->device_bytes : fsize;
        if (cfg->slot_payload_bytes == 0)
            cfg->slot_payload_bytes = KVSI_RAW_DEF_PAYLOAD;
        /* The geometry first: a bad field fails with the file untouched,
           not grown (kvsi_raw_format computes it again, the same). */
        r = kvsi_raw_geometry(R, dev, err, err_cap);
        if (r != KVS_OK) {
            kvsi_raw_free(R);
            return r;
        }
        if (dev > fsize) {
            int tr;
            if (R->info.is_blockdev) {
                kvsi_raw_free(R);
                return kvsi_errf(err, err_cap, KVS_E_NOSPC, "device_bytes %llu: the device is %llu bytes",
                                 (unsigned long long)dev, (unsigned long long)fsize);
            }
            tr = kvsi_sys_ftruncate(kvsi_file_ops(R->f), R->f->fd, dev);
            if (tr < 0) {
                r = kvs_result_from_errno(-tr);
                r = kvsi_errf(err, err_cap, r, "cannot grow %s to device_bytes %llu: %s", R->path,
                              (unsigned long long)dev, kvs_result_str(r));
                kvsi_raw_free(R);
                return r;
            }
        }
        R->probe = kvsi_min64(kvsi_max64(KVS_OBJHDR_REGION, R->A), kvsi_ru(KVS_OBJHDR_MAX_BYTES, R->A));
        r = kvsi_raw_format(R, dev, err, err_cap);
        if (r != KVS_OK) {
            kvsi_raw_free(R); /* a file it created goes; one it grew stays grown */
            return r;
        }
    } else {
        kvs_superblock sb;
        uint64_t hdr, want;
        r = kvs_superblock_decode(blk, KVS_SB_RECORD_BYTES, &sb);
        kvs_aligned_free(R->ap, blk, (size_t)blkn, (size_t)afmt);
        if (r != KVS_OK) {
            if (zero)
                r = kvsi_errf(err, err_cap, KVS_E_MAGIC,
                              "%s is not formatted (empty, or its first 4 KiB are zero); set format to KVS_FORMAT_IF_EMPTY or KVS_FORMAT_ALWAYS",
                              R->path);
            else if (r == KVS_E_MAGIC)
                r = kvsi_errf(err, err_cap, r,
                              "%s holds no kvstore superblock (foreign data); only KVS_FORMAT_ALWAYS would format it",
                              R->path);
            else
                r = kvsi_errf(err, err_cap, r, "the superblock of %s is damaged: %s", R->path, kvs_result_str(r));
            kvsi_raw_free(R);
            return r;
        }
        if (sb.align % acheck != 0) {
            kvsi_raw_free(R);
            return kvsi_errf(err, err_cap, KVS_E_GEOMETRY,
                             "align: the store was formatted with align %llu, but this file and config need a multiple of %llu",
                             (unsigned long long)sb.align, (unsigned long long)acheck);
        }
        if (cfg->device_bytes != 0 && cfg->device_bytes != sb.device_bytes) {
            kvsi_raw_free(R);
            return kvsi_errf(err, err_cap, KVS_E_GEOMETRY, "device_bytes %llu differs from the recorded device_bytes %llu",
                             (unsigned long long)cfg->device_bytes, (unsigned long long)sb.device_bytes);
        }
        if (fsize < sb.device_bytes) {
            kvsi_raw_free(R);
            return kvsi_errf(err, err_cap, KVS_E_GEOMETRY,
                             "device_bytes: the device is %llu bytes, smaller than the recorded device_bytes %llu",
                             (unsigned long long)fsize, (unsigned long long)sb.device_bytes);
        }
        hdr = kvsi_max64(KVS_OBJHDR_REGION, sb.align);
        if (sb.slot_bytes > KVSI_RAW_SLOT_ADDR_MAX) {
            /* formatted by a 64-bit process with slots this one cannot
               hold in memory */
            kvsi_raw_free(R);
            return kvsi_errf(err, err_cap, KVS_E_LIMIT,
                             "slot_bytes: the recorded slot_bytes %llu is more than this process can address",
                             (unsigned long long)sb.slot_bytes);
        }
        if (cfg->slot_payload_bytes != 0 &&
            (cfg->slot_payload_bytes > ((uint64_t)1 << 48) ||
             kvsi_ru(hdr + cfg->slot_payload_bytes, sb.align) != sb.slot_bytes)) {
            kvsi_raw_free(R);
            return kvsi_errf(err, err_cap, KVS_E_GEOMETRY,
                             "slot_payload_bytes %llu does not match the recorded slot_bytes %llu (slot_payload_bytes %llu)",
                             (unsigned long long)cfg->slot_payload_bytes, (unsigned long long)sb.slot_bytes,
                             (unsigned long long)(sb.slot_bytes - hdr));
        }
        if (cfg->meta_bytes != 0 && cfg->meta_bytes != sb.meta_bytes) {
            kvsi_raw_free(R);
            return kvsi_errf(err, err_cap, KVS_E_GEOMETRY, "meta_bytes %llu differs from the recorded meta_bytes %llu",
                             (unsigned long long)cfg->meta_bytes, (unsigned long long)sb.meta_bytes);
        }
        if ((sb.tp_rank != cfg->tp_rank || sb.tp_world != cfg->tp_world) && !cfg->allow_other_rank) {
            kvsi_raw_free(R);
            return kvsi_errf(err, err_cap, KVS_E_RANK,
                             "the device was formatted for rank %u of world %u, this is rank %u of world %u (allow_other_rank opens it anyway)",
                             (unsigned)sb.tp_rank, (unsigned)sb.tp_world, (unsigned)cfg->tp_rank, (unsigned)cfg->tp_world);
        }
        R->A = sb.align;
        r = kvs_layout_compute(sb.device_bytes, sb.align, sb.meta_bytes, sb.slot_bytes, &R->L, NULL, 0);
        if (r != KVS_OK) {
            kvsi_raw_free(R);
            return kvsi_errf(err, err_cap, r, "the recorded geometry is invalid");
        }
        want = kvsi_raw_ck_bound(R->L.slot_count, cfg->max_key_bytes);
        if (want > R->L.ckpt_bytes && !key_given) {
            /* max_key_bytes 0 at reopen: the longest key (up to the
               default) whose checkpoint the recorded meta_bytes holds, as a
               store formatted with a shorter max_key_bytes was sized */
            uint64_t fixed = kvsi_raw_ck_bound(R->L.slot_count, 0), k = 0;
            if (R->L.slot_count > 0 && R->L.ckpt_bytes > fixed)
                k = ((R->L.ckpt_bytes - fixed) / R->L.slot_count) & ~(uint64_t)7u;
            if (k >= 8) {
                cfg->max_key_bytes = (uint32_t)kvsi_min64(k, KVSI_RAW_DEF_KEY);
                want = kvsi_raw_ck_bound(R->L.slot_count, cfg->max_key_bytes);
            }
        }
        if (want > R->L.ckpt_bytes) {
            r = kvsi_errf(err, err_cap, KVS_E_GEOMETRY,
                          "meta_bytes: the recorded meta_bytes %llu cannot hold a checkpoint of %llu slots with %u-byte keys (max_key_bytes); it needs %llu",
                          (unsigned long long)sb.meta_bytes, (unsigned long long)R->L.slot_count,
                          (unsigned)cfg->max_key_bytes, (unsigned long long)(2 * kvsi_ru(want, R->A)));
            kvsi_raw_free(R);
            return r;
        }
        R->store_id = sb.store_id;
        R->probe = kvsi_min64(R->L.slot_header_bytes, kvsi_ru(KVS_OBJHDR_MAX_BYTES, R->A));
        r = kvsi_raw_restore(R, err, err_cap);
        if (r != KVS_OK) {
            kvsi_raw_free(R);
            return r;
        }
    }
    cfg->device_bytes = R->L.device_bytes;
    cfg->align = (size_t)R->A;
    cfg->meta_bytes = R->L.meta_bytes;
    cfg->slot_payload_bytes = R->L.slot_payload_max;
    R->last_ckpt_ns = R->last_put_ns = kvsi_now_ns(0);
    if (pthread_create(&R->thr, NULL, kvsi_raw_thread, R) != 0) {
        kvsi_raw_free(R);
        return kvsi_errf(err, err_cap, KVS_E_NOMEM, "cannot start the checkpoint thread");
    }
    R->thr_on = 1;
    R->created = 0; /* open: the file is the store's from here on */
    *ops = &kvsi_raw_ops;
    *engine = R;
    return KVS_OK;
}
/* ===== END STORE RAW ===== */

/* ===== BEGIN STORE FS ===== */
/* ------------------------------------------------------------------------
   Filesystem store (docs/STORES.md, FORMAT.md 5 and 7): one file per object
   in one of several directories, temp file + rename as the commit.

   Every file operation is relative to a directory descriptor opened at
   open time (openat/renameat/unlinkat/fstatat) with O_NOFOLLOW or
   AT_SYMLINK_NOFOLLOW, so a symlink planted where a file is expected is
   never followed. The store directory itself may be a symlink.

   In memory: a map (directory, file name) -> entry with the file's bytes on
   disk, its pins, readers and LRU position. The map is the capacity
   accounting: files this process wrote, read or found by the scan at open.
   Decisions:
   - Bytes on disk of a file = its size rounded up to 4096 (KVSI_FS_BLOCK),
     for files written here and files found by the scan alike (st_blocks
     depends on the filesystem's allocation timing; the size does not).
   - Payload bytes (stats.bytes) of a scanned file is estimated as
     size - 4096 until this process reads or writes it (exact from then).
   - Pins are per file name (a hashed name shared by two keys pins both);
     they survive a remove or an overwrite of the key; unpin without a pin
     is KVS_E_INVAL.
   - exists: fstatat of the final name (a regular file at least as long as
     a header); hashed names also read the header to compare the key. A
     file that exists but fails get's checks (corrupt) is reported present
     by exists and missed (and counted) by get.
   - The header's store_id is not compared with the directory's: another
     host's or an earlier record's objects are valid; the header, the whole
     key, the lengths and the payload CRC are checked.
   - A file the entry knows (kvsi_fsent.known: published by this handle,
     or read and checked since) at a readable name is read without its
     header if it is still that file (device, inode, mtime, size), the
     payload checked against the known CRC (kvsi_fs_get_known); any
     difference falls back to the full read.
   - A path-set record that is corrupt (or not a regular file) is treated
     as a changed set: reported in pathset_changed, KVS_E_PATHSET under
     strict_pathset, otherwise rewritten with a fresh store_id.
   - sync: fdatasync of files put with durability NONE since the last sync
     (by name; a file gone since is skipped), then fsync of every directory
     with renames or unlinks not yet synced. close syncs nothing.
   Renames and unlinks of one name by this process are serialised (busy
   flag), so an eviction never removes a newer file put by this process;
   nor one another process put, which the eviction checks for (device,
   inode, mtime, size) after taking the file away under a temporary name,
   and puts back (kvsi_fs_evict_file).
   ------------------------------------------------------------------------ */
#define KVSI_FS_BLOCK ((uint64_t)4096)
#define KVSI_FS_HDR ((size_t)4096)          /* header block read by readers */
#define KVSI_FS_PO_MAX ((size_t)1 << 20)    /* FORMAT 6.3 payload_offset bound */

typedef struct kvsi_fsent {
    struct kvsi_fsent *hnext;           /* hash chain                        */
    struct kvsi_fsent *lprev, *lnext;   /* LRU list (present entries)        */
    uint64_t hash;
    uint64_t disk;                      /* bytes on disk, when present       */
    uint64_t payload;                   /* payload bytes, when present       */
    uint64_t ver;                       /* bumped by every publish/unlink    */
    uint32_t dir;
    uint32_t pins;
    uint32_t readers;                   /* gets in progress                  */
    uint32_t putting;                   /* puts of the name in progress: its
                                           file is never their victim, and
                                           another put's last resort       */
    uint32_t refs;                      /* operations holding this entry     */
    uint32_t name_len;
    unsigned char present, busy, unsynced, in_lru;
    unsigned char exact;                /* payload is exact, not the scan's
                                           size - 4096 estimate             */
    unsigned char known;                /* crc, po, fsize, fid below describe
                                           the file now at the name: this
                                           process published it or read
                                           and checked it (kvsi_fs_know)   */
    unsigned char ided;                 /* fsize and fid are the file this
                                           handle last saw at the name (put,
                                           get, scan; kvsi_fs_ident): what
                                           an eviction may remove          */
    unsigned char plocked;              /* the name's byte of the directory's
                                           lock file is share-locked for
                                           this handle's pins              */
    unsigned char settled;              /* settles holding the byte (they
                                           give it up, kvsi_fs_unsettle) */
    unsigned char plocking;             /* a lock call on it is under way
                                           (without fs->mu)                */
    unsigned char plwait;               /* ... and found the byte held
                                           elsewhere: waiting for it       */
    uint32_t crc, po;                   /* its payload CRC32C and offset     */
    uint64_t fsize;                     /* its size in bytes                 */
    kvsi_fid fid;                       /* which file it is                  */
    uint64_t kseq;                      /* bumped by here/gone/know: a get
                                           records what it saw only if no
                                           one recorded since it started   */
    uint64_t failed_at;                 /* kvsi_fs.evfail_seq when an eviction
                                           of it last failed (pinned
                                           elsewhere, or refused)          */
    /* the name follows, NUL-terminated */
} kvsi_fsent;

typedef struct kvsi_fsdir {
    int fd;
    int direct;                         /* the probe got O_DIRECT            */
    int dirty;                          /* renames/unlinks not yet synced    */
    uint64_t store_id;
    size_t buf_align;
    kvs_file tmpl;                      /* the probe's file, closed: how    */
                                        /* object files open (open_like)    */
    uint64_t clock_ns;                  /* the probe file's mtime: the time
                                           by the clock that stamps this
                                           directory's files (an NFS
                                           server's), for the orphan age   */
    int pinfd;                          /* KVS_PINS_NAME: the file description
                                           of this handle's pins' shared
                                           locks (kvsi_fs_open_locks)      */
    int locks;                          /* those locks work here           */
    uint64_t lock_dev, lock_ino;        /* which file pinfd is: an eviction
                                           checks that the name still is it */
    uint64_t dev, ino;                  /* the directory's own: no two alike */
} kvsi_fsdir;

typedef struct kvsi_fs {
    kvs_store_config *cfg;
    const kvs_allocator *alloc;
    const kvs_sysops *ops;
    kvs_pathlist pl;
    int pl_ok;
    size_t ndirs;
    kvsi_fsdir dirs[KVS_PATHS_MAX];
    uint64_t writer;
    kvsi_a64 seq;                       /* atomic                            */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t symu;               /* one kvs_store_sync at a time: a
                                           second waits for the first's
                                           syncs (and retries its failures)
                                           rather than finding nothing
                                           marked and returning at once   */
    int sync_ok;
    kvsi_fsent **buckets;
    size_t nbuckets, nents;
    kvsi_fsent *lru_head, *lru_tail;
    uint64_t used, reserved, objects, payload_bytes, last_gen, nunsynced;
    uint64_t pinned;                    /* disk bytes of present entries this
                                           handle pins: never evictable here */
    uint64_t evfail_seq;                /* counts failed evictions (failed_at) */
    /* atomics */
    kvsi_a64 corruptions, evictions, orphans, fallbacks, bounce_bytes, bounce_calls;
    int pathset_changed;
    int direct;
    size_t buf_align;
    int lock_errno;                     /* stats.lock_errno                  */
} kvsi_fs;

static char *kvsi_fsent_name(kvsi_fsent *e) { return (char *)(e + 1); }
static size_t kvsi_fsent_size(size_t nlen) { return sizeof(kvsi_fsent) + nlen + 1; }

static uint64_t kvsi_fs_hash(uint32_t dir, const char *name, size_t nlen)
{
    return kvs_mix64(kvs_fnv1a64(name, nlen) ^ ((uint64_t)dir * 0x9e3779b97f4a7c15ULL));
}

/* The byte of a directory's lock file that stands for e's name: the same
   in every process (the name alone, not the directory's index, which
   follows the order of paths). */
static uint64_t kvsi_fs_lockoff(kvsi_fsent *e)
{
    return kvs_fsname_lock_byte(kvsi_fsent_name(e), e->name_len);
}

/* An eviction's exclusive lock of e's name, not waited for, on a file
   description of its own: *lfd is to be closed when the eviction is over,
   which drops the lock whatever happens (an unlock call could fail and
   leave the name locked). 0; 1: the name is share-locked, pinned by
   another handle or by this one; or -errno (-ENOENT: the lock file is
   missing or is another file than the one this handle opened: it was
   removed under the store, and a new one does not hold the pins taken on
   the old). Called without fs->mu. */
static int kvsi_fs_evlock(kvsi_fs *fs, kvsi_fsent *e, int *lfd)
{
    const kvsi_fsdir *d = &fs->dirs[e->dir];
    int r;
    *lfd = kvsi_sys_openat(fs->ops, d->fd, KVS_PINS_NAME, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (*lfd < 0) {
        r = *lfd;
        *lfd = -1;
        return r;
    }
    {
        kvs_file_status st;
        r = kvsi_sys_fstat(fs->ops, *lfd, &st);
        if (r < 0)
            return r;
        if (st.dev != d->lock_dev || st.ino != d->lock_ino)
            return -ENOENT; /* another file now: the pins are on the old one */
    }
    r = kvsi_sys_lock(fs->ops, *lfd, KVS_LOCK_EX, kvsi_fs_lockoff(e));
    return r == -EAGAIN || r == -EACCES ? 1 : r;
}

/* ---- map and LRU: all with fs->mu held ---- */
static kvsi_fsent *kvsi_fs_find(kvsi_fs *fs, uint32_t dir, const char *name, size_t nlen, uint64_t h)
{
    kvsi_fsent *e;
    for (e = fs->buckets[h & (fs->nbuckets - 1)]; e != NULL; e = e->hnext)
        if (e->hash == h && e->dir == dir && e->name_len == nlen && memcmp(kvsi_fsent_name(e), name, nlen) == 0)
            return e;
    return NULL;
}

static void kvsi_fs_rehash(kvsi_fs *fs)
{
    size_t nb = fs->nbuckets * 2, i;
    void *mem = NULL;
    kvsi_fsent **nbk;
    if (nb > ((size_t)-1) / sizeof(kvsi_fsent *) ||
        kvs_aligned_alloc(fs->alloc, nb * sizeof(kvsi_fsent *), sizeof(void *), &mem) != KVS_OK)
        return; /* keep the longer chains */
    nbk = (kvsi_fsent **)mem;
    memset(nbk, 0, nb * sizeof(kvsi_fsent *));
    for (i = 0; i < fs->nbuckets; i++) {
        kvsi_fsent *e = fs->buckets[i], *nx;
        for (; e != NULL; e = nx) {
            nx = e->hnext;
            e->hnext = nbk[e->hash & (nb - 1)];
            nbk[e->hash & (nb - 1)] = e;
        }
    }
    kvs_aligned_free(fs->alloc, fs->buckets, fs->nbuckets * sizeof(kvsi_fsent *), sizeof(void *));
    fs->buckets = nbk;
    fs->nbuckets = nb;
}

/* The entry of (dir, name) with one more reference; created (not present)
   when missing and create is set. NULL: missing, or no memory. */
static kvsi_fsent *kvsi_fs_ref(kvsi_fs *fs, uint32_t dir, const char *name, size_t nlen, int create)
{
    uint64_t h = kvsi_fs_hash(dir, name, nlen);
    kvsi_fsent *e = kvsi_fs_find(fs, dir, name, nlen, h);
    void *mem = NULL;
    if (e == NULL) {
        if (!create || kvs_aligned_alloc(fs->alloc, kvsi_fsent_size(nlen), sizeof(void *), &mem) != KVS_OK)
            return NULL;
        e = (kvsi_fsent *)mem;
        memset(e, 0, sizeof *e);
        e->hash = h;
        e->dir = dir;
        e->name_len = (uint32_t)nlen;
        memcpy(kvsi_fsent_name(e), name, nlen);
        kvsi_fsent_name(e)[nlen] = '\0';
        e->hnext = fs->buckets[h & (fs->nbuckets - 1)];
        fs->buckets[h & (fs->nbuckets - 1)] = e;
        if (++fs->nents > fs->nbuckets * 2)
            kvsi_fs_rehash(fs);
    }
    e->refs++;
    return e;
}

static void kvsi_fs_lru_remove(kvsi_fs *fs, kvsi_fsent *e)
{
    if (!e->in_lru)
        return;
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        fs->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        fs->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
    e->in_lru = 0;
}

static void kvsi_fs_lru_push(kvsi_fs *fs, kvsi_fsent *e)
{
    kvsi_fs_lru_remove(fs, e);
    e->lprev = fs->lru_tail;
    e->lnext = NULL;
    if (fs->lru_tail)
        fs->lru_tail->lnext = e;
    else
        fs->lru_head = e;
    fs->lru_tail = e;
    e->in_lru = 1;
}

static void kvsi_fs_free_ent(kvsi_fs *fs, kvsi_fsent *e)
{
    kvs_aligned_free(fs->alloc, e, kvsi_fsent_size(e->name_len), sizeof(void *));
}

static void kvsi_fs_unref(kvsi_fs *fs, kvsi_fsent *e)
{
    kvsi_fsent **pp;
    KVS_ASSERT(e->refs > 0);
    if (--e->refs > 0 || e->present || e->pins > 0)
        return;
    KVS_ASSERT(!e->in_lru); /* only present entries are in the LRU */
    if (e->in_lru)
        kvsi_fs_lru_remove(fs, e);
    for (pp = &fs->buckets[e->hash & (fs->nbuckets - 1)]; *pp != e; pp = &(*pp)->hnext)
        ;
    *pp = e->hnext;
    fs->nents--;
    kvsi_fs_free_ent(fs, e);
}

/* The file of e is gone (unlinked or found missing). */
static void kvsi_fs_gone(kvsi_fs *fs, kvsi_fsent *e)
{
    e->ver++;
    e->kseq++;
    e->known = 0;
    e->ided = 0;
    if (!e->present)
        return;
    fs->used -= e->disk;
    fs->payload_bytes -= e->payload;
    fs->objects--;
    if (e->pins > 0)
        fs->pinned -= e->disk;
    if (e->unsynced) {
        e->unsynced = 0;
        fs->nunsynced--;
    }
    kvsi_fs_lru_remove(fs, e);
    e->present = 0;
}

/* The file of e is there with these sizes; it becomes the most recent. */
static void kvsi_fs_here(kvsi_fs *fs, kvsi_fsent *e, uint64_t disk, uint64_t payload)
{
    if (e->present) {
        fs->used -= e->disk;
        fs->payload_bytes -= e->payload;
        fs->objects--;
        if (e->pins > 0)
            fs->pinned -= e->disk;
    }
    if (e->pins > 0)
        fs->pinned += disk;
    e->present = 1;
    e->disk = disk;
    e->payload = payload;
    e->exact = 1;
    e->known = 0; /* until kvsi_fs_know */
    e->ided = 0;  /* until kvsi_fs_ident */
    e->kseq++;
    fs->used += disk;
    fs->payload_bytes += payload;
    fs->objects++;
    kvsi_fs_lru_push(fs, e);
}

/* After kvsi_fs_here: what the file at e's name holds, as this process
   wrote it or has just read and checked it, and which file it is. A later
   get of the key reads the payload alone from that same file and checks it
   against crc (kvsi_fs_get_known). */
static void kvsi_fs_know(kvsi_fsent *e, uint32_t crc, uint32_t po, uint64_t fsize, const kvsi_fid *fid)
{
    e->known = 1;
    e->crc = crc;
    e->po = po;
    e->fsize = fsize;
    e->fid = *fid;
    e->ided = 1;
    e->kseq++;
}

/* Which file this handle last saw at e's name (its content unchecked): an
   eviction removes that file and no other (kvsi_fs_evict_file). */
static void kvsi_fs_ident(kvsi_fsent *e, uint64_t fsize, const kvsi_fid *fid)
{
    e->fsize = fsize;
    e->fid = *fid;
    e->ided = 1;
}

/* Serialise renames/unlinks of one name: wait, then own it. */
static void kvsi_fs_busy_enter(kvsi_fs *fs, kvsi_fsent *e)
{
    while (e->busy)
        pthread_cond_wait(&fs->cv, &fs->mu);
    e->busy = 1;
}

static void kvsi_fs_busy_leave(kvsi_fs *fs, kvsi_fsent *e)
{
    e->busy = 0;
    pthread_cond_broadcast(&fs->cv);
}

/* ---- helpers ---- */
static uint64_t kvsi_fs_disk(uint64_t size)
{
    return kvsi_ru(size, KVSI_FS_BLOCK);
}

static void kvsi_fs_fcfg(const kvsi_fs *fs, kvs_file_config *fc, uint32_t flags)
{
    kvs_file_config_init(fc);
    fc->direct = fs->cfg->direct;
    fc->flags = flags;
    fc->mode = fs->cfg->file_mode;
    fc->align = fs->cfg->align;
    fc->alloc = fs->alloc;
    fc->sysops = fs->ops;
}

/* Fold a file's counters into the store's, then close it. */
static kvs_result kvsi_fs_close_file(kvsi_fs *fs, kvs_file *f)
{
    kvs_file_stats st;
    kvs_file_get_stats(f, &st);
    kvsi_add(&fs->bounce_bytes, st.bounce_bytes);
    kvsi_add(&fs->bounce_calls, st.bounce_calls);
    kvsi_add(&fs->fallbacks, st.direct_fallbacks);
    return kvs_file_close(f);
}

/* Directory index and data-file name of a key. */
static kvs_result kvsi_fs_locate(kvsi_fs *fs, const void *key, size_t klen, char *name, size_t *nlen,
                                 kvs_fsname_kind *kind, uint32_t *dir)
{
    size_t idx = 0;
    kvs_result r = kvs_fsname_encode(key, klen, name, KVS_FSNAME_MAX + 1, nlen, kind);
    if (r != KVS_OK)
        return r;
    r = kvs_shard_pick(fs->cfg->shard, key, klen, fs->pl.ids, fs->ndirs, fs->cfg->tp_rank, &idx);
    if (r != KVS_OK)
        return r;
    *dir = (uint32_t)idx;
    return KVS_OK;
}

/* unlinkat of an object's name in dfd: 0 or -errno, with a directory at
   the name taken for no object (-ENOENT), as the scan and the iteration
   take it: left alone. */
static int kvsi_fs_unlink_name(kvsi_fs *fs, int dfd, const char *name)
{
    int r = kvsi_sys_unlinkat(fs->ops, dfd, name, 0);
    if (r == -EISDIR || r == -EPERM) { /* EPERM: a directory, on BSD */
        kvs_file_status ds;
        if (kvsi_sys_fstatat(fs->ops, dfd, name, &ds) == 0 && ds.type == KVS_FTYPE_DIRECTORY)
            r = -ENOENT;
    }
    return r;
}

/* Whether directory i holds this handle's objects: every directory, except
   under KVS_SHARD_RANK, where every key of the handle goes to the one
   directory of its rank, and the others are other ranks' (their files are
   not scanned, counted, evicted or listed here, nor their orphans removed;
   the directories are still created and given the lock file and the
   path-set record at open, and probed buffered, for writability only). */
static int kvsi_fs_mine(const kvsi_fs *fs, size_t i)
{
    return fs->cfg->shard != KVS_SHARD_RANK || i == (size_t)fs->cfg->tp_rank % fs->ndirs;
}

static uint64_t kvsi_fs_generation(kvsi_fs *fs)
{
    uint64_t g = kvsi_now_ns(1);
    pthread_mutex_lock(&fs->mu);
    if (g <= fs->last_gen)
        g = fs->last_gen + 1;
    fs->last_gen = g;
    pthread_mutex_unlock(&fs->mu);
    return g;
}

/* Open a data file and read and check its header: KVS_OK with *fo, *hbo
   (KVSI_FS_HDR bytes, free with kvsi_fs_hdr_free) and *fsz; KVS_NOT_FOUND
   when no file has the name; KVS_E_CORRUPT when something is there that is
   not a well-formed object file (a symlink, not a regular file, short,
   header checks, lengths); other errors as they come. The key is not
   compared here. */
static void kvsi_fs_hdr_free(kvsi_fs *fs, unsigned char *hb, size_t align)
{
    kvs_aligned_free(fs->alloc, hb, KVSI_FS_HDR, align);
}

/* With pbuf (a get): when the payload length is known (plen > 0, the exact
   length this process last saw) and the file is long enough, the header
   block and plen bytes at KVSI_FS_HDR (the usual payload_offset) come in
   one preadv, the payload straight into pbuf; *pgot = 1 then, and the
   caller uses them only if the header says that offset and length. */
static kvs_result kvsi_fs_read_header_p(kvsi_fs *fs, const kvsi_fsdir *d, const char *name, kvs_file **fo,
                                        unsigned char **hbo, size_t *hba, kvs_objhdr *h, uint64_t *fsz,
                                        kvsi_fid *fid, void *pbuf, uint64_t plen, int *pgot);

/* The readahead option: hints before a buffered read of [off, off + len)
   (kvs_sysops.fadvise); their answers are ignored. */
static void kvsi_fs_readahead(const kvsi_fs *fs, kvs_file *f, uint64_t off, uint64_t len)
{
    kvs_file_info info;
    if (!fs->cfg->readahead)
        return;
    kvs_file_get_info(f, &info);
    if (info.direct)
        return;
    (void)kvsi_sys_fadvise(fs->ops, kvs_file_fd(f), off, len, KVS_FADV_SEQUENTIAL);
    (void)kvsi_sys_fadvise(fs->ops, kvs_file_fd(f), off, len, KVS_FADV_WILLNEED);
}

static kvs_result kvsi_fs_read_header(kvsi_fs *fs, const kvsi_fsdir *d, const char *name, kvs_file **fo,
                                      unsigned char **hbo, size_t *hba, kvs_objhdr *h, uint64_t *fsz)
{
    return kvsi_fs_read_header_p(fs, d, name, fo, hbo, hba, h, fsz, NULL, NULL, 0, NULL);
}

static kvs_result kvsi_fs_read_header_p(kvsi_fs *fs, const kvsi_fsdir *d, const char *name, kvs_file **fo,
                                        unsigned char **hbo, size_t *hba, kvs_objhdr *h, uint64_t *fsz,
                                        kvsi_fid *fid, void *pbuf, uint64_t plen, int *pgot)
{
    kvs_file_config fc;
    kvs_file_info info;
    kvs_file *f = NULL;
    void *mem = NULL;
    kvs_result r;
    *fo = NULL;
    *hbo = NULL;
    kvsi_fs_fcfg(fs, &fc, KVS_FILE_RDONLY);
    fc.mode = 0;
    r = kvsi_file_open_like(d->fd, name, &fc, O_NOFOLLOW | O_NONBLOCK, &d->tmpl, fsz, fid, &f);
    if (r == KVS_E_NOENT)
        return KVS_NOT_FOUND;
    if (r == KVS_E_PATH /* ELOOP: a symlink */ || r == KVS_E_NOTSUP /* not a regular file */)
        return KVS_E_CORRUPT;
    if (r != KVS_OK)
        return r;
    kvs_file_get_info(f, &info);
    *hba = kvsi_max_sz(info.buf_align, 64);
    r = kvs_aligned_alloc(fs->alloc, KVSI_FS_HDR, *hba, &mem);
    if (r == KVS_OK && pbuf != NULL && plen > 0 && *fsz >= (uint64_t)KVSI_FS_HDR &&
        *fsz - KVSI_FS_HDR >= plen) {
        kvs_iovec v[2];
        kvsi_fs_readahead(fs, f, KVSI_FS_HDR, plen);
        v[0].base = mem;
        v[0].len = KVSI_FS_HDR;
        v[1].base = pbuf;
        v[1].len = (size_t)plen;
        r = kvs_file_readv(f, 0, v, 2);
        if (r == KVS_OK)
            *pgot = 1;
        else if (r == KVS_E_EOF) /* shrunk since the fstat: the header alone */
            r = kvs_file_read(f, 0, mem, KVSI_FS_HDR);
    } else if (r == KVS_OK) {
        r = kvs_file_read(f, 0, mem, KVSI_FS_HDR);
    }
    if (r == KVS_E_EOF)
        r = KVS_E_CORRUPT;
    if (r == KVS_OK && kvs_objhdr_decode(mem, KVSI_FS_HDR, h) != KVS_OK)
        r = KVS_E_CORRUPT;
    if (r == KVS_OK && (h->payload_offset < KVSI_FS_HDR || h->payload_len > *fsz ||
                        (uint64_t)h->payload_offset > *fsz - h->payload_len))
        r = KVS_E_CORRUPT;
    if (r != KVS_OK) {
        if (mem != NULL)
            kvsi_fs_hdr_free(fs, (unsigned char *)mem, *hba);
        (void)kvsi_fs_close_file(fs, f);
        return r;
    }
    *fo = f;
    *hbo = (unsigned char *)mem;
    return KVS_OK;
}

/* Whose file is at a hashed name: KVS_OK this key's, KVS_E_EXIST another
   key's, KVS_E_CORRUPT no valid object's, KVS_NOT_FOUND none, or the error. */
static kvs_result kvsi_fs_key_owner(kvsi_fs *fs, const kvsi_fsdir *d, const char *name, const void *key,
                                    size_t klen)
{
    kvs_file *f;
    unsigned char *hb;
    size_t hba = 0;
    kvs_objhdr h;
    uint64_t fsz = 0;
    kvs_result r = kvsi_fs_read_header(fs, d, name, &f, &hb, &hba, &h, &fsz);
    if (r != KVS_OK)
        return r;
    r = (h.key_len == klen && memcmp(h.key, key, klen) == 0) ? KVS_OK : KVS_E_EXIST;
    kvsi_fs_hdr_free(fs, hb, hba);
    (void)kvsi_fs_close_file(fs, f);
    return r;
}

/* A temporary file name of this handle, unique in the directory: the
   orphan scan at open knows it for one. */
static kvs_result kvsi_fs_tmpname(kvsi_fs *fs, char *tmp, size_t cap)
{
    size_t tl = 0;
    return kvs_fsname_temp(fs->writer, __atomic_fetch_add(&fs->seq, 1, __ATOMIC_RELAXED), tmp, cap, &tl);
}

/* Put the file at tmp back under name, never over a file there (linkat),
   then drop the name tmp: linkat's answer (-EEXIST: a newer file has the
   name, and the one at tmp is gone); *u is the unlink's (0 or -errno). */
static int kvsi_fs_put_back(kvsi_fs *fs, const kvsi_fsdir *d, const char *tmp, const char *name, int *u)
{
    int r = kvsi_sys_linkat(fs->ops, d->fd, tmp, d->fd, name);
    *u = 0;
    if (r == 0 || r == -EEXIST) {
        *u = kvsi_sys_unlinkat(fs->ops, d->fd, tmp, 0);
        if (*u == -ENOENT)
            *u = 0;
    }
    return r;
}

/* Evict the file at name, if it is still the one this handle saw there
   (fsize, fid): another process may have put a newer one since, which is
   not this handle's to remove. The file is moved to a temporary name first
   and checked there, so nobody can put a file at the name between the check
   and the removal; a file that is not the one seen goes back (linkat, which
   never replaces one put meanwhile: that newer one then stays and the moved
   one goes). The name is looked at first (fstatat): a file that is already
   not the one seen is never moved, so only a put landing between that look
   and the rename is ever away from its name, for a moment and with the
   fresh mtime that keeps another open's orphan scan off it. *how gets
   KVSI_EV_DIR once the directory changed (it needs a sync) and KVSI_EV_AWAY
   when the name has lost the file this handle counts. Returns 0: the seen
   file is removed (or a file that is no object, or, when a newer one took
   the name meanwhile, the moved one); -ENOENT: nothing was at the name; 1:
   a file another process put is at the name (still, or again), *st says
   what it is; other -errno: the eviction failed, with the
   file at its name unless KVSI_EV_AWAY (a put-back that failed for another
   reason than missing hard links: the file is left under the temporary
   name, for the orphan scan). A crash between the moves leaves the file
   under its temporary name: that object is lost, as the eviction would have
   lost it, and a later open's orphan scan removes the file. */
#define KVSI_EV_DIR 1
#define KVSI_EV_AWAY 2
static int kvsi_fs_evict_file(kvsi_fs *fs, const kvsi_fsdir *d, const char *name, uint64_t fsize,
                              const kvsi_fid *fid, kvs_file_status *st, int *how)
{
    char tmp[64];
    kvsi_fid got;
    int r, sr, u;
    *how = 0;
    sr = kvsi_sys_fstatat(fs->ops, d->fd, name, st);
    if (sr == -ENOENT || sr == -ESTALE)
        return -ENOENT;
    if (sr != 0)
        return sr; /* nothing moved */
    if (st->type == KVS_FTYPE_DIRECTORY)
        return -ENOENT; /* no object, as the scan at open sees it: not counted, left alone */
    if (st->type == KVS_FTYPE_REGULAR) {
        kvsi_fid_of(st, &got);
        if (st->size != fsize || !kvsi_fid_eq(&got, fid))
            return 1; /* another process's file: left where it is */
    }
    if (kvsi_fs_tmpname(fs, tmp, sizeof tmp) != KVS_OK)
        return -EINVAL; /* not reached: the name fits */
    r = kvsi_sys_renameat(fs->ops, d->fd, name, d->fd, tmp);
    if (r != 0)
        return r;
    *how = KVSI_EV_DIR | KVSI_EV_AWAY;
    sr = kvsi_sys_fstatat(fs->ops, d->fd, tmp, st);
    if (sr == -ENOENT || sr == -ESTALE)
        return -ENOENT; /* removed under its temporary name: gone */
    if (sr == 0 && st->type == KVS_FTYPE_DIRECTORY) {
        /* put there since the look: back at its name (a rename of a
           directory never replaces a file put meanwhile), not counted */
        r = kvsi_sys_renameat(fs->ops, d->fd, tmp, d->fd, name);
        if (r != 0)
            return r;
        *how = KVSI_EV_DIR;
        return -ENOENT;
    }
    if (sr == 0 && st->type != KVS_FTYPE_REGULAR) {
        /* no object (a get misses it): it goes, as before the check */
        r = kvsi_sys_unlinkat(fs->ops, d->fd, tmp, 0);
        return r == 0 || r == -ENOENT ? 0 : r;
    }
    if (sr == 0) {
        kvsi_fid_of(st, &got);
        if (st->size == fsize && kvsi_fid_eq(&got, fid)) {
            r = kvsi_sys_unlinkat(fs->ops, d->fd, tmp, 0);
            if (r == 0 || r == -ENOENT)
                return 0;
            if (kvsi_fs_put_back(fs, d, tmp, name, &u) == 0) /* not removed: back */
                *how = KVSI_EV_DIR;
            return r;
        }
    }
    /* Another file (or one that could not be told): back under its name. */
    r = kvsi_fs_put_back(fs, d, tmp, name, &u);
    if (r == -EEXIST)
        return u; /* a newer one has the name; the moved one is gone */
    if (r == 0) {
        *how = KVSI_EV_DIR;
        return sr != 0 ? sr : 1; /* back (unchecked: the eviction fails as
                                    the stat did); an unlink failure left a
                                    second link, the orphan scan's */
    }
    if (r == -EPERM || r == -EOPNOTSUPP || r == -ENOSYS) {
        /* No hard links here: it cannot go back, and goes, as an eviction
           without the check would have removed it. */
        r = kvsi_sys_unlinkat(fs->ops, d->fd, tmp, 0);
        return r == -ENOENT ? 0 : r;
    }
    return r;
}

/* The next victim of an eviction for the put of self: the least recently
   used file that is neither pinned, read nor busy, has no put of its name
   under way, and is not self's (an overwrite never removes its key's old
   value before the new one is in place). *last: the least recent file
   with another put of its name under way, the reserve's last resort: its
   old value goes only when nothing else can, not even after a new pass or
   a wait (it would have been evicted just before that put began as well);
   waiting for that put instead could leave two puts waiting on each
   other. *blocked: a read or busy file was passed over. A file whose
   eviction failed (pinned elsewhere, or refused: by any thread) since
   evfail_seq `since` is no candidate: a reserve makes at most
   KVSI_FS_EVICT_PASSES passes over such files, so reserves failing on the
   same files in several threads end (each waiting for the others' tries
   used to go round for ever). NULL: none. */
static kvsi_fsent *kvsi_fs_victim(kvsi_fs *fs, const kvsi_fsent *self, uint64_t since, int *blocked,
                                  kvsi_fsent **last)
{
    kvsi_fsent *v;
    *last = NULL;
    for (v = fs->lru_head; v != NULL; v = v->lnext) {
        if (v->pins > 0 || v == self || v->failed_at > since || v->plwait)
            continue; /* plwait: a lock call of this handle waits for the
                         name's byte, held elsewhere: no eviction here
                         could take it either */
        if (v->readers > 0 || v->busy || v->plocking) {
            /* in use: read, evicted, or removed; or held busy by a get's,
               remove's or sync's second look, which every settle of the
               name's byte runs inside; or its byte being taken or given
               up by this handle's lock call (an unpin's unlock), not
               waiting, which the eviction's own lock would take for a
               pin elsewhere. Each of these ends with a broadcast. */
            *blocked = 1;
            continue;
        }
        if (v->putting == 0)
            return v;
        if (*last == NULL)
            *last = v;
    }
    return NULL;
}

/* Whether the file self counts is still at its name, looked at when only
   that file stands between an overwrite and KVS_E_FULL (another handle or
   process may have removed it, and the count would refuse every overwrite
   of the key for ever), and when a get missed it (an eviction may have had
   it aside for a moment, and dropping it from the count while it is put
   back would let the bound be exceeded). The name is held busy meanwhile
   (this handle's evictions and removes of it wait), and a file away from
   its name is waited for as sync does (another handle's eviction holds the
   name's byte while it checks whose file it took, and may put it back),
   with the byte kept through the second look. Called and
   returns with fs->mu held (dropped for the look); 1 when self changed
   meanwhile (no longer counted: gone, or recorded anew by another call),
   so the caller looks at the room again. *held (when not NULL): the -errno
   of a wait for another handle's eviction that failed (-EBUSY: the name
   still held after KVSI_PIN_WAIT_MS), else 0; the file then stays counted,
   not known gone. */
static int kvsi_fs_settle(kvsi_fs *fs, kvsi_fsent *e); /* below, with the pins */
static void kvsi_fs_unsettle(kvsi_fs *fs, kvsi_fsent *e);

static int kvsi_fs_look_gone(kvsi_fs *fs, kvsi_fsent *self, int *held)
{
    kvs_file_status st;
    uint64_t v0, k0;
    int r, gone, sr = 1;
    if (held != NULL)
        *held = 0;
    kvsi_fs_busy_enter(fs, self);
    v0 = self->ver;
    k0 = self->kseq;
    pthread_mutex_unlock(&fs->mu);
    r = kvsi_sys_fstatat(fs->ops, fs->dirs[self->dir].fd, kvsi_fsent_name(self), &st);
    pthread_mutex_lock(&fs->mu);
    if ((r == -ENOENT || r == -ESTALE) && self->present) {
        sr = kvsi_fs_settle(fs, self);
        if (sr == 0) {
            /* the byte held through the second look: no eviction elsewhere
               takes the file aside meanwhile */
            pthread_mutex_unlock(&fs->mu);
            r = kvsi_sys_fstatat(fs->ops, fs->dirs[self->dir].fd, kvsi_fsent_name(self), &st);
            pthread_mutex_lock(&fs->mu);
        } else {
            r = sr; /* an eviction elsewhere still holds it: not known gone */
            if (held != NULL)
                *held = sr;
        }
    }
    gone = (r == -ENOENT || r == -ESTALE) && self->present && self->ver == v0 && self->kseq == k0;
    if (gone)
        kvsi_fs_gone(fs, self);
    if (sr == 0)
        kvsi_fs_unsettle(fs, self);
    kvsi_fs_busy_leave(fs, self);
    return gone || self->ver != v0 || self->kseq != k0 || !self->present;
}

/* Make room for need more bytes (capacity_bytes) for the put of self,
   evicting least recently used files (kvsi_fs_victim); then reserve them.
   KVS_E_LIMIT when need alone exceeds the capacity, KVS_E_FULL when
   nothing more can be evicted. */
#define KVSI_FS_EVICT_PASSES 3 /* a reserve's passes over files that failed */
static kvs_result kvsi_fs_reserve(kvsi_fs *fs, uint64_t need, kvsi_fsent *self)
{
    uint64_t cap = fs->cfg->capacity_bytes;
    int everr = 0, passes = 1, looked = 0; /* everr: the first eviction that failed */
    kvs_result res = KVS_OK;
    uint64_t since, mine = 0; /* mine: this reserve's failures in this pass */
    if (cap != 0 && need > cap)
        return KVS_E_LIMIT;
    pthread_mutex_lock(&fs->mu);
    since = fs->evfail_seq;
    for (;;) {
        kvsi_fsent *v, *last;
        kvs_file_status st;
        kvsi_fid vfid;
        uint64_t vsize;
        int blocked = fs->reserved > 0, r, ided, how, locks, lk, lfd;
        if (cap == 0 || (fs->used + fs->reserved <= cap && need <= cap - fs->used - fs->reserved)) {
            fs->reserved += need;
            break;
        }
        if (fs->pinned > cap - need ||
            (self != NULL && self->present && self->pins == 0 && self->disk > cap - need - fs->pinned)) {
            /* no room even with every object evicted that this handle
               does not pin, or keeps (an overwrite's own old file): full
               now, with nothing evicted for nothing; unless the old file
               (pinned here or not) is what stands in the way and is gone:
               removed by another handle or process */
            uint64_t others = fs->pinned - (self != NULL && self->present && self->pins > 0 ? self->disk : 0);
            if (!looked && self != NULL && self->present && others <= cap - need &&
                self->disk > cap - need - others) {
                looked = 1;
                if (kvsi_fs_look_gone(fs, self, NULL))
                    continue;
            }
            res = KVS_E_FULL;
            break;
        }
        v = kvsi_fs_victim(fs, self, since, &blocked, &last);
        if (v == NULL && passes < KVSI_FS_EVICT_PASSES && fs->evfail_seq - since > mine) {
            /* Files passed over for other threads' failures in this pass (a
               pin since dropped, a transient error): tried again, a
               bounded number of times, so a put does not fail, or take
               another put's old value, for what it never tried itself. */
            passes++;
            mine = 0;
            since = fs->evfail_seq;
            v = kvsi_fs_victim(fs, self, since, &blocked, &last);
        }
        if (v == NULL && blocked) {
            /* an in-flight put, read, rename or unlink ends: then a new
               pass, while there are passes left (pins dropped meanwhile
               count), before the last resort */
            pthread_cond_wait(&fs->cv, &fs->mu);
            if (passes < KVSI_FS_EVICT_PASSES) {
                passes++;
                mine = 0;
                since = fs->evfail_seq;
            }
            continue;
        }
        if (v == NULL)
            v = last;
        if (v == NULL && !looked && self != NULL && self->present) {
            /* about to fail while counting the key's own old file: make
               sure it is still there (removed elsewhere, it would refuse
               this overwrite for ever) */
            looked = 1;
            if (kvsi_fs_look_gone(fs, self, NULL))
                continue;
        }
        if (v == NULL) {
            res = everr ? kvs_result_from_errno(-everr) : KVS_E_FULL;
            break;
        }
        v->refs++;
        v->busy = 1;
        ided = v->ided;
        vsize = v->fsize;
        vfid = v->fid;
        locks = fs->dirs[v->dir].locks;
        pthread_mutex_unlock(&fs->mu);
        /* The name's exclusive lock, not waited for: held shared, the file
           is pinned by another handle (or this one, on its pins' file
           description), and stays. */
        how = 0;
        lfd = -1;
        lk = locks ? kvsi_fs_evlock(fs, v, &lfd) : 0;
        if (lk != 0) {
            r = 2; /* not tried: pinned elsewhere (lk 1), or the lock failed
                      (lk < 0, answered below) */
        } else if (ided) {
            r = kvsi_fs_evict_file(fs, &fs->dirs[v->dir], kvsi_fsent_name(v), vsize, &vfid, &st, &how);
        } else {
            /* A file this handle could not identify (its put's fstat
               failed). Never removed by name: another handle may have put
               a newer file there since. A size no file has makes any
               regular file at the name "another's" (r 1: recorded as seen,
               the most recent, so a later eviction removes it with the
               check); anything else goes as for an identified file. */
            r = kvsi_fs_evict_file(fs, &fs->dirs[v->dir], kvsi_fsent_name(v), UINT64_MAX, &vfid, &st, &how);
        }
        if (lfd >= 0)
            kvsi_close_fd(fs->ops, lfd); /* drops the lock */
        pthread_mutex_lock(&fs->mu);
        kvsi_fs_busy_leave(fs, v);
        if (how & KVSI_EV_DIR)
            fs->dirs[v->dir].dirty = 1; /* renamed, linked or unlinked */
        if (lk < 0) { /* nothing moved */
            kvsi_fs_unref(fs, v);
            res = kvs_result_from_errno(-lk);
            break;
        }
        if (r < 0 && r != -ENOENT && !(how & KVSI_EV_AWAY)) {
            /* The eviction failed with the file at its name (the rename or
               unlink refused: another user's file in a sticky directory,
               an immutable file, an I/O error): passed over as a file
               pinned elsewhere is, so one file that cannot go does not
               fail every put that needs room. If nothing else can go
               either, the put fails with this error, not KVS_E_FULL. */
            if (everr == 0)
                everr = r;
            r = 2;
        }
        if (r == 2) {
            /* Pinned elsewhere (or its eviction refused, above): the most
               recent here (if a get has not found it gone meanwhile), and
               not tried again in this pass of this reserve (nor of any
               other whose pass began before this failure). When every candidate was
               tried, the victim is NULL: full, or a wait for what was
               read, written or reserved (each such end broadcasts). */
            if (v->present)
                kvsi_fs_lru_push(fs, v);
            v->failed_at = ++fs->evfail_seq;
            mine++;
            kvsi_fs_unref(fs, v);
            continue;
        }
        if (r == 1) {
            /* another process's newer file: the most recent now, as seen */
            kvsi_fid_of(&st, &vfid);
            kvsi_fs_here(fs, v, kvsi_fs_disk(st.size), st.size > KVSI_FS_HDR ? st.size - KVSI_FS_HDR : 0);
            v->exact = 0;
            kvsi_fs_ident(v, st.size, &vfid);
            kvsi_fs_unref(fs, v);
            continue;
        }
        if (r == 0 || r == -ENOENT) {
            if (r == 0)
                kvsi_add(&fs->evictions, 1);
            kvsi_fs_gone(fs, v);
            kvsi_fs_unref(fs, v);
        } else {
            if (how & KVSI_EV_AWAY)
                kvsi_fs_gone(fs, v); /* not at its name any more */
            kvsi_fs_unref(fs, v);
            res = kvs_result_from_errno(-r);
            break;
        }
    }
    pthread_mutex_unlock(&fs->mu);
    return res;
}

static void kvsi_fs_unreserve_locked(kvsi_fs *fs, uint64_t n)
{
    fs->reserved -= n;
    pthread_cond_broadcast(&fs->cv);
}

static kvs_result kvsi_fs_put(void *ev, const void *key, size_t klen, const void *data, size_t len)
{
    kvsi_fs *fs = (kvsi_fs *)ev;
    char name[KVS_FSNAME_MAX + 1], tmp[64];
    size_t nlen = 0, po = 0, hba = 0, hl = 0;
    kvs_fsname_kind kind;
    uint32_t di = 0;
    kvsi_fsdir *d;
    kvs_file_config fc;
    kvs_file_info info;
    kvs_file *f = NULL;
    void *hb = NULL;
    uint64_t wlen = 0, disk = 0, sz0 = 0;
    int reserved = 0, created = 0, have_fid = 0, r;
    kvsi_fid fid;
    kvs_objhdr h;
    kvsi_fsent *e;
    kvs_result res, dres = KVS_OK;

    res = kvsi_fs_locate(fs, key, klen, name, &nlen, &kind, &di);
    if (res != KVS_OK)
        return res;
    d = &fs->dirs[di];
    res = kvsi_fs_tmpname(fs, tmp, sizeof tmp);
    if (res != KVS_OK)
        return res;
    /* The name's entry, held until the end: this put's reserve never
       evicts the file at the name (the key's old value), and another put's
       only as a last resort. */
    pthread_mutex_lock(&fs->mu);
    e = kvsi_fs_ref(fs, di, name, nlen, 1);
    if (e != NULL)
        e->putting++;
    pthread_mutex_unlock(&fs->mu);
    if (e == NULL)
        return KVS_E_NOMEM;
    kvsi_fs_fcfg(fs, &fc, KVS_FILE_CREATE | KVS_FILE_EXCL);
    res = kvsi_file_open_like(d->fd, tmp, &fc, O_NOFOLLOW, &d->tmpl, &sz0, NULL, &f);
    if (res != KVS_OK)
        goto fail; /* the file layer removed what it created */
    created = 1;
    kvs_file_get_info(f, &info);
    po = KVSI_FS_HDR;
    if (info.direct)
        po = kvsi_max_sz(po, kvsi_max_sz(info.align, info.buf_align));
    else
        po = kvsi_max_sz(po, fs->cfg->align);
    if (po > KVSI_FS_PO_MAX) {
        res = KVS_E_ALIGN;
        goto fail;
    }
    res = kvs_file_written_len(f, (uint64_t)po, len, &wlen);
    if (res != KVS_OK)
        goto fail;
    if (wlen > UINT64_MAX - po - KVSI_FS_BLOCK) {
        res = KVS_E_OVERFLOW;
        goto fail;
    }
    disk = kvsi_fs_disk((uint64_t)po + wlen);
    res = kvsi_fs_reserve(fs, disk, e);
    if (res != KVS_OK)
        goto fail;
    reserved = 1;
    /* The file's blocks in one exact request. A file is the header block
       plus the payload: 65 blocks for a 256 KiB payload, which ext4's
       allocator rounds up to a 128-block preallocation when the write
       allocates, then releases; the files of a directory then sit 512 KiB
       apart with holes between them, and reading them back ran 20-25%
       slower than reading packed files (docs/BENCHMARKS.md). fallocate
       asks for exactly the bytes the write covers, unrounded. Not
       supported: the write allocates as before. */
    if (len > 0) {
        r = kvsi_sys_fallocate(fs->ops, kvs_file_fd(f), 0, (uint64_t)po + wlen, 0);
        if (r != 0 && r != -EOPNOTSUPP && r != -ENOSYS && r != -EINVAL) {
            res = kvs_result_from_errno(-r);
            goto fail;
        }
    }
    hba = kvsi_max_sz(info.buf_align, 64);
    res = kvs_aligned_alloc(fs->alloc, po, hba, &hb);
    if (res != KVS_OK)
        goto fail;
    memset(hb, 0, po);
    h.key_len = (uint32_t)klen;
    h.payload_len = (uint64_t)len;
    h.generation = kvsi_fs_generation(fs);
    h.store_id = d->store_id;
    h.payload_offset = (uint32_t)po;
    h.payload_crc = len > 0 ? kvs_crc32c(0, data, len) : kvs_crc32c(0, "", 0);
    h.key = key;
    res = kvs_objhdr_encode(&h, hb, po, &hl);
    if (res == KVS_OK) {
        /* One pwritev: header block, then the payload straight from the
           caller (only a misaligned tail or buffer is bounced). */
        kvs_iovec v[2];
        v[0].base = hb;
        v[0].len = po;
        v[1].base = (void *)(uintptr_t)data; /* only read */
        v[1].len = len;
        res = kvs_file_writev(f, 0, v, len > 0 ? 2 : 1);
    }
    if (res == KVS_OK && fs->cfg->durability >= KVS_DURABLE_DATA)
        res = kvs_file_datasync(f);
    if (res != KVS_OK)
        goto fail;
    {
        /* which file this is (the rename keeps inode and mtime), so a
           later get can tell it from a replacement of the same size */
        kvs_file_status sb;
        if (kvsi_sys_fstat(fs->ops, kvs_file_fd(f), &sb) == 0) {
            kvsi_fid_of(&sb, &fid);
            have_fid = 1;
        }
    }
    res = kvsi_fs_close_file(fs, f);
    f = NULL;
    if (res != KVS_OK)
        goto fail;
    if (!have_fid) {
        /* The fstat failed: ask by the temporary name, which no other put
           uses and which only this put renames, so it still names the file
           just written (a regular file of the length written, or none is
           recorded). Without an identity the eviction would only record
           the file at the entry's turn and remove it, checked, at a later
           one, out of its LRU place. */
        kvs_file_status sb;
        if (kvsi_sys_fstatat(fs->ops, d->fd, tmp, &sb) == 0 && sb.type == KVS_FTYPE_REGULAR &&
            sb.size == (uint64_t)po + wlen) {
            kvsi_fid_of(&sb, &fid);
            have_fid = 1;
        }
    }

    /* Commit: rename over the final name, serialised with this process's
       other renames and unlinks of the name. */
    pthread_mutex_lock(&fs->mu);
    kvsi_fs_busy_enter(fs, e);
    pthread_mutex_unlock(&fs->mu);
    r = kvsi_sys_renameat(fs->ops, d->fd, tmp, d->fd, name);
    if (r == 0 && fs->cfg->durability == KVS_DURABLE_FULL)
        dres = kvs_dirfd_sync(d->fd, fs->ops);
    pthread_mutex_lock(&fs->mu);
    kvsi_fs_busy_leave(fs, e);
    if (r == 0) {
        kvsi_fs_here(fs, e, disk, (uint64_t)len);
        if (have_fid)
            kvsi_fs_know(e, h.payload_crc, (uint32_t)po, (uint64_t)po + wlen, &fid);
        e->ver++;
        if (fs->cfg->durability == KVS_DURABLE_NONE && !e->unsynced) {
            e->unsynced = 1;
            fs->nunsynced++;
        }
        if (fs->cfg->durability != KVS_DURABLE_FULL || dres != KVS_OK)
            d->dirty = 1;
    }
    e->putting--;
    kvsi_fs_unref(fs, e);
    kvsi_fs_unreserve_locked(fs, disk);
    pthread_mutex_unlock(&fs->mu);
    kvs_aligned_free(fs->alloc, hb, po, hba);
    if (r != 0) {
        (void)kvsi_sys_unlinkat(fs->ops, d->fd, tmp, 0);
        return kvs_result_from_errno(-r);
    }
    /* A failed directory sync: the object is published but not known to be
       durable; the error says so (a later sync retries the directory). */
    return dres;

fail:
    if (f != NULL)
        (void)kvsi_fs_close_file(fs, f);
    if (created)
        (void)kvsi_sys_unlinkat(fs->ops, d->fd, tmp, 0);
    pthread_mutex_lock(&fs->mu);
    e->putting--;
    kvsi_fs_unref(fs, e);
    if (reserved)
        kvsi_fs_unreserve_locked(fs, disk);
    pthread_mutex_unlock(&fs->mu);
    if (hb != NULL)
        kvs_aligned_free(fs->alloc, hb, po, hba);
    return res;
}

/* A get of a file this process knows (kvsi_fsent.known): open, check that
   it is the same file (device, inode, mtime) with the same size, read the
   payload alone (no header block, one segment) and check it against the
   CRC32C it was published or last read with. KVS_OK: the bytes
   are in buf. KVS_NOT_FOUND: no file has the name. An I/O error as it comes.
   *again = 1 (the result is then meaningless): the file is not the one
   known (replaced by another process, damaged, not a regular file): the
   caller reads it again with its header, as a first get does. Only for
   names the codec maps one to one to keys, so the name alone says whose
   file it is. */
static kvs_result kvsi_fs_get_known(kvsi_fs *fs, const kvsi_fsdir *d, const char *name, void *buf, uint64_t len,
                                    uint32_t po, uint64_t fsize, uint32_t crc, const kvsi_fid *kfid, int *again)
{
    kvs_file_config fc;
    kvs_file *f = NULL;
    kvsi_fid fid;
    uint64_t fsz = 0;
    kvs_result r;
    *again = 0;
    kvsi_fs_fcfg(fs, &fc, KVS_FILE_RDONLY);
    fc.mode = 0;
    r = kvsi_file_open_like(d->fd, name, &fc, O_NOFOLLOW | O_NONBLOCK, &d->tmpl, &fsz, &fid, &f);
    if (r == KVS_E_NOENT)
        return KVS_NOT_FOUND;
    if (r == KVS_E_PATH || r == KVS_E_NOTSUP) {
        *again = 1; /* a symlink or not a regular file: the full read says so */
        return r;
    }
    if (r != KVS_OK)
        return r;
    if (fsz != fsize || !kvsi_fid_eq(&fid, kfid)) {
        *again = 1; /* another file: a replacement may have another length */
    } else {
        kvsi_fs_readahead(fs, f, po, len);
        r = kvs_file_read(f, (uint64_t)po, buf, (size_t)len);
        if (r == KVS_E_EOF || (r == KVS_OK && kvs_crc32c(0, buf, (size_t)len) != crc))
            *again = 1;
    }
    (void)kvsi_fs_close_file(fs, f);
    return r;
}

/* One get. *back = 1 (when may_retry): it missed a file this handle
   counts, and a file is at the name again (kvsi_fs_look_gone found one: an
   eviction, here or in another handle, had it aside for a moment; or
   another call recorded one meanwhile), so the caller reads once more. */
static kvs_result kvsi_fs_get_try(kvsi_fs *fs, const void *key, size_t klen, void *buf, size_t cap, size_t *out_len,
                                  int may_retry, int *back)
{
    char name[KVS_FSNAME_MAX + 1];
    size_t nlen = 0, hba = 0;
    kvs_fsname_kind kind;
    uint32_t di = 0, kcrc = 0, kpo = 0;
    kvsi_fsdir *d;
    kvsi_fsent *e;
    uint64_t v0 = 0, k0 = 0, fsz = 0, hint = 0, kfsize = 0;
    kvsi_fid fid, kfid;
    kvs_file *f = NULL;
    unsigned char *hb = NULL;
    kvs_objhdr h;
    kvs_result res;
    int corrupt = 0, other = 0, pgot = 0, had = 0, known = 0, again = 0, hexact = 0;

    *out_len = 0;
    res = kvsi_fs_locate(fs, key, klen, name, &nlen, &kind, &di);
    if (res != KVS_OK)
        return res;
    d = &fs->dirs[di];
    pthread_mutex_lock(&fs->mu);
    e = kvsi_fs_ref(fs, di, name, nlen, 1);
    if (e != NULL) {
        e->readers++;
        v0 = e->ver; /* changed by a publish or unlink while we read */
        k0 = e->kseq; /* changed when anyone records what is there */
        if (e->present && e->payload > 0 && e->payload <= (uint64_t)cap) {
            /* header and payload in one read: the exact length, or for a
               file only the scan at open saw, its size less the header
               block (the payload and any tail padding: at least the
               payload, when the header says it starts there) */
            hint = e->payload;
            hexact = e->exact;
        }
        if (e->known) {
            had = 1;
            kcrc = e->crc;
            kpo = e->po;
            kfsize = e->fsize;
            kfid = e->fid;
            /* the payload alone, checked against the known CRC; only when
               it ends where the file does (no tail padding), so a file of
               the same size holds a payload of the same length */
            known = hint > 0 && kind != KVS_FSNAME_HASHED && kfsize == (uint64_t)kpo + hint;
        }
    }
    pthread_mutex_unlock(&fs->mu);
    if (e == NULL)
        return KVS_E_NOMEM;

    memset(&h, 0, sizeof h);
    memset(&fid, 0, sizeof fid);
    if (!had)
        memset(&kfid, 0, sizeof kfid);
    if (known) {
        res = kvsi_fs_get_known(fs, d, name, buf, hint, kpo, kfsize, kcrc, &kfid, &again);
        if (!again) {
            if (res == KVS_OK) {
                *out_len = (size_t)hint;
                h.payload_len = hint;
                fsz = kfsize;
                fid = kfid;
            }
            goto done;
        }
    }
    res = kvsi_fs_read_header_p(fs, d, name, &f, &hb, &hba, &h, &fsz, &fid, buf, hint, &pgot);
    if (res == KVS_E_CORRUPT) {
        corrupt = 1;
        res = KVS_NOT_FOUND;
    } else if (res == KVS_OK) {
        if (h.key_len != klen || memcmp(h.key, key, klen) != 0) {
            /* a hashed name shared with another key is a plain miss */
            corrupt = kind != KVS_FSNAME_HASHED;
            other = !corrupt;
            res = KVS_NOT_FOUND;
        } else if (h.payload_len > (uint64_t)((size_t)-1)) {
            /* whole and this key's, but longer than a size_t (a 32-bit
               process; another wrote it): no buffer can take it, and
               *out_len cannot say how long it is */
            res = KVS_E_OVERFLOW;
        } else {
            *out_len = (size_t)h.payload_len;
            if (cap < h.payload_len) {
                res = KVS_E_BUFSIZE;
            } else if (h.payload_len > 0 && pgot && h.payload_offset == KVSI_FS_HDR &&
                       (h.payload_len == hint || (!hexact && h.payload_len < hint))) {
                /* read with the header */
                if (kvs_crc32c(0, buf, (size_t)h.payload_len) != h.payload_crc) {
                    corrupt = 1;
                    res = KVS_NOT_FOUND;
                }
            } else if (h.payload_len > 0) {
                kvsi_fs_readahead(fs, f, h.payload_offset, h.payload_len);
                res = kvs_file_read(f, (uint64_t)h.payload_offset, buf, (size_t)h.payload_len);
                if (res == KVS_E_EOF) {
                    corrupt = 1;
                    res = KVS_NOT_FOUND;
                } else if (res == KVS_OK && kvs_crc32c(0, buf, (size_t)h.payload_len) != h.payload_crc) {
                    corrupt = 1;
                    res = KVS_NOT_FOUND;
                }
            } else if (h.payload_crc != kvs_crc32c(0, "", 0)) {
                corrupt = 1;
                res = KVS_NOT_FOUND;
            }
        }
        kvsi_fs_hdr_free(fs, hb, hba);
        (void)kvsi_fs_close_file(fs, f);
    }
    if (corrupt)
        kvsi_add(&fs->corruptions, 1);
done:
    if (res != KVS_OK && res != KVS_E_BUFSIZE)
        *out_len = 0;

    pthread_mutex_lock(&fs->mu);
    if (res == KVS_OK || res == KVS_E_BUFSIZE) {
        if (e->ver == v0 && e->kseq == k0) {
            /* nothing recorded since this get began: what it saw is the newest */
            kvsi_fs_here(fs, e, kvsi_fs_disk(fsz), h.payload_len);
            if (res == KVS_OK && known && !again)
                kvsi_fs_know(e, kcrc, kpo, fsz, &kfid); /* still the file it knew */
            else if (res == KVS_OK && h.payload_len > 0)
                kvsi_fs_know(e, h.payload_crc, h.payload_offset, fsz, &fid); /* read and checked */
            else if (res == KVS_E_BUFSIZE && had && kvsi_fid_eq(&fid, &kfid) && h.payload_crc == kcrc &&
                     h.payload_offset == kpo && fsz == kfsize)
                kvsi_fs_know(e, kcrc, kpo, fsz, &kfid); /* the header says: still that file */
            if (!e->ided)
                kvsi_fs_ident(e, fsz, &fid); /* the file the get opened */
        } else if (e->present) {
            kvsi_fs_lru_push(fs, e);
        }
    } else if (res == KVS_NOT_FOUND && !corrupt && !other && (e->ver != v0 || e->kseq != k0)) {
        /* recorded meanwhile: a file found or put at the name since this
           get began (back from an eviction, or new) is read again */
        if (e->present)
            *back = may_retry;
    } else if (res == KVS_NOT_FOUND && !corrupt && !other) {
        /* removed behind our back (another process), and nobody recorded
           the name since this get began (a later get may have found a
           newer file there). A counted file is looked for again first,
           with the name held busy and another handle's eviction waited
           for: one that is only away from its name (an eviction that then
           puts it back) stays counted, or the bound could be exceeded. */
        if (!e->present) {
            kvsi_fs_gone(fs, e);
        } else {
            /* read again when a file is at the name now (back, or read
               and recorded by another get meanwhile); an eviction
               elsewhere that still holds the name is the answer */
            int held = 0;
            (void)kvsi_fs_look_gone(fs, e, &held);
            if (held != 0)
                res = kvs_result_from_errno(-held);
            else if (e->present)
                *back = may_retry;
        }
    }
    if (--e->readers == 0)
        pthread_cond_broadcast(&fs->cv);
    kvsi_fs_unref(fs, e);
    pthread_mutex_unlock(&fs->mu);
    return res;
}

static kvs_result kvsi_fs_get(void *ev, const void *key, size_t klen, void *buf, size_t cap, size_t *out_len)
{
    int back = 0;
    kvs_result res = kvsi_fs_get_try((kvsi_fs *)ev, key, klen, buf, cap, out_len, 1, &back);
    if (back)
        res = kvsi_fs_get_try((kvsi_fs *)ev, key, klen, buf, cap, out_len, 0, &back);
    return res;
}

/* fstatat the final name: KVS_OK a regular file long enough for a header,
   KVS_NOT_FOUND not, or the error. */
static kvs_result kvsi_fs_stat_name(const kvsi_fs *fs, const kvsi_fsdir *d, const char *name, kvs_file_status *st)
{
    int r = kvsi_sys_fstatat(fs->ops, d->fd, name, st);
    if (r < 0) /* ESTALE: gone, on NFS, as for the scan */
        return r == -ENOENT || r == -ESTALE ? KVS_NOT_FOUND : kvs_result_from_errno(-r);
    if (st->type != KVS_FTYPE_REGULAR || st->size < (uint64_t)KVSI_FS_HDR)
        return KVS_NOT_FOUND;
    return KVS_OK;
}

static kvs_result kvsi_fs_exists(void *ev, const void *key, size_t klen)
{
    kvsi_fs *fs = (kvsi_fs *)ev;
    char name[KVS_FSNAME_MAX + 1];
    size_t nlen = 0;
    kvs_fsname_kind kind;
    uint32_t di = 0;
    kvs_file_status st;
    kvs_result res = kvsi_fs_locate(fs, key, klen, name, &nlen, &kind, &di);
    if (res != KVS_OK)
        return res;
    res = kvsi_fs_stat_name(fs, &fs->dirs[di], name, &st);
    if (res == KVS_OK && kind == KVS_FSNAME_HASHED) {
        res = kvsi_fs_key_owner(fs, &fs->dirs[di], name, key, klen);
        if (res == KVS_E_EXIST || res == KVS_E_CORRUPT)
            res = KVS_NOT_FOUND;
    }
    return res;
}

static kvs_result kvsi_fs_remove(void *ev, const void *key, size_t klen)
{
    kvsi_fs *fs = (kvsi_fs *)ev;
    char name[KVS_FSNAME_MAX + 1];
    size_t nlen = 0;
    kvs_fsname_kind kind;
    uint32_t di = 0;
    kvsi_fsdir *d;
    kvsi_fsent *e;
    int r, tried = 0, sr = 1;
    kvs_result res = kvsi_fs_locate(fs, key, klen, name, &nlen, &kind, &di), dres = KVS_OK;
    if (res != KVS_OK)
        return res;
    d = &fs->dirs[di];
    pthread_mutex_lock(&fs->mu);
    e = kvsi_fs_ref(fs, di, name, nlen, 1);
    if (e == NULL) {
        pthread_mutex_unlock(&fs->mu);
        return KVS_E_NOMEM;
    }
    kvsi_fs_busy_enter(fs, e);
    pthread_mutex_unlock(&fs->mu);
again:
    r = 0;
    if (kind == KVS_FSNAME_HASHED) {
        /* Never remove another key's file (looked at with the name busy,
           so no put of this process renames another key's file there
           between the look and the unlink). A damaged one holds no valid
           object (a get misses it), so it goes as this key's would; none
           at all goes through the unlink too, which finds nothing and
           drops what this handle still counted there. */
        res = kvsi_fs_key_owner(fs, d, name, key, klen);
        if (res == KVS_E_EXIST)
            res = KVS_NOT_FOUND;
        else if (res == KVS_OK || res == KVS_E_CORRUPT || res == KVS_NOT_FOUND)
            res = KVS_OK;
        r = res == KVS_OK ? 0 : 1; /* 1: not unlinked, res is the answer */
    }
    if (r == 0)
        r = kvsi_fs_unlink_name(fs, d->fd, name);
    if (r == -ENOENT && !tried) {
        /* Nothing at the name: another handle's eviction may have the file
           aside, and put it back (its lock says so). Waited for, and looked
           at once more: a remove that answered "not found" must not leave
           the key's file to come back. */
        tried = 1;
        pthread_mutex_lock(&fs->mu);
        /* (not skipped when this handle holds the byte: a sync or pin of
           this handle may have taken it only since the unlink) */
        sr = fs->dirs[di].locks ? kvsi_fs_settle(fs, e) : 1;
        pthread_mutex_unlock(&fs->mu);
        if (sr == 0)
            goto again; /* with the byte held (given up below) */
        if (sr < 0)
            r = sr; /* still held, or the lock failed: not known gone */
    }
    if (tried && sr == 0) {
        /* the second look is done: nothing an eviction elsewhere could
           take aside is left at the name */
        pthread_mutex_lock(&fs->mu);
        kvsi_fs_unsettle(fs, e);
        pthread_mutex_unlock(&fs->mu);
    }
    if (r == 0 && fs->cfg->durability == KVS_DURABLE_FULL)
        dres = kvs_dirfd_sync(d->fd, fs->ops);
    pthread_mutex_lock(&fs->mu);
    if (r == 0 || r == -ENOENT)
        kvsi_fs_gone(fs, e);
    if (r == 0 && (fs->cfg->durability != KVS_DURABLE_FULL || dres != KVS_OK))
        d->dirty = 1;
    kvsi_fs_busy_leave(fs, e);
    kvsi_fs_unref(fs, e);
    pthread_mutex_unlock(&fs->mu);
    if (r == 1)
        return res;
    if (r == -ENOENT)
        return KVS_NOT_FOUND;
    if (r < 0)
        return kvs_result_from_errno(-r);
    return dres;
}

/* The shared lock of e's name for this handle's pins (how KVS_LOCK_SH) or
   its release (KVS_LOCK_UN), with fs->mu held and released around the
   calls; one lock call per entry at a time (plocking). An exclusive lock
   held elsewhere is an eviction under way: the shared one is tried again
   after 0.1 ms, doubling to 10 ms, for up to KVSI_PIN_WAIT_MS (an eviction
   holds it for a rename, an fstatat and an unlink; only a process stopped
   in the middle of one, or a child forked during one, which inherits its
   descriptor, holds it longer): then -EBUSY. 0 or -errno. */
#ifndef KVSI_PIN_WAIT_MS /* tests shorten it */
#define KVSI_PIN_WAIT_MS 10000u
#endif
static int kvsi_fs_plock(kvsi_fs *fs, kvsi_fsent *e, int how)
{
    uint64_t waited_us = 0, step_us = 100;
    int r;
    e->plocking = 1;
    pthread_mutex_unlock(&fs->mu);
    for (;;) {
        r = kvsi_sys_lock(fs->ops, fs->dirs[e->dir].pinfd, how, kvsi_fs_lockoff(e));
        if ((r != -EAGAIN && r != -EACCES) || how != KVS_LOCK_SH)
            break;
        if (waited_us == 0) {
            /* held elsewhere: this handle's evictions pass the name over
               meanwhile (they could not take it either), not wait */
            pthread_mutex_lock(&fs->mu);
            e->plwait = 1;
            pthread_cond_broadcast(&fs->cv);
            pthread_mutex_unlock(&fs->mu);
        }
        if (!kvsi_backoff(&waited_us, &step_us, KVSI_PIN_WAIT_MS)) {
            r = -EBUSY;
            break;
        }
    }
    pthread_mutex_lock(&fs->mu);
    e->plocking = 0;
    e->plwait = 0;
    if (r == 0)
        e->plocked = how != KVS_LOCK_UN;
    pthread_cond_broadcast(&fs->cv);
    return r;
}

/* After this handle's pins of e dropped to 0: release the name's lock,
   unless a pin came back meanwhile. An unlock that fails leaves plocked
   set: the byte stays locked until the next unpin to 0 or close. */
static int kvsi_fs_punlock(kvsi_fs *fs, kvsi_fsent *e)
{
    while (e->plocking)
        pthread_cond_wait(&fs->cv, &fs->mu);
    if (e->pins > 0 || e->settled > 0 || !e->plocked)
        return 0;
    return kvsi_fs_plock(fs, e, KVS_LOCK_UN);
}

/* Wait, as a pin does (up to KVSI_PIN_WAIT_MS), for an eviction in
   another handle that holds e's name (its byte of the lock file, taken
   exclusively while the file is away from its name): take the byte shared
   and keep it, so the caller's next look at the name sees what that
   eviction left, before another eviction can take the file aside again;
   the caller then gives it up with kvsi_fs_unsettle (kept while a pin of
   this handle or another settle holds it). With fs->mu held (released
   while waiting). 0 (call kvsi_fs_unsettle after the look) at once when
   this handle holds the byte already (no eviction elsewhere can then have
   the file), where locks do not work here, or with the byte taken; else
   -errno, nothing held (-EBUSY: still held after the wait). */
static int kvsi_fs_settle(kvsi_fs *fs, kvsi_fsent *e)
{
    int r;
    while (e->plocking)
        pthread_cond_wait(&fs->cv, &fs->mu);
    if (!fs->dirs[e->dir].locks)
        return 0;
    if (!e->plocked) {
        r = kvsi_fs_plock(fs, e, KVS_LOCK_SH);
        if (r != 0)
            return r;
    }
    e->settled++;
    return 0;
}

/* After a kvsi_fs_settle that returned 0: the byte goes unless something
   else of this handle holds it. An unlock that fails leaves it locked
   until close or the next unpin of the name (as for an unpin). */
static void kvsi_fs_unsettle(kvsi_fs *fs, kvsi_fsent *e)
{
    if (!fs->dirs[e->dir].locks)
        return;
    KVS_ASSERT(e->settled > 0);
    e->settled--;
    (void)kvsi_fs_punlock(fs, e);
}

static kvs_result kvsi_fs_pin(void *ev, const void *key, size_t klen, int delta)
{
    kvsi_fs *fs = (kvsi_fs *)ev;
    char name[KVS_FSNAME_MAX + 1];
    size_t nlen = 0;
    kvs_fsname_kind kind;
    uint32_t di = 0;
    kvsi_fsent *e;
    int lr = 0;
    kvs_result res = kvsi_fs_locate(fs, key, klen, name, &nlen, &kind, &di);
    if (res != KVS_OK)
        return res;
    pthread_mutex_lock(&fs->mu);
    e = kvsi_fs_ref(fs, di, name, nlen, delta > 0);
    if (e == NULL) {
        res = delta > 0 ? KVS_E_NOMEM : KVS_E_INVAL;
    } else if (delta > 0 && e->pins == UINT32_MAX) {
        res = KVS_E_OVERFLOW; /* as the raw store: the count is full */
    } else if (delta > 0) {
        /* The pin first, so no eviction of this handle picks the name from
           here on; one already under way (busy) ends before the file is
           looked for. Then the name's shared lock, which another handle's
           eviction tests (and this one waits for, if one holds it): so a
           pin that succeeds is on a file no eviction anywhere is
           removing. */
        if (e->pins++ == 0 && e->present)
            fs->pinned += e->disk;
        while (e->busy || e->plocking)
            pthread_cond_wait(&fs->cv, &fs->mu);
        if (fs->dirs[di].locks && !e->plocked)
            lr = kvsi_fs_plock(fs, e, KVS_LOCK_SH);
        if (lr < 0) {
            res = kvs_result_from_errno(-lr);
        } else {
            pthread_mutex_unlock(&fs->mu);
            res = kvsi_fs_exists(ev, key, klen);
            pthread_mutex_lock(&fs->mu);
        }
        if (res != KVS_OK && --e->pins == 0) {
            if (e->present)
                fs->pinned -= e->disk;
            (void)kvsi_fs_punlock(fs, e); /* the pin's own failure is the answer */
            pthread_cond_broadcast(&fs->cv);
        }
    } else if (e->pins == 0) {
        res = KVS_E_INVAL; /* not pinned */
    } else if (--e->pins == 0) {
        if (e->present)
            fs->pinned -= e->disk;
        lr = kvsi_fs_punlock(fs, e);
        if (lr < 0)
            res = kvs_result_from_errno(-lr);
        pthread_cond_broadcast(&fs->cv);
    }
    if (e != NULL)
        kvsi_fs_unref(fs, e);
    pthread_mutex_unlock(&fs->mu);
    return res;
}

static kvs_result kvsi_fs_sync(void *ev)
{
    kvsi_fs *fs = (kvsi_fs *)ev;
    kvsi_fsent **list = NULL;
    void *mem = NULL;
    size_t n = 0, cap, i, b;
    int dirty[KVS_PATHS_MAX];
    kvs_result res = KVS_OK, r;

    pthread_mutex_lock(&fs->symu);
    pthread_mutex_lock(&fs->mu);
    cap = (size_t)fs->nunsynced;
    if (cap > 0) {
        if (kvs_aligned_alloc(fs->alloc, cap * sizeof *list, sizeof(void *), &mem) != KVS_OK) {
            pthread_mutex_unlock(&fs->mu);
            pthread_mutex_unlock(&fs->symu);
            return KVS_E_NOMEM;
        }
        list = (kvsi_fsent **)mem;
        for (b = 0; b < fs->nbuckets && n < cap; b++) {
            kvsi_fsent *e;
            for (e = fs->buckets[b]; e != NULL && n < cap; e = e->hnext) {
                if (!e->unsynced)
                    continue;
                e->unsynced = 0;
                fs->nunsynced--;
                e->refs++;
                list[n++] = e;
            }
        }
    }
    for (i = 0; i < fs->ndirs; i++) {
        dirty[i] = fs->dirs[i].dirty;
        fs->dirs[i].dirty = 0;
    }
    pthread_mutex_unlock(&fs->mu);

    /* Names and the directory are stable: entries are referenced and the
       names immutable. */
    for (i = 0; i < n; i++) {
        const int fl = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
        int fd, sr = 0;
        fd = kvsi_open_leased(fs->ops, fs->dirs[list[i]->dir].fd, kvsi_fsent_name(list[i]), fl, 0);
        if (fd == -ENOENT) {
            /* Gone, or away for a moment: another handle's eviction takes
               a file from its name before it tells whose it is, and puts
               another's back, holding the name's byte lock exclusively
               meanwhile. Wait for that as a pin does, then look again. */
            int present;
            pthread_mutex_lock(&fs->mu);
            /* the name held busy, as a get's second look holds it: this
               handle's eviction of it (one under way ends first) does not
               take the byte the settle holds for a pin elsewhere */
            kvsi_fs_busy_enter(fs, list[i]);
            present = list[i]->present;
            sr = present ? kvsi_fs_settle(fs, list[i]) : 0;
            pthread_mutex_unlock(&fs->mu);
            if (sr == 0 && present) {
                /* with the byte held: no eviction elsewhere takes it aside
                   again before the open */
                fd = kvsi_open_leased(fs->ops, fs->dirs[list[i]->dir].fd, kvsi_fsent_name(list[i]), fl, 0);
                pthread_mutex_lock(&fs->mu);
                kvsi_fs_unsettle(fs, list[i]);
                pthread_mutex_unlock(&fs->mu);
            }
            pthread_mutex_lock(&fs->mu);
            kvsi_fs_busy_leave(fs, list[i]);
            pthread_mutex_unlock(&fs->mu);
            if (sr == 0 && fd == -ENOENT)
                continue; /* gone for good (another process removed it) */
            if (sr < 0)
                fd = sr;
        }
        if (fd == -ELOOP || fd == -ENXIO || fd == -ENODEV)
            continue; /* replaced by something that is not ours (a symlink, a socket, a device) */
        if (fd < 0) {
            sr = fd;
        } else {
            sr = kvsi_sys_fdatasync(fs->ops, fd);
            if (sr == -EINVAL) {
                /* a special file (a FIFO) now at the name, not ours: nothing
                   to sync; a regular file that cannot be synced is an error */
                kvs_file_status st;
                if (kvsi_sys_fstat(fs->ops, fd, &st) == 0 && st.type != KVS_FTYPE_REGULAR) {
                    kvsi_close_fd(fs->ops, fd);
                    continue;
                }
            }
            kvsi_close_fd(fs->ops, fd);
        }
        if (sr < 0) {
            if (res == KVS_OK)
                res = kvs_result_from_errno(-sr);
            pthread_mutex_lock(&fs->mu);
            if (list[i]->present && !list[i]->unsynced) {
                list[i]->unsynced = 1;
                fs->nunsynced++;
            }
            pthread_mutex_unlock(&fs->mu);
        }
    }
    for (i = 0; i < fs->ndirs; i++) {
        if (!dirty[i])
            continue;
        r = kvs_dirfd_sync(fs->dirs[i].fd, fs->ops);
        if (r != KVS_OK) {
            if (res == KVS_OK)
                res = r;
            pthread_mutex_lock(&fs->mu);
            fs->dirs[i].dirty = 1;
            pthread_mutex_unlock(&fs->mu);
        }
    }
    if (list != NULL) {
        pthread_mutex_lock(&fs->mu);
        for (i = 0; i < n; i++)
            kvsi_fs_unref(fs, list[i]);
        pthread_mutex_unlock(&fs->mu);
        kvs_aligned_free(fs->alloc, list, cap * sizeof *list, sizeof(void *));
    }
    pthread_mutex_unlock(&fs->symu);
    return res;
}

/* Grow a buffer from the allocator to hold at least need bytes. */
static kvs_result kvsi_fs_grow(kvsi_fs *fs, unsigned char **p, size_t *cap, size_t used, size_t need)
{
    size_t nc = *cap ? *cap : 4096;
    void *mem = NULL;
    kvs_result r;
    if (need <= *cap)
        return KVS_OK;
    while (nc < need) {
        if (nc > ((size_t)-1) / 2)
            return KVS_E_OVERFLOW;
        nc *= 2;
    }
    r = kvs_aligned_alloc(fs->alloc, nc, sizeof(void *), &mem);
    if (r != KVS_OK)
        return r;
    if (used > 0)
        memcpy(mem, *p, used);
    if (*p != NULL)
        kvs_aligned_free(fs->alloc, *p, *cap, sizeof(void *));
    *p = (unsigned char *)mem;
    *cap = nc;
    return KVS_OK;
}

/* Open a directory stream on a store directory (its own descriptor). */
static DIR *kvsi_fs_opendir(kvsi_fs *fs, size_t i, kvs_result *res)
{
    DIR *dp;
    int fd = kvsi_sys_openat(fs->ops, fs->dirs[i].fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) {
        *res = kvs_result_from_errno(-fd);
        return NULL;
    }
    dp = fdopendir(fd);
    if (dp == NULL) {
        *res = kvs_result_from_errno(errno);
        kvsi_close_fd(fs->ops, fd);
    }
    return dp;
}

/* Iteration: a snapshot of the data-file names of every directory, then,
   for each, its header is read (the key of a hashed name, the payload
   length, and a check) and fn is called with no lock held. Files that are
   gone or fail the header checks are skipped. */
static kvs_result kvsi_fs_iterate(void *ev, kvs_key_fn fn, void *user)
{
    kvsi_fs *fs = (kvsi_fs *)ev;
    unsigned char *snap = NULL;
    size_t cap = 0, used = 0, pos, i;
    kvs_result res = KVS_OK;

    for (i = 0; i < fs->ndirs && res == KVS_OK; i++) {
        const char *dn;
        int rd;
        DIR *dp;
        if (!kvsi_fs_mine(fs, i))
            continue; /* another rank's: a get here never reads its files */
        dp = kvsi_fs_opendir(fs, i, &res);
        if (dp == NULL)
            break;
        while ((rd = kvsi_sys_readdir(fs->ops, dp, &dn)) > 0) {
            size_t nl = strlen(dn), kl = 0;
            kvs_fsname_kind kind;
            unsigned char kb[KVS_KEY_MAX];
            if (kvs_fsname_decode(dn, nl, kb, sizeof kb, &kl, &kind) != KVS_OK || kind == KVS_FSNAME_TEMP)
                continue;
            res = kvsi_fs_grow(fs, &snap, &cap, used, used + 2 + nl + 1);
            if (res != KVS_OK)
                break;
            snap[used] = (unsigned char)i;
            snap[used + 1] = (unsigned char)nl;
            memcpy(snap + used + 2, dn, nl + 1);
            used += 2 + nl + 1;
        }
        if (res == KVS_OK && rd < 0)
            res = kvs_result_from_errno(-rd); /* a listing cut short would leave keys out */
        closedir(dp);
    }
    for (pos = 0; pos < used && res == KVS_OK; ) {
        size_t di = snap[pos], nl = snap[pos + 1];
        const char *nm = (const char *)snap + pos + 2;
        kvs_file *f;
        unsigned char *hb;
        size_t hba = 0, kl = 0;
        kvs_objhdr h;
        uint64_t fsz = 0;
        unsigned char kb[KVS_KEY_MAX];
        kvs_fsname_kind kind;
        kvs_result r;
        pos += 2 + nl + 1;
        r = kvsi_fs_read_header(fs, &fs->dirs[di], nm, &f, &hb, &hba, &h, &fsz);
        if (r == KVS_NOT_FOUND || r == KVS_E_CORRUPT)
            continue;
        if (r != KVS_OK) {
            res = r;
            break;
        }
        /* A file counts under the name its key encodes to, and no other
           (a hashed name's file copied to another name, say, is not the
           key's object: a get of the key never reads it). */
        {
            char want[KVS_FSNAME_MAX + 1];
            size_t wl = 0;
            if (kvs_fsname_encode(h.key, h.key_len, want, sizeof want, &wl, &kind) != KVS_OK || wl != nl ||
                memcmp(want, nm, nl) != 0) {
                kvsi_fs_hdr_free(fs, hb, hba);
                (void)kvsi_fs_close_file(fs, f);
                continue;
            }
        }
        memcpy(kb, h.key, h.key_len);
        kl = h.key_len;
        {
            uint64_t plen = h.payload_len;
            kvsi_fs_hdr_free(fs, hb, hba);
            (void)kvsi_fs_close_file(fs, f);
            if (fn(user, kb, kl, plen) != 0)
                break;
        }
    }
    if (snap != NULL)
        kvs_aligned_free(fs->alloc, snap, cap, sizeof(void *));
    return res;
}

static void kvsi_fs_stats(void *ev, kvs_store_stats *out)
{
    kvsi_fs *fs = (kvsi_fs *)ev;
    pthread_mutex_lock(&fs->mu);
    out->objects = fs->objects;
    out->bytes = fs->payload_bytes;
    out->disk_bytes = fs->used;
    pthread_mutex_unlock(&fs->mu);
    out->capacity_bytes = fs->cfg->capacity_bytes;
    out->evictions = kvsi_load(&fs->evictions);
    out->corruptions = kvsi_load(&fs->corruptions);
    out->orphans_removed = fs->orphans;
    out->direct = fs->direct;
    out->direct_fallbacks = kvsi_load(&fs->fallbacks);
    out->bounce_bytes = kvsi_load(&fs->bounce_bytes);
    out->bounce_calls = kvsi_load(&fs->bounce_calls);
    out->pathset_changed = fs->pathset_changed;
    out->lock_errno = fs->lock_errno;
}

static size_t kvsi_fs_buffer_align(void *ev)
{
    kvsi_fs *fs = (kvsi_fs *)ev;
    return fs->buf_align;
}

static void kvsi_fs_free(kvsi_fs *fs)
{
    size_t i;
    if (fs->buckets != NULL) {
        for (i = 0; i < fs->nbuckets; i++) {
            kvsi_fsent *e = fs->buckets[i], *nx;
            for (; e != NULL; e = nx) {
                nx = e->hnext;
                kvsi_fs_free_ent(fs, e);
            }
        }
        kvs_aligned_free(fs->alloc, fs->buckets, fs->nbuckets * sizeof(kvsi_fsent *), sizeof(void *));
    }
    for (i = 0; i < fs->ndirs; i++) {
        if (fs->dirs[i].fd >= 0)
            kvsi_close_fd(fs->ops, fs->dirs[i].fd);
        if (fs->dirs[i].pinfd >= 0) /* releases this handle's pins */
            kvsi_close_fd(fs->ops, fs->dirs[i].pinfd);
    }
    if (fs->pl_ok)
        kvs_pathlist_free(&fs->pl);
    if (fs->sync_ok) {
        pthread_mutex_destroy(&fs->symu);
        pthread_cond_destroy(&fs->cv);
        pthread_mutex_destroy(&fs->mu);
    }
    kvs_aligned_free(fs->alloc, fs, sizeof *fs, KVSI_STRUCT_ALIGN);
}

static kvs_result kvsi_fs_close(void *ev)
{
    kvsi_fs_free((kvsi_fs *)ev);
    return KVS_OK;
}

/* The pins ride on each directory's pinfd. */
static void kvsi_fs_drop_locks(void *ev)
{
    kvsi_fs *fs = (kvsi_fs *)ev;
    size_t i;
    for (i = 0; i < fs->ndirs; i++) {
        if (fs->dirs[i].pinfd >= 0) {
            (void)close(fs->dirs[i].pinfd);
            fs->dirs[i].pinfd = -1;
        }
    }
}

static const kvsi_engine_ops kvsi_fs_engine = {
    kvsi_fs_put, kvsi_fs_get, kvsi_fs_exists, kvsi_fs_remove, kvsi_fs_pin, kvsi_fs_sync,
    kvsi_fs_iterate, kvsi_fs_stats, kvsi_fs_close, kvsi_fs_buffer_align, kvsi_fs_drop_locks
};

/* ---- open ---- */

/* Read directory i's path-set record: 0 absent, 1 same set, 2 another set
   (*ps filled), 3 corrupt or not a regular file. */
static kvs_result kvsi_fs_read_pathset(kvsi_fs *fs, size_t i, int *status, kvs_pathset *ps)
{
    unsigned char buf[1024];
    size_t got = 0;
    kvs_file_status st;
    size_t k;
    int fd = kvsi_sys_openat(fs->ops, fs->dirs[i].fd, KVS_PATHSET_NAME,
                             O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    *status = 0;
    if (fd == -ENOENT)
        return KVS_OK;
    if (fd == -ELOOP || fd == -ENXIO || fd == -ENODEV) {
        *status = 3; /* a symlink, a socket, a device: replaced by the rewrite */
        return KVS_OK;
    }
    if (fd < 0)
        return kvs_result_from_errno(-fd);
    {
        int r = kvsi_sys_fstat(fs->ops, fd, &st);
        if (r < 0) {
            kvsi_close_fd(fs->ops, fd);
            return kvsi_fstat_result(r);
        }
    }
    if (st.type == KVS_FTYPE_DIRECTORY) {
        /* no rename replaces a directory, and the store removes none */
        kvsi_close_fd(fs->ops, fd);
        return KVS_E_EXIST;
    }
    if (st.type != KVS_FTYPE_REGULAR) {
        kvsi_close_fd(fs->ops, fd);
        *status = 3;
        return KVS_OK;
    }
    while (got < sizeof buf) {
        int64_t n = kvsi_sys_pread(fs->ops, fd, buf + got, sizeof buf - got, (uint64_t)got);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            kvsi_close_fd(fs->ops, fd);
            return kvs_result_from_errno((int)-n);
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    kvsi_close_fd(fs->ops, fd);
    if (kvs_pathset_decode(buf, got, ps) != KVS_OK) {
        *status = 3;
        return KVS_OK;
    }
    *status = 1;
    if (ps->count != fs->ndirs || ps->index != i || ps->shard_policy != (uint32_t)fs->cfg->shard)
        *status = 2;
    for (k = 0; *status == 1 && k < fs->ndirs; k++)
        if (ps->ids[k] != fs->pl.ids[k])
            *status = 2;
    return KVS_OK;
}

/* Write directory i's record: temp file, fsync, rename, directory fsync. */
static kvs_result kvsi_fs_write_pathset(kvsi_fs *fs, size_t i)
{
    kvs_pathset ps;
    unsigned char buf[1024];
    char tmp[64];
    size_t len = 0, done = 0, k;
    int fd, r = 0;
    kvs_result res;
    kvsi_fsdir *d = &fs->dirs[i];
    memset(&ps, 0, sizeof ps);
    ps.count = (uint32_t)fs->ndirs;
    ps.index = (uint32_t)i;
    ps.shard_policy = (uint32_t)fs->cfg->shard;
    ps.store_id = d->store_id;
    for (k = 0; k < fs->ndirs; k++)
        ps.ids[k] = fs->pl.ids[k];
    res = kvs_pathset_encode(&ps, buf, sizeof buf, &len);
    if (res == KVS_OK)
        res = kvsi_fs_tmpname(fs, tmp, sizeof tmp);
    if (res != KVS_OK)
        return res;
    fd = kvsi_sys_openat(fs->ops, d->fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         fs->cfg->file_mode);
    if (fd < 0)
        return kvs_result_from_errno(-fd);
    while (done < len && r == 0) {
        int64_t n = kvsi_sys_pwrite(fs->ops, fd, buf + done, len - done, (uint64_t)done);
        if (n == -EINTR)
            continue;
        if (n < 0)
            r = (int)n;
        else if (n == 0)
            r = -EIO;
        else
            done += (size_t)n;
    }
    if (r == 0)
        r = kvsi_sys_fsync(fs->ops, fd);
    {
        int cr = kvsi_sys_close(fs->ops, fd); /* written: its close must succeed too */
        if (r == 0)
            r = cr;
    }
    if (r == 0)
        r = kvsi_sys_renameat(fs->ops, d->fd, tmp, d->fd, KVS_PATHSET_NAME);
    if (r != 0) {
        (void)kvsi_sys_unlinkat(fs->ops, d->fd, tmp, 0);
        return kvs_result_from_errno(-r);
    }
    return kvs_dirfd_sync(d->fd, fs->ops);
}

/* mkdir -p of a store directory; when that makes directories, fsync the
   directory holding each one (p's parent up to the first ancestor that was
   there), so the directory, like the files in it, survives a power cut
   once a FULL put or a sync has returned (kvs_mkdir_p syncs nothing). */
static kvs_result kvsi_fs_mkdir(const char *p, uint32_t mode, const kvs_sysops *ops)
{
    char buf[4096];
    size_t n = strlen(p), len, levels = 0, k;
    struct stat sb;
    kvs_result r;
    if (n >= sizeof buf || stat(p, &sb) == 0)
        return kvsi_mkdir_p(p, mode, ops);
    memcpy(buf, p, n + 1);
    for (len = n;;) { /* count the parents to sync */
        while (len > 0 && buf[len - 1] != '/')
            len--;
        levels++;
        if (len <= 1)
            break; /* "." or "/" */
        buf[len - 1] = '\0';
        if (stat(buf, &sb) == 0)
            break;
        len--;
    }
    r = kvsi_mkdir_p(p, mode, ops);
    memcpy(buf, p, n + 1);
    for (len = n, k = 0; r == KVS_OK && k < levels; k++) {
        while (len > 0 && buf[len - 1] != '/')
            len--;
        if (len <= 1) {
            r = kvs_dir_sync(len == 0 ? "." : "/", ops);
        } else {
            buf[len - 1] = '\0';
            r = kvs_dir_sync(buf, ops);
            len--;
        }
    }
    return r;
}

/* Direct-I/O probe of directory i: a temporary file opened with the
   configured policy. Another rank's directory (kvsi_fs_mine) is probed
   buffered: this handle never reads or writes its objects, so whether its
   filesystem takes O_DIRECT is not this handle's to know, and neither
   REQUIRE fails nor PREFER falls back for it; the probe still finds a
   directory this open cannot write before any path-set record is
   written. */
static kvs_result kvsi_fs_probe(kvsi_fs *fs, size_t i)
{
    kvs_file_config fc;
    kvs_file_info info;
    kvs_file_status st;
    kvs_file *f = NULL;
    char tmp[64];
    int sr;
    kvs_result r = kvsi_fs_tmpname(fs, tmp, sizeof tmp);
    if (r != KVS_OK)
        return r;
    kvsi_fs_fcfg(fs, &fc, KVS_FILE_CREATE | KVS_FILE_EXCL);
    if (!kvsi_fs_mine(fs, i))
        fc.direct = KVS_DIRECT_OFF;
    r = kvsi_file_open_at(fs->dirs[i].fd, tmp, &fc, O_NOFOLLOW, &f);
    if (r != KVS_OK)
        return r;
    /* The file was just created: its mtime is "now" by whichever clock
       stamps this directory's files, which on a shared filesystem is the
       server's, not ours. */
    sr = kvsi_sys_fstat(fs->ops, f->fd, &st);
    if (sr < 0) {
        (void)kvs_file_close(f);
        (void)kvsi_sys_unlinkat(fs->ops, fs->dirs[i].fd, tmp, 0);
        return kvsi_fstat_result(sr);
    }
    fs->dirs[i].clock_ns = st.mtime_ns;
    kvs_file_get_info(f, &info);
    fs->dirs[i].direct = info.direct;
    fs->dirs[i].buf_align = info.direct ? info.buf_align : 64;
    fs->dirs[i].tmpl = *f;
    fs->dirs[i].tmpl.fd = -1;
    (void)kvs_file_close(f);
    (void)kvsi_sys_unlinkat(fs->ops, fs->dirs[i].fd, tmp, 0);
    return KVS_OK;
}

typedef struct kvsi_fs_seen {
    kvsi_fsent *e;
    uint64_t mtime_ns;
} kvsi_fs_seen;

static int kvsi_fs_seen_cmp(const void *a, const void *b)
{
    const kvsi_fs_seen *x = (const kvsi_fs_seen *)a, *y = (const kvsi_fs_seen *)b;
    return x->mtime_ns < y->mtime_ns ? -1 : x->mtime_ns > y->mtime_ns ? 1 : 0;
}

/* Scan directory i: data files enter the map (collected in *seen for the
   LRU order), temporary files older than temp_max_age_s are removed,
   anything else is left alone. A temporary file's age is measured against
   the directory's own clock (the probe file's mtime), so a file server
   whose clock differs from ours neither loses a live writer's file nor
   keeps orphans for ever. */
static kvs_result kvsi_fs_scan(kvsi_fs *fs, size_t i, unsigned char **seen, size_t *seen_cap, size_t *nseen)
{
    kvs_result res = KVS_OK;
    const char *dn;
    int rd;
    uint64_t now = fs->dirs[i].clock_ns, age_ns = (uint64_t)fs->cfg->temp_max_age_s * 1000000000u;
    DIR *dp = kvsi_fs_opendir(fs, i, &res);
    if (dp == NULL)
        return res;
    while ((rd = kvsi_sys_readdir(fs->ops, dp, &dn)) > 0) {
        size_t nl = strlen(dn), kl = 0;
        kvs_fsname_kind kind;
        unsigned char kb[KVS_KEY_MAX];
        kvs_file_status st;
        uint64_t mt;
        if (kvs_fsname_decode(dn, nl, kb, sizeof kb, &kl, &kind) != KVS_OK)
            continue;
        {
            int sr = kvsi_sys_fstatat(fs->ops, fs->dirs[i].fd, dn, &st);
            if (sr == -ENOENT || sr == -ESTALE)
                continue; /* gone since the directory was read (ESTALE: on NFS) */
            if (sr < 0) {
                res = kvs_result_from_errno(-sr);
                break;
            }
        }
        if (st.type != KVS_FTYPE_REGULAR)
            continue;
        mt = st.mtime_ns;
        if (kind == KVS_FSNAME_TEMP) {
            if (mt <= now && now - mt >= age_ns &&
                kvsi_sys_unlinkat(fs->ops, fs->dirs[i].fd, dn, 0) == 0)
                fs->orphans++;
            continue;
        }
        {
            kvsi_fsent *e;
            kvsi_fs_seen sn;
            kvsi_fid fid;
            uint64_t size = st.size;
            res = kvsi_fs_grow(fs, seen, seen_cap, *nseen * sizeof sn, (*nseen + 1) * sizeof sn);
            if (res != KVS_OK)
                break;
            e = kvsi_fs_ref(fs, (uint32_t)i, dn, nl, 1);
            if (e == NULL) {
                res = KVS_E_NOMEM;
                break;
            }
            if (!e->present) {
                e->present = 1;
                e->disk = kvsi_fs_disk(size);
                e->payload = size > KVSI_FS_HDR ? size - KVSI_FS_HDR : 0;
                e->exact = 0;
                e->known = 0;
                kvsi_fid_of(&st, &fid);
                kvsi_fs_ident(e, size, &fid);
                fs->used += e->disk;
                fs->payload_bytes += e->payload;
                fs->objects++;
                sn.e = e;
                sn.mtime_ns = mt;
                memcpy(*seen + *nseen * sizeof sn, &sn, sizeof sn);
                (*nseen)++;
            }
            e->refs--; /* present: stays */
        }
    }
    if (res == KVS_OK && rd < 0)
        res = kvs_result_from_errno(-rd); /* a scan cut short would under-count what is stored */
    closedir(dp);
    return res;
}

/* Directory i's lock file (KVS_PINS_NAME; created if missing, never
   replaced), opened for this handle's pins (shared locks, on one file
   description for the handle's life); an eviction opens it anew for its
   exclusive lock (kvsi_fs_evlock), so this handle's own pins stop its
   evictions as another handle's do. Then a probe, a shared lock taken and
   dropped: where there are no such locks (kvsi_lock_unsupported), pins in
   this directory are per handle and fs->lock_errno says why. In another
   rank's directory (kvsi_fs_mine) only the file is made, for the path-set
   records' sake (kvsi_fs_open): this handle takes no lock there, so the
   probe is skipped and that filesystem's locks do not set lock_errno. */
static kvs_result kvsi_fs_open_locks(kvsi_fs *fs, size_t i)
{
    kvsi_fsdir *d = &fs->dirs[i];
    kvs_file_status st;
    int r;
    d->pinfd = kvsi_sys_openat(fs->ops, d->fd, KVS_PINS_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                               fs->cfg->file_mode);
    if (d->pinfd == -EACCES) /* another user's file this one may only read:
                                shared locks need no more (its evictions'
                                exclusive ones fail, KVS_E_PERM) */
        d->pinfd = kvsi_sys_openat(fs->ops, d->fd, KVS_PINS_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (d->pinfd < 0) {
        r = d->pinfd;
        d->pinfd = -1;
        return kvs_result_from_errno(-r);
    }
    r = kvsi_sys_fstat(fs->ops, d->pinfd, &st);
    if (r < 0)
        return kvs_result_from_errno(-r);
    if (st.type != KVS_FTYPE_REGULAR)
        return KVS_E_INVAL; /* a FIFO or device planted at the name */
    d->lock_dev = st.dev;
    d->lock_ino = st.ino;
    if (!kvsi_fs_mine(fs, i)) {
        d->locks = 0;
        return KVS_OK;
    }
    r = kvsi_sys_lock(fs->ops, d->pinfd, KVS_LOCK_SH, 0);
    if (r == 0)
        r = kvsi_sys_lock(fs->ops, d->pinfd, KVS_LOCK_UN, 0);
    else if (r == -EAGAIN || r == -EACCES)
        r = 0; /* held: the locks work (an eviction elsewhere has byte 0) */
    if (r < 0 && !kvsi_lock_unsupported(-r))
        return kvs_result_from_errno(-r);
    d->locks = r == 0;
    if (r < 0 && fs->lock_errno == 0)
        fs->lock_errno = -r;
    return KVS_OK;
}

static kvs_result kvsi_fs_open(kvs_store_config *cfg, const kvsi_engine_ops **ops, void **engine,
                               char *err, size_t err_cap)
{
    kvsi_fs *fs;
    void *mem = NULL;
    kvs_result r;
    size_t i;
    int status[KVS_PATHS_MAX];
    kvs_pathset ps;
    unsigned char *seen = NULL;
    size_t seen_cap = 0, nseen = 0;
    uint32_t dmode;
    const kvs_allocator *ap = kvsi_custom_alloc(&cfg->allocator);

    *ops = NULL;
    *engine = NULL;
    if (cfg->temp_max_age_s == 0)
        cfg->temp_max_age_s = 600u;

    r = kvs_aligned_alloc(ap, sizeof(kvsi_fs), KVSI_STRUCT_ALIGN, &mem);
    if (r != KVS_OK)
        return kvsi_errf(err, err_cap, r, "cannot allocate the filesystem store");
    fs = (kvsi_fs *)mem;
    memset(fs, 0, sizeof *fs);
    fs->cfg = cfg;
    fs->alloc = ap;
    fs->ops = cfg->sysops;
    for (i = 0; i < KVS_PATHS_MAX; i++)
        fs->dirs[i].fd = fs->dirs[i].pinfd = -1;
    if (pthread_mutex_init(&fs->mu, NULL) != 0) {
        kvs_aligned_free(ap, fs, sizeof *fs, KVSI_STRUCT_ALIGN);
        return kvsi_errf(err, err_cap, KVS_E_NOMEM, "cannot create a mutex");
    }
    if (pthread_cond_init(&fs->cv, NULL) != 0) {
        pthread_mutex_destroy(&fs->mu);
        kvs_aligned_free(ap, fs, sizeof *fs, KVSI_STRUCT_ALIGN);
        return kvsi_errf(err, err_cap, KVS_E_NOMEM, "cannot create a condition variable");
    }
    if (pthread_mutex_init(&fs->symu, NULL) != 0) {
        pthread_cond_destroy(&fs->cv);
        pthread_mutex_destroy(&fs->mu);
        kvs_aligned_free(ap, fs, sizeof *fs, KVSI_STRUCT_ALIGN);
        return kvsi_errf(err, err_cap, KVS_E_NOMEM, "cannot create a mutex");
    }
    fs->sync_ok = 1;
    fs->nbuckets = 64;
    r = kvs_aligned_alloc(ap, fs->nbuckets * sizeof(kvsi_fsent *), sizeof(void *), &mem);
    if (r != KVS_OK) {
        fs->nbuckets = 0;
        kvsi_fs_free(fs);
        return kvsi_errf(err, err_cap, r, "cannot allocate the object map");
    }
    fs->buckets = (kvsi_fsent **)mem;
    memset(fs->buckets, 0, fs->nbuckets * sizeof(kvsi_fsent *));
    r = kvs_pathlist_parse(cfg->paths, ap, &fs->pl);
    if (r != KVS_OK) {
        kvsi_fs_free(fs);
        return kvsi_errf(err, err_cap, r, "paths \"%s\": %s", cfg->paths, kvs_result_str(r));
    }
    fs->pl_ok = 1;
    fs->ndirs = fs->pl.count;
    fs->writer = kvsi_random64();
    /* Directories the store creates get the file mode's audience, plus x. */
    dmode = 0700u | ((cfg->file_mode & 0070u) ? 0050u : 0u) | ((cfg->file_mode & 0007u) ? 0005u : 0u);

    for (i = 0; i < fs->ndirs; i++) {
        const char *p = fs->pl.paths[i];
        int fd;
        r = cfg->must_exist ? KVS_OK : kvsi_fs_mkdir(p, dmode, fs->ops);
        if (r != KVS_OK) {
            r = kvsi_errf(err, err_cap, r, "cannot create directory %s: %s", p, kvs_result_str(r));
            kvsi_fs_free(fs);
            return r;
        }
        fd = kvsi_sys_open(fs->ops, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if ((fd == -ENOENT || fd == -ENOTDIR) && cfg->must_exist) {
            r = kvsi_errf(err, err_cap, KVS_E_PATHSET, "directory %s does not exist (%s) and must_exist is set", p,
                          fd == -ENOENT ? "no such file or directory" : "a file is in the way");
            kvsi_fs_free(fs);
            return r;
        }
        if (fd < 0) {
            r = kvsi_errf(err, err_cap, kvs_result_from_errno(-fd), "cannot open directory %s: %s", p,
                          kvs_result_str(kvs_result_from_errno(-fd)));
            kvsi_fs_free(fs);
            return r;
        }
        fs->dirs[i].fd = fd;
        {
            /* Two spellings of one directory (a ".", a symlink, a bind
               mount) would share files and pin locks under two path-set
               records, each rewriting the other's. */
            kvs_file_status ds;
            size_t j;
            int sr = kvsi_sys_fstat(fs->ops, fd, &ds);
            if (sr < 0) {
                r = kvsi_fstat_result(sr);
                r = kvsi_errf(err, err_cap, r, "cannot stat directory %s: %s", p, kvs_result_str(r));
                kvsi_fs_free(fs);
                return r;
            }
            fs->dirs[i].dev = ds.dev;
            fs->dirs[i].ino = ds.ino;
            for (j = 0; j < i; j++)
                if (fs->dirs[j].dev == ds.dev && fs->dirs[j].ino == ds.ino) {
                    r = kvsi_errf(err, err_cap, KVS_E_DUPLICATE, "paths %s and %s are the same directory",
                                  fs->pl.paths[j], p);
                    kvsi_fs_free(fs);
                    return r;
                }
        }
        r = kvsi_fs_read_pathset(fs, i, &status[i], &ps);
        if (r == KVS_E_EXIST) {
            r = kvsi_errf(err, err_cap, r, "%s/%s is a directory, not a path-set record: remove it", p,
                          KVS_PATHSET_NAME);
            kvsi_fs_free(fs);
            return r;
        }
        if (r != KVS_OK) {
            r = kvsi_errf(err, err_cap, r, "cannot read %s/%s: %s", p, KVS_PATHSET_NAME, kvs_result_str(r));
            kvsi_fs_free(fs);
            return r;
        }
        if (status[i] == 0 && cfg->must_exist) {
            r = kvsi_errf(err, err_cap, KVS_E_PATHSET,
                          "directory %s holds no path-set record (a new directory, an emptied one, or a "
                          "filesystem not mounted there?) and must_exist is set", p);
            kvsi_fs_free(fs);
            return r;
        }
        fs->dirs[i].store_id = (status[i] == 1 || status[i] == 2) ? ps.store_id : kvsi_random64();
        if (status[i] >= 2) {
            fs->pathset_changed = 1;
            if (cfg->strict_pathset) {
                r = kvsi_errf(err, err_cap, KVS_E_PATHSET,
                                 status[i] == 2 ? "directory %s was recorded in another path set (paths added, "
                                                  "removed or reordered, or another shard policy) and strict_pathset is set"
                                                : "directory %s has a corrupt path-set record and strict_pathset is set", p);
                kvsi_fs_free(fs);
                return r;
            }
        }
    }
    /* A directory without a record while another records this very set
       (which names it) lost its record: emptied, or a mount missing and
       its empty mount point in its place. Its keys would miss, and its new
       objects land on whatever filesystem is there now. A changed set.
       Unless it has the lock file, which every open creates before any
       record is written: then a first open of the set was cut short
       between the records' writes, and this one completes them. */
    for (i = 0; i < fs->ndirs; i++) {
        size_t j;
        kvs_file_status ls;
        int lr;
        if (status[i] != 0)
            continue;
        for (j = 0; j < fs->ndirs && status[j] != 1; j++)
            ;
        if (j == fs->ndirs)
            break; /* no directory records this set: a new one */
        lr = kvsi_sys_fstatat(fs->ops, fs->dirs[i].fd, KVS_PINS_NAME, &ls);
        if (lr == 0)
            continue;
        if (lr != -ENOENT) {
            r = kvsi_fstat_result(lr);
            r = kvsi_errf(err, err_cap, r, "cannot stat %s/%s: %s", fs->pl.paths[i], KVS_PINS_NAME,
                          kvs_result_str(r));
            kvsi_fs_free(fs);
            return r;
        }
        fs->pathset_changed = 1;
        if (cfg->strict_pathset) {
            r = kvsi_errf(err, err_cap, KVS_E_PATHSET,
                          "directory %s has no path-set record (and no lock file), but %s records this path set "
                          "with it (emptied, or a filesystem not mounted there?) and strict_pathset is set",
                          fs->pl.paths[i], fs->pl.paths[j]);
            kvsi_fs_free(fs);
            return r;
        }
    }
    fs->direct = cfg->direct != KVS_DIRECT_OFF;
    fs->buf_align = 64;
    for (i = 0; i < fs->ndirs; i++) {
        /* Every policy: the probe's file is the template object files
           open like (kvsi_file_open_like). */
        r = kvsi_fs_probe(fs, i);
        if (r != KVS_OK) {
            if (r == KVS_E_NODIRECT)
                r = kvsi_errf(err, err_cap, r, "directory %s: the filesystem refuses O_DIRECT and direct is REQUIRE",
                              fs->pl.paths[i]);
            else
                r = kvsi_errf(err, err_cap, r, "directory %s: cannot create a file: %s", fs->pl.paths[i],
                              kvs_result_str(r));
            kvsi_fs_free(fs);
            return r;
        }
        if (!kvsi_fs_mine(fs, i))
            continue; /* another rank's: probed buffered, not this handle's mode */
        if (!fs->dirs[i].direct)
            fs->direct = 0;
        fs->buf_align = kvsi_max_sz(fs->buf_align, fs->dirs[i].buf_align);
    }
    if (fs->direct && cfg->align > fs->buf_align)
        fs->buf_align = cfg->align;
    for (i = 0; i < fs->ndirs; i++) {
        r = kvsi_fs_open_locks(fs, i);
        if (r != KVS_OK) {
            r = kvsi_errf(err, err_cap, r, "cannot open or lock %s/%s: %s", fs->pl.paths[i], KVS_PINS_NAME,
                          kvs_result_str(r));
            kvsi_fs_free(fs);
            return r;
        }
    }
    for (i = 0; i < fs->ndirs; i++) {
        if (!kvsi_fs_mine(fs, i))
            continue; /* another rank's */
        r = kvsi_fs_scan(fs, i, &seen, &seen_cap, &nseen);
        if (r != KVS_OK) {
            r = kvsi_errf(err, err_cap, r, "cannot scan directory %s: %s", fs->pl.paths[i], kvs_result_str(r));
            goto fail_seen;
        }
    }
    /* The path-set records last, once every directory has opened: an open
       that fails (a directory it cannot write, a lock, a scan) leaves the
       records as they were, so the earlier path list still opens as
       before. A failure here can leave the directories before it with the
       new record. First the directories that get one are synced: their
       lock files, created by this open maybe, must survive a power cut
       that keeps an earlier directory's record (a directory with neither,
       beside one that records the set, is a changed set, above). */
    for (i = 0; i < fs->ndirs; i++) {
        if (status[i] == 1)
            continue;
        r = kvs_dirfd_sync(fs->dirs[i].fd, fs->ops);
        if (r != KVS_OK) {
            r = kvsi_errf(err, err_cap, r, "cannot sync directory %s: %s", fs->pl.paths[i], kvs_result_str(r));
            goto fail_seen;
        }
    }
    for (i = 0; i < fs->ndirs; i++) {
        if (status[i] == 1)
            continue;
        r = kvsi_fs_write_pathset(fs, i);
        if (r != KVS_OK) {
            r = kvsi_errf(err, err_cap, r, "cannot write %s/%s: %s", fs->pl.paths[i], KVS_PATHSET_NAME,
                          kvs_result_str(r));
            goto fail_seen;
        }
    }
    if (nseen > 0) {
        kvsi_fs_seen *sv = (kvsi_fs_seen *)(void *)seen;
        qsort(sv, nseen, sizeof *sv, kvsi_fs_seen_cmp);
        for (i = 0; i < nseen; i++)
            kvsi_fs_lru_push(fs, sv[i].e);
    }
    if (seen != NULL)
        kvs_aligned_free(ap, seen, seen_cap, sizeof(void *));
    *ops = &kvsi_fs_engine;
    *engine = fs;
    return KVS_OK;

fail_seen: /* r and err set; the scan's list to free */
    if (seen != NULL)
        kvs_aligned_free(ap, seen, seen_cap, sizeof(void *));
    kvsi_fs_free(fs);
    return r;
}
/* ===== END STORE FS ===== */

#ifdef __cplusplus
}
#endif
