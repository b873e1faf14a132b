/*
 * test_alerts.c — the pieces of crawler/alerts.c without a warehouse or a
 * network: the filters (on:, match:, breaking_only), the delivery JSON and
 * the Slack message, the JSON-lines file sink (one write, a half line left
 * by a crash), the command sink (stdin, exit status, stderr, timeout), and
 * which webhook URLs are refused before anything is sent.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alerts.h"

/* ---- fixtures ------------------------------------------------------------------ */

static char tmpdir[64];

static void make_tmp(void)
{
    strcpy(tmpdir, "/tmp/mc_alerts_test_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmp(void)
{
    char *cmd = mc_asprintf("rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
}

TestSuite(filters);
TestSuite(formats);
TestSuite(sinks, .init = make_tmp, .fini = remove_tmp);

static cfg *load(const char *alerts_yaml)
{
    char *text = mc_asprintf("datastores:\n"
                             "  - name: dw\n"
                             "    host: db.example.com\n"
                             "    database: dev\n"
                             "alerts:\n%s", alerts_yaml);
    cfg *c = NULL;
    mc_error err = {0};
    int rc = cfg_load_string("t.yml", text, strlen(text), &c, &err);
    cr_assert_eq(rc, 0, "%s (%s)", err.message, err.hint);
    free(text);
    return c;
}

/* argv for alerts_run_command: string literals are const here. */
#define ARGV(...) argv_of((const char *[]){__VA_ARGS__, NULL})
static char **argv_of(const char **list)
{
    size_t n = 0;
    while (list[n])
        n++;
    char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = mc_strdup(list[i]);
    return v;
}

/* Alive and not a zombie waiting for a parent that is gone. */
static bool process_alive(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char state = '?';
    int rc = fscanf(f, "%*d (%*[^)]) %c", &state);
    fclose(f);
    return rc == 1 && state != 'Z' && state != 'X';
}

static mc_change change(mc_change_kind kind, const char *schema, const char *container,
                        const char *field, bool breaking)
{
    mc_change ch = {.kind = kind, .schema = schema, .container = container,
                    .field = field, .breaking = breaking};
    return ch;
}

/* ---- filters -------------------------------------------------------------------- */

Test(filters, no_filter_takes_everything)
{
    cfg *c = load("  - name: all\n    file: /tmp/x.jsonl\n");
    const cfg_alert *a = &c->alerts[0];
    for (int k = 0; k < MC_CHANGE__COUNT; k++) {
        mc_change ch = change((mc_change_kind)k, "public", k <= MC_SCHEMA_CHANGED ? NULL : "t",
                              NULL, false);
        cr_assert(alerts_match(a, "dw", &ch), "%s", mc_change_kind_name((mc_change_kind)k));
    }
    cr_assert_str_eq(alerts_sink_name(a), "file");
    cfg_free(c);
}

Test(filters, on_selects_exactly_the_listed_kinds)
{
    cfg *c = load("  - name: some\n"
                  "    on: [container_removed, field_changed, schema_added]\n"
                  "    command: [true]\n");
    const cfg_alert *a = &c->alerts[0];
    cr_assert_str_eq(alerts_sink_name(a), "command");
    for (int k = 0; k < MC_CHANGE__COUNT; k++) {
        mc_change ch = change((mc_change_kind)k, "public", k <= MC_SCHEMA_CHANGED ? NULL : "t",
                              k >= MC_FIELD_ADDED ? "f" : NULL, true);
        bool want = k == MC_CONTAINER_REMOVED || k == MC_FIELD_CHANGED || k == MC_SCHEMA_ADDED;
        cr_assert_eq(alerts_match(a, "dw", &ch), want, "%s",
                     mc_change_kind_name((mc_change_kind)k));
    }
    cfg_free(c);
}

Test(filters, breaking_only)
{
    cfg *c = load("  - name: brk\n    breaking_only: true\n    file: /tmp/x\n");
    const cfg_alert *a = &c->alerts[0];
    mc_change yes = change(MC_FIELD_CHANGED, "public", "t", "f", true);
    mc_change no = change(MC_FIELD_CHANGED, "public", "t", "f", false);
    cr_assert(alerts_match(a, "dw", &yes));
    cr_assert_not(alerts_match(a, "dw", &no));
    cfg_free(c);
}

Test(filters, all_three_filters_together)
{
    cfg *c = load("  - name: x\n"
                  "    on: [field_changed]\n"
                  "    match: [\"dw.public.*\"]\n"
                  "    breaking_only: true\n"
                  "    file: /tmp/x\n");
    const cfg_alert *a = &c->alerts[0];
    mc_change ok = change(MC_FIELD_CHANGED, "public", "orders", "amount", true);
    mc_change soft = change(MC_FIELD_CHANGED, "public", "orders", "amount", false);
    mc_change kind = change(MC_FIELD_REMOVED, "public", "orders", "amount", true);
    mc_change where = change(MC_FIELD_CHANGED, "sales", "orders", "amount", true);
    cr_assert(alerts_match(a, "dw", &ok));
    cr_assert_not(alerts_match(a, "dw", &soft));
    cr_assert_not(alerts_match(a, "dw", &kind));
    cr_assert_not(alerts_match(a, "dw", &where));
    cr_assert_not(alerts_match(a, "other", &ok), "the datastore is part of the path");
    cfg_free(c);
}

Test(filters, globs_on_datastore_schema_container)
{
    cfg *c = load("  - name: g\n"
                  "    match: [\"dw.public.*\", \"*.sales.fact_?\", \"lake.raw.events\"]\n"
                  "    file: /tmp/x\n");
    const cfg_alert *a = &c->alerts[0];
    struct {
        const char *ds, *schema, *container, *field;
        bool want;
    } cases[] = {
        {"dw", "public", "orders", NULL, true},
        {"dw", "public", "orders", "amount", true}, /* fields: their container's path */
        {"dw", "publicx", "orders", NULL, false},
        {"dw", "sales", "fact_a", NULL, true},
        {"lake", "sales", "fact_b", "x", true},
        {"dw", "sales", "fact_ab", NULL, false},
        {"lake", "raw", "events", NULL, true},
        {"lake", "raw", "events2", NULL, false},
        {"other", "public", "orders", NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_change ch = change(cases[i].field ? MC_FIELD_ADDED : MC_CONTAINER_ADDED,
                              cases[i].schema, cases[i].container, cases[i].field, false);
        cr_assert_eq(alerts_match(a, cases[i].ds, &ch), cases[i].want, "%s.%s.%s",
                     cases[i].ds, cases[i].schema, cases[i].container);
    }
    cfg_free(c);
}

Test(filters, schema_events_match_their_schemas_globs)
{
    cfg *c = load("  - name: s\n    match: [\"dw.public.*\"]\n    file: /tmp/x\n"
                  "  - name: exact\n    match: [\"dw.sales\"]\n    file: /tmp/y\n"
                  "  - name: table\n    match: [\"dw.public.orders\"]\n    file: /tmp/z\n");
    mc_change pub = change(MC_SCHEMA_REMOVED, "public", NULL, NULL, true);
    mc_change sales = change(MC_SCHEMA_ADDED, "sales", NULL, NULL, false);
    cr_assert(alerts_match(&c->alerts[0], "dw", &pub));
    cr_assert_not(alerts_match(&c->alerts[0], "dw", &sales));
    cr_assert(alerts_match(&c->alerts[1], "dw", &sales));
    cr_assert_not(alerts_match(&c->alerts[1], "dw", &pub));
    cr_assert_not(alerts_match(&c->alerts[2], "dw", &pub),
                  "a glob naming one table is not about the schema");
    cfg_free(c);
}

Test(filters, a_rename_matches_by_its_old_path_too)
{
    cfg *c = load("  - name: r\n    match: [\"dw.public.*\"]\n    file: /tmp/x\n");
    mc_change moved_out = change(MC_CONTAINER_RENAMED, "archive", "orders", NULL, true);
    moved_out.before = "{\"schema\":\"public\",\"name\":\"orders\"}";
    moved_out.after = "{\"schema\":\"archive\",\"name\":\"orders\"}";
    cr_assert(alerts_match(&c->alerts[0], "dw", &moved_out));
    mc_change elsewhere = moved_out;
    elsewhere.before = "{\"schema\":\"tmp\",\"name\":\"orders\"}";
    cr_assert_not(alerts_match(&c->alerts[0], "dw", &elsewhere));
    mc_change junk = moved_out;
    junk.before = "not json";
    cr_assert_not(alerts_match(&c->alerts[0], "dw", &junk));
    cfg_free(c);
}

/* datastore_stale / _recovered have no schema: a glob matches them by the
 * datastore's name, or by the part before a trailing ".*". */
Test(filters, datastore_events_match_by_the_datastores_name)
{
    cfg *c = load("  - name: all\n    match: [\"*\"]\n    file: /tmp/x\n"
                  "  - name: dw\n    match: [\"dw.*\"]\n    file: /tmp/y\n"
                  "  - name: schema\n    match: [\"dw.public.*\"]\n    file: /tmp/z\n"
                  "  - name: other\n    match: [\"lake\", \"lake.*\"]\n    file: /tmp/w\n"
                  "  - name: kinds\n    on: [datastore_stale]\n    file: /tmp/v\n");
    mc_change st = change(MC_DATASTORE_STALE, NULL, NULL, NULL, false);
    st.attribute = "last_success";
    mc_change back = st;
    back.kind = MC_DATASTORE_RECOVERED;
    cr_assert(alerts_match(&c->alerts[0], "dw", &st));
    cr_assert(alerts_match(&c->alerts[1], "dw", &st));
    cr_assert_not(alerts_match(&c->alerts[2], "dw", &st), "not a schema's event");
    cr_assert_not(alerts_match(&c->alerts[3], "dw", &st));
    cr_assert(alerts_match(&c->alerts[3], "lake", &st));
    cr_assert(alerts_match(&c->alerts[4], "dw", &st));
    cr_assert_not(alerts_match(&c->alerts[4], "dw", &back));
    cfg_free(c);
}

/* ---- the JSON shapes --------------------------------------------------------------- */

/* A delivery list of n changes by hand: field_changed on dw.public.t<i>,
 * change ids 100 + i, run 7; every third one breaking. */
static void make_list(mc_delivery_list *l, size_t n)
{
    memset(l, 0, sizeof *l);
    mc_changes_init(&l->changes);
    l->items = calloc(n + 1, sizeof *l->items);
    for (size_t i = 0; i < n; i++) {
        mc_change *ch = mc_changes_add(&l->changes);
        char name[32];
        snprintf(name, sizeof name, "t%zu", i);
        ch->kind = MC_FIELD_CHANGED;
        ch->schema = "public";
        ch->container = mc_arena_strdup(l->changes.arena, name);
        ch->field = "amount";
        ch->attribute = "type";
        ch->before = "\"integer\"";
        ch->after = "\"bigint\"";
        ch->breaking = i % 3 == 0;
        l->items[i] = (mc_delivery){.id = (int64_t)i + 1, .alert = "a",
                                    .change_id = 100 + (int64_t)i, .run = 7,
                                    .datastore = "dw"};
    }
    l->n = n;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    cr_assert_not_null(v, "not JSON (%s at %d): %s", e.text, e.position, text);
    return v;
}

Test(formats, batch_json_is_versioned_and_carries_changes_md_objects)
{
    mc_delivery_list l;
    make_list(&l, 2);
    /* a removal carries a whole object as before; a hostile name */
    mc_change *ch = &l.changes.items[1];
    ch->kind = MC_CONTAINER_REMOVED;
    ch->container = "we\"ird\n<script>\xff";
    ch->field = NULL;
    ch->attribute = NULL;
    ch->before = "{\"kind\":\"table\",\"owner\":\"x\",\"comment\":null,\"primary_key\":null}";
    ch->after = NULL;
    mc_buf b = {0};
    alerts_format_json(&b, "hook", &l);
    json_t *doc = parse(mc_buf_str(&b));
    cr_assert_eq(json_integer_value(json_object_get(doc, "version")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "alert")), "hook");
    json_t *cs = json_object_get(doc, "changes");
    cr_assert_eq(json_array_size(cs), 2);
    json_t *c0 = json_array_get(cs, 0);
    static const char *const keys[] = {"id", "kind", "datastore", "schema", "container",
                                       "field", "attribute", "before", "after",
                                       "breaking", "impact", "run"};
    cr_assert_eq(json_object_size(c0), sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert_not_null(json_object_get(c0, keys[i]), "key %s", keys[i]);
    cr_assert_eq(json_integer_value(json_object_get(c0, "id")), 100);
    cr_assert_str_eq(json_string_value(json_object_get(c0, "kind")), "field_changed");
    cr_assert_str_eq(json_string_value(json_object_get(c0, "datastore")), "dw");
    cr_assert_str_eq(json_string_value(json_object_get(c0, "container")), "t0");
    cr_assert_str_eq(json_string_value(json_object_get(c0, "before")), "integer");
    cr_assert_str_eq(json_string_value(json_object_get(c0, "after")), "bigint");
    cr_assert(json_is_true(json_object_get(c0, "breaking")));
    cr_assert_eq(json_integer_value(json_object_get(c0, "run")), 7);
    json_t *c1 = json_array_get(cs, 1);
    cr_assert_str_eq(json_string_value(json_object_get(c1, "container")),
                     "we\"ird\n<script>\xef\xbf\xbd", "invalid UTF-8 becomes U+FFFD");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(c1, "before"),
                                                       "kind")), "table");
    cr_assert(json_is_null(json_object_get(c1, "after")));
    cr_assert(json_is_null(json_object_get(c1, "field")));
    json_decref(doc);
    mc_buf_free(&b);
    free(l.items);
    mc_changes_free(&l.changes);
}

Test(formats, json_lines_are_one_self_describing_object_each)
{
    mc_delivery_list l;
    make_list(&l, 3);
    mc_buf b = {0};
    alerts_format_lines(&b, "log", &l);
    const char *p = mc_buf_str(&b);
    size_t n = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl, "every line ends in a newline");
        char *line = mc_strndup(p, (size_t)(nl - p));
        json_t *o = parse(line);
        cr_assert_eq(json_integer_value(json_object_get(o, "version")), 3);
        cr_assert_str_eq(json_string_value(json_object_get(o, "alert")), "log");
        cr_assert_eq(json_integer_value(json_object_get(o, "id")), 100 + (json_int_t)n);
        cr_assert_str_eq(json_string_value(json_object_get(o, "kind")), "field_changed");
        json_decref(o);
        free(line);
        n++;
        p = nl + 1;
    }
    cr_assert_eq(n, 3);
    mc_buf_free(&b);
    free(l.items);
    mc_changes_free(&l.changes);
}

Test(formats, slack_message_is_readable_and_escaped)
{
    mc_delivery_list l;
    make_list(&l, 3);
    l.changes.items[1].container = "<!channel> & `x`";
    l.changes.items[2].kind = MC_CONTAINER_RENAMED;
    l.changes.items[2].field = NULL;
    l.changes.items[2].attribute = NULL;
    l.changes.items[2].before = "{\"schema\":\"public\",\"name\":\"clients\"}";
    l.changes.items[2].after = "{\"schema\":\"public\",\"name\":\"customers\"}";
    l.changes.items[2].container = "customers";
    l.items[2].datastore = "lake";
    mc_buf b = {0};
    alerts_format_slack(&b, "slack", &l);
    json_t *doc = parse(mc_buf_str(&b));
    cr_assert_eq(json_object_size(doc), 1, "Slack gets {\"text\": ...}");
    const char *t = json_string_value(json_object_get(doc, "text"));
    cr_assert_not_null(t);
    cr_assert(strstr(t, "3 changes (1 breaking) in dw, lake"), "%s", t);
    cr_assert(strstr(t, "`dw.public.t0.amount` field_changed type: integer → bigint "
                        "*breaking*"), "%s", t);
    cr_assert(strstr(t, "&lt;!channel&gt; &amp; 'x'"), "%s", t);
    cr_assert_null(strstr(t, "<!channel>"), "a name must not ping a channel: %s", t);
    cr_assert(strstr(t, "`lake.public.customers` container_renamed from "
                        "`public.clients`"), "%s", t);
    cr_assert_null(strstr(t, "more"), "%s", t);
    json_decref(doc);
    mc_buf_free(&b);
    free(l.items);
    mc_changes_free(&l.changes);
}

/* docs/lineage.md: a breaking change's impact, under its line, names escaped */
Test(formats, slack_names_the_views_a_breaking_change_breaks)
{
    mc_delivery_list l;
    make_list(&l, 1);
    l.changes.items[0].impact =
        "{\"views\":[{\"schema\":\"bi\",\"name\":\"v_<!here>\",\"kind\":\"view\","
        "\"depth\":1,\"via\":null,\"source\":\"catalog\",\"columns\":[\"amount\"]},"
        "{\"schema\":\"bi\",\"name\":\"v_top\",\"kind\":\"view\",\"depth\":2,"
        "\"via\":{\"schema\":\"bi\",\"name\":\"v_<!here>\"},\"source\":\"catalog\","
        "\"columns\":[]}],\"foreign_keys\":[{\"schema\":\"public\",\"container\":\"x\","
        "\"name\":\"x_fk\",\"columns\":[\"t_amount\"],\"ref_columns\":[\"amount\"]}]}";
    mc_buf b = {0};
    alerts_format_slack(&b, "slack", &l);
    json_t *doc = parse(mc_buf_str(&b));
    const char *t = json_string_value(json_object_get(doc, "text"));
    cr_assert(strstr(t, "*breaking*\n    ↳ read by 2 views: `bi.v_&lt;!here&gt;`, `bi.v_top`\n"
                        "    ↳ 1 foreign key points at it: `public.x.x_fk`\n"), "%s", t);
    json_decref(doc);
    mc_buf_free(&b);
    /* and the JSON of every other sink carries it as it is */
    alerts_format_json(&b, "hook", &l);
    doc = parse(mc_buf_str(&b));
    json_t *im = json_object_get(json_array_get(json_object_get(doc, "changes"), 0), "impact");
    cr_assert_eq(json_array_size(json_object_get(im, "views")), 2);
    json_decref(doc);
    mc_buf_free(&b);
    free(l.items);
    mc_changes_free(&l.changes);
}

Test(formats, slack_lists_the_first_changes_then_counts_the_rest)
{
    mc_delivery_list l;
    make_list(&l, ALERTS_SLACK_LINES + 7);
    mc_buf b = {0};
    alerts_format_slack(&b, "slack", &l);
    json_t *doc = parse(mc_buf_str(&b));
    const char *t = json_string_value(json_object_get(doc, "text"));
    size_t bullets = 0;
    for (const char *p = t; (p = strstr(p, "• ")); p++)
        bullets++;
    cr_assert_eq(bullets, ALERTS_SLACK_LINES);
    cr_assert(strstr(t, "…and 7 more"), "%s", t);
    char last[64];
    snprintf(last, sizeof last, "dw.public.t%d.", ALERTS_SLACK_LINES - 1);
    cr_assert(strstr(t, last), "the first changes, in order");
    snprintf(last, sizeof last, "dw.public.t%d.", ALERTS_SLACK_LINES);
    cr_assert_null(strstr(t, last));
    json_decref(doc);
    mc_buf_free(&b);
    free(l.items);
    mc_changes_free(&l.changes);
}

Test(formats, slack_cuts_long_values_on_a_character_boundary)
{
    mc_delivery_list l;
    make_list(&l, 1);
    mc_buf v = {0};
    mc_buf_putc(&v, '"');
    for (int i = 0; i < 100; i++)
        mc_buf_puts(&v, "é");
    mc_buf_putc(&v, '"');
    l.changes.items[0].attribute = "comment";
    l.changes.items[0].before = NULL;
    l.changes.items[0].after = mc_buf_str(&v);
    mc_buf b = {0};
    alerts_format_slack(&b, "slack", &l);
    json_t *doc = parse(mc_buf_str(&b));
    const char *t = json_string_value(json_object_get(doc, "text"));
    cr_assert(strstr(t, "comment: (none) → éé"), "%s", t);
    cr_assert(strstr(t, "é…"), "cut after a whole character: %s", t);
    json_decref(doc);
    mc_buf_free(&b);
    mc_buf_free(&v);
    free(l.items);
    mc_changes_free(&l.changes);
}

/* ---- sink: file ----------------------------------------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    mc_buf b = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        mc_buf_append(&b, buf, n);
    fclose(f);
    return mc_buf_steal(&b);
}

Test(sinks, file_appends_whole_lines_and_is_private)
{
    char *path = mc_asprintf("%s/changes.jsonl", tmpdir);
    mc_error err = {0};
    cr_assert_eq(alerts_append_file(path, "{\"a\":1}\n", 8, &err), 0, "%s", err.message);
    cr_assert_eq(alerts_append_file(path, "{\"b\":2}\n{\"c\":3}\n", 16, &err), 0);
    char *text = slurp(path);
    cr_assert_str_eq(text, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    free(text);
    free(path);
}

Test(sinks, file_ends_a_half_line_left_by_a_crash)
{
    char *path = mc_asprintf("%s/changes.jsonl", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("{\"old\":1}\n{\"cut\":", f); /* an older writer died mid-line */
    fclose(f);
    mc_error err = {0};
    cr_assert_eq(alerts_append_file(path, "{\"new\":2}\n", 10, &err), 0, "%s", err.message);
    char *text = slurp(path);
    cr_assert_str_eq(text, "{\"old\":1}\n{\"cut\":\n{\"new\":2}\n");
    /* every complete line but the cut one parses */
    json_t *v = json_loads("{\"new\":2}", 0, NULL);
    cr_assert_not_null(v);
    json_decref(v);
    free(text);
    free(path);
}

Test(sinks, file_in_a_missing_directory_fails_with_a_hint)
{
    char *path = mc_asprintf("%s/no/such/dir/changes.jsonl", tmpdir);
    mc_error err = {0};
    cr_assert_eq(alerts_append_file(path, "{}\n", 3, &err), -1);
    cr_assert(strstr(err.message, "cannot open it for appending"), "%s", err.message);
    cr_assert_neq(err.hint[0], '\0');
    free(path);
}

/* ---- sink: command ---------------------------------------------------------------------- */

Test(sinks, command_gets_the_batch_on_stdin)
{
    char *out = mc_asprintf("%s/stdin.json", tmpdir);
    char *script = mc_asprintf("cat > '%s'", out);
    char **argv = ARGV("sh", "-c", script);
    mc_error err = {0};
    const char *input = "{\"version\":1,\"alert\":\"x\",\"changes\":[]}\n";
    cr_assert_eq(alerts_run_command(argv, input, strlen(input), 10, &err), 0, "%s",
                 err.message);
    char *got = slurp(out);
    cr_assert_str_eq(got, input);
    free(got);
    free(script);
    free(out);
}

Test(sinks, command_exit_status_is_checked_and_stderr_kept)
{
    char **argv = ARGV("sh", "-c", "cat >/dev/null; echo 'no route to pager' >&2; "
                                   "echo 'second line' >&2; exit 3");
    mc_error err = {0};
    cr_assert_eq(alerts_run_command(argv, "{}\n", 3, 10, &err), -1);
    cr_assert_str_eq(err.message, "command sh exited with status 3: no route to pager / "
                                  "second line");
    cr_assert_eq(err.code, MC_EXIT_CONNECT);
}

Test(sinks, command_that_ignores_stdin_succeeds_by_its_exit_status)
{
    /* more than a pipe holds, to a program that never reads: EPIPE, not
     * SIGPIPE, and the exit status decides */
    size_t n = 1 << 20;
    char *big = malloc(n);
    memset(big, 'x', n);
    char **ok = ARGV("true");
    mc_error err = {0};
    cr_assert_eq(alerts_run_command(ok, big, n, 10, &err), 0, "%s", err.message);
    char **bad = ARGV("false");
    cr_assert_eq(alerts_run_command(bad, big, n, 10, &err), -1);
    cr_assert_str_eq(err.message, "command false exited with status 1");
    free(big);
}

Test(sinks, command_is_killed_after_its_timeout)
{
    char *pidfile = mc_asprintf("%s/pid", tmpdir);
    char *script = mc_asprintf("sleep 30 & echo $! > '%s'; wait", pidfile);
    char **argv = ARGV("sh", "-c", script);
    mc_error err = {0};
    double t0 = mc_monotonic();
    cr_assert_eq(alerts_run_command(argv, "", 0, 1, &err), -1);
    double took = mc_monotonic() - t0;
    cr_assert(took < 5, "took %.1fs", took);
    cr_assert_str_eq(err.message, "command sh timed out after 1s and was killed");
    cr_assert(strstr(err.hint, "timeout"), "%s", err.hint);
    /* its process group went with it: the background sleep is gone too */
    char *pid = slurp(pidfile);
    usleep(100 * 1000);
    cr_assert_not(process_alive(atoi(pid)), "the command's child survived");
    free(pid);
    free(script);
    free(pidfile);
}

Test(sinks, command_that_cannot_run_says_so)
{
    char **argv = ARGV("/nonexistent/notify", "--secret-token");
    mc_error err = {0};
    cr_assert_eq(alerts_run_command(argv, "{}", 2, 5, &err), -1);
    cr_assert(strstr(err.message, "command notify: cannot run it"), "%s", err.message);
    cr_assert_null(strstr(err.message, "secret"), "arguments are not quoted");
}

/* ---- webhook URLs ------------------------------------------------------------------------- */

Test(formats, webhook_urls_https_or_loopback_http_only)
{
    static const char *const ok[] = {
        "https://hooks.slack.com/services/T0/B0/xyz",
        "http://127.0.0.1:8080/hook",
        "http://127.1.2.3/hook",
        "http://[::1]:9000/x",
        "http://localhost/x",
        "HTTP://LOCALHOST:1/x",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_assert_null(cfg_webhook_url_problem(ok[i]), "%s", ok[i]);
    static const char *const refused[] = {
        "http://hooks.slack.com/services/T0/B0/xyz",
        "http://localhost.evil.example/x",
        "http://10.0.0.1/x",
        "http://[::2]/x",
        "ftp://example.com/x",
        "file:///etc/passwd",
        "not a url",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        cr_assert_not_null(cfg_webhook_url_problem(refused[i]), "%s", refused[i]);
    cr_assert(strstr(cfg_webhook_url_problem("http://example.com/x"), "use https://"));
}

Test(formats, plain_http_to_the_world_is_refused_before_sending)
{
    mc_error err = {0};
    double t0 = mc_monotonic();
    cr_assert_eq(alerts_post_webhook("http://192.0.2.1/services/SECRET-TOKEN", "{}", 2, 5, 3,
                                     &err), -1);
    cr_assert(mc_monotonic() - t0 < 1, "nothing was tried");
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    cr_assert(strstr(err.message, "plain http://"), "%s", err.message);
    cr_assert_null(strstr(err.message, "SECRET"), "the URL is never quoted: %s",
                   err.message);
}

Test(formats, slack_says_a_datastore_is_stale)
{
    mc_delivery_list l;
    make_list(&l, 2);
    mc_change *ch = &l.changes.items[0];
    ch->kind = MC_DATASTORE_STALE;
    ch->schema = ch->container = ch->field = NULL;
    ch->attribute = "last_success";
    ch->before = NULL;
    ch->after = "\"2026-12-01T06:00:04Z\"";
    ch->breaking = false;
    ch = &l.changes.items[1];
    ch->kind = MC_DATASTORE_RECOVERED;
    ch->schema = ch->container = ch->field = NULL;
    ch->attribute = "last_success";
    ch->after = "\"2026-12-02T06:00:03Z\"";
    ch->breaking = false;
    mc_buf b = {0};
    alerts_format_slack(&b, "slack", &l);
    json_t *doc = parse(mc_buf_str(&b));
    const char *t = json_string_value(json_object_get(doc, "text"));
    cr_assert(strstr(t, "`dw` datastore_stale: no successful crawl since "
                        "2026-12-01T06:00:04Z"), "%s", t);
    cr_assert(strstr(t, "`dw` datastore_recovered: crawled successfully "
                        "2026-12-02T06:00:03Z"), "%s", t);
    json_decref(doc);
    mc_buf_free(&b);
    free(l.items);
    mc_changes_free(&l.changes);
}
