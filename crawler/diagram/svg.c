/*
 * svg.c — a dg_graph laid out by Graphviz's dot and rendered as SVG, in
 * memory (cgraph builds the graph, gvc lays it out and renders it).  The only
 * file of metacrawl that includes Graphviz.
 *
 * Invariants:
 *   1. No warehouse string reaches Graphviz except inside an HTML-like label,
 *      escaped by dg_html_label_escape: Graphviz decodes the label's entities
 *      (its HTML lexer is expat) and writes the text into <text> elements with
 *      every '&', '<', '>', '"' and '\'' escaped again.  Its other attributes
 *      (tooltips, node names, the graph's name, URLs) go through escapers that
 *      let entities and backslash sequences through, so they only ever get
 *      strings of this file's making: node names are ids of [A-Za-z0-9_-],
 *      tooltips fixed words, URLs the caller's site paths, checked here.
 *   2. The same graph gives the same bytes on every machine: the plugins are
 *      the two this file links (dot layout and the core renderers), loaded as
 *      builtins with demand loading off, so Graphviz reads no plugin
 *      configuration and loads no text-layout plugin (pango would measure
 *      text with whatever fonts the machine has); text is measured with
 *      Graphviz's built-in metrics of Helvetica.  The XML declaration, the
 *      doctype and the comment naming the Graphviz version are cut off.
 *   3. Graphviz never writes to stderr: agseterrf catches its messages
 *      (warnings too), and the first one becomes the mc_error's message when
 *      the layout or the rendering fails.
 *   4. Graphviz keeps global state (its error function, the HTML lexer), so
 *      one rendering runs at a time (a mutex), with one context for the
 *      process, made on first use.
 */
#include "diagram.h"

#include <gvc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plugins, linked from Graphviz's plugin directory (meson.build). */
extern gvplugin_library_t gvplugin_core_LTX_library;
extern gvplugin_library_t gvplugin_dot_layout_LTX_library;

static lt_symlist_t builtins[] = {
    {"gvplugin_core_LTX_library", &gvplugin_core_LTX_library},
    {"gvplugin_dot_layout_LTX_library", &gvplugin_dot_layout_LTX_library},
    {NULL, NULL},
};

static pthread_mutex_t gv_lock = PTHREAD_MUTEX_INITIALIZER;
static GVC_t *gv_ctx;
static char gv_message[256];   /* the first message of the current rendering */

static int catch_message(char *msg)
{
    if (!gv_message[0] && msg) {
        snprintf(gv_message, sizeof gv_message, "%s", msg);
        size_t n = strlen(gv_message);
        while (n && (gv_message[n - 1] == '\n' || gv_message[n - 1] == ' '))
            gv_message[--n] = '\0';
    }
    return 0;
}

/* Graphviz 2.42's API takes char * for strings it only reads (or copies). */
static char *S(const char *s)
{
    union {
        const char *c;
        char *m;
    } u = {s};
    return u.m;
}

static void set(void *obj, const char *name, const char *value)
{
    agsafeset(obj, S(name), S(value), S(""));
}

static bool plain_chars(const char *s, const char *extra)
{
    if (!s || !*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
              (extra && strchr(extra, *p))))
            return false;
    return true;
}

/* ---- the labels ------------------------------------------------------------------- */

static void label_open(mc_buf *l, const dg_node *n)
{
    /* a focus node is drawn with a thicker border and a fill of its own; every
     * node is filled, so that all of it is a link (an unfilled SVG shape takes
     * no click); site.css restyles the colours for the dark scheme */
    mc_buf_printf(l, "<TABLE BORDER=\"%d\" CELLBORDER=\"0\" CELLSPACING=\"0\" "
                     "CELLPADDING=\"3\" BGCOLOR=\"%s\">",
                  (n->flags & DG_NODE_FOCUS) ? 2 : 1,
                  (n->flags & DG_NODE_FOCUS) ? "#eef4fb" : "white");
}

static void node_label(mc_buf *l, const dg_node *n, dg_style style)
{
    if (n->flags & DG_NODE_MORE) {
        mc_buf_puts(l, "<TABLE BORDER=\"0\" CELLPADDING=\"3\"><TR><TD><I>");
        dg_html_label_escape(l, n->name);
        mc_buf_puts(l, "</I></TD></TR></TABLE>");
        return;
    }
    label_open(l, n);
    int cols = style == DG_ER && n->n_rows ? 3 : 1;
    mc_buf_printf(l, "<TR><TD ALIGN=\"LEFT\" COLSPAN=\"%d\">", cols);
    if (n->schema) {
        mc_buf_puts(l, "<FONT POINT-SIZE=\"9\">");
        dg_html_label_escape(l, n->schema);
        mc_buf_puts(l, "</FONT><BR ALIGN=\"LEFT\"/>");
    }
    /* the name larger, not bold: Graphviz's built-in metrics measure bold
     * text as regular, so a bold name would overflow its box (site.css
     * makes it bold and a little smaller, which fits) */
    mc_buf_puts(l, "<FONT POINT-SIZE=\"12\">");
    dg_html_label_escape(l, n->name && *n->name ? n->name : "(empty name)");
    mc_buf_puts(l, "</FONT></TD></TR>");
    if (style == DG_ER && n->n_rows) {
        mc_buf_puts(l, "<HR/>");
        for (size_t i = 0; i < n->n_rows; i++) {
            const dg_row *r = &n->rows[i];
            mc_buf_puts(l, "<TR><TD ALIGN=\"LEFT\">");
            dg_html_label_escape(l, r->name && *r->name ? r->name : "(empty name)");
            mc_buf_puts(l, "</TD><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\">");
            dg_html_label_escape(l, r->type ? r->type : "");
            mc_buf_puts(l, "</FONT></TD><TD ALIGN=\"RIGHT\"><FONT POINT-SIZE=\"9\">");
            mc_buf_puts(l, r->pk && r->fk ? "PK FK" : r->pk ? "PK" : r->fk ? "FK" : "");
            mc_buf_puts(l, "</FONT></TD></TR>");
        }
    }
    mc_buf_puts(l, "</TABLE>");
}

static const char *edge_class(dg_edge_kind k)
{
    switch (k) {
    case DG_READS: return "reads";
    case DG_READS_PARSED: return "reads-parsed";
    case DG_FK: break;
    }
    return "fk";
}

static const char *edge_tooltip(dg_edge_kind k, dg_style style)
{
    switch (k) {
    case DG_READS: return "reads (from the catalog)";
    case DG_READS_PARSED: return "reads (parsed from the definition)";
    case DG_FK: break;
    }
    return style == DG_ER ? "foreign key: references" : "foreign key";
}

/* ---- the rendering ------------------------------------------------------------------ */

static int render(const dg_graph *g, mc_buf *out, mc_error *err)
{
    Agraph_t *G = agopen(S("diagram"), Agdirected, NULL);
    if (!G)
        return mc_error_set(err, MC_EXIT_STORE, "cannot draw a diagram: graphviz could not make a graph");
    agattr(G, AGRAPH, S("rankdir"), S("LR"));
    agattr(G, AGRAPH, S("bgcolor"), S("transparent"));
    agattr(G, AGRAPH, S("fontname"), S("Helvetica"));
    agattr(G, AGRAPH, S("nodesep"), S("0.25"));
    agattr(G, AGRAPH, S("ranksep"), g->style == DG_ER ? S("0.6") : S("0.45"));
    agattr(G, AGRAPH, S("pad"), S("0.05"));
    agattr(G, AGNODE, S("shape"), S("plain"));
    agattr(G, AGNODE, S("fontname"), S("Helvetica"));
    agattr(G, AGNODE, S("fontsize"), S("11"));
    agattr(G, AGEDGE, S("arrowsize"), S("0.7"));
    if (g->n_nodes > DG_FAST_NODES) {
        /* dot's spline routing and network-simplex passes grow much faster
         * than the graph: a 100-table schema around a hub took minutes.
         * Straight edges and one pass of each simplex keep 200 tables under
         * a few seconds, at some cost in crossings. */
        agattr(G, AGRAPH, S("splines"), S("line"));
        agattr(G, AGRAPH, S("nslimit"), S("0"));
        agattr(G, AGRAPH, S("nslimit1"), S("0"));
    }

    int rc = -1;
    mc_buf name = {0}, label = {0};
    Agnode_t **nodes = mc_calloc(g->n_nodes + 1, sizeof *nodes);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const dg_node *n = &g->nodes[i];
        mc_buf_reset(&name);
        if (plain_chars(n->id, NULL) && !agnode(G, S(n->id), 0))
            mc_buf_puts(&name, n->id);
        else
            mc_buf_printf(&name, "dg-n%zu", i);
        nodes[i] = agnode(G, S(mc_buf_str(&name)), 1);
        mc_buf_reset(&label);
        node_label(&label, n, g->style);
        char *html = agstrdup_html(G, S(mc_buf_str(&label)));
        agset(nodes[i], S("label"), html);
        agstrfree(G, html);
        set(nodes[i], "id", mc_buf_str(&name));
        /* Graphviz writes class="node <ours>" */
        mc_buf_reset(&label);
        if (n->flags & DG_NODE_FOCUS)
            mc_buf_puts(&label, " focus");
        if (n->flags & DG_NODE_EXTERNAL)
            mc_buf_puts(&label, " external");
        if (n->flags & DG_NODE_MORE)
            mc_buf_puts(&label, " more");
        if (label.len)
            set(nodes[i], "class", mc_buf_str(&label) + 1);
        /* without a tooltip of its own a linked node's would be the label's
         * HTML source */
        set(nodes[i], "tooltip", plain_chars(n->kind, " ") ? n->kind : "container");
        if (n->href && plain_chars(n->href, "./#"))
            set(nodes[i], "URL", n->href);
    }
    for (size_t i = 0; i < g->n_edges; i++) {
        const dg_edge *e = &g->edges[i];
        if (e->from >= g->n_nodes || e->to >= g->n_nodes)
            continue;
        mc_buf_reset(&name);
        mc_buf_printf(&name, "e%zu", i);
        Agedge_t *E = agedge(G, nodes[e->from], nodes[e->to], S(mc_buf_str(&name)), 1);
        if (!E)
            continue;
        set(E, "class", edge_class(e->kind));
        set(E, "tooltip", edge_tooltip(e->kind, g->style));
        if (e->kind == DG_FK) {
            set(E, "style", "dashed");
            if (g->style == DG_ER) {
                /* many (the referencing rows) to one */
                set(E, "dir", "both");
                set(E, "arrowtail", "crow");
                set(E, "arrowhead", "tee");
            }
        } else if (e->kind == DG_READS_PARSED) {
            set(E, "style", "dotted");
        }
    }
    mc_buf_free(&name);
    mc_buf_free(&label);
    free(nodes);

    if (gvLayout(gv_ctx, G, "dot") != 0) {
        mc_error_set(err, MC_EXIT_STORE, "cannot draw a diagram: graphviz could not lay it out%s%s",
                     gv_message[0] ? ": " : "", gv_message);
        goto out;
    }
    char *data = NULL;
    unsigned int len = 0;
    if (gvRenderData(gv_ctx, G, "svg", &data, &len) != 0 || !data) {
        mc_error_set(err, MC_EXIT_STORE, "cannot draw a diagram: graphviz could not render it%s%s",
                     gv_message[0] ? ": " : "", gv_message);
        if (data)
            gvFreeRenderData(data);
        gvFreeLayout(gv_ctx, G);
        goto out;
    }
    /* the <svg> element alone: no declaration, doctype or version comment */
    const char *start = memmem(data, len, "<svg", 4);
    if (!start) {
        mc_error_set(err, MC_EXIT_STORE, "cannot draw a diagram: graphviz wrote no <svg> element");
    } else {
        size_t n = len - (size_t)(start - data);
        while (n && (start[n - 1] == '\n' || start[n - 1] == '\0'))
            n--;
        mc_buf_puts(out, "<svg role=\"img\"");
        if (g->title) {
            mc_buf_puts(out, " aria-label=\"");
            dg_html_label_escape(out, g->title);
            mc_buf_puts(out, "\"");
        }
        mc_buf_append(out, start + 4, n - 4);
        mc_buf_putc(out, '\n');
        rc = 0;
    }
    gvFreeRenderData(data);
    gvFreeLayout(gv_ctx, G);
out:
    agclose(G);
    return rc;
}

int dg_svg(const dg_graph *g, mc_buf *out, mc_error *err)
{
    pthread_mutex_lock(&gv_lock);
    gv_message[0] = '\0';
    agseterrf(catch_message);
    /* every message to catch_message: below the threshold cgraph would write
     * it to a temporary file of its own */
    agseterr(AGWARN);
    if (!gv_ctx)
        gv_ctx = gvContextPlugins(builtins, 0);
    int rc;
    if (!gv_ctx)
        rc = mc_error_set(err, MC_EXIT_STORE, "cannot draw a diagram: graphviz could not start");
    else
        rc = render(g, out, err);
    pthread_mutex_unlock(&gv_lock);
    return rc;
}
