// bench/pg-structure.js — one full discovery by the npm package pg-structure
// (bench/npm pins its version), measured by bench/run.sh (issue 19).
//
// Usage: node bench/pg-structure.js SCHEMA...
// Connection from the environment: BENCH_PGHOST, BENCH_PGPORT, BENCH_PGDATABASE,
// BENCH_PGUSER, BENCH_PGPASSWORD. Prints one JSON line with what it found
// (schemas, tables, columns), so that the bench can check it read the catalog.
"use strict";
const path = require("path");
const pgStructure = require(path.join(__dirname, "npm", "node_modules", "pg-structure")).default;

async function main() {
  const schemas = process.argv.slice(2);
  if (schemas.length === 0) throw new Error("usage: node pg-structure.js SCHEMA...");
  const env = process.env;
  const db = await pgStructure(
    {
      host: env.BENCH_PGHOST,
      port: Number(env.BENCH_PGPORT),
      database: env.BENCH_PGDATABASE,
      user: env.BENCH_PGUSER,
      password: env.BENCH_PGPASSWORD,
    },
    { includeSchemas: schemas },
  );
  let tables = 0;
  let columns = 0;
  for (const schema of db.schemas) {
    for (const table of schema.tables) {
      tables += 1;
      columns += table.columns.length;
    }
  }
  process.stdout.write(JSON.stringify({ schemas: db.schemas.length, tables, columns }) + "\n");
}

main().catch((err) => {
  process.stderr.write(`pg-structure: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
