/*
 * test_sql_scan.c — the one scanner of user-written SQL identifiers
 * (crawler/base/sql_scan.h), in the two shapes its callers use it:
 * grants' --schema / --owner lists (comma, blanks skipped, no empty name)
 * and show's DS.SCHEMA.CONTAINER paths (dot, blanks kept, empty parts
 * allowed, at most three).
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "sql_scan.h"

static void free_list(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

#define LIST_FLAGS (MC_SQL_SCAN_BLANKS | MC_SQL_SCAN_NONEMPTY)

Test(sql_scan, one_name_quoted_or_bare)
{
    const char *p = "\"say \"\"hi\"\"\".rest";
    mc_buf b = {0};
    cr_assert_eq(mc_sql_scan_ident(&p, ".", 0, &b), 0);
    cr_assert_str_eq(mc_buf_str(&b), "say \"hi\"");
    cr_assert_str_eq(p, ".rest", "left on the terminator");
    mc_buf_reset(&b);

    p = "Sales Data,x";
    cr_assert_eq(mc_sql_scan_ident(&p, ",", 0, &b), 0);
    cr_assert_str_eq(mc_buf_str(&b), "Sales Data", "bare names keep their case");
    cr_assert_str_eq(p, ",x");
    mc_buf_reset(&b);

    p = "  padded  ;";
    cr_assert_eq(mc_sql_scan_ident(&p, ";", MC_SQL_SCAN_BLANKS, &b), 0);
    cr_assert_str_eq(mc_buf_str(&b), "padded");
    mc_buf_reset(&b);
    p = "  \" kept \"  ;";
    cr_assert_eq(mc_sql_scan_ident(&p, ";", MC_SQL_SCAN_BLANKS, &b), 0);
    cr_assert_str_eq(mc_buf_str(&b), " kept ");
    cr_assert_str_eq(p, ";");
    mc_buf_reset(&b);

    /* a quote inside a bare name is just a character */
    p = "a\"b\".c";
    cr_assert_eq(mc_sql_scan_ident(&p, ".", 0, &b), 0);
    cr_assert_str_eq(mc_buf_str(&b), "a\"b\"");
    mc_buf_reset(&b);

    p = "\"open";
    cr_assert_eq(mc_sql_scan_ident(&p, ".", 0, &b), -1);
    mc_buf_reset(&b);
    p = "\"x\"y";
    cr_assert_eq(mc_sql_scan_ident(&p, ".", 0, &b), -1);
    mc_buf_reset(&b);
    p = "\"x\" .";
    cr_assert_eq(mc_sql_scan_ident(&p, ".", 0, &b), -1, "blanks count without the flag");
    mc_buf_free(&b);
}

Test(sql_scan, grants_name_lists)
{
    char **v = NULL;
    cr_assert_eq(mc_sql_split_idents(" public , Sales Data ,x", ',', LIST_FLAGS, 0, &v), 3);
    cr_assert_str_eq(v[0], "public");
    cr_assert_str_eq(v[1], "Sales Data");
    cr_assert_str_eq(v[2], "x");
    cr_assert_null(v[3]);
    free_list(v);
    cr_assert_eq(mc_sql_split_idents("\"a,b\",\"say \"\"hi\"\"\", \" padded \"", ',', LIST_FLAGS,
                                     0, &v), 3);
    cr_assert_str_eq(v[0], "a,b");
    cr_assert_str_eq(v[1], "say \"hi\"");
    cr_assert_str_eq(v[2], " padded ");
    free_list(v);
    cr_assert_eq(mc_sql_split_idents("semi;colon,ünï", ',', LIST_FLAGS, 0, &v), 2);
    cr_assert_str_eq(v[1], "ünï");
    free_list(v);
    static const char *const bad[] = {"", "a,,b", "a,", "\"open", "\"x\"y", " , ", "\"\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = (char **)1;
        cr_assert_eq(mc_sql_split_idents(bad[i], ',', LIST_FLAGS, 0, &v), -1, "'%s'", bad[i]);
        cr_assert_null(v);
    }
}

Test(sql_scan, show_paths)
{
    char **v = NULL;
    cr_assert_eq(mc_sql_split_idents("dw", '.', 0, 3, &v), 1);
    cr_assert_str_eq(v[0], "dw");
    free_list(v);
    cr_assert_eq(mc_sql_split_idents("dw.\"my.schema\".\"t \"\"x\"\"\"", '.', 0, 3, &v), 3);
    cr_assert_str_eq(v[1], "my.schema");
    cr_assert_str_eq(v[2], "t \"x\"");
    free_list(v);
    /* blanks are part of a bare name; empty parts are the caller's to refuse */
    cr_assert_eq(mc_sql_split_idents(" dw . s", '.', 0, 3, &v), 2);
    cr_assert_str_eq(v[0], " dw ");
    cr_assert_str_eq(v[1], " s");
    free_list(v);
    cr_assert_eq(mc_sql_split_idents("dw.", '.', 0, 3, &v), 2);
    cr_assert_str_eq(v[1], "");
    free_list(v);
    cr_assert_eq(mc_sql_split_idents("", '.', 0, 3, &v), 1);
    cr_assert_str_eq(v[0], "");
    free_list(v);
    cr_assert_eq(mc_sql_split_idents("\"\".s", '.', 0, 3, &v), 2);
    cr_assert_str_eq(v[0], "");
    free_list(v);
    /* malformed: nothing is left allocated (split_path used to hand back
     * the parts it had read along with -1) */
    static const char *const bad[] = {"a.b.c.d", "dw.\"open", "dw.\"s\"x.t", "a.b.c."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = (char **)1;
        cr_assert_eq(mc_sql_split_idents(bad[i], '.', 0, 3, &v), -1, "'%s'", bad[i]);
        cr_assert_null(v);
    }
}

/* ---- qualified names in a query's text (mc_sql_scan_chains) ------------------------ */

/* Each chain as "a.b[F][C]" (F: after FROM/JOIN, C: called), joined by " ". */
static void collect(void *arg, const mc_sql_chain *c)
{
    mc_buf *b = arg;
    if (b->len)
        mc_buf_putc(b, ' ');
    for (size_t i = 0; i < c->n_parts; i++)
        mc_buf_printf(b, "%s%s", i ? "." : "", c->parts[i]);
    if (c->after_from)
        mc_buf_puts(b, "[F]");
    if (c->called)
        mc_buf_puts(b, "[C]");
}

static char *chains(const char *sql)
{
    mc_buf b = {0};
    mc_sql_scan_chains(sql, collect, &b);
    return mc_buf_steal(&b);
}

Test(sql_scan, chains_outside_comments_and_literals)
{
    cr_assert_str_eq(chains("select o.id from sales.orders o join \"Sales\".\"Line \"\"Items\"\"\" l"
                            " on l.id = o.id"),
                     "o.id sales.orders[F] Sales.Line \"Items\"[F] l.id o.id");
    /* comments (nested), string literals of every kind */
    cr_assert_str_eq(chains("select 'from a.b', E'it\\'s from c.d', $$ from e.f $$, "
                            "$tag$ from g.h $x$ $tag$, 'x''from i.j' /* from k.l /* from m.n */"
                            " from o.p */ -- from q.r\n from s.t"),
                     "s.t[F]");
    /* bare names fold to lower case, quoted ones keep theirs; blanks and
     * comments around the dots */
    cr_assert_str_eq(chains("FROM Sales . /* x */ Orders JOIN \"MiXed\".T"),
                     "sales.orders[F] MiXed.t[F]");
    /* three and four parts; a function call; t.* is no chain */
    cr_assert_str_eq(chains("select t.*, s.f(1), db.s.t.c from db.s.t"),
                     "s.f[C] db.s.t.c db.s.t[F]");
    /* FROM must come right before: a keyword in between ends it */
    cr_assert_str_eq(chains("select x from lateral a.b, c.d where e.f"), "a.b c.d e.f");
    /* a quoted "from" is a name, not the keyword */
    cr_assert_str_eq(chains("select \"from\" a.b"), "a.b");
    /* unclosed quote, literal or comment: the text ends there */
    cr_assert_str_eq(chains("select a.b, 'from c.d"), "a.b");
    cr_assert_str_eq(chains("select a.b /* from c.d"), "a.b");
    cr_assert_str_eq(chains("select a.\"b"), "a.b");
    /* $1 is a parameter, not a dollar quote; a$b is one name */
    cr_assert_str_eq(chains("select $1 from a$b.c$d"), "a$b.c$d[F]");
    cr_assert_str_eq(chains(NULL), "");
    /* five parts: too long for a relation, not reported */
    cr_assert_str_eq(chains("select a.b.c.d.e"), "");
}
