/*
 * report.c — the shapes of what metacrawl reports (docs/changes.md,
 * docs/commands.md): changes as grouped terminal lines and as JSON, a
 * crawl's report, foreign-key differences, and terminal-safe printing of
 * every name and comment that came from the warehouse.  The command line,
 * the alerts, the scheduler and the docs site all print through here, so a
 * change looks the same everywhere.
 *
 * Terminal output escapes control characters in every name and comment
 * that came from the warehouse: a table called "\e]0;pwned\a" must not
 * drive the user's terminal.
 */
#include "report.h"
#include "crawl.h"
#include "json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void (*error_observer)(const mc_error *err);

void report_set_error_observer(void (*observer)(const mc_error *err))
{
    error_observer = observer;
}

void report_error(const mc_error *err)
{
    if (error_observer)
        error_observer(err);
    fprintf(stderr, "metacrawl: error: %s\n", err->message);
    if (err->hint[0])
        fprintf(stderr, "  hint: %s\n", err->hint);
}

bool report_use_color(void)
{
    return isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
}

/* Terminal safety: every name and comment from the warehouse goes through
 * mc_term_escape. */
size_t report_put_safe(FILE *f, const char *s)
{
    if (!s) {
        fputs("(none)", f);
        return 6;
    }
    mc_buf b = {0};
    size_t cols = mc_term_escape(&b, s);
    fputs(mc_buf_str(&b), f);
    mc_buf_free(&b);
    return cols;
}

size_t report_change_cap = REPORT_CHANGE_CAP;

const char *report_plural(int64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

void report_put_safe_short(FILE *f, const char *s, size_t max_cols)
{
    if (!s) {
        fputs("(none)", f);
        return;
    }
    mc_buf b = {0};
    size_t cols = mc_term_escape(&b, s);
    const char *t = mc_buf_str(&b);
    if (cols <= max_cols || max_cols < 2) {
        fputs(t, f);
    } else {
        /* cut after max_cols - 1 characters (escapes are ASCII), then "…" */
        size_t i = 0, n = 0;
        while (t[i] && n < max_cols - 1) {
            i++;
            while ((t[i] & 0xc0) == 0x80)
                i++;
            n++;
        }
        fwrite(t, 1, i, f);
        fputs("\u2026", f);
    }
    mc_buf_free(&b);
}

void report_put_safe_pad(FILE *f, const char *s, size_t width)
{
    size_t cols = report_put_safe(f, s);
    fprintf(f, "%*s", (int)(cols < width ? width - cols : 1), "");
}

/* A JSON value for people: strings unquoted (long ones shortened), null as
 * (none). */
static void put_json_value(FILE *f, const char *json)
{
    if (!json) {
        fputs("(none)", f);
        return;
    }
    json_error_t jerr;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &jerr);
    if (v && json_is_string(v))
        report_put_safe_short(f, json_string_value(v), REPORT_COMMENT_COLS);
    else if (v && json_is_null(v))
        fputs("(none)", f);
    else
        report_put_safe(f, json);
    json_decref(v);
}

int report_max_code(int a, int b)
{
    return a > b ? a : b;
}

/* ---- printing changes ------------------------------------------------------ */

static const char *change_symbol(mc_change_kind k)
{
    switch (k) {
    case MC_SCHEMA_ADDED:
    case MC_CONTAINER_ADDED:
    case MC_FIELD_ADDED: return "+";
    case MC_SCHEMA_REMOVED:
    case MC_CONTAINER_REMOVED:
    case MC_FIELD_REMOVED: return "-";
    case MC_CONTAINER_RENAMED:
    case MC_FIELD_RENAMED: return ">";
    case MC_DATASTORE_STALE: return "!";
    default: return "~";
    }
}

/* "(a, b)" from a JSON array of names. */
void report_put_name_list(FILE *f, json_t *arr)
{
    size_t i;
    json_t *v;
    fputc('(', f);
    json_array_foreach(arr, i, v) {
        if (i)
            fputs(", ", f);
        report_put_safe(f, json_string_value(v));
    }
    fputc(')', f);
}

/* One foreign key: "name (cols) -> schema.table (cols)". */
void report_put_fk(FILE *f, json_t *fk)
{
    report_put_safe(f, json_string_value(json_object_get(fk, "name")));
    fputc(' ', f);
    report_put_name_list(f, json_object_get(fk, "columns"));
    fputs(" -> ", f);
    report_put_safe(f, json_string_value(json_object_get(fk, "ref_schema")));
    fputc('.', f);
    report_put_safe(f, json_string_value(json_object_get(fk, "ref_container")));
    fputc(' ', f);
    report_put_name_list(f, json_object_get(fk, "ref_columns"));
    const char *part = json_string_value(json_object_get(fk, "partition"));
    if (part) {
        fputs(" (declared on partition ", f);
        report_put_safe(f, part);
        fputc(')', f);
    }
}

static bool fk_in(json_t *fk, json_t *list)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        if (json_equal(v, fk))
            return true;
    }
    return false;
}

void report_fk_diff(const char *before, const char *after,
                    void (*each)(void *ctx, bool added, json_t *fk), void *ctx)
{
    json_t *b = before ? json_loads(before, 0, NULL) : NULL;
    json_t *a = after ? json_loads(after, 0, NULL) : NULL;
    size_t i;
    json_t *v;
    json_array_foreach(b, i, v) {
        if (!fk_in(v, a))
            each(ctx, false, v);
    }
    json_array_foreach(a, i, v) {
        if (!fk_in(v, b))
            each(ctx, true, v);
    }
    json_decref(a);
    json_decref(b);
}

static void put_fk_change(void *f, bool added, json_t *fk)
{
    fputs(added ? " + " : " - ", f);
    report_put_fk(f, fk);
}

/* What a change is, on one line, without its object (the heading says it). */
static void put_change_body(FILE *f, const mc_change *c, bool color)
{
    switch (c->kind) {
    case MC_SCHEMA_ADDED:
    case MC_SCHEMA_REMOVED:
        fprintf(f, "schema %s", c->kind == MC_SCHEMA_ADDED ? "added" : "removed");
        break;
    case MC_CONTAINER_ADDED:
    case MC_CONTAINER_REMOVED: {
        json_t *o = json_loads(c->kind == MC_CONTAINER_ADDED ? c->after : c->before, 0, NULL);
        const char *kind = o ? json_string_value(json_object_get(o, "kind")) : NULL;
        fprintf(f, "%s %s", kind ? kind : "container",
                c->kind == MC_CONTAINER_ADDED ? "added" : "removed");
        json_t *fields = o ? json_object_get(o, "fields") : NULL;
        if (fields)
            fprintf(f, " (%zu %s)", json_array_size(fields),
                    report_plural((int64_t)json_array_size(fields), "column", "columns"));
        json_decref(o);
        break;
    }
    case MC_FIELD_ADDED:
    case MC_FIELD_REMOVED: {
        json_t *o = json_loads(c->kind == MC_FIELD_ADDED ? c->after : c->before, 0, NULL);
        fputs("column ", f);
        report_put_safe(f, c->field);
        const char *type = o ? json_string_value(json_object_get(o, "type")) : NULL;
        if (type) {
            fputs(" (", f);
            report_put_safe(f, type);
            fputc(')', f);
        }
        fputs(c->kind == MC_FIELD_ADDED ? " added" : " removed", f);
        json_decref(o);
        break;
    }
    case MC_DATASTORE_STALE:
        fputs("datastore stale: last successful crawl ", f);
        put_json_value(f, c->after);
        break;
    case MC_DATASTORE_RECOVERED:
        fputs("datastore recovered: crawled successfully ", f);
        put_json_value(f, c->after);
        break;
    case MC_CONTAINER_RENAMED:
    case MC_FIELD_RENAMED: {
        if (c->kind == MC_FIELD_RENAMED) {
            fputs("column ", f);
            report_put_safe(f, c->field);
            fputs(" renamed from ", f);
            put_json_value(f, c->before);
        } else {
            fputs("container renamed from ", f);
            json_t *o = json_loads(c->before, 0, NULL);
            report_put_safe(f, o ? json_string_value(json_object_get(o, "schema")) : NULL);
            fputc('.', f);
            report_put_safe(f, o ? json_string_value(json_object_get(o, "name")) : NULL);
            json_decref(o);
        }
        if (c->by_similarity)
            fputs(" (matched by shape, not by id)", f);
        break;
    }
    default:
        if (c->field) {
            fputs("column ", f);
            report_put_safe(f, c->field);
            fputc(' ', f);
        }
        if (c->attribute && strcmp(c->attribute, "definition") == 0) {
            /* a view's text is long and multi-line: the new text is in
             * `show` and --json */
            fputs("definition changed", f);
        } else if (c->attribute && strcmp(c->attribute, "foreign_keys") == 0) {
            fputs("foreign keys:", f);
            report_fk_diff(c->before, c->after, put_fk_change, f);
        } else {
            fprintf(f, "%s: ", c->attribute ? c->attribute : "?");
            put_json_value(f, c->before);
            fputs(" -> ", f);
            put_json_value(f, c->after);
        }
        break;
    }
    if (c->breaking)
        fputs(color ? "  \033[31mbreaking\033[0m" : "  breaking", f);
}

static void print_change_line(FILE *f, const mc_change *c, bool color)
{
    fprintf(f, "    %s ", change_symbol(c->kind));
    put_change_body(f, c, color);
    fputc('\n', f);
    if (c->impact)
        report_print_impact(f, c->impact, "      ");
}

/* ---- impact (docs/lineage.md) ---------------------------------------------------- */

const char *report_kind_words(const char *kind)
{
    int k = kind ? mc_kind_parse(kind) : -1;
    switch (k) {
    case MC_KIND_VIEW: return "view";
    case MC_KIND_MATVIEW: return "materialized view";
    case MC_KIND_LATE_BINDING_VIEW: return "late-binding view";
    case MC_KIND_TABLE: return "table";
    case MC_KIND_PARTITIONED: return "partitioned table";
    case MC_KIND_FOREIGN: return "foreign table";
    case MC_KIND_EXTERNAL: return "external table";
    default: return "object";
    }
}

size_t report_impact_cap = REPORT_IMPACT_CAP;

void report_print_impact(FILE *f, const char *impact, const char *indent)
{
    json_t *o = impact ? json_loads(impact, 0, NULL) : NULL;
    json_t *views = json_object_get(o, "views"), *fks = json_object_get(o, "foreign_keys");
    size_t nv = json_array_size(views), nk = json_array_size(fks);
    if (!nv && !nk) {
        json_decref(o);
        return;
    }
    fprintf(f, "%simpact: ", indent);
    if (nv)
        fprintf(f, "%zu %s", nv, report_plural((int64_t)nv, "view reads it", "views read it"));
    if (nk)
        fprintf(f, "%s%zu foreign %s", nv ? ", " : "", nk,
                report_plural((int64_t)nk, "key points at it", "keys point at it"));
    fputc('\n', f);
    size_t shown = 0, i;
    json_t *v;
    json_array_foreach(views, i, v) {
        if (report_impact_cap && shown == report_impact_cap)
            break;
        shown++;
        fprintf(f, "%s  %s ", indent,
                report_kind_words(json_string_value(json_object_get(v, "kind"))));
        report_put_safe(f, json_string_value(json_object_get(v, "schema")));
        fputc('.', f);
        report_put_safe(f, json_string_value(json_object_get(v, "name")));
        json_t *via = json_object_get(v, "via");
        const char *source = json_string_value(json_object_get(v, "source"));
        if (json_is_object(via)) {
            fputs(" (through ", f);
            report_put_safe(f, json_string_value(json_object_get(via, "schema")));
            fputc('.', f);
            report_put_safe(f, json_string_value(json_object_get(via, "name")));
            fputc(')', f);
        } else if (source && strcmp(source, "parsed") == 0) {
            fputs(" (named in its text)", f);
        }
        fputc('\n', f);
    }
    json_array_foreach(fks, i, v) {
        if (report_impact_cap && shown == report_impact_cap)
            break;
        shown++;
        fprintf(f, "%s  foreign key ", indent);
        report_put_safe(f, json_string_value(json_object_get(v, "name")));
        fputs(" of ", f);
        report_put_safe(f, json_string_value(json_object_get(v, "schema")));
        fputc('.', f);
        report_put_safe(f, json_string_value(json_object_get(v, "container")));
        fputc(' ', f);
        report_put_name_list(f, json_object_get(v, "columns"));
        fputs(" -> ", f);
        report_put_name_list(f, json_object_get(v, "ref_columns"));
        fputc('\n', f);
    }
    if (shown < nv + nk)
        fprintf(f, "%s  ... %zu more (--json lists them all)\n", indent, nv + nk - shown);
    json_decref(o);
}

char *report_change_text(const mc_change *c)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f)
        abort(); /* only when memory is exhausted, as mc_malloc */
    put_change_body(f, c, false);
    fclose(f);
    return s;
}

/* Changes grouped under "schema" and "schema.container" headings. */
void report_print_changes(FILE *f, const mc_changes *cs)
{
    bool color = report_use_color();
    const char *last_schema = NULL, *last_container = NULL;
    bool have_heading = false;
    size_t shown = 0;
    for (size_t i = 0; i < cs->n; i++) {
        const mc_change *c = &cs->items[i];
        if (report_change_cap && shown == report_change_cap) {
            size_t left = cs->n - i;
            fprintf(f, "  ... %zu more %s not shown: --all shows them all, --json gives "
                       "them as JSON\n", left, report_plural((int64_t)left, "change", "changes"));
            break;
        }
        shown++;
        if (!c->schema) { /* a datastore event: no object, no heading */
            print_change_line(f, c, color);
            have_heading = false;
            continue;
        }
        bool same = have_heading && strcmp(c->schema, last_schema) == 0 &&
                    ((!c->container && !last_container) ||
                     (c->container && last_container &&
                      strcmp(c->container, last_container) == 0));
        if (!same) {
            fputs("  ", f);
            if (color)
                fputs("\033[1m", f);
            report_put_safe(f, c->schema);
            if (c->container) {
                fputc('.', f);
                report_put_safe(f, c->container);
            }
            if (color)
                fputs("\033[0m", f);
            fputc('\n', f);
            last_schema = c->schema;
            last_container = c->container;
            have_heading = true;
        }
        print_change_line(f, c, color);
    }
}

size_t report_count_breaking(const mc_changes *cs)
{
    size_t n = 0;
    for (size_t i = 0; i < cs->n; i++)
        n += cs->items[i].breaking;
    return n;
}

void report_json_change(mc_buf *b, const mc_change *c, const char *datastore,
                        int64_t run)
{
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &first, "kind", mc_change_kind_name(c->kind));
    json_put_kv_str(b, &first, "datastore", datastore);
    json_put_kv_str(b, &first, "schema", c->schema);
    json_put_kv_str(b, &first, "container", c->container);
    json_put_kv_str(b, &first, "field", c->field);
    json_put_kv_str(b, &first, "attribute", c->attribute);
    json_put_kv_raw(b, &first, "before", c->before);
    json_put_kv_raw(b, &first, "after", c->after);
    json_put_kv_bool(b, &first, "breaking", c->breaking);
    json_put_kv_raw(b, &first, "impact", c->impact);
    if (c->by_similarity)
        json_put_kv_str(b, &first, "matched_by", "similarity");
    if (run > 0)
        json_put_kv_int(b, &first, "run", run);
    mc_buf_putc(b, '}');
}

void report_json_changes(mc_buf *b, const mc_changes *cs, const char *datastore,
                         const int64_t *runs, int64_t run)
{
    mc_buf_putc(b, '[');
    for (size_t i = 0; i < cs->n; i++) {
        if (i)
            mc_buf_putc(b, ',');
        report_json_change(b, &cs->items[i], datastore, runs ? runs[i] : run);
    }
    mc_buf_putc(b, ']');
}

void report_json_error(mc_buf *b, bool *first, const mc_error *err)
{
    if (!err->code) {
        json_put_kv_raw(b, first, "error", NULL);
        return;
    }
    *first = json_put_key(b, *first, "error");
    bool f2 = true;
    mc_buf_putc(b, '{');
    json_put_kv_int(b, &f2, "code", err->code);
    json_put_kv_str(b, &f2, "message", err->message);
    json_put_kv_str(b, &f2, "hint", err->hint[0] ? err->hint : NULL);
    mc_buf_putc(b, '}');
}

void report_print_crawl(const crawl_report *r)
{
    printf("%s: ", r->ds->name);
    if (r->status == MC_RUN_FAILED) {
        printf("failed after %.1fs\n", r->seconds);
        return;
    }
    if (r->run_id)
        printf("run %lld ", (long long)r->run_id);
    else
        printf("dry run ");
    printf("%s in %.1fs: %lld %s, %lld %s, %lld %s (%s)\n",
           mc_run_status_name(r->status), r->seconds, (long long)r->n_schemas,
           report_plural(r->n_schemas, "schema", "schemas"), (long long)r->n_containers,
           report_plural(r->n_containers, "container", "containers"), (long long)r->n_fields,
           report_plural(r->n_fields, "field", "fields"),
           r->server_version ? r->server_version : "?");
    report_print_facts_outcome(r);
    report_print_crawl_changes(r);
}

void report_print_crawl_changes(const crawl_report *r)
{
    if (r->baseline && !r->run_id) {
        printf("  first crawl of this datastore: a crawl would record the catalog; "
               "dry run, nothing recorded\n");
    } else if (r->baseline) {
        printf("  first crawl of this datastore: catalog recorded, no changes reported\n");
    } else if (r->diff.changes.n == 0) {
        printf("  no changes\n");
    } else {
        printf("  %zu %s (%zu breaking)\n", r->diff.changes.n,
               report_plural((int64_t)r->diff.changes.n, "change", "changes"),
               report_count_breaking(&r->diff.changes));
        report_print_changes(stdout, &r->diff.changes);
    }
}

void report_json_crawl(mc_buf *b, const crawl_report *r)
{
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &first, "datastore", r->ds->name);
    if (r->run_id)
        json_put_kv_int(b, &first, "run", r->run_id);
    else
        json_put_kv_raw(b, &first, "run", NULL);
    json_put_kv_str(b, &first, "status", mc_run_status_name(r->status));
    json_put_kv_int(b, &first, "exit_code", r->exit_code);
    json_put_kv_str(b, &first, "dialect", r->dialect);
    json_put_kv_str(b, &first, "server_version", r->server_version);
    json_put_kv_bool(b, &first, "baseline", r->baseline);
    first = json_put_key(b, first, "counts");
    {
        bool f2 = true;
        mc_buf_putc(b, '{');
        json_put_kv_int(b, &f2, "schemas", r->n_schemas);
        json_put_kv_int(b, &f2, "containers", r->n_containers);
        json_put_kv_int(b, &f2, "fields", r->n_fields);
        mc_buf_putc(b, '}');
    }
    first = json_put_key(b, first, "changes");
    if (r->baseline)
        mc_buf_puts(b, "[]");
    else
        report_json_changes(b, &r->diff.changes, r->ds->name, NULL, r->run_id);
    json_put_kv_int(b, &first, "held_back", (int64_t)r->diff.n_held_back);
    first = json_put_key(b, first, "warnings");
    json_put_str_array(b, r->warnings, r->n_warnings);
    json_put_kv_num(b, &first, "seconds", (double)(int64_t)(r->seconds * 1000) / 1000.0);
    json_put_kv_int(b, &first, "queries", r->n_queries);
    json_put_kv_int(b, &first, "columns_read", r->n_reread);
    report_json_facts_outcome(b, &first, r);
    report_json_error(b, &first, &r->error);
    mc_buf_putc(b, '}');
}
