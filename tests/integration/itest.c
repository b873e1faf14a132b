/*
 * itest.c — helpers for the integration tests: the harness server (connect,
 * SQL, scratch databases), files and configs, running metacrawl with its
 * output captured, and reading the server's statement log. See itest.h.
 *
 * Failures end the test through cr_assert_fail with the reason (the libpq or
 * server message, the command line, the captured stderr), so helpers never
 * return an error. Messages quoting program output are clipped to a few KB.
 */
#include "itest.h"

#include <criterion/criterion.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

extern char **environ;

#define CLIP_LEN 4000

/* ---- small utilities ------------------------------------------------- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        cr_assert_fail("itest: out of memory (%zu bytes)", n);
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static char *vstrf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        cr_assert_fail("itest: bad format string \"%s\"", fmt);
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *itest_strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vstrf(fmt, ap);
    va_end(ap);
    return s;
}

/* The last CLIP_LEN bytes of S (errors are usually at the end), for messages. */
static const char *clip(const char *s)
{
    if (!s)
        return "(null)";
    size_t n = strlen(s);
    return n > CLIP_LEN ? s + n - CLIP_LEN : s;
}

/* Growable byte buffer, always NUL-terminated. */
typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static void buf_append(buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            cr_assert_fail("itest: out of memory (%zu bytes)", cap);
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static char *buf_take(buf *b)
{
    if (!b->data)
        return xstrdup("");
    char *d = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int timeout_seconds(void)
{
    const char *t = getenv("MC_TEST_TIMEOUT");
    int v = t ? atoi(t) : 0;
    return v > 0 ? v : 120;
}

const char *itest_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        cr_assert_fail("%s is not set: run integration tests through meson test "
                       "(tests/integration/with-servers.sh)", name);
    return v;
}

/* ---- the server ------------------------------------------------------ */

PGconn *itest_try_connect(const char *dbname, const char *user, const char *password,
                          char **err_out)
{
    /* The password goes last so that, without one, the list simply ends early. */
    const char *keys[] = {"host", "port", "dbname", "user", "sslmode", "connect_timeout",
                          "application_name", "password", NULL};
    const char *vals[] = {itest_env("MC_TEST_PGHOST"), itest_env("MC_TEST_PGPORT"),
                          dbname, user, "disable", "10", "itest", password, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    if (c && PQstatus(c) == CONNECTION_OK) {
        if (err_out)
            *err_out = NULL;
        return c;
    }
    if (err_out)
        *err_out = xstrdup(c ? PQerrorMessage(c) : "out of memory");
    PQfinish(c);
    return NULL;
}

PGconn *itest_connect_as(const char *dbname, const char *user, const char *password)
{
    char *err = NULL;
    PGconn *c = itest_try_connect(dbname, user, password, &err);
    if (!c)
        cr_assert_fail("cannot connect to database \"%s\" as \"%s\": %s", dbname, user, err);
    return c;
}

PGconn *itest_connect(const char *dbname)
{
    return itest_connect_as(dbname, itest_env("MC_TEST_PGUSER"),
                            itest_env("MC_TEST_PGPASSWORD"));
}

static PGresult *run_sql(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char *msg = xstrdup(r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        cr_assert_fail("SQL failed: %s  in: %s", msg, clip(sql));
    }
    return r;
}

void itest_sql(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = vstrf(fmt, ap);
    va_end(ap);
    PQclear(run_sql(c, sql));
    free(sql);
}

char *itest_sql_value(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = vstrf(fmt, ap);
    va_end(ap);
    PGresult *r = run_sql(c, sql);
    if (PQntuples(r) < 1 || PQnfields(r) < 1) {
        PQclear(r);
        cr_assert_fail("SQL returned no value: %s", clip(sql));
    }
    char *v = PQgetisnull(r, 0, 0) ? NULL : xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    free(sql);
    return v;
}

char *itest_create_db(const char *prefix)
{
    static unsigned counter;
    char clean[41];
    size_t n = 0;
    for (const char *p = prefix ? prefix : "db"; *p && n < sizeof clean - 1; p++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)*p);
        if (isalnum(ch) || ch == '_')
            clean[n++] = (char)ch;
    }
    clean[n] = '\0';
    char *name = itest_strf("%s_%ld_%u", n ? clean : "db", (long)getpid(), ++counter);
    PGconn *c = itest_connect("postgres");
    /* template0: nobody is ever connected to it, so parallel creates never clash. */
    itest_sql(c, "CREATE DATABASE \"%s\" TEMPLATE template0 ENCODING 'UTF8'", name);
    PQfinish(c);
    return name;
}

/* ---- files ----------------------------------------------------------- */

char *itest_tmpdir(void)
{
    const char *base = getenv("MC_TEST_TMP");
    if (!base || !*base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *dir = itest_strf("%s/itest.XXXXXX", base);
    if (!mkdtemp(dir))
        cr_assert_fail("mkdtemp %s: %s", dir, strerror(errno));
    return dir;
}

void itest_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        cr_assert_fail("cannot write %s: %s", path, strerror(errno));
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        cr_assert_fail("cannot write %s: %s", path, strerror(errno));
}

char *itest_read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        cr_assert_fail("cannot read %s: %s", path, strerror(errno));
    buf b = {0};
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cr_assert_fail("cannot read %s: %s", path, strerror(errno));
        }
        buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    return buf_take(&b);
}

/* S as a YAML double-quoted scalar. */
static char *yaml_quote(const char *s)
{
    buf b = {0};
    buf_append(&b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_append(&b, "\\", 1);
        buf_append(&b, s, 1);
    }
    buf_append(&b, "\"", 1);
    return buf_take(&b);
}

char *itest_write_config(const char *dir, const char *dbname, const char *user,
                         const char *password, const char *extra_yaml)
{
    char *store = itest_strf("%s/catalog.db", dir);
    char *q_store = yaml_quote(store), *q_db = yaml_quote(dbname), *q_user = yaml_quote(user);
    const char *extra = extra_yaml ? extra_yaml : "";
    size_t n_extra = strlen(extra);
    char *text = itest_strf(
        "# written by the integration tests (itest_write_config)\n"
        "store: %s\n"
        "datastores:\n"
        "  - name: test\n"
        "    host: %s\n"
        "    port: %s\n"
        "    database: %s\n"
        "    user: %s\n"
        "%s"
        "    sslmode: disable\n"
        "%s%s",
        q_store, itest_env("MC_TEST_PGHOST"), itest_env("MC_TEST_PGPORT"), q_db, q_user,
        password ? "    password: ${env:MC_TEST_DS_PASSWORD}\n" : "", extra,
        n_extra && extra[n_extra - 1] != '\n' ? "\n" : "");
    char *path = itest_strf("%s/metacrawl.yml", dir);
    itest_write_file(path, text);
    free(text);
    free(q_store);
    free(q_db);
    free(q_user);
    free(store);
    return path;
}

/* ---- running programs ------------------------------------------------ */

/* PROGRAM itself when it has a slash, else its path on PATH, else NULL. */
static char *search_path(const char *program)
{
    if (strchr(program, '/'))
        return xstrdup(program);
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        char *cand = itest_strf("%.*s/%s", (int)n, n ? path : ".", program);
        if (access(cand, X_OK) == 0)
            return cand;
        free(cand);
        path += n;
        if (*path == ':')
            path++;
    }
    return NULL;
}

static void free_vec(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static size_t vec_len(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/*
 * The argv to exec: PROGRAM (resolved) and ARGV, behind valgrind when WRAP is
 * set and MC_VALGRIND=1.
 */
static char **build_argv(const char *program, const char *const *argv, bool wrap)
{
    static const char *const vg_opts[] = {
        "--quiet", "--error-exitcode=99", "--leak-check=full",
        "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", NULL};
    const char *vg = getenv("MC_VALGRIND");
    bool use_vg = wrap && vg && strcmp(vg, "1") == 0;
    size_t n_args = vec_len(argv), n_vg = use_vg ? vec_len(vg_opts) + 2 : 0;
    char **out = xmalloc((n_vg + n_args + 2) * sizeof *out);
    size_t k = 0;
    if (use_vg) {
        char *vpath = search_path("valgrind");
        if (!vpath)
            cr_assert_fail("MC_VALGRIND=1 but valgrind is not on PATH");
        out[k++] = vpath;
        for (size_t i = 0; vg_opts[i]; i++)
            out[k++] = xstrdup(vg_opts[i]);
        /* Debian's Graphviz 2.42 leaks in its HTML-label code (the file
         * says what and why that is accepted) */
        out[k++] = itest_strf("--suppressions=%s/tests/valgrind-graphviz.supp",
                              itest_env("MC_SOURCE_ROOT"));
    }
    char *resolved = search_path(program);
    if (!resolved)
        cr_assert_fail("%s: not found on PATH", program);
    out[k++] = resolved;
    for (size_t i = 0; i < n_args; i++)
        out[k++] = xstrdup(argv[i]);
    out[k] = NULL;
    return out;
}

static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

/*
 * environ with ENV_EXTRA laid over it ("N=v" sets/replaces, "N" removes).
 * LSAN: the run is metacrawl's and MC_TEST_LSAN=1, so LeakSanitizer is turned
 * on for it alone (see docs/testing.md: in the criterion workers a leak report
 * would come after the verdict and fail nothing, so it is off there).
 */
static char **build_env(const char *const *env_extra, bool lsan)
{
    size_t n_env = 0, n_extra = vec_len(env_extra);
    while (environ[n_env])
        n_env++;
    char **out = xmalloc((n_env + n_extra + 3) * sizeof *out);
    size_t k = 0;
    bool asan_set = false;
    for (size_t j = 0; j < n_extra; j++)
        asan_set |= name_len(env_extra[j]) == 12 && strncmp(env_extra[j], "ASAN_OPTIONS", 12) == 0;
    for (size_t i = 0; i < n_env; i++) {
        size_t nl = name_len(environ[i]);
        bool overridden = false;
        for (size_t j = 0; j < n_extra && !overridden; j++)
            overridden = name_len(env_extra[j]) == nl &&
                         strncmp(env_extra[j], environ[i], nl) == 0;
        if (lsan && !asan_set && strncmp(environ[i], "ASAN_OPTIONS=", 13) == 0)
            continue; /* replaced below */
        if (!overridden)
            out[k++] = xstrdup(environ[i]);
    }
    for (size_t j = 0; j < n_extra; j++)
        if (strchr(env_extra[j], '='))
            out[k++] = xstrdup(env_extra[j]);
    if (lsan && !asan_set) {
        const char *asan = getenv("ASAN_OPTIONS");
        /* Later flags win in ASan's parser. */
        out[k++] = itest_strf("ASAN_OPTIONS=%s%sdetect_leaks=1", asan ? asan : "",
                              asan && *asan ? ":" : "");
        /* Graphviz 2.42's own leaks (tests/lsan-graphviz.supp says which) */
        if (!getenv("LSAN_OPTIONS"))
            out[k++] = itest_strf("LSAN_OPTIONS=suppressions=%s/tests/lsan-graphviz.supp",
                                  itest_env("MC_SOURCE_ROOT"));
    }
    out[k] = NULL;
    return out;
}

static bool lsan_for_metacrawl(bool wrap)
{
    const char *v = getenv("MC_TEST_LSAN");
    return wrap && v && strcmp(v, "1") == 0;
}

static char *describe_argv(char **argv)
{
    buf b = {0};
    for (char **p = argv; *p; p++) {
        if (p != argv)
            buf_append(&b, " ", 1);
        buf_append(&b, *p, strlen(*p));
    }
    return buf_take(&b);
}

/*
 * In the child, before exec: a process group of its own (so a timeout kills
 * its children too), default signal dispositions and an empty signal mask
 * (ignored and blocked signals survive exec, and the test process may have
 * some), then the given descriptors as 0, 1, 2.
 */
static void child_exec(char **argv, char **envp, int fd_in, int fd_out, int fd_err)
{
    static const int sigs[] = {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP,
                               SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM};
    setpgid(0, 0);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(fd_in, 0) < 0 || dup2(fd_out, 1) < 0 || dup2(fd_err, 2) < 0)
        _exit(127);
    execve(argv[0], argv, envp);
    static const char msg[] = "itest: exec failed\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
}

static int decode_status(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return -1;
}

static bool is_crash_signal(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
           sig == SIGABRT || sig == SIGTRAP || sig == SIGSYS;
}

/* Which checker, if any, reported an error in this output. */
static const char *checker_report(const char *text)
{
    if (!text)
        return NULL;
    if (strstr(text, "ERROR: AddressSanitizer"))
        return "AddressSanitizer";
    if (strstr(text, "ERROR: LeakSanitizer"))
        return "LeakSanitizer";
    if (strstr(text, ": runtime error: "))
        return "UndefinedBehaviorSanitizer";
    return NULL;
}

static bool under_valgrind(void)
{
    const char *vg = getenv("MC_VALGRIND");
    return vg && strcmp(vg, "1") == 0;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static itest_result run_captured(const char *program, const char *const *args,
                                 const char *const *env_extra, const char *stdin_text,
                                 bool wrap)
{
    char **argv = build_argv(program, args, wrap);
    char **envp = build_env(env_extra, lsan_for_metacrawl(wrap));
    char *what = describe_argv(argv);
    int p_in[2] = {-1, -1}, p_out[2], p_err[2];
    if (pipe2(p_out, O_CLOEXEC) < 0 || pipe2(p_err, O_CLOEXEC) < 0)
        cr_assert_fail("pipe: %s", strerror(errno));
    int fd_in;
    if (stdin_text) {
        if (pipe2(p_in, O_CLOEXEC) < 0)
            cr_assert_fail("pipe: %s", strerror(errno));
        fd_in = p_in[0];
    } else {
        fd_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd_in < 0)
            cr_assert_fail("/dev/null: %s", strerror(errno));
    }

    /* A child that stops reading stdin must not kill us with SIGPIPE. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe);

    pid_t pid = fork();
    if (pid < 0)
        cr_assert_fail("fork: %s", strerror(errno));
    if (pid == 0)
        child_exec(argv, envp, fd_in, p_out[1], p_err[1]);
    setpgid(pid, pid); /* as the child does: no race with a kill(-pid) */

    close(fd_in);
    close(p_out[1]);
    close(p_err[1]);
    int fd_w = p_in[1];
    const char *to_write = stdin_text;
    size_t left = stdin_text ? strlen(stdin_text) : 0;
    if (fd_w >= 0) {
        set_nonblock(fd_w);
        if (left == 0) {
            close(fd_w);
            fd_w = -1;
        }
    }

    buf out = {0}, err = {0};
    int fd_o = p_out[0], fd_e = p_err[0];
    int limit = timeout_seconds();
    double deadline = now_seconds() + limit;
    bool timed_out = false;
    while (fd_o >= 0 || fd_e >= 0 || fd_w >= 0) {
        struct pollfd pfd[3];
        int n = 0, i_o = -1, i_e = -1, i_w = -1;
        if (fd_o >= 0)
            i_o = n, pfd[n++] = (struct pollfd){.fd = fd_o, .events = POLLIN};
        if (fd_e >= 0)
            i_e = n, pfd[n++] = (struct pollfd){.fd = fd_e, .events = POLLIN};
        if (fd_w >= 0)
            i_w = n, pfd[n++] = (struct pollfd){.fd = fd_w, .events = POLLOUT};
        double remaining = deadline - now_seconds();
        if (remaining <= 0) {
            timed_out = true;
            break;
        }
        int r = poll(pfd, (nfds_t)n, (int)(remaining * 1000) + 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            cr_assert_fail("poll: %s", strerror(errno));
        }
        char chunk[65536];
        int *fds[2] = {&fd_o, &fd_e};
        int idx[2] = {i_o, i_e};
        buf *bufs[2] = {&out, &err};
        for (int k = 0; k < 2; k++) {
            if (idx[k] < 0 || !(pfd[idx[k]].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t got = read(*fds[k], chunk, sizeof chunk);
            if (got > 0) {
                buf_append(bufs[k], chunk, (size_t)got);
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(*fds[k]);
                *fds[k] = -1;
            }
        }
        if (i_w >= 0 && pfd[i_w].revents) {
            ssize_t put = write(fd_w, to_write, left);
            if (put > 0) {
                to_write += put;
                left -= (size_t)put;
            }
            /* Done, or the child closed its stdin (EPIPE): stop feeding it. */
            if (left == 0 || (put < 0 && errno != EAGAIN && errno != EINTR)) {
                close(fd_w);
                fd_w = -1;
            }
        }
    }

    int ws = 0;
    while (!timed_out) {
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            cr_assert_fail("waitpid: %s", strerror(errno));
        if (now_seconds() >= deadline) {
            timed_out = true;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (timed_out) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &ws, 0);
    }
    int left_open[3] = {fd_o, fd_e, fd_w};
    for (int i = 0; i < 3; i++)
        if (left_open[i] >= 0)
            close(left_open[i]);
    sigaction(SIGPIPE, &old_pipe, NULL);

    itest_result res = {decode_status(ws), buf_take(&out), buf_take(&err)};
    if (timed_out)
        cr_assert_fail("timed out after %d s (MC_TEST_TIMEOUT): %s\n--- stderr ---\n%s",
                       limit, what, clip(res.err));
    if (WIFSIGNALED(ws) && is_crash_signal(WTERMSIG(ws)))
        cr_assert_fail("crashed with signal %d (%s): %s\n--- stderr ---\n%s", WTERMSIG(ws),
                       strsignal(WTERMSIG(ws)), what, clip(res.err));
    const char *checker = checker_report(res.err);
    if (checker)
        cr_assert_fail("%s reported an error: %s\n--- stderr ---\n%s", checker, what,
                       clip(res.err));
    if (wrap && under_valgrind() && res.status == 99)
        cr_assert_fail("valgrind reported errors: %s\n--- stderr ---\n%s", what,
                       clip(res.err));
    free(what);
    free_vec(argv);
    free_vec(envp);
    return res;
}

itest_result itest_run_program(const char *program, const char *const *argv,
                               const char *const *env_extra, const char *stdin_text)
{
    return run_captured(program, argv, env_extra, stdin_text, false);
}

itest_result itest_run(const char *const *argv, const char *const *env_extra,
                       const char *stdin_text)
{
    return run_captured(itest_env("MC_BINARY"), argv, env_extra, stdin_text, true);
}

void itest_result_free(itest_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Spawned processes: their output file (for itest_wait) and whether they run. */
#define MAX_SPAWNED 64
static struct spawned {
    pid_t pid;
    char *out_path;
    bool wrap;
} spawned[MAX_SPAWNED];

/* At exit (a failed test included), no spawned process outlives the test. */
static void kill_spawned(void)
{
    for (size_t i = 0; i < MAX_SPAWNED; i++)
        if (spawned[i].pid > 0) {
            kill(-spawned[i].pid, SIGKILL);
            waitpid(spawned[i].pid, NULL, 0);
            spawned[i].pid = 0;
        }
}

static pid_t spawn(const char *program, const char *const *args,
                   const char *const *env_extra, const char *out_path, bool wrap)
{
    static bool registered;
    if (!registered) {
        atexit(kill_spawned);
        registered = true;
    }
    size_t slot = 0;
    while (slot < MAX_SPAWNED && spawned[slot].pid > 0)
        slot++;
    if (slot == MAX_SPAWNED)
        cr_assert_fail("itest: more than %d spawned processes at once", MAX_SPAWNED);

    char **argv = build_argv(program, args, wrap);
    char **envp = build_env(env_extra, lsan_for_metacrawl(wrap));
    int fd_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int fd_out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_in < 0 || fd_out < 0)
        cr_assert_fail("cannot open %s: %s", out_path, strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        cr_assert_fail("fork: %s", strerror(errno));
    if (pid == 0)
        child_exec(argv, envp, fd_in, fd_out, fd_out);
    /* Also here: kill(-pid) must find the group even if the child has not run yet. */
    setpgid(pid, pid);
    close(fd_in);
    close(fd_out);
    free_vec(argv);
    free_vec(envp);
    spawned[slot] = (struct spawned){pid, xstrdup(out_path), wrap};
    return pid;
}

pid_t itest_spawn(const char *const *argv, const char *const *env_extra, const char *out_path)
{
    return spawn(itest_env("MC_BINARY"), argv, env_extra, out_path, true);
}

pid_t itest_spawn_program(const char *program, const char *const *argv,
                          const char *const *env_extra, const char *out_path)
{
    return spawn(program, argv, env_extra, out_path, false);
}

int itest_wait(pid_t pid)
{
    size_t slot = 0;
    while (slot < MAX_SPAWNED && spawned[slot].pid != pid)
        slot++;
    if (slot == MAX_SPAWNED)
        cr_assert_fail("itest_wait: %ld was not started by itest_spawn", (long)pid);
    int limit = timeout_seconds(), ws = 0;
    double deadline = now_seconds() + limit;
    for (;;) {
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            cr_assert_fail("waitpid: %s", strerror(errno));
        if (now_seconds() >= deadline) {
            kill(-pid, SIGKILL);
            waitpid(pid, &ws, 0);
            spawned[slot].pid = 0;
            cr_assert_fail("process %ld did not exit within %d s (MC_TEST_TIMEOUT)",
                           (long)pid, limit);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    spawned[slot].pid = 0;
    char *path = spawned[slot].out_path;
    bool wrap = spawned[slot].wrap;
    spawned[slot].out_path = NULL;
    char *text = itest_read_file(path);
    const char *checker = checker_report(text);
    int status = decode_status(ws);
    if (checker)
        cr_assert_fail("%s reported an error in process %ld (output in %s):\n%s", checker,
                       (long)pid, path, clip(text));
    if (wrap && under_valgrind() && status == 99)
        cr_assert_fail("valgrind reported errors in process %ld (output in %s):\n%s",
                       (long)pid, path, clip(text));
    free(text);
    free(path);
    return status;
}

/* ---- the server log -------------------------------------------------- */

/* A log entry starts with the %m timestamp: "2024-01-31 12:34:56.789 UTC ...". */
static bool starts_entry(const char *line)
{
    static const char shape[] = "dddd-dd-dd dd:dd:dd";
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)line[i]) : line[i] != shape[i])
            return false;
    }
    return true;
}

/*
 * One statement entry, "%m [%p] %d %u LOG:  statement: ..." or
 * "... LOG:  execute <name>: ...": true with its database and user (pointers
 * into ENTRY, lengths in *_len). Continuation lines carry the rest.
 */
static bool parse_statement(const char *entry, const char **db, size_t *db_len,
                            const char **user, size_t *user_len)
{
    const char *p = strstr(entry, " [");
    if (!p || !(p = strstr(p, "] ")))
        return false;
    p += 2;
    *db = p;
    *db_len = strcspn(p, " \n");
    p += *db_len;
    if (*p != ' ')
        return false;
    *user = ++p;
    *user_len = strcspn(p, " \n");
    p += *user_len;
    if (*p != ' ')
        return false;
    p++;
    return strncmp(p, "LOG:  statement: ", 17) == 0 || strncmp(p, "LOG:  execute ", 14) == 0;
}

typedef bool (*entry_pred)(const char *entry, const void *arg);

static long count_entries(entry_pred pred, const void *arg)
{
    char *log = itest_read_file(itest_env("MC_TEST_PGLOG"));
    long n = 0;
    char *entry = NULL;
    char *p = log;
    while (*p) {
        char *eol = strchr(p, '\n');
        char *next = eol ? eol + 1 : p + strlen(p);
        if (starts_entry(p)) {
            /* End the previous entry just before this line. */
            if (entry) {
                char saved = p[-1];
                p[-1] = '\0';
                n += pred(entry, arg);
                p[-1] = saved;
            }
            entry = p;
        }
        p = next;
    }
    if (entry)
        n += pred(entry, arg);
    free(log);
    return n;
}

static bool has_needle(const char *entry, const void *arg)
{
    const char *db, *user;
    size_t dl, ul;
    return parse_statement(entry, &db, &dl, &user, &ul) && strstr(entry, (const char *)arg);
}

struct who {
    const char *db, *user;
};

static bool by_who(const char *entry, const void *arg)
{
    const struct who *w = arg;
    const char *db, *user;
    size_t dl, ul;
    if (!parse_statement(entry, &db, &dl, &user, &ul))
        return false;
    if (dl != strlen(w->db) || strncmp(db, w->db, dl) != 0)
        return false;
    return !w->user || (ul == strlen(w->user) && strncmp(user, w->user, ul) == 0);
}

long itest_count_log(const char *needle)
{
    return count_entries(has_needle, needle);
}

long itest_count_statements_by(const char *dbname, const char *user)
{
    struct who w = {dbname, user};
    return count_entries(by_who, &w);
}

long itest_count_statements(const char *dbname)
{
    return itest_count_statements_by(dbname, NULL);
}

/* ---- the sshd (tunnel tests) ------------------------------------------ */

const char *itest_ssh_missing(void)
{
    const char *skip = getenv("MC_TEST_SSH_SKIP");
    if (skip && *skip)
        return skip;
    const char *port = getenv("MC_TEST_SSH_PORT");
    if (!port || !*port)
        return "no sshd in this run (run the tests through meson: with-servers.sh starts it)";
    return NULL;
}

char *itest_ssh_file(const char *name)
{
    return itest_strf("%s/%s", itest_env("MC_TEST_SSH_DIR"), name);
}

char *itest_known_hosts_line(const char *name, const char *hostkey)
{
    char *path = itest_strf("%s/host_%s.pub", itest_env("MC_TEST_SSH_DIR"), hostkey);
    char *pub = itest_read_file(path);
    /* "TYPE BASE64 COMMENT": keep the first two fields. */
    char *sp = strchr(pub, ' ');
    char *end = sp ? strpbrk(sp + 1, " \n") : NULL;
    if (!sp || !end)
        cr_assert_fail("%s is not a public key", path);
    *end = '\0';
    char *line = itest_strf("%s %s\n", name, pub);
    free(pub);
    free(path);
    return line;
}

static const char *with_servers(void)
{
    static char *path;
    if (!path)
        path = itest_strf("%s/tests/integration/with-servers.sh", itest_env("MC_SOURCE_ROOT"));
    return path;
}

/* Runs a mode of with-servers.sh; its output, or NULL and the reason when
 * it says SKIP (exit 77). */
static char *with_servers_mode(const char *const *args, char **skip_reason)
{
    size_t n = vec_len(args);
    const char **argv = xmalloc((n + 2) * sizeof *argv);
    argv[0] = with_servers();
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = args[i];
    argv[n + 1] = NULL;
    itest_result r = itest_run_program("bash", argv, NULL, NULL);
    free(argv);
    if (r.status == 77) {
        char *why = r.out;
        char *nl = strchr(why, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(why, "SKIP: ", 6) == 0)
            memmove(why, why + 6, strlen(why + 6) + 1);
        if (skip_reason)
            *skip_reason = why;
        free(r.err);
        return NULL;
    }
    if (r.status != 0)
        cr_assert_fail("with-servers.sh %s failed (exit %d):\n%s%s", args[0], r.status,
                       r.out, clip(r.err));
    free(r.err);
    return r.out;
}

itest_sshd *itest_sshd_start(const char *const *config, int password, char **skip_reason)
{
    const char *missing = itest_ssh_missing();
    if (missing) {
        if (skip_reason)
            *skip_reason = xstrdup(missing);
        return NULL;
    }
    char *dir = itest_tmpdir();
    size_t n = vec_len(config);
    const char **args = xmalloc((n + 4) * sizeof *args);
    size_t k = 0;
    args[k++] = "--sshd";
    args[k++] = dir;
    if (password)
        args[k++] = "--password";
    for (size_t i = 0; i < n; i++)
        args[k++] = config[i];
    args[k] = NULL;
    char *out = with_servers_mode(args, skip_reason);
    free(args);
    if (!out)
        return NULL;
    itest_sshd *d = xmalloc(sizeof *d);
    long pid = 0;
    if (sscanf(out, "%d %ld", &d->port, &pid) != 2)
        cr_assert_fail("with-servers.sh --sshd printed \"%s\"", out);
    d->pid = (pid_t)pid;
    d->dir = dir;
    free(out);
    return d;
}

/* The parent pid of PID, from /proc; -1 when it is gone. */
static pid_t parent_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char text[1024];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
    char *rparen = strrchr(text, ')');
    long ppid = -1;
    if (!rparen || sscanf(rparen + 1, " %*c %ld", &ppid) != 1)
        return -1;
    return (pid_t)ppid;
}

/* ROOT and every process under it; a fixed-point over /proc. */
static size_t descendants(pid_t root, pid_t *out, size_t cap)
{
    size_t n = 0;
    out[n++] = root;
    for (bool grew = true; grew;) {
        grew = false;
        DIR *d = opendir("/proc");
        if (!d)
            break;
        struct dirent *e;
        while ((e = readdir(d)) != NULL && n < cap) {
            char *end;
            long pid = strtol(e->d_name, &end, 10);
            if (*end || pid <= 0)
                continue;
            bool known = false;
            for (size_t i = 0; i < n && !known; i++)
                known = out[i] == (pid_t)pid;
            if (known)
                continue;
            pid_t pp = parent_of((pid_t)pid);
            for (size_t i = 0; i < n; i++)
                if (out[i] == pp) {
                    out[n++] = (pid_t)pid;
                    grew = true;
                    break;
                }
        }
        closedir(d);
    }
    return n;
}

void itest_sshd_signal(const itest_sshd *d, int sig)
{
    pid_t pids[256];
    size_t n = descendants(d->pid, pids, sizeof pids / sizeof pids[0]);
    /* Children first, so the listener cannot fork a new one in between. */
    for (size_t i = n; i-- > 0;)
        kill(pids[i], sig);
}

void itest_sshd_stop(itest_sshd *d)
{
    if (!d)
        return;
    itest_sshd_signal(d, SIGCONT);
    itest_sshd_signal(d, SIGKILL);
    /* Not our child (with-servers.sh started it): wait for it to vanish. */
    for (int i = 0; i < 500 && kill(d->pid, 0) == 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    free(d->dir);
    free(d);
}

itest_netns *itest_netns_start(char **skip_reason)
{
    char *dir = itest_tmpdir();
    const char *args[] = {"--netns-up", dir, NULL};
    char *out = with_servers_mode(args, skip_reason);
    if (!out)
        return NULL;
    itest_netns *n = xmalloc(sizeof *n);
    char name[64], addr[64], pgdir[4096];
    if (sscanf(out, "%63s %63s %d %d %4095s", name, addr, &n->ssh_port, &n->pg_port, pgdir) != 5)
        cr_assert_fail("with-servers.sh --netns-up printed \"%s\"", out);
    n->dir = dir;
    n->name = xstrdup(name);
    n->ssh_addr = xstrdup(addr);
    n->pg_sockdir = itest_strf("%s/sock", pgdir);
    char *pwfile = itest_strf("%s/superpass", pgdir);
    n->pg_password = itest_read_file(pwfile);
    n->pg_password[strcspn(n->pg_password, "\n")] = '\0';
    free(pwfile);
    free(out);
    return n;
}

void itest_netns_stop(itest_netns *n)
{
    if (!n)
        return;
    const char *args[] = {"--netns-down", n->dir, NULL};
    char *out = with_servers_mode(args, NULL);
    free(out);
    free(n->dir);
    free(n->name);
    free(n->ssh_addr);
    free(n->pg_sockdir);
    free(n->pg_password);
    free(n);
}

/* ---- output ---------------------------------------------------------- */

json_t *itest_parse_json(const char *text)
{
    if (!text)
        cr_assert_fail("expected JSON, got nothing");
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j)
        cr_assert_fail("not JSON (line %d, column %d: %s):\n%s", e.line, e.column, e.text,
                       clip(text));
    return j;
}

/* ---- comparing changes and reading the store --------------------------- */

char *itest_json_compact(json_t *v)
{
    if (!v)
        return strdup("");
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/* One change as itest_assert_changes writes it (itest.h). */
static char *change_signature(json_t *c)
{
    const char *kind = json_string_value(json_object_get(c, "kind"));
    const char *parts[] = {json_string_value(json_object_get(c, "schema")),
                           json_string_value(json_object_get(c, "container")),
                           json_string_value(json_object_get(c, "field"))};
    char path[600] = "";
    for (int i = 0; i < 3 && parts[i]; i++) {
        if (i)
            strcat(path, ".");
        strncat(path, parts[i], 180);
    }
    bool whole = strstr(kind, "_added") || strstr(kind, "_removed");
    char *before = whole ? strdup("-") : itest_json_compact(json_object_get(c, "before"));
    char *after = whole ? strdup("-") : itest_json_compact(json_object_get(c, "after"));
    const char *attr = json_string_value(json_object_get(c, "attribute"));
    char *s = itest_strf("%s %s %s %s %s %s", kind, path, attr ? attr : "-", before,
                         after, json_is_true(json_object_get(c, "breaking")) ? "B" : "-");
    free(before);
    free(after);
    return s;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void itest_assert_changes(json_t *changes, const char *const *expected)
{
    size_t n_exp = 0;
    while (expected[n_exp])
        n_exp++;
    size_t n = json_array_size(changes);
    char **got = calloc(n + 1, sizeof *got);
    for (size_t i = 0; i < n; i++)
        got[i] = change_signature(json_array_get(changes, i));
    qsort(got, n, sizeof *got, cmp_strp);
    char **want = calloc(n_exp + 1, sizeof *want);
    for (size_t i = 0; i < n_exp; i++)
        want[i] = strdup(expected[i]);
    qsort(want, n_exp, sizeof *want, cmp_strp);
    char *all = strdup("");
    for (size_t i = 0; i < n; i++) {
        char *next = itest_strf("%s\n  %s", all, got[i]);
        free(all);
        all = next;
    }
    cr_assert_eq(n, n_exp, "got %zu changes, expected %zu:%s", n, n_exp, all);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(got[i], want[i], "change differs; all changes:%s", all);
}

char *itest_sqlite_value(const char *dbpath, const char *sql)
{
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open_v2(dbpath, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
    char *v = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* ---- the fake AWS ------------------------------------------------------------ */

itest_fakeaws *itest_fakeaws_start(const char *config_json)
{
    itest_fakeaws *f = xmalloc(sizeof *f);
    f->dir = itest_tmpdir();
    char *cfg = itest_strf("%s/fakeaws.json", f->dir);
    char *port_file = itest_strf("%s/port", f->dir);
    f->log = itest_strf("%s/requests.log", f->dir);
    itest_write_file(cfg, config_json);
    itest_write_file(f->log, "");
    char *script = itest_strf("%s/tests/integration/aws/fakeaws.py", itest_env("MC_SOURCE_ROOT"));
    char *out = itest_strf("%s/fakeaws.out", f->dir);
    const char *argv[] = {script, "--config", cfg, "--port-file", port_file, "--log", f->log,
                          NULL};
    f->pid = itest_spawn_program("python3", argv, NULL, out);
    f->port = 0;
    for (int i = 0; i < 1000 && !f->port; i++) {
        FILE *pf = fopen(port_file, "r");
        if (pf) {
            if (fscanf(pf, "%d", &f->port) != 1)
                f->port = 0;
            fclose(pf);
        } else {
            int st;
            if (waitpid(f->pid, &st, WNOHANG) == f->pid)
                cr_assert_fail("fakeaws.py exited: %s", itest_read_file(out));
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (!f->port)
        cr_assert_fail("fakeaws.py did not start: %s", itest_read_file(out));
    f->url = itest_strf("http://127.0.0.1:%d", f->port);
    free(cfg);
    free(port_file);
    free(script);
    free(out);
    return f;
}

void itest_fakeaws_stop(itest_fakeaws *f)
{
    if (!f)
        return;
    kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
}

static json_t *fakeaws_entries(const itest_fakeaws *f)
{
    char *text = itest_read_file(f->log);
    json_t *all = json_array();
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        json_array_append_new(all, itest_parse_json(line));
    free(text);
    return all;
}

static bool entry_is(json_t *e, const char *key, const char *want)
{
    return !want || (json_string_value(json_object_get(e, key)) &&
                     !strcmp(json_string_value(json_object_get(e, key)), want));
}

long itest_fakeaws_count(const itest_fakeaws *f, const char *service, const char *action,
                         const char *outcome)
{
    json_t *all = fakeaws_entries(f), *e;
    size_t i;
    long n = 0;
    json_array_foreach(all, i, e)
        n += entry_is(e, "service", service) && entry_is(e, "action", action) &&
             entry_is(e, "outcome", outcome);
    json_decref(all);
    return n;
}

json_t *itest_fakeaws_last(const itest_fakeaws *f, const char *service)
{
    json_t *all = fakeaws_entries(f), *e, *last = NULL;
    size_t i;
    json_array_foreach(all, i, e)
        if (entry_is(e, "service", service))
            last = e;
    if (last)
        json_incref(last);
    json_decref(all);
    return last;
}
