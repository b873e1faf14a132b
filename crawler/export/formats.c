/*
 * formats.c — the four export formats (docs/export.md has the mappings and
 * the versions each targets).  Each writes into x->b only; export.c sends
 * the buffer on after every container.
 */
#include "export_internal.h"
#include "json.h"
#include "mc_build.h"

#include <jansson.h>
#include <string.h>

/* ---- shared pieces -------------------------------------------------------- */

static bool is_view(mc_kind k)
{
    return k == MC_KIND_VIEW || k == MC_KIND_MATVIEW || k == MC_KIND_LATE_BINDING_VIEW;
}

/* db.schema.name (exp_put_qualified) as a JSON string. */
static void put_qualified_str(mc_buf *b, const char *db, const char *schema, const char *name)
{
    mc_buf q = {0};
    exp_put_qualified(&q, db, schema, name);
    json_put_str(b, mc_buf_str(&q));
    mc_buf_free(&q);
}

/*
 * Whether field name is an element of pk, a canonical JSON array of
 * strings as the store keeps it (docs/store.md): the name written by the
 * same JSON writer, standing between '[' or ',' and ',' or ']'.  Inside an
 * element a quote is always escaped, so a match cannot start or end inside
 * one.
 */
static bool in_json_names(const char *pk, const char *name)
{
    if (!pk)
        return false;
    mc_buf q = {0};
    json_put_str(&q, name);
    bool found = false;
    size_t n = q.len;
    for (const char *p = strstr(pk, q.data); p && !found; p = strstr(p + 1, q.data))
        found = p > pk && (p[-1] == '[' || p[-1] == ',') && (p[n] == ',' || p[n] == ']');
    mc_buf_free(&q);
    return found;
}

/* ---- dbt: catalog.json, artifact schema v1 --------------------------------- */

#define DBT_SCHEMA_VERSION "https://schemas.getdbt.com/dbt/catalog/v1.json"
/* The dbt release whose published catalog v1 schema the export is checked
 * against (tests/export/schemas/README.md); tools that read dbt_version as
 * a dbt version get one that writes catalog v1. */
#define DBT_VERSION "1.9.0"

static const char *dbt_type(mc_kind k)
{
    switch (k) {
    case MC_KIND_VIEW: return "VIEW";
    case MC_KIND_MATVIEW: return "MATERIALIZED VIEW";
    case MC_KIND_LATE_BINDING_VIEW: return "LATE BINDING VIEW";
    case MC_KIND_FOREIGN: return "FOREIGN TABLE";
    case MC_KIND_EXTERNAL: return "EXTERNAL TABLE";
    case MC_KIND_TABLE:
    case MC_KIND_PARTITIONED:
    default: return "BASE TABLE";
    }
}

static void dbt_begin(exp_ctx *x)
{
    mc_buf *b = &x->b;
    bool first = true;
    mc_buf_puts(b, "{\"metadata\":{");
    json_put_kv_str(b, &first, "dbt_schema_version", DBT_SCHEMA_VERSION);
    json_put_kv_str(b, &first, "dbt_version", DBT_VERSION);
    json_put_kv_str(b, &first, "generated_at", x->at);
    json_put_kv_raw(b, &first, "invocation_id", NULL);
    first = json_put_key(b, first, "env");
    bool f2 = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &f2, "metacrawl_version", MC_VERSION);
    json_put_kv_str(b, &f2, "metacrawl_datastore", x->o->datastore);
    mc_buf_printf(b, ",\"metacrawl_run\":\"%lld\"", (long long)x->o->run);
    mc_buf_puts(b, "}},\"nodes\":{},\"sources\":{");
}

static void dbt_stat(mc_buf *b, bool *first, const char *id, const char *label,
                     const char *str_value, const double *num_value, bool bool_value,
                     bool include, const char *description)
{
    *first = json_put_key(b, *first, id);
    bool f = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &f, "id", id);
    json_put_kv_str(b, &f, "label", label);
    if (str_value)
        json_put_kv_str(b, &f, "value", str_value);
    else if (num_value)
        json_put_kv_num(b, &f, "value", *num_value);
    else
        json_put_kv_bool(b, &f, "value", bool_value);
    json_put_kv_bool(b, &f, "include", include);
    json_put_kv_str(b, &f, "description", description);
    mc_buf_putc(b, '}');
}

static void dbt_container(exp_ctx *x, const mc_catalog *cat, const mc_container *k)
{
    mc_buf *b = &x->b;
    mc_buf id = {0};
    mc_buf_puts(&id, "source.");
    exp_put_part(&id, x->o->dbt_project ? x->o->dbt_project : x->o->datastore);
    mc_buf_putc(&id, '.');
    exp_put_qualified(&id, NULL, k->schema, k->name);
    if (x->n)
        mc_buf_putc(b, ',');
    json_put_str(b, mc_buf_str(&id));
    mc_buf_puts(b, ":{\"metadata\":{");
    bool first = true;
    json_put_kv_str(b, &first, "type", dbt_type(k->kind));
    json_put_kv_str(b, &first, "schema", k->schema);
    json_put_kv_str(b, &first, "name", k->name);
    json_put_kv_str(b, &first, "database", x->o->database);
    json_put_kv_str(b, &first, "comment", k->comment);
    json_put_kv_str(b, &first, "owner", k->owner);
    mc_buf_puts(b, "},\"columns\":{");
    for (size_t i = 0; i < k->n_fields; i++) {
        const mc_field *f = &cat->fields[k->first_field + i];
        bool fc = true;
        if (i)
            mc_buf_putc(b, ',');
        json_put_str(b, f->name);
        mc_buf_puts(b, ":{");
        json_put_kv_str(b, &fc, "type", f->type);
        json_put_kv_int(b, &fc, "index", f->position);
        json_put_kv_str(b, &fc, "name", f->name);
        json_put_kv_str(b, &fc, "comment", f->comment);
        mc_buf_putc(b, '}');
    }
    mc_buf_puts(b, "},\"stats\":{");
    bool fs = true;
    bool has = k->row_estimate >= 0 || k->dist_style;
    if (k->row_estimate >= 0)
        dbt_stat(b, &fs, "row_count", "Approximate Row Count", NULL, &k->row_estimate, false,
                 true, "The planner's estimate of the number of rows, when metacrawl read it");
    if (k->dist_style)
        dbt_stat(b, &fs, "diststyle", "Dist Style", k->dist_style, NULL, false, true,
                 "Redshift distribution style");
    dbt_stat(b, &fs, "has_stats", "Has Stats?", NULL, NULL, has, false,
             "Indicates whether there are statistics for this table");
    mc_buf_puts(b, "},");
    bool fu = true;
    json_put_kv_str(b, &fu, "unique_id", mc_buf_str(&id));
    mc_buf_putc(b, '}');
    mc_buf_free(&id);
}

static void dbt_end(exp_ctx *x)
{
    mc_buf_puts(&x->b, "},\"errors\":null}\n");
}

/* ---- DataHub: MetadataChangeProposals for the file source ------------------ */

static const char *datahub_platform(const exp_ctx *x)
{
    return x->o->dialect && strcmp(x->o->dialect, "redshift") == 0 ? "redshift" : "postgres";
}

/* A dataset URN; the reserved characters of a URN's parts (, ( ) and
 * U+241F) are percent-encoded in the name as DataHub's own encoder does. */
static void datahub_urn(mc_buf *out, const exp_ctx *x, const mc_container *k)
{
    mc_buf q = {0};
    exp_put_qualified(&q, x->o->database, k->schema, k->name);
    mc_buf_printf(out, "urn:li:dataset:(urn:li:dataPlatform:%s,", datahub_platform(x));
    for (const char *p = mc_buf_str(&q); *p; p++) {
        if (*p == ',')
            mc_buf_puts(out, "%2C");
        else if (*p == '(')
            mc_buf_puts(out, "%28");
        else if (*p == ')')
            mc_buf_puts(out, "%29");
        else if (strncmp(p, "\xe2\x90\x9f", 3) == 0) {
            mc_buf_puts(out, "%E2%90%9F");
            p += 2;
        } else
            mc_buf_putc(out, *p);
    }
    mc_buf_printf(out, ",%s)", x->o->datahub_env ? x->o->datahub_env : "PROD");
    mc_buf_free(&q);
}

/* The head of one MCP up to the aspect's JSON value. */
static void datahub_mcp_begin(exp_ctx *x, const char *urn, const char *aspect)
{
    mc_buf *b = &x->b;
    bool first = true;
    mc_buf_puts(b, x->n_records++ ? ",\n{" : "\n{");
    json_put_kv_str(b, &first, "entityType", "dataset");
    json_put_kv_str(b, &first, "entityUrn", urn);
    json_put_kv_str(b, &first, "changeType", "UPSERT");
    json_put_kv_str(b, &first, "aspectName", aspect);
    mc_buf_puts(b, ",\"aspect\":{\"json\":");
}

static void datahub_mcp_end(exp_ctx *x)
{
    mc_buf_puts(&x->b, "}}");
}

/* DataHub's platform-independent type of a PostgreSQL / Redshift type. */
static const char *datahub_type(const char *t)
{
    static const struct {
        const char *prefix, *type;
    } map[] = {
        {"boolean", "BooleanType"},
        {"smallint", "NumberType"}, {"integer", "NumberType"}, {"bigint", "NumberType"},
        {"numeric", "NumberType"}, {"real", "NumberType"}, {"double precision", "NumberType"},
        {"money", "NumberType"}, {"oid", "NumberType"},
        {"character", "StringType"}, {"text", "StringType"}, {"name", "StringType"},
        {"citext", "StringType"}, {"uuid", "StringType"}, {"\"char\"", "StringType"},
        {"bytea", "BytesType"}, {"varbyte", "BytesType"}, {"binary varying", "BytesType"},
        {"date", "DateType"},
        {"timestamp", "TimeType"}, {"time", "TimeType"}, {"interval", "TimeType"},
        {"json", "RecordType"}, {"super", "RecordType"},
        {"hstore", "MapType"},
    };
    size_t n = strlen(t);
    if (n >= 2 && strcmp(t + n - 2, "[]") == 0)
        return "ArrayType";
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t m = strlen(map[i].prefix);
        if (strncmp(t, map[i].prefix, m) == 0 &&
            (t[m] == '\0' || t[m] == '(' || t[m] == ' ' || t[m] == 'b' /* jsonb */))
            return map[i].type;
    }
    return "NullType"; /* DataHub's type for one it does not know */
}

static void datahub_begin(exp_ctx *x)
{
    mc_buf_putc(&x->b, '[');
}

/*
 * upstreamLineage (com/linkedin/dataset/UpstreamLineage.pdl): what a view
 * or materialized view reads (depends_on, docs/lineage.md), type VIEW, one
 * upstream per container it reads, whether the catalog gave it or its text
 * named it.
 */
static void datahub_lineage(exp_ctx *x, const mc_container *k, const char *urn)
{
    json_t *deps = k->depends_on ? json_loads(k->depends_on, 0, NULL) : NULL;
    if (!json_array_size(deps)) {
        json_decref(deps);
        return;
    }
    mc_buf *b = &x->b;
    datahub_mcp_begin(x, urn, "upstreamLineage");
    mc_buf_puts(b, "{\"upstreams\":[");
    size_t i, n = 0;
    json_t *d;
    json_array_foreach(deps, i, d) {
        const char *schema = json_string_value(json_object_get(d, "schema"));
        const char *name = json_string_value(json_object_get(d, "name"));
        if (!schema || !name)
            continue;
        mc_container dep = {.schema = schema, .name = name};
        mc_buf durn = {0};
        datahub_urn(&durn, x, &dep);
        bool first = true;
        mc_buf_puts(b, n++ ? ",{" : "{");
        first = json_put_key(b, first, "auditStamp");
        mc_buf_printf(b, "{\"time\":%lld,\"actor\":\"urn:li:corpuser:metacrawl\"}",
                      (long long)x->o->run_at * 1000);
        json_put_kv_str(b, &first, "dataset", mc_buf_str(&durn));
        json_put_kv_str(b, &first, "type", "VIEW");
        mc_buf_putc(b, '}');
        mc_buf_free(&durn);
    }
    mc_buf_puts(b, "]}");
    datahub_mcp_end(x);
    json_decref(deps);
}

static void datahub_container(exp_ctx *x, const mc_catalog *cat, const mc_container *k)
{
    mc_buf *b = &x->b;
    mc_buf urn = {0};
    datahub_urn(&urn, x, k);
    int64_t ms = x->o->run_at * 1000;
    bool first;

    /* datasetProperties */
    datahub_mcp_begin(x, mc_buf_str(&urn), "datasetProperties");
    mc_buf_putc(b, '{');
    first = true;
    if (k->comment)
        json_put_kv_str(b, &first, "description", k->comment);
    first = json_put_key(b, first, "customProperties");
    bool fp = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &fp, "kind", mc_kind_name(k->kind));
    if (k->owner)
        json_put_kv_str(b, &fp, "owner", k->owner);
    if (k->extension)
        json_put_kv_str(b, &fp, "extension", k->extension);
    if (k->dist_style)
        json_put_kv_str(b, &fp, "dist_style", k->dist_style);
    if (k->sort_key)
        json_put_kv_str(b, &fp, "sort_key", k->sort_key);
    if (k->row_estimate >= 0) {
        char est[32];
        snprintf(est, sizeof est, "%.0f", k->row_estimate);
        json_put_kv_str(b, &fp, "row_estimate", est);
    }
    mc_buf_putc(b, '}');
    first = json_put_key(b, first, "tags");
    mc_buf_puts(b, "[]}");
    datahub_mcp_end(x);

    /* schemaMetadata */
    datahub_mcp_begin(x, mc_buf_str(&urn), "schemaMetadata");
    mc_buf_putc(b, '{');
    first = true;
    first = json_put_key(b, first, "schemaName");
    put_qualified_str(b, x->o->database, k->schema, k->name);
    mc_buf_printf(b, ",\"platform\":\"urn:li:dataPlatform:%s\",\"version\":0,",
                  datahub_platform(x));
    mc_buf_printf(b, "\"created\":{\"time\":%lld,\"actor\":\"urn:li:corpuser:unknown\"},",
                  (long long)ms);
    mc_buf_printf(b, "\"lastModified\":{\"time\":%lld,\"actor\":\"urn:li:corpuser:unknown\"},",
                  (long long)ms);
    mc_buf_printf(b, "\"hash\":\"%016llx\",", (unsigned long long)mc_container_hash(cat, k));
    mc_buf_puts(b, "\"platformSchema\":{\"com.linkedin.schema.MySqlDDL\":{\"tableSchema\":\"\"}},"
                   "\"fields\":[");
    for (size_t i = 0; i < k->n_fields; i++) {
        const mc_field *f = &cat->fields[k->first_field + i];
        bool ff = true;
        if (i)
            mc_buf_putc(b, ',');
        mc_buf_putc(b, '{');
        json_put_kv_str(b, &ff, "fieldPath", f->name);
        json_put_kv_bool(b, &ff, "nullable", !f->not_null);
        if (f->comment)
            json_put_kv_str(b, &ff, "description", f->comment);
        mc_buf_printf(b, ",\"type\":{\"type\":{\"com.linkedin.schema.%s\":{}}}",
                      datahub_type(f->type));
        json_put_kv_str(b, &ff, "nativeDataType", f->type);
        json_put_kv_bool(b, &ff, "recursive", false);
        json_put_kv_bool(b, &ff, "isPartOfKey", in_json_names(k->primary_key, f->name));
        mc_buf_putc(b, '}');
    }
    mc_buf_putc(b, ']');
    if (k->primary_key)
        json_put_kv_raw(b, &first, "primaryKeys", k->primary_key);
    mc_buf_putc(b, '}');
    datahub_mcp_end(x);

    /* subTypes */
    datahub_mcp_begin(x, mc_buf_str(&urn), "subTypes");
    mc_buf_printf(b, "{\"typeNames\":[\"%s\"]}", is_view(k->kind) ? "View" : "Table");
    datahub_mcp_end(x);

    /* viewProperties */
    if (is_view(k->kind) && k->definition) {
        datahub_mcp_begin(x, mc_buf_str(&urn), "viewProperties");
        mc_buf_putc(b, '{');
        first = true;
        json_put_kv_bool(b, &first, "materialized", k->kind == MC_KIND_MATVIEW);
        json_put_kv_str(b, &first, "viewLogic", k->definition);
        json_put_kv_str(b, &first, "viewLanguage", "SQL");
        mc_buf_putc(b, '}');
        datahub_mcp_end(x);
    }
    datahub_lineage(x, k, mc_buf_str(&urn));
    mc_buf_free(&urn);
}

static void datahub_end(exp_ctx *x)
{
    mc_buf_puts(&x->b, "]\n");
}

/* ---- OpenLineage: static DatasetEvents, one per line ----------------------- */

#define OL_EVENT_SCHEMA "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"
#define OL_SCHEMA_FACET \
    "https://openlineage.io/spec/facets/1-0-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
#define OL_DOC_FACET                                                        \
    "https://openlineage.io/spec/facets/1-0-1/DocumentationDatasetFacet.json" \
    "#/$defs/DocumentationDatasetFacet"
#define OL_PRODUCER "urn:metacrawl:" MC_VERSION

/*
 * The namespace of the OpenLineage naming spec: postgres://HOST:PORT, or
 * redshift://CLUSTER.REGION:PORT, where a provisioned cluster's endpoint
 * CLUSTER.ID.REGION.redshift.amazonaws.com and a serverless one's
 * WORKGROUP.ACCOUNT.REGION.redshift-serverless.amazonaws.com give CLUSTER
 * (or WORKGROUP) and REGION; any other host name is used as it is.
 */
static void ol_namespace(mc_buf *b, const exp_ctx *x)
{
    const char *h = x->o->host ? x->o->host : "";
    if (x->o->dialect && strcmp(x->o->dialect, "redshift") == 0) {
        const char *d1 = strchr(h, '.');
        const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
        const char *d3 = d2 ? strchr(d2 + 1, '.') : NULL;
        if (d3 && (strcmp(d3, ".redshift.amazonaws.com") == 0 ||
                   strcmp(d3, ".redshift-serverless.amazonaws.com") == 0)) {
            mc_buf_printf(b, "redshift://%.*s.%.*s:%d", (int)(d1 - h), h,
                          (int)(d3 - d2 - 1), d2 + 1, x->o->port);
            return;
        }
        mc_buf_printf(b, "redshift://%s:%d", h, x->o->port);
        return;
    }
    mc_buf_printf(b, "postgres://%s:%d", h, x->o->port);
}

static void ol_begin(exp_ctx *x)
{
    (void)x;
}

static void ol_container(exp_ctx *x, const mc_catalog *cat, const mc_container *k)
{
    mc_buf *b = &x->b;
    mc_buf ns = {0};
    ol_namespace(&ns, x);
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &first, "eventTime", x->at);
    json_put_kv_str(b, &first, "producer", OL_PRODUCER);
    json_put_kv_str(b, &first, "schemaURL", OL_EVENT_SCHEMA);
    mc_buf_puts(b, ",\"dataset\":{");
    bool fd = true;
    json_put_kv_str(b, &fd, "namespace", mc_buf_str(&ns));
    fd = json_put_key(b, fd, "name");
    put_qualified_str(b, x->o->database, k->schema, k->name);
    mc_buf_puts(b, ",\"facets\":{\"schema\":{");
    bool fs = true;
    json_put_kv_str(b, &fs, "_producer", OL_PRODUCER);
    json_put_kv_str(b, &fs, "_schemaURL", OL_SCHEMA_FACET);
    mc_buf_puts(b, ",\"fields\":[");
    for (size_t i = 0; i < k->n_fields; i++) {
        const mc_field *f = &cat->fields[k->first_field + i];
        bool ff = true;
        if (i)
            mc_buf_putc(b, ',');
        mc_buf_putc(b, '{');
        json_put_kv_str(b, &ff, "name", f->name);
        json_put_kv_str(b, &ff, "type", f->type);
        if (f->comment)
            json_put_kv_str(b, &ff, "description", f->comment);
        mc_buf_putc(b, '}');
    }
    mc_buf_puts(b, "]}");
    if (k->comment) {
        bool fc = true;
        mc_buf_puts(b, ",\"documentation\":{");
        json_put_kv_str(b, &fc, "_producer", OL_PRODUCER);
        json_put_kv_str(b, &fc, "_schemaURL", OL_DOC_FACET);
        json_put_kv_str(b, &fc, "description", k->comment);
        mc_buf_putc(b, '}');
    }
    mc_buf_puts(b, "}}}\n");
    mc_buf_free(&ns);
}

static void ol_end(exp_ctx *x)
{
    (void)x;
}

/* ---- metacrawl's own JSON ---------------------------------------------------- */

static void json_begin(exp_ctx *x)
{
    mc_buf *b = &x->b;
    const mc_export_opts *o = x->o;
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &first, "format", "metacrawl-export");
    json_put_kv_int(b, &first, "version", MC_EXPORT_JSON_VERSION);
    json_put_kv_str(b, &first, "metacrawl", MC_VERSION);
    json_put_kv_str(b, &first, "datastore", o->datastore);
    json_put_kv_str(b, &first, "dialect", o->dialect);
    json_put_kv_str(b, &first, "database", o->database);
    json_put_kv_int(b, &first, "run", o->run);
    json_put_kv_str(b, &first, "run_at", x->at);
    if (o->as_of)
        json_put_kv_int(b, &first, "as_of", o->as_of);
    else
        json_put_kv_raw(b, &first, "as_of", NULL);
    first = json_put_key(b, first, "schemas");
    mc_buf_putc(b, '[');
    for (size_t i = 0; i < x->schemas->n_schemas; i++) {
        const mc_schema *s = &x->schemas->schemas[i];
        bool fs = true;
        if (i)
            mc_buf_putc(b, ',');
        mc_buf_putc(b, '{');
        json_put_kv_str(b, &fs, "name", s->name);
        json_put_kv_str(b, &fs, "owner", s->owner);
        json_put_kv_str(b, &fs, "comment", s->comment);
        json_put_kv_bool(b, &fs, "external", s->external);
        mc_buf_putc(b, '}');
    }
    mc_buf_puts(b, "],\"containers\":[");
}

static void json_container(exp_ctx *x, const mc_catalog *cat, const mc_container *k)
{
    if (x->n)
        mc_buf_puts(&x->b, ",\n");
    else
        mc_buf_putc(&x->b, '\n');
    mc_export_json_container(&x->b, cat, k, true);
}

static void json_end(exp_ctx *x)
{
    mc_buf_puts(&x->b, "]}\n");
}

const exp_format exp_formats[MC_EXPORT__COUNT] = {
    [MC_EXPORT_DBT_CATALOG] = {dbt_begin, dbt_container, dbt_end},
    [MC_EXPORT_DATAHUB] = {datahub_begin, datahub_container, datahub_end},
    [MC_EXPORT_OPENLINEAGE] = {ol_begin, ol_container, ol_end},
    [MC_EXPORT_JSON] = {json_begin, json_container, json_end},
};
