/*
 * test_crawl.c — the core crawl against a real PostgreSQL: every change
 * kind with its exact before/after, the partial-crawl and fail-safe rules,
 * show --as-of, a crawl killed while it writes, hostile identifiers, a
 * constant number of catalog statements, and connection failures.  Each
 * test runs the metacrawl binary as a user would and reads its --json.
 */
#include <criterion/criterion.h>
#include <dirent.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#define PW "crawler-pw"

/* A role of the test's own (roles are cluster-wide, tests run in parallel). */
static char *make_crawler(PGconn *c, const char *db)
{
    char *role = itest_strf("crawler_%s", db);
    itest_sql(c, "CREATE ROLE %s LOGIN PASSWORD '" PW "'", role);
    return role;
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

/* Runs crawl --json and returns the datastore's report; checks the exit. */
static json_t *crawl(const char *cfg, int want_status, const char *extra)
{
    const char *args[] = {"crawl", "--json", extra, NULL};
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

static json_t *find_change(json_t *changes, const char *kind, const char *container,
                           const char *attribute)
{
    size_t i;
    json_t *c;
    json_array_foreach(changes, i, c) {
        const char *k = json_string_value(json_object_get(c, "kind"));
        const char *ct = json_string_value(json_object_get(c, "container"));
        const char *at = json_string_value(json_object_get(c, "attribute"));
        if (strcmp(k, kind) == 0 && ct && strcmp(ct, container) == 0 &&
            (!attribute || (at && strcmp(at, attribute) == 0)))
            return c;
    }
    return NULL;
}

static json_t *show_json(const char *cfg, const char *path, const char *as_of)
{
    const char *args[] = {"show", path, "--json", as_of ? "--as-of" : NULL, as_of, NULL};
    itest_result r = run_mc(cfg, args);
    cr_assert_eq(r.status, 0, "show %s exited %d: %s", path, r.status, r.err);
    return itest_parse_json(r.out);
}

/* ---- every change kind ---------------------------------------------------- */

/* The store's commits run with foreign keys off (store/commit.c): after
 * them, every reference in the store still holds. */
static void assert_no_dangling_reference(const char *dir)
{
    char *store = itest_strf("%s/catalog.db", dir);
    char *bad = itest_sqlite_value(store, "PRAGMA foreign_key_check");
    cr_assert_null(bad, "a dangling reference in table %s", bad);
}

Test(crawl, every_change_kind, .timeout = 300)
{
    char *db = itest_create_db("kinds");
    PGconn *c = itest_connect(db);
    char *role = make_crawler(c, db);
    itest_sql(c,
              "CREATE SCHEMA sales; CREATE SCHEMA tmp_stage; CREATE SCHEMA locked;"
              "GRANT USAGE ON SCHEMA sales, tmp_stage, locked TO %s;"
              "CREATE TABLE sales.customers (id int PRIMARY KEY, name text);"
              "CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int, amount integer,"
              "  note text, legacy text, status text DEFAULT 'new', code int);"
              "COMMENT ON COLUMN sales.orders.note IS 'free text';"
              "CREATE TABLE sales.pk_t (a int PRIMARY KEY, b int);"
              "CREATE TABLE sales.payments (id int,"
              "  order_id int CONSTRAINT payments_order_fk REFERENCES sales.orders(id));"
              "CREATE TABLE sales.old_name (x int);"
              "CREATE TABLE sales.doomed (y int);"
              "CREATE VIEW sales.v_orders AS SELECT id FROM sales.orders;"
              "CREATE VIEW sales.swap AS SELECT 1 AS a, 2 AS b;"
              "CREATE TABLE tmp_stage.s (z int);"
              "CREATE TABLE locked.t (a int);",
              role);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, role, PW, "    fail_safe: { max_removed_pct: 50 }\n");

    json_t *r1 = crawl(cfg, 0, NULL);
    cr_assert(json_is_true(json_object_get(r1, "baseline")));
    cr_assert_eq(json_array_size(json_object_get(r1, "changes")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r1, "dialect")), "postgresql");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r1, "counts"), "containers")), 10);

    itest_sql(c,
              "ALTER TABLE sales.orders ADD COLUMN shipped_at timestamptz;"
              "ALTER TABLE sales.orders DROP COLUMN legacy;"
              "ALTER TABLE sales.orders RENAME COLUMN code TO order_code;"
              "ALTER TABLE sales.orders ALTER COLUMN amount TYPE bigint;"
              "ALTER TABLE sales.orders ALTER COLUMN customer_id SET NOT NULL;"
              "ALTER TABLE sales.orders ALTER COLUMN status SET DEFAULT 'open';"
              "COMMENT ON COLUMN sales.orders.note IS 'customer note';"
              "ALTER TABLE sales.pk_t DROP CONSTRAINT pk_t_pkey;"
              "ALTER TABLE sales.pk_t ADD PRIMARY KEY (a, b);"
              "ALTER TABLE sales.payments DROP CONSTRAINT payments_order_fk;"
              "ALTER TABLE sales.orders ADD CONSTRAINT orders_customer_fk"
              "  FOREIGN KEY (customer_id) REFERENCES sales.customers(id);"
              "ALTER TABLE sales.old_name RENAME TO new_name;"
              "DROP TABLE sales.doomed;"
              "CREATE VIEW sales.big_orders AS SELECT id FROM sales.orders WHERE amount > 100;"
              "CREATE OR REPLACE VIEW sales.v_orders AS SELECT id, status FROM sales.orders;"
              "DROP VIEW sales.swap; CREATE VIEW sales.swap AS SELECT 2 AS b, 1 AS a;"
              "CREATE SCHEMA marketing; GRANT USAGE ON SCHEMA marketing TO %s;"
              "CREATE TABLE marketing.campaigns (id int);"
              "DROP SCHEMA tmp_stage CASCADE;",
              role);
    json_t *r2 = crawl(cfg, 0, NULL);
    json_t *ch = json_object_get(r2, "changes");
    const char *fk_orders = "[{\"columns\":[\"customer_id\"],\"name\":\"orders_customer_fk\","
                            "\"ref_columns\":[\"id\"],\"ref_container\":\"customers\","
                            "\"ref_schema\":\"sales\"}]";
    const char *fk_payments = "[{\"columns\":[\"order_id\"],\"name\":\"payments_order_fk\","
                              "\"ref_columns\":[\"id\"],\"ref_container\":\"orders\","
                              "\"ref_schema\":\"sales\"}]";
    char *exp_fk1 = itest_strf("container_changed sales.orders foreign_keys null %s -", fk_orders);
    char *exp_fk2 = itest_strf("container_changed sales.payments foreign_keys %s null -", fk_payments);
    json_t *def = find_change(ch, "container_changed", "v_orders", "definition");
    json_t *swapdef = find_change(ch, "container_changed", "swap", "definition");
    cr_assert(def && swapdef, "view definition changes missing");
    char *v_before = itest_json_compact(json_object_get(def, "before"));
    char *v_after = itest_json_compact(json_object_get(def, "after"));
    char *exp_def = itest_strf("container_changed sales.v_orders definition %s %s -", v_before, v_after);
    char *s_before = itest_json_compact(json_object_get(swapdef, "before"));
    char *s_after = itest_json_compact(json_object_get(swapdef, "after"));
    char *exp_swap = itest_strf("container_changed sales.swap definition %s %s -", s_before, s_after);
    cr_assert(strstr(v_after, "status") && !strstr(v_before, "status"), "%s -> %s", v_before, v_after);
    const char *expected[] = {
        "field_added sales.orders.shipped_at - - - -",
        "field_removed sales.orders.legacy - - - B",
        "field_renamed sales.orders.order_code - \"code\" \"order_code\" B",
        "field_changed sales.orders.amount type \"integer\" \"bigint\" B",
        "field_changed sales.orders.customer_id nullable true false B",
        "field_changed sales.orders.status default \"'new'::text\" \"'open'::text\" -",
        "field_changed sales.orders.note comment \"free text\" \"customer note\" -",
        exp_fk1,
        "container_changed sales.pk_t primary_key [\"a\"] [\"a\",\"b\"] B",
        "field_changed sales.pk_t.b nullable true false B",
        exp_fk2,
        "container_renamed sales.new_name - {\"name\":\"old_name\",\"schema\":\"sales\"} "
        "{\"name\":\"new_name\",\"schema\":\"sales\"} B",
        "container_removed sales.doomed - - - B",
        "container_added sales.big_orders - - - -",
        exp_def,
        /* the view now reads status too: a change, not breaking (docs/lineage.md) */
        "container_changed sales.v_orders depends_on [{\"columns\":[\"id\"],\"name\":"
        "\"orders\",\"schema\":\"sales\",\"source\":\"catalog\"}] [{\"columns\":[\"id\","
        "\"status\"],\"name\":\"orders\",\"schema\":\"sales\",\"source\":\"catalog\"}] -",
        "field_added sales.v_orders.status - - - -",
        exp_swap,
        "field_changed sales.swap.a position 1 2 -",
        "field_changed sales.swap.b position 2 1 -",
        "schema_added marketing - - - -",
        "container_added marketing.campaigns - - - -",
        "schema_removed tmp_stage - - - B",
        "container_removed tmp_stage.s - - - B",
        NULL,
    };
    itest_assert_changes(ch, expected);

    /* Dropping legacy moved the later columns up without an event, but the
     * stored positions follow: 1..n in column order. */
    json_t *orders = show_json(cfg, "test.sales.orders", NULL);
    json_t *of = json_object_get(orders, "fields");
    const char *order[] = {"id", "customer_id", "amount", "note", "status", "order_code",
                           "shipped_at"};
    cr_assert_eq(json_array_size(of), 7);
    for (size_t i = 0; i < 7; i++) {
        json_t *f = json_array_get(of, i);
        cr_assert_str_eq(json_string_value(json_object_get(f, "name")), order[i]);
        cr_assert_eq(json_integer_value(json_object_get(f, "position")), (json_int_t)i + 1,
                     "%s is at %lld", order[i],
                     (long long)json_integer_value(json_object_get(f, "position")));
    }

    /* The whole-object values of additions and removals. */
    json_t *added = find_change(ch, "field_added", "orders", NULL);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(added, "after"), "type")),
                     "timestamp with time zone");
    json_t *removed = find_change(ch, "field_removed", "orders", NULL);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(removed, "before"), "name")),
                     "legacy");
    json_t *view = find_change(ch, "container_added", "big_orders", NULL);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(view, "after"), "kind")), "view");

    /* diff of the two stored runs says the same. */
    const char *dargs[] = {"diff", "test", "--json", NULL};
    itest_result d = run_mc(cfg, dargs);
    cr_assert_eq(d.status, 0, "%s", d.err);
    json_t *dj = itest_parse_json(d.out);
    itest_assert_changes(json_object_get(dj, "changes"), expected);
    /* and the terminal says which foreign key came and which went */
    const char *targs[] = {"diff", "test", NULL};
    itest_result t = run_mc(cfg, targs);
    cr_assert_eq(t.status, 0, "%s", t.err);
    cr_assert(strstr(t.out, "foreign keys: + orders_customer_fk (customer_id) -> "
                            "sales.customers (id)"), "%s", t.out);
    cr_assert(strstr(t.out, "foreign keys: - payments_order_fk (order_id) -> sales.orders (id)"),
              "%s", t.out);

    /* Revoke USAGE on a schema and drop a table in another in the same
     * step: a warning and exit 7 for the schema that could not be read,
     * whose contents stay as last seen, and the removal in the schema that
     * was read is recorded (SPEC §5: removals per schema). */
    itest_sql(c, "REVOKE USAGE ON SCHEMA locked FROM %s; DROP TABLE sales.payments;", role);
    json_t *r3 = crawl(cfg, 7, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(r3, "status")), "partial");
    const char *expected3[] = {"container_removed sales.payments - - - B", NULL};
    itest_assert_changes(json_object_get(r3, "changes"), expected3);
    cr_assert_eq(json_integer_value(json_object_get(r3, "held_back")), 0);
    char *warnings = itest_json_compact(json_object_get(r3, "warnings"));
    cr_assert(strstr(warnings, "locked") && strstr(warnings, "USAGE"), "%s", warnings);
    json_t *locked = show_json(cfg, "test.locked.t", NULL);
    cr_assert_str_eq(json_string_value(json_object_get(locked, "name")), "t");
    const char *pargs[] = {"show", "test.sales.payments", "--json", NULL};
    itest_result gone = run_mc(cfg, pargs);
    cr_assert_neq(gone.status, 0, "payments is still shown: %s", gone.out);

    /* Grant it back: the crawl is complete again, with nothing new to say. */
    itest_sql(c, "GRANT USAGE ON SCHEMA locked TO %s", role);
    json_t *r4 = crawl(cfg, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(r4, "changes")), 0, "%s",
                 itest_json_compact(json_object_get(r4, "changes")));

    /* history shows the four runs with their statuses. */
    const char *hargs[] = {"history", "--json", NULL};
    itest_result h = run_mc(cfg, hargs);
    json_t *hj = itest_parse_json(h.out);
    json_t *runs = json_object_get(hj, "runs");
    cr_assert_eq(json_array_size(runs), 4);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(runs, 1), "status")), "partial");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(runs, 2), "changes")), 24);
    /* crawls, re-crawls, renames and removals left no dangling reference */
    assert_no_dangling_reference(dir);
    PQfinish(c);
}

/* ---- fail_safe --------------------------------------------------------------- */

Test(crawl, fail_safe_holds_back_mass_removals, .timeout = 120)
{
    char *db = itest_create_db("failsafe");
    PGconn *c = itest_connect(db);
    char *role = make_crawler(c, db);
    /* A private schema next to it: the run is partial (exit 7) every time,
     * and the fail-safe still holds back the mass removal in app. */
    itest_sql(c, "CREATE SCHEMA app; GRANT USAGE ON SCHEMA app TO %s;"
                 "CREATE SCHEMA private; CREATE TABLE private.secret (id int);"
                 "DO $$ BEGIN FOR i IN 1..10 LOOP "
                 "EXECUTE format('CREATE TABLE app.t%%s (id int)', i); END LOOP; END $$;",
              role);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, role, PW, NULL); /* default 20%% */
    json_decref(crawl(cfg, 7, NULL));
    itest_sql(c, "DROP TABLE app.t1, app.t2, app.t3; ALTER TABLE app.t4 ADD COLUMN x int;");
    json_t *r = crawl(cfg, 7, NULL);
    cr_assert_eq(json_integer_value(json_object_get(r, "held_back")), 3);
    const char *exp[] = {"field_added app.t4.x - - - -", NULL};
    itest_assert_changes(json_object_get(r, "changes"), exp);
    char *w = itest_json_compact(json_object_get(r, "warnings"));
    cr_assert(strstr(w, "max_removed_pct") && strstr(w, "--accept-removals"), "%s", w);

    json_t *r2 = crawl(cfg, 7, "--accept-removals");
    const char *exp2[] = {"container_removed app.t1 - - - B", "container_removed app.t2 - - - B",
                          "container_removed app.t3 - - - B", NULL};
    itest_assert_changes(json_object_get(r2, "changes"), exp2);
    assert_no_dangling_reference(dir);
    PQfinish(c);
}

/* ---- show --as-of --------------------------------------------------------------- */

Test(crawl, show_as_of_returns_the_earlier_catalog, .timeout = 120)
{
    char *db = itest_create_db("asof");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE public.items (id int, label varchar(20));"
                 "COMMENT ON TABLE public.items IS 'first';");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    const char *env[] = {itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD")), NULL};
    const char *a1[] = {"-c", cfg, "crawl", "--json", NULL};
    itest_result r1 = itest_run(a1, env, NULL);
    cr_assert_eq(r1.status, 0, "%s", r1.err);
    json_t *j1 = itest_parse_json(r1.out);
    json_int_t run1 = json_integer_value(
        json_object_get(json_array_get(json_object_get(j1, "datastores"), 0), "run"));

    itest_sql(c, "ALTER TABLE public.items ALTER COLUMN label TYPE text, ADD COLUMN price numeric(10,2);"
                 "COMMENT ON TABLE public.items IS 'second';");
    itest_result r2 = itest_run(a1, env, NULL);
    cr_assert_eq(r2.status, 0, "%s", r2.err);

    char *run1s = itest_strf("%lld", (long long)run1);
    const char *s1[] = {"-c", cfg, "show", "test.public.items", "--json", "--as-of", run1s, NULL};
    itest_result old = itest_run(s1, env, NULL);
    cr_assert_eq(old.status, 0, "%s", old.err);
    json_t *oj = itest_parse_json(old.out);
    cr_assert_str_eq(json_string_value(json_object_get(oj, "comment")), "first");
    json_t *of = json_object_get(oj, "fields");
    cr_assert_eq(json_array_size(of), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(of, 1), "type")),
                     "character varying(20)");

    const char *s2[] = {"-c", cfg, "show", "test.public.items", "--json", NULL};
    itest_result now = itest_run(s2, env, NULL);
    json_t *nj = itest_parse_json(now.out);
    cr_assert_str_eq(json_string_value(json_object_get(nj, "comment")), "second");
    cr_assert_eq(json_array_size(json_object_get(nj, "fields")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(nj, "fields"), 1), "type")),
                     "text");
    PQfinish(c);
}

/* ---- killed while writing ----------------------------------------------------- */

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Runs ARGS (env ENV, output to LOG) and kills it with SIGKILL once the
 * store's WAL has grown by 256 KiB, up to five attempts; true when a kill
 * left the last run "running", i.e. it came before the commit. */
static bool kill_while_writing(const char *const *args, const char *const *env,
                               const char *store, const char *wal, const char *log)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        long wal0 = file_size(wal);
        pid_t pid = itest_spawn(args, env, log);
        bool saw_growth = false;
        for (int i = 0; i < 60000 && !saw_growth; i++) { /* up to 5 minutes */
            if (file_size(wal) > wal0 + 256 * 1024)
                saw_growth = true;
            else if (waitpid(pid, NULL, WNOHANG) == pid)
                break;
            else
                usleep(5000);
        }
        if (!saw_growth)
            continue;
        kill(pid, SIGKILL);
        itest_wait(pid);
        /* Killed before the commit?  Then the last run is still "running". */
        char *status = itest_sqlite_value(store, "SELECT status FROM runs ORDER BY id DESC LIMIT 1");
        if (status && strcmp(status, "running") == 0)
            return true;
    }
    return false;
}

Test(crawl, sigkill_while_writing_leaves_the_store_intact, .timeout = 600)
{
    char *db = itest_create_db("kill");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE public.keep (id int PRIMARY KEY, note text)");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    const char *env[] = {itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD")), NULL};
    const char *args[] = {"-c", cfg, "crawl", NULL};
    itest_result first = itest_run(args, env, NULL);
    cr_assert_eq(first.status, 0, "%s", first.err);

    /* Enough new tables that recording them spills the write transaction
     * into the WAL well before it commits. */
    itest_sql(c, "DO $$ BEGIN FOR i IN 1..1500 LOOP EXECUTE format("
                 "'CREATE TABLE public.big%%s (a int, b text, c int, d text, e int, f text,"
                 " g int, h text, i int, j text, k int, l text, m int, n text)', i);"
                 " END LOOP; END $$;");
    char *store = itest_strf("%s/catalog.db", dir);
    char *wal = itest_strf("%s/catalog.db-wal", dir);
    char *log = itest_strf("%s/kill.log", dir);

    cr_assert(kill_while_writing(args, env, store, wal, log),
              "never managed to kill the crawl while it wrote");

    char *ok = itest_sqlite_value(store, "PRAGMA integrity_check");
    cr_assert_str_eq(ok, "ok");
    /* The previous catalog is intact: one container, none of the new ones. */
    const char *sargs[] = {"-c", cfg, "show", "test.public", "--json", NULL};
    itest_result s = itest_run(sargs, env, NULL);
    cr_assert_eq(s.status, 0, "%s", s.err);
    json_t *sj = itest_parse_json(s.out);
    json_t *cs = json_object_get(sj, "containers");
    cr_assert_eq(json_array_size(cs), 1, "%s", s.out);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cs, 0), "name")), "keep");
    /* The killed run is reported as failed (interrupted) once the store is
     * opened again. */
    const char *hargs[] = {"-c", cfg, "history", "--json", NULL};
    itest_result h = itest_run(hargs, env, NULL);
    json_t *hj = itest_parse_json(h.out);
    json_t *last = json_array_get(json_object_get(hj, "runs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(last, "status")), "failed");
    cr_assert(strstr(json_string_value(json_object_get(last, "error")), "interrupted"));
    /* And a new crawl completes and records everything. */
    itest_result again = itest_run(args, env, NULL);
    cr_assert_eq(again.status, 0, "%s", again.err);
    assert_no_dangling_reference(dir);
    PQfinish(c);
}

/* ---- hostile identifiers --------------------------------------------------------- */

Test(crawl, hostile_identifiers_round_trip, .timeout = 120)
{
    char *db = itest_create_db("names");
    PGconn *c = itest_connect(db);
    /* 63 bytes: PostgreSQL's limit (NAMEDATALEN - 1). */
    const char *long_name = "a23456789012345678901234567890123456789012345678901234567890123";
    cr_assert_eq(strlen(long_name), 63);
    static const char *const names[] = {
        "we\"ird", "has space", "dot.ted", "UPPER", "\xc3\xbc" "n" "\xc3\xaf" "c" "\xc3\xb8" "d" "\xc3\xa9",
        "semi;colon", "<script>alert(1)</script>", "it's",
    };
    const size_t n_names = sizeof names / sizeof names[0];
    itest_sql(c, "CREATE SCHEMA \"Odd Schema.\"\"x\"\"\"");
    for (size_t i = 0; i < n_names; i++) {
        char *q = PQescapeIdentifier(c, names[i], strlen(names[i]));
        char *cq = PQescapeIdentifier(c, names[i], strlen(names[i]));
        char *lit = PQescapeLiteral(c, names[i], strlen(names[i]));
        itest_sql(c, "CREATE TABLE \"Odd Schema.\"\"x\"\"\".%s (%s int); "
                     "COMMENT ON TABLE \"Odd Schema.\"\"x\"\"\".%s IS %s",
                  q, cq, q, lit);
        PQfreemem(q);
        PQfreemem(cq);
        PQfreemem(lit);
    }
    itest_sql(c, "CREATE TABLE public.%s (%s int)", long_name, long_name);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    const char *env[] = {itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD")), NULL};
    const char *args[] = {"-c", cfg, "crawl", NULL};
    itest_result r = itest_run(args, env, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);

    for (size_t i = 0; i < n_names; i++) {
        /* the show path quotes both parts as SQL would */
        char *qname = calloc(1, strlen(names[i]) * 2 + 3);
        char *p = qname;
        *p++ = '"';
        for (const char *s = names[i]; *s; s++) {
            if (*s == '"')
                *p++ = '"';
            *p++ = *s;
        }
        *p++ = '"';
        char *path = itest_strf("test.\"Odd Schema.\"\"x\"\"\".%s", qname);
        const char *sargs[] = {"-c", cfg, "show", path, "--json", NULL};
        itest_result s = itest_run(sargs, env, NULL);
        cr_assert_eq(s.status, 0, "show %s: %s", path, s.err);
        json_t *j = itest_parse_json(s.out);
        cr_assert_str_eq(json_string_value(json_object_get(j, "schema")), "Odd Schema.\"x\"");
        cr_assert_str_eq(json_string_value(json_object_get(j, "name")), names[i]);
        cr_assert_str_eq(json_string_value(json_object_get(j, "comment")), names[i]);
        cr_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(j, "fields"), 0), "name")),
                         names[i]);
        /* the terminal output never carries the raw bytes of a control char */
        const char *targs[] = {"-c", cfg, "show", path, NULL};
        itest_result t = itest_run(targs, env, NULL);
        cr_assert_eq(t.status, 0);
        cr_assert(strstr(t.out, names[i]), "%s", t.out);
    }
    char *lpath = itest_strf("test.public.%s", long_name);
    json_t *lj = show_json(cfg, lpath, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(lj, "name")), long_name);

    /* search finds the script-named table by a fragment of its name */
    const char *qargs[] = {"-c", cfg, "search", "<script>", "--json", NULL};
    itest_result q = itest_run(qargs, env, NULL);
    json_t *qj = itest_parse_json(q.out);
    cr_assert_geq(json_array_size(json_object_get(qj, "hits")), 1, "%s", q.out);
    PQfinish(c);
}

Test(crawl, control_characters_are_escaped_on_the_terminal, .timeout = 120)
{
    char *db = itest_create_db("ctrl");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE public.\"bell\x07\x1b]0;x\" (id int)");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    const char *env[] = {itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD")), NULL};
    const char *args[] = {"-c", cfg, "crawl", NULL};
    itest_result r = itest_run(args, env, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *sargs[] = {"-c", cfg, "show", "test.public", NULL};
    itest_result s = itest_run(sargs, env, NULL);
    cr_assert(strstr(s.out, "bell\\x07\\x1b]0;x"), "%s", s.out);
    cr_assert_null(strchr(s.out, '\x1b'));
    PQfinish(c);
}

/* ---- constant number of catalog statements ---------------------------------------- */

static long statements_for(int n_schemas, int tables_per_schema, long *reported)
{
    char *db = itest_create_db("count");
    PGconn *c = itest_connect(db);
    itest_sql(c, "DO $$ BEGIN FOR s IN 1..%d LOOP "
                 "EXECUTE format('CREATE SCHEMA s%%s', s); "
                 "FOR t IN 1..%d LOOP EXECUTE format("
                 "'CREATE TABLE s%%s.t%%s (id int PRIMARY KEY, v text)', s, t); "
                 "END LOOP; "
                 /* views on views across schemas and a materialized view:
                  * dependencies cost one statement, whatever their number */
                 "EXECUTE format('CREATE VIEW s%%s.v1 AS SELECT id, v FROM s%%s.t1', s, s); "
                 "EXECUTE format('CREATE VIEW s%%s.v2 AS SELECT v FROM s%%s.v1', s, "
                 "CASE WHEN s > 1 THEN s - 1 ELSE s END); "
                 "EXECUTE format('CREATE MATERIALIZED VIEW s%%s.m AS SELECT count(*) "
                 "FROM s%%s.v2', s, s); "
                 "END LOOP; END $$;",
              n_schemas, tables_per_schema);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    const char *env[] = {itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD")), NULL};
    long before = itest_count_statements(db);
    const char *args[] = {"-c", cfg, "crawl", "--json", NULL};
    itest_result r = itest_run(args, env, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *j = itest_parse_json(r.out);
    json_t *ds = json_array_get(json_object_get(j, "datastores"), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(ds, "counts"), "containers")),
                 n_schemas * (tables_per_schema + 3));
    *reported = (long)json_integer_value(json_object_get(ds, "queries"));
    /* the table facts of every table and materialized view (one a schema)
     * came in the same constant count */
    json_t *facts = json_object_get(ds, "facts");
    cr_assert_str_eq(json_string_value(json_object_get(facts, "status")), "read", "%s", r.out);
    cr_assert_eq(json_integer_value(json_object_get(facts, "containers")),
                 n_schemas * (tables_per_schema + 1), "%s", r.out);
    /* the server's log is written asynchronously: give it a moment */
    long after = itest_count_statements(db);
    for (int i = 0; i < 50 && after - before < *reported; i++) {
        usleep(100000);
        after = itest_count_statements(db);
    }
    /* the dependencies were read: the last schema's view on the view of
     * the schema before it */
    const char *sargs[] = {"-c", cfg, "show", itest_strf("test.s%d.v2", n_schemas), "--json",
                           NULL};
    itest_result sr = itest_run(sargs, env, NULL);
    cr_assert_eq(sr.status, 0, "%s", sr.err);
    json_t *v2 = itest_parse_json(sr.out);
    cr_assert_str_eq(itest_json_compact(json_object_get(v2, "depends_on")),
                     itest_strf("[{\"columns\":[\"v\"],\"name\":\"v1\",\"schema\":\"s%d\","
                                "\"source\":\"catalog\"}]",
                                n_schemas > 1 ? n_schemas - 1 : n_schemas));
    PQfinish(c);
    return after - before;
}

Test(crawl, constant_number_of_catalog_statements, .timeout = 300)
{
    long reported_small, reported_large;
    long small = statements_for(2, 5, &reported_small);    /* 10 tables */
    long large = statements_for(10, 50, &reported_large);  /* 500 tables */
    cr_assert_gt(small, 0, "the server log shows no statement");
    cr_assert_eq(small, large, "10 tables: %ld statements, 500 tables: %ld", small, large);
    cr_assert_eq(small, reported_small, "server counted %ld, metacrawl reported %ld", small,
                 reported_small);
    cr_assert_eq(reported_small, reported_large);
    /* version(), SET, BEGIN, schemas, containers, columns, keys, COMMIT,
     * table facts (docs/discovery.md) */
    cr_assert_eq(reported_small, 10);
}

/* ---- connection failures and exit codes --------------------------------------------- */

Test(crawl, wrong_password_is_exit_5_with_a_hint, .timeout = 120)
{
    char *db = itest_create_db("pw");
    PGconn *c = itest_connect(db);
    char *role = make_crawler(c, db);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, role, "wrong", NULL);
    const char *args[] = {"-c", cfg, "crawl", NULL};
    const char *env[] = {"MC_TEST_DS_PASSWORD=not-the-password", NULL};
    itest_result r = itest_run(args, env, NULL);
    cr_assert_eq(r.status, 5, "%s", r.err);
    cr_assert(strstr(r.err, "password authentication failed"), "%s", r.err);
    cr_assert(strstr(r.err, "hint: verify the user and password"), "%s", r.err);
    /* one address in the message: ours (libpq's would be the tunnel's
     * local end when there is one) */
    cr_assert_null(strstr(r.err, "connection to server"), "%s", r.err);
    cr_assert_null(strstr(r.err, "not-the-password"), "the password leaked: %s", r.err);
    /* the failed run is recorded */
    const char *hargs[] = {"-c", cfg, "history", "--json", NULL};
    itest_result h = itest_run(hargs, env, NULL);
    json_t *hj = itest_parse_json(h.out);
    json_t *run = json_array_get(json_object_get(hj, "runs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(run, "status")), "failed");
    PQfinish(c);
}

Test(crawl, closed_port_is_exit_4, .timeout = 120)
{
    char *dir = itest_tmpdir();
    char *cfg = itest_strf("%s/metacrawl.yml", dir);
    /* port 1 on loopback: nothing listens there */
    itest_write_file(cfg, itest_strf("store: %s/catalog.db\n"
                                     "datastores:\n"
                                     "  - name: closed\n"
                                     "    host: 127.0.0.1\n"
                                     "    port: 1\n"
                                     "    database: dev\n"
                                     "    sslmode: disable\n"
                                     "    connect_timeout: 5s\n",
                                     dir));
    const char *args[] = {"-c", cfg, "crawl", NULL};
    itest_result r = itest_run(args, NULL, NULL);
    cr_assert_eq(r.status, 4, "%s", r.err);
    cr_assert(strstr(r.err, "Connection refused"), "%s", r.err);
    cr_assert(strstr(r.err, "security group"), "%s", r.err);
}

Test(crawl, libpq_environment_keeps_working, .timeout = 120)
{
    char *db = itest_create_db("pgenv");
    PGconn *c = itest_connect(db);
    char *role = make_crawler(c, db);
    char *dir = itest_tmpdir();
    /* no password: key; PGPASSWORD supplies it */
    char *cfg = itest_write_config(dir, db, role, NULL, NULL);
    const char *args[] = {"-c", cfg, "crawl", NULL};
    const char *env[] = {"PGPASSWORD=" PW, NULL};
    itest_result r = itest_run(args, env, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    /* and a .pgpass file */
    char *pgpass = itest_strf("%s/pgpass", dir);
    itest_write_file(pgpass, itest_strf("127.0.0.1:%s:%s:%s:" PW "\n", itest_env("MC_TEST_PGPORT"),
                                        db, role));
    chmod(pgpass, 0600);
    const char *env2[] = {itest_strf("PGPASSFILE=%s", pgpass), "PGPASSWORD", NULL};
    itest_result r2 = itest_run(args, env2, NULL);
    cr_assert_eq(r2.status, 0, "%s", r2.err);
    PQfinish(c);
}

Test(crawl, every_datastore_is_attempted_and_the_highest_code_wins, .timeout = 120)
{
    char *db = itest_create_db("multi");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE public.a (id int)");
    char *dir = itest_tmpdir();
    char *cfg = itest_strf("%s/metacrawl.yml", dir);
    itest_write_file(cfg, itest_strf("store: %s/catalog.db\n"
                                     "datastores:\n"
                                     "  - name: broken\n"
                                     "    host: 127.0.0.1\n"
                                     "    port: 1\n"
                                     "    database: dev\n"
                                     "    sslmode: disable\n"
                                     "  - name: good\n"
                                     "    host: 127.0.0.1\n"
                                     "    port: %s\n"
                                     "    database: %s\n"
                                     "    user: %s\n"
                                     "    password: ${env:MC_TEST_DS_PASSWORD}\n"
                                     "    sslmode: disable\n",
                                     dir, itest_env("MC_TEST_PGPORT"), db,
                                     itest_env("MC_TEST_PGUSER")));
    const char *env[] = {itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD")), NULL};
    const char *args[] = {"-c", cfg, "crawl", "--json", NULL};
    itest_result r = itest_run(args, env, NULL);
    cr_assert_eq(r.status, 4, "%s", r.err);
    json_t *j = itest_parse_json(r.out);
    json_t *dss = json_object_get(j, "datastores");
    cr_assert_eq(json_array_size(dss), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(dss, 0), "status")), "failed");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_array_get(dss, 0), "error"), "code")), 4);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(dss, 1), "status")), "ok");

    /* --exit-code: changes found -> 1, but a failure still wins */
    itest_sql(c, "ALTER TABLE public.a ADD COLUMN b int");
    const char *args2[] = {"-c", cfg, "crawl", "good", "--exit-code", NULL};
    itest_result r2 = itest_run(args2, env, NULL);
    cr_assert_eq(r2.status, 1, "%s", r2.err);
    const char *args3[] = {"-c", cfg, "crawl", "good", "--exit-code", NULL};
    itest_result r3 = itest_run(args3, env, NULL);
    cr_assert_eq(r3.status, 0, "no change: %s", r3.out);
    PQfinish(c);
}

Test(crawl, dry_run_writes_nothing, .timeout = 120)
{
    char *db = itest_create_db("dry");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE TABLE public.a (id int)");
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    const char *env[] = {itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD")), NULL};
    const char *dry[] = {"-c", cfg, "crawl", "--dry-run", "--json", NULL};
    itest_result r = itest_run(dry, env, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *store = itest_strf("%s/catalog.db", dir);
    cr_assert_neq(access(store, F_OK), 0, "a dry run created the store");

    const char *real[] = {"-c", cfg, "crawl", NULL};
    cr_assert_eq(itest_run(real, env, NULL).status, 0);
    itest_sql(c, "ALTER TABLE public.a ADD COLUMN b int");
    itest_result d = itest_run(dry, env, NULL);
    json_t *dj = itest_parse_json(d.out);
    json_t *ds = json_array_get(json_object_get(dj, "datastores"), 0);
    cr_assert_eq(json_array_size(json_object_get(ds, "changes")), 1, "%s", d.out);
    cr_assert(json_is_null(json_object_get(ds, "run")));
    char *runs = itest_sqlite_value(store, "SELECT count(*) FROM runs");
    cr_assert_str_eq(runs, "1");
    PQfinish(c);
}

Test(crawl, config_errors_name_file_line_and_column, .timeout = 60)
{
    char *dir = itest_tmpdir();
    char *cfg = itest_strf("%s/metacrawl.yml", dir);
    itest_write_file(cfg, "datastores:\n"
                          "  - name: x\n"
                          "    hots: example.com\n"
                          "    database: dev\n");
    const char *args[] = {"-c", cfg, "crawl", NULL};
    itest_result r = itest_run(args, NULL, NULL);
    cr_assert_eq(r.status, 3, "%s", r.err);
    char *where = itest_strf("%s:3:5", cfg);
    cr_assert(strstr(r.err, where), "%s", r.err);
    cr_assert(strstr(r.err, "host"), "no suggestion: %s", r.err);
}

/* ---- PostgreSQL corners (issue 12) ------------------------------------------- */

/* One database that holds every corner the catalog must record exactly:
 * foreign keys to and on partitioned tables, generated and identity
 * columns, NOT NULL from a domain, extension members, row estimates.  Each
 * step changes one thing and asserts the exact change set. */
static char *fk_json_of(const char *cfg, const char *path)
{
    json_t *k = show_json(cfg, path, NULL);
    return itest_json_compact(json_object_get(k, "foreign_keys"));
}

Test(crawl, partitions_and_their_foreign_keys, .timeout = 300)
{
    char *db = itest_create_db("parts");
    PGconn *c = itest_connect(db);
    char *role = make_crawler(c, db);
    itest_sql(c,
              "CREATE SCHEMA app; GRANT USAGE ON SCHEMA app TO %s;"
              "CREATE TABLE app.users (id int PRIMARY KEY);"
              "CREATE TABLE app.events (id int, day date, user_id int,"
              "  PRIMARY KEY (id, day),"
              "  CONSTRAINT events_user_fk FOREIGN KEY (user_id) REFERENCES app.users (id))"
              "  PARTITION BY RANGE (day);"
              "CREATE TABLE app.events_d1 PARTITION OF app.events"
              "  FOR VALUES FROM ('2024-01-01') TO ('2024-01-02');"
              "CREATE TABLE app.events_d2 PARTITION OF app.events"
              "  FOR VALUES FROM ('2024-01-02') TO ('2024-01-03');"
              "CREATE TABLE app.jobs (id int PRIMARY KEY, owner_id int);"
              /* declared on one partition only, as pg-boss does */
              "ALTER TABLE app.events_d1 ADD CONSTRAINT d1_job_fk"
              "  FOREIGN KEY (id) REFERENCES app.jobs (id);"
              "CREATE TABLE app.notes (id int, event_id int, event_day date,"
              "  CONSTRAINT notes_event_fk FOREIGN KEY (event_id, event_day)"
              "  REFERENCES app.events (id, day));",
              role);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, role, PW, NULL);
    json_t *r1 = crawl(cfg, 0, NULL);
    /* users, events, jobs, notes: the partitions are not containers */
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r1, "counts"), "containers")), 4);

    /* The referencing table lists its key once, not once per partition. */
    cr_assert_str_eq(fk_json_of(cfg, "test.app.notes"),
                     "[{\"columns\":[\"event_id\",\"event_day\"],\"name\":\"notes_event_fk\","
                     "\"ref_columns\":[\"id\",\"day\"],\"ref_container\":\"events\","
                     "\"ref_schema\":\"app\"}]");
    /* The partitioned table: its own key once, and the partition's own key
     * naming the partition. */
    cr_assert_str_eq(fk_json_of(cfg, "test.app.events"),
                     "[{\"columns\":[\"id\"],\"name\":\"d1_job_fk\",\"partition\":\"events_d1\","
                     "\"ref_columns\":[\"id\"],\"ref_container\":\"jobs\",\"ref_schema\":\"app\"},"
                     "{\"columns\":[\"user_id\"],\"name\":\"events_user_fk\","
                     "\"ref_columns\":[\"id\"],\"ref_container\":\"users\",\"ref_schema\":\"app\"}]");
    json_t *ev = show_json(cfg, "test.app.events", NULL);
    cr_assert_str_eq(itest_json_compact(json_object_get(ev, "primary_key")), "[\"id\",\"day\"]");
    /* ... which lists its partitions with their bounds */
    cr_assert_str_eq(itest_json_compact(json_object_get(ev, "partitions")),
                     "[{\"bound\":\"FOR VALUES FROM ('2024-01-01') TO ('2024-01-02')\","
                     "\"name\":\"events_d1\"},"
                     "{\"bound\":\"FOR VALUES FROM ('2024-01-02') TO ('2024-01-03')\","
                     "\"name\":\"events_d2\"}]");
    const char *targs[] = {"show", "test.app.events", NULL};
    itest_result text = run_mc(cfg, targs);
    cr_assert(strstr(text.out, "events_d2  FOR VALUES FROM ('2024-01-02') TO ('2024-01-03')") &&
              strstr(text.out, "d1_job_fk (id) -> app.jobs (id) (declared on partition events_d1)"),
              "%s", text.out);

    /* A new partition (pg_partman's daily one) changes nothing anywhere. */
    itest_sql(c, "CREATE TABLE app.events_d3 PARTITION OF app.events"
                 "  FOR VALUES FROM ('2024-01-03') TO ('2024-01-04');");
    json_t *r2 = crawl(cfg, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(r2, "changes")), 0, "%s",
                 itest_json_compact(json_object_get(r2, "changes")));
    ev = show_json(cfg, "test.app.events", NULL);
    cr_assert_eq(json_array_size(json_object_get(ev, "partitions")), 3);
    char *site = itest_strf("%s/site", dir);
    const char *dargs[] = {"docs", "--out", site, NULL};
    itest_result dr = run_mc(cfg, dargs);
    cr_assert_eq(dr.status, 0, "%s", dr.err);
    char *page = itest_read_file(itest_strf("%s/catalog/test/app/events.html", site));
    cr_assert(strstr(page, "Partitions") && strstr(page, "events_d3") &&
              strstr(page, "declared on partition <code>events_d1</code>"), "%s", page);
    PQfinish(c);
}

static json_t *field_of(json_t *container, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(container, "fields"), i, f) {
        if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0)
            return f;
    }
    cr_assert_fail("no field %s in %s", name, itest_json_compact(container));
    return NULL;
}

static char *fattr(json_t *container, const char *field, const char *attr)
{
    return itest_json_compact(json_object_get(field_of(container, field), attr));
}

Test(crawl, generated_identity_and_domain_not_null, .timeout = 300)
{
    char *db = itest_create_db("gen");
    PGconn *c = itest_connect(db);
    char *role = make_crawler(c, db);
    itest_sql(c,
              "CREATE SCHEMA app; GRANT USAGE ON SCHEMA app TO %s;"
              "CREATE DOMAIN app.code AS text NOT NULL;"
              "CREATE DOMAIN app.short_code AS app.code CHECK (length(VALUE) < 5);"
              "CREATE TABLE app.t (id int GENERATED ALWAYS AS IDENTITY,"
              "  seq bigint GENERATED BY DEFAULT AS IDENTITY, a int DEFAULT 7,"
              "  b int GENERATED ALWAYS AS (a * 2) STORED, c app.code, d app.short_code);",
              role);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, role, PW, NULL);
    json_decref(crawl(cfg, 0, NULL));

    json_t *t = show_json(cfg, "test.app.t", NULL);
    cr_assert_str_eq(fattr(t, "id", "identity"), "\"always\"");
    cr_assert_str_eq(fattr(t, "id", "default"), "null");
    cr_assert_str_eq(fattr(t, "seq", "identity"), "\"by_default\"");
    cr_assert_str_eq(fattr(t, "a", "identity"), "null");
    cr_assert_str_eq(fattr(t, "a", "default"), "\"7\"");
    /* the expression is the generated one, not a default */
    cr_assert_str_eq(fattr(t, "b", "generated"), "\"(a * 2)\"");
    cr_assert_str_eq(fattr(t, "b", "default"), "null");
    /* NOT NULL from the domain, and from the domain's domain */
    cr_assert_str_eq(fattr(t, "c", "nullable"), "false");
    cr_assert_str_eq(fattr(t, "d", "nullable"), "false");
    cr_assert_str_eq(fattr(t, "a", "nullable"), "true");
    const char *targs[] = {"show", "test.app.t", NULL};
    itest_result text = run_mc(cfg, targs);
    cr_assert(strstr(text.out, "generated always as identity") &&
              strstr(text.out, "generated by default as identity") &&
              strstr(text.out, "generated always as (a * 2)"), "%s", text.out);

    itest_sql(c, "ALTER TABLE app.t ALTER COLUMN b DROP EXPRESSION;"
                 "ALTER TABLE app.t ALTER COLUMN id DROP IDENTITY;"
                 "ALTER DOMAIN app.code DROP NOT NULL;");
    json_t *r2 = crawl(cfg, 0, NULL);
    const char *exp[] = {
        "field_changed app.t.b generated \"(a * 2)\" null -",
        "field_changed app.t.id identity \"always\" null -",
        "field_changed app.t.c nullable false true -",
        "field_changed app.t.d nullable false true -",
        NULL,
    };
    itest_assert_changes(json_object_get(r2, "changes"), exp);
    json_t *after = show_json(cfg, "test.app.t", NULL);
    cr_assert_str_eq(fattr(after, "b", "generated"), "null");
    cr_assert_str_eq(fattr(after, "b", "default"), "null");
    /* and nothing more on a crawl without a change */
    json_t *r3 = crawl(cfg, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(r3, "changes")), 0, "%s",
                 itest_json_compact(json_object_get(r3, "changes")));
    PQfinish(c);
}

/* Runs SQL on the store file (as a store written by an older metacrawl
 * would look). */
static void store_exec(const char *dir, const char *sql)
{
    char *path = itest_strf("%s/catalog.db", dir);
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, &msg), SQLITE_OK, "%s", msg);
    sqlite3_close(h);
}

Test(crawl, extension_members_and_row_estimates, .timeout = 300)
{
    char *db = itest_create_db("ext");
    PGconn *c = itest_connect(db);
    char *role = make_crawler(c, db);
    itest_sql(c,
              "CREATE SCHEMA app; GRANT USAGE ON SCHEMA app TO %s;"
              "CREATE EXTENSION pg_stat_statements SCHEMA app;"
              "CREATE TABLE app.ext_tab (id int);"
              "ALTER EXTENSION pg_stat_statements ADD TABLE app.ext_tab;"
              "CREATE TABLE app.mine (id int);"
              "CREATE TABLE app.est (id int);"
              "INSERT INTO app.est SELECT generate_series(1, 1000);"
              "ANALYZE app.est;"
              "CREATE TABLE app.never (id int);",
              role);
    /* what the extension owns in app, views included */
    char *members = itest_sql_value(c,
        "SELECT string_agg(k.relname, ',' ORDER BY k.relname) FROM pg_depend d "
        "JOIN pg_class k ON k.oid = d.objid WHERE d.classid = 'pg_class'::regclass "
        "AND d.deptype = 'e' AND k.relkind IN ('r', 'v') AND d.refobjid = "
        "(SELECT oid FROM pg_extension WHERE extname = 'pg_stat_statements')");
    cr_assert(strstr(members, "ext_tab") && strstr(members, "pg_stat_statements"), "%s", members);
    char *dir = itest_tmpdir();
    const char *fs = "    fail_safe: { max_removed_pct: 100 }\n";
    char *cfg = itest_write_config(dir, db, role, PW, fs);
    json_decref(crawl(cfg, 0, NULL));

    json_t *ext = show_json(cfg, "test.app.ext_tab", NULL);
    cr_assert_str_eq(itest_json_compact(json_object_get(ext, "extension")), "\"pg_stat_statements\"");
    json_t *view = show_json(cfg, "test.app.pg_stat_statements", NULL);
    cr_assert_str_eq(itest_json_compact(json_object_get(view, "extension")), "\"pg_stat_statements\"");
    json_t *mine = show_json(cfg, "test.app.mine", NULL);
    cr_assert_str_eq(itest_json_compact(json_object_get(mine, "extension")), "null");
    const char *sargs[] = {"search", "ext_tab", NULL};
    itest_result sr = run_mc(cfg, sargs);
    cr_assert(strstr(sr.out, "test.app.ext_tab  (table, extension pg_stat_statements)"), "%s", sr.out);
    const char *targs[] = {"show", "test.app.ext_tab", NULL};
    itest_result tr = run_mc(cfg, targs);
    cr_assert(strstr(tr.out, "member of extension pg_stat_statements"), "%s", tr.out);
    char *site = itest_strf("%s/site", dir);
    const char *dargs[] = {"docs", "--out", site, NULL};
    itest_result dr = run_mc(cfg, dargs);
    cr_assert_eq(dr.status, 0, "%s", dr.err);
    char *page = itest_read_file(itest_strf("%s/catalog/test/app/ext_tab.html", site));
    cr_assert(strstr(page, "member of extension <code>pg_stat_statements</code>"), "%s", page);

    /* Row estimates: analysed, and never analysed (reltuples -1 on 14+). */
    json_t *est = show_json(cfg, "test.app.est", NULL);
    cr_assert_eq(json_number_value(json_object_get(est, "row_estimate")), 1000);
    json_t *never = show_json(cfg, "test.app.never", NULL);
    cr_assert(json_is_null(json_object_get(never, "row_estimate")), "%s",
              itest_json_compact(never));
    /* Created again under its name: same container, no change, and the
     * old table's estimate is gone. */
    itest_sql(c, "DROP TABLE app.est; CREATE TABLE app.est (id int);");
    json_t *r2 = crawl(cfg, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(r2, "changes")), 0, "%s",
                 itest_json_compact(json_object_get(r2, "changes")));
    est = show_json(cfg, "test.app.est", NULL);
    cr_assert(json_is_null(json_object_get(est, "row_estimate")), "%s", itest_json_compact(est));

    /* extension_members: false leaves them out; what was recorded stays
     * (like a narrowed glob: no removal). */
    itest_write_config(dir, db, role, PW,
                       itest_strf("%s    extension_members: false\n", fs));
    json_t *r3 = crawl(cfg, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(r3, "changes")), 0, "%s",
                 itest_json_compact(json_object_get(r3, "changes")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r3, "counts"), "containers")), 3);
    show_json(cfg, "test.app.ext_tab", NULL);

    /* DROP EXTENSION: each member is removed, marked as the extension's. */
    itest_write_config(dir, db, role, PW, fs);
    itest_sql(c, "DROP EXTENSION pg_stat_statements");
    json_t *r4 = crawl(cfg, 0, NULL);
    const char *exp[8] = {0};
    size_t n = 0;
    for (char *name = strtok(members, ","); name && n < 7; name = strtok(NULL, ","))
        exp[n++] = itest_strf("container_removed app.%s - - - B", name);
    itest_assert_changes(json_object_get(r4, "changes"), exp);
    json_t *gone = find_change(json_object_get(r4, "changes"), "container_removed", "ext_tab", NULL);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(gone, "before"), "extension")),
                     "pg_stat_statements");
    PQfinish(c);
}

Test(crawl, a_store_from_before_schema_3_reports_no_false_change, .timeout = 300)
{
    char *db = itest_create_db("upgr");
    PGconn *c = itest_connect(db);
    char *role = make_crawler(c, db);
    itest_sql(c,
              "CREATE SCHEMA app; GRANT USAGE ON SCHEMA app TO %s;"
              "CREATE DOMAIN app.code AS text NOT NULL;"
              "CREATE TABLE app.t (id int GENERATED ALWAYS AS IDENTITY, a int,"
              "  b int GENERATED ALWAYS AS (a * 2) STORED, c app.code);"
              "CREATE EXTENSION pg_stat_statements SCHEMA app;",
              role);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, role, PW, NULL);
    json_decref(crawl(cfg, 0, NULL));
    /* What a store recorded before schema 3 holds, after the 2 -> 3 step. */
    store_exec(dir, "UPDATE field_versions SET default_expr = generated, generated = NULL "
                    "WHERE generated IS NOT NULL;"
                    "UPDATE field_versions SET identity = NULL;"
                    "UPDATE field_versions SET not_null = 0 WHERE name = 'c';"
                    "UPDATE container_versions SET extension = NULL, read_rules = 2;"
                    "UPDATE containers SET current_hash = 0;");

    json_t *r2 = crawl(cfg, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(r2, "changes")), 0, "%s",
                 itest_json_compact(json_object_get(r2, "changes")));
    char *path = itest_strf("%s/catalog.db", dir);
    cr_assert_str_eq(itest_sqlite_value(path, "SELECT count(*) FROM container_versions "
                                              "WHERE valid_to IS NULL AND read_rules <> 5"), "0");
    json_t *t = show_json(cfg, "test.app.t", NULL);
    cr_assert_str_eq(fattr(t, "b", "generated"), "\"(a * 2)\"");
    cr_assert_str_eq(fattr(t, "b", "default"), "null");
    cr_assert_str_eq(fattr(t, "id", "identity"), "\"always\"");
    cr_assert_str_eq(fattr(t, "c", "nullable"), "false");
    json_t *v = show_json(cfg, "test.app.pg_stat_statements", NULL);
    cr_assert_str_eq(itest_json_compact(json_object_get(v, "extension")), "\"pg_stat_statements\"");

    /* From now on the same differences are changes again. */
    itest_sql(c, "ALTER TABLE app.t ALTER COLUMN id DROP IDENTITY");
    json_t *r3 = crawl(cfg, 0, NULL);
    const char *exp[] = {"field_changed app.t.id identity \"always\" null -", NULL};
    itest_assert_changes(json_object_get(r3, "changes"), exp);
    PQfinish(c);
}

/* show DS.SCHEMA.TABLE reads that container alone: a damaged row of another
 * container does not disturb it, while the schema listing (which reads
 * them all) trips over it. */
Test(crawl, show_of_one_container_reads_only_that_container, .timeout = 120)
{
    char *db = itest_create_db("showone");
    PGconn *c = itest_connect(db);
    char *role = make_crawler(c, db);
    itest_sql(c, "CREATE SCHEMA app; GRANT USAGE ON SCHEMA app TO %s;"
                 "CREATE TABLE app.wanted (id int, label text);"
                 "CREATE TABLE app.other (x int);", role);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, role, PW, NULL);
    json_t *r1 = crawl(cfg, 0, NULL);
    json_int_t run1 = json_integer_value(json_object_get(r1, "run"));
    itest_sql(c, "ALTER TABLE app.wanted ADD COLUMN extra int");
    json_decref(crawl(cfg, 0, NULL));
    store_exec(dir, "UPDATE container_versions SET kind = 'bogus' WHERE name = 'other'");

    json_t *now = show_json(cfg, "test.app.wanted", NULL);
    cr_assert_eq(json_array_size(json_object_get(now, "fields")), 3);
    char *r1s = itest_strf("%lld", (long long)run1);
    json_t *then = show_json(cfg, "test.app.wanted", r1s);
    cr_assert_eq(json_array_size(json_object_get(then, "fields")), 2);
    const char *missing[] = {"show", "test.app.nope", NULL};
    itest_result m = run_mc(cfg, missing);
    cr_assert_eq(m.status, 2, "%d %s", m.status, m.err);
    cr_assert(strstr(m.err, "has no container app.nope"), "%s", m.err);
    const char *other_run[] = {"show", "test.app.wanted", "--as-of", "999", NULL};
    itest_result o = run_mc(cfg, other_run);
    cr_assert_eq(o.status, 2, "%d %s", o.status, o.err);
    const char *all[] = {"show", "test.app", NULL};
    itest_result a = run_mc(cfg, all);
    cr_assert_eq(a.status, 6, "the listing reads every container: %d %s", a.status, a.err);
    PQfinish(c);
}

/* ---- re-reading only what moved (docs/performance.md, "Fingerprints") ------ */

static long columns_read(json_t *report)
{
    return (long)json_integer_value(json_object_get(report, "columns_read"));
}

static void assert_one_change(json_t *report, const char *kind, const char *container,
                              const char *attribute)
{
    json_t *changes = json_object_get(report, "changes");
    cr_assert(find_change(changes, kind, container, attribute), "no %s of %s (%s) in %s", kind,
              container, attribute ? attribute : "-", itest_json_compact(report));
}

Test(crawl, a_recrawl_reads_again_only_what_moved, .timeout = 300)
{
    char *db = itest_create_db("reread");
    PGconn *c = itest_connect(db);
    char *role = make_crawler(c, db);
    itest_sql(c,
              "CREATE SCHEMA s; GRANT USAGE ON SCHEMA s TO %s;"
              "CREATE TYPE s.mood AS ENUM ('ok', 'sad');"
              "CREATE DOMAIN s.d_nn AS int NOT NULL;"
              "CREATE TABLE s.a (id int PRIMARY KEY, x int, y text DEFAULT 'q');"
              "CREATE TABLE s.b (id int PRIMARY KEY, a_id int REFERENCES s.a(id));"
              "CREATE TABLE s.c (v int);"
              "CREATE TABLE s.e (m s.mood, d s.d_nn);"
              "CREATE TABLE s.untouched (u int, w text);"
              "CREATE VIEW s.va AS SELECT id, x FROM s.a;",
              role);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, role, PW, NULL);

    json_t *r = crawl(cfg, 0, NULL);
    cr_assert_eq(columns_read(r), 6, "a first crawl reads everything: %s",
                 itest_json_compact(r));
    long fields = (long)json_integer_value(json_object_get(json_object_get(r, "counts"), "fields"));

    /* Nothing moved: only the view (views are read every time). */
    r = crawl(cfg, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(r, "changes")), 0, "%s", itest_json_compact(r));
    cr_assert_eq(columns_read(r), 1, "%s", itest_json_compact(r));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "counts"), "fields")),
                 fields, "the fields not read again are still counted");

    /* A rename of a's key column: b's fingerprint did not move, but its
     * foreign key names the column, so b is read again too. */
    itest_sql(c, "ALTER TABLE s.a RENAME COLUMN id TO ident");
    r = crawl(cfg, 0, NULL);
    assert_one_change(r, "field_renamed", "a", NULL);
    assert_one_change(r, "container_changed", "b", "foreign_keys");
    cr_assert_eq(columns_read(r), 3, "a, b and the view: %s", itest_json_compact(r));

    /* Column-level changes that touch neither pg_class nor the column's
     * table row: NOT NULL, comment, default, type width. */
    itest_sql(c, "ALTER TABLE s.c ALTER COLUMN v SET NOT NULL");
    r = crawl(cfg, 0, NULL);
    assert_one_change(r, "field_changed", "c", "nullable");
    itest_sql(c, "COMMENT ON COLUMN s.c.v IS 'the value'");
    r = crawl(cfg, 0, NULL);
    assert_one_change(r, "field_changed", "c", "comment");
    itest_sql(c, "ALTER TABLE s.c ALTER COLUMN v SET DEFAULT 5");
    r = crawl(cfg, 0, NULL);
    assert_one_change(r, "field_changed", "c", "default");
    cr_assert_eq(columns_read(r), 2, "c and the view: %s", itest_json_compact(r));

    /* A renamed type and a domain that lost its NOT NULL change how e's
     * columns read without touching e: every table is read again. */
    itest_sql(c, "ALTER TYPE s.mood RENAME TO feeling");
    r = crawl(cfg, 0, NULL);
    assert_one_change(r, "field_changed", "e", "type");
    cr_assert_eq(columns_read(r), 6, "%s", itest_json_compact(r));
    itest_sql(c, "ALTER DOMAIN s.d_nn DROP NOT NULL");
    r = crawl(cfg, 0, NULL);
    assert_one_change(r, "field_changed", "e", "nullable");

    /* A table renamed, and a table rewritten (VACUUM FULL: new relfilenode,
     * same columns): a rename, and nothing. */
    itest_sql(c, "ALTER TABLE s.c RENAME TO c2");
    r = crawl(cfg, 0, NULL);
    assert_one_change(r, "container_renamed", "c2", NULL);
    itest_sql(c, "VACUUM FULL s.untouched");
    r = crawl(cfg, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(r, "changes")), 0, "%s", itest_json_compact(r));
    cr_assert_eq(columns_read(r), 1, "%s", itest_json_compact(r));

    /* What the store holds is what a full read sees: a dry run against no
     * store (everything read) shows the same catalog as `show`. */
    const char *show_args[] = {"show", "test.s.b", "--json", NULL};
    itest_result shown = run_mc(cfg, show_args);
    cr_assert_eq(shown.status, 0, "%s", shown.err);
    cr_assert(strstr(shown.out, "\"ident\""), "b's key names a.ident: %s", shown.out);
    itest_result_free(&shown);
    PQfinish(c);
}

/* A first crawl streams its tables' columns through a spool file into the
 * store (crawler/spool.h).  Killed while it writes, it leaves the store as
 * it was — no catalog, the run failed — and no spool file behind. */
Test(crawl, sigkill_during_a_first_crawls_streamed_write, .timeout = 600)
{
    char *db = itest_create_db("killfirst");
    PGconn *c = itest_connect(db);
    itest_sql(c, "DO $$ BEGIN FOR i IN 1..1500 LOOP EXECUTE format("
                 "'CREATE TABLE public.big%%s (a int, b text, c int, d text, e int, f text,"
                 " g int, h text, i int, j text, k int, l text, m int, n text)', i);"
                 " END LOOP; END $$;");
    char *dir = itest_tmpdir();
    char *spooldir = itest_strf("%s/tmp", dir);
    cr_assert_eq(mkdir(spooldir, 0700), 0);
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    const char *env[] = {itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD")),
                         itest_strf("TMPDIR=%s", spooldir), NULL};
    const char *args[] = {"-c", cfg, "crawl", NULL};
    char *store = itest_strf("%s/catalog.db", dir);
    char *wal = itest_strf("%s/catalog.db-wal", dir);
    char *log = itest_strf("%s/kill.log", dir);

    cr_assert(kill_while_writing(args, env, store, wal, log),
              "never managed to kill the first crawl while it wrote");

    cr_assert_str_eq(itest_sqlite_value(store, "PRAGMA integrity_check"), "ok");
    /* nothing of the catalog was recorded, and the spool went with the process */
    cr_assert_str_eq(itest_sqlite_value(store, "SELECT count(*) FROM containers"), "0");
    cr_assert_str_eq(itest_sqlite_value(store, "SELECT count(*) FROM field_versions"), "0");
    DIR *d = opendir(spooldir);
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        cr_assert(e->d_name[0] == '.', "left behind in TMPDIR: %s", e->d_name);
    closedir(d);

    /* The next crawl is a first crawl again, and records every column. */
    const char *jargs[] = {"-c", cfg, "crawl", "--json", NULL};
    itest_result again = itest_run(jargs, env, NULL);
    cr_assert_eq(again.status, 0, "%s", again.err);
    json_t *rj = json_array_get(json_object_get(itest_parse_json(again.out), "datastores"), 0);
    cr_assert(json_is_true(json_object_get(rj, "baseline")), "%s", again.out);
    cr_assert_str_eq(itest_sqlite_value(store, "SELECT count(*) FROM field_versions"), "21000");
    cr_assert_null(itest_sqlite_value(store, "PRAGMA foreign_key_check"));
    PQfinish(c);
}
