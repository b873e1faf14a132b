/*
 * due.c — the scheduling layer's decisions (schedule.h): the schedule: and
 * timezone: checks, the pure "what is due" core (rules 1-7, tested with
 * made-up clocks), what the store and the first-sight records say, and the
 * crawl worker threads that run-due and `schedule run` both start.  The
 * long-running loop of `schedule run` and its logging are in scheduler.c.
 */
#include "schedule.h"

#include "alerts.h"
#include "targets.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>


/* ---- configuration ------------------------------------------------------------ */

static void copy_error(mc_error *err, const mc_error *inner, const char *fmt, ...)
    MC_PRINTF(3, 4);
static void copy_error(mc_error *err, const mc_error *inner, const char *fmt, ...)
{
    char where[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(where, sizeof where, fmt, ap);
    va_end(ap);
    mc_error_set(err, MC_EXIT_CONFIG, "%s%s", where, inner->message);
    if (inner->hint[0])
        mc_error_hint(err, "%s", inner->hint);
}

static int table_zone(sched_table *t, const char *name, const cron_tz **out, mc_error *err)
{
    for (size_t i = 0; i < t->n_zones; i++)
        if (strcmp(cron_tz_name(t->zones[i]), name) == 0) {
            *out = t->zones[i];
            return 0;
        }
    cron_tz *tz = NULL;
    if (cron_tz_load(name, &tz, err) != 0)
        return -1;
    t->zones = mc_realloc(t->zones, (t->n_zones + 1) * sizeof *t->zones);
    t->zones[t->n_zones++] = tz;
    *out = tz;
    return 0;
}

int sched_table_build(const cfg *c, sched_table **out, mc_error *err)
{
    *out = NULL;
    sched_table *t = mc_calloc(1, sizeof *t);
    t->entries = mc_calloc(c->n_datastores + 1, sizeof *t->entries);
    t->n = c->n_datastores;
    const char *file = c->path ? c->path : "metacrawl.yml";
    mc_error inner = {0};
    const cron_tz *def_tz = NULL;
    if (table_zone(t, c->timezone ? c->timezone : "UTC", &def_tz, &inner) != 0) {
        if (c->timezone_pos.line)
            copy_error(err, &inner, "%s:%d:%d: defaults: timezone: ",
                       c->timezone_pos.file ? c->timezone_pos.file : file,
                       c->timezone_pos.line, c->timezone_pos.column);
        else
            copy_error(err, &inner, "%s: defaults.timezone: ", file);
        goto fail;
    }
    for (size_t i = 0; i < c->n_datastores; i++) {
        const cfg_datastore *d = &c->datastores[i];
        sched_entry *e = &t->entries[i];
        e->ds = d;
        e->tz = def_tz;
        e->delay = sched_jitter_delay(d->name, d->jitter_s);
        e->starting_deadline = d->starting_deadline_s;
        e->retry_attempts = d->retry_attempts;
        e->retry_backoff = d->retry_backoff_s;
        if (d->timezone && (!c->timezone || strcmp(d->timezone, c->timezone) != 0) &&
            table_zone(t, d->timezone, &e->tz, &inner) != 0) {
            /* The datastore's own timezone: value, else the datastore. */
            const cfg_pos *p = d->timezone_pos.line ? &d->timezone_pos : &d->pos;
            copy_error(err, &inner, "%s:%d:%d: datastore '%s': timezone: ",
                       p->file ? p->file : file, p->line, p->column, d->name);
            goto fail;
        }
        if (!d->schedule)
            continue;
        int col = 0;
        if (cron_parse_at(d->schedule, &e->expr, &col, &inner) != 0) {
            const cfg_pos *p = &d->schedule_pos;
            /* schedule_pos is the first character of the expression (after
             * a quote); col is 1-based inside it. */
            copy_error(err, &inner, "%s:%d:%d: datastore '%s': schedule: ",
                       p->file ? p->file : file, p->line,
                       p->column + (col > 0 ? col - 1 : 0), d->name);
            goto fail;
        }
    }
    *out = t;
    return 0;
fail:
    sched_table_free(t);
    return -1;
}

void sched_table_free(sched_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        cron_free(t->entries[i].expr);
    for (size_t i = 0; i < t->n_zones; i++)
        cron_tz_free(t->zones[i]);
    free(t->zones);
    free(t->entries);
    free(t);
}

int sched_check_config(const cfg *c, mc_error *err)
{
    sched_table *t = NULL;
    if (sched_table_build(c, &t, err) != 0)
        return -1;
    sched_table_free(t);
    return 0;
}

/* ---- the pure core --------------------------------------------------------------- */

int64_t sched_base(const sched_input *in)
{
    return in->last_fire > in->anchor ? in->last_fire : in->anchor;
}

int64_t sched_first_sight(int64_t now)
{
    int64_t sec = ((now % 60) + 60) % 60;
    return now - sec - 1;
}

/* The latest fire in (after, now], knowing that `after` is one and that
 * there are many: search windows that end at now, smallest first, so the
 * walk forward stays short whatever the downtime. */
static int64_t latest_fire(const sched_input *in, int64_t after, int64_t now, int64_t *next_out)
{
    static const int64_t windows[] = {3600, 86400, 32 * 86400, 367 * 86400,
                                      INT64_C(146097) * 86400};
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
        int64_t start = now - windows[w];
        if (start <= after)
            start = after;
        int64_t f = cron_next(in->expr, in->tz, start);
        if (f != CRON_NEVER && f <= now) {
            for (;;) {
                int64_t g = cron_next(in->expr, in->tz, f);
                if (g == CRON_NEVER || g > now) {
                    *next_out = g;
                    return f;
                }
                f = g;
            }
        }
        if (start == after)
            break;
    }
    *next_out = cron_next(in->expr, in->tz, after);
    return after;
}

/* Rules 1-3 at `now` (already moved back by the delay). */
static void compute_due(const sched_input *in, int64_t now, sched_due *out)
{
    int64_t f = cron_next(in->expr, in->tz, sched_base(in));
    if (f == CRON_NEVER || f > now) {
        out->next = f;
        return;
    }
    out->due = true;
    out->first_missed = f;
    out->n_fires = 1;
    for (;;) {
        int64_t g = cron_next(in->expr, in->tz, f);
        if (g == CRON_NEVER || g > now) {
            out->fire = f;
            out->next = g;
            return;
        }
        f = g;
        if (++out->n_fires >= SCHED_COUNT_MAX)
            break;
    }
    out->fire = latest_fire(in, f, now, &out->next);
}

void sched_compute(const sched_input *in, int64_t now, sched_due *out)
{
    memset(out, 0, sizeof *out);
    out->next = CRON_NEVER;
    out->wake = CRON_NEVER;
    if (!in->expr || !in->tz)
        return;
    int64_t delay = in->delay > 0 ? in->delay : 0;
    int64_t late_now = now - delay;                         /* rule 5 */
    compute_due(in, late_now, out);
    if (out->due && in->starting_deadline > 0 &&
        late_now - out->fire > in->starting_deadline) {     /* rule 6 */
        out->due = false;
        out->skipped = out->fire;
        out->n_skipped = out->n_fires;
        out->fire = out->first_missed = out->n_fires = 0;
    }
    if (out->next != CRON_NEVER)
        out->wake = out->next + delay;
    if (!out->due && !out->skipped && in->retry_attempts > 0 && in->last_fire > 0 &&
        in->n_failed > 0 && in->n_failed <= in->retry_attempts &&
        !(in->starting_deadline > 0 && late_now - in->last_fire > in->starting_deadline)) {
        int shift = in->n_failed - 1 < 20 ? (int)in->n_failed - 1 : 20;   /* rule 7 */
        int64_t backoff = in->retry_backoff > 0 ? in->retry_backoff : 0;
        int64_t at = in->failed_at + backoff * (INT64_C(1) << shift);
        if (now >= at) {
            out->due = true;
            out->fire = out->first_missed = in->last_fire;
            out->n_fires = 1;
            out->retry = in->n_failed;
        } else if (out->wake == CRON_NEVER || at < out->wake) {
            out->wake = at;
        }
    }
}

void sched_input_history(sched_input *in, const sched_history *h)
{
    in->last_fire = h->last_fire;
    in->n_failed = h->n_failed;
    in->failed_at = h->failed_at;
}

sched_input sched_entry_input(const sched_entry *e, int64_t last_fire, int64_t anchor)
{
    return (sched_input){
        .expr = e->expr,
        .tz = e->tz,
        .last_fire = last_fire,
        .anchor = anchor,
        .delay = e->delay,
        .starting_deadline = e->starting_deadline,
        .retry_attempts = e->retry_attempts,
        .retry_backoff = e->retry_backoff,
    };
}

bool sched_same_host(const cfg_datastore *a, const cfg_datastore *b)
{
    return a->port == b->port && a->host && b->host && strcasecmp(a->host, b->host) == 0;
}

/* FNV-1a (64 bits) of the name: stable across machines, releases and runs,
 * which is all rule 5 asks of it; it is not a secret and not a digest. */
int64_t sched_jitter_delay(const char *datastore, int64_t jitter_s)
{
    if (jitter_s <= 0 || !datastore)
        return 0;
    uint64_t h = mc_hash_bytes(MC_HASH_INIT, datastore, strlen(datastore));
    return (int64_t)(h % (uint64_t)jitter_s);
}

size_t sched_plan(sched_slot *slots, size_t n, int64_t now, size_t *due_idx_out,
                  int64_t *wake_out)
{
    size_t n_due = 0;
    int64_t wake = CRON_NEVER;
    for (size_t i = 0; i < n; i++) {
        sched_slot *s = &slots[i];
        if (s->busy) {
            memset(&s->due, 0, sizeof s->due);
            s->due.next = CRON_NEVER;
            continue;
        }
        sched_compute(&s->in, now, &s->due);
        if (s->due.due) {
            /* insertion keeps the oldest fire first, ties in slot order */
            size_t k = n_due++;
            while (k > 0 && slots[due_idx_out[k - 1]].due.fire > s->due.fire) {
                due_idx_out[k] = due_idx_out[k - 1];
                k--;
            }
            due_idx_out[k] = i;
        } else if (s->due.wake != CRON_NEVER && (wake == CRON_NEVER || s->due.wake < wake)) {
            wake = s->due.wake;
        }
    }
    *wake_out = wake;
    return n_due;
}

double sched_clock_jump(double real_before, double mono_before, double real_now,
                        double mono_now)
{
    return (real_now - real_before) - (mono_now - mono_before);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

int sched_parse_time(const char *text, int64_t *out)
{
    if (!text)
        return -1;
    if (text[0] == '@') {
        char *end;
        errno = 0;
        long long v = strtoll(text + 1, &end, 10);
        if (end == text + 1 || *end || errno || v < CRON_TIME_MIN || v > CRON_TIME_MAX)
            return -1;
        *out = v;
        return 0;
    }
    const char *p = text;
    int y, mo, d, h, mi, s = 0;
    if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
        !read_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (!read_digits(&p, 2, &h) || *p++ != ':' || !read_digits(&p, 2, &mi))
        return -1;
    if (*p == ':') {
        p++;
        if (!read_digits(&p, 2, &s))
            return -1;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (!read_digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (*p && !read_digits(&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || s > 59)
        return -1;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off;
    return 0;
}

/* ---- what the store and the records say ---------------------------------------- */

/* The datastores whose runs are a schedule entry's history: the entry's
 * own and, for a datastore with databases:, each "<datastore>/<db>" the
 * store has (a name of the file never holds '/', so the prefix is exact).
 * One fire crawls every database, each recording a run with the fire's
 * scheduled_for (docs/scheduling.md, "Several databases"). */
static int history_names(store *st, const char *datastore, char ***names_out, size_t *n_out,
                         mc_error *err)
{
    char **all = NULL;
    size_t n_all = 0;
    if (store_list_datastores(st, &all, &n_all, err) != 0)
        return -1;
    size_t len = strlen(datastore), n = 0;
    char **names = mc_calloc(n_all + 2, sizeof *names);
    names[n++] = mc_strdup(datastore);
    for (size_t i = 0; i < n_all; i++) {
        if (!strncmp(all[i], datastore, len) && all[i][len] == '/')
            names[n++] = mc_strdup(all[i]);
        free(all[i]);
    }
    free(all);
    *names_out = names;
    *n_out = n;
    return 0;
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int sched_read_history(store *st, const char *datastore, sched_history *out, mc_error *err)
{
    memset(out, 0, sizeof *out);
    if (sched_last_fire(st, datastore, &out->last_fire, err) != 0)
        return -1;
    if (!out->last_fire)
        return 0;
    /* The runs of that fire are among the newest: a retry is recorded right
     * after the run it retries. */
    char **names;
    size_t n_names;
    if (history_names(st, datastore, &names, &n_names, err) != 0)
        return -1;
    /* settled: every database the fire crawled has a run that did not fail */
    bool settled = true, any = false;
    for (size_t k = 0; k < n_names; k++) {
        mc_run_list l = {0};
        if (store_list_runs(st, names[k], 64, &l, err) != 0) {
            names_free(names, n_names);
            return -1;
        }
        /* several databases: the fire is settled once none of them failed.
         * The retry rules count attempts, not databases: n_failed is the
         * most failed runs of one database not yet settled (three
         * databases failing once is one attempt, not three). */
        bool db_settled = false, had = false;
        int db_failed = 0;
        int64_t db_failed_at = 0;
        for (size_t i = 0; i < l.n; i++) {
            const mc_run *r = &l.runs[i];
            if (r->scheduled_for != out->last_fire)
                continue;
            had = any = true;
            if (r->status != MC_RUN_FAILED) {
                db_settled = true;     /* ok, partial, or still running */
                continue;
            }
            db_failed++;
            int64_t end = r->finished_at ? r->finished_at : r->started_at;
            if (end > db_failed_at)
                db_failed_at = end;
        }
        if (had && !db_settled) {
            if (db_failed > out->n_failed)
                out->n_failed = db_failed;
            if (db_failed_at > out->failed_at)
                out->failed_at = db_failed_at;
        }
        settled &= !had || db_settled;
        mc_run_list_free(&l);
    }
    names_free(names, n_names);
    settled &= any;
    if (settled)
        out->n_failed = out->failed_at = 0;
    return 0;
}

int sched_last_fire(store *st, const char *datastore, int64_t *out, mc_error *err)
{
    *out = 0;
    /* The scheduler only ever records a fire later than the last one
     * (rule 3), so the newest scheduled run has the largest scheduled_for:
     * the recent runs nearly always hold it. */
    char **names;
    size_t n_names;
    if (history_names(st, datastore, &names, &n_names, err) != 0)
        return -1;
    int rc = 0;
    for (size_t k = 0; k < n_names && rc == 0; k++) {
        int64_t best = 0;
        for (size_t limit = 64;; limit = 0) {
            mc_run_list l = {0};
            if (store_list_runs(st, names[k], limit, &l, err) != 0) {
                rc = -1;
                break;
            }
            for (size_t i = 0; i < l.n; i++)
                if (l.runs[i].scheduled_for > best)
                    best = l.runs[i].scheduled_for;
            bool all = limit == 0 || l.n < limit;
            mc_run_list_free(&l);
            if (best || all)
                break;
        }
        if (best > *out)
            *out = best;
    }
    names_free(names, n_names);
    return rc;
}

typedef struct sched_record {
    bool present, valid;
    int64_t anchor;
    char timezone[128];
    char schedule[256];
} sched_record;

static char *record_path(const char *store_path, const char *datastore)
{
    char *dir = crawl_lock_dir(store_path);
    char *path = mc_asprintf("%s/%s.schedule", dir, datastore);
    free(dir);
    return path;
}

static void read_record(const char *path, sched_record *r)
{
    memset(r, 0, sizeof *r);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    r->present = true;
    char line[512];
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        long long anchor;
        int n = 0;
        if (sscanf(line, "v1 %lld %127s %n", &anchor, r->timezone, &n) == 2 && n > 0 &&
            line[n] && strlen(line + n) < sizeof r->schedule) {
            r->anchor = anchor;
            snprintf(r->schedule, sizeof r->schedule, "%s", line + n);
            r->valid = true;
        }
    }
    fclose(f);
}

static int write_record(const char *store_path, const char *datastore, int64_t anchor,
                        const char *tz, const char *schedule, mc_error *err)
{
    char *dir = crawl_lock_dir(store_path);
    char *path = record_path(store_path, datastore);
    static unsigned counter; /* main thread only (invariant 1) */
    char *tmp = mc_asprintf("%s/.%s.schedule.%ld.%u", dir, datastore, (long)getpid(),
                            counter++);
    int rc = -1;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        mc_error_set(err, MC_EXIT_STORE, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        mc_error_set(err, MC_EXIT_STORE, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    fprintf(f, "v1 %lld %s %s\n", (long long)anchor, tz, schedule);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        mc_error_set(err, MC_EXIT_STORE, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        mc_error_hint(err, "the directory of the store must be writable: the scheduler "
                           "records there when it first saw each schedule");
    free(tmp);
    free(path);
    free(dir);
    return rc;
}

int sched_anchor(const char *store_path, const char *datastore, const cron_expr *expr,
                 const cron_tz *tz, int64_t last_fire, int64_t now, bool write,
                 int64_t *anchor_out, bool *first_out, mc_error *err)
{
    *anchor_out = 0;
    if (first_out)
        *first_out = false;
    char *path = record_path(store_path, datastore);
    sched_record rec;
    read_record(path, &rec);
    free(path);
    if (!expr) {
        /* Unscheduled: forget the old schedule, so scheduling it again is
         * a first sight and does not catch up the time in between. */
        if (write && rec.present && !(rec.valid && strcmp(rec.schedule, "-") == 0))
            return write_record(store_path, datastore, 0, "-", "-", err);
        return 0;
    }
    const char *text = cron_text(expr), *zone = cron_tz_name(tz);
    if (rec.valid && strcmp(rec.schedule, text) == 0 && strcmp(rec.timezone, zone) == 0) {
        *anchor_out = rec.anchor;
        return 0;
    }
    int64_t anchor;
    if (!rec.present && last_fire > 0) {
        anchor = 0; /* the runs say where the schedule is */
    } else {
        anchor = sched_first_sight(now);
        if (first_out)
            *first_out = true;
    }
    *anchor_out = anchor;
    if (!write)
        return 0;
    return write_record(store_path, datastore, anchor, zone, text, err);
}

/* ---- crawls in worker threads ------------------------------------------------------ */

typedef struct job_priv {
    sched_job pub; /* first: a sched_job * is a job_priv * */
    struct sched_runner *runner;
    pthread_t thread;
    bool started, done;
    struct job_priv *next;
} job_priv;

struct sched_runner {
    int pipe[2];
    pthread_mutex_t mu;
    job_priv *jobs; /* started and not reaped */
    size_t n_active;
};

sched_job *sched_job_new(const cfg *c, const cfg_datastore *ds, const char *store_path,
                         int64_t fire, crawl_lock *lock)
{
    job_priv *p = mc_calloc(1, sizeof *p);
    p->pub.cfg = c;
    p->pub.ds = ds;
    p->pub.store_path = mc_strdup(store_path);
    p->pub.fire = fire;
    p->pub.lock = lock;
    return &p->pub;
}

void sched_job_free(sched_job *j)
{
    if (!j)
        return;
    crawl_report_free(&j->report);
    mc_buf_free(&j->alerts_json);
    crawl_lock_release(j->lock);
    free(j->store_path);
    free(j);
}

/* A fire of a datastore with databases: each database in turn, under its
 * own lock (a database being crawled by hand is skipped, as a locked
 * datastore is), each recording its own run with the fire's scheduled_for.
 * The job's report is the worst of them (highest exit code; the first on a
 * tie), named after the datastore of the file; the alerts of each are
 * delivered after its commit. */
static void crawl_databases(sched_job *j, store *st, alerts *al, const crawl_opts *o)
{
    crawl_targets t;
    memset(&j->report, 0, sizeof j->report);
    j->report.ds = j->ds;
    j->report.status = MC_RUN_OK;
    mc_error err = {0};
    if (crawl_list_databases(j->ds, NULL, &t, &err) != 0) {
        j->report.status = MC_RUN_FAILED;
        j->report.error = err;
        j->report.exit_code = err.code ? err.code : MC_EXIT_CONNECT;
        return;
    }
    crawl_targets_warn_gone(&t, st);
    bool have = false;
    for (size_t i = 0; i < t.n; i++) {
        crawl_lock *lk = NULL;
        crawl_lock_holder h;
        mc_error lerr = {0};
        int lrc = crawl_lock_try(j->store_path, t.ds[i].name, "schedule run", &lk, &h, &lerr);
        if (lrc != 0 || !lk) {
            sched_log(MC_LOG_WARN, "%s: %s", t.ds[i].name,
                      lrc ? lerr.message : "locked by another crawl: not crawled in this fire");
            continue;
        }
        crawl_report r;
        crawl_datastore(&t.ds[i], st, o, &r);
        crawl_lock_release(lk);
        alerts_deliver(al, NULL, 0);
        sched_log(r.exit_code ? MC_LOG_WARN : MC_LOG_INFO, "%s: %s%s%s", t.ds[i].name,
                  mc_run_status_name(r.status), r.error.code ? ": " : "", r.error.message);
        if (!have || r.exit_code > j->report.exit_code) {
            crawl_report_free(&j->report);
            j->report = r;
            have = true;
        } else {
            crawl_report_free(&r);
        }
    }
    j->report.ds = j->ds; /* the databases' datastores go with t */
    crawl_targets_free(&t);
}

static void *job_thread(void *arg)
{
    job_priv *p = arg;
    sched_job *j = &p->pub;
    store *st = NULL;
    mc_error err = {0};
    if (store_open(j->store_path, &st, &err) != 0) {
        memset(&j->report, 0, sizeof j->report);
        j->report.ds = j->ds;
        j->report.status = MC_RUN_FAILED;
        j->report.error = err;
        j->report.exit_code = err.code ? err.code : MC_EXIT_STORE;
    } else {
        alerts *al = alerts_open(j->cfg, st);
        crawl_opts o = {.scheduled_for = j->fire};
        if (cfg_has_databases(j->ds))
            crawl_databases(j, st, al, &o);
        else
            crawl_datastore(j->ds, st, &o, &j->report);
        alerts_deliver(al, NULL, 0);
        alerts_put_json(al, &j->alerts_json);
        j->alerts_code = alerts_report(al, NULL);
        alerts_close(al);
        store_close(st);
    }
    struct sched_runner *r = p->runner;
    pthread_mutex_lock(&r->mu);
    p->done = true;
    pthread_mutex_unlock(&r->mu);
    ssize_t w;
    while ((w = write(r->pipe[1], "j", 1)) < 0 && errno == EINTR)
        ;
    /* a full pipe already wakes the reader: nothing is lost */
    return NULL;
}

sched_runner *sched_runner_new(void)
{
    sched_runner *r = mc_calloc(1, sizeof *r);
    if (pipe2(r->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void sched_runner_free(sched_runner *r)
{
    if (!r)
        return;
    close(r->pipe[0]);
    close(r->pipe[1]);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int sched_runner_fd(const sched_runner *r)
{
    return r->pipe[0];
}

size_t sched_runner_active(const sched_runner *r)
{
    return r->n_active;
}

int sched_runner_start(sched_runner *r, sched_job *j, mc_error *err)
{
    job_priv *p = (job_priv *)j;
    p->runner = r;
    /* Invariant 2: the thread starts with the loop's signals blocked, and
     * inherits that mask; this thread's mask is restored at once. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_mutex_lock(&r->mu);
    int e = pthread_create(&p->thread, NULL, job_thread, p);
    if (e == 0) {
        p->started = true;
        p->next = r->jobs;
        r->jobs = p;
        r->n_active++;
    }
    pthread_mutex_unlock(&r->mu);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0)
        return mc_error_set(err, MC_EXIT_STORE, "cannot start a crawl thread: %s",
                            strerror(e));
    return 0;
}

sched_job *sched_runner_reap(sched_runner *r)
{
    char buf[64];
    while (read(r->pipe[0], buf, sizeof buf) > 0)
        ;
    job_priv *found = NULL;
    pthread_mutex_lock(&r->mu);
    for (job_priv **pp = &r->jobs; *pp; pp = &(*pp)->next)
        if ((*pp)->done) {
            found = *pp;
            *pp = found->next;
            r->n_active--;
            break;
        }
    pthread_mutex_unlock(&r->mu);
    if (!found)
        return NULL;
    pthread_join(found->thread, NULL);
    found->next = NULL;
    /* more may be done: make sure the caller's poll() says so */
    ssize_t w = write(r->pipe[1], "j", 1);
    (void)w;
    return &found->pub;
}
