/*
 * targets.c — the databases a datastore stands for (targets.h): as written
 * in `databases:`, or read from the server for `databases: "*"`.
 *
 * The "*" list is read on a connection of its own to the datastore's
 * `database:` (closed before the first database is crawled), so that every
 * database, that one included, is crawled in a session of its own with the
 * same statements as a datastore of one database.
 */
#include "targets.h"
#include "crawl.h"
#include "pg.h"

#include <stdlib.h>
#include <string.h>

/* PostgreSQL "pg_database": datallowconn false and templates cannot be
 * crawled (or should not be); CONNECT is what a login needs. */
static const char pg_list_sql[] =
    "SELECT datname FROM pg_catalog.pg_database "
    "WHERE datallowconn AND NOT datistemplate "
    "AND pg_catalog.has_database_privilege(datname, 'CONNECT')";

/* AWS "SVV_REDSHIFT_DATABASES": the databases a user has access to, local
 * ones and those created from datashares ('shared').  padb_harvest is
 * Redshift's own; other types (the data catalog's) are not databases a
 * session can be opened on. */
static const char rs_list_sql[] =
    "SELECT database_name FROM svv_redshift_databases "
    "WHERE database_type IN ('local', 'shared') AND database_name <> 'padb_harvest'";

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add(crawl_targets *t, const cfg_datastore *ds, const char *db)
{
    t->ds = mc_realloc(t->ds, (t->n + 1) * sizeof *t->ds);
    cfg_database_target(ds, db, &t->ds[t->n++]);
}

static int list_from_server(const cfg_datastore *ds, crawl_targets *out, mc_error *err)
{
    disc_session *sess = NULL;
    tunnel *tun = NULL;
    pg_result *res = NULL;
    char **names = NULL;
    int n = 0, rc = -1;
    if (crawl_connect(ds, &sess, &tun, err) != 0)
        return -1;
    if (disc_detect(sess, err) != 0)
        goto out;
    bool redshift = strcmp(disc_dialect(sess), "redshift") == 0;
    res = pg_query(disc_pg(sess), "database list query", redshift ? rs_list_sql : pg_list_sql,
                   err);
    if (!res) {
        crawl_tunnel_explain(tun, err);
        mc_error_hint(err, "databases: \"*\" reads the list of databases from %s; name them "
                           "instead (databases: [a, b]) if the user cannot read it",
                      redshift ? "svv_redshift_databases" : "pg_database");
        goto out;
    }
    n = pg_result_rows(res);
    names = mc_calloc((size_t)n + 1, sizeof *names);
    for (int i = 0; i < n; i++)
        names[i] = mc_strdup(pg_result_text(res, i, 0));
    /* byte order, whatever the server's collation: the same order on every
     * crawl and in every report */
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++)
        if (*names[i] && (i == 0 || strcmp(names[i], names[i - 1]) != 0))
            add(out, ds, names[i]);
    out->listed = true;
    rc = 0;
out:
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    pg_result_free(res);
    disc_close(sess);
    tunnel_close(tun);
    return rc;
}

int crawl_list_databases(const cfg_datastore *ds, const char *only, crawl_targets *out,
                         mc_error *err)
{
    memset(out, 0, sizeof *out);
    out->base = ds;
    if (!cfg_has_databases(ds))
        return 0;
    if (only) {
        add(out, ds, only);
        return 0;
    }
    if (!ds->all_databases) {
        for (size_t i = 0; i < ds->n_databases; i++)
            add(out, ds, ds->databases[i]);
        return 0;
    }
    if (list_from_server(ds, out, err) != 0) {
        crawl_targets_free(out);
        out->base = ds;
        return -1;
    }
    return 0;
}

void crawl_targets_free(crawl_targets *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        cfg_database_target_free(&t->ds[i]);
    free(t->ds);
    memset(t, 0, sizeof *t);
}

char **crawl_targets_gone(const crawl_targets *t, store *st)
{
    if (!t || !t->listed || !st || !t->base)
        return NULL;
    const cfg_datastore *ds = t->base;
    char **all = NULL;
    size_t n_all = 0, n = 0;
    mc_error err = {0};
    if (store_list_datastores(st, &all, &n_all, &err) != 0)
        return NULL;
    size_t len = strlen(ds->name);
    char **gone = mc_calloc(n_all + 1, sizeof *gone);
    for (size_t i = 0; i < n_all; i++) {
        bool mine = !strncmp(all[i], ds->name, len) && all[i][len] == '/';
        for (size_t k = 0; mine && k < t->n; k++)
            mine = strcmp(all[i], t->ds[k].name) != 0;
        if (mine)
            gone[n++] = all[i];
        else
            free(all[i]);
    }
    free(all);
    if (!n) {
        free(gone);
        return NULL;
    }
    return gone;
}

void crawl_targets_warn_gone(const crawl_targets *t, store *st)
{
    char **gone = crawl_targets_gone(t, st);
    for (size_t i = 0; gone && gone[i]; i++) {
        /* the recorded name is %XX-escaped: safe on a terminal */
        mc_log(MC_LOG_WARN, "%s: no longer listed by databases: \"*\" (dropped, or the user "
                            "lost CONNECT): not crawled; its recorded catalog is kept",
               gone[i]);
        free(gone[i]);
    }
    free(gone);
}
