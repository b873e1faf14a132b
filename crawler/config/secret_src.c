/*
 * secret_src.c — the sources of a secret: a literal, ${env:NAME},
 * ${file:PATH}, ${aws-sm:SECRET_ID[#json_key]} (AWS Secrets Manager, through
 * crawler/aws) and password_command; and a datastore's login, which iam:
 * or credentials_command may give instead (cfg_datastore_login).  At load time only their availability
 * is checked (the variable is set and non-empty, the file is readable, the
 * argv is not empty); cfg_secret_resolve() reads the value when a
 * connection needs it.  The buffers of cfg_secret_resolve and literal
 * secrets in cfg_free are wiped.
 */
#include "config_internal.h"
#include "aws.h"
#include "proc.h"
#include "secret.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
    SECRET_MAX_BYTES = 64 * 1024,
    SECRET_COMMAND_TIMEOUT_S = 30,
};

/* ---- secrets at load time ----------------------------------------------- */

static bool valid_env_name(const char *s, size_t n)
{
    if (n == 0 || isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* The checks shared by load and resolve: a variable must be set and not
 * empty (an empty password is never what was meant), a file readable. */
static int check_env(mc_error *err, const cfg_secret *s)
{
    const char *v = getenv(s->ref);
    if (!v || !*v) {
        cfgi_fail_pos(err, &s->pos, "environment variable %s is %s", s->ref, v ? "empty" : "not set");
        mc_error_hint(err, "export %s before running metacrawl (for cron or systemd, set it in "
                           "the job's environment), or use ${file:PATH} or password_command",
                      s->ref);
        return -1;
    }
    return 0;
}

static int check_file(mc_error *err, const cfg_secret *s)
{
    struct stat st;
    char eb[128];
    if (access(s->ref, R_OK) != 0 || stat(s->ref, &st) != 0) {
        cfgi_fail_pos(err, &s->pos, "cannot read %s: %s", s->ref, cfgi_errtext(errno, eb, sizeof eb));
        mc_error_hint(err, "the file must exist and be readable by the user metacrawl runs as");
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        cfgi_fail_pos(err, &s->pos, "cannot read %s: it is a directory", s->ref);
        mc_error_hint(err, "${file:PATH} takes the path of a file that holds only the secret");
        return -1;
    }
    return 0;
}

int cfgi_set_secret(ctx *x, const row *r, const yaml_node_t *key, const yaml_node_t *val,
                      cfg_secret *s)
{
    if (s->kind != CFG_SECRET_NONE) {
        cfgi_fail(x, key, "'password' and 'password_command' cannot both be set");
        mc_error_hint(x->err, "keep one of them");
        return -1;
    }
    if (val->type != YAML_SCALAR_NODE) {
        cfgi_fail(x, val, "expected a string for '%s', got %s", r->key,
             val->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
        mc_error_hint(x->err, "write ${env:NAME}, ${file:PATH} or the value itself%s",
                      strcmp(r->key, "password")
                          ? ""
                          : "; to run a program, use password_command: [argv...]");
        return -1;
    }
    if (cfgi_is_null(val)) {
        cfgi_fail(x, key, "'%s' has no value", r->key);
        mc_error_hint(x->err, "remove the key to go without (for a database password, libpq "
                              "then uses PGPASSWORD or ~/.pgpass)");
        return -1;
    }
    const char *v = cfgi_scalar(val);
    size_t len = strlen(v);
    if (len != val->data.scalar.length)
        return cfgi_nul_in_value(x, r, val);
    if (!*v) {
        cfgi_fail(x, val, "'%s' is empty", r->key);
        mc_error_hint(x->err, "an empty secret is never used; remove the key to go without");
        return -1;
    }
    s->pos = cfgi_pos_of(x, key);
    if (!strstr(v, "${")) {
        s->kind = CFG_SECRET_LITERAL;
        s->ref = mc_strdup(v);
        return 0;
    }
    /* Only a whole value "${env:NAME}" or "${file:PATH}" is a reference.
     * Anything else with "${" is refused rather than guessed at, and the
     * message does not quote it: it might be a literal secret. */
    if (!strncmp(v, "${env:", 6) && v[len - 1] == '}' && valid_env_name(v + 6, len - 7)) {
        s->kind = CFG_SECRET_ENV;
        s->ref = mc_strndup(v + 6, len - 7);
        return r->checked_on_use ? 0 : check_env(x->err, s);
    }
    if (!strncmp(v, "${file:", 7) && v[len - 1] == '}' && len > 8 && !memchr(v + 7, '}', len - 8)) {
        char *path = mc_strndup(v + 7, len - 8);
        int rc = cfgi_expand_home(x, r->key, path, val, &s->ref);
        free(path);
        if (rc != 0)
            return -1;
        s->kind = CFG_SECRET_FILE;
        return r->checked_on_use ? 0 : check_file(x->err, s);
    }
    if (!strncmp(v, "${aws-sm:", 9) && v[len - 1] == '}' && len > 10 &&
        !memchr(v + 9, '}', len - 10)) {
        const char *id = v + 9, *end = v + len - 1, *hash = memchr(id, '#', (size_t)(end - id));
        if (hash == id || hash + 1 == end) {
            cfgi_fail(x, val, "'%s': ${aws-sm:...} needs a secret id%s", r->key,
                      hash == id ? "" : " and, after '#', a key");
            mc_error_hint(x->err, "write ${aws-sm:NAME-OR-ARN} or ${aws-sm:NAME-OR-ARN#json_key}");
            return -1;
        }
        s->kind = CFG_SECRET_AWS_SM;
        s->ref = mc_strndup(id, (size_t)((hash ? hash : end) - id));
        s->json_key = hash ? mc_strndup(hash + 1, (size_t)(end - hash - 1)) : NULL;
        return 0; /* fetched when used: a load must not call AWS */
    }
    cfgi_fail(x, val, "'%s' has an unsupported ${...} reference", r->key);
    mc_error_hint(x->err, "the value must be exactly ${env:NAME}, ${file:PATH} or "
                          "${aws-sm:SECRET_ID[#json_key]} (NAME: letters, digits, '_'); a literal "
                          "secret cannot contain '${', put it in a file");
    return -1;
}

/* ---- secrets at use time --------------------------------------------------- */

static int resolve_file(const cfg_secret *s, mc_secret *out, mc_error *err)
{
    if (check_file(err, s) != 0)
        return -1;
    int e = 0;
    enum mc_secret_file_status st = mc_secret_read_file(s->ref, SECRET_MAX_BYTES, out, &e);
    if (st == MC_SECRET_FILE_OK)
        return 0;
    mc_error why = {0};
    mc_secret_file_error(st, e, s->ref, SECRET_MAX_BYTES, MC_EXIT_CONFIG, &why);
    cfgi_fail_pos(err, &s->pos, "%s", why.message);
    if (why.hint[0])
        mc_error_hint(err, "%s", why.hint);
    return -1;
}

/* Runs argv without a shell, stdin from /dev/null, stderr passed through,
 * and takes its stdout (at most 64 KiB, trailing whitespace trimmed) as
 * the secret.  At the deadline its whole process group is stopped (proc.h),
 * so a helper that started a child does not leave it running. */
static int resolve_command(const cfg_secret *s, mc_secret *out, mc_error *err)
{
    const char *prog = s->argv[0];
    char eb[128];
    int rc = -1;
    mc_proc_spec spec = {
        .argv = s->argv,
        .out = MC_PROC_CAPTURE,
        .err = MC_PROC_INHERIT,
        .capture_max = SECRET_MAX_BYTES,
        .kill_on_overflow = true,
        .secret = true,
        .timeout_s = SECRET_COMMAND_TIMEOUT_S,
    };
    mc_proc_result res;
    if (mc_proc_run(&spec, &res) != 0) {
        cfgi_fail_pos(err, &s->pos, "cannot run '%s': %s", prog,
                 cfgi_errtext(res.start_errno, eb, sizeof eb));
        if (strcmp(res.start_stage, "spawn") == 0)
            mc_error_hint(err, "password_command is run without a shell; is '%s' installed "
                          "and on PATH?", prog);
        goto out;
    }
    int status = res.status;
    if (res.overflow) {
        cfgi_fail_pos(err, &s->pos, "command '%s' printed more than 64 KiB", prog);
        mc_error_hint(err, "the command must print only the secret");
        goto out;
    }
    if (res.timed_out || !res.exited) {
        cfgi_fail_pos(err, &s->pos, "command '%s' did not finish within %d s", prog,
                 SECRET_COMMAND_TIMEOUT_S);
        mc_error_hint(err, "run the command by hand as the same user; does it wait for input?");
        goto out;
    }
    if (WIFSIGNALED(status)) {
        cfgi_fail_pos(err, &s->pos, "command '%s' was killed by signal %d (%s)", prog,
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
        mc_error_hint(err, "run it by hand as the same user to see why it dies");
        goto out;
    }
    if (WEXITSTATUS(status) != 0) {
        cfgi_fail_pos(err, &s->pos, "command '%s' exited with status %d", prog, WEXITSTATUS(status));
        mc_error_hint(err, "%s", WEXITSTATUS(status) == 127
                                     ? "status 127 usually means a program it runs was not found"
                                     : "its own message is on stderr above; run it by hand to see");
        goto out;
    }
    size_t len = res.n_out;
    while (len && isspace((unsigned char)res.out[len - 1]))
        len--;
    if (len == 0) {
        cfgi_fail_pos(err, &s->pos, "command '%s' printed nothing", prog);
        mc_error_hint(err,
                      "an empty secret is never used; the command must print the secret on stdout");
        goto out;
    }
    mc_secret_set(out, res.out, len);
    rc = 0;
out:
    if (rc != 0)
        mc_error_hint(err, "run the command by hand as the same user to check it");
    mc_proc_result_free(&res);
    return rc;
}

static aws_opts aws_opts_of(const cfg_iam *m, const char *endpoint)
{
    aws_opts o = {.endpoint_url = endpoint};
    if (m && m->present) {
        o.region = m->region;
        o.profile = m->profile;
        o.role_arn = m->role_arn;
    }
    return o;
}

/* The AWS error is kept whole (it names the call and the code); the
 * position of the key that asked for it comes first. */
static int at_key(const cfg_pos *p, mc_error *why, mc_error *err)
{
    mc_error_set(err, why->code, "%s:%d:%d: %s", p->file, p->line, p->column, why->message);
    if (why->hint[0])
        mc_error_hint(err, "%s", why->hint);
    return -1;
}

static int resolve_aws_sm(const cfg_secret *s, mc_secret *out, mc_error *err)
{
    aws_opts o = aws_opts_of(s->aws, s->aws_endpoint_url);
    mc_error why = {0};
    if (aws_secret_value(&o, s->ref, s->json_key, out, &why) != 0)
        return at_key(&s->pos, &why, err);
    return 0;
}

int cfg_secret_resolve(const cfg_secret *src, mc_secret *out, mc_error *err)
{
    mc_secret_guard_process();
    switch (src->kind) {
    case CFG_SECRET_NONE:
        mc_secret_wipe(out);
        return 0;
    case CFG_SECRET_LITERAL:
        mc_secret_set(out, src->ref, strlen(src->ref));
        return 0;
    case CFG_SECRET_ENV: {
        if (check_env(err, src) != 0)
            return -1;
        const char *v = getenv(src->ref);
        mc_secret_set(out, v, strlen(v));
        return 0;
    }
    case CFG_SECRET_FILE:
        return resolve_file(src, out, err);
    case CFG_SECRET_COMMAND:
        if (!src->argv || src->argc == 0 || !src->argv[0])
            return cfgi_fail_pos(err, &src->pos, "password_command is empty");
        return resolve_command(src, out, err);
    case CFG_SECRET_AWS_SM:
        return resolve_aws_sm(src, out, err);
    }
    cfgi_fail_pos(err, &src->pos, "unknown secret source");
    mc_error_hint(err, "this is a bug in metacrawl; please report it");
    return -1;
}

void cfgi_secret_free(cfg_secret *s)
{
    if (s->kind == CFG_SECRET_LITERAL && s->ref)
        explicit_bzero(s->ref, strlen(s->ref));
    free(s->ref);
    free(s->json_key);
    cfgi_strv_free(s->argv, s->argc);
    memset(s, 0, sizeof *s);
}

/* ---- a datastore's login ------------------------------------------------------ */

/* credentials_command: stdout is JSON {"user","password","expiration"}. */
static int resolve_credentials_command(const cfg_datastore *ds, char **user_out,
                                       mc_secret *password, mc_error *err)
{
    cfg_secret as_cmd = {.kind = CFG_SECRET_COMMAND, .argv = ds->credentials_command,
                         .argc = ds->n_credentials_command, .pos = ds->credentials_command_pos};
    mc_secret text = {0};
    if (resolve_command(&as_cmd, &text, err) != 0)
        return -1;
    aws_db_login l;
    const char *why = aws_parse_login_json(text.value, text.len, &l);
    mc_secret_wipe(&text);
    if (why) {
        cfgi_fail_pos(err, &ds->credentials_command_pos, "credentials_command '%s': %s",
                      ds->credentials_command[0], why);
        mc_error_hint(err, "it must print {\"user\": ..., \"password\": ..., \"expiration\": "
                           "...} (docs/aws.md, \"credentials_command\")");
        return -1;
    }
    if (l.expires_at > 0 && l.expires_at <= mc_time_now()) {
        char when[21];
        mc_time_iso(l.expires_at, when);
        cfgi_fail_pos(err, &ds->credentials_command_pos, "credentials_command '%s' printed "
                      "credentials that expired at %s", ds->credentials_command[0], when);
        mc_error_hint(err, "the command must print fresh credentials each time it runs");
        aws_db_login_free(&l);
        return -1;
    }
    *user_out = l.user;
    *password = l.password;
    return 0;
}

int cfg_datastore_login(const cfg_datastore *ds, char **user_out, mc_secret *password,
                        mc_error *err)
{
    *user_out = NULL;
    mc_secret_guard_process();
    if (ds->iam.present) {
        const cfg_iam *m = &ds->iam;
        aws_opts o = aws_opts_of(m, ds->aws_endpoint_url);
        aws_db_request r = {
            .cluster_identifier = m->cluster_identifier,
            .workgroup = m->workgroup,
            .db_user = m->db_user ? m->db_user : ds->user,
            .db_name = ds->database,
            .db_groups = m->db_groups,
            .n_db_groups = m->n_db_groups,
            .auto_create = m->auto_create,
            .duration_s = m->duration_s,
        };
        aws_db_login l;
        mc_error why = {0};
        if (aws_db_credentials(&o, &r, &l, &why) != 0)
            return at_key(&m->pos, &why, err);
        *user_out = l.user;
        *password = l.password;
        return 0;
    }
    if (ds->credentials_command)
        return resolve_credentials_command(ds, user_out, password, err);
    /* libpq may take the password from PGPASSWORD or .pgpass itself */
    if (ds->password.kind != CFG_SECRET_NONE)
        return cfg_secret_resolve(&ds->password, password, err);
    return 0;
}
