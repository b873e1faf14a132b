/*
 * pg.c — the one place that talks libpq (pg.h): the connection and how its
 * failures are told, statements and their failures, rows read one at a
 * time, the version probe, and what a watchdog thread may do to a session.
 *
 * Why one layer: discovery, `check` and `grants` each wrapped PQexec with
 * their own first-line parser, their own error wording and no word of the
 * statement that failed.  Here a failed statement is logged the way
 * pg_dump reports it ("query failed: ...", "query was: ..."), at -vv, where
 * statements are logged, and a statement holding a secret is only ever
 * logged in its redacted form.
 *
 * Invariants:
 *  1. No libpq type leaves this file; a PGresult is cleared by the pg_result
 *     or pg_rows that owns it.
 *  2. Every statement sent is counted (pg_n_statements) and logged at debug
 *     level before it runs, as "WHAT: SQL" (SQL redacted when it holds a
 *     secret).
 *  3. A pg_rows is read to its end (pg_rows_close drains it) before the
 *     session runs another statement: libpq allows one at a time.
 *  4. A canceller and pg_sever are the only entry points safe from another
 *     thread (PQcancel is; shutdown() on the socket is, and leaves the
 *     descriptor to PQfinish).
 */
#include "pg.h"

#include <errno.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct pg_session {
    PGconn *conn;
    int fd;                   /* the connection's socket, for pg_sever */
    char *name;               /* the datastore */
    int statement_timeout_ms; /* as the caller SETs it, for the message */
    int n_statements;
    char *dialect;
    char *server_version;
    int server_version_num;
    pg_failure failure;
    pg_notice_fn notice_fn;
    void *notice_arg;
};

struct pg_result {
    PGresult *res;
};

struct pg_rows {
    pg_session *s;
    char *what;
    char *shown;        /* the statement, for "query was" */
    PGresult *res;      /* holds the current row */
    int row, n_rows;
    double deadline;    /* monotonic; 0 = none */
    bool cancelled, done;
    /* COPY ... TO STDOUT (CSV) on PostgreSQL: the current line, split in
     * place; the header's column names */
    bool copy;
    char *line;         /* PQgetCopyData's buffer (PQfreemem) */
    char **vals;
    bool *nulls;
    int n_cols;
    char **names;
    int n_names;
    int n_fields;       /* of the current line */
};

/* ---- messages ---------------------------------------------------------------- */

/* First line of a libpq message, without "FATAL:  " / "ERROR:  ". */
static void first_line(const char *msg, char *out, size_t n)
{
    if (!msg)
        msg = "";
    /* libpq's "connection to server at "127.0.0.1", port N failed: " names
     * the address libpq used, which through a tunnel is its local end; our
     * own message already names the warehouse host and port. */
    if (strncmp(msg, "connection to server ", 21) == 0) {
        const char *f = strstr(msg, " failed: ");
        if (f && f < msg + strcspn(msg, "\n"))
            msg = f + 9;
    }
    for (const char *pfx = NULL;;) {
        pfx = strncmp(msg, "FATAL:  ", 8) == 0   ? "FATAL:  "
              : strncmp(msg, "ERROR:  ", 8) == 0 ? "ERROR:  "
                                                 : NULL;
        if (!pfx)
            break;
        msg += strlen(pfx);
    }
    size_t len = strcspn(msg, "\n");
    if (len >= n)
        len = n - 1;
    memcpy(out, msg, len);
    out[len] = '\0';
}

static bool contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/* libpq prints the server's notices and its own (a connection dying in the
 * middle of a query: "FATAL: terminating connection ...") raw on stderr;
 * they go through our log instead, in our format, escaped, unless a caller
 * takes them (grants --apply reports them per statement). */
static void receive_notice(void *arg, const PGresult *res)
{
    pg_session *s = arg;
    if (s->notice_fn) {
        const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
        if (!sev)
            sev = PQresultErrorField(res, PG_DIAG_SEVERITY);
        s->notice_fn(s->notice_arg, sev, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
                     PQresultErrorField(res, PG_DIAG_SQLSTATE));
        return;
    }
    const char *message = PQresultErrorMessage(res);
    char line[512];
    size_t n = strcspn(message, "\n");
    snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), message);
    mc_log(MC_LOG_INFO, "datastore '%s': the server says: %s", s->name, line);
}

void pg_set_notice_handler(pg_session *s, pg_notice_fn fn, void *arg)
{
    s->notice_fn = fn;
    s->notice_arg = fn ? arg : NULL;
}

/* ---- connecting -------------------------------------------------------------- */

/* Whether anything accepts a TCP connection at host:port within timeout_s:
 * tells a server that answered but did not finish the login (waiting for a
 * lock, overloaded) from one that cannot be reached at all. */
static bool tcp_answers(const char *host, int port, int timeout_s)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (!host || getaddrinfo(host, service, &hints, &res) != 0)
        return false;
    bool ok = false;
    for (struct addrinfo *a = res; a && !ok; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            ok = true;
        } else if (errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t len = sizeof soerr;
            ok = poll(&pfd, 1, timeout_s * 1000) == 1 &&
                 getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

/* Maps a libpq connection failure to an exit code and a hint. */
static void connect_error(const pg_login *l, const char *msg, mc_error *err)
{
    char line[400];
    first_line(msg, line, sizeof line);
    int code = MC_EXIT_CONNECT;
    const char *hint;
    if (contains(msg, "password authentication failed") ||
        contains(msg, "no password supplied") ||
        contains(msg, "SCRAM authentication")) {
        code = MC_EXIT_AUTH;
        hint = "verify the user and password (password:, PGPASSWORD or "
               ".pgpass) and that the user exists on the server";
    } else if (contains(msg, "role \"") && contains(msg, "does not exist")) {
        code = MC_EXIT_AUTH;
        hint = "the user does not exist: create it (see `metacrawl grants`) "
               "or fix user: in the config";
    } else if (contains(msg, "database \"") && contains(msg, "does not exist")) {
        code = MC_EXIT_AUTH;
        hint = "fix database: in the config; the server has no such database";
    } else if (contains(msg, "pg_hba.conf")) {
        code = MC_EXIT_AUTH;
        hint = "the server refuses this user from this address: add a "
               "pg_hba.conf entry, or for Redshift check the user's "
               "connection privileges";
    } else if (contains(msg, "could not translate host name") ||
               contains(msg, "Name or service not known") ||
               contains(msg, "Temporary failure in name resolution")) {
        hint = "the host name does not resolve: check host: in the config "
               "(for Redshift, the cluster endpoint without the port)";
    } else if (contains(msg, "Connection refused")) {
        hint = "nothing listens there: check host and port (Redshift uses "
               "5439), that the cluster is not paused, and that the "
               "security group allows inbound TCP on the port from this host";
    } else if (contains(msg, "timeout expired") && !l->hostaddr &&
               tcp_answers(l->host, l->port, 3)) {
        /* The server took the connection but did not finish the login
         * within connect_timeout: no network problem. */
        hint = "the server accepted the connection but did not finish the login within "
               "connect_timeout: it may be waiting for a lock on a catalog table (a long "
               "VACUUM FULL, ALTER or REINDEX of pg_database, pg_authid ...; see pg_locks "
               "and pg_stat_activity) or be overloaded; raise connect_timeout: if it is "
               "just slow";
    } else if (contains(msg, "timeout expired") ||
               contains(msg, "timed out") ||
               contains(msg, "No route to host") ||
               contains(msg, "Network is unreachable")) {
        hint = "no answer: check the security group inbound rule for the port "
               "(5439 on Redshift), that the cluster is publicly accessible "
               "or reachable through a tunnel:, and that it is not paused";
    } else if (contains(msg, "SSL") || contains(msg, "certificate")) {
        hint = "TLS failed: check sslmode: and, for verify-ca/verify-full, "
               "PGSSLROOTCERT or ~/.postgresql/root.crt";
    } else {
        hint = "check host, port, database and the network path to the server";
    }
    mc_error_set(err, code, "cannot connect to datastore '%s' at %s:%d: %s",
                 l->name, l->host, l->port, line);
    mc_error_hint(err, "%s", hint);
}

int pg_connect(const pg_login *l, mc_secret *password, pg_session **out, mc_error *err)
{
    *out = NULL;
    char port[16], timeout[16];
    snprintf(port, sizeof port, "%d", l->port);
    snprintf(timeout, sizeof timeout, "%d", l->connect_timeout_s > 0 ? l->connect_timeout_s : 10);

    const char *keys[20], *vals[20];
    int n = 0;
    /* Settings left NULL are not passed, so libpq's environment
     * (PGPASSWORD, .pgpass, PGSSLMODE...) decides them. */
    const char *const settings[][2] = {
        {"host", l->host},
        {"hostaddr", l->hostaddr},
        {"port", port},
        {"dbname", l->database},
        {"user", l->user},
        {"password", password ? password->value : NULL},
        {"sslmode", l->sslmode},
        {"connect_timeout", timeout},
        {"application_name", "metacrawl"},
        /* A path that drops state (a NAT, a paused cluster) must not hang a
         * crawl: probe an idle connection after 30 s, give up after three
         * unanswered probes 10 s apart, and fail a send that stays
         * unacknowledged for 60 s (docs/scheduling.md, "Deadlines"). On a
         * tunnelled connection libpq's socket is the local one; the SSH
         * session has its own keepalive, and max_runtime bounds both. */
        {"keepalives", "1"},
        {"keepalives_idle", "30"},
        {"keepalives_interval", "10"},
        {"keepalives_count", "3"},
        {"tcp_user_timeout", "60000"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (!settings[i][1])
            continue;
        keys[n] = settings[i][0];
        vals[n] = settings[i][1];
        n++;
    }
    keys[n] = vals[n] = NULL;

    PGconn *conn = PQconnectdbParams(keys, vals, 0);
    mc_secret_wipe(password);
    if (!conn) {
        mc_error_set(err, MC_EXIT_CONNECT, "cannot connect to datastore '%s': out of memory",
                     l->name);
        return -1;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        connect_error(l, PQerrorMessage(conn), err);
        PQfinish(conn);
        return -1;
    }
    pg_session *s = mc_calloc(1, sizeof *s);
    s->conn = conn;
    s->fd = PQsocket(conn);
    s->name = mc_strdup(l->name);
    s->statement_timeout_ms = l->statement_timeout_ms > 0 ? l->statement_timeout_ms : 300000;
    PQsetNoticeReceiver(conn, receive_notice, s);
    *out = s;
    return 0;
}

void pg_close(pg_session *s)
{
    if (!s)
        return;
    PQfinish(s->conn);
    free(s->name);
    free(s->dialect);
    free(s->server_version);
    free(s);
}

const char *pg_database(const pg_session *s)
{
    return PQdb(s->conn);
}

bool pg_lost(const pg_session *s)
{
    return PQstatus(s->conn) != CONNECTION_OK;
}

int pg_n_statements(const pg_session *s)
{
    return s->n_statements;
}

void pg_lib_version(char *out, size_t size)
{
    int v = PQlibVersion();
    snprintf(out, size, "%d.%d", v / 10000, v % 100);
}

/* ---- failed statements --------------------------------------------------------- */

const pg_failure *pg_last_failure(const pg_session *s)
{
    return &s->failure;
}

/* Records why a statement failed (RES may be NULL: libpq's own message),
 * logs it with the statement as pg_dump does, and words ERR (may be NULL). */
static void statement_failed(pg_session *s, const char *what, const char *shown,
                             const PGresult *res, mc_error *err)
{
    pg_failure *f = &s->failure;
    memset(f, 0, sizeof *f);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(f->sqlstate, sizeof f->sqlstate, "%s", state ? state : "");
    first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn), f->message,
               sizeof f->message);
    if (!f->message[0])
        first_line(PQerrorMessage(s->conn), f->message, sizeof f->message);
    f->lost = pg_lost(s);
    mc_log(MC_LOG_DEBUG, "datastore '%s': query failed: %s%s%s%s", s->name, f->message,
           f->sqlstate[0] ? " (SQLSTATE " : "", f->sqlstate, f->sqlstate[0] ? ")" : "");
    mc_log(MC_LOG_DEBUG, "datastore '%s': query was: %s", s->name, shown);
    if (!err)
        return;
    const char *line = f->message;
    /* 42501 insufficient_privilege; 28xxx invalid authorization */
    bool perm = strcmp(f->sqlstate, "42501") == 0 || strncmp(f->sqlstate, "28", 2) == 0;
    /* 57014 query_canceled: by our statement_timeout (or someone's cancel) */
    if (!f->lost && strcmp(f->sqlstate, "57014") == 0 && contains(line, "statement timeout")) {
        mc_error_set(err, MC_EXIT_CONNECT, "datastore '%s': %s failed: %s (it ran longer "
                     "than statement_timeout, %d ms)", s->name, what, line,
                     s->statement_timeout_ms);
        mc_error_hint(err, "raise statement_timeout: for the datastore or in defaults:; run "
                           "with -vv to see the statement.  A catalog query is usually "
                           "quick: a lock on a catalog table (a long ALTER, VACUUM FULL or "
                           "REINDEX; see pg_locks) can hold it up");
        return;
    }
    mc_error_set(err, perm ? MC_EXIT_AUTH : MC_EXIT_CONNECT, "datastore '%s': %s failed: %s",
                 s->name, what, line);
    if (perm)
        mc_error_hint(err, "grant the crawler user read access to the catalog "
                           "(see `metacrawl grants`)");
    else if (f->lost)
        mc_error_hint(err, "the connection to the server was lost; the run is "
                           "recorded as failed and the store is unchanged");
    else
        mc_error_hint(err, "run with -vv to see the statement; report it if "
                           "the server should support it");
}

/* ---- whole results ----------------------------------------------------------- */

static pg_result *run(pg_session *s, const char *what, const char *sql, const char *shown,
                      int n_params, const char *const *params, mc_error *err)
{
    mc_log(MC_LOG_DEBUG, "%s: %s", what, shown); /* invariant 2 */
    s->n_statements++;
    PGresult *res = n_params > 0
                        ? PQexecParams(s->conn, sql, n_params, NULL, params, NULL, NULL, 0)
                        : PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        statement_failed(s, what, shown, res, err);
        PQclear(res);
        return NULL;
    }
    pg_result *r = mc_calloc(1, sizeof *r);
    r->res = res;
    return r;
}

pg_result *pg_query(pg_session *s, const char *what, const char *sql, mc_error *err)
{
    return run(s, what, sql, sql, 0, NULL, err);
}

pg_result *pg_query_params(pg_session *s, const char *what, const char *sql, int n_params,
                           const char *const *params, mc_error *err)
{
    return run(s, what, sql, sql, n_params, params, err);
}

pg_result *pg_query_secret(pg_session *s, const char *what, const char *sql,
                           const char *shown, mc_error *err)
{
    return run(s, what, sql, shown, 0, NULL, err);
}

int pg_exec(pg_session *s, const char *what, const char *sql, mc_error *err)
{
    pg_result *r = pg_query(s, what, sql, err);
    pg_result_free(r);
    return r ? 0 : -1;
}

int pg_result_rows(const pg_result *r)
{
    return PQntuples(r->res);
}

int pg_result_columns(const pg_result *r)
{
    return PQnfields(r->res);
}

int pg_result_column(const pg_result *r, const char *name)
{
    return PQfnumber(r->res, name);
}

const char *pg_result_text(const pg_result *r, int row, int col)
{
    return PQgetvalue(r->res, row, col);
}

bool pg_result_null(const pg_result *r, int row, int col)
{
    return PQgetisnull(r->res, row, col);
}

int64_t pg_result_int(const pg_result *r, int row, int col)
{
    return strtoll(PQgetvalue(r->res, row, col), NULL, 10);
}

bool pg_result_bool(const pg_result *r, int row, int col)
{
    return PQgetvalue(r->res, row, col)[0] == 't';
}

const char *pg_result_command(const pg_result *r)
{
    return PQcmdStatus(r->res);
}

void pg_result_free(pg_result *r)
{
    if (!r)
        return;
    PQclear(r->res);
    free(r);
}

/* ---- rows one at a time --------------------------------------------------------- */

/* Waits until a result is ready without blocking past DEADLINE (a
 * monotonic time).  Returns false when the deadline passed. */
static bool wait_result(pg_session *s, double deadline)
{
    while (PQisBusy(s->conn)) {
        double left = deadline - mc_monotonic();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = PQsocket(s->conn), .events = POLLIN};
        int ms = left > 1000.0 ? 1000000 : (int)(left * 1000.0) + 1;
        int r = poll(&pfd, 1, ms);
        if (r < 0 && errno != EINTR)
            return true; /* let PQgetResult report it */
        if (r > 0 && !PQconsumeInput(s->conn))
            return true;
    }
    return true;
}

/* The statement's next result, after asking the server to cancel it once
 * its time ran out; NULL at the end. */
static PGresult *next_result(pg_rows *r)
{
    if (r->deadline > 0 && !r->cancelled && !wait_result(r->s, r->deadline)) {
        r->cancelled = true;
        char why[256] = "";
        PGcancel *c = PQgetCancel(r->s->conn);
        if (!c || !PQcancel(c, why, sizeof why))
            mc_log(MC_LOG_WARN, "%s: could not cancel: %s", r->what, why);
        PQfreeCancel(c);
    }
    return PQgetResult(r->s->conn);
}

/* ---- COPY: rows as CSV lines ------------------------------------------------- */

/*
 * Why COPY: in single-row mode libpq makes a whole PGresult per row
 * (PQcopyResult + PQsetResultAttrs: half of the client's instructions on a
 * 400,000-column catalog, docs/performance.md), while COPY hands over each
 * row as one buffer.  The server does the same work either way.  Redshift
 * has no COPY TO STDOUT, so it keeps single-row mode.
 *
 * The CSV read here is PostgreSQL's own output only (HEADER, ',' and '"',
 * no FORCE_QUOTE), which is why it is written here and not taken from a CSV
 * library: a field is either bare (an empty bare field is NULL) or quoted
 * with "" for a quote inside (a quoted empty field is the empty string);
 * quoted fields may hold line ends, and PQgetCopyData returns one whole row
 * per call either way.
 */

/* Splits LINE (n bytes, ending in \n) in place into r->vals/r->nulls.
 * Returns the number of fields, or -1 when the line is not CSV. */
static int split_csv(pg_rows *r, char *line, int n)
{
    char *p = line, *end = line + n, *out;
    int k = 0;
    if (n > 0 && end[-1] == '\n')
        end--;
    for (;;) {
        if (k == r->n_cols) {
            r->n_cols = r->n_cols ? 2 * r->n_cols : 16;
            r->vals = mc_realloc(r->vals, (size_t)r->n_cols * sizeof *r->vals);
            r->nulls = mc_realloc(r->nulls, (size_t)r->n_cols * sizeof *r->nulls);
        }
        out = p;
        r->vals[k] = out;
        if (p < end && *p == '"') {
            r->nulls[k] = false;
            p++;
            for (;;) {
                if (p >= end)
                    return -1;
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *out++ = *p++;
            }
        } else {
            while (p < end && *p != ',')
                *out++ = *p++;
            r->nulls[k] = out == r->vals[k];
        }
        k++;
        if (p >= end) {
            *out = '\0';
            return k;
        }
        if (*p != ',')
            return -1;
        p++;
        *out = '\0';
    }
}

/* The next line of a COPY: 1 and r->line, 0 at its end, -1 on failure. */
static int copy_line(pg_rows *r)
{
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(r->s->conn, &buf, 1);
        if (n > 0) {
            r->line = buf;
            r->n_fields = split_csv(r, buf, n);
            return r->n_fields < 0 ? -1 : 1;
        }
        if (n == -1)
            return 0;
        if (n < -1)
            return -1;
        /* n == 0: nothing buffered yet */
        double left = r->deadline > 0 ? r->deadline - mc_monotonic() : 1.0;
        if (left <= 0 && !r->cancelled) {
            r->cancelled = true;
            char why[256] = "";
            PGcancel *c = PQgetCancel(r->s->conn);
            if (!c || !PQcancel(c, why, sizeof why))
                mc_log(MC_LOG_WARN, "%s: could not cancel: %s", r->what, why);
            PQfreeCancel(c);
            left = 1.0;
        }
        struct pollfd pfd = {.fd = PQsocket(r->s->conn), .events = POLLIN};
        int ms = r->deadline > 0 && !r->cancelled ? (int)(left * 1000.0) + 1 : 1000;
        int pr = poll(&pfd, 1, ms > 1000 ? 1000 : ms);
        if (pr < 0 && errno != EINTR)
            return -1;
        if (pr > 0 && !PQconsumeInput(r->s->conn))
            return -1;
    }
}

/* After the COPY's last line: its result says whether it succeeded. */
static int copy_finish(pg_rows *r, mc_error *err)
{
    int rc = 0;
    char *buf = NULL;
    while (PQgetCopyData(r->s->conn, &buf, 0) > 0) /* what is left unread */
        PQfreemem(buf);
    PGresult *res;
    while ((res = PQgetResult(r->s->conn)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            statement_failed(r->s, r->what, r->shown, res, err);
            rc = -1;
        }
        PQclear(res);
    }
    r->done = true;
    return rc;
}

static int copy_next(pg_rows *r, mc_error *err)
{
    PQfreemem(r->line);
    r->line = NULL;
    int c = copy_line(r);
    if (c == 1 && !r->names) {
        /* the header: the column names, kept for pg_rows_column */
        r->n_names = r->n_fields;
        r->names = mc_calloc((size_t)r->n_names + 1, sizeof *r->names);
        for (int i = 0; i < r->n_names; i++)
            r->names[i] = mc_strdup(r->vals[i]);
        PQfreemem(r->line);
        r->line = NULL;
        c = copy_line(r);
    }
    if (c == 1 && r->n_fields != r->n_names)
        c = -1;
    if (c == 1)
        return 1;
    int fin = copy_finish(r, err);
    if (c < 0 && fin == 0) {
        /* not CSV as PostgreSQL writes it, or the connection broke: said
         * in err and in the session's last failure alike */
        const char *why = pg_lost(r->s) ? "the connection was lost" : "unreadable COPY data";
        pg_failure *f = &r->s->failure;
        memset(f, 0, sizeof *f);
        snprintf(f->message, sizeof f->message, "%s", why);
        f->lost = pg_lost(r->s);
        mc_error_set(err, MC_EXIT_CONNECT, "datastore '%s': %s failed: %s", r->s->name,
                     r->what, why);
    }
    return c < 0 || fin < 0 ? -1 : 0;
}

pg_rows *pg_rows_open(pg_session *s, const char *what, const char *sql, int timeout_ms,
                      mc_error *err)
{
    bool copy = s->dialect && strcmp(s->dialect, "postgresql") == 0;
    char *sent = copy ? mc_asprintf("COPY (%s) TO STDOUT WITH (FORMAT csv, HEADER)", sql)
                      : mc_strdup(sql);
    mc_log(MC_LOG_DEBUG, "%s: %s", what, sent); /* invariant 2 */
    s->n_statements++;
    if (!PQsendQuery(s->conn, sent)) {
        statement_failed(s, what, sent, NULL, err);
        free(sent);
        return NULL;
    }
    if (!copy && !PQsetSingleRowMode(s->conn))
        mc_log(MC_LOG_DEBUG, "%s: single-row mode refused", what);
    pg_rows *r = mc_calloc(1, sizeof *r);
    r->s = s;
    r->what = mc_strdup(what);
    r->shown = sent;
    r->deadline = timeout_ms > 0 ? mc_monotonic() + timeout_ms / 1000.0 : 0;
    if (copy) {
        /* the COPY starts (or fails) with a result of its own */
        if (!wait_result(s, r->deadline > 0 ? r->deadline : mc_monotonic() + 1e9)) {
            PGcancel *c = PQgetCancel(s->conn);
            char why[256];
            if (c)
                PQcancel(c, why, sizeof why);
            PQfreeCancel(c);
            r->cancelled = true;
        }
        PGresult *res = PQgetResult(s->conn);
        if (PQresultStatus(res) != PGRES_COPY_OUT) {
            statement_failed(s, what, sent, res, err);
            PQclear(res);
            while ((res = PQgetResult(s->conn)) != NULL) /* invariant 3 */
                PQclear(res);
            r->done = true;
            pg_rows_close(r);
            return NULL;
        }
        PQclear(res);
        r->copy = true;
    }
    return r;
}

int pg_rows_next(pg_rows *r, mc_error *err)
{
    if (r->done)
        return 0;
    if (r->copy)
        return copy_next(r, err);
    /* every row in one result when single-row mode was refused */
    if (r->res && ++r->row < r->n_rows)
        return 1;
    PQclear(r->res);
    r->res = NULL;
    PGresult *res;
    while ((res = next_result(r)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE || (st == PGRES_TUPLES_OK && PQntuples(res) > 0)) {
            r->res = res;
            r->row = 0;
            r->n_rows = PQntuples(res);
            return 1;
        }
        if (st != PGRES_TUPLES_OK) {
            statement_failed(r->s, r->what, r->shown, res, err);
            PQclear(res);
            while ((res = next_result(r)) != NULL) /* invariant 3 */
                PQclear(res);
            r->done = true;
            return -1;
        }
        PQclear(res);
    }
    r->done = true;
    return 0;
}

int pg_rows_column(const pg_rows *r, const char *name)
{
    if (r->copy) {
        for (int i = 0; i < r->n_names; i++)
            if (strcmp(r->names[i], name) == 0)
                return i;
        return -1;
    }
    return r->res ? PQfnumber(r->res, name) : -1;
}

const char *pg_rows_text(const pg_rows *r, int col)
{
    if (r->copy)
        return col >= 0 && col < r->n_names && r->line ? r->vals[col] : "";
    return PQgetvalue(r->res, r->row, col);
}

bool pg_rows_null(const pg_rows *r, int col)
{
    if (r->copy)
        return !(col >= 0 && col < r->n_names && r->line) || r->nulls[col];
    return PQgetisnull(r->res, r->row, col);
}

int64_t pg_rows_int(const pg_rows *r, int col)
{
    return strtoll(pg_rows_text(r, col), NULL, 10);
}

bool pg_rows_bool(const pg_rows *r, int col)
{
    return pg_rows_text(r, col)[0] == 't';
}

bool pg_rows_cancelled(const pg_rows *r)
{
    return r->cancelled;
}

void pg_rows_close(pg_rows *r)
{
    if (!r)
        return;
    PQclear(r->res);
    PQfreemem(r->line);
    if (!r->done && r->copy) {
        /* the rest of the COPY, unread */
        char *buf = NULL;
        while (PQgetCopyData(r->s->conn, &buf, 0) > 0)
            PQfreemem(buf);
    }
    if (!r->done) {
        PGresult *res;
        while ((res = next_result(r)) != NULL) /* invariant 3 */
            PQclear(res);
    }
    for (int i = 0; i < r->n_names; i++)
        free(r->names[i]);
    free(r->names);
    free(r->vals);
    free(r->nulls);
    free(r->what);
    free(r->shown);
    free(r);
}

/* ---- the dialect ------------------------------------------------------------------ */

/* version() decides the dialect: Redshift answers "PostgreSQL 8.0.2 on ...,
 * Redshift 1.0.NNNNN". */
int pg_detect(pg_session *s, mc_error *err)
{
    if (s->dialect)
        return 0;
    pg_result *res = pg_query(s, "version query",
                              "SELECT version(), current_setting('server_version_num')", NULL);
    if (!res || pg_result_rows(res) != 1) {
        /* Redshift has no server_version_num setting: ask again plainly. */
        pg_result_free(res);
        res = pg_query(s, "version query", "SELECT version(), NULL", err);
        if (!res)
            return -1;
        if (pg_result_rows(res) != 1) {
            mc_error_set(err, MC_EXIT_CONNECT, "datastore '%s': version query failed: %d rows",
                         s->name, pg_result_rows(res));
            mc_error_hint(err, "run with -vv to see the statement; report it if "
                               "the server should support it");
            pg_result_free(res);
            return -1;
        }
    }
    const char *v = pg_result_text(res, 0, 0);
    const char *rs = strstr(v, "Redshift ");
    if (rs) {
        s->dialect = mc_strdup("redshift");
        s->server_version = mc_strndup(rs, 9 + strcspn(rs + 9, " ,)"));
    } else if (strncmp(v, "PostgreSQL ", 11) == 0) {
        s->dialect = mc_strdup("postgresql");
        size_t n = 11 + strcspn(v + 11, " ,");
        s->server_version = mc_strndup(v, n);
        if (!pg_result_null(res, 0, 1))
            s->server_version_num = (int)pg_result_int(res, 0, 1);
    } else {
        char line[200];
        first_line(v, line, sizeof line);
        mc_error_set(err, MC_EXIT_CONNECT,
                     "datastore '%s': unsupported server: %s", s->name, line);
        mc_error_hint(err, "metacrawl reads Amazon Redshift and PostgreSQL 10 or later");
        pg_result_free(res);
        return -1;
    }
    pg_result_free(res);
    if (strcmp(s->dialect, "postgresql") == 0 && s->server_version_num > 0 &&
        s->server_version_num < 100000) {
        mc_error_set(err, MC_EXIT_CONNECT, "datastore '%s': %s is too old",
                     s->name, s->server_version);
        mc_error_hint(err, "metacrawl reads PostgreSQL 10 or later");
        return -1;
    }
    return 0;
}

const char *pg_dialect(const pg_session *s)
{
    return s->dialect;
}

const char *pg_server_version(const pg_session *s)
{
    return s->server_version;
}

int pg_server_version_num(const pg_session *s)
{
    return s->server_version_num;
}

/* ---- text the server's rules make ---------------------------------------------- */

char *pg_escape_literal(pg_session *s, const char *text)
{
    char *lit = PQescapeLiteral(s->conn, text, strlen(text));
    char *copy = mc_strdup(lit);
    PQfreemem(lit);
    return copy;
}

char *pg_encrypt_password(pg_session *s, const char *password, const char *user,
                          const char *algorithm)
{
    char *h = PQencryptPasswordConn(s->conn, password, user, algorithm);
    if (!h) {
        memset(&s->failure, 0, sizeof s->failure);
        first_line(PQerrorMessage(s->conn), s->failure.message, sizeof s->failure.message);
        s->failure.lost = pg_lost(s);
        return NULL;
    }
    char *copy = mc_strdup(h);
    explicit_bzero(h, strlen(h));
    PQfreemem(h);
    return copy;
}

/* ---- from another thread --------------------------------------------------------- */

/* The canceller is a PGcancel, which libpq makes independent of the
 * connection and safe to use from another thread, so it may outlive the
 * session; pg_sever only shuts the socket down (a blocked recv then sees
 * end-of-file), leaving the descriptor to PQfinish. */
struct pg_canceller {
    PGcancel *cancel;
};

pg_canceller *pg_canceller_new(pg_session *s)
{
    pg_canceller *c = mc_calloc(1, sizeof *c);
    c->cancel = s ? PQgetCancel(s->conn) : NULL;
    return c;
}

void pg_canceller_cancel(pg_canceller *c)
{
    char buf[256];
    if (c && c->cancel)
        (void)PQcancel(c->cancel, buf, (int)sizeof buf);
}

void pg_canceller_free(pg_canceller *c)
{
    if (!c)
        return;
    PQfreeCancel(c->cancel);
    free(c);
}

void pg_sever(pg_session *s)
{
    if (s && s->fd >= 0)
        (void)shutdown(s->fd, SHUT_RDWR);
}
