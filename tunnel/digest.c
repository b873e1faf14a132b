/*
 * digest.c — the hashes, base64 and SSH key blob reading the tunnel needs:
 * SHA-256 for fingerprints as ssh-keygen prints them, HMAC-SHA1 for hashed
 * known_hosts names, base64 for keys and hashes in text, the type a public
 * key blob names.  The hashes and base64 are libcrypto's (EVP); the one
 * thing done by hand is the strictness base64 decoding needs around
 * EVP_DecodeBlock (below).  Pure: no I/O.
 */
#include "tunnel_internal.h"

#include <ctype.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashes and base64 (libcrypto) --------------------------------------- */

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

/* ---- key blobs ----------------------------------------------------------- */

/* An SSH wire string at *p (uint32 length, bytes); advances *p. */
bool tun_read_string(const uint8_t **p, const uint8_t *end, const uint8_t **s,
                     size_t *n)
{
    if (end - *p < 4)
        return false;
    uint32_t len = tun_load_be32(*p);
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
    if (!blob || !tun_read_string(&p, blob + n, &s, &len) || len == 0 || len > 64)
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
