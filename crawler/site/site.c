/*
 * site.c — `metacrawl docs`: the documentation site built from the store
 * (site.h, docs/site.md).  This file owns the build (site_build: the output
 * directory, its lock, the read snapshot, the order the files are written
 * in) and the `docs` command; the rest of the module is in this directory:
 *
 *     escape.c   the escapers and file names (UTF-8 aware)
 *     model.c    the loaded catalog of each datastore
 *     output.c   the writer: incremental writes, stale files, the manifest
 *     page.c     the page layer (HTML and Markdown), formats, paths, frame
 *     pages.c    container, schema, index and changes pages, the feed
 *     diagrams.c the diagrams' contents (crawler/diagram draws them)
 *     search.c   the search index and search.html
 *     assets/    site.css and search.js, embedded at build time
 *                (embed_assets.py writes site_assets.c from them)
 *     site_internal.h   what these files share
 *
 * The whole build reads inside one read snapshot of the store.  First what
 * the pages share, in a constant number of queries whatever the number of
 * tables: the current catalog of each datastore without its fields (each
 * container with its number of columns), its runs and every change event.
 * Then, as the pages are written, each container's fields and field lives
 * for its own page, a schema's key columns for its diagram and each
 * container's fields for the search index, one container at a time and
 * released after use: memory grows with the number of containers, not of
 * columns (docs/performance.md).  Each page is rendered in memory and handed
 * to the writer.  Pages are written through a small output layer (page_*) that has
 * an HTML and a Markdown back end, so both formats share one page structure.
 *
 * Invariants:
 *  1. Warehouse text reaches a page only through p_text/p_link/p_pre and the
 *     escapers they call (HTML/XML entities, Markdown backslashes, ASCII-only
 *     JS literals), or through crawler/diagram, which escapes the names in a
 *     diagram for Graphviz and for Mermaid (diagrams.c).  File names, URLs and fragment ids are made by
 *     site_file_name/put_id from names and contain only [a-z0-9_-] plus the
 *     separators the module adds ('/', '.', '#').
 *  2. The bytes of every file depend on the store alone: everything is sorted,
 *     every time shown is a run's time, nothing reads the clock.
 *  3. The writer compares before writing: an unchanged file is not touched;
 *     a changed one is written to a temporary file in its directory and
 *     renamed over the old one, so a reader (or a web server) never sees half
 *     a page.  Files listed in the previous build's manifest, or found under
 *     catalog/ and search/, that this build did not produce are deleted.
 *
 * Layout (HTML; Markdown has README.md for index.html, .md for .html, and no
 * search):
 *     index.html  changes.html  search.html  feed.atom  .metacrawl-site
 *     assets/site.css  assets/search.js  search/index.js  search/<hex>.js
 *     catalog/<ds>/<schema>.html  catalog/<ds>/<schema>/<container>.html
 */
#include "site_internal.h"
#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the assets ---------------------------------------------------------------------- */

static int write_asset(site *S, const char *rel, const char *data, size_t len,
                       mc_error *err)
{
    mc_buf b = {0};
    mc_buf_append(&b, data, len);
    int rc = emit_buf(S, rel, &b, err);
    mc_buf_free(&b);
    return rc;
}

/* ---- the build ---------------------------------------------------------------------- */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An absolute http(s) URL of printable ASCII, given a trailing slash. */
static char *normal_base_url(const char *url, mc_error *err)
{
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
        mc_error_set(err, MC_EXIT_USAGE, "docs: --base-url must start with https:// or http://");
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\'' || *p == '<' ||
            *p == '>' || *p == '\\' || *p == '`') {
            mc_error_set(err, MC_EXIT_USAGE, "docs: --base-url must be a URL without "
                         "spaces, quotes or non-ASCII characters (percent-encode them)");
            return NULL;
        }
    size_t n = strlen(url);
    return n && url[n - 1] == '/' ? mc_strdup(url) : mc_asprintf("%s/", url);
}

/* Which datastores, sorted and without duplicates; every named one must be
 * in the store. */
static int pick_datastores(store *s, const char *const *names, size_t n, char ***out,
                           size_t *n_out, mc_error *err)
{
    char **all = NULL;
    size_t n_all = 0;
    if (store_list_datastores(s, &all, &n_all, err) < 0)
        return -1;
    char **sel = mc_calloc(n + n_all + 1, sizeof *sel);
    size_t k = 0;
    int ret = 0;
    if (n == 0) {
        for (size_t i = 0; i < n_all; i++)
            sel[k++] = mc_strdup(all[i]);
    } else {
        for (size_t i = 0; i < n; i++) {
            bool known = false;
            for (size_t j = 0; j < n_all && !known; j++)
                known = strcmp(all[j], names[i]) == 0;
            if (!known) {
                mc_buf have = {0};
                for (size_t j = 0; j < n_all; j++)
                    mc_buf_printf(&have, "%s%s", j ? ", " : "", all[j]);
                mc_error_set(err, MC_EXIT_USAGE, "docs: the store has no datastore '%s'",
                             names[i]);
                mc_error_hint(err, "the store has: %s", n_all ? mc_buf_str(&have) : "none");
                mc_buf_free(&have);
                ret = -1;
                break;
            }
            sel[k++] = mc_strdup(names[i]);
        }
    }
    for (size_t i = 0; i < n_all; i++)
        free(all[i]);
    free(all);
    if (ret == 0 && k > 1) {
        qsort(sel, k, sizeof *sel, str_cmp);
        size_t u = 1;
        for (size_t i = 1; i < k; i++) {
            if (strcmp(sel[i], sel[u - 1]) == 0)
                free(sel[i]);
            else
                sel[u++] = sel[i];
        }
        k = u;
    }
    if (ret != 0) {
        for (size_t i = 0; i < k; i++)
            free(sel[i]);
        free(sel);
        return -1;
    }
    *out = sel;
    *n_out = k;
    return 0;
}

static int make_root(const char *dir, mc_error *err)
{
    char *p = mc_strdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s)
            continue;
        char keep = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            mc_error_set(err, MC_EXIT_USAGE, "docs: cannot create the directory %s: %s", p,
                         strerror(errno));
            free(p);
            return -1;
        }
        *s = keep;
        if (!keep)
            break;
    }
    free(p);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return mc_error_set(err, MC_EXIT_USAGE, "docs: %s is not a directory", dir);
    return 0;
}

/*
 * A build replaces index.html and the other pages and deletes what it does
 * not write under catalog/ and search/: only in a directory that is empty
 * or holds an earlier build (its manifest), unless --force.  `--out .` is
 * one typo away from a home directory.
 */
static int check_root_is_ours(const site *S, mc_error *err)
{
    char *mpath = mc_asprintf("%s/" SITE_MANIFEST, S->root);
    struct stat sb;
    bool built_before = lstat(mpath, &sb) == 0 && S_ISREG(sb.st_mode);
    free(mpath);
    if (built_before || S->o->force)
        return 0;
    DIR *d = opendir(S->root);
    if (!d) {
        mc_error_set(err, MC_EXIT_USAGE, "docs: cannot read the directory %s: %s", S->root,
                     strerror(errno));
        return -1;
    }
    const char *first = NULL;
    struct dirent *e;
    while (!first && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            first = e->d_name;
    if (first) {
        mc_error_set(err, MC_EXIT_USAGE, "docs: %s is not empty and holds no earlier "
                     "metacrawl build (no " SITE_MANIFEST "): a build there would "
                     "overwrite or delete files that are not its own", S->root);
        mc_error_hint(err, "give --out a new or empty directory, or add --force to build "
                           "into this one anyway");
    }
    closedir(d);
    return first ? -1 : 0;
}

static int build_pages(site *S, mc_error *err)
{
    if (!S->md && (write_asset(S, "assets/site.css", site_asset_css, site_asset_css_len,
                               err) < 0 ||
                   write_asset(S, "assets/search.js", site_asset_js, site_asset_js_len,
                               err) < 0))
        return -1;
    if (write_index(S, err) < 0)
        return -1;
    for (size_t di = 0; di < S->n_ds; di++) {
        ds_data *d = &S->ds[di];
        for (size_t si = 0; si < d->n_schemas; si++) {
            /* the key columns of the schema's diagram are read for it */
            if (write_schema(S, d, si, err) < 0 || write_schema_erd(S, d, si, err) < 0 ||
                ds_fields_check(d, err) < 0)
                return -1;
            ds_fields_release(d);
        }
        for (size_t ci = 0; ci < d->cat->n_containers; ci++)
            if (write_container(S, d, ci, err) < 0)
                return -1;
    }
    size_t n_groups = 0;
    run_group *groups = collect_runs_with_changes(S, &n_groups);
    int rc = write_changes(S, groups, n_groups, err) < 0 ||
             write_feed(S, groups, n_groups, err) < 0 ? -1 : 0;
    free(groups);
    if (rc == 0 && !S->md &&
        (write_search_page(S, err) < 0 || write_search_index(S, err) < 0))
        rc = -1;
    return rc;
}

int site_build(store *s, const char *const *datastores, size_t n_datastores,
               const site_opts *o, site_stats *stats, mc_error *err)
{
    memset(stats, 0, sizeof *stats);
    if (!o->out_dir || !*o->out_dir)
        return mc_error_set(err, MC_EXIT_USAGE, "docs: no output directory (--out DIR)");
    site S = {.o = o, .md = o->format == SITE_MARKDOWN};
    S.ext = S.md ? ".md" : ".html";
    S.index_file = S.md ? "README.md" : "index.html";
    site_opts local = *o;
    char *base = NULL;
    char **names = NULL;
    size_t n_names = 0;
    int dirfd = -1, ret = -1;
    if (o->base_url) {
        if (!(base = normal_base_url(o->base_url, err)))
            return -1;
        local.base_url = base;
    }
    S.o = &local;
    S.root = mc_strdup(o->out_dir);
    for (size_t n = strlen(S.root); n > 1 && S.root[n - 1] == '/'; n--)
        S.root[n - 1] = '\0';
    if (make_root(S.root, err) < 0)
        goto out;
    /* Two builds into one directory would delete each other's files. */
    dirfd = open(S.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 || flock(dirfd, LOCK_EX | LOCK_NB) != 0) {
        mc_error_set(err, MC_EXIT_USAGE, "docs: cannot lock %s: %s", S.root,
                     dirfd < 0 ? strerror(errno) : "another metacrawl docs is writing it");
        goto out;
    }

    if (check_root_is_ours(&S, err) < 0)
        goto out;

    if (store_read_begin(s, err) < 0)
        goto out;
    if (pick_datastores(s, datastores, n_datastores, &names, &n_names, err) < 0) {
        store_read_end(s);
        goto out;
    }
    S.ds = mc_calloc(n_names + 1, sizeof *S.ds);
    for (size_t i = 0; i < n_names; i++) {
        S.ds[i].name = names[i];
        S.n_ds = i + 1;
        if (ds_load(s, &S.ds[i], err) < 0) {
            store_read_end(s);
            goto out;
        }
    }
    /* The pages read their containers' fields and field lives as they are
     * written, in the same snapshot as the rest. */
    int built = build_pages(&S, err);
    store_read_end(s);
    if (built < 0)
        goto out;
    if (S.n_paths)
        qsort(S.paths, S.n_paths, sizeof *S.paths, path_cmp);
    if (remove_stale(&S, &stats->n_removed, err) < 0 || write_manifest(&S, err) < 0)
        goto out;
    stats->n_files = S.n_paths;
    stats->n_written = S.n_written;
    stats->n_datastores = S.n_ds;
    for (size_t i = 0; i < S.n_ds; i++) {
        stats->n_schemas += S.ds[i].n_schemas;
        stats->n_containers += S.ds[i].cat->n_containers;
        stats->n_fields += S.ds[i].n_fields;
    }
    ret = 0;
out:
    if (dirfd >= 0)
        close(dirfd); /* releases the lock */
    for (size_t i = 0; i < S.n_ds; i++)
        ds_free(&S.ds[i]);
    free(S.ds);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    for (size_t i = 0; i < S.n_paths; i++)
        free(S.paths[i]);
    free(S.paths);
    free(S.made_dir);
    free(S.readback);
    free(S.root);
    free(base);
    return ret;
}
