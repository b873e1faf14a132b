/*
 * secret.h — the one reader of a secret kept in a file: a datastore's
 * ${file:PATH} (config.c) and the grants command's --admin-password-from /
 * --password-from file:PATH (crawler/grants/apply.c).
 *
 * The rules, the same for every caller:
 *  1. At most `max` bytes; a longer file is refused, not cut.
 *  2. Trailing newlines (\n, \r\n) are not part of the secret, and an empty
 *     secret is refused: it is never what was meant.
 *  3. The bytes are read into one buffer allocated once and wiped before it
 *     is freed, on success and on every error.
 *  4. Errors name the file, never its contents.
 */
#ifndef MC_SECRET_H
#define MC_SECRET_H

#include "mc_base.h"

enum mc_secret_file_status {
    MC_SECRET_FILE_OK = 0,
    MC_SECRET_FILE_UNREADABLE,  /* open or read failed: *errno_out (EISDIR: a directory) */
    MC_SECRET_FILE_TOO_LARGE,   /* more than max bytes */
    MC_SECRET_FILE_EMPTY,       /* nothing but newlines, or nothing */
};

/* Reads path into out, which is set only on success.  Returns the status; with
 * MC_SECRET_FILE_UNREADABLE, *errno_out (may be NULL) says why. */
enum mc_secret_file_status mc_secret_read_file(const char *path, size_t max, mc_secret *out,
                                               int *errno_out);

/* Sets err (with code) for a status other than OK, naming the file:
 * "cannot read PATH: no such file or directory", "PATH is larger than
 * 64 KiB", "PATH is empty", with a hint for the last two.  Returns -1. */
int mc_secret_file_error(enum mc_secret_file_status st, int errnum, const char *path,
                         size_t max, int code, mc_error *err);

#endif
