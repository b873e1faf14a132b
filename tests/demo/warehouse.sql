-- warehouse.sql — the sample schema of the demo warehouse (tests/demo.sh).
--
-- A small analytics warehouse as a data team would have it: raw loads in
-- `staging`, modelled tables in `sales` and `marketing`, a view, a
-- materialized view, a partitioned event table, keys and comments.
-- Tables belong to the role `etl`; the crawler logs in as `metamapper`, a
-- member of the read-only group role `metamapper_ro`.
--
-- Run as a superuser, connected to the demo database, with
--   psql -v crawler_password=... -f warehouse.sql   (or \set crawler_password in a file read first)
\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- ---- roles -----------------------------------------------------------------
CREATE ROLE etl NOLOGIN;
CREATE ROLE metamapper_ro NOLOGIN;
CREATE ROLE metamapper LOGIN PASSWORD :'crawler_password' IN ROLE metamapper_ro;
COMMENT ON ROLE metamapper IS 'metacrawl catalog crawler (read-only)';

GRANT CREATE ON DATABASE :"DBNAME" TO etl;
SET ROLE etl;

-- ---- staging: raw loads ----------------------------------------------------
CREATE SCHEMA staging;
COMMENT ON SCHEMA staging IS 'Raw loads from the shop database, replaced nightly';

CREATE TABLE staging.raw_orders (
    load_id     bigint      NOT NULL,
    payload     jsonb       NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE staging.raw_orders IS 'Orders as exported by the shop, one JSON document each';
COMMENT ON COLUMN staging.raw_orders.load_id IS 'Batch id of the nightly load';

-- A leftover from a backfill: the config excludes "*_tmp", so it is not crawled.
CREATE TABLE staging.raw_orders_tmp (LIKE staging.raw_orders);

-- ---- sales -----------------------------------------------------------------
CREATE SCHEMA sales;
COMMENT ON SCHEMA sales IS 'Customers, products and orders';

CREATE TABLE sales.customers (
    customer_id bigint      PRIMARY KEY,
    email       text        NOT NULL UNIQUE,
    full_name   text,
    country     char(2),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sales.customers IS 'One row per registered customer';
COMMENT ON COLUMN sales.customers.email IS 'Login e-mail address (PII)';
COMMENT ON COLUMN sales.customers.country IS 'ISO 3166-1 alpha-2 country code';

CREATE TABLE sales.products (
    product_id  integer       PRIMARY KEY,
    sku         text          NOT NULL UNIQUE,
    name        text          NOT NULL,
    unit_price  numeric(10,2) NOT NULL,
    active      boolean       NOT NULL DEFAULT true
);
COMMENT ON TABLE sales.products IS 'Product catalogue';
COMMENT ON COLUMN sales.products.unit_price IS 'List price in EUR';

CREATE TABLE sales.orders (
    order_id    bigint        PRIMARY KEY,
    customer_id bigint        NOT NULL REFERENCES sales.customers (customer_id),
    ordered_at  timestamptz   NOT NULL,
    status      text          NOT NULL DEFAULT 'new',
    total       numeric(12,2)
);
COMMENT ON TABLE sales.orders IS 'One row per order, from the shop';
COMMENT ON COLUMN sales.orders.status IS 'new, paid, shipped, cancelled';
COMMENT ON COLUMN sales.orders.total IS 'Order total';

CREATE TABLE sales.order_items (
    order_id    bigint        NOT NULL REFERENCES sales.orders (order_id),
    line_no     integer       NOT NULL,
    product_id  integer       NOT NULL REFERENCES sales.products (product_id),
    quantity    integer       NOT NULL,
    unit_price  numeric(10,2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
COMMENT ON TABLE sales.order_items IS 'Order lines';

-- Click-stream events, partitioned by month; the partitions are not listed
-- as containers of their own.
CREATE TABLE sales.events (
    event_id    bigint      NOT NULL,
    occurred_at timestamptz NOT NULL,
    customer_id bigint,
    event_type  text        NOT NULL,
    properties  jsonb
) PARTITION BY RANGE (occurred_at);
CREATE TABLE sales.events_2025_01 PARTITION OF sales.events
    FOR VALUES FROM ('2025-01-01') TO ('2025-02-01');
CREATE TABLE sales.events_2025_02 PARTITION OF sales.events
    FOR VALUES FROM ('2025-02-01') TO ('2025-03-01');
COMMENT ON TABLE sales.events IS 'Web and app events, one partition per month';

CREATE VIEW sales.daily_revenue AS
    SELECT date_trunc('day', o.ordered_at)::date AS day,
           count(*)                             AS orders,
           sum(o.total)                         AS revenue
      FROM sales.orders o
     WHERE o.status <> 'cancelled'
     GROUP BY 1;
COMMENT ON VIEW sales.daily_revenue IS 'Revenue per day, cancelled orders excluded';

-- ---- marketing ---------------------------------------------------------------
CREATE SCHEMA marketing;
COMMENT ON SCHEMA marketing IS 'Campaigns and their attribution to orders';

CREATE TABLE marketing.campaigns (
    campaign_id integer       PRIMARY KEY,
    name        text          NOT NULL,
    channel     text          NOT NULL,
    started_on  date,
    budget      numeric(12,2)
);
COMMENT ON TABLE marketing.campaigns IS 'Paid campaigns';
COMMENT ON COLUMN marketing.campaigns.channel IS 'search, social, email, display';

CREATE TABLE marketing.attribution (
    campaign_id integer      NOT NULL REFERENCES marketing.campaigns (campaign_id),
    order_id    bigint       NOT NULL REFERENCES sales.orders (order_id),
    weight      numeric(5,4) NOT NULL DEFAULT 1,
    PRIMARY KEY (campaign_id, order_id)
);
COMMENT ON TABLE marketing.attribution IS 'Which campaigns led to an order (weights sum to 1)';

CREATE MATERIALIZED VIEW marketing.campaign_roi AS
    SELECT c.campaign_id, c.name,
           sum(a.weight * o.total) AS attributed_revenue,
           c.budget
      FROM marketing.campaigns c
      LEFT JOIN marketing.attribution a ON a.campaign_id = c.campaign_id
      LEFT JOIN sales.orders o ON o.order_id = a.order_id
     GROUP BY c.campaign_id, c.name, c.budget;
COMMENT ON MATERIALIZED VIEW marketing.campaign_roi IS 'Attributed revenue per campaign, refreshed hourly';

-- ---- a little data, so the row estimates mean something ---------------------
INSERT INTO sales.customers (customer_id, email, full_name, country)
    SELECT g, 'customer' || g || '@example.com', 'Customer ' || g,
           (ARRAY['DE', 'FR', 'NL', 'US'])[1 + g % 4]
      FROM generate_series(1, 500) g;
INSERT INTO sales.products (product_id, sku, name, unit_price)
    SELECT g, 'SKU-' || lpad(g::text, 5, '0'), 'Product ' || g, 5 + g % 50
      FROM generate_series(1, 120) g;
INSERT INTO sales.orders (order_id, customer_id, ordered_at, status, total)
    SELECT g, 1 + g % 500, timestamptz '2025-01-01' + g * interval '37 minutes',
           (ARRAY['new', 'paid', 'shipped', 'cancelled'])[1 + g % 4], 10 + g % 90
      FROM generate_series(1, 2000) g;
INSERT INTO sales.order_items (order_id, line_no, product_id, quantity, unit_price)
    SELECT o, l, 1 + (o * l) % 120, 1 + o % 3, 5 + (o * l) % 50
      FROM generate_series(1, 2000) o, generate_series(1, 2) l;
INSERT INTO marketing.campaigns VALUES
    (1, 'Winter sale', 'search', '2025-01-02', 5000),
    (2, 'Newsletter January', 'email', '2025-01-05', 300),
    (3, 'Spring teaser', 'social', '2025-02-10', 2500);
INSERT INTO marketing.attribution (campaign_id, order_id)
    SELECT 1 + g % 3, g FROM generate_series(1, 2000, 7) g;
REFRESH MATERIALIZED VIEW marketing.campaign_roi;

RESET ROLE;

-- ---- the crawler's read-only access (what `metacrawl grants` will print) -----
GRANT CONNECT ON DATABASE :"DBNAME" TO metamapper_ro;
GRANT USAGE ON SCHEMA staging, sales, marketing TO metamapper_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA staging, sales, marketing TO metamapper_ro;
ALTER DEFAULT PRIVILEGES FOR ROLE etl IN SCHEMA staging, sales, marketing
    GRANT SELECT ON TABLES TO metamapper_ro;

ANALYZE;
