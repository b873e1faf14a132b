#!/usr/bin/env bash
# bench/docs.sh — `metacrawl docs` over the synthetic catalog of SPEC §10 against
# Debian's postgresql-autodoc on the same database (SPEC §10, issue 7).
#
# Builds the same catalog as bench/run.sh (default 20 schemas x 500 tables x 40
# columns = 10,000 tables, 400,000 columns, primary keys and comments) in a
# throwaway PostgreSQL, crawls it once into a fresh store, then measures, each
# --repeat times:
#
#   docs html, fresh       metacrawl docs --out into an empty directory
#   docs html, rebuild     the same again into the same directory (nothing changed:
#                          every file compared, none written)
#   docs markdown, fresh   metacrawl docs --format markdown into an empty directory
#   postgresql_autodoc     postgresql_autodoc -t html (its one HTML page) on the same
#                          database, through the same unix socket
#
# and prints a table of median wall time, peak RSS, number of files and bytes, and
# writes it to bench/out/docs.md.  docs/performance.md records the latest figures.
#
# Usage: bash bench/docs.sh [--schemas N] [--tables N] [--columns N] [--repeat N]
#                           [--quick] [--size Nx | --huge] [--binary PATH]
#                           [--no-autodoc] [--autodoc-timeout SECONDS]
#
#   --quick        smoke run: 2 x 50 x 10, repeat 1
#   --size Nx      N times the catalog: N times the schemas, as bench/run.sh (--size 10x:
#                  200 x 500 x 40 = 4,000,000 columns); --huge is --size 10x
#   --binary PATH  the metacrawl to measure (default build-bench/metacrawl, built with
#                  -Dbuildtype=release when missing, as bench/run.sh does)
#   --no-autodoc   skip postgresql_autodoc (it takes minutes on 10,000 tables)
#   --autodoc-timeout SECONDS   stop postgresql_autodoc after this long and report it
#                  as not finished (default 3600)
#
# Requirements (Debian): postgresql, postgresql-autodoc, time; as root the missing
# ones are installed with apt-get.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/catalog.sh
source "$here/catalog.sh"
pgctl=$root/tests/integration/pgctl.sh

die() { echo "bench/docs: $*" >&2; exit 1; }
say() { echo "bench/docs: $*" >&2; }

schemas=20 tables=500 columns=40 repeat=3 binary= autodoc=1 autodoc_timeout=3600 size=1
while (($#)); do
  case $1 in
    --schemas) schemas=${2-}; shift 2 ;;
    --tables) tables=${2-}; shift 2 ;;
    --columns) columns=${2-}; shift 2 ;;
    --repeat) repeat=${2-}; shift 2 ;;
    --quick) schemas=2 tables=50 columns=10 repeat=1; shift ;;
    --size) size=${2-}; size=${size%x}; shift 2 ;;
    --huge) size=10; shift ;;
    --binary) binary=${2-}; shift 2 ;;
    --no-autodoc) autodoc=; shift ;;
    --autodoc-timeout) autodoc_timeout=${2-}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for v in schemas tables columns repeat autodoc_timeout size; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v//_/-} takes a positive number"
done
schemas=$((schemas * size))
((columns >= 3)) || die "--columns must be at least 3"

need_pkg() { # command package
  command -v "$1" >/dev/null 2>&1 && return 0
  if ((EUID == 0)) && command -v apt-get >/dev/null 2>&1; then
    say "installing $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
          apt-get install -y --no-install-recommends "$2" >/dev/null; } ||
      die "could not install $2"
  else
    die "$1 is missing: apt-get install $2"
  fi
}
[[ -x /usr/bin/time ]] || need_pkg /usr/bin/time time
[[ -n $autodoc ]] && need_pkg postgresql_autodoc postgresql-autodoc
PGBIN=$(bash "$pgctl" bindir) || die "postgresql server binaries not found: apt-get install postgresql"
PSQL=$PGBIN/psql

if [[ -z $binary ]]; then
  binary=$root/build-bench/metacrawl
  if [[ ! -x $binary ]]; then
    say "building $binary (release)"
    [[ -d $root/build-bench ]] || meson setup "$root/build-bench" "$root" -Dbuildtype=release >/dev/null
    ninja -C "$root/build-bench" metacrawl >/dev/null
  fi
fi
[[ -x $binary ]] || die "$binary is not an executable"
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")

while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep -E '^PG' || true)
export PGPASSFILE=/nonexistent

top=$(mktemp -d "${TMPDIR:-/tmp}/metacrawl-bench-docs.XXXXXX")
chmod 0711 "$top" # the server runs as another user when we are root
pgdir=$top/pg
work=$top/work
mkdir -p "$work"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  bash "$pgctl" stop "$pgdir" >/dev/null 2>&1 || say "could not stop the server in $pgdir"
  rm -rf -- "$top"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

say "starting PostgreSQL ($PGBIN)"
port=$(bash "$pgctl" start "$pgdir")
PGPASS=$(<"$pgdir/superpass")
sock=$pgdir/sock
DB=mcbench
sql_admin() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U mc_super "$@"; }
sql_admin -d postgres -c "ALTER SYSTEM SET log_statement = 'none'" \
  -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
sql_admin -d postgres -c "CREATE DATABASE $DB" >/dev/null

# ---- the synthetic catalog of bench/run.sh: bench/catalog.sql ---------------------
n_tables=$((schemas * tables))
say "generating $schemas x $tables x $columns = $n_tables tables, $((n_tables * columns)) columns"
bench_catalog_sql "$schemas" "$tables" "$columns" | sql_admin -d "$DB" >/dev/null
sql_admin -d "$DB" -c "VACUUM ANALYZE" >/dev/null

cat >"$work/metacrawl.yml" <<EOF
store: $work/catalog.db
datastores:
  - name: bench
    host: 127.0.0.1
    port: $port
    database: $DB
    user: mc_super
    password: \${env:MC_BENCH_PW}
    sslmode: disable
EOF
export MC_BENCH_PW=$PGPASS
say "crawling once into the store"
"$binary" -c "$work/metacrawl.yml" crawl >/dev/null

# ---- measurements -----------------------------------------------------------------

# run NAME CMD...: one measurement; appends "wall rss_kb" to $work/NAME.
run() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time.out" "$@" >"$work/cmd.out" 2>"$work/cmd.err" ||
    { cat "$work/cmd.err" >&2; die "$name failed"; }
  cat "$work/time.out" >>"$work/t_$name"
}
count_files() { find "$1" -type f | wc -l; }
count_bytes() { du -sb "$1" | cut -f1; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for ((i = 1; i <= repeat; i++)); do
  say "round $i of $repeat"
  rm -rf "$work/html" "$work/md"
  run html_fresh "$binary" -c "$work/metacrawl.yml" docs --out "$work/html"
  run html_rebuild "$binary" -c "$work/metacrawl.yml" docs --out "$work/html" --json
  written=$(sed -n 's/.*"written":\([0-9]*\).*/\1/p' "$work/cmd.out")
  [[ $written == 0 ]] || die "an unchanged rebuild wrote $written files"
  run md_fresh "$binary" -c "$work/metacrawl.yml" docs --out "$work/md" --format markdown
  if [[ -n $autodoc ]] && ((i == 1)); then
    # postgresql_autodoc takes minutes here: measured once
    rm -rf "$work/autodoc" && mkdir -p "$work/autodoc"
    say "postgresql_autodoc (at most ${autodoc_timeout}s)"
    if ! /usr/bin/time -f '%e %M' -o "$work/time.out" timeout "$autodoc_timeout" \
        postgresql_autodoc -d "$DB" -h "$sock" -p "$port" -u mc_super \
        --password="$PGPASS" -t html -f "$work/autodoc/$DB" >"$work/cmd.out" 2>"$work/cmd.err"; then
      autodoc_unfinished=1
      say "postgresql_autodoc did not finish within ${autodoc_timeout}s"
    fi
    awk 'NF == 2' "$work/time.out" >>"$work/t_autodoc"
  fi
done

html_files=$(count_files "$work/html"); html_bytes=$(count_bytes "$work/html")
md_files=$(count_files "$work/md"); md_bytes=$(count_bytes "$work/md")
chunks=$(find "$work/html/search" -name '*.js' ! -name index.js | wc -l)
chunk_bytes=$(find "$work/html/search" -name '*.js' ! -name index.js -exec cat {} + | wc -c)

row() { # label name files bytes
  local wall rss
  wall=$(awk '{ print $1 }' "$work/t_$2" | median)
  rss=$(awk '{ print $2 }' "$work/t_$2" | median)
  printf '| %s | %.2f | %.0f | %s | %s |\n' "$1" "$wall" "$((${rss%.*} / 1024))" "$3" "$4"
}
mkdir -p "$here/out"
{
  echo "# metacrawl docs benchmark"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- catalog: $schemas schemas x $tables tables x $columns columns = $n_tables tables, $((n_tables * columns)) columns"
  echo "- machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%d MB", $2 / 1024 }' /proc/meminfo) RAM, PostgreSQL $(sql_admin -d "$DB" -Atc 'SHOW server_version')"
  echo "- metacrawl: $("$binary" --version | head -n 1); medians of $repeat runs (postgresql_autodoc: one run)"
  echo "- search index: $chunks chunks, $((chunk_bytes / 1024)) KiB"
  echo
  echo "| run | wall s | peak RSS MB | files | bytes |"
  echo "|---|---:|---:|---:|---:|"
  row "metacrawl docs, html, fresh" html_fresh "$html_files" "$html_bytes"
  row "metacrawl docs, html, unchanged rebuild (0 written)" html_rebuild "$html_files" "$html_bytes"
  row "metacrawl docs, markdown, fresh" md_fresh "$md_files" "$md_bytes"
  if [[ -n $autodoc && -z ${autodoc_unfinished-} ]]; then
    row "postgresql_autodoc -t html" autodoc "$(count_files "$work/autodoc")" "$(count_bytes "$work/autodoc")"
  elif [[ -n $autodoc ]]; then
    echo "| postgresql_autodoc -t html | did not finish in ${autodoc_timeout} s | | | |"
  fi
} | tee "$here/out/docs.md"
