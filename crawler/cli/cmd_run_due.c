/*
 * cmd_run_due.c — `metacrawl run-due`: one round of what is due (rules 1-9
 * of schedule.h), the crawls started in parallel, staleness judged and
 * recorded, and the round reported as text or --json.
 */
#include "cmd_sched.h"
#include "alerts.h"
#include "json.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_opt run_due_opts[] = {
    {"dry-run", 'n', NULL, "say what is due; crawl nothing and write nothing", CLI_IS_FLAG},
    {"now", 0, "TIME",
     "decide as if it were TIME (2026-03-29T01:00:00Z, an offset instead of Z, or @UNIX); "
     "not later than the clock unless with --dry-run", CLI_IS_TEXT},
    {0},
};

typedef enum due_action {
    DUE_UNSCHEDULED = 0,
    DUE_NOT_DUE,
    DUE_WOULD_CRAWL,
    DUE_LOCKED,
    DUE_CRAWLED,
    DUE_ERROR,
    DUE_PAUSED,
} due_action;

static const char *const due_action_names[] = {"unscheduled", "not_due", "would_crawl",
                                               "locked", "crawled", "error", "paused"};

typedef struct due_item {
    const sched_entry *e;
    sched_input in;
    sched_due due;
    bool first;
    due_action action;
    crawl_lock_holder holder;
    sched_job *job;       /* reaped */
    mc_error error;
    bool started;         /* start_due was called for it */
    bool running;         /* its crawl runs now */
    mc_ds_state state;    /* what the store says of it (pause, last success) */
    sched_stale stale;    /* rule 8, judged after the crawls */
    int stale_event;      /* MC_DATASTORE_STALE / _RECOVERED recorded now; -1 */
} due_item;

/* Whether scheduler.max_per_host crawls of its warehouse run already. */
static bool host_busy(const cfg *c, const due_item *items, size_t n, const due_item *it)
{
    if (c->sched_max_per_host <= 0)
        return false;
    int on_host = 0;
    for (size_t i = 0; i < n; i++)
        on_host += items[i].running && sched_same_host(items[i].e->ds, it->e->ds);
    return on_host >= c->sched_max_per_host;
}

static void json_due_item(mc_buf *b, const due_item *it)
{
    const sched_entry *e = it->e;
    bool f = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &f, "datastore", e->ds->name);
    json_put_kv_str(b, &f, "action", due_action_names[it->action]);
    json_put_kv_str(b, &f, "schedule", e->expr ? cron_text(e->expr) : NULL);
    json_put_kv_str(b, &f, "timezone", cron_tz_name(e->tz));
    json_put_kv_bool(b, &f, "first_sight", it->first);
    cmd_json_time(b, &f, "last_fire", e->tz, it->in.last_fire);
    bool has_fire = it->due.due && it->action != DUE_NOT_DUE;
    cmd_json_time(b, &f, "fire", e->tz, has_fire ? it->due.fire : 0);
    json_put_kv_int(b, &f, "fires", has_fire ? it->due.n_fires : 0);
    cmd_json_time(b, &f, "first_missed", e->tz, has_fire && it->due.n_fires > 1
                                                ? it->due.first_missed : 0);
    cmd_json_time(b, &f, "next", e->tz, e->expr ? it->due.next : CRON_NEVER);
    cmd_json_time(b, &f, "skipped", e->tz, it->action == DUE_NOT_DUE ? it->due.skipped : 0);
    json_put_kv_int(b, &f, "jitter_delay", e->delay);
    json_put_kv_int(b, &f, "retry", it->action != DUE_NOT_DUE ? it->due.retry : 0);
    json_put_kv_bool(b, &f, "paused", it->state.paused_at != 0);
    if (it->stale.judged)
        json_put_kv_bool(b, &f, "stale", it->stale.stale);
    else
        json_put_kv_raw(b, &f, "stale", NULL);
    cmd_json_time(b, &f, "last_success", e->tz, it->stale.last_success);
    json_put_kv_str(b, &f, "stale_event",
                    it->stale_event >= 0 ? mc_change_kind_name((mc_change_kind)it->stale_event)
                                         : NULL);
    if (it->action == DUE_LOCKED) {
        f = json_put_key(b, f, "locked_by");
        bool g = true;
        char since[21];
        mc_time_iso(it->holder.since, since);
        mc_buf_putc(b, '{');
        if (it->holder.pid)
            json_put_kv_int(b, &g, "pid", it->holder.pid);
        else
            json_put_kv_raw(b, &g, "pid", NULL);
        json_put_kv_str(b, &g, "command", it->holder.command[0] ? it->holder.command : NULL);
        json_put_kv_str(b, &g, "host", it->holder.host[0] ? it->holder.host : NULL);
        json_put_kv_str(b, &g, "since", it->holder.since ? since : NULL);
        mc_buf_putc(b, '}');
    } else {
        json_put_kv_raw(b, &f, "locked_by", NULL);
    }
    if (it->job) {
        f = json_put_key(b, f, "crawl");
        report_json_crawl(b, &it->job->report);
        json_put_kv_raw(b, &f, "alerts",
                        it->job->alerts_json.len ? mc_buf_str(&it->job->alerts_json) : "[]");
    } else {
        json_put_kv_raw(b, &f, "crawl", NULL);
        json_put_kv_raw(b, &f, "alerts", NULL);
    }
    if (it->error.code) {
        f = json_put_key(b, f, "error");
        bool g = true;
        mc_buf_putc(b, '{');
        json_put_kv_int(b, &g, "code", it->error.code);
        json_put_kv_str(b, &g, "message", it->error.message);
        json_put_kv_str(b, &g, "hint", it->error.hint[0] ? it->error.hint : NULL);
        mc_buf_putc(b, '}');
    } else {
        json_put_kv_raw(b, &f, "error", NULL);
    }
    mc_buf_putc(b, '}');
}

/* Text for one datastore, as soon as its outcome is known. */
static void print_due_item(const cli_ctx *ctx, const due_item *it)
{
    if (ctx->json)
        return;
    const sched_entry *e = it->e;
    const char *name = e->ds->name;
    char l[CRON_LOCAL_LEN], l2[CRON_LOCAL_LEN], u[21], u2[21];
    bool verbose = ctx->verbosity > 0, quiet = ctx->verbosity < 0;
    switch (it->action) {
    case DUE_UNSCHEDULED:
        if (verbose)
            printf("%s: not scheduled\n", name);
        return;
    case DUE_NOT_DUE:
        if (it->due.skipped && !quiet)
            printf("%s: fire %s [%s] given up: later than starting_deadline (%llds); next "
                   "fire %s [%s]\n", name, cmd_local_text(e->tz, it->due.skipped, l2, sizeof l2),
                   cmd_utc_text(it->due.skipped, u), (long long)it->in.starting_deadline,
                   cmd_local_text(e->tz, it->due.next, l, sizeof l),
                   cmd_utc_text(it->due.next, u2));
        else if (it->first && !quiet)
            printf("%s: new schedule %s (%s): first fire %s [%s]\n", name, cron_text(e->expr),
                   cron_tz_name(e->tz), cmd_local_text(e->tz, it->due.next, l, sizeof l),
                   cmd_utc_text(it->due.next, u));
        else if (verbose)
            printf("%s: not due; next fire %s [%s]\n", name,
                   cmd_local_text(e->tz, it->due.next, l, sizeof l), cmd_utc_text(it->due.next, u));
        return;
    case DUE_ERROR:
        report_error(&it->error);
        return;
    case DUE_PAUSED:
        if (verbose) {
            char since[21];
            printf("%s: paused since %s%s%s: not crawled\n", name,
                   cmd_utc_text(it->state.paused_at, since), it->state.paused_by[0] ? " by " : "",
                   it->state.paused_by);
        }
        return;
    case DUE_LOCKED: {
        if (quiet)
            return;
        char who[192];
        crawl_lock_describe(&it->holder, who, sizeof who);
        printf("%s: locked by %s: not crawled\n", name, who);
        return;
    }
    case DUE_WOULD_CRAWL:
    case DUE_CRAWLED:
        break;
    }
    const crawl_report *r = it->job ? &it->job->report : NULL;
    if (r && r->error.code)
        report_error(&r->error);
    if (quiet)
        return;
    printf("%s: %s %s [%s]", name, it->action == DUE_CRAWLED ? "crawled for" : "due for",
           cmd_local_text(e->tz, it->due.fire, l, sizeof l), cmd_utc_text(it->due.fire, u));
    if (it->due.retry)
        printf(" (retry %lld of %lld)", (long long)it->due.retry,
               (long long)it->in.retry_attempts);
    if (!r) {
        printf(" (dry run: not crawled)\n");
    } else if (r->status == MC_RUN_FAILED) {
        printf(": failed after %.1fs\n", r->seconds);
    } else {
        printf(": run %lld %s in %.1fs: %lld %s, %lld %s, %lld %s\n",
               (long long)r->run_id, mc_run_status_name(r->status), r->seconds,
               (long long)r->n_schemas, report_plural(r->n_schemas, "schema", "schemas"),
               (long long)r->n_containers,
               report_plural(r->n_containers, "container", "containers"),
               (long long)r->n_fields, report_plural(r->n_fields, "field", "fields"));
    }
    if (it->due.n_fires > 1)
        printf("  %s%lld fires since %s were due: caught up with one crawl\n",
               it->due.n_fires >= SCHED_COUNT_MAX ? "over " : "", (long long)it->due.n_fires,
               cmd_local_text(e->tz, it->due.first_missed, l2, sizeof l2));
    if (!r || r->status == MC_RUN_FAILED)
        return;
    report_print_crawl_changes(r);
}

/* Takes the lock of item it and starts its crawl; decides LOCKED, or
 * NOT_DUE when the store shows that another process has just done it. */
static void start_due(const cli_ctx *ctx, const cfg *c, store *st, const char *store_path,
                      sched_runner *runner, due_item *it, int64_t now)
{
    crawl_lock *lk = NULL;
    const char *name = it->e->ds->name;
    if (crawl_lock_try(store_path, name, "run-due", &lk, &it->holder, &it->error) != 0) {
        it->action = DUE_ERROR;
        print_due_item(ctx, it);
        return;
    }
    if (!lk) {
        it->action = DUE_LOCKED;
        print_due_item(ctx, it);
        return;
    }
    /* Under the lock, the store again: a run-due that held the lock a
     * moment ago may have recorded this very fire. */
    sched_history h;
    if (sched_read_history(st, name, &h, &it->error) != 0) {
        it->action = DUE_ERROR;
        crawl_lock_release(lk);
        print_due_item(ctx, it);
        return;
    }
    if (h.last_fire > it->in.last_fire ||
        (h.last_fire == it->in.last_fire && h.n_failed != it->in.n_failed)) {
        sched_input_history(&it->in, &h);
        sched_compute(&it->in, now, &it->due);
        if (!it->due.due) {
            it->action = DUE_NOT_DUE;
            crawl_lock_release(lk);
            if (ctx->verbosity > 0 && !ctx->json)
                printf("%s: already crawled for this fire by another process\n", name);
            return;
        }
    }
    sched_job *j = sched_job_new(c, it->e->ds, store_path, it->due.fire, lk);
    j->user = it;
    it->running = true;
    if (sched_runner_start(runner, j, &it->error) != 0) {
        it->running = false;
        sched_job_free(j);
        it->action = DUE_ERROR;
        print_due_item(ctx, it);
        return;
    }
    it->action = DUE_CRAWLED;
}

/* Rule 8 after the crawls: judges every selected datastore, records what
 * changed (not with dry), tells it and delivers its alerts.  Returns the
 * highest failed delivery's code, 0. */
static int judge_staleness(const cli_ctx *ctx, const cfg *c, store *st, due_item *items,
                           size_t n, int64_t now, bool dry)
{
    alerts *al = dry ? NULL : alerts_open(c, st);
    size_t n_events = 0;
    for (size_t i = 0; i < n; i++) {
        due_item *it = &items[i];
        it->stale_event = -1;
        if (it->action == DUE_ERROR)
            continue;
        mc_error err = {0};
        int rc;
        if (dry) {
            rc = store_datastore_state(st, it->e->ds->name, &it->state, &err);
            if (rc == 0)
                sched_judge_staleness(it->e, &it->state, now, &it->stale);
        } else {
            rc = sched_check_staleness(st, it->e, now, &it->stale, &it->state,
                                       &it->stale_event, &err);
        }
        if (rc != 0) {
            mc_log(MC_LOG_WARN, "%s: cannot judge staleness: %s", it->e->ds->name, err.message);
            continue;
        }
        if (it->stale_event < 0)
            continue;
        n_events++;
        if (ctx->json)
            continue;
        char why[160];
        sched_stale_text(it->e, &it->stale, why, sizeof why);
        if (it->stale_event == MC_DATASTORE_STALE) {
            /* a warning even with -q: cron mails it, once */
            fprintf(stderr, "metacrawl: warning: %s is stale: %s\n", it->e->ds->name, why);
        } else if (ctx->verbosity >= 0) {
            char when[21];
            printf("%s: recovered: crawled successfully at %s\n", it->e->ds->name,
                   cmd_utc_text(it->stale.last_success, when));
        }
    }
    int code = 0;
    if (al && n_events) { /* the crawls delivered theirs: only the new events are left */
        alerts_deliver(al, NULL, 0);
        code = alerts_report(al, ctx->verbosity > 0 && !ctx->json ? stdout : NULL);
    }
    alerts_close(al);
    return code;
}

static int cmd_run_due(cli_ctx *ctx)
{
    bool dry = cli_flag(ctx, "dry-run");
    int64_t now;
    int rc = cmd_parse_now(ctx, &now);
    if (rc)
        return rc;
    int64_t real = mc_time_now();
    if (!dry && now > real + 60) {
        char a[21], b[21];
        fprintf(stderr, "metacrawl: --now %s is later than the clock (%s): a run recorded for "
                        "a future fire would hold the schedule back until then; use it with "
                        "--dry-run\n", cmd_utc_text(now, a), cmd_utc_text(real, b));
        return MC_EXIT_USAGE;
    }
    cfg *c = NULL;
    sched_table *t = NULL;
    store *st = NULL;
    sched_runner *runner = NULL;
    const sched_entry **sel = NULL;
    due_item *items = NULL;
    size_t n_sel = 0;
    if ((rc = cmd_load_table(ctx, &c, &t)) != 0 ||
        (rc = cmd_select_entries(c, t, ctx->args, ctx->n_args, &sel, &n_sel)) != 0)
        goto out;
    const char *store_path = cmd_store_path(ctx, c);
    if (dry)
        rc = cmd_open_existing_store(ctx, c, &st);
    else
        rc = cmd_open_store(ctx, c, &st);
    if (rc)
        goto out;
    items = mc_calloc(n_sel + 1, sizeof *items);
    size_t n_due = 0;
    for (size_t i = 0; i < n_sel; i++) {
        due_item *it = &items[i];
        it->e = sel[i];
        it->due.next = CRON_NEVER;
        const char *name = it->e->ds->name;
        if (!it->e->expr) {
            it->action = DUE_UNSCHEDULED;
            /* forget a former schedule (sched_anchor) */
            if (!dry && sched_anchor(store_path, name, NULL, NULL, 0, now, true, &it->in.anchor,
                                     NULL, &it->error) != 0)
                it->action = DUE_ERROR;
            print_due_item(ctx, it);
            continue;
        }
        it->in = sched_entry_input(it->e, 0, 0);
        if (st && store_datastore_state(st, name, &it->state, &it->error) != 0) {
            it->action = DUE_ERROR;
            print_due_item(ctx, it);
            continue;
        }
        if (it->state.paused_at) { /* rule 9 */
            it->action = DUE_PAUSED;
            print_due_item(ctx, it);
            continue;
        }
        sched_history h = {0};
        int hrc = st ? sched_read_history(st, name, &h, &it->error) : 0;
        sched_input_history(&it->in, &h);
        if (hrc != 0 ||
            sched_anchor(store_path, name, it->e->expr, it->e->tz, it->in.last_fire, now, !dry,
                         &it->in.anchor, &it->first, &it->error) != 0) {
            it->action = DUE_ERROR;
            print_due_item(ctx, it);
            continue;
        }
        sched_compute(&it->in, now, &it->due);
        if (!it->due.due) {
            it->action = DUE_NOT_DUE;
            print_due_item(ctx, it);
            continue;
        }
        it->action = DUE_WOULD_CRAWL;
        n_due++;
        if (dry)
            print_due_item(ctx, it);
    }
    if (!dry && n_due) {
        runner = sched_runner_new();
        if (!runner) {
            fprintf(stderr, "metacrawl: cannot create a pipe: %s\n", strerror(errno));
            rc = MC_EXIT_STORE;
            goto out;
        }
        size_t max = c->sched_max_parallel > 0 ? (size_t)c->sched_max_parallel : 1;
        size_t n_left = 0;
        for (size_t i = 0; i < n_sel; i++)
            n_left += items[i].action == DUE_WOULD_CRAWL;
        for (;;) {
            /* in order, as far as max_parallel and max_per_host allow; an
             * item whose host is busy waits for one of its crawls to end */
            for (size_t i = 0; i < n_sel && sched_runner_active(runner) < max; i++) {
                due_item *it = &items[i];
                if (it->action != DUE_WOULD_CRAWL || it->started)
                    continue;
                if (host_busy(c, items, n_sel, it))
                    continue;
                it->started = true;
                n_left--;
                start_due(ctx, c, st, store_path, runner, it, now);
            }
            if (sched_runner_active(runner) == 0 && n_left == 0)
                break;
            struct pollfd pfd = {.fd = sched_runner_fd(runner), .events = POLLIN};
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
                fprintf(stderr, "metacrawl: poll: %s\n", strerror(errno));
                break; /* cannot happen with one valid descriptor */
            }
            sched_job *j;
            while ((j = sched_runner_reap(runner)) != NULL) {
                due_item *it = j->user;
                it->job = j;
                it->running = false;
                for (size_t w = 0; w < j->report.n_warnings; w++)
                    mc_log(MC_LOG_WARN, "%s: %s", it->e->ds->name, j->report.warnings[w]);
                print_due_item(ctx, it);
            }
        }
    }
    if (st)
        rc = report_max_code(rc, judge_staleness(ctx, c, st, items, n_sel, now, dry));
    for (size_t i = 0; i < n_sel; i++) {
        if (items[i].job)
            rc = report_max_code(rc, items[i].job->report.exit_code);
        if (items[i].action == DUE_ERROR)
            rc = report_max_code(rc, items[i].error.code ? items[i].error.code : MC_EXIT_STORE);
    }
    if (ctx->json) {
        mc_buf b = {0};
        bool first = true;
        char nowiso[21];
        mc_buf_putc(&b, '{');
        json_put_kv_str(&b, &first, "now", cmd_utc_text(now, nowiso));
        json_put_kv_bool(&b, &first, "dry_run", dry);
        first = json_put_key(&b, first, "datastores");
        mc_buf_putc(&b, '[');
        for (size_t i = 0; i < n_sel; i++) {
            if (i)
                mc_buf_putc(&b, ',');
            json_due_item(&b, &items[i]);
        }
        mc_buf_putc(&b, ']');
        json_put_kv_int(&b, &first, "exit_code", rc);
        mc_buf_putc(&b, '}');
        cmd_print_json(&b);
        mc_buf_free(&b);
    }
out:
    for (size_t i = 0; items && i < n_sel; i++)
        sched_job_free(items[i].job);
    free(items);
    sched_runner_free(runner);
    free(sel);
    store_close(st);
    sched_table_free(t);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_run_due = {
    "run-due", "[DS...]",
    "crawl the datastores that are due, once (cron or a timer, every minute)",
    "Crawls every datastore (or the named ones) whose schedule has a fire between its last "
    "scheduled run and now, once, recorded with that fire's time; meant to be started every "
    "minute by cron or a systemd timer ('metacrawl schedule crontab' and 'schedule systemd' "
    "print them). After downtime a datastore is crawled once, not once per missed fire. A "
    "datastore seen for the first time, or whose schedule or time zone changed, starts at the "
    "current minute: nothing before it is caught up.\n\nA datastore that another crawl, run-due "
    "or scheduler is crawling is skipped with 'locked' (not an error); a fire it leaves "
    "undone is caught up by a later run-due. Due datastores are crawled in parallel, at most "
    "scheduler.max_parallel at a time. Exit code: the highest of the crawls'; 0 when nothing "
    "was due. Without -v only what happened is printed; -q prints errors only.",
    run_due_opts, 0, -1, cmd_run_due,
};
