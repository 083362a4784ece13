/* SPDX-License-Identifier: MIT OR Unlicense */
/*
    kvbench -- measure kvstore's stores, its I/O layer and the designs they
    replace on your own disk, and verify every byte it reads.

    With no arguments: a short comparison (about 20 s on the benchmark VM) on a
    temporary directory under $TMPDIR (or /tmp), removed afterwards: the I/O
    layer as the reference, the raw-block store and the filesystem store, put
    then get of 2 MiB objects with O_DIRECT, at 1 and 2 threads, as a table.

    usage: kvbench [options]
      --mode M        io | raw | fs | legacy-localdisk | legacy-fsconn | legacy-raw
                      (none: the suite io, raw, fs at every --threads value)
      --op OP         put | get | both (put then get, default) | mixed | prefix | restart
      --size B        object size, K/M/G binary suffixes           default 2M
      --tail B        extra unaligned bytes per object              default 0
      --count N       objects (k/m decimal suffixes) or
      --total B       bytes per phase (count = total / object size) default 1G
      --threads N[,N] threads per rank (a list runs each)           default 1 (suite: 1,2)
      --tp N          tensor-parallel ranks: N raw files / N stores, each
                      rank a group of --threads threads             default 1
      --direct        O_DIRECT required (exit 2 where it is refused)
      --buffered      page-cache I/O          (default: prefer direct, report what was used)
      --shard P       rendezvous | mod | rank (fs store)             default rendezvous
      --paths N       directories for fs and the legacy file modes   default 1
      --durability D  none | data | full                             default none
      --batch N       items per put_batch / get_prefix call          default 1 (prefix: 16)
      --seed N        varies keys and contents                       default 1
      --dir PATH      existing directory to work in (default: a new temporary one
                      under $TMPDIR, or /tmp when TMPDIR is unset or empty,
                      removed afterwards, also on SIGINT, SIGTERM and SIGHUP)
      --file PATH     device file for io, raw and legacy-raw (default: in --dir)
      --existing      get/mixed/prefix: use objects an earlier run (same --seed,
                      --size, --count, --mode, --dir/--file, --keep) left behind
      --keep          leave the objects on disk
      --keep-dirs     fs and legacy-fs modes: remove the files, keep the store
                      directories (as fio keeps its directory between runs)
      --verify V      full (every byte, default) | stamps (8 bytes per 4 KiB);
                      the check is inside the timed read phases
      --reopen        close the handles after the put/fill and open new ones
                      before the timed read phase, so the reads are those of a
                      reader that did not write the objects (another process,
                      or after a restart). raw, fs: a new kvs_store (an fs store
                      handle that published a file reads it back by a fast
                      path). io, legacy modes: their file/directory handles
                      are reopened too; they keep no per-object state, so
                      nothing else changes.
      --no-drop       do not drop the page cache between phases
      --mem M         memory of the object buffers: page (default: 4 KiB
                      pages, as malloc gives) | hugetlb (2 MiB huge pages from
                      the hugetlb pool, as fio --iomem=mmaphuge; exit 2 when
                      the pool has too few: /proc/sys/vm/nr_hugepages)
      --json          one JSON object per phase on stdout (with the CRC32C
                      path, "crc32c")
      --version       kvstore's version and the CRC32C path, then exit
      --help

    Exit status: 0 success, 1 a failed operation or a wrong byte read back,
    2 a usage or environment problem (bad flag, missing path, O_DIRECT
    refused under --direct, not enough free space), 128 + N on signal N
    (SIGHUP, SIGINT, SIGTERM; the temporary directory is removed first).
*/
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <ftw.h>
#include <signal.h>
#include "bench_signals.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif
#include <sys/uio.h>
#include <time.h>

#define KVB_MAX_PATHS 64
#define KVB_MAX_TP 64
#define KVB_MAX_THREADS 256
#define KVB_MAX_TLIST 8
#define KVB_BUF_ALIGN 4096

typedef enum { M_IO, M_RAW, M_FS, M_LLOCAL, M_LFSCONN, M_LRAW, M_COUNT } bmode;
static const char *const mode_names[M_COUNT] = {"io",           "raw",           "fs",
                                                "legacy-localdisk", "legacy-fsconn", "legacy-raw"};
typedef enum { OP_PUT, OP_GET, OP_BOTH, OP_MIXED, OP_PREFIX, OP_RESTART } bop;
static const char *const op_names[] = {"put", "get", "both", "mixed", "prefix", "restart"};
typedef enum { PH_PUT, PH_GET, PH_MIXED, PH_PREFIX, PH_FILL } phase_kind;
static const char *const phase_names[] = {"put", "get", "mixed", "prefix", "fill"};
typedef enum { V_FULL, V_STAMPS } vmode;

typedef struct opts {
    int mode;                 /* -1: the suite */
    bop op;
    size_t size, tail, len;   /* len = size + tail */
    uint64_t count, total;
    unsigned threads_list[KVB_MAX_TLIST], nthreads_list, threads;
    unsigned tp;
    kvs_direct_policy policy;
    kvs_shard_policy shard;
    unsigned npaths;
    kvs_durability durability;
    unsigned batch;
    uint64_t seed;
    const char *dir, *file;
    int existing, keep, keep_dirs, json, no_drop, reopen;
    int hugetlb; /* --mem hugetlb */
    vmode verify;
    int count_given, size_given, total_given, threads_given;
} opts;

/* ------------------------------------------------------------------ */
/* small helpers                                                        */
/* ------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

/* snprintf for messages and paths: truncation is acceptable (and checked
   where it matters by the system call that gets the path). */
static void fmt(char *out, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    (void)vsnprintf(out, cap, f, ap);
    va_end(ap);
}

static char g_tmpdir[PATH_MAX]; /* removed on an early exit; set before any thread starts */
static void rm_tree(const char *p);

/* Set by the signal thread, which then holds g_exit_lock until it exits:
   an exit of the main thread waits on the lock (so the status is the
   signal's), and errors that the removal causes are not reported. */
static int g_stopping;
static pthread_mutex_t g_exit_lock = PTHREAD_MUTEX_INITIALIZER;

static int stopping(void) { return __atomic_load_n(&g_stopping, __ATOMIC_RELAXED); }

/* Every exit after the temporary directory is made goes through here. */
static void bail(int rc)
{
    (void)pthread_mutex_lock(&g_exit_lock);
    if (g_tmpdir[0] != '\0')
        rm_tree(g_tmpdir);
    exit(rc);
}

static void die2(const char *f, ...)
{
    va_list ap;
    if (stopping())
        bail(2);
    fputs("kvbench: ", stderr);
    va_start(ap, f);
    vfprintf(stderr, f, ap);
    va_end(ap);
    fputc('\n', stderr);
    bail(2);
}

/* The signal thread's stop (bench/bench_signals.h): removes the temporary
   directory and exits 128 + signal. */
static void on_signal(int sig)
{
    int i;
    struct stat st;
    __atomic_store_n(&g_stopping, 1, __ATOMIC_RELAXED);
    (void)pthread_mutex_lock(&g_exit_lock);
    /* workers may still be writing: a file created in the tree while it is
       being removed leaves it behind, so look again (the stores create
       directories only when they open) */
    for (i = 0; g_tmpdir[0] != '\0' && i < 50; i++) {
        struct timespec ts = {0, 20000000};
        rm_tree(g_tmpdir);
        if (lstat(g_tmpdir, &st) != 0 && errno == ENOENT)
            break;
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "\nkvbench: stopped by signal %d%s\n", sig,
            g_tmpdir[0] != '\0' ? "; temporary directory removed" : "");
    _exit(128 + sig);
}

/* Binary suffixes for byte sizes (K = 1024), decimal for counts (k = 1000). */
static int parse_num(const char *s, int binary, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t m = 1;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    if (*end == 'k' || *end == 'K')
        m = binary ? 1024u : 1000u;
    else if (*end == 'm' || *end == 'M')
        m = binary ? 1048576u : 1000000u;
    else if (*end == 'g' || *end == 'G')
        m = binary ? 1073741824u : 1000000000u;
    else if (*end != '\0')
        return -1;
    if (*end != '\0' && end[1] != '\0' && !(binary && (end[1] == 'i' || end[1] == 'B') && end[2] == '\0'))
        return -1;
    if (m != 1 && v > UINT64_MAX / m)
        return -1;
    *out = (uint64_t)v * m;
    return 0;
}

static uint64_t ru64(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static void fmt_bytes(uint64_t b, char *out, size_t cap)
{
    if (b >= (1ull << 30) && b % (1ull << 30) == 0)
        fmt(out, cap, "%lluG", (unsigned long long)(b >> 30));
    else if (b >= (1ull << 20) && b % (1ull << 20) == 0)
        fmt(out, cap, "%lluM", (unsigned long long)(b >> 20));
    else if (b >= 1024 && b % 1024 == 0)
        fmt(out, cap, "%lluK", (unsigned long long)(b >> 10));
    else
        fmt(out, cap, "%llu", (unsigned long long)b);
}

/* ------------------------------------------------------------------ */
/* the per-object pattern                                               */
/* ------------------------------------------------------------------ */
/* An object is a fixed fill (a function of the seed and the byte offset)
   with an 8-byte stamp of (seed, object, block) at the start of every
   4 KiB block and a stamp of (seed, object, length) in its last 8 bytes.
   A writer keeps the fill in its buffer and rewrites only the stamps; a
   reader checks the stamps and (--verify full) every other byte against
   the fill, so any wrong byte, a stale object or a misplaced block fails. */
static unsigned char *g_fill;
static uint64_t g_seed;

static uint64_t stamp_of(uint64_t obj, uint64_t pos)
{
    return kvs_mix64(g_seed * 0x9e3779b97f4a7c15ULL ^ kvs_mix64(obj + 1) ^ (pos * 0xff51afd7ed558ccdULL));
}

static void make_fill(size_t len)
{
    size_t i;
    uint64_t x = kvs_mix64(g_seed + 0x1234);
    g_fill = (unsigned char *)malloc(len + 8);
    if (g_fill == NULL)
        die2("out of memory");
    for (i = 0; i < len; i += 8) {
        x = kvs_mix64(x + 0x9e3779b97f4a7c15ULL);
        memcpy(g_fill + i, &x, 8);
    }
}

static void stamp(unsigned char *buf, size_t len, uint64_t obj)
{
    size_t b;
    uint64_t v;
    for (b = 0; b + 16 <= len; b += 4096) {
        v = stamp_of(obj, b);
        memcpy(buf + b, &v, 8);
    }
    v = stamp_of(obj, (uint64_t)len);
    memcpy(buf + len - 8, &v, 8);
}

static int check(const unsigned char *buf, size_t len, uint64_t obj, vmode vm)
{
    size_t b, end = len - 8;
    uint64_t v;
    for (b = 0; b + 16 <= len; b += 4096) {
        size_t e = b + 4096 < end ? b + 4096 : end;
        v = stamp_of(obj, b);
        if (memcmp(buf + b, &v, 8) != 0)
            return 0;
        if (vm == V_FULL && e > b + 8 && memcmp(buf + b + 8, g_fill + b + 8, e - b - 8) != 0)
            return 0;
    }
    /* a last block too short for a stamp of its own (len % 4096 from 9 to
       15): the fill between it and the trailing stamp */
    if (vm == V_FULL && b < end && memcmp(buf + b, g_fill + b, end - b) != 0)
        return 0;
    v = stamp_of(obj, (uint64_t)len);
    return memcmp(buf + len - 8, &v, 8) == 0;
}

/* ------------------------------------------------------------------ */
/* targets: one per rank                                                */
/* ------------------------------------------------------------------ */
typedef struct target {
    const opts *o;
    int mode;
    unsigned rank;
    uint64_t nobj;                     /* objects of this rank */
    char path[PATH_MAX];               /* file (io, raw, legacy-raw) or store dir */
    kvs_file *f;                       /* io */
    int fd;                            /* legacy-raw */
    int fd_direct;
    kvs_store *s;                      /* raw, fs */
    int dirfd[KVB_MAX_PATHS];          /* legacy file modes */
    unsigned ndirs;
    uint64_t stride;                   /* io, legacy-raw: slot size */
    uint64_t base;                     /* legacy-raw: first slot offset */
    uint64_t n_direct, n_buffered, skipped, bounce_bytes, bounce_calls; /* legacy, atomic */
    size_t blksize;
} target;

typedef struct scratch {
    unsigned char *hdr;   /* 4096, aligned */
    unsigned char *tailb; /* 4096, aligned */
} scratch;

static void key_of(const opts *o, unsigned rank, uint64_t idx, char *out, size_t cap, size_t *klen)
{
    int n = snprintf(out, cap, "kvb%llu/llama-3-70b/tp%u/chunk-%010llu", (unsigned long long)o->seed, rank,
                     (unsigned long long)idx);
    *klen = n > 0 ? (size_t)n : 0;
}

static uint64_t obj_id(unsigned rank, uint64_t idx) { return ((uint64_t)rank << 40) | idx; }

/* Object buffers (--mem). A direct read or write goes to the device as one
   DMA segment per physically contiguous run of the buffer. A 2 MiB buffer of
   4 KiB pages is 1 to 512 runs, as the page allocator happens to hand them
   out to this process (seen here: 33 to 510), and a device with a segment
   limit (virtio-blk: 254) splits a read of more runs into several requests.
   So two tools reading the same file can differ by where the kernel put
   their buffers. --mem hugetlb takes 2 MiB huge pages from the hugetlb pool
   (one run per 2 MiB), as fio --iomem=mmaphuge does, so both can be given
   the same memory. */
#define KVB_HUGE ((size_t)2 << 20)

static size_t buf_bytes(const opts *o, size_t len)
{
    return (size_t)ru64(len, o->hugetlb ? KVB_HUGE : KVB_BUF_ALIGN);
}

static unsigned char *buf_alloc(const opts *o, size_t bytes)
{
    void *p = NULL;
#ifdef MAP_HUGETLB
    if (o->hugetlb) {
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
        return p == MAP_FAILED ? NULL : (unsigned char *)p;
    }
#endif
    return kvs_aligned_alloc(NULL, bytes, KVB_BUF_ALIGN, &p) == KVS_OK ? (unsigned char *)p : NULL;
}

static void buf_free(const opts *o, unsigned char *p, size_t bytes)
{
#ifdef MAP_HUGETLB
    if (o->hugetlb) {
        (void)munmap(p, bytes);
        return;
    }
#endif
    kvs_aligned_free(NULL, p, bytes, KVB_BUF_ALIGN);
}

static void atomic_add(uint64_t *p, uint64_t v) { __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static uint64_t atomic_get(uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

/* legacy names: '/' -> '-' + ".pt" (LocalDisk); '/' -> "-SEP-" + ".data" (FS connector) */
static void legacy_name(int mode, const char *key, char *out, size_t cap, int temp)
{
    size_t n = 0;
    const char *p;
    for (p = key; *p && n + 8 < cap; p++) {
        if (*p == '/') {
            const char *rep = mode == M_LLOCAL ? "-" : "-SEP-";
            size_t rl = strlen(rep);
            if (n + rl + 8 >= cap)
                break;
            memcpy(out + n, rep, rl);
            n += rl;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    strncat(out, mode == M_LLOCAL ? ".pt" : ".data", cap - n - 1);
    if (temp)
        strncat(out, ".tmp", cap - strlen(out) - 1);
}

static int write_all(int fd, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static ssize_t read_all(int fd, unsigned char *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* legacy-raw slot header: 8-byte magic, u64 key hash, u64 length (LE), zeros */
static const char kLegacyMagic[8] = {'L', 'M', 'C', 'R', 'A', 'W', '0', '1'};

static void put_le64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- put / get per mode; 0 on success, else a message in err ---- */

static int t_put(target *t, scratch *sc, uint64_t idx, const char *key, size_t klen, const unsigned char *buf,
                 size_t len, char *err, size_t ecap)
{
    const opts *o = t->o;
    switch (t->mode) {
    case M_IO: {
        kvs_result r = kvs_file_write(t->f, idx * t->stride, buf, len);
        if (r == KVS_OK && o->durability != KVS_DURABLE_NONE)
            r = kvs_file_datasync(t->f);
        if (r != KVS_OK) {
            fmt(err, ecap, "kvs_file_write: %s", kvs_result_str(r));
            return -1;
        }
        return 0;
    }
    case M_RAW:
    case M_FS: {
        kvs_result r = kvs_store_put(t->s, key, klen, buf, len);
        if (r != KVS_OK) {
            fmt(err, ecap, "kvs_store_put: %s (%s)", kvs_result_name(r), kvs_result_str(r));
            return -1;
        }
        return 0;
    }
    case M_LLOCAL: {
        char name[512];
        int fd, dfd = t->dirfd[t->rank % t->ndirs];
        legacy_name(t->mode, key, name, sizeof name, 0);
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write_all(fd, buf, len) != 0 ||
            (o->durability != KVS_DURABLE_NONE && fdatasync(fd) != 0)) {
            fmt(err, ecap, "%s: %s", name, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        close(fd);
        if (o->durability == KVS_DURABLE_FULL)
            (void)fsync(dfd);
        atomic_add(&t->n_buffered, 1);
        return 0;
    }
    case M_LFSCONN: {
        char name[512], tmp[512];
        struct stat st;
        int fd, dfd = t->dirfd[kvs_fnv1a64(key, klen) % t->ndirs];
        int direct = o->policy != KVS_DIRECT_OFF && len % t->blksize == 0;
        legacy_name(t->mode, key, name, sizeof name, 0);
        legacy_name(t->mode, key, tmp, sizeof tmp, 1);
        if (fstatat(dfd, name, &st, 0) == 0) { /* the connector skips keys already stored */
            atomic_add(&t->skipped, 1);
            return 0;
        }
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0), 0644);
        if (fd < 0 && direct && errno == EINVAL && o->policy != KVS_DIRECT_REQUIRE) {
            direct = 0;
            fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        }
        if (fd < 0 || write_all(fd, buf, len) != 0 ||
            (o->durability != KVS_DURABLE_NONE && fdatasync(fd) != 0)) {
            fmt(err, ecap, "%s: %s", tmp, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        close(fd);
        if (renameat(dfd, tmp, dfd, name) != 0) {
            fmt(err, ecap, "rename %s: %s", tmp, strerror(errno));
            return -1;
        }
        if (o->durability == KVS_DURABLE_FULL)
            (void)fsync(dfd);
        atomic_add(direct ? &t->n_direct : &t->n_buffered, 1);
        return 0;
    }
    case M_LRAW: {
        struct iovec iov[3];
        int n = 0;
        uint64_t off = t->base + idx * t->stride;
        size_t head = t->fd_direct ? len / 4096 * 4096 : len, rest = len - head, total;
        ssize_t w;
        memset(sc->hdr, 0, 4096);
        memcpy(sc->hdr, kLegacyMagic, 8);
        put_le64(sc->hdr + 8, kvs_fnv1a64(key, klen));
        put_le64(sc->hdr + 16, (uint64_t)len);
        iov[n].iov_base = sc->hdr;
        iov[n++].iov_len = 4096;
        if (head > 0) {
            iov[n].iov_base = (void *)(uintptr_t)buf;
            iov[n++].iov_len = head;
        }
        if (rest > 0) { /* "hybrid tail": only the tail is bounced, zero-padded */
            memset(sc->tailb, 0, 4096);
            memcpy(sc->tailb, buf + head, rest);
            iov[n].iov_base = sc->tailb;
            iov[n++].iov_len = 4096;
            atomic_add(&t->bounce_bytes, rest);
            atomic_add(&t->bounce_calls, 1);
        }
        total = 4096 + head + (rest > 0 ? 4096 : 0);
        w = pwritev(t->fd, iov, n, (off_t)off);
        if (w != (ssize_t)total || (o->durability != KVS_DURABLE_NONE && fdatasync(t->fd) != 0)) {
            fmt(err, ecap, "pwritev slot %llu: %s", (unsigned long long)idx,
                     w < 0 ? strerror(errno) : "short write");
            return -1;
        }
        atomic_add(t->fd_direct ? &t->n_direct : &t->n_buffered, 1);
        return 0;
    }
    default:
        return -1;
    }
}

/* 0 ok (*got = length), 1 miss, -1 error */
static int t_get(target *t, scratch *sc, uint64_t idx, const char *key, size_t klen, unsigned char *buf,
                 size_t cap, size_t *got, char *err, size_t ecap)
{
    switch (t->mode) {
    case M_IO: {
        kvs_result r = kvs_file_read(t->f, idx * t->stride, buf, cap);
        if (r != KVS_OK) {
            fmt(err, ecap, "kvs_file_read: %s", kvs_result_str(r));
            return -1;
        }
        *got = cap;
        return 0;
    }
    case M_RAW:
    case M_FS: {
        kvs_result r = kvs_store_get(t->s, key, klen, buf, cap, got);
        if (r == KVS_NOT_FOUND)
            return 1;
        if (r != KVS_OK) {
            fmt(err, ecap, "kvs_store_get: %s (%s)", kvs_result_name(r), kvs_result_str(r));
            return -1;
        }
        return 0;
    }
    case M_LLOCAL:
    case M_LFSCONN: {
        char name[512];
        struct stat st;
        int fd, direct = 0;
        int dfd = t->mode == M_LLOCAL ? t->dirfd[t->rank % t->ndirs] : t->dirfd[kvs_fnv1a64(key, klen) % t->ndirs];
        ssize_t r;
        legacy_name(t->mode, key, name, sizeof name, 0);
        if (t->mode == M_LFSCONN) {
            if (fstatat(dfd, name, &st, 0) != 0)
                return errno == ENOENT ? 1 : -1;
            direct = t->o->policy != KVS_DIRECT_OFF && (uint64_t)st.st_size % t->blksize == 0;
        }
        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
        if (fd < 0 && direct && errno == EINVAL) {
            direct = 0;
            fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
        }
        if (fd < 0) {
            if (errno == ENOENT)
                return 1;
            fmt(err, ecap, "%s: %s", name, strerror(errno));
            return -1;
        }
        if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > cap) {
            fmt(err, ecap, "%s: %s", name, "larger than the buffer");
            close(fd);
            return -1;
        }
        r = read_all(fd, buf, (size_t)st.st_size);
        close(fd);
        if (r < 0) {
            fmt(err, ecap, "%s: %s", name, strerror(errno));
            return -1;
        }
        *got = (size_t)r;
        atomic_add(direct ? &t->n_direct : &t->n_buffered, 1);
        return 0;
    }
    case M_LRAW: {
        struct iovec iov[3];
        int n = 0;
        uint64_t off = t->base + idx * t->stride, len;
        size_t head = t->fd_direct ? cap / 4096 * 4096 : cap, rest = cap - head, total;
        ssize_t r;
        iov[n].iov_base = sc->hdr;
        iov[n++].iov_len = 4096;
        if (head > 0) {
            iov[n].iov_base = buf;
            iov[n++].iov_len = head;
        }
        if (rest > 0) {
            iov[n].iov_base = sc->tailb;
            iov[n++].iov_len = 4096;
        }
        total = 4096 + head + (rest > 0 ? 4096 : 0);
        r = preadv(t->fd, iov, n, (off_t)off);
        if (r != (ssize_t)total) {
            fmt(err, ecap, "preadv slot %llu: %s", (unsigned long long)idx, r < 0 ? strerror(errno) : "short read");
            return -1;
        }
        if (memcmp(sc->hdr, kLegacyMagic, 8) != 0 || get_le64(sc->hdr + 8) != kvs_fnv1a64(key, klen))
            return 1;
        len = get_le64(sc->hdr + 16);
        if (len != cap)
            return 1;
        if (rest > 0) {
            memcpy(buf + head, sc->tailb, rest);
            atomic_add(&t->bounce_bytes, rest);
            atomic_add(&t->bounce_calls, 1);
        }
        *got = (size_t)len;
        atomic_add(t->fd_direct ? &t->n_direct : &t->n_buffered, 1);
        return 0;
    }
    default:
        return -1;
    }
}

/* ------------------------------------------------------------------ */
/* opening and closing targets                                          */
/* ------------------------------------------------------------------ */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    (void)remove(p);
    return 0;
}
static void rm_tree(const char *p) { (void)nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static int rm_files_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag != FTW_DP)
        (void)remove(p);
    return 0;
}


typedef struct bench {
    opts o;
    int mode;
    unsigned threads;
    char dir[PATH_MAX];       /* working directory */
    int tmpdir;               /* we created dir */
    target tg[KVB_MAX_TP];
    int cache_dropped;        /* last drop succeeded */
    int tmpfs_noted;          /* a target is on tmpfs: said at the start and end */
    int drop_denied;
} bench;

/* A store's directory tree: whole, or (--keep-dirs) its files only. Store
   directories made afresh for every run land, through ext4's directory
   placement, in block groups just emptied by the previous run's deletes; on
   an ext4 without a journal every new inode there first walks the inodes
   deleted in the last minute (docs/BENCHMARKS.md). fio keeps its directory
   from run to run; --keep-dirs lets kvbench do the same. */
static void rm_store(const bench *b, const char *p)
{
    if (b->o.keep_dirs)
        (void)nftw(p, rm_files_cb, 16, FTW_DEPTH | FTW_PHYS);
    else
        rm_tree(p);
}

static void file_of(const bench *b, unsigned rank, char *out, size_t cap)
{
    const char *base = b->o.file;
    char def[PATH_MAX];
    if (base == NULL) {
        fmt(def, sizeof def, "%s/kvbench-%s.dev", b->dir, mode_names[b->mode]);
        base = def;
    }
    if (b->o.tp > 1)
        fmt(out, cap, "%s.r%u", base, rank);
    else
        fmt(out, cap, "%s", base);
}

static void fsdir_of(const bench *b, unsigned p, char *out, size_t cap)
{
    fmt(out, cap, "%s/kvbench-%s/p%u", b->dir, mode_names[b->mode], p);
}

/* Raw store geometry: enough slots for the rank's objects, plus room. */
static uint64_t raw_device_bytes(const opts *o, uint64_t nobj)
{
    uint64_t slot = ru64(4096 + (uint64_t)o->len, 4096);
    uint64_t slots = nobj + nobj / 50 + 8;
    uint64_t meta = 2 * ru64(64 + 40 + slots * (uint64_t)kvs_index_entry_size(128), 1 << 20);
    return 4096 + 2 * meta + (8u << 20) + slots * slot;
}

static uint64_t rank_objects(const opts *o, unsigned rank)
{
    return o->count * (rank + 1) / o->tp - o->count * rank / o->tp;
}

/* Write zeros over [0, bytes) of a device file unless its blocks are
   already allocated, so put phases overwrite allocated blocks as on a
   block device (and as fio does after laying out its file). Untimed. */
static int layout_file(const char *path, uint64_t bytes, char *err, size_t ecap)
{
    struct stat st;
    int fd;
    void *mem = NULL;
    size_t chunk = (size_t)8 << 20;
    uint64_t off;
    if (stat(path, &st) == 0 && (S_ISBLK(st.st_mode) || ((uint64_t)st.st_blocks * 512 >= bytes && (uint64_t)st.st_size >= bytes)))
        return 0;
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || kvs_aligned_alloc(NULL, chunk, 4096, &mem) != KVS_OK) {
        fmt(err, ecap, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    memset(mem, 0, chunk);
    for (off = 0; off < bytes; off += chunk) {
        size_t n = bytes - off < chunk ? (size_t)(bytes - off) : chunk;
        ssize_t w = pwrite(fd, mem, n, (off_t)off);
        if (w < 0)
            fmt(err, ecap, "%s: laying out the file: %s", path, strerror(errno));
        else if (w != (ssize_t)n)
            fmt(err, ecap, "%s: laying out the file: short write, %lld of %zu bytes at offset %llu (disk full, or a file size limit)",
                path, (long long)w, n, (unsigned long long)off);
        if (w != (ssize_t)n) {
            close(fd);
            kvs_aligned_free(NULL, mem, chunk, 4096);
            return -1;
        }
    }
    kvs_aligned_free(NULL, mem, chunk, 4096);
    if (fsync(fd) != 0 || close(fd) != 0) {
        fmt(err, ecap, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int open_target(bench *b, unsigned rank, int fresh, char *err, size_t ecap)
{
    const opts *o = &b->o;
    target *t = &b->tg[rank];
    char p[PATH_MAX];
    unsigned i;
    memset(t, 0, sizeof *t);
    t->o = o;
    t->mode = b->mode;
    t->rank = rank;
    t->fd = -1;
    t->nobj = rank_objects(o, rank);
    t->blksize = 4096;
    switch (b->mode) {
    case M_IO: {
        kvs_file_config fc;
        kvs_result r;
        kvs_file_config_init(&fc);
        fc.direct = o->policy;
        fc.flags = fresh ? KVS_FILE_CREATE : 0; /* overwrite in place, as fio does */
        t->stride = ru64(o->len, 4096);
        fc.size = t->stride * t->nobj;
        file_of(b, rank, t->path, sizeof t->path);
        if (fresh && layout_file(t->path, fc.size, err, ecap) != 0)
            return 1;
        r = kvs_file_open(t->path, &fc, &t->f);
        if (r != KVS_OK) {
            fmt(err, ecap, "%s: %s", t->path, kvs_result_str(r));
            return r == KVS_E_NODIRECT ? 2 : 1;
        }
        return 0;
    }
    case M_RAW: {
        kvs_store_config c;
        kvs_store_stats st;
        kvs_result r;
        char tpmap[8192];
        kvs_store_config_init(&c);
        c.kind = KVS_STORE_RAW;
        file_of(b, rank, t->path, sizeof t->path);
        if (o->tp > 1) {
            size_t n = 0;
            for (i = 0; i < o->tp && n < sizeof tpmap; i++) {
                file_of(b, i, p, sizeof p);
                n += (size_t)snprintf(tpmap + n, sizeof tpmap - n, "%s%u=%s", i ? "," : "", i, p);
            }
            c.tp_map = tpmap;
            c.tp_rank = rank;
            c.tp_world = o->tp;
        } else {
            c.paths = t->path;
        }
        c.direct = o->policy;
        c.durability = o->durability;
        c.format = fresh ? KVS_FORMAT_ALWAYS : KVS_FORMAT_NEVER;
        c.slot_payload_bytes = o->len;
        c.max_key_bytes = 128;
        c.device_bytes = fresh ? raw_device_bytes(o, t->nobj) : 0;
        if (fresh && layout_file(t->path, c.device_bytes, err, ecap) != 0)
            return 1;
        c.threads = b->threads;
        /* FORMAT_ALWAYS over an existing file: a new store_id and an empty
           index, so earlier runs' slots are ignored, and the blocks stay
           allocated (overwrites, like fio and like a real device). */
        r = kvs_store_open(&c, &t->s, err, ecap);
        if (r != KVS_OK) {
            size_t el = strlen(err);
            fmt(err + el, ecap - el, " [%s: %s]", t->path, kvs_result_name(r));
            return r == KVS_E_NODIRECT ? 2 : 1;
        }
        kvs_store_get_stats(t->s, &st);
        if (st.slots_total < t->nobj) {
            fmt(err, ecap, "%s: the raw store has %llu slots for %llu objects", t->path,
                     (unsigned long long)st.slots_total, (unsigned long long)t->nobj);
            return 1;
        }
        return 0;
    }
    case M_FS: {
        kvs_store_config c;
        kvs_result r;
        char paths[8192];
        size_t n = 0;
        kvs_store_config_init(&c);
        c.kind = KVS_STORE_FS;
        for (i = 0; i < o->npaths && n < sizeof paths; i++) {
            fsdir_of(b, i, p, sizeof p);
            n += (size_t)snprintf(paths + n, sizeof paths - n, "%s%s", i ? "," : "", p);
        }
        fmt(t->path, sizeof t->path, "%s/kvbench-%s", b->dir, mode_names[b->mode]);
        if (fresh && rank == 0)
            rm_store(b, t->path);
        c.paths = paths;
        c.shard = o->shard;
        c.direct = o->policy;
        c.durability = o->durability;
        c.threads = b->threads;
        if (o->tp > 1 && o->shard == KVS_SHARD_RANK) { /* the other policies refuse a rank */
            c.tp_rank = rank;
            c.tp_world = o->tp;
        }
        r = kvs_store_open(&c, &t->s, err, ecap);
        if (r != KVS_OK) {
            size_t el = strlen(err);
            fmt(err + el, ecap - el, " [%s]", kvs_result_name(r));
            return r == KVS_E_NODIRECT ? 2 : 1;
        }
        return 0;
    }
    case M_LLOCAL:
    case M_LFSCONN: {
        fmt(t->path, sizeof t->path, "%s/kvbench-%s", b->dir, mode_names[b->mode]);
        if (fresh && rank == 0)
            rm_store(b, t->path);
        t->ndirs = o->npaths;
        for (i = 0; i < o->npaths; i++) {
            struct stat st;
            fsdir_of(b, i, p, sizeof p);
            if (kvs_mkdir_p(p, 0755) != KVS_OK || (t->dirfd[i] = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                fmt(err, ecap, "%s: %s", p, strerror(errno));
                return 1;
            }
            if (fstat(t->dirfd[i], &st) == 0 && st.st_blksize > 0)
                t->blksize = (size_t)st.st_blksize;
        }
        return 0;
    }
    case M_LRAW: {
        int fl = O_RDWR | O_CLOEXEC | (fresh ? O_CREAT : 0);
        t->stride = ru64(4096 + (uint64_t)o->len, 4096);
        t->base = 4u << 20; /* metadata region (never written: no checkpoint) */
        file_of(b, rank, t->path, sizeof t->path);
        if (fresh && layout_file(t->path, t->base + t->stride * t->nobj, err, ecap) != 0)
            return 1;
        t->fd_direct = o->policy != KVS_DIRECT_OFF;
        t->fd = open(t->path, fl | (t->fd_direct ? O_DIRECT : 0), 0644);
        if (t->fd < 0 && t->fd_direct && errno == EINVAL && o->policy == KVS_DIRECT_PREFER) {
            t->fd_direct = 0;
            t->fd = open(t->path, fl, 0644);
        }
        if (t->fd < 0) {
            fmt(err, ecap, "%s: %s", t->path, strerror(errno));
            return errno == EINVAL ? 2 : 1;
        }
        return 0;
    }
    default:
        return 1;
    }
}

static int close_target(bench *b, unsigned rank, char *err, size_t ecap)
{
    target *t = &b->tg[rank];
    unsigned i;
    int rc = 0;
    if (t->f != NULL && kvs_file_close(t->f) != KVS_OK)
        rc = -1;
    t->f = NULL;
    if (t->s != NULL) {
        kvs_result r = kvs_store_close(t->s);
        if (r != KVS_OK) {
            fmt(err, ecap, "kvs_store_close: %s", kvs_result_str(r));
            rc = -1;
        }
    }
    t->s = NULL;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    for (i = 0; i < t->ndirs; i++)
        if (t->dirfd[i] > 0)
            close(t->dirfd[i]);
    t->ndirs = 0;
    return rc;
}

static void remove_target_data(bench *b, unsigned rank)
{
    target *t = &b->tg[rank];
    if (b->mode == M_FS || b->mode == M_LLOCAL || b->mode == M_LFSCONN) {
        if (rank == 0)
            rm_store(b, t->path);
    } else {
        (void)unlink(t->path);
    }
}

/* ------------------------------------------------------------------ */
/* environment checks                                                   */
/* ------------------------------------------------------------------ */

static uint64_t bytes_needed(const opts *o, int mode)
{
    uint64_t n = o->count, len = o->len;
    switch (mode) {
    case M_IO:
        return n * ru64(len, 4096);
    case M_RAW: {
        uint64_t s = 0;
        unsigned r;
        for (r = 0; r < o->tp; r++)
            s += raw_device_bytes(o, rank_objects(o, r));
        return s;
    }
    case M_LRAW:
        return (uint64_t)o->tp * (4u << 20) + n * ru64(4096 + len, 4096);
    case M_FS:
        return n * ru64(8192 + len, 4096);
    default:
        return n * ru64(len, 4096);
    }
}

static void check_space(const char *where, uint64_t need)
{
    struct statvfs sv;
    uint64_t avail, margin = 64u << 20;
    if (statvfs(where, &sv) != 0)
        die2("%s: %s", where, strerror(errno));
    avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    if (need + margin > avail)
        die2("%s: not enough free space: this run writes about %.2f GB and %.2f GB are free (a %.0f MB "
             "margin is kept); lower --count/--total or pick another --dir",
             where, (double)need / 1e9, (double)avail / 1e9, (double)margin / 1e6);
}

/* Does the filesystem holding dir accept O_DIRECT? 1 yes, 0 no. */
static int probe_direct(const char *dir)
{
    char p[PATH_MAX];
    int fd;
    fmt(p, sizeof p, "%s/.kvbench-probe-%ld", dir, (long)getpid());
    fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EINVAL) {
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            unlink(p);
        }
        return 0;
    }
    if (fd < 0)
        die2("%s: cannot create a file: %s", dir, strerror(errno));
    close(fd);
    unlink(p);
    return 1;
}

static void parent_dir(const char *path, char *out, size_t cap)
{
    const char *s = strrchr(path, '/');
    if (s == NULL)
        fmt(out, cap, ".");
    else if (s == path)
        fmt(out, cap, "/");
    else
        fmt(out, cap, "%.*s", (int)(s - path), path);
}

/* 1 when path is on a tmpfs (Linux): its "disk" is memory, and O_DIRECT
   there (Linux 6.6 and later accept it) reads and writes memory too. */
static int on_tmpfs(const char *path)
{
#ifdef __linux__
    struct statfs sf;
    return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == 0x01021994UL; /* TMPFS_MAGIC */
#else
    (void)path;
    return 0;
#endif
}

static int drop_caches(bench *b)
{
    int fd;
    sync();
    fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "3\n", 2) != 2) {
        if (fd >= 0)
            close(fd);
        b->drop_denied = 1;
        return 0;
    }
    close(fd);
    return 1;
}

/* ------------------------------------------------------------------ */
/* phases                                                               */
/* ------------------------------------------------------------------ */

typedef struct phase_result {
    phase_kind kind;
    double seconds, cpu;
    uint64_t objects, bytes, bad, misses, errors;
    uint64_t skipped; /* legacy-fsconn puts of keys already stored: a stat, nothing written */
    double p50_us, p99_us, max_us;
    uint64_t lat_n;
    uint64_t bounce_bytes, bounce_calls;
    char io[24];
    int fell_back;
    const char *cache;
    char errmsg[512];
} phase_result;

typedef struct worker {
    bench *b;
    target *t;
    phase_kind kind;
    unsigned tid;
    uint64_t first, last; /* object indexes within the rank */
    double *lat;
    uint64_t nlat;
    uint64_t bad, misses;
    int failed;
    char err[512];
} worker;

static uint64_t g_done; /* objects finished in the current phase (progress) */

static uint64_t xrand(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ULL;
    return kvs_mix64(*s);
}

static int worker_verify(worker *w, const unsigned char *buf, size_t got, uint64_t idx, int r)
{
    const opts *o = &w->b->o;
    if (r == 1) {
        w->misses++;
        w->bad++;
        if (w->err[0] == '\0')
            fmt(w->err, sizeof w->err, "object %llu of rank %u: not found", (unsigned long long)idx, w->t->rank);
        return -1;
    }
    if (got != o->len || !check(buf, o->len, obj_id(w->t->rank, idx), o->verify)) {
        w->bad++;
        if (w->err[0] == '\0')
            fmt(w->err, sizeof w->err, "object %llu of rank %u: wrong %s", (unsigned long long)idx,
                     w->t->rank, got != o->len ? "length" : "bytes");
        return -1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    worker *w = (worker *)arg;
    bench *b = w->b;
    const opts *o = &b->o;
    target *t = w->t;
    unsigned nb = o->batch > 0 ? o->batch : 1, k;
    size_t buflen = buf_bytes(o, o->len);
    unsigned char **bufs;
    kvs_item *items;
    char(*keys)[128];
    scratch sc;
    void *mem = NULL;
    uint64_t i, rng = o->seed * 7919 + w->tid + 1000003ULL * t->rank;
    int is_store = b->mode == M_RAW || b->mode == M_FS;

    bufs = (unsigned char **)calloc(nb, sizeof *bufs);
    items = (kvs_item *)calloc(nb, sizeof *items);
    keys = (char(*)[128])calloc(nb, 128);
    if (bufs == NULL || items == NULL || keys == NULL)
        goto nomem;
    for (k = 0; k < nb; k++) {
        if ((bufs[k] = buf_alloc(o, buflen)) == NULL)
            goto nomem;
        memcpy(bufs[k], g_fill, o->len);
    }
    if (kvs_aligned_alloc(NULL, 8192, KVB_BUF_ALIGN, &mem) != KVS_OK)
        goto nomem;
    sc.hdr = (unsigned char *)mem;
    sc.tailb = sc.hdr + 4096;

    for (i = w->first; i < w->last && !w->failed && !stopping();) {
        uint64_t n = w->last - i < nb ? w->last - i : nb;
        double t0, t1;
        int r = 0;
        size_t klen, got = 0;
        if (w->kind == PH_PUT || w->kind == PH_FILL) {
            for (k = 0; k < n; k++) {
                key_of(o, t->rank, i + k, keys[k], 128, &klen);
                stamp(bufs[k], o->len, obj_id(t->rank, i + k));
                items[k].key = keys[k];
                items[k].key_len = klen;
                items[k].buf = bufs[k];
                items[k].len = o->len;
            }
            t0 = now_s();
            if (is_store && n > 1) {
                size_t failed = 0;
                kvs_result rr = kvs_store_put_batch(t->s, items, (size_t)n, &failed);
                if (rr != KVS_OK) {
                    fmt(w->err, sizeof w->err, "kvs_store_put_batch: %llu failed, first %s",
                             (unsigned long long)failed, kvs_result_name(rr));
                    w->failed = 1;
                }
            } else {
                for (k = 0; k < n && r == 0; k++)
                    r = t_put(t, &sc, i + k, keys[k], items[k].key_len, bufs[k], o->len, w->err, sizeof w->err);
                if (r != 0)
                    w->failed = 1;
            }
            t1 = now_s();
        } else if (w->kind == PH_GET) {
            key_of(o, t->rank, i, keys[0], 128, &klen);
            n = 1;
            t0 = now_s();
            r = t_get(t, &sc, i, keys[0], klen, bufs[0], o->len, &got, w->err, sizeof w->err);
            t1 = now_s();
            if (r < 0)
                w->failed = 1;
            else if (worker_verify(w, bufs[0], got, i, r) != 0)
                w->failed = 1;
        } else if (w->kind == PH_PREFIX) {
            for (k = 0; k < n; k++) {
                key_of(o, t->rank, i + k, keys[k], 128, &klen);
                items[k].key = keys[k];
                items[k].key_len = klen;
                items[k].buf = bufs[k];
                items[k].len = o->len;
            }
            t0 = now_s();
            if (is_store) {
                size_t loaded = 0;
                kvs_result rr = kvs_store_get_prefix(t->s, items, (size_t)n, &loaded);
                t1 = now_s();
                if (rr != KVS_OK || loaded != n) {
                    fmt(w->err, sizeof w->err, "kvs_store_get_prefix: %s, loaded %zu of %llu",
                             kvs_result_name(rr), loaded, (unsigned long long)n);
                    w->failed = 1;
                }
                for (k = 0; k < loaded && !w->failed; k++)
                    if (worker_verify(w, bufs[k], items[k].out_len, i + k, 0) != 0)
                        w->failed = 1;
            } else { /* the replaced designs: one get after another, stop at a miss */
                for (k = 0; k < n && r == 0; k++) {
                    r = t_get(t, &sc, i + k, keys[k], items[k].key_len, bufs[k], o->len, &items[k].out_len, w->err,
                              sizeof w->err);
                }
                t1 = now_s();
                if (r != 0)
                    w->failed = 1;
                for (k = 0; k < n && !w->failed; k++)
                    if (worker_verify(w, bufs[k], items[k].out_len, i + k, 0) != 0)
                        w->failed = 1;
            }
        } else { /* mixed: half gets, half puts (overwrites), random keys of this thread */
            uint64_t span = w->last - w->first, j = w->first + xrand(&rng) % span;
            n = 1;
            key_of(o, t->rank, j, keys[0], 128, &klen);
            if (xrand(&rng) & 1) {
                stamp(bufs[0], o->len, obj_id(t->rank, j));
                t0 = now_s();
                r = t_put(t, &sc, j, keys[0], klen, bufs[0], o->len, w->err, sizeof w->err);
                t1 = now_s();
                if (r != 0)
                    w->failed = 1;
            } else {
                t0 = now_s();
                r = t_get(t, &sc, j, keys[0], klen, bufs[0], o->len, &got, w->err, sizeof w->err);
                t1 = now_s();
                if (r < 0 || worker_verify(w, bufs[0], got, j, r) != 0)
                    w->failed = 1;
            }
        }
        w->lat[w->nlat++] = (t1 - t0) * 1e6;
        atomic_add(&g_done, n);
        i += n;
    }
    goto out;
nomem:
    fmt(w->err, sizeof w->err, "out of memory");
    w->failed = 1;
out: /* every path: what was allocated is freed (bufs is zeroed, mem may be NULL) */
    for (k = 0; bufs != NULL && k < nb; k++)
        if (bufs[k] != NULL)
            buf_free(o, bufs[k], buflen);
    kvs_aligned_free(NULL, mem, 8192, KVB_BUF_ALIGN);
    free(bufs);
    free(items);
    free(keys);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static double pct(const double *v, uint64_t n, double p)
{
    if (n == 0)
        return 0;
    return v[(uint64_t)(p * (double)(n - 1) + 0.5)];
}

static void io_used(bench *b, phase_result *pr, const uint64_t *b0, const uint64_t *c0)
{
    unsigned r;
    uint64_t nd = 0, nbuf = 0;
    int any_direct = 0, any_buffered = 0;
    pr->bounce_bytes = pr->bounce_calls = 0;
    pr->fell_back = 0;
    for (r = 0; r < b->o.tp; r++) {
        target *t = &b->tg[r];
        if (t->f != NULL) {
            kvs_file_info fi;
            kvs_file_stats fs;
            kvs_file_get_info(t->f, &fi);
            kvs_file_get_stats(t->f, &fs);
            *(fi.direct ? &any_direct : &any_buffered) = 1;
            pr->fell_back |= fi.fell_back;
            pr->bounce_bytes += fs.bounce_bytes - b0[r];
            pr->bounce_calls += fs.bounce_calls - c0[r];
        } else if (t->s != NULL) {
            kvs_store_stats st;
            kvs_store_get_stats(t->s, &st);
            *(st.direct ? &any_direct : &any_buffered) = 1;
            pr->fell_back |= st.direct_fallbacks > 0;
            pr->bounce_bytes += st.bounce_bytes - b0[r];
            pr->bounce_calls += st.bounce_calls - c0[r];
        } else {
            nd += atomic_get(&t->n_direct);
            nbuf += atomic_get(&t->n_buffered);
            pr->bounce_bytes += atomic_get(&t->bounce_bytes) - b0[r];
            pr->bounce_calls += atomic_get(&t->bounce_calls) - c0[r];
            if (b->mode == M_LRAW && b->o.policy != KVS_DIRECT_OFF && !t->fd_direct)
                pr->fell_back = 1;
        }
    }
    if (nd || nbuf) {
        any_direct = nd > 0;
        any_buffered = nbuf > 0;
    }
    fmt(pr->io, sizeof pr->io, "%s", any_direct && any_buffered ? "mixed" : any_direct ? "direct" : "buffered");
}

static void snap_bounce(bench *b, uint64_t *b0, uint64_t *c0)
{
    unsigned r;
    for (r = 0; r < b->o.tp; r++) {
        target *t = &b->tg[r];
        b0[r] = c0[r] = 0;
        if (t->f != NULL) {
            kvs_file_stats fs;
            kvs_file_get_stats(t->f, &fs);
            b0[r] = fs.bounce_bytes;
            c0[r] = fs.bounce_calls;
        } else if (t->s != NULL) {
            kvs_store_stats st;
            kvs_store_get_stats(t->s, &st);
            b0[r] = st.bounce_bytes;
            c0[r] = st.bounce_calls;
        } else {
            b0[r] = atomic_get(&t->bounce_bytes);
            c0[r] = atomic_get(&t->bounce_calls);
            t->n_direct = t->n_buffered = t->skipped = 0;
        }
    }
}

static int run_phase(bench *b, phase_kind kind, phase_result *pr)
{
    const opts *o = &b->o;
    unsigned nw = o->tp * b->threads, r, k, wi = 0;
    worker *ws;
    pthread_t *th;
    double t0, c0, last_print = 0;
    uint64_t b0[KVB_MAX_TP], bc0[KVB_MAX_TP], total_lat = 0, li = 0;
    double *all;
    int progress = !o->json && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO), printed = 0;

    memset(pr, 0, sizeof *pr);
    pr->kind = kind;
    ws = (worker *)calloc(nw, sizeof *ws);
    th = (pthread_t *)calloc(nw, sizeof *th);
    if (ws == NULL || th == NULL)
        die2("out of memory");
    for (r = 0; r < o->tp; r++) {
        uint64_t n = b->tg[r].nobj;
        for (k = 0; k < b->threads; k++, wi++) {
            worker *w = &ws[wi];
            w->b = b;
            w->t = &b->tg[r];
            w->kind = kind;
            w->tid = k;
            w->first = n * k / b->threads;
            w->last = n * (k + 1) / b->threads;
            w->lat = (double *)calloc((size_t)(w->last - w->first) + 1, sizeof(double));
            if (w->lat == NULL)
                die2("out of memory");
        }
    }
    snap_bounce(b, b0, bc0);
    __atomic_store_n(&g_done, 0, __ATOMIC_RELAXED);
    c0 = cpu_s();
    t0 = now_s();
    for (wi = 0; wi < nw; wi++)
        if (pthread_create(&th[wi], NULL, worker_main, &ws[wi]) != 0)
            die2("cannot create a thread");
    if (progress) {
        /* watch the workers; print only once the phase passes 2 s */
        for (;;) {
            struct timespec ts = {0, 100000000};
            uint64_t done = atomic_get(&g_done);
            double el = now_s() - t0;
            if (done >= o->count)
                break;
            if (el > 2.0 && el - last_print >= 0.5) {
                fprintf(stderr, "\r  %s %s: %3.0f%%  %.2f GB/s   ", mode_names[b->mode], phase_names[kind],
                        100.0 * (double)done / (double)o->count, (double)done * (double)o->len / el / 1e9);
                last_print = el;
                printed = 1;
            }
            /* a failed worker stops early: stop watching when all are done */
            {
                int alive = 0;
                for (wi = 0; wi < nw; wi++)
                    if (!ws[wi].failed)
                        alive = 1;
                if (!alive)
                    break;
            }
            nanosleep(&ts, NULL);
        }
    }
    for (wi = 0; wi < nw; wi++)
        pthread_join(th[wi], NULL);
    pr->seconds = now_s() - t0;
    pr->cpu = cpu_s() - c0;
    if (printed)
        fprintf(stderr, "\r%60s\r", "");
    for (wi = 0; wi < nw; wi++)
        total_lat += ws[wi].nlat;
    all = (double *)calloc((size_t)total_lat + 1, sizeof(double));
    if (all == NULL)
        die2("out of memory");
    for (wi = 0; wi < nw; wi++) {
        worker *w = &ws[wi];
        memcpy(all + li, w->lat, (size_t)w->nlat * sizeof(double));
        li += w->nlat;
        pr->bad += w->bad;
        pr->misses += w->misses;
        if (w->failed) {
            pr->errors++;
            if (pr->errmsg[0] == '\0')
                fmt(pr->errmsg, sizeof pr->errmsg, "%s", w->err);
        }
        free(w->lat);
    }
    qsort(all, (size_t)total_lat, sizeof(double), cmp_double);
    pr->lat_n = total_lat;
    pr->p50_us = pct(all, total_lat, 0.50);
    pr->p99_us = pct(all, total_lat, 0.99);
    pr->max_us = total_lat ? all[total_lat - 1] : 0;
    free(all);
    io_used(b, pr, b0, bc0);
    for (r = 0; r < o->tp; r++)
        pr->skipped += atomic_get(&b->tg[r].skipped);
    /* objects and bytes moved: a skipped put wrote nothing */
    pr->objects = o->count - pr->skipped;
    pr->bytes = pr->objects * (uint64_t)o->len;
    free(ws);
    free(th);
    return pr->errors || pr->bad ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* output                                                               */
/* ------------------------------------------------------------------ */

typedef struct row {
    int mode;
    unsigned threads;
    phase_result pr;
} row;

static double ratio0(double a, double b) { return b > 0 ? a / b : 0; }

static void print_json(const bench *b, const phase_result *pr)
{
    const opts *o = &b->o;
    double gb = (double)pr->bytes / 1e9;
    printf("{\"tool\":\"kvbench\",\"mode\":\"%s\",\"op\":\"%s\",\"phase\":\"%s\",\"threads\":%u,\"tp\":%u,"
           "\"object_bytes\":%zu,\"objects\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"gbps\":%.4f,"
           "\"objects_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"latency_unit\":\"%s\","
           "\"cpu_s\":%.4f,\"cpu_s_per_gb\":%.4f,\"bounce_bytes\":%llu,\"bounce_calls\":%llu,"
           "\"bounce_bytes_per_object\":%.2f,\"io\":\"%s\",\"fell_back\":%d,\"cache\":\"%s\","
           "\"durability\":\"%s\",\"shard\":\"%s\",\"paths\":%u,\"batch\":%u,\"verify\":\"%s\","
           "\"mem\":\"%s\",\"crc32c\":\"%s\",\"reopen\":%d,\"skipped\":%llu,\"verify_failures\":%llu,"
           "\"errors\":%llu}\n",
           mode_names[b->mode], op_names[o->op], phase_names[pr->kind], b->threads, o->tp, o->len,
           (unsigned long long)pr->objects, (unsigned long long)pr->bytes, pr->seconds, ratio0(gb, pr->seconds),
           ratio0((double)pr->objects, pr->seconds), pr->p50_us, pr->p99_us, pr->max_us,
           (o->batch > 1 && (pr->kind == PH_PUT || pr->kind == PH_PREFIX)) ? "batch" : "object", pr->cpu,
           ratio0(pr->cpu, gb), (unsigned long long)pr->bounce_bytes, (unsigned long long)pr->bounce_calls,
           ratio0((double)pr->bounce_bytes, (double)pr->objects), pr->io, pr->fell_back, pr->cache,
           o->durability == KVS_DURABLE_NONE ? "none" : o->durability == KVS_DURABLE_DATA ? "data" : "full",
           kvs_shard_policy_name(o->shard), o->npaths, o->batch, o->verify == V_FULL ? "full" : "stamps",
           o->hugetlb ? "hugetlb" : "page", kvs_crc32c_impl(), o->reopen && pr->kind != PH_PUT && pr->kind != PH_FILL,
           (unsigned long long)pr->skipped,
           (unsigned long long)pr->bad, (unsigned long long)pr->errors);
    fflush(stdout);
}

static void print_header(int with_ref)
{
    printf("%-17s %-6s %3s %-9s %-6s %7s %9s %8s %8s %8s %7s %9s%s\n", "mode", "op", "thr", "io", "cache", "GB/s",
           "objects/s", "p50 ms", "p99 ms", "max ms", "CPU s/GB", "bounce B", with_ref ? "   vs io" : "");
}

static void print_row(const row *rw, double ref_gbps, int with_ref)
{
    const phase_result *pr = &rw->pr;
    double gbps = ratio0((double)pr->bytes, pr->seconds) / 1e9;
    char thr[16], ref[16] = "", skip[48] = "";
    fmt(thr, sizeof thr, "%u", rw->threads);
    if (with_ref && ref_gbps > 0)
        fmt(ref, sizeof ref, "  %6.2f", gbps / ref_gbps);
    if (pr->skipped)
        fmt(skip, sizeof skip, "  (%llu puts skipped)", (unsigned long long)pr->skipped);
    printf("%-17s %-6s %3s %-9s %-6s %7.3f %9.0f %8.2f %8.2f %8.2f %7.3f %9llu%s%s%s\n", mode_names[rw->mode],
           phase_names[pr->kind], thr, pr->fell_back ? "buf(fb)" : pr->io, pr->cache, gbps,
           ratio0((double)pr->objects, pr->seconds), pr->p50_us / 1e3, pr->p99_us / 1e3, pr->max_us / 1e3,
           ratio0(pr->cpu, (double)pr->bytes / 1e9), (unsigned long long)pr->bounce_bytes, ref, skip,
           pr->bad ? "  VERIFY FAILED" : "");
    fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* one configuration: open, phases, close                               */
/* ------------------------------------------------------------------ */

static int fail_phase(const bench *b, const phase_result *pr)
{
    if (stopping())
        return 1;
    fprintf(stderr, "kvbench: %s %s: %s (%llu objects failed verification, %llu workers failed)\n",
            mode_names[b->mode], phase_names[pr->kind], pr->errmsg[0] ? pr->errmsg : "failed",
            (unsigned long long)pr->bad, (unsigned long long)pr->errors);
    return 1;
}

static int open_all(bench *b, int fresh)
{
    unsigned r;
    char err[1024];
    for (r = 0; r < b->o.tp; r++) {
        int rc;
        err[0] = '\0';
        rc = open_target(b, r, fresh, err, sizeof err);
        if (rc != 0 && stopping())
            bail(rc);
        if (rc != 0) {
            fprintf(stderr, "kvbench: %s: %s\n", mode_names[b->mode], err);
            if (rc == 2)
                fprintf(stderr, "kvbench: O_DIRECT was refused and --direct requires it; use --buffered\n");
            bail(rc);
        }
    }
    return 0;
}

static int close_all(bench *b)
{
    unsigned r;
    int rc = 0;
    char err[512];
    for (r = 0; r < b->o.tp; r++) {
        err[0] = '\0';
        if (close_target(b, r, err, sizeof err) != 0) {
            fprintf(stderr, "kvbench: %s: close: %s\n", mode_names[b->mode], err);
            rc = 1;
        }
    }
    return rc;
}

static void remove_all(bench *b)
{
    unsigned r;
    for (r = 0; r < b->o.tp; r++)
        remove_target_data(b, r);
}

/* A read phase's page cache: "cold" when it was dropped before the phase;
   else "warm" for reads that can come from it, "-" for O_DIRECT reads
   (their data comes from the disk either way). */
static const char *cache_label(bench *b, int read_phase, const phase_result *pr)
{
    if (!read_phase)
        return "-";
    if (b->cache_dropped)
        return "cold";
    return strcmp(pr->io, "direct") == 0 && !pr->fell_back ? "-" : "warm";
}

/* Between a write phase and a read phase: drop the page cache if allowed. */
static void between(bench *b)
{
    b->cache_dropped = 0;
    if (!b->o.no_drop)
        b->cache_dropped = drop_caches(b);
}

/* Run the phases of o->op for one mode and thread count; rows appended. */
static int run_config(bench *b, row *rows, size_t *nrows)
{
    const opts *o = &b->o;
    phase_result pr;
    int rc = 0;
    int fresh = !(o->existing && o->op != OP_PUT && o->op != OP_BOTH);
    open_all(b, fresh);
    if (o->op == OP_PUT || o->op == OP_BOTH) {
        rc = run_phase(b, PH_PUT, &pr);
        pr.cache = cache_label(b, 0, &pr);
        if (rc)
            return fail_phase(b, &pr);
        if (o->json)
            print_json(b, &pr);
        rows[*nrows].mode = b->mode;
        rows[*nrows].threads = b->threads;
        rows[(*nrows)++].pr = pr;
    } else if (!o->existing) {
        rc = run_phase(b, PH_FILL, &pr);
        if (rc)
            return fail_phase(b, &pr);
    }
    if (o->op != OP_PUT) {
        phase_kind k = o->op == OP_MIXED ? PH_MIXED : o->op == OP_PREFIX ? PH_PREFIX : PH_GET;
        if (o->reopen) { /* read as a reader that did not write the objects (untimed) */
            if (close_all(b) != 0)
                return 1;
            open_all(b, 0);
        }
        between(b);
        rc = run_phase(b, k, &pr);
        pr.cache = cache_label(b, 1, &pr);
        if (rc)
            return fail_phase(b, &pr);
        if (o->json)
            print_json(b, &pr);
        rows[*nrows].mode = b->mode;
        rows[*nrows].threads = b->threads;
        rows[(*nrows)++].pr = pr;
    }
    rc |= close_all(b);
    /* directories go now; device files stay until the end of the run, so
       the next thread count overwrites the same allocated blocks */
    if (!o->keep && (b->mode == M_FS || b->mode == M_LLOCAL || b->mode == M_LFSCONN))
        remove_all(b);
    return rc;
}

/* ------------------------------------------------------------------ */
/* restart: fill a raw store, close it, time the reopen                  */
/* ------------------------------------------------------------------ */

static double time_open(bench *b, kvs_store_stats *st)
{
    double t0, t;
    char err[1024] = "";
    target *tg = &b->tg[0];
    kvs_store_config c;
    kvs_result r;
    kvs_store_config_init(&c);
    c.kind = KVS_STORE_RAW;
    c.paths = tg->path;
    c.direct = b->o.policy;
    c.format = KVS_FORMAT_NEVER;
    c.slot_payload_bytes = b->o.len;
    c.max_key_bytes = 128;
    c.threads = b->threads;
    t0 = now_s();
    r = kvs_store_open(&c, &tg->s, err, sizeof err);
    t = now_s() - t0;
    if (r != KVS_OK) {
        fprintf(stderr, "kvbench: reopen %s: %s (%s)\n", tg->path, err, kvs_result_name(r));
        bail(1);
    }
    kvs_store_get_stats(tg->s, st);
    return t;
}

#define CK_ALIGN ((size_t)2 << 20)

/* Time reading the newest checkpoint's bytes with the same I/O mode. */
static double time_ckpt_read(bench *b, uint64_t *ckpt_bytes)
{
    kvs_file_config fc;
    kvs_file *f = NULL;
    unsigned char *sb;
    void *mem = NULL;
    kvs_superblock s;
    kvs_layout l;
    kvs_ckpt_header h[2];
    kvs_result r[2];
    uint32_t copy = 0;
    unsigned i;
    double t0, t;
    uint64_t plen;
    kvs_file_config_init(&fc);
    fc.direct = b->o.policy;
    fc.flags = KVS_FILE_RDONLY;
    if (kvs_file_open(b->tg[0].path, &fc, &f) != KVS_OK || kvs_aligned_alloc(NULL, 4096, 4096, &mem) != KVS_OK)
        die2("cannot open %s", b->tg[0].path);
    sb = (unsigned char *)mem;
    if (kvs_file_read(f, 0, sb, 4096) != KVS_OK || kvs_superblock_decode(sb, 4096, &s) != KVS_OK ||
        kvs_layout_compute(s.device_bytes, s.align, s.meta_bytes, s.slot_bytes, &l, NULL, 0) != KVS_OK) {
        fprintf(stderr, "kvbench: %s: cannot decode the superblock\n", b->tg[0].path);
        bail(1);
    }
    for (i = 0; i < 2; i++) {
        r[i] = kvs_file_read(f, l.ckpt_offset[i], sb, 4096);
        if (r[i] == KVS_OK)
            r[i] = kvs_ckpt_header_decode(sb, KVS_CKPT_HEADER_BYTES, l.ckpt_bytes - KVS_CKPT_HEADER_BYTES, &h[i]);
    }
    if (kvs_ckpt_pick(r[0], &h[0], r[1], &h[1], &copy) != KVS_OK) {
        fprintf(stderr, "kvbench: %s: no valid checkpoint\n", b->tg[0].path);
        bail(1);
    }
    kvs_aligned_free(NULL, mem, 4096, 4096);
    plen = KVS_CKPT_HEADER_BYTES + h[copy].payload_len;
    *ckpt_bytes = plen;
    /* 2 MiB aligned, huge pages asked for (as the store's checkpoint
       buffer), and touched before the clock starts: the time is the
       device's, not page faults and 4 KiB page pinning, which came and went
       with what the heap happened to reuse (the old restore left a fully
       written, huge-page checkpoint buffer behind; the chunked one does not). */
    if (kvs_aligned_alloc(NULL, (size_t)ru64(plen, 4096), CK_ALIGN, &mem) != KVS_OK)
        die2("out of memory");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    (void)madvise(mem, (size_t)ru64(plen, 4096), MADV_HUGEPAGE);
#endif
    memset(mem, 0, (size_t)ru64(plen, 4096));
    kvs_file_close(f);
    f = NULL;
    between(b);
    t0 = now_s();
    if (kvs_file_open(b->tg[0].path, &fc, &f) != KVS_OK || kvs_file_read(f, l.ckpt_offset[copy], mem, (size_t)plen) != KVS_OK)
        die2("cannot read the checkpoint of %s", b->tg[0].path);
    t = now_s() - t0;
    kvs_file_close(f);
    kvs_aligned_free(NULL, mem, (size_t)ru64(plen, 4096), CK_ALIGN);
    return t;
}

static int run_restart(bench *b)
{
    phase_result pr;
    kvs_store_stats st;
    double t_cold, t_warm, t_ck;
    uint64_t ck = 0, i, step;
    int rc;
    char err[256];
    if (b->mode != M_RAW)
        die2("--op restart applies to --mode raw");
    if (b->o.tp != 1)
        die2("--op restart measures one rank: leave --tp at 1");
    open_all(b, 1);
    rc = run_phase(b, PH_FILL, &pr);
    if (rc)
        return fail_phase(b, &pr);
    if (close_all(b) != 0)
        return 1;
    between(b);
    t_cold = time_open(b, &st);
    if (st.objects != b->o.count) {
        fprintf(stderr, "kvbench: reopen found %llu objects, %llu were stored\n", (unsigned long long)st.objects,
                (unsigned long long)b->o.count);
        return 1;
    }
    /* spot-check objects after the restart */
    step = b->o.count / 1000 ? b->o.count / 1000 : 1;
    {
        void *mem = NULL;
        unsigned char *buf;
        size_t got = 0;
        char key[128];
        size_t klen;
        if (kvs_aligned_alloc(NULL, (size_t)ru64(b->o.len, 4096), 4096, &mem) != KVS_OK)
            die2("out of memory");
        buf = (unsigned char *)mem;
        for (i = 0; i < b->o.count; i += step) {
            kvs_result r;
            key_of(&b->o, 0, i, key, sizeof key, &klen);
            r = kvs_store_get(b->tg[0].s, key, klen, buf, b->o.len, &got);
            if (r != KVS_OK || got != b->o.len || !check(buf, b->o.len, obj_id(0, i), b->o.verify)) {
                fprintf(stderr, "kvbench: after restart object %llu: %s\n", (unsigned long long)i,
                        r != KVS_OK ? kvs_result_name(r) : "wrong bytes");
                return 1;
            }
        }
        kvs_aligned_free(NULL, mem, (size_t)ru64(b->o.len, 4096), 4096);
    }
    if (close_target(b, 0, err, sizeof err) != 0)
        return 1;
    t_warm = time_open(b, &st);
    if (close_target(b, 0, err, sizeof err) != 0)
        return 1;
    t_ck = time_ckpt_read(b, &ck);
    if (b->o.json) {
        printf("{\"tool\":\"kvbench\",\"mode\":\"raw\",\"op\":\"restart\",\"objects\":%llu,\"object_bytes\":%zu,"
               "\"fill_seconds\":%.4f,\"reopen_s\":%.6f,\"reopen_warm_s\":%.6f,\"checkpoint_bytes\":%llu,"
               "\"checkpoint_read_s\":%.6f,\"io_share\":%.3f,\"cache\":\"%s\",\"io\":\"%s\"}\n",
               (unsigned long long)b->o.count, b->o.len, pr.seconds, t_cold, t_warm, (unsigned long long)ck, t_ck,
               t_ck / t_cold, b->cache_dropped ? "cold" : "warm", pr.io);
    } else {
        printf("raw store restart, %llu objects of %zu B (%s I/O; fill took %.2f s)\n", (unsigned long long)b->o.count,
               b->o.len, pr.io, pr.seconds);
        printf("  reopen (%s cache)        %8.1f ms   (%llu objects found, %llu checked)\n",
               b->cache_dropped ? "dropped" : "warm", t_cold * 1e3, (unsigned long long)st.objects,
               (unsigned long long)((b->o.count + step - 1) / step));
        printf("  reopen again (warm)        %8.1f ms\n", t_warm * 1e3);
        printf("  read the checkpoint only   %8.1f ms   (%.2f MB, %s)\n", t_ck * 1e3, (double)ck / 1e6,
               b->cache_dropped ? "cache dropped" : "warm");
        printf("  -> reading is %.0f%% of the reopen; parsing, index build and the rest %.0f%%\n",
               100.0 * t_ck / t_cold, 100.0 * (1.0 - t_ck / t_cold));
    }
    if (!b->o.keep)
        remove_all(b);
    return 0;
}

/* ------------------------------------------------------------------ */
/* main                                                                 */
/* ------------------------------------------------------------------ */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: kvbench [--mode io|raw|fs|legacy-localdisk|legacy-fsconn|legacy-raw]\n"
            "               [--op put|get|both|mixed|prefix|restart] [--size B] [--tail B]\n"
            "               [--count N | --total B] [--threads N[,N...]] [--tp N]\n"
            "               [--direct | --buffered] [--shard rendezvous|mod|rank] [--paths N]\n"
            "               [--durability none|data|full] [--batch N] [--seed N]\n"
            "               [--dir PATH] [--file PATH] [--existing] [--keep]\n"
            "               [--keep-dirs] [--verify full|stamps] [--no-drop] [--reopen]\n"
            "               [--mem page|hugetlb] [--json] | --version\n"
            "With no arguments: io, raw and fs, put then get, 2 MiB, direct, 1 and 2 threads.\n"
            "--verify: the check of what was read is inside the timed read phases.\n"
            "--reopen: close the handles after the put/fill and open new ones before the timed\n"
            "  read phase (a reader that did not write the objects: another process, or after a\n"
            "  restart). raw, fs: a new store handle; io and the legacy modes reopen their\n"
            "  file/directory handles, which hold no per-object state (no effect on the reads).\n"
            "Temporary directory: under $TMPDIR (/tmp when unset or empty) unless --dir.\n");
}

static void bad_flag(const char *flag, const char *val, const char *why)
{
    fprintf(stderr, "kvbench: %s%s%s: %s\n", flag, val ? " " : "", val ? val : "", why);
    usage(stderr);
    exit(2);
}

static void parse_args(int argc, char **argv, opts *o)
{
    int i;
    uint64_t v;
    memset(o, 0, sizeof *o);
    o->mode = -1;
    o->op = OP_BOTH;
    o->size = (size_t)2 << 20;
    o->tp = 1;
    o->npaths = 1;
    o->policy = KVS_DIRECT_PREFER;
    o->shard = KVS_SHARD_RENDEZVOUS;
    o->seed = 1;
    o->verify = V_FULL;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int m;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--version")) {
            printf("kvbench (kvstore %s), CRC32C path: %s\n", kvs_version_string(), kvs_crc32c_impl());
            exit(0);
        } else if (!strcmp(a, "--direct")) {
            o->policy = KVS_DIRECT_REQUIRE;
            continue;
        } else if (!strcmp(a, "--buffered")) {
            o->policy = KVS_DIRECT_OFF;
            continue;
        } else if (!strcmp(a, "--existing")) {
            o->existing = 1;
            continue;
        } else if (!strcmp(a, "--keep")) {
            o->keep = 1;
            continue;
        } else if (!strcmp(a, "--keep-dirs")) {
            o->keep_dirs = 1;
            continue;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        } else if (!strcmp(a, "--no-drop")) {
            o->no_drop = 1;
            continue;
        } else if (!strcmp(a, "--reopen")) {
            o->reopen = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            bad_flag(a, NULL, "unexpected argument");
        if (val == NULL)
            bad_flag(a, NULL, "needs a value (or is unknown)");
        i++;
        if (!strcmp(a, "--mode")) {
            for (m = 0; m < M_COUNT && strcmp(val, mode_names[m]); m++)
                ;
            if (m == M_COUNT)
                bad_flag(a, val, "not one of io, raw, fs, legacy-localdisk, legacy-fsconn, legacy-raw");
            o->mode = m;
        } else if (!strcmp(a, "--op")) {
            for (m = 0; m <= OP_RESTART && strcmp(val, op_names[m]); m++)
                ;
            if (m > OP_RESTART)
                bad_flag(a, val, "not one of put, get, both, mixed, prefix, restart");
            o->op = (bop)m;
        } else if (!strcmp(a, "--size")) {
            if (parse_num(val, 1, &v) || v < 64 || v > (1ull << 30))
                bad_flag(a, val, "a size from 64 bytes to 1G (K/M/G suffixes)");
            o->size = (size_t)v;
            o->size_given = 1;
        } else if (!strcmp(a, "--tail")) {
            if (parse_num(val, 1, &v) || v > (1u << 20))
                bad_flag(a, val, "a byte count up to 1M");
            o->tail = (size_t)v;
        } else if (!strcmp(a, "--count")) {
            if (parse_num(val, 0, &v) || v == 0 || v > (1ull << 32))
                bad_flag(a, val, "a positive count (k/m suffixes)");
            o->count = v;
            o->count_given = 1;
        } else if (!strcmp(a, "--total")) {
            if (parse_num(val, 1, &v) || v == 0)
                bad_flag(a, val, "a positive byte count (K/M/G suffixes)");
            o->total = v;
            o->total_given = 1;
        } else if (!strcmp(a, "--threads")) {
            const char *p = val;
            o->nthreads_list = 0;
            while (*p) {
                char *end;
                long t = strtol(p, &end, 10);
                if (end == p || t < 1 || t > KVB_MAX_THREADS || o->nthreads_list == KVB_MAX_TLIST ||
                    (*end != ',' && *end != '\0'))
                    bad_flag(a, val, "a thread count 1..256, or a comma-separated list of them");
                o->threads_list[o->nthreads_list++] = (unsigned)t;
                p = *end == ',' ? end + 1 : end;
            }
            if (o->nthreads_list == 0)
                bad_flag(a, val, "a thread count");
            o->threads_given = 1;
        } else if (!strcmp(a, "--tp")) {
            if (parse_num(val, 0, &v) || v < 1 || v > KVB_MAX_TP)
                bad_flag(a, val, "a rank count 1..64");
            o->tp = (unsigned)v;
        } else if (!strcmp(a, "--paths")) {
            if (parse_num(val, 0, &v) || v < 1 || v > KVB_MAX_PATHS)
                bad_flag(a, val, "a directory count 1..64");
            o->npaths = (unsigned)v;
        } else if (!strcmp(a, "--shard")) {
            if (kvs_shard_policy_parse(val, &o->shard) != KVS_OK)
                bad_flag(a, val, "not one of rendezvous, mod, rank");
        } else if (!strcmp(a, "--durability")) {
            if (!strcmp(val, "none"))
                o->durability = KVS_DURABLE_NONE;
            else if (!strcmp(val, "data"))
                o->durability = KVS_DURABLE_DATA;
            else if (!strcmp(val, "full"))
                o->durability = KVS_DURABLE_FULL;
            else
                bad_flag(a, val, "not one of none, data, full");
        } else if (!strcmp(a, "--batch")) {
            if (parse_num(val, 0, &v) || v < 1 || v > 4096)
                bad_flag(a, val, "items per batch, 1..4096");
            o->batch = (unsigned)v;
        } else if (!strcmp(a, "--seed")) {
            if (parse_num(val, 0, &v))
                bad_flag(a, val, "a non-negative integer");
            o->seed = v;
        } else if (!strcmp(a, "--dir")) {
            o->dir = val;
        } else if (!strcmp(a, "--file")) {
            o->file = val;
        } else if (!strcmp(a, "--mem")) {
            if (!strcmp(val, "page"))
                o->hugetlb = 0;
            else if (!strcmp(val, "hugetlb"))
#ifdef MAP_HUGETLB
                o->hugetlb = 1;
#else
                bad_flag(a, val, "huge pages (MAP_HUGETLB) are not available on this system");
#endif
            else
                bad_flag(a, val, "not one of page, hugetlb");
        } else if (!strcmp(a, "--verify")) {
            if (!strcmp(val, "full"))
                o->verify = V_FULL;
            else if (!strcmp(val, "stamps"))
                o->verify = V_STAMPS;
            else
                bad_flag(a, val, "not one of full, stamps");
        } else {
            bad_flag(a, NULL, "unknown option");
        }
    }
    /* consistency */
    o->len = o->size + o->tail;
    if (o->count_given && o->total_given)
        bad_flag("--count", NULL, "give --count or --total, not both");
    if (!o->nthreads_list) {
        if (o->mode < 0) {
            o->threads_list[0] = 1;
            o->threads_list[1] = 2;
            o->nthreads_list = 2;
        } else {
            o->threads_list[0] = 1;
            o->nthreads_list = 1;
        }
    }
    if (!o->count_given) {
        uint64_t total = o->total_given ? o->total : (1ull << 30);
        if (o->op == OP_RESTART)
            o->count = 100000;
        else
            o->count = total / o->len ? total / o->len : 1;
    }
    if (o->count < o->tp)
        bad_flag("--count", NULL, "fewer objects than --tp ranks");
    if (o->batch == 0)
        o->batch = o->op == OP_PREFIX ? 16 : 1;
    if (o->existing && (o->op == OP_PUT || o->op == OP_BOTH || o->op == OP_RESTART))
        bad_flag("--existing", NULL, "applies to --op get, mixed and prefix");
    if (o->existing && o->dir == NULL && o->file == NULL)
        bad_flag("--existing", NULL, "needs the --dir/--file an earlier --keep run used");
    if (o->mode < 0 && (o->op == OP_RESTART || o->existing))
        bad_flag("--op", op_names[o->op], "needs --mode");
    if (o->mode == M_LLOCAL && o->policy == KVS_DIRECT_REQUIRE)
        bad_flag("--direct", NULL, "legacy-localdisk writes buffered files by design; use --buffered or the default");
    if (o->mode == M_LFSCONN && o->policy == KVS_DIRECT_REQUIRE && o->len % 4096 != 0)
        bad_flag("--direct", NULL, "legacy-fsconn uses O_DIRECT only for block-aligned lengths; this size is not");
    if (o->shard != KVS_SHARD_RENDEZVOUS && o->mode >= 0 && o->mode != M_FS)
        bad_flag("--shard", NULL, "applies to --mode fs");
    if ((uint64_t)o->tp * o->threads_list[0] > KVB_MAX_THREADS)
        bad_flag("--tp", NULL, "ranks x threads exceeds 256");
}

int main(int argc, char **argv)
{
    bench b;
    row *rows;
    size_t nrows = 0, i;
    int modes[M_COUNT], nmodes = 0, rc = 0, mi;
    unsigned ti;
    char tmpl[PATH_MAX];
    const char *tmproot = getenv("TMPDIR");
    double t_start = now_s();
    const char *where;
    char pdir[PATH_MAX];

    memset(&b, 0, sizeof b);
    parse_args(argc, argv, &b.o);
    g_seed = b.o.seed;
    if (bs_block() != 0) /* before any thread starts: every thread inherits the mask */
        die2("cannot block signals");

    /* where: --dir must exist; --file's directory must exist */
    if (b.o.dir != NULL) {
        struct stat st;
        if (stat(b.o.dir, &st) != 0)
            die2("--dir %s: %s", b.o.dir, strerror(errno));
        if (!S_ISDIR(st.st_mode))
            die2("--dir %s: not a directory", b.o.dir);
        fmt(b.dir, sizeof b.dir, "%s", b.o.dir);
    } else {
        if (tmproot == NULL || tmproot[0] == '\0')
            tmproot = "/tmp";
        if (strlen(tmproot) + sizeof "/kvbench.XXXXXX" > sizeof tmpl)
            die2("TMPDIR %s: path too long", tmproot);
        fmt(tmpl, sizeof tmpl, "%s/kvbench.XXXXXX", tmproot);
        if (mkdtemp(tmpl) == NULL)
            die2("cannot create a temporary directory in %s: %s", tmproot, strerror(errno));
        fmt(b.dir, sizeof b.dir, "%s", tmpl);
        fmt(g_tmpdir, sizeof g_tmpdir, "%s", tmpl);
        b.tmpdir = 1;
    }
    if (bs_start(on_signal) != 0) /* after g_tmpdir is set, before any other thread */
        die2("cannot create a thread");
    if (b.o.file != NULL) {
        struct stat st;
        parent_dir(b.o.file, pdir, sizeof pdir);
        if (stat(pdir, &st) != 0 || !S_ISDIR(st.st_mode))
            die2("--file %s: directory %s does not exist", b.o.file, pdir);
        if (stat(b.o.file, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
            die2("--file %s: not a regular file or block device", b.o.file);
        if (b.o.existing && stat(b.o.file, &st) != 0)
            die2("--file %s: %s (--existing needs the file an earlier --keep run left)", b.o.file, strerror(errno));
    }

    if (b.o.mode >= 0) {
        modes[nmodes++] = b.o.mode;
    } else {
        modes[nmodes++] = M_IO;
        modes[nmodes++] = M_RAW;
        modes[nmodes++] = M_FS;
    }

    /* checks before anything is written */
    for (mi = 0; mi < nmodes; mi++) {
        int uses_file = modes[mi] == M_IO || modes[mi] == M_RAW || modes[mi] == M_LRAW;
        where = uses_file && b.o.file ? pdir : b.dir;
        if (on_tmpfs(where) && !b.tmpfs_noted) {
            b.tmpfs_noted = 1;
            fprintf(stderr, "kvbench: note: %s is on tmpfs: these figures measure memory, not a disk (pick a "
                            "disk's filesystem with --dir/--file, or TMPDIR=... make bench)\n",
                    where);
        }
        if (b.o.policy == KVS_DIRECT_REQUIRE && !probe_direct(where)) {
            if (b.tmpdir)
                rm_tree(b.dir);
            die2("%s: this filesystem refuses O_DIRECT and --direct requires it; use --buffered (or no flag: "
                 "prefer direct, fall back and say so)",
                 where);
        }
    }
    if (!b.o.existing) {
        uint64_t need = 0; /* device files stay until the end: count every mode */
        for (mi = 0; mi < nmodes; mi++)
            need += bytes_needed(&b.o, modes[mi]);
        check_space(b.o.file ? pdir : b.dir, need);
    }

    make_fill(b.o.len);
#ifdef MAP_HUGETLB
    if (b.o.hugetlb) { /* the pool must hold every worker's buffers at once */
        unsigned tmax = 0;
        size_t need;
        void *p;
        for (ti = 0; ti < b.o.nthreads_list; ti++)
            tmax = b.o.threads_list[ti] > tmax ? b.o.threads_list[ti] : tmax;
        need = (size_t)(b.o.tp ? b.o.tp : 1) * tmax * (b.o.batch > 0 ? b.o.batch : 1) * buf_bytes(&b.o, b.o.len);
        p = buf_alloc(&b.o, need);
        if (p == NULL) {
            int e = errno; /* before rm_tree */
            if (b.tmpdir)
                rm_tree(b.dir);
            die2("--mem hugetlb: %zu huge pages of 2 MiB are needed and the pool cannot give them (%s); "
                 "as root: echo N > /proc/sys/vm/nr_hugepages",
                 need / KVB_HUGE, strerror(e));
        }
        buf_free(&b.o, (unsigned char *)p, need);
    }
#endif
    rows = (row *)calloc((size_t)nmodes * b.o.nthreads_list * 2 + 1, sizeof *rows);
    if (rows == NULL)
        die2("out of memory");

    if (!b.o.json) {
        char sz[32];
        fmt_bytes(b.o.size, sz, sizeof sz);
        char tl[48] = "";
        if (b.o.tail)
            fmt(tl, sizeof tl, " + %zu B tail", b.o.tail);
        printf("kvbench: %llu objects of %s%s%s x %u rank%s, %s I/O%s, verify %s%s, in %s%s\n",
               (unsigned long long)b.o.count, sz, tl, "", b.o.tp, b.o.tp > 1 ? "s" : "",
               b.o.policy == KVS_DIRECT_REQUIRE ? "direct" : b.o.policy == KVS_DIRECT_OFF ? "buffered" : "prefer-direct",
               b.o.durability == KVS_DURABLE_NONE ? "" : b.o.durability == KVS_DURABLE_DATA ? ", durability data" : ", durability full",
               b.o.verify == V_FULL ? "full" : "stamps", b.o.reopen ? ", handles reopened before the reads" : "",
               b.o.file && (b.o.mode == M_IO || b.o.mode == M_RAW || b.o.mode == M_LRAW) ? b.o.file : b.dir,
               b.tmpdir ? " (temporary)" : "");
    }

    if (b.o.op == OP_RESTART) {
        b.mode = b.o.mode;
        b.threads = b.o.threads_list[0];
        rc = run_restart(&b);
        bail(rc); /* removes the temporary directory */
    }

    for (ti = 0; ti < b.o.nthreads_list && rc == 0; ti++) {
        for (mi = 0; mi < nmodes && rc == 0; mi++) {
            b.mode = modes[mi];
            b.threads = b.o.threads_list[ti];
            rc = run_config(&b, rows, &nrows);
        }
    }

    if (!b.o.json && nrows > 0) {
        int with_ref = b.o.mode < 0;
        printf("\n");
        print_header(with_ref);
        for (i = 0; i < nrows; i++) {
            double ref = 0;
            size_t j;
            for (j = 0; j < nrows; j++)
                if (rows[j].mode == M_IO && rows[j].threads == rows[i].threads && rows[j].pr.kind == rows[i].pr.kind)
                    ref = (double)rows[j].pr.bytes / rows[j].pr.seconds / 1e9;
            print_row(&rows[i], ref, with_ref);
        }
        printf("\n");
        printf("GB/s = 1e9 bytes/s of object payload; latency per %s; CPU s/GB = process CPU time (all threads) per\n"
               "GB moved; bounce = bytes copied through an aligned buffer; io = what was used (buf(fb): O_DIRECT\n"
               "refused, fell back). cache: cold = page cache dropped before the read phase; warm = it was not\n",
               b.o.batch > 1 ? "call (a batch)" : "object");
        printf("(needs root; --no-drop), buffered reads may come from memory; - = O_DIRECT reads, not dropped.%s\n",
               with_ref ? " vs io = GB/s over the io layer's at the same threads and op." : "");
        if (b.drop_denied)
            printf("note: the page cache could not be dropped (not root): read figures are labelled warm.\n");
        if (b.tmpfs_noted)
            printf("note: the files were on tmpfs: every figure above measures memory, not a disk.\n");
        for (i = 0; i < nrows; i++)
            if (rows[i].pr.skipped) {
                printf("puts skipped: legacy-fsconn found the key already stored (a stat, nothing written); not\n"
                       "counted in GB/s or objects/s.\n");
                break;
            }
        printf("total %.1f s; every object read was verified (--verify %s: %s), inside the timed read\n"
               "phases: their GB/s include the check.%s\n",
               now_s() - t_start, b.o.verify == V_FULL ? "full" : "stamps",
               b.o.verify == V_FULL ? "every byte" : "8 bytes per 4 KiB",
               b.o.reopen ? " Handles were closed and reopened between the put/fill and the reads." : "");
    }
    if (!b.o.keep)
        for (mi = 0; mi < nmodes; mi++) {
            b.mode = modes[mi];
            b.o.tp = b.o.tp ? b.o.tp : 1;
            for (ti = 0; ti < b.o.tp; ti++) {
                char p[PATH_MAX];
                if (b.mode == M_IO || b.mode == M_RAW || b.mode == M_LRAW) {
                    file_of(&b, ti, p, sizeof p);
                    (void)unlink(p);
                }
            }
        }
    if (b.tmpdir && !b.o.keep)
        rm_tree(b.dir);
    else if (b.tmpdir)
        fprintf(stderr, "kvbench: kept %s\n", b.dir);
    free(rows);
    free(g_fill);
    (void)pthread_mutex_lock(&g_exit_lock); /* a signal being handled decides the exit status */
    return rc;
}
