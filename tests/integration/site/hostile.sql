-- hostile.sql — the catalog the docs-site tests crawl: ordinary tables with
-- foreign keys both ways, and names and comments written by an attacker who
-- may create tables and comment on them.  Every string here must reach the
-- site as text: an injected script that ran sets document.title to 'pwned'.
CREATE SCHEMA sales;
COMMENT ON SCHEMA sales IS 'Sales & orders <b>bold?</b>';

-- The target of a foreign key has a path-traversal name.
CREATE TABLE sales."../x" (id int PRIMARY KEY, label text);
COMMENT ON TABLE sales."../x" IS 'traversal target: ../../etc/passwd';

CREATE TABLE sales.customers (
  id int PRIMARY KEY,
  name text NOT NULL DEFAULT '<none>',
  region_id int REFERENCES sales."../x"(id)
);
COMMENT ON TABLE sales.customers IS '<script>document.title=''pwned''</script>';
COMMENT ON COLUMN sales.customers.name IS '<img src=x onerror="document.title=''pwned''">';

CREATE TABLE sales.orders (
  id int PRIMARY KEY,
  customer_id int NOT NULL CONSTRAINT orders_customer_fk REFERENCES sales.customers(id),
  amount integer,
  note text,
  legacy text,
  "<b>bold</b>" int,
  "a|b" int,
  "[link](javascript:alert(1))" int
);
COMMENT ON TABLE sales.orders IS E'Orders.\nSecond line | with a pipe # and *stars* & "quotes" ''apos''';
COMMENT ON COLUMN sales.orders.note IS E'</script><script>document.title=''pwned''</script> \u2028 line sep \u2029 para sep';
COMMENT ON COLUMN sales.orders.amount IS 'net amount, ünïcødé ☃ — 𝄞';

CREATE TABLE sales."</script><script>document.title='pwned'</script>" (id int);
COMMENT ON TABLE sales."</script><script>document.title='pwned'</script>" IS '</script>';
CREATE TABLE sales."<img src=x onerror=document.title='pwned'>" (id int);
CREATE TABLE sales."""quoted"" & 'apos'" (id int);
CREATE TABLE sales."ünïcødé ☃" ("spalte ä" int);
CREATE TABLE sales."Index" (id int);
CREATE TABLE sales.doomed (id int);
CREATE TABLE sales.con (id int);

CREATE VIEW sales.v_fence AS
  SELECT '~~~~ ``` </pre><script>document.title=''pwned''</script>'::text AS x;

CREATE SCHEMA "<svg onload=document.title='pwned'>";
CREATE TABLE "<svg onload=document.title='pwned'>".t (id int);
COMMENT ON COLUMN "<svg onload=document.title='pwned'>".t.id IS 'javascript:alert(1)';

-- The diagrams: a foreign-key cycle through two tables whose names are
-- markup, a table that references itself (with quotes and & in its name),
-- and a key from the hostile schema into sales (an edge between schemas).
ALTER TABLE sales."</script><script>document.title='pwned'</script>" ADD PRIMARY KEY (id);
ALTER TABLE sales."<img src=x onerror=document.title='pwned'>" ADD PRIMARY KEY (id),
  ADD CONSTRAINT "cycle_a" FOREIGN KEY (id)
    REFERENCES sales."</script><script>document.title='pwned'</script>"(id);
ALTER TABLE sales."</script><script>document.title='pwned'</script>"
  ADD CONSTRAINT "cycle_b" FOREIGN KEY (id) REFERENCES sales."<img src=x onerror=document.title='pwned'>"(id);
ALTER TABLE sales."""quoted"" & 'apos'" ADD PRIMARY KEY (id),
  ADD CONSTRAINT "self" FOREIGN KEY (id) REFERENCES sales."""quoted"" & 'apos'"(id);
ALTER TABLE "<svg onload=document.title='pwned'>".t
  ADD CONSTRAINT "t_customer" FOREIGN KEY (id) REFERENCES sales.customers(id);
