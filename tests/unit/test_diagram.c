/*
 * test_diagram.c — crawler/diagram without the site: graphs whose names are
 * hostile (markup, quotes, &, entities, Graphviz's own escapes \N \G \n,
 * control characters, invalid UTF-8) with a foreign-key cycle and a
 * self-reference, drawn as SVG and as Mermaid.
 *
 *   The SVG parses as XML (xmllint), holds every node (found by its id, its
 *   label read back as the exact name, decoded), every edge (by its title
 *   "from->to" and class), no script element and no on* attribute; two
 *   renderings are byte-identical; a URL or id that is not plain is dropped.
 *   The escapers' exact output; the Mermaid text's identifiers, labels and
 *   arrows.  No network.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diagram.h"

static char *esc(void (*f)(mc_buf *, const char *), const char *s)
{
    mc_buf b = {0};
    f(&b, s);
    return mc_buf_steal(&b);
}

/* ---- the escapers ------------------------------------------------------------ */

Test(diagram, html_label_escape)
{
    cr_assert_str_eq(esc(dg_html_label_escape, "<b a=\"x\">O'N & co</b>"),
                     "&lt;b a=&quot;x&quot;&gt;O&#39;N &amp; co&lt;/b&gt;");
    cr_assert_str_eq(esc(dg_html_label_escape, "&amp; &#60;"), "&amp;amp; &amp;#60;");
    cr_assert_str_eq(esc(dg_html_label_escape, "a\nb\t\x1b"), "a\\x0ab\\x09\\x1b");
    cr_assert_str_eq(esc(dg_html_label_escape, "\xff\xc3\xa9"), "\xef\xbf\xbd\xc3\xa9");
    cr_assert_str_eq(esc(dg_html_label_escape, "\\N \\G \\\\"), "\\\\N \\\\G \\\\\\\\");
}

Test(diagram, mermaid_escape)
{
    cr_assert_str_eq(esc(dg_mermaid_escape, "orders_2024.x-y: a/b, c"), "orders_2024.x-y: a/b, c");
    cr_assert_str_eq(esc(dg_mermaid_escape, "\"]; click t0 call alert(1) %%"),
                     "#34;#93;#59; click t0 call alert#40;1#41; #37;#37;");
    cr_assert_str_eq(esc(dg_mermaid_escape, "<script>&#"), "#60;script#62;#38;#35;");
    cr_assert_str_eq(esc(dg_mermaid_escape, "\xc3\xa9\xf0\x9d\x84\x9e"), "#233;#119070;");
    cr_assert_str_eq(esc(dg_mermaid_escape, "a\nb\xff"), "a#92;x0ab#65533;");
    cr_assert_str_eq(esc(dg_mermaid_escape, "`x` ~ |"), "#96;x#96; #126; #124;");
}

/* ---- the SVG -------------------------------------------------------------------- */

/* The tables: a cycle a -> b -> a of hostile names, a self-reference, and a
 * table of another schema. */
static const char *const names[] = {
    "<script>document.title='pwned'</script>",
    "\"><svg onload=document.title='pwned'>",
    "&amp; &#60;x&#62; \\N \\G \\n \\l \\\\ \"q\" 'a' --> ]]>",
    "ctl\x01\x1b[31m bad\xff utf8 \xc3\xbc" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9 \xe2\x98\x83",
};
/* what each label reads as once the SVG is parsed */
static const char *const shown[] = {
    "<script>document.title='pwned'</script>",
    "\"><svg onload=document.title='pwned'>",
    "&amp; &#60;x&#62; \\N \\G \\n \\l \\\\ \"q\" 'a' --> ]]>",
    "ctl\\x01\\x1b[31m bad\xef\xbf\xbd utf8 \xc3\xbc" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9 \xe2\x98\x83",
};
static const char *const ids[] = {"t-a", "t-b", "t-c", "t-d"};

static dg_graph hostile_graph(dg_node *nodes, dg_edge *edges, dg_row *rows)
{
    rows[0] = (dg_row){"id", "integer", true, false};
    rows[1] = (dg_row){"<b>peer</b>", "character varying(10)", false, true};
    for (size_t i = 0; i < 4; i++)
        nodes[i] = (dg_node){.name = names[i], .kind = "table", .rows = rows, .n_rows = 2,
                             .id = ids[i], .href = "../x/t.html#col-id"};
    nodes[3].schema = "other <schema>";
    nodes[3].flags = DG_NODE_EXTERNAL;
    nodes[0].flags = DG_NODE_FOCUS;
    edges[0] = (dg_edge){0, 1, DG_FK};
    edges[1] = (dg_edge){1, 0, DG_FK};
    edges[2] = (dg_edge){2, 2, DG_FK};
    edges[3] = (dg_edge){3, 0, DG_READS};
    edges[4] = (dg_edge){2, 3, DG_READS_PARSED};
    return (dg_graph){.style = DG_ER, .title = "ER <of> \"sales\"", .nodes = nodes,
                      .n_nodes = 4, .edges = edges, .n_edges = 5};
}

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/mc_diagram_test_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    size_t n = strlen(text);
    cr_assert_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static bool have_xmllint(void)
{
    return system("command -v xmllint >/dev/null 2>&1") == 0;
}

/* xmllint --xpath EXPR FILE: its output, or NULL when it failed. */
static char *xpath(const char *file, const char *expr)
{
    char *cmd = NULL;
    /* the expressions are the test's own: single quotes inside only */
    cr_assert_null(strchr(expr, '"'));
    cr_assert_geq(asprintf(&cmd, "xmllint --xpath \"%s\" %s 2>/dev/null", expr, file), 0);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    mc_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        mc_buf_append(&b, chunk, n);
    int st = pclose(f);
    free(cmd);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        mc_buf_free(&b);
        return NULL;
    }
    char *out = mc_buf_steal(&b);
    size_t len = strlen(out);
    if (len && out[len - 1] == '\n') /* xmllint ends its answer with one */
        out[len - 1] = '\0';
    return out;
}

Test(diagram, svg_parses_and_holds_the_graph, .timeout = 60)
{
    dg_node nodes[4];
    dg_edge edges[5];
    dg_row rows[2];
    dg_graph g = hostile_graph(nodes, edges, rows);
    mc_buf svg = {0};
    mc_error err = {0};
    cr_assert_eq(dg_svg(&g, &svg, &err), 0, "%s", err.message);
    const char *s = mc_buf_str(&svg);
    cr_assert(strncmp(s, "<svg role=\"img\" aria-label=\"ER &lt;of&gt; &quot;sales&quot;\"", 60) == 0,
              "%.200s", s);
    cr_assert_null(strstr(s, "<?xml"));
    cr_assert_null(strstr(s, "<!DOCTYPE"));
    cr_assert_null(strstr(s, "graphviz version"));
    cr_assert_null(strstr(s, "<script"));
    cr_assert_null(strstr(s, "<svg onload"));
    cr_assert_null(strstr(s, "style="), "CSP forbids inline styles");

    /* same graph, same bytes */
    mc_buf again = {0};
    cr_assert_eq(dg_svg(&g, &again, &err), 0);
    cr_assert_str_eq(mc_buf_str(&again), s);
    mc_buf_free(&again);

    if (!have_xmllint())
        cr_skip_test("xmllint is not installed (libxml2-utils): the SVG was not parsed");
    char *file = write_tmp(s);
    char *cmd = NULL;
    cr_assert_geq(asprintf(&cmd, "xmllint --noout %s", file), 0);
    cr_assert_eq(system(cmd), 0, "the SVG is not well-formed XML:\n%s", s);

    /* every node, its name read back exactly */
    for (size_t i = 0; i < 4; i++) {
        char *expr = NULL;
        cr_assert_geq(asprintf(&expr, "string(//*[@id='%s']//*[local-name()='text'][%d])",
                               ids[i], i == 3 ? 2 : 1), 0);
        char *label = xpath(file, expr);
        cr_assert_not_null(label, "%s", expr);
        cr_assert_str_eq(label, shown[i], "node %zu: [%s]", i, label);
        free(expr);
        free(label);
    }
    char *schema = xpath(file, "string(//*[@id='t-d']//*[local-name()='text'][1])");
    cr_assert_str_eq(schema, "other <schema>");
    char *row = xpath(file, "string(//*[@id='t-a']//*[local-name()='text'][5])");
    cr_assert_str_eq(row, "<b>peer</b>");
    char *n_nodes = xpath(file, "count(//*[local-name()='g'][starts-with(@class,'node')])");
    cr_assert_str_eq(n_nodes, "4");
    char *cls = xpath(file, "string(//*[@id='t-a']/@class)");
    cr_assert_str_eq(cls, "node focus");

    /* every edge, by its title and kind, the cycle both ways */
    static const char *const edge_checks[] = {
        "t-a->t-b", "edge fk", "t-b->t-a", "edge fk", "t-c->t-c", "edge fk",
        "t-d->t-a", "edge reads", "t-c->t-d", "edge reads-parsed",
    };
    for (size_t i = 0; i < 10; i += 2) {
        char *expr = NULL;
        cr_assert_geq(asprintf(&expr, "count(//*[local-name()='g'][@class='%s']"
                                      "[*[local-name()='title']='%s'])",
                               edge_checks[i + 1], edge_checks[i]), 0);
        char *count = xpath(file, expr);
        cr_assert_str_eq(count, "1", "edge %s (%s)", edge_checks[i], edge_checks[i + 1]);
        free(expr);
        free(count);
    }
    char *n_edges = xpath(file, "count(//*[local-name()='g'][starts-with(@class,'edge')])");
    cr_assert_str_eq(n_edges, "5");

    /* nothing that runs: no script, no event handler, links only ours */
    char *scripts = xpath(file, "count(//*[local-name()='script' or local-name()='foreignObject'])");
    cr_assert_str_eq(scripts, "0");
    char *handlers = xpath(file, "count(//@*[starts-with(local-name(),'on')])");
    cr_assert_str_eq(handlers, "0");
    char *hrefs = xpath(file, "count(//@*[local-name()='href'][.!='../x/t.html#col-id'])");
    cr_assert_str_eq(hrefs, "0");
    unlink(file);
    mc_buf_free(&svg);
}

Test(diagram, unsafe_links_and_ids_are_dropped)
{
    dg_node nodes[2] = {
        {.name = "a", .id = "x\" onload=\"alert(1)", .href = "javascript:alert(1)"},
        {.name = "b", .id = "x\" onload=\"alert(1)", .href = "../a b.html"},
    };
    dg_edge e = {0, 1, DG_FK};
    dg_graph g = {.style = DG_LINEAGE, .nodes = nodes, .n_nodes = 2, .edges = &e, .n_edges = 1};
    mc_buf svg = {0};
    mc_error err = {0};
    cr_assert_eq(dg_svg(&g, &svg, &err), 0, "%s", err.message);
    const char *s = mc_buf_str(&svg);
    cr_assert_null(strstr(s, "javascript"));
    cr_assert_null(strstr(s, "onload"));
    cr_assert_null(strstr(s, "href"));
    cr_assert(strstr(s, "id=\"dg&#45;n0\"") && strstr(s, "id=\"dg&#45;n1\""), "%s", s);
    mc_buf_free(&svg);
}

Test(diagram, many_renderings)
{
    /* the context is made once; every rendering frees its graph and layout
     * (valgrind: no definite leak grows with the number of diagrams) */
    dg_node nodes[4];
    dg_edge edges[5];
    dg_row rows[2];
    dg_graph g = hostile_graph(nodes, edges, rows);
    g.style = DG_LINEAGE;
    for (int i = 0; i < 50; i++) {
        mc_buf svg = {0};
        mc_error err = {0};
        cr_assert_eq(dg_svg(&g, &svg, &err), 0, "%s", err.message);
        mc_buf_free(&svg);
    }
}

/* ---- Mermaid --------------------------------------------------------------------------- */

Test(diagram, mermaid_er)
{
    dg_node nodes[4];
    dg_edge edges[5];
    dg_row rows[2];
    dg_graph g = hostile_graph(nodes, edges, rows);
    mc_buf m = {0};
    dg_mermaid(&g, &m);
    const char *s = mc_buf_str(&m);
    cr_assert(strncmp(s, "erDiagram\n", 10) == 0, "%s", s);
    cr_assert(strstr(s, "    t0[\"#60;script#62;document.title#61;#39;pwned#39;#60;/script#62;\"] {\n"),
              "%s", s);
    cr_assert(strstr(s, "        integer id PK\n"), "%s", s);
    cr_assert(strstr(s, "        character_varying_10_ _b_peer__b_ FK "
                        "\"#60;b#62;peer#60;/b#62; character varying#40;10#41;\"\n"), "%s", s);
    cr_assert(strstr(s, "    t3[\"other #60;schema#62;.ctl#92;x01#92;x1b#91;31m bad#65533; utf8"),
              "%s", s);
    cr_assert(strstr(s, "    t0 }o..|| t1 : \"FK\"\n    t1 }o..|| t0 : \"FK\"\n"
                        "    t2 }o..|| t2 : \"FK\"\n"), "%s", s);
    /* no line may start a directive or comment, no quote is left open */
    for (const char *line = s; *line; line = strchr(line, '\n') + 1) {
        const char *t = line;
        while (*t == ' ')
            t++;
        cr_assert(strncmp(t, "%%", 2) != 0 && strncmp(t, "click", 5) != 0, "%.60s", line);
        size_t quotes = 0;
        for (const char *c = line; *c && *c != '\n'; c++)
            quotes += *c == '"';
        cr_assert_eq(quotes % 2, 0, "%.80s", line);
    }
    mc_buf_free(&m);
}

Test(diagram, mermaid_flowchart)
{
    dg_node nodes[4];
    dg_edge edges[5];
    dg_row rows[2];
    dg_graph g = hostile_graph(nodes, edges, rows);
    g.style = DG_LINEAGE;
    mc_buf m = {0};
    dg_mermaid(&g, &m);
    const char *s = mc_buf_str(&m);
    cr_assert(strncmp(s, "flowchart LR\n", 13) == 0, "%s", s);
    cr_assert(strstr(s, "    t1[\"#34;#62;#60;svg onload#61;document.title#61;#39;pwned#39;#62;\"]\n"),
              "%s", s);
    cr_assert(strstr(s, "    t0 -.->|FK| t1\n"), "%s", s);
    cr_assert(strstr(s, "    t3 -->|reads| t0\n"), "%s", s);
    cr_assert(strstr(s, "    t2 -.->|parsed| t3\n"), "%s", s);
    cr_assert(strstr(s, "    class t0 focus\n"), "%s", s);
    mc_buf_free(&m);
}
