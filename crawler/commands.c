/*
 * commands.c — the command table and what each command does: init, crawl,
 * diff, history, show, search, help.  Commands turn results into terminal
 * text or --json; only here (and main) do errors become exit codes.
 *
 * Terminal output escapes control characters in every name and comment
 * that came from the warehouse: a table called "\e]0;pwned\a" must not
 * drive the user's terminal.
 */
#include "commands.h"
#include "alerts.h"
#include "crawl.h"
#include "diff.h"
#include "json.h"
#include "lock.h"
#include "sql_scan.h"
#include "../schedules/schedule.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- shared helpers ---------------------------------------------------------- */

bool cmd_use_color(void)
{
    return isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
}

void cmd_report_error(const mc_error *err)
{
    cli_note_error(err);
    fprintf(stderr, "metacrawl: error: %s\n", err->message);
    if (err->hint[0])
        fprintf(stderr, "  hint: %s\n", err->hint);
}

/* Terminal safety: every name and comment from the warehouse goes through
 * mc_term_escape. */
size_t cmd_put_safe(FILE *f, const char *s)
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

size_t cmd_change_cap = CMD_CHANGE_CAP;

const char *cmd_plural(int64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

void cmd_put_safe_short(FILE *f, const char *s, size_t max_cols)
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

void cmd_put_safe_pad(FILE *f, const char *s, size_t width)
{
    size_t cols = cmd_put_safe(f, s);
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
        cmd_put_safe_short(f, json_string_value(v), CMD_COMMENT_COLS);
    else if (v && json_is_null(v))
        fputs("(none)", f);
    else
        cmd_put_safe(f, json);
    json_decref(v);
}

int cmd_load_config(const cli_ctx *ctx, bool optional, cfg **out)
{
    *out = NULL;
    mc_error err = {0};
    char *path = ctx->config_path ? mc_strdup(ctx->config_path) : cfg_default_path();
    if (!path) {
        if (optional)
            return 0;
        mc_error_set(&err, MC_EXIT_CONFIG,
                     "no configuration file: ./metacrawl.yml and "
                     "$XDG_CONFIG_HOME/metacrawl/metacrawl.yml do not exist");
        mc_error_hint(&err, "run 'metacrawl init' to write one, or pass -c FILE");
        cmd_report_error(&err);
        return MC_EXIT_CONFIG;
    }
    int rc = cfg_load(path, out, &err);
    free(path);
    if (rc == 0 && sched_check_config(*out, &err) != 0) {
        cfg_free(*out);
        *out = NULL;
        rc = -1;
    }
    if (rc != 0) {
        cmd_report_error(&err);
        return err.code ? err.code : MC_EXIT_CONFIG;
    }
    return 0;
}

/* The read commands (diff, history, show, search) need only the store:
 * with --store they do not read the configuration at all. */
int cmd_load_config_for_reading(const cli_ctx *ctx, cfg **out)
{
    *out = NULL;
    return ctx->store_path ? 0 : cmd_load_config(ctx, false, out);
}

/* The store path: --store, else the config's store:. */
const char *cmd_store_path(const cli_ctx *ctx, const cfg *c)
{
    if (ctx->store_path)
        return ctx->store_path;
    return c ? c->store : NULL;
}

int cmd_open_store(const cli_ctx *ctx, const cfg *c, store **out)
{
    *out = NULL;
    mc_error err = {0};
    const char *path = cmd_store_path(ctx, c);
    if (!path) {
        mc_error_set(&err, MC_EXIT_CONFIG, "no store: give --store PATH or a configuration file");
        cmd_report_error(&err);
        return MC_EXIT_CONFIG;
    }
    if (store_open(path, out, &err) != 0) {
        cmd_report_error(&err);
        return err.code ? err.code : MC_EXIT_STORE;
    }
    return 0;
}

int cmd_open_store_read(const cli_ctx *ctx, const cfg *c, store **out)
{
    *out = NULL;
    mc_error err = {0};
    const char *path = cmd_store_path(ctx, c);
    if (!path)
        return cmd_fail(MC_EXIT_CONFIG, NULL,
                        "no store: give --store PATH or a configuration file");
    if (store_open_read(path, out, &err) != 0) {
        cmd_report_error(&err);
        return err.code ? err.code : MC_EXIT_STORE;
    }
    return 0;
}

int cmd_fail(int code, const char *hint, const char *fmt, ...)
{
    mc_error err = {0};
    err.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    if (hint)
        snprintf(err.hint, sizeof err.hint, "%s", hint);
    cmd_report_error(&err);
    return code;
}

int cmd_known_datastore(store *st, const char *name)
{
    mc_error err = {0};
    char **names = NULL;
    size_t n = 0;
    if (store_list_datastores(st, &names, &n, &err) != 0) {
        cmd_report_error(&err);
        return err.code;
    }
    bool found = false;
    mc_buf have = {0};
    for (size_t i = 0; i < n; i++) {
        found |= strcmp(names[i], name) == 0;
        mc_buf_printf(&have, "%s%s", i ? ", " : "", names[i]);
    }
    int rc = 0;
    if (!found) {
        mc_buf safe = {0};
        mc_term_escape(&safe, name);
        char *hint = n ? mc_asprintf("the store has: %s", mc_buf_str(&have))
                       : mc_strdup("the store has no runs yet: crawl first");
        rc = cmd_fail(MC_EXIT_USAGE, hint, "unknown datastore '%s'", mc_buf_str(&safe));
        free(hint);
        mc_buf_free(&safe);
    }
    mc_buf_free(&have);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int cmd_count_option(const cli_ctx *ctx, const char *name, long dflt, long min, long *out)
{
    const char *v = cli_value(ctx, name);
    *out = dflt;
    if (!v)
        return 0;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    bool digits = *v >= '0' && *v <= '9' && end && *end == '\0';
    if (!digits || errno == ERANGE || n < min) {
        mc_buf safe = {0};
        mc_term_escape(&safe, v);
        int rc = cmd_fail(MC_EXIT_USAGE, NULL, "--%s takes a whole number%s, not '%s'", name,
                          min > 0 ? " from 1" : " (0 or more)", mc_buf_str(&safe));
        mc_buf_free(&safe);
        return rc;
    }
    *out = n;
    return 0;
}

int cmd_max_code(int a, int b)
{
    return a > b ? a : b;
}

/* Parses "123" into a run id; 0 on nonsense. */
static int64_t parse_run(const char *s)
{
    if (!s || !*s)
        return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end || v <= 0 ? -1 : (int64_t)v;
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
static void put_name_list(FILE *f, json_t *arr)
{
    size_t i;
    json_t *v;
    fputc('(', f);
    json_array_foreach(arr, i, v) {
        if (i)
            fputs(", ", f);
        cmd_put_safe(f, json_string_value(v));
    }
    fputc(')', f);
}

/* One foreign key: "name (cols) -> schema.table (cols)". */
static void put_fk(FILE *f, json_t *fk)
{
    cmd_put_safe(f, json_string_value(json_object_get(fk, "name")));
    fputc(' ', f);
    put_name_list(f, json_object_get(fk, "columns"));
    fputs(" -> ", f);
    cmd_put_safe(f, json_string_value(json_object_get(fk, "ref_schema")));
    fputc('.', f);
    cmd_put_safe(f, json_string_value(json_object_get(fk, "ref_container")));
    fputc(' ', f);
    put_name_list(f, json_object_get(fk, "ref_columns"));
    const char *part = json_string_value(json_object_get(fk, "partition"));
    if (part) {
        fputs(" (declared on partition ", f);
        cmd_put_safe(f, part);
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

void cmd_fk_diff(const char *before, const char *after,
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
    put_fk(f, fk);
}

static void print_change_line(FILE *f, const mc_change *c, bool color)
{
    fprintf(f, "    %s ", change_symbol(c->kind));
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
                    cmd_plural((int64_t)json_array_size(fields), "column", "columns"));
        json_decref(o);
        break;
    }
    case MC_FIELD_ADDED:
    case MC_FIELD_REMOVED: {
        json_t *o = json_loads(c->kind == MC_FIELD_ADDED ? c->after : c->before, 0, NULL);
        fputs("column ", f);
        cmd_put_safe(f, c->field);
        const char *type = o ? json_string_value(json_object_get(o, "type")) : NULL;
        if (type) {
            fputs(" (", f);
            cmd_put_safe(f, type);
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
            cmd_put_safe(f, c->field);
            fputs(" renamed from ", f);
            put_json_value(f, c->before);
        } else {
            fputs("container renamed from ", f);
            json_t *o = json_loads(c->before, 0, NULL);
            cmd_put_safe(f, o ? json_string_value(json_object_get(o, "schema")) : NULL);
            fputc('.', f);
            cmd_put_safe(f, o ? json_string_value(json_object_get(o, "name")) : NULL);
            json_decref(o);
        }
        break;
    }
    default:
        if (c->field) {
            fputs("column ", f);
            cmd_put_safe(f, c->field);
            fputc(' ', f);
        }
        if (c->attribute && strcmp(c->attribute, "definition") == 0) {
            /* a view's text is long and multi-line: the new text is in
             * `show` and --json */
            fputs("definition changed", f);
        } else if (c->attribute && strcmp(c->attribute, "foreign_keys") == 0) {
            fputs("foreign keys:", f);
            cmd_fk_diff(c->before, c->after, put_fk_change, f);
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
    fputc('\n', f);
}

/* Changes grouped under "schema" and "schema.container" headings. */
void cmd_print_changes(FILE *f, const mc_changes *cs)
{
    bool color = cmd_use_color();
    const char *last_schema = NULL, *last_container = NULL;
    bool have_heading = false;
    size_t shown = 0;
    for (size_t i = 0; i < cs->n; i++) {
        const mc_change *c = &cs->items[i];
        if (cmd_change_cap && shown == cmd_change_cap) {
            size_t left = cs->n - i;
            fprintf(f, "  ... %zu more %s not shown: --all shows them all, --json gives "
                       "them as JSON\n", left, cmd_plural((int64_t)left, "change", "changes"));
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
            cmd_put_safe(f, c->schema);
            if (c->container) {
                fputc('.', f);
                cmd_put_safe(f, c->container);
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

static size_t count_breaking(const mc_changes *cs)
{
    size_t n = 0;
    for (size_t i = 0; i < cs->n; i++)
        n += cs->items[i].breaking;
    return n;
}

void cmd_json_change(mc_buf *b, const mc_change *c, const char *datastore,
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
    if (run > 0)
        json_put_kv_int(b, &first, "run", run);
    mc_buf_putc(b, '}');
}

static void json_changes(mc_buf *b, const mc_changes *cs, const char *datastore,
                         const int64_t *runs, int64_t run)
{
    mc_buf_putc(b, '[');
    for (size_t i = 0; i < cs->n; i++) {
        if (i)
            mc_buf_putc(b, ',');
        cmd_json_change(b, &cs->items[i], datastore, runs ? runs[i] : run);
    }
    mc_buf_putc(b, ']');
}

static void json_error_obj(mc_buf *b, bool *first, const mc_error *err)
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

void cmd_print_json(mc_buf *b)
{
    cli_note_json_output();
    fputs(mc_buf_str(b), stdout);
    fputc('\n', stdout);
}

/* ---- init -------------------------------------------------------------------- */

static const cli_opt init_opts[] = {
    {"force", 0, NULL, "overwrite an existing file"},
    {0},
};

static int cmd_init(cli_ctx *ctx)
{
    const char *path = ctx->config_path ? ctx->config_path : "metacrawl.yml";
    mc_error err = {0};
    if (cfg_write_starter(path, cli_flag(ctx, "force"), &err) != 0) {
        cmd_report_error(&err);
        return err.code;
    }
    if (ctx->json) {
        mc_buf b = {0};
        bool first = true;
        mc_buf_putc(&b, '{');
        json_put_kv_str(&b, &first, "written", path);
        mc_buf_putc(&b, '}');
        cmd_print_json(&b);
        mc_buf_free(&b);
    } else {
        printf("wrote %s: edit the datastore, then run 'metacrawl crawl'\n", path);
    }
    return 0;
}

/* ---- crawl ------------------------------------------------------------------- */

static const cli_opt crawl_opts_table[] = {
    {"dry-run", 'n', NULL, "discover and diff, but write nothing to the store"},
    {"exit-code", 0, NULL, "exit 1 when changes were found"},
    {"accept-removals", 0, NULL,
     "record removals even when they exceed fail_safe.max_removed_pct"},
    {"all", 0, NULL, "list every change on the terminal (default: the first 100 per datastore)"},
    {0},
};

static void print_report_text(const crawl_report *r)
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
           cmd_plural(r->n_schemas, "schema", "schemas"), (long long)r->n_containers,
           cmd_plural(r->n_containers, "container", "containers"), (long long)r->n_fields,
           cmd_plural(r->n_fields, "field", "fields"),
           r->server_version ? r->server_version : "?");
    cmd_print_report_changes(r);
}

void cmd_print_report_changes(const crawl_report *r)
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
               cmd_plural((int64_t)r->diff.changes.n, "change", "changes"),
               count_breaking(&r->diff.changes));
        cmd_print_changes(stdout, &r->diff.changes);
    }
}

void cmd_json_crawl_report(mc_buf *b, const crawl_report *r)
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
        json_changes(b, &r->diff.changes, r->ds->name, NULL, r->run_id);
    json_put_kv_int(b, &first, "held_back", (int64_t)r->diff.n_held_back);
    first = json_put_key(b, first, "warnings");
    json_put_str_array(b, r->warnings, r->n_warnings);
    json_put_kv_num(b, &first, "seconds", (double)(int64_t)(r->seconds * 1000) / 1000.0);
    json_put_kv_int(b, &first, "queries", r->n_queries);
    json_error_obj(b, &first, &r->error);
    mc_buf_putc(b, '}');
}

int cmd_unknown_datastore(const cfg *c, const char *name)
{
    mc_buf have = {0}, safe = {0};
    for (size_t k = 0; k < c->n_datastores; k++)
        mc_buf_printf(&have, "%s%s", k ? ", " : "", c->datastores[k].name);
    mc_term_escape(&safe, name);
    char *hint = mc_asprintf("%s has: %s", c->path, mc_buf_str(&have));
    int rc = cmd_fail(MC_EXIT_USAGE, hint, "unknown datastore '%s'", mc_buf_str(&safe));
    free(hint);
    mc_buf_free(&have);
    mc_buf_free(&safe);
    return rc;
}

/* The datastores named on the command line (all when none), or exit 2. */
int cmd_select_datastores(const cli_ctx *ctx, const cfg *c,
                          const cfg_datastore ***out, size_t *n_out)
{
    size_t n = ctx->n_args ? (size_t)ctx->n_args : c->n_datastores;
    if (n == 0) {
        fprintf(stderr, "metacrawl: %s has no datastores\n", c->path);
        return MC_EXIT_CONFIG;
    }
    const cfg_datastore **sel = mc_calloc(n + 1, sizeof *sel);
    for (size_t i = 0; i < n; i++) {
        if (!ctx->n_args) {
            sel[i] = &c->datastores[i];
            continue;
        }
        sel[i] = cfg_find_datastore(c, ctx->args[i]);
        if (!sel[i]) {
            free(sel);
            return cmd_unknown_datastore(c, ctx->args[i]);
        }
    }
    *out = sel;
    *n_out = n;
    return 0;
}

static int cmd_crawl(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    alerts *al = NULL;
    const cfg_datastore **sel = NULL;
    size_t n_sel = 0;
    int rc = cmd_load_config(ctx, false, &c);
    if (rc)
        return rc;
    if ((rc = cmd_select_datastores(ctx, c, &sel, &n_sel)) != 0)
        goto out;
    if (cli_flag(ctx, "all"))
        cmd_change_cap = 0;
    /* progress on stderr: only on a terminal, not with -q */
    mc_progress_enabled = isatty(STDERR_FILENO) && mc_log_threshold >= MC_LOG_WARN;
    crawl_opts o = {
        .dry_run = cli_flag(ctx, "dry-run"),
        .accept_removals = cli_flag(ctx, "accept-removals"),
    };
    /* A dry run reads an existing store and creates, migrates or writes
     * nothing. */
    if (!o.dry_run) {
        if ((rc = cmd_open_store(ctx, c, &st)) != 0)
            goto out;
    } else if (access(cmd_store_path(ctx, c), F_OK) == 0) {
        if ((rc = cmd_open_store_read(ctx, c, &st)) != 0)
            goto out;
    }
    /* Alerts: each run queues its deliveries in its own transaction (the
     * store's outbox rules); after each datastore, what is queued goes out.
     * A dry run neither queues nor delivers. */
    if (!o.dry_run)
        al = alerts_open(c, st);
    mc_buf json = {0};
    mc_buf_puts(&json, "{\"datastores\":[");
    bool any_changes = false;
    for (size_t i = 0; i < n_sel; i++) {
        crawl_report r;
        /* One crawl of a datastore at a time, whoever starts it (lock.h).
         * A dry run writes nothing and needs no lock. */
        crawl_lock *lk = NULL;
        if (!o.dry_run) {
            crawl_lock_holder h;
            mc_error lerr = {0};
            int lrc = crawl_lock_try(cmd_store_path(ctx, c), sel[i]->name, "crawl", &lk, &h,
                                     &lerr);
            if (lrc != 0 || !lk) {
                char who[192] = "";
                if (lrc != 0) {
                    cmd_report_error(&lerr);
                    rc = cmd_max_code(rc, lerr.code);
                } else {
                    crawl_lock_describe(&h, who, sizeof who);
                    if (!ctx->json)
                        printf("%s: locked by %s: not crawled\n", sel[i]->name, who);
                }
                if (ctx->json) {
                    bool f = true;
                    if (i)
                        mc_buf_putc(&json, ',');
                    mc_buf_putc(&json, '{');
                    json_put_kv_str(&json, &f, "datastore", sel[i]->name);
                    json_put_kv_raw(&json, &f, "run", NULL);
                    json_put_kv_str(&json, &f, "status", lrc != 0 ? "failed" : "locked");
                    json_put_kv_int(&json, &f, "exit_code", lrc != 0 ? lerr.code : 0);
                    json_put_kv_str(&json, &f, "locked_by", lrc != 0 ? NULL : who);
                    json_error_obj(&json, &f, &lerr);
                    mc_buf_putc(&json, '}');
                }
                continue;
            }
        }
        mc_progress_start(sel[i]->name);
        crawl_datastore(sel[i], st, &o, &r);
        mc_progress_done();
        for (size_t w = 0; w < r.n_warnings; w++)
            mc_log(MC_LOG_WARN, "%s: %s", sel[i]->name, r.warnings[w]);
        if (r.error.code)
            cmd_report_error(&r.error);
        if (!r.baseline && r.diff.changes.n > 0)
            any_changes = true;
        if (ctx->json) {
            if (i)
                mc_buf_putc(&json, ',');
            cmd_json_crawl_report(&json, &r);
        } else if (mc_log_threshold >= MC_LOG_ERROR) {
            print_report_text(&r);
        }
        rc = cmd_max_code(rc, r.exit_code);
        crawl_report_free(&r);
        if (al)
            alerts_deliver(al, NULL, 0);
        crawl_lock_release(lk);
    }
    mc_buf_puts(&json, "]");
    if (al) {
        /* A failed delivery does not change the crawl's exit code (the
         * catalog was recorded): it is said on stderr and in --json, and
         * the deliveries stay queued. */
        mc_buf_puts(&json, ",\"alerts\":");
        alerts_put_json(al, &json);
        alerts_report(al, ctx->json ? NULL : stdout);
    }
    mc_buf_putc(&json, '}');
    if (ctx->json)
        cmd_print_json(&json);
    mc_buf_free(&json);
    if (any_changes && cli_flag(ctx, "exit-code"))
        rc = cmd_max_code(rc, MC_EXIT_CHANGES);
out:
    free(sel);
    alerts_close(al);
    store_close(st);
    cfg_free(c);
    return rc;
}

/* ---- diff ------------------------------------------------------------------- */

static const cli_opt diff_opts_table[] = {
    {"from", 0, "RUN", "the earlier run (default: the run before --to)"},
    {"to", 0, "RUN", "the later run (default: the latest run)"},
    {"all", 0, NULL, "list every change on the terminal (default: the first 100)"},
    {0},
};

/* The datastore a read command is about: the argument, else the only one
 * the store knows. */
static int pick_datastore(store *st, const char *arg, char **out)
{
    if (arg) {
        int rc = cmd_known_datastore(st, arg);
        if (rc == 0)
            *out = mc_strdup(arg);
        return rc;
    }
    mc_error err = {0};
    char **names = NULL;
    size_t n = 0;
    if (store_list_datastores(st, &names, &n, &err) != 0) {
        cmd_report_error(&err);
        return err.code;
    }
    int rc = 0;
    if (n == 1) {
        *out = names[0];
        names[0] = NULL;
    } else {
        mc_buf have = {0};
        for (size_t i = 0; i < n; i++)
            mc_buf_printf(&have, "%s%s", i ? ", " : "", names[i]);
        char *hint = n ? mc_asprintf("the store has: %s", mc_buf_str(&have))
                       : mc_strdup("the store has no runs yet: crawl first");
        rc = cmd_fail(MC_EXIT_USAGE, hint, n ? "name a datastore; the store has %zu"
                                             : "the store has no datastore (%zu runs)", n);
        free(hint);
        mc_buf_free(&have);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* The completed (ok or partial) runs of a datastore, newest first. */
static int completed_runs(store *st, const char *ds, int64_t **ids, size_t *n)
{
    mc_run_list l = {0};
    mc_error err = {0};
    *ids = NULL;
    *n = 0;
    if (store_list_runs(st, ds, 0, &l, &err) != 0) {
        cmd_report_error(&err);
        return err.code;
    }
    *ids = mc_calloc(l.n + 1, sizeof **ids);
    for (size_t i = 0; i < l.n; i++)
        if (l.runs[i].status == MC_RUN_OK || l.runs[i].status == MC_RUN_PARTIAL)
            (*ids)[(*n)++] = l.runs[i].id;
    mc_run_list_free(&l);
    return 0;
}

static int cmd_diff(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    char *ds = NULL;
    int64_t *ids = NULL;
    size_t n_ids = 0;
    mc_catalog *a = NULL, *b = NULL;
    diff_result dr = {0};
    mc_error err = {0};
    int rc = cmd_load_config_for_reading(ctx, &c);
    if (rc || (rc = cmd_open_store_read(ctx, c, &st)) != 0 ||
        (rc = pick_datastore(st, ctx->n_args ? ctx->args[0] : NULL, &ds)) != 0 ||
        (rc = completed_runs(st, ds, &ids, &n_ids)) != 0)
        goto out;
    if (cli_flag(ctx, "all"))
        cmd_change_cap = 0;
    int64_t to = parse_run(cli_value(ctx, "to")), from = parse_run(cli_value(ctx, "from"));
    if (to < 0 || from < 0) {
        rc = cmd_fail(MC_EXIT_USAGE, "see 'metacrawl history' for the runs",
                      "--from and --to take a run number");
        goto out;
    }
    if (!to)
        to = n_ids ? ids[0] : 0;
    if (!from) {
        for (size_t i = 0; i < n_ids; i++)
            if (ids[i] < to) {
                from = ids[i];
                break;
            }
    }
    if (!to || !from) {
        rc = cmd_fail(MC_EXIT_USAGE, "crawl it again to have something to compare",
                      "datastore '%s' needs two completed runs to diff; it has %zu", ds,
                      n_ids);
        goto out;
    }
    if (store_load_as_of(st, ds, from, &a, &err) != 0 ||
        store_load_as_of(st, ds, to, &b, &err) != 0) {
        cmd_report_error(&err);
        rc = err.code;
        goto out;
    }
    diff_opts o = {.allow_removals = true, .max_removed_pct = 100, .accept_removals = true};
    if (diff_catalogs(NULL, a, b, &o, &dr, &err) != 0) {
        cmd_report_error(&err);
        rc = err.code;
        goto out;
    }
    diff_drop_silent(&dr);
    if (ctx->json) {
        mc_buf j = {0};
        bool first = true;
        mc_buf_putc(&j, '{');
        json_put_kv_str(&j, &first, "datastore", ds);
        json_put_kv_int(&j, &first, "from", from);
        json_put_kv_int(&j, &first, "to", to);
        first = json_put_key(&j, first, "changes");
        json_changes(&j, &dr.changes, ds, NULL, 0);
        mc_buf_putc(&j, '}');
        cmd_print_json(&j);
        mc_buf_free(&j);
    } else {
        printf("%s: run %lld -> run %lld: %zu %s (%zu breaking)\n", ds,
               (long long)from, (long long)to, dr.changes.n,
               cmd_plural((int64_t)dr.changes.n, "change", "changes"), count_breaking(&dr.changes));
        cmd_print_changes(stdout, &dr.changes);
    }
out:
    diff_result_free(&dr);
    mc_catalog_free(a);
    mc_catalog_free(b);
    free(ids);
    free(ds);
    store_close(st);
    cfg_free(c);
    return rc;
}

/* ---- history ---------------------------------------------------------------- */

static const cli_opt history_opts[] = {
    {"limit", 0, "N", "show at most N runs (default 20; 0 = all)"},
    {0},
};

static int cmd_history(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    mc_run_list l = {0};
    mc_error err = {0};
    long limit = 20;
    int rc = cmd_count_option(ctx, "limit", 20, 0, &limit);
    if (rc || (rc = cmd_load_config_for_reading(ctx, &c)) != 0 ||
        (rc = cmd_open_store_read(ctx, c, &st)) != 0 ||
        (ctx->n_args && (rc = cmd_known_datastore(st, ctx->args[0])) != 0))
        goto out;
    if (store_list_runs(st, ctx->n_args ? ctx->args[0] : NULL, (size_t)limit, &l, &err) != 0) {
        cmd_report_error(&err);
        rc = err.code;
        goto out;
    }
    if (ctx->json) {
        mc_buf j = {0};
        mc_buf_puts(&j, "{\"runs\":[");
        for (size_t i = 0; i < l.n; i++) {
            const mc_run *r = &l.runs[i];
            char started[21], finished[21];
            mc_time_iso(r->started_at, started);
            mc_time_iso(r->finished_at, finished);
            bool first = true;
            if (i)
                mc_buf_putc(&j, ',');
            mc_buf_putc(&j, '{');
            json_put_kv_int(&j, &first, "run", r->id);
            json_put_kv_str(&j, &first, "datastore", r->datastore);
            json_put_kv_str(&j, &first, "started_at", started);
            json_put_kv_str(&j, &first, "finished_at", r->finished_at ? finished : NULL);
            json_put_kv_str(&j, &first, "status", mc_run_status_name(r->status));
            json_put_kv_str(&j, &first, "dialect", r->dialect);
            json_put_kv_str(&j, &first, "server_version", r->server_version);
            json_put_kv_int(&j, &first, "schemas", r->n_schemas);
            json_put_kv_int(&j, &first, "containers", r->n_containers);
            json_put_kv_int(&j, &first, "fields", r->n_fields);
            json_put_kv_int(&j, &first, "changes", r->n_changes);
            json_put_kv_int(&j, &first, "held_back", r->n_held_back);
            json_put_kv_str(&j, &first, "error", r->error);
            mc_buf_putc(&j, '}');
        }
        mc_buf_puts(&j, "]}");
        cmd_print_json(&j);
        mc_buf_free(&j);
        goto out;
    }
    printf("%-5s %-12s %-20s %6s %-8s %-18s %8s %10s %8s  %s\n", "RUN", "DATASTORE",
           "STARTED (UTC)", "SECS", "STATUS", "SERVER", "SCHEMAS", "CONTAINERS",
           "CHANGES", "NOTE");
    for (size_t i = 0; i < l.n; i++) {
        const mc_run *r = &l.runs[i];
        char started[21];
        mc_time_iso(r->started_at, started);
        started[19] = '\0';
        started[10] = ' ';
        char secs[16] = "-";
        if (r->finished_at)
            snprintf(secs, sizeof secs, "%lld", (long long)(r->finished_at - r->started_at));
        printf("%-5lld %-12s %-20s %6s %-8s %-18s %8lld %10lld %8lld  ", (long long)r->id,
               r->datastore, started, secs, mc_run_status_name(r->status),
               r->server_version ? r->server_version : "-", (long long)r->n_schemas,
               (long long)r->n_containers, (long long)r->n_changes);
        cmd_put_safe(stdout, r->error ? r->error : "");
        putchar('\n');
    }
out:
    mc_run_list_free(&l);
    store_close(st);
    cfg_free(c);
    return rc;
}

/* ---- show --------------------------------------------------------------------- */

static const cli_opt show_opts[] = {
    {"as-of", 0, "RUN", "the catalog as it was after that run (see 'metacrawl history')"},
    {0},
};

/*
 * Splits DS[.SCHEMA[.CONTAINER]] into at most three parts.  A part may be
 * double-quoted like an SQL identifier ("a.b" keeps its dot, "" is a
 * quote), so every name can be addressed.  Returns the number of parts, or
 * -1 when the text is malformed (parts then all NULL).
 */
static int split_path(const char *text, char *parts[3])
{
    char **list = NULL;
    int n = mc_sql_split_idents(text, '.', 0, 3, &list);
    for (int i = 0; i < 3; i++)
        parts[i] = i < n ? list[i] : NULL;
    free(list);
    return n;
}

static void json_field(mc_buf *b, const mc_field *f)
{
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_int(b, &first, "position", f->position);
    json_put_kv_str(b, &first, "name", f->name);
    json_put_kv_str(b, &first, "type", f->type);
    json_put_kv_bool(b, &first, "nullable", !f->not_null);
    json_put_kv_str(b, &first, "default", f->default_expr);
    json_put_kv_str(b, &first, "comment", f->comment);
    json_put_kv_str(b, &first, "encoding", f->encoding);
    json_put_kv_str(b, &first, "identity", f->identity);
    json_put_kv_str(b, &first, "generated", f->generated);
    mc_buf_putc(b, '}');
}

static void json_container(mc_buf *b, const mc_catalog *cat, const mc_container *k,
                           bool with_fields)
{
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &first, "schema", k->schema);
    json_put_kv_str(b, &first, "name", k->name);
    json_put_kv_str(b, &first, "kind", mc_kind_name(k->kind));
    json_put_kv_str(b, &first, "owner", k->owner);
    json_put_kv_str(b, &first, "comment", k->comment);
    json_put_kv_raw(b, &first, "primary_key", k->primary_key);
    json_put_kv_raw(b, &first, "foreign_keys", k->foreign_keys);
    json_put_kv_str(b, &first, "definition", k->definition);
    json_put_kv_str(b, &first, "dist_style", k->dist_style);
    json_put_kv_raw(b, &first, "sort_key", k->sort_key);
    json_put_kv_str(b, &first, "extension", k->extension);
    json_put_kv_raw(b, &first, "partitions", k->partitions);
    if (k->row_estimate >= 0)
        json_put_kv_num(b, &first, "row_estimate", k->row_estimate);
    else
        json_put_kv_raw(b, &first, "row_estimate", NULL);
    json_put_kv_int(b, &first, "n_fields", (int64_t)k->n_fields);
    if (with_fields) {
        first = json_put_key(b, first, "fields");
        mc_buf_putc(b, '[');
        for (size_t i = 0; i < k->n_fields; i++) {
            if (i)
                mc_buf_putc(b, ',');
            json_field(b, &cat->fields[k->first_field + i]);
        }
        mc_buf_putc(b, ']');
    }
    mc_buf_putc(b, '}');
}

/* "generated always as identity", "generated always as (expr) stored". */
static void show_field_extras(const mc_field *f)
{
    if (f->identity)
        printf("generated %s as identity  ",
               strcmp(f->identity, "always") == 0 ? "always" : "by default");
    if (f->generated) {
        printf("generated always as ");
        cmd_put_safe(stdout, f->generated);
        printf("  ");
    }
}

/* A partitioned table's partitions, one line each with its bound. */
static void show_partitions(const mc_container *k)
{
    json_t *parts = k->partitions ? json_loads(k->partitions, 0, NULL) : NULL;
    if (json_array_size(parts) > 0)
        printf("\n  partitions:\n");
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p) {
        printf("    ");
        cmd_put_safe(stdout, json_string_value(json_object_get(p, "name")));
        printf("  ");
        cmd_put_safe(stdout, json_string_value(json_object_get(p, "bound")));
        putchar('\n');
    }
    json_decref(parts);
}

static void show_container_text(const mc_catalog *cat, const mc_container *k)
{
    cmd_put_safe(stdout, k->schema);
    putchar('.');
    cmd_put_safe(stdout, k->name);
    printf("  (%s", mc_kind_name(k->kind));
    if (k->owner) {
        printf(", owner ");
        cmd_put_safe(stdout, k->owner);
    }
    if (k->extension) {
        printf(", member of extension ");
        cmd_put_safe(stdout, k->extension);
    }
    if (k->row_estimate >= 0)
        printf(", ~%.0f rows", k->row_estimate);
    else if (k->kind == MC_KIND_TABLE || k->kind == MC_KIND_PARTITIONED ||
             k->kind == MC_KIND_MATVIEW)
        printf(", rows unknown");
    printf(")\n");
    if (k->comment) {
        printf("  ");
        cmd_put_safe(stdout, k->comment); /* the container's own page: whole */
        putchar('\n');
    }
    if (k->primary_key) {
        json_t *pk = json_loads(k->primary_key, 0, NULL);
        printf("  primary key ");
        put_name_list(stdout, pk);
        putchar('\n');
        json_decref(pk);
    }
    if (k->foreign_keys) {
        json_t *fks = json_loads(k->foreign_keys, 0, NULL);
        size_t i;
        json_t *fk;
        json_array_foreach(fks, i, fk) {
            printf("  foreign key ");
            put_fk(stdout, fk);
            putchar('\n');
        }
        json_decref(fks);
    }
    printf("\n  %3s  %-30s %-28s %-8s %s\n", "#", "COLUMN", "TYPE", "NULL", "DEFAULT / COMMENT");
    for (size_t i = 0; i < k->n_fields; i++) {
        const mc_field *f = &cat->fields[k->first_field + i];
        printf("  %3d  ", f->position);
        cmd_put_safe_pad(stdout, f->name, 31);
        cmd_put_safe_pad(stdout, f->type, 29);
        printf("%-8s ", f->not_null ? "not null" : "null");
        if (f->default_expr) {
            printf("default ");
            cmd_put_safe(stdout, f->default_expr);
            printf("  ");
        }
        show_field_extras(f);
        if (f->comment)
            cmd_put_safe_short(stdout, f->comment, CMD_COMMENT_COLS);
        putchar('\n');
    }
    show_partitions(k);
    if (k->definition) {
        printf("\n  definition:\n");
        /* line by line, each line made safe on its own */
        const char *p = k->definition;
        while (*p) {
            size_t n = strcspn(p, "\n");
            char *line = mc_strndup(p, n);
            printf("    ");
            cmd_put_safe(stdout, line);
            putchar('\n');
            free(line);
            p += n;
            if (*p == '\n')
                p++;
        }
    }
}

static int cmd_show(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    mc_catalog *cat = NULL;
    mc_error err = {0};
    char *parts[3] = {0};
    int n_parts = split_path(ctx->args[0], parts);
    int rc = 0;
    if (n_parts < 1 || !parts[0][0]) {
        mc_buf safe = {0};
        mc_term_escape(&safe, ctx->args[0]);
        rc = cmd_fail(MC_EXIT_USAGE, "quote names that contain dots: ds.\"my.schema\"",
                      "cannot read '%s' as DS[.SCHEMA[.CONTAINER]]", mc_buf_str(&safe));
        mc_buf_free(&safe);
        goto out;
    }
    int64_t as_of = parse_run(cli_value(ctx, "as-of"));
    if (as_of < 0) {
        rc = cmd_fail(MC_EXIT_USAGE, "see 'metacrawl history' for the runs",
                      "--as-of takes a run number");
        goto out;
    }
    if ((rc = cmd_load_config_for_reading(ctx, &c)) != 0 ||
        (rc = cmd_open_store_read(ctx, c, &st)) != 0 ||
        (rc = cmd_known_datastore(st, parts[0])) != 0)
        goto out;
    /* One container: read it alone, not the datastore's whole catalog. */
    if ((n_parts == 3 ? store_load_container(st, parts[0], as_of, parts[1], parts[2],
                                             &cat, &err)
                      : store_load_as_of(st, parts[0], as_of, &cat, &err)) != 0) {
        cmd_report_error(&err);
        rc = err.code;
        goto out;
    }
    mc_buf j = {0};
    if (n_parts == 3) {
        const mc_container *k = mc_catalog_find(cat, parts[1], parts[2]);
        if (!k) {
            mc_buf a = {0}, b = {0};
            mc_term_escape(&a, parts[1]);
            mc_term_escape(&b, parts[2]);
            rc = cmd_fail(MC_EXIT_USAGE, NULL, "%s has no container %s.%s%s", parts[0],
                          mc_buf_str(&a), mc_buf_str(&b), as_of ? " at that run" : "");
            mc_buf_free(&a);
            mc_buf_free(&b);
            goto out;
        }
        if (ctx->json) {
            json_container(&j, cat, k, true);
            cmd_print_json(&j);
        } else {
            show_container_text(cat, k);
        }
    } else if (n_parts == 2) {
        if (!mc_catalog_find_schema(cat, parts[1])) {
            mc_buf a = {0};
            mc_term_escape(&a, parts[1]);
            rc = cmd_fail(MC_EXIT_USAGE, NULL, "%s has no schema %s%s", parts[0],
                          mc_buf_str(&a), as_of ? " at that run" : "");
            mc_buf_free(&a);
            goto out;
        }
        mc_buf_puts(&j, "{\"containers\":[");
        bool any = false;
        for (size_t i = 0; i < cat->n_containers; i++) {
            const mc_container *k = &cat->containers[i];
            if (strcmp(k->schema, parts[1]) != 0)
                continue;
            if (ctx->json) {
                if (any)
                    mc_buf_putc(&j, ',');
                json_container(&j, cat, k, false);
            } else {
                printf("%-20s %6zu fields  ", mc_kind_name(k->kind), k->n_fields);
                cmd_put_safe(stdout, k->name);
                if (k->comment) {
                    printf("  -- ");
                    cmd_put_safe_short(stdout, k->comment, CMD_COMMENT_COLS);
                }
                putchar('\n');
            }
            any = true;
        }
        mc_buf_puts(&j, "]}");
        if (ctx->json)
            cmd_print_json(&j);
    } else {
        mc_buf_puts(&j, "{\"schemas\":[");
        for (size_t i = 0; i < cat->n_schemas; i++) {
            const mc_schema *s = &cat->schemas[i];
            size_t n = 0;
            for (size_t k = 0; k < cat->n_containers; k++)
                n += strcmp(cat->containers[k].schema, s->name) == 0;
            if (ctx->json) {
                bool first = true;
                if (i)
                    mc_buf_putc(&j, ',');
                mc_buf_putc(&j, '{');
                json_put_kv_str(&j, &first, "name", s->name);
                json_put_kv_str(&j, &first, "owner", s->owner);
                json_put_kv_str(&j, &first, "comment", s->comment);
                json_put_kv_int(&j, &first, "containers", (int64_t)n);
                mc_buf_putc(&j, '}');
            } else {
                printf("%6zu containers  ", n);
                cmd_put_safe(stdout, s->name);
                if (s->comment) {
                    printf("  -- ");
                    cmd_put_safe_short(stdout, s->comment, CMD_COMMENT_COLS);
                }
                putchar('\n');
            }
        }
        mc_buf_puts(&j, "]}");
        if (ctx->json)
            cmd_print_json(&j);
    }
    mc_buf_free(&j);
out:
    for (int i = 0; i < 3; i++)
        free(parts[i]);
    mc_catalog_free(cat);
    store_close(st);
    cfg_free(c);
    return rc;
}

/* ---- search ------------------------------------------------------------------- */

static const cli_opt search_opts[] = {
    {"limit", 0, "N", "show at most N hits (default 50)"},
    {0},
};

static int cmd_search(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    mc_search_result res = {0};
    mc_error err = {0};
    long limit = 50;
    int rc = cmd_count_option(ctx, "limit", 50, 1, &limit);
    if (rc || (rc = cmd_load_config_for_reading(ctx, &c)) != 0 ||
        (rc = cmd_open_store_read(ctx, c, &st)) != 0)
        goto out;
    if (store_search(st, ctx->args[0], (size_t)limit, &res, &err) != 0) {
        cmd_report_error(&err);
        rc = err.code;
        goto out;
    }
    if (ctx->json) {
        mc_buf j = {0};
        mc_buf_puts(&j, "{\"hits\":[");
        for (size_t i = 0; i < res.n; i++) {
            const mc_search_hit *h = &res.hits[i];
            bool first = true;
            if (i)
                mc_buf_putc(&j, ',');
            mc_buf_putc(&j, '{');
            json_put_kv_str(&j, &first, "datastore", h->datastore);
            json_put_kv_str(&j, &first, "schema", h->schema);
            json_put_kv_str(&j, &first, "container", h->container);
            json_put_kv_str(&j, &first, "field", h->field);
            json_put_kv_str(&j, &first, "kind", h->kind);
            json_put_kv_str(&j, &first, "comment", h->comment);
            json_put_kv_str(&j, &first, "extension", h->extension);
            mc_buf_putc(&j, '}');
        }
        mc_buf_puts(&j, "]}");
        cmd_print_json(&j);
        mc_buf_free(&j);
        goto out;
    }
    for (size_t i = 0; i < res.n; i++) {
        const mc_search_hit *h = &res.hits[i];
        cmd_put_safe(stdout, h->datastore);
        putchar('.');
        cmd_put_safe(stdout, h->schema);
        putchar('.');
        cmd_put_safe(stdout, h->container);
        if (h->field) {
            putchar('.');
            cmd_put_safe(stdout, h->field);
        }
        printf("  (");
        cmd_put_safe(stdout, h->kind ? h->kind : "");
        if (h->extension) {
            printf(", extension ");
            cmd_put_safe(stdout, h->extension);
        }
        putchar(')');
        if (h->comment) {
            printf("  -- ");
            cmd_put_safe_short(stdout, h->comment, CMD_COMMENT_COLS);
        }
        putchar('\n');
    }
    if (res.n == 0)
        fprintf(stderr, "metacrawl: nothing matches '%s'\n", ctx->args[0]);
out:
    mc_search_result_free(&res);
    store_close(st);
    cfg_free(c);
    return rc;
}

/* ---- help --------------------------------------------------------------------- */

static const cli_opt help_opts[] = {
    {"man", 0, NULL, "print the man page metacrawl(1) in roff"},
    {0},
};

static int cmd_help(cli_ctx *ctx)
{
    if (cli_flag(ctx, "man")) {
        cli_print_man(stdout);
        return 0;
    }
    if (ctx->n_args == 0) {
        cli_print_help(stdout, NULL);
        return 0;
    }
    for (size_t i = 0; i < cli_n_commands; i++)
        if (strcmp(cli_commands[i]->name, ctx->args[0]) == 0) {
            cli_print_help(stdout, cli_commands[i]);
            return 0;
        }
    fprintf(stderr, "metacrawl: unknown command '%s'\n", ctx->args[0]);
    return MC_EXIT_USAGE;
}

/* ---- the table ------------------------------------------------------------------ */

static const cli_cmd cmd_def_init = {"init", "", "write a commented starter metacrawl.yml",
     "Writes a commented starter configuration to the file given with -c "
     "(default ./metacrawl.yml), mode 0600. An existing file is kept unless "
     "--force is given.",
     init_opts, 0, 0, cmd_init};
static const cli_cmd cmd_def_crawl = {"crawl", "[DS...]", "discover, diff against the store, record a run",
     "Crawls the named datastores (default: all of them). Each crawl connects, "
     "reads the catalog with a constant number of queries, compares it with the "
     "store and records a run with its changes in one transaction; a crawl that "
     "fails leaves the store as it was. The first crawl of a datastore records "
     "its catalog without reporting changes.\n\nSchemas the user can see but "
     "not use are reported, exit code 7, and nothing in them is marked removed; "
     "removals in the schemas that were read are recorded. Removals of more than "
     "fail_safe.max_removed_pct percent of the containers are held back unless "
     "--accept-removals is given. Every datastore is attempted; the highest "
     "exit code wins.\n\nAfter each datastore, the alert deliveries that are "
     "queued are sent (docs/alerts.md). A failed delivery is reported on stderr "
     "and in --json and stays queued for the next crawl or 'metacrawl alerts "
     "retry'; it does not change the exit code.",
     crawl_opts_table, 0, -1, cmd_crawl};
static const cli_cmd cmd_def_diff = {"diff", "[DS]", "changes between two stored runs",
     "Shows the changes between the catalogs recorded by two runs of a "
     "datastore (default: the last two completed runs). DS may be left out "
     "when the store holds one datastore.",
     diff_opts_table, 0, 1, cmd_diff};
static const cli_cmd cmd_def_history = {"history", "[DS]", "the runs: when, how long, status, counts, error",
     "Lists the recorded runs, newest first, of one datastore or of all.",
     history_opts, 0, 1, cmd_history};
static const cli_cmd cmd_def_show = {"show", "DS[.SCHEMA[.CONTAINER]]", "the stored catalog, as it is or was",
     "Shows the schemas of a datastore, the containers of a schema, or one "
     "container with its columns, keys and definition, from the store. Quote "
     "a name that contains a dot as in SQL: ds.\"my.schema\".\"my\"\"table\".",
     show_opts, 1, 1, cmd_show};
static const cli_cmd cmd_def_search = {"search", "TEXT", "containers and fields whose name or comment matches",
     "Searches the current catalog of every datastore in the store for "
     "containers and columns whose name or comment contains TEXT, ignoring "
     "case.",
     search_opts, 1, 1, cmd_search};
static const cli_cmd cmd_def_help = {"help", "[COMMAND]", "show help for metacrawl or a command",
     "Shows the overview, or a command's help; --man prints the man page.",
     help_opts, 0, 1, cmd_help};

extern const cli_cmd cmd_def_alerts; /* alerts.c */

extern const cli_cmd cmd_def_docs; /* site.c */

extern const cli_cmd cmd_def_check;  /* check.c */
extern const cli_cmd cmd_def_schedule; /* schedules/commands.c */
extern const cli_cmd cmd_def_run_due;  /* schedules/commands.c */
extern const cli_cmd cmd_def_grants; /* grants.c */

/* The commands in the order --help lists them.  A command defined in a file
 * of its own (grants.c, check.c, ...) adds one line here. */
const cli_cmd *const cli_commands[] = {
    &cmd_def_init,
    &cmd_def_check,
    &cmd_def_crawl,
    &cmd_def_diff,
    &cmd_def_history,
    &cmd_def_show,
    &cmd_def_search,
    &cmd_def_docs,
    &cmd_def_grants,
    &cmd_def_alerts,
    &cmd_def_schedule,
    &cmd_def_run_due,
    &cmd_def_help,
};
const size_t cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];
