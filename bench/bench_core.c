/* SPDX-License-Identifier: MIT OR Unlicense */
/* bench_core: throughput of the portable core, compared with memcpy.
     FNV-1a 64 and CRC32C (software, and the hardware path when compiled in)
     in GB/s on 16 MiB, 1 MiB, 4 KiB and 256-byte buffers; filename encode and
     decode and shard decisions over 8 paths for a 100-byte key, in ns/op.
   Every figure is the median of 9 runs. Build: cc -O2 [-march=native] -I.
   bench/bench_core.c -o build/bench_core. Not a test: it checks nothing. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 9

static double now_s(void)
{
    return (double)clock() / CLOCKS_PER_SEC;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof v[0], cmp_double);
    return v[RUNS / 2];
}

static volatile uint64_t sink; /* keeps results alive */

enum { K_MEMCPY, K_FNV, K_CRC_SW, K_CRC };

/* Bytes per second of one kernel over buf (len bytes), repeated to fill
   about 0.1 s per run. */
static double rate(int kind, unsigned char *dst, const unsigned char *buf, size_t len)
{
    double t[RUNS];
    size_t reps = ((size_t)64 << 20) / len + 1, r;
    int run;
    for (run = 0; run < RUNS; run++) {
        double t0 = now_s();
        for (r = 0; r < reps; r++) {
            switch (kind) {
            case K_MEMCPY: memcpy(dst, buf, len); sink += dst[r % len]; break;
            case K_FNV: sink += kvs_fnv1a64(buf, len); break;
            case K_CRC_SW: sink += kvs_crc32c_sw(0, buf, len); break;
            default: sink += kvs_crc32c(0, buf, len); break;
            }
        }
        t[run] = (double)reps * (double)len / (now_s() - t0 + 1e-9);
    }
    return median(t);
}

/* Nanoseconds per call of one small operation. */
enum { OP_ENCODE, OP_DECODE, OP_RENDEZVOUS, OP_MOD };

static double ns_per_op(int op, const unsigned char *key, size_t klen, const char *name, size_t nlen,
                        const uint64_t *ids)
{
    double t[RUNS];
    const long reps = 200000;
    long r;
    int run;
    char out[KVS_FSNAME_MAX + 1];
    unsigned char back[KVS_KEY_MAX];
    size_t n, idx;
    for (run = 0; run < RUNS; run++) {
        double t0 = now_s();
        for (r = 0; r < reps; r++) {
            switch (op) {
            case OP_ENCODE: kvs_fsname_encode(key, klen, out, sizeof out, &n, NULL); sink += n; break;
            case OP_DECODE: kvs_fsname_decode(name, nlen, back, sizeof back, &n, NULL); sink += n; break;
            case OP_RENDEZVOUS:
                kvs_shard_pick(KVS_SHARD_RENDEZVOUS, key, klen, ids, 8, 0, &idx);
                sink += idx;
                break;
            default: kvs_shard_pick(KVS_SHARD_MOD, key, klen, ids, 8, 0, &idx); sink += idx; break;
            }
        }
        t[run] = (now_s() - t0) * 1e9 / (double)reps;
    }
    return median(t);
}

int main(void)
{
    static const size_t sizes[] = {(size_t)16 << 20, (size_t)1 << 20, 4096, 256};
    static const char *names[] = {"16 MiB", "1 MiB", "4 KiB", "256 B"};
    unsigned char *buf, *dst, key[100];
    char name[KVS_FSNAME_MAX + 1];
    uint64_t ids[8];
    size_t i, nlen;
    int hw = kvs_crc32c_hw_available();

    buf = (unsigned char *)malloc(sizes[0]);
    dst = (unsigned char *)malloc(sizes[0]);
    if (buf == NULL || dst == NULL)
        return 1;
    for (i = 0; i < sizes[0]; i++)
        buf[i] = (unsigned char)(i * 2654435761u >> 13);
    memset(dst, 1, sizes[0]);

    printf("bench_core (kvstore %s), CRC32C path: %s; medians of %d runs\n", kvs_version_string(),
           kvs_crc32c_impl(), RUNS);
    printf("%-8s %10s %10s %12s %12s %14s\n", "buffer", "memcpy", "fnv1a64", "crc32c_sw",
           "crc32c", "crc32c/memcpy");
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double m = rate(K_MEMCPY, dst, buf, sizes[i]), f = rate(K_FNV, dst, buf, sizes[i]);
        double s = rate(K_CRC_SW, dst, buf, sizes[i]), c = hw ? rate(K_CRC, dst, buf, sizes[i]) : s;
        printf("%-8s %7.2f GB/s %5.2f GB/s %7.2f GB/s %7.2f GB/s %13.2f\n", names[i], m / 1e9, f / 1e9,
               s / 1e9, c / 1e9, c / m);
    }

    for (i = 0; i < sizeof key; i++) /* a realistic key: mostly literal, some escapes */
        key[i] = (unsigned char)(i % 10 == 9 ? '@' : 'a' + i % 26);
    for (i = 0; i < 8; i++)
        ids[i] = kvs_mix64(i + 1);
    kvs_fsname_encode(key, sizeof key, name, sizeof name, &nlen, NULL);
    printf("100-byte key, 8 paths (ns per operation):\n");
    printf("  fsname encode     %7.1f ns\n", ns_per_op(OP_ENCODE, key, sizeof key, name, nlen, ids));
    printf("  fsname decode     %7.1f ns\n", ns_per_op(OP_DECODE, key, sizeof key, name, nlen, ids));
    printf("  shard rendezvous  %7.1f ns\n", ns_per_op(OP_RENDEZVOUS, key, sizeof key, name, nlen, ids));
    printf("  shard mod         %7.1f ns\n", ns_per_op(OP_MOD, key, sizeof key, name, nlen, ids));
    free(buf);
    free(dst);
    return 0;
}
