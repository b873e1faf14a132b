/*
 * alerts.c — change alerts: the filters, the JSON shapes, and the delivery
 * loop over the store's outbox (alerts.h; docs/alerts.md).  The three sinks
 * are in sinks.c; the `alerts` command is in the command layer
 * (crawler/cli/cmd_alerts.c).
 *
 * Invariants:
 *  1. Queuing is the store's job, inside the run's transaction (the rules
 *     set by alerts_open); this file only decides which alert wants which
 *     change (alerts_match) and delivers what the outbox holds.
 *  2. A batch is marked delivered only after its sink accepted it, and only
 *     rows still pending are marked.  So a change is delivered again only
 *     when a success could not be recorded (crash, store error): at least
 *     once, never twice after a recorded success.
 *  3. One process delivers at a time (store_outbox_lock); the lock is an
 *     flock, so a killed delivery never leaves the queue locked.
 *  4. No secret and no webhook URL appears in an error: a Slack or Teams
 *     URL is itself a credential.  Errors name the host only.  A command's
 *     arguments are not quoted either, only its program name.
 *  5. TLS verification cannot be switched off: there is no option for it.
 *     Plain http:// is allowed only to loopback, and then checked again on
 *     the address actually connected to (open_loopback_only).
 */#include "alerts.h"
#include "json.h"
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

/* ---- filters ------------------------------------------------------------------ */

const char *alerts_sink_name(const cfg_alert *a)
{
    return a->file ? "file" : a->command ? "command" : "webhook";
}

static bool any_glob(const cfg_alert *a, const char *path)
{
    for (size_t i = 0; i < a->n_match; i++)
        if (mc_glob_match(a->match[i], path))
            return true;
    return false;
}

/* Whether glob g matches path, or g ends in ".*" and its part before does:
 * how an event without a container (a schema's, a datastore's) is matched. */
static bool glob_or_head(const char *g, const char *path)
{
    size_t n = strlen(g);
    if (mc_glob_match(g, path))
        return true;
    if (n <= 2 || strcmp(g + n - 2, ".*") != 0)
        return false;
    char *head = mc_strndup(g, n - 2);
    bool hit = mc_glob_match(head, path);
    free(head);
    return hit;
}

/*
 * Globs are matched against "datastore.schema.container".  A schema event
 * has no container: it matches a glob that matches "datastore.schema", or
 * one that ends in ".*" whose part before matches it ("analytics.public.*"
 * is about everything in that schema, the schema included).  A renamed
 * container matches by its old path too: whoever watches a schema wants to
 * hear that a table moved out of it.
 */
bool alerts_match(const cfg_alert *a, const char *datastore, const mc_change *ch)
{
    if ((unsigned)ch->kind >= MC_CHANGE__COUNT || !(a->on_mask & (1u << ch->kind)))
        return false;
    if (a->breaking_only && !ch->breaking)
        return false;
    if (a->n_match == 0)
        return true;
    bool hit = false;
    if (!ch->schema || !*ch->schema) {
        /* a datastore event (datastore_stale, datastore_recovered): its path
         * is the datastore; "analytics.*" is about it too */
        for (size_t i = 0; i < a->n_match && !hit; i++)
            hit = glob_or_head(a->match[i], datastore);
        return hit;
    }
    if (!ch->container) {
        char *path = mc_asprintf("%s.%s", datastore, ch->schema);
        for (size_t i = 0; i < a->n_match && !hit; i++)
            hit = glob_or_head(a->match[i], path);
        free(path);
        return hit;
    }
    char *path = mc_asprintf("%s.%s.%s", datastore, ch->schema, ch->container);
    hit = any_glob(a, path);
    free(path);
    if (!hit && ch->kind == MC_CONTAINER_RENAMED && ch->before) {
        json_t *b = json_loads(ch->before, 0, NULL);
        const char *s = json_string_value(json_object_get(b, "schema"));
        const char *n = json_string_value(json_object_get(b, "name"));
        if (s && n) {
            char *old = mc_asprintf("%s.%s.%s", datastore, s, n);
            hit = any_glob(a, old);
            free(old);
        }
        json_decref(b);
    }
    return hit;
}

/* ---- the JSON shapes ------------------------------------------------------------ */

void alerts_json_change(mc_buf *b, const mc_delivery_list *l, size_t i,
                        const char *alert)
{
    const mc_delivery *d = &l->items[i];
    mc_buf tmp = {0};
    report_json_change(&tmp, &l->changes.items[i], d->datastore, d->run);
    bool first = true;
    mc_buf_putc(b, '{');
    if (alert) {
        json_put_kv_int(b, &first, "version", ALERTS_JSON_VERSION);
        json_put_kv_str(b, &first, "alert", alert);
    }
    json_put_kv_int(b, &first, "id", d->change_id);
    /* tmp is "{...}" with at least the kind: splice its members in. */
    mc_buf_putc(b, ',');
    mc_buf_append(b, tmp.data + 1, tmp.len - 1);
    mc_buf_free(&tmp);
}

void alerts_format_json(mc_buf *b, const char *alert, const mc_delivery_list *l)
{
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_int(b, &first, "version", ALERTS_JSON_VERSION);
    json_put_kv_str(b, &first, "alert", alert);
    first = json_put_key(b, first, "changes");
    mc_buf_putc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            mc_buf_putc(b, ',');
        alerts_json_change(b, l, i, NULL);
    }
    mc_buf_puts(b, "]}");
}

void alerts_format_lines(mc_buf *b, const char *alert, const mc_delivery_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        alerts_json_change(b, l, i, alert);
        mc_buf_putc(b, '\n');
    }
}

/* Text for Slack's mrkdwn: &, < and > escaped (so a table called
 * "<!channel>" pings nobody), control characters as \xNN, backticks made
 * quotes (the text sits in a code span), cut at max bytes on a character
 * boundary. */
static void slack_text(mc_buf *b, const char *s, size_t max)
{
    size_t n = strlen(s), cut = n;
    if (n > max) {
        cut = max;
        while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '&')
            mc_buf_puts(b, "&amp;");
        else if (c == '<')
            mc_buf_puts(b, "&lt;");
        else if (c == '>')
            mc_buf_puts(b, "&gt;");
        else if (c == '`')
            mc_buf_putc(b, '\'');
        else if (c < 0x20 || c == 0x7f)
            mc_buf_printf(b, "\\x%02x", c);
        else
            mc_buf_putc(b, (char)c);
    }
    if (cut < n)
        mc_buf_puts(b, "…");
}

/* A JSON value for people: strings unquoted, null as (none). */
static void slack_value(mc_buf *b, const char *json)
{
    json_t *v = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
    if (!json || json_is_null(v))
        mc_buf_puts(b, "(none)");
    else if (json_is_string(v))
        slack_text(b, json_string_value(v), 80);
    else
        slack_text(b, json, 80);
    json_decref(v);
}

/* Under a breaking change: "   ↳ read by `a.v1`, `b.v2` … ; keys: `s.t.fk`"
 * (docs/lineage.md), at most ALERTS_SLACK_IMPACT names. */
static void slack_impact(mc_buf *b, const char *impact)
{
    json_t *o = impact ? json_loads(impact, 0, NULL) : NULL;
    json_t *views = json_object_get(o, "views"), *fks = json_object_get(o, "foreign_keys");
    size_t nv = json_array_size(views), nk = json_array_size(fks), shown = 0, i;
    json_t *v;
    if (nv) {
        mc_buf_printf(b, "    ↳ read by %zu view%s:", nv, nv == 1 ? "" : "s");
        json_array_foreach(views, i, v) {
            if (shown == ALERTS_SLACK_IMPACT)
                break;
            mc_buf path = {0};
            mc_buf_printf(&path, "%s.%s", json_string_value(json_object_get(v, "schema")),
                          json_string_value(json_object_get(v, "name")));
            mc_buf_puts(b, i ? ", `" : " `");
            slack_text(b, mc_buf_str(&path), 200);
            mc_buf_putc(b, '`');
            mc_buf_free(&path);
            shown++;
        }
        if (shown < nv)
            mc_buf_printf(b, " …and %zu more", nv - shown);
        mc_buf_putc(b, '\n');
    }
    if (nk) {
        mc_buf_printf(b, "    ↳ %zu foreign key%s point%s at it:", nk, nk == 1 ? "" : "s",
                      nk == 1 ? "s" : "");
        shown = 0;
        json_array_foreach(fks, i, v) {
            if (shown == ALERTS_SLACK_IMPACT)
                break;
            mc_buf path = {0};
            mc_buf_printf(&path, "%s.%s.%s", json_string_value(json_object_get(v, "schema")),
                          json_string_value(json_object_get(v, "container")),
                          json_string_value(json_object_get(v, "name")));
            mc_buf_puts(b, i ? ", `" : " `");
            slack_text(b, mc_buf_str(&path), 200);
            mc_buf_putc(b, '`');
            mc_buf_free(&path);
            shown++;
        }
        if (shown < nk)
            mc_buf_printf(b, " …and %zu more", nk - shown);
        mc_buf_putc(b, '\n');
    }
    json_decref(o);
}

static void slack_line(mc_buf *b, const mc_change *c, const char *datastore)
{
    mc_buf path = {0};
    mc_buf_puts(&path, datastore);
    if (c->schema)
        mc_buf_printf(&path, ".%s", c->schema);
    if (c->container)
        mc_buf_printf(&path, ".%s", c->container);
    if (c->field)
        mc_buf_printf(&path, ".%s", c->field);
    mc_buf_puts(b, "• `");
    slack_text(b, mc_buf_str(&path), 200);
    mc_buf_printf(b, "` %s", mc_change_kind_name(c->kind));
    mc_buf_free(&path);

    json_t *o = NULL;
    switch (c->kind) {
    case MC_CONTAINER_ADDED:
    case MC_CONTAINER_REMOVED:
    case MC_FIELD_ADDED:
    case MC_FIELD_REMOVED: {
        bool added = c->kind == MC_CONTAINER_ADDED || c->kind == MC_FIELD_ADDED;
        o = json_loads(added ? c->after : c->before, 0, NULL);
        const char *what = json_string_value(json_object_get(
            o, c->kind == MC_CONTAINER_ADDED || c->kind == MC_CONTAINER_REMOVED
                   ? "kind" : "type"));
        if (what) {
            mc_buf_puts(b, " (");
            slack_text(b, what, 80);
            mc_buf_putc(b, ')');
        }
        break;
    }
    case MC_CONTAINER_RENAMED:
        o = json_loads(c->before, 0, NULL);
        if (o) {
            mc_buf_puts(b, " from `");
            const char *os = json_string_value(json_object_get(o, "schema"));
            const char *on = json_string_value(json_object_get(o, "name"));
            mc_buf path_old = {0};
            mc_buf_printf(&path_old, "%s.%s", os ? os : "?", on ? on : "?");
            slack_text(b, mc_buf_str(&path_old), 200);
            mc_buf_free(&path_old);
            mc_buf_putc(b, '`');
        }
        break;
    case MC_FIELD_RENAMED:
        mc_buf_puts(b, " from ");
        slack_value(b, c->before);
        break;
    case MC_DATASTORE_STALE:
        mc_buf_puts(b, ": no successful crawl since ");
        slack_value(b, c->after);
        break;
    case MC_DATASTORE_RECOVERED:
        mc_buf_puts(b, ": crawled successfully ");
        slack_value(b, c->after);
        break;
    case MC_SCHEMA_CHANGED:
    case MC_CONTAINER_CHANGED:
    case MC_FIELD_CHANGED:
        mc_buf_puts(b, " ");
        slack_text(b, c->attribute ? c->attribute : "?", 40);
        if (c->attribute && (strcmp(c->attribute, "definition") == 0 ||
                             strcmp(c->attribute, "foreign_keys") == 0)) {
            mc_buf_puts(b, " changed");
        } else {
            mc_buf_puts(b, ": ");
            slack_value(b, c->before);
            mc_buf_puts(b, " → ");
            slack_value(b, c->after);
        }
        break;
    default:
        break;
    }
    json_decref(o);
    if (c->breaking)
        mc_buf_puts(b, " *breaking*");
    mc_buf_putc(b, '\n');
    slack_impact(b, c->impact);
}

void alerts_format_slack(mc_buf *b, const char *alert, const mc_delivery_list *l)
{
    size_t n_breaking = 0;
    for (size_t i = 0; i < l->n; i++)
        n_breaking += l->changes.items[i].breaking;
    mc_buf t = {0};
    mc_buf_printf(&t, "*metacrawl*: %zu change%s (%zu breaking) in ", l->n,
                  l->n == 1 ? "" : "s", n_breaking);
    /* The datastores, in order of first appearance. */
    size_t n_ds = 0;
    for (size_t i = 0; i < l->n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(l->items[k].datastore, l->items[i].datastore) == 0;
        if (seen)
            continue;
        if (n_ds++)
            mc_buf_puts(&t, ", ");
        slack_text(&t, l->items[i].datastore, 80);
    }
    mc_buf_puts(&t, " (alert ");
    slack_text(&t, alert, 80);
    mc_buf_puts(&t, ")\n");
    size_t shown = l->n < ALERTS_SLACK_LINES ? l->n : ALERTS_SLACK_LINES;
    for (size_t i = 0; i < shown; i++)
        slack_line(&t, &l->changes.items[i], l->items[i].datastore);
    if (shown < l->n)
        mc_buf_printf(&t, "…and %zu more (metacrawl diff shows them all)\n",
                      l->n - shown);
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &first, "text", mc_buf_str(&t));
    mc_buf_putc(b, '}');
    mc_buf_free(&t);
}

/* ---- delivery ------------------------------------------------------------------ */

typedef struct outcome_slot {
    alerts_outcome o;
    bool touched, failed;
    char *error;
} outcome_slot;

struct alerts {
    const cfg *c;
    store *st;
    const char **names;
    store_outbox_rules rules;
    outcome_slot *slots; /* one per configured alert */
    const alerts_outcome **listed;
    size_t n_listed;
    bool lock_busy_reported;
};

static bool rules_want(void *arg, size_t i, const char *datastore, const mc_change *ch)
{
    const alerts *a = arg;
    return alerts_match(&a->c->alerts[i], datastore, ch);
}

alerts *alerts_open(const cfg *c, store *st)
{
    alerts *a = mc_calloc(1, sizeof *a);
    a->c = c;
    a->st = st;
    size_t n = c ? c->n_alerts : 0;
    a->names = mc_calloc(n + 1, sizeof *a->names);
    a->slots = mc_calloc(n + 1, sizeof *a->slots);
    a->listed = mc_calloc(n + 1, sizeof *a->listed);
    for (size_t i = 0; i < n; i++) {
        a->names[i] = c->alerts[i].name;
        a->slots[i].o.alert = c->alerts[i].name;
        a->slots[i].o.sink = alerts_sink_name(&c->alerts[i]);
    }
    a->rules = (store_outbox_rules){.n = n, .names = a->names, .wants = rules_want,
                                    .arg = a};
    if (st && n)
        store_set_outbox_rules(st, &a->rules);
    return a;
}

void alerts_close(alerts *a)
{
    if (!a)
        return;
    if (a->st)
        store_set_outbox_rules(a->st, NULL);
    for (size_t i = 0; a->c && i < a->c->n_alerts; i++)
        free(a->slots[i].error);
    free(a->slots);
    free(a->names);
    free(a->listed);
    free(a);
}

static void touch(alerts *a, size_t i)
{
    if (a->slots[i].touched)
        return;
    a->slots[i].touched = true;
    a->listed[a->n_listed++] = &a->slots[i].o;
}

static void fail_slot(outcome_slot *s, const mc_error *e)
{
    free(s->error);
    s->error = mc_strdup(e->message);
    s->o.error = s->error;
    s->o.code = e->code ? e->code : MC_EXIT_CONNECT;
    s->failed = true;
}

static int send_batch(const cfg_alert *al, const mc_delivery_list *l, mc_error *err)
{
    mc_buf b = {0};
    int rc;
    if (al->file) {
        alerts_format_lines(&b, al->name, l);
        rc = alerts_append_file(al->file, b.data, b.len, err);
    } else if (al->command) {
        alerts_format_json(&b, al->name, l);
        mc_buf_putc(&b, '\n');
        rc = alerts_run_command(al->command, b.data, b.len, al->timeout_s, err);
    } else {
        if (al->format && strcmp(al->format, "slack") == 0)
            alerts_format_slack(&b, al->name, l);
        else
            alerts_format_json(&b, al->name, l);
        rc = alerts_post_webhook(al->webhook, mc_buf_str(&b), b.len, al->timeout_s,
                                 ALERTS_WEBHOOK_TRIES, err);
    }
    mc_buf_free(&b);
    return rc;
}

static void deliver_one(alerts *a, size_t i)
{
    const cfg_alert *al = &a->c->alerts[i];
    outcome_slot *slot = &a->slots[i];
    mc_error err = {0};
    for (;;) {
        mc_delivery_list l;
        if (store_outbox_pending(a->st, al->name, ALERTS_BATCH_MAX, &l, &err) != 0) {
            touch(a, i);
            fail_slot(slot, &err);
            return;
        }
        if (l.n == 0) {
            mc_delivery_list_free(&l);
            break;
        }
        touch(a, i);
        int64_t *ids = mc_calloc(l.n, sizeof *ids);
        for (size_t k = 0; k < l.n; k++)
            ids[k] = l.items[k].id;
        mc_error derr = {0};
        int rc = send_batch(al, &l, &derr);
        size_t n = l.n;
        mc_delivery_list_free(&l);
        if (rc == 0) {
            /* Invariant 2: only now is it delivered. */
            if (store_outbox_mark_delivered(a->st, ids, n, &err) != 0) {
                mc_error e2 = {0};
                mc_error_set(&e2, MC_EXIT_STORE, "delivered %zu changes but could "
                             "not record it (they will be delivered again): %s",
                             n, err.message);
                fail_slot(slot, &e2);
                free(ids);
                break;
            }
            slot->o.n_delivered += (int64_t)n;
            mc_log(MC_LOG_INFO, "alert %s: delivered %zu changes", al->name, n);
            free(ids);
            continue;
        }
        fail_slot(slot, &derr);
        mc_error serr = {0};
        if (store_outbox_mark_failed(a->st, ids, n, derr.message, &serr) != 0)
            mc_log(MC_LOG_WARN, "alert %s: could not record the failed delivery: %s",
                   al->name, serr.message);
        free(ids);
        break;
    }
    if (slot->touched) {
        mc_error cerr = {0};
        int64_t left = 0;
        if (store_outbox_count_pending(a->st, al->name, &left, &cerr) == 0)
            slot->o.n_pending = left;
    }
}

size_t alerts_deliver(alerts *a, const char *const *names, size_t n_names)
{
    size_t n = a->c ? a->c->n_alerts : 0;
    size_t n_failed = 0;
    if (!n || !a->st)
        return 0;
    bool got = false;
    mc_error err = {0};
    if (store_outbox_lock(a->st, ALERTS_LOCK_WAIT_S, &got, &err) != 0) {
        for (size_t i = 0; i < n; i++) {
            touch(a, i);
            fail_slot(&a->slots[i], &err);
        }
        return n;
    }
    if (!got) {
        if (!a->lock_busy_reported)
            mc_log(MC_LOG_WARN, "another metacrawl process has been delivering "
                   "alerts from this store for %ds; what it does not deliver stays "
                   "queued for the next run", ALERTS_LOCK_WAIT_S);
        a->lock_busy_reported = true;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        bool wanted = n_names == 0;
        for (size_t k = 0; k < n_names && !wanted; k++)
            wanted = strcmp(names[k], a->c->alerts[i].name) == 0;
        if (!wanted)
            continue;
        if (!a->slots[i].failed) {
            deliver_one(a, i);
        } else {
            /* Not tried again; later runs may have queued more for it. */
            int64_t left = 0;
            mc_error cerr = {0};
            if (store_outbox_count_pending(a->st, a->c->alerts[i].name, &left,
                                           &cerr) == 0)
                a->slots[i].o.n_pending = left;
        }
    }
    store_outbox_unlock(a->st);
    for (size_t i = 0; i < n; i++)
        n_failed += a->slots[i].failed;
    return n_failed;
}

size_t alerts_n_outcomes(const alerts *a)
{
    return a ? a->n_listed : 0;
}

const alerts_outcome *alerts_outcome_at(const alerts *a, size_t i)
{
    return a && i < a->n_listed ? a->listed[i] : NULL;
}

void alerts_put_json(const alerts *a, mc_buf *b)
{
    mc_buf_putc(b, '[');
    for (size_t i = 0; i < alerts_n_outcomes(a); i++) {
        const alerts_outcome *o = a->listed[i];
        bool first = true;
        if (i)
            mc_buf_putc(b, ',');
        mc_buf_putc(b, '{');
        json_put_kv_str(b, &first, "alert", o->alert);
        json_put_kv_str(b, &first, "sink", o->sink);
        json_put_kv_int(b, &first, "delivered", o->n_delivered);
        json_put_kv_int(b, &first, "pending", o->n_pending);
        json_put_kv_str(b, &first, "error", o->error);
        mc_buf_putc(b, '}');
    }
    mc_buf_putc(b, ']');
}

int alerts_report(const alerts *a, FILE *out)
{
    int code = 0;
    for (size_t i = 0; i < alerts_n_outcomes(a); i++) {
        const alerts_outcome *o = a->listed[i];
        if (o->error) {
            mc_error e = {0};
            mc_error_set(&e, o->code, "alert '%s': %lld change%s not delivered, "
                         "kept queued: %s", o->alert, (long long)o->n_pending,
                         o->n_pending == 1 ? "" : "s", o->error);
            mc_error_hint(&e, "'metacrawl alerts status' shows the queue; the next "
                          "crawl or 'metacrawl alerts retry %s' delivers it", o->alert);
            report_error(&e);
            code = report_max_code(code, o->code);
        }
        if (out && o->n_delivered)
            fprintf(out, "alert %s: %lld change%s delivered (%s)\n", o->alert,
                    (long long)o->n_delivered, o->n_delivered == 1 ? "" : "s", o->sink);
    }
    return code;
}
