/*
 * cmd_diff.c — `metacrawl diff`: the changes between two recorded runs,
 * by comparing the catalogs as they were after each.
 */
#include "commands.h"
#include "diff.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt diff_opts_table[] = {
    {"from", 0, "RUN", "the earlier run (default: the run before --to)",
     CLI_INT_RANGE(1, LONG_MAX)},
    {"to", 0, "RUN", "the later run (default: the latest run)", CLI_INT_RANGE(1, LONG_MAX)},
    {"all", 0, NULL, "list every change on the terminal (default: the first 100)", CLI_IS_FLAG},
    {0},
};

/* The completed (ok or partial) runs of a datastore, newest first. */
static int completed_runs(store *st, const char *ds, int64_t **ids, size_t *n)
{
    mc_run_list l = {0};
    mc_error err = {0};
    *ids = NULL;
    *n = 0;
    if (store_list_runs(st, ds, 0, &l, &err) != 0) {
        report_error(&err);
        return err.code;
    }
    *ids = mc_calloc(l.n + 1, sizeof **ids);
    for (size_t i = 0; i < l.n; i++)
        if (l.runs[i].status == MC_RUN_OK || l.runs[i].status == MC_RUN_PARTIAL)
            (*ids)[(*n)++] = l.runs[i].id;
    mc_run_list_free(&l);
    return 0;
}

static int cmd_diff(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    char *ds = NULL;
    int64_t *ids = NULL;
    size_t n_ids = 0;
    mc_catalog *a = NULL, *b = NULL;
    diff_result dr = {0};
    mc_error err = {0};
    int rc = cmd_load_config_for_reading(ctx, &c);
    if (rc || (rc = cmd_open_store_read(ctx, c, &st)) != 0 ||
        (rc = cmd_pick_datastore(st, ctx->n_args ? ctx->args[0] : NULL, &ds)) != 0 ||
        (rc = completed_runs(st, ds, &ids, &n_ids)) != 0)
        goto out;
    if (cli_flag(ctx, "all"))
        report_change_cap = 0, report_impact_cap = 0;
    int64_t to = cli_int(ctx, "to", 0), from = cli_int(ctx, "from", 0);
    if (!to)
        to = n_ids ? ids[0] : 0;
    if (!from) {
        for (size_t i = 0; i < n_ids; i++)
            if (ids[i] < to) {
                from = ids[i];
                break;
            }
    }
    if (!to || !from) {
        rc = cmd_fail(MC_EXIT_USAGE, "crawl it again to have something to compare",
                      "datastore '%s' needs two completed runs to diff; it has %zu", ds,
                      n_ids);
        goto out;
    }
    if (store_load_as_of(st, ds, from, &a, &err) != 0 ||
        store_load_as_of(st, ds, to, &b, &err) != 0) {
        report_error(&err);
        rc = err.code;
        goto out;
    }
    diff_opts o = {.allow_removals = true, .max_removed_pct = 100, .accept_removals = true};
    if (diff_catalogs(NULL, a, b, &o, &dr, &err) != 0) {
        report_error(&err);
        rc = err.code;
        goto out;
    }
    diff_drop_silent(&dr);
    if (ctx->json) {
        mc_buf j = {0};
        bool first = true;
        mc_buf_putc(&j, '{');
        json_put_kv_str(&j, &first, "datastore", ds);
        json_put_kv_int(&j, &first, "from", from);
        json_put_kv_int(&j, &first, "to", to);
        first = json_put_key(&j, first, "changes");
        report_json_changes(&j, &dr.changes, ds, NULL, 0);
        mc_buf_putc(&j, '}');
        cmd_print_json(&j);
        mc_buf_free(&j);
    } else {
        printf("%s: run %lld -> run %lld: %zu %s (%zu breaking)\n", ds,
               (long long)from, (long long)to, dr.changes.n,
               report_plural((int64_t)dr.changes.n, "change", "changes"),
               report_count_breaking(&dr.changes));
        report_print_changes(stdout, &dr.changes);
    }
out:
    diff_result_free(&dr);
    mc_catalog_free(a);
    mc_catalog_free(b);
    free(ids);
    free(ds);
    store_close(st);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_diff = {"diff", "[DS]", "changes between two stored runs",
     "Shows the changes between the catalogs recorded by two runs of a "
     "datastore (default: the last two completed runs). DS may be left out "
     "when the store holds one datastore.",
     diff_opts_table, 0, 1, cmd_diff};
