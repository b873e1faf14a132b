/*
 * targets.h — the databases a datastore with `databases:` stands for
 * (docs/configuration.md, "Several databases").  Each is crawled in its own
 * session and recorded as its own datastore "<datastore>/<database>"
 * (cfg_database_datastore_name): its own runs, lock, history, pages and
 * alert match text.
 */
#ifndef MC_TARGETS_H
#define MC_TARGETS_H

#include "config.h"
#include "store.h"

typedef struct crawl_targets {
    cfg_datastore *ds;      /* one per database (cfg_database_target): in the order
                               written, or for "*" in byte order of the names */
    size_t n;
    bool listed;            /* read from the server (databases: "*") */
    const cfg_datastore *base; /* the datastore of the file they belong to */
} crawl_targets;

/*
 * The databases of ds, one datastore each.  databases: [a, b] gives them as
 * written, without connecting.  databases: "*" connects to ds's own
 * `database:` and reads the list with one statement: on PostgreSQL the
 * databases that allow connections, are not templates and on which the
 * user has CONNECT; on Redshift SVV_REDSHIFT_DATABASES' local and shared
 * databases.  only (may be NULL): that one database alone, not listed.  A
 * datastore without databases: gives n = 0 (crawl ds itself).  Errors are
 * the connection's, or the listing statement's with a hint.
 */
int crawl_list_databases(const cfg_datastore *ds, const char *only, crawl_targets *out,
                         mc_error *err);
void crawl_targets_free(crawl_targets *t); /* NULL is a no-op */

/* The recorded datastores of ds's databases ("<ds>/..." in the store) that
 * a "*" list t no longer has: not crawled, kept as recorded, and said so
 * (a warning each) rather than dropped in silence.  ds = t->base.  NULL-terminated,
 * malloc'd (free each and the array); NULL when none, when t was not listed
 * or st is NULL. */
char **crawl_targets_gone(const crawl_targets *t, store *st);
/* Logs a warning for each of crawl_targets_gone's names and frees them. */
void crawl_targets_warn_gone(const crawl_targets *t, store *st);

#endif
