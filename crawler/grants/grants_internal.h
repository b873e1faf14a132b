/*
 * grants_internal.h — what the files of the grants module share and nobody
 * else sees: the scope of a datastore as the live catalog shows it
 * (scope.c reads it, apply.c turns it into the plan's input).  The public
 * header is grants.h.
 */
#ifndef MC_GRANTS_INTERNAL_H
#define MC_GRANTS_INTERNAL_H

#include "config.h"
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

#endif
