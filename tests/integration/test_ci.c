/*
 * test_ci.c — metacrawl in a pull-request pipeline (docs/ci.md): --fail-on,
 * the Markdown comment and the JUnit report of `crawl` and `diff`, and
 * `diff A B` between two datastores (say prod and staging), against the
 * harness's PostgreSQL.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static const char *env_pw(void)
{
    return itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD"));
}

static itest_result run(const char *cfg, const char *const *args)
{
    const char *argv[16] = {"-c", cfg};
    size_t n = 2;
    for (; args[n - 2]; n++)
        argv[n] = args[n - 2];
    argv[n] = NULL;
    const char *env[] = {env_pw(), NULL};
    return itest_run(argv, env, NULL);
}

/* A config with datastores prod and staging on two databases. */
static char *two_datastores(const char *dir, const char *prod, const char *staging)
{
    char *text = itest_strf(
        "store: %s/catalog.db\n"
        "datastores:\n"
        "  - name: prod\n    host: %s\n    port: %s\n    database: %s\n    user: %s\n"
        "    password: ${env:MC_TEST_DS_PASSWORD}\n    sslmode: disable\n"
        "  - name: staging\n    host: %s\n    port: %s\n    database: %s\n    user: %s\n"
        "    password: ${env:MC_TEST_DS_PASSWORD}\n    sslmode: disable\n",
        dir, itest_env("MC_TEST_PGHOST"), itest_env("MC_TEST_PGPORT"), prod,
        itest_env("MC_TEST_PGUSER"), itest_env("MC_TEST_PGHOST"), itest_env("MC_TEST_PGPORT"),
        staging, itest_env("MC_TEST_PGUSER"));
    char *path = itest_strf("%s/metacrawl.yml", dir);
    itest_write_file(path, text);
    return path;
}

/* A migration that only adds passes --fail-on breaking; one that drops a
 * column fails it, and the comment puts the breaking change first. */
Test(ci, crawl_fail_on_and_markdown)
{
    char *db = itest_create_db("ci_crawl");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE orders (id int PRIMARY KEY, amount numeric, note text);"
                 "CREATE TABLE \"we|ird*name\" (x int)");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    itest_result r = run(cfg, (const char *[]){"crawl", "-q", NULL});
    cr_assert_eq(r.status, 0, "baseline: %s", r.err);

    /* additive: not breaking */
    itest_sql(c, "ALTER TABLE orders ADD COLUMN shipped_at timestamptz");
    r = run(cfg, (const char *[]){"crawl", "--fail-on", "breaking", "--format", "markdown", NULL});
    cr_assert_eq(r.status, 0, "an added column is not breaking: %s%s", r.out, r.err);
    cr_assert(strstr(r.out, "### metacrawl crawl: 1 change"), "%s", r.out);
    cr_assert(strstr(r.out, "<details><summary>1 other change</summary>"), "%s", r.out);
    cr_assert(!strstr(r.out, "Breaking changes"), "%s", r.out);

    /* --fail-on any fails on the same kind of change */
    itest_sql(c, "COMMENT ON TABLE orders IS 'all orders'");
    r = run(cfg, (const char *[]){"crawl", "-q", "--fail-on", "any", NULL});
    cr_assert_eq(r.status, 1, "--fail-on any: %s", r.err);

    /* breaking: a dropped column, and the hostile name stays one table cell */
    itest_sql(c, "ALTER TABLE orders DROP COLUMN note; ALTER TABLE \"we|ird*name\" ADD COLUMN y int");
    r = run(cfg, (const char *[]){"crawl", "--fail-on", "breaking", "--format", "markdown", NULL});
    cr_assert_eq(r.status, 1, "a dropped column fails the gate: %s%s", r.out, r.err);
    cr_assert(strstr(r.out, ":warning: 1 breaking change, 2 changes"), "%s", r.out);
    char *brk = strstr(r.out, "#### Breaking changes");
    char *other = strstr(r.out, "<details>");
    cr_assert(brk && other && brk < other, "breaking changes come first: %s", r.out);
    cr_assert(strstr(brk, "| public\\.orders\\.note | column note \\(text\\) removed  breaking |"),
              "%s", r.out);
    cr_assert(strstr(r.out, "we\\|ird\\*name"), "the name is escaped: %s", r.out);
    cr_assert(!strstr(r.out, "we|ird"), "no raw pipe from a name: %s", r.out);

    /* nothing changed: 0 whatever --fail-on says */
    r = run(cfg, (const char *[]){"crawl", "--fail-on", "any", "--format", "markdown", NULL});
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "No changes."), "%s", r.out);
    PQfinish(c);
}

/* JUnit: one test case per changed container, a failure for a breaking
 * one; a well-formed document (xmllint) whatever the names hold. */
Test(ci, junit_report)
{
    char *db = itest_create_db("ci_junit");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE a (id int, v text); CREATE TABLE \"<b>&\"\"x\" (id int)");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    itest_result r = run(cfg, (const char *[]){"crawl", "-q", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    itest_sql(c, "ALTER TABLE a ALTER COLUMN v TYPE varchar(10);"
                 "ALTER TABLE \"<b>&\"\"x\" ADD COLUMN \"\x01" "ctl\" int");
    r = run(cfg, (const char *[]){"crawl", "--format", "junit", "--fail-on", "breaking", NULL});
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    char *path = itest_strf("%s/junit.xml", dir);
    itest_write_file(path, r.out);
    itest_result x = itest_run_program("xmllint", (const char *[]){"--noout", path, NULL}, NULL,
                                       NULL);
    cr_assert_eq(x.status, 0, "xmllint: %s\n%s", x.err, r.out);
    cr_assert(strstr(r.out, "<testsuites name=\"metacrawl crawl\" tests=\"2\" failures=\"1\" "
                            "errors=\"0\">"), "%s", r.out);
    cr_assert(strstr(r.out, "<testcase classname=\"test.public\" name=\"a\">\n"
                            "      <failure type=\"breaking\" message=\"1 breaking change\">"
                            "column v type: text -&gt; character varying(10)  breaking"),
              "%s", r.out);
    cr_assert(strstr(r.out, "name=\"&lt;b&gt;&amp;&quot;x\""), "%s", r.out);
    cr_assert(strstr(r.out, "\\x01ctl"), "a control character is shown, not written: %s", r.out);
    PQfinish(c);
}

/* prod and staging: staging's migration renamed a table, dropped a column
 * and lives in a schema of another name; --map lines the schemas up. */
Test(ci, diff_two_datastores)
{
    char *prod = itest_create_db("ci_prod"), *staging = itest_create_db("ci_staging");
    PGconn *p = itest_connect(prod), *s = itest_connect(staging);
    itest_sql(p, "CREATE SCHEMA app;"
                 "CREATE TABLE app.customers (id int PRIMARY KEY, name text);"
                 "CREATE TABLE app.orders (id int PRIMARY KEY, customer_id int REFERENCES "
                 "app.customers, amount numeric, note text);"
                 "CREATE TABLE app.events (id bigint, kind text, at timestamptz)");
    /* staging: the same tables made in another order (other oids), events
     * renamed to activity, orders.note dropped, a new column */
    itest_sql(s, "CREATE SCHEMA staging_app;"
                 "CREATE TABLE staging_app.activity (id bigint, kind text, at timestamptz);"
                 "CREATE TABLE staging_app.customers (id int PRIMARY KEY, name text, email text);"
                 "CREATE TABLE staging_app.orders (id int PRIMARY KEY, customer_id int "
                 "REFERENCES staging_app.customers, amount numeric)");
    char *dir = itest_tmpdir();
    char *cfg = two_datastores(dir, prod, staging);
    itest_result r = run(cfg, (const char *[]){"crawl", "-q", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);

    r = run(cfg, (const char *[]){"diff", "prod", "staging", "--map", "staging_app=app",
                                  "--json", "--fail-on", "breaking", NULL});
    cr_assert_eq(r.status, 1, "a dropped column is breaking: %s%s", r.out, r.err);
    json_t *j = json_loads(r.out, 0, NULL);
    cr_assert(j, "%s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "datastore")), "prod");
    cr_assert_str_eq(json_string_value(json_object_get(j, "other")), "staging");
    json_t *ch = json_object_get(j, "changes");
    size_t i;
    json_t *v;
    int renamed = 0, removed = 0, added = 0;
    json_array_foreach(ch, i, v) {
        const char *kind = json_string_value(json_object_get(v, "kind"));
        const char *cont = json_string_value(json_object_get(v, "container"));
        cr_assert_str_eq(json_string_value(json_object_get(v, "schema")), "app",
                         "reported in A's schema names: %s", r.out);
        if (strcmp(kind, "container_renamed") == 0) {
            cr_assert_str_eq(cont, "activity");
            cr_assert_str_eq(json_string_value(json_object_get(v, "matched_by")), "similarity");
            renamed++;
        } else if (strcmp(kind, "field_removed") == 0) {
            cr_assert_str_eq(cont, "orders");
            cr_assert_str_eq(json_string_value(json_object_get(v, "field")), "note");
            removed++;
        } else if (strcmp(kind, "field_added") == 0) {
            cr_assert_str_eq(json_string_value(json_object_get(v, "field")), "email");
            added++;
        } else {
            /* nothing else: the foreign key points at the mapped schema */
            cr_assert_fail("unexpected change %s", json_dumps(v, 0));
        }
    }
    cr_assert(renamed == 1 && removed == 1 && added == 1, "%s", r.out);

    /* without --map, the schemas themselves differ */
    r = run(cfg, (const char *[]){"diff", "prod", "staging", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "prod -> staging (run "), "%s", r.out);
    cr_assert(strstr(r.out, "  app\n    - schema removed  breaking"), "%s", r.out);
    cr_assert(strstr(r.out, "  staging_app\n    + schema added"), "%s", r.out);

    /* usage errors name what is wrong */
    r = run(cfg, (const char *[]){"diff", "prod", "staging", "--map", "nope=app", NULL});
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "datastore 'staging' has no schema 'nope'"), "%s", r.err);
    r = run(cfg, (const char *[]){"diff", "prod", "--as-of", "1", NULL});
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "--as-of compares two datastores"), "%s", r.err);
    r = run(cfg, (const char *[]){"diff", "prod", "staging", "--format", "yaml", NULL});
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "unknown --format 'yaml'"), "%s", r.err);

    /* --as-of: prod as recorded by its first run, after prod moved on */
    itest_sql(p, "ALTER TABLE app.orders DROP COLUMN note");
    r = run(cfg, (const char *[]){"crawl", "-q", "prod", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    r = run(cfg, (const char *[]){"diff", "prod", "staging", "--map", "staging_app=app",
                                  "--fail-on", "breaking", NULL});
    cr_assert_eq(r.status, 1, "the rename is still breaking: %s%s", r.out, r.err);
    cr_assert(!strstr(r.out, "column note"), "prod dropped it too: %s", r.out);
    cr_assert(strstr(r.out, "container renamed from app.events (matched by shape, not by id)"),
              "%s", r.out);
    char *first_run = NULL;
    {
        const char *argv[] = {"-c", cfg, "history", "prod", "--json", NULL};
        const char *env[] = {env_pw(), NULL};
        itest_result h = itest_run(argv, env, NULL);
        json_t *hj = json_loads(h.out, 0, NULL);
        json_t *runs = json_object_get(hj, "runs");
        cr_assert(json_array_size(runs) == 2, "%s", h.out);
        first_run = itest_strf("%lld", (long long)json_integer_value(json_object_get(
                                           json_array_get(runs, 1), "run")));
    }
    r = run(cfg, (const char *[]){"diff", "prod", "staging", "--map", "staging_app=app",
                                  "--as-of", first_run, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "column note (text) removed"), "as of the first run: %s", r.out);
    PQfinish(p);
    PQfinish(s);
}

/* A breaking change says what it breaks (docs/lineage.md) in the comment
 * and in the test report: the views that read a dropped column. */
Test(ci, impact_in_markdown_and_junit)
{
    char *db = itest_create_db("ci_impact");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE orders (id int, note text);"
                 "CREATE VIEW v_notes AS SELECT id, note FROM orders");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    itest_result r = run(cfg, (const char *[]){"crawl", "-q", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    itest_sql(c, "ALTER TABLE orders DROP COLUMN note CASCADE");
    r = run(cfg, (const char *[]){"crawl", "--format", "markdown", "--accept-removals", NULL});
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "| test | public\\.orders\\.note | column note \\(text\\) removed  "
                            "breaking<br>impact\\: 1 view reads it<br>  view public\\.v\\_notes |"),
              "%s", r.out);
    r = run(cfg, (const char *[]){"diff", "--format", "junit", NULL});
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "column note (text) removed  breaking\n  impact: 1 view reads it\n"
                            "    view public.v_notes\n"),
              "%s", r.out);
    PQfinish(c);
}
