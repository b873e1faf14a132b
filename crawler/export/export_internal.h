/*
 * export_internal.h — for the files of crawler/export only: the state an
 * export carries from container to container, and the four formats, each a
 * begin / container / end triple (formats.c) driven by export.c.
 */
#ifndef MC_EXPORT_INTERNAL_H
#define MC_EXPORT_INTERNAL_H

#include "export.h"

typedef struct exp_ctx {
    const mc_export_opts *o;
    const mc_catalog *schemas; /* the datastore's schemas */
    mc_buf b;                  /* what is written next; emptied after each container */
    size_t n;                  /* containers written so far */
    size_t n_records;          /* records (MCPs) written so far */
    char at[21];               /* o->run_at as "YYYY-MM-DDTHH:MM:SSZ" */
} exp_ctx;

typedef struct exp_format {
    void (*begin)(exp_ctx *x);
    /* one container of cat (which holds just it, with its fields) */
    void (*container)(exp_ctx *x, const mc_catalog *cat, const mc_container *k);
    void (*end)(exp_ctx *x);
} exp_format;

extern const exp_format exp_formats[MC_EXPORT__COUNT];

/* A qualified name part: as it is, or, when it holds a dot or a double
 * quote, double-quoted with its quotes doubled (as SQL writes it), so that
 * "a.b".c and a."b.c" stay two names (docs/export.md, "Names"). */
void exp_put_part(mc_buf *b, const char *name);
/* database.schema.container, each part by exp_put_part; the database is
 * left out when NULL. */
void exp_put_qualified(mc_buf *b, const char *database, const char *schema,
                       const char *name);
/* The schema of cat's schemas named name, or NULL. */
const mc_schema *exp_schema(const exp_ctx *x, const char *name);

#endif
