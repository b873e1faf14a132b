/*
 * output.c — the writer (invariant 3 in site.c): every file of the site goes
 * through emit(), which records it for the manifest, leaves an unchanged file
 * untouched and replaces a changed one atomically (temporary file + rename);
 * after the build, remove_stale() deletes what an earlier build wrote and this
 * one did not, and write_manifest() lists this build's files.
 */
#include "site_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- the writer ------------------------------------------------------------------ */

int path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fs_fail(mc_error *err, const char *what, const char *path)
{
    return mc_error_set(err, MC_EXIT_USAGE, "docs: cannot %s %s: %s", what, path,
                        strerror(errno));
}

/* mkdir -p of the directory part of rel (under the root). */
static int ensure_dir(site *S, const char *rel, mc_error *err)
{
    const char *slash = strrchr(rel, '/');
    if (!slash)
        return 0;
    size_t n = (size_t)(slash - rel);
    if (S->made_dir && strlen(S->made_dir) == n && memcmp(S->made_dir, rel, n) == 0)
        return 0;
    char *full = mc_asprintf("%s/%.*s", S->root, (int)n, rel);
    for (char *p = full + strlen(S->root) + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char keep = *p;
        *p = '\0';
        if (mkdir(full, 0777) != 0 && errno != EEXIST) {
            fs_fail(err, "create the directory", full);
            free(full);
            return -1;
        }
        *p = keep;
        if (!keep)
            break;
    }
    free(full);
    free(S->made_dir);
    S->made_dir = mc_strndup(rel, n);
    return 0;
}

/* Whether the file at path holds exactly these bytes. */
static bool same_content(site *S, const char *path, const char *data, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    struct stat sb;
    bool same = false;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (size_t)sb.st_size == len) {
        if (S->readback_cap < len + 1) {
            S->readback_cap = len + 1;
            S->readback = mc_realloc(S->readback, S->readback_cap);
        }
        size_t got = 0;
        while (got < len) {
            ssize_t r = read(fd, S->readback + got, len - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        same = got == len && memcmp(S->readback, data, len) == 0;
    }
    close(fd);
    return same;
}

/* Records rel as part of the site and writes it when its bytes changed. */
static int emit(site *S, const char *rel, const char *data, size_t len, mc_error *err)
{
    if (S->n_paths == S->cap_paths) {
        S->cap_paths = S->cap_paths ? S->cap_paths * 2 : 256;
        S->paths = mc_realloc(S->paths, S->cap_paths * sizeof *S->paths);
    }
    S->paths[S->n_paths++] = mc_strdup(rel);
    char *path = mc_asprintf("%s/%s", S->root, rel);
    int ret = -1;
    char *tmp = NULL;
    if (same_content(S, path, data, len)) {
        ret = 0;
        goto out;
    }
    if (ensure_dir(S, rel, err) < 0)
        goto out;
    const char *base = strrchr(path, '/') + 1;
    tmp = mc_asprintf("%.*s.tmp-%s.%ld", (int)(base - path), path, base, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) {
        fs_fail(err, "write", tmp);
        goto out;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fs_fail(err, "write", tmp);
            close(fd);
            unlink(tmp);
            goto out;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0) {
        fs_fail(err, "write", tmp);
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        fs_fail(err, "replace", path);
        unlink(tmp);
        goto out;
    }
    S->n_written++;
    ret = 0;
out:
    free(tmp);
    free(path);
    return ret;
}

int emit_buf(site *S, const char *rel, mc_buf *b, mc_error *err)
{
    int rc = emit(S, rel, b->data ? b->data : "", b->len, err);
    mc_buf_reset(b);
    return rc;
}

static bool in_site(const site *S, const char *rel)
{
    return bsearch(&rel, S->paths, S->n_paths, sizeof *S->paths, path_cmp) != NULL;
}

/* A path from an old manifest is only trusted to name a file inside the
 * site: relative, no "..", no empty or hidden components. */
static bool plain_rel_path(const char *rel)
{
    if (!*rel || *rel == '/')
        return false;
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || p[0] == '.')
            return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20)
                return false;
        p += n;
        if (*p == '/')
            p++;
    }
    return true;
}

/* Removes empty directories from rel's parent up to (not including) the root. */
static void prune_dirs(site *S, const char *rel)
{
    char *dir = mc_strdup(rel);
    for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
        *slash = '\0';
        char *full = mc_asprintf("%s/%s", S->root, dir);
        int rc = rmdir(full);
        free(full);
        if (rc != 0)
            break;
    }
    free(dir);
}

/* Deletes what an earlier build wrote and this one did not: the entries of
 * the old manifest, and any file under the directories only the site uses. */
int remove_stale(site *S, size_t *n_removed, mc_error *err)
{
    *n_removed = 0;
    char *mpath = mc_asprintf("%s/" SITE_MANIFEST, S->root);
    FILE *f = fopen(mpath, "r");
    free(mpath);
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
            if (line[n - 1] == '\n')
                line[--n] = '\0';
            if (line[0] == '#' || !plain_rel_path(line) || in_site(S, line))
                continue;
            char *full = mc_asprintf("%s/%s", S->root, line);
            if (unlink(full) == 0) {
                (*n_removed)++;
                prune_dirs(S, line);
            }
            free(full);
        }
        free(line);
        fclose(f);
    }
    static const char *const owned[] = {"catalog", "search"};
    size_t root_len = strlen(S->root);
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        char *top = mc_asprintf("%s/%s", S->root, owned[i]);
        char *const roots[] = {top, NULL};
        struct stat sb;
        if (lstat(top, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            free(top);
            continue;
        }
        FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
        if (!fts) {
            fs_fail(err, "read", top);
            free(top);
            return -1;
        }
        FTSENT *e;
        while ((e = fts_read(fts)) != NULL) {
            const char *rel = e->fts_path + root_len + 1;
            if (e->fts_info == FTS_DP) {
                if (e->fts_level > 0)
                    rmdir(e->fts_path); /* fails, harmlessly, unless empty */
            } else if (e->fts_info != FTS_D && !in_site(S, rel)) {
                if (unlink(e->fts_path) == 0)
                    (*n_removed)++;
            }
        }
        fts_close(fts);
        free(top);
    }
    return 0;
}

int write_manifest(site *S, mc_error *err)
{
    mc_buf b = {0};
    mc_buf_puts(&b, "# metacrawl docs: the files of the last build, removed when they "
                    "leave the site (see docs/site.md)\n");
    for (size_t i = 0; i < S->n_paths; i++) {
        mc_buf_puts(&b, S->paths[i]);
        mc_buf_putc(&b, '\n');
    }
    /* the manifest is not part of its own list, nor of the counts */
    size_t n_written = S->n_written;
    int rc = emit(S, SITE_MANIFEST, mc_buf_str(&b), b.len, err);
    free(S->paths[--S->n_paths]);
    S->n_written = n_written;
    mc_buf_free(&b);
    return rc;
}
