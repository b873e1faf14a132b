/*
 * commands.h — what the command implementations share: loading the config
 * and the store the way every command does, reporting errors, printing
 * warehouse strings safely, and the JSON and text shapes of changes.
 * A command in a file of its own includes this and adds its cli_cmd to the
 * table at the end of commands.c.
 */
#ifndef MC_COMMANDS_H
#define MC_COMMANDS_H

#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "../store/store.h"

bool cmd_use_color(void);                 /* stdout is a terminal, no NO_COLOR */
void cmd_report_error(const mc_error *err); /* "metacrawl: error: ..." + hint */
/* s as a terminal may show it (mc_term_escape: control characters as \xNN,
 * C1, bidi and invisible characters as \uNNNN; NULL as "(none)"); returns
 * the columns written. */
size_t cmd_put_safe(FILE *f, const char *s);
/* The same, padded with spaces to width columns (at least one space after
 * a longer text), so escaped names keep a table aligned. */
void cmd_put_safe_pad(FILE *f, const char *s, size_t width);
/* The same, shortened to max_cols columns with a final "…" (terminal
 * listings only; JSON always has the whole text). */
void cmd_put_safe_short(FILE *f, const char *s, size_t max_cols);
#define CMD_COMMENT_COLS 60
/* one or many, by n */
const char *cmd_plural(int64_t n, const char *one, const char *many);
/* At most this many changes per datastore on the terminal (0 = all; --all
 * sets it): a 40,000-change crawl is for --json, not for a scroll-back. */
#define CMD_CHANGE_CAP 100
extern size_t cmd_change_cap;
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
 * cmd_report_error does; returns code. */
int cmd_fail(int code, const char *hint, const char *fmt, ...) MC_PRINTF(3, 4);
/* 0 when the store has runs of datastore name, else exit 2 reported
 * ("unknown datastore", with the ones it has); 6 when it cannot be read. */
int cmd_known_datastore(store *st, const char *name);
/* Reports a datastore the configuration does not have (exit 2, the hint
 * lists the ones it has); returns 2. */
int cmd_unknown_datastore(const cfg *c, const char *name);
/* A count option: absent gives dflt; anything but digits, or a number
 * below min, is a usage error (exit 2, reported).  Sets *out. */
int cmd_count_option(const cli_ctx *ctx, const char *name, long dflt, long min, long *out);
/* The datastores named as arguments (all when none); exit 2 for an
 * unknown name, 3 when the config has no datastore at all. */
int cmd_select_datastores(const cli_ctx *ctx, const cfg *c,
                          const cfg_datastore ***out, size_t *n_out);
void cmd_print_json(mc_buf *b);          /* the buffer and a newline on stdout */
void cmd_json_change(mc_buf *b, const mc_change *c, const char *datastore,
                     int64_t run);       /* docs/changes.md shape */
void cmd_print_changes(FILE *f, const mc_changes *cs); /* grouped text */
int cmd_max_code(int a, int b);

struct json_t;
/* Calls each(ctx, added, fk) for every foreign key (docs/changes.md shape)
 * in before and not in after (added false), then in after and not in
 * before (added true); before/after are JSON array texts or NULL. */
void cmd_fk_diff(const char *before, const char *after,
                 void (*each)(void *ctx, bool added, struct json_t *fk), void *ctx);

struct crawl_report;
/* One datastore's crawl as in `crawl --json` (docs/commands.md). */
void cmd_json_crawl_report(mc_buf *b, const struct crawl_report *r);
/* Under a crawl's summary line: "no changes", the baseline note, or the
 * count and the grouped changes. */
void cmd_print_report_changes(const struct crawl_report *r);

#endif
