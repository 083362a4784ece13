/* SPDX-License-Identifier: MIT OR Unlicense */
/* Path lists (parse, normalise, directory-boundary prefix) and sharding:
   every documented error, the limits, allocation-failure injection, and
   properties of the three policies (range, stability, rendezvous moving
   exactly one path's keys, mod spreading evenly). */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "test_util.h"

static kvs_result parse(const char *text, kvs_pathlist *pl)
{
    kvs_result r = kvs_pathlist_parse(text, NULL, pl);
    if (r != KVS_OK)
        CHECK(pl->count == 0 && pl->block == NULL);
    return r;
}

/* Parse text, expect `want` entries joined with '|'. */
static void expect_list(const char *text, const char *want)
{
    kvs_pathlist pl;
    char joined[8192] = "";
    size_t i;
    if (!CHECK_R(parse(text, &pl), KVS_OK)) {
        fprintf(stderr, "  text \"%s\"\n", text);
        return;
    }
    for (i = 0; i < pl.count; i++) {
        if (i)
            strcat(joined, "|");
        strcat(joined, pl.paths[i]);
        CHECK(pl.lens[i] == strlen(pl.paths[i]));
        CHECK(pl.ids[i] == kvs_fnv1a64(pl.paths[i], pl.lens[i]));
    }
    if (!CHECK(strcmp(joined, want) == 0))
        fprintf(stderr, "  text \"%s\": got \"%s\", want \"%s\"\n", text, joined, want);
    kvs_pathlist_free(&pl);
    CHECK(pl.block == NULL && pl.count == 0);
}

static void expect_err(const char *text, kvs_result want)
{
    kvs_pathlist pl;
    if (!CHECK_R(parse(text, &pl), want))
        fprintf(stderr, "  text \"%s\"\n", text);
}

static void test_parse(void)
{
    char big[70 * 8 + 1], *p;
    int i;
    expect_list("/mnt/a", "/mnt/a");
    expect_list("file:///mnt/nvme0/, /mnt/nvme1", "/mnt/nvme0|/mnt/nvme1");
    expect_list("file:///mnt/a", "/mnt/a");
    expect_list("file://rel/dir//", "rel/dir");
    expect_list(" \t\r\n\v\f/a//b///c/ \n", "/a/b/c");
    expect_list("/", "/");
    expect_list("//", "/");
    expect_list("file:////", "/");
    expect_list("./x/../y,.", "./x/../y|.");
    expect_list("a b,/c d/", "a b|/c d");
    expect_list("/mnt/é,/\xff", "/mnt/é|/\xff");
    expect_list("FILE:///a", "FILE:/a");
    expect_list("file://file:///a", "file:/a");
    expect_list(" file:// /a", " /a");
    expect_err("", KVS_E_EMPTY);
    expect_err("   ", KVS_E_EMPTY);
    expect_err("a,,b", KVS_E_EMPTY);
    expect_err("a,", KVS_E_EMPTY);
    expect_err(",a", KVS_E_EMPTY);
    expect_err("a, ,b", KVS_E_EMPTY);
    expect_err("file://", KVS_E_EMPTY);
    expect_err(" file:// ", KVS_E_EMPTY);
    expect_err("/a\x01", KVS_E_PATH);
    expect_err("/a\tb", KVS_E_PATH);
    expect_err("/a\x7f", KVS_E_PATH);
    expect_err("/a,/a/", KVS_E_DUPLICATE);
    expect_err("/a,file:///a", KVS_E_DUPLICATE);
    expect_err("/a//b,/a/b", KVS_E_DUPLICATE);
    expect_err("/a,/b,\x02,", KVS_E_PATH); /* first failing entry decides */
    expect_err("/a,/a,", KVS_E_DUPLICATE);
    /* 64 entries fine, the 65th is KVS_E_LIMIT (even when a duplicate), but
       an empty 65th is KVS_E_EMPTY */
    for (i = 0, p = big; i < 64; i++)
        p += sprintf(p, "%s/p%d", i ? "," : "", i);
    {
        kvs_pathlist pl;
        CHECK_R(parse(big, &pl), KVS_OK);
        CHECK(pl.count == 64);
        kvs_pathlist_free(&pl);
    }
    strcpy(p, ",/p0");
    expect_err(big, KVS_E_LIMIT);
    strcpy(p, ",/new");
    expect_err(big, KVS_E_LIMIT);
    strcpy(p, ", ");
    expect_err(big, KVS_E_EMPTY);
}

static void test_long_paths(void)
{
    static char buf[KVS_PATH_MAX + 64], out[KVS_PATH_MAX + 64];
    size_t n;
    memset(buf, 'x', sizeof buf);
    buf[0] = '/';
    buf[KVS_PATH_MAX] = '\0'; /* exactly 4095 bytes */
    {
        kvs_pathlist pl;
        CHECK_R(parse(buf, &pl), KVS_OK);
        CHECK(pl.count == 1 && pl.lens[0] == KVS_PATH_MAX);
        kvs_pathlist_free(&pl);
    }
    buf[KVS_PATH_MAX] = '/'; /* 4096 with a trailing slash: fine */
    buf[KVS_PATH_MAX + 1] = '\0';
    {
        /* the expected path is the 4095 bytes without the slash, in a copy:
           the input keeps its slash while it is parsed */
        static char want[KVS_PATH_MAX + 1];
        memcpy(want, buf, KVS_PATH_MAX);
        want[KVS_PATH_MAX] = '\0';
        CHECK(strlen(buf) == KVS_PATH_MAX + 1);
        expect_list(buf, want);
    }
    buf[KVS_PATH_MAX] = 'x';
    expect_err(buf, KVS_E_PATH);
    memcpy(buf, "//", 2); /* 4096 bytes collapsing to 4095 */
    CHECK_R(kvs_path_normalize(buf, strlen(buf), out, sizeof out, &n), KVS_OK);
    CHECK(n == KVS_PATH_MAX);
    CHECK_R(kvs_path_normalize(buf, strlen(buf), out, KVS_PATH_MAX, &n), KVS_E_BUFSIZE);
    CHECK_R(kvs_path_normalize(buf, strlen(buf), out, KVS_PATH_MAX + 1, &n), KVS_OK);
}

static void test_normalize(void)
{
    char out[64];
    size_t n = 99;
    CHECK_R(kvs_path_normalize("file:///a//b/", 13, out, sizeof out, &n), KVS_OK);
    CHECK(n == 4 && strcmp(out, "/a/b") == 0);
    CHECK_R(kvs_path_normalize("/a/b", 4, out, 5, &n), KVS_OK);
    CHECK_R(kvs_path_normalize("/a/b", 4, out, 4, &n), KVS_E_BUFSIZE);
    CHECK_R(kvs_path_normalize("/a/b", 4, NULL, 0, &n), KVS_E_BUFSIZE);
    CHECK_R(kvs_path_normalize("/a\0b", 4, out, sizeof out, &n), KVS_E_PATH);
    CHECK_R(kvs_path_normalize("/a,b", 2, out, sizeof out, &n), KVS_OK); /* only len bytes */
    CHECK(strcmp(out, "/a") == 0);
    CHECK_R(kvs_path_normalize("", 0, out, sizeof out, &n), KVS_E_EMPTY);
    CHECK_R(kvs_path_normalize(" \n", 2, out, sizeof out, &n), KVS_E_EMPTY);
}

static void test_prefix(void)
{
    CHECK(kvs_path_has_prefix("/mnt/nvme1", "/mnt/nvme1") == 1);
    CHECK(kvs_path_has_prefix("/mnt/nvme1/x", "/mnt/nvme1") == 1);
    CHECK(kvs_path_has_prefix("/mnt/nvme10/x", "/mnt/nvme1") == 0);
    CHECK(kvs_path_has_prefix("/mnt/nvme10", "/mnt/nvme1") == 0);
    CHECK(kvs_path_has_prefix("/mnt", "/mnt/nvme1") == 0);
    CHECK(kvs_path_has_prefix("/mnt/nvme", "/mnt/nvme1") == 0);
    CHECK(kvs_path_has_prefix("/x", "/") == 1);
    CHECK(kvs_path_has_prefix("/", "/") == 1);
    CHECK(kvs_path_has_prefix("x", "/") == 0);
    CHECK(kvs_path_has_prefix("a/b", "a") == 1);
    CHECK(kvs_path_has_prefix("ab", "a") == 0);
    CHECK(kvs_path_has_prefix("/a/b", "/a/b/c") == 0);
}

static void alloc_walk(void)
{
    long n;
    for (n = 0;; n++) {
        t_alloc_state st;
        kvs_allocator a = t_allocator(&st, n);
        kvs_pathlist pl;
        kvs_result r = kvs_pathlist_parse("/a, /b ,file:///c/", &a, &pl);
        if (r == KVS_OK) {
            CHECK(pl.count == 3 && st.live == 1);
            kvs_pathlist_free(&pl);
            CHECK(st.live == 0 && st.bad_free == 0);
            break;
        }
        CHECK_R(r, KVS_E_NOMEM);
        CHECK(st.live == 0 && pl.block == NULL && pl.count == 0);
        if (!CHECK(n < 10))
            break;
    }
    {   /* errors after the allocation free it */
        t_alloc_state st;
        kvs_allocator a = t_allocator(&st, -1);
        kvs_pathlist pl;
        CHECK_R(kvs_pathlist_parse("/a,/a", &a, &pl), KVS_E_DUPLICATE);
        CHECK(st.live == 0);
    }
}

static void random_key(unsigned char *k, size_t *len)
{
    *len = 1 + t_below(100);
    t_fill(k, *len);
}

static void test_shard_basic(void)
{
    uint64_t ids[KVS_PATHS_MAX] = {0};
    static const unsigned char maxkey[KVS_KEY_MAX] = {1};
    size_t idx = 99;
    kvs_shard_policy pol;
    CHECK_R(kvs_shard_pick((kvs_shard_policy)3, "k", 1, ids, 1, 0, &idx), KVS_E_INVAL);
    CHECK_R(kvs_shard_pick(KVS_SHARD_MOD, "k", 1, ids, 0, 0, &idx), KVS_E_INVAL);
    CHECK_R(kvs_shard_pick(KVS_SHARD_RENDEZVOUS, "k", 1, ids, KVS_PATHS_MAX + 1, 0, &idx), KVS_E_INVAL);
    CHECK_R(kvs_shard_pick(KVS_SHARD_RENDEZVOUS, "k", 0, ids, 1, 0, &idx), KVS_E_KEY);
    CHECK_R(kvs_shard_pick(KVS_SHARD_MOD, "k", KVS_KEY_MAX + 1, ids, 1, 0, &idx), KVS_E_KEY);
    CHECK_R(kvs_shard_pick(KVS_SHARD_RANK, NULL, 0, NULL, 3, 7, &idx), KVS_OK);
    CHECK(idx == 1);
    CHECK_R(kvs_shard_pick(KVS_SHARD_RANK, NULL, 0, NULL, 8, 0xffffffffu, &idx), KVS_OK);
    CHECK(idx == 7);
    CHECK_R(kvs_shard_pick(KVS_SHARD_MOD, "foobar", 6, NULL, 7, 0, &idx), KVS_OK);
    CHECK(idx == (size_t)(0x85944171f73967e8ULL % 7));
    /* rendezvous over two identities, computed by hand */
    ids[0] = 1;
    ids[1] = 2;
    CHECK_R(kvs_shard_pick(KVS_SHARD_RENDEZVOUS, "a", 1, ids, 2, 0, &idx), KVS_OK);
    CHECK(idx == (kvs_mix64(0xaf63dc4c8601ec8cULL ^ 2) > kvs_mix64(0xaf63dc4c8601ec8cULL ^ 1) ? 1u : 0u));
    ids[1] = 1; /* equal identities tie: smallest index */
    CHECK_R(kvs_shard_pick(KVS_SHARD_RENDEZVOUS, "a", 1, ids, 2, 0, &idx), KVS_OK);
    CHECK(idx == 0);
    CHECK_R(kvs_shard_pick(KVS_SHARD_RENDEZVOUS, maxkey, KVS_KEY_MAX, ids, 1, 0, &idx), KVS_OK);
    CHECK(idx == 0);

    CHECK_R(kvs_shard_policy_parse("rendezvous", &pol), KVS_OK);
    CHECK(pol == KVS_SHARD_RENDEZVOUS);
    CHECK_R(kvs_shard_policy_parse("mod", &pol), KVS_OK);
    CHECK(pol == KVS_SHARD_MOD);
    CHECK_R(kvs_shard_policy_parse("rank", &pol), KVS_OK);
    CHECK(pol == KVS_SHARD_RANK);
    CHECK_R(kvs_shard_policy_parse("Mod", &pol), KVS_E_INVAL);
    CHECK_R(kvs_shard_policy_parse("", &pol), KVS_E_INVAL);
    CHECK_R(kvs_shard_policy_parse("rank ", &pol), KVS_E_INVAL);
    CHECK(strcmp(kvs_shard_policy_name(KVS_SHARD_RENDEZVOUS), "rendezvous") == 0);
    CHECK(strcmp(kvs_shard_policy_name(KVS_SHARD_MOD), "mod") == 0);
    CHECK(strcmp(kvs_shard_policy_name(KVS_SHARD_RANK), "rank") == 0);
    CHECK(strcmp(kvs_shard_policy_name((kvs_shard_policy)9), "unknown") == 0);
}

enum { NKEYS = 20000 };

static void test_shard_props(void)
{
    static unsigned char keys[NKEYS][100];
    static size_t lens[NKEYS], before[NKEYS];
    uint64_t ids[KVS_PATHS_MAX + 1];
    size_t n, i, k, idx, counts[KVS_PATHS_MAX];
    for (k = 0; k < NKEYS; k++)
        random_key(keys[k], &lens[k]);
    for (i = 0; i <= KVS_PATHS_MAX; i++)
        ids[i] = t_rand();
    for (n = 1; n <= KVS_PATHS_MAX; n += (n < 10 ? 1 : 17)) {
        size_t moved_add = 0, moved_rm = 0, rm = t_below(n), moved_other = 0;
        uint64_t saved;
        for (k = 0; k < NKEYS; k++) {
            CHECK_R(kvs_shard_pick(KVS_SHARD_RENDEZVOUS, keys[k], lens[k], ids, n, 0, &before[k]), KVS_OK);
            CHECK(before[k] < n);
            CHECK_R(kvs_shard_pick(KVS_SHARD_RENDEZVOUS, keys[k], lens[k], ids, n, 0, &idx), KVS_OK);
            CHECK(idx == before[k]); /* stable */
        }
        /* adding path n: a key either stays or moves to the new path */
        for (k = 0; k < NKEYS; k++) {
            kvs_shard_pick(KVS_SHARD_RENDEZVOUS, keys[k], lens[k], ids, n + 1 > KVS_PATHS_MAX ? n : n + 1, 0, &idx);
            if (idx != before[k]) {
                moved_add++;
                if (idx != n)
                    moved_other++;
            }
        }
        /* removing path rm (swap in the last one): only rm's keys move */
        if (n > 1) {
            saved = ids[rm];
            ids[rm] = ids[n - 1];
            for (k = 0; k < NKEYS; k++) {
                size_t was = before[k] == n - 1 ? rm : before[k];
                kvs_shard_pick(KVS_SHARD_RENDEZVOUS, keys[k], lens[k], ids, n - 1, 0, &idx);
                if (before[k] == rm) {
                    moved_rm++;
                } else if (idx != was) {
                    moved_other++;
                }
            }
            ids[n - 1] = ids[rm];
            ids[rm] = saved;
        }
        CHECK(moved_other == 0);
        /* the new path takes about 1/(n+1) of the keys */
        if (n + 1 <= KVS_PATHS_MAX)
            CHECK(moved_add > NKEYS / (n + 1) / 2 && moved_add < 2 * NKEYS / (n + 1) + 50);
        (void)moved_rm;
        /* reordering the paths moves nothing */
        if (n > 2) {
            uint64_t t = ids[0];
            ids[0] = ids[n - 1];
            ids[n - 1] = t;
            for (k = 0; k < NKEYS; k++) {
                size_t want = before[k] == 0 ? n - 1 : before[k] == n - 1 ? 0 : before[k];
                kvs_shard_pick(KVS_SHARD_RENDEZVOUS, keys[k], lens[k], ids, n, 0, &idx);
                if (idx != want)
                    moved_other++;
            }
            ids[n - 1] = ids[0];
            ids[0] = t;
            CHECK(moved_other == 0);
        }
        /* mod: in range, stable, roughly even */
        memset(counts, 0, sizeof counts);
        for (k = 0; k < NKEYS; k++) {
            CHECK_R(kvs_shard_pick(KVS_SHARD_MOD, keys[k], lens[k], ids, n, 0, &idx), KVS_OK);
            CHECK(idx < n);
            counts[idx]++;
        }
        for (i = 0; i < n; i++)
            CHECK(counts[i] > NKEYS / n / 2 && counts[i] < 2 * NKEYS / n);
        /* rendezvous evenness too */
        memset(counts, 0, sizeof counts);
        for (k = 0; k < NKEYS; k++)
            counts[before[k]]++;
        for (i = 0; i < n; i++)
            CHECK(counts[i] > NKEYS / n / 2 && counts[i] < 2 * NKEYS / n);
    }
}

int main(void)
{
    t_init("test_core_paths");
    test_parse();
    test_long_paths();
    test_normalize();
    test_prefix();
    alloc_walk();
    test_shard_basic();
    test_shard_props();
    return t_done("test_core_paths");
}
