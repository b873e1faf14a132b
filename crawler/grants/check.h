/*
 * check.h — `metacrawl check`: a datastore tested step by step, each step
 * an item of a checklist with its status and, when it failed, the fix
 * (the troubleshooting table of docs/redshift-setup.md).  With a tunnel:
 * the tunnel's own steps come first, per hop (tunnel_reach, tunnel_host_key,
 * tunnel_auth), then tunnel_forwarding.  check.c runs the
 * steps and prints the checklist or --json; the report is plain data so
 * other commands (and tests) can read it.
 */
#ifndef MC_CHECK_H
#define MC_CHECK_H

#include "config.h"

typedef enum check_status {
    CHECK_OK = 0,
    CHECK_WARN,  /* worth knowing; does not change the exit code */
    CHECK_SKIP,  /* not tested: an earlier step failed, or it cannot be tested */
    CHECK_FAIL,
} check_status;

const char *check_status_name(check_status s); /* "ok", "warn", "skip", "fail" */

typedef struct check_item {
    char *step;       /* "tunnel_reach", ..., "reach", "authenticate", "server",
                       * "usage", ... */
    char *schema;     /* per-schema steps; NULL otherwise */
    size_t hop;       /* tunnel_reach, tunnel_host_key, tunnel_auth: the hop,
                       * 1-based (1 = the tunnel: block, 2 = the first jump:);
                       * 0 for every other item */
    check_status status;
    int code;         /* the exit code this item causes when it failed */
    char *message;    /* one line, names quoted where needed */
    char *fix;        /* what to do, when it failed or warns; may hold newlines */
    int64_t count;    /* tables without SELECT, owners without default privileges; -1 n/a */
    int64_t total;    /* tables in the schema, owners in the schema; -1 n/a */
    char **names;     /* the first of those (at most CHECK_MAX_NAMES) */
    size_t n_names;
} check_item;

enum { CHECK_MAX_NAMES = 10 };

typedef struct check_report {
    const cfg_datastore *ds;
    int exit_code;        /* the highest code of the failed items, 0 when none */
    char *dialect;        /* NULL when never connected */
    char *server_version;
    check_item *items;
    size_t n_items;
    int n_queries;        /* catalog statements (constant per dialect) */
} check_report;

/* Runs every step for one datastore; never fails itself, the report says
 * what happened. */
void check_datastore(const cfg_datastore *ds, check_report *out);
void check_report_free(check_report *r);

#endif
