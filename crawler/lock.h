/*
 * lock.h — the per-datastore crawl lock: at most one crawl of a datastore at
 * a time, whoever starts it (`crawl`, `run-due`, or a crawl thread of
 * `schedule run`), in this process or another.
 *
 * The lock is an flock(2) on "<store>.locks/<datastore>.lock", next to the
 * store; a database's datastore "<ds>/<db>" (databases:) has
 * "<store>.locks/<ds>@<db>.lock".  flock belongs to the open file description, so the kernel drops it
 * when its holder exits, however it exits (kill -9 included), and two opens
 * in one process exclude each other like two processes do.  The descriptor
 * is O_CLOEXEC: a password_command or alert command started during the crawl
 * never inherits it, so it cannot keep the lock alive after we are gone.
 * Lock files are never deleted (deleting an flock file races with a process
 * that has just opened it).
 *
 * The flock file is found by path; the lock that also holds across paths
 * (symlinks, hard links, bind mounts, relative paths) is a record lock on
 * the store file itself, one byte per datastore (lock.c says where).  Every
 * caller opens the store, creating it, before it locks.  docs/scheduling.md describes the rules.
 */
#ifndef MC_LOCK_H
#define MC_LOCK_H

#include "mc_base.h"

typedef struct crawl_lock crawl_lock;

/* What the holder of a lock wrote into it when it took it (informative:
 * read without the lock, it may be empty or stale). */
typedef struct crawl_lock_holder {
    long pid;              /* 0 = unknown */
    int64_t since;         /* unix seconds; 0 = unknown */
    char command[32];      /* "crawl", "run-due", "schedule run"; "" = unknown */
    char host[64];
    /* the holder reached the same store file by another path: its record
     * is in that path's lock directory, so who it is is unknown here */
    bool other_path;
} crawl_lock_holder;

/* "<store_path>.locks", malloc'd: the directory with the lock files and the
 * scheduler's first-sight records (docs/scheduling.md). */
char *crawl_lock_dir(const char *store_path);

/*
 * Tries to take the lock of datastore `datastore` of the store at
 * store_path, without waiting; creates the directory (0700) and the file
 * (0600) as needed.  command names the taker for the holder record.
 * Returns 0 with *out set when taken; 0 with *out NULL when someone else
 * holds it (not an error: holder_out, if not NULL, says who, as far as
 * known); -1 with err (MC_EXIT_STORE) when the lock file cannot be used.
 */
int crawl_lock_try(const char *store_path, const char *datastore,
                   const char *command, crawl_lock **out,
                   crawl_lock_holder *holder_out, mc_error *err);
/* Whether, as far as the holder record tells, a live process holds the
 * lock: for displays only (`schedule list`).  Touches nothing; a missing
 * file or record says no.  The answer may be stale by the time it is read. */
bool crawl_lock_peek(const char *store_path, const char *datastore,
                     crawl_lock_holder *holder_out);
/* Releases and frees; NULL is a no-op. */
void crawl_lock_release(crawl_lock *l);

/* "pid 4242 (run-due on host1, since 2026-11-21T10:00:02Z)" into buf. */
void crawl_lock_describe(const crawl_lock_holder *h, char *buf, size_t size);

#endif
