/*
 * ssh_output.c — what the system's ssh said, read for the fault behind it
 * (tunnel_internal.h, tun_ssh_diagnose), so that the openssh transport
 * reports the same errors, exit codes and hints as the libssh2 tunnel.
 *
 * ssh runs with LogLevel INFO, so its output is a handful of lines: the
 * errors of every host of a ProxyJump chain (the jump hosts' ssh writes to
 * the same stderr) and the fatal one at the end.  The faults are looked for
 * from the most specific to the most general, because one failure prints
 * several of them: a jump host whose key changed prints the banner, then
 * "Host key verification failed.", then the outer ssh "Connection closed by
 * UNKNOWN port 65535".  The wordings are OpenSSH's since 7.x; a line that
 * matches nothing is quoted as it is.
 */
#include "tunnel_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct pattern {
    tun_ssh_fault fault;
    tunnel_step step;
    const char *needle;
} pattern;

/* In order of precedence: the first needle found in the output decides. */
static const pattern patterns[] = {
    {TUN_SSH_CONFIG, TUNNEL_STEP_PROGRAM, "Bad configuration option"},
    {TUN_SSH_CONFIG, TUNNEL_STEP_PROGRAM, "Bad owner or permissions"},
    {TUN_SSH_CONFIG, TUNNEL_STEP_PROGRAM, "Can't open user config file"},
    {TUN_SSH_CONFIG, TUNNEL_STEP_PROGRAM, "bad configuration options"},
    {TUN_SSH_CONFIG, TUNNEL_STEP_PROGRAM, "Unsupported option"},
    {TUN_SSH_HOST_REVOKED, TUNNEL_STEP_HOST_KEY, "REVOKED HOST KEY"},
    {TUN_SSH_HOST_REVOKED, TUNNEL_STEP_HOST_KEY, "marked as revoked"},
    {TUN_SSH_HOST_CHANGED, TUNNEL_STEP_HOST_KEY, "has changed and you have requested strict"},
    {TUN_SSH_HOST_CHANGED, TUNNEL_STEP_HOST_KEY, "REMOTE HOST IDENTIFICATION HAS CHANGED"},
    {TUN_SSH_HOST_UNKNOWN, TUNNEL_STEP_HOST_KEY, "host key is known for"},
    {TUN_SSH_HOST_KEY, TUNNEL_STEP_HOST_KEY, "Host key verification failed"},
    {TUN_SSH_AUTH, TUNNEL_STEP_AUTH, "Permission denied ("},
    {TUN_SSH_AUTH, TUNNEL_STEP_AUTH, "Too many authentication failures"},
    {TUN_SSH_AUTH, TUNNEL_STEP_AUTH, "No more authentication methods"},
    {TUN_SSH_RESOLVE, TUNNEL_STEP_REACH, "Could not resolve hostname"},
    {TUN_SSH_FWD_PROHIBITED, TUNNEL_STEP_DONE, "administratively prohibited"},
    {TUN_SSH_FWD_CONNECT, TUNNEL_STEP_DONE, "open failed: connect failed"},
    {TUN_SSH_FWD_BIND, TUNNEL_STEP_DONE, "Address already in use"},
    {TUN_SSH_FWD_BIND, TUNNEL_STEP_DONE, "Port forwarding failed"},
    {TUN_SSH_FWD_BIND, TUNNEL_STEP_DONE, "Could not request local forwarding"},
    {TUN_SSH_REFUSED, TUNNEL_STEP_REACH, "Connection refused"},
    {TUN_SSH_TIMEOUT, TUNNEL_STEP_REACH, "timed out"},
    {TUN_SSH_TIMEOUT, TUNNEL_STEP_REACH, "Timeout, server"},
    {TUN_SSH_HANDSHAKE, TUNNEL_STEP_REACH, "Unable to negotiate"},
    {TUN_SSH_HANDSHAKE, TUNNEL_STEP_REACH, "no matching"},
    {TUN_SSH_HANDSHAKE, TUNNEL_STEP_REACH, "kex_exchange_identification"},
    {TUN_SSH_HANDSHAKE, TUNNEL_STEP_REACH, "banner exchange"},
    {TUN_SSH_HANDSHAKE, TUNNEL_STEP_REACH, "Connection closed by"},
    {TUN_SSH_HANDSHAKE, TUNNEL_STEP_REACH, "Connection reset by"},
};

/* The line of TEXT around AT, trimmed, into OUT (or appended after "; "). */
static void copy_line(const char *text, const char *at, char *out, size_t n, bool append)
{
    const char *b = at, *e = at;
    while (b > text && b[-1] != '\n')
        b--;
    while (*e && *e != '\n')
        e++;
    while (b < e && (*b == ' ' || *b == '\t' || *b == '@'))
        b++;
    while (e > b && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '@'))
        e--;
    size_t used = append ? strlen(out) : 0;
    if (append && used + 2 < n) {
        memcpy(out + used, "; ", 2);
        used += 2;
    }
    if (used >= n)
        return;
    size_t len = (size_t)(e - b);
    if (len > n - 1 - used)
        len = n - 1 - used;
    memcpy(out + used, b, len);
    out[used + len] = '\0';
}

void tun_ssh_diagnose(const char *output, tun_ssh_diag *out)
{
    memset(out, 0, sizeof *out);
    out->step = TUNNEL_STEP_REACH;
    if (!output)
        return;
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        const char *at = strstr(output, patterns[i].needle);
        if (!at)
            continue;
        out->fault = patterns[i].fault;
        out->step = patterns[i].step;
        /* The banner of a changed key: quote the line that names the host. */
        const char *better = NULL;
        if (out->fault == TUN_SSH_HOST_CHANGED)
            better = strstr(output, "Host key for ");
        copy_line(output, better ? better : at, out->line, sizeof out->line, false);
        /* Why a key was not offered, when ssh said. */
        if (out->fault == TUN_SSH_AUTH) {
            static const char *const why[] = {"UNPROTECTED PRIVATE KEY FILE", "Load key",
                                              "not accessible", "no such identity"};
            for (size_t k = 0; k < sizeof why / sizeof why[0]; k++) {
                const char *w = strstr(output, why[k]);
                if (w)
                    copy_line(output, w, out->line, sizeof out->line, true);
            }
        }
        return;
    }
    /* Nothing known: the last line that says something. */
    const char *end = output + strlen(output);
    while (end > output && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    if (end == output)
        return;
    const char *b = end;
    while (b > output && b[-1] != '\n')
        b--;
    copy_line(output, b, out->line, sizeof out->line, false);
}
