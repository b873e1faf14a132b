/*
 * program.c — the two tunnels that another program makes (tunnel.h):
 *
 *   openssh  the system's ssh as a ControlMaster (`ssh -M -S CTL -N HOST`)
 *            with the user's ssh_config, agent and keys; once it is logged
 *            in, a forwarding from 127.0.0.1:PORT to the warehouse is added
 *            through its control socket (`ssh -S CTL -O forward -L ...`) and
 *            removed again at tunnel_seal (`-O cancel`), so the port exists
 *            only while libpq connects, as with the libssh2 tunnel;
 *   command  any program given a local port in place of "{port}" (aws ssm
 *            start-session with AWS-StartPortForwardingSessionToRemoteHost),
 *            waited for until that port accepts a connection on a socket
 *            its own process group holds (listener_is_the_commands).
 *
 * Both run through crawler/base/proc.c's background runner: no shell, their
 * own process group, stopped as a group (SIGTERM, then SIGKILL) at
 * tunnel_close, whatever they started (ProxyJump's inner ssh, the SSM
 * plugin).  There is no thread: tunnel_failed looks at the program itself.
 *
 * Invariants of the openssh tunnel:
 *  1. Host keys fail closed whatever ssh_config says.  ssh keeps the first
 *     value it reads for an option, and -F replaces the user's config, so
 *     metacrawl writes its own config file (in a private 0700 directory)
 *     that sets StrictHostKeyChecking (yes, or accept-new when the
 *     datastore says so), UserKnownHostsFile, BatchMode and the rest first
 *     and then Includes the user's config.  ProxyJump hands -F on to the
 *     ssh of each jump host, so every host of the chain gets the same rules.
 *  2. Nothing prompts (BatchMode), nothing is left behind: no ControlMaster
 *     of the user's is joined or started (ControlPath none for every other
 *     ssh), no ForkAfterAuthentication (it would leave the process group),
 *     no forwardings of the user's config (ClearAllForwardings), no agent or
 *     X11 forwarding, no LocalCommand.
 *  3. Ready means logged in: ssh creates the control socket only after
 *     authentication and its forwardings; until then the program's exit or
 *     start_timeout decides.
 */
#include "tunnel_internal.h"
#include "proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tun_px {
    mc_proc *proc;           /* the ssh master, or the command */
    char *name;              /* "ssh host ALIAS" or "the tunnel command 'aws'" */
    char *host;              /* openssh: the alias as configured */
    char *ssh;               /* openssh: the program */
    char *dir;               /* openssh: private directory: config, control socket */
    char *config;            /* openssh: the config file metacrawl wrote */
    char *ctl;               /* openssh: the control socket */
    char *fwd;               /* openssh: "127.0.0.1:PORT:HOST:PORT" while forwarded */
    size_t setup_len;        /* output length when the tunnel came up */
    bool failed;
    mc_error fail_err;
};

/* ---- small things ----------------------------------------------------------- */

/* An argv of copies, NULL-terminated as it grows. */
typedef struct strv {
    char **v;
    size_t n;
} strv;

static void push(strv *a, const char *s)
{
    a->v = mc_realloc(a->v, (a->n + 2) * sizeof *a->v);
    a->v[a->n++] = mc_strdup(s);
    a->v[a->n] = NULL;
}

static void strv_free(strv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A port on 127.0.0.1 that was free a moment ago (the kernel's pick). */
static int free_port(mc_error *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return mc_error_set(err, MC_EXIT_CONNECT, "cannot find a free port on 127.0.0.1: %s",
                            strerror(e));
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Does 127.0.0.1:PORT accept a connection (within WAIT_MS)?  The connection
 * is closed at once. */
static bool port_accepts(int port, int wait_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = false;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        ok = true;
    } else if (errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int e = 0;
        socklen_t el = sizeof e;
        if (poll(&p, 1, wait_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 &&
            e == 0)
            ok = true;
    }
    close(fd);
    return ok;
}

/*
 * Whose is the listener on 127.0.0.1:PORT?  The port was free when it was
 * picked, but another program could have taken it before the command did;
 * libpq would then log in to whatever listens there.  So the listening
 * socket (from /proc/net/tcp and tcp6: 127.0.0.1, ::1, or any address) must
 * be a descriptor of a process in the command's process group PGID.  A
 * listener that cannot be found among them — another user's, another
 * session's, or /proc unreadable — is not the command's.
 */
static bool listener_inodes(int port, unsigned long *inodes, size_t max, size_t *n)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    bool any_file = false;
    for (size_t f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp)
            continue;
        any_file = true;
        char line[512];
        if (!fgets(line, sizeof line, fp)) { /* the header */
            fclose(fp);
            continue;
        }
        while (fgets(line, sizeof line, fp) && *n < max) {
            char local[64];
            unsigned st;
            unsigned long inode;
            if (sscanf(line, " %*u: %63s %*s %x %*s %*s %*s %*u %*u %lu", local, &st, &inode) != 3)
                continue;
            char *colon = strrchr(local, ':');
            if (!colon || st != 0x0A || strtol(colon + 1, NULL, 16) != port)
                continue;
            *colon = '\0';
            /* what a connection to 127.0.0.1:port can reach: 127.0.0.1,
             * 0.0.0.0; ::, ::ffff:127.0.0.1 (as the kernel prints them).
             * Not ::1, which libpq's hostaddr=127.0.0.1 never reaches. */
            if (strcmp(local, "0100007F") && strcmp(local, "00000000") &&
                strcmp(local, "00000000000000000000000000000000") &&
                strcmp(local, "0000000000000000FFFF00000100007F"))
                continue;
            inodes[(*n)++] = inode;
        }
        fclose(fp);
    }
    return any_file;
}

/* Every listener that 127.0.0.1:port can reach belongs to the command's
 * process group: one of another program's beside it could take libpq's
 * connection (and its login). */
static bool listener_is_the_commands(int port, pid_t pgid)
{
    unsigned long inodes[8];
    bool mine[8] = {false};
    size_t n = 0, n_mine = 0;
    if (!listener_inodes(port, inodes, 8, &n) || n == 0)
        return false;
    DIR *proc = opendir("/proc");
    if (!proc)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name)
            continue;
        char path[64], stat[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        size_t got = fread(stat, 1, sizeof stat - 1, fp);
        fclose(fp);
        stat[got] = '\0';
        const char *rp = strrchr(stat, ')'); /* the name may hold anything */
        long pgrp = -1;
        if (!rp || sscanf(rp + 1, " %*c %*d %ld", &pgrp) != 1 || pgrp != (long)pgid)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/fd", pid);
        DIR *fds = opendir(path);
        if (!fds)
            continue;
        struct dirent *f;
        while (!found && (f = readdir(fds)) != NULL) {
            char target[64];
            ssize_t len = readlinkat(dirfd(fds), f->d_name, target, sizeof target - 1);
            if (len <= 0)
                continue;
            target[len] = '\0';
            unsigned long inode;
            if (sscanf(target, "socket:[%lu]", &inode) != 1)
                continue;
            for (size_t i = 0; i < n; i++)
                if (inodes[i] == inode && !mine[i]) {
                    mine[i] = true;
                    found = ++n_mine == n;
                }
        }
        closedir(fds);
    }
    closedir(proc);
    return found;
}

/* The last line of TEXT that says something, trimmed into OUT. */
static const char *last_line(const char *text, char *out, size_t n)
{
    out[0] = '\0';
    if (!text)
        return out;
    const char *end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    const char *b = end;
    while (b > text && b[-1] != '\n')
        b--;
    snprintf(out, n, "%.*s", (int)(end - b), b);
    return out;
}

/* argv[0] as found on PATH, for messages; malloc'd (the name itself when it
 * is not found, posix_spawnp will say so). */
static char *which(const char *prog)
{
    if (strchr(prog, '/'))
        return mc_strdup(prog);
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        char *cand = mc_asprintf("%.*s/%s", (int)n, n ? p : ".", prog);
        if (access(cand, X_OK) == 0)
            return cand;
        free(cand);
        p += n;
        if (*p == ':')
            p++;
    }
    return mc_strdup(prog);
}

static void px_free(tun_px *x)
{
    if (!x)
        return;
    mc_proc_stop(x->proc);
    if (x->config)
        unlink(x->config);
    if (x->ctl)
        unlink(x->ctl);
    if (x->dir)
        rmdir(x->dir);
    free(x->name);
    free(x->host);
    free(x->ssh);
    free(x->dir);
    free(x->config);
    free(x->ctl);
    free(x->fwd);
    free(x);
}

static tunnel *px_tunnel(tunnel_via via, tun_px *x, int port, const char *target_host,
                         int target_port)
{
    tunnel *t = mc_calloc(1, sizeof *t);
    t->via = via;
    t->px = x;
    t->listen_fd = t->wake[0] = t->wake[1] = -1;
    t->local_port = port;
    t->target_host = mc_strdup(target_host);
    t->target_port = target_port;
    return t;
}

/* ---- options -------------------------------------------------------------- */

int tun_px_validate(const tunnel_opts *o, mc_error *err)
{
    if (o->start_timeout_s < 0)
        return mc_error_set(err, MC_EXIT_CONFIG, "tunnel timeouts cannot be negative");
    if (o->via == TUNNEL_VIA_COMMAND) {
        if (!o->command || !o->command[0] || !*o->command[0])
            return mc_error_set(err, MC_EXIT_CONFIG, "the tunnel command is empty");
        for (size_t i = 0; o->command[i]; i++)
            if (strstr(o->command[i], "{port}"))
                return 0;
        mc_error_set(err, MC_EXIT_CONFIG, "the tunnel command has no {port} argument");
        mc_error_hint(err, "metacrawl picks the local port and puts it where {port} stands, "
                           "e.g. --parameters localPortNumber={port}");
        return -1;
    }
    if (!o->hops || o->n_hops != 1)
        return mc_error_set(err, MC_EXIT_CONFIG,
                            "the openssh tunnel has one host (ProxyJump in ssh_config "
                            "crosses the others)");
    const tunnel_hop *h = &o->hops[0];
    if (!h->host || !*h->host)
        return mc_error_set(err, MC_EXIT_CONFIG, "the openssh tunnel has no host");
    if (h->host[0] == '-')
        return mc_error_set(err, MC_EXIT_CONFIG, "ssh host '%s' cannot start with '-'", h->host);
    if (h->port < 0 || h->port > 65535)
        return mc_error_set(err, MC_EXIT_CONFIG, "ssh host %s: port %d is out of range", h->host,
                            h->port);
    if (!h->known_hosts || !*h->known_hosts)
        return mc_error_set(err, MC_EXIT_CONFIG, "ssh host %s: no known_hosts file", h->host);
    if (h->passphrase.value || h->password.value || h->agent) {
        mc_error_set(err, MC_EXIT_CONFIG,
                     "ssh host %s: passphrase, password and agent are the libssh2 tunnel's",
                     h->host);
        mc_error_hint(err, "with via: openssh, ssh uses its own agent (SSH_AUTH_SOCK) and keys; "
                           "it never prompts");
        return -1;
    }
    return 0;
}

/* ---- openssh ------------------------------------------------------------- */

/* "ssh host ALIAS" or "ssh host ALIAS:PORT" for messages. */
static char *ssh_name(const tunnel_hop *h)
{
    return h->port ? mc_asprintf("ssh host %s:%d", h->host, h->port)
                   : mc_asprintf("ssh host %s", h->host);
}

/* The version ssh -V prints ("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL ..."),
 * up to the comma; -1 when ssh cannot be run. */
static int ssh_version(const char *ssh, char *out, size_t n, mc_error *err)
{
    strv a = {0};
    push(&a, ssh);
    push(&a, "-V");
    mc_proc_spec spec = {.argv = a.v, .out = MC_PROC_CAPTURE, .err = MC_PROC_CAPTURE,
                         .timeout_s = 10};
    mc_proc_result res;
    int rc = mc_proc_run(&spec, &res);
    strv_free(&a);
    if (rc != 0) {
        mc_error_set(err, MC_EXIT_CONNECT, "cannot run %s: %s", ssh, strerror(res.start_errno));
        mc_error_hint(err, "via: openssh needs the OpenSSH client: install it (apt install "
                           "openssh-client), or give its path as ssh: in the tunnel block");
        mc_proc_result_free(&res);
        return -1;
    }
    const char *text = res.err && *res.err ? res.err : res.out ? res.out : "";
    size_t len = strcspn(text, ",\n");
    snprintf(out, n, "%.*s", (int)len, text);
    bool ok = res.exited && WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0 &&
              strncmp(text, "OpenSSH", 7) == 0;
    mc_proc_result_free(&res);
    if (!ok) {
        mc_error_set(err, MC_EXIT_CONNECT, "%s is not OpenSSH's ssh (ssh -V says \"%s\")", ssh,
                     out);
        mc_error_hint(err, "via: openssh runs OpenSSH's client; give its path as ssh: in the "
                           "tunnel block");
        return -1;
    }
    return 0;
}

/* A value for the config file, quoted when it holds a blank.  A quote or a
 * control character could end the value and start a directive of its own
 * (a KnownHostsCommand, a ProxyCommand): such a value is refused (-1). */
static int put_value(mc_buf *b, const char *key, const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '"')
            return -1;
    if (strpbrk(value, " \t"))
        mc_buf_printf(b, "%s \"%s\"\n", key, value);
    else
        mc_buf_printf(b, "%s %s\n", key, value);
    return 0;
}

static const char *policy_word(tunnel_host_key_policy p)
{
    return p == TUNNEL_HOST_KEY_ACCEPT_NEW ? "accept-new" : "yes";
}

/* Invariant 1: what metacrawl imposes, then the user's config. */
static int write_config(tun_px *x, const tunnel_opts *o, mc_error *err)
{
    const tunnel_hop *h = &o->hops[0];
    mc_buf b = {0};
    mc_buf_puts(&b, "# Written by metacrawl for one tunnel and removed when it closes.\n"
                    "# ssh keeps the first value it reads: these come before the user's.\n"
                    "IgnoreUnknown ForkAfterAuthentication,StdinNull,SessionType,"
                    "KnownHostsCommand\n"
                    "BatchMode yes\n");
    mc_buf_printf(&b, "StrictHostKeyChecking %s\n", policy_word(h->host_key_policy));
    bool bad = put_value(&b, "UserKnownHostsFile", h->known_hosts) < 0;
    /* only the datastore's known_hosts vouches for a key: no system-wide
     * file and no command of the user's config (OpenSSH 8.5+) */
    mc_buf_puts(&b, "GlobalKnownHostsFile /dev/null\n"
                    "KnownHostsCommand none\n");
    mc_buf_puts(&b, "ControlMaster no\n"
                    "ControlPath none\n"
                    "ForkAfterAuthentication no\n"
                    "PermitLocalCommand no\n"
                    "ForwardAgent no\n"
                    "ForwardX11 no\n"
                    "RequestTTY no\n"
                    "LogLevel INFO\n");
    mc_buf_printf(&b, "ConnectTimeout %d\n", o->step_timeout_s > 0 ? o->step_timeout_s : 10);
    if (o->keepalive_s > 0)
        mc_buf_printf(&b, "ServerAliveInterval %d\nServerAliveCountMax %d\n", o->keepalive_s,
                      KEEPALIVE_MISSES);
    if (o->ssh_config) {
        bad |= put_value(&b, "Include", o->ssh_config) < 0;
    } else {
        const char *home = getenv("HOME");
        if (home && *home) {
            char *user = mc_asprintf("%s/.ssh/config", home);
            bad |= put_value(&b, "Include", user) < 0;
            free(user);
        }
        mc_buf_puts(&b, "Include /etc/ssh/ssh_config\n");
    }
    if (bad) {
        mc_buf_free(&b);
        mc_error_set(err, MC_EXIT_CONFIG, "tunnel: a path for ssh (known_hosts, ssh_config or "
                                          "$HOME) holds a quote or a control character");
        mc_error_hint(err, "ssh's configuration cannot carry it safely: use a path without "
                           "quotes, line ends or control characters");
        return -1;
    }
    int fd = open(x->config, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len;
    int e = errno;
    if (fd >= 0)
        close(fd);
    mc_buf_free(&b);
    if (!ok)
        return mc_error_set(err, MC_EXIT_CONNECT, "cannot write %s: %s", x->config, strerror(e));
    return 0;
}

/* A directory of our own for the config and the control socket.  The
 * socket's path must fit in sun_path: a long TMPDIR is passed over. */
static int make_dir(tun_px *x, mc_error *err)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 60)
        tmp = "/tmp";
    char *tmpl = mc_asprintf("%s/metacrawl-ssh.XXXXXX", tmp);
    if (!mkdtemp(tmpl)) {
        int e = errno;
        mc_error_set(err, MC_EXIT_CONNECT, "cannot create a directory in %s: %s", tmp,
                     strerror(e));
        free(tmpl);
        return -1;
    }
    x->dir = tmpl;
    x->config = mc_asprintf("%s/ssh_config", tmpl);
    x->ctl = mc_asprintf("%s/ctl", tmpl);
    return 0;
}

/* ssh with metacrawl's config and the control socket; the caller appends
 * its own. */
static void base_argv(const tun_px *x, strv *a)
{
    push(a, x->ssh);
    push(a, "-F");
    push(a, x->config);
    push(a, "-S");
    push(a, x->ctl);
}

/* The error for what ssh said (setup: before the tunnel was up). */
static void ssh_error(const tun_px *x, const char *output, bool setup, const char *target_host,
                      int target_port, int status, const tunnel_hop *h, tun_ssh_diag *d,
                      mc_error *err)
{
    tun_ssh_diagnose(output, d);
    const char *line = d->line[0] ? d->line : "ssh said nothing";
    char st[64] = "";
    if (status >= 0)
        mc_proc_status_text(status, st, sizeof st);
    const char *kh = h ? h->known_hosts : "known_hosts";
    switch (d->fault) {
    case TUN_SSH_CONFIG:
        mc_error_set(err, MC_EXIT_CONFIG, "ssh rejected its configuration: %s", line);
        mc_error_hint(err, "fix the ssh_config file it names; `ssh -G %s` prints the "
                           "configuration ssh would use",
                      x->host);
        break;
    case TUN_SSH_RESOLVE:
        mc_error_set(err, MC_EXIT_CONNECT, "cannot resolve %s: %s", x->name, line);
        mc_error_hint(err, "check host: of the tunnel (an ssh_config Host alias or a host "
                           "name) and HostName in ssh_config");
        break;
    case TUN_SSH_REFUSED:
        mc_error_set(err, MC_EXIT_CONNECT, "cannot connect to %s: connection refused (%s)",
                     x->name, line);
        mc_error_hint(err, "nothing accepts connections there: check the host and port ssh uses "
                           "(`ssh -G %s`) and that sshd runs",
                      x->host);
        break;
    case TUN_SSH_TIMEOUT:
        mc_error_set(err, MC_EXIT_CONNECT, "cannot connect to %s: no answer (%s)", x->name, line);
        mc_error_hint(err, "a firewall or security group drops the packets: allow inbound TCP "
                           "on the SSH port from this machine");
        break;
    case TUN_SSH_HANDSHAKE:
        mc_error_set(err, MC_EXIT_CONNECT, "ssh handshake with %s failed: %s", x->name, line);
        mc_error_hint(err, "sshd dropped the connection (MaxStartups, AllowUsers) or something "
                           "else listens there; with ProxyJump, the lines before say which "
                           "host (`ssh -v %s` shows the whole exchange)",
                      x->host);
        break;
    case TUN_SSH_HOST_UNKNOWN:
    case TUN_SSH_HOST_KEY:
        mc_error_set(err, MC_EXIT_CONNECT, "the host key of %s is not known: %s", x->name, line);
        mc_error_hint(err, "check the host's fingerprint with its administrator, then record "
                           "it in %s (ssh-keyscan HOST >> %s), or set host_key_policy: "
                           "accept-new to record it on first contact",
                      kh, kh);
        break;
    case TUN_SSH_HOST_CHANGED:
        mc_error_set(err, MC_EXIT_CONNECT, "the host key of %s has changed: %s", x->name, line);
        mc_error_hint(err, "possibly an attack, or a reinstalled host: verify the new key with "
                           "the host's administrator, then `ssh-keygen -R HOST -f %s` and add "
                           "it (metacrawl never lets ssh skip this check)",
                      kh);
        break;
    case TUN_SSH_HOST_REVOKED:
        mc_error_set(err, MC_EXIT_CONNECT, "the host key of %s is marked @revoked: %s", x->name,
                     line);
        mc_error_hint(err, "do not connect; ask the host's administrator");
        break;
    case TUN_SSH_AUTH:
        mc_error_set(err, MC_EXIT_AUTH, "ssh authentication at %s was refused: %s", x->name,
                     line);
        mc_error_hint(err, "the key is not in ~USER/.ssh/authorized_keys there, or the user is "
                           "wrong; ssh runs in batch mode, so a key with a passphrase must be "
                           "in ssh-agent (`ssh -v %s` lists the keys it offers)",
                      x->host);
        break;
    case TUN_SSH_FWD_PROHIBITED:
        if (setup) {
            mc_error_set(err, MC_EXIT_CONNECT, "a jump host of %s refused to forward to the next "
                         "host: %s", x->name, line);
            mc_error_hint(err, "allow forwarding on the jump host (AllowTcpForwarding)");
        } else {
            mc_error_set(err, MC_EXIT_CONNECT,
                         "%s refused to forward the connection to %s:%d (administratively "
                         "prohibited)", x->name, target_host, target_port);
            mc_error_hint(err, "the bastion does not let this user forward TCP connections: set "
                               "AllowTcpForwarding yes (or local) in its sshd_config, and if "
                               "PermitOpen or a permitopen= option in authorized_keys restricts "
                               "the destinations, allow %s:%d",
                          target_host, target_port);
        }
        break;
    case TUN_SSH_FWD_CONNECT:
        if (setup) {
            mc_error_set(err, MC_EXIT_CONNECT, "a jump host of %s could not reach the next host: "
                         "%s", x->name, line);
            mc_error_hint(err, "the next host of the ProxyJump chain is not reachable from the "
                               "jump host: check its HostName and Port in ssh_config");
        } else {
            mc_error_set(err, MC_EXIT_CONNECT, "%s could not connect to %s:%d (connect failed)",
                         x->name, target_host, target_port);
            mc_error_hint(err, TUN_HINT_TARGET_UNREACHABLE, target_port);
        }
        break;
    case TUN_SSH_FWD_BIND:
    case TUN_SSH_UNRECOGNISED:
        if (setup)
            mc_error_set(err, MC_EXIT_CONNECT, "ssh to %s failed%s%s: %s", x->name,
                         st[0] ? " with " : "", st, line);
        else
            mc_error_set(err, MC_EXIT_CONNECT, "the ssh connection to %s was lost%s%s%s: %s",
                         x->name, st[0] ? " (" : "", st, st[0] ? ")" : "", line);
        mc_error_hint(err, "check that the bastion is up and reachable; `ssh -v %s` shows what "
                           "ssh does",
                      x->host);
        break;
    }
    if (setup && d->step == TUNNEL_STEP_DONE)
        d->step = TUNNEL_STEP_REACH;
}

/* Invariant 3: waits for the control socket, the program's exit or the
 * deadline. */
static int wait_master(tun_px *x, const tunnel_hop *h, double deadline, int start_s,
                       tunnel_progress *p, mc_error *err)
{
    for (;;) {
        mc_proc_drain(x->proc);
        struct stat st;
        if (stat(x->ctl, &st) == 0 && S_ISSOCK(st.st_mode))
            return 0;
        int status;
        if (mc_proc_exited(x->proc, &status)) {
            tun_ssh_diag d;
            ssh_error(x, mc_proc_output(x->proc), true, NULL, 0, status, h, &d, err);
            p->step = d.step;
            return -1;
        }
        if (mc_monotonic() >= deadline) {
            tun_ssh_diag d;
            tun_ssh_diagnose(mc_proc_output(x->proc), &d);
            if (d.line[0])
                ssh_error(x, mc_proc_output(x->proc), true, NULL, 0, -1, h, &d, err);
            else {
                mc_error_set(err, MC_EXIT_CONNECT, "ssh to %s did not log in within %d s",
                             x->name, start_s);
                mc_error_hint(err, "something accepted the connection but the SSH exchange "
                                   "never finished (a wrong port, an overloaded bastion, a slow "
                                   "ProxyCommand): `ssh -v %s` shows where it stops; or raise "
                                   "start_timeout:",
                              x->host);
            }
            p->step = d.line[0] ? d.step : TUNNEL_STEP_REACH;
            return -1;
        }
        struct pollfd pf = {.fd = mc_proc_output_fd(x->proc), .events = POLLIN};
        poll(&pf, pf.fd >= 0 ? 1 : 0, 20);
    }
}

/* Adds (or with CANCEL removes) the forwarding through the control socket. */
static int mux_forward(tun_px *x, const char *spec, bool cancel, char **output_out)
{
    strv a = {0};
    base_argv(x, &a);
    push(&a, "-O");
    push(&a, cancel ? "cancel" : "forward");
    push(&a, "-L");
    push(&a, spec);
    push(&a, "--");
    push(&a, x->host);
    mc_proc_spec ps = {.argv = a.v, .out = MC_PROC_DEVNULL, .err = MC_PROC_CAPTURE,
                       .timeout_s = 10};
    mc_proc_result res;
    int rc = mc_proc_run(&ps, &res);
    strv_free(&a);
    bool ok = rc == 0 && res.exited && WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0;
    if (output_out)
        *output_out = mc_strdup(res.err ? res.err : "");
    mc_proc_result_free(&res);
    return ok ? 0 : -1;
}

static char *forward_spec(int port, const char *host, int target_port)
{
    bool v6 = strchr(host, ':') != NULL;
    return mc_asprintf("127.0.0.1:%d:%s%s%s:%d", port, v6 ? "[" : "", host, v6 ? "]" : "",
                       target_port);
}

static int open_openssh(const tunnel_opts *o, const char *target_host, int target_port,
                        tunnel **out, tunnel_progress *p, mc_error *err)
{
    const tunnel_hop *h = &o->hops[0];
    int start_s = o->start_timeout_s > 0 ? o->start_timeout_s : 30;
    tun_px *x = mc_calloc(1, sizeof *x);
    x->host = mc_strdup(h->host);
    x->name = ssh_name(h);
    x->ssh = mc_strdup(o->ssh_program ? o->ssh_program : "ssh");
    p->step = TUNNEL_STEP_PROGRAM;
    char version[96];
    if (ssh_version(x->ssh, version, sizeof version, err) != 0)
        goto fail;
    char *path = which(x->ssh);
    snprintf(p->program, sizeof p->program, "%s (%s)", version, path);
    free(path);
    mc_log(MC_LOG_DEBUG, "tunnel: %s", p->program);
    if (make_dir(x, err) != 0 || write_config(x, o, err) != 0)
        goto fail;

    strv a = {0};
    base_argv(x, &a);
    const char *fixed[] = {"-M", "-N", "-o", "ControlPersist=no", "-o", "ClearAllForwardings=yes",
                           "-o", "ExitOnForwardFailure=yes", "-o", "RemoteCommand=none",
                           "-o", "BatchMode=yes"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        push(&a, fixed[i]);
    /* Also on the command line, which ssh reads before any file. */
    char buf[4200];
    push(&a, "-o");
    snprintf(buf, sizeof buf, "StrictHostKeyChecking=%s", policy_word(h->host_key_policy));
    push(&a, buf);
    push(&a, "-o");
    snprintf(buf, sizeof buf, strpbrk(h->known_hosts, " \t") ? "UserKnownHostsFile=\"%s\""
                                                             : "UserKnownHostsFile=%s",
             h->known_hosts);
    push(&a, buf);
    push(&a, "-o");
    snprintf(buf, sizeof buf, "ConnectTimeout=%d", o->step_timeout_s > 0 ? o->step_timeout_s : 10);
    push(&a, buf);
    if (h->port) {
        snprintf(buf, sizeof buf, "%d", h->port);
        push(&a, "-p");
        push(&a, buf);
    }
    if (h->user) {
        push(&a, "-l");
        push(&a, h->user);
    }
    if (h->private_key) {
        push(&a, "-i");
        push(&a, h->private_key);
        push(&a, "-o");
        push(&a, "IdentitiesOnly=yes");
    }
    push(&a, "--");
    push(&a, x->host);

    p->step = TUNNEL_STEP_REACH;
    mc_proc_bg_spec spec = {.argv = a.v, .capture = true, .keep_max = 16384};
    int e = 0;
    int started = mc_proc_start(&spec, &x->proc, &e);
    strv_free(&a);
    if (started != 0) {
        mc_error_set(err, MC_EXIT_CONNECT, "cannot run %s: %s", x->ssh, strerror(e));
        p->step = TUNNEL_STEP_PROGRAM;
        goto fail;
    }
    double deadline = mc_monotonic() + start_s;
    if (wait_master(x, h, deadline, start_s, p, err) != 0)
        goto fail;
    p->step = TUNNEL_STEP_DONE;

    /* The forwarding, on a port picked now; a port taken in between is
     * picked again. */
    int port = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        port = free_port(err);
        if (port < 0)
            goto fail;
        char *spec_s = forward_spec(port, target_host, target_port);
        char *said = NULL;
        if (mux_forward(x, spec_s, false, &said) == 0) {
            x->fwd = spec_s;
            free(said);
            break;
        }
        free(spec_s);
        tun_ssh_diag d;
        tun_ssh_diagnose(said, &d);
        int status;
        if (d.fault != TUN_SSH_FWD_BIND || mc_proc_exited(x->proc, &status) || attempt == 4) {
            mc_error_set(err, MC_EXIT_CONNECT, "ssh to %s could not forward 127.0.0.1:%d to "
                         "%s:%d: %s", x->name, port, target_host, target_port,
                         d.line[0] ? d.line : "no reason given");
            mc_error_hint(err, "`ssh -v %s` shows what ssh does", x->host);
            free(said);
            goto fail;
        }
        free(said);
    }
    mc_proc_drain(x->proc);
    x->setup_len = strlen(mc_proc_output(x->proc));
    *out = px_tunnel(TUNNEL_VIA_OPENSSH, x, port, target_host, target_port);
    mc_log(MC_LOG_DEBUG, "tunnel: 127.0.0.1:%d forwards to %s:%d through %s (OpenSSH)", port,
           target_host, target_port, x->name);
    return 0;
fail:
    px_free(x);
    return -1;
}

/* ---- command --------------------------------------------------------------- */

static char *substitute(const char *arg, int port)
{
    mc_buf b = {0};
    for (const char *s = arg; *s;) {
        const char *at = strstr(s, "{port}");
        if (!at) {
            mc_buf_puts(&b, s);
            break;
        }
        mc_buf_printf(&b, "%.*s%d", (int)(at - s), s, port);
        s = at + strlen("{port}");
    }
    if (!b.data)
        mc_buf_puts(&b, "");
    return mc_buf_steal(&b);
}

static int open_command(const tunnel_opts *o, const char *target_host, int target_port,
                        tunnel **out, tunnel_progress *p, mc_error *err)
{
    int start_s = o->start_timeout_s > 0 ? o->start_timeout_s : 30;
    p->step = TUNNEL_STEP_PROGRAM;
    int port = free_port(err);
    if (port < 0)
        return -1;
    size_t n = 0;
    while (o->command[n])
        n++;
    char **argv = mc_calloc(n + 1, sizeof *argv);
    for (size_t i = 0; i < n; i++)
        argv[i] = substitute(o->command[i], port);
    tun_px *x = mc_calloc(1, sizeof *x);
    x->name = mc_asprintf("the tunnel command '%s'", o->command[0]);
    x->host = mc_strdup(o->command[0]);
    mc_proc_bg_spec spec = {.argv = argv, .capture = true, .keep_max = 16384};
    int e = 0, rc = -1;
    double t0 = mc_monotonic();
    if (mc_proc_start(&spec, &x->proc, &e) != 0) {
        mc_error_set(err, MC_EXIT_CONNECT, "cannot run %s: %s", x->name, strerror(e));
        mc_error_hint(err, e == ENOENT ? "install it, or give its full path as the first item "
                                         "of command:"
                                       : "check the first item of command:");
        goto out;
    }
    char line[400];
    bool foreign = false;
    for (;;) {
        mc_proc_drain(x->proc);
        int status;
        if (mc_proc_exited(x->proc, &status)) {
            char st[64];
            mc_error_set(err, MC_EXIT_CONNECT, "%s exited (%s) before 127.0.0.1:%d accepted "
                         "connections%s%s", x->name, mc_proc_status_text(status, st, sizeof st),
                         port, *last_line(mc_proc_output(x->proc), line, sizeof line) ? ": " : "",
                         line);
            mc_error_hint(err, "run the command by hand to see why; it must keep running and "
                               "listen on the port metacrawl gives it as {port}");
            goto out;
        }
        bool open = port_accepts(port, 200);
        if (open && listener_is_the_commands(port, mc_proc_pid(x->proc)))
            break;
        if (open)
            foreign = true;
        if (mc_monotonic() - t0 >= start_s && foreign) {
            mc_error_set(err, MC_EXIT_CONNECT, "127.0.0.1:%d accepts connections, but not from "
                         "%s: another program holds the port", port, x->name);
            mc_error_hint(err, "metacrawl connects only to a port the command's own process "
                               "group listens on (a program that leaves the group, or runs as "
                               "another user, cannot be told from an intruder); run it again, "
                               "and see `ss -ltnp` for who listens there");
            goto out;
        }
        if (mc_monotonic() - t0 >= start_s) {
            mc_error_set(err, MC_EXIT_CONNECT, "%s did not open 127.0.0.1:%d within %d s%s%s",
                         x->name, port, start_s,
                         *last_line(mc_proc_output(x->proc), line, sizeof line)
                             ? " (its last words: "
                             : "",
                         line);
            if (line[0])
                snprintf(err->message + strlen(err->message),
                         sizeof err->message - strlen(err->message), ")");
            mc_error_hint(err, "{port} must be where the command takes its local port (for "
                               "aws ssm start-session: --parameters localPortNumber={port}); if "
                               "it is only slow to start, raise start_timeout:");
            goto out;
        }
        sleep_ms(100);
    }
    snprintf(p->program, sizeof p->program, "%s listens on 127.0.0.1:%d after %.1f s",
             o->command[0], port, mc_monotonic() - t0);
    mc_log(MC_LOG_DEBUG, "tunnel: %s", p->program);
    p->step = TUNNEL_STEP_DONE;
    x->setup_len = strlen(mc_proc_output(x->proc));
    *out = px_tunnel(TUNNEL_VIA_COMMAND, x, port, target_host, target_port);
    x = NULL;
    rc = 0;
out:
    px_free(x);
    for (size_t i = 0; i < n; i++)
        free(argv[i]);
    free(argv);
    return rc;
}

/* ---- the public entry points ------------------------------------------------ */

int tun_px_open(const tunnel_opts *o, const char *target_host, int target_port, tunnel **out,
                mc_error *err)
{
    *out = NULL;
    tunnel_progress local = {.hop = 0, .step = TUNNEL_STEP_PROGRAM};
    tunnel_progress *p = o->progress ? o->progress : &local;
    *p = local;
    if (tun_px_validate(o, err) != 0)
        return -1;
    if (!target_host || !*target_host || target_port < 1 || target_port > 65535)
        return mc_error_set(err, MC_EXIT_CONFIG, "the tunnel needs a target host and port");
    if (o->via == TUNNEL_VIA_COMMAND)
        return open_command(o, target_host, target_port, out, p, err);
    return open_openssh(o, target_host, target_port, out, p, err);
}

void tun_px_seal(tunnel *t)
{
    tun_px *x = t->px;
    if (!x->fwd)
        return;
    char *said = NULL;
    if (mux_forward(x, x->fwd, true, &said) != 0)
        mc_log(MC_LOG_DEBUG, "tunnel: ssh -O cancel: %s", said);
    free(said);
    free(x->fwd);
    x->fwd = NULL;
}

/* Whether the program is gone or (openssh) said a forwarding failed since
 * the tunnel came up.  A database error may reach the caller a moment
 * before the program's exit: it is given half a second. */
bool tun_px_failed(tunnel *t, mc_error *err_out)
{
    tun_px *x = t->px;
    if (!x->failed) {
        int status = -1;
        double until = mc_monotonic() + 0.5;
        bool gone;
        const char *since;
        for (;;) {
            gone = mc_proc_exited(x->proc, &status);
            const char *all = mc_proc_output(x->proc);
            since = strlen(all) >= x->setup_len ? all + x->setup_len : all;
            tun_ssh_diag d;
            tun_ssh_diagnose(since, &d);
            if (gone || (t->via == TUNNEL_VIA_OPENSSH && d.fault != TUN_SSH_UNRECOGNISED) ||
                mc_monotonic() >= until)
                break;
            sleep_ms(20);
        }
        if (t->via == TUNNEL_VIA_OPENSSH) {
            tun_ssh_diag d;
            tun_ssh_diagnose(since, &d);
            if (gone || d.fault != TUN_SSH_UNRECOGNISED) {
                ssh_error(x, since, false, t->target_host, t->target_port, gone ? status : -1,
                          NULL, &d, &x->fail_err);
                if (gone && d.fault != TUN_SSH_FWD_PROHIBITED && d.fault != TUN_SSH_FWD_CONNECT) {
                    char st[64];
                    mc_error_clear(&x->fail_err);
                    mc_error_set(&x->fail_err, MC_EXIT_CONNECT,
                                 "the ssh connection to %s was lost (ssh ended with %s)%s%s",
                                 x->name, mc_proc_status_text(status, st, sizeof st),
                                 d.line[0] ? ": " : "", d.line[0] ? d.line : "");
                    mc_error_hint(&x->fail_err,
                                  "the bastion or the network went away (sshd restarted, "
                                  "instance stopped, NAT timeout); lower keepalive: if idle "
                                  "connections are cut");
                }
                x->failed = true;
            }
        } else if (gone) {
            char st[64], line[400];
            mc_error_set(&x->fail_err, MC_EXIT_CONNECT, "%s exited (%s) while the tunnel was in "
                         "use%s%s", x->name, mc_proc_status_text(status, st, sizeof st),
                         *last_line(since, line, sizeof line) ? ": " : "", line);
            mc_error_hint(&x->fail_err, "the session ended (expired credentials, an idle "
                                        "timeout, the instance stopped); run the command by hand "
                                        "to see why");
            x->failed = true;
        }
    }
    if (x->failed && err_out)
        *err_out = x->fail_err;
    return x->failed;
}

void tun_px_close(tunnel *t)
{
    px_free(t->px);
    t->px = NULL;
}
