/*
 * tunnel.h — a tunnel that makes the warehouse reachable on a local
 * 127.0.0.1 port, made one of three ways (tunnel_via):
 *
 *   libssh2  metacrawl's own SSH client, through one or more jump hosts
 *            (below);
 *   openssh  the system's ssh, with the user's ssh_config, agent and keys,
 *            host keys checked fail-closed whatever ssh_config says;
 *   command  any program that forwards a local port (aws ssm start-session),
 *            given the port metacrawl picked.
 *
 * For all three libpq connects to 127.0.0.1:tunnel_local_port with the
 * warehouse's real host name (TLS, .pgpass), and tunnel_failed says whether
 * the tunnel is why a database error happened.  How the programs of the
 * last two are run and stopped is the tunnel's business: nothing of it
 * shows here.
 *
 * The libssh2 tunnel:
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

typedef enum tunnel_via {
    TUNNEL_VIA_LIBSSH2 = 0,
    TUNNEL_VIA_OPENSSH,
    TUNNEL_VIA_COMMAND,
} tunnel_via;

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
    TUNNEL_STEP_PROGRAM,    /* openssh: ssh found and its version read;
                             * command: the program started and its port
                             * accepting connections */
} tunnel_step;

typedef struct tunnel_progress {
    size_t hop;             /* 0-based: the hop the step below is about */
    tunnel_step step;       /* the step that failed there, or TUNNEL_STEP_DONE */
    char program[160];      /* openssh: "OpenSSH_9.2p1 ... (/usr/bin/ssh)" once
                             * found; command: what was started; else "" */
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

    tunnel_via via;            /* TUNNEL_VIA_LIBSSH2 unless set */
    /* openssh: hops[0] only (n_hops 1).  Its host is an ssh_config Host
     * alias or a host name; port 0, user NULL and private_key NULL leave
     * them to ssh_config; no passphrase, password or agent (ssh's own agent
     * is used).  known_hosts, host_key_policy (yes or accept-new, never no)
     * and batch mode are imposed on every host ssh crosses. */
    const char *ssh_program;   /* NULL = "ssh" on PATH */
    const char *ssh_config;    /* NULL = ~/.ssh/config, then /etc/ssh/ssh_config */
    /* command: the program and its arguments, NULL-terminated; each "{port}"
     * is replaced by the local port metacrawl picked.  No hops. */
    const char *const *command;
    int start_timeout_s;       /* openssh, command: until the tunnel is up
                                * (ssh logged in and forwarding, the command's
                                * port accepting connections); 0 means 30 */
} tunnel_opts;

/* Checks the options without any I/O but reading key files: required keys,
 * ports, a way to authenticate per hop, and key files that this libssh2
 * cannot use (RSA with libssh2 < 1.11, DSA, security keys) or that are
 * encrypted without a passphrase; for openssh and command what they need.
 * tunnel_open runs it first. */
int tunnel_validate(const tunnel_opts *o, mc_error *err);

/* Opens the tunnel: every hop connected, verified and authenticated, the
 * listener ready.  Errors: MC_EXIT_CONNECT (unreachable, refused, not
 * resolvable, timeout, host key unknown or changed), MC_EXIT_AUTH
 * (authentication refused, wrong passphrase, unusable key), MC_EXIT_CONFIG
 * (unreadable key file), each with a hint.  Forwarding problems show up
 * when a connection is made: see tunnel_failed. */
int tunnel_open(const tunnel_opts *o, const char *target_host, int target_port,
                tunnel **out, mc_error *err);

/* openssh, command: the program runs in its own process group, which
 * tunnel_close stops (SIGTERM, then SIGKILL), whatever it started.  A
 * program that exits early, never opens the port within start_timeout, or
 * dies while the tunnel is in use is an MC_EXIT_CONNECT error with the
 * program's last words; ssh's messages map to the same errors and hints as
 * the libssh2 tunnel's (host key unknown or changed, login refused,
 * forwarding refused, warehouse unreachable). */

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
