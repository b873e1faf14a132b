/*
 * secret.c — reading a secret from a file (secret.h): one buffer of max + 1
 * bytes, so a file one byte too long is noticed without reading it all,
 * and no copy of the secret is left by a reallocation.
 */
#include "secret.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum mc_secret_file_status mc_secret_read_file(const char *path, size_t max, mc_secret *out,
                                               int *errno_out)
{
    enum mc_secret_file_status st = MC_SECRET_FILE_OK;
    int e = 0;
    size_t len = 0;
    char *buf = NULL;
    /* The bytes are on their way into memory: no core file from here on. */
    mc_secret_guard_process();
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        e = errno;
        st = MC_SECRET_FILE_UNREADABLE;
        goto out;
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        e = EISDIR;
        st = MC_SECRET_FILE_UNREADABLE;
        goto out;
    }
    buf = mc_malloc(max + 1);
    while (len <= max) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = errno;
            st = MC_SECRET_FILE_UNREADABLE;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        st = MC_SECRET_FILE_TOO_LARGE;
        goto out;
    }
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len == 0) {
        st = MC_SECRET_FILE_EMPTY;
        goto out;
    }
    mc_secret_set(out, buf, len);
out:
    if (buf) {
        explicit_bzero(buf, max + 1);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    if (errno_out)
        *errno_out = e;
    return st;
}

int mc_secret_file_error(enum mc_secret_file_status st, int errnum, const char *path,
                         size_t max, int code, mc_error *err)
{
    switch (st) {
    case MC_SECRET_FILE_OK:
        break;
    case MC_SECRET_FILE_UNREADABLE: {
        /* strerror, lower case, so it reads well after "cannot read X: " */
        char why[128];
        const char *s = strerror_r(errnum, why, sizeof why);
        if (s != why)
            snprintf(why, sizeof why, "%s", s);
        why[0] = (char)tolower((unsigned char)why[0]);
        return mc_error_set(err, code, "cannot read %s: %s", path, why);
    }
    case MC_SECRET_FILE_TOO_LARGE:
        if (max % 1024 == 0)
            mc_error_set(err, code, "%s is larger than %zu KiB", path, max / 1024);
        else
            mc_error_set(err, code, "%s is larger than %zu bytes", path, max);
        mc_error_hint(err, "the file must hold only the secret (one trailing newline is fine)");
        return -1;
    case MC_SECRET_FILE_EMPTY:
        mc_error_set(err, code, "%s is empty", path);
        mc_error_hint(err, "an empty secret is never used; write the secret into the file");
        return -1;
    }
    return mc_error_set(err, code, "cannot read %s", path);
}
