/*
 * export.h — the catalog of a datastore written in another tool's format
 * (docs/export.md): dbt's catalog.json, DataHub metadata change proposals,
 * OpenLineage dataset events, or metacrawl's own JSON.  Every format is
 * written while the store is read one container at a time (store_cursor):
 * memory does not grow with the catalog, and the output leaves in pieces,
 * one container's worth at a time.
 */
#ifndef MC_EXPORT_H
#define MC_EXPORT_H

#include <stdio.h>

#include "mc_base.h"
#include "store.h"

typedef enum mc_export_format {
    MC_EXPORT_DBT_CATALOG = 0, /* dbt artifact catalog.json, schema v1 */
    MC_EXPORT_DATAHUB,         /* a JSON array of MetadataChangeProposals */
    MC_EXPORT_OPENLINEAGE,     /* one DatasetEvent (spec 2-0-2) per line */
    MC_EXPORT_JSON,            /* metacrawl's own (docs/export-schema.json) */
    MC_EXPORT__COUNT
} mc_export_format;
/* "dbt-catalog", "datahub", "openlineage", "json" */
const char *mc_export_format_name(mc_export_format f);
int mc_export_format_parse(const char *s); /* -1 when unknown */

/* The version of metacrawl's own export document ("version" in it). */
#define MC_EXPORT_JSON_VERSION 1

typedef struct mc_export_opts {
    mc_export_format format;
    const char *datastore;
    int64_t as_of;         /* the catalog after this run; 0 = the current one */
    /* The run whose catalog is written (the latest successful one, or
     * as_of) and when it finished: the time every record carries, so the
     * same catalog always exports to the same bytes. */
    int64_t run;
    int64_t run_at;
    const char *dialect;   /* "postgresql" / "redshift"; NULL = unknown */
    /* From the configuration; NULL / 0 when the datastore is not in it
     * (only json and dbt-catalog do without). */
    const char *host;
    int port;
    const char *database;
    const char *dbt_project; /* the dbt project in unique ids; NULL = the datastore */
    const char *datahub_env; /* DataHub's fabric; NULL = "PROD" */
} mc_export_opts;

/*
 * Writes the export to out.  Errors: reading the store (MC_EXIT_STORE), or
 * writing out (MC_EXIT_USAGE, naming out_name).
 */
int mc_export_write(store *st, const mc_export_opts *o, FILE *out, const char *out_name,
                    mc_error *err);
/*
 * The same into the file path, replaced atomically: written next to it
 * under a temporary name and renamed when complete, so a failed export
 * leaves the previous file (or none), never half a file.
 */
int mc_export_to_file(store *st, const mc_export_opts *o, const char *path, mc_error *err);

/* One container as metacrawl's JSON shows it (`show --json`, and each
 * element of the json export's "containers"), with its fields or not. */
void mc_export_json_container(mc_buf *b, const mc_catalog *cat, const mc_container *k,
                              bool with_fields);

#endif
