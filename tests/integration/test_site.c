/*
 * test_site.c — the docs site built from a real crawl of a catalog written
 * by an attacker (tests/integration/site/hostile.sql: <script>, quotes, &,
 * non-ASCII, </script>, ../ in names and comments), then changed
 * (site/changes.sql) and crawled again.
 *
 *   generated_from_a_crawl: the pages and their escaping, the feed parses as
 *     XML (xmllint), two builds are byte-identical, an unchanged rebuild
 *     writes nothing, a dropped table's page is removed, only changed pages
 *     are rewritten, and the Markdown format.
 *   browser: Debian's headless Chromium loads the index and a table page,
 *     types into the search box, follows search results and foreign-key
 *     links with real mouse clicks, and checks on every page that no
 *     injected script ran, no injected element exists and nothing was
 *     loaded from anywhere but the site; it opens a schema page with an ER
 *     diagram, checks the diagram is drawn and holds the hostile names as
 *     text, and follows a link of the diagram.  It is driven over the DevTools
 *     protocol on a pipe (--remote-debugging-pipe: NUL-separated JSON on
 *     fds 3 and 4), so it needs no driver library, no port and no network.
 *     Skipped, with the reason, when chromium is not installed
 *     (tests/install-deps.sh installs it).  Bounded: BROWSER_SECONDS.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define BROWSER_SECONDS 60

/* ---- the catalog ------------------------------------------------------------- */

static char *fixture(const char *name)
{
    return itest_read_file(itest_strf("%s/tests/integration/site/%s",
                                      itest_env("MC_SOURCE_ROOT"), name));
}

static const char *const *pw_env(void)
{
    static const char *env[2];
    env[0] = itest_strf("MC_TEST_DS_PASSWORD=%s", itest_env("MC_TEST_PGPASSWORD"));
    env[1] = NULL;
    return env;
}

static itest_result mc(const char *cfg, const char *a1, const char *a2, const char *a3,
                       const char *a4, const char *a5)
{
    const char *argv[] = {"-c", cfg, a1, a2, a3, a4, a5, NULL};
    return itest_run(argv, pw_env(), NULL);
}

static void crawl(const char *cfg)
{
    itest_result r = mc(cfg, "crawl", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "crawl: %s%s", r.out, r.err);
}

/* A database of its own with the hostile catalog, crawled once; returns the
 * config, with its directory and a connection for changing the catalog. */
static char *hostile_store(const char *prefix, char **dir_out, PGconn **conn_out)
{
    char *db = itest_create_db(prefix);
    PGconn *c = itest_connect(db);
    itest_sql(c, "%s", fixture("hostile.sql"));
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, itest_env("MC_TEST_PGUSER"),
                                   itest_env("MC_TEST_PGPASSWORD"), NULL);
    crawl(cfg);
    *dir_out = dir;
    *conn_out = c;
    return cfg;
}

static json_t *docs(const char *cfg, const char *out, const char *format)
{
    itest_result r = mc(cfg, "docs", "--out", out, "--json",
                        format ? itest_strf("--format=%s", format) : NULL);
    cr_assert_eq(r.status, 0, "docs: %s%s", r.out, r.err);
    return itest_parse_json(r.out);
}

static long jint(json_t *o, const char *key)
{
    return (long)json_integer_value(json_object_get(o, key));
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static time_t mtime(const char *path)
{
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s: %s", path, strerror(errno));
    return sb.st_mtime;
}

static void age(const char *path)
{
    struct timeval old[2] = {{1000000000, 0}, {1000000000, 0}};
    cr_assert_eq(utimes(path, old), 0, "%s", path);
}

static bool have_program(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char *copy = strdup(path);
    bool found = false;
    for (char *d = strtok(copy, ":"); d && !found; d = strtok(NULL, ":")) {
        char *p = itest_strf("%s/%s", d, name);
        found = access(p, X_OK) == 0;
        free(p);
    }
    free(copy);
    return found;
}

/* ---- pages from a crawl ----------------------------------------------------------- */

/* The one inline <svg> of a page, written to a file of its own. */
static char *page_svg(const char *dir, const char *page, const char *name)
{
    char *text = itest_read_file(page);
    char *start = strstr(text, "<svg ");
    cr_assert_not_null(start, "no diagram on %s", page);
    char *end = strstr(start, "</svg>");
    cr_assert_not_null(end);
    cr_assert_null(strstr(end, "<svg "), "a second diagram on %s", page);
    end[strlen("</svg>")] = '\0';
    char *path = itest_strf("%s/%s.svg", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(start, f);
    fclose(f);
    return path;
}

/* xmllint --xpath EXPR FILE, its answer without the final newline. */
static char *xpath(const char *file, const char *expr)
{
    const char *args[] = {"--xpath", expr, file, NULL};
    itest_result x = itest_run_program("xmllint", args, NULL, NULL);
    cr_assert_eq(x.status, 0, "xmllint --xpath %s %s: %s", expr, file, x.err);
    size_t n = strlen(x.out);
    if (n && x.out[n - 1] == '\n')
        x.out[n - 1] = '\0';
    return x.out;
}


static void diagrams(const char *dir, const char *site)
{
    char *sales = itest_strf("%s/catalog/test/sales.html", site);
    char *schema_page = itest_read_file(sales);
    cr_assert(strstr(schema_page, "<h2 id=\"diagram\">Diagram</h2>\n<figure class=\"diagram\">\n"
                                  "<svg role=\"img\" aria-label=\"Foreign keys of schema sales\""),
              "%s", schema_page);
    char *orders = itest_read_file(itest_strf("%s/catalog/test/sales/orders.html", site));
    cr_assert(strstr(orders, "<h2 id=\"dependencies\">Upstream and downstream</h2>"), "%s", orders);
    if (!have_program("xmllint")) {
        cr_log_warn("xmllint missing (libxml2-utils): the diagrams were not parsed");
        return;
    }
    char *erd = page_svg(dir, sales, "erd");
    const char *args[] = {"--noout", erd, NULL};
    itest_result x = itest_run_program("xmllint", args, NULL, NULL);
    cr_assert_eq(x.status, 0, "the ER diagram is not well-formed XML: %s", x.err);
    /* the nodes: every sales table with a foreign key, and t of the hostile
     * schema (which references customers), named with its schema */
    static const char *const nodes[][2] = {
        {"d-sales--customers", "customers"},
        {"d-sales--orders", "orders"},
        {"d-sales---2e-2e-2fx", "../x"},
        {"d-sales---3c-2fscript-3e-3cscript-3edocument-2etitle-3d-27pwned-27-3c-2fscript-3e",
         "</script><script>document.title='pwned'</script>"},
        {"d-sales---3cimg-20src-3dx-20onerror-3ddocument-2etitle-3d-27pwned-27-3e",
         "<img src=x onerror=document.title='pwned'>"},
        {"d-sales---22quoted-22-20-26-20-27apos-27", "\"quoted\" & 'apos'"},
        {"d--3csvg-20onload-3ddocument-2etitle-3d-27pwned-27-3e--t", "t"},
    };
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        const char *label = xpath(erd, itest_strf("string(//*[@id='%s']//*[local-name()='text']"
                                                  "[%d])", nodes[i][0], i == 6 ? 2 : 1));
        cr_assert_str_eq(label, nodes[i][1], "node %s", nodes[i][0]);
    }
    cr_assert_str_eq(xpath(erd, "count(//*[local-name()='g'][starts-with(@class,'node')])"), "7");
    cr_assert_str_eq(xpath(erd, "string(//*[@id='d--3csvg-20onload-3ddocument-2etitle-3d-27pwned"
                                "-27-3e--t']//*[local-name()='text'][1])"),
                     "<svg onload=document.title='pwned'>");
    /* the edges (referencing -> referenced): the chain, the cycle both ways,
     * the self-reference, the key from the other schema */
    static const char *const edges[][2] = {
        {"d-sales--orders", "d-sales--customers"},
        {"d-sales--customers", "d-sales---2e-2e-2fx"},
        {"d-sales---3c-2fscript-3e-3cscript-3edocument-2etitle-3d-27pwned-27-3c-2fscript-3e",
         "d-sales---3cimg-20src-3dx-20onerror-3ddocument-2etitle-3d-27pwned-27-3e"},
        {"d-sales---3cimg-20src-3dx-20onerror-3ddocument-2etitle-3d-27pwned-27-3e",
         "d-sales---3c-2fscript-3e-3cscript-3edocument-2etitle-3d-27pwned-27-3c-2fscript-3e"},
        {"d-sales---22quoted-22-20-26-20-27apos-27", "d-sales---22quoted-22-20-26-20-27apos-27"},
        {"d--3csvg-20onload-3ddocument-2etitle-3d-27pwned-27-3e--t", "d-sales--customers"},
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        cr_assert_str_eq(xpath(erd, itest_strf("count(//*[local-name()='g'][@class='edge fk']"
                                               "[*[local-name()='title']='%s->%s'])",
                                               edges[i][0], edges[i][1])),
                         "1", "edge %s -> %s", edges[i][0], edges[i][1]);
    cr_assert_str_eq(xpath(erd, "count(//*[local-name()='g'][starts-with(@class,'edge')])"), "6");
    cr_assert_str_eq(xpath(erd, "count(//*[local-name()='script'] | //@*[starts-with(name(),'on')])"),
                     "0");
    /* a node links to its table's page */
    cr_assert_str_eq(xpath(erd, "string(//*[@id='a_d-sales--orders']/*[local-name()='a']/@*"
                                "[local-name()='href'])"),
                     "../../catalog/test/sales/orders.html");

    /* orders: customers and ../x upstream (transitively), nothing downstream */
    char *og = page_svg(dir, itest_strf("%s/catalog/test/sales/orders.html", site), "orders");
    cr_assert_str_eq(xpath(og, "string(//*[@id='d-sales--orders']/@class)"), "node focus");
    cr_assert_str_eq(xpath(og, "count(//*[local-name()='g'][starts-with(@class,'node')])"), "3");
    cr_assert_str_eq(xpath(og, "count(//*[local-name()='g'][@class='edge fk']"
                               "[*[local-name()='title']='d-sales--customers->d-sales--orders'])"),
                     "1");
}

Test(site, generated_from_a_crawl, .timeout = 300)
{
    char *dir;
    PGconn *c;
    char *cfg = hostile_store("sitegen", &dir, &c);
    char *site = itest_strf("%s/site", dir);
    json_t *j1 = docs(cfg, site, NULL);
    cr_assert_eq(jint(j1, "containers"), 12, "%s", json_dumps(j1, 0));
    cr_assert_eq(jint(j1, "written"), jint(j1, "files"));
    char *doomed = itest_strf("%s/catalog/test/sales/doomed.html", site);
    char *orders = itest_strf("%s/catalog/test/sales/orders.html", site);
    char *traversal = itest_strf("%s/catalog/test/sales/-2e-2e-2fx.html", site);
    cr_assert(exists(doomed) && exists(orders) && exists(traversal));
    cr_assert(!exists(itest_strf("%s/x.html", dir)), "a name escaped the site");

    /* the attacker's text is on the pages, as text */
    char *cust = itest_read_file(itest_strf("%s/catalog/test/sales/customers.html", site));
    cr_assert(strstr(cust, "<p class=\"comment\">&lt;script&gt;document.title=&#39;pwned&#39;"
                           "&lt;/script&gt;</p>"), "%s", cust);
    cr_assert(strstr(cust, "&lt;img src=x onerror=&quot;document.title=&#39;pwned&#39;&quot;&gt;"));
    cr_assert_null(strstr(cust, "<script>"));
    char *evil = itest_read_file(itest_strf(
        "%s/catalog/test/sales/-3c-2fscript-3e-3cscript-3edocument-2etitle-3d-27pwned-27-3c-2fscript-3e.html",
        site));
    cr_assert(strstr(evil, "<title>sales.&lt;/script&gt;&lt;script&gt;document.title=&#39;pwned&#39;"
                           "&lt;/script&gt; · test · metacrawl</title>"), "%s", evil);
    char *fence = itest_read_file(itest_strf("%s/catalog/test/sales/v_fence.html", site));
    cr_assert(strstr(fence, "&lt;/pre&gt;&lt;script&gt;"), "view definition not escaped");

    /* the diagrams: the schema's ER diagram and a table's neighbours, inline
     * SVG that parses, with the hostile names as text (diagrams() below) */
    diagrams(dir, site);

    /* an unchanged rebuild writes nothing */
    json_t *j2 = docs(cfg, site, NULL);
    cr_assert_eq(jint(j2, "written"), 0, "%s", json_dumps(j2, 0));

    /* change the catalog, crawl, rebuild */
    itest_sql(c, "%s", fixture("changes.sql"));
    crawl(cfg);
    char *index_js = itest_strf("%s/assets/search.js", site);
    char *untouched = itest_strf("%s/catalog/test/sales/-49ndex.html", site);
    age(orders);
    age(untouched);
    age(index_js);
    json_t *j3 = docs(cfg, site, NULL);
    cr_assert(!exists(doomed), "the dropped table's page is still there");
    cr_assert_eq(jint(j3, "removed"), 1, "%s", json_dumps(j3, 0));
    cr_assert_neq(mtime(orders), 1000000000, "the changed page was not rewritten");
    cr_assert_eq(mtime(untouched), 1000000000, "an unchanged page was rewritten");
    cr_assert_eq(mtime(index_js), 1000000000, "an asset was rewritten");
    cr_assert_leq(jint(j3, "written"), 9, "%s", json_dumps(j3, 0));
    char *op = itest_read_file(orders);
    cr_assert(strstr(op, "<code>shipped_at</code>"), "new column missing");
    cr_assert(strstr(op, "column <code>amount</code> type: <code>integer</code> → "
                         "<code>bigint</code> <span class=\"badge breaking\">breaking</span>"),
              "%s", op);
    cr_assert(strstr(op, "column renamed from <code>a|b</code> to <code>a|c</code>"));
    char *changes = itest_read_file(itest_strf("%s/changes.html", site));
    cr_assert(strstr(changes, "<code>sales.doomed</code>: table removed"), "%s", changes);

    /* the feed is XML, and its ids and dates come from the store */
    char *feed = itest_strf("%s/feed.atom", site);
    if (have_program("xmllint")) {
        const char *args[] = {"--noout", feed, NULL};
        itest_result x = itest_run_program("xmllint", args, NULL, NULL);
        cr_assert_eq(x.status, 0, "feed.atom is not well-formed XML: %s", x.err);
    } else {
        cr_log_warn("xmllint missing (libxml2-utils): feed.atom not parsed");
    }
    char *ft = itest_read_file(feed);
    cr_assert(strstr(ft, "<id>urn:metacrawl:run:test:"), "%s", ft);
    cr_assert_null(strstr(ft, "<svg onload"), "raw markup in the feed");

    /* same store, same bytes */
    char *site2 = itest_strf("%s/site2", dir);
    docs(cfg, site2, NULL);
    const char *dargs[] = {"-r", site, site2, NULL};
    itest_result d = itest_run_program("diff", dargs, NULL, NULL);
    cr_assert_eq(d.status, 0, "two builds differ:\n%s", d.out);

    /* Markdown */
    char *md = itest_strf("%s/md", dir);
    json_t *jm = docs(cfg, md, "markdown");
    cr_assert_eq(jint(jm, "containers"), 11);
    char *readme = itest_read_file(itest_strf("%s/README.md", md));
    cr_assert(strstr(readme, "[\\<svg onload\\=document\\.title\\=\\'pwned\\'\\>]("
                             "catalog/test/-3csvg-20onload-3ddocument-2etitle-3d-27pwned-27-3e.md)"),
              "%s", readme);
    char *omd = itest_read_file(itest_strf("%s/catalog/test/sales/orders.md", md));
    cr_assert(strstr(omd, "| a\\|c | integer |"), "%s", omd);
    for (const char *p = omd; (p = strchr(p, '<')) != NULL; p++)
        cr_assert(p > omd && (p[-1] == '\\' || strncmp(p, "<br>", 4) == 0),
                  "an unescaped < in the Markdown: %.40s", p);
    char *smd = itest_read_file(itest_strf("%s/catalog/test/sales.md", md));
    cr_assert(strstr(smd, "## Diagram\n\n```mermaid\nerDiagram\n"), "%s", smd);
    cr_assert(strstr(smd, "[\"#60;/script#62;#60;script#62;document.title#61;#39;pwned#39;"
                          "#60;/script#62;\"]"), "%s", smd);
    cr_assert(strstr(omd, "```mermaid\nflowchart LR\n"), "%s", omd);
    char *vmd = itest_read_file(itest_strf("%s/catalog/test/sales/v_fence.md", md));
    cr_assert(strstr(vmd, "~~~~~sql\n"), "the fence must outgrow the ~~~~ inside: %s", vmd);
    PQfinish(c);
}

/* ---- the browser -------------------------------------------------------------------- */

typedef struct cdp {
    pid_t pid;
    int to, from;            /* our ends of chromium's fds 3 and 4 */
    int next_id;
    char *session;
    char *buf;
    size_t len, cap;
    double deadline;
} cdp;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *find_chromium(void)
{
    const char *env = getenv("MC_TEST_CHROMIUM");
    if (env && *env)
        return env;
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (have_program(names[i]))
            return names[i];
    return NULL;
}

static void cdp_start(cdp *b, const char *chromium, const char *profile, const char *log)
{
    int to[2], from[2];
    cr_assert_eq(pipe(to), 0);
    cr_assert_eq(pipe(from), 0);
    memset(b, 0, sizeof *b);
    b->deadline = now_s() + BROWSER_SECONDS;
    b->pid = fork();
    cr_assert_neq(b->pid, -1);
    if (b->pid == 0) {
        /* fds 3 and 4 are the protocol: move the pipe ends out of the way
         * first, whatever numbers they got */
        int r = fcntl(to[0], F_DUPFD, 10), w = fcntl(from[1], F_DUPFD, 10);
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (r < 0 || w < 0 || out < 0 || dup2(r, 3) < 0 || dup2(w, 4) < 0 ||
            dup2(out, 1) < 0 || dup2(out, 2) < 0)
            _exit(127);
        for (int fd = 5; fd < 1024; fd++)
            close(fd);
        setpgid(0, 0);
        char *udd = itest_strf("--user-data-dir=%s", profile);
        execlp(chromium, chromium, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-extensions",
               "--disable-dev-shm-usage", "--remote-debugging-pipe", udd,
               "about:blank", (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    b->to = to[1];
    b->from = from[0];
    signal(SIGPIPE, SIG_IGN);
}

static void cdp_stop(cdp *b)
{
    if (b->pid <= 0)
        return;
    close(b->to);
    close(b->from);
    kill(-b->pid, SIGTERM);
    for (int i = 0; i < 50; i++) {
        if (waitpid(b->pid, NULL, WNOHANG) == b->pid) {
            b->pid = 0;
            return;
        }
        usleep(100000);
    }
    kill(-b->pid, SIGKILL);
    waitpid(b->pid, NULL, 0);
    b->pid = 0;
}

/* The next NUL-terminated message, parsed; fails the test at the deadline. */
static json_t *cdp_read(cdp *b)
{
    for (;;) {
        char *nul = b->len ? memchr(b->buf, '\0', b->len) : NULL;
        if (nul) {
            size_t n = (size_t)(nul - b->buf);
            json_error_t jerr;
            json_t *msg = json_loadb(b->buf, n, 0, &jerr);
            cr_assert_not_null(msg, "bad message from chromium: %s", jerr.text);
            memmove(b->buf, nul + 1, b->len - n - 1);
            b->len -= n + 1;
            return msg;
        }
        double left = b->deadline - now_s();
        if (left <= 0) {
            cdp_stop(b);
            cr_assert_fail("the browser test took more than %d s", BROWSER_SECONDS);
        }
        struct pollfd pfd = {b->from, POLLIN, 0};
        int pr = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (pr <= 0)
            continue;
        if (b->cap - b->len < 65536) {
            b->cap = b->cap ? b->cap * 2 : 262144;
            b->buf = realloc(b->buf, b->cap);
        }
        ssize_t r = read(b->from, b->buf + b->len, b->cap - b->len);
        if (r <= 0) {
            cdp_stop(b);
            cr_assert_fail("chromium closed the DevTools pipe");
        }
        b->len += (size_t)r;
    }
}

/* Whether a CDP error says only that the page navigated while the command
 * ran: a poll during a navigation then asks again. */
static bool navigation_race(json_t *error)
{
    const char *m = json_string_value(json_object_get(error, "message"));
    return m && (strstr(m, "Inspected target navigated or closed") ||
                 strstr(m, "Cannot find context with specified id") ||
                 strstr(m, "Execution context was destroyed"));
}

static json_t *cdp_call_x(cdp *b, const char *method, json_t *params, bool *raced);

/* Sends a command (to the page session when attached) and returns its
 * result; events on the way are dropped. */
static json_t *cdp_call(cdp *b, const char *method, json_t *params)
{
    return cdp_call_x(b, method, params, NULL);
}

/* The same; with raced non-NULL, a navigation race (navigation_race) is not
 * a failure: *raced is set and NULL returned. */
static json_t *cdp_call_x(cdp *b, const char *method, json_t *params, bool *raced)
{
    int id = ++b->next_id;
    json_t *msg = json_pack("{s:i, s:s, s:o}", "id", id, "method", method, "params",
                            params ? params : json_object());
    if (b->session)
        json_object_set_new(msg, "sessionId", json_string(b->session));
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    size_t n = strlen(text) + 1; /* the NUL is the frame */
    for (size_t done = 0; done < n;) {
        ssize_t w = write(b->to, text + done, n - done);
        if (w <= 0) {
            cdp_stop(b);
            cr_assert_fail("cannot write to chromium: %s", strerror(errno));
        }
        done += (size_t)w;
    }
    free(text);
    for (;;) {
        json_t *reply = cdp_read(b);
        if (json_integer_value(json_object_get(reply, "id")) != id) {
            json_decref(reply);
            continue;
        }
        json_t *error = json_object_get(reply, "error");
        if (error && raced && navigation_race(error)) {
            *raced = true;
            json_decref(reply);
            return NULL;
        }
        if (error) {
            char *e = json_dumps(error, 0);
            cdp_stop(b);
            cr_assert_fail("%s: %s", method, e);
        }
        json_t *result = json_incref(json_object_get(reply, "result"));
        json_decref(reply);
        return result;
    }
}

/* Evaluates JS in the page; returns its value (by value). */
static json_t *js(cdp *b, const char *expr)
{
    json_t *r = cdp_call(b, "Runtime.evaluate",
                         json_pack("{s:s, s:b, s:b}", "expression", expr, "returnByValue", 1,
                                   "awaitPromise", 1));
    json_t *exc = json_object_get(r, "exceptionDetails");
    if (exc) {
        char *e = json_dumps(exc, 0);
        cdp_stop(b);
        cr_assert_fail("%s threw: %s", expr, e);
    }
    json_t *v = json_incref(json_object_get(json_object_get(r, "result"), "value"));
    json_decref(r);
    return v;
}

static char *js_str(cdp *b, const char *expr)
{
    json_t *v = js(b, expr);
    char *s = strdup(json_is_string(v) ? json_string_value(v) : "");
    json_decref(v);
    return s;
}

static bool js_true(cdp *b, const char *expr)
{
    json_t *v = js(b, expr);
    bool t = json_is_true(v);
    json_decref(v);
    return t;
}

/* expr's value is true; false also when a navigation interrupted it. */
static bool js_poll(cdp *b, const char *expr)
{
    bool raced = false;
    json_t *r = cdp_call_x(b, "Runtime.evaluate",
                           json_pack("{s:s, s:b, s:b}", "expression", expr, "returnByValue", 1,
                                     "awaitPromise", 1),
                           &raced);
    if (raced)
        return false;
    bool t = !json_object_get(r, "exceptionDetails") &&
             json_is_true(json_object_get(json_object_get(r, "result"), "value"));
    json_decref(r);
    return t;
}

/* Polls expr until it is true (loads and searches are asynchronous; a poll
 * that a navigation interrupts counts as not yet). */
static void wait_for(cdp *b, const char *expr, const char *what)
{
    while (!js_poll(b, expr)) {
        if (now_s() > b->deadline) {
            char *url = js_str(b, "location.href");
            cdp_stop(b);
            cr_assert_fail("timed out waiting for %s (at %s)", what, url);
        }
        usleep(50000);
    }
}

static void wait_page(cdp *b, const char *url_part)
{
    char *expr = itest_strf("location.href.indexOf(%s) >= 0 && "
                            "document.readyState === 'complete'",
                            json_dumps(json_string(url_part), JSON_ENCODE_ANY));
    wait_for(b, expr, url_part);
}

/* A real click: the mouse pressed and released at the element's centre. */
static void click(cdp *b, const char *selector)
{
    char *expr = itest_strf(
        "(function () { var e = document.querySelector(%s); if (!e) return null;"
        " e.scrollIntoView({block: 'center'}); var r = e.getBoundingClientRect();"
        " return [r.left + r.width / 2, r.top + r.height / 2]; })()",
        json_dumps(json_string(selector), JSON_ENCODE_ANY));
    json_t *xy = js(b, expr);
    if (!json_is_array(xy)) {
        char *url = js_str(b, "location.href");
        cdp_stop(b);
        cr_assert_fail("nothing matches %s on %s", selector, url);
    }
    double x = json_number_value(json_array_get(xy, 0));
    double y = json_number_value(json_array_get(xy, 1));
    json_decref(xy);
    static const char *const types[] = {"mousePressed", "mouseReleased"};
    for (int i = 0; i < 2; i++)
        json_decref(cdp_call(b, "Input.dispatchMouseEvent",
                             json_pack("{s:s, s:f, s:f, s:s, s:i}", "type", types[i], "x", x,
                                       "y", y, "button", "left", "clickCount", 1)));
}

static void type_text(cdp *b, const char *text)
{
    json_decref(cdp_call(b, "Input.insertText", json_pack("{s:s}", "text", text)));
}

static void press_enter(cdp *b)
{
    static const char *const types[] = {"keyDown", "keyUp"};
    for (int i = 0; i < 2; i++)
        json_decref(cdp_call(b, "Input.dispatchKeyEvent",
                             json_pack("{s:s, s:s, s:s, s:i, s:s}", "type", types[i], "key",
                                       "Enter", "code", "Enter", "windowsVirtualKeyCode", 13,
                                       "text", i == 0 ? "\r" : "")));
}

/* What must hold on every page of the site, whatever it shows. */
static void assert_clean_page(cdp *b, const char *expected_title)
{
    char *title = js_str(b, "document.title");
    cr_assert_str_eq(title, expected_title, "the title changed: an injected script ran");
    /* no element the warehouse could have injected */
    cr_assert(js_true(b, "document.querySelectorAll('[onerror],[onload],[onmouseover],"
                         "img,svg:not(figure.diagram > svg),iframe,object,embed,b,"
                         "foreignObject,script:not([src])').length === 0"),
              "an injected element exists on %s", title);
    /* scripts: only the site's own search code */
    cr_assert(js_true(b, "Array.prototype.every.call(document.scripts, function (s) {"
                         " return /\\/(assets\\/search|search\\/(index|[0-9a-f]{16}))\\.js$/"
                         ".test(s.src); })"),
              "a script element that is not the site's on %s", title);
    /* nothing came from anywhere but the site's own files */
    cr_assert(js_true(b, "performance.getEntriesByType('resource').every(function (e) {"
                         " return e.name.indexOf('file://') === 0; })"),
              "a request left the site on %s", title);
}

Test(site, browser, .timeout = 300)
{
    const char *chromium = find_chromium();
    if (!chromium)
        cr_skip_test("chromium is not installed (tests/install-deps.sh installs it); "
                     "the browser test needs it");
    char *dir;
    PGconn *c;
    char *cfg = hostile_store("sitebrowser", &dir, &c);
    itest_sql(c, "%s", fixture("changes.sql"));
    crawl(cfg);
    char *site = itest_strf("%s/site", dir);
    docs(cfg, site, NULL);

    cdp b;
    char *profile = itest_strf("%s/chromium-profile", dir);
    cdp_start(&b, chromium, profile, itest_strf("%s/chromium.log", dir));
    json_t *t = cdp_call(&b, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"));
    const char *target = json_string_value(json_object_get(t, "targetId"));
    cr_assert_not_null(target);
    json_t *a = cdp_call(&b, "Target.attachToTarget",
                         json_pack("{s:s, s:b}", "targetId", target, "flatten", 1));
    b.session = strdup(json_string_value(json_object_get(a, "sessionId")));

    /* 1. the index */
    char *index = itest_strf("file://%s/index.html", site);
    json_decref(cdp_call(&b, "Page.navigate", json_pack("{s:s}", "url", index)));
    wait_page(&b, "/index.html");
    assert_clean_page(&b, "metacrawl catalog");
    cr_assert(js_true(&b, "document.body.textContent.indexOf("
                          "\"<svg onload=document.title='pwned'>\") >= 0"),
              "the hostile schema name is not shown as text");

    /* 2. the search box of the header: type, press Enter */
    click(&b, "header form.search input");
    type_text(&b, "pwned");
    press_enter(&b);
    wait_page(&b, "/search.html?q=pwned");
    wait_for(&b, "document.body.getAttribute('data-search-state') === 'done'", "search results");
    assert_clean_page(&b, "Search · metacrawl");
    cr_assert(js_true(&b, "Array.prototype.some.call(document.querySelectorAll('#results a'),"
                          " function (a) { return a.textContent === "
                          "\"sales.</script><script>document.title='pwned'</script>\"; })"),
              "the hostile table is not among the results as text");

    /* 3. search again on the search page, as you type, and open a result */
    click(&b, "#q");
    json_decref(js(&b, "document.getElementById('q').select()"));
    type_text(&b, "orders");
    wait_for(&b, "Array.prototype.some.call(document.querySelectorAll('#results a'),"
                 " function (a) { return a.textContent === 'sales.orders'; })",
             "sales.orders among the results");
    click(&b, "#results a[href$='sales/orders.html']");

    /* 4. the table page, its hostile comments, its foreign key */
    wait_page(&b, "/catalog/test/sales/orders.html");
    assert_clean_page(&b, "sales.orders · test · metacrawl");
    cr_assert(js_true(&b, "document.querySelector('#col-note td:nth-child(6)').textContent"
                          " === '<svg onload=\"document.title=\\'pwned\\'\">changed</svg>'"),
              "the column comment is not shown as text");
    click(&b, "ul.keys a[href$='sales/customers.html']");
    wait_page(&b, "/catalog/test/sales/customers.html");
    assert_clean_page(&b, "sales.customers · test · metacrawl");
    cr_assert(js_true(&b, "document.querySelector('p.comment').textContent === "
                          "\"<script>document.title='pwned'</script>\""));
    /* incoming foreign key back to orders, outgoing one to the "../x" table */
    cr_assert(js_true(&b, "!!document.querySelector(\"ul.keys a[href$='sales/orders.html']\")"),
              "customers does not show that orders references it");
    click(&b, "ul.keys a[href$='-2e-2e-2fx.html']");
    wait_page(&b, "/catalog/test/sales/-2e-2e-2fx.html");
    assert_clean_page(&b, "sales.../x · test · metacrawl");
    cr_assert(js_true(&b, "document.querySelector('h1').textContent === 'sales.../x'"));

    /* 5. the schema page: its ER diagram is drawn, shows the hostile names
     * as text, and its nodes are links */
    json_decref(cdp_call(&b, "Page.navigate",
                         json_pack("{s:s}", "url", itest_strf("file://%s/catalog/test/sales.html",
                                                             site))));
    wait_page(&b, "/catalog/test/sales.html");
    assert_clean_page(&b, "sales · test · metacrawl");
    cr_assert(js_true(&b, "(function () { var s = document.querySelector('figure.diagram > svg');"
                          " var r = s.getBoundingClientRect();"
                          " return r.width > 100 && r.height > 50 &&"
                          " getComputedStyle(s).visibility === 'visible'; })()"),
              "the diagram is not visible");
    cr_assert(js_true(&b, "Array.prototype.some.call(document.querySelectorAll("
                          "'figure.diagram text'), function (t) { return t.textContent === "
                          "\"</script><script>document.title='pwned'</script>\"; })"),
              "the hostile table is not in the diagram as text");
    click(&b, "figure.diagram a[*|href$='sales/customers.html']");
    wait_page(&b, "/catalog/test/sales/customers.html");
    assert_clean_page(&b, "sales.customers · test · metacrawl");
    cr_assert(js_true(&b, "document.querySelector('figure.diagram .node.focus') !== null"),
              "customers has no dependency diagram");

    /* 6. the table whose name is a script */
    char *evil = itest_strf("file://%s/catalog/test/sales/"
        "-3c-2fscript-3e-3cscript-3edocument-2etitle-3d-27pwned-27-3c-2fscript-3e.html", site);
    json_decref(cdp_call(&b, "Page.navigate", json_pack("{s:s}", "url", evil)));
    wait_page(&b, "-3c-2fscript-3e-3cscript-3edocument");
    assert_clean_page(&b, "sales.</script><script>document.title='pwned'</script> · test · "
                          "metacrawl");

    cdp_stop(&b);
    PQfinish(c);
}
