/* SPDX-License-Identifier: MIT OR Unlicense */
/*
    kvio -- write then read a file through kvstore_posix.c and report what it
    achieved. Every object carries a cheap stamp (its index at the start of
    every 4 KiB block and in its last 8 bytes) that the read phase checks, so
    a fast wrong answer fails (exit 1).

    usage: kvio [options]
      --size BYTES      object size (K/M/G suffixes, binary)     default 2M
      --tail BYTES      extra bytes per object (unaligned tail)  default 0
      --count N         objects (default: --total / object size)
      --total BYTES     bytes to move per phase                  default 1G
      --threads N       worker threads                           default 1
      --align BYTES     demand this alignment (kvs_file_config.align)
      --direct          O_DIRECT required (default: prefer, reported)
      --buffered        page-cache I/O
      --engine E        pool (batches through kvs_pool, default) or
                        sync (N plain threads calling kvs_file_read/write)
      --depth N         pool: objects in flight                  default 2 x threads
      --mode M          write, read or both                      default both
      --file PATH       default: a temporary file in $TMPDIR (/tmp when unset
                        or empty), removed afterwards, also on SIGHUP, SIGINT
                        and SIGTERM (exit 128 + signal)
      --keep            keep the file
      --json            one JSON object per phase on stdout

    Objects lie at a stride of size + tail rounded up to 4096. Latency is
    per object, from submission to completion (pool: includes the wait in
    the queue behind the other objects in flight; sync: one call).
    With no arguments: 1 GiB in 2 MiB objects, one thread, write then read.
    Exit status: 0 success, 1 a failed operation or a wrong byte read back,
    2 a bad argument (a number with trailing characters or out of range).
*/
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c" /* first: it sets _GNU_SOURCE */
#include <poll.h>
#include <signal.h>
#include "bench_signals.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct opts {
    size_t size, tail, align;
    uint64_t count, total;
    unsigned threads, depth;
    kvs_direct_policy policy;
    int engine_sync;
    int do_write, do_read;
    const char *file;
    int keep, json;
} opts;

typedef struct phase_result {
    double seconds;
    uint64_t bytes, objects, bad;
    double p50_us, p99_us;
    kvs_file_stats st;
} phase_result;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A byte count with an optional K/M/G (binary) suffix: digits only (no
   sign, no blanks), and -1 when it does not fit in 64 bits. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t m = 1;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    if (*end == 'k' || *end == 'K')
        m = 1024;
    else if (*end == 'm' || *end == 'M')
        m = 1024 * 1024;
    else if (*end == 'g' || *end == 'G')
        m = 1024ULL * 1024 * 1024;
    else if (*end != '\0')
        return -1;
    if (*end != '\0' && end[1] != '\0')
        return -1;
    if (v > UINT64_MAX / m)
        return -1;
    *out = (uint64_t)v * m;
    return 0;
}

/* A whole number lo..hi, nothing after it. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned *out)
{
    char *end;
    unsigned long v;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* The temporary file (when kvio made one): removed on every exit, and on
   SIGHUP, SIGINT and SIGTERM by on_signal, run by the signal thread of
   bench/bench_signals.h, which exits 128 + signal. It holds g_exit_lock
   from then on, so main cannot exit with another status meanwhile. */
static char g_tmpfile[PATH_MAX];
static pthread_mutex_t g_exit_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_signal(int sig)
{
    (void)pthread_mutex_lock(&g_exit_lock);
    if (g_tmpfile[0] != '\0')
        (void)unlink(g_tmpfile);
    fprintf(stderr, "kvio: stopped by signal %d%s\n", sig, g_tmpfile[0] != '\0' ? "; temporary file removed" : "");
    _exit(128 + sig);
}

static int finish(int rc, int keep)
{
    (void)pthread_mutex_lock(&g_exit_lock); /* a signal being handled decides the status */
    if (g_tmpfile[0] != '\0' && !keep)
        (void)unlink(g_tmpfile);
    return rc;
}

static uint64_t stamp_of(uint64_t obj, uint64_t block)
{
    return kvs_mix64((obj + 1) * 0x9e3779b97f4a7c15ULL ^ block);
}

static void stamp(unsigned char *buf, size_t len, uint64_t obj)
{
    size_t b;
    uint64_t v;
    for (b = 0; b + 8 <= len; b += 4096) {
        v = stamp_of(obj, b);
        memcpy(buf + b, &v, 8);
    }
    if (len >= 8) {
        v = stamp_of(obj, (uint64_t)len);
        memcpy(buf + len - 8, &v, 8);
    }
}

static int verify(const unsigned char *buf, size_t len, uint64_t obj)
{
    size_t b;
    uint64_t v;
    for (b = 0; b + 8 <= len; b += 4096) {
        v = stamp_of(obj, b);
        if (memcmp(buf + b, &v, 8) != 0)
            return 0;
    }
    if (len >= 8) {
        v = stamp_of(obj, (uint64_t)len);
        if (memcmp(buf + len - 8, &v, 8) != 0)
            return 0;
    }
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static double percentile(double *v, uint64_t n, double p)
{
    uint64_t i;
    if (n == 0)
        return 0;
    i = (uint64_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* ---- sync engine ---- */
typedef struct sync_arg {
    kvs_file *f;
    const opts *o;
    int wr;
    uint64_t first, last, stride;
    double *lat;
    uint64_t bad;
    kvs_result err;
} sync_arg;

static void *sync_main(void *p)
{
    sync_arg *a = (sync_arg *)p;
    size_t len = a->o->size + a->o->tail;
    void *mem = NULL;
    unsigned char *buf;
    uint64_t i;
    if (kvs_aligned_alloc(NULL, len, 4096, &mem) != KVS_OK) {
        a->err = KVS_E_NOMEM;
        return NULL;
    }
    buf = (unsigned char *)mem;
    memset(buf, 0x5c, len);
    for (i = a->first; i < a->last; i++) {
        double t0 = now_s(), t1;
        kvs_result r;
        if (a->wr) {
            stamp(buf, len, i);
            t0 = now_s();
            r = kvs_file_write(a->f, i * a->stride, buf, len);
        } else {
            r = kvs_file_read(a->f, i * a->stride, buf, len);
        }
        t1 = now_s();
        a->lat[i] = (t1 - t0) * 1e6;
        if (r != KVS_OK) {
            a->err = r;
            break;
        }
        if (!a->wr && !verify(buf, len, i))
            a->bad++;
    }
    kvs_aligned_free(NULL, mem, len, 4096);
    return NULL;
}

/* ---- pool engine ---- */
typedef struct slot {
    unsigned char *buf;
    kvs_io_op op;
    kvs_batch *b;
    uint64_t obj;
    double t0;
} slot;

static kvs_result run_pool(kvs_file *f, const opts *o, int wr, uint64_t stride, double *lat,
                           uint64_t *bad)
{
    size_t len = o->size + o->tail;
    unsigned depth = o->depth, k;
    slot *slots;
    kvs_pool *p = NULL;
    kvs_pool_config pc;
    uint64_t next = 0, done = 0;
    kvs_result res = KVS_OK;
    kvs_pool_config_init(&pc);
    pc.threads = o->threads;
    if ((res = kvs_pool_create(&pc, &p)) != KVS_OK)
        return res;
    slots = (slot *)calloc(depth, sizeof *slots);
    if (slots == NULL) {
        kvs_pool_destroy(p);
        return KVS_E_NOMEM;
    }
    for (k = 0; k < depth; k++) {
        void *mem = NULL;
        if (kvs_aligned_alloc(NULL, len, 4096, &mem) != KVS_OK) {
            res = KVS_E_NOMEM;
            goto out;
        }
        slots[k].buf = (unsigned char *)mem;
        memset(slots[k].buf, 0x5c, len);
    }
    /* fill the pipeline, then refill a slot whenever its batch completes */
    for (k = 0; k < depth && next < o->count; k++, next++) {
        slot *s = &slots[k];
        s->obj = next;
        if (wr)
            stamp(s->buf, len, next);
        memset(&s->op, 0, sizeof s->op);
        s->op.file = f;
        s->op.kind = wr ? KVS_OP_WRITE : KVS_OP_READ;
        s->op.offset = next * stride;
        s->op.buf = s->buf;
        s->op.len = len;
        s->t0 = now_s();
        if ((res = kvs_pool_submit(p, &s->op, 1, &s->b)) != KVS_OK)
            goto out;
    }
    while (done < o->count) {
        kvs_batch *b = NULL;
        struct pollfd pf;
        if (kvs_pool_reap(p, &b) == KVS_E_AGAIN) {
            pf.fd = kvs_pool_fd(p);
            pf.events = POLLIN;
            pf.revents = 0;
            (void)poll(&pf, 1, -1);
            continue;
        }
        for (k = 0; k < depth; k++)
            if (slots[k].b == b)
                break;
        if (k == depth) {
            res = KVS_E_IO;
            goto out;
        }
        {
            slot *s = &slots[k];
            lat[s->obj] = (now_s() - s->t0) * 1e6;
            if (s->op.result != KVS_OK) {
                res = s->op.result;
                kvs_batch_free(b);
                s->b = NULL;
                goto out;
            }
            if (!wr && !verify(s->buf, len, s->obj))
                (*bad)++;
            kvs_batch_free(b);
            s->b = NULL;
            done++;
            if (next < o->count) {
                s->obj = next;
                if (wr)
                    stamp(s->buf, len, next);
                s->op.offset = next * stride;
                next++;
                s->t0 = now_s();
                if ((res = kvs_pool_submit(p, &s->op, 1, &s->b)) != KVS_OK)
                    goto out;
            }
        }
    }
out:
    kvs_pool_destroy(p); /* drains and frees anything still in flight */
    for (k = 0; k < depth; k++)
        kvs_aligned_free(NULL, slots[k].buf, len, 4096);
    free(slots);
    return res;
}

static kvs_result run_phase(const opts *o, int wr, phase_result *pr, kvs_file_info *fi_out)
{
    kvs_file_config cfg;
    kvs_file *f = NULL;
    size_t len = o->size + o->tail;
    uint64_t stride = (len + 4095) & ~(uint64_t)4095;
    double *lat, t0;
    kvs_result res;
    kvs_file_stats s0;

    memset(pr, 0, sizeof *pr);
    kvs_file_config_init(&cfg);
    cfg.direct = o->policy;
    cfg.align = o->align;
    if (wr) {
        cfg.flags = KVS_FILE_CREATE;
        cfg.size = stride * o->count;
    } else {
        cfg.flags = KVS_FILE_RDONLY;
    }
    if ((res = kvs_file_open(o->file, &cfg, &f)) != KVS_OK)
        return res;
    kvs_file_get_info(f, fi_out);
    if (!wr) {
        uint64_t sz = 0;
        if (kvs_file_size(f, &sz) == KVS_OK && sz < (o->count - 1) * stride + len) {
            fprintf(stderr, "kvio: %s holds %llu bytes, %llu objects need %llu\n", o->file,
                    (unsigned long long)sz, (unsigned long long)o->count,
                    (unsigned long long)((o->count - 1) * stride + len));
            kvs_file_close(f);
            return KVS_E_EOF;
        }
    }
    lat = (double *)calloc((size_t)o->count, sizeof *lat);
    if (lat == NULL) {
        kvs_file_close(f);
        return KVS_E_NOMEM;
    }
    kvs_file_get_stats(f, &s0);
    t0 = now_s();
    if (o->engine_sync) {
        pthread_t th[256];
        sync_arg args[256];
        unsigned t;
        for (t = 0; t < o->threads; t++) {
            memset(&args[t], 0, sizeof args[t]);
            args[t].f = f;
            args[t].o = o;
            args[t].wr = wr;
            args[t].stride = stride;
            args[t].lat = lat;
            args[t].first = o->count * t / o->threads;
            args[t].last = o->count * (t + 1) / o->threads;
            pthread_create(&th[t], NULL, sync_main, &args[t]);
        }
        res = KVS_OK;
        for (t = 0; t < o->threads; t++) {
            pthread_join(th[t], NULL);
            if (args[t].err != KVS_OK)
                res = args[t].err;
            pr->bad += args[t].bad;
        }
    } else {
        res = run_pool(f, o, wr, stride, lat, &pr->bad);
    }
    pr->seconds = now_s() - t0;
    kvs_file_get_stats(f, &pr->st);
    pr->st.bounce_bytes -= s0.bounce_bytes;
    pr->st.bounce_calls -= s0.bounce_calls;
    pr->st.pad_bytes -= s0.pad_bytes;
    pr->objects = o->count;
    pr->bytes = o->count * (uint64_t)len;
    qsort(lat, (size_t)o->count, sizeof *lat, cmp_double);
    pr->p50_us = percentile(lat, o->count, 0.50);
    pr->p99_us = percentile(lat, o->count, 0.99);
    free(lat);
    if (kvs_file_close(f) != KVS_OK && res == KVS_OK)
        res = KVS_E_IO;
    return res;
}

static void report(const opts *o, const char *phase, const phase_result *pr, const kvs_file_info *fi)
{
    double gbps = (double)pr->bytes / pr->seconds / 1e9;
    double ops = (double)pr->objects / pr->seconds;
    const char *mode = fi->direct ? "direct" : "buffered";
    if (o->json) {
        printf("{\"tool\":\"kvio\",\"phase\":\"%s\",\"mode\":\"%s\",\"fell_back\":%d,"
               "\"engine\":\"%s\",\"threads\":%u,\"depth\":%u,\"object_bytes\":%zu,"
               "\"objects\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"gbps\":%.4f,"
               "\"objects_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"bounce_bytes\":%llu,"
               "\"bounce_calls\":%llu,\"bounce_bytes_per_object\":%.2f,\"pad_bytes\":%llu,"
               "\"align\":%zu,\"verify_failures\":%llu}\n",
               phase, mode, fi->fell_back, o->engine_sync ? "sync" : "pool", o->threads,
               o->engine_sync ? 1u : o->depth, o->size + o->tail, (unsigned long long)pr->objects,
               (unsigned long long)pr->bytes, pr->seconds, gbps, ops, pr->p50_us, pr->p99_us,
               (unsigned long long)pr->st.bounce_bytes, (unsigned long long)pr->st.bounce_calls,
               (double)pr->st.bounce_bytes / (double)pr->objects,
               (unsigned long long)pr->st.pad_bytes, fi->align, (unsigned long long)pr->bad);
    } else {
        printf("%-5s %s%s %s x%u: %llu x %zu B in %.3f s = %.3f GB/s, %.0f objects/s, "
               "p50 %.0f us, p99 %.0f us, bounced %llu B in %llu calls (%.1f B/object), "
               "align %zu%s\n",
               phase, mode, fi->fell_back ? " (fell back: O_DIRECT refused)" : "",
               o->engine_sync ? "sync" : "pool", o->threads, (unsigned long long)pr->objects,
               o->size + o->tail, pr->seconds, gbps, ops, pr->p50_us, pr->p99_us,
               (unsigned long long)pr->st.bounce_bytes, (unsigned long long)pr->st.bounce_calls,
               (double)pr->st.bounce_bytes / (double)pr->objects, fi->align,
               pr->bad ? "  VERIFY FAILED" : "");
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: kvio [--size B] [--tail B] [--count N | --total B] [--threads N]\n"
                    "            [--direct | --buffered] [--engine pool|sync] [--depth N]\n"
                    "            [--mode write|read|both] [--file PATH] [--keep] [--json]\n");
}

/* a bad argument: what and why, the usage, exit 2 (as kvbench) */
static void bad_arg(const char *flag, const char *val, const char *why)
{
    fprintf(stderr, "kvio: %s%s%s: %s\n", flag, val ? " " : "", val ? val : "", why);
    usage();
    exit(2);
}

int main(int argc, char **argv)
{
    opts o;
    int i, rc = 0;
    uint64_t v = 0;
    char tmpl[PATH_MAX];
    const char *tmproot = getenv("TMPDIR");
    memset(&o, 0, sizeof o);
    o.size = (size_t)2 << 20;
    o.total = 1ULL << 30;
    o.threads = 1;
    o.policy = KVS_DIRECT_PREFER;
    o.do_write = o.do_read = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        int num = val && (!strcmp(a, "--size") || !strcmp(a, "--tail") || !strcmp(a, "--align") ||
                          !strcmp(a, "--count") || !strcmp(a, "--total"));
        if (num && parse_size(val, &v) != 0)
            bad_arg(a, val, "a whole number with an optional K/M/G suffix, below 2^64");
        if (!strcmp(a, "--size") && num) {
            if (v == 0 || v > SIZE_MAX / 2)
                bad_arg(a, val, "a positive byte count that fits in memory");
            o.size = (size_t)v;
        } else if (!strcmp(a, "--tail") && num) {
            if (v > SIZE_MAX / 2)
                bad_arg(a, val, "a byte count that fits in memory");
            o.tail = (size_t)v;
        } else if (!strcmp(a, "--align") && num) {
            if (v != 0 && !kvs_is_pow2(v))
                bad_arg(a, val, "0 or a power of two");
            o.align = (size_t)v;
        } else if (!strcmp(a, "--count") && num) {
            if (v == 0)
                bad_arg(a, val, "a positive count");
            o.count = v;
        } else if (!strcmp(a, "--total") && num) {
            if (v == 0)
                bad_arg(a, val, "a positive byte count");
            o.total = v;
        } else if (!strcmp(a, "--threads") && val) {
            if (parse_uint(val, 1, 256, &o.threads) != 0)
                bad_arg(a, val, "a thread count 1..256");
        } else if (!strcmp(a, "--depth") && val) {
            if (parse_uint(val, 1, 65536, &o.depth) != 0)
                bad_arg(a, val, "objects in flight, 1..65536");
        } else if (!strcmp(a, "--engine") && val && (!strcmp(val, "pool") || !strcmp(val, "sync")))
            o.engine_sync = !strcmp(val, "sync");
        else if (!strcmp(a, "--mode") && val && !strcmp(val, "write"))
            o.do_read = 0;
        else if (!strcmp(a, "--mode") && val && !strcmp(val, "read"))
            o.do_write = 0;
        else if (!strcmp(a, "--mode") && val && !strcmp(val, "both"))
            ;
        else if (!strcmp(a, "--file") && val)
            o.file = val;
        else {
            if (val == NULL && (!strcmp(a, "--size") || !strcmp(a, "--tail") || !strcmp(a, "--align") ||
                                !strcmp(a, "--count") || !strcmp(a, "--total") || !strcmp(a, "--threads") || !strcmp(a, "--depth") || !strcmp(a, "--engine") ||
                                !strcmp(a, "--mode") || !strcmp(a, "--file")))
                bad_arg(a, NULL, "needs a value");
            takes = 0;
            if (!strcmp(a, "--direct"))
                o.policy = KVS_DIRECT_REQUIRE;
            else if (!strcmp(a, "--buffered"))
                o.policy = KVS_DIRECT_OFF;
            else if (!strcmp(a, "--keep"))
                o.keep = 1;
            else if (!strcmp(a, "--json"))
                o.json = 1;
            else if (!strcmp(a, "--engine") || !strcmp(a, "--mode"))
                bad_arg(a, val, !strcmp(a, "--engine") ? "not one of pool, sync" : "not one of write, read, both");
            else
                bad_arg(a, NULL, "unknown option");
        }
        i += takes;
    }
    /* object size + tail, rounded up to the 4 KiB stride, times the count:
       every offset must fit in an off_t */
    if (o.size + o.tail < o.size || o.size + o.tail > SIZE_MAX - 4095)
        bad_arg("--size", NULL, "size + tail does not fit in memory");
    if (o.count == 0)
        o.count = o.total / (o.size + o.tail) ? o.total / (o.size + o.tail) : 1;
    if (o.count > (uint64_t)INT64_MAX / (((uint64_t)(o.size + o.tail) + 4095) & ~(uint64_t)4095))
        bad_arg("--count", NULL, "count x object stride exceeds the largest file offset");
    if (o.depth == 0)
        o.depth = 2 * o.threads;
    if (o.file == NULL && !o.do_write)
        bad_arg("--mode", "read", "needs --file");
    (void)bs_block(); /* before any thread starts: every thread inherits the mask */
    if (o.file == NULL) {
        int fd;
        if (tmproot == NULL || tmproot[0] == '\0')
            tmproot = "/tmp";
        if (strlen(tmproot) + sizeof "/kvio_XXXXXX" > sizeof tmpl) {
            fprintf(stderr, "kvio: TMPDIR %s: path too long\n", tmproot);
            return 2;
        }
        snprintf(tmpl, sizeof tmpl, "%s/kvio_XXXXXX", tmproot);
        fd = mkstemp(tmpl);
        if (fd < 0) {
            fprintf(stderr, "kvio: cannot create a temporary file in %s: %s\n", tmproot, strerror(errno));
            return 1;
        }
        close(fd);
        o.file = tmpl;
        memcpy(g_tmpfile, tmpl, sizeof tmpl);
    }
    if (bs_start(on_signal) != 0) {
        fprintf(stderr, "kvio: cannot create a thread\n");
        return finish(1, 0);
    }
    if (o.do_write) {
        phase_result pr;
        kvs_file_info fi;
        kvs_result r = run_phase(&o, 1, &pr, &fi);
        if (r != KVS_OK) {
            fprintf(stderr, "kvio: write phase: %s (%s)\n", kvs_result_name(r), kvs_result_str(r));
            rc = 1;
        } else {
            report(&o, "write", &pr, &fi);
        }
    }
    if (o.do_read && rc == 0) {
        phase_result pr;
        kvs_file_info fi;
        kvs_result r = run_phase(&o, 0, &pr, &fi);
        if (r != KVS_OK) {
            fprintf(stderr, "kvio: read phase: %s (%s)\n", kvs_result_name(r), kvs_result_str(r));
            rc = 1;
        } else {
            report(&o, "read", &pr, &fi);
            if (pr.bad) {
                fprintf(stderr, "kvio: %llu objects failed verification\n", (unsigned long long)pr.bad);
                rc = 1;
            }
        }
    }
    return finish(rc, o.keep); /* --keep: the file stays after a normal end */
}
