/*
 * cmd_alerts.c — `metacrawl alerts status|retry|discard [ALERT...]`: the
 * queue of alert deliveries in the store, shown, retried or dropped
 * (docs/alerts.md, "Commands").
 */
#include "commands.h"
#include "alerts.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cfg_alert *find_alert(const cfg *c, const char *name)
{
    for (size_t i = 0; c && i < c->n_alerts; i++)
        if (strcmp(c->alerts[i].name, name) == 0)
            return &c->alerts[i];
    return NULL;
}

static bool named(const cli_ctx *ctx, const char *name)
{
    if (ctx->n_args < 2)
        return true;
    for (int i = 1; i < ctx->n_args; i++)
        if (strcmp(ctx->args[i], name) == 0)
            return true;
    return false;
}

static const mc_outbox_stat *find_stat(const mc_outbox_stats *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i].alert, name) == 0)
            return &s->items[i];
    return NULL;
}

static void iso_or_null(mc_buf *b, bool *first, const char *key, int64_t t)
{
    char iso[21];
    mc_time_iso(t, iso);
    json_put_kv_str(b, first, key, t ? iso : NULL);
}

static void text_time(int64_t t)
{
    char iso[21];
    mc_time_iso(t, iso);
    iso[10] = ' ';
    iso[19] = '\0';
    printf("%s UTC", iso);
}

#define STATUS_LIST_JSON 100 /* pending changes listed per alert in --json */
#define STATUS_LIST_TEXT 5   /* ... and in text */

/* One alert of `alerts status`: configured is 1, 0 (orphaned) or -1 (no
 * configuration was read, so it cannot be told). */
static int status_one(const cli_ctx *ctx, store *st, mc_buf *j, bool first_alert,
                      const char *name, const char *sink, int configured,
                      const mc_outbox_stat *x)
{
    mc_delivery_list l = {0};
    mc_error err = {0};
    size_t want = ctx->json ? STATUS_LIST_JSON : STATUS_LIST_TEXT;
    if (x && x->n_pending && store_outbox_pending(st, name, want, &l, &err) != 0) {
        report_error(&err);
        return err.code;
    }
    int64_t pending = x ? x->n_pending : 0;
    if (ctx->json) {
        bool first = true;
        if (!first_alert)
            mc_buf_putc(j, ',');
        mc_buf_putc(j, '{');
        json_put_kv_str(j, &first, "alert", name);
        json_put_kv_str(j, &first, "sink", sink);
        if (configured < 0)
            json_put_kv_raw(j, &first, "configured", NULL);
        else
            json_put_kv_bool(j, &first, "configured", configured > 0);
        json_put_kv_bool(j, &first, "orphaned", configured == 0);
        json_put_kv_int(j, &first, "pending", pending);
        json_put_kv_int(j, &first, "delivered", x ? x->n_delivered : 0);
        json_put_kv_int(j, &first, "discarded", x ? x->n_discarded : 0);
        if (x && x->oldest_run)
            json_put_kv_int(j, &first, "oldest_pending_run", x->oldest_run);
        else
            json_put_kv_raw(j, &first, "oldest_pending_run", NULL);
        iso_or_null(j, &first, "oldest_queued_at", x ? x->oldest_queued_at : 0);
        json_put_kv_int(j, &first, "attempts", x ? x->max_attempts : 0);
        iso_or_null(j, &first, "last_attempt_at", x ? x->last_attempt_at : 0);
        json_put_kv_str(j, &first, "last_error", x ? x->last_error : NULL);
        iso_or_null(j, &first, "last_delivered_at", x ? x->last_delivered_at : 0);
        first = json_put_key(j, first, "pending_changes");
        mc_buf_putc(j, '[');
        for (size_t i = 0; i < l.n; i++) {
            if (i)
                mc_buf_putc(j, ',');
            alerts_json_change(j, &l, i, NULL);
        }
        mc_buf_puts(j, "]}");
        mc_delivery_list_free(&l);
        return 0;
    }
    printf("%s (%s)", name, sink ? sink : "?");
    if (configured == 0)
        printf(", orphaned: not in the configuration");
    printf(": ");
    if (!pending) {
        printf("nothing pending");
    } else {
        printf("%lld pending since run %lld (queued ", (long long)pending,
               (long long)x->oldest_run);
        text_time(x->oldest_queued_at);
        printf(")");
        if (x->max_attempts)
            printf(", %lld attempt%s", (long long)x->max_attempts,
                   x->max_attempts == 1 ? "" : "s");
    }
    if (x && x->n_delivered) {
        printf("; %lld delivered, last ", (long long)x->n_delivered);
        text_time(x->last_delivered_at);
    }
    if (x && x->n_discarded)
        printf("; %lld discarded", (long long)x->n_discarded);
    putchar('\n');
    if (pending && x->last_error) {
        printf("  last error (");
        text_time(x->last_attempt_at);
        printf("): ");
        report_put_safe(stdout, x->last_error);
        putchar('\n');
    } else if (pending && configured != 0) {
        printf("  not attempted yet: the next crawl or 'metacrawl alerts retry %s' "
               "delivers it\n", name);
    }
    for (size_t i = 0; i < l.n; i++) {
        const mc_change *c = &l.changes.items[i];
        printf("  run %lld  ", (long long)l.items[i].run);
        report_put_safe(stdout, l.items[i].datastore);
        putchar('.');
        report_put_safe(stdout, c->schema);
        if (c->container) {
            putchar('.');
            report_put_safe(stdout, c->container);
        }
        if (c->field) {
            putchar('.');
            report_put_safe(stdout, c->field);
        }
        printf("  %s%s\n", mc_change_kind_name(c->kind), c->breaking ? "  breaking" : "");
    }
    if ((int64_t)l.n < pending)
        printf("  ...and %lld more\n", (long long)(pending - (int64_t)l.n));
    if (configured == 0 && pending)
        printf("  put the alert back in the configuration to deliver them, or "
               "'metacrawl alerts discard %s' to drop them\n", name);
    mc_delivery_list_free(&l);
    return 0;
}

static int alerts_status(const cli_ctx *ctx, const cfg *c, store *st)
{
    mc_outbox_stats stats = {0};
    mc_error err = {0};
    if (store_outbox_stats(st, &stats, &err) != 0) {
        report_error(&err);
        return err.code;
    }
    mc_buf j = {0};
    mc_buf_puts(&j, "{\"alerts\":[");
    int rc = 0;
    bool first = true;
    size_t shown = 0;
    /* The configured alerts in config order, then the orphans by name. */
    for (size_t i = 0; c && i < c->n_alerts && !rc; i++) {
        const cfg_alert *al = &c->alerts[i];
        if (!named(ctx, al->name))
            continue;
        rc = status_one(ctx, st, &j, first, al->name, alerts_sink_name(al), 1,
                        find_stat(&stats, al->name));
        first = false;
        shown++;
    }
    for (size_t i = 0; i < stats.n && !rc; i++) {
        const mc_outbox_stat *x = &stats.items[i];
        if (find_alert(c, x->alert) || !named(ctx, x->alert))
            continue;
        rc = status_one(ctx, st, &j, first, x->alert, NULL, c ? 0 : -1, x);
        first = false;
        shown++;
    }
    mc_buf_puts(&j, "]}");
    if (!rc && ctx->json)
        cmd_print_json(&j);
    else if (!rc && !shown && ctx->n_args > 1) {
        fprintf(stderr, "metacrawl: no alert of that name in the configuration "
                        "or the queue\n");
        rc = MC_EXIT_USAGE;
    } else if (!rc && !shown)
        printf("no alerts configured and nothing queued\n");
    if (!rc && !c && !ctx->json && shown)
        printf("(no configuration read: configured and orphaned alerts cannot be "
               "told apart)\n");
    mc_buf_free(&j);
    mc_outbox_stats_free(&stats);
    return rc;
}

/* Named alerts must be configured; an orphan gets a hint. */
static int check_names(const cli_ctx *ctx, const cfg *c, store *st)
{
    for (int i = 1; i < ctx->n_args; i++) {
        if (find_alert(c, ctx->args[i]))
            continue;
        mc_error err = {0};
        int64_t n = 0;
        store_outbox_count_pending(st, ctx->args[i], &n, &err);
        fprintf(stderr, "metacrawl: alert '%s' is not in %s", ctx->args[i],
                c && c->path ? c->path : "the configuration");
        if (n)
            fprintf(stderr, " (it has %lld orphaned pending deliver%s; "
                    "'metacrawl alerts discard %s' drops them)", (long long)n,
                    n == 1 ? "y" : "ies", ctx->args[i]);
        fputc('\n', stderr);
        return MC_EXIT_USAGE;
    }
    return 0;
}

static int alerts_retry(const cli_ctx *ctx, const cfg *c, store *st)
{
    int rc = check_names(ctx, c, st);
    if (rc)
        return rc;
    alerts *a = alerts_open(c, st);
    alerts_deliver(a, (const char *const *)ctx->args + 1, (size_t)ctx->n_args - 1);
    if (ctx->json) {
        mc_buf j = {0};
        mc_buf_puts(&j, "{\"alerts\":");
        alerts_put_json(a, &j);
        mc_buf_putc(&j, '}');
        cmd_print_json(&j);
        mc_buf_free(&j);
    }
    rc = alerts_report(a, ctx->json ? NULL : stdout);
    if (!ctx->json && alerts_n_outcomes(a) == 0)
        printf("nothing pending\n");
    alerts_close(a);
    return rc;
}

static int alerts_discard(const cli_ctx *ctx, store *st)
{
    if (ctx->n_args < 2) {
        fprintf(stderr, "metacrawl: alerts discard needs the names of the alerts "
                        "whose pending deliveries to drop\n");
        return MC_EXIT_USAGE;
    }
    mc_buf j = {0};
    mc_buf_puts(&j, "{\"discarded\":{");
    for (int i = 1; i < ctx->n_args; i++) {
        mc_error err = {0};
        int64_t n = 0;
        if (store_outbox_discard(st, ctx->args[i], &n, &err) != 0) {
            report_error(&err);
            mc_buf_free(&j);
            return err.code;
        }
        bool first = i == 1;
        json_put_kv_int(&j, &first, ctx->args[i], n);
        if (!ctx->json)
            printf("%s: %lld pending deliver%s discarded\n", ctx->args[i], (long long)n,
                   n == 1 ? "y" : "ies");
    }
    mc_buf_puts(&j, "}}");
    if (ctx->json)
        cmd_print_json(&j);
    mc_buf_free(&j);
    return 0;
}

static int cmd_alerts(cli_ctx *ctx)
{
    const char *action = ctx->args[0];
    bool status = strcmp(action, "status") == 0;
    bool retry = strcmp(action, "retry") == 0;
    bool discard = strcmp(action, "discard") == 0;
    if (!status && !retry && !discard) {
        fprintf(stderr, "metacrawl: unknown alerts action '%s': use status, retry or "
                        "discard\nTry 'metacrawl alerts --help'.\n", action);
        return MC_EXIT_USAGE;
    }
    cfg *c = NULL;
    store *st = NULL;
    /* retry needs the alerts' sinks; status reads the configuration when
     * there is one (to tell orphans), discard needs only the store. */
    int rc = retry    ? cmd_load_config(ctx, false, &c)
             : status ? cmd_load_config(ctx, true, &c)
                      : cmd_load_config_for_reading(ctx, &c);
    if (rc || (rc = status ? cmd_open_store_read(ctx, c, &st)
                           : cmd_open_store(ctx, c, &st)) != 0)
        goto out;
    if (status)
        rc = alerts_status(ctx, c, st);
    else if (retry)
        rc = alerts_retry(ctx, c, st);
    else
        rc = alerts_discard(ctx, st);
out:
    store_close(st);
    cfg_free(c);
    return rc;
}

static const cli_opt alerts_opts[] = {
    {0},
};

const cli_cmd cmd_def_alerts = {"alerts", "status|retry|discard [ALERT...]",
     "show, retry or drop queued alert deliveries",
     "Every recorded change an alert's filters select is queued in the store, in "
     "the same transaction as the run, and delivered after the crawl; a delivery "
     "that fails stays queued with its error (docs/alerts.md).\n\n"
     "'alerts status' shows, per alert, what is pending since which run, how many "
     "attempts failed and the last error, and the first pending changes. Alerts "
     "that have queued deliveries but are no longer in the configuration are "
     "shown as orphaned.\n\n"
     "'alerts retry' delivers what is pending now, oldest first (the next crawl "
     "does the same); it exits 4 when a delivery failed (3 when the alert's "
     "configuration is at fault) and the deliveries stay queued.\n\n"
     "'alerts discard ALERT...' drops the pending deliveries of the named alerts, "
     "for instance of an orphaned alert. Name alerts to restrict status and "
     "retry to them.",
     alerts_opts, 1, -1, cmd_alerts};
