/*
 * loop.c — the tunnel thread's poll() loop: the socket hooks libssh2 sends
 * and receives through, the sessions' liveness (keepalives, a lost hop and
 * everything behind it), the local listener and whom it accepts, and one
 * round of serving every session and relay (relay.c does the per-connection
 * work).
 *
 * One thread owns every libssh2 session and socket and runs one poll() loop.
 * The rules it keeps (the other files of the tunnel cite them by number):
 *
 *  1. Only the tunnel thread calls libssh2 once tunnel_open has started it;
 *     other threads only touch the mutex-guarded error and the wake pipe.
 *  2. libssh2 never sees a send block.  libssh2 1.10 sends a packet with one
 *     send() call; when that call blocks, the identical call must be repeated
 *     before anything else is sent on the session (else BAD_USE), and some of
 *     its packets (EOF, keepalive, replies to the server's requests) live on
 *     the stack of the call that made them, so they cannot be resumed from
 *     anywhere else.  The send hook therefore takes every byte: what the
 *     socket does not accept goes to the session's output queue, which is
 *     flushed first, in order, when the socket turns writable — one pending
 *     write per session, finished before anything new reaches the socket.
 *  3. That queue is bounded by gating the only bulk producer:
 *     libssh2_channel_write is not called while the queue is above
 *     OUTQ_HIGH.  Control packets (window adjustments, EOF, keepalives) are
 *     small and always taken.
 *  4. A full remote window is not an error and not a reason to spin:
 *     tun_channel_write makes no call while libssh2_channel_window_write is 0;
 *     a window adjustment arrives as input, which wakes the loop.  Reads go
 *     on meanwhile, so one direction never waits for the other.
 *  5. After every wake-up, every open channel with room in its buffer is read
 *     until EAGAIN: libssh2 may hold data for a channel that it read in
 *     passing while serving another, and the socket will not signal it again.
 *     Any libssh2 call can do that, so before poll() sleeps, sess_backlog
 *     asks libssh2 whether a channel with room has data queued (or an open or
 *     close is waiting to start); then the loop goes round without sleeping.
 *  6. Buffers are bounded (RELAY_BUF each way per connection).  A channel is
 *     not read while its local socket does not take data, so libssh2 sends
 *     no window adjustment and the far end stops at the window: backpressure
 *     end to end.
 *  7. One channel open in flight per session (libssh2 keeps its state in
 *     the session); further connections wait in QUEUED.
 *  8. Every blocking step has a deadline (TCP connect, handshake,
 *     authentication, channel open), and poll() never sleeps past the
 *     nearest deadline, keepalive or liveness check.  There is no sleep.
 */
#include "tunnel_internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- socket hooks (rule 2) ------------------------------------------------ */

static void outq_flush(sess *s)
{
    while (s->outq_len > s->outq_off) {
        ssize_t n = send(s->fd, s->outq + s->outq_off, s->outq_len - s->outq_off, MSG_NOSIGNAL);
        if (n > 0) {
            s->outq_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        s->sock_errno = n < 0 ? errno : EPIPE;
        break;
    }
    if (s->outq_off == s->outq_len)
        s->outq_off = s->outq_len = 0;
}

/* Rule 2: every byte is taken; what the socket refuses waits in outq. */
static LIBSSH2_SEND_FUNC(hook_send)
{
    sess *s = *abstract;
    (void)flags;
    if (s->closing)
        return -EPIPE;
    if (s->sock_errno)
        return -s->sock_errno;
    size_t sent = 0;
    if (tun_outq_pending(s) == 0) {
        for (;;) {
            ssize_t n = send(socket, buffer, length, MSG_NOSIGNAL);
            if (n >= 0) {
                sent = (size_t)n;
                break;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                s->sock_errno = errno;
                return -errno;
            }
            break;
        }
    }
    if (sent < length) {
        size_t rest = length - sent;
        if (s->outq_off > 0 && s->outq_len + rest > s->outq_cap) {
            memmove(s->outq, s->outq + s->outq_off, tun_outq_pending(s));
            s->outq_len -= s->outq_off;
            s->outq_off = 0;
        }
        if (s->outq_len + rest > s->outq_cap) {
            size_t cap = s->outq_cap ? s->outq_cap : 64 * 1024;
            while (cap < s->outq_len + rest)
                cap *= 2;
            s->outq = mc_realloc(s->outq, cap);
            s->outq_cap = cap;
        }
        memcpy(s->outq + s->outq_len, (const uint8_t *)buffer + sent, rest);
        s->outq_len += rest;
    }
    return (ssize_t)length;
}

static LIBSSH2_RECV_FUNC(hook_recv)
{
    sess *s = *abstract;
    (void)flags;
    if (s->closing)
        return -ECONNRESET;
    for (;;) {
        ssize_t n = recv(socket, buffer, length, 0);
        if (n > 0) {
            s->last_rx = mc_monotonic();
            return n;
        }
        if (n == 0) {
            s->peer_closed = true;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -EAGAIN;
        s->sock_errno = errno;
        return -errno;
    }
}

/* The hooks travel through libssh2's void * setter; memcpy keeps ISO C
 * happy about function-to-object pointer conversion. */
void tun_set_io_hooks(LIBSSH2_SESSION *ssh)
{
    LIBSSH2_SEND_FUNC((*snd)) = hook_send;
    LIBSSH2_RECV_FUNC((*rcv)) = hook_recv;
    void *p;
    memcpy(&p, &snd, sizeof p);
    libssh2_session_callback_set(ssh, LIBSSH2_CALLBACK_SEND, p);
    memcpy(&p, &rcv, sizeof p);
    libssh2_session_callback_set(ssh, LIBSSH2_CALLBACK_RECV, p);
}

/* ---- sessions ------------------------------------------------------------- */

const char *tun_drop_reason(sess *s, char *buf, size_t n)
{
    if (s->peer_closed)
        return "the server closed the connection";
    if (s->sock_errno) {
        snprintf(buf, n, "%s", strerror(s->sock_errno));
        return buf;
    }
    return tun_ssh_message(s->ssh);
}

/* Marks S and the hops behind it lost, closes their connections and the
 * listener, and records why. */
void tun_sess_die(sess *s, const char *why)
{
    tunnel *t = s->t;
    if (s->dead)
        return;
    s->dead = true;
    bool was_up = s->up;
    s->up = false;
    if (was_up)
        tun_report(t, MC_EXIT_CONNECT,
                   "check that the bastion is up and reachable (sshd restarted? network?), and "
                   "the keepalive setting of the tunnel",
                   "the ssh connection to %s was lost: %s", s->hop->label, why);
    if (t->ready)
        tun_close_listener(t);
    for (relay *r = t->relays; r; r = r->next) {
        if (r->s != s || r->doomed)
            continue;
        r->ch = NULL; /* belongs to a dead session: session_free frees it */
        tun_relay_close_fd(r);
        r->doomed = true;
        if (r->carries)
            tun_sess_die(r->carries, "the hop before it was lost");
    }
    s->opening = NULL;
    for (size_t k = (size_t)s->index + 1; k < t->n_hops; k++)
        tun_sess_die(&t->sess[k], "the hop before it was lost");
}

/* ---- the loop ------------------------------------------------------------ */

void tun_close_listener(tunnel *t)
{
    if (t->listen_fd >= 0) {
        close(t->listen_fd);
        t->listen_fd = -1;
        mc_log(MC_LOG_DEBUG, "tunnel: listener on 127.0.0.1:%d closed", t->local_port);
    }
}

/*
 * "Only the connections metacrawl makes": the peer of an accepted connection
 * must be a socket of this very process — one of our descriptors whose local
 * address is the peer address and whose peer is our listener.  Another user's
 * or another program's connection to the port, or a child of ours that did
 * not inherit the socket, is refused.  Without /proc nothing is accepted.
 */
static bool peer_is_ours(tunnel *t, int accepted, const struct sockaddr_in *peer)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd == accepted || fd == t->listen_fd || fd == dirfd(d))
            continue;
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        if (getsockname((int)fd, (struct sockaddr *)&a, &len) != 0 || len != sizeof a ||
            a.sin_family != AF_INET || a.sin_port != peer->sin_port ||
            a.sin_addr.s_addr != peer->sin_addr.s_addr)
            continue;
        struct sockaddr_in b;
        len = sizeof b;
        if (getpeername((int)fd, (struct sockaddr *)&b, &len) == 0 && len == sizeof b &&
            b.sin_family == AF_INET && b.sin_port == htons((uint16_t)t->local_port) &&
            b.sin_addr.s_addr == htonl(INADDR_LOOPBACK))
            found = true;
    }
    closedir(d);
    return found;
}

static void accept_clients(tunnel *t)
{
    while (t->listen_fd >= 0) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        int fd = accept4(t->listen_fd, (struct sockaddr *)&peer, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                mc_log(MC_LOG_WARN, "tunnel: accept on 127.0.0.1:%d: %s", t->local_port,
                       strerror(errno));
            return;
        }
        if (len != sizeof peer || peer.sin_family != AF_INET ||
            peer.sin_addr.s_addr != htonl(INADDR_LOOPBACK) || !peer_is_ours(t, fd, &peer)) {
            char addr[INET_ADDRSTRLEN] = "?";
            inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof addr);
            mc_log(MC_LOG_WARN,
                   "tunnel: refused a connection from %s:%d to 127.0.0.1:%d: it is not one "
                   "metacrawl made",
                   addr, ntohs(peer.sin_port), t->local_port);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        relay *r = tun_relay_new(t, &t->sess[t->n_hops - 1], fd, NULL);
        r->src_port = ntohs(peer.sin_port);
        mc_log(MC_LOG_DEBUG, "tunnel: connection %d accepted from 127.0.0.1:%d", r->id,
               r->src_port);
        if (t->max_connections > 0 && ++t->n_accepted >= t->max_connections)
            tun_close_listener(t);
    }
}

/* Is there anyone to consume what arrives on S's socket?  When every
 * channel's buffer is full nobody reads: the kernel buffers fill and TCP
 * pushes back (rule 6), and poll() is not asked, so it cannot spin. */
static bool sess_wants_input(tunnel *t, const sess *s)
{
    if (s->opening)
        return true;
    for (const relay *r = t->relays; r; r = r->next) {
        if (r->s != s || r->doomed)
            continue;
        if (r->state == R_CLOSING && r->ch)
            return true;
        if (r->state == R_OPEN &&
            ((!r->remote_eof && tun_down_room(r) > 0) || r->up_len > r->up_off ||
             (r->local_eof && !r->eof_sent)))
            return true;
    }
    return false;
}

static void serve_session(tunnel *t, sess *s)
{
    if (!s->up || s->dead)
        return;
    char buf[200];
    double now = mc_monotonic();
    if (s->sock_errno) {
        tun_sess_die(s, tun_drop_reason(s, buf, sizeof buf));
        return;
    }
    if (t->keepalive_s > 0) {
        /* Liveness counts only while something waits for input. */
        if (!s->armed)
            s->last_rx = now;
        else if (now - s->last_rx > (double)KEEPALIVE_MISSES * t->keepalive_s) {
            snprintf(buf, sizeof buf, "no answer to %d keepalives in %d s", KEEPALIVE_MISSES,
                     KEEPALIVE_MISSES * t->keepalive_s);
            tun_sess_die(s, buf);
            return;
        }
        if (now >= s->ka_next) {
            int next = 0;
            int rc = libssh2_keepalive_send(s->ssh, &next);
            if (rc != 0 && rc != LIBSSH2_ERROR_EAGAIN) {
                tun_sess_die(s, tun_drop_reason(s, buf, sizeof buf));
                return;
            }
            s->ka_next = now + (next > 0 ? next : t->keepalive_s);
        }
    }
    /* Rule 5: every channel with room is read, then written; the calls that
     * only wait for an answer (close, open) come last, so an answer that
     * another call reads in passing is seen in this round.  What reads pass
     * on to libssh2's queue meanwhile is caught by sess_backlog. */
    for (relay *r = t->relays; r && !s->dead; r = r->next)
        if (r->s == s && !r->doomed && r->state == R_OPEN)
            tun_channel_read(r);
    for (relay *r = t->relays; r && !s->dead; r = r->next)
        if (r->s == s && !r->doomed && r->state == R_OPEN)
            tun_channel_write(r);
    for (relay *r = t->relays; r && !s->dead; r = r->next)
        if (r->s == s && !r->doomed && r->state == R_CLOSING)
            tun_serve_closing(t, r);
    if (!s->dead)
        tun_serve_open(t, s);
    if (!s->dead && s->peer_closed)
        tun_sess_die(s, tun_drop_reason(s, buf, sizeof buf));
}

/*
 * Rule 5 at the moment of going to sleep: would a call make progress
 * without any new input?  Every libssh2 call may read the socket dry and
 * queue data for any channel, so after serving, a channel with room can
 * have data waiting that no poll() will announce.  If so, go round again.
 */
static bool sess_backlog(tunnel *t, sess *s)
{
    if (!s->up || s->dead)
        return false;
    for (relay *r = t->relays; r; r = r->next) {
        if (r->s == s && !r->doomed && r->state == R_QUEUED && !s->opening)
            return true; /* an open to start */
        if (r->s == s && !r->doomed && r->state == R_CLOSING && r->ch && !r->close_sent)
            return true; /* a close to send */
        if (r->s != s || r->doomed || r->state != R_OPEN)
            continue;
        if (!r->remote_eof && tun_down_room(r) > 0) {
            unsigned long avail = 0;
            libssh2_channel_window_read_ex(r->ch, &avail, NULL);
            if (avail > 0 || libssh2_channel_eof(r->ch))
                return true;
        }
        if (r->up_len > r->up_off && !r->write_stalled && tun_outq_pending(s) < OUTQ_HIGH &&
            libssh2_channel_window_write(r->ch) > 0)
            return true;
    }
    return false;
}

static void sweep(tunnel *t)
{
    for (relay *r = t->relays, *next; r; r = next) {
        next = r->next;
        if (r->doomed)
            tun_relay_free(t, r);
    }
}

/*
 * One poll() and everything it allows.  EXTRA is a session being set up
 * (or NULL): its socket is polled and its queue flushed, but the caller
 * makes its libssh2 calls.  Never sleeps past DEADLINE or the nearest
 * deadline of the tunnel (rule 8).
 */
void tun_loop_once(tunnel *t, sess *extra, double deadline)
{
    size_t n_relays = 0;
    for (relay *r = t->relays; r; r = r->next)
        n_relays++;
    size_t cap = 2 + t->n_hops + n_relays;
    struct pollfd *pfd = mc_calloc(cap, sizeof *pfd);
    int *sess_at = mc_calloc(t->n_hops, sizeof *sess_at);
    size_t n = 0;
    pfd[n++] = (struct pollfd){.fd = t->wake[0], .events = POLLIN};
    int listen_at = -1;
    if (t->listen_fd >= 0 && t->ready) {
        listen_at = (int)n;
        pfd[n++] = (struct pollfd){.fd = t->listen_fd, .events = POLLIN};
    }
    double now = mc_monotonic(), wake_at = deadline;
    for (size_t k = 0; k < t->n_hops; k++) {
        sess *s = &t->sess[k];
        sess_at[k] = -1;
        s->armed = s->readable = false;
        bool active = (s->up && !s->dead) || s == extra;
        if (s->fd < 0 || s->closing || (!active && tun_outq_pending(s) == 0))
            continue;
        short ev = tun_outq_pending(s) ? POLLOUT : 0;
        if (s == extra || (active && sess_wants_input(t, s))) {
            ev |= POLLIN;
            s->armed = true;
        }
        if (s->up && !s->dead && t->keepalive_s > 0) {
            if (s->ka_next < wake_at)
                wake_at = s->ka_next;
            double dead_at = s->last_rx + (double)KEEPALIVE_MISSES * t->keepalive_s;
            if (s->armed && dead_at < wake_at)
                wake_at = dead_at;
        }
        if (!ev)
            continue;
        sess_at[k] = (int)n;
        pfd[n++] = (struct pollfd){.fd = s->fd, .events = ev};
    }
    relay **relay_at = mc_calloc(n_relays + 1, sizeof *relay_at);
    size_t first_relay = n;
    for (relay *r = t->relays; r; r = r->next) {
        if ((r->state == R_OPENING || r->state == R_CLOSING) && r->deadline < wake_at &&
            (r->fd >= 0 || r->state == R_CLOSING))
            wake_at = r->deadline;
        if (r->fd < 0 || r->doomed)
            continue;
        short ev = 0;
        if (r->state != R_CLOSING && !r->local_eof && tun_up_room(r) > 0)
            ev |= POLLIN;
        if (r->down_len > r->down_off)
            ev |= POLLOUT;
        if (!ev)
            continue;
        relay_at[n - first_relay] = r;
        pfd[n++] = (struct pollfd){.fd = r->fd, .events = ev};
    }
    for (size_t k = 0; k < t->n_hops; k++)
        if (sess_backlog(t, &t->sess[k]))
            wake_at = now;
    int timeout = -1;
    if (wake_at < 1e300) {
        double ms = (wake_at - now) * 1000.0;
        timeout = ms <= 0 ? 0 : ms > 3600000 ? 3600000 : (int)ms + 1;
    }
    int rc = poll(pfd, (nfds_t)n, timeout);
    if (rc < 0 && errno != EINTR)
        mc_log(MC_LOG_WARN, "tunnel: poll: %s", strerror(errno));
    if (rc > 0 && (pfd[0].revents & POLLIN)) {
        char cmd[16];
        ssize_t got;
        while ((got = read(t->wake[0], cmd, sizeof cmd)) > 0)
            for (ssize_t i = 0; i < got; i++) {
                if (cmd[i] == 'q')
                    t->stopping = true;
                else if (cmd[i] == 's')
                    tun_close_listener(t);
            }
    }
    for (size_t k = 0; k < t->n_hops; k++) {
        sess *s = &t->sess[k];
        if (sess_at[k] < 0)
            continue;
        short re = rc > 0 ? pfd[sess_at[k]].revents : 0;
        s->readable = (re & (POLLIN | POLLHUP | POLLERR)) != 0;
        if (re & (POLLOUT | POLLERR | POLLHUP))
            outq_flush(s);
    }
    if (rc > 0 && listen_at >= 0 && t->listen_fd >= 0 && (pfd[listen_at].revents & POLLIN))
        accept_clients(t);
    for (size_t i = first_relay; rc > 0 && i < n; i++) {
        relay *r = relay_at[i - first_relay];
        if (r && r->fd >= 0 && !r->doomed && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
            tun_local_read(r);
    }
    for (size_t k = 0; k < t->n_hops; k++)
        serve_session(t, &t->sess[k]);
    for (relay *r = t->relays; r; r = r->next)
        if (r->fd >= 0 && !r->doomed)
            tun_local_write(r);
    for (size_t k = 0; k < t->n_hops; k++) {
        sess *s = &t->sess[k];
        if (s->fd >= 0 && !s->closing && tun_outq_pending(s))
            outq_flush(s);
    }
    sweep(t);
    free(relay_at);
    free(sess_at);
    free(pfd);
}
