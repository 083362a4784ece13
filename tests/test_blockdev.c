/* SPDX-License-Identifier: MIT OR Unlicense */
/* Real block devices: loop devices over a scratch file, with 512- and
   4096-byte logical sectors. The I/O layer must take the size from the
   kernel (BLKGETSIZE64), the direct-I/O alignment from statx or the sector
   size, refuse misaligned direct writes and a requested size beyond the
   device; the raw store must format, fill, close and restore on the device.
   Needs root and losetup (util-linux); otherwise it says SKIP and why.
   Environment: KVS_TEST_DIR (scratch directory), KVS_SEED. */
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "test_util.h"

#define DEV_BYTES ((uint64_t)48 << 20)


/* Attach a loop device over path with the given sector size; its name goes
   to dev. 0 on success. */
static int loop_attach(const char *path, unsigned sector, char *dev, size_t cap)
{
    char cmd[1200];
    FILE *p;
    size_t n;
    snprintf(cmd, sizeof cmd, "losetup -f --show --sector-size %u '%s' 2>/dev/null", sector, path);
    p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    if (fgets(dev, (int)cap, p) == NULL) {
        pclose(p);
        return -1;
    }
    if (pclose(p) != 0)
        return -1;
    n = strlen(dev);
    while (n > 0 && (dev[n - 1] == '\n' || dev[n - 1] == '\r'))
        dev[--n] = '\0';
    return strncmp(dev, "/dev/loop", 9) == 0 ? 0 : -1;
}

static void loop_detach(const char *dev)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "losetup -d '%s'", dev);
    if (system(cmd) != 0)
        fprintf(stderr, "note: could not detach %s\n", dev);
}

static void fill(unsigned char *p, size_t n, uint64_t tag)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(kvs_mix64(tag + i / 8) >> ((i % 8) * 8));
}

static void test_file_layer(const char *dev, unsigned sector)
{
    kvs_file_config fc;
    kvs_file *f = NULL;
    kvs_file_info info;
    kvs_file_stats st;
    uint64_t size = 0;
    unsigned char *buf = NULL, *back = NULL;
    void *m1 = NULL, *m2 = NULL;
    size_t len = (size_t)1 << 20;

    kvs_file_config_init(&fc);
    fc.direct = KVS_DIRECT_REQUIRE;
    if (!CHECK_R(kvs_file_open(dev, &fc, &f), KVS_OK))
        return;
    kvs_file_get_info(f, &info);
    CHECK(info.is_blockdev == 1 && info.direct == 1 && info.fell_back == 0);
    CHECK(info.align_source == KVS_ALIGN_SRC_STATX || info.align_source == KVS_ALIGN_SRC_BLKSSZ);
    CHECK(info.offset_align == sector && info.align >= sector);
    CHECK_R(kvs_file_size(f, &size), KVS_OK);
    CHECK(size == DEV_BYTES);

    CHECK_R(kvs_aligned_alloc(NULL, len + 4096, 4096, &m1), KVS_OK);
    CHECK_R(kvs_aligned_alloc(NULL, len + 4096, 4096, &m2), KVS_OK);
    buf = (unsigned char *)m1;
    back = (unsigned char *)m2;
    if (buf != NULL && back != NULL) {
        /* Aligned: straight through, nothing bounced. */
        fill(buf, len, 1);
        CHECK_R(kvs_file_write(f, 8 * 4096, buf, len), KVS_OK);
        memset(back, 0, len);
        CHECK_R(kvs_file_read(f, 8 * 4096, back, len), KVS_OK);
        CHECK(memcmp(buf, back, len) == 0);
        kvs_file_get_stats(f, &st);
        CHECK(st.bounce_bytes == 0);
        /* A tail: written padded, read back exactly, bounced once. */
        fill(buf, len, 2);
        CHECK_R(kvs_file_write(f, 64 * 4096, buf, len - 100), KVS_OK);
        CHECK_R(kvs_file_read(f, 64 * 4096, back, len - 100), KVS_OK);
        CHECK(memcmp(buf, back, len - 100) == 0);
        /* A misaligned direct write offset is refused; a misaligned read is bounced. */
        CHECK_R(kvs_file_write(f, (uint64_t)sector / 2, buf, 4096), KVS_E_ALIGN);
        CHECK_R(kvs_file_read(f, 8 * 4096 + 3, back, 1000), KVS_OK);
        fill(buf, len, 1);
        CHECK(memcmp(back, buf + 3, 1000) == 0);
        /* Past the end of the device: the read ends early. */
        CHECK_R(kvs_file_read(f, DEV_BYTES - 4096, back, 8192), KVS_E_EOF);
    }
    kvs_aligned_free(NULL, m1, len + 4096, 4096);
    kvs_aligned_free(NULL, m2, len + 4096, 4096);
    CHECK_R(kvs_file_close(f), KVS_OK);

    /* Asking for more than the device holds fails at open. */
    kvs_file_config_init(&fc);
    fc.size = DEV_BYTES + 4096;
    f = NULL;
    CHECK(kvs_file_open(dev, &fc, &f) != KVS_OK);
    CHECK(f == NULL);
}

static void test_raw_store(const char *dev, unsigned sector)
{
    kvs_store_config c;
    kvs_store *s = NULL;
    kvs_store_stats st;
    char err[256], key[64];
    unsigned char *val = (unsigned char *)malloc(300000), *back = (unsigned char *)malloc(300000);
    size_t out_len = 0, i, n = 40;

    if (val == NULL || back == NULL)
        goto done;
    kvs_store_config_init(&c);
    c.kind = KVS_STORE_RAW;
    c.paths = dev;
    c.format = KVS_FORMAT_ALWAYS;
    c.direct = KVS_DIRECT_REQUIRE;
    c.slot_payload_bytes = 256 << 10;
    if (!CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK)) {
        fprintf(stderr, "open: %s\n", err);
        goto done;
    }
    kvs_store_get_stats(s, &st);
    CHECK(st.direct == 1 && st.slots_total > n);
    CHECK(st.capacity_bytes <= DEV_BYTES);
    for (i = 0; i < n; i++) {
        size_t len = 1000 + i * 6007;
        snprintf(key, sizeof key, "blockdev@%u@%zu", sector, i);
        fill(val, len, 100 + i);
        CHECK_R(kvs_store_put(s, key, strlen(key), val, len), KVS_OK);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);

    /* Restore from the device: the size comes from the kernel. */
    s = NULL;
    c.format = KVS_FORMAT_NEVER;
    c.slot_payload_bytes = 0;
    if (!CHECK_R(kvs_store_open(&c, &s, err, sizeof err), KVS_OK)) {
        fprintf(stderr, "reopen: %s\n", err);
        goto done;
    }
    for (i = 0; i < n; i++) {
        size_t len = 1000 + i * 6007;
        snprintf(key, sizeof key, "blockdev@%u@%zu", sector, i);
        fill(val, len, 100 + i);
        CHECK_R(kvs_store_get(s, key, strlen(key), back, 300000, &out_len), KVS_OK);
        CHECK(out_len == len && memcmp(val, back, len) == 0);
    }
    CHECK_R(kvs_store_close(s), KVS_OK);

    /* Opening it as a file-backed store of another size is refused. */
    s = NULL;
    c.device_bytes = DEV_BYTES / 2;
    CHECK(kvs_store_open(&c, &s, err, sizeof err) != KVS_OK);
    CHECK(s == NULL);
done:
    free(val);
    free(back);
}

int main(void)
{
    static const unsigned sectors[2] = {512, 4096};
    char img[1100], dev[128];
    unsigned i, ran = 0;
    int fd;
    t_init("test_blockdev");
    if (geteuid() != 0 || system("command -v losetup >/dev/null 2>&1") != 0) {
        printf("SKIP: needs root and losetup to attach loop devices (running as uid %u)\n",
               (unsigned)geteuid());
        return T_SKIPPED;
    }
    t_setup_dir("blk");
    snprintf(img, sizeof img, "%s/backing.img", t_dir);
    for (i = 0; i < 2; i++) {
        fd = open(img, O_CREAT | O_TRUNC | O_RDWR, 0600);
        CHECK(fd >= 0 && ftruncate(fd, (off_t)DEV_BYTES) == 0);
        if (fd >= 0)
            close(fd);
        if (loop_attach(img, sectors[i], dev, sizeof dev) != 0) {
            /* Loop devices exist on some machines but cannot be attached
               (no free device, no permission in a container). */
            printf("SKIP: losetup could not attach a loop device with %u-byte sectors\n", sectors[i]);
            continue;
        }
        printf("-- %s, %u-byte sectors\n", dev, sectors[i]);
        test_file_layer(dev, sectors[i]);
        test_raw_store(dev, sectors[i]);
        loop_detach(dev);
        ran++;
    }
    unlink(img);
    rmdir(t_dir);
    if (ran == 0 && t_failures() == 0)
        return T_SKIPPED; /* nothing was tested: not a pass */
    return t_done("test_blockdev");
}
