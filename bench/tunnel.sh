#!/usr/bin/env bash
# bench/tunnel.sh — the SSH tunnel's benchmark (SPEC §10, issue 3).
#
# Starts a throwaway PostgreSQL (tests/integration/pgctl.sh) and an sshd on
# 127.0.0.1 with fresh keys (tests/integration/with-servers.sh --sshd), builds a
# synthetic catalog of the same size as bench/run.sh's (the same schemas, tables
# and columns, but plainer: four column types, no defaults, table comments only),
# and measures, alternating the paths, each
# --repeat times:
#
#   crawl             metacrawl crawl --dry-run (discovery and diff, no store
#                     writes: the part the transport can change) through
#                       direct      straight to the server,
#                       libssh2     metacrawl's own tunnel (tunnel: in the config),
#                       openssh     the tunnel through the system's ssh (via: openssh,
#                                   an ssh_config Host alias written here),
#                       ssh -L      OpenSSH's `ssh -N -L` to the same sshd, with its
#                                   default cipher (chacha20-poly1305 here),
#                       ssh -L ctr  the same with the cipher and MAC libssh2 1.10
#                                   negotiates (aes128-ctr, hmac-sha2-256);
#   setup             the same crawl of an empty database, direct and through the
#                     two tunnels: what opening a tunnel costs each crawl (ssh -L
#                     is opened once, outside the measurement);
#   bulk              COPY (about --copy-mb MB of rows) TO STDOUT, read by a small
#                     libpq client (compiled here against the build's library)
#                     through the same five paths. The libssh2 and openssh paths
#                     open the tunnel inside that client: the libssh2 tunnel only
#                     lets in connections of its own process, so psql cannot use it.
#
# It prints the medians, the MB/s of the bulk copies and the ratios to ssh -L.
# docs/performance.md records the figures.
#
# Usage: bash bench/tunnel.sh [--schemas N] [--tables N] [--columns N]
#                             [--repeat N] [--copy-mb N] [--quick] [--binary PATH]
#
#   --schemas/--tables/--columns  the catalog (default 20 x 500 x 40, as bench/run.sh)
#   --repeat N    measurements per path (default 5)
#   --copy-mb N   size of the bulk copy (default 200)
#   --quick       2 x 50 x 10, repeat 3, 50 MB
#   --binary PATH the metacrawl to measure (default: build-tunnel-bench/metacrawl,
#                 a -Dbuildtype=release build made or brought up to date here).
#                 Its build directory must hold the module libraries (tunnel/,
#                 crawler/base/) and mc_build.h.
#
# Needs: postgresql, openssh-server and openssh-client, gcc, pkg-config, and the
# build dependencies (tests/install-deps.sh). sshd runs as root when this does.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
pgctl=$root/tests/integration/pgctl.sh
with_servers=$root/tests/integration/with-servers.sh

die() { echo "bench/tunnel: $*" >&2; exit 1; }
say() { echo "bench/tunnel: $*" >&2; }

schemas=20 tables=500 columns=40 repeat=5 copy_mb=200 binary=
while (($#)); do
  case $1 in
    --schemas) schemas=${2-}; shift 2 ;;
    --tables) tables=${2-}; shift 2 ;;
    --columns) columns=${2-}; shift 2 ;;
    --repeat) repeat=${2-}; shift 2 ;;
    --copy-mb) copy_mb=${2-}; shift 2 ;;
    --quick) schemas=2 tables=50 columns=10 repeat=3 copy_mb=50; shift ;;
    --binary) binary=${2-}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for v in schemas tables columns repeat copy_mb; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v//_/-} takes a positive number"
done
((columns >= 3)) || die "--columns must be at least 3"

for c in ssh ssh-keygen psql gcc pkg-config; do
  command -v "$c" >/dev/null 2>&1 || die "$c not found (see tests/install-deps.sh)"
done
[[ -x /usr/sbin/sshd ]] || die "/usr/sbin/sshd not found (install openssh-server)"
PGBIN=$(bash "$pgctl" bindir) || die "postgresql server binaries not found"

# ---- the binary and the library it was built from ------------------------------

if [[ -z $binary ]]; then
  say "building a release metacrawl in build-tunnel-bench"
  [[ -d $root/build-tunnel-bench ]] ||
    meson setup "$root/build-tunnel-bench" "$root" -Dbuildtype=release >/dev/null
  ninja -C "$root/build-tunnel-bench" metacrawl >/dev/null
  binary=$root/build-tunnel-bench/metacrawl
fi
builddir=$(cd "$(dirname "$binary")" && pwd)
# The bulk client links the tunnel module and the base below it
# (docs/architecture.md: every folder is its own library).
ninja -C "$builddir" tunnel/libmc_tunnel.a crawler/base/libmc_base.a >/dev/null 2>&1 || true
[[ -f $builddir/tunnel/libmc_tunnel.a && -f $builddir/crawler/base/libmc_base.a &&
   -f $builddir/mc_build.h ]] ||
  die "$builddir has no tunnel/libmc_tunnel.a, crawler/base/libmc_base.a, mc_build.h (give --binary of a meson build)"

# ---- servers ------------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/metacrawl-bench-tunnel.XXXXXX")
chmod 0711 "$work"
ssh_pids=()
cleanup() {
  local p
  for p in "${ssh_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -f $work/sshd/sshd.pid ]]; then
    local pid
    pid=$(cat "$work/sshd/sshd.pid")
    for p in $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    kill "$pid" 2>/dev/null || true
  fi
  bash "$pgctl" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf -- "$work"
}
trap cleanup EXIT

say "starting PostgreSQL"
pgport=$(bash "$pgctl" start "$work/pg")
pgpass=$(<"$work/pg/superpass")
export PGPASSWORD=$pgpass
psqlc=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pgport" -U mc_super)

say "starting sshd with fresh keys"
keys=$work/keys
mkdir -p "$keys"
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$keys/host_ed25519"
ssh-keygen -q -t ecdsa -b 256 -N '' -C bench-host -f "$keys/host_ecdsa"
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$keys/id_ed25519"
cp "$keys/id_ed25519.pub" "$keys/authorized_keys"
read -r sshport _ < <(MC_TEST_SSH_DIR=$keys bash "$with_servers" --sshd "$work/sshd")
[[ $sshport =~ ^[0-9]+$ ]] || die "sshd did not start"
user=$(id -un)
kh=$work/known_hosts
printf '[127.0.0.1]:%s %s\n' "$sshport" "$(cut -d' ' -f1,2 "$keys/host_ed25519.pub")" >"$kh"
# via: openssh reads this, never the ~/.ssh/config of whoever runs the bench.
sshcfg=$work/ssh_config
printf 'Host bench-bastion\n  HostName 127.0.0.1\n  Port %s\n  User %s\n  IdentityFile %s\n' \
  "$sshport" "$user" "$keys/id_ed25519" >"$sshcfg"

# ---- the catalog ----------------------------------------------------------------------

say "building the catalog: $schemas schemas x $tables tables x $columns columns"
"${psqlc[@]}" postgres -c "CREATE DATABASE bench"
# One transaction per schema: a single one would run out of lock slots.
for ((s = 1; s <= schemas; s++)); do
  "${psqlc[@]}" bench <<SQL
DO \$\$
DECLARE cols text; sch text := format('s%s', lpad('$s', 3, '0'));
BEGIN
  SELECT string_agg(format('c%s %s', i, CASE i % 4 WHEN 0 THEN 'text' WHEN 1 THEN 'integer'
                          WHEN 2 THEN 'numeric(12,2)' ELSE 'timestamptz' END), ', ')
    INTO cols FROM generate_series(2, $columns) i;
  EXECUTE format('CREATE SCHEMA %I', sch);
  FOR t IN 1..$tables LOOP
    EXECUTE format('CREATE TABLE %I.t%s (id bigint PRIMARY KEY, %s)', sch, lpad(t::text, 5, '0'), cols);
    EXECUTE format('COMMENT ON TABLE %I.t%s IS %L', sch, lpad(t::text, 5, '0'), 'table ' || t);
  END LOOP;
END \$\$;
SQL
done
"${psqlc[@]}" bench -c ANALYZE

# ---- the paths ------------------------------------------------------------------------

free_port() {
  local p
  while :; do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40001 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# ssh -L on a free port; extra ssh options in "$@". Prints the local port.
start_forward() {
  local lport i
  lport=$(free_port)
  ssh -N -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$kh" \
    -o ExitOnForwardFailure=yes -o ControlMaster=no -o ControlPath=none \
    -i "$keys/id_ed25519" -p "$sshport" "$@" \
    -L "127.0.0.1:$lport:127.0.0.1:$pgport" "$user@127.0.0.1" </dev/null >/dev/null 2>"$work/ssh-$lport.log" &
  ssh_pids+=("$!")
  for ((i = 0; i < 200; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$lport") 2>/dev/null; then echo "$lport"; return 0; fi
    sleep 0.05
  done
  cat "$work/ssh-$lport.log" >&2
  die "ssh -L did not come up"
}
fwd_default=$(start_forward)
fwd_ctr=$(start_forward -c aes128-ctr -m hmac-sha2-256)

config() { # file port [tunnel]
  {
    printf 'store: %s/store-never-written.db\ndatastores:\n' "$work"
    printf '  - name: bench\n    host: 127.0.0.1\n    port: %s\n    database: bench\n' "$2"
    # shellcheck disable=SC2016  # metacrawl expands it
    printf '    user: mc_super\n    password: ${env:PGPASSWORD}\n    sslmode: disable\n'
    if [[ ${3-} == tunnel ]]; then
      printf '    tunnel:\n      host: 127.0.0.1\n      port: %s\n      user: %s\n' "$sshport" "$user"
      printf '      private_key: %s\n      known_hosts: %s\n' "$keys/id_ed25519" "$kh"
    elif [[ ${3-} == openssh ]]; then
      printf '    tunnel:\n      via: openssh\n      host: bench-bastion\n' 
      printf '      ssh_config: %s\n      known_hosts: %s\n' "$sshcfg" "$kh"
    fi
  } >"$1"
}
config "$work/direct.yml" "$pgport"
config "$work/libssh2.yml" "$pgport" tunnel
config "$work/openssh.yml" "$pgport" openssh
# The same against an empty database: what opening the tunnel costs.
sed 's/database: bench/database: postgres/' "$work/direct.yml" >"$work/empty-direct.yml"
sed 's/database: bench/database: postgres/' "$work/libssh2.yml" >"$work/empty-libssh2.yml"
sed 's/database: bench/database: postgres/' "$work/openssh.yml" >"$work/empty-openssh.yml"
config "$work/sshL.yml" "$fwd_default"
config "$work/sshLctr.yml" "$fwd_ctr"

# The bulk client: libpq, optionally through metacrawl's tunnel in-process.
cat >"$work/copy.c" <<'C'
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tunnel.h"
/* copy PORT SQL [SSHPORT USER KEY KNOWN_HOSTS | openssh ALIAS SSH_CONFIG KNOWN_HOSTS]:
 * prints "BYTES SECONDS". */
int main(int argc, char **argv)
{
    tunnel *t = NULL;
    char port[16];
    snprintf(port, sizeof port, "%s", argv[1]);
    if (argc > 6) {
        bool ossh = strcmp(argv[3], "openssh") == 0;
        tunnel_hop hop = {.host = "127.0.0.1", .port = atoi(argv[3]), .user = argv[4],
                          .private_key = argv[5], .known_hosts = argv[6]};
        if (ossh)
            hop = (tunnel_hop){.host = argv[4], .known_hosts = argv[6]};
        tunnel_opts o = {.hops = &hop, .n_hops = 1, .max_connections = 1,
                         .via = ossh ? TUNNEL_VIA_OPENSSH : TUNNEL_VIA_LIBSSH2,
                         .ssh_config = ossh ? argv[5] : NULL};
        mc_error err = {0};
        if (tunnel_open(&o, "127.0.0.1", atoi(argv[1]), &t, &err) != 0) {
            fprintf(stderr, "tunnel: %s\n", err.message);
            return 1;
        }
        snprintf(port, sizeof port, "%d", tunnel_local_port(t));
    }
    tunnel *sealed = t;
    const char *k[] = {"host", "hostaddr", "port", "dbname", "user", "sslmode", NULL};
    const char *v[] = {"127.0.0.1", "127.0.0.1", port, "bench", "mc_super", "disable", NULL};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    PGconn *c = PQconnectdbParams(k, v, 0);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "%s", PQerrorMessage(c));
        return 1;
    }
    tunnel_seal(sealed);
    PGresult *r = PQexec(c, argv[2]);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        fprintf(stderr, "%s", PQerrorMessage(c));
        return 1;
    }
    PQclear(r);
    long long bytes = 0;
    char *buf;
    int n;
    while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
        bytes += n;
        PQfreemem(buf);
    }
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
    PQfinish(c);
    clock_gettime(CLOCK_MONOTONIC, &b);
    tunnel_close(t);
    printf("%lld %.6f\n", bytes, (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
C
# shellcheck disable=SC2046  # pkg-config's flags are words
gcc -O2 -o "$work/copy" "$work/copy.c" -I"$root/tunnel" -I"$root/crawler/base" -I"$builddir" \
  "$builddir/tunnel/libmc_tunnel.a" "$builddir/crawler/base/libmc_base.a" \
  $(pkg-config --cflags --libs libpq libssh2 libcrypto) -lpthread ||
  die "could not build the bulk client"

# Rows that cost the server little, so the transport is what is measured.
rows=$(( copy_mb * 1024 * 1024 / 256 ))
copy_sql="COPY (SELECT i, repeat('x', 240) FROM generate_series(1, $rows) i) TO STDOUT"

# ---- measure ------------------------------------------------------------------------

now() { date +%s.%N; }
declare -A crawl_times copy_times copy_bytes empty_times
paths=(direct libssh2 openssh sshL sshLctr)
declare -A label=([direct]="direct" [libssh2]="libssh2 tunnel" [openssh]="via: openssh"
                  [sshL]="ssh -L" [sshLctr]="ssh -L aes128-ctr")
declare -A copy_port=([direct]=$pgport [libssh2]=$pgport [openssh]=$pgport [sshL]=$fwd_default
                      [sshLctr]=$fwd_ctr)

say "warming up"
for p in "${paths[@]}"; do
  "$binary" -q -c "$work/$p.yml" crawl --dry-run >/dev/null
done

for ((i = 1; i <= repeat; i++)); do
  say "round $i of $repeat"
  for p in "${paths[@]}"; do
    t0=$(now)
    "$binary" -q -c "$work/$p.yml" crawl --dry-run >/dev/null
    t1=$(now)
    crawl_times[$p]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }') "
    if [[ $p == libssh2 ]]; then
      out=$("$work/copy" "$pgport" "$copy_sql" "$sshport" "$user" "$keys/id_ed25519" "$kh")
    elif [[ $p == openssh ]]; then
      out=$("$work/copy" "$pgport" "$copy_sql" openssh bench-bastion "$sshcfg" "$kh")
    else
      out=$("$work/copy" "${copy_port[$p]}" "$copy_sql")
    fi
    copy_bytes[$p]=${out%% *}
    copy_times[$p]+="${out##* } "
  done
  for p in direct libssh2 openssh; do
    t0=$(now)
    "$binary" -q -c "$work/empty-$p.yml" crawl --dry-run >/dev/null
    t1=$(now)
    empty_times[$p]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }') "
  done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
printf '\n%-20s %12s %10s %14s %10s\n' "path" "crawl (s)" "vs ssh -L" "bulk (MB/s)" "vs ssh -L"
crawl_ref=$(median <<<"${crawl_times[sshL]}")
copy_ref_t=$(median <<<"${copy_times[sshL]}")
copy_ref=$(calc "${copy_bytes[sshL]} / 1048576 / $copy_ref_t")
for p in "${paths[@]}"; do
  c=$(median <<<"${crawl_times[$p]}")
  ct=$(median <<<"${copy_times[$p]}")
  mbs=$(calc "${copy_bytes[$p]} / 1048576 / $ct")
  printf '%-20s %12.3f %9.2fx %14.1f %9.2fx\n' "${label[$p]}" "$c" "$(calc "$c / $crawl_ref")" \
    "$mbs" "$(calc "$mbs / $copy_ref")"
done
setup=$(calc "$(median <<<"${empty_times[libssh2]}") - $(median <<<"${empty_times[direct]}")")
printf '\nopening the libssh2 tunnel (handshake, host key, authentication): %.0f ms of each crawl\n' \
  "$(calc "$setup * 1000")"
setup=$(calc "$(median <<<"${empty_times[openssh]}") - $(median <<<"${empty_times[direct]}")")
printf 'opening the openssh tunnel (ssh -V, the master, -O forward/cancel, stop): %.0f ms of each crawl\n' \
  "$(calc "$setup * 1000")"
printf 'catalog: %s schemas x %s tables x %s columns; bulk: %s MB COPY; medians of %s; %s\n' \
  "$schemas" "$tables" "$columns" "$(( copy_bytes[direct] / 1048576 ))" "$repeat" \
  "$("$binary" --version | tr '\n' ' ')"
