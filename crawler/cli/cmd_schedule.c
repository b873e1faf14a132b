/*
 * cmd_schedule.c — `metacrawl schedule list|next|run|crontab|systemd|
 * pause|resume`.  The decisions are the scheduling layer's (schedule.h);
 * this file turns them into terminal text or --json.  docs/scheduling.md is
 * the guide.
 */
#include "cmd_sched.h"
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct list_row {
    const sched_entry *e;
    sched_input in;
    sched_due due;
    bool first;
    bool crawling;
    crawl_lock_holder holder;
    mc_ds_state state;    /* pause and last success (rules 8, 9) */
    sched_stale stale;
} list_row;

static void list_state_text(const list_row *r, char *buf, size_t n)
{
    char u[21];
    if (r->crawling) {
        char who[192];
        crawl_lock_describe(&r->holder, who, sizeof who);
        snprintf(buf, n, "crawling now: %s", who);
    } else if (r->state.paused_at) {
        snprintf(buf, n, "paused since %s%s%s", cmd_utc_text(r->state.paused_at, u),
                 r->state.paused_by[0] ? " by " : "", r->state.paused_by);
    } else if (r->stale.stale) {
        sched_stale_text(r->e, &r->stale, buf, n);
        char tmp[320];
        snprintf(tmp, sizeof tmp, "stale: %s", buf);
        snprintf(buf, n, "%s", tmp);
    } else if (r->due.due) {
        snprintf(buf, n, "due: %lld%s fire%s since %s missed; run-due crawls it once",
                 (long long)r->due.n_fires, r->due.n_fires >= SCHED_COUNT_MAX ? "+" : "",
                 r->due.n_fires == 1 ? "" : "s", cmd_utc_text(r->due.first_missed, u));
    } else if (r->first) {
        snprintf(buf, n, "new: not run by the scheduler yet");
    } else if (r->in.last_fire) {
        snprintf(buf, n, "last fire %s", cmd_utc_text(r->in.last_fire, u));
    } else {
        snprintf(buf, n, "waiting for its first fire");
    }
}

static int schedule_list(cli_ctx *ctx, cfg *c, sched_table *t, const sched_entry **sel,
                         size_t n_sel, int64_t now)
{
    store *st = NULL;
    int rc = cmd_open_existing_store(ctx, c, &st);
    if (rc)
        return rc;
    const char *store_path = cmd_store_path(ctx, c);
    list_row *rows = mc_calloc(n_sel + 1, sizeof *rows);
    mc_error err = {0};
    for (size_t i = 0; i < n_sel; i++) {
        list_row *r = &rows[i];
        r->e = sel[i];
        r->due.next = CRON_NEVER;
        if (st && store_datastore_state(st, r->e->ds->name, &r->state, &err) != 0)
            goto fail;
        sched_judge_staleness(r->e, &r->state, now, &r->stale);
        if (!r->e->expr)
            continue;
        r->in = sched_entry_input(r->e, 0, 0);
        sched_history h = {0};
        if (st && sched_read_history(st, r->e->ds->name, &h, &err) != 0)
            goto fail;
        sched_input_history(&r->in, &h);
        if (sched_anchor(store_path, r->e->ds->name, r->e->expr, r->e->tz, r->in.last_fire, now,
                         false, &r->in.anchor, &r->first, &err) != 0)
            goto fail;
        sched_compute(&r->in, now, &r->due);
        r->crawling = crawl_lock_peek(store_path, r->e->ds->name, &r->holder);
    }
    if (ctx->json) {
        mc_buf b = {0};
        bool first = true;
        char nowiso[21];
        mc_time_iso(now, nowiso);
        mc_buf_putc(&b, '{');
        json_put_kv_str(&b, &first, "now", nowiso);
        first = json_put_key(&b, first, "datastores");
        mc_buf_putc(&b, '[');
        for (size_t i = 0; i < n_sel; i++) {
            const list_row *r = &rows[i];
            bool f = true;
            if (i)
                mc_buf_putc(&b, ',');
            mc_buf_putc(&b, '{');
            json_put_kv_str(&b, &f, "datastore", r->e->ds->name);
            json_put_kv_str(&b, &f, "schedule", r->e->expr ? cron_text(r->e->expr) : NULL);
            json_put_kv_str(&b, &f, "timezone", cron_tz_name(r->e->tz));
            json_put_kv_str(&b, &f, "job", !r->e->expr ? NULL
                                           : cron_is_wildcard(r->e->expr) ? "wildcard"
                                                                          : "fixed-time");
            cmd_json_time(&b, &f, "next", r->e->tz, r->e->expr ? r->due.next : CRON_NEVER);
            cmd_json_time(&b, &f, "last_fire", r->e->tz, r->in.last_fire);
            json_put_kv_bool(&b, &f, "due", r->due.due);
            cmd_json_time(&b, &f, "due_fire", r->e->tz, r->due.due ? r->due.fire : 0);
            json_put_kv_int(&b, &f, "fires_due", r->due.due ? r->due.n_fires : 0);
            json_put_kv_bool(&b, &f, "first_sight", r->first);
            cmd_json_time(&b, &f, "paused_since", r->e->tz, r->state.paused_at);
            json_put_kv_str(&b, &f, "paused_by",
                            r->state.paused_by[0] ? r->state.paused_by : NULL);
            if (r->stale.judged)
                json_put_kv_bool(&b, &f, "stale", r->stale.stale);
            else
                json_put_kv_raw(&b, &f, "stale", NULL);
            cmd_json_time(&b, &f, "last_success", r->e->tz, r->stale.last_success);
            if (r->crawling) {
                f = json_put_key(&b, f, "crawling");
                bool g = true;
                mc_buf_putc(&b, '{');
                json_put_kv_int(&b, &g, "pid", r->holder.pid);
                json_put_kv_str(&b, &g, "command", r->holder.command);
                json_put_kv_str(&b, &g, "host", r->holder.host);
                char since[21];
                mc_time_iso(r->holder.since, since);
                json_put_kv_str(&b, &g, "since", r->holder.since ? since : NULL);
                mc_buf_putc(&b, '}');
            } else {
                json_put_kv_raw(&b, &f, "crawling", NULL);
            }
            mc_buf_putc(&b, '}');
        }
        mc_buf_puts(&b, "]}");
        cmd_print_json(&b);
        mc_buf_free(&b);
        goto out;
    }
    /* columns sized to their contents */
    int w_name = 9, w_sched = 8, w_zone = 9, w_local = 17;
    for (size_t i = 0; i < n_sel; i++) {
        const list_row *r = &rows[i];
        int n = (int)strlen(r->e->ds->name);
        w_name = n > w_name ? n : w_name;
        if (!r->e->expr)
            continue;
        n = (int)strlen(cron_text(r->e->expr));
        w_sched = n > w_sched ? n : w_sched;
        n = (int)strlen(cron_tz_name(r->e->tz));
        w_zone = n > w_zone ? n : w_zone;
        char l[CRON_LOCAL_LEN];
        n = (int)strlen(cmd_local_text(r->e->tz, r->due.next, l, sizeof l));
        w_local = n > w_local ? n : w_local;
    }
    printf("%-*s  %-*s  %-*s  %-*s  %-20s  %s\n", w_name, "DATASTORE", w_sched, "SCHEDULE",
           w_zone, "TIME ZONE", w_local, "NEXT FIRE (LOCAL)", "NEXT FIRE (UTC)", "STATE");
    for (size_t i = 0; i < n_sel; i++) {
        const list_row *r = &rows[i];
        if (!r->e->expr) {
            char state[320] = "not scheduled";
            if (r->state.paused_at || r->stale.stale)
                list_state_text(r, state, sizeof state);
            printf("%-*s  %-*s  %-*s  %s\n", w_name, r->e->ds->name, w_sched, "-", w_zone, "-",
                   state);
            continue;
        }
        char l[CRON_LOCAL_LEN], u[21], state[320];
        list_state_text(r, state, sizeof state);
        printf("%-*s  %-*s  %-*s  %-*s  %-20s  %s\n", w_name, r->e->ds->name, w_sched,
               cron_text(r->e->expr), w_zone, cron_tz_name(r->e->tz), w_local,
               cmd_local_text(r->e->tz, r->due.next, l, sizeof l), cmd_utc_text(r->due.next, u), state);
    }
out:
    free(rows);
    store_close(st);
    (void)t;
    return 0;
fail:
    report_error(&err);
    free(rows);
    store_close(st);
    return err.code;
}

static int schedule_next(cli_ctx *ctx, const sched_entry **sel, size_t n_sel, int64_t now,
                         bool named)
{
    long count = cli_int(ctx, "count", 5);
    mc_buf b = {0};
    bool any = false;
    mc_buf_puts(&b, "{\"datastores\":[");
    for (size_t i = 0; i < n_sel; i++) {
        const sched_entry *e = sel[i];
        if (!e->expr) {
            if (named && !ctx->json)
                printf("%s: not scheduled\n", e->ds->name);
            if (!named)
                continue;
        }
        if (ctx->json) {
            bool f = true;
            if (any)
                mc_buf_putc(&b, ',');
            mc_buf_putc(&b, '{');
            json_put_kv_str(&b, &f, "datastore", e->ds->name);
            json_put_kv_str(&b, &f, "schedule", e->expr ? cron_text(e->expr) : NULL);
            json_put_kv_str(&b, &f, "timezone", cron_tz_name(e->tz));
            json_put_kv_str(&b, &f, "job", !e->expr ? NULL
                                           : cron_is_wildcard(e->expr) ? "wildcard"
                                                                       : "fixed-time");
            f = json_put_key(&b, f, "fires");
            mc_buf_putc(&b, '[');
        } else if (e->expr) {
            if (any)
                putchar('\n');
            printf("%s: %s (%s, %s job)\n", e->ds->name, cron_text(e->expr),
                   cron_tz_name(e->tz), cron_is_wildcard(e->expr) ? "wildcard" : "fixed-time");
        }
        any = true;
        int64_t *fires = mc_calloc((size_t)count + 1, sizeof *fires);
        long n_fires = 0;
        int width = 0;
        for (int64_t t = now; e->expr && n_fires < count; n_fires++) {
            t = cron_next(e->expr, e->tz, t);
            if (t == CRON_NEVER)
                break;
            fires[n_fires] = t;
            char l[CRON_LOCAL_LEN];
            int w = (int)strlen(cmd_local_text(e->tz, t, l, sizeof l));
            width = w > width ? w : width;
        }
        for (long k = 0; k < n_fires; k++) {
            int64_t t = fires[k];
            if (ctx->json) {
                bool f = true;
                if (k)
                    mc_buf_putc(&b, ',');
                char utc[21], local[40];
                mc_time_iso(t, utc);
                cmd_iso_local(e->tz, t, local);
                cron_local l;
                cron_tz_local(e->tz, t, &l);
                mc_buf_putc(&b, '{');
                json_put_kv_str(&b, &f, "utc", utc);
                json_put_kv_str(&b, &f, "local", local);
                json_put_kv_str(&b, &f, "zone", l.abbr[0] ? l.abbr : NULL);
                mc_buf_putc(&b, '}');
            } else {
                char l[CRON_LOCAL_LEN], u[21];
                printf("  %-*s  %s\n", width, cmd_local_text(e->tz, t, l, sizeof l),
                       cmd_utc_text(t, u));
            }
        }
        if (e->expr && n_fires < count && !ctx->json)
            printf("  %s\n", n_fires ? "(then never again within 400 years)"
                                    : "never (nothing fires within 400 years)");
        free(fires);
        if (ctx->json)
            mc_buf_puts(&b, "]}");
    }
    mc_buf_puts(&b, "]}");
    if (ctx->json)
        cmd_print_json(&b);
    else if (!any)
        printf("no datastore has a schedule\n");
    mc_buf_free(&b);
    return 0;
}

/* Absolute form of p (relative to cwd); the directory part resolved when it
 * exists, so symlinks and ".." do not end up in a unit. */
static char *absolute(const char *p, const char *cwd)
{
    char *joined = p[0] == '/' ? mc_strdup(p) : mc_asprintf("%s/%s", cwd, p);
    char *slash = strrchr(joined, '/');
    char resolved[PATH_MAX];
    if (slash && slash != joined) {
        *slash = '\0';
        if (realpath(joined, resolved)) {
            char *r = mc_asprintf("%s/%s", resolved, slash + 1);
            free(joined);
            return r;
        }
        *slash = '/';
    }
    return joined;
}

static char *dir_of(const char *abs)
{
    const char *slash = strrchr(abs, '/');
    if (!slash || slash == abs)
        return mc_strdup("/");
    return mc_strndup(abs, (size_t)(slash - abs));
}

typedef struct strset {
    char **items;
    size_t n;
} strset;

static void strset_add(strset *s, char *owned)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i], owned) == 0) {
            free(owned);
            return;
        }
    s->items = mc_realloc(s->items, (s->n + 1) * sizeof *s->items);
    s->items[s->n++] = owned;
}

static void strset_free(strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i]);
    free(s->items);
}

static void env_of(strset *s, const cfg_secret *sec)
{
    if (sec->kind == CFG_SECRET_ENV && sec->ref)
        strset_add(s, mc_strdup(sec->ref));
}

static void hop_needs(strset *env, strset *dirs, const cfg_hop *h, const char *cwd)
{
    env_of(env, &h->passphrase);
    env_of(env, &h->password);
    if (h->host_key_policy == CFG_HOST_KEY_ACCEPT_NEW && h->known_hosts) {
        char *a = absolute(h->known_hosts, cwd);
        strset_add(dirs, dir_of(a));
        free(a);
    }
}

static int schedule_install(cli_ctx *ctx, cfg *c, const char *sub)
{
    char cwd[PATH_MAX], exe[PATH_MAX], cfgpath[PATH_MAX];
    mc_error err = {0};
    if (!getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "metacrawl: cannot tell the current directory: %s\n", strerror(errno));
        return MC_EXIT_USAGE;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "metacrawl: cannot find my own binary (/proc/self/exe): %s\n",
                strerror(errno));
        return MC_EXIT_USAGE;
    }
    exe[n] = '\0';
    if (n > 10 && strcmp(exe + n - 10, " (deleted)") == 0) {
        exe[n - 10] = '\0';
        mc_log(MC_LOG_WARN, "the running binary was replaced or deleted; the lines below name "
                            "%s", exe);
    }
    if (!realpath(c->path, cfgpath))
        snprintf(cfgpath, sizeof cfgpath, "%s", c->path);
    strset env = {0}, dirs = {0};
    char *store_abs = absolute(cmd_store_path(ctx, c), cwd);
    strset_add(&dirs, dir_of(store_abs));
    for (size_t i = 0; i < c->n_alerts; i++)
        if (c->alerts[i].file) {
            char *a = absolute(c->alerts[i].file, cwd);
            strset_add(&dirs, dir_of(a));
            free(a);
        }
    for (size_t i = 0; i < c->n_datastores; i++) {
        const cfg_datastore *d = &c->datastores[i];
        env_of(&env, &d->password);
        env_of(&env, &d->admin.password);
        if (d->tunnel.present) {
            hop_needs(&env, &dirs, &d->tunnel.first, cwd);
            for (size_t k = 0; k < d->tunnel.n_jump; k++)
                hop_needs(&env, &dirs, &d->tunnel.jump[k], cwd);
        }
    }
    const char *user = NULL;
    struct passwd *pw = geteuid() != 0 ? getpwuid(geteuid()) : NULL;
    if (pw)
        user = pw->pw_name;
    char *store_override = ctx->store_path ? absolute(ctx->store_path, cwd) : NULL;
    sched_install in = {
        .binary = exe,
        .config = cfgpath,
        .store_override = store_override,
        .workdir = cwd,
        .path_env = getenv("PATH"),
        .user = user,
        .write_dirs = (const char *const *)dirs.items,
        .n_write_dirs = dirs.n,
        .env_names = (const char *const *)env.items,
        .n_env_names = env.n,
        .stop_timeout_s = c->sched_shutdown_timeout_s,
    };
    int rc = 0;
    mc_buf j = {0};
    bool first = true;
    mc_buf_putc(&j, '{');
    if (strcmp(sub, "crontab") == 0) {
        mc_buf b = {0};
        if (sched_crontab_text(&b, &in, &err) != 0)
            goto fail;
        if (ctx->json)
            json_put_kv_str(&j, &first, "crontab", mc_buf_str(&b));
        else
            fputs(mc_buf_str(&b), stdout);
        mc_buf_free(&b);
    } else {
        bool as_daemon = cli_flag(ctx, "scheduler");
        mc_buf svc = {0}, tim = {0};
        if (sched_systemd_service(&svc, &in, as_daemon, &err) != 0)
            goto fail;
        if (!as_daemon)
            sched_systemd_timer(&tim, &in);
        if (ctx->json) {
            first = json_put_key(&j, first, "units");
            mc_buf_putc(&j, '[');
            bool f = true;
            char *name = mc_asprintf("%s.service", as_daemon ? SCHED_UNIT_DAEMON
                                                          : SCHED_UNIT_RUN_DUE);
            mc_buf_putc(&j, '{');
            json_put_kv_str(&j, &f, "name", name);
            json_put_kv_str(&j, &f, "text", mc_buf_str(&svc));
            mc_buf_putc(&j, '}');
            free(name);
            if (!as_daemon) {
                f = true;
                mc_buf_puts(&j, ",{");
                json_put_kv_str(&j, &f, "name", SCHED_UNIT_RUN_DUE ".timer");
                json_put_kv_str(&j, &f, "text", mc_buf_str(&tim));
                mc_buf_putc(&j, '}');
            }
            mc_buf_putc(&j, ']');
        } else {
            fputs(mc_buf_str(&svc), stdout);
            if (!as_daemon) {
                fputc('\n', stdout);
                fputs(mc_buf_str(&tim), stdout);
            }
        }
        mc_buf_free(&svc);
        mc_buf_free(&tim);
    }
    mc_buf_putc(&j, '}');
    if (ctx->json)
        cmd_print_json(&j);
    goto out;
fail:
    report_error(&err);
    rc = err.code;
out:
    mc_buf_free(&j);
    free(store_override);
    free(store_abs);
    strset_free(&env);
    strset_free(&dirs);
    return rc;
}

static const cli_opt schedule_opts[] = {
    {"count", 'n', "N", "next: how many fire times to show (default 5)",
     CLI_INT_RANGE(1, 1000)},
    {"now", 0, "TIME",
     "list, next: as if it were TIME (2026-03-29T01:00:00Z, an offset instead of Z, or @UNIX)",
     CLI_IS_TEXT},
    {"scheduler", 0, NULL, "systemd: a service that runs 'schedule run' instead of run-due's "
                           "service and timer", CLI_IS_FLAG},
    {0},
};

/* Which options each sub-command takes. */
static bool opt_allowed(const char *sub, const char *opt)
{
    if (strcmp(opt, "count") == 0)
        return strcmp(sub, "next") == 0;
    if (strcmp(opt, "now") == 0)
        return strcmp(sub, "list") == 0 || strcmp(sub, "next") == 0;
    if (strcmp(opt, "scheduler") == 0)
        return strcmp(sub, "systemd") == 0;
    return false;
}

/* schedule pause|resume DS...: rule 9, recorded in the store. */
static int schedule_pause(cli_ctx *ctx, cfg *c, const sched_entry **sel, size_t n_sel,
                          bool pause)
{
    store *st = NULL;
    int rc = cmd_open_store(ctx, c, &st);
    if (rc)
        return rc;
    char by[128], host[64] = "";
    struct passwd *pw = getpwuid(geteuid());
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    snprintf(by, sizeof by, "%s@%s", pw ? pw->pw_name : "?", host[0] ? host : "localhost");
    mc_buf b = {0};
    bool first = true;
    mc_buf_puts(&b, "{\"datastores\":[");
    for (size_t i = 0; i < n_sel; i++) {
        const char *name = sel[i]->ds->name;
        mc_error err = {0};
        bool changed = false;
        if (store_set_paused(st, name, pause, by, &changed, &err) != 0) {
            report_error(&err);
            rc = err.code;
            break;
        }
        if (ctx->json) {
            bool f = true;
            if (!first)
                mc_buf_putc(&b, ',');
            first = false;
            mc_buf_putc(&b, '{');
            json_put_kv_str(&b, &f, "datastore", name);
            json_put_kv_bool(&b, &f, "paused", pause);
            json_put_kv_bool(&b, &f, "changed", changed);
            mc_buf_putc(&b, '}');
        } else if (ctx->verbosity >= 0) {
            printf("%s: %s\n", name,
                   pause ? (changed ? "paused: run-due and the scheduler skip it until "
                                      "'schedule resume'" : "already paused")
                         : (changed ? "resumed" : "was not paused"));
        }
    }
    mc_buf_puts(&b, "]}");
    if (ctx->json && rc == 0)
        cmd_print_json(&b);
    mc_buf_free(&b);
    store_close(st);
    return rc;
}

static int cmd_schedule(cli_ctx *ctx)
{
    static const char *const subs[] = {"list", "next", "run", "crontab", "systemd", "pause",
                                       "resume"};
    const char *sub = ctx->args[0];
    bool known = false;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        known = known || strcmp(sub, subs[i]) == 0;
    if (!known) {
        fprintf(stderr, "metacrawl: schedule: unknown sub-command '%s' (list, next, run, "
                        "crontab, systemd, pause or resume)\nTry 'metacrawl schedule "
                        "--help'.\n", sub);
        return MC_EXIT_USAGE;
    }
    for (int i = 0; schedule_opts[i].lng; i++)
        if (ctx->flags[i] && !opt_allowed(sub, schedule_opts[i].lng)) {
            fprintf(stderr, "metacrawl: schedule %s does not take --%s\nTry 'metacrawl schedule "
                            "--help'.\n", sub, schedule_opts[i].lng);
            return MC_EXIT_USAGE;
        }
    bool pausing = strcmp(sub, "pause") == 0 || strcmp(sub, "resume") == 0;
    bool takes_ds = strcmp(sub, "list") == 0 || strcmp(sub, "next") == 0 || pausing;
    if (pausing && ctx->n_args < 2) {
        fprintf(stderr, "metacrawl: schedule %s needs the datastores to %s\n", sub, sub);
        return MC_EXIT_USAGE;
    }
    if (!takes_ds && ctx->n_args > 1) {
        fprintf(stderr, "metacrawl: schedule %s takes no arguments\n", sub);
        return MC_EXIT_USAGE;
    }
    if (strcmp(sub, "run") == 0 && ctx->json) {
        fprintf(stderr, "metacrawl: schedule run has no --json output: it logs to stderr\n");
        return MC_EXIT_USAGE;
    }
    int64_t now;
    int rc = cmd_parse_now(ctx, &now);
    if (rc)
        return rc;
    cfg *c = NULL;
    sched_table *t = NULL;
    const sched_entry **sel = NULL;
    size_t n_sel = 0;
    if (strcmp(sub, "run") == 0) {
        if ((rc = cmd_load_config(ctx, false, &c)) != 0)
            return rc;
        return sched_daemon(c, ctx->store_path); /* takes c */
    }
    if ((rc = cmd_load_table(ctx, &c, &t)) != 0)
        goto out;
    if (strcmp(sub, "crontab") == 0 || strcmp(sub, "systemd") == 0) {
        rc = schedule_install(ctx, c, sub);
        goto out;
    }
    if ((rc = cmd_select_entries(c, t, ctx->args + 1, ctx->n_args - 1, &sel, &n_sel)) != 0)
        goto out;
    if (pausing)
        rc = schedule_pause(ctx, c, sel, n_sel, strcmp(sub, "pause") == 0);
    else if (strcmp(sub, "list") == 0)
        rc = schedule_list(ctx, c, t, sel, n_sel, now);
    else
        rc = schedule_next(ctx, sel, n_sel, now, ctx->n_args > 1);
out:
    free(sel);
    sched_table_free(t);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_schedule = {
    "schedule", "list|next|run|crontab|systemd|pause|resume [DS...]",
    "schedules and next fire times; the scheduler; crontab and systemd units",
    "list: each datastore's schedule, time zone, next fire time in local time and UTC, and "
    "whether it is due (a fire missed since its last scheduled run), new, or crawling now."
    "\n\nnext [DS...]: the next --count fire times (default 5) of each scheduled datastore, in "
    "its local time and UTC; --now shows them from another instant, e.g. across a DST change."
    "\n\nrun: the scheduler. Crawls each datastore when its schedule says so, at most "
    "scheduler.max_parallel at a time and never two crawls of one datastore (the crawl lock "
    "that crawl and run-due take too); catches up once after downtime; rereads the "
    "configuration on SIGHUP (a bad one is logged and the running one kept); on SIGTERM or "
    "SIGINT starts nothing new and lets running crawls finish within "
    "scheduler.shutdown_timeout, then exits 0, or 7 when it had to abandon some. Logs on "
    "stderr, with journald priorities when stderr is the journal."
    "\n\ncrontab: a crontab entry that runs 'metacrawl run-due' every minute with this "
    "configuration. systemd: a oneshot service and a timer for the same, or with --scheduler "
    "a service for 'schedule run'. The paths in them are absolute: the binary, the "
    "configuration and the current directory. docs/scheduling.md compares the three ways."
    "\n\npause DS...: run-due and the scheduler skip the datastores until 'schedule resume "
    "DS...'; recorded in the store with who paused them, so every machine and process "
    "sharing the store sees it. A paused datastore is not judged stale; 'crawl' still crawls "
    "it. After resume, a missed fire is caught up once, as after downtime.",
    schedule_opts, 1, -1, cmd_schedule,
};
