/*
 * test_hostile.c — the holes a hostile test found (issue 13), as a user meets
 * them: two crawls of one store through two paths, `docs --out` into a
 * directory of the user's, hostile names on the terminal, every read command
 * on a missing, read-only or damaged store, and the exit codes and messages
 * of the failures.  Each test runs the metacrawl binary against the
 * harness's PostgreSQL.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

typedef struct fixture {
    char *db, *dir, *cfg, *store;
} fixture;

/* A database with one table, a config for it; gated: the datastore's
 * password comes from a command that first creates DIR/started and then
 * waits for DIR/release, so a crawl holds its lock exactly as long as the
 * test wants (not timing: the test waits for the file, not for a clock). */
static fixture setup(const char *prefix, bool gated)
{
    fixture f = {0};
    f.db = itest_create_db(prefix);
    PGconn *c = itest_connect(f.db);
    itest_sql(c, "CREATE TABLE public.orders (id int PRIMARY KEY, amount int)");
    PQfinish(c);
    f.dir = itest_tmpdir();
    f.store = itest_strf("%s/catalog.db", f.dir);
    char *extra = gated
        ? itest_strf("    password_command: [sh, -c, 'touch %s/started; i=0; while [ ! -e "
                     "%s/release ] && [ $i -lt 250 ]; do sleep 0.1; i=$((i+1)); done; "
                     "printf %%s \"$MC_TEST_DS_PASSWORD\"']\n", f.dir, f.dir)
        : NULL;
    f.cfg = itest_write_config(f.dir, f.db, itest_env("MC_TEST_PGUSER"),
                               gated ? NULL : itest_env("MC_TEST_PGPASSWORD"), extra);
    return f;
}

static const char *const *env(void)
{
    static char *e[2];
    e[0] = itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD"));
    e[1] = NULL;
    return (const char *const *)e;
}

/* metacrawl -c CFG ARGS... */
static itest_result mc(const fixture *f, const char *const *args)
{
    const char *argv[24];
    int n = 0;
    if (f) {
        argv[n++] = "-c";
        argv[n++] = f->cfg;
    }
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return itest_run(argv, env(), NULL);
}

#define MC(f, ...) mc(f, (const char *const[]){__VA_ARGS__, NULL})

static void wait_for_file(const char *path)
{
    for (int i = 0; i < 6000; i++) { /* the test's own timeout bounds this */
        if (access(path, F_OK) == 0)
            return;
        usleep(10000);
    }
    cr_assert_fail("%s never appeared", path);
}

static json_t *ds_report(const char *json_text)
{
    json_t *doc = itest_parse_json(json_text);
    json_t *ds = json_array_get(json_object_get(doc, "datastores"), 0);
    cr_assert(ds, "no datastore in %s", json_text);
    return ds;
}

/* ---- 1. one datastore, one crawl at a time, whatever the path ------------------------------ */

Test(lock, a_crawl_through_another_path_to_the_store_is_locked_out)
{
    fixture f = setup("twopaths", true);
    char *started = itest_strf("%s/started", f.dir), *rel = itest_strf("%s/release", f.dir);
    itest_write_file(rel, "");
    itest_result first = MC(&f, "crawl");
    cr_assert_eq(first.status, 0, "%s", first.err);
    unlink(rel);
    unlink(started);

    char *sym = itest_strf("%s/via-symlink.db", f.dir);
    char *hard = itest_strf("%s/via-hardlink.db", f.dir);
    cr_assert_eq(symlink(f.store, sym), 0);
    cr_assert_eq(link(f.store, hard), 0);
    PGconn *c = itest_connect(f.db);
    itest_sql(c, "CREATE TABLE public.refunds (id int)");

    char *log = itest_strf("%s/a.log", f.dir);
    const char *args[] = {"-c", f.cfg, "crawl", NULL};
    pid_t a = itest_spawn(args, env(), log);
    wait_for_file(started); /* crawl A holds its lock and waits for its password */
    const char *paths[] = {sym, hard};
    for (int i = 0; i < 2; i++) {
        itest_result b = MC(&f, "--store", paths[i], "crawl", "--json");
        cr_assert_eq(b.status, 0, "%s: %s", paths[i], b.err);
        json_t *r = ds_report(b.out);
        cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "locked",
                         "a crawl through %s ran beside the one through %s: %s", paths[i],
                         f.store, b.out);
        itest_result t = MC(&f, "--store", paths[i], "crawl");
        cr_assert(strstr(t.out, "locked by another crawl"), "%s", t.out);
    }
    itest_write_file(rel, "");
    cr_assert_eq(itest_wait(a), 0, "%s", itest_read_file(log));

    /* refunds was added once; the next crawl removes nothing */
    itest_result n = MC(&f, "crawl", "--json");
    cr_assert_eq(n.status, 0, "%s", n.err);
    cr_assert_eq(json_array_size(json_object_get(ds_report(n.out), "changes")), 0, "%s", n.out);
    char *added = itest_sqlite_value(f.store, "SELECT count(*) FROM changes WHERE kind = "
                                              "'container_added' AND container_name = 'refunds'");
    cr_assert_str_eq(added, "1");
    PQfinish(c);
}

/* ---- 2. docs --out never eats a directory of the user's ------------------------------------ */

Test(docs, a_directory_of_the_users_is_refused_unless_forced)
{
    fixture f = setup("docsout", false);
    itest_result cr = MC(&f, "crawl");
    cr_assert_eq(cr.status, 0, "%s", cr.err);
    char *mine = itest_strf("%s/mine", f.dir);
    cr_assert_eq(mkdir(mine, 0700), 0);
    char *cat = itest_strf("%s/catalog", mine);
    cr_assert_eq(mkdir(cat, 0700), 0);
    char *p1 = itest_strf("%s/index.html", mine), *p2 = itest_strf("%s/notes.txt", cat);
    itest_write_file(p1, "my own index\n");
    itest_write_file(p2, "my notes\n");

    itest_result r = MC(&f, "docs", "--out", mine);
    cr_assert_eq(r.status, 2, "docs into a directory of the user's exited %d: %s", r.status,
                 r.err);
    cr_assert(strstr(r.err, "not empty") && strstr(r.err, "--force"), "%s", r.err);
    cr_assert_str_eq(itest_read_file(p1), "my own index\n");
    cr_assert_str_eq(itest_read_file(p2), "my notes\n");

    /* an empty directory and a new one are fine, and so is a rebuild */
    char *empty = itest_strf("%s/empty", f.dir);
    cr_assert_eq(mkdir(empty, 0700), 0);
    char *fresh = itest_strf("%s/new/site", f.dir);
    const char *outs[] = {empty, fresh, empty};
    for (int i = 0; i < 3; i++) {
        itest_result ok = MC(&f, "docs", "--out", outs[i]);
        cr_assert_eq(ok.status, 0, "%s: %s", outs[i], ok.err);
    }
    /* --force builds into the user's directory */
    itest_result forced = MC(&f, "docs", "--out", mine, "--force");
    cr_assert_eq(forced.status, 0, "%s", forced.err);
    cr_assert(strstr(itest_read_file(p1), "<html"), "not the site's index");
}

/* ---- 3. names that would drive or fool a terminal ------------------------------------------- */

/* The first byte sequence of text a terminal must not get raw: a C0 control
 * other than newline, DEL, a byte that is not UTF-8, a C1 control, a bidi
 * mark or override, an invisible character.  NULL when there is none. */
static const char *raw_unsafe(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        uint32_t cp;
        size_t n;
        unsigned char c = *p;
        if (c < 0x80) {
            cp = c, n = 1;
        } else if ((c & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
            cp = (uint32_t)(c & 0x1f) << 6 | (p[1] & 0x3f), n = 2;
        } else if ((c & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
            cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f), n = 3;
        } else if ((c & 0xf8) == 0xf0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
                   (p[3] & 0xc0) == 0x80) {
            cp = 0x10000, n = 4;
        } else {
            return (const char *)p;
        }
        bool bad = (cp < 0x20 && cp != '\n') || (cp >= 0x7f && cp <= 0x9f) || cp == 0xad ||
                   cp == 0x61c || cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) ||
                   (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) ||
                   cp == 0xfeff;
        if (bad)
            return (const char *)p;
        p += n;
    }
    return NULL;
}

static void assert_terminal_safe(const char *what, const itest_result *r)
{
    const char *o = raw_unsafe(r->out), *e = raw_unsafe(r->err);
    cr_assert_null(o, "%s: stdout carries a raw terminal-unsafe character at offset %td: %s",
                   what, o - r->out, r->out);
    cr_assert_null(e, "%s: stderr carries a raw terminal-unsafe character at offset %td: %s",
                   what, e - r->err, r->err);
}

Test(terminal, c1_bidi_and_zero_width_names_are_escaped_by_every_command)
{
    fixture f = setup("spoof", false);
    itest_result base = MC(&f, "crawl");
    cr_assert_eq(base.status, 0, "%s", base.err);
    PGconn *c = itest_connect(f.db);
    /* U+009B (8-bit CSI), U+202E (right-to-left override), U+200B (zero
     * width space), U+2066 (left-to-right isolate), U+FEFF, U+0085 (NEL) */
    itest_sql(c, "CREATE SCHEMA U&\"sales\\202Etxt.exe\"");
    itest_sql(c, "CREATE TABLE U&\"sales\\202Etxt.exe\".U&\"evil\\009B31mred\" "
                 "(U&\"id\\200B\" int PRIMARY KEY, U&\"amount\\2066x\" U&\"numeric\"(10,2),"
                 " U&\"a\\0085b\" text)");
    itest_sql(c, "COMMENT ON TABLE U&\"sales\\202Etxt.exe\".U&\"evil\\009B31mred\" IS "
                 "U&'hidden\\FEFF comment \\202E gnp.exe'");
    itest_sql(c, "COMMENT ON COLUMN public.orders.amount IS U&'spoof \\009B2J cleared'");
    itest_sql(c, "ALTER TABLE public.orders ADD COLUMN U&\"\\202Edi\" int");

    itest_result cr = MC(&f, "crawl");
    cr_assert_eq(cr.status, 0, "%s", cr.err);
    assert_terminal_safe("crawl", &cr);
    cr_assert(strstr(cr.out, "\\u202e"), "the override is not shown escaped: %s", cr.out);
    cr_assert(strstr(cr.out, "\\u009b"), "%s", cr.out);

    const char *const cmds[][5] = {
        {"diff", NULL},
        {"history", NULL},
        {"show", "test", NULL},
        {"show", "test.\"sales\xe2\x80\xaetxt.exe\"", NULL},
        {"show", "test.\"sales\xe2\x80\xaetxt.exe\".\"evil\xc2\x9b" "31mred\"", NULL},
        {"show", "test.public.orders", NULL},
        {"search", "e", NULL},
        {"search", "spoof", NULL},
        {"check", NULL},
        {"grants", "test", NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *argv[8] = {"-c", f.cfg};
        size_t n = 2;
        for (size_t k = 0; cmds[i][k]; k++)
            argv[n++] = cmds[i][k];
        argv[n] = NULL;
        itest_result r = itest_run(argv, env(), NULL);
        char *what = itest_strf("%s %s", cmds[i][0], cmds[i][1] ? cmds[i][1] : "");
        cr_assert(r.status == 0 || r.status == 7, "%s exited %d: %s%s", what, r.status, r.out,
                  r.err);
        assert_terminal_safe(what, &r);
    }

    /* show keeps its columns aligned when a name is escaped: TYPE starts
     * in the same column on every line */
    itest_result s = MC(&f, "show", "test.\"sales\xe2\x80\xaetxt.exe\".\"evil\xc2\x9b" "31mred\"");
    cr_assert_eq(s.status, 0, "%s", s.err);
    const char *hdr = strstr(s.out, "COLUMN");
    cr_assert_not_null(hdr, "%s", s.out);
    const char *line_start = hdr;
    while (line_start > s.out && line_start[-1] != '\n')
        line_start--;
    long type_col = strstr(line_start, "TYPE") - line_start;
    const char *types[] = {"integer", "numeric(10,2)", "text"};
    for (int i = 0; i < 3; i++) {
        const char *t = strstr(hdr, types[i]);
        cr_assert_not_null(t, "%s", s.out);
        const char *ls = t;
        while (ls[-1] != '\n')
            ls--;
        cr_assert_eq(t - ls, type_col, "column %s is not aligned:\n%s", types[i], s.out);
    }
    PQfinish(c);
}
