/*
 * cmd_crawl.c — `metacrawl crawl`: each datastore under its lock, the
 * report in text or JSON, the alerts delivered after each commit.
 */
#include "commands.h"
#include "alerts.h"
#include "crawl.h"
#include "json.h"
#include "lock.h"
#include "targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_opt crawl_opts_table[] = {
    {"dry-run", 'n', NULL, "discover and diff, but write nothing to the store", CLI_IS_FLAG},
    {"exit-code", 0, NULL, "exit 1 when changes were found (--fail-on any)", CLI_IS_FLAG},
    {"fail-on", 0, "WHAT", "exit 1 when there are 'breaking' changes, or 'any'", CLI_IS_TEXT},
    {"format", 0, "FORMAT", "text (default), json, markdown or junit", CLI_IS_TEXT},
    {"accept-removals", 0, NULL,
     "record removals even when they exceed fail_safe.max_removed_pct", CLI_IS_FLAG},
    {"all", 0, NULL, "list every change on the terminal (default: the first 100 per datastore)",
     CLI_IS_FLAG},
    {0},
};

static int cmd_crawl(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    alerts *al = NULL;
    cmd_targets tg = {0};
    cmd_format format;
    cmd_fail_on fail_on;
    /* markdown and junit: every datastore's report, printed at the end */
    crawl_report *kept = NULL;
    report_section *secs = NULL, *skipped = NULL; /* skipped: not crawled */
    size_t n_skipped = 0, n_owned = 0;
    char **owned = NULL; /* the skipped sections' strings */
    size_t n_kept = 0, n_changes = 0, n_breaking = 0;
    int rc = cmd_pipeline_opts(ctx, &format, &fail_on);
    if (rc || (rc = cmd_load_config(ctx, false, &c)) != 0)
        return rc;
    if (cli_flag(ctx, "exit-code") && fail_on == CMD_FAIL_ON_NOTHING)
        fail_on = CMD_FAIL_ON_ANY;
    bool pipeline = format == CMD_FORMAT_MARKDOWN || format == CMD_FORMAT_JUNIT;
    /* databases: each database is a datastore of its own (docs/configuration.md) */
    if ((rc = cmd_select_targets(ctx, c, &tg)) != 0)
        goto out;
    size_t n_sel = tg.n;
    if (cli_flag(ctx, "all"))
        report_change_cap = 0, report_impact_cap = 0;
    /* progress on stderr: only on a terminal, not with -q */
    mc_progress_enabled = isatty(STDERR_FILENO) && mc_log_threshold >= MC_LOG_WARN;
    crawl_opts o = {
        .dry_run = cli_flag(ctx, "dry-run"),
        .accept_removals = cli_flag(ctx, "accept-removals"),
    };
    /* A dry run reads an existing store and creates, migrates or writes
     * nothing. */
    if (!o.dry_run) {
        if ((rc = cmd_open_store(ctx, c, &st)) != 0)
            goto out;
    } else if (access(cmd_store_path(ctx, c), F_OK) == 0) {
        if ((rc = cmd_open_store_read(ctx, c, &st)) != 0)
            goto out;
    }
    /* Alerts: each run queues its deliveries in its own transaction (the
     * store's outbox rules); after each datastore, what is queued goes out.
     * A dry run neither queues nor delivers. */
    if (!o.dry_run)
        al = alerts_open(c, st);
    /* databases: "*": a recorded database no longer listed is said, not
     * dropped in silence (docs/redshift.md, "databases: \"*\"") */
    for (size_t l = 0; l < tg.n_lists; l++)
        crawl_targets_warn_gone(&tg.lists[l], st);
    mc_buf json = {0};
    mc_buf_puts(&json, "{\"datastores\":[");
    if (pipeline) {
        kept = mc_calloc(n_sel + 1, sizeof *kept);
        secs = mc_calloc(n_sel + 1, sizeof *secs);
        skipped = mc_calloc(n_sel + 1, sizeof *skipped);
        owned = mc_calloc(2 * n_sel + 1, sizeof *owned);
    }
    for (size_t i = 0; i < n_sel; i++) {
        crawl_report r;
        const cfg_datastore *const ds_i = tg.items[i].ds;
        if (tg.items[i].failed) {
            /* databases: "*" and the list could not be read */
            const mc_error *lerr = &tg.items[i].error;
            report_error(lerr);
            rc = report_max_code(rc, lerr->code);
            if (pipeline)
                skipped[n_skipped++] = (report_section){
                    .datastore = owned[n_owned++] = mc_strdup(ds_i->name), .status = "failed",
                    .error = owned[n_owned++] = mc_strdup(lerr->message)};
            if (ctx->json) {
                bool f = true;
                if (i)
                    mc_buf_putc(&json, ',');
                mc_buf_putc(&json, '{');
                json_put_kv_str(&json, &f, "datastore", ds_i->name);
                json_put_kv_raw(&json, &f, "run", NULL);
                json_put_kv_str(&json, &f, "status", "failed");
                json_put_kv_int(&json, &f, "exit_code", lerr->code);
                report_json_error(&json, &f, lerr);
                mc_buf_putc(&json, '}');
            }
            continue;
        }
        /* One crawl of a datastore at a time, whoever starts it (lock.h).
         * A dry run writes nothing and needs no lock. */
        crawl_lock *lk = NULL;
        if (!o.dry_run) {
            crawl_lock_holder h;
            mc_error lerr = {0};
            int lrc = crawl_lock_try(cmd_store_path(ctx, c), ds_i->name, "crawl", &lk, &h,
                                     &lerr);
            if (lrc != 0 || !lk) {
                char who[192] = "";
                if (lrc != 0) {
                    report_error(&lerr);
                    rc = report_max_code(rc, lerr.code);
                } else {
                    crawl_lock_describe(&h, who, sizeof who);
                    if (format == CMD_FORMAT_TEXT)
                        printf("%s: locked by %s: not crawled\n", ds_i->name, who);
                }
                if (pipeline)
                    skipped[n_skipped++] = (report_section){
                        .datastore = owned[n_owned++] = mc_strdup(ds_i->name),
                        .status = lrc != 0 ? "failed" : "locked: not crawled",
                        .error = owned[n_owned++] = lrc != 0 ? mc_strdup(lerr.message) : NULL};
                if (ctx->json) {
                    bool f = true;
                    if (i)
                        mc_buf_putc(&json, ',');
                    mc_buf_putc(&json, '{');
                    json_put_kv_str(&json, &f, "datastore", ds_i->name);
                    json_put_kv_raw(&json, &f, "run", NULL);
                    json_put_kv_str(&json, &f, "status", lrc != 0 ? "failed" : "locked");
                    json_put_kv_int(&json, &f, "exit_code", lrc != 0 ? lerr.code : 0);
                    json_put_kv_str(&json, &f, "locked_by", lrc != 0 ? NULL : who);
                    report_json_error(&json, &f, &lerr);
                    mc_buf_putc(&json, '}');
                }
                continue;
            }
        }
        mc_progress_start(ds_i->name);
        crawl_datastore(ds_i, st, &o, &r);
        mc_progress_done();
        for (size_t w = 0; w < r.n_warnings; w++)
            mc_log(MC_LOG_WARN, "%s: %s", ds_i->name, r.warnings[w]);
        if (r.error.code)
            report_error(&r.error);
        if (!r.baseline) {
            n_changes += r.diff.changes.n;
            n_breaking += report_count_breaking(&r.diff.changes);
        }
        if (ctx->json) {
            if (i)
                mc_buf_putc(&json, ',');
            report_json_crawl(&json, &r);
        } else if (!pipeline && mc_log_threshold >= MC_LOG_ERROR) {
            report_print_crawl(&r);
        }
        rc = report_max_code(rc, r.exit_code);
        if (pipeline)
            kept[n_kept++] = r;
        else
            crawl_report_free(&r);
        if (al)
            alerts_deliver(al, NULL, 0);
        crawl_lock_release(lk);
    }
    mc_buf_puts(&json, "]");
    if (al) {
        /* A failed delivery does not change the crawl's exit code (the
         * catalog was recorded): it is said on stderr and in --json, and
         * the deliveries stay queued. */
        mc_buf_puts(&json, ",\"alerts\":");
        alerts_put_json(al, &json);
        alerts_report(al, format == CMD_FORMAT_TEXT ? stdout : NULL);
    }
    mc_buf_putc(&json, '}');
    if (ctx->json)
        cmd_print_json(&json);
    mc_buf_free(&json);
    if (pipeline) {
        for (size_t i = 0; i < n_kept; i++) {
            const crawl_report *r = &kept[i];
            secs[i] = (report_section){
                .datastore = r->ds->name,
                .status = r->status == MC_RUN_RUNNING ? "not crawled"
                          : r->baseline                ? "first crawl"
                                                       : mc_run_status_name(r->status),
                .error = r->error.code ? r->error.message : NULL,
                .changes = r->baseline ? NULL : &r->diff.changes,
            };
        }
        for (size_t i = 0; i < n_skipped; i++)
            secs[n_kept + i] = skipped[i];
        cmd_print_pipeline(format, "metacrawl crawl", secs, n_kept + n_skipped);
    }
    if (cmd_fails_on(fail_on, n_changes, n_breaking))
        rc = report_max_code(rc, MC_EXIT_CHANGES);
out:
    for (size_t i = 0; i < n_kept; i++)
        crawl_report_free(&kept[i]);
    free(kept);
    free(secs);
    for (size_t i = 0; i < n_owned; i++)
        free(owned[i]);
    free(owned);
    free(skipped);
    cmd_targets_free(&tg);
    alerts_close(al);
    store_close(st);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_crawl = {"crawl", "[DS...]", "discover, diff against the store, record a run",
     "Crawls the named datastores (default: all of them). Each crawl connects, "
     "reads the catalog with a constant number of queries, compares it with the "
     "store and records a run with its changes in one transaction; a crawl that "
     "fails leaves the store as it was. The first crawl of a datastore records "
     "its catalog without reporting changes. Table facts (size, rows, last "
     "analysed and vacuumed; docs/lineage.md) are read with one more statement "
     "and stored apart: they are never a change, and when they cannot be read "
     "the crawl goes on without them and says so.\n\nSchemas the user can see but "
     "not use are reported, exit code 7, and nothing in them is marked removed; "
     "removals in the schemas that were read are recorded. Removals of more than "
     "fail_safe.max_removed_pct percent of the containers are held back unless "
     "--accept-removals is given. Every datastore is attempted; the highest "
     "exit code wins.\n\nIn a pipeline, --fail-on breaking (or any) exits 1 "
     "when such changes were found, and --format markdown or junit prints a "
     "pull-request comment or a test report instead of the text (docs/ci.md)."
     "\n\nA datastore with databases: is crawled database by database, each in its "
     "own session and recorded as the datastore DS/DB (the database's name with bytes "
     "other than letters, digits, _ and - written %XX); 'crawl DS/DB' crawls one of "
     "them (docs/configuration.md, \"Several databases\")."
     "\n\nAfter each datastore, the alert deliveries that are "
     "queued are sent (docs/alerts.md). A failed delivery is reported on stderr "
     "and in --json and stays queued for the next crawl or 'metacrawl alerts "
     "retry'; it does not change the exit code.",
     crawl_opts_table, 0, -1, cmd_crawl};
