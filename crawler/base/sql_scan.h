/*
 * sql_scan.h — the one scanner of SQL identifiers written by a user: a
 * name is either "double-quoted" (a quote inside written "") or bare, up to
 * a terminator.  Used by grants' --schema lists ("a", "b, c") and show's
 * DS.SCHEMA.CONTAINER paths; mc_sql_scan_chains reads the qualified names
 * out of a whole query's text.
 *
 * Bare names are taken as written: no case folding (the callers compare
 * names with what the catalog says, and the catalog holds them as created).
 * What separates names, and whether blanks around them count, is the
 * caller's: the flags below.
 */
#ifndef MC_SQL_SCAN_H
#define MC_SQL_SCAN_H

#include "mc_base.h"

enum {
    /* Spaces and tabs before a name and after a quoted one are skipped,
     * and trimmed off the end of a bare one (grants: "a, b"). */
    MC_SQL_SCAN_BLANKS = 1 << 0,
    /* An empty name ("" or nothing between two separators) is an error
     * (show's paths allow one, grants' lists do not). */
    MC_SQL_SCAN_NONEMPTY = 1 << 1,
};

/*
 * Scans one name at *p into out (appended).  A bare name ends at any
 * character of stops or at the end of the text; after a quoted name only
 * one of those may follow.  *p is left on that character.  Returns 0, or -1
 * when a quote is not closed or something else follows the closing quote
 * (out then holds part of the name; the caller frees it).
 */
int mc_sql_scan_ident(const char **p, const char *stops, unsigned flags, mc_buf *out);

/*
 * Splits text into names separated by sep: at most max names (0: no
 * limit).  *out gets a NULL-terminated array of malloc'd strings (free
 * each, then the array).  Returns the number of names, or -1 when the text
 * is malformed, with nothing allocated and *out NULL.
 */
int mc_sql_split_idents(const char *text, char sep, unsigned flags, size_t max, char ***out);

/*
 * The qualified names in a query's text (a view's definition), for reading
 * what a late-binding view reads (docs/lineage.md, "Parsed").  A name
 * chain is two or more names joined by dots ("sales"."Orders", a.b.c);
 * quoted names lose their quotes ("" inside is one quote), bare ASCII
 * letters are folded to lower case as the server folds them.  Skipped:
 * -- and nested block comments, string literals ('...' with '' inside,
 * E'...' with backslash escapes too, $tag$...$tag$), and single names.
 * For each chain, each() gets its parts, whether it follows FROM or JOIN
 * (case-insensitive, comments between allowed) and whether it is called
 * (a "(" follows: schema.function(...)).  Never fails: an unclosed quote
 * or comment ends the text.
 */
#define MC_SQL_CHAIN_MAX 4
typedef struct mc_sql_chain {
    const char *parts[MC_SQL_CHAIN_MAX]; /* valid during the callback only */
    size_t n_parts;                      /* 2 .. MC_SQL_CHAIN_MAX */
    bool after_from;                     /* FROM or JOIN comes right before */
    bool called;                         /* "(" comes right after */
} mc_sql_chain;
void mc_sql_scan_chains(const char *sql, void (*each)(void *arg, const mc_sql_chain *c),
                        void *arg);

#endif
