/*
 * store.h — the SQLite catalog and the in-memory catalog model it stores.
 *
 * The model (mc_catalog) is what discovery produces and what the store loads
 * back: plain arrays of plain structs whose strings live in the catalog's
 * arena.  The store keeps every crawl as a run and every object as versions
 * valid from the run that saw it to the run that saw it change or disappear
 * (docs/store.md has the tables).  No sqlite3 type leaks through this header.
 *
 * Invariants a caller can rely on:
 *  1. mc_catalog.containers are sorted by (schema, name), byte order;
 *     a container's fields are fields[first_field .. first_field+n_fields)
 *     in position order.
 *  2. store_commit_run writes everything of a run in one transaction: after
 *     a crash the store is as it was before, plus at most a run whose status
 *     is still "running" (reported as failed; store_open marks it so).
 *  3. The alert deliveries a run's changes call for are queued (the outbox)
 *     in that same transaction: a recorded change is never without them.
 */
#ifndef MC_STORE_H
#define MC_STORE_H

#include "mc_base.h"

/* ---- the catalog model -------------------------------------------------- */

typedef enum mc_kind {
    MC_KIND_TABLE = 0,
    MC_KIND_VIEW,
    MC_KIND_MATVIEW,
    MC_KIND_PARTITIONED,
    MC_KIND_FOREIGN,
    MC_KIND_EXTERNAL,          /* Redshift Spectrum */
    MC_KIND_LATE_BINDING_VIEW, /* Redshift WITH NO SCHEMA BINDING */
    MC_KIND__COUNT
} mc_kind;
/* "table", "view", "materialized_view", "partitioned_table",
 * "foreign_table", "external_table", "late_binding_view" */
const char *mc_kind_name(mc_kind k);
int mc_kind_parse(const char *s); /* -1 when unknown */

typedef struct mc_schema {
    const char *name;
    const char *owner;   /* NULL = unknown */
    const char *comment; /* NULL = none */
    int64_t oid;         /* 0 = unknown */
    bool usable;         /* discovery: the crawler user has USAGE */
    bool external;       /* Redshift external (Spectrum) schema */
    int64_t store_id;    /* loaded from the store: schema version row id */
} mc_schema;

typedef struct mc_field {
    const char *name;
    const char *type;         /* format_type() text */
    const char *default_expr; /* NULL = none */
    const char *comment;      /* NULL = none */
    const char *encoding;     /* Redshift column encoding; NULL elsewhere */
    const char *identity;     /* "always" / "by_default" for an identity
                                 column; NULL = not one */
    const char *generated;    /* a generated column's expression; NULL = not
                                 one (its default_expr is then NULL) */
    int32_t attnum;           /* database column id; 0 = unknown */
    int32_t position;         /* 1-based among the container's columns */
    bool not_null;
    int64_t store_id;         /* loaded from the store: field version row id */
} mc_field;

/*
 * Table facts (docs/lineage.md, "Table facts"): what a table is like now —
 * size, rows, freshness — read in one statement after the catalog and kept
 * apart from it: never compared, never hashed, never versioned, so a table
 * that only grew or was analysed makes no change and no new version.  The
 * store keeps the latest facts of each container with the run that observed
 * them (container_facts).  Unknown values: numbers < 0, times 0.
 */
typedef struct mc_facts {
    int64_t run;              /* the run that observed them; 0 = this crawl's */
    int64_t observed_at;      /* that run's start, unix seconds; 0 = unknown */
    double rows;              /* row count estimate (reltuples) */
    int64_t pages;            /* PostgreSQL relpages */
    int64_t total_bytes;      /* on disk: with indexes and TOAST (PostgreSQL),
                                 SVV_TABLE_INFO.size x 1 MiB (Redshift) */
    int64_t last_analyze, last_autoanalyze; /* unix seconds (PostgreSQL) */
    int64_t last_vacuum, last_autovacuum;
    int64_t dead_rows;        /* n_dead_tup (PostgreSQL) */
    int64_t modified_rows;    /* n_mod_since_analyze (PostgreSQL) */
    /* Redshift SVV_TABLE_INFO */
    double tbl_rows;          /* rows, deleted but not vacuumed ones included */
    double visible_rows;      /* estimated_visible_rows */
    double skew_rows;         /* rows on the fullest slice / on the emptiest */
    double skew_sortkey1;
    double unsorted;          /* percent of rows unsorted */
    double stats_off;         /* 0 = statistics current, 100 = stale */
    double pct_used;          /* percent of the cluster's space */
} mc_facts;
/* Every value unknown. */
void mc_facts_init(mc_facts *f);

typedef struct mc_container {
    const char *schema;
    const char *name;
    mc_kind kind;
    const char *owner;
    const char *comment;
    const char *definition;   /* view / materialized view text */
    const char *primary_key;  /* canonical JSON array of column names, NULL = none */
    const char *foreign_keys; /* canonical JSON array (docs/store.md), NULL = none */
    const char *dist_style;   /* Redshift, e.g. "KEY(id)", "EVEN", "ALL", "AUTO" */
    const char *sort_key;     /* Redshift, canonical JSON, NULL = none */
    const char *extension;    /* the extension that owns it (pg_depend 'e');
                                 NULL = the user's own */
    /* a partitioned table's direct partitions, JSON array of
     * {"name","bound"} sorted by name; NULL = none.  A fact like the row
     * estimate: latest only, not compared, not versioned */
    const char *partitions;
    /* what a view or materialized view reads: canonical JSON array of
     * {"schema","name","source"[,"columns"]} sorted by schema and name
     * (docs/lineage.md); NULL = nothing known (tables, always) */
    const char *depends_on;
    int64_t oid;              /* database object id; 0 = unknown */
    double row_estimate;      /* < 0 = unknown */
    size_t first_field, n_fields;
    /* table facts (above), in the catalog's arena; NULL = none.  Not part
     * of the hash. */
    const mc_facts *facts;
    uint64_t hash;            /* mc_container_hash(); from the store: as recorded */
    int64_t store_key;        /* loaded from the store: stable container id */
    int64_t store_id;         /* loaded from the store: container version row id */
    bool fields_loaded;       /* from the store: fields are present */
    /* from the store: its current version was recorded before the reading
     * rules of store schema 3 (identity, generated, extension members, NOT
     * NULL of domains); what differs only by those rules is not an event
     * (diff.c) */
    bool legacy;
    /* from the store: its current version was recorded before dependencies
     * were read (store schema 5): a depends_on that appears is recorded
     * without an event, once (diff.c) */
    bool depends_unread;
    /* The table's catalog fingerprint (discovery, PostgreSQL tables; from
     * the store: as recorded; NULL = none): the transaction ids of its rows
     * in pg_attribute, pg_attrdef, pg_description and pg_constraint, and
     * of the user-defined types.  A re-crawl reads the columns and keys
     * only of tables whose fingerprint moved (docs/performance.md). */
    const char *fingerprint;
    /* discovery: the fingerprint did not move, so the columns were not read
     * again; the container is as recorded (hash copied from the store),
     * n_fields is 0 and n_fields_unread says how many it has */
    bool fields_unread;
    size_t n_fields_unread;
    /* discovery: this container's n_fields fields are not in cur->fields
     * but in the crawl's spool: store_commit_run asks its field source
     * (store_field_source).  first_field still numbers them, so that a
     * field change can name one as first_field + its place among them */
    bool fields_elsewhere;
} mc_container;

typedef struct mc_catalog {
    mc_schema *schemas;
    size_t n_schemas;
    mc_container *containers;
    size_t n_containers;
    mc_field *fields;
    size_t n_fields;
    mc_arena *arena;          /* owns every string above */
    /* what the crawl could not read, for the partial-crawl rule */
    size_t n_unusable_schemas;
    /* discovery: containers the config leaves out although they exist
     * (extension members with extension_members: false), by schema and
     * name: not read, and not removed when they were recorded before */
    struct mc_left_out {
        const char *schema, *name;
    } *left_out;
    size_t n_left_out;
    /* store_load_current: 1 + the number of runs recorded (ok or partial)
     * for the datastore when its catalog was read; 0 = not read from a
     * store.  store_commit_run refuses when it has changed since. */
    int64_t store_commits;
} mc_catalog;

mc_catalog *mc_catalog_new(void);
void mc_catalog_free(mc_catalog *c); /* NULL is a no-op */
/* Appends (arrays grow geometrically); returns the new element, zeroed
 * except that containers start with row_estimate = -1. */
mc_schema *mc_catalog_add_schema(mc_catalog *c);
mc_container *mc_catalog_add_container(mc_catalog *c);
mc_field *mc_catalog_add_field(mc_catalog *c);
void mc_catalog_add_left_out(mc_catalog *c, const char *schema, const char *name);
bool mc_catalog_is_left_out(const mc_catalog *c, const char *schema, const char *name);
/* Sorts containers by (schema, name) keeping each one's fields with it,
 * sorts schemas by name, and fills in every container's hash. */
void mc_catalog_finish(mc_catalog *c);
/* Fingerprint of everything the diff compares for one container and its
 * fields (not the row estimate, not store ids). */
uint64_t mc_container_hash(const mc_catalog *c, const mc_container *k);
/* Binary search by (schema, name); NULL when absent. */
const mc_container *mc_catalog_find(const mc_catalog *c, const char *schema,
                                    const char *name);
const mc_schema *mc_catalog_find_schema(const mc_catalog *c, const char *name);
/* How many fields the catalog's containers have: n_fields plus the fields
 * discovery did not read again (mc_container.fields_unread) and those kept
 * elsewhere (mc_container.fields_elsewhere). */
size_t mc_catalog_field_count(const mc_catalog *c);

/* ---- changes ------------------------------------------------------------ */

typedef enum mc_change_kind {
    MC_SCHEMA_ADDED = 0,
    MC_SCHEMA_REMOVED,
    MC_SCHEMA_CHANGED,   /* owner, comment (an extension of SPEC §5; docs/changes.md) */
    MC_CONTAINER_ADDED,
    MC_CONTAINER_REMOVED,
    MC_CONTAINER_RENAMED,
    MC_CONTAINER_CHANGED,
    MC_FIELD_ADDED,
    MC_FIELD_REMOVED,
    MC_FIELD_RENAMED,
    MC_FIELD_CHANGED,
    MC_DATASTORE_STALE,     /* no successful crawl within stale_after (docs/scheduling.md) */
    MC_DATASTORE_RECOVERED, /* a successful crawl after datastore_stale */
    MC_CHANGE__COUNT
} mc_change_kind;
const char *mc_change_kind_name(mc_change_kind k); /* "schema_added", ... */
int mc_change_kind_parse(const char *s);           /* -1 when unknown */

/*
 * One change.  The path names the object as it is after the change (as it
 * was, for a removal).  before/after are JSON texts: for added/removed the
 * whole object, for renames the old and new name (a JSON string for a field,
 * {"schema":..,"name":..} for a container), for *_changed the attribute's
 * value (NULL JSON text = the attribute had no value, e.g. no comment).
 *
 * The *_index/_id members tie a change to the catalogs it came from, so the
 * store can write versions without comparing anything again.
 */
typedef struct mc_change {
    mc_change_kind kind;
    const char *schema;
    const char *container; /* NULL for schema changes */
    const char *field;     /* NULL unless a field change */
    const char *attribute; /* for *_changed: "type", "comment", ...; else NULL */
    const char *before;    /* JSON text or NULL */
    const char *after;     /* JSON text or NULL */
    bool breaking;
    /* for a breaking change: the views that read the object (transitively)
     * and the foreign keys that point at it, in the catalog as it was
     * before the change; JSON text (docs/lineage.md), NULL = none */
    const char *impact;
    /* writes a new version but is no event: not recorded as a change, not
     * alerted, not shown (a column's number moving up after a column before
     * it was dropped; diff.c) */
    bool silent;
    /* a rename found by shape, not by database id (diff_opts.by_name_only):
     * JSON "matched_by": "similarity" */
    bool by_similarity;
    /* links into the catalogs (-1 / 0 when not applicable) */
    ptrdiff_t prev_index;  /* index in prev: schema, container or field array */
    ptrdiff_t cur_index;   /* index in cur: schema, container or field array */
    ptrdiff_t cur_container; /* for field changes: container index in cur */
    ptrdiff_t prev_container;/* for field changes: container index in prev */
} mc_change;

typedef struct mc_changes {
    mc_change *items;
    size_t n, cap;
    mc_arena *arena; /* owns the JSON texts */
} mc_changes;
void mc_changes_init(mc_changes *cs);
void mc_changes_free(mc_changes *cs);
mc_change *mc_changes_add(mc_changes *cs);

/* ---- the store ---------------------------------------------------------- */

typedef struct store store;

/* Opens (creating and migrating as needed) the SQLite store at path.
 * WAL mode, foreign keys on, busy timeout.  Marks runs left "running" by a
 * process that died as "failed".  Errors are MC_EXIT_STORE. */
int store_open(const char *path, store **out, mc_error *err);
/* Opens an existing store for reading only: never creates, migrates or
 * writes it (not even the -wal/-shm files, in a directory that is not
 * writable).  A missing file, a file that is not a metacrawl store, one
 * cut off (shorter than its header says), or one of an older or newer
 * schema version is an error (MC_EXIT_STORE) naming the path.  Runs whose
 * process died are listed as failed, as store_open would record them. */
int store_open_read(const char *path, store **out, mc_error *err);
void store_close(store *s); /* NULL is a no-op */
int store_schema_version(store *s); /* PRAGMA user_version */
const char *store_lib_version(void); /* SQLite's, for --version */

typedef enum mc_run_status {
    MC_RUN_RUNNING = 0, MC_RUN_OK, MC_RUN_PARTIAL, MC_RUN_FAILED
} mc_run_status;
const char *mc_run_status_name(mc_run_status s); /* "running", "ok", ... */

typedef struct mc_run {
    int64_t id;
    const char *datastore;
    int64_t started_at, finished_at; /* unix seconds; finished 0 = not yet */
    mc_run_status status;
    const char *dialect;        /* "postgresql" / "redshift" / NULL */
    const char *server_version; /* NULL until known */
    int64_t n_schemas, n_containers, n_fields, n_changes;
    int64_t n_held_back;        /* removals held back (partial or fail_safe) */
    const char *error;          /* NULL when none */
    int64_t scheduled_for;      /* unix seconds, 0 = manual */
    const char *facts;          /* runs.facts: "read", "unavailable: WHY";
                                   NULL = not attempted (docs/lineage.md) */
} mc_run;

/* Inserts a run with status "running" in its own small transaction and
 * returns its id.  Creates the datastore row on first use. */
int store_run_begin(store *s, const char *datastore, int64_t scheduled_for,
                    int64_t *run_id_out, mc_error *err);
/* Marks a run failed with an error text (its own transaction; the catalog
 * is untouched). */
int store_run_fail(store *s, int64_t run_id, const char *error_text,
                   mc_error *err);

/*
 * The heartbeat of a running run: a thread of its own, with its own SQLite
 * connection to the store's file, writes runs.heartbeat_at every interval_s
 * seconds until stopped.  A run whose process is gone is closed by the next
 * process that opens the store, as failed and finished at its last
 * heartbeat (docs/store.md, "Runs").  A heartbeat that cannot be written
 * (the store busy for a second) is skipped, never an error of the crawl.
 */
#define STORE_HEARTBEAT_S 30
typedef struct store_heartbeat store_heartbeat;
int store_heartbeat_start(store *s, int64_t run_id, double interval_s,
                          store_heartbeat **out, mc_error *err);
void store_heartbeat_stop(store_heartbeat *hb); /* NULL is a no-op */

/* What the store says of a datastore as a whole (docs/scheduling.md). */
typedef struct mc_ds_state {
    bool known;               /* the store has a row for it */
    int64_t n_runs;
    int64_t first_run_at;     /* started_at of its first run; 0 = none */
    int64_t last_run_id;      /* its latest run; 0 = none */
    mc_run_status last_status;
    int64_t last_success_id;  /* its latest ok or partial run; 0 = none */
    int64_t last_success_at;  /* that run's started_at (when its catalog was read) */
    int64_t last_success_end; /* that run's finished_at */
    bool running;             /* a run of it is 'running' now */
    int64_t stale_since;      /* judged stale since (store_record_staleness); 0 = not */
    int64_t paused_at;        /* `schedule pause` time; 0 = not paused */
    char paused_by[128];      /* who paused it ("user@host"), "" */
} mc_ds_state;
int store_datastore_state(store *s, const char *datastore, mc_ds_state *out,
                          mc_error *err);
/* Records `schedule pause` (paused) or `schedule resume` (!paused) of a
 * datastore, creating its row when needed; by is who did it.  Sets
 * *changed_out to whether the state changed (pausing a paused datastore
 * does not). */
int store_set_paused(store *s, const char *datastore, bool paused, const char *by,
                     bool *changed_out, mc_error *err);
/*
 * Records the judged staleness of a datastore at now.  When it changes
 * (fresh -> stale, or stale -> fresh), one change event is recorded in its
 * latest run: datastore_stale or datastore_recovered, attribute
 * "last_success", after = that time as a JSON string (null: never) — and
 * queued for the alerts that want it, in the same transaction; otherwise
 * nothing is written.  A datastore without runs is never judged.
 * *recorded_out says whether an event was recorded.
 */
int store_record_staleness(store *s, const char *datastore, bool stale, int64_t now,
                           int64_t last_success, bool *recorded_out, mc_error *err);

/* The current catalog of a datastore (the versions still valid), without
 * fields: every container has hash, store_key, store_id set and
 * fields_loaded false.  An unknown datastore gives an empty catalog.
 * store_commits remembers how many runs had been recorded, for the
 * conflict check of store_commit_run. */
int store_load_current(store *s, const char *datastore, mc_catalog **out,
                       mc_error *err);
/* Loads the current fields of the given containers of a catalog that came
 * from store_load_current, appending them to cat->fields and setting
 * first_field/n_fields/fields_loaded. */
int store_load_fields(store *s, mc_catalog *cat, const size_t *container_idx,
                      size_t n, mc_error *err);
/* The full catalog (with fields) as it was after run_id; run_id 0 = the
 * latest.  Row estimates are the latest known.  Hashes: for run_id 0 the
 * recorded ones (as store_load_current), for an earlier run computed from
 * that run's versions.  A run of another datastore, or none, is an error. */
int store_load_as_of(store *s, const char *datastore, int64_t run_id,
                     mc_catalog **out, mc_error *err);

/* One container (with its fields) as it is (run_id 0) or was after run_id,
 * found by schema and name through the store's name index: what `show
 * DS.SCHEMA.TABLE` prints, without reading the rest of the datastore.  An
 * empty catalog when there is no such container; the run check is
 * store_load_as_of's.  Row estimate and partitions are the latest known. */
int store_load_container(store *s, const char *datastore, int64_t run_id,
                         const char *schema, const char *name, mc_catalog **out,
                         mc_error *err);

/*
 * A datastore's catalog one container at a time, for exports that must not
 * hold a whole catalog (400,000 columns) in memory: as it is (run_id 0) or
 * was after run_id (the run check is store_load_as_of's).  The cursor reads
 * one snapshot from open to close.  store_cursor_schemas gives the
 * schemas (a catalog holding only them, sorted by name); each
 * store_cursor_next gives the next container by (schema, name), with its
 * fields, as a catalog holding just it, valid until the next call; *out
 * NULL at the end.  An unknown datastore has no schemas and no containers.
 */
typedef struct store_cursor store_cursor;
int store_cursor_open(store *s, const char *datastore, int64_t run_id,
                      store_cursor **out, mc_error *err);
const mc_catalog *store_cursor_schemas(const store_cursor *c);
int store_cursor_next(store_cursor *c, const mc_catalog **out, mc_error *err);
void store_cursor_close(store_cursor *c); /* NULL is a no-op */

/* Makes store_cursor_next give each container without its fields: the
 * container's n_fields says how many it has, fields_loaded stays false and
 * the catalog holds no field (what `show DS.SCHEMA` lists).  Call it before
 * the first store_cursor_next. */
int store_cursor_counts_only(store_cursor *c, mc_error *err);

/*
 * A datastore's catalog as it is (run_id 0) or was after run_id, without
 * fields: its schemas and containers (sorted), each container with
 * fields_loaded false and no field in the catalog — memory grows with the
 * containers, not with their columns.  The run check is store_load_as_of's.
 * what asks for more:
 *   STORE_SKELETON_COUNTS  n_fields is each container's number of fields
 *                          (still none in the catalog: do not pass such a
 *                          catalog where fields are read);
 *   STORE_SKELETON_HASHES  hash is computed from the run's versions, as
 *                          store_load_as_of has it for a past run (the fields
 *                          are read one container at a time, none is kept).
 * Otherwise hash is the recorded one for run_id 0, and 0 for a past run.
 */
#define STORE_SKELETON_COUNTS 1u
#define STORE_SKELETON_HASHES 2u
int store_load_skeleton(store *s, const char *datastore, int64_t run_id, unsigned what,
                        mc_catalog **out, mc_error *err);
/* store_load_skeleton, where a container's texts equal to those of the
 * container of the same schema and name in like (a catalog in (schema,
 * name) order, e.g. the other side of a diff) point to like's instead of
 * being copied: like must outlive *out, and nobody may change either's
 * texts in place.  The second catalog of a diff then costs little more than
 * its containers' structs. */
int store_load_skeleton_like(store *s, const char *datastore, int64_t run_id,
                             unsigned what, const mc_catalog *like, mc_catalog **out,
                             mc_error *err);
/* Sets the hash of every container of cat that came from the store to
 * mc_container_hash of the container as cat has it (its names, keys and
 * texts, e.g. after a schema was renamed) with its fields as of run_id (0 =
 * current), read one container at a time. */
int store_hash_containers(store *s, mc_catalog *cat, int64_t run_id, mc_error *err);
/* store_load_fields for a catalog as of run_id (0 = current): the fields of
 * the given containers, one index probe each, appended to cat->fields. */
int store_load_fields_at(store *s, mc_catalog *cat, int64_t run_id,
                         const size_t *container_idx, size_t n, mc_error *err);

typedef struct mc_run_summary {
    mc_run_status status;       /* OK or PARTIAL */
    const char *dialect;
    const char *server_version;
    int64_t n_held_back;
    const char *error;          /* warning text for a partial run, or NULL */
    bool baseline;              /* first crawl of a datastore: versions are
                                   written, change events are not (nothing
                                   "changed"; 10,000 container_added alerts
                                   would help nobody) */
    /* table facts: "read", or "unavailable: WHY" (the facts of cur's
     * containers are then not written; the last ones stay); NULL = not
     * attempted.  Recorded as runs.facts. */
    const char *facts;
} mc_run_summary;

/*
 * Records a crawl: in ONE transaction, applies the changes (closing and
 * opening versions as they say), stores container hashes (0 for a container
 * with anything held back, so the next crawl compares it again), updates row
 * estimates that moved, inserts the change events, and finishes the run with
 * the counts of cur.  prev must be the catalog store_load_current returned
 * (with fields loaded for every container a change touches).
 * cur_to_prev[i] is the prev index of cur container i, or -1 when it is new:
 * for every pair the stored hash becomes cur's hash (0 when the prev index
 * is in hold_back_containers) and a moved row estimate is updated.
 * When another run of the datastore was recorded after prev was read
 * (prev->store_commits), nothing is written and the error (MC_EXIT_STORE)
 * says which run: this crawl's changes were computed against a baseline
 * that is no longer current, and recording them would corrupt the history.
 */
int store_commit_run(store *s, int64_t run_id, const mc_catalog *prev,
                     const mc_catalog *cur, const mc_changes *changes,
                     const ptrdiff_t *cur_to_prev,
                     const size_t *hold_back_containers, size_t n_hold_back,
                     const mc_run_summary *summary, mc_error *err);

/* Where store_commit_run finds the fields of a cur container whose fields
 * are not in cur->fields (mc_container.fields_elsewhere): a first crawl
 * spools them as discovery goes.  fields() sets *out to that container's
 * n fields in position order, valid until the next call; 0 or -1 with err. */
typedef struct store_field_source {
    int (*fields)(void *arg, size_t container, const mc_field **out, size_t *n,
                  mc_error *err);
    void *arg;
} store_field_source;

/* store_commit_run, finding the fields of cur's fields_elsewhere containers
 * through src (NULL: there are none; store_commit_run passes NULL).  The
 * fields of a container are asked for once per container in the order of
 * the changes (a first crawl: cur's order), and again only when a change
 * of another container came between.  A field change of such a container
 * must name it (cur_container), and its cur_index is first_field + the
 * field's place in what src serves.  The run's n_fields counts them. */
int store_commit_run_src(store *s, int64_t run_id, const mc_catalog *prev,
                         const mc_catalog *cur, const mc_changes *changes,
                         const ptrdiff_t *cur_to_prev,
                         const size_t *hold_back_containers, size_t n_hold_back,
                         const mc_run_summary *summary, const store_field_source *src,
                         mc_error *err);

/* The latest recorded facts of every container of cat that came from the
 * store (store_key set): container->facts, with the run that observed them
 * and its start time; containers without recorded facts keep NULL.  Facts
 * are not history: with a catalog as of a past run they are still the
 * latest (docs/lineage.md, "Table facts"). */
int store_load_facts(store *s, mc_catalog *cat, mc_error *err);

/* Runs, newest first; datastore NULL = all; limit 0 = all.  The array and
 * its strings are owned by the returned arena-backed list. */
typedef struct mc_run_list {
    mc_run *runs;
    size_t n;
    mc_arena *arena;
} mc_run_list;
int store_list_runs(store *s, const char *datastore, size_t limit,
                    mc_run_list *out, mc_error *err);
void mc_run_list_free(mc_run_list *l);
int store_get_run(store *s, int64_t run_id, mc_run_list *out, mc_error *err); /* n = 0 or 1 */

/* The change events recorded by runs in (from_run, to_run] of a datastore,
 * in recording order.  Used by alerts and the docs site.  to_run 0 = no
 * upper bound.  out is zeroed or mc_changes_init'ed; events are appended,
 * with their catalog links at -1.  *run_ids_out (may be NULL) is malloc'd,
 * one run id per item of out (0 for items that were there before); the
 * caller frees it. */
int store_list_changes(store *s, const char *datastore, int64_t from_run,
                       int64_t to_run, mc_changes *out, int64_t **run_ids_out,
                       mc_error *err);

/* Search current containers and fields whose name or comment contains text
 * (case-insensitive).  One hit per line of the result. */
typedef struct mc_search_hit {
    const char *datastore, *schema, *container;
    const char *field;   /* NULL when the container itself matched */
    const char *kind;    /* container kind or field type */
    const char *comment;
    const char *extension; /* the container's extension, NULL = none */
} mc_search_hit;
typedef struct mc_search_result {
    mc_search_hit *hits;
    size_t n;
    mc_arena *arena;
} mc_search_result;
int store_search(store *s, const char *text, size_t limit,
                 mc_search_result *out, mc_error *err);
void mc_search_result_free(mc_search_result *r);

/* ---- the alert outbox ---------------------------------------------------- */

/*
 * Which alerts want which changes.  The store knows an alert by its name
 * only; the filter is the caller's (crawler/alerts), so no config type
 * reaches the store.  While rules are set, store_commit_run queues one
 * delivery per (alert i, recorded change) for which wants() is true, inside
 * the run's transaction.  wants() runs inside that transaction: it must not
 * use the store.  A baseline run records no changes, so it queues nothing.
 */
typedef struct store_outbox_rules {
    size_t n;                 /* number of alerts */
    const char *const *names; /* names[i]: alert i's name */
    bool (*wants)(void *arg, size_t alert, const char *datastore,
                  const mc_change *ch);
    void *arg;
} store_outbox_rules;
/* rules is borrowed until it is replaced, NULL'ed or the store closed. */
void store_set_outbox_rules(store *s, const store_outbox_rules *rules);

/* One queued delivery of one change to one alert. */
typedef struct mc_delivery {
    int64_t id;                /* alert_outbox row id */
    const char *alert;
    int64_t change_id;         /* changes.id: stable, for receivers to dedupe */
    int64_t run;               /* the run that recorded the change */
    const char *datastore;
    int64_t attempts;          /* attempts so far (all failed: it is pending) */
    const char *last_error;    /* NULL = never failed */
    int64_t queued_at, last_attempt_at; /* unix seconds; 0 = never */
} mc_delivery;

/* items[i]'s change is changes.items[i] (catalog links -1); every string
 * lives in changes.arena. */
typedef struct mc_delivery_list {
    mc_delivery *items;
    size_t n;
    mc_changes changes;
} mc_delivery_list;

/* The pending deliveries of one alert (NULL = of every alert), oldest
 * first (queue order: runs in commit order, a run's changes in recording
 * order); limit 0 = all. */
int store_outbox_pending(store *s, const char *alert, size_t limit,
                         mc_delivery_list *out, mc_error *err);
void mc_delivery_list_free(mc_delivery_list *l); /* zeroed list: no-op */
/* Marks rows delivered (final), or records a failed attempt on them (they
 * stay pending with the error); one transaction each.  Rows that are no
 * longer pending are left alone. */
int store_outbox_mark_delivered(store *s, const int64_t *ids, size_t n,
                                mc_error *err);
int store_outbox_mark_failed(store *s, const int64_t *ids, size_t n,
                             const char *error_text, mc_error *err);
/* Gives up the pending deliveries of an alert (status discarded, final). */
int store_outbox_discard(store *s, const char *alert, int64_t *n_out,
                         mc_error *err);
int store_outbox_count_pending(store *s, const char *alert, int64_t *n_out,
                               mc_error *err);

/* Per alert name that has rows in the outbox, sorted by name. */
typedef struct mc_outbox_stat {
    const char *alert;
    int64_t n_pending, n_delivered, n_discarded;
    int64_t oldest_queued_at;  /* of the pending rows; 0 = none */
    int64_t oldest_run;        /* run of the oldest pending change; 0 = none */
    int64_t max_attempts;      /* most failed attempts of a pending row */
    int64_t last_attempt_at;   /* latest attempt on a pending row; 0 = none */
    const char *last_error;    /* that attempt's error: why it is pending */
    int64_t last_delivered_at; /* 0 = never */
} mc_outbox_stat;
typedef struct mc_outbox_stats {
    mc_outbox_stat *items;
    size_t n;
    mc_arena *arena;
} mc_outbox_stats;
int store_outbox_stats(store *s, mc_outbox_stats *out, mc_error *err);
void mc_outbox_stats_free(mc_outbox_stats *st);

/* Serialises deliveries between processes sharing the store (an flock on
 * "<store path>-alerts.lock", released when the holder exits, however it
 * exits).  Waits up to wait_s seconds; *got false means another process
 * still holds it (not an error).  store_close unlocks. */
int store_outbox_lock(store *s, int wait_s, bool *got, mc_error *err);
void store_outbox_unlock(store *s); /* not held: no-op */

/* Names of datastores that have runs, sorted.  The array and each name
 * are malloc'd; the caller frees them. */
int store_list_datastores(store *s, char ***names_out, size_t *n_out,
                          mc_error *err);

#endif
