#!/usr/bin/env bash
# tests/npm/install.sh — the test harness's npm packages (ajv and ajv-formats,
# which validate the exports against their published JSON Schemas), exactly
# as package-lock.json pins them, into tests/npm/node_modules.  Called by
# tests/install-deps.sh; idempotent: does nothing when node_modules already
# matches the lock file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if ! command -v npm >/dev/null 2>&1; then
  # Debian's nodejs comes without npm (a NodeSource nodejs has it).
  if (( EUID == 0 )); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm
  else
    echo "install-deps: npm is missing: sudo apt-get install npm" >&2
    exit 1
  fi
fi
if [[ -f node_modules/.package-lock.json ]] &&
   node -e '
     const a = require("./package-lock.json").packages, b = require("./node_modules/.package-lock.json").packages;
     for (const k of Object.keys(a)) if (k && (!b[k] || b[k].version !== a[k].version)) process.exit(1);
   ' 2>/dev/null; then
  echo "install-deps: npm packages present"
  exit 0
fi
echo "install-deps: npm ci (tests/npm)"
for i in 1 2 3; do
  npm ci --no-audit --no-fund --loglevel=error && exit 0
  echo "install-deps: npm ci attempt $i failed" >&2
  sleep $(( i * 5 ))
done
exit 1
