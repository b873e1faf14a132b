/*
 * mc_base.c — errors, logging, allocation, buffers, the arena, secrets,
 * hashing, globs and clocks shared by every module.  No dependencies beyond
 * libc.
 */
#include "mc_base.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

int mc_error_set(mc_error *err, int code, const char *fmt, ...)
{
    if (!err || err->code != 0)
        return -1;
    err->code = code ? code : 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->hint[0] = '\0';
    return -1;
}

void mc_error_hint(mc_error *err, const char *fmt, ...)
{
    if (!err || err->code == 0 || err->hint[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->hint, sizeof err->hint, fmt, ap);
    va_end(ap);
}

void mc_error_clear(mc_error *err)
{
    if (!err)
        return;
    err->code = 0;
    err->message[0] = '\0';
    err->hint[0] = '\0';
}

/* ---- progress ---------------------------------------------------------------- */

bool mc_progress_enabled;
static struct {
    bool active, drawn;
    char name[64], phase[160], what[64];
    unsigned long rows;
    double t0, last;
} prog;

static void progress_clear(void)
{
    if (prog.drawn)
        fputs("\r\033[K", stderr);
    prog.drawn = false;
}

static void progress_draw(bool force)
{
    if (!prog.active)
        return;
    double now = mc_monotonic();
    if (now - prog.t0 < 1.0 || (!force && now - prog.last < 0.1))
        return;
    prog.last = now;
    if (prog.what[0])
        fprintf(stderr, "\r\033[K%s: %s (%s): %lu rows", prog.name, prog.phase, prog.what,
                prog.rows);
    else
        fprintf(stderr, "\r\033[K%s: %s", prog.name, prog.phase);
    fflush(stderr);
    prog.drawn = true;
}

void mc_progress_start(const char *name)
{
    memset(&prog, 0, sizeof prog);
    if (!mc_progress_enabled)
        return;
    prog.active = true;
    snprintf(prog.name, sizeof prog.name, "%s", name ? name : "");
    prog.t0 = mc_monotonic();
}

void mc_progress_phase(const char *fmt, ...)
{
    if (!prog.active)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prog.phase, sizeof prog.phase, fmt, ap);
    va_end(ap);
    prog.what[0] = '\0';
    prog.rows = 0;
    progress_draw(true);
}

void mc_progress_row(const char *what)
{
    if (!prog.active)
        return;
    if (strcmp(prog.what, what) != 0) {
        snprintf(prog.what, sizeof prog.what, "%s", what);
        prog.rows = 0;
    }
    prog.rows++;
    progress_draw(false);
}

void mc_progress_done(void)
{
    progress_clear();
    prog.active = false;
}

int mc_log_threshold = MC_LOG_WARN;
int mc_log_style = MC_LOG_PLAIN;

void mc_log_write(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    static const int prio[] = {3, 4, 6, 7}; /* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
    int lv = level < 0 ? 0 : level > 3 ? 3 : level;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    /* Messages carry names from the warehouse: what could drive a terminal
     * (C1 controls, bidi overrides, invisible characters) is escaped. */
    mc_buf safe = {0};
    mc_term_escape(&safe, line);
    const char *text = mc_buf_str(&safe);
    progress_clear(); /* redrawn by the next step */
    /* One write per line, so concurrent crawls do not interleave mid-line. */
    if (mc_log_style == MC_LOG_JOURNAL) {
        fprintf(stderr, "<%d>%s\n", prio[lv], text);
    } else if (mc_log_style == MC_LOG_TIMESTAMPED) {
        char ts[21];
        mc_time_iso(mc_time_now(), ts);
        fprintf(stderr, "%s metacrawl: %s: %s\n", ts, names[lv], text);
    } else {
        fprintf(stderr, "metacrawl: %s: %s\n", names[lv], text);
    }
    mc_buf_free(&safe);
}

static void out_of_memory(size_t n)
{
    fprintf(stderr, "metacrawl: out of memory (allocating %zu bytes)\n", n);
    abort();
}

void *mc_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *mc_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size);
    return p;
}

void *mc_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}

char *mc_strdup(const char *s)
{
    return s ? mc_strndup(s, strlen(s)) : NULL;
}

char *mc_strndup(const char *s, size_t n)
{
    char *p = mc_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *mc_asprintf(const char *fmt, ...)
{
    mc_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return mc_strdup("");
    if ((size_t)n < sizeof small)
        return mc_strdup(small);
    b.cap = (size_t)n + 1;
    b.data = mc_malloc(b.cap);
    va_start(ap, fmt);
    vsnprintf(b.data, b.cap, fmt, ap);
    va_end(ap);
    return b.data;
}

/* ---- mc_buf -------------------------------------------------------------- */

static void buf_reserve(mc_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = mc_realloc(b->data, cap);
    b->cap = cap;
}

void mc_buf_append(mc_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void mc_buf_puts(mc_buf *b, const char *s)
{
    mc_buf_append(b, s, strlen(s));
}

void mc_buf_putc(mc_buf *b, char c)
{
    mc_buf_append(b, &c, 1);
}

void mc_buf_printf(mc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *mc_buf_str(mc_buf *b)
{
    return b->data ? b->data : "";
}

char *mc_buf_steal(mc_buf *b)
{
    char *p = b->data ? b->data : mc_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void mc_buf_reset(mc_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void mc_buf_free(mc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- arena ---------------------------------------------------------------- */

/* Blocks of 64 KiB (or one block the size of a larger request), chained. */
struct arena_block {
    struct arena_block *next;
    size_t used, size;
    _Alignas(8) unsigned char data[];
};

struct mc_arena {
    struct arena_block *head;
    size_t total;
};

mc_arena *mc_arena_new(void)
{
    return mc_calloc(1, sizeof(mc_arena));
}

void mc_arena_free(mc_arena *a)
{
    if (!a)
        return;
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *mc_arena_alloc(mc_arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    struct arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        /* A large request gets a block of exactly its size, kept behind the
         * head: the head's free space stays in use and nothing is wasted. */
        size_t size = n > 4096 ? n : 65536 - sizeof *b;
        b = mc_malloc(sizeof *b + size);
        b->used = 0;
        b->size = size;
        if (a->head && n > 4096) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
        a->total += sizeof *b + size;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

const char *mc_arena_strndup(mc_arena *a, const char *s, size_t n)
{
    char *p = mc_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

const char *mc_arena_strdup(mc_arena *a, const char *s)
{
    return s ? mc_arena_strndup(a, s, strlen(s)) : NULL;
}

size_t mc_arena_bytes(const mc_arena *a)
{
    return a ? a->total : 0;
}

/* ---- secrets -------------------------------------------------------------- */

void mc_secret_guard_process(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    /* No core file, and no dump by the kernel's core_pattern helper or a
     * same-user ptrace: a crash while a password is in memory (ours or
     * libpq's copy) must not write it to disk.  For the rest of the
     * process's life: libpq keeps its copy as long as the connection. */
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        mc_log(MC_LOG_DEBUG, "cannot disable core dumps: %s", strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        mc_log(MC_LOG_DEBUG, "cannot make the process non-dumpable: %s", strerror(errno));
}

void mc_secret_set(mc_secret *s, const char *value, size_t len)
{
    mc_secret_guard_process();
    mc_secret_wipe(s);
    s->value = mc_malloc(len + 1);
    memcpy(s->value, value, len);
    s->value[len] = '\0';
    s->len = len;
}

void mc_secret_wipe(mc_secret *s)
{
    if (!s || !s->value)
        return;
    explicit_bzero(s->value, s->len + 1);
    free(s->value);
    s->value = NULL;
    s->len = 0;
}

/* ---- hashing -------------------------------------------------------------- */

void mc_buf_put_sql_ident(mc_buf *b, const char *name)
{
    mc_buf_putc(b, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            mc_buf_putc(b, '"');
        mc_buf_putc(b, *p);
    }
    mc_buf_putc(b, '"');
}

const char *mc_sql_skip_blank(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            int depth = 1;
            p += 2;
            while (*p && depth > 0) {
                if (p[0] == '/' && p[1] == '*')
                    depth++, p += 2;
                else if (p[0] == '*' && p[1] == '/')
                    depth--, p += 2;
                else
                    p++;
            }
        } else {
            return p;
        }
    }
}

uint64_t mc_hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

uint64_t mc_hash_str(uint64_t h, const char *s)
{
    if (!s) {
        static const unsigned char null_mark[2] = {0xff, 0x00};
        return mc_hash_bytes(h, null_mark, sizeof null_mark);
    }
    return mc_hash_bytes(h, s, strlen(s) + 1);
}

/* ---- UTF-8 ---------------------------------------------------------------- */

void mc_xml_escape(mc_buf *b, const char *s, unsigned flags)
{
    if (!s)
        return;
    const unsigned char *p = (const unsigned char *)s, *run = p;
    while (*p) {
        unsigned char c = *p;
        const char *esc = NULL;
        char tmp[8];
        size_t n = 1;
        switch (c) {
        case '&': esc = "&amp;"; break;
        case '<': esc = "&lt;"; break;
        case '>': esc = "&gt;"; break;
        case '"': esc = "&quot;"; break;
        case '\'': esc = "&#39;"; break;
        case '\\':
            if (flags & MC_XML_DOUBLE_BACKSLASH)
                esc = "\\\\";
            break;
        case '\t':
        case '\n':
        case '\r':
            if (flags & MC_XML_KEEP_WHITESPACE)
                break;
            /* fall through */
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(tmp, sizeof tmp, "\\x%02x", c);
                esc = tmp;
            } else if (c >= 0x80) {
                uint32_t cp;
                n = mc_utf8_decode(p, &cp);
                if (n == 0 || cp == 0xfffe || cp == 0xffff) {
                    esc = "\xef\xbf\xbd"; /* U+FFFD */
                    if (n == 0)
                        n = 1;
                }
            }
        }
        if (esc) {
            mc_buf_append(b, (const char *)run, (size_t)(p - run));
            mc_buf_puts(b, esc);
            p += n;
            run = p;
        } else {
            p += n;
        }
    }
    mc_buf_append(b, (const char *)run, (size_t)(p - run));
}

size_t mc_utf8_decode(const unsigned char *p, uint32_t *cp_out)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp_out = c;
        return 1;
    }
    size_t n;
    uint32_t min, cp;
    if ((c & 0xe0) == 0xc0)
        n = 2, min = 0x80, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        n = 3, min = 0x800, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        n = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *cp_out = cp;
    return n;
}

/* ---- terminal safety -------------------------------------------------------- */

bool mc_term_unsafe(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xad || cp == 0x61c ||
           cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2064) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb);
}

size_t mc_term_escape(mc_buf *out, const char *s)
{
    size_t cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; p && *p;) {
        uint32_t cp = 0;
        size_t n = mc_utf8_decode(p, &cp);
        if (n == 0) { /* not UTF-8: a lone 0x9b is a CSI on 8-bit terminals */
            mc_buf_printf(out, "\\x%02x", *p);
            cols += 4;
            p++;
            continue;
        }
        if (mc_term_unsafe(cp)) {
            if (cp < 0x80) {
                mc_buf_printf(out, "\\x%02x", (unsigned)cp);
                cols += 4;
            } else {
                mc_buf_printf(out, "\\u%04x", (unsigned)cp);
                cols += 6;
            }
        } else {
            mc_buf_append(out, (const char *)p, n);
            cols++;
        }
        p += n;
    }
    return cols;
}

/* ---- globs ---------------------------------------------------------------- */

const char *mc_glob_problem(const char *p)
{
    if (!p || !*p)
        return "empty pattern";
    for (; *p; p++) {
        if (*p == '\\') {
            if (!p[1])
                return "pattern ends with a lone backslash";
            p++;
        } else if (*p == '[') {
            const char *q = p + 1;
            if (*q == '!' || *q == '^')
                q++;
            if (*q == ']')
                q++;
            while (*q && *q != ']')
                q++;
            if (!*q)
                return "'[' without a closing ']'";
            p = q;
        }
    }
    return NULL;
}

/* Matches a bracket expression at p against c; sets *end past the ']'. */
static bool glob_class(const char *p, unsigned char c, const char **end)
{
    bool negate = false, hit = false;
    if (*p == '!' || *p == '^') {
        negate = true;
        p++;
    }
    bool first = true;
    while (*p && (first || *p != ']')) {
        first = false;
        unsigned char lo = (unsigned char)*p, hi = lo;
        if (p[1] == '-' && p[2] && p[2] != ']') {
            hi = (unsigned char)p[2];
            p += 3;
        } else {
            p++;
        }
        if (c >= lo && c <= hi)
            hit = true;
    }
    *end = *p ? p + 1 : p;
    return hit != negate;
}

bool mc_glob_match(const char *p, const char *s)
{
    /* Iterative matcher with one backtrack point for the last '*': linear
     * in practice and no recursion on hostile patterns. */
    const char *star_p = NULL, *star_s = NULL;
    while (*s) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (!*p)
                return true;
            star_p = p;
            star_s = s;
            continue;
        }
        if (*p == '?') {
            p++;
            s++;
            continue;
        }
        if (*p == '[') {
            const char *end;
            if (glob_class(p + 1, (unsigned char)*s, &end)) {
                p = end;
                s++;
                continue;
            }
        } else {
            const char *lit = p;
            if (*lit == '\\' && lit[1])
                lit++;
            if (*lit && *lit == *s) {
                p = lit + 1;
                s++;
                continue;
            }
        }
        if (!star_p)
            return false;
        p = star_p;
        s = ++star_s;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* OpenSSH's match_pattern over a bounded slice, with mc_glob_match's one
 * backtrack point instead of its recursion (the same answers: with only *
 * and ?, retrying from the last star is enough). */
static bool glob_ssh(const char *p, const char *end, const char *s)
{
    const char *star_p = NULL, *star_s = NULL;
    while (*s) {
        if (p < end && *p == '*') {
            while (p < end && *p == '*')
                p++;
            if (p == end)
                return true;
            star_p = p;
            star_s = s;
            continue;
        }
        if (p < end && (*p == '?' || (*p && tolower((unsigned char)*p) ==
                                                tolower((unsigned char)*s)))) {
            p++;
            s++;
            continue;
        }
        if (!star_p)
            return false;
        p = star_p;
        s = ++star_s;
    }
    while (p < end && *p == '*')
        p++;
    return p == end;
}

bool mc_glob_match_n(const char *pattern, size_t n_pattern, const char *name, unsigned flags)
{
    if (flags & MC_GLOB_SSH)
        return glob_ssh(pattern, pattern + n_pattern, name);
    char *copy = mc_strndup(pattern, n_pattern);
    bool hit = mc_glob_match(copy, name);
    free(copy);
    return hit;
}

/* ---- clocks --------------------------------------------------------------- */

void mc_time_iso(int64_t t, char buf[21])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    /* %Y does not pad years before 1000.  The fields are in range, so the
     * text is 20 bytes; the wider buffer only quiets -Wformat-truncation. */
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02dZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(buf, tmp, 20);
    buf[20] = '\0';
}

int64_t mc_time_now(void)
{
    return (int64_t)time(NULL);
}

double mc_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
