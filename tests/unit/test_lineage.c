/*
 * test_lineage.c — what depends on what without a server (docs/lineage.md):
 * late-binding view text parsed into depends_on, the impact walk on a
 * hand-built catalog (transitive, column-aware, parsed edges counting for
 * every column, cycles among late-binding views and through foreign keys
 * ending with each object listed once), and the diff carrying the impact
 * of a breaking change and recording a new dependency as a change that is
 * not breaking — silently after an upgrade.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "lineage.h"

static bool known_orders(void *arg, const char *schema, const char *name)
{
    (void)arg;
    return strcmp(schema, "sales") == 0 && strcmp(name, "orders") == 0;
}

Test(lineage, late_binding_text_parsed)
{
    char *j = lin_parse_definition(
        "create view sales.v as select o.id, sales.orders.amount, 'from sales.fake' "
        "from sales.orders o, spectrum.clicks c /* from sales.in_comment */ "
        "join dev.\"Ext\".\"Ev\"\"ents\" e on e.id = o.id "
        "where sales.udf(o.id) and x.y = 1 with no schema binding",
        "sales", "v", known_orders, NULL);
    /* sales.v is itself; c.* alias chains are unknown and not after FROM;
     * spectrum.clicks comes after a comma and is not known: left out */
    cr_assert_str_eq(j, "[{\"schema\":\"Ext\",\"name\":\"Ev\\\"ents\",\"source\":\"parsed\"},"
                        "{\"schema\":\"sales\",\"name\":\"orders\",\"source\":\"parsed\"}]");
    free(j);
    cr_assert_null(lin_parse_definition("select 1 with no schema binding", "s", "v", NULL, NULL));
    /* system schemas are never an edge */
    cr_assert_null(lin_parse_definition("select * from pg_catalog.pg_class", "s", "v", NULL,
                                        NULL));
}

/* ---- a hand-built catalog ------------------------------------------------------------- */

static mc_container *add(mc_catalog *c, const char *schema, const char *name, mc_kind kind,
                         const char *depends_on, const char *fks, const char *const *fields)
{
    size_t first = c->n_fields, n = 0;
    for (; fields && fields[n]; n++) {
        mc_field *f = mc_catalog_add_field(c);
        f->name = fields[n];
        f->type = "integer";
        f->attnum = (int32_t)(n + 1);
        f->position = (int32_t)(n + 1);
    }
    mc_container *k = mc_catalog_add_container(c);
    k->schema = schema;
    k->name = name;
    k->kind = kind;
    k->oid = (int64_t)(c->n_containers * 10);
    k->depends_on = depends_on;
    k->foreign_keys = fks;
    k->first_field = first;
    k->n_fields = n;
    return k;
}

static const char *const xy[] = {"id", "x", "y", NULL};

/* a.t is read by v1 (column x), v2 (column y) and the late-binding lb1
 * (parsed); v3 reads v1; lb2 reads lb1 and lb1 reads lb2 (late-binding
 * views may name each other); b.w reads v3 in another schema. */
static mc_catalog *graph_catalog(void)
{
    mc_catalog *c = mc_catalog_new();
    mc_schema *s = mc_catalog_add_schema(c);
    s->name = "a";
    s->usable = true;
    s = mc_catalog_add_schema(c);
    s->name = "b";
    s->usable = true;
    add(c, "a", "t", MC_KIND_TABLE, NULL, NULL, xy);
    add(c, "a", "v1", MC_KIND_VIEW,
        "[{\"schema\":\"a\",\"name\":\"t\",\"source\":\"catalog\",\"columns\":[\"id\",\"x\"]}]",
        NULL, xy);
    add(c, "a", "v2", MC_KIND_VIEW,
        "[{\"schema\":\"a\",\"name\":\"t\",\"source\":\"catalog\",\"columns\":[\"y\"]}]", NULL,
        xy);
    add(c, "a", "v3", MC_KIND_MATVIEW,
        "[{\"schema\":\"a\",\"name\":\"v1\",\"source\":\"catalog\",\"columns\":[\"id\"]}]",
        NULL, xy);
    add(c, "a", "lb1", MC_KIND_LATE_BINDING_VIEW,
        "[{\"schema\":\"a\",\"name\":\"lb2\",\"source\":\"parsed\"},"
        "{\"schema\":\"a\",\"name\":\"t\",\"source\":\"parsed\"}]",
        NULL, xy);
    add(c, "a", "lb2", MC_KIND_LATE_BINDING_VIEW,
        "[{\"schema\":\"a\",\"name\":\"lb1\",\"source\":\"parsed\"}]", NULL, xy);
    add(c, "b", "w", MC_KIND_VIEW,
        "[{\"schema\":\"a\",\"name\":\"v3\",\"source\":\"catalog\",\"columns\":[]}]", NULL,
        xy);
    /* keys: p -> q, q -> p (a cycle), p -> p (itself), r -> a.t (x) */
    add(c, "b", "p", MC_KIND_TABLE, NULL,
        "[{\"name\":\"p_p\",\"columns\":[\"x\"],\"ref_schema\":\"b\",\"ref_container\":\"p\","
        "\"ref_columns\":[\"id\"]},{\"name\":\"p_q\",\"columns\":[\"y\"],\"ref_schema\":\"b\","
        "\"ref_container\":\"q\",\"ref_columns\":[\"id\"]}]",
        xy);
    add(c, "b", "q", MC_KIND_TABLE, NULL,
        "[{\"name\":\"q_p\",\"columns\":[\"x\"],\"ref_schema\":\"b\",\"ref_container\":\"p\","
        "\"ref_columns\":[\"id\"]}]",
        xy);
    add(c, "b", "r", MC_KIND_TABLE, NULL,
        "[{\"name\":\"r_t\",\"columns\":[\"y\"],\"ref_schema\":\"a\",\"ref_container\":\"t\","
        "\"ref_columns\":[\"x\"]}]",
        xy);
    mc_catalog_finish(c);
    return c;
}

/* "schema.name@depth<via" for each view, then "|" and each key's
 * "schema.container.name". */
static char *summary(const char *impact)
{
    if (!impact)
        return strdup("-");
    json_t *o = json_loads(impact, 0, NULL);
    cr_assert_not_null(o, "%s", impact);
    mc_buf b = {0};
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, "views"), i, v) {
        json_t *via = json_object_get(v, "via");
        mc_buf_printf(&b, "%s%s.%s@%lld%s%s", i ? " " : "",
                      json_string_value(json_object_get(v, "schema")),
                      json_string_value(json_object_get(v, "name")),
                      (long long)json_integer_value(json_object_get(v, "depth")),
                      json_is_object(via) ? "<" : "",
                      json_is_object(via) ? json_string_value(json_object_get(via, "name")) : "");
    }
    mc_buf_puts(&b, " |");
    json_array_foreach(json_object_get(o, "foreign_keys"), i, v) {
        mc_buf_printf(&b, " %s.%s.%s", json_string_value(json_object_get(v, "schema")),
                      json_string_value(json_object_get(v, "container")),
                      json_string_value(json_object_get(v, "name")));
    }
    json_decref(o);
    return mc_buf_steal(&b);
}

static char *impact_of(const lin_graph *g, const char *s, const char *k, const char *f)
{
    char *j = lin_impact(g, s, k, f);
    char *r = summary(j);
    free(j);
    return r;
}

Test(lineage, impact_is_transitive_column_aware_and_ends_in_cycles)
{
    mc_catalog *c = graph_catalog();
    lin_graph *g = lin_graph_new(c);
    /* column x: v1 reads it, lb1 may (parsed); v3 and lb2 through them,
     * w through v3; v2 reads y only; r's key points at x */
    cr_assert_str_eq(impact_of(g, "a", "t", "x"),
                     "a.lb1@1 a.v1@1 a.lb2@2<lb1 a.v3@2<v1 b.w@3<v3 | b.r.r_t");
    cr_assert_str_eq(impact_of(g, "a", "t", "y"), "a.lb1@1 a.v2@1 a.lb2@2<lb1 |");
    /* the whole table: every reader, each once */
    cr_assert_str_eq(impact_of(g, "a", "t", NULL),
                     "a.lb1@1 a.v1@1 a.v2@1 a.lb2@2<lb1 a.v3@2<v1 b.w@3<v3 | b.r.r_t");
    /* the cycle lb1 <-> lb2: each lists the other once, never itself */
    cr_assert_str_eq(impact_of(g, "a", "lb1", NULL), "a.lb2@1 |");
    cr_assert_str_eq(impact_of(g, "a", "lb2", NULL), "a.lb1@1 |");
    /* a view read with no column named ("columns": []) counts for the view
     * as a whole only */
    cr_assert_str_eq(impact_of(g, "a", "v3", "id"), "-");
    cr_assert_str_eq(impact_of(g, "a", "v3", NULL), "b.w@1 |");
    /* keys in a cycle and on their own table: each once */
    cr_assert_str_eq(impact_of(g, "b", "p", NULL), " | b.p.p_p b.q.q_p");
    cr_assert_str_eq(impact_of(g, "b", "q", "id"), " | b.p.p_q");
    cr_assert_str_eq(impact_of(g, "b", "q", "x"), "-");
    /* nothing reads it, or it is not in the catalog */
    cr_assert_str_eq(impact_of(g, "b", "w", NULL), "-");
    cr_assert_str_eq(impact_of(g, "zz", "none", NULL), "-");
    lin_graph_free(g);
    mc_catalog_free(c);
}

/* ---- the diff --------------------------------------------------------------------------- */

static mc_container *find_mut(mc_catalog *c, const char *schema, const char *name)
{
    const mc_container *k = mc_catalog_find(c, schema, name);
    cr_assert_not_null(k);
    return &c->containers[k - c->containers];
}

static const mc_change *find(const diff_result *r, mc_change_kind kind, const char *container,
                             const char *field)
{
    for (size_t i = 0; i < r->changes.n; i++) {
        const mc_change *c = &r->changes.items[i];
        if (c->kind == kind && c->container && strcmp(c->container, container) == 0 &&
            ((!field && !c->field) || (field && c->field && strcmp(field, c->field) == 0)))
            return c;
    }
    return NULL;
}

Test(lineage, diff_carries_the_impact_from_the_catalog_before)
{
    mc_catalog *prev = graph_catalog(), *cur = graph_catalog();
    /* cur: a.t loses column x (fields id, y); v1 and lb1 read the rest */
    mc_container *t = find_mut(cur, "a", "t");
    cur->fields[t->first_field + 1] = cur->fields[t->first_field + 2];
    cur->fields[t->first_field + 1].position = 2;
    t->n_fields = 2;
    mc_container *v1 = find_mut(cur, "a", "v1");
    v1->depends_on =
        "[{\"schema\":\"a\",\"name\":\"t\",\"source\":\"catalog\",\"columns\":[\"id\"]}]";
    mc_catalog_finish(cur);
    diff_opts o = {.allow_removals = true, .max_removed_pct = 100};
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, prev, cur, &o, &r, &err), 0, "%s", err.message);
    const mc_change *rm = find(&r, MC_FIELD_REMOVED, "t", "x");
    cr_assert_not_null(rm);
    cr_assert(rm->breaking);
    cr_assert_str_eq(summary(rm->impact),
                     "a.lb1@1 a.v1@1 a.lb2@2<lb1 a.v3@2<v1 b.w@3<v3 | b.r.r_t",
                     "the readers as they were before the change");
    const mc_change *dep = find(&r, MC_CONTAINER_CHANGED, "v1", NULL);
    cr_assert_not_null(dep);
    cr_assert_str_eq(dep->attribute, "depends_on");
    cr_assert_not(dep->breaking);
    cr_assert_not(dep->silent);
    cr_assert_null(dep->impact);
    diff_result_free(&r);

    /* recorded before dependencies were read: the same change is silent */
    find_mut(prev, "a", "v1")->depends_unread = true;
    cr_assert_eq(diff_catalogs(NULL, prev, cur, &o, &r, &err), 0, "%s", err.message);
    dep = find(&r, MC_CONTAINER_CHANGED, "v1", NULL);
    cr_assert_not_null(dep);
    cr_assert(dep->silent);
    diff_result_free(&r);

    /* a baseline computes no impact */
    o.baseline = true;
    cr_assert_eq(diff_catalogs(NULL, prev, cur, &o, &r, &err), 0, "%s", err.message);
    cr_assert_null(find(&r, MC_FIELD_REMOVED, "t", "x")->impact);
    diff_result_free(&r);
    mc_catalog_free(prev);
    mc_catalog_free(cur);
}
