/*
 * test_grants.c — the SQL of `metacrawl grants` without a server:
 * identifier and literal quoting per dialect, the group role's name, the
 * --schema list syntax, reading pg_default_acl's ACL text, Redshift's
 * password rule, and whole scripts compared with the golden files in
 * tests/golden/ (which follow AWS's documented syntax for CREATE USER,
 * CREATE GROUP, ALTER GROUP ... ADD USER, GRANT ... TO GROUP and ALTER
 * DEFAULT PRIVILEGES FOR USER ... IN SCHEMA ... TO GROUP).  One golden file
 * is also produced by the real binary, offline, as a user would.
 *
 * MC_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing (then
 * read the diff before committing it).
 */
#include <criterion/criterion.h>

#include "grants.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- helpers --------------------------------------------------------------- */

static char *quote(grants_dialect d, const char *name)
{
    mc_buf b = {0};
    if (grants_quote_ident(&b, d, name) != 0) {
        mc_buf_free(&b);
        return NULL;
    }
    return mc_buf_steal(&b);
}

static char *literal(const char *v)
{
    mc_buf b = {0};
    grants_quote_literal(&b, v);
    return mc_buf_steal(&b);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    mc_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        mc_buf_append(&b, chunk, n);
    fclose(f);
    return mc_buf_steal(&b);
}

static char *golden_path(const char *name)
{
    const char *root = getenv("MC_SOURCE_ROOT");
    cr_assert_not_null(root, "MC_SOURCE_ROOT is not set (run through meson test)");
    return mc_asprintf("%s/tests/golden/%s", root, name);
}

/* The text equals tests/golden/NAME, or (MC_UPDATE_GOLDEN=1) becomes it.
 * On a difference, the first differing line is shown. */
static void expect_golden(const char *name, const char *text)
{
    char *path = golden_path(name);
    if (getenv("MC_UPDATE_GOLDEN") && strcmp(getenv("MC_UPDATE_GOLDEN"), "1") == 0) {
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f, "%s: %s", path, strerror(errno));
        fputs(text, f);
        fclose(f);
        free(path);
        return;
    }
    char *want = read_all(path);
    cr_assert_not_null(want, "%s: %s (MC_UPDATE_GOLDEN=1 writes it)", path, strerror(errno));
    if (strcmp(want, text) != 0) {
        const char *a = want, *b = text;
        int line = 1;
        while (*a && *a == *b) {
            if (*a == '\n')
                line++;
            a++, b++;
        }
        cr_assert_fail("%s differs at line %d\n--- golden:\n%.200s\n--- got:\n%.200s\n"
                       "--- whole output:\n%s",
                       name, line, a, b, text);
    }
    free(want);
    free(path);
}

static char *plan_text(const grants_input *in)
{
    grants_plan p;
    mc_error err = {0};
    cr_assert_eq(grants_build(in, &p, &err), 0, "%s", err.message);
    mc_buf b = {0};
    grants_plan_text(&p, &b);
    grants_plan_free(&p);
    return mc_buf_steal(&b);
}

/* ---- quoting ----------------------------------------------------------------- */

Test(grants, quote_ident_every_name_is_one_identifier)
{
    static const struct {
        const char *name, *pg, *rs;
    } cases[] = {
        {"public", "\"public\"", "\"public\""},
        {"Sales", "\"Sales\"", "\"Sales\""},
        {"with space", "\"with space\"", "\"with space\""},
        {"we\"ird", "\"we\"\"ird\"", "\"we\"\"ird\""},
        {"\"", "\"\"\"\"", "\"\"\"\""},
        {"semi;colon", "\"semi;colon\"", "\"semi;colon\""},
        {"x\"; DROP TABLE t; --", "\"x\"\"; DROP TABLE t; --\"", "\"x\"\"; DROP TABLE t; --\""},
        {"ünïcødé", "\"ünïcødé\"", "\"ünïcødé\""},
        {"日本語", "\"日本語\"", "\"日本語\""},
        {"back\\slash", "\"back\\slash\"", "\"back\\slash\""},
        {"a$mc$b", "\"a$mc$b\"", "\"a$mc$b\""},
        {"select", "\"select\"", "\"select\""},
        /* control characters: U& escapes on PostgreSQL, refused on Redshift */
        {"new\nline", "U&\"new\\000aline\"", NULL},
        {"tab\there\\\"", "U&\"tab\\0009here\\\\\"\"\"", NULL},
        {"\x1b]0;pwned\x07", "U&\"\\001b]0;pwned\\0007\"", NULL},
        {"del\x7f", "U&\"del\\007f\"", NULL},
        {"", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *pg = quote(GRANTS_POSTGRESQL, cases[i].name);
        char *rs = quote(GRANTS_REDSHIFT, cases[i].name);
        if (cases[i].pg)
            cr_assert_str_eq(pg, cases[i].pg, "case %zu", i);
        else
            cr_assert_null(pg, "case %zu", i);
        if (cases[i].rs)
            cr_assert_str_eq(rs, cases[i].rs, "case %zu", i);
        else
            cr_assert_null(rs, "case %zu: %s", i, rs);
        /* nothing quoted ever holds a raw control character */
        for (const char *p = pg; p && *p; p++)
            cr_assert((unsigned char)*p >= 0x20 && *p != 0x7f, "case %zu", i);
        free(pg);
        free(rs);
    }
    /* A refused name appends nothing. */
    mc_buf b = {0};
    mc_buf_puts(&b, "x");
    cr_assert_eq(grants_quote_ident(&b, GRANTS_REDSHIFT, "a\nb"), -1);
    cr_assert_str_eq(mc_buf_str(&b), "x");
    mc_buf_free(&b);
}

Test(grants, quote_literal)
{
    static const struct {
        const char *v, *want;
    } cases[] = {
        {"metamapper", "'metamapper'"},
        {"o'brien", "'o''brien'"},
        {"back\\slash", "E'back\\\\slash'"},
        {"it's\\", "E'it''s\\\\'"},
        {"new\nline", "E'new\\x0aline'"},
        {"ünï", "'ünï'"},
        {"", "''"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = literal(cases[i].v);
        cr_assert_str_eq(got, cases[i].want, "case %zu", i);
        free(got);
    }
}

Test(grants, group_role_names)
{
    char *r = grants_group_role(GRANTS_POSTGRESQL, "metamapper", "metamapper");
    cr_assert_str_eq(r, "metamapper_readers");
    free(r);
    r = grants_group_role(GRANTS_POSTGRESQL, "crawler", "metamapper");
    cr_assert_str_eq(r, "metamapper");
    free(r);
    /* Redshift: users and groups are apart, the same name is fine. */
    r = grants_group_role(GRANTS_REDSHIFT, "metamapper", "metamapper");
    cr_assert_str_eq(r, "metamapper");
    free(r);
    /* 63 bytes at most, never half a UTF-8 character. */
    char longname[80];
    memset(longname, 'a', 60);
    longname[60] = '\0';
    r = grants_group_role(GRANTS_POSTGRESQL, longname, longname);
    cr_assert_eq(strlen(r), 63);
    cr_assert_str_eq(r + 55, "_readers");
    free(r);
    char utf[80] = "";
    for (int i = 0; i < 30; i++)
        strcat(utf, "é"); /* 60 bytes */
    r = grants_group_role(GRANTS_POSTGRESQL, utf, utf);
    cr_assert_leq(strlen(r), 63);
    cr_assert_eq(strlen(r), 54 + 8, "%s", r); /* 27 whole characters */
    free(r);
}

Test(grants, name_lists)
{
    char **v;
    cr_assert_eq(grants_parse_name_list("public", &v), 1);
    cr_assert_str_eq(v[0], "public");
    cr_assert_null(v[1]);
    grants_free_names(v);
    cr_assert_eq(grants_parse_name_list(" public , Sales Data ,x", &v), 3);
    cr_assert_str_eq(v[1], "Sales Data");
    cr_assert_str_eq(v[2], "x");
    grants_free_names(v);
    cr_assert_eq(grants_parse_name_list("\"a,b\",\"say \"\"hi\"\"\", \" padded \"", &v), 3);
    cr_assert_str_eq(v[0], "a,b");
    cr_assert_str_eq(v[1], "say \"hi\"");
    cr_assert_str_eq(v[2], " padded ");
    grants_free_names(v);
    cr_assert_eq(grants_parse_name_list("semi;colon,ünï", &v), 2);
    cr_assert_str_eq(v[0], "semi;colon");
    grants_free_names(v);
    static const char *const bad[] = {"", "a,,b", "a,", "\"open", "\"x\"y", " , "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(grants_parse_name_list(bad[i], &v), -1, "'%s'", bad[i]);
        cr_assert_null(v);
    }
}

/* ---- ACL text ------------------------------------------------------------------ */

Test(grants, acl_reading)
{
    const char *me[] = {"crawler", "metamapper_readers"};
    cr_assert(grants_acl_allows_select("{metamapper_readers=r/etl}", me, NULL, 2));
    cr_assert(grants_acl_allows_select("{etl=arwdDxt/etl,crawler=r*/etl}", me, NULL, 2));
    cr_assert_not(grants_acl_allows_select("{metamapper_readers=a/etl}", me, NULL, 2));
    cr_assert_not(grants_acl_allows_select("{other=r/etl}", me, NULL, 2));
    cr_assert(grants_acl_allows_select("{=r/etl}", me, NULL, 2)); /* PUBLIC */
    cr_assert_not(grants_acl_allows_select("{}", me, NULL, 2));
    cr_assert_not(grants_acl_allows_select(NULL, me, NULL, 2));
    cr_assert_not(grants_acl_allows_select("garbage", me, NULL, 2));
    /* Quoted role names inside a quoted array element. */
    const char *odd[] = {"odd \"name\"", "x,y"};
    cr_assert(grants_acl_allows_select("{etl=arwd/etl,\"\\\"odd \\\"\\\"name\\\"\\\"\\\"=r/etl\"}",
                                       odd, NULL, 1));
    cr_assert(grants_acl_allows_select("{\"\\\"x,y\\\"=r/etl\"}", odd + 1, NULL, 1));
    cr_assert_not(grants_acl_allows_select("{\"\\\"x,y\\\"=a/etl\"}", odd + 1, NULL, 1));
    /* Redshift: "group g=..." is a group, a plain name a user. */
    const char *rs[] = {"metamapper", "metamapper"};
    const bool groups[] = {false, true};
    cr_assert(grants_acl_allows_select("{\"group metamapper=r/etl\"}", rs + 1, groups + 1, 1));
    cr_assert_not(grants_acl_allows_select("{\"group metamapper=r/etl\"}", rs, groups, 1));
    cr_assert(grants_acl_allows_select("{metamapper=r/etl}", rs, groups, 1));
    cr_assert_not(grants_acl_allows_select("{metamapper=r/etl}", rs + 1, groups + 1, 1));
    cr_assert(grants_acl_allows_select("{etl=arwdRxtD/etl,\"group metamapper=r/etl\"}", rs, groups,
                                       2));
}

Test(grants, redshift_password_rule)
{
    cr_assert_null(grants_redshift_password_problem("Crawler-Pw1"));
    cr_assert_null(grants_redshift_password_problem("aB3aaaaa"));
    cr_assert_not_null(grants_redshift_password_problem("aB3aaaa"));      /* 7 */
    cr_assert_not_null(grants_redshift_password_problem("crawler-pw1"));  /* no upper */
    cr_assert_not_null(grants_redshift_password_problem("CRAWLER-PW1"));  /* no lower */
    cr_assert_not_null(grants_redshift_password_problem("Crawler-Pw"));   /* no digit */
    cr_assert_not_null(grants_redshift_password_problem("Crawler Pw1"));  /* space */
    cr_assert_not_null(grants_redshift_password_problem("Crawler@Pw1"));
    cr_assert_not_null(grants_redshift_password_problem("Crawler'Pw1"));
    char longpw[70];
    memset(longpw, 'a', 65);
    memcpy(longpw, "A1", 2);
    longpw[65] = '\0';
    cr_assert_not_null(grants_redshift_password_problem(longpw));
}

/* ---- whole scripts (golden files) ------------------------------------------------ */

static const grants_schema_in basic_schemas[] = {{"public", false, 0}, {"sales", false, 0}};
static const char *const basic_owners[] = {"etl", "loader"};

Test(grants, golden_redshift_offline)
{
    grants_input in = {
        .dialect = GRANTS_REDSHIFT, .datastore = "analytics", .user = "metamapper",
        .group = "metamapper", .schemas = basic_schemas, .n_schemas = 2,
        .owners = basic_owners, .n_owners = 2, .owners_known = true,
    };
    char *text = plan_text(&in);
    expect_golden("redshift_offline.sql", text);
    free(text);
}

Test(grants, golden_redshift_hostile_names)
{
    static const grants_schema_in schemas[] = {
        {"Sales Data", false, 0}, {"we\"ird", false, 0}, {"semi;colon", false, 0},
        {"ünïcødé", false, 0}, {"x\"; DROP TABLE t; --", false, 0},
    };
    static const char *const owners[] = {"ETL User", "o'brien"};
    grants_input in = {
        .dialect = GRANTS_REDSHIFT, .datastore = "dw", .user = "Meta Mapper",
        .group = "Readers;", .schemas = schemas, .n_schemas = 5,
        .owners = owners, .n_owners = 2, .owners_known = true,
    };
    char *text = plan_text(&in);
    expect_golden("redshift_hostile.sql", text);
    free(text);
}

Test(grants, golden_redshift_connected)
{
    /* The catalog was read: the user and group exist, the user is not in
     * the group yet, a password source is named (printing: redacted), and
     * one schema is a Spectrum schema. */
    static const grants_schema_in schemas[] = {{"public", false, 0}, {"spectrum", true, 1}};
    static const char *const owners[] = {"etl"};
    grants_input in = {
        .dialect = GRANTS_REDSHIFT, .datastore = "analytics", .user = "metamapper",
        .group = "metamapper", .schemas = schemas, .n_schemas = 2,
        .owners = owners, .n_owners = 1, .owners_known = true,
        .user_exists = GRANTS_PRESENT, .group_exists = GRANTS_PRESENT, .member = GRANTS_ABSENT,
        .password = GRANTS_PW_SOURCE, .password_source = "env:METAMAPPER_PASSWORD",
    };
    char *text = plan_text(&in);
    expect_golden("redshift_connected.sql", text);
    free(text);
}

Test(grants, golden_postgresql_offline)
{
    grants_input in = {
        .dialect = GRANTS_POSTGRESQL, .datastore = "analytics", .user = "metamapper",
        .group = "metamapper", .schemas = basic_schemas, .n_schemas = 2,
    };
    char *text = plan_text(&in);
    expect_golden("postgresql_offline.sql", text);
    free(text);
}

Test(grants, golden_postgresql_hostile_names)
{
    static const grants_schema_in schemas[] = {
        {"UPPER", false, 0}, {"new\nline", false, 0}, {"back\\slash", false, 0}, {"q\"uote", false, 0},
    };
    static const char *const owners[] = {"o'brien"};
    grants_input in = {
        .dialect = GRANTS_POSTGRESQL, .datastore = "pg", .user = "crawler$mc$'x",
        .group = "Readers", .schemas = schemas, .n_schemas = 4,
        .owners = owners, .n_owners = 1, .owners_known = true,
    };
    char *text = plan_text(&in);
    expect_golden("postgresql_hostile.sql", text);
    /* The DO blocks' dollar quote is not the one inside the user's name. */
    cr_assert(strstr(text, "DO $mc1$"), "%s", text);
    free(text);
}

/* ---- properties of every plan ------------------------------------------------------ */

Test(grants, the_password_is_never_printed)
{
    static const char hash[] = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy";
    for (int d = 0; d < 2; d++) {
        grants_input in = {
            .dialect = (grants_dialect)d, .datastore = "a", .user = "u", .group = "g",
            .schemas = basic_schemas, .n_schemas = 2, .owners = basic_owners, .n_owners = 2,
            .owners_known = true, .user_exists = GRANTS_ABSENT, .group_exists = GRANTS_ABSENT,
            .member = GRANTS_ABSENT, .password = GRANTS_PW_SOURCE,
            .password_source = "env:PW", .exec_password = hash,
        };
        grants_plan p;
        mc_error err = {0};
        cr_assert_eq(grants_build(&in, &p, &err), 0);
        mc_buf b = {0};
        grants_plan_text(&p, &b);
        cr_assert_null(strstr(mc_buf_str(&b), "SCRAM"), "%s", mc_buf_str(&b));
        cr_assert(strstr(mc_buf_str(&b), "PASSWORD " MC_REDACTED));
        size_t with_exec = 0;
        for (size_t i = 0; i < p.n_stmts; i++) {
            const grants_stmt *s = &p.stmts[i];
            cr_assert(!s->sql || !strstr(s->sql, "SCRAM"));
            cr_assert(!s->comment || !strstr(s->comment, "SCRAM"));
            if (s->exec_sql) {
                with_exec++;
                cr_assert(strstr(s->exec_sql, hash), "%s", s->exec_sql);
            }
        }
        cr_assert_eq(with_exec, 1, "dialect %d", d);
        mc_buf_free(&b);
        grants_plan_free(&p);
    }
}

Test(grants, redshift_apply_sends_only_what_is_missing)
{
    grants_input in = {
        .dialect = GRANTS_REDSHIFT, .datastore = "a", .user = "u", .group = "g",
        .schemas = basic_schemas, .n_schemas = 2, .owners_known = true,
        .user_exists = GRANTS_PRESENT, .group_exists = GRANTS_ABSENT, .member = GRANTS_PRESENT,
        .password = GRANTS_PW_KEEP,
    };
    grants_plan p;
    mc_error err = {0};
    cr_assert_eq(grants_build(&in, &p, &err), 0);
    bool saw_create_group = false;
    for (size_t i = 0; i < p.n_stmts; i++) {
        const grants_stmt *s = &p.stmts[i];
        cr_assert_not(s->may_fail, "%s", s->sql ? s->sql : s->comment);
        if (s->kind == GRANTS_CREATE_USER || s->kind == GRANTS_ADD_MEMBER)
            cr_assert(s->skipped);
        if (s->kind == GRANTS_CREATE_GROUP) {
            cr_assert_not(s->skipped);
            saw_create_group = true;
        }
        cr_assert_neq(s->kind, GRANTS_SET_PASSWORD); /* an existing user keeps its password */
    }
    cr_assert(saw_create_group);
    grants_plan_free(&p);
}

Test(grants, redshift_refuses_names_it_cannot_write)
{
    static const grants_schema_in schemas[] = {{"new\nline", false, 0}};
    grants_input in = {
        .dialect = GRANTS_REDSHIFT, .datastore = "a", .user = "u", .group = "g",
        .schemas = schemas, .n_schemas = 1,
    };
    grants_plan p;
    mc_error err = {0};
    cr_assert_eq(grants_build(&in, &p, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_USAGE);
    cr_assert_str_eq(err.message, "the name U&\"new\\000aline\" cannot be written as a Redshift "
                                  "identifier");
    cr_assert_null(p.stmts);
}

Test(grants, fixes_for_check)
{
    char *s = grants_fix_usage(GRANTS_REDSHIFT, "metamapper", "metamapper", "Sales Data");
    cr_assert_str_eq(s, "GRANT USAGE ON SCHEMA \"Sales Data\" TO GROUP \"metamapper\";");
    free(s);
    s = grants_fix_select(GRANTS_POSTGRESQL, "metamapper", "metamapper", "sales");
    cr_assert_str_eq(s, "GRANT SELECT ON ALL TABLES IN SCHEMA \"sales\" TO \"metamapper_readers\";");
    free(s);
    s = grants_fix_default(GRANTS_REDSHIFT, "metamapper", "metamapper", "etl", "sales");
    cr_assert_str_eq(s, "ALTER DEFAULT PRIVILEGES FOR USER \"etl\" IN SCHEMA \"sales\" GRANT "
                        "SELECT ON TABLES TO GROUP \"metamapper\";");
    free(s);
    s = grants_fix_default(GRANTS_POSTGRESQL, "c", "g", "o'b", "s");
    cr_assert_str_eq(s, "ALTER DEFAULT PRIVILEGES FOR ROLE \"o'b\" IN SCHEMA \"s\" GRANT SELECT "
                        "ON TABLES TO \"g\";");
    free(s);
    s = grants_fix_member(GRANTS_REDSHIFT, "metamapper", "metamapper");
    cr_assert_str_eq(s, "ALTER GROUP \"metamapper\" ADD USER \"metamapper\";");
    free(s);
    s = grants_fix_member(GRANTS_POSTGRESQL, "metamapper", "metamapper");
    cr_assert_str_eq(s, "GRANT \"metamapper_readers\" TO \"metamapper\";");
    free(s);
    cr_assert_null(grants_fix_usage(GRANTS_REDSHIFT, "u", "g", "a\tb"));
}

/* ---- the binary, offline -------------------------------------------------------------- */

/* Runs MC_BINARY with argv; stdout into *out; returns the exit status. */
static int run_binary(const char *const *args, char **out)
{
    const char *bin = getenv("MC_BINARY");
    cr_assert_not_null(bin, "MC_BINARY is not set (run through meson test)");
    char outpath[] = "/tmp/mc-test-grants-out-XXXXXX";
    int fd = mkstemp(outpath);
    cr_assert_geq(fd, 0);
    const char *argv[32];
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, bin, &fa, NULL, (char *const *)(uintptr_t)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int status;
    waitpid(pid, &status, 0);
    close(fd);
    *out = read_all(outpath);
    unlink(outpath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Test(grants, binary_offline_matches_the_golden_file)
{
    char dir[] = "/tmp/mc-test-grants-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *cfg = mc_asprintf("%s/metacrawl.yml", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "store: %s/catalog.db\n"
               "datastores:\n"
               "  - name: analytics\n"
               "    host: examplecluster.abc123.us-east-1.redshift.amazonaws.com\n"
               "    database: dev\n",
            dir);
    fclose(f);
    /* Offline: --schema and --dialect; owners named, in any order. */
    const char *args[] = {"-c", cfg, "grants", "analytics", "--schema", "public,sales",
                          "--owner", "loader,etl", "--dialect", "redshift", NULL};
    char *out = NULL;
    int rc = run_binary(args, &out);
    cr_assert_eq(rc, 0, "%s", out);
    expect_golden("redshift_offline.sql", out);
    free(out);

    /* Usage errors: a bad dialect, a malformed list, --schema twice. */
    const char *bad1[] = {"-c", cfg, "grants", "analytics", "--schema", "a", "--dialect",
                          "oracle", NULL};
    cr_assert_eq(run_binary(bad1, &out), 2);
    free(out);
    const char *bad2[] = {"-c", cfg, "grants", "analytics", "--schema", "a,,b", "--dialect",
                          "redshift", NULL};
    cr_assert_eq(run_binary(bad2, &out), 2);
    free(out);
    const char *bad3[] = {"-c", cfg, "grants", "analytics", "--schema", "a", "--schema", "b",
                          "--dialect", "redshift", NULL};
    cr_assert_eq(run_binary(bad3, &out), 2);
    free(out);
    const char *bad4[] = {"-c", cfg, "grants", "analytics", "--schema", "a", "--dialect",
                          "redshift", "--password-from", "hunter2", NULL};
    cr_assert_eq(run_binary(bad4, &out), 2);
    free(out);
    unlink(cfg);
    rmdir(dir);
    free(cfg);
}
