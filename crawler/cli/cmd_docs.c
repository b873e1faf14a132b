/*
 * cmd_docs.c — `metacrawl docs`: the documentation site of the stored
 * catalog (crawler/site), its options and its report.
 */
#include "commands.h"
#include "json.h"
#include "site.h"

#include <stdio.h>
#include <string.h>

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
        report_error(&err);
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
    "definition, row estimate, owner and change history), diagrams (per schema an "
    "entity-relationship diagram, per container its upstream and downstream: inline "
    "SVG drawn with Graphviz, or Mermaid blocks with --format markdown), recent "
    "changes, an Atom "
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
