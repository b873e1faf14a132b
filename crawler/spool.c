/*
 * spool.c — the first crawl's field spool (spool.h).
 *
 * Written by hand because what it stores is a few plain records read back
 * once each: a record per container is its fields one after another, each
 * as attnum, position, not_null and seven strings (a 32-bit length, -1 for
 * NULL, then the bytes).  The index (oid -> offset, length, count) is in
 * memory, 24 bytes a container; containers arrive in no particular order
 * and are read back in name order, so it is sorted once, on the first
 * read.
 */
#include "spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct spool_entry {
    int64_t oid;
    uint64_t offset;
    uint32_t bytes, count;
};

struct disc_spool {
    FILE *f;
    uint64_t size;
    struct spool_entry *ix;
    size_t n, cap;
    bool sorted;
    mc_buf rec;             /* a record being built */
    unsigned char *rbuf;    /* a record read back */
    size_t rcap;
    mc_field *fields;       /* what spool_get serves */
    size_t fields_cap;
    mc_arena *strings;      /* the strings of what spool_get serves */
};

disc_spool *spool_open(mc_error *err)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    char *path = mc_asprintf("%s/metacrawl-spool.XXXXXX", dir);
    mode_t old = umask(077);
    int fd = mkstemp(path);
    umask(old);
    if (fd < 0) {
        mc_error_set(err, MC_EXIT_STORE, "cannot make a spool file in %s: %s", dir,
                     strerror(errno));
        mc_error_hint(err, "a first crawl keeps the columns it has read in a temporary "
                           "file until they are recorded; set TMPDIR to a writable "
                           "directory");
        free(path);
        return NULL;
    }
    unlink(path);
    free(path);
    FILE *f = fdopen(fd, "w+b");
    if (!f) {
        close(fd);
        mc_error_set(err, MC_EXIT_STORE, "cannot open the spool file: %s", strerror(errno));
        return NULL;
    }
    disc_spool *sp = mc_calloc(1, sizeof *sp);
    sp->f = f;
    sp->sorted = true;
    return sp;
}

void spool_close(disc_spool *sp)
{
    if (!sp)
        return;
    if (sp->f)
        fclose(sp->f);
    free(sp->ix);
    mc_buf_free(&sp->rec);
    free(sp->rbuf);
    free(sp->fields);
    mc_arena_free(sp->strings);
    free(sp);
}

uint64_t spool_bytes(const disc_spool *sp)
{
    return sp ? sp->size : 0;
}

static void put_u32(mc_buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    mc_buf_append(b, (const char *)x, 4);
}

static void put_str(mc_buf *b, const char *s)
{
    if (!s) {
        put_u32(b, UINT32_MAX);
        return;
    }
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    mc_buf_append(b, s, n);
}

static int io_fail(mc_error *err, const char *what)
{
    return mc_error_set(err, MC_EXIT_STORE, "spool file: cannot %s: %s", what,
                        errno ? strerror(errno) : "short read or write");
}

int spool_put(disc_spool *sp, int64_t oid, const mc_field *fields, size_t n, mc_error *err)
{
    mc_buf_reset(&sp->rec);
    for (size_t i = 0; i < n; i++) {
        const mc_field *f = &fields[i];
        put_u32(&sp->rec, (uint32_t)f->attnum);
        put_u32(&sp->rec, (uint32_t)f->position);
        put_u32(&sp->rec, f->not_null ? 1u : 0u);
        put_str(&sp->rec, f->name);
        put_str(&sp->rec, f->type);
        put_str(&sp->rec, f->default_expr);
        put_str(&sp->rec, f->comment);
        put_str(&sp->rec, f->encoding);
        put_str(&sp->rec, f->identity);
        put_str(&sp->rec, f->generated);
    }
    size_t len = sp->rec.len;
    if (len > UINT32_MAX)
        return mc_error_set(err, MC_EXIT_STORE, "spool file: a table's columns take "
                            "more than 4 GiB");
    errno = 0;
    if (len && fwrite(mc_buf_str(&sp->rec), 1, len, sp->f) != len)
        return io_fail(err, "write");
    if (sp->n == sp->cap) {
        sp->cap = sp->cap ? sp->cap * 2 : 1024;
        sp->ix = mc_realloc(sp->ix, sp->cap * sizeof *sp->ix);
    }
    if (sp->n && sp->ix[sp->n - 1].oid > oid)
        sp->sorted = false;
    sp->ix[sp->n++] = (struct spool_entry){oid, sp->size, (uint32_t)len, (uint32_t)n};
    sp->size += len;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    int64_t x = ((const struct spool_entry *)a)->oid, y = ((const struct spool_entry *)b)->oid;
    return (x > y) - (x < y);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The next string of a record; -1 when the record is cut short. */
static int get_str(disc_spool *sp, const unsigned char **p, const unsigned char *end,
                   const char **out)
{
    if (end - *p < 4)
        return -1;
    uint32_t n = get_u32(*p);
    *p += 4;
    if (n == UINT32_MAX) {
        *out = NULL;
        return 0;
    }
    if ((size_t)(end - *p) < n)
        return -1;
    *out = mc_arena_strndup(sp->strings, (const char *)*p, n);
    *p += n;
    return 0;
}

int spool_get(disc_spool *sp, int64_t oid, const mc_field **out, size_t *n, mc_error *err)
{
    *out = NULL;
    *n = 0;
    if (!sp->sorted) {
        qsort(sp->ix, sp->n, sizeof *sp->ix, cmp_entry);
        sp->sorted = true;
    }
    struct spool_entry key = {.oid = oid};
    const struct spool_entry *e = sp->n ? bsearch(&key, sp->ix, sp->n, sizeof key, cmp_entry)
                                        : NULL;
    if (!e || e->count == 0)
        return 0;
    if (fflush(sp->f) != 0)
        return io_fail(err, "write");
    if (e->bytes > sp->rcap) {
        sp->rcap = e->bytes;
        sp->rbuf = mc_realloc(sp->rbuf, sp->rcap);
    }
    errno = 0;
    if (pread(fileno(sp->f), sp->rbuf, e->bytes, (off_t)e->offset) != (ssize_t)e->bytes)
        return io_fail(err, "read");
    mc_arena_free(sp->strings);
    sp->strings = mc_arena_new();
    if (e->count > sp->fields_cap) {
        sp->fields_cap = e->count;
        sp->fields = mc_realloc(sp->fields, sp->fields_cap * sizeof *sp->fields);
    }
    const unsigned char *p = sp->rbuf, *end = p + e->bytes;
    for (uint32_t i = 0; i < e->count; i++) {
        mc_field *f = &sp->fields[i];
        memset(f, 0, sizeof *f);
        if (end - p < 12)
            return mc_error_set(err, MC_EXIT_STORE, "spool file: a record is cut short");
        f->attnum = (int32_t)get_u32(p);
        f->position = (int32_t)get_u32(p + 4);
        f->not_null = get_u32(p + 8) != 0;
        p += 12;
        if (get_str(sp, &p, end, &f->name) || get_str(sp, &p, end, &f->type) ||
            get_str(sp, &p, end, &f->default_expr) || get_str(sp, &p, end, &f->comment) ||
            get_str(sp, &p, end, &f->encoding) || get_str(sp, &p, end, &f->identity) ||
            get_str(sp, &p, end, &f->generated))
            return mc_error_set(err, MC_EXIT_STORE, "spool file: a record is cut short");
    }
    *out = sp->fields;
    *n = e->count;
    return 0;
}
