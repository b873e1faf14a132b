/*
 * plan.c — the SQL of `metacrawl grants` without a connection (grants.h):
 * the dialects, identifier and literal quoting, the group role's name,
 * --schema/--owner lists, the plan of statements and its text.  The golden
 * files in tests/golden/ are this file's output; the unit tests drive it
 * directly.
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
 * the word [redacted] (also a syntax error).  What --apply sends instead
 * (a hash, apply.c) is each statement's exec_sql, wiped when freed.
 */
#include "grants.h"
#include "sql_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    PG_NAME_MAX = 63, /* NAMEDATALEN - 1 */
};

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
