/* SPDX-License-Identifier: MIT OR Unlicense */
/* Helpers of the filesystem-store tests (included after kvstore_posix.c); the
   generic harness is tests/test_util.h. Define FS_THREADS before including
   to change the worker threads cfg_fs() asks for (default 2). */
#ifndef TEST_STORE_FS_UTIL_H
#define TEST_STORE_FS_UTIL_H
#include "test_util.h"

#ifndef FS_THREADS
#define FS_THREADS 2
#endif

/* Files in dir whose names decode as data (1), temp (2), other (3) or all (0). */
T_FN size_t count_files(const char *dir, int what)
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

/* kvs_store_open, printing the error; NULL when it fails. */
T_FN kvs_store *open_store(kvs_store_config *c)
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

T_FN void cfg_fs(kvs_store_config *c, const char *paths)
{
    kvs_store_config_init(c);
    c->kind = KVS_STORE_FS;
    c->paths = paths;
    c->threads = FS_THREADS;
}

/* The file name of a (text) key, as the store names its file. */
T_FN void fs_name_of(const char *key, char *out)
{
    size_t n = 0;
    CHECK_R(kvs_fsname_encode(key, strlen(key), out, KVS_FSNAME_MAX + 1, &n, NULL), KVS_OK);
}

/* Both handles open, or neither left open (a failure is CHECKed). */
T_FN int both_open(kvs_store *a, kvs_store *b)
{
    CHECK(a != NULL && b != NULL);
    if (a != NULL && b != NULL)
        return 1;
    if (a != NULL)
        (void)kvs_store_close(a);
    if (b != NULL)
        (void)kvs_store_close(b);
    return 0;
}

/* Handle A (capacity_bytes cap, hooks aops) and handle B (no bound: it
   never evicts; hooks bops) on the same paths; 0 when they did not both
   open. */
T_FN int open_pair_cap(const char *paths, uint64_t cap, kvs_sysops *aops, kvs_sysops *bops, kvs_store **a,
                       kvs_store **b)
{
    kvs_store_config ca, cb;
    cfg_fs(&ca, paths);
    ca.sysops = aops;
    ca.capacity_bytes = cap;
    cfg_fs(&cb, paths);
    cb.sysops = bops;
    *a = open_store(&ca);
    *b = open_store(&cb);
    return both_open(*a, *b);
}

/* Put k1 then k2, both of v[0..n), through s. */
T_FN void put_k1_k2(kvs_store *s, const unsigned char *v, size_t n)
{
    CHECK_R(kvs_store_put(s, "k1", 2, v, n), KVS_OK);
    CHECK_R(kvs_store_put(s, "k2", 2, v, n), KVS_OK);
}

/* Self-describing values: an 8-byte tag (len << 32 | id), then
   t_fill_tag(tag), so any value read back can be checked for tearing. */
T_FN void make_tagged(unsigned char *p, size_t n, uint64_t tag)
{
    memcpy(p, &tag, 8);
    t_fill_tag(p + 8, n - 8, tag);
}

/* 1 when p[0..n) is a whole tagged value (its tag into *tag_out if not NULL). */
T_FN int check_tagged(const unsigned char *p, size_t n, unsigned char *scratch, uint64_t *tag_out)
{
    uint64_t tag;
    if (n < 8)
        return 0;
    memcpy(&tag, p, 8);
    t_fill_tag(scratch, n - 8, tag);
    if (tag_out)
        *tag_out = tag;
    return (tag >> 32) == n && memcmp(scratch, p + 8, n - 8) == 0;
}
#endif
