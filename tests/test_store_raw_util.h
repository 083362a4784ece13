/* SPDX-License-Identifier: MIT OR Unlicense */
/* Helpers of the raw-store tests (included after kvstore_posix.c); the
   generic harness is tests/test_util.h. */
#ifndef TEST_STORE_RAW_UTIL_H
#define TEST_STORE_RAW_UTIL_H
#include "test_util.h"
#include "test_store_jobs.h"

/* Deterministic content of (key id, version): verifiable without storing it. */
T_FN void fill_obj(unsigned char *p, size_t n, uint64_t id, uint64_t ver)
{
    uint64_t s = id * 0x100000001b3ULL ^ ver ^ t_seed;
    size_t i;
    for (i = 0; i < n; i++) {
        if ((i & 7) == 0)
            s = t_rng_next(&s);
        p[i] = (unsigned char)(s >> ((i & 7) * 8));
    }
}

/* A raw config on one file. */
T_FN void raw_cfg(kvs_store_config *c, const char *path, uint64_t dev, uint64_t payload,
                    kvs_direct_policy direct)
{
    kvs_store_config_init(c);
    c->kind = KVS_STORE_RAW;
    c->paths = path;
    c->format = KVS_FORMAT_IF_EMPTY;
    c->device_bytes = dev;
    c->slot_payload_bytes = payload;
    c->direct = direct;
    c->threads = 2;
}

/* Flip one byte of a file at off. */
T_FN int poke(const char *path, uint64_t off, unsigned char x)
{
    int fd = open(path, O_RDWR);
    unsigned char b;
    int ok;
    if (fd < 0)
        return -1;
    ok = pread(fd, &b, 1, (off_t)off) == 1;
    b ^= x;
    ok = ok && pwrite(fd, &b, 1, (off_t)off) == 1;
    close(fd);
    return ok ? 0 : -1;
}

T_FN int zero_range(const char *path, uint64_t off, size_t n)
{
    int fd = open(path, O_RDWR);
    unsigned char z[4096];
    int ok = 1;
    if (fd < 0)
        return -1;
    memset(z, 0, sizeof z);
    while (n > 0 && ok) {
        size_t k = n < sizeof z ? n : sizeof z;
        ok = pwrite(fd, z, k, (off_t)off) == (ssize_t)k;
        off += k;
        n -= k;
    }
    close(fd);
    return ok ? 0 : -1;
}

T_FN int read_at(const char *path, uint64_t off, void *buf, size_t n)
{
    int fd = open(path, O_RDONLY);
    int ok;
    if (fd < 0)
        return -1;
    ok = pread(fd, buf, n, (off_t)off) == (ssize_t)n;
    close(fd);
    return ok ? 0 : -1;
}

/* Copies n bytes at off of file `from` to the same offset of file `to`
   (a record of one store into another of the same geometry). */
T_FN int copy_at(const char *from, const char *to, uint64_t off, size_t n)
{
    int a = open(from, O_RDONLY), b = open(to, O_WRONLY);
    unsigned char buf[65536];
    int ok = a >= 0 && b >= 0;
    while (n > 0 && ok) {
        size_t k = n < sizeof buf ? n : sizeof buf;
        ok = pread(a, buf, k, (off_t)off) == (ssize_t)k && pwrite(b, buf, k, (off_t)off) == (ssize_t)k;
        off += k;
        n -= k;
    }
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
    return ok ? 0 : -1;
}

/* Layout of the store file, from its superblock. */
T_FN int file_layout(const char *path, kvs_layout *l)
{
    unsigned char b[256];
    kvs_superblock sb;
    if (read_at(path, 0, b, sizeof b) != 0 || kvs_superblock_decode(b, sizeof b, &sb) != KVS_OK)
        return -1;
    return kvs_layout_compute(sb.device_bytes, sb.align, sb.meta_bytes, sb.slot_bytes, l, NULL, 0) == KVS_OK ? 0 : -1;
}

T_FN void keyname(char *k, size_t cap, uint64_t id)
{
    snprintf(k, cap, "model@rank0@%016llx", (unsigned long long)id);
}

/* Get key id and compare with fill_obj(id, ver) of n bytes: 1 equal, 0 not. */
T_FN int get_check(kvs_store *s, uint64_t id, uint64_t ver, size_t n, unsigned char *buf, size_t cap,
                     unsigned char *want)
{
    char k[64];
    size_t got = 0;
    keyname(k, sizeof k, id);
    if (kvs_store_get(s, k, strlen(k), buf, cap, &got) != KVS_OK || got != n)
        return 0;
    fill_obj(want, n, id, ver);
    return memcmp(buf, want, n) == 0;
}

T_FN kvs_result put_obj(kvs_store *s, uint64_t id, uint64_t ver, size_t n, unsigned char *buf)
{
    char k[64];
    keyname(k, sizeof k, id);
    fill_obj(buf, n, id, ver);
    return kvs_store_put(s, k, strlen(k), buf, n);
}

/* 4096-aligned; exits when out of memory. */
T_FN void *xalloc(size_t n)
{
    void *p = t_xalloc_aligned(n, 4096);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

#endif
