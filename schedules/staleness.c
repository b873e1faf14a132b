/*
 * staleness.c — rules 8 and 9 of schedule.h: whether a datastore is stale,
 * recording the judgement once per change (datastore_stale,
 * datastore_recovered), and pause.
 *
 * The judgement is a pure function of (the datastore's schedule and
 * stale_after, what the store says of its runs, now), so the unit tests
 * drive it with made-up clocks; run-due, `schedule run` and `history` all
 * use it.  Recording goes through store_record_staleness, which writes an
 * event only when the judged state differs from the recorded one: judging
 * every minute alerts once when a datastore goes stale and once when it
 * recovers.
 */
#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The default stale_after, in schedule periods: a datastore is stale when
 * this many fires have passed since its last successful crawl. */
#define STALE_PERIODS 3

void sched_judge_staleness(const sched_entry *e, const mc_ds_state *s, int64_t now,
                           sched_stale *out)
{
    memset(out, 0, sizeof *out);
    out->last_success = s->last_success_id ? s->last_success_at : 0;
    int64_t after = e->ds->stale_after_s;
    if (!s->known || s->n_runs == 0 || s->paused_at || s->running || after == 0)
        return;
    /* From the last successful crawl; a datastore never crawled successfully
     * is judged from its first attempt. */
    int64_t ref = s->last_success_id ? s->last_success_at : s->first_run_at;
    if (after > 0) {
        out->deadline = ref + after;
    } else {
        if (!e->expr)
            return; /* no schedule, no period: only an explicit stale_after */
        int64_t t = ref;
        for (int i = 0; i < STALE_PERIODS && t != CRON_NEVER; i++)
            t = cron_next(e->expr, e->tz, t);
        if (t == CRON_NEVER)
            return;
        /* the third fire's crawl starts `delay` late (rule 5) */
        out->deadline = t + e->delay;
    }
    out->judged = true;
    out->stale = now >= out->deadline;
}

int sched_check_staleness(store *st, const sched_entry *e, int64_t now, sched_stale *out,
                          mc_ds_state *state_out, int *event_out, mc_error *err)
{
    *event_out = -1;
    memset(out, 0, sizeof *out);
    if (store_datastore_state(st, e->ds->name, state_out, err) != 0)
        return -1;
    sched_judge_staleness(e, state_out, now, out);
    if (!out->judged)
        return 0;
    bool recorded = false;
    if (store_record_staleness(st, e->ds->name, out->stale, now, out->last_success, &recorded,
                               err) != 0)
        return -1;
    if (recorded)
        *event_out = out->stale ? MC_DATASTORE_STALE : MC_DATASTORE_RECOVERED;
    return 0;
}

void sched_stale_text(const sched_entry *e, const sched_stale *s, char *buf, size_t n)
{
    char when[21], limit[48];
    if (e->ds->stale_after_s > 0)
        snprintf(limit, sizeof limit, "stale_after %llds", (long long)e->ds->stale_after_s);
    else
        snprintf(limit, sizeof limit, "%d schedule periods", STALE_PERIODS);
    if (s->last_success) {
        mc_time_iso(s->last_success, when);
        snprintf(buf, n, "no successful crawl since %s (%s)", when, limit);
    } else {
        snprintf(buf, n, "never crawled successfully (%s)", limit);
    }
}

int sched_freshness_read(const sched_table *t, store *st, const char *only, int64_t now,
                         sched_freshness **out, size_t *n_out, mc_error *err)
{
    *out = NULL;
    *n_out = 0;
    sched_freshness *v = mc_calloc(t->n + 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const sched_entry *e = &t->entries[i];
        if (only && strcmp(only, e->ds->name) != 0)
            continue;
        sched_freshness *f = &v[n++];
        f->e = e;
        if (store_datastore_state(st, e->ds->name, &f->state, err) != 0) {
            free(v);
            return -1;
        }
        sched_judge_staleness(e, &f->state, now, &f->stale);
        if (f->stale.judged && f->stale.stale)
            sched_stale_text(e, &f->stale, f->why, sizeof f->why);
    }
    *out = v;
    *n_out = n;
    return 0;
}
