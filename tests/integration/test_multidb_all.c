/*
 * test_multidb_all.c — `databases: "*"` on PostgreSQL.  An executable of its
 * own, so that its server (with-servers.sh starts one per executable) holds
 * only the databases this test makes, besides postgres and the templates:
 * the list "*" reads is then known exactly.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define PW "crawler-pw"

Test(multidb_all, star_lists_what_the_user_may_connect_to, .timeout = 180)
{
    char *a = itest_create_db("star_a");
    char *b = itest_create_db("star_b");
    char *closed = itest_create_db("star_closed");   /* datallowconn false */
    char *denied = itest_create_db("star_denied");   /* no CONNECT for the user */
    char *tmpl = itest_create_db("star_template");   /* a template */
    char *role = itest_strf("crawler_%s", a);
    PGconn *pg = itest_connect("postgres");
    itest_sql(pg, "CREATE ROLE %s LOGIN PASSWORD '" PW "'", role);
    itest_sql(pg, "ALTER DATABASE %s ALLOW_CONNECTIONS false", closed);
    itest_sql(pg, "REVOKE CONNECT ON DATABASE %s FROM PUBLIC", denied);
    itest_sql(pg, "ALTER DATABASE %s IS_TEMPLATE true", tmpl);
    PQfinish(pg);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, a, role, PW, "    databases: \"*\"\n");
    const char *argv[] = {"-c", cfg, "crawl", "--json", NULL};
    const char *env[] = {"MC_TEST_DS_PASSWORD=" PW, NULL};
    itest_result r = itest_run(argv, env, NULL);
    cr_assert_eq(r.status, 0, "%s\n%s", r.out, r.err);
    json_t *doc = itest_parse_json(r.out);
    char *got = strdup("");
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(doc, "datastores"), i, d) {
        char *next = itest_strf("%s%s%s", got, i ? "," : "",
                                json_string_value(json_object_get(d, "datastore")));
        free(got);
        got = next;
    }
    /* byte order; not the closed, denied or template databases */
    char *want = itest_strf("test/postgres,test/%s,test/%s", a, b);
    cr_assert_str_eq(got, want, "%s", r.out);
}
