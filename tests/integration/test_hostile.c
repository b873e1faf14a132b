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

/* ---- 4. readers never create or change a store ------------------------------------------------ */

/* Every reading command, with --store PATH and no configuration. */
static const char *const readers[][6] = {
    {"history", NULL},
    {"history", "test", NULL},
    {"show", "test", NULL},
    {"show", "test.public.orders", NULL},
    {"search", "orders", NULL},
    {"diff", "test", NULL},
    {"docs", "--out", "@SITE@", NULL},
    {"alerts", "status", NULL},
};
#define N_READERS (sizeof readers / sizeof readers[0])

/* ro_dir: run it where ro_dir is mounted read-only (root ignores file
 * modes, so a private mount namespace with a read-only bind mount). */
static itest_result run_reader_in(const char *store, size_t i, const char *site, bool json,
                                  const char *ro_dir)
{
    const char *argv[20];
    size_t n = 0;
    if (ro_dir) {
        argv[n++] = "-m";
        argv[n++] = "sh";
        argv[n++] = "-c";
        argv[n++] = "mount --bind -o ro \"$0\" \"$0\" && exec \"$@\"";
        argv[n++] = ro_dir;
        argv[n++] = itest_env("MC_BINARY");
    }
    argv[n++] = "--store";
    argv[n++] = store;
    for (size_t k = 0; readers[i][k]; k++)
        argv[n++] = strcmp(readers[i][k], "@SITE@") == 0 ? site : readers[i][k];
    if (json)
        argv[n++] = "--json";
    argv[n] = NULL;
    return ro_dir ? itest_run_program("/usr/bin/unshare", argv, NULL, NULL)
                  : itest_run(argv, NULL, NULL);
}

static itest_result run_reader(const char *store, size_t i, const char *site, bool json)
{
    return run_reader_in(store, i, site, json, NULL);
}

Test(store, a_missing_store_is_exit_6_and_is_not_created)
{
    char *dir = itest_tmpdir();
    char *store = itest_strf("%s/nosuch.db", dir);
    char *site = itest_strf("%s/site", dir);
    for (size_t i = 0; i < N_READERS; i++) {
        itest_result r = run_reader(store, i, site, false);
        cr_assert_eq(r.status, 6, "%s on a missing store exited %d: %s%s", readers[i][0],
                     r.status, r.out, r.err);
        cr_assert(strstr(r.err, store), "%s does not name the path: %s", readers[i][0], r.err);
        cr_assert_neq(access(store, F_OK), 0, "%s created the store", readers[i][0]);
        itest_result j = run_reader(store, i, site, true);
        cr_assert_eq(j.status, 6);
        json_t *doc = itest_parse_json(j.out);
        json_t *e = json_object_get(doc, "error");
        cr_assert(json_is_object(e), "%s --json: no error document: %s", readers[i][0], j.out);
        cr_assert_eq(json_integer_value(json_object_get(e, "code")), 6);
        cr_assert(strstr(json_string_value(json_object_get(e, "message")), store), "%s", j.out);
    }
    cr_assert_neq(access(site, F_OK), 0, "docs created its directory for nothing");
}

Test(store, readers_read_a_store_in_a_read_only_directory)
{
    const char *ro = NULL;
    if (geteuid() == 0) {
        itest_result probe = itest_run_program(
            "/usr/bin/unshare", (const char *const[]){"-m", "true", NULL}, NULL, NULL);
        if (probe.status != 0)
            cr_skip_test("root ignores file modes and cannot make a private mount here: %s",
                         probe.err);
    }
    fixture f = setup("rostore", false);
    if (geteuid() == 0)
        ro = f.dir;
    itest_result a = MC(&f, "crawl");
    cr_assert_eq(a.status, 0, "%s", a.err);
    PGconn *c = itest_connect(f.db);
    itest_sql(c, "ALTER TABLE public.orders ADD COLUMN note text");
    itest_result b = MC(&f, "crawl");
    cr_assert_eq(b.status, 0, "%s", b.err);
    PQfinish(c);
    char *site = itest_strf("%s/site-%d", itest_tmpdir(), (int)getpid());
    cr_assert_eq(chmod(f.dir, 0500), 0);
    for (size_t i = 0; i < N_READERS; i++) {
        itest_result r = run_reader_in(f.store, i, site, false, ro);
        cr_assert_eq(r.status, 0, "%s on a read-only directory exited %d: %s", readers[i][0],
                     r.status, r.err);
    }
    itest_result h = run_reader_in(f.store, 0, site, true, ro);
    cr_assert_eq(json_array_size(json_object_get(itest_parse_json(h.out), "runs")), 2,
                 "%s", h.out);
    cr_assert_eq(chmod(f.dir, 0700), 0);
}

Test(store, a_cut_off_or_foreign_store_is_exit_6_for_every_command)
{
    fixture f = setup("damaged", false);
    itest_result a = MC(&f, "crawl");
    cr_assert_eq(a.status, 0, "%s", a.err);
    /* enough pages that the cut leaves the first ones readable */
    PGconn *c = itest_connect(f.db);
    itest_sql(c, "DO $$ BEGIN FOR i IN 1..200 LOOP EXECUTE format("
                 "'CREATE TABLE public.t%%s (a int, b text, c int, d text)', i); END LOOP; END $$;");
    PQfinish(c);
    itest_result b = MC(&f, "crawl");
    cr_assert_eq(b.status, 0, "%s", b.err);
    struct stat sb;
    cr_assert_eq(stat(f.store, &sb), 0);
    cr_assert_eq(truncate(f.store, sb.st_size / 2), 0);
    char *site = itest_strf("%s/site", f.dir);
    for (size_t i = 0; i < N_READERS; i++) {
        itest_result r = run_reader(f.store, i, site, false);
        cr_assert_eq(r.status, 6, "%s on a cut-off store exited %d: %s%s", readers[i][0],
                     r.status, r.out, r.err);
        cr_assert(strstr(r.err, "damaged"), "%s", r.err);
    }
    itest_result cr = MC(&f, "crawl");
    cr_assert_eq(cr.status, 6, "crawl on a cut-off store exited %d: %s", cr.status, cr.err);

    /* not SQLite at all */
    itest_write_file(f.store, "these are my notes, not a catalog\n");
    for (size_t i = 0; i < N_READERS; i++) {
        itest_result r = run_reader(f.store, i, site, false);
        cr_assert_eq(r.status, 6, "%s on a text file exited %d: %s", readers[i][0], r.status,
                     r.err);
    }
    cr_assert_str_eq(itest_read_file(f.store), "these are my notes, not a catalog\n");
}

/* ---- 5. exit codes and messages ----------------------------------------------------------------- */

Test(exit_codes, unknown_datastores_and_bad_numbers_are_usage_errors)
{
    fixture f = setup("codes", false);
    itest_result a = MC(&f, "crawl");
    cr_assert_eq(a.status, 0, "%s", a.err);
    const char *const unknown[][4] = {
        {"show", "nosuch", NULL},
        {"show", "nosuch.public.orders", NULL},
        {"history", "nosuch", NULL},
        {"diff", "nosuch", NULL},
        {"crawl", "nosuch", NULL},
        {"grants", "nosuch", NULL},
        {"check", "nosuch", NULL},
        {"docs", "--out", "@SITE@", "nosuch"},
    };
    char *site = itest_strf("%s/site", f.dir);
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *argv[10] = {"-c", f.cfg};
        size_t n = 2;
        for (size_t k = 0; k < 4 && unknown[i][k]; k++)
            argv[n++] = strcmp(unknown[i][k], "@SITE@") == 0 ? site : unknown[i][k];
        argv[n] = NULL;
        itest_result r = itest_run(argv, env(), NULL);
        cr_assert_eq(r.status, 2, "%s %s exited %d: %s%s", unknown[i][0], unknown[i][1],
                     r.status, r.out, r.err);
        cr_assert(strstr(r.err, "nosuch"), "%s: %s", unknown[i][0], r.err);
        cr_assert_null(strstr(r.err, "two completed runs"), "%s", r.err);
        argv[n++] = "--json";
        argv[n] = NULL;
        itest_result j = itest_run(argv, env(), NULL);
        cr_assert_eq(j.status, 2);
        json_t *doc = itest_parse_json(j.out);
        json_t *e = json_object_get(doc, "error");
        if (!json_is_object(e)) /* commands with a report of their own */
            e = json_object_get(json_array_get(json_object_get(doc, "datastores"), 0), "error");
        cr_assert(json_is_object(e), "%s --json: no error in %s", unknown[i][0], j.out);
        cr_assert(strstr(json_string_value(json_object_get(e, "message")), "nosuch"),
                  "%s --json: the error does not name the datastore: %s", unknown[i][0], j.out);
    }
    const char *const numbers[] = {"x", "1x", "0", "-5", ""};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        itest_result r = MC(&f, "search", "orders", "--limit", numbers[i]);
        cr_assert_eq(r.status, 2, "search --limit '%s' exited %d: %s", numbers[i], r.status,
                     r.out);
        cr_assert(strstr(r.err, "--limit"), "%s", r.err);
        if (strcmp(numbers[i], "0") != 0) { /* history --limit 0 means all */
            itest_result h = MC(&f, "history", "--limit", numbers[i]);
            cr_assert_eq(h.status, 2, "history --limit '%s' exited %d: %s", numbers[i],
                         h.status, h.out);
        }
    }
    itest_result all = MC(&f, "history", "--limit", "0");
    cr_assert_eq(all.status, 0, "%s", all.err);
    /* usage errors before any command, and --version, are JSON too */
    itest_result u = MC(NULL, "--json", "nosuchcommand");
    cr_assert_eq(u.status, 2);
    cr_assert(json_is_object(json_object_get(itest_parse_json(u.out), "error")), "%s", u.out);
    itest_result v = MC(NULL, "--version", "--json");
    cr_assert_eq(v.status, 0);
    json_t *vj = itest_parse_json(v.out);
    cr_assert(json_string_value(json_object_get(vj, "version")), "%s", v.out);
    cr_assert(json_string_value(json_object_get(vj, "sqlite")), "%s", v.out);
}

Test(exit_codes, a_dry_run_first_crawl_does_not_say_recorded)
{
    fixture f = setup("dryrun", false);
    itest_result r = MC(&f, "crawl", "--dry-run");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_null(strstr(r.out, "catalog recorded"), "%s", r.out);
    cr_assert(strstr(r.out, "nothing recorded"), "%s", r.out);
    cr_assert_neq(access(f.store, F_OK), 0, "a dry run created the store");
}

/* Every line of stderr is metacrawl's own: "metacrawl: LEVEL: ..." or its
 * "  hint: ..." line; never libpq's raw text. */
static void assert_own_format(const char *err)
{
    for (const char *l = err; *l;) {
        size_t n = strcspn(l, "\n");
        cr_assert(strncmp(l, "metacrawl: ", 11) == 0 || strncmp(l, "  hint: ", 8) == 0,
                  "a line not in metacrawl's format: '%.*s'\nin:\n%s", (int)n, l, err);
        l += n + (l[n] == '\n');
    }
}

Test(exit_codes, a_statement_timeout_names_statement_timeout_and_vv)
{
    fixture f = setup("stmtto", false);
    char *cfg2 = itest_write_config(f.dir, f.db, itest_env("MC_TEST_PGUSER"),
                                    itest_env("MC_TEST_PGPASSWORD"),
                                    "    statement_timeout: 1s\n");
    PGconn *holder = itest_connect(f.db);
    /* a catalog table that discovery reads, locked as a long ALTER would */
    itest_sql(holder, "BEGIN");
    itest_sql(holder, "LOCK TABLE pg_catalog.pg_description IN ACCESS EXCLUSIVE MODE");
    const char *argv[] = {"-c", cfg2, "crawl", NULL};
    itest_result r = itest_run(argv, env(), NULL);
    itest_sql(holder, "ROLLBACK");
    PQfinish(holder);
    cr_assert_eq(r.status, 4, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "statement_timeout"), "%s", r.err);
    cr_assert(strstr(r.err, "-vv"), "%s", r.err);
    cr_assert_null(strstr(r.err, "security group"), "%s", r.err);
    assert_own_format(r.err);
}

Test(exit_codes, a_server_that_dies_mid_crawl_is_reported_in_our_format)
{
    fixture f = setup("dies", false);
    PGconn *holder = itest_connect(f.db);
    itest_sql(holder, "BEGIN");
    itest_sql(holder, "LOCK TABLE pg_catalog.pg_description IN ACCESS EXCLUSIVE MODE");
    char *log = itest_strf("%s/crawl.log", f.dir);
    const char *argv[] = {"-c", f.cfg, "crawl", NULL};
    pid_t pid = itest_spawn(argv, env(), log);
    PGconn *c = itest_connect(f.db);
    char *waiting = NULL;
    for (int i = 0; i < 6000; i++) { /* the crawl's catalog query waits for the lock */
        waiting = itest_sql_value(c, "SELECT count(*) FROM pg_stat_activity WHERE "
                                     "application_name = 'metacrawl' AND datname = "
                                     "current_database() AND wait_event_type = 'Lock'");
        if (strcmp(waiting, "1") == 0)
            break;
        usleep(10000);
    }
    cr_assert_str_eq(waiting, "1", "the crawl never waited for the lock");
    itest_sql_value(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE application_name = 'metacrawl' AND datname = "
                       "current_database()");
    int status = itest_wait(pid);
    itest_sql(holder, "ROLLBACK");
    PQfinish(holder);
    PQfinish(c);
    char *err = itest_read_file(log);
    cr_assert_eq(status, 4, "exit %d: %s", status, err);
    /* the log file has stdout too: keep the stderr lines */
    char *only = itest_strf("%s", "");
    for (const char *l = err; *l;) {
        size_t n = strcspn(l, "\n");
        if (strncmp(l, "test: failed", 12) != 0)
            only = itest_strf("%s%.*s\n", only, (int)n, l);
        l += n + (l[n] == '\n');
    }
    assert_own_format(only);
    cr_assert(strstr(only, "terminating connection"), "%s", only);
}

Test(exit_codes, a_login_stuck_behind_a_catalog_lock_is_not_blamed_on_the_network)
{
    fixture f = setup("stuck", false);
    char *cfg2 = itest_write_config(f.dir, f.db, itest_env("MC_TEST_PGUSER"),
                                    itest_env("MC_TEST_PGPASSWORD"),
                                    "    connect_timeout: 2s\n");
    PGconn *holder = itest_connect(f.db);
    itest_sql(holder, "BEGIN");
    /* a new session reads pg_database after the login: it waits */
    itest_sql(holder, "LOCK TABLE pg_catalog.pg_database IN ACCESS EXCLUSIVE MODE");
    const char *argv[] = {"-c", cfg2, "crawl", NULL};
    itest_result r = itest_run(argv, env(), NULL);
    itest_sql(holder, "ROLLBACK");
    PQfinish(holder);
    cr_assert_eq(r.status, 4, "exit %d: %s", r.status, r.err);
    cr_assert_null(strstr(r.err, "security group"), "blamed on the network: %s", r.err);
    cr_assert(strstr(r.err, "lock"), "%s", r.err);
    assert_own_format(r.err);
}

/* ---- 7. a command is done when it exits ----------------------------------------------------------- */

Test(processes, commands_that_leave_a_background_child_are_done_when_they_exit)
{
    fixture f = setup("bgchild", false);
    char *alerts_log = itest_strf("%s/alert.out", f.dir);
    /* the background sleeps keep the pipes metacrawl reads open for 45 s,
     * longer than the 30 s a password_command may take */
    char *extra = itest_strf(
        "    password_command: [sh, -c, 'sleep 45 2>/dev/null & printf %%s "
        "\"$MC_TEST_DS_PASSWORD\"']\n"
        "alerts:\n"
        "  - name: cmd\n"
        "    command: [sh, -c, 'cat > %s; sleep 45 >/dev/null &']\n", alerts_log);
    char *cfg = itest_write_config(f.dir, f.db, itest_env("MC_TEST_PGUSER"), NULL, extra);
    const char *argv[] = {"-c", cfg, "crawl", "--json", NULL};
    itest_result a = itest_run(argv, env(), NULL);
    cr_assert_eq(a.status, 0, "exit %d: %s", a.status, a.err);
    PGconn *c = itest_connect(f.db);
    itest_sql(c, "CREATE TABLE public.refunds (id int)");
    PQfinish(c);
    itest_result b = itest_run(argv, env(), NULL);
    cr_assert_eq(b.status, 0, "exit %d: %s", b.status, b.err);
    json_t *al = json_array_get(json_object_get(itest_parse_json(b.out), "alerts"), 0);
    cr_assert_eq(json_integer_value(json_object_get(al, "delivered")), 1, "%s", b.out);
    cr_assert(strstr(itest_read_file(alerts_log), "refunds"));
}

/* ---- 6. no core file while the password is in memory ------------------------------------------- */

Test(secrets, a_connected_crawl_cannot_dump_core)
{
    fixture f = setup("nocore", false);
    PGconn *holder = itest_connect(f.db);
    itest_sql(holder, "BEGIN");
    itest_sql(holder, "LOCK TABLE pg_catalog.pg_description IN ACCESS EXCLUSIVE MODE");
    char *log = itest_strf("%s/crawl.log", f.dir);
    const char *argv[] = {"-c", f.cfg, "crawl", NULL};
    pid_t pid = itest_spawn(argv, env(), log);
    PGconn *c = itest_connect(f.db);
    char *backend = NULL;
    for (int i = 0; i < 6000; i++) { /* connected, waiting for the lock */
        backend = itest_sql_value(c, "SELECT count(*) FROM pg_stat_activity WHERE "
                                     "application_name = 'metacrawl' AND datname = "
                                     "current_database() AND wait_event_type = 'Lock'");
        if (strcmp(backend, "1") == 0)
            break;
        usleep(10000);
    }
    cr_assert_str_eq(backend, "1");
    char *limits = itest_read_file(itest_strf("/proc/%d/limits", (int)pid));
    const char *core = strstr(limits, "Max core file size");
    cr_assert_not_null(core, "%s", limits);
    char soft[32] = "", hard[32] = "";
    cr_assert_eq(sscanf(core + strlen("Max core file size"), "%31s %31s", soft, hard), 2);
    itest_sql(holder, "ROLLBACK");
    PQfinish(holder);
    PQfinish(c);
    cr_assert_eq(itest_wait(pid), 0, "%s", itest_read_file(log));
    cr_assert_str_eq(soft, "0", "%s", core);
    cr_assert_str_eq(hard, "0", "%s", core);
}

/* ---- 8. big outputs stay readable ------------------------------------------------------------ */

static int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

Test(output, terminal_listings_are_capped_shortened_ordered_and_counted_right)
{
    fixture f = setup("bigout", false);
    itest_result a = MC(&f, "crawl");
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert(strstr(a.out, "1 schema, 1 container, 2 fields"), "%s", a.out);
    PGconn *c = itest_connect(f.db);
    itest_sql(c, "DO $$ BEGIN FOR i IN 1..150 LOOP EXECUTE format("
                 "'CREATE TABLE public.t%%s (a int)', i); END LOOP; END $$;");
    char *long_comment = itest_strf("%0200d", 7);
    itest_sql(c, "COMMENT ON TABLE public.t1 IS '%s'", long_comment);
    /* columns changed in reverse name order: listed by position */
    itest_sql(c, "ALTER TABLE public.orders ADD COLUMN zz int, ADD COLUMN aa int");
    itest_result b = MC(&f, "crawl");
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_assert_eq(count_lines_with(b.out, "    + "), 100, "%s", b.out);
    cr_assert(strstr(b.out, "... 52 more changes not shown: --all"), "%s", b.out);
    cr_assert(strstr(b.out, "152 changes"), "%s", b.out);
    const char *zz = strstr(b.out, "column zz"), *aa = strstr(b.out, "column aa");
    cr_assert(zz && aa && zz < aa, "not in column order: %s", b.out);

    itest_result d = MC(&f, "diff");
    cr_assert_eq(d.status, 0, "%s", d.err);
    cr_assert(strstr(d.out, "52 more changes not shown"), "%s", d.out);
    itest_result all = MC(&f, "diff", "--all");
    cr_assert_eq(count_lines_with(all.out, "    + "), 152, "%s", all.out);
    itest_result j = MC(&f, "diff", "--json");
    cr_assert_eq(json_array_size(json_object_get(itest_parse_json(j.out), "changes")), 152);

    /* a long comment is shortened on the terminal, whole in JSON */
    itest_result s = MC(&f, "show", "test.public");
    cr_assert_null(strstr(s.out, long_comment), "%s", s.out);
    cr_assert(strstr(s.out, "\xe2\x80\xa6"), "%s", s.out);
    itest_result sj = MC(&f, "show", "test.public", "--json");
    cr_assert(strstr(sj.out, long_comment), "%s", sj.out);

    /* one change, one column */
    itest_sql(c, "CREATE TABLE public.single (id int)");
    itest_result one = MC(&f, "crawl");
    cr_assert(strstr(one.out, "  1 change (0 breaking)"), "%s", one.out);
    cr_assert(strstr(one.out, "(1 column)"), "%s", one.out);
    PQfinish(c);
}

/* ---- 9. progress on a terminal ------------------------------------------------------------------ */

/* A gated crawl under script(1), so stderr is a terminal; it is held
 * (password_command) until more than the one second after which progress
 * shows.  Waiting longer never changes the outcome. */
static char *crawl_on_a_tty(const fixture *f, const char *extra_flag)
{
    char *started = itest_strf("%s/started", f->dir), *rel = itest_strf("%s/release", f->dir);
    unlink(started);
    unlink(rel);
    char *cmd = itest_strf("%s -c %s crawl %s", itest_env("MC_BINARY"), f->cfg, extra_flag);
    char *log = itest_strf("%s/tty-%s.log", f->dir, extra_flag[0] ? "q" : "plain");
    const char *argv[] = {"-qec", cmd, "/dev/null", NULL};
    pid_t pid = itest_spawn_program("/usr/bin/script", argv, env(), log);
    wait_for_file(started);
    usleep(1500 * 1000);
    itest_write_file(rel, "");
    cr_assert_eq(itest_wait(pid), 0, "%s", itest_read_file(log));
    return itest_read_file(log);
}

Test(progress, a_long_crawl_shows_its_phase_on_a_terminal_and_only_there)
{
    fixture f = setup("progress", true);
    char *tty = crawl_on_a_tty(&f, "");
    cr_assert(strstr(tty, "test: reading the catalog"), "no progress on the terminal: %s", tty);
    cr_assert(strstr(tty, "comparing with the store: schemas 1, containers 1, fields 2"), "%s",
              tty);
    cr_assert(strstr(tty, "\r\033[K"), "the progress line is not cleared: %s", tty);
    char *quiet = crawl_on_a_tty(&f, "-q");
    cr_assert_null(strstr(quiet, "reading the catalog"), "progress despite -q: %s", quiet);
    /* not a terminal: no progress (stderr is a pipe here) */
    itest_write_file(itest_strf("%s/release", f.dir), "");
    itest_result r = MC(&f, "crawl");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_null(strstr(r.err, "reading the catalog"), "%s", r.err);
}
