#!/usr/bin/env bash
# bench/run.sh — metacrawl's benchmark (SPEC §10, issue 19).
#
# Builds a synthetic catalog in a throwaway PostgreSQL and measures, in one run and
# alternating the tools, each --repeat times:
#
#   psql copy         the baseline: ONE plain `\copy (query) TO file` of the column
#                     facts a user would write by hand (schema, table, column,
#                     format_type, not-null, pg_get_expr of the default, the column
#                     comment), server defaults, no tuning;
#   first crawl       metacrawl crawl into a fresh store (the baseline run);
#   no-change         metacrawl crawl of the unchanged catalog into the store the
#                     first crawl wrote;
#   1% changed        metacrawl crawl after ALTER TABLE ... ADD COLUMN and a column
#                     type change on 1% of the tables (the same diff every time: the
#                     store is restored and the changes undone after each crawl);
#   show              metacrawl show DS, output to /dev/null;
#   diff              metacrawl diff DS --all between the two runs of the 1% phase
#                     (the baseline run and the 1%-changed run), output to /dev/null;
#   docs              metacrawl docs --out into an empty directory (same store).
#
# Each measurement records wall time, peak RSS and CPU time of the client process
# (/usr/bin/time), the server's CPU time (the backends' time, as the postmaster
# reaps them) and, for crawls, the statements the server received from metacrawl
# (its statement log, application_name metacrawl) next to `crawl --json`'s count:
# both must be the same in every phase.
# Then, once: pg-structure (npm, bench/npm pins the version) discovering the same
# schemas (wall, peak RSS, ratio to metacrawl's dry run and first crawl), and an
# attribution of where the time goes: each statement metacrawl sent (taken from the
# server's log, so never out of step with crawler/) alone through psql, its
# server-side execution time with and without JIT, and crawl --dry-run.
# It prints the table of medians, ratios and peak RSS and writes bench/out/results.md;
# docs/performance.md explains the figures.
#
# Usage: bash bench/run.sh [--schemas N] [--tables N] [--columns N] [--repeat N]
#                          [--quick] [--size Nx | --huge] [--scales LIST]
#                          [--no-pg-structure] [--pg-structure-timeout SECONDS]
#                          [--binary PATH] [--keep] [--out FILE]
#
#   --schemas N   schemas (default 20)
#   --tables N    tables per schema (default 500)
#   --columns N   columns per table, the primary key column included (default 40, min 3)
#   --repeat N    measurements per phase (default 5)
#   --quick       smoke run: 2 x 50 x 10, repeat 3 (the attribution once)
#   --size Nx     N times the catalog: N times the schemas (--size 10x: 200 x 500 x 40
#                 = 4,000,000 columns); --huge is --size 10x
#   --scales LIST run the whole bench once per size in LIST (e.g. 1,10), one server
#                 each, then print per phase the time per column (µs/column) at each
#                 size and the ratio to the first size (linear growth: ~1.00)
#   --no-pg-structure          skip pg-structure
#   --pg-structure-timeout S   stop pg-structure after S seconds and record it as not
#                 finished (default 1200); running out of memory is recorded the same
#   --binary PATH the metacrawl to measure (default build-bench/metacrawl, built with
#                 -Dbuildtype=release when missing)
#   --keep        leave the server running and the work directory in place (for
#                 profiling); prints how to stop it
#   --out FILE    the Markdown report (default bench/out/results.md)
#
# Requirements (Debian/Ubuntu packages): postgresql (server and psql), time
# (/usr/bin/time), jq, npm (for pg-structure), meson, ninja-build, gcc and the build
# dependencies of metacrawl (tests/install-deps.sh). When run as root, a missing
# `time`, `jq` or `npm` is installed with apt-get.
set -euo pipefail

APT_REQUIREMENTS=(postgresql time jq npm)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/catalog.sh
source "$here/catalog.sh"
pgctl=$root/tests/integration/pgctl.sh

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

schemas=20 tables=500 columns=40 repeat=5 binary= keep= size=1 scales= pgs=1 quick=
pgs_timeout=1200 outfile=$here/out/results.md summary=
passthrough=() # the options a --scales sub-run gets
while (($#)); do
  case $1 in
    --schemas) schemas=${2-}; passthrough+=("$1" "${2-}"); shift 2 ;;
    --tables) tables=${2-}; passthrough+=("$1" "${2-}"); shift 2 ;;
    --columns) columns=${2-}; passthrough+=("$1" "${2-}"); shift 2 ;;
    --repeat) repeat=${2-}; passthrough+=("$1" "${2-}"); shift 2 ;;
    --quick) schemas=2 tables=50 columns=10 repeat=3 quick=1; passthrough+=("$1"); shift ;;
    --size) size=${2-}; size=${size%x}; shift 2 ;;
    --huge) size=10; shift ;;
    --scales) scales=${2-}; shift 2 ;;
    --no-pg-structure) pgs=; passthrough+=("$1"); shift ;;
    --pg-structure-timeout) pgs_timeout=${2-}; passthrough+=("$1" "${2-}"); shift 2 ;;
    --binary) binary=${2-}; shift 2 ;;
    --keep) keep=1; passthrough+=("$1"); shift ;;
    --out) outfile=${2-}; shift 2 ;;
    --summary) summary=${2-}; shift 2 ;; # internal: --scales' sub-runs
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for v in schemas tables columns repeat size pgs_timeout; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v//_/-} takes a positive number"
done
[[ -z $scales || $scales =~ ^[1-9][0-9]*(,[1-9][0-9]*)+$ ]] ||
  die "--scales takes two or more sizes separated by commas (e.g. 1,10)"
schemas=$((schemas * size))
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

# pg-structure, exactly as bench/npm/package-lock.json pins it (npm ci; nothing
# to do when node_modules already matches the lock file).
npm_install() {
  command -v npm >/dev/null 2>&1 || need_pkg npm npm
  local dir=$here/npm
  if [[ -f $dir/node_modules/.package-lock.json ]] &&
     (cd "$dir" && node -e '
       const a = require("./package-lock.json").packages, b = require("./node_modules/.package-lock.json").packages;
       for (const k of Object.keys(a)) if (k && (!b[k] || b[k].version !== a[k].version)) process.exit(1);
     ') 2>/dev/null; then
    return 0
  fi
  say "npm ci (bench/npm: pg-structure)"
  local i
  for i in 1 2 3; do
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) && return 0
    say "npm ci attempt $i failed"
    sleep $((i * 5))
  done
  return 1
}
if [[ -n $pgs ]]; then npm_install || die "could not install pg-structure (bench/npm); --no-pg-structure skips it"; fi

# ---- several sizes in one invocation: one sub-run per size --------------------------

if [[ -n $scales ]]; then
  IFS=, read -r -a scale_list <<<"$scales"
  sumdir=$(mktemp -d "${TMPDIR:-/tmp}/metacrawl-bench-scales.XXXXXX")
  trap 'rm -rf -- "$sumdir"' EXIT
  mkdir -p "$(dirname "$outfile")"
  base=${outfile%.md}
  for k in "${scale_list[@]}"; do
    say "==== size ${k}x ===="
    bash "${BASH_SOURCE[0]}" "${passthrough[@]}" --size "$((k * size))" --binary "$binary" \
      --out "$base-x$k.md" --summary "$sumdir/x$k"
  done
  # summary lines: phase|label|wall s|client CPU s|server CPU s|peak RSS MB|columns
  k0=${scale_list[0]}
  scale_rows=()
  while IFS='|' read -r phase label _; do
    line="$label"
    w0=$(awk -F'|' -v p="$phase" '$1 == p { printf "%.6f", $3 / $7 * 1e6 }' "$sumdir/x$k0")
    c0=$(awk -F'|' -v p="$phase" '$1 == p { printf "%.6f", ($4 + $5) / $7 * 1e6 }' "$sumdir/x$k0")
    for k in "${scale_list[@]}"; do
      f=$sumdir/x$k
      w=$(awk -F'|' -v p="$phase" '$1 == p { printf "%.6f", $3 / $7 * 1e6 }' "$f")
      c=$(awk -F'|' -v p="$phase" '$1 == p { printf "%.6f", ($4 + $5) / $7 * 1e6 }' "$f")
      r=$(awk -F'|' -v p="$phase" '$1 == p { print $6 }' "$f")
      if [[ -z $w ]]; then
        line+="|||"; [[ $k != "$k0" ]] && line+="||"
        continue
      fi
      line+="|$(printf '%.2f' "$w")|$(printf '%.2f' "$c")|$r"
      if [[ $k != "$k0" ]]; then
        line+="|$(awk -v a="$w" -v b="$w0" 'BEGIN { if (b > 0) printf "%.2f", a / b }')"
        line+="|$(awk -v a="$c" -v b="$c0" 'BEGIN { if (b > 0) printf "%.2f", a / b }')"
      fi
    done
    scale_rows+=("$line")
  done <"$sumdir/x$k0"
  head="phase"
  for k in "${scale_list[@]}"; do
    cols=$(awk -F'|' 'NR == 1 { print $7 }' "$sumdir/x$k")
    head+="|${k}x wall µs/col|${k}x CPU µs/col (client + server)|${k}x peak RSS MB"
    [[ $k != "$k0" ]] && head+="|wall ratio ${k}x/${k0}x|CPU ratio ${k}x/${k0}x"
    say "size ${k}x: $cols columns"
  done
  {
    echo "# metacrawl benchmark: growth with the catalog"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    for k in "${scale_list[@]}"; do
      echo "- ${k}x: $(awk -F'|' 'NR == 1 { print $7 }' "$sumdir/x$k") columns ($(basename "$base-x$k.md"))"
    done
    echo "- time per column = median / columns; ratio = per-column time at that size /"
    echo "  at ${k0}x (linear growth: 1.00); pg-structure ran once per size"
    echo
    { echo "$head"; echo "$head" | sed 's/[^|]*/---:/g; s/^---:/---/'; printf '%s\n' "${scale_rows[@]}"; } |
      awk -F'|' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; print "" }'
  } >"$outfile"
  echo
  echo "growth from ${k0}x to ${scales##*,}x (time per column; linear = 1.00):"
  echo
  { echo "$head"; printf '%s\n' "${scale_rows[@]}"; } | column -t -s '|'
  echo
  echo "written: $outfile and $(for k in "${scale_list[@]}"; do printf '%s ' "$base-x$k.md"; done)"
  exit 0
fi

# Nothing from the caller's libpq environment may steer the run elsewhere.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^PG' || true)
export PGPASSFILE=/nonexistent

n_tables=$((schemas * tables))
n_columns=$((n_tables * columns))

# ---- server and work directory ---------------------------------------------------

tmproot=${TMPDIR:-/tmp}
# Measured at the full size: about 1.5 GB of server, store, template and site per
# 400,000 columns; ask for twice that.
need_mb=$((n_columns / 400000 * 3000 + 500))
free_mb=$(df -Pm "$tmproot" | awk 'NR == 2 { print $4 }')
((free_mb >= need_mb)) ||
  die "$tmproot has ${free_mb} MB free; $n_columns columns need about $need_mb MB (set TMPDIR elsewhere)"

top=$(mktemp -d "$tmproot/metacrawl-bench.XXXXXX")
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
pglog=$pgdir/postgres.log

# Setup statements go through the unix socket (trust); everything measured goes
# through TCP with the password, as a crawler would.
sql_admin() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U mc_super "$@"; }

# pgctl.sh logs every statement (for the tests); the generator must not pay for
# that. Autovacuum is off so that a worker waking up on the catalog tables (which
# the change phase updates) does not land in a measurement; the catalog is
# vacuumed once after it is generated.
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
# A backend's CPU time reaches the postmaster only once it has exited and been
# reaped: wait (at most 10 s) until only the postmaster's own children are left,
# the ones it had when idle after startup. Under load a fixed short sleep was not
# enough and a long statement's CPU went missing.
sleep 0.5
idle_children=$(pgrep -c -P "$pmpid" || true)
server_settle() {
  local i
  for ((i = 0; i < 100; i++)); do
    (($(pgrep -c -P "$pmpid" || true) <= idle_children)) && return 0
    sleep 0.1
  done
  say "WARNING: server backends still running after 10 s: server CPU may be undercounted"
}

# ---- the synthetic catalog ---------------------------------------------------------

say "generating $schemas schemas x $tables tables x $columns columns = $n_tables tables, $n_columns columns"
t_gen0=$(date +%s.%N)
# Server-side, no per-table round trips: bench/catalog.sql (it commits every 100
# tables, so the lock table holds at any size).
bench_catalog_sql "$schemas" "$tables" "$columns" | sql_admin -d "$DB" >/dev/null
width=$(bench_schema_width "$schemas")
sql_admin -d "$DB" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
t_gen1=$(date +%s.%N)
gen_seconds=$(awk -v a="$t_gen0" -v b="$t_gen1" 'BEGIN { printf "%.0f", b - a }')
say "catalog generated in ${gen_seconds}s ($(du -sm "$pgdir" | cut -f1) MB of server data; $(df -Pm "$tmproot" | awk 'NR == 2 { print $4 }') MB free)"

# From here on the server logs every statement with its application_name: the
# statements metacrawl sends (application_name metacrawl) are counted per crawl
# and the attribution replays them verbatim. A handful of statements per crawl:
# logging them costs nothing measurable.
sql_admin -d postgres -c "ALTER SYSTEM SET log_statement = 'all'" \
  -c "ALTER SYSTEM SET log_line_prefix = '%m [%p] %a| '" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.2

# The changed 1%: n_change tables spread evenly over the catalog. Applying adds a
# column and turns c2 into bigint; undoing drops the column and turns c2 back.
# It commits every 100 tables so that the lock table holds at any size.
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
    IF k % 100 = 99 THEN COMMIT; END IF;
  END LOOP;
END
\$\$;
EOF
}
apply_changes() { change_sql add | sql_admin -d "$DB" >/dev/null; }
undo_changes() { change_sql undo | sql_admin -d "$DB" >/dev/null; }

# ---- the baseline: one plain psql copy of the column facts --------------------------

# What a user would write by hand for "every column of my schemas with its type,
# nullability, default and comment": no tuning, the server's defaults (JIT
# included), no ORDER BY. Tables, views, materialized views, partitioned and
# foreign tables: what metacrawl records.
user_schemas="n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
q_baseline="SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), d.description FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum LEFT JOIN pg_description d ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum WHERE $user_schemas AND c.relkind IN ('r', 'v', 'm', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped"
copy_file=$work/columns.tsv
printf '%s\n' "\\copy ($q_baseline) TO '$copy_file'" >"$work/copy.sql"

# The schemas pg-structure is asked for: the ones metacrawl crawls.
user_schema_list=$(sql_admin -d "$DB" -Atc \
  "SELECT string_agg(n.nspname, ' ' ORDER BY n.nspname) FROM pg_catalog.pg_namespace n WHERE $user_schemas")

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

# run_timed LABEL CMD...: runs CMD with stdout to $work/LABEL.out (or to $RT_OUT
# when set), stderr to $work/LABEL.err; sets T_WALL (s), T_RSS (KB), T_CPU (the
# process's user + system s), T_SRV (server CPU s: the backends that ended
# meanwhile) and T_STMTS (statements the server logged for application_name
# metacrawl meanwhile).
run_timed() {
  local label=$1; shift
  local t0 t1 s0 s1 l0 rc=0 out=${RT_OUT:-$work/$label.out}
  server_settle # the backends of the setup statements
  l0=$(stat -c %s "$pglog")
  s0=$(server_ticks)
  t0=$(date +%s.%N)
  /usr/bin/time -f '%e %M %U %S' -o "$work/$label.time" "$@" >"$out" 2>"$work/$label.err" || rc=$?
  t1=$(date +%s.%N)
  server_settle
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
  T_STMTS=$(tail -c +"$((l0 + 1))" "$pglog" | grep -cE '\] metacrawl\| LOG:  (statement|execute [^:]*): ' || true)
}

declare -A WALL RSS CPU SRV QUERIES
record() { # phase
  WALL[$1]+="$T_WALL "
  RSS[$1]+="$T_RSS "
  CPU[$1]+="$T_CPU "
  SRV[$1]+="$T_SRV "
}

psql_copy() {
  rm -f -- "$copy_file"
  PGPASSWORD=$PGPASS run_timed psql "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 \
    -p "$port" -U mc_super -d "$DB" -f "$work/copy.sql"
}

check() { # label what expected actual
  [[ $3 == "$4" ]] || say "WARNING: $1: $2 is $4, expected $3"
}

# Statements per crawl: `crawl --json`'s count and the server's log must agree,
# and be the same in every phase and repetition (issue 19: constant).
STATEMENTS=
check_statements() { # label
  check "$1" "statements in the server log" "$C_QUERIES" "$T_STMTS"
  if [[ -z $STATEMENTS ]]; then STATEMENTS=$C_QUERIES; fi
  check "$1" "statements per crawl (constant)" "$STATEMENTS" "$C_QUERIES"
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
  check_statements "$label"
}

mc() { # label command...: a read-only metacrawl command, output to /dev/null
  local label=$1; shift
  RT_OUT=/dev/null run_timed "$label" "$binary" -c "$work/metacrawl.yml" "$@"
}

say "warming up (one psql copy, one first crawl; not measured)"
psql_copy
rm_store
l_warm=$(stat -c %s "$pglog")
crawl warmup -v -v # (-vv bundled is refused by the CLI today)
check "first crawl" baseline true "$C_BASELINE"
# The statements of this crawl, verbatim from the server's log (a statement may
# span lines: a log record starts with the timestamp), for the attribution.
tail -c +"$((l_warm + 1))" "$pglog" | awk '
  /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / { if (rec != "") print rec; rec = $0; next }
  { rec = rec " " $0 }
  END { if (rec != "") print rec }' |
  grep -E '\] metacrawl\| LOG:  (statement|execute [^:]*): ' |
  sed -E 's/^.*\] metacrawl\| LOG:  (statement|execute [^:]*): //' >"$work/statements.sql" || true
# the label metacrawl gives each statement (-v -v: "metacrawl: debug: WHAT: SQL")
grep -E '^metacrawl: debug: [a-z][a-z ]*: ' "$work/warmup.err" |
  sed -E 's/^metacrawl: debug: ([^:]*): .*/\1/' >"$work/statement-labels.txt" || true
say "metacrawl sees $C_COUNTS; $C_QUERIES statements per crawl"
save_template
copy_bytes=$(wc -c <"$copy_file")
copy_rows=$(wc -l <"$copy_file")
store_bytes=$(cat "$template"/* | wc -c)

site=$work/site
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

  # The store now holds the baseline run and the 1%-changed run.
  mc show show bench
  record show
  mc diff diff bench --all
  record diff
  if ((r == 1)); then
    n=$("$binary" -c "$work/metacrawl.yml" diff bench --json | jq '.changes | length')
    check "diff of the 1% phase's runs" changes "$expected_changes" "$n"
  fi
  rm -rf -- "$site"
  mc docs docs --out "$site"
  record docs
  if ((r == 1)); then
    site_files=$(find "$site" -type f | wc -l)
    site_mb=$(du -sm "$site" | cut -f1)
    work_mb=$(du -sm "$top" | cut -f1)
  fi
done
rm -rf -- "$site"
load_after=$(cut -d ' ' -f 1-3 /proc/loadavg)

# ---- the dry runs and pg-structure (discovery without writing a store) ---------------

say "crawl --dry-run"
declare -A ATTR
for ((r = 1; r <= repeat; r++)); do
  rm_store
  crawl dry_first --dry-run
  ATTR[dry_first]+="$T_WALL "; ATTR[dry_first_rss]+="$T_RSS "; ATTR[dry_first_cpu]+="$T_CPU "
  ATTR[dry_first_srv]+="$T_SRV "
  restore_template
  crawl dry_nochange --dry-run
  ATTR[dry_nochange]+="$T_WALL "; ATTR[dry_nochange_rss]+="$T_RSS "; ATTR[dry_nochange_cpu]+="$T_CPU "
  ATTR[dry_nochange_srv]+="$T_SRV "
done

pgs_status="skipped (--no-pg-structure)"
if [[ -n $pgs ]]; then
  say "pg-structure $(jq -r '.packages["node_modules/pg-structure"].version' "$here/npm/package-lock.json") (at most ${pgs_timeout}s)"
  s0=$(server_ticks); t0=$(date +%s.%N); rc=0
  # shellcheck disable=SC2086 # one argument per schema
  BENCH_PGHOST=127.0.0.1 BENCH_PGPORT=$port BENCH_PGDATABASE=$DB BENCH_PGUSER=mc_super \
    BENCH_PGPASSWORD=$PGPASS /usr/bin/time -f '%e %M %U %S' -o "$work/pgs.time" \
    timeout "$pgs_timeout" node "$here/pg-structure.js" $user_schema_list \
    >"$work/pgs.out" 2>"$work/pgs.err" || rc=$?
  t1=$(date +%s.%N); server_settle; s1=$(server_ticks)
  PGS_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  PGS_SRV=$(awk -v a="$s0" -v b="$s1" -v hz="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / hz }')
  read -r _ PGS_RSS u s < <(tail -n 1 "$work/pgs.time")
  PGS_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
  if ((rc == 0)); then
    pgs_status=ok
    found=$(jq -r '"\(.tables) tables, \(.columns) columns"' "$work/pgs.out")
    check pg-structure found "$n_tables tables, $n_columns columns" "$found"
  elif ((rc == 124)); then
    pgs_status="did not finish in ${pgs_timeout}s (timeout)"
  elif grep -qiE 'heap limit|out of memory|allocation failed' "$work/pgs.err"; then
    pgs_status="did not finish: out of memory after ${PGS_WALL}s"
  else
    pgs_status="did not finish: exit $rc after ${PGS_WALL}s ($(grep -m 1 -E 'Error|error' "$work/pgs.err" | cut -c 1-120))"
  fi
  say "pg-structure: $pgs_status"
fi

# ---- attribution (once, medians of --repeat) ----------------------------------------

say "attribution: the baseline and each statement metacrawl sent, alone"
attr_repeat=$repeat
[[ -z $quick ]] || attr_repeat=1
# Each statement of the warmup crawl that reads rows: replayed through psql (a
# COPY ... TO STDOUT as it is, output to /dev/null), and its server execution
# time (EXPLAIN ANALYZE of the query inside; no output, no transfer) with JIT on
# (the server's default) and off.
mapfile -t stmts <"$work/statements.sql"
mapfile -t stmt_labels <"$work/statement-labels.txt"
((${#stmt_labels[@]} == ${#stmts[@]})) || stmt_labels=()
a_names=(baseline) a_sql=("$q_baseline") a_run=("\\copy ($q_baseline) TO '/dev/null'")
for i in "${!stmts[@]}"; do
  s=${stmts[i]}
  inner=$(printf '%s\n' "$s" | sed -E 's/^COPY \((.*)\) TO STDOUT( WITH \(.*\))?;?$/\1/')
  [[ $inner =~ ^(SELECT|WITH|select|with)[[:space:]] ]] || continue
  a_names+=("$((i + 1)): ${stmt_labels[i]:-statement}")
  a_sql+=("$inner")
  a_run+=("$s")
done
q_rows=()
for i in "${!a_names[@]}"; do
  printf '%s\n' "${a_run[i]}" >"$work/q_$i.sql"
  printf 'EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) %s\n' "${a_sql[i]}" >"$work/x_$i.sql"
  aw=() as=() ax=() aj=() nrows=
  for ((r = 1; r <= attr_repeat; r++)); do
    RT_OUT=/dev/null PGPASSWORD=$PGPASS run_timed "q_$i" "$PSQL" -X -q -v ON_ERROR_STOP=1 \
      -h 127.0.0.1 -p "$port" -U mc_super -d "$DB" -f "$work/q_$i.sql"
    aw+=("$T_WALL"); as+=("$T_SRV")
    sql_admin -d "$DB" -At -f "$work/x_$i.sql" >"$work/x_$i.json"
    ax+=("$(jq -r '.[0]["Execution Time"] / 1000' "$work/x_$i.json")")
    [[ -n $nrows ]] || nrows=$(jq -r '.[0].Plan["Actual Rows"]' "$work/x_$i.json")
    aj+=("$( { echo "SET jit = off;"; cat "$work/x_$i.sql"; } | sql_admin -d "$DB" -At |
      jq -r '.[0]["Execution Time"] / 1000')")
  done
  ATTR[q_$i]="${aw[*]}|${as[*]}|${ax[*]}|${aj[*]}|$nrows"
done
PGPASSWORD=$PGPASS run_timed q_connect "$PSQL" -X -q -h 127.0.0.1 -p "$port" -U mc_super \
  -d "$DB" -c "SELECT 1"
ATTR[q_connect]=$T_WALL

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
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'; }

psql_median=$(agg median ${WALL[psql]})
psql_cpu=$(agg median ${CPU[psql]})
psql_srv=$(agg median ${SRV[psql]})
declare -A LABEL=(
  [psql]="psql copy (baseline)"
  [first]="metacrawl first crawl"
  [nochange]="metacrawl no-change re-crawl"
  [changed]="metacrawl re-crawl, 1% changed"
  [show]="metacrawl show DS"
  [diff]="metacrawl diff (the 1% phase's runs)"
  [docs]="metacrawl docs (empty directory)"
)
phases=(psql first nochange changed show diff docs)
rows=() raw=() summary_rows=()
for p in "${phases[@]}"; do
  w=${WALL[$p]}
  med=$(agg median $w)
  cpu=$(agg median ${CPU[$p]})
  srv=$(agg median ${SRV[$p]})
  q=${QUERIES[$p]-}
  [[ $p == psql ]] && q=1
  rows+=("${LABEL[$p]}|$med|$(agg min $w)|$(agg max $w)|$cpu|$srv|$(mb ${RSS[$p]})|$q|$(ratio "$med" "$psql_median")|$(ratio "$(awk -v a="$cpu" -v b="$srv" 'BEGIN { print a + b }')" "$(awk -v a="$psql_cpu" -v b="$psql_srv" 'BEGIN { print a + b }')")")
  raw+=("${LABEL[$p]}|${w% }|${CPU[$p]% }|${SRV[$p]% }|${RSS[$p]% }")
  summary_rows+=("$p|${LABEL[$p]}|$med|$cpu|$srv|$(mb ${RSS[$p]})|$n_columns")
done
head_main="phase|median s|min s|max s|client CPU s|server CPU s|peak RSS MB|statements|ratio vs psql (wall)|ratio vs psql (CPU)"

dry_first_med=$(agg median ${ATTR[dry_first]})
first_med=$(agg median ${WALL[first]})
dry_rows=()
dry_rows+=("metacrawl crawl --dry-run, no store (discover + diff against nothing)|$dry_first_med|$(agg median ${ATTR[dry_first_cpu]})|$(agg median ${ATTR[dry_first_srv]})|$(mb ${ATTR[dry_first_rss]})||||")
dry_rows+=("metacrawl crawl --dry-run, no change (discover + load store + diff)|$(agg median ${ATTR[dry_nochange]})|$(agg median ${ATTR[dry_nochange_cpu]})|$(agg median ${ATTR[dry_nochange_srv]})|$(mb ${ATTR[dry_nochange_rss]})||||")
summary_rows+=("dry_first|metacrawl crawl --dry-run, no store|$dry_first_med|$(agg median ${ATTR[dry_first_cpu]})|$(agg median ${ATTR[dry_first_srv]})|$(mb ${ATTR[dry_first_rss]})|$n_columns")
# CPU = client + server
sum2() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }
dry_first_cpu=$(sum2 "$(agg median ${ATTR[dry_first_cpu]})" "$(agg median ${ATTR[dry_first_srv]})")
first_cpu=$(sum2 "$(agg median ${CPU[first]})" "$(agg median ${SRV[first]})")
pgs_cpu=$(sum2 "${PGS_CPU:-0}" "${PGS_SRV:-0}")
pgs_version=$(jq -r '.packages["node_modules/pg-structure"].version' "$here/npm/package-lock.json")
if [[ $pgs_status == ok ]]; then
  dry_rows+=("pg-structure $pgs_version, full discovery (once)|$PGS_WALL|$PGS_CPU|$PGS_SRV|$(awk -v k="$PGS_RSS" 'BEGIN { printf "%.1f", k / 1024 }')|$(ratio "$PGS_WALL" "$dry_first_med")|$(ratio "$pgs_cpu" "$dry_first_cpu")|$(ratio "$PGS_WALL" "$first_med")|$(ratio "$pgs_cpu" "$first_cpu")")
  summary_rows+=("pgs|pg-structure full discovery|$PGS_WALL|$PGS_CPU|$PGS_SRV|$(awk -v k="$PGS_RSS" 'BEGIN { printf "%.1f", k / 1024 }')|$n_columns")
elif [[ -n $pgs ]]; then
  dry_rows+=("pg-structure $pgs_version: $pgs_status|$PGS_WALL|$PGS_CPU|$PGS_SRV|$(awk -v k="${PGS_RSS:-0}" 'BEGIN { printf "%.1f", k / 1024 }')|> $(ratio "$PGS_WALL" "$dry_first_med")|> $(ratio "$pgs_cpu" "$dry_first_cpu")|> $(ratio "$PGS_WALL" "$first_med")|> $(ratio "$pgs_cpu" "$first_cpu")")
fi
dry_head="discovery without a store write|wall s|client CPU s|server CPU s|peak RSS MB|x dry run (wall)|x dry run (CPU)|x first crawl (wall)|x first crawl (CPU)"

# per statement: psql alone (wall, server CPU), its execution time on the server
# (EXPLAIN ANALYZE: no output, no transfer) with the server's JIT setting and with
# jit = off, and the rows it returns
q_rows=()
for i in "${!a_names[@]}"; do
  IFS='|' read -r aw as ax aj nrows <<<"${ATTR[q_$i]}"
  # shellcheck disable=SC2086
  q_rows+=("${a_names[i]}|$nrows|$(agg median $aw)|$(agg median $as)|$(agg median $ax)|$(agg median $aj)")
done
q_rows+=("(connect + SELECT 1)|1|${ATTR[q_connect]}|||")
q_head="statement|rows|psql alone, wall s|server CPU s|server execution s|execution, jit off s"

mem_kb=$(awk '/MemTotal/ { print $2 }' /proc/meminfo)
machine="$(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $((mem_kb / 1024)) MB RAM, PostgreSQL $pgversion, $(uname -sr)"
mcversion=$("$binary" --version 2>/dev/null | head -n 1 || true)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$root" status --porcelain -- crawler store 2>/dev/null) ]]; then commit+=" + uncommitted changes"; fi
when=$(date -u '+%Y-%m-%d %H:%M UTC')
notes=(
  "1% changed = $n_change tables, $expected_changes changes (a column added, a type changed); diff compares the baseline run with that run."
  "psql copy output: $copy_rows rows, $copy_bytes bytes; store after the first crawl: $store_bytes bytes; docs site: $site_files files, $site_mb MB; work directory at its largest: $work_mb MB."
  "ratio vs psql (CPU) = (client + server CPU) / the baseline's (client + server CPU); statements = per crawl, from crawl --json and the server's log (the same in every phase)."
)

print_text() {
  echo
  echo "metacrawl benchmark, $when"
  echo "catalog: $schemas schemas x $tables tables x $columns columns = $n_tables tables, $n_columns columns (generated in ${gen_seconds}s)"
  echo "machine: $machine"
  echo "metacrawl: $mcversion ($commit); repeat $repeat, tools alternating"
  echo "load average before/after the measurements: $load_before / $load_after"
  echo
  { echo "$head_main"; printf '%s\n' "${rows[@]}"; } | column -t -s '|'
  echo
  printf '%s\n' "${notes[@]}"
  echo
  { echo "$dry_head"; printf '%s\n' "${dry_rows[@]}"; } | column -t -s '|'
  echo
  echo "where the time goes (medians):"
  echo
  { echo "$q_head"; printf '%s\n' "${q_rows[@]}"; } | column -t -s '|' | sed 's/^/  /'
}

md_rows() { awk -F'|' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; print "" }'; }
md_sep() { echo "$1" | sed 's/[^|]*/---:/g; s/^---:/---/'; }

print_md() {
  echo "# metacrawl benchmark results"
  echo
  echo "- date: $when"
  echo "- catalog: $schemas schemas x $tables tables x $columns columns = $n_tables tables, $n_columns columns"
  echo "- machine: $machine"
  echo "- metacrawl: $mcversion ($commit)"
  echo "- repeat: $repeat, tools alternating"
  echo "- load average before/after the measurements: $load_before / $load_after"
  printf -- '- %s\n' "${notes[@]}"
  echo
  { echo "$head_main"; md_sep "$head_main"; printf '%s\n' "${rows[@]}"; } | md_rows
  echo
  { echo "$dry_head"; md_sep "$dry_head"; printf '%s\n' "${dry_rows[@]}"; } | md_rows
  echo
  echo "Where the time goes (medians):"
  echo
  { echo "$q_head"; md_sep "$q_head"; printf '%s\n' "${q_rows[@]}"; } | md_rows
  echo
  echo "Every measurement, in order:"
  echo
  echo "| phase | wall s | client CPU s | server CPU s | peak RSS KB |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${raw[@]}" | md_rows
}

mkdir -p "$(dirname "$outfile")"
print_md >"$outfile"
[[ -z $summary ]] || printf '%s\n' "${summary_rows[@]}" >"$summary"
print_text
echo
echo "written: $outfile"
