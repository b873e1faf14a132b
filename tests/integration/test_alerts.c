/*
 * test_alerts.c — alerts end to end against a real PostgreSQL: a webhook
 * received by an HTTP server inside this test process (a thread on
 * 127.0.0.1), Slack's message, sinks that fail (server down, a 5xx, a
 * redirect, a command that exits 1) keeping the change queued until a later
 * run or `alerts retry` delivers it exactly once, JSON-lines files, the
 * filters selecting exactly what they should, a crawl killed between its
 * commit and its deliveries, and orphaned alerts.  Each test runs the
 * metacrawl binary as a user would.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

/* ---- an HTTP server on loopback ------------------------------------------------ */

#define MAX_REQUESTS 32

typedef struct http_req {
    char *method, *path, *content_type, *body;
} http_req;

typedef struct http_server {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    volatile int stop;
    http_req reqs[MAX_REQUESTS];
    int n_reqs;
    int script[8]; /* statuses for the first requests; then 200 */
    int n_script;
} http_server;

/* Reads until the headers and Content-Length bytes of body are in. */
static char *read_request(int fd, size_t *header_len, size_t *total)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    long want = -1;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0)
            break;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end && want < 0) {
            *header_len = (size_t)(end - buf) + 4;
            want = 0;
            for (char *l = buf; l && l < end; l = strstr(l, "\r\n") ? strstr(l, "\r\n") + 2 : NULL)
                if (strncasecmp(l, "Content-Length:", 15) == 0)
                    want = strtol(l + 15, NULL, 10);
        }
        if (want >= 0 && len >= *header_len + (size_t)want)
            break;
    }
    buf[len] = '\0';
    *total = len;
    return buf;
}

static char *header_value(const char *head, size_t n, const char *name)
{
    size_t k = strlen(name);
    for (const char *l = head; l && l < head + n;) {
        if (strncasecmp(l, name, k) == 0 && l[k] == ':') {
            const char *v = l + k + 1;
            while (*v == ' ')
                v++;
            return strndup(v, strcspn(v, "\r\n"));
        }
        l = strstr(l, "\r\n");
        if (l)
            l += 2;
    }
    return NULL;
}

static void *serve(void *arg)
{
    http_server *s = arg;
    while (!s->stop) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        size_t hl = 0, total = 0;
        char *raw = read_request(c, &hl, &total);
        http_req rq = {0};
        rq.method = strndup(raw, strcspn(raw, " "));
        const char *sp = strchr(raw, ' ');
        rq.path = sp ? strndup(sp + 1, strcspn(sp + 1, " ")) : strdup("");
        rq.content_type = header_value(raw, hl, "Content-Type");
        rq.body = strdup(hl <= total ? raw + hl : "");
        free(raw);
        pthread_mutex_lock(&s->mu);
        int status = s->n_reqs < s->n_script ? s->script[s->n_reqs] : 200;
        if (s->n_reqs < MAX_REQUESTS)
            s->reqs[s->n_reqs++] = rq;
        pthread_mutex_unlock(&s->mu);
        char *resp = itest_strf("HTTP/1.1 %d Scripted\r\nContent-Type: text/plain\r\n"
                                "Content-Length: 12\r\nConnection: close\r\n%s\r\n"
                                "answer-%d ok",
                                status,
                                status / 100 == 3 ? "Location: http://127.0.0.1:9/elsewhere\r\n"
                                                  : "",
                                status);
        ssize_t w = write(c, resp, strlen(resp));
        (void)w;
        free(resp);
        close(c);
    }
    return NULL;
}

/* A socket bound to a free loopback port but not listening: connecting to
 * it is refused ("the server is down"), and no other test can take the
 * port before server_start listens on it. */
static int reserve_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0, "bind: %s", strerror(errno));
    socklen_t n = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &n);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Starts the server on a reserved socket (-1: a new one on any port). */
static http_server *server_start(int fd, const int *script, int n_script)
{
    http_server *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    for (int i = 0; i < n_script && i < 8; i++)
        s->script[i] = script[i];
    s->n_script = n_script;
    s->fd = fd >= 0 ? fd : reserve_port(&s->port);
    cr_assert_eq(listen(s->fd, 16), 0);
    struct sockaddr_in a;
    socklen_t n = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &n);
    s->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&s->thread, NULL, serve, s), 0);
    return s;
}

static void server_stop(http_server *s)
{
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->fd);
}

static int n_requests(http_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n_reqs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- running metacrawl ------------------------------------------------------------ */

typedef struct fixture {
    char *db, *dir, *cfg;
    PGconn *pg;
} fixture;

static const char *const *env(void)
{
    static const char *e[2];
    e[0] = itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD"));
    e[1] = NULL;
    return e;
}

/* A database with the SQL applied and a config with these alerts (YAML
 * from "alerts:" on). */
static fixture setup(const char *prefix, const char *sql, const char *alerts_yaml)
{
    fixture f;
    f.db = itest_create_db(prefix);
    f.pg = itest_connect(f.db);
    if (sql)
        itest_sql(f.pg, "%s", sql);
    f.dir = itest_tmpdir();
    f.cfg = itest_write_config(f.dir, f.db, itest_env("MC_TEST_PGUSER"),
                               itest_env("MC_TEST_PGPASSWORD"), alerts_yaml);
    return f;
}

static void reconfigure(fixture *f, const char *alerts_yaml)
{
    f->cfg = itest_write_config(f->dir, f->db, itest_env("MC_TEST_PGUSER"),
                                itest_env("MC_TEST_PGPASSWORD"), alerts_yaml);
}

static itest_result mc(const fixture *f, const char *a1, const char *a2, const char *a3,
                       const char *a4)
{
    const char *argv[] = {"-c", f->cfg, a1, a2, a3, a4, NULL};
    return itest_run(argv, env(), NULL);
}

/* crawl --json: checks the exit status, returns the whole document. */
static json_t *crawl(const fixture *f, int want, itest_result *out)
{
    itest_result r = mc(f, "crawl", "--json", NULL, NULL);
    cr_assert_eq(r.status, want, "crawl exited %d, wanted %d\nstdout: %s\nstderr: %s",
                 r.status, want, r.out, r.err);
    json_t *doc = itest_parse_json(r.out);
    if (out)
        *out = r;
    return doc;
}

/* The "alerts" entry of a crawl or retry document for one alert. */
static json_t *outcome(json_t *doc, const char *alert)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(doc, "alerts"), i, o) {
        if (strcmp(json_string_value(json_object_get(o, "alert")), alert) == 0)
            return o;
    }
    return NULL;
}

static json_int_t int_of(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* alerts status --json, the entry of one alert. */
static json_t *status_of(const fixture *f, const char *alert)
{
    itest_result r = mc(f, "alerts", "status", "--json", NULL);
    cr_assert_eq(r.status, 0, "alerts status: %s", r.err);
    json_t *doc = itest_parse_json(r.out);
    json_t *o = outcome(doc, alert);
    cr_assert_not_null(o, "no status for alert %s in %s", alert, r.out);
    return o;
}

static char *read_or_empty(const char *path)
{
    return access(path, F_OK) == 0 ? itest_read_file(path) : strdup("");
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

/* "kind schema.container[.field]" of each change, sorted, one per line. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *signatures(json_t *changes)
{
    size_t n = json_array_size(changes);
    char **s = calloc(n + 1, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(changes, i);
        const char *field = json_string_value(json_object_get(c, "field"));
        s[i] = itest_strf("%s %s.%s%s%s", json_string_value(json_object_get(c, "kind")),
                          json_string_value(json_object_get(c, "schema")),
                          json_string_value(json_object_get(c, "container")),
                          field ? "." : "", field ? field : "");
    }
    qsort(s, n, sizeof *s, cmp_str);
    char *all = strdup("");
    for (size_t i = 0; i < n; i++) {
        char *next = itest_strf("%s%s\n", all, s[i]);
        free(all);
        all = next;
    }
    return all;
}

/* The changes in a JSON-lines file, as an array. */
static json_t *lines_of(const char *path)
{
    char *text = read_or_empty(path);
    json_t *arr = json_array();
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        json_array_append_new(arr, itest_parse_json(line));
    return arr;
}

/* ---- the webhook ------------------------------------------------------------------------ */

Test(alerts, webhook_receives_each_change_once, .timeout = 300)
{
    http_server *srv = server_start(-1, NULL, 0);
    char *yaml = itest_strf("alerts:\n"
                            "  - name: hook\n"
                            "    webhook: http://127.0.0.1:%d/hook/T0/SECRET\n", srv->port);
    fixture f = setup("hook", "CREATE TABLE public.orders (id int PRIMARY KEY, amount int)", yaml);

    json_t *doc = crawl(&f, 0, NULL);
    cr_assert(json_is_true(json_object_get(json_array_get(json_object_get(doc, "datastores"),
                                                          0), "baseline")));
    cr_assert_eq(json_array_size(json_object_get(doc, "alerts")), 0, "a baseline alerts nothing");
    cr_assert_eq(n_requests(srv), 0);

    itest_sql(f.pg, "ALTER TABLE public.orders ALTER COLUMN amount TYPE bigint;"
                    "ALTER TABLE public.orders ADD COLUMN note text");
    doc = crawl(&f, 0, NULL);
    json_t *ds = json_array_get(json_object_get(doc, "datastores"), 0);
    json_int_t run = int_of(ds, "run");
    json_t *o = outcome(doc, "hook");
    cr_assert_not_null(o);
    cr_assert_str_eq(json_string_value(json_object_get(o, "sink")), "webhook");
    cr_assert_eq(int_of(o, "delivered"), 2);
    cr_assert_eq(int_of(o, "pending"), 0);
    cr_assert(json_is_null(json_object_get(o, "error")));

    cr_assert_eq(n_requests(srv), 1, "one batch, one POST");
    http_req *rq = &srv->reqs[0];
    cr_assert_str_eq(rq->method, "POST");
    cr_assert_str_eq(rq->path, "/hook/T0/SECRET");
    cr_assert_str_eq(rq->content_type, "application/json");
    json_t *body = itest_parse_json(rq->body);
    cr_assert_eq(int_of(body, "version"), 3);
    cr_assert_str_eq(json_string_value(json_object_get(body, "alert")), "hook");
    json_t *changes = json_object_get(body, "changes");
    /* exactly what the crawl reported, in the documented shape */
    char *got = signatures(changes);
    char *reported = signatures(json_object_get(ds, "changes"));
    cr_assert_str_eq(got, reported);
    cr_assert_str_eq(got, "field_added public.orders.note\nfield_changed public.orders.amount\n");
    size_t i;
    json_t *c;
    json_int_t last_id = 0;
    json_array_foreach(changes, i, c) {
        cr_assert_str_eq(json_string_value(json_object_get(c, "datastore")), "test");
        cr_assert_eq(int_of(c, "run"), run);
        cr_assert_gt(int_of(c, "id"), last_id, "ids ascend");
        last_id = int_of(c, "id");
        if (strcmp(json_string_value(json_object_get(c, "kind")), "field_changed") == 0) {
            cr_assert_str_eq(json_string_value(json_object_get(c, "before")), "integer");
            cr_assert_str_eq(json_string_value(json_object_get(c, "after")), "bigint");
            cr_assert(json_is_true(json_object_get(c, "breaking")));
        }
    }

    /* nothing new: nothing sent again */
    doc = crawl(&f, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(doc, "alerts")), 0);
    cr_assert_eq(n_requests(srv), 1);
    json_t *st = status_of(&f, "hook");
    cr_assert_eq(int_of(st, "pending"), 0);
    cr_assert_eq(int_of(st, "delivered"), 2);
    cr_assert(json_is_true(json_object_get(st, "configured")));
    server_stop(srv);
}

Test(alerts, slack_format_posts_a_readable_escaped_message, .timeout = 300)
{
    http_server *srv = server_start(-1, NULL, 0);
    char *yaml = itest_strf("alerts:\n"
                            "  - name: slack\n"
                            "    format: slack\n"
                            "    webhook: http://localhost:%d/services/T0/B0/x\n", srv->port);
    fixture f = setup("slack", "CREATE TABLE public.orders (id int, amount int)", yaml);
    crawl(&f, 0, NULL);
    itest_sql(f.pg, "CREATE TABLE public.\"<!channel> & <script>\" (id int);"
                    "ALTER TABLE public.orders DROP COLUMN amount");
    json_t *doc = crawl(&f, 0, NULL);
    cr_assert_eq(int_of(outcome(doc, "slack"), "delivered"), 2);
    cr_assert_eq(n_requests(srv), 1);
    json_t *body = itest_parse_json(srv->reqs[0].body);
    cr_assert_eq(json_object_size(body), 1);
    const char *text = json_string_value(json_object_get(body, "text"));
    cr_assert(strstr(text, "2 changes (1 breaking) in test"), "%s", text);
    cr_assert(strstr(text, "`test.public.orders.amount` field_removed (integer) *breaking*"),
              "%s", text);
    cr_assert(strstr(text, "`test.public.&lt;!channel&gt; &amp; &lt;script&gt;` "
                           "container_added (table)"), "%s", text);
    cr_assert_null(strstr(text, "<!channel>"), "%s", text);
    server_stop(srv);
}

Test(alerts, webhook_down_keeps_the_change_queued_until_retry_delivers_it_once,
     .timeout = 300)
{
    int port;
    int down = reserve_port(&port);
    char *yaml = itest_strf("alerts:\n"
                            "  - name: hook\n"
                            "    webhook: http://127.0.0.1:%d/hook\n"
                            "    timeout: 2s\n", port);
    fixture f = setup("down", "CREATE TABLE public.t (id int)", yaml);
    crawl(&f, 0, NULL);
    itest_sql(f.pg, "ALTER TABLE public.t ADD COLUMN x int");

    /* the crawl itself succeeds; the failure is said, not hidden */
    itest_result r;
    json_t *doc = crawl(&f, 0, &r);
    json_t *o = outcome(doc, "hook");
    cr_assert_not_null(o, "%s", r.out);
    cr_assert_eq(int_of(o, "delivered"), 0);
    cr_assert_eq(int_of(o, "pending"), 1);
    const char *error = json_string_value(json_object_get(o, "error"));
    cr_assert(error && strstr(error, "webhook: 127.0.0.1") && strstr(error, "(3 attempts)"),
              "%s", error);
    cr_assert(strstr(r.err, "alert 'hook': 1 change not delivered, kept queued"), "%s", r.err);
    cr_assert(strstr(r.err, "alerts retry hook"), "%s", r.err);
    cr_assert_null(strstr(r.err, "/hook"), "the URL is not quoted: %s", r.err);

    json_t *st = status_of(&f, "hook");
    cr_assert_eq(int_of(st, "pending"), 1);
    cr_assert_eq(int_of(st, "attempts"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(st, "last_error")), error);
    json_t *pc = json_array_get(json_object_get(st, "pending_changes"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(pc, "kind")), "field_added");
    itest_result text = mc(&f, "alerts", "status", NULL, NULL);
    cr_assert(strstr(text.out, "hook (webhook): 1 pending since run"), "%s", text.out);
    cr_assert(strstr(text.out, "last error"), "%s", text.out);
    cr_assert(strstr(text.out, "test.public.t.x  field_added"), "%s", text.out);

    /* retry while still down: exit 4, still queued */
    itest_result again = mc(&f, "alerts", "retry", NULL, NULL);
    cr_assert_eq(again.status, 4, "%s", again.err);
    cr_assert_eq(int_of(status_of(&f, "hook"), "attempts"), 2);

    /* the server is back: retry delivers, once */
    http_server *srv = server_start(down, NULL, 0);
    itest_result ok = mc(&f, "alerts", "retry", "--json", NULL);
    cr_assert_eq(ok.status, 0, "%s", ok.err);
    json_t *rd = itest_parse_json(ok.out);
    cr_assert_eq(int_of(outcome(rd, "hook"), "delivered"), 1);
    cr_assert_eq(int_of(outcome(rd, "hook"), "pending"), 0);
    cr_assert_eq(n_requests(srv), 1);
    json_t *body = itest_parse_json(srv->reqs[0].body);
    cr_assert_str_eq(signatures(json_object_get(body, "changes")), "field_added public.t.x\n");

    itest_result none = mc(&f, "alerts", "retry", NULL, NULL);
    cr_assert_eq(none.status, 0);
    cr_assert(strstr(none.out, "nothing pending"), "%s", none.out);
    crawl(&f, 0, NULL);
    cr_assert_eq(n_requests(srv), 1, "never delivered twice");
    st = status_of(&f, "hook");
    cr_assert_eq(int_of(st, "pending"), 0);
    cr_assert_eq(int_of(st, "delivered"), 1);
    server_stop(srv);
}

Test(alerts, server_errors_are_retried_in_the_run_and_redirects_refused, .timeout = 300)
{
    static const int script[] = {503, 200, 302};
    http_server *srv = server_start(-1, script, 3);
    char *yaml = itest_strf("alerts:\n"
                            "  - name: hook\n"
                            "    webhook: http://127.0.0.1:%d/hook\n", srv->port);
    fixture f = setup("flaky", "CREATE TABLE public.t (id int)", yaml);
    crawl(&f, 0, NULL);

    /* 503, then 200 within the same run: delivered, sent twice */
    itest_sql(f.pg, "ALTER TABLE public.t ADD COLUMN a int");
    json_t *doc = crawl(&f, 0, NULL);
    cr_assert_eq(int_of(outcome(doc, "hook"), "delivered"), 1);
    cr_assert_eq(n_requests(srv), 2);
    cr_assert_str_eq(srv->reqs[0].body, srv->reqs[1].body);

    /* a redirect is a failure, not followed and not retried */
    itest_sql(f.pg, "ALTER TABLE public.t ADD COLUMN b int");
    itest_result r;
    doc = crawl(&f, 0, &r);
    json_t *o = outcome(doc, "hook");
    cr_assert_eq(int_of(o, "pending"), 1);
    const char *error = json_string_value(json_object_get(o, "error"));
    cr_assert(strstr(error, "HTTP 302, a redirect; redirects are not followed"), "%s", error);
    cr_assert_eq(n_requests(srv), 3, "one attempt, nothing sent to the Location");
    cr_assert(strstr(r.err, "hint: "), "%s", r.err);

    /* the next crawl delivers it (the server answers 200 again) */
    doc = crawl(&f, 0, NULL);
    cr_assert_eq(int_of(outcome(doc, "hook"), "delivered"), 1);
    cr_assert_eq(n_requests(srv), 4);
    json_t *body = itest_parse_json(srv->reqs[3].body);
    cr_assert_str_eq(signatures(json_object_get(body, "changes")), "field_added public.t.b\n");
    server_stop(srv);
}

/* ---- the command ---------------------------------------------------------------------- */

Test(alerts, failing_command_keeps_the_change_queued_and_a_later_run_delivers_once,
     .timeout = 300)
{
    char *dir = itest_tmpdir();
    char *exitf = itest_strf("%s/exit", dir), *got = itest_strf("%s/got.jsonl", dir);
    itest_write_file(exitf, "1\n");
    /* It prints to stdout too: that must not reach crawl --json's stdout. */
    char *yaml = itest_strf("alerts:\n"
                            "  - name: page\n"
                            "    command: [sh, -c, 'echo stdout-noise; cat >> \"$0\"; "
                            "echo pager unreachable >&2; exit $(cat \"$1\")', '%s', '%s']\n",
                            got, exitf);
    fixture f = setup("cmd", "CREATE TABLE public.t (id int)", yaml);
    crawl(&f, 0, NULL);
    itest_sql(f.pg, "ALTER TABLE public.t ADD COLUMN x int; CREATE TABLE public.u (id int)");

    itest_result r;
    json_t *doc = crawl(&f, 0, &r);
    json_t *o = outcome(doc, "page");
    cr_assert_str_eq(json_string_value(json_object_get(o, "sink")), "command");
    cr_assert_eq(int_of(o, "pending"), 2);
    cr_assert_str_eq(json_string_value(json_object_get(o, "error")),
                     "command sh exited with status 1: pager unreachable");
    cr_assert(strstr(r.err, "2 changes not delivered, kept queued"), "%s", r.err);
    cr_assert_eq(count_lines(read_or_empty(got)), 1, "one attempt, one batch on stdin");
    json_t *batch = itest_parse_json(strtok(read_or_empty(got), "\n"));
    cr_assert_eq(int_of(batch, "version"), 3);
    cr_assert_str_eq(json_string_value(json_object_get(batch, "alert")), "page");
    cr_assert_str_eq(signatures(json_object_get(batch, "changes")),
                     "container_added public.u\nfield_added public.t.x\n");

    /* fixed: the next run delivers the queued changes, exactly once */
    itest_write_file(exitf, "0\n");
    doc = crawl(&f, 0, NULL);
    cr_assert_eq(int_of(outcome(doc, "page"), "delivered"), 2);
    cr_assert_eq(count_lines(read_or_empty(got)), 2);
    crawl(&f, 0, NULL);
    itest_result retry = mc(&f, "alerts", "retry", "page", NULL);
    cr_assert_eq(retry.status, 0, "%s", retry.err);
    cr_assert_eq(count_lines(read_or_empty(got)), 2, "never delivered twice");
    json_t *st = status_of(&f, "page");
    cr_assert_eq(int_of(st, "pending"), 0);
    cr_assert_eq(int_of(st, "delivered"), 2);
}

/* ---- the file ----------------------------------------------------------------------- */

Test(alerts, file_sink_appends_json_lines_that_parse, .timeout = 300)
{
    char *dir = itest_tmpdir();
    char *log = itest_strf("%s/changes.jsonl", dir);
    itest_write_file(log, "{\"from\":\"an older run\"}\n{\"cut off"); /* a crash's half line */
    char *yaml = itest_strf("alerts:\n  - name: log\n    file: %s\n", log);
    fixture f = setup("file", "CREATE SCHEMA s; CREATE TABLE s.t (id int, v text)", yaml);
    crawl(&f, 0, NULL);
    itest_sql(f.pg, "COMMENT ON TABLE s.t IS 'with \"quotes\", \\ and a\nnewline';"
                    "ALTER TABLE s.t ALTER COLUMN v SET NOT NULL;"
                    "CREATE VIEW s.\"vé\" AS SELECT 1 AS one");
    json_t *doc = crawl(&f, 0, NULL);
    json_t *reported = json_object_get(json_array_get(json_object_get(doc, "datastores"), 0),
                                       "changes");
    cr_assert_eq(int_of(outcome(doc, "log"), "delivered"), 3);

    char *text = itest_read_file(log);
    const char *start = "{\"from\":\"an older run\"}\n{\"cut off\n{";
    cr_assert(strncmp(text, start, strlen(start)) == 0,
              "the half line is ended, ours start on a line of their own: %s", text);
    cr_assert(text[strlen(text) - 1] == '\n', "the file ends with a whole line");
    /* our lines: every one parses and carries version, alert and id */
    char *ours = strstr(text, "off\n") + 4;
    json_t *arr = json_array();
    size_t n = 0;
    for (char *line = strtok(ours, "\n"); line; line = strtok(NULL, "\n"), n++) {
        json_t *o = itest_parse_json(line);
        cr_assert_eq(int_of(o, "version"), 3);
        cr_assert_str_eq(json_string_value(json_object_get(o, "alert")), "log");
        cr_assert_gt(int_of(o, "id"), 0);
        json_array_append_new(arr, o);
    }
    cr_assert_eq(n, 3);
    cr_assert_str_eq(signatures(arr), signatures(reported));
}

/* ---- filters ------------------------------------------------------------------------- */

Test(alerts, filters_select_exactly_what_they_should, .timeout = 300)
{
    char *dir = itest_tmpdir();
    /* one of three tables dropped is over the default fail_safe of 20% */
    char *yaml = itest_strf(
        "    fail_safe: { max_removed_pct: 100 }\n"
        "alerts:\n"
        "  - name: all\n    file: %s/all.jsonl\n"
        "  - name: removed\n    on: [container_removed, field_removed]\n    file: %s/removed.jsonl\n"
        "  - name: sales\n    match: ['test.sales.*']\n    file: %s/sales.jsonl\n"
        "  - name: breaking\n    breaking_only: true\n    file: %s/breaking.jsonl\n"
        "  - name: narrow\n    on: [field_added]\n    match: ['test.sales.b']\n"
        "    breaking_only: true\n    file: %s/narrow.jsonl\n",
        dir, dir, dir, dir, dir);
    fixture f = setup("filters",
                      "CREATE SCHEMA sales;"
                      "CREATE TABLE public.a (x int, y int);"
                      "CREATE TABLE sales.b (x int);"
                      "CREATE TABLE sales.c (x int)",
                      yaml);
    crawl(&f, 0, NULL);
    itest_sql(f.pg, "DROP TABLE sales.c;"
                    "ALTER TABLE public.a DROP COLUMN y;"
                    "ALTER TABLE sales.b ADD COLUMN z int;"
                    "COMMENT ON TABLE public.a IS 'now documented'");
    json_t *doc = crawl(&f, 0, NULL);
    json_t *reported = json_object_get(json_array_get(json_object_get(doc, "datastores"), 0),
                                       "changes");
    cr_assert_str_eq(signatures(reported),
                     "container_changed public.a\n"
                     "container_removed sales.c\n"
                     "field_added sales.b.z\n"
                     "field_removed public.a.y\n");
    struct {
        const char *alert, *want;
    } cases[] = {
        {"all", "container_changed public.a\ncontainer_removed sales.c\n"
                "field_added sales.b.z\nfield_removed public.a.y\n"},
        {"removed", "container_removed sales.c\nfield_removed public.a.y\n"},
        {"sales", "container_removed sales.c\nfield_added sales.b.z\n"},
        {"breaking", "container_removed sales.c\nfield_removed public.a.y\n"},
        {"narrow", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = itest_strf("%s/%s.jsonl", dir, cases[i].alert);
        cr_assert_str_eq(signatures(lines_of(path)), cases[i].want, "alert %s",
                         cases[i].alert);
        json_t *o = outcome(doc, cases[i].alert);
        if (cases[i].want[0])
            cr_assert_eq(int_of(o, "delivered"), (json_int_t)count_lines(cases[i].want));
        else
            cr_assert_null(o, "nothing queued for %s", cases[i].alert);
    }
}

/* ---- a crash between the commit and the deliveries ---------------------------------------- */

Test(alerts, crash_after_the_commit_delivers_on_the_next_run, .timeout = 300)
{
    char *dir = itest_tmpdir();
    char *pidf = itest_strf("%s/sink.pid", dir), *log = itest_strf("%s/log.jsonl", dir);
    char *slow = itest_strf("%s/slow.jsonl", dir);
    /* "slow" is delivered first and hangs; "log" comes after it */
    char *hang = itest_strf("alerts:\n"
                            "  - name: slow\n"
                            "    command: [sh, -c, 'echo $$ > \"$0\"; exec sleep 120', '%s']\n"
                            "    timeout: 5m\n"
                            "  - name: log\n"
                            "    file: %s\n", pidf, log);
    fixture f = setup("crash", "CREATE TABLE public.t (id int)", hang);
    crawl(&f, 0, NULL);
    itest_sql(f.pg, "ALTER TABLE public.t ADD COLUMN x int");

    const char *argv[] = {"-c", f.cfg, "crawl", NULL};
    char *out = itest_strf("%s/crawl.out", dir);
    pid_t pid = itest_spawn(argv, env(), out);
    for (int i = 0; i < 6000 && access(pidf, F_OK) != 0; i++)
        usleep(10 * 1000);
    cr_assert_eq(access(pidf, F_OK), 0, "the slow sink never started");
    usleep(100 * 1000); /* its pid is written */
    kill(pid, SIGKILL);
    itest_wait(pid);
    char *sink_pid = itest_read_file(pidf);
    kill(atoi(sink_pid), SIGKILL);

    /* The run was committed; its deliveries were queued with it and none
     * was made. */
    itest_result h = mc(&f, "history", "--json", NULL, NULL);
    json_t *last = json_array_get(json_object_get(itest_parse_json(h.out), "runs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(last, "status")), "ok");
    cr_assert_eq(int_of(last, "changes"), 1);
    cr_assert_eq(int_of(status_of(&f, "slow"), "pending"), 1);
    cr_assert_eq(int_of(status_of(&f, "log"), "pending"), 1);
    cr_assert_str_eq(read_or_empty(log), "");

    /* The next run (the sink fixed) delivers both, once. */
    char *fixed = itest_strf("alerts:\n"
                             "  - name: slow\n"
                             "    command: [sh, -c, 'cat >> \"$0\"', '%s']\n"
                             "  - name: log\n"
                             "    file: %s\n", slow, log);
    reconfigure(&f, fixed);
    json_t *doc = crawl(&f, 0, NULL);
    cr_assert_eq(int_of(outcome(doc, "slow"), "delivered"), 1);
    cr_assert_eq(int_of(outcome(doc, "log"), "delivered"), 1);
    crawl(&f, 0, NULL);
    cr_assert_eq(count_lines(read_or_empty(slow)), 1);
    cr_assert_str_eq(signatures(lines_of(log)), "field_added public.t.x\n");
}

/* ---- orphaned alerts --------------------------------------------------------------------- */

Test(alerts, orphaned_alert_is_reported_and_can_be_discarded, .timeout = 300)
{
    int port;
    reserve_port(&port); /* never listened on */
    char *yaml = itest_strf("alerts:\n"
                            "  - name: gone\n"
                            "    webhook: http://127.0.0.1:%d/x\n"
                            "    timeout: 1s\n", port);
    fixture f = setup("orphan", "CREATE TABLE public.t (id int)", yaml);
    crawl(&f, 0, NULL);
    itest_sql(f.pg, "ALTER TABLE public.t ADD COLUMN x int");
    crawl(&f, 0, NULL);
    cr_assert_eq(int_of(status_of(&f, "gone"), "pending"), 1);

    /* the alert is taken out of the configuration */
    char *dir = itest_tmpdir();
    char *other = itest_strf("alerts:\n  - name: log\n    file: %s/log.jsonl\n", dir);
    reconfigure(&f, other);
    json_t *st = status_of(&f, "gone");
    cr_assert(json_is_false(json_object_get(st, "configured")));
    cr_assert(json_is_true(json_object_get(st, "orphaned")));
    cr_assert_eq(int_of(st, "pending"), 1);
    cr_assert(json_is_true(json_object_get(status_of(&f, "log"), "configured")));
    itest_result text = mc(&f, "alerts", "status", NULL, NULL);
    cr_assert(strstr(text.out, "gone (?), orphaned: not in the configuration: 1 pending"),
              "%s", text.out);
    cr_assert(strstr(text.out, "metacrawl alerts discard gone"), "%s", text.out);
    /* a crawl does not deliver it, and retry refuses it with a hint */
    itest_sql(f.pg, "CREATE TABLE public.n (id int)");
    json_t *doc = crawl(&f, 0, NULL);
    cr_assert_null(outcome(doc, "gone"));
    itest_result retry = mc(&f, "alerts", "retry", "gone", NULL);
    cr_assert_eq(retry.status, 2);
    cr_assert(strstr(retry.err, "orphaned pending delivery"), "%s", retry.err);

    itest_result d = mc(&f, "alerts", "discard", "gone", NULL);
    cr_assert_eq(d.status, 0, "%s", d.err);
    cr_assert(strstr(d.out, "gone: 1 pending delivery discarded"), "%s", d.out);
    st = status_of(&f, "gone");
    cr_assert_eq(int_of(st, "pending"), 0);
    cr_assert_eq(int_of(st, "discarded"), 1);
}
