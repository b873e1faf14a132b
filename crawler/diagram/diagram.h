/*
 * diagram.h — graphs of containers drawn for the docs site: as an inline SVG
 * laid out by Graphviz (dot), or as a Mermaid block for GitHub.  The input is
 * a plain list of nodes and edges; no Graphviz type appears here (Graphviz
 * is included only in crawler/diagram/svg.c).
 *
 * Every string in a node (name, schema, column names and types) may come from
 * the warehouse: this module escapes it for where it lands (docs/site.md,
 * "Diagrams").  Links and ids are the caller's own and must be plain: an href
 * of bytes [A-Za-z0-9_./#-] and an id of [A-Za-z0-9_-]; anything else is
 * dropped, never escaped into place.
 */
#ifndef MC_DIAGRAM_H
#define MC_DIAGRAM_H

#include <stdbool.h>
#include <stddef.h>

#include "mc_base.h"

/* What an edge says: from -> to reads "to depends on from" (data flows along
 * the arrow) except in an entity-relationship diagram, where an fk edge goes
 * from the referencing table to the referenced one, as ER diagrams draw it. */
typedef enum dg_edge_kind {
    DG_FK = 0,          /* a foreign key */
    DG_READS,           /* a view reads a container: given by the catalog */
    DG_READS_PARSED,    /* the same, parsed from the view's definition text */
} dg_edge_kind;

typedef enum dg_node_flags {
    DG_NODE_FOCUS = 1,     /* the container the page is about */
    DG_NODE_EXTERNAL = 2,  /* in another schema than the diagram's */
    DG_NODE_MORE = 4,      /* a placeholder: "N more" (name is the text) */
} dg_node_flags;

typedef struct dg_row {
    const char *name;      /* a column */
    const char *type;      /* its type, or NULL */
    bool pk, fk;
} dg_row;

typedef struct dg_node {
    const char *name;      /* shown in bold */
    const char *schema;    /* shown above the name when not NULL */
    const char *kind;      /* "table", "view" ...: the tooltip, and Mermaid's */
    const dg_row *rows;    /* columns shown under the name (ER diagrams) */
    size_t n_rows;
    const char *href;      /* link target or NULL */
    const char *id;        /* element id (unique in the page) or NULL */
    unsigned flags;        /* dg_node_flags */
} dg_node;

typedef struct dg_edge {
    size_t from, to;       /* indexes into the nodes */
    dg_edge_kind kind;
} dg_edge;

typedef enum dg_style {
    DG_LINEAGE = 0,        /* left to right: upstream, the focus, downstream */
    DG_ER,                 /* entity-relationship: nodes are tables with rows */
} dg_style;

typedef struct dg_graph {
    dg_style style;
    const char *title;     /* the SVG's <title> (accessible name); escaped */
    const dg_node *nodes;
    size_t n_nodes;
    const dg_edge *edges;
    size_t n_edges;
} dg_graph;

/* A graph of more nodes than this is laid out for speed: straight edges and
 * bounded network-simplex passes (dot's splines on a few hundred nodes take
 * minutes). */
#define DG_FAST_NODES 40

/*
 * Appends g as one <svg> element (no XML declaration, doctype or comment
 * naming the Graphviz version), laid out by dot with Graphviz's built-in
 * font metrics, so the same graph gives the same bytes on every machine.
 * Graphviz's messages do not reach stderr: its first error becomes err's
 * message (code MC_EXIT_STORE; the docs site shows it in the diagram's place
 * and goes on).  Returns 0, or -1 with err set and out unchanged.  Thread-safe (one
 * rendering at a time: Graphviz keeps global state).
 */
int dg_svg(const dg_graph *g, mc_buf *out, mc_error *err);

/*
 * Appends g as the text of a Mermaid diagram (erDiagram for DG_ER, flowchart
 * LR for DG_LINEAGE), without the ``` fence.  Identifiers are the node
 * indexes (t0, t1 ...), never names; every label is quoted and every byte
 * outside [A-Za-z0-9 _.,:/-] of it written as a Mermaid entity code (#60;).
 */
void dg_mermaid(const dg_graph *g, mc_buf *out);

/* The label text as it is escaped inside Graphviz HTML-like labels (the unit
 * tests feed it hostile input). */
void dg_html_label_escape(mc_buf *b, const char *s);
/* The Mermaid quoted-label form of s, without the quotes. */
void dg_mermaid_escape(mc_buf *b, const char *s);

#endif
