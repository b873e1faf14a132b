/*
 * cmd_sched.h — private to the command layer: what `schedule` and `run-due`
 * share (sched_out.c).
 */
#ifndef MC_CMD_SCHED_H
#define MC_CMD_SCHED_H

#include "commands.h"
#include "schedule.h"

/* "2026-03-29T03:00:00+02:00" */
void cmd_iso_local(const cron_tz *tz, int64_t t, char buf[40]);
/* "key": {"utc":..., "local":..., "zone":...}, or null for CRON_NEVER / 0 */
void cmd_json_time(mc_buf *b, bool *first, const char *key, const cron_tz *tz, int64_t t);
/* "2026-03-29 03:00:00 CEST (+02:00)"; "never" */
const char *cmd_local_text(const cron_tz *tz, int64_t t, char *buf, size_t n);
/* "2026-03-29T01:00:00Z"; "never" */
const char *cmd_utc_text(int64_t t, char buf[21]);
/* --now TIME (ISO 8601 or @unix), else the clock; exit 2 reported */
int cmd_parse_now(const cli_ctx *ctx, int64_t *now);
/* The configuration and its schedule table; an exit code reported */
int cmd_load_table(const cli_ctx *ctx, cfg **c, sched_table **t);
/* The entries named in args (all when none); exit 2 for an unknown name */
int cmd_select_entries(const cfg *c, const sched_table *t, char **args, int n_args,
                       const sched_entry ***out, size_t *n_out);
/* The store for reading when it exists (*st NULL when it does not) */
int cmd_open_existing_store(const cli_ctx *ctx, const cfg *c, store **st);

#endif
