/*
 * site.c — `metacrawl docs`: the documentation site built from the store
 * (site.h, docs/site.md).
 *
 * One pass reads everything it needs inside one read snapshot of the store
 * (the current catalog of each datastore with fields, its runs, every change
 * event and the life of every field: a constant number of queries, whatever
 * the number of tables), then renders pages in memory and hands each to the
 * writer.  Pages are written through a small output layer (page_*) that has
 * an HTML and a Markdown back end, so both formats share one page structure.
 *
 * Invariants:
 *  1. Warehouse text reaches a page only through p_text/p_link/p_pre and the
 *     escapers they call (HTML/XML entities, Markdown backslashes, ASCII-only
 *     JS literals).  File names, URLs and fragment ids are made by
 *     site_file_name/put_id from names and contain only [a-z0-9_-] plus the
 *     separators this file adds ('/', '.', '#').
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
#include "site.h"
#include "commands.h"
#include "json.h"
#include "../store/history.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define SITE_MANIFEST ".metacrawl-site"
#define RECENT_RUNS 30        /* runs with changes on changes.html */
#define FEED_ENTRIES 50       /* runs with changes in feed.atom */
#define ENTRY_MAX_CHANGES 200 /* changes listed per run there */
#define SEARCH_CHUNK_SPREAD 256             /* about one cut per 256 containers */
#define SEARCH_CHUNK_MIN (16 * 1024)
#define SEARCH_CHUNK_MAX (2 * 1024 * 1024)

/* ---- UTF-8 --------------------------------------------------------------------- */

/* Length (1..4) of the valid UTF-8 sequence at p and its code point, or 0
 * when the bytes are not valid UTF-8 (overlong, surrogate, truncated). */
#define U_FFFD "\xef\xbf\xbd"

/* ---- escapers (site.h) -------------------------------------------------------- */

/* HTML and XML share one escaper: its five entities are valid in both. */
static void markup_escape(mc_buf *b, const char *s)
{
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s, *run = p;
    while (*p) {
        unsigned char c = *p;
        const char *esc = NULL;
        char tmp[8];
        size_t n = 1;
        switch (c) {
        case '&': esc = "&amp;"; break;
        case '<': esc = "&lt;"; break;
        case '>': esc = "&gt;"; break;
        case '"': esc = "&quot;"; break;
        case '\'': esc = "&#39;"; break;
        case '\t':
        case '\n':
        case '\r': break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(tmp, sizeof tmp, "\\x%02x", c);
                esc = tmp;
            } else if (c >= 0x80) {
                uint32_t cp;
                n = mc_utf8_decode(p, &cp);
                if (n == 0 || cp == 0xfffe || cp == 0xffff) {
                    esc = U_FFFD;
                    if (n == 0)
                        n = 1;
                }
            }
        }
        if (esc) {
            mc_buf_append(b, (const char *)run, (size_t)(p - run));
            mc_buf_puts(b, esc);
            p += n;
            run = p;
        } else {
            p += n;
        }
    }
    mc_buf_append(b, (const char *)run, (size_t)(p - run));
}

void site_html_escape(mc_buf *b, const char *s)
{
    markup_escape(b, s);
}

void site_xml_escape(mc_buf *b, const char *s)
{
    markup_escape(b, s);
}

void site_js_string(mc_buf *b, const char *s)
{
    if (!s) {
        mc_buf_puts(b, "null");
        return;
    }
    mc_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned char c = *p;
        if (c >= 0x80) {
            uint32_t cp;
            size_t n = mc_utf8_decode(p, &cp);
            if (n == 0) {
                cp = 0xfffd;
                n = 1;
            }
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                mc_buf_printf(b, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
            } else {
                mc_buf_printf(b, "\\u%04x", cp);
            }
            p += n;
            continue;
        }
        switch (c) {
        case '"': mc_buf_puts(b, "\\\""); break;
        case '\\': mc_buf_puts(b, "\\\\"); break;
        case '\n': mc_buf_puts(b, "\\n"); break;
        case '\r': mc_buf_puts(b, "\\r"); break;
        case '\t': mc_buf_puts(b, "\\t"); break;
        case '<':
        case '>':
        case '&':
        case '\'': mc_buf_printf(b, "\\u%04x", c); break;
        default:
            if (c < 0x20 || c == 0x7f)
                mc_buf_printf(b, "\\u%04x", c);
            else
                mc_buf_putc(b, (char)c);
        }
        p++;
    }
    mc_buf_putc(b, '"');
}

static bool is_ascii_punct(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) ||
           (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

void site_md_escape(mc_buf *b, const char *s)
{
    if (!s)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned char c = *p;
        if (c >= 0x80) {
            uint32_t cp;
            size_t n = mc_utf8_decode(p, &cp);
            if (n == 0 || cp == 0xfffe || cp == 0xffff)
                mc_buf_puts(b, U_FFFD);
            else
                mc_buf_append(b, (const char *)p, n);
            p += n ? n : 1;
            continue;
        }
        if (is_ascii_punct(c)) {
            mc_buf_putc(b, '\\');
            mc_buf_putc(b, (char)c);
        } else if (c == '\n') {
            mc_buf_puts(b, "<br>");
        } else if (c == '\r') {
            if (p[1] != '\n')
                mc_buf_puts(b, "<br>");
        } else if (c == '\t') {
            mc_buf_putc(b, ' ');
        } else if (c < 0x20 || c == 0x7f) {
            mc_buf_printf(b, "\\\\x%02x", c);
        } else {
            mc_buf_putc(b, (char)c);
        }
        p++;
    }
}

static bool keep_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* con.html is a device on Windows, whatever the extension. */
static bool windows_device(const char *name)
{
    static const char *const fixed[] = {"con", "prn", "aux", "nul"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(name, fixed[i]) == 0)
            return true;
    return (strncmp(name, "com", 3) == 0 || strncmp(name, "lpt", 3) == 0) &&
           name[3] >= '0' && name[3] <= '9' && name[4] == '\0';
}

#define FILE_NAME_MAX 200 /* longer forms are cut to FILE_NAME_CUT + a hash */
#define FILE_NAME_CUT 180

void site_file_name(mc_buf *b, const char *name)
{
    if (!name || !*name) {
        mc_buf_putc(b, '-'); /* no other name gives a lone '-' */
        return;
    }
    const unsigned char *p = (const unsigned char *)name;
    bool device = windows_device(name);
    size_t len = 0;
    for (size_t i = 0; p[i]; i++)
        len += keep_byte(p[i]) && !(i == 0 && device) ? 1 : 3;
    size_t limit = len > FILE_NAME_MAX ? FILE_NAME_CUT : len, used = 0;
    for (size_t i = 0; p[i]; i++) {
        bool keep = keep_byte(p[i]) && !(i == 0 && device);
        if (used + (keep ? 1 : 3) > limit)
            break;
        if (keep)
            mc_buf_putc(b, (char)p[i]);
        else
            mc_buf_printf(b, "-%02x", p[i]);
        used += keep ? 1 : 3;
    }
    if (len > FILE_NAME_MAX) /* "-z" never appears in a plain form */
        mc_buf_printf(b, "-z%016llx", (unsigned long long)mc_hash_str(MC_HASH_INIT, name));
}

/* A fragment id for a name: the file-name form of the name with invalid
 * UTF-8 replaced and never cut, which assets/search.js computes the same
 * way from the index's (decoded) strings. */
static void put_id(mc_buf *b, const char *prefix, const char *name)
{
    mc_buf_puts(b, prefix);
    if (!name || !*name) {
        mc_buf_putc(b, '-');
        return;
    }
    for (const unsigned char *p = (const unsigned char *)name; *p;) {
        uint32_t cp;
        size_t n = *p >= 0x80 ? mc_utf8_decode(p, &cp) : 1;
        const unsigned char *bytes = p;
        if (n == 0) {
            bytes = (const unsigned char *)U_FFFD;
            n = 3;
            p++;
        } else {
            p += n;
        }
        for (size_t i = 0; i < n; i++) {
            if (keep_byte(bytes[i]))
                mc_buf_putc(b, (char)bytes[i]);
            else
                mc_buf_printf(b, "-%02x", bytes[i]);
        }
    }
}

static char *file_name(const char *name)
{
    mc_buf b = {0};
    site_file_name(&b, name);
    return mc_buf_steal(&b);
}

/* ---- the loaded catalog ---------------------------------------------------------- */

typedef struct fk_edge {
    size_t from, to;        /* container indexes in the datastore's catalog */
    json_t *fk;             /* the foreign key object, borrowed from fks[from] */
} fk_edge;

typedef struct schema_ref {
    const char *name;
    const mc_schema *meta;  /* NULL when only its containers are recorded */
    char *file;             /* file-name form */
    size_t first, n;        /* its containers: cat->containers[first, first+n) */
    size_t n_fields;
} schema_ref;

typedef struct key_idx {
    int64_t key;
    size_t idx;
} key_idx;

typedef struct ds_data {
    const char *name;
    char *file;
    mc_catalog *cat;
    mc_run_list runs;          /* newest first */
    const mc_run *last_done;   /* the latest ok/partial run; NULL = none */
    mc_hist_changes ch;        /* by id */
    size_t *ch_by_cont;        /* container events, by (container_id, id) */
    size_t n_ch_by_cont;
    mc_hist_fields hf;
    mc_hist_containers hc;
    schema_ref *schemas;
    size_t n_schemas;
    size_t *cont_schema;       /* container -> schemas[] */
    char **cont_file;
    json_t **fks;              /* parsed foreign_keys per container (or NULL) */
    fk_edge *in;               /* incoming foreign keys, by (to, from) */
    size_t n_in;
    key_idx *by_key;           /* container_id -> container index, sorted */
    size_t n_fields;
} ds_data;

typedef struct site {
    const site_opts *o;
    bool md;
    const char *ext;           /* ".html" / ".md" */
    const char *index_file;    /* "index.html" / "README.md" */
    ds_data *ds;
    size_t n_ds;
    /* the writer */
    char *root;
    char **paths;              /* written this build (relative), for the manifest */
    size_t n_paths, cap_paths;
    size_t n_written;
    char *made_dir;            /* the last directory known to exist */
    char *readback;            /* an old file's bytes, for the comparison */
    size_t readback_cap;
} site;

static int key_idx_cmp(const void *a, const void *b)
{
    const key_idx *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

/* The current container index of a container id, or -1. */
static ptrdiff_t cont_of_key(const ds_data *d, int64_t key)
{
    if (!key || !d->cat->n_containers)
        return -1;
    key_idx probe = {key, 0};
    const key_idx *hit = bsearch(&probe, d->by_key, d->cat->n_containers,
                                 sizeof *hit, key_idx_cmp);
    return hit ? (ptrdiff_t)hit->idx : -1;
}

/* qsort has no context argument: the change array being sorted. */
static const mc_hist_changes *sort_changes;

static int ch_by_cont_cmp(const void *a, const void *b)
{
    const mc_hist_change *x = &sort_changes->items[*(const size_t *)a];
    const mc_hist_change *y = &sort_changes->items[*(const size_t *)b];
    if (x->container_id != y->container_id)
        return x->container_id < y->container_id ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int edge_cmp(const void *a, const void *b)
{
    const fk_edge *x = a, *y = b;
    if (x->to != y->to)
        return x->to < y->to ? -1 : 1;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    const char *nx = json_string_value(json_object_get(x->fk, "name"));
    const char *ny = json_string_value(json_object_get(y->fk, "name"));
    return strcmp(nx ? nx : "", ny ? ny : "");
}

static void ds_free(ds_data *d)
{
    if (!d->cat)
        return;
    for (size_t i = 0; d->cont_file && i < d->cat->n_containers; i++) {
        free(d->cont_file[i]);
        json_decref(d->fks[i]);
    }
    for (size_t i = 0; i < d->n_schemas; i++)
        free(d->schemas[i].file);
    free(d->schemas);
    free(d->cont_file);
    free(d->cont_schema);
    free(d->fks);
    free(d->in);
    free(d->by_key);
    free(d->ch_by_cont);
    free(d->file);
    mc_hist_changes_free(&d->ch);
    mc_hist_fields_free(&d->hf);
    mc_hist_containers_free(&d->hc);
    mc_run_list_free(&d->runs);
    mc_catalog_free(d->cat);
    d->cat = NULL;
}

static int ds_load(store *s, ds_data *d, mc_error *err)
{
    if (store_load_as_of(s, d->name, 0, &d->cat, err) < 0 ||
        store_list_runs(s, d->name, 0, &d->runs, err) < 0 ||
        store_hist_changes(s, d->name, &d->ch, err) < 0 ||
        store_hist_fields(s, d->name, &d->hf, err) < 0 ||
        store_hist_containers(s, d->name, &d->hc, err) < 0)
        return -1;
    d->file = file_name(d->name);
    for (size_t i = 0; i < d->runs.n && !d->last_done; i++)
        if (d->runs.runs[i].status == MC_RUN_OK || d->runs.runs[i].status == MC_RUN_PARTIAL)
            d->last_done = &d->runs.runs[i];

    mc_catalog *cat = d->cat;
    size_t nc = cat->n_containers;
    d->cont_schema = mc_calloc(nc + 1, sizeof *d->cont_schema);
    d->cont_file = mc_calloc(nc + 1, sizeof *d->cont_file);
    d->fks = mc_calloc(nc + 1, sizeof *d->fks);
    d->by_key = mc_calloc(nc + 1, sizeof *d->by_key);

    /* Schemas: the recorded ones and any a container names (merge of two
     * sorted lists). */
    d->schemas = mc_calloc(cat->n_schemas + nc + 1, sizeof *d->schemas);
    size_t si = 0, ci = 0;
    while (si < cat->n_schemas || ci < nc) {
        const char *next;
        if (si < cat->n_schemas && ci < nc)
            next = strcmp(cat->schemas[si].name, cat->containers[ci].schema) <= 0
                       ? cat->schemas[si].name : cat->containers[ci].schema;
        else
            next = si < cat->n_schemas ? cat->schemas[si].name : cat->containers[ci].schema;
        schema_ref *r = &d->schemas[d->n_schemas];
        r->name = next;
        r->file = file_name(next);
        if (si < cat->n_schemas && strcmp(cat->schemas[si].name, next) == 0)
            r->meta = &cat->schemas[si++];
        r->first = ci;
        while (ci < nc && strcmp(cat->containers[ci].schema, next) == 0) {
            d->cont_schema[ci] = d->n_schemas;
            r->n_fields += cat->containers[ci].n_fields;
            ci++;
        }
        r->n = ci - r->first;
        d->n_fields += r->n_fields;
        d->n_schemas++;
    }

    for (size_t i = 0; i < nc; i++) {
        const mc_container *k = &cat->containers[i];
        d->cont_file[i] = file_name(k->name);
        d->by_key[i].key = k->store_key;
        d->by_key[i].idx = i;
        if (k->foreign_keys) {
            d->fks[i] = json_loads(k->foreign_keys, 0, NULL);
            if (d->fks[i] && !json_is_array(d->fks[i])) {
                json_decref(d->fks[i]);
                d->fks[i] = NULL;
            }
        }
    }
    if (nc)
        qsort(d->by_key, nc, sizeof *d->by_key, key_idx_cmp);

    /* Incoming foreign keys: every outgoing one whose target is recorded. */
    size_t cap = 0;
    for (size_t i = 0; i < nc; i++) {
        size_t k;
        json_t *fk;
        json_array_foreach(d->fks[i], k, fk) {
            const char *rs = json_string_value(json_object_get(fk, "ref_schema"));
            const char *rc = json_string_value(json_object_get(fk, "ref_container"));
            const mc_container *t = rs && rc ? mc_catalog_find(cat, rs, rc) : NULL;
            if (!t)
                continue;
            if (d->n_in == cap) {
                cap = cap ? cap * 2 : 64;
                d->in = mc_realloc(d->in, cap * sizeof *d->in);
            }
            d->in[d->n_in++] = (fk_edge){i, (size_t)(t - cat->containers), fk};
        }
    }
    if (d->n_in)
        qsort(d->in, d->n_in, sizeof *d->in, edge_cmp);

    d->ch_by_cont = mc_calloc(d->ch.n + 1, sizeof *d->ch_by_cont);
    for (size_t i = 0; i < d->ch.n; i++)
        if (d->ch.items[i].container_id)
            d->ch_by_cont[d->n_ch_by_cont++] = i;
    sort_changes = &d->ch;
    if (d->n_ch_by_cont)
        qsort(d->ch_by_cont, d->n_ch_by_cont, sizeof *d->ch_by_cont, ch_by_cont_cmp);
    sort_changes = NULL;
    return 0;
}

/* ---- the writer ------------------------------------------------------------------ */

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fs_fail(mc_error *err, const char *what, const char *path)
{
    return mc_error_set(err, MC_EXIT_USAGE, "docs: cannot %s %s: %s", what, path,
                        strerror(errno));
}

/* mkdir -p of the directory part of rel (under the root). */
static int ensure_dir(site *S, const char *rel, mc_error *err)
{
    const char *slash = strrchr(rel, '/');
    if (!slash)
        return 0;
    size_t n = (size_t)(slash - rel);
    if (S->made_dir && strlen(S->made_dir) == n && memcmp(S->made_dir, rel, n) == 0)
        return 0;
    char *full = mc_asprintf("%s/%.*s", S->root, (int)n, rel);
    for (char *p = full + strlen(S->root) + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char keep = *p;
        *p = '\0';
        if (mkdir(full, 0777) != 0 && errno != EEXIST) {
            fs_fail(err, "create the directory", full);
            free(full);
            return -1;
        }
        *p = keep;
        if (!keep)
            break;
    }
    free(full);
    free(S->made_dir);
    S->made_dir = mc_strndup(rel, n);
    return 0;
}

/* Whether the file at path holds exactly these bytes. */
static bool same_content(site *S, const char *path, const char *data, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    struct stat sb;
    bool same = false;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (size_t)sb.st_size == len) {
        if (S->readback_cap < len + 1) {
            S->readback_cap = len + 1;
            S->readback = mc_realloc(S->readback, S->readback_cap);
        }
        size_t got = 0;
        while (got < len) {
            ssize_t r = read(fd, S->readback + got, len - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        same = got == len && memcmp(S->readback, data, len) == 0;
    }
    close(fd);
    return same;
}

/* Records rel as part of the site and writes it when its bytes changed. */
static int emit(site *S, const char *rel, const char *data, size_t len, mc_error *err)
{
    if (S->n_paths == S->cap_paths) {
        S->cap_paths = S->cap_paths ? S->cap_paths * 2 : 256;
        S->paths = mc_realloc(S->paths, S->cap_paths * sizeof *S->paths);
    }
    S->paths[S->n_paths++] = mc_strdup(rel);
    char *path = mc_asprintf("%s/%s", S->root, rel);
    int ret = -1;
    char *tmp = NULL;
    if (same_content(S, path, data, len)) {
        ret = 0;
        goto out;
    }
    if (ensure_dir(S, rel, err) < 0)
        goto out;
    const char *base = strrchr(path, '/') + 1;
    tmp = mc_asprintf("%.*s.tmp-%s.%ld", (int)(base - path), path, base, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) {
        fs_fail(err, "write", tmp);
        goto out;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fs_fail(err, "write", tmp);
            close(fd);
            unlink(tmp);
            goto out;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0) {
        fs_fail(err, "write", tmp);
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        fs_fail(err, "replace", path);
        unlink(tmp);
        goto out;
    }
    S->n_written++;
    ret = 0;
out:
    free(tmp);
    free(path);
    return ret;
}

static int emit_buf(site *S, const char *rel, mc_buf *b, mc_error *err)
{
    int rc = emit(S, rel, b->data ? b->data : "", b->len, err);
    mc_buf_reset(b);
    return rc;
}

static bool in_site(const site *S, const char *rel)
{
    return bsearch(&rel, S->paths, S->n_paths, sizeof *S->paths, path_cmp) != NULL;
}

/* A path from an old manifest is only trusted to name a file inside the
 * site: relative, no "..", no empty or hidden components. */
static bool plain_rel_path(const char *rel)
{
    if (!*rel || *rel == '/')
        return false;
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || p[0] == '.')
            return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20)
                return false;
        p += n;
        if (*p == '/')
            p++;
    }
    return true;
}

/* Removes empty directories from rel's parent up to (not including) the root. */
static void prune_dirs(site *S, const char *rel)
{
    char *dir = mc_strdup(rel);
    for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
        *slash = '\0';
        char *full = mc_asprintf("%s/%s", S->root, dir);
        int rc = rmdir(full);
        free(full);
        if (rc != 0)
            break;
    }
    free(dir);
}

/* Deletes what an earlier build wrote and this one did not: the entries of
 * the old manifest, and any file under the directories only the site uses. */
static int remove_stale(site *S, size_t *n_removed, mc_error *err)
{
    *n_removed = 0;
    char *mpath = mc_asprintf("%s/" SITE_MANIFEST, S->root);
    FILE *f = fopen(mpath, "r");
    free(mpath);
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
            if (line[n - 1] == '\n')
                line[--n] = '\0';
            if (line[0] == '#' || !plain_rel_path(line) || in_site(S, line))
                continue;
            char *full = mc_asprintf("%s/%s", S->root, line);
            if (unlink(full) == 0) {
                (*n_removed)++;
                prune_dirs(S, line);
            }
            free(full);
        }
        free(line);
        fclose(f);
    }
    static const char *const owned[] = {"catalog", "search"};
    size_t root_len = strlen(S->root);
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        char *top = mc_asprintf("%s/%s", S->root, owned[i]);
        char *const roots[] = {top, NULL};
        struct stat sb;
        if (lstat(top, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            free(top);
            continue;
        }
        FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
        if (!fts) {
            fs_fail(err, "read", top);
            free(top);
            return -1;
        }
        FTSENT *e;
        while ((e = fts_read(fts)) != NULL) {
            const char *rel = e->fts_path + root_len + 1;
            if (e->fts_info == FTS_DP) {
                if (e->fts_level > 0)
                    rmdir(e->fts_path); /* fails, harmlessly, unless empty */
            } else if (e->fts_info != FTS_D && !in_site(S, rel)) {
                if (unlink(e->fts_path) == 0)
                    (*n_removed)++;
            }
        }
        fts_close(fts);
        free(top);
    }
    return 0;
}

static int write_manifest(site *S, mc_error *err)
{
    mc_buf b = {0};
    mc_buf_puts(&b, "# metacrawl docs: the files of the last build, removed when they "
                    "leave the site (see docs/site.md)\n");
    for (size_t i = 0; i < S->n_paths; i++) {
        mc_buf_puts(&b, S->paths[i]);
        mc_buf_putc(&b, '\n');
    }
    /* the manifest is not part of its own list, nor of the counts */
    size_t n_written = S->n_written;
    int rc = emit(S, SITE_MANIFEST, mc_buf_str(&b), b.len, err);
    free(S->paths[--S->n_paths]);
    S->n_written = n_written;
    mc_buf_free(&b);
    return rc;
}

/* ---- the page layer: one structure, two formats --------------------------------- */

typedef struct page {
    mc_buf b;
    bool md;
    const char *rel;           /* from this page to the site root: "", "../../" */
} page;

static void p_raw(page *p, const char *s)
{
    mc_buf_puts(&p->b, s);
}

static void p_text(page *p, const char *s)
{
    if (p->md)
        site_md_escape(&p->b, s);
    else
        site_html_escape(&p->b, s);
}

/* Text of this file's own making (numbers, times, fixed words): HTML-escaped
 * all the same, but spared Markdown's backslashes, which would only make
 * the source harder to read.  Never for anything from the store. */
static void p_plainf(page *p, const char *fmt, ...) MC_PRINTF(2, 3);
static void p_plainf(page *p, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (p->md)
        mc_buf_puts(&p->b, tmp);
    else
        site_html_escape(&p->b, tmp);
}

static void p_plain(page *p, const char *s)
{
    if (p->md)
        mc_buf_puts(&p->b, s);
    else
        site_html_escape(&p->b, s);
}

/* A site path (from the root) as a link target from this page. */
static void p_target(page *p, const char *target)
{
    mc_buf_puts(&p->b, p->rel);
    if (p->md)
        mc_buf_puts(&p->b, target); /* [a-z0-9_-/.#] only: nothing to escape */
    else
        site_html_escape(&p->b, target);
}

static void p_link_begin(page *p)
{
    p_raw(p, p->md ? "[" : "");
}

static void p_link_end(page *p, const char *target)
{
    if (p->md) {
        p_raw(p, "](");
        p_target(p, target);
        p_raw(p, ")");
    }
}

/* HTML needs the target first: the two halves differ per format. */
static void p_a_open(page *p, const char *target)
{
    if (p->md) {
        p_link_begin(p);
    } else {
        p_raw(p, "<a href=\"");
        p_target(p, target);
        p_raw(p, "\">");
    }
}

static void p_a_close(page *p, const char *target)
{
    if (p->md)
        p_link_end(p, target);
    else
        p_raw(p, "</a>");
}

static void p_name(page *p, const char *name)
{
    if (!name || !*name) {
        p_raw(p, p->md ? "*(empty name)*" : "<em>(empty name)</em>");
        return;
    }
    p_text(p, name);
}

static void p_link(page *p, const char *target, const char *text)
{
    p_a_open(p, target);
    p_name(p, text);
    p_a_close(p, target);
}

static void p_h(page *p, int level, const char *id)
{
    if (p->md) {
        mc_buf_printf(&p->b, "%.*s ", level, "######");
    } else if (id) {
        mc_buf_printf(&p->b, "<h%d id=\"", level);
        site_html_escape(&p->b, id);
        p_raw(p, "\">");
    } else {
        mc_buf_printf(&p->b, "<h%d>", level);
    }
}

static void p_h_end(page *p, int level)
{
    if (p->md)
        p_raw(p, "\n\n");
    else
        mc_buf_printf(&p->b, "</h%d>\n", level);
}

static void p_para(page *p, const char *cls)
{
    if (p->md)
        return;
    if (cls)
        mc_buf_printf(&p->b, "<p class=\"%s\">", cls);
    else
        p_raw(p, "<p>");
}

static void p_para_end(page *p)
{
    p_raw(p, p->md ? "\n\n" : "</p>\n");
}

static void p_ul(page *p, const char *cls)
{
    if (p->md)
        return;
    if (cls)
        mc_buf_printf(&p->b, "<ul class=\"%s\">\n", cls);
    else
        p_raw(p, "<ul>\n");
}

static void p_li(page *p, const char *id)
{
    if (p->md) {
        p_raw(p, "- ");
    } else if (id) {
        p_raw(p, "<li id=\"");
        site_html_escape(&p->b, id);
        p_raw(p, "\">");
    } else {
        p_raw(p, "<li>");
    }
}

static void p_li_end(page *p)
{
    p_raw(p, p->md ? "\n" : "</li>\n");
}

static void p_ul_end(page *p)
{
    p_raw(p, p->md ? "\n" : "</ul>\n");
}

/* aligns: one 'l' or 'r' per column. */
static void p_table(page *p, const char *cls, const char *const *heads, const char *aligns)
{
    if (p->md) {
        p_raw(p, "|");
        for (size_t i = 0; heads[i]; i++) {
            p_raw(p, " ");
            p_plain(p, heads[i]);
            p_raw(p, " |");
        }
        p_raw(p, "\n|");
        for (size_t i = 0; heads[i]; i++)
            p_raw(p, aligns[i] == 'r' ? " --: |" : " --- |");
        p_raw(p, "\n");
        return;
    }
    mc_buf_printf(&p->b, "<table class=\"%s\">\n<thead><tr>", cls);
    for (size_t i = 0; heads[i]; i++) {
        p_raw(p, aligns[i] == 'r' ? "<th class=\"num\">" : "<th>");
        p_plain(p, heads[i]);
        p_raw(p, "</th>");
    }
    p_raw(p, "</tr></thead>\n<tbody>\n");
}

static void p_tr(page *p, const char *id)
{
    if (p->md) {
        p_raw(p, "|");
    } else if (id) {
        p_raw(p, "<tr id=\"");
        site_html_escape(&p->b, id);
        p_raw(p, "\">");
    } else {
        p_raw(p, "<tr>");
    }
}

static void p_td(page *p, bool num)
{
    p_raw(p, p->md ? " " : num ? "<td class=\"num\">" : "<td>");
}

static void p_td_end(page *p)
{
    p_raw(p, p->md ? " |" : "</td>");
}

static void p_tr_end(page *p)
{
    p_raw(p, p->md ? "\n" : "</tr>\n");
}

static void p_table_end(page *p)
{
    p_raw(p, p->md ? "\n" : "</tbody>\n</table>\n");
}

static void p_code(page *p, const char *s)
{
    if (!p->md)
        p_raw(p, "<code>");
    p_name(p, s);
    if (!p->md)
        p_raw(p, "</code>");
}

static void p_badge(page *p, const char *cls, const char *text)
{
    if (p->md) {
        p_raw(p, "**");
        p_plain(p, text);
        p_raw(p, "**");
    } else {
        mc_buf_printf(&p->b, "<span class=\"badge %s\">", cls);
        p_plain(p, text);
        p_raw(p, "</span>");
    }
}

static void p_muted(page *p, const char *text)
{
    if (!p->md)
        p_raw(p, "<span class=\"muted\">");
    p_plain(p, text);
    if (!p->md)
        p_raw(p, "</span>");
}

/* A block of code (a view's definition).  Markdown: a ~~~ fence longer than
 * any run of tildes in the text, so the text cannot close it; inside a fence
 * nothing else is interpreted, but control characters and invalid UTF-8 are
 * still made visible. */
static void p_pre(page *p, const char *text, const char *lang)
{
    if (!p->md) {
        p_raw(p, "<pre><code>");
        p_text(p, text);
        p_raw(p, "</code></pre>\n");
        return;
    }
    size_t longest = 0, run = 0;
    for (const char *s = text; *s; s++) {
        run = *s == '~' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    size_t fence = longest < 3 ? 3 : longest + 1;
    for (size_t i = 0; i < fence; i++)
        mc_buf_putc(&p->b, '~');
    mc_buf_printf(&p->b, "%s\n", lang ? lang : "");
    for (const unsigned char *s = (const unsigned char *)text; *s;) {
        uint32_t cp;
        size_t n = *s >= 0x80 ? mc_utf8_decode(s, &cp) : 1;
        if (n == 0) {
            p_raw(p, U_FFFD);
            s++;
        } else if (*s < 0x20 && *s != '\n' && *s != '\t') {
            if (*s != '\r')
                mc_buf_printf(&p->b, "\\x%02x", *s);
            s++;
        } else if (*s == 0x7f) {
            p_raw(p, "\\x7f");
            s++;
        } else {
            mc_buf_append(&p->b, (const char *)s, n);
            s += n;
        }
    }
    if (p->b.len && p->b.data[p->b.len - 1] != '\n')
        mc_buf_putc(&p->b, '\n');
    for (size_t i = 0; i < fence; i++)
        mc_buf_putc(&p->b, '~');
    p_raw(p, "\n\n");
}

/* ---- formatting ------------------------------------------------------------------ */

/* "2026-11-21 16:06 UTC" */
static void fmt_time(int64_t t, char buf[32])
{
    if (t <= 0) {
        snprintf(buf, 32, "unknown time");
        return;
    }
    char iso[21];
    mc_time_iso(t, iso);
    snprintf(buf, 32, "%.10s %.5s UTC", iso, iso + 11);
}

/* 1234567 -> "1,234,567" */
static void fmt_count(double v, char buf[32])
{
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", v < 0 ? 0 : v);
    size_t n = strlen(digits), o = 0;
    for (size_t i = 0; i < n && o + 2 < 32; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

static const char *kind_label(mc_kind k)
{
    static const char *const labels[] = {
        "table", "view", "materialized view", "partitioned table",
        "foreign table", "external table", "late-binding view",
    };
    return (size_t)k < sizeof labels / sizeof labels[0] ? labels[k] : "container";
}

static bool is_view(mc_kind k)
{
    return k == MC_KIND_VIEW || k == MC_KIND_MATVIEW || k == MC_KIND_LATE_BINDING_VIEW;
}

/* ---- paths ------------------------------------------------------------------------ */

static void put_schema_path(mc_buf *b, const site *S, const ds_data *d, size_t si)
{
    mc_buf_printf(b, "catalog/%s/%s%s", d->file, d->schemas[si].file, S->ext);
}

static void put_cont_path(mc_buf *b, const site *S, const ds_data *d, size_t ci)
{
    mc_buf_printf(b, "catalog/%s/%s/%s%s", d->file,
                  d->schemas[d->cont_schema[ci]].file, d->cont_file[ci], S->ext);
}

static char *schema_path(const site *S, const ds_data *d, size_t si)
{
    mc_buf b = {0};
    put_schema_path(&b, S, d, si);
    return mc_buf_steal(&b);
}

static char *cont_path(const site *S, const ds_data *d, size_t ci)
{
    mc_buf b = {0};
    put_cont_path(&b, S, d, ci);
    return mc_buf_steal(&b);
}

/* The index, at a datastore's section where the format has anchors. */
static char *ds_anchor_path(const site *S, const ds_data *d)
{
    mc_buf b = {0};
    mc_buf_puts(&b, S->index_file);
    if (!S->md)
        put_id(&b, "#ds-", d->name);
    return mc_buf_steal(&b);
}

/* ---- page frame ----------------------------------------------------------------- */

typedef struct crumb {
    const char *target; /* NULL: the current page */
    const char *text;
} crumb;

static const char *const csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'self'";

static void page_begin(site *S, page *p, const char *title, const char *h1,
                       const crumb *crumbs, size_t n_crumbs, bool search_page)
{
    if (p->md) {
        p_raw(p, "# ");
        p_name(p, h1);
        p_raw(p, "\n\n");
        for (size_t i = 0; i < n_crumbs; i++) {
            if (i)
                p_raw(p, " › ");
            if (crumbs[i].target)
                p_link(p, crumbs[i].target, crumbs[i].text);
            else
                p_name(p, crumbs[i].text);
        }
        if (n_crumbs)
            p_raw(p, "\n\n");
        return;
    }
    p_raw(p, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<meta http-equiv=\"Content-Security-Policy\" content=\"");
    p_raw(p, csp);
    p_raw(p, "\">\n<meta name=\"referrer\" content=\"no-referrer\">\n"
             "<meta name=\"generator\" content=\"metacrawl\">\n<title>");
    p_text(p, title);
    p_raw(p, "</title>\n<link rel=\"stylesheet\" href=\"");
    p_target(p, "assets/site.css");
    p_raw(p, "\">\n<link rel=\"alternate\" type=\"application/atom+xml\" "
             "title=\"Catalog changes\" href=\"");
    p_target(p, "feed.atom");
    p_raw(p, "\">\n</head>\n<body>\n<header class=\"top\">\n<a class=\"home\" href=\"");
    p_target(p, S->index_file);
    p_raw(p, "\">metacrawl catalog</a>\n<nav><a href=\"");
    p_target(p, S->index_file);
    p_raw(p, "\">Datastores</a> <a href=\"");
    p_target(p, "changes.html");
    p_raw(p, "\">Recent changes</a></nav>\n");
    if (!search_page) {
        p_raw(p, "<form class=\"search\" action=\"");
        p_target(p, "search.html");
        p_raw(p, "\" method=\"get\" role=\"search\"><input type=\"search\" name=\"q\" "
                 "placeholder=\"Search tables, columns, comments\" "
                 "aria-label=\"Search tables, columns and comments\">"
                 "<button type=\"submit\">Search</button></form>\n");
    }
    p_raw(p, "</header>\n");
    if (n_crumbs) {
        p_raw(p, "<nav class=\"crumbs\" aria-label=\"Breadcrumb\">");
        for (size_t i = 0; i < n_crumbs; i++) {
            if (i)
                p_raw(p, " › ");
            if (crumbs[i].target)
                p_link(p, crumbs[i].target, crumbs[i].text);
            else
                p_name(p, crumbs[i].text);
        }
        p_raw(p, "</nav>\n");
    }
    p_raw(p, "<main>\n<h1>");
    p_name(p, h1);
    p_raw(p, "</h1>\n");
}

static void page_end(page *p)
{
    if (p->md)
        return;
    p_raw(p, "</main>\n<footer>Built by metacrawl from its catalog store.</footer>\n"
             "</body>\n</html>\n");
}

/* "a · b · c" for the title element */
static char *title3(const char *a, const char *b, const char *c)
{
    return mc_asprintf("%s%s%s%s%s", a ? a : "", b ? " · " : "", b ? b : "",
                       c ? " · " : "", c ? c : "");
}

/* ---- values and changes ------------------------------------------------------------ */

/* "(a, b)" from a JSON array of names. */
static void p_name_list(page *p, json_t *arr)
{
    size_t i;
    json_t *v;
    p_raw(p, "(");
    json_array_foreach(arr, i, v) {
        if (i)
            p_raw(p, ", ");
        p_code(p, json_string_value(v));
    }
    p_raw(p, ")");
}

/* A change's before/after value for people. */
static void p_value(page *p, const char *json, const char *attribute)
{
    if (!json) {
        p_muted(p, "(none)");
        return;
    }
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    if (!v) {
        p_code(p, json);
    } else if (json_is_null(v)) {
        p_muted(p, "(none)");
    } else if (json_is_string(v)) {
        p_code(p, json_string_value(v));
    } else if (json_is_boolean(v)) {
        bool t = json_is_true(v);
        if (attribute && strcmp(attribute, "nullable") == 0)
            p_plain(p, t ? "nullable" : "not null");
        else
            p_plain(p, t ? "true" : "false");
    } else if (json_is_array(v)) {
        bool names = true;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) names = names && json_is_string(e);
        if (names) {
            p_name_list(p, v);
        } else {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            p_code(p, s);
            free(s);
        }
    } else if (json_is_object(v) && json_is_string(json_object_get(v, "name"))) {
        const char *sc = json_string_value(json_object_get(v, "schema"));
        char *s = mc_asprintf("%s%s%s", sc ? sc : "", sc ? "." : "",
                              json_string_value(json_object_get(v, "name")));
        p_code(p, s);
        free(s);
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        p_code(p, s);
        free(s);
    }
    json_decref(v);
}

/* One foreign key: "name (cols) -> schema.table (cols)", the target linked
 * when it is in the catalog. */
static void p_fk(site *S, page *p, const ds_data *d, json_t *fk)
{
    const char *rs = json_string_value(json_object_get(fk, "ref_schema"));
    const char *rc = json_string_value(json_object_get(fk, "ref_container"));
    p_code(p, json_string_value(json_object_get(fk, "name")));
    p_raw(p, " ");
    p_name_list(p, json_object_get(fk, "columns"));
    p_raw(p, " → ");
    const mc_container *t = rs && rc ? mc_catalog_find(d->cat, rs, rc) : NULL;
    char *label = mc_asprintf("%s.%s", rs ? rs : "?", rc ? rc : "?");
    if (t) {
        char *target = cont_path(S, d, (size_t)(t - d->cat->containers));
        p_link(p, target, label);
        free(target);
    } else {
        p_code(p, label);
    }
    free(label);
    p_raw(p, " ");
    p_name_list(p, json_object_get(fk, "ref_columns"));
    const char *part = json_string_value(json_object_get(fk, "partition"));
    if (part) {
        p_plain(p, " (declared on partition ");
        p_code(p, part);
        p_plain(p, ")");
    }
}

/* A partitioned table's partitions (a fact of the latest crawl), one item
 * each: name and bound. */
static void p_partitions(page *p, const mc_container *k)
{
    json_t *parts = k->partitions ? json_loads(k->partitions, 0, NULL) : NULL;
    if (json_array_size(parts) > 0) {
        p_h(p, 2, "partitions");
        p_plain(p, "Partitions");
        p_h_end(p, 2);
        p_ul(p, "partitions");
        size_t i;
        json_t *part;
        json_array_foreach(parts, i, part) {
            p_li(p, NULL);
            p_code(p, json_string_value(json_object_get(part, "name")));
            p_raw(p, " ");
            p_code(p, json_string_value(json_object_get(part, "bound")));
            p_li_end(p);
        }
        p_ul_end(p);
    }
    json_decref(parts);
}

/* The page, datastore and site a foreign-key change is written with. */
typedef struct fk_out {
    site *S;
    page *p;
    const ds_data *d;
} fk_out;

static void p_fk_change(void *ctx, bool added, json_t *fk)
{
    fk_out *o = ctx;
    p_raw(o->p, added ? " + " : " − ");
    p_fk(o->S, o->p, o->d, fk);
}

static void p_fk_diff(site *S, page *p, const ds_data *d, const char *before,
                      const char *after)
{
    fk_out o = {S, p, d};
    p_plain(p, "foreign keys:");
    cmd_fk_diff(before, after, p_fk_change, &o);
}

/* The JSON object's "kind" as a label ("table"), for added/removed. */
static const char *obj_kind(json_t *o)
{
    const char *k = json_string_value(json_object_get(o, "kind"));
    int kv = k ? mc_kind_parse(k) : -1;
    return kv >= 0 ? kind_label((mc_kind)kv) : "container";
}

/* What a change did, in words; with_path puts the object's path (linked to
 * its page while it exists) in front. */
static void p_change(site *S, page *p, const ds_data *d, const mc_hist_change *c,
                     bool with_path)
{
    if (with_path) {
        ptrdiff_t ci = cont_of_key(d, c->container_id);
        char *label = c->container ? mc_asprintf("%s.%s", c->schema, c->container)
                                   : mc_strdup(c->schema);
        if (ci >= 0) {
            mc_buf t = {0};
            put_cont_path(&t, S, d, (size_t)ci);
            if (c->field && !S->md && c->kind != MC_FIELD_REMOVED) {
                put_id(&t, "#col-", c->field);
            }
            p_link(p, mc_buf_str(&t), label);
            mc_buf_free(&t);
        } else {
            p_code(p, label);
        }
        free(label);
        p_raw(p, ": ");
    }
    const char *attr = c->attribute;
    switch (c->kind) {
    case MC_SCHEMA_ADDED:
        p_plain(p, "schema added");
        break;
    case MC_SCHEMA_REMOVED:
        p_plain(p, "schema removed");
        break;
    case MC_CONTAINER_ADDED:
    case MC_CONTAINER_REMOVED: {
        json_t *o = json_loads(c->kind == MC_CONTAINER_ADDED ? c->after : c->before, 0, NULL);
        p_plainf(p, "%s %s", obj_kind(o), c->kind == MC_CONTAINER_ADDED ? "added" : "removed");
        json_t *fields = json_object_get(o, "fields");
        if (json_is_array(fields))
            p_plainf(p, " (%zu columns)", json_array_size(fields));
        json_decref(o);
        break;
    }
    case MC_CONTAINER_RENAMED:
        p_plain(p, "renamed from ");
        p_value(p, c->before, NULL);
        break;
    case MC_FIELD_ADDED:
    case MC_FIELD_REMOVED: {
        json_t *o = json_loads(c->kind == MC_FIELD_ADDED ? c->after : c->before, 0, NULL);
        p_plain(p, "column ");
        p_code(p, c->field);
        const char *type = json_string_value(json_object_get(o, "type"));
        if (type) {
            p_raw(p, " ");
            p_code(p, type);
        }
        p_plain(p, c->kind == MC_FIELD_ADDED ? " added" : " removed");
        json_decref(o);
        break;
    }
    case MC_FIELD_RENAMED:
        p_plain(p, "column renamed from ");
        p_value(p, c->before, NULL);
        p_plain(p, " to ");
        p_code(p, c->field);
        break;
    default:
        if (c->field) {
            p_plain(p, "column ");
            p_code(p, c->field);
            p_raw(p, " ");
        } else if (c->kind == MC_SCHEMA_CHANGED) {
            p_plain(p, "schema ");
        }
        if (attr && strcmp(attr, "definition") == 0) {
            if (p->md) {
                p_plain(p, "definition changed");
            } else {
                p_raw(p, "<details><summary>definition changed</summary>"
                         "<div class=\"was\">before:</div>");
                p_pre(p, c->before ? c->before : "", NULL);
                p_raw(p, "<div class=\"now\">after:</div>");
                p_pre(p, c->after ? c->after : "", NULL);
                p_raw(p, "</details>");
            }
        } else if (attr && strcmp(attr, "foreign_keys") == 0) {
            p_fk_diff(S, p, d, c->before, c->after);
        } else {
            p_text(p, attr ? attr : "?");
            p_raw(p, ": ");
            p_value(p, c->before, attr);
            p_raw(p, " → ");
            p_value(p, c->after, attr);
        }
        break;
    }
    if (c->breaking) {
        p_raw(p, " ");
        p_badge(p, "breaking", "breaking");
    }
}

/* "run 42, 2026-11-21 16:06 UTC" */
static void p_run_at(page *p, int64_t run, int64_t at)
{
    char t[32];
    fmt_time(at, t);
    p_plainf(p, "run %lld, %s", (long long)run, t);
}

/* ---- container pages --------------------------------------------------------------- */

static bool json_has_name(json_t *arr, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

/* The field lives of a container: [*first, *first + *n) of d->hf. */
static void field_lives(const ds_data *d, int64_t key, size_t *first, size_t *n)
{
    size_t lo = 0, hi = d->hf.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->hf.items[mid].container_id < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < d->hf.n && d->hf.items[end].container_id == key)
        end++;
    *first = lo;
    *n = end - lo;
}

static const mc_hist_container *container_life(const ds_data *d, int64_t key)
{
    size_t lo = 0, hi = d->hc.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->hc.items[mid].container_id < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->hc.n && d->hc.items[lo].container_id == key ? &d->hc.items[lo] : NULL;
}

static void p_history(site *S, page *p, const ds_data *d, const mc_container *k)
{
    const mc_hist_container *life = container_life(d, k->store_key);
    size_t ff, nf;
    field_lives(d, k->store_key, &ff, &nf);
    /* the container's events: a range of ch_by_cont */
    size_t lo = 0, hi = d->n_ch_by_cont;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->ch.items[d->ch_by_cont[mid]].container_id < k->store_key)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < d->n_ch_by_cont && d->ch.items[d->ch_by_cont[end]].container_id == k->store_key)
        end++;

    p_h(p, 2, "history");
    p_plain(p, "History");
    p_h_end(p, 2);
    p_para(p, NULL);
    if (life) {
        p_plain(p, "First recorded by ");
        p_run_at(p, life->first_run, life->first_at);
        p_plain(p, ".");
    }
    if (end == lo)
        p_plain(p, life ? " No change recorded since." : "No change recorded.");
    p_para_end(p);

    /* The column lives are worth a table only when they tell more than
     * "everything since the first run". */
    bool eventful = false;
    for (size_t i = ff; i < ff + nf; i++) {
        const mc_hist_field *f = &d->hf.items[i];
        if (f->changed_run || f->removed_run || (life && f->first_run != life->first_run))
            eventful = true;
    }
    if (eventful) {
        p_h(p, 3, "column-history");
        p_plain(p, "Columns over time");
        p_h_end(p, 3);
        static const char *const heads[] = {"Column", "Appeared", "Last changed",
                                            "Removed", NULL};
        p_table(p, "lives", heads, "llll");
        for (size_t i = ff; i < ff + nf; i++) {
            const mc_hist_field *f = &d->hf.items[i];
            p_tr(p, NULL);
            p_td(p, false);
            p_code(p, f->name);
            p_td_end(p);
            p_td(p, false);
            p_run_at(p, f->first_run, f->first_at);
            p_td_end(p);
            p_td(p, false);
            if (f->changed_run)
                p_run_at(p, f->changed_run, f->changed_at);
            p_td_end(p);
            p_td(p, false);
            if (f->removed_run)
                p_run_at(p, f->removed_run, f->removed_at);
            p_td_end(p);
            p_tr_end(p);
        }
        p_table_end(p);
    }
    if (end > lo) {
        p_h(p, 3, "changes");
        p_plain(p, "Changes");
        p_h_end(p, 3);
        p_ul(p, "changes");
        for (size_t i = end; i-- > lo;) { /* newest first */
            const mc_hist_change *c = &d->ch.items[d->ch_by_cont[i]];
            char t[32];
            fmt_time(c->run_at, t);
            p_li(p, NULL);
            p_muted(p, t);
            p_plainf(p, " (run %lld): ", (long long)c->run_id);
            p_change(S, p, d, c, false);
            p_li_end(p);
        }
        p_ul_end(p);
    }
}

static int write_container(site *S, ds_data *d, size_t ci, mc_error *err)
{
    const mc_container *k = &d->cat->containers[ci];
    const schema_ref *sr = &d->schemas[d->cont_schema[ci]];
    page p = {.md = S->md, .rel = "../../../"};
    char *spath = schema_path(S, d, d->cont_schema[ci]);
    char *dspath = ds_anchor_path(S, d);
    crumb crumbs[] = {{S->index_file, "Datastores"}, {dspath, d->name},
                      {spath, sr->name}, {NULL, k->name}};
    char *qual = mc_asprintf("%s.%s", k->schema, k->name);
    char *title = title3(qual, d->name, "metacrawl");
    page_begin(S, &p, title, qual, crumbs, 4, false);
    free(title);

    p_para(&p, "facts");
    p_badge(&p, "kind", kind_label(k->kind));
    if (k->owner) {
        p_raw(&p, " · ");
        p_plain(&p, "owner ");
        p_code(&p, k->owner);
    }
    if (k->extension) {
        p_raw(&p, " · ");
        p_plain(&p, "member of extension ");
        p_code(&p, k->extension);
    }
    char n1[32];
    if (k->row_estimate >= 0) {
        fmt_count(k->row_estimate, n1);
        p_raw(&p, " · ");
        p_plainf(&p, "about %s rows", n1);
    } else if (k->kind == MC_KIND_TABLE || k->kind == MC_KIND_PARTITIONED ||
               k->kind == MC_KIND_MATVIEW) {
        p_raw(&p, " · ");
        p_plain(&p, "rows unknown");
    }
    fmt_count((double)k->n_fields, n1);
    p_raw(&p, " · ");
    p_plainf(&p, "%s column%s", n1, k->n_fields == 1 ? "" : "s");
    if (k->dist_style) {
        p_raw(&p, " · ");
        p_plain(&p, "distribution ");
        p_code(&p, k->dist_style);
    }
    if (k->sort_key) {
        json_t *sk = json_loads(k->sort_key, JSON_DECODE_ANY, NULL);
        p_raw(&p, " · ");
        p_plain(&p, "sort key ");
        if (json_is_array(sk))
            p_name_list(&p, sk);
        else
            p_code(&p, k->sort_key);
        json_decref(sk);
    }
    p_para_end(&p);
    if (k->comment) {
        p_para(&p, "comment");
        p_text(&p, k->comment);
        p_para_end(&p);
    }

    json_t *pk = k->primary_key ? json_loads(k->primary_key, 0, NULL) : NULL;
    json_t *fks = d->fks[ci];
    bool any_encoding = false;
    for (size_t i = 0; i < k->n_fields; i++)
        any_encoding = any_encoding || d->cat->fields[k->first_field + i].encoding;

    p_h(&p, 2, "columns");
    p_plain(&p, "Columns");
    p_h_end(&p, 2);
    static const char *const heads[] = {"#", "Column", "Type", "Nullable", "Default",
                                        "Comment", "Encoding", NULL};
    static const char *const heads_no_enc[] = {"#", "Column", "Type", "Nullable",
                                               "Default", "Comment", NULL};
    p_table(&p, "columns", any_encoding ? heads : heads_no_enc, "rlllllll");
    mc_buf id = {0};
    for (size_t i = 0; i < k->n_fields; i++) {
        const mc_field *f = &d->cat->fields[k->first_field + i];
        mc_buf_reset(&id);
        put_id(&id, "col-", f->name);
        p_tr(&p, mc_buf_str(&id));
        /* the column's place now: recorded positions of columns that did
         * not move keep their old numbers after a drop (docs/changes.md) */
        p_td(&p, true);
        p_plainf(&p, "%zu", i + 1);
        p_td_end(&p);
        p_td(&p, false);
        p_code(&p, f->name);
        if (pk && json_has_name(pk, f->name)) {
            p_raw(&p, " ");
            p_badge(&p, "pk", "PK");
        }
        size_t x;
        json_t *fk;
        bool is_fk = false;
        json_array_foreach(fks, x, fk) is_fk = is_fk || json_has_name(json_object_get(fk, "columns"), f->name);
        if (is_fk) {
            p_raw(&p, " ");
            p_badge(&p, "fk", "FK");
        }
        p_td_end(&p);
        p_td(&p, false);
        p_code(&p, f->type);
        p_td_end(&p);
        p_td(&p, false);
        p_plain(&p, f->not_null ? "not null" : "null");
        p_td_end(&p);
        p_td(&p, false);
        if (f->default_expr)
            p_code(&p, f->default_expr);
        if (f->identity)
            p_plain(&p, strcmp(f->identity, "always") == 0
                            ? "generated always as identity"
                            : "generated by default as identity");
        if (f->generated) {
            p_plain(&p, "generated always as ");
            p_code(&p, f->generated);
        }
        p_td_end(&p);
        p_td(&p, false);
        p_text(&p, f->comment);
        p_td_end(&p);
        if (any_encoding) {
            p_td(&p, false);
            if (f->encoding)
                p_code(&p, f->encoding);
            p_td_end(&p);
        }
        p_tr_end(&p);
    }
    mc_buf_free(&id);
    p_table_end(&p);

    p_h(&p, 2, "keys");
    p_plain(&p, "Keys");
    p_h_end(&p, 2);
    p_ul(&p, "keys");
    p_li(&p, NULL);
    p_plain(&p, "Primary key: ");
    if (json_is_array(pk))
        p_name_list(&p, pk);
    else
        p_muted(&p, "none");
    p_li_end(&p);
    size_t x;
    json_t *fk;
    json_array_foreach(fks, x, fk) {
        p_li(&p, NULL);
        p_plain(&p, "Foreign key ");
        p_fk(S, &p, d, fk);
        p_li_end(&p);
    }
    /* incoming: the range of d->in with to == ci */
    size_t lo = 0, hi = d->n_in;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->in[mid].to < ci)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < d->n_in && d->in[i].to == ci; i++) {
        const fk_edge *e = &d->in[i];
        const mc_container *src = &d->cat->containers[e->from];
        p_li(&p, NULL);
        p_plain(&p, "Referenced by ");
        char *target = cont_path(S, d, e->from);
        char *label = mc_asprintf("%s.%s", src->schema, src->name);
        p_link(&p, target, label);
        free(target);
        free(label);
        p_raw(&p, " ");
        p_name_list(&p, json_object_get(e->fk, "columns"));
        p_raw(&p, " → ");
        p_name_list(&p, json_object_get(e->fk, "ref_columns"));
        p_plain(&p, " via ");
        p_code(&p, json_string_value(json_object_get(e->fk, "name")));
        p_li_end(&p);
    }
    p_ul_end(&p);
    json_decref(pk);
    p_partitions(&p, k);

    if (k->definition || is_view(k->kind)) {
        p_h(&p, 2, "definition");
        p_plain(&p, "Definition");
        p_h_end(&p, 2);
        if (k->definition)
            p_pre(&p, k->definition, "sql");
        else {
            p_para(&p, NULL);
            p_muted(&p, "not recorded");
            p_para_end(&p);
        }
    }

    p_history(S, &p, d, k);
    page_end(&p);
    char *path = cont_path(S, d, ci);
    int rc = emit_buf(S, path, &p.b, err);
    free(path);
    mc_buf_free(&p.b);
    free(qual);
    free(spath);
    free(dspath);
    return rc;
}

/* ---- schema pages and the index ------------------------------------------------------ */

static int write_schema(site *S, ds_data *d, size_t si, mc_error *err)
{
    const schema_ref *sr = &d->schemas[si];
    page p = {.md = S->md, .rel = "../../"};
    char *dspath = ds_anchor_path(S, d);
    crumb crumbs[] = {{S->index_file, "Datastores"}, {dspath, d->name}, {NULL, sr->name}};
    char *title = title3(sr->name, d->name, "metacrawl");
    page_begin(S, &p, title, sr->name, crumbs, 3, false);
    free(title);
    char n1[32], n2[32];
    fmt_count((double)sr->n, n1);
    fmt_count((double)sr->n_fields, n2);
    p_para(&p, "facts");
    p_plain(&p, "Schema of ");
    p_name(&p, d->name);
    p_plainf(&p, ": %s containers, %s columns", n1, n2);
    if (sr->meta && sr->meta->owner) {
        p_raw(&p, " · ");
        p_plain(&p, "owner ");
        p_code(&p, sr->meta->owner);
    }
    if (sr->meta && sr->meta->external) {
        p_raw(&p, " · ");
        p_badge(&p, "kind", "external schema");
    }
    p_para_end(&p);
    if (sr->meta && sr->meta->comment) {
        p_para(&p, "comment");
        p_text(&p, sr->meta->comment);
        p_para_end(&p);
    }
    static const char *const heads[] = {"Name", "Kind", "Columns", "Rows (estimate)",
                                        "Comment", NULL};
    p_table(&p, "containers", heads, "llrrl");
    for (size_t ci = sr->first; ci < sr->first + sr->n; ci++) {
        const mc_container *k = &d->cat->containers[ci];
        p_tr(&p, NULL);
        p_td(&p, false);
        mc_buf target = {0};
        mc_buf_printf(&target, "catalog/%s/%s/%s%s", d->file, sr->file, d->cont_file[ci], S->ext);
        p_link(&p, mc_buf_str(&target), k->name);
        mc_buf_free(&target);
        p_td_end(&p);
        p_td(&p, false);
        p_plain(&p, kind_label(k->kind));
        p_td_end(&p);
        p_td(&p, true);
        fmt_count((double)k->n_fields, n1);
        p_plain(&p, n1);
        p_td_end(&p);
        p_td(&p, true);
        if (k->row_estimate >= 0) {
            fmt_count(k->row_estimate, n1);
            p_plain(&p, n1);
        }
        p_td_end(&p);
        p_td(&p, false);
        p_text(&p, k->comment);
        p_td_end(&p);
        p_tr_end(&p);
    }
    p_table_end(&p);
    page_end(&p);
    char *path = schema_path(S, d, si);
    int rc = emit_buf(S, path, &p.b, err);
    free(path);
    free(dspath);
    mc_buf_free(&p.b);
    return rc;
}

static int write_index(site *S, mc_error *err)
{
    page p = {.md = S->md, .rel = ""};
    page_begin(S, &p, "metacrawl catalog", "Datastores", NULL, 0, false);
    size_t n_schemas = 0, n_cont = 0, n_fields = 0;
    for (size_t i = 0; i < S->n_ds; i++) {
        n_schemas += S->ds[i].n_schemas;
        n_cont += S->ds[i].cat->n_containers;
        n_fields += S->ds[i].n_fields;
    }
    char a[32], b[32], c[32];
    fmt_count((double)n_schemas, a);
    fmt_count((double)n_cont, b);
    fmt_count((double)n_fields, c);
    p_para(&p, "facts");
    p_plainf(&p, "%zu datastore%s, %s schemas, %s containers, %s columns. ", S->n_ds,
            S->n_ds == 1 ? "" : "s", a, b, c);
    char *changes = mc_asprintf("changes%s", S->ext);
    p_link(&p, changes, "Recent changes");
    free(changes);
    p_raw(&p, " · ");
    p_link(&p, "feed.atom", "Atom feed");
    p_para_end(&p);
    for (size_t i = 0; i < S->n_ds; i++) {
        ds_data *d = &S->ds[i];
        mc_buf id = {0};
        put_id(&id, "ds-", d->name);
        p_h(&p, 2, mc_buf_str(&id));
        mc_buf_free(&id);
        p_name(&p, d->name);
        p_h_end(&p, 2);
        p_para(&p, "facts");
        if (d->last_done) {
            const mc_run *r = d->last_done;
            p_plain(&p, "Last crawl: ");
            p_run_at(&p, r->id, r->finished_at ? r->finished_at : r->started_at);
            if (r->status == MC_RUN_PARTIAL)
                p_plain(&p, " (partial)");
            if (r->server_version) {
                p_raw(&p, " · ");
                p_text(&p, r->server_version);
            }
        } else {
            p_plain(&p, "No completed crawl.");
        }
        p_para_end(&p);
        const mc_run *latest = d->runs.n ? &d->runs.runs[0] : NULL;
        if (latest && latest->status == MC_RUN_FAILED &&
            (!d->last_done || latest->id > d->last_done->id)) {
            p_para(&p, "warn");
            p_plain(&p, "The latest crawl, ");
            p_run_at(&p, latest->id, latest->finished_at ? latest->finished_at
                                                          : latest->started_at);
            p_plain(&p, ", failed: ");
            p_text(&p, latest->error ? latest->error : "no reason recorded");
            p_plain(&p, ". The pages show the catalog of the last completed crawl.");
            p_para_end(&p);
        }
        static const char *const heads[] = {"Schema", "Containers", "Columns", "Owner",
                                            "Comment", NULL};
        p_table(&p, "schemas", heads, "lrrll");
        for (size_t si = 0; si < d->n_schemas; si++) {
            const schema_ref *sr = &d->schemas[si];
            p_tr(&p, NULL);
            p_td(&p, false);
            char *target = schema_path(S, d, si);
            p_link(&p, target, sr->name);
            free(target);
            p_td_end(&p);
            p_td(&p, true);
            fmt_count((double)sr->n, a);
            p_plain(&p, a);
            p_td_end(&p);
            p_td(&p, true);
            fmt_count((double)sr->n_fields, a);
            p_plain(&p, a);
            p_td_end(&p);
            p_td(&p, false);
            if (sr->meta && sr->meta->owner)
                p_code(&p, sr->meta->owner);
            p_td_end(&p);
            p_td(&p, false);
            if (sr->meta)
                p_text(&p, sr->meta->comment);
            p_td_end(&p);
            p_tr_end(&p);
        }
        p_table_end(&p);
    }
    page_end(&p);
    int rc = emit_buf(S, S->index_file, &p.b, err);
    mc_buf_free(&p.b);
    return rc;
}

/* ---- recent changes and the feed ----------------------------------------------------- */

/* The changes one run recorded: d->ch.items[first, first + n). */
typedef struct run_group {
    int64_t run_id, run_at;
    size_t ds, first, n, n_breaking;
} run_group;

static int run_group_cmp(const void *a, const void *b)
{
    const run_group *x = a, *y = b;
    return (x->run_id < y->run_id) - (x->run_id > y->run_id); /* newest first */
}

static run_group *collect_runs_with_changes(const site *S, size_t *n_out)
{
    size_t n = 0, cap = 0;
    run_group *g = NULL;
    for (size_t di = 0; di < S->n_ds; di++) {
        const mc_hist_changes *ch = &S->ds[di].ch;
        for (size_t i = 0; i < ch->n;) {
            size_t j = i;
            size_t nb = 0;
            while (j < ch->n && ch->items[j].run_id == ch->items[i].run_id)
                nb += ch->items[j++].breaking;
            if (n == cap) {
                cap = cap ? cap * 2 : 32;
                g = mc_realloc(g, cap * sizeof *g);
            }
            g[n++] = (run_group){ch->items[i].run_id, ch->items[i].run_at, di, i, j - i, nb};
            i = j;
        }
    }
    if (n)
        qsort(g, n, sizeof *g, run_group_cmp);
    *n_out = n;
    return g;
}

static void p_group_title(page *p, const site *S, const run_group *g)
{
    char t[32];
    fmt_time(g->run_at, t);
    p_plainf(p, "%s — ", t);
    p_name(p, S->ds[g->ds].name);
    p_plainf(p, ", run %lld: %zu change%s", (long long)g->run_id, g->n, g->n == 1 ? "" : "s");
    if (g->n_breaking)
        p_plainf(p, " (%zu breaking)", g->n_breaking);
}

static void p_group_changes(site *S, page *p, const run_group *g)
{
    ds_data *d = &S->ds[g->ds];
    p_ul(p, "changes");
    size_t shown = g->n < ENTRY_MAX_CHANGES ? g->n : ENTRY_MAX_CHANGES;
    for (size_t i = 0; i < shown; i++) {
        p_li(p, NULL);
        p_change(S, p, d, &d->ch.items[g->first + i], true);
        p_li_end(p);
    }
    if (g->n > shown) {
        p_li(p, NULL);
        p_plainf(p, "… and %zu more (each container's page lists its own)", g->n - shown);
        p_li_end(p);
    }
    p_ul_end(p);
}

static int write_changes(site *S, const run_group *g, size_t n, mc_error *err)
{
    page p = {.md = S->md, .rel = ""};
    crumb crumbs[] = {{S->index_file, "Datastores"}, {NULL, "Recent changes"}};
    page_begin(S, &p, "Recent changes · metacrawl", "Recent changes", crumbs, 2, false);
    p_para(&p, NULL);
    p_plainf(&p, "What the last %d crawls that found changes recorded, newest first. "
                "Every container's page has its whole history. ", RECENT_RUNS);
    p_link(&p, "feed.atom", "Atom feed");
    p_para_end(&p);
    if (!n) {
        p_para(&p, NULL);
        p_plain(&p, "No changes recorded yet: the first crawl of a datastore is its "
                   "baseline.");
        p_para_end(&p);
    }
    for (size_t i = 0; i < n && i < RECENT_RUNS; i++) {
        char id[40];
        snprintf(id, sizeof id, "run-%lld", (long long)g[i].run_id);
        p_h(&p, 2, id);
        p_group_title(&p, S, &g[i]);
        p_h_end(&p, 2);
        p_group_changes(S, &p, &g[i]);
    }
    page_end(&p);
    char *path = mc_asprintf("changes%s", S->ext);
    int rc = emit_buf(S, path, &p.b, err);
    free(path);
    mc_buf_free(&p.b);
    return rc;
}

static void atom_time(mc_buf *b, int64_t t)
{
    char iso[21];
    mc_time_iso(t > 0 ? t : 0, iso);
    mc_buf_puts(b, iso);
}

/*
 * The Atom feed (RFC 4287): one entry per run that recorded changes.  Ids are
 * URNs made of the datastore and the run id, which never change for a store;
 * <updated> is the run's time, so the feed's bytes change only with the
 * catalog.  Links are relative to the feed unless a base URL was given.
 */
static int write_feed(site *S, const run_group *g, size_t n, mc_error *err)
{
    const char *base = S->o->base_url ? S->o->base_url : "";
    mc_buf b = {0};
    mc_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                    "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n"
                    "<title>metacrawl: catalog changes</title>\n<id>urn:metacrawl:feed");
    for (size_t i = 0; i < S->n_ds; i++) {
        mc_buf_putc(&b, ':');
        mc_buf_puts(&b, S->ds[i].file);
    }
    mc_buf_puts(&b, "</id>\n<updated>");
    /* the newest change, else the earliest crawl: never the build's time */
    int64_t updated = n ? g[0].run_at : 0;
    for (size_t i = 0; !n && i < S->n_ds; i++) {
        const mc_run_list *rl = &S->ds[i].runs;
        if (rl->n && (!updated || rl->runs[rl->n - 1].started_at < updated))
            updated = rl->runs[rl->n - 1].started_at;
    }
    atom_time(&b, updated);
    mc_buf_puts(&b, "</updated>\n");
    if (*base) {
        mc_buf_puts(&b, "<link rel=\"self\" type=\"application/atom+xml\" href=\"");
        site_xml_escape(&b, base);
        mc_buf_puts(&b, "feed.atom\"/>\n");
    }
    mc_buf_puts(&b, "<link rel=\"alternate\" type=\"text/html\" href=\"");
    site_xml_escape(&b, base);
    mc_buf_printf(&b, "changes%s\"/>\n<author><name>metacrawl</name></author>\n"
                      "<generator>metacrawl</generator>\n", S->ext);
    for (size_t i = 0; i < n && i < FEED_ENTRIES; i++) {
        const ds_data *d = &S->ds[g[i].ds];
        mc_buf_printf(&b, "<entry>\n<id>urn:metacrawl:run:%s:%lld</id>\n<title>", d->file,
                      (long long)g[i].run_id);
        mc_buf title = {0};
        mc_buf_printf(&title, "%s: %zu change%s", d->name, g[i].n, g[i].n == 1 ? "" : "s");
        if (g[i].n_breaking)
            mc_buf_printf(&title, " (%zu breaking)", g[i].n_breaking);
        mc_buf_printf(&title, " in run %lld", (long long)g[i].run_id);
        site_xml_escape(&b, mc_buf_str(&title));
        mc_buf_free(&title);
        mc_buf_puts(&b, "</title>\n<updated>");
        atom_time(&b, g[i].run_at);
        mc_buf_puts(&b, "</updated>\n<link rel=\"alternate\" type=\"text/html\" href=\"");
        site_xml_escape(&b, base);
        mc_buf_printf(&b, "changes%s#run-%lld\"/>\n<content type=\"html\">", S->ext,
                      (long long)g[i].run_id);
        /* the content is HTML carried as text: escaped twice */
        page t = {.md = false, .rel = base};
        p_group_changes(S, &t, &g[i]);
        site_xml_escape(&b, mc_buf_str(&t.b));
        mc_buf_free(&t.b);
        mc_buf_puts(&b, "</content>\n</entry>\n");
    }
    mc_buf_puts(&b, "</feed>\n");
    int rc = emit_buf(S, "feed.atom", &b, err);
    mc_buf_free(&b);
    return rc;
}

/* ---- search ------------------------------------------------------------------------ */

/*
 * The index is JavaScript, not JSON, so that it loads from file:// as well as
 * from a web server (a page opened from disk may not fetch()).  search/index.js
 * lists the chunks in order; a chunk is search/<16 hex>.js (cut after a
 * container whose name hashes to 0 modulo SEARCH_CHUNK_SPREAD, so about 256
 * containers, at most SEARCH_CHUNK_MAX bytes) and calls
 * mcSearch.chunk(name, [container, ...]) with
 *     [url, datastore, schema, name, kind, comment, [field, type, comment, ...]]
 * (strings as site_js_string writes them: ASCII only, nothing a parser could
 * take for markup).  search.js loads up to four chunks at a time and
 * searches what it has so far.
 */
/* Ends the chunk in b, named after the key of its first container. */
static int flush_chunk(site *S, mc_buf *b, mc_buf *names, uint64_t first_key,
                       size_t *n_chunks, mc_error *err)
{
    char id[24], rel[48];
    snprintf(id, sizeof id, "%016llx", (unsigned long long)first_key);
    /* two chunks starting with names of one 64-bit hash: keep them apart */
    if (names->len && strstr(mc_buf_str(names), id))
        snprintf(id, sizeof id, "%014llx%02zx", (unsigned long long)(first_key >> 8),
                 *n_chunks & 0xff);
    mc_buf_puts(b, "]);\n");
    /* the chunk announces its name: "mcSearch.chunk(" is written first with
     * a placeholder of the same length, replaced here */
    memcpy(b->data + strlen("mcSearch.chunk(\""), id, 16);
    snprintf(rel, sizeof rel, "search/%s.js", id);
    mc_buf_printf(names, "%s\"%s\"", *n_chunks ? "," : "", id);
    (*n_chunks)++;
    return emit_buf(S, rel, b, err);
}

static int write_search_index(site *S, mc_error *err)
{
    mc_buf b = {0}, names = {0};
    size_t n_chunks = 0, n_cont = 0, n_fields = 0;
    uint64_t first_key = 0;
    for (size_t di = 0; di < S->n_ds; di++) {
        ds_data *d = &S->ds[di];
        for (size_t ci = 0; ci < d->cat->n_containers; ci++) {
            const mc_container *k = &d->cat->containers[ci];
            uint64_t key = mc_hash_str(mc_hash_str(mc_hash_str(MC_HASH_INIT, d->name),
                                                   k->schema), k->name);
            if (b.len == 0) {
                first_key = key;
                mc_buf_puts(&b, "mcSearch.chunk(\"0123456789abcdef\",[\n");
            } else {
                mc_buf_puts(&b, ",\n");
            }
            mc_buf_putc(&b, '[');
            mc_buf_putc(&b, '"');
            put_cont_path(&b, S, d, ci);
            mc_buf_putc(&b, '"');
            mc_buf_putc(&b, ',');
            site_js_string(&b, d->name);
            mc_buf_putc(&b, ',');
            site_js_string(&b, k->schema);
            mc_buf_putc(&b, ',');
            site_js_string(&b, k->name);
            mc_buf_putc(&b, ',');
            site_js_string(&b, kind_label(k->kind));
            mc_buf_putc(&b, ',');
            site_js_string(&b, k->comment);
            mc_buf_puts(&b, ",[");
            for (size_t i = 0; i < k->n_fields; i++) {
                const mc_field *f = &d->cat->fields[k->first_field + i];
                if (i)
                    mc_buf_putc(&b, ',');
                site_js_string(&b, f->name);
                mc_buf_putc(&b, ',');
                site_js_string(&b, f->type);
                mc_buf_putc(&b, ',');
                if (f->comment)
                    site_js_string(&b, f->comment);
                else
                    mc_buf_putc(&b, '0'); /* shorter than null, and as falsy */
            }
            mc_buf_puts(&b, "]]");
            n_cont++;
            n_fields += k->n_fields;
            /* Chunk ends depend on the names at the cut, not on offsets, and
             * chunks are named after their first container: a changed or
             * added table rewrites its own chunk, not every chunk after it.
             * The size cap bounds a run of unlucky names. */
            if ((key % SEARCH_CHUNK_SPREAD == 0 && b.len >= SEARCH_CHUNK_MIN) ||
                b.len >= SEARCH_CHUNK_MAX) {
                if (flush_chunk(S, &b, &names, first_key, &n_chunks, err) < 0)
                    goto fail;
            }
        }
    }
    if (b.len && flush_chunk(S, &b, &names, first_key, &n_chunks, err) < 0)
        goto fail;
    mc_buf_printf(&b, "mcSearch.index({\"chunks\":[%s],\"containers\":%zu,\"fields\":%zu,"
                      "\"datastores\":%zu});\n", mc_buf_str(&names), n_cont, n_fields, S->n_ds);
    if (emit_buf(S, "search/index.js", &b, err) < 0)
        goto fail;
    mc_buf_free(&b);
    mc_buf_free(&names);
    return 0;
fail:
    mc_buf_free(&b);
    mc_buf_free(&names);
    return -1;
}

static int write_search_page(site *S, mc_error *err)
{
    page p = {.md = false, .rel = ""};
    crumb crumbs[] = {{S->index_file, "Datastores"}, {NULL, "Search"}};
    page_begin(S, &p, "Search · metacrawl", "Search", crumbs, 2, true);
    p_raw(&p, "<form id=\"search-form\" class=\"search big\" action=\"search.html\" "
              "method=\"get\" role=\"search\"><input id=\"q\" type=\"search\" name=\"q\" "
              "autofocus placeholder=\"Table, column or words of a comment\" "
              "aria-label=\"Search tables, columns and comments\">"
              "<button type=\"submit\">Search</button></form>\n"
              "<p id=\"status\" role=\"status\" class=\"muted\"></p>\n"
              "<ol id=\"results\" class=\"results\"></ol>\n"
              "<noscript><p>Search needs JavaScript. The <a href=\"index.html\">"
              "index</a> lists every schema.</p></noscript>\n"
              "<script src=\"assets/search.js\"></script>\n");
    page_end(&p);
    int rc = emit_buf(S, "search.html", &p.b, err);
    mc_buf_free(&p.b);
    return rc;
}

/* Literals stay under C's 4095-character minimum, hence the arrays. */
static const char *const site_css[] = {
    ":root{--fg:#1d232b;--muted:#5d6875;--bg:#fff;--line:#d8dde3;--accent:#0b5cad;"
    "--soft:#f3f5f8;--warn:#8a4b00;--bad:#b3261e}\n"
    "@media (prefers-color-scheme:dark){:root{--fg:#e3e7ec;--muted:#9aa5b1;--bg:#14181d;"
    "--line:#333b44;--accent:#7db4ff;--soft:#1d232a;--warn:#f0b35a;--bad:#ff8a80}}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
    "color:var(--fg);background:var(--bg)}\n"
    "a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}\n"
    "header.top{display:flex;flex-wrap:wrap;gap:.5em 1.5em;align-items:center;"
    "padding:.6em 1.5em;border-bottom:1px solid var(--line);background:var(--soft)}\n"
    "header.top .home{font-weight:600;color:var(--fg)}header.top nav a{margin-right:1em}\n"
    "form.search{display:flex;gap:.4em;margin-left:auto}\n"
    "form.search input{min-width:16em;padding:.3em .5em;border:1px solid var(--line);"
    "border-radius:4px;background:var(--bg);color:var(--fg)}\n"
    "form.search.big{margin:0 0 1em}form.search.big input{min-width:min(32em,80vw);"
    "font-size:1.1em}\n"
    "button{padding:.3em .8em;border:1px solid var(--line);border-radius:4px;"
    "background:var(--bg);color:var(--fg);cursor:pointer}\n"
    "nav.crumbs{padding:.6em 1.5em 0;color:var(--muted);font-size:.92em}\n"
    "main{padding:0 1.5em 2em;max-width:90em}\n"
    "h1{font-size:1.6em;margin:.5em 0 .3em;word-break:break-word}\n"
    "h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line)}\n"
    "h3{font-size:1.05em;margin:1.2em 0 .4em}\n"
    "p.facts{color:var(--muted)}p.comment{white-space:pre-wrap;max-width:60em}\n"
    "p.warn{color:var(--warn);font-weight:600}\n"
    "table{border-collapse:collapse;margin:.5em 0 1em;width:100%}\n"
    "th,td{text-align:left;vertical-align:top;padding:.3em .6em;"
    "border-bottom:1px solid var(--line)}\n"
    "th{font-size:.85em;text-transform:uppercase;letter-spacing:.03em;color:var(--muted)}\n"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "table.columns td:nth-child(6),table.containers td:nth-child(5),"
    "table.schemas td:nth-child(5){white-space:pre-wrap;max-width:40em}\n"
    "tr:target{background:var(--soft);outline:2px solid var(--accent)}\n"
    "code{font:.92em/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
    "word-break:break-word}\n"
    "pre{background:var(--soft);border:1px solid var(--line);border-radius:4px;"
    "padding:.8em;overflow:auto;max-height:40em}\n"
    ".badge{display:inline-block;font-size:.78em;padding:0 .45em;border-radius:3px;"
    "border:1px solid var(--line);color:var(--muted);vertical-align:.08em}\n"
    ".badge.breaking{color:var(--bad);border-color:var(--bad)}\n"
    ".badge.pk,.badge.fk{color:var(--accent);border-color:var(--accent)}\n"
    ".muted{color:var(--muted)}\n"
    "ul.changes li,ul.keys li{margin:.25em 0}\n"
    "details{display:inline-block;vertical-align:top}details pre{margin:.3em 0}\n"
    "ol.results{padding-left:1.5em}ol.results li{margin:.35em 0}\n"
    "ol.results .kind{margin-left:.6em;font-size:.85em;color:var(--muted)}\n"
    "ol.results .comment{display:block;color:var(--muted);font-size:.92em}\n"
    "footer{padding:1em 1.5em;color:var(--muted);font-size:.85em;"
    "border-top:1px solid var(--line)}\n",
};

static const char *const site_js[] = {
    "/* metacrawl docs: client-side search over the prebuilt index in search/.\n"
    " * Results are built from text nodes only: nothing from the index is ever\n"
    " * parsed as HTML. */\n"
    "(function () {\n"
    "  'use strict';\n"
    "  var MAX = 200, PARALLEL = 4, chunks = [], nChunks = -1, loaded = 0, next = 0;\n"
    "  var multi = false, names = [], order = {};\n"
    "  var query = '', timer = null, lastRender = 0, input, status, list;\n"
    "  var SAFE_URL = /^[a-z0-9_\\-\\/.]+$/;\n"
    "\n"
    "  /* The fragment id of a column: the same rule as the pages (site.c put_id). */\n"
    "  function enc(s) {\n"
    "    var b = new TextEncoder().encode(s), o = '';\n"
    "    for (var i = 0; i < b.length; i++) {\n"
    "      var x = b[i];\n"
    "      o += (x >= 97 && x <= 122) || (x >= 48 && x <= 57) || x === 95 ?\n"
    "        String.fromCharCode(x) : '-' + (x < 16 ? '0' : '') + x.toString(16);\n"
    "    }\n"
    "    return o || '-';\n"
    "  }\n"
    "\n"
    "  /* One string per chunk, entries separated by U+0000 and each entry's name\n"
    "   * from its comment by U+0001: a search is a few indexOf calls. */\n"
    "  function prepare(i, data) {\n"
    "    var parts = [], starts = [], nameEnd = [], ent = [], pos = 0;\n"
    "    function add(name, comment, c, f) {\n"
    "      var n = '\\u0000' + name.toLowerCase();\n"
    "      var s = n + '\\u0001' + (comment ? String(comment).toLowerCase() : '');\n"
    "      starts.push(pos); nameEnd.push(pos + n.length); ent.push(c, f);\n"
    "      parts.push(s); pos += s.length;\n"
    "    }\n"
    "    for (var c = 0; c < data.length; c++) {\n"
    "      var d = data[c], fs = d[6];\n"
    "      add(d[3], d[5], c, -1);\n"
    "      for (var k = 0; k < fs.length; k += 3) add(fs[k], fs[k + 2], c, k / 3);\n"
    "    }\n"
    "    return { i: i, data: data, hay: parts.join(''), starts: starts,\n"
    "             nameEnd: nameEnd, ent: ent };\n"
    "  }\n"
    "\n"
    "  /* Tiers: exact name, name prefix, name substring, comment; containers\n"
    "   * before columns within a tier. */\n"
    "  function find(ch, q, out) {\n"
    "    var hay = ch.hay, st = ch.starts, n = st.length, i = hay.indexOf(q);\n"
    "    while (i >= 0) {\n"
    "      var lo = 0, hi = n - 1;\n"
    "      while (lo < hi) {\n"
    "        var mid = (lo + hi + 1) >> 1;\n"
    "        if (st[mid] <= i) lo = mid; else hi = mid - 1;\n"
    "      }\n"
    "      var tier;\n"
    "      if (i < ch.nameEnd[lo]) {\n"
    "        if (i === st[lo] + 1) tier = q.length === ch.nameEnd[lo] - st[lo] - 1 ? 0 : 2;\n"
    "        else tier = 4;\n"
    "      } else tier = 6;\n"
    "      out.push({ t: tier + (ch.ent[2 * lo + 1] >= 0 ? 1 : 0), ch: ch, k: lo });\n"
    "      if (lo + 1 >= n) break;\n"
    "      i = hay.indexOf(q, st[lo + 1]);\n"
    "    }\n"
    "  }\n"
    "\n",
    "  function el(tag, cls, text) {\n"
    "    var e = document.createElement(tag);\n"
    "    if (cls) e.className = cls;\n"
    "    if (text) e.textContent = text;\n"
    "    return e;\n"
    "  }\n"
    "\n"
    "  function item(r) {\n"
    "    var ch = r.ch, f = ch.ent[2 * r.k + 1], d = ch.data[ch.ent[2 * r.k]];\n"
    "    var label = (multi ? d[1] + ': ' : '') + d[2] + '.' + d[3], href = d[0];\n"
    "    var kind = d[4], comment = d[5];\n"
    "    if (f >= 0) {\n"
    "      label += '.' + d[6][3 * f];\n"
    "      href += '#col-' + enc(d[6][3 * f]);\n"
    "      kind = d[6][3 * f + 1];\n"
    "      comment = d[6][3 * f + 2];\n"
    "    }\n"
    "    var li = el('li'), a = el('a', null, label);\n"
    "    if (SAFE_URL.test(d[0])) a.setAttribute('href', href);\n"
    "    li.appendChild(a);\n"
    "    li.appendChild(el('span', 'kind', kind));\n"
    "    if (comment) {\n"
    "      comment = String(comment);\n"
    "      li.appendChild(el('span', 'comment',\n"
    "        comment.length > 240 ? comment.slice(0, 240) + '\\u2026' : comment));\n"
    "    }\n"
    "    return li;\n"
    "  }\n"
    "\n"
    "  function render() {\n"
    "    lastRender = Date.now();\n"
    "    while (list.firstChild) list.removeChild(list.firstChild);\n"
    "    var more = loaded < nChunks || nChunks < 0 ?\n"
    "      ' (loading the index: ' + loaded + ' of ' + (nChunks < 0 ? '?' : nChunks) +\n"
    "      ' parts)' : '';\n"
    "    if (!query) { status.textContent = more ? 'Loading the index' + more : ''; return; }\n"
    "    var out = [];\n"
    "    for (var c = 0; c < chunks.length; c++) if (chunks[c]) find(chunks[c], query, out);\n"
    "    out.sort(function (x, y) { return x.t - y.t || x.ch.i - y.ch.i || x.k - y.k; });\n"
    "    var frag = document.createDocumentFragment();\n"
    "    for (var r = 0; r < out.length && r < MAX; r++) frag.appendChild(item(out[r]));\n"
    "    list.appendChild(frag);\n"
    "    var s = out.length + (out.length === 1 ? ' match' : ' matches');\n"
    "    if (out.length > MAX) s += ', the first ' + MAX + ' shown: refine the search';\n"
    "    status.textContent = s + more;\n"
    "    document.body.setAttribute('data-search-state', more ? 'loading' : 'done');\n"
    "  }\n"
    "\n"
    "  function norm(q) { return q.replace(/[\\u0000\\u0001]/g, '').trim().toLowerCase(); }\n"
    "\n"
    "  function setQuery(q, now) {\n"
    "    clearTimeout(timer);\n"
    "    timer = setTimeout(function () {\n"
    "      query = norm(q);\n"
    "      try {\n"
    "        history.replaceState(null, '', '?q=' + encodeURIComponent(q));\n"
    "      } catch (e) { /* file:// may refuse; the search works without it */ }\n"
    "      render();\n"
    "    }, now ? 0 : 120);\n"
    "  }\n"
    "\n"
    "  function loadNext() {\n"
    "    if (next >= nChunks) return;\n"
    "    var s = document.createElement('script');\n"
    "    s.src = 'search/' + names[next++] + '.js';\n"
    "    s.onerror = function () { status.textContent = 'Cannot load ' + s.src; };\n"
    "    document.head.appendChild(s);\n"
    "  }\n"
    "\n"
    "  window.mcSearch = {\n"
    "    index: function (meta) {\n"
    "      names = meta.chunks; nChunks = names.length; multi = meta.datastores > 1;\n"
    "      for (var k = 0; k < nChunks; k++) order[names[k]] = k;\n"
    "      if (!nChunks) render();\n"
    "      for (var i = 0; i < PARALLEL; i++) loadNext();\n"
    "    },\n"
    "    chunk: function (name, data) {\n"
    "      var i = order[name];\n"
    "      if (i === undefined || chunks[i]) return;\n"
    "      chunks[i] = prepare(i, data); loaded++;\n"
    "      if (loaded === nChunks || Date.now() - lastRender > 250) render();\n"
    "      loadNext();\n"
    "    }\n"
    "  };\n"
    "\n"
    "  document.addEventListener('DOMContentLoaded', function () {\n"
    "    input = document.getElementById('q');\n"
    "    status = document.getElementById('status');\n"
    "    list = document.getElementById('results');\n"
    "    var q = new URLSearchParams(location.search).get('q') || '';\n"
    "    input.value = q;\n"
    "    query = norm(q);\n"
    "    input.addEventListener('input', function () { setQuery(input.value, false); });\n"
    "    document.getElementById('search-form').addEventListener('submit', function (e) {\n"
    "      e.preventDefault(); setQuery(input.value, true);\n"
    "    });\n"
    "    render();\n"
    "    var s = document.createElement('script');\n"
    "    s.src = 'search/index.js';\n"
    "    s.onerror = function () { status.textContent = 'Cannot load the search index'; };\n"
    "    document.head.appendChild(s);\n"
    "  });\n"
    "})();\n",
};

static int write_asset(site *S, const char *rel, const char *const *parts, size_t n,
                       mc_error *err)
{
    mc_buf b = {0};
    for (size_t i = 0; i < n; i++)
        mc_buf_puts(&b, parts[i]);
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
    if (!S->md && (write_asset(S, "assets/site.css", site_css,
                               sizeof site_css / sizeof site_css[0], err) < 0 ||
                   write_asset(S, "assets/search.js", site_js,
                               sizeof site_js / sizeof site_js[0], err) < 0))
        return -1;
    if (write_index(S, err) < 0)
        return -1;
    for (size_t di = 0; di < S->n_ds; di++) {
        ds_data *d = &S->ds[di];
        for (size_t si = 0; si < d->n_schemas; si++)
            if (write_schema(S, d, si, err) < 0)
                return -1;
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
    store_read_end(s);

    if (build_pages(&S, err) < 0)
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

/* ---- the command ---------------------------------------------------------------------- */

static const cli_opt docs_opts[] = {
    {"out", 'o', "DIR", "write the site into DIR (created when missing; required)",
     CLI_IS_TEXT},
    {"format", 0, "FORMAT", "html (default) or markdown", CLI_IS_TEXT},
    {"base-url", 0, "URL", "where the site is published, e.g. https://docs.example.com/catalog/; "
                           "makes the feed's links absolute", CLI_IS_TEXT},
    {"force", 'f', NULL, "build into a non-empty directory that holds no earlier build "
                         "(its files may be overwritten or deleted)", CLI_IS_FLAG},
    {0},
};

static int cmd_docs(cli_ctx *ctx)
{
    const char *out = cli_value(ctx, "out");
    const char *fmt = cli_value(ctx, "format");
    if (!out || !*out)
        return cmd_fail(MC_EXIT_USAGE, "see 'metacrawl docs --help'", "docs needs --out DIR");
    site_opts o = {.out_dir = out, .format = SITE_HTML, .base_url = cli_value(ctx, "base-url"),
                   .force = cli_flag(ctx, "force")};
    if (fmt && (strcmp(fmt, "markdown") == 0 || strcmp(fmt, "md") == 0)) {
        o.format = SITE_MARKDOWN;
    } else if (fmt && strcmp(fmt, "html") != 0) {
        return cmd_fail(MC_EXIT_USAGE, NULL, "--format takes html or markdown, not '%s'", fmt);
    }
    cfg *c = NULL;
    store *st = NULL;
    int rc = cmd_load_config_for_reading(ctx, &c);
    if (rc || (rc = cmd_open_store_read(ctx, c, &st)) != 0)
        goto done;
    mc_error err = {0};
    site_stats stats;
    double t0 = mc_monotonic();
    if (site_build(st, (const char *const *)ctx->args, (size_t)ctx->n_args, &o, &stats,
                   &err) != 0) {
        cmd_report_error(&err);
        rc = err.code ? err.code : MC_EXIT_STORE;
        goto done;
    }
    double secs = mc_monotonic() - t0;
    if (ctx->json) {
        mc_buf j = {0};
        bool first = true;
        mc_buf_putc(&j, '{');
        json_put_kv_str(&j, &first, "out", out);
        json_put_kv_str(&j, &first, "format", o.format == SITE_MARKDOWN ? "markdown" : "html");
        json_put_kv_int(&j, &first, "files", (int64_t)stats.n_files);
        json_put_kv_int(&j, &first, "written", (int64_t)stats.n_written);
        json_put_kv_int(&j, &first, "unchanged", (int64_t)(stats.n_files - stats.n_written));
        json_put_kv_int(&j, &first, "removed", (int64_t)stats.n_removed);
        json_put_kv_int(&j, &first, "datastores", (int64_t)stats.n_datastores);
        json_put_kv_int(&j, &first, "schemas", (int64_t)stats.n_schemas);
        json_put_kv_int(&j, &first, "containers", (int64_t)stats.n_containers);
        json_put_kv_int(&j, &first, "fields", (int64_t)stats.n_fields);
        first = json_put_key(&j, first, "seconds");
        mc_buf_printf(&j, "%.3f", secs);
        mc_buf_putc(&j, '}');
        cmd_print_json(&j);
        mc_buf_free(&j);
    } else if (mc_log_threshold >= MC_LOG_ERROR) {
        printf("docs: %zu files in %s: %zu written, %zu unchanged, %zu removed "
               "(%zu datastores, %zu containers) in %.1fs\n",
               stats.n_files, out, stats.n_written, stats.n_files - stats.n_written,
               stats.n_removed, stats.n_datastores, stats.n_containers, secs);
    }
done:
    store_close(st);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_docs = {"docs", "[DS...]", "documentation site from the store",
    "Writes a static documentation site of the stored catalog into --out DIR: an "
    "index of the datastores and schemas with their counts and last crawl, a page "
    "per schema and per container (columns, keys, foreign keys both ways, view "
    "definition, row estimate, owner and change history), recent changes, an Atom "
    "feed (feed.atom) and a client-side search. DS... limits it to those "
    "datastores (default: every datastore in the store).\n\n"
    "The site is self-contained: no page loads anything from the network, so it "
    "can be opened from disk or published on any static host. Every name and "
    "comment from the warehouse is escaped. The same store always gives the same "
    "bytes; a rebuild rewrites only the files that changed and deletes the pages "
    "of containers that are gone. --format markdown writes the same pages as "
    "GitHub-flavoured Markdown (README.md is the index). See docs/site.md.\n\n"
    "A directory that is not empty and holds no earlier build (its "
    ".metacrawl-site manifest) is refused (exit 2), since the build would "
    "overwrite or delete files in it; --force builds there anyway.",
    docs_opts, 0, -1, cmd_docs};
