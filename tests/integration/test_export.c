/*
 * test_export.c — `metacrawl export` (docs/export.md) against a real crawl
 * of the harness's PostgreSQL: every format validates against its published
 * specification (tests/export/validate.mjs, ajv), hostile names survive as
 * valid JSON and as distinct names, the mappings say what docs/export.md
 * says, the json format is what `show --json` prints, --out is atomic, and
 * an export of 400,000 columns runs in memory that does not grow with the
 * catalog.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diff.h"
#include "itest.h"
#include "store.h"

typedef struct fixture {
    char *db, *dir, *cfg;
} fixture;

static const char *const *env(void)
{
    static char *e[2];
    e[0] = itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD"));
    e[1] = NULL;
    return (const char *const *)e;
}

/* metacrawl ARGS... (with -c CFG first when cfg is given) */
static itest_result mc(const char *config, const char *const *args)
{
    const char *argv[32];
    int n = 0;
    if (config) {
        argv[n++] = "-c";
        argv[n++] = config;
    }
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return itest_run(argv, env(), NULL);
}
#define MC(config, ...) mc(config, (const char *const[]){__VA_ARGS__, NULL})

static void ok(itest_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s: exit %d\nstdout: %s\nstderr: %s", what, r.status, r.out,
                 r.err);
}

/* A hostile comment: quotes, a backslash, control characters, a script end
 * tag, U+2028 and non-ASCII. */
#define HOSTILE_COMMENT "E'quote \" backslash \\\\ newline \\n tab \\t bell \\x07 </script> \\u2028 é'"

static fixture setup(const char *prefix)
{
    fixture f = {0};
    f.db = itest_create_db(prefix);
    PGconn *c = itest_connect(f.db);
    itest_sql(c,
        "CREATE SCHEMA sales; COMMENT ON SCHEMA sales IS 'Sales';"
        "CREATE TABLE sales.orders (id int PRIMARY KEY, customer text NOT NULL,"
        " amount numeric(10,2), placed timestamptz DEFAULT now(), tags text[], doc jsonb,"
        " flag boolean, raw bytea, day date);"
        "COMMENT ON TABLE sales.orders IS 'One row per order';"
        "COMMENT ON COLUMN sales.orders.amount IS 'in EUR';"
        "CREATE TABLE sales.line (order_id int REFERENCES sales.orders, n int,"
        " PRIMARY KEY (order_id, n));"
        "CREATE VIEW sales.big AS SELECT id, amount FROM sales.orders WHERE amount > 100;"
        "CREATE MATERIALIZED VIEW sales.daily AS SELECT day, sum(amount) AS s"
        " FROM sales.orders GROUP BY day;"
        "CREATE TABLE sales.events (id int, at date) PARTITION BY RANGE (at);"
        "CREATE TABLE sales.events_2024 PARTITION OF sales.events"
        " FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
        "CREATE TABLE public.empty ();"
        /* two names that are one text when their parts are joined by dots */
        "CREATE SCHEMA \"a.b\"; CREATE SCHEMA a;"
        "CREATE TABLE \"a.b\".c (x int); CREATE TABLE a.\"b.c\" (y int);"
        /* URN-reserved characters, quotes, a new line and U+241F */
        "CREATE SCHEMA \"we\"\"ird,(s)\";"
        "CREATE TABLE \"we\"\"ird,(s)\".\"t,a(b)le\xe2\x90\x9f\" (\"c\"\"o.l\" int PRIMARY KEY,"
        " \"new\nline\" text, \"\xc3\xa9\xe2\x9c\x93\" text);"
        "COMMENT ON TABLE \"we\"\"ird,(s)\".\"t,a(b)le\xe2\x90\x9f\" IS " HOSTILE_COMMENT ";"
        "COMMENT ON COLUMN \"we\"\"ird,(s)\".\"t,a(b)le\xe2\x90\x9f\".\"c\"\"o.l\" IS "
        HOSTILE_COMMENT ";");
    PQfinish(c);
    f.dir = itest_tmpdir();
    f.cfg = itest_write_config(f.dir, f.db, itest_env("MC_TEST_PGUSER"),
                               itest_env("MC_TEST_PGPASSWORD"), NULL);
    ok(MC(f.cfg, "crawl"), "crawl");
    return f;
}

/* node tests/export/validate.mjs FORMAT FILE: the export against its spec. */
static itest_result validate(const char *format, const char *file)
{
    const char *root = itest_env("MC_SOURCE_ROOT");
    char *script = itest_strf("%s/tests/export/validate.mjs", root);
    const char *argv[] = {script, format, file, root, NULL};
    return itest_run_program("node", argv, NULL, NULL);
}

static char *export_to(const fixture *f, const char *format, const char *name)
{
    char *path = itest_strf("%s/%s", f->dir, name);
    ok(MC(f->cfg, "export", "test", "--format", format, "--out", path), format);
    return path;
}

static json_t *load_json(const char *path)
{
    return itest_parse_json(itest_read_file(path));
}

static const char *const formats[] = {"dbt-catalog", "datahub", "openlineage", "json"};

Test(export, every_format_validates_against_its_specification)
{
    fixture f = setup("export_valid");
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        char *path = export_to(&f, formats[i], formats[i]);
        itest_result v = validate(formats[i], path);
        cr_assert_eq(v.status, 0, "%s does not validate:\n%s%s", formats[i], v.err, v.out);
    }
}

Test(export, the_validator_rejects_what_breaks_a_specification)
{
    /* so that the test above cannot pass by checking nothing */
    fixture f = setup("export_neg");
    char *bad = itest_strf("%s/bad", f.dir);
    struct {
        const char *format, *name, *from, *to;
    } cases[] = {
        /* dbt: a column index must be an integer */
        {"dbt-catalog", "d", "\"index\":1,", "\"index\":\"1\","},
        /* OpenLineage: a facet without its _producer */
        {"openlineage", "o", "\"_producer\":", "\"_producerX\":"},
        /* DataHub: a URN name with a raw reserved character */
        {"datahub", "h", "%2C", ","},
        /* json: a field without its type */
        {"json", "j", "\"type\":\"integer\"", "\"typ\":\"integer\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = export_to(&f, cases[i].format, cases[i].name);
        char *text = itest_read_file(path);
        char *at = strstr(text, cases[i].from);
        cr_assert_not_null(at, "%s has no %s", cases[i].format, cases[i].from);
        char *broken = itest_strf("%.*s%s%s", (int)(at - text), text, cases[i].to,
                                  at + strlen(cases[i].from));
        itest_write_file(bad, broken);
        itest_result v = validate(cases[i].format, bad);
        cr_assert_eq(v.status, 1, "%s: a broken export passed (%d): %s", cases[i].format,
                     v.status, v.err);
    }
}

static json_t *find_mcp(json_t *mcps, const char *urn_part, const char *aspect)
{
    size_t i;
    json_t *m;
    json_array_foreach(mcps, i, m) {
        const char *urn = json_string_value(json_object_get(m, "entityUrn"));
        if (strstr(urn, urn_part) &&
            strcmp(json_string_value(json_object_get(m, "aspectName")), aspect) == 0)
            return json_object_get(json_object_get(m, "aspect"), "json");
    }
    cr_assert_fail("no %s MCP for %s", aspect, urn_part);
    return NULL;
}

Test(export, the_mappings_are_what_the_docs_say)
{
    fixture f = setup("export_map");
    /* metacrawl's own: the containers, each as show --json prints it */
    json_t *own = load_json(export_to(&f, "json", "own.json"));
    json_t *containers = json_object_get(own, "containers");
    size_t n = json_array_size(containers);
    cr_assert_eq(n, 9, "%zu containers", n);
    cr_assert_str_eq(json_string_value(json_object_get(own, "database")), f.db);
    const char *paths[] = {"test.sales.orders", "test.\"a.b\".c", "test.a.\"b.c\"",
                           "test.\"we\"\"ird,(s)\".\"t,a(b)le\xe2\x90\x9f\""};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        itest_result s = MC(f.cfg, "show", paths[i], "--json");
        ok(s, paths[i]);
        /* show adds the table facts, which are not the catalog and not
         * exported (docs/export.md) */
        json_t *shown = itest_parse_json(s.out);
        cr_assert(json_object_get(shown, "facts"), "show --json has the facts");
        json_object_del(shown, "facts");
        char *want = itest_json_compact(shown);
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = strcmp(itest_json_compact(json_array_get(containers, k)), want) == 0;
        cr_assert(found, "%s: the export's container differs from show --json:\n%s",
                  paths[i], want);
    }

    /* dbt: sources keyed by unique_id, one per container */
    json_t *dbt = load_json(export_to(&f, "dbt-catalog", "catalog.json"));
    json_t *sources = json_object_get(dbt, "sources");
    cr_assert_eq(json_object_size(sources), n);
    cr_assert_eq(json_object_size(json_object_get(dbt, "nodes")), 0);
    json_t *orders = json_object_get(sources, "source.test.sales.orders");
    cr_assert_not_null(orders);
    json_t *md = json_object_get(orders, "metadata");
    cr_assert_str_eq(json_string_value(json_object_get(md, "type")), "BASE TABLE");
    cr_assert_str_eq(json_string_value(json_object_get(md, "database")), f.db);
    cr_assert_str_eq(json_string_value(json_object_get(md, "comment")), "One row per order");
    json_t *amount = json_object_get(json_object_get(orders, "columns"), "amount");
    cr_assert_eq(json_integer_value(json_object_get(amount, "index")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(amount, "type")), "numeric(10,2)");
    cr_assert_str_eq(json_string_value(json_object_get(amount, "comment")), "in EUR");
    cr_assert_not_null(json_object_get(sources, "source.test.\"a.b\".c"));
    cr_assert_not_null(json_object_get(sources, "source.test.a.\"b.c\""));
    json_t *big = json_object_get(sources, "source.test.sales.big");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(big, "metadata"), "type")),
                     "VIEW");
    json_t *daily = json_object_get(sources, "source.test.sales.daily");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(daily, "metadata"), "type")),
        "MATERIALIZED VIEW");
    json_t *weird = json_object_get(sources,
                                    "source.test.\"we\"\"ird,(s)\".t,a(b)le\xe2\x90\x9f");
    cr_assert_not_null(weird, "the hostile table's unique_id");
    json_t *col = json_object_get(json_object_get(weird, "columns"), "c\"o.l");
    cr_assert_str_eq(json_string_value(json_object_get(col, "comment")),
                     "quote \" backslash \\ newline \n tab \t bell \x07 </script> \xe2\x80\xa8 \xc3\xa9");
    cr_assert_not_null(json_object_get(json_object_get(weird, "columns"), "new\nline"));

    /* DataHub: the platform, native types, keys, descriptions, reserved
     * characters encoded */
    json_t *mcps = load_json(export_to(&f, "datahub", "mcps.json"));
    char *urn = itest_strf("urn:li:dataset:(urn:li:dataPlatform:postgres,%s.sales.orders,PROD)",
                           f.db);
    json_t *sm = find_mcp(mcps, urn, "schemaMetadata");
    json_t *pk = json_object_get(sm, "primaryKeys");
    cr_assert_eq(json_array_size(pk), 1);
    cr_assert_str_eq(json_string_value(json_array_get(pk, 0)), "id");
    json_t *fields = json_object_get(sm, "fields");
    json_t *id = json_array_get(fields, 0), *am = json_array_get(fields, 2);
    cr_assert(json_is_true(json_object_get(id, "isPartOfKey")));
    cr_assert(json_is_false(json_object_get(id, "nullable")));
    cr_assert(json_is_false(json_object_get(am, "isPartOfKey")));
    cr_assert_str_eq(json_string_value(json_object_get(am, "nativeDataType")), "numeric(10,2)");
    cr_assert_str_eq(json_string_value(json_object_get(am, "description")), "in EUR");
    cr_assert_not_null(json_object_get(json_object_get(json_object_get(am, "type"), "type"),
                                       "com.linkedin.schema.NumberType"));
    json_t *props = find_mcp(mcps, urn, "datasetProperties");
    cr_assert_str_eq(json_string_value(json_object_get(props, "description")),
                     "One row per order");
    json_t *line_sm = find_mcp(mcps, ".sales.line,", "schemaMetadata");
    cr_assert_eq(json_array_size(json_object_get(line_sm, "primaryKeys")), 2);
    find_mcp(mcps, ".sales.big,", "viewProperties");
    /* the view's upstream: the table it reads (docs/lineage.md) */
    json_t *up = json_object_get(find_mcp(mcps, ".sales.big,", "upstreamLineage"), "upstreams");
    cr_assert_eq(json_array_size(up), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(up, 0), "dataset")), urn);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(up, 0), "type")), "VIEW");
    char *hostile_urn = itest_strf("%s.\"we\"\"ird%%2C%%28s%%29\".t%%2Ca%%28b%%29le%%E2%%90%%9F,",
                                   f.db);
    json_t *hsm = find_mcp(mcps, hostile_urn, "schemaMetadata");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(hsm, "primaryKeys"), 0)),
                     "c\"o.l");

    /* OpenLineage: one event per container, the naming spec's namespace */
    char *ol = itest_read_file(export_to(&f, "openlineage", "events.ndjson"));
    size_t lines = 0;
    json_t *orders_ev = NULL;
    char *want_ns = itest_strf("postgres://%s:%s", itest_env("MC_TEST_PGHOST"),
                               itest_env("MC_TEST_PGPORT"));
    char *orders_name = itest_strf("%s.sales.orders", f.db);
    for (char *save = NULL, *l = strtok_r(ol, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *ev = itest_parse_json(l);
        json_t *ds = json_object_get(ev, "dataset");
        cr_assert_str_eq(json_string_value(json_object_get(ds, "namespace")), want_ns);
        if (strcmp(json_string_value(json_object_get(ds, "name")), orders_name) == 0)
            orders_ev = ev;
        lines++;
    }
    cr_assert_eq(lines, n);
    cr_assert_not_null(orders_ev);
    json_t *facets = json_object_get(json_object_get(orders_ev, "dataset"), "facets");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(facets, "documentation"),
                                                       "description")),
                     "One row per order");
    json_t *olf = json_object_get(json_object_get(facets, "schema"), "fields");
    cr_assert_eq(json_array_size(olf), 9);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(olf, 2), "type")),
                     "numeric(10,2)");
}

Test(export, a_catalog_exports_to_the_same_bytes_and_as_of_a_run)
{
    fixture f = setup("export_asof");
    char *a1 = itest_read_file(export_to(&f, "dbt-catalog", "a1"));
    char *a2 = itest_read_file(export_to(&f, "dbt-catalog", "a2"));
    cr_assert_str_eq(a1, a2, "the same catalog exports to the same bytes");
    PGconn *c = itest_connect(f.db);
    itest_sql(c, "ALTER TABLE sales.orders ADD COLUMN note text");
    PQfinish(c);
    ok(MC(f.cfg, "crawl"), "second crawl");
    json_t *now = load_json(export_to(&f, "dbt-catalog", "now"));
    json_t *cols = json_object_get(
        json_object_get(json_object_get(now, "sources"), "source.test.sales.orders"), "columns");
    cr_assert_not_null(json_object_get(cols, "note"));
    /* run 1's catalog: without the new column, and the same bytes as then */
    char *p = itest_strf("%s/then", f.dir);
    ok(MC(f.cfg, "export", "test", "--format", "dbt-catalog", "--as-of", "1", "--out", p),
       "as of 1");
    cr_assert_str_eq(itest_read_file(p), a1);
    /* another run: refused, and the file it would have replaced is intact */
    itest_result r = MC(f.cfg, "export", "test", "--format", "dbt-catalog", "--as-of", "999",
                        "--out", p);
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "run 999 is not a run of datastore test"), "%s", r.err);
    cr_assert_str_eq(itest_read_file(p), a1);
}

Test(export, what_an_export_needs_and_where_it_goes)
{
    fixture f = setup("export_cli");
    char *db_path = itest_strf("%s/catalog.db", f.dir);
    /* without the configuration: json and dbt-catalog (database null) work,
     * datahub and openlineage need the host, port and database */
    itest_result r = MC(NULL, "--store", db_path, "export", "test", "--format", "dbt-catalog");
    ok(r, "dbt without config");
    json_t *md = json_object_get(
        json_object_get(json_object_get(itest_parse_json(r.out), "sources"),
                        "source.test.sales.orders"),
        "metadata");
    cr_assert(json_is_null(json_object_get(md, "database")));
    r = MC(NULL, "--store", db_path, "export", "test", "--format", "openlineage");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "only the configuration knows"), "%s", r.err);
    cr_assert(strstr(r.err, "-c FILE"), "%s", r.err);
    /* a format it does not know */
    r = MC(f.cfg, "export", "test", "--format", "avro");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "unknown export format 'avro'"), "%s", r.err);
    /* a directory that does not exist: exit 2 naming the file, nothing left */
    char *nowhere = itest_strf("%s/no/such/dir/x.json", f.dir);
    r = MC(f.cfg, "export", "test", "--format", "json", "--out", nowhere);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, nowhere), "%s", r.err);
    /* a datastore the store has not crawled */
    r = MC(f.cfg, "export", "other", "--format", "json");
    cr_assert_eq(r.status, 2, "%s", r.err);
    /* options of the formats */
    r = MC(f.cfg, "export", "test", "--format", "dbt-catalog", "--dbt-project", "shop");
    ok(r, "--dbt-project");
    cr_assert(strstr(r.out, "\"source.shop.sales.orders\""));
    r = MC(f.cfg, "export", "test", "--format", "datahub", "--datahub-env", "DEV");
    ok(r, "--datahub-env");
    cr_assert(strstr(r.out, ".sales.orders,DEV)"));
    /* no temporary file is left next to the output */
    export_to(&f, "json", "out.json");
    char *ls = itest_strf("ls -a %s | grep -c tmp- || true", f.dir);
    const char *argv[] = {"-c", ls, NULL};
    itest_result l = itest_run_program("sh", argv, NULL, NULL);
    cr_assert_str_eq(l.out, "0\n");
}

/* ---- streaming ---------------------------------------------------------------- */

/* A store whose datastore "big" has n_containers tables of n_fields
 * columns each, recorded through the store's own commit (a baseline run). */
static char *make_store(const char *dir, const char *name, size_t n_containers,
                        size_t n_fields)
{
    char *path = itest_strf("%s/%s.db", dir, name);
    store *s = NULL;
    mc_error err = {0};
    cr_assert_eq(store_open(path, &s, &err), 0, "%s", err.message);
    int64_t run = 0;
    cr_assert_eq(store_run_begin(s, "big", 0, &run, &err), 0, "%s", err.message);
    mc_catalog *prev = NULL;
    cr_assert_eq(store_load_current(s, "big", &prev, &err), 0, "%s", err.message);
    mc_catalog *cur = mc_catalog_new();
    mc_schema *sc = mc_catalog_add_schema(cur);
    sc->name = "public";
    sc->usable = true;
    char buf[64];
    for (size_t i = 0; i < n_containers; i++) {
        mc_container *k = mc_catalog_add_container(cur);
        snprintf(buf, sizeof buf, "table_%06zu", i);
        k->schema = "public";
        k->name = mc_arena_strdup(cur->arena, buf);
        k->kind = MC_KIND_TABLE;
        k->oid = (int64_t)(100000 + i);
        k->comment = "a table of the streaming test";
        k->first_field = cur->n_fields;
        k->n_fields = n_fields;
        for (size_t j = 0; j < n_fields; j++) {
            mc_field *fl = mc_catalog_add_field(cur);
            snprintf(buf, sizeof buf, "column_%03zu", j);
            fl->name = mc_arena_strdup(cur->arena, buf);
            fl->type = j % 2 ? "character varying(255)" : "bigint";
            fl->comment = j % 3 ? NULL : "a column comment of moderate length";
            fl->attnum = (int32_t)(j + 1);
            fl->position = (int32_t)(j + 1);
        }
    }
    mc_catalog_finish(cur);
    diff_opts o = {.allow_removals = true, .max_removed_pct = 100, .baseline = true};
    diff_result d = {0};
    cr_assert_eq(diff_catalogs(s, prev, cur, &o, &d, &err), 0, "%s", err.message);
    mc_run_summary sum = {.status = MC_RUN_OK, .dialect = "postgresql", .baseline = true};
    cr_assert_eq(store_commit_run(s, run, prev, cur, &d.changes, d.cur_to_prev, d.hold_back,
                                  d.n_hold_back, &sum, &err),
                 0, "%s", err.message);
    diff_result_free(&d);
    mc_catalog_free(prev);
    mc_catalog_free(cur);
    store_close(s);
    return path;
}

/* The peak resident memory (kB) of metacrawl ARGS, measured by its parent
 * (tests/export/peak_rss.py: getrusage of the waited-for child). */
static long peak_kb(const char *const *args)
{
    const char *argv[24];
    int n = 0;
    argv[n++] = itest_strf("%s/tests/export/peak_rss.py", itest_env("MC_SOURCE_ROOT"));
    argv[n++] = itest_env("MC_BINARY");
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    /* ASan keeps freed memory in quarantine: off here, so what is measured is
     * what the program holds */
    const char *e[] = {"ASAN_OPTIONS=quarantine_size_mb=0:detect_leaks=0", NULL};
    itest_result r = itest_run_program("python3", argv, e, NULL);
    cr_assert_eq(r.status, 0, "%s: %s", args[4], r.err);
    return atol(r.out);
}
#define PEAK(...) peak_kb((const char *const[]){__VA_ARGS__, NULL})

Test(export, memory_does_not_grow_with_the_catalog, .timeout = 600)
{
    char *dir = itest_tmpdir();
    /* 400,000 columns (issue 18), and a small catalog of the same shape */
    char *large = make_store(dir, "large", 8000, 50);
    char *small = make_store(dir, "small", 40, 50);
    char *out = itest_strf("%s/out", dir);
    /* The measure sees a whole catalog: `impact` loads every container
     * and field (store_load_as_of) and grows by tens of MB.  Were it not so,
     * this test could not tell streaming from loading. */
    long show_small = PEAK("--store", small, "impact", "big.public.table_000000");
    long show_large = PEAK("--store", large, "impact", "big.public.table_000000");
    cr_assert_gt(show_large - show_small, 32 * 1024,
                 "loading 400,000 columns took only %ld kB more than 2,000",
                 show_large - show_small);
    /* `show` and `docs` read the store one container at a time too (issue
     * 19): what they hold grows with the containers (8,000 here), not with
     * their columns */
    const char *const readers[][3] = {
        {"show", "big", NULL},
        {"show", "big.public", NULL},
        {"docs", "--out", "SITE"}, /* a directory per store */
    };
    for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
        long peak[2];
        for (int sz = 0; sz < 2; sz++) {
            const char *args[6] = {"--store", sz ? large : small};
            for (int j = 0; j < 3 && readers[i][j]; j++)
                args[2 + j] = strcmp(readers[i][j], "SITE") == 0
                                  ? itest_strf("%s/site-%d", dir, sz) : readers[i][j];
            peak[sz] = peak_kb(args);
        }
        cr_log_info("%s %s: peak %ld kB (2,000 columns), %ld kB (400,000)", readers[i][0],
                    readers[i][1], peak[0], peak[1]);
        cr_assert_lt(peak[1] - peak[0], 16 * 1024,
                     "%s %s: 400,000 columns took %ld kB more than 2,000 (loading them "
                     "takes %ld kB more)", readers[i][0], readers[i][1], peak[1] - peak[0],
                     show_large - show_small);
    }
    /* datahub and openlineage name datasets by the configuration's host */
    char *config = itest_strf("%s/metacrawl.yml", dir);
    itest_write_file(config, "datastores:\n  - name: big\n    host: warehouse.example\n"
                             "    port: 5432\n    database: big\n");
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        long a = PEAK("-c", config, "--store", small, "export", "big", "--format", formats[i],
                      "--out", out);
        long b = PEAK("-c", config, "--store", large, "export", "big", "--format", formats[i],
                      "--out", out);
        struct stat st;
        cr_assert_eq(stat(out, &st), 0);
        cr_assert_gt(st.st_size, 10 * 1024 * 1024, "%s: the large export is %ld bytes",
                     formats[i], (long)st.st_size);
        cr_log_info("%s: peak %ld kB (2,000 columns), %ld kB (400,000); show: %ld, %ld kB",
                    formats[i], a, b, show_small, show_large);
        cr_assert_lt(b - a, 8 * 1024,
                     "%s: exporting 400,000 columns took %ld kB more than 2,000 "
                     "(loading them takes %ld kB more)",
                     formats[i], b - a, show_large - show_small);
    }
}
