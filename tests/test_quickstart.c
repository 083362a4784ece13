/* SPDX-License-Identifier: MIT OR Unlicense */
/* The QUICK START sketch from the top comment of kvstore.h, compiled and run.
   The test also reads kvstore.h and this file and checks that the two copies
   of the sketch are the same lines (leading whitespace aside), so they cannot
   drift apart. Run from the repository root. */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include <stdio.h>
#include <string.h>

static int sketch(void)
{
    /* BEGIN SNIPPET */
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
    /* END SNIPPET */
    return strcmp(name, "llama3-8b%40rank0%40c0ffee.kv") != 0 || name_len != 29;
}

/* Append the lines of path between the line containing `from` and the line
   containing `to` (exclusive), trimmed of leading blanks, to out. */
static int extract(const char *path, const char *from, const char *to, char *out, size_t cap)
{
    char line[512];
    int in = 0;
    size_t len = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    out[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        const char *s = line;
        if (in && strstr(line, to) != NULL)
            break;
        if (in) {
            while (*s == ' ')
                s++;
            if (*s != '\n' && len + strlen(s) < cap) {
                strcpy(out + len, s);
                len += strlen(s);
            }
        }
        if (!in && strstr(line, from) != NULL)
            in = 1;
    }
    fclose(f);
    return in ? 0 : -1;
}

int main(void)
{
    static char a[4096], b[4096];
    int failed = 0;
    if (sketch() != 0) {
        fprintf(stderr, "%s:%d: the sketch did not produce the expected name\n", __FILE__, __LINE__);
        failed++;
    }
    if (extract("kvstore.h", "A sketch of the core", "CONFIGURATION MACROS", a, sizeof a) != 0 ||
        extract(__FILE__, "BEGIN SNIPPET", "END SNIPPET", b, sizeof b) != 0) {
        fprintf(stderr, "%s:%d: cannot read kvstore.h or %s (run from the repository root)\n", __FILE__,
                __LINE__, __FILE__);
        failed++;
    } else if (strcmp(a, b) != 0) {
        fprintf(stderr, "%s:%d: QUICK START in kvstore.h and this test differ:\n--- header\n%s--- test\n%s",
                __FILE__, __LINE__, a, b);
        failed++;
    }
    printf("test_quickstart: %d passed, %d failed\n", 2 - failed, failed);
    return failed != 0;
}
