/*
 * load.c — reading metacrawl.yml with libyaml's document API and walking
 * it: the error format, the walk's state, "did you mean" suggestions, ~
 * expansion, parse_map() and loading a file or a string.
 *
 * Every mapping in the file is described by a `table` of `row`s (key, type,
 * required, default, where the value goes; keys.c holds them).  parse_map()
 * walks a mapping in document order, so the first mistake in the file is
 * the one reported; it rejects unknown and duplicate keys, converts each
 * value with the setter for its type, then fills defaults (parsed by the
 * same setters, so a default obeys the same rules as a written value) and
 * reports missing required keys at the mapping's position.  A table's
 * `check` hook does the rules that involve more than one key.
 *
 * Every error is MC_EXIT_CONFIG and reads "FILE:LINE:COLUMN: message" with
 * 1-based positions from libyaml's marks.  A secret's value is never
 * formatted into a message: the secret setters describe what is wrong
 * without quoting it, and only the secret-free scalar types quote the
 * offending value.
 *
 * The file text, libyaml's input buffers and every scalar of the document
 * are wiped before they are freed, since a literal secret passed through
 * them.  libyaml's scanner builds scalars in temporary strings that it
 * frees without wiping; they are out of our reach, which is one more
 * reason docs/configuration.md discourages literal secrets.
 */
#include "config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    CONFIG_MAX_BYTES = 4 * 1024 * 1024, /* no real config comes close */
};

/* ---- errors --------------------------------------------------------------- */

int cfgi_fail_pos(mc_error *err, const cfg_pos *p, const char *fmt, ...)
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
const char *cfgi_errtext(int e, char *buf, size_t size)
{
    const char *s = strerror_r(e, buf, size);
    if (s != buf)
        snprintf(buf, size, "%s", s);
    buf[0] = (char)tolower((unsigned char)buf[0]);
    return buf;
}

/* ---- the walk's state (its types are in config_internal.h) ----------------- */

cfg_pos cfgi_pos_of(const ctx *x, const yaml_node_t *n)
{
    cfg_pos p = {x->file, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    return p;
}

int cfgi_fail(ctx *x, const yaml_node_t *at, const char *fmt, ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cfg_pos p = cfgi_pos_of(x, at);
    return cfgi_fail_pos(x->err, &p, "%s", msg);
}

const yaml_node_t *cfgi_node_at(ctx *x, int id)
{
    return yaml_document_get_node(x->doc, id);
}

const char *cfgi_scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain empty, ~ or null scalar: YAML's "no value". */
bool cfgi_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = cfgi_scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

/* What a value is, for "got ..." in messages: the text of a scalar
 * (shortened, control characters replaced, so the message stays one line),
 * else its kind.  Never used on a secret's value. */
const char *cfgi_describe(const yaml_node_t *n, char *buf, size_t size)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (cfgi_is_null(n))
        return "nothing";
    const char *s = cfgi_scalar(n);
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
const char *cfgi_closest(const char *word, const char *const *cands, size_t n)
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

/* ---- paths ------------------------------------------------------------------ */

/* "~" and "~/x" become $HOME and $HOME/x; other paths are kept as written
 * (relative ones are relative to the directory metacrawl runs in). */
int cfgi_expand_home(ctx *x, const char *key, const char *path,
                       const yaml_node_t *at, char **out)
{
    if (path[0] != '~') {
        *out = mc_strdup(path);
        return 0;
    }
    if (path[1] != '\0' && path[1] != '/') {
        cfgi_fail(x, at, "'~user' paths are not supported in '%s'", key);
        mc_error_hint(x->err, "write the full path, or ~/ for your own home");
        return -1;
    }
    const char *home = getenv("HOME");
    if (!home || !*home) {
        cfgi_fail(x, at, "cannot expand '~' in '%s': HOME is not set", key);
        mc_error_hint(x->err, "write the full path");
        return -1;
    }
    size_t hl = strlen(home);
    if (hl > 1 && home[hl - 1] == '/')
        hl--;
    *out = mc_asprintf("%.*s%s", (int)hl, home, path + 1);
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
        return cfgi_set_list(x, r, val, obj);
    case T_SECRET_ARGV:
        if (((cfg_secret *)AT(obj, r->off))->kind != CFG_SECRET_NONE) {
            cfgi_fail(x, key, "'password' and 'password_command' cannot both be set");
            mc_error_hint(x->err, "keep one of them");
            return -1;
        }
        if (cfgi_set_list(x, r, val, obj) != 0)
            return -1;
        ((cfg_secret *)AT(obj, r->off))->pos = cfgi_pos_of(x, key);
        return 0;
    case T_SECRET:
        return cfgi_set_secret(x, r, key, val, AT(obj, r->off));
    case T_MAPLIST:
        return cfgi_set_maplist(x, r, val, obj);
    case T_MAP: {
        if (val->type != YAML_MAPPING_NODE && !cfgi_is_null(val))
            return cfgi_wrong_type(x, r, val);
        char where[64];
        snprintf(where, sizeof where, "in '%s'", r->key);
        return cfgi_parse_map(x, r->sub, cfgi_is_null(val) ? NULL : val, cfgi_is_null(val) ? key : val,
                         AT(obj, r->off), where);
    }
    case T_NODE_FN:
        return r->node_fn(x, r, key, val, AT(obj, r->off));
    default:
        break;
    }
    if (val->type != YAML_SCALAR_NODE)
        return cfgi_wrong_type(x, r, val);
    if (cfgi_is_null(val)) {
        cfgi_fail(x, key, "'%s' has no value", r->key);
        mc_error_hint(x->err, "write a value after '%s:', or remove the key", r->key);
        return -1;
    }
    if (strlen(cfgi_scalar(val)) != val->data.scalar.length)
        return cfgi_nul_in_value(x, r, val);
    return cfgi_set_scalar(x, r, cfgi_scalar(val), val, obj);
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
    const char *keys[CFG_MAX_ROWS];
    size_t n = 0;
    mc_buf list = {0};
    for (size_t i = 0; i < t->n_rows && n < CFG_MAX_ROWS; i++) {
        keys[n++] = t->rows[i].key;
        mc_buf_printf(&list, "%s%s", i ? ", " : "", t->rows[i].key);
    }
    cfgi_fail(x, key, "unknown key '%s' %s", cfgi_scalar(key), where);
    const char *near = cfgi_closest(cfgi_scalar(key), keys, n);
    if (near)
        mc_error_hint(x->err, "did you mean '%s'?", near);
    else
        mc_error_hint(x->err, "the keys here are: %s", mc_buf_str(&list));
    mc_buf_free(&list);
    return -1;
}

/* The key and value nodes of `key` in a mapping, for the check hooks. */
bool cfgi_map_find(ctx *x, const yaml_node_t *map, const char *key,
                     const yaml_node_t **key_out, const yaml_node_t **val_out)
{
    if (!map)
        return false;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = cfgi_node_at(x, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp(cfgi_scalar(k), key)) {
            if (key_out)
                *key_out = k;
            if (val_out)
                *val_out = cfgi_node_at(x, p->value);
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
int cfgi_parse_map(ctx *x, const table *t, const yaml_node_t *map,
                     const yaml_node_t *at, void *obj, const char *where)
{
    uint64_t given = 0; /* a bit per row (CFG_MAX_ROWS) */
    if (t->init)
        t->init(obj);
    if (t->pos_off != NO_OFF)
        *(cfg_pos *)AT(obj, t->pos_off) = cfgi_pos_of(x, at);
    if (map) {
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
             p < map->data.mapping.pairs.top; p++) {
            const yaml_node_t *key = cfgi_node_at(x, p->key), *val = cfgi_node_at(x, p->value);
            if (key->type != YAML_SCALAR_NODE || cfgi_is_null(key)) {
                char buf[64];
                cfgi_fail(x, key, "expected a key name %s, got %s", where,
                     cfgi_describe(key, buf, sizeof buf));
                mc_error_hint(x->err, "keys are plain names followed by ':'");
                return -1;
            }
            for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
                const yaml_node_t *k2 = cfgi_node_at(x, q->key);
                if (k2->type == YAML_SCALAR_NODE && !strcmp(cfgi_scalar(k2), cfgi_scalar(key))) {
                    cfgi_fail(x, key, "duplicate key '%s' (the first is at line %d, column %d)",
                         cfgi_scalar(key), (int)k2->start_mark.line + 1,
                         (int)k2->start_mark.column + 1);
                    mc_error_hint(x->err, "a key may appear once in a mapping; remove one of them");
                    return -1;
                }
            }
            const row *r = find_row(t, cfgi_scalar(key));
            if (!r)
                return unknown_key(x, t, key, where);
            given |= UINT64_C(1) << (r - t->rows);
            if (set_value(x, r, key, val, obj) != 0)
                return -1;
        }
    }
    for (size_t i = 0; i < t->n_rows; i++) {
        const row *r = &t->rows[i];
        if (given & (UINT64_C(1) << i))
            continue;
        if (r->required) {
            char buf[128];
            where_named(t, obj, where, buf, sizeof buf);
            cfgi_fail(x, at, "missing required key '%s' %s", r->key, buf);
            mc_error_hint(x->err, "add '%s: ...'; docs/configuration.md describes every key",
                          r->key);
            return -1;
        }
        if (r->def && cfgi_set_scalar(x, r, r->def, at, obj) != 0)
            return -1;
        if (r->type == T_MAP && r->sub->fill_when_absent &&
            cfgi_parse_map(x, r->sub, NULL, at, AT(obj, r->off), where) != 0)
            return -1;
    }
    return t->check ? t->check(x, obj, map, at) : 0;
}

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
        cfgi_fail_pos(x->err, &pos, "out of memory while reading the YAML");
        mc_error_hint(x->err, "the system is out of memory");
        return -1;
    }
    if (p->error == YAML_READER_ERROR) {
        cfgi_fail_pos(x->err, &pos, "not a YAML text file: %s", problem);
        mc_error_hint(x->err, "metacrawl.yml must be UTF-8 text; is this the right file? "
                              "`metacrawl init` writes a starter file");
        return -1;
    }
    if (p->context)
        cfgi_fail_pos(x->err, &pos, "not valid YAML: %s (%s at line %zu)", problem, p->context,
                 p->context_mark.line + 1);
    else
        cfgi_fail_pos(x->err, &pos, "not valid YAML: %s", problem);
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
        cfgi_fail_pos(err, &start, "cannot initialise the YAML parser");
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
    if (!root || cfgi_is_null(root)) {
        cfgi_fail_pos(err, &start, "the configuration file is empty");
        mc_error_hint(err, "run `metacrawl init` to write a commented starter file");
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        char buf[64];
        cfgi_fail(&x, root, "the top level must be a mapping of keys (store, defaults, datastores, "
                       "alerts), got %s", cfgi_describe(root, buf, sizeof buf));
        mc_error_hint(err, "is this the right file? `metacrawl init` writes a starter file");
        goto out;
    }
    if (cfgi_parse_map(&x, &cfgi_top_table, root, root, c, "at the top level") != 0)
        goto out;
    /* A second document ("---") would be silently ignored otherwise. */
    if (!yaml_parser_load(&parser, &next)) {
        syntax_error(&x, &parser, text, len);
        goto out;
    }
    const yaml_node_t *extra = yaml_document_get_root_node(&next);
    if (extra) {
        cfg_pos p = {c->path, (int)extra->start_mark.line + 1, (int)extra->start_mark.column + 1};
        cfgi_fail_pos(err, &p, "a second YAML document; the configuration is one document");
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
                     cfgi_errtext(e, eb, sizeof eb));
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
                     S_ISDIR(st.st_mode) ? "it is a directory" : cfgi_errtext(errno, eb, sizeof eb));
        mc_error_hint(err,
                      "-c takes the path of the YAML file, e.g. -c /etc/metacrawl/metacrawl.yml");
        goto out;
    }
    if (read_wiped(fd, CONFIG_MAX_BYTES, &text, &len) != 0) {
        mc_error_set(err, MC_EXIT_CONFIG, "%s: cannot read the configuration: %s", path,
                     cfgi_errtext(errno, eb, sizeof eb));
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
