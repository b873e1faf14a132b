/*
 * facts.h — table facts (docs/lineage.md, "Table facts"): how big a table
 * is, how many rows it has, when it was last analysed and vacuumed, and on
 * Redshift what SVV_TABLE_INFO says of it (size, skew, unsorted, stats_off).
 *
 * Read with ONE statement per crawl, after the catalog's snapshot is
 * committed, so that whatever happens to it — a permission error, a lock,
 * a timeout, a lost connection — cannot touch the catalog: the crawl then
 * goes on without facts, is neither failed nor partial, and says the facts
 * were unavailable.  Facts are attached to the catalog's containers
 * (mc_container.facts) and stored apart from the versioned catalog (store.h,
 * mc_facts): they never make a change or a version.
 */
#ifndef MC_FACTS_H
#define MC_FACTS_H

#include "config.h"
#include "store.h"

/* discover.h's session (discover.h includes this header for its result). */
typedef struct disc_session disc_session;

typedef enum disc_facts_status {
    DISC_FACTS_NOT_READ = 0, /* not attempted (the crawl stopped before) */
    DISC_FACTS_READ,
    DISC_FACTS_UNAVAILABLE,
} disc_facts_status;
/* "not_read", "read", "unavailable" */
const char *disc_facts_status_name(disc_facts_status s);

typedef struct disc_facts_outcome {
    disc_facts_status status;
    size_t n_containers; /* containers that got facts */
    char *why;           /* unavailable: the server's message (malloc'd) */
    char *fix;           /* unavailable: what makes them readable; NULL when
                            no grant helps (a lock, a timeout) (malloc'd) */
    const char *source;  /* what they are read from, for messages */
} disc_facts_outcome;
void disc_facts_outcome_free(disc_facts_outcome *o); /* NULL is a no-op */

/*
 * Reads the facts of cat's tables (and materialized and partitioned ones)
 * in the schemas of IN_LIST (the escaped IN-list discovery built; DB_LIT
 * the connected database as a literal) and attaches them.  Call after the
 * snapshot's COMMIT, with cat finished.  Never fails: out says what came of
 * it.  One statement.
 */
void disc_facts_read(disc_session *s, mc_catalog *cat, const char *in_list,
                     const char *db_lit, const cfg_datastore *ds, disc_facts_outcome *out);

/* For `check`: the same source as a crawl reads, one statement that returns
 * at most one row; out->status READ or UNAVAILABLE (with why and fix). */
void disc_facts_probe(disc_session *s, const cfg_datastore *ds, disc_facts_outcome *out);

/* The statement that lets ds's user read the facts on Redshift
 * ("GRANT SELECT ON svv_table_info TO "user";"), malloc'd. */
char *disc_facts_grant(const cfg_datastore *ds);

#endif
