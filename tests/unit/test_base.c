/*
 * test_base.c — the foundation: first-error-wins, globs, JSON escaping of
 * hostile strings, secrets wiped, the arena.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "mc_base.h"

Test(base, first_error_wins)
{
    mc_error e = {0};
    cr_assert_eq(mc_error_set(&e, MC_EXIT_CONNECT, "root cause %d", 1), -1);
    mc_error_hint(&e, "do this");
    mc_error_set(&e, MC_EXIT_STORE, "consequence");
    mc_error_hint(&e, "not this");
    cr_assert_eq(e.code, MC_EXIT_CONNECT);
    cr_assert_str_eq(e.message, "root cause 1");
    cr_assert_str_eq(e.hint, "do this");
    mc_error_clear(&e);
    cr_assert(!mc_error_is_set(&e));
}

Test(base, globs)
{
    cr_assert(mc_glob_match("sales_*", "sales_2024"));
    cr_assert(!mc_glob_match("sales_*", "xsales_2024"));
    cr_assert(mc_glob_match("*_bak", "orders_bak"));
    cr_assert(mc_glob_match("t?mp", "temp"));
    cr_assert(mc_glob_match("[a-c]x", "bx"));
    cr_assert(!mc_glob_match("[!a-c]x", "bx"));
    cr_assert(mc_glob_match("a\\*b", "a*b"));
    cr_assert(!mc_glob_match("a\\*b", "axb"));
    cr_assert(mc_glob_match("*a*a*a*", "banana_a"));
    cr_assert(!mc_glob_match("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac"));
    cr_assert_null(mc_glob_problem("sales_*"));
    cr_assert_not_null(mc_glob_problem("[abc"));
    cr_assert_not_null(mc_glob_problem("abc\\"));
    cr_assert_not_null(mc_glob_problem(""));
}

/* tunnel/tunnel.c's glob_ci as it was when mc_glob_match_n took it over:
 * the reference MC_GLOB_SSH must agree with. */
static bool ref_glob_ci(const char *pat, size_t n_pat, const char *s)
{
    while (n_pat > 0) {
        if (*pat == '*') {
            while (n_pat > 0 && *pat == '*')
                pat++, n_pat--;
            if (n_pat == 0)
                return true;
            for (; *s; s++)
                if (ref_glob_ci(pat, n_pat, s))
                    return true;
            return false;
        }
        if (!*s)
            return false;
        if (*pat != '?' && tolower((unsigned char)*pat) != tolower((unsigned char)*s))
            return false;
        pat++, n_pat--, s++;
    }
    return *s == '\0';
}

Test(base, ssh_host_globs)
{
    /* known_hosts cases (tests/unit/test_tunnel.c, patterns_lists_and_negation) */
    cr_assert(mc_glob_match_n("*.example.com", 13, "bastion.example.com", MC_GLOB_SSH));
    cr_assert(!mc_glob_match_n("*.example.com", 13, "example.com", MC_GLOB_SSH));
    cr_assert(mc_glob_match_n("db?.internal", 12, "db1.internal", MC_GLOB_SSH));
    cr_assert(!mc_glob_match_n("db?.internal", 12, "db12.internal", MC_GLOB_SSH));
    cr_assert(mc_glob_match_n("10.0.0.*", 8, "10.0.0.7", MC_GLOB_SSH));
    cr_assert(mc_glob_match_n("[10.0.0.*]:2222", 15, "[10.0.0.7]:2222", MC_GLOB_SSH),
              "brackets are literal");
    cr_assert(!mc_glob_match_n("[10.0.0.*]:2222", 15, "1:2222", MC_GLOB_SSH));
    /* case-insensitive, on both sides */
    cr_assert(mc_glob_match_n("*.EXAMPLE.com", 13, "h.example.COM", MC_GLOB_SSH));
    /* the slice is the pattern: what follows it is not read */
    const char *line = "db1.internal,other ssh-ed25519";
    cr_assert(mc_glob_match_n(line, 12, "db1.internal", MC_GLOB_SSH));
    cr_assert(!mc_glob_match_n(line, 11, "db1.internal", MC_GLOB_SSH));
    cr_assert(mc_glob_match_n("*,x", 1, "anything", MC_GLOB_SSH));
    cr_assert(mc_glob_match_n("", 0, "", MC_GLOB_SSH));
    cr_assert(!mc_glob_match_n("", 0, "a", MC_GLOB_SSH));
    /* no escapes: a backslash is a character */
    cr_assert(mc_glob_match_n("a\\*", 3, "a\\xyz", MC_GLOB_SSH));
    cr_assert(!mc_glob_match_n("a\\*", 3, "a*", MC_GLOB_SSH));
    /* hostile patterns stay fast (the recursive glob_ci was exponential) */
    cr_assert(!mc_glob_match_n("*a*a*a*a*a*a*a*a*b", 18,
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", MC_GLOB_SSH));
    /* flags 0: mc_glob_match over the slice */
    cr_assert(mc_glob_match_n("[a-c]x,junk", 6, "bx", 0));
    cr_assert(!mc_glob_match_n("[a-c]x,junk", 6, "bx,junk", 0));
    cr_assert(!mc_glob_match_n("T?MP", 4, "temp", 0), "flags 0 is case-sensitive");
}

/* Every pattern of up to 4 characters against every name of up to 4, over
 * an alphabet with the characters that could differ: the same answers as
 * glob_ci. */
Test(base, ssh_host_globs_agree_with_glob_ci)
{
    static const char pa[] = "aB*?[\\";
    static const char na[] = "Ab[\\*";
    char pat[8], name[8];
    size_t np = sizeof pa - 1, nn = sizeof na - 1;
    for (size_t lp = 0; lp <= 4; lp++) {
        size_t n_pats = 1;
        for (size_t i = 0; i < lp; i++)
            n_pats *= np;
        for (size_t pi = 0; pi < n_pats; pi++) {
            size_t x = pi;
            for (size_t i = 0; i < lp; i++, x /= np)
                pat[i] = pa[x % np];
            pat[lp] = 'z'; /* past the slice: must not count */
            pat[lp + 1] = '\0';
            for (size_t ln = 0; ln <= 4; ln++) {
                size_t n_names = 1;
                for (size_t i = 0; i < ln; i++)
                    n_names *= nn;
                for (size_t ni = 0; ni < n_names; ni++) {
                    size_t y = ni;
                    for (size_t i = 0; i < ln; i++, y /= nn)
                        name[i] = na[y % nn];
                    name[ln] = '\0';
                    bool want = ref_glob_ci(pat, lp, name);
                    if (mc_glob_match_n(pat, lp, name, MC_GLOB_SSH) != want)
                        cr_assert_fail("pattern '%.*s' name '%s': glob_ci says %d", (int)lp,
                                       pat, name, want);
                }
            }
        }
    }
}

static char *script_str(const char *s)
{
    mc_buf b = {0};
    json_put_str_script(&b, s);
    return mc_buf_steal(&b);
}

#define SCRIPT_EQ(in, want)                                                    \
    do {                                                                       \
        char *got_ = script_str(in);                                           \
        cr_assert_str_eq(got_, want, "input %s", #in);                         \
        free(got_);                                                            \
    } while (0)

/* The exact text the docs site's search index needs (tests/unit/
 * test_site.c, escape/js_string pins the same), byte for byte as the
 * site wrote it before it used this writer. */
Test(base, json_strings_for_a_script_element)
{
    SCRIPT_EQ("</script>", "\"\\u003c/script\\u003e\"");
    SCRIPT_EQ("a'b\"c\\d&", "\"a\\u0027b\\\"c\\\\d\\u0026\"");
    SCRIPT_EQ("<!--x-->", "\"\\u003c!--x--\\u003e\"");
    SCRIPT_EQ("x\xe2\x80\xa8y\xe2\x80\xa9", "\"x\\u2028y\\u2029\"");
    SCRIPT_EQ("\xc3\xa9t\xc3\xa9", "\"\\u00e9t\\u00e9\"");       /* lower-case hex */
    SCRIPT_EQ("\xef\xbb\xbf", "\"\\ufeff\"");
    SCRIPT_EQ("\xf0\x9d\x84\x9e", "\"\\ud834\\udd1e\"");          /* surrogate pair */
    SCRIPT_EQ("\xf4\x8f\xbf\xbf", "\"\\udbff\\udfff\"");
    SCRIPT_EQ("\xff", "\"\\ufffd\"");
    SCRIPT_EQ("bad \xc0\xaf", "\"bad \\ufffd\\ufffd\"");          /* each byte */
    SCRIPT_EQ("\xe2\x82", "\"\\ufffd\\ufffd\"");
    SCRIPT_EQ("\n\x01", "\"\\n\\u0001\"");
    SCRIPT_EQ("\r\t\b\f\x1f\x7f", "\"\\r\\t\\u0008\\u000c\\u001f\\u007f\"");
    SCRIPT_EQ("/ ok ` = ;", "\"/ ok ` = ;\"");
    SCRIPT_EQ("", "\"\"");
    SCRIPT_EQ(NULL, "null");
    /* every other printable ASCII character passes as it is */
    for (int c = 0x20; c < 0x7f; c++) {
        if (strchr("\"\\<>&'", c))
            continue;
        char in[2] = {(char)c, '\0'}, want[4] = {'"', (char)c, '"', '\0'};
        char *got = script_str(in);
        cr_assert_str_eq(got, want);
        free(got);
    }
}

Test(base, json_strings_always_parse)
{
    const char *hostile[] = {
        "plain", "quote\" back\\slash", "new\nline\ttab\r", "\x01\x1f ctrl",
        "<script>alert('x')</script>", "\xc3\xbc ok utf8", "bad \xff\xfe utf8",
        "overlong \xc0\xaf", "surrogate \xed\xa0\x80", "truncated \xe2\x82",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        mc_buf b = {0};
        json_put_str(&b, hostile[i]);
        json_error_t jerr;
        json_t *v = json_loads(mc_buf_str(&b), JSON_DECODE_ANY, &jerr);
        cr_assert_not_null(v, "%s does not parse: %s", mc_buf_str(&b), jerr.text);
        if (i < 6)
            cr_assert_str_eq(json_string_value(v), hostile[i]);
        json_decref(v);
        mc_buf_free(&b);
    }
    mc_buf b = {0};
    json_put_str(&b, NULL);
    cr_assert_str_eq(mc_buf_str(&b), "null");
    mc_buf_free(&b);
}

Test(base, secrets_are_wiped)
{
    mc_secret s = {0};
    mc_secret_set(&s, "hunter2", 7);
    cr_assert_str_eq(s.value, "hunter2");
    mc_secret_wipe(&s);
    cr_assert_null(s.value);
    cr_assert_eq(s.len, 0);
    mc_secret_wipe(&s); /* twice is fine */
}

Test(base, arena_and_buffers)
{
    mc_arena *a = mc_arena_new();
    const char *big = NULL;
    for (int i = 0; i < 10000; i++) {
        const char *s = mc_arena_strdup(a, "some catalog string");
        cr_assert_str_eq(s, "some catalog string");
        cr_assert_eq((uintptr_t)s % 8, 0);
    }
    char large[100000];
    memset(large, 'x', sizeof large - 1);
    large[sizeof large - 1] = '\0';
    big = mc_arena_strdup(a, large);
    cr_assert_eq(strlen(big), sizeof large - 1);
    cr_assert_null(mc_arena_strdup(a, NULL));
    mc_arena_free(a);
    mc_arena_free(NULL);

    mc_buf b = {0};
    cr_assert_str_eq(mc_buf_str(&b), "");
    mc_buf_printf(&b, "%d-%s", 42, "x");
    mc_buf_puts(&b, "!");
    cr_assert_str_eq(mc_buf_str(&b), "42-x!");
    char *s = mc_buf_steal(&b);
    cr_assert_str_eq(s, "42-x!");
    free(s);
}

Test(base, hash_distinguishes_boundaries_and_null)
{
    uint64_t h1 = mc_hash_str(mc_hash_str(MC_HASH_INIT, "ab"), "c");
    uint64_t h2 = mc_hash_str(mc_hash_str(MC_HASH_INIT, "a"), "bc");
    cr_assert_neq(h1, h2);
    cr_assert_neq(mc_hash_str(MC_HASH_INIT, NULL), mc_hash_str(MC_HASH_INIT, ""));
}

Test(base, iso_time_pads_every_field)
{
    char buf[21];
    mc_time_iso(0, buf);
    cr_assert_str_eq(buf, "1970-01-01T00:00:00Z");
    mc_time_iso(INT64_C(-62135596800), buf); /* 0001-01-01 */
    cr_assert_str_eq(buf, "0001-01-01T00:00:00Z");
}

Test(base, log_lines_stay_one_line_in_every_style)
{
    int saved = dup(2);
    char path[] = "/tmp/mc-test-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    fflush(stderr);
    dup2(fd, 2);
    mc_log_style = MC_LOG_PLAIN;
    mc_log_write(MC_LOG_WARN, "a\nb");
    mc_log_style = MC_LOG_JOURNAL;
    mc_log_write(MC_LOG_ERROR, "journal\tline");
    mc_log_style = MC_LOG_TIMESTAMPED;
    mc_log_write(MC_LOG_INFO, "stamped");
    mc_log_style = MC_LOG_PLAIN;
    fflush(stderr);
    dup2(saved, 2);
    char text[512] = "";
    FILE *f = fopen(path, "r");
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    cr_assert(strstr(text, "metacrawl: warning: a b\n"), "%s", text);
    cr_assert(strstr(text, "<3>journal line\n"), "%s", text);
    cr_assert(strstr(text, "Z metacrawl: info: stamped\n"), "%s", text);
}
