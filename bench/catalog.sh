# bench/catalog.sh — sourced by bench/run.sh and bench/docs.sh.
#
# bench_catalog_sql SCHEMAS TABLES COLUMNS prints the SQL that builds the
# synthetic catalog (bench/catalog.sql, then one CALL per schema), to be fed to
# psql in autocommit mode: the procedure commits as it goes.
# bench_schema_width SCHEMAS prints how many digits schema names have
# (s01 .. s20): the change phase of bench/run.sh names them too.
bench_schema_width() {
  local w=${#1}
  ((w >= 2)) || w=2
  echo "$w"
}

bench_catalog_sql() {
  local schemas=$1 tables=$2 columns=$3 s width
  width=$(bench_schema_width "$schemas")
  cat "$(dirname "${BASH_SOURCE[0]}")/catalog.sql"
  for ((s = 1; s <= schemas; s++)); do
    echo "CALL public.bench_make_schema($s, $tables, $columns, $width);"
  done
  echo "DROP PROCEDURE public.bench_make_schema(int, int, int, int);"
}
