/*
 * test_proc.c — the one process runner (crawler/base/proc.h): stdin fed from
 * memory, stdout/stderr captured with a cap, exit status and signals
 * reported, a program that cannot start, and the deadline that stops the
 * program's whole process group (SIGTERM, then SIGKILL for what ignores
 * it).  The password_command and command-sink shapes are tested here as
 * config.c and alerts.c run them.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

static char tmpdir[64];

static void make_tmp(void)
{
    strcpy(tmpdir, "/tmp/mc_proc_test_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmp(void)
{
    char *cmd = mc_asprintf("rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
}

TestSuite(proc, .init = make_tmp, .fini = remove_tmp);

/* A NULL-terminated argv of copies (the tests leave them to the exit). */
#define ARGV(...) argv_of((const char *[]){__VA_ARGS__, NULL})
static char **argv_of(const char **list)
{
    size_t n = 0;
    while (list[n])
        n++;
    char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = mc_strdup(list[i]);
    return v;
}

/* Alive and not a zombie waiting for a parent that is gone. */
static bool process_alive(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char state = '?';
    int rc = fscanf(f, "%*d (%*[^)]) %c", &state);
    fclose(f);
    return rc == 1 && state != 'Z' && state != 'X';
}

/* The pid a script wrote into a file, waiting a little for it to appear. */
static pid_t read_pid(const char *path)
{
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(path, "r");
        int pid = 0;
        if (f) {
            int n = fscanf(f, "%d", &pid);
            fclose(f);
            if (n == 1 && pid > 0)
                return (pid_t)pid;
        }
        usleep(10 * 1000);
    }
    cr_assert_fail("no pid in %s", path);
    return 0;
}

/* Gone within a second (init reaps an orphan a moment after it dies). */
static bool gone_soon(pid_t pid)
{
    for (int i = 0; i < 100; i++) {
        if (!process_alive(pid))
            return true;
        usleep(10 * 1000);
    }
    return false;
}

Test(proc, captures_stdout_and_reports_the_exit_status)
{
    mc_proc_spec spec = {.argv = ARGV("printf", "hello\n"), .out = MC_PROC_CAPTURE,
                         .timeout_s = 10};
    mc_proc_result res;
    cr_assert_eq(mc_proc_run(&spec, &res), 0);
    cr_assert(res.exited);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0);
    cr_assert_str_eq(res.out, "hello\n");
    cr_assert_eq(res.n_out, 6);
    cr_assert_null(res.err, "stderr was not captured");
    mc_proc_result_free(&res);
    mc_proc_result_free(&res); /* safe twice */

    spec.argv = ARGV("sh", "-c", "echo oops >&2; exit 3");
    spec.out = MC_PROC_DEVNULL;
    spec.err = MC_PROC_CAPTURE;
    cr_assert_eq(mc_proc_run(&spec, &res), 0);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 3);
    cr_assert_str_eq(res.err, "oops\n");
    mc_proc_result_free(&res);

    spec.argv = ARGV("sh", "-c", "kill -USR1 $$");
    cr_assert_eq(mc_proc_run(&spec, &res), 0);
    cr_assert(WIFSIGNALED(res.status) && WTERMSIG(res.status) == SIGUSR1);
    cr_assert_not(res.timed_out);
    mc_proc_result_free(&res);
}

Test(proc, feeds_stdin_and_caps_what_it_keeps)
{
    size_t n = 1 << 20; /* far more than a pipe holds */
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    mc_proc_spec spec = {.argv = ARGV("cat"), .input = big, .n_input = n,
                         .out = MC_PROC_CAPTURE, .capture_max = 1000, .timeout_s = 10};
    mc_proc_result res;
    cr_assert_eq(mc_proc_run(&spec, &res), 0);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0,
              "cat read everything: the excess was drained, not left in the pipe");
    cr_assert(res.overflow);
    cr_assert_eq(res.n_out, 1000);
    cr_assert_eq(memcmp(res.out, big, 1000), 0);
    cr_assert_eq(res.out[1000], '\0');
    mc_proc_result_free(&res);

    /* a program that does not read its input: EPIPE, not a dead caller */
    spec.argv = ARGV("true");
    cr_assert_eq(mc_proc_run(&spec, &res), 0);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0);
    mc_proc_result_free(&res);

    /* no input: stdin is /dev/null */
    spec = (mc_proc_spec){.argv = ARGV("wc", "-c"), .out = MC_PROC_CAPTURE, .timeout_s = 10};
    cr_assert_eq(mc_proc_run(&spec, &res), 0);
    cr_assert_eq(atoi(res.out), 0);
    mc_proc_result_free(&res);
    free(big);
}

Test(proc, a_program_that_cannot_start_is_reported)
{
    mc_proc_spec spec = {.argv = ARGV("metacrawl-test-no-such-program"),
                         .out = MC_PROC_CAPTURE, .timeout_s = 10};
    mc_proc_result res;
    cr_assert_eq(mc_proc_run(&spec, &res), -1);
    cr_assert_eq(res.start_errno, ENOENT);
    cr_assert_str_eq(res.start_stage, "spawn");
    cr_assert_null(res.out);
    mc_proc_result_free(&res);
}

/* The command sink's shape (alerts.c): input on stdin, stderr kept.  At
 * the deadline the whole group goes, including a child that ignores
 * SIGTERM (it gets SIGKILL after the grace period). */
Test(proc, the_deadline_stops_the_whole_group)
{
    char *pidfile = mc_asprintf("%s/pid", tmpdir);
    char *script = mc_asprintf("(trap '' TERM; sleep 30) & echo $! > '%s'; wait", pidfile);
    mc_proc_spec spec = {.argv = ARGV("sh", "-c", script), .input = "{}", .n_input = 2,
                         .out = MC_PROC_DEVNULL, .err = MC_PROC_CAPTURE, .timeout_s = 1};
    mc_proc_result res;
    double t0 = mc_monotonic();
    cr_assert_eq(mc_proc_run(&spec, &res), 0);
    double took = mc_monotonic() - t0;
    cr_assert(res.timed_out);
    cr_assert(took >= 1 && took < 1 + MC_PROC_TERM_GRACE_S + 2, "took %.1fs", took);
    pid_t child = read_pid(pidfile);
    cr_assert(gone_soon(child), "the child that ignores SIGTERM survived");
    mc_proc_result_free(&res);
    free(script);
    free(pidfile);
}

/* password_command as config.c runs it: stdout is the secret, stderr
 * passed through.  A helper that started a child which keeps running is
 * stopped at the deadline together with that child (it used to lose only
 * the helper and leave the child behind). */
Test(proc, password_command_is_stopped_with_its_child)
{
    char *pidfile = mc_asprintf("%s/pid", tmpdir);
    char *script = mc_asprintf("sleep 30 & echo $! > '%s'; printf s3cret; sleep 30", pidfile);
    mc_proc_spec spec = {.argv = ARGV("sh", "-c", script), .out = MC_PROC_CAPTURE,
                         .err = MC_PROC_INHERIT, .capture_max = 64 * 1024,
                         .kill_on_overflow = true, .secret = true, .timeout_s = 1};
    mc_proc_result res;
    double t0 = mc_monotonic();
    cr_assert_eq(mc_proc_run(&spec, &res), 0);
    cr_assert(mc_monotonic() - t0 < 4);
    cr_assert(res.timed_out);
    cr_assert(res.exited, "the helper was reaped");
    pid_t child = read_pid(pidfile);
    cr_assert(gone_soon(child), "the helper's child survived the deadline");
    mc_proc_result_free(&res);
    cr_assert_null(res.out);
    free(script);
    free(pidfile);
}

/* A helper that exits and leaves an agent holding its stdout: the run ends
 * when the helper exits, with what it printed, and the agent is left alone
 * (only a deadline stops a group). */
Test(proc, a_helper_that_exits_ends_the_run_and_its_agent_stays)
{
    char *pidfile = mc_asprintf("%s/pid", tmpdir);
    char *script = mc_asprintf("sleep 30 & echo $! > '%s'; printf s3cret", pidfile);
    mc_proc_spec spec = {.argv = ARGV("sh", "-c", script), .out = MC_PROC_CAPTURE,
                         .err = MC_PROC_INHERIT, .capture_max = 64 * 1024,
                         .kill_on_overflow = true, .secret = true, .timeout_s = 10};
    mc_proc_result res;
    double t0 = mc_monotonic();
    cr_assert_eq(mc_proc_run(&spec, &res), 0);
    cr_assert(mc_monotonic() - t0 < 3, "waited for the agent's pipe to close");
    cr_assert_not(res.timed_out);
    cr_assert(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0);
    cr_assert_str_eq(res.out, "s3cret");
    pid_t agent = read_pid(pidfile);
    cr_assert(process_alive(agent));
    kill(agent, SIGKILL);
    mc_proc_result_free(&res);
    free(script);
    free(pidfile);
}

Test(proc, too_much_output_stops_a_secret_helper)
{
    mc_proc_spec spec = {.argv = ARGV("yes"), .out = MC_PROC_CAPTURE,
                         .capture_max = 64 * 1024, .kill_on_overflow = true, .secret = true,
                         .timeout_s = 10};
    mc_proc_result res;
    double t0 = mc_monotonic();
    cr_assert_eq(mc_proc_run(&spec, &res), 0);
    cr_assert(mc_monotonic() - t0 < 1 + MC_PROC_TERM_GRACE_S);
    cr_assert(res.overflow);
    cr_assert_not(res.timed_out);
    cr_assert_eq(res.n_out, 64 * 1024);
    mc_proc_result_free(&res);
}

/* ---- programs in the background (a tunnel's ssh or command) --------------- */

/* What it writes is kept (the last bytes), its exit is seen, and stopping
 * it takes its whole group, a child that ignores SIGTERM included. */
Test(proc, background_program_output_exit_and_group_stop)
{
    mc_proc *p = NULL;
    int e = 0;
    mc_proc_bg_spec spec = {.argv = ARGV("sh", "-c", "echo out; echo err >&2; exit 3"),
                            .capture = true};
    cr_assert_eq(mc_proc_start(&spec, &p, &e), 0, "%s", strerror(e));
    int status = 0;
    for (int i = 0; i < 500 && !mc_proc_exited(p, &status); i++)
        usleep(10 * 1000);
    cr_assert(mc_proc_exited(p, &status));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3, "status %d", status);
    const char *said = mc_proc_output(p);
    cr_assert(strstr(said, "out\n") && strstr(said, "err\n"), "%s", said);
    char buf[64];
    cr_assert_str_eq(mc_proc_status_text(status, buf, sizeof buf), "exit status 3");
    mc_proc_stop(p);

    char *pidfile = mc_asprintf("%s/bgpid", tmpdir);
    char *script = mc_asprintf("(trap '' TERM; sleep 30) & echo $! > '%s'; "
                               "head -c 20000 /dev/zero | tr '\\0' x; wait", pidfile);
    mc_proc_bg_spec spec2 = {.argv = ARGV("sh", "-c", script), .capture = true,
                             .keep_max = 100};
    cr_assert_eq(mc_proc_start(&spec2, &p, &e), 0);
    pid_t child = read_pid(pidfile);
    cr_assert(process_alive(child));
    for (int i = 0; i < 100 && strlen(mc_proc_output(p)) < 100; i++)
        usleep(10 * 1000);
    cr_assert_eq(strlen(mc_proc_output(p)), 100, "only the last bytes are kept");
    cr_assert_not(mc_proc_exited(p, NULL));
    mc_proc_stop(p);
    cr_assert(gone_soon(child), "the child that ignores SIGTERM survived");
    free(script);
    free(pidfile);

    mc_proc_bg_spec missing = {.argv = ARGV("/nonexistent/program")};
    cr_assert_eq(mc_proc_start(&missing, &p, &e), -1);
    cr_assert_eq(e, ENOENT);
    mc_proc_stop(NULL);
}
