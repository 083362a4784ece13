/* SPDX-License-Identifier: MIT OR Unlicense */
/* Shared helpers of the decoder fuzz harnesses (tests/fuzz/fuzz_*.c).

   Include after kvstore.h (with KVS_IMPLEMENTATION). Every harness copies
   its input into an exact-size heap buffer, so AddressSanitizer reports a
   decoder that reads one byte past what it was given.

   KVSFZ_CHECK(cond) states an invariant. Under libFuzzer a violation prints
   the condition and aborts (libFuzzer saves the input). Built with
   -DKVS_FUZZ_DRIVER (tests/fuzz/driver.c replays files), a violation is
   printed and counted and the replay goes on; the driver exits nonzero. */
#ifndef KVS_FUZZ_COMMON_H
#define KVS_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Helpers a harness may not use. */
#if defined(__GNUC__) || defined(__clang__)
#define KVSFZ_FN static __attribute__((unused))
#else
#define KVSFZ_FN static
#endif

#ifdef KVS_FUZZ_DRIVER
extern unsigned long kvsfz_failures;
extern const char *kvsfz_current;
#endif

KVSFZ_FN void kvsfz_fail(const char *file, int line, const char *what)
{
#ifdef KVS_FUZZ_DRIVER
    fprintf(stderr, "%s:%d: invariant violated: %s (input %s)\n", file, line, what,
            kvsfz_current ? kvsfz_current : "?");
    kvsfz_failures++;
#else
    fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
    abort();
#endif
}

#define KVSFZ_CHECK(c)                                  \
    do {                                                \
        if (!(c))                                       \
            kvsfz_fail(__FILE__, __LINE__, #c);         \
    } while (0)

/* Exact-size copy (NULL for size 0: the decoders accept NULL with length 0). */
KVSFZ_FN unsigned char *kvsfz_dup(const uint8_t *data, size_t size)
{
    unsigned char *p;
    if (size == 0)
        return NULL;
    p = (unsigned char *)malloc(size);
    if (p == NULL)
        abort();
    memcpy(p, data, size);
    return p;
}

/* NUL-terminated copy of size bytes (size + 1 bytes allocated). */
KVSFZ_FN char *kvsfz_strdup(const uint8_t *data, size_t size)
{
    char *p = (char *)malloc(size + 1);
    if (p == NULL)
        abort();
    if (size > 0)
        memcpy(p, data, size);
    p[size] = '\0';
    return p;
}

/* Little-endian readers and writers (independent of kvstore.h's). */
KVSFZ_FN uint32_t kvsfz_get16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
KVSFZ_FN uint32_t kvsfz_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
KVSFZ_FN uint64_t kvsfz_get64(const unsigned char *p)
{
    return (uint64_t)kvsfz_get32(p) | (uint64_t)kvsfz_get32(p + 4) << 32;
}
KVSFZ_FN void kvsfz_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}
KVSFZ_FN int kvsfz_zero(const unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* The CRC of the reference checks: the portable software implementation,
   so the hardware path of kvs_crc32c is cross-checked on every record. */
KVSFZ_FN uint32_t kvsfz_crc(const unsigned char *p, size_t n)
{
    return kvs_crc32c_sw(0, p, n);
}

/* The layout rules of docs/FORMAT.md section 6, written from the spec:
   1 when valid, with the derived header size, slot count and slots offset. */
KVSFZ_FN int kvsfz_ref_layout(uint64_t dev, uint64_t align, uint64_t meta, uint64_t slot, uint64_t *hdr_out,
                            uint64_t *count_out, uint64_t *slots_off_out)
{
    uint64_t hdr, so;
    if (align < 512 || align > 1048576 || (align & (align - 1)) != 0)
        return 0;
    hdr = align > 4096 ? align : 4096; /* roundup(4096, align) for a power of two */
    if (meta == 0 || meta % (2 * align) != 0 || meta / 2 < 4096)
        return 0;
    if (slot == 0 || slot % align != 0 || slot <= hdr)
        return 0;
    if (meta > UINT64_MAX - hdr)
        return 0;
    so = hdr + meta;
    if (slot > UINT64_MAX - so || so + slot > dev)
        return 0;
    if ((dev - so) / slot > 0xffffffffu)
        return 0;
    *hdr_out = hdr;
    *count_out = (dev - so) / slot;
    *slots_off_out = so;
    return 1;
}

/* ---- allocators -------------------------------------------------------
   A checked heap: every block is a separate exact-size malloc (so ASan sees
   overruns of the library's own blocks), frees must come with the size and
   alignment of the allocation, and nothing may be live at the end. */
#define KVSFZ_HEAP_BLOCKS 32

typedef struct kvsfz_heap {
    int fail;                   /* 1: every allocation fails */
    unsigned long allocs, frees, failed;
    struct {
        void *raw, *ptr;
        size_t size, align;
    } live[KVSFZ_HEAP_BLOCKS];
} kvsfz_heap;

KVSFZ_FN void *kvsfz_heap_alloc(void *user, size_t size, size_t align)
{
    kvsfz_heap *h = (kvsfz_heap *)user;
    size_t i;
    void *raw, *ptr;
    KVSFZ_CHECK(size > 0);
    KVSFZ_CHECK(align >= 1 && (align & (align - 1)) == 0);
    if (h->fail) {
        h->failed++;
        return NULL;
    }
    for (i = 0; i < KVSFZ_HEAP_BLOCKS && h->live[i].ptr != NULL; i++)
        ;
    KVSFZ_CHECK(i < KVSFZ_HEAP_BLOCKS);
    if (i == KVSFZ_HEAP_BLOCKS)
        return NULL;
    if (align <= 16) { /* malloc's own alignment on the platforms we run */
        raw = malloc(size);
        ptr = raw;
    } else {
        raw = malloc(size + align - 1);
        ptr = raw == NULL ? NULL : (void *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    }
    if (raw == NULL)
        abort();
    KVSFZ_CHECK(((uintptr_t)ptr & (align - 1)) == 0);
    h->live[i].raw = raw;
    h->live[i].ptr = ptr;
    h->live[i].size = size;
    h->live[i].align = align;
    h->allocs++;
    return ptr;
}

KVSFZ_FN void kvsfz_heap_free(void *user, void *ptr, size_t size, size_t align)
{
    kvsfz_heap *h = (kvsfz_heap *)user;
    size_t i;
    KVSFZ_CHECK(ptr != NULL); /* kvs_aligned_free filters NULL */
    for (i = 0; i < KVSFZ_HEAP_BLOCKS && h->live[i].ptr != ptr; i++)
        ;
    KVSFZ_CHECK(i < KVSFZ_HEAP_BLOCKS); /* freeing what we never gave out */
    if (i == KVSFZ_HEAP_BLOCKS)
        return;
    KVSFZ_CHECK(h->live[i].size == size && h->live[i].align == align);
    free(h->live[i].raw);
    memset(&h->live[i], 0, sizeof h->live[i]);
    h->frees++;
}

KVSFZ_FN size_t kvsfz_heap_live(const kvsfz_heap *h)
{
    size_t i, n = 0;
    for (i = 0; i < KVSFZ_HEAP_BLOCKS; i++)
        n += h->live[i].ptr != NULL;
    return n;
}

/* The allocator a text harness uses, chosen by the low two bits of the
   first input byte: 0 NULL (library default), 1 checked heap, 2 failing
   heap, 3 an allocator with NULL callbacks (also the default). */
enum { KVSFZ_ALLOC_NULL = 0, KVSFZ_ALLOC_HEAP = 1, KVSFZ_ALLOC_FAIL = 2, KVSFZ_ALLOC_ZERO = 3 };

KVSFZ_FN const kvs_allocator *kvsfz_allocator(int mode, kvsfz_heap *h, kvs_allocator *a)
{
    memset(h, 0, sizeof *h);
    memset(a, 0, sizeof *a);
    switch (mode & 3) {
    case KVSFZ_ALLOC_HEAP:
    case KVSFZ_ALLOC_FAIL:
        h->fail = (mode & 3) == KVSFZ_ALLOC_FAIL;
        a->user = h;
        a->alloc = kvsfz_heap_alloc;
        a->free = kvsfz_heap_free;
        return a;
    case KVSFZ_ALLOC_ZERO:
        return a;
    default:
        return NULL;
    }
}

/* A normalised path (FORMAT.md section 2 steps 1-6 produced it): nonempty,
   at most KVS_PATH_MAX bytes, no control byte, no "//", no trailing '/'
   unless it is "/". (It may start or end with a space: "file:// /a" is
   " /a", and "/a /" is "/a ".) */
KVSFZ_FN int kvsfz_is_space(unsigned char c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d);
}

KVSFZ_FN int kvsfz_path_normalised(const char *p, size_t n)
{
    size_t i;
    if (n == 0 || n > KVS_PATH_MAX || strlen(p) != n)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c == '/' && i > 0 && p[i - 1] == '/')
            return 0;
    }
    if (n > 1 && p[n - 1] == '/')
        return 0;
    return 1;
}

#endif /* KVS_FUZZ_COMMON_H */
