/*
 * cmd_search.c — `metacrawl search TEXT`: containers and fields whose name
 * or comment contains TEXT.
 */
#include "commands.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt search_opts[] = {
    {"limit", 0, "N", "show at most N hits (default 50)", CLI_INT_RANGE(1, LONG_MAX)},
    {0},
};

static int cmd_search(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    mc_search_result res = {0};
    mc_error err = {0};
    long limit = cli_int(ctx, "limit", 50);
    int rc = cmd_load_config_for_reading(ctx, &c);
    if (rc || (rc = cmd_open_store_read(ctx, c, &st)) != 0)
        goto out;
    if (store_search(st, ctx->args[0], (size_t)limit, &res, &err) != 0) {
        report_error(&err);
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
        report_put_safe(stdout, h->datastore);
        putchar('.');
        report_put_safe(stdout, h->schema);
        putchar('.');
        report_put_safe(stdout, h->container);
        if (h->field) {
            putchar('.');
            report_put_safe(stdout, h->field);
        }
        printf("  (");
        report_put_safe(stdout, h->kind ? h->kind : "");
        if (h->extension) {
            printf(", extension ");
            report_put_safe(stdout, h->extension);
        }
        putchar(')');
        if (h->comment) {
            printf("  -- ");
            report_put_safe_short(stdout, h->comment, REPORT_COMMENT_COLS);
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

const cli_cmd cmd_def_search = {"search", "TEXT", "containers and fields whose name or comment matches",
     "Searches the current catalog of every datastore in the store for "
     "containers and columns whose name or comment contains TEXT, ignoring "
     "case.",
     search_opts, 1, 1, cmd_search};
