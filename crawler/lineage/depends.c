/*
 * depends.c — reading what views read (lineage.h, docs/lineage.md).
 *
 * From the catalog: a view's (or materialized view's) query is its
 * _RETURN rule in pg_rewrite, and the rule's pg_depend rows (classid
 * pg_rewrite, refclassid pg_class) name every relation it reads — with
 * refobjsubid 0 — and every column — refobjsubid = the column's attnum.
 * The rule also depends on its own view (skipped).  One statement for the
 * whole catalog, joined to the names as AWS's admin views
 * v_view_dependency / v_view_table_column_dependency do (amazon-redshift-
 * utils, src/AdminViews), so no view costs a round trip.
 *
 * Parsed: a late-binding view (Redshift, WITH NO SCHEMA BINDING) has no
 * pg_depend rows; Redshift requires every table in it to be schema
 * qualified, so its definition's qualified names (mc_sql_scan_chains:
 * quotes, comments and string literals understood) are what it reads.
 *
 * Invariant: depends_on is canonical — entries sorted by (schema, name),
 * columns sorted and unique — so the same dependencies always hash and
 * compare equal, whatever order the server returned its rows in.
 */
#include "lineage.h"
#include "json.h"
#include "sql_scan.h"

#include <stdlib.h>
#include <string.h>

/* ---- the statement ------------------------------------------------------------- */

/* System schemas are never an edge (a view over pg_class reads nothing the
 * catalog documents); partitions and relations outside the crawl's scope
 * are named as they are. */
static const char pg_depends_sql[] =
    "SELECT DISTINCT w.ev_class::int8 AS view_oid, rn.nspname AS ref_schema, "
    "rc.relname AS ref_name, a.attname AS ref_column "
    "FROM pg_catalog.pg_depend dep "
    "JOIN pg_catalog.pg_rewrite w ON w.oid = dep.objid "
    "JOIN pg_catalog.pg_class v ON v.oid = w.ev_class "
    "JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace "
    "JOIN pg_catalog.pg_class rc ON rc.oid = dep.refobjid "
    "JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace "
    "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = dep.refobjid "
    "AND a.attnum = dep.refobjsubid AND dep.refobjsubid > 0 "
    "WHERE dep.classid = 'pg_catalog.pg_rewrite'::regclass "
    "AND dep.refclassid = 'pg_catalog.pg_class'::regclass "
    "AND dep.refobjid <> w.ev_class AND v.relkind IN ('v', 'm') "
    "AND rc.relkind IN ('r', 'v', 'm', 'p', 'f') "
    "AND rn.nspname <> 'information_schema' AND rn.nspname NOT LIKE 'pg\\_%' "
    "AND vn.nspname IN (@SCHEMAS@)";

/* Redshift (the rules of discover.c's Redshift statements: no pg_catalog.
 * prefix outside regclass literals, no function, no array, no LIKE
 * escape).  A materialized view's rows live in mv_tbl__<name>__<n>, which
 * the catalog leaves out: not an edge. */
static const char rs_depends_sql[] =
    "SELECT DISTINCT w.ev_class::int8 AS view_oid, rn.nspname AS ref_schema, "
    "rc.relname AS ref_name, a.attname AS ref_column "
    "FROM pg_depend dep "
    "JOIN pg_rewrite w ON w.oid = dep.objid "
    "JOIN pg_class v ON v.oid = w.ev_class "
    "JOIN pg_namespace vn ON vn.oid = v.relnamespace "
    "JOIN pg_class rc ON rc.oid = dep.refobjid "
    "JOIN pg_namespace rn ON rn.oid = rc.relnamespace "
    "LEFT JOIN pg_attribute a ON a.attrelid = dep.refobjid "
    "AND a.attnum = dep.refobjsubid AND dep.refobjsubid > 0 "
    "WHERE dep.classid = 'pg_catalog.pg_rewrite'::regclass "
    "AND dep.refclassid = 'pg_catalog.pg_class'::regclass "
    "AND dep.refobjid <> w.ev_class AND v.relkind IN ('v', 'm') "
    "AND rc.relkind IN ('r', 'v', 'm') AND substr(rc.relname, 1, 8) <> 'mv_tbl__' "
    "AND rn.nspname <> 'information_schema' AND substr(rn.nspname, 1, 3) <> 'pg_' "
    "AND vn.nspname IN (@SCHEMAS@)";

typedef struct edge {
    int64_t view_oid;
    const char *schema, *name;
    const char *column; /* NULL: the relation as a whole */
} edge;

struct lin_edges {
    edge *items;
    size_t n, cap;
    mc_arena *arena;
};

void lin_edges_free(lin_edges *e)
{
    if (!e)
        return;
    free(e->items);
    mc_arena_free(e->arena);
    free(e);
}

static int cmp_opt(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int cmp_edge(const void *x, const void *y)
{
    const edge *a = x, *b = y;
    if (a->view_oid != b->view_oid)
        return a->view_oid < b->view_oid ? -1 : 1;
    int c;
    if ((c = strcmp(a->schema, b->schema)) != 0 || (c = strcmp(a->name, b->name)) != 0)
        return c;
    return cmp_opt(a->column, b->column);
}

int lin_read_edges(pg_session *pg, bool redshift, const char *in_list, lin_edges **out,
                   mc_error *err)
{
    *out = NULL;
    const char *tmpl = redshift ? rs_depends_sql : pg_depends_sql;
    const char *tok = strstr(tmpl, "@SCHEMAS@");
    mc_buf sql = {0};
    mc_buf_append(&sql, tmpl, (size_t)(tok - tmpl));
    mc_buf_puts(&sql, in_list && *in_list ? in_list : "NULL");
    mc_buf_puts(&sql, tok + strlen("@SCHEMAS@"));
    pg_rows *rows = pg_rows_open(pg, "dependency query", mc_buf_str(&sql), 0, err);
    mc_buf_free(&sql);
    if (!rows)
        return -1;
    lin_edges *e = mc_calloc(1, sizeof *e);
    e->arena = mc_arena_new();
    int cols[4] = {-1, -1, -1, -1}, more;
    static const char *const names[4] = {"view_oid", "ref_schema", "ref_name", "ref_column"};
    while ((more = pg_rows_next(rows, err)) > 0) {
        if (cols[0] < 0)
            for (int i = 0; i < 4; i++)
                if ((cols[i] = pg_rows_column(rows, names[i])) < 0) {
                    mc_error_set(err, MC_EXIT_CONNECT,
                                 "dependency query result has no column '%s'", names[i]);
                    more = -1;
                    goto done;
                }
        if (e->n == e->cap) {
            e->cap = e->cap ? 2 * e->cap : 64;
            e->items = mc_realloc(e->items, e->cap * sizeof *e->items);
        }
        edge *g = &e->items[e->n++];
        g->view_oid = pg_rows_int(rows, cols[0]);
        g->schema = mc_arena_strdup(e->arena, pg_rows_text(rows, cols[1]));
        g->name = mc_arena_strdup(e->arena, pg_rows_text(rows, cols[2]));
        g->column = pg_rows_null(rows, cols[3])
                        ? NULL : mc_arena_strdup(e->arena, pg_rows_text(rows, cols[3]));
        mc_progress_row("dependency query");
    }
done:
    pg_rows_close(rows);
    if (more < 0) {
        lin_edges_free(e);
        return -1;
    }
    if (e->n > 1)
        qsort(e->items, e->n, sizeof *e->items, cmp_edge);
    *out = e;
    return 0;
}

/* ---- parsed edges ------------------------------------------------------------------ */

typedef struct ref {
    char *schema, *name;
} ref;

typedef struct parse_ctx {
    ref *refs;
    size_t n;
    const char *self_schema, *self_name;
    bool (*known)(void *arg, const char *schema, const char *name);
    void *arg;
} parse_ctx;

static bool system_schema(const char *s)
{
    return strcmp(s, "information_schema") == 0 || strncmp(s, "pg_", 3) == 0;
}

static bool is_known(parse_ctx *x, const char *schema, const char *name)
{
    return x->known && x->known(x->arg, schema, name);
}

static void add_ref(parse_ctx *x, const char *schema, const char *name)
{
    if (!*schema || !*name || system_schema(schema))
        return;
    if (x->self_schema && x->self_name && strcmp(schema, x->self_schema) == 0 &&
        strcmp(name, x->self_name) == 0)
        return;
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->refs[i].schema, schema) == 0 && strcmp(x->refs[i].name, name) == 0)
            return;
    x->refs = mc_realloc(x->refs, (x->n + 1) * sizeof *x->refs);
    x->refs[x->n].schema = mc_strdup(schema);
    x->refs[x->n].name = mc_strdup(name);
    x->n++;
}

/*
 * Which chains are relations (docs/lineage.md, "Parsed"):
 *   a.b      after FROM/JOIN, or when the catalog has a.b (else alias.column)
 *   a.b.c    after FROM/JOIN: database.schema.table; elsewhere
 *            schema.table.column when the catalog has a.b
 *   a.b.c.d  database.schema.table.column when the catalog has b.c
 * A chain followed by "(" is a function call, never a relation.
 */
static void on_chain(void *arg, const mc_sql_chain *c)
{
    parse_ctx *x = arg;
    if (c->called)
        return;
    const char *const *p = c->parts;
    switch (c->n_parts) {
    case 2:
        if (c->after_from || is_known(x, p[0], p[1]))
            add_ref(x, p[0], p[1]);
        break;
    case 3:
        if (c->after_from)
            add_ref(x, p[1], p[2]);
        else if (is_known(x, p[0], p[1]))
            add_ref(x, p[0], p[1]);
        break;
    case 4:
        if (is_known(x, p[1], p[2]))
            add_ref(x, p[1], p[2]);
        break;
    default:
        break;
    }
}

static int cmp_ref(const void *x, const void *y)
{
    const ref *a = x, *b = y;
    int c = strcmp(a->schema, b->schema);
    return c ? c : strcmp(a->name, b->name);
}

char *lin_parse_definition(const char *definition, const char *self_schema,
                           const char *self_name,
                           bool (*known)(void *arg, const char *schema, const char *name),
                           void *arg)
{
    parse_ctx x = {NULL, 0, self_schema, self_name, known, arg};
    mc_sql_scan_chains(definition, on_chain, &x);
    if (x.n == 0)
        return NULL;
    if (x.n > 1)
        qsort(x.refs, x.n, sizeof *x.refs, cmp_ref);
    mc_buf b = {0};
    mc_buf_putc(&b, '[');
    for (size_t i = 0; i < x.n; i++) {
        bool first = true;
        mc_buf_puts(&b, i ? ",{" : "{");
        json_put_kv_str(&b, &first, "schema", x.refs[i].schema);
        json_put_kv_str(&b, &first, "name", x.refs[i].name);
        json_put_kv_str(&b, &first, "source", "parsed");
        mc_buf_putc(&b, '}');
        free(x.refs[i].schema);
        free(x.refs[i].name);
    }
    mc_buf_putc(&b, ']');
    free(x.refs);
    return mc_buf_steal(&b);
}

/* ---- attaching ---------------------------------------------------------------------- */

static int cmp_container_name(const void *x, const void *y)
{
    const mc_container *a = *(const mc_container *const *)x;
    const mc_container *b = *(const mc_container *const *)y;
    int c = strcmp(a->schema, b->schema);
    return c ? c : strcmp(a->name, b->name);
}

typedef struct name_index {
    const mc_container **by_name;
    size_t n;
} name_index;

static bool known_name(void *arg, const char *schema, const char *name)
{
    const name_index *ix = arg;
    mc_container key = {.schema = schema, .name = name};
    const mc_container *kp = &key;
    return ix->n && bsearch(&kp, ix->by_name, ix->n, sizeof *ix->by_name,
                            cmp_container_name) != NULL;
}

/* The catalog's edges of one view: items[lo, hi) of e (same view_oid),
 * sorted by (schema, name, column), NULL columns first. */
static char *catalog_json(const edge *items, size_t n)
{
    mc_buf b = {0};
    mc_buf_putc(&b, '[');
    size_t i = 0, n_out = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && strcmp(items[j].schema, items[i].schema) == 0 &&
               strcmp(items[j].name, items[i].name) == 0)
            j++;
        bool first = true;
        mc_buf_puts(&b, n_out++ ? ",{" : "{");
        json_put_kv_str(&b, &first, "schema", items[i].schema);
        json_put_kv_str(&b, &first, "name", items[i].name);
        json_put_kv_str(&b, &first, "source", "catalog");
        first = json_put_key(&b, first, "columns");
        mc_buf_putc(&b, '[');
        bool any = false;
        const char *last = NULL;
        for (size_t k = i; k < j; k++) {
            if (!items[k].column || (last && strcmp(last, items[k].column) == 0))
                continue;
            if (any)
                mc_buf_putc(&b, ',');
            json_put_str(&b, items[k].column);
            any = true;
            last = items[k].column;
        }
        mc_buf_puts(&b, "]}");
        i = j;
    }
    mc_buf_putc(&b, ']');
    return mc_buf_steal(&b);
}

static int cmp_edge_oid(const void *key, const void *elem)
{
    int64_t k = *(const int64_t *)key, v = ((const edge *)elem)->view_oid;
    return (k > v) - (k < v);
}

void lin_attach(mc_catalog *cat, const lin_edges *e, bool redshift)
{
    name_index ix = {mc_malloc((cat->n_containers + 1) * sizeof *ix.by_name),
                     cat->n_containers};
    for (size_t i = 0; i < cat->n_containers; i++)
        ix.by_name[i] = &cat->containers[i];
    if (ix.n > 1)
        qsort(ix.by_name, ix.n, sizeof *ix.by_name, cmp_container_name);
    for (size_t i = 0; i < cat->n_containers; i++) {
        mc_container *k = &cat->containers[i];
        if (k->kind != MC_KIND_VIEW && k->kind != MC_KIND_MATVIEW &&
            k->kind != MC_KIND_LATE_BINDING_VIEW)
            continue;
        char *json = NULL;
        if (k->kind != MC_KIND_LATE_BINDING_VIEW && e && e->n && k->oid) {
            const edge *hit = bsearch(&k->oid, e->items, e->n, sizeof *e->items,
                                      cmp_edge_oid);
            if (hit) {
                size_t lo = (size_t)(hit - e->items), hi = lo + 1;
                while (lo > 0 && e->items[lo - 1].view_oid == k->oid)
                    lo--;
                while (hi < e->n && e->items[hi].view_oid == k->oid)
                    hi++;
                json = catalog_json(e->items + lo, hi - lo);
            }
        }
        if (!json && (k->kind == MC_KIND_LATE_BINDING_VIEW ||
                      (redshift && k->kind == MC_KIND_MATVIEW)))
            json = lin_parse_definition(k->definition, k->schema, k->name, known_name, &ix);
        k->depends_on = json ? mc_arena_strdup(cat->arena, json) : NULL;
        free(json);
    }
    free(ix.by_name);
}
