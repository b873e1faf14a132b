/*
 * cmd_init.c — `metacrawl init`: a commented starter metacrawl.yml.
 */
#include "commands.h"
#include "json.h"

#include <stdio.h>

static const cli_opt init_opts[] = {
    {"force", 0, NULL, "overwrite an existing file", CLI_IS_FLAG},
    {0},
};

static int cmd_init(cli_ctx *ctx)
{
    const char *path = ctx->config_path ? ctx->config_path : "metacrawl.yml";
    mc_error err = {0};
    if (cfg_write_starter(path, cli_flag(ctx, "force"), &err) != 0) {
        report_error(&err);
        return err.code;
    }
    if (ctx->json) {
        mc_buf b = {0};
        bool first = true;
        mc_buf_putc(&b, '{');
        json_put_kv_str(&b, &first, "written", path);
        mc_buf_putc(&b, '}');
        cmd_print_json(&b);
        mc_buf_free(&b);
    } else {
        printf("wrote %s: edit the datastore, then run 'metacrawl crawl'\n", path);
    }
    return 0;
}

const cli_cmd cmd_def_init = {"init", "", "write a commented starter metacrawl.yml",
     "Writes a commented starter configuration to the file given with -c "
     "(default ./metacrawl.yml), mode 0600. An existing file is kept unless "
     "--force is given.",
     init_opts, 0, 0, cmd_init};
