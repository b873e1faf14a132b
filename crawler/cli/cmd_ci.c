/*
 * cmd_ci.c — what `crawl` and `diff` share for pipelines (docs/ci.md):
 * --format (text, json, markdown, junit) and --fail-on (breaking, any).
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>

int cmd_pipeline_opts(cli_ctx *ctx, cmd_format *format, cmd_fail_on *fail_on)
{
    static const char *const formats[] = {"text", "json", "markdown", "junit"};
    const char *f = cli_value(ctx, "format"), *o = cli_value(ctx, "fail-on");
    *format = ctx->json ? CMD_FORMAT_JSON : CMD_FORMAT_TEXT;
    *fail_on = CMD_FAIL_ON_NOTHING;
    if (f) {
        size_t i = 0;
        while (i < sizeof formats / sizeof formats[0] && strcmp(f, formats[i]) != 0)
            i++;
        if (i == sizeof formats / sizeof formats[0])
            return cmd_fail(MC_EXIT_USAGE, "--format is one of text, json, markdown, junit",
                            "unknown --format '%s'", f);
        if (ctx->json && i != CMD_FORMAT_JSON)
            return cmd_fail(MC_EXIT_USAGE, "leave out --json, or use --format json",
                            "--json and --format %s ask for two formats", f);
        *format = (cmd_format)i;
        if (*format == CMD_FORMAT_JSON)
            ctx->json = true;
    }
    if (o) {
        if (strcmp(o, "breaking") == 0)
            *fail_on = CMD_FAIL_ON_BREAKING;
        else if (strcmp(o, "any") == 0)
            *fail_on = CMD_FAIL_ON_ANY;
        else
            return cmd_fail(MC_EXIT_USAGE, "--fail-on is 'breaking' or 'any'",
                            "unknown --fail-on '%s'", o);
    }
    return 0;
}

bool cmd_fails_on(cmd_fail_on fail_on, size_t n_changes, size_t n_breaking)
{
    return (fail_on == CMD_FAIL_ON_ANY && n_changes > 0) ||
           (fail_on == CMD_FAIL_ON_BREAKING && n_breaking > 0);
}

void cmd_print_pipeline(cmd_format format, const char *title, const report_section *s,
                        size_t n)
{
    mc_buf b = {0};
    if (format == CMD_FORMAT_JUNIT)
        report_junit(&b, title, s, n);
    else
        report_markdown(&b, title, s, n);
    fputs(mc_buf_str(&b), stdout);
    mc_buf_free(&b);
}
