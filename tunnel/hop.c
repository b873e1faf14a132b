/*
 * hop.c — setting up one hop: its libssh2 session (with memory that is
 * wiped when freed), the TCP connect or the channel through the hop before,
 * the handshake with the host key algorithms known_hosts asks for, the host
 * key check (fail closed; accept-new records an unknown key), ssh-agent and
 * authentication by key file, agent, password or keyboard-interactive.  Each
 * step has a deadline (loop.c rule 8) and reports what the user can do.
 *
 * Hop k > 1 runs over a direct-tcpip channel of hop k-1: libssh2 needs a
 * socket, so session k gets one end of a socketpair and the other end is
 * relayed over the channel exactly like a local connection.
 */
#include "tunnel_internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- libssh2 memory, wiped when freed ----------------------------------- */

/* libssh2's memory is wiped when freed: its copies of passwords, passphrases
 * and packets never linger in the heap.  A size header makes that possible. */
#define ALLOC_HEADER 16

static LIBSSH2_ALLOC_FUNC(ssh_alloc)
{
    (void)abstract;
    uint8_t *p = malloc(count + ALLOC_HEADER);
    if (!p)
        return NULL;
    memcpy(p, &count, sizeof count);
    return p + ALLOC_HEADER;
}

static LIBSSH2_FREE_FUNC(ssh_free)
{
    (void)abstract;
    if (!ptr)
        return;
    uint8_t *p = (uint8_t *)ptr - ALLOC_HEADER;
    size_t n;
    memcpy(&n, p, sizeof n);
    explicit_bzero(ptr, n);
    free(p);
}

static LIBSSH2_REALLOC_FUNC(ssh_realloc)
{
    if (!ptr)
        return ssh_alloc(count, abstract);
    size_t old;
    memcpy(&old, (uint8_t *)ptr - ALLOC_HEADER, sizeof old);
    void *q = ssh_alloc(count, abstract);
    if (!q)
        return NULL;
    memcpy(q, ptr, old < count ? old : count);
    ssh_free(ptr, abstract);
    return q;
}

/* ---- setting up a hop: transport, handshake, host key, authentication ---- */

/* Serves the hops before S and waits for S's socket once; -1 when DEADLINE
 * has passed or the way to S was lost. */
static int wait_step(tunnel *t, sess *s, double deadline)
{
    if (s->dead || mc_monotonic() >= deadline)
        return -1;
    tun_loop_once(t, s, deadline);
    return s->dead ? -1 : 0;
}

static int tcp_connect(tunnel *t, sess *s)
{
    hop_own *h = s->hop;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", h->port);
    int grc = getaddrinfo(h->host, port, &hints, &res);
    if (grc != 0) {
        tun_report(t, MC_EXIT_CONNECT,
                   "check host: of the tunnel (the bastion's DNS name or address) and that this "
                   "machine can resolve it",
                   "cannot resolve %s: %s", h->label,
                   grc == EAI_SYSTEM ? strerror(errno) : gai_strerror(grc));
        return -1;
    }
    double deadline = mc_monotonic() + t->step_s;
    int fd = -1, last = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        int c = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       ai->ai_protocol);
        if (c < 0) {
            last = errno;
            continue;
        }
        if (connect(c, ai->ai_addr, ai->ai_addrlen) == 0) {
            fd = c;
            break;
        }
        if (errno != EINPROGRESS) {
            last = errno;
            close(c);
            continue;
        }
        for (;;) {
            double left = deadline - mc_monotonic();
            if (left <= 0) {
                last = ETIMEDOUT;
                break;
            }
            struct pollfd p = {.fd = c, .events = POLLOUT};
            int prc = poll(&p, 1, (int)(left * 1000) + 1);
            if (prc < 0 && errno == EINTR)
                continue;
            if (prc <= 0)
                continue; /* the deadline check above ends it */
            int soerr = 0;
            socklen_t len = sizeof soerr;
            getsockopt(c, SOL_SOCKET, SO_ERROR, &soerr, &len);
            if (soerr == 0)
                fd = c;
            else
                last = soerr;
            break;
        }
        if (fd < 0)
            close(c);
        if (last == ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        char hint[400];
        if (last == ECONNREFUSED)
            snprintf(hint, sizeof hint,
                     "nothing accepts connections there: check host: and port: of the tunnel "
                     "and that sshd runs on the bastion and listens on port %d",
                     h->port);
        else
            snprintf(hint, sizeof hint,
                     "check that the bastion is reachable from here: its address, routing or "
                     "VPN, and the security group or firewall inbound rule for port %d",
                     h->port);
        if (last == ETIMEDOUT)
            tun_report(t, MC_EXIT_CONNECT, hint, "cannot connect to %s: no answer within %d s",
                       h->label, t->step_s);
        else
            tun_report(t, MC_EXIT_CONNECT, hint, "cannot connect to %s: %s", h->label,
                       last == ECONNREFUSED ? "connection refused" : strerror(last));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->fd = fd;
    return 0;
}

/* Hop k > 1: a direct-tcpip channel of hop k-1, reached through a socketpair. */
static int hop_connect(tunnel *t, sess *s)
{
    sess *prev = &t->sess[s->index - 1];
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) != 0) {
        tun_report(t, MC_EXIT_CONNECT, NULL, "cannot reach %s: socketpair: %s", s->hop->label,
                   strerror(errno));
        return -1;
    }
    s->fd = sp[0];
    s->carrier = tun_relay_new(t, prev, sp[1], s);
    /* The relay may be freed inside tun_loop_once: s->carrier then turns NULL. */
    while (!s->carrier || s->carrier->state != R_OPEN) {
        relay *r = s->carrier;
        if (!r || r->doomed || r->fd < 0 || prev->dead || s->dead) {
            tun_report(t, MC_EXIT_CONNECT, NULL, "cannot reach %s through %s", s->hop->label,
                       prev->hop->label);
            return -1;
        }
        tun_loop_once(t, NULL, 1e308);
    }
    return 0;
}

static void set_hostkey_pref(sess *s)
{
    char *text = tun_kh_read(s->hop->known_hosts);
    tun_kh_result res;
    tun_kh_check(text, s->hop->host, s->hop->port, NULL, 0, &res);
    const char **algs = NULL;
    int n = libssh2_session_supported_algs(s->ssh, LIBSSH2_METHOD_HOSTKEY, &algs);
    mc_buf supported = {0};
    for (int i = 0; i < n; i++) {
        if (i)
            mc_buf_putc(&supported, ',');
        mc_buf_puts(&supported, algs[i]);
    }
    if (algs)
        libssh2_free(s->ssh, (void *)algs);
    char *pref = tun_hostkey_pref(res.known_types, mc_buf_str(&supported));
    if (*pref && libssh2_session_method_pref(s->ssh, LIBSSH2_METHOD_HOSTKEY, pref) != 0)
        mc_log(MC_LOG_DEBUG, "tunnel: host key preference %s refused: %s", pref,
               tun_ssh_message(s->ssh));
    mc_log(MC_LOG_DEBUG, "tunnel: %s: host key algorithms %s (known: %s)", s->hop->label, pref,
           *res.known_types ? res.known_types : "none");
    free(pref);
    mc_buf_free(&supported);
    tun_kh_result_free(&res);
    free(text);
}

static int handshake(tunnel *t, sess *s)
{
    hop_own *h = s->hop;
    double deadline = mc_monotonic() + t->step_s;
    int rc;
    while ((rc = libssh2_session_handshake(s->ssh, s->fd)) == LIBSSH2_ERROR_EAGAIN)
        if (wait_step(t, s, deadline) != 0)
            break;
    if (rc == 0)
        return 0;
    if (s->dead)
        return -1; /* the hop before it reported why */
    if (rc == LIBSSH2_ERROR_EAGAIN) {
        tun_report(t, MC_EXIT_CONNECT,
                   "something accepted the connection but did not speak SSH in time: check "
                   "port: of the tunnel, and the load of the bastion",
                   "no ssh handshake with %s within %d s", h->label, t->step_s);
        return -1;
    }
    char buf[200];
    const char *why = s->peer_closed || s->sock_errno ? tun_drop_reason(s, buf, sizeof buf)
                                                      : tun_ssh_message(s->ssh);
    const char *hint =
        "check that port: of the tunnel is the bastion's SSH port; sshd also drops "
        "connections it does not want (MaxStartups, AllowUsers, a firewall, tcp wrappers)";
    if (rc == LIBSSH2_ERROR_KEX_FAILURE || rc == LIBSSH2_ERROR_METHOD_NONE ||
        rc == LIBSSH2_ERROR_KEY_EXCHANGE_FAILURE || rc == LIBSSH2_ERROR_HOSTKEY_INIT ||
        rc == LIBSSH2_ERROR_HOSTKEY_SIGN)
        hint = "the server and this libssh2 share no key exchange, cipher, MAC or host key "
               "algorithm (libssh2 before 1.11 verifies RSA host keys only with SHA-1, which "
               "OpenSSH 8.8 and newer no longer offer: give the bastion an ed25519 or ECDSA "
               "host key, see docs/tunnel.md)";
    tun_report(t, MC_EXIT_CONNECT, hint, "ssh handshake with %s failed: %s", h->label, why);
    return -1;
}

static int verify_host_key(tunnel *t, sess *s)
{
    hop_own *h = s->hop;
    size_t n = 0;
    int type = 0;
    const char *key = libssh2_session_hostkey(s->ssh, &n, &type);
    if (!key || n == 0) {
        tun_report(t, MC_EXIT_CONNECT, NULL, "%s sent no host key", h->label);
        return -1;
    }
    const uint8_t *blob = (const uint8_t *)key;
    char *offered = tun_blob_type(blob, n);
    char *fp = tun_fingerprint(blob, n);
    char *name = tun_kh_name(h->host, h->port);
    char *text = tun_kh_read(h->known_hosts);
    tun_kh_result res;
    tun_kh_check(text, h->host, h->port, blob, n, &res);
    const char *otype = offered ? offered : "unknown";
    char hint[900];
    int rc = -1;
    switch (res.status) {
    case TUN_KH_MATCH:
        mc_log(MC_LOG_DEBUG, "tunnel: %s: host key %s %s matches %s:%d", h->label, otype, fp,
               h->known_hosts, res.line);
        rc = 0;
        break;
    case TUN_KH_UNKNOWN:
        if (h->policy == TUNNEL_HOST_KEY_ACCEPT_NEW) {
            char *line = tun_kh_entry(h->host, h->port, blob, n);
            mc_error append_err = {0};
            if (tun_kh_append(h->known_hosts, line, &append_err) == 0) {
                mc_log(MC_LOG_WARN, "tunnel: %s: recorded its host key %s %s in %s (accept-new)",
                       h->label, otype, fp, h->known_hosts);
                rc = 0;
            } else {
                tun_report(t, append_err.code, append_err.hint[0] ? append_err.hint : NULL, "%s",
                           append_err.message);
            }
            free(line);
            break;
        }
        snprintf(hint, sizeof hint,
                 "check that fingerprint with the bastion's administrator (or its cloud "
                 "console), then add the key: ssh-keyscan -p %d -t %s %s >> %s  (or set "
                 "host_key_policy: accept-new to record it on first contact)",
                 h->port, otype, h->host, h->known_hosts);
        tun_report(t, MC_EXIT_CONNECT, hint,
                   "the host key of %s is not known: it offered %s %s, and %s has no entry for %s",
                   h->label, otype, fp, h->known_hosts, name);
        break;
    case TUN_KH_CHANGED:
        snprintf(hint, sizeof hint,
                 "someone may be intercepting the connection, or the host was reinstalled: "
                 "check the new fingerprint with the bastion's administrator, then remove the "
                 "old key with ssh-keygen -R '%s' -f %s and add the new one (ssh-keyscan -p %d "
                 "-t %s %s >> %s)",
                 name, h->known_hosts, h->port, otype, h->host, h->known_hosts);
        tun_report(t, MC_EXIT_CONNECT, hint,
                   "the host key of %s has changed: it offered %s %s, %s:%d has a different %s key "
                   "for %s",
                   h->label, otype, fp, h->known_hosts, res.line, otype, name);
        break;
    case TUN_KH_OTHER_TYPES:
        snprintf(hint, sizeof hint,
                 "check the offered fingerprint with the bastion's administrator, then add "
                 "it: ssh-keyscan -p %d -t %s %s >> %s%s",
                 h->port, otype, h->host, h->known_hosts,
                 strstr(res.known_types, "ssh-rsa")
                     ? "  (libssh2 before 1.11 cannot verify RSA host keys against a current "
                       "OpenSSH, so the recorded RSA key cannot be used)"
                     : "");
        tun_report(t, MC_EXIT_CONNECT, hint,
                   "the host key of %s cannot be verified: it offered %s %s, but %s holds only "
                   "%s keys for %s",
                   h->label, otype, fp, h->known_hosts, res.known_types, name);
        break;
    case TUN_KH_REVOKED:
        tun_report(t, MC_EXIT_CONNECT,
                   "do not use this host until its administrator has replaced the key",
                   "the host key of %s (%s %s) is marked @revoked in %s:%d", h->label, otype, fp,
                   h->known_hosts, res.line);
        break;
    }
    tun_kh_result_free(&res);
    free(text);
    free(name);
    free(fp);
    free(offered);
    return rc;
}

static LIBSSH2_USERAUTH_KBDINT_RESPONSE_FUNC(kbd_answer)
{
    (void)name;
    (void)name_len;
    (void)instruction;
    (void)instruction_len;
    (void)prompts;
    sess *s = *abstract;
    const mc_secret *pw = &s->hop->password;
    for (int i = 0; i < num_prompts; i++) {
        size_t len = pw->value ? pw->len : 0;
        responses[i].text = ssh_alloc(len + 1, abstract);
        responses[i].length = 0;
        if (responses[i].text && len) {
            memcpy(responses[i].text, pw->value, len);
            responses[i].length = (unsigned)len;
        }
    }
}

typedef enum auth_result { AUTH_OK, AUTH_REFUSED, AUTH_ERROR } auth_result;

/* Runs one authentication call to completion; AUTH_ERROR means an error
 * was reported (timeout, lost connection). */
#define AUTH_CALL(t, s, deadline, call, rc_out)                                  \
    do {                                                                         \
        while (((rc_out) = (call)) == LIBSSH2_ERROR_EAGAIN)                      \
            if (wait_step((t), (s), (deadline)) != 0)                           \
                break;                                                           \
    } while (0)

static auth_result auth_timeout(tunnel *t, sess *s, int rc)
{
    if (s->dead)
        return AUTH_ERROR;
    char buf[200];
    if (rc == LIBSSH2_ERROR_EAGAIN)
        tun_report(t, MC_EXIT_CONNECT, "the bastion is slow or overloaded; try again",
                   "no answer from %s during authentication within %d s", s->hop->label, t->step_s);
    else
        tun_report(t, MC_EXIT_CONNECT, NULL, "the ssh connection to %s was lost during "
                   "authentication: %s", s->hop->label, tun_drop_reason(s, buf, sizeof buf));
    return AUTH_ERROR;
}

static bool socket_error(int rc)
{
    return rc == LIBSSH2_ERROR_EAGAIN || rc == LIBSSH2_ERROR_SOCKET_SEND ||
           rc == LIBSSH2_ERROR_SOCKET_RECV || rc == LIBSSH2_ERROR_SOCKET_DISCONNECT ||
           rc == LIBSSH2_ERROR_SOCKET_TIMEOUT || rc == LIBSSH2_ERROR_TIMEOUT;
}

static auth_result auth_agent(tunnel *t, sess *s, mc_buf *tried)
{
    hop_own *h = s->hop;
    struct libssh2_agent_publickey *id = NULL, *prev = NULL;
    int n_tried = 0;
    while (libssh2_agent_get_identity(s->agent, &id, prev) == 0) {
        prev = id;
        char *type = tun_blob_type(id->blob, id->blob_len);
        const char *problem = tun_key_type_problem(type);
        free(type);
        if (problem)
            continue;
        n_tried++;
        double deadline = mc_monotonic() + t->step_s;
        int rc;
        AUTH_CALL(t, s, deadline, libssh2_agent_userauth(s->agent, h->user, id), rc);
        if (rc == 0) {
            mc_log(MC_LOG_INFO, "tunnel: %s: authenticated as %s with an ssh-agent key",
                   h->label, h->user);
            return AUTH_OK;
        }
        if (socket_error(rc) || s->dead)
            return auth_timeout(t, s, rc);
    }
    mc_buf_printf(tried, "%spublickey with ssh-agent (%d key%s)", tried->len ? ", " : "",
                  n_tried, n_tried == 1 ? "" : "s");
    return AUTH_REFUSED;
}

static auth_result auth_key(tunnel *t, sess *s, mc_buf *tried)
{
    hop_own *h = s->hop;
    double deadline = mc_monotonic() + t->step_s;
    int rc;
    const char *pass = h->passphrase.value ? h->passphrase.value : "";
    AUTH_CALL(t, s, deadline,
              libssh2_userauth_publickey_fromfile_ex(s->ssh, h->user, (unsigned)strlen(h->user),
                                                     NULL, h->private_key, pass),
              rc);
    if (rc == 0) {
        mc_log(MC_LOG_INFO, "tunnel: %s: authenticated as %s with %s", h->label, h->user,
               h->private_key);
        return AUTH_OK;
    }
    if (rc == LIBSSH2_ERROR_FILE) {
        if (h->key.encrypted)
            tun_report(t, MC_EXIT_AUTH,
                       "check passphrase: of the tunnel (and the variable or file it names); "
                       "`ssh-keygen -y -f KEY` asks for it and shows whether it is right",
                       "cannot decrypt the private key %s: wrong passphrase", h->private_key);
        else
            tun_report(t, MC_EXIT_AUTH,
                       "convert the key to a format libssh2 reads: ssh-keygen -p -f KEY rewrites "
                       "it in the OpenSSH format",
                       "libssh2 cannot read the private key %s: %s", h->private_key,
                       tun_ssh_message(s->ssh));
        return AUTH_ERROR;
    }
    if (socket_error(rc) || s->dead)
        return auth_timeout(t, s, rc);
    mc_buf_printf(tried, "%spublickey with %s", tried->len ? ", " : "", h->private_key);
    if (h->key_fp)
        mc_buf_printf(tried, " (%s %s)", h->key.type, h->key_fp);
    return AUTH_REFUSED;
}

static auth_result auth_password(tunnel *t, sess *s, bool kbd, mc_buf *tried)
{
    hop_own *h = s->hop;
    double deadline = mc_monotonic() + t->step_s;
    int rc;
    if (kbd)
        AUTH_CALL(t, s, deadline,
                  libssh2_userauth_keyboard_interactive_ex(s->ssh, h->user,
                                                           (unsigned)strlen(h->user),
                                                           kbd_answer),
                  rc);
    else
        AUTH_CALL(t, s, deadline,
                  libssh2_userauth_password_ex(s->ssh, h->user, (unsigned)strlen(h->user),
                                               h->password.value, (unsigned)h->password.len,
                                               NULL),
                  rc);
    if (rc == 0) {
        mc_log(MC_LOG_INFO, "tunnel: %s: authenticated as %s with %s", h->label, h->user,
               kbd ? "keyboard-interactive" : "a password");
        return AUTH_OK;
    }
    if (rc == LIBSSH2_ERROR_PASSWORD_EXPIRED) {
        tun_report(t, MC_EXIT_AUTH, "log in once by hand to change it, then update password:",
                   "the ssh password of %s at %s has expired", h->user, h->label);
        return AUTH_ERROR;
    }
    if (socket_error(rc) || s->dead)
        return auth_timeout(t, s, rc);
    mc_buf_printf(tried, "%s%s", tried->len ? ", " : "", kbd ? "keyboard-interactive" : "password");
    return AUTH_REFUSED;
}

static bool method_offered(const char *methods, const char *m)
{
    return tun_list_has(methods, m, strlen(m));
}

static int authenticate(tunnel *t, sess *s)
{
    hop_own *h = s->hop;
    double deadline = mc_monotonic() + t->step_s;
    const char *list;
    for (;;) {
        list = libssh2_userauth_list(s->ssh, h->user, (unsigned)strlen(h->user));
        if (list || libssh2_userauth_authenticated(s->ssh))
            break;
        int rc = libssh2_session_last_errno(s->ssh);
        if (rc != LIBSSH2_ERROR_EAGAIN || wait_step(t, s, deadline) != 0) {
            auth_timeout(t, s, rc);
            return -1;
        }
    }
    if (!list)
        return 0; /* the server took "none" */
    char *methods = mc_strdup(list);
    mc_buf tried = {0};
    auth_result ar = AUTH_REFUSED;
    if (h->agent && method_offered(methods, "publickey"))
        ar = auth_agent(t, s, &tried);
    if (ar == AUTH_REFUSED && h->private_key && method_offered(methods, "publickey"))
        ar = auth_key(t, s, &tried);
    if (ar == AUTH_REFUSED && h->password.value && method_offered(methods, "password"))
        ar = auth_password(t, s, false, &tried);
    if (ar == AUTH_REFUSED && h->password.value &&
        method_offered(methods, "keyboard-interactive"))
        ar = auth_password(t, s, true, &tried);
    if (ar == AUTH_REFUSED) {
        char hint[600];
        snprintf(hint, sizeof hint,
                 "check user: of the tunnel, and that the public key is in ~%s/.ssh/"
                 "authorized_keys on the bastion (ssh-copy-id does it), or set a method the "
                 "server accepts (private_key:, agent: true, password:)",
                 h->user);
        if (tried.len)
            tun_report(t, MC_EXIT_AUTH, hint,
                       "ssh authentication as %s at %s was refused: tried %s; the server accepts "
                       "%s",
                       h->user, h->label, mc_buf_str(&tried), methods);
        else
            tun_report(t, MC_EXIT_AUTH, hint,
                       "ssh authentication as %s at %s is not possible: the server accepts "
                       "only %s, and the tunnel has none of these configured",
                       h->user, h->label, methods);
    }
    mc_buf_free(&tried);
    free(methods);
    return ar == AUTH_OK ? 0 : -1;
}

/* Before connecting: an agent with no key this libssh2 can use is an error
 * now, not after a round of refusals. */
static int agent_prepare(tunnel *t, sess *s)
{
    hop_own *h = s->hop;
    const char *hint = "start ssh-agent and add a key (ssh-add ~/.ssh/id_ed25519) in the "
                       "environment metacrawl runs in, or use private_key: instead of agent:";
    s->agent = libssh2_agent_init(s->ssh);
    if (!s->agent || libssh2_agent_connect(s->agent) != 0) {
        const char *sock = getenv("SSH_AUTH_SOCK");
        tun_report(t, MC_EXIT_AUTH, hint, "cannot use ssh-agent for %s: %s", h->label,
                   sock && *sock ? "it does not answer on SSH_AUTH_SOCK"
                                 : "SSH_AUTH_SOCK is not set");
        return -1;
    }
    if (libssh2_agent_list_identities(s->agent) != 0) {
        tun_report(t, MC_EXIT_AUTH, hint, "cannot list the keys of ssh-agent for %s: %s", h->label,
                   tun_ssh_message(s->ssh));
        return -1;
    }
    struct libssh2_agent_publickey *id = NULL, *prev = NULL;
    int usable = 0, total = 0;
    const char *problem = NULL;
    while (libssh2_agent_get_identity(s->agent, &id, prev) == 0) {
        prev = id;
        total++;
        char *type = tun_blob_type(id->blob, id->blob_len);
        const char *p = tun_key_type_problem(type);
        free(type);
        if (p)
            problem = p;
        else
            usable++;
    }
    if (usable == 0 && !h->private_key && !h->password.value) {
        if (total == 0)
            tun_report(t, MC_EXIT_AUTH, hint, "ssh-agent holds no key to authenticate at %s",
                       h->label);
        else
            tun_report(t, MC_EXIT_AUTH, hint, "ssh-agent holds no key usable at %s: %s", h->label,
                       problem);
        return -1;
    }
    return 0;
}

void tun_hop_wipe_secrets(hop_own *h)
{
    mc_secret_wipe(&h->passphrase);
    mc_secret_wipe(&h->password);
}

int tun_setup_hop(tunnel *t, sess *s)
{
    hop_own *h = s->hop;
    int rc = -1;
    s->ssh = libssh2_session_init_ex(ssh_alloc, ssh_free, ssh_realloc, s);
    if (!s->ssh) {
        tun_report(t, MC_EXIT_CONNECT, NULL, "cannot start an ssh session for %s", h->label);
        goto out;
    }
    tun_set_io_hooks(s->ssh);
    libssh2_session_set_blocking(s->ssh, 0);
    t->progress = (tunnel_progress){.hop = (size_t)s->index, .step = TUNNEL_STEP_AUTH};
    if (h->agent && agent_prepare(t, s) != 0)
        goto out;
    set_hostkey_pref(s);
    t->progress.step = TUNNEL_STEP_REACH;
    if ((s->index == 0 ? tcp_connect(t, s) : hop_connect(t, s)) != 0 || handshake(t, s) != 0)
        goto out;
    t->progress.step = TUNNEL_STEP_HOST_KEY;
    if (verify_host_key(t, s) != 0)
        goto out;
    t->progress.step = TUNNEL_STEP_AUTH;
    if (authenticate(t, s) != 0)
        goto out;
    t->progress.step = TUNNEL_STEP_DONE;
    mc_log(MC_LOG_DEBUG, "tunnel: %s: kex %s, host key %s, cipher %s, mac %s", h->label,
           libssh2_session_methods(s->ssh, LIBSSH2_METHOD_KEX),
           libssh2_session_methods(s->ssh, LIBSSH2_METHOD_HOSTKEY),
           libssh2_session_methods(s->ssh, LIBSSH2_METHOD_CRYPT_CS),
           libssh2_session_methods(s->ssh, LIBSSH2_METHOD_MAC_CS));
    if (t->keepalive_s > 0)
        libssh2_keepalive_config(s->ssh, 1, (unsigned)t->keepalive_s);
    s->up = true;
    s->last_rx = mc_monotonic();
    s->ka_next = s->last_rx + t->keepalive_s;
    mc_log(MC_LOG_DEBUG, "tunnel: %s: ready", h->label);
    rc = 0;
out:
    tun_hop_wipe_secrets(h);
    return rc;
}
