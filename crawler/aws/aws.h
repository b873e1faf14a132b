/*
 * aws.h — metacrawl's own AWS client: temporary database credentials for
 * Redshift (GetClusterCredentials for a provisioned cluster, Serverless
 * GetCredentials for a workgroup), values from Secrets Manager, and the
 * standard AWS credential chain that signs those requests (environment,
 * shared files and profiles with assume-role, web identity, the ECS
 * container endpoint, EC2 IMDSv2).  Requests are signed with SigV4 by
 * libcurl; answers are read with jansson (JSON) or by picking the few
 * elements needed out of AWS's XML.  No libcurl or jansson type leaves the
 * folder.  docs/aws.md is the user's side of all this.
 *
 * Secrets: every password, secret key and session token is held in an
 * mc_secret (or in buffers wiped before they are freed) and never
 * formatted into a message.  Credentials are cached per process until five
 * minutes before they expire; the cache is safe across threads and wiped
 * at exit (aws_cache_clear).
 */
#ifndef MC_AWS_H
#define MC_AWS_H

#include "mc_base.h"

/* Where and as whom: every field may be NULL. */
typedef struct aws_opts {
    const char *region;       /* NULL: AWS_REGION, AWS_DEFAULT_REGION, the profile's region */
    const char *profile;      /* a named profile of the shared files: used alone, no chain */
    const char *role_arn;     /* assumed (STS AssumeRole) with the chain's credentials */
    const char *endpoint_url; /* every AWS service at this URL (https, or http on loopback) */
} aws_opts;

/* What to ask Redshift for: cluster_identifier or workgroup. */
typedef struct aws_db_request {
    const char *cluster_identifier; /* provisioned: GetClusterCredentials */
    const char *workgroup;          /* Serverless: GetCredentials */
    const char *db_user;            /* provisioned: required */
    const char *db_name;            /* NULL: any database */
    char *const *db_groups;         /* provisioned: joined for the session */
    size_t n_db_groups;
    bool auto_create;               /* provisioned: create db_user if missing */
    int duration_s;                 /* 0: AWS's default; else 900..3600 */
} aws_db_request;

typedef struct aws_db_login {
    char *user;                     /* as the database knows it: "IAM:alice" */
    mc_secret password;
    int64_t expires_at;             /* unix seconds; 0 = unknown */
    bool cached;                    /* served from this process's cache */
} aws_db_login;

/* User and password for a Redshift login, from the cache or from AWS.  Errors
 * name the AWS error code and what to change: MC_EXIT_AUTH for credentials and
 * permissions, MC_EXIT_CONFIG for a cluster, workgroup or region that does not
 * exist, MC_EXIT_CONNECT when AWS cannot be reached. */
int aws_db_credentials(const aws_opts *o, const aws_db_request *r, aws_db_login *out,
                       mc_error *err);
void aws_db_login_free(aws_db_login *l); /* wipes the password; safe twice */

/* Secrets Manager GetSecretValue: the SecretString of secret_id (a name or an
 * ARN, whose region then wins), or with json_key the string (or number) under
 * that key of the JSON object it holds. */
int aws_secret_value(const aws_opts *o, const char *secret_id, const char *json_key,
                     mc_secret *out, mc_error *err);

/*
 * The output of a credentials_command: a JSON object with a user name, a
 * password and optionally when it expires, written as metacrawl's own
 * {"user","password","expiration"}, as `aws redshift get-cluster-credentials`
 * prints it ({"DbUser","DbPassword","Expiration"}) or as Serverless
 * get-credentials does ({"dbUser","dbPassword","expiration"}).  NULL on
 * success, else what is wrong (never quoting the text).
 */
const char *aws_parse_login_json(const char *text, size_t len, aws_db_login *out);

/* NULL when metacrawl will send AWS requests and credentials to url: https,
 * or plain http to a loopback host (127.0.0.0/8, ::1, localhost); else why
 * not, one lower-case line. */
const char *aws_endpoint_url_problem(const char *url);

/* "2026-12-02T15:04:05Z" (fractions and a +hh:mm offset allowed), or a number
 * of seconds since 1970: unix seconds, or -1. */
int64_t aws_parse_time(const char *text);

/* Wipes and forgets every cached credential. */
void aws_cache_clear(void);

#endif
