/*
 * crawl.c — one crawl of one datastore (crawl.h).
 *
 * Order matters for the store's guarantee: the run row is written first in
 * its own transaction (so a crawl that dies leaves a trace), the catalog is
 * read completely before anything else is written, and everything the run
 * found goes in with store_commit_run's single transaction.  A failure at
 * any step marks the run failed and leaves the catalog untouched.
 *
 * A datastore with a `tunnel:` is reached through it (crawl_connect): the
 * tunnel is opened before libpq connects and closed as soon as the catalog
 * has been read, before anything is written.  When the tunnel breaks during
 * discovery, the error says so instead of libpq's "server closed the
 * connection" (crawl_tunnel_explain).
 */
#include "crawl.h"
#include "spool.h"
#include "deadline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- connecting, through the tunnel or not ------------------------------- */

static void hop_from_cfg(const cfg_hop *c, tunnel_hop *h)
{
    *h = (tunnel_hop){
        .host = c->host,
        .port = c->port,
        .user = c->user,
        .private_key = c->private_key,
        .agent = c->agent,
        .known_hosts = c->known_hosts,
        .host_key_policy = c->host_key_policy == CFG_HOST_KEY_ACCEPT_NEW
                               ? TUNNEL_HOST_KEY_ACCEPT_NEW
                               : TUNNEL_HOST_KEY_STRICT,
    };
}

int crawl_tunnel_open(const cfg_datastore *ds, int max_connections,
                      tunnel_progress *progress, tunnel **out, mc_error *err)
{
    *out = NULL;
    const cfg_tunnel *ct = &ds->tunnel;
    if (!ct->present)
        return 0;
    size_t n = 1 + ct->n_jump;
    tunnel_hop *hops = mc_calloc(n, sizeof *hops);
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        const cfg_hop *c = i == 0 ? &ct->first : &ct->jump[i - 1];
        hop_from_cfg(c, &hops[i]);
        if ((c->passphrase.kind != CFG_SECRET_NONE &&
             cfg_secret_resolve(&c->passphrase, &hops[i].passphrase, err) != 0) ||
            (c->password.kind != CFG_SECRET_NONE &&
             cfg_secret_resolve(&c->password, &hops[i].password, err) != 0)) {
            if (progress)
                *progress = (tunnel_progress){.hop = i, .step = TUNNEL_STEP_AUTH};
            goto out;
        }
    }
    tunnel_opts o = {
        .hops = hops,
        .n_hops = n,
        .step_timeout_s = ds->connect_timeout_s > 0 ? ds->connect_timeout_s : 10,
        .keepalive_s = ct->keepalive_s,
        .max_connections = max_connections,
        .progress = progress,
        .via = ct->via == CFG_TUNNEL_OPENSSH   ? TUNNEL_VIA_OPENSSH
               : ct->via == CFG_TUNNEL_COMMAND ? TUNNEL_VIA_COMMAND
                                               : TUNNEL_VIA_LIBSSH2,
        .ssh_program = ct->ssh,
        .ssh_config = ct->ssh_config,
        .command = (const char *const *)ct->command,
        .start_timeout_s = ct->start_timeout_s,
    };
    if (ct->via == CFG_TUNNEL_COMMAND)
        o.n_hops = 0;
    rc = tunnel_open(&o, ds->host, ds->port, out, err);
    if (rc != 0) {
        char *msg = mc_asprintf("datastore '%s': %s", ds->name, err->message);
        snprintf(err->message, sizeof err->message, "%s", msg);
        free(msg);
    }
out:
    for (size_t i = 0; i < n; i++) {
        mc_secret_wipe(&hops[i].passphrase);
        mc_secret_wipe(&hops[i].password);
    }
    free(hops);
    return rc;
}

disc_target crawl_target(const cfg_datastore *ds, const tunnel *t)
{
    if (!t)
        return (disc_target){ds->host, NULL, ds->port};
    return (disc_target){ds->host, "127.0.0.1", tunnel_local_port(t)};
}

void crawl_tunnel_explain(tunnel *t, mc_error *err)
{
    mc_error why = {0};
    if (t && tunnel_failed(t, &why))
        *err = why;
}

void crawl_tunnel_address(const cfg_datastore *ds, const tunnel *t, mc_error *err)
{
    if (!t)
        return;
    /* libpq saw the tunnel's local port; the user knows the real one. */
    char *local = mc_asprintf(" at %s:%d", ds->host, tunnel_local_port(t));
    char *at = strstr(err->message, local);
    if (at) {
        char *msg = mc_asprintf("%.*s at %s:%d through the tunnel%s",
                                (int)(at - err->message), err->message, ds->host, ds->port,
                                at + strlen(local));
        snprintf(err->message, sizeof err->message, "%s", msg);
        free(msg);
    }
    free(local);
}

int crawl_connect(const cfg_datastore *ds, disc_session **sess_out, tunnel **tunnel_out,
                  mc_error *err)
{
    *sess_out = NULL;
    *tunnel_out = NULL;
    tunnel *t = NULL;
    /* libpq may retry once on the same port (sslmode prefer/allow, GSS), so a
     * few connections are allowed before the listener closes by itself. */
    if (crawl_tunnel_open(ds, 4, NULL, &t, err) != 0)
        return -1;
    disc_target target = crawl_target(ds, t);
    if (disc_connect(ds, &target, sess_out, err) != 0) {
        crawl_tunnel_address(ds, t, err);
        crawl_tunnel_explain(t, err);
        tunnel_close(t);
        return -1;
    }
    tunnel_seal(t);
    *tunnel_out = t;
    return 0;
}

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

/* The error of a crawl that max_runtime stopped, in place of libpq's. */
static void deadline_error(const cfg_datastore *ds, mc_error *err)
{
    int s = ds->max_runtime_s;
    char limit[32];
    if (s % 3600 == 0)
        snprintf(limit, sizeof limit, "%dh", s / 3600);
    else if (s % 60 == 0)
        snprintf(limit, sizeof limit, "%dm", s / 60);
    else
        snprintf(limit, sizeof limit, "%ds", s);
    mc_error_clear(err);
    mc_error_set(err, MC_EXIT_CONNECT,
                 "datastore '%s': crawl stopped after max_runtime (%s): the server had not "
                 "finished answering", ds->name, limit);
    mc_error_hint(err, "the run is recorded as failed and the store is unchanged; a server "
                       "or network path that stopped answering (a paused cluster, a NAT or "
                       "bastion that dropped the connection) looks like this; if the "
                       "catalog is just large, raise max_runtime: (-vv shows the statements)");
}

/* The fields a first crawl spooled (spool.h), for store_commit_run_src. */
typedef struct spool_source {
    disc_spool *spool;
    const mc_catalog *cur;
} spool_source;

static int spool_fields(void *arg, size_t container, const mc_field **out, size_t *n,
                        mc_error *err)
{
    const spool_source *ss = arg;
    return spool_get(ss->spool, ss->cur->containers[container].oid, out, n, err);
}

/* Grace between asking the server to cancel and cutting the connection. */
#define DEADLINE_GRACE_S 5.0

void crawl_datastore(const cfg_datastore *ds, store *st, const crawl_opts *o,
                     crawl_report *r)
{
    memset(r, 0, sizeof *r);
    r->ds = ds;
    double t0 = mc_monotonic();
    disc_session *sess = NULL;
    tunnel *tun = NULL;
    crawl_deadline *dl = NULL;
    store_heartbeat *hb = NULL;
    disc_result found = {0};

    if (!o->dry_run &&
        store_run_begin(st, ds->name, o->scheduled_for, &r->run_id, &r->error) != 0) {
        fail(r, NULL);
        goto out;
    }
    if (!o->dry_run) {
        mc_error hb_err = {0};
        if (store_heartbeat_start(st, r->run_id, STORE_HEARTBEAT_S, &hb, &hb_err) != 0)
            mc_log(MC_LOG_WARN, "%s (an interrupted run will look longer than it was)",
                   hb_err.message);
    }
    /* What the store knows, before discovery: a re-crawl reads again only
     * the tables that moved (reread.h). */
    if (st) {
        if (store_load_current(st, ds->name, &r->prev, &r->error) != 0) {
            fail(r, st);
            goto out;
        }
    } else {
        r->prev = mc_catalog_new();
    }
    dl = deadline_start(ds->max_runtime_s, DEADLINE_GRACE_S);
    mc_progress_phase("connecting%s", ds->tunnel.present ? " through the tunnel" : "");
    if (crawl_connect(ds, &sess, &tun, &r->error) != 0) {
        fail(r, st);
        goto out;
    }
    deadline_watch(dl, disc_pg(sess));
    mc_progress_phase("reading the catalog");
    int disc_rc = deadline_fired(dl) ? -1 : disc_run(sess, ds, r->prev, &found, &r->error);
    deadline_watch(dl, NULL);
    if (disc_rc == 0 && deadline_fired(dl)) {
        /* it finished in the grace period: the catalog is whole, keep it */
        mc_log(MC_LOG_INFO, "datastore '%s': discovery finished just after max_runtime",
               ds->name);
    }
    /* A Redshift-only step cancelled by the deadline is not a partial
     * crawl: the crawl ran out of time. */
    if ((disc_rc != 0 || found.n_failed_steps > 0) && deadline_fired(dl)) {
        deadline_error(ds, &r->error);
        r->dialect = mc_strdup(disc_dialect(sess));
        r->server_version = mc_strdup(disc_server_version(sess));
        fail(r, st);
        goto out;
    }
    if (disc_rc != 0) {
        if (tunnel_failed(tun, NULL)) {
            crawl_tunnel_explain(tun, &r->error);
            char *hint = mc_asprintf("the run is recorded as failed and the store is "
                                     "unchanged; %s", r->error.hint);
            snprintf(r->error.hint, sizeof r->error.hint, "%s", hint);
            free(hint);
        }
        r->dialect = mc_strdup(disc_dialect(sess));
        r->server_version = mc_strdup(disc_server_version(sess));
        r->n_queries = found.n_queries;
        fail(r, st);
        goto out;
    }
    r->dialect = mc_strdup(disc_dialect(sess));
    /* A datashare consumer's origin travels with the version the run
     * records (docs/redshift.md, "Several databases and datashares"). */
    r->server_version = found.source
                            ? mc_asprintf("%s; read from %s", disc_server_version(sess),
                                          found.source)
                            : mc_strdup(disc_server_version(sess));
    r->n_queries = found.n_queries;
    /* The session goes first: its goodbye still travels through the tunnel. */
    disc_close(sess);
    sess = NULL;
    tunnel_close(tun);
    tun = NULL;

    r->cur = found.catalog;
    found.catalog = NULL;
    r->facts = found.facts;
    memset(&found.facts, 0, sizeof found.facts);
    for (size_t i = 0; i < found.n_warnings; i++) {
        add_warning(r, found.warnings[i].message);
        found.warnings[i].message = NULL;
    }
    r->n_schemas = (int64_t)r->cur->n_schemas;
    r->n_containers = (int64_t)r->cur->n_containers;
    r->n_fields = (int64_t)mc_catalog_field_count(r->cur);
    r->n_reread = (int64_t)found.n_reread;
    r->baseline = r->prev->n_schemas == 0 && r->prev->n_containers == 0;

    mc_progress_phase("comparing with the store: schemas %lld, containers %lld, fields %lld",
                      (long long)r->n_schemas, (long long)r->n_containers,
                      (long long)r->n_fields);
    /* Removals per schema (SPEC §5): a schema without USAGE makes the run
     * partial, but only its own containers are protected (diff.c keeps
     * them as recorded); every schema read completely records its
     * removals, under the fail-safe threshold.  A failed Redshift-only step
     * (discover.h) is not confined to a schema: the run is partial and no
     * removal at all is recorded, so the objects it describes keep what was
     * last seen. */
    bool steps_failed = found.n_failed_steps > 0;
    bool partial = r->cur->n_unusable_schemas > 0 || steps_failed;
    diff_opts dopts = {
        .allow_removals = !steps_failed,
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
        mc_progress_phase("recording the run");
        char *facts_note = r->facts.status == DISC_FACTS_READ ? mc_strdup("read")
                           : r->facts.status == DISC_FACTS_UNAVAILABLE
                               ? mc_asprintf("unavailable: %s", r->facts.why)
                               : NULL;
        mc_run_summary sum = {
            .status = r->status,
            .dialect = r->dialect,
            .server_version = r->server_version,
            .n_held_back = (int64_t)r->diff.n_held_back,
            .error = r->n_warnings ? r->warnings[0] : NULL,
            .baseline = r->baseline,
            .facts = facts_note,
        };
        spool_source ss = {found.spool, r->cur};
        store_field_source src = {spool_fields, &ss};
        int commit_rc = store_commit_run_src(st, r->run_id, r->prev, r->cur, &r->diff.changes,
                                             r->diff.cur_to_prev, r->diff.hold_back,
                                             r->diff.n_hold_back, &sum,
                                             found.spool ? &src : NULL, &r->error);
        free(facts_note);
        if (commit_rc != 0) {
            fail(r, st);
            goto out;
        }
    }
    diff_drop_silent(&r->diff);
    r->exit_code = incomplete ? MC_EXIT_PARTIAL : MC_EXIT_OK;
out:
    store_heartbeat_stop(hb);
    deadline_stop(dl);      /* before disc_close: deadline.c, invariant 1 */
    disc_close(sess);
    tunnel_close(tun);
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
    disc_facts_outcome_free(&r->facts);
    memset(r, 0, sizeof *r);
}
