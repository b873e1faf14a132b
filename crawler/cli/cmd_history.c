/*
 * cmd_history.c — `metacrawl history`: the runs, then each configured
 * datastore's last successful crawl and whether it is stale (rule 8 of
 * schedule.h, judged, not recorded).
 */
#include "commands.h"
#include "json.h"
#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt history_opts[] = {
    {"limit", 0, "N", "show at most N runs (default 20; 0 = all)", CLI_INT_RANGE(0, LONG_MAX)},
    {0},
};

/* "datastores": each configured datastore's last successful crawl and
 * whether it is stale (rule 8 of schedules/schedule.h; null when not
 * judged: no runs, paused, running, stale_after 0, or no schedule). */
static void json_freshness(mc_buf *j, const sched_freshness *v, size_t n)
{
    mc_buf_putc(j, '[');
    for (size_t i = 0; i < n; i++) {
        const sched_freshness *f = &v[i];
        char when[21], since[21];
        bool first = true;
        if (i)
            mc_buf_putc(j, ',');
        mc_buf_putc(j, '{');
        mc_time_iso(f->state.last_success_at, when);
        mc_time_iso(f->state.paused_at, since);
        json_put_kv_str(j, &first, "datastore", f->e->ds->name);
        json_put_kv_str(j, &first, "last_success", f->state.last_success_id ? when : NULL);
        if (f->state.last_success_id)
            json_put_kv_int(j, &first, "last_success_run", f->state.last_success_id);
        else
            json_put_kv_raw(j, &first, "last_success_run", NULL);
        if (f->stale.judged)
            json_put_kv_bool(j, &first, "stale", f->stale.stale);
        else
            json_put_kv_raw(j, &first, "stale", NULL);
        json_put_kv_str(j, &first, "stale_reason", f->why[0] ? f->why : NULL);
        json_put_kv_str(j, &first, "paused_since", f->state.paused_at ? since : NULL);
        mc_buf_putc(j, '}');
    }
    mc_buf_putc(j, ']');
}

static void print_freshness(const sched_freshness *v, size_t n)
{
    printf("\n%-12s %-20s %8s  %s\n", "DATASTORE", "LAST SUCCESS (UTC)", "RUN", "STALE");
    for (size_t i = 0; i < n; i++) {
        const sched_freshness *f = &v[i];
        char when[21] = "-", run[24] = "-";
        if (f->state.last_success_id) {
            mc_time_iso(f->state.last_success_at, when);
            when[19] = '\0';
            when[10] = ' ';
            snprintf(run, sizeof run, "%lld", (long long)f->state.last_success_id);
        }
        const char *state = !f->stale.judged ? (f->state.paused_at ? "- (paused)" : "-")
                            : f->stale.stale ? "yes: "
                                             : "no";
        printf("%-12s %-20s %8s  %s", f->e->ds->name, when, run, state);
        if (f->stale.judged && f->stale.stale)
            report_put_safe(stdout, f->why);
        putchar('\n');
    }
}

static int cmd_history(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    mc_run_list l = {0};
    sched_table *tab = NULL;
    sched_freshness *fresh = NULL;
    size_t n_fresh = 0;
    mc_error err = {0};
    long limit = cli_int(ctx, "limit", 20);
    int rc = cmd_load_config_for_reading(ctx, &c);
    if (rc || (rc = cmd_open_store_read(ctx, c, &st)) != 0 ||
        (ctx->n_args && (rc = cmd_pick_datastore(st, ctx->args[0], NULL)) != 0))
        goto out;
    if (store_list_runs(st, ctx->n_args ? ctx->args[0] : NULL, (size_t)limit, &l, &err) != 0 ||
        (c && (sched_table_build(c, &tab, &err) != 0 ||
               sched_freshness_read(tab, st, ctx->n_args ? ctx->args[0] : NULL, mc_time_now(),
                                    &fresh, &n_fresh, &err) != 0))) {
        report_error(&err);
        rc = err.code;
        goto out;
    }
    if (ctx->json) {
        mc_buf j = {0};
        mc_buf_puts(&j, "{");
        if (c) {
            mc_buf_puts(&j, "\"datastores\":");
            json_freshness(&j, fresh, n_fresh);
            mc_buf_putc(&j, ',');
        }
        mc_buf_puts(&j, "\"runs\":[");
        for (size_t i = 0; i < l.n; i++) {
            const mc_run *r = &l.runs[i];
            char started[21], finished[21];
            mc_time_iso(r->started_at, started);
            mc_time_iso(r->finished_at, finished);
            bool first = true;
            if (i)
                mc_buf_putc(&j, ',');
            mc_buf_putc(&j, '{');
            json_put_kv_int(&j, &first, "run", r->id);
            json_put_kv_str(&j, &first, "datastore", r->datastore);
            json_put_kv_str(&j, &first, "started_at", started);
            json_put_kv_str(&j, &first, "finished_at", r->finished_at ? finished : NULL);
            json_put_kv_str(&j, &first, "status", mc_run_status_name(r->status));
            json_put_kv_str(&j, &first, "dialect", r->dialect);
            json_put_kv_str(&j, &first, "server_version", r->server_version);
            json_put_kv_int(&j, &first, "schemas", r->n_schemas);
            json_put_kv_int(&j, &first, "containers", r->n_containers);
            json_put_kv_int(&j, &first, "fields", r->n_fields);
            json_put_kv_int(&j, &first, "changes", r->n_changes);
            json_put_kv_int(&j, &first, "held_back", r->n_held_back);
            json_put_kv_str(&j, &first, "error", r->error);
            json_put_kv_str(&j, &first, "facts", r->facts); /* docs/lineage.md */
            mc_buf_putc(&j, '}');
        }
        mc_buf_puts(&j, "]}");
        cmd_print_json(&j);
        mc_buf_free(&j);
        goto out;
    }
    printf("%-5s %-12s %-20s %6s %-8s %-18s %8s %10s %8s  %s\n", "RUN", "DATASTORE",
           "STARTED (UTC)", "SECS", "STATUS", "SERVER", "SCHEMAS", "CONTAINERS",
           "CHANGES", "NOTE");
    for (size_t i = 0; i < l.n; i++) {
        const mc_run *r = &l.runs[i];
        char started[21];
        mc_time_iso(r->started_at, started);
        started[19] = '\0';
        started[10] = ' ';
        char secs[16] = "-";
        if (r->finished_at)
            snprintf(secs, sizeof secs, "%lld", (long long)(r->finished_at - r->started_at));
        printf("%-5lld %-12s %-20s %6s %-8s %-18s %8lld %10lld %8lld  ", (long long)r->id,
               r->datastore, started, secs, mc_run_status_name(r->status),
               r->server_version ? r->server_version : "-", (long long)r->n_schemas,
               (long long)r->n_containers, (long long)r->n_changes);
        report_put_safe(stdout, r->error ? r->error : "");
        putchar('\n');
    }
    if (n_fresh)
        print_freshness(fresh, n_fresh);
out:
    free(fresh);
    sched_table_free(tab);
    mc_run_list_free(&l);
    store_close(st);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_history = {"history", "[DS]", "the runs; each datastore's last success, stale or not",
     "Lists the recorded runs, newest first, of one datastore or of all: when, "
     "how long, status, counts, error. With a configuration it then lists each "
     "datastore's last successful crawl and whether it is stale (stale_after, "
     "docs/scheduling.md).",
     history_opts, 0, 1, cmd_history};
