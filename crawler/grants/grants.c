/*
 * grants.c — `metacrawl grants`: the group-based SQL that lets the crawler
 * user read the schemas in scope, printed in the server's dialect or run
 * with --apply in one transaction over an admin connection.
 *
 * The file has three parts:
 *
 *  1. SQL text without a connection (grants.h): identifier quoting, the
 *     plan of statements and its text, the fixes `check` prints, and
 *     reading pg_default_acl's ACL text.  The golden files in
 *     tests/golden/ are this part's output.
 *  2. Inspecting the live catalog: the schemas in scope (the datastore's
 *     globs, system schemas never), the distinct owners of the tables in
 *     scope, and whether the user, the group and the membership exist —
 *     three statements whatever the size of the catalog.  On Redshift they
 *     touch only leader-node catalog tables (pg_namespace, pg_class,
 *     pg_user, pg_group, pg_external_schema), never SVV views or user
 *     tables.
 *  3. The command: options, the connection (admin or crawler user),
 *     printing, and --apply.
 *
 * Re-running.  PostgreSQL creates the two roles in DO blocks that check
 * pg_roles first; GRANT, GRANT role and ALTER DEFAULT PRIVILEGES are
 * idempotent there.  Redshift has neither DO blocks nor IF NOT EXISTS for
 * users and groups: offline, the script says which three statements may
 * fail harmlessly when run statement by statement; with a connection the
 * catalog was read, so statements for what exists are printed commented
 * out, and --apply (one transaction, where any error aborts everything)
 * never sends them.
 *
 * Passwords.  The printed SQL never holds one: without a source it has
 * psql's :'crawler_password' variable (a syntax error if nobody sets or
 * replaces it, never a weak password that works), with --password-from
 * the word [redacted] (also a syntax error).  --apply hashes the password
 * with libpq (PQencryptPasswordConn: SCRAM or MD5 on PostgreSQL as the
 * server's password_encryption says, Redshift's documented md5 form on
 * Redshift), so not even the server's statement log sees it in clear.
 */
#include "grants.h"
#include "commands.h"
#include "crawl.h"
#include "discover.h"
#include "json.h"
#include "secret.h"
#include "sql_scan.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    PG_NAME_MAX = 63,        /* NAMEDATALEN - 1 */
    SECRET_FILE_MAX = 64 * 1024,
};

/* ======================================================================
 * 1. SQL text
 * ====================================================================== */

int grants_dialect_parse(const char *name)
{
    if (name && strcmp(name, "postgresql") == 0)
        return GRANTS_POSTGRESQL;
    if (name && strcmp(name, "redshift") == 0)
        return GRANTS_REDSHIFT;
    return -1;
}

const char *grants_dialect_name(grants_dialect d)
{
    return d == GRANTS_REDSHIFT ? "redshift" : "postgresql";
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* A character the printed SQL must not carry raw: a control character, or
 * one that could drive or fool the terminal it is printed on (C1, bidi
 * overrides, invisible characters: mc_term_unsafe).  Sets *cp_out and
 * *len_out to the character at p. */
static bool unsafe_char(const unsigned char *p, uint32_t *cp_out, size_t *len_out)
{
    size_t n = mc_utf8_decode(p, cp_out);
    *len_out = n ? n : 1;
    return n ? mc_term_unsafe(*cp_out) : false;
}

int grants_quote_ident(mc_buf *b, grants_dialect d, const char *name)
{
    bool ctl = false;
    if (!name || !*name)
        return -1;
    for (const unsigned char *p = (const unsigned char *)name; *p;) {
        uint32_t cp = 0;
        size_t n = 1;
        ctl |= unsafe_char(p, &cp, &n);
        p += n;
    }
    if (ctl && d == GRANTS_REDSHIFT)
        return -1; /* Redshift has no U& escapes */
    if (ctl) {
        /* U&"..." with the default escape character, the backslash. */
        mc_buf_puts(b, "U&\"");
        for (const unsigned char *p = (const unsigned char *)name; *p;) {
            uint32_t cp = 0;
            size_t n = 1;
            if (*p == '"')
                mc_buf_puts(b, "\"\"");
            else if (*p == '\\')
                mc_buf_puts(b, "\\\\");
            else if (unsafe_char(p, &cp, &n))
                mc_buf_printf(b, "\\%04x", (unsigned)cp);
            else
                mc_buf_append(b, (const char *)p, n);
            p += n;
        }
        mc_buf_putc(b, '"');
        return 0;
    }
    mc_buf_put_sql_ident(b, name);
    return 0;
}

void grants_quote_literal(mc_buf *b, const char *value)
{
    bool escape = false;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        escape |= *p == '\\' || is_ctl(*p);
    mc_buf_puts(b, escape ? "E'" : "'");
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '\'')
            mc_buf_puts(b, "''");
        else if (escape && *p == '\\')
            mc_buf_puts(b, "\\\\");
        else if (is_ctl(*p))
            mc_buf_printf(b, "\\x%02x", *p);
        else
            mc_buf_putc(b, (char)*p);
    }
    mc_buf_putc(b, '\'');
}

char *grants_group_role(grants_dialect d, const char *user, const char *group)
{
    if (d == GRANTS_REDSHIFT || strcmp(user, group) != 0)
        return mc_strdup(group);
    static const char suffix[] = "_readers";
    size_t keep = strlen(group), room = PG_NAME_MAX - (sizeof suffix - 1);
    if (keep > room) {
        keep = room;
        /* never cut a UTF-8 character in half */
        while (keep > 0 && ((unsigned char)group[keep] & 0xc0) == 0x80)
            keep--;
    }
    return mc_asprintf("%.*s%s", (int)keep, group, suffix);
}

int grants_parse_name_list(const char *text, char ***out)
{
    return mc_sql_split_idents(text, ',', MC_SQL_SCAN_BLANKS | MC_SQL_SCAN_NONEMPTY, 0, out);
}

void grants_free_names(char **names)
{
    for (size_t i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
}

/* ---- the plan ---------------------------------------------------------- */

typedef struct builder {
    const grants_input *in;
    grants_plan *plan;
    mc_error *err;
    const char *bad_name; /* the first name the dialect cannot write */
} builder;

/* Appends a quoted identifier, remembering a name that cannot be written. */
static void ident(builder *bd, mc_buf *b, const char *name)
{
    if (grants_quote_ident(b, bd->in->dialect, name) != 0) {
        if (!bd->bad_name)
            bd->bad_name = name;
        mc_buf_puts(b, "\"?\"");
    }
}

static grants_stmt *add_stmt(builder *bd, grants_stmt_kind kind, char *sql, char *comment)
{
    grants_plan *p = bd->plan;
    p->stmts = mc_realloc(p->stmts, (p->n_stmts + 1) * sizeof *p->stmts);
    grants_stmt *s = &p->stmts[p->n_stmts++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->sql = sql;
    s->comment = comment;
    return s;
}

/* "TO GROUP "g"" on Redshift, "TO "g"" on PostgreSQL. */
static void put_grantee(builder *bd, mc_buf *b)
{
    mc_buf_puts(b, bd->in->dialect == GRANTS_REDSHIFT ? " TO GROUP " : " TO ");
    ident(bd, b, bd->plan->group_role);
}

/* "a", "b", "c" wrapped for a comment: lines of at most ~72 characters,
 * continuation lines indented by two spaces. */
static void put_name_lines(builder *bd, mc_buf *b, const char *const *names, size_t n,
                           size_t col)
{
    for (size_t i = 0; i < n; i++) {
        mc_buf q = {0};
        ident(bd, &q, names[i]);
        if (i) {
            mc_buf_putc(b, ',');
            col++;
            if (col + 1 + q.len > 72) {
                mc_buf_puts(b, "\n  ");
                col = 2;
            } else {
                mc_buf_putc(b, ' ');
                col++;
            }
        }
        mc_buf_puts(b, mc_buf_str(&q));
        col += q.len;
        mc_buf_free(&q);
    }
}

/* A DO block that creates a role unless pg_roles has it.  The dollar-quote
 * tag is chosen so that no name inside can end the block early. */
static char *pg_create_role_block(builder *bd, const char *role, const char *options)
{
    mc_buf body = {0};
    mc_buf_puts(&body, "\nBEGIN\n    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ");
    grants_quote_literal(&body, role);
    mc_buf_puts(&body, ") THEN\n        CREATE ROLE ");
    ident(bd, &body, role);
    mc_buf_printf(&body, " %s;\n    END IF;\nEND\n", options);
    char tag[32] = "$mc$";
    for (int i = 1; strstr(mc_buf_str(&body), tag); i++)
        snprintf(tag, sizeof tag, "$mc%d$", i);
    char *sql = mc_asprintf("DO %s%s%s", tag, mc_buf_str(&body), tag);
    mc_buf_free(&body);
    return sql;
}

static bool has_upper(const char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            return true;
    return false;
}

static void build_header(builder *bd)
{
    const grants_input *in = bd->in;
    grants_plan *p = bd->plan;
    bool rs = in->dialect == GRANTS_REDSHIFT;
    bool online = in->user_exists != GRANTS_UNKNOWN;
    mc_buf h = {0};
    mc_buf_printf(&h, "metacrawl grants for datastore '%s': %s\n", in->datastore,
                  rs ? "Amazon Redshift" : "PostgreSQL");
    mc_buf_puts(&h, "crawler user ");
    ident(bd, &h, in->user);
    mc_buf_puts(&h, rs ? ", group " : ", group role ");
    ident(bd, &h, p->group_role);
    mc_buf_putc(&h, '\n');
    if (p->group_renamed) {
        mc_buf_puts(&h, "(not ");
        ident(bd, &h, in->group);
        mc_buf_puts(&h, ": PostgreSQL users and groups are roles in one namespace,\n"
                        "and that name is the crawler user itself)\n");
    }
    if (in->n_schemas == 0) {
        mc_buf_puts(&h, "no schemas in scope\n");
    } else {
        mc_buf_puts(&h, "schemas in scope: ");
        const char **names = mc_calloc(in->n_schemas, sizeof *names);
        for (size_t i = 0; i < in->n_schemas; i++)
            names[i] = in->schemas[i].name;
        put_name_lines(bd, &h, names, in->n_schemas, 21);
        free(names);
        mc_buf_putc(&h, '\n');
    }
    mc_buf_putc(&h, '\n');
    if (!rs) {
        mc_buf_puts(&h, "Safe to run again: the roles are created only when missing, and GRANT\n"
                        "and ALTER DEFAULT PRIVILEGES leave grants that exist as they are.\n");
    } else if (!online) {
        mc_buf_printf(&h,
                      "Amazon Redshift has no DO blocks and no IF NOT EXISTS for users and\n"
                      "groups.  Run this statement by statement in autocommit mode (psql -f\n"
                      "does; not with -1 or ON_ERROR_STOP): CREATE USER, CREATE GROUP and\n"
                      "ALTER GROUP ... ADD USER fail harmlessly when that was done before.\n"
                      "Every other statement can be run again and again.  `metacrawl grants\n"
                      "%s --apply` reads the catalog first and skips what exists.\n",
                      in->datastore);
    } else {
        mc_buf_puts(&h, "Amazon Redshift has no IF NOT EXISTS for users and groups: what the\n"
                        "catalog already has is commented out below.  Every other statement\n"
                        "can be run again and again.\n");
    }
    p->header = mc_buf_steal(&h);
}

/* "PASSWORD '<hash>'" in a single allocation: a growing buffer would
 * leave copies of the hash behind in freed memory.  Hashes are hex or
 * base64 with $ : + / =, never a quote or a backslash; anything else is
 * quoted the long way. */
static char *password_clause(const char *hash)
{
    if (!strpbrk(hash, "'\\")) {
        bool plain = true;
        for (const unsigned char *p = (const unsigned char *)hash; *p; p++)
            plain &= !is_ctl(*p);
        if (plain)
            return mc_asprintf("PASSWORD '%s'", hash);
    }
    mc_buf b = {0};
    mc_buf_puts(&b, "PASSWORD ");
    grants_quote_literal(&b, hash);
    return mc_buf_steal(&b);
}

/* "VERB "user" PASSWORD '<hash>'", one allocation. */
static char *with_password(builder *bd, const char *verb, const char *user, const char *clause)
{
    mc_buf q = {0};
    ident(bd, &q, user);
    char *sql = mc_asprintf("%s%s %s", verb, mc_buf_str(&q), clause);
    mc_buf_free(&q);
    return sql;
}

static void build_user_and_group(builder *bd)
{
    const grants_input *in = bd->in;
    grants_plan *p = bd->plan;
    bool rs = in->dialect == GRANTS_REDSHIFT;
    mc_buf b = {0};
    grants_stmt *s;

    /* The password clause, as printed and as sent. */
    mc_buf shown = {0};
    char *sent = NULL; /* "PASSWORD '<hash>'", one allocation, wiped below */
    char *pw_comment = NULL;
    if (in->password == GRANTS_PW_PLACEHOLDER) {
        mc_buf_puts(&shown, "PASSWORD :'crawler_password'");
        pw_comment = mc_asprintf(
            "Replace :'crawler_password' with the crawler's password in single quotes,\n"
            "or let psql do it: psql -v crawler_password='...' -f FILE%s",
            rs ? ".\nRedshift wants 8 to 64 characters with an upper-case letter, a\n"
                 "lower-case letter and a digit."
               : ".");
    } else if (in->password == GRANTS_PW_SOURCE) {
        mc_buf_puts(&shown, "PASSWORD " MC_REDACTED);
        if (in->exec_password)
            sent = password_clause(in->exec_password);
        pw_comment = mc_asprintf("The password comes from %s;\n--apply sends it hashed, it is "
                                 "never printed.",
                                 in->password_source ? in->password_source : "--password-from");
    }

    if (rs) {
        mc_buf_puts(&b, "CREATE USER ");
        ident(bd, &b, in->user);
        if (shown.len) { /* KEEP (an existing user, skipped) has none */
            mc_buf_putc(&b, ' ');
            mc_buf_puts(&b, mc_buf_str(&shown));
        }
        char *comment = mc_strdup("The crawler user.");
        if (in->user_exists != GRANTS_PRESENT && pw_comment) {
            free(comment);
            comment = mc_asprintf("The crawler user.\n%s", pw_comment);
        }
        s = add_stmt(bd, GRANTS_CREATE_USER, mc_buf_steal(&b), comment);
        if (sent && in->user_exists != GRANTS_PRESENT)
            s->exec_sql = with_password(bd, "CREATE USER ", in->user, sent);
        s->skipped = in->user_exists == GRANTS_PRESENT;
        s->may_fail = in->user_exists == GRANTS_UNKNOWN;
        if (s->skipped) {
            free(s->comment);
            s->comment = mc_strdup("The crawler user exists (skipped).");
        }
        /* An existing user gets the password it was given (a rotation). */
        if (in->user_exists == GRANTS_PRESENT && in->password == GRANTS_PW_SOURCE) {
            mc_buf_puts(&b, "ALTER USER ");
            ident(bd, &b, in->user);
            mc_buf_putc(&b, ' ');
            mc_buf_puts(&b, mc_buf_str(&shown));
            s = add_stmt(bd, GRANTS_SET_PASSWORD, mc_buf_steal(&b), mc_strdup(pw_comment));
            if (sent)
                s->exec_sql = with_password(bd, "ALTER USER ", in->user, sent);
        }

        mc_buf_puts(&b, "CREATE GROUP ");
        ident(bd, &b, p->group_role);
        s = add_stmt(bd, GRANTS_CREATE_GROUP, mc_buf_steal(&b),
                     mc_strdup(in->group_exists == GRANTS_PRESENT
                                   ? "The group exists (skipped)."
                                   : "The group that holds the privileges, and the user in it."));
        s->skipped = in->group_exists == GRANTS_PRESENT;
        s->may_fail = in->group_exists == GRANTS_UNKNOWN;

        mc_buf_puts(&b, "ALTER GROUP ");
        ident(bd, &b, p->group_role);
        mc_buf_puts(&b, " ADD USER ");
        ident(bd, &b, in->user);
        s = add_stmt(bd, GRANTS_ADD_MEMBER, mc_buf_steal(&b),
                     in->member == GRANTS_PRESENT
                         ? mc_strdup("The user is in the group (skipped).")
                         : NULL);
        s->skipped = in->member == GRANTS_PRESENT;
        s->may_fail = in->member == GRANTS_UNKNOWN;
    } else {
        s = add_stmt(bd, GRANTS_CREATE_USER, pg_create_role_block(bd, in->user, "LOGIN"),
                     mc_strdup("The crawler user, created when missing."));
        if (in->password != GRANTS_PW_KEEP) {
            mc_buf_puts(&b, "ALTER ROLE ");
            ident(bd, &b, in->user);
            mc_buf_putc(&b, ' ');
            mc_buf_puts(&b, mc_buf_str(&shown));
            s = add_stmt(bd, GRANTS_SET_PASSWORD, mc_buf_steal(&b), mc_strdup(pw_comment));
            if (sent)
                s->exec_sql = with_password(bd, "ALTER ROLE ", in->user, sent);
        }
        s = add_stmt(bd, GRANTS_CREATE_GROUP,
                     pg_create_role_block(bd, p->group_role, "NOLOGIN"),
                     mc_strdup("The group role that holds the privileges, and the user in it."));
        mc_buf_puts(&b, "GRANT ");
        ident(bd, &b, p->group_role);
        mc_buf_puts(&b, " TO ");
        ident(bd, &b, in->user);
        add_stmt(bd, GRANTS_ADD_MEMBER, mc_buf_steal(&b), NULL);
    }
    free(pw_comment);
    if (sent) {
        explicit_bzero(sent, strlen(sent));
        free(sent);
    }
    mc_buf_free(&shown);
}

const char *grants_external_kind_name(int kind)
{
    switch (kind) {
    case 1: return "Spectrum, data catalog";
    case 2: return "Spectrum, Hive metastore";
    case 3: return "federated PostgreSQL";
    case 4:
    case 5: return "a schema of another Redshift database";
    case 6: return "system tables";
    case 8: return "federated MySQL";
    case 9: return "Kinesis stream";
    case 10: return "Amazon MSK stream";
    default: return NULL;
    }
}

/* What an external schema is and where the rights to its tables come
 * from, by its eskind ("SVV_EXTERNAL_SCHEMAS"); its tables are never
 * granted one by one. */
static const char *external_label(int kind)
{
    switch (kind) {
    case 1:
    case 2:
        return kind == 1 ? " (external: Spectrum, data catalog): USAGE is all it takes;\n"
                           "its tables are not granted one by one (the IAM role reads them)"
                         : " (external: Spectrum, Hive metastore): USAGE is all it takes;\n"
                           "its tables are not granted one by one (the IAM role reads them)";
    case 3:
        return " (external: federated PostgreSQL): USAGE is all it takes here; what it\n"
               "reads is decided by the remote database's user in its secret";
    case 8:
        return " (external: federated MySQL): USAGE is all it takes here; what it\n"
               "reads is decided by the remote database's user in its secret";
    case 4:
    case 5:
        return " (external: a schema of another Redshift database): USAGE here;\n"
               "its tables are granted in the database they belong to";
    case 9:
    case 10:
        return kind == 9 ? " (external: Kinesis stream): USAGE is all it takes; the IAM\n"
                           "role reads the stream"
                         : " (external: Amazon MSK stream): USAGE is all it takes; the IAM\n"
                           "role reads the stream";
    default:
        return " (external): USAGE is all it takes; its tables are not granted one\n"
               "by one";
    }
}

static void build_schemas(builder *bd)
{
    const grants_input *in = bd->in;
    mc_buf b = {0};
    for (size_t i = 0; i < in->n_schemas; i++) {
        const grants_schema_in *sc = &in->schemas[i];
        mc_buf c = {0};
        mc_buf_puts(&c, "Schema ");
        ident(bd, &c, sc->name);
        if (sc->external)
            mc_buf_puts(&c, external_label(sc->external_kind));
        mc_buf_putc(&c, '.');
        mc_buf_puts(&b, "GRANT USAGE ON SCHEMA ");
        ident(bd, &b, sc->name);
        put_grantee(bd, &b);
        grants_stmt *s = add_stmt(bd, GRANTS_USAGE, mc_buf_steal(&b), mc_buf_steal(&c));
        s->schema = sc->name;
        if (sc->external)
            continue;
        mc_buf_puts(&b, "GRANT SELECT ON ALL TABLES IN SCHEMA ");
        ident(bd, &b, sc->name);
        put_grantee(bd, &b);
        s = add_stmt(bd, GRANTS_SELECT, mc_buf_steal(&b), NULL);
        s->schema = sc->name;
    }
}

static void build_default_privileges(builder *bd)
{
    const grants_input *in = bd->in;
    bool rs = in->dialect == GRANTS_REDSHIFT;
    const char **local = mc_calloc(in->n_schemas + 1, sizeof *local);
    size_t n_local = 0;
    for (size_t i = 0; i < in->n_schemas; i++)
        if (!in->schemas[i].external)
            local[n_local++] = in->schemas[i].name;
    if (n_local == 0) {
        free(local);
        return;
    }
    /* FOR USER (Redshift) and FOR ROLE (PostgreSQL) name the creator of
     * future tables: a plain ALTER DEFAULT PRIVILEGES covers only the
     * caller's own, so there is one statement per owner. */
    static const char why[] =
        "Future tables: default privileges for each owner of tables in scope\n"
        "(a plain ALTER DEFAULT PRIVILEGES covers only the caller's own tables).";
    mc_buf b = {0};
    if (!in->owners_known || in->n_owners == 0) {
        mc_buf c = {0};
        mc_buf_printf(&c, "%s\n%s\nfor each user that creates tables in these schemas, run:\n"
                          "ALTER DEFAULT PRIVILEGES FOR %s \"<owner>\" IN SCHEMA ",
                      why,
                      in->owners_known ? "There are no tables in scope yet;"
                                       : "The owners are not known without a connection "
                                         "(--owner names them);",
                      rs ? "USER" : "ROLE");
        put_name_lines(bd, &c, local, n_local, 40);
        mc_buf_puts(&c, " GRANT SELECT ON TABLES");
        put_grantee(bd, &c);
        mc_buf_putc(&c, ';');
        /* a comment without a statement: nothing to run */
        add_stmt(bd, GRANTS_DEFAULT_PRIVILEGES, NULL, mc_buf_steal(&c));
        free(local);
        return;
    }
    for (size_t i = 0; i < in->n_owners; i++) {
        mc_buf_printf(&b, "ALTER DEFAULT PRIVILEGES FOR %s ", rs ? "USER" : "ROLE");
        ident(bd, &b, in->owners[i]);
        mc_buf_puts(&b, " IN SCHEMA ");
        for (size_t k = 0; k < n_local; k++) {
            if (k)
                mc_buf_puts(&b, ", ");
            ident(bd, &b, local[k]);
        }
        mc_buf_puts(&b, " GRANT SELECT ON TABLES");
        put_grantee(bd, &b);
        add_stmt(bd, GRANTS_DEFAULT_PRIVILEGES, mc_buf_steal(&b), i == 0 ? mc_strdup(why) : NULL);
    }
    free(local);
}

int grants_build(const grants_input *in, grants_plan *out, mc_error *err)
{
    memset(out, 0, sizeof *out);
    out->dialect = in->dialect;
    out->group_role = grants_group_role(in->dialect, in->user, in->group);
    out->group_renamed = strcmp(out->group_role, in->group) != 0;
    builder bd = {in, out, err, NULL};

    build_header(&bd);
    if (in->dialect == GRANTS_REDSHIFT) {
        bool upper = has_upper(out->group_role);
        for (size_t i = 0; i < in->n_schemas && !upper; i++)
            upper = has_upper(in->schemas[i].name);
        if (upper)
            add_stmt(&bd, GRANTS_SET_CASE, mc_strdup("SET enable_case_sensitive_identifier TO true"),
                     mc_strdup("Names with upper-case letters: keep their case (Redshift folds\n"
                               "quoted names to lower case unless this is on)."));
    }
    build_user_and_group(&bd);
    build_schemas(&bd);
    build_default_privileges(&bd);
    if (bd.bad_name) {
        mc_buf shown = {0};
        grants_quote_ident(&shown, GRANTS_POSTGRESQL, bd.bad_name);
        mc_error_set(err, MC_EXIT_USAGE, "the name %s cannot be written as a %s identifier",
                     mc_buf_str(&shown), in->dialect == GRANTS_REDSHIFT ? "Redshift" : "SQL");
        mc_error_hint(err, "metacrawl writes no Redshift name with control, bidirectional "
                           "or invisible characters (Redshift has no U& escapes); check "
                           "--schema, --owner, user: and group:");
        mc_buf_free(&shown);
        grants_plan_free(out);
        return -1;
    }
    return 0;
}

static void put_commented(mc_buf *out, const char *text, const char *prefix)
{
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        mc_buf_puts(out, prefix);
        if (n == 0 && prefix[0]) {
            /* "--" without a trailing space on an empty line */
            out->len -= strlen(prefix) - strlen("--");
            out->data[out->len] = '\0';
        }
        mc_buf_append(out, p, n);
        mc_buf_putc(out, '\n');
        p += n;
        if (*p == '\n')
            p++;
    }
}

void grants_stmt_text(const grants_stmt *s, mc_buf *out)
{
    if (s->comment)
        put_commented(out, s->comment, "-- ");
    if (!s->sql)
        return;
    mc_buf text = {0};
    mc_buf_printf(&text, "%s;", s->sql);
    put_commented(out, mc_buf_str(&text), s->skipped ? "-- " : "");
    mc_buf_free(&text);
}

void grants_plan_text(const grants_plan *p, mc_buf *out)
{
    put_commented(out, p->header, "-- ");
    for (size_t i = 0; i < p->n_stmts; i++) {
        const grants_stmt *s = &p->stmts[i];
        if (s->comment)
            mc_buf_putc(out, '\n');
        grants_stmt_text(s, out);
    }
}

void grants_plan_free(grants_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_stmts; i++) {
        grants_stmt *s = &p->stmts[i];
        free(s->comment);
        free(s->sql);
        if (s->exec_sql) {
            explicit_bzero(s->exec_sql, strlen(s->exec_sql));
            free(s->exec_sql);
        }
    }
    free(p->stmts);
    free(p->group_role);
    free(p->header);
    memset(p, 0, sizeof *p);
}

/* ---- fixes for check ------------------------------------------------------ */

/* "... TO GROUP "g";" / "... TO "g_role";" after prefix; NULL when a name
 * cannot be written. */
static char *fix_sql(grants_dialect d, const char *user, const char *group, mc_buf *b)
{
    char *role = grants_group_role(d, user, group);
    mc_buf_puts(b, d == GRANTS_REDSHIFT ? " TO GROUP " : " TO ");
    int rc = grants_quote_ident(b, d, role);
    free(role);
    mc_buf_putc(b, ';');
    if (rc != 0) {
        mc_buf_free(b);
        return NULL;
    }
    return mc_buf_steal(b);
}

char *grants_fix_usage(grants_dialect d, const char *user, const char *group, const char *schema)
{
    mc_buf b = {0};
    mc_buf_puts(&b, "GRANT USAGE ON SCHEMA ");
    if (grants_quote_ident(&b, d, schema) != 0) {
        mc_buf_free(&b);
        return NULL;
    }
    return fix_sql(d, user, group, &b);
}

char *grants_fix_select(grants_dialect d, const char *user, const char *group, const char *schema)
{
    mc_buf b = {0};
    mc_buf_puts(&b, "GRANT SELECT ON ALL TABLES IN SCHEMA ");
    if (grants_quote_ident(&b, d, schema) != 0) {
        mc_buf_free(&b);
        return NULL;
    }
    return fix_sql(d, user, group, &b);
}

char *grants_fix_default(grants_dialect d, const char *user, const char *group,
                         const char *owner, const char *schema)
{
    mc_buf b = {0};
    mc_buf_printf(&b, "ALTER DEFAULT PRIVILEGES FOR %s ", d == GRANTS_REDSHIFT ? "USER" : "ROLE");
    int rc = grants_quote_ident(&b, d, owner);
    mc_buf_puts(&b, " IN SCHEMA ");
    rc |= grants_quote_ident(&b, d, schema);
    mc_buf_puts(&b, " GRANT SELECT ON TABLES");
    if (rc != 0) {
        mc_buf_free(&b);
        return NULL;
    }
    return fix_sql(d, user, group, &b);
}

char *grants_fix_member(grants_dialect d, const char *user, const char *group)
{
    char *role = grants_group_role(d, user, group);
    mc_buf b = {0};
    int rc;
    if (d == GRANTS_REDSHIFT) {
        mc_buf_puts(&b, "ALTER GROUP ");
        rc = grants_quote_ident(&b, d, role);
        mc_buf_puts(&b, " ADD USER ");
        rc |= grants_quote_ident(&b, d, user);
    } else {
        mc_buf_puts(&b, "GRANT ");
        rc = grants_quote_ident(&b, d, role);
        mc_buf_puts(&b, " TO ");
        rc |= grants_quote_ident(&b, d, user);
    }
    mc_buf_putc(&b, ';');
    free(role);
    if (rc != 0) {
        mc_buf_free(&b);
        return NULL;
    }
    return mc_buf_steal(&b);
}

/* ---- ACL text ------------------------------------------------------------- */

/* One aclitem: [group ]grantee=privileges/grantor, the grantee quoted
 * with "" for a quote when it is not a plain word, empty for PUBLIC. */
static bool item_allows(const char *item, const char *const *names, const bool *groups,
                        size_t n_names)
{
    bool group = false;
    if (strncmp(item, "group ", 6) == 0) {
        group = true;
        item += 6;
    }
    mc_buf name = {0};
    const char *p = item;
    if (*p == '"') {
        p++;
        for (;;) {
            if (!*p) {
                mc_buf_free(&name);
                return false;
            }
            if (p[0] == '"' && p[1] == '"') {
                mc_buf_putc(&name, '"');
                p += 2;
            } else if (*p == '"') {
                p++;
                break;
            } else {
                mc_buf_putc(&name, *p++);
            }
        }
    } else {
        while (*p && *p != '=')
            mc_buf_putc(&name, *p++);
    }
    bool allows = false;
    if (*p == '=') {
        p++;
        size_t n = strcspn(p, "/");
        bool select = memchr(p, 'r', n) != NULL;
        if (select && name.len == 0 && !group) {
            allows = true; /* PUBLIC */
        } else if (select) {
            for (size_t i = 0; i < n_names && !allows; i++)
                allows = (groups ? groups[i] : false) == group &&
                         strcmp(names[i], mc_buf_str(&name)) == 0;
        }
    }
    mc_buf_free(&name);
    return allows;
}

bool grants_acl_allows_select(const char *acl, const char *const *names, const bool *groups,
                              size_t n_names)
{
    if (!acl || *acl != '{')
        return false;
    const char *p = acl + 1;
    bool allows = false;
    while (*p && *p != '}' && !allows) {
        mc_buf item = {0};
        if (*p == '"') {
            /* array element quoting: backslash escapes the next character */
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                mc_buf_putc(&item, *p++);
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',' && *p != '}')
                mc_buf_putc(&item, *p++);
        }
        allows = item_allows(mc_buf_str(&item), names, groups, n_names);
        mc_buf_free(&item);
        if (*p == ',')
            p++;
    }
    return allows;
}

const char *grants_redshift_password_problem(const char *pw)
{
    size_t n = strlen(pw);
    bool upper = false, lower = false, digit = false;
    if (n < 8 || n > 64)
        return "it must be 8 to 64 characters long";
    for (const char *p = pw; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 33 || c > 126 || strchr("'\"\\/@", c))
            return "it may hold only printable ASCII characters other than ' \" \\ / @";
        upper |= isupper(c) != 0;
        lower |= islower(c) != 0;
        digit |= isdigit(c) != 0;
    }
    if (!upper || !lower || !digit)
        return "it needs an upper-case letter, a lower-case letter and a digit";
    return NULL;
}

/* ======================================================================
 * 2. The live catalog
 * ====================================================================== */

/* Three statements, whatever the size of the catalog.  System schemas and
 * the globs are applied here in C, so the SQL needs no literals. */
static const char pg_schemas_sql[] =
    "SELECT n.nspname AS name, 0 AS external FROM pg_catalog.pg_namespace n";
/* The Redshift statements name catalog objects unqualified, as AWS's pages
 * and discover.c's Redshift dialect do (pg_catalog is searched first
 * anyway); the CI's Redshift shim (tests/integration/redshift/) relies on
 * it.  Spectrum schemas are in pg_namespace too; pg_external_schema marks
 * them ("PG_EXTERNAL_SCHEMA": esoid is the namespace's oid) with their
 * kind (eskind, 0 here for a local schema). */
static const char rs_schemas_sql[] =
    "SELECT n.nspname AS name, COALESCE(es.eskind, 0) AS external "
    "FROM pg_namespace n "
    "LEFT JOIN pg_external_schema es ON es.esoid = n.oid";

static const char pg_owners_sql[] =
    "SELECT n.nspname AS schema, c.relname AS name, "
    "pg_catalog.pg_get_userbyid(c.relowner) AS owner "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";
static const char rs_owners_sql[] =
    "SELECT n.nspname AS schema, c.relname AS name, "
    "pg_get_userbyid(c.relowner) AS owner "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'v', 'm') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'pg_internal')";

/* $1 the crawler user, $2 the group (role).  PostgreSQL needs no
 * membership answer: GRANT role TO user is idempotent there. */
static const char pg_roles_sql[] =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1) AS user_exists, "
    "EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $2) AS group_exists, "
    "NULL::boolean AS member";
static const char rs_roles_sql[] =
    "SELECT EXISTS (SELECT 1 FROM pg_user WHERE usename = $1) AS user_exists, "
    "EXISTS (SELECT 1 FROM pg_group WHERE groname = $2) AS group_exists, "
    "EXISTS (SELECT 1 FROM pg_user u, pg_group g "
    "WHERE u.usename = $1 AND g.groname = $2 AND u.usesysid = ANY (g.grolist)) AS member";

typedef struct scope {
    grants_schema_in *schemas; /* names point into `names` */
    char **names;              /* owned */
    size_t n_schemas;
    char **owners;             /* sorted, distinct */
    size_t n_owners;
    bool owners_known;
    grants_known user_exists, group_exists, member;
} scope;

/* The arrays were allocated for `cap` schemas by the caller. */
static void scope_add_schema(scope *s, const char *name, int external_kind)
{
    s->names[s->n_schemas] = mc_strdup(name);
    s->schemas[s->n_schemas].name = s->names[s->n_schemas];
    s->schemas[s->n_schemas].external = external_kind != 0;
    s->schemas[s->n_schemas].external_kind = external_kind;
    s->n_schemas++;
}

static void scope_free(scope *s)
{
    for (size_t i = 0; i < s->n_schemas; i++)
        free(s->names[i]);
    free(s->names);
    free(s->schemas);
    for (size_t i = 0; i < s->n_owners; i++)
        free(s->owners[i]);
    free(s->owners);
    memset(s, 0, sizeof *s);
}

static pg_result *run_query(pg_session *pg, const char *ds, const char *what, const char *sql,
                            int n_params, const char *const *params, mc_error *err)
{
    pg_result *res = pg_query_params(pg, what, sql, n_params, params, NULL);
    if (res)
        return res;
    const pg_failure *f = pg_last_failure(pg);
    bool perm = strcmp(f->sqlstate, "42501") == 0;
    mc_error_set(err, perm ? MC_EXIT_AUTH : MC_EXIT_CONNECT, "datastore '%s': %s failed: %s",
                 ds, what, f->message);
    mc_error_hint(err, perm ? "connect as an administrator (admin: in the config, or "
                              "--admin-user) to read the catalog"
                            : "run with -vv to see the statement");
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_schema(const void *a, const void *b)
{
    return strcmp(((const grants_schema_in *)a)->name, ((const grants_schema_in *)b)->name);
}

static bool tval(const pg_result *res, int row, int col)
{
    return !pg_result_null(res, row, col) && pg_result_bool(res, row, col);
}

static grants_known kval(const pg_result *res, int col)
{
    if (pg_result_null(res, 0, col))
        return GRANTS_UNKNOWN;
    return tval(res, 0, col) ? GRANTS_PRESENT : GRANTS_ABSENT;
}

/* Adds name to a sorted, distinct list. */
static void add_distinct(char ***list, size_t *n, const char *name)
{
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp((*list)[mid], name);
        if (c == 0)
            return;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *list = mc_realloc(*list, (*n + 1) * sizeof **list);
    memmove(*list + lo + 1, *list + lo, (*n - lo) * sizeof **list);
    (*list)[lo] = mc_strdup(name);
    (*n)++;
}

/*
 * The schemas in scope (listed, or the globs over the live catalog), the
 * owners of their tables (container globs applied) and what exists of the
 * user, the group and the membership.
 */
static int read_scope(pg_session *pg, grants_dialect d, const cfg_datastore *ds,
                      const char *group_role, char **listed, scope *sc, mc_error *err)
{
    bool rs = d == GRANTS_REDSHIFT;
    pg_result *res = run_query(pg, ds->name, "schema query",
                               rs ? rs_schemas_sql : pg_schemas_sql, 0, NULL, err);
    if (!res)
        return -1;
    size_t n_listed = 0;
    while (listed && listed[n_listed])
        n_listed++;
    bool *found = mc_calloc(n_listed + 1, sizeof *found);
    int *ext = mc_calloc(n_listed + 1, sizeof *ext);
    int nt = pg_result_rows(res);
    sc->schemas = mc_calloc((size_t)nt + n_listed + 1, sizeof *sc->schemas);
    sc->names = mc_calloc((size_t)nt + n_listed + 1, sizeof *sc->names);
    for (int i = 0; i < nt; i++) {
        const char *name = pg_result_text(res, i, 0);
        if (listed) {
            for (size_t k = 0; k < n_listed; k++)
                if (strcmp(listed[k], name) == 0) {
                    found[k] = true;
                    ext[k] = (int)pg_result_int(res, i, 1);
                }
            continue;
        }
        if (disc_is_system_schema(name) || !cfg_globs_match(&ds->schemas, name))
            continue;
        scope_add_schema(sc, name, (int)pg_result_int(res, i, 1));
    }
    pg_result_free(res);
    int rc = 0;
    if (listed) {
        mc_buf missing = {0};
        for (size_t k = 0; k < n_listed; k++) {
            if (!found[k]) {
                if (missing.len)
                    mc_buf_puts(&missing, ", ");
                grants_quote_ident(&missing, GRANTS_POSTGRESQL, listed[k]);
                continue;
            }
            scope_add_schema(sc, listed[k], ext[k]);
        }
        if (missing.len) {
            mc_error_set(err, MC_EXIT_USAGE, "datastore '%s' has no schema %s", ds->name,
                         mc_buf_str(&missing));
            mc_error_hint(err, "names in --schema are matched exactly (case and all); "
                               "quote a name that holds a comma: --schema '\"a,b\"'");
            rc = -1;
        }
        mc_buf_free(&missing);
    } else if (sc->n_schemas > 1) {
        qsort(sc->schemas, sc->n_schemas, sizeof *sc->schemas, cmp_schema);
    }
    free(found);
    free(ext);
    if (rc != 0)
        return -1;

    /* Owners: looked up by schema in a sorted copy of the names. */
    res = run_query(pg, ds->name, "owner query", rs ? rs_owners_sql : pg_owners_sql, 0, NULL,
                    err);
    if (!res)
        return -1;
    const char **sorted = mc_calloc(sc->n_schemas + 1, sizeof *sorted);
    size_t n_sorted = 0;
    for (size_t i = 0; i < sc->n_schemas; i++)
        if (!sc->schemas[i].external)
            sorted[n_sorted++] = sc->schemas[i].name;
    qsort(sorted, n_sorted, sizeof *sorted, cmp_str);
    nt = pg_result_rows(res);
    for (int i = 0; i < nt; i++) {
        const char *schema = pg_result_text(res, i, 0);
        if (!bsearch(&schema, sorted, n_sorted, sizeof *sorted, cmp_str) ||
            !cfg_globs_match(&ds->containers, pg_result_text(res, i, 1)) ||
            pg_result_null(res, i, 2))
            continue;
        add_distinct(&sc->owners, &sc->n_owners, pg_result_text(res, i, 2));
    }
    sc->owners_known = true;
    free(sorted);
    pg_result_free(res);

    const char *params[2] = {ds->user, group_role};
    res = run_query(pg, ds->name, "role query", rs ? rs_roles_sql : pg_roles_sql, 2, params,
                    err);
    if (!res)
        return -1;
    if (pg_result_rows(res) == 1) {
        sc->user_exists = kval(res, 0);
        sc->group_exists = kval(res, 1);
        sc->member = kval(res, 2);
    }
    pg_result_free(res);
    return 0;
}

/* ======================================================================
 * 3. The command
 * ====================================================================== */

static const cli_opt grants_opts[] = {
    {"apply", 0, NULL,
     "run the SQL in one transaction as the admin user and report each statement", CLI_IS_FLAG},
    {"schema", 0, "LIST",
     "these schemas instead of the config's globs: comma-separated, a name with a comma "
     "\"quoted\" as in SQL; with --dialect no connection is made", CLI_IS_TEXT},
    {"owner", 0, "LIST",
     "owners of tables to set default privileges for (added to those the catalog shows)",
     CLI_IS_TEXT},
    {"dialect", 0, "NAME", "redshift or postgresql: the dialect without a connection",
     CLI_IS_TEXT},
    {"admin-user", 0, "USER",
     "read the catalog and --apply as USER (default: the datastore's admin: block)",
     CLI_IS_TEXT},
    {"admin-password-from", 0, "SOURCE",
     "the admin's password: env:NAME or file:PATH (default: admin: in the config, else "
     "PGPASSWORD or ~/.pgpass)", CLI_IS_TEXT},
    {"password-from", 0, "SOURCE",
     "the crawler user's password for --apply: env:NAME, file:PATH, or config (the "
     "datastore's password:); never printed", CLI_IS_TEXT},
    {0},
};

/* Reads a secret named on the command line: env:NAME, file:PATH, and for
 * the crawler's password "config" (the datastore's own source).  Errors
 * are usage errors naming the option, never the value. */
static int read_secret_option(const char *opt, const char *src, const cfg_datastore *ds,
                              mc_secret *out, mc_error *err)
{
    if (strncmp(src, "env:", 4) == 0 && src[4]) {
        const char *v = getenv(src + 4);
        if (!v || !*v) {
            mc_error_set(err, MC_EXIT_USAGE, "--%s %s: the variable is %s", opt, src,
                         v ? "empty" : "not set");
            mc_error_hint(err, "export it first, or name a file with file:PATH");
            return -1;
        }
        mc_secret_set(out, v, strlen(v));
        return 0;
    }
    if (strncmp(src, "file:", 5) == 0 && src[5]) {
        int e = 0;
        enum mc_secret_file_status st = mc_secret_read_file(src + 5, SECRET_FILE_MAX, out, &e);
        if (st == MC_SECRET_FILE_OK)
            return 0;
        mc_error_set(err, MC_EXIT_USAGE, "--%s %s: %s", opt, src,
                     st == MC_SECRET_FILE_UNREADABLE  ? strerror(e)
                     : st == MC_SECRET_FILE_TOO_LARGE ? "the file is larger than 64 KiB"
                                                      : "the file is empty");
        mc_error_hint(err, "the file must hold only the password (a trailing newline is "
                           "fine) and be readable by this user");
        return -1;
    }
    if (ds && strcmp(src, "config") == 0) {
        if (ds->password.kind == CFG_SECRET_NONE) {
            mc_error_set(err, MC_EXIT_USAGE,
                         "--%s config: datastore '%s' has no password or password_command",
                         opt, ds->name);
            mc_error_hint(err, "add one to the datastore, or use env:NAME or file:PATH");
            return -1;
        }
        return cfg_secret_resolve(&ds->password, out, err);
    }
    mc_error_set(err, MC_EXIT_USAGE, "--%s takes env:NAME or file:PATH%s", opt,
                 ds ? " or config" : "");
    mc_error_hint(err, "the value names where the password is, never the password itself");
    return -1;
}

static bool valid_secret_source(const char *src, bool allow_config)
{
    return (strncmp(src, "env:", 4) == 0 && src[4]) || (strncmp(src, "file:", 5) == 0 && src[5]) ||
           (allow_config && strcmp(src, "config") == 0);
}

static const char *kind_name(grants_stmt_kind k)
{
    static const char *const names[] = {"set_case", "create_user", "set_password",
                                        "create_group", "add_member", "usage", "select",
                                        "default_privileges"};
    return names[k];
}

/* What --apply did to one statement. */
typedef struct stmt_result {
    const char *status;   /* "ok", "failed", "not_run", "skipped"; NULL when printing */
    char *result;         /* the server's command tag */
    mc_buf notices;       /* "LEVEL: message" lines */
    char *error;
} stmt_result;

/* The state of the notice receiver while one statement runs. */
typedef struct notice_sink {
    stmt_result *cur;
    char *not_granted; /* PostgreSQL's "no privileges were granted" warning */
} notice_sink;

static void on_notice(void *arg, const char *sev, const char *msg, const char *state)
{
    notice_sink *ns = arg;
    if (!ns->cur)
        return;
    if (ns->cur->notices.len)
        mc_buf_putc(&ns->cur->notices, '\n');
    mc_buf_printf(&ns->cur->notices, "%s: %s", sev ? sev : "NOTICE", msg ? msg : "");
    /* 01007 privilege_not_granted: a GRANT by someone without the grant
     * option succeeds with a warning and grants nothing.  For --apply
     * that is a failure. */
    if (state && strcmp(state, "01007") == 0 && !ns->not_granted)
        ns->not_granted = mc_strdup(msg ? msg : "no privileges were granted");
}

typedef struct grants_run {
    const cli_ctx *ctx;
    const cfg_datastore *ds;
    grants_dialect dialect;
    bool dialect_given;
    bool online;
    bool apply;
    char *connected_as;
    char *server_version;
    tunnel *tun;         /* the datastore's tunnel:, open while connected */
    scope sc;
    grants_plan plan;
    stmt_result *results;
    bool applied;
    mc_error err;
} grants_run;

/* When the tunnel broke under a statement, its error is the cause: it
 * replaces run->err, with WHAT (what became of the transaction) in front
 * of the tunnel's hint. */
static void tunnel_broke(grants_run *run, const char *what)
{
    mc_error why = {0};
    if (!tunnel_failed(run->tun, &why))
        return;
    run->err = why;
    run->err.hint[0] = '\0';
    mc_error_hint(&run->err, "%s; %s", what, why.hint[0] ? why.hint : "run it again");
}

/* Runs the plan in one transaction.  Returns 0, or -1 with run->err set
 * and nothing applied. */
static int apply_plan(grants_run *run, pg_session *pg)
{
    grants_plan *p = &run->plan;
    notice_sink ns = {0};
    pg_set_notice_handler(pg, on_notice, &ns);
    bool text = !run->ctx->json;
    size_t n_run = 0;
    for (size_t i = 0; i < p->n_stmts; i++)
        n_run += p->stmts[i].sql && !p->stmts[i].skipped;
    if (text) {
        printf("-- metacrawl grants --apply for datastore '%s' as ", run->ds->name);
        mc_buf who = {0};
        grants_quote_ident(&who, GRANTS_POSTGRESQL, run->connected_as);
        cmd_put_safe(stdout, mc_buf_str(&who));
        mc_buf_free(&who);
        printf(" (%s): %zu statements in one transaction\n",
               run->server_version ? run->server_version : "?", n_run);
    }
    char timeout[64];
    snprintf(timeout, sizeof timeout, "SET statement_timeout TO %d",
             run->ds->statement_timeout_ms > 0 ? run->ds->statement_timeout_ms : 300000);
    pg_exec(pg, "apply", timeout, NULL);
    if (pg_exec(pg, "apply", "BEGIN", NULL) != 0) {
        mc_error_set(&run->err, MC_EXIT_CONNECT, "datastore '%s': BEGIN failed: %s",
                     run->ds->name, pg_last_failure(pg)->message);
        pg_set_notice_handler(pg, NULL, NULL);
        return -1;
    }
    pg_result *res = NULL;
    size_t done = 0;
    int rc = 0;
    for (size_t i = 0; i < p->n_stmts; i++) {
        grants_stmt *s = &p->stmts[i];
        stmt_result *r = &run->results[i];
        if (!s->sql)
            continue;
        if (s->skipped) {
            r->status = "skipped";
            if (text) {
                mc_buf t = {0};
                grants_stmt_text(s, &t);
                fputs(mc_buf_str(&t), stdout);
                mc_buf_free(&t);
            }
            continue;
        }
        if (rc != 0) {
            r->status = "not_run";
            continue;
        }
        done++;
        if (text) {
            printf("%s;\n", s->sql);
            fflush(stdout);
        }
        ns.cur = r;
        /* s->sql is the printed form, redacted: the only one the log sees */
        res = pg_query_secret(pg, "apply", s->exec_sql ? s->exec_sql : s->sql, s->sql, NULL);
        ns.cur = NULL;
        if (res)
            r->result = mc_strdup(pg_result_command(res));
        else
            r->error = mc_strdup(pg_last_failure(pg)->message);
        if (!r->error && ns.not_granted) {
            r->error = ns.not_granted;
            ns.not_granted = NULL;
        }
        pg_result_free(res);
        r->status = r->error ? "failed" : "ok";
        if (text) {
            if (r->error)
                printf("--   FAILED: %s\n", r->error);
            else
                printf("--   ok: %s\n", r->result);
            const char *nl = mc_buf_str(&r->notices);
            while (*nl) {
                size_t n = strcspn(nl, "\n");
                printf("--   %.*s\n", (int)n, nl);
                nl += n + (nl[n] == '\n');
            }
        }
        if (r->error) {
            rc = -1;
            const char *first_line_end = strchr(s->sql, '\n');
            mc_error_set(&run->err, MC_EXIT_AUTH,
                         "datastore '%s': --apply failed at statement %zu of %zu (%.*s%s): %s",
                         run->ds->name, done, n_run,
                         first_line_end ? (int)(first_line_end - s->sql) : (int)strlen(s->sql),
                         s->sql, first_line_end ? " ..." : "", r->error);
            mc_error_hint(&run->err,
                          "nothing was applied (the transaction was rolled back); run it as a "
                          "superuser or as the owner of the schemas and tables (admin: in the "
                          "config, or --admin-user)");
            tunnel_broke(run, "nothing was applied (the transaction was never committed)");
        }
    }
    free(ns.not_granted);
    res = pg_query(pg, "apply", rc == 0 ? "COMMIT" : "ROLLBACK", NULL);
    /* A COMMIT of an aborted transaction answers ROLLBACK. */
    if (rc == 0 && (!res || strcmp(pg_result_command(res), "COMMIT") != 0)) {
        mc_error_set(&run->err, MC_EXIT_AUTH, "datastore '%s': COMMIT failed: %s",
                     run->ds->name,
                     res ? "the transaction was rolled back" : pg_last_failure(pg)->message);
        mc_error_hint(&run->err, "nothing was applied; run it again");
        tunnel_broke(run, "the COMMIT may or may not have reached the server: run `metacrawl "
                          "check` once the tunnel works, or --apply again (that is safe)");
        rc = -1;
    }
    pg_result_free(res);
    pg_set_notice_handler(pg, NULL, NULL);
    run->applied = rc == 0;
    if (text)
        printf(rc == 0 ? "-- committed: %zu statements applied\n"
                       : "-- rolled back: nothing was applied\n",
               done);
    return rc;
}

static void put_known(mc_buf *b, bool *first, const char *key, grants_known k)
{
    if (k == GRANTS_UNKNOWN)
        json_put_kv_raw(b, first, key, NULL);
    else
        json_put_kv_bool(b, first, key, k == GRANTS_PRESENT);
}

static void print_json(grants_run *run, int exit_code)
{
    const grants_plan *p = &run->plan;
    mc_buf b = {0}, script = {0};
    bool first = true;
    if (p->header)
        grants_plan_text(p, &script);
    mc_buf_putc(&b, '{');
    json_put_kv_str(&b, &first, "datastore", run->ds->name);
    json_put_kv_str(&b, &first, "dialect", grants_dialect_name(run->dialect));
    json_put_kv_str(&b, &first, "server_version", run->server_version);
    json_put_kv_str(&b, &first, "connected_as", run->connected_as);
    json_put_kv_str(&b, &first, "user", run->ds->user);
    json_put_kv_str(&b, &first, "group", run->ds->group);
    json_put_kv_str(&b, &first, "group_role", p->group_role);
    json_put_kv_bool(&b, &first, "group_renamed", p->group_renamed);
    first = json_put_key(&b, first, "schemas");
    mc_buf_putc(&b, '[');
    for (size_t i = 0; i < run->sc.n_schemas; i++) {
        bool f2 = true;
        if (i)
            mc_buf_putc(&b, ',');
        mc_buf_putc(&b, '{');
        json_put_kv_str(&b, &f2, "name", run->sc.schemas[i].name);
        json_put_kv_bool(&b, &f2, "external", run->sc.schemas[i].external);
        mc_buf_putc(&b, '}');
    }
    mc_buf_putc(&b, ']');
    first = json_put_key(&b, first, "owners");
    if (run->sc.owners_known) {
        mc_buf_putc(&b, '[');
        for (size_t i = 0; i < run->sc.n_owners; i++) {
            if (i)
                mc_buf_putc(&b, ',');
            json_put_str(&b, run->sc.owners[i]);
        }
        mc_buf_putc(&b, ']');
    } else {
        mc_buf_puts(&b, "null");
    }
    put_known(&b, &first, "user_exists", run->sc.user_exists);
    put_known(&b, &first, "group_exists", run->sc.group_exists);
    put_known(&b, &first, "member", run->sc.member);
    json_put_kv_str(&b, &first, "sql", p->header ? mc_buf_str(&script) : NULL);
    first = json_put_key(&b, first, "statements");
    mc_buf_putc(&b, '[');
    bool any = false;
    for (size_t i = 0; i < p->n_stmts; i++) {
        const grants_stmt *s = &p->stmts[i];
        stmt_result *r = run->results ? &run->results[i] : NULL;
        bool f2 = true;
        if (!s->sql)
            continue;
        if (any)
            mc_buf_putc(&b, ',');
        any = true;
        mc_buf_putc(&b, '{');
        json_put_kv_str(&b, &f2, "kind", kind_name(s->kind));
        json_put_kv_str(&b, &f2, "sql", s->sql);
        json_put_kv_str(&b, &f2, "schema", s->schema);
        json_put_kv_bool(&b, &f2, "skipped", s->skipped);
        json_put_kv_bool(&b, &f2, "may_fail", s->may_fail);
        json_put_kv_str(&b, &f2, "status", r ? r->status : NULL);
        json_put_kv_str(&b, &f2, "result", r ? r->result : NULL);
        f2 = json_put_key(&b, f2, "notices");
        mc_buf_putc(&b, '[');
        const char *nl = r ? mc_buf_str(&r->notices) : "";
        bool fn = true;
        while (*nl) {
            size_t n = strcspn(nl, "\n");
            char *line = mc_strndup(nl, n);
            if (!fn)
                mc_buf_putc(&b, ',');
            fn = false;
            json_put_str(&b, line);
            free(line);
            nl += n + (nl[n] == '\n');
        }
        mc_buf_putc(&b, ']');
        json_put_kv_str(&b, &f2, "error", r ? r->error : NULL);
        mc_buf_putc(&b, '}');
    }
    mc_buf_putc(&b, ']');
    if (run->apply)
        json_put_kv_bool(&b, &first, "applied", run->applied);
    else
        json_put_kv_raw(&b, &first, "applied", NULL);
    json_put_kv_int(&b, &first, "exit_code", exit_code);
    if (run->err.code) {
        first = json_put_key(&b, first, "error");
        bool f2 = true;
        mc_buf_putc(&b, '{');
        json_put_kv_int(&b, &f2, "code", run->err.code);
        json_put_kv_str(&b, &f2, "message", run->err.message);
        json_put_kv_str(&b, &f2, "hint", run->err.hint[0] ? run->err.hint : NULL);
        mc_buf_putc(&b, '}');
    } else {
        json_put_kv_raw(&b, &first, "error", NULL);
    }
    mc_buf_putc(&b, '}');
    cmd_print_json(&b);
    mc_buf_free(&b);
    mc_buf_free(&script);
}

/* The connection: as the admin when one is configured or named, else as
 * the crawler user (enough to read the catalog, not to --apply). */
static int connect_for_grants(grants_run *run, disc_session **sess_out)
{
    const cfg_datastore *ds = run->ds;
    const char *cli_admin = cli_value(run->ctx, "admin-user");
    const char *admin = cli_admin ? cli_admin : ds->admin.present ? ds->admin.user : NULL;
    const char *pw_opt = cli_value(run->ctx, "admin-password-from");
    mc_secret pw = {0};
    cfg_datastore as = *ds; /* a shallow copy with another login; owns nothing */
    if (run->apply && !admin) {
        mc_error_set(&run->err, MC_EXIT_USAGE,
                     "--apply needs an administrator's connection for datastore '%s'", ds->name);
        mc_error_hint(&run->err, "add admin: { user: ..., password: ${env:...} } to the "
                                 "datastore, or pass --admin-user USER (its password from "
                                 "--admin-password-from, PGPASSWORD or ~/.pgpass)");
        return -1;
    }
    char *admin_copy = NULL;
    if (admin) {
        as.user = admin_copy = mc_strdup(admin);
        if (pw_opt) {
            if (read_secret_option("admin-password-from", pw_opt, NULL, &pw, &run->err) != 0) {
                free(admin_copy);
                return -1;
            }
            memset(&as.password, 0, sizeof as.password);
            as.password.kind = CFG_SECRET_LITERAL;
            as.password.ref = pw.value;
        } else if (!(ds->admin.present && strcmp(admin, ds->admin.user) == 0)) {
            memset(&as.password, 0, sizeof as.password); /* libpq's own */
        } else {
            as.password = ds->admin.password;
        }
    }
    /* Through the datastore's tunnel when it has one: its target is the
     * warehouse's host:port whoever logs in, the admin included. */
    int rc = crawl_tunnel_open(ds, 4, NULL, &run->tun, &run->err);
    if (rc != 0) {
        mc_secret_wipe(&pw);
        free(admin_copy);
        return -1; /* the tunnel's own error and hint (4, or 5 for ssh auth) */
    }
    disc_target target = crawl_target(ds, run->tun);
    rc = disc_connect(&as, &target, sess_out, &run->err);
    mc_secret_wipe(&pw);
    run->connected_as = mc_strdup(as.user);
    free(admin_copy);
    if (rc != 0 && run->tun) {
        crawl_tunnel_address(ds, run->tun, &run->err);
        mc_error why = {0};
        if (tunnel_failed(run->tun, &why)) {
            /* Forwarding refused, the warehouse unreachable from the
             * bastion: the tunnel's error says so, with its fix. */
            run->err = why;
            return -1;
        }
    }
    tunnel_seal(run->tun);
    if (rc != 0) {
        if (run->err.code == MC_EXIT_AUTH) {
            run->err.hint[0] = '\0';
            if (admin)
                mc_error_hint(&run->err, "verify the administrator '%s' and its password "
                                         "(admin: in the config, --admin-password-from, "
                                         "PGPASSWORD or ~/.pgpass)", admin);
            else
                mc_error_hint(&run->err,
                              "the crawler user cannot log in (yet?): connect as an "
                              "administrator (admin: in the config, or --admin-user), or "
                              "print the SQL offline with --schema and --dialect");
        }
        return -1;
    }
    return 0;
}

/* --password-from for --apply: read, check, hash; the clear text is wiped
 * before this returns.  *hash_out is malloc'd (wiped by the caller). */
static int hash_password(grants_run *run, pg_session *pg, const char *src, char **hash_out)
{
    mc_secret pw = {0};
    *hash_out = NULL;
    if (read_secret_option("password-from", src, run->ds, &pw, &run->err) != 0)
        return -1;
    const char *problem =
        run->dialect == GRANTS_REDSHIFT ? grants_redshift_password_problem(pw.value) : NULL;
    if (problem) {
        mc_secret_wipe(&pw);
        mc_error_set(&run->err, MC_EXIT_USAGE,
                     "the password from --password-from %s does not suit Redshift: %s", src,
                     problem);
        mc_error_hint(&run->err, "Redshift refuses such a password in clear text; metacrawl "
                                 "sends a hash, which it cannot check, so it checks here");
        return -1;
    }
    char *h = pg_encrypt_password(pg, pw.value, run->ds->user,
                                  run->dialect == GRANTS_REDSHIFT ? "md5" : NULL);
    mc_secret_wipe(&pw);
    if (!h) {
        mc_error_set(&run->err, MC_EXIT_CONNECT, "datastore '%s': cannot hash the password: %s",
                     run->ds->name, pg_last_failure(pg)->message);
        return -1;
    }
    *hash_out = h; /* libpq's copy is wiped */
    return 0;
}

static int names_option(grants_run *run, const char *opt, char ***out)
{
    const char *v = cli_value(run->ctx, opt);
    *out = NULL;
    if (!v)
        return 0;
    int flags = 0;
    for (int i = 0; run->ctx->cmd->opts[i].lng; i++)
        if (strcmp(run->ctx->cmd->opts[i].lng, opt) == 0)
            flags = run->ctx->flags[i];
    if (flags > 1) {
        mc_error_set(&run->err, MC_EXIT_USAGE, "--%s was given %d times", opt, flags);
        mc_error_hint(&run->err, "give it once, with a comma-separated list: --%s a,b,c", opt);
        return -1;
    }
    if (grants_parse_name_list(v, out) < 0) {
        mc_error_set(&run->err, MC_EXIT_USAGE, "--%s: cannot read the list", opt);
        mc_error_hint(&run->err, "names separated by commas; a name with a comma or a quote "
                                 "in double quotes, a quote doubled: --%s 'public,\"a,b\"'",
                      opt);
        return -1;
    }
    return 0;
}

static int cmd_grants(cli_ctx *ctx)
{
    cfg *c = NULL;
    disc_session *sess = NULL;
    char **listed = NULL, **extra_owners = NULL, *hash = NULL;
    grants_run run = {.ctx = ctx, .apply = cli_flag(ctx, "apply")};
    int rc = cmd_load_config(ctx, false, &c);
    if (rc)
        return rc;
    run.ds = cfg_find_datastore(c, ctx->args[0]);
    if (!run.ds) {
        rc = cmd_unknown_datastore(c, ctx->args[0]);
        cfg_free(c);
        return rc;
    }
    const char *dialect = cli_value(ctx, "dialect");
    const char *pw_src = cli_value(ctx, "password-from");
    const char *admin_pw = cli_value(ctx, "admin-password-from");
    if (dialect) {
        int d = grants_dialect_parse(dialect);
        if (d < 0) {
            mc_error_set(&run.err, MC_EXIT_USAGE, "--dialect takes redshift or postgresql, not '%s'",
                         dialect);
            mc_error_hint(&run.err, "without --dialect the server's own is used");
            goto out;
        }
        run.dialect = (grants_dialect)d;
        run.dialect_given = true;
    }
    if ((pw_src && !valid_secret_source(pw_src, true)) ||
        (admin_pw && !valid_secret_source(admin_pw, false))) {
        bool crawler = pw_src && !valid_secret_source(pw_src, true);
        mc_error_set(&run.err, MC_EXIT_USAGE, "--%s takes env:NAME or file:PATH%s",
                     crawler ? "password-from" : "admin-password-from",
                     crawler ? " or config" : "");
        mc_error_hint(&run.err, "the value says where the password is, never the password "
                                "itself");
        goto out;
    }
    if (names_option(&run, "schema", &listed) != 0 || names_option(&run, "owner", &extra_owners) != 0)
        goto out;
    run.online = run.apply || !(listed && run.dialect_given);

    if (run.online) {
        if (connect_for_grants(&run, &sess) != 0 || disc_detect(sess, &run.err) != 0)
            goto out;
        int d = grants_dialect_parse(disc_dialect(sess));
        run.server_version = mc_strdup(disc_server_version(sess));
        if (run.dialect_given && d != (int)run.dialect) {
            mc_error_set(&run.err, MC_EXIT_USAGE, "--dialect %s, but datastore '%s' is %s", dialect,
                         run.ds->name, run.server_version);
            mc_error_hint(&run.err, "leave --dialect out when connected: the server's dialect is "
                                    "used");
            goto out;
        }
        run.dialect = d < 0 ? GRANTS_POSTGRESQL : (grants_dialect)d;
        char *role = grants_group_role(run.dialect, run.ds->user, run.ds->group);
        int r = read_scope(disc_pg(sess), run.dialect, run.ds, role, listed, &run.sc, &run.err);
        free(role);
        if (r != 0) {
            crawl_tunnel_explain(run.tun, &run.err); /* a tunnel that broke meanwhile */
            goto out;
        }
    } else {
        size_t n = 0;
        while (listed[n])
            n++;
        run.sc.schemas = mc_calloc(n + 1, sizeof *run.sc.schemas);
        run.sc.names = mc_calloc(n + 1, sizeof *run.sc.names);
        for (size_t i = 0; i < n; i++)
            scope_add_schema(&run.sc, listed[i], false);
    }
    for (size_t i = 0; extra_owners && extra_owners[i]; i++)
        add_distinct(&run.sc.owners, &run.sc.n_owners, extra_owners[i]);
    if (extra_owners)
        run.sc.owners_known = true;

    grants_input in = {
        .dialect = run.dialect,
        .datastore = run.ds->name,
        .user = run.ds->user,
        .group = run.ds->group,
        .schemas = run.sc.schemas,
        .n_schemas = run.sc.n_schemas,
        .owners = (const char *const *)run.sc.owners,
        .n_owners = run.sc.n_owners,
        .owners_known = run.sc.owners_known,
        .user_exists = run.sc.user_exists,
        .group_exists = run.sc.group_exists,
        .member = run.sc.member,
        .password_source = pw_src,
    };
    if (pw_src)
        in.password = GRANTS_PW_SOURCE;
    else if (run.sc.user_exists == GRANTS_PRESENT)
        in.password = GRANTS_PW_KEEP;
    else
        in.password = GRANTS_PW_PLACEHOLDER;
    if (run.apply) {
        if (!pw_src && run.sc.user_exists != GRANTS_PRESENT) {
            mc_buf q = {0};
            grants_quote_ident(&q, GRANTS_POSTGRESQL, run.ds->user);
            mc_error_set(&run.err, MC_EXIT_USAGE,
                         "the crawler user %s does not exist yet, and --apply has no password "
                         "for it", mc_buf_str(&q));
            mc_error_hint(&run.err, "give --password-from env:NAME, file:PATH or config (the "
                                    "datastore's password:)");
            mc_buf_free(&q);
            goto out;
        }
        if (pw_src && hash_password(&run, disc_pg(sess), pw_src, &hash) != 0)
            goto out;
        in.exec_password = hash;
    }
    if (grants_build(&in, &run.plan, &run.err) != 0)
        goto out;
    run.results = mc_calloc(run.plan.n_stmts + 1, sizeof *run.results);
    if (run.apply) {
        apply_plan(&run, disc_pg(sess));
    } else if (!ctx->json) {
        mc_buf text = {0};
        grants_plan_text(&run.plan, &text);
        fputs(mc_buf_str(&text), stdout);
        mc_buf_free(&text);
    }
out:
    rc = run.err.code;
    if (run.err.code)
        cmd_report_error(&run.err);
    if (ctx->json && run.ds)
        print_json(&run, rc);
    for (size_t i = 0; run.results && i < run.plan.n_stmts; i++) {
        free(run.results[i].result);
        free(run.results[i].error);
        mc_buf_free(&run.results[i].notices);
    }
    free(run.results);
    grants_plan_free(&run.plan);
    if (hash) {
        explicit_bzero(hash, strlen(hash));
        free(hash);
    }
    scope_free(&run.sc);
    grants_free_names(listed);
    grants_free_names(extra_owners);
    free(run.connected_as);
    free(run.server_version);
    disc_close(sess); /* first: its goodbye still travels through the tunnel */
    tunnel_close(run.tun);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_grants = {
    "grants", "DS", "group-based grant SQL for the crawler user, in the server's dialect",
    "Prints the SQL that lets the crawler user (user:, default metamapper) read the schemas "
    "in scope, through a group (group:, default metamapper): create the user and the "
    "group, put the user in the group, then for every schema GRANT USAGE and GRANT SELECT "
    "ON ALL TABLES to the group, and ALTER DEFAULT PRIVILEGES once per owner of tables in "
    "scope so that future tables are readable too. Redshift gets CREATE USER, CREATE GROUP, "
    "ALTER GROUP ... ADD USER and GRANT ... TO GROUP; PostgreSQL a NOLOGIN group role "
    "granted to the user (named <group>_readers when the group has the user's own name). "
    "Every name is quoted; no password is ever printed.\n\n"
    "The schemas in scope are the datastore's include/exclude globs resolved against the "
    "live catalog, read as the admin (admin: in the config, or --admin-user) or else as the "
    "crawler user. With --schema and --dialect nothing connects. A datastore with a tunnel: "
    "is reached through it, for the admin's connection too (docs/tunnel.md).\n\n"
    "--apply runs the SQL in one transaction as the admin and reports each statement; when "
    "one fails, nothing is applied. Running it again is safe. See docs/redshift-setup.md.",
    grants_opts, 1, 1, cmd_grants};
