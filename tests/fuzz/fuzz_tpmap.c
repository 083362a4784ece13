/* SPDX-License-Identifier: MIT OR Unlicense */
/* Fuzz kvs_tpmap_parse (docs/FORMAT.md 4).

   Input: byte 0 chooses the allocator (bits 0-1, see fuzz_common.h), the
   error buffer's size (bits 2-3: none, 1, 24 or 512 bytes, an exact-size
   heap buffer) and whether maps above 64 ranks get the re-parse checks
   below (bits 4-5 both set; each re-parse costs O(world * 1024));
   bytes 1-2 are expected_world (little-endian u16, so values above 1024
   occur); the rest is the text, from a NUL-terminated copy.
   Invariants: the result is one the declaration names; on success world is
   1..1024 (== expected_world when given), every rank 0..world-1 has a path,
   each path normalised and free of ',' and newline, no two paths equal;
   the map written back as "{0=file://P0/,1=file://P1/,...}" parses to the
   same map, and adding the last rank again, or a new rank with rank 0's
   path, is KVS_E_DUPLICATE; parsing again with expected_world = world
   gives the same map, and with world + 1 KVS_E_RANK (KVS_E_LIMIT past
   1024); the error text always fits its buffer with its NUL; a failed
   parse leaves *out zeroed; the checked heap sees matching frees and no
   leak; a failing allocator gives KVS_E_NOMEM unless an earlier check
   (expected world above 1024, unmatched brace) already failed the same
   way. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "fuzz_common.h"

static int known(kvs_result r)
{
    return r == KVS_OK || r == KVS_E_INVAL || r == KVS_E_RANK || r == KVS_E_DUPLICATE || r == KVS_E_PATH ||
           r == KVS_E_EMPTY || r == KVS_E_LIMIT || r == KVS_E_NOMEM;
}

static int same_map(const kvs_tpmap *a, const kvs_tpmap *b)
{
    uint32_t i;
    if (a->world != b->world)
        return 0;
    for (i = 0; i < a->world; i++)
        if (strcmp(a->paths[i], b->paths[i]) != 0)
            return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_map(const kvs_tpmap *m, uint32_t expected)
{
    uint32_t i, j;
    KVSFZ_CHECK(m->world >= 1 && m->world <= KVS_TP_MAX && m->paths != NULL);
    if (expected != 0)
        KVSFZ_CHECK(m->world == expected);
    for (i = 0; i < m->world; i++) {
        const char *p = m->paths[i];
        KVSFZ_CHECK(p != NULL);
        if (p == NULL)
            return;
        KVSFZ_CHECK(kvsfz_path_normalised(p, strlen(p)));
        KVSFZ_CHECK(strchr(p, ',') == NULL && strchr(p, '\n') == NULL);
    }
    /* distinct: sort a copy of the pointers, compare neighbours */
    {
        char **sorted = (char **)malloc(m->world * sizeof *sorted);
        if (sorted == NULL)
            abort();
        memcpy(sorted, m->paths, m->world * sizeof *sorted);
        qsort(sorted, m->world, sizeof *sorted, cmp_str);
        for (j = 1; j < m->world; j++)
            KVSFZ_CHECK(strcmp(sorted[j - 1], sorted[j]) != 0);
        free(sorted);
    }
}

static void check_reparse(const kvs_tpmap *m)
{
    size_t total = 3, i;
    char *t, *q;
    kvs_tpmap m2;
    kvs_result r;
    for (i = 0; i < m->world; i++)
        total += 16 + strlen(m->paths[i]);
    t = (char *)malloc(total);
    if (t == NULL)
        abort();
    q = t;
    *q++ = '{';
    for (i = 0; i < m->world; i++) {
        size_t n = strlen(m->paths[i]);
        q += sprintf(q, "%s%u=file://", i ? "," : "", (unsigned)i);
        memcpy(q, m->paths[i], n);
        q += n;
        *q++ = '/';
    }
    *q++ = '}';
    *q = '\0';
    r = kvs_tpmap_parse(t, 0, NULL, &m2, NULL, 0);
    KVSFZ_CHECK(r == KVS_OK);
    if (r == KVS_OK) {
        KVSFZ_CHECK(same_map(m, &m2));
        kvs_tpmap_free(&m2);
    }
    free(t);
    /* one entry more: the last rank again (with a new path) is a duplicate
       rank; rank `world` with rank 0's path is a duplicate path (or past the
       limit when world is 1024) */
    t = (char *)malloc(total + 64 + strlen(m->paths[0]));
    if (t == NULL)
        abort();
    q = t;
    *q++ = '{';
    for (i = 0; i < m->world; i++) {
        size_t n = strlen(m->paths[i]);
        q += sprintf(q, "%s%u=file://", i ? "," : "", (unsigned)i);
        memcpy(q, m->paths[i], n);
        q += n;
        *q++ = '/';
    }
    {
        char *mark = q;
        sprintf(q, ",%u=/kvsfz/unique/path/%u}", (unsigned)(m->world - 1), (unsigned)m->world);
        r = kvs_tpmap_parse(t, 0, NULL, &m2, NULL, 0);
        KVSFZ_CHECK(r == KVS_E_DUPLICATE && m2.world == 0);
        q = mark;
        q += sprintf(q, ",%u=file://", (unsigned)m->world);
        strcpy(q, m->paths[0]);
        strcat(q, "/}");
        r = kvs_tpmap_parse(t, 0, NULL, &m2, NULL, 0);
        KVSFZ_CHECK(r == (m->world >= KVS_TP_MAX ? KVS_E_LIMIT : KVS_E_DUPLICATE) && m2.world == 0);
    }
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t err_caps[4] = {0, 1, 24, 512};
    kvsfz_heap heap;
    kvs_allocator alloc;
    const kvs_allocator *a;
    kvs_tpmap m, m2, zero;
    char *text, *err;
    size_t err_cap;
    uint32_t expected;
    kvs_result r, r2;
    int mode;

    if (size < 3 || size > (1u << 16))
        return 0;
    mode = data[0] & 3;
    err_cap = err_caps[(data[0] >> 2) & 3];
    expected = (uint32_t)data[1] | (uint32_t)data[2] << 8;
    text = kvsfz_strdup(data + 3, size - 3);
    err = err_cap ? (char *)malloc(err_cap) : NULL;
    if (err_cap && err == NULL)
        abort();
    if (err)
        memset(err, 'x', err_cap);
    memset(&zero, 0, sizeof zero);

    a = kvsfz_allocator(mode, &heap, &alloc);
    r = kvs_tpmap_parse(text, expected, a, &m, err, err_cap);
    KVSFZ_CHECK(known(r));
    if (err_cap > 0)
        KVSFZ_CHECK(memchr(err, '\0', err_cap) != NULL);
    if (mode == KVSFZ_ALLOC_FAIL) {
        /* the same text with real memory: failing allocations may only
           turn a result that needed memory into KVS_E_NOMEM */
        r2 = kvs_tpmap_parse(text, expected, NULL, &m2, NULL, 0);
        KVSFZ_CHECK(r == KVS_E_NOMEM ? heap.failed == 1 : (r == r2 && heap.failed == 0));
        KVSFZ_CHECK(r == KVS_E_NOMEM || r == KVS_E_LIMIT || r == KVS_E_INVAL);
        if (r2 == KVS_OK)
            kvs_tpmap_free(&m2);
    } else {
        KVSFZ_CHECK(r != KVS_E_NOMEM);
    }
    if (r == KVS_OK) {
        check_map(&m, expected);
        /* the parser's duplicate-path scan is O(entries * 1024): parse the
           big maps again only sometimes, to keep the executions fast */
        if (m.world <= 64 || (data[0] & 0x30) == 0x30)
            check_reparse(&m);
        if (expected == 0 && (m.world <= 64 || (data[0] & 0x30) == 0x30)) {
            r2 = kvs_tpmap_parse(text, m.world, NULL, &m2, NULL, 0);
            KVSFZ_CHECK(r2 == KVS_OK);
            if (r2 == KVS_OK) {
                KVSFZ_CHECK(same_map(&m, &m2));
                kvs_tpmap_free(&m2);
            }
        }
        if (m.world <= 64 || (data[0] & 0x30) == 0x30) {
            r2 = kvs_tpmap_parse(text, m.world + 1, NULL, &m2, NULL, 0);
            KVSFZ_CHECK(r2 == (m.world + 1 > KVS_TP_MAX ? KVS_E_LIMIT : KVS_E_RANK));
            KVSFZ_CHECK(m2.world == 0 && m2.paths == NULL);
        }
        if (mode == KVSFZ_ALLOC_HEAP)
            KVSFZ_CHECK(kvsfz_heap_live(&heap) == 1);
        kvs_tpmap_free(&m);
        KVSFZ_CHECK(m.world == 0 && m.paths == NULL);
    } else {
        KVSFZ_CHECK(memcmp(&m, &zero, sizeof m) == 0);
    }
    if (mode == KVSFZ_ALLOC_HEAP || mode == KVSFZ_ALLOC_FAIL)
        KVSFZ_CHECK(kvsfz_heap_live(&heap) == 0 && heap.allocs == heap.frees);
    free(err);
    free(text);
    return 0;
}
