/*
 * cmd_check.c — `metacrawl check`: its options, the checklist as terminal
 * text (marks, colour, a schema's items on one line when they all passed)
 * and the --json document around the reports.  The steps and the report
 * are the grants module's (crawler/grants/check.c, grants.h).
 */
#include "commands.h"
#include "grants.h"

#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct marks {
    const char *sym[4]; /* by check_status */
    const char *color[4];
    bool use_color;
} marks;

/* ✓ ✗ on a UTF-8 terminal; "ok" and "FAIL" otherwise, so a log or a pipe
 * to grep gets plain ASCII words. */
static void choose_marks(marks *mk)
{
    bool utf8 = false;
    if (isatty(STDOUT_FILENO)) {
        const char *old = setlocale(LC_CTYPE, NULL);
        char *saved = mc_strdup(old ? old : "C");
        if (setlocale(LC_CTYPE, "")) {
            const char *cs = nl_langinfo(CODESET);
            utf8 = cs && (strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "utf8") == 0);
        }
        setlocale(LC_CTYPE, saved);
        free(saved);
    }
    static const char *const ascii[] = {"ok  ", "warn", "skip", "FAIL"};
    static const char *const fancy[] = {"\u2713", "!", "-", "\u2717"};
    for (int i = 0; i < 4; i++)
        mk->sym[i] = utf8 ? fancy[i] : ascii[i];
    mk->use_color = report_use_color();
    mk->color[CHECK_OK] = "\033[32m";
    mk->color[CHECK_WARN] = "\033[33m";
    mk->color[CHECK_SKIP] = "\033[2m";
    mk->color[CHECK_FAIL] = "\033[31m";
}

static void print_line(const marks *mk, check_status st, const char *label, const char *msg,
                       const char *fix)
{
    fputs("  ", stdout);
    if (mk->use_color)
        fputs(mk->color[st], stdout);
    fputs(mk->sym[st], stdout);
    if (mk->use_color)
        fputs("\033[0m", stdout);
    putchar(' ');
    report_put_safe(stdout, label);
    fputs(": ", stdout);
    report_put_safe(stdout, msg);
    putchar('\n');
    for (const char *p = fix; p && *p;) {
        size_t n = strcspn(p, "\n");
        char *line = mc_strndup(p, n);
        fputs(p == fix ? "       fix: " : "            ", stdout);
        report_put_safe(stdout, line);
        putchar('\n');
        free(line);
        p += n + (p[n] == '\n');
    }
}

static void print_text(const check_report *r, const marks *mk)
{
    const cfg_datastore *ds = r->ds;
    printf("%s: ", ds->name);
    char *user = check_name_text(ds->user);
    report_put_safe(stdout, user);
    free(user);
    printf("@%s:%d/", ds->host, ds->port);
    report_put_safe(stdout, ds->database);
    for (size_t h = 1; h <= check_n_hops(ds); h++) {
        const cfg_hop *c = check_hop(ds, h);
        fputs(h == 1 ? " through " : ", ", stdout);
        if (ds->tunnel.via == CFG_TUNNEL_OPENSSH)
            fputs("ssh ", stdout);
        if (c->user) {
            report_put_safe(stdout, c->user);
            putchar('@');
        }
        report_put_safe(stdout, c->host);
        if (c->port)
            printf(":%d", c->port);
    }
    if (ds->tunnel.present && ds->tunnel.via == CFG_TUNNEL_COMMAND) {
        fputs(" through the tunnel command ", stdout);
        report_put_safe(stdout, ds->tunnel.command[0]);
    }
    putchar('\n');
    size_t problems = 0;
    for (size_t i = 0; i < r->n_items; i++) {
        const check_item *it = &r->items[i];
        problems += it->status == CHECK_FAIL;
        if (!it->schema) {
            char *label = check_item_label(ds, it);
            print_line(mk, it->status, label, it->message, it->fix);
            free(label);
            continue;
        }
        /* A schema's items: one line when they all passed. */
        size_t end = i;
        bool all_ok = true;
        while (end < r->n_items && r->items[end].schema &&
               strcmp(r->items[end].schema, it->schema) == 0) {
            all_ok &= r->items[end].status == CHECK_OK;
            end++;
        }
        char *shown = check_name_text(it->schema);
        char *label = mc_asprintf("schema %s", shown);
        free(shown);
        if (all_ok) {
            mc_buf msg = {0};
            for (size_t k = i; k < end; k++) {
                if (k > i)
                    mc_buf_puts(&msg, "; ");
                mc_buf_puts(&msg, r->items[k].message);
            }
            print_line(mk, CHECK_OK, label, mc_buf_str(&msg), NULL);
            mc_buf_free(&msg);
        } else {
            for (size_t k = i; k < end; k++) {
                const check_item *sk = &r->items[k];
                problems += k > i && sk->status == CHECK_FAIL;
                char *l2 = mc_asprintf("%s %s", label,
                                       strcmp(sk->step, "default_privileges") == 0
                                           ? "default privileges"
                                           : sk->step);
                print_line(mk, sk->status, l2, sk->message, sk->fix);
                free(l2);
            }
        }
        free(label);
        i = end - 1;
    }
    if (problems == 0)
        printf("  all good\n");
    else
        printf("  %zu problem%s (exit %d)", problems, problems == 1 ? "" : "s", r->exit_code);
    if (problems && r->exit_code == MC_EXIT_PARTIAL)
        printf("; `metacrawl grants %s` prints the SQL for all of them, --apply runs it",
               ds->name);
    if (problems)
        putchar('\n');
}

static const cli_opt check_opts[] = {
    {0},
};

static int cmd_check(cli_ctx *ctx)
{
    cfg *c = NULL;
    cmd_targets tg = {0};
    int rc = cmd_load_config(ctx, false, &c);
    if (rc)
        return rc;
    /* databases: each database is checked as the datastore it is recorded as */
    if ((rc = cmd_select_targets(ctx, c, &tg)) != 0)
        goto out;
    marks mk;
    choose_marks(&mk);
    mc_buf json = {0};
    mc_buf_puts(&json, "{\"datastores\":[");
    size_t n_json = 0;
    for (size_t i = 0; i < tg.n; i++) {
        check_report r;
        if (tg.items[i].failed) {
            /* databases: "*" and the list could not be read */
            report_error(&tg.items[i].error);
            rc = report_max_code(rc, tg.items[i].error.code);
            continue;
        }
        check_datastore(tg.items[i].ds, &r);
        if (ctx->json) {
            if (n_json++)
                mc_buf_putc(&json, ',');
            check_report_json(&json, &r);
        } else {
            if (i)
                putchar('\n');
            print_text(&r, &mk);
            fflush(stdout);
        }
        rc = report_max_code(rc, r.exit_code);
        check_report_free(&r);
    }
    mc_buf_puts(&json, "]}");
    if (ctx->json)
        cmd_print_json(&json);
    mc_buf_free(&json);
out:
    cmd_targets_free(&tg);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_check = {
    "check", "[DS...]", "test each datastore step by step and print the fix for what fails",
    "Tests the named datastores (default: all) step by step and prints a checklist: the "
    "tunnel when one is configured (with via: openssh, ssh found and its version; with a "
    "command tunnel, the command started and its port open; every hop reached, its host "
    "key verified, the login accepted, then the forwarding to the warehouse), that the database answers and accepts the login, the "
    "server's dialect and version, membership of the group, then for every schema in scope "
    "USAGE, the tables and views without SELECT (a count and the first names), and whether "
    "default privileges cover every owner of its tables so that future tables are readable "
    "too, and last whether the table facts are readable (on Redshift svv_table_info needs "
    "its own grant, which the step names; a warning only: the crawl works without them). "
    "Every failed step prints its fix (docs/redshift-setup.md has the troubleshooting "
    "table). The catalog is read with a constant number of statements.\n\n"
    "On a UTF-8 terminal each line starts with a check mark or a cross; otherwise (a pipe, "
    "a file, another locale) with the words ok, FAIL, warn or skip. Exit code: 0 when every step passed, 4 when "
    "the database or tunnel cannot be reached, 5 when a login (the bastion's or the "
    "database's) or the catalog is refused, "
    "7 when privileges are missing; with several datastores the highest wins.\n\n"
    "A datastore with databases: is checked database by database (DS/DB checks one).",
    check_opts, 0, -1, cmd_check};
