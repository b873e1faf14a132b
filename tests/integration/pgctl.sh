#!/usr/bin/env bash
# pgctl.sh — a throwaway PostgreSQL server for the integration tests.
#
#   pgctl.sh bindir             print the server bin dir (exit 1 when there is none)
#   pgctl.sh start DIR [PORT]   initdb into DIR/data and start a server on 127.0.0.1
#   pgctl.sh stop DIR           stop it (fast, then immediate, then SIGKILL) and remove DIR
#   pgctl.sh halt DIR           stop it but keep DIR (for looking at the log afterwards)
#
# Layout of DIR (owned by the server's OS user, mode 0700):
#   data/           the cluster
#   sock/           unix socket directory (local connections: trust)
#   postgres.log    server log, every statement logged with '%m [%p] %d %u '
#   superpass       password of the superuser mc_super (TCP connections: scram-sha-256)
#   port            the TCP port the server listens on (also printed by start)
#   .metacrawl-pgctl  marker: stop removes DIR only when it carries this marker
#
# PostgreSQL refuses to run as root. When this script runs as root the cluster
# belongs to the `postgres` OS user (or `nobody` when there is none) and every
# server command runs as that user through setpriv (or runuser). Root can still
# read the log and the password file, so the tests do not care who owns them.
#
# Without PORT, start picks a random free port in 20000-60000 and, should another
# process grab it before the server binds, retries with another one.
set -euo pipefail

die() { echo "pgctl.sh: $*" >&2; exit 1; }

# The newest server under /usr/lib/postgresql/*/bin (Debian's layout), else PATH.
find_bindir() {
  local d best='' best_ver=-1 ver
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] || continue
    ver=${d#/usr/lib/postgresql/}; ver=${ver%%/*}; ver=${ver%%.*}
    [[ $ver =~ ^[0-9]+$ ]] || ver=0
    if (( ver > best_ver )); then best=$d; best_ver=$ver; fi
  done
  if [[ -z $best ]]; then
    local initdb
    initdb=$(command -v initdb 2>/dev/null) || return 1
    best=$(dirname "$initdb")
    [[ -x $best/pg_ctl && -x $best/postgres ]] || return 1
  fi
  printf '%s\n' "$best"
}

# The OS user the server runs as: ourselves, or an unprivileged user when root.
server_user() {
  if (( EUID != 0 )); then id -un; return; fi
  if id -u postgres >/dev/null 2>&1; then echo postgres
  elif id -u nobody >/dev/null 2>&1; then echo nobody
  else die "running as root and neither a 'postgres' nor a 'nobody' user exists"
  fi
}

# Run a command as the server user, with a small, predictable environment.
as_server() {
  local env=(env -i "PATH=$PATH" "LC_ALL=C" "TZ=UTC" "HOME=$DIR")
  if (( EUID != 0 )); then "${env[@]}" "$@"; return; fi
  if command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid="$SUSER" --regid="$(id -g "$SUSER")" --init-groups -- "${env[@]}" "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$SUSER" -- "${env[@]}" "$@"
  else
    su -s /bin/sh "$SUSER" -c "$(printf '%q ' "${env[@]}" "$@")"
  fi
}

port_in_use() {
  local p=$1
  if command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -Htln "sport = :$p" 2>/dev/null) ]]
  else
    # Something answers on the port: it is taken.
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
  fi
}

pick_port() {
  local p i
  for (( i = 0; i < 200; i++ )); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40001 ))
    port_in_use "$p" || { echo "$p"; return; }
  done
  die "no free TCP port found in 20000-60000"
}

cmd_start() {
  [[ $# -ge 1 && $# -le 2 ]] || die "usage: pgctl.sh start DIR [PORT]"
  DIR=$1
  local want_port=${2-}
  [[ $DIR == /* ]] || DIR=$PWD/$DIR
  [[ -e $DIR ]] && die "$DIR already exists"
  BIN=$(find_bindir) || die "postgresql server binaries not found (install postgresql)"
  SUSER=$(server_user)

  mkdir -m 0700 -- "$DIR"
  : >"$DIR/.metacrawl-pgctl"
  mkdir -m 0700 -- "$DIR/sock"
  if (( EUID == 0 )); then chown -R "$SUSER:$(id -g "$SUSER")" -- "$DIR"; fi
  as_server test -w "$DIR" ||
    die "$SUSER cannot write to $DIR (is a parent directory closed to other users?)"

  # A fresh password for the superuser; initdb reads it from a file.
  local pass
  pass=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  pass=${pass:0:32}
  ( umask 077; printf '%s\n' "$pass" >"$DIR/superpass" )
  if (( EUID == 0 )); then chown "$SUSER" -- "$DIR/superpass"; fi

  if ! as_server "$BIN/initdb" -D "$DIR/data" -U mc_super --pwfile="$DIR/superpass" \
        --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1; then
    cat "$DIR/initdb.log" >&2
    die "initdb failed"
  fi

  local attempt port
  for (( attempt = 1; attempt <= 5; attempt++ )); do
    if [[ -n $want_port ]]; then port=$want_port; else port=$(pick_port); fi
    # Settings go into the cluster's own config file rather than onto the
    # command line: paths with spaces and the quoted prefix survive intact.
    cat >"$DIR/data/postgresql.auto.conf" <<EOF
# written by tests/integration/pgctl.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR/sock'
fsync = off
full_page_writes = off
synchronous_commit = off
shared_buffers = 32MB
max_connections = 100
logging_collector = off
log_statement = 'all'
log_line_prefix = '%m [%p] %d %u '
log_timezone = 'UTC'
timezone = 'UTC'
EOF
    if (( EUID == 0 )); then chown "$SUSER" -- "$DIR/data/postgresql.auto.conf"; fi
    if as_server "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 30 -s start \
        >>"$DIR/pg_ctl.log" 2>&1; then
      # pg_ctl waits on postmaster.pid; make sure TCP answers too.
      local i
      for (( i = 0; i < 60; i++ )); do
        if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; then
          echo "$port" >"$DIR/port"
          echo "$port"
          return 0
        fi
        sleep 0.5
      done
      tail -n 30 "$DIR/postgres.log" >&2 || true
      die "server started but 127.0.0.1:$port does not answer"
    fi
    # Lost a race for the port: try another one (only when we picked it).
    if [[ -z $want_port ]] && grep -q 'could not bind\|could not create any TCP/IP sockets' \
        "$DIR/postgres.log" 2>/dev/null; then
      continue
    fi
    break
  done
  tail -n 30 "$DIR/postgres.log" "$DIR/pg_ctl.log" >&2 2>/dev/null || true
  die "could not start the server in $DIR"
}

# Stop the server of DIR, if one runs; leave the files.
cmd_halt() {
  [[ $# -eq 1 ]] || die "usage: pgctl.sh halt DIR"
  DIR=$1
  [[ -d $DIR ]] || return 0
  [[ -e $DIR/.metacrawl-pgctl ]] || die "$DIR was not made by pgctl.sh; not touching it"
  if [[ -f $DIR/data/postmaster.pid ]]; then
    BIN=$(find_bindir) || BIN=
    SUSER=$(stat -c %U -- "$DIR")
    local pid
    pid=$(head -n 1 -- "$DIR/data/postmaster.pid" 2>/dev/null || true)
    if [[ -n $BIN ]]; then
      as_server "$BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 20 -s stop >/dev/null 2>&1 ||
        as_server "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w -t 10 -s stop >/dev/null 2>&1 ||
        true
    fi
    # Last resort: the postmaster of this cluster, by its pid.
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$DIR/data" ]]; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
}

cmd_stop() {
  [[ $# -eq 1 ]] || die "usage: pgctl.sh stop DIR"
  cmd_halt "$1"
  [[ -d $1 ]] || return 0
  rm -rf -- "$1"
}

case ${1-} in
  bindir) find_bindir ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  halt) shift; cmd_halt "$@" ;;
  *) die "usage: pgctl.sh bindir | start DIR [PORT] | stop DIR | halt DIR" ;;
esac
