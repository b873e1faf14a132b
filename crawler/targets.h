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

typedef struct crawl_targets {
    cfg_datastore *ds;      /* one per database (cfg_database_target), in name order */
    size_t n;
    bool listed;            /* read from the server (databases: "*") */
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

#endif
