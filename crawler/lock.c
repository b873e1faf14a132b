/*
 * lock.c — the per-datastore crawl lock (lock.h): an flock on
 * "<store>.locks/<datastore>.lock", with a short holder record inside, and
 * a lock on the store file's identity.
 *
 * The holder record is written after the lock is taken and read by whoever
 * finds the lock busy, only to say who holds it.  It is never trusted for
 * the decision itself: the flock is the lock.
 *
 * The flock file is found by the store's path as written, so a store
 * reached by two paths (a symlink, a hard link, a bind mount, a relative
 * path from another directory) has two of them.  The second lock is
 * therefore taken on the store file itself, whatever path led to it: an
 * open-file-description lock (F_OFD_SETLK) on one byte per datastore far
 * beyond anything SQLite locks (its locks sit at 1 GiB, PENDING_BYTE and
 * the shared range after it, and in the -shm file), so the two never meet.
 * Like flock, an OFD lock belongs to its open file description: it is
 * released when we unlock it or die, and it is not dropped when SQLite
 * closes its own descriptors of the same file (which POSIX record locks
 * would be).
 *
 * The other way round is the danger: closing *any* descriptor of the store
 * file drops every POSIX record lock this process holds on it, and SQLite's
 * locks are POSIX record locks (sqlite.org/howtocorrupt.html, 2.2). So the
 * descriptor that carries the identity locks is opened once per store file
 * (by device and inode) and never closed while the process runs: a lock is
 * released by unlocking its byte (F_UNLCK), and process exit does the rest.
 */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct crawl_lock {
    int fd;       /* the flock file */
    int store_fd; /* the process's descriptor of the store file, never closed; -1 = none */
    char *datastore; /* whose byte store_fd locks */
};

/* The byte of the store file that stands for a datastore: in [2^62,
 * 2^62 + 2^61), so far beyond SQLite's locks and any real file size. */
static off_t identity_byte(const char *datastore)
{
    return (off_t)((UINT64_C(1) << 62) + (mc_hash_str(MC_HASH_INIT, datastore) &
                                          ((UINT64_C(1) << 61) - 1)));
}

/*
 * Takes the identity lock of datastore on the store file: 1 taken (*fd_out
 * holds it), 0 someone else holds it, -1 error.  A store that does not
 * exist yet has no identity: every caller opens (creates) the store before
 * locking, so this happens only to callers that never write it; they get
 * the path lock alone (*fd_out -1, return 1).
 */
/* The process's descriptors of store files, one per (device, inode), never
 * closed (see the top of the file). Threads of the scheduler lock too. */
static struct store_file {
    dev_t dev;
    ino_t ino;
    int fd;
} *store_files;
static size_t n_store_files;
/* The identity bytes this process holds: an OFD lock does not conflict with
 * itself, so two locks of one datastore in one process (two paths, two
 * threads) are told apart here. */
static struct held_byte {
    int fd;
    off_t byte;
} *held;
static size_t n_held;
static pthread_mutex_t store_files_mu = PTHREAD_MUTEX_INITIALIZER;

/* Marks (fd, byte) held by this process; false when it already is. */
static bool hold_byte(int fd, off_t byte)
{
    pthread_mutex_lock(&store_files_mu);
    bool free_here = true;
    for (size_t i = 0; i < n_held && free_here; i++)
        free_here = !(held[i].fd == fd && held[i].byte == byte);
    if (free_here) {
        held = mc_realloc(held, (n_held + 1) * sizeof *held);
        held[n_held++] = (struct held_byte){fd, byte};
    }
    pthread_mutex_unlock(&store_files_mu);
    return free_here;
}

static void drop_byte(int fd, off_t byte)
{
    pthread_mutex_lock(&store_files_mu);
    for (size_t i = 0; i < n_held; i++)
        if (held[i].fd == fd && held[i].byte == byte) {
            held[i] = held[--n_held];
            break;
        }
    pthread_mutex_unlock(&store_files_mu);
}

/* The process's descriptor of the file at path, opened the first time this
 * process locks that file and kept: -1 with errno when it cannot be opened. */
static int store_file_fd(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return -1;
    pthread_mutex_lock(&store_files_mu);
    int fd = -1;
    for (size_t i = 0; i < n_store_files && fd < 0; i++)
        if (store_files[i].dev == sb.st_dev && store_files[i].ino == sb.st_ino)
            fd = store_files[i].fd;
    if (fd < 0) {
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        struct stat opened;
        /* Another file may have been renamed over the path since the stat:
         * keep it under the identity it really has. Never closed either. */
        if (fd >= 0 && fstat(fd, &opened) == 0) {
            store_files = mc_realloc(store_files, (n_store_files + 1) * sizeof *store_files);
            store_files[n_store_files++] = (struct store_file){opened.st_dev, opened.st_ino, fd};
        }
    }
    int e = errno;
    pthread_mutex_unlock(&store_files_mu);
    errno = e;
    return fd;
}

static int identity_lock(const char *store_path, const char *datastore, int *fd_out,
                         mc_error *err)
{
    *fd_out = -1;
    int fd = store_file_fd(store_path);
    if (fd < 0 && errno == ENOENT)
        return 1;
    if (fd < 0) {
        mc_error_set(err, MC_EXIT_STORE, "cannot open store %s to lock it: %s", store_path,
                     strerror(errno));
        mc_error_hint(err, "a crawl writes the store: it must be a file writable by the "
                           "user that crawls");
        return -1;
    }
    struct flock fl = {
        .l_type = F_WRLCK,
        .l_whence = SEEK_SET,
        .l_start = identity_byte(datastore),
        .l_len = 1,
    };
    if (!hold_byte(fd, fl.l_start))
        return 0;   /* this process holds it already, through another path */
    int r;
    while ((r = fcntl(fd, F_OFD_SETLK, &fl)) != 0 && errno == EINTR)
        ;
    if (r != 0) {
        int e = errno;   /* fd stays open: see the top of the file */
        drop_byte(fd, fl.l_start);
        if (e == EAGAIN || e == EACCES)
            return 0;
        mc_error_set(err, MC_EXIT_STORE, "cannot lock store %s: %s", store_path, strerror(e));
        mc_error_hint(err, "the store must be on a local file system that supports "
                           "record locks (fcntl(2))");
        return -1;
    }
    *fd_out = fd;
    return 1;
}

char *crawl_lock_dir(const char *store_path)
{
    return mc_asprintf("%s.locks", store_path);
}

/* Datastore names are [a-z0-9_-]+ (config.c); anything else must not
 * become a path. */
static bool safe_name(const char *name)
{
    if (!name || !*name || name[0] == '.' || name[0] == '/')
        return false;
    size_t slashes = 0;
    for (const char *p = name; *p; p++) {
        slashes += *p == '/';
        if ((unsigned char)*p < 0x20)
            return false;
    }
    /* one '/': a database of a datastore ("<datastore>/<db>", the database
     * part %XX-escaped by cfg_database_datastore_name) */
    return slashes <= 1;
}

/* "<dir>/<datastore>.lock"; a database's datastore "<ds>/<db>" has the
 * file "<ds>@<db>.lock" (no datastore name holds '@'), and a name too long
 * for a file name is cut and ends in its hash. */
static char *lock_path(const char *dir, const char *datastore, const char *suffix)
{
    mc_buf b = {0};
    for (const char *p = datastore; *p && b.len < 180; p++)
        mc_buf_putc(&b, *p == '/' ? '@' : *p);
    if (strlen(datastore) > 180)
        mc_buf_printf(&b, "~%016llx",
                      (unsigned long long)mc_hash_str(MC_HASH_INIT, datastore));
    char *path = mc_asprintf("%s/%s%s", dir, mc_buf_str(&b), suffix);
    mc_buf_free(&b);
    return path;
}

static int make_dir(const char *dir, mc_error *err)
{
    if (mkdir(dir, 0700) == 0)
        return 0;
    int e = errno;
    struct stat sb;
    if (e == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
        return 0;
    if (e == EEXIST) {
        mc_error_set(err, MC_EXIT_STORE, "cannot use lock directory %s: it is not a directory",
                     dir);
        mc_error_hint(err, "remove or rename it; metacrawl keeps its crawl locks there");
        return -1;
    }
    mc_error_set(err, MC_EXIT_STORE, "cannot create lock directory %s: %s", dir, strerror(e));
    mc_error_hint(err, "the directory of the store must be writable by the user that "
                       "crawls (locks and schedule records live next to the store)");
    return -1;
}

static void read_holder(int fd, crawl_lock_holder *h)
{
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp(line, "pid") == 0)
            h->pid = strtol(v, NULL, 10);
        else if (strcmp(line, "since") == 0)
            h->since = strtoll(v, NULL, 10);
        else if (strcmp(line, "command") == 0)
            snprintf(h->command, sizeof h->command, "%s", v);
        else if (strcmp(line, "host") == 0)
            snprintf(h->host, sizeof h->host, "%s", v);
    }
}

static void write_holder(int fd, const char *command)
{
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    char rec[256];
    int n = snprintf(rec, sizeof rec, "pid=%ld\nsince=%lld\ncommand=%s\nhost=%s\n",
                     (long)getpid(), (long long)mc_time_now(), command ? command : "",
                     host);
    /* Best effort: the record only serves messages. */
    if (ftruncate(fd, 0) == 0 && n > 0)
        (void)!pwrite(fd, rec, (size_t)n, 0);
}

int crawl_lock_try(const char *store_path, const char *datastore,
                   const char *command, crawl_lock **out,
                   crawl_lock_holder *holder_out, mc_error *err)
{
    *out = NULL;
    if (holder_out)
        memset(holder_out, 0, sizeof *holder_out);
    if (!store_path || !*store_path)
        return mc_error_set(err, MC_EXIT_STORE, "crawl lock: no store path");
    if (!safe_name(datastore))
        return mc_error_set(err, MC_EXIT_STORE, "crawl lock: bad datastore name '%s'",
                            datastore ? datastore : "");
    char *dir = crawl_lock_dir(store_path);
    char *path = lock_path(dir, datastore, ".lock");
    int rc = -1, fd = -1;
    if (make_dir(dir, err) != 0)
        goto out;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        mc_error_set(err, MC_EXIT_STORE, "cannot open lock file %s: %s", path, strerror(errno));
        mc_error_hint(err, "the lock directory must be writable by the user that crawls");
        goto out;
    }
    int r;
    while ((r = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
        ;
    if (r != 0) {
        if (errno == EWOULDBLOCK) {
            if (holder_out)
                read_holder(fd, holder_out);
            rc = 0;
            goto out;
        }
        mc_error_set(err, MC_EXIT_STORE, "cannot lock %s: %s", path, strerror(errno));
        mc_error_hint(err, "the lock file must be on a local file system that supports "
                           "flock(2)");
        goto out;
    }
    /* Under the path lock, the identity lock: a crawl that reached the
     * same store file by another path holds it. */
    int store_fd = -1;
    int got = identity_lock(store_path, datastore, &store_fd, err);
    if (got < 0)
        goto out;
    if (got == 0) {
        if (holder_out)
            holder_out->other_path = true;
        rc = 0;
        goto out;
    }
    write_holder(fd, command);
    crawl_lock *l = mc_malloc(sizeof *l);
    l->fd = fd;
    l->store_fd = store_fd;
    l->datastore = mc_strdup(datastore);
    fd = -1;
    *out = l;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(path);
    free(dir);
    return rc;
}

bool crawl_lock_peek(const char *store_path, const char *datastore,
                     crawl_lock_holder *holder_out)
{
    crawl_lock_holder h = {0};
    if (holder_out)
        memset(holder_out, 0, sizeof *holder_out);
    if (!store_path || !safe_name(datastore))
        return false;
    char *dir = crawl_lock_dir(store_path);
    char *path = lock_path(dir, datastore, ".lock");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(path);
    free(dir);
    if (fd < 0)
        return false;
    read_holder(fd, &h);
    close(fd);
    if (!h.pid)
        return false; /* released locks are emptied */
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    /* Another host's process cannot be checked; one of ours can. */
    bool live = strcmp(h.host, host) != 0 || kill((pid_t)h.pid, 0) == 0 || errno == EPERM;
    if (live && holder_out)
        *holder_out = h;
    return live;
}

void crawl_lock_release(crawl_lock *l)
{
    if (!l)
        return;
    /* The record would be stale: a reader finding the lock free ignores it,
     * but a clean file is easier on the eyes of someone looking. */
    if (ftruncate(l->fd, 0) != 0) {
        /* nothing to do: the record is informative */
    }
    close(l->fd); /* drops the flock */
    if (l->store_fd >= 0) {
        /* unlock the byte; never close the store file (top of the file) */
        struct flock fl = {
            .l_type = F_UNLCK,
            .l_whence = SEEK_SET,
            .l_start = identity_byte(l->datastore),
            .l_len = 1,
        };
        while (fcntl(l->store_fd, F_OFD_SETLK, &fl) != 0 && errno == EINTR)
            ;
        drop_byte(l->store_fd, fl.l_start);
    }
    free(l->datastore);
    free(l);
}

void crawl_lock_describe(const crawl_lock_holder *h, char *buf, size_t size)
{
    if (h && h->other_path) {
        snprintf(buf, size, "another crawl that reached this store by another path "
                            "(a symlink, hard link or bind mount)");
        return;
    }
    if (!h || !h->pid) {
        snprintf(buf, size, "another crawl");
        return;
    }
    char since[21] = "";
    if (h->since)
        mc_time_iso(h->since, since);
    snprintf(buf, size, "pid %ld (%s%s%s%s%s)", h->pid, h->command[0] ? h->command : "crawl",
             h->host[0] ? " on " : "", h->host, since[0] ? ", since " : "", since);
}
