/*
 * test_cli.c — the command line: the committed man page is the one the
 * option table generates, every command's --help lists its options, and
 * usage errors exit 2.  Runs the built binary (MC_BINARY).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli.h"

/* Runs a shell-free command line of the binary, returning stdout. */
static char *run(const char *args, int *status)
{
    char *cmd = NULL;
    cr_assert(asprintf(&cmd, "'%s' %s 2>&1", getenv("MC_BINARY"), args) > 0);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024)
            out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    free(cmd);
    return out;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

Test(cli, committed_man_page_matches_the_option_table)
{
    char *path = NULL;
    cr_assert(asprintf(&path, "%s/docs/metacrawl.1", getenv("MC_SOURCE_ROOT")) > 0);
    char *committed = read_file(path);
    char *generated = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&generated, &len);
    cli_print_man(f);
    fclose(f);
    cr_assert_str_eq(committed, generated,
                     "docs/metacrawl.1 is out of date: run "
                     "'metacrawl help --man > docs/metacrawl.1'");
}

Test(cli, every_command_documents_its_options)
{
    for (size_t i = 0; i < cli_n_commands; i++) {
        const cli_cmd *c = cli_commands[i];
        char *args = NULL;
        cr_assert(asprintf(&args, "%s --help", c->name) > 0);
        int st;
        char *out = run(args, &st);
        cr_assert_eq(st, 0, "%s: %s", args, out);
        for (int k = 0; c->opts[k].lng; k++) {
            char *flag = NULL;
            cr_assert(asprintf(&flag, "--%s", c->opts[k].lng) > 0);
            cr_assert(strstr(out, flag), "%s --help does not mention %s", c->name, flag);
            free(flag);
        }
        free(out);
        free(args);
    }
}

Test(cli, overview_lists_commands_and_exit_codes)
{
    int st;
    char *out = run("--help", &st);
    cr_assert_eq(st, 0);
    for (size_t i = 0; i < cli_n_commands; i++)
        cr_assert(strstr(out, cli_commands[i]->name));
    for (size_t i = 0; i < cli_n_exit_docs; i++)
        cr_assert(strstr(out, cli_exit_docs[i].meaning), "missing exit code %d",
                  cli_exit_docs[i].code);
}

Test(cli, usage_errors_exit_2)
{
    int st;
    char *out = run("frobnicate", &st);
    cr_assert_eq(st, 2, "%s", out);
    cr_assert(strstr(out, "unknown command 'frobnicate'"), "%s", out);
    out = run("crawl --no-such-flag", &st);
    cr_assert_eq(st, 2, "%s", out);
    cr_assert(strstr(out, "unknown option '--no-such-flag'"), "%s", out);
    out = run("show", &st);
    cr_assert_eq(st, 2, "%s", out);
    out = run("", &st);
    cr_assert_eq(st, 2, "%s", out);
    out = run("diff --from", &st);
    cr_assert_eq(st, 2, "%s", out);
}

/* Issue 15, typed options: the option table says which options take a
 * number, and the parser refuses anything else for every command, before
 * the command runs (no configuration is even looked for here). */
Test(cli, every_number_option_is_checked_by_the_parser)
{
    int n_checked = 0;
    for (size_t i = 0; i < cli_n_commands; i++) {
        const cli_cmd *c = cli_commands[i];
        for (const cli_opt *o = c->opts; o && o->lng; o++) {
            if (o->type != CLI_INT)
                continue;
            const char *bad[] = {"abc", "1x", "-5", "", "99999999999999999999999"};
            for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
                char *args = NULL;
                cr_assert(asprintf(&args, "%s --%s='%s' -c /nonexistent/x.yml", c->name,
                                   o->lng, bad[k]) > 0);
                int st;
                char *out = run(args, &st);
                cr_assert_eq(st, 2, "%s: exit %d: %s", args, st, out);
                char *want = NULL;
                cr_assert(asprintf(&want, "--%s takes a whole number", o->lng) > 0);
                cr_assert(strstr(out, want), "%s: %s", args, out);
                cr_assert_null(strstr(out, "x.yml"), "ran the command: %s", out);
                free(want);
                free(out);
                free(args);
            }
            n_checked++;
        }
    }
    /* history/search --limit, schedule --count, diff --from/--to, show --as-of */
    cr_assert_geq(n_checked, 6);
    /* and the table is consistent: a flag has no value, a value has a type */
    for (size_t i = 0; i < cli_n_commands; i++)
        for (const cli_opt *o = cli_commands[i]->opts; o && o->lng; o++)
            cr_assert_eq(o->type == CLI_FLAG, o->arg == NULL, "%s --%s",
                         cli_commands[i]->name, o->lng);
    for (const cli_opt *o = cli_global_opts; o->lng; o++)
        cr_assert_eq(o->type == CLI_FLAG, o->arg == NULL, "--%s", o->lng);
    int st;
    char *out = run("schedule next --count 1001", &st);
    cr_assert_eq(st, 2, "%s", out);
    cr_assert(strstr(out, "--count takes a whole number from 1 to 1000, not '1001'"), "%s", out);
    out = run("--json history --limit x", &st);
    cr_assert_eq(st, 2, "%s", out);
    cr_assert(strstr(out, "\"code\":2"), "a JSON error document: %s", out);
}

Test(cli, version_names_the_libraries)
{
    int st;
    char *out = run("--version", &st);
    cr_assert_eq(st, 0);
    cr_assert(strstr(out, "metacrawl "));
    cr_assert(strstr(out, "libpq "));
    cr_assert(strstr(out, "libssh2 "));
    cr_assert(strstr(out, "SQLite "));
}

Test(cli, missing_config_is_exit_3_with_a_hint)
{
    int st;
    char *out = run("-c /nonexistent/metacrawl.yml crawl", &st);
    cr_assert_eq(st, 3, "%s", out);
    cr_assert(strstr(out, "/nonexistent/metacrawl.yml"), "%s", out);
}
