/*
 * scope.c — the live catalog as `metacrawl grants` needs it
 * (grants_internal.h): the schemas in scope (the datastore's globs, system
 * schemas never), the distinct owners of the tables in scope, and whether
 * the user, the group and the membership exist — three statements whatever
 * the size of the catalog.  On Redshift they touch only leader-node catalog
 * tables (pg_namespace, pg_class, pg_user, pg_group, pg_external_schema),
 * never SVV views or user tables.
 */
#include "grants_internal.h"
#include "discover.h"

#include <stdlib.h>
#include <string.h>


/* Three statements, whatever the size of the catalog.  System schemas and
 * the globs are applied here in C, so the SQL needs no literals. */
static const char pg_schemas_sql[] =
    "SELECT n.nspname AS name, 0 AS external FROM pg_catalog.pg_namespace n";
/* The Redshift statements name catalog objects unqualified, as AWS's pages
 * and discover.c's Redshift dialect do (pg_catalog is searched first
 * anyway); the CI's Redshift shim (tests/integration/redshift/) relies on
 * it.  Spectrum schemas are in pg_namespace too; pg_external_schema marks
 * them ("PG_EXTERNAL_SCHEMA": esoid is the namespace's oid) with their
 * kind (eskind, 0 here for a local schema). */
static const char rs_schemas_sql[] =
    "SELECT n.nspname AS name, COALESCE(es.eskind, 0) AS external "
    "FROM pg_namespace n "
    "LEFT JOIN pg_external_schema es ON es.esoid = n.oid";

static const char pg_owners_sql[] =
    "SELECT n.nspname AS schema, c.relname AS name, "
    "pg_catalog.pg_get_userbyid(c.relowner) AS owner "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";
static const char rs_owners_sql[] =
    "SELECT n.nspname AS schema, c.relname AS name, "
    "pg_get_userbyid(c.relowner) AS owner "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'v', 'm') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'pg_internal')";

/* $1 the crawler user, $2 the group (role).  PostgreSQL needs no
 * membership answer: GRANT role TO user is idempotent there. */
static const char pg_roles_sql[] =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1) AS user_exists, "
    "EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $2) AS group_exists, "
    "NULL::boolean AS member";
static const char rs_roles_sql[] =
    "SELECT EXISTS (SELECT 1 FROM pg_user WHERE usename = $1) AS user_exists, "
    "EXISTS (SELECT 1 FROM pg_group WHERE groname = $2) AS group_exists, "
    "EXISTS (SELECT 1 FROM pg_user u, pg_group g "
    "WHERE u.usename = $1 AND g.groname = $2 AND u.usesysid = ANY (g.grolist)) AS member";


void grants_scope_add_schema(grants_scope *s, const char *name, int external_kind)
{
    s->names[s->n_schemas] = mc_strdup(name);
    s->schemas[s->n_schemas].name = s->names[s->n_schemas];
    s->schemas[s->n_schemas].external = external_kind != 0;
    s->schemas[s->n_schemas].external_kind = external_kind;
    s->n_schemas++;
}

void grants_scope_free(grants_scope *s)
{
    for (size_t i = 0; i < s->n_schemas; i++)
        free(s->names[i]);
    free(s->names);
    free(s->schemas);
    for (size_t i = 0; i < s->n_owners; i++)
        free(s->owners[i]);
    free(s->owners);
    memset(s, 0, sizeof *s);
}

static pg_result *run_query(pg_session *pg, const char *ds, const char *what, const char *sql,
                            int n_params, const char *const *params, mc_error *err)
{
    pg_result *res = pg_query_params(pg, what, sql, n_params, params, NULL);
    if (res)
        return res;
    const pg_failure *f = pg_last_failure(pg);
    bool perm = strcmp(f->sqlstate, "42501") == 0;
    mc_error_set(err, perm ? MC_EXIT_AUTH : MC_EXIT_CONNECT, "datastore '%s': %s failed: %s",
                 ds, what, f->message);
    mc_error_hint(err, perm ? "connect as an administrator (admin: in the config, or "
                              "--admin-user) to read the catalog"
                            : "run with -vv to see the statement");
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_schema(const void *a, const void *b)
{
    return strcmp(((const grants_schema_in *)a)->name, ((const grants_schema_in *)b)->name);
}

static bool tval(const pg_result *res, int row, int col)
{
    return !pg_result_null(res, row, col) && pg_result_bool(res, row, col);
}

static grants_known kval(const pg_result *res, int col)
{
    if (pg_result_null(res, 0, col))
        return GRANTS_UNKNOWN;
    return tval(res, 0, col) ? GRANTS_PRESENT : GRANTS_ABSENT;
}

void grants_add_distinct(char ***list, size_t *n, const char *name)
{
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp((*list)[mid], name);
        if (c == 0)
            return;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *list = mc_realloc(*list, (*n + 1) * sizeof **list);
    memmove(*list + lo + 1, *list + lo, (*n - lo) * sizeof **list);
    (*list)[lo] = mc_strdup(name);
    (*n)++;
}

int grants_scope_read(pg_session *pg, grants_dialect d, const cfg_datastore *ds,
                      const char *group_role, char **listed, grants_scope *sc, mc_error *err)
{
    bool rs = d == GRANTS_REDSHIFT;
    pg_result *res = run_query(pg, ds->name, "schema query",
                               rs ? rs_schemas_sql : pg_schemas_sql, 0, NULL, err);
    if (!res)
        return -1;
    size_t n_listed = 0;
    while (listed && listed[n_listed])
        n_listed++;
    bool *found = mc_calloc(n_listed + 1, sizeof *found);
    int *ext = mc_calloc(n_listed + 1, sizeof *ext);
    int nt = pg_result_rows(res);
    sc->schemas = mc_calloc((size_t)nt + n_listed + 1, sizeof *sc->schemas);
    sc->names = mc_calloc((size_t)nt + n_listed + 1, sizeof *sc->names);
    for (int i = 0; i < nt; i++) {
        const char *name = pg_result_text(res, i, 0);
        if (listed) {
            for (size_t k = 0; k < n_listed; k++)
                if (strcmp(listed[k], name) == 0) {
                    found[k] = true;
                    ext[k] = (int)pg_result_int(res, i, 1);
                }
            continue;
        }
        if (disc_is_system_schema(name) || !cfg_globs_match(&ds->schemas, name))
            continue;
        grants_scope_add_schema(sc, name, (int)pg_result_int(res, i, 1));
    }
    pg_result_free(res);
    int rc = 0;
    if (listed) {
        mc_buf missing = {0};
        for (size_t k = 0; k < n_listed; k++) {
            if (!found[k]) {
                if (missing.len)
                    mc_buf_puts(&missing, ", ");
                grants_quote_ident(&missing, GRANTS_POSTGRESQL, listed[k]);
                continue;
            }
            grants_scope_add_schema(sc, listed[k], ext[k]);
        }
        if (missing.len) {
            mc_error_set(err, MC_EXIT_USAGE, "datastore '%s' has no schema %s", ds->name,
                         mc_buf_str(&missing));
            mc_error_hint(err, "names in --schema are matched exactly (case and all); "
                               "quote a name that holds a comma: --schema '\"a,b\"'");
            rc = -1;
        }
        mc_buf_free(&missing);
    } else if (sc->n_schemas > 1) {
        qsort(sc->schemas, sc->n_schemas, sizeof *sc->schemas, cmp_schema);
    }
    free(found);
    free(ext);
    if (rc != 0)
        return -1;

    /* Owners: looked up by schema in a sorted copy of the names. */
    res = run_query(pg, ds->name, "owner query", rs ? rs_owners_sql : pg_owners_sql, 0, NULL,
                    err);
    if (!res)
        return -1;
    const char **sorted = mc_calloc(sc->n_schemas + 1, sizeof *sorted);
    size_t n_sorted = 0;
    for (size_t i = 0; i < sc->n_schemas; i++)
        if (!sc->schemas[i].external)
            sorted[n_sorted++] = sc->schemas[i].name;
    qsort(sorted, n_sorted, sizeof *sorted, cmp_str);
    nt = pg_result_rows(res);
    for (int i = 0; i < nt; i++) {
        const char *schema = pg_result_text(res, i, 0);
        if (!bsearch(&schema, sorted, n_sorted, sizeof *sorted, cmp_str) ||
            !cfg_globs_match(&ds->containers, pg_result_text(res, i, 1)) ||
            pg_result_null(res, i, 2))
            continue;
        grants_add_distinct(&sc->owners, &sc->n_owners, pg_result_text(res, i, 2));
    }
    sc->owners_known = true;
    free(sorted);
    pg_result_free(res);

    const char *params[2] = {ds->user, group_role};
    res = run_query(pg, ds->name, "role query", rs ? rs_roles_sql : pg_roles_sql, 2, params,
                    err);
    if (!res)
        return -1;
    if (pg_result_rows(res) == 1) {
        sc->user_exists = kval(res, 0);
        sc->group_exists = kval(res, 1);
        sc->member = kval(res, 2);
    }
    pg_result_free(res);
    return 0;
}
