/*
 * aws_internal.h — what the files of crawler/aws/ share: the credentials
 * of the chain, one HTTP exchange, the reading of answers and errors.
 *
 *   http.c      one request through libcurl (SigV4 when credentials are
 *               given), the answer in one wiped buffer; the endpoint rule
 *   chain.c     the credential chain, the shared files, STS, the caches
 *   services.c  Redshift, Redshift Serverless, Secrets Manager; reading
 *               XML elements and JSON; the errors users see
 */
#ifndef MC_AWS_INTERNAL_H
#define MC_AWS_INTERNAL_H

#include "aws.h"

/* AWS credentials: an access key id, its secret and a session token. */
typedef struct awsi_creds {
    char *akid;
    mc_secret secret;
    mc_secret token;      /* value NULL: long-term keys */
    int64_t expires_at;   /* 0 = does not expire */
    char source[96];      /* "environment variables", "profile 'x' (assume role)" ... */
} awsi_creds;
void awsi_creds_free(awsi_creds *c);
void awsi_creds_copy(awsi_creds *dst, const awsi_creds *src);

enum { AWSI_BODY_MAX = 256 * 1024 };

typedef struct awsi_req {
    const char *method;              /* GET, PUT, POST */
    const char *url;
    const char *const *headers;      /* "Name: value", NULL-terminated; may be NULL */
    const char *secret_header;       /* one more header that carries a secret; may be NULL */
    const char *body;                /* POST/PUT body; may be NULL */
    const awsi_creds *sign;          /* SigV4 with these; NULL = unsigned */
    const char *region, *service;    /* for SigV4 */
    int timeout_s;                   /* whole request */
    int connect_timeout_s;
} awsi_req;

typedef struct awsi_resp {
    long status;         /* HTTP status; 0 when no answer */
    char *body;          /* NUL-terminated, wiped by awsi_resp_free */
    size_t n_body;
    char transport[256]; /* libcurl's message when there was no answer */
    bool too_large;
} awsi_resp;

/* 0 when an answer arrived (any status), -1 when none (resp->transport). */
int awsi_http(const awsi_req *q, awsi_resp *resp);
void awsi_resp_free(awsi_resp *r);

/* application/x-www-form-urlencoded escaping (RFC 3986 unreserved kept). */
void awsi_form_put(mc_buf *b, const char *name, const char *value);

/* The text of the first <tag>...</tag> of an XML answer with the five
 * entities and numeric references decoded (malloc'd), or NULL. */
char *awsi_xml_text(const char *xml, const char *tag);
/* The same into a secret (for passwords, secret keys, tokens). */
bool awsi_xml_secret(const char *xml, const char *tag, mc_secret *out);

/* An AWS error answer (XML <Error><Code>, or JSON __type / code / Code and
 * message / Message): code and message, printable ASCII only, cut short. */
void awsi_error_parts(const awsi_resp *r, char *code, size_t n_code, char *msg, size_t n_msg);

/* The region to use (o->region, AWS_REGION, AWS_DEFAULT_REGION, the profile's
 * region), malloc'd, or NULL. */
char *awsi_region(const aws_opts *o);
/* https://HOST.REGION.amazonaws.com/ or the override (malloc'd). */
char *awsi_service_url(const aws_opts *o, const char *host_prefix, const char *region);

/* Registers aws_cache_clear with atexit, once. */
void awsi_wipe_at_exit(void);

/* Credentials for signing: the chain (or o->profile), then o->role_arn. */
int awsi_credentials(const aws_opts *o, const char *region, awsi_creds *out, mc_error *err);

/* The message and hint of a failed AWS call.  what: "redshift:GetClusterCredentials
 * for cluster 'x'"; resource_hint: what to check when AWS says it does not
 * exist.  Returns -1. */
int awsi_fail(const awsi_resp *r, const char *what, const awsi_creds *c, const char *region,
              const char *not_found_hint, const char *denied_hint, mc_error *err);
/* No answer from url at all. */
int awsi_fail_transport(const awsi_resp *r, const char *what, const char *url, mc_error *err);

#endif
