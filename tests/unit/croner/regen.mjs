// regen.mjs — regenerate the "croner" column of tests/unit/test_cron.c.
//
// Not run by the test suite. How to run it (docs/testing.md, "Zone data"):
//
//   meson setup build && ninja -C build          # compiles the pinned zone data
//   d=$(mktemp -d) && npm install --prefix "$d" croner@11.0.1
//   NODE_PATH=$d/node_modules node tests/unit/croner/regen.mjs build/tests/zoneinfo
//
// It reads the crosschecks table of test_cron.c (expression, zone, start, how
// many fires), asks croner 11.0.1 for the same fires and prints, per row, what
// croner answers next to what the table holds; "differs" lines are what to
// paste back. Rows that carry .ours/.why are the documented cronie-vs-croner
// disagreements and are printed for review, not compared.
//
// croner reads zone rules through node's ICU, not through TZDIR. So before it
// prints anything, the script checks that node's zone data agrees with the
// pinned data (the zoneinfo directory given, read with the system's zdump)
// for every zone of the table, at every transition from 2010 to 2040: where
// they disagree, croner's answer would not be an answer about the pinned data,
// and the script stops, naming the zone and the instant. Use a node whose
// process.versions.tz is at least as new as the pinned release for those
// zones, or move the row to instants on which both agree.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const { Cron } = require("croner");

const tzdir = process.argv[2];
if (!tzdir) {
  console.error("usage: node regen.mjs ZONEINFO_DIR   (build/tests/zoneinfo)");
  process.exit(2);
}
const here = path.dirname(new URL(import.meta.url).pathname);
const source = readFileSync(path.join(here, "..", "test_cron.c"), "utf8");
const table = source.slice(source.indexOf("crosschecks[] = {"), source.indexOf("Test(cron, crosscheck_croner)"));

// Each row starts a line with {"expr", "zone", "after", .croner = {...}
// and may carry .ours = {...} and .why = WHY_X (a documented disagreement).
const rows = [];
const starts = [...table.matchAll(/^\s*\{"/gm)].map((m) => m.index);
for (let i = 0; i < starts.length; i++) {
  const text = table.slice(starts[i], starts[i + 1] ?? table.length);
  const m = /\{"((?:[^"\\]|\\.)*)", "([^"]+)", "([^"]+)",\s*\.croner = \{([^}]*)\}/.exec(text);
  if (!m) continue;
  const fires = [...m[4].matchAll(/"([^"]+)"/g)].map((x) => x[1]);
  rows.push({ expr: m[1], zone: m[2], after: m[3], croner: fires, why: /\.why =/.test(text) });
}
if (rows.length === 0) {
  console.error("regen: found no rows in test_cron.c's crosschecks table");
  process.exit(1);
}

// node's offset (minutes east of UTC) at an instant, from ICU.
const formats = new Map();
function icuOffset(zone, ms) {
  if (!formats.has(zone))
    formats.set(zone, new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric",
    }));
  const parts = formats.get(zone).formatToParts(new Date(ms));
  const v = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  const local = Date.UTC(+v.year, +v.month - 1, +v.day, +v.hour, +v.minute, +v.second);
  return Math.round((local - ms) / 60000);
}

// The pinned data's transitions, through zdump with TZDIR set.
function pinnedTransitions(zone) {
  const out = execFileSync("zdump", ["-v", "-c", "2010,2040", zone], {
    env: { ...process.env, TZDIR: path.resolve(tzdir), LC_ALL: "C" }, encoding: "utf8",
  });
  const list = [];
  for (const line of out.split("\n")) {
    const m = /^\S+\s+\w{3} (\w{3}) +(\d+) (\d+):(\d+):(\d+) (\d+) UT = .* gmtoff=(-?\d+)$/.exec(line);
    if (!m) continue;
    const mon = "JanFebMarAprMayJunJulAugSepOctNovDec".indexOf(m[1]) / 3;
    list.push({ ms: Date.UTC(+m[6], mon, +m[2], +m[3], +m[4], +m[5]), off: +m[7] / 60 });
  }
  return list;
}

// Both sides of every pinned transition, and every noon UTC in between, so a
// transition that only node's data has (or lacks) is seen too.
function pinnedSamples(zone) {
  const tr = pinnedTransitions(zone);
  const samples = tr.map((t) => ({ ms: t.ms, off: t.off }));
  for (let i = 0; i + 1 < tr.length; i++)
    if (tr[i + 1].ms - tr[i].ms === 1000)            /* zdump prints t-1 and t */
      samples.push({ ms: tr[i].ms, off: tr[i].off });
  const day = 86400000;
  for (let i = 0; i < tr.length; i++) {
    const end = i + 1 < tr.length ? tr[i + 1].ms : Date.UTC(2040, 0, 1);
    for (let ms = Math.ceil(tr[i].ms / day) * day + day / 2; ms < end; ms += day)
      samples.push({ ms, off: tr[i].off });
  }
  return samples;
}

console.log(`node ${process.versions.node}, ICU ${process.versions.icu}, ICU zone data ${process.versions.tz}`);
let pinned = "unknown release";
try {
  pinned = readFileSync(path.join(tzdir, "..", "zoneinfo.stamp"), "utf8").trim();
} catch {
  /* a zoneinfo directory that the build did not make: say so, go on */
}
console.log(`pinned zone data: ${pinned} (${tzdir})`);
let bad = 0;
for (const zone of new Set(rows.map((r) => r.zone))) {
  if (zone === "UTC") continue;
  let seen = 0;
  for (const t of pinnedSamples(zone)) {
    if (seen > 3) break;                               /* four per zone are enough to read */
    const got = icuOffset(zone, t.ms);
    if (got !== t.off) {
      console.error(`zone data differ: ${zone} at ${new Date(t.ms).toISOString()}: ` +
                    `pinned ${pinned} says ${t.off} min, node's ICU ${process.versions.tz} says ${got}`);
      bad++;
      seen++;
    }
  }
}
if (bad) {
  console.error("regen: node's zone data is not the pinned data for these zones; see the header");
  process.exit(1);
}

let differ = 0;
for (const r of rows) {
  let got;
  try {
    const job = new Cron(r.expr, { timezone: r.zone, fixedTimeRule: "no-wildcard", mode: "5-part", paused: true });
    got = job.nextRuns(r.croner.length, new Date(r.after)).map((d) => d.toISOString().replace(".000Z", "Z"));
  } catch {
    got = ["error"];
  }
  const same = got.join(",") === r.croner.join(",");
  if (!same) differ++;
  const tag = same ? "same   " : r.why ? "review " : "differs";
  console.log(`${tag} "${r.expr}" ${r.zone} after ${r.after}: .croner = {${got.map((x) => `"${x}"`).join(", ")}}`);
}
console.log(`${rows.length} rows, ${differ} where croner's answer is not the table's`);
process.exit(differ ? 1 : 0);
