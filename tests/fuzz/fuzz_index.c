/* SPDX-License-Identifier: MIT OR Unlicense */
/* Fuzz the checkpoint payload codecs (docs/FORMAT.md 6.4):
   kvs_index_header_decode, kvs_index_entry_decode and kvs_index_entry_size.

   The input is a whole payload, read the way a checkpoint reader does: the
   header, then entry_count entries back to back, each decoded from the bytes
   that remain (an exact-size heap buffer, so reading past the payload is an
   ASan report). Invariants: every result follows the spec (references
   below); a decoded header satisfies its constraints and re-encodes to the
   same 40 bytes; each decoded entry has used == kvs_index_entry_size(key_len),
   lies inside the payload, satisfies its constraints and re-encodes to the
   same `used` bytes; the walk never consumes more than the payload, so a
   huge entry_count cannot make a reader loop past it. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "fuzz_common.h"

static kvs_result ref_header(const unsigned char *p, size_t len)
{
    uint64_t sc;
    if (len < 40)
        return KVS_E_BUFSIZE;
    if (memcmp(p, "KVSINDEX", 8) != 0)
        return KVS_E_MAGIC;
    sc = kvsfz_get64(p + 24);
    if (kvsfz_get32(p + 36) != 0 || kvsfz_get64(p + 16) > sc || kvsfz_get32(p + 32) > sc)
        return KVS_E_CORRUPT;
    return KVS_OK;
}

static kvs_result ref_entry(const unsigned char *p, size_t len, uint64_t slot_count, size_t *size)
{
    uint32_t kl;
    *size = 0;
    if (len < 32)
        return KVS_E_CORRUPT;
    kl = kvsfz_get32(p + 4);
    if (kl == 0 || kl > 1024)
        return KVS_E_CORRUPT;
    *size = 32 + (((size_t)kl + 7) / 8) * 8;
    if (*size > len || kvsfz_get32(p) >= slot_count || kvsfz_get64(p + 8) == 0 || kvsfz_get32(p + 28) != 0 ||
        !kvsfz_zero(p + 32 + kl, *size - 32 - kl))
        return KVS_E_CORRUPT;
    return KVS_OK;
}

static void check_entry(const unsigned char *p, size_t len, uint64_t slot_count, kvs_index_entry *e, size_t used)
{
    unsigned char *enc;
    size_t n = 0;
    KVSFZ_CHECK(e->key_len >= 1 && e->key_len <= KVS_KEY_MAX);
    KVSFZ_CHECK(used == kvs_index_entry_size(e->key_len) && used % 8 == 0 && used <= len);
    KVSFZ_CHECK(used >= KVS_INDEX_ENTRY_FIXED_BYTES + (size_t)e->key_len && used - 32 - e->key_len < 8);
    KVSFZ_CHECK((const unsigned char *)e->key == p + KVS_INDEX_ENTRY_FIXED_BYTES);
    KVSFZ_CHECK(e->slot < slot_count && e->generation != 0);
    enc = (unsigned char *)malloc(used);
    if (enc == NULL)
        abort();
    KVSFZ_CHECK(kvs_index_entry_encode(e, enc, used, &n) == KVS_OK && n == used);
    KVSFZ_CHECK(memcmp(enc, p, used) == 0);
    KVSFZ_CHECK(kvs_index_entry_encode(e, enc, used - 1, &n) == KVS_E_BUFSIZE && n == 0);
    free(enc);
}

static void walk(const unsigned char *buf, size_t len)
{
    kvs_index_header h;
    kvs_index_entry e;
    unsigned char enc[KVS_INDEX_HEADER_BYTES];
    size_t off, used, ref_size;
    uint32_t k, parsed = 0;
    kvs_result r = kvs_index_header_decode(buf, len, &h);
    KVSFZ_CHECK(r == ref_header(buf, len));
    if (r != KVS_OK) {
        KVSFZ_CHECK(h.gen_floor == 0 && h.alloc_limit == 0 && h.slot_count == 0 && h.entry_count == 0);
        return;
    }
    KVSFZ_CHECK(h.alloc_limit <= h.slot_count && h.entry_count <= h.slot_count);
    KVSFZ_CHECK(kvs_index_header_encode(&h, enc, sizeof enc) == KVS_OK);
    KVSFZ_CHECK(memcmp(enc, buf, KVS_INDEX_HEADER_BYTES) == 0);
    KVSFZ_CHECK(kvs_index_header_encode(&h, enc, sizeof enc - 1) == KVS_E_BUFSIZE);

    off = KVS_INDEX_HEADER_BYTES;
    for (k = 0; k < h.entry_count; k++) {
        /* the rest of the payload as its own exact-size buffer */
        size_t rest = len - off;
        unsigned char *p = kvsfz_dup(buf + off, rest);
        r = kvs_index_entry_decode(p, rest, h.slot_count, &e, &used);
        KVSFZ_CHECK(r == ref_entry(p, rest, h.slot_count, &ref_size));
        if (r != KVS_OK) {
            KVSFZ_CHECK(used == 0 && e.key == NULL && e.key_len == 0);
            free(p);
            break;
        }
        KVSFZ_CHECK(used == ref_size);
        check_entry(p, rest, h.slot_count, &e, used);
        /* the same entry decodes identically from the input buffer */
        {
            kvs_index_entry e2;
            size_t used2 = 0;
            KVSFZ_CHECK(kvs_index_entry_decode(buf + off, rest, h.slot_count, &e2, &used2) == KVS_OK &&
                        used2 == used && e2.slot == e.slot && e2.key_len == e.key_len &&
                        e2.generation == e.generation && e2.payload_len == e.payload_len &&
                        e2.payload_crc == e.payload_crc);
            /* cut one byte short: it runs past the payload */
            KVSFZ_CHECK(kvs_index_entry_decode(buf + off, used - 1, h.slot_count, &e2, &used2) == KVS_E_CORRUPT);
        }
        free(p);
        off += used;
        KVSFZ_CHECK(off <= len);
        parsed++;
    }
    KVSFZ_CHECK(parsed <= h.entry_count && off <= len);
    /* every entry is at least 40 bytes, so a payload of len bytes holds at
       most (len - 40) / 40 of them whatever entry_count says */
    KVSFZ_CHECK(parsed <= (len - KVS_INDEX_HEADER_BYTES) / 40);
    KVSFZ_CHECK(off >= KVS_INDEX_HEADER_BYTES + 40 * (size_t)parsed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = kvsfz_dup(data, size);
    uint32_t kl;
    walk(buf, size);
    /* kvs_index_entry_size over every key length the input names */
    if (size >= 8) {
        kl = kvsfz_get32(buf + 4);
        if (kl == 0 || kl > KVS_KEY_MAX)
            KVSFZ_CHECK(kvs_index_entry_size(kl) == 0);
        else
            KVSFZ_CHECK(kvs_index_entry_size(kl) == 32 + (((size_t)kl + 7) / 8) * 8);
    }
    free(buf);
    return 0;
}
