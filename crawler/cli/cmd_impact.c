/*
 * cmd_impact.c — `metacrawl impact DS.SCHEMA.CONTAINER[.COLUMN]`: what
 * would break if that object changed — the views that read it,
 * transitively, and the foreign keys that point at it — from the recorded
 * catalog, before anyone changes it (docs/lineage.md).  The same walk and
 * the same shapes as the impact of a recorded breaking change.
 */
#include "commands.h"
#include "json.h"
#include "lineage.h"
#include "sql_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt impact_opts[] = {
    {"all", 0, NULL, "list every view and key on the terminal (default: the first 20)",
     CLI_IS_FLAG},
    {0},
};

static int bad_path(const char *text)
{
    mc_buf safe = {0};
    mc_term_escape(&safe, text);
    int rc = cmd_fail(MC_EXIT_USAGE, "quote names that contain dots: ds.\"my.schema\".orders",
                      "cannot read '%s' as DS.SCHEMA.CONTAINER[.COLUMN]", mc_buf_str(&safe));
    mc_buf_free(&safe);
    return rc;
}

static int cmd_impact(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    mc_catalog *cat = NULL;
    lin_graph *g = NULL;
    char *json = NULL;
    mc_error err = {0};
    char **parts = NULL;
    int n = mc_sql_split_idents(ctx->args[0], '.', MC_SQL_SCAN_NONEMPTY, 4, &parts);
    int rc = 0;
    if (n < 3) {
        rc = bad_path(ctx->args[0]);
        goto out;
    }
    const char *schema = parts[1], *container = parts[2], *field = n == 4 ? parts[3] : NULL;
    if (cli_flag(ctx, "all"))
        report_impact_cap = 0;
    if ((rc = cmd_load_config_for_reading(ctx, &c)) != 0 ||
        (rc = cmd_open_store_read(ctx, c, &st)) != 0 ||
        (rc = cmd_pick_datastore(st, parts[0], NULL)) != 0)
        goto out;
    if (store_load_as_of(st, parts[0], 0, &cat, &err) != 0) {
        report_error(&err);
        rc = err.code;
        goto out;
    }
    const mc_container *k = mc_catalog_find(cat, schema, container);
    bool has_field = false;
    for (size_t i = 0; k && field && i < k->n_fields; i++)
        has_field = has_field || strcmp(cat->fields[k->first_field + i].name, field) == 0;
    if (!k || (field && !has_field)) {
        mc_buf a = {0};
        mc_term_escape(&a, ctx->args[0]);
        rc = cmd_fail(MC_EXIT_USAGE, "`metacrawl show DS.SCHEMA` lists what the store has",
                      "the store has no %s %s", k ? "column" : "container", mc_buf_str(&a));
        mc_buf_free(&a);
        goto out;
    }
    g = lin_graph_new(cat);
    json = lin_impact(g, schema, container, field);
    if (ctx->json) {
        mc_buf j = {0};
        bool first = true;
        mc_buf_putc(&j, '{');
        json_put_kv_str(&j, &first, "datastore", parts[0]);
        json_put_kv_str(&j, &first, "schema", schema);
        json_put_kv_str(&j, &first, "container", container);
        json_put_kv_str(&j, &first, "field", field);
        json_put_kv_str(&j, &first, "kind", mc_kind_name(k->kind));
        json_put_kv_raw(&j, &first, "impact",
                        json ? json : "{\"views\":[],\"foreign_keys\":[]}");
        mc_buf_putc(&j, '}');
        cmd_print_json(&j);
        mc_buf_free(&j);
    } else {
        report_put_safe(stdout, parts[0]);
        for (int i = 1; i < n; i++) {
            putchar('.');
            report_put_safe(stdout, parts[i]);
        }
        printf(" (%s%s)\n", field ? "column of a " : "", report_kind_words(mc_kind_name(k->kind)));
        if (json)
            report_print_impact(stdout, json, "  ");
        else
            printf("  impact: no view reads it and no foreign key points at it\n");
    }
out:
    free(json);
    lin_graph_free(g);
    for (int i = 0; parts && parts[i]; i++)
        free(parts[i]);
    free(parts);
    mc_catalog_free(cat);
    store_close(st);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_impact = {"impact", "DS.SCHEMA.CONTAINER[.COLUMN]",
     "what would break if an object changed",
     "Lists the views that read a container or column of the stored catalog, "
     "transitively (a view over a view that reads it), and the foreign keys "
     "that point at it: what a removal, rename or type change would break. "
     "Quote a name that contains a dot as in SQL. docs/lineage.md",
     impact_opts, 1, 1, cmd_impact};
