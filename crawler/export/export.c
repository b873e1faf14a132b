/*
 * export.c — the driver of every export: the store is walked with a cursor
 * (one container and its fields in memory at a time), each container is
 * formatted into a buffer, and the buffer leaves for the output before the
 * next container is read.  The formats themselves are in formats.c.
 */
#include "export.h"
#include "export_internal.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const format_names[MC_EXPORT__COUNT] = {
    "dbt-catalog", "datahub", "openlineage", "json",
};

const char *mc_export_format_name(mc_export_format f)
{
    return (unsigned)f < MC_EXPORT__COUNT ? format_names[f] : "?";
}

int mc_export_format_parse(const char *s)
{
    for (int i = 0; s && i < MC_EXPORT__COUNT; i++)
        if (strcmp(s, format_names[i]) == 0)
            return i;
    return -1;
}

void exp_put_part(mc_buf *b, const char *name)
{
    if (!strchr(name, '.') && !strchr(name, '"')) {
        mc_buf_puts(b, name);
        return;
    }
    mc_buf_put_sql_ident(b, name);
}

void exp_put_qualified(mc_buf *b, const char *database, const char *schema,
                       const char *name)
{
    if (database) {
        exp_put_part(b, database);
        mc_buf_putc(b, '.');
    }
    exp_put_part(b, schema);
    mc_buf_putc(b, '.');
    exp_put_part(b, name);
}

const mc_schema *exp_schema(const exp_ctx *x, const char *name)
{
    return mc_catalog_find_schema(x->schemas, name);
}

static int flush_out(exp_ctx *x, FILE *out, const char *out_name, mc_error *err)
{
    if (x->b.len && fwrite(x->b.data, 1, x->b.len, out) != x->b.len) {
        mc_buf_reset(&x->b);
        return mc_error_set(err, MC_EXIT_USAGE, "export: cannot write %s: %s", out_name,
                            strerror(errno));
    }
    mc_buf_reset(&x->b);
    return 0;
}

int mc_export_write(store *st, const mc_export_opts *o, FILE *out, const char *out_name,
                    mc_error *err)
{
    if ((unsigned)o->format >= MC_EXPORT__COUNT)
        return mc_error_set(err, MC_EXIT_USAGE, "export: unknown format %d", (int)o->format);
    const exp_format *f = &exp_formats[o->format];
    store_cursor *cur = NULL;
    if (store_cursor_open(st, o->datastore, o->as_of, &cur, err) < 0)
        return -1;
    exp_ctx x = {.o = o, .schemas = store_cursor_schemas(cur)};
    mc_time_iso(o->run_at, x.at);
    int ret = -1;
    f->begin(&x);
    if (flush_out(&x, out, out_name, err) < 0)
        goto out;
    for (;;) {
        const mc_catalog *one;
        if (store_cursor_next(cur, &one, err) < 0)
            goto out;
        if (!one)
            break;
        for (size_t i = 0; i < one->n_containers; i++) {
            f->container(&x, one, &one->containers[i]);
            x.n++;
        }
        if (flush_out(&x, out, out_name, err) < 0)
            goto out;
    }
    f->end(&x);
    if (flush_out(&x, out, out_name, err) < 0)
        goto out;
    if (fflush(out) != 0 || ferror(out)) {
        mc_error_set(err, MC_EXIT_USAGE, "export: cannot write %s: %s", out_name,
                     strerror(errno));
        goto out;
    }
    ret = 0;
out:
    mc_buf_free(&x.b);
    store_cursor_close(cur);
    return ret;
}

int mc_export_to_file(store *st, const mc_export_opts *o, const char *path, mc_error *err)
{
    const char *slash = strrchr(path, '/');
    char *tmp = mc_asprintf("%.*s.%s.tmp-%ld", slash ? (int)(slash - path + 1) : 0, path,
                            slash ? slash + 1 : path, (long)getpid());
    int ret = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        mc_error_set(err, MC_EXIT_USAGE, "export: cannot write %s: %s", path, strerror(errno));
        mc_error_hint(err, "--out names a file in a directory that exists and is writable");
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        goto done;
    }
    if (mc_export_write(st, o, out, path, err) < 0) {
        fclose(out);
        unlink(tmp);
        goto done;
    }
    if (fclose(out) != 0) {
        mc_error_set(err, MC_EXIT_USAGE, "export: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        mc_error_set(err, MC_EXIT_USAGE, "export: cannot replace %s: %s", path,
                     strerror(errno));
        unlink(tmp);
        goto done;
    }
    ret = 0;
done:
    free(tmp);
    return ret;
}

/* ---- metacrawl's own JSON of one container ----------------------------- */

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

void mc_export_json_container(mc_buf *b, const mc_catalog *cat, const mc_container *k,
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
    json_put_kv_raw(b, &first, "depends_on", k->depends_on);
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
