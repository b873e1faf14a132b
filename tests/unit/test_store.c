/*
 * test_store.c — the catalog model (store/catalog.c) and the SQLite store
 * (store/store.c): sorting and hashing, open/migrate/refuse, the run life
 * cycle, recording every change kind and reading it back as it is and as
 * it was, hold-backs, rollback on a bad change, search and listings, the
 * alert outbox, and the upgrade of a store written by schema version 1.
 * Every test works in its own temporary directory; no network.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "store_internal.h"

/* ---- fixtures -------------------------------------------------------------- */

static char tmpdir[64];
static char dbpath[128];

static void make_tmp(void)
{
    strcpy(tmpdir, "/tmp/mc_store_test_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof dbpath, "%s/catalog.db", tmpdir);
}

static void remove_tmp(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal",
                                           "-alerts.lock"};
    char p[160];
    for (size_t i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s%s", dbpath, suffixes[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/not_sqlite", tmpdir);
    unlink(p);
    rmdir(tmpdir);
}

TestSuite(store, .init = make_tmp, .fini = remove_tmp);
TestSuite(catalog);

static store *open_ok(void)
{
    store *s = NULL;
    mc_error err = {0};
    int rc = store_open(dbpath, &s, &err);
    cr_assert_eq(rc, 0, "store_open: %s (%s)", err.message, err.hint);
    cr_assert_not_null(s);
    return s;
}

/* A second, raw connection to look at what the store wrote. */
static sqlite3 *raw_open(void)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL),
                 SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t raw_i64(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s",
                 sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    cr_assert(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s", sqlite3_errmsg(db));
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return v;
}

static char *raw_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    char *v = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s",
                 sql, sqlite3_errmsg(db));
}

/* The store's commits run with foreign keys off (commit.c): every reference
 * they wrote must still hold, and the store's connection has them on again. */
static void assert_foreign_keys_hold(store *s)
{
    sqlite3 *db = raw_open();
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL),
                 SQLITE_OK);
    int rc = sqlite3_step(st);
    cr_assert_eq(rc, SQLITE_DONE, "a dangling reference: %s row %lld -> %s",
                 rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "?",
                 rc == SQLITE_ROW ? (long long)sqlite3_column_int64(st, 1) : 0LL,
                 rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 2) : "?");
    sqlite3_finalize(st);
    sqlite3_close(db);
    int64_t on = 0;
    cr_assert_eq(st_query_i64(s, "PRAGMA foreign_keys", NULL, &on, NULL, "read", NULL), 0);
    cr_assert_eq(on, 1, "foreign keys are on again after a commit");
}

/* Every row of every table, as text: two equal dumps mean an unchanged store.
 * A table the store does not have (yet) is left out. */
/* The columns store schemas 3 and later added (left out of the dump of a store
 * downgraded to schema 1, which has none). */
static bool column_of_schema_3(const char *name)
{
    static const char *const added[] = {"identity", "generated", "extension",
                                        "read_rules", "partitions", "heartbeat_at",
                                        "process", "stale_since", "paused_at", "paused_by",
                                        "depends_on", "impact", "facts", "fingerprint"};
    for (size_t i = 0; i < sizeof added / sizeof added[0]; i++)
        if (strcmp(name, added[i]) == 0)
            return true;
    return false;
}

static bool dump_skip_schema_3;

static char *dump_store(void)
{
    static const char *const tables[] = {
        "datastores", "runs", "schema_versions", "containers",
        "container_versions", "field_versions", "changes", "alert_outbox",
    };
    sqlite3 *db = raw_open();
    mc_buf b = {0};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE "
                 "type = 'table' AND name = '%s'", tables[t]);
        if (raw_i64(db, sql) == 0)
            continue;
        snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY id", tables[t]);
        sqlite3_stmt *st = NULL;
        cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        mc_buf_printf(&b, "[%s]\n", tables[t]);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(st); i++) {
                if (dump_skip_schema_3 && column_of_schema_3(sqlite3_column_name(st, i)))
                    continue;
                const unsigned char *v = sqlite3_column_text(st, i);
                mc_buf_printf(&b, "%s|", v ? (const char *)v : "<null>");
            }
            mc_buf_putc(&b, '\n');
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return mc_buf_steal(&b);
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static const char *show(const char *s)
{
    return s ? s : "(null)";
}

/* ---- building catalogs by hand ------------------------------------------------ */

typedef struct col {
    const char *name, *type;
    bool not_null;
    const char *comment;
} col;

static mc_schema *add_schema(mc_catalog *c, const char *name, const char *owner,
                             const char *comment, int64_t oid)
{
    mc_schema *s = mc_catalog_add_schema(c);
    s->name = mc_arena_strdup(c->arena, name);
    s->owner = mc_arena_strdup(c->arena, owner);
    s->comment = mc_arena_strdup(c->arena, comment);
    s->oid = oid;
    s->usable = true;
    return s;
}

/* Adds a container and its fields (contiguous, positions 1..n); returns
 * its index, which mc_catalog_finish will change. */
static size_t add_table(mc_catalog *c, const char *schema, const char *name,
                        mc_kind kind, int64_t oid, double rows,
                        const char *comment, const col *cols, size_t n_cols)
{
    mc_container *k = mc_catalog_add_container(c);
    size_t idx = c->n_containers - 1;
    k->schema = mc_arena_strdup(c->arena, schema);
    k->name = mc_arena_strdup(c->arena, name);
    k->kind = kind;
    k->owner = "admin";
    k->comment = mc_arena_strdup(c->arena, comment);
    k->oid = oid;
    k->row_estimate = rows;
    k->first_field = c->n_fields;
    k->n_fields = n_cols;
    if (kind == MC_KIND_VIEW)
        k->definition = "SELECT 1";
    else
        k->primary_key = "[\"id\"]";
    for (size_t i = 0; i < n_cols; i++) {
        mc_field *f = mc_catalog_add_field(c);
        f->name = mc_arena_strdup(c->arena, cols[i].name);
        f->type = mc_arena_strdup(c->arena, cols[i].type);
        f->not_null = cols[i].not_null;
        f->comment = cols[i].comment;
        f->attnum = (int32_t)(i + 1);
        f->position = (int32_t)(i + 1);
    }
    return idx;
}

#define COLS(...) (const col[]){__VA_ARGS__}, sizeof((const col[]){__VA_ARGS__}) / sizeof(col)

/* Run 1's catalog. */
static mc_catalog *catalog_a(void)
{
    mc_catalog *c = mc_catalog_new();
    /* deliberately out of order: finish sorts */
    add_schema(c, "sales", "admin", NULL, 200);
    add_schema(c, "public", "admin", "main", 100);
    add_table(c, "sales", "old", MC_KIND_TABLE, 1004, 5, NULL,
              COLS({"a", "integer", false, NULL}));
    add_table(c, "public", "users", MC_KIND_TABLE, 1001, 10, "people",
              COLS({"id", "integer", true, NULL}, {"email", "text", false, NULL},
                   {"name", "text", false, NULL}));
    add_table(c, "sales", "leads", MC_KIND_VIEW, 1003, -1, NULL,
              COLS({"id", "integer", false, NULL}, {"src", "text", false, NULL}));
    add_table(c, "public", "orders", MC_KIND_TABLE, 1002, 1000, "orders",
              COLS({"id", "integer", true, NULL}, {"user_id", "integer", false, NULL},
                   {"total", "numeric(10,2)", false, NULL}));
    mc_catalog_finish(c);
    return c;
}

/* Run 2's catalog: see test "every_change_kind" for what changed. */
static mc_catalog *catalog_b(double orders_rows)
{
    mc_catalog *c = mc_catalog_new();
    add_schema(c, "public", "admin", "main schema", 100);
    add_schema(c, "archive", "etl", NULL, 300);
    add_table(c, "public", "customers", MC_KIND_TABLE, 1001, 10, "people",
              COLS({"id", "integer", true, NULL},
                   {"email_address", "text", false, NULL},
                   {"name", "varchar(100)", false, "full name"},
                   {"created_at", "timestamp", false, NULL}));
    add_table(c, "public", "orders", MC_KIND_TABLE, 1002, orders_rows,
              "orders placed",
              COLS({"id", "integer", true, NULL},
                   {"user_id", "integer", false, NULL}));
    add_table(c, "archive", "logs", MC_KIND_TABLE, 1005, 7, "100% of the logs",
              COLS({"id", "integer", true, NULL}, {"line", "text", false, NULL}));
    mc_catalog_finish(c);
    return c;
}

static ptrdiff_t sidx(const mc_catalog *c, const char *name)
{
    const mc_schema *s = mc_catalog_find_schema(c, name);
    cr_assert_not_null(s, "schema %s", name);
    return s - c->schemas;
}

static ptrdiff_t cidx(const mc_catalog *c, const char *schema, const char *name)
{
    const mc_container *k = mc_catalog_find(c, schema, name);
    cr_assert_not_null(k, "container %s.%s", schema, name);
    return k - c->containers;
}

static ptrdiff_t fidx(const mc_catalog *c, ptrdiff_t ci, const char *name)
{
    const mc_container *k = &c->containers[ci];
    cr_assert(k->fields_loaded || k->store_key == 0, "fields of %s not loaded",
              k->name);
    for (size_t i = 0; i < k->n_fields; i++)
        if (strcmp(c->fields[k->first_field + i].name, name) == 0)
            return (ptrdiff_t)(k->first_field + i);
    cr_assert_fail("field %s.%s not found", k->name, name);
    return -1;
}

static mc_change *chg(mc_changes *cs, mc_change_kind kind, const char *schema,
                      const char *container, const char *field)
{
    mc_change *ch = mc_changes_add(cs);
    ch->kind = kind;
    ch->schema = mc_arena_strdup(cs->arena, schema);
    ch->container = mc_arena_strdup(cs->arena, container);
    ch->field = mc_arena_strdup(cs->arena, field);
    return ch;
}

/* cur_to_prev by (schema, name), with explicit renames on top. */
static ptrdiff_t *pair_by_name(const mc_catalog *prev, const mc_catalog *cur)
{
    ptrdiff_t *m = calloc(cur->n_containers + 1, sizeof *m);
    for (size_t i = 0; i < cur->n_containers; i++) {
        const mc_container *p = mc_catalog_find(prev, cur->containers[i].schema,
                                                cur->containers[i].name);
        m[i] = p ? p - prev->containers : -1;
    }
    return m;
}

static void assert_catalog_eq(const mc_catalog *x, const mc_catalog *y,
                              bool same_hash)
{
    cr_assert_eq(x->n_schemas, y->n_schemas);
    for (size_t i = 0; i < x->n_schemas; i++) {
        const mc_schema *a = &x->schemas[i], *b = &y->schemas[i];
        cr_assert_str_eq(a->name, b->name);
        cr_assert(str_eq(a->owner, b->owner), "%s owner", a->name);
        cr_assert(str_eq(a->comment, b->comment), "%s comment %s vs %s", a->name,
                  show(a->comment), show(b->comment));
        cr_assert_eq(a->oid, b->oid);
        cr_assert_eq(a->external, b->external);
    }
    cr_assert_eq(x->n_containers, y->n_containers, "%zu vs %zu containers",
                 x->n_containers, y->n_containers);
    for (size_t i = 0; i < x->n_containers; i++) {
        const mc_container *a = &x->containers[i], *b = &y->containers[i];
        cr_assert_str_eq(a->schema, b->schema);
        cr_assert_str_eq(a->name, b->name);
        cr_assert_eq(a->kind, b->kind);
        cr_assert(str_eq(a->owner, b->owner));
        cr_assert(str_eq(a->comment, b->comment), "%s: %s vs %s", a->name,
                  show(a->comment), show(b->comment));
        cr_assert(str_eq(a->definition, b->definition));
        cr_assert(str_eq(a->primary_key, b->primary_key));
        cr_assert(str_eq(a->foreign_keys, b->foreign_keys));
        cr_assert(str_eq(a->dist_style, b->dist_style));
        cr_assert(str_eq(a->sort_key, b->sort_key));
        cr_assert_eq(a->oid, b->oid);
        cr_assert_eq(a->n_fields, b->n_fields, "%s: %zu vs %zu fields", a->name,
                     a->n_fields, b->n_fields);
        if (same_hash)
            cr_assert_eq(a->hash, b->hash, "%s hash", a->name);
        for (size_t j = 0; j < a->n_fields; j++) {
            const mc_field *f = &x->fields[a->first_field + j];
            const mc_field *g = &y->fields[b->first_field + j];
            cr_assert_str_eq(f->name, g->name);
            cr_assert(str_eq(f->type, g->type), "%s.%s type", a->name, f->name);
            cr_assert(str_eq(f->default_expr, g->default_expr));
            cr_assert(str_eq(f->comment, g->comment), "%s.%s comment", a->name,
                      f->name);
            cr_assert(str_eq(f->encoding, g->encoding));
            cr_assert_eq(f->not_null, g->not_null);
            cr_assert_eq(f->position, g->position);
            cr_assert_eq(f->attnum, g->attnum);
        }
    }
}

static int64_t begin_run(store *s, const char *ds)
{
    int64_t run = 0;
    mc_error err = {0};
    cr_assert_eq(store_run_begin(s, ds, 0, &run, &err), 0, "%s", err.message);
    cr_assert_gt(run, 0);
    return run;
}

static const mc_run_summary ok_summary = {
    .status = MC_RUN_OK, .dialect = "postgresql", .server_version = "16.2",
};

static void commit_ok(store *s, int64_t run, const mc_catalog *prev,
                      const mc_catalog *cur, const mc_changes *cs,
                      const ptrdiff_t *pairs, const size_t *held, size_t n_held)
{
    mc_error err = {0};
    int rc = store_commit_run(s, run, prev, cur, cs, pairs, held, n_held,
                              &ok_summary, &err);
    cr_assert_eq(rc, 0, "commit: %s (%s)", err.message, err.hint);
}

static mc_catalog *load_current(store *s, const char *ds)
{
    mc_catalog *c = NULL;
    mc_error err = {0};
    cr_assert_eq(store_load_current(s, ds, &c, &err), 0, "%s", err.message);
    return c;
}

static mc_catalog *load_as_of(store *s, const char *ds, int64_t run)
{
    mc_catalog *c = NULL;
    mc_error err = {0};
    cr_assert_eq(store_load_as_of(s, ds, run, &c, &err), 0, "%s", err.message);
    return c;
}

static void load_all_fields(store *s, mc_catalog *c)
{
    size_t *idx = calloc(c->n_containers + 1, sizeof *idx);
    for (size_t i = 0; i < c->n_containers; i++)
        idx[i] = i;
    mc_error err = {0};
    cr_assert_eq(store_load_fields(s, c, idx, c->n_containers, &err), 0, "%s",
                 err.message);
    free(idx);
}

/* Records run 1 (catalog A, everything added); returns its run id. */
static int64_t record_first_run(store *s, const char *ds)
{
    int64_t run = begin_run(s, ds);
    mc_catalog *prev = load_current(s, ds);
    cr_assert_eq(prev->n_containers, 0);
    mc_catalog *a = catalog_a();
    mc_changes cs;
    mc_changes_init(&cs);
    for (size_t i = 0; i < a->n_schemas; i++)
        chg(&cs, MC_SCHEMA_ADDED, a->schemas[i].name, NULL, NULL)->cur_index =
            (ptrdiff_t)i;
    for (size_t i = 0; i < a->n_containers; i++)
        chg(&cs, MC_CONTAINER_ADDED, a->containers[i].schema,
            a->containers[i].name, NULL)->cur_index = (ptrdiff_t)i;
    ptrdiff_t *pairs = pair_by_name(prev, a);
    commit_ok(s, run, prev, a, &cs, pairs, NULL, 0);
    free(pairs);
    mc_changes_free(&cs);
    mc_catalog_free(a);
    mc_catalog_free(prev);
    return run;
}

/* Records run 2: catalog A -> B through every change kind. */
static int64_t record_second_run(store *s, const char *ds, size_t *n_changes)
{
    int64_t run = begin_run(s, ds);
    mc_catalog *prev = load_current(s, ds);
    mc_catalog *b = catalog_b(1000);

    /* Only the containers a field change touches need their fields. */
    size_t need[2] = {(size_t)cidx(prev, "public", "users"),
                      (size_t)cidx(prev, "public", "orders")};
    mc_error err = {0};
    cr_assert_eq(store_load_fields(s, prev, need, 2, &err), 0, "%s", err.message);

    ptrdiff_t p_users = cidx(prev, "public", "users");
    ptrdiff_t p_orders = cidx(prev, "public", "orders");
    ptrdiff_t c_cust = cidx(b, "public", "customers");
    ptrdiff_t c_orders = cidx(b, "public", "orders");

    mc_changes cs;
    mc_changes_init(&cs);
    mc_change *ch;
    ch = chg(&cs, MC_SCHEMA_CHANGED, "public", NULL, NULL);
    ch->prev_index = sidx(prev, "public");
    ch->cur_index = sidx(b, "public");
    ch->attribute = "comment";
    ch->before = "\"main\"";
    ch->after = "\"main schema\"";
    ch = chg(&cs, MC_SCHEMA_CHANGED, "public", NULL, NULL); /* second attribute */
    ch->prev_index = sidx(prev, "public");
    ch->cur_index = sidx(b, "public");
    ch->attribute = "owner";
    ch->before = ch->after = "\"admin\"";
    ch = chg(&cs, MC_SCHEMA_ADDED, "archive", NULL, NULL);
    ch->cur_index = sidx(b, "archive");
    ch = chg(&cs, MC_SCHEMA_REMOVED, "sales", NULL, NULL);
    ch->prev_index = sidx(prev, "sales");
    ch->breaking = true;
    ch = chg(&cs, MC_CONTAINER_REMOVED, "sales", "leads", NULL);
    ch->prev_index = cidx(prev, "sales", "leads");
    ch->breaking = true;
    ch = chg(&cs, MC_CONTAINER_REMOVED, "sales", "old", NULL);
    ch->prev_index = cidx(prev, "sales", "old");
    ch->breaking = true;
    ch = chg(&cs, MC_CONTAINER_RENAMED, "public", "customers", NULL);
    ch->prev_index = p_users;
    ch->cur_index = c_cust;
    ch->before = "{\"schema\":\"public\",\"name\":\"users\"}";
    ch->after = "{\"schema\":\"public\",\"name\":\"customers\"}";
    ch->breaking = true;
    ch = chg(&cs, MC_FIELD_RENAMED, "public", "customers", "email_address");
    ch->prev_container = p_users;
    ch->cur_container = c_cust;
    ch->prev_index = fidx(prev, p_users, "email");
    ch->cur_index = fidx(b, c_cust, "email_address");
    ch->before = "\"email\"";
    ch->after = "\"email_address\"";
    ch->breaking = true;
    ch = chg(&cs, MC_FIELD_CHANGED, "public", "customers", "name");
    ch->prev_container = p_users;
    ch->cur_container = c_cust;
    ch->prev_index = fidx(prev, p_users, "name");
    ch->cur_index = fidx(b, c_cust, "name");
    ch->attribute = "type";
    ch->before = "\"text\"";
    ch->after = "\"varchar(100)\"";
    ch->breaking = true;
    ch = chg(&cs, MC_FIELD_CHANGED, "public", "customers", "name");
    ch->prev_container = p_users;
    ch->cur_container = c_cust;
    ch->prev_index = fidx(prev, p_users, "name");
    ch->cur_index = fidx(b, c_cust, "name");
    ch->attribute = "comment";
    ch->after = "\"full name\"";
    ch = chg(&cs, MC_FIELD_ADDED, "public", "customers", "created_at");
    ch->prev_container = p_users;
    ch->cur_container = c_cust;
    ch->cur_index = fidx(b, c_cust, "created_at");
    ch = chg(&cs, MC_CONTAINER_CHANGED, "public", "orders", NULL);
    ch->prev_index = p_orders;
    ch->cur_index = c_orders;
    ch->attribute = "comment";
    ch->before = "\"orders\"";
    ch->after = "\"orders placed\"";
    ch = chg(&cs, MC_FIELD_REMOVED, "public", "orders", "total");
    ch->prev_container = p_orders;
    ch->cur_container = c_orders;
    ch->prev_index = fidx(prev, p_orders, "total");
    ch->breaking = true;
    ch = chg(&cs, MC_CONTAINER_ADDED, "archive", "logs", NULL);
    ch->cur_index = cidx(b, "archive", "logs");

    ptrdiff_t *pairs = pair_by_name(prev, b);
    pairs[c_cust] = p_users;
    commit_ok(s, run, prev, b, &cs, pairs, NULL, 0);
    *n_changes = cs.n;
    free(pairs);
    mc_changes_free(&cs);
    mc_catalog_free(b);
    mc_catalog_free(prev);
    return run;
}

/* ---- the catalog model -------------------------------------------------------- */

Test(catalog, finish_sorts_and_keeps_fields_with_their_container)
{
    mc_catalog *a = catalog_a();
    const char *order[][2] = {{"public", "orders"}, {"public", "users"},
                              {"sales", "leads"}, {"sales", "old"}};
    cr_assert_eq(a->n_containers, 4);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_str_eq(a->containers[i].schema, order[i][0]);
        cr_assert_str_eq(a->containers[i].name, order[i][1]);
    }
    cr_assert_str_eq(a->schemas[0].name, "public");
    cr_assert_str_eq(a->schemas[1].name, "sales");
    /* fields follow, laid out in container order */
    const mc_container *users = mc_catalog_find(a, "public", "users");
    cr_assert_not_null(users);
    cr_assert_eq(users->n_fields, 3);
    cr_assert_str_eq(a->fields[users->first_field].name, "id");
    cr_assert_str_eq(a->fields[users->first_field + 1].name, "email");
    cr_assert_str_eq(a->fields[users->first_field + 2].name, "name");
    size_t at = 0;
    for (size_t i = 0; i < a->n_containers; i++) {
        cr_assert_eq(a->containers[i].first_field, at);
        at += a->containers[i].n_fields;
        cr_assert_neq(a->containers[i].hash, 0);
        cr_assert_eq(a->containers[i].hash, mc_container_hash(a, &a->containers[i]));
    }
    cr_assert_eq(at, a->n_fields);
    cr_assert_null(mc_catalog_find(a, "public", "nope"));
    cr_assert_null(mc_catalog_find(a, "zzz", "users"));
    cr_assert_null(mc_catalog_find_schema(a, "archive"));
    mc_catalog_free(a);
}

Test(catalog, byte_order_and_position_order)
{
    mc_catalog *c = mc_catalog_new();
    add_table(c, "s", "b", MC_KIND_TABLE, 1, -1, NULL, COLS({"x", "int", 0, NULL}));
    add_table(c, "s", "B", MC_KIND_TABLE, 2, -1, NULL, COLS({"y", "int", 0, NULL}));
    add_table(c, "s", "\xc3\xa9t\xc3\xa9", MC_KIND_TABLE, 3, -1, NULL,
              COLS({"z", "int", 0, NULL}, {"w", "int", 0, NULL}));
    /* fields given out of position order */
    c->fields[c->containers[2].first_field].position = 2;
    c->fields[c->containers[2].first_field + 1].position = 1;
    mc_catalog_finish(c);
    cr_assert_str_eq(c->containers[0].name, "B"); /* 'B' < 'b' < 0xc3 */
    cr_assert_str_eq(c->containers[1].name, "b");
    cr_assert_str_eq(c->containers[2].name, "\xc3\xa9t\xc3\xa9");
    cr_assert_str_eq(c->fields[c->containers[2].first_field].name, "w");
    cr_assert_str_eq(c->fields[c->containers[2].first_field + 1].name, "z");
    mc_catalog_free(c);
}

Test(catalog, many_appends_grow)
{
    mc_catalog *c = mc_catalog_new();
    for (int i = 0; i < 5000; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%05d", 4999 - i);
        add_table(c, "s", name, MC_KIND_TABLE, i, -1, NULL,
                  COLS({"a", "int", 0, NULL}, {"b", "int", 0, NULL}));
    }
    cr_assert_eq(c->containers[0].row_estimate, -1);
    mc_catalog_finish(c);
    cr_assert_eq(c->n_fields, 10000);
    cr_assert_str_eq(c->containers[0].name, "t00000");
    /* appending after finish still works */
    mc_field *f = mc_catalog_add_field(c);
    cr_assert_eq(f->position, 0);
    cr_assert_eq(c->n_fields, 10001);
    mc_catalog_free(c);
}

Test(catalog, hash_covers_compared_attributes_only)
{
    mc_catalog *c = mc_catalog_new();
    add_table(c, "s", "t", MC_KIND_TABLE, 1, 10, "c",
              COLS({"id", "integer", true, NULL}, {"v", "text", false, "x"}));
    mc_catalog_finish(c);
    mc_container *k = &c->containers[0];
    mc_field *f = &c->fields[k->first_field + 1];
    uint64_t h0 = mc_container_hash(c, k);
    cr_assert_eq(h0, k->hash);

    /* not compared: ids, estimates, store ids */
    k->oid = 999;
    k->row_estimate = 123456;
    k->store_key = 5;
    k->store_id = 6;
    f->attnum = 42;
    f->store_id = 7;
    cr_assert_eq(mc_container_hash(c, k), h0);

#define CHANGES_HASH(stmt, undo)                                               \
    do {                                                                       \
        stmt;                                                                  \
        cr_assert_neq(mc_container_hash(c, k), h0, "%s", #stmt);               \
        undo;                                                                  \
        cr_assert_eq(mc_container_hash(c, k), h0, "%s", #undo);                \
    } while (0)
    const char *saved;
    CHANGES_HASH(k->schema = "s2", k->schema = "s");
    CHANGES_HASH(k->name = "t2", k->name = "t");
    CHANGES_HASH(k->kind = MC_KIND_VIEW, k->kind = MC_KIND_TABLE);
    CHANGES_HASH(k->owner = "bob", k->owner = "admin");
    CHANGES_HASH((saved = k->comment, k->comment = NULL), k->comment = saved);
    CHANGES_HASH(k->comment = "", k->comment = saved);
    CHANGES_HASH(k->definition = "SELECT 2", k->definition = NULL);
    CHANGES_HASH(k->primary_key = "[\"v\"]", k->primary_key = "[\"id\"]");
    CHANGES_HASH(k->foreign_keys = "[]", k->foreign_keys = NULL);
    CHANGES_HASH(k->dist_style = "EVEN", k->dist_style = NULL);
    CHANGES_HASH(k->sort_key = "[\"id\"]", k->sort_key = NULL);
    CHANGES_HASH(f->name = "w", f->name = "v");
    CHANGES_HASH(f->type = "varchar", f->type = "text");
    CHANGES_HASH(f->default_expr = "'a'", f->default_expr = NULL);
    CHANGES_HASH(f->comment = "y", f->comment = "x");
    CHANGES_HASH(f->encoding = "zstd", f->encoding = NULL);
    CHANGES_HASH(f->not_null = true, f->not_null = false);
    CHANGES_HASH(f->position = 3, f->position = 2);
    CHANGES_HASH(k->n_fields = 1, k->n_fields = 2);
#undef CHANGES_HASH
    mc_catalog_free(c);
}

Test(catalog, changes_grow_and_start_unlinked)
{
    mc_changes cs;
    mc_changes_init(&cs);
    for (int i = 0; i < 100; i++) {
        mc_change *ch = mc_changes_add(&cs);
        cr_assert_eq(ch->prev_index, -1);
        cr_assert_eq(ch->cur_index, -1);
        cr_assert_eq(ch->prev_container, -1);
        cr_assert_eq(ch->cur_container, -1);
        ch->before = mc_arena_strdup(cs.arena, "\"x\"");
    }
    cr_assert_eq(cs.n, 100);
    cr_assert_str_eq(cs.items[99].before, "\"x\"");
    mc_changes_free(&cs);
    mc_changes_free(&cs); /* safe twice */
    cr_assert_str_eq(mc_kind_name(MC_KIND_LATE_BINDING_VIEW), "late_binding_view");
    cr_assert_eq(mc_change_kind_parse("field_renamed"), MC_FIELD_RENAMED);
    cr_assert_str_eq(mc_run_status_name(MC_RUN_PARTIAL), "partial");
}

/* ---- open, migrate, refuse ---------------------------------------------------- */

Test(store, open_creates_and_migrates)
{
    store *s = open_ok();
    cr_assert_eq(store_schema_version(s), 8);
    store_close(s);
    store_close(NULL);

    sqlite3 *db = raw_open();
    cr_assert_eq(raw_i64(db, "PRAGMA user_version"), 8);
    /* schema 7: field_versions has one index, which every field query uses */
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                             "AND tbl_name = 'field_versions'"), 1);

    char *mode = raw_text(db, "PRAGMA journal_mode");
    cr_assert_str_eq(mode, "wal");
    free(mode);
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM sqlite_master WHERE type = "
                             "'table' AND name IN ('datastores', 'runs', "
                             "'schema_versions', 'containers', "
                             "'container_versions', 'field_versions', 'changes', "
                             "'alert_outbox')"),
                 8);
    sqlite3_close(db);

    /* reopening an up-to-date store changes nothing */
    char *before = dump_store();
    s = open_ok();
    cr_assert_eq(store_schema_version(s), 8);
    store_close(s);
    char *after = dump_store();
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
}

Test(store, a_field_added_to_a_container_not_in_the_store_is_refused)
{
    store *s = open_ok();
    record_first_run(s, "dw");
    /* A prev that claims a container the store does not have: the commit
     * runs with foreign keys off (commit.c), so its own check refuses the
     * field insert, and nothing is written. */
    mc_catalog *prev = load_current(s, "dw");
    load_all_fields(s, prev);
    ptrdiff_t pi = cidx(prev, "public", "users");
    prev->containers[pi].store_key = 987654;
    mc_catalog *cur = catalog_a();
    mc_changes cs;
    mc_changes_init(&cs);
    mc_change *ch = chg(&cs, MC_FIELD_ADDED, "public", "users", "id");
    ch->prev_container = pi;
    ch->cur_container = cidx(cur, "public", "users");
    ch->cur_index = (ptrdiff_t)cur->containers[ch->cur_container].first_field;
    int64_t run = begin_run(s, "dw");
    ptrdiff_t *pairs = pair_by_name(prev, cur);
    char *before = dump_store();
    mc_error err = {0};
    cr_assert_eq(store_commit_run(s, run, prev, cur, &cs, pairs, NULL, 0,
                                  &ok_summary, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_STORE);
    cr_assert(strstr(err.message, "not in the store"), "%s", err.message);
    free(pairs);
    char *after = dump_store();
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
    assert_foreign_keys_hold(s);
    mc_changes_free(&cs);
    mc_catalog_free(prev);
    mc_catalog_free(cur);
    store_close(s);
}

Test(store, newer_schema_is_refused)
{
    store *s = open_ok();
    store_close(s);
    sqlite3 *db = raw_open();
    raw_exec(db, "PRAGMA user_version = 9");
    sqlite3_close(db);
    mc_error err = {0};
    s = (store *)1;
    cr_assert_eq(store_open(dbpath, &s, &err), -1);
    cr_assert_null(s);
    cr_assert_eq(err.code, MC_EXIT_STORE);
    cr_assert_str_eq(err.message, "store was written by a newer metacrawl "
                                  "(schema 9, this build knows 8)");
    cr_assert_neq(err.hint[0], '\0');
}

Test(store, non_sqlite_file_is_refused)
{
    char p[160];
    snprintf(p, sizeof p, "%s/not_sqlite", tmpdir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 100; i++)
        fputs("store: ./catalog.db  # this is yaml, not a database\n", f);
    fclose(f);
    store *s = NULL;
    mc_error err = {0};
    cr_assert_eq(store_open(p, &s, &err), -1);
    cr_assert_null(s);
    cr_assert_eq(err.code, MC_EXIT_STORE);
    cr_assert(strstr(err.message, "not an sqlite database"), "%s", err.message);
    cr_assert_neq(err.hint[0], '\0');
}

Test(store, foreign_sqlite_database_is_refused)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    raw_exec(db, "CREATE TABLE other(x)");
    sqlite3_close(db);
    store *s = NULL;
    mc_error err = {0};
    cr_assert_eq(store_open(dbpath, &s, &err), -1);
    cr_assert(strstr(err.message, "not a metacrawl store"), "%s", err.message);
}

Test(store, missing_directory_is_a_store_error_with_hint)
{
    char p[200];
    snprintf(p, sizeof p, "%s/no/such/dir/catalog.db", tmpdir);
    store *s = NULL;
    mc_error err = {0};
    cr_assert_eq(store_open(p, &s, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_STORE);
    cr_assert(strstr(err.message, "does not exist"), "%s", err.message);
    cr_assert(strstr(err.hint, "mkdir -p"), "%s", err.hint);
    cr_assert_eq(access(p, F_OK), -1);
}

/* ---- runs ---------------------------------------------------------------------- */

Test(store, run_lifecycle)
{
    store *s = open_ok();
    mc_error err = {0};
    int64_t r1 = 0, r2 = 0;
    cr_assert_eq(store_run_begin(s, "dw", 1700000000, &r1, &err), 0);
    mc_run_list l;
    cr_assert_eq(store_get_run(s, r1, &l, &err), 0);
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.runs[0].status, MC_RUN_RUNNING);
    cr_assert_str_eq(l.runs[0].datastore, "dw");
    cr_assert_eq(l.runs[0].scheduled_for, 1700000000);
    cr_assert_eq(l.runs[0].finished_at, 0);
    cr_assert_gt(l.runs[0].started_at, 0);
    mc_run_list_free(&l);

    cr_assert_eq(store_run_fail(s, r1, "cannot connect: timeout", &err), 0);
    cr_assert_eq(store_get_run(s, r1, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_FAILED);
    cr_assert_str_eq(l.runs[0].error, "cannot connect: timeout");
    cr_assert_geq(l.runs[0].finished_at, l.runs[0].started_at);
    mc_run_list_free(&l);

    /* a failed run cannot be committed */
    mc_catalog *empty = mc_catalog_new();
    cr_assert_eq(store_commit_run(s, r1, empty, empty, NULL, NULL, NULL, 0,
                                  &ok_summary, &err), -1);
    cr_assert(strstr(err.message, "no longer running"), "%s", err.message);
    mc_error_clear(&err);

    cr_assert_eq(store_run_begin(s, "dw", 0, &r2, &err), 0);
    cr_assert_gt(r2, r1);
    mc_run_summary sum = {.status = MC_RUN_PARTIAL, .dialect = "redshift",
                          .server_version = "1.0.5", .n_held_back = 3,
                          .error = "schema x: permission denied"};
    cr_assert_eq(store_commit_run(s, r2, empty, empty, NULL, NULL, NULL, 0, &sum,
                                  &err), 0, "%s", err.message);
    cr_assert_eq(store_get_run(s, r2, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_PARTIAL);
    cr_assert_str_eq(l.runs[0].dialect, "redshift");
    cr_assert_str_eq(l.runs[0].server_version, "1.0.5");
    cr_assert_eq(l.runs[0].n_held_back, 3);
    cr_assert_str_eq(l.runs[0].error, "schema x: permission denied");
    cr_assert_eq(l.runs[0].scheduled_for, 0);
    mc_run_list_free(&l);
    /* a finished run keeps its status */
    cr_assert_eq(store_run_fail(s, r2, "late", &err), -1);
    cr_assert(strstr(err.message, "already finished"), "%s", err.message);
    mc_error_clear(&err);
    cr_assert_eq(store_get_run(s, r2, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_PARTIAL);
    mc_run_list_free(&l);

    cr_assert_eq(store_get_run(s, 9999, &l, &err), 0);
    cr_assert_eq(l.n, 0);
    mc_run_list_free(&l);
    cr_assert_eq(store_run_fail(s, 9999, "x", &err), -1);
    mc_catalog_free(empty);
    store_close(s);
}

Test(store, interrupted_runs_are_failed_but_live_ones_left_alone)
{
    store *s = open_ok();
    int64_t dead_run = begin_run(s, "a");
    int64_t live_run = begin_run(s, "b");
    int64_t remote_run = begin_run(s, "c");
    store_close(s);

    /* a pid that certainly is not alive: a child that has been reaped */
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0)
        _exit(0);
    cr_assert_eq(waitpid(child, NULL, 0), child);

    sqlite3 *db = raw_open();
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE runs SET pid = %d WHERE id IN (%lld, %lld)",
             (int)child, (long long)dead_run, (long long)remote_run);
    raw_exec(db, sql);
    snprintf(sql, sizeof sql, "UPDATE runs SET host = 'elsewhere.example' "
             "WHERE id = %lld", (long long)remote_run);
    raw_exec(db, sql);
    sqlite3_close(db);

    s = open_ok();
    mc_run_list l;
    mc_error err = {0};
    cr_assert_eq(store_get_run(s, dead_run, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_FAILED);
    cr_assert_str_eq(l.runs[0].error,
                     "interrupted: the process ended before the run finished");
    cr_assert_gt(l.runs[0].finished_at, 0);
    mc_run_list_free(&l);
    cr_assert_eq(store_get_run(s, live_run, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_RUNNING, "a live process's run");
    mc_run_list_free(&l);
    cr_assert_eq(store_get_run(s, remote_run, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_RUNNING, "another host's run");
    mc_run_list_free(&l);
    store_close(s);
}

/* An interrupted run ends at its last heartbeat, not when it was noticed. */
Test(store, interrupted_run_ends_at_its_last_heartbeat)
{
    store *s = open_ok();
    int64_t run = begin_run(s, "a");
    store_close(s);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0)
        _exit(0);
    cr_assert_eq(waitpid(child, NULL, 0), child);
    sqlite3 *db = raw_open();
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE runs SET pid = %d, started_at = 1000, "
             "heartbeat_at = 1600 WHERE id = %lld", (int)child, (long long)run);
    raw_exec(db, sql);
    sqlite3_close(db);

    s = open_ok();
    mc_run_list l;
    mc_error err = {0};
    cr_assert_eq(store_get_run(s, run, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_FAILED);
    cr_assert_eq(l.runs[0].finished_at, 1600, "finished at the last heartbeat, not now");
    mc_run_list_free(&l);
    store_close(s);
}

/* A pid that is alive again, but as another process (reused after a crash
 * or a reboot), does not keep a dead run 'running' for ever. */
Test(store, a_reused_pid_does_not_keep_a_run_running)
{
    store *s = open_ok();
    int64_t reused = begin_run(s, "a");
    int64_t live = begin_run(s, "b");
    store_close(s);
    sqlite3 *db = raw_open();
    char *process = raw_text(db, "SELECT process FROM runs WHERE id = 2");
    cr_assert_not_null(process, "a run records its process's identity");
    cr_assert(strchr(process, '/'), "%s", process);
    free(process);
    /* this very process, alive, but recorded as another one */
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE runs SET process = 'another-boot/12345', "
             "heartbeat_at = started_at WHERE id = %lld", (long long)reused);
    raw_exec(db, sql);
    sqlite3_close(db);

    s = open_ok();
    mc_run_list l;
    mc_error err = {0};
    cr_assert_eq(store_get_run(s, reused, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_FAILED, "the pid belongs to another process now");
    mc_run_list_free(&l);
    cr_assert_eq(store_get_run(s, live, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_RUNNING, "the same process: still running");
    mc_run_list_free(&l);
    store_close(s);
}

/* Another host's run: only its heartbeat can tell, and an old one does. */
Test(store, another_hosts_run_is_closed_when_its_heartbeat_is_old)
{
    store *s = open_ok();
    int64_t recent = begin_run(s, "a");
    int64_t old = begin_run(s, "b");
    store_close(s);
    sqlite3 *db = raw_open();
    raw_exec(db, "UPDATE runs SET host = 'elsewhere.example'");
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE runs SET heartbeat_at = heartbeat_at - %d "
             "WHERE id = %lld", 11 * STORE_HEARTBEAT_S, (long long)old);
    raw_exec(db, sql);
    int64_t beat = raw_i64(db, "SELECT heartbeat_at FROM runs WHERE id = 2");
    sqlite3_close(db);

    s = open_ok();
    mc_run_list l;
    mc_error err = {0};
    cr_assert_eq(store_get_run(s, recent, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_RUNNING);
    mc_run_list_free(&l);
    cr_assert_eq(store_get_run(s, old, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_FAILED);
    cr_assert_eq(l.runs[0].finished_at, beat);
    mc_run_list_free(&l);
    store_close(s);
}

/* The heartbeat thread writes while the run runs, and stops with it. */
Test(store, heartbeat_beats_while_running)
{
    store *s = open_ok();
    int64_t run = begin_run(s, "a");
    sqlite3 *db = raw_open();
    raw_exec(db, "UPDATE runs SET heartbeat_at = 1");
    store_heartbeat *hb = NULL;
    mc_error err = {0};
    cr_assert_eq(store_heartbeat_start(s, run, 0.05, &hb, &err), 0, "%s", err.message);
    int64_t beat = 1;
    for (int i = 0; i < 200 && beat == 1; i++) {
        usleep(25000);
        beat = raw_i64(db, "SELECT heartbeat_at FROM runs WHERE id = 1");
    }
    cr_assert_gt(beat, 1000000000, "a heartbeat was written: %lld", (long long)beat);
    store_heartbeat_stop(hb);
    store_heartbeat_stop(NULL);
    cr_assert_eq(store_run_fail(s, run, "x", &err), 0);
    /* a heartbeat never touches a finished run */
    raw_exec(db, "UPDATE runs SET heartbeat_at = 2");
    cr_assert_eq(store_heartbeat_start(s, run, 0.01, &hb, &err), 0);
    usleep(100000);
    store_heartbeat_stop(hb);
    cr_assert_eq(raw_i64(db, "SELECT heartbeat_at FROM runs WHERE id = 1"), 2);
    sqlite3_close(db);
    store_close(s);
}

Test(store, pause_is_recorded_once)
{
    store *s = open_ok();
    mc_error err = {0};
    mc_ds_state st;
    bool changed = false;
    cr_assert_eq(store_datastore_state(s, "never_seen", &st, &err), 0);
    cr_assert(!st.known);
    cr_assert_eq(store_set_paused(s, "dw", true, "ann@box", &changed, &err), 0);
    cr_assert(changed);
    cr_assert_eq(store_set_paused(s, "dw", true, "bob@box", &changed, &err), 0);
    cr_assert(!changed, "pausing a paused datastore changes nothing");
    cr_assert_eq(store_datastore_state(s, "dw", &st, &err), 0);
    cr_assert(st.known);
    cr_assert_gt(st.paused_at, 0);
    cr_assert_str_eq(st.paused_by, "ann@box");
    cr_assert_eq(st.n_runs, 0);
    cr_assert_eq(store_set_paused(s, "dw", false, "bob@box", &changed, &err), 0);
    cr_assert(changed);
    cr_assert_eq(store_set_paused(s, "dw", false, "bob@box", &changed, &err), 0);
    cr_assert(!changed);
    cr_assert_eq(store_datastore_state(s, "dw", &st, &err), 0);
    cr_assert_eq(st.paused_at, 0);
    cr_assert_str_eq(st.paused_by, "");
    store_close(s);
}

/* ---- recording and reading back ------------------------------------------------- */

Test(store, first_run_round_trips)
{
    store *s = open_ok();
    int64_t r1 = record_first_run(s, "dw");
    mc_catalog *a = catalog_a();

    mc_catalog *cur = load_current(s, "dw");
    cr_assert_eq(cur->n_containers, 4);
    cr_assert_eq(cur->n_fields, 0);
    for (size_t i = 0; i < cur->n_containers; i++) {
        const mc_container *k = &cur->containers[i];
        cr_assert_not(k->fields_loaded);
        cr_assert_eq(k->n_fields, 0);
        cr_assert_gt(k->store_key, 0);
        cr_assert_gt(k->store_id, 0);
        cr_assert_eq(k->hash, a->containers[i].hash, "%s", k->name);
        cr_assert_eq(k->row_estimate, a->containers[i].row_estimate);
    }
    for (size_t i = 0; i < cur->n_schemas; i++)
        cr_assert_gt(cur->schemas[i].store_id, 0);

    /* few containers: one probe each */
    size_t one = (size_t)cidx(cur, "public", "users");
    mc_error err = {0};
    cr_assert_eq(store_load_fields(s, cur, &one, 1, &err), 0);
    cr_assert(cur->containers[one].fields_loaded);
    cr_assert_eq(cur->containers[one].n_fields, 3);
    cr_assert_str_eq(cur->fields[cur->containers[one].first_field + 2].name, "name");
    cr_assert_gt(cur->fields[cur->containers[one].first_field].store_id, 0);
    /* asked for twice: loaded once */
    size_t twice[2] = {(size_t)cidx(cur, "sales", "leads"),
                       (size_t)cidx(cur, "sales", "leads")};
    size_t before = cur->n_fields;
    cr_assert_eq(store_load_fields(s, cur, twice, 2, &err), 0);
    cr_assert_eq(cur->n_fields, before + 2);
    /* out of range: an error */
    size_t bad_idx = 99;
    cr_assert_eq(store_load_fields(s, cur, &bad_idx, 1, &err), -1);
    mc_error_clear(&err);
    /* then all of them: one pass; the loaded ones are not loaded twice */
    load_all_fields(s, cur);
    cr_assert_eq(cur->n_fields, a->n_fields);
    assert_catalog_eq(cur, a, true);
    mc_catalog_free(cur);

    mc_catalog *as_of = load_as_of(s, "dw", r1);
    assert_catalog_eq(as_of, a, true);
    mc_catalog_free(as_of);
    as_of = load_as_of(s, "dw", 0);
    assert_catalog_eq(as_of, a, true);
    for (size_t i = 0; i < as_of->n_containers; i++)
        cr_assert(as_of->containers[i].fields_loaded);
    mc_catalog_free(as_of);

    /* an unknown datastore is empty; a foreign or unknown run is an error */
    mc_catalog *none = load_current(s, "nope");
    cr_assert_eq(none->n_containers + none->n_schemas, 0);
    mc_catalog_free(none);
    mc_catalog *bad = NULL;
    cr_assert_eq(store_load_as_of(s, "dw", 424242, &bad, &err), -1);
    cr_assert_null(bad);
    mc_error_clear(&err);
    int64_t other = begin_run(s, "other");
    cr_assert_eq(store_load_as_of(s, "dw", other, &bad, &err), -1);
    cr_assert(strstr(err.message, "not a run of datastore dw"), "%s", err.message);
    mc_catalog_free(a);
    store_close(s);
}

Test(store, every_change_kind)
{
    store *s = open_ok();
    int64_t r1 = record_first_run(s, "dw");
    mc_catalog *then = load_as_of(s, "dw", r1);
    size_t n_changes = 0;
    int64_t r2 = record_second_run(s, "dw", &n_changes);
    mc_catalog *b = catalog_b(1000);

    /* now: exactly catalog B, recorded hashes included */
    mc_catalog *now = load_as_of(s, "dw", 0);
    assert_catalog_eq(now, b, true);
    mc_catalog *cur = load_current(s, "dw");
    load_all_fields(s, cur);
    assert_catalog_eq(cur, b, true);

    /* as of run 1: still catalog A */
    mc_catalog *a = catalog_a();
    mc_catalog *old = load_as_of(s, "dw", r1);
    assert_catalog_eq(old, a, true);

    /* the rename kept the container and its untouched fields */
    const mc_container *users = &then->containers[cidx(then, "public", "users")];
    const mc_container *cust = &now->containers[cidx(now, "public", "customers")];
    cr_assert_eq(cust->store_key, users->store_key);
    cr_assert_neq(cust->store_id, users->store_id);
    cr_assert_eq(now->fields[cust->first_field].store_id,
                 then->fields[users->first_field].store_id, "id kept its version");
    cr_assert_neq(now->fields[cust->first_field + 1].store_id,
                  then->fields[users->first_field + 1].store_id);
    /* orders changed: new version, same container */
    const mc_container *o1 = &then->containers[cidx(then, "public", "orders")];
    const mc_container *o2 = &now->containers[cidx(now, "public", "orders")];
    cr_assert_eq(o1->store_key, o2->store_key);
    cr_assert_neq(o1->store_id, o2->store_id);

    sqlite3 *db = raw_open();
    char sql[256];
    /* one new schema version for public despite two attributes */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM schema_versions "
             "WHERE valid_from = %lld", (long long)r2);
    cr_assert_eq(raw_i64(db, sql), 2); /* public (new version) + archive */
    /* one new version of the customers' name field despite two attributes */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM field_versions "
             "WHERE name = 'name' AND valid_from = %lld", (long long)r2);
    cr_assert_eq(raw_i64(db, sql), 1);
    /* removed containers: versions and fields closed by run 2, hash 0 */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM container_versions cv "
             "JOIN containers c ON c.id = cv.container_id WHERE cv.schema_name = "
             "'sales' AND cv.valid_to = %lld AND c.current_hash = 0", (long long)r2);
    cr_assert_eq(raw_i64(db, sql), 2);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM field_versions fv JOIN "
             "container_versions cv ON cv.container_id = fv.container_id WHERE "
             "cv.schema_name = 'sales' AND fv.valid_to = %lld", (long long)r2);
    cr_assert_eq(raw_i64(db, sql), 3);
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM field_versions fv JOIN "
                             "container_versions cv ON cv.container_id = "
                             "fv.container_id WHERE cv.schema_name = 'sales' "
                             "AND fv.valid_to IS NULL"), 0);
    /* the change rows carry their container */
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM changes WHERE container_id "
                             "IS NULL AND kind NOT LIKE 'schema_%'"), 0);
    sqlite3_close(db);

    /* the run row */
    mc_run_list l;
    mc_error err = {0};
    cr_assert_eq(store_get_run(s, r2, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_OK);
    cr_assert_eq(l.runs[0].n_schemas, 2);
    cr_assert_eq(l.runs[0].n_containers, 3);
    cr_assert_eq(l.runs[0].n_fields, 8);
    cr_assert_eq(l.runs[0].n_changes, (int64_t)n_changes);
    cr_assert_str_eq(l.runs[0].dialect, "postgresql");
    mc_run_list_free(&l);
    /* a first run, a rename, removals, field changes: no dangling row */
    assert_foreign_keys_hold(s);

    mc_catalog_free(a);
    mc_catalog_free(old);
    mc_catalog_free(cur);
    mc_catalog_free(now);
    mc_catalog_free(b);
    mc_catalog_free(then);
    store_close(s);
}

Test(store, baseline_run_writes_versions_without_events)
{
    store *s = open_ok();
    int64_t run = begin_run(s, "dw");
    mc_catalog *prev = load_current(s, "dw");
    mc_catalog *a = catalog_a();
    mc_changes cs;
    mc_changes_init(&cs);
    for (size_t i = 0; i < a->n_schemas; i++)
        chg(&cs, MC_SCHEMA_ADDED, a->schemas[i].name, NULL, NULL)->cur_index =
            (ptrdiff_t)i;
    for (size_t i = 0; i < a->n_containers; i++)
        chg(&cs, MC_CONTAINER_ADDED, a->containers[i].schema,
            a->containers[i].name, NULL)->cur_index = (ptrdiff_t)i;
    mc_run_summary sum = ok_summary;
    sum.baseline = true;
    mc_error err = {0};
    cr_assert_eq(store_commit_run(s, run, prev, a, &cs, NULL, NULL, 0, &sum,
                                  &err), 0, "%s", err.message);
    mc_catalog *now = load_as_of(s, "dw", run);
    assert_catalog_eq(now, a, true);
    mc_changes listed = {0};
    cr_assert_eq(store_list_changes(s, "dw", 0, 0, &listed, NULL, &err), 0);
    cr_assert_eq(listed.n, 0);
    mc_run_list l;
    cr_assert_eq(store_get_run(s, run, &l, &err), 0);
    cr_assert_eq(l.runs[0].n_changes, 0);
    cr_assert_eq(l.runs[0].n_containers, 4);
    mc_run_list_free(&l);
    mc_changes_free(&listed);
    mc_changes_free(&cs);
    mc_catalog_free(now);
    mc_catalog_free(a);
    mc_catalog_free(prev);
    store_close(s);
}

Test(store, no_change_recrawl_writes_only_the_run_and_moved_estimates)
{
    store *s = open_ok();
    record_first_run(s, "dw");
    size_t n;
    record_second_run(s, "dw", &n);
    char *before = dump_store();

    int64_t r3 = begin_run(s, "dw");
    mc_catalog *prev = load_current(s, "dw");
    mc_catalog *cur = catalog_b(2500); /* only orders' estimate moved */
    ptrdiff_t *pairs = pair_by_name(prev, cur);
    mc_changes cs;
    mc_changes_init(&cs);
    commit_ok(s, r3, prev, cur, &cs, pairs, NULL, 0);

    sqlite3 *db = raw_open();
    char sql[200];
    static const char *const versioned[] = {"schema_versions",
                                            "container_versions",
                                            "field_versions"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE valid_from = "
                 "%lld OR valid_to = %lld", versioned[i], (long long)r3,
                 (long long)r3);
        cr_assert_eq(raw_i64(db, sql), 0, "%s", versioned[i]);
    }
    snprintf(sql, sizeof sql, "SELECT count(*) FROM changes WHERE run_id = %lld",
             (long long)r3);
    cr_assert_eq(raw_i64(db, sql), 0);
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM containers WHERE "
                             "row_estimate = 2500"), 1);
    sqlite3_close(db);

    /* The dumps differ only in the run row and the one estimate. */
    char *after = dump_store();
    cr_assert_str_neq(before, after);
    cr_assert(strstr(after, "|2500.0|"), "estimate stored");
    mc_catalog *now = load_as_of(s, "dw", 0);
    const mc_container *o = mc_catalog_find(now, "public", "orders");
    cr_assert_eq(o->row_estimate, 2500);
    cr_assert_eq(o->oid, 1002);
    /* an unknown estimate replaces the known one: a table created again,
     * or never analysed since, has none (issue 12) */
    mc_catalog_free(cur);
    mc_catalog_free(prev);
    free(pairs);
    int64_t r4 = begin_run(s, "dw");
    prev = load_current(s, "dw");
    cur = catalog_b(-1);
    /* ... and a table created again under its name keeps its container and
     * gets its new oid, without a new version */
    cur->containers[cidx(cur, "public", "orders")].oid = 5555;
    pairs = pair_by_name(prev, cur);
    commit_ok(s, r4, prev, cur, &cs, pairs, NULL, 0);
    mc_catalog_free(now);
    now = load_current(s, "dw");
    o = mc_catalog_find(now, "public", "orders");
    cr_assert_eq(o->row_estimate, -1);
    cr_assert_eq(o->oid, 5555);
    cr_assert_eq(o->store_id, mc_catalog_find(prev, "public", "orders")->store_id);

    free(before);
    free(after);
    free(pairs);
    mc_changes_free(&cs);
    mc_catalog_free(now);
    mc_catalog_free(cur);
    mc_catalog_free(prev);
    store_close(s);
}

Test(store, held_back_containers_get_hash_zero)
{
    store *s = open_ok();
    record_first_run(s, "dw");
    size_t n;
    record_second_run(s, "dw", &n);

    int64_t r3 = begin_run(s, "dw");
    mc_catalog *prev = load_current(s, "dw");
    /* cur lacks archive.logs (its removal held back) and orders has a
     * held-back field removal */
    mc_catalog *cur = catalog_b(1000);
    ptrdiff_t li = cidx(cur, "archive", "logs");
    cur->containers[li].name = "zz_not_logs"; /* keep it out of the pairing */
    ptrdiff_t *pairs = pair_by_name(prev, cur);
    cr_assert_eq(pairs[li], -1);
    size_t held[2] = {(size_t)cidx(prev, "public", "orders"),
                      (size_t)cidx(prev, "archive", "logs")};
    uint64_t cust_hash = prev->containers[cidx(prev, "public", "customers")].hash;
    mc_changes cs;
    mc_changes_init(&cs);
    commit_ok(s, r3, prev, cur, &cs, pairs, held, 2);

    mc_catalog *now = load_current(s, "dw");
    cr_assert_eq(mc_catalog_find(now, "public", "orders")->hash, 0);
    cr_assert_eq(mc_catalog_find(now, "archive", "logs")->hash, 0);
    cr_assert_eq(mc_catalog_find(now, "public", "customers")->hash, cust_hash);
    /* the held-back container is still there, unchanged */
    mc_catalog *full = load_as_of(s, "dw", 0);
    cr_assert_eq(mc_catalog_find(full, "archive", "logs")->n_fields, 2);

    /* the next crawl that sees it again restores the hash */
    mc_catalog_free(cur);
    mc_catalog_free(prev);
    free(pairs);
    int64_t r4 = begin_run(s, "dw");
    prev = load_current(s, "dw");
    cur = catalog_b(1000);
    pairs = pair_by_name(prev, cur);
    commit_ok(s, r4, prev, cur, &cs, pairs, NULL, 0);
    mc_catalog_free(now);
    now = load_current(s, "dw");
    cr_assert_eq(mc_catalog_find(now, "public", "orders")->hash,
                 mc_catalog_find(cur, "public", "orders")->hash);
    assert_foreign_keys_hold(s);

    free(pairs);
    mc_changes_free(&cs);
    mc_catalog_free(full);
    mc_catalog_free(now);
    mc_catalog_free(cur);
    mc_catalog_free(prev);
    store_close(s);
}

Test(store, bad_change_rolls_everything_back)
{
    store *s = open_ok();
    record_first_run(s, "dw");
    int64_t run = begin_run(s, "dw");
    char *before = dump_store();

    mc_catalog *prev = load_current(s, "dw");
    mc_catalog *cur = catalog_b(1000);
    ptrdiff_t *pairs = pair_by_name(prev, cur);
    mc_changes cs;
    mc_changes_init(&cs);
    /* valid writes first, then a change that points nowhere */
    chg(&cs, MC_SCHEMA_ADDED, "archive", NULL, NULL)->cur_index =
        sidx(cur, "archive");
    chg(&cs, MC_CONTAINER_ADDED, "archive", "logs", NULL)->cur_index =
        cidx(cur, "archive", "logs");
    chg(&cs, MC_CONTAINER_REMOVED, "sales", "old", NULL)->prev_index = 999;
    mc_error err = {0};
    cr_assert_eq(store_commit_run(s, run, prev, cur, &cs, pairs, NULL, 0,
                                  &ok_summary, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_STORE);
    cr_assert(strstr(err.message, "out of range"), "%s", err.message);
    char *after = dump_store();
    cr_assert_str_eq(before, after);

    /* a field change whose container's fields were not loaded: refused too */
    mc_changes_free(&cs);
    mc_changes_init(&cs);
    mc_change *ch = chg(&cs, MC_FIELD_REMOVED, "public", "orders", "total");
    ch->prev_container = cidx(prev, "public", "orders");
    ch->prev_index = 0;
    mc_error_clear(&err);
    cr_assert_eq(store_commit_run(s, run, prev, cur, &cs, pairs, NULL, 0,
                                  &ok_summary, &err), -1);
    cr_assert(strstr(err.message, "not loaded"), "%s", err.message);
    free(after);
    after = dump_store();
    cr_assert_str_eq(before, after);

    /* the run is still running: the caller fails it */
    mc_run_list l;
    cr_assert_eq(store_get_run(s, run, &l, &err), 0);
    cr_assert_eq(l.runs[0].status, MC_RUN_RUNNING);
    mc_run_list_free(&l);
    mc_error_clear(&err);
    cr_assert_eq(store_run_fail(s, run, "store: bug", &err), 0);
    /* rolled back: the connection has its foreign keys on again */
    assert_foreign_keys_hold(s);

    free(before);
    free(after);
    free(pairs);
    mc_changes_free(&cs);
    mc_catalog_free(cur);
    mc_catalog_free(prev);
    store_close(s);
}

/* ---- fields from a field source ------------------------------------------------- */

/* A crawl's spool as the tests make it: cur's fields moved out of
 * cur->fields (cur keeps first_field as their numbering), served per
 * container by spool_fields. */
typedef struct spool {
    const mc_catalog *cat;
    mc_field *fields; /* the moved fields, at their first_field */
    size_t calls;
    ptrdiff_t short_by; /* serve this container one field short; -1 = none */
} spool;

static int spool_fields(void *arg, size_t container, const mc_field **out, size_t *n,
                        mc_error *err)
{
    spool *sp = arg;
    (void)err;
    sp->calls++;
    cr_assert_lt(container, sp->cat->n_containers);
    const mc_container *k = &sp->cat->containers[container];
    cr_assert(k->fields_elsewhere);
    *out = sp->fields + k->first_field;
    *n = k->n_fields - ((ptrdiff_t)container == sp->short_by ? 1 : 0);
    return 0;
}

/* Moves every field of c into a separate array (freed by the caller). */
static mc_field *spool_all(mc_catalog *c)
{
    mc_field *f = calloc(c->n_fields + 1, sizeof *f);
    memcpy(f, c->fields, c->n_fields * sizeof *f);
    memset(c->fields, 0, c->n_fields * sizeof *f); /* nothing left to read there */
    c->n_fields = 0;
    for (size_t i = 0; i < c->n_containers; i++)
        c->containers[i].fields_elsewhere = true;
    return f;
}

Test(store, a_first_run_reads_its_fields_from_the_field_source)
{
    store *s = open_ok();
    int64_t run = begin_run(s, "dw");
    mc_catalog *prev = load_current(s, "dw");
    mc_catalog *a = catalog_a();
    mc_field *fields = spool_all(a);
    spool sp = {.cat = a, .fields = fields, .short_by = -1};
    store_field_source src = {.fields = spool_fields, .arg = &sp};
    mc_changes cs;
    mc_changes_init(&cs);
    for (size_t i = 0; i < a->n_schemas; i++)
        chg(&cs, MC_SCHEMA_ADDED, a->schemas[i].name, NULL, NULL)->cur_index = (ptrdiff_t)i;
    for (size_t i = 0; i < a->n_containers; i++)
        chg(&cs, MC_CONTAINER_ADDED, a->containers[i].schema, a->containers[i].name,
            NULL)->cur_index = (ptrdiff_t)i;
    mc_error err = {0};

    /* without a source: refused, nothing written */
    char *before = dump_store();
    cr_assert_eq(store_commit_run(s, run, prev, a, &cs, NULL, NULL, 0, &ok_summary, &err),
                 -1);
    cr_assert(strstr(err.message, "no field source"), "%s", err.message);
    mc_error_clear(&err);
    /* a source that serves the wrong number of fields: refused too */
    sp.short_by = 1;
    cr_assert_eq(store_commit_run_src(s, run, prev, a, &cs, NULL, NULL, 0, &ok_summary,
                                      &src, &err), -1);
    cr_assert(strstr(err.message, "gave 2 fields"), "%s", err.message);
    mc_error_clear(&err);
    char *after = dump_store();
    cr_assert_str_eq(before, after);
    free(before);
    free(after);

    sp.short_by = -1;
    sp.calls = 0;
    cr_assert_eq(store_commit_run_src(s, run, prev, a, &cs, NULL, NULL, 0, &ok_summary,
                                      &src, &err), 0, "%s", err.message);
    cr_assert_eq(sp.calls, a->n_containers, "asked once per container");
    /* recorded exactly as from cur->fields */
    mc_catalog *want = catalog_a();
    mc_catalog *now = load_as_of(s, "dw", run);
    assert_catalog_eq(now, want, true);
    mc_run_list l;
    cr_assert_eq(store_get_run(s, run, &l, &err), 0);
    cr_assert_eq(l.runs[0].n_fields, (int64_t)want->n_fields, "the run counts them");
    mc_run_list_free(&l);
    assert_foreign_keys_hold(s);
    mc_changes_free(&cs);

    /* a re-crawl: a field added to a container whose fields are elsewhere
     * names it as first_field + its place among them */
    int64_t r2 = begin_run(s, "dw");
    mc_catalog_free(prev);
    prev = load_current(s, "dw");
    mc_catalog *b = mc_catalog_new();
    add_schema(b, "public", "admin", "main", 100);
    add_schema(b, "sales", "admin", NULL, 200);
    add_table(b, "sales", "old", MC_KIND_TABLE, 1004, 5, NULL,
              COLS({"a", "integer", false, NULL}, {"b", "text", false, "new"}));
    add_table(b, "public", "users", MC_KIND_TABLE, 1001, 10, "people",
              COLS({"id", "integer", true, NULL}, {"email", "text", false, NULL},
                   {"name", "text", false, NULL}));
    add_table(b, "sales", "leads", MC_KIND_VIEW, 1003, -1, NULL,
              COLS({"id", "integer", false, NULL}, {"src", "text", false, NULL}));
    add_table(b, "public", "orders", MC_KIND_TABLE, 1002, 1000, "orders",
              COLS({"id", "integer", true, NULL}, {"user_id", "integer", false, NULL},
                   {"total", "numeric(10,2)", false, NULL}));
    mc_catalog_finish(b);
    ptrdiff_t c_old = cidx(b, "sales", "old");
    size_t at_b = b->containers[c_old].first_field + 1;
    mc_field *fields_b = spool_all(b);
    spool sp_b = {.cat = b, .fields = fields_b, .short_by = -1};
    store_field_source src_b = {.fields = spool_fields, .arg = &sp_b};
    mc_changes_init(&cs);
    mc_change *ch = chg(&cs, MC_FIELD_ADDED, "sales", "old", "b");
    ch->prev_container = cidx(prev, "sales", "old");
    ch->cur_container = c_old;
    ch->cur_index = (ptrdiff_t)at_b;
    chg(&cs, MC_FIELD_ADDED, "sales", "old", "b")->cur_index = (ptrdiff_t)at_b; /* twice */
    cs.items[1].prev_container = ch->prev_container;
    cs.items[1].cur_container = c_old;
    ptrdiff_t *pairs = pair_by_name(prev, b);
    cr_assert_eq(store_commit_run_src(s, r2, prev, b, &cs, pairs, NULL, 0, &ok_summary,
                                      &src_b, &err), 0, "%s", err.message);
    cr_assert_eq(sp_b.calls, 1, "only the container a change touches is asked for");
    mc_catalog *now2 = load_current(s, "dw");
    load_all_fields(s, now2);
    const mc_container *k = mc_catalog_find(now2, "sales", "old");
    cr_assert_eq(k->n_fields, 2, "written once");
    cr_assert_str_eq(now2->fields[k->first_field + 1].name, "b");
    cr_assert_str_eq(now2->fields[k->first_field + 1].comment, "new");
    assert_foreign_keys_hold(s);

    free(pairs);
    mc_changes_free(&cs);
    mc_catalog_free(now2);
    mc_catalog_free(b);
    free(fields_b);
    mc_catalog_free(now);
    mc_catalog_free(want);
    mc_catalog_free(prev);
    mc_catalog_free(a);
    free(fields);
    store_close(s);
}

/* ---- listings and search ------------------------------------------------------- */

Test(store, list_runs_and_changes)
{
    store *s = open_ok();
    int64_t r1 = record_first_run(s, "dw");
    size_t n2;
    int64_t r2 = record_second_run(s, "dw", &n2);
    int64_t r3 = record_first_run(s, "lake");
    mc_error err = {0};

    mc_run_list l;
    cr_assert_eq(store_list_runs(s, NULL, 0, &l, &err), 0);
    cr_assert_eq(l.n, 3);
    cr_assert_eq(l.runs[0].id, r3);
    cr_assert_eq(l.runs[1].id, r2);
    cr_assert_eq(l.runs[2].id, r1);
    cr_assert_str_eq(l.runs[0].datastore, "lake");
    mc_run_list_free(&l);
    cr_assert_eq(store_list_runs(s, "dw", 1, &l, &err), 0);
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.runs[0].id, r2);
    mc_run_list_free(&l);

    mc_changes cs = {0};
    int64_t *ids = NULL;
    cr_assert_eq(store_list_changes(s, "dw", 0, r1, &cs, &ids, &err), 0);
    cr_assert_eq(cs.n, 6); /* 2 schemas + 4 containers */
    cr_assert_eq(cs.items[0].kind, MC_SCHEMA_ADDED);
    cr_assert_eq(ids[5], r1);
    mc_changes_free(&cs);
    free(ids);

    mc_changes_init(&cs);
    cr_assert_eq(store_list_changes(s, "dw", r1, 0, &cs, &ids, &err), 0);
    cr_assert_eq(cs.n, n2);
    for (size_t i = 0; i < cs.n; i++)
        cr_assert_eq(ids[i], r2);
    cr_assert_eq(cs.items[0].kind, MC_SCHEMA_CHANGED);
    cr_assert_str_eq(cs.items[0].attribute, "comment");
    cr_assert_str_eq(cs.items[0].before, "\"main\"");
    cr_assert_str_eq(cs.items[0].after, "\"main schema\"");
    const mc_change *ren = &cs.items[6];
    cr_assert_eq(ren->kind, MC_CONTAINER_RENAMED);
    cr_assert_str_eq(ren->container, "customers");
    cr_assert(ren->breaking);
    cr_assert_null(ren->field);
    cr_assert_eq(ren->prev_index, -1);
    const mc_change *fr = &cs.items[7];
    cr_assert_eq(fr->kind, MC_FIELD_RENAMED);
    cr_assert_str_eq(fr->field, "email_address");
    cr_assert_eq(cs.items[n2 - 1].kind, MC_CONTAINER_ADDED);
    mc_changes_free(&cs);
    free(ids);

    mc_changes_init(&cs);
    cr_assert_eq(store_list_changes(s, "dw", r2, r3, &cs, NULL, &err), 0);
    cr_assert_eq(cs.n, 0);
    mc_changes_free(&cs);

    char **names = NULL;
    size_t n = 0;
    cr_assert_eq(store_list_datastores(s, &names, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(names[0], "dw");
    cr_assert_str_eq(names[1], "lake");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    store_close(s);
}

static bool has_hit(const mc_search_result *r, const char *container,
                    const char *field)
{
    for (size_t i = 0; i < r->n; i++)
        if (str_eq(r->hits[i].container, container) &&
            str_eq(r->hits[i].field, field))
            return true;
    return false;
}

Test(store, search_is_case_insensitive_and_literal)
{
    store *s = open_ok();
    record_first_run(s, "dw");
    size_t n;
    record_second_run(s, "dw", &n);
    mc_error err = {0};
    mc_search_result r;

    cr_assert_eq(store_search(s, "EMAIL", 0, &r, &err), 0, "%s", err.message);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.hits[0].datastore, "dw");
    cr_assert_str_eq(r.hits[0].schema, "public");
    cr_assert_str_eq(r.hits[0].container, "customers");
    cr_assert_str_eq(r.hits[0].field, "email_address");
    cr_assert_str_eq(r.hits[0].kind, "text");
    mc_search_result_free(&r);

    /* '%' is literal: only the comment that has "100%" */
    cr_assert_eq(store_search(s, "100%", 0, &r, &err), 0);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.hits[0].container, "logs");
    cr_assert_null(r.hits[0].field);
    cr_assert_str_eq(r.hits[0].kind, "table");
    cr_assert_str_eq(r.hits[0].comment, "100% of the logs");
    mc_search_result_free(&r);

    /* '_' is literal: user_id matches "r_i", nothing matches "r%i" */
    cr_assert_eq(store_search(s, "r_i", 0, &r, &err), 0);
    cr_assert_eq(r.n, 1);
    cr_assert(has_hit(&r, "orders", "user_id"));
    mc_search_result_free(&r);
    cr_assert_eq(store_search(s, "s%o", 0, &r, &err), 0);
    cr_assert_eq(r.n, 0);
    mc_search_result_free(&r);

    /* current versions only: the old name and the removed schema are gone */
    cr_assert_eq(store_search(s, "users", 0, &r, &err), 0);
    cr_assert_eq(r.n, 0);
    mc_search_result_free(&r);
    cr_assert_eq(store_search(s, "leads", 0, &r, &err), 0);
    cr_assert_eq(r.n, 0);
    mc_search_result_free(&r);

    /* comments of containers and fields; limit */
    cr_assert_eq(store_search(s, "name", 0, &r, &err), 0);
    cr_assert(has_hit(&r, "customers", "name"));
    mc_search_result_free(&r);
    cr_assert_eq(store_search(s, "id", 2, &r, &err), 0);
    cr_assert_eq(r.n, 2);
    mc_search_result_free(&r);
    store_close(s);
}

/* ---- the alert outbox ------------------------------------------------------------ */

/* Alert 0 "all" wants everything; alert 1 "breaking" the breaking changes;
 * alert 2 "none" nothing.  Every call is counted, with the datastore. */
static const char *const outbox_names[] = {"all", "breaking", "none"};
static int outbox_calls;
static char outbox_last_ds[32];

static bool outbox_wants(void *arg, size_t alert, const char *datastore,
                         const mc_change *ch)
{
    (void)arg;
    outbox_calls++;
    snprintf(outbox_last_ds, sizeof outbox_last_ds, "%s", datastore);
    return alert == 0 || (alert == 1 && ch->breaking);
}

static const store_outbox_rules outbox_rules = {
    .n = 3, .names = outbox_names, .wants = outbox_wants,
};

static mc_delivery_list pending(store *s, const char *alert)
{
    mc_delivery_list l;
    mc_error err = {0};
    cr_assert_eq(store_outbox_pending(s, alert, 0, &l, &err), 0, "%s", err.message);
    return l;
}

Test(store, outbox_is_queued_with_the_run)
{
    store *s = open_ok();
    store_set_outbox_rules(s, &outbox_rules);
    outbox_calls = 0;
    int64_t r1 = record_first_run(s, "dw"); /* 2 schema + 4 container events */
    cr_assert_eq(outbox_calls, 6 * 3, "wants() is asked once per alert and change");
    cr_assert_str_eq(outbox_last_ds, "dw");
    size_t n2 = 0;
    int64_t r2 = record_second_run(s, "dw", &n2);

    mc_delivery_list all = pending(s, "all");
    cr_assert_eq(all.n, 6 + n2);
    mc_changes listed = {0};
    int64_t *runs = NULL;
    mc_error err = {0};
    cr_assert_eq(store_list_changes(s, "dw", 0, 0, &listed, &runs, &err), 0);
    cr_assert_eq(listed.n, all.n);
    for (size_t i = 0; i < all.n; i++) {
        /* queue order is recording order; the change comes back whole */
        const mc_change *a = &all.changes.items[i], *b = &listed.items[i];
        cr_assert_eq(a->kind, b->kind);
        cr_assert(str_eq(a->schema, b->schema) && str_eq(a->container, b->container) &&
                  str_eq(a->field, b->field) && str_eq(a->attribute, b->attribute) &&
                  str_eq(a->before, b->before) && str_eq(a->after, b->after));
        cr_assert_eq(a->breaking, b->breaking);
        cr_assert_eq(all.items[i].run, runs[i]);
        cr_assert_eq(all.items[i].run, i < 6 ? r1 : r2);
        cr_assert_str_eq(all.items[i].datastore, "dw");
        cr_assert_str_eq(all.items[i].alert, "all");
        cr_assert_eq(all.items[i].attempts, 0);
        cr_assert_null(all.items[i].last_error);
        cr_assert_gt(all.items[i].queued_at, 0);
        if (i)
            cr_assert_gt(all.items[i].change_id, all.items[i - 1].change_id);
    }
    mc_delivery_list brk = pending(s, "breaking");
    size_t n_breaking = 0;
    for (size_t i = 0; i < listed.n; i++)
        n_breaking += listed.items[i].breaking;
    cr_assert_gt(n_breaking, 0);
    cr_assert_eq(brk.n, n_breaking);
    for (size_t i = 0; i < brk.n; i++)
        cr_assert(brk.changes.items[i].breaking);
    mc_delivery_list none = pending(s, "none");
    cr_assert_eq(none.n, 0);
    mc_delivery_list every = pending(s, NULL);
    cr_assert_eq(every.n, all.n + brk.n);
    mc_delivery_list lim;
    cr_assert_eq(store_outbox_pending(s, "all", 2, &lim, &err), 0);
    cr_assert_eq(lim.n, 2);
    cr_assert_eq(lim.items[0].id, all.items[0].id);

    /* without rules nothing more is queued */
    store_set_outbox_rules(s, NULL);
    record_first_run(s, "lake");
    mc_delivery_list after = pending(s, NULL);
    cr_assert_eq(after.n, every.n);

    mc_delivery_list_free(&all);
    mc_delivery_list_free(&brk);
    mc_delivery_list_free(&none);
    mc_delivery_list_free(&every);
    mc_delivery_list_free(&lim);
    mc_delivery_list_free(&after);
    mc_delivery_list_free(&after); /* twice: no-op */
    mc_changes_free(&listed);
    free(runs);
    store_close(s);
}

Test(store, outbox_rolls_back_with_a_failed_commit_and_skips_baselines)
{
    store *s = open_ok();
    store_set_outbox_rules(s, &outbox_rules);
    /* a baseline run records versions but no events: nothing to alert */
    int64_t run = begin_run(s, "dw");
    mc_catalog *prev = load_current(s, "dw");
    mc_catalog *a = catalog_a();
    mc_changes cs;
    mc_changes_init(&cs);
    for (size_t i = 0; i < a->n_containers; i++)
        chg(&cs, MC_CONTAINER_ADDED, a->containers[i].schema, a->containers[i].name,
            NULL)->cur_index = (ptrdiff_t)i;
    for (size_t i = 0; i < a->n_schemas; i++)
        chg(&cs, MC_SCHEMA_ADDED, a->schemas[i].name, NULL, NULL)->cur_index =
            (ptrdiff_t)i;
    mc_run_summary base = ok_summary;
    base.baseline = true;
    mc_error err = {0};
    outbox_calls = 0;
    cr_assert_eq(store_commit_run(s, run, prev, a, &cs, NULL, NULL, 0, &base, &err), 0,
                 "%s", err.message);
    cr_assert_eq(outbox_calls, 0);
    mc_delivery_list l = pending(s, NULL);
    cr_assert_eq(l.n, 0);
    mc_delivery_list_free(&l);
    mc_changes_free(&cs);
    mc_catalog_free(a);
    mc_catalog_free(prev);

    /* a commit that fails half-way queues nothing */
    run = begin_run(s, "dw");
    char *before = dump_store();
    prev = load_current(s, "dw");
    mc_catalog *cur = catalog_b(1000);
    ptrdiff_t *pairs = pair_by_name(prev, cur);
    mc_changes_init(&cs);
    chg(&cs, MC_SCHEMA_ADDED, "archive", NULL, NULL)->cur_index = sidx(cur, "archive");
    chg(&cs, MC_CONTAINER_REMOVED, "sales", "old", NULL)->prev_index = 999;
    cr_assert_eq(store_commit_run(s, run, prev, cur, &cs, pairs, NULL, 0, &ok_summary,
                                  &err), -1);
    char *after = dump_store();
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
    free(pairs);
    mc_changes_free(&cs);
    mc_catalog_free(cur);
    mc_catalog_free(prev);
    store_close(s);
}

Test(store, outbox_states_are_pending_then_final)
{
    store *s = open_ok();
    store_set_outbox_rules(s, &outbox_rules);
    record_first_run(s, "dw");
    mc_delivery_list l = pending(s, "all");
    cr_assert_eq(l.n, 6);
    int64_t ids[6];
    for (size_t i = 0; i < 6; i++)
        ids[i] = l.items[i].id;
    mc_delivery_list_free(&l);
    mc_error err = {0};

    /* two failures: still pending, with the attempts and the last error */
    cr_assert_eq(store_outbox_mark_failed(s, ids, 6, "webhook: HTTP 500", &err), 0);
    cr_assert_eq(store_outbox_mark_failed(s, ids, 3, "webhook: HTTP 503", &err), 0);
    l = pending(s, "all");
    cr_assert_eq(l.n, 6);
    cr_assert_eq(l.items[0].attempts, 2);
    cr_assert_str_eq(l.items[0].last_error, "webhook: HTTP 503");
    cr_assert_eq(l.items[5].attempts, 1);
    cr_assert_str_eq(l.items[5].last_error, "webhook: HTTP 500");
    cr_assert_gt(l.items[0].last_attempt_at, 0);
    mc_delivery_list_free(&l);

    /* delivered is final: not pending, not marked again, not failed again */
    cr_assert_eq(store_outbox_mark_delivered(s, ids, 4, &err), 0, "%s", err.message);
    cr_assert_eq(store_outbox_mark_failed(s, ids, 4, "late", &err), 0);
    l = pending(s, "all");
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.items[0].id, ids[4]);
    mc_delivery_list_free(&l);
    sqlite3 *db = raw_open();
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM alert_outbox WHERE "
                             "status = 'delivered' AND delivered_at > 0 AND "
                             "last_error <> 'late'"), 4);
    sqlite3_close(db);

    int64_t n = -1;
    cr_assert_eq(store_outbox_count_pending(s, "all", &n, &err), 0);
    cr_assert_eq(n, 2);
    mc_outbox_stats st = {0};
    cr_assert_eq(store_outbox_stats(s, &st, &err), 0, "%s", err.message);
    cr_assert_eq(st.n, 1, "only 'all' has rows: catalog A's additions break nothing");
    cr_assert_str_eq(st.items[0].alert, "all");
    cr_assert_eq(st.items[0].n_pending, 2);
    cr_assert_eq(st.items[0].n_delivered, 4);
    cr_assert_eq(st.items[0].max_attempts, 1);
    cr_assert_str_eq(st.items[0].last_error, "webhook: HTTP 500");
    cr_assert_gt(st.items[0].oldest_queued_at, 0);
    cr_assert_gt(st.items[0].oldest_run, 0);
    cr_assert_gt(st.items[0].last_delivered_at, 0);
    mc_outbox_stats_free(&st);

    /* discard: final too */
    cr_assert_eq(store_outbox_discard(s, "all", &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(store_outbox_discard(s, "all", &n, &err), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(store_outbox_mark_delivered(s, ids + 4, 2, &err), 0);
    l = pending(s, NULL);
    cr_assert_eq(l.n, 0);
    mc_delivery_list_free(&l);
    cr_assert_eq(store_outbox_stats(s, &st, &err), 0);
    cr_assert_eq(st.items[0].n_discarded, 2);
    cr_assert_eq(st.items[0].n_delivered, 4);
    cr_assert_null(st.items[0].last_error, "nothing pending: no reason to show");
    mc_outbox_stats_free(&st);
    store_close(s);
}

Test(store, outbox_lock_is_exclusive_between_processes)
{
    store *s = open_ok();
    int to_child[2], to_parent[2];
    cr_assert_eq(pipe(to_child), 0);
    cr_assert_eq(pipe(to_parent), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        store *c = NULL;
        mc_error err = {0};
        bool got = false;
        char ch = 'x';
        if (store_open(dbpath, &c, &err) != 0 ||
            store_outbox_lock(c, 0, &got, &err) != 0 || !got)
            ch = 'n';
        if (write(to_parent[1], &ch, 1) != 1 || read(to_child[0], &ch, 1) != 1)
            _exit(2);
        _exit(0); /* without unlocking: the kernel releases an flock */
    }
    char ch = 0;
    cr_assert_eq(read(to_parent[0], &ch, 1), 1);
    cr_assert_eq(ch, 'x', "the child could not take the lock");
    bool got = true;
    mc_error err = {0};
    cr_assert_eq(store_outbox_lock(s, 0, &got, &err), 0, "%s", err.message);
    cr_assert_not(got, "two processes hold the delivery lock");
    cr_assert_eq(write(to_child[1], "g", 1), 1);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(store_outbox_lock(s, 5, &got, &err), 0, "%s", err.message);
    cr_assert(got, "the lock of a process that ended is free");
    cr_assert_eq(store_outbox_lock(s, 0, &got, &err), 0);
    cr_assert(got, "taking it again in the same process is fine");
    store_outbox_unlock(s);
    store_outbox_unlock(s);
    store_close(s);
    char p[200];
    snprintf(p, sizeof p, "%s-alerts.lock", dbpath);
    unlink(p);
}

/* ---- migrations: a store written by schema version 1 ------------------------------- */

Test(store, schema_1_store_is_upgraded_with_its_data_intact)
{
    /* The store as metacrawl 0.1 (schema 1) wrote it: runs, versions and
     * change events recorded by this build, then every later step taken
     * out again (the columns of step 3, the table of step 2). */
    store *s = NULL;
    mc_error err = {0};
    s = open_ok();
    int64_t r1 = record_first_run(s, "dw");
    size_t n2 = 0;
    int64_t r2 = record_second_run(s, "dw", &n2);
    int64_t failed = begin_run(s, "dw");
    cr_assert_eq(store_run_fail(s, failed, "connection lost", &err), 0);
    mc_catalog *as_of_1 = load_as_of(s, "dw", r1);
    mc_catalog *latest = load_as_of(s, "dw", 0);
    store_close(s);
    sqlite3 *db = raw_open();
    raw_exec(db, "ALTER TABLE containers DROP COLUMN fingerprint;"
                 "DROP INDEX field_versions_container;"
                 "CREATE INDEX field_versions_current ON field_versions(container_id, position)"
                 "  WHERE valid_to IS NULL;"
                 "CREATE INDEX field_versions_history ON field_versions(container_id, valid_from);"
                 "DROP TABLE container_facts;"
                 "ALTER TABLE runs DROP COLUMN facts;"
                 "DROP TABLE alert_outbox;"
                 "ALTER TABLE field_versions DROP COLUMN identity;"
                 "ALTER TABLE field_versions DROP COLUMN generated;"
                 "ALTER TABLE container_versions DROP COLUMN extension;"
                 "ALTER TABLE container_versions DROP COLUMN read_rules;"
                 "ALTER TABLE containers DROP COLUMN partitions;"
                 "ALTER TABLE runs DROP COLUMN heartbeat_at;"
                 "ALTER TABLE runs DROP COLUMN process;"
                 "ALTER TABLE datastores DROP COLUMN stale_since;"
                 "ALTER TABLE datastores DROP COLUMN paused_at;"
                 "ALTER TABLE datastores DROP COLUMN paused_by;"
                 "ALTER TABLE container_versions DROP COLUMN depends_on;"
                 "ALTER TABLE changes DROP COLUMN impact;"
                 "PRAGMA user_version = 1");
    cr_assert_eq(raw_i64(db, "PRAGMA user_version"), 1);
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM sqlite_master "
                             "WHERE name = 'alert_outbox'"), 0);
    sqlite3_close(db);
    char *before = dump_store();

    /* Opening it with this build upgrades it in place. */
    s = open_ok();
    cr_assert_eq(store_schema_version(s), 8);
    dump_skip_schema_3 = true;
    char *after = dump_store();
    dump_skip_schema_3 = false;
    char *expect = mc_asprintf("%s[alert_outbox]\n", before);
    cr_assert_str_eq(after, expect, "the data of schema 1 is untouched");
    free(expect);
    /* step 3 marks every version already there as read by the old rules */
    db = raw_open();
    cr_assert_gt(raw_i64(db, "SELECT count(*) FROM container_versions"), 0);
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM container_versions "
                             "WHERE read_rules <> 2"), 0);
    /* step 7 replaced field_versions' two indexes by one */
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                             "AND tbl_name = 'field_versions' "
                             "AND name = 'field_versions_container'"), 1);
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                             "AND tbl_name = 'field_versions'"), 1);
    sqlite3_close(db);

    /* ... and everything reads back as it was recorded */
    mc_catalog *c = load_as_of(s, "dw", r1);
    assert_catalog_eq(c, as_of_1, true);
    mc_catalog_free(c);
    c = load_as_of(s, "dw", 0);
    assert_catalog_eq(c, latest, true);
    mc_catalog_free(c);
    mc_changes cs = {0};
    cr_assert_eq(store_list_changes(s, "dw", r1, r2, &cs, NULL, &err), 0);
    cr_assert_eq(cs.n, n2);
    mc_changes_free(&cs);
    mc_run_list l;
    cr_assert_eq(store_list_runs(s, "dw", 0, &l, &err), 0);
    cr_assert_eq(l.n, 3);
    cr_assert_eq(l.runs[0].status, MC_RUN_FAILED);
    cr_assert_str_eq(l.runs[0].error, "connection lost");
    mc_run_list_free(&l);

    /* old changes are not alerted after the upgrade; new runs are */
    store_set_outbox_rules(s, &outbox_rules);
    mc_delivery_list q = pending(s, NULL);
    cr_assert_eq(q.n, 0);
    mc_delivery_list_free(&q);
    record_first_run(s, "lake");
    q = pending(s, "all");
    cr_assert_eq(q.n, 6);
    cr_assert_str_eq(q.items[0].datastore, "lake");
    mc_delivery_list_free(&q);
    store_close(s);

    /* opening it again changes nothing */
    char *again = dump_store();
    s = open_ok();
    store_close(s);
    char *again2 = dump_store();
    cr_assert_str_eq(again, again2);
    free(again);
    free(again2);
    free(before);
    free(after);
    mc_catalog_free(as_of_1);
    mc_catalog_free(latest);
}

/* Staleness is recorded once when it starts and once when it ends, each
 * time queued for the alerts that want it. */
Test(store, staleness_is_recorded_once_per_change)
{
    store *s = open_ok();
    mc_error err = {0};
    bool rec = true;
    cr_assert_eq(store_record_staleness(s, "dw", true, 5000, 0, &rec, &err), 0);
    cr_assert(!rec, "a datastore without runs is never judged");
    store_set_outbox_rules(s, &outbox_rules);
    int64_t r1 = record_first_run(s, "dw");
    mc_ds_state st;
    cr_assert_eq(store_datastore_state(s, "dw", &st, &err), 0);
    cr_assert_eq(st.last_success_id, r1);
    cr_assert_eq(st.last_run_id, r1);
    cr_assert(!st.running);
    int64_t success_at = st.last_success_at;
    cr_assert_gt(success_at, 0);
    mc_delivery_list q = pending(s, "all");
    size_t before = q.n;
    mc_delivery_list_free(&q);

    cr_assert_eq(store_record_staleness(s, "dw", false, 5000, success_at, &rec, &err), 0);
    cr_assert(!rec, "fresh and recorded fresh: nothing to say");
    cr_assert_eq(store_record_staleness(s, "dw", true, 6000, success_at, &rec, &err), 0);
    cr_assert(rec);
    cr_assert_eq(store_record_staleness(s, "dw", true, 6060, success_at, &rec, &err), 0);
    cr_assert(!rec, "still stale: said once");
    cr_assert_eq(store_datastore_state(s, "dw", &st, &err), 0);
    cr_assert_eq(st.stale_since, 6000);

    q = pending(s, "all");
    cr_assert_eq(q.n, before + 1);
    const mc_change *ch = &q.changes.items[q.n - 1];
    cr_assert_eq(ch->kind, MC_DATASTORE_STALE);
    cr_assert_null(ch->schema, "a datastore event names no schema");
    cr_assert_null(ch->container);
    cr_assert_str_eq(ch->attribute, "last_success");
    char iso[21], json[32];
    mc_time_iso(success_at, iso);
    snprintf(json, sizeof json, "\"%s\"", iso);
    cr_assert_str_eq(ch->after, json);
    cr_assert_eq(q.items[q.n - 1].run, r1, "recorded in the latest run");
    mc_delivery_list_free(&q);
    q = pending(s, "breaking");
    for (size_t i = 0; i < q.n; i++)
        cr_assert_neq(q.changes.items[i].kind, MC_DATASTORE_STALE, "not a breaking change");
    mc_delivery_list_free(&q);

    cr_assert_eq(store_record_staleness(s, "dw", false, 7000, success_at, &rec, &err), 0);
    cr_assert(rec, "recovery is said once too");
    cr_assert_eq(store_datastore_state(s, "dw", &st, &err), 0);
    cr_assert_eq(st.stale_since, 0);
    q = pending(s, "all");
    cr_assert_eq(q.n, before + 2);
    cr_assert_eq(q.changes.items[q.n - 1].kind, MC_DATASTORE_RECOVERED);
    mc_delivery_list_free(&q);
    store_close(s);
}

/* The catalog a cursor walks, copied into one catalog (strings into its
 * arena), so it can be compared with what the loaders give. */
static mc_catalog *walk_cursor(store *s, const char *ds, int64_t run)
{
    store_cursor *c = NULL;
    mc_error err = {0};
    cr_assert_eq(store_cursor_open(s, ds, run, &c, &err), 0, "%s", err.message);
    mc_catalog *out = mc_catalog_new();
    const mc_catalog *sc = store_cursor_schemas(c);
    for (size_t i = 0; i < sc->n_schemas; i++) {
        mc_schema *d = mc_catalog_add_schema(out);
        *d = sc->schemas[i];
        d->name = mc_arena_strdup(out->arena, d->name);
        d->owner = mc_arena_strdup(out->arena, d->owner);
        d->comment = mc_arena_strdup(out->arena, d->comment);
    }
    const mc_catalog *one;
    size_t n_steps = 0;
    for (;;) {
        cr_assert_eq(store_cursor_next(c, &one, &err), 0, "%s", err.message);
        if (!one)
            break;
        n_steps++;
        cr_assert_eq(one->n_containers, 1, "one container a step");
        const mc_container *k = &one->containers[0];
        cr_assert(k->fields_loaded);
        mc_container *d = mc_catalog_add_container(out);
        *d = *k;
        const char **strs[] = {&d->schema, &d->name, &d->owner, &d->comment,
                               &d->definition, &d->primary_key, &d->foreign_keys,
                               &d->dist_style, &d->sort_key, &d->extension, &d->partitions,
                               &d->depends_on};
        for (size_t j = 0; j < sizeof strs / sizeof strs[0]; j++)
            *strs[j] = mc_arena_strdup(out->arena, *strs[j]);
        d->first_field = out->n_fields;
        for (size_t j = 0; j < k->n_fields; j++) {
            mc_field *f = mc_catalog_add_field(out);
            *f = one->fields[k->first_field + j];
            const char **fs[] = {&f->name, &f->type, &f->default_expr, &f->comment,
                                 &f->encoding, &f->identity, &f->generated};
            for (size_t m = 0; m < sizeof fs / sizeof fs[0]; m++)
                *fs[m] = mc_arena_strdup(out->arena, *fs[m]);
        }
    }
    /* the end stays the end */
    cr_assert_eq(store_cursor_next(c, &one, &err), 0);
    cr_assert_null(one);
    store_cursor_close(c);
    cr_assert_eq(n_steps, out->n_containers);
    return out;
}

Test(store, cursor_walks_the_catalog_one_container_at_a_time)
{
    store *s = open_ok();
    int64_t r1 = record_first_run(s, "dw");
    size_t n_changes = 0;
    record_second_run(s, "dw", &n_changes);
    /* current: what store_load_as_of gives, container by container */
    mc_catalog *walked = walk_cursor(s, "dw", 0);
    mc_catalog *now = load_as_of(s, "dw", 0);
    assert_catalog_eq(walked, now, true);
    /* as of run 1 */
    mc_catalog *old_walk = walk_cursor(s, "dw", r1);
    mc_catalog *old = load_as_of(s, "dw", r1);
    assert_catalog_eq(old_walk, old, false);
    /* an unknown datastore: nothing, not an error */
    mc_catalog *none = walk_cursor(s, "nope", 0);
    cr_assert_eq(none->n_containers, 0);
    cr_assert_eq(none->n_schemas, 0);
    /* a run of another datastore is refused, as store_load_as_of does */
    store_cursor *c = NULL;
    mc_error err = {0};
    cr_assert_neq(store_cursor_open(s, "nope", r1, &c, &err), 0);
    cr_assert_null(c);
    cr_assert_eq(err.code, MC_EXIT_USAGE);
    mc_catalog_free(walked);
    mc_catalog_free(now);
    mc_catalog_free(old_walk);
    mc_catalog_free(old);
    mc_catalog_free(none);
    store_close(s);
}

/* store_load_skeleton (issue 19): what store_load_as_of gives, without the
 * fields until they are asked for, one container at a time */
static void check_skeleton(store *s, int64_t run)
{
    mc_error err = {0};
    mc_catalog *full = load_as_of(s, "dw", run);
    mc_catalog *sk = NULL, *counted = NULL;
    cr_assert_eq(store_load_skeleton(s, "dw", run, STORE_SKELETON_HASHES, &sk, &err), 0,
                 "%s", err.message);
    cr_assert_eq(store_load_skeleton(s, "dw", run, STORE_SKELETON_COUNTS, &counted, &err),
                 0, "%s", err.message);
    cr_assert_eq(sk->n_fields, 0, "no field is held");
    cr_assert_eq(counted->n_fields, 0, "counts are no fields");
    cr_assert_eq(sk->n_containers, full->n_containers);
    size_t *all = calloc(sk->n_containers + 1, sizeof *all);
    for (size_t i = 0; i < sk->n_containers; i++) {
        cr_assert_not(sk->containers[i].fields_loaded);
        cr_assert_eq(sk->containers[i].hash, full->containers[i].hash, "%s hash",
                     full->containers[i].name);
        cr_assert_eq(counted->containers[i].n_fields, full->containers[i].n_fields,
                     "%s count", full->containers[i].name);
        all[i] = sk->n_containers - 1 - i; /* any order */
    }
    cr_assert_eq(store_load_fields_at(s, sk, run, all, sk->n_containers, &err), 0, "%s",
                 err.message);
    assert_catalog_eq(sk, full, true);
    /* sharing another catalog's texts changes nothing read */
    mc_catalog *other = NULL, *shared = NULL;
    cr_assert_eq(store_load_skeleton(s, "dw", 0, 0, &other, &err), 0, "%s", err.message);
    cr_assert_eq(store_load_skeleton_like(s, "dw", run, STORE_SKELETON_HASHES, other,
                                          &shared, &err), 0, "%s", err.message);
    cr_assert_eq(store_load_fields_at(s, shared, run, all, shared->n_containers, &err), 0);
    assert_catalog_eq(shared, full, true);
    mc_catalog_free(shared);
    mc_catalog_free(other);
    /* a renamed container hashes under its new name, with the same fields */
    if (sk->n_containers) {
        mc_catalog *one = mc_catalog_new();
        mc_container *k = mc_catalog_add_container(one);
        *k = full->containers[0];
        k->name = "renamed";
        k->first_field = 0;
        for (size_t j = 0; j < full->containers[0].n_fields; j++)
            *mc_catalog_add_field(one) = full->fields[full->containers[0].first_field + j];
        uint64_t want = mc_container_hash(one, k);
        sk->containers[0].name = "renamed";
        cr_assert_eq(store_hash_containers(s, sk, run, &err), 0, "%s", err.message);
        cr_assert_eq(sk->containers[0].hash, want);
        mc_catalog_free(one);
    }
    free(all);
    mc_catalog_free(full);
    mc_catalog_free(sk);
    mc_catalog_free(counted);
}

Test(store, skeleton_is_the_catalog_without_its_fields)
{
    store *s = open_ok();
    int64_t r1 = record_first_run(s, "dw");
    size_t n_changes = 0;
    record_second_run(s, "dw", &n_changes);
    check_skeleton(s, r1);
    mc_run_list l = {0};
    mc_error err = {0};
    cr_assert_eq(store_list_runs(s, "dw", 1, &l, &err), 0);
    check_skeleton(s, l.runs[0].id);
    mc_run_list_free(&l);
    /* the cursor without fields counts them */
    store_cursor *c = NULL;
    cr_assert_eq(store_cursor_open(s, "dw", r1, &c, &err), 0, "%s", err.message);
    cr_assert_eq(store_cursor_counts_only(c, &err), 0);
    mc_catalog *old = load_as_of(s, "dw", r1);
    const mc_catalog *one;
    size_t n = 0;
    while (store_cursor_next(c, &one, &err) == 0 && one) {
        cr_assert_eq(one->n_fields, 0);
        cr_assert_eq(one->containers[0].n_fields, old->containers[n].n_fields);
        n++;
    }
    cr_assert_eq(n, old->n_containers);
    store_cursor_close(c);
    mc_catalog_free(old);
    store_close(s);
}

/* ---- table facts: beside the catalog, never a version ------------------------------ */

static void commit_with_facts(store *s, int64_t run, const mc_catalog *prev,
                              const mc_catalog *cur, const mc_changes *cs, const char *facts)
{
    mc_run_summary sum = ok_summary;
    sum.facts = facts;
    ptrdiff_t *pairs = pair_by_name(prev, cur);
    mc_error err = {0};
    int rc = store_commit_run(s, run, prev, cur, cs, pairs, NULL, 0, &sum, &err);
    cr_assert_eq(rc, 0, "commit: %s (%s)", err.message, err.hint);
    free(pairs);
}

/* catalog A with facts on its first container: ROWS rows. */
static mc_catalog *catalog_a_with_facts(double rows)
{
    mc_catalog *a = catalog_a();
    mc_facts *f = mc_arena_alloc(a->arena, sizeof *f);
    mc_facts_init(f);
    f->rows = rows;
    f->total_bytes = 8192;
    f->last_analyze = 1764633600;
    f->skew_rows = 1.25;
    a->containers[0].facts = f;
    return a;
}

static const mc_facts *loaded_facts(store *s, const char *schema, const char *name)
{
    static mc_catalog *keep; /* the facts live in the catalog's arena */
    mc_catalog_free(keep);
    keep = load_as_of(s, "dw", 0);
    mc_error err = {0};
    cr_assert_eq(store_load_facts(s, keep, &err), 0, "%s", err.message);
    const mc_container *k = mc_catalog_find(keep, schema, name);
    cr_assert_not_null(k);
    return k->facts;
}

Test(store, facts_are_recorded_apart_from_versions)
{
    store *s = open_ok();
    /* run 1: the baseline, with facts */
    int64_t r1 = begin_run(s, "dw");
    mc_catalog *prev = load_current(s, "dw");
    mc_catalog *a = catalog_a_with_facts(10);
    mc_changes cs;
    mc_changes_init(&cs);
    for (size_t i = 0; i < a->n_schemas; i++)
        chg(&cs, MC_SCHEMA_ADDED, a->schemas[i].name, NULL, NULL)->cur_index = (ptrdiff_t)i;
    for (size_t i = 0; i < a->n_containers; i++)
        chg(&cs, MC_CONTAINER_ADDED, a->containers[i].schema, a->containers[i].name,
            NULL)->cur_index = (ptrdiff_t)i;
    commit_with_facts(s, r1, prev, a, &cs, "read");
    mc_changes_free(&cs);
    const char *schema = a->containers[0].schema, *name = a->containers[0].name;
    const mc_facts *f = loaded_facts(s, schema, name);
    cr_assert_not_null(f);
    cr_assert_eq(f->run, r1);
    cr_assert_gt(f->observed_at, 0);
    cr_assert_float_eq(f->rows, 10, 1e-9);
    cr_assert_eq(f->total_bytes, 8192);
    cr_assert_eq(f->last_analyze, 1764633600);
    cr_assert_float_eq(f->skew_rows, 1.25, 1e-9);
    cr_assert_lt(f->unsorted, 0, "unknown stays unknown");
    cr_assert_eq(f->pages, -1);
    cr_assert_null(loaded_facts(s, a->containers[1].schema, a->containers[1].name));

    /* run 2: only the facts moved: no version, no change, new facts */
    sqlite3 *db = raw_open();
    int64_t versions = raw_i64(db, "SELECT count(*) FROM container_versions");
    int64_t n_changes = raw_i64(db, "SELECT count(*) FROM changes");
    int64_t r2 = begin_run(s, "dw");
    mc_catalog_free(prev);
    prev = load_current(s, "dw");
    mc_catalog *a2 = catalog_a_with_facts(20);
    commit_with_facts(s, r2, prev, a2, NULL, "read");
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM container_versions"), versions);
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM changes"), n_changes);
    f = loaded_facts(s, schema, name);
    cr_assert_eq(f->run, r2);
    cr_assert_float_eq(f->rows, 20, 1e-9);

    /* run 3: facts unavailable: none written, the last ones stay */
    int64_t r3 = begin_run(s, "dw");
    mc_catalog_free(prev);
    prev = load_current(s, "dw");
    mc_catalog *a3 = catalog_a();
    commit_with_facts(s, r3, prev, a3, NULL, "unavailable: permission denied");
    f = loaded_facts(s, schema, name);
    cr_assert_eq(f->run, r2);
    char *note = raw_text(db, "SELECT facts FROM runs ORDER BY id DESC LIMIT 1");
    cr_assert_str_eq(note, "unavailable: permission denied");
    cr_assert_eq(raw_i64(db, "SELECT count(*) FROM container_versions"), versions);
    sqlite3_close(db);
    assert_foreign_keys_hold(s);
    mc_catalog_free(a);
    mc_catalog_free(a2);
    mc_catalog_free(a3);
    mc_catalog_free(prev);
    store_close(s);
}
