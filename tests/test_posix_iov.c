/* SPDX-License-Identifier: MIT OR Unlicense */
/* kvstore_posix.c vectored transfers (kvs_file_readv/writev): the alignment
   matrix over vectors (aligned and misaligned segments, direct and
   buffered, bytes on disk, padding, bounce counters, system calls per
   object), a random vector fuzz against a model of the file, more segments
   than one call takes, small bounce pieces, and fault injection through the
   preadv/pwritev hooks and through the pread/pwrite hooks alone (short
   transfers and EINTR mid-vector, errors, early EOF, lying hooks, stalls).
   Environment: KVS_TEST_DIR (scratch directory), KVS_SEED. An argument
   runs one part: m (matrix), f (fuzz), h (hooks and edges). */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static int plain_io(const char *path, int wr, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, wr ? O_WRONLY : O_RDONLY);
    size_t done = 0;
    if (fd < 0)
        return -1;
    while (done < len) {
        ssize_t n = wr ? pwrite(fd, (char *)buf + done, len - done, (off_t)(off + done))
                       : pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    return done == len ? 0 : -1;
}

static unsigned char *aligned_buf(size_t len)
{
    void *m = NULL;
    if (kvs_aligned_alloc(NULL, len, 65536, &m) != KVS_OK) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return (unsigned char *)m;
}

static void aligned_free(unsigned char *p, size_t len)
{
    kvs_aligned_free(NULL, p, len, 65536);
}

static kvs_file *open_file(const char *path, kvs_direct_policy pol, const kvs_sysops *ops, size_t bounce)
{
    kvs_file_config cfg;
    kvs_file *f = NULL;
    kvs_file_config_init(&cfg);
    cfg.direct = pol;
    cfg.flags = KVS_FILE_CREATE;
    cfg.sysops = ops;
    cfg.bounce_bytes = bounce;
    if (kvs_file_open(path, &cfg, &f) != KVS_OK)
        return NULL;
    return f;
}

/* ------------------------------------------------------------------ */
/* Vectors of up to 4 segments carved out of one source area: each segment
   a length from a list and a buffer aligned or at +1/+3. */
#define NSEG_MAX 4
#define REGION ((size_t)8 << 20)

typedef struct shape {
    size_t n;
    size_t len[NSEG_MAX];
    size_t mis[NSEG_MAX]; /* buffer misalignment: 0, 1 or 3 */
} shape;

/* Lay the segments out in src (each at a 64 KiB boundary plus mis). */
static void build(const shape *sh, unsigned char *area, kvs_iovec *iov)
{
    size_t i, pos = 0;
    for (i = 0; i < sh->n; i++) {
        iov[i].base = area + pos + sh->mis[i];
        iov[i].len = sh->len[i];
        pos += (size_t)kvsi_ru((uint64_t)sh->len[i] + 4, 65536);
    }
}

static size_t shape_total(const shape *sh)
{
    size_t i, t = 0;
    for (i = 0; i < sh->n; i++)
        t += sh->len[i];
    return t;
}

/* 1 when every segment moves straight: aligned buffer, a multiple of A. */
static int shape_aligned(const shape *sh, size_t A)
{
    size_t i;
    for (i = 0; i < sh->n; i++)
        if (sh->len[i] != 0 && (sh->mis[i] != 0 || sh->len[i] % A != 0))
            return 0;
    return 1;
}

static void gather(const kvs_iovec *iov, size_t n, unsigned char *out)
{
    size_t i, pos = 0;
    for (i = 0; i < n; i++) {
        memcpy(out + pos, iov[i].base, iov[i].len);
        pos += iov[i].len;
    }
}

static void test_matrix(kvs_direct_policy pol)
{
    char path[1200];
    kvs_file *f;
    kvs_file_info fi;
    size_t A, lens[10], nl = 0, total, i, a, b;
    unsigned char *src, *dst, *disk, *bg, *want;
    uint64_t rs = t_seed ^ 0x77 ^ (uint64_t)pol;
    int direct, oi;
    unsigned cases = 0, single_call = 0;

    t_path(path, sizeof path, pol == KVS_DIRECT_OFF ? "mx_buf" : "mx_dir");
    unlink(path);
    f = open_file(path, pol, NULL, 0);
    CHECK(f != NULL);
    if (f == NULL)
        return;
    kvs_file_get_info(f, &fi);
    direct = fi.direct;
    if (pol != KVS_DIRECT_OFF && !direct) {
        CHECK(!t_direct_ok(t_dir)); /* else the library failed to use it */
        printf("SKIP: %s refused O_DIRECT; the direct matrix runs buffered\n", t_dir);
    }
    A = fi.align;
    lens[nl++] = 0;
    lens[nl++] = 1;
    lens[nl++] = A - 1;
    lens[nl++] = A;
    lens[nl++] = A + 1;
    lens[nl++] = 3 * A + 100;
    lens[nl++] = 4096;
    lens[nl++] = 8192;
    lens[nl++] = 65536 + 7;
    lens[nl++] = ((size_t)1 << 20) + A + 1; /* more than one bounce piece */

    src = aligned_buf(REGION);
    dst = aligned_buf(REGION);
    disk = aligned_buf(REGION);
    bg = aligned_buf(REGION);
    want = aligned_buf(REGION);
    memset(bg, 0xEE, REGION);

    /* two segments: every pair of lengths, each aligned or not; then three-
       and four-segment shapes like a store's (header, payload, tail). */
    for (a = 0; a < nl * 3; a++) {
        for (b = 0; b < nl * 3 + 6; b++) {
            shape sh;
            kvs_iovec iov[NSEG_MAX], rv[NSEG_MAX];
            memset(&sh, 0, sizeof sh);
            if (b < nl * 3) {
                sh.n = 2;
                sh.len[0] = lens[a / 3];
                sh.mis[0] = a % 3 == 0 ? 0 : a % 3 == 1 ? 1 : 3;
                sh.len[1] = lens[b / 3];
                sh.mis[1] = b % 3 == 0 ? 0 : b % 3 == 1 ? 1 : 3;
                if (T_TSAN && (a % 3 == 2 || b % 3 == 2))
                    continue;
            } else {
                size_t k = b - nl * 3;
                if (a % 3 != 0)
                    continue;
                sh.n = k < 3 ? 3 : 4;
                sh.len[0] = 4096;
                sh.len[1] = lens[a / 3];
                sh.mis[1] = k % 3 == 2 ? 1 : 0;
                sh.len[2] = k % 3 == 0 ? A : k % 3 == 1 ? 100 : 8192;
                sh.len[3] = 3 * A;
            }
            total = shape_total(&sh);
            for (oi = 0; oi < 2; oi++) {
                uint64_t off = oi ? 8 * (uint64_t)A + 3 : 8 * (uint64_t)A;
                kvs_file_stats s0, s1;
                uint64_t padded = total;
                size_t win;
                kvs_result wr;
                build(&sh, src, iov);
                for (i = 0; i < sh.n; i++)
                    t_fill_random((unsigned char *)iov[i].base, iov[i].len, &rs);
                gather(iov, sh.n, want);
                win = (size_t)off + total + 131072;
                CHECK(plain_io(path, 1, 0, bg, win) == 0);
                kvs_file_get_stats(f, &s0);
                wr = kvs_file_writev(f, off, iov, sh.n);
                kvs_file_get_stats(f, &s1);
                cases++;
                if (total == 0) {
                    CHECK_R(wr, KVS_OK);
                    CHECK(s1.writes == s0.writes && s1.syscalls == s0.syscalls);
                    continue;
                }
                if (direct && oi) {
                    CHECK_R(wr, KVS_E_ALIGN);
                    CHECK(s1.syscalls == s0.syscalls && s1.writes == s0.writes); /* refused: uncounted */
                    CHECK(plain_io(path, 1, off, want, total) == 0); /* for the read below */
                } else {
                    CHECK_R(wr, KVS_OK);
                    CHECK_R(kvs_file_written_len(f, off, total, &padded), KVS_OK);
                    CHECK(plain_io(path, 0, 0, disk, win) == 0);
                    CHECK(memcmp(disk, bg, (size_t)off) == 0);
                    CHECK(memcmp(disk + off, want, total) == 0);
                    if (memcmp(disk + off, want, total) != 0) {
                        fprintf(stderr, "  shape n=%zu:", sh.n);
                        for (i = 0; i < sh.n; i++)
                            fprintf(stderr, " %zu+%zu", sh.len[i], sh.mis[i]);
                        for (i = 0; i < total && disk[off + i] == want[i]; i++)
                            ;
                        fprintf(stderr, " first diff at %zu, off %llu\n", i, (unsigned long long)off);
                    }
                    for (i = total; i < padded; i++)
                        if (disk[off + i] != 0)
                            break;
                    CHECK(i == padded); /* zero padding, as kvs_file_write */
                    CHECK(memcmp(disk + off + padded, bg, win - (size_t)(off + padded)) == 0);
                    CHECK(s1.writes - s0.writes == 1 && s1.bytes_written - s0.bytes_written == total);
                    if (!direct) {
                        CHECK(s1.bounce_bytes == s0.bounce_bytes && s1.bounce_calls == s0.bounce_calls);
                        CHECK(s1.syscalls - s0.syscalls == 1);
                    } else {
                        uint64_t bb = s1.bounce_bytes - s0.bounce_bytes;
                        CHECK(s1.pad_bytes - s0.pad_bytes == padded - total);
                        if (shape_aligned(&sh, A)) {
                            CHECK(bb == 0 && s1.bounce_calls == s0.bounce_calls);
                        } else {
                            /* the last partial block always bounces; a
                               misaligned segment may come back into phase
                               with the file and move straight again */
                            CHECK(bb >= total % A && bb <= total);
                            if (sh.n == 2 && sh.mis[0] != 0 && sh.len[0] >= A)
                                CHECK(bb >= sh.len[0]);
                            CHECK(s1.bounce_calls - s0.bounce_calls == 1);
                        }
                        /* one call whenever the bounced bytes fit one piece */
                        if (bb + 2 * A <= fi.bounce_bytes) {
                            CHECK(s1.syscalls - s0.syscalls == 1);
                            single_call++;
                        }
                        /* only a misaligned length or buffer costs a bounce:
                           an aligned header, then an aligned payload with a
                           tail bounces exactly the tail */
                        if (sh.n == 2 && sh.mis[0] == 0 && sh.len[0] % A == 0 && sh.mis[1] == 0)
                            CHECK(bb == sh.len[1] % A);
                    }
                }
                /* read back with another split of the same bytes */
                {
                    shape rsh = sh;
                    kvs_file_stats r0, r1;
                    for (i = 0; i < rsh.n; i++)
                        rsh.mis[i] = (rsh.mis[i] + i + 1) % 3 == 0 ? 0 : rsh.mis[(i + 1) % rsh.n];
                    if (rsh.n == 2 && rsh.len[0] > 0 && rsh.len[1] > 0 && (a + b) % 2 == 0) {
                        size_t mv = rsh.len[0] / 2;
                        rsh.len[0] -= mv;
                        rsh.len[1] += mv;
                    }
                    build(&rsh, dst, rv);
                    for (i = 0; i < rsh.n; i++)
                        memset(rv[i].base, 0x5A, rv[i].len);
                    kvs_file_get_stats(f, &r0);
                    CHECK_R(kvs_file_readv(f, off, rv, rsh.n), KVS_OK);
                    kvs_file_get_stats(f, &r1);
                    gather(rv, rsh.n, disk);
                    CHECK(memcmp(disk, want, total) == 0);
                    CHECK(r1.reads - r0.reads == 1 && r1.bytes_read - r0.bytes_read == total);
                    if (!direct)
                        CHECK(r1.bounce_bytes == r0.bounce_bytes && r1.syscalls - r0.syscalls == 1);
                    else if (!oi && shape_aligned(&rsh, A))
                        CHECK(r1.bounce_bytes == r0.bounce_bytes && r1.bounce_calls == r0.bounce_calls &&
                              r1.syscalls - r0.syscalls == 1);
                    else if (oi) /* misaligned offset: the first segment bounces */
                        CHECK(r1.bounce_bytes - r0.bounce_bytes > 0 &&
                              r1.bounce_bytes - r0.bounce_bytes <= total);
                    else
                        CHECK(r1.bounce_bytes - r0.bounce_bytes >= total % A &&
                              r1.bounce_bytes - r0.bounce_bytes <= total);
                }
            }
        }
    }
    if (direct)
        CHECK(single_call > 100);
    printf("  matrix %s: %u vectors, %u checked for one call\n", direct ? "direct" : "buffered", cases,
           single_call);
    CHECK_R(kvs_file_close(f), KVS_OK);
    unlink(path);
    aligned_free(src, REGION);
    aligned_free(dst, REGION);
    aligned_free(disk, REGION);
    aligned_free(bg, REGION);
    aligned_free(want, REGION);
}

/* ------------------------------------------------------------------ */
/* Random vectors (up to 150 segments: several calls) written and read back
   against an in-memory model of the file. */
static void test_fuzz(kvs_direct_policy pol, size_t bounce)
{
    char path[1200];
    kvs_file *f;
    kvs_file_info fi;
    const size_t fsize = (size_t)4 << 20;
    unsigned char *model = (unsigned char *)malloc(fsize), *src = aligned_buf(fsize * 2),
                  *dst = aligned_buf(fsize * 2), *tmp = (unsigned char *)malloc(fsize);
    uint64_t rs = t_seed ^ 0xf022 ^ (uint64_t)pol ^ bounce;
    unsigned it, iters = bounce != 0 ? 40 : T_TSAN ? 60 : 300; /* one-unit pieces: slow */
    kvs_iovec iov[160];

    t_path(path, sizeof path, "fuzz");
    unlink(path);
    f = open_file(path, pol, NULL, bounce);
    CHECK(f != NULL && model != NULL && tmp != NULL);
    if (f == NULL || model == NULL || tmp == NULL)
        return;
    kvs_file_get_info(f, &fi);
    memset(model, 0, fsize);
    CHECK(plain_io(path, 1, 0, model, fsize) == 0);
    for (it = 0; it < iters; it++) {
        size_t n = 1 + (size_t)(t_rng_next(&rs) % (it % 7 == 0 ? 150 : 6)), i, pos = 0, total = 0;
        int wr = (int)(t_rng_next(&rs) % 2);
        uint64_t off = t_rng_next(&rs) % (fsize / 2);
        kvs_file_stats s0, s1;
        kvs_result r;
        if (fi.direct && (wr || t_rng_next(&rs) % 2))
            off -= off % fi.align;
        for (i = 0; i < n; i++) {
            uint64_t k = t_rng_next(&rs);
            size_t len;
            switch (k % 5) {
            case 0: len = (size_t)(k >> 8) % 64; break;
            case 1: len = fi.align * (1 + (size_t)(k >> 8) % 8); break;
            case 2: len = (size_t)(k >> 8) % 20000; break;
            case 3: len = 4096; break;
            default: len = (size_t)(k >> 8) % 300000; break;
            }
            if (total + len > fsize / 2 - 2 * 65536)
                len = 0;
            iov[i].base = src + pos + ((k >> 40) % 4 == 0 ? (k >> 44) % 64 : 0);
            iov[i].len = len;
            pos += (size_t)kvsi_ru((uint64_t)len + 64, 4096);
            total += len;
        }
        kvs_file_get_stats(f, &s0);
        if (wr) {
            for (i = 0; i < n; i++)
                t_fill_random((unsigned char *)iov[i].base, iov[i].len, &rs);
            r = kvs_file_writev(f, off, iov, n);
            CHECK_R(r, KVS_OK);
            if (r == KVS_OK) {
                uint64_t padded = 0;
                gather(iov, n, model + off);
                CHECK_R(kvs_file_written_len(f, off, total, &padded), KVS_OK);
                if (padded > total)
                    memset(model + off + total, 0, (size_t)(padded - total));
            }
        } else {
            for (i = 0; i < n; i++) {
                iov[i].base = dst + ((unsigned char *)iov[i].base - src);
                memset(iov[i].base, 0x33, iov[i].len);
            }
            r = kvs_file_readv(f, off, iov, n);
            CHECK_R(r, KVS_OK);
            gather(iov, n, tmp);
            CHECK(memcmp(tmp, model + off, total) == 0);
        }
        kvs_file_get_stats(f, &s1);
        CHECK(s1.bounce_bytes - s0.bounce_bytes <= total);
        CHECK(total == 0 || s1.syscalls > s0.syscalls);
        if (!fi.direct && total > 0) /* calls: one per KVS_IOV_BATCH non-empty segments */
        {
            size_t ne = 0;
            for (i = 0; i < n; i++)
                ne += iov[i].len > 0;
            CHECK(s1.syscalls - s0.syscalls == (ne + KVSI_IOV_N - 1) / KVSI_IOV_N);
        }
    }
    CHECK(plain_io(path, 0, 0, tmp, fsize) == 0);
    CHECK(memcmp(tmp, model, fsize) == 0);
    CHECK_R(kvs_file_close(f), KVS_OK);
    unlink(path);
    free(model);
    free(tmp);
    aligned_free(src, fsize * 2);
    aligned_free(dst, fsize * 2);
}

/* ------------------------------------------------------------------ */
/* Hooks. */
enum { H_NONE, H_SHORT, H_EINTR, H_ERR, H_ZERO, H_LIE, H_HUGE };
typedef struct hook {
    int kind;
    unsigned every;     /* act on every Nth call */
    unsigned calls, vcalls, segs_max;
    unsigned fail_seg;  /* scalar hooks: fail the call into this segment index (1-based) */
    const void *seg_lo; /* scalar hooks: fail a call whose buffer starts here */
    size_t unit;
} hook;

static int hook_hit(hook *h)
{
    h->calls++;
    return h->every != 0 && h->calls % h->every == 0;
}

static int64_t h_rwv(void *u, int wr, int fd, const kvs_iovec *kv, int cnt, uint64_t off)
{
    hook *h = (hook *)u;
    struct iovec v[KVS_IOV_BATCH];
    size_t total = 0, ask;
    int i, hit = hook_hit(h);
    ssize_t n;
    h->vcalls++;
    if ((unsigned)cnt > h->segs_max)
        h->segs_max = (unsigned)cnt;
    if (cnt < 2 || cnt > KVS_IOV_BATCH)
        return -EINVAL; /* the layer promised 2..KVS_IOV_BATCH */
    for (i = 0; i < cnt; i++) {
        v[i].iov_base = kv[i].base;
        v[i].iov_len = kv[i].len;
        total += kv[i].len;
    }
    ask = total;
    if (hit) {
        switch (h->kind) {
        case H_EINTR: return -EINTR;
        case H_ERR: return -EIO;
        case H_HUGE: return INT64_MIN; /* no errno: must read as EIO */
        case H_ZERO: return 0;
        case H_SHORT:
            /* stop inside the second segment when there is one */
            ask = kv[0].len + kv[1].len / 2;
            ask -= ask % h->unit;
            if (ask == 0)
                ask = total;
            break;
        default: break;
        }
    }
    if (ask < total) { /* cut the vector at ask */
        size_t left = ask;
        for (i = 0; i < cnt && left > 0; i++) {
            if (v[i].iov_len > left)
                v[i].iov_len = left;
            left -= v[i].iov_len;
        }
        cnt = i;
    }
    n = wr ? pwritev(fd, v, cnt, (off_t)off) : preadv(fd, v, cnt, (off_t)off);
    if (n < 0)
        return -(int64_t)errno;
    if (hit && h->kind == H_LIE)
        return (int64_t)n + 1;
    return (int64_t)n;
}

static int64_t h_preadv(void *u, int fd, const kvs_iovec *kv, int cnt, uint64_t off)
{
    return h_rwv(u, 0, fd, kv, cnt, off);
}

static int64_t h_pwritev(void *u, int fd, const kvs_iovec *kv, int cnt, uint64_t off)
{
    return h_rwv(u, 1, fd, kv, cnt, off);
}

/* Scalar hooks: they see each segment of a vector when no vector hook is set. */
static int64_t h_rw(void *u, int wr, int fd, void *buf, size_t len, uint64_t off)
{
    hook *h = (hook *)u;
    ssize_t n;
    size_t ask = len;
    int hit = hook_hit(h);
    if (h->seg_lo != NULL && buf == h->seg_lo)
        return -EIO;
    if (hit) {
        switch (h->kind) {
        case H_EINTR: return -EINTR;
        case H_ERR: return -EIO;
        case H_HUGE: return INT64_MIN; /* no errno: must read as EIO */
        case H_ZERO: return 0;
        case H_SHORT:
            ask = len / 2;
            ask -= ask % h->unit;
            if (ask == 0)
                ask = len;
            break;
        default: break;
        }
    }
    n = wr ? pwrite(fd, buf, ask, (off_t)off) : pread(fd, buf, ask, (off_t)off);
    if (n < 0)
        return -(int64_t)errno;
    if (hit && h->kind == H_LIE)
        return (int64_t)n + 1;
    return (int64_t)n;
}

static int64_t h_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    return h_rw(u, 0, fd, buf, len, off);
}

static int64_t h_pwrite(void *u, int fd, const void *buf, size_t len, uint64_t off)
{
    return h_rw(u, 1, fd, (void *)(uintptr_t)buf, len, off);
}

static void test_hooks(void)
{
    char path[1200];
    const size_t hdr = 4096, plen = ((size_t)256 << 10) + 777, cap = hdr + plen + 65536;
    unsigned char *h_w = aligned_buf(hdr), *p_w = aligned_buf(cap), *h_r = aligned_buf(hdr),
                  *p_r = aligned_buf(cap), *disk = aligned_buf(cap);
    uint64_t rs = t_seed ^ 0x400c;
    int pol, vec, kind;
    unsigned every;

    t_path(path, sizeof path, "hooks");
    for (pol = 0; pol < 2; pol++) {
        for (vec = 0; vec < 2; vec++) {
            for (kind = H_NONE; kind <= H_EINTR; kind++) {
                for (every = 1; every <= 3; every++) {
                    hook hk;
                    kvs_sysops ops;
                    kvs_file *f;
                    kvs_file_info fi;
                    kvs_file_stats s0, s1;
                    kvs_iovec w[2], r[2];
                    if (kind == H_NONE && every > 1)
                        continue;
                    if (kind == H_EINTR && every == 1)
                        continue; /* never progresses: the stall case below */
                    memset(&hk, 0, sizeof hk);
                    memset(&ops, 0, sizeof ops);
                    ops.user = &hk;
                    if (vec) {
                        ops.preadv = h_preadv;
                        ops.pwritev = h_pwritev;
                    } else {
                        ops.pread = h_pread;
                        ops.pwrite = h_pwrite;
                    }
                    unlink(path);
                    f = open_file(path, pol ? KVS_DIRECT_PREFER : KVS_DIRECT_OFF, &ops, 0);
                    CHECK(f != NULL);
                    if (f == NULL)
                        continue;
                    kvs_file_get_info(f, &fi);
                    hk.unit = fi.direct ? kvsi_max_sz(fi.align, fi.buf_align) : 1;
                    hk.kind = kind;
                    hk.every = every;
                    t_fill_random(h_w, hdr, &rs);
                    t_fill_random(p_w, plen, &rs);
                    w[0].base = h_w;
                    w[0].len = hdr;
                    w[1].base = p_w;
                    w[1].len = plen;
                    kvs_file_get_stats(f, &s0);
                    CHECK_R(kvs_file_writev(f, 0, w, 2), KVS_OK);
                    kvs_file_get_stats(f, &s1);
                    CHECK(plain_io(path, 0, 0, disk, hdr + plen) == 0);
                    CHECK(memcmp(disk, h_w, hdr) == 0 && memcmp(disk + hdr, p_w, plen) == 0);
                    /* an interrupted or shortened call was resumed (an
                       EINTR after a segment moved is a short transfer) */
                    if ((kind == H_SHORT || kind == H_EINTR) && every == 2 && hk.calls >= every)
                        CHECK(s1.short_transfers + s1.eintr_retries > s0.short_transfers + s0.eintr_retries);
                    memset(h_r, 0, hdr);
                    memset(p_r, 0, plen);
                    r[0].base = h_r;
                    r[0].len = hdr;
                    r[1].base = p_r;
                    r[1].len = plen;
                    CHECK_R(kvs_file_readv(f, 0, r, 2), KVS_OK);
                    CHECK(memcmp(h_r, h_w, hdr) == 0 && memcmp(p_r, p_w, plen) == 0);
                    /* the payload with a misaligned buffer: bounced, still resumed */
                    memset(p_r, 0, plen + 1);
                    r[1].base = p_r + 1;
                    CHECK_R(kvs_file_readv(f, 0, r, 2), KVS_OK);
                    CHECK(memcmp(p_r + 1, p_w, plen) == 0);
                    if (vec) {
                        CHECK(hk.vcalls > 0 && hk.segs_max >= 2); /* the vector hook got vectors */
                    } else if (kind == H_NONE) {
                        /* fallback: every segment through the scalar hook */
                        CHECK(hk.calls >= 6);
                    }
                    CHECK_R(kvs_file_close(f), KVS_OK);
                }
            }
        }
    }

    /* errors, EOF, lies, stalls, with each hook style */
    for (pol = 0; pol < 2; pol++) {
        for (vec = 0; vec < 2; vec++) {
            hook hk;
            kvs_sysops ops;
            kvs_file *f;
            kvs_file_info fi;
            kvs_iovec w[2], r[2];
            uint64_t fsz;
            memset(&hk, 0, sizeof hk);
            memset(&ops, 0, sizeof ops);
            ops.user = &hk;
            if (vec) {
                ops.preadv = h_preadv;
                ops.pwritev = h_pwritev;
            } else {
                ops.pread = h_pread;
                ops.pwrite = h_pwrite;
            }
            unlink(path);
            f = open_file(path, pol ? KVS_DIRECT_PREFER : KVS_DIRECT_OFF, &ops, 0);
            CHECK(f != NULL);
            if (f == NULL)
                continue;
            kvs_file_get_info(f, &fi);
            hk.unit = fi.direct ? kvsi_max_sz(fi.align, fi.buf_align) : 1;
            w[0].base = h_w;
            w[0].len = hdr;
            w[1].base = p_w;
            w[1].len = plen;
            r[0].base = h_r;
            r[0].len = hdr;
            r[1].base = p_r;
            r[1].len = plen;
            CHECK_R(kvs_file_writev(f, 0, w, 2), KVS_OK);
            hk.kind = H_ERR;
            hk.every = 1;
            CHECK_R(kvs_file_writev(f, 0, w, 2), KVS_E_IO);
            CHECK_R(kvs_file_readv(f, 0, r, 2), KVS_E_IO);
            hk.kind = H_HUGE;
            CHECK_R(kvs_file_writev(f, 0, w, 2), KVS_E_IO);
            CHECK_R(kvs_file_readv(f, 0, r, 2), KVS_E_IO);
            hk.kind = H_ZERO; /* no progress: bounded */
            CHECK_R(kvs_file_writev(f, 0, w, 2), KVS_E_IO);
            CHECK_R(kvs_file_readv(f, 0, r, 2), KVS_E_EOF);
            hk.kind = H_LIE;
            CHECK_R(kvs_file_writev(f, 0, w, 2), KVS_E_IO);
            CHECK_R(kvs_file_readv(f, 0, r, 2), KVS_E_IO);
            hk.kind = H_NONE;
            hk.every = 0;
            if (!vec) {
                /* the scalar hook fails the payload segment only: the call's error */
                hk.seg_lo = p_r;
                CHECK_R(kvs_file_readv(f, 0, r, 2), KVS_E_IO);
                hk.seg_lo = NULL;
            }
            /* early EOF: the vector runs past the end of the file */
            CHECK_R(kvs_file_size(f, &fsz), KVS_OK);
            CHECK_R(kvs_file_readv(f, fsz - hdr, r, 2), KVS_E_EOF);
            /* ...but a read whose data ends before EOF inside the padding is fine */
            r[1].len = plen - 5;
            CHECK_R(kvs_file_readv(f, 0, r, 2), KVS_OK);
            CHECK(memcmp(p_r, p_w, plen - 5) == 0);
            CHECK_R(kvs_file_close(f), KVS_OK);
        }
    }
    unlink(path);
    aligned_free(h_w, hdr);
    aligned_free(h_r, hdr);
    aligned_free(p_w, cap);
    aligned_free(p_r, cap);
    aligned_free(disk, cap);
}

/* ------------------------------------------------------------------ */
static void test_edges(void)
{
    char path[1200];
    kvs_file *f, *g;
    kvs_file_info fi;
    kvs_file_config cfg;
    kvs_file_stats s0, s1;
    unsigned char *buf = aligned_buf((size_t)1 << 20), *rd = aligned_buf((size_t)1 << 20);
    kvs_iovec v[3];
    uint64_t rs = t_seed ^ 0xed6e;
    size_t i;

    t_path(path, sizeof path, "edges");
    unlink(path);
    f = open_file(path, KVS_DIRECT_PREFER, NULL, 0);
    CHECK(f != NULL);
    if (f == NULL)
        return;
    kvs_file_get_info(f, &fi);
    /* empty vectors, empty segments, a NULL base */
    CHECK_R(kvs_file_writev(f, 0, NULL, 0), KVS_OK);
    v[0].base = NULL;
    v[0].len = 0;
    v[1].base = buf;
    v[1].len = 0;
    CHECK_R(kvs_file_writev(f, 0, v, 2), KVS_OK);
    CHECK_R(kvs_file_readv(f, 0, v, 2), KVS_OK);
    v[0].len = 1;
    CHECK_R(kvs_file_writev(f, 0, v, 2), KVS_E_INVAL);
    CHECK_R(kvs_file_readv(f, 0, v, 2), KVS_E_INVAL);
    /* an empty segment between two aligned ones changes nothing */
    t_fill_random(buf, 3 * fi.align, &rs);
    v[0].base = buf;
    v[0].len = fi.align;
    v[1].base = NULL;
    v[1].len = 0;
    v[2].base = buf + fi.align;
    v[2].len = 2 * fi.align;
    kvs_file_get_stats(f, &s0);
    CHECK_R(kvs_file_writev(f, 0, v, 3), KVS_OK);
    kvs_file_get_stats(f, &s1);
    CHECK(s1.syscalls - s0.syscalls == 1 && s1.bounce_bytes == s0.bounce_bytes);
    v[0].base = rd;
    v[2].base = rd + fi.align;
    CHECK_R(kvs_file_readv(f, 0, v, 3), KVS_OK);
    CHECK(memcmp(rd, buf, 3 * fi.align) == 0);
    /* overflow of the file offset */
    v[0].base = buf;
    CHECK_R(kvs_file_readv(f, (uint64_t)INT64_MAX - 10, v, 1), KVS_E_OVERFLOW);
    /* 200 aligned segments: several calls of at most KVS_IOV_BATCH */
    {
        kvs_iovec many[200];
        for (i = 0; i < 200; i++) {
            many[i].base = buf + (i % 8) * 4096;
            many[i].len = fi.direct ? fi.align : 512;
        }
        kvs_file_get_stats(f, &s0);
        CHECK_R(kvs_file_writev(f, 0, many, 200), KVS_OK);
        CHECK_R(kvs_file_readv(f, 0, many, 200), KVS_OK);
        kvs_file_get_stats(f, &s1);
        CHECK(s1.syscalls - s0.syscalls == 2 * ((200 + KVSI_IOV_N - 1) / KVSI_IOV_N));
        CHECK(s1.bounce_bytes == s0.bounce_bytes);
    }
    CHECK_R(kvs_file_close(f), KVS_OK);

    /* a small bounce piece: misaligned segments go in several calls */
    g = open_file(path, KVS_DIRECT_PREFER, NULL, 1);
    CHECK(g != NULL);
    if (g != NULL) {
        size_t len = 10 * fi.align + 77;
        kvs_file_get_info(g, &fi);
        t_fill_random(buf, len + 1, &rs);
        v[0].base = buf;
        v[0].len = fi.align;
        v[1].base = buf + fi.align + 1;
        v[1].len = len;
        kvs_file_get_stats(g, &s0);
        CHECK_R(kvs_file_writev(g, 0, v, 2), KVS_OK);
        kvs_file_get_stats(g, &s1);
        if (fi.direct) {
            CHECK(s1.syscalls - s0.syscalls >= 5);
            CHECK(s1.bounce_bytes - s0.bounce_bytes == len);
        }
        memset(rd, 0, len + 2 * fi.align);
        v[0].base = rd;
        v[1].base = rd + fi.align + 3;
        CHECK_R(kvs_file_readv(g, 0, v, 2), KVS_OK);
        CHECK(memcmp(rd, buf, fi.align) == 0 && memcmp(rd + fi.align + 3, buf + fi.align + 1, len) == 0);
        CHECK_R(kvs_file_close(g), KVS_OK);
    }

    /* read-only: writev refused */
    kvs_file_config_init(&cfg);
    cfg.flags = KVS_FILE_RDONLY;
    CHECK_R(kvs_file_open(path, &cfg, &g), KVS_OK);
    if (g != NULL) {
        v[0].base = buf;
        v[0].len = 512;
        CHECK_R(kvs_file_writev(g, 0, v, 1), KVS_E_PERM);
        CHECK_R(kvs_file_close(g), KVS_OK);
    }
    unlink(path);
    aligned_free(buf, (size_t)1 << 20);
    aligned_free(rd, (size_t)1 << 20);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : "";
    t_init_seed("test_posix_iov", 0x10ec5eedULL);
    t_setup_dir("iov");
    if (only[0] == 'm') {
        test_matrix(KVS_DIRECT_PREFER);
        test_matrix(KVS_DIRECT_OFF);
        return t_done("test_posix_iov");
    }
    if (only[0] == 'f') {
        test_fuzz(KVS_DIRECT_PREFER, 0);
        printf("f1 %lu\n", t_failures());
        test_fuzz(KVS_DIRECT_PREFER, 1);
        printf("f2 %lu\n", t_failures());
        test_fuzz(KVS_DIRECT_OFF, 0);
        return t_done("test_posix_iov");
    }
    if (only[0] == 'h') {
        test_hooks();
        test_edges();
        return t_done("test_posix_iov");
    }
    test_matrix(KVS_DIRECT_PREFER);
    test_matrix(KVS_DIRECT_OFF);
    test_fuzz(KVS_DIRECT_PREFER, 0);
    test_fuzz(KVS_DIRECT_PREFER, 1); /* one-unit bounce pieces */
    test_fuzz(KVS_DIRECT_OFF, 0);
    test_hooks();
    test_edges();
    t_remove_empty_dir();
    return t_done("test_posix_iov");
}
