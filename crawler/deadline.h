/*
 * deadline.h — max_runtime for one crawl (docs/scheduling.md, "Deadlines").
 *
 * A watchdog thread that, when the crawl's time is up, asks the server to
 * cancel the running statement and, if the crawl is still blocked a grace
 * period later (a server that no longer answers cannot cancel anything),
 * cuts the connection so that the blocked call returns. The crawl then fails
 * like any other broken connection: nothing is committed, the store stays as
 * it was, and crawl.c words the error after the deadline.
 */
#ifndef MC_DEADLINE_H
#define MC_DEADLINE_H

#include <stdbool.h>

#include "pg.h"

typedef struct crawl_deadline crawl_deadline;

/* Starts the watch: `seconds` from now (0 or less: no deadline, NULL is
 * returned and every call below is a no-op). */
crawl_deadline *deadline_start(double seconds, double grace_seconds);

/* The session the deadline interrupts, or NULL when the crawl no longer talks
 * to the server. Before the session is closed, watch NULL. */
void deadline_watch(crawl_deadline *d, pg_session *s);

/* Whether the deadline passed (the crawl was or is being interrupted). */
bool deadline_fired(crawl_deadline *d);

/* Stops the watch and frees it; NULL is a no-op. */
void deadline_stop(crawl_deadline *d);

#endif
