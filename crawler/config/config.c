/*
 * config.c — metacrawl.yml: reading it with libyaml's document API,
 * checking it against one table per kind of mapping, and the secret
 * sources (${env:NAME}, ${file:PATH}, a literal, password_command).
 *
 * Every mapping in the file is described by a `table` of `row`s (key, type,
 * required, default, where the value goes).  parse_map() walks a mapping
 * in document order, so the first mistake in the file is the one reported;
 * it rejects unknown and duplicate keys, converts each value with the
 * setter for its type, then fills defaults (parsed by the same setters, so
 * a default obeys the same rules as a written value) and reports missing
 * required keys at the mapping's position.  A table's `check` hook does the
 * rules that involve more than one key (exactly one alert sink, a way for a
 * tunnel to authenticate, defaults inherited by datastores).
 *
 * Every error is MC_EXIT_CONFIG and reads "FILE:LINE:COLUMN: message" with
 * 1-based positions from libyaml's marks.  A secret's value is never
 * formatted into a message: the secret setters describe what is wrong
 * without quoting it, and only the secret-free scalar types quote the
 * offending value.
 *
 * Secrets: at load time only their availability is checked (the variable
 * is set and non-empty, the file is readable, the argv is not empty);
 * cfg_secret_resolve() reads the value when a connection needs it.  Every
 * buffer that held a secret is wiped: the file text, libyaml's input
 * buffers and every scalar of the document before it is freed, the
 * buffers of cfg_secret_resolve, and literal secrets in cfg_free.
 * libyaml's scanner builds scalars in temporary strings that it frees
 * without wiping; they are out of our reach, which is one more reason
 * docs/configuration.md discourages literal secrets.
 */
#include "config.h"
#include "alerts.h"
#include "proc.h"
#include "secret.h"

#include "../store/store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#define NO_OFF ((size_t)-1)
#define AT(obj, off) ((void *)((char *)(obj) + (off)))

enum {
    CONFIG_MAX_BYTES = 4 * 1024 * 1024, /* no real config comes close */
    SECRET_MAX_BYTES = 64 * 1024,
    SECRET_COMMAND_TIMEOUT_S = 30,
};

/* ---- errors --------------------------------------------------------------- */

static int fail_pos(mc_error *err, const cfg_pos *p, const char *fmt, ...)
    MC_PRINTF(3, 4);
static int fail_pos(mc_error *err, const cfg_pos *p, const char *fmt, ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mc_error_set(err, MC_EXIT_CONFIG, "%s:%d:%d: %s", p->file, p->line,
                        p->column, msg);
}

/* strerror, lower case, so it reads well after "cannot read X: ". */
static const char *errtext(int e, char *buf, size_t size)
{
    const char *s = strerror_r(e, buf, size);
    if (s != buf)
        snprintf(buf, size, "%s", s);
    buf[0] = (char)tolower((unsigned char)buf[0]);
    return buf;
}

/* ---- the walk's state ---------------------------------------------------- */

enum name_scope { SCOPE_DATASTORE, SCOPE_ALERT };

struct seen_name {
    int scope;
    const char *name; /* owned by the cfg */
    cfg_pos pos;
};

typedef struct ctx {
    yaml_document_t *doc;
    const char *file;  /* the cfg's path, which outlives every cfg_pos */
    mc_error *err;
    cfg *c;
    struct seen_name *names;
    size_t n_names;
} ctx;

static cfg_pos pos_of(const ctx *x, const yaml_node_t *n)
{
    cfg_pos p = {x->file, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    return p;
}

static int fail(ctx *x, const yaml_node_t *at, const char *fmt, ...) MC_PRINTF(3, 4);
static int fail(ctx *x, const yaml_node_t *at, const char *fmt, ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cfg_pos p = pos_of(x, at);
    return fail_pos(x->err, &p, "%s", msg);
}

static const yaml_node_t *node_at(ctx *x, int id)
{
    return yaml_document_get_node(x->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain empty, ~ or null scalar: YAML's "no value". */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

/* What a value is, for "got ..." in messages: the text of a scalar
 * (shortened, control characters replaced, so the message stays one line),
 * else its kind.  Never used on a secret's value. */
static const char *describe(const yaml_node_t *n, char *buf, size_t size)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (is_null(n))
        return "nothing";
    const char *s = scalar(n);
    size_t len = strlen(s), max = size > 8 ? size - 6 : 1, o = 0;
    buf[o++] = '\'';
    for (size_t i = 0; i < len && o < max; i++)
        buf[o++] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
    if (o >= max)
        o += (size_t)snprintf(buf + o, size - o, "...");
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

/* ---- suggestions ---------------------------------------------------------- */

/* Optimal string alignment distance (edits plus adjacent swaps), case
 * folded, so "Host", "hots" and "hst" all find "host". */
static int edit_distance(const char *a, const char *b)
{
    enum { MAXLEN = 48 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXLEN || lb > MAXLEN)
        return 99;
    int rows[3][MAXLEN + 1];
    int *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        int ca = tolower((unsigned char)a[i - 1]);
        for (size_t j = 1; j <= lb; j++) {
            int cb = tolower((unsigned char)b[j - 1]);
            int d = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1;
            cur[j] = d;
        }
        int *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

/* The candidate closest to word, or NULL when none is close: within two
 * edits (one for words of three letters or fewer, where two edits reach
 * almost anything). */
static const char *closest(const char *word, const char *const *cands, size_t n)
{
    int limit = strlen(word) <= 3 ? 1 : 2, best_d = limit + 1;
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(word, cands[i]))
            continue;
        int d = edit_distance(word, cands[i]);
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    return best;
}

/* ---- tables --------------------------------------------------------------- */

typedef enum vtype {
    T_STRING,      /* non-empty string */
    T_PATH,        /* string, a leading ~/ expanded with $HOME */
    T_NAME,        /* [a-z0-9_-]+ for datastores; unique in its scope */
    T_INT,         /* integer in [min, max] */
    T_NUMBER,      /* finite number in [min, max], an optional trailing % */
    T_BOOL,        /* true/false, yes/no, on/off */
    T_DURATION_S,  /* duration in [min, max] ms, stored as int seconds */
    T_DURATION_MS, /* duration in [min, max] ms, stored as int ms */
    T_ENUM,        /* one of choices, stored as a string */
    T_STRLIST,     /* list of strings, NULL-terminated, count at n_off */
    T_GLOBLIST,    /* T_STRLIST whose items are valid globs */
    T_ARGV,        /* non-empty T_STRLIST: a program and its arguments */
    T_SECRET,      /* ${env:NAME}, ${file:PATH} or a literal -> cfg_secret */
    T_SECRET_ARGV, /* argv -> cfg_secret of kind COMMAND */
    T_MAP,         /* a nested mapping described by sub */
    T_MAPLIST,     /* list of mappings described by sub, count at n_off */
    T_SCALAR_FN,   /* a scalar converted by row.scalar_fn */
    T_NODE_FN,     /* any node converted by row.node_fn */
} vtype;

typedef struct row row;
typedef struct table table;

typedef int (*scalar_fn)(ctx *x, const row *r, const char *text,
                         const yaml_node_t *at, void *target);
typedef int (*node_fn)(ctx *x, const row *r, const yaml_node_t *key,
                       const yaml_node_t *val, void *target);

struct row {
    const char *key;
    vtype type;
    bool required;
    const char *def;             /* default, parsed as if written; NULL = none */
    size_t off;                  /* target, from the start of the table's object */
    size_t n_off;                /* lists: where the count goes */
    int64_t min, max;            /* T_INT, T_NUMBER; durations in ms */
    const char *const *choices;  /* T_ENUM, NULL-terminated */
    const table *sub;            /* T_MAP (its object is at off), T_MAPLIST */
    int scope;                   /* T_NAME */
    scalar_fn scalar_fn;
    node_fn node_fn;
    /* T_SECRET: checked when it is used, not when the file is loaded (the
     * admin's password: only `grants --apply` needs it, and a crawl from
     * cron must not fail because the admin's variable is not set there) */
    bool checked_on_use;
};

struct table {
    const char *what;      /* "a datastore": the item in messages */
    const char *named;     /* "datastore": "datastore 'analytics'" once named */
    const row *rows;
    size_t n_rows;
    size_t size;           /* the object's size, for lists of this mapping */
    size_t pos_off;        /* where the mapping's cfg_pos goes, or NO_OFF */
    bool fill_when_absent; /* apply the defaults when the key is missing */
    void (*init)(void *obj);
    int (*check)(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at);
};

static int parse_map(ctx *x, const table *t, const yaml_node_t *map,
                     const yaml_node_t *at, void *obj, const char *where);

/* ---- paths ------------------------------------------------------------------ */

/* "~" and "~/x" become $HOME and $HOME/x; other paths are kept as written
 * (relative ones are relative to the directory metacrawl runs in). */
static int expand_home(ctx *x, const char *key, const char *path,
                       const yaml_node_t *at, char **out)
{
    if (path[0] != '~') {
        *out = mc_strdup(path);
        return 0;
    }
    if (path[1] != '\0' && path[1] != '/') {
        fail(x, at, "'~user' paths are not supported in '%s'", key);
        mc_error_hint(x->err, "write the full path, or ~/ for your own home");
        return -1;
    }
    const char *home = getenv("HOME");
    if (!home || !*home) {
        fail(x, at, "cannot expand '~' in '%s': HOME is not set", key);
        mc_error_hint(x->err, "write the full path");
        return -1;
    }
    size_t hl = strlen(home);
    if (hl > 1 && home[hl - 1] == '/')
        hl--;
    *out = mc_asprintf("%.*s%s", (int)hl, home, path + 1);
    return 0;
}

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

static int wrong_type(ctx *x, const row *r, const yaml_node_t *val)
{
    char buf[64];
    fail(x, val, "expected %s for '%s', got %s", type_word(r), r->key,
         describe(val, buf, sizeof buf));
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
    fail(x, at, "'%s' is empty", r->key);
    mc_error_hint(x->err, "write a value, or remove the key");
    return -1;
}

static int nul_in_value(ctx *x, const row *r, const yaml_node_t *at)
{
    fail(x, at, "'%s' contains a NUL character", r->key);
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
            fail(x, at, "invalid datastore name %s: use lower-case letters, digits, '_' and '-'",
                 describe(at, buf, sizeof buf));
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
            fail(x, at, "duplicate %s name '%s' (the first is at line %d, column %d)", label,
                 text, s->pos.line, s->pos.column);
            mc_error_hint(x->err, "%s names must be unique; rename one of them", label);
            return -1;
        }
    }
    *target = mc_strdup(text);
    x->names = mc_realloc(x->names, (x->n_names + 1) * sizeof *x->names);
    x->names[x->n_names++] = (struct seen_name){r->scope, *target, pos_of(x, at)};
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
    fail(x, at, "expected one of %s for '%s', got %s", mc_buf_str(&list), r->key,
         describe(at, buf, sizeof buf));
    const char *near = closest(text, r->choices, n);
    if (near)
        mc_error_hint(x->err, "did you mean '%s'?", near);
    mc_buf_free(&list);
    return -1;
}

/* A scalar for a row, at node `at` (the value, or for a default the
 * mapping the default is applied to). */
static int set_scalar(ctx *x, const row *r, const char *text, const yaml_node_t *at,
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
        return expand_home(x, r->key, text, at, (char **)target);
    case T_NAME:
        return set_name(x, r, text, at, (char **)target);
    case T_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!isdigit((unsigned char)text[text[0] == '-']) || *end || errno)
            return wrong_type(x, r, at);
        if (v < r->min || v > r->max) {
            fail(x, at, "'%s' must be between %lld and %lld, got %lld", r->key, (long long)r->min,
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
            return wrong_type(x, r, at);
        if (v < (double)r->min || v > (double)r->max) {
            fail(x, at, "'%s' must be between %lld and %lld, got %s", r->key, (long long)r->min,
                 (long long)r->max, describe(at, buf, sizeof buf));
            out_of_range_hint(x, r);
            return -1;
        }
        *(double *)target = v;
        return 0;
    }
    case T_BOOL:
        if (!parse_bool(text, (bool *)target))
            return wrong_type(x, r, at);
        return 0;
    case T_DURATION_S:
    case T_DURATION_MS: {
        int64_t ms = cfg_parse_duration_ms(text);
        if (ms < 0)
            return wrong_type(x, r, at);
        if (ms < r->min || ms > r->max) {
            format_duration(r->min, range_lo, sizeof range_lo);
            format_duration(r->max, range_hi, sizeof range_hi);
            fail(x, at, "'%s' must be between %s and %s, got %s", r->key, range_lo, range_hi,
                 describe(at, buf, sizeof buf));
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
        return wrong_type(x, r, at);
    }
}

/* ---- secrets at load time ----------------------------------------------- */

static bool valid_env_name(const char *s, size_t n)
{
    if (n == 0 || isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* The checks shared by load and resolve: a variable must be set and not
 * empty (an empty password is never what was meant), a file readable. */
static int check_env(mc_error *err, const cfg_secret *s)
{
    const char *v = getenv(s->ref);
    if (!v || !*v) {
        fail_pos(err, &s->pos, "environment variable %s is %s", s->ref, v ? "empty" : "not set");
        mc_error_hint(err, "export %s before running metacrawl (for cron or systemd, set it in "
                           "the job's environment), or use ${file:PATH} or password_command",
                      s->ref);
        return -1;
    }
    return 0;
}

static int check_file(mc_error *err, const cfg_secret *s)
{
    struct stat st;
    char eb[128];
    if (access(s->ref, R_OK) != 0 || stat(s->ref, &st) != 0) {
        fail_pos(err, &s->pos, "cannot read %s: %s", s->ref, errtext(errno, eb, sizeof eb));
        mc_error_hint(err, "the file must exist and be readable by the user metacrawl runs as");
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        fail_pos(err, &s->pos, "cannot read %s: it is a directory", s->ref);
        mc_error_hint(err, "${file:PATH} takes the path of a file that holds only the secret");
        return -1;
    }
    return 0;
}

static int set_secret(ctx *x, const row *r, const yaml_node_t *key, const yaml_node_t *val,
                      cfg_secret *s)
{
    if (s->kind != CFG_SECRET_NONE) {
        fail(x, key, "'password' and 'password_command' cannot both be set");
        mc_error_hint(x->err, "keep one of them");
        return -1;
    }
    if (val->type != YAML_SCALAR_NODE) {
        fail(x, val, "expected a string for '%s', got %s", r->key,
             val->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
        mc_error_hint(x->err, "write ${env:NAME}, ${file:PATH} or the value itself%s",
                      strcmp(r->key, "password")
                          ? ""
                          : "; to run a program, use password_command: [argv...]");
        return -1;
    }
    if (is_null(val)) {
        fail(x, key, "'%s' has no value", r->key);
        mc_error_hint(x->err, "remove the key to go without (for a database password, libpq "
                              "then uses PGPASSWORD or ~/.pgpass)");
        return -1;
    }
    const char *v = scalar(val);
    size_t len = strlen(v);
    if (len != val->data.scalar.length)
        return nul_in_value(x, r, val);
    if (!*v) {
        fail(x, val, "'%s' is empty", r->key);
        mc_error_hint(x->err, "an empty secret is never used; remove the key to go without");
        return -1;
    }
    s->pos = pos_of(x, key);
    if (!strstr(v, "${")) {
        s->kind = CFG_SECRET_LITERAL;
        s->ref = mc_strdup(v);
        return 0;
    }
    /* Only a whole value "${env:NAME}" or "${file:PATH}" is a reference.
     * Anything else with "${" is refused rather than guessed at, and the
     * message does not quote it: it might be a literal secret. */
    if (!strncmp(v, "${env:", 6) && v[len - 1] == '}' && valid_env_name(v + 6, len - 7)) {
        s->kind = CFG_SECRET_ENV;
        s->ref = mc_strndup(v + 6, len - 7);
        return r->checked_on_use ? 0 : check_env(x->err, s);
    }
    if (!strncmp(v, "${file:", 7) && v[len - 1] == '}' && len > 8 && !memchr(v + 7, '}', len - 8)) {
        char *path = mc_strndup(v + 7, len - 8);
        int rc = expand_home(x, r->key, path, val, &s->ref);
        free(path);
        if (rc != 0)
            return -1;
        s->kind = CFG_SECRET_FILE;
        return r->checked_on_use ? 0 : check_file(x->err, s);
    }
    fail(x, val, "'%s' has an unsupported ${...} reference", r->key);
    mc_error_hint(x->err, "the value must be exactly ${env:NAME} or ${file:PATH} (NAME: letters, "
                          "digits, '_'); a literal secret cannot contain '${', put it in a file");
    return -1;
}

/* ---- lists ------------------------------------------------------------------ */

/* The items of a list row as strings; NULL-terminated, count in *n. */
static int string_items(ctx *x, const row *r, const yaml_node_t *val, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (val->type != YAML_SEQUENCE_NODE && !is_null(val))
        return wrong_type(x, r, val);
    size_t count = is_null(val) ? 0 : (size_t)(val->data.sequence.items.top -
                                               val->data.sequence.items.start);
    char **v = mc_calloc(count + 1, sizeof *v);
    *out = v;
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *it = node_at(x, val->data.sequence.items.start[i]);
        char buf[64];
        if (it->type != YAML_SCALAR_NODE || is_null(it)) {
            fail(x, it, "expected a string in '%s', got %s", r->key, describe(it, buf, sizeof buf));
            mc_error_hint(x->err, "every item of '%s' is a single value", r->key);
            return -1;
        }
        if (strlen(scalar(it)) != it->data.scalar.length)
            return nul_in_value(x, r, it);
        if (r->type == T_GLOBLIST) {
            const char *problem = mc_glob_problem(scalar(it));
            if (problem) {
                fail(x, it, "bad glob %s in '%s': %s", describe(it, buf, sizeof buf), r->key,
                     problem);
                mc_error_hint(x->err, "globs use * ? [abc] [a-z] [!x]; a backslash makes the "
                                      "next character literal");
                return -1;
            }
        }
        v[i] = mc_strdup(scalar(it));
        *n = i + 1;
    }
    if (count == 0 && (r->type == T_ARGV || r->type == T_SECRET_ARGV)) {
        fail(x, val, "'%s' is empty: it needs at least the program to run", r->key);
        mc_error_hint(x->err, "write the program and its arguments as a list, e.g. "
                              "[vault, kv, get, -field=password, secret/redshift]");
        return -1;
    }
    return 0;
}

static void strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int set_list(ctx *x, const row *r, const yaml_node_t *val, void *obj)
{
    char **items;
    size_t n;
    int rc = string_items(x, r, val, &items, &n);
    if (r->type == T_SECRET_ARGV) {
        cfg_secret *s = AT(obj, r->off);
        if (rc != 0) {
            strv_free(items, n);
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

static int set_maplist(ctx *x, const row *r, const yaml_node_t *val, void *obj)
{
    if (val->type != YAML_SEQUENCE_NODE && !is_null(val))
        return wrong_type(x, r, val);
    if (is_null(val))
        return 0;
    const table *t = r->sub;
    void **arr = AT(obj, r->off);
    size_t *n = AT(obj, r->n_off);
    for (yaml_node_item_t *it = val->data.sequence.items.start;
         it < val->data.sequence.items.top; it++) {
        const yaml_node_t *item = node_at(x, *it);
        if (item->type != YAML_MAPPING_NODE) {
            char buf[64];
            fail(x, item, "expected a mapping for each item of '%s', got %s", r->key,
                 describe(item, buf, sizeof buf));
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
        if (parse_map(x, t, item, item, elem, where) != 0)
            return -1;
    }
    return 0;
}

/* ---- the walk --------------------------------------------------------------- */

static int set_value(ctx *x, const row *r, const yaml_node_t *key, const yaml_node_t *val,
                     void *obj)
{
    switch (r->type) {
    case T_STRLIST:
    case T_GLOBLIST:
    case T_ARGV:
        return set_list(x, r, val, obj);
    case T_SECRET_ARGV:
        if (((cfg_secret *)AT(obj, r->off))->kind != CFG_SECRET_NONE) {
            fail(x, key, "'password' and 'password_command' cannot both be set");
            mc_error_hint(x->err, "keep one of them");
            return -1;
        }
        if (set_list(x, r, val, obj) != 0)
            return -1;
        ((cfg_secret *)AT(obj, r->off))->pos = pos_of(x, key);
        return 0;
    case T_SECRET:
        return set_secret(x, r, key, val, AT(obj, r->off));
    case T_MAPLIST:
        return set_maplist(x, r, val, obj);
    case T_MAP: {
        if (val->type != YAML_MAPPING_NODE && !is_null(val))
            return wrong_type(x, r, val);
        char where[64];
        snprintf(where, sizeof where, "in '%s'", r->key);
        return parse_map(x, r->sub, is_null(val) ? NULL : val, is_null(val) ? key : val,
                         AT(obj, r->off), where);
    }
    case T_NODE_FN:
        return r->node_fn(x, r, key, val, AT(obj, r->off));
    default:
        break;
    }
    if (val->type != YAML_SCALAR_NODE)
        return wrong_type(x, r, val);
    if (is_null(val)) {
        fail(x, key, "'%s' has no value", r->key);
        mc_error_hint(x->err, "write a value after '%s:', or remove the key", r->key);
        return -1;
    }
    if (strlen(scalar(val)) != val->data.scalar.length)
        return nul_in_value(x, r, val);
    return set_scalar(x, r, scalar(val), val, obj);
}

static const row *find_row(const table *t, const char *key)
{
    for (size_t i = 0; i < t->n_rows; i++)
        if (!strcmp(t->rows[i].key, key))
            return &t->rows[i];
    return NULL;
}

static int unknown_key(ctx *x, const table *t, const yaml_node_t *key, const char *where)
{
    const char *keys[32];
    size_t n = 0;
    mc_buf list = {0};
    for (size_t i = 0; i < t->n_rows && n < 32; i++) {
        keys[n++] = t->rows[i].key;
        mc_buf_printf(&list, "%s%s", i ? ", " : "", t->rows[i].key);
    }
    fail(x, key, "unknown key '%s' %s", scalar(key), where);
    const char *near = closest(scalar(key), keys, n);
    if (near)
        mc_error_hint(x->err, "did you mean '%s'?", near);
    else
        mc_error_hint(x->err, "the keys here are: %s", mc_buf_str(&list));
    mc_buf_free(&list);
    return -1;
}

/* The key and value nodes of `key` in a mapping, for the check hooks. */
static bool map_find(ctx *x, const yaml_node_t *map, const char *key,
                     const yaml_node_t **key_out, const yaml_node_t **val_out)
{
    if (!map)
        return false;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = node_at(x, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), key)) {
            if (key_out)
                *key_out = k;
            if (val_out)
                *val_out = node_at(x, p->value);
            return true;
        }
    }
    return false;
}

/* "in datastore 'analytics'" once the object has a name, else `where`. */
static void where_named(const table *t, void *obj, const char *where, char *buf, size_t size)
{
    snprintf(buf, size, "%s", where);
    if (!t->named)
        return;
    for (size_t i = 0; i < t->n_rows; i++)
        if (t->rows[i].type == T_NAME) {
            const char *name = *(char **)AT(obj, t->rows[i].off);
            if (name)
                snprintf(buf, size, "in %s '%s'", t->named, name);
        }
}

/*
 * Walks one mapping (NULL: the key was absent or had no value; `at` is
 * then where to report) into obj.  Keys are taken in document order, so the
 * error reported is the first in the file; defaults and missing required
 * keys come after, at the mapping's own position.
 */
static int parse_map(ctx *x, const table *t, const yaml_node_t *map,
                     const yaml_node_t *at, void *obj, const char *where)
{
    uint32_t given = 0; /* a bit per row: no table has more than 32 */
    if (t->init)
        t->init(obj);
    if (t->pos_off != NO_OFF)
        *(cfg_pos *)AT(obj, t->pos_off) = pos_of(x, at);
    if (map) {
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
             p < map->data.mapping.pairs.top; p++) {
            const yaml_node_t *key = node_at(x, p->key), *val = node_at(x, p->value);
            if (key->type != YAML_SCALAR_NODE || is_null(key)) {
                char buf[64];
                fail(x, key, "expected a key name %s, got %s", where,
                     describe(key, buf, sizeof buf));
                mc_error_hint(x->err, "keys are plain names followed by ':'");
                return -1;
            }
            for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
                const yaml_node_t *k2 = node_at(x, q->key);
                if (k2->type == YAML_SCALAR_NODE && !strcmp(scalar(k2), scalar(key))) {
                    fail(x, key, "duplicate key '%s' (the first is at line %d, column %d)",
                         scalar(key), (int)k2->start_mark.line + 1,
                         (int)k2->start_mark.column + 1);
                    mc_error_hint(x->err, "a key may appear once in a mapping; remove one of them");
                    return -1;
                }
            }
            const row *r = find_row(t, scalar(key));
            if (!r)
                return unknown_key(x, t, key, where);
            given |= UINT32_C(1) << (r - t->rows);
            if (set_value(x, r, key, val, obj) != 0)
                return -1;
        }
    }
    for (size_t i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        if (given & (UINT32_C(1) << i))
            continue;
        if (r->required) {
            char buf[128];
            where_named(t, obj, where, buf, sizeof buf);
            fail(x, at, "missing required key '%s' %s", r->key, buf);
            mc_error_hint(x->err, "add '%s: ...'; docs/configuration.md describes every key",
                          r->key);
            return -1;
        }
        if (r->def && set_scalar(x, r, r->def, at, obj) != 0)
            return -1;
        if (r->type == T_MAP && r->sub->fill_when_absent &&
            parse_map(x, r->sub, NULL, at, AT(obj, r->off), where) != 0)
            return -1;
    }
    return t->check ? t->check(x, obj, map, at) : 0;
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
        fail(x, at, "host key verification cannot be switched off: 'host_key_policy' is strict "
                    "or accept-new, got %s", describe(at, buf, sizeof buf));
        mc_error_hint(x->err, "accept-new records the key of a host seen for the first time and "
                              "still refuses a changed one; or add the host's key to known_hosts "
                              "(ssh-keyscan HOST, then compare its fingerprint)");
        return -1;
    }
    fail(x, at, "expected strict or accept-new for 'host_key_policy', got %s",
         describe(at, buf, sizeof buf));
    const char *near = closest(text, policies, 2);
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
        fail(x, at, "'%s' must be an http:// or https:// URL", r->key);
        mc_error_hint(x->err, "write the full URL the JSON is POSTed to");
        return -1;
    }
    /* The delivery rule itself (alerts.c), so a URL that could never be
     * used fails at load time rather than at the first change. */
    const char *problem = alerts_webhook_url_problem(text);
    if (problem) {
        fail(x, at, "'%s': %s", r->key, problem);
        mc_error_hint(x->err, "use an https:// URL; plain http:// only reaches a relay on this machine");
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
        if (val->type == YAML_SEQUENCE_NODE || is_null(val)) {
            fail(x, is_null(val) ? key : val, "'%s' is empty", r->key);
            mc_error_hint(x->err, "remove '%s' to be told about every kind of change", r->key);
            return -1;
        }
        return wrong_type(x, r, val);
    }
    unsigned mask = 0;
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = node_at(x, *it);
        char buf[64];
        int k = item->type == YAML_SCALAR_NODE ? mc_change_kind_parse(scalar(item)) : -1;
        if (k < 0) {
            fail(x, item, "unknown change kind %s in '%s'", describe(item, buf, sizeof buf),
                 r->key);
            const char *near = item->type == YAML_SCALAR_NODE
                                   ? closest(scalar(item), names, MC_CHANGE__COUNT) : NULL;
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

/* ---- check hooks ---------------------------------------------------------- */

static int check_hop(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at)
{
    cfg_hop *h = obj;
    const yaml_node_t *k;
    if (h->passphrase.kind != CFG_SECRET_NONE && !h->private_key &&
        map_find(x, map, "passphrase", &k, NULL)) {
        fail(x, k, "'passphrase' is set but 'private_key' is not");
        mc_error_hint(
            x->err, "the passphrase unlocks the private_key file; add it or remove the passphrase");
        return -1;
    }
    if (!h->private_key && !h->agent && h->password.kind == CFG_SECRET_NONE) {
        fail(x, map ? map : at, "no way to authenticate to ssh host '%s'", h->host);
        mc_error_hint(x->err, "set private_key, agent: true (use ssh-agent) or password");
        return -1;
    }
    return 0;
}

static int check_tunnel(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at)
{
    cfg_tunnel *t = obj;
    t->present = true;
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
    cfg_pos p = pos_of(x, v);
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
    if (map_find(x, map, "timezone", NULL, &v))
        ((cfg *)obj)->timezone_pos = value_pos(x, v);
    return 0;
}

static int check_datastore(ctx *x, void *obj, const yaml_node_t *map, const yaml_node_t *at)
{
    cfg_datastore *d = obj;
    const yaml_node_t *v;
    (void)at;
    if (map_find(x, map, "timezone", NULL, &v))
        d->timezone_pos = value_pos(x, v);
    if (map_find(x, map, "schedule", NULL, &v)) {
        d->schedule_pos = pos_of(x, v);
        /* point at the expression itself, so a column inside it adds up */
        if (v->type == YAML_SCALAR_NODE &&
            (v->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
             v->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE))
            d->schedule_pos.column++;
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
        if (!map_find(x, map, sinks[i], &k, NULL))
            continue;
        if (!first || k->start_mark.index < first->start_mark.index) {
            second = first;
            first = k;
        } else if (!second || k->start_mark.index < second->start_mark.index) {
            second = k;
        }
    }
    if (second) {
        fail(x, second, "alert '%s' has two sinks, '%s' and '%s'", a->name, scalar(first),
             scalar(second));
        mc_error_hint(x->err, "an alert has exactly one of webhook, file, command; write one "
                              "alert per sink");
        return -1;
    }
    if (!first) {
        fail(x, at, "alert '%s' has no sink", a->name);
        mc_error_hint(x->err, "add one of webhook: URL, file: PATH, command: [argv...]");
        return -1;
    }
    if (a->format && !a->webhook && map_find(x, map, "format", &k, NULL)) {
        fail(x, k, "'format' applies only to webhook alerts");
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
    }
    return 0;
}

/* ---- the tables ------------------------------------------------------------ */

#define ROWS(a) (a), sizeof(a) / sizeof((a)[0])
#define DUR(s) ((int64_t)(s) * 1000)

/* The keys of an SSH hop, for the tunnel block itself (BASE = where its
 * cfg_hop sits) and for each item of jump (BASE = 0). */
#define HOP_ROWS(BASE)                                                                      \
    {.key = "host", .type = T_STRING, .required = true, .off = (BASE) + offsetof(cfg_hop, host)}, \
    {.key = "port", .type = T_INT, .def = "22", .off = (BASE) + offsetof(cfg_hop, port),          \
     .min = 1, .max = 65535},                                                                   \
    {.key = "user", .type = T_STRING, .required = true, .off = (BASE) + offsetof(cfg_hop, user)}, \
    {.key = "private_key", .type = T_PATH, .off = (BASE) + offsetof(cfg_hop, private_key)},       \
    {.key = "passphrase", .type = T_SECRET, .off = (BASE) + offsetof(cfg_hop, passphrase)},       \
    {.key = "password", .type = T_SECRET, .off = (BASE) + offsetof(cfg_hop, password)},           \
    {.key = "agent", .type = T_BOOL, .def = "false", .off = (BASE) + offsetof(cfg_hop, agent)},   \
    {.key = "known_hosts", .type = T_PATH, .def = "~/.ssh/known_hosts",                           \
     .off = (BASE) + offsetof(cfg_hop, known_hosts)},                                           \
    {.key = "host_key_policy", .type = T_SCALAR_FN, .def = "strict",                              \
     .off = (BASE) + offsetof(cfg_hop, host_key_policy), .scalar_fn = set_host_key_policy}

static const row hop_rows[] = {HOP_ROWS(0)};
static const table hop_table = {
    .what = "a jump hop", .rows = ROWS(hop_rows), .size = sizeof(cfg_hop),
    .pos_off = offsetof(cfg_hop, pos), .check = check_hop,
};

static const row tunnel_rows[] = {
    HOP_ROWS(offsetof(cfg_tunnel, first)),
    {.key = "jump", .type = T_MAPLIST, .off = offsetof(cfg_tunnel, jump),
     .n_off = offsetof(cfg_tunnel, n_jump), .sub = &hop_table},
    {.key = "keepalive", .type = T_DURATION_S, .def = "30s",
     .off = offsetof(cfg_tunnel, keepalive_s), .min = 0, .max = DUR(3600)},
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
};
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
static const table top_table = {.what = "the top level", .rows = ROWS(top_rows),
                                .pos_off = NO_OFF, .check = check_top};

/* ---- loading ---------------------------------------------------------------- */

/* A syntax error from libyaml.  Reader errors (bad UTF-8, control
 * characters) carry a byte offset instead of a mark. */
static int syntax_error(ctx *x, const yaml_parser_t *p, const char *text, size_t len)
{
    size_t line = p->problem_mark.line, col = p->problem_mark.column;
    if (p->error == YAML_READER_ERROR) {
        line = col = 0;
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (text[i] == '\n')
                line++, col = 0;
            else
                col++;
        }
    }
    cfg_pos pos = {x->file, (int)line + 1, (int)col + 1};
    const char *problem = p->problem ? p->problem : "cannot be parsed";
    if (p->error == YAML_MEMORY_ERROR) {
        fail_pos(x->err, &pos, "out of memory while reading the YAML");
        mc_error_hint(x->err, "the system is out of memory");
        return -1;
    }
    if (p->error == YAML_READER_ERROR) {
        fail_pos(x->err, &pos, "not a YAML text file: %s", problem);
        mc_error_hint(x->err, "metacrawl.yml must be UTF-8 text; is this the right file? "
                              "`metacrawl init` writes a starter file");
        return -1;
    }
    if (p->context)
        fail_pos(x->err, &pos, "not valid YAML: %s (%s at line %zu)", problem, p->context,
                 p->context_mark.line + 1);
    else
        fail_pos(x->err, &pos, "not valid YAML: %s", problem);
    /* Tabs are the most common cause, and libyaml does not say so. */
    const char *s = text, *end = text + len;
    for (size_t l = 0; l < line && s < end; s++)
        if (*s == '\n')
            l++;
    const char *eol = memchr(s, '\n', (size_t)(end - s));
    if (memchr(s, '\t', (size_t)((eol ? eol : end) - s)))
        mc_error_hint(x->err, "YAML does not allow tabs for indentation; indent with spaces");
    else
        mc_error_hint(x->err, "check the indentation (spaces, the same depth for keys of one "
                              "mapping) and quote values that contain ': ' or start with "
                              "[, {, *, &, ! or %%");
    return -1;
}

/* libyaml frees its buffers and nodes without clearing them; a literal
 * secret passed through both. */
static void wipe_document(yaml_document_t *doc)
{
    for (yaml_node_t *n = doc->nodes.start; n && n < doc->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
            explicit_bzero(n->data.scalar.value, n->data.scalar.length);
}

static void wipe_parser(yaml_parser_t *p)
{
    if (p->buffer.start)
        explicit_bzero(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
    if (p->raw_buffer.start)
        explicit_bzero(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
}

static bool has_literal_secret(const cfg *c)
{
    for (size_t i = 0; i < c->n_datastores; i++) {
        const cfg_datastore *d = &c->datastores[i];
        if (d->password.kind == CFG_SECRET_LITERAL ||
            d->admin.password.kind == CFG_SECRET_LITERAL)
            return true;
        const cfg_tunnel *t = &d->tunnel;
        for (size_t h = 0; t->present && h <= t->n_jump; h++) {
            const cfg_hop *hop = h == 0 ? &t->first : &t->jump[h - 1];
            if (hop->password.kind == CFG_SECRET_LITERAL ||
                hop->passphrase.kind == CFG_SECRET_LITERAL)
                return true;
        }
    }
    return false;
}

static int load_text(const char *name, const char *text, size_t len, cfg **out, mc_error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc, next;
    bool parser_ready = false, doc_ready = false;
    int rc = -1;
    cfg *c = mc_calloc(1, sizeof *c);
    c->path = mc_strdup(name);
    c->stale_after_s = -1; /* unset: three schedule periods (docs/scheduling.md) */
    ctx x = {.doc = &doc, .file = c->path, .err = err, .c = c};
    cfg_pos start = {c->path, 1, 1};

    *out = NULL;
    if (!yaml_parser_initialize(&parser)) {
        fail_pos(err, &start, "cannot initialise the YAML parser");
        mc_error_hint(err, "the system is out of memory");
        goto out;
    }
    parser_ready = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(&x, &parser, text, len);
        goto out;
    }
    doc_ready = true;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || is_null(root)) {
        fail_pos(err, &start, "the configuration file is empty");
        mc_error_hint(err, "run `metacrawl init` to write a commented starter file");
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        char buf[64];
        fail(&x, root, "the top level must be a mapping of keys (store, defaults, datastores, "
                       "alerts), got %s", describe(root, buf, sizeof buf));
        mc_error_hint(err, "is this the right file? `metacrawl init` writes a starter file");
        goto out;
    }
    if (parse_map(&x, &top_table, root, root, c, "at the top level") != 0)
        goto out;
    /* A second document ("---") would be silently ignored otherwise. */
    if (!yaml_parser_load(&parser, &next)) {
        syntax_error(&x, &parser, text, len);
        goto out;
    }
    const yaml_node_t *extra = yaml_document_get_root_node(&next);
    if (extra) {
        cfg_pos p = {c->path, (int)extra->start_mark.line + 1, (int)extra->start_mark.column + 1};
        fail_pos(err, &p, "a second YAML document; the configuration is one document");
        mc_error_hint(err, "remove the '---' line and merge what follows into the first document");
    }
    wipe_document(&next);
    yaml_document_delete(&next);
    if (!extra)
        rc = 0;
out:
    if (doc_ready) {
        wipe_document(&doc);
        yaml_document_delete(&doc);
    }
    if (parser_ready) {
        wipe_parser(&parser);
        yaml_parser_delete(&parser);
    }
    free(x.names);
    if (rc == 0)
        *out = c;
    else
        cfg_free(c);
    return rc;
}

int cfg_load_string(const char *name, const char *text, size_t len, cfg **out, mc_error *err)
{
    return load_text(name, text, len, out, err);
}

/* Reads a whole file into a buffer it wipes whenever it grows, since the
 * text may hold a literal secret. */
static int read_wiped(int fd, size_t max, char **buf_out, size_t *len_out)
{
    size_t cap = 4096, len = 0;
    char *buf = mc_malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap > max)
                break;
            char *bigger = mc_malloc(cap * 2 + 1);
            memcpy(bigger, buf, len);
            explicit_bzero(buf, cap + 1);
            free(buf);
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            explicit_bzero(buf, cap + 1);
            free(buf);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *buf_out = buf;
    *len_out = len;
    return 0;
}

int cfg_load(const char *path, cfg **out, mc_error *err)
{
    char eb[128], *text = NULL;
    size_t len = 0;
    struct stat st;
    int rc = -1;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        mc_error_set(err, MC_EXIT_CONFIG, "%s: cannot read the configuration: %s", path,
                     errtext(e, eb, sizeof eb));
        if (e == ENOENT)
            mc_error_hint(err, "run `metacrawl init` to write a starter file here, or name "
                               "another file with -c FILE");
        else
            mc_error_hint(err, "the file must be readable by the user metacrawl runs as; "
                               "-c FILE names another file");
        return -1;
    }
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        mc_error_set(err, MC_EXIT_CONFIG, "%s: cannot read the configuration: %s", path,
                     S_ISDIR(st.st_mode) ? "it is a directory" : errtext(errno, eb, sizeof eb));
        mc_error_hint(err,
                      "-c takes the path of the YAML file, e.g. -c /etc/metacrawl/metacrawl.yml");
        goto out;
    }
    if (read_wiped(fd, CONFIG_MAX_BYTES, &text, &len) != 0) {
        mc_error_set(err, MC_EXIT_CONFIG, "%s: cannot read the configuration: %s", path,
                     errtext(errno, eb, sizeof eb));
        mc_error_hint(err, "-c FILE names the configuration file");
        goto out;
    }
    if (len > CONFIG_MAX_BYTES) {
        mc_error_set(err, MC_EXIT_CONFIG, "%s: the file is larger than %d MiB", path,
                     CONFIG_MAX_BYTES >> 20);
        mc_error_hint(err, "is this the right file? -c FILE names the configuration");
        goto out;
    }
    rc = load_text(path, text, len, out, err);
    if (rc == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) && has_literal_secret(*out))
        mc_log(MC_LOG_WARN, "%s holds a literal secret and other users can read it; "
                            "chmod 600 it, or use ${env:NAME} or ${file:PATH}", path);
out:
    if (text) {
        explicit_bzero(text, len);
        free(text);
    }
    close(fd);
    return rc;
}

static void secret_free(cfg_secret *s)
{
    if (s->kind == CFG_SECRET_LITERAL && s->ref)
        explicit_bzero(s->ref, strlen(s->ref));
    free(s->ref);
    strv_free(s->argv, s->argc);
    memset(s, 0, sizeof *s);
}

static void hop_free(cfg_hop *h)
{
    free(h->host);
    free(h->user);
    free(h->private_key);
    secret_free(&h->passphrase);
    secret_free(&h->password);
    free(h->known_hosts);
}

void cfg_free(cfg *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_datastores; i++) {
        cfg_datastore *d = &c->datastores[i];
        free(d->name);
        free(d->host);
        free(d->database);
        free(d->user);
        free(d->group);
        secret_free(&d->password);
        free(d->admin.user);
        secret_free(&d->admin.password);
        free(d->sslmode);
        strv_free(d->schemas.include, d->schemas.n_include);
        strv_free(d->schemas.exclude, d->schemas.n_exclude);
        strv_free(d->containers.include, d->containers.n_include);
        strv_free(d->containers.exclude, d->containers.n_exclude);
        hop_free(&d->tunnel.first);
        for (size_t h = 0; h < d->tunnel.n_jump; h++)
            hop_free(&d->tunnel.jump[h]);
        free(d->tunnel.jump);
        free(d->schedule);
        free(d->timezone);
    }
    free(c->datastores);
    for (size_t i = 0; i < c->n_alerts; i++) {
        cfg_alert *a = &c->alerts[i];
        free(a->name);
        strv_free(a->match, a->n_match);
        free(a->webhook);
        free(a->file);
        strv_free(a->command, a->n_command);
        free(a->format);
    }
    free(c->alerts);
    free(c->store);
    free(c->timezone);
    free(c->path);
    free(c);
}

/* ---- secrets at use time --------------------------------------------------- */

static int resolve_file(const cfg_secret *s, mc_secret *out, mc_error *err)
{
    if (check_file(err, s) != 0)
        return -1;
    int e = 0;
    enum mc_secret_file_status st = mc_secret_read_file(s->ref, SECRET_MAX_BYTES, out, &e);
    if (st == MC_SECRET_FILE_OK)
        return 0;
    mc_error why = {0};
    mc_secret_file_error(st, e, s->ref, SECRET_MAX_BYTES, MC_EXIT_CONFIG, &why);
    fail_pos(err, &s->pos, "%s", why.message);
    if (why.hint[0])
        mc_error_hint(err, "%s", why.hint);
    return -1;
}

/* Runs argv without a shell, stdin from /dev/null, stderr passed through,
 * and takes its stdout (at most 64 KiB, trailing whitespace trimmed) as
 * the secret.  At the deadline its whole process group is stopped (proc.h),
 * so a helper that started a child does not leave it running. */
static int resolve_command(const cfg_secret *s, mc_secret *out, mc_error *err)
{
    const char *prog = s->argv[0];
    char eb[128];
    int rc = -1;
    mc_proc_spec spec = {
        .argv = s->argv,
        .out = MC_PROC_CAPTURE,
        .err = MC_PROC_INHERIT,
        .capture_max = SECRET_MAX_BYTES,
        .kill_on_overflow = true,
        .secret = true,
        .timeout_s = SECRET_COMMAND_TIMEOUT_S,
    };
    mc_proc_result res;
    if (mc_proc_run(&spec, &res) != 0) {
        fail_pos(err, &s->pos, "cannot run '%s': %s", prog,
                 errtext(res.start_errno, eb, sizeof eb));
        if (strcmp(res.start_stage, "spawn") == 0)
            mc_error_hint(err, "password_command is run without a shell; is '%s' installed "
                          "and on PATH?", prog);
        goto out;
    }
    int status = res.status;
    if (res.overflow) {
        fail_pos(err, &s->pos, "command '%s' printed more than 64 KiB", prog);
        mc_error_hint(err, "the command must print only the secret");
        goto out;
    }
    if (res.timed_out || !res.exited) {
        fail_pos(err, &s->pos, "command '%s' did not finish within %d s", prog,
                 SECRET_COMMAND_TIMEOUT_S);
        mc_error_hint(err, "run the command by hand as the same user; does it wait for input?");
        goto out;
    }
    if (WIFSIGNALED(status)) {
        fail_pos(err, &s->pos, "command '%s' was killed by signal %d (%s)", prog,
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
        mc_error_hint(err, "run it by hand as the same user to see why it dies");
        goto out;
    }
    if (WEXITSTATUS(status) != 0) {
        fail_pos(err, &s->pos, "command '%s' exited with status %d", prog, WEXITSTATUS(status));
        mc_error_hint(err, "%s", WEXITSTATUS(status) == 127
                                     ? "status 127 usually means a program it runs was not found"
                                     : "its own message is on stderr above; run it by hand to see");
        goto out;
    }
    size_t len = res.n_out;
    while (len && isspace((unsigned char)res.out[len - 1]))
        len--;
    if (len == 0) {
        fail_pos(err, &s->pos, "command '%s' printed nothing", prog);
        mc_error_hint(err,
                      "an empty secret is never used; the command must print the secret on stdout");
        goto out;
    }
    mc_secret_set(out, res.out, len);
    rc = 0;
out:
    if (rc != 0)
        mc_error_hint(err, "run the command by hand as the same user to check it");
    mc_proc_result_free(&res);
    return rc;
}

int cfg_secret_resolve(const cfg_secret *src, mc_secret *out, mc_error *err)
{
    mc_secret_guard_process();
    switch (src->kind) {
    case CFG_SECRET_NONE:
        mc_secret_wipe(out);
        return 0;
    case CFG_SECRET_LITERAL:
        mc_secret_set(out, src->ref, strlen(src->ref));
        return 0;
    case CFG_SECRET_ENV: {
        if (check_env(err, src) != 0)
            return -1;
        const char *v = getenv(src->ref);
        mc_secret_set(out, v, strlen(v));
        return 0;
    }
    case CFG_SECRET_FILE:
        return resolve_file(src, out, err);
    case CFG_SECRET_COMMAND:
        if (!src->argv || src->argc == 0 || !src->argv[0])
            return fail_pos(err, &src->pos, "password_command is empty");
        return resolve_command(src, out, err);
    }
    fail_pos(err, &src->pos, "unknown secret source");
    mc_error_hint(err, "this is a bug in metacrawl; please report it");
    return -1;
}

/* ---- the rest of the API ---------------------------------------------------- */

char *cfg_default_path(void)
{
    if (access("./metacrawl.yml", F_OK) == 0)
        return mc_strdup("./metacrawl.yml");
    /* The XDG base directory spec says a relative value is to be ignored. */
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char *p = NULL;
    if (xdg && xdg[0] == '/')
        p = mc_asprintf("%s/metacrawl/metacrawl.yml", xdg);
    else if (home && *home)
        p = mc_asprintf("%s/.config/metacrawl/metacrawl.yml", home);
    if (p && access(p, F_OK) == 0)
        return p;
    free(p);
    return NULL;
}

const cfg_datastore *cfg_find_datastore(const cfg *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->n_datastores; i++)
        if (!strcmp(c->datastores[i].name, name))
            return &c->datastores[i];
    return NULL;
}

bool cfg_globs_match(const cfg_globs *g, const char *name)
{
    bool in = g->n_include == 0;
    for (size_t i = 0; !in && i < g->n_include; i++)
        in = mc_glob_match(g->include[i], name);
    for (size_t i = 0; in && i < g->n_exclude; i++)
        if (mc_glob_match(g->exclude[i], name))
            in = false;
    return in;
}

static const char starter_text[] =
    "# metacrawl.yml: written by `metacrawl init`.\n"
    "# Every key is described in docs/configuration.md.  Durations: 250ms, 10s, 5m,\n"
    "# 1h, 2d (a bare number is seconds).  Secrets come from ${env:NAME},\n"
    "# ${file:PATH} or password_command; they are never printed or stored.\n"
    "\n"
    "# The SQLite catalog, created on first use (relative to the directory\n"
    "# metacrawl runs in; --store overrides it).\n"
    "store: ./catalog.db\n"
    "\n"
    "defaults:\n"
    "  timezone: UTC                 # for schedules; each datastore may override it\n"
    "  connect_timeout: 10s\n"
    "  statement_timeout: 5m\n"
    "  max_runtime: 1h               # a crawl still running then is stopped, the store unchanged\n"
    "\n"
    "datastores:\n"
    "  - name: analytics             # [a-z0-9_-]+, unique: `metacrawl crawl analytics`\n"
    "    host: examplecluster.abc123.us-east-1.redshift.amazonaws.com\n"
    "    port: 5439\n"
    "    database: dev\n"
    "    user: metamapper            # `metacrawl grants analytics` prints the GRANTs it needs\n"
    "    group: metamapper           # the group those GRANTs go to\n"
    "    # export REDSHIFT_PASSWORD first.  Or ${file:/run/secrets/redshift}, or\n"
    "    #   password_command: [vault, kv, get, -field=password, secret/redshift]\n"
    "    # Without a password libpq uses PGPASSWORD or ~/.pgpass.\n"
    "    password: ${env:REDSHIFT_PASSWORD}\n"
    "    sslmode: require            # verify-full checks the real host name, tunnel or not\n"
    "    schemas: { exclude: [\"tmp_*\"] }   # include: [public, \"sales_*\"] to narrow\n"
    "    containers: { exclude: [\"*_bak\", \"*_tmp\"] }\n"
    "    schedule: \"0 */6 * * *\"       # cron, 5 fields or @daily etc.\n"
    "    fail_safe: { max_removed_pct: 20 }   # hold back mass removals\n"
    "    # The connection `metacrawl grants analytics --apply` runs the GRANTs with.\n"
    "    # admin:\n"
    "    #   user: admin\n"
    "    #   password: ${env:REDSHIFT_ADMIN_PASSWORD}\n"
    "    # Through an SSH bastion; host keys are always verified.\n"
    "    # tunnel:\n"
    "    #   host: bastion.example.com\n"
    "    #   port: 22\n"
    "    #   user: ec2-user\n"
    "    #   private_key: ~/.ssh/id_ed25519\n"
    "    #   passphrase: ${env:BASTION_KEY_PASSPHRASE}\n"
    "    #   agent: false              # true: use ssh-agent instead of a key file\n"
    "    #   known_hosts: ~/.ssh/known_hosts\n"
    "    #   host_key_policy: strict   # strict | accept-new\n"
    "    #   jump: []                  # further hops {host, port, user, private_key, ...}, in "
    "order\n"
    "\n"
    "# Told about every recorded change that matches.\n"
    "# alerts:\n"
    "#   - name: slack\n"
    "#     on: [container_removed, field_removed, field_changed]   # default: every kind\n"
    "#     match: [\"analytics.public.*\"]\n"
    "#     webhook: https://hooks.slack.com/services/...\n"
    "#     format: slack\n"
    "#   - name: log\n"
    "#     file: /var/log/metacrawl/changes.jsonl                   # JSON lines\n"
    "#   - name: page\n"
    "#     command: [/usr/local/bin/notify, --team, data]           # JSON on stdin\n"
    "\n"
    "# `metacrawl schedule run` only; cron and systemd timers use `run-due`\n"
    "# (`metacrawl schedule crontab` / `schedule systemd` print the lines).\n"
    "# scheduler:\n"
    "#   max_parallel: 2\n"
    "#   shutdown_timeout: 5m\n";

const char *cfg_starter_text(void)
{
    return starter_text;
}

int cfg_write_starter(const char *path, bool force, mc_error *err)
{
    char eb[128];
    /* 0600: the file is where credentials end up if someone writes one in. */
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | (force ? O_TRUNC : O_EXCL),
                  0600);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST) {
            mc_error_set(err, MC_EXIT_CONFIG, "%s already exists", path);
            mc_error_hint(err, "pass --force to overwrite it, or -c FILE to write another file");
        } else {
            mc_error_set(err, MC_EXIT_CONFIG, "cannot create %s: %s", path,
                         errtext(e, eb, sizeof eb));
            mc_error_hint(err, "check that the directory exists and is writable, or name "
                               "another file with -c FILE");
        }
        return -1;
    }
    if (force)
        (void)fchmod(fd, 0600); /* an overwritten file keeps its old mode otherwise */
    size_t len = sizeof starter_text - 1, done = 0;
    while (done < len) {
        ssize_t n = write(fd, starter_text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            mc_error_set(err, MC_EXIT_CONFIG, "cannot write %s: %s", path,
                         errtext(errno, eb, sizeof eb));
            mc_error_hint(err, "is the disk full?");
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0) {
        mc_error_set(err, MC_EXIT_CONFIG, "cannot write %s: %s", path,
                     errtext(errno, eb, sizeof eb));
        mc_error_hint(err, "is the disk full?");
        return -1;
    }
    return 0;
}
