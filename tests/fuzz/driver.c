/* SPDX-License-Identifier: MIT OR Unlicense */
/* Replay driver: runs a fuzz harness without libFuzzer (gcc, CI replay).

   Built only with -DKVS_FUZZ_DRIVER, linked with one harness:
       gcc -DKVS_FUZZ_DRIVER -I. tests/fuzz/fuzz_superblock.c tests/fuzz/driver.c
   Usage: fuzz_superblock FILE_OR_DIR...
   Feeds every regular file named, and every regular file directly inside a
   directory named, to LLVMFuzzerTestOneInput, in sorted order. An invariant
   violation is printed with the input's name and counted (the replay goes
   on); a sanitizer report or a crash ends the process, and the signal
   handler names the input first. Ends with "<harness>: N inputs, M failures"
   and exits 1 when M > 0 or an argument could not be read. */
#ifdef KVS_FUZZ_DRIVER
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

unsigned long kvsfz_failures;
const char *kvsfz_current;

static unsigned long inputs;
static int io_errors;

static void on_signal(int sig)
{
    static const char msg[] = "driver: crashed on input ";
    ssize_t w;
    w = write(2, msg, sizeof msg - 1);
    if (kvsfz_current != NULL)
        w = write(2, kvsfz_current, strlen(kvsfz_current));
    w = write(2, "\n", 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0, n;
    if (f == NULL) {
        fprintf(stderr, "driver: cannot open %s\n", path);
        io_errors = 1;
        return;
    }
    for (;;) {
        if (len == cap) {
            unsigned char *nb;
            cap = cap ? 2 * cap : 4096;
            nb = (unsigned char *)realloc(buf, cap);
            if (nb == NULL)
                abort();
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "driver: cannot read %s\n", path);
        io_errors = 1;
    }
    fclose(f);
    kvsfz_current = path;
    /* the harness copies what it needs; it gets exactly len bytes */
    LLVMFuzzerTestOneInput(buf, len);
    kvsfz_current = NULL;
    inputs++;
    free(buf);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t count = 0, cap = 0, i;
    if (d == NULL) {
        fprintf(stderr, "driver: cannot open directory %s\n", dir);
        io_errors = 1;
        return;
    }
    while ((de = readdir(d)) != NULL) {
        size_t n;
        char *p;
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        n = strlen(dir) + 1 + strlen(de->d_name) + 1;
        p = (char *)malloc(n);
        if (p == NULL)
            abort();
        snprintf(p, n, "%s/%s", dir, de->d_name);
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        if (count == cap) {
            char **nn;
            cap = cap ? 2 * cap : 256;
            nn = (char **)realloc(names, cap * sizeof *names);
            if (nn == NULL)
                abort();
            names = nn;
        }
        names[count++] = p;
    }
    closedir(d);
    if (count > 0)
        qsort(names, count, sizeof *names, cmp_str);
    for (i = 0; i < count; i++) {
        run_file(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    struct stat st;
    int i;
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGFPE, on_signal);
    signal(SIGILL, on_signal);
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", name);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "driver: %s does not exist\n", argv[i]);
            io_errors = 1;
        } else if (S_ISDIR(st.st_mode)) {
            run_dir(argv[i]);
        } else {
            run_file(argv[i]);
        }
    }
    printf("%s: %lu inputs, %lu failures\n", name, inputs, kvsfz_failures);
    return kvsfz_failures > 0 || io_errors ? 1 : 0;
}
#else
/* Without KVS_FUZZ_DRIVER this file is empty (libFuzzer brings main). */
typedef int kvsfz_driver_unused;
#endif
