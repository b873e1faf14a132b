/*
 * commit.c — recording a run: store_commit_run writes a crawl's changes as
 * new and closed versions, its change events and the alert deliveries they
 * call for, and finishes the run (runs.c has the run states).
 *
 * Invariants (1, 2, 5 and 6 are in store_internal.h):
 *  3. store_commit_run is one BEGIN IMMEDIATE ... COMMIT.  Any failure rolls
 *     back, so the store is byte-for-byte what it was, and the run row stays
 *     'running' for the caller to fail.
 *  4. A re-crawl that found nothing writes only the run row (and row
 *     estimates that moved, and the table facts: facts.c): the comparison
 *     happened in the diff, and the store never rewrites a version that did
 *     not change.
 *  7. The commit is a bulk write: foreign keys are off for its transaction
 *     (and on again after it, whatever happened), because every reference
 *     it writes is checked by construction (above store_commit_run_src);
 *     a new container's fields go in as multi-row INSERTs in position
 *     order (insert_fields).  Every read of cur's fields goes through
 *     cur_fields, which also serves containers whose fields are elsewhere
 *     (store_field_source).
 */
#include "store.h"
#include "store_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* A row estimate below 0 is unknown, and is stored as NULL. */
static int bind_estimate(sqlite3_stmt *st, int i, double v)
{
    return v >= 0 ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

static bool in_range(ptrdiff_t i, size_t n)
{
    return i >= 0 && (size_t)i < n;
}

/* Rows per multi-row insert of a new container's fields: one statement
 * instead of FIELD_BATCH (each a step, a reset and the statement's start).
 * 2 << (N_FIELD_BATCHES - 1); 12 parameters a row stay far below SQLite's
 * limit of 32766. */
#define N_FIELD_BATCHES 5
#define FIELD_BATCH (2 << (N_FIELD_BATCHES - 1))

/* What has been done to an object of prev in this commit. */
enum { DONE_VERSIONED = 1, DONE_REMOVED = 2 };

typedef struct commit_ctx {
    store *s;
    int64_t run, ds;
    char *ds_name;    /* the datastore's name, for the outbox rules */
    const mc_catalog *prev, *cur;
    const ptrdiff_t *cur_to_prev;
    mc_error *err;
    unsigned char *schema_done, *container_done, *field_done;
    unsigned char *cur_schema_added, *cur_field_added;
    int64_t *new_key; /* containers row of a cur container added here */
    const store_field_source *src; /* cur's fields_elsewhere containers */
    size_t src_container;          /* the container src last served, */
    const mc_field *src_fields;    /* its fields (NULL = none served yet) */
    size_t src_n;
    /* field_added written, per cur container whose fields are elsewhere
     * (allocated when the container gets its first one) */
    unsigned char **elsewhere_added;
    unsigned char *key_checked; /* prev containers whose key is verified */
    sqlite3_stmt *ins_schema, *close_schema, *ins_container, *ins_cversion,
        *close_cversion, *close_cfields, *set_container, *set_oid, *set_rules,
        *ins_field,
        *close_field, *ins_change, *finish_run, *check_key;
    /* multi-row field inserts of 2, 4, 8, ... FIELD_BATCH rows (batch_stmt) */
    sqlite3_stmt *ins_fields[N_FIELD_BATCHES];
    sqlite3_stmt *ins_outbox; /* prepared only when rules are set */
} commit_ctx;

static const struct {
    size_t offset;
    const char *sql;
} commit_sql[] = {
    {offsetof(commit_ctx, ins_schema),
     "INSERT INTO schema_versions(datastore_id, name, oid, owner, comment, "
     "external, valid_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    {offsetof(commit_ctx, close_schema),
     "UPDATE schema_versions SET valid_to = ?2 "
     "WHERE id = ?1 AND datastore_id = ?3 AND valid_to IS NULL"},
    {offsetof(commit_ctx, ins_container),
     "INSERT INTO containers(datastore_id, current_hash, row_estimate, partitions, "
     "fingerprint) VALUES (?1, ?2, ?3, ?4, ?5)"},
    {offsetof(commit_ctx, ins_cversion),
     "INSERT INTO container_versions(container_id, schema_name, name, oid, kind, "
     "owner, comment, definition, primary_key, foreign_keys, dist_style, "
     "sort_key, valid_from, extension, read_rules, depends_on) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"},
    {offsetof(commit_ctx, close_cversion),
     "UPDATE container_versions SET valid_to = ?3 "
     "WHERE id = ?1 AND container_id = ?2 AND valid_to IS NULL"},
    {offsetof(commit_ctx, close_cfields),
     "UPDATE field_versions SET valid_to = ?2 "
     "WHERE container_id = ?1 AND valid_to IS NULL"},
    {offsetof(commit_ctx, set_container),
     "UPDATE containers SET current_hash = ?2, row_estimate = ?3, partitions = ?5, "
     "fingerprint = ?6 WHERE id = ?1 AND datastore_id = ?4"},
    {offsetof(commit_ctx, set_oid),
     "UPDATE container_versions SET oid = ?2 "
     "WHERE id = ?1 AND container_id = ?3 AND valid_to IS NULL"},
    {offsetof(commit_ctx, set_rules),
     "UPDATE container_versions SET read_rules = ?2 "
     "WHERE id = ?1 AND container_id = ?3 AND valid_to IS NULL AND read_rules < ?2"},
    {offsetof(commit_ctx, ins_field),
     "INSERT INTO field_versions(container_id, name, attnum, position, type, "
     "not_null, default_expr, comment, encoding, valid_from, identity, generated) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"},
    {offsetof(commit_ctx, check_key),
     "SELECT 1 FROM containers WHERE id = ?1 AND datastore_id = ?2"},
    {offsetof(commit_ctx, close_field),
     "UPDATE field_versions SET valid_to = ?3 "
     "WHERE id = ?1 AND container_id = ?2 AND valid_to IS NULL"},
    {offsetof(commit_ctx, ins_change),
     "INSERT INTO changes(run_id, datastore_id, container_id, kind, schema_name, "
     "container_name, field_name, attribute, \"before\", \"after\", breaking, impact) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"},
    {offsetof(commit_ctx, finish_run),
     "UPDATE runs SET status = ?2, finished_at = ?3, dialect = ?4, "
     "server_version = ?5, n_schemas = ?6, n_containers = ?7, n_fields = ?8, "
     "n_changes = ?9, n_held_back = ?10, error = ?11 "
     "WHERE id = ?1 AND status = 'running'"},
};

#define N_COMMIT_SQL (sizeof commit_sql / sizeof commit_sql[0])

static sqlite3_stmt **ctx_stmt(commit_ctx *c, size_t i)
{
    return (sqlite3_stmt **)(void *)((char *)c + commit_sql[i].offset);
}

/* Runs a bound write that must touch exactly one row (a version to close
 * that is no longer current means prev is stale). */
static int write_one(commit_ctx *c, sqlite3_stmt *st, const char *what)
{
    if (st_run_stmt(c->s, st, what, c->err) < 0)
        return -1;
    if (sqlite3_changes(c->s->db) != 1) {
        mc_error_set(c->err, MC_EXIT_STORE, "store: cannot %s: the stored "
                     "version is no longer current", what);
        mc_error_hint(c->err, "another process recorded a crawl of this "
                      "datastore meanwhile; crawl again");
        return -1;
    }
    return 0;
}

static int bad_change(commit_ctx *c, size_t i, const mc_change *ch,
                      const char *why)
{
    mc_error_set(c->err, MC_EXIT_STORE,
                 "store: cannot record change %zu (%s %s%s%s%s%s): %s", i,
                 mc_change_kind_name(ch->kind), ch->schema ? ch->schema : "?",
                 ch->container ? "." : "", ch->container ? ch->container : "",
                 ch->field ? "." : "", ch->field ? ch->field : "", why);
    mc_error_hint(c->err, "this is a bug in metacrawl; the store was left "
                  "unchanged");
    return -1;
}

static int insert_schema(commit_ctx *c, const mc_schema *sc)
{
    sqlite3_stmt *st = c->ins_schema;
    int bad = st_bind_i64(st, 1, c->ds) | st_bind_text(st, 2, sc->name) |
              st_bind_i64_or_null(st, 3, sc->oid) | st_bind_text(st, 4, sc->owner) |
              st_bind_text(st, 5, sc->comment) | st_bind_i64(st, 6, sc->external) |
              st_bind_i64(st, 7, c->run);
    if (bad)
        return st_bind_fail(c->s, c->err, "insert a schema version");
    return st_run_stmt(c->s, st, "insert a schema version", c->err);
}

static int close_schema(commit_ctx *c, const mc_schema *sc)
{
    sqlite3_stmt *st = c->close_schema;
    if (st_bind_i64(st, 1, sc->store_id) | st_bind_i64(st, 2, c->run) |
        st_bind_i64(st, 3, c->ds))
        return st_bind_fail(c->s, c->err, "close a schema version");
    return write_one(c, st, "close a schema version");
}

static int insert_cversion(commit_ctx *c, int64_t key, const mc_container *k)
{
    sqlite3_stmt *st = c->ins_cversion;
    int bad = st_bind_i64(st, 1, key) | st_bind_text(st, 2, k->schema) |
              st_bind_text(st, 3, k->name) | st_bind_i64_or_null(st, 4, k->oid) |
              st_bind_text(st, 5, mc_kind_name(k->kind)) |
              st_bind_text(st, 6, k->owner) | st_bind_text(st, 7, k->comment) |
              st_bind_text(st, 8, k->definition) |
              st_bind_text(st, 9, k->primary_key) |
              st_bind_text(st, 10, k->foreign_keys) |
              st_bind_text(st, 11, k->dist_style) | st_bind_text(st, 12, k->sort_key) |
              st_bind_i64(st, 13, c->run) | st_bind_text(st, 14, k->extension) |
              st_bind_i64(st, 15, STORE_READ_RULES) | st_bind_text(st, 16, k->depends_on);
    if (bad)
        return st_bind_fail(c->s, c->err, "insert a container version");
    return st_run_stmt(c->s, st, "insert a container version", c->err);
}

static int close_cversion(commit_ctx *c, const mc_container *k)
{
    sqlite3_stmt *st = c->close_cversion;
    if (st_bind_i64(st, 1, k->store_id) | st_bind_i64(st, 2, k->store_key) |
        st_bind_i64(st, 3, c->run))
        return st_bind_fail(c->s, c->err, "close a container version");
    return write_one(c, st, "close a container version");
}

/* The columns of a field version, in the order bind_field binds them. */
#define FIELD_VERSION_COLUMNS                                              \
    "container_id, name, attnum, position, type, not_null, default_expr, " \
    "comment, encoding, valid_from, identity, generated"
#define FIELD_VERSION_PARAMS 12

/* Binds field f of container key as the row whose first parameter is
 * base + 1. */
static int bind_field(commit_ctx *c, sqlite3_stmt *st, int base, int64_t key,
                      const mc_field *f)
{
    return st_bind_i64(st, base + 1, key) | st_bind_text(st, base + 2, f->name) |
           st_bind_i64_or_null(st, base + 3, f->attnum) |
           st_bind_i64(st, base + 4, f->position) | st_bind_text(st, base + 5, f->type) |
           st_bind_i64(st, base + 6, f->not_null) |
           st_bind_text(st, base + 7, f->default_expr) |
           st_bind_text(st, base + 8, f->comment) |
           st_bind_text(st, base + 9, f->encoding) | st_bind_i64(st, base + 10, c->run) |
           st_bind_text(st, base + 11, f->identity) |
           st_bind_text(st, base + 12, f->generated);
}

static int insert_field(commit_ctx *c, int64_t key, const mc_field *f)
{
    sqlite3_stmt *st = c->ins_field;
    if (bind_field(c, st, 0, key, f))
        return st_bind_fail(c->s, c->err, "insert a field version");
    return st_run_stmt(c->s, st, "insert a field version", c->err);
}

/* The multi-row insert of 2 << i field versions, prepared when first
 * needed.  The container and the run are ?1 and ?2 of every row; a row's
 * own values are the FIELD_ROW_PARAMS from ?(3 + row * FIELD_ROW_PARAMS)
 * on, in the order bind_field_row binds them. */
#define FIELD_ROW_PARAMS 10
static sqlite3_stmt *batch_stmt(commit_ctx *c, size_t i)
{
    if (c->ins_fields[i])
        return c->ins_fields[i];
    mc_buf b = {0};
    mc_buf_puts(&b, "INSERT INTO field_versions(container_id, valid_from, name, attnum, "
                    "position, type, not_null, default_expr, comment, encoding, identity, "
                    "generated) VALUES ");
    for (size_t r = 0; r < (size_t)2 << i; r++) {
        mc_buf_puts(&b, r ? ",(?1,?2" : "(?1,?2");
        for (size_t p = 0; p < FIELD_ROW_PARAMS; p++)
            mc_buf_printf(&b, ",?%zu", 3 + r * FIELD_ROW_PARAMS + p);
        mc_buf_putc(&b, ')');
    }
    c->ins_fields[i] = st_prep(c->s, mc_buf_str(&b), "prepare the run's writes", c->err);
    mc_buf_free(&b);
    return c->ins_fields[i];
}

/* Binds the values of field f that are not NULL (the statement's bindings
 * were cleared) from parameter base + 1 on. */
static int bind_field_row(sqlite3_stmt *st, int base, const mc_field *f)
{
    int bad = st_bind_text(st, base + 1, f->name) | st_bind_i64(st, base + 3, f->position) |
              st_bind_i64(st, base + 5, f->not_null);
    if (f->attnum)
        bad |= st_bind_i64(st, base + 2, f->attnum);
    const struct {
        int at;
        const char *v;
    } text[] = {{4, f->type},     {6, f->default_expr}, {7, f->comment},
                {8, f->encoding}, {9, f->identity},     {10, f->generated}};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        if (text[i].v)
            bad |= st_bind_text(st, base + text[i].at, text[i].v);
    return bad;
}

/* Inserts the n fields f of container key (in position order: the
 * index-friendly order) with as few statements as it takes: batches of
 * FIELD_BATCH rows, then one of each smaller power of two.  A statement
 * costs its start (cursors on the table and both indexes) whatever its
 * rows; a NULL costs nothing to bind after sqlite3_clear_bindings. */
static int insert_fields(commit_ctx *c, int64_t key, const mc_field *f, size_t n)
{
    const char *what = "insert a field version";
    while (n > 1) {
        size_t i = N_FIELD_BATCHES - 1;
        while (n < (size_t)2 << i)
            i--;
        size_t rows = (size_t)2 << i;
        sqlite3_stmt *st = batch_stmt(c, i);
        if (!st)
            return -1;
        int bad = sqlite3_clear_bindings(st) | st_bind_i64(st, 1, key) |
                  st_bind_i64(st, 2, c->run);
        for (size_t r = 0; r < rows; r++)
            bad |= bind_field_row(st, (int)(2 + r * FIELD_ROW_PARAMS), &f[r]);
        if (bad)
            return st_bind_fail(c->s, c->err, what);
        if (st_run_stmt(c->s, st, what, c->err) < 0)
            return -1;
        f += rows;
        n -= rows;
    }
    return n ? insert_field(c, key, f) : 0;
}

static int close_field(commit_ctx *c, int64_t key, const mc_field *f)
{
    sqlite3_stmt *st = c->close_field;
    if (st_bind_i64(st, 1, f->store_id) | st_bind_i64(st, 2, key) |
        st_bind_i64(st, 3, c->run))
        return st_bind_fail(c->s, c->err, "close a field version");
    return write_one(c, st, "close a field version");
}

/* A hash of 0 (compare again) goes with no fingerprint (read again). */
static int set_container(commit_ctx *c, const mc_container *pk, uint64_t hash,
                         double estimate, const char *partitions,
                         const char *fingerprint)
{
    sqlite3_stmt *st = c->set_container;
    if (st_bind_i64(st, 1, pk->store_key) | st_bind_i64(st, 2, (int64_t)hash) |
        bind_estimate(st, 3, estimate) | st_bind_i64(st, 4, c->ds) |
        st_bind_text(st, 5, partitions) |
        st_bind_text(st, 6, hash ? fingerprint : NULL))
        return st_bind_fail(c->s, c->err, "update a container");
    return write_one(c, st, "update a container");
}

/* Checks that a prev container can be written through: it came from the
 * store (and, when fields are needed, with its fields). */
static const char *prev_container_problem(const commit_ctx *c, ptrdiff_t pi,
                                          bool need_fields)
{
    if (!in_range(pi, c->prev->n_containers))
        return "previous container index out of range";
    const mc_container *k = &c->prev->containers[pi];
    if (k->store_key <= 0 || k->store_id <= 0)
        return "the previous container did not come from the store";
    if (need_fields && !k->fields_loaded)
        return "the previous container's fields were not loaded";
    if (need_fields && (k->first_field > c->prev->n_fields ||
                        k->n_fields > c->prev->n_fields - k->first_field))
        return "the previous container's fields are out of range";
    return NULL;
}

static const char *cur_container_problem(const commit_ctx *c, ptrdiff_t ci)
{
    if (!in_range(ci, c->cur->n_containers))
        return "current container index out of range";
    const mc_container *k = &c->cur->containers[ci];
    if (k->fields_elsewhere)
        return c->src ? NULL : "the current container's fields are elsewhere and "
                               "no field source was given";
    if (k->first_field > c->cur->n_fields ||
        k->n_fields > c->cur->n_fields - k->first_field)
        return "the current container's fields are out of range";
    return NULL;
}

/*
 * The fields of cur container ci (checked by cur_container_problem): from
 * cur->fields, or from the field source when they are elsewhere (the last
 * container served is kept: the source's array stays valid until its next
 * call).  Every read of cur's fields goes through here.
 */
static int cur_fields(commit_ctx *c, size_t ci, const mc_field **out, size_t *n)
{
    const mc_container *k = &c->cur->containers[ci];
    if (!k->fields_elsewhere) {
        *out = c->cur->fields + k->first_field;
        *n = k->n_fields;
        return 0;
    }
    if (!c->src_fields || c->src_container != ci) {
        const mc_field *f = NULL;
        size_t got = 0;
        c->src_fields = NULL;
        if (c->src->fields(c->src->arg, ci, &f, &got, c->err) < 0) {
            if (!mc_error_is_set(c->err))
                mc_error_set(c->err, MC_EXIT_STORE, "store: cannot read the fields of "
                             "%s.%s from the crawl", k->schema, k->name);
            return -1;
        }
        if (got != k->n_fields || (got && !f))
            return mc_error_set(c->err, MC_EXIT_STORE, "store: the crawl gave %zu fields "
                                "for %s.%s, which has %zu; this is a bug in metacrawl",
                                got, k->schema, k->name, k->n_fields);
        static const mc_field none; /* a container without fields */
        c->src_container = ci;
        c->src_fields = f ? f : &none;
        c->src_n = got;
    }
    *out = c->src_fields;
    *n = c->src_n;
    return 0;
}

/* With foreign keys off for the commit (store_commit_run_src), the one
 * write whose target nothing else verifies is a field added to a prev
 * container: check once that its containers row is this datastore's. */
static int check_prev_key(commit_ctx *c, size_t i, const mc_change *ch, ptrdiff_t pc)
{
    if (c->key_checked[pc])
        return 0;
    sqlite3_stmt *st = c->check_key;
    const char *what = "check a container";
    if (st_bind_i64(st, 1, c->prev->containers[pc].store_key) | st_bind_i64(st, 2, c->ds))
        return st_bind_fail(c->s, c->err, what);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return bad_change(c, i, ch, "the previous container is not in the store "
                          "(no such containers row of this datastore)");
    if (rc != SQLITE_ROW)
        return st_db_fail(c->s, c->err, what);
    c->key_checked[pc] = 1;
    return 0;
}

/* The prev container of a field change: as given, or through the pairing
 * when the diff only named the cur container. */
static ptrdiff_t field_prev_container(const commit_ctx *c, const mc_change *ch)
{
    if (ch->prev_container >= 0)
        return ch->prev_container;
    if (c->cur_to_prev && in_range(ch->cur_container, c->cur->n_containers))
        return c->cur_to_prev[ch->cur_container];
    return -1;
}

static bool field_in(const mc_container *k, ptrdiff_t fi)
{
    return fi >= 0 && (size_t)fi >= k->first_field &&
           (size_t)fi < k->first_field + k->n_fields;
}

/* Applies one change to the versioned tables; *cid_out is the containers
 * row it concerns (0 for schema changes). */
static int apply_change(commit_ctx *c, size_t i, const mc_change *ch,
                        int64_t *cid_out)
{
    const mc_catalog *prev = c->prev, *cur = c->cur;
    const char *why;
    *cid_out = 0;
    switch (ch->kind) {
    case MC_SCHEMA_ADDED:
        if (!in_range(ch->cur_index, cur->n_schemas))
            return bad_change(c, i, ch, "current schema index out of range");
        if (c->cur_schema_added[ch->cur_index])
            return 0; /* reported twice: written once */
        c->cur_schema_added[ch->cur_index] = 1;
        return insert_schema(c, &cur->schemas[ch->cur_index]);

    case MC_SCHEMA_REMOVED:
    case MC_SCHEMA_CHANGED: {
        bool removed = ch->kind == MC_SCHEMA_REMOVED;
        if (!in_range(ch->prev_index, prev->n_schemas))
            return bad_change(c, i, ch, "previous schema index out of range");
        if (!removed && !in_range(ch->cur_index, cur->n_schemas))
            return bad_change(c, i, ch, "current schema index out of range");
        const mc_schema *ps = &prev->schemas[ch->prev_index];
        if (ps->store_id <= 0)
            return bad_change(c, i, ch, "the previous schema did not come from "
                              "the store");
        unsigned char *done = &c->schema_done[ch->prev_index];
        unsigned char want = removed ? DONE_REMOVED : DONE_VERSIONED;
        if (*done == want)
            return 0; /* another attribute of the same schema */
        if (*done)
            return bad_change(c, i, ch, "the schema is both changed and removed");
        *done = want;
        if (close_schema(c, ps) < 0)
            return -1;
        return removed ? 0 : insert_schema(c, &cur->schemas[ch->cur_index]);
    }

    case MC_CONTAINER_ADDED: {
        if ((why = cur_container_problem(c, ch->cur_index)))
            return bad_change(c, i, ch, why);
        if (c->new_key[ch->cur_index]) {
            *cid_out = c->new_key[ch->cur_index];
            return 0;
        }
        const mc_container *k = &cur->containers[ch->cur_index];
        sqlite3_stmt *st = c->ins_container;
        if (st_bind_i64(st, 1, c->ds) | st_bind_i64(st, 2, (int64_t)k->hash) |
            bind_estimate(st, 3, k->row_estimate) | st_bind_text(st, 4, k->partitions) |
            st_bind_text(st, 5, k->fingerprint))
            return st_bind_fail(c->s, c->err, "insert a container");
        if (st_run_stmt(c->s, st, "insert a container", c->err) < 0)
            return -1;
        int64_t key = (int64_t)sqlite3_last_insert_rowid(c->s->db);
        c->new_key[ch->cur_index] = key;
        *cid_out = key;
        if (insert_cversion(c, key, k) < 0)
            return -1;
        /* The diff reports no field_added for a new container's fields. */
        const mc_field *fields;
        size_t n;
        if (cur_fields(c, (size_t)ch->cur_index, &fields, &n) < 0)
            return -1;
        return insert_fields(c, key, fields, n);
    }

    case MC_CONTAINER_REMOVED:
    case MC_CONTAINER_RENAMED:
    case MC_CONTAINER_CHANGED: {
        bool removed = ch->kind == MC_CONTAINER_REMOVED;
        if ((why = prev_container_problem(c, ch->prev_index, false)))
            return bad_change(c, i, ch, why);
        if (!removed && (why = cur_container_problem(c, ch->cur_index)))
            return bad_change(c, i, ch, why);
        const mc_container *pk = &prev->containers[ch->prev_index];
        *cid_out = pk->store_key;
        unsigned char *done = &c->container_done[ch->prev_index];
        unsigned char want = removed ? DONE_REMOVED : DONE_VERSIONED;
        if (*done == want)
            return 0;
        if (*done)
            return bad_change(c, i, ch, "the container is both changed and "
                              "removed");
        *done = want;
        if (close_cversion(c, pk) < 0)
            return -1;
        if (!removed)
            return insert_cversion(c, pk->store_key,
                                   &cur->containers[ch->cur_index]);
        /* Its fields go with it, without field_removed events. */
        sqlite3_stmt *st = c->close_cfields;
        if (st_bind_i64(st, 1, pk->store_key) | st_bind_i64(st, 2, c->run))
            return st_bind_fail(c->s, c->err, "close a container's fields");
        if (st_run_stmt(c->s, st, "close a container's fields", c->err) < 0)
            return -1;
        return set_container(c, pk, 0, pk->row_estimate, pk->partitions, NULL);
    }

    case MC_FIELD_ADDED:
    case MC_FIELD_REMOVED:
    case MC_FIELD_RENAMED:
    case MC_FIELD_CHANGED: {
        bool added = ch->kind == MC_FIELD_ADDED;
        bool removed = ch->kind == MC_FIELD_REMOVED;
        ptrdiff_t pc = field_prev_container(c, ch);
        if ((why = prev_container_problem(c, pc, !added)))
            return bad_change(c, i, ch, why);
        const mc_container *pk = &prev->containers[pc];
        *cid_out = pk->store_key;
        if (ch->cur_container >= 0 &&
            (why = cur_container_problem(c, ch->cur_container)))
            return bad_change(c, i, ch, why);
        const mc_field *cf = NULL;
        unsigned char *added_flag = NULL;
        if (!removed) {
            const mc_container *ck = ch->cur_container >= 0
                                         ? &cur->containers[ch->cur_container] : NULL;
            if (ck && ck->fields_elsewhere) {
                /* cur_index is first_field + the field's place in what the
                 * source serves for the container */
                const mc_field *fs;
                size_t nf;
                if (!field_in(ck, ch->cur_index))
                    return bad_change(c, i, ch, "the current field is not in the "
                                      "current container");
                if (cur_fields(c, (size_t)ch->cur_container, &fs, &nf) < 0)
                    return -1;
                size_t at = (size_t)ch->cur_index - ck->first_field;
                cf = &fs[at];
                if (added) {
                    unsigned char **flags = &c->elsewhere_added[ch->cur_container];
                    if (!*flags)
                        *flags = mc_calloc(ck->n_fields + 1, 1);
                    added_flag = &(*flags)[at];
                }
            } else {
                if (!in_range(ch->cur_index, cur->n_fields))
                    return bad_change(c, i, ch, "current field index out of range");
                if (ck && !field_in(ck, ch->cur_index))
                    return bad_change(c, i, ch, "the current field is not in the "
                                      "current container");
                cf = &cur->fields[ch->cur_index];
                added_flag = &c->cur_field_added[ch->cur_index];
            }
        }
        if (added) {
            if (*added_flag)
                return 0;
            *added_flag = 1;
            if (check_prev_key(c, i, ch, pc) < 0)
                return -1;
            return insert_field(c, pk->store_key, cf);
        }
        if (!field_in(pk, ch->prev_index))
            return bad_change(c, i, ch, "previous field index out of range");
        const mc_field *pf = &prev->fields[ch->prev_index];
        if (pf->store_id <= 0)
            return bad_change(c, i, ch, "the previous field did not come from "
                              "the store");
        unsigned char *done = &c->field_done[ch->prev_index];
        unsigned char want = removed ? DONE_REMOVED : DONE_VERSIONED;
        if (*done == want)
            return 0;
        if (*done)
            return bad_change(c, i, ch, "the field is both changed and removed");
        *done = want;
        if (close_field(c, pk->store_key, pf) < 0)
            return -1;
        return removed ? 0 : insert_field(c, pk->store_key, cf);
    }

    default:
        return bad_change(c, i, ch, "unknown change kind");
    }
}

static int insert_change(commit_ctx *c, const mc_change *ch, int64_t cid)
{
    sqlite3_stmt *st = c->ins_change;
    int bad = st_bind_i64(st, 1, c->run) | st_bind_i64(st, 2, c->ds) |
              st_bind_i64_or_null(st, 3, cid) |
              st_bind_text(st, 4, mc_change_kind_name(ch->kind)) |
              st_bind_text(st, 5, ch->schema) | st_bind_text(st, 6, ch->container) |
              st_bind_text(st, 7, ch->field) | st_bind_text(st, 8, ch->attribute) |
              st_bind_text(st, 9, ch->before) | st_bind_text(st, 10, ch->after) |
              st_bind_i64(st, 11, ch->breaking) | st_bind_text(st, 12, ch->impact);
    if (bad)
        return st_bind_fail(c->s, c->err, "record a change");
    return st_run_stmt(c->s, st, "record a change", c->err);
}

/*
 * Queues the change just inserted for every alert whose rules want it, in
 * the run's transaction: a run is never recorded without its deliveries
 * (docs/alerts.md, "Delivery guarantees").
 */
static int queue_change(commit_ctx *c, const mc_change *ch)
{
    if (!c->ins_outbox)
        return 0;
    int64_t change_id = (int64_t)sqlite3_last_insert_rowid(c->s->db);
    return st_queue_change(c->s, c->ins_outbox, c->ds_name, ch, change_id, mc_time_now(),
                           c->err);
}

/* Stored hashes and row estimates of the containers that are still there
 * (invariant 4: only what moved is written). */
static int update_pairs(commit_ctx *c, const unsigned char *held)
{
    const mc_catalog *prev = c->prev, *cur = c->cur;
    for (size_t i = 0; i < cur->n_containers; i++) {
        ptrdiff_t p = c->cur_to_prev ? c->cur_to_prev[i] : -1;
        if (p < 0)
            continue;
        if (!in_range(p, prev->n_containers))
            return mc_error_set(c->err, MC_EXIT_STORE, "store: cannot record "
                                "the run: container pairing %zu -> %td is out "
                                "of range", i, p);
        const mc_container *pk = &prev->containers[p];
        const mc_container *ck = &cur->containers[i];
        if (c->container_done[p] == DONE_REMOVED)
            continue;
        if (pk->store_key <= 0)
            return mc_error_set(c->err, MC_EXIT_STORE, "store: cannot record "
                                "the run: container %s.%s did not come from "
                                "the store", pk->schema, pk->name);
        /* A table dropped and created again under its name is the same
         * container with a new oid.  The oid is not a compared attribute,
         * so it is refreshed in place rather than versioned: the next
         * crawl can then still recognise a rename by it. */
        if (ck->oid && ck->oid != pk->oid &&
            c->container_done[p] != DONE_VERSIONED) {
            sqlite3_stmt *st = c->set_oid;
            if (st_bind_i64(st, 1, pk->store_id) | st_bind_i64(st, 2, ck->oid) |
                st_bind_i64(st, 3, pk->store_key))
                return st_bind_fail(c->s, c->err, "update a container's oid");
            if (write_one(c, st, "update a container's oid") < 0)
                return -1;
        }
        /* Recorded before the current reading rules and not versioned
         * now: the diff compared it under the new rules, so it is up to
         * date (store.h, mc_container.legacy). */
        if ((pk->legacy || pk->depends_unread) && c->container_done[p] != DONE_VERSIONED) {
            sqlite3_stmt *st = c->set_rules;
            if (st_bind_i64(st, 1, pk->store_id) | st_bind_i64(st, 2, STORE_READ_RULES) |
                st_bind_i64(st, 3, pk->store_key))
                return st_bind_fail(c->s, c->err, "update a container's reading rules");
            if (write_one(c, st, "update a container's reading rules") < 0)
                return -1;
        }
        uint64_t hash = (held[p] & 1) ? 0 : ck->hash;
        /* Facts, not versions: the latest estimate and partitions.  An
         * unknown estimate is recorded as unknown (a table created again,
         * or never analysed since it was rewritten, has none). */
        bool moved = ck->row_estimate != pk->row_estimate;
        bool parts_moved = (ck->partitions == NULL) != (pk->partitions == NULL) ||
                           (ck->partitions && strcmp(ck->partitions, pk->partitions) != 0);
        bool fp_moved = (ck->fingerprint == NULL) != (pk->fingerprint == NULL) ||
                        (ck->fingerprint && strcmp(ck->fingerprint, pk->fingerprint) != 0);
        if (hash == pk->hash && !moved && !parts_moved && !fp_moved)
            continue;
        if (set_container(c, pk, hash, ck->row_estimate, ck->partitions,
                          ck->fingerprint) < 0)
            return -1;
    }
    return 0;
}

/*
 * The commit as a bulk write.  Its writes are correct by construction
 * where foreign keys would check them row by row: rows only ever reference
 * the run checked to be running under the write lock, containers rows
 * inserted here or read from the store by prev (whose run count is checked
 * under the lock; the store never deletes a containers row), and changes
 * inserted here; the one target nothing else verifies, a field added to a
 * prev container, is checked once per container (check_prev_key).  So
 * foreign keys are off for the transaction (a pragma cannot change inside
 * one; it is restored after), and the page cache is sized for the write.
 */
#define COMMIT_CACHE_KIB 16384

/* The connection's setting of an integer pragma, or fallback. */
static int64_t pragma_value(store *s, const char *sql, int64_t fallback)
{
    int64_t v = 0;
    bool found = false;
    if (st_query_i64(s, sql, NULL, &v, &found, "read a setting", NULL) < 0 || !found)
        return fallback;
    return v;
}

/* Sets an integer pragma (n is our own number: invariant 5's exception). */
static int set_pragma(store *s, const char *name, int64_t n, mc_error *err)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA %s = %lld", name, (long long)n);
    return st_exec_sql(s, sql, "set up the run's write", err);
}

static int commit_run(store *s, int64_t run_id, const mc_catalog *prev,
                      const mc_catalog *cur, const mc_changes *changes,
                      const ptrdiff_t *cur_to_prev,
                      const size_t *hold_back_containers, size_t n_hold_back,
                      const mc_run_summary *summary, const store_field_source *src,
                      mc_error *err);

int store_commit_run(store *s, int64_t run_id, const mc_catalog *prev,
                     const mc_catalog *cur, const mc_changes *changes,
                     const ptrdiff_t *cur_to_prev,
                     const size_t *hold_back_containers, size_t n_hold_back,
                     const mc_run_summary *summary, mc_error *err)
{
    return store_commit_run_src(s, run_id, prev, cur, changes, cur_to_prev,
                                hold_back_containers, n_hold_back, summary, NULL, err);
}

int store_commit_run_src(store *s, int64_t run_id, const mc_catalog *prev,
                         const mc_catalog *cur, const mc_changes *changes,
                         const ptrdiff_t *cur_to_prev,
                         const size_t *hold_back_containers, size_t n_hold_back,
                         const mc_run_summary *summary, const store_field_source *src,
                         mc_error *err)
{
    if (src && !src->fields)
        return mc_error_set(err, MC_EXIT_STORE, "store: cannot record run %lld: a field "
                            "source without a function", (long long)run_id);
    int64_t fk = pragma_value(s, "PRAGMA foreign_keys", 1);
    int64_t cache = pragma_value(s, "PRAGMA cache_size", -2000);
    /* cache_size: pages when positive, KiB when negative */
    int64_t cache_kib = cache < 0 ? -cache : cache * pragma_value(s, "PRAGMA page_size", 4096) / 1024;
    bool grow = cache_kib < COMMIT_CACHE_KIB;
    if ((fk && set_pragma(s, "foreign_keys", 0, err) < 0) ||
        (grow && set_pragma(s, "cache_size", -COMMIT_CACHE_KIB, err) < 0)) {
        if (fk)
            set_pragma(s, "foreign_keys", fk, NULL);
        return -1;
    }
    int rc = commit_run(s, run_id, prev, cur, changes, cur_to_prev, hold_back_containers,
                        n_hold_back, summary, src, err);
    /* Restored whatever happened: after COMMIT or ROLLBACK, outside any
     * transaction.  A failure to restore is a failed commit's error only
     * when the commit itself went well. */
    mc_error restore = {0};
    if ((fk && set_pragma(s, "foreign_keys", fk, &restore) < 0) ||
        (grow && set_pragma(s, "cache_size", cache, &restore) < 0)) {
        if (rc == 0)
            mc_log(MC_LOG_WARN, "%s", restore.message);
    }
    mc_error_clear(&restore);
    return rc;
}

static int commit_run(store *s, int64_t run_id, const mc_catalog *prev,
                      const mc_catalog *cur, const mc_changes *changes,
                      const ptrdiff_t *cur_to_prev,
                      const size_t *hold_back_containers, size_t n_hold_back,
                      const mc_run_summary *summary, const store_field_source *src,
                      mc_error *err)
{
    if (!prev || !cur || !summary ||
        (summary->status != MC_RUN_OK && summary->status != MC_RUN_PARTIAL))
        return mc_error_set(err, MC_EXIT_STORE, "store: cannot record run %lld: "
                            "%s", (long long)run_id,
                            summary ? "a finished run is ok or partial"
                                    : "missing catalog or summary");
    if (!cur_to_prev && cur->n_containers && prev->n_containers)
        return mc_error_set(err, MC_EXIT_STORE, "store: cannot record run %lld: "
                            "no container pairing given", (long long)run_id);

    commit_ctx c = {.s = s, .run = run_id, .prev = prev, .cur = cur,
                    .cur_to_prev = cur_to_prev, .err = err, .src = src};
    size_t n_changes = changes ? changes->n : 0;
    int64_t *cids = mc_calloc(n_changes + 1, sizeof *cids);
    unsigned char *held = mc_calloc(prev->n_containers + 1, 1);
    c.schema_done = mc_calloc(prev->n_schemas + 1, 1);
    c.container_done = mc_calloc(prev->n_containers + 1, 1);
    c.field_done = mc_calloc(prev->n_fields + 1, 1);
    c.new_key = mc_calloc(cur->n_containers + 1, sizeof *c.new_key);
    c.cur_schema_added = mc_calloc(cur->n_schemas + 1, 1);
    c.cur_field_added = mc_calloc(cur->n_fields + 1, 1);
    c.elsewhere_added = mc_calloc(cur->n_containers + 1, sizeof *c.elsewhere_added);
    c.key_checked = mc_calloc(prev->n_containers + 1, 1);
    int ret = -1;

    for (size_t i = 0; i < n_hold_back; i++) {
        if (hold_back_containers[i] >= prev->n_containers) {
            mc_error_set(err, MC_EXIT_STORE, "store: cannot record run %lld: "
                         "held-back container index %zu out of range",
                         (long long)run_id, hold_back_containers[i]);
            goto out;
        }
        held[hold_back_containers[i]] = 1;
    }

    if (st_exec_sql(s, "BEGIN IMMEDIATE", "start recording the run", err) < 0)
        goto out;
    /* The run must exist and still be running; its datastore is the one
     * every row of this commit belongs to. */
    {
        sqlite3_stmt *q = st_prep(s, "SELECT r.datastore_id, r.status, d.name "
                                  "FROM runs r JOIN datastores d "
                                  "ON d.id = r.datastore_id WHERE r.id = ?1",
                                  "read the run", err);
        if (!q)
            goto out;
        int rc = st_bind_i64(q, 1, run_id) ? -1 : sqlite3_step(q);
        bool running = false;
        if (rc == SQLITE_ROW) {
            c.ds = st_col_i64(q, 0);
            const char *st = (const char *)sqlite3_column_text(q, 1);
            running = st && strcmp(st, "running") == 0;
            c.ds_name = mc_strdup((const char *)sqlite3_column_text(q, 2));
        } else if (rc != SQLITE_DONE) {
            st_db_fail(s, err, "read the run");
        }
        sqlite3_finalize(q);
        if (mc_error_is_set(err))
            goto out;
        if (rc != SQLITE_ROW || !running) {
            mc_error_set(err, MC_EXIT_STORE, "store: cannot record run %lld: %s",
                         (long long)run_id, rc == SQLITE_ROW
                             ? "it is no longer running" : "no such run");
            goto out;
        }
    }
    /* Under the write lock: has another run of this datastore been recorded
     * since prev was read?  Then prev is not the current catalog any more,
     * and these changes (a table "added" twice, then "removed") would be
     * wrong.  Two crawls of one datastore are kept apart by the crawl lock
     * (crawler/lock.c); this catches whatever got past it. */
    if (prev->store_commits > 0) {
        int64_t n_now = 0, newest = 0;
        if (store_recorded_runs(s, c.ds, &n_now, &newest, err) < 0)
            goto out;
        if (n_now + 1 != prev->store_commits) {
            mc_error_set(err, MC_EXIT_STORE,
                         "not recorded: run %lld of datastore '%s' was recorded by "
                         "another crawl after this one read the stored catalog",
                         (long long)newest, c.ds_name ? c.ds_name : "?");
            mc_error_hint(err, "nothing of this run was written; crawl again.  Two "
                               "crawls of one datastore ran at once: does another "
                               "host, or another path to the store, crawl it too?");
            goto out;
        }
    }
    for (size_t i = 0; i < N_COMMIT_SQL; i++)
        if (!(*ctx_stmt(&c, i) = st_prep(s, commit_sql[i].sql,
                                          "prepare the run's writes", err)))
            goto out;

    for (size_t i = 0; i < n_changes; i++)
        if (apply_change(&c, i, &changes->items[i], &cids[i]) < 0)
            goto out;
    if (update_pairs(&c, held) < 0)
        goto out;
    /* A container held back whole (its removal not recorded) has no pair;
     * zero its hash too so the next crawl looks at it again. */
    for (size_t i = 0; cur_to_prev && i < cur->n_containers; i++)
        if (cur_to_prev[i] >= 0) /* in range: update_pairs checked */
            held[cur_to_prev[i]] |= 2;
    for (size_t p = 0; p < prev->n_containers; p++) {
        if (held[p] != 1 || c.container_done[p] == DONE_REMOVED ||
            prev->containers[p].hash == 0)
            continue;
        if (prev->containers[p].store_key > 0 &&
            set_container(&c, &prev->containers[p], 0,
                          prev->containers[p].row_estimate,
                          prev->containers[p].partitions, NULL) < 0)
            goto out;
    }
    /* A baseline run writes its versions but no events: nothing changed. */
    size_t n_events = 0;
    if (!summary->baseline && s->rules && s->rules->n &&
        !(c.ins_outbox = st_prep(s, ST_OUTBOX_INSERT_SQL,
                                 "prepare the alert queue", err)))
        goto out;
    for (size_t i = 0; !summary->baseline && i < n_changes; i++) {
        if (changes->items[i].silent) /* a version, not an event */
            continue;
        if (insert_change(&c, &changes->items[i], cids[i]) < 0 ||
            queue_change(&c, &changes->items[i]) < 0)
            goto out;
        n_events++;
    }

    /* Table facts: beside the catalog, never a version (facts.c). */
    {
        int64_t *key_of = mc_calloc(cur->n_containers + 1, sizeof *key_of);
        for (size_t i = 0; i < cur->n_containers; i++) {
            ptrdiff_t p = cur_to_prev ? cur_to_prev[i] : -1;
            key_of[i] = p >= 0 ? prev->containers[p].store_key : c.new_key[i];
        }
        int frc = st_commit_facts(s, run_id, cur, key_of, summary->facts, err);
        free(key_of);
        if (frc < 0)
            goto out;
    }
    {
        sqlite3_stmt *st = c.finish_run;
        int bad = st_bind_i64(st, 1, run_id) |
                  st_bind_text(st, 2, mc_run_status_name(summary->status)) |
                  st_bind_i64(st, 3, mc_time_now()) |
                  st_bind_text(st, 4, summary->dialect) |
                  st_bind_text(st, 5, summary->server_version) |
                  st_bind_i64(st, 6, (int64_t)cur->n_schemas) |
                  st_bind_i64(st, 7, (int64_t)cur->n_containers) |
                  st_bind_i64(st, 8, (int64_t)mc_catalog_field_count(cur)) |
                  st_bind_i64(st, 9, (int64_t)n_events) |
                  st_bind_i64(st, 10, summary->n_held_back) |
                  st_bind_text(st, 11, summary->error);
        if (bad) {
            st_bind_fail(s, err, "finish the run");
            goto out;
        }
        if (write_one(&c, st, "finish the run") < 0)
            goto out;
    }
    if (st_exec_sql(s, "COMMIT", "commit the run", err) < 0)
        goto out;
    ret = 0;
out:
    for (size_t i = 0; i < N_COMMIT_SQL; i++)
        sqlite3_finalize(*ctx_stmt(&c, i));
    sqlite3_finalize(c.ins_outbox);
    for (size_t i = 0; i < N_FIELD_BATCHES; i++)
        sqlite3_finalize(c.ins_fields[i]);
    if (ret < 0)
        st_rollback(s);
    free(c.ds_name);
    free(cids);
    free(held);
    free(c.schema_done);
    free(c.container_done);
    free(c.field_done);
    free(c.new_key);
    free(c.cur_schema_added);
    free(c.cur_field_added);
    for (size_t i = 0; i < cur->n_containers; i++)
        free(c.elsewhere_added[i]);
    free(c.elsewhere_added);
    free(c.key_checked);
    return ret;
}
