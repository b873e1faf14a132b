-- warehouse.sql — a small Redshift-shaped warehouse on top of shim.sql:
-- tables with each distribution style, compound and interleaved sort keys,
-- column encodings, primary and foreign keys, an IDENTITY column, ordinary
-- views (one written by dbt, one whose text holds the words WITH NO SCHEMA
-- BINDING), a late-binding view, a materialized view with its backing
-- table, an external (Spectrum) schema with two external tables, and rows
-- standing for tables of another database that SVV_EXTERNAL_TABLES lists
-- for cross-database queries (one under the same schema and table name).
-- The tests grant the crawler USAGE on sales and spectrum and SELECT on the
-- tables of sales, and change the fixture rows to make changes.

CREATE SCHEMA sales;
COMMENT ON SCHEMA sales IS 'orders and customers';

CREATE TABLE sales.customers (
  id     integer NOT NULL,
  name   varchar(100),
  region char(2),
  PRIMARY KEY (id)
);

CREATE TABLE sales.orders (
  id          bigint NOT NULL,
  customer_id integer NOT NULL,
  placed_at   timestamp NOT NULL,
  amount      numeric(12,2) DEFAULT 0,
  note        varchar(256),
  PRIMARY KEY (id),
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES sales.customers (id)
);
COMMENT ON TABLE sales.orders IS 'one row per order';
COMMENT ON COLUMN sales.orders.note IS 'free text';

CREATE TABLE sales.events (
  event_id bigint,
  kind     varchar(20),
  at       timestamp
);

CREATE VIEW sales.v_big_orders AS SELECT id, amount FROM sales.orders WHERE amount > 1000;

-- The late-binding view: on Redshift it would be
--   CREATE VIEW sales.v_orders_lb AS SELECT ... FROM spectrum.clicks ...
--   WITH NO SCHEMA BINDING;
-- here its PostgreSQL columns (placeholder) are deliberately not its
-- columns: those come only from pg_get_late_binding_view_cols().
CREATE VIEW sales.v_orders_lb AS SELECT 1 AS placeholder;
INSERT INTO rs_fixture.late_binding_views VALUES ('sales.v_orders_lb');
INSERT INTO rs_fixture.late_binding_cols VALUES
  ('sales', 'v_orders_lb', 'order_id', 'bigint', 1),
  ('sales', 'v_orders_lb', 'amount', 'numeric(12,2)', 2),
  ('sales', 'v_orders_lb', 'region', 'character(2)', 3);

-- customers: DISTSTYLE ALL, no sort key.
-- orders: DISTKEY (customer_id), COMPOUND SORTKEY (placed_at, id).
-- events: DISTSTYLE EVEN, INTERLEAVED SORTKEY (at, kind).
INSERT INTO rs_fixture.class_ext VALUES
  ('sales.customers', 8), ('sales.orders', 1), ('sales.events', 0);
INSERT INTO rs_fixture.attr_ext (relid, attname, attisdistkey, attsortkeyord, attencodingtype) VALUES
  ('sales.customers', 'name', false, 0, 4),
  ('sales.orders', 'id', false, 2, 12),
  ('sales.orders', 'customer_id', true, 0, 12),
  ('sales.orders', 'placed_at', false, 1, 0),
  ('sales.orders', 'note', false, 0, 11),
  ('sales.events', 'at', false, 1, 0),
  ('sales.events', 'kind', false, -2, 1);

-- The external schema (CREATE EXTERNAL SCHEMA spectrum FROM DATA CATALOG ...).
CREATE SCHEMA spectrum;
INSERT INTO rs_fixture.external_schemas VALUES
  ('spectrum', 'spectrumdb', '{"IAM_ROLE":"arn:aws:iam::123456789012:role/mySpectrumRole"}');
INSERT INTO rs_fixture.external_tables (schemaname, tablename, location) VALUES
  ('spectrum', 'clicks', 's3://example-bucket/clicks/'),
  ('spectrum', 'sales_archive', 's3://example-bucket/sales_archive/'),
  -- a table of another database, listed for cross-database queries: not
  -- an external table of this one
  ('sales', 'ghost', 's3://example-bucket/ghost/');
INSERT INTO rs_fixture.external_columns VALUES
  ('spectrum', 'clicks', 'dt', 'date', 4, 1, 'false'),
  ('spectrum', 'clicks', 'user_id', 'bigint', 1, 0, ''),
  ('spectrum', 'clicks', 'url', 'varchar(2048)', 2, 0, 'true'),
  ('spectrum', 'clicks', 'referrer', 'varchar(2048)', 3, 0, ''),
  ('spectrum', 'sales_archive', 'order_id', 'bigint', 1, 0, ''),
  ('spectrum', 'sales_archive', 'amount', 'decimal(12,2)', 2, 0, ''),
  ('sales', 'ghost', 'x', 'int', 1, 0, '');

-- A table of another database of the cluster with the same schema and
-- table name as ours, and one with a name of its own.
INSERT INTO rs_fixture.external_tables (schemaname, tablename, location, redshift_database_name) VALUES
  ('spectrum', 'clicks', 's3://example-bucket/other/clicks/', 'other_db'),
  ('spectrum', 'other_only', 's3://example-bucket/other/other_only/', 'other_db');
INSERT INTO rs_fixture.external_columns VALUES
  ('spectrum', 'clicks', 'user_id', 'bigint', 1, 0, '', 'other_db'),
  ('spectrum', 'clicks', 'other_col', 'int', 2, 0, '', 'other_db'),
  ('spectrum', 'other_only', 'x', 'int', 1, 0, '', 'other_db');

-- CREATE TABLE sales.order_lines (line_id bigint IDENTITY(1,1), ...)
CREATE TABLE sales.order_lines (
  line_id  bigint NOT NULL DEFAULT rs_shim."identity"(0, 0, '1,1'::text),
  order_id bigint NOT NULL
);

-- A view dbt built: Redshift keeps the comment dbt writes into it.
CREATE VIEW sales.v_customers_dbt AS SELECT id, name FROM sales.customers;
INSERT INTO rs_fixture.view_text VALUES ('sales.v_customers_dbt',
  '/* {"app": "dbt", "dbt_version": "1.7.4", "profile_name": "warehouse", '
  '"target_name": "prod", "node_id": "model.warehouse.v_customers_dbt"} */

  create view "dev"."sales"."v_customers_dbt" as (
    select id, name from sales.customers
  );');

-- An ordinary view whose text holds the phrase in a string.
CREATE VIEW sales.v_binding_note AS
  SELECT id, 'created with no schema binding'::varchar(40) AS note FROM sales.orders;

-- CREATE MATERIALIZED VIEW sales.mv_daily AUTO REFRESH NO AS SELECT ...:
-- the view and the table Redshift keeps its rows in.
CREATE VIEW sales.mv_daily AS
  SELECT placed_at::date AS day, sum(amount) AS total FROM sales.orders GROUP BY 1;
CREATE TABLE sales.mv_tbl__mv_daily__0 (day date, total numeric(38,2), "$count" bigint);
INSERT INTO rs_fixture.view_text VALUES ('sales.mv_daily',
  '/* {"app": "dbt", "dbt_version": "1.7.4"} */ create materialized view sales.mv_daily '
  'backup yes diststyle even auto refresh no as (SELECT placed_at::date AS day, '
  'sum(amount) AS total FROM sales.orders GROUP BY 1);');

-- SVV_TABLE_INFO's rows (shim.sql): customers and orders hold data; events
-- is empty, so the view has no row for it.
INSERT INTO rs_fixture.table_info
  (relid, size, pct_used, unsorted, stats_off, tbl_rows, skew_sortkey1, skew_rows,
   estimated_visible_rows) VALUES
  ('sales.customers', 12, 0.0021, 0.00, 0.00, 5000, NULL, NULL, 5000),
  ('sales.orders', 340, 0.0610, 7.25, 12.50, 1250000, 1.50, 1.08, 1249000);
