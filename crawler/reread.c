/*
 * reread.c — the re-crawl plan of reread.h.
 *
 * Invariants:
 *  1. A container is left unread only when the store's version of it is
 *     exact: paired by database oid, same fingerprint, a hash that is not
 *     the "compare again" mark, recorded under the current reading rules,
 *     and the same container-level attributes (the container query reads
 *     those every time, so a rename or a new owner is seen).
 *  2. Foreign keys name the referenced table and its columns: a table whose
 *     recorded keys point at a table that moved (or left the catalog, or
 *     was never in it) is read again, so the names in its keys are fresh.
 */
#include "reread.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

struct reread_plan {
    ptrdiff_t *prev_of; /* per cur container: its prev pair, or -1 */
    size_t n_read;      /* containers read again */
};

struct oid_ix {
    int64_t oid;
    size_t idx;
};

static int cmp_oid_ix(const void *a, const void *b)
{
    int64_t x = ((const struct oid_ix *)a)->oid, y = ((const struct oid_ix *)b)->oid;
    return (x > y) - (x < y);
}

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Invariant 1, but for the foreign keys. */
static bool as_recorded(const mc_container *k, const mc_container *p)
{
    return k->fingerprint && p->fingerprint && strcmp(k->fingerprint, p->fingerprint) == 0 &&
           p->hash != 0 && !p->legacy && !p->depends_unread && p->store_key > 0 &&
           k->kind == p->kind && same(k->schema, p->schema) && same(k->name, p->name) &&
           same(k->owner, p->owner) && same(k->comment, p->comment) &&
           same(k->definition, p->definition) && same(k->dist_style, p->dist_style) &&
           same(k->sort_key, p->sort_key) && same(k->extension, p->extension) &&
           k->depends_on == NULL && p->depends_on == NULL;
}

/* The text a recorded foreign key names its table by, as key_row writes
 * it (discover.c): "ref_schema":S,"ref_container":N. */
static char *ref_key(const char *schema, const char *name)
{
    mc_buf b = {0};
    mc_buf_puts(&b, "\"ref_schema\":");
    json_put_str(&b, schema);
    mc_buf_puts(&b, ",\"ref_container\":");
    json_put_str(&b, name);
    char *out = mc_strdup(mc_buf_str(&b));
    mc_buf_free(&b);
    return out;
}

struct ref_ix {
    const char *key; /* owned by the keys array of reread_plan_make */
    bool moved;
};

static int cmp_ref_ix(const void *a, const void *b)
{
    return strcmp(((const struct ref_ix *)a)->key, ((const struct ref_ix *)b)->key);
}

/* The end of the JSON string that starts at p (a '"'), or NULL. */
static const char *json_string_end(const char *p)
{
    if (*p != '"')
        return NULL;
    for (p++; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Invariant 2: does any foreign key of fks point at a moved table, or at
 * one the index does not know? */
static bool refs_moved(const char *fks, const struct ref_ix *ix, size_t n)
{
    static const char tag[] = "\"ref_schema\":";
    mc_buf key = {0};
    bool moved = false;
    for (const char *p = fks ? strstr(fks, tag) : NULL; p && !moved; p = strstr(p, tag)) {
        const char *s_end = json_string_end(p + strlen(tag));
        static const char tag2[] = ",\"ref_container\":";
        if (!s_end || strncmp(s_end, tag2, strlen(tag2)) != 0) {
            moved = true; /* null or unexpected: read it again */
            break;
        }
        const char *n_end = json_string_end(s_end + strlen(tag2));
        if (!n_end) {
            moved = true;
            break;
        }
        mc_buf_reset(&key);
        mc_buf_append(&key, p, (size_t)(n_end - p));
        struct ref_ix probe = {mc_buf_str(&key), false};
        const struct ref_ix *hit = n ? bsearch(&probe, ix, n, sizeof *ix, cmp_ref_ix) : NULL;
        moved = !hit || hit->moved;
        p = n_end;
    }
    mc_buf_free(&key);
    return moved;
}

reread_plan *reread_plan_make(mc_catalog *cur, const mc_catalog *prev, char **filter_out)
{
    *filter_out = NULL;
    for (size_t i = 0; i < cur->n_containers; i++)
        cur->containers[i].fields_unread = false;
    if (!prev || prev->n_containers == 0 || cur->n_containers == 0)
        return NULL;

    struct oid_ix *by_oid = mc_malloc(prev->n_containers * sizeof *by_oid);
    size_t n_oid = 0;
    for (size_t i = 0; i < prev->n_containers; i++)
        if (prev->containers[i].oid != 0)
            by_oid[n_oid++] = (struct oid_ix){prev->containers[i].oid, i};
    qsort(by_oid, n_oid, sizeof *by_oid, cmp_oid_ix);

    reread_plan *plan = mc_calloc(1, sizeof *plan);
    plan->prev_of = mc_malloc(cur->n_containers * sizeof *plan->prev_of);
    bool *prev_moved = mc_malloc(prev->n_containers * sizeof *prev_moved);
    for (size_t i = 0; i < prev->n_containers; i++)
        prev_moved[i] = true;
    bool *unread = mc_calloc(cur->n_containers, sizeof *unread);
    for (size_t i = 0; i < cur->n_containers; i++) {
        const mc_container *k = &cur->containers[i];
        plan->prev_of[i] = -1;
        struct oid_ix probe = {k->oid, 0};
        const struct oid_ix *hit =
            k->oid && n_oid ? bsearch(&probe, by_oid, n_oid, sizeof *by_oid, cmp_oid_ix) : NULL;
        if (!hit)
            continue;
        plan->prev_of[i] = (ptrdiff_t)hit->idx;
        if (as_recorded(k, &prev->containers[hit->idx])) {
            unread[i] = true;
            prev_moved[hit->idx] = false;
        }
    }

    /* Invariant 2 against the names the keys were recorded with. */
    struct ref_ix *refs = mc_malloc(prev->n_containers * sizeof *refs);
    char **keys = mc_malloc(prev->n_containers * sizeof *keys);
    for (size_t i = 0; i < prev->n_containers; i++) {
        keys[i] = ref_key(prev->containers[i].schema, prev->containers[i].name);
        refs[i] = (struct ref_ix){keys[i], prev_moved[i]};
    }
    qsort(refs, prev->n_containers, sizeof *refs, cmp_ref_ix);
    size_t n_read = 0;
    for (size_t i = 0; i < cur->n_containers; i++) {
        if (unread[i]) {
            const mc_container *p = &prev->containers[plan->prev_of[i]];
            if (p->foreign_keys && refs_moved(p->foreign_keys, refs, prev->n_containers))
                unread[i] = false;
        }
        n_read += !unread[i];
    }
    for (size_t i = 0; i < prev->n_containers; i++)
        free(keys[i]);
    free(keys);
    free(refs);
    free(prev_moved);
    free(by_oid);

    plan->n_read = n_read;
    /* More than half moved: one full read costs the server less than a
     * long list of oids, and the plan is dropped. */
    if (n_read * 2 > cur->n_containers) {
        free(unread);
        free(plan->prev_of);
        free(plan);
        return NULL;
    }
    mc_buf b = {0};
    mc_buf_puts(&b, "'{");
    bool first = true;
    for (size_t i = 0; i < cur->n_containers; i++) {
        mc_container *k = &cur->containers[i];
        if (unread[i]) {
            k->fields_unread = true;
            k->hash = prev->containers[plan->prev_of[i]].hash;
            continue;
        }
        if (k->oid == 0)
            continue;
        mc_buf_printf(&b, first ? "%lld" : ",%lld", (long long)k->oid);
        first = false;
    }
    mc_buf_puts(&b, "}'::oid[]");
    *filter_out = mc_strdup(mc_buf_str(&b));
    mc_buf_free(&b);
    free(unread);
    return plan;
}

void reread_plan_finish(reread_plan *plan, mc_catalog *cur, const mc_catalog *prev)
{
    if (!plan)
        return;
    for (size_t i = 0; i < cur->n_containers; i++) {
        mc_container *k = &cur->containers[i];
        if (!k->fields_unread)
            continue;
        const mc_container *p = &prev->containers[plan->prev_of[i]];
        k->primary_key = mc_arena_strdup(cur->arena, p->primary_key);
        k->foreign_keys = mc_arena_strdup(cur->arena, p->foreign_keys);
    }
    free(plan->prev_of);
    free(plan);
}

size_t reread_plan_count(const reread_plan *p, const mc_catalog *cur)
{
    return p ? p->n_read : cur->n_containers;
}
