/*
 * store.c — the SQLite catalog (store.h; the tables are in docs/store.md).
 *
 * This file owns the database handle, the schema and its migrations, runs,
 * the versioned objects, the change events and the alert outbox.  Nothing
 * else in metacrawl sees SQL.
 *
 * Invariants:
 *  1. An object version (schema, container, field) is valid for the runs R
 *     with valid_from <= R and (valid_to IS NULL OR valid_to > R).  At most
 *     one version of an object is valid for any run; the current one has
 *     valid_to NULL.
 *  2. A container's identity is its containers row: renames and changes add
 *     container_versions under the same container_id, and field_versions
 *     hang off the container_id, so a renamed table keeps its columns.
 *  3. store_commit_run is one BEGIN IMMEDIATE ... COMMIT.  Any failure rolls
 *     back, so the store is byte-for-byte what it was, and the run row stays
 *     'running' for the caller to fail.
 *  4. A re-crawl that found nothing writes only the run row (and row
 *     estimates that moved): the comparison happened in the diff, and the
 *     store never rewrites a version that did not change.
 *  5. Every value reaches SQL as a bound parameter.  The one exception is
 *     "PRAGMA user_version = N" in migrate(), where SQLite accepts no
 *     parameter and N is this file's own migration counter.
 *  6. A change event and the outbox rows it calls for are written in the
 *     same transaction (queue_change); an outbox row leaves 'pending' once,
 *     for 'delivered' or 'discarded', and never comes back.
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
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <sqlite3.h>

struct store {
    sqlite3 *db;
    char *path;
    char host[256];
    const store_outbox_rules *rules; /* borrowed; NULL = queue nothing */
    int lock_fd;                     /* the outbox lock file, -1 = not held */
    bool read_only;                  /* store_open_read: never written */
};

/* ---- the schema ----------------------------------------------------------- */

/* Migration i upgrades user_version i to i + 1.  Never edit a released step:
 * add a new one (docs/store.md, "Migrations"). */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema. */
    "CREATE TABLE datastores (\n"
    "  id    INTEGER PRIMARY KEY,\n"
    "  name  TEXT NOT NULL UNIQUE\n"
    ");\n"
    "CREATE TABLE runs (\n"
    "  id             INTEGER PRIMARY KEY,\n"
    "  datastore_id   INTEGER NOT NULL REFERENCES datastores(id),\n"
    "  started_at     INTEGER NOT NULL,\n"
    "  finished_at    INTEGER,\n"
    "  status         TEXT NOT NULL DEFAULT 'running'\n"
    "                 CHECK (status IN ('running', 'ok', 'partial', 'failed')),\n"
    "  dialect        TEXT,\n"
    "  server_version TEXT,\n"
    "  n_schemas      INTEGER NOT NULL DEFAULT 0,\n"
    "  n_containers   INTEGER NOT NULL DEFAULT 0,\n"
    "  n_fields       INTEGER NOT NULL DEFAULT 0,\n"
    "  n_changes      INTEGER NOT NULL DEFAULT 0,\n"
    "  n_held_back    INTEGER NOT NULL DEFAULT 0,\n"
    "  error          TEXT,\n"
    "  scheduled_for  INTEGER,\n"
    "  pid            INTEGER,\n"
    "  host           TEXT\n"
    ");\n"
    "CREATE INDEX runs_datastore ON runs(datastore_id, id);\n"
    "CREATE INDEX runs_running ON runs(status) WHERE status = 'running';\n"
    "CREATE TABLE schema_versions (\n"
    "  id            INTEGER PRIMARY KEY,\n"
    "  datastore_id  INTEGER NOT NULL REFERENCES datastores(id),\n"
    "  name          TEXT NOT NULL,\n"
    "  oid           INTEGER,\n"
    "  owner         TEXT,\n"
    "  comment       TEXT,\n"
    "  external      INTEGER NOT NULL DEFAULT 0,\n"
    "  valid_from    INTEGER NOT NULL REFERENCES runs(id),\n"
    "  valid_to      INTEGER REFERENCES runs(id)\n"
    ");\n"
    "CREATE INDEX schema_versions_current ON schema_versions(datastore_id, name)\n"
    "  WHERE valid_to IS NULL;\n"
    "CREATE INDEX schema_versions_history\n"
    "  ON schema_versions(datastore_id, name, valid_from);\n"
    "CREATE TABLE containers (\n"
    "  id            INTEGER PRIMARY KEY,\n"
    "  datastore_id  INTEGER NOT NULL REFERENCES datastores(id),\n"
    "  current_hash  INTEGER NOT NULL DEFAULT 0,\n"
    "  row_estimate  REAL\n"
    ");\n"
    "CREATE INDEX containers_datastore ON containers(datastore_id);\n"
    "CREATE TABLE container_versions (\n"
    "  id            INTEGER PRIMARY KEY,\n"
    "  container_id  INTEGER NOT NULL REFERENCES containers(id),\n"
    "  schema_name   TEXT NOT NULL,\n"
    "  name          TEXT NOT NULL,\n"
    "  oid           INTEGER,\n"
    "  kind          TEXT NOT NULL,\n"
    "  owner         TEXT,\n"
    "  comment       TEXT,\n"
    "  definition    TEXT,\n"
    "  primary_key   TEXT,\n"
    "  foreign_keys  TEXT,\n"
    "  dist_style    TEXT,\n"
    "  sort_key      TEXT,\n"
    "  valid_from    INTEGER NOT NULL REFERENCES runs(id),\n"
    "  valid_to      INTEGER REFERENCES runs(id)\n"
    ");\n"
    "CREATE INDEX container_versions_current ON container_versions(container_id)\n"
    "  WHERE valid_to IS NULL;\n"
    "CREATE INDEX container_versions_history\n"
    "  ON container_versions(container_id, valid_from);\n"
    "CREATE INDEX container_versions_name ON container_versions(schema_name, name);\n"
    "CREATE TABLE field_versions (\n"
    "  id            INTEGER PRIMARY KEY,\n"
    "  container_id  INTEGER NOT NULL REFERENCES containers(id),\n"
    "  name          TEXT NOT NULL,\n"
    "  attnum        INTEGER,\n"
    "  position      INTEGER NOT NULL,\n"
    "  type          TEXT,\n"
    "  not_null      INTEGER NOT NULL DEFAULT 0,\n"
    "  default_expr  TEXT,\n"
    "  comment       TEXT,\n"
    "  encoding      TEXT,\n"
    "  valid_from    INTEGER NOT NULL REFERENCES runs(id),\n"
    "  valid_to      INTEGER REFERENCES runs(id)\n"
    ");\n"
    "CREATE INDEX field_versions_current ON field_versions(container_id, position)\n"
    "  WHERE valid_to IS NULL;\n"
    "CREATE INDEX field_versions_history ON field_versions(container_id, valid_from);\n"
    "CREATE TABLE changes (\n"
    "  id              INTEGER PRIMARY KEY,\n"
    "  run_id          INTEGER NOT NULL REFERENCES runs(id),\n"
    "  datastore_id    INTEGER NOT NULL REFERENCES datastores(id),\n"
    "  container_id    INTEGER REFERENCES containers(id),\n"
    "  kind            TEXT NOT NULL,\n"
    "  schema_name     TEXT NOT NULL,\n"
    "  container_name  TEXT,\n"
    "  field_name      TEXT,\n"
    "  attribute       TEXT,\n"
    "  \"before\"        TEXT,\n"
    "  \"after\"         TEXT,\n"
    "  breaking        INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE INDEX changes_run ON changes(datastore_id, run_id);\n"
    "CREATE INDEX changes_container ON changes(container_id);\n",

    /* 1 -> 2: the alert outbox (docs/alerts.md).  One row per (alert,
     * change) to deliver; queued by store_commit_run in the run's own
     * transaction. */
    "CREATE TABLE alert_outbox (\n"
    "  id               INTEGER PRIMARY KEY,\n"
    "  alert            TEXT NOT NULL,\n"
    "  change_id        INTEGER NOT NULL REFERENCES changes(id),\n"
    "  status           TEXT NOT NULL DEFAULT 'pending'\n"
    "                   CHECK (status IN ('pending', 'delivered', 'discarded')),\n"
    "  queued_at        INTEGER NOT NULL,\n"
    "  attempts         INTEGER NOT NULL DEFAULT 0,\n"
    "  last_attempt_at  INTEGER,\n"
    "  last_error       TEXT,\n"
    "  delivered_at     INTEGER,\n"
    "  discarded_at     INTEGER,\n"
    "  UNIQUE (alert, change_id)\n"
    ");\n"
    "CREATE INDEX alert_outbox_pending ON alert_outbox(alert, id)\n"
    "  WHERE status = 'pending';\n",

    /* 2 -> 3: PostgreSQL corners (docs/discovery.md).  Identity and
     * generated columns, extension members, a partitioned table's
     * partitions (a fact, latest only, like row_estimate), and the reading
     * rules a container version was recorded with: versions written
     * before are marked 2, so the first crawl after the upgrade records
     * what the new rules see without reporting it as changes. */
    "ALTER TABLE field_versions ADD COLUMN identity TEXT;\n"
    "ALTER TABLE field_versions ADD COLUMN generated TEXT;\n"
    "ALTER TABLE container_versions ADD COLUMN extension TEXT;\n"
    "ALTER TABLE container_versions ADD COLUMN read_rules INTEGER NOT NULL DEFAULT 2;\n"
    "ALTER TABLE containers ADD COLUMN partitions TEXT;\n",

    /* 3 -> 4: runs that tell the truth, staleness and pause
     * (docs/store.md, docs/scheduling.md).  A running run's heartbeat and
     * the identity of its process (boot id and start time: a reused pid is
     * another process); a datastore's judged staleness (set while stale, for
     * delivering datastore_stale once) and its pause. */
    "ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER;\n"
    "ALTER TABLE runs ADD COLUMN process TEXT;\n"
    "ALTER TABLE datastores ADD COLUMN stale_since INTEGER;\n"
    "ALTER TABLE datastores ADD COLUMN paused_at INTEGER;\n"
    "ALTER TABLE datastores ADD COLUMN paused_by TEXT;\n",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))
/* container_versions.read_rules of the versions this build writes (the
 * schema version that brought the current reading rules). */
#define STORE_READ_RULES 3

/* ---- small helpers -------------------------------------------------------- */

/* Reports the connection's last error as a store error, naming what failed. */
static int db_fail(store *s, mc_error *err, const char *what)
{
    int rc = sqlite3_extended_errcode(s->db) & 0xff;
    mc_error_set(err, MC_EXIT_STORE, "store: cannot %s: %s", what,
                 sqlite3_errmsg(s->db));
    switch (rc) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        mc_error_hint(err, "another metacrawl process is writing to %s; "
                      "try again when it has finished", s->path);
        break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
        mc_error_hint(err, "check that %s and its directory are writable "
                      "by this user", s->path);
        break;
    case SQLITE_FULL:
        mc_error_hint(err, "the disk holding %s is full", s->path);
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        mc_error_hint(err, "%s is damaged; restore it from a backup", s->path);
        break;
    default:
        break;
    }
    return -1;
}

static sqlite3_stmt *prep(store *s, const char *sql, const char *what,
                          mc_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(s, err, what);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* Bind helpers return nonzero on failure, so a statement's binds can be
 * collected with |= and checked once. */
static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)
             : sqlite3_bind_null(st, i);
}

static int bind_i64(sqlite3_stmt *st, int i, int64_t v)
{
    return sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* 0 means "none" for ids, oids and times, and is stored as NULL. */
static int bind_i64_or_null(sqlite3_stmt *st, int i, int64_t v)
{
    return v ? bind_i64(st, i, v) : sqlite3_bind_null(st, i);
}

static int bind_estimate(sqlite3_stmt *st, int i, double v)
{
    return v >= 0 ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

static int bind_fail(store *s, mc_error *err, const char *what)
{
    return db_fail(s, err, what);
}

/* Runs a statement that returns no rows (or whose rows are not wanted). */
static int run_stmt(store *s, sqlite3_stmt *st, const char *what, mc_error *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        db_fail(s, err, what);
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

static int exec_sql(store *s, const char *sql, const char *what, mc_error *err)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(s, err, what);
    return 0;
}

/* Ends a failed transaction, if one is open; the original error stays. */
static void rollback(store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static const char *col_text(sqlite3_stmt *st, int i, mc_arena *a)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    return mc_arena_strndup(a, (const char *)t,
                            (size_t)sqlite3_column_bytes(st, i));
}

static int64_t col_i64(sqlite3_stmt *st, int i)
{
    return (int64_t)sqlite3_column_int64(st, i);
}

static bool in_range(ptrdiff_t i, size_t n)
{
    return i >= 0 && (size_t)i < n;
}

/* Single-integer query with at most one text parameter; *found tells
 * whether a row came back. */
static int query_i64(store *s, const char *sql, const char *param,
                     int64_t *out, bool *found, const char *what, mc_error *err)
{
    sqlite3_stmt *st = prep(s, sql, what, err);
    if (!st)
        return -1;
    if (param && bind_text(st, 1, param) != SQLITE_OK) {
        bind_fail(s, err, what);
        sqlite3_finalize(st);
        return -1;
    }
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        *out = col_i64(st, 0);
        if (found)
            *found = true;
    } else if (rc == SQLITE_DONE) {
        *out = 0;
        if (found)
            *found = false;
    } else {
        ret = db_fail(s, err, what);
    }
    sqlite3_finalize(st);
    return ret;
}

/* The id of a datastore by name; 0 (and no error) when it has none. */
static int datastore_id(store *s, const char *name, int64_t *id, mc_error *err);

const char *store_file_path(const store *s)
{
    return s->path;
}

sqlite3 *store_sqlite(store *s)
{
    return s->db;
}

int store_datastore_id(store *s, const char *datastore, int64_t *id_out,
                       mc_error *err)
{
    *id_out = 0;
    return datastore_id(s, datastore, id_out, err) < 0 ? -1 : 0;
}

static int datastore_id(store *s, const char *name, int64_t *id, mc_error *err)
{
    return query_i64(s, "SELECT id FROM datastores WHERE name = ?1", name, id,
                     NULL, "look up the datastore", err);
}

/* ---- open, migrate, close ------------------------------------------------ */

/* Runs the migration steps up to schema version target. */
static int migrate(store *s, int target, mc_error *err)
{
    for (;;) {
        int64_t v = 0;
        if (query_i64(s, "PRAGMA user_version", NULL, &v, NULL,
                      "read the store's schema version", err) < 0)
            return -1;
        if (v >= target)
            return 0;
        /* Re-read under the write lock: another process opening the same
         * new store may have migrated it while we waited. */
        if (exec_sql(s, "BEGIN IMMEDIATE", "start a migration", err) < 0)
            return -1;
        if (query_i64(s, "PRAGMA user_version", NULL, &v, NULL,
                      "read the store's schema version", err) < 0)
            goto fail;
        if (v >= target) {
            if (exec_sql(s, "COMMIT", "finish a migration", err) < 0)
                goto fail;
            return 0;
        }
        char what[64], bump[64];
        snprintf(what, sizeof what, "migrate the store to schema %d", (int)v + 1);
        /* Invariant 5: PRAGMA takes no parameter; v + 1 is our own counter. */
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", (int)v + 1);
        if (exec_sql(s, migrations[v], what, err) < 0 ||
            exec_sql(s, bump, what, err) < 0 ||
            exec_sql(s, "COMMIT", what, err) < 0)
            goto fail;
        mc_log(MC_LOG_INFO, "store %s migrated to schema %d", s->path, (int)v + 1);
    }
fail:
    rollback(s);
    return -1;
}

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
static void fail_abandoned_runs(store *s)
{
    mc_error err = {0};
    int64_t *dead = NULL;
    size_t n_dead = 0, cap = 0;
    sqlite3_stmt *upd = NULL;
    int64_t now = mc_time_now();
    sqlite3_stmt *sel = prep(s,
        "SELECT id, pid, host, process, heartbeat_at FROM runs WHERE status = 'running'",
        "list unfinished runs", &err);
    if (!sel)
        goto out;
    int rc;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        if (!run_process_gone(s, col_i64(sel, 1), (const char *)sqlite3_column_text(sel, 2),
                              (const char *)sqlite3_column_text(sel, 3), col_i64(sel, 4), now))
            continue;
        if (n_dead == cap) {
            cap = cap ? cap * 2 : 8;
            dead = mc_realloc(dead, cap * sizeof *dead);
        }
        dead[n_dead++] = col_i64(sel, 0);
    }
    if (rc != SQLITE_DONE)
        db_fail(s, &err, "list unfinished runs");
    sqlite3_finalize(sel);
    if (mc_error_is_set(&err) || n_dead == 0)
        goto out;

    upd = prep(s,
        "UPDATE runs SET status = 'failed', error = ?2, "
        "  finished_at = coalesce(heartbeat_at, started_at) "
        "WHERE id = ?1 AND status = 'running'",
        "mark an interrupted run failed", &err);
    if (upd && exec_sql(s, "BEGIN IMMEDIATE", "mark interrupted runs failed",
                        &err) == 0) {
        for (size_t i = 0; i < n_dead && !mc_error_is_set(&err); i++) {
            int bad = bind_i64(upd, 1, dead[i]) | bind_text(upd, 2, INTERRUPTED_TEXT);
            if (bad)
                bind_fail(s, &err, "mark an interrupted run failed");
            else
                run_stmt(s, upd, "mark an interrupted run failed", &err);
        }
        if (!mc_error_is_set(&err))
            exec_sql(s, "COMMIT", "mark interrupted runs failed", &err);
        if (mc_error_is_set(&err))
            rollback(s);
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

static int check_not_truncated(store *s, mc_error *err);
static void first_read_error(const char *path, int code, const mc_error *first, bool writer,
                             mc_error *err);

/* The directory a path lives in, as a new string. */
static char *parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return mc_strdup(".");
    if (slash == path)
        return mc_strdup("/");
    return mc_strndup(path, (size_t)(slash - path));
}

int store_open_at_version(const char *path, int target, store **out,
                          mc_error *err)
{
    *out = NULL;
    if (target < 1 || target > STORE_SCHEMA_VERSION)
        return mc_error_set(err, MC_EXIT_STORE, "store: no schema version %d "
                            "(this build knows 1 to %d)", target,
                            STORE_SCHEMA_VERSION);
    if (!path || !*path) {
        mc_error_set(err, MC_EXIT_STORE, "no store path given");
        mc_error_hint(err, "set store: in metacrawl.yml or pass --store PATH");
        return -1;
    }
    char *dir = parent_dir(path);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        mc_error_set(err, MC_EXIT_STORE,
                     "cannot create store %s: directory %s does not exist",
                     path, dir);
        mc_error_hint(err, "create it first (mkdir -p %s) or point store: / "
                      "--store at an existing directory", dir);
        free(dir);
        return -1;
    }
    free(dir);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        mc_error_set(err, MC_EXIT_STORE, "store %s is a directory", path);
        mc_error_hint(err, "store: names the catalog file, e.g. %s/catalog.db",
                      path);
        return -1;
    }

    /* A new store is created readable by its owner only (SQLite gives the
     * -wal and -shm files the same mode): table names and comments of a
     * warehouse are not for every user of the machine. */
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);

    store *s = mc_calloc(1, sizeof *s);
    s->lock_fd = -1;
    s->path = mc_strdup(path);
    if (gethostname(s->host, sizeof s->host - 1) != 0)
        strcpy(s->host, "localhost");
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        if (s->db)
            db_fail(s, err, "open the store");
        else
            mc_error_set(err, MC_EXIT_STORE, "store: cannot open %s: out of "
                         "memory", path);
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 10000);

    /* The first read of the file: this is where a file that is not SQLite
     * shows itself. */
    int64_t n_objects = 0;
    mc_error first = {0};
    if (query_i64(s, "SELECT count(*) FROM sqlite_master", NULL, &n_objects,
                  NULL, "read the store", &first) < 0) {
        first_read_error(path, sqlite3_extended_errcode(s->db) & 0xff, &first, true, err);
        goto fail;
    }
    if (check_not_truncated(s, err) < 0)
        goto fail;
    int64_t version = 0;
    if (query_i64(s, "PRAGMA user_version", NULL, &version, NULL,
                  "read the store's schema version", err) < 0)
        goto fail;
    if (version > STORE_SCHEMA_VERSION) {
        mc_error_set(err, MC_EXIT_STORE,
                     "store was written by a newer metacrawl (schema %lld, this "
                     "build knows %d)", (long long)version, STORE_SCHEMA_VERSION);
        mc_error_hint(err, "upgrade metacrawl, or use another store file than %s",
                      path);
        goto fail;
    }
    if (version == 0 && n_objects > 0) {
        mc_error_set(err, MC_EXIT_STORE,
                     "store %s is an sqlite database but not a metacrawl store",
                     path);
        mc_error_hint(err, "point store: / --store at a metacrawl catalog, or at "
                      "a new file name to create one");
        goto fail;
    }

    sqlite3_stmt *st = prep(s, "PRAGMA journal_mode = WAL",
                            "switch the store to WAL mode", err);
    if (!st)
        goto fail;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        db_fail(s, err, "switch the store to WAL mode");
        sqlite3_finalize(st);
        goto fail;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal") != 0)
        mc_log(MC_LOG_WARN, "store %s: WAL mode is not available here (journal "
               "mode %s); concurrent readers will wait for writers",
               path, mode ? mode : "unknown");
    sqlite3_finalize(st);
    if (exec_sql(s, "PRAGMA foreign_keys = ON", "enable foreign keys", err) < 0 ||
        exec_sql(s, "PRAGMA synchronous = NORMAL", "set synchronous mode", err) < 0)
        goto fail;
    if (migrate(s, target, err) < 0)
        goto fail;
    fail_abandoned_runs(s);
    *out = s;
    return 0;

fail:
    store_close(s);
    return -1;
}

/*
 * A store file shorter than its own header says was cut off (a full disk,
 * an interrupted copy): SQLite notices only when a query reaches a missing
 * page, so a command reading the first pages would print part of the
 * catalog as if it were all.  The header's page count (offset 28) is valid
 * when its change counter (24) equals "version valid for" (92).  Checking
 * every page (PRAGMA integrity_check) would cost a full read of the store
 * per command; this costs one read of 100 bytes.
 */
/* The error of the first read of a store file, whose SQLite result code is
 * code and whose error is first: a file that is not SQLite says so, with a
 * hint for writers (which could create a store) or readers (which never do). */
static void first_read_error(const char *path, int code, const mc_error *first, bool writer,
                             mc_error *err)
{
    if (code == SQLITE_NOTADB) {
        mc_error_set(err, MC_EXIT_STORE, "store %s is not an sqlite database", path);
        mc_error_hint(err, "%s", writer ? "point store: / --store at a metacrawl catalog, "
                                          "or at a new file name to create one"
                                        : "point store: / --store at a metacrawl catalog");
        return;
    }
    mc_error_set(err, first->code, "%s", first->message);
    if (first->hint[0])
        mc_error_hint(err, "%s", first->hint);
}

static int check_not_truncated(store *s, mc_error *err)
{
    /* Read through SQLite's own descriptor of the file: opening and closing
     * one of ours would drop every POSIX lock this process holds on it,
     * SQLite's included (sqlite.org/howtocorrupt.html, 2.2), and another
     * thread's connection to this store may hold some. */
    unsigned char h[100];
    sqlite3_file *f = NULL;
    sqlite3_int64 size = 0;
    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
        !f || !f->pMethods || f->pMethods->xFileSize(f, &size) != SQLITE_OK ||
        size < (sqlite3_int64)sizeof h ||
        f->pMethods->xRead(f, h, (int)sizeof h, 0) != SQLITE_OK ||
        memcmp(h, "SQLite format 3", 16) != 0)
        return 0; /* empty, or not SQLite: the open says so */
    uint32_t page = (uint32_t)h[16] << 8 | h[17];
    uint64_t page_size = page == 1 ? 65536 : page;
    uint32_t counter = (uint32_t)h[24] << 24 | (uint32_t)h[25] << 16 | (uint32_t)h[26] << 8 | h[27];
    uint32_t valid = (uint32_t)h[92] << 24 | (uint32_t)h[93] << 16 | (uint32_t)h[94] << 8 | h[95];
    uint64_t pages = (uint64_t)h[28] << 24 | (uint64_t)h[29] << 16 | (uint64_t)h[30] << 8 | h[31];
    if (counter != valid || pages == 0 || (uint64_t)size >= pages * page_size)
        return 0;
    mc_error_set(err, MC_EXIT_STORE, "store %s is damaged: the file has %lld bytes, its header "
                 "says %llu", s->path, (long long)size,
                 (unsigned long long)(pages * page_size));
    mc_error_hint(err, "the file was cut off (a full disk, an interrupted copy?); restore it "
                       "from a backup");
    return -1;
}

/* "file:" URI of a path for sqlite3_open_v2 with SQLITE_OPEN_URI. */
static char *file_uri(const char *path, bool immutable)
{
    mc_buf b = {0};
    mc_buf_puts(&b, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#' || *p < 0x21 || *p >= 0x7f)
            mc_buf_printf(&b, "%%%02X", *p);
        else
            mc_buf_putc(&b, (char)*p);
    }
    mc_buf_puts(&b, immutable ? "?mode=ro&immutable=1" : "?mode=ro");
    return mc_buf_steal(&b);
}

static int open_ro_handle(store *s, bool immutable, mc_error *err)
{
    char *uri = file_uri(s->path, immutable);
    int rc = sqlite3_open_v2(uri, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        if (s->db)
            return db_fail(s, err, "open the store");
        return mc_error_set(err, MC_EXIT_STORE, "store: cannot open %s: out of memory",
                            s->path);
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 10000);
    return 0;
}

int store_open_read(const char *path, store **out, mc_error *err)
{
    *out = NULL;
    if (!path || !*path) {
        mc_error_set(err, MC_EXIT_STORE, "no store path given");
        mc_error_hint(err, "set store: in metacrawl.yml or pass --store PATH");
        return -1;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        mc_error_set(err, MC_EXIT_STORE, "no store at %s: %s", path, strerror(e));
        mc_error_hint(err, e == ENOENT ? "a crawl creates the store; check store: in the "
                                         "configuration or --store"
                                       : "check the path and its permissions");
        return -1;
    }
    if (S_ISDIR(sb.st_mode)) {
        mc_error_set(err, MC_EXIT_STORE, "store %s is a directory", path);
        mc_error_hint(err, "store: names the catalog file, e.g. %s/catalog.db", path);
        return -1;
    }
    store *s = mc_calloc(1, sizeof *s);
    s->lock_fd = -1;
    s->path = mc_strdup(path);
    s->read_only = true;
    if (gethostname(s->host, sizeof s->host - 1) != 0)
        strcpy(s->host, "localhost");
    if (open_ro_handle(s, false, err) < 0)
        goto fail;
    int64_t n_objects = 0;
    mc_error first = {0};
    int rc = query_i64(s, "SELECT count(*) FROM sqlite_master", NULL, &n_objects, NULL,
                       "read the store", &first);
    int code = rc < 0 ? sqlite3_extended_errcode(s->db) & 0xff : SQLITE_OK;
    if (rc < 0 && (code == SQLITE_CANTOPEN || code == SQLITE_READONLY)) {
        /* A WAL store in a directory we cannot write: SQLite cannot create
         * the -shm index.  Nobody can be writing it there (a writer needs
         * the directory too), so it is read as an immutable file. */
        char *dir = parent_dir(path);
        bool dir_ro = access(dir, W_OK) != 0;
        free(dir);
        if (dir_ro) {
            sqlite3_close(s->db);
            s->db = NULL;
            mc_error_clear(&first);
            if (open_ro_handle(s, true, err) < 0)
                goto fail;
            rc = query_i64(s, "SELECT count(*) FROM sqlite_master", NULL, &n_objects, NULL,
                           "read the store", &first);
            code = rc < 0 ? sqlite3_extended_errcode(s->db) & 0xff : SQLITE_OK;
        }
    }
    if (rc < 0) {
        first_read_error(path, code, &first, false, err);
        goto fail;
    }
    if (check_not_truncated(s, err) < 0)
        goto fail;
    int64_t version = 0;
    if (query_i64(s, "PRAGMA user_version", NULL, &version, NULL,
                  "read the store's schema version", err) < 0)
        goto fail;
    if (version == 0) {
        mc_error_set(err, MC_EXIT_STORE, n_objects ? "store %s is an sqlite database but not "
                                                     "a metacrawl store"
                                                   : "store %s is empty: not a metacrawl "
                                                     "store (yet)", path);
        mc_error_hint(err, "point store: / --store at a metacrawl catalog; a crawl creates "
                           "one");
        goto fail;
    }
    if (version > STORE_SCHEMA_VERSION) {
        mc_error_set(err, MC_EXIT_STORE,
                     "store was written by a newer metacrawl (schema %lld, this "
                     "build knows %d)", (long long)version, STORE_SCHEMA_VERSION);
        mc_error_hint(err, "upgrade metacrawl, or use another store file than %s", path);
        goto fail;
    }
    if (version < STORE_SCHEMA_VERSION) {
        mc_error_set(err, MC_EXIT_STORE, "store %s has schema %lld; this build reads %d",
                     path, (long long)version, STORE_SCHEMA_VERSION);
        mc_error_hint(err, "the next crawl (or `metacrawl alerts retry`) upgrades it; "
                           "reading commands never change a store");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return -1;
}

int store_open(const char *path, store **out, mc_error *err)
{
    return store_open_at_version(path, STORE_SCHEMA_VERSION, out, err);
}

void store_close(store *s)
{
    if (!s)
        return;
    store_outbox_unlock(s);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

int store_schema_version(store *s)
{
    int64_t v = 0;
    if (!s || query_i64(s, "PRAGMA user_version", NULL, &v, NULL,
                        "read the store's schema version", NULL) < 0)
        return -1;
    return (int)v;
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

int store_run_begin(store *s, const char *datastore, int64_t scheduled_for,
                    int64_t *run_id_out, mc_error *err)
{
    *run_id_out = 0;
    if (!datastore || !*datastore)
        return mc_error_set(err, MC_EXIT_STORE, "store: a run needs a datastore name");
    sqlite3_stmt *ins_ds = NULL, *ins_run = NULL;
    int64_t ds = 0;
    if (exec_sql(s, "BEGIN IMMEDIATE", "start a run", err) < 0)
        return -1;
    ins_ds = prep(s, "INSERT INTO datastores(name) VALUES (?1) "
                     "ON CONFLICT(name) DO NOTHING", "record the datastore", err);
    if (!ins_ds)
        goto fail;
    if (bind_text(ins_ds, 1, datastore)) {
        bind_fail(s, err, "record the datastore");
        goto fail;
    }
    if (run_stmt(s, ins_ds, "record the datastore", err) < 0 ||
        datastore_id(s, datastore, &ds, err) < 0)
        goto fail;
    ins_run = prep(s,
        "INSERT INTO runs(datastore_id, started_at, status, scheduled_for, pid, host, "
        "  heartbeat_at, process) "
        "VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?2, ?6)", "start a run", err);
    if (!ins_run)
        goto fail;
    char ident[128];
    process_identity(getpid(), ident, sizeof ident);
    int bad = bind_i64(ins_run, 1, ds) | bind_i64(ins_run, 2, mc_time_now()) |
              bind_i64_or_null(ins_run, 3, scheduled_for) |
              bind_i64(ins_run, 4, (int64_t)getpid()) |
              bind_text(ins_run, 5, s->host) | bind_text(ins_run, 6, ident[0] ? ident : NULL);
    if (bad) {
        bind_fail(s, err, "start a run");
        goto fail;
    }
    if (run_stmt(s, ins_run, "start a run", err) < 0)
        goto fail;
    int64_t id = (int64_t)sqlite3_last_insert_rowid(s->db);
    if (exec_sql(s, "COMMIT", "start a run", err) < 0)
        goto fail;
    sqlite3_finalize(ins_ds);
    sqlite3_finalize(ins_run);
    *run_id_out = id;
    return 0;
fail:
    sqlite3_finalize(ins_ds);
    sqlite3_finalize(ins_run);
    rollback(s);
    return -1;
}

int store_run_fail(store *s, int64_t run_id, const char *error_text,
                   mc_error *err)
{
    /* A run that finished ok or partial keeps its status: its catalog
     * writes are committed, and a later failure (say, an alert) does not
     * undo them. */
    sqlite3_stmt *st = prep(s,
        "UPDATE runs SET status = 'failed', finished_at = ?2, error = ?3 "
        "WHERE id = ?1 AND status IN ('running', 'failed')",
        "mark the run failed", err);
    if (!st)
        return -1;
    int ret = -1;
    int bad = bind_i64(st, 1, run_id) | bind_i64(st, 2, mc_time_now()) |
              bind_text(st, 3, error_text ? error_text : "failed");
    if (bad) {
        bind_fail(s, err, "mark the run failed");
        goto out;
    }
    /* A single statement outside a transaction is its own transaction. */
    if (run_stmt(s, st, "mark the run failed", err) < 0)
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
    sqlite3_stmt *st = prep(s,
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
    if (bind_text(st, 1, datastore)) {
        bind_fail(s, err, "read the datastore's state");
        goto out;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->known = true;
        out->stale_since = col_i64(st, 0);
        out->paused_at = col_i64(st, 1);
        const char *by = (const char *)sqlite3_column_text(st, 2);
        snprintf(out->paused_by, sizeof out->paused_by, "%s", by ? by : "");
        out->n_runs = col_i64(st, 3);
        out->first_run_at = col_i64(st, 4);
        out->last_run_id = col_i64(st, 5);
        out->last_status = run_status_parse((const char *)sqlite3_column_text(st, 6));
        out->last_success_id = col_i64(st, 7);
        out->last_success_at = col_i64(st, 8);
        out->last_success_end = col_i64(st, 9);
        out->running = col_i64(st, 10) != 0;
    } else if (rc != SQLITE_DONE) {
        db_fail(s, err, "read the datastore's state");
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
    sqlite3_stmt *ins = NULL, *upd = NULL;
    if (exec_sql(s, "BEGIN IMMEDIATE", "record the pause", err) < 0)
        return -1;
    ins = prep(s, "INSERT INTO datastores(name) VALUES (?1) ON CONFLICT(name) DO NOTHING",
               "record the datastore", err);
    if (!ins)
        goto fail;
    if (bind_text(ins, 1, datastore)) {
        bind_fail(s, err, "record the datastore");
        goto fail;
    }
    if (run_stmt(s, ins, "record the datastore", err) < 0)
        goto fail;
    upd = prep(s, paused
        ? "UPDATE datastores SET paused_at = ?2, paused_by = ?3 "
          "WHERE name = ?1 AND paused_at IS NULL"
        : "UPDATE datastores SET paused_at = NULL, paused_by = NULL "
          "WHERE name = ?1 AND paused_at IS NOT NULL",
        "record the pause", err);
    if (!upd)
        goto fail;
    if (bind_text(upd, 1, datastore) ||
        (paused && (bind_i64(upd, 2, mc_time_now()) | bind_text(upd, 3, by)))) {
        bind_fail(s, err, "record the pause");
        goto fail;
    }
    if (run_stmt(s, upd, "record the pause", err) < 0)
        goto fail;
    *changed_out = sqlite3_changes(s->db) > 0;
    if (exec_sql(s, "COMMIT", "record the pause", err) < 0)
        goto fail;
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    return 0;
fail:
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    rollback(s);
    return -1;
}

int store_record_staleness(store *s, const char *datastore, bool stale, int64_t now,
                           int64_t last_success, bool *recorded_out, mc_error *err)
{
    *recorded_out = false;
    sqlite3_stmt *sel = NULL, *ins = NULL, *outbox = NULL, *upd = NULL;
    if (exec_sql(s, "BEGIN IMMEDIATE", "record the staleness", err) < 0)
        return -1;
    sel = prep(s, "SELECT d.id, d.stale_since, (SELECT max(id) FROM runs r "
                  "WHERE r.datastore_id = d.id) FROM datastores d WHERE d.name = ?1",
               "read the staleness", err);
    if (!sel)
        goto fail;
    if (bind_text(sel, 1, datastore)) {
        bind_fail(s, err, "read the staleness");
        goto fail;
    }
    int rc = sqlite3_step(sel);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(s, err, "read the staleness");
        goto fail;
    }
    int64_t ds = rc == SQLITE_ROW ? col_i64(sel, 0) : 0;
    bool was_stale = rc == SQLITE_ROW && sqlite3_column_type(sel, 1) != SQLITE_NULL;
    int64_t run = rc == SQLITE_ROW ? col_i64(sel, 2) : 0;
    if (!ds || !run || was_stale == stale) {
        exec_sql(s, "COMMIT", "record the staleness", err);
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
    ins = prep(s, "INSERT INTO changes(run_id, datastore_id, kind, schema_name, attribute, "
                  "\"after\", breaking) VALUES (?1, ?2, ?3, '', ?4, ?5, 0)",
               "record a change", err);
    upd = prep(s, "UPDATE datastores SET stale_since = ?2 WHERE id = ?1",
               "record the staleness", err);
    if (!ins || !upd)
        goto fail;
    if (bind_i64(ins, 1, run) | bind_i64(ins, 2, ds) |
        bind_text(ins, 3, mc_change_kind_name(ch.kind)) | bind_text(ins, 4, ch.attribute) |
        bind_text(ins, 5, ch.after)) {
        bind_fail(s, err, "record a change");
        goto fail;
    }
    if (run_stmt(s, ins, "record a change", err) < 0)
        goto fail;
    int64_t change_id = (int64_t)sqlite3_last_insert_rowid(s->db);
    const store_outbox_rules *r = s->rules;
    if (r && r->n) {
        outbox = prep(s, "INSERT INTO alert_outbox(alert, change_id, queued_at) "
                         "VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING", "queue an alert", err);
        if (!outbox)
            goto fail;
        for (size_t i = 0; i < r->n; i++) {
            if (!r->wants(r->arg, i, datastore, &ch))
                continue;
            if (bind_text(outbox, 1, r->names[i]) | bind_i64(outbox, 2, change_id) |
                bind_i64(outbox, 3, now)) {
                bind_fail(s, err, "queue an alert");
                goto fail;
            }
            if (run_stmt(s, outbox, "queue an alert", err) < 0)
                goto fail;
        }
    }
    if (bind_i64(upd, 1, ds) | bind_i64_or_null(upd, 2, stale ? now : 0)) {
        bind_fail(s, err, "record the staleness");
        goto fail;
    }
    if (run_stmt(s, upd, "record the staleness", err) < 0 ||
        exec_sql(s, "COMMIT", "record the staleness", err) < 0)
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
    rollback(s);
    return -1;
}

#define RUN_COLUMNS                                                            \
    "r.id, d.name, r.started_at, r.finished_at, r.status, r.dialect, "        \
    "r.server_version, r.n_schemas, r.n_containers, r.n_fields, r.n_changes, " \
    "r.n_held_back, r.error, r.scheduled_for, r.pid, r.host, r.process, "     \
    "r.heartbeat_at "                                                           \
    "FROM runs r JOIN datastores d ON d.id = r.datastore_id "

static void read_run(sqlite3_stmt *st, mc_arena *a, mc_run *r)
{
    r->id = col_i64(st, 0);
    r->datastore = col_text(st, 1, a);
    r->started_at = col_i64(st, 2);
    r->finished_at = col_i64(st, 3);
    r->status = run_status_parse((const char *)sqlite3_column_text(st, 4));
    r->dialect = col_text(st, 5, a);
    r->server_version = col_text(st, 6, a);
    r->n_schemas = col_i64(st, 7);
    r->n_containers = col_i64(st, 8);
    r->n_fields = col_i64(st, 9);
    r->n_changes = col_i64(st, 10);
    r->n_held_back = col_i64(st, 11);
    r->error = col_text(st, 12, a);
    r->scheduled_for = col_i64(st, 13);
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
            run_process_gone(s, col_i64(st, 14), (const char *)sqlite3_column_text(st, 15),
                             (const char *)sqlite3_column_text(st, 16), col_i64(st, 17),
                             mc_time_now())) {
            tmp[n].status = MC_RUN_FAILED;
            tmp[n].error = INTERRUPTED_TEXT;
            tmp[n].finished_at = col_i64(st, 17) ? col_i64(st, 17) : tmp[n].started_at;
        }
        n++;
    }
    if (rc != SQLITE_DONE) {
        free(tmp);
        mc_arena_free(out->arena);
        out->arena = NULL;
        return db_fail(s, err, "list runs");
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
    sqlite3_stmt *st = prep(s, datastore
        ? "SELECT " RUN_COLUMNS "WHERE r.datastore_id = "
          "(SELECT id FROM datastores WHERE name = ?1) ORDER BY r.id DESC LIMIT ?2"
        : "SELECT " RUN_COLUMNS "WHERE ?1 IS NULL ORDER BY r.id DESC LIMIT ?2",
        "list runs", err);
    if (!st)
        return -1;
    int ret;
    if (bind_text(st, 1, datastore) |
        bind_i64(st, 2, limit ? (int64_t)limit : -1))
        ret = bind_fail(s, err, "list runs");
    else
        ret = collect_runs(s, st, out, err);
    sqlite3_finalize(st);
    return ret;
}

int store_get_run(store *s, int64_t run_id, mc_run_list *out, mc_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = prep(s, "SELECT " RUN_COLUMNS "WHERE r.id = ?1",
                            "read a run", err);
    if (!st)
        return -1;
    int ret;
    if (bind_i64(st, 1, run_id))
        ret = bind_fail(s, err, "read a run");
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
    sqlite3_stmt *st = prep(s,
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
        db_fail(s, err, "list datastores");
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

/* ---- loading catalogs ----------------------------------------------------- */

/* Each query comes in two forms: the current versions (valid_to IS NULL, the
 * partial indexes) and the versions valid for run ?2 (invariant 1). */
#define VALID_AT(t) "(" t ".valid_from <= ?2 AND (" t ".valid_to IS NULL OR " \
                    t ".valid_to > ?2))"

static const char *const sql_schemas[2] = {
    "SELECT id, name, oid, owner, comment, external FROM schema_versions "
    "WHERE datastore_id = ?1 AND valid_to IS NULL ORDER BY name",
    "SELECT id, name, oid, owner, comment, external FROM schema_versions s "
    "WHERE datastore_id = ?1 AND " VALID_AT("s") " ORDER BY name",
};

#define CONTAINER_COLUMNS                                                      \
    "SELECT cv.id, cv.container_id, cv.schema_name, cv.name, cv.oid, cv.kind, " \
    "cv.owner, cv.comment, cv.definition, cv.primary_key, cv.foreign_keys, "   \
    "cv.dist_style, cv.sort_key, c.current_hash, c.row_estimate, "             \
    "cv.extension, cv.read_rules, c.partitions "                               \
    "FROM containers c JOIN container_versions cv ON cv.container_id = c.id "

static const char *const sql_containers[2] = {
    CONTAINER_COLUMNS "WHERE c.datastore_id = ?1 AND cv.valid_to IS NULL "
    "ORDER BY cv.schema_name, cv.name",
    CONTAINER_COLUMNS "WHERE c.datastore_id = ?1 AND " VALID_AT("cv")
    " ORDER BY cv.schema_name, cv.name",
};

#define FIELD_COLUMNS                                                          \
    "SELECT fv.id, fv.container_id, fv.name, fv.attnum, fv.position, fv.type, " \
    "fv.not_null, fv.default_expr, fv.comment, fv.encoding, fv.identity, "    \
    "fv.generated "

/* The current fields of one container. */
static const char sql_fields_one[] =
    FIELD_COLUMNS "FROM field_versions fv "
    "WHERE fv.container_id = ?1 AND fv.valid_to IS NULL ORDER BY fv.position";

/* All fields of a datastore, grouped by container.  The IN form makes
 * SQLite walk the datastore's container ids in order and probe the field
 * index for each, so the current fields come out sorted without a sort. */
static const char *const sql_fields_all[2] = {
    FIELD_COLUMNS "FROM field_versions fv "
    "WHERE fv.container_id IN (SELECT id FROM containers WHERE datastore_id = ?1) "
    "AND fv.valid_to IS NULL ORDER BY fv.container_id, fv.position",
    FIELD_COLUMNS "FROM field_versions fv "
    "WHERE fv.container_id IN (SELECT id FROM containers WHERE datastore_id = ?1) "
    "AND " VALID_AT("fv") " ORDER BY fv.container_id, fv.position",
};

static int bind_ds_run(store *s, sqlite3_stmt *st, int64_t ds, int64_t run,
                       const char *what, mc_error *err)
{
    int bad = bind_i64(st, 1, ds);
    if (run)
        bad |= bind_i64(st, 2, run);
    return bad ? bind_fail(s, err, what) : 0;
}

static int load_schemas(store *s, mc_catalog *cat, int64_t ds, int64_t run,
                        mc_error *err)
{
    const char *what = "load schemas";
    sqlite3_stmt *st = prep(s, sql_schemas[run != 0], what, err);
    if (!st || bind_ds_run(s, st, ds, run, what, err) < 0) {
        sqlite3_finalize(st);
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mc_schema *sc = mc_catalog_add_schema(cat);
        sc->store_id = col_i64(st, 0);
        sc->name = col_text(st, 1, cat->arena);
        sc->oid = col_i64(st, 2);
        sc->owner = col_text(st, 3, cat->arena);
        sc->comment = col_text(st, 4, cat->arena);
        sc->external = sqlite3_column_int(st, 5) != 0;
        sc->usable = true;
    }
    int ret = rc == SQLITE_DONE ? 0 : db_fail(s, err, what);
    sqlite3_finalize(st);
    return ret;
}

/* One container by name (show DS.SCHEMA.TABLE): the name index, not the
 * datastore's whole catalog. */
static const char *const sql_container_named[2] = {
    CONTAINER_COLUMNS "WHERE c.datastore_id = ?1 AND cv.valid_to IS NULL "
    "AND cv.schema_name = ?3 AND cv.name = ?4",
    CONTAINER_COLUMNS "WHERE c.datastore_id = ?1 AND " VALID_AT("cv")
    " AND cv.schema_name = ?3 AND cv.name = ?4",
};

/* The fields of one container, current or as of run ?2. */
static const char *const sql_fields_of[2] = {
    FIELD_COLUMNS "FROM field_versions fv "
    "WHERE fv.container_id = ?1 AND fv.valid_to IS NULL ORDER BY fv.position",
    FIELD_COLUMNS "FROM field_versions fv "
    "WHERE fv.container_id = ?1 AND " VALID_AT("fv") " ORDER BY fv.position",
};

static int load_containers_where(store *s, mc_catalog *cat, int64_t ds, int64_t run,
                                 const char *schema, const char *name, mc_error *err);

static int load_containers(store *s, mc_catalog *cat, int64_t ds, int64_t run,
                           mc_error *err)
{
    return load_containers_where(s, cat, ds, run, NULL, NULL, err);
}

/* schema and name NULL: every container of the datastore. */
static int load_containers_where(store *s, mc_catalog *cat, int64_t ds, int64_t run,
                                 const char *schema, const char *name, mc_error *err)
{
    const char *what = "load containers";
    sqlite3_stmt *st = prep(s, name ? sql_container_named[run != 0]
                                    : sql_containers[run != 0], what, err);
    if (!st || bind_ds_run(s, st, ds, run, what, err) < 0 ||
        (name && (bind_text(st, 3, schema) | bind_text(st, 4, name)) &&
         bind_fail(s, err, what) < 0)) {
        sqlite3_finalize(st);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mc_container *k = mc_catalog_add_container(cat);
        k->store_id = col_i64(st, 0);
        k->store_key = col_i64(st, 1);
        k->schema = col_text(st, 2, cat->arena);
        k->name = col_text(st, 3, cat->arena);
        k->oid = col_i64(st, 4);
        const char *kind = (const char *)sqlite3_column_text(st, 5);
        int kv = mc_kind_parse(kind);
        if (kv < 0) {
            ret = mc_error_set(err, MC_EXIT_STORE, "store: container %s.%s has "
                               "an unknown kind '%s'", k->schema, k->name,
                               kind ? kind : "");
            break;
        }
        k->kind = (mc_kind)kv;
        k->owner = col_text(st, 6, cat->arena);
        k->comment = col_text(st, 7, cat->arena);
        k->definition = col_text(st, 8, cat->arena);
        k->primary_key = col_text(st, 9, cat->arena);
        k->foreign_keys = col_text(st, 10, cat->arena);
        k->dist_style = col_text(st, 11, cat->arena);
        k->sort_key = col_text(st, 12, cat->arena);
        k->hash = (uint64_t)col_i64(st, 13);
        k->row_estimate = sqlite3_column_type(st, 14) == SQLITE_NULL
                              ? -1 : sqlite3_column_double(st, 14);
        k->extension = col_text(st, 15, cat->arena);
        k->legacy = sqlite3_column_int(st, 16) < STORE_READ_RULES;
        k->partitions = col_text(st, 17, cat->arena);
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(s, err, what);
    sqlite3_finalize(st);
    return ret;
}

static void read_field(sqlite3_stmt *st, mc_catalog *cat, mc_field *f)
{
    f->store_id = col_i64(st, 0);
    f->name = col_text(st, 2, cat->arena);
    f->attnum = (int32_t)sqlite3_column_int(st, 3);
    f->position = (int32_t)sqlite3_column_int(st, 4);
    f->type = col_text(st, 5, cat->arena);
    f->not_null = sqlite3_column_int(st, 6) != 0;
    f->default_expr = col_text(st, 7, cat->arena);
    f->comment = col_text(st, 8, cat->arena);
    f->encoding = col_text(st, 9, cat->arena);
    f->identity = col_text(st, 10, cat->arena);
    f->generated = col_text(st, 11, cat->arena);
}

/* A container's stable id and its index in a catalog. */
typedef struct key_index {
    int64_t key;
    size_t idx;
} key_index;

static int key_index_cmp(const void *a, const void *b)
{
    const key_index *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

static const key_index *key_find(const key_index *m, size_t n, int64_t key)
{
    key_index probe = {key, 0};
    return bsearch(&probe, m, n, sizeof *m, key_index_cmp);
}

/*
 * Runs a fields query grouped by container_id and appends each group whose
 * container is in map to cat->fields, as that container's fields.
 */
static int append_field_groups(store *s, sqlite3_stmt *st, mc_catalog *cat,
                               const key_index *map, size_t n_map,
                               const char *what, mc_error *err)
{
    int rc;
    int64_t cur_key = 0;
    mc_container *k = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t key = col_i64(st, 1);
        if (key != cur_key) {
            cur_key = key;
            const key_index *hit = key_find(map, n_map, key);
            k = hit ? &cat->containers[hit->idx] : NULL;
            if (k) {
                k->first_field = cat->n_fields;
                k->n_fields = 0;
                k->fields_loaded = true;
            }
        }
        if (!k)
            continue;
        read_field(st, cat, mc_catalog_add_field(cat));
        k->n_fields++;
    }
    return rc == SQLITE_DONE ? 0 : db_fail(s, err, what);
}

int store_load_fields(store *s, mc_catalog *cat, const size_t *container_idx,
                      size_t n, mc_error *err)
{
    const char *what = "load fields";
    /* Which containers still need fields, by stable id. */
    key_index *map = n ? mc_malloc(n * sizeof *map) : NULL;
    size_t n_map = 0;
    for (size_t i = 0; i < n; i++) {
        size_t ci = container_idx[i];
        if (ci >= cat->n_containers) {
            free(map);
            return mc_error_set(err, MC_EXIT_STORE, "store: cannot load fields: "
                                "container index %zu out of range", ci);
        }
        mc_container *k = &cat->containers[ci];
        if (k->fields_loaded)
            continue;
        if (k->store_key <= 0) {
            free(map);
            return mc_error_set(err, MC_EXIT_STORE, "store: cannot load fields "
                                "of %s.%s: it did not come from the store",
                                k->schema, k->name);
        }
        map[n_map].key = k->store_key;
        map[n_map].idx = ci;
        n_map++;
    }
    if (n_map == 0) {
        free(map);
        return 0;
    }
    qsort(map, n_map, sizeof *map, key_index_cmp);
    size_t n_unique = 1; /* a container asked for twice is loaded once */
    for (size_t i = 1; i < n_map; i++)
        if (map[i].key != map[n_unique - 1].key)
            map[n_unique++] = map[i];
    n_map = n_unique;
    /* Mark every requested container loaded even if it has no fields. */
    for (size_t i = 0; i < n_map; i++) {
        mc_container *k = &cat->containers[map[i].idx];
        k->first_field = cat->n_fields;
        k->n_fields = 0;
        k->fields_loaded = true;
    }

    int ret = -1;
    sqlite3_stmt *st = NULL;
    if (n_map * 4 > cat->n_containers) {
        /* Many containers: one pass over the datastore's current fields is
         * cheaper than one index probe per container. */
        int64_t ds = 0;
        bool found;
        sqlite3_stmt *q = prep(s, "SELECT datastore_id FROM containers WHERE id = ?1",
                               what, err);
        if (!q)
            goto out;
        int rc = bind_i64(q, 1, map[0].key) ? -1 : sqlite3_step(q);
        found = rc == SQLITE_ROW;
        ds = found ? col_i64(q, 0) : 0;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            db_fail(s, err, what);
            sqlite3_finalize(q);
            goto out;
        }
        sqlite3_finalize(q);
        if (!found) {
            mc_error_set(err, MC_EXIT_STORE, "store: cannot load fields: "
                         "container %lld is not in the store",
                         (long long)map[0].key);
            goto out;
        }
        st = prep(s, sql_fields_all[0], what, err);
        if (!st || bind_ds_run(s, st, ds, 0, what, err) < 0)
            goto out;
        if (append_field_groups(s, st, cat, map, n_map, what, err) < 0)
            goto out;
    } else {
        st = prep(s, sql_fields_one, what, err);
        if (!st)
            goto out;
        for (size_t i = 0; i < n_map; i++) {
            if (bind_i64(st, 1, map[i].key)) {
                bind_fail(s, err, what);
                goto out;
            }
            int rc = append_field_groups(s, st, cat, map + i, 1, what, err);
            sqlite3_reset(st);
            if (rc < 0)
                goto out;
        }
    }
    ret = 0;
out:
    if (ret < 0) /* leave no container half loaded */
        for (size_t i = 0; i < n_map; i++) {
            cat->containers[map[i].idx].fields_loaded = false;
            cat->containers[map[i].idx].n_fields = 0;
        }
    sqlite3_finalize(st);
    free(map);
    return ret;
}

/* The runs recorded (ok or partial) for a datastore, with the newest of
 * them: the stamp that tells whether someone committed in between. */
static int recorded_runs(store *s, int64_t ds, int64_t *n_out, int64_t *newest_out,
                         mc_error *err)
{
    const char *what = "count the recorded runs";
    *n_out = 0;
    if (newest_out)
        *newest_out = 0;
    sqlite3_stmt *st = prep(s, "SELECT count(*), coalesce(max(id), 0) FROM runs "
                               "WHERE datastore_id = ?1 AND status IN ('ok', 'partial')",
                            what, err);
    if (!st)
        return -1;
    int rc = bind_i64(st, 1, ds) ? -1 : sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n_out = col_i64(st, 0);
        if (newest_out)
            *newest_out = col_i64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_fail(s, err, what);
}

int store_load_current(store *s, const char *datastore, mc_catalog **out,
                       mc_error *err)
{
    *out = NULL;
    int64_t ds = 0, n_recorded = 0;
    if (datastore_id(s, datastore, &ds, err) < 0)
        return -1;
    /* Counted before the catalog is read: a commit in between makes the
     * check at commit refuse (safe), never miss. */
    if (ds && recorded_runs(s, ds, &n_recorded, NULL, err) < 0)
        return -1;
    mc_catalog *cat = mc_catalog_new();
    cat->store_commits = 1 + n_recorded;
    if (ds && (load_schemas(s, cat, ds, 0, err) < 0 ||
               load_containers(s, cat, ds, 0, err) < 0)) {
        mc_catalog_free(cat);
        return -1;
    }
    *out = cat;
    return 0;
}

/* Checks that run_id (0 = the latest) is a run of datastore ds. */
static int check_run_of(store *s, const char *datastore, int64_t ds, int64_t run_id,
                        mc_error *err)
{
    const char *what = "load the catalog";
    if (run_id != 0) {
        int64_t run_ds;
        bool found;
        sqlite3_stmt *q = prep(s, "SELECT datastore_id FROM runs WHERE id = ?1",
                               what, err);
        if (!q)
            return -1;
        int rc = bind_i64(q, 1, run_id) ? -1 : sqlite3_step(q);
        found = rc == SQLITE_ROW;
        run_ds = found ? col_i64(q, 0) : 0;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            db_fail(s, err, what);
            sqlite3_finalize(q);
            return -1;
        }
        sqlite3_finalize(q);
        if (!found || !ds || run_ds != ds) {
            mc_error_set(err, MC_EXIT_USAGE, "run %lld is not a run of "
                         "datastore %s", (long long)run_id, datastore);
            mc_error_hint(err, "metacrawl history %s lists its runs", datastore);
            return -1;
        }
    }
    return 0;
}

int store_load_container(store *s, const char *datastore, int64_t run_id,
                         const char *schema, const char *name, mc_catalog **out,
                         mc_error *err)
{
    *out = NULL;
    const char *what = "load a container";
    int64_t ds = 0;
    if (datastore_id(s, datastore, &ds, err) < 0 ||
        check_run_of(s, datastore, ds, run_id, err) < 0)
        return -1;
    mc_catalog *cat = mc_catalog_new();
    sqlite3_stmt *st = NULL;
    if (ds && load_containers_where(s, cat, ds, run_id, schema, name, err) < 0)
        goto fail;
    if (cat->n_containers > 0) {
        mc_container *k = &cat->containers[0];
        key_index map = {k->store_key, 0};
        k->fields_loaded = true;
        st = prep(s, sql_fields_of[run_id != 0], what, err);
        if (!st || bind_i64(st, 1, k->store_key) ||
            (run_id && bind_i64(st, 2, run_id))) {
            if (st)
                bind_fail(s, err, what);
            goto fail;
        }
        if (append_field_groups(s, st, cat, &map, 1, what, err) < 0)
            goto fail;
        sqlite3_finalize(st);
    }
    *out = cat;
    return 0;
fail:
    sqlite3_finalize(st);
    mc_catalog_free(cat);
    return -1;
}

int store_load_as_of(store *s, const char *datastore, int64_t run_id,
                     mc_catalog **out, mc_error *err)
{
    *out = NULL;
    const char *what = "load the catalog";
    int64_t ds = 0;
    if (datastore_id(s, datastore, &ds, err) < 0 ||
        check_run_of(s, datastore, ds, run_id, err) < 0)
        return -1;
    mc_catalog *cat = mc_catalog_new();
    *out = cat;
    if (!ds)
        return 0;
    sqlite3_stmt *st = NULL;
    key_index *map = NULL;
    uint64_t *recorded = NULL;
    if (load_schemas(s, cat, ds, run_id, err) < 0 ||
        load_containers(s, cat, ds, run_id, err) < 0)
        goto fail;
    map = mc_malloc((cat->n_containers ? cat->n_containers : 1) * sizeof *map);
    for (size_t i = 0; i < cat->n_containers; i++) {
        map[i].key = cat->containers[i].store_key;
        map[i].idx = i;
        cat->containers[i].fields_loaded = true;
    }
    qsort(map, cat->n_containers, sizeof *map, key_index_cmp);
    st = prep(s, sql_fields_all[run_id != 0], what, err);
    if (!st || bind_ds_run(s, st, ds, run_id, what, err) < 0 ||
        append_field_groups(s, st, cat, map, cat->n_containers, what, err) < 0)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;

    /* mc_catalog_finish lays the fields out in container order (as a
     * discovered catalog has them) and hashes each container.  An older
     * catalog keeps those hashes; the current one keeps the recorded ones,
     * which carry the hold-back mark (0) the next diff relies on. */
    if (run_id == 0) {
        recorded = mc_malloc((cat->n_containers + 1) * sizeof *recorded);
        for (size_t i = 0; i < cat->n_containers; i++)
            recorded[i] = cat->containers[i].hash;
    }
    mc_catalog_finish(cat);
    if (recorded)
        for (size_t i = 0; i < cat->n_containers; i++)
            cat->containers[i].hash = recorded[i];
    free(recorded);
    free(map);
    return 0;
fail:
    sqlite3_finalize(st);
    free(map);
    mc_catalog_free(cat);
    *out = NULL;
    return -1;
}

/* ---- recording a run ------------------------------------------------------ */

/* What has been done to an object of prev in this commit. */
enum { DONE_VERSIONED = 1, DONE_REMOVED = 2 };

typedef struct commit_ctx {
    store *s;
    int64_t run, ds;
    char *ds_name;    /* the datastore's name, for the outbox rules */
    const mc_catalog *prev, *cur;
    const ptrdiff_t *cur_to_prev;
    mc_error *err;
    unsigned char *schema_done, *container_done, *field_done;
    unsigned char *cur_schema_added, *cur_field_added;
    int64_t *new_key; /* containers row of a cur container added here */
    sqlite3_stmt *ins_schema, *close_schema, *ins_container, *ins_cversion,
        *close_cversion, *close_cfields, *set_container, *set_oid, *set_rules,
        *ins_field,
        *close_field, *ins_change, *finish_run;
    sqlite3_stmt *ins_outbox; /* prepared only when rules are set */
} commit_ctx;

static const struct {
    size_t offset;
    const char *sql;
} commit_sql[] = {
    {offsetof(commit_ctx, ins_schema),
     "INSERT INTO schema_versions(datastore_id, name, oid, owner, comment, "
     "external, valid_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    {offsetof(commit_ctx, close_schema),
     "UPDATE schema_versions SET valid_to = ?2 "
     "WHERE id = ?1 AND datastore_id = ?3 AND valid_to IS NULL"},
    {offsetof(commit_ctx, ins_container),
     "INSERT INTO containers(datastore_id, current_hash, row_estimate, partitions) "
     "VALUES (?1, ?2, ?3, ?4)"},
    {offsetof(commit_ctx, ins_cversion),
     "INSERT INTO container_versions(container_id, schema_name, name, oid, kind, "
     "owner, comment, definition, primary_key, foreign_keys, dist_style, "
     "sort_key, valid_from, extension, read_rules) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"},
    {offsetof(commit_ctx, close_cversion),
     "UPDATE container_versions SET valid_to = ?3 "
     "WHERE id = ?1 AND container_id = ?2 AND valid_to IS NULL"},
    {offsetof(commit_ctx, close_cfields),
     "UPDATE field_versions SET valid_to = ?2 "
     "WHERE container_id = ?1 AND valid_to IS NULL"},
    {offsetof(commit_ctx, set_container),
     "UPDATE containers SET current_hash = ?2, row_estimate = ?3, partitions = ?5 "
     "WHERE id = ?1 AND datastore_id = ?4"},
    {offsetof(commit_ctx, set_oid),
     "UPDATE container_versions SET oid = ?2 "
     "WHERE id = ?1 AND container_id = ?3 AND valid_to IS NULL"},
    {offsetof(commit_ctx, set_rules),
     "UPDATE container_versions SET read_rules = ?2 "
     "WHERE id = ?1 AND container_id = ?3 AND valid_to IS NULL AND read_rules < ?2"},
    {offsetof(commit_ctx, ins_field),
     "INSERT INTO field_versions(container_id, name, attnum, position, type, "
     "not_null, default_expr, comment, encoding, valid_from, identity, generated) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"},
    {offsetof(commit_ctx, close_field),
     "UPDATE field_versions SET valid_to = ?3 "
     "WHERE id = ?1 AND container_id = ?2 AND valid_to IS NULL"},
    {offsetof(commit_ctx, ins_change),
     "INSERT INTO changes(run_id, datastore_id, container_id, kind, schema_name, "
     "container_name, field_name, attribute, \"before\", \"after\", breaking) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
    {offsetof(commit_ctx, finish_run),
     "UPDATE runs SET status = ?2, finished_at = ?3, dialect = ?4, "
     "server_version = ?5, n_schemas = ?6, n_containers = ?7, n_fields = ?8, "
     "n_changes = ?9, n_held_back = ?10, error = ?11 "
     "WHERE id = ?1 AND status = 'running'"},
};

#define N_COMMIT_SQL (sizeof commit_sql / sizeof commit_sql[0])

static sqlite3_stmt **ctx_stmt(commit_ctx *c, size_t i)
{
    return (sqlite3_stmt **)(void *)((char *)c + commit_sql[i].offset);
}

/* Runs a bound write that must touch exactly one row (a version to close
 * that is no longer current means prev is stale). */
static int write_one(commit_ctx *c, sqlite3_stmt *st, const char *what)
{
    if (run_stmt(c->s, st, what, c->err) < 0)
        return -1;
    if (sqlite3_changes(c->s->db) != 1) {
        mc_error_set(c->err, MC_EXIT_STORE, "store: cannot %s: the stored "
                     "version is no longer current", what);
        mc_error_hint(c->err, "another process recorded a crawl of this "
                      "datastore meanwhile; crawl again");
        return -1;
    }
    return 0;
}

static int bad_change(commit_ctx *c, size_t i, const mc_change *ch,
                      const char *why)
{
    mc_error_set(c->err, MC_EXIT_STORE,
                 "store: cannot record change %zu (%s %s%s%s%s%s): %s", i,
                 mc_change_kind_name(ch->kind), ch->schema ? ch->schema : "?",
                 ch->container ? "." : "", ch->container ? ch->container : "",
                 ch->field ? "." : "", ch->field ? ch->field : "", why);
    mc_error_hint(c->err, "this is a bug in metacrawl; the store was left "
                  "unchanged");
    return -1;
}

static int insert_schema(commit_ctx *c, const mc_schema *sc)
{
    sqlite3_stmt *st = c->ins_schema;
    int bad = bind_i64(st, 1, c->ds) | bind_text(st, 2, sc->name) |
              bind_i64_or_null(st, 3, sc->oid) | bind_text(st, 4, sc->owner) |
              bind_text(st, 5, sc->comment) | bind_i64(st, 6, sc->external) |
              bind_i64(st, 7, c->run);
    if (bad)
        return bind_fail(c->s, c->err, "insert a schema version");
    return run_stmt(c->s, st, "insert a schema version", c->err);
}

static int close_schema(commit_ctx *c, const mc_schema *sc)
{
    sqlite3_stmt *st = c->close_schema;
    if (bind_i64(st, 1, sc->store_id) | bind_i64(st, 2, c->run) |
        bind_i64(st, 3, c->ds))
        return bind_fail(c->s, c->err, "close a schema version");
    return write_one(c, st, "close a schema version");
}

static int insert_cversion(commit_ctx *c, int64_t key, const mc_container *k)
{
    sqlite3_stmt *st = c->ins_cversion;
    int bad = bind_i64(st, 1, key) | bind_text(st, 2, k->schema) |
              bind_text(st, 3, k->name) | bind_i64_or_null(st, 4, k->oid) |
              bind_text(st, 5, mc_kind_name(k->kind)) |
              bind_text(st, 6, k->owner) | bind_text(st, 7, k->comment) |
              bind_text(st, 8, k->definition) |
              bind_text(st, 9, k->primary_key) |
              bind_text(st, 10, k->foreign_keys) |
              bind_text(st, 11, k->dist_style) | bind_text(st, 12, k->sort_key) |
              bind_i64(st, 13, c->run) | bind_text(st, 14, k->extension) |
              bind_i64(st, 15, STORE_READ_RULES);
    if (bad)
        return bind_fail(c->s, c->err, "insert a container version");
    return run_stmt(c->s, st, "insert a container version", c->err);
}

static int close_cversion(commit_ctx *c, const mc_container *k)
{
    sqlite3_stmt *st = c->close_cversion;
    if (bind_i64(st, 1, k->store_id) | bind_i64(st, 2, k->store_key) |
        bind_i64(st, 3, c->run))
        return bind_fail(c->s, c->err, "close a container version");
    return write_one(c, st, "close a container version");
}

static int insert_field(commit_ctx *c, int64_t key, const mc_field *f)
{
    sqlite3_stmt *st = c->ins_field;
    int bad = bind_i64(st, 1, key) | bind_text(st, 2, f->name) |
              bind_i64_or_null(st, 3, f->attnum) | bind_i64(st, 4, f->position) |
              bind_text(st, 5, f->type) | bind_i64(st, 6, f->not_null) |
              bind_text(st, 7, f->default_expr) | bind_text(st, 8, f->comment) |
              bind_text(st, 9, f->encoding) | bind_i64(st, 10, c->run) |
              bind_text(st, 11, f->identity) | bind_text(st, 12, f->generated);
    if (bad)
        return bind_fail(c->s, c->err, "insert a field version");
    return run_stmt(c->s, st, "insert a field version", c->err);
}

static int close_field(commit_ctx *c, int64_t key, const mc_field *f)
{
    sqlite3_stmt *st = c->close_field;
    if (bind_i64(st, 1, f->store_id) | bind_i64(st, 2, key) |
        bind_i64(st, 3, c->run))
        return bind_fail(c->s, c->err, "close a field version");
    return write_one(c, st, "close a field version");
}

static int set_container(commit_ctx *c, const mc_container *pk, uint64_t hash,
                         double estimate, const char *partitions)
{
    sqlite3_stmt *st = c->set_container;
    if (bind_i64(st, 1, pk->store_key) | bind_i64(st, 2, (int64_t)hash) |
        bind_estimate(st, 3, estimate) | bind_i64(st, 4, c->ds) |
        bind_text(st, 5, partitions))
        return bind_fail(c->s, c->err, "update a container");
    return write_one(c, st, "update a container");
}

/* Checks that a prev container can be written through: it came from the
 * store (and, when fields are needed, with its fields). */
static const char *prev_container_problem(const commit_ctx *c, ptrdiff_t pi,
                                          bool need_fields)
{
    if (!in_range(pi, c->prev->n_containers))
        return "previous container index out of range";
    const mc_container *k = &c->prev->containers[pi];
    if (k->store_key <= 0 || k->store_id <= 0)
        return "the previous container did not come from the store";
    if (need_fields && !k->fields_loaded)
        return "the previous container's fields were not loaded";
    if (need_fields && (k->first_field > c->prev->n_fields ||
                        k->n_fields > c->prev->n_fields - k->first_field))
        return "the previous container's fields are out of range";
    return NULL;
}

static const char *cur_container_problem(const commit_ctx *c, ptrdiff_t ci)
{
    if (!in_range(ci, c->cur->n_containers))
        return "current container index out of range";
    const mc_container *k = &c->cur->containers[ci];
    if (k->first_field > c->cur->n_fields ||
        k->n_fields > c->cur->n_fields - k->first_field)
        return "the current container's fields are out of range";
    return NULL;
}

/* The prev container of a field change: as given, or through the pairing
 * when the diff only named the cur container. */
static ptrdiff_t field_prev_container(const commit_ctx *c, const mc_change *ch)
{
    if (ch->prev_container >= 0)
        return ch->prev_container;
    if (c->cur_to_prev && in_range(ch->cur_container, c->cur->n_containers))
        return c->cur_to_prev[ch->cur_container];
    return -1;
}

static bool field_in(const mc_container *k, ptrdiff_t fi)
{
    return fi >= 0 && (size_t)fi >= k->first_field &&
           (size_t)fi < k->first_field + k->n_fields;
}

/* Applies one change to the versioned tables; *cid_out is the containers
 * row it concerns (0 for schema changes). */
static int apply_change(commit_ctx *c, size_t i, const mc_change *ch,
                        int64_t *cid_out)
{
    const mc_catalog *prev = c->prev, *cur = c->cur;
    const char *why;
    *cid_out = 0;
    switch (ch->kind) {
    case MC_SCHEMA_ADDED:
        if (!in_range(ch->cur_index, cur->n_schemas))
            return bad_change(c, i, ch, "current schema index out of range");
        if (c->cur_schema_added[ch->cur_index])
            return 0; /* reported twice: written once */
        c->cur_schema_added[ch->cur_index] = 1;
        return insert_schema(c, &cur->schemas[ch->cur_index]);

    case MC_SCHEMA_REMOVED:
    case MC_SCHEMA_CHANGED: {
        bool removed = ch->kind == MC_SCHEMA_REMOVED;
        if (!in_range(ch->prev_index, prev->n_schemas))
            return bad_change(c, i, ch, "previous schema index out of range");
        if (!removed && !in_range(ch->cur_index, cur->n_schemas))
            return bad_change(c, i, ch, "current schema index out of range");
        const mc_schema *ps = &prev->schemas[ch->prev_index];
        if (ps->store_id <= 0)
            return bad_change(c, i, ch, "the previous schema did not come from "
                              "the store");
        unsigned char *done = &c->schema_done[ch->prev_index];
        unsigned char want = removed ? DONE_REMOVED : DONE_VERSIONED;
        if (*done == want)
            return 0; /* another attribute of the same schema */
        if (*done)
            return bad_change(c, i, ch, "the schema is both changed and removed");
        *done = want;
        if (close_schema(c, ps) < 0)
            return -1;
        return removed ? 0 : insert_schema(c, &cur->schemas[ch->cur_index]);
    }

    case MC_CONTAINER_ADDED: {
        if ((why = cur_container_problem(c, ch->cur_index)))
            return bad_change(c, i, ch, why);
        if (c->new_key[ch->cur_index]) {
            *cid_out = c->new_key[ch->cur_index];
            return 0;
        }
        const mc_container *k = &cur->containers[ch->cur_index];
        sqlite3_stmt *st = c->ins_container;
        if (bind_i64(st, 1, c->ds) | bind_i64(st, 2, (int64_t)k->hash) |
            bind_estimate(st, 3, k->row_estimate) | bind_text(st, 4, k->partitions))
            return bind_fail(c->s, c->err, "insert a container");
        if (run_stmt(c->s, st, "insert a container", c->err) < 0)
            return -1;
        int64_t key = (int64_t)sqlite3_last_insert_rowid(c->s->db);
        c->new_key[ch->cur_index] = key;
        *cid_out = key;
        if (insert_cversion(c, key, k) < 0)
            return -1;
        /* The diff reports no field_added for a new container's fields. */
        for (size_t f = 0; f < k->n_fields; f++)
            if (insert_field(c, key, &cur->fields[k->first_field + f]) < 0)
                return -1;
        return 0;
    }

    case MC_CONTAINER_REMOVED:
    case MC_CONTAINER_RENAMED:
    case MC_CONTAINER_CHANGED: {
        bool removed = ch->kind == MC_CONTAINER_REMOVED;
        if ((why = prev_container_problem(c, ch->prev_index, false)))
            return bad_change(c, i, ch, why);
        if (!removed && (why = cur_container_problem(c, ch->cur_index)))
            return bad_change(c, i, ch, why);
        const mc_container *pk = &prev->containers[ch->prev_index];
        *cid_out = pk->store_key;
        unsigned char *done = &c->container_done[ch->prev_index];
        unsigned char want = removed ? DONE_REMOVED : DONE_VERSIONED;
        if (*done == want)
            return 0;
        if (*done)
            return bad_change(c, i, ch, "the container is both changed and "
                              "removed");
        *done = want;
        if (close_cversion(c, pk) < 0)
            return -1;
        if (!removed)
            return insert_cversion(c, pk->store_key,
                                   &cur->containers[ch->cur_index]);
        /* Its fields go with it, without field_removed events. */
        sqlite3_stmt *st = c->close_cfields;
        if (bind_i64(st, 1, pk->store_key) | bind_i64(st, 2, c->run))
            return bind_fail(c->s, c->err, "close a container's fields");
        if (run_stmt(c->s, st, "close a container's fields", c->err) < 0)
            return -1;
        return set_container(c, pk, 0, pk->row_estimate, pk->partitions);
    }

    case MC_FIELD_ADDED:
    case MC_FIELD_REMOVED:
    case MC_FIELD_RENAMED:
    case MC_FIELD_CHANGED: {
        bool added = ch->kind == MC_FIELD_ADDED;
        bool removed = ch->kind == MC_FIELD_REMOVED;
        ptrdiff_t pc = field_prev_container(c, ch);
        if ((why = prev_container_problem(c, pc, !added)))
            return bad_change(c, i, ch, why);
        const mc_container *pk = &prev->containers[pc];
        *cid_out = pk->store_key;
        if (ch->cur_container >= 0 &&
            (why = cur_container_problem(c, ch->cur_container)))
            return bad_change(c, i, ch, why);
        if (!removed) {
            if (!in_range(ch->cur_index, cur->n_fields))
                return bad_change(c, i, ch, "current field index out of range");
            if (ch->cur_container >= 0 &&
                !field_in(&cur->containers[ch->cur_container], ch->cur_index))
                return bad_change(c, i, ch, "the current field is not in the "
                                  "current container");
        }
        const mc_field *cf = removed ? NULL : &cur->fields[ch->cur_index];
        if (added) {
            if (c->cur_field_added[ch->cur_index])
                return 0;
            c->cur_field_added[ch->cur_index] = 1;
            return insert_field(c, pk->store_key, cf);
        }
        if (!field_in(pk, ch->prev_index))
            return bad_change(c, i, ch, "previous field index out of range");
        const mc_field *pf = &prev->fields[ch->prev_index];
        if (pf->store_id <= 0)
            return bad_change(c, i, ch, "the previous field did not come from "
                              "the store");
        unsigned char *done = &c->field_done[ch->prev_index];
        unsigned char want = removed ? DONE_REMOVED : DONE_VERSIONED;
        if (*done == want)
            return 0;
        if (*done)
            return bad_change(c, i, ch, "the field is both changed and removed");
        *done = want;
        if (close_field(c, pk->store_key, pf) < 0)
            return -1;
        return removed ? 0 : insert_field(c, pk->store_key, cf);
    }

    default:
        return bad_change(c, i, ch, "unknown change kind");
    }
}

static int insert_change(commit_ctx *c, const mc_change *ch, int64_t cid)
{
    sqlite3_stmt *st = c->ins_change;
    int bad = bind_i64(st, 1, c->run) | bind_i64(st, 2, c->ds) |
              bind_i64_or_null(st, 3, cid) |
              bind_text(st, 4, mc_change_kind_name(ch->kind)) |
              bind_text(st, 5, ch->schema) | bind_text(st, 6, ch->container) |
              bind_text(st, 7, ch->field) | bind_text(st, 8, ch->attribute) |
              bind_text(st, 9, ch->before) | bind_text(st, 10, ch->after) |
              bind_i64(st, 11, ch->breaking);
    if (bad)
        return bind_fail(c->s, c->err, "record a change");
    return run_stmt(c->s, st, "record a change", c->err);
}

/*
 * Queues the change just inserted for every alert whose rules want it, in
 * the run's transaction: a run is never recorded without its deliveries
 * (docs/alerts.md, "Delivery guarantees").
 */
static int queue_change(commit_ctx *c, const mc_change *ch)
{
    if (!c->ins_outbox)
        return 0;
    const store_outbox_rules *r = c->s->rules;
    int64_t change_id = (int64_t)sqlite3_last_insert_rowid(c->s->db);
    for (size_t i = 0; i < r->n; i++) {
        if (!r->wants(r->arg, i, c->ds_name, ch))
            continue;
        sqlite3_stmt *st = c->ins_outbox;
        if (bind_text(st, 1, r->names[i]) | bind_i64(st, 2, change_id) |
            bind_i64(st, 3, mc_time_now()))
            return bind_fail(c->s, c->err, "queue an alert");
        if (run_stmt(c->s, st, "queue an alert", c->err) < 0)
            return -1;
    }
    return 0;
}

/* Stored hashes and row estimates of the containers that are still there
 * (invariant 4: only what moved is written). */
static int update_pairs(commit_ctx *c, const unsigned char *held)
{
    const mc_catalog *prev = c->prev, *cur = c->cur;
    for (size_t i = 0; i < cur->n_containers; i++) {
        ptrdiff_t p = c->cur_to_prev ? c->cur_to_prev[i] : -1;
        if (p < 0)
            continue;
        if (!in_range(p, prev->n_containers))
            return mc_error_set(c->err, MC_EXIT_STORE, "store: cannot record "
                                "the run: container pairing %zu -> %td is out "
                                "of range", i, p);
        const mc_container *pk = &prev->containers[p];
        const mc_container *ck = &cur->containers[i];
        if (c->container_done[p] == DONE_REMOVED)
            continue;
        if (pk->store_key <= 0)
            return mc_error_set(c->err, MC_EXIT_STORE, "store: cannot record "
                                "the run: container %s.%s did not come from "
                                "the store", pk->schema, pk->name);
        /* A table dropped and created again under its name is the same
         * container with a new oid.  The oid is not a compared attribute,
         * so it is refreshed in place rather than versioned: the next
         * crawl can then still recognise a rename by it. */
        if (ck->oid && ck->oid != pk->oid &&
            c->container_done[p] != DONE_VERSIONED) {
            sqlite3_stmt *st = c->set_oid;
            if (bind_i64(st, 1, pk->store_id) | bind_i64(st, 2, ck->oid) |
                bind_i64(st, 3, pk->store_key))
                return bind_fail(c->s, c->err, "update a container's oid");
            if (write_one(c, st, "update a container's oid") < 0)
                return -1;
        }
        /* Recorded before the current reading rules and not versioned
         * now: the diff compared it under the new rules, so it is up to
         * date (store.h, mc_container.legacy). */
        if (pk->legacy && c->container_done[p] != DONE_VERSIONED) {
            sqlite3_stmt *st = c->set_rules;
            if (bind_i64(st, 1, pk->store_id) | bind_i64(st, 2, STORE_READ_RULES) |
                bind_i64(st, 3, pk->store_key))
                return bind_fail(c->s, c->err, "update a container's reading rules");
            if (write_one(c, st, "update a container's reading rules") < 0)
                return -1;
        }
        uint64_t hash = (held[p] & 1) ? 0 : ck->hash;
        /* Facts, not versions: the latest estimate and partitions.  An
         * unknown estimate is recorded as unknown (a table created again,
         * or never analysed since it was rewritten, has none). */
        bool moved = ck->row_estimate != pk->row_estimate;
        bool parts_moved = (ck->partitions == NULL) != (pk->partitions == NULL) ||
                           (ck->partitions && strcmp(ck->partitions, pk->partitions) != 0);
        if (hash == pk->hash && !moved && !parts_moved)
            continue;
        if (set_container(c, pk, hash, ck->row_estimate, ck->partitions) < 0)
            return -1;
    }
    return 0;
}

int store_commit_run(store *s, int64_t run_id, const mc_catalog *prev,
                     const mc_catalog *cur, const mc_changes *changes,
                     const ptrdiff_t *cur_to_prev,
                     const size_t *hold_back_containers, size_t n_hold_back,
                     const mc_run_summary *summary, mc_error *err)
{
    if (!prev || !cur || !summary ||
        (summary->status != MC_RUN_OK && summary->status != MC_RUN_PARTIAL))
        return mc_error_set(err, MC_EXIT_STORE, "store: cannot record run %lld: "
                            "%s", (long long)run_id,
                            summary ? "a finished run is ok or partial"
                                    : "missing catalog or summary");
    if (!cur_to_prev && cur->n_containers && prev->n_containers)
        return mc_error_set(err, MC_EXIT_STORE, "store: cannot record run %lld: "
                            "no container pairing given", (long long)run_id);

    commit_ctx c = {.s = s, .run = run_id, .prev = prev, .cur = cur,
                    .cur_to_prev = cur_to_prev, .err = err};
    size_t n_changes = changes ? changes->n : 0;
    int64_t *cids = mc_calloc(n_changes + 1, sizeof *cids);
    unsigned char *held = mc_calloc(prev->n_containers + 1, 1);
    c.schema_done = mc_calloc(prev->n_schemas + 1, 1);
    c.container_done = mc_calloc(prev->n_containers + 1, 1);
    c.field_done = mc_calloc(prev->n_fields + 1, 1);
    c.new_key = mc_calloc(cur->n_containers + 1, sizeof *c.new_key);
    c.cur_schema_added = mc_calloc(cur->n_schemas + 1, 1);
    c.cur_field_added = mc_calloc(cur->n_fields + 1, 1);
    int ret = -1;

    for (size_t i = 0; i < n_hold_back; i++) {
        if (hold_back_containers[i] >= prev->n_containers) {
            mc_error_set(err, MC_EXIT_STORE, "store: cannot record run %lld: "
                         "held-back container index %zu out of range",
                         (long long)run_id, hold_back_containers[i]);
            goto out;
        }
        held[hold_back_containers[i]] = 1;
    }

    if (exec_sql(s, "BEGIN IMMEDIATE", "start recording the run", err) < 0)
        goto out;
    /* The run must exist and still be running; its datastore is the one
     * every row of this commit belongs to. */
    {
        sqlite3_stmt *q = prep(s, "SELECT r.datastore_id, r.status, d.name "
                                  "FROM runs r JOIN datastores d "
                                  "ON d.id = r.datastore_id WHERE r.id = ?1",
                               "read the run", err);
        if (!q)
            goto out;
        int rc = bind_i64(q, 1, run_id) ? -1 : sqlite3_step(q);
        bool running = false;
        if (rc == SQLITE_ROW) {
            c.ds = col_i64(q, 0);
            const char *st = (const char *)sqlite3_column_text(q, 1);
            running = st && strcmp(st, "running") == 0;
            c.ds_name = mc_strdup((const char *)sqlite3_column_text(q, 2));
        } else if (rc != SQLITE_DONE) {
            db_fail(s, err, "read the run");
        }
        sqlite3_finalize(q);
        if (mc_error_is_set(err))
            goto out;
        if (rc != SQLITE_ROW || !running) {
            mc_error_set(err, MC_EXIT_STORE, "store: cannot record run %lld: %s",
                         (long long)run_id, rc == SQLITE_ROW
                             ? "it is no longer running" : "no such run");
            goto out;
        }
    }
    /* Under the write lock: has another run of this datastore been recorded
     * since prev was read?  Then prev is not the current catalog any more,
     * and these changes (a table "added" twice, then "removed") would be
     * wrong.  Two crawls of one datastore are kept apart by the crawl lock
     * (crawler/lock.c); this catches whatever got past it. */
    if (prev->store_commits > 0) {
        int64_t n_now = 0, newest = 0;
        if (recorded_runs(s, c.ds, &n_now, &newest, err) < 0)
            goto out;
        if (n_now + 1 != prev->store_commits) {
            mc_error_set(err, MC_EXIT_STORE,
                         "not recorded: run %lld of datastore '%s' was recorded by "
                         "another crawl after this one read the stored catalog",
                         (long long)newest, c.ds_name ? c.ds_name : "?");
            mc_error_hint(err, "nothing of this run was written; crawl again.  Two "
                               "crawls of one datastore ran at once: does another "
                               "host, or another path to the store, crawl it too?");
            goto out;
        }
    }
    for (size_t i = 0; i < N_COMMIT_SQL; i++)
        if (!(*ctx_stmt(&c, i) = prep(s, commit_sql[i].sql,
                                       "prepare the run's writes", err)))
            goto out;

    for (size_t i = 0; i < n_changes; i++)
        if (apply_change(&c, i, &changes->items[i], &cids[i]) < 0)
            goto out;
    if (update_pairs(&c, held) < 0)
        goto out;
    /* A container held back whole (its removal not recorded) has no pair;
     * zero its hash too so the next crawl looks at it again. */
    for (size_t i = 0; cur_to_prev && i < cur->n_containers; i++)
        if (cur_to_prev[i] >= 0) /* in range: update_pairs checked */
            held[cur_to_prev[i]] |= 2;
    for (size_t p = 0; p < prev->n_containers; p++) {
        if (held[p] != 1 || c.container_done[p] == DONE_REMOVED ||
            prev->containers[p].hash == 0)
            continue;
        if (prev->containers[p].store_key > 0 &&
            set_container(&c, &prev->containers[p], 0,
                          prev->containers[p].row_estimate,
                          prev->containers[p].partitions) < 0)
            goto out;
    }
    /* A baseline run writes its versions but no events: nothing changed. */
    size_t n_events = 0;
    if (!summary->baseline && s->rules && s->rules->n &&
        !(c.ins_outbox = prep(s, "INSERT INTO alert_outbox(alert, change_id, "
                                 "queued_at) VALUES (?1, ?2, ?3)",
                              "prepare the alert queue", err)))
        goto out;
    for (size_t i = 0; !summary->baseline && i < n_changes; i++) {
        if (changes->items[i].silent) /* a version, not an event */
            continue;
        if (insert_change(&c, &changes->items[i], cids[i]) < 0 ||
            queue_change(&c, &changes->items[i]) < 0)
            goto out;
        n_events++;
    }

    {
        sqlite3_stmt *st = c.finish_run;
        int bad = bind_i64(st, 1, run_id) |
                  bind_text(st, 2, mc_run_status_name(summary->status)) |
                  bind_i64(st, 3, mc_time_now()) |
                  bind_text(st, 4, summary->dialect) |
                  bind_text(st, 5, summary->server_version) |
                  bind_i64(st, 6, (int64_t)cur->n_schemas) |
                  bind_i64(st, 7, (int64_t)cur->n_containers) |
                  bind_i64(st, 8, (int64_t)cur->n_fields) |
                  bind_i64(st, 9, (int64_t)n_events) |
                  bind_i64(st, 10, summary->n_held_back) |
                  bind_text(st, 11, summary->error);
        if (bad) {
            bind_fail(s, err, "finish the run");
            goto out;
        }
        if (write_one(&c, st, "finish the run") < 0)
            goto out;
    }
    if (exec_sql(s, "COMMIT", "commit the run", err) < 0)
        goto out;
    ret = 0;
out:
    for (size_t i = 0; i < N_COMMIT_SQL; i++)
        sqlite3_finalize(*ctx_stmt(&c, i));
    sqlite3_finalize(c.ins_outbox);
    if (ret < 0)
        rollback(s);
    free(c.ds_name);
    free(cids);
    free(held);
    free(c.schema_done);
    free(c.container_done);
    free(c.field_done);
    free(c.new_key);
    free(c.cur_schema_added);
    free(c.cur_field_added);
    return ret;
}

/* ---- reading changes and searching ---------------------------------------- */

int store_list_changes(store *s, const char *datastore, int64_t from_run,
                       int64_t to_run, mc_changes *out, int64_t **run_ids_out,
                       mc_error *err)
{
    const char *what = "list changes";
    if (run_ids_out)
        *run_ids_out = NULL;
    if (!out->arena)
        mc_changes_init(out);
    size_t first = out->n;
    sqlite3_stmt *st = prep(s,
        "SELECT ch.run_id, ch.kind, nullif(ch.schema_name, ''), ch.container_name, "
        "ch.field_name, ch.attribute, ch.\"before\", ch.\"after\", ch.breaking "
        "FROM changes ch JOIN datastores d ON d.id = ch.datastore_id "
        "WHERE d.name = ?1 AND ch.run_id > ?2 AND ch.run_id <= ?3 "
        "ORDER BY ch.id", what, err);
    if (!st)
        return -1;
    if (bind_text(st, 1, datastore) | bind_i64(st, 2, from_run) |
        bind_i64(st, 3, to_run > 0 ? to_run : INT64_MAX)) {
        bind_fail(s, err, what);
        sqlite3_finalize(st);
        return -1;
    }
    int64_t *ids = NULL; /* run ids of the items added here */
    size_t n_ids = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        int k = mc_change_kind_parse(kind);
        if (k < 0) {
            mc_error_set(err, MC_EXIT_STORE, "store: unknown change kind '%s'",
                         kind ? kind : "");
            break;
        }
        mc_change *ch = mc_changes_add(out);
        ch->kind = (mc_change_kind)k;
        ch->schema = col_text(st, 2, out->arena);
        ch->container = col_text(st, 3, out->arena);
        ch->field = col_text(st, 4, out->arena);
        ch->attribute = col_text(st, 5, out->arena);
        ch->before = col_text(st, 6, out->arena);
        ch->after = col_text(st, 7, out->arena);
        ch->breaking = sqlite3_column_int(st, 8) != 0;
        if (n_ids == cap) {
            cap = cap ? cap * 2 : 64;
            ids = mc_realloc(ids, cap * sizeof *ids);
        }
        ids[n_ids++] = col_i64(st, 0);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        db_fail(s, err, what);
    sqlite3_finalize(st);
    if (mc_error_is_set(err)) {
        free(ids);
        return -1;
    }
    if (run_ids_out) {
        /* One entry per item of out; items that were there before this
         * call get 0. */
        int64_t *all = mc_calloc(out->n + 1, sizeof *all);
        if (n_ids)
            memcpy(all + first, ids, n_ids * sizeof *ids);
        *run_ids_out = all;
    }
    free(ids);
    return 0;
}

/* LIKE pattern for a literal substring: %, _ and the escape are escaped. */
static char *like_pattern(const char *text)
{
    mc_buf b = {0};
    mc_buf_putc(&b, '%');
    for (const char *p = text; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            mc_buf_putc(&b, '\\');
        mc_buf_putc(&b, *p);
    }
    mc_buf_putc(&b, '%');
    return mc_buf_steal(&b);
}

int store_search(store *s, const char *text, size_t limit,
                 mc_search_result *out, mc_error *err)
{
    const char *what = "search the catalog";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = prep(s,
        "SELECT d.name, cv.schema_name, cv.name, NULL, cv.kind, cv.comment, "
        "cv.extension "
        "FROM container_versions cv "
        "JOIN containers c ON c.id = cv.container_id "
        "JOIN datastores d ON d.id = c.datastore_id "
        "WHERE cv.valid_to IS NULL "
        "AND (cv.name LIKE ?1 ESCAPE '\\' OR cv.comment LIKE ?1 ESCAPE '\\') "
        "UNION ALL "
        "SELECT d.name, cv.schema_name, cv.name, fv.name, fv.type, fv.comment, "
        "cv.extension "
        "FROM field_versions fv "
        "JOIN container_versions cv ON cv.container_id = fv.container_id "
        "AND cv.valid_to IS NULL "
        "JOIN containers c ON c.id = cv.container_id "
        "JOIN datastores d ON d.id = c.datastore_id "
        "WHERE fv.valid_to IS NULL "
        "AND (fv.name LIKE ?1 ESCAPE '\\' OR fv.comment LIKE ?1 ESCAPE '\\') "
        "ORDER BY 1, 2, 3, 4 LIMIT ?2", what, err);
    if (!st)
        return -1;
    char *pattern = like_pattern(text ? text : "");
    int ret = 0;
    if (bind_text(st, 1, pattern) | bind_i64(st, 2, limit ? (int64_t)limit : -1)) {
        ret = bind_fail(s, err, what);
        goto out;
    }
    out->arena = mc_arena_new();
    mc_search_hit *tmp = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            tmp = mc_realloc(tmp, cap * sizeof *tmp);
        }
        mc_search_hit *h = &tmp[n++];
        h->datastore = col_text(st, 0, out->arena);
        h->schema = col_text(st, 1, out->arena);
        h->container = col_text(st, 2, out->arena);
        h->field = col_text(st, 3, out->arena);
        h->kind = col_text(st, 4, out->arena);
        h->comment = col_text(st, 5, out->arena);
        h->extension = col_text(st, 6, out->arena);
    }
    if (rc != SQLITE_DONE) {
        ret = db_fail(s, err, what);
        free(tmp);
        mc_arena_free(out->arena);
        out->arena = NULL;
        goto out;
    }
    out->hits = n ? mc_arena_alloc(out->arena, n * sizeof *tmp) : NULL;
    if (n)
        memcpy(out->hits, tmp, n * sizeof *tmp);
    out->n = n;
    free(tmp);
out:
    free(pattern);
    sqlite3_finalize(st);
    return ret;
}

void mc_search_result_free(mc_search_result *r)
{
    if (!r)
        return;
    mc_arena_free(r->arena);
    memset(r, 0, sizeof *r);
}

/* ---- the alert outbox ------------------------------------------------------- */

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
    sqlite3_stmt *st = prep(s,
        "SELECT o.id, o.alert, o.change_id, o.attempts, o.last_error, "
        "o.queued_at, o.last_attempt_at, ch.run_id, d.name, ch.kind, "
        "nullif(ch.schema_name, ''), ch.container_name, ch.field_name, ch.attribute, "
        "ch.\"before\", ch.\"after\", ch.breaking "
        "FROM alert_outbox o "
        "JOIN changes ch ON ch.id = o.change_id "
        "JOIN datastores d ON d.id = ch.datastore_id "
        "WHERE o.status = 'pending' AND (?1 IS NULL OR o.alert = ?1) "
        "ORDER BY o.id LIMIT ?2", what, err);
    if (!st)
        return -1;
    if (bind_text(st, 1, alert) | bind_i64(st, 2, limit ? (int64_t)limit : -1)) {
        bind_fail(s, err, what);
        sqlite3_finalize(st);
        return -1;
    }
    mc_arena *a = out->changes.arena;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 9);
        int k = mc_change_kind_parse(kind);
        if (k < 0) {
            mc_error_set(err, MC_EXIT_STORE, "store: unknown change kind '%s'",
                         kind ? kind : "");
            break;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            out->items = mc_realloc(out->items, cap * sizeof *out->items);
        }
        mc_delivery *d = &out->items[out->n++];
        d->id = col_i64(st, 0);
        d->alert = col_text(st, 1, a);
        d->change_id = col_i64(st, 2);
        d->attempts = col_i64(st, 3);
        d->last_error = col_text(st, 4, a);
        d->queued_at = col_i64(st, 5);
        d->last_attempt_at = col_i64(st, 6);
        d->run = col_i64(st, 7);
        d->datastore = col_text(st, 8, a);
        mc_change *ch = mc_changes_add(&out->changes);
        ch->kind = (mc_change_kind)k;
        ch->schema = col_text(st, 10, a);
        ch->container = col_text(st, 11, a);
        ch->field = col_text(st, 12, a);
        ch->attribute = col_text(st, 13, a);
        ch->before = col_text(st, 14, a);
        ch->after = col_text(st, 15, a);
        ch->breaking = sqlite3_column_int(st, 16) != 0;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        db_fail(s, err, what);
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
    sqlite3_stmt *st = prep(s, sql, what, err);
    if (!st)
        return -1;
    int64_t changed = 0;
    if (exec_sql(s, "BEGIN IMMEDIATE", what, err) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (bind_i64(st, 1, ids[i]) | bind_i64(st, 2, mc_time_now()) |
            bind_text(st, 3, text)) {
            bind_fail(s, err, what);
            goto fail;
        }
        if (run_stmt(s, st, what, err) < 0)
            goto fail;
        changed += sqlite3_changes(s->db);
    }
    if (exec_sql(s, "COMMIT", what, err) < 0)
        goto fail;
    sqlite3_finalize(st);
    if (n_out)
        *n_out = changed;
    return 0;
fail:
    sqlite3_finalize(st);
    rollback(s);
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
    sqlite3_stmt *st = prep(s,
        "UPDATE alert_outbox SET status = 'discarded', discarded_at = ?2 "
        "WHERE alert = ?1 AND status = 'pending'", what, err);
    if (!st)
        return -1;
    int ret = -1;
    if (bind_text(st, 1, alert) | bind_i64(st, 2, mc_time_now())) {
        bind_fail(s, err, what);
        goto out;
    }
    /* One statement outside a transaction is its own transaction. */
    if (run_stmt(s, st, what, err) < 0)
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
    return query_i64(s, "SELECT count(*) FROM alert_outbox "
                        "WHERE alert = ?1 AND status = 'pending'",
                     alert, n_out, NULL, "count queued alerts", err);
}

int store_outbox_stats(store *s, mc_outbox_stats *out, mc_error *err)
{
    const char *what = "summarise the alert queue";
    memset(out, 0, sizeof *out);
    /* The error shown is that of the latest failed attempt on a row that is
     * still pending: the reason the queue is not empty. */
    sqlite3_stmt *st = prep(s,
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
        x->alert = col_text(st, 0, out->arena);
        x->n_pending = col_i64(st, 1);
        x->n_delivered = col_i64(st, 2);
        x->n_discarded = col_i64(st, 3);
        x->oldest_queued_at = col_i64(st, 4);
        x->max_attempts = col_i64(st, 5);
        x->last_attempt_at = col_i64(st, 6);
        x->last_error = col_text(st, 7, out->arena);
        x->last_delivered_at = col_i64(st, 8);
        x->oldest_run = col_i64(st, 9);
    }
    int ret = 0;
    if (rc != SQLITE_DONE) {
        ret = db_fail(s, err, what);
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
