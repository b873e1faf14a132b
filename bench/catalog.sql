-- bench/catalog.sql — the synthetic catalog of SPEC §10, shared by bench/run.sh
-- and bench/docs.sh (bench/catalog.sh prints it with the CALLs).
--
-- One CALL per schema; the procedure commits every 100 tables so the lock
-- table never fills whatever the size. Column types cycle per table; every 5th
-- column is NOT NULL, every 7th has a default, every 4th has a comment. c2 is
-- always "integer NOT NULL DEFAULT 0" (bench/run.sh's change phase alters its
-- type).
CREATE PROCEDURE public.bench_make_schema(s int, ntables int, ncols int, width int)
LANGUAGE plpgsql AS $proc$
DECLARE
  types text[] := ARRAY['integer', 'bigint', 'text', 'varchar(64)', 'numeric(12,2)',
                        'timestamptz', 'boolean', 'date', 'jsonb', 'double precision'];
  defs text[] := ARRAY['0', '0', '''''', '''n/a''', '0', 'now()', 'false',
                       'CURRENT_DATE', '''{}''::jsonb', '0'];
  sname text := 's' || lpad(s::text, width, '0');
  tname text;
  cols text;
  k int;
BEGIN
  EXECUTE format('CREATE SCHEMA %I', sname);
  EXECUTE format('COMMENT ON SCHEMA %I IS %L', sname, 'synthetic schema ' || s);
  FOR t IN 1..ntables LOOP
    tname := 't' || lpad(t::text, 5, '0');
    cols := 'id bigint PRIMARY KEY, c2 integer NOT NULL DEFAULT 0';
    FOR j IN 3..ncols LOOP
      k := 1 + (j + t) % array_length(types, 1);
      cols := cols || format(', c%s %s', j, types[k]);
      IF j % 5 = 0 THEN cols := cols || ' NOT NULL'; END IF;
      IF j % 7 = 0 THEN cols := cols || ' DEFAULT ' || defs[k]; END IF;
    END LOOP;
    EXECUTE format('CREATE TABLE %I.%I (%s)', sname, tname, cols);
    EXECUTE format('COMMENT ON TABLE %I.%I IS %L', sname, tname,
                   format('Synthetic table %s of schema %s: what it holds, who loads it.',
                          t, sname));
    EXECUTE format('COMMENT ON COLUMN %I.%I.id IS %L', sname, tname, 'surrogate key');
    FOR j IN 4..ncols BY 4 LOOP
      EXECUTE format('COMMENT ON COLUMN %I.%I.%I IS %L', sname, tname, 'c' || j,
                     format('column %s of %s.%s, in the unit of the source system', j,
                            sname, tname));
    END LOOP;
    IF t % 100 = 0 THEN COMMIT; END IF;
  END LOOP;
END
$proc$;
