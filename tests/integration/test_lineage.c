/*
 * test_lineage.c — what depends on what, against the harness's real
 * PostgreSQL (docs/lineage.md): views on views across schemas and a
 * materialized view recorded with the columns they read; a dropped column
 * that three views read, whose impact lists them (and the view over one of
 * them) in crawl's terminal output, diff --json, a file alert and the docs
 * site; `metacrawl impact` before the change; foreign keys in a cycle and
 * pointing at their own table, each listed once; a dependency that
 * appears is a change that is not breaking.  The Redshift side
 * (late-binding views, parsed) is in test_redshift.c.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "itest.h"

typedef struct fixture {
    char *db, *dir, *cfg;
    PGconn *pg;
} fixture;

static const char *const *pw_env(void)
{
    static const char *env[2];
    env[0] = itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD"));
    env[1] = NULL;
    return env;
}

static fixture setup(const char *prefix, const char *sql, const char *extra_yaml)
{
    fixture f;
    f.db = itest_create_db(prefix);
    f.pg = itest_connect(f.db);
    itest_sql(f.pg, "%s", sql);
    f.dir = itest_tmpdir();
    f.cfg = itest_write_config(f.dir, f.db, itest_env("MC_TEST_PGUSER"),
                               itest_env("MC_TEST_PGPASSWORD"), extra_yaml);
    return f;
}

static itest_result mc(const fixture *f, const char *a1, const char *a2, const char *a3,
                       const char *a4)
{
    const char *argv[] = {"-c", f->cfg, a1, a2, a3, a4, NULL};
    itest_result r = itest_run(argv, pw_env(), NULL);
    cr_assert_eq(r.status, 0, "%s %s: exit %d\n%s%s", a1, a2 ? a2 : "", r.status, r.out,
                 r.err);
    return r;
}

/* The command's --json document (arguments after a NULL are left out). */
static json_t *mc_json(const fixture *f, const char *a1, const char *a2, const char *a3)
{
    const char *args[3] = {a1, a2, a3};
    const char *argv[8] = {"-c", f->cfg};
    int n = 2;
    for (int i = 0; i < 3 && args[i]; i++)
        argv[n++] = args[i];
    argv[n++] = "--json";
    argv[n] = NULL;
    itest_result r = itest_run(argv, pw_env(), NULL);
    cr_assert_eq(r.status, 0, "%s: exit %d\n%s%s", a1, r.status, r.out, r.err);
    return itest_parse_json(r.out);
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* "schema.name@depth" of each view of an impact, in order, comma separated. */
static char *views_of(json_t *impact)
{
    char *all = strdup("");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(impact, "views"), i, v) {
        char *next = itest_strf("%s%s%s.%s@%lld", all, i ? "," : "", str(v, "schema"),
                                str(v, "name"),
                                (long long)json_integer_value(json_object_get(v, "depth")));
        free(all);
        all = next;
    }
    return all;
}

/* "schema.container.name" of each foreign key of an impact. */
static char *keys_of(json_t *impact)
{
    char *all = strdup("");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(impact, "foreign_keys"), i, v) {
        char *next = itest_strf("%s%s%s.%s.%s", all, i ? "," : "", str(v, "schema"),
                                str(v, "container"), str(v, "name"));
        free(all);
        all = next;
    }
    return all;
}

/* The change of KIND on PATH (schema.container[.field]) in a JSON array. */
static json_t *change(json_t *changes, const char *kind, const char *path)
{
    size_t i;
    json_t *c;
    json_array_foreach(changes, i, c) {
        char *p = str(c, "field")
                      ? itest_strf("%s.%s.%s", str(c, "schema"), str(c, "container"),
                                   str(c, "field"))
                      : itest_strf("%s.%s", str(c, "schema"), str(c, "container"));
        bool hit = strcmp(str(c, "kind"), kind) == 0 && strcmp(p, path) == 0;
        free(p);
        if (hit)
            return c;
    }
    cr_assert_fail("no %s of %s in %s", kind, path, itest_json_compact(changes));
    return NULL;
}

#define WAREHOUSE                                                                         \
    "CREATE SCHEMA sales; CREATE SCHEMA analytics; CREATE SCHEMA reporting;"             \
    "CREATE TABLE sales.customers (id int PRIMARY KEY, name text);"                       \
    "CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int REFERENCES "          \
    "sales.customers (id), amount numeric(12,2), note text);"                             \
    "CREATE VIEW analytics.v_orders AS SELECT id, amount FROM sales.orders;"              \
    "CREATE VIEW analytics.v_amounts AS SELECT amount FROM sales.orders WHERE amount > 0;" \
    "CREATE MATERIALIZED VIEW reporting.mv_totals AS SELECT sum(amount) AS total "        \
    "FROM sales.orders;"                                                                  \
    "CREATE VIEW reporting.v_top AS SELECT * FROM analytics.v_orders WHERE id < 10;"      \
    "CREATE VIEW analytics.v_notes AS SELECT o.note, c.name FROM sales.orders o "         \
    "JOIN sales.customers c ON c.id = o.customer_id;"

Test(lineage, views_record_what_they_read, .timeout = 180)
{
    fixture f = setup("lin_read", WAREHOUSE, NULL);
    mc(&f, "crawl", NULL, NULL, NULL);
    json_t *v = mc_json(&f, "show", "test.analytics.v_orders", NULL);
    cr_assert_str_eq(itest_json_compact(json_object_get(v, "depends_on")),
                     "[{\"columns\":[\"amount\",\"id\"],\"name\":\"orders\","
                     "\"schema\":\"sales\",\"source\":\"catalog\"}]");
    json_t *top = mc_json(&f, "show", "test.reporting.v_top", NULL);
    cr_assert_str_eq(itest_json_compact(json_object_get(top, "depends_on")),
                     "[{\"columns\":[\"amount\",\"id\"],\"name\":\"v_orders\","
                     "\"schema\":\"analytics\",\"source\":\"catalog\"}]",
                     "a view on a view in another schema");
    json_t *mv = mc_json(&f, "show", "test.reporting.mv_totals", NULL);
    cr_assert_str_eq(itest_json_compact(json_object_get(mv, "depends_on")),
                     "[{\"columns\":[\"amount\"],\"name\":\"orders\",\"schema\":\"sales\","
                     "\"source\":\"catalog\"}]");
    json_t *notes = mc_json(&f, "show", "test.analytics.v_notes", NULL);
    cr_assert_str_eq(itest_json_compact(json_object_get(notes, "depends_on")),
                     "[{\"columns\":[\"id\",\"name\"],\"name\":\"customers\",\"schema\":"
                     "\"sales\",\"source\":\"catalog\"},{\"columns\":[\"customer_id\","
                     "\"note\"],\"name\":\"orders\",\"schema\":\"sales\",\"source\":"
                     "\"catalog\"}]");
    json_t *t = mc_json(&f, "show", "test.sales.orders", NULL);
    cr_assert(json_is_null(json_object_get(t, "depends_on")), "a table reads nothing");
    /* the text of show names them */
    itest_result s = mc(&f, "show", "test.analytics.v_notes", NULL, NULL);
    cr_assert(strstr(s.out, "  reads sales.orders (customer_id, note)\n"), "%s", s.out);

    /* before anyone changes it: metacrawl impact */
    json_t *im = mc_json(&f, "impact", "test.sales.orders.amount", NULL);
    json_t *impact = json_object_get(im, "impact");
    cr_assert_str_eq(views_of(impact),
                     "analytics.v_amounts@1,analytics.v_orders@1,reporting.mv_totals@1,"
                     "reporting.v_top@2");
    cr_assert_str_eq(keys_of(impact), "");
    json_t *via = json_object_get(json_array_get(json_object_get(impact, "views"), 3), "via");
    cr_assert_str_eq(str(via, "schema"), "analytics");
    cr_assert_str_eq(str(via, "name"), "v_orders");
    /* a column no view reads; the table as a whole, with its key */
    im = mc_json(&f, "impact", "test.sales.customers.id", NULL);
    impact = json_object_get(im, "impact");
    cr_assert_str_eq(views_of(impact), "analytics.v_notes@1");
    cr_assert_str_eq(keys_of(impact), "sales.orders.orders_customer_id_fkey");
    itest_result it = mc(&f, "impact", "test.sales.orders.note", NULL, NULL);
    cr_assert(strstr(it.out, "1 view reads it\n    view analytics.v_notes\n"), "%s", it.out);
    it = mc(&f, "impact", "test.sales.customers.name", NULL, NULL);
    cr_assert(strstr(it.out, "view analytics.v_notes"), "%s", it.out);

    /* an unknown column is a usage error naming it */
    const char *argv[] = {"-c", f.cfg, "impact", "test.sales.orders.nope", NULL};
    itest_result bad = itest_run(argv, pw_env(), NULL);
    cr_assert_eq(bad.status, 2, "%s", bad.err);
    cr_assert(strstr(bad.err, "no column test.sales.orders.nope"), "%s", bad.err);
    PQfinish(f.pg);
}

Test(lineage, dropped_column_lists_the_views_that_read_it, .timeout = 240)
{
    char *dir = itest_tmpdir();
    char *log = itest_strf("%s/alerts.jsonl", dir);
    fixture f = setup("lin_drop", WAREHOUSE,
                      itest_strf("alerts:\n  - name: log\n    breaking_only: true\n"
                                 "    file: %s\n", log));
    mc(&f, "crawl", NULL, NULL, NULL);
    /* PostgreSQL needs CASCADE: the views go with the column */
    itest_sql(f.pg, "ALTER TABLE sales.orders DROP COLUMN amount CASCADE");
    /* four of seven containers go: over the fail-safe's default share */
    itest_result r = mc(&f, "crawl", "--accept-removals", NULL, NULL);
    const char *want = "    - column amount (numeric(12,2)) removed  breaking\n"
                       "      impact: 4 views read it\n"
                       "        view analytics.v_amounts\n"
                       "        view analytics.v_orders\n"
                       "        materialized view reporting.mv_totals\n"
                       "        view reporting.v_top (through analytics.v_orders)\n";
    cr_assert(strstr(r.out, want), "the terminal lists the views under the change:\n%s",
              r.out);

    /* diff --json: the documented impact field */
    json_t *d = mc_json(&f, "diff", NULL, NULL);
    json_t *ch = change(json_object_get(d, "changes"), "field_removed", "sales.orders.amount");
    cr_assert(json_is_true(json_object_get(ch, "breaking")));
    json_t *impact = json_object_get(ch, "impact");
    cr_assert_str_eq(views_of(impact),
                     "analytics.v_amounts@1,analytics.v_orders@1,reporting.mv_totals@1,"
                     "reporting.v_top@2");
    json_t *first = json_array_get(json_object_get(impact, "views"), 0);
    cr_assert_str_eq(str(first, "kind"), "view");
    cr_assert_str_eq(str(first, "source"), "catalog");
    cr_assert_str_eq(itest_json_compact(json_object_get(first, "columns")), "[\"amount\"]");
    /* the removed views: v_orders was read by v_top */
    ch = change(json_object_get(d, "changes"), "container_removed", "analytics.v_orders");
    cr_assert_str_eq(views_of(json_object_get(ch, "impact")), "reporting.v_top@1");
    /* a change that breaks nothing carries no impact */
    ch = change(json_object_get(d, "changes"), "container_removed", "reporting.v_top");
    cr_assert(json_is_null(json_object_get(ch, "impact")));

    /* the alert file: the same impact in the delivered line */
    char *text = itest_read_file(log);
    bool found = false;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = itest_parse_json(line);
        if (strcmp(str(o, "kind"), "field_removed") != 0)
            continue;
        found = true;
        cr_assert_eq(json_integer_value(json_object_get(o, "version")), 3);
        cr_assert_str_eq(views_of(json_object_get(o, "impact")),
                         "analytics.v_amounts@1,analytics.v_orders@1,reporting.mv_totals@1,"
                         "reporting.v_top@2");
    }
    cr_assert(found, "no field_removed line in the alert file");

    /* the docs site's change listing */
    char *out = itest_strf("%s/site", dir);
    mc(&f, "docs", "--out", out, NULL);
    const char *gargv[] = {"-rl", "read by 4 views", out, NULL};
    itest_result g = itest_run_program("grep", gargv, NULL, NULL);
    cr_assert_eq(g.status, 0, "no page says 'read by 4 views'");
    char *page = itest_read_file(itest_strf("%.*s", (int)strcspn(g.out, "\n"), g.out));
    cr_assert(strstr(page, "analytics.v_amounts") && strstr(page, "reporting.mv_totals") &&
                  strstr(page, "analytics.v_orders"),
              "the page names the views");
    /* the container pages draw what the views read (docs/site.md,
     * "Diagrams"): solid "reads" edges from the catalog's dependencies */
    const char *dargv[] = {"-rl", "--include=*.html", "class=\"edge reads\"", out, NULL};
    itest_result dg = itest_run_program("grep", dargv, NULL, NULL);
    cr_assert_eq(dg.status, 0, "no page draws a 'reads' edge");
    cr_assert(strstr(dg.out, "/sales/orders.html"),
              "the orders page draws the views that read it:\n%s", dg.out);
    PQfinish(f.pg);
}

Test(lineage, foreign_key_cycles_end_and_list_each_key_once, .timeout = 180)
{
    fixture f = setup("lin_fk",
                      "CREATE SCHEMA a;"
                      "CREATE TABLE a.x (id int PRIMARY KEY, y_id int);"
                      "CREATE TABLE a.y (id int PRIMARY KEY, x_id int REFERENCES a.x (id));"
                      "ALTER TABLE a.x ADD CONSTRAINT x_y_fk FOREIGN KEY (y_id) "
                      "REFERENCES a.y (id);"
                      "CREATE TABLE a.z (id int PRIMARY KEY, parent int REFERENCES a.z (id), "
                      "x_id int REFERENCES a.x (id));"
                      "CREATE VIEW a.v AS SELECT x.id FROM a.x JOIN a.y ON y.x_id = x.id;",
                      NULL);
    mc(&f, "crawl", NULL, NULL, NULL);
    json_t *impact = json_object_get(mc_json(&f, "impact", "test.a.x", NULL), "impact");
    cr_assert_str_eq(keys_of(impact), "a.y.y_x_id_fkey,a.z.z_x_id_fkey");
    cr_assert_str_eq(views_of(impact), "a.v@1");
    impact = json_object_get(mc_json(&f, "impact", "test.a.z.id", NULL), "impact");
    cr_assert_str_eq(keys_of(impact), "a.z.z_parent_fkey", "a key on its own table, once");
    impact = json_object_get(mc_json(&f, "impact", "test.a.z.x_id", NULL), "impact");
    cr_assert(json_array_size(json_object_get(impact, "foreign_keys")) == 0,
              "the key of a column is not a key pointing at it");

    itest_sql(f.pg, "DROP TABLE a.x CASCADE");
    json_t *d = mc_json(&f, "crawl", "--accept-removals", NULL);
    json_t *changes = json_object_get(json_array_get(json_object_get(d, "datastores"), 0),
                                      "changes");
    json_t *ch = change(changes, "container_removed", "a.x");
    cr_assert_str_eq(keys_of(json_object_get(ch, "impact")), "a.y.y_x_id_fkey,a.z.z_x_id_fkey");
    cr_assert_str_eq(views_of(json_object_get(ch, "impact")), "a.v@1");
    PQfinish(f.pg);
}

Test(lineage, a_new_dependency_is_a_change_not_breaking, .timeout = 180)
{
    fixture f = setup("lin_dep",
                      "CREATE SCHEMA s; CREATE TABLE s.t (id int, a text, b text);"
                      "CREATE TABLE s.u (id int);"
                      "CREATE VIEW s.v AS SELECT id, a FROM s.t;",
                      NULL);
    mc(&f, "crawl", NULL, NULL, NULL);
    itest_sql(f.pg, "CREATE OR REPLACE VIEW s.v AS SELECT t.id, t.a, t.b FROM s.t "
                    "JOIN s.u ON u.id = t.id");
    json_t *d = mc_json(&f, "crawl", NULL, NULL);
    json_t *changes = json_object_get(json_array_get(json_object_get(d, "datastores"), 0),
                                      "changes");
    size_t i;
    json_t *c;
    json_t *dep = NULL;
    json_array_foreach(changes, i, c) {
        if (str(c, "attribute") && strcmp(str(c, "attribute"), "depends_on") == 0)
            dep = c;
    }
    cr_assert(dep, "no depends_on change in %s", itest_json_compact(changes));
    cr_assert_str_eq(str(dep, "kind"), "container_changed");
    cr_assert(json_is_false(json_object_get(dep, "breaking")));
    cr_assert_str_eq(itest_json_compact(json_object_get(dep, "before")),
                     "[{\"columns\":[\"a\",\"id\"],\"name\":\"t\",\"schema\":\"s\","
                     "\"source\":\"catalog\"}]");
    cr_assert_str_eq(itest_json_compact(json_object_get(dep, "after")),
                     "[{\"columns\":[\"a\",\"b\",\"id\"],\"name\":\"t\",\"schema\":\"s\","
                     "\"source\":\"catalog\"},{\"columns\":[\"id\"],\"name\":\"u\","
                     "\"schema\":\"s\",\"source\":\"catalog\"}]");
    /* an unchanged crawl after it: nothing */
    d = mc_json(&f, "crawl", NULL, NULL);
    changes = json_object_get(json_array_get(json_object_get(d, "datastores"), 0), "changes");
    cr_assert_eq(json_array_size(changes), 0, "%s", itest_json_compact(changes));
    PQfinish(f.pg);
}
