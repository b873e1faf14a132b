// validate.mjs — checks an export of metacrawl against the published
// schema of its format (tests/export/schemas/README.md says where each
// comes from), with ajv from tests/npm (installed by tests/install-deps.sh).
//
//   node validate.mjs FORMAT FILE [SOURCE_ROOT]
//
// FORMAT: dbt-catalog | datahub | openlineage | json.  Exit 0 when every
// record is valid, 1 with each error on stderr, 2 for a usage error or a
// missing validator.  Besides the schema, it checks what a schema cannot
// say but the specification does (each is named in its message).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = process.argv[4] || join(here, '..', '..');
const [format, file] = process.argv.slice(2);
if (!format || !file) {
  console.error('usage: node validate.mjs FORMAT FILE [SOURCE_ROOT]');
  process.exit(2);
}

let Ajv2020, addFormats;
try {
  const require = createRequire(join(root, 'tests', 'npm', 'package.json'));
  Ajv2020 = require('ajv/dist/2020').default;
  addFormats = require('ajv-formats').default;
} catch (e) {
  console.error(`validate: ajv is not installed (${e.message}); run: bash tests/install-deps.sh`);
  process.exit(2);
}

const schemaDir = join(root, 'tests', 'export', 'schemas');
const load = (p) => JSON.parse(readFileSync(p, 'utf8'));
// strict off: the published schemas use annotation keywords ajv does not
// know ("example").
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

let failures = 0;
function fail(where, msg) {
  failures++;
  if (failures <= 50) console.error(`${file}: ${where}: ${msg}`);
}
function check(validate, value, where) {
  if (!validate(value))
    for (const e of validate.errors)
      fail(where, `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}

const text = readFileSync(file, 'utf8');

if (format === 'dbt-catalog') {
  const v = ajv.compile(load(join(schemaDir, 'dbt', 'catalog-v1.json')));
  const doc = JSON.parse(text);
  check(v, doc, 'catalog');
  if (doc.metadata?.dbt_schema_version !== 'https://schemas.getdbt.com/dbt/catalog/v1.json')
    fail('metadata', 'dbt_schema_version is not catalog v1');
  for (const [key, t] of Object.entries({ ...doc.nodes, ...doc.sources }))
    if (t.unique_id !== key) fail(key, 'a table is keyed by its unique_id (dbt artifacts)');
} else if (format === 'openlineage') {
  ajv.addSchema(load(join(schemaDir, 'openlineage', 'OpenLineage-1-0-2.json')));
  ajv.addSchema(load(join(schemaDir, 'openlineage', 'OpenLineage-1-0-1.json')));
  const facetSchemas = {
    schema: load(join(schemaDir, 'openlineage', 'facets', 'SchemaDatasetFacet.json')),
    documentation: load(join(schemaDir, 'openlineage', 'facets', 'DocumentationDatasetFacet.json')),
  };
  const facetUrl = {
    schema: 'https://openlineage.io/spec/facets/1-0-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet',
    documentation:
      'https://openlineage.io/spec/facets/1-0-1/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet',
  };
  const facetCheck = {};
  for (const [k, s] of Object.entries(facetSchemas)) facetCheck[k] = ajv.compile(s);
  const event = ajv.compile(load(join(schemaDir, 'openlineage', 'DatasetEvent-2-0-2.json')));
  const lines = text.split('\n');
  if (lines.pop() !== '') fail('end', 'the last event does not end with a newline');
  const seen = new Set();
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`;
    let ev;
    try {
      ev = JSON.parse(line);
    } catch (e) {
      fail(where, `not JSON: ${e.message}`);
      return;
    }
    check(event, ev, where);
    if (ev.schemaURL !== 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent')
      fail(where, 'schemaURL does not name the 2-0-2 DatasetEvent');
    const ds = ev.dataset || {};
    const id = `${ds.namespace} ${ds.name}`;
    if (seen.has(id)) fail(where, `dataset ${id} twice: a dataset's name is unique in its namespace`);
    seen.add(id);
    if (!/^(postgres|redshift):\/\/[^/:]+:\d+$/.test(ds.namespace || ''))
      fail(where, `namespace ${ds.namespace} is not scheme://host:port (OpenLineage naming)`);
    for (const [k, facet] of Object.entries(ds.facets || {})) {
      if (!facetCheck[k]) {
        fail(where, `facet ${k} has no vendored schema`);
        continue;
      }
      check(facetCheck[k], { [k]: facet }, `${where} facet ${k}`);
      if (facet._schemaURL !== facetUrl[k]) fail(where, `facet ${k}: _schemaURL ${facet._schemaURL}`);
    }
    if (!ds.facets?.schema) fail(where, 'no schema facet');
  });
} else if (format === 'datahub') {
  const v = ajv.compile(load(join(schemaDir, 'datahub', 'mcp-file.json')));
  const doc = JSON.parse(text);
  check(v, doc, 'mcps');
  for (const [i, mcp] of (Array.isArray(doc) ? doc : []).entries()) {
    const a = mcp.aspect?.json;
    if (mcp.aspectName !== 'schemaMetadata' || !a) continue;
    const paths = new Set((a.fields || []).map((f) => f.fieldPath));
    if (paths.size !== (a.fields || []).length) fail(`mcp ${i}`, 'two fields with one fieldPath');
    for (const pk of a.primaryKeys || [])
      if (!paths.has(pk)) fail(`mcp ${i}`, `primary key ${pk} is no field's fieldPath (SchemaMetadata.pdl)`);
    for (const f of a.fields || [])
      if (f.isPartOfKey !== (a.primaryKeys || []).includes(f.fieldPath))
        fail(`mcp ${i}`, `field ${f.fieldPath}: isPartOfKey disagrees with primaryKeys`);
    const platform = mcp.entityUrn.match(/^urn:li:dataset:\((urn:li:dataPlatform:[^,]+),/)?.[1];
    if (platform !== a.platform) fail(`mcp ${i}`, 'schemaMetadata.platform is not the URN\'s platform');
  }
} else if (format === 'json') {
  const v = ajv.compile(load(join(root, 'docs', 'export-schema.json')));
  check(v, JSON.parse(text), 'export');
} else {
  console.error(`validate: unknown format ${format}`);
  process.exit(2);
}

if (failures > 50) console.error(`${file}: ... ${failures - 50} more`);
if (failures) process.exit(1);
console.log(`${file}: valid ${format}`);
