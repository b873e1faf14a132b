/*
 * cmd_export.c — `metacrawl export DS --format FORMAT [--out FILE]`: a
 * datastore's recorded catalog in dbt's, DataHub's or OpenLineage's format,
 * or metacrawl's own JSON (docs/export.md), streamed from the store.
 */
#include "commands.h"
#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt export_opts[] = {
    {"format", 'f', "FORMAT", "dbt-catalog, datahub, openlineage or json (required)",
     CLI_IS_TEXT},
    {"out", 'o', "FILE", "write to FILE (replaced when complete) instead of standard output",
     CLI_IS_TEXT},
    {"as-of", 0, "RUN", "the catalog as it was after that run (see 'metacrawl history')",
     CLI_INT_RANGE(1, LONG_MAX)},
    {"dbt-project", 0, "NAME", "dbt-catalog: the project in each unique_id (default: DS)",
     CLI_IS_TEXT},
    {"datahub-env", 0, "ENV", "datahub: the environment (fabric) of each dataset URN "
     "(default PROD)", CLI_IS_TEXT},
    {0},
};

/* The run whose catalog is exported: as_of, else the latest successful
 * one.  Fills o->run, o->run_at and o->dialect (strings in *runs). */
static int pick_run(store *st, mc_export_opts *o, mc_run_list *runs)
{
    mc_error err = {0};
    int64_t id = o->as_of;
    if (!id) {
        mc_ds_state state;
        if (store_datastore_state(st, o->datastore, &state, &err) < 0) {
            report_error(&err);
            return err.code;
        }
        if (!state.last_success_id)
            return cmd_fail(MC_EXIT_USAGE, NULL, "%s has no successful crawl to export; "
                            "run 'metacrawl crawl %s' first", o->datastore, o->datastore);
        id = state.last_success_id;
    }
    if (store_get_run(st, id, runs, &err) < 0) {
        report_error(&err);
        return err.code;
    }
    if (runs->n == 0 || strcmp(runs->runs[0].datastore, o->datastore) != 0)
        return cmd_fail(MC_EXIT_USAGE, NULL, "run %lld is not a run of datastore %s",
                        (long long)id, o->datastore);
    const mc_run *r = &runs->runs[0];
    o->run = r->id;
    o->run_at = r->finished_at ? r->finished_at : r->started_at;
    o->dialect = r->dialect;
    return 0;
}

static int cmd_export(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    mc_run_list runs = {0};
    char *ds_name = NULL, *db_name = NULL;
    mc_error err = {0};
    int rc;
    const char *format = cli_value(ctx, "format");
    int f = mc_export_format_parse(format);
    if (!format || f < 0) {
        mc_buf safe = {0};
        mc_term_escape(&safe, format ? format : "");
        rc = cmd_fail(MC_EXIT_USAGE, "--format is one of dbt-catalog, datahub, openlineage, json",
                      format ? "unknown export format '%s'" : "export needs --format%s",
                      mc_buf_str(&safe));
        mc_buf_free(&safe);
        return rc;
    }
    /* The configuration gives host, port and database; with --store and
     * no -c there is none, which only json and dbt-catalog do without. */
    if ((ctx->config_path || !ctx->store_path) && (rc = cmd_load_config(ctx, false, &c)) != 0)
        goto out;
    if ((rc = cmd_open_store_read(ctx, c, &st)) != 0 ||
        (rc = cmd_pick_datastore(st, ctx->args[0], &ds_name)) != 0)
        goto out;
    mc_export_opts o = {
        .format = (mc_export_format)f,
        .datastore = ds_name,
        .as_of = cli_int(ctx, "as-of", 0),
        .dbt_project = cli_value(ctx, "dbt-project"),
        .datahub_env = cli_value(ctx, "datahub-env"),
    };
    if ((rc = pick_run(st, &o, &runs)) != 0)
        goto out;
    const cfg_datastore *d = c ? cfg_find_datastore(c, ds_name) : NULL;
    /* DS/DB: one database of a datastore with databases: */
    const cfg_datastore *parent = c && !d ? cfg_find_database(c, ds_name, &db_name) : NULL;
    if (d) {
        o.host = d->host;
        o.port = d->port;
        o.database = d->database;
    } else if (parent) {
        o.host = parent->host;
        o.port = parent->port;
        o.database = db_name;
    } else if (f == MC_EXPORT_DATAHUB || f == MC_EXPORT_OPENLINEAGE) {
        rc = cmd_fail(MC_EXIT_USAGE, "give the configuration that defines it (-c FILE)",
                      "export --format %s names datasets by %s's host, port and database, "
                      "which only the configuration knows", format, ds_name);
        goto out;
    }
    const char *out_path = cli_value(ctx, "out");
    if ((out_path ? mc_export_to_file(st, &o, out_path, &err)
                  : mc_export_write(st, &o, stdout, "standard output", &err)) != 0) {
        report_error(&err);
        rc = err.code;
        goto out;
    }
    rc = 0;
out:
    mc_run_list_free(&runs);
    free(ds_name);
    free(db_name);
    store_close(st);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_export = {"export", "DS", "the stored catalog in dbt, DataHub or "
     "OpenLineage format, or as JSON",
     "Writes a datastore's recorded catalog (the latest successful crawl, or --as-of a run) "
     "in another tool's format: dbt-catalog (dbt's catalog.json, artifact schema v1, for "
     "'dbt docs'), datahub (metadata change proposals for 'datahub ingest' with the file "
     "source), openlineage (one OpenLineage 2-0-2 DatasetEvent per line) or json "
     "(metacrawl's own, docs/export-schema.json). The store is read one container at a "
     "time, so memory does not grow with the catalog. datahub and openlineage name "
     "datasets by the host, port and database of the configuration. docs/export.md has "
     "the mappings and how to load each.",
     export_opts, 1, 1, cmd_export};
