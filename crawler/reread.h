/*
 * reread.h — which tables a re-crawl reads again (docs/performance.md,
 * "Fingerprints").  The container query gives every PostgreSQL table a
 * fingerprint of its catalog rows (discover.c); a table whose fingerprint,
 * name, owner, comment and kind are what the store recorded — and whose
 * foreign keys point only at tables of which that is true too — is as
 * recorded: its columns and keys are not read again.
 */
#ifndef MC_REREAD_H
#define MC_REREAD_H

#include "store.h"

typedef struct reread_plan reread_plan;

/*
 * Plans the re-read of cur (its containers read, nothing attached yet)
 * against prev (store_load_current; NULL = no store).  Every container that
 * need not be read again gets fields_unread (its hash copied from prev);
 * *filter_out is NULL when everything is read (no prev, no fingerprints,
 * or more than half of the containers moved: one full read is cheaper),
 * else a malloc'd SQL array literal of the oids to read, '{1,2}'::oid[].
 */
reread_plan *reread_plan_make(mc_catalog *cur, const mc_catalog *prev, char **filter_out);
/* After the key and column queries: the containers not read again take
 * their keys from prev (copied into cur's arena).  Frees the plan; NULL is
 * a no-op. */
void reread_plan_finish(reread_plan *p, mc_catalog *cur, const mc_catalog *prev);
/* How many containers were planned to be read again (all without a plan). */
size_t reread_plan_count(const reread_plan *p, const mc_catalog *cur);

#endif
