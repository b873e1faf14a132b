/*
 * history.c — read-only history queries for the docs site (history.h).
 *
 * Each function is one statement over a datastore, stepped into a plain
 * array: the site asks once per build, whatever the number of containers
 * (10,000 tables must not mean 10,000 queries).  Grouping and ordering are
 * done by SQLite where an index serves them and in C where that is cheaper
 * than a temporary b-tree (the field lives).
 */
#include "history.h"
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

/* Grows *items (of size elem) to hold one more; returns the new slot. */
static void *grow(void **items, size_t *n, size_t *cap, size_t elem)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *items = mc_realloc(*items, *cap * elem);
    }
    void *slot = (char *)*items + (*n)++ * elem;
    memset(slot, 0, elem);
    return slot;
}

/* Prepares a statement whose ?1 is the datastore id; NULL with *ds 0 when
 * the store has never seen the datastore (not an error). */
static sqlite3_stmt *prep_for_ds(store *s, const char *datastore, const char *sql,
                                 const char *what, int64_t *ds, mc_error *err)
{
    *ds = 0;
    if (store_datastore_id(s, datastore, ds, err) < 0 || !*ds)
        return NULL;
    sqlite3_stmt *st = st_prep(s, sql, what, err);
    if (st && sqlite3_bind_int64(st, 1, (sqlite3_int64)*ds) != SQLITE_OK) {
        st_db_fail(s, err, what);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* ---- the read snapshot ----------------------------------------------------- */

int store_read_begin(store *s, mc_error *err)
{
    sqlite3 *db = store_sqlite(s);
    if (!sqlite3_get_autocommit(db))
        return 0; /* already inside one */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return st_db_fail(s, err, "start reading");
    /* A deferred transaction takes its snapshot at its first read. */
    if (sqlite3_exec(db, "SELECT count(*) FROM datastores", NULL, NULL, NULL) != SQLITE_OK) {
        st_db_fail(s, err, "start reading");
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

void store_read_end(store *s)
{
    sqlite3 *db = store_sqlite(s);
    if (db && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); /* nothing was written */
}

/* ---- change events ------------------------------------------------------------ */

int store_hist_changes(store *s, const char *datastore, mc_hist_changes *out,
                       mc_error *err)
{
    const char *what = "read the change history";
    memset(out, 0, sizeof *out);
    out->arena = mc_arena_new();
    int64_t ds;
    sqlite3_stmt *st = prep_for_ds(s, datastore,
        "SELECT ch.id, ch.run_id, coalesce(r.finished_at, r.started_at), "
        "ch.container_id, ch.kind, ch.schema_name, ch.container_name, "
        "ch.field_name, ch.attribute, ch.\"before\", ch.\"after\", ch.breaking, "
        "ch.impact FROM changes ch JOIN runs r ON r.id = ch.run_id "
        "WHERE ch.datastore_id = ?1 AND ch.kind NOT IN ('datastore_stale', "
        "'datastore_recovered') ORDER BY ch.id", what, &ds, err);
    if (!st)
        return mc_error_is_set(err) ? -1 : 0;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 4);
        int k = mc_change_kind_parse(kind);
        if (k < 0) {
            mc_error_set(err, MC_EXIT_STORE, "store: unknown change kind '%s'",
                         kind ? kind : "");
            break;
        }
        mc_hist_change *c = grow((void **)&out->items, &out->n, &cap, sizeof *c);
        c->id = st_col_i64(st, 0);
        c->run_id = st_col_i64(st, 1);
        c->run_at = st_col_i64(st, 2);
        c->container_id = st_col_i64(st, 3);
        c->kind = (mc_change_kind)k;
        c->schema = st_col_text(st, 5, out->arena);
        c->container = st_col_text(st, 6, out->arena);
        c->field = st_col_text(st, 7, out->arena);
        c->attribute = st_col_text(st, 8, out->arena);
        c->before = st_col_text(st, 9, out->arena);
        c->after = st_col_text(st, 10, out->arena);
        c->breaking = sqlite3_column_int(st, 11) != 0;
        c->impact = st_col_text(st, 12, out->arena);
        if (!c->schema)
            c->schema = "";
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        st_db_fail(s, err, what);
    sqlite3_finalize(st);
    return mc_error_is_set(err) ? -1 : 0;
}

void mc_hist_changes_free(mc_hist_changes *c)
{
    if (!c)
        return;
    free(c->items);
    mc_arena_free(c->arena);
    memset(c, 0, sizeof *c);
}

/* ---- field lives ------------------------------------------------------------ */

typedef struct fv_row {
    int64_t container_id;
    int32_t attnum, position;
    const char *name;
    int64_t from, from_at, to, to_at;
} fv_row;

/* Same life: same container and the same attnum, or (no attnum) the same
 * name. */
static int life_cmp(const fv_row *a, const fv_row *b)
{
    if (a->container_id != b->container_id)
        return a->container_id < b->container_id ? -1 : 1;
    if ((a->attnum == 0) != (b->attnum == 0))
        return a->attnum == 0 ? 1 : -1;
    if (a->attnum != b->attnum)
        return a->attnum < b->attnum ? -1 : 1;
    return a->attnum ? 0 : strcmp(a->name, b->name);
}

static int fv_row_cmp(const void *pa, const void *pb)
{
    const fv_row *a = pa, *b = pb;
    int c = life_cmp(a, b);
    if (c)
        return c;
    return (a->from > b->from) - (a->from < b->from);
}

static int hist_field_cmp(const void *pa, const void *pb)
{
    const mc_hist_field *a = pa, *b = pb;
    if (a->container_id != b->container_id)
        return a->container_id < b->container_id ? -1 : 1;
    if (a->first_run != b->first_run)
        return a->first_run < b->first_run ? -1 : 1;
    if (a->position != b->position)
        return a->position < b->position ? -1 : 1;
    if (a->attnum != b->attnum)
        return a->attnum < b->attnum ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* The field versions of a datastore (?1 its id), or of one container (?1
 * its id): index order (container_id, valid_from) costs no sort in SQLite;
 * the grouping into lives is a qsort here. */
#define FIELD_LIVES_SQL(where)                                                  \
    "SELECT fv.container_id, fv.attnum, fv.position, fv.name, "               \
    "fv.valid_from, coalesce(rf.finished_at, rf.started_at), "                \
    "fv.valid_to, coalesce(rt.finished_at, rt.started_at) "                   \
    "FROM containers c "                                                       \
    "JOIN field_versions fv ON fv.container_id = c.id "                        \
    "JOIN runs rf ON rf.id = fv.valid_from "                                   \
    "LEFT JOIN runs rt ON rt.id = fv.valid_to "                                \
    "WHERE " where

static int hist_fields_from(store *s, sqlite3_stmt *st, const char *what,
                            mc_hist_fields *out, mc_error *err);

int store_hist_fields(store *s, const char *datastore, mc_hist_fields *out,
                      mc_error *err)
{
    const char *what = "read the field history";
    memset(out, 0, sizeof *out);
    out->arena = mc_arena_new();
    int64_t ds;
    sqlite3_stmt *st = prep_for_ds(s, datastore, FIELD_LIVES_SQL("c.datastore_id = ?1"),
                                   what, &ds, err);
    if (!st)
        return mc_error_is_set(err) ? -1 : 0;
    return hist_fields_from(s, st, what, out, err);
}

int store_hist_fields_of(store *s, int64_t container_id, mc_hist_fields *out,
                         mc_error *err)
{
    const char *what = "read the field history";
    memset(out, 0, sizeof *out);
    out->arena = mc_arena_new();
    sqlite3_stmt *st = st_prep(s, FIELD_LIVES_SQL("c.id = ?1"), what, err);
    if (!st)
        return -1;
    if (sqlite3_bind_int64(st, 1, (sqlite3_int64)container_id) != SQLITE_OK) {
        st_db_fail(s, err, what);
        sqlite3_finalize(st);
        return -1;
    }
    return hist_fields_from(s, st, what, out, err);
}

/* Steps st (FIELD_LIVES_SQL) into out and finalizes it. */
static int hist_fields_from(store *s, sqlite3_stmt *st, const char *what,
                            mc_hist_fields *out, mc_error *err)
{
    fv_row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fv_row *r = grow((void **)&rows, &n, &cap, sizeof *r);
        r->container_id = st_col_i64(st, 0);
        r->attnum = (int32_t)sqlite3_column_int(st, 1);
        r->position = (int32_t)sqlite3_column_int(st, 2);
        r->name = st_col_text(st, 3, out->arena);
        if (!r->name)
            r->name = "";
        r->from = st_col_i64(st, 4);
        r->from_at = st_col_i64(st, 5);
        r->to = st_col_i64(st, 6);
        r->to_at = st_col_i64(st, 7);
    }
    if (rc != SQLITE_DONE)
        st_db_fail(s, err, what);
    sqlite3_finalize(st);
    if (mc_error_is_set(err)) {
        free(rows);
        return -1;
    }
    if (n)
        qsort(rows, n, sizeof *rows, fv_row_cmp);
    size_t fcap = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && life_cmp(&rows[i], &rows[j]) == 0)
            j++;
        const fv_row *first = &rows[i], *last = &rows[j - 1];
        mc_hist_field *f = grow((void **)&out->items, &out->n, &fcap, sizeof *f);
        f->container_id = first->container_id;
        f->name = last->name;
        f->attnum = last->attnum;
        f->position = last->position;
        f->first_run = first->from;
        f->first_at = first->from_at;
        if (j - i > 1) {
            f->changed_run = last->from;
            f->changed_at = last->from_at;
        }
        f->removed_run = last->to;
        f->removed_at = last->to ? last->to_at : 0;
        f->n_versions = j - i;
        i = j;
    }
    free(rows);
    if (out->n)
        qsort(out->items, out->n, sizeof *out->items, hist_field_cmp);
    return 0;
}

void mc_hist_fields_free(mc_hist_fields *f)
{
    if (!f)
        return;
    free(f->items);
    mc_arena_free(f->arena);
    memset(f, 0, sizeof *f);
}

/* ---- containers ----------------------------------------------------------------- */

int store_hist_containers(store *s, const char *datastore,
                          mc_hist_containers *out, mc_error *err)
{
    const char *what = "read the container history";
    memset(out, 0, sizeof *out);
    out->arena = mc_arena_new();
    int64_t ds;
    sqlite3_stmt *st = prep_for_ds(s, datastore,
        "SELECT x.cid, x.first, coalesce(r.finished_at, r.started_at) "
        "FROM (SELECT cv.container_id AS cid, min(cv.valid_from) AS first "
        "      FROM containers c JOIN container_versions cv ON cv.container_id = c.id "
        "      WHERE c.datastore_id = ?1 GROUP BY cv.container_id) x "
        "JOIN runs r ON r.id = x.first ORDER BY x.cid", what, &ds, err);
    if (!st)
        return mc_error_is_set(err) ? -1 : 0;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mc_hist_container *c = grow((void **)&out->items, &out->n, &cap, sizeof *c);
        c->container_id = st_col_i64(st, 0);
        c->first_run = st_col_i64(st, 1);
        c->first_at = st_col_i64(st, 2);
    }
    if (rc != SQLITE_DONE)
        st_db_fail(s, err, what);
    sqlite3_finalize(st);
    return mc_error_is_set(err) ? -1 : 0;
}

void mc_hist_containers_free(mc_hist_containers *c)
{
    if (!c)
        return;
    free(c->items);
    mc_arena_free(c->arena);
    memset(c, 0, sizeof *c);
}
