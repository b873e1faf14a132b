/*
 * test_schedule.c — the scheduling layer without a server and without time
 * passing: the due computation (first sight, catch-up once, clocks set
 * back and forward, DST), the plan of many datastores, time parsing, the
 * first-sight records, the crawl lock, the config checks with positions,
 * journald detection, and the crontab and systemd texts.  "now" is always a
 * number the test picks.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "schedule.h"

/* ---- helpers --------------------------------------------------------------- */

static int64_t T(const char *iso)
{
    int64_t t = 0;
    cr_assert_eq(sched_parse_time(iso, &t), 0, "cannot parse %s", iso);
    return t;
}

static const char *iso(int64_t t)
{
    static char bufs[8][21];
    static int k;
    char *b = bufs[k++ % 8];
    if (t == CRON_NEVER)
        return strcpy(b, "never");
    mc_time_iso(t, b);
    return b;
}

typedef struct fixture {
    cron_expr *expr;
    cron_tz *tz;
} fixture;

static fixture fx(const char *expr, const char *zone)
{
    fixture f = {0};
    mc_error err = {0};
    cr_assert_eq(cron_parse(expr, &f.expr, &err), 0, "%s: %s", expr, err.message);
    /* the tests' pinned zone data (TZDIR, set by meson), never the machine's */
    cr_assert(getenv("TZDIR") && *getenv("TZDIR"), "TZDIR is not set: run the tests through meson");
    cr_assert_eq(cron_tz_load(zone, &f.tz, &err), 0, "%s: %s", zone, err.message);
    return f;
}

static void fx_free(fixture *f)
{
    cron_free(f->expr);
    cron_tz_free(f->tz);
}

static sched_due compute(const fixture *f, int64_t last_fire, int64_t anchor, int64_t now)
{
    sched_input in = {.expr = f->expr, .tz = f->tz, .last_fire = last_fire, .anchor = anchor};
    sched_due d;
    sched_compute(&in, now, &d);
    return d;
}

static char *tmpdir(void)
{
    char *t = strdup("/tmp/mc-sched-XXXXXX");
    cr_assert(mkdtemp(t));
    return t;
}

/* ---- first sight --------------------------------------------------------------- */

Test(first_sight, anchors_at_the_end_of_the_previous_minute)
{
    cr_assert_eq(sched_first_sight(T("2026-11-21T10:00:20Z")), T("2026-11-21T09:59:59Z"));
    cr_assert_eq(sched_first_sight(T("2026-11-21T10:00:00Z")), T("2026-11-21T09:59:59Z"));
    cr_assert_eq(sched_first_sight(T("2026-11-21T10:00:59Z")), T("2026-11-21T09:59:59Z"));
    /* before 1970 the floor still goes down */
    cr_assert_eq(sched_first_sight(-30), -61);
}

Test(first_sight, the_fire_of_the_current_minute_runs_earlier_ones_do_not)
{
    fixture f = fx("0 * * * *", "UTC");
    int64_t now = T("2026-11-21T10:00:20Z");
    sched_due d = compute(&f, 0, sched_first_sight(now), now);
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T10:00:00Z"));
    cr_assert_eq(d.n_fires, 1);
    cr_assert_eq(d.next, T("2026-11-21T11:00:00Z"));

    /* five minutes later: 10:00 is history, never backfilled */
    now = T("2026-11-21T10:05:00Z");
    d = compute(&f, 0, sched_first_sight(now), now);
    cr_assert_not(d.due);
    cr_assert_eq(d.next, T("2026-11-21T11:00:00Z"), "next %s", iso(d.next));
    fx_free(&f);
}

Test(first_sight, a_new_daily_datastore_waits_for_its_time)
{
    fixture f = fx("@daily", "Europe/Berlin");
    int64_t now = T("2026-11-21T16:49:04Z");
    int64_t anchor = sched_first_sight(now);
    sched_due d = compute(&f, 0, anchor, now);
    cr_assert_not(d.due);
    cr_assert_eq(d.next, T("2026-11-21T23:00:00Z"), "next %s", iso(d.next)); /* midnight CET */
    /* a run-due a minute after that fire crawls it: the anchor stays */
    d = compute(&f, 0, anchor, T("2026-11-21T23:00:40Z"));
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T23:00:00Z"));
    fx_free(&f);
}

/* ---- catch-up -------------------------------------------------------------------- */

Test(catch_up, downtime_is_caught_up_once_with_the_latest_fire)
{
    fixture f = fx("0 * * * *", "UTC");
    int64_t last = T("2026-11-21T10:00:00Z");
    sched_due d = compute(&f, last, 0, T("2026-11-21T15:20:00Z"));
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T15:00:00Z"), "fire %s", iso(d.fire));
    cr_assert_eq(d.first_missed, T("2026-11-21T11:00:00Z"));
    cr_assert_eq(d.n_fires, 5);
    cr_assert_eq(d.next, T("2026-11-21T16:00:00Z"));
    /* once recorded, the missed ones are gone */
    d = compute(&f, d.fire, 0, T("2026-11-21T15:20:00Z"));
    cr_assert_not(d.due);
    cr_assert_eq(d.next, T("2026-11-21T16:00:00Z"));
    fx_free(&f);
}

Test(catch_up, exactly_at_the_fire_it_is_due)
{
    fixture f = fx("*/5 * * * *", "UTC");
    sched_due d = compute(&f, T("2026-11-21T10:00:00Z"), 0, T("2026-11-21T10:05:00Z"));
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T10:05:00Z"));
    d = compute(&f, T("2026-11-21T10:00:00Z"), 0, T("2026-11-21T10:04:59Z"));
    cr_assert_not(d.due);
    cr_assert_eq(d.next, T("2026-11-21T10:05:00Z"));
    fx_free(&f);
}

Test(catch_up, a_year_of_minutes_is_one_crawl_for_the_current_minute)
{
    fixture f = fx("* * * * *", "UTC");
    int64_t now = T("2026-11-21T10:30:20Z");
    sched_due d = compute(&f, T("2025-11-21T10:30:00Z"), 0, now);
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T10:30:00Z"), "fire %s", iso(d.fire));
    cr_assert_eq(d.n_fires, SCHED_COUNT_MAX);
    cr_assert_eq(d.first_missed, T("2025-11-21T10:31:00Z"));
    cr_assert_eq(d.next, T("2026-11-21T10:31:00Z"));
    fx_free(&f);
}

Test(catch_up, the_latest_fire_is_found_beyond_the_first_windows)
{
    /* every minute of hour 0: at noon, the latest fire is 00:59 today,
     * 11 hours back, after more than SCHED_COUNT_MAX missed fires */
    fixture f = fx("* 0 * * *", "UTC");
    sched_due d = compute(&f, T("2026-11-01T00:00:00Z"), 0, T("2026-11-21T12:00:00Z"));
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T00:59:00Z"), "fire %s", iso(d.fire));
    cr_assert_eq(d.n_fires, SCHED_COUNT_MAX);
    cr_assert_eq(d.next, T("2026-11-22T00:00:00Z"), "next %s", iso(d.next));

    /* a leap-day schedule missed for years */
    fixture g = fx("* * 29 2 *", "UTC");
    d = compute(&g, T("2016-02-29T00:00:00Z"), 0, T("2026-11-21T12:00:00Z"));
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2024-02-29T23:59:00Z"), "fire %s", iso(d.fire));
    cr_assert_eq(d.next, T("2028-02-29T00:00:00Z"), "next %s", iso(d.next));
    fx_free(&f);
    fx_free(&g);
}

/* ---- clocks ---------------------------------------------------------------------------- */

Test(clock, set_back_does_not_run_a_fire_again)
{
    fixture f = fx("0 * * * *", "UTC");
    int64_t last = T("2026-11-21T15:00:00Z");
    /* the clock goes back to 14:10: 15:00 was done, nothing until 16:00 */
    sched_due d = compute(&f, last, 0, T("2026-11-21T14:10:00Z"));
    cr_assert_not(d.due);
    cr_assert_eq(d.next, T("2026-11-21T16:00:00Z"), "next %s", iso(d.next));
    d = compute(&f, last, 0, T("2026-11-21T15:00:30Z"));
    cr_assert_not(d.due, "15:00 again after the clock passed it a second time");
    d = compute(&f, last, 0, T("2026-11-21T16:00:05Z"));
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T16:00:00Z"));
    fx_free(&f);
}

Test(clock, set_forward_is_downtime)
{
    fixture f = fx("*/10 * * * *", "UTC");
    sched_due d = compute(&f, T("2026-11-21T10:00:00Z"), 0, T("2026-11-21T13:05:00Z"));
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T13:00:00Z"));
    cr_assert_eq(d.n_fires, 18);
    fx_free(&f);
}

Test(clock, jump_is_wall_progress_minus_monotonic_progress)
{
    cr_assert_float_eq(sched_clock_jump(1000, 50, 1060, 110), 0, 1e-9);
    cr_assert_float_eq(sched_clock_jump(1000, 50, 4660, 110), 3600, 1e-9);
    cr_assert_float_eq(sched_clock_jump(1000, 50, 700, 110), -360, 1e-9);
}

Test(clock, an_anchor_after_the_last_fire_wins)
{
    /* the schedule changed after its last run: no backfill from the old run */
    fixture f = fx("0 */6 * * *", "UTC");
    int64_t last = T("2026-11-20T03:00:00Z");
    int64_t now = T("2026-11-21T10:00:00Z");
    int64_t anchor = sched_first_sight(now);
    cr_assert_eq(sched_base(&(sched_input){.expr = f.expr, .tz = f.tz, .last_fire = last, .anchor = anchor}), anchor);
    sched_due d = compute(&f, last, anchor, now);
    cr_assert_not(d.due);
    cr_assert_eq(d.next, T("2026-11-21T12:00:00Z"));
    fx_free(&f);
}

/* ---- DST (the engine's rules, seen through the scheduler) ------------------------------ */

Test(dst, spring_gap_fixed_time_job_runs_at_the_jump)
{
    fixture f = fx("30 2 * * *", "Europe/Berlin");
    int64_t last = T("2026-03-28T01:30:00Z"); /* 02:30 CET on Saturday */
    sched_due d = compute(&f, last, 0, T("2026-03-29T00:59:00Z"));
    cr_assert_not(d.due);
    cr_assert_eq(d.next, T("2026-03-29T01:00:00Z"), "next %s", iso(d.next)); /* 03:00 CEST */
    d = compute(&f, last, 0, T("2026-03-29T01:00:30Z"));
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-03-29T01:00:00Z"));
    fx_free(&f);
}

Test(dst, autumn_repeat_wildcard_twice_fixed_once)
{
    fixture w = fx("30 * * * *", "Europe/Berlin");
    /* 02:30 CEST (00:30Z) done; 02:30 CET (01:30Z) is the second pass */
    sched_due d = compute(&w, T("2026-10-25T00:30:00Z"), 0, T("2026-10-25T01:30:30Z"));
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-10-25T01:30:00Z"));

    fixture fx2 = fx("30 2 * * *", "Europe/Berlin");
    d = compute(&fx2, T("2026-10-25T00:30:00Z"), 0, T("2026-10-25T01:30:30Z"));
    cr_assert_not(d.due);
    cr_assert_eq(d.next, T("2026-10-26T01:30:00Z"), "next %s", iso(d.next));
    fx_free(&w);
    fx_free(&fx2);
}

Test(dst, southern_half_hour_zone)
{
    fixture f = fx("*/10 * * * *", "Australia/Lord_Howe");
    /* 2026-10-04 02:00 +1030 -> 02:30 +11: 01:50 +1030 is 15:20Z, next 02:30 +11 = 15:30Z */
    sched_due d = compute(&f, T("2026-10-03T15:20:00Z"), 0, T("2026-10-03T15:25:00Z"));
    cr_assert_not(d.due);
    cr_assert_eq(d.next, T("2026-10-03T15:30:00Z"), "next %s", iso(d.next));
    fx_free(&f);
}

/* ---- the plan --------------------------------------------------------------------------- */

Test(plan, due_oldest_first_busy_skipped_wake_is_the_earliest_next)
{
    fixture hourly = fx("0 * * * *", "UTC");
    fixture quarter = fx("*/15 * * * *", "UTC");
    fixture daily = fx("0 3 * * *", "UTC");
    int64_t now = T("2026-11-21T10:20:00Z");
    sched_slot s[5] = {
        {.in = {daily.expr, daily.tz, T("2026-11-20T03:00:00Z"), 0}},    /* due 03:00 */
        {.in = {hourly.expr, hourly.tz, T("2026-11-21T09:00:00Z"), 0}},  /* due 10:00 */
        {.in = {quarter.expr, quarter.tz, T("2026-11-21T10:15:00Z"), 0}},/* next 10:30 */
        {.in = {NULL, NULL, 0, 0}},                                       /* unscheduled */
        {.in = {quarter.expr, quarter.tz, T("2026-11-21T09:00:00Z"), 0}, .busy = true},
    };
    size_t due[5];
    int64_t wake;
    size_t n = sched_plan(s, 5, now, due, &wake);
    cr_assert_eq(n, 2);
    cr_assert_eq(due[0], 0);
    cr_assert_eq(due[1], 1);
    cr_assert_eq(s[0].due.fire, T("2026-11-21T03:00:00Z"));
    cr_assert_eq(s[1].due.fire, T("2026-11-21T10:00:00Z"));
    cr_assert_not(s[4].due.due, "a busy datastore is never due");
    cr_assert_eq(wake, T("2026-11-21T10:30:00Z"), "wake %s", iso(wake));

    /* nothing scheduled at all: never wake for a fire */
    sched_slot none[1] = {{.in = {NULL, NULL, 0, 0}}};
    cr_assert_eq(sched_plan(none, 1, now, due, &wake), 0);
    cr_assert_eq(wake, CRON_NEVER);
    fx_free(&hourly);
    fx_free(&quarter);
    fx_free(&daily);
}

Test(plan, ties_keep_slot_order)
{
    fixture f = fx("0 * * * *", "UTC");
    int64_t now = T("2026-11-21T10:00:10Z");
    sched_slot s[3];
    memset(s, 0, sizeof s);
    for (int i = 0; i < 3; i++)
        s[i].in = (sched_input){.expr = f.expr, .tz = f.tz,
                                .last_fire = T("2026-11-21T09:00:00Z"), .anchor = 0};
    size_t due[3];
    int64_t wake;
    cr_assert_eq(sched_plan(s, 3, now, due, &wake), 3);
    cr_assert(due[0] == 0 && due[1] == 1 && due[2] == 2);
    cr_assert_eq(wake, CRON_NEVER);
    fx_free(&f);
}

/* ---- jitter and starting deadline (rules 5 and 6) ----------------------------------------- */

Test(jitter, the_delay_is_fixed_per_name_and_within_the_bound)
{
    cr_assert_eq(sched_jitter_delay("analytics", 0), 0);
    cr_assert_eq(sched_jitter_delay(NULL, 600), 0);
    /* the same on every run and machine: the value is part of the contract
     * (docs/scheduling.md), so a change of hash shows up here */
    int64_t a = sched_jitter_delay("analytics", 600);
    cr_assert_eq(a, sched_jitter_delay("analytics", 600));
    cr_assert(a >= 0 && a < 600);
    /* fifty datastores on one schedule spread over the window */
    int64_t lo = 600, hi = -1;
    bool seen[10] = {false};
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof name, "warehouse_%02d", i);
        int64_t d = sched_jitter_delay(name, 600);
        cr_assert(d >= 0 && d < 600, "%s: %lld", name, (long long)d);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        seen[d / 60] = true;
    }
    int buckets = 0;
    for (int i = 0; i < 10; i++)
        buckets += seen[i];
    cr_assert_geq(buckets, 7, "50 names fell in only %d of 10 minutes", buckets);
    cr_assert_gt(hi - lo, 400, "spread %lld..%lld", (long long)lo, (long long)hi);
}

Test(jitter, a_fire_starts_late_and_is_recorded_with_its_own_time)
{
    fixture f = fx("0 * * * *", "UTC");
    sched_input in = {.expr = f.expr, .tz = f.tz, .last_fire = T("2026-11-21T09:00:00Z"),
                      .delay = 90};
    sched_due d;
    sched_compute(&in, T("2026-11-21T10:01:00Z"), &d);
    cr_assert_not(d.due, "due 60 s after the fire with a 90 s delay");
    cr_assert_eq(d.next, T("2026-11-21T10:00:00Z"), "next %s", iso(d.next));
    cr_assert_eq(d.wake, T("2026-11-21T10:01:30Z"), "wake %s", iso(d.wake));
    sched_compute(&in, T("2026-11-21T10:01:30Z"), &d);
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T10:00:00Z"), "fire %s", iso(d.fire));
    cr_assert_eq(d.wake, T("2026-11-21T11:01:30Z"), "wake %s", iso(d.wake));

    /* the scheduler wakes at the delayed start, not at the fire */
    sched_slot slot = {.in = in};
    size_t due[1];
    int64_t wake;
    cr_assert_eq(sched_plan(&slot, 1, T("2026-11-21T10:00:30Z"), due, &wake), 0);
    cr_assert_eq(wake, T("2026-11-21T10:01:30Z"), "wake %s", iso(wake));
    fx_free(&f);
}

Test(starting_deadline, a_fire_too_old_is_skipped_not_caught_up)
{
    fixture f = fx("0 * * * *", "UTC");
    sched_input in = {.expr = f.expr, .tz = f.tz, .last_fire = T("2026-11-21T06:00:00Z"),
                      .starting_deadline = 600};
    sched_due d;
    /* back after downtime at 10:05: 10:00 is within 10 minutes, caught up */
    sched_compute(&in, T("2026-11-21T10:05:00Z"), &d);
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T10:00:00Z"));
    cr_assert_eq(d.n_fires, 4);
    cr_assert_eq(d.skipped, 0);
    /* back at 10:20: the latest fire is 20 minutes old, given up */
    sched_compute(&in, T("2026-11-21T10:20:00Z"), &d);
    cr_assert_not(d.due);
    cr_assert_eq(d.skipped, T("2026-11-21T10:00:00Z"), "skipped %s", iso(d.skipped));
    cr_assert_eq(d.n_skipped, 4);
    cr_assert_eq(d.fire, 0);
    cr_assert_eq(d.next, T("2026-11-21T11:00:00Z"));
    /* and the next fire runs as usual, though nothing was recorded */
    sched_compute(&in, T("2026-11-21T11:00:05Z"), &d);
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T11:00:00Z"));
    /* the deadline counts from the delayed start */
    in.delay = 300;
    sched_compute(&in, T("2026-11-21T10:14:00Z"), &d);
    cr_assert(d.due, "9 minutes after the delayed start is within 10");
    /* 0: never too late (the default) */
    in.delay = 0;
    in.starting_deadline = 0;
    sched_compute(&in, T("2026-11-21T23:59:00Z"), &d);
    cr_assert(d.due);
    cr_assert_eq(d.skipped, 0);
    fx_free(&f);
}

Test(retry, a_failed_fire_is_tried_again_with_doubling_backoff)
{
    fixture f = fx("0 * * * *", "UTC");
    sched_input in = {.expr = f.expr, .tz = f.tz, .last_fire = T("2026-11-21T10:00:00Z"),
                      .n_failed = 1, .failed_at = T("2026-11-21T10:00:40Z"),
                      .retry_attempts = 3, .retry_backoff = 60};
    sched_due d;
    /* first retry one backoff after the failure ended */
    sched_compute(&in, T("2026-11-21T10:01:00Z"), &d);
    cr_assert_not(d.due);
    cr_assert_eq(d.wake, T("2026-11-21T10:01:40Z"), "wake %s", iso(d.wake));
    sched_compute(&in, T("2026-11-21T10:01:40Z"), &d);
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T10:00:00Z"));
    cr_assert_eq(d.retry, 1);
    /* the second waits twice as long, the third four times */
    in.n_failed = 2;
    in.failed_at = T("2026-11-21T10:02:00Z");
    sched_compute(&in, T("2026-11-21T10:03:59Z"), &d);
    cr_assert_not(d.due);
    sched_compute(&in, T("2026-11-21T10:04:00Z"), &d);
    cr_assert(d.due);
    cr_assert_eq(d.retry, 2);
    in.n_failed = 3;
    in.failed_at = T("2026-11-21T10:05:00Z");
    sched_compute(&in, T("2026-11-21T10:09:00Z"), &d);
    cr_assert_eq(d.retry, 3);
    /* attempts spent: the next fire, not another retry */
    in.n_failed = 4;
    sched_compute(&in, T("2026-11-21T10:30:00Z"), &d);
    cr_assert_not(d.due);
    cr_assert_eq(d.wake, T("2026-11-21T11:00:00Z"), "wake %s", iso(d.wake));
    /* a newer fire always wins over a retry */
    in.n_failed = 1;
    in.failed_at = T("2026-11-21T10:59:50Z");
    sched_compute(&in, T("2026-11-21T11:00:10Z"), &d);
    cr_assert(d.due);
    cr_assert_eq(d.fire, T("2026-11-21T11:00:00Z"));
    cr_assert_eq(d.retry, 0);
    /* a fire given up by the starting deadline is not retried */
    in.failed_at = T("2026-11-21T10:00:40Z");
    in.starting_deadline = 300;
    sched_compute(&in, T("2026-11-21T10:06:00Z"), &d);
    cr_assert_not(d.due);
    /* no retry: configured off, or the fire succeeded (n_failed 0) */
    in.starting_deadline = 0;
    in.retry_attempts = 0;
    sched_compute(&in, T("2026-11-21T10:06:00Z"), &d);
    cr_assert_not(d.due);
    in.retry_attempts = 3;
    in.n_failed = 0;
    sched_compute(&in, T("2026-11-21T10:06:00Z"), &d);
    cr_assert_not(d.due);
    fx_free(&f);
}

/* ---- time parsing ------------------------------------------------------------------------- */

/* ---- rule 8: staleness, with a made-up clock ------------------------------- */

static sched_stale judge(const fixture *f, int stale_after_s, int64_t delay,
                         const mc_ds_state *st, int64_t now)
{
    static cfg_datastore ds;
    static char name[] = "dw";
    memset(&ds, 0, sizeof ds);
    ds.name = name;
    ds.stale_after_s = stale_after_s;
    sched_entry e = {.ds = &ds, .expr = f ? f->expr : NULL, .tz = f ? f->tz : NULL,
                     .delay = delay};
    sched_stale out;
    sched_judge_staleness(&e, st, now, &out);
    return out;
}

Test(stale, three_hourly_fires_without_success_make_it_stale)
{
    fixture f = fx("0 * * * *", "UTC");
    mc_ds_state st = {.known = true, .n_runs = 5, .first_run_at = T("2026-11-01T00:00:00Z"),
                      .last_run_id = 5, .last_success_id = 4,
                      .last_success_at = T("2026-11-21T10:00:05Z")};
    sched_stale s = judge(&f, -1, 0, &st, T("2026-11-21T12:59:59Z"));
    cr_assert(s.judged);
    cr_assert_not(s.stale, "two fires missed are not three");
    cr_assert_eq(s.deadline, T("2026-11-21T13:00:00Z"), "deadline %s", iso(s.deadline));
    cr_assert_eq(s.last_success, T("2026-11-21T10:00:05Z"));
    s = judge(&f, -1, 0, &st, T("2026-11-21T13:00:00Z"));
    cr_assert(s.stale);
    /* the third fire's crawl starts with its jitter delay */
    s = judge(&f, -1, 90, &st, T("2026-11-21T13:01:00Z"));
    cr_assert_not(s.stale);
    cr_assert_eq(s.deadline, T("2026-11-21T13:01:30Z"), "deadline %s", iso(s.deadline));
    /* a weekday schedule counts fires, not hours: Friday's success is
     * fresh until Wednesday's fire */
    fixture w = fx("0 9 * * 1-5", "Europe/Berlin");
    st.last_success_at = T("2026-11-20T08:00:10Z"); /* Friday 09:00 in Berlin */
    s = judge(&w, -1, 0, &st, T("2026-11-25T07:59:59Z"));
    cr_assert_not(s.stale);
    cr_assert_eq(s.deadline, T("2026-11-25T08:00:00Z"), "deadline %s", iso(s.deadline));
    fx_free(&w);
    fx_free(&f);
}

Test(stale, explicit_stale_after_and_never_succeeded)
{
    fixture f = fx("*/5 * * * *", "UTC");
    mc_ds_state st = {.known = true, .n_runs = 2, .first_run_at = T("2026-11-21T10:00:00Z"),
                      .last_run_id = 2, .last_success_id = 1,
                      .last_success_at = T("2026-11-21T10:00:00Z")};
    sched_stale s = judge(&f, 7200, 0, &st, T("2026-11-21T11:59:59Z"));
    cr_assert(s.judged);
    cr_assert_not(s.stale);
    s = judge(&f, 7200, 0, &st, T("2026-11-21T12:00:00Z"));
    cr_assert(s.stale);
    /* without a schedule only an explicit stale_after judges */
    s = judge(NULL, 7200, 0, &st, T("2026-11-21T12:00:00Z"));
    cr_assert(s.judged && s.stale);
    s = judge(NULL, -1, 0, &st, T("2026-11-22T12:00:00Z"));
    cr_assert_not(s.judged);
    /* never crawled successfully: counted from the first attempt */
    mc_ds_state never = {.known = true, .n_runs = 3, .first_run_at = T("2026-11-21T10:00:00Z"),
                         .last_run_id = 3};
    s = judge(&f, -1, 0, &never, T("2026-11-21T10:14:59Z"));
    cr_assert_not(s.stale);
    cr_assert_eq(s.last_success, 0);
    s = judge(&f, -1, 0, &never, T("2026-11-21T10:15:00Z"));
    cr_assert(s.stale);
    fx_free(&f);
}

Test(stale, not_judged_when_nothing_can_be_said)
{
    fixture f = fx("0 * * * *", "UTC");
    int64_t late = T("2026-12-21T10:00:00Z");
    mc_ds_state st = {.known = true, .n_runs = 1, .first_run_at = T("2026-11-21T10:00:00Z"),
                      .last_run_id = 1, .last_success_id = 1,
                      .last_success_at = T("2026-11-21T10:00:00Z")};
    cr_assert(judge(&f, -1, 0, &st, late).stale);
    mc_ds_state x = st;
    x.paused_at = 1;
    cr_assert_not(judge(&f, -1, 0, &x, late).judged, "paused");
    x = st;
    x.running = true;
    cr_assert_not(judge(&f, -1, 0, &x, late).judged, "being crawled");
    cr_assert_not(judge(&f, 0, 0, &st, late).judged, "stale_after: 0");
    mc_ds_state none = {.known = true};
    cr_assert_not(judge(&f, -1, 0, &none, late).judged, "no run yet");
    fx_free(&f);
}

Test(parse_time, forms)
{
    int64_t t;
    cr_assert_eq(sched_parse_time("2026-03-29T01:00:00Z", &t), 0);
    cr_assert_eq(t, 1774746000);
    cr_assert_eq(sched_parse_time("2026-03-29 03:00+02:00", &t), 0);
    cr_assert_eq(t, 1774746000);
    cr_assert_eq(sched_parse_time("2026-03-29T03:00:00+0200", &t), 0);
    cr_assert_eq(t, 1774746000);
    cr_assert_eq(sched_parse_time("2026-03-28T20:00-05", &t), 0);
    cr_assert_eq(t, 1774746000);
    cr_assert_eq(sched_parse_time("@1774746000", &t), 0);
    cr_assert_eq(t, 1774746000);
    cr_assert_eq(sched_parse_time("2024-02-29T00:00Z", &t), 0);
    cr_assert_eq(sched_parse_time("1969-12-31T23:59:59Z", &t), 0);
    cr_assert_eq(t, -1);
    const char *bad[] = {"", "2026-03-29", "2026-03-29T01:00", "2026-03-29T01:00:00",
                         "2026-02-29T00:00Z", "2026-13-01T00:00Z", "2026-04-31T00:00Z",
                         "2026-03-29T24:00Z", "2026-03-29T01:60Z", "2026-3-29T01:00Z",
                         "2026-03-29T01:00Zjunk", "@", "@12x", "tomorrow",
                         "2026-03-29T01:00+25:00", NULL};
    for (int i = 0; bad[i]; i++)
        cr_assert_eq(sched_parse_time(bad[i], &t), -1, "'%s' was accepted", bad[i]);
}

/* ---- first-sight records ---------------------------------------------------------------- */

Test(record, first_sight_is_remembered_changes_re_anchor)
{
    char *dir = tmpdir();
    char *sp = NULL;
    cr_assert(asprintf(&sp, "%s/catalog.db", dir) > 0);
    fixture f = fx("0 */6 * * *", "Europe/Berlin");
    fixture g = fx("0 */2 * * *", "Europe/Berlin");
    mc_error err = {0};
    int64_t anchor;
    bool first;
    int64_t t1 = T("2026-11-21T10:00:30Z");

    /* read-only: first sight, nothing written */
    cr_assert_eq(sched_anchor(sp, "a", f.expr, f.tz, 0, t1, false, &anchor, &first, &err), 0);
    cr_assert(first);
    cr_assert_eq(anchor, sched_first_sight(t1));
    char *rec = NULL;
    cr_assert(asprintf(&rec, "%s.locks/a.schedule", sp) > 0);
    cr_assert_neq(access(rec, F_OK), 0, "a read-only look wrote the record");

    /* writing: remembered, later looks give the same anchor */
    cr_assert_eq(sched_anchor(sp, "a", f.expr, f.tz, 0, t1, true, &anchor, &first, &err), 0,
                 "%s", err.message);
    cr_assert(first);
    struct stat sb;
    cr_assert_eq(stat(rec, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    int64_t t2 = T("2026-11-22T10:00:00Z");
    cr_assert_eq(sched_anchor(sp, "a", f.expr, f.tz, 0, t2, true, &anchor, &first, &err), 0);
    cr_assert_not(first);
    cr_assert_eq(anchor, sched_first_sight(t1));

    /* a changed schedule is a first sight again */
    cr_assert_eq(sched_anchor(sp, "a", g.expr, g.tz, 0, t2, true, &anchor, &first, &err), 0);
    cr_assert(first);
    cr_assert_eq(anchor, sched_first_sight(t2));

    /* unscheduled, then scheduled again: first sight (no catch-up of the gap) */
    cr_assert_eq(sched_anchor(sp, "a", NULL, NULL, 0, t2, true, &anchor, &first, &err), 0);
    cr_assert_eq(anchor, 0);
    int64_t t3 = T("2026-12-01T00:00:00Z");
    cr_assert_eq(sched_anchor(sp, "a", g.expr, g.tz, T("2026-11-22T10:00:00Z"), t3, true,
                              &anchor, &first, &err), 0);
    cr_assert(first);
    cr_assert_eq(anchor, sched_first_sight(t3));

    /* no record but scheduled runs in the sp: the runs decide */
    cr_assert_eq(sched_anchor(sp, "b", f.expr, f.tz, T("2026-11-20T00:00:00Z"), t3, true,
                              &anchor, &first, &err), 0);
    cr_assert_not(first);
    cr_assert_eq(anchor, 0);

    /* a damaged record counts as a change */
    FILE *fp = fopen(rec, "w");
    fputs("garbage\n", fp);
    fclose(fp);
    cr_assert_eq(sched_anchor(sp, "a", g.expr, g.tz, 0, t3, true, &anchor, &first, &err), 0);
    cr_assert(first);
    fx_free(&f);
    fx_free(&g);
    free(rec);
    free(sp);
    free(dir);
}

/* ---- the crawl lock ------------------------------------------------------------------------ */

Test(lock, second_taker_is_told_who_holds_it)
{
    char *dir = tmpdir();
    char *sp = NULL;
    cr_assert(asprintf(&sp, "%s/catalog.db", dir) > 0);
    mc_error err = {0};
    crawl_lock *a = NULL, *b = NULL;
    crawl_lock_holder h;
    cr_assert_not(crawl_lock_peek(sp, "ds1", &h));
    cr_assert_eq(crawl_lock_try(sp, "ds1", "run-due", &a, &h, &err), 0, "%s", err.message);
    cr_assert(a);
    /* a second open file description excludes like another process */
    cr_assert_eq(crawl_lock_try(sp, "ds1", "crawl", &b, &h, &err), 0);
    cr_assert_null(b);
    cr_assert_eq(h.pid, (long)getpid());
    cr_assert_str_eq(h.command, "run-due");
    cr_assert_gt(h.since, 0);
    char who[192];
    crawl_lock_describe(&h, who, sizeof who);
    cr_assert(strstr(who, "run-due"), "%s", who);
    cr_assert(crawl_lock_peek(sp, "ds1", NULL));
    /* other datastores are independent */
    cr_assert_eq(crawl_lock_try(sp, "ds2", "crawl", &b, NULL, &err), 0);
    cr_assert(b);
    crawl_lock_release(b);
    crawl_lock_release(a);
    cr_assert_not(crawl_lock_peek(sp, "ds1", NULL));
    cr_assert_eq(crawl_lock_try(sp, "ds1", "crawl", &b, NULL, &err), 0);
    cr_assert(b);
    crawl_lock_release(b);
    crawl_lock_release(NULL);

    struct stat sb;
    char *locks = crawl_lock_dir(sp);
    cr_assert_eq(stat(locks, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0700);
    free(locks);
    free(sp);
    free(dir);
}

Test(lock, unusable_places_are_store_errors)
{
    mc_error err = {0};
    crawl_lock *l = NULL;
    cr_assert_eq(crawl_lock_try("/nonexistent-dir/x/catalog.db", "ds", "crawl", &l, NULL, &err),
                 -1);
    cr_assert_null(l);
    cr_assert_eq(err.code, MC_EXIT_STORE);
    mc_error_clear(&err);
    cr_assert_eq(crawl_lock_try("/tmp/catalog.db", "../evil", "crawl", &l, NULL, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_STORE);
}

/* ---- config checks ------------------------------------------------------------------------------ */

static int check_text(const char *text, mc_error *err)
{
    cfg *c = NULL;
    if (cfg_load_string("t.yml", text, strlen(text), &c, err) != 0)
        return -2;
    int rc = sched_check_config(c, err);
    cfg_free(c);
    return rc;
}

#define DS_HEAD "datastores:\n  - name: a\n    host: h\n    database: d\n"

Test(check, good_schedules_and_zones_pass)
{
    mc_error err = {0};
    cr_assert_eq(check_text("defaults:\n  timezone: Europe/Berlin\n" DS_HEAD
                            "    schedule: \"*/15 * * * *\"\n"
                            "  - name: b\n    host: h\n    database: d\n"
                            "    schedule: '@daily'\n    timezone: Australia/Sydney\n"
                            "  - name: c\n    host: h\n    database: d\n",
                            &err),
                 0, "%s", err.message);
}

Test(check, bad_expression_points_at_the_token_in_the_file)
{
    mc_error err = {0};
    /* line 5, value quoted at column 15: the expression starts at 16 and
     * "30" is its 5th character, so column 20 */
    cr_assert_eq(check_text(DS_HEAD "    schedule: \"0 0 30 2 *\"\n", &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    cr_assert(strncmp(err.message, "t.yml:5:20: datastore 'a': schedule: ", 37) == 0, "%s",
              err.message);
    cr_assert(strstr(err.message, "never occurs"), "%s", err.message);

    /* plain scalar: no quote to step over */
    mc_error_clear(&err);
    cr_assert_eq(check_text(DS_HEAD "    schedule: 0 0 * * monday\n", &err), -1);
    cr_assert(strncmp(err.message, "t.yml:5:23: ", 12) == 0, "%s", err.message);

    mc_error_clear(&err);
    cr_assert_eq(check_text(DS_HEAD "    schedule: '0 0 12 * * ?'\n", &err), -1);
    cr_assert(strncmp(err.message, "t.yml:5:", 8) == 0, "%s", err.message);
    cr_assert(err.hint[0], "no hint");
}

Test(check, unknown_zones_are_config_errors)
{
    mc_error err = {0};
    cr_assert_eq(check_text(DS_HEAD "    timezone: Europe/Berln\n", &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    /* the value's own position (issue 13) */
    cr_assert(strncmp(err.message, "t.yml:5:15: datastore 'a': timezone: ", 37) == 0, "%s",
              err.message);
    cr_assert(strstr(err.message, "Europe/Berln"), "%s", err.message);

    mc_error_clear(&err);
    cr_assert_eq(check_text("defaults:\n  timezone: Mars/Olympus\n" DS_HEAD, &err), -1);
    cr_assert(strncmp(err.message, "t.yml:2:13: defaults: timezone: ", 32) == 0, "%s",
              err.message);

    /* even for an unscheduled datastore: glibc would have said UTC */
    mc_error_clear(&err);
    cr_assert_eq(check_text(DS_HEAD "    timezone: ../../etc/passwd\n", &err), -1);
}

Test(check, scheduler_keys_have_defaults_and_limits)
{
    cfg *c = NULL;
    mc_error err = {0};
    const char *t1 = DS_HEAD;
    cr_assert_eq(cfg_load_string("t.yml", t1, strlen(t1), &c, &err), 0, "%s", err.message);
    cr_assert_eq(c->sched_max_parallel, 2);
    cr_assert_eq(c->sched_shutdown_timeout_s, 300);
    cfg_free(c);
    const char *t2 = "scheduler:\n  max_parallel: 4\n  shutdown_timeout: 30s\n" DS_HEAD;
    cr_assert_eq(cfg_load_string("t.yml", t2, strlen(t2), &c, &err), 0, "%s", err.message);
    cr_assert_eq(c->sched_max_parallel, 4);
    cr_assert_eq(c->sched_shutdown_timeout_s, 30);
    cfg_free(c);
    const char *t3 = "scheduler:\n  max_parallel: 0\n" DS_HEAD;
    cr_assert_neq(cfg_load_string("t.yml", t3, strlen(t3), &c, &err), 0);
    mc_error_clear(&err);
    const char *t4 = "scheduler:\n  max_paralel: 3\n" DS_HEAD;
    cr_assert_neq(cfg_load_string("t.yml", t4, strlen(t4), &c, &err), 0);
    cr_assert(strstr(err.hint, "max_parallel"), "%s / %s", err.message, err.hint);
}

/* ---- journald ------------------------------------------------------------------------------------ */

Test(journal, stream_matches_only_the_same_file)
{
    char path[] = "/tmp/mc-journal-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    struct stat sb;
    cr_assert_eq(fstat(fd, &sb), 0);
    char js[64];
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)sb.st_dev,
             (unsigned long long)sb.st_ino);
    cr_assert(sched_journal_stream_is(fd, js));
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)sb.st_dev,
             (unsigned long long)sb.st_ino + 1);
    cr_assert_not(sched_journal_stream_is(fd, js));
    cr_assert_not(sched_journal_stream_is(fd, NULL));
    cr_assert_not(sched_journal_stream_is(fd, ""));
    cr_assert_not(sched_journal_stream_is(fd, "12:34x"));
    cr_assert_not(sched_journal_stream_is(fd, "garbage"));
    close(fd);
    unlink(path);
}

/* ---- crontab and systemd texts --------------------------------------------------------------------- */

static const char *const some_env[] = {"RS_PW", "BASTION_PASS"};

static sched_install install(const char *const *dirs, size_t n_dirs)
{
    sched_install in = {
        .binary = "/usr/bin/metacrawl",
        .config = "/etc/metacrawl/it's 100%.yml",
        .workdir = "/var/lib/metacrawl",
        .path_env = "/usr/local/bin:/usr/bin:/usr/local/bin:/bin",
        .user = "metacrawl",
        .write_dirs = dirs,
        .n_write_dirs = n_dirs,
        .env_names = some_env,
        .n_env_names = 2,
        .stop_timeout_s = 300,
    };
    return in;
}

Test(install_text, crontab_quotes_for_sh_and_cron)
{
    const char *dirs[] = {"/var/lib/metacrawl"};
    sched_install in = install(dirs, 1);
    mc_buf b = {0};
    mc_error err = {0};
    cr_assert_eq(sched_crontab_text(&b, &in, &err), 0);
    const char *t = mc_buf_str(&b);
    cr_assert(strstr(t, "\nPATH=/usr/local/bin:/usr/bin:/bin\n"), "%s", t);
    cr_assert(strstr(t, "\n* * * * * cd '/var/lib/metacrawl' && exec '/usr/bin/metacrawl' -q -c "
                        "'/etc/metacrawl/it'\\''s 100\\%.yml' run-due\n"),
              "%s", t);
    cr_assert(strstr(t, "${env:RS_PW}, ${env:BASTION_PASS}"), "%s", t);
    /* every line is a comment, an assignment or the job */
    for (const char *line = t; *line;) {
        size_t n = strcspn(line, "\n");
        cr_assert(line[0] == '#' || strncmp(line, "PATH=", 5) == 0 ||
                      strncmp(line, "* * * * * ", 10) == 0,
                  "odd line: %.*s", (int)n, line);
        line += n + (line[n] == '\n');
    }
    mc_buf_free(&b);

    in.store_override = "/srv/cat alog.db";
    cr_assert_eq(sched_crontab_text(&b, &in, &err), 0);
    cr_assert(strstr(mc_buf_str(&b), " --store '/srv/cat alog.db' run-due\n"));
    mc_buf_free(&b);

    in.config = "/etc/bad\nline.yml";
    cr_assert_eq(sched_crontab_text(&b, &in, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_USAGE);
    mc_buf_free(&b);
}

Test(install_text, systemd_oneshot_and_timer)
{
    const char *dirs[] = {"/var", "/nonexistent/log dir"};
    sched_install in = install(dirs, 2);
    mc_buf b = {0};
    mc_error err = {0};
    cr_assert_eq(sched_systemd_service(&b, &in, false, &err), 0);
    const char *t = mc_buf_str(&b);
    cr_assert(strstr(t, "\nType=oneshot\n"));
    cr_assert(strstr(t, "\nTimeoutStartSec=infinity\n"), "a oneshot must not die after 90 s");
    cr_assert(strstr(t, "\nUser=metacrawl\n"));
    cr_assert(strstr(t, "\nWorkingDirectory=/var/lib/metacrawl\n"));
    cr_assert(strstr(t, "\nExecStart=/usr/bin/metacrawl -c \"/etc/metacrawl/it's 100%%.yml\" "
                        "run-due\n"),
              "%s", t);
    cr_assert(strstr(t, "\nNoNewPrivileges=yes\n"));
    cr_assert(strstr(t, "\nProtectSystem=strict\n"));
    cr_assert(strstr(t, "\nPrivateTmp=yes\n"));
    cr_assert(strstr(t, "\nReadWritePaths=/var \"-/nonexistent/log dir\"\n"), "%s",
              t);
    cr_assert_null(strstr(t, "[Install]"), "the service is started by the timer");
    mc_buf_free(&b);

    sched_systemd_timer(&b, &in);
    t = mc_buf_str(&b);
    cr_assert(strstr(t, "\nOnCalendar=*-*-* *:*:00\n"));
    cr_assert(strstr(t, "\nAccuracySec=1s\n"));
    cr_assert(strstr(t, "\nUnit=" SCHED_UNIT_RUN_DUE ".service\n"));
    cr_assert(strstr(t, "\nWantedBy=timers.target\n"));
    cr_assert_null(strstr(t, "\nPersistent="), "run-due catches up by itself");
    mc_buf_free(&b);
}

Test(install_text, systemd_scheduler_service)
{
    const char *dirs[] = {"/tmp/x"};
    sched_install in = install(dirs, 1);
    in.user = NULL;
    in.store_override = "/tmp/x/c$at.db";
    mc_buf b = {0};
    mc_error err = {0};
    cr_assert_eq(sched_systemd_service(&b, &in, true, &err), 0);
    const char *t = mc_buf_str(&b);
    cr_assert(strstr(t, "\nType=exec\n"));
    cr_assert(strstr(t, "--store /tmp/x/c$$at.db schedule run\n"), "%s", t);
    cr_assert(strstr(t, "\nExecReload=/bin/kill -HUP $MAINPID\n"));
    cr_assert(strstr(t, "\nKillMode=mixed\n"));
    cr_assert(strstr(t, "\nTimeoutStopSec=330\n"));
    cr_assert(strstr(t, "\nRestartPreventExitStatus=2 3\n"));
    cr_assert(strstr(t, "\n#PrivateTmp=yes\n"), "files under /tmp: no PrivateTmp\n%s", t);
    cr_assert(strstr(t, "\n# User=metacrawl"));
    cr_assert(strstr(t, "\nWantedBy=multi-user.target\n"));
    mc_buf_free(&b);
}
