/*
 * report.h — the shapes of what metacrawl reports: changes and crawl
 * reports as terminal text and as JSON (docs/changes.md, docs/commands.md),
 * and terminal-safe printing of every name and comment from the warehouse.
 * The command line, the alerts, the scheduler and the docs site all use it,
 * so a change reads the same wherever it is shown.
 */
#ifndef MC_REPORT_H
#define MC_REPORT_H

#include <stdio.h>

#include "mc_base.h"
#include "store.h"

struct crawl_report;
struct json_t;

/* "metacrawl: error: MESSAGE" and "  hint: HINT" on stderr, for every
 * module that reports an error itself (most return it to their caller).
 * The observer, when set, sees each error first: the command line keeps
 * the first one for the JSON error document of --json (cli.c). */
void report_error(const mc_error *err);
void report_set_error_observer(void (*observer)(const mc_error *err));

bool report_use_color(void);                 /* stdout is a terminal, no NO_COLOR */
/* s as a terminal may show it (mc_term_escape: control characters as \xNN,
 * C1, bidi and invisible characters as \uNNNN; NULL as "(none)"); returns
 * the columns written. */
size_t report_put_safe(FILE *f, const char *s);
/* The same, padded with spaces to width columns (at least one space after
 * a longer text), so escaped names keep a table aligned. */
void report_put_safe_pad(FILE *f, const char *s, size_t width);
/* The same, shortened to max_cols columns with a final "…" (terminal
 * listings only; JSON always has the whole text). */
void report_put_safe_short(FILE *f, const char *s, size_t max_cols);
#define REPORT_COMMENT_COLS 60
/* one or many, by n */
const char *report_plural(int64_t n, const char *one, const char *many);
/* The higher of two exit codes (what a command made of several parts exits with). */
int report_max_code(int a, int b);

/* At most this many changes per datastore on the terminal (0 = all; --all
 * sets it): a 40,000-change crawl is for --json, not for a scroll-back. */
#define REPORT_CHANGE_CAP 100
extern size_t report_change_cap;

void report_json_change(mc_buf *b, const mc_change *c, const char *datastore,
                        int64_t run);       /* docs/changes.md shape */
/* A JSON array of changes; runs[i] (or run when runs is NULL) is each one's run. */
void report_json_changes(mc_buf *b, const mc_changes *cs, const char *datastore,
                         const int64_t *runs, int64_t run);
void report_print_changes(FILE *f, const mc_changes *cs); /* grouped text */
/* The impact of a change (docs/lineage.md JSON; NULL or empty prints
 * nothing): "impact: N views read it, M foreign keys point at it" and one
 * line per view and key, each line starting with indent; at most
 * report_impact_cap lines (0 = all). */
#define REPORT_IMPACT_CAP 20
extern size_t report_impact_cap;
void report_print_impact(FILE *f, const char *impact, const char *indent);
/* "view", "materialized view", "late-binding view", ... of a kind name. */
const char *report_kind_words(const char *kind);
size_t report_count_breaking(const mc_changes *cs);
/* "error": {"code","message","hint"} when err is set, else "error": null. */
void report_json_error(mc_buf *b, bool *first, const mc_error *err);

/* "a, b, c" of a JSON array of names (column lists), escaped. */
void report_put_name_list(FILE *f, struct json_t *arr);
/* "name (a, b) -> schema.table (x, y)" of one foreign key (docs/changes.md shape). */
void report_put_fk(FILE *f, struct json_t *fk);
/* Calls each(ctx, added, fk) for every foreign key (docs/changes.md shape)
 * in before and not in after (added false), then in after and not in
 * before (added true); before/after are JSON array texts or NULL. */
void report_fk_diff(const char *before, const char *after,
                    void (*each)(void *ctx, bool added, struct json_t *fk), void *ctx);

/* One change on one line as the terminal shows it under its object's
 * heading ("column id (integer) removed  breaking"), terminal-safe, no
 * colour; the caller frees it. */
char *report_change_text(const mc_change *c);

/* ---- for pipelines (ci.c, docs/ci.md) ---- */

/* One datastore (or one comparison) in a pipeline report. */
typedef struct report_section {
    const char *datastore;
    const char *label;          /* heading; NULL = datastore */
    const char *status;         /* "ok", "partial", "failed", ... */
    const char *error;          /* the error message, or NULL */
    const mc_changes *changes;  /* NULL = none */
} report_section;
/* A pull-request comment: a summary table, the breaking changes, the
 * others in a collapsed block (at most 200 rows in all). */
void report_markdown(mc_buf *b, const char *title, const report_section *s, size_t n);
/* JUnit XML: a test suite per section, a test case per changed container
 * (a failure when any of its changes is breaking), an error per failed
 * crawl. */
void report_junit(mc_buf *b, const char *title, const report_section *s, size_t n);
/* Escapers: XML/HTML text and attributes; inline Markdown (every ASCII
 * punctuation character escaped, line ends as <br>). */
void report_xml_escape(mc_buf *b, const char *s);
void report_md_escape(mc_buf *b, const char *s);

/* One datastore's crawl as in `crawl --json` (docs/commands.md). */
void report_json_crawl(mc_buf *b, const struct crawl_report *r);
/* "NAME: run 12 ok in 2.1s: ..." and the changes under it. */
void report_print_crawl(const struct crawl_report *r);
/* Under a crawl's summary line: "no changes", the baseline note, or the
 * count and the grouped changes. */
void report_print_crawl_changes(const struct crawl_report *r);

/* ---- table facts (facts_out.c; docs/lineage.md, "Table facts") ---------- */

/* "812 bytes", "80 kB", "1.2 GB" (powers of 1024). */
void report_format_bytes(int64_t bytes, char out[32]);
/* The facts object (docs/lineage.md): every key always there, null when
 * unknown; "null" for no facts. */
void report_json_facts(mc_buf *b, const mc_facts *f);
/* "facts": {"status","containers","source","reason","fix"} of a crawl. */
void report_json_facts_outcome(mc_buf *b, bool *first, const struct crawl_report *r);
/* A crawl whose facts were unavailable: one line saying why and the fix. */
void report_print_facts_outcome(const struct crawl_report *r);
/* The facts as terminal lines under INDENT (nothing for NULL). */
void report_print_facts(FILE *out, const mc_facts *f, const char *indent);

#endif
