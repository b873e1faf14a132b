/*
 * itest — helpers for the criterion integration tests.
 *
 * The tests run under tests/integration/with-servers.sh, which starts a
 * throwaway PostgreSQL and exports where it is (MC_TEST_PGHOST, _PGPORT,
 * _PGUSER, _PGPASSWORD, _PGLOG, _PGBIN, MC_TEST_TMP); meson adds MC_BINARY
 * (the metacrawl under test) and MC_SOURCE_ROOT. Every helper fails the
 * current test (cr_assert_fail) with the reason when something goes wrong, so
 * tests read as a list of steps without error handling.
 *
 * Criterion runs each test in its own process, possibly in parallel: a test
 * that changes server state works in its own database (itest_create_db).
 *
 * Strings returned by the helpers are malloc'd and belong to the caller;
 * tests may leak them (the test process is short-lived).
 */
#ifndef METACRAWL_ITEST_H
#define METACRAWL_ITEST_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>
#include <libpq-fe.h>

#if defined(__GNUC__)
#define ITEST_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define ITEST_PRINTF(fmt, args)
/* ---- the fake AWS (tests/integration/aws/fakeaws.py) ------------------------ */

/*
 * A fake AWS on 127.0.0.1 and a free port, answering as AWS documents and
 * verifying every SigV4 signature (docs/testing.md, "The fake AWS").
 * CONFIG_JSON is its configuration (see fakeaws.py); it runs until the test
 * process ends or itest_fakeaws_stop.
 */
typedef struct itest_fakeaws {
    int port;
    char *url;  /* "http://127.0.0.1:PORT" */
    char *log;  /* one JSON object per request */
    char *dir;
    pid_t pid;
} itest_fakeaws;
itest_fakeaws *itest_fakeaws_start(const char *config_json);
void itest_fakeaws_stop(itest_fakeaws *f);
/* Requests of the log with this service, action (NULL: any) and outcome
 * ("ok" or an AWS error code; NULL: any). */
long itest_fakeaws_count(const itest_fakeaws *f, const char *service, const char *action,
                         const char *outcome);
/* The last request of the log for service (NULL: any), or NULL. */
json_t *itest_fakeaws_last(const itest_fakeaws *f, const char *service);

#endif

/* The value of a variable the harness must have set; fails the test if unset. */
const char *itest_env(const char *name);

/* ---- the server ------------------------------------------------------ */

/* A connection to DBNAME as the harness superuser, over TCP. */
PGconn *itest_connect(const char *dbname);
/* A connection as USER/PASSWORD over TCP (PASSWORD may be NULL). */
PGconn *itest_connect_as(const char *dbname, const char *user, const char *password);
/* The same without failing: NULL and the libpq message in *err_out (malloc'd). */
PGconn *itest_try_connect(const char *dbname, const char *user, const char *password,
                          char **err_out);

/* Run SQL (several statements allowed); fail the test with the server's message. */
void itest_sql(PGconn *c, const char *fmt, ...) ITEST_PRINTF(2, 3);
/* The first column of the first row (NULL for SQL NULL); fails on no rows. */
char *itest_sql_value(PGconn *c, const char *fmt, ...) ITEST_PRINTF(2, 3);
/* A fresh database "<prefix>_<pid>_<n>" (prefix lower-cased, [a-z0-9_] kept). */
char *itest_create_db(const char *prefix);

/* ---- files ----------------------------------------------------------- */

/* A new empty directory under MC_TEST_TMP (or /tmp). */
char *itest_tmpdir(void);
void itest_write_file(const char *path, const char *text);
/* The whole file, NUL-terminated; fails the test if it cannot be read. */
char *itest_read_file(const char *path);
/* printf into a malloc'd string. */
char *itest_strf(const char *fmt, ...) ITEST_PRINTF(1, 2);

/*
 * DIR/metacrawl.yml with `store: DIR/catalog.db` and one datastore named
 * `test` on the harness server: DBNAME as USER, sslmode disable. With a
 * PASSWORD the config says `password: ${env:MC_TEST_DS_PASSWORD}` and the
 * caller passes "MC_TEST_DS_PASSWORD=<password>" to itest_run; with NULL there
 * is no password key. EXTRA_YAML (may be NULL) is appended verbatim after the
 * datastore's keys, so its lines are indented by four spaces, e.g.
 * "    schemas: { include: [sales] }\n". Returns the config's path.
 */
char *itest_write_config(const char *dir, const char *dbname, const char *user,
                         const char *password, const char *extra_yaml);

/* ---- running metacrawl ----------------------------------------------- */

typedef struct itest_result {
    int status; /* exit code, or 128 + signal number */
    char *out;  /* all of stdout, NUL-terminated */
    char *err;  /* all of stderr, NUL-terminated */
} itest_result;

/*
 * Run MC_BINARY with ARGV (NULL-terminated, without argv[0]) and wait for it.
 * ENV_EXTRA (NULL-terminated, may be NULL) is laid over the inherited
 * environment: "NAME=value" sets or replaces, a bare "NAME" removes. STDIN_TEXT
 * is fed to its stdin (NULL: /dev/null). Fails the test when the run takes
 * longer than MC_TEST_TIMEOUT seconds (default 120), crashes (SIGSEGV, SIGABRT,
 * ...), or when ASan/UBSan or valgrind reported an error. With MC_VALGRIND=1
 * the binary runs under valgrind (leaks of kind "definite" are errors); with
 * MC_TEST_LSAN=1 (an ASan build) LeakSanitizer is turned on for it.
 */
itest_result itest_run(const char *const *argv, const char *const *env_extra,
                       const char *stdin_text);
/* The same for any program (PATH is searched when PROGRAM has no slash). */
itest_result itest_run_program(const char *program, const char *const *argv,
                               const char *const *env_extra, const char *stdin_text);
void itest_result_free(itest_result *r);

/*
 * Start MC_BINARY in the background, its own process group, stdin /dev/null,
 * stdout and stderr to OUT_PATH; for tests that signal or kill it.
 */
pid_t itest_spawn(const char *const *argv, const char *const *env_extra, const char *out_path);
pid_t itest_spawn_program(const char *program, const char *const *argv,
                          const char *const *env_extra, const char *out_path);
/*
 * Wait for a spawned process: its exit code, or 128 + signal. Fails the test
 * when its output shows a sanitizer or valgrind error (a kill is not a failure).
 */
int itest_wait(pid_t pid);

/* ---- the server log -------------------------------------------------- */

/*
 * Statements in MC_TEST_PGLOG ("statement: " and "execute <name>: " entries,
 * one per statement even when it spans lines) whose entry contains NEEDLE.
 */
long itest_count_log(const char *needle);
/* Statements run in database DBNAME. */
long itest_count_statements(const char *dbname);
/* Statements run in database DBNAME by USER (NULL: any user). */
long itest_count_statements_by(const char *dbname, const char *user);

/* ---- the sshd (tunnel tests) ------------------------------------------ */

/*
 * with-servers.sh also starts an sshd on 127.0.0.1 with fresh host keys and
 * generated client keys (MC_TEST_SSH_*, see docs/testing.md). Tests that
 * need it start with
 *     const char *why = itest_ssh_missing(); if (why) cr_skip_test("%s", why);
 */
const char *itest_ssh_missing(void); /* NULL when there is an sshd */
/* The path of NAME in MC_TEST_SSH_DIR: "id_ed25519", "host_ecdsa.pub"... */
char *itest_ssh_file(const char *name);
/* A known_hosts line "NAME TYPE KEY\n" with host key HOSTKEY ("ed25519" or
 * "ecdsa") of the test sshds, e.g. NAME "[127.0.0.1]:2222". */
char *itest_known_hosts_line(const char *name, const char *hostkey);

/* An sshd of the test's own, with the harness's keys, for tests that
 * reconfigure, stop or kill it. */
typedef struct itest_sshd {
    int port;
    pid_t pid;
    char *dir; /* its sshd_config, sshd.pid and sshd.log */
} itest_sshd;
/*
 * CONFIG: sshd_config lines that come before the defaults (NULL-terminated,
 * may be NULL). PASSWORD: password and keyboard-interactive logins with
 * MC_TEST_SSH_PASSWORD. Returns NULL and the reason in *skip_reason when it
 * cannot run here (no sshd, not root for PASSWORD, no mount namespaces).
 */
itest_sshd *itest_sshd_start(const char *const *config, int password, char **skip_reason);
/* SIG to the sshd and every process under it (one per connection). */
void itest_sshd_signal(const itest_sshd *d, int sig);
/* Kills it and everything under it, and waits until the port is free. */
void itest_sshd_stop(itest_sshd *d);

/*
 * A network namespace "bastion" joined to the test's by a veth pair: an sshd
 * on SSH_ADDR:SSH_PORT (reachable from here) and a PostgreSQL on the
 * namespace's own 127.0.0.1:PG_PORT (reachable only from inside; the test
 * reaches it through its unix socket PG_SOCKDIR, trust authentication).
 * NULL and the reason in *skip_reason where namespaces cannot be made.
 */
typedef struct itest_netns {
    char *dir;
    char *name;
    char *ssh_addr;
    int ssh_port;
    int pg_port;
    char *pg_sockdir;
    char *pg_password; /* of its superuser mc_super, for TCP */
} itest_netns;
itest_netns *itest_netns_start(char **skip_reason);
void itest_netns_stop(itest_netns *n);

/* ---- output ---------------------------------------------------------- */

/* TEXT parsed as JSON (any value); fails the test, quoting TEXT, if it is not. */
json_t *itest_parse_json(const char *text);
/* V as compact JSON with sorted keys ("" for NULL); malloc'd. */
char *itest_json_compact(json_t *v);
/*
 * Asserts that CHANGES (a JSON array of docs/changes.md objects) are exactly
 * EXPECTED (NULL-terminated), in any order, each written as
 * "kind schema.container.field attribute before after B|-" with compact JSON
 * values, "-" for a missing attribute, and "- -" for the values of whole
 * added/removed objects (tests check those apart).
 */
void itest_assert_changes(json_t *changes, const char *const *expected);

/* ---- the store ------------------------------------------------------- */

/* The first column of the first row of SQL on the SQLite file DBPATH, read
 * only; NULL for no row or SQL NULL. */
char *itest_sqlite_value(const char *dbpath, const char *sql);

/* ---- the fake AWS (tests/integration/aws/fakeaws.py) ------------------------ */

/*
 * A fake AWS on 127.0.0.1 and a free port, answering as AWS documents and
 * verifying every SigV4 signature (docs/testing.md, "The fake AWS").
 * CONFIG_JSON is its configuration (see fakeaws.py); it runs until the test
 * process ends or itest_fakeaws_stop.
 */
typedef struct itest_fakeaws {
    int port;
    char *url;  /* "http://127.0.0.1:PORT" */
    char *log;  /* one JSON object per request */
    char *dir;
    pid_t pid;
} itest_fakeaws;
itest_fakeaws *itest_fakeaws_start(const char *config_json);
void itest_fakeaws_stop(itest_fakeaws *f);
/* Requests of the log with this service, action (NULL: any) and outcome
 * ("ok" or an AWS error code; NULL: any). */
long itest_fakeaws_count(const itest_fakeaws *f, const char *service, const char *action,
                         const char *outcome);
/* The last request of the log for service (NULL: any), or NULL. */
json_t *itest_fakeaws_last(const itest_fakeaws *f, const char *service);

#endif
