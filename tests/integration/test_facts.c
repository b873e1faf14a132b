/*
 * test_facts.c — table facts against the harness's real PostgreSQL
 * (docs/lineage.md, "Table facts"): they are there after ANALYZE, in show
 * --json and as text, with the run that observed them; rows inserted and
 * analysed between two crawls move the facts and make no change and no new
 * version; `check` says they are readable.  (The Redshift side, with and
 * without SELECT on svv_table_info, is in test_redshift.c; the statement
 * count in test_crawl.c.)
 */
#include <criterion/criterion.h>

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

static itest_result run_mc(const char *cfg, const char *const *args)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = "-c";
    argv[n++] = cfg;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    const char *env[] = {itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD")),
                         NULL};
    return itest_run(argv, env, NULL);
}

static json_t *crawl(const char *cfg)
{
    const char *args[] = {"crawl", "--json", NULL};
    itest_result r = run_mc(cfg, args);
    cr_assert_eq(r.status, 0, "crawl exited %d\nstdout: %s\nstderr: %s", r.status, r.out, r.err);
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

/* The statistics a backend gathered reach pg_stat_all_tables when it next
 * goes idle, rate-limited: wait (bounded) until ANALYZE shows there. */
static void wait_for_analyze_stats(PGconn *c, const char *table)
{
    for (int i = 0; i < 100; i++) {
        char *v = itest_sql_value(c, "SELECT last_analyze IS NOT NULL FROM "
                                     "pg_stat_all_tables WHERE relid = '%s'::regclass",
                                  table);
        bool done = v && strcmp(v, "t") == 0;
        free(v);
        if (done)
            return;
        usleep(100000);
    }
    cr_assert_fail("pg_stat_all_tables never showed the ANALYZE of %s", table);
}

static int64_t store_count(const char *dir, const char *sql)
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
    return v;
}

Test(facts, present_after_analyze, .timeout = 120)
{
    char *db = itest_create_db("facts");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE orders (id int PRIMARY KEY, note text); "
                 "INSERT INTO orders SELECT g, repeat('x', 100) FROM generate_series(1, 1000) g; "
                 "ANALYZE orders; "
                 "CREATE VIEW v_orders AS SELECT id FROM orders; "
                 "CREATE TABLE events (at date) PARTITION BY RANGE (at); "
                 "CREATE TABLE events_2026 PARTITION OF events "
                 "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01'); "
                 "INSERT INTO events SELECT date '2026-01-01' + (g %% 300) "
                 "FROM generate_series(1, 600) g; ANALYZE events_2026");
    wait_for_analyze_stats(c, "orders");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    json_t *rep = crawl(cfg);
    json_t *fo = json_object_get(rep, "facts");
    cr_assert_str_eq(json_string_value(json_object_get(fo, "status")), "read", "%s",
                     itest_json_compact(rep));
    /* orders and events: the view has none, the partition is its parent's */
    cr_assert_eq(json_integer_value(json_object_get(fo, "containers")), 2, "%s",
                 itest_json_compact(rep));
    int64_t run = json_integer_value(json_object_get(rep, "run"));

    json_t *orders = show_json(cfg, "test.public.orders");
    json_t *f = json_object_get(orders, "facts");
    cr_assert(json_is_object(f), "%s", itest_json_compact(orders));
    cr_assert_eq(json_integer_value(json_object_get(f, "run")), run);
    cr_assert(json_is_string(json_object_get(f, "observed_at")));
    cr_assert_eq((long)json_number_value(json_object_get(f, "rows")), 1000, "%s",
                 itest_json_compact(f));
    cr_assert_gt(json_integer_value(json_object_get(f, "pages")), 0);
    /* the table, its primary key index and TOAST: more than the heap */
    cr_assert_gt(json_integer_value(json_object_get(f, "total_bytes")),
                 json_integer_value(json_object_get(f, "pages")) * 8192, "%s",
                 itest_json_compact(f));
    cr_assert(json_is_string(json_object_get(f, "last_analyze")), "%s", itest_json_compact(f));
    cr_assert(json_is_null(json_object_get(f, "skew_rows")), "%s", itest_json_compact(f));

    json_t *events = show_json(cfg, "test.public.events");
    json_t *ef = json_object_get(events, "facts");
    /* a partitioned table: the sums over its partitions */
    cr_assert_eq((long)json_number_value(json_object_get(ef, "rows")), 600, "%s",
                 itest_json_compact(ef));
    cr_assert_gt(json_integer_value(json_object_get(ef, "total_bytes")), 0);

    json_t *view = show_json(cfg, "test.public.v_orders");
    cr_assert(json_is_null(json_object_get(view, "facts")), "%s", itest_json_compact(view));

    /* the terminal shows them, saying they are not versioned */
    const char *args[] = {"show", "test.public.orders", NULL};
    itest_result t = run_mc(cfg, args);
    cr_assert_eq(t.status, 0, "%s", t.err);
    cr_assert(strstr(t.out, "facts (not versioned), as run "), "%s", t.out);
    cr_assert(strstr(t.out, "~1000 rows"), "%s", t.out);
    cr_assert(strstr(t.out, "last analyze 20"), "%s", t.out);
    PQfinish(c);
}

Test(facts, facts_only_change_makes_no_change, .timeout = 120)
{
    char *db = itest_create_db("facts_nc");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE orders (id int PRIMARY KEY, note text); "
                 "INSERT INTO orders SELECT g, 'x' FROM generate_series(1, 100) g; "
                 "ANALYZE orders");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    json_t *first = crawl(cfg);
    int64_t run1 = json_integer_value(json_object_get(first, "run"));
    int64_t versions = store_count(dir, "SELECT count(*) FROM container_versions");
    int64_t fields = store_count(dir, "SELECT count(*) FROM field_versions");

    /* Only the facts move: more rows, analysed again, vacuumed. */
    itest_sql(c, "INSERT INTO orders SELECT g, 'y' FROM generate_series(101, 5000) g; "
                 "DELETE FROM orders WHERE id <= 50; ANALYZE orders");
    itest_sql(c, "VACUUM orders");
    json_t *second = crawl(cfg);
    int64_t run2 = json_integer_value(json_object_get(second, "run"));
    cr_assert_gt(run2, run1);
    cr_assert_str_eq(json_string_value(json_object_get(second, "status")), "ok");
    cr_assert_eq(json_array_size(json_object_get(second, "changes")), 0, "%s",
                 itest_json_compact(second));
    cr_assert_eq(store_count(dir, "SELECT count(*) FROM container_versions"), versions,
                 "a facts-only change wrote a container version");
    cr_assert_eq(store_count(dir, "SELECT count(*) FROM field_versions"), fields);
    cr_assert_eq(store_count(dir, "SELECT count(*) FROM changes"), 0);
    /* the run says it read them; the facts are the new ones, from run 2 */
    cr_assert_eq(store_count(dir, itest_strf("SELECT count(*) FROM runs WHERE id = %lld "
                                             "AND facts = 'read'", (long long)run2)), 1);
    json_t *f = json_object_get(show_json(cfg, "test.public.orders"), "facts");
    cr_assert_eq(json_integer_value(json_object_get(f, "run")), run2, "%s", itest_json_compact(f));
    cr_assert_eq((long)json_number_value(json_object_get(f, "rows")), 4950, "%s",
                 itest_json_compact(f));
    cr_assert(json_is_string(json_object_get(f, "last_vacuum")) ||
                  json_is_null(json_object_get(f, "last_vacuum")),
              "%s", itest_json_compact(f));

    /* history says the run read them */
    const char *hargs[] = {"history", "--json", NULL};
    itest_result h = run_mc(cfg, hargs);
    cr_assert_eq(h.status, 0, "%s", h.err);
    json_t *hj = itest_parse_json(h.out);
    json_t *latest = json_array_get(json_object_get(hj, "runs"), 0);
    cr_assert_eq(json_integer_value(json_object_get(latest, "run")), run2);
    cr_assert_str_eq(json_string_value(json_object_get(latest, "facts")), "read", "%s", h.out);
    cr_assert_eq(json_integer_value(json_object_get(latest, "changes")), 0);

    /* diff and history agree: nothing changed */
    const char *dargs[] = {"diff", "test", "--json", NULL};
    itest_result d = run_mc(cfg, dargs);
    cr_assert_eq(d.status, 0, "%s", d.err);
    json_t *dj = itest_parse_json(d.out);
    cr_assert_eq(json_array_size(json_object_get(dj, "changes")), 0, "%s", d.out);
    PQfinish(c);
}

Test(facts, check_says_they_are_readable, .timeout = 120)
{
    char *db = itest_create_db("facts_ck");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE t (id int)");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    const char *args[] = {"check", "--json", NULL};
    itest_result r = run_mc(cfg, args);
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    json_t *doc = itest_parse_json(r.out);
    json_t *ds = json_array_get(json_object_get(doc, "datastores"), 0);
    size_t i;
    json_t *it, *found = NULL;
    json_array_foreach(json_object_get(ds, "steps"), i, it) {
        if (strcmp(json_string_value(json_object_get(it, "step")), "facts") == 0)
            found = it;
    }
    cr_assert(found, "no facts step in %s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(found, "status")), "ok");
    cr_assert(strstr(json_string_value(json_object_get(found, "message")), "need no grant"),
              "%s", itest_json_compact(found));
    PQfinish(c);
}

Test(facts, on_the_docs_site, .timeout = 120)
{
    char *db = itest_create_db("facts_site");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE orders (id int PRIMARY KEY); "
                 "INSERT INTO orders SELECT generate_series(1, 2500); ANALYZE orders; "
                 "CREATE VIEW v_orders AS SELECT id FROM orders");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    json_decref(crawl(cfg));
    char *out = itest_strf("%s/site", dir);
    const char *args[] = {"docs", "--out", out, NULL};
    itest_result r = run_mc(cfg, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *page = itest_read_file(itest_strf("%s/catalog/test/public/orders.html", out));
    cr_assert(strstr(page, "<h2 id=\"facts\">Table facts</h2>"), "%s", page);
    cr_assert(strstr(page, "<li>Rows (estimate): 2,500</li>"), "%s", page);
    cr_assert(strstr(page, "<li>Size on disk: "), "%s", page);
    cr_assert(strstr(page, "Facts are not versioned"), "%s", page);
    char *view = itest_read_file(itest_strf("%s/catalog/test/public/v_orders.html", out));
    cr_assert_null(strstr(view, "Table facts"), "a view has no facts of its own");
    const char *margs[] = {"docs", "--out", itest_strf("%s/md", dir), "--format", "markdown",
                           NULL};
    r = run_mc(cfg, margs);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *md = itest_read_file(itest_strf("%s/md/catalog/test/public/orders.md", dir));
    cr_assert(strstr(md, "## Table facts\n"), "%s", md);
    cr_assert(strstr(md, "- Rows (estimate): 2,500\n"), "%s", md);
    PQfinish(c);
}

/* A table held by an ACCESS EXCLUSIVE lock (VACUUM FULL, a long ALTER
 * TABLE): the facts come from pg_class and the statistics functions, which
 * take no lock on the table, so neither the catalog nor the facts wait for
 * it (crawler/facts.c: not pg_total_relation_size). */
Test(facts, locked_table_holds_up_nothing, .timeout = 120)
{
    char *db = itest_create_db("facts_lock");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE orders (id int); INSERT INTO orders VALUES (1); "
                 "ANALYZE orders; CREATE TABLE busy (id int)");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    json_t *first = crawl(cfg);
    int64_t run1 = json_integer_value(json_object_get(first, "run"));

    PGconn *locker = itest_connect(db);
    itest_sql(locker, "BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE");
    itest_sql(c, "ALTER TABLE orders ADD COLUMN note text");
    json_t *second = crawl(cfg);
    itest_sql(locker, "COMMIT");
    PQfinish(locker);
    cr_assert_str_eq(json_string_value(json_object_get(second, "status")), "ok");
    cr_assert_eq(json_array_size(json_object_get(second, "warnings")), 0, "%s",
                 itest_json_compact(second));
    /* the catalog is whole: the new column is there */
    cr_assert_eq(json_array_size(json_object_get(second, "changes")), 1, "%s",
                 itest_json_compact(second));
    json_t *fo = json_object_get(second, "facts");
    cr_assert_str_eq(json_string_value(json_object_get(fo, "status")), "read", "%s",
                     itest_json_compact(fo));
    cr_assert_eq(json_integer_value(json_object_get(fo, "containers")), 2, "%s",
                 itest_json_compact(fo));
    json_t *f = json_object_get(show_json(cfg, "test.public.orders"), "facts");
    cr_assert_gt(json_integer_value(json_object_get(f, "run")), run1, "%s",
                 itest_json_compact(f));
    PQfinish(c);
}
