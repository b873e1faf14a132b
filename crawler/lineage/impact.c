/*
 * impact.c — the impact of a breaking change (lineage.h, docs/lineage.md,
 * "Impact").
 *
 * The graph is built once per catalog: every reading edge of every
 * container's depends_on, indexed by what it reads, and every foreign key
 * of every container's foreign_keys, indexed by the table it points at.
 * The walk is breadth first from the changed object:
 *
 *  1. depth 1: the views whose edge to the object is a whole-object read
 *     (the object itself changed) or names the changed column; a parsed
 *     edge (late-binding view) knows no columns and counts for every one;
 *  2. deeper: every view that reads a view already listed, whatever
 *     columns it reads — PostgreSQL drops it with the view it reads
 *     (DROP ... CASCADE), and a late-binding view over it fails;
 *  3. a view is listed once, at the depth it was first reached; the
 *     changed object itself is never listed: cycles (possible among
 *     late-binding views, which name what does not exist yet) end there;
 *  4. foreign keys: those pointing at the object (at the changed column,
 *     for a column), each once, self-references included.
 */
#include "lineage.h"
#include "json.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct read_edge {
    const char *schema, *name; /* what is read */
    size_t reader;             /* container index */
    json_t *edge;              /* its depends_on entry (borrowed from docs) */
} read_edge;

typedef struct fk_edge {
    const char *schema, *name; /* what it points at */
    size_t owner;              /* container index */
    json_t *fk;
} fk_edge;

struct lin_graph {
    const mc_catalog *cat;
    json_t **docs; /* per container: parsed depends_on / foreign_keys, kept alive */
    size_t n_docs;
    read_edge *reads;
    size_t n_reads;
    fk_edge *fks;
    size_t n_fks;
};

static int cmp_target(const char *as, const char *an, const char *bs, const char *bn)
{
    int c = strcmp(as, bs);
    return c ? c : strcmp(an, bn);
}

static int cmp_read(const void *x, const void *y)
{
    const read_edge *a = x, *b = y;
    int c = cmp_target(a->schema, a->name, b->schema, b->name);
    return c ? c : (a->reader > b->reader) - (a->reader < b->reader);
}

static int cmp_fk(const void *x, const void *y)
{
    const fk_edge *a = x, *b = y;
    int c = cmp_target(a->schema, a->name, b->schema, b->name);
    return c ? c : (a->owner > b->owner) - (a->owner < b->owner);
}

static void keep(lin_graph *g, json_t *doc)
{
    g->docs = mc_realloc(g->docs, (g->n_docs + 1) * sizeof *g->docs);
    g->docs[g->n_docs++] = doc;
}

lin_graph *lin_graph_new(const mc_catalog *cat)
{
    lin_graph *g = mc_calloc(1, sizeof *g);
    g->cat = cat;
    size_t cap_r = 0, cap_f = 0;
    for (size_t i = 0; i < cat->n_containers; i++) {
        const mc_container *k = &cat->containers[i];
        json_t *deps = k->depends_on ? json_loads(k->depends_on, 0, NULL) : NULL;
        if (json_is_array(deps)) {
            keep(g, deps);
            size_t j;
            json_t *d;
            json_array_foreach(deps, j, d) {
                const char *s = json_string_value(json_object_get(d, "schema"));
                const char *n = json_string_value(json_object_get(d, "name"));
                if (!s || !n)
                    continue;
                if (g->n_reads == cap_r)
                    g->reads = mc_realloc(g->reads, (cap_r = cap_r ? 2 * cap_r : 64) *
                                                        sizeof *g->reads);
                g->reads[g->n_reads++] = (read_edge){s, n, i, d};
            }
        } else {
            json_decref(deps);
        }
        json_t *fks = k->foreign_keys ? json_loads(k->foreign_keys, 0, NULL) : NULL;
        if (json_is_array(fks)) {
            keep(g, fks);
            size_t j;
            json_t *f;
            json_array_foreach(fks, j, f) {
                const char *s = json_string_value(json_object_get(f, "ref_schema"));
                const char *n = json_string_value(json_object_get(f, "ref_container"));
                if (!s || !n)
                    continue;
                if (g->n_fks == cap_f)
                    g->fks = mc_realloc(g->fks, (cap_f = cap_f ? 2 * cap_f : 64) *
                                                    sizeof *g->fks);
                g->fks[g->n_fks++] = (fk_edge){s, n, i, f};
            }
        } else {
            json_decref(fks);
        }
    }
    if (g->n_reads > 1)
        qsort(g->reads, g->n_reads, sizeof *g->reads, cmp_read);
    if (g->n_fks > 1)
        qsort(g->fks, g->n_fks, sizeof *g->fks, cmp_fk);
    return g;
}

void lin_graph_free(lin_graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_docs; i++)
        json_decref(g->docs[i]);
    free(g->docs);
    free(g->reads);
    free(g->fks);
    free(g);
}

/* The first read edge of schema.name, and how many there are. */
static size_t reads_of(const lin_graph *g, const char *schema, const char *name, size_t *n)
{
    size_t lo = 0, hi = g->n_reads;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_target(g->reads[mid].schema, g->reads[mid].name, schema, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < g->n_reads &&
           cmp_target(g->reads[end].schema, g->reads[end].name, schema, name) == 0)
        end++;
    *n = end - lo;
    return lo;
}

static size_t fks_of(const lin_graph *g, const char *schema, const char *name, size_t *n)
{
    size_t lo = 0, hi = g->n_fks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_target(g->fks[mid].schema, g->fks[mid].name, schema, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < g->n_fks && cmp_target(g->fks[end].schema, g->fks[end].name, schema, name) == 0)
        end++;
    *n = end - lo;
    return lo;
}

static bool array_has(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

/* Whether a read edge concerns field (NULL: the whole object). */
static bool edge_reads(json_t *edge, const char *field)
{
    if (!field)
        return true;
    json_t *cols = json_object_get(edge, "columns");
    if (!json_is_array(cols))
        return true; /* parsed: columns unknown, so possibly this one */
    return array_has(cols, field);
}

typedef struct hit {
    size_t reader;
    int depth;
    ptrdiff_t via;  /* container index of the view it reads, -1: the object */
    json_t *edge;
} hit;

static void put_view(mc_buf *b, const lin_graph *g, const hit *h, bool comma)
{
    const mc_container *k = &g->cat->containers[h->reader];
    bool first = true;
    mc_buf_puts(b, comma ? ",{" : "{");
    json_put_kv_str(b, &first, "schema", k->schema);
    json_put_kv_str(b, &first, "name", k->name);
    json_put_kv_str(b, &first, "kind", mc_kind_name(k->kind));
    json_put_kv_int(b, &first, "depth", h->depth);
    if (h->via >= 0) {
        const mc_container *v = &g->cat->containers[h->via];
        first = json_put_key(b, first, "via");
        bool f2 = true;
        mc_buf_putc(b, '{');
        json_put_kv_str(b, &f2, "schema", v->schema);
        json_put_kv_str(b, &f2, "name", v->name);
        mc_buf_putc(b, '}');
    } else {
        json_put_kv_raw(b, &first, "via", NULL);
    }
    json_put_kv_str(b, &first, "source",
                    json_string_value(json_object_get(h->edge, "source")));
    json_t *cols = json_object_get(h->edge, "columns");
    if (json_is_array(cols)) {
        char *t = json_dumps(cols, JSON_COMPACT);
        json_put_kv_raw(b, &first, "columns", t);
        free(t);
    }
    mc_buf_putc(b, '}');
}

static void put_fk(mc_buf *b, const lin_graph *g, const fk_edge *f, bool comma)
{
    const mc_container *k = &g->cat->containers[f->owner];
    bool first = true;
    mc_buf_puts(b, comma ? ",{" : "{");
    json_put_kv_str(b, &first, "schema", k->schema);
    json_put_kv_str(b, &first, "container", k->name);
    json_put_kv_str(b, &first, "name", json_string_value(json_object_get(f->fk, "name")));
    char *cols = json_dumps(json_object_get(f->fk, "columns"), JSON_COMPACT | JSON_ENCODE_ANY);
    char *refs = json_dumps(json_object_get(f->fk, "ref_columns"),
                            JSON_COMPACT | JSON_ENCODE_ANY);
    json_put_kv_raw(b, &first, "columns", cols);
    json_put_kv_raw(b, &first, "ref_columns", refs);
    free(cols);
    free(refs);
    mc_buf_putc(b, '}');
}

char *lin_impact(const lin_graph *g, const char *schema, const char *container,
                 const char *field)
{
    if (!g || !schema || !container)
        return NULL;
    const mc_catalog *cat = g->cat;
    bool *seen = mc_calloc(cat->n_containers + 1, sizeof *seen);
    const mc_container *self = mc_catalog_find(cat, schema, container);
    if (self)
        seen[self - cat->containers] = true;
    hit *hits = NULL;
    size_t n_hits = 0;
    /* depth 1 */
    size_t n, first = reads_of(g, schema, container, &n);
    for (size_t i = first; i < first + n; i++) {
        const read_edge *r = &g->reads[i];
        if (seen[r->reader] || !edge_reads(r->edge, field))
            continue;
        seen[r->reader] = true;
        hits = mc_realloc(hits, (n_hits + 1) * sizeof *hits);
        hits[n_hits++] = (hit){r->reader, 1, -1, r->edge};
    }
    /* deeper: the queue is hits itself */
    for (size_t q = 0; q < n_hits; q++) {
        const mc_container *v = &cat->containers[hits[q].reader];
        first = reads_of(g, v->schema, v->name, &n);
        for (size_t i = first; i < first + n; i++) {
            const read_edge *r = &g->reads[i];
            if (seen[r->reader])
                continue;
            seen[r->reader] = true;
            hits = mc_realloc(hits, (n_hits + 1) * sizeof *hits);
            hits[n_hits++] = (hit){r->reader, hits[q].depth + 1, (ptrdiff_t)hits[q].reader,
                                   r->edge};
        }
    }
    /* foreign keys pointing at it */
    size_t nf, ff = fks_of(g, schema, container, &nf);
    size_t n_keys = 0;
    mc_buf keys = {0};
    for (size_t i = ff; i < ff + nf; i++) {
        const fk_edge *f = &g->fks[i];
        if (field && !array_has(json_object_get(f->fk, "ref_columns"), field))
            continue;
        put_fk(&keys, g, f, n_keys++ > 0);
    }
    char *out = NULL;
    if (n_hits || n_keys) {
        mc_buf b = {0};
        mc_buf_puts(&b, "{\"views\":[");
        for (size_t i = 0; i < n_hits; i++)
            put_view(&b, g, &hits[i], i > 0);
        mc_buf_puts(&b, "],\"foreign_keys\":[");
        mc_buf_puts(&b, mc_buf_str(&keys));
        mc_buf_puts(&b, "]}");
        out = mc_buf_steal(&b);
    }
    mc_buf_free(&keys);
    free(hits);
    free(seen);
    return out;
}

bool lin_change_has_impact(const mc_change *ch)
{
    if (!ch->breaking || !ch->container)
        return false;
    switch (ch->kind) {
    case MC_CONTAINER_REMOVED:
    case MC_CONTAINER_RENAMED:
    case MC_FIELD_REMOVED:
    case MC_FIELD_RENAMED:
    case MC_FIELD_CHANGED:
    case MC_CONTAINER_CHANGED:
        return true;
    default:
        return false;
    }
}
