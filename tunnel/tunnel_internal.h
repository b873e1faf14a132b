/*
 * tunnel_internal.h — what the tunnel's files share, for the .c files in
 * tunnel/ and the tunnel's unit tests only; nothing else includes this.
 *
 * The first part is pure and unit-tested: hashes and base64, SSH key blobs
 * and their fingerprints (digest.c), known_hosts as OpenSSH reads and writes
 * it and the host key algorithm preference (known_hosts.c), private key file
 * inspection and loading (keyfile.c).  No I/O there but reading files whole
 * and the known_hosts append; no libssh2 call.
 *
 * The second part is the running tunnel: its structures and the functions
 * hop.c, loop.c, relay.c and tunnel.c call in each other.  "Rule N" is the
 * numbered list at the top of loop.c; the relay state diagram is relay.c's.
 */
#ifndef MC_TUNNEL_INTERNAL_H
#define MC_TUNNEL_INTERNAL_H

#include "tunnel.h"

#include <libssh2.h>
#include <pthread.h>

/* ---- hashes and base64 (digest.c) --------------------------------------- */

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

/* ---- key blobs (digest.c) ----------------------------------------------- */

/* The key type a public key blob names ("ssh-ed25519",
 * "ecdsa-sha2-nistp256", ...), malloc'd; NULL when the blob is malformed. */
char *tun_blob_type(const uint8_t *blob, size_t n);
/* An SSH wire string at *p (uint32 length, bytes); advances *p. */
bool tun_read_string(const uint8_t **p, const uint8_t *end, const uint8_t **s, size_t *n);
static inline uint32_t tun_load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
/* "SHA256:" and the unpadded base64 of the blob's SHA-256, as
 * `ssh-keygen -l` prints it; malloc'd. */
char *tun_fingerprint(const uint8_t *blob, size_t n);
/* The short name ssh-keyscan -t and people use: "ed25519", "ecdsa", "rsa". */
const char *tun_type_short(const char *type);

/* ---- known_hosts (known_hosts.c) ------------------------------------------ */

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
/* known_hosts as text, malloc'd; a missing file is an empty one (NULL, with
 * a warning logged, when it cannot be read). */
char *tun_kh_read(const char *path);
/* The "keytype base64" pair at *p (advanced past it) of a known_hosts line or
 * a .pub file: the decoded blob (*n_out bytes) and its type (*type_out),
 * both malloc'd, when the base64 is sound and the blob names the type it is
 * filed under; NULL otherwise (SSH1 keys, garbage). */
uint8_t *tun_key_field(const char **p, const char *end, char **type_out, size_t *n_out);
/* Is ITEM (N bytes) one of the comma-separated LIST (may be NULL)? */
bool tun_list_has(const char *list, const char *item, size_t n);
/* Appends LINE to the file at PATH, creating it (0600) and its directory
 * (0700) when missing, after a newline if the file does not end with one. */
int tun_kh_append(const char *path, const char *line, mc_error *err);

/* ---- private key files (keyfile.c) ------------------------------------ */

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
/* The whole file at PATH, malloc'd and NUL-terminated (*len_out bytes, may be
 * NULL); NULL with *errno_out set when it cannot be read. */
char *tun_read_file(const char *path, size_t *len_out, int *errno_out);
/* Reads a hop's key file (MC_EXIT_CONFIG when unreadable or not a private
 * key) into INFO; the .pub beside it supplies the public key when the key
 * file does not carry it in clear and the two agree.  *fp_out (may be NULL)
 * receives the public key's fingerprint, or NULL when unknown. */
int tun_key_load(const char *label, const tunnel_hop *h, tun_key_info *info, char **fp_out,
                 mc_error *err);
/* NULL when libssh2 in this build can authenticate with a key of TYPE
 * against a current OpenSSH, else why not (static text). */
const char *tun_key_type_problem(const char *type);

/* ---- host key algorithms (known_hosts.c) ------------------------------ */

/* The host key algorithm preference for libssh2: the types known_hosts
 * holds for the host first (KNOWN, comma-separated, file order), then the
 * rest of SUPPORTED with ed25519 first, as OpenSSH orders them.  Types not
 * in SUPPORTED are dropped.  malloc'd. */
char *tun_hostkey_pref(const char *known, const char *supported);

/* ---- what ssh said (ssh_output.c) -------------------------------------- */

/* What went wrong, read from the output of the system's ssh. */
typedef enum tun_ssh_fault {
    TUN_SSH_UNRECOGNISED = 0, /* nothing below: the last line is quoted */
    TUN_SSH_CONFIG,           /* ssh rejected its configuration */
    TUN_SSH_RESOLVE,          /* a host name does not resolve */
    TUN_SSH_REFUSED,          /* TCP connection refused */
    TUN_SSH_TIMEOUT,          /* no answer (connect, banner) */
    TUN_SSH_HANDSHAKE,        /* closed or reset before login, no common algorithm */
    TUN_SSH_HOST_UNKNOWN,     /* strict checking and no key recorded */
    TUN_SSH_HOST_CHANGED,     /* another key recorded */
    TUN_SSH_HOST_REVOKED,     /* the key is @revoked */
    TUN_SSH_HOST_KEY,         /* "Host key verification failed" otherwise */
    TUN_SSH_AUTH,             /* the login was refused */
    TUN_SSH_FWD_PROHIBITED,   /* a channel open refused: administratively prohibited */
    TUN_SSH_FWD_CONNECT,      /* a channel open failed: the far end did not connect */
    TUN_SSH_FWD_BIND,         /* the local port could not be listened on */
} tun_ssh_fault;

typedef struct tun_ssh_diag {
    tun_ssh_fault fault;
    tunnel_step step;         /* the check row it belongs to (REACH, HOST_KEY,
                               * AUTH; PROGRAM for CONFIG; DONE for the
                               * forwarding faults) */
    char line[600];           /* ssh's own words for it, trimmed; "" when silent */
} tun_ssh_diag;

/* Reads OUTPUT (ssh's stderr, every host of a ProxyJump chain included)
 * for the most telling fault.  Pure. */
void tun_ssh_diagnose(const char *output, tun_ssh_diag *out);

/* ==== the running tunnel (tunnel/ only; the integration tests cover it) === */

#define RELAY_BUF (64 * 1024)   /* per connection and direction (loop.c rule 6) */
#define OUTQ_HIGH (256 * 1024)  /* session output queue above which no channel
                                 * data is produced (loop.c rule 3) */
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
    uint8_t *outq;           /* loop.c rule 2: bytes the socket has not taken yet */
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
    relay *opening;          /* loop.c rule 7 */
};

/* The openssh and command transports (program.c): a program in its own
 * process group, no thread; tunnel_failed looks at the program itself. */
typedef struct tun_px tun_px;

struct tunnel {
    tunnel_via via;
    tun_px *px;              /* openssh, command; NULL for libssh2 */
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

/* The hint of a forwarded connection the target did not answer (relay.c) or
 * a client gave up on (tunnel.c); %d is the target port. */
#define TUN_HINT_TARGET_UNREACHABLE                                                         \
    "the warehouse is not reachable from the bastion: check host: and port: of the "     \
    "datastore as the bastion resolves them, that the cluster is running, and that its " \
    "security group or firewall lets the bastion in on port %d"

static inline size_t tun_outq_pending(const sess *s) { return s->outq_len - s->outq_off; }
static inline size_t tun_up_room(const relay *r) { return RELAY_BUF - (r->up_len - r->up_off); }
static inline size_t tun_down_room(const relay *r)
{
    return RELAY_BUF - (r->down_len - r->down_off);
}

/* ---- program.c: the openssh and command transports ------------------------ */

int tun_px_validate(const tunnel_opts *o, mc_error *err);
int tun_px_open(const tunnel_opts *o, const char *target_host, int target_port, tunnel **out,
                mc_error *err);
void tun_px_seal(tunnel *t);
bool tun_px_failed(tunnel *t, mc_error *err_out);
void tun_px_close(tunnel *t);

/* ---- tunnel.c: errors ----------------------------------------------------- */

/* An error while setting up (before ready: tunnel_open returns it) or of the
 * running tunnel (tunnel_failed returns it); the first one wins. */
void tun_report(tunnel *t, int code, const char *hint, const char *fmt, ...) MC_PRINTF(4, 5);
/* libssh2's last error on SSH (may be NULL), or a placeholder; borrowed. */
const char *tun_ssh_message(LIBSSH2_SESSION *ssh);

/* ---- hop.c: setting up a hop ------------------------------------------------ */

/* Connects, verifies and authenticates hop S; reports why not. */
int tun_setup_hop(tunnel *t, sess *s);
void tun_hop_wipe_secrets(hop_own *h);

/* ---- loop.c: the loop, sessions, the listener ------------------------------- */

/* Makes libssh2 send and receive through the hooks of rule 2. */
void tun_set_io_hooks(LIBSSH2_SESSION *ssh);
/* One poll() and everything it allows; see loop.c. */
void tun_loop_once(tunnel *t, sess *extra, double deadline);
/* Why S's connection dropped, for messages (BUF holds it when needed). */
const char *tun_drop_reason(sess *s, char *buf, size_t n);
/* S and the hops behind it are lost: connections closed, error recorded. */
void tun_sess_die(sess *s, const char *why);
void tun_close_listener(tunnel *t);

/* ---- relay.c: relayed connections ----------------------------------------- */

/* A QUEUED relay of local socket FD over a channel of S; CARRIES is the
 * next hop's session when FD is its socketpair end, else NULL. */
relay *tun_relay_new(tunnel *t, sess *s, int fd, sess *carries);
void tun_relay_close_fd(relay *r);
/* Unlinks and frees R; its channel, if any, is left to the session. */
void tun_relay_free(tunnel *t, relay *r);
/* Drops the connection: local socket closed, channel closed. */
void tun_relay_abort(relay *r);
void tun_local_read(relay *r);
void tun_local_write(relay *r);
void tun_channel_read(relay *r);
void tun_channel_write(relay *r);
/* Rule 7: starts or continues S's one direct-tcpip open in flight. */
void tun_serve_open(tunnel *t, sess *s);
void tun_serve_closing(tunnel *t, relay *r);

#endif
