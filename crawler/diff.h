/*
 * diff.h — compares two catalogs and produces the change events of
 * SPEC §5 (docs/changes.md): pairing by database object id first (so
 * renames are recognised), then by name; the removal-safety rules; and the
 * links the store needs to write versions.
 */
#ifndef MC_DIFF_H
#define MC_DIFF_H

#include "store.h"
#include "config.h"

typedef struct diff_opts {
    /* false: no removal is recorded at all (held back); the crawl passes
     * true even when a schema could not be read, whose containers the
     * diff protects on its own */
    bool allow_removals;
    /* fail_safe.max_removed_pct; removals over it are held back... */
    double max_removed_pct;
    /* ...unless --accept-removals */
    bool accept_removals;
    /* the datastore's include/exclude globs; recorded objects outside them
     * are left as they are (narrowing the scope removes nothing); NULL =
     * everything is in scope */
    const cfg_datastore *scope;
    /* the first crawl of a datastore: its changes only write versions and
     * are never shown, so the JSON of whole added objects is not built */
    bool baseline;
    /* two different datastores (`diff A B`): database ids of one say
     * nothing about the other, so containers and fields pair by name only,
     * and a container or field left over on each side is a rename only when
     * its shape matches (mc_change.by_similarity; docs/ci.md) */
    bool by_name_only;
} diff_opts;

typedef struct diff_result {
    mc_changes changes;      /* sorted by schema, container, field */
    ptrdiff_t *cur_to_prev;  /* per cur container: its prev index or -1 */
    size_t *hold_back;       /* prev containers with a held-back field removal */
    size_t n_hold_back;
    size_t n_held_back;      /* removal events not recorded */
    bool fail_safe_tripped;  /* held back because of max_removed_pct */
    size_t n_removed_containers; /* removed containers before holding back */
} diff_result;

/*
 * Diffs prev (as recorded) against cur (as discovered).  Containers whose
 * hash is equal are not compared field by field; for the others, when
 * prev's fields are not loaded, they are loaded from s (which may be NULL
 * when prev is complete).  Containers in cur schemas that are not usable
 * are neither compared nor removed.
 */
int diff_catalogs(store *s, mc_catalog *prev, const mc_catalog *cur,
                  const diff_opts *opts, diff_result *out, mc_error *err);
void diff_result_free(diff_result *r);
/* Removes the silent changes (mc_change.silent) once the store has them:
 * what is left is what people and alerts see. */
void diff_drop_silent(diff_result *r);

/* True when two view definitions are the same SQL: SQL comments and white
 * space (outside quotes) count only where they separate two words.  NULL
 * equals only NULL. */
bool diff_sql_text_equal(const char *a, const char *b);

#endif
