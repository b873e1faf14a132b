/*
 * test_hostile.c — the holes a hostile test found (issue 13), at the library
 * level: the crawl lock holds across every path to one store, a commit
 * refuses a baseline that another run has overtaken, and the terminal
 * filter escapes what could drive a terminal.  The command-level side is in
 * tests/integration/test_hostile.c.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diff.h"
#include "lock.h"
#include "store.h"

static char *tmpdir(void)
{
    char *d = strdup("/tmp/mc_hostile_XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static store *open_store(const char *path)
{
    store *s = NULL;
    mc_error err = {0};
    cr_assert_eq(store_open(path, &s, &err), 0, "%s", err.message);
    return s;
}

/* ---- point 1: the lock is on the store file, not on its path ---------------------- */

/* Releasing a crawl lock must not release SQLite's own locks on the store:
 * closing any descriptor of a file drops every POSIX record lock the process
 * holds on it (sqlite.org/howtocorrupt.html, 2.2). Here this process holds
 * SQLite's write lock while a crawl lock is taken and released; another
 * process must still find the store locked. */
Test(lock, releasing_a_crawl_lock_keeps_sqlites_locks)
{
    char *dir = tmpdir();
    char *path = path_in(dir, "catalog.db");
    store_close(open_store(path));
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    /* A WAL connection holds a shared lock on the database file while it is
     * open (it tells the last connection to close, which checkpoints and
     * removes the WAL), and BEGIN IMMEDIATE the WAL's write lock. */
    cr_assert_eq(sqlite3_exec(db, "BEGIN IMMEDIATE; SELECT count(*) FROM sqlite_master",
                              NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < 2; i++) {   /* the second time through a known descriptor */
        crawl_lock *l = NULL;
        crawl_lock_holder h;
        mc_error err = {0};
        cr_assert_eq(crawl_lock_try(path, "ds1", "crawl", &l, &h, &err), 0, "%s", err.message);
        cr_assert_not_null(l);
        crawl_lock_release(l);
    }
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        /* does this process see any lock of the parent's on the file? */
        int fd = open(path, O_RDONLY);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (fd < 0 || fcntl(fd, F_GETLK, &fl) != 0)
            _exit(2);
        _exit(fl.l_type != F_UNLCK && fl.l_pid == getppid() ? 0 : 1);
    }
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), 0,
                 "SQLite's locks on the store file were gone after a crawl lock was released");
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
}

Test(lock, every_path_to_one_store_shares_its_lock)
{
    char *dir = tmpdir();
    char *real = path_in(dir, "catalog.db");
    char *sym = path_in(dir, "via-symlink.db");
    char *hard = path_in(dir, "via-hardlink.db");
    store_close(open_store(real)); /* every caller creates the store before locking */
    cr_assert_eq(symlink("catalog.db", sym), 0);
    cr_assert_eq(link(real, hard), 0);
    char cwd[4096];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));

    mc_error err = {0};
    crawl_lock *a = NULL, *b = NULL;
    crawl_lock_holder h;
    cr_assert_eq(crawl_lock_try(real, "ds1", "crawl", &a, &h, &err), 0, "%s", err.message);
    cr_assert_not_null(a);
    const char *others[] = {sym, hard, "catalog.db"};
    for (size_t i = 0; i < 3; i++) {
        if (i == 2)
            cr_assert_eq(chdir(dir), 0); /* a relative path from another directory */
        cr_assert_eq(crawl_lock_try(others[i], "ds1", "crawl", &b, &h, &err), 0,
                     "%s: %s", others[i], err.message);
        cr_assert_null(b, "%s took the lock that %s holds", others[i], real);
        cr_assert(h.other_path || h.pid == (long)getpid(), "%s", others[i]);
        char who[192];
        crawl_lock_describe(&h, who, sizeof who);
        cr_assert(strlen(who) > 0);
        /* another datastore of the same store is independent */
        cr_assert_eq(crawl_lock_try(others[i], "ds2", "crawl", &b, &h, &err), 0);
        cr_assert_not_null(b, "%s: ds2 is not locked", others[i]);
        crawl_lock_release(b);
        b = NULL;
    }
    cr_assert_eq(chdir(cwd), 0);
    crawl_lock_release(a);
    /* released: any path takes it */
    cr_assert_eq(crawl_lock_try(hard, "ds1", "crawl", &b, &h, &err), 0);
    cr_assert_not_null(b);
    crawl_lock_release(b);

    /* SQLite keeps working on a store whose file carries identity locks */
    cr_assert_eq(crawl_lock_try(real, "ds1", "crawl", &a, &h, &err), 0);
    store *s = open_store(sym);
    int64_t run = 0;
    cr_assert_eq(store_run_begin(s, "ds1", 0, &run, &err), 0, "%s", err.message);
    store_close(s);
    crawl_lock_release(a);
    free(real);
    free(sym);
    free(hard);
    free(dir);
}

/* ---- point 1: the commit refuses an overtaken baseline ------------------------------- */

static mc_catalog *one_table(const char *name)
{
    mc_catalog *c = mc_catalog_new();
    mc_schema *s = mc_catalog_add_schema(c);
    s->name = "public";
    s->usable = true;
    mc_container *k = mc_catalog_add_container(c);
    k->schema = "public";
    k->name = mc_arena_strdup(c->arena, name);
    k->oid = 1000;
    k->first_field = 0;
    k->n_fields = 1;
    mc_field *f = mc_catalog_add_field(c);
    f->name = "id";
    f->type = "integer";
    f->position = 1;
    f->attnum = 1;
    mc_catalog_finish(c);
    return c;
}

/* diff prev -> cur and commit it as run; returns store_commit_run's result. */
static int commit(store *s, int64_t run, mc_catalog *prev, const mc_catalog *cur,
                  mc_error *err)
{
    diff_result dr = {0};
    bool baseline = prev->n_containers == 0 && prev->n_schemas == 0;
    diff_opts o = {.allow_removals = true, .max_removed_pct = 100, .baseline = baseline};
    cr_assert_eq(diff_catalogs(s, prev, cur, &o, &dr, err), 0, "%s", err->message);
    mc_run_summary sum = {.status = MC_RUN_OK, .baseline = baseline};
    int rc = store_commit_run(s, run, prev, cur, &dr.changes, dr.cur_to_prev, dr.hold_back,
                              dr.n_hold_back, &sum, err);
    diff_result_free(&dr);
    return rc;
}

static int64_t count(const char *path, const char *what)
{
    store *s = open_store(path);
    mc_run_list l = {0};
    mc_error err = {0};
    cr_assert_eq(store_list_runs(s, "ds", 0, &l, &err), 0);
    int64_t n = 0;
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(what, "runs") == 0 || strcmp(mc_run_status_name(l.runs[i].status), what) == 0)
            n++;
    mc_run_list_free(&l);
    store_close(s);
    return n;
}

Test(commit, refuses_when_another_run_was_recorded_since_the_baseline_was_read)
{
    char *dir = tmpdir();
    char *path = path_in(dir, "catalog.db");
    mc_error err = {0};
    store *s1 = open_store(path), *s2 = open_store(path);
    mc_catalog *cur = one_table("orders");
    /* run 1 records the first catalog */
    int64_t r1 = 0, r2 = 0, r3 = 0;
    mc_catalog *p1 = NULL, *p2 = NULL;
    cr_assert_eq(store_run_begin(s1, "ds", 0, &r1, &err), 0);
    cr_assert_eq(store_load_current(s1, "ds", &p1, &err), 0);
    cr_assert_eq(commit(s1, r1, p1, cur, &err), 0, "%s", err.message);
    mc_catalog_free(p1);

    /* runs 2 and 3 read the same baseline; a new table appears for both */
    mc_catalog *cur2 = mc_catalog_new();
    {
        mc_schema *sc = mc_catalog_add_schema(cur2);
        sc->name = "public";
        sc->usable = true;
        const char *names[] = {"orders", "refunds"};
        for (int i = 0; i < 2; i++) {
            mc_container *k = mc_catalog_add_container(cur2);
            k->schema = "public";
            k->name = names[i];
            k->oid = 1000 + i;
            k->first_field = cur2->n_fields;
            k->n_fields = 1;
            mc_field *f = mc_catalog_add_field(cur2);
            f->name = "id";
            f->type = "integer";
            f->position = 1;
            f->attnum = 1;
        }
        mc_catalog_finish(cur2);
    }
    cr_assert_eq(store_run_begin(s1, "ds", 0, &r2, &err), 0);
    cr_assert_eq(store_run_begin(s2, "ds", 0, &r3, &err), 0);
    cr_assert_eq(store_load_current(s1, "ds", &p1, &err), 0);
    cr_assert_eq(store_load_current(s2, "ds", &p2, &err), 0);
    cr_assert_eq(commit(s1, r2, p1, cur2, &err), 0, "%s", err.message);
    /* run 3's baseline is no longer current: it must record nothing */
    int rc = commit(s2, r3, p2, cur2, &err);
    cr_assert_eq(rc, -1, "the second commit on an overtaken baseline was accepted");
    cr_assert_eq(err.code, MC_EXIT_STORE);
    cr_assert(strstr(err.message, "recorded by another crawl"), "%s", err.message);
    char r2s[32];
    snprintf(r2s, sizeof r2s, "run %lld", (long long)r2);
    cr_assert(strstr(err.message, r2s), "%s", err.message);
    cr_assert(strstr(err.hint, "nothing of this run was written"), "%s", err.hint);
    mc_error_clear(&err);
    cr_assert_eq(store_run_fail(s2, r3, "conflict", &err), 0);

    /* one container_added for refunds, not two; and the next crawl from
     * the real current state sees nothing removed */
    mc_changes cs = {0};
    mc_changes_init(&cs);
    cr_assert_eq(store_list_changes(s1, "ds", 0, 0, &cs, NULL, &err), 0);
    size_t added = 0;
    for (size_t i = 0; i < cs.n; i++)
        if (cs.items[i].kind == MC_CONTAINER_ADDED)
            added++;
    cr_assert_eq(added, 1);
    mc_changes_free(&cs);
    mc_catalog_free(p1);
    mc_catalog_free(p2);
    int64_t r4 = 0;
    cr_assert_eq(store_run_begin(s2, "ds", 0, &r4, &err), 0);
    cr_assert_eq(store_load_current(s2, "ds", &p2, &err), 0);
    cr_assert_eq(p2->n_containers, 2);
    cr_assert_eq(commit(s2, r4, p2, cur2, &err), 0, "%s", err.message);
    mc_catalog_free(p2);
    store_close(s1);
    store_close(s2);
    cr_assert_eq(count(path, "ok"), 3);
    cr_assert_eq(count(path, "failed"), 1);
    mc_catalog_free(cur);
    mc_catalog_free(cur2);
    free(path);
    free(dir);
}

/* ---- point 3: what reaches the terminal ----------------------------------------------- */

#include "commands.h"

static char *escaped(const char *s, size_t *cols)
{
    mc_buf b = {0};
    size_t n = mc_term_escape(&b, s);
    if (cols)
        *cols = n;
    return mc_buf_steal(&b);
}

static void utf8(uint32_t cp, char out[5])
{
    memset(out, 0, 5);
    if (cp < 0x80) {
        out[0] = (char)cp;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
    }
}

Test(terminal, c1_bidi_and_invisible_characters_are_escaped)
{
    static const uint32_t bad[] = {0x061c, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x2028,
                                   0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2060,
                                   0x2061, 0x2062, 0x2063, 0x2064, 0x2066, 0x2067, 0x2068,
                                   0x2069, 0xfeff, 0x00ad, 0x180e};
    for (uint32_t cp = 0x80; cp <= 0x9f + sizeof bad / sizeof bad[0]; cp++) {
        uint32_t c = cp <= 0x9f ? cp : bad[cp - 0xa0];
        char ch[5], in[32], want[32];
        utf8(c, ch);
        snprintf(in, sizeof in, "a%sb", ch);
        snprintf(want, sizeof want, "a\\u%04xb", (unsigned)c);
        size_t cols = 0;
        char *got = escaped(in, &cols);
        cr_assert_str_eq(got, want, "U+%04X", (unsigned)c);
        cr_assert_eq(cols, strlen(want));
        free(got);
    }
    /* C0, DEL, and bytes that are not UTF-8 (a lone 0x9b is an 8-bit CSI) */
    char *got = escaped("\x1b]0;x\x07\x7f|\x9b" "31m|\xc3", NULL);
    cr_assert_str_eq(got, "\\x1b]0;x\\x07\\x7f|\\x9b31m|\\xc3");
    free(got);
    /* letters of every script stay as they are, one column per character */
    size_t cols = 0;
    got = escaped("grüße_日本_عربي", &cols);
    cr_assert_str_eq(got, "grüße_日本_عربي");
    cr_assert_eq(cols, 13);
    free(got);
}

Test(terminal, escaped_names_keep_columns_aligned)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    report_put_safe_pad(f, "plain", 12);
    fputs("|\n", f);
    report_put_safe_pad(f, "r\xe2\x80\xae" "tl", 12);
    fputs("|\n", f);
    report_put_safe_pad(f, "über", 12);
    fputs("|\n", f);
    fclose(f);
    cr_assert_str_eq(text, "plain       |\nr\\u202etl   |\nüber        |\n");
    free(text);
}

/* ---- point 6: no core dump while a secret is held ---------------------------------------- */

#include <sys/prctl.h>
#include <sys/resource.h>

Test(secrets, holding_a_secret_disables_core_dumps)
{
    struct rlimit rl;
    cr_assert_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1, "the test process starts dumpable");
    mc_secret s = {0};
    mc_secret_set(&s, "hunter2", 7);
    cr_assert_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    cr_assert_eq(getrlimit(RLIMIT_CORE, &rl), 0);
    cr_assert_eq(rl.rlim_cur, 0);
    cr_assert_eq(rl.rlim_max, 0);
    mc_secret_wipe(&s);
}
