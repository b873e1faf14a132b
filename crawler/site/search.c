/*
 * search.c — the site's client-side search: the prebuilt index (search/index.js
 * and its chunks search/<hex>.js) and search.html, the page that loads
 * assets/search.js to search it.
 */
#include "site_internal.h"
#include "json.h"

#include <stdio.h>
#include <string.h>

#define SEARCH_CHUNK_SPREAD 256             /* about one cut per 256 containers */
#define SEARCH_CHUNK_MIN (16 * 1024)
#define SEARCH_CHUNK_MAX (2 * 1024 * 1024)

/* ---- search ------------------------------------------------------------------------ */

/*
 * The index is JavaScript, not JSON, so that it loads from file:// as well as
 * from a web server (a page opened from disk may not fetch()).  search/index.js
 * lists the chunks in order; a chunk is search/<16 hex>.js (cut after a
 * container whose name hashes to 0 modulo SEARCH_CHUNK_SPREAD, so about 256
 * containers, at most SEARCH_CHUNK_MAX bytes) and calls
 * mcSearch.chunk(name, [container, ...]) with
 *     [url, datastore, schema, name, kind, comment, [field, type, comment, ...]]
 * (strings as json_put_str_script writes them: ASCII only, nothing a parser could
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

int write_search_index(site *S, mc_error *err)
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
            json_put_str_script(&b, d->name);
            mc_buf_putc(&b, ',');
            json_put_str_script(&b, k->schema);
            mc_buf_putc(&b, ',');
            json_put_str_script(&b, k->name);
            mc_buf_putc(&b, ',');
            json_put_str_script(&b, kind_label(k->kind));
            mc_buf_putc(&b, ',');
            json_put_str_script(&b, k->comment);
            mc_buf_puts(&b, ",[");
            size_t nf;
            const mc_field *fs = ds_fields(d, ci, &nf);
            for (size_t i = 0; i < nf; i++) {
                const mc_field *f = &fs[i];
                if (i)
                    mc_buf_putc(&b, ',');
                json_put_str_script(&b, f->name);
                mc_buf_putc(&b, ',');
                json_put_str_script(&b, f->type);
                mc_buf_putc(&b, ',');
                if (f->comment)
                    json_put_str_script(&b, f->comment);
                else
                    mc_buf_putc(&b, '0'); /* shorter than null, and as falsy */
            }
            mc_buf_puts(&b, "]]");
            ds_fields_release(d);
            if (ds_fields_check(d, err) < 0)
                goto fail;
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

int write_search_page(site *S, mc_error *err)
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

