/*
 * cli.h — the command line: one table of commands and options (cli.c) from
 * which parsing, every --help text and the man page metacrawl(1) are made,
 * so the three cannot drift apart (tests/unit/test_cli.c checks the
 * committed docs/metacrawl.1 against it).
 */
#ifndef MC_CLI_H
#define MC_CLI_H

#include "mc_base.h"
#include <limits.h>
#include <stdio.h>

/* What an option's value is.  The parser checks it before any command runs:
 * a value that is not of its type is a usage error (exit 2) for every
 * command, with the same message. */
typedef enum cli_type {
    CLI_FLAG,            /* no value (arg is NULL) */
    CLI_TEXT,            /* any text */
    CLI_INT,             /* a whole number in [min, max]: digits only */
} cli_type;

typedef struct cli_opt {
    const char *lng;     /* "dry-run" */
    char shrt;           /* 'c' or 0 */
    const char *arg;     /* "FILE"; NULL for a flag */
    const char *help;
    cli_type type;
    long min, max;       /* CLI_INT: the range */
} cli_opt;

/* The type fields that end every cli_opt: a flag, any text, or a whole
 * number from lo to hi. */
#define CLI_IS_FLAG CLI_FLAG, 0, 0
#define CLI_IS_TEXT CLI_TEXT, 0, 0
#define CLI_INT_RANGE(lo, hi) CLI_INT, (lo), (hi)

typedef struct cli_ctx cli_ctx;

typedef struct cli_cmd {
    const char *name;
    const char *args;        /* "[DS...]" */
    const char *summary;     /* one line */
    const char *description; /* paragraphs separated by \n\n */
    const cli_opt *opts;     /* terminated by {0} */
    int min_args, max_args;  /* max -1 = any */
    int (*run)(cli_ctx *ctx);
} cli_cmd;

/* What main() and the commands see after parsing. */
struct cli_ctx {
    const cli_cmd *cmd;
    const char *config_path; /* -c; NULL = default search */
    const char *store_path;  /* --store */
    bool json;
    int verbosity;           /* -q: -1, -v: +1 per v */
    char **args;
    int n_args;
    /* values of the command's options, parallel to cmd->opts */
    const char *values[16];
    int flags[16];
};

const char *cli_value(const cli_ctx *ctx, const char *lng);
bool cli_flag(const cli_ctx *ctx, const char *lng);
/* A CLI_INT option's value (checked by the parser), or dflt when absent. */
long cli_int(const cli_ctx *ctx, const char *lng, long dflt);

/* The whole program: parses argv, runs the command, returns the exit code. */
int cli_main(int argc, char **argv);

/* Under --json every failure is a JSON document on stdout too: commands
 * note the first error they report (report_error does) and that they
 * printed their own JSON document (cmd_print_json does); when a command
 * fails without one, cli_main prints {"error":{"code","message","hint"},
 * "exit_code"} (docs/commands.md, "Errors under --json"). */
void cli_note_error(const mc_error *err);
void cli_note_json_output(void);

void cli_print_help(FILE *f, const cli_cmd *cmd); /* cmd NULL = overview */
void cli_print_man(FILE *f);

/* The command table (cmd_table.c). */
extern const cli_cmd *const cli_commands[];
extern const size_t cli_n_commands;
extern const cli_opt cli_global_opts[];

/* Exit code table, for --help and the man page. */
typedef struct cli_exit_doc {
    int code;
    const char *meaning;
} cli_exit_doc;
extern const cli_exit_doc cli_exit_docs[];
extern const size_t cli_n_exit_docs;

#endif
