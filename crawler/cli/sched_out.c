/*
 * sched_out.c — what `schedule` and `run-due` print alike: instants in
 * UTC and in a datastore's zone, --now, the schedule table of the loaded
 * configuration, the datastores named on the command line, and the store
 * opened only when it exists.
 */
#include "cmd_sched.h"
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "2026-03-29T03:00:00+02:00" */
void cmd_iso_local(const cron_tz *tz, int64_t t, char buf[40])
{
    cron_local l;
    cron_tz_local(tz, t, &l);
    int off = l.utoff < 0 ? -l.utoff : l.utoff;
    snprintf(buf, 40, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", l.year, l.month, l.day,
             l.hour, l.minute, l.second, l.utoff < 0 ? '-' : '+', off / 3600 % 100,
             off / 60 % 60);
}

/* {"utc":..., "local":..., "zone":...} or null */
void cmd_json_time(mc_buf *b, bool *first, const char *key, const cron_tz *tz, int64_t t)
{
    if (t == CRON_NEVER || t == 0 || !tz) {
        json_put_kv_raw(b, first, key, NULL);
        return;
    }
    *first = json_put_key(b, *first, key);
    char utc[21], local[40];
    mc_time_iso(t, utc);
    cmd_iso_local(tz, t, local);
    cron_local l;
    cron_tz_local(tz, t, &l);
    bool f = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &f, "utc", utc);
    json_put_kv_str(b, &f, "local", local);
    json_put_kv_str(b, &f, "zone", l.abbr[0] ? l.abbr : NULL);
    mc_buf_putc(b, '}');
}

/* "2026-03-29 03:00:00 CEST (+02:00)" */
const char *cmd_local_text(const cron_tz *tz, int64_t t, char *buf, size_t n)
{
    if (t == CRON_NEVER)
        snprintf(buf, n, "never");
    else
        cron_format_local(tz, t, buf, n);
    return buf;
}

const char *cmd_utc_text(int64_t t, char buf[21])
{
    if (t == CRON_NEVER)
        snprintf(buf, 21, "never");
    else
        mc_time_iso(t, buf);
    return buf;
}

int cmd_parse_now(const cli_ctx *ctx, int64_t *now)
{
    const char *v = cli_value(ctx, "now");
    *now = mc_time_now();
    if (!v)
        return 0;
    if (sched_parse_time(v, now) != 0) {
        fprintf(stderr, "metacrawl: --now '%s': write a UTC time such as "
                        "2026-03-29T01:00:00Z, a time with an offset such as "
                        "2026-03-29T03:00+02:00, or @UNIXSECONDS\n", v);
        return MC_EXIT_USAGE;
    }
    return 0;
}

int cmd_load_table(const cli_ctx *ctx, cfg **c, sched_table **t)
{
    *t = NULL;
    int rc = cmd_load_config(ctx, false, c);
    if (rc)
        return rc;
    mc_error err = {0};
    if (sched_table_build(*c, t, &err) != 0) {
        report_error(&err);
        return err.code;
    }
    return 0;
}

/* The entries of the datastores named in args (all when none), or exit 2. */
int cmd_select_entries(const cfg *c, const sched_table *t, char **args, int n_args,
                       const sched_entry ***out, size_t *n_out)
{
    size_t n = n_args ? (size_t)n_args : t->n;
    const sched_entry **sel = mc_calloc(n + 1, sizeof *sel);
    for (size_t i = 0; i < n; i++) {
        if (!n_args) {
            sel[i] = &t->entries[i];
            continue;
        }
        for (size_t k = 0; k < t->n && !sel[i]; k++)
            if (strcmp(t->entries[k].ds->name, args[i]) == 0)
                sel[i] = &t->entries[k];
        if (!sel[i]) {
            fprintf(stderr, "metacrawl: unknown datastore '%s'; %s has:", args[i], c->path);
            for (size_t k = 0; k < t->n; k++)
                fprintf(stderr, " %s", t->entries[k].ds->name);
            fputc('\n', stderr);
            free(sel);
            return MC_EXIT_USAGE;
        }
    }
    *out = sel;
    *n_out = n;
    return 0;
}

/* The store for reading only when it exists: NULL (and 0) when it does not. */
int cmd_open_existing_store(const cli_ctx *ctx, const cfg *c, store **st)
{
    *st = NULL;
    const char *path = cmd_store_path(ctx, c);
    if (!path || access(path, F_OK) != 0)
        return 0;
    return cmd_open_store_read(ctx, c, st);
}
