/* SPDX-License-Identifier: MIT OR Unlicense */
/* Fuzz kvs_ckpt_header_decode and kvs_ckpt_pick (docs/FORMAT.md 6.2).

   Input: 8 bytes of payload_max (little-endian), then the bytes of copy 0's
   region; when at least 128 such bytes follow, the bytes from offset 64 on
   are decoded as copy 1 too, and both results go to kvs_ckpt_pick. Each
   buffer is an exact-size copy. Every header is decoded as given and once
   more with its CRC recomputed. Invariants: the result follows the spec's
   check order (reference below); a decoded header satisfies the documented
   constraints and re-encodes to the same 64 bytes; a larger payload_max
   never turns OK into an error; the pick chooses a valid copy, the newer
   one, copy 0 on equal seqs, and KVS_NOT_FOUND only when neither is valid. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "fuzz_common.h"

static kvs_result ref_decode(const unsigned char *p, size_t len, uint64_t payload_max)
{
    if (len < 64)
        return KVS_E_BUFSIZE;
    if (memcmp(p, "KVSCKPNT", 8) != 0)
        return KVS_E_MAGIC;
    if (kvsfz_get32(p + 8) != 1)
        return KVS_E_VERSION;
    if (kvsfz_get32(p + 60) != kvsfz_crc(p, 60))
        return KVS_E_CHECKSUM;
    if (kvsfz_get32(p + 12) > 1 || kvsfz_get64(p + 16) == 0 || kvsfz_get32(p + 36) != 0 ||
        !kvsfz_zero(p + 48, 12) || kvsfz_get64(p + 40) == 0 || kvsfz_get64(p + 24) > payload_max)
        return KVS_E_CORRUPT;
    return KVS_OK;
}

static kvs_result check(const unsigned char *buf, size_t len, uint64_t payload_max, kvs_ckpt_header *h)
{
    kvs_ckpt_header h2;
    unsigned char enc[KVS_CKPT_HEADER_BYTES];
    kvs_result r = kvs_ckpt_header_decode(buf, len, payload_max, h);
    KVSFZ_CHECK(r == ref_decode(buf, len, payload_max));
    if (r != KVS_OK) {
        KVSFZ_CHECK(h->copy == 0 && h->seq == 0 && h->payload_len == 0 && h->payload_crc == 0 && h->store_id == 0);
        return r;
    }
    KVSFZ_CHECK(h->copy <= 1 && h->seq >= 1 && h->store_id != 0 && h->payload_len <= payload_max);
    KVSFZ_CHECK(kvs_ckpt_header_encode(h, enc, sizeof enc) == KVS_OK);
    KVSFZ_CHECK(memcmp(enc, buf, KVS_CKPT_HEADER_BYTES) == 0);
    KVSFZ_CHECK(kvs_ckpt_header_encode(h, enc, sizeof enc - 1) == KVS_E_BUFSIZE);
    /* a larger capacity accepts it too, with the same fields; bytes past 64 are ignored */
    KVSFZ_CHECK(kvs_ckpt_header_decode(buf, KVS_CKPT_HEADER_BYTES, UINT64_MAX, &h2) == KVS_OK);
    KVSFZ_CHECK(h2.copy == h->copy && h2.seq == h->seq && h2.payload_len == h->payload_len &&
                h2.payload_crc == h->payload_crc && h2.store_id == h->store_id);
    if (h->payload_len > 0)
        KVSFZ_CHECK(kvs_ckpt_header_decode(buf, len, h->payload_len - 1, &h2) == KVS_E_CORRUPT);
    return r;
}

static void check_pick(kvs_result r0, const kvs_ckpt_header *h0, kvs_result r1, const kvs_ckpt_header *h1)
{
    uint32_t copy = 7;
    int ok0 = r0 == KVS_OK && h0->copy == 0, ok1 = r1 == KVS_OK && h1->copy == 1;
    kvs_result r = kvs_ckpt_pick(r0, h0, r1, h1, &copy);
    if (!ok0 && !ok1) {
        KVSFZ_CHECK(r == KVS_NOT_FOUND);
        return;
    }
    KVSFZ_CHECK(r == KVS_OK && copy <= 1);
    if (ok0 && ok1)
        KVSFZ_CHECK(copy == (h1->seq > h0->seq ? 1u : 0u));
    else
        KVSFZ_CHECK(copy == (ok1 ? 1u : 0u));
}

static void run(unsigned char *a, size_t alen, unsigned char *b, size_t blen, uint64_t payload_max)
{
    kvs_ckpt_header h0, h1;
    kvs_result r0 = check(a, alen, payload_max, &h0);
    kvs_result r1;
    if (b == NULL)
        return;
    r1 = check(b, blen, payload_max, &h1);
    check_pick(r0, &h0, r1, &h1);
    check_pick(r1, &h1, r0, &h0); /* swapped: the copy fields decide */
    check_pick(KVS_E_CHECKSUM, &h0, r1, &h1);
    check_pick(r0, &h0, KVS_E_CORRUPT, &h1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t payload_max;
    unsigned char *a, *b = NULL;
    size_t alen, blen = 0;
    if (size < 8)
        return 0;
    payload_max = kvsfz_get64(data);
    alen = size - 8;
    a = kvsfz_dup(data + 8, alen);
    if (alen >= 2 * KVS_CKPT_HEADER_BYTES) {
        blen = alen - KVS_CKPT_HEADER_BYTES;
        b = kvsfz_dup(data + 8 + KVS_CKPT_HEADER_BYTES, blen);
    }
    run(a, alen, b, blen, payload_max);
    if (alen >= KVS_CKPT_HEADER_BYTES) {
        kvsfz_put32(a + 60, kvsfz_crc(a, 60));
        if (b != NULL)
            kvsfz_put32(b + 60, kvsfz_crc(b, 60));
        run(a, alen, b, blen, payload_max);
    }
    free(a);
    free(b);
    return 0;
}
