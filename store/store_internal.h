/*
 * store_internal.h — for the files in store/ (and the store's unit tests)
 * only: the store handle itself, the SQLite calling conventions the store's
 * files share, and the few functions one of them offers another.  Nothing
 * outside store/ includes this, and nothing outside store/ sees SQL.
 *
 * Who owns what:
 *   schema.c   the schema, its migrations; open, migrate, close
 *   runs.c     runs and their states, a datastore as a whole (state, pause,
 *              staleness), the identity of the process recording a run
 *   load.c     loading catalogs (current, as of a run, one container, fields)
 *   commit.c   recording a run: store_commit_run
 *   search.c   reading changes and searching
 *   outbox.c   the alert outbox and its delivery lock
 *   heartbeat.c  a running run's heartbeat (its own connection)
 *   history.c  read-only history queries for the docs site (history.h)
 *   util.c     the st_* helpers below
 *
 * Invariants every file that writes or reads versions keeps (commit.c
 * holds 3 and 4, which are its own):
 *  1. An object version (schema, container, field) is valid for the runs R
 *     with valid_from <= R and (valid_to IS NULL OR valid_to > R).  At most
 *     one version of an object is valid for any run; the current one has
 *     valid_to NULL.
 *  2. A container's identity is its containers row: renames and changes add
 *     container_versions under the same container_id, and field_versions
 *     hang off the container_id, so a renamed table keeps its columns.
 *  5. Every value reaches SQL as a bound parameter.  The one exception is
 *     "PRAGMA user_version = N" in migrate() (schema.c), where SQLite accepts
 *     no parameter and N is that file's own migration counter.
 *  6. A change event and the outbox rows it calls for are written in the
 *     same transaction (commit.c's queue_change, runs.c's
 *     store_record_staleness); an outbox row leaves 'pending' once, for
 *     'delivered' or 'discarded', and never comes back (outbox.c).
 */
#ifndef MC_STORE_INTERNAL_H
#define MC_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

struct store {
    sqlite3 *db;
    char *path;
    char host[256];
    const store_outbox_rules *rules; /* borrowed; NULL = queue nothing */
    int lock_fd;                     /* the outbox lock file, -1 = not held */
    bool read_only;                  /* store_open_read: never written */
};

/* container_versions.read_rules of the versions this build writes (the
 * schema version that brought the current reading rules). */
#define STORE_READ_RULES 5
/* the reading rules before identity, generated columns, extension members
 * (mc_container.legacy) and before dependencies (depends_unread) */
#define STORE_READ_RULES_IDENTITY 3
#define STORE_READ_RULES_DEPENDS 5

sqlite3 *store_sqlite(store *s);
/* The path the store was opened with. */
const char *store_file_path(const store *s);
/* The datastore's id, or 0 when the store has never seen it. */
int store_datastore_id(store *s, const char *datastore, int64_t *id_out,
                       mc_error *err);

/* store_open, migrating only up to schema version target (1 .. the latest):
 * how the unit tests make a store as an older metacrawl wrote it, to check
 * that opening it upgrades it with its data intact. */
int store_open_at_version(const char *path, int target, store **out,
                          mc_error *err);

/* ---- the SQLite calling conventions (util.c) ------------------------------ */

/* Each returns -1 (or NULL) after filling err with the connection's last
 * error, named by what ("cannot WHAT: ..."), and a hint for the usual
 * causes (busy, read-only, full, damaged). */
int st_db_fail(store *s, mc_error *err, const char *what);
int st_bind_fail(store *s, mc_error *err, const char *what);
sqlite3_stmt *st_prep(store *s, const char *sql, const char *what, mc_error *err);
/* Runs a statement that returns no rows (or whose rows are not wanted). */
int st_run_stmt(store *s, sqlite3_stmt *st, const char *what, mc_error *err);
int st_exec_sql(store *s, const char *sql, const char *what, mc_error *err);
/* Ends a failed transaction, if one is open; the original error stays. */
void st_rollback(store *s);
/* Single-integer query with at most one text parameter; *found (may be
 * NULL) tells whether a row came back, *out is 0 when none did. */
int st_query_i64(store *s, const char *sql, const char *param, int64_t *out, bool *found,
                 const char *what, mc_error *err);

/* Binds return nonzero on failure, so a statement's binds can be collected
 * with | and checked once.  A NULL text binds NULL; st_bind_i64_or_null
 * binds 0 (no id, oid or time) as NULL. */
int st_bind_text(sqlite3_stmt *st, int i, const char *v);
int st_bind_i64(sqlite3_stmt *st, int i, int64_t v);
int st_bind_i64_or_null(sqlite3_stmt *st, int i, int64_t v);

/* Column i as a string in arena a (NULL for SQL NULL), or as an integer. */
const char *st_col_text(sqlite3_stmt *st, int i, mc_arena *a);
int64_t st_col_i64(sqlite3_stmt *st, int i);

/* ---- what one file offers another ----------------------------------------- */

/* runs.c: marks failed the runs still 'running' whose process is gone (at
 * store_open).  Never fails: a warning is logged when it cannot write. */
void store_fail_abandoned_runs(store *s);

/* load.c: the runs recorded (ok or partial) of datastore ds, and the newest
 * of them (newest_out may be NULL): the stamp store_commit_run checks. */
int store_recorded_runs(store *s, int64_t ds, int64_t *n_out, int64_t *newest_out,
                        mc_error *err);

/* search.c: the columns of a change event, selected from "changes ch",
 * and their reader: STORE_CHANGE_COLUMNS from column col on into a new item
 * of out (strings in out->arena); NULL with err set for a kind this build
 * does not know. */
#define STORE_CHANGE_COLUMNS                                                  \
    "ch.kind, nullif(ch.schema_name, ''), ch.container_name, ch.field_name, " \
    "ch.attribute, ch.\"before\", ch.\"after\", ch.breaking, ch.impact "
mc_change *store_read_change(sqlite3_stmt *st, int col, mc_changes *out, mc_error *err);

/* outbox.c: queues change change_id (ch, of datastore) for every alert
 * whose rule (store_set_outbox_rules) wants it, at time now, inside the
 * caller's transaction (invariant 1 of alerts.c); ins is
 * ST_OUTBOX_INSERT_SQL prepared.  A change already queued for an alert
 * stays queued once. */
#define ST_OUTBOX_INSERT_SQL                                                     \
    "INSERT INTO alert_outbox(alert, change_id, queued_at) VALUES (?1, ?2, ?3) " \
    "ON CONFLICT DO NOTHING"
int st_queue_change(store *s, sqlite3_stmt *ins, const char *datastore, const mc_change *ch,
                    int64_t change_id, int64_t now, mc_error *err);

/* facts.c: inside store_commit_run's transaction, writes the facts of
 * every container of cur that has some (key_of[i]: its containers row, 0 =
 * none) as observed by run, and the run's facts status (NULL leaves
 * runs.facts NULL).  Nothing of the versioned catalog is touched. */
int st_commit_facts(store *s, int64_t run, const mc_catalog *cur, const int64_t *key_of,
                    const char *status, mc_error *err);

#endif
