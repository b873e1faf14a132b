/*
 * config.h — metacrawl.yml: loading (libyaml), validation and the secret
 * sources.  Every key is a row in one table in keys.c (name, type,
 * required, default); a mistake is reported with file, line and column and,
 * for a misspelt key, the key that was probably meant.  docs/configuration.md
 * is the reference for every key.
 */
#ifndef MC_CONFIG_H
#define MC_CONFIG_H

#include "mc_base.h"

/* Where a value came from, for error messages about it after loading. */
typedef struct cfg_pos {
    const char *file;
    int line, column; /* 1-based */
} cfg_pos;

/* A secret's source.  Nothing is read at load time except to check that
 * it exists (the variable is set, the file is readable); cfg_secret_resolve
 * reads the value when it is needed. */
typedef enum cfg_secret_kind {
    CFG_SECRET_NONE = 0,
    CFG_SECRET_LITERAL, /* written in the file; discouraged, allowed */
    CFG_SECRET_ENV,     /* ${env:NAME} */
    CFG_SECRET_FILE,    /* ${file:/path}; trailing newline trimmed */
    CFG_SECRET_COMMAND, /* argv list, run without a shell, stdout trimmed */
    CFG_SECRET_AWS_SM,  /* ${aws-sm:SECRET_ID} or ${aws-sm:SECRET_ID#json_key} */
} cfg_secret_kind;

typedef struct cfg_secret {
    cfg_secret_kind kind;
    char *ref;      /* LITERAL: the value (wiped by cfg_free); ENV: name; FILE: path;
                       AWS_SM: the secret's name or ARN */
    char *json_key; /* AWS_SM: the key after '#', NULL = the whole SecretString */
    char **argv;    /* COMMAND: NULL-terminated */
    size_t argc;
    /* AWS_SM: the datastore's AWS settings (its iam: block and
     * aws_endpoint_url), borrowed from the cfg_datastore */
    const struct cfg_iam *aws;
    const char *aws_endpoint_url;
    cfg_pos pos;
} cfg_secret;

/* Reads the secret now.  A missing variable, unreadable file, or a command
 * that fails (non-zero exit, killed, empty output) is a MC_EXIT_CONFIG
 * error naming the key's position.  out is wiped by the caller. */
int cfg_secret_resolve(const cfg_secret *src, mc_secret *out, mc_error *err);

typedef enum cfg_host_key_policy {
    CFG_HOST_KEY_STRICT = 0,
    CFG_HOST_KEY_ACCEPT_NEW,
} cfg_host_key_policy;

typedef struct cfg_hop {
    char *host;
    int port;               /* default 22 */
    char *user;
    char *private_key;      /* path, ~ expanded; NULL with agent or password */
    cfg_secret passphrase;
    cfg_secret password;    /* SSH password / keyboard-interactive */
    bool agent;
    char *known_hosts;      /* default ~/.ssh/known_hosts, ~ expanded */
    cfg_host_key_policy host_key_policy;
    cfg_pos pos;
} cfg_hop;

/* How the tunnel is made (docs/tunnel.md, "Three transports"). */
typedef enum cfg_tunnel_via {
    CFG_TUNNEL_LIBSSH2 = 0, /* via: libssh2, the default */
    CFG_TUNNEL_OPENSSH,     /* via: openssh */
    CFG_TUNNEL_COMMAND,     /* command: [...] */
} cfg_tunnel_via;

typedef struct cfg_tunnel {
    bool present;
    cfg_tunnel_via via;     /* via: (default libssh2), or COMMAND with command: */
    cfg_hop first;          /* the tunnel: block itself (openssh: host is an
                               ssh_config alias; port 0 and user/private_key
                               NULL leave them to ssh_config) */
    cfg_hop *jump;          /* further hops, crossed in order after first */
    size_t n_jump;
    int keepalive_s;        /* default 30 */
    char *ssh;              /* openssh: the program, default "ssh" */
    char *ssh_config;       /* openssh: path, ~ expanded; NULL = ~/.ssh/config
                               and /etc/ssh/ssh_config */
    char **command;         /* command: argv, NULL-terminated; NULL = none */
    size_t n_command;
    int start_timeout_s;    /* openssh, command: default 30 */
} cfg_tunnel;

typedef struct cfg_globs {
    char **include;         /* NULL = everything */
    size_t n_include;
    char **exclude;
    size_t n_exclude;
} cfg_globs;
/* include (empty = all) and not exclude */
bool cfg_globs_match(const cfg_globs *g, const char *name);

/* admin: an administrator's login for `grants --apply` (and for reading the
 * catalog before the crawler user exists).  Its password comes from the
 * same sources as the datastore's. */
typedef struct cfg_admin {
    bool present;           /* the admin: key was given */
    char *user;             /* required in the block */
    cfg_secret password;    /* password or password_command; NONE = libpq's own */
    cfg_pos pos;
} cfg_admin;

/* iam: temporary database credentials from AWS (docs/aws.md). */
typedef struct cfg_iam {
    bool present;
    char *cluster_identifier; /* provisioned: GetClusterCredentials; or */
    char *workgroup;          /* Serverless: GetCredentials */
    char *region;             /* NULL: AWS_REGION, AWS_DEFAULT_REGION, the profile's */
    char *db_user;            /* provisioned; NULL = the datastore's user */
    char **db_groups;
    size_t n_db_groups;
    bool auto_create;
    int duration_s;           /* 0 = AWS's default */
    char *profile;            /* a profile of the shared files, used alone */
    char *role_arn;           /* assumed with the chain's credentials */
    cfg_pos pos;
} cfg_iam;

typedef struct cfg_datastore {
    char *name;             /* [a-z0-9_-]+, unique */
    char *host;
    int port;               /* default 5439 */
    char *database;
    char *user;             /* default "metamapper" */
    char *group;            /* default "metamapper": the group grants go to */
    cfg_secret password;    /* NONE = libpq's own (PGPASSWORD, .pgpass) */
    cfg_iam iam;            /* iam: user and password from AWS before each connection */
    char **credentials_command; /* argv printing {"user","password","expiration"}; NULL = none */
    size_t n_credentials_command;
    cfg_pos credentials_command_pos;
    char *aws_endpoint_url; /* every AWS call of this datastore goes here; NULL = AWS's */
    cfg_admin admin;
    char *sslmode;          /* NULL = libpq's default / PGSSLMODE */
    cfg_globs schemas;
    cfg_globs containers;
    cfg_tunnel tunnel;
    char *schedule;         /* cron text, NULL = not scheduled */
    char *timezone;         /* default: defaults.timezone */
    double max_removed_pct; /* fail_safe.max_removed_pct, default 20 */
    bool extension_members; /* crawl tables/views owned by an extension
                               (PostgreSQL); default true */
    int connect_timeout_s;  /* default: defaults.connect_timeout */
    int statement_timeout_ms;
    int max_runtime_s;      /* default: defaults.max_runtime; 0 = none */
    int jitter_s;           /* schedule: fires start up to this late; 0 = none */
    int starting_deadline_s; /* schedule: a fire older than this is skipped; 0 = never */
    int stale_after_s;      /* no successful crawl for this long = stale; 0 = never;
                               -1 = three schedule periods (default: defaults.stale_after) */
    int retry_attempts;     /* retry.attempts: retries of a failed scheduled fire, default 0 */
    int retry_backoff_s;    /* retry.backoff: before the first retry, doubling; default 60 */
    int late_binding_timeout_ms; /* Redshift's late-binding column step, default 2m */
    cfg_pos pos;            /* of the datastore's mapping */
    cfg_pos schedule_pos;   /* of the expression's first character (inside quotes) */
    cfg_pos timezone_pos;   /* of its own timezone: value (line 0 = inherited) */
    /* ---- databases: (several databases of one cluster) ---- */
    char **databases;       /* databases: [a, b]; NULL-terminated */
    size_t n_databases;
    bool all_databases;     /* databases: "*" (listed at crawl time) */
    cfg_pos databases_pos;  /* of the databases: value */
    /* A datastore made for one database of its parent (cfg_database_target):
     * its name is cfg_database_datastore_name(parent, database); NULL for
     * the datastores of the file. */
    const struct cfg_datastore *parent;
} cfg_datastore;

typedef struct cfg_alert {
    char *name;
    unsigned on_mask;       /* bit per mc_change_kind; default all */
    char **match;           /* globs on "datastore.schema.container" */
    size_t n_match;
    bool breaking_only;
    char *webhook;          /* exactly one of webhook, file, command */
    char *file;
    char **command;         /* NULL-terminated argv */
    size_t n_command;
    char *format;           /* webhook: "json" (default) or "slack" */
    int timeout_s;          /* default 10 */
    cfg_pos pos;
} cfg_alert;

typedef struct cfg {
    char *path;             /* the file loaded */
    char *store;            /* default ./catalog.db, relative to the cwd */
    char *timezone;         /* defaults.timezone, default "UTC" */
    cfg_pos timezone_pos;   /* of defaults.timezone's value (line 0 = the default) */
    int connect_timeout_s;  /* defaults.connect_timeout, default 10 */
    int statement_timeout_ms; /* defaults.statement_timeout, default 300000 */
    int max_runtime_s;        /* defaults.max_runtime, default 3600; 0 = none */
    int stale_after_s;        /* defaults.stale_after; -1 = unset (three schedule periods) */
    int sched_max_parallel;   /* scheduler.max_parallel, default 2 */
    int sched_max_per_host;   /* scheduler.max_per_host, default 0 = no limit */
    int sched_shutdown_timeout_s; /* scheduler.shutdown_timeout, default 5m */
    cfg_datastore *datastores;
    size_t n_datastores;
    cfg_alert *alerts;
    size_t n_alerts;
} cfg;

/* Loads and validates a config file.  Every error is MC_EXIT_CONFIG with a
 * message "FILE:LINE:COLUMN: what is wrong" and, for a misspelt key, a hint
 * "did you mean 'KEY'?". */
int cfg_load(const char *path, cfg **out, mc_error *err);
/* The same from a string (tests); name is used in messages as the file. */
int cfg_load_string(const char *name, const char *text, size_t len, cfg **out,
                    mc_error *err);
void cfg_free(cfg *c); /* NULL is a no-op; wipes literal secrets */

/* The default search: ./metacrawl.yml, then
 * $XDG_CONFIG_HOME/metacrawl/metacrawl.yml (~/.config when unset).
 * Returns a malloc'd path of the first that exists, or NULL. */
char *cfg_default_path(void);

const cfg_datastore *cfg_find_datastore(const cfg *c, const char *name);

/*
 * The login of a connection to ds, resolved now: from the iam: block
 * (AWS, cached until shortly before it expires), from credentials_command,
 * or the password (password, password_command; none = libpq's own).
 * *user_out (malloc'd) is the user to log in as, NULL = ds->user; the
 * caller wipes *password.  Errors name the key's position or the AWS call.
 */
int cfg_datastore_login(const cfg_datastore *ds, char **user_out, mc_secret *password,
                        mc_error *err);

/* ---- several databases (databases:) ---------------------------------------- */

/* Whether the datastore names several databases (databases: [..] or "*"). */
bool cfg_has_databases(const cfg_datastore *ds);
/* The name a database of datastore `base` is recorded under:
 * "<base>/<database>", the database's bytes outside [A-Za-z0-9_-] written
 * %XX (upper-case hex), so that the name holds no '.', glob character,
 * '/', space or control byte of its own.  malloc'd. */
char *cfg_database_datastore_name(const char *base, const char *database);
/* The inverse of the %XX form: the database name, malloc'd, or NULL when
 * text is not exactly a form cfg_database_datastore_name writes. */
char *cfg_database_decode(const char *text);
/* A datastore for one database of parent: a copy of parent's settings that
 * borrows every string of parent except name and database, which it owns;
 * databases: cleared, parent set.  Free with cfg_database_target_free. */
void cfg_database_target(const cfg_datastore *parent, const char *database,
                         cfg_datastore *out);
void cfg_database_target_free(cfg_datastore *d); /* frees name and database only */
/* Splits "DS/DB" as typed on the command line: the config datastore DS
 * (which must have databases:) and the database DB (its recorded %XX form
 * or the name itself), malloc'd into *database_out.  NULL when name has no
 * '/' or DS is not such a datastore; *database_out is then NULL too. */
const cfg_datastore *cfg_find_database(const cfg *c, const char *name, char **database_out);

/* The commented starter file `metacrawl init` writes. */
const char *cfg_starter_text(void);
/* Writes the starter file; refuses to overwrite unless force. */
int cfg_write_starter(const char *path, bool force, mc_error *err);

/* Parses "10s", "5m", "1h", "250ms", "2d" or a bare number of seconds into
 * milliseconds; -1 when malformed. */
int64_t cfg_parse_duration_ms(const char *text);

/* NULL when metacrawl will POST to url: https://, or plain http:// to a
 * loopback host (127.0.0.0/8, ::1, localhost).  Otherwise why not, one
 * lower-case line.  Checked at load time for every webhook: key and by the
 * alerts module before it POSTs. */
const char *cfg_webhook_url_problem(const char *url);
/* The scheme and host of url as libcurl parses it (malloc'd), or -1 when it
 * cannot: the webhook rule above, and the host a delivery error names. */
int cfg_url_parts(const char *url, char **scheme, char **host);

#endif
