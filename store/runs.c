/*
 * runs.c — runs and a datastore as a whole (store.h): starting and failing
 * a run, listing runs with what a reader should believe of a 'running' one,
 * the identity of the process recording a run and the closing of runs whose
 * process is gone, and a datastore's state, pause and staleness.  A run's
 * heartbeat is written by heartbeat.c; store_commit_run (commit.c) finishes
 * a run ok or partial.
 *
 * Run states:   run_begin            commit_run
 *             ----------> running ---------------> ok | partial
 *                            |  run_fail, or store_open finding
 *                            |  the recording process dead
 *                            +-------------------> failed
 */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

/* ---- who records a run: process identity, interrupted runs ---------------- */

/*
 * Who is running a run.  A pid alone does not say: after a crash and a
 * reboot, or just enough forks, the same number belongs to another process.
 * So a run records "BOOT_ID/START" besides its pid: the kernel's boot id and
 * the process's start time in clock ticks since boot (field 22 of
 * /proc/PID/stat), which together name one process for ever.  Where /proc
 * has neither (not Linux), the identity is empty and the pid check alone
 * decides, as before.
 */
static bool process_identity(pid_t pid, char *buf, size_t n)
{
    buf[0] = '\0';
    char boot[64] = "", path[64], stat[1024];
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!f)
        return false;
    bool ok = fgets(boot, sizeof boot, f) != NULL;
    fclose(f);
    boot[strcspn(boot, "\n")] = '\0';
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (!ok || !boot[0] || !(f = fopen(path, "re")))
        return false;
    size_t len = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[len] = '\0';
    /* The command name (field 2) is in parentheses and may hold anything,
     * spaces and ')' included: fields are counted after its last ')'. */
    const char *p = strrchr(stat, ')');
    if (!p)
        return false;
    p++;
    for (int field = 3; field < 22 && *p; field++) { /* skip fields 3..21 */
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    while (*p == ' ')
        p++;
    size_t k = strspn(p, "0123456789");
    if (k == 0 || k > 24)
        return false;
    snprintf(buf, n, "%s/%.*s", boot, (int)k, p);
    return true;
}

/* A run from another host is judged by its heartbeat alone: once it is this
 * much older than STORE_HEARTBEAT_S says it should be, the process is gone. */
#define HEARTBEAT_DEAD_S (10 * STORE_HEARTBEAT_S)

/*
 * Whether the process recording a 'running' run is gone for good:
 *  - on this host: no process has its pid, or the one that has it now is
 *    another process (its identity differs from the recorded one);
 *  - on another host: its last heartbeat is older than HEARTBEAT_DEAD_S
 *    (runs of a build without heartbeats are left alone there).
 */
static bool run_process_gone(const store *s, int64_t pid, const char *host,
                             const char *process, int64_t heartbeat_at, int64_t now)
{
    if (host && strcmp(host, s->host) != 0)
        return heartbeat_at > 0 && now - heartbeat_at > HEARTBEAT_DEAD_S;
    if (pid <= 0)
        return false;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return true;
    char now_id[128];
    return process && *process && process_identity((pid_t)pid, now_id, sizeof now_id) &&
           strcmp(now_id, process) != 0;
}

/* What an interrupted run is recorded with: it ended at its last heartbeat
 * (when it was last seen alive), not when someone noticed. */
#define INTERRUPTED_TEXT "interrupted: the process ended before the run finished"

/*
 * A run still 'running' whose process is gone will never finish: mark it
 * failed, finished at its last heartbeat.
 */
void store_fail_abandoned_runs(store *s)
{
    mc_error err = {0};
    int64_t *dead = NULL;
    size_t n_dead = 0, cap = 0;
    sqlite3_stmt *upd = NULL;
    int64_t now = mc_time_now();
    sqlite3_stmt *sel = st_prep(s,
        "SELECT id, pid, host, process, heartbeat_at FROM runs WHERE status = 'running'",
        "list unfinished runs", &err);
    if (!sel)
        goto out;
    int rc;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        if (!run_process_gone(s, st_col_i64(sel, 1), (const char *)sqlite3_column_text(sel, 2),
                              (const char *)sqlite3_column_text(sel, 3), st_col_i64(sel, 4), now))
            continue;
        if (n_dead == cap) {
            cap = cap ? cap * 2 : 8;
            dead = mc_realloc(dead, cap * sizeof *dead);
        }
        dead[n_dead++] = st_col_i64(sel, 0);
    }
    if (rc != SQLITE_DONE)
        st_db_fail(s, &err, "list unfinished runs");
    sqlite3_finalize(sel);
    if (mc_error_is_set(&err) || n_dead == 0)
        goto out;

    upd = st_prep(s,
        "UPDATE runs SET status = 'failed', error = ?2, "
        "  finished_at = coalesce(heartbeat_at, started_at) "
        "WHERE id = ?1 AND status = 'running'",
        "mark an interrupted run failed", &err);
    if (upd && st_exec_sql(s, "BEGIN IMMEDIATE", "mark interrupted runs failed",
                           &err) == 0) {
        for (size_t i = 0; i < n_dead && !mc_error_is_set(&err); i++) {
            int bad = st_bind_i64(upd, 1, dead[i]) | st_bind_text(upd, 2, INTERRUPTED_TEXT);
            if (bad)
                st_bind_fail(s, &err, "mark an interrupted run failed");
            else
                st_run_stmt(s, upd, "mark an interrupted run failed", &err);
        }
        if (!mc_error_is_set(&err))
            st_exec_sql(s, "COMMIT", "mark interrupted runs failed", &err);
        if (mc_error_is_set(&err))
            st_rollback(s);
        else
            mc_log(MC_LOG_INFO, "marked %zu interrupted run(s) failed", n_dead);
    }
out:
    sqlite3_finalize(upd);
    free(dead);
    /* Not fatal: reading the store is still useful when this cannot be
     * written, and the next writer will try again. */
    if (mc_error_is_set(&err))
        mc_log(MC_LOG_WARN, "%s", err.message);
}

/* ---- runs ----------------------------------------------------------------- */

static const char *const run_status_names[] = {"running", "ok", "partial",
                                               "failed"};

const char *mc_run_status_name(mc_run_status st)
{
    return (unsigned)st < sizeof run_status_names / sizeof run_status_names[0]
               ? run_status_names[st] : "unknown";
}

static mc_run_status run_status_parse(const char *t)
{
    for (int i = 0; t && i < 4; i++)
        if (strcmp(t, run_status_names[i]) == 0)
            return (mc_run_status)i;
    return MC_RUN_FAILED;
}

/* Gives the datastore its row if the store has none yet (run_begin and
 * set_paused, each inside its own transaction). */
static int ensure_datastore(store *s, const char *datastore, mc_error *err)
{
    const char *what = "record the datastore";
    sqlite3_stmt *st = st_prep(s, "INSERT INTO datastores(name) VALUES (?1) "
                                  "ON CONFLICT(name) DO NOTHING", what, err);
    if (!st)
        return -1;
    int ret = -1;
    if (st_bind_text(st, 1, datastore))
        st_bind_fail(s, err, what);
    else
        ret = st_run_stmt(s, st, what, err);
    sqlite3_finalize(st);
    return ret;
}

int store_run_begin(store *s, const char *datastore, int64_t scheduled_for,
                    int64_t *run_id_out, mc_error *err)
{
    *run_id_out = 0;
    if (!datastore || !*datastore)
        return mc_error_set(err, MC_EXIT_STORE, "store: a run needs a datastore name");
    sqlite3_stmt *ins_run = NULL;
    int64_t ds = 0;
    if (st_exec_sql(s, "BEGIN IMMEDIATE", "start a run", err) < 0)
        return -1;
    if (ensure_datastore(s, datastore, err) < 0 ||
        store_datastore_id(s, datastore, &ds, err) < 0)
        goto fail;
    ins_run = st_prep(s,
        "INSERT INTO runs(datastore_id, started_at, status, scheduled_for, pid, host, "
        "  heartbeat_at, process) "
        "VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?2, ?6)", "start a run", err);
    if (!ins_run)
        goto fail;
    char ident[128];
    process_identity(getpid(), ident, sizeof ident);
    int bad = st_bind_i64(ins_run, 1, ds) | st_bind_i64(ins_run, 2, mc_time_now()) |
              st_bind_i64_or_null(ins_run, 3, scheduled_for) |
              st_bind_i64(ins_run, 4, (int64_t)getpid()) |
              st_bind_text(ins_run, 5, s->host) | st_bind_text(ins_run, 6, ident[0] ? ident : NULL);
    if (bad) {
        st_bind_fail(s, err, "start a run");
        goto fail;
    }
    if (st_run_stmt(s, ins_run, "start a run", err) < 0)
        goto fail;
    int64_t id = (int64_t)sqlite3_last_insert_rowid(s->db);
    if (st_exec_sql(s, "COMMIT", "start a run", err) < 0)
        goto fail;
    sqlite3_finalize(ins_run);
    *run_id_out = id;
    return 0;
fail:
    sqlite3_finalize(ins_run);
    st_rollback(s);
    return -1;
}

int store_run_fail(store *s, int64_t run_id, const char *error_text,
                   mc_error *err)
{
    /* A run that finished ok or partial keeps its status: its catalog
     * writes are committed, and a later failure (say, an alert) does not
     * undo them. */
    sqlite3_stmt *st = st_prep(s,
        "UPDATE runs SET status = 'failed', finished_at = ?2, error = ?3 "
        "WHERE id = ?1 AND status IN ('running', 'failed')",
        "mark the run failed", err);
    if (!st)
        return -1;
    int ret = -1;
    int bad = st_bind_i64(st, 1, run_id) | st_bind_i64(st, 2, mc_time_now()) |
              st_bind_text(st, 3, error_text ? error_text : "failed");
    if (bad) {
        st_bind_fail(s, err, "mark the run failed");
        goto out;
    }
    /* A single statement outside a transaction is its own transaction. */
    if (st_run_stmt(s, st, "mark the run failed", err) < 0)
        goto out;
    if (sqlite3_changes(s->db) != 1) {
        mc_run_list l;
        bool exists = store_get_run(s, run_id, &l, err) == 0 && l.n == 1;
        mc_run_list_free(&l);
        mc_error_set(err, MC_EXIT_STORE, "store: cannot mark run %lld failed: "
                     "%s", (long long)run_id,
                     exists ? "it has already finished" : "no such run");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}


/* ---- a datastore as a whole: state, pause, staleness -------------------------- */

int store_datastore_state(store *s, const char *datastore, mc_ds_state *out,
                          mc_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = st_prep(s,
        "SELECT d.stale_since, d.paused_at, d.paused_by, "
        "  (SELECT count(*) FROM runs r WHERE r.datastore_id = d.id), "
        "  (SELECT min(started_at) FROM runs r WHERE r.datastore_id = d.id), "
        "  (SELECT max(id) FROM runs r WHERE r.datastore_id = d.id), "
        "  (SELECT status FROM runs r WHERE r.datastore_id = d.id ORDER BY id DESC LIMIT 1), "
        "  l.id, l.started_at, l.finished_at, "
        "  EXISTS (SELECT 1 FROM runs r WHERE r.datastore_id = d.id "
        "          AND r.status = 'running') "
        "FROM datastores d "
        "LEFT JOIN runs l ON l.id = (SELECT max(id) FROM runs r "
        "  WHERE r.datastore_id = d.id AND r.status IN ('ok', 'partial')) "
        "WHERE d.name = ?1", "read the datastore's state", err);
    if (!st)
        return -1;
    int ret = -1;
    if (st_bind_text(st, 1, datastore)) {
        st_bind_fail(s, err, "read the datastore's state");
        goto out;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->known = true;
        out->stale_since = st_col_i64(st, 0);
        out->paused_at = st_col_i64(st, 1);
        const char *by = (const char *)sqlite3_column_text(st, 2);
        snprintf(out->paused_by, sizeof out->paused_by, "%s", by ? by : "");
        out->n_runs = st_col_i64(st, 3);
        out->first_run_at = st_col_i64(st, 4);
        out->last_run_id = st_col_i64(st, 5);
        out->last_status = run_status_parse((const char *)sqlite3_column_text(st, 6));
        out->last_success_id = st_col_i64(st, 7);
        out->last_success_at = st_col_i64(st, 8);
        out->last_success_end = st_col_i64(st, 9);
        out->running = st_col_i64(st, 10) != 0;
    } else if (rc != SQLITE_DONE) {
        st_db_fail(s, err, "read the datastore's state");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

int store_set_paused(store *s, const char *datastore, bool paused, const char *by,
                     bool *changed_out, mc_error *err)
{
    *changed_out = false;
    sqlite3_stmt *upd = NULL;
    if (st_exec_sql(s, "BEGIN IMMEDIATE", "record the pause", err) < 0)
        return -1;
    if (ensure_datastore(s, datastore, err) < 0)
        goto fail;
    upd = st_prep(s, paused
        ? "UPDATE datastores SET paused_at = ?2, paused_by = ?3 "
          "WHERE name = ?1 AND paused_at IS NULL"
        : "UPDATE datastores SET paused_at = NULL, paused_by = NULL "
          "WHERE name = ?1 AND paused_at IS NOT NULL",
        "record the pause", err);
    if (!upd)
        goto fail;
    if (st_bind_text(upd, 1, datastore) ||
        (paused && (st_bind_i64(upd, 2, mc_time_now()) | st_bind_text(upd, 3, by)))) {
        st_bind_fail(s, err, "record the pause");
        goto fail;
    }
    if (st_run_stmt(s, upd, "record the pause", err) < 0)
        goto fail;
    *changed_out = sqlite3_changes(s->db) > 0;
    if (st_exec_sql(s, "COMMIT", "record the pause", err) < 0)
        goto fail;
    sqlite3_finalize(upd);
    return 0;
fail:
    sqlite3_finalize(upd);
    st_rollback(s);
    return -1;
}

int store_record_staleness(store *s, const char *datastore, bool stale, int64_t now,
                           int64_t last_success, bool *recorded_out, mc_error *err)
{
    *recorded_out = false;
    sqlite3_stmt *sel = NULL, *ins = NULL, *outbox = NULL, *upd = NULL;
    if (st_exec_sql(s, "BEGIN IMMEDIATE", "record the staleness", err) < 0)
        return -1;
    sel = st_prep(s, "SELECT d.id, d.stale_since, (SELECT max(id) FROM runs r "
                  "WHERE r.datastore_id = d.id) FROM datastores d WHERE d.name = ?1",
                  "read the staleness", err);
    if (!sel)
        goto fail;
    if (st_bind_text(sel, 1, datastore)) {
        st_bind_fail(s, err, "read the staleness");
        goto fail;
    }
    int rc = sqlite3_step(sel);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st_db_fail(s, err, "read the staleness");
        goto fail;
    }
    int64_t ds = rc == SQLITE_ROW ? st_col_i64(sel, 0) : 0;
    bool was_stale = rc == SQLITE_ROW && sqlite3_column_type(sel, 1) != SQLITE_NULL;
    int64_t run = rc == SQLITE_ROW ? st_col_i64(sel, 2) : 0;
    if (!ds || !run || was_stale == stale) {
        st_exec_sql(s, "COMMIT", "record the staleness", err);
        goto done;
    }
    mc_change ch = {.kind = stale ? MC_DATASTORE_STALE : MC_DATASTORE_RECOVERED,
                    .schema = "", .attribute = "last_success", .prev_index = -1,
                    .cur_index = -1, .cur_container = -1, .prev_container = -1};
    char iso[21], after[32];
    if (last_success > 0) {
        mc_time_iso(last_success, iso);
        snprintf(after, sizeof after, "\"%s\"", iso);
        ch.after = after;
    } else {
        ch.after = "null";
    }
    ins = st_prep(s, "INSERT INTO changes(run_id, datastore_id, kind, schema_name, attribute, "
                  "\"after\", breaking) VALUES (?1, ?2, ?3, '', ?4, ?5, 0)",
                  "record a change", err);
    upd = st_prep(s, "UPDATE datastores SET stale_since = ?2 WHERE id = ?1",
                  "record the staleness", err);
    if (!ins || !upd)
        goto fail;
    if (st_bind_i64(ins, 1, run) | st_bind_i64(ins, 2, ds) |
        st_bind_text(ins, 3, mc_change_kind_name(ch.kind)) | st_bind_text(ins, 4, ch.attribute) |
        st_bind_text(ins, 5, ch.after)) {
        st_bind_fail(s, err, "record a change");
        goto fail;
    }
    if (st_run_stmt(s, ins, "record a change", err) < 0)
        goto fail;
    int64_t change_id = (int64_t)sqlite3_last_insert_rowid(s->db);
    const store_outbox_rules *r = s->rules;
    if (r && r->n) {
        outbox = st_prep(s, ST_OUTBOX_INSERT_SQL, "queue an alert", err);
        if (!outbox || st_queue_change(s, outbox, datastore, &ch, change_id, now, err) < 0)
            goto fail;
    }
    if (st_bind_i64(upd, 1, ds) | st_bind_i64_or_null(upd, 2, stale ? now : 0)) {
        st_bind_fail(s, err, "record the staleness");
        goto fail;
    }
    if (st_run_stmt(s, upd, "record the staleness", err) < 0 ||
        st_exec_sql(s, "COMMIT", "record the staleness", err) < 0)
        goto fail;
    *recorded_out = true;
done:
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_finalize(outbox);
    sqlite3_finalize(upd);
    return mc_error_is_set(err) ? -1 : 0;
fail:
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_finalize(outbox);
    sqlite3_finalize(upd);
    st_rollback(s);
    return -1;
}

/* ---- reading runs --------------------------------------------------------- */

#define RUN_COLUMNS                                                            \
    "r.id, d.name, r.started_at, r.finished_at, r.status, r.dialect, "        \
    "r.server_version, r.n_schemas, r.n_containers, r.n_fields, r.n_changes, " \
    "r.n_held_back, r.error, r.scheduled_for, r.pid, r.host, r.process, "     \
    "r.heartbeat_at, r.facts "                                                  \
    "FROM runs r JOIN datastores d ON d.id = r.datastore_id "

static void read_run(sqlite3_stmt *st, mc_arena *a, mc_run *r)
{
    r->id = st_col_i64(st, 0);
    r->datastore = st_col_text(st, 1, a);
    r->started_at = st_col_i64(st, 2);
    r->finished_at = st_col_i64(st, 3);
    r->status = run_status_parse((const char *)sqlite3_column_text(st, 4));
    r->dialect = st_col_text(st, 5, a);
    r->server_version = st_col_text(st, 6, a);
    r->n_schemas = st_col_i64(st, 7);
    r->n_containers = st_col_i64(st, 8);
    r->n_fields = st_col_i64(st, 9);
    r->n_changes = st_col_i64(st, 10);
    r->n_held_back = st_col_i64(st, 11);
    r->error = st_col_text(st, 12, a);
    r->scheduled_for = st_col_i64(st, 13);
    r->facts = st_col_text(st, 18, a);
}

/* Steps a bound run query into out (initialised here). */
static int collect_runs(store *s, sqlite3_stmt *st, mc_run_list *out,
                        mc_error *err)
{
    out->arena = mc_arena_new();
    mc_run *tmp = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            tmp = mc_realloc(tmp, cap * sizeof *tmp);
        }
        read_run(st, out->arena, &tmp[n]);
        /* A reader does not mark a dead process's run failed (it writes
         * nothing), but shows it as the next writer will record it. */
        if (tmp[n].status == MC_RUN_RUNNING &&
            run_process_gone(s, st_col_i64(st, 14), (const char *)sqlite3_column_text(st, 15),
                             (const char *)sqlite3_column_text(st, 16), st_col_i64(st, 17),
                             mc_time_now())) {
            tmp[n].status = MC_RUN_FAILED;
            tmp[n].error = INTERRUPTED_TEXT;
            tmp[n].finished_at = st_col_i64(st, 17) ? st_col_i64(st, 17) : tmp[n].started_at;
        }
        n++;
    }
    if (rc != SQLITE_DONE) {
        free(tmp);
        mc_arena_free(out->arena);
        out->arena = NULL;
        return st_db_fail(s, err, "list runs");
    }
    /* The array moves into the arena: one free releases everything. */
    out->runs = n ? mc_arena_alloc(out->arena, n * sizeof *tmp) : NULL;
    if (n)
        memcpy(out->runs, tmp, n * sizeof *tmp);
    out->n = n;
    free(tmp);
    return 0;
}

int store_list_runs(store *s, const char *datastore, size_t limit,
                    mc_run_list *out, mc_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = st_prep(s, datastore
        ? "SELECT " RUN_COLUMNS "WHERE r.datastore_id = "
          "(SELECT id FROM datastores WHERE name = ?1) ORDER BY r.id DESC LIMIT ?2"
        : "SELECT " RUN_COLUMNS "WHERE ?1 IS NULL ORDER BY r.id DESC LIMIT ?2",
        "list runs", err);
    if (!st)
        return -1;
    int ret;
    if (st_bind_text(st, 1, datastore) |
        st_bind_i64(st, 2, limit ? (int64_t)limit : -1))
        ret = st_bind_fail(s, err, "list runs");
    else
        ret = collect_runs(s, st, out, err);
    sqlite3_finalize(st);
    return ret;
}

int store_get_run(store *s, int64_t run_id, mc_run_list *out, mc_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = st_prep(s, "SELECT " RUN_COLUMNS "WHERE r.id = ?1",
                               "read a run", err);
    if (!st)
        return -1;
    int ret;
    if (st_bind_i64(st, 1, run_id))
        ret = st_bind_fail(s, err, "read a run");
    else
        ret = collect_runs(s, st, out, err);
    sqlite3_finalize(st);
    return ret;
}

void mc_run_list_free(mc_run_list *l)
{
    if (!l)
        return;
    mc_arena_free(l->arena);
    memset(l, 0, sizeof *l);
}

int store_list_datastores(store *s, char ***names_out, size_t *n_out,
                          mc_error *err)
{
    *names_out = NULL;
    *n_out = 0;
    sqlite3_stmt *st = st_prep(s,
        "SELECT name FROM datastores d "
        "WHERE EXISTS (SELECT 1 FROM runs r WHERE r.datastore_id = d.id) "
        "ORDER BY name", "list datastores", err);
    if (!st)
        return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            names = mc_realloc(names, cap * sizeof *names);
        }
        names[n++] = mc_strdup((const char *)sqlite3_column_text(st, 0));
    }
    if (rc != SQLITE_DONE) {
        st_db_fail(s, err, "list datastores");
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    *names_out = names;
    *n_out = n;
    return 0;
}
