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
