/*
 * test_pg.c — the PostgreSQL layer (crawler/pg) against the harness's server:
 *
 *  - a failed statement: its error names what failed with the server's
 *    message; at -vv the log says "query failed" and "query was" with the
 *    statement, as pg_dump does; a syntax error is exit 4, a missing
 *    privilege exit 5 with the grants hint;
 *  - a statement that holds a secret is logged only in its redacted form,
 *    failed or not, and `grants --apply` never echoes the password or its
 *    hash when the password statement fails;
 *  - rows stream one at a time (rows before a mid-statement error arrive),
 *    a cursor closed early leaves the session usable, a client timeout
 *    cancels;
 *  - a canceller from another thread cancels the running statement, and
 *    pg_sever cuts a connection that waits;
 *  - connecting: the password is wiped, failures keep their exit codes and
 *    hints, notices go to the log or to a handler, the version probe;
 *  - the layering rule: no file but crawler/pg/pg.c includes libpq.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "pg.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pg_login login_for(const char *db, const char *user)
{
    pg_login l = {
        .name = "pgtest",
        .host = itest_env("MC_TEST_PGHOST"),
        .port = atoi(itest_env("MC_TEST_PGPORT")),
        .database = db,
        .user = user,
        .sslmode = "disable",
        .connect_timeout_s = 10,
    };
    return l;
}

static pg_session *connect_as(const char *db, const char *user, const char *password)
{
    pg_login l = login_for(db, user);
    mc_secret pw = {0};
    mc_secret_set(&pw, password, strlen(password));
    mc_error err = {0};
    pg_session *s = NULL;
    cr_assert_eq(pg_connect(&l, &pw, &s, &err), 0, "%s (%s)", err.message, err.hint);
    cr_assert_null(pw.value, "the password was not wiped");
    return s;
}

static pg_session *connect_super(const char *db)
{
    return connect_as(db, itest_env("MC_TEST_PGUSER"), itest_env("MC_TEST_PGPASSWORD"));
}

/* ---- what the log says -------------------------------------------------------- */

typedef struct capture {
    char *path;
    int saved_fd;
    int saved_threshold;
} capture;

/* Our log (stderr) into a file, at LEVEL, until capture_end. */
static capture capture_start(int level)
{
    capture c = {itest_strf("%s/log", itest_tmpdir()), -1, mc_log_threshold};
    fflush(stderr);
    int fd = open(c.path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    c.saved_fd = dup(2);
    dup2(fd, 2);
    close(fd);
    mc_log_threshold = level;
    return c;
}

static char *capture_end(capture *c)
{
    fflush(stderr);
    dup2(c->saved_fd, 2);
    close(c->saved_fd);
    mc_log_threshold = c->saved_threshold;
    return itest_read_file(c->path);
}

/* ---- a failed statement -------------------------------------------------------- */

Test(statement, a_syntax_error_names_the_statement_at_vv_and_is_exit_4)
{
    pg_session *s = connect_super("postgres");
    capture c = capture_start(MC_LOG_DEBUG);
    mc_error err = {0};
    pg_result *r = pg_query(s, "probe query", "SELEC 1 AS answer", &err);
    char *log = capture_end(&c);
    cr_assert_null(r);
    cr_assert_eq(err.code, MC_EXIT_CONNECT, "%d %s", err.code, err.message);
    cr_assert(strstr(err.message, "datastore 'pgtest': probe query failed: syntax error at or "
                                  "near \"SELEC\""),
              "%s", err.message);
    cr_assert(strstr(err.hint, "-vv"), "%s", err.hint);
    cr_assert_str_eq(pg_last_failure(s)->sqlstate, "42601");
    cr_assert_not(pg_last_failure(s)->lost);
    /* as pg_dump: the failure, then the statement */
    const char *failed = strstr(log, "datastore 'pgtest': query failed: syntax error at or near");
    const char *was = strstr(log, "datastore 'pgtest': query was: SELEC 1 AS answer\n");
    cr_assert(failed && was && failed < was, "%s", log);
    cr_assert(strstr(log, "(SQLSTATE 42601)"), "%s", log);
    /* the session goes on */
    r = pg_query(s, "probe query", "SELECT 41 + 1", &err);
    cr_assert(r);
    cr_assert_str_eq(pg_result_text(r, 0, 0), "42");
    pg_result_free(r);
    pg_close(s);
}

Test(statement, nothing_of_the_statement_below_vv)
{
    pg_session *s = connect_super("postgres");
    capture c = capture_start(MC_LOG_INFO); /* -v */
    mc_error err = {0};
    cr_assert_eq(pg_exec(s, "probe query", "SELEC 'below-vv'", &err), -1);
    char *log = capture_end(&c);
    cr_assert_null(strstr(log, "below-vv"), "%s", log);
    cr_assert_null(strstr(log, "query was"), "%s", log);
    pg_close(s);
}

Test(statement, a_missing_privilege_is_exit_5_with_the_grants_hint)
{
    char *db = itest_create_db("pg_perm");
    PGconn *c = itest_connect(db);
    char *role = itest_strf("nopriv_%s", db);
    itest_sql(c, "CREATE ROLE %s LOGIN PASSWORD 'nopriv-pw'", role);
    itest_sql(c, "CREATE TABLE secret_table (x int); REVOKE ALL ON secret_table FROM PUBLIC");
    pg_session *s = connect_as(db, role, "nopriv-pw");
    mc_error err = {0};
    cr_assert_null(pg_query(s, "table query", "SELECT x FROM secret_table", &err));
    cr_assert_eq(err.code, MC_EXIT_AUTH, "%d %s", err.code, err.message);
    cr_assert(strstr(err.message, "table query failed: permission denied for"), "%s", err.message);
    cr_assert(strstr(err.hint, "metacrawl grants"), "%s", err.hint);
    cr_assert_str_eq(pg_last_failure(s)->sqlstate, "42501");
    pg_close(s);
    PQfinish(c);
}

Test(statement, statement_timeout_is_named)
{
    pg_login l = login_for("postgres", itest_env("MC_TEST_PGUSER"));
    l.statement_timeout_ms = 200;
    mc_secret pw = {0};
    mc_secret_set(&pw, itest_env("MC_TEST_PGPASSWORD"), strlen(itest_env("MC_TEST_PGPASSWORD")));
    mc_error err = {0};
    pg_session *s = NULL;
    cr_assert_eq(pg_connect(&l, &pw, &s, &err), 0, "%s", err.message);
    cr_assert_eq(pg_exec(s, "statement timeout", "SET statement_timeout = 200", &err), 0);
    cr_assert_eq(pg_exec(s, "slow query", "SELECT pg_sleep(5)", &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONNECT);
    cr_assert(strstr(err.message, "(it ran longer than statement_timeout, 200 ms)"), "%s",
              err.message);
    cr_assert(strstr(err.hint, "-vv"), "%s", err.hint);
    pg_close(s);
}

Test(statement, parameters_and_getters)
{
    pg_session *s = connect_super("postgres");
    mc_error err = {0};
    const char *params[] = {"41", NULL};
    pg_result *r = pg_query_params(s, "params", "SELECT $1::int + 1 AS n, $2::text IS NULL AS "
                                   "isnull, $2::text AS nothing, 'x' AS x", 2, params, &err);
    cr_assert(r, "%s", err.message);
    cr_assert_eq(pg_result_rows(r), 1);
    cr_assert_eq(pg_result_columns(r), 4);
    cr_assert_eq(pg_result_column(r, "isnull"), 1);
    cr_assert_eq(pg_result_column(r, "nosuch"), -1);
    cr_assert_eq(pg_result_int(r, 0, 0), 42);
    cr_assert(pg_result_bool(r, 0, 1));
    cr_assert(pg_result_null(r, 0, 2));
    cr_assert_str_eq(pg_result_text(r, 0, 2), "");
    cr_assert_not(pg_result_bool(r, 0, 2));
    cr_assert_eq(pg_result_int(r, 0, 2), 0);
    cr_assert_str_eq(pg_result_command(r), "SELECT 1");
    pg_result_free(r);
    char *lit = pg_escape_literal(s, "it's");
    cr_assert_str_eq(lit, "'it''s'");
    free(lit);
    cr_assert_eq(pg_n_statements(s), 1);
    pg_close(s);
}

/* ---- secrets -------------------------------------------------------------------- */

Test(secret, a_statement_with_a_secret_is_logged_redacted_only)
{
    pg_session *s = connect_super("postgres");
    capture c = capture_start(MC_LOG_DEBUG);
    mc_error err = {0};
    /* fails: no such role */
    pg_result *r = pg_query_secret(s, "apply",
                                   "ALTER ROLE no_such_role_pg PASSWORD 'md5-very-secret-hash'",
                                   "ALTER ROLE no_such_role_pg PASSWORD [redacted]", &err);
    cr_assert_null(r);
    /* succeeds */
    r = pg_query_secret(s, "apply", "SELECT 'another-secret-value' IS NOT NULL",
                        "SELECT [redacted] IS NOT NULL", &err);
    char *log = capture_end(&c);
    cr_assert(r);
    pg_result_free(r);
    cr_assert_null(strstr(log, "very-secret"), "%s", log);
    cr_assert_null(strstr(log, "another-secret"), "%s", log);
    cr_assert_null(strstr(err.message, "very-secret"), "%s", err.message);
    cr_assert(strstr(log, "query was: ALTER ROLE no_such_role_pg PASSWORD [redacted]"), "%s", log);
    cr_assert(strstr(log, "apply: SELECT [redacted] IS NOT NULL"), "%s", log);
    pg_close(s);
}

/* grants --apply whose password statement fails: the admin may not alter a
 * superuser.  Neither the password nor its hash is printed or logged. */
Test(secret, grants_apply_never_echoes_the_password_statement)
{
    char *db = itest_create_db("pg_grants");
    PGconn *c = itest_connect(db);
    char *weak = itest_strf("weak_%s", db);
    char *user = itest_strf("crawler_%s", db);
    itest_sql(c, "CREATE ROLE %s LOGIN CREATEROLE PASSWORD 'weak-admin-pw'", weak);
    itest_sql(c, "CREATE ROLE %s LOGIN SUPERUSER PASSWORD 'old-pw'", user);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(
        dir, db, user, "New-Secret-Pw-7",
        itest_strf("    group: grp_%s\n    admin:\n      user: %s\n      password: weak-admin-pw\n",
                   db, weak));
    const char *argv[] = {"-vv", "-c", cfg, "grants", "test", "--apply", "--password-from",
                          "env:MC_TEST_DS_PASSWORD", NULL};
    const char *env[] = {"MC_TEST_DS_PASSWORD=New-Secret-Pw-7", NULL};
    itest_result r = itest_run(argv, env, NULL);
    cr_assert_eq(r.status, 5, "exit %d\n%s\n%s", r.status, r.out, r.err);
    cr_assert(strstr(r.out, "PASSWORD [redacted];\n--   FAILED: "), "%s", r.out);
    cr_assert(strstr(r.err, "query was: ALTER ROLE"), "%s", r.err);
    cr_assert(strstr(r.err, "PASSWORD [redacted]"), "%s", r.err);
    const char *never[] = {"New-Secret-Pw-7", "SCRAM-SHA-256$", "'md5", NULL};
    for (int i = 0; never[i]; i++) {
        cr_assert_null(strstr(r.out, never[i]), "%s on stdout: %s", never[i], r.out);
        cr_assert_null(strstr(r.err, never[i]), "%s on stderr: %s", never[i], r.err);
    }
    itest_result_free(&r);
    PQfinish(c);
}

/* ---- rows ------------------------------------------------------------------------ */

/* A session for streaming rows: after the version probe, PostgreSQL's
 * rows come through COPY (CSV); without it, in single-row mode, the way
 * they do on Redshift.  Every rows test runs both. */
static pg_session *connect_rows(bool copy)
{
    pg_session *s = connect_super("postgres");
    mc_error err = {0};
    if (copy)
        cr_assert_eq(pg_detect(s, &err), 0, "%s", err.message);
    return s;
}

/* What CSV must quote, and NULL against the empty string, come back as the
 * server had them; the column names of the header too. */
static void csv_values_round_trip_in(bool copy)
{
    pg_session *s = connect_rows(copy);
    mc_error err = {0};
    pg_rows *rows = pg_rows_open(
        s, "values",
        "SELECT * FROM (VALUES (1, 'a,b', NULL::text), (2, '', 'say \"hi\"'),"
        " (3, E'two\\nlines\\r\\n', '\\N'), (4, ',', '\"\"')) v(n, \"odd, name\", t) ORDER BY n",
        0, &err);
    cr_assert(rows, "%s", err.message);
    const char *want_a[] = {"a,b", "", "two\nlines\r\n", ","};
    const char *want_t[] = {NULL, "say \"hi\"", "\\N", "\"\""};
    int n = 0;
    while (pg_rows_next(rows, &err) > 0) {
        int ca = pg_rows_column(rows, "odd, name"), ct = pg_rows_column(rows, "t");
        cr_assert(ca >= 0 && ct >= 0);
        cr_assert_eq(pg_rows_int(rows, pg_rows_column(rows, "n")), n + 1);
        cr_assert(!pg_rows_null(rows, ca));
        cr_assert_str_eq(pg_rows_text(rows, ca), want_a[n]);
        cr_assert_eq(pg_rows_null(rows, ct), want_t[n] == NULL, "row %d", n + 1);
        cr_assert_str_eq(pg_rows_text(rows, ct), want_t[n] ? want_t[n] : "");
        n++;
    }
    cr_assert_eq(n, 4, "%s", err.message);
    pg_rows_close(rows);
    pg_close(s);
}

Test(rows, csv_values_round_trip)
{
    csv_values_round_trip_in(true);
    csv_values_round_trip_in(false);
}

static void stream_every_row_with_nulls_and_booleans_in(bool copy)
{
    pg_session *s = connect_rows(copy);
    mc_error err = {0};
    pg_rows *rows = pg_rows_open(s, "series",
                                 "SELECT g, g % 2 = 0 AS even, CASE WHEN g % 10 <> 0 THEN 'r' || g "
                                 "END AS label FROM generate_series(1, 100000) g",
                                 0, &err);
    cr_assert(rows, "%s", err.message);
    int n = 0, more;
    int c_g = -1, c_even = -1, c_label = -1;
    while ((more = pg_rows_next(rows, &err)) > 0) {
        if (n == 0) {
            c_g = pg_rows_column(rows, "g");
            c_even = pg_rows_column(rows, "even");
            c_label = pg_rows_column(rows, "label");
            cr_assert_eq(pg_rows_column(rows, "nosuch"), -1);
        }
        n++;
        cr_assert_eq(pg_rows_int(rows, c_g), n);
        cr_assert_eq(pg_rows_bool(rows, c_even), n % 2 == 0);
        cr_assert_eq(pg_rows_null(rows, c_label), n % 10 == 0);
        if (n % 10 != 0) {
            char want[16];
            snprintf(want, sizeof want, "r%d", n);
            cr_assert_str_eq(pg_rows_text(rows, c_label), want);
        }
    }
    cr_assert_eq(more, 0, "%s", err.message);
    cr_assert_eq(n, 100000);
    cr_assert_eq(pg_rows_next(rows, &err), 0);
    pg_rows_close(rows);
    cr_assert_eq(pg_exec(s, "after", "SELECT 1", &err), 0, "%s", err.message);
    pg_close(s);
}

Test(rows, stream_every_row_with_nulls_and_booleans)
{
    stream_every_row_with_nulls_and_booleans_in(true);  /* PostgreSQL: COPY */
    stream_every_row_with_nulls_and_booleans_in(false); /* as on Redshift: single-row mode */
}

static void rows_arrive_before_a_later_error_in(bool copy)
{
    pg_session *s = connect_rows(copy);
    capture c = capture_start(MC_LOG_DEBUG);
    mc_error err = {0};
    pg_rows *rows = pg_rows_open(s, "division", "SELECT 10 / (500 - g) FROM "
                                 "generate_series(1, 1000) g", 0, &err);
    cr_assert(rows);
    int n = 0, more;
    while ((more = pg_rows_next(rows, &err)) > 0)
        n++;
    pg_rows_close(rows);
    char *log = capture_end(&c);
    /* one row at a time: the rows before the failing one were read */
    cr_assert_eq(more, -1);
    cr_assert_gt(n, 0);
    cr_assert_lt(n, 500);
    cr_assert(strstr(err.message, "division failed: division by zero"), "%s", err.message);
    cr_assert(strstr(log, copy ? "query was: COPY (SELECT 10 / (500 - g)"
                               : "query was: SELECT 10 / (500 - g)"), "%s", log);
    cr_assert_eq(pg_exec(s, "after", "SELECT 1", NULL), 0);
    pg_close(s);
}

Test(rows, rows_arrive_before_a_later_error)
{
    rows_arrive_before_a_later_error_in(true);  /* PostgreSQL: COPY */
    rows_arrive_before_a_later_error_in(false); /* as on Redshift: single-row mode */
}

static void a_cursor_closed_early_leaves_the_session_usable_in(bool copy)
{
    pg_session *s = connect_rows(copy);
    mc_error err = {0};
    pg_rows *rows = pg_rows_open(s, "series", "SELECT g FROM generate_series(1, 50000) g", 0,
                                 &err);
    cr_assert(rows);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(pg_rows_next(rows, &err), 1);
    pg_rows_close(rows);
    pg_result *r = pg_query(s, "after", "SELECT 'still here'", &err);
    cr_assert(r, "%s", err.message);
    cr_assert_str_eq(pg_result_text(r, 0, 0), "still here");
    pg_result_free(r);
    pg_close(s);
}

Test(rows, a_cursor_closed_early_leaves_the_session_usable)
{
    a_cursor_closed_early_leaves_the_session_usable_in(true);  /* PostgreSQL: COPY */
    a_cursor_closed_early_leaves_the_session_usable_in(false); /* as on Redshift: single-row mode */
}

static void a_client_timeout_cancels_the_statement_in(bool copy)
{
    pg_session *s = connect_rows(copy);
    mc_error err = {0};
    double t0 = now_s();
    pg_rows *rows = pg_rows_open(s, "sleeper", "SELECT pg_sleep(30)", 300, &err);
    cr_assert(rows);
    cr_assert_eq(pg_rows_next(rows, &err), -1);
    cr_assert(pg_rows_cancelled(rows));
    pg_rows_close(rows);
    cr_assert_lt(now_s() - t0, 10.0);
    cr_assert_str_eq(pg_last_failure(s)->sqlstate, "57014");
    cr_assert_eq(pg_exec(s, "after", "SELECT 1", &err), 0);
    pg_close(s);
}

Test(rows, a_client_timeout_cancels_the_statement)
{
    a_client_timeout_cancels_the_statement_in(true);  /* PostgreSQL: COPY */
    a_client_timeout_cancels_the_statement_in(false); /* as on Redshift: single-row mode */
}

/* ---- from another thread ------------------------------------------------------------ */

typedef struct later {
    pg_session *s;
    pg_canceller *c;
} later;

static void *cancel_later(void *arg)
{
    later *l = arg;
    usleep(500 * 1000);
    pg_canceller_cancel(l->c);
    return NULL;
}

static void *sever_later(void *arg)
{
    later *l = arg;
    usleep(500 * 1000);
    pg_sever(l->s);
    return NULL;
}

Test(cancel, a_canceller_from_another_thread_cancels_the_statement)
{
    pg_session *s = connect_super("postgres");
    later l = {s, pg_canceller_new(s)};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, cancel_later, &l), 0);
    mc_error err = {0};
    double t0 = now_s();
    int rc = pg_exec(s, "sleeper", "SELECT pg_sleep(30)", &err);
    pthread_join(t, NULL);
    cr_assert_eq(rc, -1);
    cr_assert_lt(now_s() - t0, 10.0);
    cr_assert_str_eq(pg_last_failure(s)->sqlstate, "57014");
    cr_assert(strstr(err.message, "sleeper failed: canceling statement due to user request"), "%s",
              err.message);
    /* the canceller outlives nothing it needs; the session goes on */
    cr_assert_eq(pg_exec(s, "after", "SELECT 1", &err), 0);
    pg_close(s);
    pg_canceller_cancel(l.c); /* after the session: harmless */
    pg_canceller_free(l.c);
    pg_canceller_free(NULL);
    pg_sever(NULL);
}

Test(cancel, sever_cuts_a_waiting_connection)
{
    pg_session *s = connect_super("postgres");
    later l = {s, NULL};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, sever_later, &l), 0);
    mc_error err = {0};
    double t0 = now_s();
    int rc = pg_exec(s, "sleeper", "SELECT pg_sleep(30)", &err);
    pthread_join(t, NULL);
    cr_assert_eq(rc, -1);
    cr_assert_lt(now_s() - t0, 10.0);
    cr_assert(pg_lost(s));
    cr_assert(pg_last_failure(s)->lost);
    cr_assert_eq(err.code, MC_EXIT_CONNECT);
    cr_assert(strstr(err.hint, "connection to the server was lost"), "%s", err.hint);
    pg_close(s);
}

/* ---- connecting ----------------------------------------------------------------------- */

Test(connect, a_wrong_password_is_exit_5_and_wiped)
{
    pg_login l = login_for("postgres", itest_env("MC_TEST_PGUSER"));
    mc_secret pw = {0};
    mc_secret_set(&pw, "not-the-password", 16);
    mc_error err = {0};
    pg_session *s = NULL;
    cr_assert_eq(pg_connect(&l, &pw, &s, &err), -1);
    cr_assert_null(s);
    cr_assert_null(pw.value);
    cr_assert_eq(err.code, MC_EXIT_AUTH);
    char *want = itest_strf("cannot connect to datastore 'pgtest' at %s:%s: password "
                            "authentication failed", l.host, itest_env("MC_TEST_PGPORT"));
    cr_assert(strstr(err.message, want), "%s", err.message);
    cr_assert(strstr(err.hint, "verify the user and password"), "%s", err.hint);
    cr_assert_null(strstr(err.message, "not-the-password"));
}

Test(connect, nothing_listening_is_exit_4)
{
    pg_login l = login_for("postgres", "nobody");
    l.port = 1; /* nothing listens on tcpmux */
    mc_error err = {0};
    pg_session *s = NULL;
    cr_assert_eq(pg_connect(&l, NULL, &s, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONNECT);
    cr_assert(strstr(err.message, "Connection refused"), "%s", err.message);
    cr_assert(strstr(err.hint, "security group"), "%s", err.hint);
    cr_assert_null(strstr(err.message, "connection to server"), "%s", err.message);
}

Test(connect, application_name_version_probe_and_statement_count)
{
    pg_session *s = connect_super("postgres");
    mc_error err = {0};
    cr_assert_null(pg_dialect(s));
    cr_assert_eq(pg_detect(s, &err), 0, "%s", err.message);
    cr_assert_eq(pg_detect(s, &err), 0); /* once per session */
    cr_assert_eq(pg_n_statements(s), 1);
    cr_assert_str_eq(pg_dialect(s), "postgresql");
    cr_assert(strncmp(pg_server_version(s), "PostgreSQL ", 11) == 0, "%s", pg_server_version(s));
    cr_assert_geq(pg_server_version_num(s), 100000);
    pg_result *r = pg_query(s, "settings", "SELECT current_setting('application_name'), "
                            "current_database()", &err);
    cr_assert(r);
    cr_assert_str_eq(pg_result_text(r, 0, 0), "metacrawl");
    cr_assert_str_eq(pg_result_text(r, 0, 1), pg_database(s));
    pg_result_free(r);
    char v[32];
    pg_lib_version(v, sizeof v);
    cr_assert(strchr(v, '.'), "%s", v);
    pg_close(s);
    pg_close(NULL);
}

typedef struct heard {
    char sev[32], msg[128], state[8];
    int n;
} heard;

static void hear(void *arg, const char *sev, const char *msg, const char *state)
{
    heard *h = arg;
    snprintf(h->sev, sizeof h->sev, "%s", sev ? sev : "");
    snprintf(h->msg, sizeof h->msg, "%s", msg ? msg : "");
    snprintf(h->state, sizeof h->state, "%s", state ? state : "");
    h->n++;
}

Test(connect, notices_go_to_the_log_or_to_a_handler)
{
    pg_session *s = connect_super("postgres");
    mc_error err = {0};
    capture c = capture_start(MC_LOG_INFO);
    cr_assert_eq(pg_exec(s, "notice", "DO $$BEGIN RAISE NOTICE 'hello from the server'; END$$",
                         &err), 0, "%s", err.message);
    heard h = {0};
    pg_set_notice_handler(s, hear, &h);
    cr_assert_eq(pg_exec(s, "notice", "DO $$BEGIN RAISE WARNING 'to the handler'; END$$", &err),
                 0);
    pg_set_notice_handler(s, NULL, NULL);
    cr_assert_eq(pg_exec(s, "notice", "DO $$BEGIN RAISE NOTICE 'back in the log'; END$$", &err),
                 0);
    char *log = capture_end(&c);
    cr_assert(strstr(log, "datastore 'pgtest': the server says: NOTICE:  hello from the server"),
              "%s", log);
    cr_assert(strstr(log, "back in the log"), "%s", log);
    cr_assert_null(strstr(log, "to the handler"), "%s", log);
    cr_assert_eq(h.n, 1);
    cr_assert_str_eq(h.sev, "WARNING");
    cr_assert_str_eq(h.msg, "to the handler");
    cr_assert_str_eq(h.state, "01000");
    pg_close(s);
}

/* ---- layering --------------------------------------------------------------------------- */

/* Files under DIR (recursively) with a line that includes a libpq header. */
static void find_libpq_includes(const char *root, const char *dir, char **found)
{
    char *path = itest_strf("%s/%s", root, dir);
    DIR *d = opendir(path);
    cr_assert(d, "cannot open %s", path);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *rel = itest_strf("%s/%s", dir, e->d_name);
        char *full = itest_strf("%s/%s", root, rel);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            find_libpq_includes(root, rel, found);
            continue;
        }
        size_t n = strlen(rel);
        if (n < 2 || (strcmp(rel + n - 2, ".c") != 0 && strcmp(rel + n - 2, ".h") != 0))
            continue;
        char *text = itest_read_file(full);
        for (const char *l = text; *l;) {
            size_t len = strcspn(l, "\n");
            const char *p = l;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '#') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                if (strncmp(p, "include", 7) == 0 && memmem(p, len - (size_t)(p - l), "libpq", 5))
                    *found = itest_strf("%s %s", *found, rel);
            }
            l += len + (l[len] == '\n');
        }
    }
    closedir(d);
}

Test(layering, only_crawler_pg_includes_libpq)
{
    const char *root = itest_env("MC_SOURCE_ROOT");
    char *found = itest_strf("%s", "");
    const char *dirs[] = {"crawler", "store", "tunnel", "schedules", NULL};
    for (int i = 0; dirs[i]; i++)
        find_libpq_includes(root, dirs[i], &found);
    cr_assert_str_eq(found, " crawler/pg/pg.c", "libpq is included by:%s", found);
}
