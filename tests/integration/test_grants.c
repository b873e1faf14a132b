/*
 * test_grants.c — `grants` and `check` against the harness's PostgreSQL,
 * as a user runs them:
 *
 *  - grants --apply as the superuser for schemas with hostile names
 *    (quotes, spaces, upper case, non-ASCII, ';'), run twice; then a crawl
 *    as the crawler user sees exactly those schemas' tables, check passes,
 *    and the crawler's password never reached the server's log;
 *  - a table created after the grants by another owner is readable (the
 *    per-owner default privileges), and an owner the grants did not know
 *    is reported by check until grants runs again;
 *  - every failure class of check for real: wrong password, missing user,
 *    schema without USAGE, table without SELECT, closed port, unresolvable
 *    host, each with its exit code and fix;
 *  - a failing --apply leaves nothing applied;
 *  - the printed SQL runs in psql (with -v crawler_password) and fails,
 *    harmlessly, without it;
 *  - check sends a constant number of statements.
 *
 * Roles are cluster-wide and criterion runs these tests in parallel, so
 * every role a test creates carries its database's unique name.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

/* Never sent in clear by metacrawl: the tests check the server's log for it. */
#define PW "Crawler-Pw-7x"
#define PSQL_PW "Psql-Pw-3x"

/* The crawler's password and the admin's, for itest_run. */
static const char *const *env_with(const char *pw)
{
    static const char *env[3];
    static char ds[128], admin[256];
    snprintf(ds, sizeof ds, "MC_TEST_DS_PASSWORD=%s", pw);
    snprintf(admin, sizeof admin, "MC_TEST_ADMIN_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD"));
    env[0] = ds;
    env[1] = admin;
    env[2] = NULL;
    return env;
}

static const char admin_yaml[] = "    admin:\n"
                                 "      user: mc_super\n"
                                 "      password: ${env:MC_TEST_ADMIN_PASSWORD}\n";

static itest_result run_mc(const char *cfg, const char *pw, const char *const *args)
{
    const char *argv[24];
    int n = 0;
    argv[n++] = "-c";
    argv[n++] = cfg;
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return itest_run(argv, env_with(pw), NULL);
}

static void expect_status(const itest_result *r, int want, const char *what)
{
    cr_assert_eq(r->status, want, "%s exited %d, wanted %d\nstdout:\n%s\nstderr:\n%s", what,
                 r->status, want, r->out, r->err);
}

/* A config for DB with crawler USER (password from MC_TEST_DS_PASSWORD),
 * the superuser as admin, and EXTRA keys. */
static char *config(const char *db, const char *user, const char *extra)
{
    char *dir = itest_tmpdir();
    char *yaml = itest_strf("%s%s", admin_yaml, extra ? extra : "");
    char *cfg = itest_write_config(dir, db, user, PW, yaml);
    free(yaml);
    return cfg;
}

static void apply_grants(const char *cfg)
{
    const char *args[] = {"grants", "test", "--apply", "--password-from", "env:MC_TEST_DS_PASSWORD",
                          NULL};
    itest_result r = run_mc(cfg, PW, args);
    expect_status(&r, 0, "grants --apply");
    cr_assert(strstr(r.out, "-- committed:"), "%s", r.out);
    itest_result_free(&r);
}

/* check --json: the datastore's object (caller decrefs). */
static json_t *check_json(const char *cfg, const char *pw, int want)
{
    const char *args[] = {"check", "--json", NULL};
    itest_result r = run_mc(cfg, pw, args);
    expect_status(&r, want, "check --json");
    json_t *doc = itest_parse_json(r.out);
    json_t *ds = json_array_get(json_object_get(doc, "datastores"), 0);
    cr_assert(ds, "%s", r.out);
    json_incref(ds);
    json_decref(doc);
    itest_result_free(&r);
    return ds;
}

/* The item STEP (of SCHEMA, or datastore-wide when NULL); fails if absent. */
static json_t *item(json_t *ds, const char *step, const char *schema)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(ds, "steps"), i, it) {
        const char *s = json_string_value(json_object_get(it, "schema"));
        if (strcmp(json_string_value(json_object_get(it, "step")), step) == 0 &&
            ((!schema && !s) || (schema && s && strcmp(schema, s) == 0)))
            return it;
    }
    char *dump = json_dumps(ds, JSON_INDENT(1));
    cr_assert_fail("no item %s/%s in %s", step, schema ? schema : "-", dump);
    return NULL;
}

static const char *status_of(json_t *it)
{
    return json_string_value(json_object_get(it, "status"));
}

static const char *fix_of(json_t *it)
{
    const char *f = json_string_value(json_object_get(it, "fix"));
    return f ? f : "";
}

static void expect_all_ok(json_t *ds)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(ds, "steps"), i, it) {
        const char *st = status_of(it);
        char *dump = json_dumps(it, 0);
        cr_assert(strcmp(st, "ok") == 0, "not ok: %s", dump);
        free(dump);
    }
    cr_assert_eq(json_integer_value(json_object_get(ds, "exit_code")), 0);
}

/* ---- hostile names, end to end ------------------------------------------------------ */

static const char *const hostile[] = {"Quo\"te", "with space", "UPPER", "ünïcødé", "semi;colon"};
#define N_HOSTILE (sizeof hostile / sizeof hostile[0])

/* "name" as a SQL identifier (for the test's own setup SQL). */
static char *qi(const char *name)
{
    size_t n = 0;
    char *out = malloc(strlen(name) * 2 + 3);
    out[n++] = '"';
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            out[n++] = '"';
        out[n++] = *p;
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

Test(grants, hostile_schemas_apply_crawl_and_check, .timeout = 300)
{
    char *db = itest_create_db("gr_hostile");
    PGconn *c = itest_connect(db);
    /* User and group with the same name: the group role gets its own. */
    char *user = itest_strf("mm_%s", db);
    char *owner_a = itest_strf("own_a_%s", db);
    char *owner_b = itest_strf("Own\"er b %s", db); /* a hostile owner too */
    char *qa = qi(owner_a), *qb = qi(owner_b);
    itest_sql(c, "CREATE ROLE %s; CREATE ROLE %s", qa, qb);
    for (size_t i = 0; i < N_HOSTILE; i++) {
        char *s = qi(hostile[i]);
        itest_sql(c, "CREATE SCHEMA %s", s);
        itest_sql(c, "CREATE TABLE %s.\"T one\" (id int PRIMARY KEY, \"Odd col\" text)", s);
        itest_sql(c, "CREATE TABLE %s.plain (x int)", s);
        itest_sql(c, "CREATE VIEW %s.v AS SELECT x FROM %s.plain", s, s);
        itest_sql(c, "ALTER TABLE %s.\"T one\" OWNER TO %s", s, i % 2 ? qa : qb);
        free(s);
    }
    /* Out of scope: excluded by a glob, and public (excluded too). */
    itest_sql(c, "CREATE SCHEMA excl_secret; CREATE TABLE excl_secret.hidden (x int)");
    itest_sql(c, "CREATE TABLE public.not_in_scope (x int)");
    /* group: the user's own name */
    char *cfg = config(db, user,
                       itest_strf("    group: %s\n    schemas: { exclude: [\"excl_*\", public] }\n",
                                  user));

    /* The printed SQL names the renamed group role and no password. */
    const char *print[] = {"grants", "test", NULL};
    itest_result r = run_mc(cfg, PW, print);
    expect_status(&r, 0, "grants");
    char *role = itest_strf("%s_readers", user);
    cr_assert(strstr(r.out, role), "%s", r.out);
    cr_assert(strstr(r.out, "PostgreSQL users and groups are roles in one namespace"), "%s", r.out);
    cr_assert(strstr(r.out, "ALTER ROLE"), "%s", r.out);
    cr_assert(strstr(r.out, ":'crawler_password'"), "%s", r.out);
    cr_assert_null(strstr(r.out, "excl_secret"));
    for (size_t i = 0; i < N_HOSTILE; i++) {
        char *s = qi(hostile[i]);
        char *want = itest_strf("GRANT USAGE ON SCHEMA %s TO \"%s\";", s, role);
        cr_assert(strstr(r.out, want), "missing %s in\n%s", want, r.out);
        free(want);
        free(s);
    }
    char *adp = itest_strf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA", qb);
    cr_assert(strstr(r.out, adp), "%s", r.out);
    itest_result_free(&r);

    /* Applied twice: the second run changes nothing and fails nothing. */
    apply_grants(cfg);
    apply_grants(cfg);
    cr_assert_str_eq(itest_sql_value(c, "SELECT count(*) FROM pg_roles WHERE rolname = '%s'", role),
                     "1");

    /* The password went to the server hashed only. */
    char *log = itest_read_file(itest_env("MC_TEST_PGLOG"));
    cr_assert_null(strstr(log, PW), "the crawler's password is in the server log");
    free(log);

    /* The crawler user sees exactly the hostile schemas and their tables. */
    const char *crawl[] = {"crawl", "--json", NULL};
    r = run_mc(cfg, PW, crawl);
    expect_status(&r, 0, "crawl as the crawler user");
    itest_result_free(&r);
    const char *show[] = {"show", "test", "--json", NULL};
    r = run_mc(cfg, PW, show);
    expect_status(&r, 0, "show");
    json_t *doc = itest_parse_json(r.out);
    json_t *schemas = json_object_get(doc, "schemas");
    cr_assert_eq(json_array_size(schemas), N_HOSTILE, "%s", r.out);
    for (size_t i = 0; i < N_HOSTILE; i++) {
        bool found = false;
        size_t k;
        json_t *s;
        json_array_foreach(schemas, k, s) {
            if (strcmp(json_string_value(json_object_get(s, "name")), hostile[i]) == 0) {
                found = true;
                cr_assert_eq(json_integer_value(json_object_get(s, "containers")), 3, "%s",
                             hostile[i]);
            }
        }
        cr_assert(found, "schema %s not crawled: %s", hostile[i], r.out);
    }
    json_decref(doc);
    itest_result_free(&r);

    /* check passes: every step ok, in text and JSON. */
    json_t *ds = check_json(cfg, PW, 0);
    expect_all_ok(ds);
    cr_assert_str_eq(status_of(item(ds, "usage", "semi;colon")), "ok");
    json_t *sel = item(ds, "select", "ünïcødé");
    cr_assert_eq(json_integer_value(json_object_get(sel, "total")), 3);
    json_decref(ds);
    const char *check[] = {"check", NULL};
    r = run_mc(cfg, PW, check);
    expect_status(&r, 0, "check");
    /* not a terminal: ASCII marks */
    cr_assert(strstr(r.out, "  ok   authenticate: "), "%s", r.out);
    cr_assert(strstr(r.out, "all good"), "%s", r.out);
    itest_result_free(&r);
    PQfinish(c);
}

/* ---- default privileges per owner --------------------------------------------------- */

Test(grants, tables_of_other_owners_created_later_are_readable, .timeout = 300)
{
    char *db = itest_create_db("gr_defaults");
    PGconn *c = itest_connect(db);
    char *user = itest_strf("crawler_%s", db);
    char *etl = itest_strf("etl_%s", db), *adhoc = itest_strf("adhoc_%s", db);
    itest_sql(c, "CREATE ROLE %s; CREATE ROLE %s", etl, adhoc);
    itest_sql(c, "CREATE SCHEMA s1; GRANT USAGE, CREATE ON SCHEMA s1 TO %s, %s", etl, adhoc);
    itest_sql(c, "SET ROLE %s; CREATE TABLE s1.t0 (x int); RESET ROLE", etl);
    char *cfg = config(db, user, itest_strf("    group: grp_%s\n    schemas: { include: [s1] }\n", db));
    apply_grants(cfg);

    /* etl creates a table after the grants: the crawler reads it. */
    itest_sql(c, "SET ROLE %s; CREATE TABLE s1.t_new (y int); INSERT INTO s1.t_new VALUES (1); "
                 "RESET ROLE", etl);
    PGconn *crawler = itest_connect_as(db, user, PW);
    cr_assert_str_eq(itest_sql_value(crawler, "SELECT count(*) FROM s1.t_new"), "1");
    json_t *ds = check_json(cfg, PW, 0);
    expect_all_ok(ds);
    json_decref(ds);

    /* An owner the grants did not know about: its table is unreadable, and
     * check says so, with the fix for both problems. */
    itest_sql(c, "SET ROLE %s; CREATE TABLE s1.t_adhoc (z int); RESET ROLE", adhoc);
    PGresult *res = PQexec(crawler, "SELECT * FROM s1.t_adhoc");
    cr_assert_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    cr_assert(strstr(PQresultErrorMessage(res), "permission denied"));
    PQclear(res);
    ds = check_json(cfg, PW, 7);
    json_t *it = item(ds, "select", "s1");
    cr_assert_str_eq(status_of(it), "fail");
    cr_assert_eq(json_integer_value(json_object_get(it, "count")), 1);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(it, "names"), 0)), "t_adhoc");
    it = item(ds, "default_privileges", "s1");
    cr_assert_str_eq(status_of(it), "fail");
    char *want = itest_strf("ALTER DEFAULT PRIVILEGES FOR ROLE \"%s\" IN SCHEMA \"s1\" GRANT "
                            "SELECT ON TABLES TO \"grp_%s\";", adhoc, db);
    cr_assert_str_eq(fix_of(it), want);
    json_decref(ds);

    /* grants again picks the new owner up; check passes. */
    apply_grants(cfg);
    cr_assert_str_eq(itest_sql_value(crawler, "SELECT count(*) FROM s1.t_adhoc"), "0");
    ds = check_json(cfg, PW, 0);
    expect_all_ok(ds);
    json_decref(ds);
    PQfinish(crawler);
    PQfinish(c);
}

/* ---- check: every failure class ------------------------------------------------------- */

/* A database with the grants applied for a crawler user; *cfg_out. */
static char *granted_db(const char *prefix, char **cfg_out, char **user_out)
{
    char *db = itest_create_db(prefix);
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE SCHEMA sales; CREATE TABLE sales.orders (id int); "
                 "CREATE TABLE sales.items (id int); CREATE SCHEMA raw; "
                 "CREATE TABLE raw.events (id int)");
    PQfinish(c);
    char *user = itest_strf("crawler_%s", db);
    char *cfg = config(db, user, itest_strf("    group: grp_%s\n"
                                            "    schemas: { include: [sales, raw] }\n", db));
    apply_grants(cfg);
    *cfg_out = cfg;
    if (user_out)
        *user_out = user;
    return db;
}

Test(check, wrong_password)
{
    char *cfg;
    granted_db("ck_pw", &cfg, NULL);
    json_t *ds = check_json(cfg, "not-the-password", 5);
    cr_assert_str_eq(status_of(item(ds, "reach", NULL)), "ok");
    json_t *it = item(ds, "authenticate", NULL);
    cr_assert_str_eq(status_of(it), "fail");
    cr_assert_eq(json_integer_value(json_object_get(it, "code")), 5);
    cr_assert(strstr(json_string_value(json_object_get(it, "message")),
                     "password authentication failed"));
    cr_assert(strstr(fix_of(it), "verify the user and password"), "%s", fix_of(it));
    cr_assert_str_eq(status_of(item(ds, "server", NULL)), "skip");
    json_decref(ds);
    /* The text form: FAIL and the fix, in ASCII. */
    const char *args[] = {"check", NULL};
    itest_result r = run_mc(cfg, "not-the-password", args);
    expect_status(&r, 5, "check");
    cr_assert(strstr(r.out, "  FAIL authenticate: "), "%s", r.out);
    cr_assert(strstr(r.out, "       fix: verify the user and password"), "%s", r.out);
    itest_result_free(&r);
}

Test(check, missing_user)
{
    char *db = itest_create_db("ck_nouser");
    char *cfg = config(db, itest_strf("nosuch_%s", db), NULL);
    json_t *ds = check_json(cfg, PW, 5);
    json_t *it = item(ds, "authenticate", NULL);
    cr_assert_str_eq(status_of(it), "fail");
    /* PostgreSQL does not say whether the user exists; the fix covers both. */
    cr_assert(strstr(fix_of(it), "exists"), "%s", fix_of(it));
    cr_assert(strstr(fix_of(it), "metacrawl grants test"), "%s", fix_of(it));
    json_decref(ds);
}

Test(check, schema_without_usage)
{
    char *cfg;
    char *db = granted_db("ck_usage", &cfg, NULL);
    PGconn *c = itest_connect(db);
    itest_sql(c, "REVOKE USAGE ON SCHEMA raw FROM grp_%s", db);
    PQfinish(c);
    json_t *ds = check_json(cfg, PW, 7);
    json_t *it = item(ds, "usage", "raw");
    cr_assert_str_eq(status_of(it), "fail");
    cr_assert_eq(json_integer_value(json_object_get(it, "code")), 7);
    char *want = itest_strf("GRANT USAGE ON SCHEMA \"raw\" TO \"grp_%s\";", db);
    cr_assert_str_eq(fix_of(it), want);
    cr_assert_str_eq(status_of(item(ds, "usage", "sales")), "ok");
    json_decref(ds);
}

Test(check, table_without_select)
{
    char *cfg;
    char *db = granted_db("ck_select", &cfg, NULL);
    PGconn *c = itest_connect(db);
    itest_sql(c, "REVOKE SELECT ON sales.items FROM grp_%s", db);
    PQfinish(c);
    json_t *ds = check_json(cfg, PW, 7);
    json_t *it = item(ds, "select", "sales");
    cr_assert_str_eq(status_of(it), "fail");
    cr_assert_eq(json_integer_value(json_object_get(it, "count")), 1);
    cr_assert_eq(json_integer_value(json_object_get(it, "total")), 2);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(it, "names"), 0)), "items");
    char *want = itest_strf("GRANT SELECT ON ALL TABLES IN SCHEMA \"sales\" TO \"grp_%s\";", db);
    cr_assert_str_eq(fix_of(it), want);
    cr_assert(strstr(json_string_value(json_object_get(it, "message")), "no SELECT on 1 of 2"));
    json_decref(ds);
}

/* A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A config whose datastore is at HOST:PORT instead of the harness. */
static char *config_at(const char *host, int port)
{
    char *dir = itest_tmpdir();
    char *cfg = itest_strf("%s/metacrawl.yml", dir);
    itest_write_file(cfg, itest_strf("store: %s/catalog.db\n"
                                     "datastores:\n"
                                     "  - name: test\n"
                                     "    host: %s\n"
                                     "    port: %d\n"
                                     "    database: dev\n"
                                     "    password: ${env:MC_TEST_DS_PASSWORD}\n"
                                     "    sslmode: disable\n"
                                     "    connect_timeout: 5s\n",
                                     dir, host, port));
    return cfg;
}

Test(check, closed_port)
{
    char *cfg = config_at("127.0.0.1", closed_port());
    json_t *ds = check_json(cfg, PW, 4);
    json_t *it = item(ds, "reach", NULL);
    cr_assert_str_eq(status_of(it), "fail");
    cr_assert_eq(json_integer_value(json_object_get(it, "code")), 4);
    cr_assert(strstr(json_string_value(json_object_get(it, "message")), "Connection refused"));
    cr_assert(strstr(fix_of(it), "security group"), "%s", fix_of(it));
    cr_assert(strstr(fix_of(it), "5439"), "%s", fix_of(it));
    cr_assert(strstr(fix_of(it), "paused"), "%s", fix_of(it));
    cr_assert_str_eq(status_of(item(ds, "authenticate", NULL)), "skip");
    json_decref(ds);
}

Test(check, unresolvable_host)
{
    char *cfg = config_at("metacrawl-check-test.invalid", 5439);
    json_t *ds = check_json(cfg, PW, 4);
    json_t *it = item(ds, "reach", NULL);
    cr_assert_str_eq(status_of(it), "fail");
    cr_assert(strstr(fix_of(it), "does not resolve"), "%s", fix_of(it));
    cr_assert(strstr(fix_of(it), "tunnel"), "%s", fix_of(it));
    json_decref(ds);
}

Test(check, highest_code_wins_and_every_datastore_is_checked)
{
    char *cfg;
    char *db = granted_db("ck_multi", &cfg, NULL);
    /* a second datastore that cannot be reached */
    char *text = itest_read_file(cfg);
    itest_write_file(cfg, itest_strf("%s  - name: gone\n    host: 127.0.0.1\n    port: %d\n"
                                     "    database: %s\n    sslmode: disable\n",
                                     text, closed_port(), db));
    const char *args[] = {"check", "--json", NULL};
    itest_result r = run_mc(cfg, PW, args);
    expect_status(&r, 4, "check of two datastores");
    json_t *doc = itest_parse_json(r.out);
    json_t *list = json_object_get(doc, "datastores");
    cr_assert_eq(json_array_size(list), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(list, 0), "exit_code")), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(list, 1), "exit_code")), 4);
    json_decref(doc);
    itest_result_free(&r);
}

Test(check, constant_number_of_statements)
{
    /* 2 schemas and 12 schemas: the same statements, by count. */
    long counts[2];
    for (int k = 0; k < 2; k++) {
        char *db = itest_create_db(k ? "ck_many" : "ck_few");
        PGconn *c = itest_connect(db);
        int n = k ? 12 : 2;
        for (int i = 0; i < n; i++)
            itest_sql(c, "CREATE SCHEMA s%d; CREATE TABLE s%d.a (x int); CREATE TABLE s%d.b (x int)",
                      i, i, i);
        PQfinish(c);
        char *user = itest_strf("crawler_%s", db);
        char *cfg = config(db, user, itest_strf("    group: grp_%s\n", db));
        apply_grants(cfg);
        long before = itest_count_statements_by(db, user);
        json_t *ds = check_json(cfg, PW, 0);
        counts[k] = itest_count_statements_by(db, user) - before;
        /* the catalog step's 5 and the facts step's 1 */
        cr_assert_eq(json_integer_value(json_object_get(ds, "queries")), 6);
        json_decref(ds);
    }
    cr_assert_gt(counts[0], 0);
    cr_assert_eq(counts[0], counts[1], "2 schemas: %ld statements, 12 schemas: %ld", counts[0],
                 counts[1]);
}

/* ---- --apply that fails ------------------------------------------------------------------ */

Test(grants, failed_apply_leaves_nothing_applied)
{
    char *db = itest_create_db("gr_fail");
    PGconn *c = itest_connect(db);
    /* An admin that may create roles and use the schema, but not grant
     * on it: PostgreSQL lets its GRANT succeed with a warning and grant
     * nothing, which --apply treats as the failure it is. */
    char *weak = itest_strf("weak_%s", db);
    itest_sql(c, "CREATE ROLE %s LOGIN CREATEROLE PASSWORD 'weak-admin-pw'", weak);
    itest_sql(c, "CREATE SCHEMA locked; CREATE TABLE locked.t (x int); "
                 "GRANT USAGE ON SCHEMA locked TO %s", weak);
    char *user = itest_strf("crawler_%s", db);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(
        dir, db, user, PW,
        itest_strf("    group: grp_%s\n    schemas: { include: [locked] }\n"
                   "    admin:\n      user: %s\n      password: weak-admin-pw\n",
                   db, weak));
    const char *args[] = {"grants", "test", "--apply", "--password-from", "env:MC_TEST_DS_PASSWORD",
                          NULL};
    itest_result r = run_mc(cfg, PW, args);
    expect_status(&r, 5, "grants --apply as a weak admin");
    cr_assert(strstr(r.out, "GRANT USAGE ON SCHEMA \"locked\""), "%s", r.out);
    cr_assert(strstr(r.out, "--   FAILED: no privileges were granted for \"locked\""), "%s", r.out);
    cr_assert(strstr(r.out, "-- rolled back: nothing was applied"), "%s", r.out);
    cr_assert(strstr(r.err, "--apply failed at statement"), "%s", r.err);
    cr_assert(strstr(r.err, "GRANT USAGE ON SCHEMA \"locked\""), "%s", r.err);
    cr_assert(strstr(r.err, "nothing was applied"), "%s", r.err);
    itest_result_free(&r);
    /* Nothing: not the user, not the group role (created earlier in the
     * same transaction). */
    cr_assert_str_eq(itest_sql_value(c, "SELECT count(*) FROM pg_roles WHERE rolname IN "
                                        "('%s', 'grp_%s')", user, db),
                     "0");

    /* --json says the same, statement by statement. */
    const char *jargs[] = {"grants", "test", "--apply", "--json", "--password-from",
                           "env:MC_TEST_DS_PASSWORD", NULL};
    r = run_mc(cfg, PW, jargs);
    expect_status(&r, 5, "grants --apply --json");
    json_t *doc = itest_parse_json(r.out);
    cr_assert(json_is_false(json_object_get(doc, "applied")), "%s", r.out);
    size_t i;
    json_t *st;
    int failed = 0, ok = 0, not_run = 0;
    json_array_foreach(json_object_get(doc, "statements"), i, st) {
        const char *s = json_string_value(json_object_get(st, "status"));
        failed += strcmp(s, "failed") == 0;
        ok += strcmp(s, "ok") == 0;
        not_run += strcmp(s, "not_run") == 0;
    }
    cr_assert_eq(failed, 1, "%s", r.out);
    cr_assert_gt(ok, 0);
    cr_assert_gt(not_run, 0);
    json_decref(doc);
    itest_result_free(&r);
    cr_assert_str_eq(itest_sql_value(c, "SELECT count(*) FROM pg_roles WHERE rolname IN "
                                        "('%s', 'grp_%s')", user, db),
                     "0");
    PQfinish(c);
}

Test(grants, apply_needs_an_admin_and_a_password_for_a_new_user)
{
    char *db = itest_create_db("gr_needs");
    char *user = itest_strf("crawler_%s", db);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, user, PW, NULL); /* no admin: */
    const char *args[] = {"grants", "test", "--apply", NULL};
    itest_result r = run_mc(cfg, PW, args);
    expect_status(&r, 2, "grants --apply without admin");
    cr_assert(strstr(r.err, "needs an administrator"), "%s", r.err);
    itest_result_free(&r);
    /* Printing as the crawler user, who cannot log in yet: exit 5, and the
     * hint names the ways out. */
    const char *print[] = {"grants", "test", NULL};
    r = run_mc(cfg, PW, print);
    expect_status(&r, 5, "grants as a user that does not exist");
    cr_assert(strstr(r.err, "--schema and --dialect"), "%s", r.err);
    itest_result_free(&r);
    /* With an admin but no password for the user that does not exist. */
    cfg = config(db, user, NULL);
    r = run_mc(cfg, PW, args);
    expect_status(&r, 2, "grants --apply without --password-from");
    cr_assert(strstr(r.err, "--password-from"), "%s", r.err);
    itest_result_free(&r);
}

/* ---- the printed SQL, run by psql ------------------------------------------------------------ */

Test(grants, printed_sql_runs_in_psql)
{
    char *db = itest_create_db("gr_psql");
    PGconn *c = itest_connect(db);
    itest_sql(c, "CREATE SCHEMA \"Mixed Case\"; CREATE TABLE \"Mixed Case\".t (x int)");
    char *user = itest_strf("crawler_%s", db);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, user, PW, itest_strf("    group: grp_%s\n", db));
    /* Offline: no connection, owners named. */
    const char *args[] = {"grants", "test", "--schema", "\"Mixed Case\"", "--dialect", "postgresql",
                          "--owner", "mc_super", NULL};
    itest_result r = run_mc(cfg, PW, args);
    expect_status(&r, 0, "grants offline");
    char *sql = itest_strf("%s/grants.sql", dir);
    itest_write_file(sql, r.out);
    /* --json carries the same script and its statements. */
    const char *jargs[] = {"grants", "test", "--json", "--schema", "\"Mixed Case\"", "--dialect",
                           "postgresql", "--owner", "mc_super", NULL};
    itest_result j = run_mc(cfg, PW, jargs);
    expect_status(&j, 0, "grants --json offline");
    json_t *doc = itest_parse_json(j.out);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "sql")), r.out);
    cr_assert(json_is_null(json_object_get(doc, "applied")));
    cr_assert(json_is_null(json_object_get(doc, "user_exists")));
    cr_assert_str_eq(json_string_value(json_object_get(doc, "group_role")),
                     itest_strf("grp_%s", db));
    json_t *stmts = json_object_get(doc, "statements");
    cr_assert_eq(json_array_size(stmts), 7, "%s", j.out); /* 2 roles, password, member, 2 grants, 1 default */
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(stmts, 6), "kind")),
                     "default_privileges");
    json_decref(doc);
    itest_result_free(&j);
    itest_result_free(&r);
    char *psql = itest_strf("%s/psql", itest_env("MC_TEST_PGBIN"));
    char *pgpw = itest_strf("PGPASSWORD=%s", itest_env("MC_TEST_PGPASSWORD"));
    const char *env[] = {pgpw, NULL};

    /* Without the variable the placeholder is a syntax error: no password
     * is ever set by accident. */
    const char *bare[] = {"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", itest_env("MC_TEST_PGHOST"),
                          "-p", itest_env("MC_TEST_PGPORT"), "-U", itest_env("MC_TEST_PGUSER"),
                          "-d", db, "-1", "-f", sql, NULL};
    r = itest_run_program(psql, bare, env, NULL);
    cr_assert_neq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.err, "syntax error"), "%s", r.err);
    itest_result_free(&r);
    cr_assert_str_eq(itest_sql_value(c, "SELECT count(*) FROM pg_roles WHERE rolname = '%s'", user),
                     "0");

    /* psql sends what it substitutes in clear: a password of this test's own */
    char *var = itest_strf("crawler_password=%s", PSQL_PW);
    const char *with[] = {"-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", var, "-h",
                          itest_env("MC_TEST_PGHOST"), "-p", itest_env("MC_TEST_PGPORT"), "-U",
                          itest_env("MC_TEST_PGUSER"), "-d", db, "-f", sql, NULL};
    for (int round = 0; round < 2; round++) { /* and again: re-runnable */
        r = itest_run_program(psql, with, env, NULL);
        cr_assert_eq(r.status, 0, "round %d: %s%s", round, r.out, r.err);
        itest_result_free(&r);
    }
    PGconn *crawler = itest_connect_as(db, user, PSQL_PW);
    cr_assert_str_eq(itest_sql_value(crawler, "SELECT count(*) FROM \"Mixed Case\".t"), "0");
    PQfinish(crawler);
    json_t *ds = check_json(cfg, PSQL_PW, 0);
    expect_all_ok(ds);
    json_decref(ds);
    PQfinish(c);
}

/* ---- the Redshift dialect, against the CI's Redshift shim ----------------------------------- */

/*
 * tests/integration/redshift/shim.sql makes PostgreSQL answer like Redshift
 * for roles enrolled in it (docs/redshift.md).  PostgreSQL also accepts
 * Redshift's CREATE USER ... PASSWORD 'md5...', CREATE GROUP, ALTER GROUP
 * ... ADD USER, GRANT ... TO GROUP and ALTER DEFAULT PRIVILEGES FOR USER, so
 * grants --apply and check run their Redshift statements for real here.
 * The shim also has pg_external_schema and pg_default_acl with Redshift's
 * defacluser column and its visibility rule (a regular user sees only its
 * own rows).
 */
static void run_sql_file(PGconn *c, const char *name)
{
    char *path = itest_strf("%s/tests/integration/redshift/%s", itest_env("MC_SOURCE_ROOT"), name);
    itest_sql(c, "%s", itest_read_file(path));
    free(path);
}

Test(redshift, grants_apply_and_check_in_the_redshift_dialect, .timeout = 300)
{
    char *db = itest_create_db("gr_rs");
    PGconn *c = itest_connect(db);
    run_sql_file(c, "shim.sql");
    char *etl = itest_strf("etl_%s", db);
    itest_sql(c, "CREATE ROLE %s", etl);
    itest_sql(c, "CREATE SCHEMA sales; CREATE TABLE sales.orders (id int); "
                 "ALTER TABLE sales.orders OWNER TO %s; "
                 "CREATE SCHEMA \"semi;colon ü\"; CREATE TABLE \"semi;colon ü\".t (x int); "
                 "CREATE SCHEMA spectrum; "
                 "INSERT INTO rs_fixture.external_schemas VALUES ('spectrum', 'spectrumdb', NULL)",
                 etl);
    /* The administrator sees Redshift too (in this database only). */
    itest_sql(c, "SELECT rs_fixture.enrol('%s')", itest_env("MC_TEST_PGUSER"));
    char *user = itest_strf("crawler_%s", db);
    char *cfg = config(db, user, itest_strf("    group: grp_%s\n    schemas: { exclude: [public] }\n",
                                            db));

    const char *print[] = {"grants", "test", NULL};
    itest_result r = run_mc(cfg, PW, print);
    expect_status(&r, 0, "grants on Redshift");
    cr_assert(strstr(r.out, "-- metacrawl grants for datastore 'test': Amazon Redshift"), "%s",
              r.out);
    char *want = itest_strf("\nCREATE USER \"%s\" PASSWORD :'crawler_password';\n", user);
    cr_assert(strstr(r.out, want), "%s", r.out);
    want = itest_strf("\nCREATE GROUP \"grp_%s\";\nALTER GROUP \"grp_%s\" ADD USER \"%s\";\n", db,
                      db, user);
    cr_assert(strstr(r.out, want), "%s", r.out);
    want = itest_strf("GRANT USAGE ON SCHEMA \"spectrum\" TO GROUP \"grp_%s\";", db);
    cr_assert(strstr(r.out, want), "%s", r.out);
    cr_assert_null(strstr(r.out, "IN SCHEMA \"spectrum\""), "%s", r.out);
    want = itest_strf("GRANT SELECT ON ALL TABLES IN SCHEMA \"semi;colon ü\" TO GROUP \"grp_%s\";",
                      db);
    cr_assert(strstr(r.out, want), "%s", r.out);
    want = itest_strf("ALTER DEFAULT PRIVILEGES FOR USER \"%s\" IN SCHEMA \"sales\", "
                      "\"semi;colon ü\" GRANT SELECT ON TABLES TO GROUP \"grp_%s\";",
                      etl, db);
    cr_assert(strstr(r.out, want), "%s", r.out);
    itest_result_free(&r);

    /* --apply: the Redshift statements, one transaction, the md5 form. */
    apply_grants(cfg);
    char *log = itest_read_file(itest_env("MC_TEST_PGLOG"));
    cr_assert_null(strstr(log, PW), "the crawler's password is in the server log");
    free(log);
    /* Redshift's documented form, "md5" and md5(password || user name),
     * computed here too so the password is not sent in this check either. */
    char *md5 = PQencryptPasswordConn(c, PW, user, "md5");
    cr_assert_not_null(md5);
    cr_assert_str_eq(itest_sql_value(c, "SELECT rolpassword FROM pg_authid WHERE rolname = '%s'",
                                     user),
                     md5);
    PQfreemem(md5);
    cr_assert_str_eq(itest_sql_value(c, "SELECT pg_has_role('%s', 'grp_%s', 'MEMBER')", user, db),
                     "t");
    cr_assert_str_eq(itest_sql_value(c, "SELECT has_schema_privilege('grp_%s', 'spectrum', 'USAGE')",
                                     db),
                     "t");

    /* Again: what exists is commented out and never sent; the password
     * given again is set again. */
    const char *args[] = {"grants", "test", "--apply", "--password-from", "env:MC_TEST_DS_PASSWORD",
                          NULL};
    r = run_mc(cfg, PW, args);
    expect_status(&r, 0, "grants --apply again");
    want = itest_strf("-- CREATE USER \"%s\" PASSWORD [redacted];", user);
    cr_assert(strstr(r.out, want), "%s", r.out);
    want = itest_strf("-- CREATE GROUP \"grp_%s\";", db);
    cr_assert(strstr(r.out, want), "%s", r.out);
    want = itest_strf("-- ALTER GROUP \"grp_%s\" ADD USER", db);
    cr_assert(strstr(r.out, want), "%s", r.out);
    want = itest_strf("\nALTER USER \"%s\" PASSWORD [redacted];\n--   ok: ALTER ROLE", user);
    cr_assert(strstr(r.out, want), "%s", r.out);
    itest_result_free(&r);

    /* check as the crawler, in the Redshift dialect.  (The harness logs in
     * with SCRAM, which an md5-stored password cannot pass: give it one.) */
    itest_sql(c, "ALTER ROLE %s PASSWORD 'Login-Pw-9x'", user);
    itest_sql(c, "SELECT rs_fixture.enrol('%s')", user);
    json_t *ds = check_json(cfg, "Login-Pw-9x", 0);
    cr_assert_str_eq(json_string_value(json_object_get(ds, "dialect")), "redshift");
    /* the catalog step's six, the table facts (facts.c) and the datashare
     * objects query (datashares.c) */
    cr_assert_eq(json_integer_value(json_object_get(ds, "queries")), 8);
    cr_assert_str_eq(status_of(item(ds, "group", NULL)), "ok");
    /* svv_table_info is superuser-only: a warning with the grant, never a failure */
    cr_assert_str_eq(status_of(item(ds, "facts", NULL)), "warn");
    cr_assert(strstr(fix_of(item(ds, "facts", NULL)), "GRANT SELECT ON svv_table_info TO"),
              "%s", fix_of(item(ds, "facts", NULL)));
    cr_assert_str_eq(status_of(item(ds, "usage", "spectrum")), "ok");
    cr_assert_str_eq(status_of(item(ds, "select", "sales")), "ok");
    /* A regular user cannot see etl's default privileges on Redshift. */
    json_t *it = item(ds, "default_privileges", "sales");
    cr_assert_str_eq(status_of(it), "skip");
    cr_assert(strstr(fix_of(it), "grants test --apply"), "%s", fix_of(it));
    json_decref(ds);

    /* Without USAGE the tables are not looked up (that would fail the
     * statement on Redshift), and the fix is Redshift's. */
    itest_sql(c, "REVOKE USAGE ON SCHEMA sales FROM grp_%s", db);
    ds = check_json(cfg, "Login-Pw-9x", 7);
    it = item(ds, "usage", "sales");
    cr_assert_str_eq(status_of(it), "fail");
    want = itest_strf("GRANT USAGE ON SCHEMA \"sales\" TO GROUP \"grp_%s\";", db);
    cr_assert_str_eq(fix_of(it), want);
    cr_assert_str_eq(status_of(item(ds, "select", "sales")), "skip");
    json_decref(ds);
    PQfinish(c);
}
