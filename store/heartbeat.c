/*
 * heartbeat.c — the heartbeat of a running run (store.h, "store_heartbeat").
 *
 * While a crawl runs, its thread is inside libpq or the tunnel for minutes
 * at a time, so the heartbeat has a thread of its own.  That thread has its
 * own SQLite connection to the store's file: a connection is used by one
 * thread only (as the scheduler's workers do, schedule.h), and SQLite shares
 * the file's locks between the connections of one process, so closing this
 * one never drops the crawl's.  Each beat is one small UPDATE in its own
 * transaction; when the store is busy (a commit holding the write lock) for
 * longer than BEAT_BUSY_MS the beat is skipped: a late heartbeat only makes
 * an interrupted run look a little shorter, while a crawl that waited for
 * its heartbeat would be a worse bug.
 *
 * The clock between beats is CLOCK_MONOTONIC; the value written is the wall
 * clock (mc_time_now), the one runs.started_at and finished_at use.
 */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>

#define BEAT_BUSY_MS 1000

struct store_heartbeat {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    sqlite3 *db;
    sqlite3_stmt *beat;
    double interval_s;
};

static void beat_once(store_heartbeat *hb)
{
    if (sqlite3_bind_int64(hb->beat, 1, mc_time_now()) == SQLITE_OK &&
        sqlite3_step(hb->beat) != SQLITE_DONE)
        mc_log(MC_LOG_DEBUG, "heartbeat skipped: %s", sqlite3_errmsg(hb->db));
    sqlite3_reset(hb->beat);
}

static void *beat_loop(void *arg)
{
    store_heartbeat *hb = arg;
    pthread_mutex_lock(&hb->mu);
    while (!hb->stopping) {
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        long long ns = at.tv_nsec + (long long)(hb->interval_s * 1e9);
        at.tv_sec += (time_t)(ns / 1000000000);
        at.tv_nsec = (long)(ns % 1000000000);
        int rc = 0;
        while (!hb->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&hb->cv, &hb->mu, &at);
        if (hb->stopping)
            break;
        pthread_mutex_unlock(&hb->mu);
        beat_once(hb);
        pthread_mutex_lock(&hb->mu);
    }
    pthread_mutex_unlock(&hb->mu);
    return NULL;
}

int store_heartbeat_start(store *s, int64_t run_id, double interval_s,
                          store_heartbeat **out, mc_error *err)
{
    *out = NULL;
    store_heartbeat *hb = mc_calloc(1, sizeof *hb);
    hb->interval_s = interval_s > 0.01 ? interval_s : 0.01;
    pthread_mutex_init(&hb->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hb->cv, &ca);
    pthread_condattr_destroy(&ca);
    const char *path = store_file_path(s);
    if (sqlite3_open_v2(path, &hb->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(hb->db, BEAT_BUSY_MS) != SQLITE_OK ||
        sqlite3_prepare_v2(hb->db,
                           "UPDATE runs SET heartbeat_at = ?1 "
                           "WHERE id = ?2 AND status = 'running'",
                           -1, &hb->beat, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(hb->beat, 2, run_id) != SQLITE_OK) {
        mc_error_set(err, MC_EXIT_STORE, "store: cannot start the run's heartbeat on %s: %s",
                     path, hb->db ? sqlite3_errmsg(hb->db) : "out of memory");
        goto fail;
    }
    if (pthread_create(&hb->thread, NULL, beat_loop, hb) != 0) {
        mc_error_set(err, MC_EXIT_STORE, "store: cannot start the run's heartbeat: no thread");
        goto fail;
    }
    *out = hb;
    return 0;
fail:
    sqlite3_finalize(hb->beat);
    sqlite3_close(hb->db);
    pthread_cond_destroy(&hb->cv);
    pthread_mutex_destroy(&hb->mu);
    free(hb);
    return -1;
}

void store_heartbeat_stop(store_heartbeat *hb)
{
    if (!hb)
        return;
    pthread_mutex_lock(&hb->mu);
    hb->stopping = true;
    pthread_cond_signal(&hb->cv);
    pthread_mutex_unlock(&hb->mu);
    pthread_join(hb->thread, NULL);
    sqlite3_finalize(hb->beat);
    sqlite3_close(hb->db);
    pthread_cond_destroy(&hb->cv);
    pthread_mutex_destroy(&hb->mu);
    free(hb);
}
