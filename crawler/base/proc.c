/*
 * proc.c — running another program with a deadline (proc.h): posix_spawn
 * into its own process group, stdin fed from memory, stdout/stderr
 * captured with a cap, SIGTERM then SIGKILL to the group at the deadline.
 * One poll loop serves the alert command sink and password_command, which
 * used to have a loop each (and stopped a late program differently).
 */
#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void mc_sigpipe_block(mc_sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old_mask);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
}

void mc_sigpipe_restore(mc_sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    if (!g->was_pending && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &g->old_mask, NULL);
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* One captured stream: a buffer of cap + 1 bytes allocated once. */
typedef struct capture {
    int fd;
    char *buf;
    size_t len, cap;
    bool overflow, secret;
} capture;

/* Reads what is there.  Returns false when the stream is done (EOF or an
 * error).  Bytes past the cap are read and dropped (c->overflow), so the
 * program never blocks on a full pipe. */
static bool capture_read(capture *c)
{
    for (int i = 0; i < 16; i++) {
        ssize_t r;
        if (c->len <= c->cap) {
            r = read(c->fd, c->buf + c->len, c->cap + 1 - c->len);
            if (r > 0)
                c->len += (size_t)r;
        } else {
            char drop[1024];
            r = read(c->fd, drop, sizeof drop);
            if (c->secret)
                explicit_bzero(drop, sizeof drop);
        }
        if (c->len > c->cap)
            c->overflow = true;
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return false;
        if (r < 0)
            return true;
    }
    return true;
}

/* Stops the program's process group: SIGTERM (and SIGCONT, for a member
 * stopped by job control), up to MC_PROC_TERM_GRACE_S for the program to
 * exit, then SIGKILL to whatever of the group is left.  The program stays
 * a zombie until the SIGKILL is sent, so its pid (the group id) cannot have
 * been reused by then. */
static void stop_group(pid_t pid, int *status_out)
{
    kill(-pid, SIGTERM);
    kill(-pid, SIGCONT);
    double until = mc_monotonic() + MC_PROC_TERM_GRACE_S;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int w = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (w == 0 && si.si_pid == pid)
            break;
        if (w < 0 && errno != EINTR)
            break;
        if (mc_monotonic() >= until)
            break;
        sleep_ms(10);
    }
    kill(-pid, SIGKILL);
    while (waitpid(pid, status_out, 0) < 0 && errno == EINTR)
        ;
}

/* No blocked signals (a scheduler thread blocks SIGHUP, SIGTERM...) and
 * SIGPIPE at its default (main ignores it, and exec keeps ignored signals);
 * its own group, so that stopping it reaches what it started. */
static void spawn_attrs(posix_spawnattr_t *at)
{
    posix_spawnattr_init(at);
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    posix_spawnattr_setsigmask(at, &none);
    posix_spawnattr_setsigdefault(at, &dfl);
    posix_spawnattr_setpgroup(at, 0);
    posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                     POSIX_SPAWN_SETSIGDEF);
}

static void add_stream(posix_spawn_file_actions_t *fa, int target, enum mc_proc_stream how,
                       int pipe_write_end)
{
    if (how == MC_PROC_DEVNULL)
        posix_spawn_file_actions_addopen(fa, target, "/dev/null", O_WRONLY, 0);
    else if (how == MC_PROC_CAPTURE)
        posix_spawn_file_actions_adddup2(fa, pipe_write_end, target);
}

int mc_proc_run(const mc_proc_spec *spec, mc_proc_result *res)
{
    memset(res, 0, sizeof *res);
    res->secret = spec->secret;
    size_t cap = spec->capture_max ? spec->capture_max : 4096;
    int in[2] = {-1, -1};
    capture cap_out = {.fd = -1, .cap = cap, .secret = spec->secret};
    capture cap_err = {.fd = -1, .cap = cap, .secret = spec->secret};
    int out_w = -1, err_w = -1;
    bool feed = spec->input != NULL;

    if (feed && pipe2(in, O_CLOEXEC) != 0)
        goto no_pipe;
    if (spec->out == MC_PROC_CAPTURE) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            goto no_pipe;
        cap_out.fd = p[0];
        out_w = p[1];
    }
    if (spec->err == MC_PROC_CAPTURE) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            goto no_pipe;
        cap_err.fd = p[0];
        err_w = p[1];
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    if (feed)
        posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    else
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    add_stream(&fa, STDOUT_FILENO, spec->out, out_w);
    add_stream(&fa, STDERR_FILENO, spec->err, err_w);
    spawn_attrs(&at);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, spec->argv[0], &fa, &at, spec->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close_fd(&in[0]);
    close_fd(&out_w);
    close_fd(&err_w);
    if (rc != 0) {
        close_fd(&in[1]);
        close_fd(&cap_out.fd);
        close_fd(&cap_err.fd);
        res->start_errno = rc;
        res->start_stage = "spawn";
        return -1;
    }
    if (cap_out.fd >= 0)
        cap_out.buf = mc_calloc(1, cap + 1);
    if (cap_err.fd >= 0)
        cap_err.buf = mc_calloc(1, cap + 1);

    mc_sigpipe_guard guard;
    if (feed)
        mc_sigpipe_block(&guard);
    int in_fd = in[1];
    size_t off = 0;
    if (in_fd >= 0) {
        set_nonblock(in_fd);
        if (spec->n_input == 0)
            close_fd(&in_fd);
    }
    if (cap_out.fd >= 0)
        set_nonblock(cap_out.fd);
    if (cap_err.fd >= 0)
        set_nonblock(cap_err.fd);

    double deadline = mc_monotonic() + spec->timeout_s;
    int status = 0;
    bool stop = false;
    while (!res->exited && !stop) {
        double left = deadline - mc_monotonic();
        if (left <= 0) {
            res->timed_out = true;
            break;
        }
        struct pollfd p[3];
        int np = 0, pi_in = -1, pi_out = -1, pi_err = -1;
        if (in_fd >= 0) {
            pi_in = np;
            p[np++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
        }
        if (cap_out.fd >= 0) {
            pi_out = np;
            p[np++] = (struct pollfd){.fd = cap_out.fd, .events = POLLIN};
        }
        if (cap_err.fd >= 0) {
            pi_err = np;
            p[np++] = (struct pollfd){.fd = cap_err.fd, .events = POLLIN};
        }
        /* Short waits: the program's exit is noticed by waitpid below. */
        int ms = left < 0.05 ? (int)(left * 1000) + 1 : 50;
        int pr = poll(np ? p : NULL, (nfds_t)np, ms);
        if (pr < 0 && errno != EINTR) {
            res->lost_errno = errno;
            break;
        }
        if (pr > 0 && pi_in >= 0 && p[pi_in].revents) {
            ssize_t w = write(in_fd, spec->input + off, spec->n_input - off);
            if (w > 0)
                off += (size_t)w;
            /* EPIPE: the program stopped reading; its exit status decides. */
            if (off == spec->n_input || (w < 0 && errno != EAGAIN && errno != EINTR))
                close_fd(&in_fd);
        }
        capture *caps[2] = {pi_out >= 0 ? &cap_out : NULL, pi_err >= 0 ? &cap_err : NULL};
        int pis[2] = {pi_out, pi_err};
        for (int i = 0; i < 2; i++) {
            if (!caps[i] || pr <= 0 || !p[pis[i]].revents)
                continue;
            if (!capture_read(caps[i]))
                close_fd(&caps[i]->fd);
            if (caps[i]->overflow && spec->kill_on_overflow)
                stop = true;
        }
        if (stop)
            break;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            res->exited = true;
        } else if (w < 0 && errno != EINTR) {
            res->lost_errno = errno;
            break;
        }
    }
    if (!res->exited) {
        stop_group(pid, &status);
        if (!res->lost_errno)
            res->exited = true;
    }
    res->status = status;
    /* What the program wrote just before it exited (a background child may
     * hold the pipe open: the reads do not block). */
    if (cap_out.fd >= 0 && !(cap_out.overflow && spec->kill_on_overflow))
        capture_read(&cap_out);
    if (cap_err.fd >= 0 && !(cap_err.overflow && spec->kill_on_overflow))
        capture_read(&cap_err);
    close_fd(&in_fd);
    close_fd(&cap_out.fd);
    close_fd(&cap_err.fd);
    if (feed)
        mc_sigpipe_restore(&guard);

    res->overflow = cap_out.overflow || cap_err.overflow;
    if (cap_out.buf) {
        if (cap_out.len > cap)
            cap_out.len = cap;
        cap_out.buf[cap_out.len] = '\0';
    }
    if (cap_err.buf) {
        if (cap_err.len > cap)
            cap_err.len = cap;
        cap_err.buf[cap_err.len] = '\0';
    }
    res->out = cap_out.buf;
    res->n_out = cap_out.len;
    res->err = cap_err.buf;
    res->n_err = cap_err.len;
    return 0;

no_pipe:
    res->start_errno = errno;
    res->start_stage = "pipe";
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&cap_out.fd);
    close_fd(&out_w);
    close_fd(&cap_err.fd);
    close_fd(&err_w);
    return -1;
}

static void free_stream(char **p, size_t cap_plus, bool secret)
{
    if (*p && secret)
        explicit_bzero(*p, cap_plus);
    free(*p);
    *p = NULL;
}

void mc_proc_result_free(mc_proc_result *res)
{
    if (!res)
        return;
    /* The buffers hold n + 1 bytes that were ever written (never reallocated,
     * and bytes past the cap went to a wiped scratch buffer). */
    free_stream(&res->out, res->n_out + 1, res->secret);
    free_stream(&res->err, res->n_err + 1, res->secret);
    res->n_out = res->n_err = 0;
}

/* ---- programs in the background ------------------------------------------ */

struct mc_proc {
    pid_t pid;
    int fd;            /* read end of the output pipe, -1 when closed */
    char *keep;        /* the last keep_max bytes of output, NUL-terminated */
    size_t len, max;
    bool exited;
    int status;
};

/* ---- background groups that must not outlive metacrawl ------------------------ */

/*
 * A background program (a tunnel's ssh, an SSM session) runs in a process
 * group of its own, which the terminal's Ctrl-C, a CI job's cancel or a
 * `kill` of metacrawl does not reach.  So while one runs, SIGINT, SIGTERM
 * and SIGHUP -- where nobody else handles them (the scheduler does, and
 * stops its crawls itself) -- first send SIGTERM to every such group, then
 * end metacrawl as the signal would have.
 */
#define MAX_LIVE_GROUPS 32
static volatile pid_t live_groups[MAX_LIVE_GROUPS];
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static bool handlers_checked;

static void on_fatal_signal(int sig)
{
    int saved = errno;
    for (size_t i = 0; i < MAX_LIVE_GROUPS; i++) {
        pid_t g = live_groups[i];
        if (g > 0)
            kill(-g, SIGTERM);
    }
    signal(sig, SIG_DFL);
    errno = saved;
    raise(sig);
}

static void live_add(pid_t pid)
{
    pthread_mutex_lock(&live_mu);
    if (!handlers_checked) {
        handlers_checked = true;
        static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
            struct sigaction old;
            if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
                !(old.sa_flags & SA_SIGINFO)) {
                struct sigaction sa = {0};
                sa.sa_handler = on_fatal_signal;
                sigemptyset(&sa.sa_mask);
                sigaction(sigs[i], &sa, NULL);
            }
        }
    }
    for (size_t i = 0; i < MAX_LIVE_GROUPS; i++)
        if (live_groups[i] == 0) {
            live_groups[i] = pid;
            break;
        }
    pthread_mutex_unlock(&live_mu);
}

static void live_remove(pid_t pid)
{
    pthread_mutex_lock(&live_mu);
    for (size_t i = 0; i < MAX_LIVE_GROUPS; i++)
        if (live_groups[i] == pid)
            live_groups[i] = 0;
    pthread_mutex_unlock(&live_mu);
}

int mc_proc_start(const mc_proc_bg_spec *spec, mc_proc **out, int *errno_out)
{
    *out = NULL;
    int p[2] = {-1, -1};
    if (spec->capture && pipe2(p, O_CLOEXEC) != 0) {
        *errno_out = errno;
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (spec->capture) {
        posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&fa, p[1], STDERR_FILENO);
    } else {
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    }
    spawn_attrs(&at);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, spec->argv[0], &fa, &at, spec->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close_fd(&p[1]);
    if (rc != 0) {
        close_fd(&p[0]);
        *errno_out = rc;
        return -1;
    }
    live_add(pid);
    mc_proc *m = mc_calloc(1, sizeof *m);
    m->pid = pid;
    m->fd = p[0];
    m->max = spec->keep_max ? spec->keep_max : 8192;
    m->keep = mc_calloc(1, m->max + 1);
    if (m->fd >= 0)
        set_nonblock(m->fd);
    *out = m;
    return 0;
}

void mc_proc_drain(mc_proc *p)
{
    if (!p || p->fd < 0)
        return;
    char chunk[4096];
    for (;;) {
        ssize_t r = read(p->fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return;
        if (r <= 0) {
            close_fd(&p->fd);
            return;
        }
        size_t n = (size_t)r;
        if (n >= p->max) {
            memcpy(p->keep, chunk + n - p->max, p->max);
            p->len = p->max;
        } else {
            if (p->len + n > p->max) {
                size_t drop = p->len + n - p->max;
                memmove(p->keep, p->keep + drop, p->len - drop);
                p->len -= drop;
            }
            memcpy(p->keep + p->len, chunk, n);
            p->len += n;
        }
        p->keep[p->len] = '\0';
    }
}

pid_t mc_proc_pid(const mc_proc *p)
{
    return p->pid;
}

int mc_proc_output_fd(const mc_proc *p)
{
    return p ? p->fd : -1;
}

const char *mc_proc_output(mc_proc *p)
{
    mc_proc_drain(p);
    return p->keep;
}

bool mc_proc_exited(mc_proc *p, int *status_out)
{
    if (!p->exited) {
        /* WNOWAIT: it stays a zombie, so its pid (the group's id) cannot be
         * reused before mc_proc_stop signals the group. */
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == p->pid) {
            p->exited = true;
            p->status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8
                                                 : (si.si_status & 0x7f);
        }
    }
    if (p->exited && status_out)
        *status_out = p->status;
    return p->exited;
}

void mc_proc_stop(mc_proc *p)
{
    if (!p)
        return;
    int status;
    stop_group(p->pid, &status);
    live_remove(p->pid);
    close_fd(&p->fd);
    free(p->keep);
    free(p);
}

const char *mc_proc_status_text(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, n, "wait status %d", status);
    return buf;
}
