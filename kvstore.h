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
    include. The optional POSIX backend (files, O_DIRECT, thread pool, the
    stores) lives in kvstore_posix.c: compile it as one more translation unit
    (it includes this header without KVS_IMPLEMENTATION and links against
    your one copy of the implementation), or #include "kvstore_posix.c" in
    the implementation file instead of kvstore.h, before any system header
    (it sets _GNU_SOURCE). With KVS_STATIC the backend's declarations are
    made only under KVS_POSIX, which kvstore_posix.c defines itself when it
    is the file included; define it yourself for other files of that
    translation unit that include kvstore.h first.

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
        kvs_fsname_encode(key, sizeof key - 1, name, sizeof name, &name_len, NULL);
        printf("%s/%s\n", pl.paths[idx], name);
        kvs_pathlist_free(&pl);

    CONFIGURATION MACROS
    ====================
    Define before including the header (in the implementation file at least).

        KVS_IMPLEMENTATION  compile the implementation in this file
        KVS_STATIC          give every function internal linkage
        KVS_ASSERT(c)       assertion for programmer errors only (default: assert)
        KVS_NO_HW_CRC32C    never use the CRC32C CPU instruction, even when the
                            compiler target or the CPU has it
        KVS_NO_AVX512_CRC32C  never use the AVX-512 (VPCLMULQDQ) CRC32C path
                            (x86-64); the CRC32C instruction is still used
        KVS_POSIX           with KVS_STATIC: declare the POSIX backend too
        KVS_POSIX_USE_EVENTFD  0 = completion fd is a pipe even on Linux
        KVS_POSIX_USE_AIO   0 = the raw store's large direct puts compute the
                            CRC first, then write (default 1 on Linux: the
                            write starts first, docs/STORES.md "Put")

    RESULTS AND ERRORS
    ==================
    Every fallible function returns a kvs_result (except the kvs_sys_*
    calls, the real system calls behind kvs_sysops, which answer as its
    hooks do: 0, or 1 for a name kvs_sys_readdir read, or -errno). KVS_OK
    (0) is success.
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
    or an allocator whose callbacks are both NULL, selects the default
    allocator built on malloc/free, which over-allocates to honour the
    alignment; one callback without the other is KVS_E_INVAL (from every
    call that would allocate with it, and from kvs_store_open). Free with the
    same size and alignment you allocated with.
    kvs_aligned_alloc() serves any power-of-two alignment from 1 byte up to
    KVS_ALIGN_MAX (64 MiB).

    THREAD SAFETY
    =============
    The core holds no global or thread-local state: every function is safe to
    call from several threads at once as long as they do not write the same
    object. Read-only objects (a parsed kvs_pathlist, kvs_tpmap, kvs_layout)
    may be shared freely. A kvs_store handle may be used by any number of
    threads at once (every call but kvs_store_close, which no other call on
    the handle may overlap or follow). A kvs_file may be read and written by
    several threads at once; open/close are not concurrent with other calls
    on it. A kvs_pool accepts submits from any thread; a batch belongs to one
    owner until freed. Callbacks (thread hooks, sysops, CALL ops) run on pool
    workers; sysops hooks also run on the calling thread and on a store's
    own threads (the raw store's checkpoint thread, and the short-lived
    reader of a restore), so a hook table must be thread-safe.

    A kvs_store or kvs_pool belongs to the process that opened it. After
    fork() the child has none of its threads (pool workers, the raw store's
    checkpoint thread) and may inherit its locks in any state: the child
    must not call anything on it, not even close, but
    kvs_store_drop_locks_after_fork (else the child's copies of its
    descriptors keep a raw device busy, and keep held the pins the parent
    held at its close, until the child exits or execs); it opens its own.
    Only the parent closes it. (A raw store's overlapped writes also use Linux
    AIO contexts, which are the opening process's.) A kvs_file holds no
    thread or lock: in a child it is an inherited descriptor like any other.

    ON-DISK FORMAT
    ==============
    Little-endian throughout, versioned separately from the library
    (KVS_FORMAT_VERSION). Records: superblock, checkpoint container, object
    header (raw slots and filesystem files), filenames. docs/FORMAT.md gives
    every byte; vectors/ holds test vectors from an independent generator.

    POSIX BACKEND
    =============
    kvstore_posix.c (guide: docs/POSIX.md) opens files and block devices
    with a direct-I/O policy (PREFER falls back to buffered and says so,
    REQUIRE fails with KVS_E_NODIRECT, OFF), discovers the O_DIRECT alignment
    (statx STATX_DIOALIGN, BLKSSZGET, st_blksize), moves aligned data straight
    from the caller's memory and only a tail through a bounce block (counted),
    and runs batches on a thread pool whose completion fd works with poll or
    epoll. When you include it instead of compiling it separately, include it
    before this header and any system header (it sets _GNU_SOURCE).

    STORES
    ======
    kvs_store_open(&cfg, &s, err, cap) with a zeroed kvs_store_config (zero =
    defaults) and cfg.kind: KVS_STORE_FS (cfg.paths = comma-separated
    directories; one file per object, temp + rename, sharded by
    cfg.shard, LRU-bounded by cfg.capacity_bytes) or KVS_STORE_RAW (one
    device or file, or a tensor-parallel cfg.tp_map; fixed slots, a
    checkpointed index, LRU eviction). Then put / get / exists / remove /
    pin, put_batch / get_prefix / exists_batch, asynchronous batches
    (kvs_store_submit, completion on kvs_store_fd), sync, stats, iterate,
    close. One raw handle per device (a second open is KVS_E_BUSY); pins of
    a filesystem store hold across its handles and processes (byte locks;
    stats.lock_errno). A get never returns another key's bytes or torn bytes: every object
    carries its key, length, generation and CRC32C, and a mismatch is a miss
    counted in stats.corruptions (a filesystem-store get of a file the handle
    already knows checks the payload against the CRC it knows and skips the
    header). Guarantees across crashes, processes and hosts, and every
    setting: docs/STORES.md.

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
#if defined(__GNUC__) || defined(__clang__)
#define KVSDEF static __attribute__((unused))
#else
#define KVSDEF static
#endif
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
    KVS_E_NOMEM = -2,           /* an allocation failed (memory, or file
                                   descriptors: EMFILE, ENFILE)               */
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
    KVS_E_AGAIN = -30,          /* nothing ready yet (non-blocking call)      */
    KVS_E_PATHSET = -31         /* directories differ from the recorded set   */
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

/* *out = size bytes aligned to align. size 0, or an allocator with one
   callback set and the other NULL, is KVS_E_INVAL; align must be a power of
   two in [1, KVS_ALIGN_MAX] (else KVS_E_ALIGN, as when a caller's allocator
   returns a block not aligned as asked: the block is freed). KVS_E_OVERFLOW
   when size plus the allocation's overhead passes SIZE_MAX (a caller's
   allocator: align; the default: align - 1 + one pointer, align at least a
   pointer's size), before any allocator is asked; KVS_E_NOMEM when the
   allocator returns NULL. *out is NULL on failure. */
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
   Uses the CPU instruction when the compiler target has it (SSE4.2, ARMv8
   CRC) or, on x86-64 with GCC or clang, when the CPU has SSE4.2 (checked at
   run time); else software. On x86-64 CPUs with AVX-512 VPCLMULQDQ (GCC 10+,
   clang 12+; Xeon since Ice Lake-SP, AMD Zen 4), buffers of 256 bytes and
   more are folded by carry-less multiplication instead: about twice as fast
   on large buffers on a Zen 4 (docs/BENCHMARKS.md; KVS_NO_AVX512_CRC32C
   turns it off). Results are identical either way. */
KVSDEF uint32_t kvs_crc32c(uint32_t crc, const void *data, size_t len);
/* The portable software implementation, always available. */
KVSDEF uint32_t kvs_crc32c_sw(uint32_t crc, const void *data, size_t len);
/* 1 when kvs_crc32c uses the hardware instruction on this machine. */
KVSDEF int kvs_crc32c_hw_available(void);
/* Which implementation kvs_crc32c uses on this machine for large buffers, as
   a static string: "avx512-vpclmulqdq", "sse4.2", "armv8-crc" or "software". */
KVSDEF const char *kvs_crc32c_impl(void);

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
   the NUL); *out_len = its length. KVS_E_EMPTY (nothing but blanks or
   "file://"), KVS_E_PATH (a control byte, longer than KVS_PATH_MAX),
   KVS_E_BUFSIZE (cap too small). */
KVSDEF kvs_result kvs_path_normalize(const char *path, size_t len, char *out, size_t cap, size_t *out_len);

/* 1 when path equals dir or lies below it at a directory boundary:
   "/mnt/nvme1" is a prefix of "/mnt/nvme1/x" but not of "/mnt/nvme10/x".
   Both arguments are compared as given (normalise first). */
KVSDEF int kvs_path_has_prefix(const char *path, const char *dir);

typedef enum kvs_shard_policy {
    KVS_SHARD_RENDEZVOUS = 0,   /* default: only a changed path's keys move  */
    KVS_SHARD_MOD = 1,          /* FNV-1a 64 of the key mod n                */
    KVS_SHARD_RANK = 2          /* rank mod n: one path per GPU (a store
                                   handle uses only its rank's directory)   */
} kvs_shard_policy;

/* Choose the path for a key among n paths identified by ids[0..n-1].
   KVS_E_INVAL for an unknown policy or n == 0 or n > KVS_PATHS_MAX;
   KVS_E_KEY for a key of 0 or more than KVS_KEY_MAX bytes (not checked by
   KVS_SHARD_RANK, which ignores the key and ids). */
KVSDEF kvs_result kvs_shard_pick(kvs_shard_policy policy, const void *key, size_t key_len,
                                 const uint64_t *ids, size_t n, uint32_t rank, size_t *out_index);
/* "rendezvous", "mod", "rank" <-> policy; parse: KVS_E_INVAL for any other
   name (*out is then rendezvous). */
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
   KVS_E_RANK (a rank not written as a decimal integer, one not below the
   world size, or one missing: the message names the ranks present),
   KVS_E_DUPLICATE (a rank twice or a path used by two ranks), KVS_E_PATH /
   KVS_E_EMPTY (bad path), KVS_E_LIMIT (a rank of KVS_TP_MAX or more, or
   an expected_world above KVS_TP_MAX), KVS_E_NOMEM.
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
   KVS_E_KEY, KVS_E_BUFSIZE (cap >= KVS_FSNAME_MAX + 1 always suffices). */
KVSDEF kvs_result kvs_fsname_encode(const void *key, size_t key_len, char *out, size_t cap,
                                    size_t *out_len, kvs_fsname_kind *out_kind);
/* Decode a name of len bytes (no NUL needed). READABLE: the key is written
   to key_out (key_cap bytes; KVS_KEY_MAX suffices) and *key_len set.
   HASHED: *key_len is the key's length recorded in the name, key_out is not
   written; the caller must compare the key stored in the file.
   TEMP: nothing is written. Any name the encoders cannot produce is
   KVS_E_NAME; a readable name whose key does not fit key_cap bytes is
   KVS_E_BUFSIZE. */
KVSDEF kvs_result kvs_fsname_decode(const char *name, size_t len, void *key_out, size_t key_cap,
                                    size_t *key_len, kvs_fsname_kind *out_kind);
/* Temporary name unique per (writer, seq): a writer picks a random 64-bit
   writer id once and counts seq. KVS_E_BUFSIZE when cap is below 39. */
KVSDEF kvs_result kvs_fsname_temp(uint64_t writer, uint64_t seq, char *out, size_t cap, size_t *out_len);
/* The byte of a filesystem store directory's lock file (KVS_PINS_NAME)
   that stands for the object file name[0..len) in the pins and evictions
   of every handle (docs/FORMAT.md 7.3): mix64(fnv1a64(name)) >> 2, below
   2^62. */
KVSDEF uint64_t kvs_fsname_lock_byte(const char *name, size_t len);

/* ------------------------------------------------------------------------
   Raw-block layout and on-disk records (docs/FORMAT.md, "Raw-block layout")
   ------------------------------------------------------------------------ */
#define KVS_SB_RECORD_BYTES 256       /* encoded superblock                    */
#define KVS_CKPT_HEADER_BYTES 64      /* checkpoint container header           */
#define KVS_OBJHDR_FIXED_BYTES 64     /* object header without its key         */
#define KVS_OBJHDR_MAX_BYTES (KVS_OBJHDR_FIXED_BYTES + KVS_KEY_MAX)
#define KVS_OBJHDR_REGION 4096        /* raw slot header region before rounding to align */
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
   key_len bytes (the caller zero-fills up to payload_offset). h->key may
   point into buf (it is moved first). */
KVSDEF kvs_result kvs_objhdr_encode(const kvs_objhdr *h, void *buf, size_t cap, size_t *out_len);
KVSDEF kvs_result kvs_objhdr_decode(const void *buf, size_t len, kvs_objhdr *out);

/* Checkpoint payload: the raw store's index (docs/FORMAT.md 6.4). */
#define KVS_INDEX_HEADER_BYTES 40
#define KVS_INDEX_ENTRY_FIXED_BYTES 32

typedef struct kvs_index_header {
    uint64_t gen_floor;        /* unlisted objects below this were removed   */
    uint64_t alloc_limit;      /* slots >= this never written since format   */
    uint64_t slot_count;
    uint32_t entry_count;
} kvs_index_header;

typedef struct kvs_index_entry {
    uint32_t slot;
    uint32_t key_len;          /* 1..KVS_KEY_MAX                              */
    uint64_t generation;       /* nonzero                                     */
    uint64_t payload_len;
    uint32_t payload_crc;
    const void *key;           /* encode: input; decode: points into buf     */
} kvs_index_entry;

/* Bytes one entry takes: 32 + key_len rounded up to 8 (0 for a bad key_len). */
KVSDEF size_t kvs_index_entry_size(uint32_t key_len);
/* KVS_E_BUFSIZE (cap below KVS_INDEX_HEADER_BYTES), KVS_E_INVAL (alloc_limit
   or entry_count above slot_count). */
KVSDEF kvs_result kvs_index_header_encode(const kvs_index_header *h, void *buf, size_t cap);
/* KVS_E_BUFSIZE, KVS_E_MAGIC, KVS_E_CORRUPT (reserved, alloc_limit >
   slot_count, entry_count > slot_count). */
KVSDEF kvs_result kvs_index_header_decode(const void *buf, size_t len, kvs_index_header *out);
/* KVS_E_KEY (key_len 0 or above 1024), KVS_E_INVAL (generation 0),
   KVS_E_BUFSIZE (cap below kvs_index_entry_size). e->key may point into
   buf (it is moved first). */
KVSDEF kvs_result kvs_index_entry_encode(const kvs_index_entry *e, void *buf, size_t cap, size_t *out_len);
/* Decode the entry at buf (len bytes remain); *used = its size. KVS_E_CORRUPT
   for a slot >= slot_count, a bad key_len, generation 0, nonzero reserved or
   padding bytes, or an entry running past len. */
KVSDEF kvs_result kvs_index_entry_decode(const void *buf, size_t len, uint64_t slot_count,
                                         kvs_index_entry *out, size_t *used);

/* Path-set record of a filesystem store directory (docs/FORMAT.md 7.2). */
#define KVS_PATHSET_NAME "~kvstore-pathset"
/* Lock file of a filesystem store directory: empty, created at open and
   never replaced; its bytes are locked, never written (docs/FORMAT.md 7.3). */
#define KVS_PINS_NAME "~kvstore-pins"

typedef struct kvs_pathset {
    uint32_t count;            /* 1..KVS_PATHS_MAX                            */
    uint32_t index;            /* this directory's place, < count            */
    uint32_t shard_policy;
    uint64_t store_id;         /* nonzero                                     */
    uint64_t ids[KVS_PATHS_MAX];
} kvs_pathset;

/* Encoded size: 36 + 8 * count, for count up to KVS_PATHS_MAX; 0 above
   it (no record holds more, and the size need not fit a 32-bit size_t). */
KVSDEF size_t kvs_pathset_size(uint32_t count);
KVSDEF kvs_result kvs_pathset_encode(const kvs_pathset *ps, void *buf, size_t cap, size_t *out_len);
KVSDEF kvs_result kvs_pathset_decode(const void *buf, size_t len, kvs_pathset *out);

#ifdef __cplusplus
}
#endif

/* The POSIX backend and the stores. With KVS_STATIC these are declared only
   when KVS_POSIX is defined too (compile kvstore_posix.c into that same
   translation unit), so a private core-only build declares nothing it lacks. */
#if !defined(KVS_STATIC) || defined(KVS_POSIX)
/* ===== BEGIN POSIX DECLARATIONS (kvstore_posix.c) ===== */
/* Implemented in kvstore_posix.c (docs/POSIX.md is the guide). Declared here
   so every translation unit sees one copy; nothing below is defined unless
   kvstore_posix.c is compiled. */
#ifdef __cplusplus
extern "C" {
#endif

/* The single errno -> kvs_result mapping (EIO->KVS_E_IO, ENOSPC/EDQUOT->
   KVS_E_NOSPC, EACCES/EPERM/EROFS->KVS_E_PERM, ENOENT/ENOTDIR->KVS_E_NOENT,
   EEXIST->KVS_E_EXIST, ENOMEM/EMFILE/ENFILE->KVS_E_NOMEM, EINVAL->KVS_E_INVAL,
   EBUSY->KVS_E_BUSY, EAGAIN->KVS_E_AGAIN, unknown->KVS_E_IO; docs/POSIX.md). */
KVSDEF kvs_result kvs_result_from_errno(int err);

/* One segment of a vectored transfer (kvs_file_readv/writev and the
   preadv/pwritev hooks). Its own type: the header includes no <sys/uio.h>. */
typedef struct kvs_iovec {
    void *base;
    size_t len;
} kvs_iovec;

/* A file's status as the fstat and fstatat hooks report it: what the
   library uses of struct stat, in its own types (the header includes no
   <sys/stat.h>, and struct stat's layout changes with build flags such as
   _FILE_OFFSET_BITS, so a hook and the library could disagree on it).
   kvs_sys_fstat / kvs_sys_fstatat (kvstore_posix.c) are the real calls,
   for a hook that passes through. */
typedef enum kvs_file_type {
    KVS_FTYPE_OTHER = 0,       /* fifo, socket, character device, ...       */
    KVS_FTYPE_REGULAR = 1,
    KVS_FTYPE_DIRECTORY = 2,
    KVS_FTYPE_BLOCKDEV = 3,
    KVS_FTYPE_SYMLINK = 4      /* fstatat only: it never follows a link     */
} kvs_file_type;

typedef struct kvs_file_status {
    kvs_file_type type;
    uint64_t size;             /* st_size                                   */
    uint64_t blksize;          /* st_blksize; 0 = unknown                   */
    uint64_t dev, ino;         /* st_dev, st_ino                            */
    uint64_t mtime_ns;         /* modification time, ns since the epoch
                                  (whole seconds where the system keeps no
                                  finer)                                    */
} kvs_file_status;

/* System-call table. Every member may be NULL (= the real call); a NULL
   table means all real calls. Each hook returns what the call would, but
   errors as -errno (never -1 + errno); an answer below -4095, which no
   errno is, is taken as -EIO. Used for fault injection. */
typedef struct kvs_sysops {
    void *user;
    int (*open)(void *user, const char *path, int flags, unsigned mode);  /* fd or -errno */
    int (*setfl)(void *user, int fd, int flags);       /* fcntl(F_SETFL): 0 or -errno */
    int64_t (*pread)(void *user, int fd, void *buf, size_t len, uint64_t offset);
    int64_t (*pwrite)(void *user, int fd, const void *buf, size_t len, uint64_t offset);
    int (*fsync)(void *user, int fd);                  /* 0 or -errno */
    int (*fdatasync)(void *user, int fd);              /* 0 or -errno */
    int (*rename)(void *user, const char *from, const char *to); /* 0 or -errno */
    /* Relative to a directory descriptor (the filesystem store's calls). */
    int (*openat)(void *user, int dirfd, const char *path, int flags, unsigned mode); /* fd or -errno */
    int (*renameat)(void *user, int fromdir, const char *from, int todir, const char *to); /* 0 or -errno */
    int (*unlinkat)(void *user, int dirfd, const char *path, int flags); /* 0 or -errno */
    /* Vectored calls: bytes moved (may be short) or -errno; cnt >= 2 and at
       most KVS_IOV_BATCH. When NULL and pread (pwrite) is hooked, the
       segments go through that hook one at a time: the call stops at the
       first short segment (or an EINTR after some bytes moved), and an
       error of any segment is the call's error. */
    int64_t (*preadv)(void *user, int fd, const kvs_iovec *iov, int cnt, uint64_t offset);
    int64_t (*pwritev)(void *user, int fd, const kvs_iovec *iov, int cnt, uint64_t offset);
    /* Block reservation of [offset, offset + len): 0 or -errno (-EINTR is
       retried). The real call is posix_fallocate for KVS_FILE_PREALLOC and
       fallocate(2) mode 0 for the filesystem store's per-put reservation,
       where -EOPNOTSUPP, -ENOSYS and -EINVAL mean "not supported here" and
       the write allocates instead; any other error fails the put. */
    int (*fallocate)(void *user, int fd, uint64_t offset, uint64_t len);
    /* Release a descriptor the library opened through open or openat: 0
       or -errno, and the descriptor is gone either way (the hook must
       release it; the library never closes it again). A close can report
       an error the writes could not (on NFS, a write-back failure; EIO,
       ENOSPC, EDQUOT): a file written through the descriptor is then not
       trusted, even after an fsync (the filesystem store's put fails and
       removes its temporary file; its path-set record fails the open; the
       raw store's close reports it; kvs_file_close returns it). Ignored:
       the error of closing a descriptor nothing was written through (a
       get's file, a directory), and of one closed on a path that already
       fails. -EINTR is success (released; never retried). Directory
       streams (open-time scan, iteration) are closed by closedir, not
       through this hook. */
    int (*close)(void *user, int fd);
    /* File status: 0 with every field of *st filled (as kvs_sys_fstat
       would), or -errno; -EINTR is retried. fstat(fd): the I/O layer's
       open (type, size, blksize), kvs_file_size of a regular file, the
       filesystem store's object opens (type, size, and the device, inode
       and mtime a get compares with what it knows), the put's record of
       what it published (on a failure the put asks fstatat of its
       temporary name, and takes only a regular file of the length it
       wrote; when that fails too it only forgoes the record: the
       next get reads the header, or the eviction records the file at its
       turn and removes it, checked, at a later one), the path-set read.
       fstatat(dirfd, path), never following a symlink: that fallback of
       the put, the filesystem store's exists (-ENOENT
       or -ESTALE: a miss), its open-time scan (a name gone since the
       directory read, -ENOENT or -ESTALE, is skipped; any other error
       fails the open), its eviction's look at the name before it takes
       the file (-ENOENT or -ESTALE: nothing to evict; any other error
       fails the eviction, nothing moved) and its check of the file it
       took away (an error puts the file back and fails the eviction). Not hooked:
       statx (alignment discovery), the block-device ioctls, stat of store
       directories, the raw open's check that its path still names the file
       it locked (stat, fstat), fdopendir/closedir of directory streams,
       getrandom, the TP map file; and the close(2) of
       kvs_store_drop_locks_after_fork. */
    int (*fstat)(void *user, int fd, kvs_file_status *st);
    int (*fstatat)(void *user, int dirfd, const char *path, kvs_file_status *st);
    /* Truncating a regular file opened with KVS_FILE_TRUNC (to 0), and
       growing one to its configured size (kvs_file_config.size without
       KVS_FILE_PREALLOC: the raw store's device file), as the open's last
       steps: 0 or -errno, -EINTR retried; a failure fails the open. */
    int (*ftruncate)(void *user, int fd, uint64_t size);
    /* Creating one directory of a path (the filesystem store's directories,
       made at open): 0 or -errno (-EEXIST: something is there, and the
       store then checks it is a directory). */
    int (*mkdir)(void *user, const char *path, unsigned mode);
    /* fcntl(F_GETFL): the descriptor's status flags, or -errno. Read by
       kvs_file_open under a direct policy, to add O_DIRECT through setfl:
       the raw store's device file, the filesystem store's direct-I/O probe
       at open, and an object file whose openat refused O_DIRECT (the
       fallback). Object files otherwise open with O_DIRECT in their flags
       and never read them. A failure fails the open. */
    int (*getfl)(void *user, int fd);
    /* Read-ahead hint (posix_fadvise) when the filesystem store's
       readahead option is on: before a buffered get reads a payload,
       KVS_FADV_SEQUENTIAL then KVS_FADV_WILLNEED over the range it is
       about to read (the payload's; for the read that takes the header and
       the payload together, the bytes after the header where the payload
       of that length is expected, and hinted again at the right place if
       the header says otherwise). 0 or -errno, and the answer is ignored: a
       hint that fails changes nothing a get returns. kvs_sys_fadvise is the
       real call. */
    int (*fadvise)(void *user, int fd, uint64_t offset, uint64_t len, int advice);
    /* The next name of a directory stream the library has opened (the
       filesystem store's open-time scan and its iteration): 1 with *name
       set (valid until the stream's next read), 0 at the end, or -errno.
       stream is the library's and opaque: a hook passes it unchanged to
       kvs_sys_readdir (the real call) or answers itself. An error fails
       the scan (the open) or the iteration: a directory read short would
       under-count the capacity in use, or leave keys out. */
    int (*readdir)(void *user, void *stream, const char **name);
    /* linkat(fromdir, from, todir, to, 0): 0 or -errno (-EEXIST: `to` is
       taken). The filesystem store's eviction puts back, under its name, a
       file another process had put there (docs/STORES.md, "Eviction across
       handles"); -EPERM, -EOPNOTSUPP, -ENOSYS: no hard links (the file goes
       instead); any other error fails the eviction. */
    int (*linkat)(void *user, int fromdir, const char *from, int todir, const char *to);
    /* A lock on one byte at offset of an open file description, never
       waiting (Linux: fcntl F_OFD_SETLK), how one of KVS_LOCK_*: 0 or
       -errno; -EAGAIN (or -EACCES): another description holds it; -EINTR
       is retried. The filesystem store's pins across handles and
       processes, on its directories' KVS_PINS_NAME files: a pin takes a
       shared lock (tried again for up to 10 s while an eviction elsewhere
       holds the byte; then KVS_E_BUSY), an eviction an exclusive one (held:
       pinned elsewhere) before it looks at the file (docs/STORES.md,
       "Eviction across handles"); the probe at open takes and drops one
       shared lock in each directory (under KVS_SHARD_RANK in the handle's
       own only; an eviction opens the lock file for its own lock, and its
       close drops it). The raw store's open takes an exclusive lock on
       byte 0 of its device file, held until close (-EAGAIN or -EACCES:
       KVS_E_BUSY, open elsewhere). An error of the probe or the device lock
       that says there are no such locks here (-EINVAL, -ENOLCK,
       -EOPNOTSUPP, -ENOSYS) leaves them out, reported in
       kvs_store_stats.lock_errno; any other error fails the open.
       kvs_sys_lock is the real call. */
    int (*lock)(void *user, int fd, int how, uint64_t offset);
} kvs_sysops;

/* kvs_sysops.lock / kvs_sys_lock: what to do with the byte. */
#define KVS_LOCK_UN 0
#define KVS_LOCK_SH 1
#define KVS_LOCK_EX 2

/* Advice values for kvs_sysops.fadvise and kvs_sys_fadvise. */
#define KVS_FADV_SEQUENTIAL 1
#define KVS_FADV_WILLNEED 2

typedef enum kvs_direct_policy {
    KVS_DIRECT_PREFER = 0,   /* default: O_DIRECT, else buffered + counted   */
    KVS_DIRECT_OFF = 1,      /* buffered I/O through the page cache          */
    KVS_DIRECT_REQUIRE = 2   /* O_DIRECT or fail to open (KVS_E_NODIRECT)    */
} kvs_direct_policy;

#define KVS_FILE_RDONLY 0x1u   /* open read-only                           */
#define KVS_FILE_CREATE 0x2u   /* create when missing                      */
#define KVS_FILE_EXCL 0x4u     /* with CREATE: fail if it exists           */
#define KVS_FILE_TRUNC 0x8u    /* truncate to 0 first                      */
#define KVS_FILE_PREALLOC 0x10u /* size: posix_fallocate, not ftruncate    */

typedef struct kvs_file_config {
    kvs_direct_policy direct;
    uint32_t flags;            /* KVS_FILE_*                                */
    uint32_t mode;             /* permission bits at creation; 0 = 0644     */
    uint64_t size;             /* regular file: grow to at least this; block
                                  device: must be <= its size; 0 = nothing  */
    size_t align;              /* demanded alignment: 0 or a power of two
                                  <= KVS_ALIGN_MAX; raises both discovered ones */
    size_t bounce_bytes;       /* bounce piece for misaligned buffers;
                                  0 = 1 MiB; rounded down to the unit        */
    const kvs_allocator *alloc;  /* copied; NULL = default                  */
    const kvs_sysops *sysops;    /* copied; NULL = real system calls        */
} kvs_file_config;

typedef enum kvs_align_source {
    KVS_ALIGN_SRC_NONE = 0,
    KVS_ALIGN_SRC_STATX = 1,   /* statx STATX_DIOALIGN                      */
    KVS_ALIGN_SRC_BLKSSZ = 2,  /* block device logical sector size          */
    KVS_ALIGN_SRC_BLKSIZE = 3  /* st_blksize                                */
} kvs_align_source;

typedef struct kvs_file_info {
    kvs_direct_policy policy;  /* as configured                             */
    int direct;                /* 1 when O_DIRECT is in effect              */
    int fell_back;             /* 1 when PREFER had to fall back            */
    int is_blockdev;
    int read_only;
    kvs_align_source align_source;
    size_t mem_align;          /* discovered buffer alignment               */
    size_t offset_align;       /* discovered offset and length alignment    */
    size_t align;              /* effective offset/length unit              */
    size_t buf_align;          /* effective buffer alignment                */
    size_t tail_pad;           /* a direct write's tail is zero-padded to
                                  this (max(align, st_blksize) when the tail
                                  starts on a multiple of it, else align)   */
    size_t bounce_bytes;       /* effective bounce piece                    */
} kvs_file_info;

typedef struct kvs_file_stats {
    uint64_t reads, writes;              /* kvs_file_read/write calls that
                                            passed the argument checks (a
                                            NULL buffer, a write to a
                                            read-only file, a range past
                                            2^63, a direct write at a
                                            misaligned offset: refused,
                                            uncounted)                     */
    uint64_t bytes_read, bytes_written;  /* caller bytes moved               */
    uint64_t bounce_bytes;     /* caller bytes that went through a bounce buffer */
    uint64_t bounce_calls;     /* read/write calls that used a bounce buffer */
    uint64_t pad_bytes;        /* zero bytes written to pad a tail           */
    uint64_t syscalls;         /* pread/pwrite calls issued                  */
    uint64_t short_transfers;  /* of which moved fewer bytes than asked      */
    uint64_t eintr_retries;
    uint64_t errors;           /* of those, calls that returned an error     */
    uint64_t direct_fallbacks; /* 1 when the open fell back to buffered      */
} kvs_file_stats;

typedef struct kvs_file kvs_file;

/* Zero config == all defaults; this only zeroes it. */
KVSDEF void kvs_file_config_init(kvs_file_config *cfg);
/* Open a regular file or block device. cfg NULL = defaults. Errors from
   errno, KVS_E_INVAL/KVS_E_ALIGN for a bad config, KVS_E_NODIRECT under
   REQUIRE, KVS_E_NOTSUP for anything but a regular file or block device,
   KVS_E_BUSY for a read-only open still refused after 60 s of another
   process's lease (docs/POSIX.md). A failed open removes a file it created
   with CREATE|EXCL; with CREATE alone it leaves the file (docs/POSIX.md). */
KVSDEF kvs_result kvs_file_open(const char *path, const kvs_file_config *cfg, kvs_file **out);
/* Close (through kvs_sysops.close when hooked) and free; returns the
   close's result (EINTR is KVS_OK), which for a written file can be a
   write-back error the writes did not report (NFS). The descriptor is
   released either way. NULL is a no-op. */
KVSDEF kvs_result kvs_file_close(kvs_file *f);
/* Read exactly len bytes at offset (KVS_E_EOF if the file ends first). Any
   buffer and offset; in direct mode misaligned ones are bounced. */
KVSDEF kvs_result kvs_file_read(kvs_file *f, uint64_t offset, void *buf, size_t len);
/* Write len bytes at offset. Direct mode: offset must be a multiple of
   info.align (else KVS_E_ALIGN); a tail shorter than the unit is written
   zero-padded to the unit, see kvs_file_written_len. */
KVSDEF kvs_result kvs_file_write(kvs_file *f, uint64_t offset, const void *buf, size_t len);
/* Vectored read/write: the n segments are consecutive in the file from
   offset; same results, EOF rule, offset rule and tail padding as one
   kvs_file_read/write of their concatenation (counted as one read/write).
   Up to KVS_IOV_BATCH segments move in one preadv/pwritev. Direct mode: a
   segment whose buffer is aligned (info.buf_align) and whose file position
   is a multiple of info.align moves straight from/to it in multiples of
   info.align; the rest (a short tail, a misaligned buffer, and everything
   after a segment whose length is not a multiple of info.align, which puts
   the following bytes off the file's alignment) goes through bounce blocks
   that are segments of the same call (pieces of at most bounce_bytes;
   bounce_bytes/bounce_calls count them as for the scalar calls). Empty
   segments are skipped; a NULL base with a non-zero len is KVS_E_INVAL. */
#define KVS_IOV_BATCH 64
KVSDEF kvs_result kvs_file_readv(kvs_file *f, uint64_t offset, const kvs_iovec *iov, size_t n);
KVSDEF kvs_result kvs_file_writev(kvs_file *f, uint64_t offset, const kvs_iovec *iov, size_t n);
/* Bytes a write of len at offset occupies on disk: len when buffered; when
   direct, d = len rounded down to info.align, plus, if a tail of len is left
   over, one padded block for it: info.tail_pad bytes when offset + d is a
   multiple of info.tail_pad, else info.align bytes. KVS_E_ALIGN for a
   direct file and a misaligned offset (the write would be refused),
   KVS_E_OVERFLOW when the range passes 2^64. */
KVSDEF kvs_result kvs_file_written_len(const kvs_file *f, uint64_t offset, size_t len, uint64_t *out);
/* fsync / fdatasync: KVS_OK or the call's errno as a result (EINTR is
   retried). */
KVSDEF kvs_result kvs_file_sync(kvs_file *f);      /* fsync     */
KVSDEF kvs_result kvs_file_datasync(kvs_file *f);  /* fdatasync */
/* Current size: fstat for files, BLKGETSIZE64 for block devices; the
   call's errno as a result when it fails. */
KVSDEF kvs_result kvs_file_size(kvs_file *f, uint64_t *out);
/* The real status calls behind kvs_sysops.fstat / fstatat (fstatat with
   AT_SYMLINK_NOFOLLOW): 0 or -errno; *out zeroed on failure. */
KVSDEF int kvs_sys_fstat(int fd, kvs_file_status *out);
KVSDEF int kvs_sys_fstatat(int dirfd, const char *path, kvs_file_status *out);
/* The real calls behind kvs_sysops.fadvise (posix_fadvise; -EOPNOTSUPP
   where the system has none, -EINVAL for an unknown advice or a range past
   INT64_MAX) and
   kvs_sysops.readdir (readdir(3) on the stream the hook was given). */
KVSDEF int kvs_sys_fadvise(int fd, uint64_t offset, uint64_t len, int advice);
KVSDEF int kvs_sys_readdir(void *stream, const char **name);
/* The real call behind kvs_sysops.lock: -ENOSYS where the system has no
   open-file-description locks (F_OFD_SETLK: Linux 3.15 and later). */
KVSDEF int kvs_sys_lock(int fd, int how, uint64_t offset);
KVSDEF void kvs_file_get_info(const kvs_file *f, kvs_file_info *out);
KVSDEF void kvs_file_get_stats(const kvs_file *f, kvs_file_stats *out);
KVSDEF int kvs_file_fd(const kvs_file *f);

/* Directories. ops may be NULL (real calls). KVS_OK or the open's or
   fsync's errno as a result. */
KVSDEF kvs_result kvs_dir_sync(const char *path, const kvs_sysops *ops);  /* open + fsync */
KVSDEF kvs_result kvs_dirfd_sync(int dirfd, const kvs_sysops *ops);
/* rename(from, to), then fsync the directory of `to` (and of `from` when it
   differs). The rename is durable when this returns KVS_OK. */
KVSDEF kvs_result kvs_rename_sync(const char *from, const char *to, const kvs_sysops *ops);
/* mkdir -p; mode 0 = 0755. Existing directories are fine. */
KVSDEF kvs_result kvs_mkdir_p(const char *path, uint32_t mode);

/* ---- thread pool ---- */
typedef enum kvs_op_kind {
    KVS_OP_READ = 0,
    KVS_OP_WRITE = 1,
    KVS_OP_CALL = 2,           /* run call(buf) in a worker, read queue       */
    KVS_OP_CALL_LOW = 3        /* same, write queue (behind reads when
                                  read_priority is on)                        */
} kvs_op_kind;

typedef struct kvs_io_op {
    kvs_file *file;            /* READ/WRITE; ignored (may be NULL) for CALL  */
    kvs_op_kind kind;
    uint64_t offset;
    void *buf;                 /* read into / write from; valid until done;
                                  CALL: the argument of call                  */
    size_t len;                /* CALL: ignored, never split                  */
    kvs_result result;         /* out: KVS_OK or the error (CALL: its return);
                                  never KVS_E_AGAIN once done (EAGAIN, or a
                                  CALL's KVS_E_AGAIN, is KVS_E_IO); an op
                                  split into tasks that failed in several
                                  reports the lowest-offset task's error   */
    size_t bytes;              /* out: len on success, else 0 (CALL: 0)      */
    kvs_result (*call)(void *arg); /* CALL / CALL_LOW only                    */
} kvs_io_op;

typedef struct kvs_pool_config {
    unsigned threads;          /* 0 = online CPUs clamped to [2, 16]; <= 1024 */
    size_t task_bytes;         /* 0 = 4 MiB; power of two in [4 KiB, 1 GiB]  */
    int read_priority;         /* 1 = queued reads run before queued writes
                                  (one write after 8 reads that overtook it) */
    size_t bounce_bytes;       /* per-worker bounce; 0 = 1 MiB; multiple of
                                  4096 in [4 KiB, 256 MiB]                   */
    const kvs_allocator *alloc;  /* copied; NULL = default                  */
    void (*thread_start)(void *user, unsigned index);  /* in each worker    */
    void (*thread_exit)(void *user, unsigned index);
    void *thread_user;
} kvs_pool_config;

typedef enum kvs_shutdown_mode {
    KVS_SHUTDOWN_DRAIN = 0,    /* run everything queued, then stop          */
    KVS_SHUTDOWN_CANCEL = 1    /* queued tasks end with KVS_E_CANCELED      */
} kvs_shutdown_mode;

typedef struct kvs_pool_stats {
    uint64_t batches_submitted, batches_completed;
    uint64_t ops_completed, ops_failed, ops_split;
    uint64_t tasks_run, tasks_canceled; /* tasks (pieces of ops) a worker
                                    ran, whatever they answered; tasks a
                                    KVS_SHUTDOWN_CANCEL dropped unrun       */
} kvs_pool_stats;

typedef struct kvs_pool kvs_pool;
typedef struct kvs_batch kvs_batch;

KVSDEF void kvs_pool_config_init(kvs_pool_config *cfg);
KVSDEF unsigned kvs_pool_default_threads(void);
KVSDEF kvs_result kvs_pool_create(const kvs_pool_config *cfg, kvs_pool **out);
/* The effective configuration (defaults resolved). */
KVSDEF void kvs_pool_get_config(const kvs_pool *p, kvs_pool_config *out);
/* Queue n ops; returns at once. ops[] and their buffers must stay valid
   until the batch completes; results are written into ops[i].result/bytes.
   KVS_E_INVAL (bad op), KVS_E_OVERFLOW (a range past 2^64, or more tasks
   than memory can count), KVS_E_NOMEM, KVS_E_CLOSED after shutdown; after
   KVS_E_NOMEM or KVS_E_CLOSED nothing runs and every op's result is that
   error. *out is set before any op can run, so another thread may reap
   and free the batch while this call returns. */
KVSDEF kvs_result kvs_pool_submit(kvs_pool *p, kvs_io_op *ops, size_t n, kvs_batch **out);
/* Readable exactly while completed batches wait to be reaped or freed
   (level-triggered). The caller may read it to clear it: the next
   completion, reap or free that leaves batches waiting makes it readable
   again; after a wakeup, reap until KVS_E_AGAIN. Its value means nothing. */
KVSDEF int kvs_pool_fd(const kvs_pool *p);
/* Next completed batch in completion order; KVS_E_AGAIN when none. */
KVSDEF kvs_result kvs_pool_reap(kvs_pool *p, kvs_batch **out);
/* KVS_OK when complete, KVS_E_AGAIN while any op is pending. */
KVSDEF kvs_result kvs_batch_poll(kvs_batch *b);
/* Block until complete; KVS_OK. */
KVSDEF kvs_result kvs_batch_wait(kvs_batch *b);
/* Ops that ended with an error, a negative result (valid once complete): a
   CALL's positive return (KVS_NOT_FOUND) is an outcome, not counted. */
KVSDEF size_t kvs_batch_failed(kvs_batch *b);
/* Release a completed batch (KVS_E_BUSY while pending). */
KVSDEF kvs_result kvs_batch_free(kvs_batch *b);
/* Stop the workers (see kvs_shutdown_mode); every batch is complete after
   it. Later submits get KVS_E_CLOSED. A second call is KVS_E_CLOSED; an
   unknown mode KVS_E_INVAL (nothing stops). */
KVSDEF kvs_result kvs_pool_shutdown(kvs_pool *p, kvs_shutdown_mode mode);
/* Shut down (drain) if needed, free every batch not yet freed, free the pool. */
KVSDEF void kvs_pool_destroy(kvs_pool *p);
KVSDEF void kvs_pool_get_stats(kvs_pool *p, kvs_pool_stats *out);

#ifdef __cplusplus
}
#endif
/* ===== END POSIX DECLARATIONS ===== */

/* ===== BEGIN STORE DECLARATIONS ===== */
/* The two stores behind one API (docs/STORES.md is the guide). Implemented
   in kvstore_posix.c: the engines need files, directories, threads and
   clocks, and their crash safety depends on those exact semantics. */
#ifdef __cplusplus
extern "C" {
#endif

typedef enum kvs_store_kind {
    KVS_STORE_FS = 0,          /* one file per object in one or more directories */
    KVS_STORE_RAW = 1          /* fixed slots on a block device or a file        */
} kvs_store_kind;

typedef enum kvs_durability {
    KVS_DURABLE_NONE = 0,      /* default: complete before visible; survives a
                                  process crash, not a power cut, until sync  */
    KVS_DURABLE_DATA = 1,      /* + the object's data is synced before it is
                                  published (fdatasync)                       */
    KVS_DURABLE_FULL = 2       /* + FS: the directory is synced after the
                                  rename; RAW: as DATA                        */
} kvs_durability;

typedef enum kvs_format_mode {
    KVS_FORMAT_NEVER = 0,      /* default: open an existing raw store only     */
    KVS_FORMAT_IF_EMPTY = 1,   /* format when the first 4 KiB are all zero
                                  (a shorter file: all its bytes; none)      */
    KVS_FORMAT_ALWAYS = 2      /* format whatever is there (destroys it)       */
} kvs_format_mode;

/* Zero-initialised == all defaults (kvs_store_config_init). Fields that do
   not apply to the chosen kind must be zero (KVS_E_INVAL otherwise), so a
   setting is never silently ignored. */
typedef struct kvs_store_config {
    kvs_store_kind kind;
    /* Where. FS: comma-separated directories (created at open). RAW: one
       device or file, spelled as a path list entry (a comma: KVS_E_INVAL);
       or NULL with tp_map / tp_map_file. */
    const char *paths;
    const char *tp_map;          /* RAW: "0=/dev/a,1=/dev/b" (kvs_tpmap_parse) */
    const char *tp_map_file;     /* RAW: read the map text from this file      */
    uint32_t tp_rank;            /* this process's tensor-parallel rank (FS:
                                    only with KVS_SHARD_RANK, else 0)         */
    uint32_t tp_world;           /* RAW: 0 = from the map, or 1 without a
                                    map. FS: only with KVS_SHARD_RANK, else
                                    0; there a tp_rank not below a nonzero
                                    tp_world is refused (0: not checked)    */
    int allow_other_rank;        /* RAW: 1 = open a device recorded for another
                                    rank or world size (otherwise KVS_E_RANK) */
    kvs_shard_policy shard;      /* FS: default KVS_SHARD_RENDEZVOUS (RAW: only
                                    that, the one device takes every key)     */
    kvs_direct_policy direct;    /* default KVS_DIRECT_PREFER                  */
    kvs_durability durability;   /* default KVS_DURABLE_NONE                   */
    uint64_t capacity_bytes;     /* FS: bound on bytes on disk (headers and
                                    padding included), enforced by LRU
                                    eviction; 0 = only the filesystem's space */
    /* RAW geometry */
    kvs_format_mode format;
    uint64_t device_bytes;       /* RAW regular file: size it is created or
                                    grown to; 0 = its current size            */
    uint64_t slot_payload_bytes; /* RAW: largest object; 0 = 2 MiB at format,
                                    the recorded value at reopen               */
    uint64_t meta_bytes;         /* RAW: both checkpoint copies; 0 = at format
                                    sized to hold every slot with a
                                    max_key_bytes key, at reopen the recorded  */
    uint32_t max_key_bytes;      /* RAW: longest key accepted; 0 = 256 at
                                    format, at reopen 256 or, on a store
                                    formatted with less, the longest the
                                    recorded meta_bytes holds (a multiple
                                    of 8)                                     */
    uint32_t checkpoint_interval_ms; /* RAW: periodic checkpoint; 0 = 60000   */
    uint32_t checkpoint_idle_ms;     /* RAW: ...after this quiet time; 0 = 1000 */
    /* FS */
    uint32_t file_mode;          /* permission bits of the files the store
                                    creates (FS objects, a RAW device file):
                                    0777 at most, including 0600; 0 = 0600    */
    int readahead;               /* FS: 1 = posix_fadvise (SEQUENTIAL, then
                                    WILLNEED) of the payload before a buffered
                                    read; 0 = no hint                          */
    uint32_t temp_max_age_s;     /* FS: temp files older than this are removed
                                    at open, by the directory's own clock (the
                                    mtime of a file the open creates there: a
                                    file server's clock); 0 = 600              */
    int strict_pathset;          /* FS: 1 = a changed path set fails the open  */
    int must_exist;              /* FS: 1 = open an existing store only: every
                                    directory must exist and hold a path-set
                                    record, else KVS_E_PATHSET and nothing is
                                    created (a mount that is missing, a typo);
                                    0 = create what is missing                */
    /* engine */
    unsigned threads;            /* async pool workers; 0 = kvs_pool_default_threads() */
    size_t task_bytes;           /* must be 0 (KVS_E_INVAL otherwise): the
                                    store's pool runs whole calls and splits
                                    no transfer (kept for source compatibility) */
    size_t align;                /* demand a larger direct-I/O alignment; 0 = discovered */
    kvs_allocator allocator;     /* zero = malloc                               */
    const kvs_sysops *sysops;    /* fault injection; NULL = real system calls.
                                    Copied at open: the table need not outlive
                                    the call (what its user member points to
                                    must live as long as the store)          */
} kvs_store_config;

typedef struct kvs_store kvs_store;

/* One key of a batch. put: buf/len are the bytes to store. get: buf/len are
   the destination and its capacity; out_len receives the object's length
   (also with KVS_E_BUFSIZE, so the caller can retry with a larger buffer).
   result receives the item's own result. */
typedef struct kvs_item {
    const void *key;
    size_t key_len;
    void *buf;
    size_t len;
    size_t out_len;
    kvs_result result;
} kvs_item;

typedef struct kvs_store_stats {
    kvs_store_kind kind;
    uint64_t objects;            /* objects stored now                         */
    uint64_t bytes;              /* their payload bytes                        */
    uint64_t disk_bytes;         /* bytes they occupy (headers, padding, slots).
                                    FS: as this handle counts them (the scan at
                                    open, then its own puts, gets, removes and
                                    evictions): another process's puts show
                                    when this handle reads them, its removes
                                    and evictions when a get here misses, and
                                    files of keys a changed path set no longer
                                    reaches stay counted (in the directories
                                    it scans: all, or under KVS_SHARD_RANK
                                    its rank's; docs/STORES.md)              */
    uint64_t capacity_bytes;     /* FS: the bound (0 none); RAW: slots * slot size */
    uint64_t slots_total, slots_free; /* RAW. slots_free: slots holding no
                                    entry, those quarantined until a
                                    checkpoint included (docs/STORES.md,
                                    "Released slots"): a put may still have to
                                    evict and checkpoint to get one          */
    uint64_t puts, gets, hits, misses, removes, evictions; /* puts: every
                                    put called and every item of a put
                                    batch, failed ones included (errors
                                    counts those), also of a batch that
                                    could not start for want of memory (a
                                    refused batch call, KVS_E_INVAL or
                                    KVS_E_OVERFLOW, is one error and no
                                    put); removes: removes that
                                    answered KVS_OK (a missing key is not
                                    counted). So objects is not puts -
                                    removes - evictions: overwrites and
                                    failed puts are in puts. gets: single
                                    gets and the loads of prefix gets, whose
                                    first miss counts as a get and a miss (two
                                    when a load missed before the key the
                                    existence check found missing), and
                                    an error of that check that is the
                                    call's result counts as a get and an
                                    error (the first key's at the submit,
                                    another's when the batch completes); a
                                    load that ran past a failed one counts as
                                    the hit it was, though the batch releases
                                    its item as KVS_E_CANCELED; a get that
                                    found the object but got KVS_E_BUFSIZE
                                    counts as a hit                          */
    uint64_t corruptions;        /* records that failed a check: read as misses.
                                    RAW: each once (the record is dropped);
                                    FS: each get that read a damaged file (the
                                    file stays until overwritten, removed or
                                    evicted, and every get of it counts)     */
    uint64_t errors;             /* calls that returned an error (KVS_E_BUFSIZE,
                                    an answer with the length, not counted);
                                    a batch that cannot start counts each item
                                    that would have run as a failed call of
                                    its kind (a bad argument: one error)     */
    uint64_t checkpoints;        /* RAW: checkpoints written                    */
    uint64_t checkpoint_errors;  /* RAW: checkpoints that failed, the background
                                    thread's included (those are retried; one
                                    still failing is the next sync's or close's
                                    result, and this counts them meanwhile)   */
    uint64_t orphans_removed;    /* FS: stale temp files removed at open        */
    int direct;                  /* 1 when O_DIRECT is in effect                */
    uint64_t direct_fallbacks;   /* opens where PREFER fell back to buffered    */
    uint64_t bounce_bytes, bounce_calls;
    int pathset_changed;         /* FS: the recorded path set differed at open  */
    uint64_t overlapped_writes;  /* RAW: puts whose payload write was in flight
                                    while its CRC32C was computed (direct
                                    stores, aligned payloads of 1 MiB or more,
                                    Linux AIO; docs/STORES.md)                 */
    int overlap_errno;           /* RAW: 0 (overlap available to such puts, or
                                    not tried yet: io_setup runs at the first
                                    such put), or why not: ENOSYS (not built
                                    in) or the errno io_setup returned (not
                                    EAGAIN or ENOMEM, tried again each put)   */
    int restore_fallback;        /* RAW: how this open restored: 0 from the
                                    newest checkpoint; 1 from a copy not
                                    shown to be the newest, the other one
                                    failing its checks (every slot it lists
                                    checked, every slot scanned); 2 no copy
                                    valid, every slot scanned. 1 and 2: a
                                    removed key may have come back
                                    (docs/STORES.md)                          */
    int lock_errno;              /* 0: the store's locks are in effect (RAW:
                                    this handle has the device to itself, and
                                    another open of it gets KVS_E_BUSY; FS:
                                    pins hold across handles and processes,
                                    by byte locks on each directory's
                                    KVS_PINS_NAME), or why not: ENOSYS (no
                                    F_OFD_SETLK here) or the errno the lock
                                    at open got (ENOLCK: say, an NFS mount
                                    without a lock manager)                   */
} kvs_store_stats;

/* A key the iteration visits: fn returns nonzero to stop. The keys are a
   snapshot; the store may change while fn runs (fn may call the store). */
typedef int (*kvs_key_fn)(void *user, const void *key, size_t key_len, uint64_t len);

typedef enum kvs_batch_op {
    KVS_BATCH_PUT = 0,
    KVS_BATCH_GET_PREFIX = 1,
    KVS_BATCH_EXISTS = 2
} kvs_batch_op;

typedef struct kvs_store_batch kvs_store_batch;

KVSDEF void kvs_store_config_init(kvs_store_config *cfg);
/* Open (and for RAW with format set, format) a store. err (may be NULL)
   receives a sentence naming the field or path at fault. RAW: one handle
   per device file; KVS_E_BUSY when another handle, in this process or
   another, has it open, or when the path was removed or replaced under
   the open four times over; where there are no such locks it opens
   unguarded, and stats.lock_errno says why. */
KVSDEF kvs_result kvs_store_open(const kvs_store_config *cfg, kvs_store **out, char *err, size_t err_cap);
/* Finish in-flight batches; RAW: write a final checkpoint (synced) when
   anything changed since the last one, or to release quarantined slots or
   lower alloc_limit to the slots in use (docs/STORES.md); FS:
   nothing is synced, so call kvs_store_sync first when puts made with
   KVS_DURABLE_NONE must survive a power cut. Frees everything; returns the
   first error, frees anyway. */
KVSDEF kvs_result kvs_store_close(kvs_store *s);
/* In a child process after fork(), on a handle its parent opened: close
   the descriptors through which the handle holds its locks (RAW: the
   device file; FS: each directory's lock file), which the child inherited
   and which otherwise keep the device busy, and the pins the parent held
   when it closed the handle, for as long as the child lives (exec closes
   them: they are close-on-exec; an unpin in the parent drops its lock
   either way, the file description being shared).
   Only close(2): async-signal-safe, no mutex taken, nothing freed; the
   handle is then no use to the child, which must not call anything else
   on it (see "fork" in the manual above). Not covered: the lock of an
   eviction that another thread of the parent had under way at the fork,
   held by the child on its copy of that eviction's descriptor until it
   exits or execs (a pin of that name elsewhere gets KVS_E_BUSY after
   10 s). */
KVSDEF void kvs_store_drop_locks_after_fork(kvs_store *s);
/* The effective configuration: defaults resolved (threads,
   file_mode, ...; RAW also the geometry, align and tp_world; FS leaves align
   and tp_world as given: kvs_store_buffer_align gives the alignment).
   Strings and sysops point into the store and live until close. */
KVSDEF void kvs_store_get_config(const kvs_store *s, kvs_store_config *out);
/* Buffer alignment for zero-copy I/O (other buffers work, through a bounce).
   For large direct objects the buffer's physical layout counts too: huge
   pages make a 2 MiB transfer one DMA segment instead of up to 512
   (docs/POSIX.md, "Buffer memory for large direct transfers"). */
KVSDEF size_t kvs_store_buffer_align(const kvs_store *s);

/* Results of the single-key calls: KVS_E_KEY for an empty key or one longer
   than KVS_KEY_MAX (a RAW put also above max_key_bytes: this handle stores
   no such key, but one an earlier open with a larger max_key_bytes stored is
   loaded, and its get, exists and remove find it); otherwise the
   I/O layer's errors (KVS_E_IO, KVS_E_NOSPC, ...). put: KVS_OK once the
   object is complete and visible (durable per `durability`); KVS_E_LIMIT
   for an object larger than the store can hold (RAW: slot_payload_bytes;
   FS: a file, header (4 KiB, or the alignment if larger) and payload
   rounded up to 4 KiB, larger than capacity_bytes), KVS_E_FULL when nothing can be evicted to make room
   (a put never evicts its own key's old value, which stays if the put
   fails, unless another put takes it as a last resort (both stores; FS:
   in this handle, see docs/STORES.md): where it is the only object that
   could go, KVS_E_FULL; FS: when evictions the filesystem refused, not pins,
   left nothing to evict, the first such error, e.g. KVS_E_PERM, instead),
   KVS_E_OVERFLOW (RAW) when a damaged store's counters (2^62 - 1) leave no
   generation to give it. RAW: a put that fails on the checkpoint its
   evictions need brings those entries back (unless a remove ran meanwhile;
   docs/STORES.md). exists and remove: KVS_OK or KVS_NOT_FOUND
   (remove, FS: KVS_E_BUSY when it found nothing at the name and another
   handle's eviction held the name for the whole wait, up to 10 s, as for a
   pin, or the lock's error; the file may come back, and stays counted). */
KVSDEF kvs_result kvs_store_put(kvs_store *s, const void *key, size_t key_len, const void *data, size_t len);
/* KVS_OK with *out_len; KVS_NOT_FOUND; KVS_E_BUFSIZE with *out_len = the
   length needed (nothing useful written to buf); KVS_E_OVERFLOW (FS, a
   32-bit process) for an object longer than a size_t; KVS_E_BUSY (FS) when
   another process's lease on the file outlasted 60 s, or when the get found
   nothing at the name of a file it counts and another handle's eviction
   held the name for the whole wait, up to 10 s (or the lock's error; the
   file stays counted). FS: a get's or remove's wait for a name, and a
   pin's, come after any such look at that name already under way in this
   handle (another get's or remove's, or a sync's, which waits the same
   way), so one can take up to about twice that. buf is the get's to use
   up to cap: bytes past *out_len (all of them on a miss or an error) may
   have been written (FS: a read of the expected length that the file's
   header then cut short). */
KVSDEF kvs_result kvs_store_get(kvs_store *s, const void *key, size_t key_len, void *buf, size_t cap,
                                size_t *out_len);
KVSDEF kvs_result kvs_store_exists(kvs_store *s, const void *key, size_t key_len);
KVSDEF kvs_result kvs_store_remove(kvs_store *s, const void *key, size_t key_len);
/* Pinned objects are never evicted (pins count; unpin as often as pinned).
   RAW: by this handle (the only one, where stats.lock_errno is 0). FS:
   by any handle on the same
   directories, in this process or another, while stats.lock_errno is 0
   (byte locks; else by this handle only); a pin waits for an eviction
   under way elsewhere, up to 10 s (docs/STORES.md, "Eviction across
   handles"). pin: KVS_NOT_FOUND for a key not stored (or being evicted as
   it is pinned), KVS_E_OVERFLOW when the key has 2^32 - 1 pins, KVS_E_BUSY
   when the name stayed locked for the whole wait, the lock's error (the pin
   not taken in any of these cases); unpin: KVS_E_INVAL for a key not
   pinned, the unlock's error (the pin is dropped, and the lock stays until
   close or the next unpin of that name to 0: no handle evicts the object
   meanwhile, this one included). Pins belong to the key (FS: to its file
   name) and stay until unpinned: they survive an overwrite, a remove, and
   (RAW) a get's drop of a damaged object, and the key's next object is
   pinned by them. A key removed while pinned can be unpinned (KVS_OK) but
   not pinned again until it is stored (KVS_NOT_FOUND); RAW: an unpin of a
   key neither stored nor pinned is KVS_NOT_FOUND. Pins are a count per
   key, not per caller: each holder drops only what it took. Check
   stats.lock_errno after the open when pins must hold across processes. */
KVSDEF kvs_result kvs_store_pin(kvs_store *s, const void *key, size_t key_len);
KVSDEF kvs_result kvs_store_unpin(kvs_store *s, const void *key, size_t key_len);

/* Store every item; each gets its own result. Returns KVS_OK when all
   succeeded, else the first failing item's result; *failed (may be NULL)
   counts the failures (all n when the batch could not start). The items
   run in parallel: a key given twice is stored whole from one of its
   items, which one unspecified.
   The synchronous batch calls run on the store's pool for n > 1 (get_prefix
   always), but their batches are their own: kvs_store_reap never returns
   them and kvs_store_fd never counts them. In every batch an item's result
   is final when the batch is: an EAGAIN from the system reads KVS_E_IO,
   since KVS_E_AGAIN is what an item or a batch still running reports. */
KVSDEF kvs_result kvs_store_put_batch(kvs_store *s, kvs_item *items, size_t n, size_t *failed);
/* Load the leading run of hits: *loaded = k means items[0..k) hold their
   objects and items[k] (if k < n) missed or failed. KVS_OK when the run ended
   at a miss or at n; otherwise the error of items[k] (a read error, a
   corruption is a miss, KVS_E_BUFSIZE with its out_len). Items from k on are
   never reported as loaded, even if bytes reached their buffers: items[k]
   has its miss or error, and every item after it KVS_E_CANCELED with
   out_len 0 (skipped, or loaded and then released because an earlier
   item failed; not an error of its own), except the first key the
   in-order existence check found missing, which keeps its KVS_NOT_FOUND
   when a load before it failed or missed (a file or record that existed
   but was gone or damaged by the time it was read): such a call has two
   KVS_NOT_FOUND items and counts two misses. An error of the existence
   check (such as KVS_E_KEY for a bad key) is items[k]'s, and the call's
   result, only when every load before it succeeded; else that item is
   KVS_E_CANCELED too. */
KVSDEF kvs_result kvs_store_get_prefix(kvs_store *s, kvs_item *items, size_t n, size_t *loaded);
/* Per-item KVS_OK / KVS_NOT_FOUND; *found counts the hits. Returns KVS_OK
   when every item has one of those, else the first item's error. */
KVSDEF kvs_result kvs_store_exists_batch(kvs_store *s, kvs_item *items, size_t n, size_t *found);

/* Asynchronous batches, run on the store's thread pool. items and buffers
   must stay valid until the batch completes. kvs_store_fd() is readable
   while completed batches wait in kvs_store_reap(). GET_PREFIX checks which
   keys exist (in order, on the calling thread) before it returns; the loads
   run on the pool. Where another thread reaps, the batch is the reaper's:
   it may free it the moment it completes, so the submitter does not poll,
   wait for or free it (one thread may do all of these itself); *out is set
   before any of the batch's work can run, so a reaper can match the batch
   it gets against it. When the batch cannot start (KVS_E_NOMEM; KVS_E_INVAL
   for an unknown op) every item has that result and *out is NULL; only
   KVS_E_OVERFLOW, a count no array can have (n > SIZE_MAX /
   sizeof(kvs_item)), leaves the items untouched. n may be 0: a batch that
   completes at once with count 0, to be reaped or freed like any other. */
KVSDEF kvs_result kvs_store_submit(kvs_store *s, kvs_batch_op op, kvs_item *items, size_t n,
                                   kvs_store_batch **out);
/* The completion fd of the store's pool (kvs_pool_fd): readable
   (level-triggered) while completed asynchronous batches wait in
   kvs_store_reap; its value means nothing. The store owns it:
   kvs_store_close closes it, so take it out of an epoll set or poll list
   before the close (its number may be reused by the next open). */
KVSDEF int kvs_store_fd(const kvs_store *s);
/* The next completed batch; KVS_E_AGAIN when none is ready. */
KVSDEF kvs_result kvs_store_reap(kvs_store *s, kvs_store_batch **out);
/* KVS_E_AGAIN while running, else what the synchronous call would return. */
KVSDEF kvs_result kvs_store_batch_poll(kvs_store_batch *b, size_t *count);
/* Block until done; the synchronous call's result and count (failed for
   PUT, loaded for GET_PREFIX, found for EXISTS). In both, count may be
   NULL. */
KVSDEF kvs_result kvs_store_batch_wait(kvs_store_batch *b, size_t *count);
/* The items the batch was submitted with, and their count: how an event
   loop that reaps tells which request completed. */
KVSDEF kvs_item *kvs_store_batch_items(const kvs_store_batch *b, size_t *n);
/* KVS_E_BUSY while the batch runs (nothing is freed). Otherwise every item's
   result is final, also when the batch was never polled, waited for or
   reaped (and so at kvs_store_close for batches not freed). */
KVSDEF kvs_result kvs_store_batch_free(kvs_store_batch *b);

/* Make everything acknowledged so far durable (RAW: a checkpoint, synced,
   when anything changed since the last one, else an fdatasync;
   KVS_E_OVERFLOW when a damaged store's counters leave no seq or gen_floor
   the next open would accept, so nothing is written; FS: KVS_E_BUSY when a
   file stayed under another process's lease, or away from its name in
   another handle's eviction, for the whole wait: docs/STORES.md). */
KVSDEF kvs_result kvs_store_sync(kvs_store *s);
KVSDEF void kvs_store_get_stats(kvs_store *s, kvs_store_stats *out);
/* Calls fn for every stored key with its payload length (no lock held
   during the calls). FS: the names of every directory are listed first, then
   each file's header is read; files gone meanwhile or failing their checks
   are skipped. An error listing a directory or reading a header fails the
   iteration with it (a listing error before any key is reported). fn
   returning nonzero stops it with KVS_OK; fn NULL is KVS_E_INVAL. */
KVSDEF kvs_result kvs_store_iterate(kvs_store *s, kvs_key_fn fn, void *user);

#ifdef __cplusplus
}
#endif
/* ===== END STORE DECLARATIONS ===== */
#endif /* !KVS_STATIC || KVS_POSIX */

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
/* x86-64 with GCC or clang but without -msse4.2: the hardware path is still
   compiled (for SSE4.2, by a target attribute) and chosen at run time when
   the CPU has the instruction. */
#if !KVSI_HW_CRC32C_X86 && !defined(KVS_NO_HW_CRC32C) && defined(__x86_64__) && \
    (defined(__GNUC__) || defined(__clang__))
#define KVSI_CRC32C_DISPATCH 1
#define KVSI_HW_TARGET __attribute__((target("sse4.2")))
#else
#define KVSI_CRC32C_DISPATCH 0
#define KVSI_HW_TARGET
#endif
/* x86-64 with GCC 10+ or clang 12+: buffers of 256 bytes and more are folded
   by carry-less multiplication on 512-bit registers (AVX-512 VPCLMULQDQ: Intel
   Xeon since Ice Lake-SP and Ice/Tiger/Rocket Lake clients, AMD Zen 4 and
   later; not Intel's hybrid clients such as Alder Lake), compiled by a target
   attribute and chosen at run time when the CPU and the OS have it (or always,
   when the compiler target has it). The run-time check is libgcc's or
   compiler-rt's __builtin_cpu_supports, which the SSE4.2 choice below uses
   too: a freestanding build without them defines KVS_NO_HW_CRC32C (or
   builds with -msse4.2 and defines KVS_NO_AVX512_CRC32C). Not on Windows
   (64-byte stack alignment). */
#if (KVSI_HW_CRC32C_X86 || KVSI_CRC32C_DISPATCH) && !defined(KVS_NO_AVX512_CRC32C) && \
    defined(__x86_64__) && !defined(_WIN32) && \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 10))
#define KVSI_CRC32C_VPCLMUL 1
#if defined(__AVX512F__) && defined(__VPCLMULQDQ__) && defined(__PCLMUL__) && defined(__SSE4_2__)
#define KVSI_CRC32C_VPCLMUL_ALWAYS 1
#else
#define KVSI_CRC32C_VPCLMUL_ALWAYS 0
#endif
#else
#define KVSI_CRC32C_VPCLMUL 0
#define KVSI_CRC32C_VPCLMUL_ALWAYS 0
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
    KVSI_NAME(KVS_E_PATHSET)
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
    case KVS_E_NOMEM: return "out of memory or file descriptors";
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
    case KVS_E_PATHSET: return "path set differs from the one recorded";
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

/* Bytes the default allocator adds to a block of the given alignment: room
   to align the start and to keep the malloc pointer just below it. */
static size_t kvsi_default_extra(size_t align)
{
    if (align < sizeof(void *))
        align = sizeof(void *);
    return align - 1 + sizeof(void *);
}

/* Default allocator: malloc a block large enough to align inside it, and keep
   the pointer malloc returned in the word just below the aligned address. */
static void *kvsi_default_alloc(void *user, size_t size, size_t align)
{
    size_t extra, total;
    unsigned char *raw, *p;
    (void)user;
    extra = kvsi_default_extra(align);
    if (size > (size_t)-1 - extra)
        return NULL;
    if (align < sizeof(void *))
        align = sizeof(void *);
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
    if (a != NULL && (a->alloc == NULL) != (a->free == NULL))
        return KVS_E_INVAL; /* half an allocator: never silently the default */
    if (!kvs_is_pow2(align) || align > KVS_ALIGN_MAX)
        return KVS_E_ALIGN;
    /* A size that no allocation of this alignment can hold, counting the
       default allocator's own overhead when it is the one asked. */
    if (size > (size_t)-1 - (kvsi_alloc_is_custom(a) ? align : kvsi_default_extra(align)))
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
/* Little-endian byte access: never depends on host byte order or alignment. */
static inline uint16_t kvsi_get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t kvsi_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t kvsi_get64(const unsigned char *p)
{
    return (uint64_t)kvsi_get32(p) | (uint64_t)kvsi_get32(p + 4) << 32;
}

static inline void kvsi_put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void kvsi_put32(unsigned char *p, uint32_t v)
{
    kvsi_put16(p, (uint16_t)v);
    kvsi_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void kvsi_put64(unsigned char *p, uint64_t v)
{
    kvsi_put32(p, (uint32_t)v);
    kvsi_put32(p + 4, (uint32_t)(v >> 32));
}

/* Bounded message writer for the err outputs: always NUL-terminated when
   cap > 0, silently truncated. */
typedef struct kvsi_msg {
    char *buf;
    size_t cap;
    size_t len;
} kvsi_msg;

static void kvsi_msg_init(kvsi_msg *m, char *buf, size_t cap)
{
    m->buf = cap ? buf : NULL;
    m->cap = m->buf ? cap : 0;
    m->len = 0;
    if (m->cap)
        m->buf[0] = '\0';
}

static void kvsi_msg_mem(kvsi_msg *m, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n && m->len + 1 < m->cap; i++)
        m->buf[m->len++] = s[i];
    if (m->cap)
        m->buf[m->len] = '\0';
}

static void kvsi_msg_str(kvsi_msg *m, const char *s)
{
    kvsi_msg_mem(m, s, strlen(s));
}

static void kvsi_msg_u64(kvsi_msg *m, uint64_t v)
{
    char d[20];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v != 0);
    kvsi_msg_mem(m, d + i, sizeof d - i);
}

KVSDEF uint64_t kvs_fnv1a64_update(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    KVS_ASSERT(data != NULL || len == 0);
    for (i = 0; i < len; i++)
        h = (h ^ p[i]) * KVS_FNV1A64_PRIME;
    return h;
}

KVSDEF uint64_t kvs_fnv1a64(const void *data, size_t len)
{
    return kvs_fnv1a64_update(KVS_FNV1A64_INIT, data, len);
}

KVSDEF uint64_t kvs_mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* CRC32C slicing-by-8 tables, reflected polynomial 0x82F63B78: table[0] is
   the byte-wise table, table[k][b] = (table[k-1][b] >> 8) ^
   table[0][table[k-1][b] & 0xff]. Generated once by a script. */
static const uint32_t kvsi_crc32c_table[8][256] = {
    {
        0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
        0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
        0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
        0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
        0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
        0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
        0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
        0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
        0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
        0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
        0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
        0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
        0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
        0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
        0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
        0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
        0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
        0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
        0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
        0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
        0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
        0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
        0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
        0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
        0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
        0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
        0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
        0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
        0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
        0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
        0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
        0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
        0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
        0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
        0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
        0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
        0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
        0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
        0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
        0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
        0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
        0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
        0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u
    },
    {
        0x00000000u, 0x13a29877u, 0x274530eeu, 0x34e7a899u, 0x4e8a61dcu, 0x5d28f9abu,
        0x69cf5132u, 0x7a6dc945u, 0x9d14c3b8u, 0x8eb65bcfu, 0xba51f356u, 0xa9f36b21u,
        0xd39ea264u, 0xc03c3a13u, 0xf4db928au, 0xe7790afdu, 0x3fc5f181u, 0x2c6769f6u,
        0x1880c16fu, 0x0b225918u, 0x714f905du, 0x62ed082au, 0x560aa0b3u, 0x45a838c4u,
        0xa2d13239u, 0xb173aa4eu, 0x859402d7u, 0x96369aa0u, 0xec5b53e5u, 0xfff9cb92u,
        0xcb1e630bu, 0xd8bcfb7cu, 0x7f8be302u, 0x6c297b75u, 0x58ced3ecu, 0x4b6c4b9bu,
        0x310182deu, 0x22a31aa9u, 0x1644b230u, 0x05e62a47u, 0xe29f20bau, 0xf13db8cdu,
        0xc5da1054u, 0xd6788823u, 0xac154166u, 0xbfb7d911u, 0x8b507188u, 0x98f2e9ffu,
        0x404e1283u, 0x53ec8af4u, 0x670b226du, 0x74a9ba1au, 0x0ec4735fu, 0x1d66eb28u,
        0x298143b1u, 0x3a23dbc6u, 0xdd5ad13bu, 0xcef8494cu, 0xfa1fe1d5u, 0xe9bd79a2u,
        0x93d0b0e7u, 0x80722890u, 0xb4958009u, 0xa737187eu, 0xff17c604u, 0xecb55e73u,
        0xd852f6eau, 0xcbf06e9du, 0xb19da7d8u, 0xa23f3fafu, 0x96d89736u, 0x857a0f41u,
        0x620305bcu, 0x71a19dcbu, 0x45463552u, 0x56e4ad25u, 0x2c896460u, 0x3f2bfc17u,
        0x0bcc548eu, 0x186eccf9u, 0xc0d23785u, 0xd370aff2u, 0xe797076bu, 0xf4359f1cu,
        0x8e585659u, 0x9dface2eu, 0xa91d66b7u, 0xbabffec0u, 0x5dc6f43du, 0x4e646c4au,
        0x7a83c4d3u, 0x69215ca4u, 0x134c95e1u, 0x00ee0d96u, 0x3409a50fu, 0x27ab3d78u,
        0x809c2506u, 0x933ebd71u, 0xa7d915e8u, 0xb47b8d9fu, 0xce1644dau, 0xddb4dcadu,
        0xe9537434u, 0xfaf1ec43u, 0x1d88e6beu, 0x0e2a7ec9u, 0x3acdd650u, 0x296f4e27u,
        0x53028762u, 0x40a01f15u, 0x7447b78cu, 0x67e52ffbu, 0xbf59d487u, 0xacfb4cf0u,
        0x981ce469u, 0x8bbe7c1eu, 0xf1d3b55bu, 0xe2712d2cu, 0xd69685b5u, 0xc5341dc2u,
        0x224d173fu, 0x31ef8f48u, 0x050827d1u, 0x16aabfa6u, 0x6cc776e3u, 0x7f65ee94u,
        0x4b82460du, 0x5820de7au, 0xfbc3faf9u, 0xe861628eu, 0xdc86ca17u, 0xcf245260u,
        0xb5499b25u, 0xa6eb0352u, 0x920cabcbu, 0x81ae33bcu, 0x66d73941u, 0x7575a136u,
        0x419209afu, 0x523091d8u, 0x285d589du, 0x3bffc0eau, 0x0f186873u, 0x1cbaf004u,
        0xc4060b78u, 0xd7a4930fu, 0xe3433b96u, 0xf0e1a3e1u, 0x8a8c6aa4u, 0x992ef2d3u,
        0xadc95a4au, 0xbe6bc23du, 0x5912c8c0u, 0x4ab050b7u, 0x7e57f82eu, 0x6df56059u,
        0x1798a91cu, 0x043a316bu, 0x30dd99f2u, 0x237f0185u, 0x844819fbu, 0x97ea818cu,
        0xa30d2915u, 0xb0afb162u, 0xcac27827u, 0xd960e050u, 0xed8748c9u, 0xfe25d0beu,
        0x195cda43u, 0x0afe4234u, 0x3e19eaadu, 0x2dbb72dau, 0x57d6bb9fu, 0x447423e8u,
        0x70938b71u, 0x63311306u, 0xbb8de87au, 0xa82f700du, 0x9cc8d894u, 0x8f6a40e3u,
        0xf50789a6u, 0xe6a511d1u, 0xd242b948u, 0xc1e0213fu, 0x26992bc2u, 0x353bb3b5u,
        0x01dc1b2cu, 0x127e835bu, 0x68134a1eu, 0x7bb1d269u, 0x4f567af0u, 0x5cf4e287u,
        0x04d43cfdu, 0x1776a48au, 0x23910c13u, 0x30339464u, 0x4a5e5d21u, 0x59fcc556u,
        0x6d1b6dcfu, 0x7eb9f5b8u, 0x99c0ff45u, 0x8a626732u, 0xbe85cfabu, 0xad2757dcu,
        0xd74a9e99u, 0xc4e806eeu, 0xf00fae77u, 0xe3ad3600u, 0x3b11cd7cu, 0x28b3550bu,
        0x1c54fd92u, 0x0ff665e5u, 0x759baca0u, 0x663934d7u, 0x52de9c4eu, 0x417c0439u,
        0xa6050ec4u, 0xb5a796b3u, 0x81403e2au, 0x92e2a65du, 0xe88f6f18u, 0xfb2df76fu,
        0xcfca5ff6u, 0xdc68c781u, 0x7b5fdfffu, 0x68fd4788u, 0x5c1aef11u, 0x4fb87766u,
        0x35d5be23u, 0x26772654u, 0x12908ecdu, 0x013216bau, 0xe64b1c47u, 0xf5e98430u,
        0xc10e2ca9u, 0xd2acb4deu, 0xa8c17d9bu, 0xbb63e5ecu, 0x8f844d75u, 0x9c26d502u,
        0x449a2e7eu, 0x5738b609u, 0x63df1e90u, 0x707d86e7u, 0x0a104fa2u, 0x19b2d7d5u,
        0x2d557f4cu, 0x3ef7e73bu, 0xd98eedc6u, 0xca2c75b1u, 0xfecbdd28u, 0xed69455fu,
        0x97048c1au, 0x84a6146du, 0xb041bcf4u, 0xa3e32483u
    },
    {
        0x00000000u, 0xa541927eu, 0x4f6f520du, 0xea2ec073u, 0x9edea41au, 0x3b9f3664u,
        0xd1b1f617u, 0x74f06469u, 0x38513ec5u, 0x9d10acbbu, 0x773e6cc8u, 0xd27ffeb6u,
        0xa68f9adfu, 0x03ce08a1u, 0xe9e0c8d2u, 0x4ca15aacu, 0x70a27d8au, 0xd5e3eff4u,
        0x3fcd2f87u, 0x9a8cbdf9u, 0xee7cd990u, 0x4b3d4beeu, 0xa1138b9du, 0x045219e3u,
        0x48f3434fu, 0xedb2d131u, 0x079c1142u, 0xa2dd833cu, 0xd62de755u, 0x736c752bu,
        0x9942b558u, 0x3c032726u, 0xe144fb14u, 0x4405696au, 0xae2ba919u, 0x0b6a3b67u,
        0x7f9a5f0eu, 0xdadbcd70u, 0x30f50d03u, 0x95b49f7du, 0xd915c5d1u, 0x7c5457afu,
        0x967a97dcu, 0x333b05a2u, 0x47cb61cbu, 0xe28af3b5u, 0x08a433c6u, 0xade5a1b8u,
        0x91e6869eu, 0x34a714e0u, 0xde89d493u, 0x7bc846edu, 0x0f382284u, 0xaa79b0fau,
        0x40577089u, 0xe516e2f7u, 0xa9b7b85bu, 0x0cf62a25u, 0xe6d8ea56u, 0x43997828u,
        0x37691c41u, 0x92288e3fu, 0x78064e4cu, 0xdd47dc32u, 0xc76580d9u, 0x622412a7u,
        0x880ad2d4u, 0x2d4b40aau, 0x59bb24c3u, 0xfcfab6bdu, 0x16d476ceu, 0xb395e4b0u,
        0xff34be1cu, 0x5a752c62u, 0xb05bec11u, 0x151a7e6fu, 0x61ea1a06u, 0xc4ab8878u,
        0x2e85480bu, 0x8bc4da75u, 0xb7c7fd53u, 0x12866f2du, 0xf8a8af5eu, 0x5de93d20u,
        0x29195949u, 0x8c58cb37u, 0x66760b44u, 0xc337993au, 0x8f96c396u, 0x2ad751e8u,
        0xc0f9919bu, 0x65b803e5u, 0x1148678cu, 0xb409f5f2u, 0x5e273581u, 0xfb66a7ffu,
        0x26217bcdu, 0x8360e9b3u, 0x694e29c0u, 0xcc0fbbbeu, 0xb8ffdfd7u, 0x1dbe4da9u,
        0xf7908ddau, 0x52d11fa4u, 0x1e704508u, 0xbb31d776u, 0x511f1705u, 0xf45e857bu,
        0x80aee112u, 0x25ef736cu, 0xcfc1b31fu, 0x6a802161u, 0x56830647u, 0xf3c29439u,
        0x19ec544au, 0xbcadc634u, 0xc85da25du, 0x6d1c3023u, 0x8732f050u, 0x2273622eu,
        0x6ed23882u, 0xcb93aafcu, 0x21bd6a8fu, 0x84fcf8f1u, 0xf00c9c98u, 0x554d0ee6u,
        0xbf63ce95u, 0x1a225cebu, 0x8b277743u, 0x2e66e53du, 0xc448254eu, 0x6109b730u,
        0x15f9d359u, 0xb0b84127u, 0x5a968154u, 0xffd7132au, 0xb3764986u, 0x1637dbf8u,
        0xfc191b8bu, 0x595889f5u, 0x2da8ed9cu, 0x88e97fe2u, 0x62c7bf91u, 0xc7862defu,
        0xfb850ac9u, 0x5ec498b7u, 0xb4ea58c4u, 0x11abcabau, 0x655baed3u, 0xc01a3cadu,
        0x2a34fcdeu, 0x8f756ea0u, 0xc3d4340cu, 0x6695a672u, 0x8cbb6601u, 0x29faf47fu,
        0x5d0a9016u, 0xf84b0268u, 0x1265c21bu, 0xb7245065u, 0x6a638c57u, 0xcf221e29u,
        0x250cde5au, 0x804d4c24u, 0xf4bd284du, 0x51fcba33u, 0xbbd27a40u, 0x1e93e83eu,
        0x5232b292u, 0xf77320ecu, 0x1d5de09fu, 0xb81c72e1u, 0xccec1688u, 0x69ad84f6u,
        0x83834485u, 0x26c2d6fbu, 0x1ac1f1ddu, 0xbf8063a3u, 0x55aea3d0u, 0xf0ef31aeu,
        0x841f55c7u, 0x215ec7b9u, 0xcb7007cau, 0x6e3195b4u, 0x2290cf18u, 0x87d15d66u,
        0x6dff9d15u, 0xc8be0f6bu, 0xbc4e6b02u, 0x190ff97cu, 0xf321390fu, 0x5660ab71u,
        0x4c42f79au, 0xe90365e4u, 0x032da597u, 0xa66c37e9u, 0xd29c5380u, 0x77ddc1feu,
        0x9df3018du, 0x38b293f3u, 0x7413c95fu, 0xd1525b21u, 0x3b7c9b52u, 0x9e3d092cu,
        0xeacd6d45u, 0x4f8cff3bu, 0xa5a23f48u, 0x00e3ad36u, 0x3ce08a10u, 0x99a1186eu,
        0x738fd81du, 0xd6ce4a63u, 0xa23e2e0au, 0x077fbc74u, 0xed517c07u, 0x4810ee79u,
        0x04b1b4d5u, 0xa1f026abu, 0x4bdee6d8u, 0xee9f74a6u, 0x9a6f10cfu, 0x3f2e82b1u,
        0xd50042c2u, 0x7041d0bcu, 0xad060c8eu, 0x08479ef0u, 0xe2695e83u, 0x4728ccfdu,
        0x33d8a894u, 0x96993aeau, 0x7cb7fa99u, 0xd9f668e7u, 0x9557324bu, 0x3016a035u,
        0xda386046u, 0x7f79f238u, 0x0b899651u, 0xaec8042fu, 0x44e6c45cu, 0xe1a75622u,
        0xdda47104u, 0x78e5e37au, 0x92cb2309u, 0x378ab177u, 0x437ad51eu, 0xe63b4760u,
        0x0c158713u, 0xa954156du, 0xe5f54fc1u, 0x40b4ddbfu, 0xaa9a1dccu, 0x0fdb8fb2u,
        0x7b2bebdbu, 0xde6a79a5u, 0x3444b9d6u, 0x91052ba8u
    },
    {
        0x00000000u, 0xdd45aab8u, 0xbf672381u, 0x62228939u, 0x7b2231f3u, 0xa6679b4bu,
        0xc4451272u, 0x1900b8cau, 0xf64463e6u, 0x2b01c95eu, 0x49234067u, 0x9466eadfu,
        0x8d665215u, 0x5023f8adu, 0x32017194u, 0xef44db2cu, 0xe964b13du, 0x34211b85u,
        0x560392bcu, 0x8b463804u, 0x924680ceu, 0x4f032a76u, 0x2d21a34fu, 0xf06409f7u,
        0x1f20d2dbu, 0xc2657863u, 0xa047f15au, 0x7d025be2u, 0x6402e328u, 0xb9474990u,
        0xdb65c0a9u, 0x06206a11u, 0xd725148bu, 0x0a60be33u, 0x6842370au, 0xb5079db2u,
        0xac072578u, 0x71428fc0u, 0x136006f9u, 0xce25ac41u, 0x2161776du, 0xfc24ddd5u,
        0x9e0654ecu, 0x4343fe54u, 0x5a43469eu, 0x8706ec26u, 0xe524651fu, 0x3861cfa7u,
        0x3e41a5b6u, 0xe3040f0eu, 0x81268637u, 0x5c632c8fu, 0x45639445u, 0x98263efdu,
        0xfa04b7c4u, 0x27411d7cu, 0xc805c650u, 0x15406ce8u, 0x7762e5d1u, 0xaa274f69u,
        0xb327f7a3u, 0x6e625d1bu, 0x0c40d422u, 0xd1057e9au, 0xaba65fe7u, 0x76e3f55fu,
        0x14c17c66u, 0xc984d6deu, 0xd0846e14u, 0x0dc1c4acu, 0x6fe34d95u, 0xb2a6e72du,
        0x5de23c01u, 0x80a796b9u, 0xe2851f80u, 0x3fc0b538u, 0x26c00df2u, 0xfb85a74au,
        0x99a72e73u, 0x44e284cbu, 0x42c2eedau, 0x9f874462u, 0xfda5cd5bu, 0x20e067e3u,
        0x39e0df29u, 0xe4a57591u, 0x8687fca8u, 0x5bc25610u, 0xb4868d3cu, 0x69c32784u,
        0x0be1aebdu, 0xd6a40405u, 0xcfa4bccfu, 0x12e11677u, 0x70c39f4eu, 0xad8635f6u,
        0x7c834b6cu, 0xa1c6e1d4u, 0xc3e468edu, 0x1ea1c255u, 0x07a17a9fu, 0xdae4d027u,
        0xb8c6591eu, 0x6583f3a6u, 0x8ac7288au, 0x57828232u, 0x35a00b0bu, 0xe8e5a1b3u,
        0xf1e51979u, 0x2ca0b3c1u, 0x4e823af8u, 0x93c79040u, 0x95e7fa51u, 0x48a250e9u,
        0x2a80d9d0u, 0xf7c57368u, 0xeec5cba2u, 0x3380611au, 0x51a2e823u, 0x8ce7429bu,
        0x63a399b7u, 0xbee6330fu, 0xdcc4ba36u, 0x0181108eu, 0x1881a844u, 0xc5c402fcu,
        0xa7e68bc5u, 0x7aa3217du, 0x52a0c93fu, 0x8fe56387u, 0xedc7eabeu, 0x30824006u,
        0x2982f8ccu, 0xf4c75274u, 0x96e5db4du, 0x4ba071f5u, 0xa4e4aad9u, 0x79a10061u,
        0x1b838958u, 0xc6c623e0u, 0xdfc69b2au, 0x02833192u, 0x60a1b8abu, 0xbde41213u,
        0xbbc47802u, 0x6681d2bau, 0x04a35b83u, 0xd9e6f13bu, 0xc0e649f1u, 0x1da3e349u,
        0x7f816a70u, 0xa2c4c0c8u, 0x4d801be4u, 0x90c5b15cu, 0xf2e73865u, 0x2fa292ddu,
        0x36a22a17u, 0xebe780afu, 0x89c50996u, 0x5480a32eu, 0x8585ddb4u, 0x58c0770cu,
        0x3ae2fe35u, 0xe7a7548du, 0xfea7ec47u, 0x23e246ffu, 0x41c0cfc6u, 0x9c85657eu,
        0x73c1be52u, 0xae8414eau, 0xcca69dd3u, 0x11e3376bu, 0x08e38fa1u, 0xd5a62519u,
        0xb784ac20u, 0x6ac10698u, 0x6ce16c89u, 0xb1a4c631u, 0xd3864f08u, 0x0ec3e5b0u,
        0x17c35d7au, 0xca86f7c2u, 0xa8a47efbu, 0x75e1d443u, 0x9aa50f6fu, 0x47e0a5d7u,
        0x25c22ceeu, 0xf8878656u, 0xe1873e9cu, 0x3cc29424u, 0x5ee01d1du, 0x83a5b7a5u,
        0xf90696d8u, 0x24433c60u, 0x4661b559u, 0x9b241fe1u, 0x8224a72bu, 0x5f610d93u,
        0x3d4384aau, 0xe0062e12u, 0x0f42f53eu, 0xd2075f86u, 0xb025d6bfu, 0x6d607c07u,
        0x7460c4cdu, 0xa9256e75u, 0xcb07e74cu, 0x16424df4u, 0x106227e5u, 0xcd278d5du,
        0xaf050464u, 0x7240aedcu, 0x6b401616u, 0xb605bcaeu, 0xd4273597u, 0x09629f2fu,
        0xe6264403u, 0x3b63eebbu, 0x59416782u, 0x8404cd3au, 0x9d0475f0u, 0x4041df48u,
        0x22635671u, 0xff26fcc9u, 0x2e238253u, 0xf36628ebu, 0x9144a1d2u, 0x4c010b6au,
        0x5501b3a0u, 0x88441918u, 0xea669021u, 0x37233a99u, 0xd867e1b5u, 0x05224b0du,
        0x6700c234u, 0xba45688cu, 0xa345d046u, 0x7e007afeu, 0x1c22f3c7u, 0xc167597fu,
        0xc747336eu, 0x1a0299d6u, 0x782010efu, 0xa565ba57u, 0xbc65029du, 0x6120a825u,
        0x0302211cu, 0xde478ba4u, 0x31035088u, 0xec46fa30u, 0x8e647309u, 0x5321d9b1u,
        0x4a21617bu, 0x9764cbc3u, 0xf54642fau, 0x2803e842u
    },
    {
        0x00000000u, 0x38116facu, 0x7022df58u, 0x4833b0f4u, 0xe045beb0u, 0xd854d11cu,
        0x906761e8u, 0xa8760e44u, 0xc5670b91u, 0xfd76643du, 0xb545d4c9u, 0x8d54bb65u,
        0x2522b521u, 0x1d33da8du, 0x55006a79u, 0x6d1105d5u, 0x8f2261d3u, 0xb7330e7fu,
        0xff00be8bu, 0xc711d127u, 0x6f67df63u, 0x5776b0cfu, 0x1f45003bu, 0x27546f97u,
        0x4a456a42u, 0x725405eeu, 0x3a67b51au, 0x0276dab6u, 0xaa00d4f2u, 0x9211bb5eu,
        0xda220baau, 0xe2336406u, 0x1ba8b557u, 0x23b9dafbu, 0x6b8a6a0fu, 0x539b05a3u,
        0xfbed0be7u, 0xc3fc644bu, 0x8bcfd4bfu, 0xb3debb13u, 0xdecfbec6u, 0xe6ded16au,
        0xaeed619eu, 0x96fc0e32u, 0x3e8a0076u, 0x069b6fdau, 0x4ea8df2eu, 0x76b9b082u,
        0x948ad484u, 0xac9bbb28u, 0xe4a80bdcu, 0xdcb96470u, 0x74cf6a34u, 0x4cde0598u,
        0x04edb56cu, 0x3cfcdac0u, 0x51eddf15u, 0x69fcb0b9u, 0x21cf004du, 0x19de6fe1u,
        0xb1a861a5u, 0x89b90e09u, 0xc18abefdu, 0xf99bd151u, 0x37516aaeu, 0x0f400502u,
        0x4773b5f6u, 0x7f62da5au, 0xd714d41eu, 0xef05bbb2u, 0xa7360b46u, 0x9f2764eau,
        0xf236613fu, 0xca270e93u, 0x8214be67u, 0xba05d1cbu, 0x1273df8fu, 0x2a62b023u,
        0x625100d7u, 0x5a406f7bu, 0xb8730b7du, 0x806264d1u, 0xc851d425u, 0xf040bb89u,
        0x5836b5cdu, 0x6027da61u, 0x28146a95u, 0x10050539u, 0x7d1400ecu, 0x45056f40u,
        0x0d36dfb4u, 0x3527b018u, 0x9d51be5cu, 0xa540d1f0u, 0xed736104u, 0xd5620ea8u,
        0x2cf9dff9u, 0x14e8b055u, 0x5cdb00a1u, 0x64ca6f0du, 0xccbc6149u, 0xf4ad0ee5u,
        0xbc9ebe11u, 0x848fd1bdu, 0xe99ed468u, 0xd18fbbc4u, 0x99bc0b30u, 0xa1ad649cu,
        0x09db6ad8u, 0x31ca0574u, 0x79f9b580u, 0x41e8da2cu, 0xa3dbbe2au, 0x9bcad186u,
        0xd3f96172u, 0xebe80edeu, 0x439e009au, 0x7b8f6f36u, 0x33bcdfc2u, 0x0badb06eu,
        0x66bcb5bbu, 0x5eadda17u, 0x169e6ae3u, 0x2e8f054fu, 0x86f90b0bu, 0xbee864a7u,
        0xf6dbd453u, 0xcecabbffu, 0x6ea2d55cu, 0x56b3baf0u, 0x1e800a04u, 0x269165a8u,
        0x8ee76becu, 0xb6f60440u, 0xfec5b4b4u, 0xc6d4db18u, 0xabc5decdu, 0x93d4b161u,
        0xdbe70195u, 0xe3f66e39u, 0x4b80607du, 0x73910fd1u, 0x3ba2bf25u, 0x03b3d089u,
        0xe180b48fu, 0xd991db23u, 0x91a26bd7u, 0xa9b3047bu, 0x01c50a3fu, 0x39d46593u,
        0x71e7d567u, 0x49f6bacbu, 0x24e7bf1eu, 0x1cf6d0b2u, 0x54c56046u, 0x6cd40feau,
        0xc4a201aeu, 0xfcb36e02u, 0xb480def6u, 0x8c91b15au, 0x750a600bu, 0x4d1b0fa7u,
        0x0528bf53u, 0x3d39d0ffu, 0x954fdebbu, 0xad5eb117u, 0xe56d01e3u, 0xdd7c6e4fu,
        0xb06d6b9au, 0x887c0436u, 0xc04fb4c2u, 0xf85edb6eu, 0x5028d52au, 0x6839ba86u,
        0x200a0a72u, 0x181b65deu, 0xfa2801d8u, 0xc2396e74u, 0x8a0ade80u, 0xb21bb12cu,
        0x1a6dbf68u, 0x227cd0c4u, 0x6a4f6030u, 0x525e0f9cu, 0x3f4f0a49u, 0x075e65e5u,
        0x4f6dd511u, 0x777cbabdu, 0xdf0ab4f9u, 0xe71bdb55u, 0xaf286ba1u, 0x9739040du,
        0x59f3bff2u, 0x61e2d05eu, 0x29d160aau, 0x11c00f06u, 0xb9b60142u, 0x81a76eeeu,
        0xc994de1au, 0xf185b1b6u, 0x9c94b463u, 0xa485dbcfu, 0xecb66b3bu, 0xd4a70497u,
        0x7cd10ad3u, 0x44c0657fu, 0x0cf3d58bu, 0x34e2ba27u, 0xd6d1de21u, 0xeec0b18du,
        0xa6f30179u, 0x9ee26ed5u, 0x36946091u, 0x0e850f3du, 0x46b6bfc9u, 0x7ea7d065u,
        0x13b6d5b0u, 0x2ba7ba1cu, 0x63940ae8u, 0x5b856544u, 0xf3f36b00u, 0xcbe204acu,
        0x83d1b458u, 0xbbc0dbf4u, 0x425b0aa5u, 0x7a4a6509u, 0x3279d5fdu, 0x0a68ba51u,
        0xa21eb415u, 0x9a0fdbb9u, 0xd23c6b4du, 0xea2d04e1u, 0x873c0134u, 0xbf2d6e98u,
        0xf71ede6cu, 0xcf0fb1c0u, 0x6779bf84u, 0x5f68d028u, 0x175b60dcu, 0x2f4a0f70u,
        0xcd796b76u, 0xf56804dau, 0xbd5bb42eu, 0x854adb82u, 0x2d3cd5c6u, 0x152dba6au,
        0x5d1e0a9eu, 0x650f6532u, 0x081e60e7u, 0x300f0f4bu, 0x783cbfbfu, 0x402dd013u,
        0xe85bde57u, 0xd04ab1fbu, 0x9879010fu, 0xa0686ea3u
    },
    {
        0x00000000u, 0xef306b19u, 0xdb8ca0c3u, 0x34bccbdau, 0xb2f53777u, 0x5dc55c6eu,
        0x697997b4u, 0x8649fcadu, 0x6006181fu, 0x8f367306u, 0xbb8ab8dcu, 0x54bad3c5u,
        0xd2f32f68u, 0x3dc34471u, 0x097f8fabu, 0xe64fe4b2u, 0xc00c303eu, 0x2f3c5b27u,
        0x1b8090fdu, 0xf4b0fbe4u, 0x72f90749u, 0x9dc96c50u, 0xa975a78au, 0x4645cc93u,
        0xa00a2821u, 0x4f3a4338u, 0x7b8688e2u, 0x94b6e3fbu, 0x12ff1f56u, 0xfdcf744fu,
        0xc973bf95u, 0x2643d48cu, 0x85f4168du, 0x6ac47d94u, 0x5e78b64eu, 0xb148dd57u,
        0x370121fau, 0xd8314ae3u, 0xec8d8139u, 0x03bdea20u, 0xe5f20e92u, 0x0ac2658bu,
        0x3e7eae51u, 0xd14ec548u, 0x570739e5u, 0xb83752fcu, 0x8c8b9926u, 0x63bbf23fu,
        0x45f826b3u, 0xaac84daau, 0x9e748670u, 0x7144ed69u, 0xf70d11c4u, 0x183d7addu,
        0x2c81b107u, 0xc3b1da1eu, 0x25fe3eacu, 0xcace55b5u, 0xfe729e6fu, 0x1142f576u,
        0x970b09dbu, 0x783b62c2u, 0x4c87a918u, 0xa3b7c201u, 0x0e045bebu, 0xe13430f2u,
        0xd588fb28u, 0x3ab89031u, 0xbcf16c9cu, 0x53c10785u, 0x677dcc5fu, 0x884da746u,
        0x6e0243f4u, 0x813228edu, 0xb58ee337u, 0x5abe882eu, 0xdcf77483u, 0x33c71f9au,
        0x077bd440u, 0xe84bbf59u, 0xce086bd5u, 0x213800ccu, 0x1584cb16u, 0xfab4a00fu,
        0x7cfd5ca2u, 0x93cd37bbu, 0xa771fc61u, 0x48419778u, 0xae0e73cau, 0x413e18d3u,
        0x7582d309u, 0x9ab2b810u, 0x1cfb44bdu, 0xf3cb2fa4u, 0xc777e47eu, 0x28478f67u,
        0x8bf04d66u, 0x64c0267fu, 0x507ceda5u, 0xbf4c86bcu, 0x39057a11u, 0xd6351108u,
        0xe289dad2u, 0x0db9b1cbu, 0xebf65579u, 0x04c63e60u, 0x307af5bau, 0xdf4a9ea3u,
        0x5903620eu, 0xb6330917u, 0x828fc2cdu, 0x6dbfa9d4u, 0x4bfc7d58u, 0xa4cc1641u,
        0x9070dd9bu, 0x7f40b682u, 0xf9094a2fu, 0x16392136u, 0x2285eaecu, 0xcdb581f5u,
        0x2bfa6547u, 0xc4ca0e5eu, 0xf076c584u, 0x1f46ae9du, 0x990f5230u, 0x763f3929u,
        0x4283f2f3u, 0xadb399eau, 0x1c08b7d6u, 0xf338dccfu, 0xc7841715u, 0x28b47c0cu,
        0xaefd80a1u, 0x41cdebb8u, 0x75712062u, 0x9a414b7bu, 0x7c0eafc9u, 0x933ec4d0u,
        0xa7820f0au, 0x48b26413u, 0xcefb98beu, 0x21cbf3a7u, 0x1577387du, 0xfa475364u,
        0xdc0487e8u, 0x3334ecf1u, 0x0788272bu, 0xe8b84c32u, 0x6ef1b09fu, 0x81c1db86u,
        0xb57d105cu, 0x5a4d7b45u, 0xbc029ff7u, 0x5332f4eeu, 0x678e3f34u, 0x88be542du,
        0x0ef7a880u, 0xe1c7c399u, 0xd57b0843u, 0x3a4b635au, 0x99fca15bu, 0x76ccca42u,
        0x42700198u, 0xad406a81u, 0x2b09962cu, 0xc439fd35u, 0xf08536efu, 0x1fb55df6u,
        0xf9fab944u, 0x16cad25du, 0x22761987u, 0xcd46729eu, 0x4b0f8e33u, 0xa43fe52au,
        0x90832ef0u, 0x7fb345e9u, 0x59f09165u, 0xb6c0fa7cu, 0x827c31a6u, 0x6d4c5abfu,
        0xeb05a612u, 0x0435cd0bu, 0x308906d1u, 0xdfb96dc8u, 0x39f6897au, 0xd6c6e263u,
        0xe27a29b9u, 0x0d4a42a0u, 0x8b03be0du, 0x6433d514u, 0x508f1eceu, 0xbfbf75d7u,
        0x120cec3du, 0xfd3c8724u, 0xc9804cfeu, 0x26b027e7u, 0xa0f9db4au, 0x4fc9b053u,
        0x7b757b89u, 0x94451090u, 0x720af422u, 0x9d3a9f3bu, 0xa98654e1u, 0x46b63ff8u,
        0xc0ffc355u, 0x2fcfa84cu, 0x1b736396u, 0xf443088fu, 0xd200dc03u, 0x3d30b71au,
        0x098c7cc0u, 0xe6bc17d9u, 0x60f5eb74u, 0x8fc5806du, 0xbb794bb7u, 0x544920aeu,
        0xb206c41cu, 0x5d36af05u, 0x698a64dfu, 0x86ba0fc6u, 0x00f3f36bu, 0xefc39872u,
        0xdb7f53a8u, 0x344f38b1u, 0x97f8fab0u, 0x78c891a9u, 0x4c745a73u, 0xa344316au,
        0x250dcdc7u, 0xca3da6deu, 0xfe816d04u, 0x11b1061du, 0xf7fee2afu, 0x18ce89b6u,
        0x2c72426cu, 0xc3422975u, 0x450bd5d8u, 0xaa3bbec1u, 0x9e87751bu, 0x71b71e02u,
        0x57f4ca8eu, 0xb8c4a197u, 0x8c786a4du, 0x63480154u, 0xe501fdf9u, 0x0a3196e0u,
        0x3e8d5d3au, 0xd1bd3623u, 0x37f2d291u, 0xd8c2b988u, 0xec7e7252u, 0x034e194bu,
        0x8507e5e6u, 0x6a378effu, 0x5e8b4525u, 0xb1bb2e3cu
    },
    {
        0x00000000u, 0x68032cc8u, 0xd0065990u, 0xb8057558u, 0xa5e0c5d1u, 0xcde3e919u,
        0x75e69c41u, 0x1de5b089u, 0x4e2dfd53u, 0x262ed19bu, 0x9e2ba4c3u, 0xf628880bu,
        0xebcd3882u, 0x83ce144au, 0x3bcb6112u, 0x53c84ddau, 0x9c5bfaa6u, 0xf458d66eu,
        0x4c5da336u, 0x245e8ffeu, 0x39bb3f77u, 0x51b813bfu, 0xe9bd66e7u, 0x81be4a2fu,
        0xd27607f5u, 0xba752b3du, 0x02705e65u, 0x6a7372adu, 0x7796c224u, 0x1f95eeecu,
        0xa7909bb4u, 0xcf93b77cu, 0x3d5b83bdu, 0x5558af75u, 0xed5dda2du, 0x855ef6e5u,
        0x98bb466cu, 0xf0b86aa4u, 0x48bd1ffcu, 0x20be3334u, 0x73767eeeu, 0x1b755226u,
        0xa370277eu, 0xcb730bb6u, 0xd696bb3fu, 0xbe9597f7u, 0x0690e2afu, 0x6e93ce67u,
        0xa100791bu, 0xc90355d3u, 0x7106208bu, 0x19050c43u, 0x04e0bccau, 0x6ce39002u,
        0xd4e6e55au, 0xbce5c992u, 0xef2d8448u, 0x872ea880u, 0x3f2bddd8u, 0x5728f110u,
        0x4acd4199u, 0x22ce6d51u, 0x9acb1809u, 0xf2c834c1u, 0x7ab7077au, 0x12b42bb2u,
        0xaab15eeau, 0xc2b27222u, 0xdf57c2abu, 0xb754ee63u, 0x0f519b3bu, 0x6752b7f3u,
        0x349afa29u, 0x5c99d6e1u, 0xe49ca3b9u, 0x8c9f8f71u, 0x917a3ff8u, 0xf9791330u,
        0x417c6668u, 0x297f4aa0u, 0xe6ecfddcu, 0x8eefd114u, 0x36eaa44cu, 0x5ee98884u,
        0x430c380du, 0x2b0f14c5u, 0x930a619du, 0xfb094d55u, 0xa8c1008fu, 0xc0c22c47u,
        0x78c7591fu, 0x10c475d7u, 0x0d21c55eu, 0x6522e996u, 0xdd279cceu, 0xb524b006u,
        0x47ec84c7u, 0x2fefa80fu, 0x97eadd57u, 0xffe9f19fu, 0xe20c4116u, 0x8a0f6ddeu,
        0x320a1886u, 0x5a09344eu, 0x09c17994u, 0x61c2555cu, 0xd9c72004u, 0xb1c40cccu,
        0xac21bc45u, 0xc422908du, 0x7c27e5d5u, 0x1424c91du, 0xdbb77e61u, 0xb3b452a9u,
        0x0bb127f1u, 0x63b20b39u, 0x7e57bbb0u, 0x16549778u, 0xae51e220u, 0xc652cee8u,
        0x959a8332u, 0xfd99affau, 0x459cdaa2u, 0x2d9ff66au, 0x307a46e3u, 0x58796a2bu,
        0xe07c1f73u, 0x887f33bbu, 0xf56e0ef4u, 0x9d6d223cu, 0x25685764u, 0x4d6b7bacu,
        0x508ecb25u, 0x388de7edu, 0x808892b5u, 0xe88bbe7du, 0xbb43f3a7u, 0xd340df6fu,
        0x6b45aa37u, 0x034686ffu, 0x1ea33676u, 0x76a01abeu, 0xcea56fe6u, 0xa6a6432eu,
        0x6935f452u, 0x0136d89au, 0xb933adc2u, 0xd130810au, 0xccd53183u, 0xa4d61d4bu,
        0x1cd36813u, 0x74d044dbu, 0x27180901u, 0x4f1b25c9u, 0xf71e5091u, 0x9f1d7c59u,
        0x82f8ccd0u, 0xeafbe018u, 0x52fe9540u, 0x3afdb988u, 0xc8358d49u, 0xa036a181u,
        0x1833d4d9u, 0x7030f811u, 0x6dd54898u, 0x05d66450u, 0xbdd31108u, 0xd5d03dc0u,
        0x8618701au, 0xee1b5cd2u, 0x561e298au, 0x3e1d0542u, 0x23f8b5cbu, 0x4bfb9903u,
        0xf3feec5bu, 0x9bfdc093u, 0x546e77efu, 0x3c6d5b27u, 0x84682e7fu, 0xec6b02b7u,
        0xf18eb23eu, 0x998d9ef6u, 0x2188ebaeu, 0x498bc766u, 0x1a438abcu, 0x7240a674u,
        0xca45d32cu, 0xa246ffe4u, 0xbfa34f6du, 0xd7a063a5u, 0x6fa516fdu, 0x07a63a35u,
        0x8fd9098eu, 0xe7da2546u, 0x5fdf501eu, 0x37dc7cd6u, 0x2a39cc5fu, 0x423ae097u,
        0xfa3f95cfu, 0x923cb907u, 0xc1f4f4ddu, 0xa9f7d815u, 0x11f2ad4du, 0x79f18185u,
        0x6414310cu, 0x0c171dc4u, 0xb412689cu, 0xdc114454u, 0x1382f328u, 0x7b81dfe0u,
        0xc384aab8u, 0xab878670u, 0xb66236f9u, 0xde611a31u, 0x66646f69u, 0x0e6743a1u,
        0x5daf0e7bu, 0x35ac22b3u, 0x8da957ebu, 0xe5aa7b23u, 0xf84fcbaau, 0x904ce762u,
        0x2849923au, 0x404abef2u, 0xb2828a33u, 0xda81a6fbu, 0x6284d3a3u, 0x0a87ff6bu,
        0x17624fe2u, 0x7f61632au, 0xc7641672u, 0xaf673abau, 0xfcaf7760u, 0x94ac5ba8u,
        0x2ca92ef0u, 0x44aa0238u, 0x594fb2b1u, 0x314c9e79u, 0x8949eb21u, 0xe14ac7e9u,
        0x2ed97095u, 0x46da5c5du, 0xfedf2905u, 0x96dc05cdu, 0x8b39b544u, 0xe33a998cu,
        0x5b3fecd4u, 0x333cc01cu, 0x60f48dc6u, 0x08f7a10eu, 0xb0f2d456u, 0xd8f1f89eu,
        0xc5144817u, 0xad1764dfu, 0x15121187u, 0x7d113d4fu
    },
    {
        0x00000000u, 0x493c7d27u, 0x9278fa4eu, 0xdb448769u, 0x211d826du, 0x6821ff4au,
        0xb3657823u, 0xfa590504u, 0x423b04dau, 0x0b0779fdu, 0xd043fe94u, 0x997f83b3u,
        0x632686b7u, 0x2a1afb90u, 0xf15e7cf9u, 0xb86201deu, 0x847609b4u, 0xcd4a7493u,
        0x160ef3fau, 0x5f328eddu, 0xa56b8bd9u, 0xec57f6feu, 0x37137197u, 0x7e2f0cb0u,
        0xc64d0d6eu, 0x8f717049u, 0x5435f720u, 0x1d098a07u, 0xe7508f03u, 0xae6cf224u,
        0x7528754du, 0x3c14086au, 0x0d006599u, 0x443c18beu, 0x9f789fd7u, 0xd644e2f0u,
        0x2c1de7f4u, 0x65219ad3u, 0xbe651dbau, 0xf759609du, 0x4f3b6143u, 0x06071c64u,
        0xdd439b0du, 0x947fe62au, 0x6e26e32eu, 0x271a9e09u, 0xfc5e1960u, 0xb5626447u,
        0x89766c2du, 0xc04a110au, 0x1b0e9663u, 0x5232eb44u, 0xa86bee40u, 0xe1579367u,
        0x3a13140eu, 0x732f6929u, 0xcb4d68f7u, 0x827115d0u, 0x593592b9u, 0x1009ef9eu,
        0xea50ea9au, 0xa36c97bdu, 0x782810d4u, 0x31146df3u, 0x1a00cb32u, 0x533cb615u,
        0x8878317cu, 0xc1444c5bu, 0x3b1d495fu, 0x72213478u, 0xa965b311u, 0xe059ce36u,
        0x583bcfe8u, 0x1107b2cfu, 0xca4335a6u, 0x837f4881u, 0x79264d85u, 0x301a30a2u,
        0xeb5eb7cbu, 0xa262caecu, 0x9e76c286u, 0xd74abfa1u, 0x0c0e38c8u, 0x453245efu,
        0xbf6b40ebu, 0xf6573dccu, 0x2d13baa5u, 0x642fc782u, 0xdc4dc65cu, 0x9571bb7bu,
        0x4e353c12u, 0x07094135u, 0xfd504431u, 0xb46c3916u, 0x6f28be7fu, 0x2614c358u,
        0x1700aeabu, 0x5e3cd38cu, 0x857854e5u, 0xcc4429c2u, 0x361d2cc6u, 0x7f2151e1u,
        0xa465d688u, 0xed59abafu, 0x553baa71u, 0x1c07d756u, 0xc743503fu, 0x8e7f2d18u,
        0x7426281cu, 0x3d1a553bu, 0xe65ed252u, 0xaf62af75u, 0x9376a71fu, 0xda4ada38u,
        0x010e5d51u, 0x48322076u, 0xb26b2572u, 0xfb575855u, 0x2013df3cu, 0x692fa21bu,
        0xd14da3c5u, 0x9871dee2u, 0x4335598bu, 0x0a0924acu, 0xf05021a8u, 0xb96c5c8fu,
        0x6228dbe6u, 0x2b14a6c1u, 0x34019664u, 0x7d3deb43u, 0xa6796c2au, 0xef45110du,
        0x151c1409u, 0x5c20692eu, 0x8764ee47u, 0xce589360u, 0x763a92beu, 0x3f06ef99u,
        0xe44268f0u, 0xad7e15d7u, 0x572710d3u, 0x1e1b6df4u, 0xc55fea9du, 0x8c6397bau,
        0xb0779fd0u, 0xf94be2f7u, 0x220f659eu, 0x6b3318b9u, 0x916a1dbdu, 0xd856609au,
        0x0312e7f3u, 0x4a2e9ad4u, 0xf24c9b0au, 0xbb70e62du, 0x60346144u, 0x29081c63u,
        0xd3511967u, 0x9a6d6440u, 0x4129e329u, 0x08159e0eu, 0x3901f3fdu, 0x703d8edau,
        0xab7909b3u, 0xe2457494u, 0x181c7190u, 0x51200cb7u, 0x8a648bdeu, 0xc358f6f9u,
        0x7b3af727u, 0x32068a00u, 0xe9420d69u, 0xa07e704eu, 0x5a27754au, 0x131b086du,
        0xc85f8f04u, 0x8163f223u, 0xbd77fa49u, 0xf44b876eu, 0x2f0f0007u, 0x66337d20u,
        0x9c6a7824u, 0xd5560503u, 0x0e12826au, 0x472eff4du, 0xff4cfe93u, 0xb67083b4u,
        0x6d3404ddu, 0x240879fau, 0xde517cfeu, 0x976d01d9u, 0x4c2986b0u, 0x0515fb97u,
        0x2e015d56u, 0x673d2071u, 0xbc79a718u, 0xf545da3fu, 0x0f1cdf3bu, 0x4620a21cu,
        0x9d642575u, 0xd4585852u, 0x6c3a598cu, 0x250624abu, 0xfe42a3c2u, 0xb77edee5u,
        0x4d27dbe1u, 0x041ba6c6u, 0xdf5f21afu, 0x96635c88u, 0xaa7754e2u, 0xe34b29c5u,
        0x380faeacu, 0x7133d38bu, 0x8b6ad68fu, 0xc256aba8u, 0x19122cc1u, 0x502e51e6u,
        0xe84c5038u, 0xa1702d1fu, 0x7a34aa76u, 0x3308d751u, 0xc951d255u, 0x806daf72u,
        0x5b29281bu, 0x1215553cu, 0x230138cfu, 0x6a3d45e8u, 0xb179c281u, 0xf845bfa6u,
        0x021cbaa2u, 0x4b20c785u, 0x906440ecu, 0xd9583dcbu, 0x613a3c15u, 0x28064132u,
        0xf342c65bu, 0xba7ebb7cu, 0x4027be78u, 0x091bc35fu, 0xd25f4436u, 0x9b633911u,
        0xa777317bu, 0xee4b4c5cu, 0x350fcb35u, 0x7c33b612u, 0x866ab316u, 0xcf56ce31u,
        0x14124958u, 0x5d2e347fu, 0xe54c35a1u, 0xac704886u, 0x7734cfefu, 0x3e08b2c8u,
        0xc451b7ccu, 0x8d6dcaebu, 0x56294d82u, 0x1f1530a5u
    }
};

/* Raw (non-inverted) CRC state update, software. */
static uint32_t kvsi_crc32c_sw_raw(uint32_t c, const unsigned char *p, size_t n)
{
    const uint32_t(*t)[256] = kvsi_crc32c_table;
    while (n >= 8) {
        uint32_t lo = kvsi_get32(p) ^ c, hi = kvsi_get32(p + 4);
        c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
            t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff];
    return c;
}

KVSDEF uint32_t kvs_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    KVS_ASSERT(data != NULL || len == 0);
    return ~kvsi_crc32c_sw_raw(~crc, (const unsigned char *)data, len);
}

#if KVSI_HW_CRC32C_X86 || KVSI_HW_CRC32C_ARM || KVSI_CRC32C_DISPATCH
#if KVSI_HW_CRC32C_X86 || KVSI_CRC32C_DISPATCH
#include <nmmintrin.h>
KVSI_HW_TARGET static inline uint32_t kvsi_hw_crc8(uint32_t c, unsigned char b) { return _mm_crc32_u8(c, b); }
#if defined(__x86_64__) || defined(_M_X64)
KVSI_HW_TARGET static inline uint32_t kvsi_hw_crc64(uint32_t c, uint64_t v)
{
    return (uint32_t)_mm_crc32_u64(c, v);
}
#else
static inline uint32_t kvsi_hw_crc64(uint32_t c, uint64_t v)
{
    return _mm_crc32_u32(_mm_crc32_u32(c, (uint32_t)v), (uint32_t)(v >> 32));
}
#endif
#else
#include <arm_acle.h>
static inline uint32_t kvsi_hw_crc8(uint32_t c, unsigned char b) { return __crc32cb(c, b); }
static inline uint32_t kvsi_hw_crc64(uint32_t c, uint64_t v) { return __crc32cd(c, v); }
#endif

/* Advance a raw CRC state over the zero bytes of one lane. k is the lane's
   constant x^(8 * lane - 33) mod P (reflected): the carry-less product of
   state and k, fed through the CRC instruction, multiplies by x^33 and
   reduces, which gives state * x^(8 * lane) mod P. */
KVSI_HW_TARGET static uint32_t kvsi_crc32c_shift(uint32_t c, uint32_t k)
{
    uint64_t prod = 0;
    unsigned i;
    for (i = 0; i < 32; i++)
        prod ^= ((uint64_t)k << i) & (0 - (uint64_t)((c >> i) & 1));
    return kvsi_hw_crc64(0, prod);
}

/* Three independent streams over consecutive lanes hide the instruction's
   latency; the lane states are joined with kvsi_crc32c_shift. */
KVSI_HW_TARGET static uint32_t kvsi_crc32c_hw_raw(uint32_t c, const unsigned char *p, size_t n)
{
    static const size_t lanes[2] = {8192, 512};
    static const uint32_t kshift[2] = {0x54a86326u, 0xdd7e3b0cu}; /* x^(8*lane-33) */
    size_t t, i;
    for (t = 0; t < 2; t++) {
        size_t lane = lanes[t];
        while (n >= 3 * lane) {
            uint32_t c1 = 0, c2 = 0;
            for (i = 0; i < lane; i += 8) {
                c = kvsi_hw_crc64(c, kvsi_get64(p + i));
                c1 = kvsi_hw_crc64(c1, kvsi_get64(p + lane + i));
                c2 = kvsi_hw_crc64(c2, kvsi_get64(p + 2 * lane + i));
            }
            c = kvsi_crc32c_shift(kvsi_crc32c_shift(c, kshift[t]) ^ c1, kshift[t]) ^ c2;
            p += 3 * lane;
            n -= 3 * lane;
        }
    }
    for (; n >= 8; p += 8, n -= 8)
        c = kvsi_hw_crc64(c, kvsi_get64(p));
    while (n-- > 0)
        c = kvsi_hw_crc8(c, *p++);
    return c;
}
#endif

#if KVSI_CRC32C_VPCLMUL
#include <immintrin.h>
#define KVSI_VX_TARGET __attribute__((target("sse4.2,pclmul,avx512f,vpclmulqdq")))
#define KVSI_VX_MIN 256

/* Folding constants, x^e mod P as 64-bit reflected words (bit i holds the
   coefficient of x^(63 - i)). A 16-byte lane holds a polynomial H * x^64 + L
   (H in the low half); the carry-less product of two reflected words is one
   factor of x short, so moving a lane D bits further on is
   H * (x^(D + 63) mod P) + L * (x^(D - 1) mod P), low and high half of the
   constant pair. tests/test_core_hash.c derives every constant again. */
#define KVSI_VX_K128_HI 0x3743f7bd00000000ULL  /* x^(128 + 63) */
#define KVSI_VX_K128_LO 0x3171d43000000000ULL  /* x^(128 - 1)  */
#define KVSI_VX_K512_HI 0x1c19243b00000000ULL  /* x^(512 + 63) */
#define KVSI_VX_K512_LO 0x75bba45b00000000ULL  /* x^(512 - 1)  */
#define KVSI_VX_K2048_HI 0xe9a5d8be00000000ULL /* x^(2048 + 63) */
#define KVSI_VX_K2048_LO 0x1426a81500000000ULL /* x^(2048 - 1)  */

static int kvsi_vx_ok(void)
{
#if KVSI_CRC32C_VPCLMUL_ALWAYS
    return 1;
#else
    /* Both also check that the OS saves the 512-bit state (XGETBV). */
    return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul") &&
           __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq");
#endif
}

KVSI_VX_TARGET static __m128i kvsi_vx_fold128(__m128i a, __m128i k, __m128i next)
{
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00), _mm_clmulepi64_si128(a, k, 0x11)),
                         next);
}

KVSI_VX_TARGET static __m512i kvsi_vx_fold512(__m512i a, __m512i k, __m512i next)
{
    /* 0x96: three-way exclusive or */
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(a, k, 0x00), _mm512_clmulepi64_epi128(a, k, 0x11),
                                     next, 0x96);
}

/* Raw CRC state c over n >= KVSI_VX_MIN bytes: four 64-byte registers (16
   lanes) folded 256 bytes at a time, then into one register, one lane, and
   through the CRC instruction with the tail. The state enters as the first
   four bytes of the message xored with it. */
KVSI_VX_TARGET static uint32_t kvsi_crc32c_vx_raw(uint32_t c, const unsigned char *p, size_t n)
{
    const __m128i k128 = _mm_set_epi64x((long long)KVSI_VX_K128_LO, (long long)KVSI_VX_K128_HI);
    const long long l5 = (long long)KVSI_VX_K512_LO, h5 = (long long)KVSI_VX_K512_HI;
    const long long l2 = (long long)KVSI_VX_K2048_LO, h2 = (long long)KVSI_VX_K2048_HI;
    const __m512i k512 = _mm512_set_epi64(l5, h5, l5, h5, l5, h5, l5, h5);
    const __m512i k2048 = _mm512_set_epi64(l2, h2, l2, h2, l2, h2, l2, h2);
    __m512i z0 = _mm512_loadu_si512((const void *)p), z1 = _mm512_loadu_si512((const void *)(p + 64));
    __m512i z2 = _mm512_loadu_si512((const void *)(p + 128)), z3 = _mm512_loadu_si512((const void *)(p + 192));
    unsigned char last[64];
    __m128i a;
    z0 = _mm512_xor_si512(z0, _mm512_set_epi64(0, 0, 0, 0, 0, 0, 0, (long long)c));
    for (p += 256, n -= 256; n >= 256; p += 256, n -= 256) {
        z0 = kvsi_vx_fold512(z0, k2048, _mm512_loadu_si512((const void *)p));
        z1 = kvsi_vx_fold512(z1, k2048, _mm512_loadu_si512((const void *)(p + 64)));
        z2 = kvsi_vx_fold512(z2, k2048, _mm512_loadu_si512((const void *)(p + 128)));
        z3 = kvsi_vx_fold512(z3, k2048, _mm512_loadu_si512((const void *)(p + 192)));
    }
    z0 = kvsi_vx_fold512(kvsi_vx_fold512(kvsi_vx_fold512(z0, k512, z1), k512, z2), k512, z3);
    _mm512_storeu_si512((void *)last, z0);
    a = kvsi_vx_fold128(_mm_loadu_si128((const __m128i *)(const void *)last), k128,
                        _mm_loadu_si128((const __m128i *)(const void *)(last + 16)));
    a = kvsi_vx_fold128(a, k128, _mm_loadu_si128((const __m128i *)(const void *)(last + 32)));
    a = kvsi_vx_fold128(a, k128, _mm_loadu_si128((const __m128i *)(const void *)(last + 48)));
    /* the last lane is 16 bytes of message to a zero state: a * x^32 mod P */
    c = (uint32_t)_mm_crc32_u64(0, (unsigned long long)_mm_cvtsi128_si64(a));
    c = (uint32_t)_mm_crc32_u64(c, (unsigned long long)_mm_extract_epi64(a, 1));
    return kvsi_crc32c_hw_raw(c, p, n);
}
#endif

#if KVSI_CRC32C_DISPATCH
/* The one run-time choice between the SSE4.2 and the software kernels: the
   CRC itself and what kvs_crc32c_impl / kvs_crc32c_hw_available report all
   ask here, so they cannot disagree. */
static int kvsi_sse42_ok(void)
{
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}
#endif

KVSDEF const char *kvs_crc32c_impl(void)
{
#if KVSI_CRC32C_VPCLMUL
    if (kvsi_vx_ok())
        return "avx512-vpclmulqdq";
#endif
#if KVSI_CRC32C_DISPATCH
    return kvsi_sse42_ok() ? "sse4.2" : "software";
#elif KVSI_HW_CRC32C_X86
    return "sse4.2";
#elif KVSI_HW_CRC32C_ARM
    return "armv8-crc";
#else
    return "software";
#endif
}

KVSDEF int kvs_crc32c_hw_available(void)
{
#if KVSI_CRC32C_DISPATCH
    return kvsi_sse42_ok();
#else
    return KVSI_HW_CRC32C_X86 || KVSI_HW_CRC32C_ARM;
#endif
}

KVSDEF uint32_t kvs_crc32c(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    KVS_ASSERT(data != NULL || len == 0);
#if KVSI_CRC32C_VPCLMUL
    if (len >= KVSI_VX_MIN && kvsi_vx_ok())
        return ~kvsi_crc32c_vx_raw(~crc, p, len);
#endif
#if KVSI_CRC32C_DISPATCH
    if (kvsi_sse42_ok())
        return ~kvsi_crc32c_hw_raw(~crc, p, len);
    return ~kvsi_crc32c_sw_raw(~crc, p, len);
#elif KVSI_HW_CRC32C_X86 || KVSI_HW_CRC32C_ARM
    return ~kvsi_crc32c_hw_raw(~crc, p, len);
#else
    return ~kvsi_crc32c_sw_raw(~crc, p, len);
#endif
}
/* ===== END IMPL: HASH ===== */

/* ===== BEGIN IMPL: PATHS AND SHARDING ===== */
static int kvsi_is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Trim ASCII whitespace (docs/FORMAT.md section 2, step 1) from both ends. */
static void kvsi_trim(const char **s, size_t *n)
{
    while (*n > 0 && kvsi_is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && kvsi_is_space((*s)[*n - 1]))
        (*n)--;
}

/* FORMAT.md section 2, steps 1-6: the one path normaliser (path lists and the
   TP map). Writes at most cap bytes; KVS_E_BUFSIZE when the normalised path
   and its NUL do not fit. */
static kvs_result kvsi_path_norm(const char *p, size_t n, char *out, size_t cap, size_t *out_len)
{
    size_t i, j = 0;
    char prev = '\0';
    *out_len = 0;
    kvsi_trim(&p, &n);
    if (n >= 7 && memcmp(p, "file://", 7) == 0) {
        p += 7;
        n -= 7;
    }
    if (n == 0)
        return KVS_E_EMPTY;
    for (i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return KVS_E_PATH;
    for (i = 0; i < n; i++) {
        if (p[i] == '/' && prev == '/')
            continue;
        if (j < cap)
            out[j] = p[i];
        prev = p[i];
        j++;
    }
    if (j > 1 && prev == '/')
        j--;
    if (j > KVS_PATH_MAX)
        return KVS_E_PATH;
    if (j >= cap)
        return KVS_E_BUFSIZE;
    out[j] = '\0';
    *out_len = j;
    return KVS_OK;
}

KVSDEF kvs_result kvs_path_normalize(const char *path, size_t len, char *out, size_t cap, size_t *out_len)
{
    KVS_ASSERT(path != NULL || len == 0);
    KVS_ASSERT(out != NULL || cap == 0);
    KVS_ASSERT(out_len != NULL);
    return kvsi_path_norm(path, len, out, cap, out_len);
}

KVSDEF int kvs_path_has_prefix(const char *path, const char *dir)
{
    size_t n;
    KVS_ASSERT(path != NULL && dir != NULL);
    n = strlen(dir);
    if (strncmp(path, dir, n) != 0)
        return 0;
    return path[n] == '\0' || path[n] == '/' || (n == 1 && dir[0] == '/');
}

KVSDEF kvs_result kvs_pathlist_parse(const char *text, const kvs_allocator *a, kvs_pathlist *out)
{
    size_t tlen, used = 0, i;
    const char *s;
    char *block;
    void *mem;
    kvs_result r;
    KVS_ASSERT(text != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (a != NULL)
        out->alloc = *a;
    /* Normalising never lengthens an entry, so the text's size (each entry
       plus its separator or the final NUL) holds every path and its NUL. */
    tlen = strlen(text);
    r = kvs_aligned_alloc(&out->alloc, tlen + 1, 1, &mem);
    if (r != KVS_OK) {
        memset(out, 0, sizeof *out);
        return r;
    }
    block = (char *)mem;
    for (s = text;; s++) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        r = kvsi_path_norm(s, n, block + used, tlen + 1 - used, &n);
        if (r == KVS_OK && out->count == KVS_PATHS_MAX)
            r = KVS_E_LIMIT;
        for (i = 0; r == KVS_OK && i < out->count; i++)
            if (out->lens[i] == n && memcmp(out->paths[i], block + used, n) == 0)
                r = KVS_E_DUPLICATE;
        if (r != KVS_OK) {
            kvs_aligned_free(&out->alloc, block, tlen + 1, 1);
            memset(out, 0, sizeof *out);
            return r;
        }
        out->paths[out->count] = block + used;
        out->lens[out->count] = n;
        out->ids[out->count] = kvs_fnv1a64(block + used, n);
        out->count++;
        used += n + 1;
        if (e == NULL)
            break;
        s = e;
    }
    out->block = block;
    out->block_size = tlen + 1;
    return KVS_OK;
}

KVSDEF void kvs_pathlist_free(kvs_pathlist *pl)
{
    if (pl == NULL)
        return;
    kvs_aligned_free(&pl->alloc, pl->block, pl->block_size, 1);
    memset(pl, 0, sizeof *pl);
}

KVSDEF kvs_result kvs_shard_pick(kvs_shard_policy policy, const void *key, size_t key_len,
                                 const uint64_t *ids, size_t n, uint32_t rank, size_t *out_index)
{
    uint64_t h, best;
    size_t i;
    KVS_ASSERT(out_index != NULL);
    *out_index = 0;
    if ((unsigned)policy > KVS_SHARD_RANK || n == 0 || n > KVS_PATHS_MAX)
        return KVS_E_INVAL;
    if (policy == KVS_SHARD_RANK) {
        *out_index = (size_t)(rank % n);
        return KVS_OK;
    }
    if (key_len == 0 || key_len > KVS_KEY_MAX)
        return KVS_E_KEY;
    KVS_ASSERT(key != NULL);
    h = kvs_fnv1a64(key, key_len);
    if (policy == KVS_SHARD_MOD) {
        *out_index = (size_t)(h % n);
        return KVS_OK;
    }
    KVS_ASSERT(ids != NULL);
    best = kvs_mix64(h ^ ids[0]);
    for (i = 1; i < n; i++) {
        uint64_t s = kvs_mix64(h ^ ids[i]);
        if (s > best) {
            best = s;
            *out_index = i;
        }
    }
    return KVS_OK;
}

static const char *const kvsi_shard_names[3] = {"rendezvous", "mod", "rank"};

KVSDEF kvs_result kvs_shard_policy_parse(const char *name, kvs_shard_policy *out)
{
    unsigned i;
    KVS_ASSERT(name != NULL && out != NULL);
    for (i = 0; i < 3; i++) {
        if (strcmp(name, kvsi_shard_names[i]) == 0) {
            *out = (kvs_shard_policy)i;
            return KVS_OK;
        }
    }
    *out = KVS_SHARD_RENDEZVOUS;
    return KVS_E_INVAL;
}

KVSDEF const char *kvs_shard_policy_name(kvs_shard_policy policy)
{
    return (unsigned)policy <= KVS_SHARD_RANK ? kvsi_shard_names[policy] : "unknown";
}
/* ===== END IMPL: PATHS AND SHARDING ===== */

/* ===== BEGIN IMPL: TP MAP ===== */
/* Strip one pair of matching '"' or '\'' quotes around s[0..n). */
static void kvsi_unquote(const char **s, size_t *n)
{
    if (*n >= 2 && ((*s)[0] == '"' || (*s)[0] == '\'') && (*s)[*n - 1] == (*s)[0]) {
        (*s)++;
        *n -= 2;
    }
}

/* RANK of a TP map entry: trimmed, optionally quoted decimal digits. */
static kvs_result kvsi_rank_parse(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;
    size_t i;
    kvsi_trim(&s, &n);
    kvsi_unquote(&s, &n);
    if (n == 0 || (n > 1 && s[0] == '0'))
        return KVS_E_RANK;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return KVS_E_RANK;
        if (v < KVS_TP_MAX) /* saturates at KVS_TP_MAX or above, never wraps */
            v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *out = v;
    return v >= KVS_TP_MAX ? KVS_E_LIMIT : KVS_OK;
}

/* PATH of a TP map entry: trimmed; a leading quote must close at the end. */
static kvs_result kvsi_tp_path(const char *s, size_t n, char *out, size_t cap, size_t *out_len)
{
    kvsi_trim(&s, &n);
    if (n > 0 && (s[0] == '"' || s[0] == '\'')) {
        const char *close = n > 1 ? (const char *)memchr(s + 1, s[0], n - 1) : NULL;
        if (close == NULL || close != s + n - 1)
            return KVS_E_INVAL;
        s++;
        n -= 2;
    }
    return kvsi_path_norm(s, n, out, cap, out_len);
}

static void kvsi_msg_entry(kvsi_msg *m, uint64_t entry, const char *what)
{
    kvsi_msg_str(m, "entry ");
    kvsi_msg_u64(m, entry);
    kvsi_msg_str(m, ": ");
    kvsi_msg_str(m, what);
}

KVSDEF kvs_result kvs_tpmap_parse(const char *text, uint32_t expected_world, const kvs_allocator *a,
                                  kvs_tpmap *out, char *err, size_t err_cap)
{
    kvsi_msg m;
    const char *s, *end;
    size_t n, tlen, size = 0, used = 0, count = 0, entry = 0;
    uint32_t rank = 0, maxr = 0, world, i;
    char **slots, *str;
    void *mem = NULL;
    kvs_result r = KVS_OK;

    KVS_ASSERT(text != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (a != NULL)
        out->alloc = *a;
    kvsi_msg_init(&m, err, err_cap);
    tlen = strlen(text);
    s = text;
    n = tlen;
    kvsi_trim(&s, &n);
    if (n > 0 && (s[0] == '{' || s[n - 1] == '}')) {
        if (n < 2 || s[0] != '{' || s[n - 1] != '}') {
            kvsi_msg_str(&m, "unmatched brace");
            r = KVS_E_INVAL;
            goto fail;
        }
        s++;
        n -= 2;
    }
    /* One block: a pointer per possible rank, then every normalised path
       (never longer than its entry, so the text's size suffices). */
    size = KVS_TP_MAX * sizeof(char *) + tlen + 1;
    r = kvs_aligned_alloc(&out->alloc, size, sizeof(char *), &mem);
    if (r != KVS_OK) {
        kvsi_msg_str(&m, r == KVS_E_NOMEM ? "out of memory"
                         : r == KVS_E_INVAL ? "allocator: alloc and free must both be set, or both NULL"
                         : r == KVS_E_ALIGN ? "the allocator returned memory not aligned as asked"
                                            : kvs_result_str(r));
        goto fail;
    }
    memset(mem, 0, KVS_TP_MAX * sizeof(char *));
    slots = (char **)mem;
    str = (char *)mem + KVS_TP_MAX * sizeof(char *);

    for (end = s + n; s < end; s++) {
        const char *e = s, *sep;
        size_t en, len;
        while (e < end && *e != ',' && *e != '\n')
            e++;
        en = (size_t)(e - s);
        kvsi_trim(&s, &en);
        if (en == 0) {
            s = e;
            continue;
        }
        entry++;
        for (sep = s; sep < s + en && *sep != '=' && *sep != ':'; sep++)
            ;
        if (sep == s + en) {
            kvsi_msg_entry(&m, entry, "no '=' or ':' between rank and path");
            r = KVS_E_INVAL;
            goto fail;
        }
        r = kvsi_rank_parse(s, (size_t)(sep - s), &rank);
        if (r != KVS_OK) {
            kvsi_msg_entry(&m, entry, r == KVS_E_RANK ? "rank must be decimal digits, no sign or leading zero"
                                                      : "rank must be below 1024");
            goto fail;
        }
        r = kvsi_tp_path(sep + 1, (size_t)(s + en - sep - 1), str + used, tlen + 1 - used, &len);
        if (r != KVS_OK) {
            kvsi_msg_entry(&m, entry, r == KVS_E_INVAL ? "unterminated quote or text after the closing quote"
                                      : r == KVS_E_EMPTY ? "empty path" : "malformed path");
            goto fail;
        }
        if (slots[rank] != NULL) {
            kvsi_msg_entry(&m, entry, "rank ");
            kvsi_msg_u64(&m, rank);
            kvsi_msg_str(&m, " given twice");
            r = KVS_E_DUPLICATE;
            goto fail;
        }
        for (i = 0; i < KVS_TP_MAX; i++) {
            if (slots[i] != NULL && strcmp(slots[i], str + used) == 0) {
                kvsi_msg_entry(&m, entry, "ranks ");
                kvsi_msg_u64(&m, i);
                kvsi_msg_str(&m, " and ");
                kvsi_msg_u64(&m, rank);
                kvsi_msg_str(&m, " share the path ");
                kvsi_msg_str(&m, str + used);
                r = KVS_E_DUPLICATE;
                goto fail;
            }
        }
        slots[rank] = str + used;
        used += len + 1;
        count++;
        if (rank > maxr)
            maxr = rank;
        s = e;
    }
    if (count == 0) {
        kvsi_msg_str(&m, "no entries");
        r = KVS_E_EMPTY;
        goto fail;
    }
    if (expected_world > KVS_TP_MAX) { /* after the entries (FORMAT.md 4) */
        kvsi_msg_str(&m, "expected world size above 1024");
        r = KVS_E_LIMIT;
        goto fail;
    }
    world = expected_world != 0 ? expected_world : maxr + 1;
    if (maxr >= world || count != world) {
        r = KVS_E_RANK;
        if (maxr >= world) {
            kvsi_msg_str(&m, "rank ");
            kvsi_msg_u64(&m, maxr);
            kvsi_msg_str(&m, " out of range");
        } else {
            for (i = 0; slots[i] != NULL; i++)
                ;
            kvsi_msg_str(&m, "rank ");
            kvsi_msg_u64(&m, i);
            kvsi_msg_str(&m, " missing");
        }
        kvsi_msg_str(&m, " for world size ");
        kvsi_msg_u64(&m, world);
        kvsi_msg_str(&m, "; ranks present:");
        for (i = 0; i < KVS_TP_MAX; i++) {
            if (slots[i] != NULL) {
                kvsi_msg_str(&m, " ");
                kvsi_msg_u64(&m, i);
            }
        }
        goto fail;
    }
    out->world = world;
    out->paths = slots;
    out->block = mem;
    out->block_size = size;
    return KVS_OK;

fail:
    /* A map saved by an editor that writes a byte-order mark fails at its
       first rank or brace; the mark is invisible in most editors, so say so. */
    if (tlen >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        kvsi_msg_str(&m, " (the text starts with a UTF-8 byte-order mark, EF BB BF: save the map without it)");
    if (mem != NULL)
        kvs_aligned_free(&out->alloc, mem, size, sizeof(char *));
    memset(out, 0, sizeof *out);
    return r;
}

KVSDEF void kvs_tpmap_free(kvs_tpmap *map)
{
    if (map == NULL)
        return;
    kvs_aligned_free(&map->alloc, map->block, map->block_size, sizeof(char *));
    memset(map, 0, sizeof *map);
}
/* ===== END IMPL: TP MAP ===== */

/* ===== BEGIN IMPL: FILENAMES ===== */
static const char kvsi_hex_lower[] = "0123456789abcdef";
static const char kvsi_hex_upper[] = "0123456789ABCDEF";

/* 1 when key byte b is written as itself at key position pos (5.1). */
static int kvsi_fsname_literal(unsigned char b, size_t pos)
{
    return (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '_' ||
           ((b == '.' || b == '-') && pos > 0);
}

/* Value of one hex digit from digits (16 bytes), or -1. */
static int kvsi_hex_val(char c, const char *digits)
{
    const char *d = (const char *)memchr(digits, c, 16);
    return d != NULL ? (int)(d - digits) : -1;
}

/* width lowercase hex digits of v, most significant first. */
static char *kvsi_put_hex(char *p, uint64_t v, unsigned width)
{
    while (width-- > 0)
        *p++ = kvsi_hex_lower[(v >> (4 * width)) & 15];
    return p;
}

/* n lowercase hex digits at s into *v; 0 when any is not one. */
static int kvsi_get_hex(const char *s, unsigned n, uint64_t *v)
{
    *v = 0;
    while (n-- > 0) {
        int d = kvsi_hex_val(*s++, kvsi_hex_lower);
        if (d < 0)
            return 0;
        *v = *v << 4 | (uint64_t)d;
    }
    return 1;
}

#define KVSI_FSNAME_STEM_MAX 252   /* escaped key bytes in a readable name */
#define KVSI_FSNAME_HASHED_LEN 32
#define KVSI_FSNAME_TEMP_LEN 38

KVSDEF kvs_result kvs_fsname_encode(const void *key, size_t key_len, char *out, size_t cap,
                                    size_t *out_len, kvs_fsname_kind *out_kind)
{
    const unsigned char *k = (const unsigned char *)key;
    size_t i, esc = 0;
    char *p = out;
    KVS_ASSERT(out_len != NULL && (out != NULL || cap == 0));
    *out_len = 0;
    if (key_len == 0 || key_len > KVS_KEY_MAX)
        return KVS_E_KEY;
    KVS_ASSERT(key != NULL);
    for (i = 0; i < key_len; i++)
        esc += kvsi_fsname_literal(k[i], i) ? 1 : 3;
    if (esc <= KVSI_FSNAME_STEM_MAX) {
        if (cap < esc + 4)
            return KVS_E_BUFSIZE;
        for (i = 0; i < key_len; i++) {
            if (kvsi_fsname_literal(k[i], i)) {
                *p++ = (char)k[i];
            } else {
                *p++ = '%';
                *p++ = kvsi_hex_upper[k[i] >> 4];
                *p++ = kvsi_hex_upper[k[i] & 15];
            }
        }
    } else {
        if (cap < KVSI_FSNAME_HASHED_LEN + 1)
            return KVS_E_BUFSIZE;
        *p++ = '~';
        p = kvsi_put_hex(p, kvs_fnv1a64(key, key_len), 16);
        p = kvsi_put_hex(p, kvs_crc32c(0, key, key_len), 8);
        p = kvsi_put_hex(p, key_len, 4);
    }
    memcpy(p, KVS_FSNAME_EXT, 4); /* with its NUL */
    *out_len = (size_t)(p - out) + 3;
    if (out_kind != NULL)
        *out_kind = esc <= KVSI_FSNAME_STEM_MAX ? KVS_FSNAME_READABLE : KVS_FSNAME_HASHED;
    return KVS_OK;
}

KVSDEF kvs_result kvs_fsname_decode(const char *name, size_t len, void *key_out, size_t key_cap,
                                    size_t *key_len, kvs_fsname_kind *out_kind)
{
    unsigned char *k = (unsigned char *)key_out;
    uint64_t v;
    size_t i, n = 0, stem;
    KVS_ASSERT(name != NULL || len == 0);
    KVS_ASSERT(key_len != NULL && (key_out != NULL || key_cap == 0));
    *key_len = 0;
    if (len == KVSI_FSNAME_TEMP_LEN && memcmp(name, "~t", 2) == 0 &&
        memcmp(name + 34, KVS_FSNAME_TEMP_EXT, 4) == 0) {
        if (!kvsi_get_hex(name + 2, 16, &v) || !kvsi_get_hex(name + 18, 16, &v))
            return KVS_E_NAME;
        if (out_kind != NULL)
            *out_kind = KVS_FSNAME_TEMP;
        return KVS_OK;
    }
    if (len < 4 || memcmp(name + len - 3, KVS_FSNAME_EXT, 3) != 0)
        return KVS_E_NAME;
    if (len == KVSI_FSNAME_HASHED_LEN && name[0] == '~') {
        if (!kvsi_get_hex(name + 1, 16, &v) || !kvsi_get_hex(name + 17, 8, &v) ||
            !kvsi_get_hex(name + 25, 4, &v) || v < 85 || v > KVS_KEY_MAX)
            return KVS_E_NAME;
        *key_len = (size_t)v;
        if (out_kind != NULL)
            *out_kind = KVS_FSNAME_HASHED;
        return KVS_OK;
    }
    stem = len - 3;
    if (stem > KVSI_FSNAME_STEM_MAX)
        return KVS_E_NAME;
    for (i = 0; i < stem; n++) {
        unsigned char b = (unsigned char)name[i];
        if (b == '%') {
            int hi, lo;
            if (stem - i < 3 || (hi = kvsi_hex_val(name[i + 1], kvsi_hex_upper)) < 0 ||
                (lo = kvsi_hex_val(name[i + 2], kvsi_hex_upper)) < 0)
                return KVS_E_NAME;
            b = (unsigned char)(hi << 4 | lo);
            if (kvsi_fsname_literal(b, n))
                return KVS_E_NAME;
            i += 3;
        } else if (kvsi_fsname_literal(b, n)) {
            i++;
        } else {
            return KVS_E_NAME;
        }
        if (n < key_cap)
            k[n] = b;
    }
    if (n > key_cap)
        return KVS_E_BUFSIZE;
    *key_len = n;
    if (out_kind != NULL)
        *out_kind = KVS_FSNAME_READABLE;
    return KVS_OK;
}

KVSDEF uint64_t kvs_fsname_lock_byte(const char *name, size_t len)
{
    KVS_ASSERT(name != NULL || len == 0);
    return kvs_mix64(kvs_fnv1a64(name, len)) >> 2;
}

KVSDEF kvs_result kvs_fsname_temp(uint64_t writer, uint64_t seq, char *out, size_t cap, size_t *out_len)
{
    char *p = out;
    KVS_ASSERT(out_len != NULL && (out != NULL || cap == 0));
    *out_len = 0;
    if (cap < KVSI_FSNAME_TEMP_LEN + 1)
        return KVS_E_BUFSIZE;
    *p++ = '~';
    *p++ = 't';
    p = kvsi_put_hex(p, writer, 16);
    p = kvsi_put_hex(p, seq, 16);
    memcpy(p, KVS_FSNAME_TEMP_EXT, 5);
    *out_len = KVSI_FSNAME_TEMP_LEN;
    return KVS_OK;
}
/* ===== END IMPL: FILENAMES ===== */

/* ===== BEGIN IMPL: LAYOUT AND RECORDS ===== */
static kvs_result kvsi_geometry_fail(kvsi_msg *m, const char *what)
{
    kvsi_msg_str(m, what);
    return KVS_E_GEOMETRY;
}

KVSDEF kvs_result kvs_layout_compute(uint64_t device_bytes, uint64_t align, uint64_t meta_bytes,
                                     uint64_t slot_bytes, kvs_layout *out, char *err, size_t err_cap)
{
    kvsi_msg m;
    uint64_t hdr, count;
    KVS_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    kvsi_msg_init(&m, err, err_cap);
    if (!kvs_is_pow2(align) || align < KVS_DEV_ALIGN_MIN || align > KVS_DEV_ALIGN_MAX)
        return kvsi_geometry_fail(&m, "align must be a power of two from 512 to 1048576");
    hdr = align < KVS_OBJHDR_REGION ? KVS_OBJHDR_REGION : align; /* roundup(4096, align) */
    if (meta_bytes == 0 || meta_bytes % (2 * align) != 0 || meta_bytes / 2 < 4096)
        return kvsi_geometry_fail(&m, "meta_bytes must be a nonzero multiple of 2 * align, at least 8192");
    if (slot_bytes == 0 || slot_bytes % align != 0 || slot_bytes <= hdr)
        return kvsi_geometry_fail(&m, "slot_bytes must be a multiple of align above the slot header");
    if (meta_bytes > UINT64_MAX - hdr || hdr + meta_bytes > UINT64_MAX - slot_bytes ||
        hdr + meta_bytes + slot_bytes > device_bytes)
        return kvsi_geometry_fail(&m, "device too small for the metadata and one slot");
    count = (device_bytes - hdr - meta_bytes) / slot_bytes;
    if (count > UINT32_MAX)
        return kvsi_geometry_fail(&m, "more than 2^32 - 1 slots");
    out->device_bytes = device_bytes;
    out->align = align;
    out->meta_bytes = meta_bytes;
    out->slot_bytes = slot_bytes;
    out->sb_offset = 0;
    out->sb_bytes = hdr;
    out->ckpt_bytes = meta_bytes / 2;
    out->ckpt_offset[0] = hdr;
    out->ckpt_offset[1] = hdr + meta_bytes / 2;
    out->slots_offset = hdr + meta_bytes;
    out->slot_count = count;
    out->slot_header_bytes = hdr;
    out->slot_payload_max = slot_bytes - hdr;
    out->used_bytes = out->slots_offset + count * slot_bytes;
    return KVS_OK;
}

KVSDEF kvs_result kvs_layout_slot_offset(const kvs_layout *l, uint64_t i, uint64_t *out)
{
    KVS_ASSERT(l != NULL && out != NULL);
    *out = 0;
    if (i >= l->slot_count)
        return KVS_E_INVAL;
    *out = l->slots_offset + i * l->slot_bytes;
    return KVS_OK;
}

static int kvsi_all_zero(const unsigned char *p, size_t n)
{
    while (n-- > 0)
        if (*p++ != 0)
            return 0;
    return 1;
}

/* Superblock fields a decoder reports as KVS_E_CORRUPT and an encoder
   refuses with KVS_E_INVAL (format version and flags are checked apart). */
static int kvsi_sb_fields_ok(const kvs_superblock *sb)
{
    return sb->tp_world != 0 && sb->tp_world <= KVS_TP_MAX && sb->tp_rank < sb->tp_world &&
           sb->shard_policy <= KVS_SHARD_RANK && sb->store_id != 0;
}

static int kvsi_sb_geometry_ok(const kvs_superblock *sb)
{
    kvs_layout l;
    return kvs_layout_compute(sb->device_bytes, sb->align, sb->meta_bytes, sb->slot_bytes, &l, NULL,
                              0) == KVS_OK &&
           l.slot_count == sb->slot_count && l.slots_offset == sb->slots_offset;
}

KVSDEF kvs_result kvs_superblock_encode(const kvs_superblock *sb, void *buf, size_t cap)
{
    unsigned char *p = (unsigned char *)buf;
    KVS_ASSERT(sb != NULL && (buf != NULL || cap == 0));
    if (cap < KVS_SB_RECORD_BYTES)
        return KVS_E_BUFSIZE;
    if (sb->format_version != KVS_FORMAT_VERSION || sb->flags != 0 || !kvsi_sb_fields_ok(sb))
        return KVS_E_INVAL;
    if (!kvsi_sb_geometry_ok(sb))
        return KVS_E_GEOMETRY;
    memset(p, 0, KVS_SB_RECORD_BYTES);
    memcpy(p, "KVSSUPER", 8);
    kvsi_put32(p + 8, KVS_FORMAT_VERSION);
    kvsi_put32(p + 12, KVS_SB_RECORD_BYTES);
    kvsi_put64(p + 16, sb->device_bytes);
    kvsi_put64(p + 24, sb->align);
    kvsi_put64(p + 32, sb->meta_bytes);
    kvsi_put64(p + 40, sb->slot_bytes);
    kvsi_put64(p + 48, sb->slot_count);
    kvsi_put64(p + 56, sb->slots_offset);
    kvsi_put32(p + 64, sb->tp_rank);
    kvsi_put32(p + 68, sb->tp_world);
    kvsi_put32(p + 72, sb->shard_policy);
    kvsi_put32(p + 76, 0);
    kvsi_put64(p + 80, sb->store_id);
    kvsi_put64(p + 88, sb->path_id);
    kvsi_put64(p + 96, sb->created_ns);
    kvsi_put32(p + 252, kvs_crc32c(0, p, 252));
    return KVS_OK;
}

KVSDEF kvs_result kvs_superblock_decode(const void *buf, size_t len, kvs_superblock *out)
{
    const unsigned char *p = (const unsigned char *)buf;
    kvs_superblock sb;
    KVS_ASSERT(out != NULL && (buf != NULL || len == 0));
    memset(out, 0, sizeof *out);
    if (len < KVS_SB_RECORD_BYTES)
        return KVS_E_BUFSIZE;
    if (memcmp(p, "KVSSUPER", 8) != 0)
        return KVS_E_MAGIC;
    if (kvsi_get32(p + 8) != KVS_FORMAT_VERSION)
        return KVS_E_VERSION;
    if (kvsi_get32(p + 252) != kvs_crc32c(0, p, 252))
        return KVS_E_CHECKSUM;
    sb.format_version = KVS_FORMAT_VERSION;
    sb.flags = kvsi_get32(p + 76);
    sb.device_bytes = kvsi_get64(p + 16);
    sb.align = kvsi_get64(p + 24);
    sb.meta_bytes = kvsi_get64(p + 32);
    sb.slot_bytes = kvsi_get64(p + 40);
    sb.slot_count = kvsi_get64(p + 48);
    sb.slots_offset = kvsi_get64(p + 56);
    sb.tp_rank = kvsi_get32(p + 64);
    sb.tp_world = kvsi_get32(p + 68);
    sb.shard_policy = kvsi_get32(p + 72);
    sb.store_id = kvsi_get64(p + 80);
    sb.path_id = kvsi_get64(p + 88);
    sb.created_ns = kvsi_get64(p + 96);
    if (kvsi_get32(p + 12) != KVS_SB_RECORD_BYTES || sb.flags != 0 || !kvsi_all_zero(p + 104, 148) ||
        !kvsi_sb_fields_ok(&sb))
        return KVS_E_CORRUPT;
    if (!kvsi_sb_geometry_ok(&sb))
        return KVS_E_GEOMETRY;
    *out = sb;
    return KVS_OK;
}

KVSDEF kvs_result kvs_ckpt_header_encode(const kvs_ckpt_header *h, void *buf, size_t cap)
{
    unsigned char *p = (unsigned char *)buf;
    KVS_ASSERT(h != NULL && (buf != NULL || cap == 0));
    if (cap < KVS_CKPT_HEADER_BYTES)
        return KVS_E_BUFSIZE;
    if (h->copy > 1 || h->seq == 0 || h->store_id == 0)
        return KVS_E_INVAL;
    memset(p, 0, KVS_CKPT_HEADER_BYTES);
    memcpy(p, "KVSCKPNT", 8);
    kvsi_put32(p + 8, KVS_FORMAT_VERSION);
    kvsi_put32(p + 12, h->copy);
    kvsi_put64(p + 16, h->seq);
    kvsi_put64(p + 24, h->payload_len);
    kvsi_put32(p + 32, h->payload_crc);
    kvsi_put64(p + 40, h->store_id);
    kvsi_put32(p + 60, kvs_crc32c(0, p, 60));
    return KVS_OK;
}

KVSDEF kvs_result kvs_ckpt_header_decode(const void *buf, size_t len, uint64_t payload_max,
                                         kvs_ckpt_header *out)
{
    const unsigned char *p = (const unsigned char *)buf;
    kvs_ckpt_header h;
    KVS_ASSERT(out != NULL && (buf != NULL || len == 0));
    memset(out, 0, sizeof *out);
    if (len < KVS_CKPT_HEADER_BYTES)
        return KVS_E_BUFSIZE;
    if (memcmp(p, "KVSCKPNT", 8) != 0)
        return KVS_E_MAGIC;
    if (kvsi_get32(p + 8) != KVS_FORMAT_VERSION)
        return KVS_E_VERSION;
    if (kvsi_get32(p + 60) != kvs_crc32c(0, p, 60))
        return KVS_E_CHECKSUM;
    h.copy = kvsi_get32(p + 12);
    h.seq = kvsi_get64(p + 16);
    h.payload_len = kvsi_get64(p + 24);
    h.payload_crc = kvsi_get32(p + 32);
    h.store_id = kvsi_get64(p + 40);
    if (h.copy > 1 || h.seq == 0 || kvsi_get32(p + 36) != 0 || !kvsi_all_zero(p + 48, 12) ||
        h.store_id == 0 || h.payload_len > payload_max)
        return KVS_E_CORRUPT;
    *out = h;
    return KVS_OK;
}

KVSDEF kvs_result kvs_ckpt_pick(kvs_result r0, const kvs_ckpt_header *h0, kvs_result r1,
                                const kvs_ckpt_header *h1, uint32_t *out_copy)
{
    int ok0 = r0 == KVS_OK && h0 != NULL && h0->copy == 0;
    int ok1 = r1 == KVS_OK && h1 != NULL && h1->copy == 1;
    KVS_ASSERT(out_copy != NULL);
    *out_copy = 0;
    if (!ok0 && !ok1)
        return KVS_NOT_FOUND;
    if (ok1 && (!ok0 || h1->seq > h0->seq))
        *out_copy = 1;
    return KVS_OK;
}

/* payload_offset rules of FORMAT.md 6.3. */
static int kvsi_objhdr_offset_ok(uint32_t off, uint32_t key_len)
{
    return off % 512 == 0 && off >= KVS_OBJHDR_FIXED_BYTES + key_len && off <= 1048576;
}

static uint32_t kvsi_objhdr_crc(const unsigned char *p, const void *key, uint32_t key_len)
{
    return kvs_crc32c(kvs_crc32c(0, p, 60), key, key_len);
}

KVSDEF kvs_result kvs_objhdr_encode(const kvs_objhdr *h, void *buf, size_t cap, size_t *out_len)
{
    unsigned char *p = (unsigned char *)buf;
    KVS_ASSERT(h != NULL && out_len != NULL && (buf != NULL || cap == 0));
    *out_len = 0;
    if (h->key_len == 0 || h->key_len > KVS_KEY_MAX)
        return KVS_E_KEY;
    KVS_ASSERT(h->key != NULL);
    if (h->generation == 0 || h->store_id == 0 || !kvsi_objhdr_offset_ok(h->payload_offset, h->key_len))
        return KVS_E_INVAL;
    if (cap < KVS_OBJHDR_FIXED_BYTES + (size_t)h->key_len)
        return KVS_E_BUFSIZE;
    /* the key first, and hashed where it lands: a key inside buf (in
       place, or overlapping the fixed fields) is read before anything
       else is written */
    memmove(p + KVS_OBJHDR_FIXED_BYTES, h->key, h->key_len);
    memset(p, 0, KVS_OBJHDR_FIXED_BYTES);
    memcpy(p, "KVSOBJCT", 8);
    kvsi_put16(p + 8, KVS_FORMAT_VERSION);
    kvsi_put32(p + 12, h->key_len);
    kvsi_put64(p + 16, h->payload_len);
    kvsi_put64(p + 24, h->generation);
    kvsi_put64(p + 32, h->store_id);
    kvsi_put32(p + 40, h->payload_offset);
    kvsi_put32(p + 44, h->payload_crc);
    kvsi_put64(p + 48, kvs_fnv1a64(p + KVS_OBJHDR_FIXED_BYTES, h->key_len));
    kvsi_put32(p + 60, kvsi_objhdr_crc(p, p + KVS_OBJHDR_FIXED_BYTES, h->key_len));
    *out_len = KVS_OBJHDR_FIXED_BYTES + (size_t)h->key_len;
    return KVS_OK;
}

KVSDEF kvs_result kvs_objhdr_decode(const void *buf, size_t len, kvs_objhdr *out)
{
    const unsigned char *p = (const unsigned char *)buf, *key;
    kvs_objhdr h;
    KVS_ASSERT(out != NULL && (buf != NULL || len == 0));
    memset(out, 0, sizeof *out);
    if (len < KVS_OBJHDR_FIXED_BYTES)
        return KVS_E_BUFSIZE;
    if (memcmp(p, "KVSOBJCT", 8) != 0)
        return KVS_E_MAGIC;
    if (kvsi_get16(p + 8) != KVS_FORMAT_VERSION)
        return KVS_E_VERSION;
    h.key_len = kvsi_get32(p + 12);
    if (h.key_len == 0 || h.key_len > KVS_KEY_MAX)
        return KVS_E_CORRUPT;
    if (len < KVS_OBJHDR_FIXED_BYTES + (size_t)h.key_len)
        return KVS_E_BUFSIZE;
    key = p + KVS_OBJHDR_FIXED_BYTES;
    if (kvsi_get32(p + 60) != kvsi_objhdr_crc(p, key, h.key_len))
        return KVS_E_CHECKSUM;
    h.payload_len = kvsi_get64(p + 16);
    h.generation = kvsi_get64(p + 24);
    h.store_id = kvsi_get64(p + 32);
    h.payload_offset = kvsi_get32(p + 40);
    h.payload_crc = kvsi_get32(p + 44);
    h.key = key;
    if (kvsi_get16(p + 10) != 0 || kvsi_get32(p + 56) != 0 || h.generation == 0 || h.store_id == 0 ||
        !kvsi_objhdr_offset_ok(h.payload_offset, h.key_len) ||
        kvsi_get64(p + 48) != kvs_fnv1a64(key, h.key_len))
        return KVS_E_CORRUPT;
    *out = h;
    return KVS_OK;
}

KVSDEF size_t kvs_index_entry_size(uint32_t key_len)
{
    if (key_len == 0 || key_len > KVS_KEY_MAX)
        return 0;
    return KVS_INDEX_ENTRY_FIXED_BYTES + (((size_t)key_len + 7u) & ~(size_t)7u);
}

KVSDEF kvs_result kvs_index_header_encode(const kvs_index_header *h, void *buf, size_t cap)
{
    unsigned char *p = (unsigned char *)buf;
    KVS_ASSERT(h != NULL && (buf != NULL || cap == 0));
    if (cap < KVS_INDEX_HEADER_BYTES)
        return KVS_E_BUFSIZE;
    if (h->alloc_limit > h->slot_count || h->entry_count > h->slot_count)
        return KVS_E_INVAL;
    memcpy(p, "KVSINDEX", 8);
    kvsi_put64(p + 8, h->gen_floor);
    kvsi_put64(p + 16, h->alloc_limit);
    kvsi_put64(p + 24, h->slot_count);
    kvsi_put32(p + 32, h->entry_count);
    kvsi_put32(p + 36, 0);
    return KVS_OK;
}

KVSDEF kvs_result kvs_index_header_decode(const void *buf, size_t len, kvs_index_header *out)
{
    const unsigned char *p = (const unsigned char *)buf;
    kvs_index_header h;
    KVS_ASSERT(out != NULL && (buf != NULL || len == 0));
    memset(out, 0, sizeof *out);
    if (len < KVS_INDEX_HEADER_BYTES)
        return KVS_E_BUFSIZE;
    if (memcmp(p, "KVSINDEX", 8) != 0)
        return KVS_E_MAGIC;
    h.gen_floor = kvsi_get64(p + 8);
    h.alloc_limit = kvsi_get64(p + 16);
    h.slot_count = kvsi_get64(p + 24);
    h.entry_count = kvsi_get32(p + 32);
    if (kvsi_get32(p + 36) != 0 || h.alloc_limit > h.slot_count || h.entry_count > h.slot_count)
        return KVS_E_CORRUPT;
    *out = h;
    return KVS_OK;
}

KVSDEF kvs_result kvs_index_entry_encode(const kvs_index_entry *e, void *buf, size_t cap, size_t *out_len)
{
    unsigned char *p = (unsigned char *)buf;
    size_t size;
    KVS_ASSERT(e != NULL && out_len != NULL && (buf != NULL || cap == 0));
    *out_len = 0;
    size = kvs_index_entry_size(e->key_len);
    if (size == 0)
        return KVS_E_KEY;
    KVS_ASSERT(e->key != NULL);
    if (e->generation == 0)
        return KVS_E_INVAL;
    if (cap < size)
        return KVS_E_BUFSIZE;
    memmove(p + KVS_INDEX_ENTRY_FIXED_BYTES, e->key, e->key_len); /* first: e->key may be in buf */
    kvsi_put32(p, e->slot);
    kvsi_put32(p + 4, e->key_len);
    kvsi_put64(p + 8, e->generation);
    kvsi_put64(p + 16, e->payload_len);
    kvsi_put32(p + 24, e->payload_crc);
    kvsi_put32(p + 28, 0);
    memset(p + KVS_INDEX_ENTRY_FIXED_BYTES + e->key_len, 0, size - KVS_INDEX_ENTRY_FIXED_BYTES - e->key_len);
    *out_len = size;
    return KVS_OK;
}

KVSDEF kvs_result kvs_index_entry_decode(const void *buf, size_t len, uint64_t slot_count,
                                         kvs_index_entry *out, size_t *used)
{
    const unsigned char *p = (const unsigned char *)buf;
    kvs_index_entry e;
    size_t size;
    KVS_ASSERT(out != NULL && used != NULL && (buf != NULL || len == 0));
    memset(out, 0, sizeof *out);
    *used = 0;
    if (len < KVS_INDEX_ENTRY_FIXED_BYTES)
        return KVS_E_CORRUPT;
    e.slot = kvsi_get32(p);
    e.key_len = kvsi_get32(p + 4);
    e.generation = kvsi_get64(p + 8);
    e.payload_len = kvsi_get64(p + 16);
    e.payload_crc = kvsi_get32(p + 24);
    e.key = p + KVS_INDEX_ENTRY_FIXED_BYTES;
    size = kvs_index_entry_size(e.key_len);
    if (size == 0 || size > len || e.slot >= slot_count || e.generation == 0 || kvsi_get32(p + 28) != 0 ||
        !kvsi_all_zero(p + KVS_INDEX_ENTRY_FIXED_BYTES + e.key_len,
                       size - KVS_INDEX_ENTRY_FIXED_BYTES - e.key_len))
        return KVS_E_CORRUPT;
    *out = e;
    *used = size;
    return KVS_OK;
}

KVSDEF size_t kvs_pathset_size(uint32_t count)
{
    return count > KVS_PATHS_MAX ? 0 : 36u + 8u * (size_t)count;
}

KVSDEF kvs_result kvs_pathset_encode(const kvs_pathset *ps, void *buf, size_t cap, size_t *out_len)
{
    unsigned char *p = (unsigned char *)buf;
    size_t size, i, j;
    KVS_ASSERT(ps != NULL && out_len != NULL && (buf != NULL || cap == 0));
    *out_len = 0;
    if (ps->count == 0 || ps->count > KVS_PATHS_MAX || ps->index >= ps->count ||
        ps->shard_policy > KVS_SHARD_RANK || ps->store_id == 0)
        return KVS_E_INVAL;
    for (i = 0; i < ps->count; i++)
        for (j = i + 1; j < ps->count; j++)
            if (ps->ids[i] == ps->ids[j])
                return KVS_E_DUPLICATE;
    size = kvs_pathset_size(ps->count);
    if (cap < size)
        return KVS_E_BUFSIZE;
    memcpy(p, "KVSPATHS", 8);
    kvsi_put32(p + 8, KVS_FORMAT_VERSION);
    kvsi_put32(p + 12, ps->count);
    kvsi_put32(p + 16, ps->index);
    kvsi_put32(p + 20, ps->shard_policy);
    kvsi_put64(p + 24, ps->store_id);
    for (i = 0; i < ps->count; i++)
        kvsi_put64(p + 32 + 8 * i, ps->ids[i]);
    kvsi_put32(p + size - 4, kvs_crc32c(0, p, size - 4));
    *out_len = size;
    return KVS_OK;
}

KVSDEF kvs_result kvs_pathset_decode(const void *buf, size_t len, kvs_pathset *out)
{
    const unsigned char *p = (const unsigned char *)buf;
    kvs_pathset ps;
    size_t size, i, j;
    KVS_ASSERT(out != NULL && (buf != NULL || len == 0));
    memset(out, 0, sizeof *out);
    if (len < kvs_pathset_size(0))
        return KVS_E_BUFSIZE;
    if (memcmp(p, "KVSPATHS", 8) != 0)
        return KVS_E_MAGIC;
    if (kvsi_get32(p + 8) != KVS_FORMAT_VERSION)
        return KVS_E_VERSION;
    memset(&ps, 0, sizeof ps);
    ps.count = kvsi_get32(p + 12);
    if (ps.count == 0 || ps.count > KVS_PATHS_MAX)
        return KVS_E_CORRUPT;
    size = kvs_pathset_size(ps.count);
    if (len < size)
        return KVS_E_BUFSIZE;
    if (kvsi_get32(p + size - 4) != kvs_crc32c(0, p, size - 4))
        return KVS_E_CHECKSUM;
    ps.index = kvsi_get32(p + 16);
    ps.shard_policy = kvsi_get32(p + 20);
    ps.store_id = kvsi_get64(p + 24);
    for (i = 0; i < ps.count; i++)
        ps.ids[i] = kvsi_get64(p + 32 + 8 * i);
    if (ps.index >= ps.count || ps.shard_policy > KVS_SHARD_RANK || ps.store_id == 0)
        return KVS_E_CORRUPT;
    for (i = 0; i < ps.count; i++)
        for (j = i + 1; j < ps.count; j++)
            if (ps.ids[i] == ps.ids[j])
                return KVS_E_CORRUPT;
    *out = ps;
    return KVS_OK;
}
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
