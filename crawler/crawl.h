/*
 * crawl.h — one crawl of one datastore: run row, connect, discover, load
 * what the store knows, diff, and record it all in one transaction.
 */
#ifndef MC_CRAWL_H
#define MC_CRAWL_H

#include "config.h"
#include "diff.h"
#include "discover.h"

typedef struct crawl_opts {
    bool dry_run;          /* discover and diff; write nothing */
    bool accept_removals;  /* record removals over fail_safe */
    int64_t scheduled_for; /* 0 = run by hand */
} crawl_opts;

typedef struct crawl_report {
    const cfg_datastore *ds;
    int exit_code;           /* 0, or the mc_exit of what went wrong / 7 */
    mc_error error;          /* set when the crawl failed */
    mc_run_status status;
    int64_t run_id;          /* 0 with --dry-run or when no run was begun */
    char *dialect, *server_version;
    int64_t n_schemas, n_containers, n_fields;
    bool baseline;           /* first crawl of this datastore */
    diff_result diff;        /* the changes (strings live in prev/cur) */
    mc_catalog *prev, *cur;
    char **warnings;
    size_t n_warnings;
    double seconds;
    int n_queries;
} crawl_report;

/* st may be NULL with dry_run when there is no store yet.  Never returns
 * an error itself: the report says what happened. */
void crawl_datastore(const cfg_datastore *ds, store *st, const crawl_opts *o,
                     crawl_report *r);
void crawl_report_free(crawl_report *r);

#endif
