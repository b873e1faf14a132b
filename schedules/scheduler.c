/*
 * scheduler.c — the scheduling layer (schedule.h): config checks, the pure
 * "what is due" core, the first-sight records, crawl worker threads and the
 * long-running scheduler of `schedule run`.
 *
 * The long-running scheduler is one thread with one poll() loop; crawls run
 * in worker threads.  Its invariants:
 *
 *  1. Only the main thread decides, logs decisions, takes crawl locks,
 *     reads the store for last fires and writes first-sight records.  A
 *     worker only crawls: its own store handle, session, tunnel, alerts.
 *  2. Signals are events: the handlers write the signal number into a
 *     self-pipe and do nothing else.  Workers block SIGHUP, SIGINT and
 *     SIGTERM, so the handlers only ever run on the main thread.
 *  3. A worker says it is done by writing to the runner's pipe; the main
 *     loop reaps it (joins the thread) before looking at its result.
 *  4. A configuration is a refcounted generation: the current one holds a
 *     reference, every running job holds one.  A reload swaps the current
 *     generation; the old one lives until its last crawl is reaped, so a
 *     worker never sees its cfg_datastore freed.
 *  5. A datastore is crawled by at most one job at a time: the main thread
 *     skips datastores with a job, and the crawl lock (lock.h) excludes
 *     other processes (crawl, run-due, another scheduler).
 *  6. No sleeping: poll() waits for the self-pipe, the runner's pipe, a
 *     timerfd that fires when the wall clock is set, or a timeout that ends
 *     at the next fire (at most SCHED_TICK_S, to notice slow clock changes).
 *
 * State of a datastore in the loop:
 *
 *     idle --(fire in (base, now], lock taken)--> crawling --(reaped)--> idle
 *       \--(fire due, lock busy: someone else crawls)--> waiting --(retry)--/
 */
#include "schedule.h"

#include "alerts.h"

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

/* The longest poll() wait: how late a slowly drifting clock is noticed. */
#define SCHED_TICK_S 60
/* How soon a due datastore whose lock was busy is tried again. */
#define SCHED_LOCK_RETRY_S 15

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

int sched_read_history(store *st, const char *datastore, sched_history *out, mc_error *err)
{
    memset(out, 0, sizeof *out);
    if (sched_last_fire(st, datastore, &out->last_fire, err) != 0)
        return -1;
    if (!out->last_fire)
        return 0;
    /* The runs of that fire are among the newest: a retry is recorded right
     * after the run it retries. */
    mc_run_list l = {0};
    if (store_list_runs(st, datastore, 64, &l, err) != 0)
        return -1;
    bool settled = false;
    for (size_t i = 0; i < l.n; i++) {
        const mc_run *r = &l.runs[i];
        if (r->scheduled_for != out->last_fire)
            continue;
        if (r->status != MC_RUN_FAILED) {
            settled = true;     /* ok, partial, or still running */
            continue;
        }
        out->n_failed++;
        int64_t end = r->finished_at ? r->finished_at : r->started_at;
        if (end > out->failed_at)
            out->failed_at = end;
    }
    mc_run_list_free(&l);
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
    for (size_t limit = 64;; limit = 0) {
        mc_run_list l = {0};
        if (store_list_runs(st, datastore, limit, &l, err) != 0)
            return -1;
        for (size_t i = 0; i < l.n; i++)
            if (l.runs[i].scheduled_for > *out)
                *out = l.runs[i].scheduled_for;
        bool all = limit == 0 || l.n < limit;
        mc_run_list_free(&l);
        if (*out || all)
            return 0;
    }
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

/* ---- logging --------------------------------------------------------------------- */

static int sched_threshold = MC_LOG_INFO;
static bool sched_journal;

bool sched_journal_stream_is(int fd, const char *journal_stream)
{
    if (!journal_stream || !*journal_stream)
        return false;
    unsigned long long dev, ino;
    char extra;
    if (sscanf(journal_stream, "%llu:%llu%c", &dev, &ino, &extra) != 2)
        return false;
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return false;
    return (unsigned long long)sb.st_dev == dev && (unsigned long long)sb.st_ino == ino;
}

void sched_log(int level, const char *fmt, ...)
{
    /* The scheduler's decisions are logged one level more verbosely than
     * other messages; the line itself is mc_log_write's (mc_log_style). */
    if (level > sched_threshold)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    mc_log_write(level, "%s", line);
}

/* ---- the long-running scheduler -------------------------------------------------- */

/* A configuration and what was built from it (invariant 4). */
typedef struct generation {
    cfg *c;
    sched_table *t;
    char *store_path;
    int refs;
} generation;

typedef struct ds_state {
    const sched_entry *e;   /* in the current generation */
    int64_t last_fire;      /* last recorded fire, as far as this process knows */
    int64_t n_failed, failed_at; /* rule 7: its failed runs (sched_history) */
    int64_t anchor;
    sched_job *job;         /* running crawl, or NULL */
    int64_t lock_told;      /* the fire for which "locked" was logged */
    int64_t skip_told;      /* the fire for which "given up" was logged */
    int64_t host_told;      /* the fire for which "max_per_host: waiting" was logged */
    int64_t retry_at;       /* lock busy: try again from then */
    bool paused;            /* rule 9, as the store said at the last look */
} ds_state;

typedef struct loop {
    generation *gen;
    ds_state *ds;
    size_t n_ds;
    store *db;              /* main thread's handle: last fires */
    char *db_path;
    const char *store_override;
    sched_runner *runner;
    int sig_pipe[2];
    int tfd;                /* timerfd that fires when the clock is set; -1 */
    bool stopping;
    double stop_deadline;   /* monotonic */
    int64_t n_started, n_failed;
    uint64_t zone_sig;      /* zone_signature of the zones in use */
    double judged_at;       /* monotonic time of the last judge_all; < 0 = never */
} loop;

/* The zone files the running table was loaded from, as one number: when a
 * tzdata upgrade replaces one of them, the scheduler reloads. */
static uint64_t zone_signature(const sched_table *t)
{
    uint64_t h = MC_HASH_INIT;
    for (size_t i = 0; i < t->n_zones; i++) {
        uint64_t z = cron_tz_file_signature(cron_tz_name(t->zones[i]));
        h = mc_hash_bytes(h, &z, sizeof z);
    }
    return h;
}

static int sig_write_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(sig_write_fd, &b, 1);
    (void)w;
    errno = saved;
}

static double clock_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static generation *gen_new(cfg *c, sched_table *t, const char *store_override)
{
    generation *g = mc_calloc(1, sizeof *g);
    g->c = c;
    g->t = t;
    g->store_path = mc_strdup(store_override ? store_override : c->store);
    g->refs = 1;
    return g;
}

static void gen_unref(generation *g)
{
    if (!g || --g->refs > 0)
        return;
    sched_table_free(g->t);
    cfg_free(g->c);
    free(g->store_path);
    free(g);
}

static const char *fmt_local(const cron_tz *tz, int64_t t, char *buf, size_t n)
{
    if (t == CRON_NEVER) {
        snprintf(buf, n, "never");
        return buf;
    }
    char local[CRON_LOCAL_LEN], utc[21];
    cron_format_local(tz, t, local, sizeof local);
    mc_time_iso(t, utc);
    snprintf(buf, n, "%s [%s]", local, utc);
    return buf;
}

/* Builds the per-datastore states of generation g, carrying over what the
 * old states knew (by name): running jobs, last fires, lock notes. */
static int build_states(loop *d, generation *g, ds_state **out, mc_error *err)
{
    ds_state *ns = mc_calloc(g->t->n + 1, sizeof *ns);
    int64_t now = mc_time_now();
    for (size_t i = 0; i < g->t->n; i++) {
        const sched_entry *e = &g->t->entries[i];
        ds_state *s = &ns[i];
        s->e = e;
        const ds_state *old = NULL;
        for (size_t k = 0; k < d->n_ds; k++)
            if (strcmp(d->ds[k].e->ds->name, e->ds->name) == 0)
                old = &d->ds[k];
        if (old) {
            s->job = old->job;
            s->lock_told = old->lock_told;
            s->retry_at = old->retry_at;
            s->paused = old->paused;
        }
        if (!e->expr) {
            if (sched_anchor(g->store_path, e->ds->name, NULL, NULL, 0, now, true, &s->anchor,
                             NULL, err) != 0)
                goto fail;
            continue;
        }
        sched_history h;
        if (sched_read_history(d->db, e->ds->name, &h, err) != 0)
            goto fail;
        s->last_fire = h.last_fire;
        s->n_failed = h.n_failed;
        s->failed_at = h.failed_at;
        if (old && old->last_fire > s->last_fire)
            s->last_fire = old->last_fire;
        bool first = false;
        if (sched_anchor(g->store_path, e->ds->name, e->expr, e->tz, s->last_fire, now, true,
                         &s->anchor, &first, err) != 0)
            goto fail;
        sched_input in = sched_entry_input(e, s->last_fire, s->anchor);
        in.n_failed = s->n_failed;
        in.failed_at = s->failed_at;
        sched_due due;
        sched_compute(&in, now, &due);
        char when[128];
        fmt_local(e->tz, due.due ? due.fire : due.next, when, sizeof when);
        sched_log(MC_LOG_INFO, "%s: %s%s (%s, %s job)%s %s", e->ds->name,
                  first ? "new schedule " : "", cron_text(e->expr), cron_tz_name(e->tz),
                  cron_is_wildcard(e->expr) ? "wildcard" : "fixed-time",
                  due.due ? ": due now, for" : ": next fire", when);
    }
    *out = ns;
    return 0;
fail:
    free(ns);
    return -1;
}

static int reload(loop *d, const char *why)
{
    char *path = mc_strdup(d->gen->c->path); /* the old generation may go below */
    cfg *nc = NULL;
    sched_table *nt = NULL;
    store *ndb = NULL;
    ds_state *ns = NULL;
    mc_error err = {0};
    sched_log(MC_LOG_INFO, "%s: reloading %s", why, path);
    if (cfg_load(path, &nc, &err) != 0 || sched_table_build(nc, &nt, &err) != 0)
        goto fail;
    uint64_t new_sig = zone_signature(nt);
    generation *g = gen_new(nc, nt, d->store_override);
    nc = NULL;
    nt = NULL;
    bool new_db = strcmp(g->store_path, d->db_path) != 0;
    if (new_db && store_open(g->store_path, &ndb, &err) != 0) {
        gen_unref(g);
        goto fail;
    }
    store *keep_db = d->db;
    if (new_db)
        d->db = ndb;
    if (build_states(d, g, &ns, &err) != 0) {
        d->db = keep_db;
        store_close(ndb);
        gen_unref(g);
        goto fail;
    }
    if (new_db) {
        store_close(keep_db);
        free(d->db_path);
        d->db_path = mc_strdup(g->store_path);
    }
    /* running jobs of datastores that are gone keep their old generation */
    for (size_t k = 0; k < d->n_ds; k++) {
        bool kept = false;
        for (size_t i = 0; i < g->t->n && !kept; i++)
            kept = strcmp(ns[i].e->ds->name, d->ds[k].e->ds->name) == 0;
        if (!kept && d->ds[k].job)
            sched_log(MC_LOG_INFO, "%s: no longer in the configuration; its running crawl "
                                   "is left to finish", d->ds[k].e->ds->name);
    }
    free(d->ds);
    d->ds = ns;
    d->n_ds = g->t->n;
    gen_unref(d->gen);
    d->gen = g;
    d->zone_sig = new_sig;
    size_t n_sched = 0;
    for (size_t i = 0; i < d->n_ds; i++)
        n_sched += d->ds[i].e->expr != NULL;
    sched_log(MC_LOG_INFO, "reloaded %s: %zu datastores, %zu scheduled, max_parallel %d",
              path, d->n_ds, n_sched, g->c->sched_max_parallel);
    free(path);
    return 0;
fail:
    sched_table_free(nt);
    cfg_free(nc);
    sched_log(MC_LOG_ERROR, "reload failed, keeping the running configuration: %s",
              err.message);
    if (err.hint[0])
        sched_log(MC_LOG_ERROR, "hint: %s", err.hint);
    free(path);
    return -1;
}

static ds_state *state_of(loop *d, const sched_job *j)
{
    for (size_t i = 0; i < d->n_ds; i++)
        if (d->ds[i].job == j)
            return &d->ds[i];
    return NULL;
}

static void log_result(const sched_job *j)
{
    const crawl_report *r = &j->report;
    const char *name = j->ds->name;
    for (size_t w = 0; w < r->n_warnings; w++)
        sched_log(MC_LOG_WARN, "%s: %s", name, r->warnings[w]);
    if (r->status == MC_RUN_FAILED) {
        sched_log(MC_LOG_ERROR, "%s: crawl failed after %.1fs (exit %d): %s", name, r->seconds,
                  r->exit_code, r->error.message);
        if (r->error.hint[0])
            sched_log(MC_LOG_ERROR, "%s: hint: %s", name, r->error.hint);
        return;
    }
    char what[96];
    if (r->baseline)
        snprintf(what, sizeof what, "first crawl, catalog recorded");
    else
        snprintf(what, sizeof what, "%zu changes", r->diff.changes.n);
    sched_log(r->exit_code ? MC_LOG_WARN : MC_LOG_INFO,
              "%s: run %lld %s in %.1fs: %lld schemas, %lld containers, %lld fields; %s", name,
              (long long)r->run_id, mc_run_status_name(r->status), r->seconds,
              (long long)r->n_schemas, (long long)r->n_containers, (long long)r->n_fields, what);
}

/* Rules 8 and 9 for every datastore not being crawled by this process: the
 * pause as the store says it, and staleness judged, recorded and alerted. */
static void judge_all(loop *d, int64_t now)
{
    alerts *al = alerts_open(d->gen->c, d->db);
    size_t n_events = 0;
    for (size_t i = 0; i < d->n_ds; i++) {
        ds_state *s = &d->ds[i];
        if (s->job)
            continue;
        const char *name = s->e->ds->name;
        sched_stale st;
        mc_ds_state state;
        int ev;
        mc_error err = {0};
        if (sched_check_staleness(d->db, s->e, now, &st, &state, &ev, &err) != 0) {
            sched_log(MC_LOG_WARN, "%s: cannot judge staleness: %s", name, err.message);
            continue;
        }
        bool paused = state.paused_at != 0;
        if (paused != s->paused)
            sched_log(MC_LOG_INFO, "%s: %s", name,
                      paused ? "paused (schedule pause): not crawled until resumed"
                             : "resumed (schedule resume)");
        s->paused = paused;
        char why[160];
        if (ev == MC_DATASTORE_STALE) {
            sched_stale_text(s->e, &st, why, sizeof why);
            sched_log(MC_LOG_WARN, "%s: stale: %s", name, why);
            n_events++;
        } else if (ev == MC_DATASTORE_RECOVERED) {
            char when[21];
            mc_time_iso(st.last_success, when);
            sched_log(MC_LOG_INFO, "%s: recovered: crawled successfully at %s", name, when);
            n_events++;
        }
    }
    if (n_events) {
        alerts_deliver(al, NULL, 0);
        for (size_t i = 0; i < alerts_n_outcomes(al); i++) {
            const alerts_outcome *o = alerts_outcome_at(al, i);
            if (o->error)
                sched_log(MC_LOG_ERROR, "alert %s: %s", o->alert, o->error);
        }
    }
    alerts_close(al);
}

static size_t reap_all(loop *d)
{
    sched_job *j;
    size_t n = 0;
    while ((j = sched_runner_reap(d->runner)) != NULL) {
        n++;
        generation *g = j->user;
        log_result(j);
        if (j->report.status == MC_RUN_FAILED)
            d->n_failed++;
        ds_state *s = state_of(d, j);
        if (s) {
            s->job = NULL;
            /* The fire is spent even if no run could be recorded (a store
             * error): trying again at once would only fail again. */
            if (j->fire > s->last_fire) {
                s->last_fire = j->fire;
                s->n_failed = s->failed_at = 0;
            }
            /* rule 7 counts the failed runs of the fire: ask the store */
            sched_history h;
            mc_error herr = {0};
            if (j->fire == s->last_fire && j->report.status == MC_RUN_FAILED &&
                sched_read_history(d->db, s->e->ds->name, &h, &herr) == 0 &&
                h.last_fire == s->last_fire) {
                s->n_failed = h.n_failed;
                s->failed_at = h.failed_at;
            } else if (j->fire == s->last_fire) {
                s->n_failed = s->failed_at = 0;
            }
        }
        sched_job_free(j);
        gen_unref(g);
    }
    return n;
}

/* Starts what is due, as far as max_parallel allows.  Returns the earliest
 * time (unix seconds) something should be looked at again. */
static int64_t dispatch(loop *d, int64_t now)
{
    size_t n = d->n_ds;
    sched_slot *slots = mc_calloc(n + 1, sizeof *slots);
    size_t *due = mc_calloc(n + 1, sizeof *due);
    for (size_t i = 0; i < n; i++) {
        ds_state *s = &d->ds[i];
        slots[i].in = sched_entry_input(s->e, s->last_fire, s->anchor);
        slots[i].in.n_failed = s->n_failed;
        slots[i].in.failed_at = s->failed_at;
        slots[i].busy = s->job != NULL || s->paused;
    }
    int64_t wake;
    size_t n_due = sched_plan(slots, n, now, due, &wake);
    for (size_t i = 0; i < n; i++) {
        ds_state *s = &d->ds[i];
        int64_t skipped = slots[i].due.skipped;
        if (skipped && s->skip_told != skipped) {
            char when[128];
            fmt_local(s->e->tz, skipped, when, sizeof when);
            sched_log(MC_LOG_WARN, "%s: fire %s given up: later than starting_deadline (%llds)",
                      s->e->ds->name, when, (long long)s->e->starting_deadline);
            s->skip_told = skipped;
        }
    }
    int max = d->gen->c->sched_max_parallel > 0 ? d->gen->c->sched_max_parallel : 1;
    for (size_t k = 0; k < n_due; k++) {
        ds_state *s = &d->ds[due[k]];
        sched_due *du = &slots[due[k]].due;
        const char *name = s->e->ds->name;
        if (sched_runner_active(d->runner) >= (size_t)max)
            break; /* the next completion wakes the loop */
        int per_host = d->gen->c->sched_max_per_host;
        if (per_host > 0) {
            int on_host = 0;
            for (size_t o = 0; o < d->n_ds; o++)
                on_host += d->ds[o].job && sched_same_host(d->ds[o].e->ds, s->e->ds);
            if (on_host >= per_host) {
                if (s->host_told != du->fire) {
                    sched_log(MC_LOG_INFO, "%s: %d crawls of %s:%d running, "
                              "scheduler.max_per_host: waiting", name, on_host,
                              s->e->ds->host, s->e->ds->port);
                    s->host_told = du->fire;
                }
                continue; /* stays due; a completion wakes the loop */
            }
        }
        if (s->retry_at > now) {
            if (wake == CRON_NEVER || s->retry_at < wake)
                wake = s->retry_at;
            continue;
        }
        mc_error err = {0};
        crawl_lock *lk = NULL;
        crawl_lock_holder h;
        if (crawl_lock_try(d->gen->store_path, name, "schedule run", &lk, &h, &err) != 0) {
            sched_log(MC_LOG_ERROR, "%s: %s", name, err.message);
            s->retry_at = now + SCHED_TICK_S;
            continue;
        }
        if (!lk) {
            if (s->lock_told != du->fire) {
                char who[192];
                crawl_lock_describe(&h, who, sizeof who);
                sched_log(MC_LOG_INFO, "%s: locked by %s; the crawl for this fire waits for it",
                          name, who);
                s->lock_told = du->fire;
            }
            s->retry_at = now + SCHED_LOCK_RETRY_S;
            if (wake == CRON_NEVER || s->retry_at < wake)
                wake = s->retry_at;
            continue;
        }
        s->retry_at = 0;
        mc_ds_state state;
        if (store_datastore_state(d->db, name, &state, &err) == 0 && state.paused_at) {
            sched_log(MC_LOG_INFO, "%s: paused (schedule pause): not crawled until resumed",
                      name);
            s->paused = true;
            crawl_lock_release(lk);
            continue;
        }
        mc_error_clear(&err);
        /* Under the lock, ask the store again: another process may have
         * crawled this fire since the last look. */
        sched_history hist;
        if (sched_read_history(d->db, name, &hist, &err) == 0 &&
            (hist.last_fire > s->last_fire ||
             (hist.last_fire == s->last_fire && hist.n_failed != s->n_failed))) {
            s->last_fire = hist.last_fire;
            s->n_failed = hist.n_failed;
            s->failed_at = hist.failed_at;
            sched_input in = sched_entry_input(s->e, s->last_fire, s->anchor);
            in.n_failed = s->n_failed;
            in.failed_at = s->failed_at;
            sched_compute(&in, now, du);
            if (!du->due) {
                sched_log(MC_LOG_DEBUG, "%s: already crawled for this fire by another process",
                          name);
                crawl_lock_release(lk);
                if (du->wake != CRON_NEVER && (wake == CRON_NEVER || du->wake < wake))
                    wake = du->wake;
                continue;
            }
        } else if (err.code) {
            sched_log(MC_LOG_WARN, "%s: cannot read the last fire from the store: %s", name,
                      err.message);
        }
        char when[128], first[128], since[192] = "";
        fmt_local(s->e->tz, du->fire, when, sizeof when);
        if (du->retry)
            snprintf(since, sizeof since, " (retry %lld of %lld)", (long long)du->retry,
                     (long long)s->e->retry_attempts);
        else if (du->n_fires > 1)
            snprintf(since, sizeof since, " (%s%lld fires since %s, caught up once)",
                     du->n_fires >= SCHED_COUNT_MAX ? "over " : "", (long long)du->n_fires,
                     fmt_local(s->e->tz, du->first_missed, first, sizeof first));
        sched_log(MC_LOG_INFO, "%s: crawling for the fire of %s%s", name, when, since);
        sched_job *j = sched_job_new(d->gen->c, s->e->ds, d->gen->store_path, du->fire, lk);
        j->user = d->gen;
        if (sched_runner_start(d->runner, j, &err) != 0) {
            sched_log(MC_LOG_ERROR, "%s: %s", name, err.message);
            sched_job_free(j); /* releases the lock */
            s->retry_at = now + SCHED_TICK_S;
            continue;
        }
        d->gen->refs++;
        s->job = j;
        s->lock_told = 0;
        d->n_started++;
    }
    free(due);
    free(slots);
    return wake;
}

static void arm_clock_watch(int tfd)
{
    if (tfd < 0)
        return;
    /* An absolute timer far away, cancelled (read gives ECANCELED, poll
     * says readable) whenever someone sets the wall clock. */
    struct itimerspec its = {0};
    its.it_value.tv_sec = time(NULL) + 10L * 365 * 86400;
    timerfd_settime(tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL);
}

static void running_names(loop *d, char *buf, size_t n)
{
    buf[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < d->n_ds; i++)
        if (d->ds[i].job && len + 2 < n)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
                                    d->ds[i].e->ds->name);
}

int sched_daemon(cfg *c, const char *store_override)
{
    loop d = {0};
    d.tfd = -1;
    d.judged_at = -1;
    d.sig_pipe[0] = d.sig_pipe[1] = -1;
    d.store_override = store_override;
    sched_journal = sched_journal_stream_is(STDERR_FILENO, getenv("JOURNAL_STREAM"));
    /* every line from here on, a crawl's warnings included */
    mc_log_style = sched_journal ? MC_LOG_JOURNAL : MC_LOG_TIMESTAMPED;
    /* The scheduler's decisions are its output: one level more than the
     * other commands log (info by default, warnings with -q). */
    sched_threshold = mc_log_threshold + 1 > MC_LOG_DEBUG ? MC_LOG_DEBUG : mc_log_threshold + 1;
    int rc = 0;
    mc_error err = {0};
    sched_table *t = NULL;
    if (sched_table_build(c, &t, &err) != 0) {
        sched_log(MC_LOG_ERROR, "%s", err.message);
        cfg_free(c);
        return err.code;
    }
    d.zone_sig = zone_signature(t);
    d.gen = gen_new(c, t, store_override);
    if (store_open(d.gen->store_path, &d.db, &err) != 0) {
        sched_log(MC_LOG_ERROR, "%s", err.message);
        if (err.hint[0])
            sched_log(MC_LOG_ERROR, "hint: %s", err.hint);
        rc = err.code ? err.code : MC_EXIT_STORE;
        goto out;
    }
    d.db_path = mc_strdup(d.gen->store_path);
    d.runner = sched_runner_new();
    if (!d.runner || pipe2(d.sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        sched_log(MC_LOG_ERROR, "cannot create a pipe: %s", strerror(errno));
        rc = MC_EXIT_STORE;
        goto out;
    }
    sig_write_fd = d.sig_pipe[1];
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    d.tfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
    arm_clock_watch(d.tfd);

    if (build_states(&d, d.gen, &d.ds, &err) != 0) {
        sched_log(MC_LOG_ERROR, "%s", err.message);
        rc = err.code ? err.code : MC_EXIT_STORE;
        goto out;
    }
    d.n_ds = d.gen->t->n;
    size_t n_sched = 0;
    for (size_t i = 0; i < d.n_ds; i++)
        n_sched += d.ds[i].e->expr != NULL;
    sched_log(MC_LOG_INFO,
              "scheduler started (pid %ld): %s, store %s, %zu datastores, %zu scheduled, "
              "max_parallel %d%s",
              (long)getpid(), c->path, d.gen->store_path, d.n_ds, n_sched,
              c->sched_max_parallel, sched_journal ? ", logging to the journal" : "");

    double real_prev = clock_real(), mono_prev = mc_monotonic();
    for (;;) {
        double real = clock_real(), mono = mc_monotonic();
        double jump = sched_clock_jump(real_prev, mono_prev, real, mono);
        if (fabs(jump) >= SCHED_JUMP_MIN_S) {
            char was[21], is[21];
            mc_time_iso((int64_t)(real - jump), was);
            mc_time_iso((int64_t)real, is);
            if (jump > 0)
                sched_log(MC_LOG_WARN, "the wall clock jumped forward %.0fs (expected %s, it "
                          "is %s): fires in between are caught up once", jump, was, is);
            else
                sched_log(MC_LOG_WARN, "the wall clock jumped back %.0fs (expected %s, it is "
                          "%s): fires already run are not run again", -jump, was, is);
        }
        real_prev = real;
        mono_prev = mono;

        size_t n_reaped = reap_all(&d);
        if (!d.stopping && (n_reaped || d.judged_at < 0 || mono - d.judged_at >= SCHED_TICK_S)) {
            judge_all(&d, (int64_t)floor(real));
            d.judged_at = mono;
        }
        if (d.stopping) {
            if (sched_runner_active(d.runner) == 0) {
                sched_log(MC_LOG_INFO, "stopped: %lld crawls started, %lld failed",
                          (long long)d.n_started, (long long)d.n_failed);
                break;
            }
            if (mono >= d.stop_deadline) {
                char names[512];
                running_names(&d, names, sizeof names);
                sched_log(MC_LOG_ERROR, "shutdown timeout: abandoning the crawls of %s "
                          "(their runs will be recorded as failed)", names);
                /* Worker threads are inside libpq, libssh2 and SQLite: exit
                 * without running atexit handlers under their feet.  The
                 * store's transaction guarantees the rest. */
                fflush(stdout);
                fflush(stderr);
                _exit(MC_EXIT_PARTIAL);
            }
        }

        int64_t now = (int64_t)floor(real);
        if (!d.stopping && zone_signature(d.gen->t) != d.zone_sig) {
            /* a tzdata upgrade: new rules for the zones in use (a failed
             * reload keeps the old table and is not retried every tick) */
            d.zone_sig = zone_signature(d.gen->t);
            reload(&d, "zone data changed");
        }
        int64_t wake = d.stopping ? CRON_NEVER : dispatch(&d, now);
        double timeout_s = SCHED_TICK_S;
        if (wake != CRON_NEVER && (double)wake - real < timeout_s)
            timeout_s = (double)wake - real;
        if (d.stopping && d.stop_deadline - mono < timeout_s)
            timeout_s = d.stop_deadline - mono;
        int timeout_ms = timeout_s <= 0 ? 0 : (int)ceil(timeout_s * 1000);

        struct pollfd pfd[3] = {
            {.fd = d.sig_pipe[0], .events = POLLIN},
            {.fd = sched_runner_fd(d.runner), .events = POLLIN},
            {.fd = d.tfd, .events = POLLIN},
        };
        int pr = poll(pfd, d.tfd >= 0 ? 3 : 2, timeout_ms);
        if (pr < 0 && errno != EINTR) {
            sched_log(MC_LOG_ERROR, "poll: %s", strerror(errno));
            rc = MC_EXIT_STORE;
            break;
        }
        if (pr > 0 && d.tfd >= 0 && (pfd[2].revents & POLLIN)) {
            uint64_t ticks;
            if (read(d.tfd, &ticks, sizeof ticks) < 0 && errno == ECANCELED)
                sched_log(MC_LOG_DEBUG, "the wall clock was set");
            arm_clock_watch(d.tfd);
        }
        unsigned char sigs[32];
        ssize_t ns = read(d.sig_pipe[0], sigs, sizeof sigs);
        for (ssize_t i = 0; i < ns; i++) {
            if (sigs[i] == SIGHUP) {
                if (d.stopping)
                    sched_log(MC_LOG_INFO, "SIGHUP ignored: stopping");
                else
                    reload(&d, "SIGHUP");
                continue;
            }
            const char *name = sigs[i] == SIGINT ? "SIGINT" : "SIGTERM";
            if (d.stopping) {
                char names[512];
                running_names(&d, names, sizeof names);
                sched_log(MC_LOG_ERROR, "%s again: abandoning the crawls of %s", name,
                          names[0] ? names : "nothing");
                fflush(stdout);
                fflush(stderr);
                _exit(sched_runner_active(d.runner) ? MC_EXIT_PARTIAL : 0);
            }
            d.stopping = true;
            int timeout = d.gen->c->sched_shutdown_timeout_s;
            d.stop_deadline = mc_monotonic() + timeout;
            char names[512];
            running_names(&d, names, sizeof names);
            if (sched_runner_active(d.runner))
                sched_log(MC_LOG_INFO, "%s: stopping; waiting up to %ds for the running "
                          "crawls of %s", name, timeout, names);
            else
                sched_log(MC_LOG_INFO, "%s: stopping", name);
        }
    }
out:
    if (d.runner && sched_runner_active(d.runner) == 0)
        sched_runner_free(d.runner);
    if (d.tfd >= 0)
        close(d.tfd);
    if (d.sig_pipe[0] >= 0) {
        signal(SIGHUP, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        sig_write_fd = -1;
        close(d.sig_pipe[0]);
        close(d.sig_pipe[1]);
    }
    free(d.ds);
    store_close(d.db);
    free(d.db_path);
    gen_unref(d.gen);
    return rc;
}
