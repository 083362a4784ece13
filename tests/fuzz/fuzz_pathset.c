/* SPDX-License-Identifier: MIT OR Unlicense */
/* Fuzz kvs_pathset_decode (docs/FORMAT.md 7.2).

   The input is the record (and anything after it). It is decoded as given
   and, when its n is in range and the record fits, once more with the CRC
   recomputed. Invariants: the result follows the spec's check order
   (reference below); a decoded set has 1..64 distinct identities, index < n,
   a known policy and a nonzero store_id, and re-encoding it gives back the
   36 + 8n input bytes exactly (exact-size buffer; one byte less is BUFSIZE). */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "fuzz_common.h"

static kvs_result ref_decode(const unsigned char *p, size_t len)
{
    uint32_t n, i, j;
    if (len < 36)
        return KVS_E_BUFSIZE;
    if (memcmp(p, "KVSPATHS", 8) != 0)
        return KVS_E_MAGIC;
    if (kvsfz_get32(p + 8) != 1)
        return KVS_E_VERSION;
    n = kvsfz_get32(p + 12);
    if (n == 0 || n > 64)
        return KVS_E_CORRUPT;
    if (len < 36 + 8 * (size_t)n)
        return KVS_E_BUFSIZE;
    if (kvsfz_get32(p + 32 + 8 * n) != kvsfz_crc(p, 32 + 8 * (size_t)n))
        return KVS_E_CHECKSUM;
    if (kvsfz_get32(p + 16) >= n || kvsfz_get32(p + 20) > 2 || kvsfz_get64(p + 24) == 0)
        return KVS_E_CORRUPT;
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++)
            if (kvsfz_get64(p + 32 + 8 * i) == kvsfz_get64(p + 32 + 8 * j))
                return KVS_E_CORRUPT;
    return KVS_OK;
}

static void check(const unsigned char *buf, size_t len)
{
    kvs_pathset ps;
    unsigned char *enc;
    size_t size, n = 0, i, j;
    kvs_result r = kvs_pathset_decode(buf, len, &ps);
    KVSFZ_CHECK(r == ref_decode(buf, len));
    if (r != KVS_OK) {
        KVSFZ_CHECK(ps.count == 0 && ps.store_id == 0);
        return;
    }
    KVSFZ_CHECK(ps.count >= 1 && ps.count <= KVS_PATHS_MAX && ps.index < ps.count);
    KVSFZ_CHECK(ps.shard_policy <= KVS_SHARD_RANK && ps.store_id != 0);
    for (i = 0; i < ps.count; i++) {
        KVSFZ_CHECK(ps.ids[i] == kvsfz_get64(buf + 32 + 8 * i));
        for (j = i + 1; j < ps.count; j++)
            KVSFZ_CHECK(ps.ids[i] != ps.ids[j]);
    }
    size = kvs_pathset_size(ps.count);
    KVSFZ_CHECK(size == 36 + 8 * (size_t)ps.count && size <= len);
    enc = (unsigned char *)malloc(size);
    if (enc == NULL)
        abort();
    KVSFZ_CHECK(kvs_pathset_encode(&ps, enc, size, &n) == KVS_OK && n == size);
    KVSFZ_CHECK(memcmp(enc, buf, size) == 0);
    KVSFZ_CHECK(kvs_pathset_encode(&ps, enc, size - 1, &n) == KVS_E_BUFSIZE && n == 0);
    free(enc);
    KVSFZ_CHECK(kvs_pathset_decode(buf, size - 1, &ps) == KVS_E_BUFSIZE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = kvsfz_dup(data, size);
    check(buf, size);
    if (size >= 36) {
        uint32_t n = kvsfz_get32(buf + 12);
        if (n >= 1 && n <= 64 && size >= 36 + 8 * (size_t)n) {
            kvsfz_put32(buf + 32 + 8 * n, kvsfz_crc(buf, 32 + 8 * (size_t)n));
            check(buf, size);
        }
    }
    free(buf);
    return 0;
}
