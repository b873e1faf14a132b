/*
 * cli.c — parsing argv against the command table, and writing the help
 * texts and the man page from that same table.  Global options may stand
 * before or after the command; `--` ends options.  Usage errors exit 2 with
 * a one-line message and a pointer to --help.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mc_build.h"
#include "pg.h"
#include "report.h"
#include "store.h"
#include "tunnel.h"

const cli_opt cli_global_opts[] = {
    {"config", 'c', "FILE",
     "configuration file (default ./metacrawl.yml, then "
     "$XDG_CONFIG_HOME/metacrawl/metacrawl.yml)", CLI_IS_TEXT},
    {"store", 0, "PATH", "SQLite catalog to use instead of the config's store:", CLI_IS_TEXT},
    {"json", 0, NULL, "machine-readable output on stdout", CLI_IS_FLAG},
    {"quiet", 'q', NULL, "only errors on stderr", CLI_IS_FLAG},
    {"verbose", 'v', NULL, "more detail on stderr (twice: the catalog queries)", CLI_IS_FLAG},
    {"help", 'h', NULL, "show help (for a command: metacrawl COMMAND --help)", CLI_IS_FLAG},
    {"version", 0, NULL, "print the version and those of libpq, libssh2 and SQLite",
     CLI_IS_FLAG},
    {0},
};

const cli_exit_doc cli_exit_docs[] = {
    {0, "success"},
    {1, "changes were found (only with --fail-on or crawl --exit-code)"},
    {2, "usage error: unknown command or option, wrong arguments"},
    {3, "configuration error: the message names file, line and column"},
    {4, "cannot connect: network, refused, timeout, TLS, tunnel, host key"},
    {5, "authentication or permission error"},
    {6, "store error: the SQLite catalog cannot be opened or written"},
    {7, "partial crawl: some schemas could not be read, a Redshift-only "
        "step failed, or removals were held back by fail_safe"},
};
const size_t cli_n_exit_docs = sizeof cli_exit_docs / sizeof cli_exit_docs[0];

const char *cli_value(const cli_ctx *ctx, const char *lng)
{
    for (int i = 0; ctx->cmd->opts[i].lng; i++)
        if (strcmp(ctx->cmd->opts[i].lng, lng) == 0)
            return ctx->values[i];
    return NULL;
}

bool cli_flag(const cli_ctx *ctx, const char *lng)
{
    for (int i = 0; ctx->cmd->opts[i].lng; i++)
        if (strcmp(ctx->cmd->opts[i].lng, lng) == 0)
            return ctx->flags[i] > 0;
    return false;
}

long cli_int(const cli_ctx *ctx, const char *lng, long dflt)
{
    const char *v = cli_value(ctx, lng);
    return v ? strtol(v, NULL, 10) : dflt;
}

static const cli_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < cli_n_commands; i++)
        if (strcmp(cli_commands[i]->name, name) == 0)
            return cli_commands[i];
    return NULL;
}

static mc_error first_error;
static bool json_printed;

void cli_note_error(const mc_error *err)
{
    if (err && err->code && !first_error.code)
        first_error = *err;
}

void cli_note_json_output(void)
{
    json_printed = true;
}

/* The JSON document of a failure no command printed one for. */
static void print_json_error(int rc)
{
    mc_buf b = {0};
    bool first = true, inner = true;
    mc_buf_putc(&b, '{');
    first = json_put_key(&b, first, "error");
    mc_buf_putc(&b, '{');
    json_put_kv_int(&b, &inner, "code", rc);
    json_put_kv_str(&b, &inner, "message",
                    first_error.code ? first_error.message : "failed; see stderr");
    json_put_kv_str(&b, &inner, "hint",
                    first_error.code && first_error.hint[0] ? first_error.hint : NULL);
    mc_buf_putc(&b, '}');
    json_put_kv_int(&b, &first, "exit_code", rc);
    mc_buf_putc(&b, '}');
    puts(mc_buf_str(&b));
    mc_buf_free(&b);
}

/* message has one %s for what (the offending word). */
static int usage_error(const cli_cmd *cmd, const char *message, const char *what)
{
    const char *at = strstr(message, "%s");
    mc_error e = {0};
    mc_error_set(&e, MC_EXIT_USAGE, "%.*s%s%s",
                 at ? (int)(at - message) : (int)strlen(message), message, at ? what : "",
                 at ? at + 2 : "");
    mc_error_hint(&e, "try 'metacrawl %s%s--help'", cmd ? cmd->name : "", cmd ? " " : "");
    cli_note_error(&e);
    fprintf(stderr, "metacrawl: %s", e.message);
    fprintf(stderr, "\nTry 'metacrawl %s%s--help'.\n", cmd ? cmd->name : "",
            cmd ? " " : "");
    return MC_EXIT_USAGE;
}

static void print_version(bool json)
{
    char pq[32];
    pg_lib_version(pq, sizeof pq);
    if (json) {
        mc_buf b = {0};
        bool first = true;
        mc_buf_putc(&b, '{');
        json_put_kv_str(&b, &first, "version", MC_VERSION);
        json_put_kv_str(&b, &first, "libpq", pq);
        json_put_kv_str(&b, &first, "libssh2", tunnel_lib_version());
        json_put_kv_str(&b, &first, "sqlite", store_lib_version());
        mc_buf_putc(&b, '}');
        puts(mc_buf_str(&b));
        mc_buf_free(&b);
        cli_note_json_output();
        return;
    }
    printf("metacrawl %s\n", MC_VERSION);
    printf("libpq %s\n", pq);
    printf("libssh2 %s\n", tunnel_lib_version());
    printf("SQLite %s\n", store_lib_version());
}

/* 0 when value is of o's type; otherwise the usage error, reported. */
static int check_type(const cli_opt *o, const char *value, const cli_cmd *cmd)
{
    if (o->type != CLI_INT)
        return 0;
    char *end = NULL;
    errno = 0;
    long n = strtol(value, &end, 10);
    if (*value >= '0' && *value <= '9' && *end == '\0' && errno != ERANGE && n >= o->min &&
        n <= o->max)
        return 0;
    mc_buf safe = {0}, msg = {0};
    mc_term_escape(&safe, value);
    if (o->max == LONG_MAX)
        mc_buf_printf(&msg, "--%s takes a whole number (%ld or more), not '%%s'", o->lng,
                      o->min);
    else
        mc_buf_printf(&msg, "--%s takes a whole number from %ld to %ld, not '%%s'", o->lng,
                      o->min, o->max);
    usage_error(cmd, mc_buf_str(&msg), mc_buf_str(&safe));
    mc_buf_free(&safe);
    mc_buf_free(&msg);
    return -1;
}

/* Matches argv[*i] against a table of options.  Returns the option's index,
 * -1 when it is not in the table, -2 on a usage error already printed.
 * *value gets the argument of an option that takes one. */
static int match_opt(const cli_opt *opts, int argc, char **argv, int *i,
                     const char **value, const cli_cmd *cmd)
{
    const char *a = argv[*i];
    *value = NULL;
    for (int k = 0; opts[k].lng; k++) {
        const cli_opt *o = &opts[k];
        const char *inline_val = NULL;
        bool hit = false;
        if (a[1] == '-') {
            size_t n = strlen(o->lng);
            if (strncmp(a + 2, o->lng, n) == 0 && (a[2 + n] == '\0' || a[2 + n] == '=')) {
                hit = true;
                if (a[2 + n] == '=')
                    inline_val = a + 3 + n;
            }
        } else if (o->shrt && a[1] == o->shrt && a[2] == '\0') {
            hit = true;
        }
        if (!hit)
            continue;
        if (!o->arg) {
            if (inline_val) {
                usage_error(cmd, "option '--%s' takes no value", o->lng);
                return -2;
            }
            return k;
        }
        if (inline_val) {
            *value = inline_val;
        } else if (*i + 1 < argc) {
            *value = argv[++*i];
        } else {
            usage_error(cmd, "option '%s' needs a value", a);
            return -2;
        }
        return check_type(o, *value, cmd) == 0 ? k : -2;
    }
    return -1;
}

int cli_main(int argc, char **argv)
{
    cli_ctx ctx = {0};
    report_set_error_observer(cli_note_error);
    ctx.args = mc_calloc((size_t)argc + 1, sizeof *ctx.args);
    int rc = MC_EXIT_USAGE;
    bool want_help = false, want_version = false, only_args = false;
    /* --json counts even when a usage error stops the parsing before it */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            ctx.json = true;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_args && strcmp(a, "--") == 0) {
            only_args = true;
            continue;
        }
        if (only_args || a[0] != '-' || a[1] == '\0') {
            if (!ctx.cmd) {
                ctx.cmd = find_cmd(a);
                if (!ctx.cmd) {
                    rc = usage_error(NULL, "unknown command '%s'", a);
                    goto out;
                }
            } else {
                ctx.args[ctx.n_args++] = argv[i];
            }
            continue;
        }
        /* -vv, -vvv: each v is one more level */
        if (a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1)) {
            ctx.verbosity += (int)strlen(a + 1);
            continue;
        }
        const char *value;
        int k = match_opt(cli_global_opts, argc, argv, &i, &value, ctx.cmd);
        if (k == -2)
            goto out;
        if (k >= 0) {
            switch (k) { /* the order of cli_global_opts */
            case 0: ctx.config_path = value; break;
            case 1: ctx.store_path = value; break;
            case 2: ctx.json = true; break;
            case 3: ctx.verbosity = -1; break;
            case 4: ctx.verbosity++; break;
            case 5: want_help = true; break;
            default: want_version = true; break;
            }
            continue;
        }
        if (ctx.cmd) {
            k = match_opt(ctx.cmd->opts, argc, argv, &i, &value, ctx.cmd);
            if (k == -2)
                goto out;
            if (k >= 0) {
                ctx.values[k] = value;
                ctx.flags[k]++;
                continue;
            }
        }
        rc = usage_error(ctx.cmd, "unknown option '%s'", a);
        goto out;
    }

    if (want_version) {
        print_version(ctx.json);
        rc = MC_EXIT_OK;
        goto out;
    }
    if (want_help || !ctx.cmd) {
        cli_print_help(want_help ? stdout : stderr, ctx.cmd);
        rc = want_help ? MC_EXIT_OK : MC_EXIT_USAGE;
        goto out;
    }
    if (ctx.n_args < ctx.cmd->min_args ||
        (ctx.cmd->max_args >= 0 && ctx.n_args > ctx.cmd->max_args)) {
        rc = usage_error(ctx.cmd, "wrong number of arguments: usage: metacrawl %s",
                         ctx.cmd->name);
        goto out;
    }
    mc_log_threshold = ctx.verbosity < 0    ? MC_LOG_ERROR
                       : ctx.verbosity == 0 ? MC_LOG_WARN
                       : ctx.verbosity == 1 ? MC_LOG_INFO
                                            : MC_LOG_DEBUG;
    rc = ctx.cmd->run(&ctx);
out:
    if (ctx.json && rc >= MC_EXIT_USAGE && !json_printed)
        print_json_error(rc);
    free(ctx.args);
    return rc;
}

/* ---- help ------------------------------------------------------------------ */

static void print_opt(FILE *f, const cli_opt *o)
{
    char left[64];
    if (o->shrt)
        snprintf(left, sizeof left, "-%c, --%s%s%s", o->shrt, o->lng,
                 o->arg ? " " : "", o->arg ? o->arg : "");
    else
        snprintf(left, sizeof left, "    --%s%s%s", o->lng, o->arg ? " " : "",
                 o->arg ? o->arg : "");
    if (strlen(left) > 24) /* a long option gets its help on the next line */
        fprintf(f, "  %s\n  %-24s %s\n", left, "", o->help);
    else
        fprintf(f, "  %-24s %s\n", left, o->help);
}

static void print_wrapped(FILE *f, const char *text, int indent)
{
    /* Paragraphs are separated by blank lines; lines wrap at 78 columns. */
    const char *p = text;
    int col = indent;
    fprintf(f, "%*s", indent, "");
    while (*p) {
        if (p[0] == '\n' && p[1] == '\n') {
            fprintf(f, "\n\n%*s", indent, "");
            col = indent;
            p += 2;
            continue;
        }
        if (*p == ' ' || *p == '\n') {
            p++;
            continue;
        }
        size_t w = strcspn(p, " \n");
        if (col > indent && col + 1 + (int)w > 78) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f); /* the space between words, written only before one */
            col++;
        }
        fwrite(p, 1, w, f);
        col += (int)w;
        p += w;
    }
    fputc('\n', f);
}

void cli_print_help(FILE *f, const cli_cmd *cmd)
{
    if (cmd) {
        fprintf(f, "Usage: metacrawl %s%s%s [OPTIONS]\n\n", cmd->name,
                cmd->args[0] ? " " : "", cmd->args);
        print_wrapped(f, cmd->description, 2);
        if (cmd->opts[0].lng) {
            fprintf(f, "\nOptions:\n");
            for (int i = 0; cmd->opts[i].lng; i++)
                print_opt(f, &cmd->opts[i]);
        }
        fprintf(f, "\nGlobal options: see 'metacrawl --help'.\n");
        return;
    }
    fprintf(f, "Usage: metacrawl [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\n");
    fprintf(f, "A metadata catalog crawler for Amazon Redshift and PostgreSQL.\n\n");
    fprintf(f, "Commands:\n");
    for (size_t i = 0; i < cli_n_commands; i++)
        fprintf(f, "  %-10s %s\n", cli_commands[i]->name, cli_commands[i]->summary);
    fprintf(f, "\nGlobal options:\n");
    for (int i = 0; cli_global_opts[i].lng; i++)
        print_opt(f, &cli_global_opts[i]);
    fprintf(f, "\nExit codes:\n");
    for (size_t i = 0; i < cli_n_exit_docs; i++)
        fprintf(f, "  %d  %s\n", cli_exit_docs[i].code, cli_exit_docs[i].meaning);
    fprintf(f, "\nRun 'metacrawl COMMAND --help' for a command's options.\n");
}

/* ---- man page ---------------------------------------------------------------- */

/* roff-escapes text: backslash, and a leading '.' or '\'' on a line. */
static void roff(FILE *f, const char *s)
{
    bool line_start = true;
    for (; *s; s++) {
        if (line_start && (*s == '.' || *s == '\''))
            fputs("\\&", f);
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
        line_start = *s == '\n';
    }
}

static void man_opt(FILE *f, const cli_opt *o)
{
    fputs(".TP\n", f);
    if (o->shrt)
        fprintf(f, "\\fB\\-%c\\fR, ", o->shrt);
    fputs("\\fB\\-\\-", f);
    roff(f, o->lng);
    fputs("\\fR", f);
    if (o->arg) {
        fputs(" \\fI", f);
        roff(f, o->arg);
        fputs("\\fR", f);
    }
    fputc('\n', f);
    roff(f, o->help);
    fputc('\n', f);
}

static void man_paragraphs(FILE *f, const char *text)
{
    const char *p = text;
    while (*p) {
        const char *end = strstr(p, "\n\n");
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *para = mc_strndup(p, n);
        for (char *q = para; *q; q++)
            if (*q == '\n')
                *q = ' ';
        fputs(".PP\n", f);
        roff(f, para);
        fputc('\n', f);
        free(para);
        p += n;
        while (*p == '\n')
            p++;
    }
}

void cli_print_man(FILE *f)
{
    fputs(".\\\" Generated by 'metacrawl help --man' from the option table in\n"
          ".\\\" the command table in crawler/cli/; do not edit by hand.\n", f);
    fprintf(f, ".TH METACRAWL 1 \"\" \"metacrawl %s\" \"User Commands\"\n", MC_VERSION);
    fputs(".SH NAME\nmetacrawl \\- metadata catalog crawler for Amazon Redshift and PostgreSQL\n", f);
    fputs(".SH SYNOPSIS\n.B metacrawl\n[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR "
          "[\\fIOPTIONS\\fR] [\\fIARGS\\fR]\n", f);
    fputs(".SH DESCRIPTION\n", f);
    man_paragraphs(f,
                   "metacrawl connects to a warehouse, discovers schemas, tables, "
                   "views and columns with their keys, diffs them against a local "
                   "SQLite catalog that keeps the full history, and reports what "
                   "changed.\n\nConfiguration is read from metacrawl.yml; see "
                   "docs/configuration.md. Logs and progress go to stderr, results "
                   "to stdout.");
    fputs(".SH GLOBAL OPTIONS\n", f);
    for (int i = 0; cli_global_opts[i].lng; i++)
        man_opt(f, &cli_global_opts[i]);
    fputs(".SH COMMANDS\n", f);
    for (size_t i = 0; i < cli_n_commands; i++) {
        const cli_cmd *c = cli_commands[i];
        fputs(".SS \"", f);
        roff(f, c->name);
        if (c->args[0]) {
            fputc(' ', f);
            roff(f, c->args);
        }
        fputs("\"\n", f);
        man_paragraphs(f, c->description);
        for (int k = 0; c->opts[k].lng; k++)
            man_opt(f, &c->opts[k]);
    }
    fputs(".SH EXIT STATUS\n", f);
    fputs("With several datastores, every one is attempted and the highest code wins.\n", f);
    for (size_t i = 0; i < cli_n_exit_docs; i++) {
        fprintf(f, ".TP\n.B %d\n", cli_exit_docs[i].code);
        roff(f, cli_exit_docs[i].meaning);
        fputc('\n', f);
    }
    fputs(".SH ENVIRONMENT\n.TP\n.B NO_COLOR\nno colour in terminal output\n"
          ".TP\n.B XDG_CONFIG_HOME\nwhere the default configuration is looked for\n"
          ".TP\n.B PGPASSWORD, PGPASSFILE, PGSSLMODE, PGSSLROOTCERT\n"
          "libpq's own settings keep working when the configuration leaves them out\n", f);
    fputs(".TP\n.B AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, "
          "AWS_REGION\n"
          "with an iam: block or ${aws\\-sm:...} secret, the AWS credential chain: these, the "
          "shared\nfiles (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), "
          "AWS_WEB_IDENTITY_TOKEN_FILE with\nAWS_ROLE_ARN, the container endpoint "
          "(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, _FULL_URI)\nand EC2 instance metadata "
          "(AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_EC2_METADATA_DISABLED);\nsee docs/aws.md\n", f);
    fputs(".SH SEE ALSO\n"
          "The documentation in docs/: configuration.md, commands.md, changes.md, "
          "store.md, aws.md.\n", f);
}
