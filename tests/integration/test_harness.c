/*
 * test_harness.c — the integration harness itself: the throwaway server is
 * there and behaves as the other tests assume (superuser, scratch databases,
 * scram over TCP, every statement logged), and the itest helpers capture what
 * a program does (exit status, both streams, stdin, environment, signals).
 */
#include "itest.h"

#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>
#include <yaml.h>

Test(harness, environment_is_exported)
{
    const char *vars[] = {"MC_TEST_PGHOST", "MC_TEST_PGPORT", "MC_TEST_PGUSER",
                          "MC_TEST_PGPASSWORD", "MC_TEST_PGLOG", "MC_TEST_PGBIN",
                          "MC_TEST_TMP", "MC_BINARY", NULL};
    for (const char **v = vars; *v; v++)
        itest_env(*v);
    cr_assert_str_eq(itest_env("MC_TEST_PGHOST"), "127.0.0.1");
    cr_assert_neq(strcmp(itest_env("MC_TEST_PGPORT"), "5432"), 0,
                  "the harness must not use the distribution's port");
    cr_assert_eq(access(itest_env("MC_TEST_PGLOG"), R_OK), 0);
    cr_assert_eq(access(itest_env("MC_BINARY"), X_OK), 0);
    char *psql = itest_strf("%s/psql", itest_env("MC_TEST_PGBIN"));
    cr_assert_eq(access(psql, X_OK), 0, "%s is not executable", psql);
    cr_assert_null(getenv("PGHOST"), "the caller's libpq environment leaked in");
}

/* Nothing of the machine's or the caller's session takes part (docs/testing.md,
 * "Hermetic"): the pinned zone data, the C locale, UTC, a HOME of the run's own,
 * no ssh-agent and no XDG config directory. */
Test(harness, environment_is_hermetic)
{
    const char *tzdir = itest_env("TZDIR");
    char *stamp = itest_strf("%s/../zoneinfo.stamp", tzdir);
    cr_assert_eq(access(stamp, R_OK), 0, "TZDIR=%s is not the pinned zone data", tzdir);
    char *berlin = itest_strf("%s/Europe/Berlin", tzdir);
    cr_assert_eq(access(berlin, R_OK), 0, "%s is missing", berlin);
    cr_assert_str_eq(itest_env("LC_ALL"), "C");
    cr_assert_str_eq(itest_env("TZ"), "UTC");
    const char *home = itest_env("HOME");
    cr_assert(strstr(home, "/metacrawl-itest."), "HOME=%s is not the run's own", home);
    cr_assert_null(getenv("SSH_AUTH_SOCK"), "the caller's ssh-agent leaked in");
    cr_assert_null(getenv("XDG_CONFIG_HOME"), "the caller's XDG_CONFIG_HOME leaked in");
    cr_assert_null(getenv("JOURNAL_STREAM"), "the caller's journald stream leaked in");
    mode_t old = umask(0);
    umask(old);
    cr_assert_eq(old, 022, "umask %03o, not the harness's 022", (unsigned)old);
}

Test(harness, superuser_and_scratch_databases)
{
    char *db = itest_create_db("Harness-Super!");
    cr_assert_eq(strncmp(db, "harnesssuper_", 13), 0, "unexpected name %s", db);
    char *other = itest_create_db("harness_super");
    cr_assert_str_neq(db, other);

    PGconn *c = itest_connect(db);
    cr_assert_str_eq(itest_sql_value(c, "SELECT current_database()"), db);
    cr_assert_str_eq(itest_sql_value(c, "SELECT rolsuper::text FROM pg_roles "
                                        "WHERE rolname = current_user"), "true");
    itest_sql(c, "CREATE TABLE t (id int PRIMARY KEY, name text);"
                 "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (%d, 'c')", 3);
    cr_assert_str_eq(itest_sql_value(c, "SELECT count(*) FROM t WHERE id > %d", 0), "3");
    cr_assert_null(itest_sql_value(c, "SELECT NULL::text"));
    PQfinish(c);
}

Test(harness, password_role_over_tcp_with_scram)
{
    char *db = itest_create_db("harness_scram");
    char *role = itest_strf("itest_reader_%ld", (long)getpid());
    PGconn *su = itest_connect(db);
    itest_sql(su, "CREATE ROLE \"%s\" LOGIN PASSWORD 'it''s a secret'", role);
    cr_assert_str_eq(itest_sql_value(su, "SELECT left(rolpassword, 14) FROM pg_authid "
                                         "WHERE rolname = '%s'", role), "SCRAM-SHA-256$");

    PGconn *c = itest_connect_as(db, role, "it's a secret");
    cr_assert_str_eq(itest_sql_value(c, "SELECT current_user"), role);
    cr_assert_str_eq(itest_sql_value(c, "SELECT host(inet_server_addr())"), "127.0.0.1");
    PQfinish(c);

    char *err = NULL;
    cr_assert_null(itest_try_connect(db, role, "wrong", &err));
    cr_assert(strstr(err, "password authentication failed"), "unexpected error: %s", err);
    cr_assert_null(itest_try_connect(db, role, NULL, &err));
    cr_assert_not_null(err);
    PQfinish(su);
}

Test(harness, run_captures_status_and_both_streams)
{
    const char *argv[] = {"-c", "printf 'to out\\n'; printf 'to err' >&2; exit 3", NULL};
    itest_result r = itest_run_program("sh", argv, NULL, NULL);
    cr_assert_eq(r.status, 3);
    cr_assert_str_eq(r.out, "to out\n");
    cr_assert_str_eq(r.err, "to err");
    itest_result_free(&r);

    const char *quiet[] = {"-c", "exit 0", NULL};
    r = itest_run_program("sh", quiet, NULL, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(r.out, "");
    cr_assert_str_eq(r.err, "");
    itest_result_free(&r);
}

Test(harness, run_reads_large_output_on_both_streams)
{
    /* Both streams far beyond a pipe's buffer, written at the same time. */
    const char *argv[] = {"-c", "yes out | head -c 3000000 & yes err | head -c 2000000 >&2; wait",
                          NULL};
    itest_result r = itest_run_program("sh", argv, NULL, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(strlen(r.out), 3000000);
    cr_assert_eq(strlen(r.err), 2000000);
    cr_assert_eq(strncmp(r.out, "out\nout\n", 8), 0);
    itest_result_free(&r);
}

Test(harness, run_feeds_stdin)
{
    size_t n = 1500000;
    char *text = malloc(n + 1);
    cr_assert_not_null(text);
    for (size_t i = 0; i < n; i++)
        text[i] = (char)('a' + i % 26);
    text[n] = '\0';
    const char *cat[] = {NULL};
    itest_result r = itest_run_program("cat", cat, NULL, text);
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(r.out, text);
    itest_result_free(&r);

    /* A child that never reads its stdin neither blocks nor kills the test. */
    const char *ignore[] = {"-c", "exec 0<&-; echo done", NULL};
    r = itest_run_program("sh", ignore, NULL, text);
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(r.out, "done\n");
    itest_result_free(&r);

    /* NULL: stdin is /dev/null, so a reader sees end of file at once. */
    const char *wc[] = {"-c", NULL};
    r = itest_run_program("wc", wc, NULL, NULL);
    cr_assert_eq(atoi(r.out), 0);
    itest_result_free(&r);
    free(text);
}

Test(harness, run_lays_env_extra_over_the_environment)
{
    setenv("ITEST_INHERITED", "old", 1);
    setenv("ITEST_GONE", "still here", 1);
    setenv("ITEST_KEPT", "kept", 1);
    const char *env[] = {"ITEST_INHERITED=new", "ITEST_NEW=x", "ITEST_GONE", NULL};
    const char *argv[] = {"-c",
                          "echo \"$ITEST_INHERITED|$ITEST_NEW|${ITEST_GONE-unset}|$ITEST_KEPT\"; "
                          "env | grep -c '^ITEST_INHERITED='",
                          NULL};
    itest_result r = itest_run_program("sh", argv, env, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(r.out, "new|x|unset|kept\n1\n");
    itest_result_free(&r);
}

Test(harness, run_reports_a_signal_as_128_plus_its_number)
{
    const char *argv[] = {"-c", "kill -TERM $$", NULL};
    itest_result r = itest_run_program("sh", argv, NULL, NULL);
    cr_assert_eq(r.status, 128 + SIGTERM);
    itest_result_free(&r);
}

Test(harness, run_metacrawl_captures_a_failure)
{
    const char *argv[] = {"--no-such-option-for-the-harness", NULL};
    itest_result r = itest_run(argv, NULL, NULL);
    if (r.status == 0 && !*r.out && !*r.err)
        cr_skip_test("metacrawl ignores its arguments (a stub): nothing to capture yet");
    cr_assert_neq(r.status, 0, "a bad option exited 0; stdout: %s; stderr: %s", r.out, r.err);
    cr_assert(*r.out || *r.err, "status %d without a word on stdout or stderr", r.status);
    itest_result_free(&r);
}

Test(harness, spawn_then_signal_then_wait)
{
    char *dir = itest_tmpdir();
    char *out = itest_strf("%s/spawned.out", dir);
    const char *argv[] = {"-c", "echo started; echo to-stderr >&2; exec sleep 60", NULL};
    pid_t pid = itest_spawn_program("sh", argv, NULL, out);
    cr_assert_gt(pid, 0);

    char *text = NULL;
    for (int i = 0; i < 1000; i++) { /* up to 10 s */
        free(text);
        text = itest_read_file(out);
        if (strstr(text, "to-stderr"))
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    cr_assert_str_eq(text, "started\nto-stderr\n");
    cr_assert_eq(kill(pid, SIGTERM), 0);
    cr_assert_eq(itest_wait(pid), 128 + SIGTERM);
}

Test(harness, statements_are_counted_per_database_and_user)
{
    char *db = itest_create_db("harness_log");
    long pid = (long)getpid();
    PGconn *c = itest_connect(db);
    cr_assert_eq(itest_count_statements(db), 0, "a fresh database has no statements");

    itest_sql(c, "SELECT 'itest-marker-a-%ld'", pid);
    itest_sql(c, "SELECT 1,\n  'itest-marker-b-%ld'", pid); /* spans two log lines */
    char *marker_c = itest_strf("itest-marker-c-%ld", pid);
    const char *params[] = {marker_c};
    PGresult *r = PQexecParams(c, "SELECT $1::text", 1, NULL, params, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    PQclear(r);

    cr_assert_eq(itest_count_statements(db), 3);
    cr_assert_eq(itest_count_statements_by(db, itest_env("MC_TEST_PGUSER")), 3);
    cr_assert_eq(itest_count_statements_by(db, "somebody_else"), 0);
    cr_assert_eq(itest_count_log(itest_strf("itest-marker-a-%ld", pid)), 1);
    cr_assert_eq(itest_count_log(itest_strf("itest-marker-b-%ld", pid)), 1);
    /* Extended protocol: the log shows "execute <unnamed>: SELECT $1::text". */
    cr_assert_eq(itest_count_log("SELECT $1::text"), 1);
    PQfinish(c);
}

/* The value of KEY in mapping NODE of DOC, or NULL. */
static yaml_node_t *yaml_get(yaml_document_t *doc, yaml_node_t *node, const char *key)
{
    if (!node || node->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
         p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static const char *yaml_str(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

Test(harness, config_has_one_datastore_on_the_harness_server)
{
    char *dir = itest_tmpdir();
    cr_assert_eq(strncmp(dir, itest_env("MC_TEST_TMP"), strlen(itest_env("MC_TEST_TMP"))), 0);
    char *path = itest_write_config(dir, "db_1", "us\"er", "pw",
                                    "    schemas: { include: [public, \"sales_*\"] }\n"
                                    "    fail_safe: { max_removed_pct: 20 }");
    char *text = itest_read_file(path);
    cr_assert(strstr(text, "password: ${env:MC_TEST_DS_PASSWORD}\n"), "%s", text);
    cr_assert(!strstr(text, "pw\n"), "the password itself must not be in the file");

    yaml_parser_t parser;
    yaml_document_t doc;
    cr_assert(yaml_parser_initialize(&parser));
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    cr_assert(yaml_parser_load(&parser, &doc), "not YAML: %s\n%s", parser.problem, text);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    char *store = itest_strf("%s/catalog.db", dir);
    cr_assert_str_eq(yaml_str(yaml_get(&doc, root, "store")), store);
    yaml_node_t *list = yaml_get(&doc, root, "datastores");
    cr_assert(list && list->type == YAML_SEQUENCE_NODE);
    cr_assert_eq(list->data.sequence.items.top - list->data.sequence.items.start, 1);
    yaml_node_t *ds = yaml_document_get_node(&doc, *list->data.sequence.items.start);
    cr_assert_str_eq(yaml_str(yaml_get(&doc, ds, "name")), "test");
    cr_assert_str_eq(yaml_str(yaml_get(&doc, ds, "host")), "127.0.0.1");
    cr_assert_str_eq(yaml_str(yaml_get(&doc, ds, "port")), itest_env("MC_TEST_PGPORT"));
    cr_assert_str_eq(yaml_str(yaml_get(&doc, ds, "database")), "db_1");
    cr_assert_str_eq(yaml_str(yaml_get(&doc, ds, "user")), "us\"er");
    cr_assert_str_eq(yaml_str(yaml_get(&doc, ds, "sslmode")), "disable");
    yaml_node_t *fs = yaml_get(&doc, ds, "fail_safe");
    cr_assert_str_eq(yaml_str(yaml_get(&doc, fs, "max_removed_pct")), "20");
    cr_assert_not_null(yaml_get(&doc, yaml_get(&doc, ds, "schemas"), "include"));
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);

    char *bare = itest_read_file(itest_write_config(dir, "db_1", "u", NULL, NULL));
    cr_assert_null(strstr(bare, "password"), "%s", bare);
}

Test(harness, files_and_json)
{
    char *dir = itest_tmpdir();
    char *path = itest_strf("%s/f.txt", dir);
    itest_write_file(path, "line 1\nline 2\n");
    cr_assert_str_eq(itest_read_file(path), "line 1\nline 2\n");
    cr_assert_str_neq(itest_tmpdir(), dir);

    json_t *j = itest_parse_json("{\"runs\": [1, 2, 3], \"ok\": true}");
    cr_assert(json_is_object(j));
    cr_assert_eq(json_array_size(json_object_get(j, "runs")), 3);
    json_decref(j);
    j = itest_parse_json("[]");
    cr_assert(json_is_array(j));
    json_decref(j);
}
