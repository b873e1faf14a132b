#!/usr/bin/env bash
# compile.sh ZIC SRCDIR OUTDIR STAMP — the tests' own zone data (docs/testing.md,
# "Zone data"): compiles SRCDIR/tzdata.zi with zic into OUTDIR, copies
# zone1970.tab beside it, and writes STAMP (the release, from the first line of
# tzdata.zi) when all of it succeeded. Every unit and integration test runs with
# TZDIR=OUTDIR, so no test reads the machine's /usr/share/zoneinfo.
set -euo pipefail
zic=$1 src=$2 out=$3 stamp=$4
release=$(sed -n '1s/^# version //p' "$src/tzdata.zi")
[[ -n $release ]] || { echo "compile.sh: $src/tzdata.zi does not start with '# version'" >&2; exit 1; }
rm -rf -- "$out"
mkdir -p -- "$out"
# -b fat: explicit transitions up to 2037 as well as the footer rule, so the
# reader's table path and its footer path are both exercised, whatever the
# zic's default is.
"$zic" -b fat -d "$out" "$src/tzdata.zi"
cp -- "$src/zone1970.tab" "$out/zone1970.tab"
for z in Europe/Berlin America/Havana Australia/Lord_Howe; do
  [[ -f $out/$z ]] || { echo "compile.sh: zic wrote no $z" >&2; exit 1; }
done
printf '%s\n' "$release" >"$stamp"
