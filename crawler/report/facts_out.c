/*
 * facts_out.c — table facts as metacrawl shows them (report.h): the facts
 * object of `show --json` and the docs site's data, the facts outcome of
 * `crawl --json`, and their terminal lines (docs/lineage.md, "Table
 * facts").  Every value may be unknown: JSON null, and left out of the
 * terminal lines.
 */
#include "report.h"
#include "crawl.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void report_format_bytes(int64_t bytes, char out[32])
{
    static const char *const units[] = {"bytes", "kB", "MB", "GB", "TB", "PB"};
    if (bytes < 1024) {
        snprintf(out, 32, "%lld bytes", (long long)bytes);
        return;
    }
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 5)
        v /= 1024, u++;
    snprintf(out, 32, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void kv_real(mc_buf *b, bool *first, const char *key, double v)
{
    if (v >= 0)
        json_put_kv_num(b, first, key, v);
    else
        json_put_kv_raw(b, first, key, NULL);
}

static void kv_count(mc_buf *b, bool *first, const char *key, int64_t v)
{
    if (v >= 0)
        json_put_kv_int(b, first, key, v);
    else
        json_put_kv_raw(b, first, key, NULL);
}

static void kv_time(mc_buf *b, bool *first, const char *key, int64_t t)
{
    char iso[21];
    if (t > 0) {
        mc_time_iso(t, iso);
        json_put_kv_str(b, first, key, iso);
    } else {
        json_put_kv_raw(b, first, key, NULL);
    }
}

void report_json_facts(mc_buf *b, const mc_facts *f)
{
    if (!f) {
        mc_buf_puts(b, "null");
        return;
    }
    bool first = true;
    mc_buf_putc(b, '{');
    if (f->run > 0)
        json_put_kv_int(b, &first, "run", f->run);
    else
        json_put_kv_raw(b, &first, "run", NULL);
    kv_time(b, &first, "observed_at", f->observed_at);
    kv_real(b, &first, "rows", f->rows);
    kv_count(b, &first, "pages", f->pages);
    kv_count(b, &first, "total_bytes", f->total_bytes);
    kv_time(b, &first, "last_analyze", f->last_analyze);
    kv_time(b, &first, "last_autoanalyze", f->last_autoanalyze);
    kv_time(b, &first, "last_vacuum", f->last_vacuum);
    kv_time(b, &first, "last_autovacuum", f->last_autovacuum);
    kv_count(b, &first, "dead_rows", f->dead_rows);
    kv_count(b, &first, "modified_rows", f->modified_rows);
    kv_real(b, &first, "tbl_rows", f->tbl_rows);
    kv_real(b, &first, "visible_rows", f->visible_rows);
    kv_real(b, &first, "skew_rows", f->skew_rows);
    kv_real(b, &first, "skew_sortkey1", f->skew_sortkey1);
    kv_real(b, &first, "unsorted", f->unsorted);
    kv_real(b, &first, "stats_off", f->stats_off);
    kv_real(b, &first, "pct_used", f->pct_used);
    mc_buf_putc(b, '}');
}

void report_json_facts_outcome(mc_buf *b, bool *first, const crawl_report *r)
{
    const disc_facts_outcome *o = &r->facts;
    *first = json_put_key(b, *first, "facts");
    bool f2 = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &f2, "status", disc_facts_status_name(o->status));
    json_put_kv_int(b, &f2, "containers", (int64_t)o->n_containers);
    json_put_kv_str(b, &f2, "source", o->source);
    json_put_kv_str(b, &f2, "reason", o->why);
    json_put_kv_str(b, &f2, "fix", o->fix);
    mc_buf_putc(b, '}');
}

void report_print_facts_outcome(const crawl_report *r)
{
    const disc_facts_outcome *o = &r->facts;
    if (o->status != DISC_FACTS_UNAVAILABLE)
        return;
    printf("  table facts unavailable (");
    report_put_safe(stdout, o->why);
    printf("): the catalog is complete; the facts last recorded are kept");
    if (o->fix) {
        printf("; fix: ");
        report_put_safe(stdout, o->fix);
    }
    putchar('\n');
}

/* "2026-12-02T15:00:00Z", or "never" */
static void put_time(mc_buf *b, const char *label, int64_t t)
{
    char iso[21];
    if (t > 0)
        mc_time_iso(t, iso);
    mc_buf_printf(b, "%s%s %s", b->len ? ", " : "", label, t > 0 ? iso : "never");
}

static void put_line(FILE *out, const char *indent, mc_buf *b)
{
    if (b->len)
        fprintf(out, "%s%s\n", indent, mc_buf_str(b));
    mc_buf_reset(b);
}

void report_print_facts(FILE *out, const mc_facts *f, const char *indent)
{
    if (!f)
        return;
    char when[21] = "?";
    if (f->observed_at > 0)
        mc_time_iso(f->observed_at, when);
    fprintf(out, "%sfacts (not versioned), as run %lld saw them at %s:\n", indent,
            (long long)f->run, when);
    char sub[64];
    snprintf(sub, sizeof sub, "%s  ", indent);
    mc_buf b = {0};
    char n[32];
    if (f->total_bytes >= 0) {
        report_format_bytes(f->total_bytes, n);
        mc_buf_printf(&b, "size %s", n);
    }
    if (f->rows >= 0)
        mc_buf_printf(&b, "%s~%.0f rows", b.len ? ", " : "", f->rows);
    if (f->pages >= 0)
        mc_buf_printf(&b, "%s%lld pages", b.len ? ", " : "", (long long)f->pages);
    if (f->dead_rows >= 0)
        mc_buf_printf(&b, "%s%lld dead rows", b.len ? ", " : "", (long long)f->dead_rows);
    if (f->modified_rows >= 0)
        mc_buf_printf(&b, "%s%lld rows modified since analyze", b.len ? ", " : "",
                      (long long)f->modified_rows);
    put_line(out, sub, &b);
    /* PostgreSQL's statistics view: only where it was read (dead_rows is
     * known whenever pg_stat_all_tables had a row) */
    if (f->dead_rows >= 0 || f->last_analyze || f->last_autoanalyze || f->last_vacuum ||
        f->last_autovacuum) {
        put_time(&b, "last analyze", f->last_analyze);
        put_time(&b, "last autoanalyze", f->last_autoanalyze);
        put_line(out, sub, &b);
        put_time(&b, "last vacuum", f->last_vacuum);
        put_time(&b, "last autovacuum", f->last_autovacuum);
        put_line(out, sub, &b);
    }
    if (f->tbl_rows >= 0)
        mc_buf_printf(&b, "tbl_rows %.0f", f->tbl_rows);
    if (f->visible_rows >= 0)
        mc_buf_printf(&b, "%sestimated visible rows %.0f", b.len ? ", " : "", f->visible_rows);
    if (f->skew_rows >= 0)
        mc_buf_printf(&b, "%sskew_rows %.2f", b.len ? ", " : "", f->skew_rows);
    if (f->skew_sortkey1 >= 0)
        mc_buf_printf(&b, "%sskew_sortkey1 %.2f", b.len ? ", " : "", f->skew_sortkey1);
    put_line(out, sub, &b);
    if (f->unsorted >= 0)
        mc_buf_printf(&b, "unsorted %.2f%%", f->unsorted);
    if (f->stats_off >= 0)
        mc_buf_printf(&b, "%sstats_off %.2f", b.len ? ", " : "", f->stats_off);
    if (f->pct_used >= 0)
        mc_buf_printf(&b, "%s%.4f%% of the cluster's space", b.len ? ", " : "", f->pct_used);
    put_line(out, sub, &b);
    mc_buf_free(&b);
}
