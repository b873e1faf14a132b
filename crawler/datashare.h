/*
 * datashare.h — Redshift datashares (docs/redshift.md, "Several databases and
 * datashares").  A database created from a datashare (a consumer database)
 * has no local catalog: pg_class says nothing of its tables.  Its objects
 * are read from the SVV_REDSHIFT_* views, which describe them for every
 * database of the cluster, filtered by the database's name.
 */
#ifndef MC_DATASHARE_H
#define MC_DATASHARE_H

#include "discover.h"

/* Where a consumer database's objects come from: SVV_REDSHIFT_DATABASES'
 * database_options, a JSON object with datashare_name,
 * datashare_producer_account and datashare_producer_namespace.  Fields the
 * text does not hold are NULL. */
typedef struct dshare_origin {
    char *share_name;
    char *producer_account;
    char *producer_namespace;
} dshare_origin;
void dshare_origin_parse(const char *options, dshare_origin *out);
void dshare_origin_free(dshare_origin *o); /* NULL is a no-op */
/* When the options did not hold the producer namespace (they are cut at
 * 128 characters): one statement on SVV_DATASHARES fills in what its
 * INBOUND row of `database` says; a failure leaves o as it was. */
void dshare_origin_complete(disc_session *s, const char *database, dshare_origin *o);
/* "datashare SHARE of producer namespace NS (account ACCT)", the parts that
 * are known; malloc'd. */
char *dshare_origin_text(const dshare_origin *o);

/*
 * Reads the catalog of consumer database `database` through
 * svv_redshift_schemas, svv_redshift_tables and svv_redshift_columns, in one
 * read-only transaction (three statements between BEGIN and COMMIT), with
 * ds's schema and container globs.  What those views do not say (keys,
 * definitions, dist styles other than KEY, object ids, row estimates) is
 * left unknown; docs/redshift.md lists it.  out as disc_run fills it.
 */
int dshare_discover(disc_session *s, const cfg_datastore *ds, const char *database,
                    disc_result *out, mc_error *err);

#endif
