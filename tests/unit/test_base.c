/*
 * test_base.c — the foundation: first-error-wins, globs, JSON escaping of
 * hostile strings, secrets wiped, the arena.
 */
#include <criterion/criterion.h>
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
