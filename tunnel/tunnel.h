/*
 * tunnel.h — an SSH tunnel through one or more jump hosts (libssh2) that
 * makes the warehouse reachable on a local 127.0.0.1 port.
 *
 * tunnel_open crosses the hops in order (hop 1 over TCP, each later hop over
 * a direct-tcpip channel of the one before), verifies every hop's host key
 * against its known_hosts, authenticates, and listens on 127.0.0.1 on an
 * ephemeral port.  Each connection accepted there is relayed over a
 * direct-tcpip channel of the last hop to target_host:target_port, as the
 * last hop resolves it.  One thread owns the libssh2 sessions and every
 * socket from open to close.  docs/tunnel.md is the user's guide.
 *
 * Only connections this process makes are accepted: the peer must be
 * 127.0.0.1 and its socket must be one of this process's own descriptors.
 * The listener closes after max_connections connections or at tunnel_seal,
 * whichever comes first.
 *
 * No libssh2 or config type appears here: the crawler copies its cfg_tunnel
 * into tunnel_opts and resolves the secrets into mc_secret values first.
 */
#ifndef MC_TUNNEL_H
#define MC_TUNNEL_H

#include "mc_base.h"

typedef struct tunnel tunnel;

typedef enum tunnel_host_key_policy {
    TUNNEL_HOST_KEY_STRICT = 0,  /* an unknown or changed key is refused */
    TUNNEL_HOST_KEY_ACCEPT_NEW,  /* an unknown key is recorded; a changed one refused */
} tunnel_host_key_policy;

/* One SSH hop.  Strings and secrets are borrowed: tunnel_open copies what
 * it keeps, so the caller may wipe its secrets as soon as it returns. */
typedef struct tunnel_hop {
    const char *host;          /* required */
    int port;                  /* 1..65535; 0 means 22 */
    const char *user;          /* required */
    const char *private_key;   /* key file (OpenSSH or PEM format), or NULL */
    mc_secret passphrase;      /* unlocks private_key; value NULL = none */
    mc_secret password;        /* password / keyboard-interactive; NULL = none */
    bool agent;                /* offer ssh-agent's keys (SSH_AUTH_SOCK) */
    const char *known_hosts;   /* required; created with accept-new */
    tunnel_host_key_policy host_key_policy;
} tunnel_hop;

/* How far tunnel_open got, for step-by-step reports (`metacrawl check`). */
typedef enum tunnel_step {
    TUNNEL_STEP_REACH = 0,  /* TCP connect (or the channel from the hop before)
                             * and the SSH handshake */
    TUNNEL_STEP_HOST_KEY,   /* known_hosts */
    TUNNEL_STEP_AUTH,       /* authentication (key files, agent, password) */
    TUNNEL_STEP_DONE,       /* every hop is up */
} tunnel_step;

typedef struct tunnel_progress {
    size_t hop;             /* 0-based: the hop the step below is about */
    tunnel_step step;       /* the step that failed there, or TUNNEL_STEP_DONE */
} tunnel_progress;

typedef struct tunnel_opts {
    const tunnel_hop *hops;    /* crossed in order; the last one forwards */
    size_t n_hops;             /* at least 1 */
    int step_timeout_s;        /* deadline of each blocking step (TCP connect,
                                * handshake, authentication, channel open);
                                * 0 means 10 */
    int keepalive_s;           /* keepalive interval; 0 = none.  Three
                                * unanswered intervals end the tunnel */
    int max_connections;       /* the listener closes after accepting this
                                * many; 0 = only tunnel_seal closes it */
    tunnel_progress *progress; /* optional; tunnel_open fills it either way.
                                * Forwarding is checked by the first
                                * connection, not here: see tunnel_failed */
} tunnel_opts;

/* Checks the options without any I/O but reading key files: required keys,
 * ports, a way to authenticate per hop, and key files that this libssh2
 * cannot use (RSA with libssh2 < 1.11, DSA, security keys) or that are
 * encrypted without a passphrase.  tunnel_open runs it first. */
int tunnel_validate(const tunnel_opts *o, mc_error *err);

/* Opens the tunnel: every hop connected, verified and authenticated, the
 * listener ready.  Errors: MC_EXIT_CONNECT (unreachable, refused, not
 * resolvable, timeout, host key unknown or changed), MC_EXIT_AUTH
 * (authentication refused, wrong passphrase, unusable key), MC_EXIT_CONFIG
 * (unreadable key file), each with a hint.  Forwarding problems show up
 * when a connection is made: see tunnel_failed. */
int tunnel_open(const tunnel_opts *o, const char *target_host, int target_port,
                tunnel **out, mc_error *err);

/* The local port to give libpq (with hostaddr=127.0.0.1). */
int tunnel_local_port(const tunnel *t);

/* No further connection is accepted; the listener is closed.  Call it once
 * the database connections are made. */
void tunnel_seal(tunnel *t);

/* True when the tunnel broke (a hop's connection was lost or stopped
 * answering keepalives) or a forwarded connection could not be opened
 * (forwarding refused, target unreachable from the last hop); *err_out
 * (may be NULL) receives that error.  Use it to explain a database error
 * that happened through the tunnel. */
bool tunnel_failed(tunnel *t, mc_error *err_out);

/* Stops the thread, disconnects every hop and frees everything.  Open
 * forwarded connections are cut.  NULL is a no-op. */
void tunnel_close(tunnel *t);

/* libssh2's version, for --version. */
const char *tunnel_lib_version(void);

#endif
