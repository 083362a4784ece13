/* SPDX-License-Identifier: MIT OR Unlicense */
/* Tiny harness shared by the tests/test_core_*.c programs: checks that print
   file:line and the seed, a seeded PRNG, and a counting allocator that can
   fail its Nth allocation. Include after kvstore.h. */
#ifndef TEST_CORE_UTIL_H
#define TEST_CORE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define T_FN static __attribute__((unused))
#else
#define T_FN static
#endif

static unsigned long t_pass, t_fail;
static unsigned long long t_seed;
static uint64_t t_rng_state;

#define CHECK(c) t_check((c) != 0, __FILE__, __LINE__, #c)
/* Compare two results and print both names on failure. */
#define CHECK_R(got, want) t_check_r((int)(got), (int)(want), __FILE__, __LINE__, #got)

T_FN int t_check(int ok, const char *file, int line, const char *what)
{
    if (ok) {
        t_pass++;
        return 1;
    }
    if (t_fail++ < 50)
        fprintf(stderr, "%s:%d: FAIL %s (seed %llu)\n", file, line, what, t_seed);
    return 0;
}

T_FN int t_check_r(int got, int want, const char *file, int line, const char *what)
{
    if (got == want) {
        t_pass++;
        return 1;
    }
    if (t_fail++ < 50)
        fprintf(stderr, "%s:%d: FAIL %s = %s, want %s (seed %llu)\n", file, line, what,
                kvs_result_name(got), kvs_result_name(want), t_seed);
    return 0;
}

/* splitmix64 stream */
T_FN uint64_t t_rand(void)
{
    uint64_t z = (t_rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform-ish in [0, n) */
T_FN size_t t_below(size_t n)
{
    return n ? (size_t)(t_rand() % n) : 0;
}

T_FN void t_fill(void *p, size_t n)
{
    unsigned char *b = (unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        b[i] = (unsigned char)t_rand();
}

T_FN void t_init(const char *name)
{
    const char *s = getenv("KVS_SEED");
    t_seed = s ? strtoull(s, NULL, 0) : 20260101ULL;
    t_rng_state = t_seed;
    printf("%s: seed %llu (set KVS_SEED to change)\n", name, t_seed);
}

T_FN int t_done(const char *name)
{
    printf("%s: %lu passed, %lu failed\n", name, t_pass, t_fail);
    return t_fail ? 1 : 0;
}

/* Counting allocator: fails the allocation numbered fail_at (0-based; -1
   never), counts live blocks and checks that free gets the same size. */
typedef struct t_alloc_state {
    long fail_at;
    long calls;
    long live;
    long bad_free;
} t_alloc_state;

T_FN void *t_alloc_fn(void *user, size_t size, size_t align)
{
    t_alloc_state *st = (t_alloc_state *)user;
    unsigned char *raw, *p;
    size_t total;
    if (st->calls++ == st->fail_at)
        return NULL;
    if (align < 16)
        align = 16;
    total = size + align + 16;
    raw = (unsigned char *)malloc(total);
    if (raw == NULL)
        return NULL;
    p = raw + 16;
    p += (align - ((uintptr_t)p & (align - 1))) & (align - 1);
    memcpy(p - 16, &raw, sizeof raw);
    memcpy(p - 8, &size, sizeof size);
    st->live++;
    return p;
}

T_FN void t_free_fn(void *user, void *ptr, size_t size, size_t align)
{
    t_alloc_state *st = (t_alloc_state *)user;
    unsigned char *p = (unsigned char *)ptr, *raw;
    size_t got;
    (void)align;
    if (p == NULL)
        return;
    memcpy(&raw, p - 16, sizeof raw);
    memcpy(&got, p - 8, sizeof got);
    if (got != size)
        st->bad_free++;
    st->live--;
    free(raw);
}

T_FN kvs_allocator t_allocator(t_alloc_state *st, long fail_at)
{
    kvs_allocator a;
    memset(st, 0, sizeof *st);
    st->fail_at = fail_at;
    a.user = st;
    a.alloc = t_alloc_fn;
    a.free = t_free_fn;
    return a;
}

#endif
