#!/usr/bin/env bash
# run.sh SECONDS — build the cron parser's libFuzzer target with clang and run
# it for SECONDS (default 20).  Any crash, leak or sanitizer report fails.
# The corpus starts from the seed expressions below and lives in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
if ! command -v clang >/dev/null; then
  echo "fuzz: SKIP: clang not found (tests/install-deps.sh installs clang libclang-rt-14-dev)"
  exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -std=c11 -D_GNU_SOURCE -Icrawler/base tests/fuzz/fuzz_cron.c schedules/cron.c \
  schedules/cron_zone.c crawler/base/mc_base.c \
  -o "$out/fuzz_cron"
mkdir -p "$out/corpus"
i=0
for seed in '*/15 * * * *' '0 2 * * 1-5' '@hourly' '30 2 29 2 *' '0 0 13 * fri' \
            '5-55/10 8-18 * jan-mar,oct sat-sun' '0 0 30 2 *' '@annually'; do
  printf '%s' "$seed" > "$out/corpus/seed$i"
  i=$((i + 1))
done
"$out/fuzz_cron" -max_total_time="$secs" -timeout=5 -print_final_stats=1 "$out/corpus" 2>&1 | tail -12
