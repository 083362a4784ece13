/* SPDX-License-Identifier: MIT OR Unlicense */
/* readcheck: what looking at the data costs a direct reader on this machine.

   fio's read jobs never touch the bytes they read; a kvstore get checks
   every byte's CRC32C before it returns them. This program has no kvstore
   I/O code in it: it reads --count objects of --size bytes from --file with
   O_DIRECT pread into one buffer reused for every read (as fio and kvbench
   do), in three modes, interleaved round by round in a rotating order:

     read         pread only (what fio does)
     check        pread, then kvs_crc32c over the buffer just read (what a
                  get does after its read)
     check-other  pread, then kvs_crc32c over another buffer of the same
                  size: the same CPU work, the read buffer left untouched

   Per mode it prints the median over the rounds of the throughput (and
   the slowest and fastest round, and how many rounds ran below 0.75 of the
   read mode's median), of the mean time of one pread and of the mean time
   of one check. When "check" reads slower than "check-other",
   the time is not the CRC's: it is the next read landing in a buffer the
   CPU has just read.

   --threads T (1 to 8): T threads per round, each with its own two
   buffers, reading objects t, t + T, ... of the round's --count. At 2
   threads on the development VM "check" has slow rounds (about half the
   throughput) that "read" and "check-other" never have
   (docs/BENCHMARKS.md, session 7).

   Usage: readcheck [--file PATH] [--size B] [--count N] [--rounds R]
                    [--threads T] [--mem hugetlb|page] [--json]
   Defaults: $TMPDIR/kvs-readcheck.dat (/tmp when TMPDIR is unset or
   empty), 256K, 1024 objects, 9 rounds, both buffers on 2 MiB huge pages
   when the hugetlb pool can give them (one DMA segment per 2 MiB, as fio
   --iomem=mmaphuge), else on 4 KiB pages, said.
   The file is created (a pattern, written and synced) when it is missing,
   and kept for the next run. readcheck never writes over something it did
   not make: a --file that exists must be a regular file of at least size *
   count bytes (it is only read), or the run stops with exit 2; only the
   default file is rewritten when it is too short. Exit 0, 1 on an I/O
   error, 2 on a usage error.
   Build: cc -O2 -march=native -I. bench/readcheck.c -o build/readcheck -pthread */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_DIRECT, MAP_HUGETLB */
#endif
#define KVS_IMPLEMENTATION
#include "kvstore.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 1000
#define MAX_THREADS 8
#define NMODES 3
#define HUGE_PAGE ((size_t)2 << 20)

static const char *const mode_name[NMODES] = {"read", "check", "check-other"};

typedef struct buffer {
    unsigned char *p;
    size_t bytes;
    int huge;
} buffer;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void usage_exit(const char *why)
{
    fprintf(stderr, "readcheck: %s\n", why);
    fprintf(stderr, "usage: readcheck [--file PATH] [--size B] [--count N] [--rounds R]\n"
                    "                 [--threads T] [--mem hugetlb|page] [--json]\n");
    exit(2);
}

/* 256K, 2M, 4096: a byte count with an optional K/M/G suffix (powers of 2) */
static size_t parse_size(const char *s)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;
    if (*s < '0' || *s > '9')
        usage_exit("--size: not a number");
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        usage_exit("--size: not a number");
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift != 0) {
        end++;
        if (v > (1ULL << 30) >> shift) /* above the limit, and the shift could wrap */
            usage_exit("--size: a multiple of 4096 from 4K to 1G");
        v <<= shift;
    }
    if (*end != '\0' || v == 0 || v % 4096 != 0 || v > ((unsigned long long)1 << 30))
        usage_exit("--size: a multiple of 4096 from 4K to 1G");
    return (size_t)v;
}

static long parse_count(const char *s, long lo, long hi, const char *what)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        usage_exit(what);
    return v;
}

static int buf_alloc(buffer *b, size_t size, int want_huge)
{
    void *p = NULL;
    b->huge = 0;
#ifdef MAP_HUGETLB
    if (want_huge) {
        b->bytes = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        p = mmap(NULL, b->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
        if (p != MAP_FAILED) {
            b->p = (unsigned char *)p;
            b->huge = 1;
            memset(b->p, 0x5a, b->bytes);
            return 0;
        }
    }
#else
    (void)want_huge;
#endif
    b->bytes = size;
    if (kvs_aligned_alloc(NULL, size, 4096, &p) != KVS_OK)
        return -1;
    b->p = (unsigned char *)p;
    memset(b->p, 0x5a, b->bytes);
    return 0;
}

static void buf_free(buffer *b)
{
    if (b->p == NULL)
        return;
    if (b->huge)
        (void)munmap(b->p, b->bytes);
    else
        kvs_aligned_free(NULL, b->p, b->bytes, 4096);
    b->p = NULL;
}

/* The file holds at least need bytes: 0. Missing (or the default file and
   too short): written with a pattern and synced, 0; -1 on an I/O error. An
   existing --file is only ever read: not a regular file, or too short, is
   a usage error (2), so a device or someone's data is never written over. */
static int ensure_file(const char *path, unsigned long long need, int given)
{
    struct stat st;
    unsigned char *chunk;
    unsigned long long off;
    size_t i, n = (size_t)1 << 20;
    int fd;
    if (lstat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            fprintf(stderr, "readcheck: %s: not a regular file (readcheck reads a file it made, or one "
                            "you name of at least size * count bytes)\n", path);
            return 2;
        }
        if ((unsigned long long)st.st_size >= need)
            return 0;
        if (given) {
            fprintf(stderr, "readcheck: %s: %llu bytes, the run needs %llu; it is not written over "
                            "(name a new path, or a longer file)\n", path, (unsigned long long)st.st_size, need);
            return 2;
        }
    } else if (errno != ENOENT) {
        fprintf(stderr, "readcheck: %s: %s\n", path, strerror(errno));
        return 1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        fprintf(stderr, "readcheck: %s: %s\n", path, strerror(errno));
        return 1;
    }
    chunk = (unsigned char *)malloc(n);
    if (chunk == NULL) {
        close(fd);
        fprintf(stderr, "readcheck: out of memory\n");
        return 1;
    }
    for (off = 0; off < need; off += n) {
        size_t len = need - off < n ? (size_t)(need - off) : n, done = 0;
        for (i = 0; i < len; i++)
            chunk[i] = (unsigned char)((off + i) * 131u >> 3);
        while (done < len) {
            ssize_t w = pwrite(fd, chunk + done, len - done, (off_t)(off + done));
            if (w <= 0) {
                fprintf(stderr, "readcheck: writing %s: %s\n", path, w < 0 ? strerror(errno) : "no progress");
                free(chunk);
                close(fd);
                return 1;
            }
            done += (size_t)w;
        }
    }
    free(chunk);
    if (fsync(fd) != 0 || close(fd) != 0) {
        fprintf(stderr, "readcheck: syncing %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double gbps[NMODES][MAX_ROUNDS], read_us[NMODES][MAX_ROUNDS], check_us[NMODES][MAX_ROUNDS];

/* One thread of a round: objects first, first + step, ... below count. */
typedef struct worker {
    int fd, mode, rc;
    size_t size;
    long first, step, count, n;
    buffer rb, ob;
    double tr, tc;     /* seconds in pread, in the check */
    uint32_t sink;
} worker;

static void *work(void *arg)
{
    worker *w = (worker *)arg;
    long i;
    w->tr = w->tc = 0;
    w->n = 0;
    for (i = w->first; i < w->count; i += w->step) {
        double s0 = now_s(), s1;
        ssize_t got = pread(w->fd, w->rb.p, w->size, (off_t)((unsigned long long)i * w->size));
        if (got != (ssize_t)w->size) {
            fprintf(stderr, "readcheck: pread at %llu: %s\n", (unsigned long long)i * w->size,
                    got < 0 ? strerror(errno) : "short read");
            w->rc = 1;
            break;
        }
        s1 = now_s();
        w->tr += s1 - s0;
        if (w->mode == 1)
            w->sink ^= kvs_crc32c(0, w->rb.p, w->size);
        else if (w->mode == 2)
            w->sink ^= kvs_crc32c(0, w->ob.p, w->size);
        w->tc += now_s() - s1;
        w->n++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *tmproot = getenv("TMPDIR");
    char defpath[4096];
    size_t size = (size_t)256 << 10;
    long count = 1024, rounds = 9, nthreads = 1, t;
    int want_huge = 1, json = 0, path_given = 0, huge = 1, fd, a, r, k, rc = 0;
    static worker ws[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    uint32_t sink = 0;
    double ref;

    for (a = 1; a < argc; a++) {
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!strcmp(argv[a], "--json")) {
            json = 1;
            continue;
        }
        if (v == NULL)
            usage_exit("missing value or unknown flag");
        if (!strcmp(argv[a], "--file")) {
            path = v;
            path_given = 1;
        } else if (!strcmp(argv[a], "--size"))
            size = parse_size(v);
        else if (!strcmp(argv[a], "--count"))
            count = parse_count(v, 1, 1L << 20, "--count: 1 to 1048576");
        else if (!strcmp(argv[a], "--rounds"))
            rounds = parse_count(v, 1, MAX_ROUNDS, "--rounds: 1 to 1000");
        else if (!strcmp(argv[a], "--threads"))
            nthreads = parse_count(v, 1, MAX_THREADS, "--threads: 1 to 8");
        else if (!strcmp(argv[a], "--mem") && (!strcmp(v, "hugetlb") || !strcmp(v, "page")))
            want_huge = !strcmp(v, "hugetlb");
        else
            usage_exit("unknown flag or value");
        a++;
    }
    if (nthreads > count)
        usage_exit("--threads: at most --count");
    if (path == NULL) {
        if (tmproot == NULL || tmproot[0] == '\0')
            tmproot = "/tmp";
        if (strlen(tmproot) + sizeof "/kvs-readcheck.dat" > sizeof defpath)
            usage_exit("TMPDIR: path too long");
        snprintf(defpath, sizeof defpath, "%s/kvs-readcheck.dat", tmproot);
        path = defpath;
    }
    rc = ensure_file(path, (unsigned long long)size * (unsigned long long)count, path_given);
    if (rc != 0)
        return rc;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
    if (fd < 0) {
        fprintf(stderr, "readcheck: %s: O_DIRECT open: %s\n", path, strerror(errno));
        return 1;
    }
    /* every buffer of one kind, or the comparison is not like for like */
    for (t = 0; t < nthreads && rc == 0; t++)
        if (buf_alloc(&ws[t].rb, size, want_huge) != 0 || buf_alloc(&ws[t].ob, size, want_huge) != 0)
            rc = 1;
    for (t = 0; t < nthreads && rc == 0; t++)
        huge &= ws[t].rb.huge & ws[t].ob.huge;
    if (rc == 0 && want_huge && !huge) {
        for (t = 0; t < nthreads; t++) {
            buf_free(&ws[t].rb);
            buf_free(&ws[t].ob);
        }
        for (t = 0; t < nthreads && rc == 0; t++)
            if (buf_alloc(&ws[t].rb, size, 0) != 0 || buf_alloc(&ws[t].ob, size, 0) != 0)
                rc = 1;
        fprintf(stderr, "readcheck: the hugetlb pool could not give the buffers; on 4 KiB pages "
                        "(as root: echo N > /proc/sys/vm/nr_hugepages)\n");
    }
    if (!want_huge)
        huge = 0;
    if (rc != 0) {
        fprintf(stderr, "readcheck: out of memory\n");
        for (t = 0; t < nthreads; t++) {
            buf_free(&ws[t].rb);
            buf_free(&ws[t].ob);
        }
        close(fd);
        return 1;
    }

    for (r = 0; r < rounds && rc == 0; r++) {
        for (k = 0; k < NMODES && rc == 0; k++) {
            int m = (k + r) % NMODES;
            double t0 = now_s(), tr = 0, tc = 0;
            long n = 0, started;
            for (t = 0; t < nthreads; t++) {
                ws[t].fd = fd;
                ws[t].mode = m;
                ws[t].size = size;
                ws[t].first = t;
                ws[t].step = nthreads;
                ws[t].count = count;
                ws[t].rc = 0;
            }
            for (started = 0; started < nthreads; started++)
                if (pthread_create(&th[started], NULL, work, &ws[started]) != 0)
                    break;
            for (t = 0; t < started; t++)
                (void)pthread_join(th[t], NULL);
            if (started < nthreads) {
                fprintf(stderr, "readcheck: cannot start %ld threads\n", nthreads);
                rc = 1;
            }
            for (t = 0; t < started; t++) {
                rc |= ws[t].rc;
                tr += ws[t].tr;
                tc += ws[t].tc;
                n += ws[t].n;
                sink ^= ws[t].sink;
            }
            gbps[m][r] = (double)size * (double)count / (now_s() - t0) / 1e9;
            read_us[m][r] = n > 0 ? tr / (double)n * 1e6 : 0;
            check_us[m][r] = n > 0 ? tc / (double)n * 1e6 : 0;
        }
    }
    close(fd);
    for (t = 0; t < nthreads; t++) {
        buf_free(&ws[t].rb);
        buf_free(&ws[t].ob);
    }
    if (rc != 0)
        return rc;

    if (!json)
        printf("readcheck: %s, %zu B x %ld, %ld rounds, %ld thread%s, %s buffers, CRC32C %s\n"
               "  (per mode: median GB/s of the rounds [slowest-fastest], rounds below 0.75 of read's median,\n"
               "   median over the rounds of the mean pread and check times)\n",
               path, size, count, rounds, nthreads, nthreads > 1 ? "s" : "", huge ? "hugetlb" : "page",
               kvs_crc32c_impl());
    ref = median(gbps[0], (int)rounds); /* "read" */
    for (k = 0; k < NMODES; k++) {
        double g = median(gbps[k], (int)rounds), ru = median(read_us[k], (int)rounds);
        long slow = 0;
        double cu = median(check_us[k], (int)rounds);
        double gmin = gbps[k][0], gmax = gbps[k][rounds - 1]; /* sorted by median() */
        for (r = 0; r < rounds; r++)
            slow += gbps[k][r] < 0.75 * ref;
        if (json)
            printf("{\"tool\":\"readcheck\",\"mode\":\"%s\",\"size\":%zu,\"count\":%ld,\"rounds\":%ld,"
                   "\"threads\":%ld,\"mem\":\"%s\",\"crc32c\":\"%s\",\"gbps\":%.4f,\"gbps_min\":%.4f,"
                   "\"gbps_max\":%.4f,\"slow_rounds\":%ld,\"read_us\":%.1f,\"check_us\":%.1f}\n",
                   mode_name[k], size, count, rounds, nthreads, huge ? "hugetlb" : "page", kvs_crc32c_impl(), g, gmin,
                   gmax, slow, ru, cu);
        else
            printf("  %-12s %7.3f GB/s [%.3f-%.3f] %3ld slow   read %8.1f us   check %7.1f us\n", mode_name[k], g,
                   gmin, gmax, slow, ru, cu);
    }
    if (sink == 0x5eed5eedu) /* keeps the checks from being optimised away */
        fprintf(stderr, "readcheck: (sink)\n");
    return 0;
}
