/*
 * grants_internal.h — what the files of the grants module share and nobody
 * else sees: the scope of a datastore as the live catalog shows it
 * (scope.c reads it, apply.c turns it into the plan's input), and check's
 * state while its steps run (check.c, catalog.c).  The public header is
 * grants.h.
 */
#ifndef MC_GRANTS_INTERNAL_H
#define MC_GRANTS_INTERNAL_H

#include "config.h"
#include "crawl.h"
#include "grants.h"
#include "pg.h"

/* The schemas in scope, the owners of their tables, and what exists of the
 * crawler user, its group and the membership. */
typedef struct grants_scope {
    grants_schema_in *schemas; /* names point into `names` */
    char **names;              /* owned */
    size_t n_schemas;
    char **owners;             /* sorted, distinct */
    size_t n_owners;
    bool owners_known;
    grants_known user_exists, group_exists, member;
} grants_scope;

/* Appends a schema; the arrays were allocated for enough schemas by the
 * caller. */
void grants_scope_add_schema(grants_scope *s, const char *name, int external_kind);
void grants_scope_free(grants_scope *s);
/* Adds name to a sorted, distinct list. */
void grants_add_distinct(char ***list, size_t *n, const char *name);
/*
 * The schemas in scope (listed, or the datastore's globs over the live
 * catalog), the owners of their tables (container globs applied) and what
 * exists of the user, the group role and the membership: three statements.
 */
int grants_scope_read(pg_session *pg, grants_dialect d, const cfg_datastore *ds,
                      const char *group_role, char **listed, grants_scope *sc, mc_error *err);

/* ---- check (check.c, catalog.c) ----------------------------------------- */

typedef struct check_ctx {
    const cfg_datastore *ds;
    check_report *r;
    /* Where libpq connects.  A tunnel's steps point it at the local end of
     * the tunnel (hostaddr 127.0.0.1, the local port) and keep host, so
     * TLS and .pgpass still see the warehouse's name. */
    disc_target target;
    tunnel *tun;               /* open from the tunnel step to the end */
    /* The database connection is made once: through a tunnel by the
     * forwarding step (the first connection is what tests forwarding),
     * else by the database step, which reports it either way. */
    bool connect_tried;
    int connect_rc;
    mc_error connect_err;
    disc_session *sess;
    grants_dialect dialect;
} check_ctx;

/* Adds an item to the report (the exit code follows the failed ones);
 * message and fix are taken over. */
check_item *check_add_item(check_ctx *x, const char *step, const char *schema,
                           check_status status, int code, char *message, char *fix);
/* check_name_text into b. */
void check_put_name(mc_buf *b, const char *name);
/* The fix for an error from a catalog statement; NULL when none applies. */
char *check_query_fix(const check_ctx *x, const char *msg);
/* The catalog step (catalog.c): 0, or -1 when it could not read the catalog. */
int check_step_catalog(check_ctx *x);
/* datashares.c: the OUTBOUND datashares of the database, Redshift only (an item each). */
int check_step_datashares(check_ctx *x);

#endif
