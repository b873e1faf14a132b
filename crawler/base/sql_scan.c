/*
 * sql_scan.c — scanning user-written SQL identifiers (sql_scan.h).  By hand:
 * the grammar is two rules ("" inside quotes, a bare name up to a
 * terminator) and no SQL parser library is in the tree.
 */
#include "sql_scan.h"

#include <stdlib.h>
#include <string.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_stop(char c, const char *stops)
{
    return c && strchr(stops, c) != NULL;
}

int mc_sql_scan_ident(const char **pp, const char *stops, unsigned flags, mc_buf *out)
{
    const char *p = *pp;
    bool blanks = flags & MC_SQL_SCAN_BLANKS;
    if (blanks)
        while (is_blank(*p))
            p++;
    if (*p == '"') {
        p++;
        for (;;) {
            if (!*p) {
                *pp = p;
                return -1;
            }
            if (p[0] == '"' && p[1] == '"') {
                mc_buf_putc(out, '"');
                p += 2;
            } else if (*p == '"') {
                p++;
                break;
            } else {
                mc_buf_putc(out, *p++);
            }
        }
        if (blanks)
            while (is_blank(*p))
                p++;
        *pp = p;
        return *p && !is_stop(*p, stops) ? -1 : 0;
    }
    const char *start = p;
    while (*p && !is_stop(*p, stops))
        p++;
    const char *end = p;
    if (blanks)
        while (end > start && is_blank(end[-1]))
            end--;
    mc_buf_append(out, start, (size_t)(end - start));
    *pp = p;
    return 0;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int mc_sql_split_idents(const char *text, char sep, unsigned flags, size_t max, char ***out)
{
    char stops[2] = {sep, '\0'};
    char **names = mc_calloc(1, sizeof *names);
    size_t n = 0;
    const char *p = text;
    *out = NULL;
    for (;;) {
        mc_buf b = {0};
        if ((max && n == max) || mc_sql_scan_ident(&p, stops, flags, &b) != 0 ||
            ((flags & MC_SQL_SCAN_NONEMPTY) && b.len == 0)) {
            mc_buf_free(&b);
            free_list(names, n);
            return -1;
        }
        names = mc_realloc(names, (n + 2) * sizeof *names);
        names[n++] = mc_buf_steal(&b);
        names[n] = NULL;
        if (!*p)
            break;
        p++; /* the separator */
    }
    *out = names;
    return (int)n;
}

/* ---- qualified names in a query's text ------------------------------------- */

static bool ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool ident_char(unsigned char c)
{
    return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

/* After the string literal or dollar-quoted text that starts at p (start:
 * the beginning of the text, to see what comes before p); NULL when none
 * starts there.  An unclosed one ends the text. */
static const char *skip_literal(const char *p, const char *start)
{
    if ((p[0] == 'e' || p[0] == 'E') && p[1] == '\'' &&
        (p == start || !ident_char((unsigned char)p[-1]))) {
        for (p += 2; *p; p++) {
            if (p[0] == '\\' && p[1])
                p++;
            else if (p[0] == '\'' && p[1] == '\'')
                p++;
            else if (*p == '\'')
                return p + 1;
        }
        return p;
    }
    if (*p == '\'') {
        for (p++; *p; p++) {
            if (p[0] == '\'' && p[1] == '\'')
                p++;
            else if (*p == '\'')
                return p + 1;
        }
        return p;
    }
    if (*p == '$' && (p == start || !ident_char((unsigned char)p[-1]))) {
        /* $tag$ ... $tag$: a tag is empty or a name without '$' */
        const char *q = p + 1;
        if (*q >= '0' && *q <= '9')
            return NULL; /* $1: a parameter */
        while (*q && *q != '$' && ident_char((unsigned char)*q))
            q++;
        if (*q != '$')
            return NULL;
        size_t len = (size_t)(q - p) + 1;
        for (const char *r = q + 1; *r; r++)
            if (*r == '$' && strncmp(r, p, len) == 0)
                return r + len;
        return p + strlen(p);
    }
    return NULL;
}

/* One name at *pp (quoted or bare, bare folded to lower case) into out;
 * *pp is left after it. */
static void scan_name(const char **pp, mc_buf *out)
{
    const char *p = *pp;
    if (*p == '"') {
        for (p++; *p; p++) {
            if (p[0] == '"' && p[1] == '"')
                mc_buf_putc(out, '"'), p++;
            else if (*p == '"') {
                p++;
                break;
            } else
                mc_buf_putc(out, *p);
        }
    } else {
        for (; *p && ident_char((unsigned char)*p); p++)
            mc_buf_putc(out, (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p));
    }
    *pp = p;
}

void mc_sql_scan_chains(const char *sql, void (*each)(void *arg, const mc_sql_chain *c),
                        void *arg)
{
    const char *p = sql ? sql : "";
    bool from = false; /* the last token was FROM or JOIN */
    mc_buf parts[MC_SQL_CHAIN_MAX] = {{0}};
    while (*p) {
        const char *q = mc_sql_skip_blank(p);
        if (q != p) {
            p = q;
            continue;
        }
        if ((q = skip_literal(p, sql)) != NULL) {
            p = q;
            from = false;
            continue;
        }
        if (*p != '"' && !ident_start((unsigned char)*p)) {
            p++;
            from = false;
            continue;
        }
        bool quoted_first = *p == '"';
        size_t n = 0;
        for (;;) {
            if (n < MC_SQL_CHAIN_MAX) {
                mc_buf_reset(&parts[n]);
                scan_name(&p, &parts[n]);
            } else {
                mc_buf skip = {0};
                scan_name(&p, &skip);
                mc_buf_free(&skip);
            }
            n++;
            q = mc_sql_skip_blank(p);
            if (*q != '.')
                break;
            const char *r = mc_sql_skip_blank(q + 1);
            if (*r != '"' && !ident_start((unsigned char)*r))
                break; /* t.* or a number */
            p = r;
        }
        if (n == 1) {
            const char *w = mc_buf_str(&parts[0]);
            from = !quoted_first && (strcmp(w, "from") == 0 || strcmp(w, "join") == 0);
            continue;
        }
        if (n <= MC_SQL_CHAIN_MAX) {
            mc_sql_chain c = {.n_parts = n, .after_from = from,
                              .called = *mc_sql_skip_blank(p) == '('};
            for (size_t i = 0; i < n; i++)
                c.parts[i] = mc_buf_str(&parts[i]);
            each(arg, &c);
        }
        from = false;
    }
    for (size_t i = 0; i < MC_SQL_CHAIN_MAX; i++)
        mc_buf_free(&parts[i]);
}
