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

#define FS_THREADS 1
#include "test_store_fs_util.h"


static size_t val_len(uint32_t id)
{
    return 8 + (size_t)(kvs_mix64(id) % (300u << 10));
}

/* ------------------------------------------------------------------ */
/* The child: puts "kill-<i>" (new keys) and "ow-<i % 5>" (overwrites),
   writing each acknowledged id to the pipe, until killed. With stall_at
   nonzero, the put of id stall_at writes half of its first write (the
   temporary file, torn), writes STALL_MARK to the pipe and waits to be
   killed: a put killed in the middle for certain, its temporary file left
   on disk. */
#define STALL_MARK UINT32_MAX
static int g_stall_armed, g_stall_wfd = -1;

static int64_t stall_pwrite(void *user, int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    (void)user;
    if (g_stall_armed) {
        uint32_t mark = STALL_MARK;
        n = pwrite(fd, buf, len / 2, (off_t)off);
        if (n < 0 || write(g_stall_wfd, &mark, sizeof mark) != (ssize_t)sizeof mark)
            _exit(6);
        for (;;)
            pause();
    }
    n = pwrite(fd, buf, len, (off_t)off);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

static void child_writer(const char *paths, int wfd, uint32_t first, uint32_t stall_at)
{
    kvs_store_config c;
    kvs_sysops ops;
    kvs_store *s = NULL;
    unsigned char *buf = (unsigned char *)malloc(400u << 10);
    uint32_t i;
    cfg_fs(&c, paths);
    c.durability = KVS_DURABLE_NONE;
    memset(&ops, 0, sizeof ops);
    ops.pwrite = stall_pwrite; /* pwritev NULL: vectors go through pwrite too */
    c.sysops = &ops;
    g_stall_wfd = wfd;
    if (buf == NULL || kvs_store_open(&c, &s, NULL, 0) != KVS_OK)
        _exit(3);
    for (i = first; i < first + 100000u; i++) {
        char key[32];
        size_t n = val_len(i);
        int kl = (i % 3 == 0) ? snprintf(key, sizeof key, "ow-%u", (unsigned)(i % 5))
                              : snprintf(key, sizeof key, "kill-%u", (unsigned)i);
        make_tagged(buf, n, ((uint64_t)n << 32) | i);
        g_stall_armed = i == stall_at;
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
    size_t nacked = 0, round, temps_kept = 0;
    uint64_t rs = t_seed;
    uint32_t first = 1;
    int ow_last[5] = {-1, -1, -1, -1, -1};
    kvs_store_config c;
    kvs_store *s;
    t_path(a, sizeof a, "kill_a");
    t_path(b, sizeof b, "kill_b");
    snprintf(d, sizeof d, "%s,%s", a, b);
    if (buf == NULL || sc == NULL || acked == NULL)
        return;
    /* Even rounds kill at a random moment (in a put or not); odd rounds
       kill a put stalled in its temporary file's write, which leaves a
       torn temporary file for certain. */
    for (round = 0; round < 4; round++) {
        int p[2], stalled = 0;
        pid_t pid;
        size_t want = 10 + (size_t)(t_rng_next(&rs) % 40), got_now = 0, temps_now;
        uint32_t id, stall_at = (round % 2) ? first + (uint32_t)want : 0;
        int st = 0;
        CHECK(pipe(p) == 0);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid == 0) {
            close(p[0]);
            child_writer(d, p[1], first, stall_at);
        }
        close(p[1]);
        while ((stall_at != 0 || got_now < want) && read(p[0], &id, sizeof id) == (ssize_t)sizeof id) {
            if (id == STALL_MARK) {
                stalled = 1;
                break;
            }
            acked[nacked++] = id;
            got_now++;
        }
        /* let it get into the middle of the next put */
        if (stall_at == 0) {
            struct timespec ts = {0, (long)(t_rng_next(&rs) % 3000000)};
            nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        while (read(p[0], &id, sizeof id) == (ssize_t)sizeof id) /* acks written before death */
            acked[nacked++] = id;
        close(p[0]);
        CHECK(stalled == (stall_at != 0));
        if (stall_at != 0 && !CHECK(nacked > 0 && acked[nacked - 1] + 1 == stall_at))
            break;
        first = acked[nacked - 1] + 2; /* skip the one in flight */
        /* the killed puts' temporary files: every earlier one still there,
           and the stalled put's besides */
        temps_now = count_files(a, 2) + count_files(b, 2);
        if (!CHECK(temps_now >= temps_kept + (size_t)stalled))
            fprintf(stderr, "  round %zu: %zu temporary files after the kill, %zu before it\n", round, temps_now,
                    temps_kept);

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
            /* young orphans (temp_max_age_s is 600 s here) stay */
            CHECK(st2.orphans_removed == 0);
        }
        kvs_store_close(s);
        temps_kept = count_files(a, 2) + count_files(b, 2);
        if (!CHECK(temps_kept == temps_now))
            fprintf(stderr, "  round %zu: the reopen took %zu temporary files to %zu\n", round, temps_now, temps_kept);
    }
    /* young orphans stayed (at least the two stalled puts'); once older
       than temp_max_age_s they go */
    {
        size_t temps = count_files(a, 2) + count_files(b, 2);
        struct timespec ts = {2, 100000000};
        kvs_store_stats st2;
        if (!CHECK(temps == temps_kept && temps >= 2))
            fprintf(stderr, "  %zu temporary files before the aged reopen, %zu kept\n", temps, temps_kept);
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
/* Two processes on the same keys: each puts and gets tagged values. A get
   of a key this process has put must hit (nothing removes a key and the
   store has no capacity bound, so the file is there: this one's or the
   other process's newer one); only a key neither has put yet may miss.
   Returns the count of failures (at most 99). */
static int proc_worker(const char *paths, unsigned id, unsigned iters)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    unsigned char *buf = (unsigned char *)malloc(200u << 10), *rd = (unsigned char *)malloc(200u << 10),
                  *sc = (unsigned char *)malloc(200u << 10);
    uint64_t rs = t_seed ^ (id * 0x1234567u);
    unsigned i, bad = 0, hits = 0, must_hit = 0;
    int mine[6] = {0, 0, 0, 0, 0, 0};
    cfg_fs(&c, paths);
    if (buf == NULL || rd == NULL || sc == NULL || kvs_store_open(&c, &s, NULL, 0) != KVS_OK)
        return 100;
    for (i = 0; i < iters; i++) {
        uint64_t r = t_rng_next(&rs);
        char key[16];
        int kl = snprintf(key, sizeof key, "pk-%u", (unsigned)(r % 6));
        size_t got = 0;
        if ((r >> 8) % 2 == 0) {
            size_t n = 8 + (size_t)((r >> 16) % (150u << 10));
            make_tagged(buf, n, ((uint64_t)n << 32) | (id << 24) | i);
            if (kvs_store_put(s, key, (size_t)kl, buf, n) != KVS_OK)
                bad++;
            else
                mine[r % 6] = 1;
        } else {
            kvs_result res = kvs_store_get(s, key, (size_t)kl, rd, 200u << 10, &got);
            if (mine[r % 6]) {
                must_hit++;
                if (res != KVS_OK)
                    bad++; /* a key this process put went missing */
            }
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
    /* every get of a key put here hit, and there were such gets */
    if (hits < must_hit || must_hit == 0)
        bad++;
    if (bad != 0)
        fprintf(stderr, "  process %u: %u gets hit, %u of keys it had put, %u failures\n", id, hits, must_hit, bad);
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
    t_path(d, sizeof d, "twoproc");
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
    t_init_seed("test_store_fs_restart", 0x5eed1234ULL);
    t_setup_dir("fsr");
    signal(SIGPIPE, SIG_IGN);
    test_sigkill();
    test_two_processes();
    t_rm_rf(t_dir);
    return t_done("test_store_fs_restart");
}
