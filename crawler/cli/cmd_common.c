/*
 * cmd_common.c — what every command does the same way: load the
 * configuration and open the store as the options say, report errors (and
 * under --json record them for the JSON error document), check datastore
 * names and count options.  Only the command layer turns errors into exit
 * codes.
 */
#include "commands.h"
#include "json.h"
#include "schedule.h"
#include "targets.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_load_config(const cli_ctx *ctx, bool optional, cfg **out)
{
    *out = NULL;
    mc_error err = {0};
    char *path = ctx->config_path ? mc_strdup(ctx->config_path) : cfg_default_path();
    if (!path) {
        if (optional)
            return 0;
        mc_error_set(&err, MC_EXIT_CONFIG,
                     "no configuration file: ./metacrawl.yml and "
                     "$XDG_CONFIG_HOME/metacrawl/metacrawl.yml do not exist");
        mc_error_hint(&err, "run 'metacrawl init' to write one, or pass -c FILE");
        report_error(&err);
        return MC_EXIT_CONFIG;
    }
    int rc = cfg_load(path, out, &err);
    free(path);
    if (rc == 0 && sched_check_config(*out, &err) != 0) {
        cfg_free(*out);
        *out = NULL;
        rc = -1;
    }
    if (rc != 0) {
        report_error(&err);
        return err.code ? err.code : MC_EXIT_CONFIG;
    }
    return 0;
}

/* The read commands (diff, history, show, search) need only the store:
 * with --store they do not read the configuration at all. */
int cmd_load_config_for_reading(const cli_ctx *ctx, cfg **out)
{
    *out = NULL;
    return ctx->store_path ? 0 : cmd_load_config(ctx, false, out);
}

/* The store path: --store, else the config's store:. */
const char *cmd_store_path(const cli_ctx *ctx, const cfg *c)
{
    if (ctx->store_path)
        return ctx->store_path;
    return c ? c->store : NULL;
}

int cmd_open_store(const cli_ctx *ctx, const cfg *c, store **out)
{
    *out = NULL;
    mc_error err = {0};
    const char *path = cmd_store_path(ctx, c);
    if (!path) {
        mc_error_set(&err, MC_EXIT_CONFIG, "no store: give --store PATH or a configuration file");
        report_error(&err);
        return MC_EXIT_CONFIG;
    }
    if (store_open(path, out, &err) != 0) {
        report_error(&err);
        return err.code ? err.code : MC_EXIT_STORE;
    }
    return 0;
}

int cmd_open_store_read(const cli_ctx *ctx, const cfg *c, store **out)
{
    *out = NULL;
    mc_error err = {0};
    const char *path = cmd_store_path(ctx, c);
    if (!path)
        return cmd_fail(MC_EXIT_CONFIG, NULL,
                        "no store: give --store PATH or a configuration file");
    if (store_open_read(path, out, &err) != 0) {
        report_error(&err);
        return err.code ? err.code : MC_EXIT_STORE;
    }
    return 0;
}

int cmd_fail(int code, const char *hint, const char *fmt, ...)
{
    mc_error err = {0};
    err.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    if (hint)
        snprintf(err.hint, sizeof err.hint, "%s", hint);
    report_error(&err);
    return code;
}

int cmd_pick_datastore(store *st, const char *name, char **out)
{
    mc_error err = {0};
    char **names = NULL;
    size_t n = 0;
    if (out)
        *out = NULL;
    if (store_list_datastores(st, &names, &n, &err) != 0) {
        report_error(&err);
        return err.code;
    }
    size_t hit = n;
    mc_buf have = {0};
    for (size_t i = 0; i < n; i++) {
        if (name ? strcmp(names[i], name) == 0 : n == 1)
            hit = i;
        mc_buf_printf(&have, "%s%s", i ? ", " : "", names[i]);
    }
    int rc = 0;
    if (hit < n) {
        if (out) {
            *out = names[hit];
            names[hit] = NULL;
        }
    } else {
        char *hint = n ? mc_asprintf("the store has: %s", mc_buf_str(&have))
                       : mc_strdup("the store has no runs yet: crawl first");
        if (name) {
            mc_buf safe = {0};
            mc_term_escape(&safe, name);
            rc = cmd_fail(MC_EXIT_USAGE, hint, "unknown datastore '%s'", mc_buf_str(&safe));
            mc_buf_free(&safe);
        } else {
            rc = cmd_fail(MC_EXIT_USAGE, hint, n ? "name a datastore; the store has %zu"
                                                 : "the store has no datastore (%zu runs)", n);
        }
        free(hint);
    }
    mc_buf_free(&have);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

void cmd_print_json(mc_buf *b)
{
    cli_note_json_output();
    fputs(mc_buf_str(b), stdout);
    fputc('\n', stdout);
}

int cmd_unknown_datastore(const cfg *c, const char *name)
{
    mc_buf have = {0}, safe = {0};
    for (size_t k = 0; k < c->n_datastores; k++)
        mc_buf_printf(&have, "%s%s", k ? ", " : "", c->datastores[k].name);
    mc_term_escape(&safe, name);
    char *hint = mc_asprintf("%s has: %s", c->path, mc_buf_str(&have));
    int rc = cmd_fail(MC_EXIT_USAGE, hint, "unknown datastore '%s'", mc_buf_str(&safe));
    free(hint);
    mc_buf_free(&have);
    mc_buf_free(&safe);
    return rc;
}

/* The datastores named on the command line (all when none), or exit 2. */
int cmd_select_datastores(const cli_ctx *ctx, const cfg *c,
                          const cfg_datastore ***out, size_t *n_out)
{
    size_t n = ctx->n_args ? (size_t)ctx->n_args : c->n_datastores;
    if (n == 0) {
        fprintf(stderr, "metacrawl: %s has no datastores\n", c->path);
        return MC_EXIT_CONFIG;
    }
    const cfg_datastore **sel = mc_calloc(n + 1, sizeof *sel);
    for (size_t i = 0; i < n; i++) {
        if (!ctx->n_args) {
            sel[i] = &c->datastores[i];
            continue;
        }
        sel[i] = cfg_find_datastore(c, ctx->args[i]);
        if (!sel[i]) {
            free(sel);
            return cmd_unknown_datastore(c, ctx->args[i]);
        }
    }
    *out = sel;
    *n_out = n;
    return 0;
}

/* ---- several databases ------------------------------------------------------ */

static void add_target(cmd_targets *t, const cfg_datastore *ds, const mc_error *err)
{
    t->items = mc_realloc(t->items, (t->n + 1) * sizeof *t->items);
    cmd_target *it = &t->items[t->n++];
    memset(it, 0, sizeof *it);
    it->ds = ds;
    if (err) {
        it->failed = true;
        it->error = *err;
    }
}

/* DS/DB where DS has databases: [..] without DB: say which it has. */
static int unknown_database(const cfg *c, const char *name)
{
    const char *slash = strchr(name, '/');
    const cfg_datastore *ds = NULL;
    for (size_t i = 0; slash && i < c->n_datastores; i++)
        if (strlen(c->datastores[i].name) == (size_t)(slash - name) &&
            !strncmp(c->datastores[i].name, name, (size_t)(slash - name)))
            ds = &c->datastores[i];
    if (!ds || !cfg_has_databases(ds))
        return cmd_unknown_datastore(c, name);
    mc_buf have = {0}, safe = {0};
    for (size_t k = 0; k < ds->n_databases; k++) {
        char *n = cfg_database_datastore_name(ds->name, ds->databases[k]);
        mc_buf_printf(&have, "%s%s", k ? ", " : "", n);
        free(n);
    }
    mc_term_escape(&safe, name);
    char *hint = mc_asprintf("the databases: of '%s' are %s", ds->name, mc_buf_str(&have));
    int rc = cmd_fail(MC_EXIT_USAGE, hint, "unknown datastore '%s'", mc_buf_str(&safe));
    free(hint);
    mc_buf_free(&have);
    mc_buf_free(&safe);
    return rc;
}

int cmd_select_targets(const cli_ctx *ctx, const cfg *c, cmd_targets *out)
{
    memset(out, 0, sizeof *out);
    size_t n = ctx->n_args ? (size_t)ctx->n_args : c->n_datastores;
    if (n == 0) {
        fprintf(stderr, "metacrawl: %s has no datastores\n", c->path);
        return MC_EXIT_CONFIG;
    }
    /* names first, so that a typo fails before anything connects */
    const cfg_datastore **base = mc_calloc(n + 1, sizeof *base);
    char **only = mc_calloc(n + 1, sizeof *only);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!ctx->n_args) {
            base[i] = &c->datastores[i];
            continue;
        }
        base[i] = cfg_find_datastore(c, ctx->args[i]);
        if (!base[i])
            base[i] = cfg_find_database(c, ctx->args[i], &only[i]);
        if (!base[i])
            rc = unknown_database(c, ctx->args[i]);
    }
    /* lists are grown while items point into earlier ones: reserve them all */
    if (!rc) {
        out->lists = mc_calloc(n + 1, sizeof *out->lists);
        for (size_t i = 0; i < n; i++) {
            const cfg_datastore *ds = base[i];
            if (!cfg_has_databases(ds)) {
                add_target(out, ds, NULL);
                continue;
            }
            crawl_targets *l = &out->lists[out->n_lists];
            mc_error err = {0};
            if (crawl_list_databases(ds, only[i], l, &err) != 0) {
                add_target(out, ds, &err);
                continue;
            }
            out->n_lists++;
            if (l->n == 0)
                mc_log(MC_LOG_WARN, "%s: databases: \"*\" found no database the user may "
                                    "connect to", ds->name);
            for (size_t k = 0; k < l->n; k++)
                add_target(out, &l->ds[k], NULL);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(only[i]);
    free(only);
    free(base);
    if (rc)
        cmd_targets_free(out);
    return rc;
}

void cmd_targets_free(cmd_targets *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_lists; i++)
        crawl_targets_free(&t->lists[i]);
    free(t->lists);
    free(t->items);
    memset(t, 0, sizeof *t);
}
