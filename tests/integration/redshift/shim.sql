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
--               svv_external_* views, and a pg_namespace without the two
--               fixture schemas.
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

CREATE TABLE rs_fixture.settings (version text NOT NULL);
INSERT INTO rs_fixture.settings VALUES
  ('PostgreSQL 8.0.2 on i686-pc-linux-gnu, compiled by GCC gcc (GCC) 3.4.2 '
   '20041017 (Red Hat 3.4.2-6.fc3), Redshift 1.0.77467');

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
CREATE TABLE rs_fixture.external_schemas (
  schemaname   name PRIMARY KEY,
  databasename text NOT NULL,
  esoptions    text
);
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
  PRIMARY KEY (schemaname, tablename)
);
CREATE TABLE rs_fixture.external_columns (
  schemaname    text NOT NULL,
  tablename     text NOT NULL,
  columnname    text NOT NULL,
  external_type text NOT NULL,
  columnnum     int NOT NULL,
  part_key      int NOT NULL DEFAULT 0,
  is_nullable   text NOT NULL DEFAULT '',
  PRIMARY KEY (schemaname, tablename, columnname)
);

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

CREATE VIEW rs_shim.pg_class AS
  SELECT c.*,
         COALESCE(x.reldiststyle, CASE WHEN c.relkind = 'r' THEN 9 ELSE 0 END)::int2
           AS reldiststyle
  FROM pg_catalog.pg_class c
  LEFT JOIN rs_fixture.class_ext x ON x.relid = c.oid;

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
  LEFT JOIN rs_fixture.attr_ext x ON x.relid = a.attrelid AND x.attname = a.attname;

-- PG_TABLE_DEF's encoding column is character(32): the name comes back
-- blank-padded, which the dialect trims.
CREATE FUNCTION rs_shim.format_encoding(integer) RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
  AS $$ SELECT rpad(COALESCE((SELECT name FROM rs_fixture.encodings WHERE code = $1),
                             'unknown'), 32) $$;

CREATE FUNCTION rs_shim.pg_get_viewdef(oid) RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
  AS $$ SELECT rtrim(pg_catalog.pg_get_viewdef($1), ';')
               || CASE WHEN EXISTS (SELECT 1 FROM rs_fixture.late_binding_views
                                    WHERE relid = $1)
                       THEN ' WITH NO SCHEMA BINDING' ELSE '' END $$;

-- Called as PG_GET_LATE_BINDING_VIEW_COLS documents it:
--   SELECT * FROM pg_get_late_binding_view_cols()
--     cols(view_schema name, view_name name, col_name name, col_type varchar, col_num int)
CREATE FUNCTION rs_shim.pg_get_late_binding_view_cols() RETURNS SETOF record
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
  AS $$ SELECT view_schema, view_name, col_name, col_type, col_num
        FROM rs_fixture.late_binding_cols $$;

-- The SVV views, with the columns their AWS pages list.  Like Redshift's,
-- they show a regular user only what the user was granted: here, external
-- schemas the user has USAGE on (current_user in a view is the caller).
CREATE VIEW rs_shim.svv_external_schemas AS
  SELECT n.oid AS esoid, 1::int2 AS eskind, s.schemaname,
         n.nspowner::int4 AS esowner, s.databasename, s.esoptions
  FROM rs_fixture.external_schemas s
  JOIN pg_catalog.pg_namespace n ON n.nspname = s.schemaname
  WHERE has_schema_privilege(n.oid, 'USAGE');

-- Rows whose schemaname is not an external schema stand for the tables of
-- unconnected databases that SVV_EXTERNAL_TABLES lists for cross-database
-- queries.
CREATE VIEW rs_shim.svv_external_tables AS
  SELECT current_database()::text AS redshift_database_name, t.schemaname,
         t.tablename, t.tabletype, t.location, t.input_format, t.output_format,
         t.serialization_lib, t.serde_parameters, t.compressed, t.parameters
  FROM rs_fixture.external_tables t
  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
                    WHERE n.nspname = t.schemaname
                      AND NOT has_schema_privilege(n.oid, 'USAGE'));

CREATE VIEW rs_shim.svv_external_columns AS
  SELECT current_database()::text AS redshift_database_name, c.schemaname,
         c.tablename, c.columnname, c.external_type, c.columnnum, c.part_key,
         c.is_nullable
  FROM rs_fixture.external_columns c
  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
                    WHERE n.nspname = c.schemaname
                      AND NOT has_schema_privilege(n.oid, 'USAGE'));

-- ---- enrolling the crawler role ---------------------------------------------

CREATE FUNCTION rs_fixture.enrol(role name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA rs_shim TO %I', role);
  EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA rs_shim TO %I', role);
  EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path = rs_shim, pg_catalog, public',
                 role, current_database());
END
$$;
