/*
 * sinks.c — where alerts go: a JSON-lines file, a command (JSON on stdin,
 * through the one process runner of crawler/base/proc.c), an HTTPS webhook
 * (libcurl; TLS always verified, redirects refused, plain http:// only to
 * loopback, checked again on the address connected to).  Invariants 4 and 5
 * of alerts.c hold here: no secret and no webhook URL in an error.
 */
#include "alerts.h"
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
#include <unistd.h>

#include <curl/curl.h>

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
    const char *problem = cfg_webhook_url_problem(url);
    if (problem) {
        /* The URL is not quoted (invariant 4). */
        mc_error_set(err, MC_EXIT_CONFIG, "webhook: %s", problem);
        mc_error_hint(err, "fix the alert's webhook: URL in the configuration");
        return -1;
    }
    char *scheme, *host;
    cfg_url_parts(url, &scheme, &host);
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
