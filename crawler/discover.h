/*
 * discover.h — one database session per datastore: connect, detect the
 * dialect from version(), and read the catalog with a constant number of
 * queries (docs/discovery.md lists them).  The session is crawler/pg's;
 * no libpq type leaks through this header.
 */
#ifndef MC_DISCOVER_H
#define MC_DISCOVER_H

#include "config.h"
#include "facts.h"
#include "pg.h"
#include "store.h"

typedef struct disc_session disc_session;

/* Where libpq should connect; a tunnel (later) fills hostaddr/port with its
 * local end while host stays the warehouse name for TLS and .pgpass. */
typedef struct disc_target {
    const char *host;
    const char *hostaddr; /* NULL = resolve host */
    int port;
} disc_target;

/* Connects with the datastore's settings (password resolved from its
 * secret source just before connecting and wiped right after).  Errors:
 * MC_EXIT_CONNECT (network, refused, timeout, TLS) or MC_EXIT_AUTH
 * (password, unknown user or database, pg_hba), each with a hint. */
int disc_connect(const cfg_datastore *ds, const disc_target *target,
                 disc_session **out, mc_error *err);
void disc_close(disc_session *s); /* NULL is a no-op */

const char *disc_dialect(const disc_session *s);        /* "postgresql", "redshift" */
/* The session's connection, for crawler code that runs its own statements
 * (check, grants) and for the max_runtime watchdog (deadline.c); borrowed
 * until disc_close. */
pg_session *disc_pg(disc_session *s);
/* Detects the dialect (pg_detect: version()) if not done yet; 0 or -1 with err. */
int disc_detect(disc_session *s, mc_error *err);
const char *disc_server_version(const disc_session *s); /* "PostgreSQL 15.4" */

/* What discovery found that the user should know about. */
typedef struct disc_warning {
    char *schema;
    char *message;
} disc_warning;

typedef struct disc_result {
    mc_catalog *catalog;   /* finished (sorted, hashed) */
    disc_warning *warnings;
    size_t n_warnings;
    int n_queries;         /* statements sent, for the constant-count rule */
    /* isolated steps that failed and late-binding views without columns:
     * the crawl is partial (a warning says which) */
    size_t n_failed_steps;
    /* table facts (facts.h): read after the catalog; unavailable facts make
     * neither a failed nor a partial crawl */
    disc_facts_outcome facts;
    /* containers whose columns and keys were read from the server (all on
     * a first crawl; on a PostgreSQL re-crawl only those whose fingerprint
     * moved: reread.h) */
    size_t n_reread;
    /* a first crawl on PostgreSQL: the tables' columns, not in the catalog
     * (mc_container.fields_elsewhere; spool.h); NULL = every field is in
     * the catalog.  Owned by the result. */
    struct disc_spool *spool;
    /* where the catalog was read from when not the database's own catalog:
     * a Redshift datashare consumer's origin (datashare.h); NULL = local */
    char *source;
} disc_result;
void disc_result_free(disc_result *r);

/* Reads the catalog of the schemas in scope (include/exclude globs; system
 * schemas never).  Schemas in scope without USAGE are in the catalog with
 * usable = false, counted in n_unusable_schemas and warned about.  prev
 * (store_load_current's catalog; NULL = none) lets a re-crawl skip the
 * columns and keys of the tables that are as recorded (reread.h): those
 * come back with fields_unread set. */
int disc_run(disc_session *s, const cfg_datastore *ds, const mc_catalog *prev,
             disc_result *out, mc_error *err);

/* True for the schemas that are never crawled: information_schema and
 * every pg_ schema. */
bool disc_is_system_schema(const char *name);

/* The kind of a view from its definition (Redshift): MATVIEW when it
 * begins CREATE MATERIALIZED VIEW (after comments), LATE_BINDING_VIEW when
 * it ends WITH NO SCHEMA BINDING, else SQL_KIND. */
mc_kind disc_view_kind(mc_kind sql_kind, const char *definition);
/* A Redshift IDENTITY default ("identity"(oid, n, '1,1'::text)) as AWS's
 * DDL prints it, "IDENTITY(1,1)"; NULL for anything else.  malloc'd. */
char *disc_identity_default(const char *expr);

#endif
