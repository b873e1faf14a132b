/*
 * pg.h — the one PostgreSQL layer: a libpq session (connect, run a
 * statement, stream rows, cancel, cut), the dialect probe, and the mapping
 * of libpq's failures to metacrawl's exit codes and hints.
 *
 * crawler/pg/pg.c is the only file of the project that includes
 * libpq-fe.h; every handle here is opaque, and no PGconn or PGresult leaves
 * pg.c (tests/integration/test_pg.c checks the include).
 *
 * Lifetimes: pg_close frees a session; a pg_result and a pg_rows are freed
 * by their own pg_*_free / pg_rows_close and must be freed before their
 * session is closed.  A `const char *` a getter returns is borrowed until
 * its owner is freed (for pg_rows: until the next pg_rows_next).
 *
 * A failed statement (docs/commands.md, "A failed statement"): the error
 * says "datastore 'X': WHAT failed: <the server's message>"; at -vv (where
 * every statement is logged before it runs) two more lines follow, as
 * pg_dump prints them: "query failed: <message>" and "query was:
 * <statement>".  A statement that carries a secret is run with its
 * redacted form, which is the only form that is ever logged.
 */
#ifndef MC_PG_H
#define MC_PG_H

#include <stdbool.h>
#include <stdint.h>

#include "mc_base.h"

typedef struct pg_session pg_session;
typedef struct pg_result pg_result;
typedef struct pg_rows pg_rows;
typedef struct pg_canceller pg_canceller;

/* ---- connecting ---------------------------------------------------------- */

/* Where and as whom to log in.  Strings left NULL are not passed, so that
 * libpq's environment (PGPASSWORD, .pgpass, PGSSLMODE ...) decides them. */
typedef struct pg_login {
    const char *name;          /* the datastore: messages and the log */
    const char *host;          /* the warehouse's name, for TLS and .pgpass */
    const char *hostaddr;      /* the address to use (a tunnel's local end); NULL: resolve host */
    int port;
    const char *database;
    const char *user;
    const char *sslmode;
    int connect_timeout_s;     /* 0 or less: 10 */
    int statement_timeout_ms;  /* what the caller SETs, for messages; 0 or less: 300000 */
} pg_login;

/* Connects with keepalives and application_name metacrawl; the server's
 * notices go to the log.  PASSWORD (NULL or empty: none) is wiped before
 * this returns, whatever happens.  Errors: MC_EXIT_CONNECT (network, refused,
 * timeout, TLS, a login that a lock holds up) or MC_EXIT_AUTH (password,
 * unknown user or database, pg_hba), each with a hint. */
int pg_connect(const pg_login *login, mc_secret *password, pg_session **out, mc_error *err);
void pg_close(pg_session *s); /* NULL is a no-op */

const char *pg_database(const pg_session *s); /* the database connected to */
/* Whether the connection is gone (the server or the path went away). */
bool pg_lost(const pg_session *s);
/* Statements sent on the session so far, failed ones included. */
int pg_n_statements(const pg_session *s);
/* libpq's version as "MAJOR.MINOR" (libpq 16.2: "16.2"). */
void pg_lib_version(char *out, size_t size);

/* ---- the dialect --------------------------------------------------------- */

/* Runs version() once per session (twice on Redshift, which has no
 * server_version_num) and decides the dialect.  0, or -1 with err: an
 * unsupported server, a PostgreSQL older than 10, a failed statement. */
int pg_detect(pg_session *s, mc_error *err);
const char *pg_dialect(const pg_session *s);        /* "postgresql", "redshift"; NULL before */
/* "PostgreSQL 15.4", "Redshift 1.0.7"; NULL before */
const char *pg_server_version(const pg_session *s);
int pg_server_version_num(const pg_session *s);     /* 150004; 0 when unknown (Redshift) */

/* ---- statements ---------------------------------------------------------- */

/* What the last failed statement (or pg_encrypt_password) of the session
 * left, for callers that word the error themselves. */
typedef struct pg_failure {
    char sqlstate[6];   /* "42501"; "" when libpq failed without an answer */
    char message[400];  /* first line, without "ERROR:  " / "FATAL:  " */
    bool lost;          /* the connection is gone */
} pg_failure;
const pg_failure *pg_last_failure(const pg_session *s);

/*
 * Runs SQL (several statements separated by ';' allowed) and keeps its
 * whole result.  WHAT names it in the log and in errors ("schema query").
 * On failure: NULL, pg_last_failure set, and ERR (may be NULL) set to
 * "datastore 'X': WHAT failed: MESSAGE" — exit 5 with a grants hint for a
 * missing privilege, exit 4 otherwise, with the statement_timeout or lost
 * connection said so.
 */
pg_result *pg_query(pg_session *s, const char *what, const char *sql, mc_error *err);
/* The same with $1..$n bound to PARAMS (text, NULL for SQL NULL). */
pg_result *pg_query_params(pg_session *s, const char *what, const char *sql, int n_params,
                           const char *const *params, mc_error *err);
/* The same for a statement that carries a secret (a password hash): SHOWN,
 * its redacted form, is what the log says; SQL is never logged. */
pg_result *pg_query_secret(pg_session *s, const char *what, const char *sql,
                           const char *shown, mc_error *err);
/* pg_query whose result is not needed: 0 or -1. */
int pg_exec(pg_session *s, const char *what, const char *sql, mc_error *err);

int pg_result_rows(const pg_result *r);
int pg_result_columns(const pg_result *r);
int pg_result_column(const pg_result *r, const char *name); /* -1: no such column */
/* The value's text; "" for SQL NULL (pg_result_null tells them apart). */
const char *pg_result_text(const pg_result *r, int row, int col);
bool pg_result_null(const pg_result *r, int row, int col);
int64_t pg_result_int(const pg_result *r, int row, int col);  /* 0 for NULL */
bool pg_result_bool(const pg_result *r, int row, int col);    /* false for NULL */
const char *pg_result_command(const pg_result *r);            /* the tag: "GRANT", "COMMIT" */
void pg_result_free(pg_result *r); /* NULL is a no-op */

/*
 * A statement whose rows are read one at a time, so that a large catalog
 * never sits in memory as a result and as structs at once.  SQL is one
 * query (SELECT or WITH, no ';').  On PostgreSQL (after pg_detect) it is
 * sent as COPY (SQL) TO STDOUT WITH (FORMAT csv, HEADER) — each row one
 * buffer, half the client's work of single-row mode — and that is the
 * statement logged and shown when it fails; elsewhere (Redshift has no COPY
 * TO STDOUT) in libpq's single-row mode.  With timeout_ms > 0 the client asks the server to cancel it
 * after that long (a cancel request is not a statement); pg_rows_cancelled
 * says so afterwards.  NULL with err when it could not be sent.
 */
pg_rows *pg_rows_open(pg_session *s, const char *what, const char *sql, int timeout_ms,
                      mc_error *err);
/* 1: a row is ready; 0: no more rows; -1: the statement failed (err as
 * pg_query sets it). */
int pg_rows_next(pg_rows *r, mc_error *err);
int pg_rows_column(const pg_rows *r, const char *name); /* -1: no such column */
const char *pg_rows_text(const pg_rows *r, int col);    /* "" for SQL NULL */
bool pg_rows_null(const pg_rows *r, int col);
int64_t pg_rows_int(const pg_rows *r, int col);
bool pg_rows_bool(const pg_rows *r, int col);
bool pg_rows_cancelled(const pg_rows *r);
/* Reads what is left of the statement (so the session can run the next
 * one) and frees; NULL is a no-op. */
void pg_rows_close(pg_rows *r);

/* malloc'd SQL literal of TEXT ('...' with quotes doubled, E'' for
 * backslashes) for this session's encoding; NULL when libpq refuses it. */
char *pg_escape_literal(pg_session *s, const char *text);

/* The hash libpq makes of PASSWORD for USER (ALGORITHM NULL: the server's
 * password_encryption), malloc'd; NULL with pg_last_failure set. */
char *pg_encrypt_password(pg_session *s, const char *password, const char *user,
                          const char *algorithm);

/* The server's notices go to the log ("datastore 'X': the server says:
 * ...") unless a handler takes them; FN NULL gives them back to the log.
 * SEVERITY is not translated ("WARNING"); SQLSTATE may be NULL. */
typedef void (*pg_notice_fn)(void *arg, const char *severity, const char *message,
                             const char *sqlstate);
void pg_set_notice_handler(pg_session *s, pg_notice_fn fn, void *arg);

/* ---- from another thread --------------------------------------------------- */

/* For a watchdog thread while another thread runs this session's statements
 * (crawler/deadline.c).  A canceller asks the server to cancel the running
 * statement; it is independent of the session, may outlive it, and each
 * call opens a connection of its own.  pg_sever cuts the session's
 * connection (shutdown of its socket), so that a call waiting for a server
 * that no longer answers returns with an error; the session must stay open
 * while it runs.  NULL is a no-op for all four. */
pg_canceller *pg_canceller_new(pg_session *s);
void pg_canceller_cancel(pg_canceller *c);
void pg_canceller_free(pg_canceller *c);
void pg_sever(pg_session *s);

#endif
