/*
 * text.c — the diagrams as text: the escaper of Graphviz HTML-like labels
 * (used by svg.c) and the Mermaid form of a dg_graph (for the Markdown site,
 * which GitHub renders).  No Graphviz here.
 *
 * Mermaid's rule (docs/site.md, "Diagrams"): identifiers are t<index>, never
 * a name; every name is a quoted label in which only [A-Za-z0-9 _.,:/-] is
 * written as is and every other character as a Mermaid entity code (#60; for
 * '<', #34; for '"', #35; for '#', #37; for '%' ...), which Mermaid turns
 * into the HTML character reference &#60; after parsing, so a name can close
 * no quote, start no comment (%%), directive or markup, and is shown as the
 * text it is.  Column names and types in an erDiagram's attribute lines must
 * be bare words: there every byte outside [A-Za-z0-9_] becomes '_', and the
 * exact name, when it differs, follows as the attribute's quoted comment.
 */
#include "diagram.h"

#include <stdio.h>
#include <string.h>

/* ---- Graphviz HTML-like labels ----------------------------------------------------- */

/* Graphviz parses an HTML-like label with expat, so this is XML escaping:
 * & < > " ' as entities, every control character (which XML cannot carry,
 * and which would end the label's text in the SVG) as the visible text
 * \xNN, invalid UTF-8 and U+FFFE/U+FFFF as U+FFFD; and a backslash doubled,
 * because Graphviz then replaces \N, \G ... in the text with the node's or
 * the graph's name (tests/unit/test_diagram.c reads every name back). */
void dg_html_label_escape(mc_buf *b, const char *s)
{
    mc_xml_escape(b, s, MC_XML_DOUBLE_BACKSLASH);
}

/* ---- Mermaid --------------------------------------------------------------------------- */

void dg_mermaid_escape(mc_buf *b, const char *s)
{
    if (!s)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr(" _.,:/-", c)) {
            mc_buf_putc(b, (char)c);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            /* a control character is shown as \xNN, its backslash encoded */
            mc_buf_printf(b, "#92;x%02x", c);
            p++;
        } else if (c < 0x80) {
            mc_buf_printf(b, "#%u;", c);
            p++;
        } else {
            uint32_t cp;
            size_t n = mc_utf8_decode(p, &cp);
            if (n == 0 || cp == 0xfffe || cp == 0xffff) {
                cp = 0xfffd;
                if (n == 0)
                    n = 1;
            }
            mc_buf_printf(b, "#%u;", (unsigned)cp);
            p += n;
        }
    }
}

/* A bare word of an erDiagram attribute line. */
static void put_word(mc_buf *b, const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        mc_buf_putc(b, '_');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        mc_buf_putc(b, ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                        (*p >= '0' && *p <= '9') || *p == '_') ? (char)*p : '_');
}

static bool is_word(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

static void put_label(mc_buf *b, const dg_node *n)
{
    mc_buf_puts(b, "[\"");
    if (n->schema) {
        dg_mermaid_escape(b, n->schema);
        mc_buf_putc(b, '.');
    }
    dg_mermaid_escape(b, n->name && *n->name ? n->name : "(empty name)");
    mc_buf_puts(b, "\"]");
}

static void mermaid_er(const dg_graph *g, mc_buf *out)
{
    mc_buf_puts(out, "erDiagram\n");
    for (size_t i = 0; i < g->n_nodes; i++) {
        const dg_node *n = &g->nodes[i];
        mc_buf_printf(out, "    t%zu", i);
        put_label(out, n);
        if (!n->n_rows) {
            mc_buf_putc(out, '\n');
            continue;
        }
        mc_buf_puts(out, " {\n");
        for (size_t r = 0; r < n->n_rows; r++) {
            const dg_row *row = &n->rows[r];
            mc_buf_puts(out, "        ");
            put_word(out, row->type && *row->type ? row->type : "column");
            mc_buf_putc(out, ' ');
            put_word(out, row->name);
            if (row->pk || row->fk)
                mc_buf_puts(out, row->pk && row->fk ? " PK, FK" : row->pk ? " PK" : " FK");
            if (!is_word(row->name) || (row->type && *row->type && !is_word(row->type))) {
                mc_buf_puts(out, " \"");
                dg_mermaid_escape(out, row->name);
                if (row->type && *row->type) {
                    mc_buf_putc(out, ' ');
                    dg_mermaid_escape(out, row->type);
                }
                mc_buf_putc(out, '"');
            }
            mc_buf_putc(out, '\n');
        }
        mc_buf_puts(out, "    }\n");
    }
    for (size_t i = 0; i < g->n_edges; i++) {
        const dg_edge *e = &g->edges[i];
        if (e->from >= g->n_nodes || e->to >= g->n_nodes)
            continue;
        /* the referencing table has many rows per referenced one */
        mc_buf_printf(out, "    t%zu }o..|| t%zu : \"%s\"\n", e->from, e->to,
                      e->kind == DG_FK ? "FK" : "reads");
    }
}

static void mermaid_flow(const dg_graph *g, mc_buf *out)
{
    mc_buf_puts(out, "flowchart LR\n");
    for (size_t i = 0; i < g->n_nodes; i++) {
        mc_buf_printf(out, "    t%zu", i);
        put_label(out, &g->nodes[i]);
        mc_buf_putc(out, '\n');
    }
    for (size_t i = 0; i < g->n_edges; i++) {
        const dg_edge *e = &g->edges[i];
        if (e->from >= g->n_nodes || e->to >= g->n_nodes)
            continue;
        const char *arrow = e->kind == DG_FK ? "-.->|FK|"
                            : e->kind == DG_READS ? "-->|reads|"
                                                  : "-.->|parsed|";
        mc_buf_printf(out, "    t%zu %s t%zu\n", e->from, arrow, e->to);
    }
    bool any_focus = false;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].flags & DG_NODE_FOCUS) {
            if (!any_focus)
                mc_buf_puts(out, "    classDef focus stroke-width:3px\n");
            any_focus = true;
            mc_buf_printf(out, "    class t%zu focus\n", i);
        }
}

void dg_mermaid(const dg_graph *g, mc_buf *out)
{
    if (g->style == DG_ER)
        mermaid_er(g, out);
    else
        mermaid_flow(g, out);
}
