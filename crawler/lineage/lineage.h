/*
 * lineage.h — what depends on what (docs/lineage.md): the containers every
 * view and materialized view reads, recorded as the versioned container
 * attribute depends_on, and the impact of a breaking change (the views
 * that read the object, transitively, and the foreign keys that point at
 * it), computed from a catalog as it was before the change.
 *
 *   depends.c  reading dependencies: one statement per crawl (pg_depend
 *              through pg_rewrite), and the definitions of late-binding
 *              views, parsed (crawler/base's mc_sql_scan_chains)
 *   impact.c   the graph of a catalog and the walk from a changed object
 *
 * No jansson type leaves this module: JSON crosses it as text.
 */
#ifndef MC_LINEAGE_H
#define MC_LINEAGE_H

#include "pg.h"
#include "store.h"

/* ---- reading dependencies (depends.c) ------------------------------------- */

typedef struct lin_edges lin_edges;

/* Runs the dependency statement (one, whatever the catalog's size) for the
 * views and materialized views of the schemas in in_list (an SQL IN-list
 * of escaped literals; "NULL" for none), in the dialect's text.  Errors
 * are the session's (what: "dependency query"). */
int lin_read_edges(pg_session *pg, bool redshift, const char *in_list, lin_edges **out,
                   mc_error *err);
void lin_edges_free(lin_edges *e); /* NULL is a no-op */

/* Sets depends_on of every view and materialized view of cat, which is
 * not finished yet (mc_catalog_finish hashes it afterwards): the catalog's
 * edges by the view's oid (source "catalog", with the columns read), and
 * for a late-binding view — and a Redshift materialized view the catalog
 * gives no edge for — the qualified names of its definition (source
 * "parsed").  e NULL: parsing only. */
void lin_attach(mc_catalog *cat, const lin_edges *e, bool redshift);

/* The parsed depends_on of one definition (a JSON array, malloc'd; NULL
 * when it names nothing): known(arg, schema, name) tells whether a name is
 * a container of the catalog (NULL: none is).  self_schema/self_name, the
 * view itself, are never an edge. */
char *lin_parse_definition(const char *definition, const char *self_schema,
                           const char *self_name,
                           bool (*known)(void *arg, const char *schema, const char *name),
                           void *arg);

/* ---- impact (impact.c) ------------------------------------------------------ */

typedef struct lin_graph lin_graph;

/* The readers of every container of cat (from depends_on) and the foreign
 * keys pointing at each (from foreign_keys).  cat is borrowed until
 * lin_graph_free; it must be sorted (from the store, or finished). */
lin_graph *lin_graph_new(const mc_catalog *cat);
void lin_graph_free(lin_graph *g); /* NULL is a no-op */

/* The impact of changing schema.container (field NULL) or one of its
 * fields: {"views":[...],"foreign_keys":[...]} (docs/lineage.md), malloc'd;
 * NULL when nothing reads it and no key points at it.  Each view and key
 * is listed once, cycles included. */
char *lin_impact(const lin_graph *g, const char *schema, const char *container,
                 const char *field);

/* Whether a breaking change of this kind and attribute gets an impact
 * (removals and renames of containers and fields, type, nullable and key
 * changes). */
bool lin_change_has_impact(const mc_change *ch);

#endif
