/* SPDX-License-Identifier: MIT OR Unlicense */
/* kvstore_posix.c direct-I/O policy: prefer / require / off on a filesystem
   that supports O_DIRECT, on /dev/shm (tmpfs), on a file that refuses it
   (/proc), and with a refusal injected through kvs_sysops.setfl.
   Environment: KVS_TEST_DIR (scratch directory on a filesystem with
   O_DIRECT), KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static const char *src_name(kvs_align_source s)
{
    switch (s) {
    case KVS_ALIGN_SRC_STATX: return "statx";
    case KVS_ALIGN_SRC_BLKSSZ: return "BLKSSZGET";
    case KVS_ALIGN_SRC_BLKSIZE: return "st_blksize";
    default: return "none";
    }
}

static kvs_result open_with(const char *path, kvs_direct_policy pol, uint32_t flags,
                            const kvs_sysops *ops, kvs_file **f)
{
    kvs_file_config cfg;
    kvs_file_config_init(&cfg);
    cfg.direct = pol;
    cfg.flags = flags;
    cfg.sysops = ops;
    *f = NULL;
    return kvs_file_open(path, &cfg, f);
}

static void expect_mode(kvs_file *f, int direct, int fell_back)
{
    kvs_file_info fi;
    kvs_file_stats st;
    kvs_file_get_info(f, &fi);
    kvs_file_get_stats(f, &st);
    CHECK(fi.direct == direct);
    CHECK(fi.fell_back == fell_back);
    CHECK(st.direct_fallbacks == (uint64_t)fell_back);
}

/* A filesystem with O_DIRECT (ext4 here): prefer and require get it. */
static void test_supported(void)
{
    char path[1200];
    kvs_file *f;
    kvs_file_info fi;
    snprintf(path, sizeof path, "%s/policy", t_dir);
    CHECK_R(open_with(path, KVS_DIRECT_PREFER, KVS_FILE_CREATE, NULL, &f), KVS_OK);
    if (f == NULL)
        return;
    kvs_file_get_info(f, &fi);
    printf("%s: direct=%d align=%zu buf_align=%zu (from %s)\n", t_dir, fi.direct, fi.align,
           fi.buf_align, src_name(fi.align_source));
    if (!fi.direct) {
        CHECK(!t_direct_ok(t_dir)); /* else the library failed to use it */
        printf("SKIP: %s does not support O_DIRECT; set KVS_TEST_DIR to one that does\n", t_dir);
        CHECK_R(kvs_file_close(f), KVS_OK);
        unlink(path);
        return;
    }
    expect_mode(f, 1, 0);
    CHECK(fi.policy == KVS_DIRECT_PREFER);
    CHECK(fi.mem_align >= 1 && kvs_is_pow2(fi.mem_align));
    CHECK(fi.offset_align >= 1 && kvs_is_pow2(fi.offset_align));
    CHECK((fcntl(kvs_file_fd(f), F_GETFL) & O_DIRECT) != 0);
    CHECK_R(kvs_file_close(f), KVS_OK);
    CHECK_R(open_with(path, KVS_DIRECT_REQUIRE, 0, NULL, &f), KVS_OK);
    if (f != NULL) {
        expect_mode(f, 1, 0);
        CHECK_R(kvs_file_close(f), KVS_OK);
    }
    CHECK_R(open_with(path, KVS_DIRECT_OFF, 0, NULL, &f), KVS_OK);
    if (f != NULL) {
        expect_mode(f, 0, 0);
        CHECK((fcntl(kvs_file_fd(f), F_GETFL) & O_DIRECT) == 0);
        CHECK_R(kvs_file_close(f), KVS_OK);
    }
    unlink(path);
}

/* /dev/shm: tmpfs. Linux before 6.6 refuses O_DIRECT there; 6.6 and later
   accept it. Either way the outcome must be explicit and consistent. */
static void test_dev_shm(void)
{
    char dir[64], path[128];
    kvs_file *f;
    kvs_file_info fi;
    struct stat sb;
    if (stat("/dev/shm", &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        printf("SKIP: /dev/shm is absent; tmpfs policy case not run\n");
        return;
    }
    snprintf(dir, sizeof dir, "/dev/shm/kvs_policy_XXXXXX");
    if (mkdtemp(dir) == NULL) {
        printf("SKIP: cannot create a directory in /dev/shm (%s)\n", strerror(errno));
        return;
    }
    snprintf(path, sizeof path, "%s/f", dir);
    CHECK_R(open_with(path, KVS_DIRECT_PREFER, KVS_FILE_CREATE, NULL, &f), KVS_OK);
    if (f != NULL) {
        kvs_file_get_info(f, &fi);
        CHECK(fi.direct == t_direct_ok(dir)); /* the library's answer is the filesystem's */
        if (fi.direct) {
            printf("NOTE: tmpfs (/dev/shm) accepts O_DIRECT on this kernel (Linux >= 6.6): "
                   "the refusal is tested on /proc and through an injected refusal instead\n");
            expect_mode(f, 1, 0);
            CHECK_R(kvs_file_close(f), KVS_OK);
            CHECK_R(open_with(path, KVS_DIRECT_REQUIRE, 0, NULL, &f), KVS_OK);
            if (f != NULL)
                CHECK_R(kvs_file_close(f), KVS_OK);
        } else {
            printf("/dev/shm refuses O_DIRECT: prefer fell back to buffered (counted)\n");
            expect_mode(f, 0, 1);
            CHECK_R(kvs_file_write(f, 0, "abc", 3), KVS_OK);
            CHECK_R(kvs_file_close(f), KVS_OK);
            CHECK_R(open_with(path, KVS_DIRECT_REQUIRE, 0, NULL, &f), KVS_E_NODIRECT);
            CHECK(f == NULL);
        }
    }
    unlink(path);
    rmdir(dir);
}

/* procfs refuses O_DIRECT on every kernel: a real, read-only refusal. */
static void test_proc(void)
{
    const char *path = "/proc/self/status";
    kvs_file *f;
    char buf[8];
    if (access(path, R_OK) != 0) {
        printf("SKIP: %s is not readable; procfs refusal case not run\n", path);
        return;
    }
    CHECK_R(open_with(path, KVS_DIRECT_PREFER, KVS_FILE_RDONLY, NULL, &f), KVS_OK);
    if (f != NULL) {
        expect_mode(f, 0, 1);
        CHECK_R(kvs_file_read(f, 0, buf, 5), KVS_OK);
        CHECK(memcmp(buf, "Name:", 5) == 0);
        CHECK_R(kvs_file_close(f), KVS_OK);
    }
    CHECK_R(open_with(path, KVS_DIRECT_REQUIRE, KVS_FILE_RDONLY, NULL, &f), KVS_E_NODIRECT);
    CHECK(f == NULL);
    CHECK_R(open_with(path, KVS_DIRECT_OFF, KVS_FILE_RDONLY, NULL, &f), KVS_OK);
    if (f != NULL) {
        expect_mode(f, 0, 0);
        CHECK_R(kvs_file_close(f), KVS_OK);
    }
}

static int setfl_einval(void *u, int fd, int flags)
{
    (void)u;
    (void)fd;
    (void)flags;
    return -EINVAL;
}

static int setfl_eio(void *u, int fd, int flags)
{
    (void)u;
    (void)fd;
    (void)flags;
    return -EIO;
}

/* A refusal injected through the hook table on a writable file. */
static void test_injected(void)
{
    char path[1200];
    kvs_sysops ops;
    kvs_file *f;
    uint64_t w;
    memset(&ops, 0, sizeof ops);
    ops.setfl = setfl_einval;
    snprintf(path, sizeof path, "%s/refused", t_dir);
    unlink(path);
    CHECK_R(open_with(path, KVS_DIRECT_REQUIRE, KVS_FILE_CREATE | KVS_FILE_EXCL, &ops, &f),
            KVS_E_NODIRECT);
    CHECK(f == NULL);
    CHECK(access(path, F_OK) != 0); /* the file it created is removed again */
    CHECK_R(open_with(path, KVS_DIRECT_PREFER, KVS_FILE_CREATE | KVS_FILE_EXCL, &ops, &f), KVS_OK);
    if (f != NULL) {
        expect_mode(f, 0, 1);
        CHECK_R(kvs_file_write(f, 1, "hello", 5), KVS_OK); /* buffered: any offset, exact length */
        CHECK_R(kvs_file_written_len(f, 1, 5, &w), KVS_OK);
        CHECK(w == 5);
        CHECK_R(kvs_file_close(f), KVS_OK);
        {
            struct stat sb;
            CHECK(stat(path, &sb) == 0 && sb.st_size == 6);
        }
    }
    /* A refused open changes nothing: TRUNC and size act only once the
       direct policy is settled. */
    {
        kvs_file_config cfg;
        struct stat sb;
        char got[8] = {0};
        int fd;
        kvs_file_config_init(&cfg);
        cfg.direct = KVS_DIRECT_REQUIRE;
        cfg.flags = KVS_FILE_TRUNC;
        cfg.sysops = &ops;
        f = NULL;
        CHECK_R(kvs_file_open(path, &cfg, &f), KVS_E_NODIRECT);
        CHECK(f == NULL && stat(path, &sb) == 0 && sb.st_size == 6);
        cfg.flags = 0;
        cfg.size = (uint64_t)1 << 20;
        CHECK_R(kvs_file_open(path, &cfg, &f), KVS_E_NODIRECT);
        CHECK(f == NULL && stat(path, &sb) == 0 && sb.st_size == 6);
        fd = open(path, O_RDONLY);
        CHECK(fd >= 0 && pread(fd, got, 6, 0) == 6 && memcmp(got + 1, "hello", 5) == 0);
        if (fd >= 0)
            close(fd);
        /* PREFER opens buffered, and then truncates and grows */
        cfg.direct = KVS_DIRECT_PREFER;
        cfg.flags = KVS_FILE_TRUNC;
        cfg.size = 8192;
        CHECK_R(kvs_file_open(path, &cfg, &f), KVS_OK);
        if (f != NULL) {
            uint64_t size = 0;
            CHECK_R(kvs_file_size(f, &size), KVS_OK);
            CHECK(size == 8192);
            CHECK_R(kvs_file_read(f, 0, got, 6), KVS_OK);
            CHECK(memcmp(got, "\0\0\0\0\0\0", 6) == 0);
            CHECK_R(kvs_file_close(f), KVS_OK);
        }
        CHECK(stat(path, &sb) == 0 && sb.st_size == 8192);
    }
    /* another error from F_SETFL is an error, never a silent fallback */
    ops.setfl = setfl_eio;
    CHECK_R(open_with(path, KVS_DIRECT_PREFER, 0, &ops, &f), KVS_E_IO);
    CHECK(f == NULL);
    /* OFF never asks */
    CHECK_R(open_with(path, KVS_DIRECT_OFF, 0, &ops, &f), KVS_OK);
    if (f != NULL) {
        expect_mode(f, 0, 0);
        CHECK_R(kvs_file_close(f), KVS_OK);
    }
    unlink(path);
}

int main(void)
{
    t_init_seed("test_posix_policy", 1);
    t_setup_dir("policy");
    test_supported();
    test_dev_shm();
    test_proc();
    test_injected();
    rmdir(t_dir);
    return t_done("test_posix_policy");
}
