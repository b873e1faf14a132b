/*
 * grants.h — the grants module (crawler/grants/): what the crawler user
 * needs on a datastore, written as SQL and checked.  Its two commands'
 * bodies are in the command layer (crawler/cli/cmd_grants.c,
 * cmd_check.c); this header is all they see.
 *
 *  - `metacrawl grants`: the group-based grant SQL in the dialect of the
 *    server — identifier quoting, the plan of statements, the SQL text
 *    (plan.c; no connection, so the unit tests and the golden files drive
 *    it directly), and one run against a datastore: connect, read the
 *    scope, print or --apply (apply.c, scope.c).
 *  - `metacrawl check`: a datastore tested step by step, each step an item
 *    of a checklist with its status and, when it failed, the fix (check.c),
 *    with the fixes and the reading of pg_default_acl's ACL text (acl.c).
 *
 * docs/redshift-setup.md explains the SQL to a reader; docs/commands.md
 * documents the commands.
 */
#ifndef MC_GRANTS_H
#define MC_GRANTS_H

#include "mc_base.h"

/* The datastore as configured (config.h); named by its struct tag so that
 * this header does not bring config.h's names (cfg, ...) to every user. */
struct cfg_datastore;
struct cfg_hop;

typedef enum grants_dialect {
    GRANTS_POSTGRESQL = 0,
    GRANTS_REDSHIFT,
} grants_dialect;

/* "postgresql" / "redshift" -> dialect; -1 for anything else. */
int grants_dialect_parse(const char *name);
const char *grants_dialect_name(grants_dialect d);

/*
 * Appends name as a double-quoted identifier ("" for a quote inside).
 * Every identifier metacrawl writes goes through here, whatever it looks
 * like, so a name with quotes, spaces, upper case, ';' or non-ASCII
 * letters is always one identifier.  Control characters (a newline in a
 * PostgreSQL schema name) are written as U&"...\000a..." so the text stays
 * on one line and cannot drive a terminal; Redshift has no such names and
 * no U& syntax, so there they are refused: returns -1 and appends nothing.
 */
int grants_quote_ident(mc_buf *b, grants_dialect d, const char *name);
/* A PostgreSQL string literal: '...' with '' for a quote, or E'...' when
 * the value holds a backslash or a control character (valid whatever
 * standard_conforming_strings says). */
void grants_quote_literal(mc_buf *b, const char *value);

/* The group the grants go to.  Redshift: the configured group (groups and
 * users are separate there).  PostgreSQL: users and groups are both roles
 * in one namespace, so when the group has the crawler user's own name the
 * group role is "<group>_readers" (shortened to 63 bytes).  malloc'd. */
char *grants_group_role(grants_dialect d, const char *user, const char *group);

/* Splits a --schema / --owner list: names separated by commas, each
 * written as is or double-quoted as in SQL ("a,b" keeps its comma, ""
 * is a quote); spaces around an unquoted name are dropped.  Returns the
 * number of names (*out NULL-terminated, malloc'd) or -1 when the list is
 * malformed or has an empty name. */
int grants_parse_name_list(const char *text, char ***out);
void grants_free_names(char **names);

/* What the catalog says about an object; UNKNOWN without a connection. */
typedef enum grants_known {
    GRANTS_UNKNOWN = 0,
    GRANTS_ABSENT,
    GRANTS_PRESENT,
} grants_known;

/* How the crawler user's password appears in the SQL. */
typedef enum grants_password {
    /* No password source: psql's :'crawler_password' placeholder, which
     * the reader replaces (or sets with psql -v); unreplaced it is a
     * syntax error, never a weak password. */
    GRANTS_PW_PLACEHOLDER = 0,
    /* --password-from: printed as [redacted] (also a syntax error when
     * run by hand); --apply sends exec_password. */
    GRANTS_PW_SOURCE,
    /* The user exists and no source was given: its password is left as it
     * is and no statement touches it. */
    GRANTS_PW_KEEP,
} grants_password;

typedef struct grants_schema_in {
    const char *name;
    bool external; /* Redshift external schema: USAGE only (no table grants there) */
    int external_kind; /* its eskind (SVV_EXTERNAL_SCHEMAS): 1 Spectrum, 3 federated
                          PostgreSQL, 9 Kinesis...; 0 when not known */
} grants_schema_in;

/* Everything the SQL is made from.  Names are borrowed. */
typedef struct grants_input {
    grants_dialect dialect;
    const char *datastore;
    const char *user;
    const char *group;                  /* configured; see grants_group_role */
    const grants_schema_in *schemas;    /* in scope, in the order to print */
    size_t n_schemas;
    const char *const *owners;          /* distinct owners of tables in scope */
    size_t n_owners;
    bool owners_known;                  /* false: offline without --owner */
    grants_known user_exists, group_exists, member; /* from the live catalog */
    grants_password password;
    const char *password_source;        /* "env:NAME" etc., for the comment */
    const char *exec_password;          /* what --apply sends (a hash); NULL when printing */
} grants_input;

typedef enum grants_stmt_kind {
    GRANTS_SET_CASE,      /* Redshift: SET enable_case_sensitive_identifier */
    GRANTS_CREATE_USER,
    GRANTS_SET_PASSWORD,
    GRANTS_CREATE_GROUP,
    GRANTS_ADD_MEMBER,
    GRANTS_USAGE,
    GRANTS_SELECT,
    GRANTS_DEFAULT_PRIVILEGES,
} grants_stmt_kind;

typedef struct grants_stmt {
    grants_stmt_kind kind;
    char *comment;    /* lines printed before it ("-- " added); NULL for none */
    char *sql;        /* as printed, without the ';' (password redacted);
                       * NULL: a comment only, nothing to run */
    char *exec_sql;   /* what --apply sends when it differs; wiped when freed */
    const char *schema; /* USAGE/SELECT: the schema (borrowed from the input) */
    bool skipped;     /* already done per the catalog: printed as a comment, not run */
    bool may_fail;    /* offline Redshift CREATE: "already exists" is harmless */
} grants_stmt;

typedef struct grants_plan {
    grants_dialect dialect;
    char *group_role;
    bool group_renamed;      /* PostgreSQL: group role != configured group */
    char *header;            /* the comment block at the top, "-- " lines */
    grants_stmt *stmts;
    size_t n_stmts;
} grants_plan;

/* Builds the statements.  Fails (usage error) only for a name the dialect
 * cannot write. */
int grants_build(const grants_input *in, grants_plan *out, mc_error *err);
/* The whole SQL script: header, comments, statements with ';'. */
void grants_plan_text(const grants_plan *p, mc_buf *out);
/* One statement as printed: its comment lines and "sql;" (or, skipped,
 * "-- sql;"), each line ending in a newline. */
void grants_stmt_text(const grants_stmt *s, mc_buf *out);
void grants_plan_free(grants_plan *p); /* wipes exec_sql; NULL is a no-op */

/* What a Redshift external schema is, by its eskind (SVV_EXTERNAL_SCHEMAS):
 * "Spectrum, data catalog", "federated PostgreSQL", "Kinesis stream"...;
 * NULL for 0 (not external) and kinds AWS has not documented. */
const char *grants_external_kind_name(int kind);

/* The statement that fixes one problem `check` found, with ';' (acl.c).
 * malloc'd; NULL when a name cannot be written. */
char *grants_fix_usage(grants_dialect d, const char *user, const char *group,
                       const char *schema);
char *grants_fix_select(grants_dialect d, const char *user, const char *group,
                        const char *schema);
char *grants_fix_default(grants_dialect d, const char *user, const char *group,
                         const char *owner, const char *schema);
char *grants_fix_member(grants_dialect d, const char *user, const char *group);

/*
 * Does an ACL (the text of an aclitem[] as the server prints it, e.g.
 * {etl=arwdDxt/etl,"group metamapper=r/etl","\"odd name\"=r/etl"}) give
 * SELECT to PUBLIC or to one of names?  groups marks which of names are
 * Redshift groups ("group g=..." items); NULL = none.  An unreadable ACL
 * grants nothing.
 */
bool grants_acl_allows_select(const char *acl, const char *const *names,
                              const bool *groups, size_t n_names);

/* Redshift's rule for a clear-text password (8 to 64 printable ASCII
 * characters with an upper-case letter, a lower-case letter and a digit,
 * none of ' " \ / @): NULL when it is fine, else what is wrong.  metacrawl
 * sends a hash, which Redshift cannot check, so it checks here. */
const char *grants_redshift_password_problem(const char *pw);

/* ---- `metacrawl grants` for one datastore (apply.c) ------------------------ */

/* The command line's options, as plain values (NULL / false / 0 when not
 * given); the command fills them, the module checks them. */
typedef struct grants_opts {
    bool apply;                      /* --apply */
    const char *schema;              /* --schema LIST */
    int schema_given;                /* how often --schema was given (more than once: an error) */
    const char *owner;               /* --owner LIST */
    int owner_given;
    const char *dialect;             /* --dialect NAME */
    const char *admin_user;          /* --admin-user USER */
    const char *admin_password_from; /* --admin-password-from SOURCE */
    const char *password_from;       /* --password-from SOURCE */
    bool json;                       /* --json: nothing on stdout; grants_run_json has it all */
} grants_opts;

/* One run: its connection and tunnel, the scope read, the plan and what
 * --apply did.  Opaque. */
typedef struct grants_run grants_run;

/*
 * Runs `metacrawl grants` for ds with o (borrowed until grants_run_free):
 * without --json the SQL (or --apply's statement-by-statement report) goes
 * to stdout.  *out is always set, also on failure.  Returns 0, or the exit
 * code with *err set (the caller reports it; nothing was applied when
 * --apply failed).
 */
int grants_execute(const struct cfg_datastore *ds, const grants_opts *o, grants_run **out,
                   mc_error *err);
/* The run as the --json document of docs/commands.md, appended to out;
 * exit_code is what the command exits with. */
void grants_run_json(const grants_run *run, int exit_code, mc_buf *out);
/* Closes the session, then the tunnel; wipes the password hash.  NULL is a
 * no-op. */
void grants_run_free(grants_run *run);

/* ---- `metacrawl check` (check.c) ------------------------------------------- */

/* The report is plain data so other commands (and tests) can read it.
 * With a tunnel: the tunnel's own steps come first, per hop (tunnel_reach,
 * tunnel_host_key, tunnel_auth), then tunnel_forwarding. */
typedef enum check_status {
    CHECK_OK = 0,
    CHECK_WARN,  /* worth knowing; does not change the exit code */
    CHECK_SKIP,  /* not tested: an earlier step failed, or it cannot be tested */
    CHECK_FAIL,
} check_status;

const char *check_status_name(check_status s); /* "ok", "warn", "skip", "fail" */

typedef struct check_item {
    char *step;       /* "tunnel_reach", ..., "reach", "authenticate", "server",
                       * "usage", ... */
    char *schema;     /* per-schema steps; NULL otherwise */
    size_t hop;       /* tunnel_reach, tunnel_host_key, tunnel_auth: the hop,
                       * 1-based (1 = the tunnel: block, 2 = the first jump:);
                       * 0 for every other item */
    check_status status;
    int code;         /* the exit code this item causes when it failed */
    char *message;    /* one line, names quoted where needed */
    char *fix;        /* what to do, when it failed or warns; may hold newlines */
    int64_t count;    /* tables without SELECT, owners without default privileges; -1 n/a */
    int64_t total;    /* tables in the schema, owners in the schema; -1 n/a */
    char **names;     /* the first of those (at most CHECK_MAX_NAMES) */
    size_t n_names;
} check_item;

enum { CHECK_MAX_NAMES = 10 };

typedef struct check_report {
    const struct cfg_datastore *ds;
    int exit_code;        /* the highest code of the failed items, 0 when none */
    char *dialect;        /* NULL when never connected */
    char *server_version;
    check_item *items;
    size_t n_items;
    int n_queries;        /* catalog statements (constant per dialect) */
} check_report;

/* Runs every step for one datastore; never fails itself, the report says
 * what happened. */
void check_datastore(const struct cfg_datastore *ds, check_report *out);
void check_report_free(check_report *r);
/* One datastore's report as in `check --json` (docs/commands.md). */
void check_report_json(mc_buf *b, const check_report *r);

/* For the checklist as text (the command prints it): */
/* the hops of ds's tunnel (0 without one) and hop number HOP (1-based:
 * 1 is the tunnel: block, 2 the first jump: entry); */
size_t check_n_hops(const struct cfg_datastore *ds);
const struct cfg_hop *check_hop(const struct cfg_datastore *ds, size_t hop);
/* what a datastore-wide item is called: its step, or for the tunnel
 * "tunnel hop 1 (bastion:22) host key", "tunnel forwarding to
 * warehouse:5439" (malloc'd); */
char *check_item_label(const struct cfg_datastore *ds, const check_item *it);
/* a name as people read it: bare when it is a plain lower-case word, else
 * as a quoted identifier (control characters escaped, so it is safe on a
 * terminal and unambiguous in a list); malloc'd. */
char *check_name_text(const char *name);

#endif
