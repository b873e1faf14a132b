/*
 * util.c — the SQLite calling conventions every file of the store uses
 * (store_internal.h): a failed call reported as a store error with a hint,
 * statements prepared, bound, stepped and read the one same way, and the
 * few lookups (a datastore's id, one integer) several files need.
 */
#include "store.h"
#include "store_internal.h"

#include <sqlite3.h>

/* Reports the connection's last error as a store error, naming what failed. */
int st_db_fail(store *s, mc_error *err, const char *what)
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

sqlite3_stmt *st_prep(store *s, const char *sql, const char *what, mc_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        st_db_fail(s, err, what);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* Bind helpers return nonzero on failure, so a statement's binds can be
 * collected with |= and checked once. */
int st_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)
             : sqlite3_bind_null(st, i);
}

int st_bind_i64(sqlite3_stmt *st, int i, int64_t v)
{
    return sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* 0 means "none" for ids, oids and times, and is stored as NULL. */
int st_bind_i64_or_null(sqlite3_stmt *st, int i, int64_t v)
{
    return v ? st_bind_i64(st, i, v) : sqlite3_bind_null(st, i);
}

int st_bind_fail(store *s, mc_error *err, const char *what)
{
    return st_db_fail(s, err, what);
}

/* Runs a statement that returns no rows (or whose rows are not wanted). */
int st_run_stmt(store *s, sqlite3_stmt *st, const char *what, mc_error *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        st_db_fail(s, err, what);
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

int st_exec_sql(store *s, const char *sql, const char *what, mc_error *err)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return st_db_fail(s, err, what);
    return 0;
}

/* Ends a failed transaction, if one is open; the original error stays. */
void st_rollback(store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

const char *st_col_text(sqlite3_stmt *st, int i, mc_arena *a)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    return mc_arena_strndup(a, (const char *)t,
                            (size_t)sqlite3_column_bytes(st, i));
}

int64_t st_col_i64(sqlite3_stmt *st, int i)
{
    return (int64_t)sqlite3_column_int64(st, i);
}

/* Single-integer query with at most one text parameter; *found tells
 * whether a row came back. */
int st_query_i64(store *s, const char *sql, const char *param, int64_t *out, bool *found,
                 const char *what, mc_error *err)
{
    sqlite3_stmt *st = st_prep(s, sql, what, err);
    if (!st)
        return -1;
    if (param && st_bind_text(st, 1, param) != SQLITE_OK) {
        st_bind_fail(s, err, what);
        sqlite3_finalize(st);
        return -1;
    }
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        *out = st_col_i64(st, 0);
        if (found)
            *found = true;
    } else if (rc == SQLITE_DONE) {
        *out = 0;
        if (found)
            *found = false;
    } else {
        ret = st_db_fail(s, err, what);
    }
    sqlite3_finalize(st);
    return ret;
}

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
    return st_query_i64(s, "SELECT id FROM datastores WHERE name = ?1", datastore,
                        id_out, NULL, "look up the datastore", err) < 0 ? -1 : 0;
}
