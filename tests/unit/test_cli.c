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
