/*
 * schema.c — the store's schema and its migrations, and the store's life:
 * store_open (create, check, migrate), store_open_read (check, never
 * write), store_close.  The SQL of the other files assumes the schema this
 * file migrates to; the tables are described in docs/store.md.
 *
 * Opening checks what the file is before trusting it: not SQLite, SQLite
 * but not a store, cut off (check_not_truncated), written by a newer
 * metacrawl.  A writer's open also marks interrupted runs failed (runs.c).
 */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

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

    /* 4 -> 5: lineage (docs/lineage.md).  What a view reads, versioned
     * with the container (a canonical JSON array, NULL = nothing known),
     * and the impact of a breaking change, recorded with it (JSON, NULL =
     * none), so alerts and the docs site show what the diff saw.  Versions
     * written before are read as "dependencies not read yet" (read_rules
     * < 5): the first crawl after the upgrade records them silently. */
    "ALTER TABLE container_versions ADD COLUMN depends_on TEXT;\n"
    "ALTER TABLE changes ADD COLUMN impact TEXT;\n",

    /* 5 -> 6: table facts (docs/lineage.md, "Table facts"; docs/store.md).
     * The latest facts of each container with the run that observed them,
     * apart from the versioned catalog: rewriting them never makes a
     * version or a change.  runs.facts says whether the run read them
     * ('read', 'unavailable: WHY'; NULL: not attempted). */
    "CREATE TABLE container_facts (\n"
    "  container_id      INTEGER PRIMARY KEY REFERENCES containers(id),\n"
    "  run_id            INTEGER NOT NULL REFERENCES runs(id),\n"
    "  row_estimate      REAL,\n"
    "  pages             INTEGER,\n"
    "  total_bytes       INTEGER,\n"
    "  last_analyze      INTEGER,\n"
    "  last_autoanalyze  INTEGER,\n"
    "  last_vacuum       INTEGER,\n"
    "  last_autovacuum   INTEGER,\n"
    "  dead_rows         INTEGER,\n"
    "  modified_rows     INTEGER,\n"
    "  tbl_rows          REAL,\n"
    "  visible_rows      REAL,\n"
    "  skew_rows         REAL,\n"
    "  skew_sortkey1     REAL,\n"
    "  unsorted          REAL,\n"
    "  stats_off         REAL,\n"
    "  pct_used          REAL\n"
    ");\n"
    "ALTER TABLE runs ADD COLUMN facts TEXT;\n",

    /* 6 -> 7: one index on field_versions instead of two (docs/store.md,
     * "Notes for the curious").  (container_id, valid_to, position) finds
     * a container's current fields in position order (valid_to IS NULL
     * sorts first), its versions as of a run and its history; a removed
     * container's closed fields cost nothing to a current read, as with
     * the partial index before.  A first crawl maintains one index per
     * field instead of two: 12% of its instructions (docs/performance.md). */
    "DROP INDEX IF EXISTS field_versions_current;\n"
    "DROP INDEX IF EXISTS field_versions_history;\n"
    "CREATE INDEX field_versions_container\n"
    "  ON field_versions(container_id, valid_to, position);\n",

    /* 7 -> 8: the catalog fingerprint of a PostgreSQL table as last read
     * (mc_container.fingerprint; docs/performance.md): a re-crawl reads the
     * columns of the tables whose fingerprint moved.  NULL = read them. */
    "ALTER TABLE containers ADD COLUMN fingerprint TEXT;\n",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* ---- open, migrate, close ------------------------------------------------ */

/* The store's schema version (PRAGMA user_version; 0 for a new file). */
static int user_version(store *s, int64_t *v, mc_error *err)
{
    return st_query_i64(s, "PRAGMA user_version", NULL, v, NULL,
                        "read the store's schema version", err);
}

/* Runs the migration steps up to schema version target. */
static int migrate(store *s, int target, mc_error *err)
{
    for (;;) {
        int64_t v = 0;
        if (user_version(s, &v, err) < 0)
            return -1;
        if (v >= target)
            return 0;
        /* Re-read under the write lock: another process opening the same
         * new store may have migrated it while we waited. */
        if (st_exec_sql(s, "BEGIN IMMEDIATE", "start a migration", err) < 0)
            return -1;
        if (user_version(s, &v, err) < 0)
            goto fail;
        if (v >= target) {
            if (st_exec_sql(s, "COMMIT", "finish a migration", err) < 0)
                goto fail;
            return 0;
        }
        char what[64], bump[64];
        snprintf(what, sizeof what, "migrate the store to schema %d", (int)v + 1);
        /* Invariant 5: PRAGMA takes no parameter; v + 1 is our own counter. */
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", (int)v + 1);
        if (st_exec_sql(s, migrations[v], what, err) < 0 ||
            st_exec_sql(s, bump, what, err) < 0 ||
            st_exec_sql(s, "COMMIT", what, err) < 0)
            goto fail;
        mc_log(MC_LOG_INFO, "store %s migrated to schema %d", s->path, (int)v + 1);
    }
fail:
    st_rollback(s);
    return -1;
}

static int no_path(mc_error *err)
{
    mc_error_set(err, MC_EXIT_STORE, "no store path given");
    mc_error_hint(err, "set store: in metacrawl.yml or pass --store PATH");
    return -1;
}

static int is_directory(const char *path, mc_error *err)
{
    mc_error_set(err, MC_EXIT_STORE, "store %s is a directory", path);
    mc_error_hint(err, "store: names the catalog file, e.g. %s/catalog.db", path);
    return -1;
}

static int too_new(const char *path, int64_t version, mc_error *err)
{
    mc_error_set(err, MC_EXIT_STORE,
                 "store was written by a newer metacrawl (schema %lld, this "
                 "build knows %d)", (long long)version, STORE_SCHEMA_VERSION);
    mc_error_hint(err, "upgrade metacrawl, or use another store file than %s", path);
    return -1;
}

static store *new_store(const char *path, bool read_only)
{
    store *s = mc_calloc(1, sizeof *s);
    s->lock_fd = -1;
    s->path = mc_strdup(path);
    s->read_only = read_only;
    if (gethostname(s->host, sizeof s->host - 1) != 0)
        strcpy(s->host, "localhost");
    return s;
}

/* Opens s->db on name (the path, or a "file:" URI) with flags. */
static int open_handle(store *s, const char *name, int flags, mc_error *err)
{
    if (sqlite3_open_v2(name, &s->db, flags, NULL) != SQLITE_OK) {
        if (s->db)
            return st_db_fail(s, err, "open the store");
        return mc_error_set(err, MC_EXIT_STORE, "store: cannot open %s: out of memory",
                            s->path);
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 10000);
    return 0;
}

/* The first read of a store file: where a file that is not SQLite shows
 * itself (first_read_error). */
static int count_objects(store *s, int64_t *n_out, mc_error *first)
{
    return st_query_i64(s, "SELECT count(*) FROM sqlite_master", NULL, n_out, NULL,
                        "read the store", first);
}

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

/*
 * A store file shorter than its own header says was cut off (a full disk,
 * an interrupted copy): SQLite notices only when a query reaches a missing
 * page, so a command reading the first pages would print part of the
 * catalog as if it were all.  The header's page count (offset 28) is valid
 * when its change counter (24) equals "version valid for" (92).  Checking
 * every page (PRAGMA integrity_check) would cost a full read of the store
 * per command; this costs one read of 100 bytes.
 */
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

int store_open_at_version(const char *path, int target, store **out,
                          mc_error *err)
{
    *out = NULL;
    if (target < 1 || target > STORE_SCHEMA_VERSION)
        return mc_error_set(err, MC_EXIT_STORE, "store: no schema version %d "
                            "(this build knows 1 to %d)", target,
                            STORE_SCHEMA_VERSION);
    if (!path || !*path)
        return no_path(err);
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
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return is_directory(path, err);

    /* A new store is created readable by its owner only (SQLite gives the
     * -wal and -shm files the same mode): table names and comments of a
     * warehouse are not for every user of the machine. */
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);

    store *s = new_store(path, false);
    if (open_handle(s, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err) < 0)
        goto fail;

    /* The first read of the file: this is where a file that is not SQLite
     * shows itself. */
    int64_t n_objects = 0;
    mc_error first = {0};
    if (count_objects(s, &n_objects, &first) < 0) {
        first_read_error(path, sqlite3_extended_errcode(s->db) & 0xff, &first, true, err);
        goto fail;
    }
    if (check_not_truncated(s, err) < 0)
        goto fail;
    int64_t version = 0;
    if (user_version(s, &version, err) < 0)
        goto fail;
    if (version > STORE_SCHEMA_VERSION) {
        too_new(path, version, err);
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

    sqlite3_stmt *st = st_prep(s, "PRAGMA journal_mode = WAL",
                               "switch the store to WAL mode", err);
    if (!st)
        goto fail;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        st_db_fail(s, err, "switch the store to WAL mode");
        sqlite3_finalize(st);
        goto fail;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal") != 0)
        mc_log(MC_LOG_WARN, "store %s: WAL mode is not available here (journal "
               "mode %s); concurrent readers will wait for writers",
               path, mode ? mode : "unknown");
    sqlite3_finalize(st);
    if (st_exec_sql(s, "PRAGMA foreign_keys = ON", "enable foreign keys", err) < 0 ||
        st_exec_sql(s, "PRAGMA synchronous = NORMAL", "set synchronous mode", err) < 0)
        goto fail;
    if (migrate(s, target, err) < 0)
        goto fail;
    store_fail_abandoned_runs(s);
    *out = s;
    return 0;

fail:
    store_close(s);
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
    int rc = open_handle(s, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, err);
    free(uri);
    return rc;
}

int store_open_read(const char *path, store **out, mc_error *err)
{
    *out = NULL;
    if (!path || !*path)
        return no_path(err);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        mc_error_set(err, MC_EXIT_STORE, "no store at %s: %s", path, strerror(e));
        mc_error_hint(err, e == ENOENT ? "a crawl creates the store; check store: in the "
                                         "configuration or --store"
                                       : "check the path and its permissions");
        return -1;
    }
    if (S_ISDIR(sb.st_mode))
        return is_directory(path, err);
    store *s = new_store(path, true);
    if (open_ro_handle(s, false, err) < 0)
        goto fail;
    int64_t n_objects = 0;
    mc_error first = {0};
    int rc = count_objects(s, &n_objects, &first);
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
            rc = count_objects(s, &n_objects, &first);
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
    if (user_version(s, &version, err) < 0)
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
        too_new(path, version, err);
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
    if (!s || user_version(s, &v, NULL) < 0)
        return -1;
    return (int)v;
}

const char *store_lib_version(void)
{
    return sqlite3_libversion();
}
