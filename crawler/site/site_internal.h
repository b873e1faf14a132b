/*
 * site_internal.h — for the files of crawler/site/ only: the loaded catalog
 * and the build's state (model.c), the writer (output.c), the page layer
 * (page.c), the pages (pages.c), the search index (search.c) and the embedded
 * assets (generated from assets/ at build time by embed_assets.py), so that
 * the build (site.c) can live apart from what it calls.  Nothing outside
 * crawler/site/ includes this; the public API is site.h.
 *
 * The invariants of the site are at the top of site.c.
 */
#ifndef MC_SITE_INTERNAL_H
#define MC_SITE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "site.h"
#include "history.h"
#include "diagram.h"

#define SITE_MANIFEST ".metacrawl-site"

/* U+FFFD in UTF-8: what invalid UTF-8 becomes. */
#define U_FFFD "\xef\xbf\xbd"

/* ---- the loaded catalog (model.c) ---------------------------------------------- */

typedef struct fk_edge {
    size_t from, to;        /* container indexes in the datastore's catalog */
    json_t *fk;             /* the foreign key object, borrowed from fks[from] */
} fk_edge;

/* One container depends on another: `to` reads `from` (a view), or `to`
 * references `from` (a foreign key of `to`).  The diagrams are drawn from
 * these (diagrams.c); model.c collects them (deps_collect). */
typedef struct dep_edge {
    size_t from, to;        /* container indexes in the datastore's catalog */
    dg_edge_kind kind;
} dep_edge;

typedef struct schema_ref {
    const char *name;
    const mc_schema *meta;  /* NULL when only its containers are recorded */
    char *file;             /* file-name form */
    size_t first, n;        /* its containers: cat->containers[first, first+n) */
    size_t n_fields;
} schema_ref;

typedef struct key_idx {
    int64_t key;
    size_t idx;
} key_idx;

/* The fields of the containers being written, read from the store when a
 * page, a diagram or the search index first asks (ds_fields). */
typedef struct ds_field_cache {
    mc_catalog *cat;           /* copies of those containers, with their fields */
    size_t *of;                /* container index -> 1 + its index in cat; 0 = not read */
    size_t *which;             /* cat's containers -> container index */
    mc_error err;              /* the first read that failed */
    bool failed;
} ds_field_cache;

typedef struct ds_data {
    const char *name;
    char *file;
    /* the current catalog without fields (store_load_skeleton): each
     * container's n_fields is its number of columns, its fields come from
     * ds_fields, so memory grows with containers, not columns */
    mc_catalog *cat;
    store *s;                  /* read inside the build's snapshot */
    ds_field_cache *fc;
    mc_run_list runs;          /* newest first */
    const mc_run *last_done;   /* the latest ok/partial run; NULL = none */
    mc_ds_state state;         /* staleness and pause as recorded by the scheduling
                                  layer (docs/scheduling.md, Staleness) */
    mc_hist_changes ch;        /* by id */
    size_t *ch_by_cont;        /* container events, by (container_id, id) */
    size_t n_ch_by_cont;
    mc_hist_fields hf;         /* the field lives of the container whose page is
                                  being written (write_container) */
    mc_hist_containers hc;
    schema_ref *schemas;
    size_t n_schemas;
    size_t *cont_schema;       /* container -> schemas[] */
    char **cont_file;
    json_t **fks;              /* parsed foreign_keys per container (or NULL) */
    fk_edge *in;               /* incoming foreign keys, by (to, from) */
    size_t n_in;
    key_idx *by_key;           /* container_id -> container index, sorted */
    dep_edge *deps;            /* every dependency, sorted by (from, to, kind) */
    size_t n_deps;
    size_t *deps_by_to;        /* indexes into deps, sorted by (to, from, kind) */
    size_t n_fields;
} ds_data;

typedef struct site {
    const site_opts *o;
    bool md;
    const char *ext;           /* ".html" / ".md" */
    const char *index_file;    /* "index.html" / "README.md" */
    ds_data *ds;
    size_t n_ds;
    /* the writer */
    char *root;
    char **paths;              /* written this build (relative), for the manifest */
    size_t n_paths, cap_paths;
    size_t n_written;
    char *made_dir;            /* the last directory known to exist */
    char *readback;            /* an old file's bytes, for the comparison */
    size_t readback_cap;
} site;


/* Loads one datastore (d->name set) inside the caller's read snapshot. */
int ds_load(store *s, ds_data *d, mc_error *err);
void ds_free(ds_data *d);
/* The current container index of a container id, or -1. */
ptrdiff_t cont_of_key(const ds_data *d, int64_t key);
/* The fields of container ci (*n of them), read from the store on first
 * use and kept until ds_fields_release; the array may move when another
 * container's fields are read, the strings stay.  NULL with *n 0 when the
 * read failed (ds_fields_check says why). */
const mc_field *ds_fields(const ds_data *d, size_t ci, size_t *n);
/* The table facts of container ci (NULL = none, or the read failed),
 * read from the store for its page and kept as its fields are. */
const mc_facts *ds_facts(const ds_data *d, size_t ci);
/* Forgets every container's fields read so far (their strings too). */
void ds_fields_release(const ds_data *d);
/* -1 with the error when a read of fields failed since the build began. */
int ds_fields_check(const ds_data *d, mc_error *err);

/* ---- escapers (escape.c; the public ones are in site.h) ----------------------------- */

void put_id(mc_buf *b, const char *prefix, const char *name);
/* site_file_name as a new string. */
char *file_name(const char *name);

/* ---- the writer (output.c) --------------------------------------------------------- */

/* strcmp for qsort/bsearch over an array of char *. */
int path_cmp(const void *a, const void *b);
/* Records rel as part of the site, writes it when its bytes changed, and
 * empties b. */
int emit_buf(site *S, const char *rel, mc_buf *b, mc_error *err);
/* After the build, S->paths sorted: deletes what an earlier build wrote and
 * this one did not. */
int remove_stale(site *S, size_t *n_removed, mc_error *err);
int write_manifest(site *S, mc_error *err);

/* ---- the page layer (page.c) ------------------------------------------------------- */

typedef struct page {
    mc_buf b;
    bool md;
    const char *rel;           /* from this page to the site root: "", "../../" */
} page;

void p_raw(page *p, const char *s);
void p_text(page *p, const char *s);
void p_plainf(page *p, const char *fmt, ...) MC_PRINTF(2, 3);
void p_plain(page *p, const char *s);
void p_name(page *p, const char *name);
void p_link(page *p, const char *target, const char *text);
void p_h(page *p, int level, const char *id);
void p_h_end(page *p, int level);
void p_para(page *p, const char *cls);
void p_para_end(page *p);
void p_ul(page *p, const char *cls);
void p_li(page *p, const char *id);
void p_li_end(page *p);
void p_ul_end(page *p);
void p_table(page *p, const char *cls, const char *const *heads, const char *aligns);
void p_tr(page *p, const char *id);
void p_td(page *p, bool num);
void p_td_end(page *p);
void p_tr_end(page *p);
void p_table_end(page *p);
void p_code(page *p, const char *s);
void p_badge(page *p, const char *cls, const char *text);
void p_muted(page *p, const char *text);
void p_pre(page *p, const char *text, const char *lang);

void fmt_time(int64_t t, char buf[32]);
void fmt_count(double v, char buf[32]);
const char *kind_label(mc_kind k);
bool is_view(mc_kind k);

void put_cont_path(mc_buf *b, const site *S, const ds_data *d, size_t ci);
char *schema_path(const site *S, const ds_data *d, size_t si);
char *cont_path(const site *S, const ds_data *d, size_t ci);
char *ds_anchor_path(const site *S, const ds_data *d);

typedef struct crumb {
    const char *target; /* NULL: the current page */
    const char *text;
} crumb;

void page_begin(site *S, page *p, const char *title, const char *h1,
                const crumb *crumbs, size_t n_crumbs, bool search_page);
void page_end(page *p);
char *title3(const char *a, const char *b, const char *c);

/* ---- the pages (pages.c) ----------------------------------------------------------- */

int write_container(site *S, ds_data *d, size_t ci, mc_error *err);
/* The "Table facts" section of a container page (facts_page.c); nothing
 * when the container has none. */
void write_facts_section(page *p, const mc_container *k);
int write_schema(site *S, ds_data *d, size_t si, mc_error *err);
int write_index(site *S, mc_error *err);

/* The changes one run recorded: d->ch.items[first, first + n). */
typedef struct run_group {
    int64_t run_id, run_at;
    size_t ds, first, n, n_breaking;
} run_group;


/* Newest first; the caller frees the array. */
run_group *collect_runs_with_changes(const site *S, size_t *n_out);
int write_changes(site *S, const run_group *g, size_t n, mc_error *err);
int write_feed(site *S, const run_group *g, size_t n, mc_error *err);

/* ---- diagrams (diagrams.c) -------------------------------------------------------- */

/* Most containers an ER diagram shows inline on its schema page; a larger
 * one gets a page of its own (<schema>.erd.html), up to DIAG_ER_FULL_MAX. */
#define DIAG_ER_INLINE_MAX 30
#define DIAG_ER_FULL_MAX 200
/* Most key columns listed in a table of an ER diagram. */
#define DIAG_ER_ROWS_MAX 12
/* Most containers on each side (upstream, downstream) of a container's
 * graph, and how many steps away they may be. */
#define DIAG_SIDE_MAX 12
#define DIAG_DEPTH 3
/* GitHub's Mermaid renders no diagram longer than this (maxTextSize). */
#define DIAG_MERMAID_MAX 50000

/* The "Upstream and downstream" section of a container page (nothing when
 * it has no dependency either way). */
void p_container_graph(site *S, page *p, const ds_data *d, size_t ci);
/* The "Diagram" section of a schema page: the ER diagram inline, or a link
 * to its own page. */
void p_schema_erd(site *S, page *p, const ds_data *d, size_t si);
/* The page of a schema's ER diagram when it is too large for the schema page
 * (nothing written otherwise). */
int write_schema_erd(site *S, ds_data *d, size_t si, mc_error *err);
/* catalog/<ds>/<schema>.erd.html: the name forms have no '.', so this is
 * nobody's schema or container page. */
char *schema_erd_path(const site *S, const ds_data *d, size_t si);

/* ---- search (search.c) ------------------------------------------------------------- */

int write_search_index(site *S, mc_error *err);
int write_search_page(site *S, mc_error *err);

/* ---- the assets (site_assets.c, generated from assets/ by embed_assets.py) --------- */

extern const char site_asset_css[];       /* assets/site.css */
extern const size_t site_asset_css_len;
extern const char site_asset_js[];        /* assets/search.js */
extern const size_t site_asset_js_len;

#endif
