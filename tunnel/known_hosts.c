/*
 * known_hosts.c — known_hosts as OpenSSH reads and writes it: the lookup
 * name ("[host]:port" off port 22), host patterns and hashed names, @revoked
 * and @cert-authority markers, the line accept-new appends, and the host key
 * algorithm preference drawn from what the file holds for a host.  Also the
 * "keytype base64" field pair a known_hosts line and a .pub file share, and
 * the comma-separated lists SSH uses for algorithm names.
 *
 * libssh2's own known_hosts reader is not used: it rejects a whole file for
 * one line it cannot parse (certificates, security keys, @markers), knows no
 * patterns, and falls back from "[host]:port" to the bare host name, which
 * OpenSSH never does.
 */
#include "tunnel_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- known_hosts --------------------------------------------------------- */

char *tun_kh_name(const char *host, int port)
{
    char *name = port == 22 || port <= 0 ? mc_strdup(host) : mc_asprintf("[%s]:%d", host, port);
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return name;
}

/* Does the host field of a known_hosts line (comma-separated patterns, or
 * one hashed name) name NAME? */
static bool kh_host_matches(const char *field, size_t n, const char *name)
{
    if (n > 3 && strncmp(field, "|1|", 3) == 0) {
        const char *salt = field + 3;
        const char *bar = memchr(salt, '|', n - 3);
        if (!bar)
            return false;
        size_t n_salt, n_hash;
        uint8_t *s = tun_base64_decode(salt, (size_t)(bar - salt), &n_salt);
        uint8_t *h = tun_base64_decode(bar + 1, n - (size_t)(bar + 1 - field), &n_hash);
        bool ok = false;
        if (s && h && n_hash == 20) {
            uint8_t mac[20];
            tun_hmac_sha1(s, n_salt, name, strlen(name), mac);
            ok = memcmp(mac, h, 20) == 0;
        }
        free(s);
        free(h);
        return ok;
    }
    bool positive = false;
    const char *p = field, *end = field + n;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        bool negated = *p == '!';
        const char *pat = negated ? p + 1 : p;
        if (stop > pat && mc_glob_match_n(pat, (size_t)(stop - pat), name, MC_GLOB_SSH)) {
            if (negated)
                return false;
            positive = true;
        }
        p = comma ? comma + 1 : end;
    }
    return positive;
}

static bool kh_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The next whitespace-separated field of a line (a CR of a CRLF file is
 * whitespace too). */
static const char *next_field(const char **p, const char *end, size_t *n)
{
    while (*p < end && kh_space(**p))
        (*p)++;
    const char *start = *p;
    while (*p < end && !kh_space(**p))
        (*p)++;
    *n = (size_t)(*p - start);
    return *n ? start : NULL;
}

uint8_t *tun_key_field(const char **p, const char *end, char **type_out, size_t *n_out)
{
    size_t n_type, n_key;
    const char *type = next_field(p, end, &n_type);
    const char *key = next_field(p, end, &n_key);
    size_t n = 0;
    uint8_t *blob = key ? tun_base64_decode(key, n_key, &n) : NULL;
    char *blob_type = blob ? tun_blob_type(blob, n) : NULL;
    if (!type || !blob_type || strlen(blob_type) != n_type ||
        strncmp(blob_type, type, n_type) != 0) {
        free(blob_type);
        free(blob);
        return NULL;
    }
    *type_out = blob_type;
    *n_out = n;
    return blob;
}

/* Adds TYPE to the comma-separated TYPES unless it is there already. */
static void add_type(mc_buf *types, const char *type, size_t n)
{
    if (tun_list_has(mc_buf_str(types), type, n))
        return;
    if (types->len)
        mc_buf_putc(types, ',');
    mc_buf_append(types, type, n);
}

void tun_kh_check(const char *text, const char *host, int port, const uint8_t *blob,
                  size_t n_blob, tun_kh_result *out)
{
    memset(out, 0, sizeof *out);
    char *name = tun_kh_name(host, port);
    char *offered = blob ? tun_blob_type(blob, n_blob) : NULL;
    mc_buf types = {0};
    int match_line = 0, changed_line = 0, revoked_line = 0;
    int line_no = 0;
    for (const char *line = text ? text : ""; *line;) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        line_no++;
        const char *p = line;
        size_t n;
        const char *f = next_field(&p, end, &n);
        bool revoked = false;
        if (f && *f == '@') {
            if (n == 8 && strncmp(f, "@revoked", 8) == 0)
                revoked = true;
            else
                f = NULL; /* @cert-authority: certificates are not used here */
            if (f)
                f = next_field(&p, end, &n);
        }
        if (!f || *f == '#' || !kh_host_matches(f, n, name))
            goto next;
        char *blob_type = NULL;
        size_t n_decoded = 0;
        uint8_t *decoded = tun_key_field(&p, end, &blob_type, &n_decoded);
        /* Lines we cannot read (SSH1 keys, garbage) are skipped, as OpenSSH does. */
        if (decoded) {
            bool same = blob && n_decoded == n_blob && memcmp(decoded, blob, n_blob) == 0;
            if (revoked) {
                if (same && !revoked_line)
                    revoked_line = line_no;
            } else {
                add_type(&types, blob_type, strlen(blob_type));
                if (same && !match_line)
                    match_line = line_no;
                else if (offered && strcmp(offered, blob_type) == 0 && !changed_line)
                    changed_line = line_no;
            }
        }
        free(blob_type);
        free(decoded);
    next:
        line = eol ? eol + 1 : end;
    }
    if (revoked_line) {
        out->status = TUN_KH_REVOKED;
        out->line = revoked_line;
    } else if (match_line) {
        out->status = TUN_KH_MATCH;
        out->line = match_line;
    } else if (changed_line) {
        out->status = TUN_KH_CHANGED;
        out->line = changed_line;
    } else if (types.len) {
        out->status = TUN_KH_OTHER_TYPES;
    } else {
        out->status = TUN_KH_UNKNOWN;
    }
    out->known_types = types.data ? mc_buf_steal(&types) : mc_strdup("");
    free(offered);
    free(name);
}

void tun_kh_result_free(tun_kh_result *r)
{
    if (!r)
        return;
    free(r->known_types);
    r->known_types = NULL;
}

char *tun_kh_entry(const char *host, int port, const uint8_t *blob, size_t n_blob)
{
    char *name = tun_kh_name(host, port);
    char *type = tun_blob_type(blob, n_blob);
    char *b64 = tun_base64_encode(blob, n_blob, true);
    char *line = mc_asprintf("%s %s %s\n", name, type ? type : "unknown", b64);
    free(name);
    free(type);
    free(b64);
    return line;
}

int tun_kh_append(const char *path, const char *line, mc_error *err)
{
    /* The directory (~/.ssh on a fresh machine) is made private, as ssh does. */
    char *dir = mc_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            int e = errno;
            mc_error_set(err, MC_EXIT_CONNECT, "cannot create %s for known_hosts: %s", dir,
                         strerror(e));
            mc_error_hint(err, "create the directory or point known_hosts: at a writable file");
            free(dir);
            return -1;
        }
    }
    free(dir);
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        mc_error_set(err, MC_EXIT_CONNECT, "cannot record the host key in %s: %s", path,
                     strerror(e));
        mc_error_hint(err, "make known_hosts writable, or add the key by hand (see docs/tunnel.md)");
        return -1;
    }
    mc_buf b = {0};
    struct stat st;
    char last = '\n';
    if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
        last = '\n';
    if (last != '\n')
        mc_buf_putc(&b, '\n');
    mc_buf_puts(&b, line);
    ssize_t w = write(fd, b.data, b.len);
    int e = errno;
    bool ok = w == (ssize_t)b.len;
    ok = close(fd) == 0 && ok;
    mc_buf_free(&b);
    if (!ok) {
        mc_error_set(err, MC_EXIT_CONNECT, "cannot record the host key in %s: %s", path,
                     strerror(w < 0 ? e : EIO));
        return -1;
    }
    return 0;
}

/* known_hosts as text; a missing file is an empty one. */
char *tun_kh_read(const char *path)
{
    int e = 0;
    char *text = tun_read_file(path, NULL, &e);
    if (!text && e != ENOENT)
        mc_log(MC_LOG_WARN, "tunnel: cannot read %s: %s", path, strerror(e));
    return text;
}

/* ---- comma-separated lists, host key algorithm preference --------------- */

bool tun_list_has(const char *list, const char *item, size_t n)
{
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, item, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

char *tun_hostkey_pref(const char *known, const char *supported)
{
    static const char *const order[] = {
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521", "ssh-rsa", "ssh-dss", NULL};
    mc_buf out = {0};
    for (const char *p = known ? known : ""; *p;) {
        size_t len = strcspn(p, ",");
        if (len && tun_list_has(supported, p, len))
            add_type(&out, p, len);
        p += len;
        if (*p == ',')
            p++;
    }
    for (size_t i = 0; order[i]; i++)
        if (tun_list_has(supported, order[i], strlen(order[i])))
            add_type(&out, order[i], strlen(order[i]));
    /* Certificates are not verified here (no @cert-authority): never ask
     * for one, or a bastion with a host certificate would look unknown. */
    for (const char *p = supported ? supported : ""; *p;) {
        size_t len = strcspn(p, ",");
        if (len && !memmem(p, len, "-cert-", 6))
            add_type(&out, p, len);
        p += len;
        if (*p == ',')
            p++;
    }
    return out.data ? mc_buf_steal(&out) : mc_strdup("");
}
