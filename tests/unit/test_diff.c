/*
 * test_diff.c — the change detector on hand-built catalogs: pairing by oid
 * and name, every attribute, breaking flags, the removal-safety rules, the
 * no-compare fast path, and the Redshift attributes (dist style, sort key,
 * encoding) with late-binding view columns paired by name.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "diff.h"
#include "discover.h"

#include <stdlib.h>

typedef struct fdef {
    const char *name, *type;
    int attnum;
    bool not_null;
    const char *def, *comment;
} fdef;

static mc_container *add_table(mc_catalog *c, const char *schema, const char *name,
                               int64_t oid, const fdef *fields)
{
    mc_container *k = mc_catalog_add_container(c);
    k->schema = mc_arena_strdup(c->arena, schema);
    k->name = mc_arena_strdup(c->arena, name);
    k->kind = MC_KIND_TABLE;
    k->oid = oid;
    k->owner = "owner";
    size_t first = c->n_fields;
    size_t n = 0;
    for (; fields && fields[n].name; n++) {
        mc_field *f = mc_catalog_add_field(c);
        f->name = fields[n].name;
        f->type = fields[n].type;
        f->attnum = fields[n].attnum;
        f->not_null = fields[n].not_null;
        f->default_expr = fields[n].def;
        f->comment = fields[n].comment;
        f->position = (int32_t)(n + 1);
    }
    /* add_field may have moved the container array: find k again */
    k = &c->containers[c->n_containers - 1];
    k->first_field = first;
    k->n_fields = n;
    return k;
}

static void add_schema(mc_catalog *c, const char *name, bool usable)
{
    mc_schema *s = mc_catalog_add_schema(c);
    s->name = name;
    s->usable = usable;
}

static diff_opts all_removals(void)
{
    return (diff_opts){.allow_removals = true, .max_removed_pct = 100};
}

/* "kind path attribute before after B" for each change, in list order. */
static char *render(const mc_changes *cs)
{
    mc_buf b = {0};
    for (size_t i = 0; i < cs->n; i++) {
        const mc_change *c = &cs->items[i];
        if (c->silent) /* versions only: see silent_position_updates */
            continue;
        mc_buf_printf(&b, "%s %s%s%s%s%s %s %s %s %s\n", mc_change_kind_name(c->kind),
                      c->schema, c->container ? "." : "", c->container ? c->container : "",
                      c->field ? "." : "", c->field ? c->field : "",
                      c->attribute ? c->attribute : "-",
                      c->before && !strchr("{", c->before[0]) ? c->before : "-",
                      c->after && !strchr("{", c->after[0]) ? c->after : "-",
                      c->breaking ? "B" : "-");
    }
    return mc_buf_steal(&b);
}

static const fdef base_fields[] = {
    {"id", "integer", 1, true, NULL, NULL},
    {"name", "text", 2, false, NULL, "the name"},
    {"price", "numeric(10,2)", 3, false, "0", NULL},
    {0},
};

static mc_catalog *base_catalog(void)
{
    mc_catalog *c = mc_catalog_new();
    add_schema(c, "s", true);
    add_table(c, "s", "items", 100, base_fields);
    add_table(c, "s", "other", 200, base_fields);
    mc_catalog_finish(c);
    return c;
}

Test(diff, identical_catalogs_produce_nothing)
{
    mc_catalog *a = base_catalog(), *b = base_catalog();
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0, "%s", err.message);
    cr_assert_eq(r.changes.n, 0);
    cr_assert_eq(r.cur_to_prev[0], 0);
    cr_assert_eq(r.cur_to_prev[1], 1);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, field_attributes_and_breaking_flags)
{
    mc_catalog *a = base_catalog();
    mc_catalog *b = mc_catalog_new();
    add_schema(b, "s", true);
    const fdef changed[] = {
        {"id", "bigint", 1, true, NULL, NULL},               /* type: breaking */
        {"label", "text", 2, true, NULL, "the label"},        /* rename, not null, comment */
        {"price", "numeric(10,2)", 3, false, "1", NULL},      /* default */
        {"added", "date", 4, false, NULL, NULL},
        {0},
    };
    add_table(b, "s", "items", 100, changed);
    add_table(b, "s", "other", 200, base_fields);
    mc_catalog_finish(b);
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0);
    char *got = render(&r.changes);
    /* in column order (issue 13) */
    cr_assert_str_eq(got,
                     "field_changed s.items.id type \"integer\" \"bigint\" B\n"
                     "field_renamed s.items.label - \"name\" \"label\" B\n"
                     "field_changed s.items.label comment \"the name\" \"the label\" -\n"
                     "field_changed s.items.label nullable true false B\n"
                     "field_changed s.items.price default \"0\" \"1\" -\n"
                     "field_added s.items.added - - - -\n");
    free(got);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, rename_by_oid_and_recreate_by_name)
{
    mc_catalog *a = base_catalog();
    mc_catalog *b = mc_catalog_new();
    add_schema(b, "s", true);
    add_table(b, "s", "items_v2", 100, base_fields); /* renamed: same oid */
    add_table(b, "s", "other", 999, base_fields);    /* dropped and created again */
    add_table(b, "s", "items", 300, base_fields);    /* a new table takes the old name */
    mc_catalog_finish(b);
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0);
    char *got = render(&r.changes);
    cr_assert_str_eq(got, "container_added s.items - - - -\n"
                          "container_renamed s.items_v2 - - - B\n");
    free(got);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, recreated_view_with_reordered_columns_is_a_position_change)
{
    const fdef ab[] = {{"a", "int", 1, false, NULL, NULL}, {"b", "int", 2, false, NULL, NULL}, {0}};
    const fdef ba[] = {{"b", "int", 1, false, NULL, NULL}, {"a", "int", 2, false, NULL, NULL}, {0}};
    mc_catalog *a = mc_catalog_new(), *b = mc_catalog_new();
    add_schema(a, "s", true);
    add_schema(b, "s", true);
    add_table(a, "s", "v", 10, ab);
    add_table(b, "s", "v", 11, ba); /* new oid: attnums mean nothing */
    mc_catalog_finish(a);
    mc_catalog_finish(b);
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0);
    char *got = render(&r.changes);
    cr_assert_str_eq(got, "field_changed s.v.b position 2 1 -\n"
                          "field_changed s.v.a position 1 2 -\n");
    free(got);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, dropping_a_column_does_not_move_the_others)
{
    mc_catalog *a = base_catalog();
    mc_catalog *b = mc_catalog_new();
    add_schema(b, "s", true);
    const fdef fewer[] = {{"name", "text", 2, false, NULL, "the name"},
                          {"price", "numeric(10,2)", 3, false, "0", NULL},
                          {0}};
    add_table(b, "s", "items", 100, fewer);
    add_table(b, "s", "other", 200, base_fields);
    mc_catalog_finish(b);
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0);
    char *got = render(&r.changes);
    cr_assert_str_eq(got, "field_removed s.items.id - - - B\n");
    /* ...but the store is given the new numbers, so positions stay 1..n */
    size_t n_silent = 0;
    for (size_t i = 0; i < r.changes.n; i++) {
        const mc_change *c = &r.changes.items[i];
        if (!c->silent)
            continue;
        n_silent++;
        cr_assert_eq(c->kind, MC_FIELD_CHANGED);
        cr_assert_str_eq(c->attribute, "position");
        cr_assert(!c->breaking);
    }
    cr_assert_eq(n_silent, 2, "name 2 -> 1 and price 3 -> 2");
    diff_drop_silent(&r);
    cr_assert_eq(r.changes.n, 1);
    free(got);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, partial_crawl_holds_back_every_removal)
{
    mc_catalog *a = base_catalog();
    mc_catalog *b = mc_catalog_new();
    add_schema(b, "s", true);
    const fdef fewer[] = {{"id", "integer", 1, true, NULL, NULL}, {0}};
    add_table(b, "s", "items", 100, fewer); /* two columns gone */
    mc_catalog_finish(b);                   /* "other" gone */
    diff_opts o = {.allow_removals = false, .max_removed_pct = 100};
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0);
    cr_assert_eq(r.changes.n, 0);
    cr_assert_eq(r.n_held_back, 3);
    cr_assert_eq(r.n_hold_back, 1, "items must be compared again next time");
    cr_assert_eq(r.hold_back[0], 0);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, unusable_schema_is_neither_compared_nor_removed)
{
    mc_catalog *a = mc_catalog_new(), *b = mc_catalog_new();
    add_schema(a, "locked", true);
    add_table(a, "locked", "t", 5, base_fields);
    add_schema(b, "locked", false);
    mc_catalog_finish(a);
    mc_catalog_finish(b);
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0);
    cr_assert_eq(r.changes.n, 0);
    cr_assert_eq(r.n_held_back, 0);
    cr_assert_eq(r.n_removed_containers, 0);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, fail_safe_threshold)
{
    mc_catalog *a = mc_catalog_new(), *b = mc_catalog_new();
    add_schema(a, "s", true);
    add_schema(b, "s", true);
    char names[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        add_table(a, "s", names[i], 100 + i, base_fields);
        if (i >= 2) /* two of ten gone: 20% */
            add_table(b, "s", names[i], 100 + i, base_fields);
    }
    mc_catalog_finish(a);
    mc_catalog_finish(b);
    diff_result r;
    mc_error err = {0};
    diff_opts at_limit = {.allow_removals = true, .max_removed_pct = 20};
    cr_assert_eq(diff_catalogs(NULL, a, b, &at_limit, &r, &err), 0);
    cr_assert_eq(r.changes.n, 2, "20%% is not over 20%%");
    cr_assert(!r.fail_safe_tripped);
    diff_result_free(&r);
    diff_opts below = {.allow_removals = true, .max_removed_pct = 19.9};
    cr_assert_eq(diff_catalogs(NULL, a, b, &below, &r, &err), 0);
    cr_assert_eq(r.changes.n, 0);
    cr_assert(r.fail_safe_tripped);
    cr_assert_eq(r.n_held_back, 2);
    diff_result_free(&r);
    diff_opts accepted = {.allow_removals = true, .max_removed_pct = 19.9, .accept_removals = true};
    cr_assert_eq(diff_catalogs(NULL, a, b, &accepted, &r, &err), 0);
    cr_assert_eq(r.changes.n, 2);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, out_of_scope_objects_are_not_removed)
{
    mc_catalog *a = mc_catalog_new(), *b = mc_catalog_new();
    add_schema(a, "keep", true);
    add_schema(a, "gone_from_scope", true);
    add_table(a, "gone_from_scope", "t", 7, base_fields);
    add_table(a, "keep", "tmp_x", 8, base_fields);
    add_schema(b, "keep", true);
    mc_catalog_finish(a);
    mc_catalog_finish(b);
    cfg_datastore ds = {0};
    char inc0[] = "keep", exc0[] = "tmp_*";
    char *inc[] = {inc0};
    char *exc[] = {exc0};
    ds.schemas.include = inc;
    ds.schemas.n_include = 1;
    ds.containers.exclude = exc;
    ds.containers.n_exclude = 1;
    diff_opts o = {.allow_removals = true, .max_removed_pct = 100, .scope = &ds};
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0);
    cr_assert_eq(r.changes.n, 0);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, container_attributes)
{
    mc_catalog *a = base_catalog(), *b = base_catalog();
    mc_container *k = &b->containers[0];
    k->comment = "now commented";
    k->primary_key = "[\"id\"]";
    k->owner = "someone_else";
    k->kind = MC_KIND_PARTITIONED;
    k->hash = mc_container_hash(b, k);
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0);
    char *got = render(&r.changes);
    cr_assert_str_eq(got, "container_changed s.items comment - \"now commented\" -\n"
                          "container_changed s.items kind \"table\" \"partitioned_table\" -\n"
                          "container_changed s.items owner \"owner\" \"someone_else\" -\n"
                          "container_changed s.items primary_key - [\"id\"] B\n");
    free(got);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, equal_hashes_are_not_compared)
{
    /* The fast path: a pair with equal hashes produces nothing even when
     * (artificially) the fields differ; this is what lets a no-change
     * re-crawl skip loading fields. */
    mc_catalog *a = base_catalog(), *b = base_catalog();
    b->fields[0].type = "bigint"; /* hash left as it was */
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0);
    cr_assert_eq(r.changes.n, 0);
    diff_result_free(&r);
    a->containers[0].hash = 0; /* recorded as "compare again" */
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0);
    cr_assert_eq(r.changes.n, 1);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, schema_changes)
{
    mc_catalog *a = mc_catalog_new(), *b = mc_catalog_new();
    add_schema(a, "old", true);
    add_schema(a, "same", true);
    add_schema(b, "new", true);
    add_schema(b, "same", true);
    b->schemas[1].comment = "hello";
    mc_catalog_finish(a);
    mc_catalog_finish(b);
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0);
    char *got = render(&r.changes);
    cr_assert_str_eq(got, "schema_added new - - - -\n"
                          "schema_removed old - - - B\n"
                          "schema_changed same comment - \"hello\" -\n");
    free(got);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

/* ---- Redshift attributes -------------------------------------------------- */

/* One Redshift table "s.t" (oid 50): dist style, sort key and the encodings
 * of its two columns as given. */
static mc_catalog *rs_catalog(const char *dist, const char *sort, const char *enc_id,
                              const char *enc_v)
{
    static const fdef cols[] = {{"id", "bigint", 1, true, NULL, NULL},
                                {"v", "character varying(256)", 2, false, NULL, NULL},
                                {0}};
    mc_catalog *c = mc_catalog_new();
    add_schema(c, "s", true);
    mc_container *k = add_table(c, "s", "t", 50, cols);
    k->dist_style = dist;
    k->sort_key = sort;
    c->fields[k->first_field].encoding = enc_id;
    c->fields[k->first_field + 1].encoding = enc_v;
    mc_catalog_finish(c);
    return c;
}

static const mc_change *find(const diff_result *r, mc_change_kind kind, const char *attr)
{
    for (size_t i = 0; i < r->changes.n; i++) {
        const mc_change *c = &r->changes.items[i];
        if (c->kind == kind && c->attribute && strcmp(c->attribute, attr) == 0)
            return c;
    }
    return NULL;
}

Test(diff, redshift_dist_sort_and_encoding_changes)
{
    mc_catalog *a = rs_catalog("KEY(id)", "{\"type\":\"compound\",\"columns\":[\"id\",\"v\"]}",
                               "az64", "lzo");
    mc_catalog *b = rs_catalog("EVEN", "{\"type\":\"interleaved\",\"columns\":[\"id\",\"v\"]}",
                               "az64", "zstd");
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0, "%s", err.message);
    cr_assert_eq(r.changes.n, 3);
    const mc_change *dist = find(&r, MC_CONTAINER_CHANGED, "dist_style");
    cr_assert(dist);
    cr_assert_str_eq(dist->before, "\"KEY(id)\""); /* JSON strings */
    cr_assert_str_eq(dist->after, "\"EVEN\"");
    cr_assert_not(dist->breaking);
    const mc_change *sort = find(&r, MC_CONTAINER_CHANGED, "sort_key");
    cr_assert(sort);
    cr_assert_str_eq(sort->before, "{\"type\":\"compound\",\"columns\":[\"id\",\"v\"]}");
    cr_assert_str_eq(sort->after, "{\"type\":\"interleaved\",\"columns\":[\"id\",\"v\"]}");
    cr_assert_not(sort->breaking);
    const mc_change *enc = find(&r, MC_FIELD_CHANGED, "encoding");
    cr_assert(enc);
    cr_assert_str_eq(enc->field, "v");
    cr_assert_str_eq(enc->before, "\"lzo\"");
    cr_assert_str_eq(enc->after, "\"zstd\"");
    cr_assert_not(enc->breaking);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, redshift_keys_appearing_and_going)
{
    /* A sort key where there was none, a dist style gone: NULL compares
     * against a value like any other text. */
    mc_catalog *a = rs_catalog("ALL", NULL, "none", "none");
    mc_catalog *b = rs_catalog(NULL, "{\"type\":\"compound\",\"columns\":[\"id\"]}", "none",
                               "none");
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0, "%s", err.message);
    cr_assert_eq(r.changes.n, 2);
    const mc_change *dist = find(&r, MC_CONTAINER_CHANGED, "dist_style");
    cr_assert(dist);
    cr_assert_str_eq(dist->before, "\"ALL\"");
    cr_assert_null(dist->after);
    const mc_change *sort = find(&r, MC_CONTAINER_CHANGED, "sort_key");
    cr_assert(sort);
    cr_assert_null(sort->before);
    cr_assert_str_eq(sort->after, "{\"type\":\"compound\",\"columns\":[\"id\"]}");
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

Test(diff, redshift_attributes_enter_the_fingerprint)
{
    /* Equal fingerprints end the comparison, so each Redshift attribute
     * must change the hash or its changes would go unseen. */
    mc_catalog *base = rs_catalog("EVEN", "{\"type\":\"compound\",\"columns\":[\"id\"]}", "az64",
                                  "lzo");
    mc_catalog *dist = rs_catalog("ALL", "{\"type\":\"compound\",\"columns\":[\"id\"]}", "az64",
                                  "lzo");
    mc_catalog *sort = rs_catalog("EVEN", "{\"type\":\"compound\",\"columns\":[\"v\"]}", "az64",
                                  "lzo");
    mc_catalog *enc = rs_catalog("EVEN", "{\"type\":\"compound\",\"columns\":[\"id\"]}", "az64",
                                 "zstd");
    mc_catalog *same = rs_catalog("EVEN", "{\"type\":\"compound\",\"columns\":[\"id\"]}", "az64",
                                  "lzo");
    uint64_t h = base->containers[0].hash;
    cr_assert_neq(dist->containers[0].hash, h);
    cr_assert_neq(sort->containers[0].hash, h);
    cr_assert_neq(enc->containers[0].hash, h);
    cr_assert_eq(same->containers[0].hash, h);
    mc_catalog_free(base);
    mc_catalog_free(dist);
    mc_catalog_free(sort);
    mc_catalog_free(enc);
    mc_catalog_free(same);
}

Test(diff, late_binding_view_columns_pair_by_name)
{
    /* Late-binding view and external table columns carry no attnum (0):
     * a column inserted in the middle is an addition, not a chain of
     * renames and type changes. */
    const fdef before[] = {{"order_id", "bigint", 0, false, NULL, NULL},
                           {"amount", "numeric(12,2)", 0, false, NULL, NULL},
                           {0}};
    const fdef after[] = {{"order_id", "bigint", 0, false, NULL, NULL},
                          {"status", "character varying(10)", 0, false, NULL, NULL},
                          {"amount", "numeric(18,2)", 0, false, NULL, NULL},
                          {0}};
    mc_catalog *a = mc_catalog_new(), *b = mc_catalog_new();
    add_schema(a, "s", true);
    add_schema(b, "s", true);
    add_table(a, "s", "lbv", 70, before)->kind = MC_KIND_LATE_BINDING_VIEW;
    add_table(b, "s", "lbv", 70, after)->kind = MC_KIND_LATE_BINDING_VIEW;
    mc_catalog_finish(a);
    mc_catalog_finish(b);
    diff_opts o = all_removals();
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, a, b, &o, &r, &err), 0, "%s", err.message);
    char *got = render(&r.changes);
    cr_assert_str_eq(got, "field_added s.lbv.status - - - -\n"
                          "field_changed s.lbv.amount type \"numeric(12,2)\" \"numeric(18,2)\" B\n");
    free(got);
    diff_result_free(&r);
    mc_catalog_free(a);
    mc_catalog_free(b);
}

/* ---- view definitions compared as SQL (issue 11) ---------------------------- */

Test(diff, definitions_ignore_comments_and_white_space)
{
    const char *dbt17 = "/* {\"app\": \"dbt\", \"dbt_version\": \"1.7.4\"} */\n\n"
                        "  create view \"dev\".\"sales\".\"v\" as (\n    select id, name from t\n  );";
    const char *dbt18 = "/* {\"app\": \"dbt\", \"dbt_version\": \"1.8.0\"} */ create view "
                        "\"dev\".\"sales\".\"v\" as ( select id,   name from t -- trailing\n );\n";
    cr_assert(diff_sql_text_equal(dbt17, dbt18));
    cr_assert(diff_sql_text_equal("SELECT 1", "SELECT 1"));
    cr_assert(diff_sql_text_equal("SELECT /* a /* nested */ b */ 1", "SELECT 1"));
    cr_assert(diff_sql_text_equal(NULL, NULL));
    cr_assert_not(diff_sql_text_equal("SELECT 1", NULL));
    /* a real change of the SQL */
    cr_assert_not(diff_sql_text_equal(dbt17, "create view v as (select id from t);"));
    cr_assert_not(diff_sql_text_equal("SELECT a FROM t", "SELECT b FROM t"));
    /* inside quotes, comments and spaces are the text */
    cr_assert_not(diff_sql_text_equal("SELECT 'a  b'", "SELECT 'a b'"));
    cr_assert_not(diff_sql_text_equal("SELECT '-- x' AS c", "SELECT '' AS c"));
    cr_assert_not(diff_sql_text_equal("SELECT \"a /* b */\"", "SELECT \"a \""));
    cr_assert(diff_sql_text_equal("SELECT 'it''s  -- here'", "SELECT   'it''s  -- here'  "));
    cr_assert_not(diff_sql_text_equal("SELECT 'it''s' -- x\n, 1", "SELECT 'it''s' , 2"));
}

/* A view whose definition changed only in its dbt comment is not changed;
 * one whose SQL changed is. */
Test(diff, dbt_comment_is_no_definition_change)
{
    mc_catalog *prev = mc_catalog_new(), *cur = mc_catalog_new();
    mc_catalog *cats[] = {prev, cur};
    const char *defs[] = {"/* {\"dbt_version\": \"1.7.4\"} */ create view v as (select 1)",
                          "/* {\"dbt_version\": \"1.8.0\"} */\ncreate view v as (\n  select 1\n)"};
    for (int i = 0; i < 2; i++) {
        mc_schema *s = mc_catalog_add_schema(cats[i]);
        s->name = "s";
        s->usable = true;
        mc_container *k = mc_catalog_add_container(cats[i]);
        k->schema = "s";
        k->name = "v";
        k->kind = MC_KIND_VIEW;
        k->oid = 10;
        k->definition = defs[i];
        mc_catalog_finish(cats[i]);
    }
    prev->containers[0].fields_loaded = true;
    diff_opts o = {.allow_removals = true, .max_removed_pct = 100};
    diff_result r;
    mc_error err = {0};
    cr_assert_eq(diff_catalogs(NULL, prev, cur, &o, &r, &err), 0, "%s", err.message);
    cr_assert_eq(r.changes.n, 0, "%s", r.changes.n ? r.changes.items[0].attribute : "");
    diff_result_free(&r);
    cur->containers[0].definition = "create view v as (select 2)";
    mc_catalog_finish(cur);
    cr_assert_eq(diff_catalogs(NULL, prev, cur, &o, &r, &err), 0, "%s", err.message);
    cr_assert_eq(r.changes.n, 1);
    cr_assert_str_eq(r.changes.items[0].attribute, "definition");
    diff_result_free(&r);
    mc_catalog_free(prev);
    mc_catalog_free(cur);
}

/* ---- kinds and defaults as Redshift stores them (discover.c) ----------------- */

Test(diff, redshift_view_kinds_from_the_definition)
{
    cr_assert_eq(disc_view_kind(MC_KIND_VIEW, "SELECT 1 AS x"), MC_KIND_VIEW);
    cr_assert_eq(disc_view_kind(MC_KIND_VIEW, "SELECT a FROM s.t WITH NO SCHEMA BINDING;"),
                 MC_KIND_LATE_BINDING_VIEW);
    cr_assert_eq(disc_view_kind(MC_KIND_VIEW, "select a from s.t with  no\nschema binding"),
                 MC_KIND_LATE_BINDING_VIEW);
    /* the phrase in a string literal does not make a late-binding view */
    cr_assert_eq(disc_view_kind(MC_KIND_VIEW,
                                "SELECT 'created with no schema binding'::text AS note FROM t;"),
                 MC_KIND_VIEW);
    cr_assert_eq(disc_view_kind(MC_KIND_VIEW, "SELECT x FROM t WHERE n = 'with no schema binding'"),
                 MC_KIND_VIEW);
    /* materialized views, also behind dbt's comment */
    cr_assert_eq(disc_view_kind(MC_KIND_VIEW, "create materialized view s.mv as select 1"),
                 MC_KIND_MATVIEW);
    cr_assert_eq(disc_view_kind(MC_KIND_VIEW,
                                "/* {\"app\": \"dbt\"} */\n  CREATE  MATERIALIZED VIEW mv AS SELECT 1"),
                 MC_KIND_MATVIEW);
    cr_assert_eq(disc_view_kind(MC_KIND_VIEW, "SELECT 'create materialized view' AS x"),
                 MC_KIND_VIEW);
    /* relnatts = 0 said late-binding: the text does not take it back */
    cr_assert_eq(disc_view_kind(MC_KIND_LATE_BINDING_VIEW, "SELECT 1"),
                 MC_KIND_LATE_BINDING_VIEW);
    cr_assert_eq(disc_view_kind(MC_KIND_VIEW, NULL), MC_KIND_VIEW);
}

Test(diff, redshift_identity_defaults)
{
    char *s = disc_identity_default("\"identity\"(101190, 0, '1,1'::text)");
    cr_assert_str_eq(s, "IDENTITY(1,1)");
    free(s);
    s = disc_identity_default("\"identity\"(546150, 2, ('100,-5'::character varying)::text)");
    cr_assert_str_eq(s, "IDENTITY(100,-5)");
    free(s);
    s = disc_identity_default("identity(0, 0, '1,1'::text)");
    cr_assert_str_eq(s, "IDENTITY(1,1)");
    free(s);
    cr_assert_null(disc_identity_default("nextval('s'::regclass)"));
    cr_assert_null(disc_identity_default("\"identity\"(1, 0, 'x'::text)"));
    cr_assert_null(disc_identity_default(NULL));
}
