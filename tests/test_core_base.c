/* SPDX-License-Identifier: MIT OR Unlicense */
/* BASE section: results and version, round helpers at the overflow edges,
   aligned allocation for every power-of-two alignment 1..2 MiB and
   KVS_ALIGN_MAX (default and user allocator, refusals), and kvs_io_plan_make
   exhaustively over small offsets, lengths and alignments against a naive
   byte-counting reference. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "test_util.h"

/* The largest size the default allocator takes is handed to malloc, which
   fails; under AddressSanitizer that malloc returns NULL too, instead of
   ending the program (the environment's ASAN_OPTIONS still apply over it). */
#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#ifdef T_ASAN
#ifdef __cplusplus
extern "C" {
#endif
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#ifdef __cplusplus
}
#endif
#endif

static void test_results(void)
{
    int r;
    for (r = -40; r <= 5; r++) {
        CHECK(kvs_result_str(r) != NULL && kvs_result_str(r)[0] != '\0');
        CHECK(kvs_result_name(r) != NULL);
    }
    /* every code has its own name and its own message (KVS_E_PATHSET is
       the lowest today: a new code must join this range) */
    for (r = KVS_E_PATHSET; r <= KVS_NOT_FOUND; r++) {
        int q;
        CHECK(strcmp(kvs_result_name(r), "KVS_E_UNKNOWN") != 0);
        CHECK(strcmp(kvs_result_str(r), kvs_result_str(-1000)) != 0);
        for (q = KVS_E_PATHSET; q < r; q++)
            if (!CHECK(strcmp(kvs_result_name(q), kvs_result_name(r)) != 0 &&
                       strcmp(kvs_result_str(q), kvs_result_str(r)) != 0))
                fprintf(stderr, "  codes %d and %d share a name or a message\n", q, r);
    }
    CHECK(strcmp(kvs_result_name(KVS_E_PATHSET - 1), "KVS_E_UNKNOWN") == 0);
    CHECK(strcmp(kvs_result_name(KVS_E_PATHSET), "KVS_E_PATHSET") == 0);
    CHECK(strcmp(kvs_result_name(KVS_NOT_FOUND), "KVS_NOT_FOUND") == 0);
    CHECK(strcmp(kvs_result_name(KVS_OK), "KVS_OK") == 0);
    CHECK(strcmp(kvs_result_name(KVS_E_NAME), "KVS_E_NAME") == 0);
    CHECK(strcmp(kvs_result_name(-1000), "KVS_E_UNKNOWN") == 0);
    CHECK(strcmp(kvs_result_name(99999), "KVS_E_UNKNOWN") == 0);
    CHECK(kvs_version() == KVS_VERSION_NUMBER);
    CHECK(strcmp(kvs_version_string(), KVS_VERSION_STRING) == 0);
    CHECK(kvs_format_version() == 1);
}

static void test_round(void)
{
    uint64_t out = 7, a;
    int s;
    CHECK(!kvs_is_pow2(0) && kvs_is_pow2(1) && kvs_is_pow2((uint64_t)1 << 63) && !kvs_is_pow2(UINT64_MAX));
    CHECK(kvs_is_aligned(0, 1) && kvs_is_aligned(4096, 4096) && !kvs_is_aligned(4097, 4096));
    CHECK(!kvs_is_aligned(0, 0) && !kvs_is_aligned(6, 3));
    CHECK_R(kvs_round_up(5, 0, &out), KVS_E_ALIGN);
    CHECK(out == 0);
    CHECK_R(kvs_round_up(5, 12, &out), KVS_E_ALIGN);
    CHECK_R(kvs_round_down(5, 0, &out), KVS_E_ALIGN);
    CHECK_R(kvs_round_up(UINT64_MAX, 1, &out), KVS_OK);
    CHECK(out == UINT64_MAX);
    for (s = 1; s < 64; s++) {
        a = (uint64_t)1 << s;
        CHECK_R(kvs_round_up(UINT64_MAX - a + 1, a, &out), KVS_OK); /* already aligned, the top one */
        CHECK(out == UINT64_MAX - a + 1);
        CHECK_R(kvs_round_up(UINT64_MAX - a + 2, a, &out), KVS_E_OVERFLOW);
        CHECK_R(kvs_round_up(UINT64_MAX, a, &out), KVS_E_OVERFLOW);
        CHECK_R(kvs_round_up(UINT64_MAX - a, a, &out), KVS_OK);
        CHECK(out == UINT64_MAX - a + 1);
        CHECK_R(kvs_round_down(UINT64_MAX, a, &out), KVS_OK);
        CHECK(out == UINT64_MAX - a + 1);
        CHECK_R(kvs_round_up(0, a, &out), KVS_OK);
        CHECK(out == 0);
        CHECK_R(kvs_round_up(1, a, &out), KVS_OK);
        CHECK(out == a);
    }
    a = (uint64_t)1 << 63;
    CHECK_R(kvs_round_up(1, a, &out), KVS_OK);
    CHECK(out == a);
    CHECK_R(kvs_round_up(a + 1, a, &out), KVS_E_OVERFLOW);
    CHECK(kvs_ptr_is_aligned((void *)(uintptr_t)64, 64) && !kvs_ptr_is_aligned((void *)(uintptr_t)65, 2));
    CHECK(!kvs_ptr_is_aligned((void *)(uintptr_t)64, 0));
}

static long misaligned_frees;
static unsigned char *misaligned_raw;

static void *misaligned_alloc(void *user, size_t size, size_t align)
{
    unsigned char *p = (unsigned char *)malloc(size + align + 1);
    (void)user;
    misaligned_raw = p;
    if (p == NULL)
        return NULL;
    p += (align - ((uintptr_t)p & (align - 1))) & (align - 1);
    return p + 1; /* deliberately off by one */
}

static void misaligned_free(void *user, void *ptr, size_t size, size_t align)
{
    (void)user;
    (void)ptr;
    (void)size;
    (void)align;
    misaligned_frees++;
    free(misaligned_raw);
}

static void test_alloc(void)
{
    size_t align;
    void *p;
    t_alloc_state st;
    kvs_allocator a = t_allocator(&st, -1), zero;
    memset(&zero, 0, sizeof zero);
    for (align = 1; align <= KVS_ALIGN_MAX; align <<= 1) {
        size_t size;
        if (align > ((size_t)2 << 20) && align != KVS_ALIGN_MAX)
            continue;
        for (size = 1; size <= 4097; size = size * 4 + 1) {
            CHECK_R(kvs_aligned_alloc(NULL, size, align, &p), KVS_OK);
            CHECK(p != NULL && kvs_ptr_is_aligned(p, align));
            if (p) {
                memset(p, 0xab, size);
                kvs_aligned_free(NULL, p, size, align);
            }
            CHECK_R(kvs_aligned_alloc(&zero, size, align, &p), KVS_OK);
            CHECK(kvs_ptr_is_aligned(p, align));
            kvs_aligned_free(&zero, p, size, align);
            CHECK_R(kvs_aligned_alloc(&a, size, align, &p), KVS_OK);
            CHECK(kvs_ptr_is_aligned(p, align) && st.live == 1);
            kvs_aligned_free(&a, p, size, align);
            CHECK(st.live == 0);
        }
    }
    CHECK(st.bad_free == 0);
    p = (void *)&st;
    CHECK_R(kvs_aligned_alloc(NULL, 0, 8, &p), KVS_E_INVAL);
    CHECK(p == NULL);
    CHECK_R(kvs_aligned_alloc(NULL, 8, 0, &p), KVS_E_ALIGN);
    CHECK_R(kvs_aligned_alloc(NULL, 8, 3, &p), KVS_E_ALIGN);
    CHECK_R(kvs_aligned_alloc(NULL, 8, KVS_ALIGN_MAX * 2, &p), KVS_E_ALIGN);
    CHECK_R(kvs_aligned_alloc(NULL, (size_t)-1, 8, &p), KVS_E_OVERFLOW);
    /* Sizes the default allocator cannot hold once its own overhead
       (align - 1 + a pointer) is added are an overflow, not "no memory". */
    for (align = 1; align <= KVS_ALIGN_MAX; align <<= 1) {
        size_t over = (align < sizeof(void *) ? sizeof(void *) : align) - 1 + sizeof(void *);
        p = (void *)&st;
        CHECK_R(kvs_aligned_alloc(NULL, (size_t)-1 - over + 1, align, &p), KVS_E_OVERFLOW);
        CHECK(p == NULL);
        CHECK_R(kvs_aligned_alloc(NULL, (size_t)-1 - align, align, &p), KVS_E_OVERFLOW);
        /* the largest it takes reaches malloc, which cannot hold it (two
           alignments: ASan prints a warning for each such malloc) */
        if (align == 1 || align == KVS_ALIGN_MAX) {
            p = (void *)&st;
            CHECK_R(kvs_aligned_alloc(NULL, (size_t)-1 - over, align, &p), KVS_E_NOMEM);
            CHECK(p == NULL);
        }
        /* a user allocator is asked for anything up to SIZE_MAX - align */
        a = t_allocator(&st, 0);
        CHECK_R(kvs_aligned_alloc(&a, (size_t)-1 - align, align, &p), KVS_E_NOMEM);
        CHECK(p == NULL && st.live == 0);
        CHECK_R(kvs_aligned_alloc(&a, (size_t)-1 - align + 1, align, &p), KVS_E_OVERFLOW);
    }
    /* half an allocator is refused, never silently the default */
    {
        kvs_allocator half = t_allocator(&st, -1);
        half.free = NULL;
        p = (void *)&st;
        CHECK_R(kvs_aligned_alloc(&half, 8, 8, &p), KVS_E_INVAL);
        CHECK(p == NULL && st.live == 0);
        half = t_allocator(&st, -1);
        half.alloc = NULL;
        CHECK_R(kvs_aligned_alloc(&half, 8, 8, &p), KVS_E_INVAL);
        CHECK(p == NULL && st.live == 0);
    }
    a = t_allocator(&st, 0);
    CHECK_R(kvs_aligned_alloc(&a, 8, 8, &p), KVS_E_NOMEM);
    CHECK(p == NULL && st.live == 0);
    kvs_aligned_free(NULL, NULL, 8, 8);
    kvs_aligned_free(&a, NULL, 8, 8);
    /* a user allocator that ignores the alignment is refused and freed */
    a.user = NULL;
    a.alloc = misaligned_alloc;
    a.free = misaligned_free;
    CHECK_R(kvs_aligned_alloc(&a, 64, 64, &p), KVS_E_ALIGN);
    CHECK(p == NULL && misaligned_frees == 1);
}

/* Byte-by-byte reference of the I/O plan. */
static void ref_plan(uint64_t len, uint64_t align, kvs_io_plan *p)
{
    uint64_t i;
    memset(p, 0, sizeof *p);
    for (i = 0; i + align <= len; i += align)
        p->direct += align;
    p->tail = len - p->direct;
    p->bounce = p->tail ? align : 0;
    p->padded = p->direct + p->bounce;
}

static void test_io_plan(void)
{
    uint64_t align, off, len;
    kvs_io_plan p, r;
    for (align = 0; align <= 64; align++) {
        for (off = 0; off <= 200; off++) {
            for (len = 0; len <= 300; len++) {
                kvs_result res = kvs_io_plan_make(off, len, align, &p);
                if (!kvs_is_pow2(align) || off % align != 0) {
                    if (!CHECK_R(res, KVS_E_ALIGN))
                        return;
                    CHECK(p.direct == 0 && p.tail == 0 && p.bounce == 0 && p.padded == 0);
                    continue;
                }
                ref_plan(len, align, &r);
                if (!CHECK_R(res, KVS_OK) || !CHECK(memcmp(&p, &r, sizeof p) == 0)) {
                    fprintf(stderr, "  off %llu len %llu align %llu\n", (unsigned long long)off,
                            (unsigned long long)len, (unsigned long long)align);
                    return;
                }
                CHECK(p.direct % align == 0 && p.tail < align && p.padded >= len && p.padded - len < align);
            }
        }
    }
    /* the upper edge */
    for (align = 1; align != 0 && align <= ((uint64_t)1 << 40); align <<= 1) {
        uint64_t top = UINT64_MAX - align + 1; /* the last aligned offset */
        CHECK_R(kvs_io_plan_make(top, align - 1, align, &p), align == 1 ? KVS_OK : KVS_E_OVERFLOW);
        CHECK_R(kvs_io_plan_make(top - align, align, align, &p), KVS_OK);
        CHECK(p.padded == align && p.direct == align);
        CHECK_R(kvs_io_plan_make(top - align, align + 1, align, &p), KVS_E_OVERFLOW);
        CHECK_R(kvs_io_plan_make(0, UINT64_MAX, align, &p), align == 1 ? KVS_OK : KVS_E_OVERFLOW);
        CHECK_R(kvs_io_plan_make(0, UINT64_MAX - align + 1, align, &p), KVS_OK);
        CHECK(p.padded == UINT64_MAX - align + 1 && p.tail == 0 && p.bounce == 0);
    }
}

int main(void)
{
    t_init("test_core_base");
    test_results();
    test_round();
    test_alloc();
    test_io_plan();
    return t_done("test_core_base");
}
