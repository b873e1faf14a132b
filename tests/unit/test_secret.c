/*
 * test_secret.c — the one reader of a secret kept in a file
 * (crawler/base/secret.h), used by ${file:PATH} in the configuration and by
 * grants' --password-from file:PATH: the size cap, trailing newlines, empty
 * and unreadable files, and the messages that name the file.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"

static char tmpdir[64];

static void make_tmp(void)
{
    strcpy(tmpdir, "/tmp/mc_secret_test_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmp(void)
{
    char *cmd = mc_asprintf("rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
}

TestSuite(secret, .init = make_tmp, .fini = remove_tmp);

static char *write_file(const char *name, const char *data, size_t n)
{
    char *path = mc_asprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    return path;
}

static void expect_secret(const char *content, const char *want)
{
    char *path = write_file("pw", content, strlen(content));
    mc_secret s = {0};
    int e = -1;
    cr_assert_eq(mc_secret_read_file(path, 64, &s, &e), MC_SECRET_FILE_OK, "%s", content);
    cr_assert_eq(e, 0);
    cr_assert_str_eq(s.value, want);
    cr_assert_eq(s.len, strlen(want));
    mc_secret_wipe(&s);
    free(path);
}

Test(secret, trailing_newlines_are_not_part_of_it)
{
    expect_secret("s3cret", "s3cret");
    expect_secret("s3cret\n", "s3cret");
    expect_secret("s3cret\r\n", "s3cret");
    /* as both readers did before: every trailing newline goes */
    expect_secret("s3cret\n\n", "s3cret");
    expect_secret("two\nlines\n", "two\nlines");
    expect_secret(" spaced ", " spaced ");
}

Test(secret, the_size_cap_counts_the_whole_file)
{
    char data[66];
    memset(data, 'x', sizeof data);
    char *path = write_file("max", data, 64);
    mc_secret s = {0};
    cr_assert_eq(mc_secret_read_file(path, 64, &s, NULL), MC_SECRET_FILE_OK);
    cr_assert_eq(s.len, 64);
    mc_secret_wipe(&s);
    free(path);

    path = write_file("over", data, 65);
    cr_assert_eq(mc_secret_read_file(path, 64, &s, NULL), MC_SECRET_FILE_TOO_LARGE);
    cr_assert_null(s.value);
    free(path);
    /* a trailing newline past the cap is still past the cap */
    data[64] = '\n';
    path = write_file("over-nl", data, 65);
    cr_assert_eq(mc_secret_read_file(path, 64, &s, NULL), MC_SECRET_FILE_TOO_LARGE);
    mc_error err = {0};
    cr_assert_eq(mc_secret_file_error(MC_SECRET_FILE_TOO_LARGE, 0, "/run/pw", 64 * 1024,
                                      MC_EXIT_CONFIG, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    cr_assert_str_eq(err.message, "/run/pw is larger than 64 KiB");
    cr_assert_str_eq(err.hint, "the file must hold only the secret (one trailing newline is fine)");
    free(path);
}

Test(secret, empty_and_unreadable_files_are_refused)
{
    mc_secret s = {0};
    int e = 0;
    char *path = write_file("empty", "", 0);
    cr_assert_eq(mc_secret_read_file(path, 64, &s, &e), MC_SECRET_FILE_EMPTY);
    free(path);
    path = write_file("nl", "\r\n\n", 3);
    cr_assert_eq(mc_secret_read_file(path, 64, &s, &e), MC_SECRET_FILE_EMPTY);
    mc_error err = {0};
    mc_secret_file_error(MC_SECRET_FILE_EMPTY, 0, path, 64, MC_EXIT_USAGE, &err);
    char *want = mc_asprintf("%s is empty", path);
    cr_assert_str_eq(err.message, want);
    cr_assert_str_eq(err.hint, "an empty secret is never used; write the secret into the file");
    free(want);
    free(path);

    cr_assert_eq(mc_secret_read_file("/nonexistent/metacrawl/pw", 64, &s, &e),
                 MC_SECRET_FILE_UNREADABLE);
    cr_assert_eq(e, ENOENT);
    mc_error_clear(&err);
    mc_secret_file_error(MC_SECRET_FILE_UNREADABLE, e, "/nonexistent/metacrawl/pw", 64,
                         MC_EXIT_CONFIG, &err);
    cr_assert_str_eq(err.message, "cannot read /nonexistent/metacrawl/pw: no such file or directory");

    cr_assert_eq(mc_secret_read_file(tmpdir, 64, &s, &e), MC_SECRET_FILE_UNREADABLE);
    cr_assert_eq(e, EISDIR);
    cr_assert_null(s.value);
}

Test(secret, a_failure_leaves_the_previous_secret_alone)
{
    mc_secret s = {0};
    mc_secret_set(&s, "old", 3);
    cr_assert_eq(mc_secret_read_file("/nonexistent/metacrawl/pw", 64, &s, NULL),
                 MC_SECRET_FILE_UNREADABLE);
    cr_assert_str_eq(s.value, "old");
    char *path = write_file("new", "new\n", 4);
    cr_assert_eq(mc_secret_read_file(path, 64, &s, NULL), MC_SECRET_FILE_OK);
    cr_assert_str_eq(s.value, "new");
    mc_secret_wipe(&s);
    free(path);
}
