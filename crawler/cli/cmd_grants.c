/*
 * cmd_grants.c — `metacrawl grants DS`: its options, read into the grants
 * module's plain grants_opts; the run itself (connect, scope, plan, print
 * or --apply) is crawler/grants/apply.c.  Here: the config, the datastore,
 * reporting the error and printing the --json document.
 */
#include "commands.h"
#include "grants.h"

#include <string.h>

static const cli_opt grants_opts_table[] = {
    {"apply", 0, NULL,
     "run the SQL in one transaction as the admin user and report each statement", CLI_IS_FLAG},
    {"schema", 0, "LIST",
     "these schemas instead of the config's globs: comma-separated, a name with a comma "
     "\"quoted\" as in SQL; with --dialect no connection is made", CLI_IS_TEXT},
    {"owner", 0, "LIST",
     "owners of tables to set default privileges for (added to those the catalog shows)",
     CLI_IS_TEXT},
    {"dialect", 0, "NAME", "redshift or postgresql: the dialect without a connection",
     CLI_IS_TEXT},
    {"admin-user", 0, "USER",
     "read the catalog and --apply as USER (default: the datastore's admin: block)",
     CLI_IS_TEXT},
    {"admin-password-from", 0, "SOURCE",
     "the admin's password: env:NAME or file:PATH (default: admin: in the config, else "
     "PGPASSWORD or ~/.pgpass)", CLI_IS_TEXT},
    {"password-from", 0, "SOURCE",
     "the crawler user's password for --apply: env:NAME, file:PATH, or config (the "
     "datastore's password:); never printed", CLI_IS_TEXT},
    {0},
};

/* How often option lng was given (the parser keeps the last value). */
static int times_given(const cli_ctx *ctx, const char *lng)
{
    for (int i = 0; ctx->cmd->opts[i].lng; i++)
        if (strcmp(ctx->cmd->opts[i].lng, lng) == 0)
            return ctx->flags[i];
    return 0;
}

static int cmd_grants(cli_ctx *ctx)
{
    cfg *c = NULL;
    int rc = cmd_load_config(ctx, false, &c);
    if (rc)
        return rc;
    const cfg_datastore *ds = cfg_find_datastore(c, ctx->args[0]);
    if (!ds) {
        rc = cmd_unknown_datastore(c, ctx->args[0]);
        cfg_free(c);
        return rc;
    }
    grants_opts o = {
        .apply = cli_flag(ctx, "apply"),
        .schema = cli_value(ctx, "schema"),
        .schema_given = times_given(ctx, "schema"),
        .owner = cli_value(ctx, "owner"),
        .owner_given = times_given(ctx, "owner"),
        .dialect = cli_value(ctx, "dialect"),
        .admin_user = cli_value(ctx, "admin-user"),
        .admin_password_from = cli_value(ctx, "admin-password-from"),
        .password_from = cli_value(ctx, "password-from"),
        .json = ctx->json,
    };
    grants_run *run = NULL;
    mc_error err = {0};
    rc = grants_execute(ds, &o, &run, &err);
    if (rc)
        report_error(&err);
    if (ctx->json) {
        mc_buf j = {0};
        grants_run_json(run, rc, &j);
        cmd_print_json(&j);
        mc_buf_free(&j);
    }
    grants_run_free(run); /* the session, then the tunnel */
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_grants = {
    "grants", "DS", "group-based grant SQL for the crawler user, in the server's dialect",
    "Prints the SQL that lets the crawler user (user:, default metamapper) read the schemas "
    "in scope, through a group (group:, default metamapper): create the user and the "
    "group, put the user in the group, then for every schema GRANT USAGE and GRANT SELECT "
    "ON ALL TABLES to the group, and ALTER DEFAULT PRIVILEGES once per owner of tables in "
    "scope so that future tables are readable too. Redshift gets CREATE USER, CREATE GROUP, "
    "ALTER GROUP ... ADD USER and GRANT ... TO GROUP; PostgreSQL a NOLOGIN group role "
    "granted to the user (named <group>_readers when the group has the user's own name). "
    "Every name is quoted; no password is ever printed.\n\n"
    "The schemas in scope are the datastore's include/exclude globs resolved against the "
    "live catalog, read as the admin (admin: in the config, or --admin-user) or else as the "
    "crawler user. With --schema and --dialect nothing connects. A datastore with a tunnel: "
    "is reached through it, for the admin's connection too (docs/tunnel.md).\n\n"
    "--apply runs the SQL in one transaction as the admin and reports each statement; when "
    "one fails, nothing is applied. Running it again is safe. See docs/redshift-setup.md.",
    grants_opts_table, 1, 1, cmd_grants};
