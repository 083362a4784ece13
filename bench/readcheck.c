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

   Per mode it prints the median over the rounds of the throughput, of the
   mean time of one pread and of the mean time of one check. When "check"
   reads slower than "check-other", the time is not the CRC's: it is the
   next read landing in a buffer the CPU has just read.

   Usage: readcheck [--file PATH] [--size B] [--count N] [--rounds R]
                    [--mem hugetlb|page] [--json]
   Defaults: /tmp/kvs-readcheck.dat, 256K, 1024 objects, 9 rounds, both
   buffers on 2 MiB huge pages when the hugetlb pool can give them (one DMA
   segment per 2 MiB, as fio --iomem=mmaphuge), else on 4 KiB pages, said.
   The file is created (a pattern, written and synced) when it is missing,
   and kept for the next run. readcheck never writes over something it did
   not make: a --file that exists must be a regular file of at least size *
   count bytes (it is only read), or the run stops with exit 2; only the
   default file is rewritten when it is too short. Exit 0, 1 on an I/O
   error, 2 on a usage error.
   Build: cc -O2 -march=native -I. bench/readcheck.c -o build/readcheck */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_DIRECT, MAP_HUGETLB */
#endif
#define KVS_IMPLEMENTATION
#include "kvstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 1000
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
                    "                 [--mem hugetlb|page] [--json]\n");
    exit(2);
}

/* 256K, 2M, 4096: a byte count with an optional K/M/G suffix (powers of 2) */
static size_t parse_size(const char *s)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        usage_exit("--size: not a number");
    if (*end == 'K' || *end == 'k') {
        v <<= 10;
        end++;
    } else if (*end == 'M' || *end == 'm') {
        v <<= 20;
        end++;
    } else if (*end == 'G' || *end == 'g') {
        v <<= 30;
        end++;
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

int main(int argc, char **argv)
{
    const char *path = "/tmp/kvs-readcheck.dat";
    size_t size = (size_t)256 << 10;
    long count = 1024, rounds = 9, i;
    int want_huge = 1, json = 0, path_given = 0, huge, fd, a, r, k, rc = 0;
    buffer rb = {NULL, 0, 0}, ob = {NULL, 0, 0};
    volatile uint32_t sink = 0;

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
        else if (!strcmp(argv[a], "--mem") && (!strcmp(v, "hugetlb") || !strcmp(v, "page")))
            want_huge = !strcmp(v, "hugetlb");
        else
            usage_exit("unknown flag or value");
        a++;
    }
    rc = ensure_file(path, (unsigned long long)size * (unsigned long long)count, path_given);
    if (rc != 0)
        return rc;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
    if (fd < 0) {
        fprintf(stderr, "readcheck: %s: O_DIRECT open: %s\n", path, strerror(errno));
        return 1;
    }
    /* both buffers of one kind, or the comparison is not like for like */
    if (buf_alloc(&rb, size, want_huge) == 0 && buf_alloc(&ob, size, want_huge) == 0 && rb.huge != ob.huge) {
        buf_free(&rb);
        buf_free(&ob);
        want_huge = 0;
        (void)(buf_alloc(&rb, size, 0) == 0 && buf_alloc(&ob, size, 0) == 0);
    }
    if (rb.p == NULL || ob.p == NULL) {
        fprintf(stderr, "readcheck: out of memory\n");
        buf_free(&rb);
        close(fd);
        return 1;
    }
    huge = rb.huge;
    if (want_huge && !huge)
        fprintf(stderr, "readcheck: the hugetlb pool could not give the buffers; on 4 KiB pages "
                        "(as root: echo N > /proc/sys/vm/nr_hugepages)\n");

    for (r = 0; r < rounds && rc == 0; r++) {
        for (k = 0; k < NMODES && rc == 0; k++) {
            int m = (k + r) % NMODES;
            double t0 = now_s(), tr = 0, tc = 0;
            for (i = 0; i < count; i++) {
                double s0 = now_s(), s1;
                ssize_t got = pread(fd, rb.p, size, (off_t)((unsigned long long)i * size));
                if (got != (ssize_t)size) {
                    fprintf(stderr, "readcheck: pread at %llu: %s\n", (unsigned long long)i * size,
                            got < 0 ? strerror(errno) : "short read");
                    rc = 1;
                    break;
                }
                s1 = now_s();
                tr += s1 - s0;
                if (m == 1)
                    sink ^= kvs_crc32c(0, rb.p, size);
                else if (m == 2)
                    sink ^= kvs_crc32c(0, ob.p, size);
                tc += now_s() - s1;
            }
            gbps[m][r] = (double)size * (double)count / (now_s() - t0) / 1e9;
            read_us[m][r] = tr / (double)count * 1e6;
            check_us[m][r] = tc / (double)count * 1e6;
        }
    }
    close(fd);
    buf_free(&rb);
    buf_free(&ob);
    if (rc != 0)
        return rc;

    if (!json)
        printf("readcheck: %s, %zu B x %ld, %ld rounds, %s buffers, CRC32C %s\n", path, size, count, rounds,
               huge ? "hugetlb" : "page", kvs_crc32c_impl());
    for (k = 0; k < NMODES; k++) {
        double g = median(gbps[k], (int)rounds), ru = median(read_us[k], (int)rounds);
        double cu = median(check_us[k], (int)rounds);
        if (json)
            printf("{\"tool\":\"readcheck\",\"mode\":\"%s\",\"size\":%zu,\"count\":%ld,\"rounds\":%ld,"
                   "\"mem\":\"%s\",\"crc32c\":\"%s\",\"gbps\":%.4f,\"read_us\":%.1f,\"check_us\":%.1f}\n",
                   mode_name[k], size, count, rounds, huge ? "hugetlb" : "page", kvs_crc32c_impl(), g, ru, cu);
        else
            printf("  %-12s %7.3f GB/s   read %8.1f us   check %7.1f us   (medians)\n", mode_name[k], g, ru, cu);
    }
    (void)sink;
    return 0;
}
