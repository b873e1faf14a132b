/*
 * tunnel.c — the SSH tunnel of tunnel.h: its options checked, the tunnel
 * opened (hops copied, key files loaded, the listener bound, the thread
 * started and waited for), sealed, asked whether it failed, and closed; the
 * thread's life from the first hop to teardown; the errors the running
 * tunnel records.
 *
 * The rest of the tunnel, declared in tunnel_internal.h:
 *   digest.c       hashes, base64 (libcrypto) and SSH key blobs
 *   known_hosts.c  known_hosts as OpenSSH reads and writes it
 *   keyfile.c      private key files
 *   hop.c          setting up one hop: connect, handshake, host key, login
 *   loop.c         the poll() loop, its rules, sessions, the listener
 *   relay.c        relayed connections over direct-tcpip channels
 */
#include "tunnel.h"
#include "tunnel_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- errors --------------------------------------------------------------- */

/* Records an error of the running tunnel (first one wins). */
static void tunnel_fail(tunnel *t, int code, const char *hint, const char *fmt, ...)
    MC_PRINTF(4, 5);
static void tunnel_fail(tunnel *t, int code, const char *hint, const char *fmt, ...)
{
    char msg[sizeof t->fail_err.message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&t->mu);
    if (!t->failed) {
        t->failed = true;
        mc_error_set(&t->fail_err, code, "%s", msg);
        if (hint)
            mc_error_hint(&t->fail_err, "%s", hint);
    }
    pthread_mutex_unlock(&t->mu);
    mc_log(MC_LOG_DEBUG, "tunnel: %s", msg);
}

/* An error while setting up (before ready) or of the running tunnel. */
void tun_report(tunnel *t, int code, const char *hint, const char *fmt, ...)
{
    char msg[sizeof t->open_err.message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!t->ready) {
        mc_error_set(&t->open_err, code, "%s", msg);
        if (hint)
            mc_error_hint(&t->open_err, "%s", hint);
    } else {
        tunnel_fail(t, code, hint, "%s", msg);
    }
}

const char *tun_ssh_message(LIBSSH2_SESSION *ssh)
{
    char *msg = NULL;
    if (!ssh || libssh2_session_last_error(ssh, &msg, NULL, 0) == 0 || !msg || !*msg)
        return "no detail from libssh2";
    return msg;
}

/* ---- the thread, teardown ------------------------------------------------ */

/* Innermost hop first: each says goodbye, its last bytes are carried out by
 * the hops before it, then libssh2 lets go of it without any more I/O. */
static void teardown(tunnel *t)
{
    tun_close_listener(t);
    for (relay *r = t->relays; r; r = r->next)
        if (!r->carries)
            tun_relay_abort(r);
    for (size_t i = t->n_hops; i-- > 0;) {
        sess *s = &t->sess[i];
        if (s->ssh && s->up && !s->dead) {
            libssh2_session_disconnect_ex(s->ssh, SSH_DISCONNECT_BY_APPLICATION,
                                          "metacrawl closed the tunnel", "");
            s->up = false;
            double until = mc_monotonic() + 0.5;
            for (;;) {
                int queued = 0;
                if (s->carrier && s->carrier->fd >= 0)
                    ioctl(s->carrier->fd, FIONREAD, &queued);
                bool carried = !s->carrier || s->carrier->fd < 0 ||
                               (queued == 0 && s->carrier->up_len == s->carrier->up_off);
                if ((tun_outq_pending(s) == 0 && carried) || mc_monotonic() >= until)
                    break;
                tun_loop_once(t, s, until);
            }
        }
        s->up = false;
        s->closing = true;
        if (s->agent) {
            libssh2_agent_disconnect(s->agent);
            libssh2_agent_free(s->agent);
            s->agent = NULL;
        }
        if (s->ssh) {
            for (relay *r = t->relays; r; r = r->next)
                if (r->s == s)
                    r->ch = NULL;
            for (int tries = 0; tries < 10 && libssh2_session_free(s->ssh) ==
                                                   LIBSSH2_ERROR_EAGAIN; tries++)
                ;
            s->ssh = NULL;
        }
        if (s->carrier)
            tun_relay_abort(s->carrier);
        if (s->fd >= 0) {
            close(s->fd);
            s->fd = -1;
        }
    }
    while (t->relays)
        tun_relay_free(t, t->relays);
}

static void *tunnel_main(void *arg)
{
    tunnel *t = arg;
    int rc = 0;
    for (size_t k = 0; k < t->n_hops && rc == 0; k++)
        rc = tun_setup_hop(t, &t->sess[k]);
    pthread_mutex_lock(&t->mu);
    if (rc != 0 && !mc_error_is_set(&t->open_err))
        mc_error_set(&t->open_err, MC_EXIT_CONNECT, "the tunnel could not be opened");
    t->ready = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    while (rc == 0 && !t->stopping)
        tun_loop_once(t, NULL, 1e308);
    teardown(t);
    return NULL;
}

/* ---- options and the public API ------------------------------------------ */

static void hop_label(const tunnel_opts *o, size_t i, char *buf, size_t n)
{
    const tunnel_hop *h = &o->hops[i];
    int port = h->port ? h->port : 22;
    if (o->n_hops == 1)
        snprintf(buf, n, "bastion %s:%d", h->host ? h->host : "?", port);
    else
        snprintf(buf, n, "ssh hop %zu/%zu %s:%d", i + 1, o->n_hops, h->host ? h->host : "?",
                 port);
}

static int validate_hop(const tunnel_opts *o, size_t i, tun_key_info *info, char **fp,
                        mc_error *err)
{
    const tunnel_hop *h = &o->hops[i];
    char label[320];
    hop_label(o, i, label, sizeof label);
    if (!h->host || !*h->host)
        return mc_error_set(err, MC_EXIT_CONFIG, "tunnel hop %zu has no host", i + 1);
    if (h->port < 0 || h->port > 65535)
        return mc_error_set(err, MC_EXIT_CONFIG, "%s: port %d is out of range", label, h->port);
    if (!h->user || !*h->user)
        return mc_error_set(err, MC_EXIT_CONFIG, "%s: no user to log in as", label);
    if (!h->known_hosts || !*h->known_hosts)
        return mc_error_set(err, MC_EXIT_CONFIG, "%s: no known_hosts file", label);
    if (!h->private_key && !h->agent && !h->password.value) {
        mc_error_set(err, MC_EXIT_CONFIG, "%s: no way to authenticate", label);
        mc_error_hint(err, "set private_key, agent: true (use ssh-agent) or password");
        return -1;
    }
    if (h->passphrase.value && !h->private_key)
        return mc_error_set(err, MC_EXIT_CONFIG, "%s: a passphrase but no private_key", label);
    if (!h->private_key)
        return 0;
    tun_key_info local = {0};
    tun_key_info *ki = info ? info : &local;
    if (tun_key_load(label, h, ki, fp, err) != 0) {
        tun_key_info_free(&local);
        return -1;
    }
    int rc = 0;
    const char *problem = tun_key_type_problem(ki->type);
    if (problem) {
        mc_error_set(err, MC_EXIT_AUTH, "%s: cannot use the %s key %s", label,
                     tun_type_short(ki->type), h->private_key);
        mc_error_hint(err, "%s", problem);
        rc = -1;
    } else if (ki->encrypted && !h->passphrase.value) {
        mc_error_set(err, MC_EXIT_AUTH, "%s: the private key %s is encrypted and no passphrase "
                     "is set", label, h->private_key);
        mc_error_hint(err, "add passphrase: to the tunnel, e.g. passphrase: "
                           "${env:BASTION_KEY_PASSPHRASE}, or use agent: true");
        rc = -1;
    }
    tun_key_info_free(&local);
    return rc;
}

int tunnel_validate(const tunnel_opts *o, mc_error *err)
{
    if (o && o->via != TUNNEL_VIA_LIBSSH2) {
        if (o->progress)
            *o->progress = (tunnel_progress){.hop = 0, .step = TUNNEL_STEP_PROGRAM, ""};
        return tun_px_validate(o, err);
    }
    if (o && o->progress)
        *o->progress = (tunnel_progress){.hop = 0, .step = TUNNEL_STEP_REACH};
    if (!o || !o->hops || o->n_hops == 0)
        return mc_error_set(err, MC_EXIT_CONFIG, "the tunnel has no hop");
    if (o->step_timeout_s < 0 || o->keepalive_s < 0)
        return mc_error_set(err, MC_EXIT_CONFIG, "tunnel timeouts cannot be negative");
    for (size_t i = 0; i < o->n_hops; i++)
        if (validate_hop(o, i, NULL, NULL, err) != 0) {
            /* A key that cannot be used is an authentication problem. */
            if (o->progress)
                *o->progress = (tunnel_progress){.hop = i, .step = err->code == MC_EXIT_AUTH ? TUNNEL_STEP_AUTH : TUNNEL_STEP_REACH};
            return -1;
        }
    return 0;
}

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;
static int ssh_init_rc;
static void ssh_init(void) { ssh_init_rc = libssh2_init(0); }

static void free_hops(tunnel *t)
{
    for (size_t i = 0; t->hops && i < t->n_hops; i++) {
        hop_own *h = &t->hops[i];
        free(h->host);
        free(h->user);
        free(h->private_key);
        free(h->known_hosts);
        tun_hop_wipe_secrets(h);
        tun_key_info_free(&h->key);
        free(h->key_fp);
    }
    free(t->hops);
}

static void tunnel_free(tunnel *t)
{
    if (t->listen_fd >= 0)
        close(t->listen_fd);
    if (t->wake[0] >= 0)
        close(t->wake[0]);
    if (t->wake[1] >= 0)
        close(t->wake[1]);
    for (size_t k = 0; t->sess && k < t->n_hops; k++)
        free(t->sess[k].outq);
    free(t->sess);
    free_hops(t);
    free(t->target_host);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

static int open_listener(tunnel *t, mc_error *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return mc_error_set(err, MC_EXIT_CONNECT, "cannot listen on 127.0.0.1 for the tunnel: %s",
                            strerror(e));
    }
    t->listen_fd = fd;
    t->local_port = ntohs(a.sin_port);
    return 0;
}

int tunnel_open(const tunnel_opts *o, const char *target_host, int target_port,
                tunnel **out, mc_error *err)
{
    *out = NULL;
    if (o && o->via != TUNNEL_VIA_LIBSSH2)
        return tun_px_open(o, target_host, target_port, out, err);
    if (tunnel_validate(o, err) != 0)
        return -1;
    if (!target_host || !*target_host || target_port < 1 || target_port > 65535)
        return mc_error_set(err, MC_EXIT_CONFIG, "the tunnel needs a target host and port");
    pthread_once(&ssh_once, ssh_init);
    if (ssh_init_rc != 0)
        return mc_error_set(err, MC_EXIT_CONNECT, "libssh2 could not be initialised");

    tunnel *t = mc_calloc(1, sizeof *t);
    t->listen_fd = t->wake[0] = t->wake[1] = -1;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->n_hops = o->n_hops;
    t->hops = mc_calloc(o->n_hops, sizeof *t->hops);
    t->sess = mc_calloc(o->n_hops, sizeof *t->sess);
    t->target_host = mc_strdup(target_host);
    t->target_port = target_port;
    t->step_s = o->step_timeout_s > 0 ? o->step_timeout_s : 10;
    t->keepalive_s = o->keepalive_s;
    t->max_connections = o->max_connections;
    for (size_t i = 0; i < o->n_hops; i++) {
        const tunnel_hop *src = &o->hops[i];
        hop_own *h = &t->hops[i];
        h->host = mc_strdup(src->host);
        h->port = src->port ? src->port : 22;
        h->user = mc_strdup(src->user);
        h->private_key = mc_strdup(src->private_key);
        h->agent = src->agent;
        h->known_hosts = mc_strdup(src->known_hosts);
        h->policy = src->host_key_policy;
        if (src->passphrase.value)
            mc_secret_set(&h->passphrase, src->passphrase.value, src->passphrase.len);
        if (src->password.value)
            mc_secret_set(&h->password, src->password.value, src->password.len);
        hop_label(o, i, h->label, sizeof h->label);
        if (src->private_key && tun_key_load(h->label, src, &h->key, &h->key_fp, err) != 0) {
            if (o->progress)
                *o->progress = (tunnel_progress){.hop = i, .step = TUNNEL_STEP_AUTH};
            tunnel_free(t);
            return -1;
        }
        sess *s = &t->sess[i];
        s->t = t;
        s->index = (int)i;
        s->hop = h;
        s->fd = -1;
    }
    if (open_listener(t, err) != 0 || pipe2(t->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        if (!mc_error_is_set(err))
            mc_error_set(err, MC_EXIT_CONNECT, "cannot start the tunnel: %s", strerror(errno));
        tunnel_free(t);
        return -1;
    }
    /* The thread takes no signals: they stay with the threads that handle them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&t->thread, NULL, tunnel_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        mc_error_set(err, MC_EXIT_CONNECT, "cannot start the tunnel thread: %s", strerror(prc));
        tunnel_free(t);
        return -1;
    }
    pthread_mutex_lock(&t->mu);
    while (!t->ready)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    if (o->progress)
        *o->progress = t->progress;
    if (mc_error_is_set(&t->open_err)) {
        pthread_join(t->thread, NULL);
        *err = t->open_err;
        tunnel_free(t);
        return -1;
    }
    mc_log(MC_LOG_DEBUG, "tunnel: 127.0.0.1:%d forwards to %s:%d through %zu hop%s",
           t->local_port, target_host, target_port, t->n_hops, t->n_hops == 1 ? "" : "s");
    *out = t;
    return 0;
}

int tunnel_local_port(const tunnel *t)
{
    return t ? t->local_port : 0;
}

static void wake(tunnel *t, char cmd)
{
    while (write(t->wake[1], &cmd, 1) < 0 && errno == EINTR)
        ;
}

void tunnel_seal(tunnel *t)
{
    if (t && t->px)
        tun_px_seal(t);
    else if (t)
        wake(t, 's');
}

bool tunnel_failed(tunnel *t, mc_error *err_out)
{
    if (!t)
        return false;
    if (t->px)
        return tun_px_failed(t, err_out);
    pthread_mutex_lock(&t->mu);
    bool failed = t->failed;
    if (failed && err_out)
        *err_out = t->fail_err;
    double since = t->client_open_since;
    pthread_mutex_unlock(&t->mu);
    /* A client that gave up (libpq's connect_timeout) while the bastion was
     * still connecting: that is why, even before the tunnel's own deadline. */
    double waited = since > 0 ? mc_monotonic() - since : 0;
    if (!failed && waited >= 1.0) {
        failed = true;
        if (err_out) {
            mc_error_clear(err_out);
            mc_error_set(err_out, MC_EXIT_CONNECT, "%s has not connected to %s:%d after %.0f s",
                         t->hops[t->n_hops - 1].label, t->target_host, t->target_port, waited);
            mc_error_hint(err_out, TUN_HINT_TARGET_UNREACHABLE, t->target_port);
        }
    }
    return failed;
}

void tunnel_close(tunnel *t)
{
    if (!t)
        return;
    if (t->px) {
        tun_px_close(t);
        free(t->target_host);
        free(t);
        return;
    }
    wake(t, 'q');
    pthread_join(t->thread, NULL);
    tunnel_free(t);
}

const char *tunnel_lib_version(void)
{
    return libssh2_version(0);
}
