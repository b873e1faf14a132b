/*
 * mc_base.h — the foundation every metacrawl module includes: the error
 * object, exit codes, logging, secrets, growable strings and the arena that
 * catalog strings live in.  It depends on nothing but libc, so tunnel/ and
 * store/ may include it without depending on the rest of crawler/.
 */
#ifndef MC_BASE_H
#define MC_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes of SPEC §2.  Only main() turns an mc_error into one of these. */
enum mc_exit {
    MC_EXIT_OK = 0,
    MC_EXIT_CHANGES = 1,   /* changes found, only with --exit-code */
    MC_EXIT_USAGE = 2,
    MC_EXIT_CONFIG = 3,
    MC_EXIT_CONNECT = 4,   /* network, tunnel, host key */
    MC_EXIT_AUTH = 5,      /* authentication or permission */
    MC_EXIT_STORE = 6,
    MC_EXIT_PARTIAL = 7,   /* some schemas could not be read */
};

/*
 * An error: the exit code it maps to, a one-line lower-case message and a
 * hint that says what the user can do next.  The first error set wins:
 * later mc_error_set calls on an error that is already set do nothing, so
 * the root cause survives the unwinding.
 */
typedef struct mc_error {
    int code;            /* enum mc_exit; 0 = no error */
    char message[512];
    char hint[512];
} mc_error;

#define MC_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Sets code and message (printf-style) unless err is NULL or already set.
 * Always returns -1, so "return mc_error_set(...)" reads naturally. */
int mc_error_set(mc_error *err, int code, const char *fmt, ...) MC_PRINTF(3, 4);
/* Sets the hint of an error that is set and has none yet. */
void mc_error_hint(mc_error *err, const char *fmt, ...) MC_PRINTF(2, 3);
void mc_error_clear(mc_error *err);
static inline bool mc_error_is_set(const mc_error *err) { return err && err->code != 0; }

/* Logging: one line per message on stderr.  The level is checked before
 * anything is formatted. */
enum mc_log_level { MC_LOG_ERROR = 0, MC_LOG_WARN = 1, MC_LOG_INFO = 2, MC_LOG_DEBUG = 3 };
extern int mc_log_threshold; /* default MC_LOG_WARN; -q lowers, -v raises */
/* How a line looks: "metacrawl: LEVEL: message" for commands; with a UTC
 * timestamp first for a long-running process on a plain stderr; or with a
 * journald priority "<N>" first when stderr is the journal.  Control
 * characters become spaces in every style: one message, one line. */
enum mc_log_style { MC_LOG_PLAIN = 0, MC_LOG_TIMESTAMPED, MC_LOG_JOURNAL };
extern int mc_log_style;
void mc_log_write(int level, const char *fmt, ...) MC_PRINTF(2, 3);
#define mc_log(level, ...)                                                     \
    do {                                                                       \
        if ((level) <= mc_log_threshold) mc_log_write((level), __VA_ARGS__);   \
    } while (0)

/* Allocation that never returns NULL (it aborts with a message instead:
 * a crawler that runs out of memory cannot do anything useful). */
void *mc_malloc(size_t n);
void *mc_calloc(size_t n, size_t size);
void *mc_realloc(void *p, size_t n);
char *mc_strdup(const char *s);          /* NULL -> NULL */
char *mc_strndup(const char *s, size_t n);
char *mc_asprintf(const char *fmt, ...) MC_PRINTF(1, 2);

/* A growable NUL-terminated string. */
typedef struct mc_buf {
    char *data;  /* NULL until the first append */
    size_t len, cap;
} mc_buf;
void mc_buf_append(mc_buf *b, const char *s, size_t n);
void mc_buf_puts(mc_buf *b, const char *s);
void mc_buf_putc(mc_buf *b, char c);
void mc_buf_printf(mc_buf *b, const char *fmt, ...) MC_PRINTF(2, 3);
const char *mc_buf_str(mc_buf *b);       /* "" when empty, never NULL */
char *mc_buf_steal(mc_buf *b);           /* caller frees; buffer reset */
void mc_buf_reset(mc_buf *b);
void mc_buf_free(mc_buf *b);

/* An arena: strings and small objects that live exactly as long as the
 * catalog that owns them.  mc_arena_free releases everything at once. */
typedef struct mc_arena mc_arena;
mc_arena *mc_arena_new(void);
void mc_arena_free(mc_arena *a);          /* NULL is a no-op */
void *mc_arena_alloc(mc_arena *a, size_t n);  /* 8-byte aligned, zeroed */
const char *mc_arena_strdup(mc_arena *a, const char *s);  /* NULL -> NULL */
const char *mc_arena_strndup(mc_arena *a, const char *s, size_t n);
size_t mc_arena_bytes(const mc_arena *a);

/*
 * A secret (password, passphrase).  Held in one place, wiped with
 * explicit_bzero when freed, and never formatted into a log line or error:
 * code that must mention one writes MC_REDACTED instead.
 */
#define MC_REDACTED "[redacted]"
typedef struct mc_secret {
    char *value;  /* NUL-terminated; NULL = none */
    size_t len;
} mc_secret;
void mc_secret_set(mc_secret *s, const char *value, size_t len);
/* From the first secret on, the process writes no core file and cannot be
 * dumped (RLIMIT_CORE 0, PR_SET_DUMPABLE 0); mc_secret_set calls it, and so
 * does whoever reads a secret before it becomes an mc_secret. */
void mc_secret_guard_process(void);
void mc_secret_wipe(mc_secret *s);       /* zeroes and frees; safe twice */

/* "name" with embedded double quotes doubled: an SQL identifier, quoted.
 * Control characters are the caller's business (grants_quote_ident). */
void mc_buf_put_sql_ident(mc_buf *b, const char *name);

/* p past any white space and SQL comments (-- to the end of the line, nested
 * block comments); the one SQL comment skipper of the tree. */
const char *mc_sql_skip_blank(const char *p);

/* 64-bit FNV-1a, used to fingerprint a container's definition. */
#define MC_HASH_INIT UINT64_C(0xcbf29ce484222325)
uint64_t mc_hash_bytes(uint64_t h, const void *p, size_t n);
/* Hashes a string and its terminator, so ("ab","c") != ("a","bc");
 * NULL hashes differently from "". */
uint64_t mc_hash_str(uint64_t h, const char *s);

/* Decodes the UTF-8 sequence at p: its length (1..4) with the code point in
 * *cp_out, or 0 when it is not valid UTF-8 (overlong, surrogate, beyond
 * U+10FFFF, truncated).  Strings from the warehouse may be anything. */
size_t mc_utf8_decode(const unsigned char *p, uint32_t *cp_out);

/* Whether a code point must not reach a terminal raw: C0 and C1 controls
 * and DEL (U+0080-U+009F includes U+009B, an 8-bit CSI), bidirectional
 * marks, embeddings, overrides and isolates (U+061C, U+200E/F,
 * U+202A-U+202E, U+2066-U+2069), zero-width and invisible formatting
 * characters (U+00AD, U+180E, U+200B-U+200D, U+2060-U+2064, U+FEFF,
 * U+FFF9-U+FFFB) and the line and paragraph separators U+2028/U+2029. */
bool mc_term_unsafe(uint32_t cp);
/*
 * Appends s to out as it may be shown on a terminal: what mc_term_unsafe
 * says as \xNN (below U+0080) or \uNNNN, bytes that are not UTF-8 as
 * \xNN, the rest as it is.  Returns the columns the text takes, counting
 * one per code point (for aligning columns).  NULL appends nothing.
 */
size_t mc_term_escape(mc_buf *out, const char *s);

/*
 * Appends s as XML (and HTML) text or attribute value: & < > " ' as
 * entities, bytes that are not UTF-8 and U+FFFE/U+FFFF as U+FFFD, every
 * other control character (which XML 1.0 cannot carry) as the visible text
 * \xNN.  MC_XML_KEEP_WHITESPACE writes tab, LF and CR as they are;
 * MC_XML_DOUBLE_BACKSLASH writes \ as \\ (Graphviz labels, which read
 * \N, \G ... as escapes).  NULL appends nothing.
 */
enum { MC_XML_KEEP_WHITESPACE = 1, MC_XML_DOUBLE_BACKSLASH = 2 };
void mc_xml_escape(mc_buf *b, const char *s, unsigned flags);

/* fnmatch-style glob over the whole name: * ? [...] and backslash escape. */
bool mc_glob_match(const char *pattern, const char *name);
/* NULL when the pattern is well formed, else what is wrong with it. */
const char *mc_glob_problem(const char *pattern);
/*
 * The same over the first n_pattern bytes of pattern (a slice of a longer
 * line).  flags 0: mc_glob_match's rules (the slice ends at a NUL).
 * MC_GLOB_SSH: OpenSSH's host patterns (match_pattern, known_hosts):
 * only * (any run, also empty) and ? (any one byte), every other byte
 * literal and compared case-insensitively (tolower, as OpenSSH and
 * tunnel's glob_ci do: ASCII in the C and UTF-8 locales); no brackets,
 * no escapes.
 * A NUL inside the slice matches nothing.
 */
#define MC_GLOB_SSH 1u
bool mc_glob_match_n(const char *pattern, size_t n_pattern, const char *name, unsigned flags);

/*
 * Progress of a long crawl on a terminal: one line on stderr, redrawn in
 * place, shown only once a crawl has taken a second and only while
 * mc_progress_enabled (the crawl command sets it when stderr is a terminal
 * and -q is not given).  Not thread-safe: only the single-threaded commands
 * enable it.  Log lines clear it first.
 */
extern bool mc_progress_enabled;
void mc_progress_start(const char *name);          /* a datastore's crawl */
void mc_progress_phase(const char *fmt, ...) MC_PRINTF(1, 2);
void mc_progress_row(const char *what);            /* one catalog row read */
void mc_progress_done(void);                        /* clears the line */

/* Wall clock, UTC, as ISO-8601 "2026-11-21T16:06:42Z" into buf[21]. */
void mc_time_iso(int64_t unix_seconds, char buf[21]);
int64_t mc_time_now(void);
double mc_monotonic(void); /* seconds */

#endif
