/* SPDX-License-Identifier: MIT OR Unlicense */
/*
    test_vectors.c -- check kvstore.h against every record of the vectors/ files.

    The vectors come from vectors/gen/gen.py, an independent implementation of
    docs/FORMAT.md (see vectors/README.md). Build and run:

        cc -std=c99 -Wall -Wextra -I. tests/test_vectors.c -o build/test_vectors
        build/test_vectors [vectors-dir]        (or env KVS_VECTORS_DIR)

    Every mismatch is printed as file:line: what differed. A missing file, or
    a file without any record of a kind it must contain, is a failure too, so
    a run that checks nothing cannot pass. The last line is exactly
    "test_vectors: N passed, M failed".
*/
#define KVS_IMPLEMENTATION
#include "kvstore.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ state */

static const char *g_file = "";
static unsigned long g_line;
static int g_rec_bad;               /* the current record has failed */
static unsigned long g_passed, g_failed;

static void fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "vectors/%s:%lu: ", g_file, g_line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    g_rec_bad = 1;
}

static void *xmalloc(size_t n)
{
    void *p = calloc(n ? n : 1, 1);
    if (!p) {
        fprintf(stderr, "test_vectors: out of memory\n");
        exit(2);
    }
    return p;
}

/* -------------------------------------------------------------- parsing */

typedef struct bytes {
    unsigned char *p;   /* exactly n bytes allocated (1 when n == 0), plus no slack */
    size_t n;
} bytes;

typedef struct cstr {
    char *p;            /* n bytes + NUL */
    size_t n;
} cstr;

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decode hex ('-' = empty) into a buffer of exactly the decoded size, so that
   the sanitizers see any read past it. */
static int hex_bytes(const char *s, bytes *out)
{
    size_t len, i;
    out->p = NULL;
    out->n = 0;
    if (strcmp(s, "-") == 0) {
        out->p = (unsigned char *)xmalloc(1);
        return 1;
    }
    len = strlen(s);
    if (len % 2 != 0) {
        fail("odd-length hex field");
        return 0;
    }
    out->n = len / 2;
    out->p = (unsigned char *)xmalloc(out->n);
    for (i = 0; i < out->n; i++) {
        int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            fail("bad hex digit in vector field");
            free(out->p);
            out->p = NULL;
            return 0;
        }
        out->p[i] = (unsigned char)(hi * 16 + lo);
    }
    return 1;
}

/* Hex to a NUL-terminated string. */
static int hex_cstr(const char *s, cstr *out)
{
    bytes b;
    if (!hex_bytes(s, &b)) {
        out->p = NULL;
        out->n = 0;
        return 0;
    }
    out->p = (char *)xmalloc(b.n + 1);
    if (b.n)
        memcpy(out->p, b.p, b.n);
    out->p[b.n] = '\0';
    out->n = b.n;
    free(b.p);
    return 1;
}

static int parse_u64(const char *s, int base, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    if (!s || !*s) {
        fail("missing number");
        return 0;
    }
    for (i = 0; s[i]; i++) {
        int d = base == 16 ? hexval((unsigned char)s[i])
                           : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
        if (d < 0 || v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) {
            fail("bad number '%s' in vector", s);
            return 0;
        }
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *out = v;
    return 1;
}

static int parse_u32(const char *s, int base, uint32_t *out)
{
    uint64_t v;
    if (!parse_u64(s, base, &v))
        return 0;
    if (v > UINT32_MAX) {
        fail("number '%s' too large for 32 bits", s);
        return 0;
    }
    *out = (uint32_t)v;
    return 1;
}

static int parse_size(const char *s, size_t *out)
{
    uint64_t v;
    if (!parse_u64(s, 10, &v))
        return 0;
    if (v > (uint64_t)(size_t)-1) {
        fail("number '%s' too large for size_t", s);
        return 0;
    }
    *out = (size_t)v;
    return 1;
}

/* Result names are compared as strings through kvs_result_name. */
static int result_is(int got, const char *want, const char *what)
{
    const char *name = kvs_result_name(got);
    if (strcmp(name, want) != 0) {
        fail("%s: got %s (%d), want %s", what, name, got, want);
        return 0;
    }
    return 1;
}

static int result_from_name(const char *name, int *out)
{
    int v;
    for (v = -64; v <= 64; v++) {
        if (strcmp(kvs_result_name(v), name) == 0) {
            *out = v;
            return 1;
        }
    }
    fail("unknown result name '%s'", name);
    return 0;
}

static void hexdump_diff(const char *what, const unsigned char *got, const unsigned char *want,
                         size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            fail("%s: first difference at byte %lu: got %02x, want %02x", what,
                 (unsigned long)i, got[i], want[i]);
            return;
        }
    }
}

#define NFIELD_CHECK(nf, want_min)                                                        \
    do {                                                                                  \
        if ((nf) < (want_min)) {                                                          \
            fail("record has %lu fields, needs at least %lu", (unsigned long)(nf),        \
                 (unsigned long)(want_min));                                              \
            return;                                                                       \
        }                                                                                 \
    } while (0)

/* ----------------------------------------------------------------- hashes */

static void rec_fnv(char **f, size_t nf)
{
    bytes d;
    uint64_t want, got, h;
    size_t cut;
    NFIELD_CHECK(nf, 3);
    if (!hex_bytes(f[1], &d))
        return;
    if (parse_u64(f[2], 16, &want)) {
        got = kvs_fnv1a64(d.p, d.n);
        if (got != want)
            fail("kvs_fnv1a64: got %016llx, want %016llx", (unsigned long long)got,
                 (unsigned long long)want);
        cut = d.n / 3;
        h = kvs_fnv1a64_update(KVS_FNV1A64_INIT, d.p, cut);
        h = kvs_fnv1a64_update(h, d.p + cut, d.n - cut);
        if (h != want)
            fail("kvs_fnv1a64_update in two pieces (cut %lu): got %016llx, want %016llx",
                 (unsigned long)cut, (unsigned long long)h, (unsigned long long)want);
    }
    free(d.p);
}

static void check_crc(const unsigned char *p, size_t n, uint32_t want)
{
    uint32_t got;
    size_t cuts[4], i;
    got = kvs_crc32c(0, p, n);
    if (got != want)
        fail("kvs_crc32c (%lu bytes): got %08lx, want %08lx", (unsigned long)n,
             (unsigned long)got, (unsigned long)want);
    got = kvs_crc32c_sw(0, p, n);
    if (got != want)
        fail("kvs_crc32c_sw (%lu bytes): got %08lx, want %08lx", (unsigned long)n,
             (unsigned long)got, (unsigned long)want);
    cuts[0] = n > 0 ? 1 : 0;
    cuts[1] = n / 2;
    cuts[2] = n > 0 ? n - 1 : 0;
    cuts[3] = n > 7 ? 7 : n;
    for (i = 0; i < 4; i++) {
        uint32_t a = kvs_crc32c(kvs_crc32c(0, p, cuts[i]), p + cuts[i], n - cuts[i]);
        uint32_t b = kvs_crc32c_sw(kvs_crc32c_sw(0, p, cuts[i]), p + cuts[i], n - cuts[i]);
        if (a != want || b != want) {
            fail("streaming CRC32C cut at %lu of %lu: hw/auto %08lx, sw %08lx, want %08lx",
                 (unsigned long)cuts[i], (unsigned long)n, (unsigned long)a, (unsigned long)b,
                 (unsigned long)want);
            break;
        }
    }
}

static void rec_crc(char **f, size_t nf)
{
    bytes d;
    uint32_t want;
    NFIELD_CHECK(nf, 3);
    if (!hex_bytes(f[1], &d))
        return;
    if (parse_u32(f[2], 16, &want))
        check_crc(d.p, d.n, want);
    free(d.p);
}

static void rec_crcpat(char **f, size_t nf)
{
    size_t n, i;
    uint32_t mul, add, want, crc;
    unsigned char *p;
    NFIELD_CHECK(nf, 5);
    if (!parse_size(f[1], &n) || !parse_u32(f[2], 10, &mul) || !parse_u32(f[3], 10, &add) ||
        !parse_u32(f[4], 16, &want))
        return;
    p = (unsigned char *)xmalloc(n);
    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(((uint64_t)i * mul + add) & 0xffu);
    check_crc(p, n, want);
    /* also in uneven chunks */
    crc = 0;
    for (i = 0; i < n; i += 4097)
        crc = kvs_crc32c(crc, p + i, n - i < 4097 ? n - i : 4097);
    if (crc != want)
        fail("kvs_crc32c in 4097-byte chunks: got %08lx, want %08lx", (unsigned long)crc,
             (unsigned long)want);
    free(p);
}

static void rec_mix(char **f, size_t nf)
{
    uint64_t x, want, got;
    NFIELD_CHECK(nf, 3);
    if (!parse_u64(f[1], 16, &x) || !parse_u64(f[2], 16, &want))
        return;
    got = kvs_mix64(x);
    if (got != want)
        fail("kvs_mix64(%016llx): got %016llx, want %016llx", (unsigned long long)x,
             (unsigned long long)got, (unsigned long long)want);
}

static void rec_lockbyte(char **f, size_t nf)
{
    uint64_t want, got;
    NFIELD_CHECK(nf, 3);
    if (!parse_u64(f[2], 16, &want))
        return;
    got = kvs_fsname_lock_byte(f[1], strlen(f[1]));
    if (got != want)
        fail("kvs_fsname_lock_byte(%s): got %016llx, want %016llx", f[1], (unsigned long long)got,
             (unsigned long long)want);
}

/* --------------------------------------------------------------- sharding */

static int policy_from_name(const char *s, kvs_shard_policy *out)
{
    kvs_shard_policy p;
    if (strcmp(s, "rendezvous") == 0)
        *out = KVS_SHARD_RENDEZVOUS;
    else if (strcmp(s, "mod") == 0)
        *out = KVS_SHARD_MOD;
    else if (strcmp(s, "rank") == 0)
        *out = KVS_SHARD_RANK;
    else {
        fail("unknown policy '%s' in vector", s);
        return 0;
    }
    if (kvs_shard_policy_parse(s, &p) != KVS_OK || p != *out)
        fail("kvs_shard_policy_parse(\"%s\") disagrees", s);
    if (strcmp(kvs_shard_policy_name(*out), s) != 0)
        fail("kvs_shard_policy_name(%d) = \"%s\", want \"%s\"", (int)*out,
             kvs_shard_policy_name(*out), s);
    return 1;
}

static void check_pick(kvs_shard_policy pol, uint32_t rank, const bytes *key,
                       const uint64_t *ids, size_t n, size_t want)
{
    size_t idx = (size_t)-1;
    kvs_result r = kvs_shard_pick(pol, key->p, key->n, ids, n, rank, &idx);
    if (r != KVS_OK) {
        fail("kvs_shard_pick(policy %d, n %lu, rank %lu): %s", (int)pol, (unsigned long)n,
             (unsigned long)rank, kvs_result_name(r));
        return;
    }
    if (idx != want)
        fail("kvs_shard_pick(policy %d, n %lu, rank %lu, key %lu bytes): index %lu, want %lu",
             (int)pol, (unsigned long)n, (unsigned long)rank, (unsigned long)key->n,
             (unsigned long)idx, (unsigned long)want);
}

static void rec_pick(char **f, size_t nf)
{
    kvs_shard_policy pol;
    uint32_t rank;
    bytes key;
    size_t n, i, want;
    uint64_t ids[KVS_PATHS_MAX];
    memset(ids, 0, sizeof ids);
    NFIELD_CHECK(nf, 5);
    if (!policy_from_name(f[1], &pol) || !parse_u32(f[2], 10, &rank) || !parse_size(f[4], &n))
        return;
    if (n == 0 || n > KVS_PATHS_MAX || nf != 6 + n) {
        fail("malformed pick record");
        return;
    }
    for (i = 0; i < n; i++)
        if (!parse_u64(f[5 + i], 16, &ids[i]))
            return;
    if (!parse_size(f[5 + n], &want) || !hex_bytes(f[3], &key))
        return;
    check_pick(pol, rank, &key, ids, n, want);
    free(key.p);
}

static void rec_pickpath(char **f, size_t nf)
{
    kvs_shard_policy pol;
    uint32_t rank;
    bytes key;
    size_t n, i, want;
    uint64_t ids[KVS_PATHS_MAX];
    memset(ids, 0, sizeof ids);
    NFIELD_CHECK(nf, 5);
    if (!policy_from_name(f[1], &pol) || !parse_u32(f[2], 10, &rank) || !parse_size(f[4], &n))
        return;
    if (n == 0 || n > KVS_PATHS_MAX || nf != 6 + 2 * n) {
        fail("malformed pickpath record");
        return;
    }
    for (i = 0; i < n; i++) {
        const char *path = f[5 + 2 * i];
        uint64_t h;
        if (!parse_u64(f[6 + 2 * i], 16, &ids[i]))
            return;
        h = kvs_fnv1a64(path, strlen(path));
        if (h != ids[i])
            fail("path identity of \"%s\": fnv1a64 %016llx, vector says %016llx", path,
                 (unsigned long long)h, (unsigned long long)ids[i]);
    }
    if (!parse_size(f[5 + 2 * n], &want) || !hex_bytes(f[3], &key))
        return;
    check_pick(pol, rank, &key, ids, n, want);
    free(key.p);
}

static void rec_move(char **f, size_t nf)
{
    bytes key;
    size_t na, nb, ia, ib, i, j, pos;
    uint64_t a[KVS_PATHS_MAX], b[KVS_PATHS_MAX];
    size_t got_a = (size_t)-1, got_b = (size_t)-1;
    int a_in_b = 0, b_in_a = 0;
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    NFIELD_CHECK(nf, 6);
    if (!parse_size(f[2], &na) || na == 0 || na > KVS_PATHS_MAX || nf < 3 + na + 2) {
        fail("malformed move record");
        return;
    }
    for (i = 0; i < na; i++)
        if (!parse_u64(f[3 + i], 16, &a[i]))
            return;
    pos = 3 + na;
    if (!parse_size(f[pos], &ia) || !parse_size(f[pos + 1], &nb) || nb == 0 ||
        nb > KVS_PATHS_MAX || nf != pos + 2 + nb + 1 || ia >= na) {
        fail("malformed move record");
        return;
    }
    for (i = 0; i < nb; i++)
        if (!parse_u64(f[pos + 2 + i], 16, &b[i]))
            return;
    if (!parse_size(f[pos + 2 + nb], &ib) || ib >= nb) {
        fail("malformed move record");
        return;
    }
    if (!hex_bytes(f[1], &key))
        return;
    if (kvs_shard_pick(KVS_SHARD_RENDEZVOUS, key.p, key.n, a, na, 0, &got_a) != KVS_OK ||
        kvs_shard_pick(KVS_SHARD_RENDEZVOUS, key.p, key.n, b, nb, 0, &got_b) != KVS_OK) {
        fail("kvs_shard_pick failed on a move record");
    } else {
        if (got_a != ia)
            fail("rendezvous before the change: index %lu, want %lu", (unsigned long)got_a,
                 (unsigned long)ia);
        if (got_b != ib)
            fail("rendezvous after the change: index %lu, want %lu", (unsigned long)got_b,
                 (unsigned long)ib);
        /* the key may move only off a removed path or onto an added one */
        for (j = 0; j < nb; j++)
            if (b[j] == a[got_a])
                a_in_b = 1;
        for (j = 0; j < na; j++)
            if (a[j] == b[got_b])
                b_in_a = 1;
        if (a_in_b && b_in_a && a[got_a] != b[got_b])
            fail("rendezvous moved a key between two paths present before and after");
    }
    free(key.p);
}

static void rec_pickerr(char **f, size_t nf)
{
    uint32_t pol, rank;
    size_t klen, n, i, idx = (size_t)-1;
    unsigned char *key;
    uint64_t ids[KVS_PATHS_MAX + 1];
    kvs_result r;
    memset(ids, 0, sizeof ids);
    NFIELD_CHECK(nf, 6);
    if (!parse_u32(f[1], 10, &pol) || !parse_u32(f[2], 10, &rank) || !parse_size(f[3], &klen) ||
        !parse_size(f[4], &n) || n > KVS_PATHS_MAX + 1) {
        fail("malformed pickerr record");
        return;
    }
    key = (unsigned char *)xmalloc(klen);
    memset(key, 'k', klen);
    for (i = 0; i < n; i++)
        ids[i] = (uint64_t)i + 1;
    r = kvs_shard_pick((kvs_shard_policy)pol, key, klen, ids, n, rank, &idx);
    if (result_is(r, f[5], "kvs_shard_pick") && r == KVS_OK && idx >= n)
        fail("kvs_shard_pick: index %lu out of range", (unsigned long)idx);
    free(key);
}

/* -------------------------------------------------------------- path lists */

static void rec_parse(char **f, size_t nf)
{
    cstr text;
    kvs_pathlist pl;
    kvs_result r;
    size_t n, i;
    NFIELD_CHECK(nf, 3);
    if (!hex_cstr(f[1], &text))
        return;
    memset(&pl, 0x5a, sizeof pl);
    r = kvs_pathlist_parse(text.p, NULL, &pl);
    if (result_is(r, f[2], "kvs_pathlist_parse")) {
        if (r != KVS_OK) {
            if (pl.count != 0)
                fail("kvs_pathlist_parse failed but count is %lu (want 0)",
                     (unsigned long)pl.count);
        } else if (nf < 4 || !parse_size(f[3], &n) || nf != 4 + 2 * n) {
            fail("malformed parse record");
        } else if (pl.count != n) {
            fail("kvs_pathlist_parse: %lu paths, want %lu", (unsigned long)pl.count,
                 (unsigned long)n);
        } else {
            for (i = 0; i < n; i++) {
                bytes want;
                uint64_t id;
                if (!hex_bytes(f[4 + 2 * i], &want))
                    break;
                if (parse_u64(f[5 + 2 * i], 16, &id)) {
                    if (pl.lens[i] != want.n || strlen(pl.paths[i]) != want.n ||
                        memcmp(pl.paths[i], want.p, want.n) != 0)
                        fail("path %lu: got \"%s\" (%lu bytes), want %lu bytes (%s)",
                             (unsigned long)i, pl.paths[i], (unsigned long)pl.lens[i],
                             (unsigned long)want.n, f[4 + 2 * i]);
                    if (pl.ids[i] != id)
                        fail("path %lu: id %016llx, want %016llx", (unsigned long)i,
                             (unsigned long long)pl.ids[i], (unsigned long long)id);
                }
                free(want.p);
            }
        }
    }
    if (r == KVS_OK)
        kvs_pathlist_free(&pl);
    free(text.p);
}

static void rec_norm(char **f, size_t nf)
{
    bytes in;
    char out[KVS_PATH_MAX + 2];
    size_t out_len = (size_t)-1;
    kvs_result r;
    NFIELD_CHECK(nf, 3);
    if (!hex_bytes(f[1], &in))
        return;
    r = kvs_path_normalize((const char *)in.p, in.n, out, sizeof out, &out_len);
    if (result_is(r, f[2], "kvs_path_normalize") && r == KVS_OK) {
        bytes want;
        if (nf != 4) {
            fail("malformed norm record");
        } else if (hex_bytes(f[3], &want)) {
            if (out_len != want.n || memcmp(out, want.p, want.n) != 0 || out[want.n] != '\0')
                fail("kvs_path_normalize: got %lu bytes \"%.80s\", want %lu bytes",
                     (unsigned long)out_len, out, (unsigned long)want.n);
            free(want.p);
        }
    }
    free(in.p);
}

static void rec_prefix(char **f, size_t nf)
{
    cstr path, dir;
    uint32_t want;
    int got;
    NFIELD_CHECK(nf, 4);
    if (!parse_u32(f[3], 10, &want) || !hex_cstr(f[1], &path))
        return;
    if (hex_cstr(f[2], &dir)) {
        got = kvs_path_has_prefix(path.p, dir.p) ? 1 : 0;
        if ((uint32_t)got != want)
            fail("kvs_path_has_prefix(\"%s\", \"%s\") = %d, want %lu", path.p, dir.p, got,
                 (unsigned long)want);
        free(dir.p);
    }
    free(path.p);
}

/* -------------------------------------------------------------- filenames */

static const char *kind_name(kvs_fsname_kind k)
{
    switch (k) {
    case KVS_FSNAME_READABLE: return "readable";
    case KVS_FSNAME_HASHED: return "hashed";
    case KVS_FSNAME_TEMP: return "temp";
    }
    return "?";
}

static void rec_enc(char **f, size_t nf)
{
    bytes key;
    char out[KVS_FSNAME_MAX + 1];
    size_t out_len = (size_t)-1;
    kvs_fsname_kind kind = (kvs_fsname_kind)99;
    kvs_result r;
    NFIELD_CHECK(nf, 3);
    if (!hex_bytes(f[1], &key))
        return;
    r = kvs_fsname_encode(key.p, key.n, out, sizeof out, &out_len, &kind);
    if (result_is(r, f[2], "kvs_fsname_encode") && r == KVS_OK) {
        if (nf != 5) {
            fail("malformed enc record");
        } else {
            const char *want = f[4];
            size_t wlen = strlen(want);
            if (out_len != wlen || memcmp(out, want, wlen) != 0 || out[wlen] != '\0')
                fail("kvs_fsname_encode: got \"%.*s\", want \"%s\"",
                     (int)(out_len < sizeof out ? out_len : 0), out, want);
            else {
                unsigned char *kb = (unsigned char *)xmalloc(KVS_KEY_MAX);
                size_t klen = (size_t)-1;
                kvs_fsname_kind dk = (kvs_fsname_kind)99;
                char *exact = (char *)xmalloc(wlen + 1);
                size_t elen = 0;
                kvs_result rr;
                if (strcmp(kind_name(kind), f[3]) != 0)
                    fail("kvs_fsname_encode kind %s, want %s", kind_name(kind), f[3]);
                /* the name decodes back */
                rr = kvs_fsname_decode(out, out_len, kb, KVS_KEY_MAX, &klen, &dk);
                if (rr != KVS_OK)
                    fail("kvs_fsname_decode of the encoded name: %s", kvs_result_name(rr));
                else if (dk != kind)
                    fail("decode kind %s, encode kind %s", kind_name(dk), kind_name(kind));
                else if (klen != key.n ||
                         (dk == KVS_FSNAME_READABLE && memcmp(kb, key.p, key.n) != 0))
                    fail("decode does not give the key back (len %lu, want %lu)",
                         (unsigned long)klen, (unsigned long)key.n);
                /* an exactly sized buffer suffices, one byte less does not */
                rr = kvs_fsname_encode(key.p, key.n, exact, wlen + 1, &elen, NULL);
                if (rr != KVS_OK || elen != wlen || memcmp(exact, want, wlen + 1) != 0)
                    fail("kvs_fsname_encode with cap = name length + 1: %s",
                         kvs_result_name(rr));
                rr = kvs_fsname_encode(key.p, key.n, exact, wlen, &elen, NULL);
                if (rr != KVS_E_BUFSIZE)
                    fail("kvs_fsname_encode with cap = name length: %s, want KVS_E_BUFSIZE",
                         kvs_result_name(rr));
                free(exact);
                free(kb);
            }
        }
    }
    free(key.p);
}

static void rec_dec(char **f, size_t nf)
{
    bytes name;
    unsigned char *kb;
    size_t klen = (size_t)-1;
    kvs_fsname_kind kind = (kvs_fsname_kind)99;
    kvs_result r;
    NFIELD_CHECK(nf, 3);
    if (!hex_bytes(f[1], &name))
        return;
    kb = (unsigned char *)xmalloc(KVS_KEY_MAX);
    r = kvs_fsname_decode((const char *)name.p, name.n, kb, KVS_KEY_MAX, &klen, &kind);
    if (!result_is(r, f[2], "kvs_fsname_decode")) {
        fail("  (name %s)", f[1]);
    } else if (r == KVS_OK) {
        if (nf != 5) {
            fail("malformed dec record");
        } else if (strcmp(kind_name(kind), f[3]) != 0) {
            fail("kvs_fsname_decode kind %s, want %s", kind_name(kind), f[3]);
        } else if (kind == KVS_FSNAME_READABLE) {
            bytes want;
            if (hex_bytes(f[4], &want)) {
                if (klen != want.n || memcmp(kb, want.p, want.n) != 0)
                    fail("kvs_fsname_decode: key of %lu bytes differs from the %lu-byte key",
                         (unsigned long)klen, (unsigned long)want.n);
                free(want.p);
            }
        } else if (kind == KVS_FSNAME_HASHED) {
            size_t want;
            if (parse_size(f[4], &want) && klen != want)
                fail("kvs_fsname_decode hashed: key length %lu, want %lu",
                     (unsigned long)klen, (unsigned long)want);
        }
    }
    free(kb);
    free(name.p);
}

static void rec_temp(char **f, size_t nf)
{
    uint64_t w, s;
    char out[KVS_FSNAME_MAX + 1];
    size_t len = (size_t)-1;
    kvs_result r;
    NFIELD_CHECK(nf, 4);
    if (!parse_u64(f[1], 16, &w) || !parse_u64(f[2], 16, &s))
        return;
    r = kvs_fsname_temp(w, s, out, sizeof out, &len);
    if (r != KVS_OK)
        fail("kvs_fsname_temp: %s", kvs_result_name(r));
    else if (len != strlen(f[3]) || strcmp(out, f[3]) != 0)
        fail("kvs_fsname_temp: got \"%.*s\", want \"%s\"",
             (int)(len < sizeof out ? len : 0), out, f[3]);
    else {
        size_t klen;
        kvs_fsname_kind k = (kvs_fsname_kind)99;
        unsigned char kb[8];
        r = kvs_fsname_decode(out, len, kb, sizeof kb, &klen, &k);
        if (r != KVS_OK || k != KVS_FSNAME_TEMP)
            fail("kvs_fsname_decode of a temp name: %s, kind %s", kvs_result_name(r),
                 kind_name(k));
    }
}

/* ----------------------------------------------------------------- TP map */

static void rec_tp(char **f, size_t nf)
{
    cstr text;
    uint32_t ew, world, i;
    kvs_tpmap map;
    char err[256];
    kvs_result r;
    NFIELD_CHECK(nf, 4);
    if (!parse_u32(f[2], 10, &ew) || !hex_cstr(f[1], &text))
        return;
    memset(&map, 0, sizeof map);
    err[0] = '\0';
    r = kvs_tpmap_parse(text.p, ew, NULL, &map, err, sizeof err);
    if (!result_is(r, f[3], "kvs_tpmap_parse")) {
        fail("  (text \"%.120s\"; message: %s)", text.p, err);
    } else if (r == KVS_OK) {
        if (nf < 5 || !parse_u32(f[4], 10, &world) || nf != 5 + (size_t)world) {
            fail("malformed tp record");
        } else if (map.world != world) {
            fail("kvs_tpmap_parse: world %lu, want %lu", (unsigned long)map.world,
                 (unsigned long)world);
        } else {
            for (i = 0; i < world; i++) {
                cstr want;
                if (!hex_cstr(f[5 + i], &want))
                    break;
                if (!map.paths || !map.paths[i] || strcmp(map.paths[i], want.p) != 0)
                    fail("kvs_tpmap_parse: rank %lu path \"%s\", want \"%s\"",
                         (unsigned long)i, map.paths && map.paths[i] ? map.paths[i] : "(null)",
                         want.p);
                free(want.p);
            }
        }
    }
    if (r == KVS_OK)
        kvs_tpmap_free(&map);
    free(text.p);
}

/* ----------------------------------------------------------------- layout */

static void check_u64(const char *what, uint64_t got, uint64_t want)
{
    if (got != want)
        fail("%s: got %llu, want %llu", what, (unsigned long long)got,
             (unsigned long long)want);
}

static void rec_layout(char **f, size_t nf)
{
    uint64_t in[4], v[10], off;
    kvs_layout l;
    char err[256];
    kvs_result r;
    size_t i;
    NFIELD_CHECK(nf, 6);
    for (i = 0; i < 4; i++)
        if (!parse_u64(f[1 + i], 10, &in[i]))
            return;
    memset(&l, 0, sizeof l);
    err[0] = '\0';
    r = kvs_layout_compute(in[0], in[1], in[2], in[3], &l, err, sizeof err);
    if (!result_is(r, f[5], "kvs_layout_compute")) {
        fail("  (message: %s)", err);
        return;
    }
    if (r != KVS_OK)
        return;
    if (nf != 16) {
        fail("malformed layout record");
        return;
    }
    for (i = 0; i < 10; i++)
        if (!parse_u64(f[6 + i], 10, &v[i]))
            return;
    check_u64("device_bytes", l.device_bytes, in[0]);
    check_u64("align", l.align, in[1]);
    check_u64("meta_bytes", l.meta_bytes, in[2]);
    check_u64("slot_bytes", l.slot_bytes, in[3]);
    check_u64("sb_offset", l.sb_offset, 0);
    check_u64("sb_bytes", l.sb_bytes, v[0]);
    check_u64("ckpt_bytes", l.ckpt_bytes, v[1]);
    check_u64("ckpt_offset[0]", l.ckpt_offset[0], v[2]);
    check_u64("ckpt_offset[1]", l.ckpt_offset[1], v[3]);
    check_u64("slots_offset", l.slots_offset, v[4]);
    check_u64("slot_header_bytes", l.slot_header_bytes, v[5]);
    check_u64("slot_payload_max", l.slot_payload_max, v[6]);
    check_u64("slot_count", l.slot_count, v[7]);
    check_u64("used_bytes", l.used_bytes, v[8]);
    r = kvs_layout_slot_offset(&l, 0, &off);
    if (r != KVS_OK)
        fail("kvs_layout_slot_offset(0): %s", kvs_result_name(r));
    else
        check_u64("slot_offset(0)", off, v[4]);
    r = kvs_layout_slot_offset(&l, v[7] - 1, &off);
    if (r != KVS_OK)
        fail("kvs_layout_slot_offset(slot_count - 1): %s", kvs_result_name(r));
    else
        check_u64("slot_offset(slot_count - 1)", off, v[9]);
    r = kvs_layout_slot_offset(&l, v[7], &off);
    if (r != KVS_E_INVAL)
        fail("kvs_layout_slot_offset(slot_count): %s, want KVS_E_INVAL", kvs_result_name(r));
}

/* ---------------------------------------------------------------- records */

#define SB_NFIELDS 13

static int sb_from_fields(char **f, kvs_superblock *sb)
{
    uint64_t v[SB_NFIELDS];
    size_t i;
    for (i = 0; i < SB_NFIELDS; i++)
        if (!parse_u64(f[i], 10, &v[i]))
            return 0;
    for (i = 6; i < 10; i++)
        if (v[i] > UINT32_MAX) {
            fail("32-bit superblock field too large in vector");
            return 0;
        }
    memset(sb, 0, sizeof *sb);
    sb->format_version = KVS_FORMAT_VERSION;
    sb->device_bytes = v[0];
    sb->align = v[1];
    sb->meta_bytes = v[2];
    sb->slot_bytes = v[3];
    sb->slot_count = v[4];
    sb->slots_offset = v[5];
    sb->tp_rank = (uint32_t)v[6];
    sb->tp_world = (uint32_t)v[7];
    sb->shard_policy = (uint32_t)v[8];
    sb->flags = (uint32_t)v[9];
    sb->store_id = v[10];
    sb->path_id = v[11];
    sb->created_ns = v[12];
    return 1;
}

static void sb_compare(const kvs_superblock *got, const kvs_superblock *want)
{
    check_u64("sb.format_version", got->format_version, KVS_FORMAT_VERSION);
    check_u64("sb.device_bytes", got->device_bytes, want->device_bytes);
    check_u64("sb.align", got->align, want->align);
    check_u64("sb.meta_bytes", got->meta_bytes, want->meta_bytes);
    check_u64("sb.slot_bytes", got->slot_bytes, want->slot_bytes);
    check_u64("sb.slot_count", got->slot_count, want->slot_count);
    check_u64("sb.slots_offset", got->slots_offset, want->slots_offset);
    check_u64("sb.tp_rank", got->tp_rank, want->tp_rank);
    check_u64("sb.tp_world", got->tp_world, want->tp_world);
    check_u64("sb.shard_policy", got->shard_policy, want->shard_policy);
    check_u64("sb.flags", got->flags, want->flags);
    check_u64("sb.store_id", got->store_id, want->store_id);
    check_u64("sb.path_id", got->path_id, want->path_id);
    check_u64("sb.created_ns", got->created_ns, want->created_ns);
}

static void rec_sb_enc(char **f, size_t nf)
{
    size_t cap;
    kvs_superblock sb, back;
    unsigned char *buf;
    kvs_result r;
    NFIELD_CHECK(nf, 2 + SB_NFIELDS + 1);
    if (!parse_size(f[1], &cap) || !sb_from_fields(f + 2, &sb))
        return;
    buf = (unsigned char *)xmalloc(cap);
    memset(buf, 0xa5, cap);
    r = kvs_superblock_encode(&sb, buf, cap);
    if (result_is(r, f[2 + SB_NFIELDS], "kvs_superblock_encode") && r == KVS_OK) {
        bytes want;
        if (nf != 2 + SB_NFIELDS + 2) {
            fail("malformed sb_enc record");
        } else if (hex_bytes(f[3 + SB_NFIELDS], &want)) {
            if (want.n != KVS_SB_RECORD_BYTES || cap < want.n)
                fail("malformed sb_enc record (length)");
            else {
                hexdump_diff("kvs_superblock_encode", buf, want.p, want.n);
                memset(&back, 0, sizeof back);
                r = kvs_superblock_decode(buf, KVS_SB_RECORD_BYTES, &back);
                if (r != KVS_OK)
                    fail("decode of the encoded superblock: %s", kvs_result_name(r));
                else
                    sb_compare(&back, &sb);
            }
            free(want.p);
        }
    }
    free(buf);
}

static void rec_sb_dec(char **f, size_t nf)
{
    bytes in;
    kvs_superblock got, want;
    kvs_result r;
    NFIELD_CHECK(nf, 3);
    if (!hex_bytes(f[1], &in))
        return;
    memset(&got, 0, sizeof got);
    r = kvs_superblock_decode(in.p, in.n, &got);
    if (result_is(r, f[2], "kvs_superblock_decode") && r == KVS_OK) {
        if (nf != 3 + SB_NFIELDS)
            fail("malformed sb_dec record");
        else if (sb_from_fields(f + 3, &want))
            sb_compare(&got, &want);
    }
    free(in.p);
}

static void ck_compare(const kvs_ckpt_header *got, const kvs_ckpt_header *want)
{
    check_u64("ckpt.copy", got->copy, want->copy);
    check_u64("ckpt.seq", got->seq, want->seq);
    check_u64("ckpt.payload_len", got->payload_len, want->payload_len);
    check_u64("ckpt.payload_crc", got->payload_crc, want->payload_crc);
    check_u64("ckpt.store_id", got->store_id, want->store_id);
}

static int ck_from_fields(char **f, kvs_ckpt_header *h)
{
    memset(h, 0, sizeof *h);
    return parse_u32(f[0], 10, &h->copy) && parse_u64(f[1], 10, &h->seq) &&
           parse_u64(f[2], 10, &h->payload_len) && parse_u32(f[3], 10, &h->payload_crc) &&
           parse_u64(f[4], 10, &h->store_id);
}

static void rec_ck_enc(char **f, size_t nf)
{
    kvs_ckpt_header h, back;
    unsigned char buf[KVS_CKPT_HEADER_BYTES];
    kvs_result r;
    NFIELD_CHECK(nf, 7);
    if (!ck_from_fields(f + 1, &h))
        return;
    memset(buf, 0xa5, sizeof buf);
    r = kvs_ckpt_header_encode(&h, buf, sizeof buf);
    if (result_is(r, f[6], "kvs_ckpt_header_encode") && r == KVS_OK) {
        bytes want;
        if (nf != 8) {
            fail("malformed ck_enc record");
        } else if (hex_bytes(f[7], &want)) {
            if (want.n != KVS_CKPT_HEADER_BYTES)
                fail("malformed ck_enc record (length)");
            else {
                hexdump_diff("kvs_ckpt_header_encode", buf, want.p, want.n);
                memset(&back, 0, sizeof back);
                r = kvs_ckpt_header_decode(buf, sizeof buf, UINT64_MAX, &back);
                if (r != KVS_OK)
                    fail("decode of the encoded checkpoint header: %s", kvs_result_name(r));
                else
                    ck_compare(&back, &h);
            }
            free(want.p);
        }
    }
}

static void rec_ck_dec(char **f, size_t nf)
{
    uint64_t pmax;
    bytes in;
    kvs_ckpt_header got, want;
    kvs_result r;
    NFIELD_CHECK(nf, 4);
    if (!parse_u64(f[1], 10, &pmax) || !hex_bytes(f[2], &in))
        return;
    memset(&got, 0, sizeof got);
    r = kvs_ckpt_header_decode(in.p, in.n, pmax, &got);
    if (result_is(r, f[3], "kvs_ckpt_header_decode") && r == KVS_OK) {
        if (nf != 9)
            fail("malformed ck_dec record");
        else if (ck_from_fields(f + 4, &want))
            ck_compare(&got, &want);
    }
    free(in.p);
}

static void rec_ck_pick(char **f, size_t nf)
{
    int r0, r1;
    kvs_ckpt_header h0, h1;
    uint32_t got = 99, want;
    kvs_result r;
    NFIELD_CHECK(nf, 8);
    memset(&h0, 0, sizeof h0);
    memset(&h1, 0, sizeof h1);
    if (!result_from_name(f[1], &r0) || !parse_u32(f[2], 10, &h0.copy) ||
        !parse_u64(f[3], 10, &h0.seq) || !result_from_name(f[4], &r1) ||
        !parse_u32(f[5], 10, &h1.copy) || !parse_u64(f[6], 10, &h1.seq))
        return;
    h0.store_id = h1.store_id = 1;
    r = kvs_ckpt_pick((kvs_result)r0, &h0, (kvs_result)r1, &h1, &got);
    if (result_is(r, f[7], "kvs_ckpt_pick") && r == KVS_OK) {
        if (nf != 9 || !parse_u32(f[8], 10, &want))
            fail("malformed ck_pick record");
        else if (got != want)
            fail("kvs_ckpt_pick: copy %lu, want %lu", (unsigned long)got,
                 (unsigned long)want);
    }
}

static void obj_compare(const kvs_objhdr *got, const kvs_objhdr *want)
{
    check_u64("obj.key_len", got->key_len, want->key_len);
    check_u64("obj.payload_len", got->payload_len, want->payload_len);
    check_u64("obj.generation", got->generation, want->generation);
    check_u64("obj.store_id", got->store_id, want->store_id);
    check_u64("obj.payload_offset", got->payload_offset, want->payload_offset);
    check_u64("obj.payload_crc", got->payload_crc, want->payload_crc);
    if (got->key_len == want->key_len &&
        (!got->key || memcmp(got->key, want->key, want->key_len) != 0))
        fail("obj.key differs");
}

static void rec_obj_enc(char **f, size_t nf)
{
    bytes key;
    kvs_objhdr h, back;
    unsigned char *buf;
    size_t cap = KVS_OBJHDR_MAX_BYTES, out_len = (size_t)-1;
    kvs_result r;
    NFIELD_CHECK(nf, 8);
    memset(&h, 0, sizeof h);
    if (!parse_u64(f[2], 10, &h.payload_len) || !parse_u64(f[3], 10, &h.generation) ||
        !parse_u64(f[4], 10, &h.store_id) || !parse_u32(f[5], 10, &h.payload_offset) ||
        !parse_u32(f[6], 10, &h.payload_crc) || !hex_bytes(f[1], &key))
        return;
    if (key.n > KVS_KEY_MAX + 1) {
        fail("malformed obj_enc record");
        free(key.p);
        return;
    }
    h.key_len = (uint32_t)key.n;
    h.key = key.p;
    buf = (unsigned char *)xmalloc(cap);
    memset(buf, 0xa5, cap);
    r = kvs_objhdr_encode(&h, buf, cap, &out_len);
    if (result_is(r, f[7], "kvs_objhdr_encode") && r == KVS_OK) {
        bytes want;
        if (nf != 9) {
            fail("malformed obj_enc record");
        } else if (hex_bytes(f[8], &want)) {
            if (out_len != want.n)
                fail("kvs_objhdr_encode wrote %lu bytes, want %lu", (unsigned long)out_len,
                     (unsigned long)want.n);
            else {
                hexdump_diff("kvs_objhdr_encode", buf, want.p, want.n);
                memset(&back, 0, sizeof back);
                r = kvs_objhdr_decode(buf, out_len, &back);
                if (r != KVS_OK)
                    fail("decode of the encoded object header: %s", kvs_result_name(r));
                else
                    obj_compare(&back, &h);
            }
            free(want.p);
        }
    }
    free(buf);
    free(key.p);
}

static void rec_obj_dec(char **f, size_t nf)
{
    bytes in, key;
    kvs_objhdr got, want;
    kvs_result r;
    NFIELD_CHECK(nf, 3);
    if (!hex_bytes(f[1], &in))
        return;
    memset(&got, 0, sizeof got);
    r = kvs_objhdr_decode(in.p, in.n, &got);
    if (result_is(r, f[2], "kvs_objhdr_decode") && r == KVS_OK) {
        memset(&want, 0, sizeof want);
        if (nf != 10) {
            fail("malformed obj_dec record");
        } else if (parse_u32(f[3], 10, &want.key_len) && parse_u64(f[4], 10, &want.payload_len) &&
                   parse_u64(f[5], 10, &want.generation) && parse_u64(f[6], 10, &want.store_id) &&
                   parse_u32(f[7], 10, &want.payload_offset) &&
                   parse_u32(f[8], 10, &want.payload_crc) && hex_bytes(f[9], &key)) {
            want.key = key.p;
            obj_compare(&got, &want);
            if (got.key && ((const unsigned char *)got.key < in.p ||
                            (const unsigned char *)got.key + got.key_len > in.p + in.n))
                fail("obj.key does not point into the decoded buffer");
            free(key.p);
        }
    }
    free(in.p);
}

/* ------------------------------------------------------ index (FORMAT 6.4) */

static int ixh_from_fields(char **f, kvs_index_header *h)
{
    memset(h, 0, sizeof *h);
    return parse_u64(f[0], 10, &h->gen_floor) && parse_u64(f[1], 10, &h->alloc_limit) &&
           parse_u64(f[2], 10, &h->slot_count) && parse_u32(f[3], 10, &h->entry_count);
}

static void ixh_compare(const kvs_index_header *got, const kvs_index_header *want)
{
    check_u64("index.gen_floor", got->gen_floor, want->gen_floor);
    check_u64("index.alloc_limit", got->alloc_limit, want->alloc_limit);
    check_u64("index.slot_count", got->slot_count, want->slot_count);
    check_u64("index.entry_count", got->entry_count, want->entry_count);
}

static void rec_ixh_enc(char **f, size_t nf)
{
    kvs_index_header h, back;
    unsigned char *buf;
    kvs_result r;
    NFIELD_CHECK(nf, 6);
    if (!ixh_from_fields(f + 1, &h))
        return;
    /* exactly the header's size, so that the sanitizers see a write past it */
    buf = (unsigned char *)xmalloc(KVS_INDEX_HEADER_BYTES);
    memset(buf, 0xa5, KVS_INDEX_HEADER_BYTES);
    r = kvs_index_header_encode(&h, buf, KVS_INDEX_HEADER_BYTES);
    if (result_is(r, f[5], "kvs_index_header_encode") && r == KVS_OK) {
        bytes want;
        if (nf != 7) {
            fail("malformed ixh_enc record");
        } else if (hex_bytes(f[6], &want)) {
            if (want.n != KVS_INDEX_HEADER_BYTES)
                fail("malformed ixh_enc record (length)");
            else {
                hexdump_diff("kvs_index_header_encode", buf, want.p, want.n);
                memset(&back, 0, sizeof back);
                r = kvs_index_header_decode(buf, KVS_INDEX_HEADER_BYTES, &back);
                if (r != KVS_OK)
                    fail("decode of the encoded index header: %s", kvs_result_name(r));
                else
                    ixh_compare(&back, &h);
            }
            free(want.p);
        }
    }
    free(buf);
}

static void rec_ixh_dec(char **f, size_t nf)
{
    bytes in;
    kvs_index_header got, want;
    kvs_result r;
    NFIELD_CHECK(nf, 3);
    if (!hex_bytes(f[1], &in))
        return;
    memset(&got, 0, sizeof got);
    r = kvs_index_header_decode(in.p, in.n, &got);
    if (result_is(r, f[2], "kvs_index_header_decode") && r == KVS_OK) {
        if (nf != 7)
            fail("malformed ixh_dec record");
        else if (ixh_from_fields(f + 3, &want))
            ixh_compare(&got, &want);
    }
    free(in.p);
}

static void ixe_compare(const kvs_index_entry *got, const kvs_index_entry *want)
{
    check_u64("entry.slot", got->slot, want->slot);
    check_u64("entry.key_len", got->key_len, want->key_len);
    check_u64("entry.generation", got->generation, want->generation);
    check_u64("entry.payload_len", got->payload_len, want->payload_len);
    check_u64("entry.payload_crc", got->payload_crc, want->payload_crc);
    if (got->key_len == want->key_len &&
        (!got->key || memcmp(got->key, want->key, want->key_len) != 0))
        fail("entry.key differs");
}

static void rec_ixe_enc(char **f, size_t nf)
{
    bytes key;
    kvs_index_entry e, back;
    unsigned char *buf;
    size_t out_len = (size_t)-1, used = (size_t)-1, size;
    kvs_result r;
    NFIELD_CHECK(nf, 7);
    memset(&e, 0, sizeof e);
    if (!parse_u32(f[1], 10, &e.slot) || !parse_u64(f[3], 10, &e.generation) ||
        !parse_u64(f[4], 10, &e.payload_len) || !parse_u32(f[5], 10, &e.payload_crc) ||
        !hex_bytes(f[2], &key))
        return;
    if (key.n > KVS_KEY_MAX + 1) {
        fail("malformed ixe_enc record");
        free(key.p);
        return;
    }
    e.key_len = (uint32_t)key.n;
    e.key = key.p;
    size = kvs_index_entry_size(e.key_len);
    if (strcmp(f[6], "KVS_OK") != 0 || nf != 8) {
        /* FORMAT.md names no entry-encoder refusals; the generator writes none */
        fail("malformed ixe_enc record (only KVS_OK records with bytes are expected)");
        free(key.p);
        return;
    }
    {
        bytes want;
        if (!hex_bytes(f[7], &want)) {
            free(key.p);
            return;
        }
        if (size != want.n)
            fail("kvs_index_entry_size(%lu) = %lu, want %lu", (unsigned long)e.key_len,
                 (unsigned long)size, (unsigned long)want.n);
        /* a buffer of exactly the entry's size */
        buf = (unsigned char *)xmalloc(want.n);
        memset(buf, 0xa5, want.n);
        r = kvs_index_entry_encode(&e, buf, want.n, &out_len);
        if (result_is(r, f[6], "kvs_index_entry_encode")) {
            if (out_len != want.n)
                fail("kvs_index_entry_encode wrote %lu bytes, want %lu", (unsigned long)out_len,
                     (unsigned long)want.n);
            else {
                hexdump_diff("kvs_index_entry_encode", buf, want.p, want.n);
                memset(&back, 0, sizeof back);
                r = kvs_index_entry_decode(buf, out_len, (uint64_t)e.slot + 1, &back, &used);
                if (r != KVS_OK)
                    fail("decode of the encoded index entry: %s", kvs_result_name(r));
                else {
                    ixe_compare(&back, &e);
                    check_u64("entry used", used, want.n);
                }
            }
        }
        free(buf);
        free(want.p);
    }
    free(key.p);
}

static void rec_ixe_dec(char **f, size_t nf)
{
    uint64_t slot_count;
    bytes in, key;
    kvs_index_entry got, want;
    size_t used = (size_t)-1, want_used;
    kvs_result r;
    NFIELD_CHECK(nf, 4);
    if (!parse_u64(f[1], 10, &slot_count) || !hex_bytes(f[2], &in))
        return;
    memset(&got, 0, sizeof got);
    r = kvs_index_entry_decode(in.p, in.n, slot_count, &got, &used);
    if (result_is(r, f[3], "kvs_index_entry_decode") && r == KVS_OK) {
        memset(&want, 0, sizeof want);
        if (nf != 11) {
            fail("malformed ixe_dec record");
        } else if (parse_u32(f[4], 10, &want.slot) && parse_u32(f[5], 10, &want.key_len) &&
                   parse_u64(f[6], 10, &want.generation) &&
                   parse_u64(f[7], 10, &want.payload_len) &&
                   parse_u32(f[8], 10, &want.payload_crc) && parse_size(f[10], &want_used) &&
                   hex_bytes(f[9], &key)) {
            want.key = key.p;
            ixe_compare(&got, &want);
            check_u64("entry used", used, want_used);
            check_u64("kvs_index_entry_size(key_len) vs used",
                      kvs_index_entry_size(got.key_len), want_used);
            if (got.key && ((const unsigned char *)got.key < in.p ||
                            (const unsigned char *)got.key + got.key_len > in.p + in.n))
                fail("entry.key does not point into the decoded buffer");
            free(key.p);
        }
    }
    free(in.p);
}

static void rec_ixe_size(char **f, size_t nf)
{
    uint32_t kl;
    size_t want;
    NFIELD_CHECK(nf, 3);
    if (!parse_u32(f[1], 10, &kl) || !parse_size(f[2], &want))
        return;
    check_u64("kvs_index_entry_size", kvs_index_entry_size(kl), want);
}

/* --------------------------------------------------- path set (FORMAT 7.2) */

/* f[0..3] = n index policy store_id; idf[0..nids-1] the identities (hex16). */
static int ps_from_fields(char **f, char **idf, size_t nids, kvs_pathset *ps)
{
    size_t i;
    memset(ps, 0, sizeof *ps);
    if (!parse_u32(f[0], 10, &ps->count) || !parse_u32(f[1], 10, &ps->index) ||
        !parse_u32(f[2], 10, &ps->shard_policy) || !parse_u64(f[3], 10, &ps->store_id))
        return 0;
    if (nids > KVS_PATHS_MAX) {
        fail("malformed path-set record (too many identities)");
        return 0;
    }
    for (i = 0; i < nids; i++)
        if (!parse_u64(idf[i], 16, &ps->ids[i]))
            return 0;
    return 1;
}

static void ps_compare(const kvs_pathset *got, const kvs_pathset *want)
{
    uint32_t i;
    check_u64("pathset.count", got->count, want->count);
    check_u64("pathset.index", got->index, want->index);
    check_u64("pathset.shard_policy", got->shard_policy, want->shard_policy);
    check_u64("pathset.store_id", got->store_id, want->store_id);
    if (got->count == want->count && want->count <= KVS_PATHS_MAX)
        for (i = 0; i < want->count; i++)
            if (got->ids[i] != want->ids[i]) {
                fail("pathset.ids[%lu]: got %016llx, want %016llx", (unsigned long)i,
                     (unsigned long long)got->ids[i], (unsigned long long)want->ids[i]);
                break;
            }
}

static void rec_ps_enc(char **f, size_t nf)
{
    size_t k, cap = kvs_pathset_size(KVS_PATHS_MAX), out_len = (size_t)-1;
    kvs_pathset ps, back;
    unsigned char *buf;
    kvs_result r;
    NFIELD_CHECK(nf, 7);
    if (!parse_size(f[5], &k) || k > KVS_PATHS_MAX || nf < 7 + k) {
        fail("malformed ps_enc record");
        return;
    }
    if (!ps_from_fields(f + 1, f + 6, k, &ps))
        return;
    if (ps.count <= KVS_PATHS_MAX && k != ps.count) {
        fail("malformed ps_enc record (identity count)");
        return;
    }
    if (cap != 36u + 8u * KVS_PATHS_MAX)
        fail("kvs_pathset_size(64) = %lu, want %lu", (unsigned long)cap,
             (unsigned long)(36u + 8u * KVS_PATHS_MAX));
    buf = (unsigned char *)xmalloc(cap);
    memset(buf, 0xa5, cap);
    r = kvs_pathset_encode(&ps, buf, cap, &out_len);
    if (result_is(r, f[6 + k], "kvs_pathset_encode") && r == KVS_OK) {
        bytes want;
        if (nf != 8 + k) {
            fail("malformed ps_enc record");
        } else if (hex_bytes(f[7 + k], &want)) {
            if (kvs_pathset_size(ps.count) != want.n)
                fail("kvs_pathset_size(%lu) = %lu, want %lu", (unsigned long)ps.count,
                     (unsigned long)kvs_pathset_size(ps.count), (unsigned long)want.n);
            if (out_len != want.n)
                fail("kvs_pathset_encode wrote %lu bytes, want %lu", (unsigned long)out_len,
                     (unsigned long)want.n);
            else {
                hexdump_diff("kvs_pathset_encode", buf, want.p, want.n);
                memset(&back, 0, sizeof back);
                r = kvs_pathset_decode(buf, out_len, &back);
                if (r != KVS_OK)
                    fail("decode of the encoded path set: %s", kvs_result_name(r));
                else
                    ps_compare(&back, &ps);
            }
            free(want.p);
        }
    }
    free(buf);
}

static void rec_ps_dec(char **f, size_t nf)
{
    bytes in;
    kvs_pathset got, want;
    kvs_result r;
    NFIELD_CHECK(nf, 3);
    if (!hex_bytes(f[1], &in))
        return;
    memset(&got, 0, sizeof got);
    r = kvs_pathset_decode(in.p, in.n, &got);
    if (result_is(r, f[2], "kvs_pathset_decode") && r == KVS_OK) {
        size_t n = nf >= 7 ? nf - 7 : 0;
        if (nf < 8 || n > KVS_PATHS_MAX)
            fail("malformed ps_dec record");
        else if (ps_from_fields(f + 3, f + 7, n, &want)) {
            if (want.count != n)
                fail("malformed ps_dec record (identity count)");
            else
                ps_compare(&got, &want);
        }
    }
    free(in.p);
}

/* ------------------------------------------------------------ file driver */

typedef void (*rec_fn)(char **f, size_t nf);

typedef struct kind_def {
    const char *name;
    rec_fn fn;
} kind_def;

#define MAX_KINDS 8

typedef struct file_def {
    const char *file;
    kind_def kinds[MAX_KINDS];
} file_def;

static const file_def FILES[] = {
    {"fnv1a64.txt", {{"fnv", rec_fnv}, {NULL, NULL}}},
    {"crc32c.txt", {{"crc", rec_crc}, {"crcpat", rec_crcpat}, {NULL, NULL}}},
    {"mix64.txt", {{"mix", rec_mix}, {NULL, NULL}}},
    {"shard.txt",
     {{"pick", rec_pick}, {"pickpath", rec_pickpath}, {"move", rec_move},
      {"pickerr", rec_pickerr}, {NULL, NULL}}},
    {"pathlist.txt",
     {{"parse", rec_parse}, {"norm", rec_norm}, {"prefix", rec_prefix}, {NULL, NULL}}},
    {"fsname.txt", {{"enc", rec_enc}, {"dec", rec_dec}, {"temp", rec_temp}, {"lockbyte", rec_lockbyte}, {NULL, NULL}}},
    {"tp_map.txt", {{"tp", rec_tp}, {NULL, NULL}}},
    {"layout.txt", {{"layout", rec_layout}, {NULL, NULL}}},
    {"records.txt",
     {{"sb_enc", rec_sb_enc}, {"sb_dec", rec_sb_dec}, {"ck_enc", rec_ck_enc},
      {"ck_dec", rec_ck_dec}, {"ck_pick", rec_ck_pick}, {"obj_enc", rec_obj_enc},
      {"obj_dec", rec_obj_dec}, {NULL, NULL}}},
    {"index.txt",
     {{"ixh_enc", rec_ixh_enc}, {"ixh_dec", rec_ixh_dec}, {"ixe_enc", rec_ixe_enc},
      {"ixe_dec", rec_ixe_dec}, {"ixe_size", rec_ixe_size}, {NULL, NULL}}},
    {"pathset.txt", {{"ps_enc", rec_ps_enc}, {"ps_dec", rec_ps_dec}, {NULL, NULL}}},
};

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!fp)
        return NULL;
    for (;;) {
        size_t got;
        if (n + 65536 + 1 > cap) {
            char *nb;
            cap = cap ? cap * 2 : 262144;
            nb = (char *)realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        free(buf);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static void run_file(const char *dir, const file_def *fd)
{
    char path[4096];
    char *data, *line, *next;
    size_t len, k;
    unsigned long counts[MAX_KINDS];
    char **fields = NULL;
    size_t fields_cap = 0;
    unsigned long before_fail = g_failed;

    memset(counts, 0, sizeof counts);
    g_file = fd->file;
    g_line = 0;
    snprintf(path, sizeof path, "%s/%s", dir, fd->file);
    data = read_file(path, &len);
    if (!data) {
        fprintf(stderr, "vectors/%s: FAIL: cannot read %s\n", fd->file, path);
        g_failed++;
        return;
    }
    for (line = data; line && *line; line = next) {
        size_t nf = 0;
        char *p;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        g_line++;
        /* split into fields */
        p = line;
        for (;;) {
            while (*p && is_space(*p))
                p++;
            if (!*p || *p == '#')
                break;
            if (nf == fields_cap) {
                char **nfp;
                fields_cap = fields_cap ? fields_cap * 2 : 64;
                nfp = (char **)realloc(fields, fields_cap * sizeof *fields);
                if (!nfp) {
                    fprintf(stderr, "test_vectors: out of memory\n");
                    exit(2);
                }
                fields = nfp;
            }
            fields[nf++] = p;
            while (*p && !is_space(*p))
                p++;
            if (*p)
                *p++ = '\0';
        }
        if (nf == 0)
            continue;
        for (k = 0; fd->kinds[k].name; k++)
            if (strcmp(fd->kinds[k].name, fields[0]) == 0)
                break;
        g_rec_bad = 0;
        if (!fd->kinds[k].name)
            fail("unknown record kind '%s'", fields[0]);
        else {
            counts[k]++;
            fd->kinds[k].fn(fields, nf);
        }
        if (g_rec_bad)
            g_failed++;
        else
            g_passed++;
    }
    printf("%-13s", fd->file);
    for (k = 0; fd->kinds[k].name; k++) {
        printf(" %s=%lu", fd->kinds[k].name, counts[k]);
        if (counts[k] == 0) {
            fprintf(stderr, "vectors/%s: FAIL: no '%s' records (a file that checks nothing "
                            "cannot pass)\n", fd->file, fd->kinds[k].name);
            g_failed++;
        }
    }
    printf("%s\n", g_failed > before_fail ? "  FAILED" : "");
    free(fields);
    free(data);
}

int main(int argc, char **argv)
{
    const char *dir = "vectors";
    size_t i;
    if (argc > 1)
        dir = argv[1];
    else if (getenv("KVS_VECTORS_DIR") && *getenv("KVS_VECTORS_DIR"))
        dir = getenv("KVS_VECTORS_DIR");
    printf("test_vectors: reading %s (CRC32C hardware path: %s)\n", dir,
           kvs_crc32c_hw_available() ? "yes" : "no");
    for (i = 0; i < sizeof FILES / sizeof FILES[0]; i++)
        run_file(dir, &FILES[i]);
    printf("test_vectors: %lu passed, %lu failed\n", g_passed, g_failed);
    return g_failed == 0 && g_passed > 0 ? 0 : 1;
}
