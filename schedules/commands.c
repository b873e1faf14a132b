/*
 * commands.c (schedules/) — the commands `schedule list|next|run|crontab|
 * systemd` and `run-due`, and the text of the crontab lines and systemd
 * units they print.  The decisions are scheduler.c's (schedule.h); this file
 * turns them into terminal text or --json.  docs/scheduling.md is the guide.
 */
#include "schedule.h"

#include "../crawler/commands.h"
#include "json.h"
#include "../crawler/alerts.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------------------- */

/* "2026-03-29T03:00:00+02:00" */
static void iso_local(const cron_tz *tz, int64_t t, char buf[40])
{
    cron_local l;
    cron_tz_local(tz, t, &l);
    int off = l.utoff < 0 ? -l.utoff : l.utoff;
    snprintf(buf, 40, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", l.year, l.month, l.day,
             l.hour, l.minute, l.second, l.utoff < 0 ? '-' : '+', off / 3600 % 100,
             off / 60 % 60);
}

/* {"utc":..., "local":..., "zone":...} or null */
static void json_time(mc_buf *b, bool *first, const char *key, const cron_tz *tz, int64_t t)
{
    if (t == CRON_NEVER || t == 0 || !tz) {
        json_put_kv_raw(b, first, key, NULL);
        return;
    }
    *first = json_put_key(b, *first, key);
    char utc[21], local[40];
    mc_time_iso(t, utc);
    iso_local(tz, t, local);
    cron_local l;
    cron_tz_local(tz, t, &l);
    bool f = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &f, "utc", utc);
    json_put_kv_str(b, &f, "local", local);
    json_put_kv_str(b, &f, "zone", l.abbr[0] ? l.abbr : NULL);
    mc_buf_putc(b, '}');
}

/* "2026-03-29 03:00:00 CEST (+02:00)" */
static const char *local_text(const cron_tz *tz, int64_t t, char *buf, size_t n)
{
    if (t == CRON_NEVER)
        snprintf(buf, n, "never");
    else
        cron_format_local(tz, t, buf, n);
    return buf;
}

static const char *utc_text(int64_t t, char buf[21])
{
    if (t == CRON_NEVER)
        snprintf(buf, 21, "never");
    else
        mc_time_iso(t, buf);
    return buf;
}

static int parse_now(const cli_ctx *ctx, int64_t *now)
{
    const char *v = cli_value(ctx, "now");
    *now = mc_time_now();
    if (!v)
        return 0;
    if (sched_parse_time(v, now) != 0) {
        fprintf(stderr, "metacrawl: --now '%s': write a UTC time such as "
                        "2026-03-29T01:00:00Z, a time with an offset such as "
                        "2026-03-29T03:00+02:00, or @UNIXSECONDS\n", v);
        return MC_EXIT_USAGE;
    }
    return 0;
}

static int load_table(const cli_ctx *ctx, cfg **c, sched_table **t)
{
    *t = NULL;
    int rc = cmd_load_config(ctx, false, c);
    if (rc)
        return rc;
    mc_error err = {0};
    if (sched_table_build(*c, t, &err) != 0) {
        cmd_report_error(&err);
        return err.code;
    }
    return 0;
}

/* The entries of the datastores named in args (all when none), or exit 2. */
static int select_entries(const cfg *c, const sched_table *t, char **args, int n_args,
                          const sched_entry ***out, size_t *n_out)
{
    size_t n = n_args ? (size_t)n_args : t->n;
    const sched_entry **sel = mc_calloc(n + 1, sizeof *sel);
    for (size_t i = 0; i < n; i++) {
        if (!n_args) {
            sel[i] = &t->entries[i];
            continue;
        }
        for (size_t k = 0; k < t->n && !sel[i]; k++)
            if (strcmp(t->entries[k].ds->name, args[i]) == 0)
                sel[i] = &t->entries[k];
        if (!sel[i]) {
            fprintf(stderr, "metacrawl: unknown datastore '%s'; %s has:", args[i], c->path);
            for (size_t k = 0; k < t->n; k++)
                fprintf(stderr, " %s", t->entries[k].ds->name);
            fputc('\n', stderr);
            free(sel);
            return MC_EXIT_USAGE;
        }
    }
    *out = sel;
    *n_out = n;
    return 0;
}

/* The store for reading only when it exists: NULL (and 0) when it does not. */
static int open_existing_store(const cli_ctx *ctx, const cfg *c, store **st)
{
    *st = NULL;
    const char *path = cmd_store_path(ctx, c);
    if (!path || access(path, F_OK) != 0)
        return 0;
    return cmd_open_store_read(ctx, c, st);
}

/* ---- schedule list ----------------------------------------------------------------- */

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
        snprintf(buf, n, "paused since %s%s%s", utc_text(r->state.paused_at, u),
                 r->state.paused_by[0] ? " by " : "", r->state.paused_by);
    } else if (r->stale.stale) {
        sched_stale_text(r->e, &r->stale, buf, n);
        char tmp[320];
        snprintf(tmp, sizeof tmp, "stale: %s", buf);
        snprintf(buf, n, "%s", tmp);
    } else if (r->due.due) {
        snprintf(buf, n, "due: %lld%s fire%s since %s missed; run-due crawls it once",
                 (long long)r->due.n_fires, r->due.n_fires >= SCHED_COUNT_MAX ? "+" : "",
                 r->due.n_fires == 1 ? "" : "s", utc_text(r->due.first_missed, u));
    } else if (r->first) {
        snprintf(buf, n, "new: not run by the scheduler yet");
    } else if (r->in.last_fire) {
        snprintf(buf, n, "last fire %s", utc_text(r->in.last_fire, u));
    } else {
        snprintf(buf, n, "waiting for its first fire");
    }
}

static int schedule_list(cli_ctx *ctx, cfg *c, sched_table *t, const sched_entry **sel,
                         size_t n_sel, int64_t now)
{
    store *st = NULL;
    int rc = open_existing_store(ctx, c, &st);
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
            json_time(&b, &f, "next", r->e->tz, r->e->expr ? r->due.next : CRON_NEVER);
            json_time(&b, &f, "last_fire", r->e->tz, r->in.last_fire);
            json_put_kv_bool(&b, &f, "due", r->due.due);
            json_time(&b, &f, "due_fire", r->e->tz, r->due.due ? r->due.fire : 0);
            json_put_kv_int(&b, &f, "fires_due", r->due.due ? r->due.n_fires : 0);
            json_put_kv_bool(&b, &f, "first_sight", r->first);
            json_time(&b, &f, "paused_since", r->e->tz, r->state.paused_at);
            json_put_kv_str(&b, &f, "paused_by",
                            r->state.paused_by[0] ? r->state.paused_by : NULL);
            if (r->stale.judged)
                json_put_kv_bool(&b, &f, "stale", r->stale.stale);
            else
                json_put_kv_raw(&b, &f, "stale", NULL);
            json_time(&b, &f, "last_success", r->e->tz, r->stale.last_success);
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
        n = (int)strlen(local_text(r->e->tz, r->due.next, l, sizeof l));
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
               local_text(r->e->tz, r->due.next, l, sizeof l), utc_text(r->due.next, u), state);
    }
out:
    free(rows);
    store_close(st);
    (void)t;
    return 0;
fail:
    cmd_report_error(&err);
    free(rows);
    store_close(st);
    return err.code;
}

/* ---- schedule next ------------------------------------------------------------------- */

static int schedule_next(cli_ctx *ctx, const sched_entry **sel, size_t n_sel, int64_t now,
                         bool named)
{
    const char *cv = cli_value(ctx, "count");
    long count = 5;
    if (cv) {
        char *end;
        count = strtol(cv, &end, 10);
        if (*end || count < 1 || count > 1000) {
            fprintf(stderr, "metacrawl: --count takes a number from 1 to 1000\n");
            return MC_EXIT_USAGE;
        }
    }
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
            int w = (int)strlen(local_text(e->tz, t, l, sizeof l));
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
                iso_local(e->tz, t, local);
                cron_local l;
                cron_tz_local(e->tz, t, &l);
                mc_buf_putc(&b, '{');
                json_put_kv_str(&b, &f, "utc", utc);
                json_put_kv_str(&b, &f, "local", local);
                json_put_kv_str(&b, &f, "zone", l.abbr[0] ? l.abbr : NULL);
                mc_buf_putc(&b, '}');
            } else {
                char l[CRON_LOCAL_LEN], u[21];
                printf("  %-*s  %s\n", width, local_text(e->tz, t, l, sizeof l),
                       utc_text(t, u));
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

/* ---- crontab and systemd -------------------------------------------------------------- */

static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

static int check_paths(const sched_install *in, mc_error *err)
{
    const char *paths[] = {in->binary, in->config, in->store_override, in->workdir};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (has_control(paths[i])) {
            mc_error_set(err, MC_EXIT_USAGE, "cannot write the path '%s' into a crontab or "
                                             "unit: it contains a control character",
                         paths[i]);
            mc_error_hint(err, "move the file to a path without newlines or tabs");
            return -1;
        }
    for (size_t i = 0; i < in->n_write_dirs; i++)
        if (has_control(in->write_dirs[i]))
            return mc_error_set(err, MC_EXIT_USAGE, "cannot write the path '%s' into a unit",
                                in->write_dirs[i]);
    return 0;
}

/* sh single quotes; in a crontab command '%' must be written '\%'. */
static void cron_arg(mc_buf *b, const char *s)
{
    mc_buf_putc(b, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            mc_buf_puts(b, "'\\''");
        else if (*p == '%')
            mc_buf_puts(b, "\\%");
        else
            mc_buf_putc(b, *p);
    }
    mc_buf_putc(b, '\'');
}

int sched_crontab_text(mc_buf *b, const sched_install *in, mc_error *err)
{
    if (check_paths(in, err) != 0)
        return -1;
    /* the caller's PATH, each directory once */
    mc_buf path = {0};
    const char *pe = in->path_env && *in->path_env && !has_control(in->path_env)
                         ? in->path_env
                         : "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = pe; *p;) {
        size_t n = strcspn(p, ":");
        bool seen = n == 0;
        for (const char *q = mc_buf_str(&path); !seen && *q;) {
            size_t m = strcspn(q, ":");
            seen = m == n && strncmp(q, p, n) == 0;
            q += m + (q[m] == ':');
        }
        if (!seen) {
            if (path.len)
                mc_buf_putc(&path, ':');
            mc_buf_append(&path, p, n);
        }
        p += n + (p[n] == ':');
    }
    mc_buf_printf(b,
                  "# metacrawl: crawl the datastores of %s when their schedules say so.\n"
                  "# cron starts 'metacrawl run-due' every minute; run-due crawls only what is\n"
                  "# due, catches up once after downtime, and leaves a datastore alone while\n"
                  "# another crawl of it runs (see docs/scheduling.md).  -q: cron mails errors only.\n"
                  "# Install:  (crontab -l 2>/dev/null; %s -c %s schedule crontab) | crontab -\n",
                  in->config, in->binary, in->config);
    if (in->n_env_names) {
        mc_buf_puts(b, "# The configuration reads");
        for (size_t i = 0; i < in->n_env_names; i++)
            mc_buf_printf(b, "%s ${env:%s}", i ? "," : "", in->env_names[i]);
        mc_buf_puts(b, ": cron does not pass on your\n"
                       "# shell's environment.  Set each here (NAME=value, in a crontab only you\n"
                       "# can read) or use ${file:/path} or password_command instead.\n");
    }
    mc_buf_puts(b, "# PATH: where password_command and alert commands are found; it applies to\n"
                   "# the lines below it in this crontab.\n");
    mc_buf_printf(b, "PATH=%s\n", mc_buf_str(&path));
    mc_buf_free(&path);
    mc_buf_puts(b, "* * * * * cd ");
    cron_arg(b, in->workdir);
    mc_buf_puts(b, " && exec ");
    cron_arg(b, in->binary);
    mc_buf_puts(b, " -q -c ");
    cron_arg(b, in->config);
    if (in->store_override) {
        mc_buf_puts(b, " --store ");
        cron_arg(b, in->store_override);
    }
    mc_buf_puts(b, " run-due\n");
    return 0;
}

/* One ExecStart= word: "%" and "$" doubled (specifiers and variables),
 * double quotes when it has blanks, quotes or backslashes. */
static void sd_word(mc_buf *b, const char *s)
{
    bool quote = s[strcspn(s, " \t\"'\\")] != '\0' || !*s;
    if (quote)
        mc_buf_putc(b, '"');
    for (const char *p = s; *p; p++) {
        if (*p == '%')
            mc_buf_puts(b, "%%");
        else if (*p == '$')
            mc_buf_puts(b, "$$");
        else if (quote && (*p == '"' || *p == '\\')) {
            mc_buf_putc(b, '\\');
            mc_buf_putc(b, *p);
        } else
            mc_buf_putc(b, *p);
    }
    if (quote)
        mc_buf_putc(b, '"');
}

/* A path setting (WorkingDirectory=): only specifiers are special. */
static void sd_path(mc_buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '%')
            mc_buf_puts(b, "%%");
        else
            mc_buf_putc(b, *p);
    }
}

static void sd_exec(mc_buf *b, const sched_install *in, const char *const *tail)
{
    mc_buf_puts(b, "ExecStart=");
    sd_word(b, in->binary);
    mc_buf_puts(b, " -c ");
    sd_word(b, in->config);
    if (in->store_override) {
        mc_buf_puts(b, " --store ");
        sd_word(b, in->store_override);
    }
    for (size_t i = 0; tail[i]; i++) {
        mc_buf_putc(b, ' ');
        sd_word(b, tail[i]);
    }
    mc_buf_putc(b, '\n');
}

static bool under_tmp(const char *p)
{
    return p && (strncmp(p, "/tmp/", 5) == 0 || strcmp(p, "/tmp") == 0 ||
                 strncmp(p, "/var/tmp/", 9) == 0 || strcmp(p, "/var/tmp") == 0);
}

static void sd_sandbox(mc_buf *b, const sched_install *in)
{
    bool tmp = under_tmp(in->config) || under_tmp(in->workdir) ||
               under_tmp(in->store_override) || under_tmp(in->binary);
    for (size_t i = 0; i < in->n_write_dirs; i++)
        tmp = tmp || under_tmp(in->write_dirs[i]);
    mc_buf_puts(b, "# Sandboxing: metacrawl needs the network, read access to its configuration\n"
                   "# and keys, and write access to the store's directory (the store, its\n"
                   "# -wal/-shm files, the .locks directory) and to alert files.  Add to\n"
                   "# ReadWritePaths= what a password_command or alert command writes.\n"
                   "NoNewPrivileges=yes\n");
    if (tmp)
        mc_buf_puts(b, "# PrivateTmp=yes would hide the files under /tmp that this setup uses;\n"
                       "# move them elsewhere (/var/lib/metacrawl) and turn it on.\n"
                       "#PrivateTmp=yes\n");
    else
        mc_buf_puts(b, "PrivateTmp=yes\n");
    mc_buf_puts(b, "PrivateDevices=yes\n"
                   "ProtectSystem=strict\n"
                   "ProtectHome=read-only\n");
    if (in->n_write_dirs) {
        mc_buf_puts(b, "ReadWritePaths=");
        for (size_t i = 0; i < in->n_write_dirs; i++) {
            if (i)
                mc_buf_putc(b, ' ');
            /* "-": a directory that does not exist (yet) must not stop the
             * unit from starting */
            struct stat sb;
            if (stat(in->write_dirs[i], &sb) != 0) {
                char *opt = mc_asprintf("-%s", in->write_dirs[i]);
                sd_word(b, opt);
                free(opt);
            } else {
                sd_word(b, in->write_dirs[i]);
            }
        }
        mc_buf_putc(b, '\n');
    }
    mc_buf_puts(b, "ProtectKernelTunables=yes\n"
                   "ProtectKernelModules=yes\n"
                   "ProtectKernelLogs=yes\n"
                   "ProtectControlGroups=yes\n"
                   "RestrictSUIDSGID=yes\n"
                   "RestrictRealtime=yes\n"
                   "LockPersonality=yes\n"
                   "UMask=0077\n");
}

int sched_systemd_service(mc_buf *b, const sched_install *in, bool as_daemon, mc_error *err)
{
    if (check_paths(in, err) != 0)
        return -1;
    const char *unit = as_daemon ? SCHED_UNIT_DAEMON : SCHED_UNIT_RUN_DUE;
    mc_buf_printf(b, "# /etc/systemd/system/%s.service\n", unit);
    if (as_daemon)
        mc_buf_printf(b,
                      "# metacrawl's scheduler for %s: crawls each datastore when its\n"
                      "# schedule says so, at most scheduler.max_parallel at a time.\n"
                      "# 'systemctl reload %s' rereads the configuration (a bad one is\n"
                      "# logged and the running one kept); stop lets running crawls finish\n"
                      "# within scheduler.shutdown_timeout.\n"
                      "# Install:  systemctl daemon-reload && systemctl enable --now %s.service\n",
                      in->config, unit, unit);
    else
        mc_buf_printf(b,
                      "# metacrawl: crawl the datastores of %s that are due.\n"
                      "# Started every minute by %s.timer; run-due decides what is due\n"
                      "# and catches up once after downtime, from the store.\n"
                      "# Install both files, then:\n"
                      "#   systemctl daemon-reload && systemctl enable --now %s.timer\n",
                      in->config, unit, unit);
    mc_buf_puts(b, "[Unit]\n");
    mc_buf_printf(b, "Description=%s\n", as_daemon ? "metacrawl scheduler"
                                                : "metacrawl: crawl the datastores that are due");
    mc_buf_puts(b, "Documentation=man:metacrawl(1)\n"
                   "Wants=network-online.target\n"
                   "After=network-online.target\n"
                   "\n[Service]\n");
    if (as_daemon) {
        mc_buf_puts(b, "Type=exec\n");
    } else {
        mc_buf_puts(b, "Type=oneshot\n"
                       "# A crawl may take longer than the 90 s systemd gives a oneshot by default.\n"
                       "TimeoutStartSec=infinity\n");
    }
    if (in->user)
        mc_buf_printf(b, "User=%s\n", in->user);
    else
        mc_buf_puts(b, "# User=metacrawl   (this runs as root otherwise: create a user that can read\n"
                       "#                   the configuration and write the store)\n");
    mc_buf_puts(b, "WorkingDirectory=");
    sd_path(b, in->workdir);
    mc_buf_putc(b, '\n');
    if (as_daemon) {
        const char *tail[] = {"schedule", "run", NULL};
        sd_exec(b, in, tail);
        mc_buf_puts(b, "ExecReload=/bin/kill -HUP $MAINPID\n"
                       "# SIGTERM to metacrawl only: it lets running crawls finish, and the\n"
                       "# commands they run are not cut off under them.\n"
                       "KillMode=mixed\n");
        mc_buf_printf(b, "TimeoutStopSec=%d\n", in->stop_timeout_s + 30);
        mc_buf_puts(b, "Restart=on-failure\n"
                       "RestartSec=30s\n"
                       "# usage and configuration errors need a person, not a restart\n"
                       "RestartPreventExitStatus=2 3\n");
    } else {
        const char *tail[] = {"run-due", NULL};
        sd_exec(b, in, tail);
    }
    if (in->n_env_names) {
        mc_buf_puts(b, "# The configuration reads");
        for (size_t i = 0; i < in->n_env_names; i++)
            mc_buf_printf(b, "%s ${env:%s}", i ? "," : "", in->env_names[i]);
        mc_buf_puts(b, ": put NAME=value lines\n"
                       "# in a file only root can read and name it here (or use ${file:...}\n"
                       "# with LoadCredential=).\n"
                       "#EnvironmentFile=/etc/metacrawl/metacrawl.env\n");
    }
    sd_sandbox(b, in);
    if (as_daemon)
        mc_buf_puts(b, "\n[Install]\nWantedBy=multi-user.target\n");
    return 0;
}

void sched_systemd_timer(mc_buf *b, const sched_install *in)
{
    mc_buf_printf(b, "# /etc/systemd/system/%s.timer\n", SCHED_UNIT_RUN_DUE);
    mc_buf_printf(b,
                  "# Starts %s.service at the start of every minute for %s.\n"
                  "# No Persistent=: after downtime the next start's run-due catches up, once,\n"
                  "# from the runs in the store; a timer catch-up would add nothing.\n"
                  "# While a run-due still crawls, the service is active and the timer's next\n"
                  "# ticks are skipped: a datastore that falls due meanwhile is crawled (once)\n"
                  "# when it ends.  With long crawls, prefer 'metacrawl schedule systemd\n"
                  "# --scheduler' (one service that crawls in parallel).\n",
                  SCHED_UNIT_RUN_DUE, in->config);
    mc_buf_puts(b, "[Unit]\n"
                   "Description=metacrawl: start run-due every minute\n"
                   "\n[Timer]\n"
                   "OnCalendar=*-*-* *:*:00\n"
                   "# the default AccuracySec=1min would start it anywhere in the minute\n"
                   "AccuracySec=1s\n");
    mc_buf_printf(b, "Unit=%s.service\n", SCHED_UNIT_RUN_DUE);
    mc_buf_puts(b, "\n[Install]\nWantedBy=timers.target\n");
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
    cmd_report_error(&err);
    rc = err.code;
out:
    mc_buf_free(&j);
    free(store_override);
    free(store_abs);
    strset_free(&env);
    strset_free(&dirs);
    return rc;
}

/* ---- schedule (the command) ----------------------------------------------------------- */

static const cli_opt schedule_opts[] = {
    {"count", 'n', "N", "next: how many fire times to show (default 5)"},
    {"now", 0, "TIME",
     "list, next: as if it were TIME (2026-03-29T01:00:00Z, an offset instead of Z, or @UNIX)"},
    {"scheduler", 0, NULL, "systemd: a service that runs 'schedule run' instead of run-due's "
                           "service and timer"},
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
            cmd_report_error(&err);
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
    int rc = parse_now(ctx, &now);
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
    if ((rc = load_table(ctx, &c, &t)) != 0)
        goto out;
    if (strcmp(sub, "crontab") == 0 || strcmp(sub, "systemd") == 0) {
        rc = schedule_install(ctx, c, sub);
        goto out;
    }
    if ((rc = select_entries(c, t, ctx->args + 1, ctx->n_args - 1, &sel, &n_sel)) != 0)
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

/* ---- run-due ---------------------------------------------------------------------------- */

static const cli_opt run_due_opts[] = {
    {"dry-run", 'n', NULL, "say what is due; crawl nothing and write nothing"},
    {"now", 0, "TIME",
     "decide as if it were TIME (2026-03-29T01:00:00Z, an offset instead of Z, or @UNIX); "
     "not later than the clock unless with --dry-run"},
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
    json_time(b, &f, "last_fire", e->tz, it->in.last_fire);
    bool has_fire = it->due.due && it->action != DUE_NOT_DUE;
    json_time(b, &f, "fire", e->tz, has_fire ? it->due.fire : 0);
    json_put_kv_int(b, &f, "fires", has_fire ? it->due.n_fires : 0);
    json_time(b, &f, "first_missed", e->tz, has_fire && it->due.n_fires > 1
                                                ? it->due.first_missed : 0);
    json_time(b, &f, "next", e->tz, e->expr ? it->due.next : CRON_NEVER);
    json_time(b, &f, "skipped", e->tz, it->action == DUE_NOT_DUE ? it->due.skipped : 0);
    json_put_kv_int(b, &f, "jitter_delay", e->delay);
    json_put_kv_int(b, &f, "retry", it->action != DUE_NOT_DUE ? it->due.retry : 0);
    json_put_kv_bool(b, &f, "paused", it->state.paused_at != 0);
    if (it->stale.judged)
        json_put_kv_bool(b, &f, "stale", it->stale.stale);
    else
        json_put_kv_raw(b, &f, "stale", NULL);
    json_time(b, &f, "last_success", e->tz, it->stale.last_success);
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
        cmd_json_crawl_report(b, &it->job->report);
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
                   "fire %s [%s]\n", name, local_text(e->tz, it->due.skipped, l2, sizeof l2),
                   utc_text(it->due.skipped, u), (long long)it->in.starting_deadline,
                   local_text(e->tz, it->due.next, l, sizeof l), utc_text(it->due.next, u2));
        else if (it->first && !quiet)
            printf("%s: new schedule %s (%s): first fire %s [%s]\n", name, cron_text(e->expr),
                   cron_tz_name(e->tz), local_text(e->tz, it->due.next, l, sizeof l),
                   utc_text(it->due.next, u));
        else if (verbose)
            printf("%s: not due; next fire %s [%s]\n", name,
                   local_text(e->tz, it->due.next, l, sizeof l), utc_text(it->due.next, u));
        return;
    case DUE_ERROR:
        cmd_report_error(&it->error);
        return;
    case DUE_PAUSED:
        if (verbose) {
            char since[21];
            printf("%s: paused since %s%s%s: not crawled\n", name,
                   utc_text(it->state.paused_at, since), it->state.paused_by[0] ? " by " : "",
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
        cmd_report_error(&r->error);
    if (quiet)
        return;
    printf("%s: %s %s [%s]", name, it->action == DUE_CRAWLED ? "crawled for" : "due for",
           local_text(e->tz, it->due.fire, l, sizeof l), utc_text(it->due.fire, u));
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
               (long long)r->n_schemas, cmd_plural(r->n_schemas, "schema", "schemas"),
               (long long)r->n_containers, cmd_plural(r->n_containers, "container", "containers"),
               (long long)r->n_fields, cmd_plural(r->n_fields, "field", "fields"));
    }
    if (it->due.n_fires > 1)
        printf("  %s%lld fires since %s were due: caught up with one crawl\n",
               it->due.n_fires >= SCHED_COUNT_MAX ? "over " : "", (long long)it->due.n_fires,
               local_text(e->tz, it->due.first_missed, l2, sizeof l2));
    if (!r || r->status == MC_RUN_FAILED)
        return;
    cmd_print_report_changes(r);
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
                   utc_text(it->stale.last_success, when));
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
    int rc = parse_now(ctx, &now);
    if (rc)
        return rc;
    int64_t real = mc_time_now();
    if (!dry && now > real + 60) {
        char a[21], b[21];
        fprintf(stderr, "metacrawl: --now %s is later than the clock (%s): a run recorded for "
                        "a future fire would hold the schedule back until then; use it with "
                        "--dry-run\n", utc_text(now, a), utc_text(real, b));
        return MC_EXIT_USAGE;
    }
    cfg *c = NULL;
    sched_table *t = NULL;
    store *st = NULL;
    sched_runner *runner = NULL;
    const sched_entry **sel = NULL;
    due_item *items = NULL;
    size_t n_sel = 0;
    if ((rc = load_table(ctx, &c, &t)) != 0 ||
        (rc = select_entries(c, t, ctx->args, ctx->n_args, &sel, &n_sel)) != 0)
        goto out;
    const char *store_path = cmd_store_path(ctx, c);
    if (dry)
        rc = open_existing_store(ctx, c, &st);
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
        rc = cmd_max_code(rc, judge_staleness(ctx, c, st, items, n_sel, now, dry));
    for (size_t i = 0; i < n_sel; i++) {
        if (items[i].job)
            rc = cmd_max_code(rc, items[i].job->report.exit_code);
        if (items[i].action == DUE_ERROR)
            rc = cmd_max_code(rc, items[i].error.code ? items[i].error.code : MC_EXIT_STORE);
    }
    if (ctx->json) {
        mc_buf b = {0};
        bool first = true;
        char nowiso[21];
        mc_buf_putc(&b, '{');
        json_put_kv_str(&b, &first, "now", utc_text(now, nowiso));
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
