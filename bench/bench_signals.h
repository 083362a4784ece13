/* SPDX-License-Identifier: MIT OR Unlicense */
/* Shared by the benchmark programs (kvbench, kvio): SIGHUP, SIGINT and
   SIGTERM are blocked in main before any other thread starts (threads
   inherit the mask) and taken by one thread with sigwait(), which calls the
   program's stop function in normal context (it removes the program's
   temporary files and exits 128 + signal; it must not return). A signal
   ignored when the program started (nohup, a background job of a
   non-interactive shell) stays ignored. */
#ifndef BENCH_SIGNALS_H
#define BENCH_SIGNALS_H
#include <pthread.h>
#include <signal.h>

static sigset_t bs_sigs;
static void (*bs_stop)(int sig);

static void *bs_main(void *arg)
{
    int sig = 0;
    (void)arg;
    if (sigwait(&bs_sigs, &sig) == 0)
        bs_stop(sig);
    return NULL;
}

/* Before any thread starts: 0, or an error number. */
static int bs_block(void)
{
    static const int sigs[] = {SIGHUP, SIGINT, SIGTERM};
    unsigned i;
    sigemptyset(&bs_sigs);
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
            continue;
        sigaddset(&bs_sigs, sigs[i]);
    }
    return pthread_sigmask(SIG_BLOCK, &bs_sigs, NULL);
}

/* The signal thread, calling stop (none when every signal is ignored): 0,
   or an error number. */
static int bs_start(void (*stop)(int sig))
{
    pthread_t th;
    int i, any = 0, r;
    for (i = 1; i < 32; i++)
        any |= sigismember(&bs_sigs, i) == 1;
    if (!any)
        return 0;
    bs_stop = stop;
    r = pthread_create(&th, NULL, bs_main, NULL);
    if (r == 0)
        (void)pthread_detach(th);
    return r;
}
#endif
