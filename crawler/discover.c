/*
 * discover.c — the discovery session and the catalog queries; statements
 * run through crawler/pg (connection, errors, rows, the version probe).
 *
 * Why one file of ~1,600 lines: the two dialects' step tables (SQL text +
 * row handler) and the row handlers refer to each other, and a step's SQL
 * and the handler that reads its columns are reviewed together (a column
 * added to one must be read by the other).  Splitting the statements from
 * the handlers would put each pair in two files behind an internal header
 * of some forty declarations; a split by dialect (PostgreSQL / Redshift,
 * sharing the handlers) is the better seam when this file grows again.
 *
 * Shape (after pg_dump): one query per object kind, each returning the same
 * columns whatever the dialect, read row by row in libpq's single-row mode
 * (pg_rows) so a 400,000-column catalog never sits in memory twice (once as
 * a result, once as structs).  A dialect is a list of steps (SQL text + the row
 * handler for its shape); the Redshift dialect adds its own steps for
 * external schemas and tables, late-binding views' columns and the names of
 * referenced key columns, with the same shapes (docs/redshift.md).
 *
 * The number of statements per crawl is constant: version() (twice on
 * Redshift, which has no server_version_num), SET, on Redshift the database
 * query (a datashare consumer is read by datashare.c instead), BEGIN, the schema query, one
 * statement per snapshot step, the dependency query (crawler/lineage),
 * COMMIT, then one per isolated step
 * (Redshift's own: see disc_step), whether they fail or not, and the
 * table facts statement (facts.c).  Schema scoping happens in SQL with an
 * IN-list of escaped literals (Redshift has no arrays), built once from the
 * schema query's result.  What SQL cannot build without array functions on
 * Redshift (sort keys in key order, key column names from attnums) the
 * handlers build from the rows.
 */
#include "discover.h"
#include "datashare.h"
#include "json.h"
#include "lineage.h"
#include "pg.h"
#include "reread.h"
#include "spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct disc_session {
    pg_session *pg;
    const char *ds_name;
};

/* ---- connecting ---------------------------------------------------------- */

int disc_connect(const cfg_datastore *ds, const disc_target *target,
                 disc_session **out, mc_error *err)
{
    *out = NULL;
    mc_secret password = {0};
    char *user = NULL;
    /* iam:, credentials_command or the password (none: libpq's own) */
    if (cfg_datastore_login(ds, &user, &password, err) != 0)
        return -1;
    const pg_login login = {
        .name = ds->name,
        .host = target->host,
        .hostaddr = target->hostaddr,
        .port = target->port,
        .database = ds->database,
        .user = user ? user : ds->user,
        .sslmode = ds->sslmode,
        .connect_timeout_s = ds->connect_timeout_s,
        .statement_timeout_ms = ds->statement_timeout_ms,
    };
    pg_session *pg = NULL;
    int rc = pg_connect(&login, &password, &pg, err); /* wipes the password */
    free(user);
    if (rc != 0)
        return -1;
    disc_session *s = mc_calloc(1, sizeof *s);
    s->pg = pg;
    s->ds_name = ds->name;
    *out = s;
    return 0;
}

void disc_close(disc_session *s)
{
    if (!s)
        return;
    pg_close(s->pg);
    free(s);
}

pg_session *disc_pg(disc_session *s)
{
    return s->pg;
}

const char *disc_dialect(const disc_session *s)
{
    return pg_dialect(s->pg);
}

const char *disc_server_version(const disc_session *s)
{
    return pg_server_version(s->pg);
}

int disc_detect(disc_session *s, mc_error *err)
{
    return pg_detect(s->pg, err);
}

/* ---- running statements -------------------------------------------------- */

/* A row handler sees the current row of the statement and the column
 * numbers it looked up on the first row. */
typedef struct row_ctx row_ctx;
typedef int (*row_fn)(row_ctx *ctx, pg_rows *res, mc_error *err);

/* Streams the rows of one query to fn (crawler/pg reads them in single-row
 * mode).  With timeout_ms > 0 the client cancels the statement after that
 * long (a cancel request is not a statement) and the error says so. */
static int stream_query_timeout(disc_session *s, const char *what, const char *sql,
                                row_fn fn, row_ctx *ctx, int timeout_ms, mc_error *err)
{
    pg_rows *rows = pg_rows_open(s->pg, what, sql, timeout_ms, err);
    if (!rows)
        return -1;
    int rc = 0, more;
    while ((more = pg_rows_next(rows, err)) > 0) {
        rc = fn(ctx, rows, err);
        mc_progress_row(what);
        if (rc != 0)
            break;
    }
    if (more < 0) {
        rc = -1;
        if (pg_rows_cancelled(rows)) {
            mc_error cut = {0};
            mc_error_set(&cut, err->code, "datastore '%s': %s failed: cancelled after "
                         "%d ms (late_binding_timeout)", s->ds_name, what, timeout_ms);
            mc_error_hint(&cut, "raise late_binding_timeout: or statement_timeout: "
                                "in the config");
            *err = cut;
        }
    }
    pg_rows_close(rows);
    return rc;
}

static int stream_query(disc_session *s, const char *what, const char *sql,
                        row_fn fn, row_ctx *ctx, mc_error *err)
{
    return stream_query_timeout(s, what, sql, fn, ctx, 0, err);
}

/* ---- dialects -------------------------------------------------------------- */

/*
 * A dialect is the statement that starts the snapshot, the schema query and
 * a list of steps.  Each step's SQL returns the fixed column shape of its
 * kind, so one row handler per kind reads every dialect:
 *
 *   STEP_CONTAINERS   oid, schema, name, kind, owner, comment, definition,
 *                     row_estimate, dist_style, sort_key
 *   STEP_SCHEMA_FLAGS name                  (marks a schema read before as
 *                                            external)
 *   STEP_FIELDS       container_oid, schema, container, attnum, name, type,
 *                     not_null, default_expr, comment, encoding, sort_key_ord
 *   STEP_REF_COLUMNS  container_oid, attnum, name  (names of the columns of
 *                                            tables that foreign keys point at)
 *   STEP_KEYS         container_oid, type, name, columns, ref_schema,
 *                     ref_container, ref_columns, ref_oid
 *
 * A row with a NULL container_oid names its container by (schema,
 * container): external tables and late-binding views' columns, which the
 * catalog describes by name.  Key columns come either as a JSON array of
 * names or as the server's int2[] text ("{1,2}") of attnums, which the key
 * handler turns into names with the columns already read.
 *
 * Order: every STEP_CONTAINERS step comes before any step that attaches to
 * containers (the container index is built once, after them).
 *
 * SCHEMAS_TOKEN in a step's SQL is replaced by the IN-list of the schemas in
 * scope.
 */
#define SCHEMAS_TOKEN "@SCHEMAS@"
/* REREAD_FIELDS_TOKEN / REREAD_KEYS_TOKEN: "true", or the condition that
 * limits the column and key queries to the tables read again (plan_reread). */
#define REREAD_FIELDS_TOKEN "@REREAD_FIELDS@"
#define REREAD_KEYS_TOKEN "@REREAD_KEYS@"
/* DATABASE_TOKEN: the connected database's name as an escaped literal. */
#define DATABASE_TOKEN "@DATABASE@"
typedef enum step_kind {
    STEP_CONTAINERS,
    STEP_SCHEMA_FLAGS,
    STEP_FIELDS,
    STEP_REF_COLUMNS,
    STEP_KEYS,
    STEP_LATE_BINDING, /* one record per column: "(schema,view,column,type,num)" */
} step_kind;

/*
 * An isolated step (the Redshift-only ones: external schemas, tables and
 * columns, late-binding view columns) runs after the snapshot's COMMIT, in
 * a statement of its own, so that its failure cannot abort the others
 * (Redshift has no savepoints).  When one fails the crawl goes on: the run
 * is partial, a warning names the step and the server's message, and the
 * objects it describes keep what was last recorded (a partial run records
 * no removal).  SVV views do not follow the snapshot anyway.  A step with
 * own_timeout is cancelled by the client after ds->late_binding_timeout_ms,
 * which costs no statement.
 */
typedef struct disc_step {
    const char *what;
    step_kind kind;
    const char *sql;
    bool isolated;
    bool own_timeout;
    const char *affected; /* what keeps its last recorded state on failure */
} disc_step;

typedef struct disc_dialect_def {
    const char *name;
    const char *begin;       /* starts the read-only snapshot */
    const char *sql_schemas; /* no placeholder: every non-system schema */
    const disc_step *steps;
    size_t n_steps;
} disc_dialect_def;

/* Comments of objects come from pg_description joined by (objoid, classoid,
 * objsubid) rather than obj_description(), which is one sub-query per row. */

static const char pg_schemas_sql[] =
    "SELECT n.oid::int8 AS oid, n.nspname AS name, "
    "pg_get_userbyid(n.nspowner) AS owner, d.description AS comment, "
    "has_schema_privilege(n.oid, 'USAGE') AS usable "
    "FROM pg_catalog.pg_namespace n "
    "LEFT JOIN pg_catalog.pg_description d ON d.objoid = n.oid "
    "AND d.classoid = 'pg_catalog.pg_namespace'::regclass AND d.objsubid = 0 "
    "WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'";

/* The fingerprint of a table (docs/performance.md, "Fingerprints"): the
 * transaction ids (xmin) of its rows in pg_attribute (with the number of
 * live columns), pg_attrdef, pg_description (its columns' comments) and
 * pg_constraint, as count:sum per catalog, after those of the user-defined
 * types and of pg_namespace (a renamed type or domain changes how columns
 * print without touching the table).  Any change to those rows gives them
 * a newer xmin, so the sums move; a re-crawl reads the columns and keys of
 * the tables whose fingerprint moved only.  One pass over each catalog
 * (grouped, hashed), not a sub-select per table: 0.3 s against 1.4 s on the
 * bench's 10,000 tables.  Only plain and foreign tables get one; views,
 * materialized views and partitioned tables are read every time. */
/* The sum of the xmins of a table's rows without turning each into text:
 * age(xmin) is S - xmin for the snapshot's stable S (one per transaction,
 * GetStableLatestTransactionId), and S is age('3'::xid) + 3, so
 * count * S - sum(age) is the sum of the xmins (exact while they are
 * normal transaction ids, as every row of a user table's is; 35% cheaper
 * than xmin::text::int8 over pg_attribute). */
#define XMIN_SUM(a) "count(*) * (age('3'::xid)::int8 + 3) - sum(age(" a ".xmin)::int8)"
#define FINGERPRINT_JOINS                                                       \
    "CROSS JOIN (SELECT count(*) || ':' || COALESCE(sum(t.xmin::text::int8), 0) || " \
    "':' || (SELECT sum(s.xmin::text::int8) FROM pg_catalog.pg_namespace s) AS fp "  \
    "FROM pg_catalog.pg_type t WHERE t.oid >= 16384 "                             \
    "AND t.typtype IN ('b', 'd', 'e', 'r', 'm') AND t.typcategory <> 'A') ty "   \
    "LEFT JOIN (SELECT a.attrelid, count(*) FILTER (WHERE NOT a.attisdropped) AS n, " \
    XMIN_SUM("a") " AS s FROM pg_catalog.pg_attribute a "                         \
    "WHERE a.attnum > 0 GROUP BY 1) fa ON fa.attrelid = c.oid "                   \
    "LEFT JOIN (SELECT x.adrelid, count(*) || ':' || " XMIN_SUM("x") " AS s "     \
    "FROM pg_catalog.pg_attrdef x GROUP BY 1) fd ON fd.adrelid = c.oid "          \
    "AND c.relkind IN ('r', 'f') "                                                 \
    "LEFT JOIN (SELECT x.objoid, count(*) || ':' || " XMIN_SUM("x") " AS s "      \
    "FROM pg_catalog.pg_description x "                                           \
    "WHERE x.classoid = 'pg_catalog.pg_class'::regclass AND x.objsubid > 0 "      \
    "GROUP BY 1) fc ON fc.objoid = c.oid AND c.relkind IN ('r', 'f') "            \
    "LEFT JOIN (SELECT x.conrelid, count(*) || ':' || " XMIN_SUM("x") " AS s "    \
    "FROM pg_catalog.pg_constraint x GROUP BY 1) fk ON fk.conrelid = c.oid "      \
    "AND c.relkind IN ('r', 'f') "

/* Partitions are left out (their parent, the partitioned table, stands for
 * them): a table with 3,000 daily partitions is one thing to document.  The
 * partitioned table lists its direct partitions instead, as a JSON array of
 * {"name","bound"} sorted by name (to_json escapes the names).
 *
 * extension: the extension that owns the relation (pg_depend deptype 'e',
 * what pg_dump uses to leave it out).  row_estimate: reltuples, where -1
 * means never analysed since PostgreSQL 14; before 14 a never-analysed
 * table shows 0 rows in 0 pages (@RELTUPLES@). */
static const char pg_containers_sql[] =
    "SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, "
    "CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' "
    "WHEN 'm' THEN 'materialized_view' WHEN 'p' THEN 'partitioned_table' "
    "WHEN 'f' THEN 'foreign_table' END AS kind, "
    "pg_get_userbyid(c.relowner) AS owner, d.description AS comment, "
    "CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS definition, "
    "@RELTUPLES@ AS row_estimate, "
    "NULL::text AS dist_style, NULL::text AS sort_key, "
    "x.extname::text AS extension, "
    "CASE WHEN c.relkind = 'p' THEN (SELECT '[' || string_agg('{\"name\":' || "
    "to_json(p.relname::text)::text || ',\"bound\":' || "
    "to_json(pg_catalog.pg_get_expr(p.relpartbound, p.oid))::text || '}', ',' "
    "ORDER BY p.relname COLLATE \"C\") || ']' "
    "FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhrelid "
    "WHERE i.inhparent = c.oid AND p.relispartition) END AS partitions, "
    "CASE WHEN c.relkind IN ('r', 'f') THEN ty.fp || '/' || fa.n || ':' || fa.s || '/' || "
    "COALESCE(fd.s, '0') || '/' || COALESCE(fc.s, '0') || '/' || COALESCE(fk.s, '0') "
    "END AS fingerprint, COALESCE(fa.n, 0) AS column_count "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_description d ON d.objoid = c.oid "
    "AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0 "
    FINGERPRINT_JOINS
    "LEFT JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_class'::regclass "
    "AND dep.objid = c.oid AND dep.objsubid = 0 AND dep.deptype = 'e' "
    "AND dep.refclassid = 'pg_catalog.pg_extension'::regclass "
    "LEFT JOIN pg_catalog.pg_extension x ON x.oid = dep.refobjid "
    "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition "
    "AND n.nspname IN (" SCHEMAS_TOKEN ") "
    "ORDER BY c.oid";

/* A default is deparsed with pg_get_expr(adbin, 0): a default cannot refer
 * to a column, and naming the relation makes the server open it (build its
 * relcache entry) once per table — 1.4 s of a cold session's 2.9 s on the
 * bench's 10,000 tables.  A generated column's expression does refer to
 * columns and keeps its relation.
 *
 * not_null: the column's own NOT NULL, or a NOT NULL of its domain or of
 * any domain that domain is based on (information_schema looks at the
 * column's own domain only).  A generated column (attgenerated, 12+) has
 * its expression in pg_attrdef: it is read as `generated`, not as a
 * default.  attidentity is 10+. */
static const char pg_fields_sql[] =
    "WITH RECURSIVE nn(oid) AS ("
    "SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typtype = 'd' AND t.typnotnull "
    "UNION SELECT t.oid FROM pg_catalog.pg_type t JOIN nn ON t.typbasetype = nn.oid "
    "WHERE t.typtype = 'd') "
    "SELECT a.attrelid::int8 AS container_oid, NULL::text AS schema, "
    "NULL::text AS container, a.attnum::int4 AS attnum, a.attname AS name, "
    "pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, "
    "(a.attnotnull OR a.atttypid IN (SELECT oid FROM nn)) AS not_null, "
    "CASE WHEN @ATTGENERATED@ = '' THEN pg_catalog.pg_get_expr(ad.adbin, 0) "
    "END AS default_expr, "
    "d.description AS comment, NULL::text AS encoding, NULL::int4 AS sort_key_ord, "
    "CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by_default' END AS identity, "
    "CASE WHEN @ATTGENERATED@ <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) "
    "END AS generated "
    "FROM pg_catalog.pg_attribute a "
    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum "
    "LEFT JOIN pg_catalog.pg_description d ON d.objoid = a.attrelid "
    "AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum "
    "WHERE a.attnum > 0 AND NOT a.attisdropped "
    "AND c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition "
    "AND n.nspname IN (" SCHEMAS_TOKEN ") AND " REREAD_FIELDS_TOKEN;

/* Key columns come back as JSON arrays in key order (unnest WITH
 * ORDINALITY: PostgreSQL 9.4+).
 *
 * Partitions (docs/discovery.md, "Partitions"):
 *  - PostgreSQL 11+ keeps an internal copy of a foreign key for every
 *    partition it concerns (a key declared on a partitioned table is copied
 *    to each partition; a key pointing at a partitioned table gets one row
 *    per referenced partition, "..._fkey1", "..._fkey2"...).  The copies have
 *    conparentid set and are not read: the declared key stands for them.
 *  - A foreign key declared on a partition alone (conparentid 0 there) is
 *    attached to the partition's top-level partitioned table, naming the
 *    partition; the root is found by walking pg_inherits (pg_partition_root
 *    is 12+).  Primary keys of partitions are not the table's key and are
 *    not read.
 * @CONPARENT@ is "con.conparentid = 0" on 11+, "true" before (version gates,
 * disc_run). */
static const char pg_keys_sql[] =
    "WITH RECURSIVE up(relid, root) AS ("
    "SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i "
    "JOIN pg_catalog.pg_class p ON p.oid = i.inhrelid WHERE p.relispartition "
    "UNION ALL "
    "SELECT up.relid, i.inhparent FROM up "
    "JOIN pg_catalog.pg_class p ON p.oid = up.root AND p.relispartition "
    "JOIN pg_catalog.pg_inherits i ON i.inhrelid = up.root), "
    "roots AS (SELECT up.relid, up.root FROM up "
    "JOIN pg_catalog.pg_class r ON r.oid = up.root WHERE NOT r.relispartition) "
    "SELECT COALESCE(rt.root, con.conrelid)::int8 AS container_oid, "
    "con.contype::text AS type, con.conname AS name, "
    "array_to_json(ARRAY(SELECT a.attname FROM unnest(con.conkey) "
    "WITH ORDINALITY AS k(attnum, ord) JOIN pg_catalog.pg_attribute a "
    "ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord))::text AS columns, "
    "fn.nspname AS ref_schema, fc.relname AS ref_container, "
    "array_to_json(ARRAY(SELECT a.attname FROM unnest(con.confkey) "
    "WITH ORDINALITY AS k(attnum, ord) JOIN pg_catalog.pg_attribute a "
    "ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord))::text AS ref_columns, "
    "con.confrelid::int8 AS ref_oid, "
    "CASE WHEN rt.root IS NOT NULL THEN c.relname END AS partition "
    "FROM pg_catalog.pg_constraint con "
    "JOIN pg_catalog.pg_class c ON c.oid = con.conrelid "
    "LEFT JOIN roots rt ON rt.relid = c.oid AND c.relispartition "
    "LEFT JOIN pg_catalog.pg_class rc ON rc.oid = rt.root "
    "JOIN pg_catalog.pg_namespace n ON n.oid = COALESCE(rc.relnamespace, c.relnamespace) "
    "LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid "
    "LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace "
    "WHERE (con.contype = 'f' OR (con.contype = 'p' AND NOT c.relispartition)) "
    "AND @CONPARENT@ AND n.nspname IN (" SCHEMAS_TOKEN ") AND " REREAD_KEYS_TOKEN " "
    "ORDER BY 1, 2, 3, partition NULLS FIRST";

/* Catalog columns that only newer servers have, as pg_dump gates them: the
 * token is replaced by the first text from min_version on, by the second
 * before (PostgreSQL dialect only). */
static const struct pg_gate {
    const char *token;
    int min_version;
    const char *text, *older;
} pg_gates[] = {
    {"@CONPARENT@", 110000, "con.conparentid = 0", "true"},
    {"@ATTGENERATED@", 120000, "a.attgenerated::text", "''::text"},
    {"@RELTUPLES@", 140000, "c.reltuples::float8",
     "CASE WHEN c.reltuples = 0 AND c.relpages = 0 AND c.relkind IN ('r', 'm') "
     "THEN -1 ELSE c.reltuples END::float8"},
};

static const disc_step pg_steps[] = {
    {"container query", STEP_CONTAINERS, pg_containers_sql, false, false, NULL},
    /* keys before columns: a first crawl hashes and spools each table as
     * its last column arrives (spool.h), so its keys must be known */
    {"key query", STEP_KEYS, pg_keys_sql, false, false, NULL},
    {"column query", STEP_FIELDS, pg_fields_sql, false, false, NULL},
};

/*
 * Redshift (docs/redshift.md has the why of every choice).
 *
 * Rules every statement below keeps:
 *  1. Catalog objects are named without the pg_catalog. prefix, as the AWS
 *     examples do.  (The CI fixture relies on it: it shadows the Redshift-only
 *     objects from a schema ahead of pg_catalog on the search_path.  Only
 *     regclass literals name pg_catalog: they must mean the real catalogs.)
 *  2. No array functions or operators, no generate_series, no string_agg:
 *     "Unsupported PostgreSQL functions" in the Amazon Redshift Database
 *     Developer Guide.  Array-typed columns (pg_constraint.conkey) are only
 *     selected, never operated on; their text is read by the client.
 *  3. Leader-node-only functions (has_schema_privilege, version(),
 *     current_setting ...) appear only in statements that read catalog tables
 *     alone; the statements that read SVV views call no function at all.
 *     "SQL functions supported on the leader node", "Leader node-only
 *     functions".
 *  4. LIKE patterns carry no escapes: Redshift's default LIKE escape differs
 *     from PostgreSQL's literal rules, so prefixes are compared with substr.
 *  5. Nothing needs a superuser: pg_class/pg_attribute rows are readable by
 *     every user (metadata security can narrow them, docs/redshift.md);
 *     PG_CLASS_INFO and SVV_TABLE_INFO, which are not, are not read.
 */

/* AWS: "HAS_SCHEMA_PRIVILEGE" (a leader-node function: this statement reads
 * catalog tables only), "System catalog tables" / "Querying the catalog
 * tables" (pg_namespace, pg_description, pg_user).  External schemas are
 * rows of pg_namespace too ("PG_EXTERNAL_SCHEMA": esoid = pg_namespace.oid). */
static const char rs_schemas_sql[] =
    "SELECT n.oid::int8 AS oid, n.nspname AS name, u.usename AS owner, "
    "d.description AS comment, has_schema_privilege(n.oid, 'USAGE') AS usable "
    "FROM pg_namespace n "
    "LEFT JOIN pg_user u ON u.usesysid = n.nspowner "
    "LEFT JOIN pg_description d ON d.objoid = n.oid "
    "AND d.classoid = 'pg_catalog.pg_namespace'::regclass AND d.objsubid = 0 "
    "WHERE n.nspname <> 'information_schema' AND substr(n.nspname, 1, 3) <> 'pg_'";

/* AWS: "PG_CLASS_INFO" (reldiststyle 0 EVEN, 1 KEY, 8 ALL; the other values
 * are the AUTO styles, whose current choice only PG_CLASS_INFO's
 * releffectivediststyle shows, and only on the user's own tables; 9 is
 * AUTO), "PG_TABLE_DEF" (the distkey column is pg_attribute.attisdistkey),
 * "CREATE VIEW" (late-binding views are views created WITH NO SCHEMA
 * BINDING; Redshift keeps no pg_attribute rows for them, so relnatts is 0,
 * and their definition ends with the clause, which the row handler also
 * checks).  Row estimates are pg_class.reltuples: SVV_TABLE_INFO's counts
 * are for superusers or users granted SELECT on it.  Materialized views are
 * views in pg_class whose definition begins CREATE MATERIALIZED VIEW (the
 * row handler tells them apart, as dbt-redshift does); their data sits in
 * tables named mv_tbl__<name>__<n>, which are not the user's tables and are
 * left out (AutoMV's live in pg_automv, a system schema). */
static const char rs_containers_sql[] =
    "SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, "
    "CASE WHEN c.relkind = 'r' THEN 'table' "
    "WHEN c.relkind = 'm' THEN 'materialized_view' "
    "WHEN c.relnatts = 0 THEN 'late_binding_view' "
    "ELSE 'view' END AS kind, "
    "u.usename AS owner, d.description AS comment, c.def AS definition, "
    "CASE WHEN c.relkind = 'r' THEN c.reltuples::float8 END AS row_estimate, "
    "CASE WHEN c.relkind <> 'r' THEN NULL "
    "WHEN c.reldiststyle = 0 THEN 'EVEN' "
    "WHEN c.reldiststyle = 1 THEN 'KEY(' || COALESCE(dk.attname, '?') || ')' "
    "WHEN c.reldiststyle = 8 THEN 'ALL' "
    "WHEN c.reldiststyle = 9 THEN 'AUTO' "
    "ELSE 'UNKNOWN(' || c.reldiststyle::text || ')' END AS dist_style, "
    "NULL::text AS sort_key "
    "FROM (SELECT oid, relname, relnamespace, relkind, relowner, reltuples, "
    "reldiststyle, relnatts, "
    "CASE WHEN relkind IN ('v', 'm') THEN pg_get_viewdef(oid) END AS def "
    "FROM pg_class WHERE relkind IN ('r', 'v', 'm') "
    "AND substr(relname, 1, 8) <> 'mv_tbl__' AND relnamespace IN "
    "(SELECT oid FROM pg_namespace WHERE nspname IN (" SCHEMAS_TOKEN "))) c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_user u ON u.usesysid = c.relowner "
    "LEFT JOIN pg_attribute dk ON dk.attrelid = c.oid AND dk.attnum > 0 "
    "AND dk.attisdistkey "
    "LEFT JOIN pg_description d ON d.objoid = c.oid "
    "AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0 "
    "ORDER BY c.oid";

/* AWS: "SVV_EXTERNAL_TABLES".  Tables of unconnected databases (cross-database
 * queries) are listed there too, under their redshift_database_name, and
 * their schema may have the name of one of ours: only rows of the connected
 * database (a literal: no function next to an SVV view), in schemas that
 * SVV_EXTERNAL_SCHEMAS lists and that are in scope, are read. */
static const char rs_external_tables_sql[] =
    "SELECT NULL::int8 AS oid, t.schemaname AS schema, t.tablename AS name, "
    "'external_table' AS kind, NULL::text AS owner, NULL::text AS comment, "
    "NULL::text AS definition, NULL::float8 AS row_estimate, "
    "NULL::text AS dist_style, NULL::text AS sort_key "
    "FROM svv_external_tables t "
    "WHERE t.redshift_database_name = " DATABASE_TOKEN " "
    "AND t.schemaname IN (" SCHEMAS_TOKEN ") "
    "AND t.schemaname IN (SELECT s.schemaname FROM svv_external_schemas s) "
    "ORDER BY t.schemaname, t.tablename";

/* AWS: "SVV_EXTERNAL_SCHEMAS": every kind of external schema (Spectrum,
 * federated, another Redshift database, streaming) is external here; what
 * kind it is matters to grants (crawler/grants/scope.c).  No function in this statement. */
static const char rs_external_schemas_sql[] =
    "SELECT s.schemaname AS name FROM svv_external_schemas s ORDER BY s.schemaname";

/* AWS: "PG_TABLE_DEF" documents what the Redshift-only pg_attribute columns
 * read here mean (encoding: format_encoding(attencodingtype), 'none' for
 * RAW; sortkey: attsortkeyord, the position in the sort key, negative
 * values for an interleaved key; distkey: attisdistkey).  PG_TABLE_DEF
 * itself is not read: it shows only tables on the search_path and hides a
 * table behind a same-named one earlier on the path.  "System catalog
 * tables" for pg_attribute, pg_attrdef, pg_description. */
static const char rs_fields_sql[] =
    "SELECT a.attrelid::int8 AS container_oid, NULL::text AS schema, "
    "NULL::text AS container, a.attnum::int4 AS attnum, a.attname AS name, "
    "format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null, "
    "pg_get_expr(ad.adbin, ad.adrelid) AS default_expr, d.description AS comment, "
    "CASE WHEN c.relkind = 'r' THEN btrim(format_encoding(a.attencodingtype::integer)) "
    "END AS encoding, "
    "CASE WHEN c.relkind = 'r' THEN a.attsortkeyord::int4 END AS sort_key_ord "
    "FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum "
    "LEFT JOIN pg_description d ON d.objoid = a.attrelid "
    "AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum "
    "WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm') "
    "AND n.nspname IN (" SCHEMAS_TOKEN ") "
    "ORDER BY a.attrelid, a.attnum";

/* AWS: "PG_GET_LATE_BINDING_VIEW_COLS", called in its scalar form: one
 * record per column, "(schema,view,column,type,number)".  The row handler
 * reads the first five fields of the record text and ignores any more: a
 * Redshift release that added a sixth column broke every caller that used
 * the column definition list form (dbt-core#3168), which must match what
 * the function returns exactly.  Schemas out of scope are skipped by the
 * handler (no WHERE on a record).  The only source of a late-binding view's
 * columns: Redshift keeps no pg_attribute rows for them.  Columns are
 * matched by name (attnum 0): col_num is a position, not an identity. */
static const char rs_late_binding_cols_sql[] =
    "SELECT pg_get_late_binding_view_cols() AS col";

/* AWS: "SVV_EXTERNAL_COLUMNS" (is_nullable is 'true', 'false' or ''; only
 * 'false' is NOT NULL; partition keys, part_key > 0, follow the other
 * columns in key order; like SVV_EXTERNAL_TABLES it lists other databases'
 * tables too).  Columns are matched by name (attnum 0).  No function in
 * this statement. */
static const char rs_external_cols_sql[] =
    "SELECT NULL::int8 AS container_oid, c.schemaname AS schema, "
    "c.tablename AS container, 0 AS attnum, c.columnname AS name, "
    "c.external_type AS type, c.is_nullable = 'false' AS not_null, "
    "NULL::text AS default_expr, NULL::text AS comment, NULL::text AS encoding, "
    "NULL::int4 AS sort_key_ord "
    "FROM svv_external_columns c "
    "WHERE c.redshift_database_name = " DATABASE_TOKEN " "
    "AND c.schemaname IN (" SCHEMAS_TOKEN ") "
    "AND c.schemaname IN (SELECT s.schemaname FROM svv_external_schemas s) "
    "ORDER BY c.schemaname, c.tablename, "
    "CASE WHEN c.part_key = 0 THEN 0 ELSE 1 END, c.part_key, c.columnnum";

/* The names of the columns of every table a foreign key in scope points at
 * (it may be out of scope), for turning confkey attnums into names without
 * array operators.  AWS: "System catalog tables" (pg_attribute,
 * pg_constraint). */
static const char rs_ref_columns_sql[] =
    "SELECT a.attrelid::int8 AS container_oid, a.attnum::int4 AS attnum, "
    "a.attname AS name "
    "FROM pg_attribute a "
    "WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid IN "
    "(SELECT con.confrelid FROM pg_constraint con "
    "JOIN pg_class c ON c.oid = con.conrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE con.contype = 'f' AND n.nspname IN (" SCHEMAS_TOKEN ")) "
    "ORDER BY a.attrelid, a.attnum";

/* Primary and foreign keys from pg_constraint, which shows them to every
 * user (information_schema shows constraints only to users with privileges
 * beyond SELECT).  conkey/confkey are int2[]: selected as they are and read
 * by the client ("{1,2}"), never unnested.  AWS: "System catalog tables",
 * "Querying the catalog tables" (pg_constraint), "Table constraints"
 * (informational only, not enforced). */
static const char rs_keys_sql[] =
    "SELECT con.conrelid::int8 AS container_oid, con.contype::text AS type, "
    "con.conname AS name, con.conkey AS columns, fn.nspname AS ref_schema, "
    "fc.relname AS ref_container, con.confkey AS ref_columns, "
    "con.confrelid::int8 AS ref_oid "
    "FROM pg_constraint con "
    "JOIN pg_class c ON c.oid = con.conrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_class fc ON fc.oid = con.confrelid "
    "LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace "
    "WHERE con.contype IN ('p', 'f') AND n.nspname IN (" SCHEMAS_TOKEN ") "
    "ORDER BY con.conrelid, con.contype, con.conname";

static const disc_step rs_steps[] = {
    {"container query", STEP_CONTAINERS, rs_containers_sql, false, false, NULL},
    {"column query", STEP_FIELDS, rs_fields_sql, false, false, NULL},
    {"referenced column query", STEP_REF_COLUMNS, rs_ref_columns_sql, false, false, NULL},
    {"key query", STEP_KEYS, rs_keys_sql, false, false, NULL},
    {"external schema query", STEP_SCHEMA_FLAGS, rs_external_schemas_sql, true, false,
     "external schemas and tables"},
    {"external table query", STEP_CONTAINERS, rs_external_tables_sql, true, false,
     "external tables"},
    {"external column query", STEP_FIELDS, rs_external_cols_sql, true, false,
     "external tables' columns"},
    {"late-binding view column query", STEP_LATE_BINDING, rs_late_binding_cols_sql, true,
     true, "late-binding views' columns"},
};

/* AWS: "SVV_REDSHIFT_DATABASES" (database_type 'local' or 'shared': a
 * database created from a datashare has no local catalog, so pg_class says
 * nothing of its tables).  Compared with the connected database's name by
 * the client: no function next to an SVV view. */
static const char rs_databases_sql[] =
    "SELECT database_name, database_type, database_options FROM svv_redshift_databases";

/* AWS "BEGIN": every isolation level is serializable on Redshift. */
static const disc_dialect_def dialects[] = {
    {"postgresql", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
     pg_schemas_sql, pg_steps, sizeof pg_steps / sizeof pg_steps[0]},
    {"redshift", "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY",
     rs_schemas_sql, rs_steps, sizeof rs_steps / sizeof rs_steps[0]},
};

static const disc_dialect_def *find_dialect(const char *name)
{
    for (size_t i = 0; i < sizeof dialects / sizeof dialects[0]; i++)
        if (strcmp(dialects[i].name, name) == 0)
            return &dialects[i];
    return NULL;
}

/* PostgreSQL reserves the pg_ prefix for system schemas ("CREATE SCHEMA":
 * names beginning with pg_ are reserved), and Redshift keeps its own there:
 * pg_internal, pg_automv (AutoMV's backing tables, in every database, with
 * no USAGE for regular users), pg_temp_N. */
bool disc_is_system_schema(const char *name)
{
    return strcmp(name, "information_schema") == 0 || strncmp(name, "pg_", 3) == 0;
}

/* ---- what Redshift stores, read as people name it ---------------------------- */

/* Case-insensitive match of the words of PHRASE (single spaces) at P, any
 * run of white space between them; returns the end of the match or NULL. */
static const char *match_words(const char *p, const char *phrase)
{
    while (*phrase) {
        if (*phrase == ' ') {
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
                return NULL;
            while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
                p++;
            phrase++;
            continue;
        }
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p;
        if (c != *phrase)
            return NULL;
        p++, phrase++;
    }
    return p;
}

mc_kind disc_view_kind(mc_kind sql_kind, const char *definition)
{
    if (!definition)
        return sql_kind;
    if (match_words(mc_sql_skip_blank(definition), "create materialized view"))
        return MC_KIND_MATVIEW;
    /* the closing clause, not the phrase anywhere (a string literal may
     * hold it) */
    static const char clause[] = "with no schema binding";
    size_t n = strlen(definition);
    while (n > 0 && (definition[n - 1] == ';' || definition[n - 1] == ' ' ||
                     definition[n - 1] == '\n' || definition[n - 1] == '\t' ||
                     definition[n - 1] == '\r'))
        n--;
    /* walk back over the four words */
    size_t words = 0, i = n;
    while (i > 0 && words < 4) {
        while (i > 0 && definition[i - 1] != ' ' && definition[i - 1] != '\n' &&
               definition[i - 1] != '\t' && definition[i - 1] != '\r')
            i--;
        words++;
        if (words < 4)
            while (i > 0 && (definition[i - 1] == ' ' || definition[i - 1] == '\n' ||
                             definition[i - 1] == '\t' || definition[i - 1] == '\r'))
                i--;
    }
    const char *end = words == 4 ? match_words(definition + i, clause) : NULL;
    if (end && (size_t)(end - definition) == n && (i == 0 || definition[i - 1] != '\''))
        return MC_KIND_LATE_BINDING_VIEW;
    return sql_kind;
}

char *disc_identity_default(const char *expr)
{
    if (!expr)
        return NULL;
    const char *p = expr;
    if (strncmp(p, "\"identity\"(", 11) == 0)
        p += 11;
    else if (strncmp(p, "identity(", 9) == 0)
        p += 9;
    else
        return NULL;
    /* "identity"(<table oid>, <column index>, '<seed>,<step>'::text),
     * the text argument perhaps cast twice */
    const char *q = strchr(p, '\'');
    if (!q)
        return NULL;
    const char *e = strchr(q + 1, '\'');
    if (!e)
        return NULL;
    char seed[32], step[32];
    size_t len = (size_t)(e - q - 1);
    const char *comma = memchr(q + 1, ',', len);
    if (!comma || (size_t)(comma - q - 1) >= sizeof seed ||
        (size_t)(e - comma - 1) >= sizeof step)
        return NULL;
    memcpy(seed, q + 1, (size_t)(comma - q - 1));
    seed[comma - q - 1] = '\0';
    memcpy(step, comma + 1, (size_t)(e - comma - 1));
    step[e - comma - 1] = '\0';
    for (const char *c = seed; *c; c++)
        if (!(*c >= '0' && *c <= '9') && *c != '-')
            return NULL;
    for (const char *c = step; *c; c++)
        if (!(*c >= '0' && *c <= '9') && *c != '-')
            return NULL;
    if (!seed[0] || !step[0])
        return NULL;
    return mc_asprintf("IDENTITY(%s,%s)", seed, step);
}

/* The first N fields of a composite value's text, "(a,\"b c\",,d)": quoted
 * fields lose their quotes ("" and \x stand for the character), an empty
 * unquoted field is NULL.  Fields past N are ignored.  Returns how many
 * were read; the strings are malloc'd into out (NULL for NULL). */
static int parse_record(const char *text, char **out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = NULL;
    if (!text || *text != '(')
        return 0;
    const char *p = text + 1;
    int got = 0;
    mc_buf b = {0};
    while (got < n && *p && *p != ')') {
        mc_buf_reset(&b);
        bool quoted = false, any = false;
        while (*p && (quoted || (*p != ',' && *p != ')'))) {
            if (*p == '"') {
                if (quoted && p[1] == '"') {
                    mc_buf_putc(&b, '"');
                    p += 2;
                } else {
                    quoted = !quoted;
                    any = true;
                    p++;
                }
            } else if (*p == '\\' && p[1]) {
                mc_buf_putc(&b, p[1]);
                any = true;
                p += 2;
            } else {
                mc_buf_putc(&b, *p++);
                any = true;
            }
        }
        out[got++] = any ? mc_strdup(mc_buf_str(&b)) : NULL;
        if (*p == ',') {
            p++;
            if (*p == ')' && got < n)
                out[got++] = NULL; /* a trailing empty field */
        }
    }
    mc_buf_free(&b);
    return got;
}

/* ---- row handlers ---------------------------------------------------------- */

struct oid_idx {
    int64_t oid;
    size_t idx;
};

struct name_idx {
    const char *schema, *name;
    size_t idx;
};

static int cmp_name_idx(const void *a, const void *b)
{
    const struct name_idx *x = a, *y = b;
    int c = strcmp(x->schema, y->schema);
    return c ? c : strcmp(x->name, y->name);
}

/* A column name by (relation oid, attnum), for turning key attnums into
 * names. */
struct attname {
    int64_t oid;
    int32_t attnum;
    const char *name;
};

/* A column's place in its table's sort key (Redshift). */
struct sortcol {
    uint32_t owner;  /* container index */
    int32_t ord;     /* attsortkeyord: 1-based, negative when interleaved */
    const char *name;
};

/* Column numbers are looked up once per query, on its first row. */
#define MAX_COLS 16
struct row_ctx {
    disc_session *s;
    mc_catalog *cat;
    const cfg_datastore *ds;
    int col[MAX_COLS];
    bool cols_known;
    /* containers by database oid and by (schema, name), for attaching
     * fields and keys; built once, after the container steps */
    struct oid_idx *oids; /* sorted by oid */
    size_t n_oids;
    struct name_idx *by_name; /* sorted by (schema, name) */
    bool indexed;
    uint32_t *field_owner; /* container index of each field */
    size_t owner_cap;
    /* Redshift: sort key members, referenced tables' column names, and the
     * (oid, attnum) -> name index the key handler builds from them */
    struct sortcol *sortcols;
    size_t n_sortcols, sortcols_cap;
    struct attname *refcols;
    size_t n_refcols, refcols_cap;
    struct attname *attnames; /* sorted by (oid, attnum); NULL until needed */
    size_t n_attnames;
    mc_arena *scratch;        /* strings that do not outlive disc_run */
    disc_result *result;
    /* A first crawl on PostgreSQL (spool.h): a table's columns wait in
     * pend[k] (strings in its own arena) until its column count (the container
     * query's column_count, kept in n_fields_unread) has arrived; then it is
     * hashed and spooled, and its memory goes.  Views and anything left
     * incomplete are kept in the catalog as usual. */
    disc_spool *spool;
    /* A full read against a store (a re-crawl where most tables moved, the
     * first crawl after an upgrade): the same wait, then a table whose hash
     * is the recorded one (prev_oids: prev's containers by oid) drops its
     * columns (fields_unread), as the diff would not look at them. */
    const mc_catalog *prev;
    struct prev_oid {
        int64_t oid;
        size_t idx;
    } *prev_oids;
    size_t n_prev_oids;
    struct pend {
        mc_field *f;
        uint32_t n, cap;
        mc_arena *a;          /* its strings: gone with it */
    } *pend;
};

static int lookup_cols(row_ctx *ctx, pg_rows *res, const char *const *names,
                       int n, mc_error *err)
{
    if (ctx->cols_known)
        return 0;
    for (int i = 0; i < n; i++) {
        ctx->col[i] = pg_rows_column(res, names[i]);
        if (ctx->col[i] < 0)
            return mc_error_set(err, MC_EXIT_CONNECT,
                                "catalog query result has no column '%s'",
                                names[i]);
    }
    ctx->cols_known = true;
    return 0;
}

static const char *val(row_ctx *ctx, pg_rows *res, int i)
{
    int c = ctx->col[i];
    return pg_rows_null(res, c) ? NULL : pg_rows_text(res, c);
}

static const char *sval(row_ctx *ctx, pg_rows *res, int i)
{
    return mc_arena_strdup(ctx->cat->arena, val(ctx, res, i));
}

static int64_t ival(row_ctx *ctx, pg_rows *res, int i)
{
    const char *v = val(ctx, res, i);
    return v ? strtoll(v, NULL, 10) : 0;
}

static bool bval(row_ctx *ctx, pg_rows *res, int i)
{
    const char *v = val(ctx, res, i);
    return v && v[0] == 't';
}

static int schema_row(row_ctx *ctx, pg_rows *res, mc_error *err)
{
    static const char *const cols[] = {"oid", "name", "owner", "comment", "usable"};
    if (lookup_cols(ctx, res, cols, 5, err))
        return -1;
    const char *name = val(ctx, res, 1);
    if (!name || disc_is_system_schema(name) ||
        !cfg_globs_match(&ctx->ds->schemas, name))
        return 0;
    mc_schema *sc = mc_catalog_add_schema(ctx->cat);
    sc->oid = ival(ctx, res, 0);
    sc->name = sval(ctx, res, 1);
    sc->owner = sval(ctx, res, 2);
    sc->comment = sval(ctx, res, 3);
    sc->usable = bval(ctx, res, 4);
    return 0;
}

/* Marks a schema already read as external (Redshift Spectrum and other
 * external schemas); names not in the catalog are out of scope. */
static int schema_flag_row(row_ctx *ctx, pg_rows *res, mc_error *err)
{
    static const char *const cols[] = {"name"};
    if (lookup_cols(ctx, res, cols, 1, err))
        return -1;
    const char *name = val(ctx, res, 0);
    for (size_t i = 0; name && i < ctx->cat->n_schemas; i++) /* few rows */
        if (strcmp(ctx->cat->schemas[i].name, name) == 0)
            ctx->cat->schemas[i].external = true;
    return 0;
}

static int container_row(row_ctx *ctx, pg_rows *res, mc_error *err)
{
    static const char *const cols[] = {"oid", "schema", "name", "kind",
                                       "owner", "comment", "definition",
                                       "row_estimate", "dist_style", "sort_key"};
    if (!ctx->cols_known) {
        if (lookup_cols(ctx, res, cols, 10, err))
            return -1;
        /* optional: only the PostgreSQL dialect reads them */
        ctx->col[10] = pg_rows_column(res, "extension");
        ctx->col[11] = pg_rows_column(res, "partitions");
        ctx->col[12] = pg_rows_column(res, "fingerprint");
        ctx->col[13] = pg_rows_column(res, "column_count");
    }
    const char *name = val(ctx, res, 2);
    int kind = mc_kind_parse(val(ctx, res, 3));
    if (!name || kind < 0 || !cfg_globs_match(&ctx->ds->containers, name))
        return 0;
    /* extension_members: false leaves them out like a glob would, but
     * remembers them, so what was recorded of them stays (diff.c). */
    if (ctx->col[10] >= 0 && val(ctx, res, 10) && !ctx->ds->extension_members) {
        if (val(ctx, res, 1))
            mc_catalog_add_left_out(ctx->cat, val(ctx, res, 1), name);
        return 0;
    }
    if (kind == MC_KIND_VIEW || kind == MC_KIND_LATE_BINDING_VIEW)
        kind = (int)disc_view_kind((mc_kind)kind, val(ctx, res, 6));
    /* Rows without an oid (external tables) arrive sorted by (schema,
     * name): a name listed twice is one table. */
    if (ctx->cat->n_containers > 0 && val(ctx, res, 0) == NULL) {
        const mc_container *last = &ctx->cat->containers[ctx->cat->n_containers - 1];
        const char *schema = val(ctx, res, 1);
        if (last->oid == 0 && schema && strcmp(last->schema, schema) == 0 &&
            strcmp(last->name, name) == 0)
            return 0;
    }
    mc_container *k = mc_catalog_add_container(ctx->cat);
    k->oid = ival(ctx, res, 0);
    k->schema = sval(ctx, res, 1);
    k->name = sval(ctx, res, 2);
    k->kind = (mc_kind)kind;
    k->owner = sval(ctx, res, 4);
    k->comment = sval(ctx, res, 5);
    k->definition = sval(ctx, res, 6);
    const char *est = val(ctx, res, 7);
    k->row_estimate = est ? strtod(est, NULL) : -1;
    if (k->row_estimate < 0)
        k->row_estimate = -1;
    k->dist_style = sval(ctx, res, 8);
    k->sort_key = sval(ctx, res, 9);
    if (ctx->col[10] >= 0)
        k->extension = sval(ctx, res, 10);
    if (ctx->col[11] >= 0)
        k->partitions = sval(ctx, res, 11);
    if (ctx->col[12] >= 0)
        k->fingerprint = sval(ctx, res, 12);
    if (ctx->col[13] >= 0) /* kept until plan_reread needs it */
        k->n_fields_unread = (size_t)ival(ctx, res, 13);
    return 0;
}

/* Index of the container with this oid, or of (schema, name) when the row
 * has no oid (external tables, late-binding view columns); -1 when it is not
 * in scope. */
static ptrdiff_t find_owner(row_ctx *ctx, int64_t oid, const char *schema,
                            const char *name)
{
    const mc_catalog *cat = ctx->cat;
    if (oid != 0) {
        size_t lo = 0, hi = ctx->n_oids;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (ctx->oids[mid].oid < oid)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < ctx->n_oids && ctx->oids[lo].oid == oid)
            return (ptrdiff_t)ctx->oids[lo].idx;
        return -1;
    }
    if (!schema || !name)
        return -1;
    struct name_idx key = {schema, name, 0};
    const struct name_idx *hit =
        cat->n_containers ? bsearch(&key, ctx->by_name, cat->n_containers,
                                    sizeof key, cmp_name_idx)
                          : NULL;
    return hit ? (ptrdiff_t)hit->idx : -1;
}

static void add_sortcol(row_ctx *ctx, uint32_t owner, int32_t ord, const char *name)
{
    if (ctx->n_sortcols == ctx->sortcols_cap) {
        ctx->sortcols_cap = ctx->sortcols_cap ? ctx->sortcols_cap * 2 : 64;
        ctx->sortcols = mc_realloc(ctx->sortcols,
                                   ctx->sortcols_cap * sizeof *ctx->sortcols);
    }
    ctx->sortcols[ctx->n_sortcols++] = (struct sortcol){owner, ord, name};
}

/* Appends a field owned by container OWNER. */
static mc_field *new_field(row_ctx *ctx, ptrdiff_t owner)
{
    mc_catalog *cat = ctx->cat;
    if (cat->n_fields >= ctx->owner_cap) {
        ctx->owner_cap = ctx->owner_cap ? ctx->owner_cap * 2 : 4096;
        ctx->field_owner = mc_realloc(ctx->field_owner,
                                      ctx->owner_cap * sizeof *ctx->field_owner);
    }
    ctx->field_owner[cat->n_fields] = (uint32_t)owner;
    return mc_catalog_add_field(cat);
}

/* One column of a late-binding view: a record of which the first five
 * fields are read (schema, view, column, type, number), whatever follows. */
static int late_binding_row(row_ctx *ctx, pg_rows *res, mc_error *err)
{
    static const char *const cols[] = {"col"};
    if (lookup_cols(ctx, res, cols, 1, err))
        return -1;
    char *v[5];
    int n = parse_record(val(ctx, res, 0), v, 5);
    if (n >= 4 && v[0] && v[1] && v[2]) {
        ptrdiff_t owner = find_owner(ctx, 0, v[0], v[1]);
        if (owner >= 0 && ctx->cat->containers[owner].kind == MC_KIND_LATE_BINDING_VIEW) {
            mc_field *f = new_field(ctx, owner);
            f->attnum = 0;
            f->name = mc_arena_strdup(ctx->cat->arena, v[2]);
            f->type = mc_arena_strdup(ctx->cat->arena, v[3]);
            /* the column number orders the columns (attach_fields) */
            f->position = n >= 5 && v[4] ? (int32_t)strtol(v[4], NULL, 10) : 0;
        }
    }
    for (int i = 0; i < 5; i++)
        free(v[i]);
    return 0;
}

static void sort_by_attnum(mc_field *f, size_t n);

/* Tables are spooled; a view's depends_on is attached after the snapshot
 * and enters its hash, so views stay in the catalog. */
static bool spoolable(const mc_container *k)
{
    return k->kind == MC_KIND_TABLE || k->kind == MC_KIND_PARTITIONED ||
           k->kind == MC_KIND_FOREIGN;
}

/* Appends fields to the catalog as container OWNER's (strings copied into
 * the catalog's arena when they live in a pending container's arena). */
static void keep_fields(row_ctx *ctx, ptrdiff_t owner, const mc_field *fs, size_t n, bool copy)
{
    mc_arena *a = ctx->cat->arena;
    for (size_t i = 0; i < n; i++) {
        mc_field *f = new_field(ctx, owner);
        *f = fs[i];
        if (copy) {
            f->name = mc_arena_strdup(a, fs[i].name);
            f->type = mc_arena_strdup(a, fs[i].type);
            f->default_expr = mc_arena_strdup(a, fs[i].default_expr);
            f->comment = mc_arena_strdup(a, fs[i].comment);
            f->encoding = mc_arena_strdup(a, fs[i].encoding);
            f->identity = mc_arena_strdup(a, fs[i].identity);
            f->generated = mc_arena_strdup(a, fs[i].generated);
        }
    }
}

static int cmp_prev_oid(const void *a, const void *b)
{
    int64_t x = ((const struct prev_oid *)a)->oid, y = ((const struct prev_oid *)b)->oid;
    return (x > y) - (x < y);
}

/* Is hashed container C the recorded container of its oid, hash and all?
 * Then the diff would not look at its fields. */
static bool same_as_recorded(const row_ctx *ctx, const mc_container *c)
{
    struct prev_oid key = {c->oid, 0};
    const struct prev_oid *hit =
        c->oid && ctx->n_prev_oids
            ? bsearch(&key, ctx->prev_oids, ctx->n_prev_oids, sizeof key, cmp_prev_oid)
            : NULL;
    if (!hit)
        return false;
    const mc_container *p = &ctx->prev->containers[hit->idx];
    return p->hash == c->hash && p->store_key > 0 && strcmp(p->schema, c->schema) == 0 &&
           strcmp(p->name, c->name) == 0;
}

/* A container whose columns have all arrived (or the step ended): ordered,
 * numbered, then hashed and spooled (a first crawl) or dropped (as
 * recorded), or kept. */
static int complete_pending(row_ctx *ctx, size_t k, mc_error *err)
{
    struct pend *p = &ctx->pend[k];
    mc_catalog *cat = ctx->cat;
    mc_container *c = &cat->containers[k];
    sort_by_attnum(p->f, p->n);
    for (uint32_t j = 0; j < p->n; j++)
        p->f[j].position = (int32_t)(j + 1);
    bool kept = true;
    if (spoolable(c)) {
        /* hashed now, as mc_catalog_finish would: the fields sit at the
         * end of the array just long enough */
        size_t at = cat->n_fields;
        for (uint32_t j = 0; j < p->n; j++)
            *mc_catalog_add_field(cat) = p->f[j];
        c->first_field = at;
        c->n_fields = p->n;
        c->hash = mc_container_hash(cat, c);
        cat->n_fields = at;
        if (ctx->spool) {
            if (spool_put(ctx->spool, c->oid, p->f, p->n, err) != 0)
                return -1;
            c->fields_elsewhere = true;
            c->n_fields_unread = p->n; /* attach_fields resets n_fields */
            kept = false;
        } else if (same_as_recorded(ctx, c)) {
            c->fields_unread = true;
            c->n_fields_unread = p->n;
            kept = false;
        }
    }
    if (kept)
        keep_fields(ctx, (ptrdiff_t)k, p->f, p->n, true);
    free(p->f);
    mc_arena_free(p->a);
    *p = (struct pend){0};
    return 0;
}

static int field_row(row_ctx *ctx, pg_rows *res, mc_error *err)
{
    static const char *const cols[] = {"container_oid", "schema", "container",
                                       "attnum", "name", "type", "not_null",
                                       "default_expr", "comment", "encoding",
                                       "sort_key_ord"};
    if (!ctx->cols_known) {
        if (lookup_cols(ctx, res, cols, 11, err))
            return -1;
        /* optional: only the PostgreSQL dialect reads them */
        ctx->col[11] = pg_rows_column(res, "identity");
        ctx->col[12] = pg_rows_column(res, "generated");
    }
    int64_t oid = ival(ctx, res, 0);
    ptrdiff_t owner = find_owner(ctx, oid, val(ctx, res, 1), val(ctx, res, 2));
    if (owner < 0)
        return 0; /* a container filtered out by a glob */
    mc_catalog *cat = ctx->cat;
    /* A late-binding view's columns come only from its own step (rows named
     * by schema and view): what pg_attribute holds for it is not its
     * columns. */
    if (oid != 0 && cat->containers[owner].kind == MC_KIND_LATE_BINDING_VIEW)
        return 0;
    /* Rows of a table come together, but parallel workers interleave
     * tables: each pending table keeps its own strings. */
    struct pend *p = ctx->pend ? &ctx->pend[owner] : NULL;
    if (p && !p->a)
        p->a = mc_arena_new();
    mc_arena *a = p ? p->a : cat->arena;
    mc_field f = {0};
    f.attnum = (int32_t)ival(ctx, res, 3);
    f.name = mc_arena_strdup(a, val(ctx, res, 4));
    f.type = mc_arena_strdup(a, val(ctx, res, 5));
    f.not_null = bval(ctx, res, 6);
    f.default_expr = mc_arena_strdup(a, val(ctx, res, 7));
    if (f.default_expr && strcmp(disc_dialect(ctx->s), "redshift") == 0) {
        /* Redshift stores an IDENTITY column's default as a call of its
         * internal "identity"(oid, column, 'seed,step') function; its own
         * DDL views print IDENTITY(seed,step). */
        char *id = disc_identity_default(f.default_expr);
        if (id) {
            f.default_expr = mc_arena_strdup(a, id);
            free(id);
        }
    }
    f.comment = mc_arena_strdup(a, val(ctx, res, 8));
    f.encoding = mc_arena_strdup(a, val(ctx, res, 9));
    if (ctx->col[11] >= 0)
        f.identity = mc_arena_strdup(a, val(ctx, res, 11));
    if (ctx->col[12] >= 0)
        f.generated = mc_arena_strdup(a, val(ctx, res, 12));
    if (!ctx->pend) {
        *new_field(ctx, owner) = f;
        int32_t ord = (int32_t)ival(ctx, res, 10);
        if (ord != 0)
            add_sortcol(ctx, (uint32_t)owner, ord, f.name);
        return 0;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->f = mc_realloc(p->f, p->cap * sizeof *p->f);
    }
    p->f[p->n++] = f;
    if (p->n == cat->containers[owner].n_fields_unread)
        return complete_pending(ctx, (size_t)owner, err);
    return 0;
}

static int ref_column_row(row_ctx *ctx, pg_rows *res, mc_error *err)
{
    static const char *const cols[] = {"container_oid", "attnum", "name"};
    if (lookup_cols(ctx, res, cols, 3, err))
        return -1;
    if (ctx->n_refcols == ctx->refcols_cap) {
        ctx->refcols_cap = ctx->refcols_cap ? ctx->refcols_cap * 2 : 256;
        ctx->refcols = mc_realloc(ctx->refcols, ctx->refcols_cap * sizeof *ctx->refcols);
    }
    if (!ctx->scratch)
        ctx->scratch = mc_arena_new();
    ctx->refcols[ctx->n_refcols++] = (struct attname){
        ival(ctx, res, 0), (int32_t)ival(ctx, res, 1),
        mc_arena_strdup(ctx->scratch, val(ctx, res, 2))};
    return 0;
}

static int cmp_attname(const void *a, const void *b)
{
    const struct attname *x = a, *y = b;
    if (x->oid != y->oid)
        return (x->oid > y->oid) - (x->oid < y->oid);
    return (x->attnum > y->attnum) - (x->attnum < y->attnum);
}

/* The (oid, attnum) -> name index over the columns read and the referenced
 * tables' columns; built on the first key that needs it. */
static void index_attnames(row_ctx *ctx)
{
    const mc_catalog *cat = ctx->cat;
    ctx->attnames = mc_malloc((cat->n_fields + ctx->n_refcols + 1) * sizeof *ctx->attnames);
    size_t n = 0;
    for (size_t i = 0; i < cat->n_fields; i++) {
        int64_t oid = cat->containers[ctx->field_owner[i]].oid;
        if (oid != 0 && cat->fields[i].attnum > 0)
            ctx->attnames[n++] = (struct attname){oid, cat->fields[i].attnum,
                                                  cat->fields[i].name};
    }
    for (size_t i = 0; i < ctx->n_refcols; i++)
        ctx->attnames[n++] = ctx->refcols[i];
    if (n > 1)
        qsort(ctx->attnames, n, sizeof *ctx->attnames, cmp_attname);
    ctx->n_attnames = n;
}

/* Appends the key columns as a canonical JSON array of names.  TEXT is
 * either a JSON array already (PostgreSQL's array_to_json, canonical as it
 * is) or the server's text of an int2[] of attnums ("{1,2}", Redshift),
 * resolved against the columns of relation OID; an attnum that cannot be
 * resolved (the table is hidden from the user) is written as null. */
static void put_key_columns(row_ctx *ctx, mc_buf *b, const char *text, int64_t oid)
{
    if (!text) {
        mc_buf_puts(b, "[]");
        return;
    }
    if (text[0] != '{') {
        mc_buf_puts(b, text);
        return;
    }
    if (!ctx->attnames)
        index_attnames(ctx);
    mc_buf_putc(b, '[');
    bool first = true;
    for (const char *p = text + 1; *p && *p != '}';) {
        char *end;
        long attnum = strtol(p, &end, 10);
        if (end == p)
            break;
        struct attname key = {oid, (int32_t)attnum, NULL};
        const struct attname *hit =
            ctx->n_attnames ? bsearch(&key, ctx->attnames, ctx->n_attnames,
                                      sizeof key, cmp_attname)
                            : NULL;
        if (!first)
            mc_buf_putc(b, ',');
        first = false;
        json_put_str(b, hit ? hit->name : NULL);
        p = *end == ',' ? end + 1 : end;
    }
    mc_buf_putc(b, ']');
}

static int key_row(row_ctx *ctx, pg_rows *res, mc_error *err)
{
    static const char *const cols[] = {"container_oid", "type", "name",
                                       "columns", "ref_schema",
                                       "ref_container", "ref_columns", "ref_oid"};
    if (!ctx->cols_known) {
        if (lookup_cols(ctx, res, cols, 8, err))
            return -1;
        /* optional: only the PostgreSQL dialect names a partition */
        ctx->col[8] = pg_rows_column(res, "partition");
    }
    int64_t oid = ival(ctx, res, 0);
    ptrdiff_t owner = find_owner(ctx, oid, NULL, NULL);
    if (owner < 0)
        return 0;
    mc_container *k = &ctx->cat->containers[owner];
    const char *type = val(ctx, res, 1);
    mc_buf b = {0};
    if (type && type[0] == 'p') {
        put_key_columns(ctx, &b, val(ctx, res, 3), oid);
        k->primary_key = mc_arena_strdup(ctx->cat->arena, mc_buf_str(&b));
    } else {
        /* Rows arrive ordered by constraint name: extend the array. */
        if (k->foreign_keys) {
            size_t len = strlen(k->foreign_keys);
            mc_buf_append(&b, k->foreign_keys, len - 1); /* drop ']' */
            mc_buf_putc(&b, ',');
        } else {
            mc_buf_putc(&b, '[');
        }
        bool first = true;
        mc_buf_putc(&b, '{');
        json_put_kv_str(&b, &first, "name", val(ctx, res, 2));
        if (ctx->col[8] >= 0 && val(ctx, res, 8))
            json_put_kv_str(&b, &first, "partition", val(ctx, res, 8));
        first = json_put_key(&b, first, "columns");
        put_key_columns(ctx, &b, val(ctx, res, 3), oid);
        json_put_kv_str(&b, &first, "ref_schema", val(ctx, res, 4));
        json_put_kv_str(&b, &first, "ref_container", val(ctx, res, 5));
        first = json_put_key(&b, first, "ref_columns");
        put_key_columns(ctx, &b, val(ctx, res, 6), ival(ctx, res, 7));
        mc_buf_puts(&b, "}]");
        k->foreign_keys = mc_arena_strdup(ctx->cat->arena, mc_buf_str(&b));
    }
    mc_buf_free(&b);
    return 0;
}

static int cmp_sortcol(const void *a, const void *b)
{
    const struct sortcol *x = a, *y = b;
    if (x->owner != y->owner)
        return (x->owner > y->owner) - (x->owner < y->owner);
    int32_t p = x->ord < 0 ? -x->ord : x->ord, q = y->ord < 0 ? -y->ord : y->ord;
    return (p > q) - (p < q);
}

/* Redshift: every table's sort key as canonical JSON,
 * {"type":"compound"|"interleaved","columns":[...]} in key order (an
 * interleaved key has negative attsortkeyord values, "PG_TABLE_DEF"); a
 * sort key the container query gave already is kept. */
static void build_sort_keys(row_ctx *ctx)
{
    if (ctx->n_sortcols > 1)
        qsort(ctx->sortcols, ctx->n_sortcols, sizeof *ctx->sortcols, cmp_sortcol);
    mc_buf b = {0};
    for (size_t i = 0; i < ctx->n_sortcols;) {
        size_t j = i;
        bool interleaved = false;
        while (j < ctx->n_sortcols && ctx->sortcols[j].owner == ctx->sortcols[i].owner)
            interleaved |= ctx->sortcols[j++].ord < 0;
        mc_container *k = &ctx->cat->containers[ctx->sortcols[i].owner];
        if (!k->sort_key) {
            mc_buf_reset(&b);
            bool first = true;
            mc_buf_putc(&b, '{');
            json_put_kv_str(&b, &first, "type", interleaved ? "interleaved" : "compound");
            first = json_put_key(&b, first, "columns");
            mc_buf_putc(&b, '[');
            for (size_t m = i; m < j; m++) {
                if (m > i)
                    mc_buf_putc(&b, ',');
                json_put_str(&b, ctx->sortcols[m].name);
            }
            mc_buf_puts(&b, "]}");
            k->sort_key = mc_arena_strdup(ctx->cat->arena, mc_buf_str(&b));
        }
        i = j;
    }
    mc_buf_free(&b);
}

/* ---- the crawl ------------------------------------------------------------- */

static void add_warning(disc_result *r, const char *schema, char *message)
{
    r->warnings = mc_realloc(r->warnings, (r->n_warnings + 1) * sizeof *r->warnings);
    r->warnings[r->n_warnings].schema = mc_strdup(schema);
    r->warnings[r->n_warnings].message = message;
    r->n_warnings++;
}

void disc_result_free(disc_result *r)
{
    if (!r)
        return;
    mc_catalog_free(r->catalog);
    for (size_t i = 0; i < r->n_warnings; i++) {
        free(r->warnings[i].schema);
        free(r->warnings[i].message);
    }
    free(r->warnings);
    disc_facts_outcome_free(&r->facts);
    free(r->source);
    spool_close(r->spool);
    memset(r, 0, sizeof *r);
}

/* Builds the IN-list of the usable schemas as escaped literals; "NULL"
 * when there are none, so the queries stay valid and their count constant. */
static char *schema_in_list(disc_session *s, const mc_catalog *cat)
{
    mc_buf b = {0};
    for (size_t i = 0; i < cat->n_schemas; i++) {
        if (!cat->schemas[i].usable)
            continue;
        char *lit = pg_escape_literal(s->pg, cat->schemas[i].name);
        if (b.len)
            mc_buf_puts(&b, ", ");
        mc_buf_puts(&b, lit);
        free(lit);
    }
    if (!b.len)
        mc_buf_puts(&b, "NULL");
    return mc_buf_steal(&b);
}

/* Stable counting sort of the fields by owning container, then every
 * container's slice; positions are 1..n in attnum order. */
static int cmp_attnum(const void *a, const void *b)
{
    int32_t x = ((const mc_field *)a)->attnum, y = ((const mc_field *)b)->attnum;
    return (x > y) - (x < y);
}

/* Orders one container's fields by column number when every one has a
 * number; a slice already in order (the usual case) costs one pass. */
static int cmp_position(const void *a, const void *b)
{
    int32_t x = ((const mc_field *)a)->position, y = ((const mc_field *)b)->position;
    return (x > y) - (x < y);
}

/* Late-binding view columns have no column number but arrive with their
 * position (col_num) set; external columns come in order with none. */
static void sort_by_position(mc_field *f, size_t n)
{
    bool ordered = true;
    for (size_t i = 0; i < n; i++) {
        if (f[i].attnum != 0 || f[i].position <= 0)
            return;
        if (i && f[i - 1].position > f[i].position)
            ordered = false;
    }
    if (!ordered)
        qsort(f, n, sizeof *f, cmp_position);
}

static void sort_by_attnum(mc_field *f, size_t n)
{
    bool ordered = true;
    for (size_t i = 0; i < n; i++) {
        if (f[i].attnum <= 0) {
            sort_by_position(f, n);
            return;
        }
        if (i && f[i - 1].attnum > f[i].attnum)
            ordered = false;
    }
    if (!ordered)
        qsort(f, n, sizeof *f, cmp_attnum);
}

static void attach_fields(row_ctx *ctx)
{
    mc_catalog *cat = ctx->cat;
    size_t nk = cat->n_containers, nf = cat->n_fields;
    size_t *start = mc_calloc(nk + 1, sizeof *start);
    for (size_t i = 0; i < nf; i++)
        start[ctx->field_owner[i] + 1]++;
    for (size_t k = 0; k < nk; k++)
        start[k + 1] += start[k];
    mc_field *sorted = mc_malloc((nf ? nf : 1) * sizeof *sorted);
    size_t *next = mc_malloc((nk + 1) * sizeof *next);
    memcpy(next, start, (nk + 1) * sizeof *next);
    for (size_t i = 0; i < nf; i++)
        sorted[next[ctx->field_owner[i]]++] = cat->fields[i];
    for (size_t k = 0; k < nk; k++) {
        cat->containers[k].first_field = start[k];
        cat->containers[k].n_fields = start[k + 1] - start[k];
        /* Rows with column numbers may arrive in any order (the column
         * query has no ORDER BY: sorting 400,000 rows spilled to disk on
         * the server); rows without (late-binding, external) come in order. */
        sort_by_attnum(sorted + start[k], cat->containers[k].n_fields);
        for (size_t j = 0; j < cat->containers[k].n_fields; j++)
            sorted[start[k] + j].position = (int32_t)(j + 1);
    }
    if (nf)
        memcpy(cat->fields, sorted, nf * sizeof *sorted);
    free(sorted);
    free(next);
    free(start);
}

static int cmp_oid_idx(const void *a, const void *b)
{
    int64_t x = ((const struct oid_idx *)a)->oid, y = ((const struct oid_idx *)b)->oid;
    return (x > y) - (x < y);
}

/* The container indexes, by oid (every container with one) and by (schema,
 * name), built once after the container steps: fields and keys are looked
 * up in them. */
static void index_containers(row_ctx *ctx)
{
    mc_catalog *cat = ctx->cat;
    ctx->oids = mc_malloc((cat->n_containers + 1) * sizeof *ctx->oids);
    ctx->by_name = mc_malloc((cat->n_containers + 1) * sizeof *ctx->by_name);
    ctx->n_oids = 0;
    for (size_t i = 0; i < cat->n_containers; i++) {
        ctx->by_name[i] = (struct name_idx){cat->containers[i].schema,
                                            cat->containers[i].name, i};
        if (cat->containers[i].oid != 0)
            ctx->oids[ctx->n_oids++] = (struct oid_idx){cat->containers[i].oid, i};
    }
    if (ctx->n_oids > 1)
        qsort(ctx->oids, ctx->n_oids, sizeof *ctx->oids, cmp_oid_idx);
    if (cat->n_containers > 1)
        qsort(ctx->by_name, cat->n_containers, sizeof *ctx->by_name, cmp_name_idx);
    ctx->indexed = true;
}

/* sql with every TOKEN replaced by TEXT; malloc'd. */
static char *subst_token(const char *sql, const char *token, const char *text)
{
    mc_buf b = {0};
    const char *p;
    while ((p = strstr(sql, token)) != NULL) {
        mc_buf_append(&b, sql, (size_t)(p - sql));
        mc_buf_puts(&b, text);
        sql = p + strlen(token);
    }
    mc_buf_puts(&b, sql);
    return mc_buf_steal(&b);
}

/* sql with every token of pg_gates replaced for this server version
 * (PostgreSQL); malloc'd.  Redshift's statements carry no such token. */
static char *subst_gates(const disc_session *s, const char *sql)
{
    char *text = mc_strdup(sql);
    if (strcmp(disc_dialect(s), "postgresql") != 0)
        return text;
    for (size_t i = 0; i < sizeof pg_gates / sizeof pg_gates[0]; i++) {
        const struct pg_gate *g = &pg_gates[i];
        if (!strstr(text, g->token))
            continue;
        const char *with =
            pg_server_version_num(s->pg) >= g->min_version ? g->text : g->older;
        mc_buf b = {0};
        const char *p, *from = text;
        while ((p = strstr(from, g->token)) != NULL) {
            mc_buf_append(&b, from, (size_t)(p - from));
            mc_buf_puts(&b, with);
            from = p + strlen(g->token);
        }
        mc_buf_puts(&b, from);
        free(text);
        text = mc_buf_steal(&b);
    }
    return text;
}

/*
 * pg_get_late_binding_view_cols() lists the columns of the late-binding
 * views the user may SELECT from, and nothing of the others: a view listed
 * in pg_class with no column there is one the crawler cannot read, not one
 * that lost its columns.  The run is partial (its recorded columns stay),
 * and the warning names the views and the grant.
 */
static void warn_unreadable_late_binding(disc_result *out, const cfg_datastore *ds)
{
    const mc_catalog *cat = out->catalog;
    mc_buf names = {0}, fix = {0};
    size_t n = 0;
    const char *last_schema = NULL;
    for (size_t i = 0; i < cat->n_containers; i++) {
        const mc_container *k = &cat->containers[i];
        if (k->kind != MC_KIND_LATE_BINDING_VIEW || k->n_fields > 0)
            continue;
        if (n < 10)
            mc_buf_printf(&names, "%s%s.%s", n ? ", " : "", k->schema, k->name);
        n++;
        if (!last_schema || strcmp(last_schema, k->schema) != 0) {
            mc_buf_puts(&fix, fix.len ? "; " : "");
            mc_buf_puts(&fix, "GRANT SELECT ON ALL TABLES IN SCHEMA ");
            mc_buf_put_sql_ident(&fix, k->schema);
            mc_buf_puts(&fix, " TO GROUP ");
            mc_buf_put_sql_ident(&fix, ds->group ? ds->group : "metamapper");
            last_schema = k->schema;
        }
    }
    if (n > 0) {
        out->n_failed_steps++;
        add_warning(out, NULL,
                    mc_asprintf("%zu late-binding view%s without columns for this user "
                                "(%s%s): pg_get_late_binding_view_cols() lists only views "
                                "the user can SELECT from; their columns are kept as last "
                                "recorded and nothing is marked removed (fix: %s)",
                                n, n == 1 ? "" : "s", mc_buf_str(&names),
                                n > 10 ? ", ..." : "", mc_buf_str(&fix)));
    }
    mc_buf_free(&names);
    mc_buf_free(&fix);
}

/* A database created from a datashare has no local catalog: pg_class is
 * empty there, and a crawl of it would record an empty datastore as "ok".
 * One statement, outside the snapshot, tells: *shared_out set and
 * *options_out (malloc'd, SVV_REDSHIFT_DATABASES' database_options) for a
 * consumer database, which datashare.c reads instead.  A cluster without
 * the view (older releases) cannot have such databases and goes on. */
static void find_datashare(disc_session *s, bool *shared_out, char **options_out)
{
    *shared_out = false;
    *options_out = NULL;
    pg_result *res = pg_query(s->pg, "database query", rs_databases_sql, NULL);
    const char *db = pg_database(s->pg);
    if (!res) {
        mc_log(MC_LOG_DEBUG, "database query failed (going on): %s",
               pg_last_failure(s->pg)->message);
        return;
    }
    for (int i = 0; db && i < pg_result_rows(res); i++) {
        if (strcasecmp(pg_result_text(res, i, 0), db) != 0 ||
            strcmp(pg_result_text(res, i, 1), "shared") != 0)
            continue;
        *shared_out = true;
        *options_out = mc_strdup(pg_result_text(res, i, 2));
        break;
    }
    pg_result_free(res);
}

int disc_run(disc_session *s, const cfg_datastore *ds, const mc_catalog *prev,
             disc_result *out, mc_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = -1;
    char *in_list = NULL, *db_lit = NULL;
    reread_plan *plan = NULL;
    char *reread_fields = NULL, *reread_keys = NULL;
    bool planned = false;
    row_ctx ctx = {0};
    lin_edges *edges = NULL;
    if (disc_detect(s, err) != 0)
        return -1;
    const char *dialect = pg_dialect(s->pg);
    const disc_dialect_def *d = find_dialect(dialect);
    if (!d) {
        mc_error_set(err, MC_EXIT_CONNECT,
                     "datastore '%s': the %s dialect is not supported by this build",
                     ds->name, dialect);
        mc_error_hint(err, "this build of metacrawl reads PostgreSQL and Amazon Redshift");
        return -1;
    }

    /* One message: the session's statement timeout and, on PostgreSQL 11+,
     * no JIT for this session (the catalog queries are short; compiling
     * them cost more than running them on a 10,000-table catalog). */
    char set_timeout[96];
    snprintf(set_timeout, sizeof set_timeout, "SET statement_timeout = %d%s",
             ds->statement_timeout_ms > 0 ? ds->statement_timeout_ms : 300000,
             strcmp(dialect, "postgresql") == 0 && pg_server_version_num(s->pg) >= 110000
                 ? "; SET jit = off"
                 : "");
    if (pg_exec(s->pg, "statement timeout", set_timeout, err) != 0)
        return -1;
    if (strcmp(dialect, "redshift") == 0) {
        bool shared;
        char *options;
        find_datashare(s, &shared, &options);
        if (shared) {
            /* datashare.c: the SVV_REDSHIFT_* views, not pg_class */
            dshare_origin o = {0};
            dshare_origin_parse(options, &o);
            free(options);
            const char *db = pg_database(s->pg);
            dshare_origin_complete(s, db ? db : ds->database, &o);
            int drc = dshare_discover(s, ds, db ? db : ds->database, out, err);
            if (drc == 0)
                out->source = dshare_origin_text(&o);
            dshare_origin_free(&o);
            return drc;
        }
    }
    if (pg_exec(s->pg, "snapshot", d->begin, err) != 0)
        return -1;

    out->catalog = mc_catalog_new();
    ctx.s = s;
    ctx.cat = out->catalog;
    ctx.ds = ds;
    ctx.result = out;
    if (stream_query(s, "schema query", d->sql_schemas, schema_row, &ctx, err) != 0)
        goto out;
    for (size_t i = 0; i < out->catalog->n_schemas; i++) {
        const mc_schema *sc = &out->catalog->schemas[i];
        if (sc->usable)
            continue;
        out->catalog->n_unusable_schemas++;
        add_warning(out, sc->name,
                    mc_asprintf("schema '%s' is visible but the user has no USAGE on it: "
                                "its contents were not read and nothing in it is "
                                "marked removed (GRANT USAGE ON SCHEMA, or exclude it)",
                                sc->name));
    }
    in_list = schema_in_list(s, out->catalog);
    {
        const char *db = pg_database(s->pg);
        char *lit = pg_escape_literal(s->pg, db ? db : "");
        db_lit = mc_strdup(lit ? lit : "NULL");
        free(lit);
    }

    /* The snapshot's steps, COMMIT, then the isolated ones (see disc_step). */
    bool lb_failed = false, lb_ran = false;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < d->n_steps; i++) {
            const disc_step *st = &d->steps[i];
            if (st->isolated != (pass == 1))
                continue;
            static const row_fn handlers[] = {
                [STEP_CONTAINERS] = container_row,
                [STEP_SCHEMA_FLAGS] = schema_flag_row,
                [STEP_FIELDS] = field_row,
                [STEP_REF_COLUMNS] = ref_column_row,
                [STEP_KEYS] = key_row,
                [STEP_LATE_BINDING] = late_binding_row,
            };
            row_fn fn = handlers[st->kind];
            if (st->kind == STEP_CONTAINERS && ctx.indexed) {
                /* containers after the index was built: build it again */
                free(ctx.oids);
                free(ctx.by_name);
                ctx.oids = NULL;
                ctx.by_name = NULL;
                ctx.indexed = false;
            }
            if ((st->kind == STEP_FIELDS || st->kind == STEP_KEYS ||
                 st->kind == STEP_LATE_BINDING) && !ctx.indexed)
                index_containers(&ctx);
            if (!planned && st->kind != STEP_CONTAINERS && st->kind != STEP_SCHEMA_FLAGS) {
                /* every container is read: which need their detail again */
                char *oids = NULL;
                plan = reread_plan_make(out->catalog, prev, &oids);
                reread_fields = oids ? mc_asprintf("a.attrelid = ANY (%s)", oids)
                                     : mc_strdup("true");
                reread_keys = oids ? mc_asprintf("COALESCE(rt.root, con.conrelid) = ANY (%s)",
                                                 oids)
                                   : mc_strdup("true");
                free(oids);
                planned = true;
                /* A first crawl of PostgreSQL: columns go to the spool. */
                bool first = !prev || (prev->n_schemas == 0 && prev->n_containers == 0);
                if (strcmp(dialect, "postgresql") == 0 && out->catalog->n_containers > 0 &&
                    (first || !plan)) {
                    if (first && !(ctx.spool = spool_open(err)))
                        goto out;
                    if (!first) {
                        /* a full read against a store: drop what is as recorded */
                        ctx.prev = prev;
                        ctx.prev_oids = mc_malloc(prev->n_containers * sizeof *ctx.prev_oids);
                        for (size_t p = 0; p < prev->n_containers; p++)
                            if (prev->containers[p].oid)
                                ctx.prev_oids[ctx.n_prev_oids++] =
                                    (struct prev_oid){prev->containers[p].oid, p};
                        qsort(ctx.prev_oids, ctx.n_prev_oids, sizeof *ctx.prev_oids,
                              cmp_prev_oid);
                    }
                    ctx.pend = mc_calloc(out->catalog->n_containers, sizeof *ctx.pend);
                }
            }
            char *gated = subst_gates(s, st->sql);
            char *sql1 = subst_token(gated, SCHEMAS_TOKEN, in_list);
            free(gated);
            char *sql2 = subst_token(sql1, DATABASE_TOKEN, db_lit);
            free(sql1);
            char *sql3 = subst_token(sql2, REREAD_FIELDS_TOKEN,
                                     reread_fields ? reread_fields : "true");
            free(sql2);
            char *sql = subst_token(sql3, REREAD_KEYS_TOKEN,
                                    reread_keys ? reread_keys : "true");
            free(sql3);
            ctx.cols_known = false;
            mc_error step_err = {0};
            int timeout = st->own_timeout ? ds->late_binding_timeout_ms : 0;
            int r = stream_query_timeout(s, st->what, sql, fn, &ctx, timeout,
                                         st->isolated ? &step_err : err);
            free(sql);
            if (st->kind == STEP_LATE_BINDING)
                lb_ran = true, lb_failed = r != 0;
            if (r != 0 && !st->isolated)
                goto out;
            if (r != 0) {
                if (pg_lost(s->pg)) {
                    *err = step_err;
                    goto out;
                }
                out->n_failed_steps++;
                add_warning(out, NULL,
                            mc_asprintf("%s; the %s keep what was last recorded and "
                                        "nothing is marked removed in this run",
                                        step_err.message, st->affected));
            }
        }
        if (pass == 0 && (lin_read_edges(s->pg, strcmp(dialect, "redshift") == 0, in_list,
                                         &edges, err) != 0 ||
                          pg_exec(s->pg, "snapshot end", "COMMIT", err) != 0))
            goto out;
    }
    /* Columns still waiting (their count never came, or a container has
     * none): complete them as they are. */
    for (size_t k = 0; ctx.pend && k < out->catalog->n_containers; k++)
        if (ctx.pend[k].n > 0 && complete_pending(&ctx, k, err) != 0)
            goto out;
    out->n_reread = reread_plan_count(plan, out->catalog);
    reread_plan_finish(plan, out->catalog, prev);
    plan = NULL;
    build_sort_keys(&ctx);
    attach_fields(&ctx);
    for (size_t k = 0; ctx.spool && k < out->catalog->n_containers; k++) {
        mc_container *c = &out->catalog->containers[k];
        if (c->fields_elsewhere) {
            c->n_fields = c->n_fields_unread;
            c->n_fields_unread = 0;
        }
    }
    if (ctx.spool && spool_bytes(ctx.spool) > 0) {
        out->spool = ctx.spool;
        ctx.spool = NULL;
    }
    lin_attach(out->catalog, edges, strcmp(dialect, "redshift") == 0);
    if (lb_ran && !lb_failed)
        warn_unreadable_late_binding(out, ds);
    mc_catalog_finish(out->catalog);
    /* Table facts: one statement, after the snapshot, never a failure
     * (facts.c says why). */
    disc_facts_read(s, out->catalog, in_list, db_lit, ds, &out->facts);
    rc = 0;
out:
    out->n_queries = pg_n_statements(s->pg);
    free(db_lit);
    lin_edges_free(edges);
    free(ctx.oids);
    free(ctx.by_name);
    free(ctx.field_owner);
    free(ctx.sortcols);
    free(ctx.refcols);
    free(ctx.attnames);
    mc_arena_free(ctx.scratch);
    free(in_list);
    free(reread_fields);
    free(reread_keys);
    for (size_t k = 0; ctx.pend && out->catalog && k < out->catalog->n_containers; k++)
        free(ctx.pend[k].f), mc_arena_free(ctx.pend[k].a);
    free(ctx.pend);
    free(ctx.prev_oids);
    spool_close(ctx.spool);
    if (plan && out->catalog)
        reread_plan_finish(plan, out->catalog, prev);
    if (rc != 0) {
        disc_result_free(out);
        /* leave the session usable for nothing: a failed snapshot; what
         * it cost is still reported */
        out->n_queries = pg_n_statements(s->pg);
    }
    return rc;
}
