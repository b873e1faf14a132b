/*
 * history.h — read-only queries over what the store remembers, for the docs
 * site: every change event of a datastore with the time of its run, the
 * life of every field (when it appeared, last changed, disappeared) and the
 * first run that saw each container.  history.c answers them with the
 * store's own handle (store_internal.h); nothing here writes.
 *
 * All arrays and strings of a result live in its arena and are released by
 * its _free function (NULL-safe, idempotent).
 */
#ifndef MC_STORE_HISTORY_H
#define MC_STORE_HISTORY_H

#include "store.h"

/*
 * A read snapshot: between store_read_begin and store_read_end every query
 * on the store (these and store.h's loaders) sees the same committed state,
 * even while a crawl commits next to it (WAL readers keep their snapshot).
 * So a page of the docs site and its search index never disagree.
 */
int store_read_begin(store *s, mc_error *err);
void store_read_end(store *s);

/* One change event with the time of the run that recorded it. */
typedef struct mc_hist_change {
    int64_t id;            /* changes.id: recording order, stable */
    int64_t run_id;
    int64_t run_at;        /* the run's finished_at (started_at if unset), unix s */
    int64_t container_id;  /* containers.id; 0 for schema events */
    mc_change_kind kind;
    const char *schema, *container, *field, *attribute;
    const char *before, *after; /* JSON texts or NULL */
    bool breaking;
    const char *impact;         /* JSON text or NULL (docs/lineage.md) */
} mc_hist_change;

typedef struct mc_hist_changes {
    mc_hist_change *items;
    size_t n;
    mc_arena *arena;
} mc_hist_changes;

/* Every change event of a datastore, in recording order (by id).  An
 * unknown datastore gives none. */
int store_hist_changes(store *s, const char *datastore, mc_hist_changes *out,
                       mc_error *err);
void mc_hist_changes_free(mc_hist_changes *c);

/*
 * The life of one field of a container, from its versions: a field is
 * followed by its column number (attnum), so a renamed column is one life;
 * without an attnum, by its name.
 */
typedef struct mc_hist_field {
    int64_t container_id;
    const char *name;          /* in its latest version */
    int32_t attnum;            /* 0 = unknown */
    int32_t position;          /* in its latest version */
    int64_t first_run, first_at;     /* the run that first saw it, and when */
    int64_t changed_run, changed_at; /* its latest version's start when it has
                                        more than one version; 0 = never */
    int64_t removed_run, removed_at; /* 0 = still there */
    size_t n_versions;
} mc_hist_field;

typedef struct mc_hist_fields {
    mc_hist_field *items;      /* by container_id, then first_run, attnum */
    size_t n;
    mc_arena *arena;
} mc_hist_fields;

int store_hist_fields(store *s, const char *datastore, mc_hist_fields *out,
                      mc_error *err);
/* The field lives of one container (containers.id): what its page shows,
 * without reading the datastore's whole history. */
int store_hist_fields_of(store *s, int64_t container_id, mc_hist_fields *out,
                         mc_error *err);
void mc_hist_fields_free(mc_hist_fields *f);

/* The first run that saw each container of a datastore, current or not. */
typedef struct mc_hist_container {
    int64_t container_id;
    int64_t first_run, first_at;
} mc_hist_container;

typedef struct mc_hist_containers {
    mc_hist_container *items;  /* by container_id */
    size_t n;
    mc_arena *arena;
} mc_hist_containers;

int store_hist_containers(store *s, const char *datastore,
                          mc_hist_containers *out, mc_error *err);
void mc_hist_containers_free(mc_hist_containers *c);

#endif
