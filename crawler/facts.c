/*
 * facts.c — table facts (facts.h): the one statement per crawl that reads
 * them, per dialect, and how they are attached to the catalog.
 *
 * Why after the snapshot and not in it: a failing statement aborts the
 * transaction it runs in (PostgreSQL and Redshift alike; Redshift has no
 * savepoints), and SVV_TABLE_INFO refuses every user that is neither a
 * superuser nor granted SELECT on it ("permission denied for relation
 * svv_table_info", SQLSTATE 42501).  Run in autocommit once the catalog is
 * whole, a refusal costs the facts and nothing else.  A pre-check with
 * has_table_privilege would not do: it is a leader-node function, which
 * Redshift refuses next to an SVV view, and a user given the sys:monitor
 * role reads system views through a system privilege that no ACL shows.
 *
 * PostgreSQL: pg_class (reltuples, relpages; the size is the relpages of
 * the table, its TOAST table and their indexes, times block_size: what the
 * last VACUUM, ANALYZE or CREATE INDEX counted; a partitioned table: the
 * sums over its partitions), and the functions behind pg_stat_all_tables
 * (last (auto)analyze and (auto)vacuum, dead rows, rows modified since the
 * last analyze) called for the tables in scope only: the view computes
 * twenty of them for every table of the database (0.5 s against 0.2 s on
 * the bench's catalog).
 * Readable by every user.  Not pg_total_relation_size: it opens and locks
 * every table (a relcache entry and a stat() per file each) — 4.1 s of the
 * statement's 4.5 s on the bench's 10,000 tables, every crawl — and a table
 * held by an ACCESS EXCLUSIVE lock would hold it up.  One SELECT, so its
 * rows stream (pg_rows) like the catalog's: 100,000 tables never sit in
 * memory as a whole result.
 *
 * Redshift (AWS "SVV_TABLE_INFO"): size in 1 MB blocks, tbl_rows,
 * estimated_visible_rows, skew_rows, skew_sortkey1, unsorted, stats_off,
 * pct_used, per table of the connected database; the row estimate is
 * pg_class.reltuples, which the container query read already.  The view
 * has no rows for empty tables.  Like every statement on an SVV view it
 * calls no function and names no catalog table (discover.c, rule 3).
 */
#include "facts.h"
#include "discover.h"
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The lock a table may make the statement wait for, at most. */

#define SCHEMAS_TOKEN "@SCHEMAS@"
#define DATABASE_TOKEN "@DATABASE@"
#define ROWS_TOKEN "@ROWS@"

/* Partitioned tables: the sums over every partition below them (parts
 * lists, for each partitioned table, all its descendants).  Before
 * PostgreSQL 14 a never-analysed table shows 0 rows in 0 pages
 * (@ROWS@, as discover.c gates it). */
/* Sizes from pg_class.relpages (see the top of the file): the table, its
 * TOAST table and every index of either, in pages of block_size. */
#define PG_SIZES_CTE                                                            \
    "ix(relid, pages) AS (SELECT x.indrelid, sum(i.relpages)::int8 "           \
    "FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid " \
    "GROUP BY x.indrelid), "                                                     \
    "sz(relid, bytes) AS (SELECT r.oid, (r.relpages::int8 + COALESCE(tt.relpages, 0) + " \
    "COALESCE(ri.pages, 0) + COALESCE(ti.pages, 0)) * "                          \
    "pg_catalog.current_setting('block_size')::int8 "                            \
    "FROM pg_catalog.pg_class r "                                                \
    "LEFT JOIN pg_catalog.pg_class tt ON tt.oid = r.reltoastrelid "              \
    "LEFT JOIN ix ri ON ri.relid = r.oid LEFT JOIN ix ti ON ti.relid = r.reltoastrelid " \
    "WHERE r.relkind IN ('r', 'm')) "

static const char pg_facts_sql[] =
    "WITH RECURSIVE "
    "parts(root, relid) AS ("
    "SELECT i.inhparent, i.inhrelid FROM pg_catalog.pg_inherits i "
    "JOIN pg_catalog.pg_class p ON p.oid = i.inhrelid WHERE p.relispartition "
    "UNION ALL "
    "SELECT parts.root, i.inhrelid FROM parts "
    "JOIN pg_catalog.pg_inherits i ON i.inhparent = parts.relid), "
    PG_SIZES_CTE ", "
    "tree AS (SELECT parts.root, sum(z.bytes)::int8 AS bytes, "
    "sum(p.relpages)::int8 AS pages, "
    "sum(CASE WHEN p.relkind IN ('r', 'm') AND p.reltuples >= 0 THEN p.reltuples END)::float8 "
    "AS tuples "
    "FROM parts JOIN pg_catalog.pg_class p ON p.oid = parts.relid "
    "LEFT JOIN sz z ON z.relid = parts.relid GROUP BY parts.root) "
    "SELECT c.oid::int8 AS oid, "
    "CASE WHEN c.relkind = 'p' THEN t.tuples ELSE " ROWS_TOKEN " END AS rows, "
    "CASE WHEN c.relkind = 'p' THEN COALESCE(t.pages, 0) ELSE c.relpages::int8 END AS pages, "
    "CASE WHEN c.relkind = 'p' THEN COALESCE(t.bytes, 0) ELSE z.bytes END AS total_bytes, "
    "extract(epoch FROM pg_catalog.pg_stat_get_last_analyze_time(c.oid))::int8 "
    "AS last_analyze, "
    "extract(epoch FROM pg_catalog.pg_stat_get_last_autoanalyze_time(c.oid))::int8 "
    "AS last_autoanalyze, "
    "extract(epoch FROM pg_catalog.pg_stat_get_last_vacuum_time(c.oid))::int8 "
    "AS last_vacuum, "
    "extract(epoch FROM pg_catalog.pg_stat_get_last_autovacuum_time(c.oid))::int8 "
    "AS last_autovacuum, "
    "pg_catalog.pg_stat_get_dead_tuples(c.oid)::int8 AS dead_rows, "
    "pg_catalog.pg_stat_get_mod_since_analyze(c.oid)::int8 AS modified_rows "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN tree t ON t.root = c.oid "
    "LEFT JOIN sz z ON z.relid = c.oid "
    "WHERE c.relkind IN ('r', 'm', 'p') AND NOT c.relispartition "
    "AND n.nspname IN (" SCHEMAS_TOKEN ")";

/* The probe of `check`: the same sources, one row at most. */
static const char pg_probe_sql[] =
    "WITH " PG_SIZES_CTE
    "SELECT c.oid::int8 AS oid, z.bytes AS total_bytes, "
    "s.last_analyze, s.last_autovacuum, s.n_dead_tup, s.n_mod_since_analyze "
    "FROM pg_catalog.pg_class c LEFT JOIN sz z ON z.relid = c.oid "
    "LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid "
    "WHERE c.relkind = 'r' AND c.oid = 'pg_catalog.pg_class'::regclass";

#define RS_FACTS_COLUMNS                                                           \
    "t.table_id::int8 AS oid, t.\"schema\" AS schema_name, t.\"table\" AS table_name, " \
    "t.size::int8 AS size_mb, t.tbl_rows::float8 AS tbl_rows, "                    \
    "t.estimated_visible_rows::float8 AS visible_rows, "                           \
    "t.skew_rows::float8 AS skew_rows, t.skew_sortkey1::float8 AS skew_sortkey1, " \
    "t.unsorted::float8 AS unsorted, t.stats_off::float8 AS stats_off, "           \
    "t.pct_used::float8 AS pct_used "

static const char rs_facts_sql[] =
    "SELECT " RS_FACTS_COLUMNS "FROM svv_table_info t "
    "WHERE t.\"database\" = " DATABASE_TOKEN " AND t.\"schema\" IN (" SCHEMAS_TOKEN ")";

static const char rs_probe_sql[] = "SELECT " RS_FACTS_COLUMNS "FROM svv_table_info t LIMIT 1";

const char *disc_facts_status_name(disc_facts_status s)
{
    static const char *const names[] = {"not_read", "read", "unavailable"};
    return (unsigned)s < 3 ? names[s] : "not_read";
}

void disc_facts_outcome_free(disc_facts_outcome *o)
{
    if (!o)
        return;
    free(o->why);
    free(o->fix);
    memset(o, 0, sizeof *o);
}

char *disc_facts_grant(const cfg_datastore *ds)
{
    mc_buf b = {0};
    mc_buf_puts(&b, "GRANT SELECT ON svv_table_info TO ");
    if (ds->user)
        mc_buf_put_sql_ident(&b, ds->user);
    else
        mc_buf_puts(&b, "<the crawler user>");
    mc_buf_putc(&b, ';');
    return mc_buf_steal(&b);
}

static bool is_redshift(disc_session *s)
{
    const char *d = disc_dialect(s);
    return d && strcmp(d, "redshift") == 0;
}

/* sql with every TOKEN replaced by TEXT; malloc'd. */
static char *subst(const char *sql, const char *token, const char *text)
{
    mc_buf b = {0};
    const char *p;
    while ((p = strstr(sql, token)) != NULL) {
        mc_buf_append(&b, sql, (size_t)(p - sql));
        mc_buf_puts(&b, text);
        sql = p + strlen(token);
    }
    mc_buf_puts(&b, sql);
    return mc_buf_steal(&b);
}

/* The statement for this session; malloc'd. */
static char *statement(disc_session *s, const char *sql, const char *in_list,
                       const char *db_lit)
{
    char *a = subst(sql, SCHEMAS_TOKEN, in_list ? in_list : "NULL");
    char *b = subst(a, DATABASE_TOKEN, db_lit ? db_lit : "NULL");
    free(a);
    if (is_redshift(s))
        return b;
    const char *rows = pg_server_version_num(disc_pg(s)) >= 140000
                           ? "c.reltuples::float8"
                           : "CASE WHEN c.reltuples = 0 AND c.relpages = 0 THEN -1 "
                             "ELSE c.reltuples END::float8";
    char *c = subst(b, ROWS_TOKEN, rows);
    free(b);
    return c;
}

/* Sets out to unavailable with the session's last failure. */
static void unavailable(disc_session *s, const cfg_datastore *ds, disc_facts_outcome *out)
{
    const pg_failure *f = pg_last_failure(disc_pg(s));
    out->status = DISC_FACTS_UNAVAILABLE;
    out->why = mc_strdup(f->message[0] ? f->message : "the statement failed");
    bool perm = strcmp(f->sqlstate, "42501") == 0;
    if (perm && is_redshift(s))
        out->fix = disc_facts_grant(ds);
    else if (perm)
        out->fix = mc_strdup("grant the crawler user read access to pg_stat_all_tables");
    mc_log(MC_LOG_INFO, "datastore '%s': table facts unavailable: %s (the catalog is read "
           "whole; the facts last recorded stay)", ds->name, out->why);
}

/* Column COL of the current row: a number, a count, a time (unix
 * seconds); unknown (-1, or 0 for a time) for NULL or a missing column. */
static double num(pg_rows *r, int col)
{
    if (col < 0 || pg_rows_null(r, col))
        return -1;
    return strtod(pg_rows_text(r, col), NULL);
}

static int64_t count(pg_rows *r, int col)
{
    return col < 0 || pg_rows_null(r, col) ? -1 : pg_rows_int(r, col);
}

static int64_t when(pg_rows *r, int col)
{
    return col < 0 || pg_rows_null(r, col) ? 0 : pg_rows_int(r, col);
}

static const char *text_or_null(pg_rows *r, int col)
{
    return col < 0 || pg_rows_null(r, col) ? NULL : pg_rows_text(r, col);
}

/* The kinds that have facts of their own (views are what they read). */
static bool has_facts(mc_kind k)
{
    return k == MC_KIND_TABLE || k == MC_KIND_MATVIEW || k == MC_KIND_PARTITIONED;
}

struct by_oid {
    int64_t oid;
    size_t idx;
};

static int cmp_by_oid(const void *a, const void *b)
{
    int64_t x = ((const struct by_oid *)a)->oid, y = ((const struct by_oid *)b)->oid;
    return (x > y) - (x < y);
}

/* The index of the container with this oid, or by (schema, name) when the
 * oid is not one of the catalog's; -1 when out of scope. */
static ptrdiff_t find(const mc_catalog *cat, const struct by_oid *idx, size_t n, int64_t oid,
                      const char *schema, const char *name)
{
    struct by_oid key = {oid, 0};
    const struct by_oid *hit = n ? bsearch(&key, idx, n, sizeof key, cmp_by_oid) : NULL;
    if (hit)
        return (ptrdiff_t)hit->idx;
    const mc_container *k = schema && name ? mc_catalog_find(cat, schema, name) : NULL;
    return k ? k - cat->containers : -1;
}

/* Container i's facts, made (all unknown) on first use; mine[i] keeps the
 * writable pointer that mc_container.facts shows read-only. */
static mc_facts *facts_of(mc_catalog *cat, mc_facts **mine, size_t i)
{
    if (!mine[i]) {
        mine[i] = mc_arena_alloc(cat->arena, sizeof *mine[i]);
        mc_facts_init(mine[i]);
        cat->containers[i].facts = mine[i];
    }
    return mine[i];
}

/* The columns of the facts statement, looked up on its first row. */
enum { C_OID, C_SCHEMA, C_TABLE, C_ROWS, C_PAGES, C_BYTES, C_MB, C_LA, C_LAA, C_LV, C_LAV,
       C_DEAD, C_MOD, C_TBL, C_VIS, C_SKEW, C_SKEW1, C_UNS, C_STATS, C_PCT, N_COLS };
static const char *const col_names[N_COLS] = {
    "oid", "schema_name", "table_name", "rows", "pages", "total_bytes", "size_mb",
    "last_analyze", "last_autoanalyze", "last_vacuum", "last_autovacuum", "dead_rows",
    "modified_rows", "tbl_rows", "visible_rows", "skew_rows", "skew_sortkey1", "unsorted",
    "stats_off", "pct_used"};

void disc_facts_read(disc_session *s, mc_catalog *cat, const char *in_list,
                     const char *db_lit, const cfg_datastore *ds, disc_facts_outcome *out)
{
    memset(out, 0, sizeof *out);
    bool rs = is_redshift(s);
    out->source = rs ? "svv_table_info" : "pg_class, pg_stat_all_tables";
    char *sql = statement(s, rs ? rs_facts_sql : pg_facts_sql, in_list, db_lit);
    pg_rows *rows = pg_rows_open(disc_pg(s), "table facts query", sql, 0, NULL);
    free(sql);
    if (!rows) {
        unavailable(s, ds, out);
        return;
    }

    struct by_oid *idx = mc_malloc((cat->n_containers + 1) * sizeof *idx);
    mc_facts **mine = mc_calloc(cat->n_containers + 1, sizeof *mine);
    size_t n = 0;
    for (size_t i = 0; i < cat->n_containers; i++)
        if (cat->containers[i].oid != 0)
            idx[n++] = (struct by_oid){cat->containers[i].oid, i};
    qsort(idx, n, sizeof *idx, cmp_by_oid);

    /* Redshift: every table has its row estimate (pg_class.reltuples, read
     * by the container query), whether SVV_TABLE_INFO lists it or not. */
    if (rs)
        for (size_t i = 0; i < cat->n_containers; i++) {
            mc_container *k = &cat->containers[i];
            if (has_facts(k->kind))
                facts_of(cat, mine, i)->rows = k->row_estimate;
        }
    int col[N_COLS];
    bool cols_known = false;
    int more;
    while ((more = pg_rows_next(rows, NULL)) > 0) {
        if (!cols_known) {
            for (int c = 0; c < N_COLS; c++)
                col[c] = pg_rows_column(rows, col_names[c]);
            cols_known = true;
        }
        ptrdiff_t i = find(cat, idx, n, count(rows, col[C_OID]),
                           text_or_null(rows, col[C_SCHEMA]), text_or_null(rows, col[C_TABLE]));
        if (i < 0 || !has_facts(cat->containers[i].kind))
            continue;
        mc_facts *f = facts_of(cat, mine, (size_t)i);
        if (!rs) {
            f->rows = num(rows, col[C_ROWS]);
            f->pages = count(rows, col[C_PAGES]);
            f->total_bytes = count(rows, col[C_BYTES]);
            f->last_analyze = when(rows, col[C_LA]);
            f->last_autoanalyze = when(rows, col[C_LAA]);
            f->last_vacuum = when(rows, col[C_LV]);
            f->last_autovacuum = when(rows, col[C_LAV]);
            f->dead_rows = count(rows, col[C_DEAD]);
            f->modified_rows = count(rows, col[C_MOD]);
        } else {
            int64_t mb = count(rows, col[C_MB]);
            f->total_bytes = mb >= 0 ? mb * 1048576 : -1;
            f->tbl_rows = num(rows, col[C_TBL]);
            f->visible_rows = num(rows, col[C_VIS]);
            f->skew_rows = num(rows, col[C_SKEW]);
            f->skew_sortkey1 = num(rows, col[C_SKEW1]);
            f->unsorted = num(rows, col[C_UNS]);
            f->stats_off = num(rows, col[C_STATS]);
            f->pct_used = num(rows, col[C_PCT]);
        }
    }
    pg_rows_close(rows);
    free(idx);
    free(mine);
    if (more < 0) {
        /* failed part way (a lock, a timeout): no facts at all this run,
         * rather than some from before the failure */
        for (size_t i = 0; i < cat->n_containers; i++)
            cat->containers[i].facts = NULL;
        unavailable(s, ds, out);
        return;
    }
    for (size_t i = 0; i < cat->n_containers; i++)
        out->n_containers += cat->containers[i].facts != NULL;
    out->status = DISC_FACTS_READ;
}

void disc_facts_probe(disc_session *s, const cfg_datastore *ds, disc_facts_outcome *out)
{
    memset(out, 0, sizeof *out);
    bool rs = is_redshift(s);
    out->source = rs ? "svv_table_info" : "pg_class, pg_stat_all_tables";
    char *sql = statement(s, rs ? rs_probe_sql : pg_probe_sql, NULL, NULL);
    pg_result *res = pg_query(disc_pg(s), "table facts query", sql, NULL);
    free(sql);
    if (!res) {
        unavailable(s, ds, out);
        return;
    }
    pg_result_free(res);
    out->status = DISC_FACTS_READ;
}
