/*
 * test_multidb.c — several databases of one server as one datastore
 * (`databases:`, docs/configuration.md "Several databases"): each database
 * crawled in its own session and recorded as its own datastore
 * "<datastore>/<database>", with its own runs, lock file, history and docs
 * pages; a database name of hostile bytes escaped wherever the name goes;
 * `crawl DS/DB` and `check`.  databases: "*" and datashares are tested on the
 * Redshift shim (test_redshift.c), whose database list a test controls.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"

#define PW "crawler-pw"

static itest_result run_mc(const char *cfg, const char *const *args)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = "-c";
    argv[n++] = cfg;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    const char *env[] = {"MC_TEST_DS_PASSWORD=" PW, NULL};
    return itest_run(argv, env, NULL);
}

/* The recorded form of a database name: bytes outside [A-Za-z0-9_-] as %XX. */
static char *recorded(const char *db)
{
    char *out = calloc(strlen(db) * 3 + 8, 1);
    strcpy(out, "test/");
    char *p = out + 5;
    for (const unsigned char *s = (const unsigned char *)db; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            *s == '_' || *s == '-')
            *p++ = (char)*s;
        else
            p += sprintf(p, "%%%02X", *s);
    }
    return out;
}

static json_t *entry(json_t *doc, const char *name)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(doc, "datastores"), i, d) {
        if (strcmp(json_string_value(json_object_get(d, "datastore")), name) == 0)
            return d;
    }
    cr_assert_fail("no datastore %s in %s", name, itest_json_compact(doc));
    return NULL;
}

typedef struct fixture {
    char *a, *b, *hostile; /* database names */
    char *role, *dir, *cfg, *store;
} fixture;

/* Two databases and one whose name holds a quote, slashes, dots, glob
 * characters, '%', a space and UTF-8; each with a table of its own. */
static fixture setup(void)
{
    fixture f;
    f.a = itest_create_db("mdb_a");
    f.b = itest_create_db("mdb_b");
    f.hostile = itest_strf("mdb\"x/../y.z*%% \xc3\xa9_%ld", (long)getpid());
    PGconn *pg = itest_connect("postgres");
    itest_sql(pg, "CREATE DATABASE \"mdb\"\"x/../y.z*%% \xc3\xa9_%ld\" TEMPLATE template0 "
                  "ENCODING 'UTF8'", (long)getpid());
    f.role = itest_strf("crawler_%s", f.a);
    itest_sql(pg, "CREATE ROLE %s LOGIN PASSWORD '" PW "'", f.role);
    PQfinish(pg);
    const char *dbs[] = {f.a, f.b, f.hostile};
    const char *tables[] = {"only_in_a", "only_in_b", "only_in_hostile"};
    for (int i = 0; i < 3; i++) {
        PGconn *c = itest_connect(dbs[i]);
        itest_sql(c, "CREATE TABLE public.%s (id int PRIMARY KEY, note text)", tables[i]);
        PQfinish(c);
    }
    f.dir = itest_tmpdir();
    char *extra = itest_strf("    databases: [%s, %s, \"mdb\\\"x/../y.z*%% \\u00e9_%ld\"]\n", f.a,
                             f.b, (long)getpid());
    f.cfg = itest_write_config(f.dir, f.a, f.role, PW, extra);
    free(extra);
    f.store = itest_strf("%s/catalog.db", f.dir);
    return f;
}

Test(multidb, each_database_is_its_own_datastore, .timeout = 180)
{
    fixture f = setup();
    char *na = recorded(f.a), *nb = recorded(f.b), *nh = recorded(f.hostile);
    const char *args[] = {"crawl", "--json", NULL};
    itest_result r = run_mc(f.cfg, args);
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    json_t *doc = itest_parse_json(r.out);
    cr_assert_eq(json_array_size(json_object_get(doc, "datastores")), 3, "%s", r.out);
    /* in the order written; each its own run and catalog */
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(doc, "datastores"), 0), "datastore")),
                     na);
    json_t *counts[3] = {json_object_get(entry(doc, na), "counts"),
                         json_object_get(entry(doc, nb), "counts"),
                         json_object_get(entry(doc, nh), "counts")};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(json_integer_value(json_object_get(counts[i], "containers")), 1, "%s",
                     r.out);
    /* the recorded name escapes every byte that could mean something */
    cr_assert(strstr(nh, "%22x%2F%2E%2E%2Fy%2Ez%2A%25%20%C3%A9_"), "%s", nh);
    char *q = itest_strf("SELECT group_concat(name, '|') FROM (SELECT name FROM datastores "
                         "ORDER BY name)");
    char *names = itest_sqlite_value(f.store, q);
    char *want = itest_strf("%s|%s|%s", nh, na, nb); /* byte order: "%%" < "m" */
    cr_assert_str_eq(names, want);
    char *runs = itest_sqlite_value(f.store, "SELECT count(DISTINCT datastore_id) FROM runs");
    cr_assert_str_eq(runs, "3");

    /* show and history by the recorded name; the base name is no datastore
     * of the store */
    char *path = itest_strf("%s.public.only_in_hostile", nh);
    const char *show[] = {"show", path, "--json", NULL};
    itest_result s = run_mc(f.cfg, show);
    cr_assert_eq(s.status, 0, "%s\n%s", s.out, s.err);
    const char *hist[] = {"history", nb, NULL};
    itest_result h = run_mc(f.cfg, hist);
    cr_assert_eq(h.status, 0, "%s\n%s", h.out, h.err);

    /* one lock file per database, the '/' of the name as '@' */
    char *lock = itest_strf("%s/catalog.db.locks/%s.lock", f.dir, nh);
    *strchr(lock + strlen(f.dir) + strlen("/catalog.db.locks/"), '/') = '@';
    struct stat st;
    cr_assert_eq(stat(lock, &st), 0, "no lock file %s", lock);

    /* crawl DS/DB: that database alone, by its recorded name or as named */
    const char *one[] = {"crawl", "--json", nb, NULL};
    itest_result o = run_mc(f.cfg, one);
    cr_assert_eq(o.status, 0, "%s\n%s", o.out, o.err);
    json_t *od = itest_parse_json(o.out);
    cr_assert_eq(json_array_size(json_object_get(od, "datastores")), 1, "%s", o.out);
    char *raw = itest_strf("test/%s", f.hostile);
    const char *one_raw[] = {"crawl", "--json", raw, NULL};
    itest_result o2 = run_mc(f.cfg, one_raw);
    cr_assert_eq(o2.status, 0, "%s\n%s", o2.out, o2.err);
    json_t *od2 = itest_parse_json(o2.out);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(od2, "datastores"), 0), "datastore")),
                     nh);
    /* a database the list does not name is an unknown datastore */
    const char *other[] = {"crawl", "test/postgres", NULL};
    itest_result u = run_mc(f.cfg, other);
    cr_assert_eq(u.status, 2, "%s\n%s", u.out, u.err);
    cr_assert(strstr(u.err, "the databases: of 'test' are test/"), "%s", u.err);

    /* the docs site: a page per database's datastore, file names escaped */
    char *site = itest_strf("%s/site", f.dir);
    const char *docs[] = {"docs", "--out", site, NULL};
    itest_result d = run_mc(f.cfg, docs);
    cr_assert_eq(d.status, 0, "%s\n%s", d.out, d.err);

    /* check covers each database */
    const char *check[] = {"check", "--json", NULL};
    itest_result c = run_mc(f.cfg, check);
    json_t *cd = itest_parse_json(c.out);
    cr_assert_eq(json_array_size(json_object_get(cd, "datastores")), 3, "%s\n%s", c.out, c.err);

    /* export names each database's datasets by its own database (a DS/DB
     * datastore is found through its parent's configuration) */
    const char *exp[] = {"export", nh, "--format", "openlineage", NULL};
    itest_result e = run_mc(f.cfg, exp);
    cr_assert_eq(e.status, 0, "%s\n%s", e.out, e.err);
    const char *jexp[] = {"export", nb, "--format", "json", NULL};
    itest_result je = run_mc(f.cfg, jexp);
    cr_assert_eq(je.status, 0, "%s\n%s", je.out, je.err);
    cr_assert_str_eq(json_string_value(json_object_get(itest_parse_json(je.out), "database")),
                     f.b, "%s", je.out);
}

static const char *action_of(json_t *doc, const char *name)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(doc, "datastores"), i, d) {
        if (strcmp(json_string_value(json_object_get(d, "datastore")), name) == 0)
            return json_string_value(json_object_get(d, "action"));
    }
    cr_assert_fail("no datastore %s in %s", name, itest_json_compact(doc));
    return NULL;
}

static json_t *run_due(const char *cfg, const char *now)
{
    char *opt = itest_strf("--now=%s", now);
    const char *args[] = {"run-due", "--json", opt, NULL};
    itest_result r = run_mc(cfg, args);
    cr_assert_eq(r.status, 0, "run-due %s: %d\n%s\n%s", now, r.status, r.out, r.err);
    return itest_parse_json(r.out);
}

/* One schedule entry fires every database, one after the other, each
 * recording a run with the fire's time; the fire counts as done for the
 * entry, so the next run-due does not fire it again. */
Test(multidb, one_fire_crawls_each_database, .timeout = 180)
{
    fixture f = setup();
    char *extra = itest_strf("    databases: [%s, %s]\n    schedule: \"0 * * * *\"\n"
                             "    timezone: UTC\n", f.a, f.b);
    char *cfg = itest_write_config(f.dir, f.a, f.role, PW, extra);
    json_t *d = run_due(cfg, "2015-01-01T10:30:00Z");
    cr_assert_str_eq(action_of(d, "test"), "not_due");
    d = run_due(cfg, "2015-01-01T11:00:00Z");
    cr_assert_str_eq(action_of(d, "test"), "crawled", "%s", itest_json_compact(d));
    char *q = itest_strf("SELECT group_concat(d.name || '@' || r.scheduled_for || '/' || r.status, "
                         "',') FROM (SELECT * FROM runs ORDER BY id) r JOIN datastores d "
                         "ON d.id = r.datastore_id");
    char *runs = itest_sqlite_value(f.store, q);
    char *want = itest_strf("test/%s@1420110000/ok,test/%s@1420110000/ok", f.a, f.b);
    cr_assert_str_eq(runs, want);
    d = run_due(cfg, "2015-01-01T11:30:00Z");
    cr_assert_str_eq(action_of(d, "test"), "not_due", "%s", itest_json_compact(d));
    cr_assert_str_eq(itest_sqlite_value(f.store, "SELECT count(*) FROM runs"), "2");
}

/* An alert's match text is "<datastore>.<schema>.<container>" with the
 * database's datastore name: a glob picks one database of the datastore. */
Test(multidb, alerts_match_one_database, .timeout = 180)
{
    fixture f = setup();
    char *out = itest_strf("%s/alerts.jsonl", f.dir);
    char *na = recorded(f.a);
    char *extra = itest_strf("    databases: [%s, %s]\nalerts:\n  - name: only-a\n"
                             "    match: [\"%s.public.*\"]\n    file: %s\n",
                             f.a, f.b, na, out);
    char *cfg = itest_write_config(f.dir, f.a, f.role, PW, extra);
    const char *args[] = {"crawl", NULL};
    itest_result r = run_mc(cfg, args);
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    const char *dbs[] = {f.a, f.b};
    for (int i = 0; i < 2; i++) {
        PGconn *c = itest_connect(dbs[i]);
        itest_sql(c, "CREATE TABLE public.new_in_%c (id int)", "ab"[i]);
        PQfinish(c);
    }
    r = run_mc(cfg, args);
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    char *text = itest_read_file(out);
    cr_assert(strstr(text, "new_in_a"), "%s", text);
    cr_assert_null(strstr(text, "new_in_b"), "%s", text);
    cr_assert(strstr(text, na), "%s", text);
}
