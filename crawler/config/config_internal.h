/*
 * config_internal.h — what the files of crawler/config/ share and nothing
 * outside the folder may include: libyaml's document types, the walk's
 * state (`ctx`), the `row`/`table` description of every mapping, and the
 * helpers one file defines for the others.  config.h stays the one public
 * header and names no libyaml type.
 *
 * Who owns what:
 *   load.c        errors, the walk's state, suggestions, paths, the walk
 *                 (parse_map) and loading the text with libyaml
 *   keys.c        the key tables, scalar setters, lists, special values
 *                 and the check hooks
 *   secret_src.c  secrets at load time and at use time (env, file,
 *                 command) and wiping them
 *   starter.c     the commented starter file `metacrawl init` writes
 *   config.c      the rest of the public API (cfg_free, lookups, the
 *                 default path, webhook URL rule)
 *
 * The shared helpers carry a cfgi_ prefix: they are not static any more,
 * and the prefix keeps short names like fail() or scalar() out of the
 * library's global namespace.
 */
#ifndef MC_CONFIG_INTERNAL_H
#define MC_CONFIG_INTERNAL_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#define NO_OFF ((size_t)-1)
#define AT(obj, off) ((void *)((char *)(obj) + (off)))

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

/* ---- load.c ------------------------------------------------------------------ */

/* "FILE:LINE:COLUMN: message" as MC_EXIT_CONFIG; returns -1. */
int cfgi_fail_pos(mc_error *err, const cfg_pos *p, const char *fmt, ...) MC_PRINTF(3, 4);
/* The same at a node of the document being walked. */
int cfgi_fail(ctx *x, const yaml_node_t *at, const char *fmt, ...) MC_PRINTF(3, 4);
/* strerror, lower case, so it reads well after "cannot read X: ". */
const char *cfgi_errtext(int e, char *buf, size_t size);
cfg_pos cfgi_pos_of(const ctx *x, const yaml_node_t *n);
const yaml_node_t *cfgi_node_at(ctx *x, int id);
const char *cfgi_scalar(const yaml_node_t *n);
/* A plain empty, ~ or null scalar: YAML's "no value". */
bool cfgi_is_null(const yaml_node_t *n);
/* A value for "got ..." in messages; never used on a secret's value. */
const char *cfgi_describe(const yaml_node_t *n, char *buf, size_t size);
/* The candidate closest to word (a misspelling), or NULL. */
const char *cfgi_closest(const char *word, const char *const *cands, size_t n);
/* "~" and "~/x" become $HOME and $HOME/x. */
int cfgi_expand_home(ctx *x, const char *key, const char *path, const yaml_node_t *at,
                     char **out);
/* Walks one mapping (NULL: absent; `at` is then where to report) into obj. */
int cfgi_parse_map(ctx *x, const table *t, const yaml_node_t *map, const yaml_node_t *at,
                   void *obj, const char *where);
/* The key and value nodes of `key` in a mapping, for the check hooks. */
bool cfgi_map_find(ctx *x, const yaml_node_t *map, const char *key,
                   const yaml_node_t **key_out, const yaml_node_t **val_out);

/* ---- keys.c ------------------------------------------------------------------ */

/* The table of the whole file; the others hang below it. */
extern const table cfgi_top_table;
/* A scalar for a row, at node `at` (the value, or for a default the
 * mapping the default is applied to). */
int cfgi_set_scalar(ctx *x, const row *r, const char *text, const yaml_node_t *at, void *obj);
int cfgi_set_list(ctx *x, const row *r, const yaml_node_t *val, void *obj);
int cfgi_set_maplist(ctx *x, const row *r, const yaml_node_t *val, void *obj);
int cfgi_wrong_type(ctx *x, const row *r, const yaml_node_t *val);
int cfgi_nul_in_value(ctx *x, const row *r, const yaml_node_t *at);
void cfgi_strv_free(char **v, size_t n); /* NULL is a no-op */

/* ---- secret_src.c ------------------------------------------------------------ */

/* password:, passphrase: a literal or ${env:NAME} / ${file:PATH}, checked
 * for availability unless the row says it is checked on use. */
int cfgi_set_secret(ctx *x, const row *r, const yaml_node_t *key, const yaml_node_t *val,
                    cfg_secret *s);
/* Frees a secret source, wiping a literal value first. */
void cfgi_secret_free(cfg_secret *s);

/* The most rows a key table may have: the keys given in a mapping are one
 * bit each of a uint64_t (load.c).  keys.c checks the datastore's table,
 * the longest, at compile time. */
#define CFG_MAX_ROWS 64

#endif
