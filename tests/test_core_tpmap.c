/* SPDX-License-Identifier: MIT OR Unlicense */
/* Tensor-parallel map: the spellings users paste (rank=path, "rank": "path",
   braces, newlines, quotes), every documented error with its message, limits,
   random junk, random valid maps of several ranks (and the same with a path
   shared), and allocation-failure injection. */
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
    /* numbers of several digits are written whole */
    expect_err("0=/a,1023=/b", 0, KVS_E_RANK, "rank 1 missing for world size 1024; ranks present: 0 1023");
    expect_err("0=/a,1=/b,12=/c", 5, KVS_E_RANK, "rank 12 out of range for world size 5");
    expect_err("0=/a,1=/b,2=/c,3=/d,4=/e,5=/f,6=/g,7=/h,8=/i,9=/j,10=/k,11 /l", 0, KVS_E_INVAL, "entry 12:");
    expect_err("0=/a,17=/b,17=/c", 0, KVS_E_DUPLICATE, "rank 17 given twice");
    expect_err("0=/a,10=/b,20=/b", 0, KVS_E_DUPLICATE, "ranks 10 and 20 share");
    /* a rank past 2^32 is a limit, never one that wrapped to a small rank */
    expect_err("4294967296=/a", 0, KVS_E_LIMIT, NULL);
    expect_err("0=/a,4294967297=/b", 0, KVS_E_LIMIT, NULL);
    expect_err("18446744073709551616=/a", 0, KVS_E_LIMIT, NULL);
    /* a byte-order mark from an editor: the result of the first bad entry
       or brace (as vectors/tp_map.txt has it), and a message that names it */
    expect_err("\xEF\xBB\xBF" "0=/a,1=/b", 0, KVS_E_RANK, "byte-order mark");
    expect_err("\xEF\xBB\xBF" "{\"0\": \"/a\"}", 0, KVS_E_INVAL, "byte-order mark");
    expect_err("\xEF\xBB\xBF", 0, KVS_E_INVAL, "byte-order mark");
    {
        kvs_tpmap m;
        memset(err, 'Z', sizeof err);
        CHECK_R(kvs_tpmap_parse(" \xEF\xBB\xBF" "0=/a", 0, NULL, &m, err, sizeof err), KVS_E_RANK);
        CHECK(strstr(err, "byte-order") == NULL); /* only a mark at the very start is named */
    }
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

/* A normalised path (FORMAT.md section 2): not empty, no byte below 0x20
   nor 0x7f, no run of '/', no trailing '/' unless it is "/". Normalising
   it again changes nothing unless it starts or ends with a space, which
   the steps after the trim can leave ("file:// /a" is " /a", "a /" is
   "a "; the trim would take them off again). */
static int normalised(const char *p)
{
    size_t n = strlen(p), i, nl = 0;
    char norm[KVS_PATH_MAX + 1];
    if (n == 0 || n > KVS_PATH_MAX || (n > 1 && p[n - 1] == '/'))
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f || (p[i] == '/' && i > 0 && p[i - 1] == '/'))
            return 0;
    if (p[0] == ' ' || p[n - 1] == ' ')
        return 1;
    return kvs_path_normalize(p, n, norm, sizeof norm, &nl) == KVS_OK && strcmp(norm, p) == 0;
}

/* What every parsed map must be: world ranks, each path present and
   normalised, and no two ranks sharing one. Returns the number of path
   pairs compared (0 for a world of 1). */
static size_t check_map(const kvs_tpmap *m, const char *text)
{
    size_t pairs = 0;
    uint32_t k, j;
    CHECK(m->world >= 1 && m->world <= KVS_TP_MAX && m->paths != NULL);
    for (k = 0; m->paths != NULL && k < m->world; k++) {
        if (!CHECK(m->paths[k] != NULL))
            continue;
        if (!CHECK(normalised(m->paths[k])))
            fprintf(stderr, "  text \"%s\": rank %u \"%s\" not normalised\n", text, (unsigned)k, m->paths[k]);
        for (j = 0; j < k; j++, pairs++)
            if (m->paths[j] != NULL && !CHECK(strcmp(m->paths[j], m->paths[k]) != 0))
                fprintf(stderr, "  text \"%s\": ranks %u and %u share \"%s\"\n", text, (unsigned)j, (unsigned)k,
                        m->paths[k]);
    }
    return pairs;
}

/* A parse of any text: a well-formed map (checked, then freed; its world
   returned) or a documented error with nothing allocated (0). */
static uint32_t check_parsed(kvs_result r, kvs_tpmap *m, const char *text)
{
    uint32_t w = 0;
    if (r == KVS_OK) {
        w = m->world;
        (void)check_map(m, text);
        kvs_tpmap_free(m);
    } else {
        CHECK(r == KVS_E_INVAL || r == KVS_E_RANK || r == KVS_E_EMPTY || r == KVS_E_PATH ||
              r == KVS_E_DUPLICATE || r == KVS_E_LIMIT);
        CHECK(m->block == NULL);
    }
    return w;
}

static void test_random_garbage(void)
{
    static const char alphabet[] = "0123456789=:,\n \"'{}/ax.\t\\-";
    char text[64];
    int iter;
    for (iter = 0; iter < 100000; iter++) {
        size_t n = t_below(sizeof text), i;
        kvs_tpmap m;
        kvs_result r;
        for (i = 0; i < n; i++)
            text[i] = alphabet[t_below(sizeof alphabet - 1)];
        text[n] = '\0';
        r = kvs_tpmap_parse(text, (uint32_t)t_below(4), NULL, &m, err, sizeof err);
        (void)check_parsed(r, &m, text);
    }
}

/* A random normalised path: absolute or relative, segments of a few bytes
   that need no quoting and hold no separator of the map (',' newline) nor
   whitespace at either end; a lone "/" at times. */
static void rand_canon(char *out)
{
    static const char segc[] = "abcdefghij.-_:=";
    size_t o = 0, nseg = t_below(64) == 0 ? 0 : 1 + t_below(4), i;
    if (nseg == 0 || t_below(4) != 0)
        out[o++] = '/';
    for (i = 0; i < nseg; i++) {
        size_t len = 1 + t_below(6), c;
        if (i > 0)
            out[o++] = '/';
        for (c = 0; c < len; c++)
            out[o++] = (c > 0 && c + 1 < len && t_below(8) == 0) ? ' ' : segc[t_below(sizeof segc - 1)];
    }
    out[o] = '\0';
}

/* Append to *p a spelling of canon that normalises back to it: slashes
   doubled, a trailing slash, a "file://" prefix, quotes, whitespace. */
static void spell_path(char **p, const char *canon, int quote)
{
    const char *c;
    char *o = *p;
    if (t_below(3) == 0)
        *o++ = ' ';
    if (quote)
        *o++ = (char)quote;
    if (t_below(4) == 0)
        o += sprintf(o, "%s", t_below(2) ? " " : "\t");
    if (t_below(4) == 0)
        o += sprintf(o, "file://");
    for (c = canon; *c != '\0'; c++) {
        *o++ = *c;
        if (*c == '/' && t_below(4) == 0)
            *o++ = '/';
    }
    if (t_below(3) == 0)
        *o++ = '/';
    if (quote && t_below(4) == 0)
        *o++ = ' ';
    if (quote)
        *o++ = (char)quote;
    *o = '\0';
    *p = o;
}

/* The map's paths written again in the other spelling (JSON when from =,
   and back), parsed: the same world and the same paths. */
static void round_trip(const kvs_tpmap *m, int json, const char *text)
{
    static char again[1 << 16];
    char *o = again;
    uint32_t k;
    kvs_tpmap m2;
    if (json)
        *o++ = '{';
    for (k = 0; k < m->world; k++)
        o += json ? sprintf(o, "%s\"%u\": \"%s\"", k ? ", " : "", (unsigned)k, m->paths[k])
                  : sprintf(o, "%s%u=%s", k ? "," : "", (unsigned)k, m->paths[k]);
    if (json)
        *o++ = '}';
    *o = '\0';
    if (!CHECK_R(kvs_tpmap_parse(again, m->world, NULL, &m2, err, sizeof err), KVS_OK)) {
        fprintf(stderr, "  text \"%s\" written again as \"%s\": %s\n", text, again, err);
        return;
    }
    CHECK(m2.world == m->world);
    for (k = 0; k < m->world && k < m2.world; k++)
        if (!CHECK(strcmp(m2.paths[k], m->paths[k]) == 0))
            fprintf(stderr, "  text \"%s\": rank %u \"%s\" read again as \"%s\"\n", text, (unsigned)k, m->paths[k],
                    m2.paths[k]);
    kvs_tpmap_free(&m2);
}

/* Random valid maps of 2 to 100 ranks, spelled "0=/a,1=/b" or
   {"0": "/a", "1": "/b"} (entries in random order, each path spelled
   with doubled or trailing slashes, file://, quotes and whitespace):
   each parses to exactly the paths generated, every pair distinct, and
   written back in the other spelling parses to the same. In a quarter of
   them one rank's path is another's spelled differently, and in others
   the random paths collide: KVS_E_DUPLICATE, "share the path". Then the
   text with one byte changed, dropped or inserted: a well-formed map or
   one of the parser's errors. */
static void test_random_valid(void)
{
    static char text[1 << 16], canon[100][64];
    static const char junk[] = "0123456789=:,\n \"'{}/ax.\t";
    uint32_t order[100];
    size_t iter, multi_ok = 0, dup_seen = 0, pairs = 0, mutated_multi = 0;
    for (iter = 0; iter < 3000; iter++) {
        uint32_t w = 2 + (uint32_t)(t_below(4) == 0 ? t_below(99) : t_below(15)), k, j, want_world;
        int json = (int)t_below(2), dup = 0;
        char *o = text;
        kvs_tpmap m;
        kvs_result r;
        for (k = 0; k < w; k++) {
            rand_canon(canon[k]);
            order[k] = k;
        }
        if (t_below(4) == 0) { /* a path given to two ranks */
            k = (uint32_t)t_below(w);
            j = (uint32_t)((k + 1 + t_below(w - 1)) % w);
            memmove(canon[j], canon[k], sizeof canon[k]);
        }
        for (k = 1; k < w; k++)
            for (j = 0; j < k; j++)
                dup |= strcmp(canon[j], canon[k]) == 0;
        for (k = w - 1; k > 0; k--) { /* entries in random order */
            uint32_t t = (uint32_t)t_below(k + 1), x = order[k];
            order[k] = order[t];
            order[t] = x;
        }
        if (json) {
            o += sprintf(o, "%s", t_below(2) ? "" : " \n");
            o += sprintf(o, "{%s", t_below(2) ? "" : "\n  ");
        }
        for (k = 0; k < w; k++) {
            uint32_t rk = order[k];
            static const char *const seps[] = {",", "\n", ", ", ",\n", "\r\n", ",,", " , \n"};
            if (k > 0 && json)
                o += sprintf(o, "%s", t_below(2) ? ", " : ",\n  ");
            else if (k > 0)
                o += sprintf(o, "%s", seps[t_below(sizeof seps / sizeof seps[0])]);
            if (json) {
                char q = t_below(8) ? '"' : '\'';
                o += sprintf(o, "%c%u%c: ", q, (unsigned)rk, q);
            } else {
                o += sprintf(o, "%s%u", t_below(4) ? "" : " ", (unsigned)rk);
                o += sprintf(o, "%s", t_below(4) ? "" : " ");
                o += sprintf(o, "%s", t_below(3) ? "=" : ":");
            }
            spell_path(&o, canon[rk], json ? (t_below(8) ? '"' : '\'') : (t_below(4) ? 0 : t_below(2) ? '"' : '\''));
        }
        if (json) {
            o += sprintf(o, "%s}", t_below(2) ? "" : "\n");
            o += sprintf(o, "%s", t_below(2) ? "" : "\n");
        }
        *o = '\0';
        want_world = t_below(2) ? w : 0;
        memset(err, 0, sizeof err);
        r = kvs_tpmap_parse(text, want_world, NULL, &m, err, sizeof err);
        if (dup) {
            dup_seen++;
            if (!CHECK_R(r, KVS_E_DUPLICATE) || !CHECK(strstr(err, "share the path") != NULL))
                fprintf(stderr, "  text \"%s\": %s\n", text, err);
            if (r == KVS_OK)
                kvs_tpmap_free(&m);
            CHECK(m.block == NULL);
        } else if (!CHECK_R(r, KVS_OK)) {
            fprintf(stderr, "  text \"%s\": %s\n", text, err);
        } else {
            multi_ok++;
            if (!CHECK(m.world == w))
                fprintf(stderr, "  text \"%s\": world %u, want %u\n", text, (unsigned)m.world, (unsigned)w);
            pairs += check_map(&m, text);
            for (k = 0; k < w && k < m.world; k++)
                if (!CHECK(strcmp(m.paths[k], canon[k]) == 0))
                    fprintf(stderr, "  text \"%s\": rank %u \"%s\", want \"%s\"\n", text, (unsigned)k, m.paths[k],
                            canon[k]);
            round_trip(&m, !json, text);
            kvs_tpmap_free(&m);
        }
        /* the same text, one byte changed, dropped or inserted */
        {
            size_t n = strlen(text), at = t_below(n + 1), how = t_below(3);
            if (how == 0 && at < n)
                text[at] = junk[t_below(sizeof junk - 1)];
            else if (how == 1 && at < n)
                memmove(text + at, text + at + 1, n - at);
            else {
                memmove(text + at + 1, text + at, n - at + 1);
                text[at] = junk[t_below(sizeof junk - 1)];
            }
            r = kvs_tpmap_parse(text, (uint32_t)t_below(2) * w, NULL, &m, err, sizeof err);
            if (check_parsed(r, &m, text) > 1)
                mutated_multi++;
        }
    }
    /* the checks above ran on maps of several ranks, and on duplicates */
    CHECK(multi_ok >= 1000 && dup_seen >= 300 && pairs >= multi_ok && mutated_multi >= 500);
    printf("  %zu random maps of 2 to 100 ranks (%zu path pairs compared), %zu with a shared path, %zu changed "
           "texts still maps of several ranks\n",
           multi_ok, pairs, dup_seen, mutated_multi);
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
    {
        /* an allocator with one callback: its own result, and a message
           that says so (not "out of memory") */
        t_alloc_state st;
        kvs_allocator a = t_allocator(&st, -1);
        kvs_tpmap m;
        a.free = NULL;
        CHECK_R(kvs_tpmap_parse("0=/a", 0, &a, &m, err, sizeof err), KVS_E_INVAL);
        CHECK(strstr(err, "allocator") != NULL && strstr(err, "memory") == NULL);
    }
}

int main(void)
{
    t_init("test_core_tpmap");
    test_valid();
    test_errors();
    test_random_garbage();
    test_random_valid();
    alloc_walk();
    return t_done("test_core_tpmap");
}
