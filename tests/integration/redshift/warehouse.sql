-- warehouse.sql — a small Redshift-shaped warehouse on top of shim.sql:
-- tables with each distribution style, compound and interleaved sort keys,
-- column encodings, primary and foreign keys, an ordinary view, a
-- late-binding view, an external (Spectrum) schema with two external tables,
-- and a row standing for a table of another database that
-- SVV_EXTERNAL_TABLES lists for cross-database queries.  The tests grant the
-- crawler USAGE on sales and spectrum and change the fixture rows to make
-- changes.

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
