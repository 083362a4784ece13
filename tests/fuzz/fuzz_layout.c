/* SPDX-License-Identifier: MIT OR Unlicense */
/* Fuzz kvs_layout_compute and kvs_layout_slot_offset (docs/FORMAT.md 6).

   Input: four little-endian u64s, device_bytes, align, meta_bytes and
   slot_bytes (missing bytes are zero); an optional fifth u64 picks a slot.
   Invariants: the result equals the spec's rules (an independent reference
   in fuzz_common.h); on success every region is a multiple of align and the
   regions superblock | copy 0 | copy 1 | slots follow each other without
   gap or overlap inside the device, there is at least one slot and at most
   2^32 - 1, the unused tail is shorter than a slot, every field the header
   documents holds, and kvs_layout_slot_offset agrees for the first, last and
   the chosen slot and refuses slot_count; on failure *out is zeroed and the
   error text names a constraint. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char in[40];
    uint64_t dev, align, meta, slot, pick, hdr = 0, count = 0, so = 0, off;
    kvs_layout l, zero;
    char err[128];
    kvs_result r;
    int ok;

    memset(in, 0, sizeof in);
    memcpy(in, data, size < sizeof in ? size : sizeof in);
    dev = kvsfz_get64(in);
    align = kvsfz_get64(in + 8);
    meta = kvsfz_get64(in + 16);
    slot = kvsfz_get64(in + 24);
    pick = kvsfz_get64(in + 32);
    memset(&zero, 0, sizeof zero);
    err[0] = '\0';

    r = kvs_layout_compute(dev, align, meta, slot, &l, err, sizeof err);
    ok = kvsfz_ref_layout(dev, align, meta, slot, &hdr, &count, &so);
    KVSFZ_CHECK(r == (ok ? KVS_OK : KVS_E_GEOMETRY));
    KVSFZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
    if (r != KVS_OK) {
        KVSFZ_CHECK(memcmp(&l, &zero, sizeof l) == 0 && err[0] != '\0');
        return 0;
    }
    KVSFZ_CHECK(l.device_bytes == dev && l.align == align && l.meta_bytes == meta && l.slot_bytes == slot);
    KVSFZ_CHECK(l.sb_offset == 0 && l.sb_bytes == hdr && l.slot_header_bytes == hdr);
    KVSFZ_CHECK(l.slot_count == count && l.slots_offset == so);
    /* alignment of every region */
    KVSFZ_CHECK(l.sb_bytes % align == 0 && l.ckpt_bytes % align == 0 && l.ckpt_offset[0] % align == 0 &&
                l.ckpt_offset[1] % align == 0 && l.slots_offset % align == 0 && l.slot_bytes % align == 0 &&
                l.slot_header_bytes % align == 0 && l.slot_payload_max % align == 0 && l.used_bytes % align == 0);
    /* superblock region holds the record; a checkpoint copy holds its header */
    KVSFZ_CHECK(l.sb_bytes >= KVS_SB_RECORD_BYTES && l.sb_bytes >= 4096 && l.ckpt_bytes >= 4096);
    KVSFZ_CHECK(l.slot_header_bytes >= KVS_OBJHDR_REGION && l.slot_header_bytes >= align);
    /* disjoint and back to back: [0,sb) [ck0,ck0+n) [ck1,ck1+n) [slots, used) */
    KVSFZ_CHECK(l.ckpt_offset[0] == l.sb_offset + l.sb_bytes);
    KVSFZ_CHECK(l.ckpt_offset[1] == l.ckpt_offset[0] + l.ckpt_bytes);
    KVSFZ_CHECK(l.slots_offset == l.ckpt_offset[1] + l.ckpt_bytes && 2 * l.ckpt_bytes == meta);
    KVSFZ_CHECK(l.slot_count >= 1 && l.slot_count <= 0xffffffffu);
    KVSFZ_CHECK(l.slot_payload_max == l.slot_bytes - l.slot_header_bytes && l.slot_payload_max > 0);
    /* inside the device, and as many slots as fit */
    KVSFZ_CHECK(l.slots_offset < dev && l.used_bytes <= dev && l.used_bytes > l.slots_offset);
    KVSFZ_CHECK((l.used_bytes - l.slots_offset) / l.slot_bytes == l.slot_count &&
                (l.used_bytes - l.slots_offset) % l.slot_bytes == 0);
    KVSFZ_CHECK(dev - l.used_bytes < l.slot_bytes);
    /* slot offsets */
    KVSFZ_CHECK(kvs_layout_slot_offset(&l, 0, &off) == KVS_OK && off == l.slots_offset);
    KVSFZ_CHECK(kvs_layout_slot_offset(&l, l.slot_count - 1, &off) == KVS_OK && off + l.slot_bytes == l.used_bytes);
    KVSFZ_CHECK(kvs_layout_slot_offset(&l, l.slot_count, &off) == KVS_E_INVAL && off == 0);
    pick %= l.slot_count;
    KVSFZ_CHECK(kvs_layout_slot_offset(&l, pick, &off) == KVS_OK && off == l.slots_offset + pick * l.slot_bytes &&
                off % align == 0 && off + l.slot_bytes <= l.used_bytes);
    return 0;
}
