/*
 * schedule.h — the scheduling layer on top of the cron engine (cron.h):
 * checking the datastores' schedule:/timezone: keys, deciding which
 * datastores are due, the first-sight records, the crawl workers, the
 * long-running scheduler, and the text of crontab and systemd units.
 * The commands `schedule list|next|run|crontab|systemd` and `run-due` are
 * in the command layer (crawler/cli/cmd_schedule.c, cmd_run_due.c);
 * docs/scheduling.md is the user's guide.
 *
 * The decision "what is due" is a pure function of (schedule, last recorded
 * fire, first-sight anchor, now): sched_compute and sched_plan below.  Both
 * run-due and `schedule run` use it; the unit tests drive it with made-up
 * clocks.  The rules it implements:
 *
 *  1. A datastore's base is the later of its last recorded scheduled fire
 *     (the largest runs.scheduled_for in the store, whatever that run's
 *     outcome) and its anchor (when this schedule was first seen).
 *  2. It is due when a fire of its schedule lies in (base, now].  Then it is
 *     crawled ONCE, recorded with scheduled_for = the latest such fire:
 *     however many fires were missed (downtime, a crawl that outlasted its
 *     interval), they are caught up by one crawl.
 *  3. A fire at or before the base is never run again, so a wall clock set
 *     back does not repeat work; a clock set forward looks like downtime.
 *  4. A schedule seen for the first time (a new datastore, or a changed
 *     schedule:/timezone:) is anchored at the end of the previous minute:
 *     its first fire is the one of the current minute or a later one, never
 *     an earlier one (no backfill).
 *  5. Jitter: a datastore with `jitter:` starts each fire `delay` seconds
 *     after it (sched_jitter_delay); the run is still recorded with the
 *     fire's own time. Rules 2 and 6 read "now" as now - delay.
 *  6. Starting deadline: when the latest fire in (base, now] is older than
 *     `starting_deadline:`, it is given up (skipped), not caught up; the
 *     next fire runs as usual. Nothing is recorded for a skipped fire.
 *  7. Retry: when no newer fire is due and every run of the last fire failed,
 *     n of them, with n <= retry.attempts, the fire is due again (a retry)
 *     once retry.backoff * 2^(n-1) has passed since the last one ended,
 *     unless rule 6 has given the fire up. A newer fire always wins.
 *  8. Staleness: a datastore is stale once stale_after has passed since its
 *     last successful (ok or partial) crawl — by default, once the third
 *     fire after it (plus rule 5's delay) has come; a datastore never
 *     crawled successfully counts from its first run.  It is not judged
 *     while it has no run, is paused or is being crawled, nor with
 *     stale_after: 0, nor without a schedule unless stale_after is set.
 *     Each change of the judgement is recorded once (datastore_stale,
 *     datastore_recovered) and alerted once.
 *  9. Pause: a paused datastore (`schedule pause`, recorded in the store) is
 *     never due; when resumed, rules 1-7 apply as after downtime.
 */
#ifndef MC_SCHEDULE_H
#define MC_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "cron.h"
#include "config.h"
#include "../crawler/crawl.h"
#include "../crawler/lock.h"
#include "../store/store.h"

/* ---- configuration ------------------------------------------------------------ */

/*
 * Checks every datastore's schedule: (cron_parse_at) and every time zone
 * (defaults.timezone and each datastore's timezone:, cron_tz_load).  The
 * first problem is a MC_EXIT_CONFIG error "FILE:LINE:COLUMN: ..." whose
 * column points at the offending token inside the expression.  Meant to run
 * right after cfg_load, so a bad schedule is a config error for every
 * command, as a bad key is.
 */
int sched_check_config(const cfg *c, mc_error *err);

/* A config's schedules, parsed: one entry per datastore, in config order. */
typedef struct sched_entry {
    const cfg_datastore *ds; /* borrowed from the cfg */
    cron_expr *expr;         /* NULL = not scheduled */
    const cron_tz *tz;       /* the datastore's zone (owned by the table) */
    int64_t delay;           /* sched_jitter_delay of its jitter: (seconds) */
    int64_t starting_deadline; /* its starting_deadline: (seconds); 0 = none */
    int64_t retry_attempts;  /* its retry.attempts; 0 = none */
    int64_t retry_backoff;   /* its retry.backoff (seconds) */
} sched_entry;

typedef struct sched_table {
    sched_entry *entries;
    size_t n;
    cron_tz **zones;         /* each zone loaded once */
    size_t n_zones;
} sched_table;

/* Builds the table (the same checks and messages as sched_check_config).
 * c is borrowed and must outlive the table. */
int sched_table_build(const cfg *c, sched_table **out, mc_error *err);
void sched_table_free(sched_table *t); /* NULL is a no-op */

/* ---- the pure core --------------------------------------------------------------- */

typedef struct sched_input {
    const cron_expr *expr; /* NULL: not scheduled, never due */
    const cron_tz *tz;
    int64_t last_fire;     /* the last recorded scheduled fire; 0 = none */
    int64_t anchor;        /* first sight of this schedule; 0 = none */
    int64_t delay;         /* rule 5: each fire starts this many seconds late */
    int64_t starting_deadline; /* rule 6: seconds; 0 = a fire is never too late */
    int64_t n_failed;      /* rule 7: failed runs of last_fire (0: none, or one succeeded) */
    int64_t failed_at;     /* rule 7: when the last of them ended */
    int64_t retry_attempts, retry_backoff; /* rule 7: from the datastore's retry: */
} sched_input;

/* The input of one entry: its schedule, zone, jitter and starting deadline
 * with the given last fire and anchor. */
sched_input sched_entry_input(const sched_entry *e, int64_t last_fire, int64_t anchor);

/* Whether two datastores are crawls of the same warehouse endpoint (host,
 * case-insensitive, and port): scheduler.max_per_host counts them together. */
bool sched_same_host(const cfg_datastore *a, const cfg_datastore *b);

/* Rule 5's delay for a datastore: a fixed pseudo-random number of seconds in
 * [0, jitter_s), the same for the same name on every machine and every run
 * (as systemd's RandomizedDelaySec= with FixedRandomDelay=); 0 when jitter_s
 * is 0. */
int64_t sched_jitter_delay(const char *datastore, int64_t jitter_s);

/* Fires counted in one catch-up; more are reported as this many. */
#define SCHED_COUNT_MAX 1000

typedef struct sched_due {
    bool due;
    int64_t skipped;      /* not due: the latest fire, given up by rule 6; 0 = none */
    int64_t n_skipped;    /* fires given up with it (at most SCHED_COUNT_MAX) */
    int64_t wake;         /* when to look again: `next` + delay, or a pending retry's
                             time (CRON_NEVER when neither) */
    int64_t retry;        /* due: the retry's number (1 = the first retry), rule 7; 0 */
    int64_t fire;         /* due: the latest fire in (base, now]: the run's scheduled_for */
    int64_t first_missed; /* due: the earliest fire in (base, now] */
    int64_t n_fires;      /* due: fires in (base, now], at most SCHED_COUNT_MAX */
    int64_t next;         /* the first fire that would run after this one (due) or
                             after now (not due); CRON_NEVER when none */
} sched_due;

/* max(last_fire, anchor): rule 1. */
int64_t sched_base(const sched_input *in);
/* Rules 1-3 for one datastore at instant now (unix seconds). */
void sched_compute(const sched_input *in, int64_t now, sched_due *out);
/* Rule 4: the anchor for a schedule first seen at now. */
int64_t sched_first_sight(int64_t now);

typedef struct sched_slot {
    sched_input in;
    bool busy;        /* crawling (or locked) now: not due, no wake-up source */
    sched_due due;    /* filled by sched_plan (zeroed for busy slots) */
} sched_slot;

/*
 * Plans one moment of the scheduler: fills every slot's due, writes the
 * indexes of the due slots to due_idx_out (room for n) with the oldest fire
 * first (ties in slot order), and sets *wake_out to the earliest next fire
 * of the slots that are neither busy nor due (CRON_NEVER when none).
 * Returns the number of due slots.
 */
size_t sched_plan(sched_slot *slots, size_t n, int64_t now, size_t *due_idx_out,
                  int64_t *wake_out);

/* How far the wall clock moved beyond the monotonic clock between two
 * readings, in seconds: > 0 set forward, < 0 set back, ~0 normal. */
double sched_clock_jump(double real_before, double mono_before, double real_now,
                        double mono_now);
/* Jumps at least this big (seconds) are logged and re-planned. */
#define SCHED_JUMP_MIN_S 2.0

/* Parses "2026-03-29T01:00:00Z", "2026-03-29 03:00+02:00" (seconds
 * optional, 'T' or a space, then Z or an offset) or "@1774746000" into unix
 * seconds.  -1 when malformed (no zone is malformed: a time without one is
 * ambiguous). */
int sched_parse_time(const char *text, int64_t *out);

/* ---- what the store and the records say ---------------------------------------- */

/* The last recorded scheduled fire of a datastore (0 = none). */
int sched_last_fire(store *st, const char *datastore, int64_t *out, mc_error *err);

/* The same, with what rule 7 needs: how many runs of that fire failed (0
 * when one of them succeeded, is partial or is still running) and when the
 * last failed one ended. */
typedef struct sched_history {
    int64_t last_fire, n_failed, failed_at;
} sched_history;
int sched_read_history(store *st, const char *datastore, sched_history *out, mc_error *err);
/* Lays a history over an input (last_fire, n_failed, failed_at). */
void sched_input_history(sched_input *in, const sched_history *h);

/*
 * The first-sight record of a datastore, "<store>.locks/<datastore>.schedule"
 * (one line: "v1 ANCHOR TIMEZONE SCHEDULE").  Gives the anchor for rule 4:
 *  - the record names this schedule and zone: its anchor;
 *  - no record, but the store has scheduled runs (a store from before the
 *    records, or a lost record): 0, the runs say enough;
 *  - otherwise (new datastore, changed schedule or zone): first sight,
 *    sched_first_sight(now), and *first_out is set.
 * With write, a new or changed record is written (atomically, by rename);
 * an unscheduled datastore's record is reset, so scheduling it again later
 * counts as first sight.  Without write nothing is touched (list, next,
 * --dry-run).  expr NULL = not scheduled (anchor 0).
 */
int sched_anchor(const char *store_path, const char *datastore, const cron_expr *expr,
                 const cron_tz *tz, int64_t last_fire, int64_t now, bool write,
                 int64_t *anchor_out, bool *first_out, mc_error *err);

/* ---- staleness (rule 8) ---------------------------------------------------------- */

typedef struct sched_stale {
    bool judged;          /* false: rule 8 does not judge it now */
    bool stale;
    int64_t last_success; /* started_at of its last ok/partial run; 0 = never */
    int64_t deadline;     /* judged: stale from this instant on */
} sched_stale;
/* Rule 8 for entry e, given what the store says of it, at instant now. */
void sched_judge_staleness(const sched_entry *e, const mc_ds_state *s, int64_t now,
                           sched_stale *out);
/* Reads the datastore's state (into *state_out), judges it and records the
 * judgement (store_record_staleness: the outbox rules set on st decide who is
 * alerted).  *event_out is MC_DATASTORE_STALE or MC_DATASTORE_RECOVERED when
 * an event was recorded now, -1 otherwise. */
int sched_check_staleness(store *st, const sched_entry *e, int64_t now, sched_stale *out,
                          mc_ds_state *state_out, int *event_out, mc_error *err);
/* "no successful crawl since 2026-12-01T10:00:00Z (3 schedule periods)". */
void sched_stale_text(const sched_entry *e, const sched_stale *s, char *buf, size_t n);

/* What readers show (history, docs): each configured datastore (only the
 * one named `only`, when not NULL) with the store's state and rule 8's
 * judgement at now, nothing recorded.  t is borrowed (entries point into
 * it).  A datastore the store has no row for is listed with state.known
 * false. */
typedef struct sched_freshness {
    const sched_entry *e;
    mc_ds_state state;
    sched_stale stale;
    char why[160];        /* sched_stale_text when judged stale, else "" */
} sched_freshness;
int sched_freshness_read(const sched_table *t, store *st, const char *only, int64_t now,
                         sched_freshness **out, size_t *n_out, mc_error *err);

/* ---- crawls in worker threads ------------------------------------------------------ */

/*
 * One crawl of one datastore for one fire, run in a thread of its own with
 * its own store handle (SQLite connections are per thread; WAL and the
 * store's busy timeout let them share the file), its own libpq session and
 * tunnel, and its own alert deliveries.  The caller takes the crawl lock
 * and hands it over; sched_job_free releases it.
 */
typedef struct sched_job {
    const cfg *cfg;            /* borrowed: must outlive the job (alerts read it) */
    const cfg_datastore *ds;   /* borrowed, from cfg */
    char *store_path;          /* owned */
    int64_t fire;              /* scheduled_for of the run */
    crawl_lock *lock;          /* owned: released by sched_job_free */
    void *user;                /* the caller's */
    /* set when the job is reaped: */
    crawl_report report;
    mc_buf alerts_json;        /* alerts_put_json of its deliveries ("[]" when none) */
    int alerts_code;           /* highest failed delivery code, 0 */
} sched_job;

sched_job *sched_job_new(const cfg *c, const cfg_datastore *ds, const char *store_path,
                         int64_t fire, crawl_lock *lock);
void sched_job_free(sched_job *j); /* NULL is a no-op */

typedef struct sched_runner sched_runner;
sched_runner *sched_runner_new(void);
/* Frees a runner with no active jobs; NULL is a no-op. */
void sched_runner_free(sched_runner *r);
/* Readable when a job has finished: poll it, then sched_runner_reap. */
int sched_runner_fd(const sched_runner *r);
size_t sched_runner_active(const sched_runner *r);
/* Starts job j in a new thread (SIGHUP, SIGINT and SIGTERM blocked there:
 * they are the main loop's).  On error (no thread) j stays the caller's. */
int sched_runner_start(sched_runner *r, sched_job *j, mc_error *err);
/* A finished job (its thread joined), or NULL when none is ready. */
sched_job *sched_runner_reap(sched_runner *r);

/* ---- the long-running scheduler -------------------------------------------------- */

/*
 * `schedule run`: takes c (already checked; freed at the end) and runs
 * until SIGTERM or SIGINT.  store_override is --store (or NULL).  Returns 0
 * after a clean stop; MC_EXIT_PARTIAL when crawls still running at the end
 * of the shutdown timeout were abandoned (their runs are recorded as failed
 * by the next process that opens the store).
 */
int sched_daemon(cfg *c, const char *store_override);

/* Log lines of the scheduler: on stderr, "<N>" journald priorities first
 * when $JOURNAL_STREAM names stderr (see docs/scheduling.md). */
void sched_log(int level, const char *fmt, ...) MC_PRINTF(2, 3);
/* Whether $JOURNAL_STREAM ("DEV:INODE") names the file on fd. */
bool sched_journal_stream_is(int fd, const char *journal_stream);

/* ---- crontab and systemd units ------------------------------------------------------ */

typedef struct sched_install {
    const char *binary;          /* absolute path of metacrawl */
    const char *config;          /* absolute path of the config */
    const char *store_override;  /* absolute --store, or NULL */
    const char *workdir;         /* absolute: relative paths in the config start here */
    const char *path_env;        /* PATH for cron jobs; NULL = a standard one */
    const char *user;            /* systemd User=; NULL = leave out (root) */
    const char *const *write_dirs; /* ReadWritePaths: the store's directory, ... */
    size_t n_write_dirs;
    const char *const *env_names;  /* variables the config reads (${env:X}) */
    size_t n_env_names;
    int stop_timeout_s;          /* schedule run: shutdown_timeout */
} sched_install;

/* The crontab lines; -1 with err when a path cannot be written in a
 * crontab (a newline in it). */
int sched_crontab_text(mc_buf *b, const sched_install *in, mc_error *err);
/* The oneshot service for run-due (daemon false) or the service for
 * `schedule run` (daemon true), and the timer for the first. */
int sched_systemd_service(mc_buf *b, const sched_install *in, bool as_daemon, mc_error *err);
void sched_systemd_timer(mc_buf *b, const sched_install *in);
#define SCHED_UNIT_RUN_DUE "metacrawl-run-due"
#define SCHED_UNIT_DAEMON "metacrawl-scheduler"


#endif
