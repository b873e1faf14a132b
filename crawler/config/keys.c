/*
 * keys.c — every key of metacrawl.yml as data: one `table` of `row`s per
 * kind of mapping (top level, defaults, datastore, tunnel and its hops,
 * admin, globs, fail_safe, retry, alert, scheduler), the setters that turn
 * a value into its C type (scalars, durations, lists, host key policy,
 * webhook URL, change kinds) and the check hooks for rules that involve
 * more than one key (exactly one alert sink, a way for a tunnel to
 * authenticate, defaults inherited by datastores).
 *
 * docs/configuration.md describes the same keys for people; a key added
 * here is added there.
 */
#include "config_internal.h"
#include "aws.h"
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scalar setters ------------------------------------------------------- */

static const char *type_word(const row *r)
{
    switch (r->type) {
    case T_INT: return "an integer";
    case T_NUMBER: return "a number";
    case T_BOOL: return "true or false";
    case T_DURATION_S:
    case T_DURATION_MS: return "a duration";
    case T_STRLIST:
    case T_GLOBLIST:
    case T_ARGV:
    case T_SECRET_ARGV:
    case T_MAPLIST: return "a list";
    case T_MAP: return "a mapping";
    default: return "a string";
    }
}

static const char *type_hint(const row *r)
{
    switch (r->type) {
    case T_INT: return "write a whole number, without quotes or units";
    case T_NUMBER: return "write a number, e.g. 20";
    case T_BOOL: return "write true or false (yes/no and on/off work too)";
    case T_DURATION_S:
    case T_DURATION_MS:
        return "write a number and a unit: 250ms, 10s, 5m, 1h, 2d (a bare number is seconds)";
    case T_STRLIST:
    case T_GLOBLIST:
    case T_ARGV:
    case T_SECRET_ARGV:
    case T_MAPLIST: return "write a list: [a, b] on one line, or one '- item' per line";
    case T_MAP: return "write the keys indented under it, or { key: value } on one line";
    default:
        return "write a single value; quote it if it contains ': ' or starts with [, {, *, & or !";
    }
}

int cfgi_wrong_type(ctx *x, const row *r, const yaml_node_t *val)
{
    char buf[64];
    cfgi_fail(x, val, "expected %s for '%s', got %s", type_word(r), r->key,
         cfgi_describe(val, buf, sizeof buf));
    mc_error_hint(x->err, "%s", type_hint(r));
    return -1;
}

static void out_of_range_hint(ctx *x, const row *r)
{
    if (r->def)
        mc_error_hint(x->err, "remove '%s' to get the default, %s", r->key, r->def);
    else
        mc_error_hint(x->err, "write a value within that range");
}

static int empty_value(ctx *x, const row *r, const yaml_node_t *at)
{
    cfgi_fail(x, at, "'%s' is empty", r->key);
    mc_error_hint(x->err, "write a value, or remove the key");
    return -1;
}

int cfgi_nul_in_value(ctx *x, const row *r, const yaml_node_t *at)
{
    cfgi_fail(x, at, "'%s' contains a NUL character", r->key);
    mc_error_hint(x->err, "remove the \\0 escape from the value");
    return -1;
}

/* "1h" for 3600000, "250ms" for 250: the bounds in range messages. */
static void format_duration(int64_t ms, char *buf, size_t size)
{
    static const struct { int64_t ms; const char *unit; } units[] = {
        {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms >= units[i].ms && ms % units[i].ms == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    snprintf(buf, size, "%lldms", (long long)ms);
}

int64_t cfg_parse_duration_ms(const char *text)
{
    if (!text || !*text)
        return -1;
    const char *p = text;
    while (isdigit((unsigned char)*p))
        p++;
    bool bare = (*p == '\0');
    int64_t total = 0;
    p = text;
    /* A sequence of NUMBER UNIT, e.g. "1h30m"; a bare number is seconds. */
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (*p++ - '0');
        }
        int64_t mult;
        if (bare)
            mult = 1000;
        else if (p[0] == 'm' && p[1] == 's')
            mult = 1, p += 2;
        else if (*p == 's')
            mult = 1000, p++;
        else if (*p == 'm')
            mult = 60000, p++;
        else if (*p == 'h')
            mult = 3600000, p++;
        else if (*p == 'd')
            mult = 86400000, p++;
        else
            return -1;
        if (v > (INT64_MAX - total) / mult)
            return -1;
        total += v * mult;
    }
    return total;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (!strcasecmp(s, yes[i]))
            return *out = true, true;
        if (!strcasecmp(s, no[i]))
            return *out = false, true;
    }
    return false;
}

static int set_name(ctx *x, const row *r, const char *text, const yaml_node_t *at,
                    char **target)
{
    const char *label = r->scope == SCOPE_DATASTORE ? "datastore" : "alert";
    if (r->scope == SCOPE_DATASTORE) {
        bool ok = *text != '\0';
        for (const char *p = text; *p; p++)
            if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' ||
                  *p == '-'))
                ok = false;
        if (!ok) {
            char buf[64];
            cfgi_fail(x, at, "invalid datastore name %s: use lower-case letters, digits, '_' and '-'",
                 cfgi_describe(at, buf, sizeof buf));
            mc_error_hint(x->err, "the name keys the datastore's history in the store and is "
                                  "what `metacrawl crawl NAME` takes, e.g. name: analytics");
            return -1;
        }
    } else if (!*text) {
        return empty_value(x, r, at);
    }
    for (size_t i = 0; i < x->n_names; i++) {
        const struct seen_name *s = &x->names[i];
        if (s->scope == r->scope && !strcmp(s->name, text)) {
            cfgi_fail(x, at, "duplicate %s name '%s' (the first is at line %d, column %d)", label,
                 text, s->pos.line, s->pos.column);
            mc_error_hint(x->err, "%s names must be unique; rename one of them", label);
            return -1;
        }
    }
    *target = mc_strdup(text);
    x->names = mc_realloc(x->names, (x->n_names + 1) * sizeof *x->names);
    x->names[x->n_names++] = (struct seen_name){r->scope, *target, cfgi_pos_of(x, at)};
    return 0;
}

static int set_enum(ctx *x, const row *r, const char *text, const yaml_node_t *at,
                    char **target)
{
    size_t n = 0;
    for (; r->choices[n]; n++)
        if (!strcmp(text, r->choices[n])) {
            *target = mc_strdup(text);
            return 0;
        }
    mc_buf list = {0};
    for (size_t i = 0; i < n; i++)
        mc_buf_printf(&list, "%s%s", i ? ", " : "", r->choices[i]);
    char buf[64];
    cfgi_fail(x, at, "expected one of %s for '%s', got %s", mc_buf_str(&list), r->key,
         cfgi_describe(at, buf, sizeof buf));
    const char *near = cfgi_closest(text, r->choices, n);
    if (near)
        mc_error_hint(x->err, "did you mean '%s'?", near);
    mc_buf_free(&list);
    return -1;
}

/* A scalar for a row, at node `at` (the value, or for a default the
 * mapping the default is applied to). */
int cfgi_set_scalar(ctx *x, const row *r, const char *text, const yaml_node_t *at,
                      void *obj)
{
    void *target = AT(obj, r->off);
    char range_lo[24], range_hi[24], buf[64];
    switch (r->type) {
    case T_STRING:
        if (!*text)
            return empty_value(x, r, at);
        *(char **)target = mc_strdup(text);
        return 0;
    case T_PATH:
        if (!*text)
            return empty_value(x, r, at);
        return cfgi_expand_home(x, r->key, text, at, (char **)target);
    case T_NAME:
        return set_name(x, r, text, at, (char **)target);
    case T_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!isdigit((unsigned char)text[text[0] == '-']) || *end || errno)
            return cfgi_wrong_type(x, r, at);
        if (v < r->min || v > r->max) {
            cfgi_fail(x, at, "'%s' must be between %lld and %lld, got %lld", r->key, (long long)r->min,
                 (long long)r->max, v);
            out_of_range_hint(x, r);
            return -1;
        }
        *(int *)target = (int)v;
        return 0;
    }
    case T_NUMBER: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (*end == '%')
            end++;
        if (end == text || *end || errno || !isfinite(v) || isspace((unsigned char)*text))
            return cfgi_wrong_type(x, r, at);
        if (v < (double)r->min || v > (double)r->max) {
            cfgi_fail(x, at, "'%s' must be between %lld and %lld, got %s", r->key, (long long)r->min,
                 (long long)r->max, cfgi_describe(at, buf, sizeof buf));
            out_of_range_hint(x, r);
            return -1;
        }
        *(double *)target = v;
        return 0;
    }
    case T_BOOL:
        if (!parse_bool(text, (bool *)target))
            return cfgi_wrong_type(x, r, at);
        return 0;
    case T_DURATION_S:
    case T_DURATION_MS: {
        int64_t ms = cfg_parse_duration_ms(text);
        if (ms < 0)
            return cfgi_wrong_type(x, r, at);
        if (ms < r->min || ms > r->max) {
            format_duration(r->min, range_lo, sizeof range_lo);
            format_duration(r->max, range_hi, sizeof range_hi);
            cfgi_fail(x, at, "'%s' must be between %s and %s, got %s", r->key, range_lo, range_hi,
                 cfgi_describe(at, buf, sizeof buf));
            out_of_range_hint(x, r);
            return -1;
        }
        /* Whole seconds where the consumer counts in seconds (libpq's
         * connect_timeout); rounding up never turns a timeout into 0. */
        *(int *)target = r->type == T_DURATION_MS ? (int)ms : (int)((ms + 999) / 1000);
        return 0;
    }
    case T_ENUM:
        return set_enum(x, r, text, at, (char **)target);
    case T_SCALAR_FN:
        return r->scalar_fn(x, r, text, at, target);
    default:
        return cfgi_wrong_type(x, r, at);
    }
}

/* ---- lists ------------------------------------------------------------------ */

/* The items of a list row as strings; NULL-terminated, count in *n. */
static int string_items(ctx *x, const row *r, const yaml_node_t *val, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (val->type != YAML_SEQUENCE_NODE && !cfgi_is_null(val))
        return cfgi_wrong_type(x, r, val);
    size_t count = cfgi_is_null(val) ? 0 : (size_t)(val->data.sequence.items.top -
                                               val->data.sequence.items.start);
    char **v = mc_calloc(count + 1, sizeof *v);
    *out = v;
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *it = cfgi_node_at(x, val->data.sequence.items.start[i]);
        char buf[64];
        if (it->type != YAML_SCALAR_NODE || cfgi_is_null(it)) {
            cfgi_fail(x, it, "expected a string in '%s', got %s", r->key, cfgi_describe(it, buf, sizeof buf));
            mc_error_hint(x->err, "every item of '%s' is a single value", r->key);
            return -1;
        }
        if (strlen(cfgi_scalar(it)) != it->data.scalar.length)
            return cfgi_nul_in_value(x, r, it);
        if (r->type == T_GLOBLIST) {
            const char *problem = mc_glob_problem(cfgi_scalar(it));
            if (problem) {
                cfgi_fail(x, it, "bad glob %s in '%s': %s", cfgi_describe(it, buf, sizeof buf), r->key,
                     problem);
                mc_error_hint(x->err, "globs use * ? [abc] [a-z] [!x]; a backslash makes the "
                                      "next character literal");
                return -1;
            }
        }
        v[i] = mc_strdup(cfgi_scalar(it));
        *n = i + 1;
    }
    if (count == 0 && (r->type == T_ARGV || r->type == T_SECRET_ARGV)) {
        cfgi_fail(x, val, "'%s' is empty: it needs at least the program to run", r->key);
        mc_error_hint(x->err, "write the program and its arguments as a list, e.g. "
                              "[vault, kv, get, -field=password, secret/redshift]");
        return -1;
    }
    return 0;
}

void cfgi_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int cfgi_set_list(ctx *x, const row *r, const yaml_node_t *val, void *obj)
{
    char **items;
    size_t n;
    int rc = string_items(x, r, val, &items, &n);
    if (r->type == T_SECRET_ARGV) {
        cfg_secret *s = AT(obj, r->off);
        if (rc != 0) {
            cfgi_strv_free(items, n);
            return rc;
        }
        s->kind = CFG_SECRET_COMMAND;
        s->argv = items;
        s->argc = n;
        return 0;
    }
    /* The target owns the items even on error, so cfg_free releases them. */
    *(char ***)AT(obj, r->off) = items;
    *(size_t *)AT(obj, r->n_off) = n;
    return rc;
}

int cfgi_set_maplist(ctx *x, const row *r, const yaml_node_t *val, void *obj)
{
    if (val->type != YAML_SEQUENCE_NODE && !cfgi_is_null(val))
        return cfgi_wrong_type(x, r, val);
    if (cfgi_is_null(val))
        return 0;
    const table *t = r->sub;
    void **arr = AT(obj, r->off);
    size_t *n = AT(obj, r->n_off);
    for (yaml_node_item_t *it = val->data.sequence.items.start;
         it < val->data.sequence.items.top; it++) {
        const yaml_node_t *item = cfgi_node_at(x, *it);
        if (item->type != YAML_MAPPING_NODE) {
            char buf[64];
            cfgi_fail(x, item, "expected a mapping for each item of '%s', got %s", r->key,
                 cfgi_describe(item, buf, sizeof buf));
            mc_error_hint(x->err, "each item starts with '- ' and holds 'key: value' lines "
                                  "indented under it");
            return -1;
        }
        /* Count first, so cfg_free sees the element even if it fails. */
        *arr = mc_realloc(*arr, (*n + 1) * t->size);
        void *elem = (char *)*arr + *n * t->size;
        memset(elem, 0, t->size);
        (*n)++;
        char where[64];
        snprintf(where, sizeof where, "in %s", t->what);
        if (cfgi_parse_map(x, t, item, item, elem, where) != 0)
            return -1;
    }
    return 0;
}

/* ---- special values ------------------------------------------------------ */

/* What people write to switch host key checking off (ssh's
 * StrictHostKeyChecking=no and friends).  They get an answer that says why
 * not, rather than "unknown value". */
static bool means_off(const char *s)
{
    static const char *const words[] = {"off", "no", "false", "0", "n", "none", "never",
                                        "insecure", "ignore", "disable", "disabled", "skip",
                                        "any", "accept-any", "accept-all", "permissive"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcasecmp(s, words[i]))
            return true;
    return false;
}

static int set_via(ctx *x, const row *r, const char *text, const yaml_node_t *at, void *target)
{
    char buf[64];
    (void)r;
    if (!strcmp(text, "libssh2") || !strcmp(text, "openssh")) {
        *(cfg_tunnel_via *)target = text[0] == 'l' ? CFG_TUNNEL_LIBSSH2 : CFG_TUNNEL_OPENSSH;
        return 0;
    }
    cfgi_fail(x, at, "expected libssh2 or openssh for 'via', got %s",
              cfgi_describe(at, buf, sizeof buf));
    mc_error_hint(x->err, "libssh2 is metacrawl's own SSH client; openssh runs the system's ssh "
                          "with your ssh_config; for anything else (aws ssm) use command: "
                          "[...] instead of via: (docs/tunnel.md)");
    return -1;
}

static int set_host_key_policy(ctx *x, const row *r, const char *text, const yaml_node_t *at,
                               void *target)
{
    static const char *const policies[] = {"strict", "accept-new"};
    char buf[64];
    (void)r;
    if (!strcmp(text, "strict")) {
        *(cfg_host_key_policy *)target = CFG_HOST_KEY_STRICT;
        return 0;
    }
    if (!strcmp(text, "accept-new")) {
        *(cfg_host_key_policy *)target = CFG_HOST_KEY_ACCEPT_NEW;
        return 0;
    }
    if (means_off(text)) {
        cfgi_fail(x, at, "host key verification cannot be switched off: 'host_key_policy' is strict "
                    "or accept-new, got %s", cfgi_describe(at, buf, sizeof buf));
        mc_error_hint(x->err, "accept-new records the key of a host seen for the first time and "
                              "still refuses a changed one; or add the host's key to known_hosts "
                              "(ssh-keyscan HOST, then compare its fingerprint)");
        return -1;
    }
    cfgi_fail(x, at, "expected strict or accept-new for 'host_key_policy', got %s",
         cfgi_describe(at, buf, sizeof buf));
    const char *near = cfgi_closest(text, policies, 2);
    if (near)
        mc_error_hint(x->err, "did you mean '%s'?", near);
    else
        mc_error_hint(x->err, "strict checks known_hosts; accept-new also records the key of a "
                              "host seen for the first time");
    return -1;
}

static int set_url(ctx *x, const row *r, const char *text, const yaml_node_t *at, void *target)
{
    /* The URL is not quoted back: a Slack or Teams webhook URL is itself
     * a credential. */
    if (strncmp(text, "https://", 8) && strncmp(text, "http://", 7)) {
        cfgi_fail(x, at, "'%s' must be an http:// or https:// URL", r->key);
        mc_error_hint(x->err, "write the full URL the JSON is POSTed to");
        return -1;
    }
    /* The delivery rule itself (cfg_webhook_url_problem, which alerts
     * checks again before it POSTs), so a URL that could never be used
     * fails at load time rather than at the first change. */
    const char *problem = cfg_webhook_url_problem(text);
    if (problem) {
        cfgi_fail(x, at, "'%s': %s", r->key, problem);
        mc_error_hint(x->err, "use an https:// URL; plain http:// only reaches a relay on this machine");
        return -1;
    }
    *(char **)target = mc_strdup(text);
    return 0;
}

/* aws_endpoint_url: where every AWS request of the datastore goes (a VPC
 * endpoint, or the tests' fake AWS).  Signed requests carry credentials,
 * so the rule is the webhooks': https, or http only to loopback. */
static int set_aws_url(ctx *x, const row *r, const char *text, const yaml_node_t *at,
                       void *target)
{
    const char *problem = aws_endpoint_url_problem(text);
    if (problem) {
        char buf[64];
        cfgi_fail(x, at, "'%s' %s: %s", r->key, cfgi_describe(at, buf, sizeof buf), problem);
        mc_error_hint(x->err, "write https://HOST[:PORT]/ (e.g. a VPC endpoint), or remove the key "
                              "to reach AWS's own endpoints");
        return -1;
    }
    *(char **)target = mc_strdup(text);
    return 0;
}

static int set_change_kinds(ctx *x, const row *r, const yaml_node_t *key, const yaml_node_t *val,
                            void *target)
{
    const char *names[MC_CHANGE__COUNT];
    for (int i = 0; i < MC_CHANGE__COUNT; i++)
        names[i] = mc_change_kind_name((mc_change_kind)i);
    if (val->type != YAML_SEQUENCE_NODE ||
        val->data.sequence.items.top == val->data.sequence.items.start) {
        if (val->type == YAML_SEQUENCE_NODE || cfgi_is_null(val)) {
            cfgi_fail(x, cfgi_is_null(val) ? key : val, "'%s' is empty", r->key);
            mc_error_hint(x->err, "remove '%s' to be told about every kind of change", r->key);
            return -1;
        }
        return cfgi_wrong_type(x, r, val);
    }
    unsigned mask = 0;
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = cfgi_node_at(x, *it);
        char buf[64];
        int k = item->type == YAML_SCALAR_NODE ? mc_change_kind_parse(cfgi_scalar(item)) : -1;
        if (k < 0) {
            cfgi_fail(x, item, "unknown change kind %s in '%s'", cfgi_describe(item, buf, sizeof buf),
                 r->key);
            const char *near = item->type == YAML_SCALAR_NODE
                                   ? cfgi_closest(cfgi_scalar(item), names, MC_CHANGE__COUNT) : NULL;
            if (near) {
                mc_error_hint(x->err, "did you mean '%s'?", near);
            } else {
                mc_buf list = {0};
                for (int i = 0; i < MC_CHANGE__COUNT; i++)
                    mc_buf_printf(&list, "%s%s", i ? ", " : "", names[i]);
                mc_error_hint(x->err, "the change kinds are: %s", mc_buf_str(&list));
                mc_buf_free(&list);
            }
            return -1;
        }
        mask |= 1u << k;
    }
    *(unsigned *)target = mask;
    return 0;
}

/* ---- databases: ------------------------------------------------------------ */

/* databases: [a, b] or databases: "*".  A name is taken as written (any
 * byte but NUL: the recorded datastore name escapes it, cfg_database_
 * datastore_name); an empty name and a name given twice are refused here. */
static int set_databases(ctx *x, const row *r, const yaml_node_t *key, const yaml_node_t *val,
                         void *target)
{
    cfg_datastore *d = target;
    char buf[64];
    d->databases_pos = cfgi_pos_of(x, val);
    if (val->type == YAML_SCALAR_NODE && !cfgi_is_null(val)) {
        if (!strcmp(cfgi_scalar(val), "*")) {
            d->all_databases = true;
            return 0;
        }
        cfgi_fail(x, val, "expected a list of database names or \"*\" for '%s', got %s", r->key,
                  cfgi_describe(val, buf, sizeof buf));
        mc_error_hint(x->err, "write databases: [sales, marketing], or databases: \"*\" for every "
                              "database the user may connect to");
        return -1;
    }
    if (val->type != YAML_SEQUENCE_NODE ||
        val->data.sequence.items.top == val->data.sequence.items.start) {
        cfgi_fail(x, val->type == YAML_SEQUENCE_NODE || cfgi_is_null(val) ? val : key,
                  "'%s' is empty", r->key);
        mc_error_hint(x->err, "name the databases, e.g. [sales, marketing], write \"*\" for all of "
                              "them, or remove '%s' to crawl 'database' alone", r->key);
        return -1;
    }
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = cfgi_node_at(x, *it);
        if (item->type != YAML_SCALAR_NODE || cfgi_is_null(item) || !*cfgi_scalar(item)) {
            cfgi_fail(x, item, "expected a database name in '%s', got %s", r->key,
                      cfgi_describe(item, buf, sizeof buf));
            mc_error_hint(x->err, "every item of '%s' is one database name; quote a name "
                                  "that starts with [, {, *, & or !", r->key);
            return -1;
        }
        if (strlen(cfgi_scalar(item)) != item->data.scalar.length)
            return cfgi_nul_in_value(x, r, item);
        if (!strcmp(cfgi_scalar(item), "*")) {
            cfgi_fail(x, item, "\"*\" in a list of '%s'", r->key);
            mc_error_hint(x->err, "write databases: \"*\" on its own for every database");
            return -1;
        }
        for (size_t i = 0; i < d->n_databases; i++)
            if (!strcmp(d->databases[i], cfgi_scalar(item))) {
                cfgi_fail(x, item, "database %s is named twice in '%s'",
                          cfgi_describe(item, buf, sizeof buf), r->key);
                mc_error_hint(x->err, "remove one of them");
                return -1;
            }
        d->databases = mc_realloc(d->databases, (d->n_databases + 2) * sizeof *d->databases);
        d->databases[d->n_databases++] = mc_strdup(cfgi_scalar(item));
        d->databases[d->n_databases] = NULL;
    }
    return 0;
}

/* ---- check hooks ---------------------------------------------------------- */

static int check_hop(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at)
{
    cfg_hop *h = obj;
    const yaml_node_t *k;
    if (h->passphrase.kind != CFG_SECRET_NONE && !h->private_key &&
        cfgi_map_find(x, map, "passphrase", &k, NULL)) {
        cfgi_fail(x, k, "'passphrase' is set but 'private_key' is not");
        mc_error_hint(
            x->err, "the passphrase unlocks the private_key file; add it or remove the passphrase");
        return -1;
    }
    if (!h->private_key && !h->agent && h->password.kind == CFG_SECRET_NONE) {
        cfgi_fail(x, map ? map : at, "no way to authenticate to ssh host '%s'", h->host);
        mc_error_hint(x->err, "set private_key, agent: true (use ssh-agent) or password");
        return -1;
    }
    return 0;
}

/* Each key given in MAP that is not in KEEP is an error: "'KEY' WHY". */
static int only_keys(ctx *x, const yaml_node_t *map, const char *const *keep, const char *why,
                     const char *hint)
{
    if (!map)
        return 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *key = cfgi_node_at(x, p->key);
        const char *name = cfgi_scalar(key);
        bool kept = false;
        for (size_t i = 0; keep[i] && !kept; i++)
            kept = strcmp(name, keep[i]) == 0;
        if (!kept) {
            cfgi_fail(x, key, "'%s' %s", name, why);
            mc_error_hint(x->err, "%s", hint);
            return -1;
        }
    }
    return 0;
}

/* A key of the libssh2 tunnel given with via: openssh. */
static int openssh_refuses(ctx *x, const yaml_node_t *map, const char *key, const char *hint)
{
    const yaml_node_t *k;
    if (!cfgi_map_find(x, map, key, &k, NULL))
        return 0;
    cfgi_fail(x, k, "'%s' does not apply to via: openssh", key);
    mc_error_hint(x->err, "%s", hint);
    return -1;
}

/*
 * The three transports share the block: command: alone (and
 * start_timeout:) makes a command tunnel; via: openssh takes host (an
 * ssh_config alias), port, user, private_key, known_hosts,
 * host_key_policy, keepalive, ssh, ssh_config and start_timeout, each left
 * to ssh_config when absent (port, user, private_key); the libssh2 tunnel
 * takes the rest.  Every key that does not belong is an error at its own
 * line and column.
 */
static int check_tunnel(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at)
{
    cfg_tunnel *t = obj;
    t->present = true;
    const yaml_node_t *k, *v;
    if (t->command) {
        static const char *const keep[] = {"command", "start_timeout", NULL};
        if (only_keys(x, map, keep, "does not apply to a command tunnel",
                      "a command tunnel has only command: (and start_timeout:): the program "
                      "knows where to connect, and metacrawl connects libpq to the port it "
                      "gives it as {port}") != 0)
            return -1;
        bool has_port = false;
        for (size_t i = 0; i < t->n_command; i++)
            has_port = has_port || strstr(t->command[i], "{port}") != NULL;
        if (!has_port) {
            cfgi_map_find(x, map, "command", &k, &v);
            cfgi_fail(x, v ? v : k, "the tunnel command has no {port} argument");
            mc_error_hint(x->err, "metacrawl picks a free local port and puts it where {port} "
                                  "stands, e.g. --parameters \"localPortNumber={port}\"");
            return -1;
        }
        t->via = CFG_TUNNEL_COMMAND;
        return 0;
    }
    if (!t->first.host) {
        cfgi_fail(x, at, "missing required key 'host' in 'tunnel'");
        mc_error_hint(x->err, "add 'host: ...' (the bastion; with via: openssh an ssh_config "
                              "Host alias), or 'command: [...]' for a port-forwarding program; "
                              "docs/tunnel.md");
        return -1;
    }
    if (t->via == CFG_TUNNEL_OPENSSH) {
        if (openssh_refuses(x, map, "passphrase",
                            "ssh never prompts here: load the key into ssh-agent (ssh-add) "
                            "and leave passphrase: out") != 0 ||
            openssh_refuses(x, map, "password",
                            "ssh runs in batch mode and cannot type a password: use a key "
                            "or ssh-agent") != 0 ||
            openssh_refuses(x, map, "agent",
                            "ssh uses ssh-agent by itself when SSH_AUTH_SOCK is set; remove "
                            "agent:") != 0 ||
            openssh_refuses(x, map, "jump",
                            "write the jump hosts as ProxyJump in ssh_config (or the file "
                            "ssh_config: names); docs/tunnel.md shows how") != 0)
            return -1;
        if (!cfgi_map_find(x, map, "port", &k, NULL))
            t->first.port = 0;
        return 0;
    }
    static const char *const openssh_only[] = {"ssh", "ssh_config", "start_timeout"};
    for (size_t i = 0; i < 3; i++)
        if (cfgi_map_find(x, map, openssh_only[i], &k, NULL)) {
            cfgi_fail(x, k, "'%s' applies only to via: openssh%s", openssh_only[i],
                      i == 2 ? " and command tunnels" : "");
            mc_error_hint(x->err, "add via: openssh to run the system's ssh, or remove '%s'",
                          openssh_only[i]);
            return -1;
        }
    if (!t->first.user) {
        cfgi_fail(x, at, "missing required key 'user' in 'tunnel'");
        mc_error_hint(x->err, "add 'user: ...'; docs/configuration.md describes every key");
        return -1;
    }
    return check_hop(x, &t->first, map, at);
}

static int check_admin(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at)
{
    (void)x, (void)map, (void)at;
    ((cfg_admin *)obj)->present = true;
    return 0;
}

static void init_datastore(void *obj)
{
    cfg_datastore *d = obj;
    d->connect_timeout_s = -1;    /* inherited from defaults by check_top */
    d->statement_timeout_ms = -1;
    d->max_runtime_s = -1;
    d->stale_after_s = -2; /* inherited from defaults by check_top */
    d->late_binding_timeout_ms = 120000;
}

/* Where a scalar value starts: inside its quotes, so a column inside it
 * adds up. */
static cfg_pos value_pos(ctx *x, const yaml_node_t *v)
{
    cfg_pos p = cfgi_pos_of(x, v);
    if (v->type == YAML_SCALAR_NODE &&
        (v->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
         v->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE))
        p.column++;
    return p;
}

/* A time zone is checked by the scheduling layer, after loading: keep
 * where it was written, so its error names its own line and column. */
static int check_defaults(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at)
{
    const yaml_node_t *v;
    (void)at;
    if (cfgi_map_find(x, map, "timezone", NULL, &v))
        ((cfg *)obj)->timezone_pos = value_pos(x, v);
    return 0;
}

static int check_datastore(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at)
{
    cfg_datastore *d = obj;
    const yaml_node_t *v;
    (void)at;
    if (cfgi_map_find(x, map, "timezone", NULL, &v))
        d->timezone_pos = value_pos(x, v);
    /* One source of the login: iam:, credentials_command, or a password
     * (password + password_command is the secret setter's own error). */
    static const char *const logins[] = {"iam", "credentials_command", "password",
                                         "password_command"};
    const yaml_node_t *k, *found[2] = {NULL, NULL};
    size_t n_found = 0;
    for (size_t i = 0; i < 4 && n_found < 2; i++) {
        if (i == 3 && n_found && !strcmp(cfgi_scalar(found[n_found - 1]), "password"))
            continue;
        if (cfgi_map_find(x, map, logins[i], &k, NULL))
            found[n_found++] = k;
    }
    if (n_found == 2) {
        bool second_later = found[1]->start_mark.index > found[0]->start_mark.index;
        const yaml_node_t *early = second_later ? found[0] : found[1];
        const yaml_node_t *late = second_later ? found[1] : found[0];
        cfgi_fail(x, late, "'%s' and '%s' cannot both be set", cfgi_scalar(early),
                  cfgi_scalar(late));
        mc_error_hint(x->err, "iam: and credentials_command give the user and the password "
                              "together; keep one way to log in");
        return -1;
    }
    if (cfgi_map_find(x, map, "credentials_command", &k, NULL))
        d->credentials_command_pos = cfgi_pos_of(x, k);
    if (cfgi_map_find(x, map, "schedule", NULL, &v)) {
        d->schedule_pos = cfgi_pos_of(x, v);
        /* point at the expression itself, so a column inside it adds up */
        if (v->type == YAML_SCALAR_NODE &&
            (v->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
             v->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE))
            d->schedule_pos.column++;
    }
    return 0;
}

static int check_iam(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at)
{
    cfg_iam *m = obj;
    const yaml_node_t *k;
    m->present = true;
    if (!m->cluster_identifier == !m->workgroup) {
        if (m->workgroup && cfgi_map_find(x, map, "workgroup", &k, NULL))
            cfgi_fail(x, k, "'iam' has both 'cluster_identifier' and 'workgroup'");
        else
            cfgi_fail(x, map ? map : at, "'iam' needs 'cluster_identifier' (a provisioned "
                      "cluster) or 'workgroup' (Redshift Serverless)");
        mc_error_hint(x->err, "keep one: cluster_identifier for GetClusterCredentials, workgroup "
                              "for Serverless GetCredentials");
        return -1;
    }
    static const char *const provisioned_only[] = {"db_user", "db_groups", "auto_create"};
    for (size_t i = 0; m->workgroup && i < 3; i++)
        if (cfgi_map_find(x, map, provisioned_only[i], &k, NULL)) {
            cfgi_fail(x, k, "'%s' applies to provisioned clusters, not to a Serverless "
                      "workgroup", provisioned_only[i]);
            mc_error_hint(x->err, "Serverless derives the database user from the IAM identity "
                                  "(IAM:role or IAMR:role); remove '%s'", provisioned_only[i]);
            return -1;
        }
    return 0;
}

static void init_alert(void *obj)
{
    ((cfg_alert *)obj)->on_mask = (1u << MC_CHANGE__COUNT) - 1;
}

static int check_alert(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at)
{
    cfg_alert *a = obj;
    static const char *const sinks[] = {"webhook", "file", "command"};
    const yaml_node_t *first = NULL, *k, *second = NULL;
    for (size_t i = 0; i < 3; i++) {
        if (!cfgi_map_find(x, map, sinks[i], &k, NULL))
            continue;
        if (!first || k->start_mark.index < first->start_mark.index) {
            second = first;
            first = k;
        } else if (!second || k->start_mark.index < second->start_mark.index) {
            second = k;
        }
    }
    if (second) {
        cfgi_fail(x, second, "alert '%s' has two sinks, '%s' and '%s'", a->name, cfgi_scalar(first),
             cfgi_scalar(second));
        mc_error_hint(x->err, "an alert has exactly one of webhook, file, command; write one "
                              "alert per sink");
        return -1;
    }
    if (!first) {
        cfgi_fail(x, at, "alert '%s' has no sink", a->name);
        mc_error_hint(x->err, "add one of webhook: URL, file: PATH, command: [argv...]");
        return -1;
    }
    if (a->format && !a->webhook && cfgi_map_find(x, map, "format", &k, NULL)) {
        cfgi_fail(x, k, "'format' applies only to webhook alerts");
        mc_error_hint(x->err, "file and command sinks always get JSON; remove 'format'");
        return -1;
    }
    if (a->webhook && !a->format)
        a->format = mc_strdup("json");
    return 0;
}

static int check_top(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at)
{
    cfg *c = obj;
    (void)x, (void)map, (void)at;
    for (size_t i = 0; i < c->n_datastores; i++) {
        cfg_datastore *d = &c->datastores[i];
        if (!d->timezone)
            d->timezone = mc_strdup(c->timezone);
        if (d->connect_timeout_s < 0)
            d->connect_timeout_s = c->connect_timeout_s;
        if (d->statement_timeout_ms < 0)
            d->statement_timeout_ms = c->statement_timeout_ms;
        if (d->max_runtime_s < 0)
            d->max_runtime_s = c->max_runtime_s;
        if (d->stale_after_s == -2)
            d->stale_after_s = c->stale_after_s;
        /* ${aws-sm:...} of this datastore use its iam: settings and endpoint
         * (set here: the datastores array has its final address now). */
        cfg_secret *secrets[] = {&d->password, &d->admin.password, &d->tunnel.first.password,
                                 &d->tunnel.first.passphrase};
        for (size_t s = 0; s < sizeof secrets / sizeof secrets[0]; s++)
            secrets[s]->aws = &d->iam, secrets[s]->aws_endpoint_url = d->aws_endpoint_url;
        for (size_t h = 0; h < d->tunnel.n_jump; h++) {
            d->tunnel.jump[h].password.aws = &d->iam;
            d->tunnel.jump[h].password.aws_endpoint_url = d->aws_endpoint_url;
            d->tunnel.jump[h].passphrase.aws = &d->iam;
            d->tunnel.jump[h].passphrase.aws_endpoint_url = d->aws_endpoint_url;
        }
    }
    return 0;
}

/* ---- the tables ------------------------------------------------------------ */

#define ROWS(a) (a), sizeof(a) / sizeof((a)[0])
#define DUR(s) ((int64_t)(s) * 1000)

/* The keys of an SSH hop, for the tunnel block itself (BASE = where its
 * cfg_hop sits) and for each item of jump (BASE = 0). */
#define HOP_ROWS(BASE, REQ)                                                                      \
    {.key = "host", .type = T_STRING, .required = (REQ), .off = (BASE) + offsetof(cfg_hop, host)}, \
    {.key = "port", .type = T_INT, .def = "22", .off = (BASE) + offsetof(cfg_hop, port),          \
     .min = 1, .max = 65535},                                                                   \
    {.key = "user", .type = T_STRING, .required = (REQ), .off = (BASE) + offsetof(cfg_hop, user)}, \
    {.key = "private_key", .type = T_PATH, .off = (BASE) + offsetof(cfg_hop, private_key)},       \
    {.key = "passphrase", .type = T_SECRET, .off = (BASE) + offsetof(cfg_hop, passphrase)},       \
    {.key = "password", .type = T_SECRET, .off = (BASE) + offsetof(cfg_hop, password)},           \
    {.key = "agent", .type = T_BOOL, .def = "false", .off = (BASE) + offsetof(cfg_hop, agent)},   \
    {.key = "known_hosts", .type = T_PATH, .def = "~/.ssh/known_hosts",                           \
     .off = (BASE) + offsetof(cfg_hop, known_hosts)},                                           \
    {.key = "host_key_policy", .type = T_SCALAR_FN, .def = "strict",                              \
     .off = (BASE) + offsetof(cfg_hop, host_key_policy), .scalar_fn = set_host_key_policy}

static const row hop_rows[] = {HOP_ROWS(0, true)};
static const table hop_table = {
    .what = "a jump hop", .rows = ROWS(hop_rows), .size = sizeof(cfg_hop),
    .pos_off = offsetof(cfg_hop, pos), .check = check_hop,
};


static const row tunnel_rows[] = {
    HOP_ROWS(offsetof(cfg_tunnel, first), false),
    {.key = "jump", .type = T_MAPLIST, .off = offsetof(cfg_tunnel, jump),
     .n_off = offsetof(cfg_tunnel, n_jump), .sub = &hop_table},
    {.key = "keepalive", .type = T_DURATION_S, .def = "30s",
     .off = offsetof(cfg_tunnel, keepalive_s), .min = 0, .max = DUR(3600)},
    {.key = "via", .type = T_SCALAR_FN, .off = offsetof(cfg_tunnel, via), .scalar_fn = set_via},
    {.key = "ssh", .type = T_STRING, .off = offsetof(cfg_tunnel, ssh)},
    {.key = "ssh_config", .type = T_PATH, .off = offsetof(cfg_tunnel, ssh_config)},
    {.key = "command", .type = T_ARGV, .off = offsetof(cfg_tunnel, command),
     .n_off = offsetof(cfg_tunnel, n_command)},
    {.key = "start_timeout", .type = T_DURATION_S, .def = "30s",
     .off = offsetof(cfg_tunnel, start_timeout_s), .min = DUR(1), .max = DUR(3600)},
};
static const table tunnel_table = {
    .what = "tunnel", .rows = ROWS(tunnel_rows), .size = sizeof(cfg_tunnel),
    .pos_off = offsetof(cfg_tunnel, first) + offsetof(cfg_hop, pos), .check = check_tunnel,
};

static const row globs_rows[] = {
    {.key = "include", .type = T_GLOBLIST, .off = offsetof(cfg_globs, include),
     .n_off = offsetof(cfg_globs, n_include)},
    {.key = "exclude", .type = T_GLOBLIST, .off = offsetof(cfg_globs, exclude),
     .n_off = offsetof(cfg_globs, n_exclude)},
};
static const table globs_table = {.what = "a glob block", .rows = ROWS(globs_rows),
                                  .size = sizeof(cfg_globs), .pos_off = NO_OFF};

/* fail_safe's keys land in the datastore itself (T_MAP with off 0). */
static const row fail_safe_rows[] = {
    {.key = "max_removed_pct", .type = T_NUMBER, .def = "20",
     .off = offsetof(cfg_datastore, max_removed_pct), .min = 0, .max = 100},
};
static const table fail_safe_table = {.what = "fail_safe", .rows = ROWS(fail_safe_rows),
                                      .pos_off = NO_OFF, .fill_when_absent = true};

/* retry's keys land in the datastore itself (T_MAP with off 0). */
static const row retry_rows[] = {
    {.key = "attempts", .type = T_INT, .def = "0", .off = offsetof(cfg_datastore, retry_attempts),
     .min = 0, .max = 10},
    {.key = "backoff", .type = T_DURATION_S, .def = "1m",
     .off = offsetof(cfg_datastore, retry_backoff_s), .min = DUR(1), .max = DUR(86400)},
};
static const table retry_table = {.what = "retry", .rows = ROWS(retry_rows),
                                  .pos_off = NO_OFF, .fill_when_absent = true};

/* admin: the same secret keys as the datastore's own. */
static const row admin_rows[] = {
    {.key = "user", .type = T_STRING, .required = true, .off = offsetof(cfg_admin, user)},
    {.key = "password", .type = T_SECRET, .off = offsetof(cfg_admin, password),
     .checked_on_use = true},
    {.key = "password_command", .type = T_SECRET_ARGV, .off = offsetof(cfg_admin, password)},
};
static const table admin_table = {
    .what = "admin", .rows = ROWS(admin_rows), .size = sizeof(cfg_admin),
    .pos_off = offsetof(cfg_admin, pos), .check = check_admin,
};

/* iam: where the login comes from when AWS hands it out (docs/aws.md). */
static const row iam_rows[] = {
    {.key = "cluster_identifier", .type = T_STRING, .off = offsetof(cfg_iam, cluster_identifier)},
    {.key = "workgroup", .type = T_STRING, .off = offsetof(cfg_iam, workgroup)},
    {.key = "region", .type = T_STRING, .off = offsetof(cfg_iam, region)},
    {.key = "db_user", .type = T_STRING, .off = offsetof(cfg_iam, db_user)},
    {.key = "db_groups", .type = T_STRLIST, .off = offsetof(cfg_iam, db_groups),
     .n_off = offsetof(cfg_iam, n_db_groups)},
    {.key = "auto_create", .type = T_BOOL, .def = "false", .off = offsetof(cfg_iam, auto_create)},
    {.key = "duration", .type = T_DURATION_S, .off = offsetof(cfg_iam, duration_s),
     .min = DUR(900), .max = DUR(3600)},
    {.key = "profile", .type = T_STRING, .off = offsetof(cfg_iam, profile)},
    {.key = "role_arn", .type = T_STRING, .off = offsetof(cfg_iam, role_arn)},
};
static const table iam_table = {
    .what = "iam", .rows = ROWS(iam_rows), .size = sizeof(cfg_iam),
    .pos_off = offsetof(cfg_iam, pos), .check = check_iam,
};

static const char *const sslmodes[] = {"disable", "allow", "prefer", "require",
                                       "verify-ca", "verify-full", NULL};

static const row datastore_rows[] = {
    {.key = "name", .type = T_NAME, .required = true, .off = offsetof(cfg_datastore, name),
     .scope = SCOPE_DATASTORE},
    {.key = "host", .type = T_STRING, .required = true, .off = offsetof(cfg_datastore, host)},
    {.key = "port", .type = T_INT, .def = "5439", .off = offsetof(cfg_datastore, port),
     .min = 1, .max = 65535},
    {.key = "database", .type = T_STRING, .required = true,
     .off = offsetof(cfg_datastore, database)},
    {.key = "user", .type = T_STRING, .def = "metamapper", .off = offsetof(cfg_datastore, user)},
    {.key = "group", .type = T_STRING, .def = "metamapper", .off = offsetof(cfg_datastore, group)},
    {.key = "password", .type = T_SECRET, .off = offsetof(cfg_datastore, password)},
    {.key = "password_command", .type = T_SECRET_ARGV, .off = offsetof(cfg_datastore, password)},
    {.key = "iam", .type = T_MAP, .off = offsetof(cfg_datastore, iam), .sub = &iam_table},
    {.key = "credentials_command", .type = T_ARGV, .off = offsetof(cfg_datastore, credentials_command),
     .n_off = offsetof(cfg_datastore, n_credentials_command)},
    {.key = "aws_endpoint_url", .type = T_SCALAR_FN, .off = offsetof(cfg_datastore, aws_endpoint_url),
     .scalar_fn = set_aws_url},
    {.key = "sslmode", .type = T_ENUM, .off = offsetof(cfg_datastore, sslmode),
     .choices = sslmodes},
    {.key = "schemas", .type = T_MAP, .off = offsetof(cfg_datastore, schemas), .sub = &globs_table},
    {.key = "containers", .type = T_MAP, .off = offsetof(cfg_datastore, containers),
     .sub = &globs_table},
    {.key = "tunnel", .type = T_MAP, .off = offsetof(cfg_datastore, tunnel), .sub = &tunnel_table},
    {.key = "admin", .type = T_MAP, .off = offsetof(cfg_datastore, admin), .sub = &admin_table},
    {.key = "schedule", .type = T_STRING, .off = offsetof(cfg_datastore, schedule)},
    {.key = "timezone", .type = T_STRING, .off = offsetof(cfg_datastore, timezone)},
    {.key = "fail_safe", .type = T_MAP, .off = 0, .sub = &fail_safe_table},
    {.key = "retry", .type = T_MAP, .off = 0, .sub = &retry_table},
    {.key = "extension_members", .type = T_BOOL, .def = "true",
     .off = offsetof(cfg_datastore, extension_members)},
    {.key = "connect_timeout", .type = T_DURATION_S,
     .off = offsetof(cfg_datastore, connect_timeout_s), .min = DUR(1), .max = DUR(3600)},
    {.key = "statement_timeout", .type = T_DURATION_MS,
     .off = offsetof(cfg_datastore, statement_timeout_ms), .min = 0, .max = DUR(86400)},
    {.key = "max_runtime", .type = T_DURATION_S,
     .off = offsetof(cfg_datastore, max_runtime_s), .min = 0, .max = DUR(7 * 86400)},
    {.key = "jitter", .type = T_DURATION_S,
     .off = offsetof(cfg_datastore, jitter_s), .min = 0, .max = DUR(86400)},
    {.key = "starting_deadline", .type = T_DURATION_S,
     .off = offsetof(cfg_datastore, starting_deadline_s), .min = 0, .max = DUR(366 * 86400)},
    {.key = "stale_after", .type = T_DURATION_S,
     .off = offsetof(cfg_datastore, stale_after_s), .min = 0, .max = DUR(366 * 86400)},
    {.key = "late_binding_timeout", .type = T_DURATION_MS,
     .off = offsetof(cfg_datastore, late_binding_timeout_ms), .min = DUR(1), .max = DUR(86400)},
    /* several databases of one cluster (docs/configuration.md) */
    {.key = "databases", .type = T_NODE_FN, .off = 0, .node_fn = set_databases},
};
_Static_assert(sizeof datastore_rows / sizeof datastore_rows[0] <= CFG_MAX_ROWS,
               "a datastore has more keys than cfgi_parse_map can track");
static const table datastore_table = {
    .what = "a datastore", .named = "datastore", .rows = ROWS(datastore_rows),
    .size = sizeof(cfg_datastore), .pos_off = offsetof(cfg_datastore, pos),
    .init = init_datastore, .check = check_datastore,
};

static const char *const alert_formats[] = {"json", "slack", NULL};

static const row alert_rows[] = {
    {.key = "name", .type = T_NAME, .required = true, .off = offsetof(cfg_alert, name),
     .scope = SCOPE_ALERT},
    {.key = "on", .type = T_NODE_FN, .off = offsetof(cfg_alert, on_mask),
     .node_fn = set_change_kinds},
    {.key = "match", .type = T_GLOBLIST, .off = offsetof(cfg_alert, match),
     .n_off = offsetof(cfg_alert, n_match)},
    {.key = "breaking_only", .type = T_BOOL, .def = "false",
     .off = offsetof(cfg_alert, breaking_only)},
    {.key = "webhook", .type = T_SCALAR_FN, .off = offsetof(cfg_alert, webhook),
     .scalar_fn = set_url},
    {.key = "file", .type = T_PATH, .off = offsetof(cfg_alert, file)},
    {.key = "command", .type = T_ARGV, .off = offsetof(cfg_alert, command),
     .n_off = offsetof(cfg_alert, n_command)},
    {.key = "format", .type = T_ENUM, .off = offsetof(cfg_alert, format), .choices = alert_formats},
    {.key = "timeout", .type = T_DURATION_S, .def = "10s", .off = offsetof(cfg_alert, timeout_s),
     .min = DUR(1), .max = DUR(600)},
};
static const table alert_table = {
    .what = "an alert", .named = "alert", .rows = ROWS(alert_rows), .size = sizeof(cfg_alert),
    .pos_off = offsetof(cfg_alert, pos), .init = init_alert, .check = check_alert,
};

/* defaults' keys land in the cfg itself (T_MAP with off 0). */
static const row defaults_rows[] = {
    {.key = "timezone", .type = T_STRING, .def = "UTC", .off = offsetof(cfg, timezone)},
    {.key = "connect_timeout", .type = T_DURATION_S, .def = "10s",
     .off = offsetof(cfg, connect_timeout_s), .min = DUR(1), .max = DUR(3600)},
    {.key = "statement_timeout", .type = T_DURATION_MS, .def = "5m",
     .off = offsetof(cfg, statement_timeout_ms), .min = 0, .max = DUR(86400)},
    {.key = "max_runtime", .type = T_DURATION_S, .def = "1h",
     .off = offsetof(cfg, max_runtime_s), .min = 0, .max = DUR(7 * 86400)},
    {.key = "stale_after", .type = T_DURATION_S,
     .off = offsetof(cfg, stale_after_s), .min = 0, .max = DUR(366 * 86400)},
};
static const table defaults_table = {.what = "defaults", .rows = ROWS(defaults_rows),
                                     .pos_off = NO_OFF, .fill_when_absent = true,
                                     .check = check_defaults};

/* scheduler's keys land in the cfg itself (T_MAP with off 0). */
static const row scheduler_rows[] = {
    {.key = "max_parallel", .type = T_INT, .def = "2", .off = offsetof(cfg, sched_max_parallel),
     .min = 1, .max = 64},
    {.key = "max_per_host", .type = T_INT, .def = "0", .off = offsetof(cfg, sched_max_per_host),
     .min = 0, .max = 64},
    {.key = "shutdown_timeout", .type = T_DURATION_S, .def = "5m",
     .off = offsetof(cfg, sched_shutdown_timeout_s), .min = 0, .max = DUR(86400)},
};
static const table scheduler_table = {.what = "scheduler", .rows = ROWS(scheduler_rows),
                                      .pos_off = NO_OFF, .fill_when_absent = true};

static const row top_rows[] = {
    {.key = "store", .type = T_PATH, .def = "./catalog.db", .off = offsetof(cfg, store)},
    {.key = "defaults", .type = T_MAP, .off = 0, .sub = &defaults_table},
    {.key = "datastores", .type = T_MAPLIST, .off = offsetof(cfg, datastores),
     .n_off = offsetof(cfg, n_datastores), .sub = &datastore_table},
    {.key = "alerts", .type = T_MAPLIST, .off = offsetof(cfg, alerts),
     .n_off = offsetof(cfg, n_alerts), .sub = &alert_table},
    {.key = "scheduler", .type = T_MAP, .off = 0, .sub = &scheduler_table},
};
const table cfgi_top_table = {.what = "the top level", .rows = ROWS(top_rows),
                                .pos_off = NO_OFF, .check = check_top};
