/* SPDX-License-Identifier: MIT OR Unlicense */
/* Filesystem store: configuration, round trips of many sizes (direct and
   buffered, aligned and misaligned buffers), sharding over several
   directories, path-set changes, orphan clean-up, close and reopen,
   capacity with LRU eviction and pins, iteration, batches, bad keys, and
   concurrent threads on the same and different keys.
   Environment: KVS_TEST_DIR (scratch directory), KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "test_store_fs_util.h"
#include "test_store_jobs.h"

/* ------------------------------------------------------------------ */
static void test_config(void)
{
    kvs_store_config c, eff;
    kvs_store *s = NULL;
    char d[1100], err[256];
    t_path(d, sizeof d, "cfg");
    cfg_fs(&c, d);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s != NULL) {
        kvs_store_get_config(s, &eff);
        CHECK(eff.file_mode == 0600);
        CHECK(eff.temp_max_age_s == 600);
        CHECK(eff.shard == KVS_SHARD_RENDEZVOUS);
        CHECK(eff.direct == KVS_DIRECT_PREFER);
        CHECK(strcmp(eff.paths, d) == 0);
        CHECK(kvs_store_buffer_align(s) >= 1);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    cfg_fs(&c, d);
    c.file_mode = 0400;
    err[0] = '\0';
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_INVAL);
    CHECK(strstr(err, "file_mode") != NULL);
    cfg_fs(&c, "");
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_EMPTY);
    CHECK(strstr(err, "paths") != NULL);
    cfg_fs(&c, "/a,/a");
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_DUPLICATE);
    cfg_fs(&c, d);
    c.meta_bytes = 4096;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_INVAL);
    CHECK(strstr(err, "meta_bytes") != NULL);
    /* a file where a directory should be */
    {
        char f[1200];
        FILE *fp;
        snprintf(f, sizeof f, "%s/plainfile", t_dir);
        fp = fopen(f, "w");
        if (fp)
            fclose(fp);
        cfg_fs(&c, f);
        CHECK(kvs_store_open(&c, &s, err, sizeof err) != KVS_OK);
        CHECK(strstr(err, "plainfile") != NULL);
        remove(f);
    }
}

/* ------------------------------------------------------------------ */
static void roundtrip_policy(kvs_direct_policy pol, const char *dname)
{
    static const size_t sizes[] = {0, 1, 100, 511, 512, 4095, 4096, 4097, 8192 + 100, 65536,
                                   (size_t)2 << 20, ((size_t)3 << 20) + 17};
    kvs_store_config c;
    kvs_store *s;
    char d[1100];
    size_t i, ba, maxsz = ((size_t)3 << 20) + 4096 * 2;
    unsigned char *src = NULL, *dst = NULL;
    t_path(d, sizeof d, dname);
    cfg_fs(&c, d);
    c.direct = pol;
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    ba = kvs_store_buffer_align(s);
    if (ba < 4096)
        ba = 4096;
    src = (unsigned char *)t_xalloc_aligned(maxsz + ba, ba);
    dst = (unsigned char *)t_xalloc_aligned(maxsz + ba, ba);
    for (i = 0; src && dst && i < sizeof sizes / sizeof sizes[0]; i++) {
        int mis;
        for (mis = 0; mis < 2; mis++) {
            size_t n = sizes[i], got = 12345;
            char key[64];
            unsigned char *sp = src + mis, *dp = dst + mis;
            kvs_store_stats st0, st1;
            int kl = snprintf(key, sizeof key, "rt/%d/%zu/%d", (int)pol, n, mis);
            t_fill_tag(sp, n, (uint64_t)(i * 2 + (size_t)mis + 1));
            kvs_store_get_stats(s, &st0);
            CHECK_R(kvs_store_put(s, key, (size_t)kl, sp, n), KVS_OK);
            memset(dp, 0xAB, n + 1);
            CHECK_R(kvs_store_get(s, key, (size_t)kl, dp, n, &got), KVS_OK);
            CHECK(got == n);
            CHECK(memcmp(sp, dp, n) == 0);
            CHECK(dp[n] == 0xAB); /* nothing past the object */
            kvs_store_get_stats(s, &st1);
            if (pol == KVS_DIRECT_REQUIRE && !mis && (n % 4096) == 0)
                CHECK(st1.bounce_bytes == st0.bounce_bytes); /* zero-copy */
            if (pol == KVS_DIRECT_REQUIRE && mis && n > 0)
                CHECK(st1.bounce_bytes > st0.bounce_bytes);
            CHECK_R(kvs_store_exists(s, key, (size_t)kl), KVS_OK);
            if (n > 0) {
                got = 0;
                CHECK_R(kvs_store_get(s, key, (size_t)kl, dp, n - 1, &got), KVS_E_BUFSIZE);
                CHECK(got == n);
            }
        }
    }
    /* the file layout: header at 0, payload at 4096 (FORMAT 7.1) */
    {
        char path[1400], name[300];
        size_t nl = 0;
        unsigned char hb[4096];
        kvs_objhdr h;
        FILE *fp;
        const char *key = "rt/layout";
        t_fill_tag(src, 5000, 99);
        CHECK_R(kvs_store_put(s, key, strlen(key), src, 5000), KVS_OK);
        CHECK_R(kvs_fsname_encode(key, strlen(key), name, sizeof name, &nl, NULL), KVS_OK);
        snprintf(path, sizeof path, "%s/%s", d, name);
        fp = fopen(path, "rb");
        CHECK(fp != NULL);
        if (fp != NULL) {
            struct stat sb;
            CHECK(fread(hb, 1, sizeof hb, fp) == sizeof hb);
            CHECK_R(kvs_objhdr_decode(hb, sizeof hb, &h), KVS_OK);
            CHECK(h.payload_offset == 4096);
            CHECK(h.payload_len == 5000);
            CHECK(h.key_len == strlen(key));
            CHECK(h.payload_crc == kvs_crc32c(0, src, 5000));
            CHECK(fstat(fileno(fp), &sb) == 0 && (uint64_t)sb.st_size >= 4096 + 5000);
            CHECK((sb.st_mode & 07777) == 0600);
            fclose(fp);
        }
    }
    {
        const char *k = "missing";
        size_t got = 7;
        CHECK_R(kvs_store_get(s, k, strlen(k), dst, 10, &got), KVS_NOT_FOUND);
        CHECK(got == 0);
        CHECK_R(kvs_store_exists(s, k, strlen(k)), KVS_NOT_FOUND);
        CHECK_R(kvs_store_remove(s, "rt/layout", 9), KVS_OK);
        CHECK_R(kvs_store_remove(s, "rt/layout", 9), KVS_NOT_FOUND);
        CHECK_R(kvs_store_get(s, "rt/layout", 9, dst, 10000, &got), KVS_NOT_FOUND);
    }
    {
        kvs_store_stats st;
        kvs_store_get_stats(s, &st);
        CHECK(st.corruptions == 0);
        CHECK(st.objects == 2 * (sizeof sizes / sizeof sizes[0]));
        if (pol == KVS_DIRECT_REQUIRE)
            CHECK(st.direct == 1);
        if (pol == KVS_DIRECT_OFF)
            CHECK(st.direct == 0 && st.bounce_bytes == 0);
    }
    CHECK(count_files(d, 2) == 0); /* no temp left */
    CHECK_R(kvs_store_close(s), KVS_OK);
    free(src);
    free(dst);
}

static int refuse_direct_setfl(void *u, int fd, int flags)
{
    (void)u;
#ifdef O_DIRECT
    if (flags & O_DIRECT)
        return -EINVAL;
#endif
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

static void test_roundtrip(void)
{
    roundtrip_policy(KVS_DIRECT_REQUIRE, "rt_req");
    roundtrip_policy(KVS_DIRECT_OFF, "rt_off");
    roundtrip_policy(KVS_DIRECT_PREFER, "rt_pref");
    /* A filesystem that refuses O_DIRECT (tmpfs did before Linux 6.6; a
       hook refusing F_SETFL with O_DIRECT stands in for it on any kernel):
       REQUIRE fails at open, naming the directory, with the probe file
       removed; PREFER falls back to buffered I/O and counts it. */
    {
        char d[1200];
        kvs_store_config c;
        kvs_store *s = NULL;
        char err[256];
        kvs_sysops ops;
        memset(&ops, 0, sizeof ops);
        ops.setfl = refuse_direct_setfl;
        t_path(d, sizeof d, "nodirect");
        cfg_fs(&c, d);
        c.sysops = &ops;
        c.direct = KVS_DIRECT_REQUIRE;
        CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_NODIRECT);
        CHECK(s == NULL && strstr(err, d) != NULL);
        CHECK(count_files(d, 0) == 0); /* the probe file was removed */
        c.direct = KVS_DIRECT_PREFER;
        s = open_store(&c);
        CHECK(s != NULL);
        if (s != NULL) {
            kvs_store_stats st;
            unsigned char v[5000], w[5000];
            size_t got = 0;
            t_fill_tag(v, sizeof v, 5);
            CHECK_R(kvs_store_put(s, "nd", 2, v, sizeof v), KVS_OK);
            CHECK_R(kvs_store_get(s, "nd", 2, w, sizeof w, &got), KVS_OK);
            CHECK(got == sizeof v && memcmp(v, w, sizeof v) == 0);
            kvs_store_get_stats(s, &st);
            CHECK(st.direct == 0);
            CHECK(st.direct_fallbacks >= 1);
            CHECK_R(kvs_store_close(s), KVS_OK);
        }
        t_rm_rf(d);
    }
}

/* ------------------------------------------------------------------ */
static void paths_text(char *out, size_t cap, const char *const *names, size_t n)
{
    size_t i, used = 0;
    out[0] = '\0';
    for (i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s/%s", i ? "," : "", t_dir, names[i]);
}

static int file_in(const char *dirname, const void *key, size_t kl)
{
    char name[300], path[1400];
    size_t nl = 0;
    struct stat sb;
    if (kvs_fsname_encode(key, kl, name, sizeof name, &nl, NULL) != KVS_OK)
        return 0;
    snprintf(path, sizeof path, "%s/%s/%s", t_dir, dirname, name);
    return stat(path, &sb) == 0;
}

static void test_sharding(void)
{
    static const char *const names[4] = {"sh0", "sh1", "sh2", "sh3"};
    kvs_shard_policy pols[3] = {KVS_SHARD_RENDEZVOUS, KVS_SHARD_MOD, KVS_SHARD_RANK};
    size_t p;
    for (p = 0; p < 3; p++) {
        char text[5000], key[64];
        kvs_store_config c;
        kvs_store *s;
        kvs_pathlist pl;
        size_t i, j, per[4] = {0, 0, 0, 0}, bad = 0;
        for (i = 0; i < 4; i++) {
            char d[1100];
            t_path(d, sizeof d, names[i]);
            t_rm_rf(d);
        }
        paths_text(text, sizeof text, names, 4);
        cfg_fs(&c, text);
        c.shard = pols[p];
        c.tp_rank = 6;
        if (pols[p] != KVS_SHARD_RANK) {
            /* a rank these policies would ignore is refused, not ignored */
            char err[256] = "";
            s = NULL;
            CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_INVAL);
            CHECK(s == NULL && strstr(err, "tp_rank") != NULL);
            c.tp_rank = 0;
            c.tp_world = 4;
            CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_INVAL);
            CHECK(s == NULL);
            c.tp_world = 0;
        }
        s = open_store(&c);
        CHECK(s != NULL);
        if (s == NULL)
            continue;
        CHECK_R(kvs_pathlist_parse(text, NULL, &pl), KVS_OK);
        for (i = 0; i < 200; i++) {
            int kl = snprintf(key, sizeof key, "shard-key-%zu", i);
            size_t want = 99;
            unsigned char v = (unsigned char)i;
            CHECK_R(kvs_store_put(s, key, (size_t)kl, &v, 1), KVS_OK);
            CHECK_R(kvs_shard_pick(pols[p], key, (size_t)kl, pl.ids, 4, 6, &want), KVS_OK);
            for (j = 0; j < 4; j++)
                if (file_in(names[j], key, (size_t)kl) != (j == want))
                    bad++;
            per[want]++;
        }
        CHECK(bad == 0);
        if (pols[p] == KVS_SHARD_RANK)
            CHECK(per[2] == 200);
        else
            CHECK(per[0] > 20 && per[1] > 20 && per[2] > 20 && per[3] > 20);
        kvs_pathlist_free(&pl);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
}

/* ------------------------------------------------------------------ */
static int read_pathset(const char *dirname, kvs_pathset *ps)
{
    char path[1400];
    unsigned char buf[1024];
    size_t n;
    FILE *fp;
    snprintf(path, sizeof path, "%s/%s/%s", t_dir, dirname, KVS_PATHSET_NAME);
    fp = fopen(path, "rb");
    if (fp == NULL)
        return -1;
    n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    return kvs_pathset_decode(buf, n, ps) == KVS_OK ? 0 : -1;
}

/* Open with these directories; count hits among keys 0..n-1. */
static size_t ps_hits(const char *const *names, size_t nd, int strict, int *changed, kvs_result *res, size_t n)
{
    char text[5000], key[64];
    kvs_store_config c;
    kvs_store *s = NULL;
    size_t i, hits = 0;
    paths_text(text, sizeof text, names, nd);
    cfg_fs(&c, text);
    c.strict_pathset = strict;
    *res = kvs_store_open(&c, &s, NULL, 0);
    if (*res != KVS_OK)
        return 0;
    {
        kvs_store_stats st;
        kvs_store_get_stats(s, &st);
        *changed = st.pathset_changed;
    }
    for (i = 0; i < n; i++) {
        int kl = snprintf(key, sizeof key, "ps-%zu", i);
        unsigned char v[8];
        size_t got = 0;
        kvs_result r = kvs_store_get(s, key, (size_t)kl, v, sizeof v, &got);
        uint64_t want = (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL; /* every key its own 8 bytes */
        if (r == KVS_OK && got == 8 && memcmp(v, &want, 8) == 0)
            hits++;
    }
    kvs_store_close(s);
    return hits;
}

/* Where keys 0..n-1 live under a set of directories (rendezvous). */
static size_t ps_count_in(const char *const *names, size_t nd, size_t which, size_t n)
{
    char text[5000], key[64];
    kvs_pathlist pl;
    size_t i, cnt = 0;
    paths_text(text, sizeof text, names, nd);
    if (kvs_pathlist_parse(text, NULL, &pl) != KVS_OK)
        return 0;
    for (i = 0; i < n; i++) {
        int kl = snprintf(key, sizeof key, "ps-%zu", i);
        size_t idx = 0;
        kvs_shard_pick(KVS_SHARD_RENDEZVOUS, key, (size_t)kl, pl.ids, nd, 0, &idx);
        cnt += idx == which;
    }
    kvs_pathlist_free(&pl);
    return cnt;
}

static void test_pathset(void)
{
    static const char *const abc[3] = {"psA", "psB", "psC"};
    static const char *const abcd[4] = {"psA", "psB", "psC", "psD"};
    static const char *const dcba[4] = {"psD", "psC", "psB", "psA"};
    static const char *const acd[3] = {"psA", "psC", "psD"};
    const size_t n = 300;
    char text[5000], key[64];
    kvs_store_config c;
    kvs_store *s;
    kvs_pathset ps0, ps1;
    size_t i, h, toD, inB;
    int changed = -1;
    kvs_result r;

    paths_text(text, sizeof text, abc, 3);
    cfg_fs(&c, text);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    for (i = 0; i < n; i++) {
        int kl = snprintf(key, sizeof key, "ps-%zu", i);
        unsigned char v[8];
        uint64_t val = (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL;
        memcpy(v, &val, sizeof v);
        CHECK_R(kvs_store_put(s, key, (size_t)kl, v, sizeof v), KVS_OK);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
    CHECK(read_pathset("psA", &ps0) == 0);
    CHECK(ps0.count == 3 && ps0.index == 0 && ps0.store_id != 0);

    h = ps_hits(abc, 3, 0, &changed, &r, n);
    CHECK_R(r, KVS_OK);
    CHECK(h == n && changed == 0);
    /* strict: a changed set fails and changes nothing */
    h = ps_hits(abcd, 4, 1, &changed, &r, n);
    CHECK_R(r, KVS_E_PATHSET);
    h = ps_hits(abc, 3, 1, &changed, &r, n);
    CHECK_R(r, KVS_OK);
    CHECK(h == n && changed == 0);
    /* add a path: only the keys the new path wins miss */
    toD = ps_count_in(abcd, 4, 3, n);
    CHECK(toD > 0 && toD < n / 2);
    h = ps_hits(abcd, 4, 0, &changed, &r, n);
    CHECK_R(r, KVS_OK);
    CHECK(changed == 1);
    CHECK(h == n - toD);
    CHECK(read_pathset("psA", &ps1) == 0);
    CHECK(ps1.count == 4 && ps1.store_id == ps0.store_id); /* store_id kept */
    h = ps_hits(abcd, 4, 0, &changed, &r, n);
    CHECK(changed == 0 && h == n - toD);
    /* reorder: reported, nothing moves under rendezvous */
    h = ps_hits(dcba, 4, 0, &changed, &r, n);
    CHECK(changed == 1 && h == n - toD);
    CHECK(read_pathset("psA", &ps1) == 0);
    CHECK(ps1.index == 3);
    /* remove B: only B's keys miss (the ones D took stay missing) */
    inB = ps_count_in(abcd, 4, 1, n);
    h = ps_hits(acd, 3, 0, &changed, &r, n);
    CHECK(changed == 1);
    CHECK(h == n - toD - inB);
    /* a corrupt record: changed (strict: error), then rewritten */
    {
        char path[1400];
        FILE *fp;
        snprintf(path, sizeof path, "%s/psA/%s", t_dir, KVS_PATHSET_NAME);
        fp = fopen(path, "wb");
        if (fp != NULL) {
            fputs("garbage garbage garbage garbage garbage", fp);
            fclose(fp);
        }
        h = ps_hits(acd, 3, 1, &changed, &r, n);
        CHECK_R(r, KVS_E_PATHSET);
        h = ps_hits(acd, 3, 0, &changed, &r, n);
        CHECK_R(r, KVS_OK);
        CHECK(changed == 1);
        CHECK(read_pathset("psA", &ps1) == 0);
        h = ps_hits(acd, 3, 0, &changed, &r, n);
        CHECK(changed == 0);
    }
    /* an open that fails on a directory after the others opened (E's
       lock file is a directory) leaves every record as it was: the
       earlier set still opens under strict_pathset, unchanged */
    {
        static const char *const acde[4] = {"psA", "psC", "psD", "psE"};
        char path[1400];
        snprintf(path, sizeof path, "%s/psE", t_dir);
        CHECK(mkdir(path, 0700) == 0);
        snprintf(path, sizeof path, "%s/psE/%s", t_dir, KVS_PINS_NAME);
        CHECK(mkdir(path, 0700) == 0);
        h = ps_hits(acde, 4, 0, &changed, &r, n);
        CHECK(r != KVS_OK);
        CHECK(read_pathset("psA", &ps1) == 0 && ps1.count == 3);
        h = ps_hits(acd, 3, 1, &changed, &r, n);
        CHECK_R(r, KVS_OK);
        CHECK(changed == 0 && h == n - toD - inB);
        rmdir(path);
    }
    /* a directory of the set without its record (emptied, or its
       filesystem not mounted: an empty mount point in its place) while
       the others record this set: changed, refused under strict; the
       real directory back, the set opens as before */
    {
        char real[1400], away[1400];
        size_t inC = ps_count_in(acd, 3, 1, n);
        snprintf(real, sizeof real, "%s/psC", t_dir);
        snprintf(away, sizeof away, "%s/psC.away", t_dir);
        CHECK(inC > 0);
        CHECK(rename(real, away) == 0 && mkdir(real, 0700) == 0);
        h = ps_hits(acd, 3, 1, &changed, &r, n);
        CHECK_R(r, KVS_E_PATHSET);
        CHECK(count_files(real, 0) == 0); /* nothing written into it */
        h = ps_hits(acd, 3, 0, &changed, &r, n);
        CHECK_R(r, KVS_OK);
        CHECK(changed == 1 && h < n - toD - inB && h + inC >= n - toD - inB); /* C's miss */
        t_rm_rf(real);
        CHECK(rename(away, real) == 0);
        h = ps_hits(acd, 3, 1, &changed, &r, n);
        CHECK_R(r, KVS_OK);
        CHECK(changed == 0 && h == n - toD - inB);
    }
}

/* must_exist: only a store that is there opens; a missing directory, an
   empty one (a mount point whose filesystem is not mounted) or one whose
   record was removed by hand fails with KVS_E_PATHSET and nothing is
   created or written anywhere. */
static void test_must_exist(void)
{
    static const char *const xy[2] = {"meX", "meY"};
    char text[5000], px[1400], py[1400], err[512];
    kvs_store_config c, got;
    kvs_store *s = NULL;
    kvs_pathset ps;
    unsigned char v[8];
    size_t n = 0;
    struct stat sb;

    paths_text(text, sizeof text, xy, 2);
    snprintf(px, sizeof px, "%s/meX", t_dir);
    snprintf(py, sizeof py, "%s/meY", t_dir);
    cfg_fs(&c, text);
    c.must_exist = 1;
    /* neither directory exists: refused, neither created */
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_PATHSET);
    CHECK(s == NULL && strstr(err, "meX") != NULL);
    CHECK(lstat(px, &sb) != 0 && lstat(py, &sb) != 0);
    /* both there and empty (a mount point, nothing mounted): refused,
       nothing written into either */
    CHECK(mkdir(px, 0700) == 0 && mkdir(py, 0700) == 0);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_PATHSET);
    CHECK(strstr(err, "no path-set record") != NULL);
    CHECK(count_files(px, 0) == 0 && count_files(py, 0) == 0);
    /* made by an ordinary open, then opened with must_exist: the object is
       there and the setting reads back */
    c.must_exist = 0;
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK_R(kvs_store_put(s, "me-k", 4, "me-value", 8), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    c.must_exist = 1;
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    kvs_store_get_config(s, &got);
    CHECK(got.must_exist == 1);
    CHECK_R(kvs_store_get(s, "me-k", 4, v, sizeof v, &n), KVS_OK);
    CHECK(n == 8 && memcmp(v, "me-value", 8) == 0);
    CHECK_R(kvs_store_close(s), KVS_OK);
    /* one directory's record removed by hand (its lock file stays, which
       the ordinary open takes for a first open cut short): refused under
       must_exist, the other directory's record unchanged */
    {
        char rec[1500];
        snprintf(rec, sizeof rec, "%s/%s", py, KVS_PATHSET_NAME);
        CHECK(unlink(rec) == 0);
        CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_PATHSET);
        CHECK(strstr(err, "meY") != NULL);
        CHECK(lstat(rec, &sb) != 0);
        CHECK(read_pathset("meX", &ps) == 0 && ps.count == 2 && ps.index == 0);
    }
    /* the second directory a missing mount: refused before anything in the
       first is touched (its files as they were) */
    {
        size_t before = count_files(px, 0);
        t_rm_rf(py);
        CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_PATHSET);
        CHECK(strstr(err, "does not exist") != NULL);
        CHECK(lstat(py, &sb) != 0 && count_files(px, 0) == before);
    }
    /* a file where the directory should be (or under it): also a store
       that is not there */
    {
        FILE *fp = fopen(py, "w");
        CHECK(fp != NULL);
        if (fp != NULL)
            fclose(fp);
        CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_PATHSET);
        CHECK(strstr(err, "in the way") != NULL);
        CHECK(unlink(py) == 0);
    }
    /* bad values, and the raw store has its own (format) */
    c.must_exist = 2;
    CHECK_R(kvs_store_open(&c, &s, NULL, 0), KVS_E_INVAL);
    kvs_store_config_init(&c);
    c.kind = KVS_STORE_RAW;
    c.paths = px;
    c.must_exist = 1;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_INVAL);
    CHECK(strstr(err, "must_exist") != NULL);
    t_rm_rf(px);
}

/* ------------------------------------------------------------------ */
static void make_file(const char *path, size_t len, time_t age_s)
{
    FILE *fp = fopen(path, "wb");
    size_t i;
    if (fp == NULL)
        return;
    for (i = 0; i < len; i++)
        fputc('x', fp);
    fclose(fp);
    if (age_s != 0) { /* below 0: in the future */
        struct timespec ts[2];
        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[0].tv_sec -= age_s;
        ts[1] = ts[0];
        utimensat(AT_FDCWD, path, ts, 0);
    }
}

static int path_exists(const char *p)
{
    struct stat sb;
    return lstat(p, &sb) == 0;
}

static void test_orphans(void)
{
    char d[1100], old_t[1300], young_t[1300], other[1300], odir[1300], future_t[1300];
    kvs_store_config c;
    kvs_store *s;
    kvs_store_stats st;
    t_path(d, sizeof d, "orph");
    mkdir(d, 0700);
    snprintf(old_t, sizeof old_t, "%s/~t00000000000000010000000000000002.tmp", d);
    snprintf(young_t, sizeof young_t, "%s/~t00000000000000030000000000000004.tmp", d);
    snprintf(other, sizeof other, "%s/notes.txt", d);
    snprintf(odir, sizeof odir, "%s/~t00000000000000050000000000000006.tmp", d);
    /* stamped an hour after the directory's clock: younger than anything,
       not an orphan (its age is not now - mtime, which would wrap) */
    snprintf(future_t, sizeof future_t, "%s/~t00000000000000070000000000000008.tmp", d);
    make_file(old_t, 100, 7200);
    make_file(future_t, 100, -3600);
    make_file(young_t, 100, 0);
    make_file(other, 10, 7200);
    mkdir(odir, 0700);
    cfg_fs(&c, d);
    c.temp_max_age_s = 3600;
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    kvs_store_get_stats(s, &st);
    CHECK(st.orphans_removed == 1);
    CHECK(st.objects == 0);
    CHECK(!path_exists(old_t));
    CHECK(path_exists(young_t));
    CHECK(path_exists(future_t));
    CHECK(path_exists(other));
    CHECK(path_exists(odir));
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* KVS_SHARD_RANK: two ranks list the same two directories (one per GPU).
   Each handle's objects are in its rank's directory only, and the other
   directory is another rank's: rank 0 neither counts rank 1's files (so
   never evicts them for room), nor removes its orphans, nor lists its keys,
   also when both ranks store one key (it is listed once, with rank 0's
   length, the one rank 0's get returns). (Rank 0 used to scan both
   directories: it counted rank 1's files, evicted them for its own puts and
   listed a shared key twice.) */
typedef struct rank_seen {
    size_t keys, block;
    uint64_t block_len;
} rank_seen;

static int rank_fn(void *u, const void *k, size_t kl, uint64_t len)
{
    rank_seen *c = (rank_seen *)u;
    c->keys++;
    if (kl == 5 && memcmp(k, "block", 5) == 0) {
        c->block++;
        c->block_len = len;
    }
    return 0;
}

/* The two rank directories gpu0 and gpu1 removed, and their path list. */
static void rank_dirs_fresh(char *text, size_t cap, const char *const names[2])
{
    char d[1100];
    size_t i;
    for (i = 0; i < 2; i++) {
        t_path(d, sizeof d, names[i]);
        t_rm_rf(d);
    }
    paths_text(text, cap, names, 2);
}

static void test_rank_dirs(void)
{
    static const char *const names[2] = {"gpu0", "gpu1"};
    char text[2400], d1[1100], orphan[1300], key[32];
    kvs_store_config c0, c1;
    kvs_store *s0, *s1;
    kvs_store_stats st;
    unsigned char v0[100], v1[300], big[8192], buf[400];
    size_t i, n = 0;
    rank_seen seen;
    rank_dirs_fresh(text, sizeof text, names);
    memset(v0, 'a', sizeof v0);
    memset(v1, 'b', sizeof v1);
    memset(big, 'c', sizeof big);
    cfg_fs(&c1, text);
    c1.shard = KVS_SHARD_RANK;
    c1.tp_world = 2;
    c1.tp_rank = 1;
    s1 = open_store(&c1);
    CHECK(s1 != NULL);
    if (s1 == NULL)
        return;
    for (i = 0; i < 4; i++) {
        int kl = snprintf(key, sizeof key, "r1-%zu", i);
        CHECK_R(kvs_store_put(s1, key, (size_t)kl, big, sizeof big), KVS_OK);
    }
    CHECK_R(kvs_store_put(s1, "block", 5, v1, sizeof v1), KVS_OK);
    t_path(d1, sizeof d1, "gpu1");
    snprintf(orphan, sizeof orphan, "%s/~t00000000000000010000000000000002.tmp", d1);
    make_file(orphan, 100, 7200); /* rank 1's stale temporary file */

    cfg_fs(&c0, text);
    c0.shard = KVS_SHARD_RANK;
    c0.tp_world = 2;
    c0.tp_rank = 0;
    c0.temp_max_age_s = 3600;
    c0.capacity_bytes = 2 * (4096 + sizeof big) + 4096; /* room for two of them */
    s0 = open_store(&c0);
    CHECK(s0 != NULL);
    if (s0 == NULL) {
        CHECK_R(kvs_store_close(s1), KVS_OK);
        return;
    }
    kvs_store_get_stats(s0, &st);
    CHECK(st.objects == 0 && st.disk_bytes == 0 && st.orphans_removed == 0);
    CHECK(path_exists(orphan));
    for (i = 0; i < 3; i++) {
        int kl = snprintf(key, sizeof key, "r0-%zu", i);
        CHECK_R(kvs_store_put(s0, key, (size_t)kl, big, sizeof big), KVS_OK);
    }
    CHECK_R(kvs_store_put(s0, "block", 5, v0, sizeof v0), KVS_OK); /* last: stays */
    kvs_store_get_stats(s0, &st);
    CHECK(st.evictions >= 1 && st.disk_bytes <= c0.capacity_bytes);
    for (i = 0; i < 4; i++) { /* rank 1's files all stay */
        int kl = snprintf(key, sizeof key, "r1-%zu", i);
        CHECK(file_in("gpu1", key, (size_t)kl));
        CHECK_R(kvs_store_exists(s1, key, (size_t)kl), KVS_OK);
    }
    memset(&seen, 0, sizeof seen);
    CHECK_R(kvs_store_iterate(s0, rank_fn, &seen), KVS_OK);
    kvs_store_get_stats(s0, &st);
    CHECK(seen.keys == st.objects); /* its own, and no other rank's */
    CHECK(seen.block == 1 && seen.block_len == sizeof v0);
    CHECK_R(kvs_store_get(s0, "block", 5, buf, sizeof buf, &n), KVS_OK);
    CHECK(n == sizeof v0 && memcmp(buf, v0, n) == 0);
    memset(&seen, 0, sizeof seen);
    CHECK_R(kvs_store_iterate(s1, rank_fn, &seen), KVS_OK);
    CHECK(seen.keys == 5 && seen.block == 1 && seen.block_len == sizeof v1);
    CHECK_R(kvs_store_close(s0), KVS_OK);
    CHECK_R(kvs_store_close(s1), KVS_OK);
    CHECK(path_exists(orphan)); /* left to rank 1's own open */
}

/* Whether fd is a file in a directory named `gpu1` (how the hooks below
   tell another rank's directory from this one's). */
static int fd_in_gpu1(int fd)
{
    char link[64], path[1400];
    ssize_t n;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = 0;
    return strstr(path, "/gpu1/") != NULL;
}

static int gpu1_setfl(void *u, int fd, int flags)
{
    (void)u;
#ifdef O_DIRECT
    if ((flags & O_DIRECT) && fd_in_gpu1(fd))
        return -EINVAL; /* gpu1's filesystem refuses O_DIRECT */
#endif
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

static int gpu1_lock(void *u, int fd, int how, uint64_t off)
{
    (void)u;
    if (fd_in_gpu1(fd))
        return -ENOLCK; /* and has no byte locks */
    return kvs_sys_lock(fd, how, off);
}

/* A rank's handle takes its mode from its own directory only: another
   rank's directory on a filesystem without O_DIRECT or byte locks neither
   fails REQUIRE, makes PREFER buffered, nor sets lock_errno here; the rank
   whose directory it is sees all three. */
static void test_rank_dir_probe(void)
{
    static const char *const names[2] = {"gpu0", "gpu1"};
    char text[2400], d[1100], err[256];
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_store_stats st;
    kvs_sysops ops;
    unsigned char v[8192], w[8192];
    size_t i, got = 0;
    uint32_t rank;
    rank_dirs_fresh(text, sizeof text, names);
    memset(&ops, 0, sizeof ops);
    ops.setfl = gpu1_setfl;
    ops.lock = gpu1_lock;
    t_fill_tag(v, sizeof v, 31);
    for (rank = 0; rank < 2; rank++) {
        cfg_fs(&c, text);
        c.shard = KVS_SHARD_RANK;
        c.tp_world = 2;
        c.tp_rank = rank;
        c.sysops = &ops;
        c.direct = KVS_DIRECT_REQUIRE;
        s = NULL;
        err[0] = 0;
        if (rank == 1) { /* its own directory refuses: REQUIRE fails, naming it */
            CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_NODIRECT);
            CHECK(s == NULL && strstr(err, "gpu1") != NULL);
        } else {
            s = open_store(&c);
            CHECK(s != NULL);
            if (s == NULL)
                continue;
            kvs_store_get_stats(s, &st);
            CHECK(st.direct == 1 && st.lock_errno == 0);
            CHECK_R(kvs_store_close(s), KVS_OK);
        }
        c.direct = KVS_DIRECT_PREFER;
        s = open_store(&c);
        CHECK(s != NULL);
        if (s == NULL)
            continue;
        CHECK_R(kvs_store_put(s, "probe", 5, v, sizeof v), KVS_OK);
        memset(w, 0, sizeof w);
        CHECK_R(kvs_store_get(s, "probe", 5, w, sizeof w, &got), KVS_OK);
        CHECK(got == sizeof v && memcmp(v, w, sizeof v) == 0);
        kvs_store_get_stats(s, &st);
        if (rank == 0) {
            CHECK(st.direct == 1 && st.direct_fallbacks == 0);
            CHECK(st.lock_errno == 0);
        } else {
            CHECK(st.direct == 0 && st.direct_fallbacks >= 1);
            CHECK(st.lock_errno == ENOLCK);
        }
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    for (i = 0; i < 2; i++) { /* no probe file left in either */
        t_path(d, sizeof d, names[i]);
        CHECK(count_files(d, 2) == 0);
    }
}

/* A file server whose clock differs from ours: every file in the
   directory is stamped by its clock, which an fstat hook plays by moving
   every mtime the store's own fstat calls see (the probe file's) by
   g_skew_s; the scan's fstatat sees the files as they are. */
static long g_skew_s;

static int skew_fstat(void *u, int fd, kvs_file_status *st)
{
    int r = kvs_sys_fstat(fd, st);
    (void)u;
    if (r == 0)
        st->mtime_ns = (uint64_t)((int64_t)st->mtime_ns + (int64_t)g_skew_s * 1000000000);
    return r;
}

static int fail_fstat(void *u, int fd, kvs_file_status *st)
{
    (void)u;
    (void)fd;
    (void)st;
    return -EIO;
}

/* Opens a store with c and closes it again: the orphans its open removed,
   or -1 when it did not open. */
static long orphans_at_open(kvs_store_config *c)
{
    kvs_store_stats st;
    kvs_store *s = open_store(c);
    if (s == NULL)
        return -1;
    kvs_store_get_stats(s, &st);
    CHECK_R(kvs_store_close(s), KVS_OK);
    return (long)st.orphans_removed;
}

static void test_orphans_server_clock(void)
{
    char d[1100], live[1300], stale[1300];
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_sysops ops;
    char err[256];
    t_path(d, sizeof d, "orphclk");
    mkdir(d, 0700);
    snprintf(live, sizeof live, "%s/~t00000000000000070000000000000008.tmp", d);
    snprintf(stale, sizeof stale, "%s/~t00000000000000090000000000000001.tmp", d);
    memset(&ops, 0, sizeof ops);
    ops.fstat = skew_fstat;
    /* The server is 2 hours behind us: a live writer's file written 10 s
       ago by its clock is 2 hours old by ours, and must stay. */
    make_file(live, 100, 7200 + 10);
    g_skew_s = -7200;
    cfg_fs(&c, d);
    c.temp_max_age_s = 600;
    c.sysops = &ops;
    CHECK(orphans_at_open(&c) == 0);
    CHECK(path_exists(live));
    CHECK(unlink(live) == 0);
    /* The server is 2 hours ahead: a file it stamped 1 hour ago is in our
       future, and is an orphan all the same. */
    make_file(stale, 100, -7200 + 3600);
    g_skew_s = 7200;
    CHECK(orphans_at_open(&c) == 1);
    CHECK(!path_exists(stale));
    /* The clock cannot be read: the open fails, and leaves no probe file. */
    ops.fstat = fail_fstat;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_IO);
    CHECK(s == NULL);
    CHECK(count_files(d, 2) == 0);
    t_rm_rf(d);
}

/* ------------------------------------------------------------------ */
static void test_reopen(void)
{
    char d[1100], key[64];
    kvs_store_config c;
    kvs_store *s;
    kvs_store_stats st0, st1;
    unsigned char v[10000], w[10000];
    size_t i, got;
    t_path(d, sizeof d, "reopen");
    cfg_fs(&c, d);
    c.durability = KVS_DURABLE_DATA;
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    for (i = 0; i < 50; i++) {
        int kl = snprintf(key, sizeof key, "re-%zu", i);
        t_fill_tag(v, i * 97, i);
        CHECK_R(kvs_store_put(s, key, (size_t)kl, v, i * 97), KVS_OK);
    }
    /* overwrite a few */
    for (i = 0; i < 10; i++) {
        int kl = snprintf(key, sizeof key, "re-%zu", i);
        t_fill_tag(v, i * 13, i + 1000);
        CHECK_R(kvs_store_put(s, key, (size_t)kl, v, i * 13), KVS_OK);
    }
    CHECK_R(kvs_store_sync(s), KVS_OK);
    kvs_store_get_stats(s, &st0);
    CHECK(st0.objects == 50);
    CHECK_R(kvs_store_close(s), KVS_OK);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    kvs_store_get_stats(s, &st1);
    CHECK(st1.objects == 50);
    CHECK(st1.disk_bytes == st0.disk_bytes);
    CHECK(st1.pathset_changed == 0);
    for (i = 0; i < 50; i++) {
        int kl = snprintf(key, sizeof key, "re-%zu", i);
        size_t n = i < 10 ? i * 13 : i * 97;
        t_fill_tag(v, n, i < 10 ? i + 1000 : i);
        got = 0;
        CHECK_R(kvs_store_get(s, key, (size_t)kl, w, sizeof w, &got), KVS_OK);
        CHECK(got == n && memcmp(v, w, n) == 0);
    }
    kvs_store_get_stats(s, &st1);
    CHECK(st1.bytes == st0.bytes); /* exact once read */
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* ------------------------------------------------------------------ */
static int key_hit(kvs_store *s, const char *key)
{
    unsigned char v[4096];
    size_t got = 0;
    return kvs_store_get(s, key, strlen(key), v, sizeof v, &got) == KVS_OK;
}

static void test_capacity(void)
{
    char d[1100], key[64];
    kvs_store_config c;
    kvs_store *s;
    kvs_store_stats st;
    unsigned char v[4096];
    size_t i;
    const uint64_t per = 8192; /* 4096 header + 4096 payload */
    t_path(d, sizeof d, "cap");
    cfg_fs(&c, d);
    c.capacity_bytes = 10 * per;
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    t_fill_tag(v, sizeof v, 1);
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "c%zu", i);
        CHECK_R(kvs_store_put(s, key, strlen(key), v, sizeof v), KVS_OK);
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.disk_bytes == 10 * per && st.evictions == 0);
    CHECK(key_hit(s, "c0")); /* c0 becomes recent: c1 is now the oldest */
    CHECK_R(kvs_store_put(s, "c10", 3, v, sizeof v), KVS_OK);
    CHECK(!key_hit(s, "c1"));
    CHECK(key_hit(s, "c0"));
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 1 && st.disk_bytes <= c.capacity_bytes);
    CHECK(count_files(d, 1) == 10);
    /* pins protect; pin counts */
    CHECK_R(kvs_store_pin(s, "c1", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_unpin(s, "c2", 2), KVS_E_INVAL);
    CHECK_R(kvs_store_pin(s, "c2", 2), KVS_OK);
    CHECK_R(kvs_store_pin(s, "c2", 2), KVS_OK);
    CHECK_R(kvs_store_put(s, "c11", 3, v, sizeof v), KVS_OK); /* evicts c3, not c2 */
    CHECK(key_hit(s, "c2"));
    CHECK(!key_hit(s, "c3"));
    for (i = 4; i <= 11; i++) {
        snprintf(key, sizeof key, "c%zu", i);
        CHECK_R(kvs_store_pin(s, key, strlen(key)), KVS_OK);
    }
    CHECK_R(kvs_store_pin(s, "c0", 2), KVS_OK);
    CHECK_R(kvs_store_put(s, "c12", 3, v, sizeof v), KVS_E_FULL);
    CHECK(!key_hit(s, "c12"));
    CHECK(count_files(d, 2) == 0);
    {
        unsigned char *big = (unsigned char *)calloc(1, (size_t)c.capacity_bytes);
        if (big) {
            CHECK_R(kvs_store_put(s, "big", 3, big, (size_t)c.capacity_bytes), KVS_E_LIMIT);
            free(big);
        }
    }
    CHECK_R(kvs_store_unpin(s, "c2", 2), KVS_OK);
    CHECK_R(kvs_store_put(s, "c12", 3, v, sizeof v), KVS_E_FULL); /* still one pin */
    CHECK_R(kvs_store_unpin(s, "c2", 2), KVS_OK);
    CHECK_R(kvs_store_unpin(s, "c2", 2), KVS_E_INVAL);
    CHECK_R(kvs_store_put(s, "c12", 3, v, sizeof v), KVS_OK);
    CHECK(!key_hit(s, "c2"));
    kvs_store_get_stats(s, &st);
    CHECK(st.disk_bytes <= c.capacity_bytes && st.objects == 10);
    CHECK(st.bytes == 10 * sizeof v); /* the evicted files' payloads left the count */
    CHECK_R(kvs_store_remove(s, "c12", 3), KVS_OK);
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == 9 && st.bytes == 9 * sizeof v && st.disk_bytes == 9 * per);
    CHECK_R(kvs_store_close(s), KVS_OK);

    /* LRU order after reopen comes from modification times */
    {
        static const char *const order[4] = {"m2", "m0", "m3", "m1"}; /* oldest first */
        char name[300], path[1400];
        size_t nl = 0;
        t_rm_rf(d);
        c.capacity_bytes = 4 * per;
        s = open_store(&c);
        CHECK(s != NULL);
        if (s == NULL)
            return;
        for (i = 0; i < 4; i++) {
            snprintf(key, sizeof key, "m%zu", i);
            CHECK_R(kvs_store_put(s, key, strlen(key), v, sizeof v), KVS_OK);
        }
        CHECK_R(kvs_store_close(s), KVS_OK);
        for (i = 0; i < 4; i++) {
            struct timespec ts[2];
            kvs_fsname_encode(order[i], 2, name, sizeof name, &nl, NULL);
            snprintf(path, sizeof path, "%s/%s", d, name);
            clock_gettime(CLOCK_REALTIME, &ts[0]);
            ts[0].tv_sec -= (time_t)(1000 - 100 * (long)i);
            ts[1] = ts[0];
            CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
        }
        s = open_store(&c);
        CHECK(s != NULL);
        if (s == NULL)
            return;
        kvs_store_get_stats(s, &st);
        CHECK(st.objects == 4 && st.disk_bytes == 4 * per);
        CHECK_R(kvs_store_put(s, "n0", 2, v, sizeof v), KVS_OK);
        CHECK_R(kvs_store_exists(s, "m2", 2), KVS_NOT_FOUND);
        CHECK_R(kvs_store_put(s, "n1", 2, v, sizeof v), KVS_OK);
        CHECK_R(kvs_store_exists(s, "m0", 2), KVS_NOT_FOUND);
        CHECK_R(kvs_store_exists(s, "m3", 2), KVS_OK);
        CHECK_R(kvs_store_exists(s, "m1", 2), KVS_OK);
        /* capacity lowered below usage: the next put evicts enough */
        CHECK_R(kvs_store_close(s), KVS_OK);
        c.capacity_bytes = 2 * per;
        s = open_store(&c);
        CHECK(s != NULL);
        if (s == NULL)
            return;
        CHECK_R(kvs_store_put(s, "n2", 2, v, sizeof v), KVS_OK);
        kvs_store_get_stats(s, &st);
        CHECK(st.disk_bytes <= 2 * per);
        CHECK(count_files(d, 1) == 2);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
}

/* ------------------------------------------------------------------ */
typedef struct it_ctx {
    size_t n;
    size_t seen_long;
    uint64_t total;
    int stop_at;
} it_ctx;

static int it_fn(void *user, const void *key, size_t kl, uint64_t len)
{
    it_ctx *x = (it_ctx *)user;
    x->n++;
    x->total += len;
    if (kl == 600)
        x->seen_long++;
    (void)key;
    return x->stop_at > 0 && (int)x->n >= x->stop_at;
}

static void test_iterate_batches(void)
{
    char d[2200], key[700];
    kvs_store_config c;
    kvs_store *s;
    unsigned char v[300];
    size_t i, cnt = 0;
    it_ctx x;
    kvs_item items[6];
    unsigned char bufs[6][300];
    static const char *const names[2] = {"itA", "itB"};
    paths_text(d, sizeof d, names, 2);
    cfg_fs(&c, d);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    for (i = 0; i < 20; i++) {
        int kl = snprintf(key, sizeof key, "it-%zu", i);
        CHECK_R(kvs_store_put(s, key, (size_t)kl, v, i), KVS_OK);
    }
    memset(key, 'L', 600);
    for (i = 0; i < 3; i++) {
        key[0] = (char)('a' + i);
        CHECK_R(kvs_store_put(s, key, 600, v, 7), KVS_OK);
    }
    memset(&x, 0, sizeof x);
    CHECK_R(kvs_store_iterate(s, it_fn, &x), KVS_OK);
    CHECK(x.n == 23 && x.seen_long == 3);
    CHECK(x.total == 190 + 21);
    memset(&x, 0, sizeof x);
    x.stop_at = 5;
    CHECK_R(kvs_store_iterate(s, it_fn, &x), KVS_OK);
    CHECK(x.n == 5);
    /* batches */
    memset(items, 0, sizeof items);
    for (i = 0; i < 6; i++) {
        static char kb[6][16];
        snprintf(kb[i], sizeof kb[i], "b-%zu", i);
        items[i].key = kb[i];
        items[i].key_len = strlen(kb[i]);
        items[i].buf = bufs[i];
        items[i].len = 100 + i;
        memset(bufs[i], (int)i, sizeof bufs[i]);
    }
    CHECK_R(kvs_store_put_batch(s, items, 6, &cnt), KVS_OK);
    CHECK(cnt == 0);
    CHECK_R(kvs_store_remove(s, "b-3", 3), KVS_OK);
    for (i = 0; i < 6; i++) {
        memset(bufs[i], 0xEE, sizeof bufs[i]);
        items[i].len = sizeof bufs[i];
    }
    CHECK_R(kvs_store_get_prefix(s, items, 6, &cnt), KVS_OK);
    CHECK(cnt == 3);
    for (i = 0; i < 3; i++)
        CHECK(items[i].out_len == 100 + i && bufs[i][0] == (unsigned char)i);
    CHECK_R(kvs_store_exists_batch(s, items, 6, &cnt), KVS_OK);
    CHECK(cnt == 5);
    CHECK_R(items[3].result, KVS_NOT_FOUND);
    items[1].len = 10;
    CHECK_R(kvs_store_get_prefix(s, items, 3, &cnt), KVS_E_BUFSIZE);
    CHECK(cnt == 1 && items[1].out_len == 101);
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* Capacity edges: a put that could not fit even with every object this
   handle does not pin evicted is KVS_E_FULL at once, evicting nothing; a
   directory at a counted object's name is not counted and does not block
   evictions; two spellings of one directory are refused; a hashed name's
   file copied to another key's name is listed once, under its own key. */
/* An overwrite never evicts its key's old value: not by its own reserve,
   nor by another put's while it is under way; so a put that then fails
   leaves the old value readable. Where the old value is the only object
   that could go, the overwrite is KVS_E_FULL. A gate holds the overwrite in
   its fallocate (after its reserve, before its write), which then fails. */
static t_gate g_ow_gate = T_GATE_INIT;
static int g_ow_fail; /* fallocate fails with EIO: 1 every call, 2 the gated one */
static int ow_fallocate(void *u, int fd, uint64_t off, uint64_t len)
{
    int gated, fail = __atomic_load_n(&g_ow_fail, __ATOMIC_SEQ_CST);
    (void)u;
    pthread_mutex_lock(&g_ow_gate.mu);
    gated = g_ow_gate.kind == 1; /* this call stops in the gate below */
    pthread_mutex_unlock(&g_ow_gate.mu);
    t_gate_pass(&g_ow_gate, 1, NULL, NULL);
    if (fail == 1 || (fail == 2 && gated))
        return -EIO;
    return fallocate(fd, 0, (off_t)off, (off_t)len) == 0 ? 0 : -errno;
}

/* The value of "k" in s is v1 (n bytes). */
static void ow_check_k(kvs_store *s, const unsigned char *v1, size_t n)
{
    static unsigned char rd[8000];
    size_t got = 0;
    memset(rd, 0, sizeof rd);
    CHECK_R(kvs_store_get(s, "k", 1, rd, sizeof rd, &got), KVS_OK);
    CHECK(got == n && memcmp(rd, v1, n) == 0);
}

/* A store of capacity cap holding k, then a, both v (n bytes); NULL (a
   failure counted) when it does not open. */
static kvs_store *ow_open_ka(kvs_store_config *c, uint64_t cap, const unsigned char *v, size_t n)
{
    kvs_store *s;
    c->capacity_bytes = cap;
    s = open_store(c);
    if (!CHECK(s != NULL))
        return NULL;
    CHECK_R(kvs_store_put(s, "k", 1, v, n), KVS_OK);
    CHECK_R(kvs_store_put(s, "a", 1, v, n), KVS_OK);
    return s;
}

static void test_overwrite_keeps_old(void)
{
    char d[1100];
    kvs_store_config c;
    kvs_sysops ops;
    kvs_store *s;
    kvs_store_stats st;
    static unsigned char v1[8000], v2[8000];
    putjob a;
    pthread_t th;

    t_fill_tag(v1, sizeof v1, 71);
    t_fill_tag(v2, sizeof v2, 72);
    memset(&ops, 0, sizeof ops);
    ops.fallocate = ow_fallocate;
    t_path(d, sizeof d, "owkeep");
    cfg_fs(&c, d);
    c.sysops = &ops;

    /* 1. room for one object: the overwrite of the only one is FULL */
    c.capacity_bytes = 12288;
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    CHECK_R(kvs_store_put(s, "k", 1, v1, sizeof v1), KVS_OK);
    CHECK_R(kvs_store_put(s, "k", 1, v2, sizeof v2), KVS_E_FULL);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 0 && st.objects == 1);
    ow_check_k(s, v1, sizeof v1);
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);

    /* 2. room for two, k the least recent: its own failing overwrite
       evicts the other, and k keeps v1 */
    s = ow_open_ka(&c, 2 * 12288, v1, sizeof v1);
    if (s == NULL)
        return;
    __atomic_store_n(&g_ow_fail, 1, __ATOMIC_SEQ_CST);
    CHECK_R(kvs_store_put(s, "k", 1, v2, sizeof v2), KVS_E_IO);
    __atomic_store_n(&g_ow_fail, 0, __ATOMIC_SEQ_CST);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 1 && st.objects == 1);
    CHECK_R(kvs_store_exists(s, "a", 1), KVS_NOT_FOUND);
    ow_check_k(s, v1, sizeof v1);
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);

    /* 3. room for three, k the least recent: while k's overwrite is held
       after its reserve (which fit without evicting), another key's put
       evicts a, not k; the overwrite then fails, and k keeps v1 */
    s = ow_open_ka(&c, 3 * 12288, v1, sizeof v1);
    if (s == NULL)
        return;
    __atomic_store_n(&g_ow_fail, 2, __ATOMIC_SEQ_CST);
    t_gate_arm(&g_ow_gate, 1, NULL, NULL);
    a.s = s;
    a.key = "k";
    a.val = v2;
    a.len = sizeof v2;
    a.r = KVS_OK;
    if (!CHECK(pthread_create(&th, NULL, putjob_main, &a) == 0)) {
        t_gate_release(&g_ow_gate);
        (void)kvs_store_close(s);
        return;
    }
    CHECK(t_gate_wait_entered(&g_ow_gate));
    CHECK_R(kvs_store_put(s, "b", 1, v1, sizeof v1), KVS_OK);
    CHECK_R(kvs_store_exists(s, "a", 1), KVS_NOT_FOUND);
    CHECK_R(kvs_store_exists(s, "k", 1), KVS_OK);
    t_gate_release(&g_ow_gate);
    pthread_join(th, NULL);
    __atomic_store_n(&g_ow_fail, 0, __ATOMIC_SEQ_CST);
    CHECK_R(a.r, KVS_E_IO);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 1 && st.objects == 2);
    ow_check_k(s, v1, sizeof v1);
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);
}

/* Two overwrites of different keys in a store with room for two objects,
   both under way before either reserves (a barrier in the temp file's
   openat): each may evict the other's old value as a last resort, as
   serial puts would, so both succeed; neither evicts its own. */
static pthread_barrier_t g_co_bar;
static t_gate g_co_gate = T_GATE_INIT;
static int g_co_armed; /* a temp file's openat: 1 meets the barrier, 2 stops in the gate */
static kvs_store *g_co_s;
static unsigned char g_co_v2[8000];
static kvs_result g_co_res[2];
static int co_openat(void *u, int dirfd, const char *path, int flags, unsigned mode)
{
    int fd, how = (flags & O_CREAT) ? __atomic_load_n(&g_co_armed, __ATOMIC_SEQ_CST) : 0;
    (void)u;
    if (how == 1)
        pthread_barrier_wait(&g_co_bar);
    else if (how == 2)
        t_gate_pass(&g_co_gate, 1, NULL, NULL);
    fd = openat(dirfd, path, flags, (mode_t)mode);
    return fd < 0 ? -errno : fd;
}

static void *co_put(void *p)
{
    int i = *(int *)p;
    g_co_res[i] = kvs_store_put(g_co_s, i ? "b" : "a", 1, g_co_v2, sizeof g_co_v2);
    return NULL;
}

/* The same with an object pinned in another handle: the eviction tries
   it, finds it pinned, and then takes the other put's old value (the last
   resort) rather than giving up. put "b" is held in its temp file's
   openat: under way, nothing reserved yet. */

static void test_last_resort_past_pin(void)
{
    char d[1100];
    kvs_store *b = NULL;
    kvs_sysops ops;
    pthread_t t;
    kvs_result ra;
    static int one = 1;
    static unsigned char v1[8000], rd[8000];
    size_t got = 0;
    t_path(d, sizeof d, "lastres");
    memset(&ops, 0, sizeof ops);
    ops.openat = co_openat;
    t_fill_tag(v1, sizeof v1, 91);
    t_fill_tag(g_co_v2, sizeof g_co_v2, 92);
    if (!open_pair_cap(d, 3 * 12288, &ops, NULL, &g_co_s, &b))
        return;
    CHECK_R(kvs_store_put(g_co_s, "x", 1, v1, sizeof v1), KVS_OK);
    CHECK_R(kvs_store_put(g_co_s, "a", 1, v1, sizeof v1), KVS_OK);
    CHECK_R(kvs_store_put(g_co_s, "b", 1, v1, sizeof v1), KVS_OK);
    CHECK_R(kvs_store_pin(b, "x", 1), KVS_OK); /* pinned in another handle */
    t_gate_arm(&g_co_gate, 1, NULL, NULL);
    __atomic_store_n(&g_co_armed, 2, __ATOMIC_SEQ_CST);
    if (!CHECK(pthread_create(&t, NULL, co_put, &one) == 0)) {
        t_gate_release(&g_co_gate);
    } else {
        CHECK(t_gate_wait_entered(&g_co_gate));
        __atomic_store_n(&g_co_armed, 0, __ATOMIC_SEQ_CST);
        ra = kvs_store_put(g_co_s, "a", 1, g_co_v2, sizeof g_co_v2);
        t_gate_release(&g_co_gate);
        pthread_join(t, NULL);
        CHECK_R(ra, KVS_OK);
        CHECK_R(g_co_res[1], KVS_OK);
    }
    CHECK_R(kvs_store_get(g_co_s, "a", 1, rd, sizeof rd, &got), KVS_OK);
    CHECK(got == sizeof rd && memcmp(rd, g_co_v2, got) == 0);
    CHECK_R(kvs_store_get(g_co_s, "b", 1, rd, sizeof rd, &got), KVS_OK);
    CHECK(got == sizeof rd && memcmp(rd, g_co_v2, got) == 0);
    CHECK_R(kvs_store_exists(g_co_s, "x", 1), KVS_OK);
    CHECK_R(kvs_store_unpin(b, "x", 1), KVS_OK);
    CHECK_R(kvs_store_close(g_co_s), KVS_OK);
    CHECK_R(kvs_store_close(b), KVS_OK);
    t_rm_rf(d);
}

static void test_concurrent_overwrites(void)
{
    char d[1100];
    kvs_store_config c;
    kvs_sysops ops;
    kvs_store_stats st;
    static unsigned char v1[8000], rd[8000];
    static int ids[2] = {0, 1};
    pthread_t t[2];
    size_t got = 0;
    int round;
    memset(&ops, 0, sizeof ops);
    ops.openat = co_openat;
    t_fill_tag(v1, sizeof v1, 81);
    t_fill_tag(g_co_v2, sizeof g_co_v2, 82);
    t_path(d, sizeof d, "coover");
    for (round = 0; round < 3; round++) {
        cfg_fs(&c, d);
        c.sysops = &ops;
        c.capacity_bytes = 2 * 12288;
        g_co_s = open_store(&c);
        if (!CHECK(g_co_s != NULL))
            return;
        CHECK_R(kvs_store_put(g_co_s, "a", 1, v1, sizeof v1), KVS_OK);
        CHECK_R(kvs_store_put(g_co_s, "b", 1, v1, sizeof v1), KVS_OK);
        CHECK(pthread_barrier_init(&g_co_bar, NULL, 2) == 0);
        __atomic_store_n(&g_co_armed, 1, __ATOMIC_SEQ_CST);
        CHECK(pthread_create(&t[0], NULL, co_put, &ids[0]) == 0);
        CHECK(pthread_create(&t[1], NULL, co_put, &ids[1]) == 0);
        pthread_join(t[0], NULL);
        pthread_join(t[1], NULL);
        __atomic_store_n(&g_co_armed, 0, __ATOMIC_SEQ_CST);
        pthread_barrier_destroy(&g_co_bar);
        CHECK_R(g_co_res[0], KVS_OK);
        CHECK_R(g_co_res[1], KVS_OK);
        kvs_store_get_stats(g_co_s, &st);
        CHECK(st.objects == 2 && st.disk_bytes <= c.capacity_bytes);
        CHECK_R(kvs_store_get(g_co_s, "a", 1, rd, sizeof rd, &got), KVS_OK);
        CHECK(got == sizeof rd && memcmp(rd, g_co_v2, got) == 0);
        CHECK_R(kvs_store_get(g_co_s, "b", 1, rd, sizeof rd, &got), KVS_OK);
        CHECK(got == sizeof rd && memcmp(rd, g_co_v2, got) == 0);
        CHECK_R(kvs_store_close(g_co_s), KVS_OK);
        t_rm_rf(d);
    }
}

/* A name's pin count is full at UINT32_MAX: one more pin is
   KVS_E_OVERFLOW and changes nothing (white-box: the count is set near
   the top rather than pinned four billion times). */
static void test_pin_count_full(void)
{
    char d[1100], name[KVS_FSNAME_MAX + 1];
    kvs_store_config c;
    kvs_store *s;
    kvsi_fs *fs;
    kvsi_fsent *e;
    kvs_fsname_kind kind;
    size_t nlen = 0;
    uint32_t di = 0;
    unsigned char v[100];
    memset(v, 'p', sizeof v);
    t_path(d, sizeof d, "pinfull");
    cfg_fs(&c, d);
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    fs = (kvsi_fs *)s->engine;
    CHECK_R(kvs_store_put(s, "p", 1, v, sizeof v), KVS_OK);
    CHECK_R(kvs_store_pin(s, "p", 1), KVS_OK);
    CHECK_R(kvsi_fs_locate(fs, "p", 1, name, &nlen, &kind, &di), KVS_OK);
    pthread_mutex_lock(&fs->mu);
    e = kvsi_fs_ref(fs, di, name, nlen, 0);
    if (e != NULL) {
        e->pins = UINT32_MAX - 1;
        kvsi_fs_unref(fs, e);
    }
    pthread_mutex_unlock(&fs->mu);
    if (!CHECK(e != NULL)) {
        (void)kvs_store_close(s);
        return;
    }
    CHECK_R(kvs_store_pin(s, "p", 1), KVS_OK); /* UINT32_MAX */
    CHECK_R(kvs_store_pin(s, "p", 1), KVS_E_OVERFLOW);
    pthread_mutex_lock(&fs->mu);
    CHECK(e->pins == UINT32_MAX && fs->pinned > 0);
    e->pins = 1; /* back to one pin, as if unpinned that often */
    pthread_mutex_unlock(&fs->mu);
    CHECK_R(kvs_store_unpin(s, "p", 1), KVS_OK);
    CHECK_R(kvs_store_unpin(s, "p", 1), KVS_E_INVAL);
    pthread_mutex_lock(&fs->mu);
    CHECK(fs->pinned == 0);
    pthread_mutex_unlock(&fs->mu);
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);
}

/* ---- sync, leases, and things planted at names ---------------------- */

/* fdatasync hook: counts calls; the gated one (kind 2) fails with EIO. */
static t_gate g_sy_gate = T_GATE_INIT;
static int g_sy_calls, g_sy_einval;
static int sy_fdatasync(void *u, int fd)
{
    int gated;
    (void)u;
    __atomic_add_fetch(&g_sy_calls, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&g_sy_einval, __ATOMIC_SEQ_CST))
        return -EINVAL; /* a filesystem that cannot sync this regular file */
    pthread_mutex_lock(&g_sy_gate.mu);
    gated = g_sy_gate.kind == 2;
    pthread_mutex_unlock(&g_sy_gate.mu);
    t_gate_pass(&g_sy_gate, 2, NULL, NULL);
    if (gated)
        return -EIO;
    return fdatasync(fd) == 0 ? 0 : -errno;
}

static void *sy_thread(void *p)
{
    kvs_store *s = *(kvs_store **)p;
    *(kvs_result *)((kvs_store **)p + 1) = kvs_store_sync(s);
    return NULL;
}

static int g_dir_syncs; /* atomic: directories synced through dir_fsync_count */
static int g_dir_sync_fail; /* atomic: the next directory sync answers EIO */
static int dir_fsync_count(void *u, int fd)
{
    struct stat sb;
    (void)u;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (__atomic_exchange_n(&g_dir_sync_fail, 0, __ATOMIC_SEQ_CST))
            return -EIO;
        __atomic_add_fetch(&g_dir_syncs, 1, __ATOMIC_SEQ_CST);
    }
    return fsync(fd) == 0 ? 0 : -errno;
}

/* At FULL, a put or remove whose directory sync fails answers the error,
   having renamed or unlinked; the directory is then still to sync, and
   the next kvs_store_sync syncs it. */
static void test_sync_dir_retry(void)
{
    char d[1100];
    kvs_store_config c;
    kvs_sysops ops;
    kvs_store *s;
    int op;
    memset(&ops, 0, sizeof ops);
    ops.fsync = dir_fsync_count;
    t_path(d, sizeof d, "syncretry");
    cfg_fs(&c, d);
    c.durability = KVS_DURABLE_FULL;
    c.sysops = &ops;
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    CHECK_R(kvs_store_sync(s), KVS_OK); /* whatever the open left */
    for (op = 0; op < 2; op++) {
        __atomic_store_n(&g_dir_sync_fail, 1, __ATOMIC_SEQ_CST);
        if (op == 0)
            CHECK_R(kvs_store_put(s, "k", 1, "value", 5), KVS_E_IO);
        else
            CHECK_R(kvs_store_remove(s, "k", 1), KVS_E_IO);
        CHECK(__atomic_load_n(&g_dir_sync_fail, __ATOMIC_SEQ_CST) == 0); /* it was the directory's */
        CHECK_R(kvs_store_exists(s, "k", 1), op == 0 ? KVS_OK : KVS_NOT_FOUND); /* done all the same */
        __atomic_store_n(&g_dir_syncs, 0, __ATOMIC_SEQ_CST);
        CHECK_R(kvs_store_sync(s), KVS_OK);
        if (!CHECK(__atomic_load_n(&g_dir_syncs, __ATOMIC_SEQ_CST) == 1))
            fprintf(stderr, "  %s: %d directory syncs\n", op == 0 ? "put" : "remove",
                    __atomic_load_n(&g_dir_syncs, __ATOMIC_SEQ_CST));
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);
}

/* Where a put's new name is made durable: by the put itself at FULL, else
   by the next kvs_store_sync (one sync of the directory), and a sync with
   nothing new syncs no directory. */
static void test_sync_dirs(void)
{
    static const kvs_durability lv[3] = {KVS_DURABLE_NONE, KVS_DURABLE_DATA, KVS_DURABLE_FULL};
    char d[1100], sub[32];
    kvs_store_config c;
    kvs_sysops ops;
    kvs_store *s;
    int i;
    memset(&ops, 0, sizeof ops);
    ops.fsync = dir_fsync_count;
    for (i = 0; i < 3; i++) {
        snprintf(sub, sizeof sub, "syncdirs%d", i);
        t_path(d, sizeof d, sub);
        cfg_fs(&c, d);
        c.durability = lv[i];
        c.sysops = &ops;
        s = open_store(&c);
        if (!CHECK(s != NULL))
            return;
        CHECK_R(kvs_store_sync(s), KVS_OK); /* whatever the open left */
        __atomic_store_n(&g_dir_syncs, 0, __ATOMIC_SEQ_CST);
        CHECK_R(kvs_store_sync(s), KVS_OK);
        CHECK(__atomic_load_n(&g_dir_syncs, __ATOMIC_SEQ_CST) == 0);
        CHECK_R(kvs_store_put(s, "k", 1, "value", 5), KVS_OK);
        CHECK(__atomic_load_n(&g_dir_syncs, __ATOMIC_SEQ_CST) == (lv[i] == KVS_DURABLE_FULL ? 1 : 0));
        __atomic_store_n(&g_dir_syncs, 0, __ATOMIC_SEQ_CST);
        CHECK_R(kvs_store_sync(s), KVS_OK);
        if (!CHECK(__atomic_load_n(&g_dir_syncs, __ATOMIC_SEQ_CST) == (lv[i] == KVS_DURABLE_FULL ? 0 : 1)))
            fprintf(stderr, "  durability %d: %d directory syncs\n", (int)lv[i],
                    __atomic_load_n(&g_dir_syncs, __ATOMIC_SEQ_CST));
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
}

/* Two syncs at once: the second, started while the first is inside the
   fdatasync of a NONE put (which then fails), must sync the file itself,
   not return KVS_OK having found nothing marked. */
static void test_sync_serial(void)
{
    char d[1100];
    kvs_store_config c;
    kvs_sysops ops;
    unsigned char v[100];
    struct {
        kvs_store *s;
        kvs_result r;
    } a1, a2;
    pthread_t t1, t2;
    memset(&ops, 0, sizeof ops);
    ops.fdatasync = sy_fdatasync;
    t_path(d, sizeof d, "syncser");
    cfg_fs(&c, d);
    c.sysops = &ops;
    c.durability = KVS_DURABLE_NONE;
    a1.s = a2.s = open_store(&c);
    if (!CHECK(a1.s != NULL))
        return;
    memset(v, 7, sizeof v);
    CHECK_R(kvs_store_put(a1.s, "k", 1, v, sizeof v), KVS_OK);
    g_sy_calls = 0;
    a1.r = a2.r = KVS_E_AGAIN;
    t_gate_arm(&g_sy_gate, 2, NULL, NULL);
    if (!CHECK(pthread_create(&t1, NULL, sy_thread, &a1) == 0)) {
        t_gate_release(&g_sy_gate);
        (void)kvs_store_close(a1.s);
        return;
    }
    CHECK(t_gate_wait_entered(&g_sy_gate));
    CHECK(pthread_create(&t2, NULL, sy_thread, &a2) == 0);
    t_sleep_ms(100); /* the second sync is under way (or waiting) */
    t_gate_release(&g_sy_gate);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK_R(a1.r, KVS_E_IO);
    CHECK_R(a2.r, KVS_OK);
    CHECK(__atomic_load_n(&g_sy_calls, __ATOMIC_SEQ_CST) == 2); /* the second synced k itself */
    /* a regular file whose fdatasync answers EINVAL: an error, kept to sync
       (only a special file at the name is skipped) */
    CHECK_R(kvs_store_put(a1.s, "k2", 2, v, sizeof v), KVS_OK);
    __atomic_store_n(&g_sy_einval, 1, __ATOMIC_SEQ_CST);
    CHECK_R(kvs_store_sync(a1.s), KVS_E_INVAL);
    __atomic_store_n(&g_sy_einval, 0, __ATOMIC_SEQ_CST);
    g_sy_calls = 0;
    CHECK_R(kvs_store_sync(a1.s), KVS_OK);
    CHECK(__atomic_load_n(&g_sy_calls, __ATOMIC_SEQ_CST) == 1);
    CHECK_R(kvs_store_close(a1.s), KVS_OK);
    t_rm_rf(d);
}

/* Another process holds a write lease on an object file and gives it up
   when the break comes: a get waits for that, as any open would, and
   never answers KVS_E_AGAIN (a result for calls still running). */
static int g_lease_fd = -1;
static char g_lease_fifo[1400], g_lease_path[1400]; /* fifo set: swapped in, see below */
static void lease_break(int sig)
{
    (void)sig;
    (void)fcntl(g_lease_fd, F_SETLEASE, F_UNLCK);
}

/* openat of the object under a lease: before the second open of it (the
   retry after EWOULDBLOCK), a FIFO replaces the file at the name, as
   another process could at that moment (a blocking retry would then wait
   for a writer) */
static char g_lease_name[KVS_FSNAME_MAX + 1];
static int g_lease_opens;
static int lease_openat(void *u, int dirfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    if (strcmp(path, g_lease_name) == 0 && __atomic_add_fetch(&g_lease_opens, 1, __ATOMIC_SEQ_CST) == 2)
        (void)rename(g_lease_fifo, g_lease_path);
    fd = openat(dirfd, path, flags, (mode_t)mode);
    return fd < 0 ? -errno : fd;
}

static void lease_case(int swap)
{
    char d[1100], name[KVS_FSNAME_MAX + 1], path[1400];
    kvs_store_config c;
    kvs_store *s;
    unsigned char v[100], buf[200];
    size_t got = 0;
    int pp[2];
    pid_t pid;
    char ok = 0;
    kvs_sysops ops;
    t_path(d, sizeof d, "lease");
    cfg_fs(&c, d);
    c.direct = KVS_DIRECT_OFF;
    memset(&ops, 0, sizeof ops);
    ops.openat = lease_openat;
    c.sysops = &ops;
    g_lease_name[0] = '\0';
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    memset(v, 3, sizeof v);
    CHECK_R(kvs_store_put(s, "k", 1, v, sizeof v), KVS_OK);
    fs_name_of("k", name);
    snprintf(path, sizeof path, "%s/%s", d, name);
    snprintf(g_lease_path, sizeof g_lease_path, "%s", path);
    g_lease_fifo[0] = '\0';
    if (swap) { /* a FIFO put at the name between the opens (lease_openat) */
        snprintf(g_lease_fifo, sizeof g_lease_fifo, "%s/fifo", d);
        CHECK(mkfifo(g_lease_fifo, 0600) == 0);
    }
    if (!CHECK(pipe(pp) == 0)) {
        (void)kvs_store_close(s);
        return;
    }
    pid = fork();
    if (pid == 0) {
        char r = 1;
        signal(SIGIO, lease_break);
        g_lease_fd = open(path, O_RDWR);
        if (g_lease_fd < 0 || fcntl(g_lease_fd, F_SETLEASE, F_WRLCK) != 0)
            r = 0;
        if (write(pp[1], &r, 1) != 1)
            _exit(1);
        sleep(5); /* the break's signal ends the lease, then this */
        _exit(0);
    }
    CHECK(pid > 0 && read(pp[0], &ok, 1) == 1);
    close(pp[0]);
    close(pp[1]);
    if (ok && !swap) {
        memset(buf, 0, sizeof buf);
        CHECK_R(kvs_store_get(s, "k", 1, buf, sizeof buf, &got), KVS_OK);
        CHECK(got == sizeof v && memcmp(buf, v, sizeof v) == 0);
    } else if (ok) {
        /* never a blocking open of whatever is at the name by then: a
           FIFO's would wait for a writer (the alarm ends a hung test) */
        snprintf(g_lease_name, sizeof g_lease_name, "%s", name);
        g_lease_opens = 0;
        alarm(60);
        CHECK_R(kvs_store_get(s, "k", 1, buf, sizeof buf, &got), KVS_NOT_FOUND);
        CHECK_R(kvs_store_sync(s), KVS_OK);
        alarm(0);
    } else {
        printf("SKIP: no write lease here (F_SETLEASE): the get under a lease is not run\n");
    }
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);
}

static void test_get_under_lease(void)
{
    lease_case(0);
    lease_case(1);
}

static int plant_socket(const char *dir, const char *name)
{
    struct sockaddr_un a;
    char cwd[2048];
    int fd = socket(AF_UNIX, SOCK_STREAM, 0), r;
    if (fd < 0 || getcwd(cwd, sizeof cwd) == NULL || chdir(dir) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", name); /* relative: sun_path is short */
    r = bind(fd, (struct sockaddr *)&a, sizeof a);
    close(fd);
    return chdir(cwd) == 0 ? r : -1;
}

static int count_keys(void *u, const void *k, size_t kl, uint64_t len)
{
    (void)k;
    (void)kl;
    (void)len;
    (*(int *)u)++;
    return 0;
}

/* A socket at an object's name is a miss (get, iteration, a long key's
   remove), as a FIFO or a device node is; a FIFO put in place of a file
   awaiting its sync does not fail every later sync; a directory at the
   path-set record's name fails the open, naming it. */
static void test_planted_specials(void)
{
    char d[1100], name[KVS_FSNAME_MAX + 1], path[1400], lkey[300], err[512];
    kvs_store_config c;
    kvs_store *s;
    unsigned char v[100], buf[200];
    size_t got = 0, n = 0;
    int keys = 0;
    t_path(d, sizeof d, "planted");
    cfg_fs(&c, d);
    c.durability = KVS_DURABLE_NONE;
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    memset(v, 1, sizeof v);
    CHECK_R(kvs_store_put(s, "a", 1, v, sizeof v), KVS_OK);
    CHECK_R(kvs_store_sync(s), KVS_OK);
    fs_name_of("sock", name);
    CHECK(plant_socket(d, name) == 0);
    CHECK_R(kvs_store_get(s, "sock", 4, buf, sizeof buf, &got), KVS_NOT_FOUND);
    CHECK_R(kvs_store_iterate(s, count_keys, &keys), KVS_OK);
    CHECK(keys == 1);
    memset(lkey, 'X', sizeof lkey); /* a hashed name */
    CHECK_R(kvs_fsname_encode(lkey, sizeof lkey, name, sizeof name, &n, NULL), KVS_OK);
    CHECK(plant_socket(d, name) == 0);
    CHECK_R(kvs_store_get(s, lkey, sizeof lkey, buf, sizeof buf, &got), KVS_NOT_FOUND);
    CHECK_R(kvs_store_remove(s, lkey, sizeof lkey), KVS_OK); /* no object's: it goes */
    snprintf(path, sizeof path, "%s/%s", d, name);
    CHECK(access(path, F_OK) != 0);
    /* a FIFO in place of a NONE put's file */
    CHECK_R(kvs_store_put(s, "ff", 2, v, sizeof v), KVS_OK);
    fs_name_of("ff", name);
    snprintf(path, sizeof path, "%s/%s", d, name);
    CHECK(unlink(path) == 0 && mkfifo(path, 0600) == 0);
    CHECK_R(kvs_store_sync(s), KVS_OK);
    CHECK_R(kvs_store_sync(s), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);
    /* a directory at the path-set record's name */
    CHECK(mkdir(d, 0700) == 0);
    snprintf(path, sizeof path, "%s/%s", d, KVS_PATHSET_NAME);
    CHECK(mkdir(path, 0700) == 0);
    s = NULL;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_EXIST);
    CHECK(s == NULL && strstr(err, KVS_PATHSET_NAME) != NULL && strstr(err, "directory") != NULL);
    t_rm_rf(d);
}

/* Handle B (durability NONE) puts k1 while handle A's eviction has taken
   the older k1 from its name to tell whose it is; A puts B's file back. A
   sync of B that finds the file away waits for A's eviction to end (the
   name's byte lock) and syncs it before it returns. */
static char g_pb_name[KVS_FSNAME_MAX + 1];
static kvs_store *g_pb_a, *g_pb_b;
static unsigned char g_pb_vb[8192];
static int g_pb_fired, g_pb_lfired, g_pb_synced;
static uint64_t g_pb_ino;
static kvs_result g_pb_put, g_pb_sync;
static t_gate g_pb_gate = T_GATE_INIT; /* B's sync met the name empty */

static void *pb_sync_thread(void *p)
{
    (void)p;
    g_pb_sync = kvs_store_sync(g_pb_b);
    return NULL;
}

static int pb_openat_b(void *u, int dfd, const char *path, int flags, unsigned mode)
{
    int fd = openat(dfd, path, flags, (mode_t)mode);
    (void)u;
    if (fd < 0 && errno == ENOENT && strcmp(path, g_pb_name) == 0) {
        t_gate_pass(&g_pb_gate, 3, NULL, NULL); /* held until A's put-back lets it go */
        return -ENOENT;
    }
    return fd < 0 ? -errno : fd;
}

static int pb_renameat(void *u, int fd1, const char *from, int fd2, const char *to)
{
    (void)u;
    if (!g_pb_fired && strcmp(from, g_pb_name) == 0 && to[0] == '~') {
        struct stat sb;
        g_pb_fired = 1; /* A's eviction, after its look: B's put lands now */
        g_pb_put = kvs_store_put(g_pb_b, "k1", 2, g_pb_vb, sizeof g_pb_vb);
        if (fstatat(fd1, g_pb_name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
            g_pb_ino = (uint64_t)sb.st_ino;
    }
    return renameat(fd1, from, fd2, to) == 0 ? 0 : -errno;
}

static pthread_t g_pb_thread;
static int g_pb_started;
static int pb_linkat(void *u, int fd1, const char *from, int fd2, const char *to)
{
    (void)u;
    if (g_pb_lfired++ == 0) {
        /* B's file is away: B syncs now, on its own thread, and this
           put-back waits until that sync has found the name empty */
        t_gate_arm(&g_pb_gate, 3, NULL, NULL);
        g_pb_started = pthread_create(&g_pb_thread, NULL, pb_sync_thread, NULL) == 0;
        if (g_pb_started && t_gate_wait_entered(&g_pb_gate)) {
            t_gate_release(&g_pb_gate);
            t_sleep_ms(50); /* into its wait for the name's lock */
        } else {
            t_gate_release(&g_pb_gate);
        }
    }
    return linkat(fd1, from, fd2, to, 0) == 0 ? 0 : -errno;
}

static int pb_fdatasync(void *u, int fd)
{
    struct stat sb;
    (void)u;
    if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_ino == g_pb_ino)
        g_pb_synced++;
    return fdatasync(fd) == 0 ? 0 : -errno;
}

static void test_sync_while_away(void)
{
    char d[1100];
    kvs_store_config ca, cb;
    kvs_sysops aops, bops;
    unsigned char va[8192], buf[8192];
    size_t got = 0;
    t_path(d, sizeof d, "pbsync");
    fs_name_of("k1", g_pb_name);
    memset(&aops, 0, sizeof aops);
    aops.renameat = pb_renameat;
    aops.linkat = pb_linkat;
    memset(&bops, 0, sizeof bops);
    bops.fdatasync = pb_fdatasync;
    bops.openat = pb_openat_b;
    cfg_fs(&ca, d);
    ca.sysops = &aops;
    ca.capacity_bytes = 2 * (4096 + 8192) + 4096; /* two objects */
    cfg_fs(&cb, d);
    cb.sysops = &bops;
    cb.durability = KVS_DURABLE_NONE;
    g_pb_a = open_store(&ca);
    g_pb_b = open_store(&cb);
    if (!both_open(g_pb_a, g_pb_b))
        return;
    memset(va, 1, sizeof va);
    memset(g_pb_vb, 2, sizeof g_pb_vb);
    CHECK_R(kvs_store_put(g_pb_a, "k1", 2, va, sizeof va), KVS_OK);
    CHECK_R(kvs_store_put(g_pb_a, "k0", 2, va, sizeof va), KVS_OK);
    CHECK_R(kvs_store_put(g_pb_a, "k2", 2, va, sizeof va), KVS_OK); /* evicts k1, or tries */
    CHECK(g_pb_fired == 1 && g_pb_lfired >= 1 && g_pb_started);
    if (g_pb_started)
        pthread_join(g_pb_thread, NULL);
    CHECK_R(g_pb_put, KVS_OK);
    CHECK_R(g_pb_sync, KVS_OK);
    CHECK(g_pb_synced >= 1); /* by that sync, before it returned */
    CHECK_R(kvs_store_get(g_pb_b, "k1", 2, buf, sizeof buf, &got), KVS_OK);
    CHECK(got == sizeof g_pb_vb && memcmp(buf, g_pb_vb, got) == 0); /* B's value, put back */
    CHECK_R(kvs_store_sync(g_pb_b), KVS_OK);
    CHECK(g_pb_synced >= 1); /* B's acknowledged put reached the disk through B's syncs */
    CHECK_R(kvs_store_close(g_pb_a), KVS_OK);
    CHECK_R(kvs_store_close(g_pb_b), KVS_OK);
    t_rm_rf(d);
}

static void test_capacity_edges(void)
{
    char d[1100], p[1400], two[2300], key[300];
    kvs_store_config c;
    kvs_store *s;
    kvs_store_stats st;
    static unsigned char v[8000], big[30000];
    char err[256];
    size_t i;
    it_ctx x;

    /* 1. pinned: a, b, c; evictable: d, e (24 KiB); f needs 36 KiB */
    t_path(d, sizeof d, "capedge");
    cfg_fs(&c, d);
    c.capacity_bytes = 5 * 12288;
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    for (i = 0; i < 5; i++) {
        key[0] = (char)('a' + i);
        CHECK_R(kvs_store_put(s, key, 1, v, sizeof v), KVS_OK);
        if (i < 3)
            CHECK_R(kvs_store_pin(s, key, 1), KVS_OK);
    }
    CHECK_R(kvs_store_put(s, "f", 1, big, sizeof big), KVS_E_FULL);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 0 && st.objects == 5);
    CHECK_R(kvs_store_exists(s, "d", 1), KVS_OK);
    CHECK_R(kvs_store_exists(s, "e", 1), KVS_OK);
    CHECK_R(kvs_store_unpin(s, "c", 1), KVS_OK); /* now it fits, evicting c, d, e */
    CHECK_R(kvs_store_put(s, "f", 1, big, sizeof big), KVS_OK);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 3 && st.disk_bytes <= c.capacity_bytes);
    CHECK_R(kvs_store_unpin(s, "a", 1), KVS_OK);
    CHECK_R(kvs_store_unpin(s, "b", 1), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);

    /* 2. a directory where an object's file was */
    cfg_fs(&c, d);
    c.capacity_bytes = 3 * 12288;
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    CHECK_R(kvs_store_put(s, "k1", 2, v, sizeof v), KVS_OK);
    fs_name_of("k1", key);
    snprintf(p, sizeof p, "%s/%s", d, key);
    CHECK(unlink(p) == 0 && mkdir(p, 0700) == 0);
    for (i = 0; i < 6; i++) {
        char k[16];
        snprintf(k, sizeof k, "x%zu", i);
        CHECK_R(kvs_store_put(s, k, strlen(k), v, sizeof v), KVS_OK);
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == 3 && st.disk_bytes <= c.capacity_bytes);
    /* no object there for a remove either (it answered KVS_E_INVAL, from
       the unlink's EISDIR); nor at a long key's hashed name */
    CHECK_R(kvs_store_exists(s, "k1", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_remove(s, "k1", 2), KVS_NOT_FOUND);
    {
        char lk[300], lp[1400], ln[KVS_FSNAME_MAX + 1];
        struct stat sb;
        memset(lk, 'L', sizeof lk - 1);
        lk[sizeof lk - 1] = 0;
        CHECK_R(kvs_store_put(s, lk, strlen(lk), v, sizeof v), KVS_OK);
        fs_name_of(lk, ln);
        snprintf(lp, sizeof lp, "%s/%s", d, ln);
        CHECK(unlink(lp) == 0 && mkdir(lp, 0700) == 0);
        CHECK_R(kvs_store_exists(s, lk, strlen(lk)), KVS_NOT_FOUND);
        CHECK_R(kvs_store_remove(s, lk, strlen(lk)), KVS_NOT_FOUND);
        CHECK(stat(lp, &sb) == 0 && S_ISDIR(sb.st_mode));
        rmdir(lp);
    }
    {
        struct stat sb;
        CHECK(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)); /* left alone */
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
    rmdir(p);
    t_rm_rf(d);

    /* 3. one directory named twice */
    snprintf(two, sizeof two, "%s,%s/.", d, d);
    cfg_fs(&c, two);
    s = NULL;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_DUPLICATE);
    CHECK(s == NULL && strstr(err, "same directory") != NULL);
    t_rm_rf(d);

    /* 4. a long key's file (hashed name) copied to another long key's name */
    cfg_fs(&c, d);
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    {
        char ka[200], kb[200], na[KVS_FSNAME_MAX + 1], nb[KVS_FSNAME_MAX + 1], pa[1400], pb[1400];
        size_t nl = 0;
        int in, out;
        ssize_t n;
        static unsigned char cp[20000];
        memset(ka, 'A', sizeof ka);
        memset(kb, 'B', sizeof kb);
        CHECK_R(kvs_store_put(s, ka, sizeof ka, v, 100), KVS_OK);
        CHECK_R(kvs_store_put(s, kb, sizeof kb, v, 200), KVS_OK);
        CHECK_R(kvs_fsname_encode(ka, sizeof ka, na, sizeof na, &nl, NULL), KVS_OK);
        CHECK_R(kvs_fsname_encode(kb, sizeof kb, nb, sizeof nb, &nl, NULL), KVS_OK);
        snprintf(pa, sizeof pa, "%s/%s", d, na);
        snprintf(pb, sizeof pb, "%s/%s", d, nb);
        in = open(pb, O_RDONLY);
        out = open(pa, O_WRONLY | O_TRUNC);
        n = in >= 0 ? read(in, cp, sizeof cp) : -1;
        CHECK(n > 0 && out >= 0 && write(out, cp, (size_t)n) == n);
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        memset(&x, 0, sizeof x);
        CHECK_R(kvs_store_iterate(s, it_fn, &x), KVS_OK);
        CHECK(x.n == 1 && x.total == 200); /* B once; A's name holds no A */
        CHECK_R(kvs_store_exists(s, ka, sizeof ka), KVS_NOT_FOUND);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);
}

/* ------------------------------------------------------------------ */
static void test_bad_keys(void)
{
    char d[1100];
    kvs_store_config c;
    kvs_store *s;
    unsigned char big[KVS_KEY_MAX + 1], v[4];
    size_t got = 0;
    t_path(d, sizeof d, "badkeys");
    cfg_fs(&c, d);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    memset(big, 'k', sizeof big);
    CHECK_R(kvs_store_put(s, "", 0, v, 4), KVS_E_KEY);
    CHECK_R(kvs_store_get(s, "", 0, v, 4, &got), KVS_E_KEY);
    CHECK_R(kvs_store_exists(s, "", 0), KVS_E_KEY);
    CHECK_R(kvs_store_remove(s, "", 0), KVS_E_KEY);
    CHECK_R(kvs_store_put(s, big, KVS_KEY_MAX + 1, v, 4), KVS_E_KEY);
    CHECK_R(kvs_store_put(s, big, KVS_KEY_MAX, v, 4), KVS_OK);
    CHECK_R(kvs_store_get(s, big, KVS_KEY_MAX, v, 4, &got), KVS_OK);
    CHECK_R(kvs_store_put(s, "k", 1, NULL, 4), KVS_E_INVAL);
    CHECK_R(kvs_store_put(s, "k", 1, NULL, 0), KVS_OK);
    CHECK_R(kvs_store_get(s, "k", 1, NULL, 0, &got), KVS_OK);
    CHECK(got == 0);
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* ------------------------------------------------------------------ */
/* Threads: values are self-describing (8-byte tag, then t_fill_tag(tag)), so
   any value read back can be checked for tearing. */
#define TH_N 4
#define TH_SHARED 12

typedef struct th_arg {
    kvs_store *s;
    unsigned id;
    unsigned iters;
    unsigned bad;
    unsigned errors;
} th_arg;


static void *th_main(void *argp)
{
    th_arg *a = (th_arg *)argp;
    uint64_t rs = t_seed ^ (a->id * 7919u);
    unsigned char *buf = (unsigned char *)malloc(70000), *rd = (unsigned char *)malloc(70000),
                  *sc = (unsigned char *)malloc(70000);
    unsigned i;
    for (i = 0; buf && rd && sc && i < a->iters; i++) {
        uint64_t r = t_rng_next(&rs);
        char key[32];
        int shared = (r & 1) != 0, kl;
        size_t n = 8 + (size_t)((r >> 8) % 60000);
        unsigned op = (unsigned)((r >> 40) % 10);
        kvs_result res;
        size_t got = 0;
        if (shared)
            kl = snprintf(key, sizeof key, "sh-%u", (unsigned)((r >> 20) % TH_SHARED));
        else
            kl = snprintf(key, sizeof key, "own-%u-%u", a->id, (unsigned)((r >> 20) % 8));
        if (op < 4) {
            make_tagged(buf, n, ((uint64_t)n << 32) | (r & 0xffffffffu));
            res = kvs_store_put(a->s, key, (size_t)kl, buf, n);
            if (res != KVS_OK && res != KVS_E_FULL)
                a->errors++;
        } else if (op < 8) {
            res = kvs_store_get(a->s, key, (size_t)kl, rd, 70000, &got);
            if (res == KVS_OK && !check_tagged(rd, got, sc, NULL))
                a->bad++;
            else if (res != KVS_OK && res != KVS_NOT_FOUND)
                a->errors++;
        } else if (op == 8) {
            res = kvs_store_remove(a->s, key, (size_t)kl);
            if (res != KVS_OK && res != KVS_NOT_FOUND)
                a->errors++;
        } else {
            res = kvs_store_pin(a->s, key, (size_t)kl);
            if (res == KVS_OK)
                res = kvs_store_unpin(a->s, key, (size_t)kl);
            if (res != KVS_OK && res != KVS_NOT_FOUND)
                a->errors++;
            (void)kvs_store_exists(a->s, key, (size_t)kl);
        }
    }
    free(buf);
    free(rd);
    free(sc);
    return NULL;
}

static int it_count(void *user, const void *key, size_t kl, uint64_t len)
{
    (void)key;
    (void)kl;
    (void)len;
    (*(size_t *)user)++;
    return 0;
}

/* What the scan at open and the iteration leave alone: a directory at an
   object's name is no object (not counted: it would hold room no eviction
   can free), and a temporary file, a put under way or an orphan, is never
   opened by an iteration, even one holding a whole object. */
static int g_tmp_opens; /* atomic: openat calls on temporary names */
static int tmp_openat(void *u, int dirfd, const char *path, int flags, unsigned mode)
{
    int fd;
    (void)u;
    if (strncmp(path, "~t", 2) == 0 && strlen(path) == 38) /* FORMAT.md 5.3 */
        __atomic_add_fetch(&g_tmp_opens, 1, __ATOMIC_SEQ_CST);
    fd = openat(dirfd, path, flags, (mode_t)mode);
    return fd < 0 ? -errno : fd;
}

static void test_scan_leaves_alone(void)
{
    char d[1100], name[KVS_FSNAME_MAX + 1], p[1400], tp[1400];
    kvs_store_config c;
    kvs_store *s;
    kvs_store_stats st;
    kvs_sysops ops;
    size_t cnt = 0;
    t_path(d, sizeof d, "scanalone");
    cfg_fs(&c, d);
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    CHECK_R(kvs_store_put(s, "k", 1, "value", 5), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    /* k's file copied to a young temporary name; a directory at "dir"'s name */
    fs_name_of("k", name);
    snprintf(p, sizeof p, "%s/%s", d, name);
    snprintf(tp, sizeof tp, "%s/~t000000000000000a000000000000000b.tmp", d);
    CHECK(link(p, tp) == 0);
    fs_name_of("dir", name);
    snprintf(p, sizeof p, "%s/%s", d, name);
    CHECK(mkdir(p, 0700) == 0);
    memset(&ops, 0, sizeof ops);
    ops.openat = tmp_openat;
    c.sysops = &ops;
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == 1 && st.orphans_removed == 0);
    CHECK(st.disk_bytes == 8192); /* k's 4096 + 5 bytes, in blocks */
    __atomic_store_n(&g_tmp_opens, 0, __ATOMIC_SEQ_CST);
    CHECK_R(kvs_store_iterate(s, it_count, &cnt), KVS_OK);
    CHECK(cnt == 1);
    CHECK(__atomic_load_n(&g_tmp_opens, __ATOMIC_SEQ_CST) == 0);
    CHECK_R(kvs_store_close(s), KVS_OK);
    CHECK(path_exists(tp) && path_exists(p));
    t_rm_rf(d);
}

/* A regular file shorter than a header at an object's name (what a power
   cut can leave of an unsynced put): the scan at open counts it in objects
   and disk_bytes (its bytes stay under the bound), exists, get and iterate
   never report it, and the eviction removes it in its turn
   (docs/STORES.md, "Bytes on disk"). */
static void test_scanned_short_file(void)
{
    char d[1100], name[KVS_FSNAME_MAX + 1], path[1500], key[16];
    kvs_store_config c;
    kvs_store *s;
    kvs_store_stats st;
    unsigned char v[4096], w[4096];
    size_t i, n = 0, cnt = 0;
    struct stat sb;
    const uint64_t per = 8192; /* 4096 header + 4096 payload */
    t_path(d, sizeof d, "shortf");
    cfg_fs(&c, d);
    c.capacity_bytes = 3 * per;
    s = open_store(&c);
    if (s == NULL)
        return;
    t_fill_tag(v, sizeof v, 5);
    CHECK_R(kvs_store_put(s, "s0", 2, v, sizeof v), KVS_OK);
    CHECK_R(kvs_store_put(s, "s1", 2, v, sizeof v), KVS_OK);
    CHECK_R(kvs_store_close(s), KVS_OK);
    fs_name_of("s0", name);
    snprintf(path, sizeof path, "%s/%s", d, name);
    CHECK(truncate(path, 100) == 0);
    s = open_store(&c);
    if (s == NULL)
        return;
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == 2 && st.disk_bytes == 4096 + per);
    CHECK(st.bytes == per - 4096); /* s1's size less the header; s0's none */
    CHECK_R(kvs_store_exists(s, "s0", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_get(s, "s0", 2, w, sizeof w, &n), KVS_NOT_FOUND);
    CHECK_R(kvs_store_iterate(s, it_count, &cnt), KVS_OK);
    CHECK(cnt == 1);
    for (i = 2; i < 6; i++) { /* every unpinned file goes in its turn */
        snprintf(key, sizeof key, "s%zu", i);
        CHECK_R(kvs_store_put(s, key, strlen(key), v, sizeof v), KVS_OK);
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.disk_bytes <= c.capacity_bytes && st.evictions >= 2);
    CHECK(stat(path, &sb) != 0 && errno == ENOENT);
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* A file whose payload is not at 4096 (put with align 8192, and with the
   largest align, 1 MiB, FORMAT 6.3's bound for payload_offset), got by a
   handle that knows it only from the scan: the size less the header block
   is more than the payload, and the one read of header and payload from
   4096 does not hold it; the payload is read from its offset. */
static void test_scanned_wide_offset(void)
{
    static const size_t aligns[2] = {8192, (size_t)1 << 20};
    char d[1100], name[KVS_FSNAME_MAX + 1], path[1400];
    kvs_store_config c;
    kvs_store *s;
    static unsigned char v[5000], w[20000], hb[4096];
    size_t got = 0, i;
    kvs_store_stats st;
    kvs_objhdr h;
    FILE *fp;
    t_path(d, sizeof d, "wideoff");
    fs_name_of("w", name);
    snprintf(path, sizeof path, "%s/%s", d, name);
    for (i = 0; i < 2; i++) {
        cfg_fs(&c, d);
        c.direct = KVS_DIRECT_OFF;
        c.align = aligns[i];
        s = open_store(&c);
        if (!CHECK(s != NULL))
            return;
        t_fill_tag(v, sizeof v, 9 + i);
        CHECK_R(kvs_store_put(s, "w", 1, v, sizeof v), KVS_OK);
        CHECK_R(kvs_store_close(s), KVS_OK);
        fp = fopen(path, "rb");
        CHECK(fp != NULL);
        if (fp != NULL) {
            CHECK(fread(hb, 1, sizeof hb, fp) == sizeof hb);
            fclose(fp);
            CHECK_R(kvs_objhdr_decode(hb, sizeof hb, &h), KVS_OK);
            CHECK(h.payload_offset == aligns[i] && h.payload_len == sizeof v);
        }
        cfg_fs(&c, d);
        c.direct = KVS_DIRECT_OFF;
        s = open_store(&c);
        if (!CHECK(s != NULL))
            return;
        memset(w, 0, sizeof w);
        CHECK_R(kvs_store_get(s, "w", 1, w, sizeof w, &got), KVS_OK);
        CHECK(got == sizeof v && memcmp(w, v, sizeof v) == 0);
        kvs_store_get_stats(s, &st);
        CHECK(st.corruptions == 0);
        CHECK_R(kvs_store_close(s), KVS_OK);
    }
    t_rm_rf(d);
}

static void test_threads(void)
{
    char d[2200];
    kvs_store_config c;
    kvs_store *s;
    pthread_t th[TH_N];
    th_arg args[TH_N];
    unsigned i;
    static const char *const names[2] = {"thA", "thB"};
    paths_text(d, sizeof d, names, 2);
    cfg_fs(&c, d);
    c.capacity_bytes = 20 * 65536; /* forces evictions while others read */
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    for (i = 0; i < TH_N; i++) {
        args[i].s = s;
        args[i].id = i;
        args[i].iters = 300;
        args[i].bad = args[i].errors = 0;
        pthread_create(&th[i], NULL, th_main, &args[i]);
    }
    {
        /* iterate, stats and sync alongside */
        int k;
        for (k = 0; k < 5; k++) {
            size_t n = 0;
            kvs_store_stats st;
            CHECK_R(kvs_store_iterate(s, it_count, &n), KVS_OK);
            kvs_store_get_stats(s, &st);
            CHECK(st.disk_bytes <= c.capacity_bytes);
            CHECK_R(kvs_store_sync(s), KVS_OK);
        }
    }
    for (i = 0; i < TH_N; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].bad == 0);
        CHECK(args[i].errors == 0);
    }
    {
        kvs_store_stats st;
        size_t n = 0;
        static const char *const sub2[2] = {"thA", "thB"};
        char p0[1100], p1[1100];
        kvs_store_get_stats(s, &st);
        CHECK(st.corruptions == 0);
        CHECK(st.disk_bytes <= c.capacity_bytes);
        CHECK_R(kvs_store_iterate(s, it_count, &n), KVS_OK);
        CHECK(n == st.objects);
        t_path(p0, sizeof p0, sub2[0]);
        t_path(p1, sizeof p1, sub2[1]);
        CHECK(count_files(p0, 2) + count_files(p1, 2) == 0);
        CHECK(count_files(p0, 1) + count_files(p1, 1) == n);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* ------------------------------------------------------------------ */
/* Bytes a's reads asked for (pread and preadv hooks), to tell the get that
   reads the payload alone from the one that reads the header too. */
static uint64_t g_rd_bytes, g_rd_calls;
static int64_t cnt_pread(void *u, int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n = pread(fd, buf, len, (off_t)off);
    (void)u;
    g_rd_bytes += len;
    g_rd_calls++;
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}
static int64_t cnt_preadv(void *u, int fd, const kvs_iovec *iov, int cnt, uint64_t off)
{
    struct iovec v[KVS_IOV_BATCH];
    ssize_t n;
    int i;
    (void)u;
    g_rd_calls++;
    for (i = 0; i < cnt; i++) {
        v[i].iov_base = iov[i].base;
        v[i].iov_len = iov[i].len;
        g_rd_bytes += iov[i].len;
    }
    n = preadv(fd, v, cnt, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

/* Configs of two handles on d, direct (pol 1) or buffered: *c with the
   read-counting hooks in *ops, *cb without. */
static void counted_cfgs(kvs_store_config *c, kvs_store_config *cb, kvs_sysops *ops, const char *d, int pol)
{
    memset(ops, 0, sizeof *ops);
    ops->pread = cnt_pread;
    ops->preadv = cnt_preadv;
    cfg_fs(c, d);
    c->direct = pol ? KVS_DIRECT_PREFER : KVS_DIRECT_OFF;
    *cb = *c;
    c->sysops = ops;
}

/* Bytes a get of a known file reads: the payload alone (less than a block
   more), or, for a direct-I/O file padded past its payload, header and
   payload in one preadv (the padding hides the length from the size). */
static int known_read_ok(uint64_t bytes, size_t len, int direct)
{
    if (direct && len % 4096 != 0)
        return bytes >= len + 4096 && bytes < len + 2 * 4096;
    return bytes >= len && bytes < len + 4096;
}

/* A get of a file this handle knows (it put it, or read and checked it)
   reads the payload alone and checks it against the CRC32C it knows (when
   the payload ends where the file does: known_read_ok); one
   that knows only the length reads header and payload in one preadv; when
   another writer changed the object meanwhile (longer, shorter, same
   length with other bytes, removed, the same bytes again), the header
   decides and the payload is read again from the right place. Direct and
   buffered. */
static void test_one_read_get(void)
{
    int pol;
    for (pol = 0; pol < 2; pol++) {
        char d[1200], key[] = "model@tp0@one-read";
        kvs_store_config c, cb;
        kvs_sysops ops;
        kvs_store *a, *b;
        kvs_store_stats st;
        size_t lens[5] = {300000, 256 * 1024, 200000 - 7, 300000, 300000}, i, got = 0;
        uint64_t r0;
        unsigned char *v = (unsigned char *)t_xalloc_aligned(400000, 4096);
        unsigned char *rd = (unsigned char *)t_xalloc_aligned(400000, 4096);
        t_path(d, sizeof d, pol ? "oneread_dir" : "oneread_buf");
        counted_cfgs(&c, &cb, &ops, d, pol);
        a = open_store(&c);
        b = open_store(&cb);
        CHECK(a != NULL && b != NULL && v != NULL && rd != NULL);
        if (a == NULL || b == NULL || v == NULL || rd == NULL)
            return;
        t_fill_tag(v, lens[0], 1);
        CHECK_R(kvs_store_put(a, key, sizeof key - 1, v, lens[0]), KVS_OK);
        r0 = g_rd_bytes;
        memset(rd, 0, 400000);
        CHECK_R(kvs_store_get(a, key, sizeof key - 1, rd, 400000, &got), KVS_OK);
        CHECK(got == lens[0] && memcmp(rd, v, got) == 0);
        CHECK(known_read_ok(g_rd_bytes - r0, lens[0], pol)); /* no header block */
        for (i = 1; i < 5; i++) {
            /* a knows the file it last put or read; b writes lens[i] with
               other bytes (the last two: the same length as the one before) */
            t_fill_tag(v, lens[i], 10 + i);
            CHECK_R(kvs_store_put(b, key, sizeof key - 1, v, lens[i]), KVS_OK);
            memset(rd, 0, 400000);
            CHECK_R(kvs_store_get(a, key, sizeof key - 1, rd, 400000, &got), KVS_OK);
            CHECK(got == lens[i] && memcmp(rd, v, got) == 0);
            /* now a knows the new file: the next get reads the payload alone */
            memset(rd, 0, 400000);
            r0 = g_rd_bytes;
            CHECK_R(kvs_store_get(a, key, sizeof key - 1, rd, 400000, &got), KVS_OK);
            CHECK(got == lens[i] && memcmp(rd, v, got) == 0);
            CHECK(known_read_ok(g_rd_bytes - r0, lens[i], pol));
            /* a buffer just too small: the size, no read; a still knows the file */
            CHECK_R(kvs_store_get(a, key, sizeof key - 1, rd, lens[i] - 1, &got), KVS_E_BUFSIZE);
            CHECK(got == lens[i]);
            r0 = g_rd_bytes;
            CHECK_R(kvs_store_get(a, key, sizeof key - 1, rd, 400000, &got), KVS_OK);
            CHECK(got == lens[i] && memcmp(rd, v, got) == 0);
            CHECK(known_read_ok(g_rd_bytes - r0, lens[i], pol));
        }
        /* b replaces the object by one whose file has the same size and
           whose first bytes are the ones a knows: a longer value within the
           direct-I/O tail padding, then a shorter one that drops trailing
           zeros. Size and CRC of the known length match; the file is another
           one, so a reads the header and gets the new length. */
        {
            size_t base = 5000;
            t_fill_tag(v, base, 30);
            CHECK_R(kvs_store_put(a, key, sizeof key - 1, v, base), KVS_OK);
            v[base] = 1;
            v[base + 1] = 2;
            v[base + 2] = 3;
            CHECK_R(kvs_store_put(b, key, sizeof key - 1, v, base + 3), KVS_OK);
            CHECK_R(kvs_store_get(a, key, sizeof key - 1, rd, 400000, &got), KVS_OK);
            CHECK(got == base + 3 && memcmp(rd, v, got) == 0);
            v[base] = v[base + 1] = v[base + 2] = 0;
            CHECK_R(kvs_store_put(a, key, sizeof key - 1, v, base + 3), KVS_OK);
            CHECK_R(kvs_store_put(b, key, sizeof key - 1, v, base), KVS_OK);
            CHECK_R(kvs_store_get(a, key, sizeof key - 1, rd, 400000, &got), KVS_OK);
            CHECK(got == base && memcmp(rd, v, got) == 0);
            CHECK_R(kvs_store_get(a, key, sizeof key - 1, rd, 400000, &got), KVS_OK);
            CHECK(got == base);
        }
        /* b puts again the very bytes a knows: a new file all the same, so
           a reads its header once, and then knows it */
        CHECK_R(kvs_store_put(b, key, sizeof key - 1, v, 5000), KVS_OK);
        r0 = g_rd_bytes;
        CHECK_R(kvs_store_get(a, key, sizeof key - 1, rd, 400000, &got), KVS_OK);
        CHECK(got == 5000 && memcmp(rd, v, got) == 0);
        CHECK(g_rd_bytes - r0 >= 5000 + 4096);
        r0 = g_rd_bytes;
        CHECK_R(kvs_store_get(a, key, sizeof key - 1, rd, 400000, &got), KVS_OK);
        CHECK(got == 5000 && memcmp(rd, v, got) == 0);
        CHECK(known_read_ok(g_rd_bytes - r0, 5000, pol));
        /* b removes it: a misses, without counting a corruption */
        CHECK_R(kvs_store_remove(b, key, sizeof key - 1), KVS_OK);
        CHECK_R(kvs_store_get(a, key, sizeof key - 1, rd, 400000, &got), KVS_NOT_FOUND);
        kvs_store_get_stats(a, &st);
        CHECK(st.corruptions == 0);
        if (pol)
            CHECK(st.bounce_bytes > 0); /* the unaligned lengths' tails */
        CHECK_R(kvs_store_close(a), KVS_OK);
        CHECK_R(kvs_store_close(b), KVS_OK);
        free(v);
        free(rd);
    }
}

/* A handle that did not write the objects (a reader after a restart, or
   another process) knows their files only from the scan at open: their
   size, not their length. Its first get of each still reads header and
   payload in one call, taking the size less the header block as the most
   the payload can be (a direct-I/O file is padded past it); the header
   decides the length. A replacement by a shorter or longer object after
   the scan reads right too. Direct and buffered. */
static void test_scanned_one_read(void)
{
    int pol;
    for (pol = 0; pol < 2; pol++) {
        char d[1200], key[3][16] = {"scan/aligned", "scan/padded", "scan/small"};
        kvs_store_config c, cb;
        kvs_sysops ops;
        kvs_store *a, *b;
        size_t lens[3] = {256 * 1024, 200000 - 7, 5000}, i, got = 0;
        uint64_t c0;
        unsigned char *v = (unsigned char *)t_xalloc_aligned(300000, 4096);
        unsigned char *rd = (unsigned char *)t_xalloc_aligned(300000, 4096);
        t_path(d, sizeof d, pol ? "scanread_dir" : "scanread_buf");
        counted_cfgs(&c, &cb, &ops, d, pol);
        b = open_store(&cb);
        CHECK(b != NULL && v != NULL && rd != NULL);
        if (b == NULL || v == NULL || rd == NULL)
            return;
        for (i = 0; i < 3; i++) {
            t_fill_tag(v, lens[i], 40 + i);
            CHECK_R(kvs_store_put(b, key[i], strlen(key[i]), v, lens[i]), KVS_OK);
        }
        a = open_store(&c); /* knows the three files by the scan only */
        CHECK(a != NULL);
        if (a == NULL) {
            (void)kvs_store_close(b);
            return;
        }
        for (i = 0; i < 3; i++) {
            t_fill_tag(v, lens[i], 40 + i);
            memset(rd, 0, 300000);
            c0 = g_rd_calls;
            CHECK_R(kvs_store_get(a, key[i], strlen(key[i]), rd, 300000, &got), KVS_OK);
            CHECK(got == lens[i] && memcmp(rd, v, got) == 0);
            CHECK(g_rd_calls - c0 == 1); /* header and payload together */
        }
        /* after a's open, b replaces the small one by a longer and the
           aligned one by a shorter object: the header decides */
        (void)kvs_store_close(a);
        a = open_store(&c);
        CHECK(a != NULL);
        if (a != NULL) {
            t_fill_tag(v, 9000, 50);
            CHECK_R(kvs_store_put(b, key[2], strlen(key[2]), v, 9000), KVS_OK);
            CHECK_R(kvs_store_get(a, key[2], strlen(key[2]), rd, 300000, &got), KVS_OK);
            CHECK(got == 9000 && memcmp(rd, v, got) == 0);
            t_fill_tag(v, 100000, 51);
            CHECK_R(kvs_store_put(b, key[0], strlen(key[0]), v, 100000), KVS_OK);
            CHECK_R(kvs_store_get(a, key[0], strlen(key[0]), rd, 300000, &got), KVS_OK);
            CHECK(got == 100000 && memcmp(rd, v, got) == 0);
            CHECK_R(kvs_store_close(a), KVS_OK);
        }
        CHECK_R(kvs_store_close(b), KVS_OK);
        free(v);
        free(rd);
    }
}

/* Evictions the filesystem refuses. One file that cannot be moved (another
   user's in a sticky directory, an immutable one: here a renameat hook
   refuses it) is passed over, and the next least recent goes; when no file
   can go, the put fails with the error, not KVS_E_FULL, and nothing is lost.
   And an overwrite that cannot fit even with every other object gone is
   KVS_E_FULL at once, with nothing evicted for nothing. */
static char g_er_name[KVS_FSNAME_MAX + 1]; /* the name refused; "" none */
static int g_er_all;                       /* every eviction refused, EIO */

static unsigned g_er_refused;              /* evictions refused so far */

static int er_renameat(void *u, int fd1, const char *from, int fd2, const char *to)
{
    (void)u;
    if (to[0] == '~' && __atomic_load_n(&g_er_all, __ATOMIC_SEQ_CST)) {
        __atomic_add_fetch(&g_er_refused, 1u, __ATOMIC_SEQ_CST);
        t_sleep_ms(1); /* a slow refusal: other threads' reserves overlap it */
        return -EIO;
    }
    if (to[0] == '~' && strcmp(from, g_er_name) == 0)
        return -EPERM; /* an eviction's move aside of that name */
    return renameat(fd1, from, fd2, to) == 0 ? 0 : -errno;
}

static void test_evict_refused(void)
{
    char d[1100];
    kvs_store_config c;
    kvs_sysops ops;
    kvs_store *s;
    kvs_store_stats st;
    static unsigned char v[24000];
    const char *keys[5] = {"k0", "k1", "k2", "k3", "k4"};
    int i;

    t_fill_tag(v, sizeof v, 81);
    memset(&ops, 0, sizeof ops);
    ops.renameat = er_renameat;
    t_path(d, sizeof d, "evrefused");
    cfg_fs(&c, d);
    c.sysops = &ops;
    c.capacity_bytes = 3 * 12288; /* three objects of 8000 bytes */
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    for (i = 0; i < 3; i++)
        CHECK_R(kvs_store_put(s, keys[i], 2, v, 8000), KVS_OK);
    fs_name_of("k0", g_er_name); /* the least recent cannot go */
    CHECK_R(kvs_store_put(s, "k3", 2, v, 8000), KVS_OK);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 1 && st.objects == 3 && st.disk_bytes <= c.capacity_bytes);
    CHECK_R(kvs_store_exists(s, "k0", 2), KVS_OK);
    CHECK_R(kvs_store_exists(s, "k1", 2), KVS_NOT_FOUND);
    CHECK_R(kvs_store_exists(s, "k2", 2), KVS_OK);
    CHECK_R(kvs_store_exists(s, "k3", 2), KVS_OK);
    /* no file can go: the error of the first refusal, every object kept */
    __atomic_store_n(&g_er_all, 1, __ATOMIC_SEQ_CST);
    CHECK_R(kvs_store_put(s, "k4", 2, v, 8000), KVS_E_IO);
    __atomic_store_n(&g_er_all, 0, __ATOMIC_SEQ_CST);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 1 && st.objects == 3);
    for (i = 0; i < 4; i++)
        CHECK_R(kvs_store_exists(s, keys[i], 2), i == 1 ? KVS_NOT_FOUND : KVS_OK);
    /* refusals over: the put evicts one of the three (the passed-over
       files went to the most recent end, in the order they were tried) */
    g_er_name[0] = '\0';
    CHECK_R(kvs_store_put(s, "k4", 2, v, 8000), KVS_OK);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 2 && st.objects == 3);
    CHECK_R(kvs_store_exists(s, "k4", 2), KVS_OK);
    CHECK((kvs_store_exists(s, "k0", 2) == KVS_OK) + (kvs_store_exists(s, "k2", 2) == KVS_OK) +
              (kvs_store_exists(s, "k3", 2) == KVS_OK) == 2);
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);

    /* capacity 48 KiB: K (20000 bytes, 24 KiB on disk), A and B (12 KiB
       each). K's overwrite with 24000 bytes (28 KiB) needs 52 KiB beside
       the old K, which it never evicts: KVS_E_FULL, A and B stay. */
    c.capacity_bytes = 4 * 12288;
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    CHECK_R(kvs_store_put(s, "K", 1, v, 20000), KVS_OK);
    CHECK_R(kvs_store_put(s, "A", 1, v, 8000), KVS_OK);
    CHECK_R(kvs_store_put(s, "B", 1, v, 8000), KVS_OK);
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == 3 && st.disk_bytes == c.capacity_bytes);
    CHECK_R(kvs_store_put(s, "K", 1, v, 24000), KVS_E_FULL);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 0 && st.objects == 3);
    CHECK_R(kvs_store_exists(s, "A", 1), KVS_OK);
    CHECK_R(kvs_store_exists(s, "B", 1), KVS_OK);
    {
        static unsigned char got[24000];
        size_t n = 0;
        CHECK_R(kvs_store_get(s, "K", 1, got, sizeof got, &n), KVS_OK);
        CHECK(n == 20000 && memcmp(got, v, n) == 0);
    }
    /* one that fits once A and B are gone still evicts them */
    CHECK_R(kvs_store_put(s, "K", 1, v, 20000), KVS_OK);
    kvs_store_get_stats(s, &st);
    CHECK(st.evictions == 2 && st.objects == 1);
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);
}

/* Several threads' puts while every eviction is refused: each put ends
   with the error, having tried each file about once (the reserves used to
   wait for each other's failing tries and go round for ever). SIGALRM
   ends a run that hangs. */
typedef struct er_arg {
    kvs_store *s;
    int id, bad;
} er_arg;

static void *er_put_thread(void *arg)
{
    er_arg *a = (er_arg *)arg;
    static unsigned char v[8000]; /* zeros */
    char k[32];
    int i;
    for (i = 0; i < 10; i++) {
        int kl = snprintf(k, sizeof k, "t%d-%d", a->id, i);
        if (kvs_store_put(a->s, k, (size_t)kl, v, sizeof v) != KVS_E_IO)
            a->bad++;
    }
    return NULL;
}

static void test_evict_refused_threads(void)
{
    char d[1100];
    kvs_store_config c;
    kvs_sysops ops;
    kvs_store *s;
    kvs_store_stats st;
    static unsigned char v[8000];
    pthread_t th[4];
    er_arg a[4];
    int i, started[4];
    unsigned refused;

    memset(&ops, 0, sizeof ops);
    ops.renameat = er_renameat;
    t_path(d, sizeof d, "evrefusedmt");
    cfg_fs(&c, d);
    c.sysops = &ops;
    c.threads = 4;
    c.capacity_bytes = 4 * 12288;
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    for (i = 0; i < 4; i++) {
        char k[16];
        snprintf(k, sizeof k, "f%d", i);
        CHECK_R(kvs_store_put(s, k, 2, v, sizeof v), KVS_OK);
    }
    __atomic_store_n(&g_er_refused, 0u, __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_er_all, 1, __ATOMIC_SEQ_CST);
    alarm(300);
    for (i = 0; i < 4; i++) {
        a[i].s = s;
        a[i].id = i;
        a[i].bad = 0;
        started[i] = pthread_create(&th[i], NULL, er_put_thread, &a[i]) == 0;
        CHECK(started[i]);
    }
    for (i = 0; i < 4; i++)
        if (started[i]) {
            (void)pthread_join(th[i], NULL);
            CHECK(a[i].bad == 0);
        }
    alarm(0);
    __atomic_store_n(&g_er_all, 0, __ATOMIC_SEQ_CST);
    refused = __atomic_load_n(&g_er_refused, __ATOMIC_SEQ_CST);
    /* 40 puts, 4 files each at most once per pass, 3 passes */
    CHECK(refused >= 40 && refused <= 40 * 4 * 3);
    kvs_store_get_stats(s, &st);
    CHECK(st.objects == 4 && st.evictions == 0 && st.disk_bytes <= c.capacity_bytes);
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);
}

int main(void)
{
    t_init_seed("test_store_fs", 0x5eed1234ULL);
    t_setup_dir("fs");
    test_one_read_get();
    test_scanned_one_read();
    test_config();
    test_roundtrip();
    test_sharding();
    test_pathset();
    test_must_exist();
    test_orphans();
    test_rank_dirs();
    test_rank_dir_probe();
    test_orphans_server_clock();
    test_reopen();
    test_capacity();
    test_iterate_batches();
    test_capacity_edges();
    test_overwrite_keeps_old();
    test_pin_count_full();
    test_concurrent_overwrites();
    test_last_resort_past_pin();
    test_evict_refused();
    test_evict_refused_threads();
    test_sync_serial();
    test_sync_dirs();
    test_sync_dir_retry();
    test_get_under_lease();
    test_planted_specials();
    test_sync_while_away();
    test_bad_keys();
    test_scanned_short_file();
    test_scan_leaves_alone();
    test_scanned_wide_offset();
    test_threads();
    t_rm_rf(t_dir);
    return t_done("test_store_fs");
}
