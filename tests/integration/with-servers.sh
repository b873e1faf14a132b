#!/usr/bin/env bash
# with-servers.sh EXE [ARGS...] — run one integration test executable against
# throwaway servers (meson runs every integration test through this wrapper).
#
# It starts, in a fresh temporary directory:
#   - a PostgreSQL server on 127.0.0.1 and a free port (pgctl.sh)
#   - an sshd on 127.0.0.1 and a free port, with fresh host keys (ed25519 and
#     ECDSA) and generated client keys; without /usr/sbin/sshd the tunnel tests
#     skip (MC_TEST_SSH_SKIP says why) and the others run
# exports their coordinates as MC_TEST_* variables, runs EXE, always stops the
# servers and removes the directory, and exits with EXE's status. Without the
# PostgreSQL server binaries it prints a SKIP line and exits 77, meson's skip code.
#
# Exported to EXE:
#   MC_TEST_PGHOST MC_TEST_PGPORT      where the server listens (TCP, scram-sha-256)
#   MC_TEST_PGUSER MC_TEST_PGPASSWORD  its superuser
#   MC_TEST_PGSOCKDIR                  its unix socket directory (trust auth)
#   MC_TEST_PGLOG                      its log: every statement, '%m [%p] %d %u '
#   MC_TEST_PGBIN                      the server's bin directory (psql, pg_dump...)
#   MC_TEST_TMP                        a scratch directory, removed afterwards
#   MC_TEST_SSH_SKIP                   set (to the reason) when no sshd could be started
#   MC_TEST_SSH_HOST MC_TEST_SSH_PORT  where the sshd listens (127.0.0.1)
#   MC_TEST_SSH_USER                   who logs in (the user running the tests)
#   MC_TEST_SSH_DIR                    the keys: host_ed25519 host_ecdsa (+ .pub),
#                                      id_ed25519 id_ecdsa, id_ecdsa_pem (PEM format),
#                                      id_ed25519_pw (MC_TEST_SSH_PASSPHRASE), id_rsa,
#                                      id_stranger (not authorized), authorized_keys
#   MC_TEST_SSH_KNOWN_HOSTS            known_hosts with both host keys of that sshd
#   MC_TEST_SSH_PASSPHRASE             the passphrase of id_ed25519_pw
#   MC_TEST_SSH_PASSWORD               the password that sshds started with
#                                      --password accept (below)
#   MC_TEST_SSH_LOG                    the sshd's log
#
# Other modes, used by the tests (itest_sshd_start, itest_netns_start):
#   with-servers.sh --sshd DIR [--password] [CONFIG-LINE...]
#       another sshd with the same keys, the config lines first (sshd keeps the
#       first value of a keyword); prints "PORT PID". --password: password and
#       keyboard-interactive logins with MC_TEST_SSH_PASSWORD, which sshd finds
#       in a copy of /etc/shadow shown to it alone in a private mount namespace
#       (root only).
#   with-servers.sh --netns-up DIR | --netns-down DIR
#       a network namespace (the "bastion") joined to this one by a veth pair,
#       an sshd on its veth address and a PostgreSQL on its own 127.0.0.1, which
#       nothing outside the namespace can reach. Prints
#       "NAME SSHADDR SSHPORT PGPORT PGDIR" (PGDIR in pgctl.sh's layout).
#   Both print "SKIP: reason" and exit 77 where that cannot be done here.
#
# Adding a server: write start_X (start it under $top, export its MC_TEST_*
# variables) and a stop step in reap(), and call start_X next to
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
  local top=$1 f
  [[ -d $top ]] || return 0
  # Namespaces first (their servers live inside), then every sshd under $top.
  while IFS= read -r f; do
    netns_down "$(dirname "$f")"
  done < <(find "$top" -name netns.name 2>/dev/null)
  while IFS= read -r f; do
    stop_sshd_pidfile "$f"
  done < <(find "$top" -name sshd.pid 2>/dev/null)
  if [[ -d $top/pg ]]; then
    bash "$here/pgctl.sh" stop "$top/pg" || echo "with-servers: could not stop postgres in $top/pg" >&2
  fi
  rm -rf -- "$top"
}

# ---- sshd ---------------------------------------------------------------------

SSHD=${MC_TEST_SSHD:-/usr/sbin/sshd}

# Stops the sshd of a pid file and the per-connection processes it forked.
stop_sshd_pidfile() {
  local pidfile=$1 pid kids k
  pid=$(head -n 1 -- "$pidfile" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == *sshd* ]] || { rm -f -- "$pidfile"; return 0; }
  kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
  kill -TERM "$pid" 2>/dev/null || true
  for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
  for (( k = 0; k < 50; k++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f -- "$pidfile"
}

# The keys every sshd of this run shares, and the client keys of the tests.
make_ssh_keys() {
  local dir=$1
  mkdir -p "$dir" && chmod 0755 "$dir"
  ssh-keygen -q -t ed25519 -N '' -C mc-host -f "$dir/host_ed25519" &&
    ssh-keygen -q -t ecdsa -b 256 -N '' -C mc-host -f "$dir/host_ecdsa" &&
    ssh-keygen -q -t ed25519 -N '' -C mc-client -f "$dir/id_ed25519" &&
    ssh-keygen -q -t ecdsa -b 256 -N '' -C mc-client -f "$dir/id_ecdsa" &&
    ssh-keygen -q -t ecdsa -b 256 -m PEM -N '' -C mc-client-pem -f "$dir/id_ecdsa_pem" &&
    ssh-keygen -q -t ed25519 -N "$MC_TEST_SSH_PASSPHRASE" -C mc-client-pw -f "$dir/id_ed25519_pw" &&
    ssh-keygen -q -t rsa -b 1024 -N '' -C mc-client-rsa -f "$dir/id_rsa" &&
    ssh-keygen -q -t ed25519 -N '' -C mc-stranger -f "$dir/id_stranger" || return 1
  cat "$dir/id_ed25519.pub" "$dir/id_ecdsa.pub" "$dir/id_ecdsa_pem.pub" \
    "$dir/id_ed25519_pw.pub" "$dir/id_rsa.pub" >"$dir/authorized_keys"
  chmod 0600 "$dir"/id_ed25519 "$dir"/id_ecdsa "$dir"/id_ecdsa_pem "$dir"/id_ed25519_pw \
    "$dir"/id_rsa "$dir"/id_stranger "$dir"/host_ed25519 "$dir"/host_ecdsa
}

# sshd_config in RUN for ADDR:PORT with the keys of KEYS. The extra lines go
# first: sshd keeps the first value it reads for a keyword.
write_sshd_config() {
  local run=$1 keys=$2 addr=$3 port=$4 line
  shift 4
  {
    echo "# written by tests/integration/with-servers.sh"
    for line in "$@"; do printf '%s\n' "$line"; done
    printf '%s\n' \
      "Port $port" "ListenAddress $addr" \
      "HostKey $keys/host_ed25519" "HostKey $keys/host_ecdsa" \
      "PidFile $run/sshd.pid" "AuthorizedKeysFile $keys/authorized_keys" \
      "StrictModes no" "PermitRootLogin prohibit-password" "PubkeyAuthentication yes" \
      "PasswordAuthentication no" "KbdInteractiveAuthentication no" "UsePAM no" \
      "AllowTcpForwarding yes" "X11Forwarding no" "PrintMotd no" "UseDNS no" \
      "LogLevel VERBOSE" "MaxStartups 100:30:200" "MaxSessions 100" "LoginGraceTime 30"
  } >"$run/sshd_config"
}

# Starts sshd (behind the command prefix in SSHD_PREFIX) with the config of
# RUN and waits until it listens on ADDR:PORT; prints its pid.
launch_sshd() {
  local run=$1 addr=$2 port=$3 pid i
  : >"$run/sshd.log"
  "${SSHD_PREFIX[@]}" "$SSHD" -D -f "$run/sshd_config" -E "$run/sshd.log" \
    </dev/null >/dev/null 2>&1 &
  pid=$!
  for (( i = 0; i < 400; i++ )); do
    kill -0 "$pid" 2>/dev/null || return 1
    if grep -q "Server listening on $addr port $port" "$run/sshd.log" 2>/dev/null; then
      echo "$pid"
      return 0
    fi
    sleep 0.025
  done
  kill -KILL "$pid" 2>/dev/null
  return 1
}

# An sshd in RUN on ADDR and a free port (extra config lines in SSHD_EXTRA,
# command prefix in SSHD_PREFIX); prints "PORT PID".
start_sshd_in() {
  local run=$1 keys=$2 addr=$3 attempt port pid
  mkdir -p "$run" && chmod 0755 "$run"
  for (( attempt = 0; attempt < 8; attempt++ )); do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40001 ))
    write_sshd_config "$run" "$keys" "$addr" "$port" "${SSHD_EXTRA[@]}"
    if pid=$(launch_sshd "$run" "$addr" "$port"); then
      echo "$port $pid"
      return 0
    fi
    grep -q "Address already in use" "$run/sshd.log" 2>/dev/null || break
  done
  echo "with-servers: sshd did not start in $run:" >&2
  tail -n 20 "$run/sshd.log" >&2 2>/dev/null
  return 1
}

# Why no sshd can run here, or nothing.
sshd_prerequisites() {
  if [[ ! -x $SSHD ]]; then
    echo "sshd not found at $SSHD (install openssh-server)"
    return 1
  fi
  if ! command -v ssh-keygen >/dev/null 2>&1; then
    echo "ssh-keygen not found (install openssh-client)"
    return 1
  fi
  # sshd's privilege separation directory (the package's service makes it).
  if (( EUID == 0 )) && [[ ! -d /run/sshd ]] && ! mkdir -m 0755 /run/sshd 2>/dev/null; then
    echo "cannot create /run/sshd"
    return 1
  fi
  return 0
}

# Password logins for a private sshd: in a mount namespace of its own, sshd
# sees a copy of /etc/shadow in which the user's password is
# MC_TEST_SSH_PASSWORD. Prints the copy's path, or "SKIP: why".
password_shadow() {
  local run=$1 user hash
  if (( EUID != 0 )); then echo "SKIP: password logins need the tests to run as root"; return 1; fi
  if ! command -v unshare >/dev/null 2>&1 || ! command -v perl >/dev/null 2>&1; then
    echo "SKIP: unshare or perl not found"
    return 1
  fi
  if ! unshare -m --propagation private true 2>/dev/null; then
    echo "SKIP: mount namespaces are not available here (unshare -m failed)"
    return 1
  fi
  user=$(id -un)
  # shellcheck disable=SC2016  # perl code
  hash=$(perl -e 'my @c = ("a".."z", "0".."9"); my $s = join "", map { $c[rand @c] } 1..16;
                  print crypt($ARGV[0], "\$6\$$s\$")' "$MC_TEST_SSH_PASSWORD")
  cp /etc/shadow "$run/shadow"
  # shellcheck disable=SC2016  # perl code
  HASH=$hash USER_NAME=$user perl -i -pe 's{^\Q$ENV{USER_NAME}\E:[^:]*:}{$ENV{USER_NAME}:$ENV{HASH}:}' \
    "$run/shadow"
  chmod 0640 "$run/shadow"
  echo "$run/shadow"
}

cmd_private_sshd() {
  local run=$1 password=0 shadow
  shift
  if [[ ${1-} == --password ]]; then password=1; shift; fi
  if [[ -z ${MC_TEST_SSH_DIR-} ]]; then echo "SKIP: ${MC_TEST_SSH_SKIP:-no sshd in this run}"; exit 77; fi
  mkdir -p "$run" && chmod 0755 "$run"
  SSHD_EXTRA=("$@")
  SSHD_PREFIX=()
  if (( password )); then
    shadow=$(password_shadow "$run") || { echo "$shadow"; exit 77; }
    SSHD_EXTRA+=("PermitRootLogin yes" "PasswordAuthentication yes"
      "KbdInteractiveAuthentication yes" "UsePAM yes")
    # shellcheck disable=SC2016  # for the inner shell
    SSHD_PREFIX=(unshare -m --propagation private sh -c 'mount --bind "$0" /etc/shadow && exec "$@"'
      "$shadow")
  fi
  start_sshd_in "$run" "$MC_TEST_SSH_DIR" 127.0.0.1 || exit 1
}

# ---- a network namespace: the bastion, and a database only it can reach ------

netns_down() {
  local run=$1 name pgdir
  name=$(cat "$run/netns.name" 2>/dev/null || true)
  if [[ -f $run/sshd.pid ]]; then stop_sshd_pidfile "$run/sshd.pid"; fi
  pgdir=$(cat "$run/pg.dir" 2>/dev/null || true)
  if [[ -n $pgdir && -d $pgdir ]]; then
    bash "$here/pgctl.sh" stop "$pgdir/pg" >/dev/null 2>&1 || true
    rmdir -- "$pgdir" 2>/dev/null || true
  fi
  rm -f -- "$run/pg.dir"
  if [[ -n $name ]]; then
    ip netns del "$name" 2>/dev/null || true
    ip link del "${name}h" 2>/dev/null || true
  fi
  rm -f -- "$run/netns.name"
}

cmd_netns_up() {
  local run=$1 name="mcb$$" i a b addr pgport pgdir out why
  if [[ -z ${MC_TEST_SSH_DIR-} ]]; then echo "SKIP: ${MC_TEST_SSH_SKIP:-no sshd in this run}"; exit 77; fi
  if (( EUID != 0 )); then echo "SKIP: network namespaces need root"; exit 77; fi
  if ! command -v ip >/dev/null 2>&1; then echo "SKIP: ip not found (install iproute2)"; exit 77; fi
  mkdir -p "$run" && chmod 0755 "$run"
  if ! ip netns add "$name" 2>"$run/netns.err"; then
    echo "SKIP: cannot create a network namespace here: $(head -n 1 "$run/netns.err")"
    exit 77
  fi
  echo "$name" >"$run/netns.name"
  if ! ip link add "${name}h" type veth peer name "${name}n" 2>"$run/netns.err" ||
    ! ip link set "${name}n" netns "$name" 2>>"$run/netns.err"; then
    why=$(head -n 1 "$run/netns.err")
    netns_down "$run"
    echo "SKIP: cannot create a veth pair here: $why"
    exit 77
  fi
  # A /30 of 10.231.0.0/16 that no other test run on this machine holds.
  for (( i = 0; i < 32; i++ )); do
    a=$(( RANDOM % 256 ))
    b=$(( (RANDOM % 64) * 4 ))
    addr=10.231.$a.$(( b + 2 ))
    ip -o -4 addr show 2>/dev/null | grep -q " 10\.231\.$a\.$(( b + 1 ))/" && continue
    ip addr add "10.231.$a.$(( b + 1 ))/30" dev "${name}h" 2>/dev/null && break
  done
  if ! ip link set "${name}h" up ||
    ! ip netns exec "$name" ip addr add "$addr/30" dev "${name}n" ||
    ! ip netns exec "$name" ip link set "${name}n" up ||
    ! ip netns exec "$name" ip link set lo up; then
    netns_down "$run"
    echo "with-servers: could not set up the network namespace $name" >&2
    exit 1
  fi
  # The database listens on the namespace's own 127.0.0.1. Its directory is
  # outside the private scratch directory, where the server's user can reach it.
  if ! pgdir=$(mktemp -d "${TMPDIR:-/tmp}/metacrawl-netns.XXXXXX"); then
    netns_down "$run"
    exit 1
  fi
  chmod 0711 "$pgdir"
  echo "$pgdir" >"$run/pg.dir"
  if ! pgport=$(ip netns exec "$name" bash "$here/pgctl.sh" start "$pgdir/pg"); then
    netns_down "$run"
    echo "with-servers: postgres in $name did not start" >&2
    exit 1
  fi
  SSHD_EXTRA=()
  SSHD_PREFIX=(ip netns exec "$name")
  if ! out=$(start_sshd_in "$run" "$MC_TEST_SSH_DIR" "$addr"); then
    netns_down "$run"
    exit 1
  fi
  echo "$name $addr ${out%% *} $pgport $pgdir/pg"
}

case ${1-} in
  --sshd) shift; cmd_private_sshd "$@"; exit $? ;;
  --netns-up) shift; cmd_netns_up "$@"; exit $? ;;
  --netns-down) shift; netns_down "$1"; exit 0 ;;
esac

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

# Nor anything else of the caller's session (docs/testing.md, "Hermetic"): an
# ssh-agent with keys, a journald stream, NO_COLOR, a config under
# XDG_CONFIG_HOME or ~ would change what metacrawl does. The zone data (TZDIR),
# locale and zone come from meson's test environment; the umask is fixed so
# that files the tests create have the same modes on every machine.
unset SSH_AUTH_SOCK SSH_AGENT_PID JOURNAL_STREAM NO_COLOR XDG_CONFIG_HOME
umask 022
# Nor the caller's AWS identity, and no test ever asks a real EC2 metadata
# service (the AWS tests pass their own variables, and point the metadata
# endpoints at the fake AWS).
while IFS= read -r var; do
  unset "$var"
done < <(compgen -e | grep -E '^AWS_' || true)
export AWS_EC2_METADATA_DISABLED=true

top=$(mktemp -d "${TMPDIR:-/tmp}/metacrawl-itest.XXXXXX") || exit 1
# The server runs as another user when we are root: let it through, not list.
chmod 0711 "$top"
mkdir -m 0700 "$top/home"
export HOME=$top/home

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

start_sshd() {
  local why run=$top/ssh out k
  if ! why=$(sshd_prerequisites); then
    export MC_TEST_SSH_SKIP=$why
    return 0
  fi
  MC_TEST_SSH_PASSPHRASE=pp-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  MC_TEST_SSH_PASSWORD=pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  export MC_TEST_SSH_PASSPHRASE MC_TEST_SSH_PASSWORD
  if ! make_ssh_keys "$run/keys" >"$top/ssh-keygen.log" 2>&1; then
    MC_TEST_SSH_SKIP="ssh-keygen failed: $(head -n 1 "$top/ssh-keygen.log")"
    export MC_TEST_SSH_SKIP
    return 0
  fi
  SSHD_EXTRA=()
  SSHD_PREFIX=()
  if ! out=$(start_sshd_in "$run" "$run/keys" 127.0.0.1); then
    export MC_TEST_SSH_SKIP="sshd did not start (its log is above)"
    return 0
  fi
  export MC_TEST_SSH_HOST=127.0.0.1
  export MC_TEST_SSH_PORT=${out%% *}
  MC_TEST_SSH_USER=$(id -un)
  export MC_TEST_SSH_USER
  export MC_TEST_SSH_DIR=$run/keys
  export MC_TEST_SSH_LOG=$run/sshd.log
  export MC_TEST_SSH_KNOWN_HOSTS=$run/known_hosts
  for k in ed25519 ecdsa; do
    printf '[127.0.0.1]:%s %s\n' "$MC_TEST_SSH_PORT" "$(cut -d' ' -f1,2 "$run/keys/host_$k.pub")"
  done >"$MC_TEST_SSH_KNOWN_HOSTS"
}

start_postgres || exit 1
start_sshd
# Nothing of the ssh setup of the person running the tests takes part.
unset SSH_AUTH_SOCK SSH_AGENT_PID

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
if (( rc != 0 && rc != 77 )) && [[ -s $top/ssh/sshd.log ]] &&
  grep -q 'Accepted\|Failed\|error\|refused' "$top/ssh/sshd.log"; then
  echo "---- with-servers: last lines of the sshd log ----" >&2
  tail -n 20 "$top/ssh/sshd.log" >&2
fi
exit "$rc"
