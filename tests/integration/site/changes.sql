-- changes.sql — what happens between the two crawls of the docs-site tests:
-- one of every common change, on sales.orders, and a dropped table.
ALTER TABLE sales.orders ADD COLUMN shipped_at timestamptz;
ALTER TABLE sales.orders DROP COLUMN legacy;
ALTER TABLE sales.orders ALTER COLUMN amount TYPE bigint;
ALTER TABLE sales.orders RENAME COLUMN "a|b" TO "a|c";
COMMENT ON COLUMN sales.orders.note IS '<svg onload="document.title=''pwned''">changed</svg>';
DROP TABLE sales.doomed;
