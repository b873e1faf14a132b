/*
 * test_redshift.c — the Redshift dialect against a PostgreSQL made to look
 * like Redshift (tests/integration/redshift/shim.sql; docs/redshift.md says
 * what that proves and what it cannot).  Each test prepares its own
 * database: the shim, the sample warehouse (redshift/warehouse.sql) and a
 * crawler role whose search_path puts the shim ahead of pg_catalog.  Then
 * it runs the metacrawl binary as a user would and reads its --json:
 * detection and the version recorded on the run, late-binding view and
 * external table columns, dist/sort keys and encodings, a change to each of
 * them found by the diff, the statement count at two sizes, and a lint of
 * every statement sent against Redshift's rules.
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define PW "crawler-pw"

/* ---- the fixture ------------------------------------------------------------ */

typedef struct rs_db {
    char *db;
    char *role;
    PGconn *c; /* as the harness superuser */
    char *cfg;
    char *dir;
} rs_db;

static void run_sql_file(PGconn *c, const char *name)
{
    char *path = itest_strf("%s/tests/integration/redshift/%s", itest_env("MC_SOURCE_ROOT"),
                            name);
    char *sql = itest_read_file(path);
    itest_sql(c, "%s", sql);
    free(sql);
    free(path);
}

/* A database with the shim (and the sample warehouse when WAREHOUSE), a
 * crawler role enrolled in it, and a config for that role. */
static rs_db rs_setup(const char *prefix, bool warehouse)
{
    rs_db r;
    r.db = itest_create_db(prefix);
    r.c = itest_connect(r.db);
    run_sql_file(r.c, "shim.sql");
    if (warehouse)
        run_sql_file(r.c, "warehouse.sql");
    r.role = itest_strf("crawler_%s", r.db);
    itest_sql(r.c, "CREATE ROLE %s LOGIN PASSWORD '" PW "'", r.role);
    itest_sql(r.c, "SELECT rs_fixture.enrol('%s')", r.role);
    if (warehouse)
        itest_sql(r.c, "GRANT USAGE ON SCHEMA sales, spectrum TO %s; "
                       "GRANT SELECT ON ALL TABLES IN SCHEMA sales TO %s",
                  r.role, r.role);
    r.dir = itest_tmpdir();
    r.cfg = itest_write_config(r.dir, r.db, r.role, PW, NULL);
    return r;
}

static itest_result run_mc(const char *cfg, const char *const *args)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = "-c";
    argv[n++] = cfg;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    const char *env[] = {"MC_TEST_DS_PASSWORD=" PW, NULL};
    return itest_run(argv, env, NULL);
}

/* crawl --json: the datastore's report; checks the exit code. */
static json_t *crawl(const char *cfg, int want_status)
{
    const char *args[] = {"crawl", "--json", NULL};
    itest_result r = run_mc(cfg, args);
    cr_assert_eq(r.status, want_status, "crawl exited %d, wanted %d\nstdout: %s\nstderr: %s",
                 r.status, want_status, r.out, r.err);
    json_t *doc = itest_parse_json(r.out);
    json_t *ds = json_array_get(json_object_get(doc, "datastores"), 0);
    cr_assert(ds, "no datastore in %s", r.out);
    json_incref(ds);
    json_decref(doc);
    return ds;
}

static json_t *show_json(const char *cfg, const char *path)
{
    const char *args[] = {"show", path, "--json", NULL};
    itest_result r = run_mc(cfg, args);
    cr_assert_eq(r.status, 0, "show %s exited %d: %s", path, r.status, r.err);
    return itest_parse_json(r.out);
}

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The field named NAME of a show --json container; fails when absent. */
static json_t *field(json_t *container, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(container, "fields"), i, f) {
        if (strcmp(str(f, "name"), name) == 0)
            return f;
    }
    cr_assert_fail("no field %s in %s", name, itest_json_compact(container));
    return NULL;
}

/* The names of the fields, in position order, joined with commas. */
static char *field_names(json_t *container)
{
    char *all = strdup("");
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(container, "fields"), i, f) {
        char *next = itest_strf("%s%s%s", all, i ? "," : "", str(f, "name"));
        free(all);
        all = next;
    }
    return all;
}

/* ---- reading the catalog ------------------------------------------------------ */

Test(redshift, reads_the_redshift_catalog, .timeout = 180)
{
    rs_db r = rs_setup("rs_read", true);
    json_t *rep = crawl(r.cfg, 0);
    cr_assert_str_eq(str(rep, "dialect"), "redshift");
    cr_assert_str_eq(str(rep, "server_version"), "Redshift 1.0.77467");
    json_t *counts = json_object_get(rep, "counts");
    /* public, sales, spectrum; the shim's own schemas are hidden */
    cr_assert_eq(json_integer_value(json_object_get(counts, "schemas")), 3, "%s", itest_json_compact(rep));
    /* customers, orders, events, order_lines, v_big_orders,
     * v_customers_dbt, v_binding_note, v_orders_lb, mv_daily, clicks,
     * sales_archive: not the cross-database rows (sales.ghost, other_db's
     * spectrum.clicks and spectrum.other_only), not mv_daily's backing
     * table, nothing of pg_automv */
    cr_assert_eq(json_integer_value(json_object_get(counts, "containers")), 11, "%s",
                 itest_json_compact(rep));
    cr_assert_eq(json_integer_value(json_object_get(counts, "fields")), 30, "%s", itest_json_compact(rep));
    /* version() twice (no server_version_num), SET, the database query,
     * BEGIN, schemas, 4 steps, the dependency query, COMMIT, 4 isolated steps,
     * table facts (docs/discovery.md) */
    cr_assert_eq(json_integer_value(json_object_get(rep, "queries")), 17, "%s", itest_json_compact(rep));

    /* Dist key, compound sort key, encodings, keys. */
    json_t *orders = show_json(r.cfg, "test.sales.orders");
    cr_assert_str_eq(str(orders, "kind"), "table");
    cr_assert_str_eq(str(orders, "dist_style"), "KEY(customer_id)");
    cr_assert_str_eq(itest_json_compact(json_object_get(orders, "sort_key")),
                     "{\"columns\":[\"placed_at\",\"id\"],\"type\":\"compound\"}");
    cr_assert_str_eq(itest_json_compact(json_object_get(orders, "primary_key")), "[\"id\"]");
    cr_assert_str_eq(itest_json_compact(json_object_get(orders, "foreign_keys")),
                     "[{\"columns\":[\"customer_id\"],\"name\":\"orders_customer_fk\","
                     "\"ref_columns\":[\"id\"],\"ref_container\":\"customers\","
                     "\"ref_schema\":\"sales\"}]");
    cr_assert_str_eq(str(orders, "comment"), "one row per order");
    cr_assert_str_eq(str(field(orders, "customer_id"), "encoding"), "az64");
    cr_assert_str_eq(str(field(orders, "note"), "encoding"), "zstd");
    cr_assert_str_eq(str(field(orders, "note"), "comment"), "free text");
    cr_assert_str_eq(str(field(orders, "placed_at"), "encoding"), "none");
    cr_assert_str_eq(str(field(orders, "amount"), "type"), "numeric(12,2)");
    cr_assert_str_eq(str(field(orders, "amount"), "default"), "0");
    cr_assert(json_is_false(json_object_get(field(orders, "placed_at"), "nullable")));

    json_t *events = show_json(r.cfg, "test.sales.events");
    cr_assert_str_eq(str(events, "dist_style"), "EVEN");
    cr_assert_str_eq(itest_json_compact(json_object_get(events, "sort_key")),
                     "{\"columns\":[\"at\",\"kind\"],\"type\":\"interleaved\"}");
    cr_assert_str_eq(str(field(events, "kind"), "encoding"), "bytedict");

    json_t *customers = show_json(r.cfg, "test.sales.customers");
    cr_assert_str_eq(str(customers, "dist_style"), "ALL");
    cr_assert(json_is_null(json_object_get(customers, "sort_key")), "%s", itest_json_compact(customers));

    json_t *view = show_json(r.cfg, "test.sales.v_big_orders");
    cr_assert_str_eq(str(view, "kind"), "view");
    cr_assert(json_is_null(json_object_get(view, "dist_style")));
    cr_assert(json_is_null(json_object_get(field(view, "id"), "encoding")));
    cr_assert(strstr(str(view, "definition"), "1000"), "%s", itest_json_compact(view));

    /* The late-binding view: its columns are those of
     * pg_get_late_binding_view_cols(), not pg_attribute's (placeholder). */
    json_t *lbv = show_json(r.cfg, "test.sales.v_orders_lb");
    cr_assert_str_eq(str(lbv, "kind"), "late_binding_view");
    cr_assert_str_eq(field_names(lbv), "order_id,amount,region");
    cr_assert_str_eq(str(field(lbv, "order_id"), "type"), "bigint");
    cr_assert_str_eq(str(field(lbv, "amount"), "type"), "numeric(12,2)");
    cr_assert_str_eq(str(field(lbv, "region"), "type"), "character(2)");

    /* External tables: their own kind, their columns in column order with the
     * partition key last, is_nullable 'false' as NOT NULL. */
    json_t *clicks = show_json(r.cfg, "test.spectrum.clicks");
    cr_assert_str_eq(str(clicks, "kind"), "external_table");
    cr_assert_str_eq(field_names(clicks), "user_id,url,referrer,dt");
    cr_assert_str_eq(str(field(clicks, "url"), "type"), "varchar(2048)");
    cr_assert(json_is_false(json_object_get(field(clicks, "dt"), "nullable")));
    cr_assert(json_is_true(json_object_get(field(clicks, "url"), "nullable")));
    json_t *archive = show_json(r.cfg, "test.spectrum.sales_archive");
    cr_assert_str_eq(str(archive, "kind"), "external_table");
    cr_assert_str_eq(field_names(archive), "order_id,amount");

    /* The cross-database row of SVV_EXTERNAL_TABLES is no table of sales. */
    const char *ghost[] = {"show", "test.sales.ghost", "--json", NULL};
    cr_assert_neq(run_mc(r.cfg, ghost).status, 0, "sales.ghost was crawled");

    /* The external schema is recorded as such. */
    char *store = itest_strf("%s/catalog.db", r.dir);
    cr_assert_str_eq(itest_sqlite_value(store, "SELECT external FROM schema_versions "
                                         "WHERE name = 'spectrum'"),
                     "1");
    cr_assert_str_eq(itest_sqlite_value(store, "SELECT external FROM schema_versions "
                                         "WHERE name = 'sales'"),
                     "0");

    /* A foreign key to a table out of scope still names its columns (the
     * referenced column query, not the columns read). */
    char *dir2 = itest_tmpdir();
    char *cfg2 = itest_write_config(dir2, r.db, r.role, PW,
                                    "    containers: { exclude: [customers] }\n");
    json_decref(crawl(cfg2, 0));
    json_t *orders2 = show_json(cfg2, "test.sales.orders");
    cr_assert_str_eq(itest_json_compact(json_object_get(orders2, "foreign_keys")),
                     itest_json_compact(json_object_get(orders, "foreign_keys")));
    const char *nocust[] = {"show", "test.sales.customers", "--json", NULL};
    cr_assert_neq(run_mc(cfg2, nocust).status, 0, "customers was not excluded");

    /* The run records the dialect and the server version; history shows them. */
    const char *hargs[] = {"history", "--json", NULL};
    itest_result h = run_mc(r.cfg, hargs);
    cr_assert_eq(h.status, 0, "%s", h.err);
    json_t *run = json_array_get(json_object_get(itest_parse_json(h.out), "runs"), 0);
    cr_assert_str_eq(str(run, "dialect"), "redshift");
    cr_assert_str_eq(str(run, "server_version"), "Redshift 1.0.77467");
    const char *htext[] = {"history", NULL};
    itest_result ht = run_mc(r.cfg, htext);
    cr_assert(strstr(ht.out, "Redshift 1.0.77467"), "%s", ht.out);
    PQfinish(r.c);
}

/* ---- change detection --------------------------------------------------------- */

Test(redshift, changes_to_redshift_attributes_are_detected, .timeout = 180)
{
    rs_db r = rs_setup("rs_changes", true);
    json_t *base = crawl(r.cfg, 0);
    cr_assert(json_is_true(json_object_get(base, "baseline")));

    itest_sql(r.c,
              /* orders: KEY(customer_id) -> EVEN; a third sort key column;
               * note's encoding zstd -> lzo */
              "UPDATE rs_fixture.class_ext SET reldiststyle = 0 "
              "  WHERE relid = 'sales.orders'::regclass;"
              "UPDATE rs_fixture.attr_ext SET attisdistkey = false "
              "  WHERE relid = 'sales.orders'::regclass AND attname = 'customer_id';"
              "INSERT INTO rs_fixture.attr_ext (relid, attname, attsortkeyord) "
              "  VALUES ('sales.orders', 'amount', 3);"
              "UPDATE rs_fixture.attr_ext SET attencodingtype = 4 "
              "  WHERE relid = 'sales.orders'::regclass AND attname = 'note';"
              /* customers: ALL -> KEY(id); region gets an encoding */
              "UPDATE rs_fixture.class_ext SET reldiststyle = 1 "
              "  WHERE relid = 'sales.customers'::regclass;"
              "INSERT INTO rs_fixture.attr_ext (relid, attname, attisdistkey, attencodingtype) "
              "  VALUES ('sales.customers', 'id', true, 0), ('sales.customers', 'region', false, 12);"
              /* events: interleaved -> compound */
              "UPDATE rs_fixture.attr_ext SET attsortkeyord = 2 "
              "  WHERE relid = 'sales.events'::regclass AND attname = 'kind';"
              /* the late-binding view: a type change, a column dropped, one added */
              "UPDATE rs_fixture.late_binding_cols SET col_type = 'numeric(18,2)' "
              "  WHERE view_name = 'v_orders_lb' AND col_name = 'amount';"
              "DELETE FROM rs_fixture.late_binding_cols "
              "  WHERE view_name = 'v_orders_lb' AND col_name = 'region';"
              "INSERT INTO rs_fixture.late_binding_cols "
              "  VALUES ('sales', 'v_orders_lb', 'status', 'character varying(10)', 3);"
              /* external: a column added and one retyped, a table added, one dropped */
              "INSERT INTO rs_fixture.external_columns "
              "  VALUES ('spectrum', 'clicks', 'session_id', 'varchar(64)', 5, 0, '');"
              "UPDATE rs_fixture.external_columns SET external_type = 'varchar(4096)' "
              "  WHERE tablename = 'clicks' AND columnname = 'url';"
              "INSERT INTO rs_fixture.external_tables (schemaname, tablename, location) "
              "  VALUES ('spectrum', 'impressions', 's3://example-bucket/impressions/');"
              "INSERT INTO rs_fixture.external_columns "
              "  VALUES ('spectrum', 'impressions', 'ad_id', 'bigint', 1, 0, '');"
              "DELETE FROM rs_fixture.external_columns WHERE tablename = 'sales_archive';"
              "DELETE FROM rs_fixture.external_tables WHERE tablename = 'sales_archive';"
              /* a new Redshift release */
              "UPDATE rs_fixture.settings SET version = replace(version, '77467', '78003');");

    json_t *rep = crawl(r.cfg, 0);
    cr_assert_str_eq(str(rep, "server_version"), "Redshift 1.0.78003");
    const char *expected[] = {
        "container_changed sales.orders dist_style \"KEY(customer_id)\" \"EVEN\" -",
        "container_changed sales.orders sort_key "
        "{\"columns\":[\"placed_at\",\"id\"],\"type\":\"compound\"} "
        "{\"columns\":[\"placed_at\",\"id\",\"amount\"],\"type\":\"compound\"} -",
        "field_changed sales.orders.note encoding \"zstd\" \"lzo\" -",
        "container_changed sales.customers dist_style \"ALL\" \"KEY(id)\" -",
        "field_changed sales.customers.region encoding \"none\" \"az64\" -",
        "container_changed sales.events sort_key "
        "{\"columns\":[\"at\",\"kind\"],\"type\":\"interleaved\"} "
        "{\"columns\":[\"at\",\"kind\"],\"type\":\"compound\"} -",
        "field_changed sales.v_orders_lb.amount type \"numeric(12,2)\" \"numeric(18,2)\" B",
        "field_removed sales.v_orders_lb.region - - - B",
        "field_added sales.v_orders_lb.status - - - -",
        "field_added spectrum.clicks.session_id - - - -",
        "field_changed spectrum.clicks.url type \"varchar(2048)\" \"varchar(4096)\" B",
        "container_added spectrum.impressions - - - -",
        "container_removed spectrum.sales_archive - - - B",
        NULL,
    };
    itest_assert_changes(json_object_get(rep, "changes"), expected);

    /* The whole-object values carry the Redshift attributes. */
    size_t i;
    json_t *ch;
    json_array_foreach(json_object_get(rep, "changes"), i, ch) {
        if (strcmp(str(ch, "kind"), "container_added") == 0) {
            json_t *after = json_object_get(ch, "after");
            cr_assert_str_eq(str(after, "kind"), "external_table");
            cr_assert_str_eq(str(json_array_get(json_object_get(after, "fields"), 0), "type"),
                             "bigint");
        }
        if (strcmp(str(ch, "kind"), "field_added") == 0 &&
            strcmp(str(ch, "field"), "status") == 0)
            cr_assert_str_eq(str(json_object_get(ch, "after"), "type"),
                             "character varying(10)");
    }

    /* diff of the two stored runs says the same. */
    const char *dargs[] = {"diff", "test", "--json", NULL};
    itest_result d = run_mc(r.cfg, dargs);
    cr_assert_eq(d.status, 0, "%s", d.err);
    itest_assert_changes(json_object_get(itest_parse_json(d.out), "changes"), expected);

    /* The canonical texts are stable: a third crawl finds nothing. */
    json_t *again = crawl(r.cfg, 0);
    cr_assert_eq(json_array_size(json_object_get(again, "changes")), 0, "%s",
                 itest_json_compact(json_object_get(again, "changes")));

    /* history shows each run's server version. */
    const char *hargs[] = {"history", "--json", NULL};
    itest_result h = run_mc(r.cfg, hargs);
    json_t *runs = json_object_get(itest_parse_json(h.out), "runs");
    cr_assert_eq(json_array_size(runs), 3);
    cr_assert_str_eq(str(json_array_get(runs, 0), "server_version"), "Redshift 1.0.78003");
    cr_assert_str_eq(str(json_array_get(runs, 2), "server_version"), "Redshift 1.0.77467");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(runs, 1), "changes")), 13);
    PQfinish(r.c);
}

/* External tables are visible only with USAGE on their schema: without it
 * the crawl is partial and what was recorded stays. */
Test(redshift, external_schema_without_usage_is_partial, .timeout = 120)
{
    rs_db r = rs_setup("rs_usage", true);
    json_decref(crawl(r.cfg, 0));
    itest_sql(r.c, "REVOKE USAGE ON SCHEMA spectrum FROM %s", r.role);
    json_t *rep = crawl(r.cfg, 7);
    cr_assert_str_eq(str(rep, "status"), "partial");
    cr_assert_eq(json_array_size(json_object_get(rep, "changes")), 0, "%s",
                 itest_json_compact(json_object_get(rep, "changes")));
    char *w = itest_json_compact(json_object_get(rep, "warnings"));
    cr_assert(strstr(w, "spectrum") && strstr(w, "USAGE"), "%s", w);
    json_t *clicks = show_json(r.cfg, "test.spectrum.clicks");
    cr_assert_str_eq(str(clicks, "kind"), "external_table");

    itest_sql(r.c, "GRANT USAGE ON SCHEMA spectrum TO %s", r.role);
    json_t *back = crawl(r.cfg, 0);
    cr_assert_eq(json_array_size(json_object_get(back, "changes")), 0, "%s",
                 itest_json_compact(json_object_get(back, "changes")));
    PQfinish(r.c);
}

/* ---- the statements ------------------------------------------------------------ */

/* A warehouse of N_SCHEMAS schemas of PER_SCHEMA tables (each with a dist
 * key, a two-column sort key, encodings and a primary key referenced by the
 * next table), one late-binding view per schema, and an external schema of
 * PER_SCHEMA external tables; with FACTS the crawler may read
 * svv_table_info, which has a row for every table.  Crawls it and returns
 * the number of statements the crawler role sent, and what metacrawl
 * reported. */
static long statements_for(int n_schemas, int per_schema, bool facts, long *reported)
{
    rs_db r = rs_setup("rs_count", false);
    itest_sql(r.c,
              "DO $$ BEGIN FOR s IN 1..%d LOOP "
              "EXECUTE format('CREATE SCHEMA s%%s', s); "
              "FOR t IN 1..%d LOOP "
              "EXECUTE format('CREATE TABLE s%%s.t%%s (id int PRIMARY KEY, ref int, v text)', s, t); "
              "IF t > 1 THEN EXECUTE format('ALTER TABLE s%%s.t%%s ADD FOREIGN KEY (ref) "
              "REFERENCES s%%s.t%%s (id)', s, t, s, t - 1); END IF; "
              "INSERT INTO rs_fixture.class_ext VALUES (format('s%%s.t%%s', s, t)::regclass, 1); "
              "INSERT INTO rs_fixture.attr_ext VALUES "
              "(format('s%%s.t%%s', s, t)::regclass, 'id', true, 1, 12), "
              "(format('s%%s.t%%s', s, t)::regclass, 'v', false, 2, 11); "
              "INSERT INTO rs_fixture.external_tables (schemaname, tablename) "
              "VALUES ('ext', format('x%%s_%%s', s, t)); "
              "INSERT INTO rs_fixture.external_columns VALUES "
              "('ext', format('x%%s_%%s', s, t), 'a', 'int', 1, 0, ''), "
              "('ext', format('x%%s_%%s', s, t), 'dt', 'date', 2, 1, 'false'); "
              "END LOOP; "
              /* ordinary views (one on a view of another schema) and a
               * late-binding view naming tables: one dependency statement */
              "EXECUTE format('CREATE VIEW s%%s.v1 AS SELECT id, v FROM s%%s.t1', s, s); "
              "EXECUTE format('CREATE VIEW s%%s.v2 AS SELECT v FROM s%%s.v1', s, "
              "CASE WHEN s > 1 THEN s - 1 ELSE s END); "
              "EXECUTE format('CREATE VIEW s%%s.lbv AS SELECT 1 AS x', s); "
              "INSERT INTO rs_fixture.view_text VALUES (format('s%%s.lbv', s)::regclass, "
              "format('create view s%%s.lbv as select a.id from s%%s.t1 a join s%%s.v2 b "
              "on true with no schema binding', s, s, s)); "
              "INSERT INTO rs_fixture.late_binding_views VALUES (format('s%%s.lbv', s)::regclass); "
              "INSERT INTO rs_fixture.late_binding_cols VALUES "
              "(format('s%%s', s), 'lbv', 'a', 'integer', 1), "
              "(format('s%%s', s), 'lbv', 'b', 'text', 2); "
              "EXECUTE format('GRANT USAGE ON SCHEMA s%%s TO %s', s); "
              "EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA s%%s TO %s', s); "
              "END LOOP; END $$;"
              "CREATE SCHEMA ext; GRANT USAGE ON SCHEMA ext TO %s;"
              "INSERT INTO rs_fixture.external_schemas VALUES ('ext', 'extdb', NULL);",
              n_schemas, per_schema, r.role, r.role, r.role);
    if (facts)
        itest_sql(r.c, "INSERT INTO rs_fixture.table_info (relid, size, tbl_rows) "
                       "SELECT relid, 1, 10 FROM rs_fixture.class_ext; "
                       "GRANT SELECT ON rs_shim.svv_table_info TO %s",
                  r.role);
    long before = itest_count_statements_by(r.db, r.role);
    json_t *rep = crawl(r.cfg, 0);
    json_t *fo = json_object_get(rep, "facts");
    cr_assert_str_eq(str(fo, "status"), facts ? "read" : "unavailable", "%s",
                     itest_json_compact(rep));
    if (facts)
        cr_assert_eq(json_integer_value(json_object_get(fo, "containers")),
                     (long)n_schemas * per_schema, "%s", itest_json_compact(fo));
    json_t *counts = json_object_get(rep, "counts");
    long containers = (long)n_schemas * (per_schema + 3) + (long)n_schemas * per_schema;
    cr_assert_eq(json_integer_value(json_object_get(counts, "containers")), containers, "%s",
                 itest_json_compact(rep));
    *reported = (long)json_integer_value(json_object_get(rep, "queries"));
    /* the server's log is written asynchronously: give it a moment */
    long after = itest_count_statements_by(r.db, r.role);
    for (int i = 0; i < 50 && after - before < *reported; i++) {
        usleep(100000);
        after = itest_count_statements_by(r.db, r.role);
    }
    /* the dependencies came through: from the catalog, and parsed */
    json_t *v2 = show_json(r.cfg, itest_strf("test.s%d.v2", n_schemas));
    cr_assert_str_eq(itest_json_compact(json_object_get(v2, "depends_on")),
                     itest_strf("[{\"columns\":[\"v\"],\"name\":\"v1\",\"schema\":\"s%d\","
                                "\"source\":\"catalog\"}]",
                                n_schemas > 1 ? n_schemas - 1 : n_schemas));
    json_t *lbv = show_json(r.cfg, itest_strf("test.s%d.lbv", n_schemas));
    cr_assert_str_eq(itest_json_compact(json_object_get(lbv, "depends_on")),
                     itest_strf("[{\"name\":\"t1\",\"schema\":\"s%d\",\"source\":\"parsed\"},"
                                "{\"name\":\"v2\",\"schema\":\"s%d\",\"source\":\"parsed\"}]",
                                n_schemas, n_schemas));
    /* every table's keys came through: the last table of the last schema */
    char *path = itest_strf("test.s%d.t%d", n_schemas, per_schema);
    json_t *t = show_json(r.cfg, path);
    cr_assert_str_eq(str(t, "dist_style"), "KEY(id)");
    cr_assert_str_eq(itest_json_compact(json_object_get(t, "sort_key")),
                     "{\"columns\":[\"id\",\"v\"],\"type\":\"compound\"}");
    if (per_schema > 1)
        cr_assert_str_eq(itest_json_compact(json_object_get(t, "foreign_keys")),
                         itest_strf("[{\"columns\":[\"ref\"],\"name\":\"t%d_ref_fkey\","
                                    "\"ref_columns\":[\"id\"],\"ref_container\":\"t%d\","
                                    "\"ref_schema\":\"s%d\"}]",
                                    per_schema, per_schema - 1, n_schemas));
    PQfinish(r.c);
    return after - before;
}

Test(redshift, constant_number_of_statements, .timeout = 300)
{
    /* Whether the table facts are readable or refused changes nothing
     * either: one statement. */
    long reported_small, reported_large;
    long small = statements_for(2, 5, false, &reported_small);  /* 10 tables, no facts */
    long large = statements_for(10, 40, true, &reported_large); /* 400 tables, facts */
    cr_assert_gt(small, 0, "the server log shows no statement");
    cr_assert_eq(small, large, "10 tables: %ld statements, 400 tables: %ld", small, large);
    cr_assert_eq(small, reported_small, "server counted %ld, metacrawl reported %ld", small,
                 reported_small);
    cr_assert_eq(reported_small, reported_large);
    cr_assert_eq(reported_small, 17);
}

/* The statements ROLE sent in DB, from the server's log (one entry per
 * statement; continuation lines belong to it), lower-cased. */
static size_t statements_of(const char *db, const char *role, char ***out)
{
    char *log = itest_read_file(itest_env("MC_TEST_PGLOG"));
    char *who = itest_strf("] %s %s LOG:  statement: ", db, role);
    size_t n = 0, cap = 16;
    char **list = calloc(cap, sizeof *list);
    for (char *p = strstr(log, who); p; p = strstr(p, who)) {
        p += strlen(who);
        /* the entry ends where a line starts with a timestamp ("20..-") */
        char *end = p;
        for (;;) {
            end = strchr(end, '\n');
            if (!end || (isdigit((unsigned char)end[1]) && end[5] == '-'))
                break;
            end++;
        }
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == cap)
            list = realloc(list, (cap *= 2) * sizeof *list);
        list[n] = strndup(p, len);
        for (char *q = list[n]; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        n++;
    }
    free(who);
    free(log);
    *out = list;
    return n;
}

/*
 * What the fixture cannot run, a lint can check on the statements actually
 * sent: no array functions, leader-node-only functions never in a statement
 * that reads an SVV view, no LIKE escapes, and no catalog object named with
 * the pg_catalog. prefix (outside regclass literals), which would bypass
 * the shim and, on Redshift, is needless.
 */
Test(redshift, statements_keep_redshift_rules, .timeout = 120)
{
    rs_db r = rs_setup("rs_lint", true);
    json_t *rep = crawl(r.cfg, 0);
    long reported = (long)json_integer_value(json_object_get(rep, "queries"));
    char **st = NULL;
    size_t n = statements_of(r.db, r.role, &st);
    for (int i = 0; i < 50 && (long)n < reported; i++) {
        usleep(100000);
        n = statements_of(r.db, r.role, &st);
    }
    cr_assert_eq((long)n, reported, "the log shows %zu statements, metacrawl reported %ld", n,
                 reported);

    static const char *const array_ops[] = {"unnest", "array_to_json", "array(", "array[",
                                            "array_agg", "string_agg", "generate_series",
                                            "any(", "any (", "array_to_string",
                                            "generate_subscripts"};
    static const char *const leader_only[] = {"version(", "has_schema_privilege",
                                              "has_table_privilege",
                                              "has_database_privilege", "current_setting",
                                              "current_schema", "pg_get_"};
    static const char *const functions[] = {"btrim", "lower", "substr", "format_"};
    bool saw_svv = false, saw_lbv = false;
    for (size_t i = 0; i < n; i++) {
        const char *s = st[i];
        for (size_t j = 0; j < sizeof array_ops / sizeof *array_ops; j++)
            cr_assert_null(strstr(s, array_ops[j]), "%s in: %s", array_ops[j], s);
        cr_assert_null(strstr(s, "\\_"), "a LIKE escape in: %s", s);
        /* pg_catalog. only inside 'pg_catalog.pg_...'::regclass literals */
        for (const char *p = strstr(s, "pg_catalog."); p; p = strstr(p + 1, "pg_catalog."))
            cr_assert(p > s && p[-1] == '\'' && strstr(p, "'::regclass") &&
                          (size_t)(strstr(p, "'::regclass") - p) < 40,
                      "pg_catalog. outside a regclass literal in: %s", s);
        if (strstr(s, "svv_")) {
            saw_svv = true;
            for (size_t j = 0; j < sizeof leader_only / sizeof *leader_only; j++)
                cr_assert_null(strstr(s, leader_only[j]), "%s with an SVV view in: %s",
                               leader_only[j], s);
            /* rule 3 of discover.c: no function at all next to an SVV view */
            for (size_t j = 0; j < sizeof functions / sizeof *functions; j++)
                cr_assert_null(strstr(s, functions[j]), "%s with an SVV view in: %s",
                               functions[j], s);
        }
        /* the scalar form, which reads whatever the function returns */
        if (strncmp(s, "select pg_get_late_binding_view_cols() as col",
                    strlen("select pg_get_late_binding_view_cols() as col")) == 0)
            saw_lbv = true;
    }
    cr_assert(saw_svv, "no statement read an SVV view");
    cr_assert(saw_lbv, "pg_get_late_binding_view_cols() was not called in its scalar form");
    PQfinish(r.c);
}

/* ---- what a real cluster does that the shim used to hide (issue 11) -------------- */

static char *warnings_of(json_t *rep)
{
    return itest_json_compact(json_object_get(rep, "warnings"));
}

static size_t n_changes(json_t *rep)
{
    return json_array_size(json_object_get(rep, "changes"));
}

/* pg_automv is in every Redshift database and a regular user has no USAGE
 * on it: it is a system schema, for crawl, check and grants, and for the
 * PostgreSQL dialect too (PostgreSQL reserves the prefix). */
Test(redshift, pg_schemas_are_system_schemas, .timeout = 180)
{
    rs_db r = rs_setup("rs_sys", true);
    json_t *rep = crawl(r.cfg, 0);
    cr_assert_str_eq(str(rep, "status"), "ok");
    cr_assert_eq(json_array_size(json_object_get(rep, "warnings")), 0, "%s", warnings_of(rep));
    char *store = itest_strf("%s/catalog.db", r.dir);
    cr_assert_str_eq(itest_sqlite_value(store, "SELECT count(*) FROM schema_versions "
                                               "WHERE name LIKE 'pg%'"),
                     "0");

    const char *g[] = {"grants", "test", NULL};
    itest_result gr = run_mc(r.cfg, g);
    cr_assert_eq(gr.status, 0, "%s", gr.err);
    cr_assert_null(strstr(gr.out, "pg_automv"), "%s", gr.out);

    const char *ck[] = {"check", "--json", NULL};
    itest_result cr = run_mc(r.cfg, ck);
    cr_assert_null(strstr(cr.out, "pg_automv"), "%s", cr.out);

    /* The same database through the PostgreSQL dialect, as the superuser
     * (which has USAGE on pg_automv): nothing of pg_automv either. */
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, r.db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"),
                                   "    schemas: { exclude: [rs_shim, rs_fixture] }\n");
    const char *args[] = {"-c", cfg, "crawl", "--json", NULL};
    char *pw = itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD"));
    const char *env[] = {pw, NULL};
    itest_result pg = itest_run(args, env, NULL);
    cr_assert_eq(pg.status, 0, "%s\n%s", pg.out, pg.err);
    cr_assert(strstr(pg.out, "\"dialect\":\"postgresql\""), "%s", pg.out);
    char *store2 = itest_strf("%s/catalog.db", dir);
    cr_assert_str_eq(itest_sqlite_value(store2, "SELECT count(*) FROM schema_versions "
                                                "WHERE name = 'pg_automv'"),
                     "0");
    PQfinish(r.c);
}

/* One failing call must not fail the datastore: the late-binding step
 * failing, answering with six columns, or running past its own timeout;
 * an external step failing.  The run is partial, says which step and why,
 * the views keep their columns, nothing is removed, everything else is
 * recorded, and the statement count does not move. */
Test(redshift, a_failing_redshift_step_is_isolated, .timeout = 240)
{
    rs_db r = rs_setup("rs_iso", true);
    json_decref(crawl(r.cfg, 0));

    /* "table N dropped by concurrent transaction", and a change elsewhere */
    itest_sql(r.c, "SELECT rs_fixture.set_lbv_mode('fail'); "
                   "COMMENT ON TABLE sales.events IS 'clicks and views'");
    json_t *rep = crawl(r.cfg, 7);
    cr_assert_str_eq(str(rep, "status"), "partial");
    char *w = warnings_of(rep);
    cr_assert(strstr(w, "late-binding view column query") &&
                  strstr(w, "dropped by concurrent transaction"),
              "%s", w);
    const char *expected[] = {
        "container_changed sales.events comment null \"clicks and views\" -",
        NULL,
    };
    itest_assert_changes(json_object_get(rep, "changes"), expected);
    cr_assert_eq(json_integer_value(json_object_get(rep, "queries")), 17);
    cr_assert_str_eq(field_names(show_json(r.cfg, "test.sales.v_orders_lb")),
                     "order_id,amount,region");

    /* a release that returns a sixth column: read as five */
    itest_sql(r.c, "SELECT rs_fixture.set_lbv_mode('six')");
    rep = crawl(r.cfg, 0);
    cr_assert_eq(n_changes(rep), 0, "%s", itest_json_compact(json_object_get(rep, "changes")));
    cr_assert_str_eq(field_names(show_json(r.cfg, "test.sales.v_orders_lb")),
                     "order_id,amount,region");

    /* slow: cancelled by its own timeout, not the statement timeout */
    itest_sql(r.c, "SELECT rs_fixture.set_lbv_mode('slow'); "
                   "UPDATE rs_fixture.settings SET lbv_sleep = 60");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, r.db, r.role, PW, "    late_binding_timeout: 1s\n");
    char *cp = itest_strf("cp %s/catalog.db %s/catalog.db", r.dir, dir);
    cr_assert_eq(system(cp), 0);
    rep = crawl(cfg, 7);
    w = warnings_of(rep);
    cr_assert(strstr(w, "late_binding_timeout"), "%s", w);
    cr_assert_eq(n_changes(rep), 0, "%s", itest_json_compact(json_object_get(rep, "changes")));
    cr_assert_eq(json_integer_value(json_object_get(rep, "queries")), 17);

    /* an external step failing: the external tables keep their columns */
    itest_sql(r.c, "SELECT rs_fixture.set_lbv_mode('ok'); "
                   "ALTER VIEW rs_shim.svv_external_columns RENAME TO svv_external_columns_x");
    rep = crawl(r.cfg, 7);
    w = warnings_of(rep);
    cr_assert(strstr(w, "external column query"), "%s", w);
    cr_assert_eq(n_changes(rep), 0, "%s", itest_json_compact(json_object_get(rep, "changes")));
    cr_assert_str_eq(field_names(show_json(r.cfg, "test.spectrum.clicks")),
                     "user_id,url,referrer,dt");
    itest_sql(r.c, "ALTER VIEW rs_shim.svv_external_columns_x RENAME TO svv_external_columns");
    rep = crawl(r.cfg, 0);
    cr_assert_eq(n_changes(rep), 0, "%s", itest_json_compact(json_object_get(rep, "changes")));
    PQfinish(r.c);
}

/* SVV_EXTERNAL_* list other databases' tables too: only the connected
 * database's are read, each once, and an identical re-crawl finds nothing. */
Test(redshift, external_objects_of_the_connected_database_only, .timeout = 180)
{
    rs_db r = rs_setup("rs_xdb", true);
    json_decref(crawl(r.cfg, 0));
    json_t *clicks = show_json(r.cfg, "test.spectrum.clicks");
    cr_assert_str_eq(field_names(clicks), "user_id,url,referrer,dt");
    const char *other[] = {"show", "test.spectrum.other_only", "--json", NULL};
    cr_assert_neq(run_mc(r.cfg, other).status, 0, "other_db's table was crawled");
    json_t *rep = crawl(r.cfg, 0);
    cr_assert_eq(n_changes(rep), 0, "%s", itest_json_compact(json_object_get(rep, "changes")));

    /* grants says what kind of external schema each is */
    itest_sql(r.c, "CREATE SCHEMA fed; "
                   "INSERT INTO rs_fixture.external_schemas VALUES ('fed', 'pgdb', NULL, 3); "
                   "CREATE SCHEMA stream; "
                   "INSERT INTO rs_fixture.external_schemas VALUES ('stream', 'kds', NULL, 9)");
    const char *g[] = {"grants", "test", NULL};
    itest_result gr = run_mc(r.cfg, g);
    cr_assert_eq(gr.status, 0, "%s", gr.err);
    cr_assert(strstr(gr.out, "Schema \"spectrum\" (external: Spectrum, data catalog)"), "%s",
              gr.out);
    cr_assert(strstr(gr.out, "Schema \"fed\" (external: federated PostgreSQL)"), "%s", gr.out);
    cr_assert(strstr(gr.out, "Schema \"stream\" (external: Kinesis stream)"), "%s", gr.out);
    cr_assert_null(strstr(gr.out, "GRANT SELECT ON ALL TABLES IN SCHEMA \"fed\""), "%s", gr.out);

    /* and so does check */
    itest_sql(r.c, "GRANT USAGE ON SCHEMA fed, stream TO %s", r.role);
    const char *ck[] = {"check", "--json", NULL};
    itest_result cr = run_mc(r.cfg, ck);
    cr_assert(strstr(cr.out, "USAGE (external schema: Spectrum, data catalog)"), "%s", cr.out);
    cr_assert(strstr(cr.out, "USAGE (external schema: federated PostgreSQL)"), "%s", cr.out);
    cr_assert(strstr(cr.out, "USAGE (external schema: Kinesis stream)"), "%s", cr.out);
    PQfinish(r.c);
}

/* Makes DB (a shim database) a consumer of datashare salesshare: its
 * SVV_REDSHIFT_DATABASES row says shared, and the SVV_REDSHIFT_* views
 * describe two tables and a view that pg_class does not know. */
static void make_consumer(PGconn *c, const char *db)
{
    itest_sql(c, "INSERT INTO rs_fixture.databases VALUES ('%s', 'shared', "
                 "'{\"datashare_name\":\"salesshare\",\"datashare_producer_account\":"
                 "\"123456789012\",\"datashare_producer_namespace\":"
                 "\"dd8772e1-d792-4fa4-996b-1870577efc0d\"}') "
                 "ON CONFLICT (database_name) DO UPDATE SET database_type = 'shared', "
                 "database_options = EXCLUDED.database_options", db);
    /* database_options is varchar(128): the namespace is cut off there, and
     * SVV_DATASHARES says it */
    itest_sql(c, "INSERT INTO rs_fixture.datashares VALUES ('salesshare', 'INBOUND', '%s', "
                 "'123456789012', 'dd8772e1-d792-4fa4-996b-1870577efc0d')", db);
    itest_sql(c, "INSERT INTO rs_fixture.redshift_schemas (database_name, schema_name) "
                 "VALUES ('%s', 'shared_sales'), ('%s', 'pg_internal'), ('other', 'elsewhere')",
              db, db);
    itest_sql(c, "INSERT INTO rs_fixture.redshift_tables VALUES "
                 "('%s', 'shared_sales', 'orders', 'TABLE', 'every order', 'producer_admin'), "
                 "('%s', 'shared_sales', 'customers', 'TABLE', NULL, 'producer_admin'), "
                 "('%s', 'shared_sales', 'v_big', 'VIEW', '', 'producer_admin'), "
                 "('other', 'elsewhere', 'not_mine', 'TABLE', NULL, NULL)", db, db, db);
    itest_sql(c, "INSERT INTO rs_fixture.redshift_columns VALUES "
                 "('%s', 'shared_sales', 'orders', 'total', 3, 'numeric(12,2)', NULL, 'YES', "
                 "'az64', false, 0, NULL), "
                 "('%s', 'shared_sales', 'orders', 'id', 1, 'bigint', NULL, 'NO', 'raw', true, 1, "
                 "'the key'), "
                 "('%s', 'shared_sales', 'orders', 'placed_at', 2, 'timestamp', NULL, 'NO', "
                 "'az64', false, 2, NULL), "
                 "('%s', 'shared_sales', 'customers', 'id', 1, 'integer', NULL, 'NO', 'az64', "
                 "false, 0, NULL), "
                 "('%s', 'shared_sales', 'v_big', 'id', 1, 'bigint', NULL, 'YES', NULL, false, 0, "
                 "NULL), "
                 "('other', 'elsewhere', 'not_mine', 'x', 1, 'integer', NULL, 'YES', NULL, "
                 "false, 0, NULL)", db, db, db, db, db);
}

/* A database created from a datashare has no local catalog: it is read
 * from the SVV_REDSHIFT_* views, filtered by its name, and the run says
 * where it came from (docs/redshift.md, "Several databases and
 * datashares"). */
Test(redshift, datashare_consumer_is_read_from_svv_views, .timeout = 120)
{
    rs_db r = rs_setup("rs_share", true);
    itest_sql(r.c, "DELETE FROM rs_fixture.databases WHERE database_name = current_database()");
    make_consumer(r.c, r.db);
    json_t *rep = crawl(r.cfg, 0);
    cr_assert_str_eq(str(rep, "status"), "ok");
    cr_assert(strstr(str(rep, "server_version"),
                     "read from datashare salesshare of producer namespace "
                     "dd8772e1-d792-4fa4-996b-1870577efc0d (account 123456789012)"),
              "%s", itest_json_compact(rep));
    json_t *counts = json_object_get(rep, "counts");
    /* shared_sales only (not pg_internal, not another database's rows);
     * orders, customers, v_big and none of the local warehouse */
    cr_assert_eq(json_integer_value(json_object_get(counts, "schemas")), 1, "%s",
                 itest_json_compact(rep));
    cr_assert_eq(json_integer_value(json_object_get(counts, "containers")), 3, "%s",
                 itest_json_compact(rep));
    cr_assert_eq(json_integer_value(json_object_get(counts, "fields")), 5, "%s",
                 itest_json_compact(rep));
    /* version() twice, SET, the database query, the datashare origin query
     * (database_options cut the namespace off), BEGIN, 3 views, COMMIT */
    cr_assert_eq(json_integer_value(json_object_get(rep, "queries")), 10, "%s",
                 itest_json_compact(rep));

    json_t *orders = show_json(r.cfg, "test.shared_sales.orders");
    cr_assert_str_eq(str(orders, "kind"), "table");
    cr_assert_str_eq(str(orders, "comment"), "every order");
    cr_assert_str_eq(str(orders, "owner"), "producer_admin");
    cr_assert_str_eq(str(orders, "dist_style"), "KEY(id)");
    char *names = field_names(orders);
    cr_assert_str_eq(names, "id,placed_at,total");
    cr_assert_str_eq(str(field(orders, "id"), "comment"), "the key");
    cr_assert_str_eq(str(field(orders, "total"), "type"), "numeric(12,2)");
    cr_assert(json_is_false(json_object_get(field(orders, "id"), "nullable")), "%s",
              itest_json_compact(orders));
    cr_assert_str_eq(itest_json_compact(json_object_get(orders, "sort_key")),
                     "{\"columns\":[\"id\",\"placed_at\"],\"type\":\"compound\"}");
    /* what the views do not say stays unknown */
    cr_assert(json_is_null(json_object_get(orders, "primary_key")), "%s",
              itest_json_compact(orders));
    json_t *v = show_json(r.cfg, "test.shared_sales.v_big");
    cr_assert_str_eq(str(v, "kind"), "view");
    PQfinish(r.c);
}

/* Kinds as Redshift stores them: late-binding views by relnatts = 0 (no
 * pg_attribute rows) and their closing clause, not by the phrase in a
 * string; materialized views by their text, their backing table left out;
 * IDENTITY defaults as AWS prints them. */
Test(redshift, kinds_from_what_redshift_stores, .timeout = 120)
{
    rs_db r = rs_setup("rs_kinds", true);
    json_decref(crawl(r.cfg, 0));
    json_t *note = show_json(r.cfg, "test.sales.v_binding_note");
    cr_assert_str_eq(str(note, "kind"), "view");
    cr_assert_str_eq(field_names(note), "id,note");
    json_t *mv = show_json(r.cfg, "test.sales.mv_daily");
    cr_assert_str_eq(str(mv, "kind"), "materialized_view");
    cr_assert_str_eq(field_names(mv), "day,total");
    const char *backing[] = {"show", "test.sales.mv_tbl__mv_daily__0", "--json", NULL};
    cr_assert_neq(run_mc(r.cfg, backing).status, 0, "the MV's backing table was crawled");
    json_t *lbv = show_json(r.cfg, "test.sales.v_orders_lb");
    cr_assert_str_eq(str(lbv, "kind"), "late_binding_view");
    json_t *lines = show_json(r.cfg, "test.sales.order_lines");
    cr_assert_str_eq(str(field(lines, "line_id"), "default"), "IDENTITY(1,1)");
    PQfinish(r.c);
}

/* A late-binding view the crawler cannot SELECT: the function lists no
 * columns for it.  A warning names it and the grant; its columns stay;
 * nothing is removed; the grant brings it back without a change. */
Test(redshift, late_binding_view_without_select, .timeout = 120)
{
    rs_db r = rs_setup("rs_lbsel", true);
    json_decref(crawl(r.cfg, 0));
    itest_sql(r.c, "REVOKE SELECT ON sales.v_orders_lb FROM %s", r.role);
    json_t *rep = crawl(r.cfg, 7);
    char *w = warnings_of(rep);
    cr_assert(strstr(w, "sales.v_orders_lb") && strstr(w, "GRANT SELECT"), "%s", w);
    cr_assert_eq(n_changes(rep), 0, "%s", itest_json_compact(json_object_get(rep, "changes")));
    cr_assert_str_eq(field_names(show_json(r.cfg, "test.sales.v_orders_lb")),
                     "order_id,amount,region");
    itest_sql(r.c, "GRANT SELECT ON sales.v_orders_lb TO %s", r.role);
    rep = crawl(r.cfg, 0);
    cr_assert_eq(n_changes(rep), 0, "%s", itest_json_compact(json_object_get(rep, "changes")));
    PQfinish(r.c);
}

/* Mixed-case names: the privilege functions fold names to lower case on
 * Redshift (enable_case_sensitive_identifier off); check must not fail on
 * them, and reads only the schemas in scope. */
Test(redshift, check_with_mixed_case_names, .timeout = 120)
{
    rs_db r = rs_setup("rs_case", true);
    itest_sql(r.c, "CREATE TABLE sales.\"MixedCase\" (x int); "
                   "GRANT SELECT ON sales.\"MixedCase\" TO %s; "
                   "CREATE SCHEMA \"CamelSchema\"; CREATE TABLE \"CamelSchema\".\"T\" (x int); "
                   "GRANT USAGE ON SCHEMA \"CamelSchema\" TO %s; "
                   "GRANT SELECT ON \"CamelSchema\".\"T\" TO %s",
              r.role, r.role, r.role);
    const char *ck[] = {"check", "--json", NULL};
    itest_result cr = run_mc(r.cfg, ck);
    cr_assert_null(strstr(cr.out, "relation query failed"), "%s", cr.out);
    cr_assert_null(strstr(cr.out, "schema query failed"), "%s", cr.out);
    cr_assert(strstr(cr.out, "CamelSchema"), "%s", cr.out);
    json_t *rep = crawl(r.cfg, 0);
    cr_assert_str_eq(str(show_json(r.cfg, "test.CamelSchema.T"), "kind"), "table");
    json_decref(rep);

    /* out of scope: not in the relation query */
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, r.db, r.role, PW, "    schemas: { include: [sales] }\n");
    long before = itest_count_log("'CamelSchema'");
    itest_result c2 = run_mc(cfg, ck);
    cr_assert_null(strstr(c2.out, "relation query failed"), "%s", c2.out);
    usleep(300000);
    cr_assert_eq(itest_count_log("'CamelSchema'"), before, "an out-of-scope schema was read");
    PQfinish(r.c);
}

/* dbt rewrites its comment in every view on every upgrade: not a change.
 * A change of the SQL is. */
Test(redshift, dbt_comment_is_not_a_change, .timeout = 120)
{
    rs_db r = rs_setup("rs_dbt", true);
    json_decref(crawl(r.cfg, 0));
    itest_sql(r.c, "UPDATE rs_fixture.view_text SET definition = "
                   "replace(replace(definition, '1.7.4', '1.8.2'), '\n  ', '\n      ')");
    json_t *rep = crawl(r.cfg, 0);
    cr_assert_eq(n_changes(rep), 0, "%s", itest_json_compact(json_object_get(rep, "changes")));
    itest_sql(r.c, "UPDATE rs_fixture.view_text SET definition = "
                   "replace(definition, 'select id, name', 'select id') "
                   "WHERE relid = 'sales.v_customers_dbt'::regclass");
    rep = crawl(r.cfg, 0);
    cr_assert_eq(n_changes(rep), 1, "%s", itest_json_compact(json_object_get(rep, "changes")));
    json_t *ch = json_array_get(json_object_get(rep, "changes"), 0);
    cr_assert_str_eq(str(ch, "attribute"), "definition");
    cr_assert_str_eq(str(ch, "container"), "v_customers_dbt");
    PQfinish(r.c);
}

/* A failed run still says how many statements it sent. */
Test(redshift, failed_run_reports_its_queries, .timeout = 120)
{
    rs_db r = rs_setup("rs_fail", true);
    itest_sql(r.c, "REVOKE SELECT ON rs_shim.pg_attribute FROM %s", r.role);
    json_t *rep = crawl(r.cfg, 5);
    cr_assert_gt(json_integer_value(json_object_get(rep, "queries")), 0, "%s",
                 itest_json_compact(rep));
    PQfinish(r.c);
}

/* The shim refuses what a cluster refuses, so that CI fails where a cluster
 * would: an SVV view next to a leader-node function or a catalog table,
 * PostgreSQL functions Redshift lacks, names folded by the privilege
 * functions, the six-column late-binding answer in the column definition
 * list form. */
Test(redshift, the_shim_refuses_what_redshift_refuses, .timeout = 120)
{
    rs_db r = rs_setup("rs_shimrules", true);
    itest_sql(r.c, "CREATE TABLE sales.\"MixedCase\" (x int); "
                   "GRANT SELECT ON sales.\"MixedCase\" TO %s",
              r.role);
    PGconn *c = itest_connect_as(r.db, r.role, PW);
    static const struct {
        const char *sql, *error;
    } refused[] = {
        {"SELECT version(), s.schemaname FROM svv_external_schemas s",
         "not supported on Redshift tables"},
        {"SELECT t.tablename FROM svv_external_tables t JOIN pg_namespace n "
         "ON n.nspname = t.schemaname",
         "not supported on Redshift tables"},
        {"SELECT has_schema_privilege(s.schemaname, 'USAGE') FROM svv_external_schemas s",
         "not supported on Redshift tables"},
        {"SELECT generate_series(1, 3)", "does not exist"},
        {"SELECT string_agg(nspname::text, ',') FROM pg_namespace", "does not exist"},
        {"SELECT array_to_json(conkey) FROM pg_constraint", "does not exist"},
        {"SELECT has_table_privilege('sales.\"MixedCase\"', 'SELECT')", "does not exist"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        PGresult *res = PQexec(c, refused[i].sql);
        cr_assert_neq(PQresultStatus(res), PGRES_TUPLES_OK, "the shim ran: %s", refused[i].sql);
        cr_assert(strstr(PQresultErrorMessage(res), refused[i].error), "%s: %s",
                  refused[i].sql, PQresultErrorMessage(res));
        PQclear(res);
    }
    /* what the crawler does instead works */
    PGresult *ok = PQexec(c, "SELECT has_table_privilege(c.oid, 'SELECT') FROM pg_class c "
                             "WHERE c.relname = 'MixedCase'");
    cr_assert_eq(PQresultStatus(ok), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(ok));
    cr_assert_str_eq(PQgetvalue(ok, 0, 0), "t");
    PQclear(ok);
    itest_sql(r.c, "SELECT rs_fixture.set_lbv_mode('six')");
    PGresult *six = PQexec(c, "SELECT * FROM pg_get_late_binding_view_cols() cols(view_schema "
                              "name, view_name name, col_name name, col_type varchar, col_num int)");
    cr_assert_neq(PQresultStatus(six), PGRES_TUPLES_OK, "six columns went through");
    PQclear(six);
    PQfinish(c);
    PQfinish(r.c);
}

/* `export` of a Redshift crawl (docs/export.md): every format validates
 * against its specification (tests/export/validate.mjs), with Redshift's
 * platform and kinds. */
Test(redshift, exports_validate, .timeout = 240)
{
    rs_db r = rs_setup("rs_export", true);
    json_decref(crawl(r.cfg, 0));
    const char *formats[] = {"dbt-catalog", "datahub", "openlineage", "json"};
    const char *root = itest_env("MC_SOURCE_ROOT");
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        char *out = itest_strf("%s/export.%s", r.dir, formats[i]);
        const char *args[] = {"export", "test", "--format", formats[i], "--out", out, NULL};
        itest_result e = run_mc(r.cfg, args);
        cr_assert_eq(e.status, 0, "export %s: %s", formats[i], e.err);
        char *script = itest_strf("%s/tests/export/validate.mjs", root);
        const char *argv[] = {script, formats[i], out, root, NULL};
        itest_result v = itest_run_program("node", argv, NULL, NULL);
        cr_assert_eq(v.status, 0, "%s does not validate:\n%s", formats[i], v.err);
        char *text = itest_read_file(out);
        if (strcmp(formats[i], "datahub") == 0)
            cr_assert(strstr(text, "urn:li:dataPlatform:redshift,"), "no redshift platform");
        if (strcmp(formats[i], "openlineage") == 0)
            cr_assert(strstr(text, "\"namespace\":\"redshift://"), "no redshift namespace");
        if (strcmp(formats[i], "dbt-catalog") == 0)
            cr_assert(strstr(text, "\"LATE BINDING VIEW\""), "no late-binding view");
    }
    PQfinish(r.c);
}

/* ---- lineage (docs/lineage.md) --------------------------------------------------- */

/*
 * A late-binding view has no pg_depend rows: what it reads is parsed from
 * its text — quoted names with a dot and a quote in them, and comments and
 * string literals that look like names, which are not read.  Ordinary and
 * materialized views come from the catalog with their columns; the impact
 * of a column lists all of them.
 */
Test(redshift, late_binding_views_are_parsed_ordinary_views_come_from_the_catalog,
     .timeout = 180)
{
    rs_db r = rs_setup("rs_lin", true);
    itest_sql(r.c, "CREATE TABLE sales.\"Odd.\"\"Name\"\"\" (id int); "
                   "CREATE VIEW sales.v_lb2 AS SELECT 1 AS placeholder; "
                   "GRANT SELECT ON ALL TABLES IN SCHEMA sales TO %s; "
                   "INSERT INTO rs_fixture.late_binding_views VALUES ('sales.v_lb2'); "
                   "INSERT INTO rs_fixture.late_binding_cols VALUES "
                   "('sales', 'v_lb2', 'id', 'integer', 1), "
                   "('sales', 'v_lb2', 'note', 'varchar(40)', 2); "
                   "INSERT INTO rs_fixture.view_text VALUES ('sales.v_lb2', "
                   "$t$create view sales.v_lb2 as /* from sales.in_a_comment */ "
                   "select o.id, 'from sales.in_a_string' as note -- join sales.in_a_line\n"
                   "from \"sales\" . \"Odd.\"\"Name\"\"\" w join SALES.Orders o on o.id = w.id, "
                   "spectrum.clicks c /* nested /* from sales.nested */ comment */ "
                   "where sales.f_udf(o.id) > 0 with no schema binding$t$)",
              r.role);
    crawl(r.cfg, 0);
    json_t *lb = show_json(r.cfg, "test.sales.v_lb2");
    cr_assert_str_eq(str(lb, "kind"), "late_binding_view");
    cr_assert_str_eq(itest_json_compact(json_object_get(lb, "depends_on")),
                     "[{\"name\":\"Odd.\\\"Name\\\"\",\"schema\":\"sales\",\"source\":\"parsed\"},"
                     "{\"name\":\"orders\",\"schema\":\"sales\",\"source\":\"parsed\"},"
                     "{\"name\":\"clicks\",\"schema\":\"spectrum\",\"source\":\"parsed\"}]");
    json_t *big = show_json(r.cfg, "test.sales.v_big_orders");
    cr_assert_str_eq(itest_json_compact(json_object_get(big, "depends_on")),
                     "[{\"columns\":[\"amount\",\"id\"],\"name\":\"orders\",\"schema\":\"sales\","
                     "\"source\":\"catalog\"}]");
    json_t *mv = show_json(r.cfg, "test.sales.mv_daily");
    cr_assert_str_eq(str(mv, "kind"), "materialized_view");
    cr_assert_str_eq(itest_json_compact(json_object_get(mv, "depends_on")),
                     "[{\"columns\":[\"amount\",\"placed_at\"],\"name\":\"orders\","
                     "\"schema\":\"sales\",\"source\":\"catalog\"}]");

    const char *args[] = {"impact", "test.sales.orders.amount", "--json", NULL};
    itest_result ir = run_mc(r.cfg, args);
    cr_assert_eq(ir.status, 0, "%s", ir.err);
    json_t *views = json_object_get(json_object_get(itest_parse_json(ir.out), "impact"), "views");
    char *names = strdup("");
    size_t i;
    json_t *v;
    json_array_foreach(views, i, v) {
        char *next = itest_strf("%s%s%s/%s", names, i ? "," : "", str(v, "name"),
                                str(v, "source"));
        free(names);
        names = next;
    }
    cr_assert_str_eq(names, "mv_daily/catalog,v_big_orders/catalog,v_lb2/parsed",
                     "a parsed edge knows no columns: it counts for every one");
    const char *targs[] = {"impact", "test.sales.orders.amount", NULL};
    itest_result tr = run_mc(r.cfg, targs);
    cr_assert(strstr(tr.out, "late-binding view sales.v_lb2 (named in its text)\n"), "%s",
              tr.out);
    PQfinish(r.c);
}

/* ---- table facts (docs/lineage.md, "Table facts") ---------------------------------- */

static int64_t store_i64(const char *dir, const char *sql)
{
    sqlite3 *db = NULL;
    char *path = itest_strf("%s/catalog.db", dir);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
    return v;
}

/* The facts step of `check --json`. */
static json_t *check_facts(const char *cfg)
{
    const char *args[] = {"check", "--json", NULL};
    itest_result r = run_mc(cfg, args);
    cr_assert_eq(r.status, 0, "facts never fail check: %s\n%s", r.out, r.err);
    json_t *doc = itest_parse_json(r.out);
    json_t *ds = json_array_get(json_object_get(doc, "datastores"), 0);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(ds, "steps"), i, it) {
        if (strcmp(str(it, "step"), "facts") == 0) {
            json_incref(it);
            json_decref(doc);
            return it;
        }
    }
    cr_assert_fail("no facts step in %s", r.out);
    return NULL;
}

/*
 * SVV_TABLE_INFO is for superusers and users granted SELECT on it.  Without
 * the grant the crawl is whole and ok, says the facts were unavailable and
 * how to get them, and check warns with the grant; with it the facts are
 * recorded; when it is taken away again the last facts stay, with their run.
 */
Test(redshift, table_facts_with_and_without_svv_table_info, .timeout = 180)
{
    rs_db r = rs_setup("rs_facts", true);
    json_t *rep = crawl(r.cfg, 0);
    cr_assert_str_eq(str(rep, "status"), "ok", "%s", itest_json_compact(rep));
    cr_assert_eq(json_array_size(json_object_get(rep, "warnings")), 0, "%s",
                 itest_json_compact(rep));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(rep, "counts"),
                                                    "containers")), 11);
    json_t *fo = json_object_get(rep, "facts");
    cr_assert_str_eq(str(fo, "status"), "unavailable", "%s", itest_json_compact(fo));
    cr_assert(strstr(str(fo, "reason"), "permission denied"), "%s", itest_json_compact(fo));
    char *grant = itest_strf("GRANT SELECT ON svv_table_info TO \"%s\";", r.role);
    cr_assert_str_eq(str(fo, "fix"), grant);
    int64_t run1 = json_integer_value(json_object_get(rep, "run"));
    cr_assert_eq(store_i64(r.dir, itest_strf("SELECT count(*) FROM runs WHERE id = %lld AND "
                                              "facts LIKE 'unavailable: permission denied%%'",
                                              (long long)run1)), 1);
    cr_assert(json_is_null(json_object_get(show_json(r.cfg, "test.sales.orders"), "facts")));
    /* the terminal says it, with the fix, and is not a warning */
    const char *targs[] = {"crawl", NULL};
    itest_result t = run_mc(r.cfg, targs);
    cr_assert_eq(t.status, 0, "%s", t.err);
    cr_assert(strstr(t.out, "table facts unavailable (permission denied"), "%s", t.out);
    cr_assert(strstr(t.out, grant), "%s", t.out);
    json_t *ck = check_facts(r.cfg);
    cr_assert_str_eq(str(ck, "status"), "warn", "%s", itest_json_compact(ck));
    cr_assert(strstr(str(ck, "fix"), grant), "%s", itest_json_compact(ck));
    cr_assert(strstr(str(ck, "fix"), "the crawl works without table facts"), "%s",
              itest_json_compact(ck));

    /* the documented grant, as the crawler's search_path resolves it */
    itest_sql(r.c, "SET search_path = rs_shim, pg_catalog; "
                   "GRANT SELECT ON svv_table_info TO %s; RESET search_path", r.role);
    rep = crawl(r.cfg, 0);
    cr_assert_eq(n_changes(rep), 0, "%s", itest_json_compact(json_object_get(rep, "changes")));
    fo = json_object_get(rep, "facts");
    cr_assert_str_eq(str(fo, "status"), "read", "%s", itest_json_compact(fo));
    int64_t run2 = json_integer_value(json_object_get(rep, "run"));
    json_t *f = json_object_get(show_json(r.cfg, "test.sales.orders"), "facts");
    cr_assert_eq(json_integer_value(json_object_get(f, "run")), run2, "%s", itest_json_compact(f));
    cr_assert_eq(json_integer_value(json_object_get(f, "total_bytes")), 340LL * 1048576);
    cr_assert_eq((long)json_number_value(json_object_get(f, "tbl_rows")), 1250000);
    cr_assert_eq((long)json_number_value(json_object_get(f, "visible_rows")), 1249000);
    cr_assert_float_eq(json_number_value(json_object_get(f, "skew_rows")), 1.08, 1e-9);
    cr_assert_float_eq(json_number_value(json_object_get(f, "unsorted")), 7.25, 1e-9);
    cr_assert_float_eq(json_number_value(json_object_get(f, "stats_off")), 12.5, 1e-9);
    cr_assert(json_is_null(json_object_get(f, "last_analyze")), "%s", itest_json_compact(f));
    /* events is empty: SVV_TABLE_INFO has no row for it, its row estimate stays */
    json_t *ef = json_object_get(show_json(r.cfg, "test.sales.events"), "facts");
    cr_assert(json_is_object(ef), "%s", itest_json_compact(ef));
    cr_assert(json_is_null(json_object_get(ef, "total_bytes")), "%s", itest_json_compact(ef));
    /* views have no facts of their own */
    cr_assert(json_is_null(json_object_get(show_json(r.cfg, "test.sales.v_big_orders"), "facts")));
    cr_assert_str_eq(str(check_facts(r.cfg), "status"), "ok");

    /* Only the facts move: no change, no version. */
    int64_t versions = store_i64(r.dir, "SELECT count(*) FROM container_versions");
    itest_sql(r.c, "UPDATE rs_fixture.table_info SET unsorted = 50, stats_off = 80, "
                   "tbl_rows = tbl_rows * 2");
    rep = crawl(r.cfg, 0);
    cr_assert_eq(n_changes(rep), 0, "%s", itest_json_compact(json_object_get(rep, "changes")));
    cr_assert_eq(store_i64(r.dir, "SELECT count(*) FROM container_versions"), versions);
    int64_t run3 = json_integer_value(json_object_get(rep, "run"));
    f = json_object_get(show_json(r.cfg, "test.sales.orders"), "facts");
    cr_assert_float_eq(json_number_value(json_object_get(f, "unsorted")), 50, 1e-9);

    /* Taken away: the crawl goes on, the last facts stay with their run. */
    itest_sql(r.c, "REVOKE SELECT ON rs_shim.svv_table_info FROM %s", r.role);
    rep = crawl(r.cfg, 0);
    cr_assert_str_eq(str(json_object_get(rep, "facts"), "status"), "unavailable");
    cr_assert_eq(n_changes(rep), 0);
    f = json_object_get(show_json(r.cfg, "test.sales.orders"), "facts");
    cr_assert_eq(json_integer_value(json_object_get(f, "run")), run3, "%s", itest_json_compact(f));
    PQfinish(r.c);
}

/* databases: "*" on Redshift: SVV_REDSHIFT_DATABASES lists a local database
 * beside the connected one and a consumer database; each is crawled in its
 * own session and recorded as "test/<db>", the consumer from the SVV views. */
Test(redshift, every_database_of_the_cluster, .timeout = 180)
{
    rs_db r = rs_setup("rs_all", true);
    char *other = itest_create_db("rs_all_local");
    char *consumer = itest_create_db("rs_all_share");
    const char *dbs[] = {other, consumer};
    for (int i = 0; i < 2; i++) {
        PGconn *c = itest_connect(dbs[i]);
        run_sql_file(c, "shim.sql");
        itest_sql(c, "SELECT rs_fixture.enrol('%s')", r.role);
        itest_sql(c, "CREATE TABLE public.local_%d (id int)", i);
        if (i == 1) {
            itest_sql(c, "DELETE FROM rs_fixture.databases WHERE database_name = "
                         "current_database()");
            make_consumer(c, consumer);
        }
        PQfinish(c);
    }
    /* the list as the connected database's view tells it: no other_db */
    itest_sql(r.c, "DELETE FROM rs_fixture.databases WHERE database_name <> current_database()");
    itest_sql(r.c, "INSERT INTO rs_fixture.databases VALUES ('%s', 'local'), ('%s', 'shared'), "
                   "('padb_harvest', 'local'), ('awsdatacatalog', 'external')",
              other, consumer);
    char *cfg = itest_write_config(r.dir, r.db, r.role, PW, "    databases: \"*\"\n");
    const char *args[] = {"crawl", "--json", NULL};
    itest_result res = run_mc(cfg, args);
    cr_assert_eq(res.status, 0, "%s\n%s", res.out, res.err);
    json_t *doc = itest_parse_json(res.out);
    json_t *list = json_object_get(doc, "datastores");
    cr_assert_eq(json_array_size(list), 3, "%s", res.out);
    size_t i;
    json_t *d;
    int seen = 0;
    json_array_foreach(list, i, d) {
        const char *name = str(d, "datastore");
        int64_t n = json_integer_value(json_object_get(json_object_get(d, "counts"),
                                                        "containers"));
        if (strcmp(name, itest_strf("test/%s", r.db)) == 0) {
            cr_assert_eq(n, 11, "%s", itest_json_compact(d));
            seen |= 1;
        } else if (strcmp(name, itest_strf("test/%s", other)) == 0) {
            cr_assert_eq(n, 1, "%s", itest_json_compact(d));
            seen |= 2;
        } else if (strcmp(name, itest_strf("test/%s", consumer)) == 0) {
            cr_assert_eq(n, 3, "%s", itest_json_compact(d));
            cr_assert(strstr(str(d, "server_version"), "read from datashare salesshare"), "%s",
                      itest_json_compact(d));
            seen |= 4;
        }
    }
    cr_assert_eq(seen, 7, "%s", res.out);

    /* a database that disappears from the list is not crawled, and its
     * recorded datastore stays as it was */
    itest_sql(r.c, "DELETE FROM rs_fixture.databases WHERE database_name = '%s'", other);
    itest_result res2 = run_mc(cfg, args);
    cr_assert_eq(res2.status, 0, "%s\n%s", res2.out, res2.err);
    cr_assert_eq(json_array_size(json_object_get(itest_parse_json(res2.out), "datastores")), 2,
                 "%s", res2.out);
    char *gone = itest_strf("test/%s: no longer listed by databases: \"*\"", other);
    cr_assert(strstr(res2.err, gone), "%s", res2.err);
    char *store = itest_strf("%s/catalog.db", r.dir);
    char *q = itest_strf("SELECT count(*) FROM container_versions v JOIN containers k ON "
                         "k.id = v.container_id JOIN datastores d ON d.id = k.datastore_id "
                         "WHERE d.name = 'test/%s' AND v.valid_to IS NULL", other);
    cr_assert_str_eq(itest_sqlite_value(store, q), "1");
    PQfinish(r.c);
}

/* The producer side: check names, per OUTBOUND datashare of the checked
 * database, the objects it shares (SVV_DATASHARES + SVV_DATASHARE_OBJECTS);
 * another database's datashare is not this one's. */
Test(redshift, check_shows_what_a_producer_shares, .timeout = 120)
{
    rs_db r = rs_setup("rs_producer", true);
    itest_sql(r.c, "INSERT INTO rs_fixture.datashares (share_name, share_type, source_database) "
                   "VALUES ('salesshare', 'OUTBOUND', '%s'), ('elsewhere', 'OUTBOUND', 'other')",
              r.db);
    itest_sql(r.c, "INSERT INTO rs_fixture.datashare_objects (share_name, object_type, "
                   "object_name) VALUES ('salesshare', 'schema', 'sales'), "
                   "('salesshare', 'table', 'sales.orders'), "
                   "('elsewhere', 'table', 'public.secret')");
    const char *args[] = {"check", NULL};
    itest_result res = run_mc(r.cfg, args);
    cr_assert(strstr(res.out, "datashare: datashare salesshare shares 2 objects: schema sales, "
                              "table sales.orders"), "%s\n%s", res.out, res.err);
    cr_assert_null(strstr(res.out, "public.secret"), "%s", res.out);
    PQfinish(r.c);
}
