/*
 * facts_page.c — a container page's "Table facts" section (docs/site.md,
 * docs/lineage.md "Table facts"): size, rows, freshness and, on Redshift,
 * what SVV_TABLE_INFO says, as the latest crawl that read them saw them.
 * Facts are not versioned: the change history never mentions them.
 */
#include "report.h"
#include "site_internal.h"

#include <stdio.h>

static void item(page *p, const char *label, const char *value)
{
    p_li(p, NULL);
    p_plain(p, label);
    p_plain(p, ": ");
    p_plain(p, value);
    p_li_end(p);
}

static void item_time(page *p, const char *label, int64_t t)
{
    char when[32];
    if (t > 0)
        fmt_time(t, when);
    item(p, label, t > 0 ? when : "never");
}

/* v with DIGITS decimals and SUFFIX; nothing when unknown. */
static void item_num(page *p, const char *label, double v, int digits, const char *suffix)
{
    char s[48];
    if (v < 0)
        return;
    snprintf(s, sizeof s, "%.*f%s", digits, v, suffix);
    item(p, label, s);
}

void write_facts_section(page *p, const mc_container *k)
{
    const mc_facts *f = k->facts;
    if (!f)
        return;
    char n[32];
    p_h(p, 2, "facts");
    p_plain(p, "Table facts");
    p_h_end(p, 2);
    p_ul(p, "table-facts");
    if (f->total_bytes >= 0) {
        report_format_bytes(f->total_bytes, n);
        item(p, "Size on disk", n);
    }
    if (f->rows >= 0) {
        fmt_count(f->rows, n);
        item(p, "Rows (estimate)", n);
    }
    bool pg_stats = f->dead_rows >= 0 || f->last_analyze || f->last_autoanalyze ||
                    f->last_vacuum || f->last_autovacuum;
    if (pg_stats) {
        item_time(p, "Last analysed", f->last_analyze > f->last_autoanalyze
                                          ? f->last_analyze : f->last_autoanalyze);
        item_time(p, "Last vacuumed", f->last_vacuum > f->last_autovacuum
                                          ? f->last_vacuum : f->last_autovacuum);
    }
    if (f->dead_rows >= 0) {
        fmt_count((double)f->dead_rows, n);
        item(p, "Dead rows", n);
    }
    if (f->tbl_rows >= 0) {
        fmt_count(f->tbl_rows, n);
        item(p, "Rows incl. deleted (tbl_rows)", n);
    }
    item_num(p, "Skew of rows across slices (skew_rows)", f->skew_rows, 2, "");
    item_num(p, "Unsorted", f->unsorted, 2, "%");
    item_num(p, "Statistics off (stats_off, 0 = current)", f->stats_off, 2, "");
    item_num(p, "Share of the cluster's space", f->pct_used, 4, "%");
    p_ul_end(p);
    /* No run number or time here: a page whose table did not change must
     * come out byte for byte the same, or every crawl would rewrite every
     * page (docs/site.md, incremental builds).  `show` says which run. */
    p_para(p, "table-facts-note");
    p_muted(p, "As the latest crawl that could read them saw them. Facts are not versioned: "
               "they are never a change.");
    p_para_end(p);
}
