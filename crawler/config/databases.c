/*
 * databases.c — a datastore with `databases:` stands for several databases
 * of one cluster, each recorded as its own datastore "<datastore>/<db>"
 * (docs/configuration.md, "Several databases").  This file owns that name:
 * how a database name of any bytes becomes part of a datastore name, how the
 * command line's "DS/DB" is read back, and the per-database copy of a
 * datastore's settings the crawler works with.
 *
 * Why %XX and not the raw name: the recorded name travels into alert match
 * texts ("datastore.schema.container", globs), lock and site file names, the
 * terminal and JSON.  With every byte outside [A-Za-z0-9_-] written %XX the
 * database part holds no '.', '/', glob character, space or control byte,
 * so none of those places has to know about databases; ordinary names
 * (sales, dev, analytics_2024) read unchanged.
 */
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool keep_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

bool cfg_has_databases(const cfg_datastore *ds)
{
    return ds && (ds->all_databases || ds->n_databases > 0);
}

char *cfg_database_datastore_name(const char *base, const char *database)
{
    mc_buf b = {0};
    mc_buf_printf(&b, "%s/", base);
    for (const unsigned char *p = (const unsigned char *)database; *p; p++) {
        if (keep_byte(*p))
            mc_buf_putc(&b, (char)*p);
        else
            mc_buf_printf(&b, "%%%02X", *p);
    }
    char *out = mc_strdup(mc_buf_str(&b));
    mc_buf_free(&b);
    return out;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower case is not a form we write */
}

char *cfg_database_decode(const char *text)
{
    if (!text || !*text)
        return NULL;
    mc_buf b = {0};
    for (const char *p = text; *p; p++) {
        if (*p == '%') {
            int hi = hex(p[1]), lo = hi < 0 ? -1 : hex(p[2]);
            int v = hi * 16 + lo;
            /* a byte we would have kept, or NUL, is not our form */
            if (lo < 0 || v == 0 || keep_byte((unsigned char)v)) {
                mc_buf_free(&b);
                return NULL;
            }
            mc_buf_putc(&b, (char)v);
            p += 2;
        } else if (keep_byte((unsigned char)*p)) {
            mc_buf_putc(&b, *p);
        } else {
            mc_buf_free(&b);
            return NULL;
        }
    }
    char *out = mc_strdup(mc_buf_str(&b));
    mc_buf_free(&b);
    return out;
}

void cfg_database_target(const cfg_datastore *parent, const char *database, cfg_datastore *out)
{
    *out = *parent;
    out->name = cfg_database_datastore_name(parent->name, database);
    out->database = mc_strdup(database);
    out->databases = NULL;
    out->n_databases = 0;
    out->all_databases = false;
    out->parent = parent;
}

void cfg_database_target_free(cfg_datastore *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->database);
    d->name = d->database = NULL;
}

const cfg_datastore *cfg_find_database(const cfg *c, const char *name, char **database_out)
{
    *database_out = NULL;
    const char *slash = name ? strchr(name, '/') : NULL;
    if (!slash || !slash[1])
        return NULL;
    const cfg_datastore *ds = NULL;
    for (size_t i = 0; i < c->n_datastores; i++)
        if (strlen(c->datastores[i].name) == (size_t)(slash - name) &&
            !strncmp(c->datastores[i].name, name, (size_t)(slash - name)))
            ds = &c->datastores[i];
    if (!cfg_has_databases(ds))
        return NULL;
    const char *part = slash + 1;
    char *decoded = cfg_database_decode(part);
    for (size_t i = 0; i < ds->n_databases; i++) {
        /* the recorded form first, then the name as written in the file */
        if ((decoded && !strcmp(decoded, ds->databases[i])) || !strcmp(part, ds->databases[i])) {
            free(decoded);
            *database_out = mc_strdup(ds->databases[i]);
            return ds;
        }
    }
    if (!ds->all_databases) {
        free(decoded);
        return NULL;
    }
    *database_out = decoded ? decoded : mc_strdup(part);
    return ds;
}
