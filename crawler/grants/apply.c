/*
 * apply.c — one `metacrawl grants` for one datastore (grants_execute,
 * grants.h): the options checked, the connection (as the admin when one is
 * configured or named, else as the crawler user; through the datastore's
 * tunnel when it has one), the scope read (scope.c), the plan built
 * (plan.c), then printed, or run with --apply in one transaction and each
 * statement reported; and the run as JSON for --json.  The command
 * (crawler/cli/cmd_grants.c) fills grants_opts and reports the error.
 *
 * Passwords.  --password-from and --admin-password-from name a source,
 * never a value; the secret is read just before it is used and wiped right
 * after.  --apply hashes the crawler's password with libpq
 * (PQencryptPasswordConn: SCRAM or MD5 on PostgreSQL as the server's
 * password_encryption says, Redshift's documented md5 form on Redshift),
 * so not even the server's statement log sees it in clear.
 */
#include "grants_internal.h"
#include "crawl.h"
#include "discover.h"
#include "json.h"
#include "secret.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    SECRET_FILE_MAX = 64 * 1024,
};

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

struct grants_run {
    const grants_opts *o;
    const cfg_datastore *ds;
    grants_dialect dialect;
    bool dialect_given;
    bool online;
    bool apply;
    char *connected_as;
    char *server_version;
    tunnel *tun;         /* the datastore's tunnel:, open while connected */
    grants_scope sc;
    grants_plan plan;
    stmt_result *results;
    bool applied;
    mc_error err;
    /* held until grants_run_free, so the command reports before they close */
    disc_session *sess;
    char **listed, **extra_owners; /* --schema, --owner */
    char *hash;                    /* the crawler's password as --apply sends it */
};

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
    bool text = !run->o->json;
    size_t n_run = 0;
    for (size_t i = 0; i < p->n_stmts; i++)
        n_run += p->stmts[i].sql && !p->stmts[i].skipped;
    if (text) {
        printf("-- metacrawl grants --apply for datastore '%s' as ", run->ds->name);
        mc_buf who = {0};
        grants_quote_ident(&who, GRANTS_POSTGRESQL, run->connected_as);
        mc_buf safe = {0};
        mc_term_escape(&safe, mc_buf_str(&who)); /* as report.h's report_put_safe */
        fputs(mc_buf_str(&safe), stdout);
        mc_buf_free(&safe);
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

void grants_run_json(const grants_run *run, int exit_code, mc_buf *out)
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
    mc_buf_puts(out, mc_buf_str(&b));
    mc_buf_free(&b);
    mc_buf_free(&script);
}

/* The connection: as the admin when one is configured or named, else as
 * the crawler user (enough to read the catalog, not to --apply). */
static int connect_for_grants(grants_run *run, disc_session **sess_out)
{
    const cfg_datastore *ds = run->ds;
    const char *cli_admin = run->o->admin_user;
    const char *admin = cli_admin ? cli_admin : ds->admin.present ? ds->admin.user : NULL;
    const char *pw_opt = run->o->admin_password_from;
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
        /* the admin logs in with its own password, never the crawler's
         * iam: or credentials_command login */
        memset(&as.iam, 0, sizeof as.iam);
        as.credentials_command = NULL;
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

/* A --schema or --owner list: given at most once, read as names. */
static int names_option(grants_run *run, const char *opt, const char *v, int times,
                        char ***out)
{
    *out = NULL;
    if (!v)
        return 0;
    if (times > 1) {
        mc_error_set(&run->err, MC_EXIT_USAGE, "--%s was given %d times", opt, times);
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

int grants_execute(const cfg_datastore *ds, const grants_opts *o, grants_run **out,
                   mc_error *err)
{
    grants_run *run = mc_calloc(1, sizeof *run);
    run->o = o;
    run->ds = ds;
    run->apply = o->apply;
    *out = run;
    const char *dialect = o->dialect;
    const char *pw_src = o->password_from;
    const char *admin_pw = o->admin_password_from;
    if (dialect) {
        int d = grants_dialect_parse(dialect);
        if (d < 0) {
            mc_error_set(&run->err, MC_EXIT_USAGE,
                         "--dialect takes redshift or postgresql, not '%s'", dialect);
            mc_error_hint(&run->err, "without --dialect the server's own is used");
            goto out;
        }
        run->dialect = (grants_dialect)d;
        run->dialect_given = true;
    }
    if ((pw_src && !valid_secret_source(pw_src, true)) ||
        (admin_pw && !valid_secret_source(admin_pw, false))) {
        bool crawler = pw_src && !valid_secret_source(pw_src, true);
        mc_error_set(&run->err, MC_EXIT_USAGE, "--%s takes env:NAME or file:PATH%s",
                     crawler ? "password-from" : "admin-password-from",
                     crawler ? " or config" : "");
        mc_error_hint(&run->err, "the value says where the password is, never the password "
                                "itself");
        goto out;
    }
    if (names_option(run, "schema", o->schema, o->schema_given, &run->listed) != 0 ||
        names_option(run, "owner", o->owner, o->owner_given, &run->extra_owners) != 0)
        goto out;
    run->online = run->apply || !(run->listed && run->dialect_given);

    if (run->online) {
        if (connect_for_grants(run, &run->sess) != 0 || disc_detect(run->sess, &run->err) != 0)
            goto out;
        int d = grants_dialect_parse(disc_dialect(run->sess));
        run->server_version = mc_strdup(disc_server_version(run->sess));
        if (run->dialect_given && d != (int)run->dialect) {
            mc_error_set(&run->err, MC_EXIT_USAGE, "--dialect %s, but datastore '%s' is %s",
                         dialect, run->ds->name, run->server_version);
            mc_error_hint(&run->err, "leave --dialect out when connected: the server's dialect is "
                                    "used");
            goto out;
        }
        run->dialect = d < 0 ? GRANTS_POSTGRESQL : (grants_dialect)d;
        char *role = grants_group_role(run->dialect, run->ds->user, run->ds->group);
        int r = grants_scope_read(disc_pg(run->sess), run->dialect, run->ds, role, run->listed,
                                  &run->sc, &run->err);
        free(role);
        if (r != 0) {
            crawl_tunnel_explain(run->tun, &run->err); /* a tunnel that broke meanwhile */
            goto out;
        }
    } else {
        size_t n = 0;
        while (run->listed[n])
            n++;
        run->sc.schemas = mc_calloc(n + 1, sizeof *run->sc.schemas);
        run->sc.names = mc_calloc(n + 1, sizeof *run->sc.names);
        for (size_t i = 0; i < n; i++)
            grants_scope_add_schema(&run->sc, run->listed[i], false);
    }
    for (size_t i = 0; run->extra_owners && run->extra_owners[i]; i++)
        grants_add_distinct(&run->sc.owners, &run->sc.n_owners, run->extra_owners[i]);
    if (run->extra_owners)
        run->sc.owners_known = true;

    grants_input in = {
        .dialect = run->dialect,
        .datastore = run->ds->name,
        .user = run->ds->user,
        .group = run->ds->group,
        .schemas = run->sc.schemas,
        .n_schemas = run->sc.n_schemas,
        .owners = (const char *const *)run->sc.owners,
        .n_owners = run->sc.n_owners,
        .owners_known = run->sc.owners_known,
        .user_exists = run->sc.user_exists,
        .group_exists = run->sc.group_exists,
        .member = run->sc.member,
        .password_source = pw_src,
    };
    if (pw_src)
        in.password = GRANTS_PW_SOURCE;
    else if (run->sc.user_exists == GRANTS_PRESENT)
        in.password = GRANTS_PW_KEEP;
    else
        in.password = GRANTS_PW_PLACEHOLDER;
    if (run->apply) {
        if (!pw_src && run->sc.user_exists != GRANTS_PRESENT) {
            mc_buf q = {0};
            grants_quote_ident(&q, GRANTS_POSTGRESQL, run->ds->user);
            mc_error_set(&run->err, MC_EXIT_USAGE,
                         "the crawler user %s does not exist yet, and --apply has no password "
                         "for it", mc_buf_str(&q));
            mc_error_hint(&run->err, "give --password-from env:NAME, file:PATH or config (the "
                                    "datastore's password:)");
            mc_buf_free(&q);
            goto out;
        }
        if (pw_src && hash_password(run, disc_pg(run->sess), pw_src, &run->hash) != 0)
            goto out;
        in.exec_password = run->hash;
    }
    if (grants_build(&in, &run->plan, &run->err) != 0)
        goto out;
    run->results = mc_calloc(run->plan.n_stmts + 1, sizeof *run->results);
    if (run->apply) {
        apply_plan(run, disc_pg(run->sess));
    } else if (!o->json) {
        mc_buf text = {0};
        grants_plan_text(&run->plan, &text);
        fputs(mc_buf_str(&text), stdout);
        mc_buf_free(&text);
    }
out:
    *err = run->err;
    return run->err.code;
}

void grants_run_free(grants_run *run)
{
    if (!run)
        return;
    for (size_t i = 0; run->results && i < run->plan.n_stmts; i++) {
        free(run->results[i].result);
        free(run->results[i].error);
        mc_buf_free(&run->results[i].notices);
    }
    free(run->results);
    grants_plan_free(&run->plan);
    if (run->hash) {
        explicit_bzero(run->hash, strlen(run->hash));
        free(run->hash);
    }
    grants_scope_free(&run->sc);
    grants_free_names(run->listed);
    grants_free_names(run->extra_owners);
    free(run->connected_as);
    free(run->server_version);
    disc_close(run->sess); /* first: its goodbye still travels through the tunnel */
    tunnel_close(run->tun);
    free(run);
}
