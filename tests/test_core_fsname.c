/* SPDX-License-Identifier: MIT OR Unlicense */
/* Key <-> filename codec: encode/decode identity for random keys of every
   byte value and length 1..1024 (heavy on the readable/hashed boundary),
   the safety properties of every name, case-insensitive distinctness, the
   decoder rejecting everything the encoder cannot produce, temporary names,
   and every documented error. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "test_util.h"

static int safe_name(const char *s, size_t n)
{
    return n >= 1 && n <= KVS_FSNAME_MAX && strlen(s) == n && memchr(s, '/', n) == NULL &&
           s[0] != '.' && s[0] != '-' && strcmp(s, "..") != 0;
}

/* Encode a key, check the name's properties and that it decodes back. */
static void roundtrip(const unsigned char *key, size_t len, char *name, size_t *nlen)
{
    unsigned char back[KVS_KEY_MAX];
    size_t blen = 0, i, esc = 0;
    kvs_fsname_kind kind, dkind;
    if (!CHECK_R(kvs_fsname_encode(key, len, name, KVS_FSNAME_MAX + 1, nlen, &kind), KVS_OK))
        return;
    CHECK(safe_name(name, *nlen));
    for (i = 0; i < len; i++)
        esc += ((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= '0' && key[i] <= '9') || key[i] == '_' ||
                (i > 0 && (key[i] == '.' || key[i] == '-')))
                   ? 1
                   : 3;
    CHECK(kind == (esc <= 252 ? KVS_FSNAME_READABLE : KVS_FSNAME_HASHED));
    CHECK_R(kvs_fsname_decode(name, *nlen, back, sizeof back, &blen, &dkind), KVS_OK);
    CHECK(dkind == kind);
    CHECK(blen == len);
    if (kind == KVS_FSNAME_READABLE) {
        CHECK(*nlen == esc + 3);
        CHECK(memcmp(back, key, len) == 0);
    } else {
        CHECK(*nlen == 32 && name[0] == '~');
    }
    /* a buffer one byte short is refused, an exact one accepted */
    {
        char small[KVS_FSNAME_MAX + 1];
        size_t sl = 7;
        CHECK_R(kvs_fsname_encode(key, len, small, *nlen, &sl, NULL), KVS_E_BUFSIZE);
        CHECK(sl == 0);
        CHECK_R(kvs_fsname_encode(key, len, small, *nlen + 1, &sl, NULL), KVS_OK);
        CHECK(sl == *nlen && memcmp(small, name, sl + 1) == 0);
    }
}

static void random_key(unsigned char *k, size_t len)
{
    size_t i;
    int mode = (int)t_below(4);
    for (i = 0; i < len; i++) {
        switch (mode) {
        case 0: k[i] = (unsigned char)t_rand(); break;                 /* any byte */
        case 1: k[i] = (unsigned char)("abz09_.-/%A"[t_below(11)]); break; /* mostly literal */
        case 2: k[i] = (unsigned char)('a' + t_below(26)); break;
        default: k[i] = t_below(8) ? (unsigned char)('a' + t_below(26)) : (unsigned char)t_rand(); break;
        }
    }
}

static void test_known(void)
{
    char name[KVS_FSNAME_MAX + 1];
    unsigned char key[KVS_KEY_MAX], back[KVS_KEY_MAX];
    size_t n, bl;
    kvs_fsname_kind kind;
    struct { const char *key; size_t len; const char *name; } v[] = {
        {"abc", 3, "abc.kv"},
        {"a/b", 3, "a%2Fb.kv"},
        {"Abc", 3, "%41bc.kv"},
        {".", 1, "%2E.kv"},
        {"..", 2, "%2E..kv"},
        {"-x-", 3, "%2Dx-.kv"},
        {"a.b-c_d", 7, "a.b-c_d.kv"},
        {"%", 1, "%25.kv"},
        {"~", 1, "%7E.kv"},
        {"\0", 1, "%00.kv"},
        {"\xff", 1, "%FF.kv"},
        {"a b", 3, "a%20b.kv"},
        {"llama3-8b@rank0@c0ffee", 22, "llama3-8b%40rank0%40c0ffee.kv"},
    };
    size_t i;
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        CHECK_R(kvs_fsname_encode(v[i].key, v[i].len, name, sizeof name, &n, &kind), KVS_OK);
        if (!CHECK(strcmp(name, v[i].name) == 0 && n == strlen(v[i].name) && kind == KVS_FSNAME_READABLE))
            fprintf(stderr, "  got %s want %s\n", name, v[i].name);
    }
    /* hashed form: the fields are exactly the ones FORMAT.md 5.2 lists */
    memset(key, 'A', sizeof key);
    CHECK_R(kvs_fsname_encode(key, 85, name, sizeof name, &n, &kind), KVS_OK);
    CHECK(kind == KVS_FSNAME_HASHED && n == 32);
    {
        char want[40];
        sprintf(want, "~%016llx%08lx%04x.kv", (unsigned long long)kvs_fnv1a64(key, 85),
                (unsigned long)kvs_crc32c(0, key, 85), 85u);
        CHECK(strcmp(name, want) == 0);
    }
    CHECK_R(kvs_fsname_encode(key, 84, name, sizeof name, &n, &kind), KVS_OK);
    CHECK(kind == KVS_FSNAME_READABLE && n == 255);
    memset(key, 'a', sizeof key);
    CHECK_R(kvs_fsname_encode(key, 252, name, sizeof name, &n, &kind), KVS_OK);
    CHECK(kind == KVS_FSNAME_READABLE && n == 255);
    CHECK_R(kvs_fsname_encode(key, 253, name, sizeof name, &n, &kind), KVS_OK);
    CHECK(kind == KVS_FSNAME_HASHED);
    CHECK_R(kvs_fsname_decode(name, n, back, sizeof back, &bl, &kind), KVS_OK);
    CHECK(bl == 253 && kind == KVS_FSNAME_HASHED);
    CHECK_R(kvs_fsname_encode(key, KVS_KEY_MAX, name, sizeof name, &n, &kind), KVS_OK);
    CHECK(strcmp(name + 25, "0400.kv") == 0);
    /* errors */
    CHECK_R(kvs_fsname_encode(key, 0, name, sizeof name, &n, &kind), KVS_E_KEY);
    CHECK_R(kvs_fsname_encode(key, KVS_KEY_MAX + 1, name, sizeof name, &n, &kind), KVS_E_KEY);
    CHECK_R(kvs_fsname_encode(key, 1, NULL, 0, &n, NULL), KVS_E_BUFSIZE);
    CHECK_R(kvs_fsname_decode("abc.kv", 6, back, 2, &bl, NULL), KVS_E_BUFSIZE);
    CHECK_R(kvs_fsname_decode("abc.kv", 6, back, 3, &bl, NULL), KVS_OK);
    CHECK(bl == 3 && memcmp(back, "abc", 3) == 0);
    CHECK_R(kvs_fsname_decode("abc.kv", 6, NULL, 0, &bl, NULL), KVS_E_BUFSIZE);
}

static void test_reject(void)
{
    static const char *bad[] = {
        "", ".kv", "kv", "abc", "abc.KV", "abc.kv.", "%61.kv", "a%2E.kv", "a%2e.kv", "%2f.kv",
        "A.kv", ".a.kv", "-a.kv", "a/b.kv", "%.kv", "%4.kv", "%4G.kv", "a%2.kv", "~.kv", "a~.kv",
        "a b.kv", "..", ".", "abc.tmp", "a%5F.kv", "%30.kv", "a%2D.kv", "a\xff.kv",
        /* hashed: uppercase hex, bad length fields, wrong size */
        "~0123456789ABCDEF012345670055.kv", "~0123456789abcdef012345670054.kv",
        "~0123456789abcdef012345670401.kv", "~0123456789abcdef012345670000.kv",
        "~0123456789abcdef01234567005.kv", "~0123456789abcdef0123456700555.kv",
        "~0123456789abcdef01234567g055.kv", "~0123456789abcdef012345670055.kw",
        /* temporary: wrong size, case or extension */
        "~t0123456789abcdef0123456789abcdef.tm", "~t0123456789abcdef0123456789abcdeF.tmp",
        "~T0123456789abcdef0123456789abcdef.tmp", "~t0123456789abcdef0123456789abcdef.kvp",
        "~t0123456789abcdef0123456789abcdef0.tmp", "~t0123456789abcdef0123456789abcde.tmp",
    };
    char name[300];
    unsigned char back[KVS_KEY_MAX];
    size_t i, bl;
    kvs_fsname_kind kind;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!CHECK_R(kvs_fsname_decode(bad[i], strlen(bad[i]), back, sizeof back, &bl, &kind), KVS_E_NAME))
            fprintf(stderr, "  name \"%s\"\n", bad[i]);
    CHECK_R(kvs_fsname_decode("~0123456789abcdef012345670055.kv", 32, back, sizeof back, &bl, &kind), KVS_OK);
    CHECK(kind == KVS_FSNAME_HASHED && bl == 85);
    CHECK_R(kvs_fsname_decode("~0123456789abcdef012345670400.kv", 32, back, sizeof back, &bl, &kind), KVS_OK);
    CHECK(bl == 1024);
    /* a NUL inside the name, and a stem of 253 bytes */
    CHECK_R(kvs_fsname_decode("a\0b.kv", 6, back, sizeof back, &bl, &kind), KVS_E_NAME);
    memset(name, 'a', 253);
    memcpy(name + 253, ".kv", 4);
    CHECK_R(kvs_fsname_decode(name, 256, back, sizeof back, &bl, &kind), KVS_E_NAME);
    CHECK_R(kvs_fsname_decode(name + 1, 255, back, sizeof back, &bl, &kind), KVS_OK);
    CHECK(bl == 252 && kind == KVS_FSNAME_READABLE);
}

static void test_temp(void)
{
    char name[64];
    size_t n, bl;
    kvs_fsname_kind kind;
    CHECK_R(kvs_fsname_temp(0x0123456789abcdefULL, 42, name, sizeof name, &n), KVS_OK);
    CHECK(n == 38 && strcmp(name, "~t0123456789abcdef000000000000002a.tmp") == 0);
    CHECK(safe_name(name, n));
    CHECK_R(kvs_fsname_decode(name, n, NULL, 0, &bl, &kind), KVS_OK);
    CHECK(kind == KVS_FSNAME_TEMP && bl == 0);
    CHECK_R(kvs_fsname_temp(1, 2, name, 38, &n), KVS_E_BUFSIZE);
    CHECK_R(kvs_fsname_temp(1, 2, name, 39, &n), KVS_OK);
    CHECK_R(kvs_fsname_temp(UINT64_MAX, UINT64_MAX, name, 39, &n), KVS_OK);
    CHECK(strcmp(name, "~tffffffffffffffffffffffffffffffff.tmp") == 0);
}

enum { NSAMPLE = 3000 };

static void test_roundtrip(void)
{
    static char names[NSAMPLE][KVS_FSNAME_MAX + 1];
    static unsigned char keys[NSAMPLE][KVS_KEY_MAX];
    static size_t klen[NSAMPLE];
    unsigned char key[KVS_KEY_MAX];
    char name[KVS_FSNAME_MAX + 1];
    size_t len, n, i, j;
    int iter;
    for (iter = 0; iter < 40000; iter++) {
        int r = (int)t_below(4);
        len = r == 0 ? 1 + t_below(KVS_KEY_MAX) : r == 1 ? 80 + t_below(10) : r == 2 ? 245 + t_below(12)
                                                                               : 1 + t_below(20);
        random_key(key, len);
        roundtrip(key, len, name, &n);
    }
    /* readable names of distinct keys stay distinct when lowercased */
    for (i = 0; i < NSAMPLE; i++) {
        do {
            klen[i] = 1 + t_below(6);
            for (j = 0; j < klen[i]; j++)
                keys[i][j] = (unsigned char)("aAbB.-/%~_0"[t_below(11)]);
            for (j = 0; j < i; j++)
                if (klen[j] == klen[i] && memcmp(keys[j], keys[i], klen[i]) == 0)
                    break;
        } while (j < i);
        kvs_fsname_encode(keys[i], klen[i], names[i], sizeof names[i], &n, NULL);
        for (j = 0; j < n; j++)
            if (names[i][j] >= 'A' && names[i][j] <= 'Z')
                names[i][j] = (char)(names[i][j] - 'A' + 'a');
        for (j = 0; j < i; j++)
            if (!CHECK(strcmp(names[i], names[j]) != 0))
                break;
    }
}

/* Random names: whatever decodes must re-encode to the same name. */
static void test_fuzz_decode(void)
{
    static const char alpha[] = "abz09_.-%2EF7fA~t/k v\0";
    char name[300], again[KVS_FSNAME_MAX + 1];
    unsigned char key[KVS_KEY_MAX];
    size_t n, kl, al;
    int iter, ok = 0;
    kvs_fsname_kind kind;
    for (iter = 0; iter < 300000; iter++) {
        size_t i;
        n = t_below(4) ? t_below(12) : t_below(300);
        for (i = 0; i < n; i++)
            name[i] = t_below(16) ? alpha[t_below(sizeof alpha - 1)] : (char)t_rand();
        if (t_below(2) && n >= 3)
            memcpy(name + n - 3, ".kv", 3);
        if (kvs_fsname_decode(name, n, key, sizeof key, &kl, &kind) != KVS_OK)
            continue;
        ok++;
        if (kind == KVS_FSNAME_READABLE) {
            CHECK_R(kvs_fsname_encode(key, kl, again, sizeof again, &al, NULL), KVS_OK);
            CHECK(al == n && memcmp(again, name, n) == 0);
        }
    }
    CHECK(ok > 1000);
    /* mutate valid names one byte at a time */
    for (iter = 0; iter < 20000; iter++) {
        size_t len = 1 + t_below(90), pos;
        random_key(key, len);
        kvs_fsname_encode(key, len, name, sizeof name, &n, NULL);
        pos = t_below(n);
        name[pos] = t_below(2) ? alpha[t_below(sizeof alpha - 1)] : (char)t_rand();
        if (kvs_fsname_decode(name, n, key, sizeof key, &kl, &kind) == KVS_OK && kind == KVS_FSNAME_READABLE) {
            CHECK_R(kvs_fsname_encode(key, kl, again, sizeof again, &al, NULL), KVS_OK);
            CHECK(al == n && memcmp(again, name, n) == 0);
        }
    }
}

int main(void)
{
    t_init("test_core_fsname");
    test_known();
    test_reject();
    test_temp();
    test_roundtrip();
    test_fuzz_decode();
    return t_done("test_core_fsname");
}
