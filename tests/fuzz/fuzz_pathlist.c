/* SPDX-License-Identifier: MIT OR Unlicense */
/* Fuzz path lists (docs/FORMAT.md 2): kvs_pathlist_parse,
   kvs_path_normalize and kvs_path_has_prefix.

   Input: byte 0 chooses the allocator (low two bits: default, checked heap,
   failing heap, zeroed allocator; see fuzz_common.h); the rest is the text,
   parsed from a NUL-terminated copy. Invariants: the result and the paths
   equal those of a reference parser written from section 2; an accepted
   list has 1..64 entries, each normalised (no "//", no trailing '/', no
   control byte, no ',', <= 4095 bytes), lens[i] == strlen, ids[i] ==
   fnv1a64(path), no two equal; normalising an accepted path is the
   identity; "file://" + each path + "/", joined with ',', parses to the
   same list;
   kvs_path_has_prefix agrees with the spec's definition on every pair; a
   failed parse leaves *out zeroed and owning nothing; the checked heap sees
   matching frees and no leak; a failing allocator gives KVS_E_NOMEM.
   kvs_path_normalize also runs on the raw text (NULs included) into
   exact-size buffers: the reference's result, and KVS_E_BUFSIZE when the
   buffer lacks one byte. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "fuzz_common.h"

/* ---- reference (FORMAT.md section 2) ---- */
static char ref_block[1 << 17];
static size_t ref_off[KVS_PATHS_MAX], ref_len[KVS_PATHS_MAX];

/* Steps 1-6 on s[0..n): *out gets the path (at most n bytes). */
static kvs_result ref_norm(const char *s, size_t n, char *out, size_t *out_len)
{
    size_t i, j = 0;
    *out_len = 0;
    while (n > 0 && kvsfz_is_space((unsigned char)s[0])) {
        s++;
        n--;
    }
    while (n > 0 && kvsfz_is_space((unsigned char)s[n - 1]))
        n--;
    if (n >= 7 && memcmp(s, "file://", 7) == 0) {
        s += 7;
        n -= 7;
    }
    if (n == 0)
        return KVS_E_EMPTY;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return KVS_E_PATH;
    for (i = 0; i < n; i++)
        if (!(s[i] == '/' && j > 0 && out[j - 1] == '/'))
            out[j++] = s[i];
    if (j > 1 && out[j - 1] == '/')
        j--;
    if (j > 4095)
        return KVS_E_PATH;
    *out_len = j;
    return KVS_OK;
}

static kvs_result ref_parse(const char *text, size_t *count)
{
    size_t used = 0, k, len;
    const char *s = text;
    *count = 0;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        kvs_result r;
        if (used + n > sizeof ref_block)
            return KVS_E_LIMIT; /* never: the text is shorter (see the size check below) */
        r = ref_norm(s, n, ref_block + used, &len);
        if (r != KVS_OK)
            return r;
        if (*count == KVS_PATHS_MAX)
            return KVS_E_LIMIT;
        for (k = 0; k < *count; k++)
            if (ref_len[k] == len && memcmp(ref_block + ref_off[k], ref_block + used, len) == 0)
                return KVS_E_DUPLICATE;
        ref_off[*count] = used;
        ref_len[*count] = len;
        (*count)++;
        used += len;
        if (e == NULL)
            return KVS_OK;
        s = e + 1;
    }
}

/* FORMAT.md 2, directory-boundary prefix, literally. */
static int ref_prefix(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (strcmp(path, dir) == 0)
        return 1;
    if (strcmp(dir, "/") == 0 && path[0] == '/')
        return 1;
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static void check_list(const kvs_pathlist *pl, const char *text)
{
    size_t i, j, n;
    char *buf;
    for (i = 0; i < pl->count; i++) {
        const char *p = pl->paths[i];
        KVSFZ_CHECK(p != NULL && pl->lens[i] == strlen(p));
        KVSFZ_CHECK(kvsfz_path_normalised(p, pl->lens[i]));
        KVSFZ_CHECK(strchr(p, ',') == NULL);
        KVSFZ_CHECK(pl->ids[i] == kvs_fnv1a64(p, pl->lens[i]));
        KVSFZ_CHECK(pl->lens[i] <= strlen(text));
        /* normalising a normalised path changes nothing... unless it starts
           with "file://" (a path written "file://file://x") or begins or
           ends with whitespace ("file:// /a"); those are stripped again */
        buf = (char *)malloc(pl->lens[i] + 1);
        if (buf == NULL)
            abort();
        if (strncmp(p, "file://", 7) != 0 && !kvsfz_is_space((unsigned char)p[0]) &&
            !kvsfz_is_space((unsigned char)p[pl->lens[i] - 1])) {
            KVSFZ_CHECK(kvs_path_normalize(p, pl->lens[i], buf, pl->lens[i] + 1, &n) == KVS_OK &&
                        n == pl->lens[i] && memcmp(buf, p, n + 1) == 0);
        }
        free(buf);
        for (j = 0; j < pl->count; j++) {
            if (j != i)
                KVSFZ_CHECK(strcmp(p, pl->paths[j]) != 0);
            KVSFZ_CHECK(kvs_path_has_prefix(p, pl->paths[j]) == ref_prefix(p, pl->paths[j]));
        }
        KVSFZ_CHECK(kvs_path_has_prefix(p, p) == 1);
    }
}

/* "file://" + every path + "/", joined with ',': parses to the same list
   (the prefix keeps a leading space, the '/' a trailing one). */
static void check_reparse(const kvs_pathlist *pl)
{
    size_t i, total = 0;
    char *t, *q;
    kvs_pathlist pl2;
    for (i = 0; i < pl->count; i++)
        total += 7 + pl->lens[i] + 2;
    t = (char *)malloc(total + 1);
    if (t == NULL)
        abort();
    q = t;
    for (i = 0; i < pl->count; i++) {
        if (i > 0)
            *q++ = ',';
        memcpy(q, "file://", 7);
        memcpy(q + 7, pl->paths[i], pl->lens[i]);
        q += 7 + pl->lens[i];
        *q++ = '/';
    }
    *q = '\0';
    KVSFZ_CHECK(kvs_pathlist_parse(t, NULL, &pl2) == KVS_OK);
    KVSFZ_CHECK(pl2.count == pl->count);
    for (i = 0; i < pl->count && i < pl2.count; i++)
        KVSFZ_CHECK(pl2.lens[i] == pl->lens[i] && strcmp(pl2.paths[i], pl->paths[i]) == 0 &&
                    pl2.ids[i] == pl->ids[i]);
    kvs_pathlist_free(&pl2);
    free(t);
}

static void check_normalize(const unsigned char *raw, size_t n)
{
    char *ref = (char *)malloc(n + 1), *out;
    size_t ref_n = 0, got = 0;
    kvs_result rr, r;
    if (ref == NULL)
        abort();
    rr = ref_norm((const char *)raw, n, ref, &ref_n);
    /* exact-size output: the path and its NUL */
    out = (char *)malloc(rr == KVS_OK ? ref_n + 1 : n + 1);
    if (out == NULL)
        abort();
    r = kvs_path_normalize((const char *)raw, n, out, rr == KVS_OK ? ref_n + 1 : n + 1, &got);
    KVSFZ_CHECK(r == rr);
    if (r == KVS_OK) {
        KVSFZ_CHECK(got == ref_n && memcmp(out, ref, ref_n) == 0 && out[ref_n] == '\0');
        KVSFZ_CHECK(kvs_path_normalize((const char *)raw, n, out, ref_n, &got) == KVS_E_BUFSIZE);
    }
    free(out);
    free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kvsfz_heap heap;
    kvs_allocator alloc;
    const kvs_allocator *a;
    kvs_pathlist pl, zero;
    char *text;
    unsigned char *raw;
    size_t ref_count, i;
    kvs_result r, rr;
    int mode;

    if (size < 1 || size > sizeof ref_block)
        return 0;
    mode = data[0] & 3;
    text = kvsfz_strdup(data + 1, size - 1);
    memset(&zero, 0, sizeof zero);

    a = kvsfz_allocator(mode, &heap, &alloc);
    r = kvs_pathlist_parse(text, a, &pl);
    rr = ref_parse(text, &ref_count);
    if (mode == KVSFZ_ALLOC_FAIL) {
        KVSFZ_CHECK(r == KVS_E_NOMEM && heap.failed == 1);
    } else {
        KVSFZ_CHECK(r == rr);
    }
    if (r == KVS_OK) {
        KVSFZ_CHECK(pl.count >= 1 && pl.count <= KVS_PATHS_MAX && pl.count == ref_count);
        for (i = 0; i < pl.count && i < ref_count; i++)
            KVSFZ_CHECK(pl.lens[i] == ref_len[i] && memcmp(pl.paths[i], ref_block + ref_off[i], ref_len[i]) == 0);
        check_list(&pl, text);
        check_reparse(&pl);
        if (mode == KVSFZ_ALLOC_HEAP)
            KVSFZ_CHECK(kvsfz_heap_live(&heap) == 1);
        kvs_pathlist_free(&pl);
        KVSFZ_CHECK(pl.count == 0 && pl.block == NULL);
    } else {
        KVSFZ_CHECK(memcmp(&pl, &zero, sizeof pl) == 0);
    }
    if (mode == KVSFZ_ALLOC_HEAP || mode == KVSFZ_ALLOC_FAIL)
        KVSFZ_CHECK(kvsfz_heap_live(&heap) == 0 && heap.allocs == heap.frees);
    free(text);

    raw = kvsfz_dup(data + 1, size - 1);
    check_normalize(raw, size - 1);
    free(raw);
    return 0;
}
