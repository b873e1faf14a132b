/*
 * site.h — the documentation site built from the store (`metacrawl docs`,
 * docs/site.md): static HTML (or GitHub-flavoured Markdown) pages for the
 * datastores, schemas and containers, their change history, a recent-changes
 * page, an Atom feed and a prebuilt client-side search index.
 *
 * Every string that came from the warehouse is attacker-controlled (anyone
 * who may COMMENT ON a table writes into the site), so it reaches a page
 * only through one of the escapers below, each for the context it lands in.
 * They are public so the unit tests can feed them hostile input.
 *
 * The module is the files of crawler/site/ (site.c lists them); what they
 * share among themselves is in site_internal.h, not here.
 */
#ifndef MC_SITE_H
#define MC_SITE_H

#include "mc_base.h"
#include "store.h"

typedef enum site_format { SITE_HTML = 0, SITE_MARKDOWN } site_format;

typedef struct site_opts {
    const char *out_dir;   /* created when missing */
    site_format format;
    const char *base_url;  /* absolute URL the site is published at, or NULL:
                              makes the feed's links absolute */
    bool force;            /* build into a non-empty directory that holds no
                              earlier build (the user's files may be
                              overwritten or deleted) */
} site_opts;

typedef struct site_stats {
    size_t n_files;        /* files the site consists of */
    size_t n_written;      /* of which new or changed, so (re)written */
    size_t n_removed;      /* stale files deleted (dropped containers, ...) */
    size_t n_datastores, n_schemas, n_containers, n_fields;
} site_stats;

/*
 * Builds the site for the named datastores (all datastores of the store
 * when n_datastores is 0) into o->out_dir.  The output is a function of the
 * store alone (same store, same bytes); a file whose bytes did not change is
 * not touched, a changed one is replaced atomically (temporary file +
 * rename), and files of an earlier build that are no longer part of the site
 * are deleted.  Errors: MC_EXIT_USAGE (unknown datastore, bad directory),
 * MC_EXIT_STORE.
 */
int site_build(store *s, const char *const *datastores, size_t n_datastores,
               const site_opts *o, site_stats *stats, mc_error *err);

/* ---- escaping (each appends to b; NULL appends nothing) ------------------- */

/* Text and double- or single-quoted attribute values of HTML, and XML
 * (the Atom feed): & < > " ' as entities valid in both; control characters
 * (which XML 1.0 forbids even as references) as the visible text \xNN;
 * invalid UTF-8, U+FFFE and U+FFFF as U+FFFD. */
void site_html_escape(mc_buf *b, const char *s);
void site_xml_escape(mc_buf *b, const char *s);
/* Inline Markdown (GitHub): every ASCII punctuation character backslash-
 * escaped (so no emphasis, link, HTML, autolink, table pipe or heading can
 * start), newlines as <br>, control characters as \xNN. */
void site_md_escape(mc_buf *b, const char *s);
/*
 * A name as a file name (and URL path segment, and fragment id): bytes
 * [a-z0-9_] stay, every other byte is -XX (lower-case hex).  Deterministic
 * and one-to-one, never empty, no '.', '/', upper case or '%' (safe on
 * case-insensitive file systems and every static host); Windows device
 * names are escaped too.  A name whose form would exceed 200 characters is
 * cut and given a -z<hash> suffix, which no plain form can produce.
 */
void site_file_name(mc_buf *b, const char *name);

#endif
