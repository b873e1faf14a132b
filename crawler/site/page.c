/*
 * page.c — the page layer: one page structure, two formats.  The p_*
 * functions write a page as HTML or as GitHub-flavoured Markdown, escaping
 * every string they are given for the context it lands in; with them the
 * number and time formats, the site's paths (catalog/<ds>/<schema>...) and
 * the page frame (head, header, breadcrumbs, footer, the Content Security
 * Policy) that every page shares.
 */
#include "site_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- the page layer: one structure, two formats --------------------------------- */

void p_raw(page *p, const char *s)
{
    mc_buf_puts(&p->b, s);
}

void p_text(page *p, const char *s)
{
    if (p->md)
        site_md_escape(&p->b, s);
    else
        site_html_escape(&p->b, s);
}

/* Text of this file's own making (numbers, times, fixed words): HTML-escaped
 * all the same, but spared Markdown's backslashes, which would only make
 * the source harder to read.  Never for anything from the store. */
void p_plainf(page *p, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (p->md)
        mc_buf_puts(&p->b, tmp);
    else
        site_html_escape(&p->b, tmp);
}

void p_plain(page *p, const char *s)
{
    if (p->md)
        mc_buf_puts(&p->b, s);
    else
        site_html_escape(&p->b, s);
}

/* A site path (from the root) as a link target from this page. */
static void p_target(page *p, const char *target)
{
    mc_buf_puts(&p->b, p->rel);
    if (p->md)
        mc_buf_puts(&p->b, target); /* [a-z0-9_-/.#] only: nothing to escape */
    else
        site_html_escape(&p->b, target);
}

static void p_link_begin(page *p)
{
    p_raw(p, p->md ? "[" : "");
}

static void p_link_end(page *p, const char *target)
{
    if (p->md) {
        p_raw(p, "](");
        p_target(p, target);
        p_raw(p, ")");
    }
}

/* HTML needs the target first: the two halves differ per format. */
static void p_a_open(page *p, const char *target)
{
    if (p->md) {
        p_link_begin(p);
    } else {
        p_raw(p, "<a href=\"");
        p_target(p, target);
        p_raw(p, "\">");
    }
}

static void p_a_close(page *p, const char *target)
{
    if (p->md)
        p_link_end(p, target);
    else
        p_raw(p, "</a>");
}

void p_name(page *p, const char *name)
{
    if (!name || !*name) {
        p_raw(p, p->md ? "*(empty name)*" : "<em>(empty name)</em>");
        return;
    }
    p_text(p, name);
}

void p_link(page *p, const char *target, const char *text)
{
    p_a_open(p, target);
    p_name(p, text);
    p_a_close(p, target);
}

void p_h(page *p, int level, const char *id)
{
    if (p->md) {
        mc_buf_printf(&p->b, "%.*s ", level, "######");
    } else if (id) {
        mc_buf_printf(&p->b, "<h%d id=\"", level);
        site_html_escape(&p->b, id);
        p_raw(p, "\">");
    } else {
        mc_buf_printf(&p->b, "<h%d>", level);
    }
}

void p_h_end(page *p, int level)
{
    if (p->md)
        p_raw(p, "\n\n");
    else
        mc_buf_printf(&p->b, "</h%d>\n", level);
}

void p_para(page *p, const char *cls)
{
    if (p->md)
        return;
    if (cls)
        mc_buf_printf(&p->b, "<p class=\"%s\">", cls);
    else
        p_raw(p, "<p>");
}

void p_para_end(page *p)
{
    p_raw(p, p->md ? "\n\n" : "</p>\n");
}

void p_ul(page *p, const char *cls)
{
    if (p->md)
        return;
    if (cls)
        mc_buf_printf(&p->b, "<ul class=\"%s\">\n", cls);
    else
        p_raw(p, "<ul>\n");
}

void p_li(page *p, const char *id)
{
    if (p->md) {
        p_raw(p, "- ");
    } else if (id) {
        p_raw(p, "<li id=\"");
        site_html_escape(&p->b, id);
        p_raw(p, "\">");
    } else {
        p_raw(p, "<li>");
    }
}

void p_li_end(page *p)
{
    p_raw(p, p->md ? "\n" : "</li>\n");
}

void p_ul_end(page *p)
{
    p_raw(p, p->md ? "\n" : "</ul>\n");
}

/* aligns: one 'l' or 'r' per column. */
void p_table(page *p, const char *cls, const char *const *heads, const char *aligns)
{
    if (p->md) {
        p_raw(p, "|");
        for (size_t i = 0; heads[i]; i++) {
            p_raw(p, " ");
            p_plain(p, heads[i]);
            p_raw(p, " |");
        }
        p_raw(p, "\n|");
        for (size_t i = 0; heads[i]; i++)
            p_raw(p, aligns[i] == 'r' ? " --: |" : " --- |");
        p_raw(p, "\n");
        return;
    }
    mc_buf_printf(&p->b, "<table class=\"%s\">\n<thead><tr>", cls);
    for (size_t i = 0; heads[i]; i++) {
        p_raw(p, aligns[i] == 'r' ? "<th class=\"num\">" : "<th>");
        p_plain(p, heads[i]);
        p_raw(p, "</th>");
    }
    p_raw(p, "</tr></thead>\n<tbody>\n");
}

void p_tr(page *p, const char *id)
{
    if (p->md) {
        p_raw(p, "|");
    } else if (id) {
        p_raw(p, "<tr id=\"");
        site_html_escape(&p->b, id);
        p_raw(p, "\">");
    } else {
        p_raw(p, "<tr>");
    }
}

void p_td(page *p, bool num)
{
    p_raw(p, p->md ? " " : num ? "<td class=\"num\">" : "<td>");
}

void p_td_end(page *p)
{
    p_raw(p, p->md ? " |" : "</td>");
}

void p_tr_end(page *p)
{
    p_raw(p, p->md ? "\n" : "</tr>\n");
}

void p_table_end(page *p)
{
    p_raw(p, p->md ? "\n" : "</tbody>\n</table>\n");
}

void p_code(page *p, const char *s)
{
    if (!p->md)
        p_raw(p, "<code>");
    p_name(p, s);
    if (!p->md)
        p_raw(p, "</code>");
}

void p_badge(page *p, const char *cls, const char *text)
{
    if (p->md) {
        p_raw(p, "**");
        p_plain(p, text);
        p_raw(p, "**");
    } else {
        mc_buf_printf(&p->b, "<span class=\"badge %s\">", cls);
        p_plain(p, text);
        p_raw(p, "</span>");
    }
}

void p_muted(page *p, const char *text)
{
    if (!p->md)
        p_raw(p, "<span class=\"muted\">");
    p_plain(p, text);
    if (!p->md)
        p_raw(p, "</span>");
}

/* A block of code (a view's definition).  Markdown: a ~~~ fence longer than
 * any run of tildes in the text, so the text cannot close it; inside a fence
 * nothing else is interpreted, but control characters and invalid UTF-8 are
 * still made visible. */
void p_pre(page *p, const char *text, const char *lang)
{
    if (!p->md) {
        p_raw(p, "<pre><code>");
        p_text(p, text);
        p_raw(p, "</code></pre>\n");
        return;
    }
    size_t longest = 0, run = 0;
    for (const char *s = text; *s; s++) {
        run = *s == '~' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    size_t fence = longest < 3 ? 3 : longest + 1;
    for (size_t i = 0; i < fence; i++)
        mc_buf_putc(&p->b, '~');
    mc_buf_printf(&p->b, "%s\n", lang ? lang : "");
    for (const unsigned char *s = (const unsigned char *)text; *s;) {
        uint32_t cp;
        size_t n = *s >= 0x80 ? mc_utf8_decode(s, &cp) : 1;
        if (n == 0) {
            p_raw(p, U_FFFD);
            s++;
        } else if (*s < 0x20 && *s != '\n' && *s != '\t') {
            if (*s != '\r')
                mc_buf_printf(&p->b, "\\x%02x", *s);
            s++;
        } else if (*s == 0x7f) {
            p_raw(p, "\\x7f");
            s++;
        } else {
            mc_buf_append(&p->b, (const char *)s, n);
            s += n;
        }
    }
    if (p->b.len && p->b.data[p->b.len - 1] != '\n')
        mc_buf_putc(&p->b, '\n');
    for (size_t i = 0; i < fence; i++)
        mc_buf_putc(&p->b, '~');
    p_raw(p, "\n\n");
}

/* ---- formatting ------------------------------------------------------------------ */

/* "2026-11-21 16:06 UTC" */
void fmt_time(int64_t t, char buf[32])
{
    if (t <= 0) {
        snprintf(buf, 32, "unknown time");
        return;
    }
    char iso[21];
    mc_time_iso(t, iso);
    snprintf(buf, 32, "%.10s %.5s UTC", iso, iso + 11);
}

/* 1234567 -> "1,234,567" */
void fmt_count(double v, char buf[32])
{
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", v < 0 ? 0 : v);
    size_t n = strlen(digits), o = 0;
    for (size_t i = 0; i < n && o + 2 < 32; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

const char *kind_label(mc_kind k)
{
    static const char *const labels[] = {
        "table", "view", "materialized view", "partitioned table",
        "foreign table", "external table", "late-binding view",
    };
    return (size_t)k < sizeof labels / sizeof labels[0] ? labels[k] : "container";
}

bool is_view(mc_kind k)
{
    return k == MC_KIND_VIEW || k == MC_KIND_MATVIEW || k == MC_KIND_LATE_BINDING_VIEW;
}

/* ---- paths ------------------------------------------------------------------------ */

static void put_schema_path(mc_buf *b, const site *S, const ds_data *d, size_t si)
{
    mc_buf_printf(b, "catalog/%s/%s%s", d->file, d->schemas[si].file, S->ext);
}

void put_cont_path(mc_buf *b, const site *S, const ds_data *d, size_t ci)
{
    mc_buf_printf(b, "catalog/%s/%s/%s%s", d->file,
                  d->schemas[d->cont_schema[ci]].file, d->cont_file[ci], S->ext);
}

char *schema_path(const site *S, const ds_data *d, size_t si)
{
    mc_buf b = {0};
    put_schema_path(&b, S, d, si);
    return mc_buf_steal(&b);
}

char *cont_path(const site *S, const ds_data *d, size_t ci)
{
    mc_buf b = {0};
    put_cont_path(&b, S, d, ci);
    return mc_buf_steal(&b);
}

/* The index, at a datastore's section where the format has anchors. */
char *ds_anchor_path(const site *S, const ds_data *d)
{
    mc_buf b = {0};
    mc_buf_puts(&b, S->index_file);
    if (!S->md)
        put_id(&b, "#ds-", d->name);
    return mc_buf_steal(&b);
}

/* ---- page frame ----------------------------------------------------------------- */


static const char *const csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'self'";

void page_begin(site *S, page *p, const char *title, const char *h1,
                       const crumb *crumbs, size_t n_crumbs, bool search_page)
{
    if (p->md) {
        p_raw(p, "# ");
        p_name(p, h1);
        p_raw(p, "\n\n");
        for (size_t i = 0; i < n_crumbs; i++) {
            if (i)
                p_raw(p, " › ");
            if (crumbs[i].target)
                p_link(p, crumbs[i].target, crumbs[i].text);
            else
                p_name(p, crumbs[i].text);
        }
        if (n_crumbs)
            p_raw(p, "\n\n");
        return;
    }
    p_raw(p, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<meta http-equiv=\"Content-Security-Policy\" content=\"");
    p_raw(p, csp);
    p_raw(p, "\">\n<meta name=\"referrer\" content=\"no-referrer\">\n"
             "<meta name=\"generator\" content=\"metacrawl\">\n<title>");
    p_text(p, title);
    p_raw(p, "</title>\n<link rel=\"stylesheet\" href=\"");
    p_target(p, "assets/site.css");
    p_raw(p, "\">\n<link rel=\"alternate\" type=\"application/atom+xml\" "
             "title=\"Catalog changes\" href=\"");
    p_target(p, "feed.atom");
    p_raw(p, "\">\n</head>\n<body>\n<header class=\"top\">\n<a class=\"home\" href=\"");
    p_target(p, S->index_file);
    p_raw(p, "\">metacrawl catalog</a>\n<nav><a href=\"");
    p_target(p, S->index_file);
    p_raw(p, "\">Datastores</a> <a href=\"");
    p_target(p, "changes.html");
    p_raw(p, "\">Recent changes</a></nav>\n");
    if (!search_page) {
        p_raw(p, "<form class=\"search\" action=\"");
        p_target(p, "search.html");
        p_raw(p, "\" method=\"get\" role=\"search\"><input type=\"search\" name=\"q\" "
                 "placeholder=\"Search tables, columns, comments\" "
                 "aria-label=\"Search tables, columns and comments\">"
                 "<button type=\"submit\">Search</button></form>\n");
    }
    p_raw(p, "</header>\n");
    if (n_crumbs) {
        p_raw(p, "<nav class=\"crumbs\" aria-label=\"Breadcrumb\">");
        for (size_t i = 0; i < n_crumbs; i++) {
            if (i)
                p_raw(p, " › ");
            if (crumbs[i].target)
                p_link(p, crumbs[i].target, crumbs[i].text);
            else
                p_name(p, crumbs[i].text);
        }
        p_raw(p, "</nav>\n");
    }
    p_raw(p, "<main>\n<h1>");
    p_name(p, h1);
    p_raw(p, "</h1>\n");
}

void page_end(page *p)
{
    if (p->md)
        return;
    p_raw(p, "</main>\n<footer>Built by metacrawl from its catalog store.</footer>\n"
             "</body>\n</html>\n");
}

/* "a · b · c" for the title element */
char *title3(const char *a, const char *b, const char *c)
{
    return mc_asprintf("%s%s%s%s%s", a ? a : "", b ? " · " : "", b ? b : "",
                       c ? " · " : "", c ? c : "");
}
