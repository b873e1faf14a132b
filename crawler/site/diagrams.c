/*
 * diagrams.c — the site's diagrams (docs/site.md, "Diagrams"): per schema an
 * entity-relationship diagram of its foreign keys, per container the graph
 * of what it depends on and what depends on it.  This file chooses what a
 * diagram shows (the nodes, rows and edges, the limits) from the loaded
 * catalog's dependencies (d->deps, model.c); crawler/diagram draws it, as
 * inline SVG (HTML) or as a Mermaid block (Markdown), and escapes every name.
 *
 * Ids and links given to the diagram are of the site's own making: node ids
 * are "d-" + the schema's and the container's file-name forms joined by
 * "--" (which no file-name form contains), links are site paths.
 */
#include "site_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- building a graph ------------------------------------------------------------- */

typedef struct gbuild {
    const site *S;
    const page *p;
    const ds_data *d;
    dg_node *nodes;
    size_t n_nodes, cap_nodes;
    size_t *cont;              /* node -> container index (SIZE_MAX: a placeholder) */
    dg_edge *edges;
    size_t n_edges, cap_edges;
    char **owned;              /* strings the nodes point to */
    size_t n_owned, cap_owned;
    dg_row *rows;              /* every node's rows, one array (ER) */
    size_t n_rows, cap_rows;
    size_t *row_first;         /* node -> its first row in rows */
    size_t *node_by_cont;      /* container -> node (SIZE_MAX: none), for the
                                  large graphs (ER); NULL: search the nodes */
} gbuild;

static const char *own(gbuild *g, char *s)
{
    if (g->n_owned == g->cap_owned) {
        g->cap_owned = g->cap_owned ? g->cap_owned * 2 : 32;
        g->owned = mc_realloc(g->owned, g->cap_owned * sizeof *g->owned);
    }
    g->owned[g->n_owned++] = s;
    return s;
}

static void gbuild_free(gbuild *g)
{
    for (size_t i = 0; i < g->n_owned; i++)
        free(g->owned[i]);
    free(g->owned);
    free(g->nodes);
    free(g->cont);
    free(g->edges);
    free(g->rows);
    free(g->row_first);
    free(g->node_by_cont);
}

/* A node for container ci (in_schema: the diagram's own schema, whose name
 * the node does not repeat). */
static size_t add_node(gbuild *g, size_t ci, bool in_schema, unsigned flags)
{
    if (g->n_nodes == g->cap_nodes) {
        g->cap_nodes = g->cap_nodes ? g->cap_nodes * 2 : 32;
        g->nodes = mc_realloc(g->nodes, g->cap_nodes * sizeof *g->nodes);
        g->cont = mc_realloc(g->cont, g->cap_nodes * sizeof *g->cont);
        g->row_first = mc_realloc(g->row_first, g->cap_nodes * sizeof *g->row_first);
    }
    size_t n = g->n_nodes++;
    dg_node *node = &g->nodes[n];
    memset(node, 0, sizeof *node);
    g->cont[n] = ci;
    g->row_first[n] = g->n_rows;
    if (g->node_by_cont && ci != SIZE_MAX)
        g->node_by_cont[ci] = n;
    if (ci == SIZE_MAX) {
        node->flags = flags | DG_NODE_MORE;
        return n;
    }
    const ds_data *d = g->d;
    const mc_container *k = &d->cat->containers[ci];
    node->name = k->name;
    node->schema = in_schema ? NULL : k->schema;
    node->kind = kind_label(k->kind);
    node->flags = flags | (in_schema ? 0 : DG_NODE_EXTERNAL);
    mc_buf b = {0};
    mc_buf_printf(&b, "d-%s--%s", d->schemas[d->cont_schema[ci]].file, d->cont_file[ci]);
    node->id = own(g, mc_buf_steal(&b));
    if (!g->S->md) {
        mc_buf_puts(&b, g->p->rel);
        put_cont_path(&b, g->S, d, ci);
        node->href = own(g, mc_buf_steal(&b));
    }
    return n;
}

static void add_edge(gbuild *g, size_t from, size_t to, dg_edge_kind kind)
{
    if (g->n_edges == g->cap_edges) {
        g->cap_edges = g->cap_edges ? g->cap_edges * 2 : 32;
        g->edges = mc_realloc(g->edges, g->cap_edges * sizeof *g->edges);
    }
    g->edges[g->n_edges++] = (dg_edge){from, to, kind};
}

static void add_row(gbuild *g, const char *name, const char *type, bool pk, bool fk)
{
    if (g->n_rows == g->cap_rows) {
        g->cap_rows = g->cap_rows ? g->cap_rows * 2 : 64;
        g->rows = mc_realloc(g->rows, g->cap_rows * sizeof *g->rows);
    }
    g->rows[g->n_rows++] = (dg_row){name, type, pk, fk};
}

/* The node of container ci, or SIZE_MAX. */
static size_t node_of(const gbuild *g, size_t ci)
{
    if (g->node_by_cont)
        return g->node_by_cont[ci];
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->cont[i] == ci)
            return i;
    return SIZE_MAX;
}

/* The rows were added node after node: point every node at its own. */
static void attach_rows(gbuild *g)
{
    for (size_t i = 0; i < g->n_nodes; i++) {
        size_t end = i + 1 < g->n_nodes ? g->row_first[i + 1] : g->n_rows;
        g->nodes[i].rows = g->rows + g->row_first[i];
        g->nodes[i].n_rows = end - g->row_first[i];
    }
}

/* Draws the graph into the page: an SVG figure, or a Mermaid block.  A
 * diagram Graphviz cannot draw is replaced by its message: the build goes
 * on. */
static void p_diagram(page *p, const dg_graph *dg, const char *legend)
{
    if (p->md) {
        mc_buf text = {0};
        dg_mermaid(dg, &text);
        if (text.len > DIAG_MERMAID_MAX) {
            p_plainf(p, "*The diagram is too large for GitHub's Mermaid "
                        "(%zu characters, the limit is %d): the HTML site "
                        "(`--format html`) draws it.*\n\n",
                     text.len, DIAG_MERMAID_MAX);
        } else {
            p_raw(p, "```mermaid\n");
            p_raw(p, mc_buf_str(&text));
            p_raw(p, "```\n\n");
            if (legend) {
                p_plain(p, legend);
                p_raw(p, "\n\n");
            }
        }
        mc_buf_free(&text);
        return;
    }
    mc_buf svg = {0};
    mc_error err = {0};
    if (dg_svg(dg, &svg, &err) < 0) {
        p_para(p, "warn");
        p_plain(p, "diagram not drawn: ");
        p_text(p, err.message);
        p_para_end(p);
        mc_buf_free(&svg);
        return;
    }
    p_raw(p, "<figure class=\"diagram\">\n");
    p_raw(p, mc_buf_str(&svg)); /* escaped by crawler/diagram (its invariant 1) */
    if (legend) {
        p_raw(p, "<figcaption>");
        p_plain(p, legend);
        p_raw(p, "</figcaption>\n");
    }
    p_raw(p, "</figure>\n");
    mc_buf_free(&svg);
}

/* ---- a container's upstream and downstream ------------------------------------------ */

/* The range of d->deps with from == ci, and of d->deps_by_to with to == ci. */
static size_t deps_from(const ds_data *d, size_t ci, size_t *end)
{
    size_t lo = 0, hi = d->n_deps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->deps[mid].from < ci)
            lo = mid + 1;
        else
            hi = mid;
    }
    *end = lo;
    while (*end < d->n_deps && d->deps[*end].from == ci)
        (*end)++;
    return lo;
}

static size_t deps_to(const ds_data *d, size_t ci, size_t *end)
{
    size_t lo = 0, hi = d->n_deps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->deps[d->deps_by_to[mid]].to < ci)
            lo = mid + 1;
        else
            hi = mid;
    }
    *end = lo;
    while (*end < d->n_deps && d->deps[d->deps_by_to[*end]].to == ci)
        (*end)++;
    return lo;
}

/*
 * One side of the graph, breadth first from the focus (node 0): upstream
 * follows edges to their `from`, downstream to their `to`, at most
 * DIAG_DEPTH steps and DIAG_SIDE_MAX containers; what is left out is
 * counted into one "N more" node.  Every edge walked between two shown
 * nodes is drawn (so cycles show as cycles).
 */
static void walk(gbuild *g, bool upstream)
{
    const ds_data *d = g->d;
    size_t first = g->n_nodes, shown = 0, more = 0;
    dg_edge_kind more_kind = DG_FK;
    size_t *depth = mc_calloc(DIAG_SIDE_MAX + 2, sizeof *depth);
    size_t *omitted = NULL, n_omitted = 0, cap_omitted = 0;
    /* queue: node 0 (the focus), then this side's nodes in the order added */
    for (size_t qi = 0;; qi++) {
        size_t node = qi == 0 ? 0 : first + qi - 1;
        if (node >= g->n_nodes)
            break;
        size_t dep = qi == 0 ? 0 : depth[qi - 1];
        if (dep >= DIAG_DEPTH)
            continue;
        size_t ci = g->cont[node], end;
        size_t i = upstream ? deps_to(d, ci, &end) : deps_from(d, ci, &end);
        for (; i < end; i++) {
            const dep_edge *e = upstream ? &d->deps[d->deps_by_to[i]] : &d->deps[i];
            size_t other = upstream ? e->from : e->to;
            size_t on = node_of(g, other);
            if (on == SIZE_MAX) {
                if (shown == DIAG_SIDE_MAX) {
                    bool seen = false;
                    for (size_t k = 0; k < n_omitted && !seen; k++)
                        seen = omitted[k] == other;
                    if (!seen) {
                        if (n_omitted == cap_omitted) {
                            cap_omitted = cap_omitted ? cap_omitted * 2 : 16;
                            omitted = mc_realloc(omitted, cap_omitted * sizeof *omitted);
                        }
                        omitted[n_omitted++] = other;
                        if (!more)
                            more_kind = e->kind;
                        more++;
                    }
                    continue;
                }
                bool same = d->cont_schema[other] == d->cont_schema[g->cont[0]];
                on = add_node(g, other, same, 0);
                depth[shown++] = dep + 1;
            }
            if (upstream)
                add_edge(g, on, node, e->kind);
            else
                add_edge(g, node, on, e->kind);
        }
    }
    if (more) {
        mc_buf b = {0};
        mc_buf_printf(&b, "%zu more %s", more, upstream ? "upstream" : "downstream");
        size_t m = add_node(g, SIZE_MAX, true, 0);
        g->nodes[m].name = own(g, mc_buf_steal(&b));
        if (upstream)
            add_edge(g, m, 0, more_kind);
        else
            add_edge(g, 0, m, more_kind);
    }
    free(omitted);
    free(depth);
}

void p_container_graph(site *S, page *p, const ds_data *d, size_t ci)
{
    size_t end_from, end_to;
    size_t a = deps_from(d, ci, &end_from), b = deps_to(d, ci, &end_to);
    if (a == end_from && b == end_to)
        return;
    gbuild g = {.S = S, .p = p, .d = d};
    add_node(&g, ci, true, DG_NODE_FOCUS);
    walk(&g, true);
    walk(&g, false);
    /* a cycle through the focus walks the same edge from both sides */
    size_t k = 0;
    for (size_t i = 0; i < g.n_edges; i++) {
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = g.edges[j].from == g.edges[i].from && g.edges[j].to == g.edges[i].to &&
                  g.edges[j].kind == g.edges[i].kind;
        if (!dup)
            g.edges[k++] = g.edges[i];
    }
    g.n_edges = k;

    const mc_container *c = &d->cat->containers[ci];
    char *title = mc_asprintf("What %s.%s depends on and what depends on it",
                              c->schema, c->name);
    dg_graph dg = {.style = DG_LINEAGE, .title = title, .nodes = g.nodes,
                   .n_nodes = g.n_nodes, .edges = g.edges, .n_edges = g.n_edges};
    p_h(p, 2, "dependencies");
    p_plain(p, "Upstream and downstream");
    p_h_end(p, 2);
    p_diagram(p, &dg, "Left: what it depends on; right: what depends on it. "
                      "Dashed: a foreign key (from the referenced table to the "
                      "referencing one); solid: a view reads it (from the catalog); "
                      "dotted: read from a view's definition text.");
    free(title);
    gbuild_free(&g);
}

/* ---- a schema's entity-relationship diagram ------------------------------------------ */

/* The containers of the schema's ER diagram: its own that have a foreign
 * key either way, then the other schemas' containers those connect to. */
static void er_nodes(gbuild *g, size_t si)
{
    const ds_data *d = g->d;
    const schema_ref *sr = &d->schemas[si];
    size_t nc = d->cat->n_containers;
    g->node_by_cont = mc_calloc(nc + 1, sizeof *g->node_by_cont);
    for (size_t i = 0; i < nc; i++)
        g->node_by_cont[i] = SIZE_MAX;
    for (size_t ci = sr->first; ci < sr->first + sr->n; ci++) {
        size_t e1, e2;
        bool any = false;
        for (size_t i = deps_from(d, ci, &e1); i < e1 && !any; i++)
            any = d->deps[i].kind == DG_FK;
        for (size_t i = deps_to(d, ci, &e2); i < e2 && !any; i++)
            any = d->deps[d->deps_by_to[i]].kind == DG_FK;
        if (!any)
            continue;
        add_node(g, ci, true, 0);
        /* its key columns: primary key and foreign-key columns, in order */
        const mc_container *k = &d->cat->containers[ci];
        json_t *pk = k->primary_key ? json_loads(k->primary_key, 0, NULL) : NULL;
        size_t n_rows = 0, n_keys = 0;
        size_t nf;
        const mc_field *fs = ds_fields(d, ci, &nf); /* kept until the diagram is out */
        for (size_t f = 0; f < nf; f++) {
            const mc_field *fl = &fs[f];
            bool is_pk = false, is_fk = false;
            size_t x, y;
            json_t *v, *fk;
            json_array_foreach(pk, x, v) is_pk = is_pk || (json_is_string(v) &&
                                                 strcmp(json_string_value(v), fl->name) == 0);
            json_array_foreach(d->fks[ci], x, fk) {
                json_array_foreach(json_object_get(fk, "columns"), y, v)
                    is_fk = is_fk || (json_is_string(v) &&
                                      strcmp(json_string_value(v), fl->name) == 0);
            }
            if (!is_pk && !is_fk)
                continue;
            n_keys++;
            if (n_rows < DIAG_ER_ROWS_MAX) {
                add_row(g, fl->name, fl->type, is_pk, is_fk);
                n_rows++;
            }
        }
        json_decref(pk);
        if (n_keys > n_rows) {
            mc_buf b = {0};
            mc_buf_printf(&b, "%zu more key columns", n_keys - n_rows);
            add_row(g, own(g, mc_buf_steal(&b)), NULL, false, false);
        }
    }
    size_t own_nodes = g->n_nodes;
    for (size_t n = 0; n < own_nodes; n++) {
        size_t ci = g->cont[n], end;
        for (size_t i = deps_from(d, ci, &end); i < end; i++)
            if (d->deps[i].kind == DG_FK && node_of(g, d->deps[i].to) == SIZE_MAX)
                add_node(g, d->deps[i].to, false, 0);
        for (size_t i = deps_to(d, ci, &end); i < end; i++) {
            const dep_edge *e = &d->deps[d->deps_by_to[i]];
            if (e->kind == DG_FK && node_of(g, e->from) == SIZE_MAX)
                add_node(g, e->from, false, 0);
        }
    }
    attach_rows(g);
    /* the edges: every foreign key between two of them (referencing ->
     * referenced, as ER diagrams draw it) */
    for (size_t n = 0; n < g->n_nodes; n++) {
        size_t ci = g->cont[n], end;
        for (size_t i = deps_to(d, ci, &end); i < end; i++) {
            const dep_edge *e = &d->deps[d->deps_by_to[i]];
            size_t target = node_of(g, e->from);
            if (e->kind == DG_FK && target != SIZE_MAX &&
                (n < own_nodes || target < own_nodes))
                add_edge(g, n, target, DG_FK);
        }
    }
}

static const char *const er_legend =
    "Tables of this schema with a foreign key either way, their key columns, "
    "and the tables of other schemas they connect to (named with their schema). "
    "An edge goes from the referencing table (many) to the referenced one.";

static dg_graph er_graph(const gbuild *g, const char *title)
{
    return (dg_graph){.style = DG_ER, .title = title, .nodes = g->nodes,
                      .n_nodes = g->n_nodes, .edges = g->edges, .n_edges = g->n_edges};
}

char *schema_erd_path(const site *S, const ds_data *d, size_t si)
{
    return mc_asprintf("catalog/%s/%s.erd%s", d->file, d->schemas[si].file, S->ext);
}

void p_schema_erd(site *S, page *p, const ds_data *d, size_t si)
{
    gbuild g = {.S = S, .p = p, .d = d};
    er_nodes(&g, si);
    if (!g.n_nodes) {
        gbuild_free(&g);
        return;
    }
    p_h(p, 2, "diagram");
    p_plain(p, "Diagram");
    p_h_end(p, 2);
    if (g.n_nodes <= DIAG_ER_INLINE_MAX) {
        char *title = mc_asprintf("Foreign keys of schema %s", d->schemas[si].name);
        dg_graph dg = er_graph(&g, title);
        p_diagram(p, &dg, er_legend);
        free(title);
    } else {
        p_para(p, NULL);
        p_plainf(p, "The entity-relationship diagram of this schema has %zu tables, "
                    "too many to read here. ", g.n_nodes);
        if (g.n_nodes <= DIAG_ER_FULL_MAX) {
            char *target = schema_erd_path(S, d, si);
            p_link(p, target, "Open the full-size diagram");
            free(target);
            p_plain(p, ".");
        } else {
            p_plainf(p, "It is not drawn (more than %d tables); each table's page "
                        "shows its neighbours.", DIAG_ER_FULL_MAX);
        }
        p_para_end(p);
        if (p->md)
            p_raw(p, "\n\n");
    }
    gbuild_free(&g);
}

int write_schema_erd(site *S, ds_data *d, size_t si, mc_error *err)
{
    const schema_ref *sr = &d->schemas[si];
    page p = {.md = S->md, .rel = "../../"};
    gbuild g = {.S = S, .p = &p, .d = d};
    er_nodes(&g, si);
    if (g.n_nodes <= DIAG_ER_INLINE_MAX || g.n_nodes > DIAG_ER_FULL_MAX) {
        gbuild_free(&g);
        return 0;
    }
    char *dspath = ds_anchor_path(S, d);
    char *spath = schema_path(S, d, si);
    crumb crumbs[] = {{S->index_file, "Datastores"}, {dspath, d->name},
                      {spath, sr->name}, {NULL, "diagram"}};
    char *h1 = mc_asprintf("%s: entity-relationship diagram", sr->name);
    char *title = title3(h1, d->name, "metacrawl");
    page_begin(S, &p, title, h1, crumbs, 4, false);
    char *gtitle = mc_asprintf("Foreign keys of schema %s", sr->name);
    dg_graph dg = er_graph(&g, gtitle);
    p_raw(&p, p.md ? "" : "<div class=\"diagram-full\">\n");
    p_diagram(&p, &dg, er_legend);
    p_raw(&p, p.md ? "" : "</div>\n");
    page_end(&p);
    char *path = schema_erd_path(S, d, si);
    int rc = emit_buf(S, path, &p.b, err);
    free(path);
    free(gtitle);
    free(title);
    free(h1);
    free(spath);
    free(dspath);
    mc_buf_free(&p.b);
    gbuild_free(&g);
    return rc;
}
