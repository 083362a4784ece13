/* SPDX-License-Identifier: MIT OR Unlicense */
/*
    kvstore.h -- store LLM KV-cache blocks on local disks, raw block devices
    and shared filesystems. Portable C99 core, single header, no syscalls.

    Project home: README.md. Byte-level format: docs/FORMAT.md.

    QUICK START
    ===========
    In exactly one C or C++ file of your project:

        #define KVS_IMPLEMENTATION
        #include "kvstore.h"

    Every other file includes "kvstore.h" without the macro. To keep all
    symbols private to one translation unit, also define KVS_STATIC before the
    include. The optional POSIX backend (files, O_DIRECT, thread pool) lives in
    kvstore_posix.c: compile it as one more translation unit; it includes this
    header with KVS_IMPLEMENTATION off and links against your one copy of the
    implementation (or define KVS_POSIX_IMPLEMENTATION and include the .c).

    A sketch of the core (compiled by tests/test_quickstart.c):

        kvs_pathlist pl;
        size_t idx;
        char name[KVS_FSNAME_MAX + 1];
        size_t name_len;
        const char key[] = "llama3-8b@rank0@c0ffee";
        if (kvs_pathlist_parse("file:///mnt/nvme0/, /mnt/nvme1", NULL, &pl) != KVS_OK)
            return 1;
        kvs_shard_pick(KVS_SHARD_RENDEZVOUS, key, sizeof key - 1,
                       pl.ids, pl.count, 0, &idx);
        kvs_fsname_encode(key, sizeof key - 1, name, sizeof name, &name_len);
        printf("%s/%s\n", pl.paths[idx], name);
        kvs_pathlist_free(&pl);

    CONFIGURATION MACROS
    ====================
    Define before including the header (in the implementation file at least).

        KVS_IMPLEMENTATION  compile the implementation in this file
        KVS_STATIC          give every function internal linkage
        KVS_ASSERT(c)       assertion for programmer errors only (default: assert)
        KVS_NO_HW_CRC32C    never use the CRC32C CPU instruction, even when the
                            compiler target has it (SSE4.2 or ARMv8 CRC)

    RESULTS AND ERRORS
    ==================
    Every fallible function returns a kvs_result. KVS_OK (0) is success.
    Positive values are outcomes that are not errors: KVS_NOT_FOUND (1) is how
    a lookup reports a miss. Negative values are errors. Numeric values are
    part of the ABI and are only ever appended. kvs_result_str() describes any
    value (also unknown ones) and never returns NULL. Anything caused by input
    data, disks or memory is a result code; KVS_ASSERT guards only against
    programmer errors such as a NULL output pointer.

    MEMORY
    ======
    Every allocation goes through a kvs_allocator (a user pointer plus alloc
    and free callbacks that receive the size and the alignment). Passing NULL,
    or an allocator whose callbacks are NULL, selects the default allocator
    built on malloc/free, which over-allocates to honour the alignment. Free
    with the same size and alignment you allocated with.
    kvs_aligned_alloc() serves any power-of-two alignment from 1 byte up to
    KVS_ALIGN_MAX (64 MiB).

    THREAD SAFETY
    =============
    The core holds no global or thread-local state: every function is safe to
    call from several threads at once as long as they do not write the same
    object. Read-only objects (a parsed kvs_pathlist, kvs_tpmap, kvs_layout)
    may be shared freely.

    ON-DISK FORMAT
    ==============
    Little-endian throughout, versioned separately from the library
    (KVS_FORMAT_VERSION). Records: superblock, checkpoint container, object
    header (raw slots and filesystem files), filenames. docs/FORMAT.md gives
    every byte; vectors/ holds test vectors from an independent generator.

    LICENSE: MIT OR Unlicense, see the end of this file.
*/
#ifndef KVSTORE_H_INCLUDED
#define KVSTORE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define KVS_VERSION_MAJOR 0
#define KVS_VERSION_MINOR 1
#define KVS_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH */
#define KVS_VERSION_NUMBER (KVS_VERSION_MAJOR * 10000 + KVS_VERSION_MINOR * 100 + KVS_VERSION_PATCH)
#define KVS_VERSION_STRING "0.1.0"
/* Version of the on-disk format, independent of the library version. */
#define KVS_FORMAT_VERSION 1

#ifdef KVS_STATIC
#define KVSDEF static
#else
#define KVSDEF extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
   Results
   ------------------------------------------------------------------------ */
typedef enum kvs_result {
    KVS_OK = 0,
    KVS_NOT_FOUND = 1,          /* lookup miss: an outcome, not an error      */

    KVS_E_INVAL = -1,           /* invalid argument                           */
    KVS_E_NOMEM = -2,           /* an allocation failed                       */
    KVS_E_OVERFLOW = -3,        /* arithmetic would overflow                  */
    KVS_E_ALIGN = -4,           /* alignment not a power of two / misaligned  */
    KVS_E_KEY = -5,             /* key empty or longer than KVS_KEY_MAX       */
    KVS_E_PATH = -6,            /* malformed path or path list entry          */
    KVS_E_EMPTY = -7,           /* empty entry in a list                      */
    KVS_E_DUPLICATE = -8,       /* the same path or rank appears twice        */
    KVS_E_LIMIT = -9,           /* more entries or bytes than allowed         */
    KVS_E_RANK = -10,           /* rank out of range, missing, or not ours    */
    KVS_E_NAME = -11,           /* not a name the filename encoder produces   */
    KVS_E_BUFSIZE = -12,        /* caller's buffer too small                  */
    KVS_E_MAGIC = -13,          /* record magic does not match                */
    KVS_E_VERSION = -14,        /* unsupported format version                 */
    KVS_E_CHECKSUM = -15,       /* CRC32C mismatch                            */
    KVS_E_CORRUPT = -16,        /* fields inconsistent or out of range        */
    KVS_E_GEOMETRY = -17,       /* nonsense or mismatching layout geometry    */
    KVS_E_IO = -18,             /* I/O error (EIO and unmapped errno values)  */
    KVS_E_NOSPC = -19,          /* no space left on device                    */
    KVS_E_EOF = -20,            /* read ended early at end of file            */
    KVS_E_PERM = -21,           /* permission denied                          */
    KVS_E_NOENT = -22,          /* file or directory does not exist           */
    KVS_E_EXIST = -23,          /* file already exists                        */
    KVS_E_NODIRECT = -24,       /* O_DIRECT required but refused              */
    KVS_E_FULL = -25,           /* store full, nothing evictable              */
    KVS_E_BUSY = -26,           /* resource busy                              */
    KVS_E_CLOSED = -27,         /* object shut down or closed                 */
    KVS_E_NOTSUP = -28,         /* operation not supported here               */
    KVS_E_CANCELED = -29,       /* operation canceled before it ran           */
    KVS_E_AGAIN = -30           /* nothing ready yet (non-blocking call)      */
} kvs_result;

/* Short English description of any result value; never NULL. */
KVSDEF const char *kvs_result_str(int result);
/* Name of a result value ("KVS_E_INVAL"); "KVS_E_UNKNOWN" for unknown ones. */
KVSDEF const char *kvs_result_name(int result);

/* Runtime version: KVS_VERSION_NUMBER and KVS_VERSION_STRING of the
   implementation that was compiled, to compare with the header in use. */
KVSDEF unsigned kvs_version(void);
KVSDEF const char *kvs_version_string(void);
KVSDEF unsigned kvs_format_version(void);

/* ------------------------------------------------------------------------
   Memory
   ------------------------------------------------------------------------ */
#define KVS_ALIGN_MAX ((size_t)1 << 26) /* 64 MiB */

typedef struct kvs_allocator {
    void *user;
    /* Return size bytes aligned to align (a power of two), or NULL. size > 0. */
    void *(*alloc)(void *user, size_t size, size_t align);
    /* Release ptr, which alloc returned for exactly this size and align. */
    void (*free)(void *user, void *ptr, size_t size, size_t align);
} kvs_allocator;

/* *out = size bytes aligned to align. size 0 is KVS_E_INVAL; align must be a
   power of two in [1, KVS_ALIGN_MAX] (else KVS_E_ALIGN); KVS_E_NOMEM or
   KVS_E_OVERFLOW when it cannot be had. *out is NULL on failure. */
KVSDEF kvs_result kvs_aligned_alloc(const kvs_allocator *a, size_t size, size_t align, void **out);
/* Free what kvs_aligned_alloc returned, with the same size and align. NULL is a no-op. */
KVSDEF void kvs_aligned_free(const kvs_allocator *a, void *ptr, size_t size, size_t align);

/* ------------------------------------------------------------------------
   Alignment arithmetic (alignments must be powers of two, >= 1)
   ------------------------------------------------------------------------ */
KVSDEF int kvs_is_pow2(uint64_t v);
/* 1 when v is a multiple of align (align a power of two), else 0. */
KVSDEF int kvs_is_aligned(uint64_t v, uint64_t align);
/* *out = v rounded up to align. KVS_E_ALIGN, KVS_E_OVERFLOW. */
KVSDEF kvs_result kvs_round_up(uint64_t v, uint64_t align, uint64_t *out);
/* *out = v rounded down to align. KVS_E_ALIGN. */
KVSDEF kvs_result kvs_round_down(uint64_t v, uint64_t align, uint64_t *out);
/* 1 when ptr is aligned to align. */
KVSDEF int kvs_ptr_is_aligned(const void *ptr, size_t align);

/* ------------------------------------------------------------------------
   I/O plan of one object under direct I/O
   ------------------------------------------------------------------------
   An object of len bytes placed at an offset aligned to align. The first
   `direct` bytes (a multiple of align) move straight between the caller's
   memory and the disk; the remaining `tail` bytes (< align) go through one
   bounce block of `bounce` bytes (align, or 0 when tail is 0) that is
   zero-padded on write; `padded` = direct + bounce is the on-disk length. */
typedef struct kvs_io_plan {
    uint64_t direct;
    uint64_t tail;
    uint64_t bounce;
    uint64_t padded;
} kvs_io_plan;

/* KVS_E_ALIGN when align is not a power of two or offset is not a multiple of
   it; KVS_E_OVERFLOW when offset + padded length exceeds UINT64_MAX. */
KVSDEF kvs_result kvs_io_plan_make(uint64_t offset, uint64_t len, uint64_t align, kvs_io_plan *out);

/* ------------------------------------------------------------------------
   Hashes (docs/FORMAT.md, "Hashes")
   ------------------------------------------------------------------------ */
#define KVS_FNV1A64_INIT 0xcbf29ce484222325ULL
#define KVS_FNV1A64_PRIME 0x00000100000001b3ULL

/* FNV-1a 64 of len bytes. */
KVSDEF uint64_t kvs_fnv1a64(const void *data, size_t len);
/* Continue an FNV-1a 64 hash: start with KVS_FNV1A64_INIT. */
KVSDEF uint64_t kvs_fnv1a64_update(uint64_t h, const void *data, size_t len);
/* The 64-bit mixing function of the rendezvous policy (splitmix64 finaliser). */
KVSDEF uint64_t kvs_mix64(uint64_t x);

/* CRC32C (Castagnoli, reflected, init and xorout 0xFFFFFFFF). Streaming: pass
   0 the first time and the previous result after; the pieces concatenate:
   kvs_crc32c(kvs_crc32c(0, a, n), b, m) == CRC32C of a followed by b.
   Uses the CPU instruction when the compiler target has it (see
   kvs_crc32c_hw_available), else software; results are identical. */
KVSDEF uint32_t kvs_crc32c(uint32_t crc, const void *data, size_t len);
/* The portable software implementation, always available. */
KVSDEF uint32_t kvs_crc32c_sw(uint32_t crc, const void *data, size_t len);
/* 1 when kvs_crc32c was compiled to use the hardware instruction. */
KVSDEF int kvs_crc32c_hw_available(void);

/* ------------------------------------------------------------------------
   Path lists and sharding (docs/FORMAT.md, "Path lists", "Sharding")
   ------------------------------------------------------------------------ */
#define KVS_PATHS_MAX 64      /* entries in one list                      */
#define KVS_PATH_MAX 4095     /* bytes of one normalised path, no NUL     */

typedef struct kvs_pathlist {
    size_t count;
    char *paths[KVS_PATHS_MAX];   /* normalised, NUL-terminated           */
    size_t lens[KVS_PATHS_MAX];   /* strlen of each                       */
    uint64_t ids[KVS_PATHS_MAX];  /* path identity: FNV-1a 64 of the path */
    /* private */
    kvs_allocator alloc;
    char *block;
    size_t block_size;
} kvs_pathlist;

/* Parse a comma-separated list: entries trimmed of ASCII whitespace, a
   leading "file://" removed, repeated '/' collapsed, trailing '/' removed
   (a lone "/" stays). Errors: KVS_E_EMPTY (empty entry or empty list),
   KVS_E_PATH (NUL-free text only; control bytes, or a path longer than
   KVS_PATH_MAX), KVS_E_DUPLICATE (two entries equal after normalising),
   KVS_E_LIMIT (more than KVS_PATHS_MAX), KVS_E_NOMEM. On error *out is
   zeroed and owns nothing. */
KVSDEF kvs_result kvs_pathlist_parse(const char *text, const kvs_allocator *a, kvs_pathlist *out);
KVSDEF void kvs_pathlist_free(kvs_pathlist *pl);

/* Normalise one path as the list parser does, into out (cap bytes including
   the NUL); *out_len = its length. */
KVSDEF kvs_result kvs_path_normalize(const char *path, size_t len, char *out, size_t cap, size_t *out_len);

/* 1 when path equals dir or lies below it at a directory boundary:
   "/mnt/nvme1" is a prefix of "/mnt/nvme1/x" but not of "/mnt/nvme10/x".
   Both arguments are compared as given (normalise first). */
KVSDEF int kvs_path_has_prefix(const char *path, const char *dir);

typedef enum kvs_shard_policy {
    KVS_SHARD_RENDEZVOUS = 0,   /* default: only a changed path's keys move  */
    KVS_SHARD_MOD = 1,          /* FNV-1a 64 of the key mod n                */
    KVS_SHARD_RANK = 2          /* rank mod n: one path per GPU              */
} kvs_shard_policy;

/* Choose the path for a key among n paths identified by ids[0..n-1].
   KVS_E_INVAL for an unknown policy or n == 0 or n > KVS_PATHS_MAX;
   KVS_E_KEY for a key of 0 or more than KVS_KEY_MAX bytes (not checked by
   KVS_SHARD_RANK, which ignores the key and ids). */
KVSDEF kvs_result kvs_shard_pick(kvs_shard_policy policy, const void *key, size_t key_len,
                                 const uint64_t *ids, size_t n, uint32_t rank, size_t *out_index);
/* "rendezvous", "mod", "rank" <-> policy. */
KVSDEF kvs_result kvs_shard_policy_parse(const char *name, kvs_shard_policy *out);
KVSDEF const char *kvs_shard_policy_name(kvs_shard_policy policy);

/* ------------------------------------------------------------------------
   Tensor-parallel map: rank -> device or directory
   ------------------------------------------------------------------------ */
#define KVS_TP_MAX 1024        /* ranks in one map */

typedef struct kvs_tpmap {
    uint32_t world;         /* number of ranks: 0..world-1 each present once */
    char **paths;           /* paths[rank], normalised, NUL-terminated      */
    /* private */
    kvs_allocator alloc;
    void *block;
    size_t block_size;
} kvs_tpmap;

/* Parse "0=/dev/a,1=/dev/b" or the pasted YAML/JSON-ish spelling
   {"0": "/dev/a", "1": "/dev/b"} (see docs/FORMAT.md, "TP map").
   expected_world 0 takes the world size from the map, otherwise the map must
   hold exactly ranks 0..expected_world-1. Errors: KVS_E_INVAL (syntax),
   KVS_E_RANK (a rank not an integer in range, or missing: the message names
   the ranks present), KVS_E_DUPLICATE (a rank twice or a path used by two
   ranks), KVS_E_PATH / KVS_E_EMPTY (bad path), KVS_E_LIMIT, KVS_E_NOMEM.
   err (may be NULL) receives a NUL-terminated explanation, truncated to
   err_cap bytes. Nothing is opened; on error *out owns nothing. */
KVSDEF kvs_result kvs_tpmap_parse(const char *text, uint32_t expected_world, const kvs_allocator *a,
                                  kvs_tpmap *out, char *err, size_t err_cap);
KVSDEF void kvs_tpmap_free(kvs_tpmap *map);

/* ------------------------------------------------------------------------
   Keys and filenames (docs/FORMAT.md, "Filenames")
   ------------------------------------------------------------------------ */
#define KVS_KEY_MAX 1024          /* bytes in a key; keys are 1..KVS_KEY_MAX */
#define KVS_FSNAME_MAX 255        /* bytes in any name made here, extension included */
#define KVS_FSNAME_EXT ".kv"
#define KVS_FSNAME_TEMP_EXT ".tmp"

typedef enum kvs_fsname_kind {
    KVS_FSNAME_READABLE = 0,    /* escaped key: decodes back to the key      */
    KVS_FSNAME_HASHED = 1,      /* long key: hash-derived, key kept in file  */
    KVS_FSNAME_TEMP = 2         /* a writer's temporary file                 */
} kvs_fsname_kind;

/* Name of the data file of a key, NUL-terminated, into out (cap bytes).
   *out_len = strlen. *out_kind (may be NULL) = READABLE or HASHED.
   KVS_E_KEY, KVS_E_BUFSIZE (cap < KVS_FSNAME_MAX + 1 always suffices). */
KVSDEF kvs_result kvs_fsname_encode(const void *key, size_t key_len, char *out, size_t cap,
                                    size_t *out_len, kvs_fsname_kind *out_kind);
/* Decode a name of len bytes (no NUL needed). READABLE: the key is written
   to key_out (key_cap bytes; KVS_KEY_MAX suffices) and *key_len set.
   HASHED: *key_len is the key's length recorded in the name, key_out is not
   written; the caller must compare the key stored in the file.
   TEMP: nothing is written. Any name the encoders cannot produce is
   KVS_E_NAME. */
KVSDEF kvs_result kvs_fsname_decode(const char *name, size_t len, void *key_out, size_t key_cap,
                                    size_t *key_len, kvs_fsname_kind *out_kind);
/* Temporary name unique per (writer, seq): a writer picks a random 64-bit
   writer id once and counts seq. */
KVSDEF kvs_result kvs_fsname_temp(uint64_t writer, uint64_t seq, char *out, size_t cap, size_t *out_len);

/* ------------------------------------------------------------------------
   Raw-block layout and on-disk records (docs/FORMAT.md, "Raw-block layout")
   ------------------------------------------------------------------------ */
#define KVS_SB_RECORD_BYTES 256       /* encoded superblock                    */
#define KVS_CKPT_HEADER_BYTES 64      /* checkpoint container header           */
#define KVS_OBJHDR_FIXED_BYTES 64     /* object header without its key         */
#define KVS_OBJHDR_MAX_BYTES (KVS_OBJHDR_FIXED_BYTES + KVS_KEY_MAX)
#define KVS_OBJHDR_REGION 4096        /* minimum bytes before an object's payload */
#define KVS_DEV_ALIGN_MIN 512
#define KVS_DEV_ALIGN_MAX ((uint64_t)1 << 20)

typedef struct kvs_layout {
    uint64_t device_bytes;   /* as given                                     */
    uint64_t align;          /* as given                                     */
    uint64_t meta_bytes;     /* as given: both checkpoint copies             */
    uint64_t slot_bytes;     /* as given: header region + payload capacity   */
    uint64_t sb_offset;      /* 0                                            */
    uint64_t sb_bytes;       /* superblock region                            */
    uint64_t ckpt_offset[2]; /* the two checkpoint copies                    */
    uint64_t ckpt_bytes;     /* bytes of one copy                            */
    uint64_t slots_offset;   /* first slot                                   */
    uint64_t slot_count;
    uint64_t slot_header_bytes; /* header region at the start of each slot  */
    uint64_t slot_payload_max;  /* slot_bytes - slot_header_bytes            */
    uint64_t used_bytes;     /* slots_offset + slot_count * slot_bytes       */
} kvs_layout;

/* Compute and validate a layout; KVS_E_GEOMETRY names nothing, so err (may
   be NULL) receives which constraint failed. */
KVSDEF kvs_result kvs_layout_compute(uint64_t device_bytes, uint64_t align, uint64_t meta_bytes,
                                     uint64_t slot_bytes, kvs_layout *out, char *err, size_t err_cap);
/* Byte offset of slot i; KVS_E_INVAL when i >= slot_count. */
KVSDEF kvs_result kvs_layout_slot_offset(const kvs_layout *l, uint64_t i, uint64_t *out);

typedef struct kvs_superblock {
    uint32_t format_version;   /* KVS_FORMAT_VERSION                 */
    uint32_t flags;            /* 0 in format 1                       */
    uint64_t device_bytes;
    uint64_t align;
    uint64_t meta_bytes;
    uint64_t slot_bytes;
    uint64_t slot_count;       /* derived; checked on decode          */
    uint64_t slots_offset;     /* derived; checked on decode          */
    uint32_t tp_rank;
    uint32_t tp_world;         /* >= 1, tp_rank < tp_world            */
    uint32_t shard_policy;     /* kvs_shard_policy                    */
    uint64_t store_id;         /* random at format time, nonzero      */
    uint64_t path_id;          /* identity of the device/path         */
    uint64_t created_ns;       /* creation time, ns since the epoch   */
} kvs_superblock;

/* Encode into buf (cap >= KVS_SB_RECORD_BYTES). Validates fields first. */
KVSDEF kvs_result kvs_superblock_encode(const kvs_superblock *sb, void *buf, size_t cap);
/* Decode len bytes; never reads past them. KVS_E_BUFSIZE, KVS_E_MAGIC,
   KVS_E_VERSION, KVS_E_CHECKSUM, KVS_E_CORRUPT, KVS_E_GEOMETRY. */
KVSDEF kvs_result kvs_superblock_decode(const void *buf, size_t len, kvs_superblock *out);

typedef struct kvs_ckpt_header {
    uint32_t copy;             /* 0 or 1: which copy region           */
    uint64_t seq;              /* higher is newer, >= 1               */
    uint64_t payload_len;
    uint32_t payload_crc;      /* CRC32C of the payload               */
    uint64_t store_id;
} kvs_ckpt_header;

KVSDEF kvs_result kvs_ckpt_header_encode(const kvs_ckpt_header *h, void *buf, size_t cap);
/* payload_max: the most payload the copy region holds (ckpt_bytes -
   KVS_CKPT_HEADER_BYTES); a larger payload_len is KVS_E_CORRUPT. */
KVSDEF kvs_result kvs_ckpt_header_decode(const void *buf, size_t len, uint64_t payload_max,
                                         kvs_ckpt_header *out);
/* Given the results of decoding both copies (and the headers), pick the
   newest valid one: *out_copy = 0 or 1. KVS_NOT_FOUND when neither is valid. */
KVSDEF kvs_result kvs_ckpt_pick(kvs_result r0, const kvs_ckpt_header *h0, kvs_result r1,
                                const kvs_ckpt_header *h1, uint32_t *out_copy);

typedef struct kvs_objhdr {
    uint32_t key_len;          /* 1..KVS_KEY_MAX                      */
    uint64_t payload_len;
    uint64_t generation;
    uint64_t store_id;
    uint32_t payload_offset;   /* from the start of the header; aligned payload */
    uint32_t payload_crc;      /* CRC32C of the payload_len payload bytes */
    const void *key;           /* encode: input; decode: points into buf */
} kvs_objhdr;

/* Encode the header and its key into buf: writes KVS_OBJHDR_FIXED_BYTES +
   key_len bytes (the caller zero-fills up to payload_offset). */
KVSDEF kvs_result kvs_objhdr_encode(const kvs_objhdr *h, void *buf, size_t cap, size_t *out_len);
KVSDEF kvs_result kvs_objhdr_decode(const void *buf, size_t len, kvs_objhdr *out);

#ifdef __cplusplus
}
#endif

/* ===== BEGIN POSIX DECLARATIONS (kvstore_posix.c) ===== */
/* ===== END POSIX DECLARATIONS ===== */

#endif /* KVSTORE_H_INCLUDED */

/* ========================================================================
   IMPLEMENTATION
   ======================================================================== */
#if defined(KVS_IMPLEMENTATION) && !defined(KVS_IMPLEMENTATION_DONE)
#define KVS_IMPLEMENTATION_DONE 1

#include <string.h>
#include <stdlib.h>

#ifndef KVS_ASSERT
#include <assert.h>
#define KVS_ASSERT(c) assert(c)
#endif

#ifdef KVS_NO_HW_CRC32C
#define KVSI_HW_CRC32C_X86 0
#define KVSI_HW_CRC32C_ARM 0
#else
#if defined(__SSE4_2__) && (defined(__x86_64__) || defined(_M_X64) || defined(__i386__))
#define KVSI_HW_CRC32C_X86 1
#else
#define KVSI_HW_CRC32C_X86 0
#endif
#if defined(__ARM_FEATURE_CRC32) && defined(__aarch64__)
#define KVSI_HW_CRC32C_ARM 1
#else
#define KVSI_HW_CRC32C_ARM 0
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ===== BEGIN IMPL: BASE ===== */
KVSDEF const char *kvs_result_name(int r)
{
    switch (r) {
#define KVSI_NAME(x) case x: return #x;
    KVSI_NAME(KVS_OK) KVSI_NAME(KVS_NOT_FOUND)
    KVSI_NAME(KVS_E_INVAL) KVSI_NAME(KVS_E_NOMEM) KVSI_NAME(KVS_E_OVERFLOW)
    KVSI_NAME(KVS_E_ALIGN) KVSI_NAME(KVS_E_KEY) KVSI_NAME(KVS_E_PATH)
    KVSI_NAME(KVS_E_EMPTY) KVSI_NAME(KVS_E_DUPLICATE) KVSI_NAME(KVS_E_LIMIT)
    KVSI_NAME(KVS_E_RANK) KVSI_NAME(KVS_E_NAME) KVSI_NAME(KVS_E_BUFSIZE)
    KVSI_NAME(KVS_E_MAGIC) KVSI_NAME(KVS_E_VERSION) KVSI_NAME(KVS_E_CHECKSUM)
    KVSI_NAME(KVS_E_CORRUPT) KVSI_NAME(KVS_E_GEOMETRY) KVSI_NAME(KVS_E_IO)
    KVSI_NAME(KVS_E_NOSPC) KVSI_NAME(KVS_E_EOF) KVSI_NAME(KVS_E_PERM)
    KVSI_NAME(KVS_E_NOENT) KVSI_NAME(KVS_E_EXIST) KVSI_NAME(KVS_E_NODIRECT)
    KVSI_NAME(KVS_E_FULL) KVSI_NAME(KVS_E_BUSY) KVSI_NAME(KVS_E_CLOSED)
    KVSI_NAME(KVS_E_NOTSUP) KVSI_NAME(KVS_E_CANCELED) KVSI_NAME(KVS_E_AGAIN)
#undef KVSI_NAME
    default: return "KVS_E_UNKNOWN";
    }
}

KVSDEF const char *kvs_result_str(int r)
{
    switch (r) {
    case KVS_OK: return "success";
    case KVS_NOT_FOUND: return "not found";
    case KVS_E_INVAL: return "invalid argument";
    case KVS_E_NOMEM: return "out of memory";
    case KVS_E_OVERFLOW: return "arithmetic overflow";
    case KVS_E_ALIGN: return "bad or unmet alignment";
    case KVS_E_KEY: return "key empty or longer than KVS_KEY_MAX";
    case KVS_E_PATH: return "malformed path";
    case KVS_E_EMPTY: return "empty entry";
    case KVS_E_DUPLICATE: return "duplicate path or rank";
    case KVS_E_LIMIT: return "limit exceeded";
    case KVS_E_RANK: return "rank missing, out of range or not ours";
    case KVS_E_NAME: return "not a valid kvstore filename";
    case KVS_E_BUFSIZE: return "buffer too small";
    case KVS_E_MAGIC: return "bad magic";
    case KVS_E_VERSION: return "unsupported format version";
    case KVS_E_CHECKSUM: return "checksum mismatch";
    case KVS_E_CORRUPT: return "corrupt record";
    case KVS_E_GEOMETRY: return "bad or mismatching geometry";
    case KVS_E_IO: return "I/O error";
    case KVS_E_NOSPC: return "no space left on device";
    case KVS_E_EOF: return "unexpected end of file";
    case KVS_E_PERM: return "permission denied";
    case KVS_E_NOENT: return "no such file or directory";
    case KVS_E_EXIST: return "already exists";
    case KVS_E_NODIRECT: return "direct I/O refused";
    case KVS_E_FULL: return "store full";
    case KVS_E_BUSY: return "busy";
    case KVS_E_CLOSED: return "closed or shut down";
    case KVS_E_NOTSUP: return "not supported";
    case KVS_E_CANCELED: return "canceled";
    case KVS_E_AGAIN: return "try again";
    default: return "unknown result";
    }
}

KVSDEF unsigned kvs_version(void) { return (unsigned)KVS_VERSION_NUMBER; }
KVSDEF const char *kvs_version_string(void) { return KVS_VERSION_STRING; }
KVSDEF unsigned kvs_format_version(void) { return (unsigned)KVS_FORMAT_VERSION; }

KVSDEF int kvs_is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

KVSDEF int kvs_is_aligned(uint64_t v, uint64_t align)
{
    return kvs_is_pow2(align) && (v & (align - 1)) == 0;
}

KVSDEF kvs_result kvs_round_up(uint64_t v, uint64_t align, uint64_t *out)
{
    KVS_ASSERT(out != NULL);
    *out = 0;
    if (!kvs_is_pow2(align))
        return KVS_E_ALIGN;
    if (v > UINT64_MAX - (align - 1))
        return KVS_E_OVERFLOW;
    *out = (v + (align - 1)) & ~(align - 1);
    return KVS_OK;
}

KVSDEF kvs_result kvs_round_down(uint64_t v, uint64_t align, uint64_t *out)
{
    KVS_ASSERT(out != NULL);
    *out = 0;
    if (!kvs_is_pow2(align))
        return KVS_E_ALIGN;
    *out = v & ~(align - 1);
    return KVS_OK;
}

KVSDEF int kvs_ptr_is_aligned(const void *ptr, size_t align)
{
    return kvs_is_pow2(align) && ((uintptr_t)ptr & (uintptr_t)(align - 1)) == 0;
}

/* Default allocator: malloc a block large enough to align inside it, and keep
   the pointer malloc returned in the word just below the aligned address. */
static void *kvsi_default_alloc(void *user, size_t size, size_t align)
{
    size_t extra, total;
    unsigned char *raw, *p;
    (void)user;
    if (align < sizeof(void *))
        align = sizeof(void *);
    extra = align - 1 + sizeof(void *);
    if (size > (size_t)-1 - extra)
        return NULL;
    total = size + extra;
    raw = (unsigned char *)malloc(total);
    if (raw == NULL)
        return NULL;
    p = raw + sizeof(void *);
    p += (size_t)((align - ((uintptr_t)p & (uintptr_t)(align - 1))) & (uintptr_t)(align - 1));
    memcpy(p - sizeof(void *), &raw, sizeof raw);
    return p;
}

static void kvsi_default_free(void *user, void *ptr, size_t size, size_t align)
{
    void *raw;
    (void)user;
    (void)size;
    (void)align;
    if (ptr == NULL)
        return;
    memcpy(&raw, (unsigned char *)ptr - sizeof(void *), sizeof raw);
    free(raw);
}

static int kvsi_alloc_is_custom(const kvs_allocator *a)
{
    return a != NULL && a->alloc != NULL && a->free != NULL;
}

KVSDEF kvs_result kvs_aligned_alloc(const kvs_allocator *a, size_t size, size_t align, void **out)
{
    void *p;
    KVS_ASSERT(out != NULL);
    *out = NULL;
    if (size == 0)
        return KVS_E_INVAL;
    if (!kvs_is_pow2(align) || align > KVS_ALIGN_MAX)
        return KVS_E_ALIGN;
    if (size > (size_t)-1 - align)
        return KVS_E_OVERFLOW;
    if (kvsi_alloc_is_custom(a))
        p = a->alloc(a->user, size, align);
    else
        p = kvsi_default_alloc(NULL, size, align);
    if (p == NULL)
        return KVS_E_NOMEM;
    if (!kvs_ptr_is_aligned(p, align)) {
        /* A user allocator that ignores the alignment is a programmer error,
           but data would be corrupted by trusting it: refuse the block. */
        if (kvsi_alloc_is_custom(a))
            a->free(a->user, p, size, align);
        return KVS_E_ALIGN;
    }
    *out = p;
    return KVS_OK;
}

KVSDEF void kvs_aligned_free(const kvs_allocator *a, void *ptr, size_t size, size_t align)
{
    if (ptr == NULL)
        return;
    if (kvsi_alloc_is_custom(a))
        a->free(a->user, ptr, size, align);
    else
        kvsi_default_free(NULL, ptr, size, align);
}

KVSDEF kvs_result kvs_io_plan_make(uint64_t offset, uint64_t len, uint64_t align, kvs_io_plan *out)
{
    uint64_t padded, end;
    KVS_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (!kvs_is_pow2(align) || (offset & (align - 1)) != 0)
        return KVS_E_ALIGN;
    if (kvs_round_up(len, align, &padded) != KVS_OK)
        return KVS_E_OVERFLOW;
    if (padded > UINT64_MAX - offset)
        return KVS_E_OVERFLOW;
    end = len & ~(align - 1);
    out->direct = end;
    out->tail = len - end;
    out->bounce = out->tail ? align : 0;
    out->padded = padded;
    return KVS_OK;
}
/* ===== END IMPL: BASE ===== */

/* ===== BEGIN IMPL: HASH ===== */
/* ===== END IMPL: HASH ===== */

/* ===== BEGIN IMPL: PATHS AND SHARDING ===== */
/* ===== END IMPL: PATHS AND SHARDING ===== */

/* ===== BEGIN IMPL: TP MAP ===== */
/* ===== END IMPL: TP MAP ===== */

/* ===== BEGIN IMPL: FILENAMES ===== */
/* ===== END IMPL: FILENAMES ===== */

/* ===== BEGIN IMPL: LAYOUT AND RECORDS ===== */
/* ===== END IMPL: LAYOUT AND RECORDS ===== */

#ifdef __cplusplus
}
#endif

#endif /* KVS_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under two licenses; choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the kvstore authors
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
In jurisdictions that recognize copyright laws, the author or authors of this
software dedicate any and all copyright interest in the software to the public
domain. We make this dedication for the benefit of the public at large and to
the detriment of our heirs and successors. We intend this dedication to be an
overt act of relinquishment in perpetuity of all present and future rights to
this software under copyright law.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/
