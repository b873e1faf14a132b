/*
 * facts.c — table facts in the store (store.h, mc_facts): the latest facts
 * of each container with the run that observed them, in container_facts,
 * apart from the versioned catalog (docs/lineage.md, "Table facts";
 * docs/store.md).
 *
 * Invariants:
 *  1. Facts never touch container_versions, field_versions, changes or a
 *     container's hash: a crawl in which only facts moved records no change
 *     and no version.
 *  2. A run whose facts were unavailable writes none: the last ones stay,
 *     with the run that observed them, so `show` says how old they are.
 *  3. Written inside store_commit_run's transaction: a run is recorded with
 *     its facts or not at all.
 */
#include "store.h"
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

void mc_facts_init(mc_facts *f)
{
    memset(f, 0, sizeof *f);
    f->rows = f->tbl_rows = f->visible_rows = f->skew_rows = f->skew_sortkey1 = -1;
    f->unsorted = f->stats_off = f->pct_used = -1;
    f->pages = f->total_bytes = f->dead_rows = f->modified_rows = -1;
}

/* The columns after container_id and run_id, in the order of both
 * statements below. */
#define FACT_COLUMNS                                                         \
    "row_estimate, pages, total_bytes, last_analyze, last_autoanalyze, "     \
    "last_vacuum, last_autovacuum, dead_rows, modified_rows, tbl_rows, "     \
    "visible_rows, skew_rows, skew_sortkey1, unsorted, stats_off, pct_used"

static int bind_real(sqlite3_stmt *st, int i, double v)
{
    return v >= 0 ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

static int bind_count(sqlite3_stmt *st, int i, int64_t v)
{
    return v >= 0 ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

int st_commit_facts(store *s, int64_t run, const mc_catalog *cur, const int64_t *key_of,
                    const char *status, mc_error *err)
{
    const char *what = "record the table facts";
    if (status) {
        sqlite3_stmt *st = st_prep(s, "UPDATE runs SET facts = ?2 WHERE id = ?1", what, err);
        if (!st)
            return -1;
        int rc = st_bind_i64(st, 1, run) | st_bind_text(st, 2, status)
                     ? st_bind_fail(s, err, what)
                     : st_run_stmt(s, st, what, err);
        sqlite3_finalize(st);
        if (rc < 0)
            return -1;
    }
    sqlite3_stmt *st = st_prep(s, "INSERT OR REPLACE INTO container_facts(container_id, "
                                  "run_id, " FACT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, "
                                  "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                               what, err);
    if (!st)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < cur->n_containers && rc == 0; i++) {
        const mc_facts *f = cur->containers[i].facts;
        if (!f || !key_of || key_of[i] <= 0)
            continue;
        int bad = st_bind_i64(st, 1, key_of[i]) | st_bind_i64(st, 2, run) |
                  bind_real(st, 3, f->rows) | bind_count(st, 4, f->pages) |
                  bind_count(st, 5, f->total_bytes) |
                  st_bind_i64_or_null(st, 6, f->last_analyze) |
                  st_bind_i64_or_null(st, 7, f->last_autoanalyze) |
                  st_bind_i64_or_null(st, 8, f->last_vacuum) |
                  st_bind_i64_or_null(st, 9, f->last_autovacuum) |
                  bind_count(st, 10, f->dead_rows) | bind_count(st, 11, f->modified_rows) |
                  bind_real(st, 12, f->tbl_rows) | bind_real(st, 13, f->visible_rows) |
                  bind_real(st, 14, f->skew_rows) | bind_real(st, 15, f->skew_sortkey1) |
                  bind_real(st, 16, f->unsorted) | bind_real(st, 17, f->stats_off) |
                  bind_real(st, 18, f->pct_used);
        rc = bad ? st_bind_fail(s, err, what) : st_run_stmt(s, st, what, err);
    }
    sqlite3_finalize(st);
    return rc;
}

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_double(st, i);
}

static int64_t col_count(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

int store_load_facts(store *s, mc_catalog *cat, mc_error *err)
{
    const char *what = "load the table facts";
    /* One index probe per container (container_id is the key): a catalog
     * as of any run, or a single container, costs what it has. */
    sqlite3_stmt *st = st_prep(s, "SELECT f.run_id, r.started_at, " FACT_COLUMNS " "
                                  "FROM container_facts f JOIN runs r ON r.id = f.run_id "
                                  "WHERE f.container_id = ?1",
                               what, err);
    if (!st)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < cat->n_containers && rc == 0; i++) {
        mc_container *k = &cat->containers[i];
        if (k->store_key <= 0)
            continue;
        sqlite3_reset(st);
        if (st_bind_i64(st, 1, k->store_key)) {
            rc = st_bind_fail(s, err, what);
            break;
        }
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            continue;
        if (step != SQLITE_ROW) {
            rc = st_db_fail(s, err, what);
            break;
        }
        mc_facts *f = mc_arena_alloc(cat->arena, sizeof *f);
        mc_facts_init(f);
        f->run = st_col_i64(st, 0);
        f->observed_at = st_col_i64(st, 1);
        f->rows = col_real(st, 2);
        f->pages = col_count(st, 3);
        f->total_bytes = col_count(st, 4);
        f->last_analyze = st_col_i64(st, 5);
        f->last_autoanalyze = st_col_i64(st, 6);
        f->last_vacuum = st_col_i64(st, 7);
        f->last_autovacuum = st_col_i64(st, 8);
        f->dead_rows = col_count(st, 9);
        f->modified_rows = col_count(st, 10);
        f->tbl_rows = col_real(st, 11);
        f->visible_rows = col_real(st, 12);
        f->skew_rows = col_real(st, 13);
        f->skew_sortkey1 = col_real(st, 14);
        f->unsorted = col_real(st, 15);
        f->stats_off = col_real(st, 16);
        f->pct_used = col_real(st, 17);
        k->facts = f;
    }
    sqlite3_finalize(st);
    return rc;
}
