/*
 * ci.c — changes as a pipeline reads them (report.h, docs/ci.md): Markdown
 * for a pull-request comment and JUnit XML for a test report, and the two
 * escapers they need (the docs site uses the same ones).
 *
 * Both documents say the same as the terminal: each change is the line
 * report_print_changes prints (already terminal-safe), escaped once more
 * for Markdown or XML.  Breaking changes come first, because a reviewer
 * reads the top of a comment.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U_FFFD "\xef\xbf\xbd"

/* ---- escapers ------------------------------------------------------------ */

/* The five entities are valid in HTML and XML text and attributes alike
 * (the site's escaper too); line ends and tabs stay as they are. */
void report_xml_escape(mc_buf *b, const char *s)
{
    mc_xml_escape(b, s, MC_XML_KEEP_WHITESPACE);
}

static bool is_ascii_punct(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) ||
           (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/* Every ASCII punctuation character backslash-escaped (CommonMark allows it
 * for all of them, so no emphasis, link, HTML, heading, list or table pipe
 * can start), line ends as <br> so a comment cannot break a table row. */
void report_md_escape(mc_buf *b, const char *s)
{
    if (!s)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned char c = *p;
        if (c >= 0x80) {
            uint32_t cp;
            size_t n = mc_utf8_decode(p, &cp);
            if (n == 0 || cp == 0xfffe || cp == 0xffff)
                mc_buf_puts(b, U_FFFD);
            else
                mc_buf_append(b, (const char *)p, n);
            p += n ? n : 1;
            continue;
        }
        if (is_ascii_punct(c)) {
            mc_buf_putc(b, '\\');
            mc_buf_putc(b, (char)c);
        } else if (c == '\n') {
            mc_buf_puts(b, "<br>");
        } else if (c == '\r') {
            if (p[1] != '\n')
                mc_buf_puts(b, "<br>");
        } else if (c == '\t') {
            mc_buf_putc(b, ' ');
        } else if (c < 0x20 || c == 0x7f) {
            mc_buf_printf(b, "\\\\x%02x", c);
        } else {
            mc_buf_putc(b, (char)c);
        }
        p++;
    }
}

/* ---- shared --------------------------------------------------------------- */

/* "schema", "schema.container" or "schema.container.field", terminal-safe. */
static char *object_text(const mc_change *c)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f)
        abort(); /* only when memory is exhausted, as mc_malloc */
    if (c->schema) {
        report_put_safe(f, c->schema);
        if (c->container) {
            fputc('.', f);
            report_put_safe(f, c->container);
        }
        if (c->field) {
            fputc('.', f);
            report_put_safe(f, c->field);
        }
    } else {
        fputs("(datastore)", f);
    }
    fclose(f);
    return s;
}

/* The impact lines of a change (report_print_impact), or NULL. */
static char *impact_text(const mc_change *c, const char *indent)
{
    if (!c->impact)
        return NULL;
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f)
        abort(); /* only when memory is exhausted, as mc_malloc */
    report_print_impact(f, c->impact, indent);
    fclose(f);
    if (n && s[n - 1] == '\n')
        s[n - 1] = '\0';
    if (!s[0]) {
        free(s);
        return NULL;
    }
    return s;
}

static size_t section_breaking(const report_section *s)
{
    return s->changes ? report_count_breaking(s->changes) : 0;
}

static size_t section_changes(const report_section *s)
{
    return s->changes ? s->changes->n : 0;
}

/* ---- Markdown --------------------------------------------------------------- */

/* GitHub refuses comments over 65,536 characters: a long change list is cut
 * at 200 rows or 60,000 bytes, whichever comes first (the JSON has
 * everything). */
#define MD_MAX_ROWS 200
#define MD_MAX_BYTES 60000

static void md_change_row(mc_buf *b, const report_section *s, const mc_change *c)
{
    char *obj = object_text(c), *line = report_change_text(c), *impact = impact_text(c, "");
    mc_buf_puts(b, "| ");
    report_md_escape(b, s->datastore);
    mc_buf_puts(b, " | ");
    report_md_escape(b, obj);
    mc_buf_puts(b, " | ");
    report_md_escape(b, line);
    if (impact) {
        /* what it breaks, in the same cell: one line each */
        mc_buf_puts(b, "<br>");
        report_md_escape(b, impact);
    }
    mc_buf_puts(b, " |\n");
    free(obj);
    free(line);
    free(impact);
}

void report_markdown(mc_buf *b, const char *title, const report_section *secs, size_t n)
{
    size_t total = 0, breaking = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        total += section_changes(&secs[i]);
        breaking += section_breaking(&secs[i]);
        failed += secs[i].error != NULL;
    }
    mc_buf_puts(b, "### ");
    report_md_escape(b, title);
    mc_buf_puts(b, ": ");
    if (breaking)
        mc_buf_printf(b, ":warning: %zu breaking %s, ", breaking,
                      report_plural((int64_t)breaking, "change", "changes"));
    mc_buf_printf(b, "%zu %s", total, report_plural((int64_t)total, "change", "changes"));
    if (failed)
        mc_buf_printf(b, ", %zu failed", failed);
    mc_buf_puts(b, "\n\n| datastore | status | changes | breaking |\n|---|---|---:|---:|\n");
    for (size_t i = 0; i < n; i++) {
        mc_buf_puts(b, "| ");
        report_md_escape(b, secs[i].label ? secs[i].label : secs[i].datastore);
        mc_buf_puts(b, " | ");
        report_md_escape(b, secs[i].status);
        if (secs[i].error) {
            mc_buf_puts(b, ": ");
            report_md_escape(b, secs[i].error);
        }
        mc_buf_printf(b, " | %zu | %zu |\n", section_changes(&secs[i]),
                      section_breaking(&secs[i]));
    }
    size_t rows = 0, cut = 0;
    if (breaking) {
        mc_buf_puts(b, "\n#### Breaking changes\n\n| datastore | object | change |\n"
                       "|---|---|---|\n");
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < section_changes(&secs[i]); j++) {
                const mc_change *c = &secs[i].changes->items[j];
                if (!c->breaking)
                    continue;
                if (rows < MD_MAX_ROWS && b->len < MD_MAX_BYTES) {
                    rows++;
                    md_change_row(b, &secs[i], c);
                } else {
                    cut++;
                }
            }
    }
    size_t other = total - breaking;
    if (other) {
        mc_buf_printf(b, "\n<details><summary>%zu other %s</summary>\n\n"
                         "| datastore | object | change |\n|---|---|---|\n",
                      other, report_plural((int64_t)other, "change", "changes"));
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < section_changes(&secs[i]); j++) {
                const mc_change *c = &secs[i].changes->items[j];
                if (c->breaking)
                    continue;
                if (rows < MD_MAX_ROWS && b->len < MD_MAX_BYTES) {
                    rows++;
                    md_change_row(b, &secs[i], c);
                } else {
                    cut++;
                }
            }
        mc_buf_puts(b, "\n</details>\n");
    }
    if (cut)
        mc_buf_printf(b, "\n%zu more %s not shown here: `--json` lists them all.\n", cut,
                      report_plural((int64_t)cut, "change", "changes"));
    if (!total && !failed)
        mc_buf_puts(b, "\nNo changes.\n");
}

/* ---- JUnit XML ------------------------------------------------------------- */

/* Changes of one container (or of one schema itself), in the diff's order:
 * [first, end). */
static size_t group_end(const mc_changes *cs, size_t first)
{
    const mc_change *a = &cs->items[first];
    size_t i = first + 1;
    for (; i < cs->n; i++) {
        const mc_change *c = &cs->items[i];
        bool same = (!a->schema && !c->schema) ||
                    (a->schema && c->schema && strcmp(a->schema, c->schema) == 0 &&
                     ((!a->container && !c->container) ||
                      (a->container && c->container &&
                       strcmp(a->container, c->container) == 0)));
        if (!same)
            break;
    }
    return i;
}

static void junit_testcase(mc_buf *b, const report_section *s, size_t first, size_t end)
{
    const mc_changes *cs = s->changes;
    const mc_change *a = &cs->items[first];
    size_t nb = 0;
    for (size_t i = first; i < end; i++)
        nb += cs->items[i].breaking;
    mc_buf_puts(b, "    <testcase classname=\"");
    report_xml_escape(b, s->datastore);
    if (a->schema && a->container) {
        mc_buf_putc(b, '.');
        report_xml_escape(b, a->schema);
    }
    mc_buf_puts(b, "\" name=\"");
    report_xml_escape(b, a->container ? a->container : a->schema ? a->schema : "(datastore)");
    mc_buf_puts(b, "\">\n");
    mc_buf b_lines = {0}, o_lines = {0};
    for (size_t i = first; i < end; i++) {
        char *line = report_change_text(&cs->items[i]);
        mc_buf *t = cs->items[i].breaking ? &b_lines : &o_lines;
        report_xml_escape(t, line);
        mc_buf_putc(t, '\n');
        free(line);
        char *impact = impact_text(&cs->items[i], "  ");
        if (impact) {
            report_xml_escape(t, impact);
            mc_buf_putc(t, '\n');
            free(impact);
        }
    }
    if (nb) {
        mc_buf_printf(b, "      <failure type=\"breaking\" message=\"%zu breaking %s\">", nb,
                      report_plural((int64_t)nb, "change", "changes"));
        mc_buf_puts(b, mc_buf_str(&b_lines));
        mc_buf_puts(b, "</failure>\n");
    }
    if (o_lines.len) {
        mc_buf_puts(b, "      <system-out>");
        mc_buf_puts(b, mc_buf_str(&o_lines));
        mc_buf_puts(b, "</system-out>\n");
    }
    mc_buf_puts(b, "    </testcase>\n");
    mc_buf_free(&b_lines);
    mc_buf_free(&o_lines);
}

void report_junit(mc_buf *b, const char *title, const report_section *secs, size_t n)
{
    size_t tests = 0, failures = 0, errors = 0;
    for (size_t i = 0; i < n; i++) {
        const mc_changes *cs = secs[i].changes;
        if ((!cs || !cs->n) && !secs[i].error)
            tests++; /* its "no changes" test case */
        for (size_t j = 0; cs && j < cs->n; j = group_end(cs, j)) {
            tests++;
            for (size_t k = j; k < group_end(cs, j); k++)
                if (cs->items[k].breaking) {
                    failures++;
                    break;
                }
        }
        if (secs[i].error)
            tests++, errors++;
    }
    mc_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"");
    report_xml_escape(b, title);
    mc_buf_printf(b, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\">\n", tests, failures,
                  errors);
    for (size_t i = 0; i < n; i++) {
        const report_section *s = &secs[i];
        const mc_changes *cs = s->changes;
        size_t t = 0, f = 0;
        for (size_t j = 0; cs && j < cs->n; j = group_end(cs, j)) {
            t++;
            for (size_t k = j; k < group_end(cs, j); k++)
                if (cs->items[k].breaking) {
                    f++;
                    break;
                }
        }
        mc_buf_puts(b, "  <testsuite name=\"");
        report_xml_escape(b, s->label ? s->label : s->datastore);
        mc_buf_printf(b, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%d\">\n",
                      t + (s->error != NULL) + (!t && !s->error), f, s->error != NULL);
        if (s->error) {
            mc_buf_puts(b, "    <testcase classname=\"");
            report_xml_escape(b, s->datastore);
            mc_buf_puts(b, "\" name=\"crawl\">\n      <error message=\"");
            report_xml_escape(b, s->error);
            mc_buf_puts(b, "\"/>\n    </testcase>\n");
        }
        for (size_t j = 0; cs && j < cs->n; j = group_end(cs, j))
            junit_testcase(b, s, j, group_end(cs, j));
        if (!t && !s->error) {
            /* a datastore without changes still shows that it was looked at */
            mc_buf_puts(b, "    <testcase classname=\"");
            report_xml_escape(b, s->datastore);
            mc_buf_puts(b, "\" name=\"no changes\"/>\n");
        }
        mc_buf_puts(b, "  </testsuite>\n");
    }
    mc_buf_puts(b, "</testsuites>\n");
}
