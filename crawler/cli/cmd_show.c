/*
 * cmd_show.c — `metacrawl show DS[.SCHEMA[.CONTAINER]]`: the recorded
 * catalog as it is, or as it was after a run.
 */
#include "commands.h"
#include "export.h"
#include "json.h"
#include "sql_scan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt show_opts[] = {
    {"as-of", 0, "RUN", "the catalog as it was after that run (see 'metacrawl history')",
     CLI_INT_RANGE(1, LONG_MAX)},
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

/* "  reads sales.orders (amount, id)", one line per container a view reads
 * (docs/lineage.md); "(named in its text)" for a parsed one. */
static void show_depends_on(const mc_container *k)
{
    json_t *deps = k->depends_on ? json_loads(k->depends_on, 0, NULL) : NULL;
    size_t i;
    json_t *d;
    json_array_foreach(deps, i, d) {
        printf("  reads ");
        report_put_safe(stdout, json_string_value(json_object_get(d, "schema")));
        putchar('.');
        report_put_safe(stdout, json_string_value(json_object_get(d, "name")));
        json_t *cols = json_object_get(d, "columns");
        if (json_array_size(cols)) {
            putchar(' ');
            report_put_name_list(stdout, cols);
        } else if (!cols) {
            printf(" (named in its text)");
        }
        putchar('\n');
    }
    json_decref(deps);
}

/* One container as `show --json` prints it: what the json export writes
 * (docs/export.md), and its table facts, which are not the versioned
 * catalog and not exported (docs/lineage.md, "Table facts"). */
static void show_json_container(mc_buf *b, const mc_catalog *cat, const mc_container *k,
                                bool with_fields)
{
    mc_export_json_container(b, cat, k, with_fields);
    b->len--; /* its closing brace */
    mc_buf_puts(b, ",\"facts\":");
    report_json_facts(b, k->facts);
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
        report_put_safe(stdout, f->generated);
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
        report_put_safe(stdout, json_string_value(json_object_get(p, "name")));
        printf("  ");
        report_put_safe(stdout, json_string_value(json_object_get(p, "bound")));
        putchar('\n');
    }
    json_decref(parts);
}

static void show_container_text(const mc_catalog *cat, const mc_container *k)
{
    report_put_safe(stdout, k->schema);
    putchar('.');
    report_put_safe(stdout, k->name);
    printf("  (%s", mc_kind_name(k->kind));
    if (k->owner) {
        printf(", owner ");
        report_put_safe(stdout, k->owner);
    }
    if (k->extension) {
        printf(", member of extension ");
        report_put_safe(stdout, k->extension);
    }
    if (k->row_estimate >= 0)
        printf(", ~%.0f rows", k->row_estimate);
    else if (k->kind == MC_KIND_TABLE || k->kind == MC_KIND_PARTITIONED ||
             k->kind == MC_KIND_MATVIEW)
        printf(", rows unknown");
    printf(")\n");
    if (k->comment) {
        printf("  ");
        report_put_safe(stdout, k->comment); /* the container's own page: whole */
        putchar('\n');
    }
    if (k->primary_key) {
        json_t *pk = json_loads(k->primary_key, 0, NULL);
        printf("  primary key ");
        report_put_name_list(stdout, pk);
        putchar('\n');
        json_decref(pk);
    }
    if (k->foreign_keys) {
        json_t *fks = json_loads(k->foreign_keys, 0, NULL);
        size_t i;
        json_t *fk;
        json_array_foreach(fks, i, fk) {
            printf("  foreign key ");
            report_put_fk(stdout, fk);
            putchar('\n');
        }
        json_decref(fks);
    }
    show_depends_on(k);
    printf("\n  %3s  %-30s %-28s %-8s %s\n", "#", "COLUMN", "TYPE", "NULL", "DEFAULT / COMMENT");
    for (size_t i = 0; i < k->n_fields; i++) {
        const mc_field *f = &cat->fields[k->first_field + i];
        printf("  %3d  ", f->position);
        report_put_safe_pad(stdout, f->name, 31);
        report_put_safe_pad(stdout, f->type, 29);
        printf("%-8s ", f->not_null ? "not null" : "null");
        if (f->default_expr) {
            printf("default ");
            report_put_safe(stdout, f->default_expr);
            printf("  ");
        }
        show_field_extras(f);
        if (f->comment)
            report_put_safe_short(stdout, f->comment, REPORT_COMMENT_COLS);
        putchar('\n');
    }
    show_partitions(k);
    if (k->facts) {
        putchar('\n');
        report_print_facts(stdout, k->facts, "  ");
    }
    if (k->definition) {
        printf("\n  definition:\n");
        /* line by line, each line made safe on its own */
        const char *p = k->definition;
        while (*p) {
            size_t n = strcspn(p, "\n");
            char *line = mc_strndup(p, n);
            printf("    ");
            report_put_safe(stdout, line);
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
    store_cursor *cur = NULL;
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
    int64_t as_of = cli_int(ctx, "as-of", 0);
    if ((rc = cmd_load_config_for_reading(ctx, &c)) != 0 ||
        (rc = cmd_open_store_read(ctx, c, &st)) != 0 ||
        (rc = cmd_pick_datastore(st, parts[0], NULL)) != 0)
        goto out;
    mc_buf j = {0};
    if (n_parts == 3) {
        /* One container: read it alone, not the datastore's whole catalog. */
        if (store_load_container(st, parts[0], as_of, parts[1], parts[2], &cat, &err) != 0 ||
            store_load_facts(st, cat, &err) != 0) {
            report_error(&err);
            rc = err.code;
            goto out;
        }
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
            show_json_container(&j, cat, k, true);
            cmd_print_json(&j);
        } else {
            show_container_text(cat, k);
        }
        mc_buf_free(&j);
        goto out;
    }
    /* A schema's containers, or the schemas: one container at a time,
     * without its fields (their number is all that is shown), so memory
     * does not grow with the catalog. */
    if (store_cursor_open(st, parts[0], as_of, &cur, &err) != 0 ||
        store_cursor_counts_only(cur, &err) != 0) {
        report_error(&err);
        rc = err.code;
        goto out;
    }
    const mc_catalog *sch = store_cursor_schemas(cur);
    const mc_catalog *one;
    if (n_parts == 2) {
        if (!mc_catalog_find_schema(sch, parts[1])) {
            mc_buf a = {0};
            mc_term_escape(&a, parts[1]);
            rc = cmd_fail(MC_EXIT_USAGE, NULL, "%s has no schema %s%s", parts[0],
                          mc_buf_str(&a), as_of ? " at that run" : "");
            mc_buf_free(&a);
            goto out;
        }
        mc_buf_puts(&j, "{\"containers\":[");
        bool any = false;
        while ((rc = store_cursor_next(cur, &one, &err)) == 0 && one) {
            const mc_container *k = &one->containers[0];
            if (strcmp(k->schema, parts[1]) != 0)
                continue;
            if (ctx->json) {
                /* its facts, in a catalog of its own (the cursor's is read-only) */
                mc_catalog *with = mc_catalog_new();
                *mc_catalog_add_container(with) = *k;
                if ((rc = store_load_facts(st, with, &err)) == 0) {
                    if (any)
                        mc_buf_putc(&j, ',');
                    show_json_container(&j, with, &with->containers[0], false);
                }
                mc_catalog_free(with);
                if (rc != 0)
                    break;
            } else {
                printf("%-20s %6zu fields  ", mc_kind_name(k->kind), k->n_fields);
                report_put_safe(stdout, k->name);
                if (k->comment) {
                    printf("  -- ");
                    report_put_safe_short(stdout, k->comment, REPORT_COMMENT_COLS);
                }
                putchar('\n');
            }
            any = true;
        }
        if (rc != 0) {
            report_error(&err);
            rc = err.code;
            mc_buf_free(&j);
            goto out;
        }
        mc_buf_puts(&j, "]}");
        if (ctx->json)
            cmd_print_json(&j);
    } else {
        /* containers per schema, counted as they come (both by name) */
        size_t *n_of = mc_calloc(sch->n_schemas + 1, sizeof *n_of);
        size_t si = 0;
        while ((rc = store_cursor_next(cur, &one, &err)) == 0 && one) {
            const char *schema = one->containers[0].schema;
            while (si < sch->n_schemas && strcmp(sch->schemas[si].name, schema) < 0)
                si++;
            if (si < sch->n_schemas && strcmp(sch->schemas[si].name, schema) == 0)
                n_of[si]++;
        }
        if (rc != 0) {
            report_error(&err);
            rc = err.code;
            free(n_of);
            goto out;
        }
        mc_buf_puts(&j, "{\"schemas\":[");
        for (size_t i = 0; i < sch->n_schemas; i++) {
            const mc_schema *s = &sch->schemas[i];
            size_t n = n_of[i];
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
                report_put_safe(stdout, s->name);
                if (s->comment) {
                    printf("  -- ");
                    report_put_safe_short(stdout, s->comment, REPORT_COMMENT_COLS);
                }
                putchar('\n');
            }
        }
        free(n_of);
        mc_buf_puts(&j, "]}");
        if (ctx->json)
            cmd_print_json(&j);
    }
    mc_buf_free(&j);
out:
    for (int i = 0; i < 3; i++)
        free(parts[i]);
    mc_catalog_free(cat);
    store_cursor_close(cur);
    store_close(st);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_show = {"show", "DS[.SCHEMA[.CONTAINER]]", "the stored catalog, as it is or was",
     "Shows the schemas of a datastore, the containers of a schema, or one "
     "container with its columns, keys, definition and table facts (not "
     "versioned; the run that observed them is shown), from the store. Quote "
     "a name that contains a dot as in SQL: ds.\"my.schema\".\"my\"\"table\".",
     show_opts, 1, 1, cmd_show};
