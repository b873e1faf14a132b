/*
 * tunnel.c — the SSH tunnel of tunnel.h: jump hosts crossed with libssh2,
 * local connections relayed over direct-tcpip channels of the last hop.
 *
 * The file has two halves.  The first is pure and unit-tested through
 * tunnel_internal.h: the hashes known_hosts needs (HMAC-SHA1 for hashed host
 * names, SHA-256 for fingerprints) and base64, from libcrypto, known_hosts
 * read and written as
 * OpenSSH does, private key file inspection, the host key algorithm
 * preference.  libssh2's own known_hosts reader is not used: it rejects a
 * whole file for one line it cannot parse (certificates, security keys,
 * @markers), knows no patterns, and falls back from "[host]:port" to the
 * bare host name, which OpenSSH never does.
 *
 * The second half is the tunnel: one thread owns every libssh2 session and
 * socket and runs one poll() loop.  The rules it keeps:
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
 *     channel_write is not called while libssh2_channel_window_write is 0;
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
 *
 * Hop k > 1 runs over a direct-tcpip channel of hop k-1: libssh2 needs a
 * socket, so session k gets one end of a socketpair and the other end is
 * relayed over the channel exactly like a local connection.
 *
 * A relayed connection:
 *
 *   QUEUED --open sent--> OPENING --confirmed--> OPEN --EOF both ways--> CLOSING --> freed
 *                            |                     |                       ^
 *                            +--refused/deadline---+--error / tunnel lost--+
 */
#include "tunnel.h"
#include "tunnel_internal.h"

#include "mc_build.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ========================================================================
 * Hashes and base64 (libcrypto)
 * ======================================================================== */

/* libcrypto fails a digest only when it is broken (no default provider, a
 * FIPS configuration without SHA-1): a host key must not be checked against
 * a made-up hash, so that is fatal, like running out of memory. */
static void crypto_failed(const char *what)
{
    fprintf(stderr, "metacrawl: libcrypto cannot compute %s\n", what);
    abort();
}

void tun_sha1(const void *data, size_t n, uint8_t out[20])
{
    if (EVP_Digest(data, n, out, NULL, EVP_sha1(), NULL) != 1)
        crypto_failed("SHA-1");
}

void tun_sha256(const void *data, size_t n, uint8_t out[32])
{
    if (EVP_Digest(data, n, out, NULL, EVP_sha256(), NULL) != 1)
        crypto_failed("SHA-256");
}

void tun_hmac_sha1(const void *key, size_t n_key, const void *msg, size_t n_msg,
                   uint8_t out[20])
{
    /* HMAC() takes the key length as an int; a longer key is hashed first,
     * as HMAC itself would (RFC 2104), which keeps the result the same. */
    uint8_t hashed[20];
    if (n_key > INT_MAX) {
        tun_sha1(key, n_key, hashed);
        key = hashed;
        n_key = sizeof hashed;
    }
    static const uint8_t no_key;
    unsigned int n_out = 0;
    if (!HMAC(EVP_sha1(), n_key ? key : &no_key, (int)n_key, msg, n_msg, out, &n_out) ||
        n_out != 20)
        crypto_failed("HMAC-SHA1");
}

char *tun_base64_encode(const void *data, size_t n, bool pad)
{
    if (n > (size_t)INT_MAX / 4 * 3)
        crypto_failed("base64 of more than 1.5 GB");
    char *out = mc_malloc(4 * ((n + 2) / 3) + 1);
    int len = EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    if (!pad)
        while (len > 0 && out[len - 1] == '=')
            out[--len] = '\0';
    return out;
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/*
 * EVP_DecodeBlock alone is not the decoder known_hosts needs: it skips
 * leading blanks and trailing blanks, newlines and '-', wants padding up to a
 * multiple of 4, and counts the padding in its result.  So the strict part
 * is done here first (trailing '=' dropped, then only the alphabet, and not
 * 4k+1 characters), the padding is put back for it, and taken off its count.
 */
uint8_t *tun_base64_decode(const char *text, size_t len, size_t *n_out)
{
    while (len > 0 && text[len - 1] == '=')
        len--;
    if (len % 4 == 1 || len > (size_t)INT_MAX - 3)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (!b64_char(text[i]))
            return NULL;
    size_t n_pad = (4 - len % 4) % 4;
    char *padded = mc_malloc(len + n_pad);
    memcpy(padded, text, len);
    memset(padded + len, '=', n_pad);
    uint8_t *out = mc_malloc((len + n_pad) / 4 * 3 + 1);
    int got = EVP_DecodeBlock(out, (const unsigned char *)padded, (int)(len + n_pad));
    free(padded);
    if (got < 0 || (size_t)got < n_pad) {
        free(out);
        return NULL;
    }
    *n_out = (size_t)got - n_pad;
    return out;
}

/* ========================================================================
 * Key blobs
 * ======================================================================== */

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An SSH wire string at *p (uint32 length, bytes); advances *p. */
static bool read_string(const uint8_t **p, const uint8_t *end, const uint8_t **s,
                        size_t *n)
{
    if (end - *p < 4)
        return false;
    uint32_t len = load_be32(*p);
    if ((size_t)(end - *p - 4) < len)
        return false;
    *s = *p + 4;
    *n = len;
    *p += 4 + (size_t)len;
    return true;
}

char *tun_blob_type(const uint8_t *blob, size_t n)
{
    const uint8_t *p = blob, *s;
    size_t len;
    if (!blob || !read_string(&p, blob + n, &s, &len) || len == 0 || len > 64)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (!isgraph(s[i]))
            return NULL;
    return mc_strndup((const char *)s, len);
}

char *tun_fingerprint(const uint8_t *blob, size_t n)
{
    uint8_t digest[32];
    tun_sha256(blob, n, digest);
    char *b64 = tun_base64_encode(digest, sizeof digest, false);
    char *fp = mc_asprintf("SHA256:%s", b64);
    free(b64);
    return fp;
}

const char *tun_type_short(const char *type)
{
    if (!type)
        return "?";
    if (strcmp(type, "ssh-ed25519") == 0)
        return "ed25519";
    if (strncmp(type, "ecdsa-sha2-", 11) == 0)
        return "ecdsa";
    if (strcmp(type, "ssh-rsa") == 0)
        return "rsa";
    if (strcmp(type, "ssh-dss") == 0)
        return "dsa";
    if (strncmp(type, "sk-ssh-ed25519", 14) == 0)
        return "ed25519-sk";
    if (strncmp(type, "sk-ecdsa", 8) == 0)
        return "ecdsa-sk";
    return type;
}

/* ========================================================================
 * known_hosts
 * ======================================================================== */

char *tun_kh_name(const char *host, int port)
{
    char *name = port == 22 || port <= 0 ? mc_strdup(host) : mc_asprintf("[%s]:%d", host, port);
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return name;
}

/* OpenSSH's match_pattern: * and ? wildcards over the whole string. */
static bool glob_ci(const char *pat, size_t n_pat, const char *s)
{
    while (n_pat > 0) {
        if (*pat == '*') {
            while (n_pat > 0 && *pat == '*')
                pat++, n_pat--;
            if (n_pat == 0)
                return true;
            for (; *s; s++)
                if (glob_ci(pat, n_pat, s))
                    return true;
            return false;
        }
        if (!*s)
            return false;
        if (*pat != '?' && tolower((unsigned char)*pat) != tolower((unsigned char)*s))
            return false;
        pat++, n_pat--, s++;
    }
    return *s == '\0';
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
        if (stop > pat && glob_ci(pat, (size_t)(stop - pat), name)) {
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

static void add_type(mc_buf *types, const char *type, size_t n)
{
    const char *have = mc_buf_str(types);
    for (const char *p = have; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, type, n) == 0)
            return;
        p += len;
        if (*p == ',')
            p++;
    }
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
        size_t n_type, n_key;
        const char *type = next_field(&p, end, &n_type);
        const char *key = next_field(&p, end, &n_key);
        size_t n_decoded = 0;
        uint8_t *decoded = key ? tun_base64_decode(key, n_key, &n_decoded) : NULL;
        char *blob_type = decoded ? tun_blob_type(decoded, n_decoded) : NULL;
        /* Lines we cannot read (SSH1 keys, garbage) are skipped, as OpenSSH does. */
        if (type && blob_type && strlen(blob_type) == n_type &&
            strncmp(blob_type, type, n_type) == 0) {
            bool same = blob && n_decoded == n_blob && memcmp(decoded, blob, n_blob) == 0;
            if (revoked) {
                if (same && !revoked_line)
                    revoked_line = line_no;
            } else {
                add_type(&types, type, n_type);
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

/* ========================================================================
 * Private key files
 * ======================================================================== */

/* The base64 body between the BEGIN and END lines, PEM headers skipped. */
static uint8_t *pem_body(const char *text, size_t len, const char *begin_line, size_t *n_out)
{
    const char *start = memmem(text, len, begin_line, strlen(begin_line));
    if (!start)
        return NULL;
    const char *p = memchr(start, '\n', len - (size_t)(start - text));
    if (!p)
        return NULL;
    p++;
    const char *end = memmem(p, len - (size_t)(p - text), "-----END ", 9);
    if (!end)
        return NULL;
    mc_buf b64 = {0};
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *stop = eol ? eol : end;
        if (!memchr(p, ':', (size_t)(stop - p))) { /* "Proc-Type: ..." headers */
            for (const char *q = p; q < stop; q++)
                if (!isspace((unsigned char)*q))
                    mc_buf_putc(&b64, *q);
        }
        p = eol ? eol + 1 : end;
    }
    uint8_t *out = tun_base64_decode(mc_buf_str(&b64), b64.len, n_out);
    mc_buf_free(&b64);
    return out;
}

static bool has_bytes(const uint8_t *p, size_t n, const uint8_t *needle, size_t n_needle)
{
    return n >= n_needle && memmem(p, n, needle, n_needle) != NULL;
}

int tun_key_inspect(const char *text, size_t len, tun_key_info *out, const char **why)
{
    memset(out, 0, sizeof *out);
    *why = NULL;
    if (memmem(text, len, "-----BEGIN OPENSSH PRIVATE KEY-----", 35)) {
        out->format = TUN_KEY_FORMAT_OPENSSH;
        size_t n = 0;
        uint8_t *der = pem_body(text, len, "-----BEGIN OPENSSH PRIVATE KEY-----", &n);
        static const char magic[] = "openssh-key-v1";
        const uint8_t *p = der, *end = der ? der + n : NULL, *s;
        size_t sl;
        if (!der || n < sizeof magic || memcmp(der, magic, sizeof magic) != 0) {
            free(der);
            *why = "the OPENSSH PRIVATE KEY block is damaged";
            return -1;
        }
        p += sizeof magic;
        const uint8_t *cipher = NULL;
        size_t n_cipher = 0;
        bool ok = read_string(&p, end, &cipher, &n_cipher) && /* ciphername */
                  read_string(&p, end, &s, &sl) &&             /* kdfname */
                  read_string(&p, end, &s, &sl) &&             /* kdfoptions */
                  end - p >= 4;
        if (ok) {
            uint32_t n_keys = load_be32(p);
            p += 4;
            ok = n_keys >= 1 && read_string(&p, end, &s, &sl);
        }
        char *type = ok ? tun_blob_type(s, sl) : NULL;
        if (!type) {
            free(der);
            *why = "the OPENSSH PRIVATE KEY block is damaged";
            return -1;
        }
        snprintf(out->type, sizeof out->type, "%s", type);
        free(type);
        out->encrypted = !(n_cipher == 4 && memcmp(cipher, "none", 4) == 0);
        out->pub = mc_malloc(sl);
        memcpy(out->pub, s, sl);
        out->n_pub = sl;
        free(der);
        return 0;
    }
    static const struct {
        const char *begin;
        const char *type;
    } pem[] = {
        {"-----BEGIN RSA PRIVATE KEY-----", "ssh-rsa"},
        {"-----BEGIN EC PRIVATE KEY-----", "ecdsa-sha2-nistp256"},
        {"-----BEGIN DSA PRIVATE KEY-----", "ssh-dss"},
    };
    for (size_t i = 0; i < sizeof pem / sizeof pem[0]; i++) {
        if (!memmem(text, len, pem[i].begin, strlen(pem[i].begin)))
            continue;
        out->format = TUN_KEY_FORMAT_PEM;
        /* An EC key's curve is inside the (maybe encrypted) DER; the family
         * is all that matters here. */
        snprintf(out->type, sizeof out->type, "%s", pem[i].type);
        out->encrypted = memmem(text, len, "ENCRYPTED", 9) != NULL;
        return 0;
    }
    if (memmem(text, len, "-----BEGIN ENCRYPTED PRIVATE KEY-----", 37)) {
        out->format = TUN_KEY_FORMAT_PKCS8;
        out->encrypted = true; /* the algorithm is inside the encryption */
        return 0;
    }
    if (memmem(text, len, "-----BEGIN PRIVATE KEY-----", 27)) {
        out->format = TUN_KEY_FORMAT_PKCS8;
        size_t n = 0;
        uint8_t *der = pem_body(text, len, "-----BEGIN PRIVATE KEY-----", &n);
        static const uint8_t oid_rsa[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                          0xf7, 0x0d, 0x01, 0x01, 0x01};
        static const uint8_t oid_ec[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
        static const uint8_t oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
        static const uint8_t oid_dsa[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01};
        size_t head = n < 32 ? n : 32; /* the AlgorithmIdentifier is near the start */
        const char *type = "";
        if (der && has_bytes(der, head, oid_rsa, sizeof oid_rsa))
            type = "ssh-rsa";
        else if (der && has_bytes(der, head, oid_ec, sizeof oid_ec))
            type = "ecdsa-sha2-nistp256";
        else if (der && has_bytes(der, head, oid_ed25519, sizeof oid_ed25519))
            type = "ssh-ed25519";
        else if (der && has_bytes(der, head, oid_dsa, sizeof oid_dsa))
            type = "ssh-dss";
        snprintf(out->type, sizeof out->type, "%s", type);
        free(der);
        return 0;
    }
    if (memmem(text, len, "PuTTY-User-Key-File", 19))
        *why = "it is a PuTTY key: convert it with `puttygen KEY -O private-openssh -o KEY.pem`";
    else if (len > 4 && (strncmp(text, "ssh-", 4) == 0 || strncmp(text, "ecdsa-", 6) == 0))
        *why = "it is a public key: give the private key file (without .pub)";
    else
        *why = "it is not a private key in OpenSSH or PEM format";
    return -1;
}

void tun_key_info_free(tun_key_info *k)
{
    if (!k)
        return;
    free(k->pub);
    k->pub = NULL;
    k->n_pub = 0;
}

const char *tun_key_type_problem(const char *type)
{
    if (!type || !*type)
        return NULL;
    if (strcmp(type, "ssh-rsa") == 0 && !MC_LIBSSH2_HAS_RSA_SHA2)
        return "libssh2 older than 1.11 signs with RSA only as ssh-rsa (SHA-1), which "
               "OpenSSH 8.8 and newer refuse: use an ed25519 or ECDSA key, or a metacrawl "
               "built against libssh2 1.11 or newer";
    if (strcmp(type, "ssh-dss") == 0)
        return "DSA keys are disabled in OpenSSH since 7.0: use an ed25519 or ECDSA key";
    if (strncmp(type, "sk-", 3) == 0)
        return "security-key (FIDO) keys need a hardware token that libssh2 cannot talk "
               "to: use an ed25519 or ECDSA key, or ssh-agent";
    return NULL;
}

/* ========================================================================
 * Host key algorithm preference
 * ======================================================================== */

static bool list_has(const char *list, const char *item, size_t n)
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
        if (len && list_has(supported, p, len) && !list_has(mc_buf_str(&out), p, len))
            add_type(&out, p, len);
        p += len;
        if (*p == ',')
            p++;
    }
    for (size_t i = 0; order[i]; i++)
        if (list_has(supported, order[i], strlen(order[i])))
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

/* ========================================================================
 * The tunnel: data structures
 * ======================================================================== */

#define RELAY_BUF (64 * 1024)   /* per connection and direction (rule 6) */
#define OUTQ_HIGH (256 * 1024)  /* session output queue above which no channel
                                 * data is produced (rule 3) */
#define CLOSE_GRACE_S 2.0       /* how long a closed channel waits for the far
                                 * end's close before it is left to session_free */
#define KEEPALIVE_MISSES 3      /* unanswered intervals that end a session */

typedef struct sess sess;
typedef struct relay relay;

/* A hop as tunnel_open copied it, secrets included until they are used. */
typedef struct hop_own {
    char *host;
    int port;
    char *user;
    char *private_key;
    mc_secret passphrase;
    mc_secret password;
    bool agent;
    char *known_hosts;
    tunnel_host_key_policy policy;
    tun_key_info key;        /* what the key file says about itself */
    char *key_fp;            /* its public key's fingerprint, when known */
    char label[320];         /* "bastion host:port" or "ssh hop 2/3 host:port" */
} hop_own;

typedef enum relay_state { R_QUEUED, R_OPENING, R_OPEN, R_CLOSING } relay_state;

/* One relayed connection: a local socket and a direct-tcpip channel. */
struct relay {
    relay *next;
    sess *s;                 /* the session whose channel carries it */
    int fd;                  /* local end; -1 once closed */
    LIBSSH2_CHANNEL *ch;
    relay_state state;
    sess *carries;           /* the next hop's session, or NULL for a client */
    int id;
    int src_port;
    double deadline;         /* OPENING: open deadline; CLOSING: grace */
    uint8_t *up;             /* local -> channel */
    size_t up_off, up_len;
    uint8_t *down;           /* channel -> local */
    size_t down_off, down_len;
    bool local_eof, eof_sent, remote_eof, local_shut;
    bool doomed;             /* freed at the end of the loop iteration */
    bool close_sent;         /* CLOSING: libssh2_channel_free was called */
    bool write_stalled;      /* the last channel_write took nothing with the
                              * window open (a key exchange): wait for input */
};

struct sess {
    tunnel *t;
    int index;               /* 0-based hop number */
    hop_own *hop;
    LIBSSH2_SESSION *ssh;
    LIBSSH2_AGENT *agent;
    int fd;                  /* what libssh2 reads and writes */
    relay *carrier;          /* hop > 1: the relay carrying this session */
    uint8_t *outq;           /* rule 2: bytes the socket has not taken yet */
    size_t outq_off, outq_len, outq_cap;
    bool up;                 /* set up and served by the loop */
    bool dead;               /* lost; its error is recorded */
    bool closing;            /* teardown: the hooks refuse all I/O */
    int sock_errno;          /* a hook's last socket error */
    bool peer_closed;        /* the far end closed the connection */
    bool readable;           /* poll() said so in this iteration */
    bool armed;              /* POLLIN was asked for in this iteration */
    double last_rx;
    double ka_next;
    relay *opening;          /* rule 7 */
};

struct tunnel {
    hop_own *hops;
    size_t n_hops;
    sess *sess;
    char *target_host;
    int target_port;
    int step_s, keepalive_s, max_connections;
    int listen_fd;
    int local_port;
    int wake[2];             /* 'q' stop, 's' seal */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool ready;              /* set up (or failed to): tunnel_open may return */
    mc_error open_err;       /* why setting up failed; written by the thread
                              * before ready, read by tunnel_open after */
    mc_error fail_err;       /* why it broke later; guarded by mu */
    bool failed;             /* guarded by mu */
    double client_open_since; /* guarded by mu: when the open in flight for a
                               * client connection started; 0 = none */
    tunnel_progress progress; /* the thread's, until tunnel_open returns */
    relay *relays;
    int next_id;
    int n_accepted;
    bool stopping;
};

static double now_s(void) { return mc_monotonic(); }

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
static void report(tunnel *t, int code, const char *hint, const char *fmt, ...) MC_PRINTF(4, 5);
static void report(tunnel *t, int code, const char *hint, const char *fmt, ...)
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

static const char *ssh_message(LIBSSH2_SESSION *ssh)
{
    char *msg = NULL;
    if (!ssh || libssh2_session_last_error(ssh, &msg, NULL, 0) == 0 || !msg || !*msg)
        return "no detail from libssh2";
    return msg;
}

/* ---- libssh2 hooks ---------------------------------------------------------- */

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

static size_t outq_pending(const sess *s) { return s->outq_len - s->outq_off; }

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
    if (outq_pending(s) == 0) {
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
            memmove(s->outq, s->outq + s->outq_off, outq_pending(s));
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
            s->last_rx = now_s();
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
static void set_hooks(LIBSSH2_SESSION *ssh)
{
    LIBSSH2_SEND_FUNC((*snd)) = hook_send;
    LIBSSH2_RECV_FUNC((*rcv)) = hook_recv;
    void *p;
    memcpy(&p, &snd, sizeof p);
    libssh2_session_callback_set(ssh, LIBSSH2_CALLBACK_SEND, p);
    memcpy(&p, &rcv, sizeof p);
    libssh2_session_callback_set(ssh, LIBSSH2_CALLBACK_RECV, p);
}

/* ---- relays --------------------------------------------------------------- */

static relay *relay_new(tunnel *t, sess *s, int fd, sess *carries)
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

static void relay_close_fd(relay *r)
{
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
}

/* Unlinks and frees R; its channel, if any, is left to the session. */
static void relay_free(tunnel *t, relay *r)
{
    for (relay **p = &t->relays; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    relay_close_fd(r);
    if (r->s && r->s->opening == r)
        r->s->opening = NULL;
    if (r->carries && r->carries->carrier == r)
        r->carries->carrier = NULL;
    free(r->up);
    free(r->down);
    free(r);
}

static void sess_die(sess *s, const char *why);
static void close_listener(tunnel *t);

/* Drops the connection: the local socket is closed (the client sees EOF or
 * a reset), the channel closed. */
static void relay_abort(relay *r)
{
    relay_close_fd(r);
    r->up_off = r->up_len = r->down_off = r->down_len = 0;
    if (r->carries && !r->carries->dead)
        sess_die(r->carries, "the connection to it through the previous hop was closed");
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
        r->deadline = now_s() + CLOSE_GRACE_S;
        break;
    case R_CLOSING:
        break;
    }
}

/* ---- sessions ------------------------------------------------------------- */

static const char *drop_reason(sess *s, char *buf, size_t n)
{
    if (s->peer_closed)
        return "the server closed the connection";
    if (s->sock_errno) {
        snprintf(buf, n, "%s", strerror(s->sock_errno));
        return buf;
    }
    return ssh_message(s->ssh);
}

/* Marks S and the hops behind it lost, closes their connections and the
 * listener, and records why. */
static void sess_die(sess *s, const char *why)
{
    tunnel *t = s->t;
    if (s->dead)
        return;
    s->dead = true;
    bool was_up = s->up;
    s->up = false;
    if (was_up)
        report(t, MC_EXIT_CONNECT,
               "check that the bastion is up and reachable (sshd restarted? network?), and "
               "the keepalive setting of the tunnel",
               "the ssh connection to %s was lost: %s", s->hop->label, why);
    if (t->ready)
        close_listener(t);
    for (relay *r = t->relays; r; r = r->next) {
        if (r->s != s || r->doomed)
            continue;
        r->ch = NULL; /* belongs to a dead session: session_free frees it */
        relay_close_fd(r);
        r->doomed = true;
        if (r->carries)
            sess_die(r->carries, "the hop before it was lost");
    }
    s->opening = NULL;
    for (size_t k = (size_t)s->index + 1; k < t->n_hops; k++)
        sess_die(&t->sess[k], "the hop before it was lost");
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
        sess_die(s, drop_reason(s, buf, sizeof buf));
        return;
    }
    mc_log(MC_LOG_DEBUG, "tunnel: connection %d: channel %s failed: %s", r->id, what,
           ssh_message(s->ssh));
    relay_abort(r);
}

/* ========================================================================
 * The loop
 * ======================================================================== */

static void close_listener(tunnel *t)
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
        relay *r = relay_new(t, &t->sess[t->n_hops - 1], fd, NULL);
        r->src_port = ntohs(peer.sin_port);
        mc_log(MC_LOG_DEBUG, "tunnel: connection %d accepted from 127.0.0.1:%d", r->id,
               r->src_port);
        if (t->max_connections > 0 && ++t->n_accepted >= t->max_connections)
            close_listener(t);
    }
}

static size_t up_room(const relay *r) { return RELAY_BUF - (r->up_len - r->up_off); }
static size_t down_room(const relay *r) { return RELAY_BUF - (r->down_len - r->down_off); }

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

static void local_read(relay *r)
{
    while (r->fd >= 0 && !r->local_eof && up_room(r) > 0) {
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
            relay_abort(r);
        }
        break;
    }
}

static void local_write(relay *r)
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
        relay_abort(r);
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
        snprintf(hint, sizeof hint,
                 "the warehouse is not reachable from the bastion: check host: and port: of "
                 "the datastore as the bastion resolves them, that the cluster is running, "
                 "and that its security group or firewall lets the bastion in on port %d",
                 t->target_port);
    if (!why) {
        report(t, MC_EXIT_CONNECT, hint, "%s did not connect to %s within %d s", via, target,
               t->step_s);
    } else if (strstr(why, "administratively prohibited")) {
        snprintf(hint, sizeof hint,
                 "the bastion does not let this user forward TCP connections: set "
                 "AllowTcpForwarding yes (or local) in its sshd_config, and if PermitOpen or a "
                 "permitopen= option in authorized_keys restricts the destinations, allow %s",
                 target);
        report(t, MC_EXIT_CONNECT, hint,
               "%s refused to forward the connection to %s (administratively prohibited)", via,
               target);
    } else if (strstr(why, "connect failed")) {
        report(t, MC_EXIT_CONNECT, hint, "%s could not connect to %s (connect failed)", via,
               target);
    } else {
        report(t, MC_EXIT_CONNECT, hint, "%s could not open a connection to %s: %s", via,
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
static void serve_open(tunnel *t, sess *s)
{
    double now = now_s();
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
            relay_abort(r); /* stays OPENING until libssh2 has an answer */
        }
        return;
    }
    s->opening = NULL;
    if (session_fatal(rc)) {
        char buf[200];
        sess_die(s, drop_reason(s, buf, sizeof buf));
        return;
    }
    if (r->fd >= 0)
        open_failed(t, r, ssh_message(s->ssh));
    relay_abort(r);
    r->doomed = true;
}

static void channel_read(relay *r)
{
    while (r->state == R_OPEN && !r->remote_eof && down_room(r) > 0) {
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

static void channel_write(relay *r)
{
    sess *s = r->s;
    while (r->state == R_OPEN && r->up_len > r->up_off && outq_pending(s) < OUTQ_HIGH) {
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
        relay_close_fd(r);
        r->state = R_CLOSING;
        r->deadline = now_s() + CLOSE_GRACE_S;
    }
}

static void serve_closing(tunnel *t, relay *r)
{
    sess *s = r->s;
    if (!r->ch) {
        r->doomed = true;
        return;
    }
    r->close_sent = true;
    int rc = libssh2_channel_free(r->ch);
    if (rc == LIBSSH2_ERROR_EAGAIN) {
        if (now_s() > r->deadline) {
            r->ch = NULL; /* the far end never confirmed; session_free finishes it */
            r->doomed = true;
        }
        return;
    }
    r->ch = NULL; /* freed, whatever the close said */
    r->doomed = true;
    if (rc != 0 && session_fatal(rc)) {
        char buf[200];
        sess_die(s, drop_reason(s, buf, sizeof buf));
    }
    (void)t;
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
            ((!r->remote_eof && down_room(r) > 0) || r->up_len > r->up_off ||
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
    double now = now_s();
    if (s->sock_errno) {
        sess_die(s, drop_reason(s, buf, sizeof buf));
        return;
    }
    if (t->keepalive_s > 0) {
        /* Liveness counts only while something waits for input. */
        if (!s->armed)
            s->last_rx = now;
        else if (now - s->last_rx > (double)KEEPALIVE_MISSES * t->keepalive_s) {
            snprintf(buf, sizeof buf, "no answer to %d keepalives in %d s", KEEPALIVE_MISSES,
                     KEEPALIVE_MISSES * t->keepalive_s);
            sess_die(s, buf);
            return;
        }
        if (now >= s->ka_next) {
            int next = 0;
            int rc = libssh2_keepalive_send(s->ssh, &next);
            if (rc != 0 && rc != LIBSSH2_ERROR_EAGAIN) {
                sess_die(s, drop_reason(s, buf, sizeof buf));
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
            channel_read(r);
    for (relay *r = t->relays; r && !s->dead; r = r->next)
        if (r->s == s && !r->doomed && r->state == R_OPEN)
            channel_write(r);
    for (relay *r = t->relays; r && !s->dead; r = r->next)
        if (r->s == s && !r->doomed && r->state == R_CLOSING)
            serve_closing(t, r);
    if (!s->dead)
        serve_open(t, s);
    if (!s->dead && s->peer_closed)
        sess_die(s, drop_reason(s, buf, sizeof buf));
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
        if (!r->remote_eof && down_room(r) > 0) {
            unsigned long avail = 0;
            libssh2_channel_window_read_ex(r->ch, &avail, NULL);
            if (avail > 0 || libssh2_channel_eof(r->ch))
                return true;
        }
        if (r->up_len > r->up_off && !r->write_stalled && outq_pending(s) < OUTQ_HIGH &&
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
            relay_free(t, r);
    }
}

/*
 * One poll() and everything it allows.  EXTRA is a session being set up
 * (or NULL): its socket is polled and its queue flushed, but the caller
 * makes its libssh2 calls.  Never sleeps past DEADLINE or the nearest
 * deadline of the tunnel (rule 8).
 */
static void loop_once(tunnel *t, sess *extra, double deadline)
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
    double now = now_s(), wake_at = deadline;
    for (size_t k = 0; k < t->n_hops; k++) {
        sess *s = &t->sess[k];
        sess_at[k] = -1;
        s->armed = s->readable = false;
        bool active = (s->up && !s->dead) || s == extra;
        if (s->fd < 0 || s->closing || (!active && outq_pending(s) == 0))
            continue;
        short ev = outq_pending(s) ? POLLOUT : 0;
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
        if (r->state != R_CLOSING && !r->local_eof && up_room(r) > 0)
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
                    close_listener(t);
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
            local_read(r);
    }
    for (size_t k = 0; k < t->n_hops; k++)
        serve_session(t, &t->sess[k]);
    for (relay *r = t->relays; r; r = r->next)
        if (r->fd >= 0 && !r->doomed)
            local_write(r);
    for (size_t k = 0; k < t->n_hops; k++) {
        sess *s = &t->sess[k];
        if (s->fd >= 0 && !s->closing && outq_pending(s))
            outq_flush(s);
    }
    sweep(t);
    free(relay_at);
    free(sess_at);
    free(pfd);
}

/* ========================================================================
 * Setting up a hop: transport, handshake, host key, authentication
 * ======================================================================== */

/* Serves the hops before S and waits for S's socket once; -1 when DEADLINE
 * has passed or the way to S was lost. */
static int wait_step(tunnel *t, sess *s, double deadline)
{
    if (s->dead || now_s() >= deadline)
        return -1;
    loop_once(t, s, deadline);
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
        report(t, MC_EXIT_CONNECT,
               "check host: of the tunnel (the bastion's DNS name or address) and that this "
               "machine can resolve it",
               "cannot resolve %s: %s", h->label,
               grc == EAI_SYSTEM ? strerror(errno) : gai_strerror(grc));
        return -1;
    }
    double deadline = now_s() + t->step_s;
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
            double left = deadline - now_s();
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
            report(t, MC_EXIT_CONNECT, hint, "cannot connect to %s: no answer within %d s",
                   h->label, t->step_s);
        else
            report(t, MC_EXIT_CONNECT, hint, "cannot connect to %s: %s", h->label,
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
        report(t, MC_EXIT_CONNECT, NULL, "cannot reach %s: socketpair: %s", s->hop->label,
               strerror(errno));
        return -1;
    }
    s->fd = sp[0];
    s->carrier = relay_new(t, prev, sp[1], s);
    /* The relay may be freed inside loop_once: s->carrier then turns NULL. */
    while (!s->carrier || s->carrier->state != R_OPEN) {
        relay *r = s->carrier;
        if (!r || r->doomed || r->fd < 0 || prev->dead || s->dead) {
            report(t, MC_EXIT_CONNECT, NULL, "cannot reach %s through %s", s->hop->label,
                   prev->hop->label);
            return -1;
        }
        loop_once(t, NULL, 1e308);
    }
    return 0;
}

static char *read_text_file(const char *path, size_t *len_out, int *errno_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *errno_out = errno;
        return NULL;
    }
    mc_buf b = {0};
    char chunk[8192];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *errno_out = errno;
            close(fd);
            mc_buf_free(&b);
            return NULL;
        }
        mc_buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    if (len_out)
        *len_out = b.len;
    return b.data ? mc_buf_steal(&b) : mc_strdup("");
}

/* known_hosts as text; a missing file is an empty one. */
static char *read_known_hosts(const char *path)
{
    int e = 0;
    char *text = read_text_file(path, NULL, &e);
    if (!text && e != ENOENT)
        mc_log(MC_LOG_WARN, "tunnel: cannot read %s: %s", path, strerror(e));
    return text;
}

static void set_hostkey_pref(sess *s)
{
    char *text = read_known_hosts(s->hop->known_hosts);
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
               ssh_message(s->ssh));
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
    double deadline = now_s() + t->step_s;
    int rc;
    while ((rc = libssh2_session_handshake(s->ssh, s->fd)) == LIBSSH2_ERROR_EAGAIN)
        if (wait_step(t, s, deadline) != 0)
            break;
    if (rc == 0)
        return 0;
    if (s->dead)
        return -1; /* the hop before it reported why */
    if (rc == LIBSSH2_ERROR_EAGAIN) {
        report(t, MC_EXIT_CONNECT,
               "something accepted the connection but did not speak SSH in time: check "
               "port: of the tunnel, and the load of the bastion",
               "no ssh handshake with %s within %d s", h->label, t->step_s);
        return -1;
    }
    char buf[200];
    const char *why = s->peer_closed || s->sock_errno ? drop_reason(s, buf, sizeof buf)
                                                      : ssh_message(s->ssh);
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
    report(t, MC_EXIT_CONNECT, hint, "ssh handshake with %s failed: %s", h->label, why);
    return -1;
}

static int verify_host_key(tunnel *t, sess *s)
{
    hop_own *h = s->hop;
    size_t n = 0;
    int type = 0;
    const char *key = libssh2_session_hostkey(s->ssh, &n, &type);
    if (!key || n == 0) {
        report(t, MC_EXIT_CONNECT, NULL, "%s sent no host key", h->label);
        return -1;
    }
    const uint8_t *blob = (const uint8_t *)key;
    char *offered = tun_blob_type(blob, n);
    char *fp = tun_fingerprint(blob, n);
    char *name = tun_kh_name(h->host, h->port);
    char *text = read_known_hosts(h->known_hosts);
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
                report(t, append_err.code, append_err.hint[0] ? append_err.hint : NULL, "%s",
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
        report(t, MC_EXIT_CONNECT, hint,
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
        report(t, MC_EXIT_CONNECT, hint,
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
        report(t, MC_EXIT_CONNECT, hint,
               "the host key of %s cannot be verified: it offered %s %s, but %s holds only "
               "%s keys for %s",
               h->label, otype, fp, h->known_hosts, res.known_types, name);
        break;
    case TUN_KH_REVOKED:
        report(t, MC_EXIT_CONNECT,
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
        report(t, MC_EXIT_CONNECT, "the bastion is slow or overloaded; try again",
               "no answer from %s during authentication within %d s", s->hop->label, t->step_s);
    else
        report(t, MC_EXIT_CONNECT, NULL, "the ssh connection to %s was lost during "
               "authentication: %s", s->hop->label, drop_reason(s, buf, sizeof buf));
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
        double deadline = now_s() + t->step_s;
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
    double deadline = now_s() + t->step_s;
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
            report(t, MC_EXIT_AUTH,
                   "check passphrase: of the tunnel (and the variable or file it names); "
                   "`ssh-keygen -y -f KEY` asks for it and shows whether it is right",
                   "cannot decrypt the private key %s: wrong passphrase", h->private_key);
        else
            report(t, MC_EXIT_AUTH,
                   "convert the key to a format libssh2 reads: ssh-keygen -p -f KEY rewrites "
                   "it in the OpenSSH format",
                   "libssh2 cannot read the private key %s: %s", h->private_key,
                   ssh_message(s->ssh));
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
    double deadline = now_s() + t->step_s;
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
        report(t, MC_EXIT_AUTH, "log in once by hand to change it, then update password:",
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
    return list_has(methods, m, strlen(m));
}

static int authenticate(tunnel *t, sess *s)
{
    hop_own *h = s->hop;
    double deadline = now_s() + t->step_s;
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
            report(t, MC_EXIT_AUTH, hint,
                   "ssh authentication as %s at %s was refused: tried %s; the server accepts "
                   "%s",
                   h->user, h->label, mc_buf_str(&tried), methods);
        else
            report(t, MC_EXIT_AUTH, hint,
                   "ssh authentication as %s at %s is not possible: the server accepts only %s, "
                   "and the tunnel has none of these configured",
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
        report(t, MC_EXIT_AUTH, hint, "cannot use ssh-agent for %s: %s", h->label,
               sock && *sock ? "it does not answer on SSH_AUTH_SOCK" : "SSH_AUTH_SOCK is not set");
        return -1;
    }
    if (libssh2_agent_list_identities(s->agent) != 0) {
        report(t, MC_EXIT_AUTH, hint, "cannot list the keys of ssh-agent for %s: %s", h->label,
               ssh_message(s->ssh));
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
            report(t, MC_EXIT_AUTH, hint, "ssh-agent holds no key to authenticate at %s",
                   h->label);
        else
            report(t, MC_EXIT_AUTH, hint, "ssh-agent holds no key usable at %s: %s", h->label,
                   problem);
        return -1;
    }
    return 0;
}

static void wipe_hop_secrets(hop_own *h)
{
    mc_secret_wipe(&h->passphrase);
    mc_secret_wipe(&h->password);
}

static int setup_hop(tunnel *t, sess *s)
{
    hop_own *h = s->hop;
    int rc = -1;
    s->ssh = libssh2_session_init_ex(ssh_alloc, ssh_free, ssh_realloc, s);
    if (!s->ssh) {
        report(t, MC_EXIT_CONNECT, NULL, "cannot start an ssh session for %s", h->label);
        goto out;
    }
    set_hooks(s->ssh);
    libssh2_session_set_blocking(s->ssh, 0);
    t->progress = (tunnel_progress){(size_t)s->index, TUNNEL_STEP_AUTH};
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
    s->last_rx = now_s();
    s->ka_next = s->last_rx + t->keepalive_s;
    mc_log(MC_LOG_DEBUG, "tunnel: %s: ready", h->label);
    rc = 0;
out:
    wipe_hop_secrets(h);
    return rc;
}

/* ========================================================================
 * The thread, teardown
 * ======================================================================== */

/* Innermost hop first: each says goodbye, its last bytes are carried out by
 * the hops before it, then libssh2 lets go of it without any more I/O. */
static void teardown(tunnel *t)
{
    close_listener(t);
    for (relay *r = t->relays; r; r = r->next)
        if (!r->carries)
            relay_abort(r);
    for (size_t i = t->n_hops; i-- > 0;) {
        sess *s = &t->sess[i];
        if (s->ssh && s->up && !s->dead) {
            libssh2_session_disconnect_ex(s->ssh, SSH_DISCONNECT_BY_APPLICATION,
                                          "metacrawl closed the tunnel", "");
            s->up = false;
            double until = now_s() + 0.5;
            for (;;) {
                int queued = 0;
                if (s->carrier && s->carrier->fd >= 0)
                    ioctl(s->carrier->fd, FIONREAD, &queued);
                bool carried = !s->carrier || s->carrier->fd < 0 ||
                               (queued == 0 && s->carrier->up_len == s->carrier->up_off);
                if ((outq_pending(s) == 0 && carried) || now_s() >= until)
                    break;
                loop_once(t, s, until);
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
            relay_abort(s->carrier);
        if (s->fd >= 0) {
            close(s->fd);
            s->fd = -1;
        }
    }
    while (t->relays)
        relay_free(t, t->relays);
}

static void *tunnel_main(void *arg)
{
    tunnel *t = arg;
    int rc = 0;
    for (size_t k = 0; k < t->n_hops && rc == 0; k++)
        rc = setup_hop(t, &t->sess[k]);
    pthread_mutex_lock(&t->mu);
    if (rc != 0 && !mc_error_is_set(&t->open_err))
        mc_error_set(&t->open_err, MC_EXIT_CONNECT, "the tunnel could not be opened");
    t->ready = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    while (rc == 0 && !t->stopping)
        loop_once(t, NULL, 1e308);
    teardown(t);
    return NULL;
}

/* ========================================================================
 * Options and the public API
 * ======================================================================== */

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

/* What the key file of a hop is; the .pub beside it names the type of an
 * encrypted PKCS#8 file. */
static int inspect_key(const char *label, const tunnel_hop *h, tun_key_info *info,
                       char **fp_out, mc_error *err)
{
    size_t len = 0;
    int e = 0;
    char *text = read_text_file(h->private_key, &len, &e);
    if (!text) {
        mc_error_set(err, MC_EXIT_CONFIG, "%s: cannot read the private key %s: %s", label,
                     h->private_key, strerror(e));
        mc_error_hint(err, "check private_key: of the tunnel and the file's permissions");
        return -1;
    }
    const char *why = NULL;
    int rc = tun_key_inspect(text, len, info, &why);
    explicit_bzero(text, len);
    free(text);
    if (rc != 0) {
        mc_error_set(err, MC_EXIT_CONFIG, "%s: cannot use the private key %s: %s", label,
                     h->private_key, why);
        mc_error_hint(err, "give an ed25519 or ECDSA private key in OpenSSH or PEM format "
                           "(ssh-keygen -t ed25519 makes one)");
        return -1;
    }
    if (!info->pub) {
        char *pub_path = mc_asprintf("%s.pub", h->private_key);
        char *pub = read_text_file(pub_path, NULL, &e);
        free(pub_path);
        if (pub) {
            const char *p = pub, *end = pub + strlen(pub);
            size_t n_type, n_b64;
            const char *type = next_field(&p, end, &n_type);
            const char *b64 = next_field(&p, end, &n_b64);
            size_t n = 0;
            uint8_t *blob = b64 ? tun_base64_decode(b64, n_b64, &n) : NULL;
            char *btype = blob ? tun_blob_type(blob, n) : NULL;
            /* Only a .pub that agrees with the key file is believed. */
            if (type && btype && strlen(btype) == n_type && strncmp(btype, type, n_type) == 0 &&
                (!info->type[0] ||
                 strcmp(tun_type_short(info->type), tun_type_short(btype)) == 0)) {
                snprintf(info->type, sizeof info->type, "%s", btype);
                info->pub = blob;
                info->n_pub = n;
                blob = NULL;
            }
            free(btype);
            free(blob);
            free(pub);
        }
    }
    if (fp_out)
        *fp_out = info->pub ? tun_fingerprint(info->pub, info->n_pub) : NULL;
    return 0;
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
    if (inspect_key(label, h, ki, fp, err) != 0) {
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
    if (o && o->progress)
        *o->progress = (tunnel_progress){0, TUNNEL_STEP_REACH};
    if (!o || !o->hops || o->n_hops == 0)
        return mc_error_set(err, MC_EXIT_CONFIG, "the tunnel has no hop");
    if (o->step_timeout_s < 0 || o->keepalive_s < 0)
        return mc_error_set(err, MC_EXIT_CONFIG, "tunnel timeouts cannot be negative");
    for (size_t i = 0; i < o->n_hops; i++)
        if (validate_hop(o, i, NULL, NULL, err) != 0) {
            /* A key that cannot be used is an authentication problem. */
            if (o->progress)
                *o->progress = (tunnel_progress){
                    i, err->code == MC_EXIT_AUTH ? TUNNEL_STEP_AUTH : TUNNEL_STEP_REACH};
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
        wipe_hop_secrets(h);
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
        if (src->private_key && inspect_key(h->label, src, &h->key, &h->key_fp, err) != 0) {
            if (o->progress)
                *o->progress = (tunnel_progress){i, TUNNEL_STEP_AUTH};
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
    if (t)
        wake(t, 's');
}

bool tunnel_failed(tunnel *t, mc_error *err_out)
{
    if (!t)
        return false;
    pthread_mutex_lock(&t->mu);
    bool failed = t->failed;
    if (failed && err_out)
        *err_out = t->fail_err;
    double since = t->client_open_since;
    pthread_mutex_unlock(&t->mu);
    /* A client that gave up (libpq's connect_timeout) while the bastion was
     * still connecting: that is why, even before the tunnel's own deadline. */
    double waited = since > 0 ? now_s() - since : 0;
    if (!failed && waited >= 1.0) {
        failed = true;
        if (err_out) {
            mc_error_clear(err_out);
            mc_error_set(err_out, MC_EXIT_CONNECT, "%s has not connected to %s:%d after %.0f s",
                         t->hops[t->n_hops - 1].label, t->target_host, t->target_port, waited);
            mc_error_hint(err_out,
                          "the warehouse is not reachable from the bastion: check host: and "
                          "port: of the datastore as the bastion resolves them, that the "
                          "cluster is running, and that its security group or firewall lets "
                          "the bastion in on port %d",
                          t->target_port);
        }
    }
    return failed;
}

void tunnel_close(tunnel *t)
{
    if (!t)
        return;
    wake(t, 'q');
    pthread_join(t->thread, NULL);
    tunnel_free(t);
}
