/*
 * deadline.c — the max_runtime watchdog of one crawl (deadline.h).
 *
 *   ARMED --time up--> CANCELLING --grace over, still watching--> SEVERED
 *     |                    |                                        |
 *     +------ stop --------+-------------- stop -------------------+--> joined
 *
 * Invariants:
 *  1. The watched session is only touched under the mutex, and the crawl's
 *     thread only closes it after watching NULL (which takes the mutex), so
 *     pg_sever never reaches a closed session or a reused descriptor.
 *  2. The cancel request runs without the mutex, on a canceller the watchdog
 *     owns: a cancel request (pg_canceller_cancel, libpq's PQcancel) opens a
 *     connection of its own and may wait for it, and the crawl's thread must
 *     stay free to stop watching meanwhile.
 *  3. The clock is CLOCK_MONOTONIC, so a wall-clock jump neither fires nor
 *     delays the deadline.
 */
#include "deadline.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "mc_base.h"

struct crawl_deadline {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    struct timespec at;         /* the deadline, CLOCK_MONOTONIC */
    double grace_s;
    pg_session *sess;           /* watched; NULL when not talking to the server */
    pg_canceller *canceller;    /* made for sess by deadline_watch */
    bool stopping, fired;
};

static struct timespec after(double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = ts.tv_nsec + (long long)((seconds - (double)(long long)seconds) * 1e9);
    ts.tv_sec += (time_t)seconds + (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* Waits under the mutex until `until`, or until stopping (or, with
 * until_unwatched, until nothing is watched). Returns true when time ran out. */
static bool wait_until(crawl_deadline *d, const struct timespec *until, bool until_unwatched)
{
    while (!d->stopping && !(until_unwatched && !d->sess)) {
        int rc = pthread_cond_timedwait(&d->cv, &d->mu, until);
        if (rc == ETIMEDOUT)
            return !d->stopping && !(until_unwatched && !d->sess);
    }
    return false;
}

static void *watch(void *arg)
{
    crawl_deadline *d = arg;
    pthread_mutex_lock(&d->mu);
    if (!wait_until(d, &d->at, false)) {
        pthread_mutex_unlock(&d->mu);
        return NULL;
    }
    d->fired = true;
    pg_canceller *c = d->canceller;
    d->canceller = NULL;
    pthread_mutex_unlock(&d->mu);

    pg_canceller_cancel(c);     /* invariant 2: without the mutex */
    pg_canceller_free(c);

    pthread_mutex_lock(&d->mu);
    struct timespec grace = after(d->grace_s);
    if (wait_until(d, &grace, true))
        pg_sever(d->sess);      /* invariant 1: still watched, still open */
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

crawl_deadline *deadline_start(double seconds, double grace_seconds)
{
    if (seconds <= 0)
        return NULL;
    crawl_deadline *d = mc_calloc(1, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    d->at = after(seconds);
    d->grace_s = grace_seconds > 0 ? grace_seconds : 0;
    if (pthread_create(&d->thread, NULL, watch, d) != 0) {
        /* No watchdog: the crawl runs without a deadline rather than not at all. */
        mc_log(MC_LOG_WARN, "max_runtime: cannot start the watchdog thread; this crawl has "
                            "no deadline");
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
    }
    return d;
}

void deadline_watch(crawl_deadline *d, pg_session *s)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->sess = s;
    if (!d->fired) {
        pg_canceller_free(d->canceller);
        d->canceller = s ? pg_canceller_new(s) : NULL;
    }
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

bool deadline_fired(crawl_deadline *d)
{
    if (!d)
        return false;
    pthread_mutex_lock(&d->mu);
    bool fired = d->fired;
    pthread_mutex_unlock(&d->mu);
    return fired;
}

void deadline_stop(crawl_deadline *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    d->sess = NULL;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    pg_canceller_free(d->canceller);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}
