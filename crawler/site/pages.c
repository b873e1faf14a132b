/*
 * pages.c — the pages of the site: values and changes as they are shown,
 * a page per container (columns, keys, foreign keys both ways, definition,
 * history), a page per schema, the index of the datastores, the recent
 * changes page and the Atom feed.  Each page is built with the page layer
 * (page.c) and handed to the writer (output.c).
 */
#include "site_internal.h"
#include "report.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECENT_RUNS 30        /* runs with changes on changes.html */
#define FEED_ENTRIES 50       /* runs with changes in feed.atom */
#define ENTRY_MAX_CHANGES 200 /* changes listed per run there */

/* ---- values and changes ------------------------------------------------------------ */

/* "(a, b)" from a JSON array of names. */
static void p_name_list(page *p, json_t *arr)
{
    size_t i;
    json_t *v;
    p_raw(p, "(");
    json_array_foreach(arr, i, v) {
        if (i)
            p_raw(p, ", ");
        p_code(p, json_string_value(v));
    }
    p_raw(p, ")");
}

/* A change's before/after value for people. */
static void p_value(page *p, const char *json, const char *attribute)
{
    if (!json) {
        p_muted(p, "(none)");
        return;
    }
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    if (!v) {
        p_code(p, json);
    } else if (json_is_null(v)) {
        p_muted(p, "(none)");
    } else if (json_is_string(v)) {
        p_code(p, json_string_value(v));
    } else if (json_is_boolean(v)) {
        bool t = json_is_true(v);
        if (attribute && strcmp(attribute, "nullable") == 0)
            p_plain(p, t ? "nullable" : "not null");
        else
            p_plain(p, t ? "true" : "false");
    } else if (json_is_array(v)) {
        bool names = true;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) names = names && json_is_string(e);
        if (names) {
            p_name_list(p, v);
        } else {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            p_code(p, s);
            free(s);
        }
    } else if (json_is_object(v) && json_is_string(json_object_get(v, "name"))) {
        const char *sc = json_string_value(json_object_get(v, "schema"));
        char *s = mc_asprintf("%s%s%s", sc ? sc : "", sc ? "." : "",
                              json_string_value(json_object_get(v, "name")));
        p_code(p, s);
        free(s);
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        p_code(p, s);
        free(s);
    }
    json_decref(v);
}

/* One foreign key: "name (cols) -> schema.table (cols)", the target linked
 * when it is in the catalog. */
static void p_fk(site *S, page *p, const ds_data *d, json_t *fk)
{
    const char *rs = json_string_value(json_object_get(fk, "ref_schema"));
    const char *rc = json_string_value(json_object_get(fk, "ref_container"));
    p_code(p, json_string_value(json_object_get(fk, "name")));
    p_raw(p, " ");
    p_name_list(p, json_object_get(fk, "columns"));
    p_raw(p, " → ");
    const mc_container *t = rs && rc ? mc_catalog_find(d->cat, rs, rc) : NULL;
    char *label = mc_asprintf("%s.%s", rs ? rs : "?", rc ? rc : "?");
    if (t) {
        char *target = cont_path(S, d, (size_t)(t - d->cat->containers));
        p_link(p, target, label);
        free(target);
    } else {
        p_code(p, label);
    }
    free(label);
    p_raw(p, " ");
    p_name_list(p, json_object_get(fk, "ref_columns"));
    const char *part = json_string_value(json_object_get(fk, "partition"));
    if (part) {
        p_plain(p, " (declared on partition ");
        p_code(p, part);
        p_plain(p, ")");
    }
}

/* A partitioned table's partitions (a fact of the latest crawl), one item
 * each: name and bound. */
static void p_partitions(page *p, const mc_container *k)
{
    json_t *parts = k->partitions ? json_loads(k->partitions, 0, NULL) : NULL;
    if (json_array_size(parts) > 0) {
        p_h(p, 2, "partitions");
        p_plain(p, "Partitions");
        p_h_end(p, 2);
        p_ul(p, "partitions");
        size_t i;
        json_t *part;
        json_array_foreach(parts, i, part) {
            p_li(p, NULL);
            p_code(p, json_string_value(json_object_get(part, "name")));
            p_raw(p, " ");
            p_code(p, json_string_value(json_object_get(part, "bound")));
            p_li_end(p);
        }
        p_ul_end(p);
    }
    json_decref(parts);
}

/* The page, datastore and site a foreign-key change is written with. */
typedef struct fk_out {
    site *S;
    page *p;
    const ds_data *d;
} fk_out;

static void p_fk_change(void *ctx, bool added, json_t *fk)
{
    fk_out *o = ctx;
    p_raw(o->p, added ? " + " : " − ");
    p_fk(o->S, o->p, o->d, fk);
}

static void p_fk_diff(site *S, page *p, const ds_data *d, const char *before,
                      const char *after)
{
    fk_out o = {S, p, d};
    p_plain(p, "foreign keys:");
    report_fk_diff(before, after, p_fk_change, &o);
}

/* schema.name, linked to its page when it is in the catalog. */
static void p_obj(site *S, page *p, const ds_data *d, const char *schema, const char *name)
{
    const mc_container *t = schema && name ? mc_catalog_find(d->cat, schema, name) : NULL;
    char *label = mc_asprintf("%s.%s", schema ? schema : "?", name ? name : "?");
    if (t) {
        char *target = cont_path(S, d, (size_t)(t - d->cat->containers));
        p_link(p, target, label);
        free(target);
    } else {
        p_code(p, label);
    }
    free(label);
}

/* A breaking change's impact (docs/lineage.md): " — read by v1, v2;
 * foreign keys: t.fk". */
static void p_impact(site *S, page *p, const ds_data *d, const char *impact)
{
    json_t *o = impact ? json_loads(impact, 0, NULL) : NULL;
    json_t *views = json_object_get(o, "views"), *fks = json_object_get(o, "foreign_keys");
    size_t i;
    json_t *v;
    if (json_array_size(views)) {
        p_plainf(p, " — read by %zu view%s: ", json_array_size(views),
                 json_array_size(views) == 1 ? "" : "s");
        json_array_foreach(views, i, v) {
            if (i)
                p_raw(p, ", ");
            p_obj(S, p, d, json_string_value(json_object_get(v, "schema")),
                  json_string_value(json_object_get(v, "name")));
        }
    }
    if (json_array_size(fks)) {
        p_plainf(p, "%s foreign key%s pointing at it: ", json_array_size(views) ? ";" : " —",
                 json_array_size(fks) == 1 ? "" : "s");
        json_array_foreach(fks, i, v) {
            if (i)
                p_raw(p, ", ");
            p_obj(S, p, d, json_string_value(json_object_get(v, "schema")),
                  json_string_value(json_object_get(v, "container")));
            p_raw(p, " ");
            p_code(p, json_string_value(json_object_get(v, "name")));
        }
    }
    json_decref(o);
}

/* The JSON object's "kind" as a label ("table"), for added/removed. */
static const char *obj_kind(json_t *o)
{
    const char *k = json_string_value(json_object_get(o, "kind"));
    int kv = k ? mc_kind_parse(k) : -1;
    return kv >= 0 ? kind_label((mc_kind)kv) : "container";
}

/* What a change did, in words; with_path puts the object's path (linked to
 * its page while it exists) in front. */
static void p_change(site *S, page *p, const ds_data *d, const mc_hist_change *c,
                     bool with_path)
{
    if (with_path) {
        ptrdiff_t ci = cont_of_key(d, c->container_id);
        char *label = c->container ? mc_asprintf("%s.%s", c->schema, c->container)
                                   : mc_strdup(c->schema);
        if (ci >= 0) {
            mc_buf t = {0};
            put_cont_path(&t, S, d, (size_t)ci);
            if (c->field && !S->md && c->kind != MC_FIELD_REMOVED) {
                put_id(&t, "#col-", c->field);
            }
            p_link(p, mc_buf_str(&t), label);
            mc_buf_free(&t);
        } else {
            p_code(p, label);
        }
        free(label);
        p_raw(p, ": ");
    }
    const char *attr = c->attribute;
    switch (c->kind) {
    case MC_SCHEMA_ADDED:
        p_plain(p, "schema added");
        break;
    case MC_SCHEMA_REMOVED:
        p_plain(p, "schema removed");
        break;
    case MC_CONTAINER_ADDED:
    case MC_CONTAINER_REMOVED: {
        json_t *o = json_loads(c->kind == MC_CONTAINER_ADDED ? c->after : c->before, 0, NULL);
        p_plainf(p, "%s %s", obj_kind(o), c->kind == MC_CONTAINER_ADDED ? "added" : "removed");
        json_t *fields = json_object_get(o, "fields");
        if (json_is_array(fields))
            p_plainf(p, " (%zu columns)", json_array_size(fields));
        json_decref(o);
        break;
    }
    case MC_CONTAINER_RENAMED:
        p_plain(p, "renamed from ");
        p_value(p, c->before, NULL);
        break;
    case MC_FIELD_ADDED:
    case MC_FIELD_REMOVED: {
        json_t *o = json_loads(c->kind == MC_FIELD_ADDED ? c->after : c->before, 0, NULL);
        p_plain(p, "column ");
        p_code(p, c->field);
        const char *type = json_string_value(json_object_get(o, "type"));
        if (type) {
            p_raw(p, " ");
            p_code(p, type);
        }
        p_plain(p, c->kind == MC_FIELD_ADDED ? " added" : " removed");
        json_decref(o);
        break;
    }
    case MC_FIELD_RENAMED:
        p_plain(p, "column renamed from ");
        p_value(p, c->before, NULL);
        p_plain(p, " to ");
        p_code(p, c->field);
        break;
    default:
        if (c->field) {
            p_plain(p, "column ");
            p_code(p, c->field);
            p_raw(p, " ");
        } else if (c->kind == MC_SCHEMA_CHANGED) {
            p_plain(p, "schema ");
        }
        if (attr && strcmp(attr, "definition") == 0) {
            if (p->md) {
                p_plain(p, "definition changed");
            } else {
                p_raw(p, "<details><summary>definition changed</summary>"
                         "<div class=\"was\">before:</div>");
                p_pre(p, c->before ? c->before : "", NULL);
                p_raw(p, "<div class=\"now\">after:</div>");
                p_pre(p, c->after ? c->after : "", NULL);
                p_raw(p, "</details>");
            }
        } else if (attr && strcmp(attr, "foreign_keys") == 0) {
            p_fk_diff(S, p, d, c->before, c->after);
        } else {
            p_text(p, attr ? attr : "?");
            p_raw(p, ": ");
            p_value(p, c->before, attr);
            p_raw(p, " → ");
            p_value(p, c->after, attr);
        }
        break;
    }
    if (c->breaking) {
        p_raw(p, " ");
        p_badge(p, "breaking", "breaking");
    }
    p_impact(S, p, d, c->impact);
}

/* "run 42, 2026-11-21 16:06 UTC" */
static void p_run_at(page *p, int64_t run, int64_t at)
{
    char t[32];
    fmt_time(at, t);
    p_plainf(p, "run %lld, %s", (long long)run, t);
}

/* ---- container pages --------------------------------------------------------------- */

static bool json_has_name(json_t *arr, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

/* The field lives of a container: [*first, *first + *n) of d->hf. */
static void field_lives(const ds_data *d, int64_t key, size_t *first, size_t *n)
{
    size_t lo = 0, hi = d->hf.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->hf.items[mid].container_id < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < d->hf.n && d->hf.items[end].container_id == key)
        end++;
    *first = lo;
    *n = end - lo;
}

static const mc_hist_container *container_life(const ds_data *d, int64_t key)
{
    size_t lo = 0, hi = d->hc.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->hc.items[mid].container_id < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->hc.n && d->hc.items[lo].container_id == key ? &d->hc.items[lo] : NULL;
}

static void p_history(site *S, page *p, const ds_data *d, const mc_container *k)
{
    const mc_hist_container *life = container_life(d, k->store_key);
    size_t ff, nf;
    field_lives(d, k->store_key, &ff, &nf);
    /* the container's events: a range of ch_by_cont */
    size_t lo = 0, hi = d->n_ch_by_cont;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->ch.items[d->ch_by_cont[mid]].container_id < k->store_key)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < d->n_ch_by_cont && d->ch.items[d->ch_by_cont[end]].container_id == k->store_key)
        end++;

    p_h(p, 2, "history");
    p_plain(p, "History");
    p_h_end(p, 2);
    p_para(p, NULL);
    if (life) {
        p_plain(p, "First recorded by ");
        p_run_at(p, life->first_run, life->first_at);
        p_plain(p, ".");
    }
    if (end == lo)
        p_plain(p, life ? " No change recorded since." : "No change recorded.");
    p_para_end(p);

    /* The column lives are worth a table only when they tell more than
     * "everything since the first run". */
    bool eventful = false;
    for (size_t i = ff; i < ff + nf; i++) {
        const mc_hist_field *f = &d->hf.items[i];
        if (f->changed_run || f->removed_run || (life && f->first_run != life->first_run))
            eventful = true;
    }
    if (eventful) {
        p_h(p, 3, "column-history");
        p_plain(p, "Columns over time");
        p_h_end(p, 3);
        static const char *const heads[] = {"Column", "Appeared", "Last changed",
                                            "Removed", NULL};
        p_table(p, "lives", heads, "llll");
        for (size_t i = ff; i < ff + nf; i++) {
            const mc_hist_field *f = &d->hf.items[i];
            p_tr(p, NULL);
            p_td(p, false);
            p_code(p, f->name);
            p_td_end(p);
            p_td(p, false);
            p_run_at(p, f->first_run, f->first_at);
            p_td_end(p);
            p_td(p, false);
            if (f->changed_run)
                p_run_at(p, f->changed_run, f->changed_at);
            p_td_end(p);
            p_td(p, false);
            if (f->removed_run)
                p_run_at(p, f->removed_run, f->removed_at);
            p_td_end(p);
            p_tr_end(p);
        }
        p_table_end(p);
    }
    if (end > lo) {
        p_h(p, 3, "changes");
        p_plain(p, "Changes");
        p_h_end(p, 3);
        p_ul(p, "changes");
        for (size_t i = end; i-- > lo;) { /* newest first */
            const mc_hist_change *c = &d->ch.items[d->ch_by_cont[i]];
            char t[32];
            fmt_time(c->run_at, t);
            p_li(p, NULL);
            p_muted(p, t);
            p_plainf(p, " (run %lld): ", (long long)c->run_id);
            p_change(S, p, d, c, false);
            p_li_end(p);
        }
        p_ul_end(p);
    }
}

int write_container(site *S, ds_data *d, size_t ci, mc_error *err)
{
    const mc_container *k = &d->cat->containers[ci];
    const schema_ref *sr = &d->schemas[d->cont_schema[ci]];
    page p = {.md = S->md, .rel = "../../../"};
    char *spath = schema_path(S, d, d->cont_schema[ci]);
    char *dspath = ds_anchor_path(S, d);
    crumb crumbs[] = {{S->index_file, "Datastores"}, {dspath, d->name},
                      {spath, sr->name}, {NULL, k->name}};
    char *qual = mc_asprintf("%s.%s", k->schema, k->name);
    char *title = title3(qual, d->name, "metacrawl");
    page_begin(S, &p, title, qual, crumbs, 4, false);
    free(title);

    p_para(&p, "facts");
    p_badge(&p, "kind", kind_label(k->kind));
    if (k->owner) {
        p_raw(&p, " · ");
        p_plain(&p, "owner ");
        p_code(&p, k->owner);
    }
    if (k->extension) {
        p_raw(&p, " · ");
        p_plain(&p, "member of extension ");
        p_code(&p, k->extension);
    }
    char n1[32];
    if (k->row_estimate >= 0) {
        fmt_count(k->row_estimate, n1);
        p_raw(&p, " · ");
        p_plainf(&p, "about %s rows", n1);
    } else if (k->kind == MC_KIND_TABLE || k->kind == MC_KIND_PARTITIONED ||
               k->kind == MC_KIND_MATVIEW) {
        p_raw(&p, " · ");
        p_plain(&p, "rows unknown");
    }
    fmt_count((double)k->n_fields, n1);
    p_raw(&p, " · ");
    p_plainf(&p, "%s column%s", n1, k->n_fields == 1 ? "" : "s");
    if (k->dist_style) {
        p_raw(&p, " · ");
        p_plain(&p, "distribution ");
        p_code(&p, k->dist_style);
    }
    if (k->sort_key) {
        json_t *sk = json_loads(k->sort_key, JSON_DECODE_ANY, NULL);
        p_raw(&p, " · ");
        p_plain(&p, "sort key ");
        if (json_is_array(sk))
            p_name_list(&p, sk);
        else
            p_code(&p, k->sort_key);
        json_decref(sk);
    }
    p_para_end(&p);
    if (k->comment) {
        p_para(&p, "comment");
        p_text(&p, k->comment);
        p_para_end(&p);
    }
    mc_container with_facts = *k; /* the facts are read for this page alone */
    with_facts.facts = ds_facts(d, ci);
    write_facts_section(&p, &with_facts);

    json_t *pk = k->primary_key ? json_loads(k->primary_key, 0, NULL) : NULL;
    json_t *fks = d->fks[ci];
    bool any_encoding = false;
    size_t nf;
    const mc_field *fs = ds_fields(d, ci, &nf);
    for (size_t i = 0; i < nf; i++)
        any_encoding = any_encoding || fs[i].encoding;

    p_h(&p, 2, "columns");
    p_plain(&p, "Columns");
    p_h_end(&p, 2);
    static const char *const heads[] = {"#", "Column", "Type", "Nullable", "Default",
                                        "Comment", "Encoding", NULL};
    static const char *const heads_no_enc[] = {"#", "Column", "Type", "Nullable",
                                               "Default", "Comment", NULL};
    p_table(&p, "columns", any_encoding ? heads : heads_no_enc, "rlllllll");
    mc_buf id = {0};
    for (size_t i = 0; i < nf; i++) {
        const mc_field *f = &fs[i];
        mc_buf_reset(&id);
        put_id(&id, "col-", f->name);
        p_tr(&p, mc_buf_str(&id));
        /* the column's place now: recorded positions of columns that did
         * not move keep their old numbers after a drop (docs/changes.md) */
        p_td(&p, true);
        p_plainf(&p, "%zu", i + 1);
        p_td_end(&p);
        p_td(&p, false);
        p_code(&p, f->name);
        if (pk && json_has_name(pk, f->name)) {
            p_raw(&p, " ");
            p_badge(&p, "pk", "PK");
        }
        size_t x;
        json_t *fk;
        bool is_fk = false;
        json_array_foreach(fks, x, fk) is_fk = is_fk || json_has_name(json_object_get(fk, "columns"), f->name);
        if (is_fk) {
            p_raw(&p, " ");
            p_badge(&p, "fk", "FK");
        }
        p_td_end(&p);
        p_td(&p, false);
        p_code(&p, f->type);
        p_td_end(&p);
        p_td(&p, false);
        p_plain(&p, f->not_null ? "not null" : "null");
        p_td_end(&p);
        p_td(&p, false);
        if (f->default_expr)
            p_code(&p, f->default_expr);
        if (f->identity)
            p_plain(&p, strcmp(f->identity, "always") == 0
                            ? "generated always as identity"
                            : "generated by default as identity");
        if (f->generated) {
            p_plain(&p, "generated always as ");
            p_code(&p, f->generated);
        }
        p_td_end(&p);
        p_td(&p, false);
        p_text(&p, f->comment);
        p_td_end(&p);
        if (any_encoding) {
            p_td(&p, false);
            if (f->encoding)
                p_code(&p, f->encoding);
            p_td_end(&p);
        }
        p_tr_end(&p);
    }
    mc_buf_free(&id);
    p_table_end(&p);

    p_h(&p, 2, "keys");
    p_plain(&p, "Keys");
    p_h_end(&p, 2);
    p_ul(&p, "keys");
    p_li(&p, NULL);
    p_plain(&p, "Primary key: ");
    if (json_is_array(pk))
        p_name_list(&p, pk);
    else
        p_muted(&p, "none");
    p_li_end(&p);
    size_t x;
    json_t *fk;
    json_array_foreach(fks, x, fk) {
        p_li(&p, NULL);
        p_plain(&p, "Foreign key ");
        p_fk(S, &p, d, fk);
        p_li_end(&p);
    }
    /* incoming: the range of d->in with to == ci */
    size_t lo = 0, hi = d->n_in;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->in[mid].to < ci)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < d->n_in && d->in[i].to == ci; i++) {
        const fk_edge *e = &d->in[i];
        const mc_container *src = &d->cat->containers[e->from];
        p_li(&p, NULL);
        p_plain(&p, "Referenced by ");
        char *target = cont_path(S, d, e->from);
        char *label = mc_asprintf("%s.%s", src->schema, src->name);
        p_link(&p, target, label);
        free(target);
        free(label);
        p_raw(&p, " ");
        p_name_list(&p, json_object_get(e->fk, "columns"));
        p_raw(&p, " → ");
        p_name_list(&p, json_object_get(e->fk, "ref_columns"));
        p_plain(&p, " via ");
        p_code(&p, json_string_value(json_object_get(e->fk, "name")));
        p_li_end(&p);
    }
    p_ul_end(&p);
    json_decref(pk);
    p_partitions(&p, k);
    p_container_graph(S, &p, d, ci);

    if (k->definition || is_view(k->kind)) {
        p_h(&p, 2, "definition");
        p_plain(&p, "Definition");
        p_h_end(&p, 2);
        if (k->definition)
            p_pre(&p, k->definition, "sql");
        else {
            p_para(&p, NULL);
            p_muted(&p, "not recorded");
            p_para_end(&p);
        }
    }

    /* the lives of this container's fields, read for its page alone */
    mc_hist_fields_free(&d->hf);
    int rc = store_hist_fields_of(d->s, k->store_key, &d->hf, err);
    if (rc == 0)
        rc = ds_fields_check(d, err);
    ds_fields_release(d);
    if (rc == 0) {
        p_history(S, &p, d, k);
        page_end(&p);
        char *path = cont_path(S, d, ci);
        rc = emit_buf(S, path, &p.b, err);
        free(path);
    }
    mc_buf_free(&p.b);
    free(qual);
    free(spath);
    free(dspath);
    return rc;
}

/* ---- schema pages and the index ------------------------------------------------------ */

int write_schema(site *S, ds_data *d, size_t si, mc_error *err)
{
    const schema_ref *sr = &d->schemas[si];
    page p = {.md = S->md, .rel = "../../"};
    char *dspath = ds_anchor_path(S, d);
    crumb crumbs[] = {{S->index_file, "Datastores"}, {dspath, d->name}, {NULL, sr->name}};
    char *title = title3(sr->name, d->name, "metacrawl");
    page_begin(S, &p, title, sr->name, crumbs, 3, false);
    free(title);
    char n1[32], n2[32];
    fmt_count((double)sr->n, n1);
    fmt_count((double)sr->n_fields, n2);
    p_para(&p, "facts");
    p_plain(&p, "Schema of ");
    p_name(&p, d->name);
    p_plainf(&p, ": %s containers, %s columns", n1, n2);
    if (sr->meta && sr->meta->owner) {
        p_raw(&p, " · ");
        p_plain(&p, "owner ");
        p_code(&p, sr->meta->owner);
    }
    if (sr->meta && sr->meta->external) {
        p_raw(&p, " · ");
        p_badge(&p, "kind", "external schema");
    }
    p_para_end(&p);
    if (sr->meta && sr->meta->comment) {
        p_para(&p, "comment");
        p_text(&p, sr->meta->comment);
        p_para_end(&p);
    }
    static const char *const heads[] = {"Name", "Kind", "Columns", "Rows (estimate)",
                                        "Comment", NULL};
    p_table(&p, "containers", heads, "llrrl");
    for (size_t ci = sr->first; ci < sr->first + sr->n; ci++) {
        const mc_container *k = &d->cat->containers[ci];
        p_tr(&p, NULL);
        p_td(&p, false);
        mc_buf target = {0};
        mc_buf_printf(&target, "catalog/%s/%s/%s%s", d->file, sr->file, d->cont_file[ci], S->ext);
        p_link(&p, mc_buf_str(&target), k->name);
        mc_buf_free(&target);
        p_td_end(&p);
        p_td(&p, false);
        p_plain(&p, kind_label(k->kind));
        p_td_end(&p);
        p_td(&p, true);
        fmt_count((double)k->n_fields, n1);
        p_plain(&p, n1);
        p_td_end(&p);
        p_td(&p, true);
        if (k->row_estimate >= 0) {
            fmt_count(k->row_estimate, n1);
            p_plain(&p, n1);
        }
        p_td_end(&p);
        p_td(&p, false);
        p_text(&p, k->comment);
        p_td_end(&p);
        p_tr_end(&p);
    }
    p_table_end(&p);
    p_schema_erd(S, &p, d, si);
    page_end(&p);
    char *path = schema_path(S, d, si);
    int rc = emit_buf(S, path, &p.b, err);
    free(path);
    free(dspath);
    mc_buf_free(&p.b);
    return rc;
}

int write_index(site *S, mc_error *err)
{
    page p = {.md = S->md, .rel = ""};
    page_begin(S, &p, "metacrawl catalog", "Datastores", NULL, 0, false);
    size_t n_schemas = 0, n_cont = 0, n_fields = 0;
    for (size_t i = 0; i < S->n_ds; i++) {
        n_schemas += S->ds[i].n_schemas;
        n_cont += S->ds[i].cat->n_containers;
        n_fields += S->ds[i].n_fields;
    }
    char a[32], b[32], c[32];
    fmt_count((double)n_schemas, a);
    fmt_count((double)n_cont, b);
    fmt_count((double)n_fields, c);
    p_para(&p, "facts");
    p_plainf(&p, "%zu datastore%s, %s schemas, %s containers, %s columns. ", S->n_ds,
            S->n_ds == 1 ? "" : "s", a, b, c);
    char *changes = mc_asprintf("changes%s", S->ext);
    p_link(&p, changes, "Recent changes");
    free(changes);
    p_raw(&p, " · ");
    p_link(&p, "feed.atom", "Atom feed");
    p_para_end(&p);
    for (size_t i = 0; i < S->n_ds; i++) {
        ds_data *d = &S->ds[i];
        mc_buf id = {0};
        put_id(&id, "ds-", d->name);
        p_h(&p, 2, mc_buf_str(&id));
        mc_buf_free(&id);
        p_name(&p, d->name);
        p_h_end(&p, 2);
        p_para(&p, "facts");
        if (d->last_done) {
            const mc_run *r = d->last_done;
            p_plain(&p, "Last crawl: ");
            p_run_at(&p, r->id, r->finished_at ? r->finished_at : r->started_at);
            if (r->status == MC_RUN_PARTIAL)
                p_plain(&p, " (partial)");
            if (r->server_version) {
                p_raw(&p, " · ");
                p_text(&p, r->server_version);
            }
        } else {
            p_plain(&p, "No completed crawl.");
        }
        p_para_end(&p);
        /* What run-due or the scheduler last recorded, not judged here: the
         * site is a function of the store alone. */
        if (d->state.stale_since) {
            char t[32], ok[32];
            fmt_time(d->state.stale_since, t);
            p_para(&p, "warn");
            p_plainf(&p, "Stale since %s: ", t);
            if (d->last_done) {
                fmt_time(d->last_done->started_at, ok);
                p_plainf(&p, "no successful crawl since %s (stale_after).", ok);
            } else {
                p_plain(&p, "never crawled successfully (stale_after).");
            }
            p_para_end(&p);
        }
        if (d->state.paused_at) {
            char t[32];
            fmt_time(d->state.paused_at, t);
            p_para(&p, "warn");
            p_plainf(&p, "Scheduled crawls paused since %s", t);
            if (d->state.paused_by[0]) {
                p_plain(&p, " by ");
                p_text(&p, d->state.paused_by);
            }
            p_plain(&p, " (metacrawl schedule resume).");
            p_para_end(&p);
        }
        const mc_run *latest = d->runs.n ? &d->runs.runs[0] : NULL;
        if (latest && latest->status == MC_RUN_FAILED &&
            (!d->last_done || latest->id > d->last_done->id)) {
            p_para(&p, "warn");
            p_plain(&p, "The latest crawl, ");
            p_run_at(&p, latest->id, latest->finished_at ? latest->finished_at
                                                          : latest->started_at);
            p_plain(&p, ", failed: ");
            p_text(&p, latest->error ? latest->error : "no reason recorded");
            p_plain(&p, ". The pages show the catalog of the last completed crawl.");
            p_para_end(&p);
        }
        static const char *const heads[] = {"Schema", "Containers", "Columns", "Owner",
                                            "Comment", NULL};
        p_table(&p, "schemas", heads, "lrrll");
        for (size_t si = 0; si < d->n_schemas; si++) {
            const schema_ref *sr = &d->schemas[si];
            p_tr(&p, NULL);
            p_td(&p, false);
            char *target = schema_path(S, d, si);
            p_link(&p, target, sr->name);
            free(target);
            p_td_end(&p);
            p_td(&p, true);
            fmt_count((double)sr->n, a);
            p_plain(&p, a);
            p_td_end(&p);
            p_td(&p, true);
            fmt_count((double)sr->n_fields, a);
            p_plain(&p, a);
            p_td_end(&p);
            p_td(&p, false);
            if (sr->meta && sr->meta->owner)
                p_code(&p, sr->meta->owner);
            p_td_end(&p);
            p_td(&p, false);
            if (sr->meta)
                p_text(&p, sr->meta->comment);
            p_td_end(&p);
            p_tr_end(&p);
        }
        p_table_end(&p);
    }
    page_end(&p);
    int rc = emit_buf(S, S->index_file, &p.b, err);
    mc_buf_free(&p.b);
    return rc;
}

/* ---- recent changes and the feed ----------------------------------------------------- */

static int run_group_cmp(const void *a, const void *b)
{
    const run_group *x = a, *y = b;
    return (x->run_id < y->run_id) - (x->run_id > y->run_id); /* newest first */
}

run_group *collect_runs_with_changes(const site *S, size_t *n_out)
{
    size_t n = 0, cap = 0;
    run_group *g = NULL;
    for (size_t di = 0; di < S->n_ds; di++) {
        const mc_hist_changes *ch = &S->ds[di].ch;
        for (size_t i = 0; i < ch->n;) {
            size_t j = i;
            size_t nb = 0;
            while (j < ch->n && ch->items[j].run_id == ch->items[i].run_id)
                nb += ch->items[j++].breaking;
            if (n == cap) {
                cap = cap ? cap * 2 : 32;
                g = mc_realloc(g, cap * sizeof *g);
            }
            g[n++] = (run_group){ch->items[i].run_id, ch->items[i].run_at, di, i, j - i, nb};
            i = j;
        }
    }
    if (n)
        qsort(g, n, sizeof *g, run_group_cmp);
    *n_out = n;
    return g;
}

static void p_group_title(page *p, const site *S, const run_group *g)
{
    char t[32];
    fmt_time(g->run_at, t);
    p_plainf(p, "%s — ", t);
    p_name(p, S->ds[g->ds].name);
    p_plainf(p, ", run %lld: %zu change%s", (long long)g->run_id, g->n, g->n == 1 ? "" : "s");
    if (g->n_breaking)
        p_plainf(p, " (%zu breaking)", g->n_breaking);
}

static void p_group_changes(site *S, page *p, const run_group *g)
{
    ds_data *d = &S->ds[g->ds];
    p_ul(p, "changes");
    size_t shown = g->n < ENTRY_MAX_CHANGES ? g->n : ENTRY_MAX_CHANGES;
    for (size_t i = 0; i < shown; i++) {
        p_li(p, NULL);
        p_change(S, p, d, &d->ch.items[g->first + i], true);
        p_li_end(p);
    }
    if (g->n > shown) {
        p_li(p, NULL);
        p_plainf(p, "… and %zu more (each container's page lists its own)", g->n - shown);
        p_li_end(p);
    }
    p_ul_end(p);
}

int write_changes(site *S, const run_group *g, size_t n, mc_error *err)
{
    page p = {.md = S->md, .rel = ""};
    crumb crumbs[] = {{S->index_file, "Datastores"}, {NULL, "Recent changes"}};
    page_begin(S, &p, "Recent changes · metacrawl", "Recent changes", crumbs, 2, false);
    p_para(&p, NULL);
    p_plainf(&p, "What the last %d crawls that found changes recorded, newest first. "
                "Every container's page has its whole history. ", RECENT_RUNS);
    p_link(&p, "feed.atom", "Atom feed");
    p_para_end(&p);
    if (!n) {
        p_para(&p, NULL);
        p_plain(&p, "No changes recorded yet: the first crawl of a datastore is its "
                   "baseline.");
        p_para_end(&p);
    }
    for (size_t i = 0; i < n && i < RECENT_RUNS; i++) {
        char id[40];
        snprintf(id, sizeof id, "run-%lld", (long long)g[i].run_id);
        p_h(&p, 2, id);
        p_group_title(&p, S, &g[i]);
        p_h_end(&p, 2);
        p_group_changes(S, &p, &g[i]);
    }
    page_end(&p);
    char *path = mc_asprintf("changes%s", S->ext);
    int rc = emit_buf(S, path, &p.b, err);
    free(path);
    mc_buf_free(&p.b);
    return rc;
}

static void atom_time(mc_buf *b, int64_t t)
{
    char iso[21];
    mc_time_iso(t > 0 ? t : 0, iso);
    mc_buf_puts(b, iso);
}

/*
 * The Atom feed (RFC 4287): one entry per run that recorded changes.  Ids are
 * URNs made of the datastore and the run id, which never change for a store;
 * <updated> is the run's time, so the feed's bytes change only with the
 * catalog.  Links are relative to the feed unless a base URL was given.
 */
int write_feed(site *S, const run_group *g, size_t n, mc_error *err)
{
    const char *base = S->o->base_url ? S->o->base_url : "";
    mc_buf b = {0};
    mc_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                    "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n"
                    "<title>metacrawl: catalog changes</title>\n<id>urn:metacrawl:feed");
    for (size_t i = 0; i < S->n_ds; i++) {
        mc_buf_putc(&b, ':');
        mc_buf_puts(&b, S->ds[i].file);
    }
    mc_buf_puts(&b, "</id>\n<updated>");
    /* the newest change, else the earliest crawl: never the build's time */
    int64_t updated = n ? g[0].run_at : 0;
    for (size_t i = 0; !n && i < S->n_ds; i++) {
        const mc_run_list *rl = &S->ds[i].runs;
        if (rl->n && (!updated || rl->runs[rl->n - 1].started_at < updated))
            updated = rl->runs[rl->n - 1].started_at;
    }
    atom_time(&b, updated);
    mc_buf_puts(&b, "</updated>\n");
    if (*base) {
        mc_buf_puts(&b, "<link rel=\"self\" type=\"application/atom+xml\" href=\"");
        site_xml_escape(&b, base);
        mc_buf_puts(&b, "feed.atom\"/>\n");
    }
    mc_buf_puts(&b, "<link rel=\"alternate\" type=\"text/html\" href=\"");
    site_xml_escape(&b, base);
    mc_buf_printf(&b, "changes%s\"/>\n<author><name>metacrawl</name></author>\n"
                      "<generator>metacrawl</generator>\n", S->ext);
    for (size_t i = 0; i < n && i < FEED_ENTRIES; i++) {
        const ds_data *d = &S->ds[g[i].ds];
        mc_buf_printf(&b, "<entry>\n<id>urn:metacrawl:run:%s:%lld</id>\n<title>", d->file,
                      (long long)g[i].run_id);
        mc_buf title = {0};
        mc_buf_printf(&title, "%s: %zu change%s", d->name, g[i].n, g[i].n == 1 ? "" : "s");
        if (g[i].n_breaking)
            mc_buf_printf(&title, " (%zu breaking)", g[i].n_breaking);
        mc_buf_printf(&title, " in run %lld", (long long)g[i].run_id);
        site_xml_escape(&b, mc_buf_str(&title));
        mc_buf_free(&title);
        mc_buf_puts(&b, "</title>\n<updated>");
        atom_time(&b, g[i].run_at);
        mc_buf_puts(&b, "</updated>\n<link rel=\"alternate\" type=\"text/html\" href=\"");
        site_xml_escape(&b, base);
        mc_buf_printf(&b, "changes%s#run-%lld\"/>\n<content type=\"html\">", S->ext,
                      (long long)g[i].run_id);
        /* the content is HTML carried as text: escaped twice */
        page t = {.md = false, .rel = base};
        p_group_changes(S, &t, &g[i]);
        site_xml_escape(&b, mc_buf_str(&t.b));
        mc_buf_free(&t.b);
        mc_buf_puts(&b, "</content>\n</entry>\n");
    }
    mc_buf_puts(&b, "</feed>\n");
    int rc = emit_buf(S, "feed.atom", &b, err);
    mc_buf_free(&b);
    return rc;
}
