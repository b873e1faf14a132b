/*
 * spool.h — where a first crawl keeps the fields it has read until the
 * store writes them (docs/performance.md, "Memory"): an unlinked temporary
 * file, one record per container, so that a first crawl of 4 million
 * columns holds its containers in memory and not their fields.
 */
#ifndef MC_SPOOL_H
#define MC_SPOOL_H

#include "store.h"

typedef struct disc_spool disc_spool;

/* A new, empty spool: a file in $TMPDIR (else /tmp), mode 0600, unlinked at
 * once (nothing is left behind, however the process ends).  NULL with err
 * (MC_EXIT_STORE) when no file can be made. */
disc_spool *spool_open(mc_error *err);
void spool_close(disc_spool *sp); /* NULL is a no-op */
/* Appends the n fields of the container with database oid OID (once per
 * oid).  0, or -1 with err. */
int spool_put(disc_spool *sp, int64_t oid, const mc_field *fields, size_t n, mc_error *err);
/* The fields spooled for OID: *out valid until the next spool_get or
 * spool_close; an unknown oid gives none.  0, or -1 with err. */
int spool_get(disc_spool *sp, int64_t oid, const mc_field **out, size_t *n, mc_error *err);
/* Bytes written so far. */
uint64_t spool_bytes(const disc_spool *sp);

#endif
