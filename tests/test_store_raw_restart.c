/* SPDX-License-Identifier: MIT OR Unlicense */
/* Raw-block store restarts: SIGKILL of a writer mid-stream, crash images
   (the file copied while the store is open: what a process crash leaves)
   with a stale checkpoint, both checkpoint copies damaged (full scan), the
   newest copy damaged or hostile (fallback), torn slots and headers,
   a damaged superblock, and the time to reopen a store with many entries.
   Environment: KVS_TEST_DIR (scratch directory), KVS_SEED, KVS_RAW_BIG
   (entries of the restart timing; default 20000, 4000 under sanitizers). */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include "test_store_raw_util.h"
#include <signal.h>
#include <sys/wait.h>

#define MiB ((uint64_t)1 << 20)

/* Self-describing values: the first 8 bytes are the version. */
static size_t vlen(uint64_t v) { return 8 + (size_t)((v * 131) % 9000); }

static void make_val(unsigned char *buf, uint64_t id, uint64_t v)
{
    size_t n = vlen(v);
    fill_obj(buf, n, id, v);
    memcpy(buf, &v, 8);
}

/* 1 when buf (n bytes) is a consistent value of key id; *ver its version. */
static int val_ok(const unsigned char *buf, size_t n, uint64_t id, uint64_t *ver)
{
    unsigned char want[9100];
    uint64_t v;
    if (n < 8)
        return 0;
    memcpy(&v, buf, 8);
    if (n != vlen(v) || n > sizeof want)
        return 0;
    make_val(want, id, v);
    *ver = v;
    return memcmp(buf, want, n) == 0;
}

static void copy_file(const char *from, const char *to)
{
    int a = open(from, O_RDONLY), b = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    static unsigned char buf[1 << 20];
    ssize_t n;
    CHECK(a >= 0 && b >= 0);
    while ((n = read(a, buf, sizeof buf)) > 0)
        CHECK(write(b, buf, (size_t)n) == n);
    close(a);
    close(b);
}

static kvs_store *reopen(const char *path, char *err, size_t cap)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    raw_cfg(&c, path, 0, 0, KVS_DIRECT_PREFER);
    c.format = KVS_FORMAT_NEVER;
    if (kvs_store_open(&c, &s, err, cap) != KVS_OK) {
        fprintf(stderr, "reopen %s: %s\n", path, err);
        return NULL;
    }
    return s;
}

/* ---- SIGKILL mid-stream ---- */
#define KILL_KEYS 40

static void child_writer(const char *path, int wfd)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    char err[256], k[64];
    unsigned char *buf = (unsigned char *)xalloc(9200);
    uint64_t i;
    raw_cfg(&c, path, 4096 + 65536 + 16384 * 64, 12288, KVS_DIRECT_PREFER);
    c.meta_bytes = 65536;
    c.checkpoint_interval_ms = 7;
    c.checkpoint_idle_ms = 1;
    if (kvs_store_open(&c, &s, err, sizeof err) != KVS_OK) {
        fprintf(stderr, "child open: %s\n", err);
        _exit(2);
    }
    for (i = 1;; i++) {
        /* the keys in use grow from 10 to KILL_KEYS, one more every 200
           puts, so a kill early enough leaves keys never put (or put
           once, unacknowledged): they must miss after the restart. The
           parent kills after at most 1,000 acknowledgements, and the
           pipe (made small where it can be) holds at most 4,096 more, so
           every round kills before the last keys are in use (with one
           every 20 puts, a child that ran ahead of a descheduled parent
           had put every key, and the miss check had nothing to check) */
        uint64_t id = (i * 7) % (10 + i / 200 < KILL_KEYS ? 10 + i / 200 : KILL_KEYS), rec[2];
        keyname(k, sizeof k, id);
        make_val(buf, id, i);
        if (kvs_store_put(s, k, strlen(k), buf, vlen(i)) != KVS_OK)
            _exit(3);
        rec[0] = id;
        rec[1] = i;
        if (write(wfd, rec, sizeof rec) != (ssize_t)sizeof rec)
            _exit(4);
        if (i % 97 == 0)
            (void)kvs_store_sync(s);
    }
}

static unsigned g_unacked_keys; /* keys no round acknowledged: the miss check ran */

static void test_sigkill(int round)
{
    char path[1200], err[256], k[64];
    int pfd[2];
    pid_t pid;
    uint64_t acked[KILL_KEYS], rec[2], last = 0, n = 0;
    unsigned char *buf = (unsigned char *)xalloc(16384);
    kvs_store *s;
    kvs_store_stats st;
    unsigned i;
    int status = 0, target = T_SAN ? 150 : 400 + 300 * round;
    memset(acked, 0, sizeof acked);
    snprintf(k, sizeof k, "kill%d", round);
    t_path(path, sizeof path, k);
    CHECK(pipe(pfd) == 0);
#ifdef F_SETPIPE_SZ
    (void)fcntl(pfd[1], F_SETPIPE_SZ, 4096); /* the child runs ahead by less */
#endif
    pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        child_writer(path, pfd[1]);
        _exit(0);
    }
    close(pfd[1]);
    while (n < (uint64_t)target && read(pfd[0], rec, sizeof rec) == (ssize_t)sizeof rec) {
        acked[rec[0]] = rec[1];
        last = rec[1];
        n++;
    }
    kill(pid, SIGKILL);
    /* acknowledgements already in the pipe count too */
    while (read(pfd[0], rec, sizeof rec) == (ssize_t)sizeof rec) {
        acked[rec[0]] = rec[1];
        last = rec[1];
    }
    close(pfd[0]);
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    s = reopen(path, err, sizeof err);
    CHECK(s != NULL);
    if (s != NULL) {
        for (i = 0; i < KILL_KEYS; i++) {
            size_t got = 0;
            uint64_t v = 0;
            kvs_result r;
            keyname(k, sizeof k, i);
            r = kvs_store_get(s, k, strlen(k), buf, 16384, &got);
            if (acked[i] == 0) {
                g_unacked_keys++;
                CHECK(r == KVS_NOT_FOUND || (r == KVS_OK && val_ok(buf, got, i, &v) && v > last));
                continue;
            }
            CHECK_R(r, KVS_OK);
            /* the acknowledged version, or the one put in flight at the kill */
            CHECK(val_ok(buf, got, i, &v) && (v == acked[i] || v == last + 1));
        }
        kvs_store_get_stats(s, &st);
        CHECK(st.corruptions == 0 && st.objects <= KILL_KEYS);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    free(buf);
    unlink(path);
}

/* ---- crash images ---- */
static void test_stale_checkpoint(void)
{
    char path[1200], img[1200], err[256];
    kvs_store_config c;
    kvs_store *s = NULL, *t;
    unsigned char buf[9200], rd[9200];
    kvs_store_stats st;
    uint64_t i, v;
    size_t got;
    t_path(path, sizeof path, "stale");
    t_path(img, sizeof img, "stale.img");
    raw_cfg(&c, path, 8 * MiB, 12288, KVS_DIRECT_PREFER);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s == NULL)
        return;
    for (i = 0; i < 30; i++) {
        make_val(buf, i, i + 1);
        CHECK_R(kvs_store_put(s, &i, sizeof i, buf, vlen(i + 1)), KVS_OK);
    }
    /* removed and then checkpointed: must stay gone */
    i = 29;
    CHECK_R(kvs_store_remove(s, &i, sizeof i), KVS_OK);
    CHECK_R(kvs_store_sync(s), KVS_OK);
    /* after the checkpoint: new keys, overwrites */
    for (i = 30; i < 60; i++) {
        make_val(buf, i, i + 1);
        CHECK_R(kvs_store_put(s, &i, sizeof i, buf, vlen(i + 1)), KVS_OK);
    }
    for (i = 0; i < 10; i++) {
        make_val(buf, i, i + 1000);
        CHECK_R(kvs_store_put(s, &i, sizeof i, buf, vlen(i + 1000)), KVS_OK);
    }
    copy_file(path, img); /* the crash image */
    CHECK_R(kvs_store_close(s), KVS_OK);
    t = reopen(img, err, sizeof err);
    CHECK(t != NULL);
    if (t != NULL) {
        for (i = 0; i < 60; i++) {
            kvs_result r = kvs_store_get(t, &i, sizeof i, rd, sizeof rd, &got);
            if (i == 29) {
                CHECK_R(r, KVS_NOT_FOUND);
                continue;
            }
            CHECK_R(r, KVS_OK);
            CHECK(r == KVS_OK && val_ok(rd, got, i, &v) && v == (i < 10 ? i + 1000 : i + 1));
        }
        kvs_store_get_stats(t, &st);
        CHECK(st.objects == 59 && st.corruptions == 0);
        CHECK_R(kvs_store_close(t), KVS_OK);
    }
    /* a second reopen of the image sees the same (the restore checkpointed) */
    t = reopen(img, err, sizeof err);
    if (t != NULL) {
        kvs_store_get_stats(t, &st);
        CHECK(st.objects == 59);
        CHECK_R(kvs_store_close(t), KVS_OK);
    }
    unlink(path);
    unlink(img);
}

/* Fill a store with n keys (values of version 1), close it. */
static void fill_closed(const char *path, uint64_t n)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    char err[256];
    unsigned char buf[9200];
    uint64_t i;
    raw_cfg(&c, path, 8 * MiB, 12288, KVS_DIRECT_PREFER);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s == NULL)
        return;
    for (i = 0; i < n; i++) {
        make_val(buf, i, i + 1);
        CHECK_R(kvs_store_put(s, &i, sizeof i, buf, vlen(i + 1)), KVS_OK);
        if (i == n / 2)
            CHECK_R(kvs_store_sync(s), KVS_OK);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
}

static uint64_t count_good(kvs_store *s, uint64_t n)
{
    unsigned char rd[9200];
    uint64_t i, v, good = 0;
    size_t got;
    for (i = 0; i < n; i++)
        if (kvs_store_get(s, &i, sizeof i, rd, sizeof rd, &got) == KVS_OK && val_ok(rd, got, i, &v) && v == i + 1)
            good++;
    return good;
}

/* Reads and decodes both checkpoint headers of the store at path into
   ch[0..1]; the index of the newer copy. */
static int read_ckpt_headers(const char *path, const kvs_layout *l, kvs_ckpt_header *ch)
{
    unsigned char h[64];
    int c;
    for (c = 0; c < 2; c++) {
        CHECK(read_at(path, l->ckpt_offset[c], h, 64) == 0);
        CHECK_R(kvs_ckpt_header_decode(h, 64, l->ckpt_bytes - 64, &ch[c]), KVS_OK);
    }
    return ch[1].seq > ch[0].seq ? 1 : 0;
}

static void test_damaged_checkpoints(void)
{
    char path[1200], err[256];
    kvs_layout l;
    kvs_store *s;
    kvs_store_stats st;
    kvs_ckpt_header ch[2];
    int newest;
    t_path(path, sizeof path, "ckdmg");

    /* both copies' headers damaged: full scan */
    fill_closed(path, 40);
    CHECK(file_layout(path, &l) == 0);
    CHECK(poke(path, l.ckpt_offset[0] + 20, 0x55) == 0);
    CHECK(poke(path, l.ckpt_offset[1] + 20, 0x55) == 0);
    s = reopen(path, err, sizeof err);
    CHECK(s != NULL);
    if (s != NULL) {
        CHECK(count_good(s, 40) == 40);
        kvs_store_get_stats(s, &st);
        CHECK(st.objects == 40 && st.corruptions == 0 && st.checkpoints >= 1);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    unlink(path);

    /* newest copy's payload damaged: the older copy, then the scan */
    fill_closed(path, 40);
    CHECK(file_layout(path, &l) == 0);
    newest = read_ckpt_headers(path, &l, ch);
    CHECK(poke(path, l.ckpt_offset[newest] + 64 + 50, 0x01) == 0);
    s = reopen(path, err, sizeof err);
    CHECK(s != NULL);
    if (s != NULL) {
        CHECK(count_good(s, 40) == 40);
        kvs_store_get_stats(s, &st);
        CHECK(st.objects == 40 && st.corruptions == 0);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    unlink(path);

    /* a hostile newest copy with a valid CRC that lists one slot twice */
    fill_closed(path, 20);
    CHECK(file_layout(path, &l) == 0);
    {
        unsigned char img[4096];
        kvs_index_header ih;
        kvs_index_entry e;
        kvs_ckpt_header hh;
        size_t used, pos = KVS_INDEX_HEADER_BYTES;
        uint32_t copy;
        copy = read_ckpt_headers(path, &l, ch) == 1 ? 0 : 1; /* overwrite the older one */
        memset(img, 0, sizeof img);
        ih.gen_floor = 1000000; /* would hide every object from the scan */
        ih.alloc_limit = 64;
        ih.slot_count = l.slot_count;
        ih.entry_count = 2;
        CHECK_R(kvs_index_header_encode(&ih, img + 64, sizeof img - 64), KVS_OK);
        memset(&e, 0, sizeof e);
        e.slot = 3;
        e.key_len = 5;
        e.generation = 7;
        e.payload_len = 10;
        e.key = "evil1";
        CHECK_R(kvs_index_entry_encode(&e, img + 64 + pos, sizeof img - 64 - pos, &used), KVS_OK);
        pos += used;
        e.key = "evil2";
        CHECK_R(kvs_index_entry_encode(&e, img + 64 + pos, sizeof img - 64 - pos, &used), KVS_OK);
        pos += used;
        hh.copy = copy;
        hh.seq = (ch[0].seq > ch[1].seq ? ch[0].seq : ch[1].seq) + 5;
        hh.payload_len = pos;
        hh.payload_crc = kvs_crc32c(0, img + 64, pos);
        hh.store_id = ch[0].store_id;
        CHECK_R(kvs_ckpt_header_encode(&hh, img, 64), KVS_OK);
        {
            int fd = open(path, O_RDWR);
            CHECK(fd >= 0 && pwrite(fd, img, sizeof img, (off_t)l.ckpt_offset[copy]) == (ssize_t)sizeof img);
            close(fd);
        }
        s = reopen(path, err, sizeof err);
        CHECK(s != NULL);
        if (s != NULL) {
            CHECK(count_good(s, 20) == 20);
            CHECK_R(kvs_store_exists(s, "evil1", 5), KVS_NOT_FOUND);
            CHECK_R(kvs_store_close(s), KVS_OK);
        }
    }
    unlink(path);
}

/* Counters read from disk at or above 2^62 (checkpoint seq, gen_floor, an
   entry's or a slot's generation), in records whose CRCs are valid: the
   record is corrupt. The store opens from what else there is, and puts
   after it are stored and found (taken as they were, next_seq or next_gen
   would wrap to 0: puts refused, or a new value dropped as older). */
static void put_u64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void counters_after(const char *path, uint64_t n)
{
    char err[256];
    kvs_store *s = reopen(path, err, sizeof err);
    unsigned char buf[9200], rd[9200];
    uint64_t i, v;
    size_t got;
    CHECK(s != NULL);
    if (s == NULL) {
        fprintf(stderr, "reopen: %s\n", err);
        return;
    }
    for (i = 0; i < n; i++) /* all there (the index alone: no slot is read) */
        CHECK_R(kvs_store_exists(s, &i, sizeof i), KVS_OK);
    for (i = 0; i < n + 8; i++) { /* new values of old keys, and new keys */
        make_val(buf, i, 1000 + i);
        CHECK_R(kvs_store_put(s, &i, sizeof i, buf, vlen(1000 + i)), KVS_OK);
        if (i % 8 == 0)
            CHECK_R(kvs_store_sync(s), KVS_OK);
    }
    for (i = 0; i < n + 8; i++)
        CHECK(kvs_store_get(s, &i, sizeof i, rd, sizeof rd, &got) == KVS_OK && val_ok(rd, got, i, &v) &&
              v == 1000 + i);
    CHECK_R(kvs_store_sync(s), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    s = reopen(path, err, sizeof err);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    for (i = 0; i < n + 8; i++)
        CHECK(kvs_store_get(s, &i, sizeof i, rd, sizeof rd, &got) == KVS_OK && val_ok(rd, got, i, &v) &&
              v == 1000 + i);
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* A counter one below the bound (2^62 - 1) is a valid value, but the next
   one would be taken for corrupt by the restore: the store refuses what
   would need it with KVS_E_OVERFLOW -- a put (a generation past gen_floor)
   or a checkpoint (a seq, or a gen_floor past an entry's generation) --
   instead of writing values its next open drops (an acknowledged put
   lost, a removed key back). what: 0 gen_floor, 1 seq, 2 an entry's
   generation. */
static void counters_at_edge(const char *path, int what)
{
    int seq = what != 0; /* the checkpoint is refused: seq, or no floor */
    char err[256];
    kvs_store *s = reopen(path, err, sizeof err);
    unsigned char buf[9200], rd[9200];
    uint64_t i, k = 100, k2 = 101, one = 1;
    size_t got;
    kvs_result r, rp;
    CHECK(s != NULL);
    if (s == NULL) {
        fprintf(stderr, "reopen: %s\n", err);
        return;
    }
    for (i = 0; i < 30; i++)
        CHECK_R(kvs_store_exists(s, &i, sizeof i), KVS_OK);
    make_val(buf, k, 7);
    /* gen_floor 2^62 - 1: no generation is left (the one after it would
       be the next checkpoint's gen_floor, 2^62); seq 2^62 - 1: a put that
       needs a checkpoint (to raise the allocation limit) is refused, one
       that does not is stored */
    rp = kvs_store_put(s, &k, sizeof k, buf, vlen(7));
    CHECK(what == 1 ? (rp == KVS_OK || rp == KVS_E_OVERFLOW) : rp == KVS_E_OVERFLOW);
    if (!seq) {
        make_val(buf, k2, 7);
        CHECK_R(kvs_store_put(s, &k2, sizeof k2, buf, vlen(7)), KVS_E_OVERFLOW);
    }
    CHECK_R(kvs_store_remove(s, &one, sizeof one), KVS_OK);
    CHECK_R(kvs_store_sync(s), seq ? KVS_E_OVERFLOW : KVS_OK);
    r = kvs_store_close(s);
    CHECK(seq ? r == KVS_E_OVERFLOW : r == KVS_OK);
    s = reopen(path, err, sizeof err);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    for (i = 2; i < 30; i++)
        CHECK_R(kvs_store_exists(s, &i, sizeof i), KVS_OK);
    if (!seq) { /* the remove was synced: gone; the refused put: absent */
        CHECK_R(kvs_store_exists(s, &one, sizeof one), KVS_NOT_FOUND);
        CHECK_R(kvs_store_exists(s, &k2, sizeof k2), KVS_NOT_FOUND);
    }
    if (rp == KVS_OK) /* acknowledged: there, with its bytes */
        CHECK(kvs_store_get(s, &k, sizeof k, rd, sizeof rd, &got) == KVS_OK && val_ok(rd, got, k, &i) && i == 7);
    else
        CHECK_R(kvs_store_exists(s, &k, sizeof k), KVS_NOT_FOUND);
    (void)kvs_store_close(s);
}

static void test_huge_counters(void)
{
    char path[1200];
    kvs_layout l;
    int what;
    t_path(path, sizeof path, "counters");
    for (what = 0; what < 9; what++) {
        unsigned char h[64], *img = (unsigned char *)xalloc(1 << 20);
        kvs_ckpt_header ch[2], hh;
        int newest, fd;
        fill_closed(path, 30);
        CHECK(file_layout(path, &l) == 0);
        newest = read_ckpt_headers(path, &l, ch);
        hh = ch[newest];
        CHECK(hh.payload_len + 64 <= (1 << 20) && hh.payload_len >= KVS_INDEX_HEADER_BYTES + 32);
        CHECK(read_at(path, l.ckpt_offset[newest], img, 64 + (size_t)hh.payload_len) == 0);
        if (what == 5) {
            /* a slot's header, found by a full scan (both copies gone) */
            kvs_objhdr oh;
            unsigned char sh[4096];
            size_t used;
            uint64_t k = 3, off = l.slots_offset + 3 * l.slot_bytes;
            CHECK(read_at(path, off, sh, sizeof sh) == 0);
            CHECK_R(kvs_objhdr_decode(sh, sizeof sh, &oh), KVS_OK);
            CHECK(oh.key_len == sizeof k && memcmp(oh.key, &k, sizeof k) == 0);
            memcpy(h, oh.key, sizeof k);
            oh.key = h;
            oh.generation = UINT64_MAX;
            CHECK_R(kvs_objhdr_encode(&oh, sh, sizeof sh, &used), KVS_OK);
            fd = open(path, O_RDWR);
            CHECK(fd >= 0 && pwrite(fd, sh, used, (off_t)off) == (ssize_t)used);
            if (fd >= 0)
                close(fd);
            CHECK(poke(path, l.ckpt_offset[0] + 8, 0xff) == 0);
            CHECK(poke(path, l.ckpt_offset[1] + 8, 0xff) == 0);
            free(img);
            {
                char err[256];
                kvs_store *s = reopen(path, err, sizeof err);
                CHECK(s != NULL);
                if (s != NULL) {
                    CHECK(count_good(s, 30) == 29);
                    CHECK_R(kvs_store_exists(s, &k, sizeof k), KVS_NOT_FOUND);
                    CHECK_R(kvs_store_close(s), KVS_OK);
                }
            }
            counters_after(path, 0);
            unlink(path);
            continue;
        }
        switch (what) {
        case 0: hh.seq = UINT64_MAX; break;
        case 1: hh.seq = UINT64_MAX - 1; break;
        case 2: put_u64(img + 64 + 8, UINT64_MAX - 1); break;                       /* gen_floor */
        case 3: put_u64(img + 64 + 8, (uint64_t)1 << 62); break;                    /* the bound */
        case 6: put_u64(img + 64 + 8, ((uint64_t)1 << 62) - 1); break;              /* below it */
        case 7: hh.seq = ((uint64_t)1 << 62) - 1; break;
        case 8: put_u64(img + 64 + KVS_INDEX_HEADER_BYTES + 8, ((uint64_t)1 << 62) - 1); break;
        default: put_u64(img + 64 + KVS_INDEX_HEADER_BYTES + 8, UINT64_MAX); break; /* entry 0 */
        }
        hh.payload_crc = kvs_crc32c(0, img + 64, (size_t)hh.payload_len);
        CHECK_R(kvs_ckpt_header_encode(&hh, img, 64), KVS_OK);
        fd = open(path, O_RDWR);
        CHECK(fd >= 0 && pwrite(fd, img, 64 + (size_t)hh.payload_len, (off_t)l.ckpt_offset[newest]) ==
                             (ssize_t)(64 + hh.payload_len));
        if (fd >= 0)
            close(fd);
        free(img);
        if (what >= 6)
            counters_at_edge(path, what - 6);
        else
            counters_after(path, 30);
        unlink(path);
    }
}

/* A KVS_FORMAT_ALWAYS over a store, cut short at each write or sync in
   turn (the Nth fails, and nothing after it reaches the device, as in a
   crash there): what a reopen finds is the old store whole, an unformatted
   device, or the new empty store -- never the old store's objects brought
   back by a scan (a key removed and synced before stays gone). */
typedef struct cut {
    int n, calls; /* fail the nth write or sync; calls so far */
} cut;

static int cut_hit(cut *c)
{
    return ++c->calls == c->n;
}
static int64_t cut_pwrite(void *u, int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t r;
    if (cut_hit((cut *)u))
        return -EIO;
    r = pwrite(fd, buf, len, (off_t)off);
    return r < 0 ? -(int64_t)errno : (int64_t)r;
}
static int cut_sync(void *u, int fd)
{
    if (cut_hit((cut *)u))
        return -EIO;
    return fdatasync(fd) == 0 ? 0 : -errno;
}

static void test_format_cut_short(void)
{
    char path[1200], keep[1200], err[256];
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_sysops ops;
    cut ct;
    uint64_t gone = 5;
    int n, done = 0, seen_old = 0, seen_blank = 0, seen_new = 0;
    t_path(path, sizeof path, "fmtcut");
    t_path(keep, sizeof keep, "fmtcut.keep");
    fill_closed(path, 20);
    s = reopen(path, err, sizeof err);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK_R(kvs_store_remove(s, &gone, sizeof gone), KVS_OK);
    CHECK_R(kvs_store_sync(s), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    copy_file(path, keep);
    memset(&ops, 0, sizeof ops);
    ops.user = &ct;
    ops.pwrite = cut_pwrite;
    ops.fdatasync = cut_sync;
    ops.fsync = cut_sync;
    for (n = 1; !done && n < 100; n++) {
        kvs_result r;
        copy_file(keep, path);
        ct.n = n;
        ct.calls = 0;
        raw_cfg(&c, path, 8 * MiB, 12288, KVS_DIRECT_PREFER);
        c.format = KVS_FORMAT_ALWAYS;
        c.sysops = &ops;
        s = NULL;
        r = kvs_store_open(&c, &s, err, sizeof err);
        if (r == KVS_OK) {
            done = 1; /* the format made fewer than n calls */
            ct.n = 0;
            CHECK_R(kvs_store_close(s), KVS_OK);
        } else {
            CHECK_R(r, KVS_E_IO);
            CHECK(s == NULL);
        }
        raw_cfg(&c, path, 0, 0, KVS_DIRECT_PREFER);
        c.format = KVS_FORMAT_NEVER;
        s = NULL;
        r = kvs_store_open(&c, &s, err, sizeof err);
        if (r == KVS_E_MAGIC) {
            seen_blank++;
            CHECK(!done);
            continue;
        }
        CHECK_R(r, KVS_OK);
        if (s == NULL)
            continue;
        CHECK_R(kvs_store_exists(s, &gone, sizeof gone), KVS_NOT_FOUND);
        {
            uint64_t good = count_good(s, 20);
            kvs_store_stats st;
            kvs_store_get_stats(s, &st);
            CHECK(st.corruptions == 0);
            if (good == 19) {
                seen_old++; /* untouched */
                CHECK(!done && st.objects == 19);
            } else {
                seen_new++;
                CHECK(good == 0 && st.objects == 0);
            }
        }
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    CHECK(done);
    CHECK(seen_old >= 1 && seen_blank >= 1 && seen_new >= 1);
    unlink(path);
    unlink(keep);
}

static void test_torn_slots(void)
{
    char path[1200], err[256];
    kvs_layout l;
    kvs_store *s;
    kvs_store_stats st;
    unsigned char rd[9200];
    uint64_t i, v;
    size_t got;
    t_path(path, sizeof path, "torn");
    fill_closed(path, 10);
    CHECK(file_layout(path, &l) == 0);
    /* slots are handed out in order: key i is in slot i */
    CHECK(poke(path, l.slots_offset + 2 * l.slot_bytes + l.slot_header_bytes + 3, 0x80) == 0); /* payload */
    CHECK(poke(path, l.slots_offset + 5 * l.slot_bytes + 70, 0x01) == 0);                     /* key bytes */
    CHECK(poke(path, l.slots_offset + 7 * l.slot_bytes + 0, 0x01) == 0);                      /* magic */
    s = reopen(path, err, sizeof err);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    for (i = 0; i < 10; i++) {
        kvs_result r = kvs_store_get(s, &i, sizeof i, rd, sizeof rd, &got);
        if (i == 2 || i == 5 || i == 7) {
            CHECK_R(r, KVS_NOT_FOUND);
            CHECK_R(kvs_store_exists(s, &i, sizeof i), KVS_NOT_FOUND); /* dropped */
        } else {
            CHECK_R(r, KVS_OK);
            CHECK(val_ok(rd, got, i, &v) && v == i + 1);
        }
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.corruptions == 3 && st.objects == 7);
    /* the damaged slots are reused safely */
    for (i = 100; i < 140; i++) {
        unsigned char buf[9200];
        make_val(buf, i, 1);
        CHECK_R(kvs_store_put(s, &i, sizeof i, buf, vlen(1)), KVS_OK);
    }
    CHECK(count_good(s, 10) == 7);
    CHECK_R(kvs_store_close(s), KVS_OK);
    /* after a full scan (both checkpoints gone) the torn slot stays out */
    CHECK(poke(path, l.ckpt_offset[0] + 8, 0xff) == 0);
    CHECK(poke(path, l.ckpt_offset[1] + 8, 0xff) == 0);
    s = reopen(path, err, sizeof err);
    CHECK(s != NULL);
    if (s != NULL) {
        kvs_store_get_stats(s, &st);
        CHECK(st.objects == 47 && st.corruptions == 0);
        CHECK(count_good(s, 10) == 7);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    unlink(path);
}

/* The slot holding key k (its header decodes), or -1. */
static int64_t slot_of(const char *path, const kvs_layout *l, const void *k, size_t klen, uint64_t *gen)
{
    unsigned char h[4096];
    kvs_objhdr oh;
    uint64_t s;
    for (s = 0; s < l->slot_count; s++) {
        if (read_at(path, l->slots_offset + s * l->slot_bytes, h, sizeof h) != 0)
            return -1;
        if (kvs_objhdr_decode(h, sizeof h, &oh) == KVS_OK && oh.key_len == klen && memcmp(oh.key, k, klen) == 0) {
            *gen = oh.generation;
            return (int64_t)s;
        }
    }
    return -1;
}

/* Two crashes. The first tears two objects (their payloads fail the CRC);
   the restore must not hand their generations out again: the put that
   follows it, acknowledged, would otherwise carry a lower generation than
   the torn object of its key, and if that slot's payload came to read
   whole (the same bytes written there again, torn before the header), the
   second crash's restore would bring the old, never acknowledged value
   back over the acknowledged one. */
static void test_torn_generation(void)
{
    char path[1200], img[1200], img2[1200], err[256];
    static unsigned char v[100 * 1024], v2[100 * 1024], rd[100 * 1024];
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_layout l;
    int64_t sx, sk;
    uint64_t gx = 0, gk = 0, gk2 = 0, i;
    size_t got = 0;
    t_path(path, sizeof path, "tgen");
    t_path(img, sizeof img, "tgen.img");
    t_path(img2, sizeof img2, "tgen.img2");
    memset(v, 'V', sizeof v);
    memset(v2, '2', sizeof v2);
    raw_cfg(&c, path, 8 * MiB, 128 * 1024, KVS_DIRECT_OFF);
    c.durability = KVS_DURABLE_DATA;
    if (!CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK)) {
        fprintf(stderr, "open: %s\n", err);
        return;
    }
    for (i = 0; i < 5; i++)
        CHECK_R(kvs_store_put(s, &i, sizeof i, "x", 1), KVS_OK);
    CHECK_R(kvs_store_sync(s), KVS_OK);
    CHECK_R(kvs_store_put(s, "X", 1, v2, 1000), KVS_OK);
    CHECK_R(kvs_store_put(s, "K", 1, v, sizeof v), KVS_OK);
    copy_file(path, img); /* crash 1 */
    CHECK_R(kvs_store_close(s), KVS_OK);
    s = NULL;
    CHECK(file_layout(img, &l) == 0);
    sx = slot_of(img, &l, "X", 1, &gx);
    sk = slot_of(img, &l, "K", 1, &gk);
    if (!CHECK(sx >= 0 && sk >= 0 && gk > gx))
        return;
    /* the crash tore both: each payload's last byte did not land */
    CHECK(poke(img, l.slots_offset + (uint64_t)sx * l.slot_bytes + l.slot_header_bytes + 999, 0xff) == 0);
    CHECK(poke(img, l.slots_offset + (uint64_t)sk * l.slot_bytes + l.slot_header_bytes + sizeof v - 1, 0xff) == 0);
    raw_cfg(&c, img, 0, 0, KVS_DIRECT_OFF);
    c.format = KVS_FORMAT_NEVER;
    c.durability = KVS_DURABLE_DATA;
    if (!CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK)) {
        fprintf(stderr, "reopen: %s\n", err);
        return;
    }
    CHECK_R(kvs_store_get(s, "K", 1, rd, sizeof rd, &got), KVS_NOT_FOUND);
    CHECK_R(kvs_store_put(s, "K", 1, v2, sizeof v2), KVS_OK); /* acknowledged */
    {
        int64_t at = -1;
        uint64_t s2;
        unsigned char h[4096];
        kvs_objhdr oh;
        for (s2 = 0; s2 < l.slot_count && at < 0; s2++) /* the new K: the slot whose payload is v2 */
            if (read_at(img, l.slots_offset + s2 * l.slot_bytes, h, sizeof h) == 0 &&
                kvs_objhdr_decode(h, sizeof h, &oh) == KVS_OK && oh.key_len == 1 && memcmp(oh.key, "K", 1) == 0 &&
                (int64_t)s2 != sk)
            {
                at = (int64_t)s2;
                gk2 = oh.generation;
            }
        CHECK(at >= 0 && gk2 > gk); /* a generation above every one seen */
    }
    /* the torn slot's payload reads whole again; then crash 2 */
    CHECK(poke(img, l.slots_offset + (uint64_t)sk * l.slot_bytes + l.slot_header_bytes + sizeof v - 1, 0xff) == 0);
    copy_file(img, img2);
    CHECK_R(kvs_store_close(s), KVS_OK);
    s = NULL;
    c.paths = img2;
    if (CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK)) {
        CHECK_R(kvs_store_get(s, "K", 1, rd, sizeof rd, &got), KVS_OK);
        CHECK(got == sizeof v2 && memcmp(rd, v2, sizeof v2) == 0);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    unlink(path);
    unlink(img);
    unlink(img2);
}

static void test_superblock(void)
{
    char path[1200], err[256];
    kvs_store_config c;
    kvs_store *s = NULL;
    t_path(path, sizeof path, "sb");
    fill_closed(path, 3);
    CHECK(poke(path, 40, 0x10) == 0);
    raw_cfg(&c, path, 0, 0, KVS_DIRECT_PREFER);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_CHECKSUM); /* IF_EMPTY does not format it */
    CHECK(strstr(err, "superblock") != NULL);
    c.format = KVS_FORMAT_NEVER;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_CHECKSUM);
    CHECK(poke(path, 40, 0x10) == 0);
    s = reopen(path, err, sizeof err);
    CHECK(s != NULL);
    if (s != NULL) {
        CHECK(count_good(s, 3) == 3);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    /* every byte of the record damaged in turn: a clear refusal naming the
       superblock, never a format over it (IF_EMPTY), never an open; and
       nothing written: the store opens whole once the byte is back */
    {
        unsigned at;
        raw_cfg(&c, path, 0, 0, KVS_DIRECT_PREFER);
        for (at = 0; at < KVS_SB_RECORD_BYTES; at++) {
            kvs_result r;
            CHECK(poke(path, at, 0x01) == 0);
            s = NULL;
            err[0] = '\0';
            r = kvs_store_open(&c, &s, err, sizeof err);
            if (!CHECK(r == KVS_E_MAGIC || r == KVS_E_VERSION || r == KVS_E_CHECKSUM || r == KVS_E_CORRUPT ||
                       r == KVS_E_GEOMETRY))
                fprintf(stderr, "  superblock byte %u: %s\n", at, kvs_result_name(r));
            CHECK(s == NULL && err[0] != '\0');
            if (s != NULL)
                (void)kvs_store_close(s);
            CHECK(poke(path, at, 0x01) == 0);
        }
        s = reopen(path, err, sizeof err);
        CHECK(s != NULL);
        if (s != NULL) {
            CHECK(count_good(s, 3) == 3);
            CHECK_R(kvs_store_close(s), KVS_OK);
        }
    }
    /* magic damaged: foreign data */
    c.format = KVS_FORMAT_NEVER;
    CHECK(poke(path, 0, 0x20) == 0);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_MAGIC);
    unlink(path);
}

/* Object i of test_restart_time, read back whole: 1 when right. */
static int big_object_is(kvs_store *s, uint64_t i)
{
    char k[64];
    unsigned char rd[512], want[512];
    size_t got = 0, len = 100 + (size_t)(i % 400);
    keyname(k, sizeof k, i);
    t_fill_tag(want, sizeof want, i);
    if (!CHECK_R(kvs_store_get(s, k, strlen(k), rd, sizeof rd, &got), KVS_OK) ||
        !CHECK(got == len && memcmp(rd, want, len) == 0)) {
        fprintf(stderr, "  object %llu after the restart\n", (unsigned long long)i);
        return 0;
    }
    return 1;
}

/* Reopen time of a store with many entries (buffered fill, fast). */
static void test_restart_time(void)
{
    char path[1200], err[256];
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_store_stats st;
    const char *env = getenv("KVS_RAW_BIG");
    uint64_t n = env ? strtoull(env, NULL, 0) : (T_SAN ? 4000 : 20000), i;
    unsigned char buf[512];
    uint64_t t0, t1;
    t_path(path, sizeof path, "big");
    raw_cfg(&c, path, 4096 + (n + n / 8 + 256) * 8192 + 64 * MiB, 512, KVS_DIRECT_OFF);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    if (s == NULL) {
        fprintf(stderr, "open: %s\n", err);
        return;
    }
    for (i = 0; i < n; i++) {
        char k[64];
        keyname(k, sizeof k, i);
        t_fill_tag(buf, sizeof buf, i); /* every object its own bytes */
        if (kvs_store_put(s, k, strlen(k), buf, 100 + (size_t)(i % 400)) != KVS_OK) {
            CHECK(0);
            break;
        }
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
    s = NULL;
    c.format = KVS_FORMAT_NEVER;
    c.device_bytes = 0;
    c.direct = KVS_DIRECT_PREFER;
    t0 = kvsi_now_ns(0);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK);
    t1 = kvsi_now_ns(0);
    if (s != NULL) {
        kvs_store_get_stats(s, &st);
        CHECK(st.objects == n);
        fprintf(stderr, "restart of a raw store with %llu entries: %.1f ms\n", (unsigned long long)n,
                (double)(t1 - t0) / 1e6);
        /* every 37th object and the last, byte for byte, found through
           the loaded index */
        for (i = 0; i < n; i += 37)
            if (!big_object_is(s, i))
                break;
        CHECK(big_object_is(s, n - 1));
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    unlink(path);
}

int main(void)
{
    int r;
    t_init_seed("test_store_raw_restart", 0x5eed1234ULL);
    t_setup_dir("rawrs");
    for (r = 0; r < 3; r++)
        test_sigkill(r);
    CHECK(g_unacked_keys > 0); /* the kills left keys no put had acknowledged */
    test_stale_checkpoint();
    test_damaged_checkpoints();
    test_huge_counters();
    test_format_cut_short();
    test_torn_slots();
    test_torn_generation();
    test_superblock();
    test_restart_time();
    t_rm_rf(t_dir);
    return t_done("test_store_raw_restart");
}
