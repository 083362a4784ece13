/* SPDX-License-Identifier: MIT OR Unlicense */
/* Filesystem store security and hostile input: keys that look like paths or
   carry any byte value stay inside their directory and decode back to
   themselves; symlinks, directories and FIFOs planted where files are
   expected are never followed or trusted; permissions of created files and
   directories; hostile object files (truncated, bad magic, bad CRCs, wrong
   key or length, random damage) are misses counted as corruptions and never
   data. Environment: KVS_TEST_DIR, KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <sys/sysmacros.h>
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define FS_THREADS 1
#include "test_store_fs_util.h"

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return;
    if (n > 0)
        fwrite(data, 1, n, fp);
    fclose(fp);
}

static size_t read_file(const char *path, void *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    size_t n;
    if (fp == NULL)
        return 0;
    n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

static void name_path(char *out, size_t cap, const char *dir, const void *key, size_t kl)
{
    char name[300];
    size_t nl = 0;
    kvs_fsname_encode(key, kl, name, sizeof name, &nl, NULL);
    snprintf(out, cap, "%s/%s", dir, name);
}

/* ------------------------------------------------------------------ */
typedef struct kkey {
    unsigned char b[400];
    size_t n;
} kkey;

static void test_keys(void)
{
    static kkey keys[700];
    size_t nk = 0, i, j, names = 0, matched = 0;
    char d[1100];
    kvs_store_config c;
    kvs_store *s;
    static const char *const lit[] = {"../x", "../../etc/passwd", "/abs/path", "a/b", "/", ".", "..", ".hidden",
                                      "-dash", "A", "a", "~kvstore-pathset", "x.kv", "x.tmp", "%2F", "C:\\w"};
    DIR *dp;
    struct dirent *de;
    t_path(d, sizeof d, "keys");
    for (i = 0; i < sizeof lit / sizeof lit[0]; i++) {
        keys[nk].n = strlen(lit[i]);
        memcpy(keys[nk++].b, lit[i], strlen(lit[i]));
    }
    memcpy(keys[nk].b, "a\0b", 3);
    keys[nk++].n = 3;
    memcpy(keys[nk].b, "\xC0\xAF", 2);
    keys[nk++].n = 2;
    memcpy(keys[nk].b, "..\xC0\xAF..\xC0\xAF", 8);
    keys[nk++].n = 8;
    for (i = 0; i < 256; i++) { /* every byte value, alone and after a letter */
        keys[nk].b[0] = (unsigned char)i;
        keys[nk++].n = 1;
        keys[nk].b[0] = 'k';
        keys[nk].b[1] = (unsigned char)i;
        keys[nk++].n = 2;
    }
    for (i = 0; i < 4; i++) { /* long path-like keys: hashed names */
        size_t k;
        for (k = 0; k + 3 <= 300; k += 3)
            memcpy(keys[nk].b + k, "../", 3);
        keys[nk].b[0] = (unsigned char)('0' + i);
        keys[nk++].n = 300 + i;
    }
    /* drop repeats ("A" is also a byte value) */
    for (i = 0, j = 0; i < nk; i++) {
        size_t k;
        for (k = 0; k < j; k++)
            if (keys[k].n == keys[i].n && memcmp(keys[k].b, keys[i].b, keys[i].n) == 0)
                break;
        if (k == j)
            keys[j++] = keys[i];
    }
    nk = j;
    cfg_fs(&c, d);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    for (i = 0; i < nk; i++) {
        unsigned char v[64];
        t_fill_tag(v, sizeof v, i);
        CHECK_R(kvs_store_put(s, keys[i].b, keys[i].n, v, 16 + i % 40), KVS_OK);
    }
    for (i = 0; i < nk; i++) {
        unsigned char v[64], w[64];
        size_t got = 0;
        t_fill_tag(v, sizeof v, i);
        CHECK_R(kvs_store_get(s, keys[i].b, keys[i].n, w, sizeof w, &got), KVS_OK);
        CHECK(got == 16 + i % 40 && memcmp(v, w, got) == 0);
    }
    /* the scratch directory holds only the store directory */
    CHECK(count_files(t_dir, 0) == 1);
    /* every entry of the store directory but the path-set record and the
       lock file is a regular data file that decodes to one of the keys
       (hashed: the key in its header) */
    dp = opendir(d);
    CHECK(dp != NULL);
    while (dp != NULL && (de = readdir(dp)) != NULL) {
        unsigned char kb[KVS_KEY_MAX];
        size_t kl = 0;
        kvs_fsname_kind kind;
        struct stat sb;
        char p[1500];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || strcmp(de->d_name, KVS_PATHSET_NAME) == 0 ||
            strcmp(de->d_name, KVS_PINS_NAME) == 0)
            continue;
        names++;
        snprintf(p, sizeof p, "%s/%s", d, de->d_name);
        CHECK(lstat(p, &sb) == 0 && S_ISREG(sb.st_mode));
        CHECK(strchr(de->d_name, '/') == NULL && de->d_name[0] != '.' && de->d_name[0] != '-');
        if (kvs_fsname_decode(de->d_name, strlen(de->d_name), kb, sizeof kb, &kl, &kind) != KVS_OK) {
            CHECK(0);
            continue;
        }
        CHECK(kind != KVS_FSNAME_TEMP);
        if (kind == KVS_FSNAME_HASHED) {
            unsigned char hb[4096];
            kvs_objhdr h;
            CHECK(read_file(p, hb, sizeof hb) == sizeof hb);
            CHECK_R(kvs_objhdr_decode(hb, sizeof hb, &h), KVS_OK);
            kl = h.key_len;
            memcpy(kb, h.key, kl);
        }
        for (j = 0; j < nk; j++)
            if (keys[j].n == kl && memcmp(keys[j].b, kb, kl) == 0) {
                matched++;
                break;
            }
    }
    if (dp != NULL)
        closedir(dp);
    CHECK(names == nk);
    CHECK(matched == nk);
    CHECK_R(kvs_store_close(s), KVS_OK);
}

/* ------------------------------------------------------------------ */
static void test_symlinks(void)
{
    char d[1100], outside[1100], p[1500], real[1100], link[1100];
    kvs_store_config c;
    kvs_store *s;
    kvs_store_stats st;
    unsigned char v[3000], w[3000], ob[100];
    size_t got = 0;
    uint64_t corr;
    static const char secret[] = "outside file: must never change";
    t_path(d, sizeof d, "sym");
    t_path(outside, sizeof outside, "outside_target");
    write_file(outside, secret, sizeof secret);
    cfg_fs(&c, d);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    t_fill_tag(v, sizeof v, 77);
    /* a symlink at an object's final name is not followed */
    name_path(p, sizeof p, d, "victim", 6);
    CHECK(symlink(outside, p) == 0);
    CHECK_R(kvs_store_get(s, "victim", 6, w, sizeof w, &got), KVS_NOT_FOUND);
    CHECK_R(kvs_store_exists(s, "victim", 6), KVS_NOT_FOUND);
    kvs_store_get_stats(s, &st);
    CHECK(st.corruptions == 1);
    /* a put replaces the link itself, never writes through it */
    CHECK_R(kvs_store_put(s, "victim", 6, v, sizeof v), KVS_OK);
    CHECK(read_file(outside, ob, sizeof ob) == sizeof secret && memcmp(ob, secret, sizeof secret) == 0);
    {
        struct stat sb;
        CHECK(lstat(p, &sb) == 0 && S_ISREG(sb.st_mode));
    }
    CHECK_R(kvs_store_get(s, "victim", 6, w, sizeof w, &got), KVS_OK);
    CHECK(got == sizeof v && memcmp(v, w, got) == 0);
    /* a link to a perfectly valid object file elsewhere: still not followed */
    {
        char copy[1200], p2[1500];
        unsigned char buf[8192];
        size_t n = read_file(p, buf, sizeof buf);
        snprintf(copy, sizeof copy, "%s/valid_copy", t_dir);
        write_file(copy, buf, n);
        CHECK_R(kvs_store_remove(s, "victim", 6), KVS_OK);
        CHECK(symlink(copy, p) == 0);
        CHECK_R(kvs_store_get(s, "victim", 6, w, sizeof w, &got), KVS_NOT_FOUND);
        /* remove unlinks the link, not its target */
        CHECK_R(kvs_store_remove(s, "victim", 6), KVS_OK);
        CHECK(read_file(copy, buf, sizeof buf) == n);
        /* directories and FIFOs at a final name: misses, no hang */
        name_path(p2, sizeof p2, d, "adir", 4);
        CHECK(mkdir(p2, 0700) == 0);
        kvs_store_get_stats(s, &st);
        corr = st.corruptions;
        CHECK_R(kvs_store_get(s, "adir", 4, w, sizeof w, &got), KVS_NOT_FOUND);
        CHECK_R(kvs_store_exists(s, "adir", 4), KVS_NOT_FOUND);
        name_path(p2, sizeof p2, d, "afifo", 5);
        CHECK(mkfifo(p2, 0600) == 0);
        CHECK_R(kvs_store_get(s, "afifo", 5, w, sizeof w, &got), KVS_NOT_FOUND);
        kvs_store_get_stats(s, &st); /* each counted as a damaged file (docs/STORES.md) */
        CHECK(st.corruptions == corr + 2);
        /* a remove unlinks a planted FIFO, as a damaged file: KVS_OK */
        CHECK_R(kvs_store_remove(s, "afifo", 5), KVS_OK);
        CHECK(access(p2, F_OK) != 0);
        CHECK(mkfifo(p2, 0600) == 0);
        CHECK_R(kvs_store_put(s, "afifo", 5, v, 10), KVS_OK); /* replaces the FIFO */
        CHECK_R(kvs_store_get(s, "afifo", 5, w, sizeof w, &got), KVS_OK);
        /* device nodes at a final name (root): a block node naming the
           test filesystem's own device, and a character node like
           /dev/null. Each is a miss, never read as an object. The case
           needs leave to create and open the node (device cgroup, nodev). */
        {
            struct stat ds;
            int k;
            for (k = 0; k < 2; k++) {
                const char *kn = k == 0 ? "ablk" : "achr";
                int bfd = -1, made;
                name_path(p2, sizeof p2, d, kn, 4);
                if (k == 0)
                    made = stat(d, &ds) == 0 && major(ds.st_dev) != 0 &&
                           mknod(p2, S_IFBLK | 0600, ds.st_dev) == 0;
                else
                    made = stat("/dev/null", &ds) == 0 && S_ISCHR(ds.st_mode) &&
                           mknod(p2, S_IFCHR | 0600, ds.st_rdev) == 0;
                if (made && (bfd = open(p2, O_RDONLY | O_NONBLOCK)) < 0)
                    (void)unlink(p2);
                if (bfd < 0) {
                    printf("SKIP %s device node case: needs root and leave to create and open the node\n",
                           k == 0 ? "block" : "character");
                    continue;
                }
                close(bfd);
                CHECK_R(kvs_store_get(s, kn, 4, w, sizeof w, &got), KVS_NOT_FOUND);
                CHECK_R(kvs_store_exists(s, kn, 4), KVS_NOT_FOUND);
                CHECK_R(kvs_store_put(s, kn, 4, v, 10), KVS_OK); /* replaces the node */
                CHECK_R(kvs_store_get(s, kn, 4, w, sizeof w, &got), KVS_OK);
            }
        }
    }
    CHECK_R(kvs_store_close(s), KVS_OK);

    /* the path-set record as a symlink: replaced, target untouched */
    name_path(p, sizeof p, d, "x", 1);
    snprintf(p, sizeof p, "%s/%s", d, KVS_PATHSET_NAME);
    CHECK(unlink(p) == 0);
    CHECK(symlink(outside, p) == 0);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s != NULL) {
        struct stat sb;
        kvs_store_get_stats(s, &st);
        CHECK(st.pathset_changed == 1);
        CHECK(lstat(p, &sb) == 0 && S_ISREG(sb.st_mode));
        CHECK(read_file(outside, ob, sizeof ob) == sizeof secret && memcmp(ob, secret, sizeof secret) == 0);
        kvs_store_close(s);
    }
    /* an old temp-named symlink is neither followed nor removed */
    {
        char t[1500];
        struct timespec ts[2];
        snprintf(t, sizeof t, "%s/~t0000000000000001000000000000000a.tmp", d);
        CHECK(symlink(outside, t) == 0);
        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[0].tv_sec -= 100000;
        ts[1] = ts[0];
        utimensat(AT_FDCWD, t, ts, AT_SYMLINK_NOFOLLOW);
        s = open_store(&c);
        CHECK(s != NULL);
        if (s != NULL)
            kvs_store_close(s);
        CHECK(read_file(outside, ob, sizeof ob) == sizeof secret);
        unlink(t);
    }
    /* a symlinked store directory is fine: files land in its target */
    t_path(real, sizeof real, "realdir");
    t_path(link, sizeof link, "linkdir");
    CHECK(mkdir(real, 0700) == 0);
    CHECK(symlink(real, link) == 0);
    cfg_fs(&c, link);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s != NULL) {
        CHECK_R(kvs_store_put(s, "via-link", 8, v, 100), KVS_OK);
        name_path(p, sizeof p, real, "via-link", 8);
        CHECK(access(p, F_OK) == 0);
        kvs_store_close(s);
    }
}

/* ------------------------------------------------------------------ */
static void test_modes(void)
{
    char d[1100], d2[1100], p[1500];
    kvs_store_config c;
    kvs_store *s;
    struct stat sb;
    unsigned char v[10] = {0};
    mode_t old = umask(0);
    t_path(d, sizeof d, "modes/deep");
    cfg_fs(&c, d);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s != NULL) {
        CHECK_R(kvs_store_put(s, "m", 1, v, sizeof v), KVS_OK);
        name_path(p, sizeof p, d, "m", 1);
        CHECK(stat(p, &sb) == 0 && (sb.st_mode & 07777) == 0600);
        snprintf(p, sizeof p, "%s/%s", d, KVS_PATHSET_NAME);
        CHECK(stat(p, &sb) == 0 && (sb.st_mode & 07777) == 0600);
        CHECK(stat(d, &sb) == 0 && (sb.st_mode & 0777) == 0700);
        kvs_store_close(s);
    }
    t_path(d2, sizeof d2, "modes2");
    cfg_fs(&c, d2);
    c.file_mode = 0640;
    s = open_store(&c);
    CHECK(s != NULL);
    if (s != NULL) {
        CHECK_R(kvs_store_put(s, "m", 1, v, sizeof v), KVS_OK);
        name_path(p, sizeof p, d2, "m", 1);
        CHECK(stat(p, &sb) == 0 && (sb.st_mode & 07777) == 0640);
        CHECK(stat(d2, &sb) == 0 && (sb.st_mode & 0777) == 0750);
        kvs_store_close(s);
    }
    umask(old);
}

/* ------------------------------------------------------------------ */
/* A whole object file for key with payload, built here from FORMAT 6.3. */
static size_t make_object(unsigned char *out, size_t cap, const void *key, size_t kl, const unsigned char *pl,
                          size_t n, uint32_t po)
{
    kvs_objhdr h;
    size_t hl = 0;
    memset(out, 0, cap);
    h.key_len = (uint32_t)kl;
    h.payload_len = n;
    h.generation = 5;
    h.store_id = 77;
    h.payload_offset = po;
    h.payload_crc = kvs_crc32c(0, pl, n);
    h.key = key;
    if (kvs_objhdr_encode(&h, out, cap, &hl) != KVS_OK)
        return 0;
    memcpy(out + po, pl, n);
    return po + n;
}

static void test_hostile(void)
{
    char d[1100], p[1500];
    kvs_store_config c;
    kvs_store *s;
    kvs_store_stats st;
    static unsigned char obj[20000], bad[20000], w[20000];
    unsigned char pl[5000];
    size_t n, got = 0, i;
    uint64_t corr0, rs = t_seed;
    t_path(d, sizeof d, "hostile");
    cfg_fs(&c, d);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    t_fill_tag(pl, sizeof pl, 4);
    name_path(p, sizeof p, d, "h", 1);
    n = make_object(obj, sizeof obj, "h", 1, pl, sizeof pl, 4096);
    CHECK(n == 4096 + sizeof pl);
    write_file(p, obj, n);
    CHECK_R(kvs_store_get(s, "h", 1, w, sizeof w, &got), KVS_OK); /* the hand-made file is valid */
    CHECK(got == sizeof pl && memcmp(w, pl, got) == 0);
    /* Each case twice. First with the key known to this store handle (the
       get just before read and checked the good file): a get then reads the
       payload alone if the file is still the one it knows (same inode, size
       and mtime) and checks it against the CRC it knows. Rewriting the file
       changes its mtime, so every case is then a counted miss, as for a
       first get. Damage that keeps the mtime (silent = 1: the mtime is put
       back, as media damage would leave it) and spares the payload bytes
       is not seen by that handle, which returns the right payload; damage
       to the payload with the mtime kept (silent = 2) is caught by that
       handle's check of the payload against the CRC it knows: a counted
       miss. Then in a store opened afresh, which knows nothing: every case
       is a miss counted as a corruption. Never other bytes. */
#define HOSTILE_INTACT(label, buf, len, silent)                                        \
    do {                                                                                \
        struct stat sb0;                                                                \
        kvs_store_get_stats(s, &st);                                                    \
        corr0 = st.corruptions;                                                         \
        CHECK(stat(p, &sb0) == 0);                                                      \
        write_file(p, buf, len);                                                        \
        if (silent) {                                                                   \
            struct timespec ts[2];                                                      \
            ts[0] = sb0.st_atim;                                                        \
            ts[1] = sb0.st_mtim;                                                        \
            CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);                                  \
        }                                                                               \
        memset(w, 0, sizeof w);                                                         \
        got = 0;                                                                        \
        CHECK_R(kvs_store_get(s, "h", 1, w, sizeof w, &got), (silent) == 1 ? KVS_OK : KVS_NOT_FOUND); \
        if ((silent) == 1)                                                              \
            CHECK(got == sizeof pl && memcmp(w, pl, got) == 0);                         \
        else                                                                            \
            CHECK(got == 0);                                                            \
        kvs_store_get_stats(s, &st);                                                    \
        CHECK(st.corruptions == corr0 + ((silent) == 1 ? 0u : 1u));                     \
        CHECK_R(kvs_store_close(s), KVS_OK);                                            \
        s = open_store(&c);                                                             \
        CHECK(s != NULL);                                                               \
        if (s == NULL)                                                                  \
            return;                                                                     \
        memset(w, 0, sizeof w);                                                         \
        CHECK_R(kvs_store_get(s, "h", 1, w, sizeof w, &got), KVS_NOT_FOUND);           \
        kvs_store_get_stats(s, &st);                                                    \
        CHECK(st.corruptions == 1);                                                     \
        if (st.corruptions != 1)                                                        \
            fprintf(stderr, "  hostile case: %s\n", label);                             \
        write_file(p, obj, n); /* the good file again, read and known */                \
        CHECK_R(kvs_store_get(s, "h", 1, w, sizeof w, &got), KVS_OK);                  \
        CHECK(got == sizeof pl && memcmp(w, pl, got) == 0);                             \
    } while (0)
#define HOSTILE(label, buf, len) HOSTILE_INTACT(label, buf, len, 0)
    HOSTILE("empty", obj, 0);
    HOSTILE("truncated header", obj, 100);
    HOSTILE("truncated payload", obj, n - 1);
    HOSTILE("header only", obj, 4096);
    memset(bad, 0, sizeof bad);
    HOSTILE("zeros", bad, n);
    memcpy(bad, obj, n);
    bad[0] ^= 1;
    HOSTILE("bad magic", bad, n);
    HOSTILE_INTACT("bad magic, mtime kept", bad, n, 1);
    /* Header CRC: a bit flipped in a field nothing but the header CRC
       protects. store_id (bytes 32..39, FORMAT.md 6.3) is not compared
       with the directory's by this store, and 77 -> 333 is still nonzero;
       the same header with its CRC recomputed decodes, so the CRC alone
       rejects the file. Then a bit of the CRC field itself (bytes 60..63). */
    memcpy(bad, obj, n);
    bad[33] ^= 1; /* store_id bit 8 */
    {
        kvs_objhdr h;
        size_t hl = 0;
        static unsigned char fixed[4096];
        CHECK_R(kvs_objhdr_decode(bad, 4096, &h), KVS_E_CHECKSUM);
        memcpy(fixed, bad, sizeof fixed);
        h.key_len = 1;
        h.payload_len = sizeof pl;
        h.generation = 5;
        h.store_id = 77u ^ 256u;
        h.payload_offset = 4096;
        h.payload_crc = kvs_crc32c(0, pl, sizeof pl);
        h.key = "h";
        CHECK_R(kvs_objhdr_encode(&h, fixed, sizeof fixed, &hl), KVS_OK);
        CHECK(memcmp(fixed, bad, 60) == 0 && memcmp(fixed + 64, bad + 64, sizeof fixed - 64) == 0 &&
              memcmp(fixed + 60, bad + 60, 4) != 0); /* only the CRC differs */
        CHECK_R(kvs_objhdr_decode(fixed, sizeof fixed, &h), KVS_OK);
        CHECK(h.store_id == 333);
    }
    HOSTILE("bad header crc (store_id changed)", bad, n);
    HOSTILE_INTACT("bad header crc (store_id changed), mtime kept", bad, n, 1);
    memcpy(bad, obj, n);
    bad[61] ^= 0x10; /* the header CRC field */
    {
        kvs_objhdr h;
        CHECK_R(kvs_objhdr_decode(bad, 4096, &h), KVS_E_CHECKSUM);
    }
    HOSTILE("bad header crc (the CRC field)", bad, n);
    HOSTILE_INTACT("bad header crc (the CRC field), mtime kept", bad, n, 1);
    memcpy(bad, obj, n);
    bad[4096 + 100] ^= 0x40;
    HOSTILE("bad payload crc", bad, n);
    HOSTILE_INTACT("bad payload crc, mtime kept", bad, n, 2);
    memcpy(bad, obj, n);
    bad[n - 1] ^= 0x01; /* the last payload byte */
    HOSTILE_INTACT("last payload byte, mtime kept", bad, n, 2);
    make_object(bad, sizeof bad, "g", 1, pl, sizeof pl, 4096);
    HOSTILE("another key under a readable name", bad, n);
    HOSTILE_INTACT("another key under a readable name, mtime kept", bad, n, 1);
    make_object(bad, sizeof bad, "h", 1, pl, sizeof pl, 512);
    HOSTILE("payload offset below 4096", bad, 512 + sizeof pl);
    {
        /* a length that runs past the file, with a valid header CRC */
        kvs_objhdr h;
        size_t hl = 0;
        memcpy(bad, obj, n);
        h.key_len = 1;
        h.payload_len = sizeof pl + 4096;
        h.generation = 5;
        h.store_id = 77;
        h.payload_offset = 4096;
        h.payload_crc = kvs_crc32c(0, pl, sizeof pl);
        h.key = "h";
        kvs_objhdr_encode(&h, bad, sizeof bad, &hl);
        HOSTILE("length past the end", bad, n);
    HOSTILE_INTACT("length past the end, mtime kept", bad, n, 1);
    }
    for (i = 0; i < 4096; i++)
        bad[i] = (unsigned char)t_rng_next(&rs);
    HOSTILE("garbage", bad, 4096 + 100);
    /* a known file replaced by a symlink to a good copy, then by a
       directory: never followed or read, a counted miss, as for a handle
       that does not know the file */
    {
        char q[1600];
        int k;
        snprintf(q, sizeof q, "%s.elsewhere", p);
        write_file(q, obj, n);
        for (k = 0; k < 2; k++) {
            kvs_store_get_stats(s, &st);
            corr0 = st.corruptions;
            CHECK(unlink(p) == 0);
            CHECK(k == 0 ? symlink(q, p) == 0 : mkdir(p, 0700) == 0);
            CHECK_R(kvs_store_get(s, "h", 1, w, sizeof w, &got), KVS_NOT_FOUND);
            CHECK(got == 0);
            kvs_store_get_stats(s, &st);
            CHECK(st.corruptions == corr0 + 1);
            CHECK(k == 0 ? unlink(p) == 0 : rmdir(p) == 0);
            write_file(p, obj, n);
            CHECK_R(kvs_store_get(s, "h", 1, w, sizeof w, &got), KVS_OK); /* known again */
        }
        unlink(q);
    }
    /* random damage: a miss or the exact payload, never anything else */
    for (i = 0; i < 300; i++) {
        size_t len = n, k, flips = 1 + (size_t)(t_rng_next(&rs) % 4);
        kvs_result r;
        memcpy(bad, obj, n);
        for (k = 0; k < flips; k++) {
            uint64_t x = t_rng_next(&rs);
            size_t at = (x & 1) ? (size_t)((x >> 8) % 128) : (size_t)((x >> 8) % n);
            bad[at] ^= (unsigned char)(1u << ((x >> 40) & 7));
        }
        if (t_rng_next(&rs) % 8 == 0)
            len = (size_t)(t_rng_next(&rs) % n);
        write_file(p, bad, len);
        memset(w, 0, sizeof w);
        got = 0;
        r = kvs_store_get(s, "h", 1, w, sizeof w, &got);
        CHECK(r == KVS_NOT_FOUND || (r == KVS_OK && got == sizeof pl && memcmp(w, pl, got) == 0));
    }
    /* a hashed name holding another key: a miss, not a corruption */
    {
        unsigned char k1[200], k2[200];
        char p1[1500], p2[1500];
        memset(k1, 'Q', sizeof k1); /* escaped to 600 bytes: hashed names */
        memcpy(k2, k1, sizeof k2);
        k2[199] = 'R';
        CHECK_R(kvs_store_put(s, k2, sizeof k2, pl, 100), KVS_OK);
        name_path(p1, sizeof p1, d, k1, sizeof k1);
        name_path(p2, sizeof p2, d, k2, sizeof k2);
        CHECK(rename(p2, p1) == 0); /* k2's file under k1's hashed name */
        kvs_store_get_stats(s, &st);
        corr0 = st.corruptions;
        CHECK_R(kvs_store_get(s, k1, sizeof k1, w, sizeof w, &got), KVS_NOT_FOUND);
        CHECK_R(kvs_store_exists(s, k1, sizeof k1), KVS_NOT_FOUND);
        CHECK_R(kvs_store_remove(s, k1, sizeof k1), KVS_NOT_FOUND); /* not k1's file */
        CHECK(access(p1, F_OK) == 0);
        kvs_store_get_stats(s, &st);
        CHECK(st.corruptions == corr0);
    }
    /* a put over any of it works */
    CHECK_R(kvs_store_put(s, "h", 1, pl, sizeof pl), KVS_OK);
    CHECK_R(kvs_store_get(s, "h", 1, w, sizeof w, &got), KVS_OK);
    CHECK(got == sizeof pl && memcmp(w, pl, got) == 0);
    CHECK_R(kvs_store_close(s), KVS_OK);
    /* hostile files at open: the scan neither trusts nor deletes them */
    write_file(p, bad, 10);
    s = open_store(&c);
    CHECK(s != NULL);
    if (s != NULL) {
        CHECK_R(kvs_store_get(s, "h", 1, w, sizeof w, &got), KVS_NOT_FOUND);
        kvs_store_close(s);
    }
}

/* ------------------------------------------------------------------ */
/* Header fields that cannot describe the file they are in, with a valid
   header CRC, and a hashed name holding the file of a longer key that
   starts with the key of the name. */
static int list_keys(void *u, const void *k, size_t kl, uint64_t len)
{
    uint64_t *x = (uint64_t *)u;
    (void)k;
    (void)kl;
    x[0]++;
    x[1] += len;
    return 0;
}

static void test_hostile_lengths(void)
{
    char d[1100], p[1500];
    kvs_store_config c;
    kvs_store *s;
    kvs_store_stats st, st2;
    static unsigned char obj[9000], w[9000];
    unsigned char pl[100];
    uint64_t seen[2] = {0, 0};
    size_t got = 0;
    t_path(d, sizeof d, "hostlen");
    cfg_fs(&c, d);
    c.direct = KVS_DIRECT_OFF; /* files without tail padding: a known file's
                                  payload is read alone */
    s = open_store(&c);
    if (!CHECK(s != NULL))
        return;
    t_fill_tag(pl, sizeof pl, 6);
    CHECK_R(kvs_store_put(s, "ok", 2, pl, sizeof pl), KVS_OK);
    /* a payload length far past the file's size (2^40 bytes in a file of
       4196): no object, listed by no iteration and read by no get (the
       check of the offset against size - length alone wraps) */
    {
        kvs_objhdr h;
        size_t hl = 0;
        memset(obj, 0, sizeof obj);
        h.key_len = 3;
        h.payload_len = (uint64_t)1 << 40;
        h.generation = 5;
        h.store_id = 77;
        h.payload_offset = 4096;
        h.payload_crc = kvs_crc32c(0, pl, sizeof pl);
        h.key = "big";
        CHECK_R(kvs_objhdr_encode(&h, obj, 4096, &hl), KVS_OK);
        memcpy(obj + 4096, pl, sizeof pl);
        name_path(p, sizeof p, d, "big", 3);
        write_file(p, obj, 4096 + sizeof pl);
    }
    CHECK_R(kvs_store_iterate(s, list_keys, seen), KVS_OK);
    CHECK(seen[0] == 1 && seen[1] == sizeof pl); /* "ok" alone */
    CHECK_R(kvs_store_get(s, "big", 3, w, sizeof w, &got), KVS_NOT_FOUND);
    CHECK(got == 0);
    kvs_store_get_stats(s, &st);
    CHECK(st.corruptions == 1);
    /* k2 = k1 followed by one more byte; both hashed names. k2's file
       under k1's name is not k1's: exists and remove of k1 say so, and the
       file stays. */
    {
        unsigned char k1[200], k2[201];
        char p1[1500], p2[1500];
        memset(k1, 'P', sizeof k1);
        memcpy(k2, k1, sizeof k1);
        k2[200] = 'X';
        CHECK_R(kvs_store_put(s, k2, sizeof k2, pl, sizeof pl), KVS_OK);
        name_path(p1, sizeof p1, d, k1, sizeof k1);
        name_path(p2, sizeof p2, d, k2, sizeof k2);
        CHECK(strcmp(p1, p2) != 0);
        CHECK(rename(p2, p1) == 0);
        CHECK_R(kvs_store_exists(s, k1, sizeof k1), KVS_NOT_FOUND);
        CHECK_R(kvs_store_remove(s, k1, sizeof k1), KVS_NOT_FOUND);
        CHECK(access(p1, F_OK) == 0);
        CHECK_R(kvs_store_get(s, k1, sizeof k1, w, sizeof w, &got), KVS_NOT_FOUND);
    }
    /* a known file rewritten in place (same inode) with a longer object
       whose payload starts with the known one, its mtime put back: another
       size, so not the file known; the header is read and says the new
       length (a read of the known length alone would pass the known CRC
       and return the old, shorter value) */
    {
        unsigned char pl2[sizeof pl + 3];
        struct stat sb0;
        struct timespec ts[2];
        size_t n;
        int fd;
        CHECK_R(kvs_store_put(s, "m", 1, pl, sizeof pl), KVS_OK);
        CHECK_R(kvs_store_get(s, "m", 1, w, sizeof w, &got), KVS_OK);
        CHECK(got == sizeof pl);
        memcpy(pl2, pl, sizeof pl);
        pl2[sizeof pl] = 1;
        pl2[sizeof pl + 1] = 2;
        pl2[sizeof pl + 2] = 3;
        n = make_object(obj, sizeof obj, "m", 1, pl2, sizeof pl2, 4096);
        name_path(p, sizeof p, d, "m", 1);
        CHECK(stat(p, &sb0) == 0 && (size_t)sb0.st_size == 4096 + sizeof pl);
        fd = open(p, O_WRONLY);
        CHECK(fd >= 0);
        if (fd >= 0) {
            CHECK(write(fd, obj, n) == (ssize_t)n);
            close(fd);
        }
        ts[0] = sb0.st_atim;
        ts[1] = sb0.st_mtim;
        CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
        memset(w, 0, sizeof w);
        CHECK_R(kvs_store_get(s, "m", 1, w, sizeof w, &got), KVS_OK);
        CHECK(got == sizeof pl2 && memcmp(w, pl2, sizeof pl2) == 0);
        CHECK_R(kvs_store_remove(s, "m", 1), KVS_OK);
    }
    /* a long key's (hashed name's) file damaged in its header: no object
       for exists, and a remove takes it away (a get misses it) */
    {
        unsigned char k3[200];
        char p3[1500];
        size_t fl;
        memset(k3, 'D', sizeof k3);
        CHECK_R(kvs_store_put(s, k3, sizeof k3, pl, sizeof pl), KVS_OK);
        name_path(p3, sizeof p3, d, k3, sizeof k3);
        fl = read_file(p3, obj, sizeof obj);
        CHECK(fl >= 4096 + sizeof pl);
        obj[0] ^= 1; /* bad magic */
        write_file(p3, obj, fl);
        CHECK_R(kvs_store_exists(s, k3, sizeof k3), KVS_NOT_FOUND);
        CHECK_R(kvs_store_remove(s, k3, sizeof k3), KVS_OK);
        CHECK(access(p3, F_OK) != 0 && errno == ENOENT);
    }
    /* an empty payload whose CRC is not the empty string's: damaged */
    {
        kvs_objhdr h;
        size_t hl = 0;
        memset(obj, 0, 4096);
        h.key_len = 1;
        h.payload_len = 0;
        h.generation = 5;
        h.store_id = 77;
        h.payload_offset = 4096;
        h.payload_crc = kvs_crc32c(0, "", 0) ^ 1u;
        h.key = "e";
        CHECK_R(kvs_objhdr_encode(&h, obj, 4096, &hl), KVS_OK);
        name_path(p, sizeof p, d, "e", 1);
        write_file(p, obj, 4096);
        kvs_store_get_stats(s, &st);
        got = 12345;
        CHECK_R(kvs_store_get(s, "e", 1, w, sizeof w, &got), KVS_NOT_FOUND);
        CHECK(got == 0);
        kvs_store_get_stats(s, &st2);
        CHECK(st2.corruptions == st.corruptions + 1);
        CHECK(unlink(p) == 0);
    }
    /* key "a.kv" is named "a.kv.kv"; its file moved to "a.kv" (key "a"'s
       name, a prefix of it) is no object of either key: not listed */
    {
        char pa[1500], pakv[1500];
        uint64_t n2[2] = {0, 0};
        CHECK_R(kvs_store_remove(s, "ok", 2), KVS_OK);
        CHECK_R(kvs_store_remove(s, "big", 3), KVS_OK);
        CHECK_R(kvs_store_put(s, "a.kv", 4, pl, sizeof pl), KVS_OK);
        name_path(pa, sizeof pa, d, "a", 1);
        name_path(pakv, sizeof pakv, d, "a.kv", 4);
        CHECK(strlen(pa) < strlen(pakv) && strncmp(pa, pakv, strlen(pa)) == 0);
        CHECK(rename(pakv, pa) == 0);
        CHECK_R(kvs_store_iterate(s, list_keys, n2), KVS_OK);
        CHECK(n2[0] == 0);
        CHECK_R(kvs_store_get(s, "a.kv", 4, w, sizeof w, &got), KVS_NOT_FOUND);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);
    t_rm_rf(d);
}

int main(void)
{
    t_init_seed("test_store_fs_security", 0x5eed1234ULL);
    t_setup_dir("fss");
    test_keys();
    test_symlinks();
    test_modes();
    test_hostile();
    test_hostile_lengths();
    t_rm_rf(t_dir);
    return t_done("test_store_fs_security");
}
