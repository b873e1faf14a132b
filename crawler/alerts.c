/*
 * alerts.c — change alerts: the filters, the delivery loop over the store's
 * outbox, the three sinks (JSON-lines file, command, webhook) and the
 * `alerts` command (alerts.h; docs/alerts.md).
 *
 * Invariants:
 *  1. Queuing is the store's job, inside the run's transaction (the rules
 *     set by alerts_open); this file only decides which alert wants which
 *     change (alerts_match) and delivers what the outbox holds.
 *  2. A batch is marked delivered only after its sink accepted it, and only
 *     rows still pending are marked.  So a change is delivered again only
 *     when a success could not be recorded (crash, store error): at least
 *     once, never twice after a recorded success.
 *  3. One process delivers at a time (store_outbox_lock); the lock is an
 *     flock, so a killed delivery never leaves the queue locked.
 *  4. No secret and no webhook URL appears in an error: a Slack or Teams
 *     URL is itself a credential.  Errors name the host only.  A command's
 *     arguments are not quoted either, only its program name.
 *  5. TLS verification cannot be switched off: there is no option for it.
 *     Plain http:// is allowed only to loopback, and then checked again on
 *     the address actually connected to (open_loopback_only).
 */
#include "alerts.h"
#include "commands.h"
#include "json.h"
#include "mc_build.h"
#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

/* ---- filters ------------------------------------------------------------------ */

const char *alerts_sink_name(const cfg_alert *a)
{
    return a->file ? "file" : a->command ? "command" : "webhook";
}

static bool any_glob(const cfg_alert *a, const char *path)
{
    for (size_t i = 0; i < a->n_match; i++)
        if (mc_glob_match(a->match[i], path))
            return true;
    return false;
}

/* Whether glob g matches path, or g ends in ".*" and its part before does:
 * how an event without a container (a schema's, a datastore's) is matched. */
static bool glob_or_head(const char *g, const char *path)
{
    size_t n = strlen(g);
    if (mc_glob_match(g, path))
        return true;
    if (n <= 2 || strcmp(g + n - 2, ".*") != 0)
        return false;
    char *head = mc_strndup(g, n - 2);
    bool hit = mc_glob_match(head, path);
    free(head);
    return hit;
}

/*
 * Globs are matched against "datastore.schema.container".  A schema event
 * has no container: it matches a glob that matches "datastore.schema", or
 * one that ends in ".*" whose part before matches it ("analytics.public.*"
 * is about everything in that schema, the schema included).  A renamed
 * container matches by its old path too: whoever watches a schema wants to
 * hear that a table moved out of it.
 */
bool alerts_match(const cfg_alert *a, const char *datastore, const mc_change *ch)
{
    if ((unsigned)ch->kind >= MC_CHANGE__COUNT || !(a->on_mask & (1u << ch->kind)))
        return false;
    if (a->breaking_only && !ch->breaking)
        return false;
    if (a->n_match == 0)
        return true;
    bool hit = false;
    if (!ch->schema || !*ch->schema) {
        /* a datastore event (datastore_stale, datastore_recovered): its path
         * is the datastore; "analytics.*" is about it too */
        for (size_t i = 0; i < a->n_match && !hit; i++)
            hit = glob_or_head(a->match[i], datastore);
        return hit;
    }
    if (!ch->container) {
        char *path = mc_asprintf("%s.%s", datastore, ch->schema);
        for (size_t i = 0; i < a->n_match && !hit; i++)
            hit = glob_or_head(a->match[i], path);
        free(path);
        return hit;
    }
    char *path = mc_asprintf("%s.%s.%s", datastore, ch->schema, ch->container);
    hit = any_glob(a, path);
    free(path);
    if (!hit && ch->kind == MC_CONTAINER_RENAMED && ch->before) {
        json_t *b = json_loads(ch->before, 0, NULL);
        const char *s = json_string_value(json_object_get(b, "schema"));
        const char *n = json_string_value(json_object_get(b, "name"));
        if (s && n) {
            char *old = mc_asprintf("%s.%s.%s", datastore, s, n);
            hit = any_glob(a, old);
            free(old);
        }
        json_decref(b);
    }
    return hit;
}

/* ---- the JSON shapes ------------------------------------------------------------ */

void alerts_json_change(mc_buf *b, const mc_delivery_list *l, size_t i,
                        const char *alert)
{
    const mc_delivery *d = &l->items[i];
    mc_buf tmp = {0};
    cmd_json_change(&tmp, &l->changes.items[i], d->datastore, d->run);
    bool first = true;
    mc_buf_putc(b, '{');
    if (alert) {
        json_put_kv_int(b, &first, "version", ALERTS_JSON_VERSION);
        json_put_kv_str(b, &first, "alert", alert);
    }
    json_put_kv_int(b, &first, "id", d->change_id);
    /* tmp is "{...}" with at least the kind: splice its members in. */
    mc_buf_putc(b, ',');
    mc_buf_append(b, tmp.data + 1, tmp.len - 1);
    mc_buf_free(&tmp);
}

void alerts_format_json(mc_buf *b, const char *alert, const mc_delivery_list *l)
{
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_int(b, &first, "version", ALERTS_JSON_VERSION);
    json_put_kv_str(b, &first, "alert", alert);
    first = json_put_key(b, first, "changes");
    mc_buf_putc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            mc_buf_putc(b, ',');
        alerts_json_change(b, l, i, NULL);
    }
    mc_buf_puts(b, "]}");
}

void alerts_format_lines(mc_buf *b, const char *alert, const mc_delivery_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        alerts_json_change(b, l, i, alert);
        mc_buf_putc(b, '\n');
    }
}

/* Text for Slack's mrkdwn: &, < and > escaped (so a table called
 * "<!channel>" pings nobody), control characters as \xNN, backticks made
 * quotes (the text sits in a code span), cut at max bytes on a character
 * boundary. */
static void slack_text(mc_buf *b, const char *s, size_t max)
{
    size_t n = strlen(s), cut = n;
    if (n > max) {
        cut = max;
        while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '&')
            mc_buf_puts(b, "&amp;");
        else if (c == '<')
            mc_buf_puts(b, "&lt;");
        else if (c == '>')
            mc_buf_puts(b, "&gt;");
        else if (c == '`')
            mc_buf_putc(b, '\'');
        else if (c < 0x20 || c == 0x7f)
            mc_buf_printf(b, "\\x%02x", c);
        else
            mc_buf_putc(b, (char)c);
    }
    if (cut < n)
        mc_buf_puts(b, "…");
}

/* A JSON value for people: strings unquoted, null as (none). */
static void slack_value(mc_buf *b, const char *json)
{
    json_t *v = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
    if (!json || json_is_null(v))
        mc_buf_puts(b, "(none)");
    else if (json_is_string(v))
        slack_text(b, json_string_value(v), 80);
    else
        slack_text(b, json, 80);
    json_decref(v);
}

static void slack_line(mc_buf *b, const mc_change *c, const char *datastore)
{
    mc_buf path = {0};
    mc_buf_puts(&path, datastore);
    if (c->schema)
        mc_buf_printf(&path, ".%s", c->schema);
    if (c->container)
        mc_buf_printf(&path, ".%s", c->container);
    if (c->field)
        mc_buf_printf(&path, ".%s", c->field);
    mc_buf_puts(b, "• `");
    slack_text(b, mc_buf_str(&path), 200);
    mc_buf_printf(b, "` %s", mc_change_kind_name(c->kind));
    mc_buf_free(&path);

    json_t *o = NULL;
    switch (c->kind) {
    case MC_CONTAINER_ADDED:
    case MC_CONTAINER_REMOVED:
    case MC_FIELD_ADDED:
    case MC_FIELD_REMOVED: {
        bool added = c->kind == MC_CONTAINER_ADDED || c->kind == MC_FIELD_ADDED;
        o = json_loads(added ? c->after : c->before, 0, NULL);
        const char *what = json_string_value(json_object_get(
            o, c->kind == MC_CONTAINER_ADDED || c->kind == MC_CONTAINER_REMOVED
                   ? "kind" : "type"));
        if (what) {
            mc_buf_puts(b, " (");
            slack_text(b, what, 80);
            mc_buf_putc(b, ')');
        }
        break;
    }
    case MC_CONTAINER_RENAMED:
        o = json_loads(c->before, 0, NULL);
        if (o) {
            mc_buf_puts(b, " from `");
            const char *os = json_string_value(json_object_get(o, "schema"));
            const char *on = json_string_value(json_object_get(o, "name"));
            mc_buf path_old = {0};
            mc_buf_printf(&path_old, "%s.%s", os ? os : "?", on ? on : "?");
            slack_text(b, mc_buf_str(&path_old), 200);
            mc_buf_free(&path_old);
            mc_buf_putc(b, '`');
        }
        break;
    case MC_FIELD_RENAMED:
        mc_buf_puts(b, " from ");
        slack_value(b, c->before);
        break;
    case MC_DATASTORE_STALE:
        mc_buf_puts(b, ": no successful crawl since ");
        slack_value(b, c->after);
        break;
    case MC_DATASTORE_RECOVERED:
        mc_buf_puts(b, ": crawled successfully ");
        slack_value(b, c->after);
        break;
    case MC_SCHEMA_CHANGED:
    case MC_CONTAINER_CHANGED:
    case MC_FIELD_CHANGED:
        mc_buf_puts(b, " ");
        slack_text(b, c->attribute ? c->attribute : "?", 40);
        if (c->attribute && (strcmp(c->attribute, "definition") == 0 ||
                             strcmp(c->attribute, "foreign_keys") == 0)) {
            mc_buf_puts(b, " changed");
        } else {
            mc_buf_puts(b, ": ");
            slack_value(b, c->before);
            mc_buf_puts(b, " → ");
            slack_value(b, c->after);
        }
        break;
    default:
        break;
    }
    json_decref(o);
    if (c->breaking)
        mc_buf_puts(b, " *breaking*");
    mc_buf_putc(b, '\n');
}

void alerts_format_slack(mc_buf *b, const char *alert, const mc_delivery_list *l)
{
    size_t n_breaking = 0;
    for (size_t i = 0; i < l->n; i++)
        n_breaking += l->changes.items[i].breaking;
    mc_buf t = {0};
    mc_buf_printf(&t, "*metacrawl*: %zu change%s (%zu breaking) in ", l->n,
                  l->n == 1 ? "" : "s", n_breaking);
    /* The datastores, in order of first appearance. */
    size_t n_ds = 0;
    for (size_t i = 0; i < l->n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(l->items[k].datastore, l->items[i].datastore) == 0;
        if (seen)
            continue;
        if (n_ds++)
            mc_buf_puts(&t, ", ");
        slack_text(&t, l->items[i].datastore, 80);
    }
    mc_buf_puts(&t, " (alert ");
    slack_text(&t, alert, 80);
    mc_buf_puts(&t, ")\n");
    size_t shown = l->n < ALERTS_SLACK_LINES ? l->n : ALERTS_SLACK_LINES;
    for (size_t i = 0; i < shown; i++)
        slack_line(&t, &l->changes.items[i], l->items[i].datastore);
    if (shown < l->n)
        mc_buf_printf(&t, "…and %zu more (metacrawl diff shows them all)\n",
                      l->n - shown);
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &first, "text", mc_buf_str(&t));
    mc_buf_putc(b, '}');
    mc_buf_free(&t);
}

/* ---- sink: a JSON-lines file ------------------------------------------------------ */

int alerts_append_file(const char *path, const char *data, size_t len,
                       mc_error *err)
{
    /* Read-write only to look at the last byte (pread). */
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        mc_error_set(err, MC_EXIT_CONNECT, "file %s: cannot open it for "
                     "appending: %s", path, strerror(errno));
        mc_error_hint(err, "the directory must exist and be writable by this user");
        return -1;
    }
    mc_buf b = {0};
    int ret = -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        mc_error_set(err, MC_EXIT_CONNECT, "file %s: %s", path, strerror(errno));
        goto out;
    }
    /* A crash of an older metacrawl (or a full disk) may have left half a
     * line: end it, so our first line starts on a line of its own. */
    if (S_ISREG(sb.st_mode) && sb.st_size > 0) {
        char last = '\n';
        if (pread(fd, &last, 1, sb.st_size - 1) == 1 && last != '\n') {
            mc_log(MC_LOG_WARN, "file %s ends in an unfinished line (an "
                   "interrupted write?); starting on a new line", path);
            mc_buf_putc(&b, '\n');
        }
    }
    mc_buf_append(&b, data, len);
    /* One write of whole lines: O_APPEND writes to a regular file land in
     * one piece.  Loop only for the unusual short write (a full disk), whose
     * half line the next delivery ends as above. */
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            mc_error_set(err, MC_EXIT_CONNECT, "file %s: cannot write: %s", path,
                         w < 0 ? strerror(errno) : "no progress");
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        mc_error_set(err, MC_EXIT_CONNECT, "file %s: cannot flush it to disk: %s",
                     path, strerror(errno));
        goto out;
    }
    ret = 0;
out:
    mc_buf_free(&b);
    if (close(fd) != 0 && ret == 0) {
        mc_error_set(err, MC_EXIT_CONNECT, "file %s: %s", path, strerror(errno));
        ret = -1;
    }
    return ret;
}

/* ---- sink: a command ------------------------------------------------------------- */

/* The command's stderr for an error message: one line, printable. */
static void append_stderr(mc_buf *msg, const mc_buf *errout)
{
    size_t n = errout->len;
    while (n && (errout->data[n - 1] == '\n' || errout->data[n - 1] == ' '))
        n--;
    if (!n)
        return;
    mc_buf_puts(msg, ": ");
    for (size_t i = 0; i < n && i < 300; i++) {
        unsigned char c = (unsigned char)errout->data[i];
        if (c == '\n')
            mc_buf_puts(msg, " / ");
        else
            mc_buf_putc(msg, c < 0x20 || c == 0x7f ? ' ' : (char)c);
    }
    if (n > 300)
        mc_buf_puts(msg, "...");
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int alerts_run_command(char *const *argv, const char *input, size_t len,
                       int timeout_s, mc_error *err)
{
    if (!argv || !argv[0])
        return mc_error_set(err, MC_EXIT_CONFIG, "command: no program given");
    const char *name = base_name(argv[0]);
    /* stdout to /dev/null: our stdout may be --json. */
    mc_proc_spec spec = {
        .argv = argv,
        .input = input ? input : "",
        .n_input = input ? len : 0,
        .out = MC_PROC_DEVNULL,
        .err = MC_PROC_CAPTURE,
        .capture_max = 4096,
        .timeout_s = timeout_s > 0 ? timeout_s : 10,
    };
    mc_proc_result res;
    if (mc_proc_run(&spec, &res) != 0) {
        if (strcmp(res.start_stage, "pipe") == 0)
            return mc_error_set(err, MC_EXIT_CONNECT, "command %s: cannot make a pipe: %s",
                                name, strerror(res.start_errno));
        mc_error_set(err, MC_EXIT_CONFIG, "command %s: cannot run it: %s", name,
                     strerror(res.start_errno));
        mc_error_hint(err, "command: takes the program and its arguments as a "
                      "list; the program must be on PATH or an absolute path");
        return -1;
    }
    mc_buf errout = {.data = res.err, .len = res.n_err, .cap = res.n_err + 1};
    int status = res.status;

    int ret = 0;
    mc_buf msg = {0};
    if (res.timed_out) {
        mc_buf_printf(&msg, "command %s timed out after %ds and was killed", name,
                      timeout_s);
    } else if (!res.exited) {
        mc_buf_printf(&msg, "command %s: lost track of it: %s", name,
                      strerror(res.lost_errno));
    } else if (WIFSIGNALED(status)) {
        mc_buf_printf(&msg, "command %s was killed by signal %d", name, WTERMSIG(status));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        mc_buf_printf(&msg, "command %s exited with status %d", name,
                      WEXITSTATUS(status));
    }
    if (msg.len) {
        append_stderr(&msg, &errout);
        mc_error_set(err, MC_EXIT_CONNECT, "%s", mc_buf_str(&msg));
        if (res.timed_out)
            mc_error_hint(err, "raise the alert's timeout: (now %ds), or make the "
                          "command return sooner", timeout_s);
        ret = -1;
    } else if (errout.len) {
        mc_log(MC_LOG_INFO, "command %s wrote to stderr: %.*s", name,
               (int)(errout.len > 300 ? 300 : errout.len), errout.data);
    }
    mc_buf_free(&msg);
    mc_proc_result_free(&res);
    return ret;
}

/* ---- sink: a webhook ----------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool loopback_name(const char *host)
{
    if (!host)
        return false;
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return true;
    char buf[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        host = buf;
    }
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* The scheme and host of url (malloc'd), or -1 when curl cannot parse it. */
static int url_parts(const char *url, char **scheme, char **host)
{
    *scheme = *host = NULL;
    CURLU *u = curl_url();
    if (!u)
        return -1;
    int ret = -1;
    char *s = NULL, *h = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
        *scheme = mc_strdup(s);
        *host = mc_strdup(h);
        ret = 0;
    }
    curl_free(s);
    curl_free(h);
    curl_url_cleanup(u);
    return ret;
}

const char *alerts_webhook_url_problem(const char *url)
{
    char *scheme, *host;
    if (!url || url_parts(url, &scheme, &host) < 0)
        return "the webhook URL cannot be parsed";
    const char *why = NULL;
    if (strcasecmp(scheme, "https") == 0)
        why = NULL;
    else if (strcasecmp(scheme, "http") != 0)
        why = "a webhook URL must start with https://";
    else if (!loopback_name(host))
        why = "plain http:// is allowed only to a loopback host (127.0.0.1, "
              "::1, localhost); use https://";
    free(scheme);
    free(host);
    return why;
}

typedef struct post_ctx {
    mc_buf body;          /* the start of the answer, for the error */
    bool refused_address; /* plain http resolved to a non-loopback address */
} post_ctx;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    post_ctx *c = arg;
    size_t bytes = size * n;
    if (c->body.len < 512)
        mc_buf_append(&c->body, p, bytes < 512 - c->body.len ? bytes : 512 - c->body.len);
    return bytes;
}

static bool loopback_sockaddr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const void *)sa;
        return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)sa;
        return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
    }
    return false;
}

/* Plain http only: "localhost" could resolve anywhere, so the address
 * actually connected to is checked too (invariant 5). */
static curl_socket_t open_loopback_only(void *arg, curlsocktype purpose,
                                        struct curl_sockaddr *addr)
{
    post_ctx *c = arg;
    (void)purpose;
    if (!loopback_sockaddr(&addr->addr)) {
        c->refused_address = true;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* The answer's start, made one printable line. */
static void put_answer(mc_buf *msg, const mc_buf *body)
{
    size_t n = body->len;
    while (n && (body->data[n - 1] == '\n' || body->data[n - 1] == '\r' ||
                 body->data[n - 1] == ' '))
        n--;
    if (!n)
        return;
    mc_buf_puts(msg, ": ");
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char ch = (unsigned char)body->data[i];
        mc_buf_putc(msg, ch < 0x20 || ch == 0x7f ? ' ' : (char)ch);
    }
}

static bool retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

static bool tls_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return true;
    default:
        return false;
    }
}

int alerts_post_webhook(const char *url, const char *body, size_t len,
                        int timeout_s, int tries, mc_error *err)
{
    const char *problem = alerts_webhook_url_problem(url);
    if (problem) {
        /* The URL is not quoted (invariant 4). */
        mc_error_set(err, MC_EXIT_CONFIG, "webhook: %s", problem);
        mc_error_hint(err, "fix the alert's webhook: URL in the configuration");
        return -1;
    }
    char *scheme, *host;
    url_parts(url, &scheme, &host);
    bool plain = strcasecmp(scheme, "http") == 0;
    pthread_once(&curl_once, curl_init_once);
    CURL *h = curl_easy_init();
    if (!h) {
        free(scheme);
        free(host);
        return mc_error_set(err, MC_EXIT_CONNECT, "webhook: cannot start libcurl");
    }
    post_ctx pc = {0};
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip for larger bodies. */
    hdr = curl_slist_append(hdr, "Expect:");
    int connect_s = timeout_s < 10 ? timeout_s : 10;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "metacrawl/" MC_VERSION);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, plain ? "http" : "https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, plain ? CURLPROTO_HTTP : CURLPROTO_HTTPS);
#endif
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_s * 1000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_s * 1000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &pc);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (plain) {
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_loopback_only);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &pc);
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    }

    int ret = -1;
    mc_buf msg = {0};
    int code = MC_EXIT_CONNECT;
    const char *hint = NULL;
    if (tries < 1)
        tries = 1;
    int attempt;
    for (attempt = 1; attempt <= tries; attempt++) {
        errbuf[0] = '\0';
        mc_buf_reset(&pc.body);
        mc_buf_reset(&msg);
        hint = NULL;
        bool retry = false;
        /* CURLOPT_NOSIGNAL (threads) also stops libcurl from ignoring
         * SIGPIPE itself around TLS writes. */
        mc_sigpipe_guard guard;
        mc_sigpipe_block(&guard);
        CURLcode rc = curl_easy_perform(h);
        mc_sigpipe_restore(&guard);
        if (rc == CURLE_OK) {
            long status = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            if (status >= 200 && status < 300) {
                ret = 0;
                break;
            }
            mc_buf_printf(&msg, "webhook: %s answered HTTP %ld", host, status);
            if (status >= 300 && status < 400) {
                mc_buf_puts(&msg, ", a redirect; redirects are not followed");
                hint = "put the final URL in the alert's webhook: (a redirect "
                       "could send the changes elsewhere)";
            } else {
                put_answer(&msg, &pc.body);
                retry = status == 408 || status == 429 || status >= 500;
            }
        } else if (pc.refused_address) {
            mc_buf_printf(&msg, "webhook: %s resolves to an address that is not "
                          "loopback; plain http:// is allowed only to loopback", host);
            code = MC_EXIT_CONFIG;
            hint = "use https://";
        } else {
            mc_buf_printf(&msg, "webhook: %s: %s", host,
                          errbuf[0] ? errbuf : curl_easy_strerror(rc));
            retry = retryable_curl(rc);
            if (tls_error(rc))
                hint = "metacrawl always verifies the server's certificate; give "
                       "the server a certificate from a CA in the system store, "
                       "or add its CA there (SSL_CERT_FILE also names a bundle)";
        }
        if (!retry || attempt == tries)
            break;
        mc_log(MC_LOG_INFO, "%s; trying again (attempt %d of %d)", mc_buf_str(&msg),
               attempt + 1, tries);
        sleep((unsigned)attempt); /* 1s, 2s, ... */
    }
    if (ret < 0) {
        if (attempt > 1)
            mc_buf_printf(&msg, " (%d attempts)", attempt > tries ? tries : attempt);
        mc_error_set(err, code, "%s", mc_buf_str(&msg));
        if (hint)
            mc_error_hint(err, "%s", hint);
    }
    mc_buf_free(&msg);
    mc_buf_free(&pc.body);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(scheme);
    free(host);
    return ret;
}

/* ---- delivery ------------------------------------------------------------------ */

typedef struct outcome_slot {
    alerts_outcome o;
    bool touched, failed;
    char *error;
} outcome_slot;

struct alerts {
    const cfg *c;
    store *st;
    const char **names;
    store_outbox_rules rules;
    outcome_slot *slots; /* one per configured alert */
    const alerts_outcome **listed;
    size_t n_listed;
    bool lock_busy_reported;
};

static bool rules_want(void *arg, size_t i, const char *datastore, const mc_change *ch)
{
    const alerts *a = arg;
    return alerts_match(&a->c->alerts[i], datastore, ch);
}

alerts *alerts_open(const cfg *c, store *st)
{
    alerts *a = mc_calloc(1, sizeof *a);
    a->c = c;
    a->st = st;
    size_t n = c ? c->n_alerts : 0;
    a->names = mc_calloc(n + 1, sizeof *a->names);
    a->slots = mc_calloc(n + 1, sizeof *a->slots);
    a->listed = mc_calloc(n + 1, sizeof *a->listed);
    for (size_t i = 0; i < n; i++) {
        a->names[i] = c->alerts[i].name;
        a->slots[i].o.alert = c->alerts[i].name;
        a->slots[i].o.sink = alerts_sink_name(&c->alerts[i]);
    }
    a->rules = (store_outbox_rules){.n = n, .names = a->names, .wants = rules_want,
                                    .arg = a};
    if (st && n)
        store_set_outbox_rules(st, &a->rules);
    return a;
}

void alerts_close(alerts *a)
{
    if (!a)
        return;
    if (a->st)
        store_set_outbox_rules(a->st, NULL);
    for (size_t i = 0; a->c && i < a->c->n_alerts; i++)
        free(a->slots[i].error);
    free(a->slots);
    free(a->names);
    free(a->listed);
    free(a);
}

static void touch(alerts *a, size_t i)
{
    if (a->slots[i].touched)
        return;
    a->slots[i].touched = true;
    a->listed[a->n_listed++] = &a->slots[i].o;
}

static void fail_slot(outcome_slot *s, const mc_error *e)
{
    free(s->error);
    s->error = mc_strdup(e->message);
    s->o.error = s->error;
    s->o.code = e->code ? e->code : MC_EXIT_CONNECT;
    s->failed = true;
}

static int send_batch(const cfg_alert *al, const mc_delivery_list *l, mc_error *err)
{
    mc_buf b = {0};
    int rc;
    if (al->file) {
        alerts_format_lines(&b, al->name, l);
        rc = alerts_append_file(al->file, b.data, b.len, err);
    } else if (al->command) {
        alerts_format_json(&b, al->name, l);
        mc_buf_putc(&b, '\n');
        rc = alerts_run_command(al->command, b.data, b.len, al->timeout_s, err);
    } else {
        if (al->format && strcmp(al->format, "slack") == 0)
            alerts_format_slack(&b, al->name, l);
        else
            alerts_format_json(&b, al->name, l);
        rc = alerts_post_webhook(al->webhook, mc_buf_str(&b), b.len, al->timeout_s,
                                 ALERTS_WEBHOOK_TRIES, err);
    }
    mc_buf_free(&b);
    return rc;
}

static void deliver_one(alerts *a, size_t i)
{
    const cfg_alert *al = &a->c->alerts[i];
    outcome_slot *slot = &a->slots[i];
    mc_error err = {0};
    for (;;) {
        mc_delivery_list l;
        if (store_outbox_pending(a->st, al->name, ALERTS_BATCH_MAX, &l, &err) != 0) {
            touch(a, i);
            fail_slot(slot, &err);
            return;
        }
        if (l.n == 0) {
            mc_delivery_list_free(&l);
            break;
        }
        touch(a, i);
        int64_t *ids = mc_calloc(l.n, sizeof *ids);
        for (size_t k = 0; k < l.n; k++)
            ids[k] = l.items[k].id;
        mc_error derr = {0};
        int rc = send_batch(al, &l, &derr);
        size_t n = l.n;
        mc_delivery_list_free(&l);
        if (rc == 0) {
            /* Invariant 2: only now is it delivered. */
            if (store_outbox_mark_delivered(a->st, ids, n, &err) != 0) {
                mc_error e2 = {0};
                mc_error_set(&e2, MC_EXIT_STORE, "delivered %zu changes but could "
                             "not record it (they will be delivered again): %s",
                             n, err.message);
                fail_slot(slot, &e2);
                free(ids);
                break;
            }
            slot->o.n_delivered += (int64_t)n;
            mc_log(MC_LOG_INFO, "alert %s: delivered %zu changes", al->name, n);
            free(ids);
            continue;
        }
        fail_slot(slot, &derr);
        mc_error serr = {0};
        if (store_outbox_mark_failed(a->st, ids, n, derr.message, &serr) != 0)
            mc_log(MC_LOG_WARN, "alert %s: could not record the failed delivery: %s",
                   al->name, serr.message);
        free(ids);
        break;
    }
    if (slot->touched) {
        mc_error cerr = {0};
        int64_t left = 0;
        if (store_outbox_count_pending(a->st, al->name, &left, &cerr) == 0)
            slot->o.n_pending = left;
    }
}

size_t alerts_deliver(alerts *a, const char *const *names, size_t n_names)
{
    size_t n = a->c ? a->c->n_alerts : 0;
    size_t n_failed = 0;
    if (!n || !a->st)
        return 0;
    bool got = false;
    mc_error err = {0};
    if (store_outbox_lock(a->st, ALERTS_LOCK_WAIT_S, &got, &err) != 0) {
        for (size_t i = 0; i < n; i++) {
            touch(a, i);
            fail_slot(&a->slots[i], &err);
        }
        return n;
    }
    if (!got) {
        if (!a->lock_busy_reported)
            mc_log(MC_LOG_WARN, "another metacrawl process has been delivering "
                   "alerts from this store for %ds; what it does not deliver stays "
                   "queued for the next run", ALERTS_LOCK_WAIT_S);
        a->lock_busy_reported = true;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        bool wanted = n_names == 0;
        for (size_t k = 0; k < n_names && !wanted; k++)
            wanted = strcmp(names[k], a->c->alerts[i].name) == 0;
        if (!wanted)
            continue;
        if (!a->slots[i].failed) {
            deliver_one(a, i);
        } else {
            /* Not tried again; later runs may have queued more for it. */
            int64_t left = 0;
            mc_error cerr = {0};
            if (store_outbox_count_pending(a->st, a->c->alerts[i].name, &left,
                                           &cerr) == 0)
                a->slots[i].o.n_pending = left;
        }
    }
    store_outbox_unlock(a->st);
    for (size_t i = 0; i < n; i++)
        n_failed += a->slots[i].failed;
    return n_failed;
}

size_t alerts_n_outcomes(const alerts *a)
{
    return a ? a->n_listed : 0;
}

const alerts_outcome *alerts_outcome_at(const alerts *a, size_t i)
{
    return a && i < a->n_listed ? a->listed[i] : NULL;
}

void alerts_put_json(const alerts *a, mc_buf *b)
{
    mc_buf_putc(b, '[');
    for (size_t i = 0; i < alerts_n_outcomes(a); i++) {
        const alerts_outcome *o = a->listed[i];
        bool first = true;
        if (i)
            mc_buf_putc(b, ',');
        mc_buf_putc(b, '{');
        json_put_kv_str(b, &first, "alert", o->alert);
        json_put_kv_str(b, &first, "sink", o->sink);
        json_put_kv_int(b, &first, "delivered", o->n_delivered);
        json_put_kv_int(b, &first, "pending", o->n_pending);
        json_put_kv_str(b, &first, "error", o->error);
        mc_buf_putc(b, '}');
    }
    mc_buf_putc(b, ']');
}

int alerts_report(const alerts *a, FILE *out)
{
    int code = 0;
    for (size_t i = 0; i < alerts_n_outcomes(a); i++) {
        const alerts_outcome *o = a->listed[i];
        if (o->error) {
            mc_error e = {0};
            mc_error_set(&e, o->code, "alert '%s': %lld change%s not delivered, "
                         "kept queued: %s", o->alert, (long long)o->n_pending,
                         o->n_pending == 1 ? "" : "s", o->error);
            mc_error_hint(&e, "'metacrawl alerts status' shows the queue; the next "
                          "crawl or 'metacrawl alerts retry %s' delivers it", o->alert);
            cmd_report_error(&e);
            code = cmd_max_code(code, o->code);
        }
        if (out && o->n_delivered)
            fprintf(out, "alert %s: %lld change%s delivered (%s)\n", o->alert,
                    (long long)o->n_delivered, o->n_delivered == 1 ? "" : "s", o->sink);
    }
    return code;
}

/* ---- the alerts command ---------------------------------------------------------- */

static const cfg_alert *find_alert(const cfg *c, const char *name)
{
    for (size_t i = 0; c && i < c->n_alerts; i++)
        if (strcmp(c->alerts[i].name, name) == 0)
            return &c->alerts[i];
    return NULL;
}

static bool named(const cli_ctx *ctx, const char *name)
{
    if (ctx->n_args < 2)
        return true;
    for (int i = 1; i < ctx->n_args; i++)
        if (strcmp(ctx->args[i], name) == 0)
            return true;
    return false;
}

static const mc_outbox_stat *find_stat(const mc_outbox_stats *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i].alert, name) == 0)
            return &s->items[i];
    return NULL;
}

static void iso_or_null(mc_buf *b, bool *first, const char *key, int64_t t)
{
    char iso[21];
    mc_time_iso(t, iso);
    json_put_kv_str(b, first, key, t ? iso : NULL);
}

static void text_time(int64_t t)
{
    char iso[21];
    mc_time_iso(t, iso);
    iso[10] = ' ';
    iso[19] = '\0';
    printf("%s UTC", iso);
}

#define STATUS_LIST_JSON 100 /* pending changes listed per alert in --json */
#define STATUS_LIST_TEXT 5   /* ... and in text */

/* One alert of `alerts status`: configured is 1, 0 (orphaned) or -1 (no
 * configuration was read, so it cannot be told). */
static int status_one(const cli_ctx *ctx, store *st, mc_buf *j, bool first_alert,
                      const char *name, const char *sink, int configured,
                      const mc_outbox_stat *x)
{
    mc_delivery_list l = {0};
    mc_error err = {0};
    size_t want = ctx->json ? STATUS_LIST_JSON : STATUS_LIST_TEXT;
    if (x && x->n_pending && store_outbox_pending(st, name, want, &l, &err) != 0) {
        cmd_report_error(&err);
        return err.code;
    }
    int64_t pending = x ? x->n_pending : 0;
    if (ctx->json) {
        bool first = true;
        if (!first_alert)
            mc_buf_putc(j, ',');
        mc_buf_putc(j, '{');
        json_put_kv_str(j, &first, "alert", name);
        json_put_kv_str(j, &first, "sink", sink);
        if (configured < 0)
            json_put_kv_raw(j, &first, "configured", NULL);
        else
            json_put_kv_bool(j, &first, "configured", configured > 0);
        json_put_kv_bool(j, &first, "orphaned", configured == 0);
        json_put_kv_int(j, &first, "pending", pending);
        json_put_kv_int(j, &first, "delivered", x ? x->n_delivered : 0);
        json_put_kv_int(j, &first, "discarded", x ? x->n_discarded : 0);
        if (x && x->oldest_run)
            json_put_kv_int(j, &first, "oldest_pending_run", x->oldest_run);
        else
            json_put_kv_raw(j, &first, "oldest_pending_run", NULL);
        iso_or_null(j, &first, "oldest_queued_at", x ? x->oldest_queued_at : 0);
        json_put_kv_int(j, &first, "attempts", x ? x->max_attempts : 0);
        iso_or_null(j, &first, "last_attempt_at", x ? x->last_attempt_at : 0);
        json_put_kv_str(j, &first, "last_error", x ? x->last_error : NULL);
        iso_or_null(j, &first, "last_delivered_at", x ? x->last_delivered_at : 0);
        first = json_put_key(j, first, "pending_changes");
        mc_buf_putc(j, '[');
        for (size_t i = 0; i < l.n; i++) {
            if (i)
                mc_buf_putc(j, ',');
            alerts_json_change(j, &l, i, NULL);
        }
        mc_buf_puts(j, "]}");
        mc_delivery_list_free(&l);
        return 0;
    }
    printf("%s (%s)", name, sink ? sink : "?");
    if (configured == 0)
        printf(", orphaned: not in the configuration");
    printf(": ");
    if (!pending) {
        printf("nothing pending");
    } else {
        printf("%lld pending since run %lld (queued ", (long long)pending,
               (long long)x->oldest_run);
        text_time(x->oldest_queued_at);
        printf(")");
        if (x->max_attempts)
            printf(", %lld attempt%s", (long long)x->max_attempts,
                   x->max_attempts == 1 ? "" : "s");
    }
    if (x && x->n_delivered) {
        printf("; %lld delivered, last ", (long long)x->n_delivered);
        text_time(x->last_delivered_at);
    }
    if (x && x->n_discarded)
        printf("; %lld discarded", (long long)x->n_discarded);
    putchar('\n');
    if (pending && x->last_error) {
        printf("  last error (");
        text_time(x->last_attempt_at);
        printf("): ");
        cmd_put_safe(stdout, x->last_error);
        putchar('\n');
    } else if (pending && configured != 0) {
        printf("  not attempted yet: the next crawl or 'metacrawl alerts retry %s' "
               "delivers it\n", name);
    }
    for (size_t i = 0; i < l.n; i++) {
        const mc_change *c = &l.changes.items[i];
        printf("  run %lld  ", (long long)l.items[i].run);
        cmd_put_safe(stdout, l.items[i].datastore);
        putchar('.');
        cmd_put_safe(stdout, c->schema);
        if (c->container) {
            putchar('.');
            cmd_put_safe(stdout, c->container);
        }
        if (c->field) {
            putchar('.');
            cmd_put_safe(stdout, c->field);
        }
        printf("  %s%s\n", mc_change_kind_name(c->kind), c->breaking ? "  breaking" : "");
    }
    if ((int64_t)l.n < pending)
        printf("  ...and %lld more\n", (long long)(pending - (int64_t)l.n));
    if (configured == 0 && pending)
        printf("  put the alert back in the configuration to deliver them, or "
               "'metacrawl alerts discard %s' to drop them\n", name);
    mc_delivery_list_free(&l);
    return 0;
}

static int alerts_status(const cli_ctx *ctx, const cfg *c, store *st)
{
    mc_outbox_stats stats = {0};
    mc_error err = {0};
    if (store_outbox_stats(st, &stats, &err) != 0) {
        cmd_report_error(&err);
        return err.code;
    }
    mc_buf j = {0};
    mc_buf_puts(&j, "{\"alerts\":[");
    int rc = 0;
    bool first = true;
    size_t shown = 0;
    /* The configured alerts in config order, then the orphans by name. */
    for (size_t i = 0; c && i < c->n_alerts && !rc; i++) {
        const cfg_alert *al = &c->alerts[i];
        if (!named(ctx, al->name))
            continue;
        rc = status_one(ctx, st, &j, first, al->name, alerts_sink_name(al), 1,
                        find_stat(&stats, al->name));
        first = false;
        shown++;
    }
    for (size_t i = 0; i < stats.n && !rc; i++) {
        const mc_outbox_stat *x = &stats.items[i];
        if (find_alert(c, x->alert) || !named(ctx, x->alert))
            continue;
        rc = status_one(ctx, st, &j, first, x->alert, NULL, c ? 0 : -1, x);
        first = false;
        shown++;
    }
    mc_buf_puts(&j, "]}");
    if (!rc && ctx->json)
        cmd_print_json(&j);
    else if (!rc && !shown && ctx->n_args > 1) {
        fprintf(stderr, "metacrawl: no alert of that name in the configuration "
                        "or the queue\n");
        rc = MC_EXIT_USAGE;
    } else if (!rc && !shown)
        printf("no alerts configured and nothing queued\n");
    if (!rc && !c && !ctx->json && shown)
        printf("(no configuration read: configured and orphaned alerts cannot be "
               "told apart)\n");
    mc_buf_free(&j);
    mc_outbox_stats_free(&stats);
    return rc;
}

/* Named alerts must be configured; an orphan gets a hint. */
static int check_names(const cli_ctx *ctx, const cfg *c, store *st)
{
    for (int i = 1; i < ctx->n_args; i++) {
        if (find_alert(c, ctx->args[i]))
            continue;
        mc_error err = {0};
        int64_t n = 0;
        store_outbox_count_pending(st, ctx->args[i], &n, &err);
        fprintf(stderr, "metacrawl: alert '%s' is not in %s", ctx->args[i],
                c && c->path ? c->path : "the configuration");
        if (n)
            fprintf(stderr, " (it has %lld orphaned pending deliver%s; "
                    "'metacrawl alerts discard %s' drops them)", (long long)n,
                    n == 1 ? "y" : "ies", ctx->args[i]);
        fputc('\n', stderr);
        return MC_EXIT_USAGE;
    }
    return 0;
}

static int alerts_retry(const cli_ctx *ctx, const cfg *c, store *st)
{
    int rc = check_names(ctx, c, st);
    if (rc)
        return rc;
    alerts *a = alerts_open(c, st);
    alerts_deliver(a, (const char *const *)ctx->args + 1, (size_t)ctx->n_args - 1);
    if (ctx->json) {
        mc_buf j = {0};
        mc_buf_puts(&j, "{\"alerts\":");
        alerts_put_json(a, &j);
        mc_buf_putc(&j, '}');
        cmd_print_json(&j);
        mc_buf_free(&j);
    }
    rc = alerts_report(a, ctx->json ? NULL : stdout);
    if (!ctx->json && alerts_n_outcomes(a) == 0)
        printf("nothing pending\n");
    alerts_close(a);
    return rc;
}

static int alerts_discard(const cli_ctx *ctx, store *st)
{
    if (ctx->n_args < 2) {
        fprintf(stderr, "metacrawl: alerts discard needs the names of the alerts "
                        "whose pending deliveries to drop\n");
        return MC_EXIT_USAGE;
    }
    mc_buf j = {0};
    mc_buf_puts(&j, "{\"discarded\":{");
    for (int i = 1; i < ctx->n_args; i++) {
        mc_error err = {0};
        int64_t n = 0;
        if (store_outbox_discard(st, ctx->args[i], &n, &err) != 0) {
            cmd_report_error(&err);
            mc_buf_free(&j);
            return err.code;
        }
        bool first = i == 1;
        json_put_kv_int(&j, &first, ctx->args[i], n);
        if (!ctx->json)
            printf("%s: %lld pending deliver%s discarded\n", ctx->args[i], (long long)n,
                   n == 1 ? "y" : "ies");
    }
    mc_buf_puts(&j, "}}");
    if (ctx->json)
        cmd_print_json(&j);
    mc_buf_free(&j);
    return 0;
}

static int cmd_alerts(cli_ctx *ctx)
{
    const char *action = ctx->args[0];
    bool status = strcmp(action, "status") == 0;
    bool retry = strcmp(action, "retry") == 0;
    bool discard = strcmp(action, "discard") == 0;
    if (!status && !retry && !discard) {
        fprintf(stderr, "metacrawl: unknown alerts action '%s': use status, retry or "
                        "discard\nTry 'metacrawl alerts --help'.\n", action);
        return MC_EXIT_USAGE;
    }
    cfg *c = NULL;
    store *st = NULL;
    /* retry needs the alerts' sinks; status reads the configuration when
     * there is one (to tell orphans), discard needs only the store. */
    int rc = retry    ? cmd_load_config(ctx, false, &c)
             : status ? cmd_load_config(ctx, true, &c)
                      : cmd_load_config_for_reading(ctx, &c);
    if (rc || (rc = status ? cmd_open_store_read(ctx, c, &st)
                           : cmd_open_store(ctx, c, &st)) != 0)
        goto out;
    if (status)
        rc = alerts_status(ctx, c, st);
    else if (retry)
        rc = alerts_retry(ctx, c, st);
    else
        rc = alerts_discard(ctx, st);
out:
    store_close(st);
    cfg_free(c);
    return rc;
}

static const cli_opt alerts_opts[] = {
    {0},
};

const cli_cmd cmd_def_alerts = {"alerts", "status|retry|discard [ALERT...]",
     "show, retry or drop queued alert deliveries",
     "Every recorded change an alert's filters select is queued in the store, in "
     "the same transaction as the run, and delivered after the crawl; a delivery "
     "that fails stays queued with its error (docs/alerts.md).\n\n"
     "'alerts status' shows, per alert, what is pending since which run, how many "
     "attempts failed and the last error, and the first pending changes. Alerts "
     "that have queued deliveries but are no longer in the configuration are "
     "shown as orphaned.\n\n"
     "'alerts retry' delivers what is pending now, oldest first (the next crawl "
     "does the same); it exits 4 when a delivery failed (3 when the alert's "
     "configuration is at fault) and the deliveries stay queued.\n\n"
     "'alerts discard ALERT...' drops the pending deliveries of the named alerts, "
     "for instance of an orphaned alert. Name alerts to restrict status and "
     "retry to them.",
     alerts_opts, 1, -1, cmd_alerts};
