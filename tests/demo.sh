#!/usr/bin/env bash
# demo.sh — metacrawl end to end against a throwaway demo warehouse.
#
#   bash tests/demo.sh          install what is missing, build, start the demo
#                               warehouse, crawl it, change it, crawl again
#   bash tests/demo.sh stop     stop the demo warehouse and remove its directory
#
# The demo warehouse is a local PostgreSQL (tests/integration/pgctl.sh) on
# 127.0.0.1:5439 with the sample schema of tests/demo/warehouse.sql. metacrawl
# reaches it the way it reaches a private Redshift cluster: through an SSH
# bastion, here an sshd of the demo's own on 127.0.0.1:2222 with its own host
# key, a client key made for the demo, and a known_hosts the demo writes.
# Everything the demo makes lives in one directory, /tmp/metacrawl-demo by
# default:
#
#   server/         the PostgreSQL cluster (pgctl.sh's layout; its log is server/postgres.log)
#   bastion/        the demo bastion: sshd_config, host key, sshd.log, sshd.pid
#   ssh/            the demo's client key (id_ed25519) and known_hosts
#   metacrawl.yml   the demo configuration
#   catalog.db      the SQLite catalog the crawls write
#   password        the crawler user's password (mode 0600)
#   build.log       the output of meson and ninja
#
# Running it again stops the previous demo server and starts from scratch.
# It reads no stdin and exits non-zero, saying which step failed, on any error.
#
# Environment:
#   METACRAWL_DEMO_DIR       the demo directory (default /tmp/metacrawl-demo)
#   METACRAWL_DEMO_PORT      the TCP port of the demo warehouse (default 5439)
#   METACRAWL_DEMO_SSH_PORT  the TCP port of the demo bastion (default 2222)
set -euo pipefail
exec </dev/null

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO_DIR=${METACRAWL_DEMO_DIR:-/tmp/metacrawl-demo}
PORT=${METACRAWL_DEMO_PORT:-5439}
SSH_PORT=${METACRAWL_DEMO_SSH_PORT:-2222}
BUILD=$ROOT/build-demo
MC=$BUILD/metacrawl
SERVER_CTL=$ROOT/tests/integration/pgctl.sh
SERVER=$DEMO_DIR/server
BASTION=$DEMO_DIR/bastion
SSHD=/usr/sbin/sshd
DB=dev
DS=warehouse
PASSWORD_VAR=METACRAWL_DEMO_PASSWORD
STOP_CMD="bash tests/demo.sh stop"
[[ $DEMO_DIR == /tmp/metacrawl-demo ]] || STOP_CMD="METACRAWL_DEMO_DIR=$DEMO_DIR $STOP_CMD"

# The demo talks to its own server only: no PG* variable of the caller's
# environment (PGHOST, PGPASSWORD, PGSSLMODE ...) may steer psql or metacrawl.
while read -r v; do unset "$v"; done < <(compgen -v PG || true)
export PGPASSFILE=/nonexistent

# ---- output ---------------------------------------------------------------

STEP=
FAILED_LINE=
BUILD_LOG_TMP=
die() {
  echo "demo.sh: error: $*" >&2
  exit 1
}
# Every way out with a non-zero status (a failed command, die, an unset
# variable) ends with the step that failed.
on_exit() {
  local rc=$?
  if [[ -n $BUILD_LOG_TMP ]]; then rm -f -- "$BUILD_LOG_TMP"; fi
  # Before the first step, die's own message says it all.
  (( rc == 0 )) || [[ -z $STEP ]] && return 0
  echo >&2
  echo "demo.sh: FAILED in step '$STEP'${FAILED_LINE:+ (line $FAILED_LINE)}, exit status $rc" >&2
  if [[ -f $SERVER/postgres.log ]]; then
    echo "demo.sh: server log: $SERVER/postgres.log" >&2
  fi
  if [[ -f $BASTION/sshd.log ]]; then
    echo "demo.sh: bastion log: $BASTION/sshd.log" >&2
  fi
  if [[ -f $SERVER/port || -f $BASTION/sshd.pid ]]; then
    echo "demo.sh: the demo servers are still running; stop them with: $STOP_CMD" >&2
  fi
}
set -E
trap 'FAILED_LINE=${FAILED_LINE:-$LINENO}' ERR
trap on_exit EXIT

step() {
  STEP=$1
  printf '\n==== %s\n' "$1"
}
# Shows a metacrawl command as a user would type it in the demo directory,
# then runs it there.
mc() {
  printf '\n$ metacrawl %s\n' "$*"
  (cd "$DEMO_DIR" && "$MC" "$@")
}

# ---- the demo directory and its server ---------------------------------------

# Refuses a demo directory that is not a plain directory of ours (a symlink,
# or another user's in a shared /tmp).
check_demo_dir() {
  [[ $DEMO_DIR == /* ]] || die "METACRAWL_DEMO_DIR must be an absolute path: $DEMO_DIR"
  if [[ -L $DEMO_DIR ]]; then
    die "$DEMO_DIR is a symbolic link; remove it or set METACRAWL_DEMO_DIR"
  fi
  if [[ -e $DEMO_DIR ]]; then
    [[ -d $DEMO_DIR ]] || die "$DEMO_DIR exists and is not a directory"
    [[ $(stat -c %u -- "$DEMO_DIR") == "$EUID" ]] ||
      die "$DEMO_DIR belongs to another user; remove it or set METACRAWL_DEMO_DIR"
    [[ -e $DEMO_DIR/.metacrawl-demo ]] ||
      die "$DEMO_DIR was not made by demo.sh; not touching it (set METACRAWL_DEMO_DIR)"
  fi
}

port_in_use() {
  [[ -n $(ss -Htln "sport = :${1:-$PORT}" 2>/dev/null) ]]
}

# Stops the demo bastion (its sshd and the process it forked per connection).
stop_bastion() {
  local pid kid i
  [[ -f $BASTION/sshd.pid ]] || return 0
  pid=$(head -n 1 -- "$BASTION/sshd.pid")
  if [[ $pid =~ ^[0-9]+$ && $(readlink "/proc/$pid/exe" 2>/dev/null) == *sshd* ]]; then
    for kid in $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill "$kid" 2>/dev/null || true; done
    kill "$pid" 2>/dev/null || true
    for (( i = 0; i < 100; i++ )); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
  fi
  rm -f -- "$BASTION/sshd.pid"
}

# Stops the servers of a previous run and removes the demo directory.
teardown() {
  check_demo_dir
  [[ -e $DEMO_DIR ]] || return 0
  stop_bastion
  if [[ -e $SERVER ]]; then
    bash "$SERVER_CTL" stop "$SERVER" || die "could not stop the demo server in $SERVER"
  fi
  rm -rf -- "$DEMO_DIR"
}

cmd_stop() {
  check_demo_dir
  STEP="stop"
  if [[ ! -e $DEMO_DIR ]]; then
    echo "demo.sh: no demo in $DEMO_DIR; nothing to stop"
    return 0
  fi
  teardown
  echo "demo.sh: stopped the demo warehouse and bastion and removed $DEMO_DIR"
}

# ---- the steps ----------------------------------------------------------------

step_dependencies() {
  step "dependencies (tests/install-deps.sh)"
  bash "$ROOT/tests/install-deps.sh"
}

step_build() {
  step "build: $BUILD (release)"
  local setup=(meson setup "$BUILD" --buildtype=release)
  [[ -f $BUILD/build.ninja ]] && setup+=(--reconfigure)
  # The build's output is kept as build.log in the demo directory.
  BUILD_LOG_TMP=$(mktemp)
  if ! { (cd "$ROOT" && "${setup[@]}") && ninja -C "$BUILD" metacrawl; } >"$BUILD_LOG_TMP" 2>&1; then
    tail -n 40 "$BUILD_LOG_TMP" >&2
    die "the build failed (the last 40 lines of its output are above)"
  fi
  "$MC" --version
}

step_server() {
  step "demo warehouse: PostgreSQL on 127.0.0.1:$PORT"
  command -v ss >/dev/null || die "ss not found (install iproute2)"
  # A previous demo first: its server holds the port.
  teardown
  if port_in_use; then
    ss -Htlnp "sport = :$PORT" >&2 || true
    die "port $PORT is in use by another process (above); stop it, or run with METACRAWL_DEMO_PORT=another port"
  fi
  mkdir -m 0755 -- "$DEMO_DIR"
  : >"$DEMO_DIR/.metacrawl-demo"
  if [[ -n $BUILD_LOG_TMP ]]; then
    mv -- "$BUILD_LOG_TMP" "$DEMO_DIR/build.log"
    BUILD_LOG_TMP=
  fi
  bash "$SERVER_CTL" start "$SERVER" "$PORT" >/dev/null
  SERVER_BIN=$(bash "$SERVER_CTL" bindir)
  echo "started: $("$SERVER_BIN/psql" -h "$SERVER/sock" -p "$PORT" -U mc_super -d postgres -XAtq \
    -c 'SELECT version()')"
}

step_bastion() {
  step "demo bastion: sshd on 127.0.0.1:$SSH_PORT, the way metacrawl reaches the warehouse"
  [[ -x $SSHD ]] || die "$SSHD not found (install openssh-server)"
  if port_in_use "$SSH_PORT"; then
    ss -Htlnp "sport = :$SSH_PORT" >&2 || true
    die "port $SSH_PORT is in use by another process (above); stop it, or run with METACRAWL_DEMO_SSH_PORT=another port"
  fi
  # sshd's privilege separation directory (its package's service makes it).
  if (( EUID == 0 )) && [[ ! -d /run/sshd ]]; then mkdir -m 0755 /run/sshd; fi
  mkdir -m 0755 -- "$BASTION"
  mkdir -m 0700 -- "$DEMO_DIR/ssh"
  ssh-keygen -q -t ed25519 -N '' -C metacrawl-demo-bastion -f "$BASTION/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C metacrawl-demo -f "$DEMO_DIR/ssh/id_ed25519"
  cp -- "$DEMO_DIR/ssh/id_ed25519.pub" "$BASTION/authorized_keys"
  # A bastion as a cloud admin would set it up: keys only, forwarding on.
  cat >"$BASTION/sshd_config" <<EOF
# the demo bastion (written by tests/demo.sh)
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $BASTION/host_ed25519
PidFile $BASTION/sshd.pid
AuthorizedKeysFile $BASTION/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
UseDNS no
LogLevel VERBOSE
EOF
  "$SSHD" -f "$BASTION/sshd_config" -E "$BASTION/sshd.log" ||
    die "sshd did not start (see $BASTION/sshd.log)"
  local i
  for (( i = 0; i < 100; i++ )); do
    grep -q "Server listening on 127.0.0.1 port $SSH_PORT" "$BASTION/sshd.log" 2>/dev/null && break
    sleep 0.05
  done
  (( i < 100 )) || die "the demo bastion does not listen (see $BASTION/sshd.log)"
  # What a careful user does for a real bastion: take its host key, compare
  # the fingerprint with the one the administrator gives, then record it.
  printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$BASTION/host_ed25519.pub")" \
    >"$DEMO_DIR/ssh/known_hosts"
  echo "bastion host key: ssh-ed25519 $(ssh-keygen -lf "$BASTION/host_ed25519.pub" | cut -d' ' -f2) (recorded in ssh/known_hosts)"
  echo "demo client key:  ssh/id_ed25519 (authorized on the bastion)"
}

# psql as the superuser over the server's unix socket.
psql_super() {
  "$SERVER_BIN/psql" -h "$SERVER/sock" -p "$PORT" -U mc_super -X -q -v ON_ERROR_STOP=1 "$@"
}

step_schema() {
  step "sample schema: tests/demo/warehouse.sql into database '$DB'"
  local pw
  pw=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
  ( umask 077; printf '%s\n' "$pw" >"$DEMO_DIR/password" )
  psql_super -d postgres -c "CREATE DATABASE $DB"
  # The password reaches psql in a file, not on its command line.
  ( umask 077; printf '\\set crawler_password %s\n' "$pw" >"$DEMO_DIR/password.psql" )
  psql_super -d "$DB" -f "$DEMO_DIR/password.psql" -f "$ROOT/tests/demo/warehouse.sql"
  rm -f -- "$DEMO_DIR/password.psql"
  psql_super -d "$DB" -XAt -F ' ' -c "
    SELECT n.nspname || ': ' || string_agg(c.relname || ' (' ||
             CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view'
                  WHEN 'm' THEN 'materialized view' WHEN 'p' THEN 'partitioned table' END
             || ')', ', ' ORDER BY c.relname)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('sales', 'marketing', 'staging')
       AND c.relkind IN ('r', 'v', 'm', 'p') AND NOT c.relispartition
     GROUP BY n.nspname ORDER BY n.nspname"
  echo "crawler user: metamapper (read-only: USAGE on the schemas, SELECT on the tables)"
}

step_config() {
  step "configuration: $DEMO_DIR/metacrawl.yml"
  cat >"$DEMO_DIR/metacrawl.yml" <<EOF
# metacrawl.yml for the demo warehouse (written by tests/demo.sh).
# Every key is described in docs/configuration.md.
store: ./catalog.db

datastores:
  - name: $DS
    host: 127.0.0.1
    port: $PORT
    database: $DB
    user: metamapper
    password: \${env:$PASSWORD_VAR}
    sslmode: disable              # the demo server has no TLS; use require or verify-full for a real warehouse
    containers: { exclude: ["*_tmp"] }
    tunnel:                       # reach the warehouse through the bastion (docs/tunnel.md)
      host: 127.0.0.1
      port: $SSH_PORT
      user: $(id -un)
      private_key: $DEMO_DIR/ssh/id_ed25519
      known_hosts: $DEMO_DIR/ssh/known_hosts
EOF
  chmod 0600 -- "$DEMO_DIR/metacrawl.yml"
  sed -n '/^store:/,$p' "$DEMO_DIR/metacrawl.yml"
  PASSWORD=$(<"$DEMO_DIR/password")
  export "$PASSWORD_VAR=$PASSWORD"
}

step_first_crawl() {
  step "first crawl, through the bastion: records the baseline"
  mc -v crawl 2>&1 | grep -v '^metacrawl: info: store '
}

step_change() {
  step "schema changes: tests/demo/changes.sql"
  psql_super -d "$DB" -f "$ROOT/tests/demo/changes.sql"
  sed -n '/^SET ROLE/,/^RESET ROLE/{/^SET ROLE\|^RESET ROLE/d;/^--/d;/^$/d;p}' \
    "$ROOT/tests/demo/changes.sql"
}

step_second_crawl() {
  step "second crawl: the changes (--exit-code: exit status 1 means changes were found)"
  local rc=0
  mc crawl --exit-code || rc=$?
  (( rc == 1 )) || die "the second crawl exited with $rc; expected 1 (changes found)"
}

step_inspect() {
  step "the stored runs and one table"
  mc history
  mc show "$DS.sales.customers"
}

step_docs() {
  step "the documentation site from the catalog"
  mc docs --out "$DEMO_DIR/site"
  mc docs --out "$DEMO_DIR/site-md" --format markdown >/dev/null
  [[ -s $DEMO_DIR/site/index.html ]] || die "metacrawl docs wrote no index.html"
  echo "open $DEMO_DIR/site/index.html in a browser (Markdown: $DEMO_DIR/site-md/README.md)"
}

step_finish() {
  STEP=finish
  cat <<EOF

==== the demo warehouse is still running
  demo directory:  $DEMO_DIR  (metacrawl.yml, catalog.db; server log: server/postgres.log)
  docs site:       $DEMO_DIR/site/index.html
  bastion:         127.0.0.1:$SSH_PORT  (log: bastion/sshd.log)
  try:             cd $DEMO_DIR && export $PASSWORD_VAR=\$(cat password)
                   $MC diff
                   $MC search email
                   $MC show $DS.marketing --as-of 1
  connect:         psql "host=127.0.0.1 port=$PORT dbname=$DB user=metamapper"  (password: cat $DEMO_DIR/password)
                   as superuser: $SERVER_BIN/psql -h $SERVER/sock -p $PORT -U mc_super $DB
  stop:            $STOP_CMD
EOF
}

# The demo, in order. A step is a function; a new feature adds its own.
STEPS=(
  step_dependencies
  step_build
  step_server
  step_bastion
  step_schema
  step_config
  step_first_crawl
  step_change
  step_second_crawl
  step_inspect
  step_docs
  step_finish
)

case ${1-} in
  "")
    check_demo_dir
    for s in "${STEPS[@]}"; do "$s"; done
    ;;
  stop)
    cmd_stop
    ;;
  -h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    ;;
  *)
    echo "usage: bash tests/demo.sh [stop]" >&2
    exit 2
    ;;
esac
