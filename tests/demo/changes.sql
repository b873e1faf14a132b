-- changes.sql — what happens to the demo warehouse between two crawls
-- (tests/demo.sh): the kind of changes a data team makes in a week.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET ROLE etl;

-- A new column.
ALTER TABLE sales.customers ADD COLUMN loyalty_tier text;
COMMENT ON COLUMN sales.customers.loyalty_tier IS 'bronze, silver or gold; null before the programme started';

-- A renamed table: metacrawl follows it by its object id, so this is a
-- rename, not a removal and an addition.
ALTER TABLE staging.raw_orders RENAME TO shop_orders;

-- A changed comment.
COMMENT ON COLUMN sales.orders.total IS 'Order total in EUR, after discounts, before tax';

-- A wider type: breaking for anyone who reads the column into an int.
ALTER TABLE sales.order_items ALTER COLUMN quantity TYPE bigint;

-- A new table.
CREATE TABLE marketing.email_opens (
    campaign_id integer     NOT NULL REFERENCES marketing.campaigns (campaign_id),
    customer_id bigint      NOT NULL REFERENCES sales.customers (customer_id),
    opened_at   timestamptz NOT NULL
);
COMMENT ON TABLE marketing.email_opens IS 'Newsletter opens, from the mailing provider';

RESET ROLE;
