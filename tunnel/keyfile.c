/*
 * keyfile.c — private key files: what a file says about itself without
 * decrypting it (format, key type, encrypted or not, the public key when it
 * is in clear), which key types this libssh2 can use, and loading a hop's
 * key file with the .pub beside it.  Also reading a small file whole, for
 * key files and known_hosts.
 */
#include "tunnel_internal.h"

#include "mc_build.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- private key files --------------------------------------------------- */

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
        bool ok = tun_read_string(&p, end, &cipher, &n_cipher) && /* ciphername */
                  tun_read_string(&p, end, &s, &sl) &&             /* kdfname */
                  tun_read_string(&p, end, &s, &sl) &&             /* kdfoptions */
                  end - p >= 4;
        if (ok) {
            uint32_t n_keys = tun_load_be32(p);
            p += 4;
            ok = n_keys >= 1 && tun_read_string(&p, end, &s, &sl);
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
               "OpenSSH 8.8 and newer refuse: use an ed25519 or ECDSA key, or set via: "
               "openssh in the tunnel block (the system's ssh signs with rsa-sha2 and works "
               "with this key), or a metacrawl built against libssh2 1.11 or newer";
    if (strcmp(type, "ssh-dss") == 0)
        return "DSA keys are disabled in OpenSSH since 7.0: use an ed25519 or ECDSA key";
    if (strncmp(type, "sk-", 3) == 0)
        return "security-key (FIDO) keys need a hardware token that libssh2 cannot talk "
               "to: use an ed25519 or ECDSA key, or ssh-agent, or set via: openssh in the "
               "tunnel block (the system's ssh talks to the token)";
    return NULL;
}

char *tun_read_file(const char *path, size_t *len_out, int *errno_out)
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

/* What the key file of a hop is; the .pub beside it names the type of an
 * encrypted PKCS#8 file. */
int tun_key_load(const char *label, const tunnel_hop *h, tun_key_info *info,
                 char **fp_out, mc_error *err)
{
    size_t len = 0;
    int e = 0;
    char *text = tun_read_file(h->private_key, &len, &e);
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
        char *pub = tun_read_file(pub_path, NULL, &e);
        free(pub_path);
        if (pub) {
            const char *p = pub;
            char *btype = NULL;
            size_t n = 0;
            uint8_t *blob = tun_key_field(&p, pub + strlen(pub), &btype, &n);
            /* Only a .pub that agrees with the key file is believed. */
            if (blob && (!info->type[0] ||
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
