/*
 * relay.c — one relayed connection: a local socket and a direct-tcpip
 * channel of a hop (a client of the local port on the last hop, or the
 * next hop's socketpair end on the hop before it).  Its buffers, the channel
 * open and why it failed, reading and writing both ends, EOF and close.
 * The loop (loop.c) decides when each of these runs; the rules cited here
 * are loop.c's.
 *
 * A relayed connection:
 *
 *   QUEUED --open sent--> OPENING --confirmed--> OPEN --EOF both ways--> CLOSING --> freed
 *                            |                     |                       ^
 *                            +--refused/deadline---+--error / tunnel lost--+
 */
#include "tunnel_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- relays --------------------------------------------------------------- */

relay *tun_relay_new(tunnel *t, sess *s, int fd, sess *carries)
{
    relay *r = mc_calloc(1, sizeof *r);
    r->s = s;
    r->fd = fd;
    r->carries = carries;
    r->state = R_QUEUED;
    r->id = ++t->next_id;
    r->up = mc_malloc(RELAY_BUF);
    r->down = mc_malloc(RELAY_BUF);
    relay **tail = &t->relays;
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    return r;
}

void tun_relay_close_fd(relay *r)
{
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
}

/* Unlinks and frees R; its channel, if any, is left to the session. */
void tun_relay_free(tunnel *t, relay *r)
{
    for (relay **p = &t->relays; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    tun_relay_close_fd(r);
    if (r->s && r->s->opening == r)
        r->s->opening = NULL;
    if (r->carries && r->carries->carrier == r)
        r->carries->carrier = NULL;
    free(r->up);
    free(r->down);
    free(r);
}

/* Drops the connection: the local socket is closed (the client sees EOF or
 * a reset), the channel closed. */
void tun_relay_abort(relay *r)
{
    tun_relay_close_fd(r);
    r->up_off = r->up_len = r->down_off = r->down_len = 0;
    if (r->carries && !r->carries->dead)
        tun_sess_die(r->carries, "the connection to it through the previous hop was closed");
    switch (r->state) {
    case R_QUEUED:
        r->doomed = true;
        break;
    case R_OPENING:
        /* The open is in flight in the session (rule 7): it is finished and
         * its channel dropped when it completes. */
        break;
    case R_OPEN:
        r->state = R_CLOSING;
        r->deadline = mc_monotonic() + CLOSE_GRACE_S;
        break;
    case R_CLOSING:
        break;
    }
}

/* A libssh2 error code that ends the whole session, not just one channel. */
static bool session_fatal(int rc)
{
    switch (rc) {
    case LIBSSH2_ERROR_CHANNEL_CLOSED:
    case LIBSSH2_ERROR_CHANNEL_EOF_SENT:
    case LIBSSH2_ERROR_CHANNEL_UNKNOWN:
    case LIBSSH2_ERROR_CHANNEL_FAILURE:
    case LIBSSH2_ERROR_CHANNEL_WINDOW_EXCEEDED:
    case LIBSSH2_ERROR_CHANNEL_PACKET_EXCEEDED:
    case LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED:
        return false;
    default:
        return true;
    }
}

static void channel_error(relay *r, int rc, const char *what)
{
    sess *s = r->s;
    if (session_fatal(rc)) {
        char buf[200];
        tun_sess_die(s, tun_drop_reason(s, buf, sizeof buf));
        return;
    }
    mc_log(MC_LOG_DEBUG, "tunnel: connection %d: channel %s failed: %s", r->id, what,
           tun_ssh_message(s->ssh));
    tun_relay_abort(r);
}


/* Room at the end of a buffer; the data moves to the front when the end is
 * short.  libssh2 keeps no pointer into these buffers between calls (a
 * channel write that has to wait for a key exchange builds its packet from
 * the bytes of the next, identical-content call), so moving is safe. */
static size_t make_room(uint8_t *buf, size_t *off, size_t *len)
{
    if (*off == *len) {
        *off = *len = 0;
    } else if (*off > 0 && RELAY_BUF - *len < RELAY_BUF / 4) {
        memmove(buf, buf + *off, *len - *off);
        *len -= *off;
        *off = 0;
    }
    return RELAY_BUF - *len;
}

void tun_local_read(relay *r)
{
    while (r->fd >= 0 && !r->local_eof && tun_up_room(r) > 0) {
        size_t room = make_room(r->up, &r->up_off, &r->up_len);
        if (room == 0)
            break;
        ssize_t n = recv(r->fd, r->up + r->up_len, room, 0);
        if (n > 0) {
            r->up_len += (size_t)n;
            continue;
        }
        if (n == 0) {
            r->local_eof = true;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            mc_log(MC_LOG_DEBUG, "tunnel: connection %d: %s", r->id, strerror(errno));
            tun_relay_abort(r);
        }
        break;
    }
}

void tun_local_write(relay *r)
{
    while (r->fd >= 0 && r->down_len > r->down_off) {
        ssize_t n = send(r->fd, r->down + r->down_off, r->down_len - r->down_off, MSG_NOSIGNAL);
        if (n > 0) {
            r->down_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        mc_log(MC_LOG_DEBUG, "tunnel: connection %d: %s", r->id,
               n < 0 ? strerror(errno) : "write failed");
        tun_relay_abort(r);
        return;
    }
    if (r->down_off == r->down_len)
        r->down_off = r->down_len = 0;
    if (r->fd >= 0 && r->remote_eof && r->down_len == 0 && !r->local_shut) {
        shutdown(r->fd, SHUT_WR);
        r->local_shut = true;
    }
}

/* What the far end of a connection is, for messages. */
static void relay_target(tunnel *t, const relay *r, char *buf, size_t n)
{
    if (r->carries)
        snprintf(buf, n, "%s", r->carries->hop->label);
    else
        snprintf(buf, n, "%s:%d", t->target_host, t->target_port);
}

static void open_failed(tunnel *t, relay *r, const char *why)
{
    char target[400];
    relay_target(t, r, target, sizeof target);
    const char *via = r->s->hop->label;
    char hint[700];
    if (r->carries)
        snprintf(hint, sizeof hint,
                 "the next hop is not reachable from the one before it: check host: and "
                 "port: of that jump: entry as %s resolves them, and that sshd runs there",
                 via);
    else
        snprintf(hint, sizeof hint, TUN_HINT_TARGET_UNREACHABLE, t->target_port);
    if (!why) {
        tun_report(t, MC_EXIT_CONNECT, hint, "%s did not connect to %s within %d s", via, target,
                   t->step_s);
    } else if (strstr(why, "administratively prohibited")) {
        snprintf(hint, sizeof hint,
                 "the bastion does not let this user forward TCP connections: set "
                 "AllowTcpForwarding yes (or local) in its sshd_config, and if PermitOpen or a "
                 "permitopen= option in authorized_keys restricts the destinations, allow %s",
                 target);
        tun_report(t, MC_EXIT_CONNECT, hint,
                   "%s refused to forward the connection to %s (administratively prohibited)", via,
                   target);
    } else if (strstr(why, "connect failed")) {
        tun_report(t, MC_EXIT_CONNECT, hint, "%s could not connect to %s (connect failed)", via,
                   target);
    } else {
        tun_report(t, MC_EXIT_CONNECT, hint, "%s could not open a connection to %s: %s", via,
                   target, why);
    }
}

static void set_open_since(tunnel *t, double when)
{
    pthread_mutex_lock(&t->mu);
    t->client_open_since = when;
    pthread_mutex_unlock(&t->mu);
}

/* Rule 7: one direct-tcpip open in flight per session. */
void tun_serve_open(tunnel *t, sess *s)
{
    double now = mc_monotonic();
    if (!s->opening) {
        for (relay *r = t->relays; r && !s->opening; r = r->next)
            if (r->s == s && r->state == R_QUEUED && !r->doomed) {
                s->opening = r;
                r->state = R_OPENING;
                r->deadline = now + t->step_s;
                if (!r->carries)
                    set_open_since(t, now);
            }
        if (!s->opening)
            return;
    }
    relay *r = s->opening;
    const char *host = r->carries ? r->carries->hop->host : t->target_host;
    int port = r->carries ? r->carries->hop->port : t->target_port;
    LIBSSH2_CHANNEL *ch =
        libssh2_channel_direct_tcpip_ex(s->ssh, host, port, "127.0.0.1", r->src_port);
    if (ch || libssh2_session_last_errno(s->ssh) != LIBSSH2_ERROR_EAGAIN ||
        (r->fd >= 0 && now > r->deadline))
        set_open_since(t, 0);
    if (ch) {
        s->opening = NULL;
        r->ch = ch;
        if (r->fd < 0) { /* given up while the open was in flight */
            r->state = R_CLOSING;
            r->deadline = now + CLOSE_GRACE_S;
        } else {
            r->state = R_OPEN;
            mc_log(MC_LOG_DEBUG, "tunnel: connection %d forwarded to %s:%d through %s", r->id,
                   host, port, s->hop->label);
        }
        return;
    }
    int rc = libssh2_session_last_errno(s->ssh);
    if (rc == LIBSSH2_ERROR_EAGAIN) {
        if (r->fd >= 0 && now > r->deadline) {
            open_failed(t, r, NULL);
            tun_relay_abort(r); /* stays OPENING until libssh2 has an answer */
        }
        return;
    }
    s->opening = NULL;
    if (session_fatal(rc)) {
        char buf[200];
        tun_sess_die(s, tun_drop_reason(s, buf, sizeof buf));
        return;
    }
    if (r->fd >= 0)
        open_failed(t, r, tun_ssh_message(s->ssh));
    tun_relay_abort(r);
    r->doomed = true;
}

void tun_channel_read(relay *r)
{
    while (r->state == R_OPEN && !r->remote_eof && tun_down_room(r) > 0) {
        size_t room = make_room(r->down, &r->down_off, &r->down_len);
        if (room == 0)
            break;
        ssize_t n = libssh2_channel_read(r->ch, (char *)r->down + r->down_len, room);
        if (n > 0) {
            r->down_len += (size_t)n;
            continue;
        }
        if (n == LIBSSH2_ERROR_EAGAIN)
            break;
        if (n == 0) {
            /* 0 is end of data; libssh2 reports EOF and CLOSE alike here. */
            r->remote_eof = true;
            break;
        }
        channel_error(r, (int)n, "read");
        return;
    }
}

void tun_channel_write(relay *r)
{
    sess *s = r->s;
    while (r->state == R_OPEN && r->up_len > r->up_off && tun_outq_pending(s) < OUTQ_HIGH) {
        /* Rule 4: no call while the window is shut, unless input arrived
         * (channel_write reads pending window adjustments first). */
        if (libssh2_channel_window_write(r->ch) == 0 && !s->readable)
            break;
        ssize_t n = libssh2_channel_write(r->ch, (const char *)r->up + r->up_off,
                                          r->up_len - r->up_off);
        r->write_stalled = false;
        if (n > 0) {
            r->up_off += (size_t)n;
            continue;
        }
        if (n == 0 || n == LIBSSH2_ERROR_EAGAIN) {
            r->write_stalled = libssh2_channel_window_write(r->ch) > 0;
            break;
        }
        channel_error(r, (int)n, "write");
        return;
    }
    if (r->up_off == r->up_len)
        r->up_off = r->up_len = 0;
    if (r->state == R_OPEN && r->local_eof && r->up_len == 0 && !r->eof_sent) {
        int rc = libssh2_channel_send_eof(r->ch);
        if (rc == 0)
            r->eof_sent = true;
        else if (rc != LIBSSH2_ERROR_EAGAIN)
            channel_error(r, rc, "eof");
    }
    if (r->state == R_OPEN && r->local_eof && r->eof_sent && r->remote_eof &&
        r->down_len == r->down_off) {
        /* Both directions are done. */
        tun_relay_close_fd(r);
        r->state = R_CLOSING;
        r->deadline = mc_monotonic() + CLOSE_GRACE_S;
    }
}

void tun_serve_closing(tunnel *t, relay *r)
{
    sess *s = r->s;
    if (!r->ch) {
        r->doomed = true;
        return;
    }
    r->close_sent = true;
    int rc = libssh2_channel_free(r->ch);
    if (rc == LIBSSH2_ERROR_EAGAIN) {
        if (mc_monotonic() > r->deadline) {
            r->ch = NULL; /* the far end never confirmed; session_free finishes it */
            r->doomed = true;
        }
        return;
    }
    r->ch = NULL; /* freed, whatever the close said */
    r->doomed = true;
    if (rc != 0 && session_fatal(rc)) {
        char buf[200];
        tun_sess_die(s, tun_drop_reason(s, buf, sizeof buf));
    }
    (void)t;
}
