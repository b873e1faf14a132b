/*
 * crawl.c — one crawl of one datastore (crawl.h).
 *
 * Order matters for the store's guarantee: the run row is written first in
 * its own transaction (so a crawl that dies leaves a trace), the catalog is
 * read completely before anything else is written, and everything the run
 * found goes in with store_commit_run's single transaction.  A failure at
 * any step marks the run failed and leaves the catalog untouched.
 */
#include "crawl.h"

#include <stdlib.h>
#include <string.h>

static void add_warning(crawl_report *r, char *text)
{
    r->warnings = mc_realloc(r->warnings, (r->n_warnings + 1) * sizeof *r->warnings);
    r->warnings[r->n_warnings++] = text;
}

static void fail(crawl_report *r, store *st)
{
    r->status = MC_RUN_FAILED;
    r->exit_code = r->error.code ? r->error.code : MC_EXIT_CONNECT;
    if (st && r->run_id) {
        mc_error ignored = {0};
        if (store_run_fail(st, r->run_id, r->error.message, &ignored) != 0)
            mc_log(MC_LOG_WARN, "could not mark run %lld failed: %s",
                   (long long)r->run_id, ignored.message);
    }
}

void crawl_datastore(const cfg_datastore *ds, store *st, const crawl_opts *o,
                     crawl_report *r)
{
    memset(r, 0, sizeof *r);
    r->ds = ds;
    double t0 = mc_monotonic();
    disc_session *sess = NULL;
    disc_result found = {0};

    if (!o->dry_run &&
        store_run_begin(st, ds->name, o->scheduled_for, &r->run_id, &r->error) != 0) {
        fail(r, NULL);
        goto out;
    }
    disc_target target = {ds->host, NULL, ds->port};
    if (disc_connect(ds, &target, &sess, &r->error) != 0 ||
        disc_run(sess, ds, &found, &r->error) != 0) {
        if (sess) {
            r->dialect = mc_strdup(disc_dialect(sess));
            r->server_version = mc_strdup(disc_server_version(sess));
        }
        fail(r, st);
        goto out;
    }
    r->dialect = mc_strdup(disc_dialect(sess));
    r->server_version = mc_strdup(disc_server_version(sess));
    r->n_queries = found.n_queries;
    disc_close(sess);
    sess = NULL;

    r->cur = found.catalog;
    found.catalog = NULL;
    for (size_t i = 0; i < found.n_warnings; i++) {
        add_warning(r, found.warnings[i].message);
        found.warnings[i].message = NULL;
    }
    r->n_schemas = (int64_t)r->cur->n_schemas;
    r->n_containers = (int64_t)r->cur->n_containers;
    r->n_fields = (int64_t)r->cur->n_fields;

    if (st) {
        if (store_load_current(st, ds->name, &r->prev, &r->error) != 0) {
            fail(r, st);
            goto out;
        }
    } else {
        r->prev = mc_catalog_new();
    }
    r->baseline = r->prev->n_schemas == 0 && r->prev->n_containers == 0;

    bool partial = r->cur->n_unusable_schemas > 0;
    diff_opts dopts = {
        .allow_removals = !partial,
        .max_removed_pct = ds->max_removed_pct,
        .accept_removals = o->accept_removals,
        .scope = ds,
        .baseline = r->baseline,
    };
    if (diff_catalogs(st, r->prev, r->cur, &dopts, &r->diff, &r->error) != 0) {
        fail(r, st);
        goto out;
    }
    if (r->diff.fail_safe_tripped)
        add_warning(r, mc_asprintf(
                           "%zu of %zu containers disappeared, more than "
                           "fail_safe.max_removed_pct (%g%%): %zu removals held back, "
                           "not recorded; run with --accept-removals if they are real",
                           r->diff.n_removed_containers, r->prev->n_containers,
                           ds->max_removed_pct, r->diff.n_held_back));
    else if (r->diff.n_held_back > 0)
        add_warning(r, mc_asprintf("the crawl was partial: %zu removals held back, "
                                   "not recorded",
                                   r->diff.n_held_back));
    bool incomplete = partial || r->diff.fail_safe_tripped;
    r->status = incomplete ? MC_RUN_PARTIAL : MC_RUN_OK;

    if (!o->dry_run) {
        mc_run_summary sum = {
            .status = r->status,
            .dialect = r->dialect,
            .server_version = r->server_version,
            .n_held_back = (int64_t)r->diff.n_held_back,
            .error = r->n_warnings ? r->warnings[0] : NULL,
            .baseline = r->baseline,
        };
        if (store_commit_run(st, r->run_id, r->prev, r->cur, &r->diff.changes,
                             r->diff.cur_to_prev, r->diff.hold_back,
                             r->diff.n_hold_back, &sum, &r->error) != 0) {
            fail(r, st);
            goto out;
        }
    }
    diff_drop_silent(&r->diff);
    r->exit_code = incomplete ? MC_EXIT_PARTIAL : MC_EXIT_OK;
out:
    disc_close(sess);
    disc_result_free(&found);
    r->seconds = mc_monotonic() - t0;
}

void crawl_report_free(crawl_report *r)
{
    if (!r)
        return;
    diff_result_free(&r->diff);
    mc_catalog_free(r->prev);
    mc_catalog_free(r->cur);
    for (size_t i = 0; i < r->n_warnings; i++)
        free(r->warnings[i]);
    free(r->warnings);
    free(r->dialect);
    free(r->server_version);
    memset(r, 0, sizeof *r);
}
