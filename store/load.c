/*
 * load.c — loading catalogs from the store (store.h): the current catalog
 * a crawl is compared with (containers without fields, fields on demand),
 * a catalog as of a past run, and one container with its fields.  The
 * versions a run sees are those valid for it (invariant 1,
 * store_internal.h).
 */
#include "store.h"
#include "history.h"
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* Each query comes in two forms: the current versions (valid_to IS NULL, the
 * partial indexes) and the versions valid for run ?2 (invariant 1). */
#define VALID_AT(t) "(" t ".valid_from <= ?2 AND (" t ".valid_to IS NULL OR " \
                    t ".valid_to > ?2))"

static const char *const sql_schemas[2] = {
    "SELECT id, name, oid, owner, comment, external FROM schema_versions "
    "WHERE datastore_id = ?1 AND valid_to IS NULL ORDER BY name",
    "SELECT id, name, oid, owner, comment, external FROM schema_versions s "
    "WHERE datastore_id = ?1 AND " VALID_AT("s") " ORDER BY name",
};

#define CONTAINER_COLUMNS                                                      \
    "SELECT cv.id, cv.container_id, cv.schema_name, cv.name, cv.oid, cv.kind, " \
    "cv.owner, cv.comment, cv.definition, cv.primary_key, cv.foreign_keys, "   \
    "cv.dist_style, cv.sort_key, c.current_hash, c.row_estimate, "             \
    "cv.extension, cv.read_rules, c.partitions, cv.depends_on, c.fingerprint " \
    "FROM containers c JOIN container_versions cv ON cv.container_id = c.id "

static const char *const sql_containers[2] = {
    CONTAINER_COLUMNS "WHERE c.datastore_id = ?1 AND cv.valid_to IS NULL "
    "ORDER BY cv.schema_name, cv.name",
    CONTAINER_COLUMNS "WHERE c.datastore_id = ?1 AND " VALID_AT("cv")
    " ORDER BY cv.schema_name, cv.name",
};

#define FIELD_COLUMNS                                                          \
    "SELECT fv.id, fv.container_id, fv.name, fv.attnum, fv.position, fv.type, " \
    "fv.not_null, fv.default_expr, fv.comment, fv.encoding, fv.identity, "    \
    "fv.generated "

/* The fields of one container, current or as of run ?2. */
static const char *const sql_fields_of[2] = {
    FIELD_COLUMNS "FROM field_versions fv "
    "WHERE fv.container_id = ?1 AND fv.valid_to IS NULL ORDER BY fv.position",
    FIELD_COLUMNS "FROM field_versions fv "
    "WHERE fv.container_id = ?1 AND " VALID_AT("fv") " ORDER BY fv.position",
};

/* All fields of a datastore, grouped by container.  The IN form makes
 * SQLite walk the datastore's container ids in order and probe the field
 * index for each, so the current fields come out sorted without a sort. */
static const char *const sql_fields_all[2] = {
    FIELD_COLUMNS "FROM field_versions fv "
    "WHERE fv.container_id IN (SELECT id FROM containers WHERE datastore_id = ?1) "
    "AND fv.valid_to IS NULL ORDER BY fv.container_id, fv.position",
    FIELD_COLUMNS "FROM field_versions fv "
    "WHERE fv.container_id IN (SELECT id FROM containers WHERE datastore_id = ?1) "
    "AND " VALID_AT("fv") " ORDER BY fv.container_id, fv.position",
};

static int bind_ds_run(store *s, sqlite3_stmt *st, int64_t ds, int64_t run,
                       const char *what, mc_error *err)
{
    int bad = st_bind_i64(st, 1, ds);
    if (run)
        bad |= st_bind_i64(st, 2, run);
    return bad ? st_bind_fail(s, err, what) : 0;
}

static int load_schemas(store *s, mc_catalog *cat, int64_t ds, int64_t run,
                        mc_error *err)
{
    const char *what = "load schemas";
    sqlite3_stmt *st = st_prep(s, sql_schemas[run != 0], what, err);
    if (!st || bind_ds_run(s, st, ds, run, what, err) < 0) {
        sqlite3_finalize(st);
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mc_schema *sc = mc_catalog_add_schema(cat);
        sc->store_id = st_col_i64(st, 0);
        sc->name = st_col_text(st, 1, cat->arena);
        sc->oid = st_col_i64(st, 2);
        sc->owner = st_col_text(st, 3, cat->arena);
        sc->comment = st_col_text(st, 4, cat->arena);
        sc->external = sqlite3_column_int(st, 5) != 0;
        sc->usable = true;
    }
    int ret = rc == SQLITE_DONE ? 0 : st_db_fail(s, err, what);
    sqlite3_finalize(st);
    return ret;
}

/* One container by name (show DS.SCHEMA.TABLE): the name index, not the
 * datastore's whole catalog. */
static const char *const sql_container_named[2] = {
    CONTAINER_COLUMNS "WHERE c.datastore_id = ?1 AND cv.valid_to IS NULL "
    "AND cv.schema_name = ?3 AND cv.name = ?4",
    CONTAINER_COLUMNS "WHERE c.datastore_id = ?1 AND " VALID_AT("cv")
    " AND cv.schema_name = ?3 AND cv.name = ?4",
};

static int load_containers_where(store *s, mc_catalog *cat, int64_t ds, int64_t run,
                                 const char *schema, const char *name, mc_error *err);
/* Another catalog whose texts a load shares (store_load_skeleton_like),
 * walked in step: both are in (schema, name) order. */
typedef struct like_walk {
    const mc_catalog *cat;
    size_t at;
} like_walk;

static int read_container(sqlite3_stmt *st, mc_catalog *cat, like_walk *like,
                          mc_error *err);
static int load_containers_like(store *s, mc_catalog *cat, int64_t ds, int64_t run,
                                like_walk *like, mc_error *err);

static int load_containers(store *s, mc_catalog *cat, int64_t ds, int64_t run,
                           mc_error *err)
{
    return load_containers_where(s, cat, ds, run, NULL, NULL, err);
}

/* schema and name NULL: every container of the datastore. */
static int load_containers_where(store *s, mc_catalog *cat, int64_t ds, int64_t run,
                                 const char *schema, const char *name, mc_error *err)
{
    const char *what = "load containers";
    sqlite3_stmt *st = st_prep(s, name ? sql_container_named[run != 0]
                                       : sql_containers[run != 0], what, err);
    if (!st || bind_ds_run(s, st, ds, run, what, err) < 0 ||
        (name && (st_bind_text(st, 3, schema) | st_bind_text(st, 4, name)) &&
         st_bind_fail(s, err, what) < 0)) {
        sqlite3_finalize(st);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((ret = read_container(st, cat, NULL, err)) < 0)
            break;
    if (ret == 0 && rc != SQLITE_DONE)
        ret = st_db_fail(s, err, what);
    sqlite3_finalize(st);
    return ret;
}

/* Column i as text in arena a, or the same text already held by the
 * previous container (a, b: its and the like catalog's twin's, NULL = none):
 * consecutive containers mostly share their schema, owner and key texts,
 * and the second catalog of a diff most of its texts with the first, so a
 * catalog of 100,000 containers holds each text once. */
static const char *col_text_as(sqlite3_stmt *st, int i, mc_arena *arena, const char *a,
                               const char *b)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    if (a && strlen(a) == n && memcmp(a, t, n) == 0)
        return a;
    if (b && strlen(b) == n && memcmp(b, t, n) == 0)
        return b;
    return st_col_text(st, i, arena);
}

static int name_cmp(const mc_container *k, const char *schema, const char *name)
{
    int c = strcmp(k->schema, schema);
    return c ? c : strcmp(k->name, name);
}

/* One row of CONTAINER_COLUMNS appended to cat as a container. */
static int read_container(sqlite3_stmt *st, mc_catalog *cat, like_walk *like,
                          mc_error *err)
{
    mc_container *k = mc_catalog_add_container(cat);
    const mc_container none = {0};
    const mc_container *p = cat->n_containers > 1 ? k - 1 : &none;
    const mc_container *t = &none; /* the like catalog's container of this name */
    const char *schema = (const char *)sqlite3_column_text(st, 2);
    const char *name = (const char *)sqlite3_column_text(st, 3);
    if (like && schema && name) {
        const mc_catalog *lc = like->cat;
        while (like->at < lc->n_containers &&
               name_cmp(&lc->containers[like->at], schema, name) < 0)
            like->at++;
        if (like->at < lc->n_containers &&
            name_cmp(&lc->containers[like->at], schema, name) == 0)
            t = &lc->containers[like->at];
    }
    k->store_id = st_col_i64(st, 0);
    k->store_key = st_col_i64(st, 1);
    k->schema = col_text_as(st, 2, cat->arena, p->schema, t->schema);
    k->name = col_text_as(st, 3, cat->arena, NULL, t->name);
    k->oid = st_col_i64(st, 4);
    const char *kind = (const char *)sqlite3_column_text(st, 5);
    int kv = mc_kind_parse(kind);
    if (kv < 0)
        return mc_error_set(err, MC_EXIT_STORE, "store: container %s.%s has "
                            "an unknown kind '%s'", k->schema, k->name,
                            kind ? kind : "");
    k->kind = (mc_kind)kv;
    k->owner = col_text_as(st, 6, cat->arena, p->owner, t->owner);
    k->comment = col_text_as(st, 7, cat->arena, NULL, t->comment);
    k->definition = col_text_as(st, 8, cat->arena, NULL, t->definition);
    k->primary_key = col_text_as(st, 9, cat->arena, p->primary_key, t->primary_key);
    k->foreign_keys = col_text_as(st, 10, cat->arena, NULL, t->foreign_keys);
    k->dist_style = col_text_as(st, 11, cat->arena, p->dist_style, t->dist_style);
    k->sort_key = col_text_as(st, 12, cat->arena, p->sort_key, t->sort_key);
    k->hash = (uint64_t)st_col_i64(st, 13);
    k->row_estimate = sqlite3_column_type(st, 14) == SQLITE_NULL
                          ? -1 : sqlite3_column_double(st, 14);
    k->extension = col_text_as(st, 15, cat->arena, p->extension, t->extension);
    k->legacy = sqlite3_column_int(st, 16) < STORE_READ_RULES_IDENTITY;
    k->depends_unread = sqlite3_column_int(st, 16) < STORE_READ_RULES_DEPENDS;
    k->partitions = col_text_as(st, 17, cat->arena, NULL, t->partitions);
    k->depends_on = col_text_as(st, 18, cat->arena, NULL, t->depends_on);
    k->fingerprint = col_text_as(st, 19, cat->arena, NULL, NULL);
    return 0;
}

static void read_field(sqlite3_stmt *st, mc_catalog *cat, mc_field *f)
{
    f->store_id = st_col_i64(st, 0);
    f->name = st_col_text(st, 2, cat->arena);
    f->attnum = (int32_t)sqlite3_column_int(st, 3);
    f->position = (int32_t)sqlite3_column_int(st, 4);
    f->type = st_col_text(st, 5, cat->arena);
    f->not_null = sqlite3_column_int(st, 6) != 0;
    f->default_expr = st_col_text(st, 7, cat->arena);
    f->comment = st_col_text(st, 8, cat->arena);
    f->encoding = st_col_text(st, 9, cat->arena);
    f->identity = st_col_text(st, 10, cat->arena);
    f->generated = st_col_text(st, 11, cat->arena);
}

/* A container's stable id and its index in a catalog. */
typedef struct key_index {
    int64_t key;
    size_t idx;
} key_index;

static int key_index_cmp(const void *a, const void *b)
{
    const key_index *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

static const key_index *key_find(const key_index *m, size_t n, int64_t key)
{
    key_index probe = {key, 0};
    return bsearch(&probe, m, n, sizeof *m, key_index_cmp);
}

/*
 * Runs a fields query grouped by container_id and appends each group whose
 * container is in map to cat->fields, as that container's fields.
 */
static int append_field_groups(store *s, sqlite3_stmt *st, mc_catalog *cat,
                               const key_index *map, size_t n_map,
                               const char *what, mc_error *err)
{
    int rc;
    int64_t cur_key = 0;
    mc_container *k = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t key = st_col_i64(st, 1);
        if (key != cur_key) {
            cur_key = key;
            const key_index *hit = key_find(map, n_map, key);
            k = hit ? &cat->containers[hit->idx] : NULL;
            if (k) {
                k->first_field = cat->n_fields;
                k->n_fields = 0;
                k->fields_loaded = true;
            }
        }
        if (!k)
            continue;
        read_field(st, cat, mc_catalog_add_field(cat));
        k->n_fields++;
    }
    return rc == SQLITE_DONE ? 0 : st_db_fail(s, err, what);
}

int store_load_fields(store *s, mc_catalog *cat, const size_t *container_idx,
                      size_t n, mc_error *err)
{
    const char *what = "load fields";
    /* Which containers still need fields, by stable id. */
    key_index *map = n ? mc_malloc(n * sizeof *map) : NULL;
    size_t n_map = 0;
    for (size_t i = 0; i < n; i++) {
        size_t ci = container_idx[i];
        if (ci >= cat->n_containers) {
            free(map);
            return mc_error_set(err, MC_EXIT_STORE, "store: cannot load fields: "
                                "container index %zu out of range", ci);
        }
        mc_container *k = &cat->containers[ci];
        if (k->fields_loaded)
            continue;
        if (k->store_key <= 0) {
            free(map);
            return mc_error_set(err, MC_EXIT_STORE, "store: cannot load fields "
                                "of %s.%s: it did not come from the store",
                                k->schema, k->name);
        }
        map[n_map].key = k->store_key;
        map[n_map].idx = ci;
        n_map++;
    }
    if (n_map == 0) {
        free(map);
        return 0;
    }
    qsort(map, n_map, sizeof *map, key_index_cmp);
    size_t n_unique = 1; /* a container asked for twice is loaded once */
    for (size_t i = 1; i < n_map; i++)
        if (map[i].key != map[n_unique - 1].key)
            map[n_unique++] = map[i];
    n_map = n_unique;
    /* Mark every requested container loaded even if it has no fields. */
    for (size_t i = 0; i < n_map; i++) {
        mc_container *k = &cat->containers[map[i].idx];
        k->first_field = cat->n_fields;
        k->n_fields = 0;
        k->fields_loaded = true;
    }

    int ret = -1;
    sqlite3_stmt *st = NULL;
    if (n_map * 4 > cat->n_containers) {
        /* Many containers: one pass over the datastore's current fields is
         * cheaper than one index probe per container. */
        int64_t ds = 0;
        bool found;
        sqlite3_stmt *q = st_prep(s, "SELECT datastore_id FROM containers WHERE id = ?1",
                                  what, err);
        if (!q)
            goto out;
        int rc = st_bind_i64(q, 1, map[0].key) ? -1 : sqlite3_step(q);
        found = rc == SQLITE_ROW;
        ds = found ? st_col_i64(q, 0) : 0;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            st_db_fail(s, err, what);
            sqlite3_finalize(q);
            goto out;
        }
        sqlite3_finalize(q);
        if (!found) {
            mc_error_set(err, MC_EXIT_STORE, "store: cannot load fields: "
                         "container %lld is not in the store",
                         (long long)map[0].key);
            goto out;
        }
        st = st_prep(s, sql_fields_all[0], what, err);
        if (!st || bind_ds_run(s, st, ds, 0, what, err) < 0)
            goto out;
        if (append_field_groups(s, st, cat, map, n_map, what, err) < 0)
            goto out;
    } else {
        st = st_prep(s, sql_fields_of[0], what, err);
        if (!st)
            goto out;
        for (size_t i = 0; i < n_map; i++) {
            if (st_bind_i64(st, 1, map[i].key)) {
                st_bind_fail(s, err, what);
                goto out;
            }
            int rc = append_field_groups(s, st, cat, map + i, 1, what, err);
            sqlite3_reset(st);
            if (rc < 0)
                goto out;
        }
    }
    ret = 0;
out:
    if (ret < 0) /* leave no container half loaded */
        for (size_t i = 0; i < n_map; i++) {
            cat->containers[map[i].idx].fields_loaded = false;
            cat->containers[map[i].idx].n_fields = 0;
        }
    sqlite3_finalize(st);
    free(map);
    return ret;
}

/* The runs recorded (ok or partial) for a datastore, with the newest of
 * them: the stamp that tells whether someone committed in between. */
int store_recorded_runs(store *s, int64_t ds, int64_t *n_out, int64_t *newest_out,
                        mc_error *err)
{
    const char *what = "count the recorded runs";
    *n_out = 0;
    if (newest_out)
        *newest_out = 0;
    sqlite3_stmt *st = st_prep(s, "SELECT count(*), coalesce(max(id), 0) FROM runs "
                               "WHERE datastore_id = ?1 AND status IN ('ok', 'partial')",
                               what, err);
    if (!st)
        return -1;
    int rc = st_bind_i64(st, 1, ds) ? -1 : sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n_out = st_col_i64(st, 0);
        if (newest_out)
            *newest_out = st_col_i64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : st_db_fail(s, err, what);
}

int store_load_current(store *s, const char *datastore, mc_catalog **out,
                       mc_error *err)
{
    *out = NULL;
    int64_t ds = 0, n_recorded = 0;
    if (store_datastore_id(s, datastore, &ds, err) < 0)
        return -1;
    /* Counted before the catalog is read: a commit in between makes the
     * check at commit refuse (safe), never miss. */
    if (ds && store_recorded_runs(s, ds, &n_recorded, NULL, err) < 0)
        return -1;
    mc_catalog *cat = mc_catalog_new();
    cat->store_commits = 1 + n_recorded;
    if (ds && (load_schemas(s, cat, ds, 0, err) < 0 ||
               load_containers(s, cat, ds, 0, err) < 0)) {
        mc_catalog_free(cat);
        return -1;
    }
    *out = cat;
    return 0;
}

/* Checks that run_id (0 = the latest) is a run of datastore ds. */
static int check_run_of(store *s, const char *datastore, int64_t ds, int64_t run_id,
                        mc_error *err)
{
    const char *what = "load the catalog";
    if (run_id != 0) {
        int64_t run_ds;
        bool found;
        sqlite3_stmt *q = st_prep(s, "SELECT datastore_id FROM runs WHERE id = ?1",
                                  what, err);
        if (!q)
            return -1;
        int rc = st_bind_i64(q, 1, run_id) ? -1 : sqlite3_step(q);
        found = rc == SQLITE_ROW;
        run_ds = found ? st_col_i64(q, 0) : 0;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            st_db_fail(s, err, what);
            sqlite3_finalize(q);
            return -1;
        }
        sqlite3_finalize(q);
        if (!found || !ds || run_ds != ds) {
            mc_error_set(err, MC_EXIT_USAGE, "run %lld is not a run of "
                         "datastore %s", (long long)run_id, datastore);
            mc_error_hint(err, "metacrawl history %s lists its runs", datastore);
            return -1;
        }
    }
    return 0;
}

int store_load_container(store *s, const char *datastore, int64_t run_id,
                         const char *schema, const char *name, mc_catalog **out,
                         mc_error *err)
{
    *out = NULL;
    const char *what = "load a container";
    int64_t ds = 0;
    if (store_datastore_id(s, datastore, &ds, err) < 0 ||
        check_run_of(s, datastore, ds, run_id, err) < 0)
        return -1;
    mc_catalog *cat = mc_catalog_new();
    sqlite3_stmt *st = NULL;
    if (ds && load_containers_where(s, cat, ds, run_id, schema, name, err) < 0)
        goto fail;
    if (cat->n_containers > 0) {
        mc_container *k = &cat->containers[0];
        key_index map = {k->store_key, 0};
        k->fields_loaded = true;
        st = st_prep(s, sql_fields_of[run_id != 0], what, err);
        if (!st || st_bind_i64(st, 1, k->store_key) ||
            (run_id && st_bind_i64(st, 2, run_id))) {
            if (st)
                st_bind_fail(s, err, what);
            goto fail;
        }
        if (append_field_groups(s, st, cat, &map, 1, what, err) < 0)
            goto fail;
        sqlite3_finalize(st);
    }
    *out = cat;
    return 0;
fail:
    sqlite3_finalize(st);
    mc_catalog_free(cat);
    return -1;
}

int store_load_as_of(store *s, const char *datastore, int64_t run_id,
                     mc_catalog **out, mc_error *err)
{
    *out = NULL;
    const char *what = "load the catalog";
    int64_t ds = 0;
    if (store_datastore_id(s, datastore, &ds, err) < 0 ||
        check_run_of(s, datastore, ds, run_id, err) < 0)
        return -1;
    mc_catalog *cat = mc_catalog_new();
    *out = cat;
    if (!ds)
        return 0;
    sqlite3_stmt *st = NULL;
    key_index *map = NULL;
    uint64_t *recorded = NULL;
    if (load_schemas(s, cat, ds, run_id, err) < 0 ||
        load_containers(s, cat, ds, run_id, err) < 0)
        goto fail;
    map = mc_malloc((cat->n_containers ? cat->n_containers : 1) * sizeof *map);
    for (size_t i = 0; i < cat->n_containers; i++) {
        map[i].key = cat->containers[i].store_key;
        map[i].idx = i;
        cat->containers[i].fields_loaded = true;
    }
    qsort(map, cat->n_containers, sizeof *map, key_index_cmp);
    st = st_prep(s, sql_fields_all[run_id != 0], what, err);
    if (!st || bind_ds_run(s, st, ds, run_id, what, err) < 0 ||
        append_field_groups(s, st, cat, map, cat->n_containers, what, err) < 0)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;

    /* mc_catalog_finish lays the fields out in container order (as a
     * discovered catalog has them) and hashes each container.  An older
     * catalog keeps those hashes; the current one keeps the recorded ones,
     * which carry the hold-back mark (0) the next diff relies on. */
    if (run_id == 0) {
        recorded = mc_malloc((cat->n_containers + 1) * sizeof *recorded);
        for (size_t i = 0; i < cat->n_containers; i++)
            recorded[i] = cat->containers[i].hash;
    }
    mc_catalog_finish(cat);
    if (recorded)
        for (size_t i = 0; i < cat->n_containers; i++)
            cat->containers[i].hash = recorded[i];
    free(recorded);
    free(map);
    return 0;
fail:
    sqlite3_finalize(st);
    free(map);
    mc_catalog_free(cat);
    *out = NULL;
    return -1;
}

/* ---- reading a catalog one container at a time (store_cursor) ------------ */

struct store_cursor {
    store *s;
    mc_catalog *schemas;     /* the datastore's schemas, nothing else */
    mc_catalog *one;         /* the container last returned, with its fields */
    sqlite3_stmt *containers; /* CONTAINER_COLUMNS, by (schema, name) */
    sqlite3_stmt *fields;    /* the fields of one container */
    sqlite3_stmt *count;     /* or how many there are (store_cursor_counts_only) */
    int64_t run;
    bool own_read;           /* the cursor began the read snapshot */
    bool done;
};

int store_cursor_open(store *s, const char *datastore, int64_t run_id,
                      store_cursor **out, mc_error *err)
{
    *out = NULL;
    const char *what = "read the catalog";
    int64_t ds = 0;
    sqlite3 *db = store_sqlite(s);
    store_cursor *c = mc_calloc(1, sizeof *c);
    c->s = s;
    c->run = run_id;
    c->schemas = mc_catalog_new();
    /* One snapshot for the whole walk: a crawl committing meanwhile changes
     * nothing the cursor returns (WAL readers keep their snapshot). */
    if (sqlite3_get_autocommit(db)) {
        if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
            st_db_fail(s, err, what);
            goto fail;
        }
        c->own_read = true;
    }
    if (store_datastore_id(s, datastore, &ds, err) < 0 ||
        check_run_of(s, datastore, ds, run_id, err) < 0)
        goto fail;
    if (!ds) {
        c->done = true;
        *out = c;
        return 0;
    }
    if (load_schemas(s, c->schemas, ds, run_id, err) < 0)
        goto fail;
    c->containers = st_prep(s, sql_containers[run_id != 0], what, err);
    c->fields = c->containers ? st_prep(s, sql_fields_of[run_id != 0], what, err) : NULL;
    if (!c->fields || bind_ds_run(s, c->containers, ds, run_id, what, err) < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    store_cursor_close(c);
    return -1;
}

/* The number of fields of one container, current or as of run ?2. */
static const char *const sql_count_of[2] = {
    "SELECT count(*) FROM field_versions fv WHERE fv.container_id = ?1 "
    "AND fv.valid_to IS NULL",
    "SELECT count(*) FROM field_versions fv WHERE fv.container_id = ?1 AND "
    VALID_AT("fv"),
};

int store_cursor_counts_only(store_cursor *c, mc_error *err)
{
    if (c->count || c->done)
        return 0;
    c->count = st_prep(c->s, sql_count_of[c->run != 0], "read the catalog", err);
    return c->count ? 0 : -1;
}

const mc_catalog *store_cursor_schemas(const store_cursor *c)
{
    return c->schemas;
}

int store_cursor_next(store_cursor *c, const mc_catalog **out, mc_error *err)
{
    const char *what = "read the catalog";
    *out = NULL;
    mc_catalog_free(c->one); /* the previous container goes before the next comes */
    c->one = NULL;
    if (c->done)
        return 0;
    int rc = sqlite3_step(c->containers);
    if (rc == SQLITE_DONE) {
        c->done = true;
        return 0;
    }
    if (rc != SQLITE_ROW)
        return st_db_fail(c->s, err, what);
    mc_catalog *one = mc_catalog_new();
    c->one = one;
    if (read_container(c->containers, one, NULL, err) < 0)
        return -1;
    mc_container *k = &one->containers[0];
    if (c->count) {
        sqlite3_reset(c->count);
        if (st_bind_i64(c->count, 1, k->store_key) ||
            (c->run && st_bind_i64(c->count, 2, c->run)))
            return st_bind_fail(c->s, err, what);
        if (sqlite3_step(c->count) != SQLITE_ROW)
            return st_db_fail(c->s, err, what);
        k->n_fields = (size_t)st_col_i64(c->count, 0);
        *out = one;
        return 0;
    }
    key_index map = {k->store_key, 0};
    k->fields_loaded = true;
    sqlite3_reset(c->fields);
    if (st_bind_i64(c->fields, 1, k->store_key) ||
        (c->run && st_bind_i64(c->fields, 2, c->run)))
        return st_bind_fail(c->s, err, what);
    if (append_field_groups(c->s, c->fields, one, &map, 1, what, err) < 0)
        return -1;
    *out = one;
    return 0;
}

void store_cursor_close(store_cursor *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->containers);
    sqlite3_finalize(c->fields);
    sqlite3_finalize(c->count);
    if (c->own_read)
        store_read_end(c->s);
    mc_catalog_free(c->one);
    mc_catalog_free(c->schemas);
    free(c);
}

/* ---- catalogs without fields (store_load_skeleton) ------------------------- */

/* The number of fields of every container of a datastore, current or as of
 * run ?2, grouped by container (the field indexes give that order). */
static const char *const sql_field_counts[2] = {
    "SELECT fv.container_id, count(*) FROM field_versions fv "
    "WHERE fv.container_id IN (SELECT id FROM containers WHERE datastore_id = ?1) "
    "AND fv.valid_to IS NULL GROUP BY fv.container_id",
    "SELECT fv.container_id, count(*) FROM field_versions fv "
    "WHERE fv.container_id IN (SELECT id FROM containers WHERE datastore_id = ?1) "
    "AND " VALID_AT("fv") " GROUP BY fv.container_id",
};

/* A container-id index of cat, sorted (the caller frees it). */
static key_index *key_map_of(const mc_catalog *cat)
{
    key_index *map = mc_malloc((cat->n_containers + 1) * sizeof *map);
    for (size_t i = 0; i < cat->n_containers; i++) {
        map[i].key = cat->containers[i].store_key;
        map[i].idx = i;
    }
    qsort(map, cat->n_containers, sizeof *map, key_index_cmp);
    return map;
}

static int count_fields(store *s, mc_catalog *cat, int64_t ds, int64_t run,
                        mc_error *err)
{
    const char *what = "count the fields";
    sqlite3_stmt *st = st_prep(s, sql_field_counts[run != 0], what, err);
    if (!st || bind_ds_run(s, st, ds, run, what, err) < 0) {
        sqlite3_finalize(st);
        return -1;
    }
    key_index *map = key_map_of(cat);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const key_index *hit = key_find(map, cat->n_containers, st_col_i64(st, 0));
        if (hit)
            cat->containers[hit->idx].n_fields = (size_t)st_col_i64(st, 1);
    }
    free(map);
    int ret = rc == SQLITE_DONE ? 0 : st_db_fail(s, err, what);
    sqlite3_finalize(st);
    return ret;
}

int store_hash_containers(store *s, mc_catalog *cat, int64_t run_id, mc_error *err)
{
    const char *what = "hash the containers";
    sqlite3_stmt *st = st_prep(s, sql_fields_of[run_id != 0], what, err);
    if (!st)
        return -1;
    int ret = 0;
    for (size_t i = 0; i < cat->n_containers && ret == 0; i++) {
        mc_container *k = &cat->containers[i];
        if (k->store_key <= 0)
            continue;
        /* the container as cat has it, with its fields in a catalog of
         * its own that goes before the next one comes */
        mc_catalog *one = mc_catalog_new();
        mc_container *k1 = mc_catalog_add_container(one);
        *k1 = *k;
        k1->first_field = 0;
        k1->n_fields = 0;
        key_index map = {k->store_key, 0};
        sqlite3_reset(st);
        if (st_bind_i64(st, 1, k->store_key) || (run_id && st_bind_i64(st, 2, run_id)))
            ret = st_bind_fail(s, err, what);
        else if ((ret = append_field_groups(s, st, one, &map, 1, what, err)) == 0)
            k->hash = mc_container_hash(one, k1);
        mc_catalog_free(one);
    }
    sqlite3_finalize(st);
    return ret;
}

static int load_containers_like(store *s, mc_catalog *cat, int64_t ds, int64_t run,
                                like_walk *like, mc_error *err)
{
    const char *what = "load containers";
    sqlite3_stmt *st = st_prep(s, sql_containers[run != 0], what, err);
    if (!st || bind_ds_run(s, st, ds, run, what, err) < 0) {
        sqlite3_finalize(st);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((ret = read_container(st, cat, like, err)) < 0)
            break;
    if (ret == 0 && rc != SQLITE_DONE)
        ret = st_db_fail(s, err, what);
    sqlite3_finalize(st);
    return ret;
}

int store_load_skeleton(store *s, const char *datastore, int64_t run_id, unsigned what,
                        mc_catalog **out, mc_error *err)
{
    return store_load_skeleton_like(s, datastore, run_id, what, NULL, out, err);
}

int store_load_skeleton_like(store *s, const char *datastore, int64_t run_id,
                             unsigned what, const mc_catalog *like, mc_catalog **out,
                             mc_error *err)
{
    *out = NULL;
    int64_t ds = 0;
    if (store_datastore_id(s, datastore, &ds, err) < 0 ||
        check_run_of(s, datastore, ds, run_id, err) < 0)
        return -1;
    mc_catalog *cat = mc_catalog_new();
    like_walk walk = {like, 0};
    if (ds && (load_schemas(s, cat, ds, run_id, err) < 0 ||
               load_containers_like(s, cat, ds, run_id, like ? &walk : NULL, err) < 0 ||
               ((what & STORE_SKELETON_HASHES) &&
                store_hash_containers(s, cat, run_id, err) < 0) ||
               ((what & STORE_SKELETON_COUNTS) && count_fields(s, cat, ds, run_id, err) < 0))) {
        mc_catalog_free(cat);
        return -1;
    }
    if (!(what & STORE_SKELETON_HASHES) && run_id != 0)
        for (size_t i = 0; i < cat->n_containers; i++)
            cat->containers[i].hash = 0; /* the current one says nothing of then */
    *out = cat;
    return 0;
}

int store_load_fields_at(store *s, mc_catalog *cat, int64_t run_id,
                         const size_t *container_idx, size_t n, mc_error *err)
{
    const char *what = "load fields";
    sqlite3_stmt *st = st_prep(s, sql_fields_of[run_id != 0], what, err);
    if (!st)
        return -1;
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++) {
        size_t ci = container_idx[i];
        if (ci >= cat->n_containers) {
            ret = mc_error_set(err, MC_EXIT_STORE, "store: cannot load fields: "
                               "container index %zu out of range", ci);
            break;
        }
        mc_container *k = &cat->containers[ci];
        if (k->fields_loaded)
            continue;
        if (k->store_key <= 0) {
            ret = mc_error_set(err, MC_EXIT_STORE, "store: cannot load fields of "
                               "%s.%s: it did not come from the store", k->schema, k->name);
            break;
        }
        key_index map = {k->store_key, ci};
        k->first_field = cat->n_fields;
        k->n_fields = 0;
        k->fields_loaded = true;
        sqlite3_reset(st);
        if (st_bind_i64(st, 1, k->store_key) || (run_id && st_bind_i64(st, 2, run_id)))
            ret = st_bind_fail(s, err, what);
        else
            ret = append_field_groups(s, st, cat, &map, 1, what, err);
        if (ret < 0) {
            k->fields_loaded = false;
            k->n_fields = 0;
        }
    }
    sqlite3_finalize(st);
    return ret;
}
