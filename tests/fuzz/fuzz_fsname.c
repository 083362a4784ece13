/* SPDX-License-Identifier: MIT OR Unlicense */
/* Fuzz the filename codec (docs/FORMAT.md 5): kvs_fsname_decode, and
   kvs_fsname_encode / kvs_fsname_temp as its inverses.

   The input is used twice. As a name (exact-size buffer, no NUL): decode OK
   => READABLE: encode(decoded key) is byte-for-byte the input name;
   HASHED: the name is "~" + 28 lowercase hex + ".kv" with the recorded
   length 85..1024; TEMP: kvs_fsname_temp of the two hex fields gives the
   name back; and every accepted name obeys 5's rules (<= 255 bytes, no '/'
   or NUL, not "." or "..", no leading '.' or '-'). A name in the hashed or
   temporary form is never rejected. Decoding into a key buffer one byte too
   small is KVS_E_BUFSIZE without writing past it. As a key (1..1024 bytes):
   encode, check the name's rules and that it decodes back to the key
   (READABLE) or to its length (HASHED), and that the form is the one 5.1
   prescribes for the escaped length. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "fuzz_common.h"

static int lower_hex(const char *s, size_t n, uint64_t *v)
{
    size_t i;
    *v = 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return 0;
        *v = *v << 4 | d;
    }
    return 1;
}

static void check_name_rules(const char *name, size_t len)
{
    KVSFZ_CHECK(len >= 1 && len <= KVS_FSNAME_MAX);
    KVSFZ_CHECK(memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL);
    KVSFZ_CHECK(!(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.'));
    KVSFZ_CHECK(name[0] != '.' && name[0] != '-');
}

/* Bytes the readable form writes for key byte b at position pos (5.1). */
static size_t escaped_len(const unsigned char *k, size_t n)
{
    size_t i, e = 0;
    for (i = 0; i < n; i++) {
        unsigned char b = k[i];
        int lit = (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '_' || ((b == '.' || b == '-') && i > 0);
        e += lit ? 1 : 3;
    }
    return e;
}

static void check_decode(const char *name, size_t len)
{
    unsigned char key[KVS_KEY_MAX], *small;
    char again[KVS_FSNAME_MAX + 1];
    size_t key_len = 99, n = 0, small_len;
    uint64_t v = 0, w = 0;
    kvs_fsname_kind kind = (kvs_fsname_kind)9, kind2;
    int hashed_form, temp_form;
    kvs_result r = kvs_fsname_decode(name, len, key, sizeof key, &key_len, &kind);

    hashed_form = len == 32 && name[0] == '~' && lower_hex(name + 1, 28, &v) && memcmp(name + 29, ".kv", 3) == 0 &&
                  lower_hex(name + 25, 4, &v) && v >= 85 && v <= KVS_KEY_MAX;
    temp_form = len == 38 && memcmp(name, "~t", 2) == 0 && lower_hex(name + 2, 32, &v) &&
                memcmp(name + 34, ".tmp", 4) == 0;
    if (hashed_form || temp_form)
        KVSFZ_CHECK(r == KVS_OK);
    KVSFZ_CHECK(r == KVS_OK || r == KVS_E_NAME);
    if (r != KVS_OK) {
        KVSFZ_CHECK(key_len == 0);
        return;
    }
    check_name_rules(name, len);
    switch (kind) {
    case KVS_FSNAME_READABLE:
        KVSFZ_CHECK(!hashed_form && !temp_form);
        KVSFZ_CHECK(key_len >= 1 && key_len <= KVS_KEY_MAX && len >= 4 && memcmp(name + len - 3, ".kv", 3) == 0);
        KVSFZ_CHECK(escaped_len(key, key_len) == len - 3 && len - 3 <= 252);
        KVSFZ_CHECK(kvs_fsname_encode(key, key_len, again, sizeof again, &n, &kind2) == KVS_OK);
        KVSFZ_CHECK(kind2 == KVS_FSNAME_READABLE && n == len && memcmp(again, name, len) == 0);
        /* a key buffer one byte short: BUFSIZE, nothing written past it */
        small_len = key_len - 1;
        small = (unsigned char *)malloc(small_len ? small_len : 1);
        if (small == NULL)
            abort();
        KVSFZ_CHECK(kvs_fsname_decode(name, len, small_len ? small : NULL, small_len, &n, NULL) == KVS_E_BUFSIZE);
        free(small);
        /* exactly enough: the same key */
        small = (unsigned char *)malloc(key_len);
        if (small == NULL)
            abort();
        KVSFZ_CHECK(kvs_fsname_decode(name, len, small, key_len, &n, NULL) == KVS_OK && n == key_len &&
                    memcmp(small, key, key_len) == 0);
        free(small);
        break;
    case KVS_FSNAME_HASHED:
        KVSFZ_CHECK(hashed_form);
        KVSFZ_CHECK(lower_hex(name + 25, 4, &v) && key_len == v);
        break;
    case KVS_FSNAME_TEMP:
        KVSFZ_CHECK(temp_form && key_len == 0);
        KVSFZ_CHECK(lower_hex(name + 2, 16, &v) && lower_hex(name + 18, 16, &w));
        KVSFZ_CHECK(kvs_fsname_temp(v, w, again, sizeof again, &n) == KVS_OK && n == 38 &&
                    memcmp(again, name, 38) == 0 && again[38] == '\0');
        break;
    default:
        KVSFZ_CHECK(kind == KVS_FSNAME_READABLE); /* an unknown kind */
    }
}

static void check_encode(const unsigned char *key, size_t key_len)
{
    char name[KVS_FSNAME_MAX + 1], *exact;
    unsigned char back[KVS_KEY_MAX];
    size_t n = 0, back_len = 0, esc;
    kvs_fsname_kind kind, kind2;
    kvs_result r = kvs_fsname_encode(key, key_len, name, sizeof name, &n, &kind);
    if (key_len == 0 || key_len > KVS_KEY_MAX) {
        KVSFZ_CHECK(r == KVS_E_KEY && n == 0);
        return;
    }
    KVSFZ_CHECK(r == KVS_OK && n == strlen(name));
    check_name_rules(name, n);
    esc = escaped_len(key, key_len);
    KVSFZ_CHECK(kind == (esc <= 252 ? KVS_FSNAME_READABLE : KVS_FSNAME_HASHED));
    KVSFZ_CHECK(n == (esc <= 252 ? esc + 3 : 32));
    r = kvs_fsname_decode(name, n, back, sizeof back, &back_len, &kind2);
    KVSFZ_CHECK(r == KVS_OK && kind2 == kind && back_len == key_len);
    if (kind == KVS_FSNAME_READABLE)
        KVSFZ_CHECK(memcmp(back, key, key_len) == 0);
    /* an exact-size output buffer (name + NUL) suffices; one less does not */
    exact = (char *)malloc(n + 1);
    if (exact == NULL)
        abort();
    KVSFZ_CHECK(kvs_fsname_encode(key, key_len, exact, n + 1, &back_len, NULL) == KVS_OK && back_len == n &&
                memcmp(exact, name, n + 1) == 0);
    KVSFZ_CHECK(kvs_fsname_encode(key, key_len, exact, n, &back_len, NULL) == KVS_E_BUFSIZE);
    free(exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = kvsfz_dup(data, size);
    check_decode((const char *)buf, size);
    check_encode(buf, size);
    free(buf);
    return 0;
}
