/*
 * scheduler.c — the long-running scheduler of `schedule run` and the
 * scheduling layer's logging (schedule.h).  What is due, the first-sight
 * records and the crawl workers it starts are due.c's.
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
