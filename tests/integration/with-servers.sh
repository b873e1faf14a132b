#!/usr/bin/env bash
# with-servers.sh EXE [ARGS...] — run one integration test executable against
# throwaway servers (meson runs every integration test through this wrapper).
#
# It starts, in a fresh temporary directory:
#   - a PostgreSQL server on 127.0.0.1 and a free port (pgctl.sh)
# exports their coordinates as MC_TEST_* variables, runs EXE, always stops the
# servers and removes the directory, and exits with EXE's status. Without the
# server binaries it prints a SKIP line and exits 77, meson's skip code.
#
# Exported to EXE:
#   MC_TEST_PGHOST MC_TEST_PGPORT      where the server listens (TCP, scram-sha-256)
#   MC_TEST_PGUSER MC_TEST_PGPASSWORD  its superuser
#   MC_TEST_PGSOCKDIR                  its unix socket directory (trust auth)
#   MC_TEST_PGLOG                      its log: every statement, '%m [%p] %d %u '
#   MC_TEST_PGBIN                      the server's bin directory (psql, pg_dump...)
#   MC_TEST_TMP                        a scratch directory, removed afterwards
#
# Adding a server (the sshd, say): write start_X (start it under $top, export
# its MC_TEST_* variables) and a stop step in reap(), and call start_X next to
# start_postgres. reap() must be safe to run twice and on a half-started server.
#
# A watchdog outlives this script: if meson kills the test on a timeout (SIGTERM
# then SIGKILL to the process group), the watchdog, in its own session, notices
# the end of this script through a pipe and reaps what was left. Debugging:
# MC_TEST_KEEP=1 keeps the directory (and stops the servers) and prints its path.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=$here/$(basename "${BASH_SOURCE[0]}")

# Stop every server under $1 and remove it. Safe to run twice.
reap() {
  local top=$1
  [[ -d $top ]] || return 0
  if [[ -d $top/pg ]]; then
    bash "$here/pgctl.sh" stop "$top/pg" || echo "with-servers: could not stop postgres in $top/pg" >&2
  fi
  rm -rf -- "$top"
}

# Watchdog mode: wait for the harness to end (EOF on stdin), then reap.
if [[ ${1-} == --reap ]]; then
  trap '' INT TERM HUP
  while read -r _; do :; done
  [[ -e $2/.keep ]] || reap "$2"
  exit 0
fi

if [[ $# -lt 1 ]]; then
  echo "usage: with-servers.sh EXE [ARGS...]" >&2
  exit 2
fi

if ! PGBIN=$(bash "$here/pgctl.sh" bindir 2>/dev/null); then
  echo "SKIP: postgresql server binaries not found (install postgresql)"
  exit 77
fi

# Nothing from the caller's libpq environment may steer the tests elsewhere
# (a test that wants PGPASSWORD & co. passes them to metacrawl explicitly).
while IFS= read -r var; do
  unset "$var"
done < <(compgen -e | grep -E '^PG' || true)

top=$(mktemp -d "${TMPDIR:-/tmp}/metacrawl-itest.XXXXXX") || exit 1
# The server runs as another user when we are root: let it through, not list.
chmod 0711 "$top"

# shellcheck disable=SC2317  # runs from the EXIT trap
finish() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n ${MC_TEST_KEEP-} ]]; then
    : >"$top/.keep"
    if [[ -d $top/pg ]]; then bash "$here/pgctl.sh" halt "$top/pg"; fi
    echo "with-servers: kept $top" >&2
  else
    reap "$top"
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# The watchdog's stdin is a coproc pipe: bash marks its end close-on-exec, so
# neither the servers nor EXE hold it, and it closes when this shell dies.
# shellcheck disable=SC2034  # the coproc is only ever closed, at exit
coproc WATCHDOG { exec setsid bash "$self" --reap "$top" >/dev/null 2>&1; }

start_postgres() {
  local port
  port=$(bash "$here/pgctl.sh" start "$top/pg") || {
    echo "with-servers: could not start postgres" >&2
    return 1
  }
  export MC_TEST_PGHOST=127.0.0.1
  export MC_TEST_PGPORT=$port
  export MC_TEST_PGUSER=mc_super
  MC_TEST_PGPASSWORD=$(<"$top/pg/superpass")
  export MC_TEST_PGPASSWORD
  export MC_TEST_PGSOCKDIR=$top/pg/sock
  export MC_TEST_PGLOG=$top/pg/postgres.log
  export MC_TEST_PGBIN=$PGBIN
}

start_postgres || exit 1

mkdir -m 0700 "$top/scratch"
export MC_TEST_TMP=$top/scratch
# No ~/.pgpass of the person running the tests leaks into them.
export PGPASSFILE=$top/scratch/.no-pgpass

"$@"
rc=$?
if (( rc != 0 && rc != 77 )) && [[ -f $top/pg/postgres.log ]]; then
  echo "---- with-servers: last lines of the postgres log ----" >&2
  tail -n 40 "$top/pg/postgres.log" >&2
fi
exit "$rc"
