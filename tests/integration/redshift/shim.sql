-- shim.sql — makes a PostgreSQL database answer the catalog queries of
-- metacrawl's Redshift dialect (crawler/discover.c, rs_* statements) the way
-- Amazon Redshift would.  docs/redshift.md says what this proves and what it
-- cannot.  Run it as a superuser in a fresh database, then enrol the crawler
-- role:  SELECT rs_fixture.enrol('crawler_role');
--
-- Two schemas, both owned by the superuser and hidden from the crawler's
-- pg_namespace:
--
--   rs_fixture  the data behind the Redshift-only objects: tables a test
--               fills and changes (dist styles, sort keys, encodings,
--               late-binding views and their columns, external schemas,
--               tables and columns, the version string).  The crawler has
--               no privilege on it.
--   rs_shim     objects named like the Redshift catalog objects the dialect
--               reads: version(), current_setting() without
--               server_version_num, pg_class and pg_attribute with Redshift's
--               extra columns, format_encoding(), pg_get_viewdef() keeping
--               WITH NO SCHEMA BINDING, pg_get_late_binding_view_cols(), the
--               svv_external_* views, svv_table_info (superuser-visible),
--               and a pg_namespace without the two fixture schemas.
--
-- The crawler role's search_path is "rs_shim, pg_catalog, public" in this
-- database.  PostgreSQL searches pg_catalog first only when the path does
-- not name it; named after rs_shim, it comes second, so the unqualified
-- names of the Redshift statements resolve to rs_shim first.  (For functions
-- with the same argument types in both schemas, the one earlier on the path
-- wins.)  Statements that name pg_catalog. explicitly — the PostgreSQL
-- dialect — see the real catalogs.

CREATE SCHEMA rs_fixture;
CREATE SCHEMA rs_shim;

-- ---- the fixture's data ----------------------------------------------------

-- lbv_mode (set with rs_fixture.set_lbv_mode()) switches
-- pg_get_late_binding_view_cols() between the ways it has behaved in the field: 'ok'; 'fail' ("table N dropped by concurrent
-- transaction", dbt-core#1305); 'six' (a release that returned a sixth
-- column, dbt-core#3168); 'slow' (sleeps lbv_sleep seconds first, as on a
-- cluster with many late-binding views).
CREATE TABLE rs_fixture.settings (
  version   text NOT NULL,
  lbv_mode  text NOT NULL DEFAULT 'ok' CHECK (lbv_mode IN ('ok', 'fail', 'six', 'slow')),
  lbv_sleep float8 NOT NULL DEFAULT 30
);
INSERT INTO rs_fixture.settings (version) VALUES
  ('PostgreSQL 8.0.2 on i686-pc-linux-gnu, compiled by GCC gcc (GCC) 3.4.2 '
   '20041017 (Red Hat 3.4.2-6.fc3), Redshift 1.0.77467');

-- SVV_REDSHIFT_DATABASES: the databases of the cluster and those created
-- from datashares ('shared').  The connected database is 'local' unless a
-- test says otherwise.
CREATE TABLE rs_fixture.databases (
  database_name text PRIMARY KEY,
  database_type text NOT NULL,
  -- a shared database's origin, as AWS writes it: {"datashare_name": ...,
  -- "datashare_producer_account": ..., "datashare_producer_namespace": ...}
  database_options text
);
INSERT INTO rs_fixture.databases VALUES (current_database(), 'local'), ('other_db', 'local');

-- What pg_get_viewdef returns for a view, where it is not PostgreSQL's
-- own text: Redshift keeps the text it was given, comments included (dbt
-- writes a /* {"app": "dbt", ...} */ comment into it).  A materialized view
-- is a view in pg_class whose text is the whole CREATE MATERIALIZED VIEW
-- statement, its rows in a table mv_tbl__<name>__0 beside it: an ordinary
-- view with a row here stands in for it.
CREATE TABLE rs_fixture.view_text (
  relid      regclass PRIMARY KEY,
  definition text NOT NULL
);

-- pg_class.reldiststyle per table (PG_CLASS_INFO: 0 EVEN, 1 KEY, 8 ALL;
-- 9 AUTO).  Tables without a row are AUTO, Redshift's default.
CREATE TABLE rs_fixture.class_ext (
  relid        regclass PRIMARY KEY,
  reldiststyle int2 NOT NULL
);

-- pg_attribute.attisdistkey / attsortkeyord / attencodingtype per column,
-- by name (PG_TABLE_DEF: sortkey is the position in the sort key, negative
-- for the interleaved members that alternate).  Columns without a row: no
-- dist key, not in the sort key, encoding 0.
CREATE TABLE rs_fixture.attr_ext (
  relid           regclass NOT NULL,
  attname         name NOT NULL,
  attisdistkey    boolean NOT NULL DEFAULT false,
  attsortkeyord   int4 NOT NULL DEFAULT 0,
  attencodingtype int2 NOT NULL DEFAULT 0,
  PRIMARY KEY (relid, attname)
);

-- format_encoding(attencodingtype).  The numbers are the fixture's own:
-- Redshift does not document them, and nothing in metacrawl depends on them.
CREATE TABLE rs_fixture.encodings (code int2 PRIMARY KEY, name text NOT NULL);
INSERT INTO rs_fixture.encodings VALUES
  (0, 'none'), (1, 'bytedict'), (2, 'delta'), (3, 'delta32k'), (4, 'lzo'),
  (5, 'mostly8'), (6, 'mostly16'), (7, 'mostly32'), (8, 'runlength'),
  (9, 'text255'), (10, 'text32k'), (11, 'zstd'), (12, 'az64');

-- Views that are late-binding (created WITH NO SCHEMA BINDING on Redshift):
-- an ordinary PostgreSQL view stands in for each, and its columns are the
-- rows of late_binding_cols, not what pg_attribute says.
CREATE TABLE rs_fixture.late_binding_views (relid regclass PRIMARY KEY);
CREATE TABLE rs_fixture.late_binding_cols (
  view_schema name NOT NULL,
  view_name   name NOT NULL,
  col_name    name NOT NULL,
  col_type    varchar NOT NULL,
  col_num     int NOT NULL
);

-- External (Spectrum) schemas: each is also a real, empty schema here, as
-- an external schema is a row of pg_namespace on Redshift.
-- eskind as SVV_EXTERNAL_SCHEMAS documents it: 1 data catalog (Spectrum),
-- 2 Hive metastore, 3 federated PostgreSQL, 4 local Redshift database,
-- 5 remote Redshift database, 6 system tables, 8 federated MySQL,
-- 9 Kinesis, 10 MSK.
CREATE TABLE rs_fixture.external_schemas (
  schemaname   name PRIMARY KEY,
  databasename text NOT NULL,
  esoptions    text,
  eskind       int2 NOT NULL DEFAULT 1
);
-- redshift_database_name: the database a row belongs to.  SVV_EXTERNAL_TABLES
-- and SVV_EXTERNAL_COLUMNS also list the tables of the cluster's other
-- databases ("for cross-database queries"); rows with another name stand for
-- those.
CREATE TABLE rs_fixture.external_tables (
  schemaname        text NOT NULL,
  tablename         text NOT NULL,
  tabletype         text NOT NULL DEFAULT 'TABLE',
  location          text,
  input_format      text DEFAULT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  output_format     text DEFAULT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
  serialization_lib text DEFAULT 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
  serde_parameters  text DEFAULT '{}',
  compressed        int NOT NULL DEFAULT 0,
  parameters        text DEFAULT '{}',
  redshift_database_name text NOT NULL DEFAULT current_database(),
  PRIMARY KEY (redshift_database_name, schemaname, tablename)
);
CREATE TABLE rs_fixture.external_columns (
  schemaname    text NOT NULL,
  tablename     text NOT NULL,
  columnname    text NOT NULL,
  external_type text NOT NULL,
  columnnum     int NOT NULL,
  part_key      int NOT NULL DEFAULT 0,
  is_nullable   text NOT NULL DEFAULT '',
  redshift_database_name text NOT NULL DEFAULT current_database(),
  PRIMARY KEY (redshift_database_name, schemaname, tablename, columnname)
);

-- AutoMV: every Redshift database has a pg_automv schema holding the tables
-- of automated materialized views, on which a regular user has no USAGE
-- ("SHOW SCHEMAS" lists it).  PostgreSQL reserves the pg_ prefix too; a
-- superuser may create it with allow_system_table_mods.
SET allow_system_table_mods = on;
CREATE SCHEMA pg_automv;
RESET allow_system_table_mods;
CREATE TABLE pg_automv.mv_tbl__auto_mv_100234__0 (grvar_1 int, aggvar_1 bigint);

-- ---- the shim ---------------------------------------------------------------
-- Functions are SECURITY DEFINER with a fixed search_path so the crawler
-- needs no privilege on rs_fixture; views read it with their owner's rights.

CREATE FUNCTION rs_shim.version() RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
  AS $$ SELECT version FROM rs_fixture.settings LIMIT 1 $$;

-- Redshift has no server_version_num setting (PostgreSQL 8.2 added it):
-- asking for it fails, so metacrawl's detection takes its fallback path here
-- as it does on Redshift.
CREATE FUNCTION rs_shim.current_setting(text) RETURNS text
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
  IF $1 = 'server_version_num' THEN
    RAISE EXCEPTION 'unrecognized configuration parameter "%"', $1
      USING ERRCODE = 'undefined_object';
  END IF;
  RETURN pg_catalog.current_setting($1);
END
$$;

CREATE VIEW rs_shim.pg_namespace AS
  SELECT * FROM pg_catalog.pg_namespace
  WHERE nspname NOT IN ('rs_shim', 'rs_fixture');

-- Late-binding views have no pg_attribute rows on Redshift and relnatts 0:
-- their columns are known only when a query binds them.
DO $$
BEGIN
  EXECUTE format(
    'CREATE VIEW rs_shim.pg_class AS SELECT %s, '
    'COALESCE(x.reldiststyle, CASE WHEN c.relkind = ''r'' THEN 9 ELSE 0 END)::int2 '
    'AS reldiststyle FROM pg_catalog.pg_class c '
    'LEFT JOIN rs_fixture.class_ext x ON x.relid = c.oid',
    (SELECT string_agg(CASE WHEN attname = 'relnatts'
                            THEN 'CASE WHEN EXISTS (SELECT 1 FROM rs_fixture.late_binding_views l '
                                 'WHERE l.relid = c.oid) THEN 0::int2 ELSE c.relnatts END AS relnatts'
                            ELSE 'c.' || quote_ident(attname) END, ', ' ORDER BY attnum)
     FROM pg_catalog.pg_attribute
     WHERE attrelid = 'pg_catalog.pg_class'::regclass AND attnum > 0 AND NOT attisdropped));
END
$$;

-- The columns pg_attribute had in PostgreSQL 8.0, the lineage Redshift
-- keeps (newer ones such as attmissingval, of a pseudo-type, cannot be in a
-- view anyway), and Redshift's three.
CREATE VIEW rs_shim.pg_attribute AS
  SELECT a.attrelid, a.attname, a.atttypid, a.attlen, a.attnum, a.attndims,
         a.atttypmod, a.attbyval, a.attstorage, a.attalign, a.attnotnull,
         a.atthasdef, a.attisdropped, a.attislocal, a.attinhcount,
         COALESCE(x.attisdistkey, false) AS attisdistkey,
         COALESCE(x.attsortkeyord, 0)::int4 AS attsortkeyord,
         COALESCE(x.attencodingtype, 0)::int2 AS attencodingtype
  FROM pg_catalog.pg_attribute a
  LEFT JOIN rs_fixture.attr_ext x ON x.relid = a.attrelid AND x.attname = a.attname
  WHERE NOT EXISTS (SELECT 1 FROM rs_fixture.late_binding_views l WHERE l.relid = a.attrelid);

-- PG_TABLE_DEF's encoding column is character(32): the name comes back
-- blank-padded, which the dialect trims.
CREATE FUNCTION rs_shim.format_encoding(integer) RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
  AS $$ SELECT rpad(COALESCE((SELECT name FROM rs_fixture.encodings WHERE code = $1),
                             'unknown'), 32) $$;

CREATE FUNCTION rs_shim.pg_get_viewdef(oid) RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
  AS $$ SELECT COALESCE((SELECT definition FROM rs_fixture.view_text
                         WHERE relid = $1),
                        rtrim(pg_catalog.pg_get_viewdef($1), ';')
                        || CASE WHEN EXISTS (SELECT 1 FROM rs_fixture.late_binding_views
                                             WHERE relid = $1)
                                THEN ' WITH NO SCHEMA BINDING' ELSE '' END) $$;

-- An IDENTITY(seed, step) column's default is a call of Redshift's internal
-- "identity"(table oid, column index, 'seed,step') function.
CREATE FUNCTION rs_shim."identity"(oid, integer, text) RETURNS bigint
  LANGUAGE sql AS $$ SELECT 1::bigint $$;

-- PG_GET_LATE_BINDING_VIEW_COLS: one record per column of the late-binding
-- views the caller may SELECT from (session_user: the function runs with
-- its owner's rights), in either documented form:
--   SELECT pg_get_late_binding_view_cols()
--   SELECT * FROM pg_get_late_binding_view_cols()
--     cols(view_schema name, view_name name, col_name name, col_type varchar, col_num int)
-- rs_fixture.set_lbv_mode() makes it fail, return a sixth column (which
-- breaks the second form: the column definition list must match what the
-- function returns), or be slow; the gate does the first and the last.
CREATE FUNCTION rs_fixture.lbv_gate() RETURNS boolean
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  s rs_fixture.settings;
BEGIN
  SELECT * INTO s FROM rs_fixture.settings LIMIT 1;
  IF s.lbv_mode = 'fail' THEN
    RAISE EXCEPTION 'table 1180152 dropped by concurrent transaction' USING ERRCODE = 'XX000';
  ELSIF s.lbv_mode = 'slow' THEN
    PERFORM pg_sleep(s.lbv_sleep);
  END IF;
  RETURN true;
END
$$;

CREATE FUNCTION rs_fixture.set_lbv_mode(mode text) RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  UPDATE rs_fixture.settings SET lbv_mode = mode;
  EXECUTE format(
    'CREATE OR REPLACE FUNCTION rs_shim.pg_get_late_binding_view_cols() RETURNS SETOF record '
    'LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS '
    '$f$ SELECT c.view_schema, c.view_name, c.col_name, c.col_type, c.col_num%s '
    'FROM rs_fixture.late_binding_cols c '
    'WHERE rs_fixture.lbv_gate() AND has_table_privilege(session_user, '
    'format(''%%I.%%I'', c.view_schema, c.view_name), ''SELECT'') '
    'ORDER BY c.view_schema, c.view_name, c.col_num $f$',
    CASE WHEN mode = 'six' THEN ', ''n''::varchar AS col_extra' ELSE '' END);
END
$$;
SELECT rs_fixture.set_lbv_mode('ok');

-- The SVV views, with the columns their AWS pages list.  Like Redshift's,
-- they show a regular user only what the user was granted: here, external
-- schemas the user has USAGE on (current_user in a view is the caller).
-- Redshift runs SVV views on the compute nodes.  A statement that reads
-- one and also calls a leader-node-only function or reads a catalog table
-- fails there with this error; the guard, a condition of every SVV view
-- below, raises it for the statement the client sent (current_query()).
CREATE FUNCTION rs_fixture.svv_guard() RETURNS boolean
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
  q text := lower(COALESCE(current_query(), ''));
  leader text[] := ARRAY['pg_class', 'pg_namespace', 'pg_attribute', 'pg_attrdef',
                         'pg_description', 'pg_constraint', 'pg_user', 'pg_group',
                         'pg_type', 'pg_proc', 'has_schema_privilege',
                         'has_table_privilege', 'has_database_privilege', 'version(',
                         'current_setting', 'current_schema', 'current_database',
                         'pg_get_', 'format_type', 'format_encoding', '::regclass',
                         '::oid', 'quote_ident'];
  w text;
BEGIN
  FOREACH w IN ARRAY leader LOOP
    IF position(w IN q) > 0 THEN
      RAISE EXCEPTION 'Specified types or functions (one per INFO message) not '
                      'supported on Redshift tables.'
        USING ERRCODE = '0A000', DETAIL = w;
    END IF;
  END LOOP;
  RETURN true;
END
$$;

CREATE VIEW rs_shim.svv_external_schemas AS
  SELECT n.oid AS esoid, s.eskind, s.schemaname,
         n.nspowner::int4 AS esowner, s.databasename, s.esoptions
  FROM rs_fixture.external_schemas s
  JOIN pg_catalog.pg_namespace n ON n.nspname = s.schemaname
  WHERE has_schema_privilege(n.oid, 'USAGE') AND rs_fixture.svv_guard();

-- PG_EXTERNAL_SCHEMA, the catalog table behind it (leader node).
CREATE VIEW rs_shim.pg_external_schema AS
  SELECT n.oid AS esoid, s.eskind::int4 AS eskind, s.databasename AS esdbname, s.esoptions
  FROM rs_fixture.external_schemas s
  JOIN pg_catalog.pg_namespace n ON n.nspname = s.schemaname;

-- PG_DEFAULT_ACL as Redshift has it: the creator is defacluser, and a
-- regular user sees only its own rows.
CREATE VIEW rs_shim.pg_default_acl AS
  SELECT d.defaclrole::int4 AS defacluser, d.defaclnamespace, d.defaclobjtype, d.defaclacl
  FROM pg_catalog.pg_default_acl d
  WHERE d.defaclrole = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
     OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);

-- Rows of another redshift_database_name stand for the tables of
-- unconnected databases that SVV_EXTERNAL_TABLES lists for cross-database
-- queries; their schema names may be those of this database's schemas.
CREATE VIEW rs_shim.svv_external_tables AS
  SELECT t.redshift_database_name, t.schemaname,
         t.tablename, t.tabletype, t.location, t.input_format, t.output_format,
         t.serialization_lib, t.serde_parameters, t.compressed, t.parameters
  FROM rs_fixture.external_tables t
  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
                    WHERE n.nspname = t.schemaname
                      AND t.redshift_database_name = current_database()
                      AND NOT has_schema_privilege(n.oid, 'USAGE'))
    AND rs_fixture.svv_guard();

CREATE VIEW rs_shim.svv_external_columns AS
  SELECT c.redshift_database_name, c.schemaname,
         c.tablename, c.columnname, c.external_type, c.columnnum, c.part_key,
         c.is_nullable
  FROM rs_fixture.external_columns c
  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
                    WHERE n.nspname = c.schemaname
                      AND c.redshift_database_name = current_database()
                      AND NOT has_schema_privilege(n.oid, 'USAGE'))
    AND rs_fixture.svv_guard();

CREATE VIEW rs_shim.svv_redshift_databases AS
  SELECT d.database_name::varchar(128) AS database_name, 1 AS database_owner,
         d.database_type::varchar(32) AS database_type,
         NULL::varchar(128) AS database_acl, d.database_options::varchar(128) AS database_options,
         'Serializable'::varchar(128) AS database_isolation_level
  FROM rs_fixture.databases d
  WHERE rs_fixture.svv_guard();

-- SVV_TABLE_INFO: one row per user table of the connected database that
-- holds data (AWS: "doesn't return any information for empty tables"), with
-- the columns its page lists; the numbers are the fixture's (table_info).
-- "SVV_TABLE_INFO is visible only to superusers ... To permit a user to
-- query the view, grant SELECT permission on SVV_TABLE_INFO to the user":
-- enrol() revokes the SELECT it grants on the rest of rs_shim, so a crawler
-- is refused ("permission denied for view svv_table_info", SQLSTATE 42501;
-- Redshift words it "for relation") until a test runs the documented
--   GRANT SELECT ON svv_table_info TO <crawler>;
-- which, with rs_shim first on the crawler's search_path, names this view.
CREATE TABLE rs_fixture.table_info (
  relid                  regclass PRIMARY KEY,
  size                   bigint NOT NULL,
  pct_used               numeric(10,4) NOT NULL DEFAULT 0.0010,
  unsorted               numeric(5,2),
  stats_off              numeric(5,2) NOT NULL DEFAULT 0,
  tbl_rows               numeric(38,0) NOT NULL,
  skew_sortkey1          numeric(19,2),
  skew_rows              numeric(19,2),
  estimated_visible_rows numeric(38,0)
);

CREATE VIEW rs_shim.svv_table_info AS
  SELECT current_database()::text AS "database", n.nspname::text AS "schema",
         c.oid AS table_id, c.relname::text AS "table", 'Y'::text AS encoded,
         NULL::text AS diststyle, NULL::text AS sortkey1, 0 AS max_varchar,
         NULL::char(32) AS sortkey1_enc, 0 AS sortkey_num, t.size, t.pct_used,
         0::bigint AS empty, t.unsorted, t.stats_off, t.tbl_rows, t.skew_sortkey1,
         t.skew_rows, t.estimated_visible_rows
  FROM rs_fixture.table_info t
  JOIN pg_catalog.pg_class c ON c.oid = t.relid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE rs_fixture.svv_guard();

-- A datashare consumer database's objects, as SVV_REDSHIFT_SCHEMAS /
-- _TABLES / _COLUMNS describe them (their AWS pages' columns).  On a
-- cluster these views list every database's objects, local ones included;
-- here they hold what a test puts in, for the database it makes a consumer
-- (rs_fixture.databases.database_type = 'shared').  pg_class says nothing
-- of these objects, as on a consumer.
CREATE TABLE rs_fixture.redshift_schemas (
  database_name text NOT NULL, schema_name text NOT NULL,
  schema_owner int NOT NULL DEFAULT 100, schema_type text NOT NULL DEFAULT 'shared'
);
CREATE TABLE rs_fixture.redshift_tables (
  database_name text NOT NULL, schema_name text NOT NULL, table_name text NOT NULL,
  table_type text NOT NULL DEFAULT 'TABLE', remarks text, table_owner text
);
CREATE TABLE rs_fixture.redshift_columns (
  database_name text NOT NULL, schema_name text NOT NULL, table_name text NOT NULL,
  column_name text NOT NULL, ordinal_position int NOT NULL, data_type text NOT NULL,
  column_default text, is_nullable text NOT NULL DEFAULT 'YES', encoding text,
  distkey boolean NOT NULL DEFAULT false, sortkey int NOT NULL DEFAULT 0, remarks text
);
-- SVV_DATASHARE_OBJECTS: on a producer, its OUTBOUND datashares' objects.
CREATE TABLE rs_fixture.datashare_objects (
  share_type text NOT NULL DEFAULT 'OUTBOUND', share_name text NOT NULL,
  object_type text NOT NULL, object_name text NOT NULL,
  producer_account text, producer_namespace text, include_new boolean
);

CREATE VIEW rs_shim.svv_redshift_schemas AS
  SELECT database_name::varchar(128) AS database_name, schema_name::varchar(128) AS schema_name,
         schema_owner, schema_type::varchar(16) AS schema_type,
         NULL::varchar(128) AS schema_acl, NULL::varchar(128) AS schema_option
  FROM rs_fixture.redshift_schemas WHERE rs_fixture.svv_guard();
CREATE VIEW rs_shim.svv_redshift_tables AS
  SELECT database_name::varchar(128) AS database_name, schema_name::varchar(128) AS schema_name,
         table_name::varchar(128) AS table_name, table_type::varchar(128) AS table_type,
         NULL::varchar(128) AS table_acl, remarks::varchar(128) AS remarks,
         table_owner::varchar(128) AS table_owner
  FROM rs_fixture.redshift_tables WHERE rs_fixture.svv_guard();
CREATE VIEW rs_shim.svv_redshift_columns AS
  SELECT database_name::varchar(128) AS database_name, schema_name::varchar(128) AS schema_name,
         table_name::varchar(128) AS table_name, column_name::varchar(128) AS column_name,
         ordinal_position, data_type::varchar(32) AS data_type,
         column_default::varchar(4000) AS column_default, is_nullable::varchar(3) AS is_nullable,
         encoding::varchar(128) AS encoding, distkey, sortkey,
         NULL::varchar(128) AS column_acl, remarks::varchar(256) AS remarks
  FROM rs_fixture.redshift_columns WHERE rs_fixture.svv_guard();
-- SVV_DATASHARES: a consumer's INBOUND datashares and a producer's OUTBOUND
-- ones with their source_database (the rows a test adds).
CREATE TABLE rs_fixture.datashares (
  share_name text NOT NULL, share_type text NOT NULL DEFAULT 'INBOUND',
  consumer_database text, producer_account text, producer_namespace text,
  source_database text
);
CREATE VIEW rs_shim.svv_datashares AS
  SELECT share_name::varchar(128) AS share_name, 0 AS share_id, 100 AS share_owner,
         source_database::varchar(128) AS source_database,
         consumer_database::varchar(128) AS consumer_database,
         share_type::varchar(8) AS share_type, NULL::timestamp AS createdate,
         false AS is_publicaccessible, NULL::varchar(256) AS share_acl,
         producer_account::varchar(16) AS producer_account,
         producer_namespace::varchar(64) AS producer_namespace, NULL::varchar(64) AS managed_by
  FROM rs_fixture.datashares WHERE rs_fixture.svv_guard();
CREATE VIEW rs_shim.svv_datashare_objects AS
  SELECT share_type::varchar(8) AS share_type, share_name::varchar(128) AS share_name,
         object_type::varchar(64) AS object_type, object_name::varchar(512) AS object_name,
         producer_account::varchar(16) AS producer_account,
         producer_namespace::varchar(64) AS producer_namespace, include_new
  FROM rs_fixture.datashare_objects WHERE rs_fixture.svv_guard();

-- ---- what Redshift does not have ---------------------------------------------
-- "Unsupported PostgreSQL functions": shadowed here so that any use by the
-- Redshift dialect fails as it would on a cluster.  (The PostgreSQL dialect
-- names pg_catalog. and is not affected.)
CREATE FUNCTION rs_shim.generate_series(integer, integer) RETURNS SETOF integer
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'function generate_series(integer, integer) does not exist' USING ERRCODE = '42883'; END $$;
CREATE FUNCTION rs_shim.generate_series(bigint, bigint) RETURNS SETOF bigint
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'function generate_series(bigint, bigint) does not exist' USING ERRCODE = '42883'; END $$;
CREATE FUNCTION rs_shim.unnest(anyarray) RETURNS SETOF anyelement
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'function unnest does not exist' USING ERRCODE = '42883'; END $$;
CREATE FUNCTION rs_shim.array_to_json(anyarray) RETURNS json
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'function array_to_json does not exist' USING ERRCODE = '42883'; END $$;
CREATE FUNCTION rs_shim.array_to_string(anyarray, text) RETURNS text
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'function array_to_string does not exist' USING ERRCODE = '42883'; END $$;
CREATE FUNCTION rs_shim.refuse_string_agg(text, text, text) RETURNS text
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'function string_agg does not exist' USING ERRCODE = '42883'; END $$;
CREATE AGGREGATE rs_shim.string_agg(text, text) (SFUNC = rs_shim.refuse_string_agg, STYPE = text);
CREATE FUNCTION rs_shim.refuse_array_agg(anyarray, anynonarray) RETURNS anyarray
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'function array_agg does not exist' USING ERRCODE = '42883'; END $$;
CREATE AGGREGATE rs_shim.array_agg(anynonarray) (SFUNC = rs_shim.refuse_array_agg,
                                                 STYPE = anyarray);

-- With enable_case_sensitive_identifier off (Redshift's default) even
-- quoted identifiers are folded to lower case, in the privilege functions'
-- name arguments too: a relation "Orders" is not found by name.  (The
-- setting itself cannot be given to PostgreSQL, which refuses unknown
-- parameters; a crawler must use the OID forms, which these leave alone.)
CREATE FUNCTION rs_shim.has_table_privilege(text, text) RETURNS boolean
  LANGUAGE sql STABLE SET search_path = pg_catalog
  AS $$ SELECT pg_catalog.has_table_privilege(lower($1), $2) $$;
CREATE FUNCTION rs_shim.has_schema_privilege(text, text) RETURNS boolean
  LANGUAGE sql STABLE SET search_path = pg_catalog
  AS $$ SELECT pg_catalog.has_schema_privilege(lower($1), $2) $$;

-- ---- enrolling the crawler role ---------------------------------------------

CREATE FUNCTION rs_fixture.enrol(role name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA rs_shim TO %I', role);
  EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA rs_shim TO %I', role);
  -- superuser-visible on Redshift: only with its own grant
  EXECUTE format('REVOKE SELECT ON rs_shim.svv_table_info FROM %I', role);
  EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path = rs_shim, pg_catalog, public',
                 role, current_database());
END
$$;
