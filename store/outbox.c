/*
 * outbox.c — the alert outbox (store.h, docs/alerts.md): the rules that
 * decide which changes are queued (the queueing itself happens in the
 * transaction that writes the change: commit.c, runs.c), reading what is
 * pending, recording deliveries, failures and discards, the queue's
 * summary, and the delivery lock.
 */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

/*
 * Delivery states (one alert_outbox row; docs/store.md):
 *
 *   store_commit_run        mark_delivered
 *   ----------------> pending -----------> delivered
 *                     |  ^  |
 *       mark_failed   +--+  |  discard
 *       (attempts+1)        +-----------> discarded
 *
 * Only pending rows change; delivered and discarded are final, which is
 * what makes "never alerted twice after success" hold in the store.
 */

void store_set_outbox_rules(store *s, const store_outbox_rules *rules)
{
    s->rules = rules;
}

int store_outbox_pending(store *s, const char *alert, size_t limit,
                         mc_delivery_list *out, mc_error *err)
{
    const char *what = "read the alert queue";
    memset(out, 0, sizeof *out);
    mc_changes_init(&out->changes);
    sqlite3_stmt *st = st_prep(s,
        "SELECT o.id, o.alert, o.change_id, o.attempts, o.last_error, "
        "o.queued_at, o.last_attempt_at, ch.run_id, d.name, " STORE_CHANGE_COLUMNS
        "FROM alert_outbox o "
        "JOIN changes ch ON ch.id = o.change_id "
        "JOIN datastores d ON d.id = ch.datastore_id "
        "WHERE o.status = 'pending' AND (?1 IS NULL OR o.alert = ?1) "
        "ORDER BY o.id LIMIT ?2", what, err);
    if (!st)
        return -1;
    if (st_bind_text(st, 1, alert) | st_bind_i64(st, 2, limit ? (int64_t)limit : -1)) {
        st_bind_fail(s, err, what);
        sqlite3_finalize(st);
        return -1;
    }
    mc_arena *a = out->changes.arena;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!store_read_change(st, 9, &out->changes, err))
            break;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            out->items = mc_realloc(out->items, cap * sizeof *out->items);
        }
        mc_delivery *d = &out->items[out->n++];
        d->id = st_col_i64(st, 0);
        d->alert = st_col_text(st, 1, a);
        d->change_id = st_col_i64(st, 2);
        d->attempts = st_col_i64(st, 3);
        d->last_error = st_col_text(st, 4, a);
        d->queued_at = st_col_i64(st, 5);
        d->last_attempt_at = st_col_i64(st, 6);
        d->run = st_col_i64(st, 7);
        d->datastore = st_col_text(st, 8, a);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        st_db_fail(s, err, what);
    sqlite3_finalize(st);
    if (mc_error_is_set(err)) {
        mc_delivery_list_free(out);
        return -1;
    }
    return 0;
}

void mc_delivery_list_free(mc_delivery_list *l)
{
    if (!l)
        return;
    free(l->items);
    mc_changes_free(&l->changes);
    memset(l, 0, sizeof *l);
}

/* One UPDATE per row id, all in one transaction; rows no longer pending are
 * left alone.  *n_out (may be NULL) counts the rows changed. */
static int outbox_update(store *s, const char *sql, const int64_t *ids, size_t n,
                         const char *text, const char *what, int64_t *n_out,
                         mc_error *err)
{
    if (n_out)
        *n_out = 0;
    if (n == 0)
        return 0;
    sqlite3_stmt *st = st_prep(s, sql, what, err);
    if (!st)
        return -1;
    int64_t changed = 0;
    if (st_exec_sql(s, "BEGIN IMMEDIATE", what, err) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (st_bind_i64(st, 1, ids[i]) | st_bind_i64(st, 2, mc_time_now()) |
            st_bind_text(st, 3, text)) {
            st_bind_fail(s, err, what);
            goto fail;
        }
        if (st_run_stmt(s, st, what, err) < 0)
            goto fail;
        changed += sqlite3_changes(s->db);
    }
    if (st_exec_sql(s, "COMMIT", what, err) < 0)
        goto fail;
    sqlite3_finalize(st);
    if (n_out)
        *n_out = changed;
    return 0;
fail:
    sqlite3_finalize(st);
    st_rollback(s);
    return -1;
}

int store_outbox_mark_delivered(store *s, const int64_t *ids, size_t n,
                                mc_error *err)
{
    return outbox_update(s,
        "UPDATE alert_outbox SET status = 'delivered', delivered_at = ?2, "
        "attempts = attempts + 1, last_attempt_at = ?2, "
        "last_error = coalesce(?3, last_error) "
        "WHERE id = ?1 AND status = 'pending'",
        ids, n, NULL, "record a delivery", NULL, err);
}

int store_outbox_mark_failed(store *s, const int64_t *ids, size_t n,
                             const char *error_text, mc_error *err)
{
    return outbox_update(s,
        "UPDATE alert_outbox SET attempts = attempts + 1, last_attempt_at = ?2, "
        "last_error = ?3 WHERE id = ?1 AND status = 'pending'",
        ids, n, error_text ? error_text : "failed", "record a failed delivery",
        NULL, err);
}

int store_outbox_discard(store *s, const char *alert, int64_t *n_out,
                         mc_error *err)
{
    const char *what = "discard queued alerts";
    *n_out = 0;
    sqlite3_stmt *st = st_prep(s,
        "UPDATE alert_outbox SET status = 'discarded', discarded_at = ?2 "
        "WHERE alert = ?1 AND status = 'pending'", what, err);
    if (!st)
        return -1;
    int ret = -1;
    if (st_bind_text(st, 1, alert) | st_bind_i64(st, 2, mc_time_now())) {
        st_bind_fail(s, err, what);
        goto out;
    }
    /* One statement outside a transaction is its own transaction. */
    if (st_run_stmt(s, st, what, err) < 0)
        goto out;
    *n_out = sqlite3_changes(s->db);
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

int store_outbox_count_pending(store *s, const char *alert, int64_t *n_out,
                               mc_error *err)
{
    return st_query_i64(s, "SELECT count(*) FROM alert_outbox "
                        "WHERE alert = ?1 AND status = 'pending'",
                        alert, n_out, NULL, "count queued alerts", err);
}

int store_outbox_stats(store *s, mc_outbox_stats *out, mc_error *err)
{
    const char *what = "summarise the alert queue";
    memset(out, 0, sizeof *out);
    /* The error shown is that of the latest failed attempt on a row that is
     * still pending: the reason the queue is not empty. */
    sqlite3_stmt *st = st_prep(s,
        "SELECT o.alert, "
        "  sum(o.status = 'pending'), sum(o.status = 'delivered'), "
        "  sum(o.status = 'discarded'), "
        "  min(CASE WHEN o.status = 'pending' THEN o.queued_at END), "
        "  max(CASE WHEN o.status = 'pending' THEN o.attempts END), "
        "  max(CASE WHEN o.status = 'pending' THEN o.last_attempt_at END), "
        "  (SELECT p.last_error FROM alert_outbox p "
        "   WHERE p.alert = o.alert AND p.status = 'pending' "
        "   AND p.last_error IS NOT NULL "
        "   ORDER BY p.last_attempt_at DESC, p.id DESC LIMIT 1), "
        "  max(o.delivered_at), "
        "  (SELECT ch.run_id FROM alert_outbox p JOIN changes ch "
        "   ON ch.id = p.change_id WHERE p.alert = o.alert "
        "   AND p.status = 'pending' ORDER BY p.id LIMIT 1) "
        "FROM alert_outbox o GROUP BY o.alert ORDER BY o.alert", what, err);
    if (!st)
        return -1;
    out->arena = mc_arena_new();
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 8;
            out->items = mc_realloc(out->items, cap * sizeof *out->items);
        }
        mc_outbox_stat *x = &out->items[out->n++];
        x->alert = st_col_text(st, 0, out->arena);
        x->n_pending = st_col_i64(st, 1);
        x->n_delivered = st_col_i64(st, 2);
        x->n_discarded = st_col_i64(st, 3);
        x->oldest_queued_at = st_col_i64(st, 4);
        x->max_attempts = st_col_i64(st, 5);
        x->last_attempt_at = st_col_i64(st, 6);
        x->last_error = st_col_text(st, 7, out->arena);
        x->last_delivered_at = st_col_i64(st, 8);
        x->oldest_run = st_col_i64(st, 9);
    }
    int ret = 0;
    if (rc != SQLITE_DONE) {
        ret = st_db_fail(s, err, what);
        mc_outbox_stats_free(out);
    }
    sqlite3_finalize(st);
    return ret;
}

void mc_outbox_stats_free(mc_outbox_stats *st)
{
    if (!st)
        return;
    free(st->items);
    mc_arena_free(st->arena);
    memset(st, 0, sizeof *st);
}

/*
 * The delivery lock: an flock on "<store>-alerts.lock".  SQLite's own locks
 * cannot serve, because a delivery must not hold a write transaction open
 * while it waits on a webhook.  flock is released by the kernel when the
 * process dies, so a killed delivery never leaves the queue locked.
 */
int store_outbox_lock(store *s, int wait_s, bool *got, mc_error *err)
{
    *got = false;
    if (s->lock_fd >= 0) {
        *got = true;
        return 0;
    }
    char *path = mc_asprintf("%s-alerts.lock", s->path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        mc_error_set(err, MC_EXIT_STORE, "store: cannot open the alert lock "
                     "%s: %s", path, strerror(errno));
        mc_error_hint(err, "check that the directory of %s is writable by "
                      "this user", s->path);
        free(path);
        return -1;
    }
    double deadline = mc_monotonic() + (wait_s > 0 ? wait_s : 0);
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            mc_error_set(err, MC_EXIT_STORE, "store: cannot lock %s: %s", path,
                         strerror(errno));
            close(fd);
            free(path);
            return -1;
        }
        if (mc_monotonic() >= deadline) {
            close(fd);
            free(path);
            return 0; /* someone else is delivering */
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    free(path);
    s->lock_fd = fd;
    *got = true;
    return 0;
}

void store_outbox_unlock(store *s)
{
    if (!s || s->lock_fd < 0)
        return;
    close(s->lock_fd); /* releases the flock */
    s->lock_fd = -1;
}

int st_queue_change(store *s, sqlite3_stmt *ins, const char *datastore, const mc_change *ch,
                    int64_t change_id, int64_t now, mc_error *err)
{
    const store_outbox_rules *r = s->rules;
    for (size_t i = 0; r && i < r->n; i++) {
        if (!r->wants(r->arg, i, datastore, ch))
            continue;
        if (st_bind_text(ins, 1, r->names[i]) | st_bind_i64(ins, 2, change_id) |
            st_bind_i64(ins, 3, now))
            return st_bind_fail(s, err, "queue an alert");
        if (st_run_stmt(s, ins, "queue an alert", err) < 0)
            return -1;
    }
    return 0;
}
