/*
 * commands.h — the command layer's own header: what the command bodies
 * (cmd_<name>.c) share — loading the config and the store the way every
 * command does, reporting errors, checking names and options — and the
 * definition of every command, which cmd_table.c lists.  Nothing below the
 * command layer includes it (tests/layering.py).
 */
#ifndef MC_COMMANDS_H
#define MC_COMMANDS_H

#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "report.h"
#include "store.h"

/* -c FILE or the default search; optional: no file is not an error.
 * Returns 0 or the exit code (already reported). */
int cmd_load_config(const cli_ctx *ctx, bool optional, cfg **out);
/* For commands that only read the store: no config at all with --store. */
int cmd_load_config_for_reading(const cli_ctx *ctx, cfg **out);
const char *cmd_store_path(const cli_ctx *ctx, const cfg *c);
int cmd_open_store(const cli_ctx *ctx, const cfg *c, store **out);
/* The same for a command that only reads: store_open_read (never creates,
 * migrates or writes; a missing or damaged store is exit 6). */
int cmd_open_store_read(const cli_ctx *ctx, const cfg *c, store **out);
/* Reports an error made of code, message and hint (may be NULL) as
 * report_error does; returns code. */
int cmd_fail(int code, const char *hint, const char *fmt, ...) MC_PRINTF(3, 4);
/* The datastore a read command is about: name when given (exit 2,
 * reported, when the store has no runs of it: "unknown datastore", with the
 * ones it has), else the only one the store knows (exit 2 when it knows
 * none or several).  *out, unless out is NULL, gets its name (free it).
 * 6 when the store cannot be read. */
int cmd_pick_datastore(store *st, const char *name, char **out);
/* Reports a datastore the configuration does not have (exit 2, the hint
 * lists the ones it has); returns 2. */
int cmd_unknown_datastore(const cfg *c, const char *name);
/* The datastores named as arguments (all when none); exit 2 for an
 * unknown name, 3 when the config has no datastore at all. */
int cmd_select_datastores(const cli_ctx *ctx, const cfg *c,
                          const cfg_datastore ***out, size_t *n_out);
void cmd_print_json(mc_buf *b);          /* the buffer and a newline on stdout */

/* ---- several databases (databases:) ---------------------------------------- */

/* What crawl and check work through: each datastore of the file, and for a
 * datastore with databases: each of its databases as its own datastore
 * "<datastore>/<db>" (targets.h).  A "*" list that cannot be read is one
 * item with failed set and its error (ds = the datastore of the file). */
typedef struct cmd_target {
    const cfg_datastore *ds;
    bool failed;
    mc_error error;
} cmd_target;
typedef struct cmd_targets {
    cmd_target *items;
    size_t n;
    struct crawl_targets *lists; /* owned: the databases' datastores */
    size_t n_lists;
} cmd_targets;
/* The arguments (all datastores when none): DS is a datastore of the file
 * (all its databases when it has databases:), DS/DB one database of it
 * (DB as recorded, %XX, or as named).  Exit 2 for an unknown name, 3 when
 * the config has no datastore; *out is then empty. */
int cmd_select_targets(const cli_ctx *ctx, const cfg *c, cmd_targets *out);
void cmd_targets_free(cmd_targets *t);

/* ---- pipelines: --format and --fail-on of crawl and diff (cmd_ci.c) ---- */

typedef enum cmd_format {
    CMD_FORMAT_TEXT = 0, CMD_FORMAT_JSON, CMD_FORMAT_MARKDOWN, CMD_FORMAT_JUNIT
} cmd_format;
typedef enum cmd_fail_on {
    CMD_FAIL_ON_NOTHING = 0, CMD_FAIL_ON_BREAKING, CMD_FAIL_ON_ANY
} cmd_fail_on;
/* Reads --format (text|json|markdown|junit; json is --json) and --fail-on
 * (breaking|any; --exit-code is --fail-on any) of ctx; a value outside them,
 * or --json with another format, is a usage error (2, reported). */
int cmd_pipeline_opts(cli_ctx *ctx, cmd_format *format, cmd_fail_on *fail_on);
/* True when changes like these fail the pipeline under fail_on. */
bool cmd_fails_on(cmd_fail_on fail_on, size_t n_changes, size_t n_breaking);
/* Prints the Markdown or JUnit document of the sections on stdout. */
void cmd_print_pipeline(cmd_format format, const char *title, const report_section *s,
                        size_t n);

/* Every command, each defined in its cmd_<name>.c; cmd_table.c orders them. */
extern const cli_cmd cmd_def_init, cmd_def_check, cmd_def_crawl, cmd_def_diff,
    cmd_def_history, cmd_def_show, cmd_def_search, cmd_def_docs, cmd_def_grants,
    cmd_def_alerts, cmd_def_schedule, cmd_def_run_due, cmd_def_help;
extern const cli_cmd cmd_def_export;
extern const cli_cmd cmd_def_impact;

#endif
