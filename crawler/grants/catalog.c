/*
 * catalog.c — check's catalog step (check.c has the steps before it and
 * the report): a constant number of statements — SET, then schemas,
 * relations, memberships and default ACLs, whatever the number of schemas
 * — and the rest in C: for the group and for every schema in scope, USAGE,
 * the tables and views without SELECT (a count and the first names), and
 * whether default privileges cover every owner of its tables.  On Redshift
 * the statements touch only leader-node catalog tables with leader-node
 * functions (has_schema_privilege, has_table_privilege), never SVV views or
 * user tables.
 */
#include "grants_internal.h"
#include "discover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char pg_schemas_sql[] =
    "SELECT n.nspname AS name, pg_catalog.has_schema_privilege(n.oid, 'USAGE') AS usable "
    "FROM pg_catalog.pg_namespace n "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";
/* @SCHEMAS@: the schemas in scope, as escaped literals (the relation
 * query reads only them). */
static const char pg_relations_sql[] =
    "SELECT n.nspname AS schema, c.relname AS name, "
    "pg_catalog.pg_get_userbyid(c.relowner) AS owner, "
    "pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition "
    "AND n.nspname IN (@SCHEMAS@)";
/* Every role the user holds the privileges of (itself included). */
static const char pg_members_sql[] =
    "SELECT r.rolname AS name, false AS is_group, "
    "r.rolsuper AND r.rolname = current_user AS super "
    "FROM pg_catalog.pg_roles r "
    "WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')";
static const char pg_default_acl_sql[] =
    "SELECT pg_catalog.pg_get_userbyid(d.defaclrole) AS owner, n.nspname AS schema, "
    "d.defaclacl AS acl "
    "FROM pg_catalog.pg_default_acl d "
    "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace "
    "WHERE d.defaclobjtype = 'r'";

/* Redshift: oids, not names, in the privilege functions (HAS_SCHEMA_PRIVILEGE
 * and HAS_TABLE_PRIVILEGE, both leader-node functions, here only over
 * catalog tables).  A name would be parsed as an identifier, and with
 * enable_case_sensitive_identifier off (the default) even a quoted one is
 * folded to lower case, so a mixed-case relation is not found and the whole
 * statement fails.  has_table_privilege only where the schema is usable, as
 * before: without USAGE the answer is "not tested".  The relation query
 * reads only the schemas in scope.  Catalog objects unqualified, as AWS
 * writes them and discover.c's Redshift dialect does. */
static const char rs_schemas_sql[] =
    "SELECT n.nspname AS name, has_schema_privilege(n.oid, 'USAGE') AS usable, "
    "COALESCE(es.eskind, 0) AS eskind "
    "FROM pg_namespace n LEFT JOIN pg_external_schema es ON es.esoid = n.oid "
    "WHERE n.nspname <> 'information_schema' AND substr(n.nspname, 1, 3) <> 'pg_'";
static const char rs_relations_sql[] =
    "SELECT n.nspname AS schema, c.relname AS name, "
    "pg_get_userbyid(c.relowner) AS owner, "
    "CASE WHEN has_schema_privilege(n.oid, 'USAGE') "
    "THEN has_table_privilege(c.oid, 'SELECT') END AS readable "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'v', 'm') AND substr(c.relname, 1, 8) <> 'mv_tbl__' "
    "AND n.nspname IN (@SCHEMAS@)";
static const char rs_members_sql[] =
    "SELECT u.usename AS name, false AS is_group, u.usesuper AS super "
    "FROM pg_user u WHERE u.usename = current_user "
    "UNION ALL "
    "SELECT g.groname, true, false FROM pg_group g, pg_user u "
    "WHERE u.usename = current_user AND u.usesysid = ANY (g.grolist)";
/* Redshift shows a non-superuser only its own rows of pg_default_acl. */
static const char rs_default_acl_sql[] =
    "SELECT pg_get_userbyid(d.defacluser) AS owner, n.nspname AS schema, "
    "d.defaclacl AS acl "
    "FROM pg_default_acl d "
    "LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace "
    "WHERE d.defaclobjtype = 'r'";

typedef struct schema_state {
    char *name;
    bool usable;
    int eskind; /* Redshift external schema kind, 0 = local */
    int64_t n_tables, n_unreadable, n_unknown;
    char *unreadable[CHECK_MAX_NAMES];
    size_t n_names;
    char **owners; /* sorted, distinct */
    size_t n_owners;
} schema_state;

typedef struct relation {
    const char *schema, *name, *owner; /* in the relation query's result */
    int readable;                      /* 1, 0, -1 unknown */
} relation;

static int cmp_schema_state(const void *a, const void *b)
{
    return strcmp(((const schema_state *)a)->name, ((const schema_state *)b)->name);
}

static int cmp_relation(const void *a, const void *b)
{
    const relation *x = a, *y = b;
    int c = strcmp(x->schema, y->schema);
    return c ? c : strcmp(x->name, y->name);
}

static schema_state *find_schema(schema_state *s, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s[mid].name, name);
        if (c == 0)
            return &s[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void add_owner(schema_state *s, const char *owner)
{
    for (size_t i = 0; i < s->n_owners; i++)
        if (strcmp(s->owners[i], owner) == 0)
            return;
    size_t at = 0;
    while (at < s->n_owners && strcmp(s->owners[at], owner) < 0)
        at++;
    s->owners = mc_realloc(s->owners, (s->n_owners + 1) * sizeof *s->owners);
    memmove(s->owners + at + 1, s->owners + at, (s->n_owners - at) * sizeof *s->owners);
    s->owners[at] = mc_strdup(owner);
    s->n_owners++;
}

/* One catalog statement; on failure a "catalog" item with the fix. */
static pg_result *catalog_query(check_ctx *x, const char *what, const char *sql)
{
    pg_session *pg = disc_pg(x->sess);
    x->r->n_queries++;
    pg_result *res = pg_query(pg, what, sql, NULL);
    if (res)
        return res;
    const pg_failure *f = pg_last_failure(pg);
    const char *line = f->message;
    bool perm = strcmp(f->sqlstate, "42501") == 0;
    mc_error why = {0};
    if (tunnel_failed(x->tun, &why)) {
        /* The tunnel broke under the statement: its error is the cause. */
        check_add_item(x, "catalog", NULL, CHECK_FAIL, why.code ? why.code : MC_EXIT_CONNECT,
                       mc_asprintf("the %s failed: %s", what, why.message),
                       why.hint[0] ? mc_strdup(why.hint) : NULL);
        return NULL;
    }
    char *fix = check_query_fix(x, line);
    if (!fix)
        fix = mc_strdup(f->lost
                            ? "the connection was lost; run check again"
                            : "run with -vv to see the statement, and report it if the server "
                              "should support it");
    check_add_item(x, "catalog", NULL, CHECK_FAIL, perm ? MC_EXIT_AUTH : MC_EXIT_CONNECT,
                   mc_asprintf("the %s failed: %s", what, line), fix);
    return NULL;
}

static void free_schemas(schema_state *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].name);
        for (size_t k = 0; k < s[i].n_names; k++)
            free(s[i].unreadable[k]);
        for (size_t k = 0; k < s[i].n_owners; k++)
            free(s[i].owners[k]);
        free(s[i].owners);
    }
    free(s);
}

/* "a, b, c" of up to max names (display form), "and N more" after. */
static void put_name_list(mc_buf *b, const char *const *names, size_t n, int64_t total)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            mc_buf_puts(b, ", ");
        check_put_name(b, names[i]);
    }
    if (total > (int64_t)n)
        mc_buf_printf(b, " and %lld more", (long long)(total - (int64_t)n));
}

static void set_names(check_item *it, const char *const *names, size_t n)
{
    if (n > CHECK_MAX_NAMES)
        n = CHECK_MAX_NAMES;
    it->names = mc_calloc(n + 1, sizeof *it->names);
    for (size_t i = 0; i < n; i++)
        it->names[i] = mc_strdup(names[i]);
    it->n_names = n;
}

/* Membership: the names the crawler holds privileges through. */
typedef struct members {
    const char **names;
    bool *groups;
    size_t n;
    bool super;
} members;

static bool member_of(const members *m, const char *name, bool group)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->groups[i] == group && strcmp(m->names[i], name) == 0)
            return true;
    return false;
}

static void evaluate_default_acl(check_ctx *x, schema_state *s, const members *m,
                                 const pg_result *acl)
{
    const cfg_datastore *ds = x->ds;
    bool rs = x->dialect == GRANTS_REDSHIFT;
    char *shown = check_name_text(s->name);
    if (s->n_owners == 0) {
        check_add_item(x, "default_privileges", s->name, CHECK_OK, 0,
                       mc_strdup("no owners to cover yet"), NULL);
        free(shown);
        return;
    }
    const char **uncovered = mc_calloc(s->n_owners + 1, sizeof *uncovered);
    size_t n_uncovered = 0;
    for (size_t i = 0; i < s->n_owners; i++) {
        const char *owner = s->owners[i];
        /* Its own tables, or a role it is a member of: readable anyway. */
        bool covered = m->super || member_of(m, owner, false);
        for (int row = 0; acl && !covered && row < pg_result_rows(acl); row++) {
            if (pg_result_null(acl, row, 0) || strcmp(pg_result_text(acl, row, 0), owner) != 0)
                continue;
            if (!pg_result_null(acl, row, 1) && strcmp(pg_result_text(acl, row, 1), s->name) != 0)
                continue; /* another schema's; NULL schema = every schema */
            covered = grants_acl_allows_select(pg_result_text(acl, row, 2),
                                               (const char *const *)m->names, m->groups, m->n);
        }
        if (!covered)
            uncovered[n_uncovered++] = owner;
    }
    mc_buf msg = {0};
    if (n_uncovered == 0) {
        mc_buf_puts(&msg, "future tables of ");
        put_name_list(&msg, (const char *const *)s->owners, s->n_owners, (int64_t)s->n_owners);
        mc_buf_puts(&msg, " will be readable");
        check_item *it = check_add_item(x, "default_privileges", s->name, CHECK_OK, 0,
                                        mc_buf_steal(&msg), NULL);
        it->count = 0;
        it->total = (int64_t)s->n_owners;
    } else if (rs && !m->super) {
        mc_buf_puts(&msg, "not tested: Redshift shows other users' default privileges only to "
                          "superusers (owners here: ");
        put_name_list(&msg, (const char *const *)s->owners, s->n_owners, (int64_t)s->n_owners);
        mc_buf_putc(&msg, ')');
        check_item *it = check_add_item(x, "default_privileges", s->name, CHECK_SKIP, 0,
                                        mc_buf_steal(&msg),
                                        mc_asprintf("`metacrawl grants %s --apply` sets them for "
                                                    "every owner; re-running it is safe",
                                                    ds->name));
        it->total = (int64_t)s->n_owners;
    } else {
        mc_buf fix = {0};
        mc_buf_puts(&msg, "future tables of ");
        put_name_list(&msg, uncovered, n_uncovered, (int64_t)n_uncovered);
        mc_buf_printf(&msg, " will not be readable: no default privileges for %s",
                      n_uncovered == 1 ? "that owner" : "those owners");
        for (size_t i = 0; i < n_uncovered; i++) {
            char *sql = grants_fix_default(x->dialect, ds->user, ds->group, uncovered[i], s->name);
            if (sql) {
                if (fix.len)
                    mc_buf_putc(&fix, '\n');
                mc_buf_puts(&fix, sql);
                free(sql);
            }
        }
        check_item *it = check_add_item(x, "default_privileges", s->name, CHECK_FAIL,
                                        MC_EXIT_PARTIAL, mc_buf_steal(&msg), mc_buf_steal(&fix));
        it->count = (int64_t)n_uncovered;
        it->total = (int64_t)s->n_owners;
        set_names(it, uncovered, n_uncovered);
    }
    free(uncovered);
    free(shown);
}

int check_step_catalog(check_ctx *x)
{
    const cfg_datastore *ds = x->ds;
    bool rs = x->dialect == GRANTS_REDSHIFT;
    pg_result *sch = NULL, *rel = NULL, *mem = NULL, *acl = NULL;
    schema_state *schemas = NULL;
    size_t n_schemas = 0;
    relation *rels = NULL;
    members m = {0};
    int rc = -1;

    char timeout[64];
    snprintf(timeout, sizeof timeout, "SET statement_timeout TO %d",
             ds->statement_timeout_ms > 0 ? ds->statement_timeout_ms : 300000);
    pg_result *set = catalog_query(x, "statement timeout", timeout);
    if (!set)
        goto out;
    pg_result_free(set);
    if (rs) {
        /* Names the server folds are compared as the catalog holds them
         * with this on; the privilege functions get oids and do not depend
         * on it.  Older releases without the setting go on without it. */
        x->r->n_queries++;
        pg_exec(disc_pg(x->sess), "case-sensitive identifiers",
                "SET enable_case_sensitive_identifier TO true", NULL);
    }
    if (!(sch = catalog_query(x, "schema query", rs ? rs_schemas_sql : pg_schemas_sql)))
        goto out;
    {
        /* the relation query reads only the schemas in scope */
        mc_buf in = {0};
        for (int i = 0; i < pg_result_rows(sch); i++) {
            const char *name = pg_result_text(sch, i, 0);
            if (disc_is_system_schema(name) || !cfg_globs_match(&ds->schemas, name))
                continue;
            char *lit = pg_escape_literal(disc_pg(x->sess), name);
            mc_buf_printf(&in, "%s%s", in.len ? ", " : "", lit ? lit : "NULL");
            free(lit);
        }
        mc_buf sql = {0};
        const char *tmpl = rs ? rs_relations_sql : pg_relations_sql;
        const char *at = strstr(tmpl, "@SCHEMAS@");
        mc_buf_append(&sql, tmpl, (size_t)(at - tmpl));
        mc_buf_puts(&sql, in.len ? mc_buf_str(&in) : "NULL");
        mc_buf_puts(&sql, at + strlen("@SCHEMAS@"));
        rel = catalog_query(x, "relation query", mc_buf_str(&sql));
        mc_buf_free(&sql);
        mc_buf_free(&in);
    }
    if (!rel ||
        !(mem = catalog_query(x, "membership query", rs ? rs_members_sql : pg_members_sql)) ||
        !(acl = catalog_query(x, "default privilege query",
                              rs ? rs_default_acl_sql : pg_default_acl_sql)))
        goto out;
    rc = 0;

    /* Schemas in scope, sorted for lookups. */
    schemas = mc_calloc((size_t)pg_result_rows(sch) + 1, sizeof *schemas);
    for (int i = 0; i < pg_result_rows(sch); i++) {
        const char *name = pg_result_text(sch, i, 0);
        if (disc_is_system_schema(name) || !cfg_globs_match(&ds->schemas, name))
            continue;
        schemas[n_schemas].name = mc_strdup(name);
        schemas[n_schemas].usable = pg_result_bool(sch, i, 1);
        if (pg_result_columns(sch) > 2)
            schemas[n_schemas].eskind = (int)pg_result_int(sch, i, 2);
        n_schemas++;
    }
    qsort(schemas, n_schemas, sizeof *schemas, cmp_schema_state);

    /* Relations in scope, sorted so the names listed are the first ones. */
    int nr = pg_result_rows(rel);
    rels = mc_calloc((size_t)nr + 1, sizeof *rels);
    size_t n_rels = 0;
    for (int i = 0; i < nr; i++) {
        relation rr = {pg_result_text(rel, i, 0), pg_result_text(rel, i, 1),
                       pg_result_null(rel, i, 2) ? NULL : pg_result_text(rel, i, 2),
                       pg_result_null(rel, i, 3) ? -1 : pg_result_bool(rel, i, 3)};
        if (!find_schema(schemas, n_schemas, rr.schema) ||
            !cfg_globs_match(&ds->containers, rr.name))
            continue;
        rels[n_rels++] = rr;
    }
    qsort(rels, n_rels, sizeof *rels, cmp_relation);
    for (size_t i = 0; i < n_rels; i++) {
        schema_state *s = find_schema(schemas, n_schemas, rels[i].schema);
        if (!s)
            continue; /* cannot happen: filtered above */
        s->n_tables++;
        if (rels[i].owner)
            add_owner(s, rels[i].owner);
        if (rels[i].readable < 0) {
            s->n_unknown++;
        } else if (rels[i].readable == 0) {
            if (s->n_names < CHECK_MAX_NAMES)
                s->unreadable[s->n_names++] = mc_strdup(rels[i].name);
            s->n_unreadable++;
        }
    }

    int nm = pg_result_rows(mem);
    m.names = mc_calloc((size_t)nm + 1, sizeof *m.names);
    m.groups = mc_calloc((size_t)nm + 1, sizeof *m.groups);
    for (int i = 0; i < nm; i++) {
        m.names[m.n] = pg_result_text(mem, i, 0);
        m.groups[m.n] = pg_result_bool(mem, i, 1);
        m.super |= pg_result_bool(mem, i, 2);
        m.n++;
    }

    /* The group the grants go to. */
    char *role = grants_group_role(x->dialect, ds->user, ds->group);
    char *role_shown = check_name_text(role);
    if (m.super || member_of(&m, role, rs))
        check_add_item(x, "group", NULL, CHECK_OK, 0,
                       mc_asprintf(m.super
                                       ? "superuser (every privilege; a crawler needs far fewer)"
                                       : "member of %s %s",
                                   rs ? "group" : "role", role_shown),
                       NULL);
    else
        check_add_item(x, "group", NULL, CHECK_WARN, 0,
                       mc_asprintf("not a member of %s %s, which `metacrawl grants %s` grants to",
                                   rs ? "group" : "role", role_shown, ds->name),
                       grants_fix_member(x->dialect, ds->user, ds->group));
    free(role_shown);
    free(role);

    mc_buf list = {0};
    char **names = mc_calloc(n_schemas + 1, sizeof *names);
    for (size_t i = 0; i < n_schemas; i++)
        names[i] = schemas[i].name;
    if (n_schemas == 0) {
        check_add_item(x, "schemas", NULL, CHECK_WARN, 0,
                       mc_strdup("no schemas in scope: a crawl would find nothing"),
                       mc_strdup("check schemas: include/exclude in the config (system schemas are "
                                 "never crawled)"));
    } else {
        mc_buf_printf(&list, "%zu in scope: ", n_schemas);
        put_name_list(&list, (const char *const *)names, n_schemas < CHECK_MAX_NAMES ? n_schemas : CHECK_MAX_NAMES,
                      (int64_t)n_schemas);
        check_item *it = check_add_item(x, "schemas", NULL, CHECK_OK, 0, mc_buf_steal(&list), NULL);
        it->total = (int64_t)n_schemas;
        set_names(it, (const char *const *)names, n_schemas);
    }
    free(names);

    for (size_t i = 0; i < n_schemas; i++) {
        schema_state *s = &schemas[i];
        if (s->usable)
            check_add_item(x, "usage", s->name, CHECK_OK, 0,
                           s->eskind ? mc_asprintf("USAGE (external schema: %s)",
                                                   grants_external_kind_name(s->eskind)
                                                       ? grants_external_kind_name(s->eskind)
                                                       : "of a kind AWS has not documented")
                                     : mc_strdup("USAGE"),
                           NULL);
        else
            check_add_item(x, "usage", s->name, CHECK_FAIL, MC_EXIT_PARTIAL,
                           mc_strdup("no USAGE: a crawl reports \"permission denied for "
                                     "schema\" and reads nothing in it"),
                           grants_fix_usage(x->dialect, ds->user, ds->group, s->name));
        check_item *it;
        if (s->n_tables == 0) {
            it = check_add_item(x, "select", s->name, CHECK_OK, 0, mc_strdup("no tables"), NULL);
        } else if (s->n_unknown > 0 && s->n_unreadable == 0) {
            it = check_add_item(x, "select", s->name, CHECK_SKIP, 0,
                                mc_asprintf("not tested on %lld tables without USAGE on the schema",
                                            (long long)s->n_unknown),
                                NULL);
        } else if (s->n_unreadable == 0) {
            it = check_add_item(x, "select", s->name, CHECK_OK, 0,
                                mc_asprintf("SELECT on every table and view (%lld)",
                                            (long long)s->n_tables),
                                NULL);
        } else {
            mc_buf msg = {0};
            mc_buf_printf(&msg, "no SELECT on %lld of %lld tables and views: ",
                          (long long)s->n_unreadable, (long long)s->n_tables);
            put_name_list(&msg, (const char *const *)s->unreadable, s->n_names < 5 ? s->n_names : 5, s->n_unreadable);
            it = check_add_item(x, "select", s->name, CHECK_FAIL, MC_EXIT_PARTIAL,
                                mc_buf_steal(&msg),
                                grants_fix_select(x->dialect, ds->user, ds->group, s->name));
            set_names(it, (const char *const *)s->unreadable, s->n_names);
        }
        it->count = s->n_unreadable;
        it->total = s->n_tables;
        evaluate_default_acl(x, s, &m, acl);
    }
out:
    free(m.names);
    free(m.groups);
    free(rels);
    free_schemas(schemas, n_schemas);
    pg_result_free(sch);
    pg_result_free(rel);
    pg_result_free(mem);
    pg_result_free(acl);
    return rc;
}
