/*
 * diff.c — the change detector (diff.h, docs/changes.md).
 *
 * Invariants:
 *  1. Pairing: containers pair by database oid first, then by (schema,
 *     name) among those left; fields pair by attnum first (only within a
 *     container that kept its oid), then by name.
 *     So ALTER ... RENAME is a rename, and DROP + CREATE under the same
 *     name is the same object (changed at most), never removed + added.
 *  2. A container pair with equal hashes produces nothing and is never
 *     compared field by field: that is what makes a no-change re-crawl of
 *     10,000 tables cheap (prev's fields are not even loaded).
 *  3. Removals (schema, container, field) are emitted for every schema
 *     that was read (a schema without USAGE does not stop the others), as
 *     long as they stay under the fail-safe threshold; otherwise they are
 *     counted as held back, and containers with a held-back field removal
 *     are listed so the store clears their hash (the next crawl looks
 *     again).  Containers in schemas that could not be read are neither
 *     compared nor removed: they keep what was last seen.
 *  4. The change list is sorted by (schema, container, field, kind), the
 *     order people read it in.
 *  5. Every breaking change of a container or field carries its impact,
 *     computed from prev — the catalog as it was before the change: the
 *     views that read the object then are the ones that broke
 *     (docs/lineage.md).  A dependency that appears or disappears is
 *     container_changed depends_on, never breaking by itself.
 */
#include "diff.h"
#include "json.h"
#include "lineage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct differ {
    mc_catalog *prev;
    const mc_catalog *cur;
    diff_result *out;
    bool hold_removals;
    const cfg_datastore *scope;
    bool baseline;
    bool by_name_only;        /* diff_opts.by_name_only */
    bool *cur_by_similarity;  /* per cur container: paired by its shape */
} differ;

static bool schema_in_scope(const differ *d, const char *schema)
{
    return !d->scope || cfg_globs_match(&d->scope->schemas, schema);
}

static bool container_in_scope(const differ *d, const mc_container *k)
{
    return !d->scope || (cfg_globs_match(&d->scope->schemas, k->schema) &&
                         cfg_globs_match(&d->scope->containers, k->name));
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static const char *arena_json_str(differ *d, const char *s)
{
    if (!s)
        return NULL;
    mc_buf b = {0};
    json_put_str(&b, s);
    const char *r = mc_arena_strdup(d->out->changes.arena, mc_buf_str(&b));
    mc_buf_free(&b);
    return r;
}

static const char *arena_buf(differ *d, mc_buf *b)
{
    const char *r = mc_arena_strdup(d->out->changes.arena, mc_buf_str(b));
    mc_buf_free(b);
    return r;
}

static mc_change *emit(differ *d, mc_change_kind kind, const char *schema,
                       const char *container, const char *field)
{
    mc_change *c = mc_changes_add(&d->out->changes);
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->schema = schema;
    c->container = container;
    c->field = field;
    c->prev_index = c->cur_index = c->cur_container = c->prev_container = -1;
    return c;
}

/* ---- JSON of whole objects (added / removed) ----------------------------- */

static const char *schema_json(differ *d, const mc_schema *s)
{
    mc_buf b = {0};
    bool first = true;
    mc_buf_putc(&b, '{');
    json_put_kv_str(&b, &first, "name", s->name);
    json_put_kv_str(&b, &first, "owner", s->owner);
    json_put_kv_str(&b, &first, "comment", s->comment);
    mc_buf_putc(&b, '}');
    return arena_buf(d, &b);
}

static void field_json_into(mc_buf *b, const mc_field *f)
{
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &first, "name", f->name);
    json_put_kv_str(b, &first, "type", f->type);
    json_put_kv_bool(b, &first, "nullable", !f->not_null);
    json_put_kv_str(b, &first, "default", f->default_expr);
    json_put_kv_str(b, &first, "comment", f->comment);
    json_put_kv_int(b, &first, "position", f->position);
    if (f->encoding)
        json_put_kv_str(b, &first, "encoding", f->encoding);
    if (f->identity)
        json_put_kv_str(b, &first, "identity", f->identity);
    if (f->generated)
        json_put_kv_str(b, &first, "generated", f->generated);
    mc_buf_putc(b, '}');
}

static const char *field_json(differ *d, const mc_field *f)
{
    mc_buf b = {0};
    field_json_into(&b, f);
    return arena_buf(d, &b);
}

/* fields is NULL when they are not loaded (a removed container's fields
 * are not read back from the store just to describe it). */
static const char *container_json(differ *d, const mc_container *k,
                                  const mc_field *fields)
{
    mc_buf b = {0};
    bool first = true;
    mc_buf_putc(&b, '{');
    json_put_kv_str(&b, &first, "kind", mc_kind_name(k->kind));
    json_put_kv_str(&b, &first, "owner", k->owner);
    json_put_kv_str(&b, &first, "comment", k->comment);
    json_put_kv_raw(&b, &first, "primary_key", k->primary_key);
    if (k->extension)
        json_put_kv_str(&b, &first, "extension", k->extension);
    if (fields) {
        first = json_put_key(&b, first, "fields");
        mc_buf_putc(&b, '[');
        for (size_t i = 0; i < k->n_fields; i++) {
            if (i)
                mc_buf_putc(&b, ',');
            field_json_into(&b, &fields[k->first_field + i]);
        }
        mc_buf_putc(&b, ']');
    }
    mc_buf_putc(&b, '}');
    return arena_buf(d, &b);
}

static const char *container_name_json(differ *d, const mc_container *k)
{
    mc_buf b = {0};
    bool first = true;
    mc_buf_putc(&b, '{');
    json_put_kv_str(&b, &first, "schema", k->schema);
    json_put_kv_str(&b, &first, "name", k->name);
    mc_buf_putc(&b, '}');
    return arena_buf(d, &b);
}

/* ---- schemas --------------------------------------------------------------- */

static void diff_schemas(differ *d)
{
    const mc_catalog *p = d->prev, *c = d->cur;
    size_t i = 0, j = 0;
    while (i < p->n_schemas || j < c->n_schemas) {
        int cmp = i >= p->n_schemas   ? 1
                  : j >= c->n_schemas ? -1
                                      : strcmp(p->schemas[i].name, c->schemas[j].name);
        if (cmp < 0) {
            if (!schema_in_scope(d, p->schemas[i].name)) {
                /* out of scope now: left as recorded */
            } else if (d->hold_removals) {
                d->out->n_held_back++;
            } else {
                mc_change *ch = emit(d, MC_SCHEMA_REMOVED, p->schemas[i].name, NULL, NULL);
                ch->before = schema_json(d, &p->schemas[i]);
                ch->breaking = true;
                ch->prev_index = (ptrdiff_t)i;
            }
            i++;
        } else if (cmp > 0) {
            mc_change *ch = emit(d, MC_SCHEMA_ADDED, c->schemas[j].name, NULL, NULL);
            ch->after = d->baseline ? NULL : schema_json(d, &c->schemas[j]);
            ch->cur_index = (ptrdiff_t)j;
            j++;
        } else {
            const mc_schema *a = &p->schemas[i], *b = &c->schemas[j];
            static const char *const attrs[] = {"owner", "comment"};
            const char *before[] = {a->owner, a->comment};
            const char *after[] = {b->owner, b->comment};
            for (int k = 0; k < 2; k++) {
                if (str_eq(before[k], after[k]))
                    continue;
                mc_change *ch = emit(d, MC_SCHEMA_CHANGED, b->name, NULL, NULL);
                ch->attribute = attrs[k];
                ch->before = arena_json_str(d, before[k]);
                ch->after = arena_json_str(d, after[k]);
                ch->prev_index = (ptrdiff_t)i;
                ch->cur_index = (ptrdiff_t)j;
            }
            i++;
            j++;
        }
    }
}

/* ---- containers ------------------------------------------------------------ */

struct oid_idx {
    int64_t oid;
    size_t idx;
};

static int cmp_oid(const void *a, const void *b)
{
    int64_t x = ((const struct oid_idx *)a)->oid, y = ((const struct oid_idx *)b)->oid;
    return (x > y) - (x < y);
}

/* What a container looks like without its name: kind, then each field's
 * name and type in order.  0 = no shape to go by (no fields, or fields not
 * loaded). */
static uint64_t container_shape(const mc_catalog *c, const mc_container *k)
{
    if (k->n_fields == 0 || k->first_field + k->n_fields > c->n_fields)
        return 0;
    uint64_t h = mc_hash_str(MC_HASH_INIT, mc_kind_name(k->kind));
    for (size_t i = 0; i < k->n_fields; i++) {
        const mc_field *f = &c->fields[k->first_field + i];
        h = mc_hash_str(mc_hash_str(h, f->name), f->type);
    }
    return h ? h : 1;
}

/* A container left over on one side: its shape, schema and index. */
struct shape_idx {
    uint64_t shape;
    const char *schema;
    size_t idx;
};

static int cmp_shape(const void *x, const void *y)
{
    const struct shape_idx *a = x, *b = y;
    if (a->shape != b->shape)
        return a->shape < b->shape ? -1 : 1;
    int c = strcmp(a->schema, b->schema);
    if (c)
        return c;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* The unpaired containers of one side with a shape, sorted by (shape,
 * schema). */
static struct shape_idx *shapes_of(const mc_catalog *cat, const ptrdiff_t *pair, size_t *n_out)
{
    struct shape_idx *v = mc_malloc((cat->n_containers + 1) * sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < cat->n_containers; i++) {
        if (pair[i] >= 0)
            continue;
        uint64_t sh = container_shape(cat, &cat->containers[i]);
        if (sh)
            v[n++] = (struct shape_idx){sh, cat->containers[i].schema, i};
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_shape);
    *n_out = n;
    return v;
}

/* How many entries from i on share v[i]'s shape and schema. */
static size_t run_len(const struct shape_idx *v, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && v[j].shape == v[i].shape && strcmp(v[j].schema, v[i].schema) == 0)
        j++;
    return j - i;
}

/* Two datastores (diff_opts.by_name_only): a container left over on each
 * side, in the same schema and of exactly the same shape, is one container
 * renamed -- when the match is unique both ways.  Anything less certain
 * stays removed + added: a wrong rename would hide a breaking removal.
 * Both sides sorted once and merged: no pair of containers is compared
 * twice, whatever the size of the two catalogs. */
static void pair_by_shape(differ *d, ptrdiff_t *prev_to_cur)
{
    size_t np, nc;
    struct shape_idx *ps = shapes_of(d->prev, prev_to_cur, &np);
    struct shape_idx *cs = shapes_of(d->cur, d->out->cur_to_prev, &nc);
    size_t i = 0, j = 0;
    while (i < np && j < nc) {
        int c = ps[i].shape != cs[j].shape ? (ps[i].shape < cs[j].shape ? -1 : 1)
                                           : strcmp(ps[i].schema, cs[j].schema);
        size_t li = run_len(ps, np, i), lj = run_len(cs, nc, j);
        if (c == 0 && li == 1 && lj == 1) {
            d->out->cur_to_prev[cs[j].idx] = (ptrdiff_t)ps[i].idx;
            prev_to_cur[ps[i].idx] = (ptrdiff_t)cs[j].idx;
            d->cur_by_similarity[cs[j].idx] = true;
        }
        if (c <= 0)
            i += li;
        if (c >= 0)
            j += lj;
    }
    free(ps);
    free(cs);
}

/* Fills cur_to_prev (and prev_to_cur) by oid, then by name, then (two
 * datastores only) by shape. */
static void pair_containers(differ *d, ptrdiff_t *prev_to_cur)
{
    const mc_catalog *p = d->prev, *c = d->cur;
    ptrdiff_t *cur_to_prev = d->out->cur_to_prev;
    struct oid_idx *idx = mc_malloc((p->n_containers + 1) * sizeof *idx);
    size_t n = 0;
    for (size_t i = 0; i < p->n_containers; i++)
        if (p->containers[i].oid != 0)
            idx[n++] = (struct oid_idx){p->containers[i].oid, i};
    if (n > 1)
        qsort(idx, n, sizeof *idx, cmp_oid);
    for (size_t j = 0; j < c->n_containers && !d->by_name_only; j++) {
        if (c->containers[j].oid == 0)
            continue;
        struct oid_idx key = {c->containers[j].oid, 0};
        struct oid_idx *hit = n ? bsearch(&key, idx, n, sizeof *idx, cmp_oid) : NULL;
        if (hit && prev_to_cur[hit->idx] < 0) {
            cur_to_prev[j] = (ptrdiff_t)hit->idx;
            prev_to_cur[hit->idx] = (ptrdiff_t)j;
        }
    }
    free(idx);
    for (size_t j = 0; j < c->n_containers; j++) {
        if (cur_to_prev[j] >= 0)
            continue;
        const mc_container *hit = mc_catalog_find(p, c->containers[j].schema,
                                                  c->containers[j].name);
        if (!hit)
            continue;
        size_t pi = (size_t)(hit - p->containers);
        if (prev_to_cur[pi] < 0) {
            cur_to_prev[j] = (ptrdiff_t)pi;
            prev_to_cur[pi] = (ptrdiff_t)j;
        }
    }
    if (d->by_name_only)
        pair_by_shape(d, prev_to_cur);
}

static void container_attr(differ *d, size_t pi, size_t ci, const char *attr,
                           const char *before, const char *after, bool json,
                           bool breaking)
{
    if (str_eq(before, after))
        return;
    const mc_container *k = &d->cur->containers[ci];
    mc_change *ch = emit(d, MC_CONTAINER_CHANGED, k->schema, k->name, NULL);
    ch->attribute = attr;
    ch->before = json ? mc_arena_strdup(d->out->changes.arena, before)
                      : arena_json_str(d, before);
    ch->after = json ? mc_arena_strdup(d->out->changes.arena, after)
                     : arena_json_str(d, after);
    ch->breaking = breaking;
    ch->prev_index = (ptrdiff_t)pi;
    ch->cur_index = (ptrdiff_t)ci;
}

static mc_change *field_change(differ *d, mc_change_kind kind, size_t pi,
                               size_t ci, ptrdiff_t pf, ptrdiff_t cf)
{
    const mc_container *k = &d->cur->containers[ci];
    const mc_field *f = cf >= 0 ? &d->cur->fields[cf] : &d->prev->fields[pf];
    mc_change *ch = emit(d, kind, k->schema, k->name, f->name);
    ch->prev_container = (ptrdiff_t)pi;
    ch->cur_container = (ptrdiff_t)ci;
    ch->prev_index = pf;
    ch->cur_index = cf;
    return ch;
}

static void field_attr(differ *d, size_t pi, size_t ci, size_t pf, size_t cf,
                       const char *attr, const char *before, const char *after,
                       bool breaking)
{
    mc_change *ch = field_change(d, MC_FIELD_CHANGED, pi, ci, (ptrdiff_t)pf,
                                 (ptrdiff_t)cf);
    ch->attribute = attr;
    ch->before = before;
    ch->after = after;
    ch->breaking = breaking;
}

static void diff_fields(differ *d, size_t pi, size_t ci)
{
    const mc_container *pk = &d->prev->containers[pi], *ck = &d->cur->containers[ci];
    const mc_field *pf = &d->prev->fields[pk->first_field];
    const mc_field *cf = &d->cur->fields[ck->first_field];
    size_t np = pk->n_fields, nc = ck->n_fields;
    ptrdiff_t *pair = mc_malloc((nc + 1) * sizeof *pair);  /* cur -> prev */
    bool *taken = mc_calloc(np + 1, sizeof *taken);
    /* Column numbers identify columns only within one database object: a
     * view dropped and created again numbers its columns afresh. */
    bool same_object = !d->by_name_only && pk->oid != 0 && pk->oid == ck->oid;
    for (size_t j = 0; j < nc; j++) {
        pair[j] = -1;
        if (cf[j].attnum == 0 || !same_object)
            continue;
        for (size_t i = 0; i < np; i++)
            if (!taken[i] && pf[i].attnum == cf[j].attnum) {
                pair[j] = (ptrdiff_t)i;
                taken[i] = true;
                break;
            }
    }
    for (size_t j = 0; j < nc; j++) {
        if (pair[j] >= 0)
            continue;
        for (size_t i = 0; i < np; i++)
            if (!taken[i] && strcmp(pf[i].name, cf[j].name) == 0) {
                pair[j] = (ptrdiff_t)i;
                taken[i] = true;
                break;
            }
    }
    /* Two datastores: one field left over on each side, of the same type
     * at the same position, is one field renamed. */
    ptrdiff_t by_shape = -1;
    if (d->by_name_only) {
        ptrdiff_t lone_cur = -1, lone_prev = -1;
        size_t n_cur = 0, n_prev = 0;
        for (size_t j = 0; j < nc; j++)
            if (pair[j] < 0) {
                lone_cur = (ptrdiff_t)j;
                n_cur++;
            }
        for (size_t i = 0; i < np; i++)
            if (!taken[i]) {
                lone_prev = (ptrdiff_t)i;
                n_prev++;
            }
        if (n_cur == 1 && n_prev == 1 && str_eq(pf[lone_prev].type, cf[lone_cur].type) &&
            pf[lone_prev].position == cf[lone_cur].position) {
            pair[lone_cur] = lone_prev;
            taken[lone_prev] = true;
            by_shape = lone_cur;
        }
    }
    /* A position change is a change of order among the fields that exist
     * on both sides: dropping or adding a column does not move the others. */
    int32_t *prev_rank = mc_calloc(np + 1, sizeof *prev_rank);
    int32_t r = 0;
    for (size_t i = 0; i < np; i++)
        if (taken[i])
            prev_rank[i] = ++r;
    r = 0;
    for (size_t j = 0; j < nc; j++) {
        size_t fj = ck->first_field + j;
        if (pair[j] < 0) {
            mc_change *ch = field_change(d, MC_FIELD_ADDED, pi, ci, -1, (ptrdiff_t)fj);
            ch->after = field_json(d, &cf[j]);
            continue;
        }
        size_t i = (size_t)pair[j];
        size_t fi = pk->first_field + i;
        const mc_field *a = &pf[i], *b = &cf[j];
        ++r;
        if (strcmp(a->name, b->name) != 0) {
            mc_change *ch = field_change(d, MC_FIELD_RENAMED, pi, ci, (ptrdiff_t)fi,
                                         (ptrdiff_t)fj);
            ch->before = arena_json_str(d, a->name);
            ch->after = arena_json_str(d, b->name);
            ch->breaking = true;
            ch->by_similarity = (ptrdiff_t)j == by_shape;
        }
        if (!str_eq(a->type, b->type))
            field_attr(d, pi, ci, fi, fj, "type", arena_json_str(d, a->type),
                       arena_json_str(d, b->type), true);
        if (a->not_null != b->not_null)
            field_attr(d, pi, ci, fi, fj, "nullable", a->not_null ? "false" : "true",
                       b->not_null ? "false" : "true", b->not_null);
        if (!str_eq(a->default_expr, b->default_expr))
            field_attr(d, pi, ci, fi, fj, "default", arena_json_str(d, a->default_expr),
                       arena_json_str(d, b->default_expr), false);
        if (!str_eq(a->comment, b->comment))
            field_attr(d, pi, ci, fi, fj, "comment", arena_json_str(d, a->comment),
                       arena_json_str(d, b->comment), false);
        if (!str_eq(a->encoding, b->encoding))
            field_attr(d, pi, ci, fi, fj, "encoding", arena_json_str(d, a->encoding),
                       arena_json_str(d, b->encoding), false);
        if (!str_eq(a->identity, b->identity))
            field_attr(d, pi, ci, fi, fj, "identity", arena_json_str(d, a->identity),
                       arena_json_str(d, b->identity), false);
        if (!str_eq(a->generated, b->generated))
            field_attr(d, pi, ci, fi, fj, "generated", arena_json_str(d, a->generated),
                       arena_json_str(d, b->generated), false);
        if (a->position != b->position) {
            char before[16], after[16];
            snprintf(before, sizeof before, "%d", a->position);
            snprintf(after, sizeof after, "%d", b->position);
            field_attr(d, pi, ci, fi, fj, "position",
                       mc_arena_strdup(d->out->changes.arena, before),
                       mc_arena_strdup(d->out->changes.arena, after), false);
            /* Same order among the columns on both sides: the number moved
             * only because a column before it came or went.  The store
             * still records the new number (positions stay 1..n), but
             * nobody is told about it. */
            if (prev_rank[i] == r)
                d->out->changes.items[d->out->changes.n - 1].silent = true;
        }
    }
    bool held = false;
    for (size_t i = 0; i < np; i++) {
        if (taken[i])
            continue;
        if (d->hold_removals) {
            d->out->n_held_back++;
            held = true;
            continue;
        }
        size_t fi = pk->first_field + i;
        mc_change *ch = field_change(d, MC_FIELD_REMOVED, pi, ci, (ptrdiff_t)fi, -1);
        ch->field = pf[i].name;
        ch->before = field_json(d, &pf[i]);
        ch->breaking = true;
    }
    if (held) {
        diff_result *o = d->out;
        o->hold_back = mc_realloc(o->hold_back, (o->n_hold_back + 1) * sizeof *o->hold_back);
        o->hold_back[o->n_hold_back++] = pi;
    }
    free(prev_rank);
    free(pair);
    free(taken);
}

static void diff_pair_compare(differ *d, size_t pi, size_t ci);

/* A container recorded before the current reading rules (store schema 3):
 * what it now shows only because those rules read more (identity,
 * generated columns, extension members, NOT NULL of a domain) is recorded
 * as a new version without an event, once.  A generated column was read
 * as a default before; it is the same column. */
static bool rules_only(const mc_change *ch, const differ *d)
{
    const char *a = ch->attribute;
    if (!a)
        return false;
    if (strcmp(a, "identity") == 0 || strcmp(a, "generated") == 0 ||
        strcmp(a, "extension") == 0 || strcmp(a, "nullable") == 0)
        return true;
    if (strcmp(a, "default") == 0 && ch->cur_index >= 0) {
        const mc_field *f = &d->cur->fields[ch->cur_index];
        return f->generated && !f->default_expr;
    }
    return false;
}

/* The next significant character of SQL text at *pp, with comments and
 * runs of white space read as one space ' ' (and none at either end);
 * quoted strings and identifiers are copied as they are.  Returns '\0' at
 * the end.  *in_quote carries the quote character across calls. */
static char sql_next(const char **pp, char *in_quote)
{
    const char *p = *pp;
    if (*in_quote) {
        char c = *p;
        if (!c)
            return '\0';
        if (c == *in_quote) {
            if (p[1] == c) { /* doubled quote: still inside */
                *pp = p + 2;
                return c;
            }
            *in_quote = 0;
        }
        *pp = p + 1;
        return c;
    }
    const char *after = mc_sql_skip_blank(p);
    bool blank = after != p;
    p = after;
    if (blank) {
        *pp = p;
        return *p ? ' ' : '\0';
    }
    if (!*p)
        return '\0';
    if (*p == '\'' || *p == '"')
        *in_quote = *p;
    *pp = p + 1;
    return *p;
}

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* The SQL text with comments gone and white space kept only where it
 * separates two words (outside quotes). */
static char *sql_normal(const char *text)
{
    mc_buf b = {0};
    char quote = 0, last = 0;
    bool blank = false;
    const char *p = text;
    for (;;) {
        bool was_quoted = quote != 0;
        char c = sql_next(&p, &quote);
        if (c == '\0')
            break;
        if (c == ' ' && !was_quoted) {
            blank = true;
            continue;
        }
        if (blank && word_char(last) && word_char(c))
            mc_buf_putc(&b, ' ');
        blank = false;
        mc_buf_putc(&b, c);
        last = c;
    }
    return mc_buf_steal(&b);
}

bool diff_sql_text_equal(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    if (strcmp(a, b) == 0)
        return true;
    char *x = sql_normal(a), *y = sql_normal(b);
    bool eq = strcmp(x ? x : "", y ? y : "") == 0;
    free(x);
    free(y);
    return eq;
}

static void diff_pair(differ *d, size_t pi, size_t ci)
{
    size_t first_change = d->out->changes.n;
    diff_pair_compare(d, pi, ci);
    /* recorded before dependencies were read: what they add is no event */
    if (d->prev->containers[pi].depends_unread)
        for (size_t i = first_change; i < d->out->changes.n; i++) {
            mc_change *ch = &d->out->changes.items[i];
            if (ch->kind == MC_CONTAINER_CHANGED && strcmp(ch->attribute, "depends_on") == 0)
                ch->silent = true;
        }
    if (!d->prev->containers[pi].legacy)
        return;
    for (size_t i = first_change; i < d->out->changes.n; i++) {
        mc_change *ch = &d->out->changes.items[i];
        if ((ch->kind == MC_CONTAINER_CHANGED || ch->kind == MC_FIELD_CHANGED) &&
            rules_only(ch, d))
            ch->silent = true;
    }
}

static void diff_pair_compare(differ *d, size_t pi, size_t ci)
{
    const mc_container *a = &d->prev->containers[pi], *b = &d->cur->containers[ci];
    if (strcmp(a->schema, b->schema) != 0 || strcmp(a->name, b->name) != 0) {
        mc_change *ch = emit(d, MC_CONTAINER_RENAMED, b->schema, b->name, NULL);
        ch->before = container_name_json(d, a);
        ch->after = container_name_json(d, b);
        ch->breaking = true;
        ch->by_similarity = d->cur_by_similarity[ci];
        ch->prev_index = (ptrdiff_t)pi;
        ch->cur_index = (ptrdiff_t)ci;
    }
    if (a->kind != b->kind)
        container_attr(d, pi, ci, "kind", mc_kind_name(a->kind), mc_kind_name(b->kind),
                       false, false);
    container_attr(d, pi, ci, "owner", a->owner, b->owner, false, false);
    container_attr(d, pi, ci, "comment", a->comment, b->comment, false, false);
    /* Definitions are kept as the server returns them but compared as SQL:
     * a new comment (dbt writes its version into every view it builds) or
     * new indentation is not a change. */
    if (!diff_sql_text_equal(a->definition, b->definition))
        container_attr(d, pi, ci, "definition", a->definition, b->definition, false, false);
    container_attr(d, pi, ci, "primary_key", a->primary_key, b->primary_key, true, true);
    container_attr(d, pi, ci, "foreign_keys", a->foreign_keys, b->foreign_keys, true, false);
    container_attr(d, pi, ci, "dist_style", a->dist_style, b->dist_style, false, false);
    container_attr(d, pi, ci, "sort_key", a->sort_key, b->sort_key, true, false);
    container_attr(d, pi, ci, "extension", a->extension, b->extension, false, false);
    container_attr(d, pi, ci, "depends_on", a->depends_on, b->depends_on, true, false);
    diff_fields(d, pi, ci);
}

/* ---- ordering ------------------------------------------------------------- */

static int cmp_opt(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* The column's position, for listing a table's changes in column order:
 * as it is now, or as it was for a removed column; 0 when unknown. */
typedef struct sort_ctx {
    const mc_catalog *prev, *cur;
} sort_ctx;

static int32_t field_position(const sort_ctx *x, const mc_change *ch)
{
    if (!ch->field)
        return 0;
    if (ch->cur_index >= 0 && (size_t)ch->cur_index < x->cur->n_fields)
        return x->cur->fields[ch->cur_index].position;
    if (ch->prev_index >= 0 && (size_t)ch->prev_index < x->prev->n_fields)
        return x->prev->fields[ch->prev_index].position;
    return 0;
}

static int cmp_change(const void *x, const void *y, void *arg)
{
    const mc_change *a = x, *b = y;
    int c;
    if ((c = strcmp(a->schema, b->schema)) != 0)
        return c;
    if ((c = cmp_opt(a->container, b->container)) != 0)
        return c;
    if (!a->field != !b->field)
        return a->field ? 1 : -1; /* the table's own changes first */
    int32_t pa = field_position(arg, a), pb = field_position(arg, b);
    if (pa != pb)
        return pa < pb ? -1 : 1;
    if ((c = cmp_opt(a->field, b->field)) != 0)
        return c;
    if (a->kind != b->kind)
        return (int)a->kind - (int)b->kind;
    return cmp_opt(a->attribute, b->attribute);
}

/* ---- impact ------------------------------------------------------------------ */

/* The impact of every breaking change, named as the object was in prev
 * (a renamed table's readers read its old name). */
static void add_impacts(const mc_catalog *prev, mc_changes *cs)
{
    lin_graph *g = NULL;
    for (size_t i = 0; i < cs->n; i++) {
        mc_change *ch = &cs->items[i];
        if (ch->silent || !lin_change_has_impact(ch))
            continue;
        bool is_field = ch->field != NULL;
        ptrdiff_t pc = is_field ? ch->prev_container : ch->prev_index;
        if (pc < 0 || (size_t)pc >= prev->n_containers)
            continue;
        const mc_container *k = &prev->containers[pc];
        const char *field = NULL;
        if (is_field) {
            if (ch->prev_index < 0 || (size_t)ch->prev_index >= prev->n_fields)
                continue;
            field = prev->fields[ch->prev_index].name;
        }
        if (!g)
            g = lin_graph_new(prev);
        char *json = lin_impact(g, k->schema, k->name, field);
        if (json)
            ch->impact = mc_arena_strdup(cs->arena, json);
        free(json);
    }
    lin_graph_free(g);
}

/* ---- entry point ----------------------------------------------------------- */

int diff_catalogs(store *s, mc_catalog *prev, const mc_catalog *cur,
                  const diff_opts *opts, diff_result *out, mc_error *err)
{
    memset(out, 0, sizeof *out);
    mc_changes_init(&out->changes);
    out->cur_to_prev = mc_malloc((cur->n_containers + 1) * sizeof *out->cur_to_prev);
    ptrdiff_t *prev_to_cur = mc_malloc((prev->n_containers + 1) * sizeof *prev_to_cur);
    bool *protected_prev = mc_calloc(prev->n_containers + 1, sizeof *protected_prev);
    size_t *need = NULL;
    int rc = -1;
    for (size_t j = 0; j < cur->n_containers; j++)
        out->cur_to_prev[j] = -1;
    for (size_t i = 0; i < prev->n_containers; i++)
        prev_to_cur[i] = -1;

    differ d = {prev,           cur,
                out,            !opts->allow_removals,
                opts->scope,    opts->baseline,
                opts->by_name_only, mc_calloc(cur->n_containers + 1, sizeof(bool))};
    pair_containers(&d, prev_to_cur);

    /* Containers of schemas that exist but could not be read, and
     * containers the config no longer covers, keep their recorded state:
     * not compared, not removed. */
    for (size_t i = 0; i < prev->n_containers; i++) {
        const mc_schema *sc = mc_catalog_find_schema(cur, prev->containers[i].schema);
        if (prev_to_cur[i] < 0 && ((sc && !sc->usable) ||
                                   !container_in_scope(&d, &prev->containers[i]) ||
                                   mc_catalog_is_left_out(cur, prev->containers[i].schema,
                                                          prev->containers[i].name)))
            protected_prev[i] = true;
    }
    for (size_t i = 0; i < prev->n_containers; i++)
        if (prev_to_cur[i] < 0 && !protected_prev[i])
            out->n_removed_containers++;
    if (!d.hold_removals && !opts->accept_removals && prev->n_containers > 0 &&
        100.0 * (double)out->n_removed_containers / (double)prev->n_containers >
            opts->max_removed_pct) {
        d.hold_removals = true;
        out->fail_safe_tripped = true;
    }

    /* Load the recorded fields of every pair whose fingerprint moved. */
    size_t n_need = 0;
    need = mc_malloc((prev->n_containers + 1) * sizeof *need);
    for (size_t j = 0; j < cur->n_containers; j++) {
        ptrdiff_t pi = out->cur_to_prev[j];
        if (pi >= 0 && (prev->containers[pi].hash == 0 ||
                        prev->containers[pi].hash != cur->containers[j].hash) &&
            !prev->containers[pi].fields_loaded && prev->containers[pi].n_fields == 0)
            need[n_need++] = (size_t)pi;
    }
    if (n_need > 0) {
        if (!s) {
            mc_error_set(err, MC_EXIT_STORE, "internal: fields of the earlier catalog are not loaded");
            goto out;
        }
        if (store_load_fields(s, prev, need, n_need, err) != 0)
            goto out;
    }

    diff_schemas(&d);
    for (size_t j = 0; j < cur->n_containers; j++) {
        ptrdiff_t pi = out->cur_to_prev[j];
        if (pi >= 0) {
            if (prev->containers[pi].hash == 0 ||
                prev->containers[pi].hash != cur->containers[j].hash)
                diff_pair(&d, (size_t)pi, j);
            continue;
        }
        const mc_container *k = &cur->containers[j];
        mc_change *ch = emit(&d, MC_CONTAINER_ADDED, k->schema, k->name, NULL);
        ch->after = opts->baseline ? NULL : container_json(&d, k, cur->fields);
        ch->cur_index = (ptrdiff_t)j;
    }
    for (size_t i = 0; i < prev->n_containers; i++) {
        if (prev_to_cur[i] >= 0 || protected_prev[i])
            continue;
        if (d.hold_removals) {
            out->n_held_back++;
            continue;
        }
        const mc_container *k = &prev->containers[i];
        mc_change *ch = emit(&d, MC_CONTAINER_REMOVED, k->schema, k->name, NULL);
        ch->before = container_json(&d, k, k->fields_loaded ? prev->fields : NULL);
        ch->breaking = true;
        ch->prev_index = (ptrdiff_t)i;
    }
    if (!opts->baseline)
        add_impacts(prev, &out->changes);
    if (out->changes.n > 1) {
        sort_ctx sx = {prev, cur};
        qsort_r(out->changes.items, out->changes.n, sizeof *out->changes.items, cmp_change,
                &sx);
    }
    rc = 0;
out:
    free(need);
    free(d.cur_by_similarity);
    free(prev_to_cur);
    free(protected_prev);
    if (rc != 0)
        diff_result_free(out);
    return rc;
}

void diff_result_free(diff_result *r)
{
    if (!r)
        return;
    mc_changes_free(&r->changes);
    free(r->cur_to_prev);
    free(r->hold_back);
    memset(r, 0, sizeof *r);
}

void diff_drop_silent(diff_result *r)
{
    size_t k = 0;
    for (size_t i = 0; i < r->changes.n; i++)
        if (!r->changes.items[i].silent)
            r->changes.items[k++] = r->changes.items[i];
    r->changes.n = k;
}
