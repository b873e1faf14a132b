/*
 * catalog.c — the in-memory catalog model (store.h): arrays of schemas,
 * containers and fields with arena-owned strings, the container
 * fingerprint, and the names of kinds and change kinds.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_names[MC_KIND__COUNT] = {
    "table", "view", "materialized_view", "partitioned_table",
    "foreign_table", "external_table", "late_binding_view",
};

const char *mc_kind_name(mc_kind k)
{
    return (unsigned)k < MC_KIND__COUNT ? kind_names[k] : "unknown";
}

int mc_kind_parse(const char *s)
{
    for (int i = 0; s && i < MC_KIND__COUNT; i++)
        if (strcmp(s, kind_names[i]) == 0)
            return i;
    return -1;
}

static const char *const change_names[MC_CHANGE__COUNT] = {
    "schema_added", "schema_removed", "schema_changed",
    "container_added", "container_removed", "container_renamed",
    "container_changed", "field_added", "field_removed", "field_renamed",
    "field_changed", "datastore_stale", "datastore_recovered",
};

const char *mc_change_kind_name(mc_change_kind k)
{
    return (unsigned)k < MC_CHANGE__COUNT ? change_names[k] : "unknown";
}

int mc_change_kind_parse(const char *s)
{
    for (int i = 0; s && i < MC_CHANGE__COUNT; i++)
        if (strcmp(s, change_names[i]) == 0)
            return i;
    return -1;
}

/* ---- the catalog ---------------------------------------------------------- */

mc_catalog *mc_catalog_new(void)
{
    mc_catalog *c = mc_calloc(1, sizeof *c);
    c->arena = mc_arena_new();
    return c;
}

void mc_catalog_free(mc_catalog *c)
{
    if (!c)
        return;
    free(c->schemas);
    free(c->containers);
    free(c->fields);
    free(c->left_out);
    mc_arena_free(c->arena);
    free(c);
}

static size_t cap_for(size_t n);

/* A handful per crawl at most (the members of the extensions in scope):
 * a linear search is enough. */
void mc_catalog_add_left_out(mc_catalog *c, const char *schema, const char *name)
{
    size_t cap = cap_for(c->n_left_out);
    if (c->n_left_out == cap)
        c->left_out = mc_realloc(c->left_out, (cap ? 2 * cap : 16) * sizeof *c->left_out);
    c->left_out[c->n_left_out].schema = mc_arena_strdup(c->arena, schema);
    c->left_out[c->n_left_out].name = mc_arena_strdup(c->arena, name);
    c->n_left_out++;
}

bool mc_catalog_is_left_out(const mc_catalog *c, const char *schema, const char *name)
{
    for (size_t i = 0; i < c->n_left_out; i++)
        if (strcmp(c->left_out[i].schema, schema) == 0 &&
            strcmp(c->left_out[i].name, name) == 0)
            return true;
    return false;
}

/* Makes room for one more element of size elem in *arr (capacity tracked
 * alongside, doubling), and returns the new, zeroed element. */
static void *grow_one(void **arr, size_t *n, size_t *cap, size_t elem)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        *arr = mc_realloc(*arr, ncap * elem);
        *cap = ncap;
    }
    unsigned char *p = (unsigned char *)*arr + *n * elem;
    memset(p, 0, elem);
    (*n)++;
    return p;
}

/*
 * The capacities are not in the public struct (whose layout is the
 * contract), so they are derived: an array of n elements was allocated with
 * the smallest power-of-two capacity >= max(n, 16).  Every append goes
 * through grow_one, and the loaders below only ever append, so this holds.
 */
static size_t cap_for(size_t n)
{
    if (n == 0)
        return 0;
    size_t cap = 16;
    while (cap < n)
        cap *= 2;
    return cap;
}

mc_schema *mc_catalog_add_schema(mc_catalog *c)
{
    size_t cap = cap_for(c->n_schemas);
    void *arr = c->schemas;
    mc_schema *s = grow_one(&arr, &c->n_schemas, &cap, sizeof *s);
    c->schemas = arr;
    return s;
}

mc_container *mc_catalog_add_container(mc_catalog *c)
{
    size_t cap = cap_for(c->n_containers);
    void *arr = c->containers;
    mc_container *k = grow_one(&arr, &c->n_containers, &cap, sizeof *k);
    c->containers = arr;
    k->row_estimate = -1;
    return k;
}

mc_field *mc_catalog_add_field(mc_catalog *c)
{
    size_t cap = cap_for(c->n_fields);
    void *arr = c->fields;
    mc_field *f = grow_one(&arr, &c->n_fields, &cap, sizeof *f);
    c->fields = arr;
    return f;
}

/* NULL sorts before every string, so a half-filled entry still has a place. */
static int str_cmp(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int schema_cmp(const void *a, const void *b)
{
    const mc_schema *x = a, *y = b;
    return str_cmp(x->name, y->name);
}

static int container_cmp(const void *a, const void *b)
{
    const mc_container *x = a, *y = b;
    int r = str_cmp(x->schema, y->schema);
    return r ? r : str_cmp(x->name, y->name);
}

/* Stable insertion sort by position; only called on a container whose
 * fields are out of order, which discovery (ORDER BY attnum) never gives. */
static void sort_fields_by_position(mc_field *f, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        mc_field x = f[i];
        size_t j = i;
        while (j > 0 && f[j - 1].position > x.position) {
            f[j] = f[j - 1];
            j--;
        }
        f[j] = x;
    }
}

void mc_catalog_finish(mc_catalog *c)
{
    if (c->n_schemas > 1)
        qsort(c->schemas, c->n_schemas, sizeof *c->schemas, schema_cmp);
    if (c->n_containers > 1)
        qsort(c->containers, c->n_containers, sizeof *c->containers,
              container_cmp);

    /* Lay the fields out again in the new container order.  The new array
     * gets the capacity mc_catalog_add_field expects (see cap_for). */
    size_t total = 0;
    for (size_t i = 0; i < c->n_containers; i++) {
        mc_container *k = &c->containers[i];
        if (k->fields_elsewhere)
            continue; /* none of its fields are here */
        if (k->first_field > c->n_fields ||
            k->n_fields > c->n_fields - k->first_field)
            k->n_fields = 0; /* a range that cannot be right: drop it */
        total += k->n_fields;
    }
    mc_field *fields = total ? mc_malloc(cap_for(total) * sizeof *fields) : NULL;
    size_t at = 0, beyond = total;
    for (size_t i = 0; i < c->n_containers; i++) {
        mc_container *k = &c->containers[i];
        if (k->fields_elsewhere) {
            /* numbered after the fields that are here (store.h) */
            k->first_field = beyond;
            beyond += k->n_fields;
            continue;
        }
        if (k->n_fields)
            memcpy(fields + at, c->fields + k->first_field,
                   k->n_fields * sizeof *fields);
        k->first_field = at;
        for (size_t j = 1; j < k->n_fields; j++) {
            if (fields[at + j - 1].position > fields[at + j].position) {
                sort_fields_by_position(fields + at, k->n_fields);
                break;
            }
        }
        at += k->n_fields;
    }
    free(c->fields);
    c->fields = fields;
    c->n_fields = total;

    /* A container whose fields were not read again keeps the hash the
     * store recorded (discovery copied it): it is as recorded; one whose
     * fields are elsewhere was hashed before they went. */
    for (size_t i = 0; i < c->n_containers; i++)
        if (!c->containers[i].fields_unread && !c->containers[i].fields_elsewhere)
            c->containers[i].hash = mc_container_hash(c, &c->containers[i]);
}

size_t mc_catalog_field_count(const mc_catalog *c)
{
    size_t n = c->n_fields;
    for (size_t i = 0; i < c->n_containers; i++) {
        const mc_container *k = &c->containers[i];
        if (k->fields_unread)
            n += k->n_fields_unread;
        else if (k->fields_elsewhere)
            n += k->n_fields;
    }
    return n;
}

/* Integers go into the hash as little-endian bytes, so a store written on
 * one machine compares equal on another. */
static uint64_t hash_u32(uint64_t h, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    return mc_hash_bytes(h, b, sizeof b);
}

uint64_t mc_container_hash(const mc_catalog *c, const mc_container *k)
{
    uint64_t h = MC_HASH_INIT;
    h = mc_hash_str(h, k->schema);
    h = mc_hash_str(h, k->name);
    /* The kind by name, so reordering the enum does not change hashes. */
    h = mc_hash_str(h, mc_kind_name(k->kind));
    h = mc_hash_str(h, k->owner);
    h = mc_hash_str(h, k->comment);
    h = mc_hash_str(h, k->definition);
    h = mc_hash_str(h, k->primary_key);
    h = mc_hash_str(h, k->foreign_keys);
    h = mc_hash_str(h, k->dist_style);
    h = mc_hash_str(h, k->sort_key);
    /* Attributes added later enter the hash only when they have a value,
     * so the fingerprints of containers without them stay what the store
     * recorded before (no re-comparison of a whole catalog after an
     * upgrade). */
    if (k->extension)
        h = mc_hash_str(mc_hash_str(h, "extension"), k->extension);
    if (k->depends_on)
        h = mc_hash_str(mc_hash_str(h, "depends_on"), k->depends_on);
    h = hash_u32(h, (uint32_t)k->n_fields);
    for (size_t i = 0; i < k->n_fields && k->first_field + i < c->n_fields; i++) {
        const mc_field *f = &c->fields[k->first_field + i];
        h = mc_hash_str(h, f->name);
        h = mc_hash_str(h, f->type);
        h = mc_hash_str(h, f->default_expr);
        h = mc_hash_str(h, f->comment);
        h = mc_hash_str(h, f->encoding);
        if (f->identity)
            h = mc_hash_str(mc_hash_str(h, "identity"), f->identity);
        if (f->generated)
            h = mc_hash_str(mc_hash_str(h, "generated"), f->generated);
        h = hash_u32(h, f->not_null ? 1u : 0u);
        h = hash_u32(h, (uint32_t)f->position);
    }
    /* 0 is the store's "compare this container again" mark. */
    return h ? h : 1;
}

const mc_container *mc_catalog_find(const mc_catalog *c, const char *schema,
                                    const char *name)
{
    size_t lo = 0, hi = c->n_containers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const mc_container *k = &c->containers[mid];
        int r = str_cmp(k->schema, schema);
        if (r == 0)
            r = str_cmp(k->name, name);
        if (r == 0)
            return k;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const mc_schema *mc_catalog_find_schema(const mc_catalog *c, const char *name)
{
    size_t lo = 0, hi = c->n_schemas;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = str_cmp(c->schemas[mid].name, name);
        if (r == 0)
            return &c->schemas[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- changes -------------------------------------------------------------- */

void mc_changes_init(mc_changes *cs)
{
    cs->items = NULL;
    cs->n = cs->cap = 0;
    cs->arena = mc_arena_new();
}

void mc_changes_free(mc_changes *cs)
{
    if (!cs)
        return;
    free(cs->items);
    mc_arena_free(cs->arena);
    cs->items = NULL;
    cs->n = cs->cap = 0;
    cs->arena = NULL;
}

mc_change *mc_changes_add(mc_changes *cs)
{
    if (!cs->arena)
        cs->arena = mc_arena_new();
    if (cs->n == cs->cap) {
        cs->cap = cs->cap ? cs->cap * 2 : 16;
        cs->items = mc_realloc(cs->items, cs->cap * sizeof *cs->items);
    }
    mc_change *ch = &cs->items[cs->n++];
    memset(ch, 0, sizeof *ch);
    /* Not linked to any catalog until the diff says so. */
    ch->prev_index = ch->cur_index = -1;
    ch->prev_container = ch->cur_container = -1;
    return ch;
}
