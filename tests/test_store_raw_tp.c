/* SPDX-License-Identifier: MIT OR Unlicense */
/* Raw-block store with tensor parallelism: 4 ranks on 4 files (isolation),
   the map spelled with integer and string ranks and read from a file,
   duplicate paths and missing ranks refused before any file is created,
   another rank's device refused unless allow_other_rank.
   Environment: KVS_TEST_DIR (scratch directory), KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include "test_store_raw_util.h"

#define MiB ((uint64_t)1 << 20)

static char g_p[4][1200];

static int exists_path(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Rank r's value of "shared": 10 + r bytes, each depending on r and its
   position, so a byte lost, moved or left from another rank's value shows. */
static size_t rank_value(unsigned char *v, unsigned r)
{
    size_t i, n = 10 + r;
    for (i = 0; i < n; i++)
        v[i] = (unsigned char)('A' + r + 16 * i);
    return n;
}

/* get of key into a cleared buffer (so nothing left there from an earlier
   get or put can pass for the value): KVS_OK, want_len bytes, each equal
   to want's. (Bytes past the length are the get's to use: kvs_store_get.) */
static void expect_get(kvs_store *s, const char *key, const unsigned char *want, size_t want_len, const char *what)
{
    unsigned char buf[100];
    size_t got = (size_t)-1, i;
    snprintf(t_ctx, sizeof t_ctx, "%s", what);
    memset(buf, 0, sizeof buf);
    CHECK_R(kvs_store_get(s, key, strlen(key), buf, sizeof buf, &got), KVS_OK);
    for (i = 0; i < want_len && buf[i] == want[i]; i++)
        ;
    if (!CHECK(got == want_len && i == want_len))
        fprintf(stderr, "  %s: %zu bytes, want %zu; first wrong byte at %zu\n", what, got, want_len, i);
    t_ctx[0] = '\0';
}

static void tp_cfg(kvs_store_config *c, const char *map, uint32_t rank)
{
    kvs_store_config_init(c);
    c->kind = KVS_STORE_RAW;
    c->tp_map = map;
    c->tp_rank = rank;
    c->format = KVS_FORMAT_IF_EMPTY;
    c->device_bytes = 4 * MiB;
    c->slot_payload_bytes = 8192;
    c->threads = 1;
}

static void test_four_ranks(void)
{
    char map[6000], json[6000], err[256], mapfile[1200];
    kvs_store_config c, eff;
    kvs_store *s[4] = {NULL, NULL, NULL, NULL};
    unsigned r;
    unsigned char buf[100];
    size_t n;
    FILE *fp;
    snprintf(map, sizeof map, "0=%s,1=%s,2=%s,3=%s", g_p[0], g_p[1], g_p[2], g_p[3]);
    snprintf(json, sizeof json, "{\"0\": \"%s\", \"1\": \"%s\", \"2\": \"%s\", \"3\": \"%s\"}", g_p[0], g_p[1], g_p[2],
             g_p[3]);
    for (r = 0; r < 4; r++) {
        tp_cfg(&c, (r % 2) ? json : map, r);
        CHECK_R(kvs_store_open(&c, &s[r], err, sizeof err), KVS_OK);
        if (s[r] == NULL) {
            fprintf(stderr, "rank %u: %s\n", r, err);
            return;
        }
        kvs_store_get_config(s[r], &eff);
        CHECK(eff.tp_world == 4 && eff.tp_rank == r);
        CHECK(exists_path(g_p[r]));
        n = rank_value(buf, r);
        CHECK_R(kvs_store_put(s[r], "shared", 6, buf, n), KVS_OK);
        if (r == 0)
            CHECK_R(kvs_store_put(s[r], "only0", 5, buf, 5), KVS_OK);
    }
    /* isolation: each rank sees its own value only (every get into a
       cleared buffer: the last put left rank 3's value in buf) */
    for (r = 0; r < 4; r++) {
        char what[32];
        snprintf(what, sizeof what, "rank %u", r);
        n = rank_value(buf, r);
        expect_get(s[r], "shared", buf, n, what);
        CHECK_R(kvs_store_exists(s[r], "only0", 5), r == 0 ? KVS_OK : KVS_NOT_FOUND);
    }
    for (r = 0; r < 4; r++)
        CHECK_R(kvs_store_close(s[r]), KVS_OK);

    /* the map from a file, reopening rank 3 */
    t_path(mapfile, sizeof mapfile, "map.txt");
    fp = fopen(mapfile, "w");
    CHECK(fp != NULL);
    if (fp != NULL) {
        fputs(json, fp);
        fclose(fp);
    }
    tp_cfg(&c, NULL, 3);
    c.tp_map_file = mapfile;
    c.format = KVS_FORMAT_NEVER;
    c.device_bytes = 0;
    s[3] = NULL;
    CHECK_R(kvs_store_open(&c, &s[3], err, sizeof err), KVS_OK);
    if (s[3] != NULL) {
        n = rank_value(buf, 3);
        expect_get(s[3], "shared", buf, n, "rank 3 reopened, map from a file");
        CHECK_R(kvs_store_close(s[3]), KVS_OK);
    }
    /* a NUL byte in the map file: refused, never read as the shorter map
       before it (which lists ranks 0 and 1 and would open rank 1's device
       as a world of 2) */
    t_path(mapfile, sizeof mapfile, "nulmap.txt");
    fp = fopen(mapfile, "w");
    CHECK(fp != NULL);
    if (fp != NULL) {
        fprintf(fp, "0=%s\n1=%s\n", g_p[0], g_p[1]);
        fputc('\0', fp);
        fprintf(fp, "2=%s\n3=%s\n", g_p[2], g_p[3]);
        fclose(fp);
    }
    tp_cfg(&c, NULL, 1);
    c.tp_map_file = mapfile;
    c.format = KVS_FORMAT_NEVER;
    c.device_bytes = 0;
    s[1] = NULL;
    CHECK_R(kvs_store_open(&c, &s[1], err, sizeof err), KVS_E_INVAL);
    CHECK(s[1] == NULL && strstr(err, "NUL") != NULL);

    /* a map file that does not exist */
    tp_cfg(&c, NULL, 3);
    c.format = KVS_FORMAT_NEVER;
    c.device_bytes = 0;
    t_path(mapfile, sizeof mapfile, "nomap.txt");
    c.tp_map_file = mapfile;
    CHECK_R(kvs_store_open(&c, &s[3], err, sizeof err), KVS_E_NOENT);
    CHECK(strstr(err, "tp_map_file") != NULL);

    /* rank 2's device opened as rank 1 (paths swapped in the map) */
    snprintf(map, sizeof map, "0=%s,1=%s,2=%s,3=%s", g_p[0], g_p[2], g_p[1], g_p[3]);
    tp_cfg(&c, map, 1);
    c.format = KVS_FORMAT_NEVER;
    c.device_bytes = 0;
    s[1] = NULL;
    CHECK_R(kvs_store_open(&c, &s[1], err, sizeof err), KVS_E_RANK);
    CHECK(strstr(err, "rank 2") != NULL && strstr(err, "allow_other_rank") != NULL);
    c.allow_other_rank = 1;
    CHECK_R(kvs_store_open(&c, &s[1], err, sizeof err), KVS_OK);
    if (s[1] != NULL) {
        n = rank_value(buf, 2);
        expect_get(s[1], "shared", buf, n, "rank 2's device opened as rank 1");
        CHECK_R(kvs_store_close(s[1]), KVS_OK);
    }
    /* a single path with rank and world given: world mismatch */
    kvs_store_config_init(&c);
    c.kind = KVS_STORE_RAW;
    c.paths = g_p[0];
    CHECK_R(kvs_store_open(&c, &s[0], err, sizeof err), KVS_E_RANK); /* world 1 vs 4 */
    c.tp_world = 4;
    c.tp_rank = 0;
    CHECK_R(kvs_store_open(&c, &s[0], err, sizeof err), KVS_OK);
    if (s[0] != NULL)
        CHECK_R(kvs_store_close(s[0]), KVS_OK);
}

static void test_bad_maps(void)
{
    char map[6000], err[256], a[1200], b[1200];
    kvs_store_config c;
    kvs_store *s = NULL;
    t_path(a, sizeof a, "dupA");
    t_path(b, sizeof b, "dupB");
    /* duplicate path: nothing is created */
    snprintf(map, sizeof map, "0=%s,1=%s,2=%s/,3=%s", a, b, a, g_p[3]);
    tp_cfg(&c, map, 1);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_DUPLICATE);
    CHECK(strstr(err, "tp_map") != NULL);
    CHECK(!exists_path(a) && !exists_path(b));
    /* duplicate rank */
    snprintf(map, sizeof map, "0=%s,0=%s", a, b);
    tp_cfg(&c, map, 0);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_DUPLICATE);
    CHECK(!exists_path(a) && !exists_path(b));
    /* missing rank: the message lists the ranks present */
    snprintf(map, sizeof map, "0=%s,2=%s", a, b);
    tp_cfg(&c, map, 0);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_RANK);
    CHECK(strstr(err, "0") != NULL && strstr(err, "2") != NULL);
    CHECK(!exists_path(a) && !exists_path(b));
    /* world given and the map has fewer ranks */
    snprintf(map, sizeof map, "0=%s,1=%s", a, b);
    tp_cfg(&c, map, 0);
    c.tp_world = 3;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_RANK);
    CHECK(!exists_path(a) && !exists_path(b));
    /* this rank not in the map */
    tp_cfg(&c, map, 5);
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_RANK);
    CHECK(!exists_path(a) && !exists_path(b));
    /* syntax */
    tp_cfg(&c, "0=", 0);
    CHECK(kvs_store_open(&c, &s, err, sizeof err) < 0);
    /* both paths and a map */
    tp_cfg(&c, map, 0);
    c.paths = a;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_INVAL);
    CHECK(s == NULL);
    /* one path and no world: a world of 1, so a rank above 0 is refused
       before anything opens */
    tp_cfg(&c, NULL, 3);
    c.tp_map = NULL;
    c.paths = a;
    c.tp_world = 0;
    CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_E_RANK);
    CHECK(strstr(err, "tp_rank 3") != NULL);
    CHECK(s == NULL && !exists_path(a));
}

int main(void)
{
    unsigned r;
    t_init_seed("test_store_raw_tp", 0x5eed1234ULL);
    t_setup_dir("rawtp");
    for (r = 0; r < 4; r++) {
        char n[16];
        snprintf(n, sizeof n, "rank%u.dev", r);
        t_path(g_p[r], sizeof g_p[r], n);
    }
    test_four_ranks();
    test_bad_maps();
    t_rm_rf(t_dir);
    return t_done("test_store_raw_tp");
}
