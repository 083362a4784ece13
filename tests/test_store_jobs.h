/* SPDX-License-Identifier: MIT OR Unlicense */
/* Store calls on a thread of their own, for the tests of both stores
   (included after kvstore_posix.c). */
#ifndef TEST_STORE_JOBS_H
#define TEST_STORE_JOBS_H
#include "test_util.h"

/* A put on a thread of its own: pthread_create(&t, NULL, putjob_main, &job);
   job.r is the put's result once the thread is joined. */
typedef struct putjob {
    kvs_store *s;
    const char *key;
    const unsigned char *val;
    size_t len;
    kvs_result r;
} putjob;

T_FN void *putjob_main(void *arg)
{
    putjob *j = (putjob *)arg;
    j->r = kvs_store_put(j->s, j->key, strlen(j->key), j->val, j->len);
    return NULL;
}

/* A get on a thread of its own: getjob_set, then pthread_create(&t, NULL,
   getjob_main, &job); job.r and job.n once it is joined, and job.done
   (read atomically) from the moment the get returned. */
typedef struct getjob {
    kvs_store *s;
    const char *key;
    unsigned char *buf;
    size_t cap, n;
    kvs_result r;
    int done;
} getjob;

T_FN void getjob_set(getjob *j, kvs_store *s, const char *key, unsigned char *buf, size_t cap)
{
    j->s = s;
    j->key = key;
    j->buf = buf;
    j->cap = cap;
    j->n = 0;
    j->r = KVS_E_IO;
    j->done = 0;
}

T_FN void *getjob_main(void *arg)
{
    getjob *j = (getjob *)arg;
    j->r = kvs_store_get(j->s, j->key, strlen(j->key), j->buf, j->cap, &j->n);
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    return NULL;
}
#endif
