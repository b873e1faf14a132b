/*
 * test_export.c — the parts of crawler/export that a PostgreSQL crawl does
 * not reach: Redshift's names (platform, namespace, kinds, dist style),
 * primary keys whose names look like JSON, and a failing output.  A store
 * is recorded through the store's own commit, as a crawl would.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diff.h"
#include "export.h"
#include "store.h"

static char tmpdir[64], dbpath[128];

static void make_tmp(void)
{
    strcpy(tmpdir, "/tmp/mc_export_test_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof dbpath, "%s/catalog.db", tmpdir);
}

static void remove_tmp(void)
{
    char p[192];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", dbpath, suffix[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

TestSuite(export, .init = make_tmp, .fini = remove_tmp);

/* Records a Redshift catalog: a table with a primary key of awkward names,
 * a late-binding view, and returns the store. */
static store *record_redshift(int64_t *run_out)
{
    store *s = NULL;
    mc_error err = {0};
    cr_assert_eq(store_open(dbpath, &s, &err), 0, "%s", err.message);
    int64_t run = 0;
    cr_assert_eq(store_run_begin(s, "rs", 0, &run, &err), 0, "%s", err.message);
    mc_catalog *prev = NULL;
    cr_assert_eq(store_load_current(s, "rs", &prev, &err), 0, "%s", err.message);
    mc_catalog *cur = mc_catalog_new();
    mc_schema *sc = mc_catalog_add_schema(cur);
    sc->name = "sales";
    sc->usable = true;
    mc_container *t = mc_catalog_add_container(cur);
    t->schema = "sales";
    t->name = "orders";
    t->kind = MC_KIND_TABLE;
    t->oid = 10;
    t->dist_style = "KEY(id)";
    t->row_estimate = 1200;
    /* key columns whose names hold what the key's JSON is made of */
    t->primary_key = "[\"a\\\",\\\"b\",\"id\"]";
    t->first_field = 0;
    const char *names[] = {"id", "a\",\"b", "a", "b"};
    for (size_t i = 0; i < 4; i++) {
        mc_field *f = mc_catalog_add_field(cur);
        f->name = names[i];
        f->type = i ? "character varying(10)" : "integer";
        f->position = f->attnum = (int32_t)(i + 1);
    }
    t->n_fields = 4;
    mc_container *v = mc_catalog_add_container(cur);
    v->schema = "sales";
    v->name = "recent";
    v->kind = MC_KIND_LATE_BINDING_VIEW;
    v->oid = 11;
    v->definition = "create view sales.recent as select id from sales.orders with no schema binding";
    v->first_field = cur->n_fields;
    mc_field *f = mc_catalog_add_field(cur);
    f->name = "id";
    f->type = "integer";
    f->position = f->attnum = 1;
    v->n_fields = 1;
    mc_catalog_finish(cur);
    diff_opts o = {.allow_removals = true, .max_removed_pct = 100, .baseline = true};
    diff_result d = {0};
    cr_assert_eq(diff_catalogs(s, prev, cur, &o, &d, &err), 0, "%s", err.message);
    mc_run_summary sum = {.status = MC_RUN_OK, .dialect = "redshift", .baseline = true};
    cr_assert_eq(store_commit_run(s, run, prev, cur, &d.changes, d.cur_to_prev, d.hold_back,
                                  d.n_hold_back, &sum, &err),
                 0, "%s", err.message);
    diff_result_free(&d);
    mc_catalog_free(prev);
    mc_catalog_free(cur);
    *run_out = run;
    return s;
}

static char *export_text(store *s, mc_export_opts *o)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    mc_error err = {0};
    cr_assert_eq(mc_export_write(s, o, f, "memory", &err), 0, "%s", err.message);
    fclose(f);
    return text;
}

static mc_export_opts rs_opts(int64_t run, mc_export_format fmt, const char *host)
{
    return (mc_export_opts){.format = fmt, .datastore = "rs", .run = run, .run_at = 1767225600,
                            .dialect = "redshift", .host = host, .port = 5439,
                            .database = "dev"};
}

Test(export, redshift_namespaces_follow_the_naming_spec)
{
    int64_t run;
    store *s = record_redshift(&run);
    struct {
        const char *host, *ns;
    } cases[] = {
        {"examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com",
         "redshift://examplecluster.us-west-2:5439"},
        {"wg1.123456789012.eu-central-1.redshift-serverless.amazonaws.com",
         "redshift://wg1.eu-central-1:5439"},
        {"10.1.2.3", "redshift://10.1.2.3:5439"},
        {"redshift.internal.example", "redshift://redshift.internal.example:5439"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_export_opts o = rs_opts(run, MC_EXPORT_OPENLINEAGE, cases[i].host);
        char *text = export_text(s, &o);
        char *nl = strchr(text, '\n');
        cr_assert_not_null(nl);
        *nl = '\0';
        json_t *ev = json_loads(text, 0, NULL);
        cr_assert_not_null(ev, "%s", text);
        json_t *ds = json_object_get(ev, "dataset");
        cr_assert_str_eq(json_string_value(json_object_get(ds, "namespace")), cases[i].ns);
        cr_assert_str_eq(json_string_value(json_object_get(ds, "name")), "dev.sales.orders");
        cr_assert_str_eq(json_string_value(json_object_get(ev, "eventTime")),
                         "2026-01-01T00:00:00Z");
        json_decref(ev);
        free(text);
    }
    store_close(s);
}

Test(export, redshift_in_datahub_and_dbt)
{
    int64_t run;
    store *s = record_redshift(&run);
    mc_export_opts o = rs_opts(run, MC_EXPORT_DATAHUB, "h");
    char *text = export_text(s, &o);
    json_error_t je;
    json_t *mcps = json_loads(text, 0, &je);
    cr_assert_not_null(mcps, "%s: %s", je.text, text);
    json_t *sm = NULL, *vp = NULL, *sub = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(mcps, i, m) {
        const char *urn = json_string_value(json_object_get(m, "entityUrn"));
        const char *a = json_string_value(json_object_get(m, "aspectName"));
        json_t *j = json_object_get(json_object_get(m, "aspect"), "json");
        if (strcmp(urn, "urn:li:dataset:(urn:li:dataPlatform:redshift,dev.sales.orders,PROD)") == 0 &&
            strcmp(a, "schemaMetadata") == 0)
            sm = j;
        if (strstr(urn, "sales.recent,") && strcmp(a, "viewProperties") == 0)
            vp = j;
        if (strstr(urn, "sales.recent,") && strcmp(a, "subTypes") == 0)
            sub = j;
    }
    cr_assert_not_null(sm);
    cr_assert_str_eq(json_string_value(json_object_get(sm, "platform")),
                     "urn:li:dataPlatform:redshift");
    /* the key is ["a\",\"b", "id"]: id and the column named a","b are in
     * it, the columns a and b are not */
    json_t *fields = json_object_get(sm, "fields");
    bool want[] = {true, true, false, false};
    for (size_t k = 0; k < 4; k++)
        cr_assert_eq(json_is_true(json_object_get(json_array_get(fields, k), "isPartOfKey")),
                     want[k], "field %zu", k);
    cr_assert_not_null(vp);
    cr_assert(json_is_false(json_object_get(vp, "materialized")));
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(sub, "typeNames"), 0)),
                     "View");
    json_decref(mcps);
    free(text);

    o = rs_opts(run, MC_EXPORT_DBT_CATALOG, "h");
    text = export_text(s, &o);
    json_t *cat = json_loads(text, 0, &je);
    cr_assert_not_null(cat, "%s", je.text);
    json_t *src = json_object_get(cat, "sources");
    json_t *orders = json_object_get(src, "source.rs.sales.orders");
    json_t *stats = json_object_get(orders, "stats");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(stats, "diststyle"),
                                                       "value")),
                     "KEY(id)");
    cr_assert_eq(json_number_value(json_object_get(json_object_get(stats, "row_count"), "value")),
                 1200);
    cr_assert(json_is_true(json_object_get(json_object_get(stats, "has_stats"), "value")));
    json_t *recent = json_object_get(src, "source.rs.sales.recent");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(recent, "metadata"), "type")),
        "LATE BINDING VIEW");
    json_decref(cat);
    free(text);
    store_close(s);
}

Test(export, an_output_that_cannot_be_written_is_an_error)
{
    int64_t run;
    store *s = record_redshift(&run);
    FILE *full = fopen("/dev/full", "w");
    if (!full)
        cr_skip_test("no /dev/full here");
    mc_export_opts o = rs_opts(run, MC_EXPORT_JSON, "h");
    mc_error err = {0};
    cr_assert_neq(mc_export_write(s, &o, full, "/dev/full", &err), 0);
    cr_assert_eq(err.code, MC_EXIT_USAGE);
    cr_assert(strstr(err.message, "cannot write /dev/full"), "%s", err.message);
    fclose(full);
    store_close(s);
}
