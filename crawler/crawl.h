/*
 * crawl.h — one crawl of one datastore: run row, connect, discover, load
 * what the store knows, diff, and record it all in one transaction.
 */
#ifndef MC_CRAWL_H
#define MC_CRAWL_H

#include "config.h"
#include "diff.h"
#include "discover.h"
#include "tunnel.h"

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
    /* containers whose columns and keys were read from the server (the
     * others were as recorded: reread.h) */
    int64_t n_reread;
    bool baseline;           /* first crawl of this datastore */
    diff_result diff;        /* the changes (strings live in prev/cur) */
    mc_catalog *prev, *cur;
    char **warnings;
    size_t n_warnings;
    double seconds;
    int n_queries;
    /* table facts (facts.h): read, unavailable (why, fix) or not read */
    disc_facts_outcome facts;
} crawl_report;

/* st may be NULL with dry_run when there is no store yet.  Never returns
 * an error itself: the report says what happened. */
void crawl_datastore(const cfg_datastore *ds, store *st, const crawl_opts *o,
                     crawl_report *r);
void crawl_report_free(crawl_report *r);

/*
 * Connecting, tunnel or not — for every command that talks to a datastore
 * (crawl, check, grants --apply, the scheduler).
 *
 * crawl_tunnel_open opens ds's tunnel (*out = NULL without a `tunnel:`): the
 * hops' secrets are resolved just before and wiped right after, each step
 * gets ds's connect_timeout.  max_connections: how many database connections
 * will be made through it (the listener closes after that many; 0 = until
 * tunnel_seal).  PROGRESS (may be NULL) says which hop and step failed, for
 * step-by-step reports.  Errors are the tunnel's (exit 4/5, or 3 for a
 * secret that cannot be read), with a hint.
 *
 * crawl_target is where libpq connects: the warehouse itself, or
 * host=<warehouse> hostaddr=127.0.0.1 port=<the tunnel's local port>, so TLS
 * verification and .pgpass still see the real host name.
 *
 * crawl_tunnel_address: after libpq failed to connect through T, its
 * message names the tunnel's local end (" at HOST:LOCALPORT"); this puts the
 * warehouse's own port back (" at HOST:PORT through the tunnel").  The one
 * wording for crawl, check and grants.  T may be NULL (nothing changes).
 *
 * crawl_tunnel_explain: after a database error through T, replaces *err with
 * the tunnel's error when the tunnel is the cause (connection lost, forwarding
 * refused, warehouse unreachable from the bastion).  T may be NULL.
 *
 * crawl_connect does the three for one session and seals the tunnel: on
 * success close *sess_out first, then tunnel_close(*tunnel_out).
 */
int crawl_tunnel_open(const cfg_datastore *ds, int max_connections,
                      tunnel_progress *progress, tunnel **out, mc_error *err);
disc_target crawl_target(const cfg_datastore *ds, const tunnel *t);
void crawl_tunnel_address(const cfg_datastore *ds, const tunnel *t, mc_error *err);
void crawl_tunnel_explain(tunnel *t, mc_error *err);
int crawl_connect(const cfg_datastore *ds, disc_session **sess_out, tunnel **tunnel_out,
                  mc_error *err);

#endif
