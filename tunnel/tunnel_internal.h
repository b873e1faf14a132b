/*
 * tunnel_internal.h — the pure parts of tunnel.c, for tunnel.c and the
 * tunnel's unit tests only: hashes and base64, SSH key blobs and their
 * fingerprints, known_hosts as OpenSSH reads and writes it, private key file
 * inspection and the host key algorithm preference.  No I/O but the
 * known_hosts append; no libssh2.  Nothing outside tunnel/ and
 * tests/unit/test_tunnel.c includes this.
 */
#ifndef MC_TUNNEL_INTERNAL_H
#define MC_TUNNEL_INTERNAL_H

#include "tunnel.h"

/* ---- hashes and base64 -------------------------------------------------- */

/* libcrypto's; a libcrypto that cannot compute them aborts the process. */
void tun_sha1(const void *data, size_t n, uint8_t out[20]);
void tun_sha256(const void *data, size_t n, uint8_t out[32]);
void tun_hmac_sha1(const void *key, size_t n_key, const void *msg, size_t n_msg,
                   uint8_t out[20]);
/* Standard alphabet; malloc'd; with '=' padding or without (OpenSSH
 * fingerprints have none). */
char *tun_base64_encode(const void *data, size_t n, bool pad);
/* Padding optional (any number of trailing '='); any other character than
 * the alphabet, '=' inside the text, and 4k+1 characters are errors: stricter
 * than EVP_DecodeBlock, which skips blanks at either end.  Returns malloc'd
 * bytes (*n_out of them, padding not counted) or NULL when malformed. */
uint8_t *tun_base64_decode(const char *text, size_t len, size_t *n_out);

/* ---- key blobs ---------------------------------------------------------- */

/* The key type a public key blob names ("ssh-ed25519",
 * "ecdsa-sha2-nistp256", ...), malloc'd; NULL when the blob is malformed. */
char *tun_blob_type(const uint8_t *blob, size_t n);
/* "SHA256:" and the unpadded base64 of the blob's SHA-256, as
 * `ssh-keygen -l` prints it; malloc'd. */
char *tun_fingerprint(const uint8_t *blob, size_t n);
/* The short name ssh-keyscan -t and people use: "ed25519", "ecdsa", "rsa". */
const char *tun_type_short(const char *type);

/* ---- known_hosts ---------------------------------------------------------- */

/* The name OpenSSH looks a host up by: "host" on port 22, "[host]:port"
 * otherwise, lower case; malloc'd. */
char *tun_kh_name(const char *host, int port);

typedef enum tun_kh_status {
    TUN_KH_UNKNOWN = 0,  /* no key of any type for this host */
    TUN_KH_MATCH,        /* the offered key is recorded for this host */
    TUN_KH_CHANGED,      /* a different key of the same type is recorded */
    TUN_KH_OTHER_TYPES,  /* only keys of other types are recorded */
    TUN_KH_REVOKED,      /* the offered key is marked @revoked */
} tun_kh_status;

typedef struct tun_kh_result {
    tun_kh_status status;
    int line;            /* 1-based line of the match, the (first) differing
                          * key or the @revoked entry; 0 when none */
    char *known_types;   /* key types recorded for the host, comma-separated
                          * in file order, malloc'd ("" when none) */
} tun_kh_result;

/*
 * Looks the host up in known_hosts TEXT as OpenSSH does: comma-separated
 * patterns with * and ? and !negation, hashed names (|1|salt|hash, HMAC-SHA1
 * of the lookup name), "[host]:port" for ports other than 22 with no
 * fallback to the bare host, @revoked honoured, @cert-authority lines and
 * lines it cannot read skipped.  BLOB may be NULL to only collect the known
 * types (for the host key algorithm preference).
 */
void tun_kh_check(const char *text, const char *host, int port, const uint8_t *blob,
                  size_t n_blob, tun_kh_result *out);
void tun_kh_result_free(tun_kh_result *r);
/* The line accept-new appends: "[host]:port type base64\n"; malloc'd. */
char *tun_kh_entry(const char *host, int port, const uint8_t *blob, size_t n_blob);
/* Appends LINE to the file at PATH, creating it (0600) and its directory
 * (0700) when missing, after a newline if the file does not end with one. */
int tun_kh_append(const char *path, const char *line, mc_error *err);

/* ---- private key files ------------------------------------------------ */

typedef enum tun_key_format {
    TUN_KEY_FORMAT_UNKNOWN = 0,
    TUN_KEY_FORMAT_OPENSSH,  /* -----BEGIN OPENSSH PRIVATE KEY----- */
    TUN_KEY_FORMAT_PEM,      /* -----BEGIN RSA/EC/DSA PRIVATE KEY----- */
    TUN_KEY_FORMAT_PKCS8,    /* -----BEGIN [ENCRYPTED] PRIVATE KEY----- */
} tun_key_format;

typedef struct tun_key_info {
    tun_key_format format;
    char type[48];       /* "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa",
                          * "ssh-dss", "sk-..."; "" when the file does not say */
    bool encrypted;      /* needs a passphrase */
    uint8_t *pub;        /* the public key blob when the file carries it in
                          * clear (OpenSSH format), malloc'd; else NULL */
    size_t n_pub;
} tun_key_info;

/* Reads what a private key file says about itself, without decrypting.
 * Returns -1 with *why set (static text) when it is not a private key in a
 * format libssh2 reads (a public key, a PuTTY key, garbage). */
int tun_key_inspect(const char *text, size_t len, tun_key_info *out, const char **why);
void tun_key_info_free(tun_key_info *k);
/* NULL when libssh2 in this build can authenticate with a key of TYPE
 * against a current OpenSSH, else why not (static text). */
const char *tun_key_type_problem(const char *type);

/* ---- host key algorithms ---------------------------------------------- */

/* The host key algorithm preference for libssh2: the types known_hosts
 * holds for the host first (KNOWN, comma-separated, file order), then the
 * rest of SUPPORTED with ed25519 first, as OpenSSH orders them.  Types not
 * in SUPPORTED are dropped.  malloc'd. */
char *tun_hostkey_pref(const char *known, const char *supported);

#endif
