/*
 * test_site.c — the docs site without a warehouse: every escaper (HTML and
 * attributes, XML, JavaScript, Markdown, file names) fed hostile input, and
 * site_build over stores recorded in-process: same store same bytes, an
 * unchanged rebuild writes nothing, a dropped container's page goes, only
 * changed pages are rewritten, files that are not the site's are left alone,
 * no name becomes a path outside the site, and a large schema's ER diagram
 * gets a page of its own (and loses it when it fits again).  No network.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "diff.h"
#include "json.h"
#include "site.h"
#include "store.h"

/* ---- escapers ------------------------------------------------------------ */

typedef void (*escaper)(mc_buf *, const char *);

static char *esc(escaper f, const char *s)
{
    mc_buf b = {0};
    f(&b, s);
    return mc_buf_steal(&b);
}

static const char *const hostile[] = {
    "<script>alert(1)</script>",
    "</script><script>document.title='pwned'</script>",
    "<img src=x onerror=\"document.title='pwned'\">",
    "\" onmouseover=\"alert(1)",
    "' onfocus='alert(1)",
    "a & b &amp; &#60; &lt;",
    "../../etc/passwd",
    "..",
    "x\xe2\x80\xa8y\xe2\x80\xa9z",     /* U+2028, U+2029 */
    "\x1b]0;pwned\x07\x1b[31mred",      /* terminal escapes */
    "bad \xff\xfe utf8 \xc0\xaf \xed\xa0\x80", /* invalid, overlong, surrogate */
    "non-char \xef\xbf\xbe \xef\xbf\xbf",
    "\xc3\xbc" "n" "\xc3\xaf" "c" "\xc3\xb8" "d" "\xc3\xa9 \xe2\x98\x83 \xf0\x9d\x84\x9e",
    "| pipe | *stars* _under_ `tick` [l](javascript:x) # h\n- item\n1. n ~~~ <br>",
    "line1\r\nline2\rline3\n\tindent",
    "",
};
#define N_HOSTILE (sizeof hostile / sizeof hostile[0])

Test(escape, html_exact)
{
    cr_assert_str_eq(esc(site_html_escape, "<a href=\"x\">O'Neil & co</a>"),
                     "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;");
    cr_assert_str_eq(esc(site_html_escape, "\x1b[31m"), "\\x1b[31m");
    cr_assert_str_eq(esc(site_html_escape, "a\x7f"), "a\\x7f");
    cr_assert_str_eq(esc(site_html_escape, "tab\tnl\n"), "tab\tnl\n");
    cr_assert_str_eq(esc(site_html_escape, "\xff"), "\xef\xbf\xbd");
    cr_assert_str_eq(esc(site_html_escape, "\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");
    cr_assert_str_eq(esc(site_html_escape, "\xef\xbf\xbe"), "\xef\xbf\xbd");
    cr_assert_str_eq(esc(site_html_escape, "\xc3\xa9\xe2\x98\x83"), "\xc3\xa9\xe2\x98\x83");
    cr_assert_str_eq(esc(site_html_escape, ""), "");
    mc_buf b = {0};
    site_html_escape(&b, NULL);
    cr_assert_eq(b.len, 0);
}

/* Whatever the input: no markup character survives, every & starts one of
 * the five entities, no control character but tab/newline/CR is left, and
 * the bytes are valid UTF-8 — so the text is safe in element content and
 * in quoted attributes of HTML, and is well-formed XML character data. */
static void assert_markup_safe(const char *in, const char *out)
{
    for (const char *p = out; *p; p++) {
        unsigned char c = (unsigned char)*p;
        cr_assert(c != '<' && c != '>' && c != '"' && c != '\'',
                  "markup character %c left in %s (from %s)", c, out, in);
        cr_assert(c >= 0x20 || c == '\t' || c == '\n' || c == '\r',
                  "control character 0x%02x left (from %s)", c, in);
        cr_assert(c != 0x7f);
        if (c == '&')
            cr_assert(strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 ||
                          strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&quot;", 6) == 0 ||
                          strncmp(p, "&#39;", 5) == 0,
                      "bare & in %s", out);
    }
    /* valid UTF-8: jansson refuses anything else */
    json_t *s = json_string(out);
    cr_assert_not_null(s, "invalid UTF-8 from %s", in);
    json_decref(s);
}

Test(escape, html_and_xml_hostile)
{
    for (size_t i = 0; i < N_HOSTILE; i++) {
        char *h = esc(site_html_escape, hostile[i]);
        char *x = esc(site_xml_escape, hostile[i]);
        assert_markup_safe(hostile[i], h);
        assert_markup_safe(hostile[i], x);
        cr_assert(!strstr(x, "\xef\xbf\xbe") && !strstr(x, "\xef\xbf\xbf"),
                  "XML forbids U+FFFE/U+FFFF");
        free(h);
        free(x);
    }
}

/* The search index's strings (json_put_str_script, crawler/base/json.h). */
Test(escape, js_string)
{
    cr_assert_str_eq(esc(json_put_str_script, "</script>"), "\"\\u003c/script\\u003e\"");
    cr_assert_str_eq(esc(json_put_str_script, "a'b\"c\\d&"), "\"a\\u0027b\\\"c\\\\d\\u0026\"");
    cr_assert_str_eq(esc(json_put_str_script, "x\xe2\x80\xa8y\xe2\x80\xa9"),
                     "\"x\\u2028y\\u2029\"");
    cr_assert_str_eq(esc(json_put_str_script, "\xf0\x9d\x84\x9e"), "\"\\ud834\\udd1e\"");
    cr_assert_str_eq(esc(json_put_str_script, "\xff"), "\"\\ufffd\"");
    cr_assert_str_eq(esc(json_put_str_script, "\n\x01"), "\"\\n\\u0001\"");
    cr_assert_str_eq(esc(json_put_str_script, NULL), "null");
    for (size_t i = 0; i < N_HOSTILE; i++) {
        char *out = esc(json_put_str_script, hostile[i]);
        for (const char *p = out; *p; p++) {
            unsigned char c = (unsigned char)*p;
            cr_assert(c >= 0x20 && c < 0x7f, "non-printable-ASCII byte in %s", out);
            cr_assert(c != '<' && c != '>' && c != '&' && c != '\'', "%s", out);
        }
        /* a JSON string that decodes to the input (invalid UTF-8 replaced) */
        json_error_t jerr;
        json_t *v = json_loads(out, JSON_DECODE_ANY, &jerr);
        cr_assert(json_is_string(v), "%s does not parse: %s", out, jerr.text);
        if (!strchr(hostile[i], '\xff') && !strstr(hostile[i], "\xef\xbf\xbe"))
            cr_assert_str_eq(json_string_value(v), hostile[i]);
        json_decref(v);
        free(out);
    }
}

Test(escape, markdown)
{
    cr_assert_str_eq(esc(site_md_escape, "a|b"), "a\\|b");
    cr_assert_str_eq(esc(site_md_escape, "*x* _y_ `z`"), "\\*x\\* \\_y\\_ \\`z\\`");
    cr_assert_str_eq(esc(site_md_escape, "<script>"), "\\<script\\>");
    cr_assert_str_eq(esc(site_md_escape, "[l](javascript:x)"),
                     "\\[l\\]\\(javascript\\:x\\)");
    cr_assert_str_eq(esc(site_md_escape, "a\nb\r\nc"), "a<br>b<br>c");
    cr_assert_str_eq(esc(site_md_escape, "# h"), "\\# h");
    cr_assert_str_eq(esc(site_md_escape, "\x1b"), "\\\\x1b");
    cr_assert_str_eq(esc(site_md_escape, "\xc3\xa9"), "\xc3\xa9");
    cr_assert_str_eq(esc(site_md_escape, "\xff"), "\xef\xbf\xbd");
    for (size_t i = 0; i < N_HOSTILE; i++) {
        char *out = esc(site_md_escape, hostile[i]);
        /* no newline (table rows stay rows), no control character, and
         * every ASCII punctuation character is escaped, but the <br> we
         * put in for newlines */
        for (const char *p = out; *p; p++) {
            unsigned char c = (unsigned char)*p;
            cr_assert(c >= 0x20 && c != 0x7f, "control 0x%02x in %s", c, out);
            if (strncmp(p, "<br>", 4) == 0) {
                p += 3;
                continue;
            }
            if (c == '\\') {
                cr_assert(p[1], "dangling backslash in %s", out);
                p++;
                continue;
            }
            cr_assert(!strchr("!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~", c) || c == 0,
                      "unescaped %c in %s", c, out);
        }
        free(out);
    }
}

static char *fname(const char *s)
{
    return esc(site_file_name, s);
}

Test(escape, file_names)
{
    cr_assert_str_eq(fname("orders"), "orders");
    cr_assert_str_eq(fname("order_items_2024"), "order_items_2024");
    cr_assert_str_eq(fname("Orders"), "-4frders");
    cr_assert_str_eq(fname("../x"), "-2e-2e-2fx");
    cr_assert_str_eq(fname(".."), "-2e-2e");
    cr_assert_str_eq(fname("a-b"), "a-2db");
    cr_assert_str_eq(fname("a b/c"), "a-20b-2fc");
    cr_assert_str_eq(fname(""), "-");
    cr_assert_str_eq(fname("con"), "-63on");
    cr_assert_str_eq(fname("lpt1"), "-6cpt1");
    cr_assert_str_eq(fname("com10"), "com10");
    cr_assert_str_eq(fname("\xc3\xbc"), "-c3-bc");
    cr_assert_str_eq(fname("%2e"), "-252e");
}

static void assert_plain_name(const char *in, const char *out)
{
    cr_assert(*out, "empty file name for %s", in);
    cr_assert(strlen(out) <= 200, "%zu characters for %s", strlen(out), in);
    for (const char *p = out; *p; p++)
        cr_assert((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                      *p == '-',
                  "character %c in the file name %s", *p, out);
}

Test(escape, file_names_one_to_one)
{
    /* names that a careless encoding would merge */
    static const char *const names[] = {
        "a", "A", "a-41", "a-", "-", "", "a b", "a_b", "a-b", "a-2db", "con", "-63on",
        "c\xc3\xb6n", "Con", "CON", "x.html", "x-html", "../x", "..-x", "-2e-2e-2fx",
        "%2e%2e", "index", "Index",
    };
    size_t n = sizeof names / sizeof names[0];
    char *outs[sizeof names / sizeof names[0]];
    for (size_t i = 0; i < n; i++) {
        outs[i] = fname(names[i]);
        assert_plain_name(names[i], outs[i]);
        char *again = fname(names[i]);
        cr_assert_str_eq(outs[i], again, "not deterministic");
        free(again);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(outs[i], outs[j], "%s and %s share the file name %s",
                              names[i], names[j], outs[i]);
    }
    for (size_t i = 0; i < N_HOSTILE; i++)
        assert_plain_name(hostile[i], fname(hostile[i]));
}

Test(escape, long_names_are_cut_with_a_hash)
{
    /* Redshift allows 127 bytes; all escaped that is 381 characters */
    char a[128], b[128];
    memset(a, '.', 127);
    a[127] = '\0';
    memcpy(b, a, sizeof b);
    b[126] = ',';
    char *fa = fname(a), *fb = fname(b);
    assert_plain_name(a, fa);
    assert_plain_name(b, fb);
    cr_assert_str_neq(fa, fb);
    cr_assert(strstr(fa, "-z"), "%s", fa);
    /* a plain form never contains -z: no long name takes a short one's place */
    cr_assert_null(strstr(fname("zz-z"), "-z"));
    char ok[101];
    memset(ok, 'q', 100);
    ok[100] = '\0';
    cr_assert_str_eq(fname(ok), ok);
}

/* ---- site_build over an in-process store ------------------------------------ */

static char tmp[64];

static void make_tmp(void)
{
    strcpy(tmp, "/tmp/mc_site_test_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
}

static void remove_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(site, .init = make_tmp, .fini = remove_tmp);

static char *tpath(const char *rel)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", tmp, rel) > 0);
    return p;
}

static store *open_store(void)
{
    store *s = NULL;
    mc_error err = {0};
    char *p = tpath("catalog.db");
    cr_assert_eq(store_open(p, &s, &err), 0, "%s", err.message);
    free(p);
    return s;
}

static mc_container *add_table(mc_catalog *c, const char *schema, const char *name,
                               const char *comment, const char *const *cols)
{
    mc_container *k = mc_catalog_add_container(c);
    k->schema = mc_arena_strdup(c->arena, schema);
    k->name = mc_arena_strdup(c->arena, name);
    k->comment = mc_arena_strdup(c->arena, comment);
    k->kind = MC_KIND_TABLE;
    k->owner = "owner";
    k->first_field = c->n_fields;
    for (int i = 0; cols[i]; i++) {
        mc_field *f = mc_catalog_add_field(c);
        f->name = mc_arena_strdup(c->arena, cols[i]);
        f->type = "integer";
        f->comment = i == 1 ? mc_arena_strdup(c->arena, comment) : NULL;
        f->position = i + 1;
        f->attnum = i + 1;
        k->n_fields++;
    }
    return k;
}

static void add_schema(mc_catalog *c, const char *name, const char *comment)
{
    mc_schema *s = mc_catalog_add_schema(c);
    s->name = mc_arena_strdup(c->arena, name);
    s->comment = mc_arena_strdup(c->arena, comment);
    s->usable = true;
}

static const char *const hostile_comment = "<script>document.title='pwned'</script> | *x*";
static const char *const evil_table = "</script><img src=x onerror=alert(1)>";

/* The catalog of the tests; version 2 drops "doomed", adds a column to
 * "orders" and changes a comment on "customers". */
static mc_catalog *catalog_v(int version)
{
    mc_catalog *c = mc_catalog_new();
    add_schema(c, "sales", "Sales & <b>orders</b>");
    add_schema(c, "../up", hostile_comment);
    static const char *const cust[] = {"id", "name", NULL};
    static const char *const ord1[] = {"id", "customer_id", NULL};
    static const char *const ord2[] = {"id", "customer_id", "shipped_at", NULL};
    static const char *const one[] = {"id", NULL};
    static const char *const evil_cols[] = {"id", "a|b", "<b>x</b>", NULL};
    mc_container *k = add_table(c, "sales", "customers",
                                version == 1 ? "people" : "people who buy", cust);
    k->primary_key = "[\"id\"]";
    k = add_table(c, "sales", "orders", hostile_comment, version == 1 ? ord1 : ord2);
    k->primary_key = "[\"id\"]";
    k->foreign_keys = "[{\"name\":\"orders_customer_fk\",\"columns\":[\"customer_id\"],"
                      "\"ref_schema\":\"sales\",\"ref_container\":\"customers\","
                      "\"ref_columns\":[\"id\"]}]";
    if (version == 1)
        add_table(c, "sales", "doomed", NULL, one);
    add_table(c, "sales", evil_table, hostile_comment, evil_cols);
    add_table(c, "../up", "../../etc/passwd", NULL, one);
    add_table(c, "../up", "Index", NULL, one);
    mc_catalog_finish(c);
    return c;
}

static void record(store *s, const char *ds, mc_catalog *cur, bool baseline)
{
    mc_error err = {0};
    int64_t run = 0;
    mc_catalog *prev = NULL;
    diff_result dr = {0};
    cr_assert_eq(store_run_begin(s, ds, 0, &run, &err), 0, "%s", err.message);
    cr_assert_eq(store_load_current(s, ds, &prev, &err), 0, "%s", err.message);
    diff_opts o = {.allow_removals = true, .max_removed_pct = 100, .accept_removals = true};
    cr_assert_eq(diff_catalogs(s, prev, cur, &o, &dr, &err), 0, "%s", err.message);
    mc_run_summary sum = {.status = MC_RUN_OK, .dialect = "postgresql",
                          .server_version = "PostgreSQL 15", .baseline = baseline};
    cr_assert_eq(store_commit_run(s, run, prev, cur, &dr.changes, dr.cur_to_prev,
                                  dr.hold_back, dr.n_hold_back, &sum, &err),
                 0, "%s", err.message);
    diff_result_free(&dr);
    mc_catalog_free(prev);
    mc_catalog_free(cur);
}

static site_stats build(store *s, const char *out, site_format fmt)
{
    site_opts o = {.out_dir = out, .format = fmt};
    site_stats st;
    mc_error err = {0};
    cr_assert_eq(site_build(s, NULL, 0, &o, &st, &err), 0, "site_build: %s", err.message);
    return st;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    mc_buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        mc_buf_append(&b, chunk, n);
    fclose(f);
    return mc_buf_steal(&b);
}

/* Every regular file under dir, as sorted relative paths. */
static void list_files(const char *dir, const char *rel, char ***out, size_t *n)
{
    char *path = NULL;
    cr_assert(asprintf(&path, "%s%s%s", dir, *rel ? "/" : "", rel) > 0);
    DIR *d = opendir(path);
    cr_assert_not_null(d, "%s", path);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *r = NULL, *full = NULL;
        cr_assert(asprintf(&r, "%s%s%s", rel, *rel ? "/" : "", e->d_name) > 0);
        cr_assert(asprintf(&full, "%s/%s", path, e->d_name) > 0);
        struct stat sb;
        cr_assert_eq(lstat(full, &sb), 0);
        if (S_ISDIR(sb.st_mode)) {
            list_files(dir, r, out, n);
            free(r);
        } else {
            *out = realloc(*out, (*n + 1) * sizeof **out);
            (*out)[(*n)++] = r;
        }
        free(full);
    }
    closedir(d);
    free(path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **files_of(const char *dir, size_t *n)
{
    char **v = NULL;
    *n = 0;
    list_files(dir, "", &v, n);
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static void assert_same_tree(const char *a, const char *b)
{
    size_t na, nb;
    char **fa = files_of(a, &na), **fb = files_of(b, &nb);
    cr_assert_eq(na, nb, "%zu files against %zu", na, nb);
    for (size_t i = 0; i < na; i++) {
        cr_assert_str_eq(fa[i], fb[i]);
        char *pa = NULL, *pb = NULL;
        cr_assert(asprintf(&pa, "%s/%s", a, fa[i]) > 0 && asprintf(&pb, "%s/%s", b, fb[i]) > 0);
        char *ca = slurp(pa), *cb = slurp(pb);
        cr_assert_str_eq(ca, cb, "%s differs", fa[i]);
        free(ca);
        free(cb);
        free(pa);
        free(pb);
    }
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

Test(site, same_store_same_bytes_and_nothing_rewritten)
{
    store *s = open_store();
    record(s, "dw", catalog_v(1), true);
    record(s, "dw", catalog_v(2), false);
    char *a = tpath("a"), *b = tpath("b");
    site_stats st = build(s, a, SITE_HTML);
    cr_assert_eq(st.n_written, st.n_files);
    cr_assert_eq(st.n_containers, 5);
    build(s, b, SITE_HTML);
    assert_same_tree(a, b);

    /* An unchanged rebuild touches nothing: mtimes set in the past stay. */
    size_t n;
    char **files = files_of(a, &n);
    struct timeval old[2] = {{1000000000, 0}, {1000000000, 0}};
    for (size_t i = 0; i < n; i++) {
        char *p = NULL;
        cr_assert(asprintf(&p, "%s/%s", a, files[i]) > 0);
        cr_assert_eq(utimes(p, old), 0);
        free(p);
    }
    st = build(s, a, SITE_HTML);
    cr_assert_eq(st.n_written, 0, "%zu files rewritten", st.n_written);
    cr_assert_eq(st.n_removed, 0);
    for (size_t i = 0; i < n; i++) {
        char *p = NULL;
        struct stat sb;
        cr_assert(asprintf(&p, "%s/%s", a, files[i]) > 0);
        cr_assert_eq(stat(p, &sb), 0);
        cr_assert_eq(sb.st_mtime, 1000000000, "%s was rewritten", files[i]);
        free(p);
    }
    store_close(s);
}

Test(site, dropped_pages_go_and_only_changed_pages_are_rewritten)
{
    store *s = open_store();
    record(s, "dw", catalog_v(1), true);
    char *out = tpath("site");
    build(s, out, SITE_HTML);
    char *doomed = tpath("site/catalog/dw/sales/doomed.html");
    char *orders = tpath("site/catalog/dw/sales/orders.html");
    char *untouched = tpath("site/catalog/dw/-2e-2e-2fup/-49ndex.html");
    cr_assert(exists(doomed));
    struct timeval old[2] = {{1000000000, 0}, {1000000000, 0}};
    cr_assert_eq(utimes(orders, old), 0);
    cr_assert_eq(utimes(untouched, old), 0);

    record(s, "dw", catalog_v(2), false);
    site_stats st = build(s, out, SITE_HTML);
    cr_assert(!exists(doomed), "the dropped container's page is still there");
    cr_assert_geq(st.n_removed, 1);
    struct stat sb;
    cr_assert_eq(stat(orders, &sb), 0);
    cr_assert_neq(sb.st_mtime, 1000000000, "the changed page was not rewritten");
    char *page = slurp(orders);
    cr_assert(strstr(page, "shipped_at"), "the new column is missing");
    cr_assert_eq(stat(untouched, &sb), 0);
    cr_assert_eq(sb.st_mtime, 1000000000, "an unchanged page was rewritten");
    /* index, schema page, the two changed containers, changes, feed and the
     * two search files: nothing else */
    cr_assert_leq(st.n_written, 8, "%zu of %zu files rewritten", st.n_written, st.n_files);
    /* the removal is in the recent changes and the feed */
    char *changes = slurp(tpath("site/changes.html"));
    cr_assert(strstr(changes, "sales.doomed"), "%s", changes);
    char *feed = slurp(tpath("site/feed.atom"));
    cr_assert(strstr(feed, "<id>urn:metacrawl:run:dw:2</id>"), "%s", feed);
    store_close(s);
}

Test(site, hostile_names_stay_text_and_inside_the_site)
{
    store *s = open_store();
    record(s, "dw", catalog_v(1), true);
    record(s, "dw", catalog_v(2), false);
    char *out = tpath("site");
    build(s, out, SITE_HTML);
    size_t n;
    char **files = files_of(out, &n);
    for (size_t i = 0; i < n; i++) {
        /* every path is made of the file-name alphabet and our separators */
        for (const char *p = files[i]; *p; p++)
            cr_assert((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                          strchr("_-./", *p),
                      "path %s", files[i]);
        cr_assert_null(strstr(files[i], ".."), "path %s", files[i]);
        char *p = NULL;
        cr_assert(asprintf(&p, "%s/%s", out, files[i]) > 0);
        char *text = slurp(p);
        cr_assert_null(strstr(text, "<script>document"), "raw script in %s", files[i]);
        cr_assert_null(strstr(text, "<img src=x"), "raw img in %s", files[i]);
        cr_assert_null(strstr(text, "<b>x</b>"), "raw markup in %s", files[i]);
        if (strncmp(files[i], "search/", 7) == 0)
            for (const char *q = text; *q; q++)
                cr_assert(*q != '<' && (unsigned char)*q < 0x80, "%s: raw < or non-ASCII",
                          files[i]);
        free(text);
        free(p);
    }
    char *page = slurp(tpath("site/catalog/dw/sales/orders.html"));
    cr_assert(strstr(page, "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"),
              "the comment is not shown as text");
    cr_assert(strstr(page, "href=\"../../../catalog/dw/sales/customers.html\""),
              "no foreign key link");
    char *cust = slurp(tpath("site/catalog/dw/sales/customers.html"));
    cr_assert(strstr(cust, "Referenced by <a href=\"../../../catalog/dw/sales/orders.html\">"),
              "no incoming foreign key");
    cr_assert(strstr(cust, "people who buy"));
    store_close(s);
}

Test(site, markdown_escapes_and_keeps_tables_whole)
{
    store *s = open_store();
    record(s, "dw", catalog_v(1), true);
    char *out = tpath("md");
    build(s, out, SITE_MARKDOWN);
    cr_assert(exists(tpath("md/README.md")));
    cr_assert(!exists(tpath("md/index.html")));
    cr_assert(!exists(tpath("md/search")), "no search index in Markdown");
    char *name = fname(evil_table);
    char *rel = NULL;
    cr_assert(asprintf(&rel, "md/catalog/dw/sales/%s.md", name) > 0);
    char *page = slurp(tpath(rel));
    cr_assert(strstr(page, "\\<script\\>document\\.title\\=\\'pwned\\'\\<\\/script\\> \\| \\*x\\*"),
              "%s", page);
    cr_assert(strstr(page, "a\\|b"), "pipe in a column name not escaped");
    /* every table row has as many cell separators as its header */
    for (char *line = strtok(page, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != '|')
            continue;
        size_t bars = 0;
        for (char *p = line; *p; p++) {
            if (*p == '\\' && p[1]) {
                p++;
                continue;
            }
            bars += *p == '|';
        }
        cr_assert(bars == 7 || bars == 5, "row with %zu separators: %s", bars, line);
    }
    store_close(s);
}

Test(site, leaves_other_files_and_outside_paths_alone)
{
    store *s = open_store();
    record(s, "dw", catalog_v(1), true);
    char *out = tpath("site");
    cr_assert_eq(mkdir(out, 0777), 0);
    /* the publisher's own file, and a manifest doctored to point outside */
    FILE *f = fopen(tpath("site/CNAME"), "w");
    fputs("docs.example.com\n", f);
    fclose(f);
    f = fopen(tpath("victim"), "w");
    fputs("keep me\n", f);
    fclose(f);
    f = fopen(tpath("site/.metacrawl-site"), "w");
    fputs("../victim\n/etc/hostname\nCNAME/../../victim\n", f);
    fclose(f);
    build(s, out, SITE_HTML);
    cr_assert(exists(tpath("victim")), "a manifest entry outside the site was deleted");
    cr_assert(exists(tpath("site/CNAME")), "a file of the publisher was deleted");
    store_close(s);
}

Test(site, unknown_datastore_is_a_usage_error)
{
    store *s = open_store();
    record(s, "dw", catalog_v(1), true);
    const char *names[] = {"nope"};
    site_opts o = {.out_dir = tpath("x")};
    site_stats st;
    mc_error err = {0};
    cr_assert_neq(site_build(s, names, 1, &o, &st, &err), 0);
    cr_assert_eq(err.code, MC_EXIT_USAGE);
    cr_assert(strstr(err.hint, "dw"), "%s", err.hint);
    o.base_url = "javascript:alert(1)";
    mc_error_clear(&err);
    cr_assert_neq(site_build(s, NULL, 0, &o, &st, &err), 0);
    cr_assert_eq(err.code, MC_EXIT_USAGE);
    store_close(s);
}

/* ---- diagrams of a large schema ------------------------------------------------------ */

/* Schema "big": t00 ... t39, each referencing the next (a chain) and the hub
 * "hub" (so hub has 40 containers downstream). */
static mc_catalog *big_catalog(int n_tables)
{
    mc_catalog *c = mc_catalog_new();
    add_schema(c, "big", NULL);
    static const char *const cols[] = {"id", "next_id", "hub_id", NULL};
    static const char *const hub_cols[] = {"id", NULL};
    mc_container *h = add_table(c, "big", "hub", NULL, hub_cols);
    h->primary_key = "[\"id\"]";
    for (int i = 0; i < n_tables; i++) {
        char name[16], next[16];
        snprintf(name, sizeof name, "t%02d", i);
        snprintf(next, sizeof next, "t%02d", (i + 1) % n_tables);
        mc_container *k = add_table(c, "big", name, NULL, cols);
        k->primary_key = "[\"id\"]";
        mc_buf fk = {0};
        mc_buf_printf(&fk, "[{\"name\":\"%s_next\",\"columns\":[\"next_id\"],\"ref_schema\":\"big\","
                           "\"ref_container\":\"%s\",\"ref_columns\":[\"id\"]},"
                           "{\"name\":\"%s_hub\",\"columns\":[\"hub_id\"],\"ref_schema\":\"big\","
                           "\"ref_container\":\"hub\",\"ref_columns\":[\"id\"]}]",
                      name, next, name);
        k->foreign_keys = mc_arena_strdup(c->arena, mc_buf_str(&fk));
        mc_buf_free(&fk);
    }
    mc_catalog_finish(c);
    return c;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

Test(site, large_er_diagram_gets_its_own_page)
{
    store *s = open_store();
    record(s, "dw", big_catalog(40), true);
    char *out = tpath("site");
    build(s, out, SITE_HTML);
    char *schema = slurp(tpath("site/catalog/dw/big.html"));
    cr_assert_null(strstr(schema, "<svg"), "a 41-table diagram inline");
    cr_assert(strstr(schema, "has 41 tables, too many to read here. "
                             "<a href=\"../../catalog/dw/big.erd.html\">Open the full-size "
                             "diagram</a>."), "%s", schema);
    char *full = slurp(tpath("site/catalog/dw/big.erd.html"));
    cr_assert_eq(count_of(full, "<svg "), 1);
    cr_assert_eq(count_of(full, "class=\"node\""), 41, "%s", full);
    cr_assert(strstr(full, "<div class=\"diagram-full\">"));
    /* the hub: 12 of the 40 tables that reference it, the rest counted */
    char *hub = slurp(tpath("site/catalog/dw/big/hub.html"));
    cr_assert(strstr(hub, ">28 more downstream</text>"), "%s", hub);
    cr_assert_eq(count_of(hub, "class=\"node"), 1 + 12 + 1, "%s", hub);
    /* a table of the chain: its cycle (t39 -> t00) is 3 steps deep each way */
    char *t05 = slurp(tpath("site/catalog/dw/big/t05.html"));
    cr_assert(strstr(t05, "<g id=\"d&#45;big&#45;&#45;t05\" class=\"node focus\">"), "%s", t05);

    /* Markdown: the same page, as Mermaid */
    char *md = tpath("md");
    build(s, md, SITE_MARKDOWN);
    char *smd = slurp(tpath("md/catalog/dw/big.md"));
    cr_assert(strstr(smd, "[Open the full\\-size diagram](../../catalog/dw/big.erd.md)") ||
              strstr(smd, "[Open the full-size diagram](../../catalog/dw/big.erd.md)"), "%s", smd);
    char *fmd = slurp(tpath("md/catalog/dw/big.erd.md"));
    cr_assert(strstr(fmd, "```mermaid\nerDiagram\n"), "%s", fmd);

    /* smaller: inline again, and the full-size page goes */
    record(s, "dw", big_catalog(10), false);
    build(s, out, SITE_HTML);
    schema = slurp(tpath("site/catalog/dw/big.html"));
    cr_assert_eq(count_of(schema, "<svg "), 1);
    cr_assert_neq(access(tpath("site/catalog/dw/big.erd.html"), F_OK), 0,
                  "the full-size page of a diagram now inline is still there");
    store_close(s);
}
