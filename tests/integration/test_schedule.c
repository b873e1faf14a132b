/*
 * test_schedule.c — run-due and `schedule run` against a real PostgreSQL:
 * first sight without backfill, catch-up once after downtime, a datastore
 * added later, two concurrent run-dues (one crawls, one says locked), crawl
 * and run-due sharing the lock, the exit code of several crawls, the
 * scheduler crawling, reloading on SIGHUP (a bad config kept out, a good one
 * taken) and stopping on SIGTERM while a crawl runs, the shutdown timeout,
 * journald priorities, and the crontab and systemd texts (the crontab line
 * is run as cron would run it).
 *
 * run-due takes --now, so "downtime" is a jump in the times the test
 * passes, not a wait.  The scheduler uses the real clock: a "* * * * *"
 * schedule seen for the first time is due at once (the fire of the current
 * minute), so its tests do not wait for a minute to turn.  A crawl is made
 * slow where a test needs one running, by a password_command that waits for
 * a file the test creates when it is done looking.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

/* ---- helpers ----------------------------------------------------------------- */

typedef struct fixture {
    char *dir, *db, *cfg, *store;
} fixture;

static fixture setup(const char *prefix)
{
    fixture f;
    f.dir = itest_tmpdir();
    f.db = itest_create_db(prefix);
    PGconn *c = itest_connect(f.db);
    itest_sql(c, "CREATE TABLE public.orders (id int PRIMARY KEY, amount int)");
    PQfinish(c);
    f.cfg = itest_strf("%s/metacrawl.yml", f.dir);
    f.store = itest_strf("%s/catalog.db", f.dir);
    return f;
}

/* One datastore's YAML.  gated: its password comes from a command that
 * waits until the test creates DIR/release (at most 25 s, within the 30 s
 * metacrawl gives a password_command), so its crawl stays running, and
 * locked, exactly as long as the test wants.  port 0: the harness server. */
static char *ds_yaml(const fixture *f, const char *name, const char *schedule, bool gated,
                     int port)
{
    char *pw = gated
                   ? itest_strf("    password_command: [sh, -c, 'i=0; while [ ! -e %s/release ] "
                                "&& [ $i -lt 250 ]; do sleep 0.1; i=$((i+1)); done; printf %%s "
                                "\"$MC_TEST_DS_PASSWORD\"']\n",
                                f->dir)
                   : itest_strf("    password: ${env:MC_TEST_DS_PASSWORD}\n");
    char *sched = schedule ? itest_strf("    schedule: \"%s\"\n    timezone: UTC\n", schedule)
                           : itest_strf("%s", "");
    char *port_s = port ? itest_strf("%d", port) : itest_strf("%s", itest_env("MC_TEST_PGPORT"));
    return itest_strf("  - name: %s\n    host: %s\n    port: %s\n    database: %s\n"
                      "    user: %s\n    sslmode: disable\n    connect_timeout: 5s\n%s%s",
                      name, itest_env("MC_TEST_PGHOST"), port_s, f->db,
                      itest_env("MC_TEST_PGUSER"), pw, sched);
}

/* Lets the gated crawls go on (and the ones started later), or holds them. */
static void release(const fixture *f)
{
    char *p = itest_strf("%s/release", f->dir);
    itest_write_file(p, "");
    free(p);
}

static void hold(const fixture *f)
{
    char *p = itest_strf("%s/release", f->dir);
    unlink(p);
    free(p);
}

/* The config: store, scheduler settings (may be ""), the datastores. */
static void write_cfg(const fixture *f, const char *scheduler_yaml, const char *datastores)
{
    char *text = itest_strf("store: %s\n%sdatastores:\n%s", f->store,
                            scheduler_yaml ? scheduler_yaml : "", datastores);
    itest_write_file(f->cfg, text);
    free(text);
}

static const char *const *env(void)
{
    static char *e[2];
    e[0] = itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD"));
    e[1] = NULL;
    return (const char *const *)e;
}

static itest_result mc(const fixture *f, const char *a1, const char *a2, const char *a3,
                       const char *a4, const char *a5)
{
    const char *argv[] = {"-c", f->cfg, a1, a2, a3, a4, a5, NULL};
    return itest_run(argv, env(), NULL);
}

/* run-due --json --now NOW [DS]: the parsed document; checks the exit.
 * run-due refuses a --now later than the clock (a run would be recorded for a
 * fire that has not happened), so the instants here are in 2015, which no
 * test machine's clock is before, and whose calendar is 2026's (1 January a
 * Thursday, not a leap year) in case a schedule ever depends on the weekday. */
static json_t *run_due(const fixture *f, const char *now, int want_status)
{
    char *opt = now ? itest_strf("--now=%s", now) : NULL;   /* NULL: the clock */
    itest_result r = mc(f, "run-due", "--json", opt, NULL, NULL);
    cr_assert_eq(r.status, want_status, "run-due --now %s exited %d, wanted %d\nstdout: %s\n"
                 "stderr: %s", now, r.status, want_status, r.out, r.err);
    return itest_parse_json(r.out);
}

static json_t *item(json_t *doc, const char *name)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(doc, "datastores"), i, d) {
        if (strcmp(json_string_value(json_object_get(d, "datastore")), name) == 0)
            return d;
    }
    cr_assert_fail("no datastore %s in %s", name, json_dumps(doc, 0));
    return NULL;
}

static const char *action(json_t *doc, const char *name)
{
    return json_string_value(json_object_get(item(doc, name), "action"));
}

static const char *utc_of(json_t *d, const char *key)
{
    return json_string_value(json_object_get(json_object_get(d, key), "utc"));
}

/* "datastore@scheduled_for(ISO)/status,..." of every scheduled run, by
 * fire and name (parallel crawls record their runs in any order). */
static char *scheduled_runs(const fixture *f)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open_v2(f->store, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT d.name, strftime('%Y-%m-%dT%H:%M:%SZ', "
                                    "r.scheduled_for, 'unixepoch'), r.status FROM runs r JOIN "
                                    "datastores d ON d.id = r.datastore_id WHERE "
                                    "r.scheduled_for IS NOT NULL AND r.scheduled_for > 0 "
                                    "ORDER BY r.scheduled_for, d.name",
                                    -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    char *out = itest_strf("%s", "");
    while (sqlite3_step(st) == SQLITE_ROW) {
        char *n = itest_strf("%s%s%s@%s/%s", out, *out ? "," : "",
                             (const char *)sqlite3_column_text(st, 0),
                             (const char *)sqlite3_column_text(st, 1),
                             (const char *)sqlite3_column_text(st, 2));
        free(out);
        out = n;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until the file contains needle (count times); fails after limit s. */
static void wait_for(const char *path, const char *needle, int count, int limit)
{
    double end = now_s() + limit;
    for (;;) {
        char *text = NULL;
        FILE *fp = fopen(path, "r");
        if (fp) {
            fclose(fp);
            text = itest_read_file(path);
        }
        int n = 0;
        for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p++)
            n++;
        if (n >= count) {
            free(text);
            return;
        }
        if (now_s() > end)
            cr_assert_fail("no '%s' (x%d) in %s within %ds:\n%s", needle, count, path, limit,
                           text ? text : "(no file)");
        free(text);
        pause_ms(50);
    }
}

/* Waits until the datastore's crawl lock is held (its holder record filled). */
static void wait_locked(const fixture *f, const char *ds)
{
    char *path = itest_strf("%s.locks/%s.lock", f->store, ds);
    wait_for(path, "pid=", 1, 30);
    free(path);
}

/* ---- run-due ------------------------------------------------------------------ */

/* Rule 7 through run-due, on the real clock (a run's end is real time): a
 * crawl that fails is retried after its backoff, as many times as
 * retry.attempts says, then left to the next fire. */
Test(run_due, a_failed_crawl_is_retried, .timeout = 180)
{
    fixture f = setup("sched_retry");
    /* port 1: nothing listens, every crawl fails at once */
    char *a = ds_yaml(&f, "test", "* * * * *", false, 1);
    char *text = itest_strf("%s    retry: { attempts: 2, backoff: 1s }\n", a);
    write_cfg(&f, NULL, text);
    /* stay inside one minute: the next fire would win over the retries */
    while (time(NULL) % 60 > 30)
        sleep(1);
    json_t *d = run_due(&f, NULL, 4);
    cr_assert_str_eq(action(d, "test"), "crawled");
    cr_assert_eq(json_integer_value(json_object_get(item(d, "test"), "retry")), 0);
    const char *fire = utc_of(item(d, "test"), "fire");
    sleep(2);  /* the first backoff: 1 s after the failure */
    d = run_due(&f, NULL, 4);
    cr_assert_str_eq(action(d, "test"), "crawled");
    cr_assert_eq(json_integer_value(json_object_get(item(d, "test"), "retry")), 1);
    cr_assert_str_eq(utc_of(item(d, "test"), "fire"), fire);
    /* the second backoff is twice as long: not yet */
    d = run_due(&f, NULL, 0);
    cr_assert_str_eq(action(d, "test"), "not_due");
    sleep(3);
    const char *argv[] = {"-c", f.cfg, "run-due", NULL};
    itest_result r = itest_run(argv, env(), NULL);
    cr_assert_eq(r.status, 4, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "(retry 2 of 2): failed after"), "%s", r.out);
    /* attempts spent: nothing more for this fire */
    sleep(5);
    d = run_due(&f, NULL, 0);
    cr_assert_str_eq(action(d, "test"), "not_due");
    char *runs = scheduled_runs(&f);
    char *want = itest_strf("test@%s/failed,test@%s/failed,test@%s/failed", fire, fire, fire);
    cr_assert_str_eq(runs, want);
}

/* Rules 5 and 6 through run-due: a fire starts its datastore's fixed jitter
 * late, and a fire older than starting_deadline is given up, not caught up. */
Test(run_due, jitter_and_starting_deadline, .timeout = 180)
{
    fixture f = setup("sched_jitter");
    char *a = ds_yaml(&f, "test", "0 * * * *", false, 0);
    char *text = itest_strf("%s    jitter: 10m\n    starting_deadline: 30m\n", a);
    write_cfg(&f, NULL, text);
    /* the name's delay, as run-due reports it (and the unit test pins) */
    json_t *d = run_due(&f, "2015-01-01T10:30:00Z", 0);
    json_int_t delay = json_integer_value(json_object_get(item(d, "test"), "jitter_delay"));
    cr_assert(delay > 0 && delay < 600, "jitter_delay %lld", (long long)delay);

    /* the 11:00 fire is not started before 11:00 + delay */
    char *before = itest_strf("@%lld", (long long)(1420110000 + delay - 1)); /* 11:00Z + d - 1 */
    d = run_due(&f, before, 0);
    cr_assert_str_eq(action(d, "test"), "not_due");
    char *at = itest_strf("@%lld", (long long)(1420110000 + delay));
    d = run_due(&f, at, 0);
    cr_assert_str_eq(action(d, "test"), "crawled");
    cr_assert_str_eq(utc_of(item(d, "test"), "fire"), "2015-01-01T11:00:00Z");

    /* down until 14:45: the 14:00 fire started 45 minutes minus the delay
     * ago, later than 30 minutes: given up, and nothing recorded */
    d = run_due(&f, "2015-01-01T14:45:00Z", 0);
    cr_assert_str_eq(action(d, "test"), "not_due");
    cr_assert_str_eq(utc_of(item(d, "test"), "skipped"), "2015-01-01T14:00:00Z");
    cr_assert_str_eq(utc_of(item(d, "test"), "next"), "2015-01-01T15:00:00Z");
    cr_assert_eq(json_integer_value(json_object_get(d, "exit_code")), 0);
    const char *argv[] = {"-c", f.cfg, "run-due", "--now=2015-01-01T14:45:00Z", NULL};
    itest_result r = itest_run(argv, env(), NULL);
    cr_assert(strstr(r.out, "test: fire 2015-01-01 14:00:00 UTC (+00:00) [2015-01-01T14:00:00Z] "
                            "given up: later than starting_deadline (1800s)"),
              "%s", r.out);
    cr_assert_str_eq(scheduled_runs(&f), "test@2015-01-01T11:00:00Z/ok");
}

Test(run_due, first_sight_catch_up_once_and_a_late_datastore_is_not_backfilled)
{
    fixture f = setup("sched_catchup");
    char *a = ds_yaml(&f, "test", "0 * * * *", false, 0);
    write_cfg(&f, NULL, a);

    /* first sight at 10:30: 10:00 and before are history */
    json_t *d = run_due(&f, "2015-01-01T10:30:00Z", 0);
    cr_assert_str_eq(action(d, "test"), "not_due");
    cr_assert(json_is_true(json_object_get(item(d, "test"), "first_sight")));
    cr_assert_str_eq(utc_of(item(d, "test"), "next"), "2015-01-01T11:00:00Z");
    cr_assert_str_eq(scheduled_runs(&f), "");

    /* the 11:00 fire, seen at 11:00:20 */
    d = run_due(&f, "2015-01-01T11:00:20Z", 0);
    cr_assert_str_eq(action(d, "test"), "crawled");
    json_t *it = item(d, "test");
    cr_assert_str_eq(utc_of(it, "fire"), "2015-01-01T11:00:00Z");
    json_t *cr = json_object_get(it, "crawl");
    cr_assert_str_eq(json_string_value(json_object_get(cr, "status")), "ok");
    cr_assert(json_is_true(json_object_get(cr, "baseline")));
    cr_assert_eq(json_integer_value(json_object_get(d, "exit_code")), 0);

    /* nothing more until 12:00 */
    d = run_due(&f, "2015-01-01T11:10:00Z", 0);
    cr_assert_str_eq(action(d, "test"), "not_due");

    /* down from 11:10 to 15:20: 12, 13, 14 and 15 o'clock missed, one crawl */
    d = run_due(&f, "2015-01-01T15:20:00Z", 0);
    it = item(d, "test");
    cr_assert_str_eq(action(d, "test"), "crawled");
    cr_assert_str_eq(utc_of(it, "fire"), "2015-01-01T15:00:00Z");
    cr_assert_eq(json_integer_value(json_object_get(it, "fires")), 4);
    cr_assert_str_eq(utc_of(it, "first_missed"), "2015-01-01T12:00:00Z");
    d = run_due(&f, "2015-01-01T15:25:00Z", 0);
    cr_assert_str_eq(action(d, "test"), "not_due");
    cr_assert_str_eq(scheduled_runs(&f),
                     "test@2015-01-01T11:00:00Z/ok,test@2015-01-01T15:00:00Z/ok");

    /* a datastore added at 15:40 is not crawled for 15:00 or anything earlier */
    char *both = itest_strf("%s%s", a, ds_yaml(&f, "late", "0 * * * *", false, 0));
    write_cfg(&f, NULL, both);
    d = run_due(&f, "2015-01-01T15:40:00Z", 0);
    cr_assert_str_eq(action(d, "late"), "not_due");
    cr_assert(json_is_true(json_object_get(item(d, "late"), "first_sight")));
    cr_assert_str_eq(action(d, "test"), "not_due");
    /* both at 16:00, crawled in parallel (max_parallel 2) */
    d = run_due(&f, "2015-01-01T16:00:30Z", 0);
    cr_assert_str_eq(action(d, "late"), "crawled");
    cr_assert_str_eq(action(d, "test"), "crawled");
    cr_assert_str_eq(scheduled_runs(&f),
                     "test@2015-01-01T11:00:00Z/ok,test@2015-01-01T15:00:00Z/ok,"
                     "late@2015-01-01T16:00:00Z/ok,test@2015-01-01T16:00:00Z/ok");

    /* a changed schedule is seen for the first time too: no catch-up from 16:00 */
    char *changed = itest_strf("%s%s", ds_yaml(&f, "test", "30 * * * *", false, 0),
                               ds_yaml(&f, "late", "0 * * * *", false, 0));
    write_cfg(&f, NULL, changed);
    d = run_due(&f, "2015-01-01T16:45:00Z", 0);
    cr_assert_str_eq(action(d, "test"), "not_due");
    cr_assert(json_is_true(json_object_get(item(d, "test"), "first_sight")));
    cr_assert_str_eq(utc_of(item(d, "test"), "next"), "2015-01-01T17:30:00Z");
}

Test(run_due, text_output_says_what_happened)
{
    fixture f = setup("sched_text");
    write_cfg(&f, NULL, ds_yaml(&f, "test", "*/10 * * * *", false, 0));
    itest_result r = mc(&f, "run-due", "--now=2015-01-01T10:05:00Z", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "test: new schedule */10 * * * * (UTC): first fire 2015-01-01 "
                            "10:10:00 UTC"),
              "%s", r.out);
    r = mc(&f, "run-due", "--now=2015-01-01T10:40:10Z", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "test: crawled for 2015-01-01 10:40:00 UTC (+00:00) "
                            "[2015-01-01T10:40:00Z]: run 1 ok"),
              "%s", r.out);
    cr_assert(strstr(r.out, "4 fires since 2015-01-01 10:10:00 UTC (+00:00) were due: caught "
                            "up with one crawl"),
              "%s", r.out);
    /* not due: silent unless -v; -q: silent */
    r = mc(&f, "run-due", "--now=2015-01-01T10:41:00Z", NULL, NULL, NULL);
    cr_assert_str_eq(r.out, "");
    r = mc(&f, "run-due", "-v", "--now=2015-01-01T10:41:00Z", NULL, NULL);
    cr_assert(strstr(r.out, "test: not due; next fire 2015-01-01 10:50:00 UTC"), "%s", r.out);
    r = mc(&f, "-q", "run-due", "--now=2015-01-01T10:50:01Z", NULL, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(r.out, "");
    cr_assert_str_eq(scheduled_runs(&f),
                     "test@2015-01-01T10:40:00Z/ok,test@2015-01-01T10:50:00Z/ok");
}

Test(run_due, dry_run_and_the_future)
{
    fixture f = setup("sched_dry");
    write_cfg(&f, NULL, ds_yaml(&f, "test", "0 3 * * *", false, 0));
    /* --now after the clock would record a future fire: refused... */
    itest_result r = mc(&f, "run-due", "--now=2099-01-01T03:00:00Z", NULL, NULL, NULL);
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "--dry-run"), "%s", r.err);
    /* ...but fine for a look, which writes nothing at all */
    r = mc(&f, "run-due", "--dry-run", "--json", "--now=2099-01-01T03:00:00Z", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *d = itest_parse_json(r.out);
    cr_assert(json_is_true(json_object_get(d, "dry_run")));
    cr_assert_str_eq(action(d, "test"), "would_crawl"); /* first sight: this minute counts */
    cr_assert_str_eq(utc_of(item(d, "test"), "fire"), "2099-01-01T03:00:00Z");
    struct stat sb;
    cr_assert_neq(stat(f.store, &sb), 0, "a dry run created the store");
    char *locks = itest_strf("%s.locks", f.store);
    cr_assert_neq(stat(locks, &sb), 0, "a dry run created %s", locks);
    /* bad --now */
    r = mc(&f, "run-due", "--now=yesterday", NULL, NULL, NULL);
    cr_assert_eq(r.status, 2);
}

/* scheduler.max_per_host: two datastores on one warehouse, both due, with
 * room for two crawls but one per host: the second starts only when the
 * first has ended. */
Test(run_due, max_per_host_serialises_one_warehouse, .timeout = 180)
{
    fixture f = setup("sched_perhost");
    char *two = itest_strf("%s%s", ds_yaml(&f, "one", "* * * * *", true, 0),
                           ds_yaml(&f, "two", "* * * * *", true, 0));
    write_cfg(&f, "scheduler:\n  max_parallel: 2\n  max_per_host: 1\n", two);
    hold(&f);
    char *out = itest_strf("%s/run.out", f.dir);
    const char *argv[] = {"-c", f.cfg, "run-due", "--json", "--now=2015-01-01T09:59:30Z", NULL};
    pid_t p = itest_spawn(argv, env(), out);
    wait_locked(&f, "one");
    /* "one" is held in its password_command; "two" must not have started */
    sleep(2);
    char *lock2 = itest_strf("%s.locks/two.lock", f.store);
    const char *held = access(lock2, F_OK) == 0 ? itest_read_file(lock2) : "";
    cr_assert_null(strstr(held, "pid="), "two started beside one: %s", held);
    release(&f);
    cr_assert_eq(itest_wait(p), 0, "%s", itest_read_file(out));
    json_t *d = itest_parse_json(itest_read_file(out));
    cr_assert_str_eq(action(d, "one"), "crawled");
    cr_assert_str_eq(action(d, "two"), "crawled");
    /* and one after the other in the store */
    char *overlap = itest_sqlite_value(f.store,
                                       "SELECT count(*) FROM runs a JOIN runs b ON a.id < b.id "
                                       "WHERE b.started_at < a.finished_at");
    cr_assert_str_eq(overlap, "0");
}

Test(run_due, two_at_once_one_crawls_the_other_says_locked)
{
    fixture f = setup("sched_overlap");
    write_cfg(&f, NULL, ds_yaml(&f, "test", "* * * * *", true, 0));
    release(&f);
    json_t *d = run_due(&f, "2015-01-01T09:59:30Z", 0); /* first sight: 09:59 */
    cr_assert_str_eq(action(d, "test"), "crawled");

    hold(&f);
    char *out = itest_strf("%s/first.out", f.dir);
    const char *argv[] = {"-c", f.cfg, "run-due", "--json", "--now=2015-01-01T10:00:05Z", NULL};
    pid_t first = itest_spawn(argv, env(), out);
    wait_locked(&f, "test");

    /* the same fire: its run is recorded (running), nothing to do */
    d = run_due(&f, "2015-01-01T10:00:06Z", 0);
    cr_assert_str_eq(action(d, "test"), "not_due");

    /* the next fire while the crawl still runs: locked, not an error */
    d = run_due(&f, "2015-01-01T10:01:02Z", 0);
    cr_assert_str_eq(action(d, "test"), "locked");
    json_t *by = json_object_get(item(d, "test"), "locked_by");
    cr_assert_str_eq(json_string_value(json_object_get(by, "command")), "run-due");
    cr_assert_eq(json_integer_value(json_object_get(by, "pid")), first);
    cr_assert_eq(json_integer_value(json_object_get(d, "exit_code")), 0);
    itest_result r = mc(&f, "run-due", "--now=2015-01-01T10:01:03Z", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "test: locked by pid "), "%s", r.out);

    release(&f);
    cr_assert_eq(itest_wait(first), 0, "%s", itest_read_file(out));
    d = itest_parse_json(itest_read_file(out));
    cr_assert_str_eq(action(d, "test"), "crawled");

    /* the fire the lock held back is caught up afterwards, once */
    d = run_due(&f, "2015-01-01T10:01:40Z", 0);
    cr_assert_str_eq(action(d, "test"), "crawled");
    cr_assert_str_eq(utc_of(item(d, "test"), "fire"), "2015-01-01T10:01:00Z");
    d = run_due(&f, "2015-01-01T10:01:50Z", 0);
    cr_assert_str_eq(action(d, "test"), "not_due");
    cr_assert_str_eq(scheduled_runs(&f), "test@2015-01-01T09:59:00Z/ok,"
                                         "test@2015-01-01T10:00:00Z/ok,"
                                         "test@2015-01-01T10:01:00Z/ok");
}

Test(run_due, crawl_and_run_due_share_the_lock)
{
    fixture f = setup("sched_share");
    write_cfg(&f, NULL, ds_yaml(&f, "test", "0 * * * *", true, 0));
    run_due(&f, "2015-01-01T09:59:00Z", 0);

    /* a crawl by hand holds it: run-due skips, and the fire stays due */
    char *out = itest_strf("%s/crawl.out", f.dir);
    const char *argv[] = {"-c", f.cfg, "crawl", NULL};
    pid_t p = itest_spawn(argv, env(), out);
    wait_locked(&f, "test");
    json_t *d = run_due(&f, "2015-01-01T10:00:05Z", 0);
    cr_assert_str_eq(action(d, "test"), "locked");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(item(d, "test"), "locked_by"), "command")),
                     "crawl");
    release(&f);
    cr_assert_eq(itest_wait(p), 0, "%s", itest_read_file(out));
    d = run_due(&f, "2015-01-01T10:01:00Z", 0);
    cr_assert_str_eq(action(d, "test"), "crawled", "the fire left undone by the lock is caught up");
    cr_assert_str_eq(utc_of(item(d, "test"), "fire"), "2015-01-01T10:00:00Z");

    /* run-due holds it: crawl says locked, exit 0 */
    hold(&f);
    const char *argv2[] = {"-c", f.cfg, "run-due", "--now=2015-01-01T11:00:01Z", NULL};
    p = itest_spawn(argv2, env(), out);
    wait_locked(&f, "test");
    itest_result r = mc(&f, "crawl", "--json", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *c = json_array_get(json_object_get(itest_parse_json(r.out), "datastores"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(c, "status")), "locked");
    cr_assert(strstr(json_string_value(json_object_get(c, "locked_by")), "run-due"));
    r = mc(&f, "crawl", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "test: locked by pid"), "%s", r.out);
    release(&f);
    cr_assert_eq(itest_wait(p), 0, "%s", itest_read_file(out));
}

Test(run_due, every_due_datastore_is_attempted_the_highest_code_wins)
{
    fixture f = setup("sched_codes");
    /* port 1 on loopback: connection refused, exit 4 */
    char *two = itest_strf("%s%s", ds_yaml(&f, "down", "0 * * * *", false, 1),
                           ds_yaml(&f, "test", "0 * * * *", false, 0));
    write_cfg(&f, NULL, two);
    run_due(&f, "2015-01-01T09:59:00Z", 0);
    json_t *d = run_due(&f, "2015-01-01T10:00:01Z", 4);
    cr_assert_str_eq(action(d, "down"), "crawled");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(item(d, "down"), "crawl"),
                                                    "exit_code")),
                 4);
    cr_assert_str_eq(action(d, "test"), "crawled");
    cr_assert_eq(json_integer_value(json_object_get(d, "exit_code")), 4);
    /* the failed run spends the fire: no retry every minute */
    d = run_due(&f, "2015-01-01T10:01:00Z", 0);
    cr_assert_str_eq(action(d, "down"), "not_due");
    cr_assert_str_eq(scheduled_runs(&f),
                     "down@2015-01-01T10:00:00Z/failed,test@2015-01-01T10:00:00Z/ok");
}

Test(run_due, a_bad_schedule_is_a_config_error_with_its_position)
{
    fixture f = setup("sched_bad");
    write_cfg(&f, NULL, ds_yaml(&f, "test", "0 0 30 2 *", false, 0));
    /* line 11 of the file: schedule: "0 0 30 2 *"; the expression starts in
     * column 16 and "30" is its 5th character */
    itest_result r = mc(&f, "run-due", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 3, "%s", r.err);
    char *want = itest_strf("%s:11:20: datastore 'test': schedule: cron expression \"0 0 30 2 "
                            "*\": column 5:", f.cfg);
    cr_assert(strstr(r.err, want), "%s", r.err);
    /* every command, since the config is invalid */
    r = mc(&f, "crawl", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, want), "%s", r.err);
}

/* ---- schedule list / next ------------------------------------------------------ */

Test(schedule, list_and_next)
{
    fixture f = setup("sched_list");
    char *two = itest_strf("%s%s", ds_yaml(&f, "test", "0 */6 * * *", false, 0),
                           ds_yaml(&f, "adhoc", NULL, false, 0));
    write_cfg(&f, NULL, two);
    run_due(&f, "2015-01-01T05:59:00Z", 0);
    run_due(&f, "2015-01-01T06:00:01Z", 0);

    itest_result r = mc(&f, "schedule", "list", "--json", "--now=2015-01-01T13:00:00Z", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *d = itest_parse_json(r.out);
    json_t *t = item(d, "test");
    cr_assert(json_is_true(json_object_get(t, "due")));
    cr_assert_eq(json_integer_value(json_object_get(t, "fires_due")), 1);
    cr_assert_str_eq(utc_of(t, "last_fire"), "2015-01-01T06:00:00Z");
    cr_assert_str_eq(utc_of(t, "due_fire"), "2015-01-01T12:00:00Z");
    cr_assert_str_eq(utc_of(t, "next"), "2015-01-01T18:00:00Z");
    cr_assert_str_eq(json_string_value(json_object_get(t, "job")), "wildcard");
    json_t *a = item(d, "adhoc");
    cr_assert(json_is_null(json_object_get(a, "schedule")));
    cr_assert(json_is_null(json_object_get(a, "next")));

    r = mc(&f, "schedule", "list", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "adhoc"), "%s", r.out);
    cr_assert(strstr(r.out, "not scheduled"), "%s", r.out);

    r = mc(&f, "schedule", "next", "test", "-n", "3");
    cr_assert_eq(r.status, 0, "%s", r.err);
    int lines = 0;
    for (const char *p = r.out; (p = strchr(p, '\n')); p++)
        lines++;
    cr_assert_eq(lines, 4, "%s", r.out);

    const char *argv[] = {"-c", f.cfg, "schedule", "next", "--json", "-n", "2",
                          "--now=2015-01-01T13:00:00Z", NULL};
    itest_result rj = itest_run(argv, env(), NULL);
    cr_assert_eq(rj.status, 0, "%s", rj.err);
    json_t *fires = json_object_get(item(itest_parse_json(rj.out), "test"), "fires");
    cr_assert_eq(json_array_size(fires), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(fires, 1), "utc")),
                     "2015-01-02T00:00:00Z");

    r = mc(&f, "schedule", "list", "-n", "3", NULL);
    cr_assert_eq(r.status, 2, "list takes no --count");
    r = mc(&f, "schedule", "lsit", NULL, NULL, NULL);
    cr_assert_eq(r.status, 2);
    r = mc(&f, "schedule", "next", "nosuch", NULL, NULL);
    cr_assert_eq(r.status, 2);
}

/* ---- crontab and systemd -------------------------------------------------------- */

Test(schedule, crontab_line_runs_as_cron_would_run_it)
{
    fixture f = setup("sched_cron");
    write_cfg(&f, NULL, ds_yaml(&f, "test", "@hourly", false, 0));
    itest_result r = mc(&f, "schedule", "crontab", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *bin = realpath(itest_env("MC_BINARY"), NULL);
    char *cfg = realpath(f.cfg, NULL);
    char *want = itest_strf("exec '%s' -q -c '%s' run-due\n", bin, cfg);
    cr_assert(strstr(r.out, want), "no '%s' in:\n%s", want, r.out);
    cr_assert(strstr(r.out, "\nPATH="), "%s", r.out);
    cr_assert(strstr(r.out, "${env:MC_TEST_DS_PASSWORD}"), "%s", r.out);

    /* the job's command as cron hands it to /bin/sh: '\%' becomes '%' */
    const char *line = strstr(r.out, "\n* * * * * ");
    cr_assert(line);
    line += strlen("\n* * * * * ");
    char *cmd = strndup(line, strcspn(line, "\n"));
    char *sh = malloc(strlen(cmd) + 1), *o = sh;
    for (const char *p = cmd; *p; p++) {
        if (p[0] == '\\' && p[1] == '%')
            p++;
        *o++ = *p;
    }
    *o = '\0';
    const char *argv[] = {"-c", sh, NULL};
    itest_result cron = itest_run_program("/bin/sh", argv, env(), NULL);
    cr_assert_eq(cron.status, 0, "%s\nstdout: %s\nstderr: %s", sh, cron.out, cron.err);
    struct stat sb;
    char *rec = itest_strf("%s.locks/test.schedule", f.store);
    cr_assert_eq(stat(rec, &sb), 0, "run-due from the crontab line did not run");

    r = mc(&f, "schedule", "crontab", "--json", NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(json_string_value(json_object_get(itest_parse_json(r.out), "crontab")),
                     want));
}

Test(schedule, systemd_units)
{
    fixture f = setup("sched_sd");
    write_cfg(&f, "scheduler:\n  shutdown_timeout: 2m\n", ds_yaml(&f, "test", "@hourly", false, 0));
    itest_result r = mc(&f, "schedule", "systemd", "--json", NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *units = json_object_get(itest_parse_json(r.out), "units");
    cr_assert_eq(json_array_size(units), 2);
    json_t *svc = json_array_get(units, 0), *tim = json_array_get(units, 1);
    cr_assert_str_eq(json_string_value(json_object_get(svc, "name")),
                     "metacrawl-run-due.service");
    cr_assert_str_eq(json_string_value(json_object_get(tim, "name")), "metacrawl-run-due.timer");
    const char *s = json_string_value(json_object_get(svc, "text"));
    char *bin = realpath(itest_env("MC_BINARY"), NULL);
    char *cfg = realpath(f.cfg, NULL);
    char *exec = itest_strf("\nExecStart=%s -c %s run-due\n", bin, cfg);
    cr_assert(strstr(s, exec), "no '%s' in:\n%s", exec, s);
    cr_assert(strstr(s, "\nType=oneshot\n"));
    char *dir = realpath(f.dir, NULL);
    char *rw = itest_strf("\nReadWritePaths=%s\n", dir);
    cr_assert(strstr(s, rw), "no '%s' in:\n%s", rw, s);
    cr_assert(strstr(json_string_value(json_object_get(tim, "text")), "OnCalendar="));

    /* systemd itself accepts them, where its tools are installed */
    if (access("/usr/bin/systemd-analyze", X_OK) == 0) {
        char *ps = itest_strf("%s/metacrawl-run-due.service", f.dir);
        char *pt = itest_strf("%s/metacrawl-run-due.timer", f.dir);
        itest_write_file(ps, s);
        itest_write_file(pt, json_string_value(json_object_get(tim, "text")));
        const char *argv[] = {"verify", "--man=no", ps, pt, NULL};
        itest_result v = itest_run_program("/usr/bin/systemd-analyze", argv, NULL, NULL);
        cr_assert_eq(v.status, 0, "systemd-analyze verify:\n%s%s", v.out, v.err);
    }

    r = mc(&f, "schedule", "systemd", "--scheduler", NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "schedule run\n"), "%s", r.out);
    cr_assert(strstr(r.out, "\nTimeoutStopSec=150\n"), "%s", r.out);
    cr_assert(strstr(r.out, "\nExecReload=/bin/kill -HUP $MAINPID\n"), "%s", r.out);
}

/* ---- schedule run ------------------------------------------------------------------ */

static pid_t start_scheduler(const fixture *f, const char *out, const char *const *extra_env)
{
    const char *argv[] = {"-c", f->cfg, "schedule", "run", NULL};
    const char *const *base = env();
    const char *e[8];
    size_t n = 0;
    for (size_t i = 0; base[i]; i++)
        e[n++] = base[i];
    for (size_t i = 0; extra_env && extra_env[i] && n < 7; i++)
        e[n++] = extra_env[i];
    e[n] = NULL;
    return itest_spawn(argv, e, out);
}

Test(scheduler, sigterm_lets_the_running_crawl_finish)
{
    fixture f = setup("sched_term");
    write_cfg(&f, "scheduler:\n  max_parallel: 2\n  shutdown_timeout: 60s\n",
              ds_yaml(&f, "test", "* * * * *", true, 0));
    char *out = itest_strf("%s/sched.log", f.dir);
    /* stderr is "the journal": JOURNAL_STREAM names the log file */
    itest_write_file(out, "");
    struct stat sb;
    cr_assert_eq(stat(out, &sb), 0);
    char *js = itest_strf("JOURNAL_STREAM=%llu:%llu", (unsigned long long)sb.st_dev,
                          (unsigned long long)sb.st_ino);
    const char *extra[] = {js, NULL};
    pid_t p = start_scheduler(&f, out, extra);
    /* a "* * * * *" seen first: the current minute's fire is due now */
    wait_for(out, "<6>test: crawling for the fire of", 1, 30);
    cr_assert_eq(kill(p, SIGTERM), 0);
    wait_for(out, "<6>SIGTERM: stopping; waiting up to 60s for the running crawls of test", 1,
             10);
    release(&f); /* the crawl goes on and ends */
    int st = itest_wait(p);
    char *log = itest_read_file(out);
    cr_assert_eq(st, 0, "%s", log);
    cr_assert(strstr(log, "<6>test: run 1 ok"), "%s", log);
    cr_assert(strstr(log, "<6>stopped: 1 crawls started, 0 failed"), "%s", log);
    cr_assert_null(strstr(log, "metacrawl: info:"), "plain lines in the journal:\n%s", log);
    char *runs = scheduled_runs(&f);
    cr_assert(strstr(runs, "test@") && strstr(runs, "/ok") && !strchr(runs, ','), "%s", runs);
}

/* A tzdata upgrade that replaces a zone file in use is picked up without a
 * SIGHUP: the scheduler reloads (docs/scheduling.md, "Time zones"). */
Test(scheduler, a_changed_zone_file_is_reloaded, .timeout = 240)
{
    fixture f = setup("sched_tzfile");
    char *tzdir = itest_strf("%s/zoneinfo", f.dir);
    char *zdir = itest_strf("%s/Test", tzdir);
    cr_assert_eq(mkdir(tzdir, 0755), 0);
    cr_assert_eq(mkdir(zdir, 0755), 0);
    char *berlin = itest_strf("%s/Europe/Berlin", itest_env("TZDIR"));
    char *tokyo = itest_strf("%s/Asia/Tokyo", itest_env("TZDIR"));
    char *zone = itest_strf("%s/Zone", zdir);
    char *cp = itest_strf("cp %s %s", berlin, zone);
    cr_assert_eq(system(cp), 0);
    char *a = ds_yaml(&f, "test", NULL, false, 0);
    char *ds = itest_strf("%s    schedule: \"0 0 1 1 *\"\n    timezone: Test/Zone\n", a);
    write_cfg(&f, NULL, ds);
    char *out = itest_strf("%s/sched.log", f.dir);
    char *tz_env = itest_strf("TZDIR=%s", tzdir);
    const char *extra[] = {tz_env, NULL};
    pid_t p = start_scheduler(&f, out, extra);
    wait_for(out, "scheduler started", 1, 30);
    cr_assert_null(strstr(itest_read_file(out), "zone data changed"));

    /* as dpkg does: a new file renamed over the old one */
    char *tmp = itest_strf("%s/Zone.new", zdir);
    char *cp2 = itest_strf("cp %s %s && mv %s %s", tokyo, tmp, tmp, zone);
    cr_assert_eq(system(cp2), 0);
    wait_for(out, "zone data changed: reloading", 1, 90);
    wait_for(out, "reloaded ", 1, 10);
    cr_assert_eq(kill(p, SIGTERM), 0);
    int st = itest_wait(p);
    char *log = itest_read_file(out);
    cr_assert_eq(st, 0, "%s", log);
    /* once: the new file is the one in use now */
    char *first = strstr(log, "zone data changed");
    cr_assert_null(strstr(first + 1, "zone data changed"), "%s", log);
}

Test(scheduler, sighup_keeps_a_bad_config_out_and_takes_a_good_one)
{
    fixture f = setup("sched_hup");
    /* once a year: nothing happens until the reload */
    write_cfg(&f, NULL, ds_yaml(&f, "test", "0 0 1 1 *", false, 0));
    char *out = itest_strf("%s/sched.log", f.dir);
    pid_t p = start_scheduler(&f, out, NULL);
    wait_for(out, "scheduler started", 1, 30);
    cr_assert(strstr(itest_read_file(out), " metacrawl: info: "), "plain log lines without a "
              "journal");

    /* a bad schedule: logged with its position, the running config stays */
    write_cfg(&f, NULL, ds_yaml(&f, "test", "61 * * * *", false, 0));
    cr_assert_eq(kill(p, SIGHUP), 0);
    wait_for(out, "reload failed, keeping the running configuration: ", 1, 10);
    char *want = itest_strf("%s:11:16: datastore 'test': schedule:", f.cfg);
    wait_for(out, want, 1, 5);
    /* a YAML error too */
    itest_write_file(f.cfg, "store: [unclosed\n");
    cr_assert_eq(kill(p, SIGHUP), 0);
    wait_for(out, "reload failed, keeping the running configuration: ", 2, 10);

    /* a good one with a new datastore and a schedule due now: taken, crawled */
    char *two = itest_strf("%s%s", ds_yaml(&f, "test", "0 0 1 1 *", false, 0),
                           ds_yaml(&f, "added", "* * * * *", false, 0));
    write_cfg(&f, NULL, two);
    cr_assert_eq(kill(p, SIGHUP), 0);
    wait_for(out, "reloaded ", 1, 10);
    wait_for(out, "added: run 1 ok", 1, 30);
    cr_assert_eq(kill(p, SIGINT), 0);
    int st = itest_wait(p);
    char *log = itest_read_file(out);
    cr_assert_eq(st, 0, "%s", log);
    cr_assert_null(strstr(log, "test: crawling"), "the yearly one ran:\n%s", log);
    char *runs = scheduled_runs(&f);
    cr_assert(strncmp(runs, "added@", 6) == 0 && !strchr(runs, ','), "%s", runs);
}

Test(scheduler, shutdown_timeout_abandons_and_says_so)
{
    fixture f = setup("sched_abandon");
    write_cfg(&f, "scheduler:\n  shutdown_timeout: 1s\n", ds_yaml(&f, "test", "* * * * *", true, 0));
    char *out = itest_strf("%s/sched.log", f.dir);
    pid_t p = start_scheduler(&f, out, NULL);
    wait_for(out, "test: crawling for the fire of", 1, 30);
    cr_assert_eq(kill(p, SIGTERM), 0);
    int st = itest_wait(p);
    char *log = itest_read_file(out);
    cr_assert_eq(st, 7, "%s", log);
    cr_assert(strstr(log, "shutdown timeout: abandoning the crawls of test"), "%s", log);
    /* the abandoned run is failed for the next reader of the store */
    itest_result r = mc(&f, "history", "--json", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *run = json_array_get(json_object_get(itest_parse_json(r.out), "runs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(run, "status")), "failed", "%s", r.out);
    release(&f); /* the abandoned password_command may end now */
}

Test(scheduler, max_parallel_bounds_the_crawls)
{
    fixture f = setup("sched_par");
    char *three = itest_strf("%s%s%s", ds_yaml(&f, "a", "* * * * *", true, 0),
                             ds_yaml(&f, "b", "* * * * *", true, 0),
                             ds_yaml(&f, "c", "* * * * *", true, 0));
    write_cfg(&f, "scheduler:\n  max_parallel: 2\n", three);
    char *out = itest_strf("%s/sched.log", f.dir);
    pid_t p = start_scheduler(&f, out, NULL);
    wait_for(out, ": crawling for the fire of", 2, 30);
    /* two started at once, the third only after one of them finished */
    pause_ms(1000);
    char *log = itest_read_file(out);
    cr_assert_null(strstr(log, ": run "), "%s", log);
    int n = 0;
    for (const char *q = log; (q = strstr(q, ": crawling for")); q++)
        n++;
    cr_assert_eq(n, 2, "%s", log);
    release(&f);
    wait_for(out, ": crawling for the fire of", 3, 30);
    log = itest_read_file(out);
    const char *third = log;
    for (int i = 0; i < 3; i++)
        third = strstr(third, ": crawling for") + 1;
    const char *first_done = strstr(log, ": run ");
    cr_assert(first_done && first_done < third, "the third started before a crawl ended:\n%s",
              log);
    wait_for(out, ": run ", 3, 30);
    kill(p, SIGTERM);
    cr_assert_eq(itest_wait(p), 0, "%s", itest_read_file(out));
}

/* ---- staleness and pause (rules 8 and 9) ------------------------------------------ */

/* Moves every recorded run of the store back by secs: "the last crawl was an
 * hour ago" without waiting an hour (staleness is judged on the real clock
 * against the runs' recorded times). */
static void age_runs(const fixture *f, int secs)
{
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open(f->store, &h), SQLITE_OK);
    char *sql = itest_strf("UPDATE runs SET started_at = started_at - %d, finished_at = "
                           "finished_at - %d, heartbeat_at = heartbeat_at - %d",
                           secs, secs, secs);
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, &msg), SQLITE_OK, "%s", msg);
    sqlite3_close(h);
    free(sql);
}

static int count_in(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* The docs site's index.html, built into DIR/name. */
static char *site_index(const fixture *f, const char *name)
{
    char *out = itest_strf("%s/%s", f->dir, name);
    itest_result r = mc(f, "docs", "--out", out, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    char *path = itest_strf("%s/index.html", out);
    char *text = itest_read_file(path);
    free(path);
    free(out);
    return text;
}

/* A datastore not crawled successfully within stale_after is reported once
 * by run-due (a warning cron mails, one alert), and once again when a crawl
 * succeeds; history shows the last success and the judgement. */
Test(staleness, run_due_alerts_once_when_stale_and_once_when_recovered)
{
    fixture f = setup("sched_stale");
    char *alerts_log = itest_strf("%s/alerts.jsonl", f.dir);
    /* once a year: run-due never crawls it in this test, only judges it */
    char *ds = itest_strf("%s    stale_after: 30m\n", ds_yaml(&f, "test", "0 0 1 1 *", false, 0));
    char *text = itest_strf("store: %s\nalerts:\n  - name: log\n    file: %s\ndatastores:\n%s",
                            f.store, alerts_log, ds);
    itest_write_file(f.cfg, text);

    itest_result r = mc(&f, "crawl", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    json_t *d = run_due(&f, NULL, 0);
    cr_assert(json_is_false(json_object_get(item(d, "test"), "stale")), "%s", json_dumps(d, 0));
    cr_assert(json_is_null(json_object_get(item(d, "test"), "stale_event")));

    /* the last success an hour ago: stale, said once */
    age_runs(&f, 3600);
    const char *argv[] = {"-c", f.cfg, "run-due", "-q", NULL};
    r = itest_run(argv, env(), NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.err, "metacrawl: warning: test is stale: no successful crawl since "),
              "%s", r.err);
    cr_assert(strstr(r.err, "(stale_after 1800s)"), "%s", r.err);
    char *alerts = itest_read_file(alerts_log);
    cr_assert_eq(count_in(alerts, "\"kind\":\"datastore_stale\""), 1, "%s", alerts);
    cr_assert(strstr(alerts, "\"datastore\":\"test\",\"schema\":null"), "%s", alerts);
    d = run_due(&f, NULL, 0);
    cr_assert(json_is_true(json_object_get(item(d, "test"), "stale")));
    cr_assert(json_is_null(json_object_get(item(d, "test"), "stale_event")), "said twice");
    r = itest_run(argv, env(), NULL);
    cr_assert_eq(r.err[0], '\0', "warned twice: %s", r.err);
    alerts = itest_read_file(alerts_log);
    cr_assert_eq(count_in(alerts, "datastore_stale"), 1, "%s", alerts);

    r = mc(&f, "history", "--json", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *h = json_array_get(json_object_get(itest_parse_json(r.out), "datastores"), 0);
    cr_assert(json_is_true(json_object_get(h, "stale")), "%s", r.out);
    cr_assert_eq(json_integer_value(json_object_get(h, "last_success_run")), 1, "%s", r.out);
    cr_assert(strstr(json_string_value(json_object_get(h, "stale_reason")),
                     "no successful crawl since"), "%s", r.out);
    r = mc(&f, "history", NULL, NULL, NULL, NULL);
    cr_assert(strstr(r.out, "LAST SUCCESS (UTC)"), "%s", r.out);
    cr_assert(strstr(r.out, "yes: no successful crawl since"), "%s", r.out);
    /* the docs site shows what was recorded */
    char *index = site_index(&f, "site-stale");
    cr_assert(strstr(index, "Stale since "), "%s", index);
    cr_assert(strstr(index, "no successful crawl since "), "%s", index);

    /* a successful crawl: recovered, said once */
    r = mc(&f, "crawl", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    d = run_due(&f, NULL, 0);
    cr_assert_str_eq(json_string_value(json_object_get(item(d, "test"), "stale_event")),
                     "datastore_recovered", "%s", json_dumps(d, 0));
    cr_assert(json_is_false(json_object_get(item(d, "test"), "stale")));
    d = run_due(&f, NULL, 0);
    cr_assert(json_is_null(json_object_get(item(d, "test"), "stale_event")));
    alerts = itest_read_file(alerts_log);
    cr_assert_eq(count_in(alerts, "\"kind\":\"datastore_recovered\""), 1, "%s", alerts);
    cr_assert_eq(count_in(alerts, "\"kind\":\"datastore_stale\""), 1, "%s", alerts);
    r = mc(&f, "history", "--json", NULL, NULL, NULL);
    h = json_array_get(json_object_get(itest_parse_json(r.out), "datastores"), 0);
    cr_assert(json_is_false(json_object_get(h, "stale")), "%s", r.out);
    cr_assert_eq(json_integer_value(json_object_get(h, "last_success_run")), 2, "%s", r.out);
    index = site_index(&f, "site-recovered");
    cr_assert_null(strstr(index, "Stale since"), "%s", index);
}

/* schedule pause is recorded in the store: run-due skips the datastore (and
 * says so) until schedule resume; list shows who paused it and since when. */
Test(staleness, pause_and_resume_are_recorded)
{
    fixture f = setup("sched_pause");
    write_cfg(&f, NULL, ds_yaml(&f, "test", "0 * * * *", false, 0));
    json_t *d = run_due(&f, "2015-01-01T10:30:00Z", 0); /* first sight */
    itest_result r = mc(&f, "schedule", "pause", "test", "--json", NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    json_t *p = json_array_get(json_object_get(itest_parse_json(r.out), "datastores"), 0);
    cr_assert(json_is_true(json_object_get(p, "changed")), "%s", r.out);
    r = mc(&f, "schedule", "pause", "test", NULL, NULL);
    cr_assert(strstr(r.out, "already paused"), "%s", r.out);

    d = run_due(&f, "2015-01-01T11:00:00Z", 0);
    cr_assert_str_eq(action(d, "test"), "paused");
    r = mc(&f, "schedule", "list", "--json", NULL, NULL);
    json_t *l = item(itest_parse_json(r.out), "test");
    cr_assert_not_null(utc_of(l, "paused_since"), "%s", r.out);
    cr_assert(strchr(json_string_value(json_object_get(l, "paused_by")), '@'), "%s", r.out);
    r = mc(&f, "schedule", "list", NULL, NULL, NULL);
    cr_assert(strstr(r.out, "paused since "), "%s", r.out);

    r = mc(&f, "schedule", "resume", "test", NULL, NULL);
    cr_assert(strstr(r.out, "resumed"), "%s", r.out);
    d = run_due(&f, "2015-01-01T11:00:00Z", 0);
    cr_assert_str_eq(action(d, "test"), "crawled");
    cr_assert_str_eq(scheduled_runs(&f), "test@2015-01-01T11:00:00Z/ok");
    /* the docs site shows a datastore it has crawls of as paused */
    r = mc(&f, "schedule", "pause", "test", NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    char *index = site_index(&f, "site-paused");
    cr_assert(strstr(index, "Scheduled crawls paused since "), "%s", index);
}

/* The scheduler judges staleness as it starts (and every tick): a stale
 * datastore is logged at warning priority, once. */
Test(staleness, the_scheduler_logs_a_stale_datastore)
{
    fixture f = setup("sched_stale_run");
    char *ds = itest_strf("%s    stale_after: 30m\n", ds_yaml(&f, "test", "0 0 1 1 *", false, 0));
    write_cfg(&f, NULL, ds);
    itest_result r = mc(&f, "crawl", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    age_runs(&f, 3600);
    char *out = itest_strf("%s/sched.log", f.dir);
    pid_t p = start_scheduler(&f, out, NULL);
    wait_for(out, "test: stale: no successful crawl since", 1, 30);
    kill(p, SIGTERM);
    cr_assert_eq(itest_wait(p), 0, "%s", itest_read_file(out));
    cr_assert_str_eq(itest_sqlite_value(f.store, "SELECT count(*) FROM changes WHERE kind = "
                                                 "'datastore_stale'"), "1");
}

/* Rule 4 of the issue: a run whose process died ends at its last heartbeat
 * (here its start: killed before the first 30 s beat), not when the next
 * process happens to open the store. */
Test(runs, a_killed_crawl_ends_at_its_last_heartbeat)
{
    fixture f = setup("sched_killed");
    write_cfg(&f, NULL, ds_yaml(&f, "test", NULL, true, 0));
    char *out = itest_strf("%s/crawl.log", f.dir);
    const char *argv[] = {"-c", f.cfg, "crawl", NULL};
    pid_t p = itest_spawn(argv, env(), out);
    wait_locked(&f, "test");
    sleep(2);
    cr_assert_eq(kill(p, SIGKILL), 0);
    itest_wait(p);
    sleep(2); /* the downtime history must not count */
    release(&f);
    itest_result r = mc(&f, "history", "--json", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *run = json_array_get(json_object_get(itest_parse_json(r.out), "runs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(run, "status")), "failed", "%s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(run, "finished_at")),
                     json_string_value(json_object_get(run, "started_at")), "%s", r.out);
    cr_assert(strstr(json_string_value(json_object_get(run, "error")), "interrupted"), "%s",
              r.out);
}
