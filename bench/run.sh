#!/usr/bin/env bash
# bench/run.sh — metacrawl's benchmark (SPEC §10, first version).
#
# Builds a synthetic catalog in a throwaway PostgreSQL and measures, in one run and
# alternating the tools, each --repeat times:
#
#   psql copy         psql \copy of the same facts metacrawl's discovery reads
#                     (schemas, tables, columns with format_type, defaults via
#                     pg_get_expr, comments from pg_description, primary/foreign keys)
#                     to files, inside one read-only snapshot: the baseline;
#   first crawl       metacrawl crawl into a fresh store (the baseline run);
#   no-change         metacrawl crawl of the unchanged catalog into the store the
#                     first crawl wrote;
#   1% changed        metacrawl crawl after ALTER TABLE ... ADD COLUMN and a column
#                     type change on 1% of the tables (the same diff every time: the
#                     store is restored and the changes undone after each crawl).
#
# Each measurement records wall time, peak RSS and CPU time of the client process
# (/usr/bin/time) and the server's CPU time (the backends' time, as the postmaster
# reaps them), and for metacrawl the statement count of `crawl --json`.
# Then, once, an attribution of where the time goes: each discovery query alone
# through psql, its server-side execution time (EXPLAIN ANALYZE) with and without
# JIT, and metacrawl crawl --dry-run (no store writes).
# It prints the table of medians and ratios and writes bench/out/results.md;
# docs/performance.md explains the figures.
#
# Usage: bash bench/run.sh [--schemas N] [--tables N] [--columns N] [--repeat N]
#                          [--quick] [--binary PATH] [--keep]
#
#   --schemas N   schemas (default 20)
#   --tables N    tables per schema (default 500)
#   --columns N   columns per table, the primary key column included (default 40, min 3)
#   --repeat N    measurements per phase (default 5)
#   --quick       smoke run: 2 x 50 x 10, repeat 3
#   --binary PATH the metacrawl to measure (default build-bench/metacrawl, built with
#                 -Dbuildtype=release when missing)
#   --keep        leave the server running and the work directory in place (for
#                 profiling); prints how to stop it
#
# Requirements (Debian/Ubuntu packages): postgresql (server and psql), time
# (/usr/bin/time), jq, meson, ninja-build, gcc and the build dependencies of
# metacrawl (tests/install-deps.sh). When run as root, a missing `time` or `jq` is
# installed with apt-get.
set -euo pipefail

APT_REQUIREMENTS=(postgresql time jq)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/catalog.sh
source "$here/catalog.sh"
pgctl=$root/tests/integration/pgctl.sh

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

schemas=20 tables=500 columns=40 repeat=5 binary= keep=
while (($#)); do
  case $1 in
    --schemas) schemas=${2-}; shift 2 ;;
    --tables) tables=${2-}; shift 2 ;;
    --columns) columns=${2-}; shift 2 ;;
    --repeat) repeat=${2-}; shift 2 ;;
    --quick) schemas=2 tables=50 columns=10 repeat=3; shift ;;
    --binary) binary=${2-}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for v in schemas tables columns repeat; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--$v takes a positive number"
done
((columns >= 3)) || die "--columns must be at least 3"
((tables <= 99999)) || die "--tables is at most 99999 (table names have five digits)"
((columns <= 1600)) || die "--columns is at most 1600 (PostgreSQL's limit)"

# ---- requirements ---------------------------------------------------------------

need_pkg() { # command package
  command -v "$1" >/dev/null 2>&1 && return 0
  if ((EUID == 0)) && command -v apt-get >/dev/null 2>&1; then
    say "installing $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
          apt-get install -y --no-install-recommends "$2" >/dev/null; } ||
      die "could not install $2"
  else
    die "$1 is missing: apt-get install ${APT_REQUIREMENTS[*]}"
  fi
}
[[ -x /usr/bin/time ]] || need_pkg /usr/bin/time time
need_pkg jq jq
PGBIN=$(bash "$pgctl" bindir) || die "postgresql server binaries not found: apt-get install postgresql"
PSQL=$PGBIN/psql

if [[ -z $binary ]]; then
  binary=$root/build-bench/metacrawl
  if [[ ! -x $binary ]]; then
    say "building $binary (release)"
    if [[ ! -d $root/build-bench ]]; then
      meson setup "$root/build-bench" "$root" -Dbuildtype=release >/dev/null
    fi
    ninja -C "$root/build-bench" metacrawl >/dev/null
  fi
fi
[[ -x $binary ]] || die "$binary is not an executable"
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")

# Nothing from the caller's libpq environment may steer the run elsewhere.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^PG' || true)
export PGPASSFILE=/nonexistent

# ---- server and work directory ---------------------------------------------------

top=$(mktemp -d "${TMPDIR:-/tmp}/metacrawl-bench.XXXXXX")
chmod 0711 "$top" # the server runs as another user when we are root
pgdir=$top/pg
work=$top/work
mkdir -p "$work"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n $keep ]]; then
    say "kept $top; stop the server with: bash $pgctl stop $pgdir && rm -rf $top"
  else
    bash "$pgctl" stop "$pgdir" >/dev/null 2>&1 || say "could not stop the server in $pgdir"
    rm -rf -- "$top"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

say "starting PostgreSQL ($PGBIN)"
port=$(bash "$pgctl" start "$pgdir")
PGPASS=$(<"$pgdir/superpass")
sock=$pgdir/sock
DB=mcbench

# Setup statements go through the unix socket (trust); everything measured goes
# through TCP with the password, as a crawler would.
sql_admin() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U mc_super "$@"; }

# pgctl.sh logs every statement (for the tests); a benchmark must not pay for that.
# Autovacuum is off so that a worker waking up on the catalog tables (which the
# change phase updates) does not land in a measurement; the catalog is vacuumed
# once after it is generated.
sql_admin -d postgres -c "ALTER SYSTEM SET log_statement = 'none'" \
  -c "ALTER SYSTEM SET log_min_duration_statement = -1" \
  -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.2
[[ $(sql_admin -d postgres -Atc "SHOW log_statement") == none ]] ||
  die "could not turn statement logging off"
sql_admin -d postgres -c "CREATE DATABASE $DB" >/dev/null
pgversion=$(sql_admin -d "$DB" -Atc "SHOW server_version")

# Server CPU: backends (and parallel workers) are children of the postmaster, so
# their CPU time adds to its cutime + cstime once they exit and are reaped.
pmpid=$(head -n 1 "$pgdir/data/postmaster.pid")
clk_tck=$(getconf CLK_TCK)
server_ticks() { awk '{ print $16 + $17 }' "/proc/$pmpid/stat"; }

# ---- the synthetic catalog ---------------------------------------------------------

n_tables=$((schemas * tables))
n_columns=$((n_tables * columns))
say "generating $schemas schemas x $tables tables x $columns columns = $n_tables tables, $n_columns columns"
t_gen0=$(date +%s.%N)
# Server-side, no per-table round trips: bench/catalog.sql.
bench_catalog_sql "$schemas" "$tables" "$columns" | sql_admin -d "$DB" >/dev/null
width=$(bench_schema_width "$schemas")
sql_admin -d "$DB" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
t_gen1=$(date +%s.%N)
gen_seconds=$(awk -v a="$t_gen0" -v b="$t_gen1" 'BEGIN { printf "%.0f", b - a }')
say "catalog generated in ${gen_seconds}s"

# The changed 1%: n_change tables spread evenly over the catalog. Applying adds a
# column and turns c2 into bigint; undoing drops the column and turns c2 back.
n_change=$(((n_tables + 50) / 100)); ((n_change >= 1)) || n_change=1
expected_changes=$((2 * n_change))
change_sql() { # add|undo
  local action
  if [[ $1 == add ]]; then
    action="ADD COLUMN bench_added integer, ALTER COLUMN c2 TYPE bigint"
  else
    action="DROP COLUMN bench_added, ALTER COLUMN c2 TYPE integer"
  fi
  cat <<EOF
DO \$\$
DECLARE g int;
BEGIN
  FOR k IN 0..$n_change - 1 LOOP
    g := (k::bigint * $n_tables / $n_change)::int;
    EXECUTE format('ALTER TABLE %I.%I $action',
                   's' || lpad((g / $tables + 1)::text, $width, '0'),
                   't' || lpad((g % $tables + 1)::text, 5, '0'));
  END LOOP;
END
\$\$;
EOF
}
apply_changes() { change_sql add | sql_admin -d "$DB" >/dev/null; }
undo_changes() { change_sql undo | sql_admin -d "$DB" >/dev/null; }

# ---- the baseline: psql copying the same facts ----------------------------------

# The schema IN-list metacrawl builds from its schema query (every non-system
# schema the user may use).
schema_filter="n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
in_list=$(sql_admin -d "$DB" -Atc \
  "SELECT string_agg(quote_literal(n.nspname), ', ' ORDER BY n.nspname) FROM pg_catalog.pg_namespace n WHERE $schema_filter AND has_schema_privilege(n.oid, 'USAGE')")

# The statements of crawler/discover.c (PostgreSQL dialect, version gates as
# on PostgreSQL 14+), one per line. Keep them in step with discover.c when its
# queries change.
q_schemas="SELECT n.oid::int8 AS oid, n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner, d.description AS comment, has_schema_privilege(n.oid, 'USAGE') AS usable FROM pg_catalog.pg_namespace n LEFT JOIN pg_catalog.pg_description d ON d.objoid = n.oid AND d.classoid = 'pg_catalog.pg_namespace'::regclass AND d.objsubid = 0 WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'"
q_containers="SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized_view' WHEN 'p' THEN 'partitioned_table' WHEN 'f' THEN 'foreign_table' END AS kind, pg_get_userbyid(c.relowner) AS owner, d.description AS comment, CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS definition, c.reltuples::float8 AS row_estimate, NULL::text AS dist_style, NULL::text AS sort_key, x.extname::text AS extension, CASE WHEN c.relkind = 'p' THEN (SELECT '[' || string_agg('{\"name\":' || to_json(p.relname::text)::text || ',\"bound\":' || to_json(pg_catalog.pg_get_expr(p.relpartbound, p.oid))::text || '}', ',' ORDER BY p.relname COLLATE \"C\") || ']' FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhrelid WHERE i.inhparent = c.oid AND p.relispartition) END AS partitions FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0 LEFT JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = c.oid AND dep.objsubid = 0 AND dep.deptype = 'e' AND dep.refclassid = 'pg_catalog.pg_extension'::regclass LEFT JOIN pg_catalog.pg_extension x ON x.oid = dep.refobjid WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition AND n.nspname IN ($in_list) ORDER BY c.oid"
q_fields="WITH RECURSIVE nn(oid) AS (SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typtype = 'd' AND t.typnotnull UNION SELECT t.oid FROM pg_catalog.pg_type t JOIN nn ON t.typbasetype = nn.oid WHERE t.typtype = 'd') SELECT a.attrelid::int8 AS container_oid, NULL::text AS schema, NULL::text AS container, a.attnum::int4 AS attnum, a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, (a.attnotnull OR a.atttypid IN (SELECT oid FROM nn)) AS not_null, CASE WHEN a.attgenerated::text = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END AS default_expr, d.description AS comment, NULL::text AS encoding, NULL::int4 AS sort_key_ord, CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by_default' END AS identity, CASE WHEN a.attgenerated::text <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END AS generated FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum LEFT JOIN pg_catalog.pg_description d ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition AND n.nspname IN ($in_list)"
q_keys="WITH RECURSIVE up(relid, root) AS (SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhrelid WHERE p.relispartition UNION ALL SELECT up.relid, i.inhparent FROM up JOIN pg_catalog.pg_class p ON p.oid = up.root AND p.relispartition JOIN pg_catalog.pg_inherits i ON i.inhrelid = up.root), roots AS (SELECT up.relid, up.root FROM up JOIN pg_catalog.pg_class r ON r.oid = up.root WHERE NOT r.relispartition) SELECT COALESCE(rt.root, con.conrelid)::int8 AS container_oid, con.contype::text AS type, con.conname AS name, array_to_json(ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord))::text AS columns, fn.nspname AS ref_schema, fc.relname AS ref_container, array_to_json(ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord) JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord))::text AS ref_columns, con.confrelid::int8 AS ref_oid, CASE WHEN rt.root IS NOT NULL THEN c.relname END AS partition FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class c ON c.oid = con.conrelid LEFT JOIN roots rt ON rt.relid = c.oid AND c.relispartition LEFT JOIN pg_catalog.pg_class rc ON rc.oid = rt.root JOIN pg_catalog.pg_namespace n ON n.oid = COALESCE(rc.relnamespace, c.relnamespace) LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace WHERE (con.contype = 'f' OR (con.contype = 'p' AND NOT c.relispartition)) AND con.conparentid = 0 AND n.nspname IN ($in_list) ORDER BY 1, 2, 3, partition NULLS FIRST"
# crawler/lineage/depends.c: what every view reads (docs/lineage.md)
q_depends="SELECT DISTINCT w.ev_class::int8 AS view_oid, rn.nspname AS ref_schema, rc.relname AS ref_name, a.attname AS ref_column FROM pg_catalog.pg_depend dep JOIN pg_catalog.pg_rewrite w ON w.oid = dep.objid JOIN pg_catalog.pg_class v ON v.oid = w.ev_class JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace JOIN pg_catalog.pg_class rc ON rc.oid = dep.refobjid JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid AND dep.refobjsubid > 0 WHERE dep.classid = 'pg_catalog.pg_rewrite'::regclass AND dep.refclassid = 'pg_catalog.pg_class'::regclass AND dep.refobjid <> w.ev_class AND v.relkind IN ('v', 'm') AND rc.relkind IN ('r', 'v', 'm', 'p', 'f') AND rn.nspname <> 'information_schema' AND rn.nspname NOT LIKE 'pg\_%' AND vn.nspname IN ($in_list)"
qnames=(schemas containers fields keys depends)
queries=("$q_schemas" "$q_containers" "$q_fields" "$q_keys" "$q_depends")

copy_dir=$work/copy
mkdir -p "$copy_dir"
{
  echo "SET jit = off;"
  echo "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
  for i in "${!qnames[@]}"; do
    echo "\\copy (${queries[i]}) TO '$copy_dir/${qnames[i]}.tsv'"
  done
  echo "COMMIT;"
} >"$work/copy.sql"

# ---- metacrawl's configuration ------------------------------------------------------

store=$work/catalog.db
template=$work/template # the store after a first crawl, restored before re-crawls
mkdir -p "$template"
cat >"$work/metacrawl.yml" <<EOF
store: $store
datastores:
  - name: bench
    host: 127.0.0.1
    port: $port
    database: $DB
    user: mc_super
    password: \${env:MC_BENCH_PGPASSWORD}
    sslmode: disable
EOF
chmod 0600 "$work/metacrawl.yml"
export MC_BENCH_PGPASSWORD=$PGPASS

rm_store() { rm -f -- "$store" "$store-wal" "$store-shm" "$store-journal"; }
save_template() {
  rm -f -- "$template"/*
  local f
  for f in "$store" "$store-wal"; do [[ -e $f ]] && cp -- "$f" "$template/"; done
  return 0
}
restore_template() {
  rm_store
  cp -- "$template"/* "$work/"
}

# ---- measuring ----------------------------------------------------------------------

# run_timed LABEL CMD...: runs CMD with stdout to $work/LABEL.out, stderr to
# $work/LABEL.err; sets T_WALL (s), T_RSS (KB), T_CPU (the process's user + system
# s) and T_SRV (server CPU s: the backends that ended meanwhile).
run_timed() {
  local label=$1; shift
  local t0 t1 s0 s1 rc=0
  sleep 0.1 # let the postmaster reap the backends of the setup statements
  s0=$(server_ticks)
  t0=$(date +%s.%N)
  /usr/bin/time -f '%e %M %U %S' -o "$work/$label.time" "$@" >"$work/$label.out" 2>"$work/$label.err" || rc=$?
  t1=$(date +%s.%N)
  sleep 0.1
  s1=$(server_ticks)
  if ((rc != 0)); then
    say "$label failed (exit $rc):"
    tail -n 20 "$work/$label.err" >&2
    exit 1
  fi
  T_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  T_RSS=$(tail -n 1 "$work/$label.time" | awk '{ print $2 }')
  T_CPU=$(tail -n 1 "$work/$label.time" | awk '{ printf "%.2f", $3 + $4 }')
  T_SRV=$(awk -v a="$s0" -v b="$s1" -v hz="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / hz }')
}

declare -A WALL RSS CPU SRV QUERIES
record() { # phase
  WALL[$1]+="$T_WALL "
  RSS[$1]+="$T_RSS "
  CPU[$1]+="$T_CPU "
  SRV[$1]+="$T_SRV "
}

psql_copy() {
  rm -f -- "$copy_dir"/*.tsv
  PGPASSWORD=$PGPASS run_timed psql "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
    -p "$port" -U mc_super -d "$DB" -f "$work/copy.sql"
}

crawl() { # label [extra options]
  local label=$1; shift
  run_timed "$label" "$binary" -c "$work/metacrawl.yml" --json crawl "$@"
  local j=$work/$label.out status
  status=$(jq -r '.datastores[0].status' "$j")
  [[ $status == ok ]] || { say "$label: status $status"; cat "$j" >&2; exit 1; }
  C_QUERIES=$(jq -r '.datastores[0].queries' "$j")
  C_CHANGES=$(jq -r '.datastores[0].changes | length' "$j")
  C_BASELINE=$(jq -r '.datastores[0].baseline' "$j")
  C_COUNTS=$(jq -r '.datastores[0].counts | "\(.schemas) schemas, \(.containers) containers, \(.fields) fields"' "$j")
}

check() { # label what expected actual
  [[ $3 == "$4" ]] || say "WARNING: $1: $2 is $4, expected $3"
}

say "warming up (one psql copy, one first crawl; not measured)"
psql_copy
rm_store
crawl warmup -v -v # (-vv bundled is refused by the CLI today)
check "first crawl" baseline true "$C_BASELINE"
# The baseline must read what metacrawl reads: compare with the statements it
# logged (-v -v), the schema IN-list aside (its order may differ), and the
# COPY it wraps each query in on PostgreSQL (crawler/pg/pg.c) aside too: the
# baseline's \copy is the same COPY.
norm_in() {
  sed -E -e 's/^COPY \((.*)\) TO STDOUT WITH \(FORMAT csv, HEADER\)$/\1/' \
    -e 's/nspname IN \([^)]*\)/nspname IN (...)/g'
}
whats=("schema query" "container query" "column query" "key query" "dependency query")
for i in "${!qnames[@]}"; do
  sent=$(grep -F "metacrawl: debug: ${whats[i]}: " "$work/warmup.err" | head -n 1 |
    sed "s/^metacrawl: debug: ${whats[i]}: //" | norm_in || true)
  mine=$(printf '%s\n' "${queries[i]}" | norm_in)
  # metacrawl's log lines stop at 2047 bytes: a longer statement cannot be compared
  ((${#sent} < 2000)) || continue
  [[ $sent == "$mine" ]] ||
    say "WARNING: metacrawl's ${whats[i]} is not the one bench/run.sh copies with psql (crawler/discover.c changed?): bring bench/run.sh in step"
done
say "metacrawl sees $C_COUNTS"
save_template
copy_bytes=$(cat "$copy_dir"/*.tsv | wc -c)
copy_rows=$(cat "$copy_dir"/*.tsv | wc -l)
store_bytes=$(cat "$template"/* | wc -c)

load_before=$(cut -d ' ' -f 1-3 /proc/loadavg)
for ((r = 1; r <= repeat; r++)); do
  say "repetition $r of $repeat"
  psql_copy
  record psql

  rm_store
  crawl first
  check "first crawl" baseline true "$C_BASELINE"
  record first; QUERIES[first]=$C_QUERIES

  restore_template
  crawl nochange
  check "no-change re-crawl" changes 0 "$C_CHANGES"
  record nochange; QUERIES[nochange]=$C_QUERIES

  apply_changes
  restore_template
  crawl changed
  check "1% changed re-crawl" changes "$expected_changes" "$C_CHANGES"
  record changed; QUERIES[changed]=$C_QUERIES
  undo_changes
done

load_after=$(cut -d ' ' -f 1-3 /proc/loadavg)

# ---- attribution (once, medians of --repeat) ----------------------------------------

say "attribution: each discovery query alone, and crawl --dry-run"
declare -A ATTR
for i in "${!qnames[@]}"; do
  name=${qnames[i]}
  printf '%s\n' "\\copy (${queries[i]}) TO '/dev/null'" >"$work/q_$name.sql"
  printf 'EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) %s\n' "${queries[i]}" >"$work/x_$name.sql"
  for ((r = 1; r <= repeat; r++)); do
    PGPASSWORD=$PGPASS run_timed "q_$name" "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
      -p "$port" -U mc_super -d "$DB" -f "$work/q_$name.sql"
    ATTR[q_$name]+="$T_WALL "
    ATTR[s_$name]+="$T_SRV "
    x=$(sql_admin -d "$DB" -At -f "$work/x_$name.sql" | jq -r '.[0]["Execution Time"] / 1000')
    ATTR[x_$name]+="$x "
    x=$( { echo "SET jit = off;"; cat "$work/x_$name.sql"; } | sql_admin -d "$DB" -At |
      jq -r '.[0]["Execution Time"] / 1000')
    ATTR[j_$name]+="$x "
  done
done
PGPASSWORD=$PGPASS run_timed q_connect "$PSQL" -X -q -h 127.0.0.1 -p "$port" -U mc_super \
  -d "$DB" -c "SELECT 1"
ATTR[q_connect]=$T_WALL
for ((r = 1; r <= repeat; r++)); do
  rm_store
  crawl dry_first --dry-run
  ATTR[dry_first]+="$T_WALL "; ATTR[dry_first_rss]+="$T_RSS "; ATTR[dry_first_cpu]+="$T_CPU "
  restore_template
  crawl dry_nochange --dry-run
  ATTR[dry_nochange]+="$T_WALL "; ATTR[dry_nochange_rss]+="$T_RSS "; ATTR[dry_nochange_cpu]+="$T_CPU "
done

# ---- the report -----------------------------------------------------------------------

agg() { # median|min|max values...
  local what=$1; shift
  printf '%s\n' "$@" | sort -g | awk -v w="$what" '
    { v[NR] = $1 }
    END {
      if (w == "min") x = v[1]; else if (w == "max") x = v[NR];
      else x = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
      printf "%.3f", x
    }'
}
mb() { awk -v k="$(agg max "$@")" 'BEGIN { printf "%.1f", k / 1024 }'; }

psql_median=$(agg median ${WALL[psql]})
declare -A LABEL=(
  [psql]="psql copy (baseline)"
  [first]="metacrawl first crawl"
  [nochange]="metacrawl no-change re-crawl"
  [changed]="metacrawl re-crawl, 1% changed"
)
rows=() raw=()
for p in psql first nochange changed; do
  w=${WALL[$p]}
  med=$(agg median $w)
  ratio=$(awk -v a="$med" -v b="$psql_median" 'BEGIN { printf "%.2f", a / b }')
  q=${QUERIES[$p]-}
  [[ $p == psql ]] && q=6
  rows+=("${LABEL[$p]}|$med|$(agg min $w)|$(agg max $w)|$(agg median ${CPU[$p]})|$(agg median ${SRV[$p]})|$(mb ${RSS[$p]})|$q|$ratio")
  raw+=("${LABEL[$p]}|${w% }|${CPU[$p]% }|${SRV[$p]% }|${RSS[$p]% }")
done

# per discovery query: psql \copy of it alone (wall, server CPU), its execution
# time on the server (EXPLAIN ANALYZE: no output, no transfer), the same with
# jit = off, and the rows it returns
q_rows=()
for name in "${qnames[@]}"; do
  nrows=$(wc -l <"$copy_dir/$name.tsv")
  q_rows+=("$name|$nrows|$(agg median ${ATTR[q_$name]})|$(agg median ${ATTR[s_$name]})|$(agg median ${ATTR[x_$name]})|$(agg median ${ATTR[j_$name]})")
done
q_rows+=("(connect + SELECT 1)|1|${ATTR[q_connect]}|||")
dry_rows=()
dry_rows+=("crawl --dry-run, no store (discover + diff against nothing)|$(agg median ${ATTR[dry_first]})|$(agg median ${ATTR[dry_first_cpu]})|$(mb ${ATTR[dry_first_rss]})")
dry_rows+=("crawl --dry-run, no change (discover + load store + diff)|$(agg median ${ATTR[dry_nochange]})|$(agg median ${ATTR[dry_nochange_cpu]})|$(mb ${ATTR[dry_nochange_rss]})")
q_head="query|rows|psql \\copy alone, wall s|server CPU s|server execution s|execution, jit off s"
dry_head="metacrawl without writing|wall s|client CPU s|peak RSS MB"

mem_kb=$(awk '/MemTotal/ { print $2 }' /proc/meminfo)
machine="$(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $((mem_kb / 1024)) MB RAM, PostgreSQL $pgversion, $(uname -sr)"
mcversion=$("$binary" --version 2>/dev/null | head -n 1 || true)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$root" status --porcelain -- crawler store 2>/dev/null) ]]; then commit+=" + uncommitted changes"; fi
when=$(date -u '+%Y-%m-%d %H:%M UTC')

print_text() {
  echo
  echo "metacrawl benchmark, $when"
  echo "catalog: $schemas schemas x $tables tables x $columns columns = $n_tables tables, $n_columns columns (generated in ${gen_seconds}s)"
  echo "machine: $machine"
  echo "metacrawl: $mcversion ($commit); repeat $repeat, tools alternating"
  echo "load average before/after the measurements: $load_before / $load_after"
  echo
  {
    echo "phase|median s|min s|max s|client CPU s|server CPU s|peak RSS MB|queries|ratio vs psql copy"
    printf '%s\n' "${rows[@]}"
  } | column -t -s '|'
  echo
  echo "1% changed = $n_change tables, $expected_changes changes (a column added, a type changed)."
  echo "psql copy output: $copy_rows rows, $copy_bytes bytes; store after the first crawl: $store_bytes bytes."
  echo
  echo "where the time goes (medians):"
  echo
  { echo "$q_head"; printf '%s\n' "${q_rows[@]}"; } | column -t -s '|' | sed 's/^/  /'
  echo
  { echo "$dry_head"; printf '%s\n' "${dry_rows[@]}"; } | column -t -s '|' | sed 's/^/  /'
}

md_rows() { awk -F'|' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; print "" }'; }

print_md() {
  echo "# metacrawl benchmark results"
  echo
  echo "- date: $when"
  echo "- catalog: $schemas schemas x $tables tables x $columns columns = $n_tables tables, $n_columns columns"
  echo "- machine: $machine"
  echo "- metacrawl: $mcversion ($commit)"
  echo "- repeat: $repeat, tools alternating; 1% changed = $n_change tables, $expected_changes changes"
  echo "- psql copy output: $copy_rows rows, $copy_bytes bytes; store after the first crawl: $store_bytes bytes"
  echo "- load average before/after the measurements: $load_before / $load_after"
  echo
  echo "| phase | median s | min s | max s | client CPU s | server CPU s | peak RSS MB | queries | ratio vs psql copy |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}" | md_rows
  echo
  echo "Where the time goes (medians):"
  echo
  { echo "$q_head"; echo "|---:|---:|---:|---:|---:" | sed 's/^/---/'; printf '%s\n' "${q_rows[@]}"; } | md_rows
  echo
  { echo "$dry_head"; echo "---|---:|---:|---:"; printf '%s\n' "${dry_rows[@]}"; } | md_rows
  echo
  echo "Every measurement, in order:"
  echo
  echo "| phase | wall s | client CPU s | server CPU s | peak RSS KB |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${raw[@]}" | md_rows
}

mkdir -p "$here/out"
print_md >"$here/out/results.md"
print_text
echo
echo "written: $here/out/results.md"
