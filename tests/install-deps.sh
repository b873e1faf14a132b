#!/usr/bin/env bash
# install-deps.sh — install what building and testing metacrawl needs (Debian/Ubuntu).
#
# Idempotent and non-interactive. As root: when a package is missing, apt-get
# update, then apt-get install (no recommends). When everything is present it
# does nothing, root or not. Not root and something missing: prints the
# command to run and exits 1.
#
# Installing the `postgresql` package may create and start the distribution's
# cluster on port 5432. The tests never use it: they start their own servers.
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config gcc
  libpq-dev libssh2-1-dev libssl-dev libsqlite3-dev libyaml-dev libjansson-dev libcurl4-openssl-dev
  # tests
  libcriterion-dev postgresql openssh-server openssh-client iproute2 sqlite3 tzdata valgrind jq procps
  clang libclang-rt-14-dev
  # valgrind's memcheck needs ld.so's symbols on amd64 (a Recommends we skip)
  libc6-dbg
  # docs site: the headless browser test, the Atom feed check (xmllint), and
  # the documentation peer bench/docs.sh compares with
  chromium libxml2-utils postgresql-autodoc
  # the export tests validate with ajv (tests/npm, installed below with npm)
  nodejs
  # docs site diagrams: Graphviz's C library (cgraph + gvc), crawler/diagram
  libgraphviz-dev
)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: not a Debian-like system; install the equivalents of:" >&2
  echo "  ${packages[*]}" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ $status == ii* ]] || missing+=("$p")
done

# The export tests' JSON Schema validator (ajv), pinned by tests/npm/package-lock.json.
npm_deps() { bash "$(dirname "${BASH_SOURCE[0]}")/npm/install.sh"; }

if (( ${#missing[@]} == 0 )); then
  echo "install-deps: all ${#packages[@]} packages present"
  npm_deps
  exit 0
fi

if (( EUID != 0 )); then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root:  sudo bash tests/install-deps.sh" >&2
  echo "install-deps: or:           sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o DPkg::Lock::Timeout=300
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# Mirrors hiccup on fresh machines: a few tries before giving up.
retry() {
  local i
  for (( i = 1; i <= 3; i++ )); do
    "$@" && return 0
    echo "install-deps: attempt $i failed: $*" >&2
    sleep $(( i * 5 ))
  done
  return 1
}

retry apt-get "${apt_opts[@]}" update
retry apt-get "${apt_opts[@]}" install --no-install-recommends "${packages[@]}"
npm_deps
echo "install-deps: done"
