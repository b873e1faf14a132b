/*
 * cmd_table.c — the one table of commands: every command is named here, in
 * the order --help lists them, and nowhere else.  Each command's body and
 * its cli_cmd (name, arguments, help, options) are in cmd_<name>.c.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const cli_opt help_opts[] = {
    {"man", 0, NULL, "print the man page metacrawl(1) in roff", CLI_IS_FLAG},
    {0},
};

static int cmd_help(cli_ctx *ctx)
{
    if (cli_flag(ctx, "man")) {
        cli_print_man(stdout);
        return 0;
    }
    if (ctx->n_args == 0) {
        cli_print_help(stdout, NULL);
        return 0;
    }
    for (size_t i = 0; i < cli_n_commands; i++)
        if (strcmp(cli_commands[i]->name, ctx->args[0]) == 0) {
            cli_print_help(stdout, cli_commands[i]);
            return 0;
        }
    fprintf(stderr, "metacrawl: unknown command '%s'\n", ctx->args[0]);
    return MC_EXIT_USAGE;
}

const cli_cmd cmd_def_help = {"help", "[COMMAND]", "show help for metacrawl or a command",
     "Shows the overview, or a command's help; --man prints the man page.",
     help_opts, 0, 1, cmd_help};

/* The commands in the order --help lists them.  A new command is a file
 * cmd_<name>.c with its cmd_def_<name> (declared in commands.h) and one line
 * here. */
const cli_cmd *const cli_commands[] = {
    &cmd_def_init,
    &cmd_def_check,
    &cmd_def_crawl,
    &cmd_def_diff,
    &cmd_def_history,
    &cmd_def_show,
    &cmd_def_search,
    &cmd_def_docs,
    &cmd_def_export,
    &cmd_def_grants,
    &cmd_def_alerts,
    &cmd_def_schedule,
    &cmd_def_run_due,
    &cmd_def_impact,
    &cmd_def_help,
};
const size_t cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];
