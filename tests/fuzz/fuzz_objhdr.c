/* SPDX-License-Identifier: MIT OR Unlicense */
/* Fuzz kvs_objhdr_decode (docs/FORMAT.md 6.3).

   The input is a header followed by its key (and anything after). It is
   decoded as given and, when the fixed part and the key fit, once more with
   the header CRC recomputed. Invariants: the result follows the spec's
   check order (reference below); a decoded header satisfies every
   documented constraint, its key points into the buffer at offset 64, and
   re-encoding it gives back the 64 + key_len input bytes exactly. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "fuzz_common.h"

static uint32_t ref_crc(const unsigned char *p, uint32_t key_len)
{
    return kvs_crc32c_sw(kvs_crc32c_sw(0, p, 60), p + 64, key_len);
}

static kvs_result ref_decode(const unsigned char *p, size_t len)
{
    uint32_t kl, off;
    if (len < 64)
        return KVS_E_BUFSIZE;
    if (memcmp(p, "KVSOBJCT", 8) != 0)
        return KVS_E_MAGIC;
    if (kvsfz_get16(p + 8) != 1)
        return KVS_E_VERSION;
    kl = kvsfz_get32(p + 12);
    if (kl == 0 || kl > 1024)
        return KVS_E_CORRUPT;
    if (len < 64 + (size_t)kl)
        return KVS_E_BUFSIZE;
    if (kvsfz_get32(p + 60) != ref_crc(p, kl))
        return KVS_E_CHECKSUM;
    off = kvsfz_get32(p + 40);
    if (kvsfz_get16(p + 10) != 0 || kvsfz_get32(p + 56) != 0 || kvsfz_get64(p + 24) == 0 ||
        kvsfz_get64(p + 32) == 0 || off % 512 != 0 || off < 64 + kl || off > 1048576 ||
        kvsfz_get64(p + 48) != kvs_fnv1a64(p + 64, kl))
        return KVS_E_CORRUPT;
    return KVS_OK;
}

static void check(const unsigned char *buf, size_t len)
{
    kvs_objhdr h, h2;
    unsigned char *enc;
    size_t n = 0, need;
    kvs_result r = kvs_objhdr_decode(buf, len, &h);
    KVSFZ_CHECK(r == ref_decode(buf, len));
    if (r != KVS_OK) {
        KVSFZ_CHECK(h.key == NULL && h.key_len == 0 && h.payload_len == 0 && h.generation == 0);
        return;
    }
    KVSFZ_CHECK(h.key_len >= 1 && h.key_len <= KVS_KEY_MAX);
    need = KVS_OBJHDR_FIXED_BYTES + (size_t)h.key_len;
    KVSFZ_CHECK(need <= len && (const unsigned char *)h.key == buf + KVS_OBJHDR_FIXED_BYTES);
    KVSFZ_CHECK(h.generation != 0 && h.store_id != 0);
    KVSFZ_CHECK(h.payload_offset % 512 == 0 && h.payload_offset >= need && h.payload_offset <= 1048576);
    KVSFZ_CHECK(kvs_fnv1a64(h.key, h.key_len) == kvsfz_get64(buf + 48));
    /* re-encode into an exact-size buffer: the same bytes */
    enc = (unsigned char *)malloc(need);
    if (enc == NULL)
        abort();
    KVSFZ_CHECK(kvs_objhdr_encode(&h, enc, need, &n) == KVS_OK && n == need);
    KVSFZ_CHECK(memcmp(enc, buf, need) == 0);
    KVSFZ_CHECK(kvs_objhdr_encode(&h, enc, need - 1, &n) == KVS_E_BUFSIZE && n == 0);
    free(enc);
    /* bytes after the key are not looked at; one byte short is BUFSIZE */
    KVSFZ_CHECK(kvs_objhdr_decode(buf, need, &h2) == KVS_OK && h2.key == h.key && h2.key_len == h.key_len &&
                h2.payload_len == h.payload_len && h2.generation == h.generation && h2.store_id == h.store_id &&
                h2.payload_offset == h.payload_offset && h2.payload_crc == h.payload_crc);
    KVSFZ_CHECK(kvs_objhdr_decode(buf, need - 1, &h2) == KVS_E_BUFSIZE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = kvsfz_dup(data, size);
    check(buf, size);
    if (size >= KVS_OBJHDR_FIXED_BYTES) {
        uint32_t kl = kvsfz_get32(buf + 12);
        if (kl <= KVS_KEY_MAX && size >= KVS_OBJHDR_FIXED_BYTES + (size_t)kl) {
            kvsfz_put32(buf + 60, ref_crc(buf, kl));
            check(buf, size);
        }
    }
    free(buf);
    return 0;
}
