/* SPDX-License-Identifier: MIT OR Unlicense */
/* Filesystem store across processes: reopen after a child is killed with
   SIGKILL in the middle of a stream of puts (every acknowledged object is
   there and exact, nothing torn is visible, its orphaned temporary files go
   once old enough), and two processes writing and reading the same keys at
   once (a reader sees a complete old or new value, never a torn one).
   Environment: KVS_TEST_DIR, KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static unsigned long long g_seed = 0x5eed1234ULL;
static unsigned g_pass, g_fail;
static char g_dir[1024];

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (c)                                                                            \
            g_pass++;                                                                     \
        else {                                                                            \
            g_fail++;                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s (seed %llu)\n", __FILE__, __LINE__, #c, \
                    g_seed);                                                              \
        }                                                                                 \
    } while (0)

#define CHECK_R(expr, want)                                                               \
    do {                                                                                  \
        int got_ = (int)(expr), want_ = (int)(want);                                      \
        if (got_ == want_)                                                                \
            g_pass++;                                                                     \
        else {                                                                            \
            g_fail++;                                                                     \
            fprintf(stderr, "%s:%d: %s = %s, want %s (seed %llu)\n", __FILE__, __LINE__, #expr, \
                    kvs_result_name(got_), kvs_result_name(want_), g_seed);               \
        }                                                                                 \
    } while (0)

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Deterministic bytes for (tag, len): the value a key holds. */
static void fill_val(unsigned char *p, size_t n, uint64_t tag)
{
    uint64_t s = tag * 0x9e3779b97f4a7c15ULL + n;
    size_t i = 0;
    while (i < n) {
        uint64_t v = rng_next(&s);
        size_t k;
        for (k = 0; k < 8 && i < n; k++, i++)
            p[i] = (unsigned char)(v >> (8 * k));
    }
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path)
{
    (void)nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup_dir(const char *tag)
{
    const char *env = getenv("KVS_TEST_DIR");
    const char *seed = getenv("KVS_SEED");
    if (seed != NULL)
        g_seed = strtoull(seed, NULL, 0);
    snprintf(g_dir, sizeof g_dir, "%s/%s_XXXXXX", (env != NULL && env[0] != '\0') ? env : "/tmp", tag);
    if (mkdtemp(g_dir) == NULL) {
        fprintf(stderr, "%s:%d: mkdtemp(%s) failed (seed %llu)\n", __FILE__, __LINE__, g_dir, g_seed);
        exit(1);
    }
}

static void sub(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", g_dir, name);
}

/* Files in dir whose names decode as data (1), temp (2), other (3) or all (0). */
static size_t count_files(const char *dir, int what)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    size_t n = 0;
    if (dp == NULL)
        return 0;
    while ((de = readdir(dp)) != NULL) {
        unsigned char kb[KVS_KEY_MAX];
        size_t kl = 0;
        kvs_fsname_kind kind;
        int cls;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (kvs_fsname_decode(de->d_name, strlen(de->d_name), kb, sizeof kb, &kl, &kind) != KVS_OK)
            cls = 3;
        else
            cls = kind == KVS_FSNAME_TEMP ? 2 : 1;
        if (what == 0 || what == cls)
            n++;
    }
    closedir(dp);
    return n;
}

static kvs_store *open_store(kvs_store_config *c)
{
    kvs_store *s = NULL;
    char err[512];
    kvs_result r = kvs_store_open(c, &s, err, sizeof err);
    if (r != KVS_OK) {
        fprintf(stderr, "open failed: %s: %s\n", kvs_result_name(r), err);
        return NULL;
    }
    return s;
}

static void *xalloc_aligned(size_t n, size_t align)
{
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n ? n : 1) != 0)
        return NULL;
    return p;
}

static void cfg_fs(kvs_store_config *c, const char *paths)
{
    kvs_store_config_init(c);
    c->kind = KVS_STORE_FS;
    c->paths = paths;
    c->threads = 1;
}

/* Self-describing values: 8-byte tag (len << 32 | id), then fill_val(tag). */
static void make_tagged(unsigned char *p, size_t n, uint64_t tag)
{
    memcpy(p, &tag, 8);
    fill_val(p + 8, n - 8, tag);
}

static int check_tagged(const unsigned char *p, size_t n, unsigned char *scratch, uint64_t *tag_out)
{
    uint64_t tag;
    if (n < 8)
        return 0;
    memcpy(&tag, p, 8);
    fill_val(scratch, n - 8, tag);
    if (tag_out)
        *tag_out = tag;
    return (tag >> 32) == n && memcmp(scratch, p + 8, n - 8) == 0;
}

static size_t val_len(uint32_t id)
{
    return 8 + (size_t)(kvs_mix64(id) % (300u << 10));
}

/* ------------------------------------------------------------------ */
/* The child: puts "kill-<i>" (new keys) and "ow-<i % 5>" (overwrites),
   writing each acknowledged id to the pipe, until killed. */
static void child_writer(const char *paths, int wfd, uint32_t first)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    unsigned char *buf = (unsigned char *)malloc(400u << 10);
    uint32_t i;
    cfg_fs(&c, paths);
    c.durability = KVS_DURABLE_NONE;
    if (buf == NULL || kvs_store_open(&c, &s, NULL, 0) != KVS_OK)
        _exit(3);
    for (i = first; i < first + 100000u; i++) {
        char key[32];
        size_t n = val_len(i);
        int kl = (i % 3 == 0) ? snprintf(key, sizeof key, "ow-%u", (unsigned)(i % 5))
                              : snprintf(key, sizeof key, "kill-%u", (unsigned)i);
        make_tagged(buf, n, ((uint64_t)n << 32) | i);
        if (kvs_store_put(s, key, (size_t)kl, buf, n) != KVS_OK)
            _exit(4);
        if (write(wfd, &i, sizeof i) != (ssize_t)sizeof i)
            _exit(5);
    }
    _exit(0);
}

static void test_sigkill(void)
{
    char d[2400], a[1100], b[1100];
    unsigned char *buf = (unsigned char *)malloc(400u << 10), *sc = (unsigned char *)malloc(400u << 10);
    uint32_t *acked = (uint32_t *)calloc(200000, sizeof(uint32_t));
    size_t nacked = 0, round;
    uint64_t rs = g_seed;
    uint32_t first = 1;
    int ow_last[5] = {-1, -1, -1, -1, -1};
    kvs_store_config c;
    kvs_store *s;
    sub(a, sizeof a, "kill_a");
    sub(b, sizeof b, "kill_b");
    snprintf(d, sizeof d, "%s,%s", a, b);
    if (buf == NULL || sc == NULL || acked == NULL)
        return;
    for (round = 0; round < 4; round++) {
        int p[2];
        pid_t pid;
        size_t want = 10 + (size_t)(rng_next(&rs) % 40), got_now = 0;
        uint32_t id;
        int st = 0;
        CHECK(pipe(p) == 0);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid == 0) {
            close(p[0]);
            child_writer(d, p[1], first);
        }
        close(p[1]);
        while (got_now < want && read(p[0], &id, sizeof id) == (ssize_t)sizeof id) {
            acked[nacked++] = id;
            got_now++;
        }
        /* let it get into the middle of the next put */
        {
            struct timespec ts = {0, (long)(rng_next(&rs) % 3000000)};
            nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        while (read(p[0], &id, sizeof id) == (ssize_t)sizeof id) /* acks written before death */
            acked[nacked++] = id;
        close(p[0]);
        first = acked[nacked - 1] + 2; /* skip the one in flight */

        /* reopen: every acknowledged object present and exact */
        cfg_fs(&c, d);
        s = open_store(&c);
        CHECK(s != NULL);
        if (s == NULL)
            break;
        {
            size_t k, bad = 0;
            for (k = 0; k < nacked; k++) {
                char key[32];
                uint32_t i = acked[k];
                size_t got = 0;
                int kl;
                if (i % 3 == 0) {
                    ow_last[i % 5] = (int)i;
                    continue;
                }
                kl = snprintf(key, sizeof key, "kill-%u", (unsigned)i);
                if (kvs_store_get(s, key, (size_t)kl, buf, 400u << 10, &got) != KVS_OK || got != val_len(i) ||
                    !check_tagged(buf, got, sc, NULL))
                    bad++;
            }
            CHECK(bad == 0);
            /* overwritten keys: the last acknowledged value, or the newer one in flight */
            for (k = 0; k < 5; k++) {
                char key[32];
                size_t got = 0;
                uint64_t tag = 0;
                int kl = snprintf(key, sizeof key, "ow-%u", (unsigned)k);
                kvs_result r = kvs_store_get(s, key, (size_t)kl, buf, 400u << 10, &got);
                if (ow_last[k] < 0)
                    continue;
                CHECK_R(r, KVS_OK);
                CHECK(r == KVS_OK && check_tagged(buf, got, sc, &tag) && (uint32_t)tag >= (uint32_t)ow_last[k]);
            }
        }
        {
            kvs_store_stats st2;
            kvs_store_get_stats(s, &st2);
            CHECK(st2.corruptions == 0);
        }
        kvs_store_close(s);
    }
    /* young orphans stayed; once older than temp_max_age_s they go */
    {
        size_t temps = count_files(a, 2) + count_files(b, 2);
        struct timespec ts = {2, 100000000};
        kvs_store_stats st2;
        nanosleep(&ts, NULL);
        cfg_fs(&c, d);
        c.temp_max_age_s = 2;
        s = open_store(&c);
        CHECK(s != NULL);
        if (s != NULL) {
            kvs_store_get_stats(s, &st2);
            CHECK(st2.orphans_removed == temps);
            printf("  %zu acknowledged puts over 4 kills; %zu orphaned temporary files removed\n", nacked, temps);
            CHECK(count_files(a, 2) + count_files(b, 2) == 0);
            kvs_store_close(s);
        }
    }
    free(buf);
    free(sc);
    free(acked);
}

/* ------------------------------------------------------------------ */
/* Two processes on the same keys: each puts and gets tagged values. */
static int proc_worker(const char *paths, unsigned id, unsigned iters)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    unsigned char *buf = (unsigned char *)malloc(200u << 10), *rd = (unsigned char *)malloc(200u << 10),
                  *sc = (unsigned char *)malloc(200u << 10);
    uint64_t rs = g_seed ^ (id * 0x1234567u);
    unsigned i, bad = 0, hits = 0;
    cfg_fs(&c, paths);
    if (buf == NULL || rd == NULL || sc == NULL || kvs_store_open(&c, &s, NULL, 0) != KVS_OK)
        return 100;
    for (i = 0; i < iters; i++) {
        uint64_t r = rng_next(&rs);
        char key[16];
        int kl = snprintf(key, sizeof key, "pk-%u", (unsigned)(r % 6));
        size_t got = 0;
        if ((r >> 8) % 2 == 0) {
            size_t n = 8 + (size_t)((r >> 16) % (150u << 10));
            make_tagged(buf, n, ((uint64_t)n << 32) | (id << 24) | i);
            if (kvs_store_put(s, key, (size_t)kl, buf, n) != KVS_OK)
                bad++;
        } else {
            kvs_result res = kvs_store_get(s, key, (size_t)kl, rd, 200u << 10, &got);
            if (res == KVS_OK) {
                hits++;
                if (!check_tagged(rd, got, sc, NULL))
                    bad++;
            } else if (res != KVS_NOT_FOUND) {
                bad++;
            }
        }
    }
    {
        kvs_store_stats st;
        kvs_store_get_stats(s, &st);
        bad += (unsigned)st.corruptions;
    }
    kvs_store_close(s);
    free(buf);
    free(rd);
    free(sc);
    return bad > 99 ? 99 : (int)bad;
}

static void test_two_processes(void)
{
    char d[1100];
    pid_t pids[2];
    int i;
    sub(d, sizeof d, "twoproc");
    fflush(stdout);
    fflush(stderr);
    for (i = 0; i < 2; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            _exit(proc_worker(d, (unsigned)i + 1, 250));
    }
    for (i = 0; i < 2; i++) {
        int st = 0;
        waitpid(pids[i], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, "  process %d: status %d\n", i, st);
    }
    /* afterwards: every key holds one complete value, no temp left */
    {
        kvs_store_config c;
        kvs_store *s;
        unsigned char *rd = (unsigned char *)malloc(200u << 10), *sc = (unsigned char *)malloc(200u << 10);
        unsigned k;
        cfg_fs(&c, d);
        s = open_store(&c);
        CHECK(s != NULL);
        for (k = 0; s != NULL && rd != NULL && sc != NULL && k < 6; k++) {
            char key[16];
            size_t got = 0;
            int kl = snprintf(key, sizeof key, "pk-%u", k);
            CHECK_R(kvs_store_get(s, key, (size_t)kl, rd, 200u << 10, &got), KVS_OK);
            CHECK(check_tagged(rd, got, sc, NULL));
        }
        CHECK(count_files(d, 2) == 0);
        if (s != NULL)
            kvs_store_close(s);
        free(rd);
        free(sc);
    }
}

int main(void)
{
    (void)&xalloc_aligned;
    setup_dir("kvs_fsr");
    signal(SIGPIPE, SIG_IGN);
    test_sigkill();
    test_two_processes();
    rm_rf(g_dir);
    printf("test_store_fs_restart: %u passed, %u failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
