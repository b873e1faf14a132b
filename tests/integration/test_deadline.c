/*
 * test_deadline.c — a crawl never hangs on a server that stops answering
 * (docs/scheduling.md, "Deadlines"): max_runtime cancels the statement, and
 * when the server cannot even cancel (its backend is stopped), cuts the
 * connection; the run is recorded as failed with that reason and the store
 * keeps the previous catalog. Also: the keepalive settings reach the server.
 *
 * The crawl is held inside discovery by a lock on pg_description (the
 * comment statement waits for it), which is how a real crawl stalls behind
 * another session's catalog lock; SIGSTOP of its backend then stands in for
 * a server or a path that has gone silent.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define PW "crawler-pw"

typedef struct fixture {
    char *db, *role, *dir, *cfg;
    PGconn *super;
} fixture;

static fixture setup(const char *prefix, const char *extra_yaml)
{
    fixture f = {0};
    f.db = itest_create_db(prefix);
    f.super = itest_connect(f.db);
    f.role = itest_strf("crawler_%s", f.db);
    itest_sql(f.super, "CREATE ROLE %s LOGIN PASSWORD '" PW "'", f.role);
    itest_sql(f.super, "CREATE TABLE public.orders (id int PRIMARY KEY, total numeric)");
    f.dir = itest_tmpdir();
    f.cfg = itest_write_config(f.dir, f.db, f.role, PW, extra_yaml);
    return f;
}

static itest_result mc(const fixture *f, const char *a1, const char *a2, const char *a3)
{
    const char *argv[] = {"-c", f->cfg, a1, a2, a3, NULL};
    const char *env[] = {"MC_TEST_DS_PASSWORD=" PW, NULL};
    return itest_run(argv, env, NULL);
}

/* The pid of the crawl's backend once it waits for a lock; 0 after 60 s.
 * Other tests crawl the same server at the same time: only this database. */
static int waiting_backend(const fixture *f)
{
    for (int i = 0; i < 600; i++) {
        PGresult *res = PQexec(f->super,
                               "SELECT pid FROM pg_stat_activity WHERE application_name = "
                               "'metacrawl' AND wait_event_type = 'Lock' "
                               "AND datname = current_database()");
        int pid = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0
                      ? atoi(PQgetvalue(res, 0, 0))
                      : 0;
        PQclear(res);
        if (pid)
            return pid;
        usleep(100 * 1000);
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs one crawl that stalls behind a catalog lock; with stop_backend the
 * backend is also SIGSTOPped, so that only cutting the connection helps.
 * Returns the crawl's stderr. */
static char *stalled_crawl(fixture *f, bool stop_backend, int *status_out, double *secs_out)
{
    PGconn *locker = itest_connect(f->db);
    itest_sql(locker, "BEGIN; LOCK TABLE pg_catalog.pg_description IN ACCESS EXCLUSIVE MODE");
    char *out = itest_strf("%s/crawl.out", f->dir);
    const char *argv[] = {"-c", f->cfg, "crawl", NULL};
    const char *env[] = {"MC_TEST_DS_PASSWORD=" PW, NULL};
    double t0 = now_s();
    pid_t crawl = itest_spawn(argv, env, out);
    int backend = waiting_backend(f);
    cr_assert_gt(backend, 0, "the crawl never waited for the lock:\n%s", itest_read_file(out));
    if (stop_backend)
        cr_assert_eq(kill(backend, SIGSTOP), 0, "cannot stop backend %d", backend);
    *status_out = itest_wait(crawl);
    *secs_out = now_s() - t0;
    if (stop_backend)
        kill(backend, SIGCONT);
    itest_sql(locker, "ROLLBACK");
    PQfinish(locker);
    return itest_read_file(out);
}

static void assert_failed_run_and_store_unchanged(const fixture *f)
{
    itest_result h = mc(f, "history", "--json", NULL);
    cr_assert_eq(h.status, 0, "%s", h.err);
    json_t *doc = itest_parse_json(h.out);
    json_t *runs = json_object_get(doc, "runs");
    cr_assert_eq(json_array_size(runs), 2, "%s", h.out);
    json_t *last = NULL;
    for (size_t i = 0; i < json_array_size(runs); i++)
        if (json_integer_value(json_object_get(json_array_get(runs, i), "run")) == 2)
            last = json_array_get(runs, i);
    cr_assert(last, "%s", h.out);
    cr_assert_str_eq(json_string_value(json_object_get(last, "status")), "failed");
    const char *why = json_string_value(json_object_get(last, "error"));
    cr_assert(why && strstr(why, "max_runtime"), "%s", h.out);
    cr_assert(json_string_value(json_object_get(last, "finished_at")), "%s", h.out);
    json_decref(doc);
    /* The column added before the stalled crawl is not in the store. */
    itest_result s = mc(f, "show", "test.public.orders", "--json");
    cr_assert_eq(s.status, 0, "%s", s.err);
    cr_assert(strstr(s.out, "\"total\""), "%s", s.out);
    cr_assert_null(strstr(s.out, "\"note\""), "a stopped crawl recorded a change: %s", s.out);
    itest_result_free(&h);
    itest_result_free(&s);
}

/* A baseline crawl, a column added, then a crawl that stalls (and, with
 * stop_backend, whose server stops answering): max_runtime ends it, the run
 * is failed with that reason and the column is not recorded. */
static void stall_case(const char *prefix, bool stop_backend)
{
    fixture f = setup(prefix, "    max_runtime: 2s\n");
    itest_result r = mc(&f, "crawl", NULL, NULL);
    cr_assert_eq(r.status, 0, "baseline: %s", r.err);
    itest_sql(f.super, "ALTER TABLE public.orders ADD COLUMN note text");

    int status;
    double secs;
    char *err = stalled_crawl(&f, stop_backend, &status, &secs);
    cr_assert_eq(status, 4, "exit %d: %s", status, err);
    cr_assert(strstr(err, "crawl stopped after max_runtime (2s)"), "%s", err);
    cr_assert(strstr(err, "the store is unchanged"), "%s", err);
    /* not a performance bound: a hang would run into the test's timeout */
    cr_assert_lt(secs, 60, "the crawl took %.0f s", secs);
    assert_failed_run_and_store_unchanged(&f);
}

Test(deadline, a_stalled_statement_is_cancelled_at_max_runtime, .timeout = 240)
{
    stall_case("deadline_cancel", false);
}

Test(deadline, a_server_that_stops_answering_is_cut_off, .timeout = 240)
{
    stall_case("deadline_sever", true);
}

/* Without max_runtime the same stall is left alone: the deadline is what ends
 * it (this is the test that fails if the watchdog does nothing). */
Test(deadline, max_runtime_zero_means_no_deadline, .timeout = 240)
{
    fixture f = setup("deadline_none", "    max_runtime: 0\n    statement_timeout: 4s\n");
    itest_result r = mc(&f, "crawl", NULL, NULL);
    cr_assert_eq(r.status, 0, "baseline: %s", r.err);
    int status;
    double secs;
    char *err = stalled_crawl(&f, false, &status, &secs);
    /* the server's statement_timeout ends it instead, with its own message */
    cr_assert_eq(status, 4, "exit %d: %s", status, err);
    cr_assert_null(strstr(err, "max_runtime"), "%s", err);
    cr_assert(strstr(err, "statement timeout"), "%s", err);
}

/* The crawl's socket to the server, duplicated into this process with
 * pidfd_getfd(2) (root, or a kernel that lets this user ptrace it); -1 when
 * the kernel does not allow it. */
static int crawl_socket(pid_t crawl, int server_port)
{
    int pidfd = (int)syscall(SYS_pidfd_open, crawl, 0);
    if (pidfd < 0)
        return -1;
    char *dir = itest_strf("/proc/%d/fd", (int)crawl);
    DIR *d = opendir(dir);
    int found = -1;
    for (struct dirent *e; d && found < 0 && (e = readdir(d));) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        int mine = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
        if (mine < 0)
            continue;
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        if (getpeername(mine, (struct sockaddr *)&peer, &len) == 0 &&
            peer.sin_family == AF_INET && ntohs(peer.sin_port) == server_port)
            found = mine;
        else
            close(mine);
    }
    if (d)
        closedir(d);
    close(pidfd);
    return found;
}

/* Every connection asks for TCP keepalives and a TCP user timeout, so that a
 * path that drops state without a word is noticed by the kernel. */
Test(deadline, connections_carry_keepalives, .timeout = 120)
{
    fixture f = setup("deadline_keepalive", NULL);
    PGconn *locker = itest_connect(f.db);
    itest_sql(locker, "BEGIN; LOCK TABLE pg_catalog.pg_description IN ACCESS EXCLUSIVE MODE");
    char *out = itest_strf("%s/crawl.out", f.dir);
    const char *argv[] = {"-c", f.cfg, "crawl", NULL};
    const char *env[] = {"MC_TEST_DS_PASSWORD=" PW, NULL};
    pid_t crawl = itest_spawn(argv, env, out);
    cr_assert_gt(waiting_backend(&f), 0, "%s", itest_read_file(out));
    int sock = crawl_socket(crawl, atoi(itest_env("MC_TEST_PGPORT")));
    int on = 0, idle = 0, intvl = 0, cnt = 0;
    unsigned user_timeout = 0;
    socklen_t l = sizeof(int);
    if (sock >= 0) {
        getsockopt(sock, SOL_SOCKET, SO_KEEPALIVE, &on, &l);
        l = sizeof(int);
        getsockopt(sock, IPPROTO_TCP, TCP_KEEPIDLE, &idle, &l);
        l = sizeof(int);
        getsockopt(sock, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, &l);
        l = sizeof(int);
        getsockopt(sock, IPPROTO_TCP, TCP_KEEPCNT, &cnt, &l);
        l = sizeof user_timeout;
        getsockopt(sock, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, &l);
        close(sock);
    }
    itest_sql(locker, "ROLLBACK");
    PQfinish(locker);
    cr_assert_eq(itest_wait(crawl), 0, "%s", itest_read_file(out));
    if (sock < 0)
        cr_skip_test("pidfd_getfd(2) is not allowed here: cannot read the crawl's socket");
    cr_expect_eq(on, 1, "SO_KEEPALIVE is off");
    cr_expect_eq(idle, 30, "TCP_KEEPIDLE %d", idle);
    cr_expect_eq(intvl, 10, "TCP_KEEPINTVL %d", intvl);
    cr_expect_eq(cnt, 3, "TCP_KEEPCNT %d", cnt);
    cr_expect_eq(user_timeout, 60000u, "TCP_USER_TIMEOUT %u", user_timeout);
}
