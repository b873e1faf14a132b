/*
 * datashare.c — the catalog of a Redshift datashare consumer database
 * (datashare.h), read from the SVV_REDSHIFT_* views, and the origin of such
 * a database (its datashare and producer namespace) from
 * SVV_REDSHIFT_DATABASES.
 *
 * AWS documents the views' columns: SVV_REDSHIFT_SCHEMAS (database_name,
 * schema_name, schema_owner (a user id of the producer), schema_type,
 * schema_acl, schema_option), SVV_REDSHIFT_TABLES (database_name,
 * schema_name, table_name, table_type TABLE or VIEW, table_acl, remarks,
 * table_owner) and SVV_REDSHIFT_COLUMNS (database_name, schema_name,
 * table_name, column_name, ordinal_position, data_type, column_default,
 * is_nullable, encoding, distkey, sortkey, column_acl, remarks).  That is
 * what a consumer can know; everything else is left unknown, never guessed.
 *
 * The columns arrive ordered by schema, table and position, so each
 * container's fields are one consecutive run and are appended as such
 * (store.h, invariant 1).  Containers are matched to their columns through
 * a sorted index of (schema, name).
 */
#include "datashare.h"
#include "json.h"
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the origin -------------------------------------------------------------- */

/* The string value of "key" in a flat JSON object, unescaped for the simple
 * escapes; NULL when absent or not a string.  The options are AWS's text,
 * but read as untrusted: nothing is assumed about their length. */
static char *json_field(const char *text, const char *key)
{
    if (!text)
        return NULL;
    size_t klen = strlen(key);
    for (const char *p = strchr(text, '"'); p; p = strchr(p + 1, '"')) {
        if (strncmp(p + 1, key, klen) != 0 || p[1 + klen] != '"')
            continue;
        const char *q = p + 2 + klen;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != ':')
            continue;
        q++;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != '"')
            return NULL;
        mc_buf b = {0};
        for (q++; *q && *q != '"'; q++) {
            if (*q == '\\' && q[1])
                q++;
            mc_buf_putc(&b, *q);
        }
        char *out = *q == '"' ? mc_strdup(mc_buf_str(&b)) : NULL;
        mc_buf_free(&b);
        return out;
    }
    return NULL;
}

void dshare_origin_parse(const char *options, dshare_origin *out)
{
    out->share_name = json_field(options, "datashare_name");
    out->producer_account = json_field(options, "datashare_producer_account");
    out->producer_namespace = json_field(options, "datashare_producer_namespace");
}

void dshare_origin_free(dshare_origin *o)
{
    if (!o)
        return;
    free(o->share_name);
    free(o->producer_account);
    free(o->producer_namespace);
    memset(o, 0, sizeof *o);
}

char *dshare_origin_text(const dshare_origin *o)
{
    mc_buf b = {0};
    mc_buf_puts(&b, "datashare");
    if (o->share_name)
        mc_buf_printf(&b, " %s", o->share_name);
    mc_buf_printf(&b, " of producer namespace %s",
                  o->producer_namespace ? o->producer_namespace : "(unknown)");
    if (o->producer_account)
        mc_buf_printf(&b, " (account %s)", o->producer_account);
    char *s = mc_strdup(mc_buf_str(&b));
    mc_buf_free(&b);
    return s;
}

/* SVV_REDSHIFT_DATABASES.database_options is varchar(128), and AWS's JSON
 * for a consumer database is longer than that: the producer namespace,
 * last, is often cut off.  SVV_DATASHARES' INBOUND row of the database
 * says it whole (visible to superusers, the datashare's owner and users
 * with USAGE or ALTER on it); when it cannot be read the namespace stays
 * unknown, which the text says. */
void dshare_origin_complete(disc_session *s, const char *database, dshare_origin *o)
{
    if (o->producer_namespace)
        return;
    char *lit = pg_escape_literal(disc_pg(s), database);
    if (!lit)
        return;
    char *sql = mc_asprintf("SELECT share_name, producer_account, producer_namespace "
                            "FROM svv_datashares WHERE share_type = 'INBOUND' "
                            "AND consumer_database = %s", lit);
    free(lit);
    pg_result *r = pg_query(disc_pg(s), "datashare origin query", sql, NULL);
    free(sql);
    if (!r) {
        mc_log(MC_LOG_DEBUG, "datashare origin query failed (going on): %s",
               pg_last_failure(disc_pg(s))->message);
        return;
    }
    if (pg_result_rows(r) == 1) {
        const char *v[3];
        for (int i = 0; i < 3; i++)
            v[i] = pg_result_null(r, 0, i) || !*pg_result_text(r, 0, i)
                       ? NULL : pg_result_text(r, 0, i);
        if (!o->share_name && v[0])
            o->share_name = mc_strdup(v[0]);
        if (!o->producer_account && v[1])
            o->producer_account = mc_strdup(v[1]);
        if (v[2])
            o->producer_namespace = mc_strdup(v[2]);
    }
    pg_result_free(r);
}

/* ---- the catalog ------------------------------------------------------------- */

/* Each is followed by the database's name as an escaped literal. */
static const char schemas_sql[] =
    "SELECT schema_name FROM svv_redshift_schemas WHERE database_name = ";
static const char tables_sql[] =
    "SELECT schema_name, table_name, table_type, remarks, table_owner "
    "FROM svv_redshift_tables WHERE database_name = ";
static const char columns_sql[] =
    "SELECT schema_name, table_name, column_name, ordinal_position, data_type, "
    "column_default, is_nullable, encoding, distkey, sortkey, remarks "
    "FROM svv_redshift_columns WHERE database_name = ";
static const char columns_order[] = " ORDER BY schema_name, table_name, ordinal_position";

/* NULL for SQL NULL and for the empty strings the views use for "none". */
static const char *opt(mc_catalog *cat, const pg_result *r, int row, int col)
{
    if (pg_result_null(r, row, col) || !*pg_result_text(r, row, col))
        return NULL;
    return mc_arena_strdup(cat->arena, pg_result_text(r, row, col));
}

typedef struct sortcol {
    const char *name;
    int ord;
} sortcol;

static int cmp_sortcol(const void *a, const void *b)
{
    int x = abs(((const sortcol *)a)->ord), y = abs(((const sortcol *)b)->ord);
    return (x > y) - (x < y);
}

typedef struct key_ref {
    const char *schema, *name;
    size_t idx;
} key_ref;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_key(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    int c = strcmp(x->schema, y->schema);
    return c ? c : strcmp(x->name, y->name);
}

/* One row of the column query: its container, ordinal and row number. */
typedef struct col_ref {
    size_t k;       /* container index; SIZE_MAX = a table not in the catalog */
    int64_t ord;
    int row;
} col_ref;

static int cmp_col(const void *x, const void *y)
{
    const col_ref *a = x, *b = y;
    if (a->k != b->k)
        return a->k < b->k ? -1 : 1;
    if (a->ord != b->ord)
        return a->ord < b->ord ? -1 : 1;
    return a->row - b->row;
}

/* A container's sort key and KEY dist style from its columns' distkey and
 * sortkey, in discover.c's canonical forms. */
static void finish_keys(mc_catalog *cat, mc_container *k, sortcol *sc, size_t n_sc,
                        const char *distkey)
{
    if (distkey) {
        char *d = mc_asprintf("KEY(%s)", distkey);
        k->dist_style = mc_arena_strdup(cat->arena, d);
        free(d);
    }
    if (!n_sc)
        return;
    qsort(sc, n_sc, sizeof *sc, cmp_sortcol);
    bool interleaved = false;
    for (size_t i = 0; i < n_sc; i++)
        interleaved |= sc[i].ord < 0;
    mc_buf b = {0};
    bool first = true;
    mc_buf_putc(&b, '{');
    json_put_kv_str(&b, &first, "type", interleaved ? "interleaved" : "compound");
    first = json_put_key(&b, first, "columns");
    mc_buf_putc(&b, '[');
    for (size_t i = 0; i < n_sc; i++) {
        if (i)
            mc_buf_putc(&b, ',');
        json_put_str(&b, sc[i].name);
    }
    mc_buf_puts(&b, "]}");
    k->sort_key = mc_arena_strdup(cat->arena, mc_buf_str(&b));
    mc_buf_free(&b);
}

static pg_result *run(disc_session *s, const char *what, const char *head, const char *lit,
                      const char *tail, mc_error *err)
{
    char *sql = mc_asprintf("%s%s%s", head, lit, tail);
    pg_result *r = pg_query(disc_pg(s), what, sql, err);
    free(sql);
    if (!r)
        mc_error_hint(err, "a datashare consumer database is read from svv_redshift_schemas, "
                           "svv_redshift_tables and svv_redshift_columns; the user needs USAGE "
                           "on the database (GRANT USAGE ON DATABASE)");
    return r;
}

int dshare_discover(disc_session *s, const cfg_datastore *ds, const char *database,
                    disc_result *out, mc_error *err)
{
    int rc = -1;
    pg_result *rs = NULL, *rt = NULL, *rcol = NULL;
    key_ref *keys = NULL;
    sortcol *sc = NULL;
    col_ref *order = NULL;
    const char **names = NULL;
    size_t n_names = 0;
    char *lit = pg_escape_literal(disc_pg(s), database);
    if (!lit) {
        mc_error_set(err, MC_EXIT_CONNECT, "datastore '%s': cannot quote the database name",
                     ds->name);
        return -1;
    }
    if (pg_exec(disc_pg(s), "snapshot", "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY", err) != 0)
        goto out;
    if (!(rs = run(s, "datashare schema query", schemas_sql, lit, "", err)) ||
        !(rt = run(s, "datashare table query", tables_sql, lit, "", err)) ||
        !(rcol = run(s, "datashare column query", columns_sql, lit, columns_order, err)))
        goto out;
    if (pg_exec(disc_pg(s), "snapshot end", "COMMIT", err) != 0)
        goto out;

    mc_catalog *cat = out->catalog = mc_catalog_new();
    /* schemas in byte order, once each, so that mc_catalog_find_schema
     * (a binary search) works before the catalog is finished */
    names = mc_calloc((size_t)pg_result_rows(rs) + 1, sizeof *names);
    for (int i = 0; i < pg_result_rows(rs); i++)
        names[n_names++] = pg_result_text(rs, i, 0);
    qsort(names, n_names, sizeof *names, cmp_str);
    for (size_t i = 0; i < n_names; i++) {
        const char *name = names[i];
        if (!*name || (i && !strcmp(name, names[i - 1])) || disc_is_system_schema(name) ||
            !cfg_globs_match(&ds->schemas, name))
            continue;
        mc_schema *sch = mc_catalog_add_schema(cat);
        sch->name = mc_arena_strdup(cat->arena, name);
        sch->usable = true;
    }
    size_t n_keys = 0;
    keys = mc_calloc((size_t)pg_result_rows(rt) + 1, sizeof *keys);
    for (int i = 0; i < pg_result_rows(rt); i++) {
        const char *schema = pg_result_text(rt, i, 0), *name = pg_result_text(rt, i, 1);
        if (!*name || !mc_catalog_find_schema(cat, schema) ||
            !cfg_globs_match(&ds->containers, name))
            continue;
        mc_container *k = mc_catalog_add_container(cat);
        const mc_schema *sch = mc_catalog_find_schema(cat, schema);
        k->schema = sch->name;
        k->name = mc_arena_strdup(cat->arena, name);
        k->kind = strcmp(pg_result_text(rt, i, 2), "VIEW") == 0 ? MC_KIND_VIEW : MC_KIND_TABLE;
        k->comment = opt(cat, rt, i, 3);
        k->owner = opt(cat, rt, i, 4);
    }
    for (size_t i = 0; i < cat->n_containers; i++)
        keys[n_keys++] = (key_ref){cat->containers[i].schema, cat->containers[i].name, i};
    qsort(keys, n_keys, sizeof *keys, cmp_key);

    /* the columns, one consecutive run per table: put in that order here,
     * by (table, ordinal_position), whatever order the server's collation
     * gave them (a table split in two runs would fail the whole crawl) */
    int n_rows = pg_result_rows(rcol);
    order = mc_calloc((size_t)n_rows + 1, sizeof *order);
    for (int i = 0; i < n_rows; i++) {
        key_ref want = {pg_result_text(rcol, i, 0), pg_result_text(rcol, i, 1), 0};
        const key_ref *hit = bsearch(&want, keys, n_keys, sizeof *keys, cmp_key);
        order[i] = (col_ref){hit ? hit->idx : SIZE_MAX, pg_result_int(rcol, i, 3), i};
    }
    if (n_rows > 1)
        qsort(order, (size_t)n_rows, sizeof *order, cmp_col);
    sc = mc_calloc((size_t)n_rows + 1, sizeof *sc);
    size_t n_sc = 0;
    mc_container *cur = NULL;
    const char *distkey = NULL;
    for (int oi = 0; oi < n_rows; oi++) {
        int i = order[oi].row;
        mc_container *k = order[oi].k != SIZE_MAX ? &cat->containers[order[oi].k] : NULL;
        if (k != cur) {
            if (cur)
                finish_keys(cat, cur, sc, n_sc, distkey);
            cur = k;
            n_sc = 0;
            distkey = NULL;
            if (k) {
                if (k->n_fields) {
                    /* a second run for one table: the views broke their order */
                    mc_error_set(err, MC_EXIT_CONNECT,
                                 "datastore '%s': svv_redshift_columns returned the columns "
                                 "of %s.%s out of order", ds->name, k->schema, k->name);
                    mc_error_hint(err, "crawl again; if it persists, report it with -vv");
                    goto out;
                }
                k->first_field = cat->n_fields;
            }
        }
        if (!k)
            continue;
        mc_field *f = mc_catalog_add_field(cat);
        f->name = mc_arena_strdup(cat->arena, pg_result_text(rcol, i, 2));
        f->position = (int32_t)(k->n_fields + 1);
        f->type = opt(cat, rcol, i, 4);
        if (!f->type)
            f->type = mc_arena_strdup(cat->arena, "unknown");
        f->default_expr = opt(cat, rcol, i, 5);
        f->not_null = strcasecmp(pg_result_text(rcol, i, 6), "NO") == 0;
        f->encoding = opt(cat, rcol, i, 7);
        f->comment = opt(cat, rcol, i, 10);
        k->n_fields++;
        if (pg_result_bool(rcol, i, 8))
            distkey = f->name;
        int ord = (int)pg_result_int(rcol, i, 9);
        if (ord != 0)
            sc[n_sc++] = (sortcol){f->name, ord};
    }
    if (cur)
        finish_keys(cat, cur, sc, n_sc, distkey);
    mc_catalog_finish(cat);
    rc = 0;
out:
    out->n_queries = pg_n_statements(disc_pg(s));
    free(lit);
    free(keys);
    free(sc);
    free(order);
    free(names);
    pg_result_free(rs);
    pg_result_free(rt);
    pg_result_free(rcol);
    if (rc != 0) {
        disc_result_free(out);
        out->n_queries = pg_n_statements(disc_pg(s));
    }
    return rc;
}
