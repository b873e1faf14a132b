/*
 * search.c — reading the store's change events (store_list_changes) and
 * searching the current catalog by name or comment (store_search).
 */
#include "store.h"
#include "store_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

mc_change *store_read_change(sqlite3_stmt *st, int col, mc_changes *out, mc_error *err)
{
    const char *kind = (const char *)sqlite3_column_text(st, col);
    int k = mc_change_kind_parse(kind);
    if (k < 0) {
        mc_error_set(err, MC_EXIT_STORE, "store: unknown change kind '%s'",
                     kind ? kind : "");
        return NULL;
    }
    mc_change *ch = mc_changes_add(out);
    ch->kind = (mc_change_kind)k;
    ch->schema = st_col_text(st, col + 1, out->arena);
    ch->container = st_col_text(st, col + 2, out->arena);
    ch->field = st_col_text(st, col + 3, out->arena);
    ch->attribute = st_col_text(st, col + 4, out->arena);
    ch->before = st_col_text(st, col + 5, out->arena);
    ch->after = st_col_text(st, col + 6, out->arena);
    ch->breaking = sqlite3_column_int(st, col + 7) != 0;
    ch->impact = st_col_text(st, col + 8, out->arena);
    return ch;
}

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
    sqlite3_stmt *st = st_prep(s,
        "SELECT ch.run_id, " STORE_CHANGE_COLUMNS
        "FROM changes ch JOIN datastores d ON d.id = ch.datastore_id "
        "WHERE d.name = ?1 AND ch.run_id > ?2 AND ch.run_id <= ?3 "
        "ORDER BY ch.id", what, err);
    if (!st)
        return -1;
    if (st_bind_text(st, 1, datastore) | st_bind_i64(st, 2, from_run) |
        st_bind_i64(st, 3, to_run > 0 ? to_run : INT64_MAX)) {
        st_bind_fail(s, err, what);
        sqlite3_finalize(st);
        return -1;
    }
    int64_t *ids = NULL; /* run ids of the items added here */
    size_t n_ids = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!store_read_change(st, 1, out, err))
            break;
        if (n_ids == cap) {
            cap = cap ? cap * 2 : 64;
            ids = mc_realloc(ids, cap * sizeof *ids);
        }
        ids[n_ids++] = st_col_i64(st, 0);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        st_db_fail(s, err, what);
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
    sqlite3_stmt *st = st_prep(s,
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
    if (st_bind_text(st, 1, pattern) | st_bind_i64(st, 2, limit ? (int64_t)limit : -1)) {
        ret = st_bind_fail(s, err, what);
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
        h->datastore = st_col_text(st, 0, out->arena);
        h->schema = st_col_text(st, 1, out->arena);
        h->container = st_col_text(st, 2, out->arena);
        h->field = st_col_text(st, 3, out->arena);
        h->kind = st_col_text(st, 4, out->arena);
        h->comment = st_col_text(st, 5, out->arena);
        h->extension = st_col_text(st, 6, out->arena);
    }
    if (rc != SQLITE_DONE) {
        ret = st_db_fail(s, err, what);
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
