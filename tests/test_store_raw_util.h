/* SPDX-License-Identifier: MIT OR Unlicense */
/* Shared helpers of the raw-store tests (included after kvstore_posix.c). */
#ifndef TEST_STORE_RAW_UTIL_H
#define TEST_STORE_RAW_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define T_SAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define T_SAN 1
#endif
#endif
#ifndef T_SAN
#define T_SAN 0
#endif
#if defined(__GNUC__) || defined(__clang__)
#define T_FN static __attribute__((unused))
#else
#define T_FN static
#endif

static unsigned long long g_seed = 0x5eed1234ULL;
static unsigned g_pass, g_fail;
static char g_dir[1024];

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (c)                                                                            \
            g_pass++;                                                                     \
        else {                                                                            \
            g_fail++;                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s (seed %llu)\n", __FILE__, __LINE__, #c, \
                    g_seed);                                                              \
        }                                                                                 \
    } while (0)

#define CHECK_R(expr, want)                                                               \
    do {                                                                                  \
        int got_ = (int)(expr), want_ = (int)(want);                                      \
        if (got_ == want_)                                                                \
            g_pass++;                                                                     \
        else {                                                                            \
            g_fail++;                                                                     \
            fprintf(stderr, "%s:%d: %s = %s, want %s (seed %llu)\n", __FILE__, __LINE__, #expr, \
                    kvs_result_name(got_), kvs_result_name(want_), g_seed);               \
        }                                                                                 \
    } while (0)

T_FN uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Deterministic content of (key id, version): verifiable without storing it. */
T_FN void fill_obj(unsigned char *p, size_t n, uint64_t id, uint64_t ver)
{
    uint64_t s = id * 0x100000001b3ULL ^ ver ^ g_seed;
    size_t i;
    for (i = 0; i < n; i++) {
        if ((i & 7) == 0)
            s = rng_next(&s);
        p[i] = (unsigned char)(s >> ((i & 7) * 8));
    }
}

T_FN void setup_dir(const char *tag)
{
    const char *env = getenv("KVS_TEST_DIR");
    const char *seed = getenv("KVS_SEED");
    if (seed != NULL)
        g_seed = strtoull(seed, NULL, 0);
    snprintf(g_dir, sizeof g_dir, "%s/kvs_%s_XXXXXX", (env != NULL && env[0] != '\0') ? env : "/tmp", tag);
    if (mkdtemp(g_dir) == NULL) {
        fprintf(stderr, "%s:%d: mkdtemp(%s) failed (seed %llu)\n", __FILE__, __LINE__, g_dir, g_seed);
        exit(1);
    }
}

T_FN void cleanup_dir(void)
{
    DIR *d = opendir(g_dir);
    struct dirent *de;
    char p[2048];
    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", g_dir, de->d_name);
            (void)unlink(p);
        }
        closedir(d);
    }
    (void)rmdir(g_dir);
}

T_FN void tpath(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", g_dir, name);
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

T_FN void *xalloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, n ? n : 1) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}
#endif
