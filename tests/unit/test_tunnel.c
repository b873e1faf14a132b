/*
 * test_tunnel.c — the tunnel's pure parts, no network: the hashes and base64
 * it carries, fingerprints as ssh-keygen prints them, known_hosts read and
 * written as OpenSSH does (hashed names, [host]:port, patterns, markers),
 * private key file inspection, the host key algorithm preference, and option
 * validation, including the refusal of RSA keys with libssh2 < 1.11 before
 * anything connects.  The hashes and base64 are libcrypto's; the tests check
 * the calls and the strictness added around EVP_DecodeBlock.  Vectors: FIPS
 * 180 / RFC 2202 for the hashes; the keys, hashed entries and fingerprints
 * were made by OpenSSH 9.2 (ssh-keygen -H, ssh-keygen -l).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mc_build.h"
#include "tunnel.h"
#include "tunnel_internal.h"

static char *hex(const uint8_t *p, size_t n)
{
    char *out = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    return out;
}

/* Public keys made by ssh-keygen, and their fingerprints (ssh-keygen -lf). */
#define ED25519_B64 "AAAAC3NzaC1lZDI1NTE5AAAAIE27bQWjzliwYVExC3DeJSpp4ngU0ywhscMF5g0oYknP"
#define ED25519_FP "SHA256:fXHTEqNxZCtYTlYL2Rx7ZzAhvPC753kCvwVTXKECvXQ"
#define ED25519_OTHER_B64 "AAAAC3NzaC1lZDI1NTE5AAAAIJnW2Ci+4eHZApCDwNUIMwSc7qCqSQL/P7qpV2rngMTt"
#define ED25519_OTHER_FP "SHA256:2sHQwdl11cwGeNM9WWt53fvbV3FMUwMXdS8Mlq0CR1c"
#define ECDSA_B64                                                                          \
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBdS5V5sFcwOe3SjLddEF/5mFfFyYw+" \
    "Fo9pPDseH1hsY7NE3kdyfF7dGmSyLs+fl7X3xmiIvzCX2q7vdxBaYEXI="
#define ECDSA_FP "SHA256:dYdjzD+TP+IoY8Zi3lMjVgmZckznAQtPOaAGI/Uuf9M"
/* ssh-keygen -H of "[127.0.0.1]:22999" and of "bastion.example.com". */
#define HASHED_LOCAL_22999 "|1|xwVN3PN7Ylm7VJIt9t8ILVRVmQw=|/OpOVZnmS43Af76wKId+u730YrU="
#define HASHED_BASTION "|1|MP6w8FzLAWdLHiIHnGsJlUDaD+U=|z7dk2Zq4Kmm1Q04EcerjJ94ucnA="

static uint8_t *blob_of(const char *b64, size_t *n)
{
    uint8_t *b = tun_base64_decode(b64, strlen(b64), n);
    cr_assert_not_null(b, "bad base64 %s", b64);
    return b;
}

/* ---- hashes and base64 ---------------------------------------------------- */

Test(tunnel_hash, sha1_vectors)
{
    static const struct {
        const char *in, *out;
    } v[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t d[20];
        tun_sha1(v[i].in, strlen(v[i].in), d);
        cr_assert_str_eq(hex(d, 20), v[i].out, "sha1(\"%s\")", v[i].in);
    }
}

Test(tunnel_hash, sha256_vectors)
{
    static const struct {
        const char *in, *out;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t d[32];
        tun_sha256(v[i].in, strlen(v[i].in), d);
        cr_assert_str_eq(hex(d, 32), v[i].out, "sha256(\"%s\")", v[i].in);
    }
    /* A million 'a': many blocks, and lengths across block boundaries. */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    uint8_t d[32];
    tun_sha256(a, 1000000, d);
    cr_assert_str_eq(hex(d, 32), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

Test(tunnel_hash, hmac_sha1_rfc2202)
{
    uint8_t key1[20], key6[80], mac[20];
    memset(key1, 0x0b, sizeof key1);
    memset(key6, 0xaa, sizeof key6);
    tun_hmac_sha1(key1, sizeof key1, "Hi There", 8, mac);
    cr_assert_str_eq(hex(mac, 20), "b617318655057264e28bc0b6fb378c8ef146be00");
    tun_hmac_sha1("Jefe", 4, "what do ya want for nothing?", 28, mac);
    cr_assert_str_eq(hex(mac, 20), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    tun_hmac_sha1(key6, sizeof key6, m6, strlen(m6), mac);
    cr_assert_str_eq(hex(mac, 20), "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

Test(tunnel_hash, base64_round_trip_and_rejects)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *padded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    const char *bare[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *p = tun_base64_encode(in[i], strlen(in[i]), true);
        char *b = tun_base64_encode(in[i], strlen(in[i]), false);
        cr_assert_str_eq(p, padded[i]);
        cr_assert_str_eq(b, bare[i]);
        size_t n;
        uint8_t *d = tun_base64_decode(p, strlen(p), &n);
        cr_assert_eq(n, strlen(in[i]));
        cr_assert(memcmp(d, in[i], n) == 0);
        free(d);
        d = tun_base64_decode(b, strlen(b), &n);
        cr_assert_eq(n, strlen(in[i]));
        free(d);
        free(p);
        free(b);
    }
    size_t n;
    cr_assert_null(tun_base64_decode("Zm9v!", 5, &n));
    cr_assert_null(tun_base64_decode("Zm9v\r", 5, &n));
    cr_assert_null(tun_base64_decode("Z", 1, &n));
}

/* The hashes come from libcrypto; an empty key (a hashed known_hosts entry
 * with an empty salt) still gives HMAC's value, not an error. */
Test(tunnel_hash, hmac_sha1_empty_key_and_message)
{
    uint8_t mac[20];
    tun_hmac_sha1("", 0, "", 0, mac);
    cr_assert_str_eq(hex(mac, 20), "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d");
}

/* base64 goes through EVP_DecodeBlock, which is looser than known_hosts
 * needs: these are the cases tun_base64_decode handles around it. */
Test(tunnel_hash, base64_decode_edges_evp_does_not_check)
{
    size_t n = 99;
    /* The length is the data's: padding is not counted. */
    uint8_t *d = tun_base64_decode("Zg==", 4, &n);
    cr_assert_not_null(d);
    cr_assert_eq(n, 1);
    cr_assert_eq(d[0], 'f');
    free(d);
    d = tun_base64_decode("Zm8=", 4, &n);
    cr_assert_eq(n, 2);
    free(d);
    /* Padding: optional, however much trails; never inside the text. */
    d = tun_base64_decode("Zg", 2, &n);
    cr_assert_eq(n, 1);
    free(d);
    d = tun_base64_decode("Zg=====", 7, &n);
    cr_assert_not_null(d);
    cr_assert_eq(n, 1);
    free(d);
    d = tun_base64_decode("====", 4, &n);
    cr_assert_not_null(d);
    cr_assert_eq(n, 0);
    free(d);
    cr_assert_null(tun_base64_decode("Zg==Zm9v", 8, &n));
    cr_assert_null(tun_base64_decode("Z=9v", 4, &n));
    cr_assert_null(tun_base64_decode("=Zm9v", 5, &n));
    /* Characters outside the alphabet, including the blanks, newlines and
     * '-' that EVP_DecodeBlock skips at either end, and a NUL. */
    cr_assert_null(tun_base64_decode(" Zm9v", 5, &n));
    cr_assert_null(tun_base64_decode("\tZm9v", 5, &n));
    cr_assert_null(tun_base64_decode("Zm9v\n", 5, &n));
    cr_assert_null(tun_base64_decode("Zm9v-", 5, &n));
    cr_assert_null(tun_base64_decode("Zm9v ", 5, &n));
    cr_assert_null(tun_base64_decode("Zm\0v", 4, &n));
    cr_assert_null(tun_base64_decode("Zm9_", 4, &n));
    cr_assert_null(tun_base64_decode("Zm9\xc3", 4, &n));
    /* Lengths no base64 text has: 4k+1 characters before the padding. */
    cr_assert_null(tun_base64_decode("Zm9vY", 5, &n));
    cr_assert_null(tun_base64_decode("Zm9vY===", 8, &n));
    /* Only LEN characters are read: what follows is not looked at. */
    d = tun_base64_decode("Zm9v!!!!", 4, &n);
    cr_assert_not_null(d);
    cr_assert_eq(n, 3);
    free(d);
    /* The empty text is zero bytes, not an error. */
    d = tun_base64_decode("", 0, &n);
    cr_assert_not_null(d);
    cr_assert_eq(n, 0);
    free(d);
}

/* ---- key blobs and fingerprints ------------------------------------------- */

Test(tunnel_keys, fingerprints_as_ssh_keygen_prints_them)
{
    size_t n;
    uint8_t *b = blob_of(ED25519_B64, &n);
    cr_assert_str_eq(tun_fingerprint(b, n), ED25519_FP);
    cr_assert_str_eq(tun_blob_type(b, n), "ssh-ed25519");
    free(b);
    b = blob_of(ECDSA_B64, &n);
    cr_assert_str_eq(tun_fingerprint(b, n), ECDSA_FP);
    cr_assert_str_eq(tun_blob_type(b, n), "ecdsa-sha2-nistp256");
    /* No padding, as OpenSSH prints it. */
    cr_assert_null(strchr(tun_fingerprint(b, n), '='));
    free(b);
    b = blob_of(ED25519_OTHER_B64, &n);
    cr_assert_str_eq(tun_fingerprint(b, n), ED25519_OTHER_FP);
    free(b);
}

Test(tunnel_keys, malformed_blobs_have_no_type)
{
    const uint8_t short_len[] = {0, 0, 0};
    const uint8_t too_long[] = {0, 0, 0, 9, 's', 's', 'h'};
    const uint8_t empty[] = {0, 0, 0, 0};
    const uint8_t binary[] = {0, 0, 0, 2, 0x01, 0x02};
    cr_assert_null(tun_blob_type(short_len, sizeof short_len));
    cr_assert_null(tun_blob_type(too_long, sizeof too_long));
    cr_assert_null(tun_blob_type(empty, sizeof empty));
    cr_assert_null(tun_blob_type(binary, sizeof binary));
    cr_assert_null(tun_blob_type(NULL, 0));
    cr_assert_str_eq(tun_type_short("ssh-ed25519"), "ed25519");
    cr_assert_str_eq(tun_type_short("ecdsa-sha2-nistp384"), "ecdsa");
    cr_assert_str_eq(tun_type_short("ssh-rsa"), "rsa");
}

/* ---- known_hosts ------------------------------------------------------------ */

static tun_kh_status check(const char *text, const char *host, int port, const char *b64,
                           int *line, char **types)
{
    size_t n = 0;
    uint8_t *b = b64 ? blob_of(b64, &n) : NULL;
    tun_kh_result r;
    tun_kh_check(text, host, port, b, n, &r);
    if (line)
        *line = r.line;
    if (types)
        *types = strdup(r.known_types);
    tun_kh_result_free(&r);
    free(b);
    return r.status;
}

Test(tunnel_known_hosts, lookup_names)
{
    cr_assert_str_eq(tun_kh_name("Bastion.Example.COM", 22), "bastion.example.com");
    cr_assert_str_eq(tun_kh_name("10.0.0.5", 2222), "[10.0.0.5]:2222");
    cr_assert_str_eq(tun_kh_name("::1", 2222), "[::1]:2222");
}

Test(tunnel_known_hosts, plain_entries_match_changed_unknown)
{
    const char *text = "# comment line\n"
                       "\n"
                       "bastion.example.com ssh-ed25519 " ED25519_B64 " root@bastion\n";
    int line;
    cr_assert_eq(check(text, "bastion.example.com", 22, ED25519_B64, &line, NULL), TUN_KH_MATCH);
    cr_assert_eq(line, 3);
    cr_assert_eq(check(text, "BASTION.example.com", 22, ED25519_B64, NULL, NULL), TUN_KH_MATCH);
    cr_assert_eq(check(text, "bastion.example.com", 22, ED25519_OTHER_B64, &line, NULL),
                 TUN_KH_CHANGED);
    cr_assert_eq(line, 3);
    cr_assert_eq(check(text, "other.example.com", 22, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
    cr_assert_eq(check("", "bastion.example.com", 22, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
    cr_assert_eq(check(NULL, "bastion.example.com", 22, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
}

Test(tunnel_known_hosts, another_key_also_recorded_still_matches)
{
    const char *text = "h ssh-ed25519 " ED25519_OTHER_B64 "\n"
                       "h ssh-ed25519 " ED25519_B64 "\n";
    int line;
    cr_assert_eq(check(text, "h", 22, ED25519_B64, &line, NULL), TUN_KH_MATCH);
    cr_assert_eq(line, 2);
}

Test(tunnel_known_hosts, port_entries_never_fall_back_to_the_bare_host)
{
    /* libssh2_knownhost_checkp would use the bare entry for port 2222 and
     * call a different key "changed"; OpenSSH does not. */
    const char *bare = "127.0.0.1 ssh-ed25519 " ED25519_OTHER_B64 "\n";
    cr_assert_eq(check(bare, "127.0.0.1", 2222, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
    cr_assert_eq(check(bare, "127.0.0.1", 2222, ED25519_OTHER_B64, NULL, NULL), TUN_KH_UNKNOWN);
    const char *ported = "[127.0.0.1]:2222 ssh-ed25519 " ED25519_B64 "\n" "127.0.0.1 ssh-ed25519 "
                         ED25519_OTHER_B64 "\n";
    cr_assert_eq(check(ported, "127.0.0.1", 2222, ED25519_B64, NULL, NULL), TUN_KH_MATCH);
    cr_assert_eq(check(ported, "127.0.0.1", 22, ED25519_OTHER_B64, NULL, NULL), TUN_KH_MATCH);
    cr_assert_eq(check(ported, "127.0.0.1", 22, ED25519_B64, NULL, NULL), TUN_KH_CHANGED);
    /* Port 22 written out is the bare name. */
    const char *p22 = "[127.0.0.1]:22 ssh-ed25519 " ED25519_B64 "\n";
    cr_assert_eq(check(p22, "127.0.0.1", 22, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
}

Test(tunnel_known_hosts, hashed_entries)
{
    char *text = strdup(HASHED_LOCAL_22999 " ssh-ed25519 " ED25519_B64 "\n"
                        HASHED_BASTION " ecdsa-sha2-nistp256 " ECDSA_B64 "\n");
    int line;
    cr_assert_eq(check(text, "127.0.0.1", 22999, ED25519_B64, &line, NULL), TUN_KH_MATCH);
    cr_assert_eq(line, 1);
    cr_assert_eq(check(text, "bastion.example.com", 22, ECDSA_B64, &line, NULL), TUN_KH_MATCH);
    cr_assert_eq(line, 2);
    cr_assert_eq(check(text, "127.0.0.1", 22998, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
    cr_assert_eq(check(text, "127.0.0.1", 22, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
    cr_assert_eq(check(text, "127.0.0.1", 22999, ED25519_OTHER_B64, NULL, NULL), TUN_KH_CHANGED);
    /* A damaged hash is no entry at all. */
    const char *bad = "|1|xwVN3PN7Ylm7VJIt9t8ILVRVmQw=|AAAA ssh-ed25519 " ED25519_B64 "\n"
                      "|1|!!!|/OpOVZnmS43Af76wKId+u730YrU= ssh-ed25519 " ED25519_B64 "\n"
                      "|1|nobar ssh-ed25519 " ED25519_B64 "\n";
    cr_assert_eq(check(bad, "127.0.0.1", 22999, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
    free(text);
}

Test(tunnel_known_hosts, patterns_lists_and_negation)
{
    const char *text = "!bad.example.com,*.example.com ssh-ed25519 " ED25519_B64 "\n"
                       "db?.internal,10.0.0.* ssh-ed25519 " ED25519_B64 "\n";
    cr_assert_eq(check(text, "bastion.example.com", 22, ED25519_B64, NULL, NULL), TUN_KH_MATCH);
    cr_assert_eq(check(text, "bad.example.com", 22, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
    cr_assert_eq(check(text, "example.com", 22, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
    cr_assert_eq(check(text, "db1.internal", 22, ED25519_B64, NULL, NULL), TUN_KH_MATCH);
    cr_assert_eq(check(text, "db12.internal", 22, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
    cr_assert_eq(check(text, "10.0.0.7", 22, ED25519_B64, NULL, NULL), TUN_KH_MATCH);
    /* "[h]:p" patterns with wildcards, as OpenSSH allows. */
    const char *ported = "[10.0.0.*]:2222 ssh-ed25519 " ED25519_B64 "\n";
    cr_assert_eq(check(ported, "10.0.0.7", 2222, ED25519_B64, NULL, NULL), TUN_KH_MATCH);
    cr_assert_eq(check(ported, "10.0.0.7", 2223, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
}

Test(tunnel_known_hosts, markers_and_unreadable_lines)
{
    const char *text = "@cert-authority *.example.com ssh-ed25519 " ED25519_OTHER_B64 "\n"
                       "garbage\n"
                       "h 1024 35 1234567890\n" /* an SSH1 key */
                       "h ssh-ed25519 !!!notbase64!!!\n"
                       "h ssh-rsa " ED25519_B64 "\n" /* type and blob disagree */
                       "h.example.com ssh-ed25519 " ED25519_B64 "\r\n";
    cr_assert_eq(check(text, "h.example.com", 22, ED25519_B64, NULL, NULL), TUN_KH_MATCH);
    cr_assert_eq(check(text, "h", 22, ED25519_B64, NULL, NULL), TUN_KH_UNKNOWN);
    cr_assert_eq(check(text, "ca.example.com", 22, ED25519_OTHER_B64, NULL, NULL), TUN_KH_UNKNOWN);

    const char *revoked = "@revoked * ssh-ed25519 " ED25519_B64 "\n"
                          "h ssh-ed25519 " ED25519_B64 "\n";
    int line;
    cr_assert_eq(check(revoked, "h", 22, ED25519_B64, &line, NULL), TUN_KH_REVOKED);
    cr_assert_eq(line, 1);
    cr_assert_eq(check(revoked, "h", 22, ED25519_OTHER_B64, NULL, NULL), TUN_KH_CHANGED);
}

Test(tunnel_known_hosts, other_types_and_the_known_type_list)
{
    const char *text = "h ecdsa-sha2-nistp256 " ECDSA_B64 "\n"
                       "h ecdsa-sha2-nistp256 " ECDSA_B64 "\n"
                       "other ssh-ed25519 " ED25519_B64 "\n";
    char *types;
    cr_assert_eq(check(text, "h", 22, ED25519_B64, NULL, &types), TUN_KH_OTHER_TYPES);
    cr_assert_str_eq(types, "ecdsa-sha2-nistp256");
    cr_assert_eq(check(text, "h", 22, NULL, NULL, &types), TUN_KH_OTHER_TYPES);
    cr_assert_str_eq(types, "ecdsa-sha2-nistp256");
    const char *both = "h ssh-ed25519 " ED25519_B64 "\nh ecdsa-sha2-nistp256 " ECDSA_B64 "\n";
    cr_assert_eq(check(both, "h", 22, ECDSA_B64, NULL, &types), TUN_KH_MATCH);
    cr_assert_str_eq(types, "ssh-ed25519,ecdsa-sha2-nistp256");
}

Test(tunnel_known_hosts, entries_as_accept_new_writes_them)
{
    size_t n;
    uint8_t *b = blob_of(ED25519_B64, &n);
    cr_assert_str_eq(tun_kh_entry("Bastion.Example.com", 22, b, n),
                     "bastion.example.com ssh-ed25519 " ED25519_B64 "\n");
    cr_assert_str_eq(tun_kh_entry("127.0.0.1", 22999, b, n),
                     "[127.0.0.1]:22999 ssh-ed25519 " ED25519_B64 "\n");
    /* What it writes, it reads. */
    char *line = tun_kh_entry("127.0.0.1", 22999, b, n);
    cr_assert_eq(check(line, "127.0.0.1", 22999, ED25519_B64, NULL, NULL), TUN_KH_MATCH);
    free(b);
}

Test(tunnel_known_hosts, append_creates_the_file_and_keeps_lines_apart)
{
    char dir[] = "/tmp/mc-unit-kh.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *path = malloc(strlen(dir) + 40);
    sprintf(path, "%s/dot-ssh/known_hosts", dir);
    mc_error err = {0};
    cr_assert_eq(tun_kh_append(path, "a ssh-ed25519 AAAA\n", &err), 0, "%s", err.message);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    /* A file that does not end with a newline gets one first. */
    FILE *f = fopen(path, "a");
    fputs("b ssh-ed25519 BBBB", f);
    fclose(f);
    cr_assert_eq(tun_kh_append(path, "c ssh-ed25519 CCCC\n", &err), 0);
    char buf[200] = {0};
    f = fopen(path, "r");
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    cr_assert_str_eq(buf, "a ssh-ed25519 AAAA\nb ssh-ed25519 BBBB\nc ssh-ed25519 CCCC\n");
    unlink(path);
    sprintf(path, "%s/dot-ssh", dir);
    rmdir(path);
    rmdir(dir);
    /* Unwritable: an error that says where. */
    mc_error e2 = {0};
    cr_assert_eq(tun_kh_append("/proc/no-such-dir/known_hosts", "x\n", &e2), -1);
    cr_assert_eq(e2.code, MC_EXIT_CONNECT);
    cr_assert(strstr(e2.message, "/proc/no-such-dir"), "%s", e2.message);
}

/* ---- host key algorithm preference ------------------------------------------- */

#define SUPPORTED                                                                            \
    "ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,ssh-ed25519,ssh-rsa,ssh-dss," \
    "ecdsa-sha2-nistp256-cert-v01@openssh.com"

Test(tunnel_hostkey_pref, known_types_first_then_ed25519_first_no_certificates)
{
    cr_assert_str_eq(tun_hostkey_pref("", SUPPORTED),
                     "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
                     "ssh-rsa,ssh-dss");
    cr_assert_str_eq(tun_hostkey_pref("ecdsa-sha2-nistp256", SUPPORTED),
                     "ecdsa-sha2-nistp256,ssh-ed25519,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
                     "ssh-rsa,ssh-dss");
    cr_assert_str_eq(tun_hostkey_pref("ssh-ed25519,ssh-rsa", SUPPORTED),
                     "ssh-ed25519,ssh-rsa,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"
                     "ecdsa-sha2-nistp521,ssh-dss");
    /* What libssh2 cannot do is left out. */
    cr_assert_str_eq(tun_hostkey_pref("sk-ssh-ed25519@openssh.com", "ssh-ed25519"), "ssh-ed25519");
    cr_assert_str_eq(tun_hostkey_pref(NULL, ""), "");
}

/* ---- private key files ------------------------------------------------------- */

static void put_u32(mc_buf *b, uint32_t v)
{
    char c[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    mc_buf_append(b, c, 4);
}

static void put_string(mc_buf *b, const void *p, size_t n)
{
    put_u32(b, (uint32_t)n);
    mc_buf_append(b, p, n);
}

/* An OpenSSH-format private key file with the given cipher and public key
 * blob; the private part is filler (it is never decrypted here). */
static char *openssh_key(const char *cipher, const uint8_t *pub, size_t n_pub)
{
    mc_buf b = {0};
    mc_buf_append(&b, "openssh-key-v1", 15);
    put_string(&b, cipher, strlen(cipher));
    const char *kdf = strcmp(cipher, "none") == 0 ? "none" : "bcrypt";
    put_string(&b, kdf, strlen(kdf));
    put_string(&b, "", 0);
    put_u32(&b, 1);
    put_string(&b, pub, n_pub);
    put_string(&b, "0123456789abcdef0123456789abcdef", 32);
    char *b64 = tun_base64_encode(b.data, b.len, true);
    mc_buf text = {0};
    mc_buf_puts(&text, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for (size_t i = 0; i < strlen(b64); i += 70) {
        mc_buf_append(&text, b64 + i, strlen(b64 + i) < 70 ? strlen(b64 + i) : 70);
        mc_buf_putc(&text, '\n');
    }
    mc_buf_puts(&text, "-----END OPENSSH PRIVATE KEY-----\n");
    free(b64);
    mc_buf_free(&b);
    return mc_buf_steal(&text);
}

static uint8_t *fake_blob(const char *type, size_t *n)
{
    mc_buf b = {0};
    put_string(&b, type, strlen(type));
    put_string(&b, "key-material", 12);
    *n = b.len;
    return (uint8_t *)mc_buf_steal(&b);
}

static int inspect(const char *text, tun_key_info *k, const char **why)
{
    return tun_key_inspect(text, strlen(text), k, why);
}

Test(tunnel_keyfile, openssh_format_type_encryption_and_public_key)
{
    size_t n;
    uint8_t *pub = blob_of(ED25519_B64, &n);
    tun_key_info k;
    const char *why;
    cr_assert_eq(inspect(openssh_key("none", pub, n), &k, &why), 0);
    cr_assert_eq(k.format, TUN_KEY_FORMAT_OPENSSH);
    cr_assert_str_eq(k.type, "ssh-ed25519");
    cr_assert(!k.encrypted);
    cr_assert_eq(k.n_pub, n);
    cr_assert_str_eq(tun_fingerprint(k.pub, k.n_pub), ED25519_FP);
    tun_key_info_free(&k);
    cr_assert_eq(inspect(openssh_key("aes256-ctr", pub, n), &k, &why), 0);
    cr_assert(k.encrypted);
    tun_key_info_free(&k);
    size_t nr;
    uint8_t *rsa = fake_blob("ssh-rsa", &nr);
    cr_assert_eq(inspect(openssh_key("none", rsa, nr), &k, &why), 0);
    cr_assert_str_eq(k.type, "ssh-rsa");
    tun_key_info_free(&k);
    free(rsa);
    free(pub);
}

Test(tunnel_keyfile, pem_and_pkcs8)
{
    tun_key_info k;
    const char *why;
    cr_assert_eq(inspect("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
                         &k, &why), 0);
    cr_assert_eq(k.format, TUN_KEY_FORMAT_PEM);
    cr_assert_str_eq(k.type, "ssh-rsa");
    cr_assert(!k.encrypted);
    cr_assert_eq(inspect("-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                         "DEK-Info: AES-128-CBC,00\n\nMHc=\n-----END EC PRIVATE KEY-----\n",
                         &k, &why), 0);
    cr_assert_eq(strncmp(k.type, "ecdsa-", 6), 0);
    cr_assert(k.encrypted);
    cr_assert_eq(inspect("-----BEGIN DSA PRIVATE KEY-----\nMIIB\n-----END DSA PRIVATE KEY-----\n",
                         &k, &why), 0);
    cr_assert_str_eq(k.type, "ssh-dss");
    /* PKCS#8: the algorithm's OID says the type (ed25519: 1.3.101.112). */
    static const uint8_t ed_der[] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03,
                                     0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, 1, 2, 3};
    char *b64 = tun_base64_encode(ed_der, sizeof ed_der, true);
    char text[300];
    snprintf(text, sizeof text, "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n", b64);
    cr_assert_eq(inspect(text, &k, &why), 0);
    cr_assert_eq(k.format, TUN_KEY_FORMAT_PKCS8);
    cr_assert_str_eq(k.type, "ssh-ed25519");
    static const uint8_t rsa_der[] = {0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0d,
                                      0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
                                      0x01, 0x01, 0x05, 0x00};
    free(b64);
    b64 = tun_base64_encode(rsa_der, sizeof rsa_der, true);
    snprintf(text, sizeof text, "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n", b64);
    cr_assert_eq(inspect(text, &k, &why), 0);
    cr_assert_str_eq(k.type, "ssh-rsa");
    free(b64);
    cr_assert_eq(inspect("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII=\n"
                         "-----END ENCRYPTED PRIVATE KEY-----\n", &k, &why), 0);
    cr_assert(k.encrypted);
    cr_assert_str_eq(k.type, "");
}

Test(tunnel_keyfile, not_a_private_key)
{
    tun_key_info k;
    const char *why;
    cr_assert_eq(inspect("ssh-ed25519 " ED25519_B64 " me@host\n", &k, &why), -1);
    cr_assert(strstr(why, "public key"), "%s", why);
    cr_assert_eq(inspect("PuTTY-User-Key-File-3: ssh-ed25519\n", &k, &why), -1);
    cr_assert(strstr(why, "PuTTY"), "%s", why);
    cr_assert_eq(inspect("hello\n", &k, &why), -1);
    cr_assert(strstr(why, "not a private key"), "%s", why);
    cr_assert_eq(inspect("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"
                         "-----END OPENSSH PRIVATE KEY-----\n", &k, &why), -1);
    cr_assert(strstr(why, "damaged"), "%s", why);
}

Test(tunnel_keyfile, key_types_this_libssh2_cannot_use)
{
    cr_assert_null(tun_key_type_problem("ssh-ed25519"));
    cr_assert_null(tun_key_type_problem("ecdsa-sha2-nistp384"));
    cr_assert_null(tun_key_type_problem(""));
    cr_assert_not_null(tun_key_type_problem("ssh-dss"));
    cr_assert_not_null(tun_key_type_problem("sk-ssh-ed25519@openssh.com"));
    const char *rsa = tun_key_type_problem("ssh-rsa");
    if (MC_LIBSSH2_HAS_RSA_SHA2) {
        cr_assert_null(rsa);
    } else {
        cr_assert_not_null(rsa);
        cr_assert(strstr(rsa, "1.11") && strstr(rsa, "OpenSSH 8.8") && strstr(rsa, "ed25519"),
                  "%s", rsa);
    }
}

/* ---- option validation --------------------------------------------------------- */

static char *tmp_file(const char *name, const char *text)
{
    static char dir[64];
    if (!dir[0]) {
        strcpy(dir, "/tmp/mc-unit-tunnel.XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
    }
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static char secret_pp[] = "pp", secret_pw[] = "pw";

static int validate_one(const tunnel_hop *h, mc_error *err)
{
    tunnel_opts o = {.hops = h, .n_hops = 1};
    mc_error_clear(err);
    return tunnel_validate(&o, err);
}

Test(tunnel_options, required_keys_and_ranges)
{
    mc_error err = {0};
    tunnel_opts none = {0};
    cr_assert_eq(tunnel_validate(&none, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);

    tunnel_hop h = {.host = "bastion", .user = "u", .known_hosts = "/kh", .agent = true};
    cr_assert_eq(validate_one(&h, &err), 0, "%s", err.message);
    tunnel_hop bad = h;
    bad.host = "";
    cr_assert_eq(validate_one(&bad, &err), -1);
    bad = h;
    bad.port = 70000;
    cr_assert_eq(validate_one(&bad, &err), -1);
    cr_assert(strstr(err.message, "70000"), "%s", err.message);
    bad = h;
    bad.user = NULL;
    cr_assert_eq(validate_one(&bad, &err), -1);
    bad = h;
    bad.known_hosts = NULL;
    cr_assert_eq(validate_one(&bad, &err), -1);
    bad = h;
    bad.agent = false;
    cr_assert_eq(validate_one(&bad, &err), -1);
    cr_assert(strstr(err.message, "no way to authenticate"), "%s", err.message);
    cr_assert(strstr(err.hint, "private_key"), "%s", err.hint);
    bad = h;
    bad.passphrase.value = secret_pp;
    bad.passphrase.len = 2;
    cr_assert_eq(validate_one(&bad, &err), -1);
    cr_assert(strstr(err.message, "passphrase"), "%s", err.message);
    bad = h;
    bad.agent = false;
    bad.password.value = secret_pw;
    bad.password.len = 2;
    cr_assert_eq(validate_one(&bad, &err), 0);
}

Test(tunnel_options, key_files_are_checked_before_connecting)
{
    mc_error err = {0};
    size_t n;
    uint8_t *ed = blob_of(ED25519_B64, &n);
    tunnel_hop h = {.host = "bastion", .user = "u", .known_hosts = "/kh"};

    h.private_key = tmp_file("id_ed25519", openssh_key("none", ed, n));
    cr_assert_eq(validate_one(&h, &err), 0, "%s", err.message);

    h.private_key = "/nonexistent/id_ed25519";
    cr_assert_eq(validate_one(&h, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    cr_assert(strstr(err.message, "/nonexistent/id_ed25519"), "%s", err.message);

    h.private_key = tmp_file("id_ed25519.pub", "ssh-ed25519 " ED25519_B64 " me\n");
    cr_assert_eq(validate_one(&h, &err), -1);
    cr_assert(strstr(err.message, "public key"), "%s", err.message);

    /* Encrypted without a passphrase: refused now, not after connecting. */
    h.private_key = tmp_file("id_enc", openssh_key("aes256-ctr", ed, n));
    cr_assert_eq(validate_one(&h, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_AUTH);
    cr_assert(strstr(err.message, "encrypted"), "%s", err.message);
    h.passphrase.value = secret_pp;
    h.passphrase.len = 2;
    cr_assert_eq(validate_one(&h, &err), 0, "%s", err.message);
    h.passphrase.value = NULL;

    size_t nd;
    uint8_t *dss = fake_blob("ssh-dss", &nd);
    h.private_key = tmp_file("id_dsa", openssh_key("none", dss, nd));
    cr_assert_eq(validate_one(&h, &err), -1);
    cr_assert(strstr(err.message, "dsa key"), "%s", err.message);
    free(dss);
    free(ed);
}

Test(tunnel_options, rsa_key_refused_on_libssh2_1_10_before_any_connection)
{
    if (MC_LIBSSH2_HAS_RSA_SHA2)
        cr_skip_test("built against libssh2 >= 1.11: RSA keys are fine");
    size_t n;
    uint8_t *rsa = fake_blob("ssh-rsa", &n);
    tunnel_hop h = {.host = "bastion.nonexistent.invalid", .user = "u", .known_hosts = "/kh",
                    .private_key = tmp_file("id_rsa", openssh_key("none", rsa, n))};
    tunnel_opts o = {.hops = &h, .n_hops = 1};
    tunnel *t = NULL;
    mc_error err = {0};
    /* tunnel_open refuses it before resolving or connecting anything. */
    cr_assert_eq(tunnel_open(&o, "warehouse", 5439, &t, &err), -1);
    cr_assert_null(t);
    cr_assert_eq(err.code, MC_EXIT_AUTH);
    cr_assert(strstr(err.message, "cannot use the rsa key"), "%s", err.message);
    cr_assert(strstr(err.hint, "libssh2 older than 1.11"), "%s", err.hint);
    cr_assert(strstr(err.hint, "OpenSSH 8.8"), "%s", err.hint);
    cr_assert(strstr(err.hint, "ed25519 or ECDSA"), "%s", err.hint);
    /* A PEM RSA key too, and an encrypted PKCS#8 file whose .pub says RSA. */
    h.private_key = tmp_file("id_rsa_pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n"
                                           "-----END RSA PRIVATE KEY-----\n");
    mc_error_clear(&err);
    cr_assert_eq(tunnel_validate(&o, &err), -1);
    cr_assert(strstr(err.message, "rsa key"), "%s", err.message);
    char *b64 = tun_base64_encode(rsa, n, true);
    char *pubtext = malloc(strlen(b64) + 32);
    sprintf(pubtext, "ssh-rsa %s me\n", b64);
    h.private_key = tmp_file("id_p8", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII=\n"
                                      "-----END ENCRYPTED PRIVATE KEY-----\n");
    tmp_file("id_p8.pub", pubtext);
    h.passphrase.value = secret_pp;
    h.passphrase.len = 2;
    mc_error_clear(&err);
    cr_assert_eq(tunnel_validate(&o, &err), -1);
    cr_assert(strstr(err.message, "rsa key"), "%s", err.message);
    free(pubtext);
    free(b64);
    free(rsa);
}

Test(tunnel_options, progress_names_the_hop_and_step_that_failed)
{
    size_t n;
    uint8_t *dss = fake_blob("ssh-dss", &n);
    tunnel_hop hops[2] = {
        {.host = "first", .user = "u", .known_hosts = "/kh", .agent = true},
        {.host = "second", .user = "u", .known_hosts = "/kh",
         .private_key = tmp_file("id_dsa2", openssh_key("none", dss, n))},
    };
    tunnel_progress p = {.hop = 7, .step = TUNNEL_STEP_DONE};
    tunnel_opts o = {.hops = hops, .n_hops = 2, .progress = &p};
    mc_error err = {0};
    cr_assert_eq(tunnel_validate(&o, &err), -1);
    cr_assert_eq(p.hop, 1);
    cr_assert_eq(p.step, TUNNEL_STEP_AUTH);
    cr_assert(strstr(err.message, "ssh hop 2/2 second:22"), "%s", err.message);
    hops[1].private_key = NULL;
    hops[1].host = NULL;
    mc_error_clear(&err);
    cr_assert_eq(tunnel_validate(&o, &err), -1);
    cr_assert_eq(p.hop, 1);
    cr_assert_eq(p.step, TUNNEL_STEP_REACH);
    free(dss);
}

Test(tunnel_options, close_null_and_no_target)
{
    tunnel_close(NULL);
    tunnel_seal(NULL);
    cr_assert(!tunnel_failed(NULL, NULL));
    cr_assert_eq(tunnel_local_port(NULL), 0);
    tunnel_hop h = {.host = "bastion", .user = "u", .known_hosts = "/kh", .agent = true};
    tunnel_opts o = {.hops = &h, .n_hops = 1};
    tunnel *t = NULL;
    mc_error err = {0};
    cr_assert_eq(tunnel_open(&o, "", 5439, &t, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    mc_error_clear(&err);
    cr_assert_eq(tunnel_open(&o, "warehouse", 0, &t, &err), -1);
}

/* ---- what the system's ssh said (ssh_output.c) ------------------------------ */

static tun_ssh_diag diagnose(const char *text)
{
    tun_ssh_diag d;
    tun_ssh_diagnose(text, &d);
    return d;
}

Test(ssh_output, each_fault_from_opensshs_own_words)
{
    /* A jump host's changed key: the banner, then the outer ssh's noise. */
    tun_ssh_diag d = diagnose(
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
        "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n"
        "Host key for [127.0.0.1]:2222 has changed and you have requested strict checking.\n"
        "Host key verification failed.\n"
        "Connection closed by UNKNOWN port 65535\n");
    cr_assert_eq(d.fault, TUN_SSH_HOST_CHANGED);
    cr_assert_eq(d.step, TUNNEL_STEP_HOST_KEY);
    cr_assert_str_eq(d.line, "Host key for [127.0.0.1]:2222 has changed and you have requested "
                             "strict checking.");

    d = diagnose("No ED25519 host key is known for [127.0.0.1]:2222 and you have requested "
                 "strict checking.\r\nHost key verification failed.\r\n");
    cr_assert_eq(d.fault, TUN_SSH_HOST_UNKNOWN);
    cr_assert_str_eq(d.line, "No ED25519 host key is known for [127.0.0.1]:2222 and you have "
                             "requested strict checking.");

    d = diagnose("Load key \"/k/id\": invalid format\nuser@127.0.0.1: Permission denied "
                 "(publickey).\n");
    cr_assert_eq(d.fault, TUN_SSH_AUTH);
    cr_assert_eq(d.step, TUNNEL_STEP_AUTH);
    cr_assert_str_eq(d.line, "user@127.0.0.1: Permission denied (publickey).; Load key "
                             "\"/k/id\": invalid format");

    d = diagnose("ssh: Could not resolve hostname nowhere.invalid: Name or service not known\n");
    cr_assert_eq(d.fault, TUN_SSH_RESOLVE);
    d = diagnose("ssh: connect to host 127.0.0.1 port 1: Connection refused\n");
    cr_assert_eq(d.fault, TUN_SSH_REFUSED);
    cr_assert_eq(d.step, TUNNEL_STEP_REACH);
    d = diagnose("Connection timed out during banner exchange\n");
    cr_assert_eq(d.fault, TUN_SSH_TIMEOUT);
    d = diagnose("kex_exchange_identification: read: Connection reset by peer\n");
    cr_assert_eq(d.fault, TUN_SSH_HANDSHAKE);
    d = diagnose("/tmp/x/ssh_config: line 3: Bad configuration option: hostnam\n"
                 "/tmp/x/ssh_config: terminating, 1 bad configuration options\n");
    cr_assert_eq(d.fault, TUN_SSH_CONFIG);
    cr_assert_eq(d.step, TUNNEL_STEP_PROGRAM);

    /* Forwarding: the channel's own failure, not the "Connection refused"
     * inside it. */
    d = diagnose("channel 2: open failed: connect failed: Connection refused\n");
    cr_assert_eq(d.fault, TUN_SSH_FWD_CONNECT);
    cr_assert_eq(d.step, TUNNEL_STEP_DONE);
    d = diagnose("channel 2: open failed: administratively prohibited: open failed\n");
    cr_assert_eq(d.fault, TUN_SSH_FWD_PROHIBITED);
    d = diagnose("bind [127.0.0.1]:40000: Address already in use\n");
    cr_assert_eq(d.fault, TUN_SSH_FWD_BIND);

    /* Nothing known: the last line, as it is. */
    d = diagnose("Warning: Permanently added '[127.0.0.1]:2222' (ED25519) to the list of known "
                 "hosts.\nsomething new\n\n");
    cr_assert_eq(d.fault, TUN_SSH_UNRECOGNISED);
    cr_assert_str_eq(d.line, "something new");
    d = diagnose("");
    cr_assert_eq(d.fault, TUN_SSH_UNRECOGNISED);
    cr_assert_str_eq(d.line, "");
}
