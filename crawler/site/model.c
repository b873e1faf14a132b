/*
 * model.c — the loaded catalog: one datastore's current catalog, runs, change
 * events and field/container lives, read inside the build's read snapshot
 * (ds_load), with the indexes the pages need built afterwards: schemas
 * (recorded or named by a container), file names, parsed foreign keys both
 * ways, container id -> index, and change events by container.
 */
#include "site_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- the loaded catalog ---------------------------------------------------------- */

static int key_idx_cmp(const void *a, const void *b)
{
    const key_idx *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

/* The current container index of a container id, or -1. */
ptrdiff_t cont_of_key(const ds_data *d, int64_t key)
{
    if (!key || !d->cat->n_containers)
        return -1;
    key_idx probe = {key, 0};
    const key_idx *hit = bsearch(&probe, d->by_key, d->cat->n_containers,
                                 sizeof *hit, key_idx_cmp);
    return hit ? (ptrdiff_t)hit->idx : -1;
}

/* qsort has no context argument: the change array being sorted. */
static const mc_hist_changes *sort_changes;

static int ch_by_cont_cmp(const void *a, const void *b)
{
    const mc_hist_change *x = &sort_changes->items[*(const size_t *)a];
    const mc_hist_change *y = &sort_changes->items[*(const size_t *)b];
    if (x->container_id != y->container_id)
        return x->container_id < y->container_id ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int edge_cmp(const void *a, const void *b)
{
    const fk_edge *x = a, *y = b;
    if (x->to != y->to)
        return x->to < y->to ? -1 : 1;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    const char *nx = json_string_value(json_object_get(x->fk, "name"));
    const char *ny = json_string_value(json_object_get(y->fk, "name"));
    return strcmp(nx ? nx : "", ny ? ny : "");
}

static int dep_cmp(const void *a, const void *b)
{
    const dep_edge *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    if (x->to != y->to)
        return x->to < y->to ? -1 : 1;
    return (x->kind > y->kind) - (x->kind < y->kind);
}

/* qsort has no context argument: the dependency array being indexed. */
static const dep_edge *sort_deps;

static int dep_by_to_cmp(const void *a, const void *b)
{
    const dep_edge *x = &sort_deps[*(const size_t *)a], *y = &sort_deps[*(const size_t *)b];
    if (x->to != y->to)
        return x->to < y->to ? -1 : 1;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return (x->kind > y->kind) - (x->kind < y->kind);
}

static void dep_add(ds_data *d, size_t *cap, size_t from, size_t to, dg_edge_kind kind)
{
    if (d->n_deps == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        d->deps = mc_realloc(d->deps, *cap * sizeof *d->deps);
    }
    d->deps[d->n_deps++] = (dep_edge){from, to, kind};
}

/*
 * Every dependency between two containers of the datastore, for the
 * diagrams: one edge per pair and kind (two foreign keys between the same
 * tables are one edge), sorted both ways.
 *
 * Foreign keys are the incoming keys already resolved (d->in).  The views'
 * dependencies (their recorded depends_on: DG_READS when the catalog gives
 * them, DG_READS_PARSED when read from a late-binding view's text) are added
 * here the same way: dep_add(d, &cap, read, view, kind).
 */
static void deps_collect(ds_data *d)
{
    size_t cap = 0;
    for (size_t i = 0; i < d->n_in; i++)
        dep_add(d, &cap, d->in[i].to, d->in[i].from, DG_FK);
    /* what each view reads (docs/lineage.md): containers of this datastore
     * only; a read of something not recorded here has no box to draw */
    const mc_catalog *cat = d->cat;
    for (size_t i = 0; i < cat->n_containers; i++) {
        const char *text = cat->containers[i].depends_on;
        json_t *deps = text ? json_loads(text, 0, NULL) : NULL;
        size_t j;
        json_t *e;
        json_array_foreach(deps, j, e) {
            const char *schema = json_string_value(json_object_get(e, "schema"));
            const char *name = json_string_value(json_object_get(e, "name"));
            const char *source = json_string_value(json_object_get(e, "source"));
            const mc_container *t = schema && name ? mc_catalog_find(cat, schema, name) : NULL;
            if (!t || t == &cat->containers[i])
                continue;
            dep_add(d, &cap, (size_t)(t - cat->containers), i,
                    source && strcmp(source, "parsed") == 0 ? DG_READS_PARSED : DG_READS);
        }
        json_decref(deps);
    }
    if (!d->n_deps)
        return;
    qsort(d->deps, d->n_deps, sizeof *d->deps, dep_cmp);
    size_t k = 0;
    for (size_t i = 0; i < d->n_deps; i++)
        if (!k || dep_cmp(&d->deps[k - 1], &d->deps[i]) != 0)
            d->deps[k++] = d->deps[i];
    d->n_deps = k;
    d->deps_by_to = mc_calloc(k, sizeof *d->deps_by_to);
    for (size_t i = 0; i < k; i++)
        d->deps_by_to[i] = i;
    sort_deps = d->deps;
    qsort(d->deps_by_to, k, sizeof *d->deps_by_to, dep_by_to_cmp);
    sort_deps = NULL;
}

void ds_free(ds_data *d)
{
    if (!d->cat)
        return;
    for (size_t i = 0; d->cont_file && i < d->cat->n_containers; i++) {
        free(d->cont_file[i]);
        json_decref(d->fks[i]);
    }
    for (size_t i = 0; i < d->n_schemas; i++)
        free(d->schemas[i].file);
    free(d->schemas);
    free(d->cont_file);
    free(d->cont_schema);
    free(d->fks);
    free(d->in);
    free(d->deps);
    free(d->deps_by_to);
    free(d->by_key);
    free(d->ch_by_cont);
    free(d->file);
    if (d->fc) {
        mc_catalog_free(d->fc->cat);
        free(d->fc->of);
        free(d->fc->which);
        free(d->fc);
        d->fc = NULL;
    }
    mc_hist_changes_free(&d->ch);
    mc_hist_fields_free(&d->hf);
    mc_hist_containers_free(&d->hc);
    mc_run_list_free(&d->runs);
    mc_catalog_free(d->cat);
    d->cat = NULL;
}

int ds_load(store *s, ds_data *d, mc_error *err)
{
    d->s = s;
    if (store_load_skeleton(s, d->name, 0, STORE_SKELETON_COUNTS, &d->cat, err) < 0 ||
        store_list_runs(s, d->name, 0, &d->runs, err) < 0 ||
        store_hist_changes(s, d->name, &d->ch, err) < 0 ||
        store_hist_containers(s, d->name, &d->hc, err) < 0 ||
        store_datastore_state(s, d->name, &d->state, err) < 0)
        return -1;
    d->file = file_name(d->name);
    for (size_t i = 0; i < d->runs.n && !d->last_done; i++)
        if (d->runs.runs[i].status == MC_RUN_OK || d->runs.runs[i].status == MC_RUN_PARTIAL)
            d->last_done = &d->runs.runs[i];

    mc_catalog *cat = d->cat;
    size_t nc = cat->n_containers;
    d->fc = mc_calloc(1, sizeof *d->fc);
    d->fc->of = mc_calloc(nc + 1, sizeof *d->fc->of);
    d->cont_schema = mc_calloc(nc + 1, sizeof *d->cont_schema);
    d->cont_file = mc_calloc(nc + 1, sizeof *d->cont_file);
    d->fks = mc_calloc(nc + 1, sizeof *d->fks);
    d->by_key = mc_calloc(nc + 1, sizeof *d->by_key);

    /* Schemas: the recorded ones and any a container names (merge of two
     * sorted lists). */
    d->schemas = mc_calloc(cat->n_schemas + nc + 1, sizeof *d->schemas);
    size_t si = 0, ci = 0;
    while (si < cat->n_schemas || ci < nc) {
        const char *next;
        if (si < cat->n_schemas && ci < nc)
            next = strcmp(cat->schemas[si].name, cat->containers[ci].schema) <= 0
                       ? cat->schemas[si].name : cat->containers[ci].schema;
        else
            next = si < cat->n_schemas ? cat->schemas[si].name : cat->containers[ci].schema;
        schema_ref *r = &d->schemas[d->n_schemas];
        r->name = next;
        r->file = file_name(next);
        if (si < cat->n_schemas && strcmp(cat->schemas[si].name, next) == 0)
            r->meta = &cat->schemas[si++];
        r->first = ci;
        while (ci < nc && strcmp(cat->containers[ci].schema, next) == 0) {
            d->cont_schema[ci] = d->n_schemas;
            r->n_fields += cat->containers[ci].n_fields;
            ci++;
        }
        r->n = ci - r->first;
        d->n_fields += r->n_fields;
        d->n_schemas++;
    }

    for (size_t i = 0; i < nc; i++) {
        const mc_container *k = &cat->containers[i];
        d->cont_file[i] = file_name(k->name);
        d->by_key[i].key = k->store_key;
        d->by_key[i].idx = i;
        if (k->foreign_keys) {
            d->fks[i] = json_loads(k->foreign_keys, 0, NULL);
            if (d->fks[i] && !json_is_array(d->fks[i])) {
                json_decref(d->fks[i]);
                d->fks[i] = NULL;
            }
        }
    }
    if (nc)
        qsort(d->by_key, nc, sizeof *d->by_key, key_idx_cmp);

    /* Incoming foreign keys: every outgoing one whose target is recorded. */
    size_t cap = 0;
    for (size_t i = 0; i < nc; i++) {
        size_t k;
        json_t *fk;
        json_array_foreach(d->fks[i], k, fk) {
            const char *rs = json_string_value(json_object_get(fk, "ref_schema"));
            const char *rc = json_string_value(json_object_get(fk, "ref_container"));
            const mc_container *t = rs && rc ? mc_catalog_find(cat, rs, rc) : NULL;
            if (!t)
                continue;
            if (d->n_in == cap) {
                cap = cap ? cap * 2 : 64;
                d->in = mc_realloc(d->in, cap * sizeof *d->in);
            }
            d->in[d->n_in++] = (fk_edge){i, (size_t)(t - cat->containers), fk};
        }
    }
    if (d->n_in)
        qsort(d->in, d->n_in, sizeof *d->in, edge_cmp);
    deps_collect(d);

    d->ch_by_cont = mc_calloc(d->ch.n + 1, sizeof *d->ch_by_cont);
    for (size_t i = 0; i < d->ch.n; i++)
        if (d->ch.items[i].container_id)
            d->ch_by_cont[d->n_ch_by_cont++] = i;
    sort_changes = &d->ch;
    if (d->n_ch_by_cont)
        qsort(d->ch_by_cont, d->n_ch_by_cont, sizeof *d->ch_by_cont, ch_by_cont_cmp);
    sort_changes = NULL;
    return 0;
}

/* ---- fields on demand ------------------------------------------------------------ */

const mc_field *ds_fields(const ds_data *d, size_t ci, size_t *n)
{
    ds_field_cache *fc = d->fc;
    *n = 0;
    if (fc->failed || ci >= d->cat->n_containers)
        return NULL;
    if (!fc->of[ci]) {
        if (!fc->cat)
            fc->cat = mc_catalog_new();
        size_t at = fc->cat->n_containers;
        mc_container *k = mc_catalog_add_container(fc->cat);
        *k = d->cat->containers[ci];
        k->first_field = 0;
        k->n_fields = 0;
        k->fields_loaded = false;
        if (store_load_fields_at(d->s, fc->cat, 0, &at, 1, &fc->err) < 0) {
            fc->failed = true;
            return NULL;
        }
        fc->which = mc_realloc(fc->which, (at + 1) * sizeof *fc->which);
        fc->which[at] = ci;
        fc->of[ci] = at + 1;
    }
    const mc_container *k = &fc->cat->containers[fc->of[ci] - 1];
    *n = k->n_fields;
    return fc->cat->fields ? fc->cat->fields + k->first_field : NULL;
}

void ds_fields_release(const ds_data *d)
{
    ds_field_cache *fc = d->fc;
    if (!fc->cat)
        return;
    for (size_t i = 0; i < fc->cat->n_containers; i++)
        fc->of[fc->which[i]] = 0;
    mc_catalog_free(fc->cat);
    fc->cat = NULL;
}

int ds_fields_check(const ds_data *d, mc_error *err)
{
    if (!d->fc || !d->fc->failed)
        return 0;
    *err = d->fc->err;
    return -1;
}

const mc_facts *ds_facts(const ds_data *d, size_t ci)
{
    ds_field_cache *fc = d->fc;
    size_t n;
    ds_fields(d, ci, &n);
    if (fc->failed)
        return NULL;
    mc_catalog *one = mc_catalog_new();
    *mc_catalog_add_container(one) = d->cat->containers[ci];
    const mc_facts *got = NULL;
    if (store_load_facts(d->s, one, &fc->err) < 0) {
        fc->failed = true;
    } else if (one->containers[0].facts) {
        mc_facts *f = mc_arena_alloc(fc->cat->arena, sizeof *f);
        *f = *one->containers[0].facts;
        got = f;
    }
    mc_catalog_free(one);
    return got;
}
