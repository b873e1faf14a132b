/*
 * proc.h — the one way metacrawl runs another program: an alert's command
 * sink (alerts.c) and a datastore's password_command (config.c).  Written by
 * hand on posix_spawn because no library in the tree runs a program with a
 * deadline that reaches the program's own children.
 *
 * What every run gets:
 *  1. No shell: argv[0] is looked up on PATH, the arguments are passed as
 *     they are.
 *  2. Its own process group, no blocked signals and SIGPIPE at its default,
 *     so that a deadline can stop what the program started as well.
 *  3. The run is over when the program exits, not when its pipes close: a
 *     helper that leaves a background child (an agent) holding stdout does
 *     not keep the caller waiting.  What it wrote before it exited is kept.
 *  4. At the deadline (or when a captured stream passes its cap with
 *     kill_on_overflow) the whole group gets SIGTERM, then after
 *     MC_PROC_TERM_GRACE_S SIGKILL; the program is reaped before returning.
 *  5. A captured stream is held in one buffer allocated once (never
 *     reallocated, so no copy is left behind) and, with `secret`, wiped by
 *     mc_proc_result_free.
 *  6. SIGPIPE raised by feeding stdin to a program that stopped reading is
 *     taken back in the calling thread (mc_sigpipe_block).
 */
#ifndef MC_PROC_H
#define MC_PROC_H

#include "mc_base.h"

#include <signal.h>

/* Seconds between the SIGTERM and the SIGKILL of a run that is stopped. */
#define MC_PROC_TERM_GRACE_S 1.0

/* Where the program's stdout or stderr goes. */
enum mc_proc_stream {
    MC_PROC_DEVNULL = 0,
    MC_PROC_INHERIT,   /* the caller's own */
    MC_PROC_CAPTURE,   /* into the result, at most capture_max bytes */
};

typedef struct mc_proc_spec {
    char *const *argv;          /* argv[0]: program name or path; NULL-terminated */
    /* stdin: a pipe fed with input[0..n_input) and then closed, or
     * /dev/null when input is NULL. */
    const char *input;
    size_t n_input;
    enum mc_proc_stream out, err;
    size_t capture_max;         /* per captured stream; 0 = 4096 */
    bool kill_on_overflow;      /* more than capture_max: stop the program */
    bool secret;                /* captured bytes are a secret: wipe them */
    double timeout_s;           /* > 0 */
} mc_proc_spec;

typedef struct mc_proc_result {
    /* Set when the program never ran: the errno and what failed ("pipe",
     * "spawn": posix_spawnp's own error, e.g. ENOENT). */
    int start_errno;
    const char *start_stage;
    bool exited;      /* reaped: status is valid */
    int status;       /* waitpid status */
    bool timed_out;   /* stopped at the deadline */
    bool overflow;    /* a captured stream passed capture_max */
    int lost_errno;   /* poll/waitpid failed: stopped and reaped, status invalid */
    char *out, *err;  /* captured bytes, NUL-terminated; NULL unless captured */
    size_t n_out, n_err;
    bool secret;
} mc_proc_result;

/* Runs spec->argv.  0 when the program ran (whatever its outcome, see res),
 * -1 when it could not be started (res->start_errno, res->start_stage).
 * res is always filled; free it with mc_proc_result_free. */
int mc_proc_run(const mc_proc_spec *spec, mc_proc_result *res);
/* Frees (and for a secret, wipes) the captured streams; safe twice. */
void mc_proc_result_free(mc_proc_result *res);

/*
 * Writing to a pipe or socket whose reader is gone raises SIGPIPE.  main()
 * ignores it, but the library must not depend on that: code that writes to
 * a pipe or socket blocks it in its thread and takes back one it caused.
 */
typedef struct mc_sigpipe_guard {
    sigset_t old_mask;
    bool was_pending;
} mc_sigpipe_guard;
void mc_sigpipe_block(mc_sigpipe_guard *g);
void mc_sigpipe_restore(mc_sigpipe_guard *g);

#endif

/*
 * A program that keeps running while the caller works: a tunnel's ssh or
 * port-forwarding command.  The same rules as mc_proc_run (no shell, its
 * own process group, no blocked signals, SIGPIPE at its default), but the
 * caller decides when it ends: mc_proc_stop stops the whole group (SIGTERM,
 * MC_PROC_TERM_GRACE_S, SIGKILL) and reaps the program, whatever it started.
 * Its stdout and stderr go into one pipe whose last bytes are kept (for the
 * error message when it fails), or to /dev/null.
 */
typedef struct mc_proc mc_proc;

typedef struct mc_proc_bg_spec {
    char *const *argv;       /* argv[0]: program name or path; NULL-terminated */
    bool capture;            /* stdout and stderr into the kept output; else /dev/null */
    size_t keep_max;         /* bytes of output kept (the last ones); 0 = 8192 */
} mc_proc_bg_spec;

/* 0 and *out when it started; -1 with *errno_out (posix_spawnp's ENOENT for
 * a program not found) when it did not. */
int mc_proc_start(const mc_proc_bg_spec *spec, mc_proc **out, int *errno_out);
/* Reads what it wrote so far without blocking; the fd to poll for more is
 * mc_proc_output_fd (-1 once the pipe is closed or without capture). */
void mc_proc_drain(mc_proc *p);
int mc_proc_output_fd(const mc_proc *p);
/* The kept output, drained first; NUL-terminated, borrowed until stop. */
const char *mc_proc_output(mc_proc *p);
/* True once the program has exited (it is reaped then; *status_out gets the
 * waitpid status).  Its group may still hold children: mc_proc_stop. */
bool mc_proc_exited(mc_proc *p, int *status_out);
/* Its pid, which is also its process group's id. */
pid_t mc_proc_pid(const mc_proc *p);
/* Stops the program's group, reaps it and frees P.  NULL is a no-op. */
void mc_proc_stop(mc_proc *p);
/* "exit status N" / "killed by signal N" for a waitpid status; static. */
const char *mc_proc_status_text(int status, char *buf, size_t n);
