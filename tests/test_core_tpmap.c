/* SPDX-License-Identifier: MIT OR Unlicense */
/* Tensor-parallel map: the spellings users paste (rank=path, "rank": "path",
   braces, newlines, quotes), every documented error with its message, limits,
   random junk, and allocation-failure injection. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "test_util.h"

static char err[512];

/* Parse with expected world w; on success compare paths joined by '|'. */
static void expect_map(const char *text, uint32_t w, const char *want)
{
    kvs_tpmap m;
    char joined[4096] = "";
    uint32_t i;
    if (!CHECK_R(kvs_tpmap_parse(text, w, NULL, &m, err, sizeof err), KVS_OK)) {
        fprintf(stderr, "  text \"%s\": %s\n", text, err);
        return;
    }
    for (i = 0; i < m.world; i++) {
        if (i)
            strcat(joined, "|");
        strcat(joined, m.paths[i]);
    }
    if (!CHECK(strcmp(joined, want) == 0))
        fprintf(stderr, "  text \"%s\": got \"%s\", want \"%s\"\n", text, joined, want);
    kvs_tpmap_free(&m);
    CHECK(m.paths == NULL && m.world == 0 && m.block == NULL);
}

/* Expect an error; if msg is not NULL the message must contain it. */
static void expect_err(const char *text, uint32_t w, kvs_result want, const char *msg)
{
    kvs_tpmap m;
    memset(err, 'Z', sizeof err);
    if (!CHECK_R(kvs_tpmap_parse(text, w, NULL, &m, err, sizeof err), want))
        fprintf(stderr, "  text \"%s\"\n", text);
    CHECK(m.paths == NULL && m.world == 0 && m.block == NULL);
    CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
    if (msg != NULL && !CHECK(strstr(err, msg) != NULL))
        fprintf(stderr, "  text \"%s\": message \"%s\" lacks \"%s\"\n", text, err, msg);
}

static void test_valid(void)
{
    expect_map("0=/dev/nvme0n1,1=/dev/nvme1n1", 0, "/dev/nvme0n1|/dev/nvme1n1");
    expect_map("0=/dev/nvme0n1,1=/dev/nvme1n1", 2, "/dev/nvme0n1|/dev/nvme1n1");
    expect_map("1=/b,0=/a", 0, "/a|/b");
    expect_map("{\"0\": \"/mnt/a\", \"1\": \"/mnt/b\"}", 0, "/mnt/a|/mnt/b");
    expect_map("  {\n  \"1\": \"/mnt/b/\",\n  \"0\": '/mnt//a'\n}\n  ", 0, "/mnt/a|/mnt/b");
    expect_map("0: /mnt/a\n1: /mnt/b\n", 0, "/mnt/a|/mnt/b");
    expect_map("0: /mnt/a\r\n1: /mnt/b\r\n", 0, "/mnt/a|/mnt/b");
    expect_map("'0'=file:///x/,,\n , 1 = \" file:///y \"", 0, "/x|/y");
    expect_map("0=a:b=c", 0, "a:b=c");   /* split at the first separator */
    expect_map("0:file:///d", 0, "/d");
    expect_map("0=/a\"", 0, "/a\"");     /* a quote not at the start is a byte */
}

static void test_errors(void)
{
    static char big[1100 * 12];
    char *p;
    int i;
    expect_err("", 0, KVS_E_EMPTY, "no entries");
    expect_err(" \n,, \n", 0, KVS_E_EMPTY, NULL);
    expect_err("{}", 0, KVS_E_EMPTY, NULL);
    expect_err("{ }", 3, KVS_E_EMPTY, NULL);
    expect_err("{0=/a", 0, KVS_E_INVAL, "brace");
    expect_err("0=/a}", 0, KVS_E_INVAL, "brace");
    expect_err("{", 0, KVS_E_INVAL, NULL);
    expect_err("}", 0, KVS_E_INVAL, NULL);
    expect_err("{}0=/a{}", 0, KVS_E_RANK, NULL); /* only the outer braces are syntax: rank "}0" */
    expect_err("0 /a", 0, KVS_E_INVAL, "entry 1");
    expect_err("0=/a,1 /b", 0, KVS_E_INVAL, "entry 2");
    expect_err("-1=/a", 0, KVS_E_RANK, NULL);
    expect_err("+1=/a", 0, KVS_E_RANK, NULL);
    expect_err("01=/a", 0, KVS_E_RANK, NULL);
    expect_err("00=/a", 0, KVS_E_RANK, NULL);
    expect_err("x=/a", 0, KVS_E_RANK, NULL);
    expect_err("=/a", 0, KVS_E_RANK, NULL);
    expect_err("\"\"=/a", 0, KVS_E_RANK, NULL);
    expect_err("\"0'=/a", 0, KVS_E_RANK, NULL);
    expect_err("\" 0\"=/a", 0, KVS_E_RANK, NULL);
    expect_err("0x1=/a", 0, KVS_E_RANK, NULL);
    expect_err("1.0=/a", 0, KVS_E_RANK, NULL);
    expect_err("1024=/a", 0, KVS_E_LIMIT, NULL);
    expect_err("99999999999999999999999=/a", 0, KVS_E_LIMIT, NULL);
    expect_err("0=/a", 1025, KVS_E_LIMIT, NULL);
    expect_err("0=", 0, KVS_E_EMPTY, "empty path");
    expect_err("0=\"\"", 0, KVS_E_EMPTY, NULL);
    expect_err("0=file://", 0, KVS_E_EMPTY, NULL);
    expect_err("0=/a\x01", 0, KVS_E_PATH, NULL);
    expect_err("0=\"/a", 0, KVS_E_INVAL, "quote");
    expect_err("0='/a\"", 0, KVS_E_INVAL, NULL);
    expect_err("0=\"", 0, KVS_E_INVAL, NULL);
    expect_err("0=\"/a\" x", 0, KVS_E_INVAL, NULL);
    expect_err("0=\"/a\"\"", 0, KVS_E_INVAL, NULL);
    expect_err("0=/a,0=/b", 0, KVS_E_DUPLICATE, "rank 0 given twice");
    expect_err("0=/a,0=/a", 0, KVS_E_DUPLICATE, "twice");
    expect_err("0=/a,1=/a/", 0, KVS_E_DUPLICATE, "ranks 0 and 1 share the path /a");
    expect_err("0=file:///a,1=/a", 0, KVS_E_DUPLICATE, NULL);
    expect_err("0=/a,2=/c,3=/d", 0, KVS_E_RANK, "rank 1 missing for world size 4; ranks present: 0 2 3");
    expect_err("1=/b", 0, KVS_E_RANK, "ranks present: 1");
    expect_err("0=/a,1=/b", 3, KVS_E_RANK, "rank 2 missing");
    expect_err("0=/a,1=/b,2=/c", 2, KVS_E_RANK, "rank 2 out of range");
    /* the first failing entry wins */
    expect_err("0=/a,x=/b,1 /c", 0, KVS_E_RANK, "entry 2");
    expect_err("0 /a,x=/b", 0, KVS_E_INVAL, "entry 1");
    /* 1024 ranks are fine; a path of 4096 bytes is not */
    for (i = 0, p = big; i < KVS_TP_MAX; i++)
        p += sprintf(p, "%d=/d%d\n", i, i);
    {
        kvs_tpmap m;
        CHECK_R(kvs_tpmap_parse(big, 0, NULL, &m, NULL, 0), KVS_OK);
        CHECK(m.world == KVS_TP_MAX && strcmp(m.paths[1023], "/d1023") == 0);
        kvs_tpmap_free(&m);
        CHECK_R(kvs_tpmap_parse(big, KVS_TP_MAX, NULL, &m, err, 1), KVS_OK);
        kvs_tpmap_free(&m);
    }
    strcpy(big, "0=/");
    memset(big + 3, 'x', KVS_PATH_MAX);
    big[3 + KVS_PATH_MAX] = '\0';
    expect_err(big, 0, KVS_E_PATH, NULL);
    big[2 + KVS_PATH_MAX] = '\0';
    expect_map(big, 1, big + 2);
    /* a tiny err buffer is still terminated; NULL err is fine */
    {
        kvs_tpmap m;
        char tiny[4] = "abc";
        CHECK_R(kvs_tpmap_parse("0=/a,2=/c", 0, NULL, &m, tiny, sizeof tiny), KVS_E_RANK);
        CHECK(strcmp(tiny, "ran") == 0);
        CHECK_R(kvs_tpmap_parse("0=/a,2=/c", 0, NULL, &m, NULL, 99), KVS_E_RANK);
        CHECK_R(kvs_tpmap_parse("0=/a,2=/c", 0, NULL, &m, tiny, 0), KVS_E_RANK);
        CHECK(strcmp(tiny, "ran") == 0);
    }
}

static void test_random(void)
{
    static const char alphabet[] = "0123456789=:,\n \"'{}/ax.\t\\-";
    char text[64];
    int iter;
    for (iter = 0; iter < 100000; iter++) {
        size_t n = t_below(sizeof text), i;
        kvs_tpmap m;
        kvs_result r;
        uint32_t k;
        for (i = 0; i < n; i++)
            text[i] = alphabet[t_below(sizeof alphabet - 1)];
        text[n] = '\0';
        r = kvs_tpmap_parse(text, (uint32_t)t_below(4), NULL, &m, err, sizeof err);
        if (r == KVS_OK) {
            /* every rank has a distinct, normalised path */
            for (k = 0; k < m.world; k++) {
                char norm[64];
                size_t nl;
                uint32_t j;
                CHECK(m.paths[k] != NULL);
                CHECK_R(kvs_path_normalize(m.paths[k], strlen(m.paths[k]), norm, sizeof norm, &nl), KVS_OK);
                CHECK(strcmp(norm, m.paths[k]) == 0);
                for (j = 0; j < k; j++)
                    CHECK(strcmp(m.paths[j], m.paths[k]) != 0);
            }
            kvs_tpmap_free(&m);
        } else {
            CHECK(r == KVS_E_INVAL || r == KVS_E_RANK || r == KVS_E_EMPTY || r == KVS_E_PATH ||
                  r == KVS_E_DUPLICATE || r == KVS_E_LIMIT);
            CHECK(m.block == NULL);
        }
    }
}

static void alloc_walk(void)
{
    long n;
    for (n = 0;; n++) {
        t_alloc_state st;
        kvs_allocator a = t_allocator(&st, n);
        kvs_tpmap m;
        kvs_result r = kvs_tpmap_parse("{\"0\": \"/a\", \"1\": \"/b\"}", 2, &a, &m, err, sizeof err);
        if (r == KVS_OK) {
            CHECK(m.world == 2 && st.live == 1);
            kvs_tpmap_free(&m);
            CHECK(st.live == 0 && st.bad_free == 0);
            break;
        }
        CHECK_R(r, KVS_E_NOMEM);
        CHECK(st.live == 0 && m.block == NULL);
        if (!CHECK(n < 10))
            break;
    }
    {
        t_alloc_state st;
        kvs_allocator a = t_allocator(&st, -1);
        kvs_tpmap m;
        CHECK_R(kvs_tpmap_parse("0=/a,1=/a", 0, &a, &m, NULL, 0), KVS_E_DUPLICATE);
        CHECK_R(kvs_tpmap_parse("1=/a", 0, &a, &m, NULL, 0), KVS_E_RANK);
        CHECK(st.live == 0 && st.bad_free == 0);
    }
}

int main(void)
{
    t_init("test_core_tpmap");
    test_valid();
    test_errors();
    test_random();
    alloc_walk();
    return t_done("test_core_tpmap");
}
