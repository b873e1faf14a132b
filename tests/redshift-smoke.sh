#!/usr/bin/env bash
# redshift-smoke.sh — metacrawl against a real Amazon Redshift cluster or
# Serverless workgroup, for people who have one.  Not run in CI (CI has no
# cluster: tests/integration/redshift/shim.sql stands in for one there).
#
# It runs `check`, a crawl, and a second crawl that must report no change,
# prints what it found, and lists every way the cluster differs from what
# the CI shim predicts.  Send us the output (docs/redshift.md, "A smoke test
# against your cluster"); read it first: it names your schemas.
#
#   REDSHIFT_HOST=examplecluster.abc123.us-east-1.redshift.amazonaws.com \
#   REDSHIFT_DATABASE=dev REDSHIFT_USER=metamapper REDSHIFT_PASSWORD=... \
#   bash tests/redshift-smoke.sh [path/to/metacrawl]
#
# A Serverless workgroup's endpoint goes in REDSHIFT_HOST the same way
# (workgroup.123456789012.us-east-1.redshift-serverless.amazonaws.com).
#
# Settings (environment):
#   REDSHIFT_HOST      the endpoint, without the port            (required)
#   REDSHIFT_PORT      default 5439
#   REDSHIFT_DATABASE  default dev
#   REDSHIFT_USER      default metamapper: the crawler user that
#                      `metacrawl grants` set up
#   REDSHIFT_PASSWORD  its password (or PGPASSWORD / ~/.pgpass)
#   REDSHIFT_SSLMODE   default require
#   REDSHIFT_SCHEMAS   optional: comma-separated schema globs to crawl
#   KEEP=1             keep the working directory (config, store, JSON)
#
# Exit status: 0 when everything matched the shim's predictions, 1 when
# something differed (the report says what), 2 when it could not run.

set -u

mc=${1:-${MC_BINARY:-build/metacrawl}}
if [ ! -x "$mc" ]; then
    echo "redshift-smoke: no metacrawl binary at $mc (build it: meson setup build && ninja -C build)" >&2
    exit 2
fi
if [ -z "${REDSHIFT_HOST:-}" ]; then
    sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
for tool in jq sqlite3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "redshift-smoke: $tool is needed (apt-get install $tool)" >&2
        exit 2
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mc-smoke.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    echo "redshift-smoke: keeping $work"
else
    trap 'rm -rf "$work"' EXIT
fi

cfg=$work/metacrawl.yml
schemas=""
if [ -n "${REDSHIFT_SCHEMAS:-}" ]; then
    list=$(printf '%s' "$REDSHIFT_SCHEMAS" | jq -R -c 'split(",") | map(gsub("^ +| +$"; ""))')
    schemas="    schemas: { include: $list }"
fi
password=""
if [ -n "${REDSHIFT_PASSWORD:-}" ]; then
    password='    password: ${env:REDSHIFT_PASSWORD}'
fi
umask 077
cat >"$cfg" <<EOF
store: $work/catalog.db
datastores:
  - name: smoke
    host: $REDSHIFT_HOST
    port: ${REDSHIFT_PORT:-5439}
    database: ${REDSHIFT_DATABASE:-dev}
    user: ${REDSHIFT_USER:-metamapper}
    sslmode: ${REDSHIFT_SSLMODE:-require}
$password
$schemas
EOF

differs=0
note() { printf '  %s\n' "$*"; }
differ() {
    differs=$((differs + 1))
    printf '  DIFFERS: %s\n' "$*"
}

echo "== metacrawl"
"$mc" --version | sed 's/^/  /'

echo "== check"
"$mc" -c "$cfg" check --json >"$work/check.json" 2>"$work/check.err"
check_rc=$?
if ! jq -e . "$work/check.json" >/dev/null 2>&1; then
    echo "  check printed no JSON (exit $check_rc):"
    sed 's/^/    /' "$work/check.err"
    exit 2
fi
jq -r '.datastores[0] | "  server: \(.server_version) (\(.dialect) dialect), exit \(.exit_code)",
       (.steps[] | "  \(.status)\t\(.step)\(if .schema then " " + .schema else "" end): \(.message)")' \
    "$work/check.json"
[ "$(jq -r '.datastores[0].dialect' "$work/check.json")" = redshift ] ||
    differ "the server was not detected as Redshift"
n=$(jq '[.datastores[0].steps[] | select(.status == "fail")] | length' "$work/check.json")
[ "$n" = 0 ] || differ "check failed $n step(s) (above); the shim passes them once grants are applied"
if jq -r '.datastores[0].steps[].schema // empty' "$work/check.json" | grep -q '^pg_'; then
    differ "check reported a pg_ schema (system schemas are never checked)"
fi

crawl() { # $1: output name
    "$mc" -c "$cfg" crawl --json >"$work/$1.json" 2>"$work/$1.err"
    echo $?
}

echo "== first crawl"
rc1=$(crawl crawl1)
if ! jq -e . "$work/crawl1.json" >/dev/null 2>&1; then
    echo "  crawl printed no JSON (exit $rc1):"
    sed 's/^/    /' "$work/crawl1.err"
    exit 2
fi
jq -r '.datastores[0] | "  status \(.status), exit \(.exit_code), \(.queries) statements, \(.seconds)s",
       "  schemas \(.counts.schemas), containers \(.counts.containers), fields \(.counts.fields)",
       (.warnings[] | "  warning: \(.)"), (if .error then "  error: \(.error)" else empty end)' \
    "$work/crawl1.json"
[ "$rc1" = 0 ] || differ "the first crawl exited $rc1 (the shim crawls its warehouse with exit 0)"
q1=$(jq '.datastores[0].queries' "$work/crawl1.json")
[ "$q1" = 17 ] || differ "the crawl sent $q1 statements (the shim: 17)"

echo "== second crawl (nothing changed in between: it must find nothing)"
rc2=$(crawl crawl2)
jq -r '.datastores[0] | "  status \(.status), exit \(.exit_code), \(.queries) statements, \(.seconds)s, \(.changes | length) changes",
       (.changes[] | "  change: \(.kind) \(.schema).\(.container // "")\(if .field then "." + .field else "" end) \(.attribute // "")"),
       (.warnings[] | "  warning: \(.)")' "$work/crawl2.json"
[ "$rc2" = 0 ] || differ "the second crawl exited $rc2"
n2=$(jq '.datastores[0].changes | length' "$work/crawl2.json")
[ "$n2" = 0 ] || differ "an identical re-crawl reported $n2 changes (phantom changes)"
q2=$(jq '.datastores[0].queries' "$work/crawl2.json")
[ "$q2" = "$q1" ] || differ "the two crawls sent $q1 and $q2 statements"

echo "== what was recorded"
store=$work/catalog.db
sql() { sqlite3 -batch -noheader -separator ' ' "$store" "$1"; }
current="FROM container_versions cv WHERE cv.valid_to IS NULL"
sql "SELECT kind, count(*) $current GROUP BY kind ORDER BY kind" | sed 's/^/  containers of kind /'
sql "SELECT count(*) FROM schema_versions WHERE valid_to IS NULL AND external = 1" |
    sed 's/^/  external schemas: /'
n=$(sql "SELECT count(*) FROM schema_versions WHERE valid_to IS NULL AND name LIKE 'pg\\_%' ESCAPE '\\'")
[ "$n" = 0 ] || differ "$n pg_ schemas were recorded"
n=$(sql "SELECT count(*) $current AND cv.kind = 'table' AND substr(cv.name, 1, 8) = 'mv_tbl__'")
[ "$n" = 0 ] || differ "$n materialized-view backing tables (mv_tbl__*) were recorded as tables"
n=$(sql "SELECT count(*) $current AND cv.kind = 'view' AND lower(cv.definition) LIKE '%create materialized view%'")
[ "$n" = 0 ] || differ "$n views whose text creates a materialized view were recorded as views"
n=$(sql "SELECT count(*) $current AND cv.kind = 'late_binding_view' AND NOT EXISTS
         (SELECT 1 FROM field_versions f WHERE f.container_id = cv.container_id AND f.valid_to IS NULL)")
[ "$n" = 0 ] || differ "$n late-binding views have no columns (no SELECT on them? see the warnings)"
n=$(sql "SELECT count(*) FROM field_versions WHERE valid_to IS NULL
         AND lower(default_expr) LIKE '%identity%' AND default_expr NOT LIKE 'IDENTITY(%'")
[ "$n" = 0 ] || {
    differ "$n IDENTITY defaults are not in the IDENTITY(seed,step) form; they read:"
    sql "SELECT DISTINCT default_expr FROM field_versions WHERE valid_to IS NULL
         AND lower(default_expr) LIKE '%identity%' AND default_expr NOT LIKE 'IDENTITY(%' LIMIT 5" |
        sed 's/^/    /'
}
sql "SELECT DISTINCT type FROM field_versions WHERE valid_to IS NULL ORDER BY type LIMIT 60" |
    tr '\n' ',' | sed 's/,$//; s/,/, /g; s/^/  column types seen: /'
echo

echo "== summary"
if [ "$differs" = 0 ]; then
    echo "  everything matched what the CI shim predicts"
    exit 0
fi
echo "  $differs difference(s) from what the CI shim predicts: please send this output"
exit 1
