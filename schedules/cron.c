/*
 * cron.c — the cron engine: parses five-field cron expressions and macros,
 * reads IANA zones from TZif files (and POSIX TZ rule strings, which TZif
 * files carry for times after their last transition), and computes the next
 * fire time of an expression in a zone.
 *
 * Time zones are parsed here rather than through setenv("TZ")/localtime()
 * because the scheduler runs many datastores, each in its own zone, on
 * several threads: TZ is process-global state and glibc silently reads an
 * unknown zone as UTC, which would be a config error hidden as a wrong
 * schedule.
 *
 * The DST behaviour is cronie's, derived from its main loop (cron.c, the
 * "wakeupKind" switch) and find_jobs(); docs/scheduling.md has the rule in
 * prose.  cron_next() does not search wall-clock times and convert them: it
 * replays what a cronie daemon, woken at every local minute, would do.
 * Invariants of that replay:
 *
 *  1. A wake is an instant t on a local minute boundary; L(t) = t + offset(t)
 *     is the local minute it shows (seconds since 1970-01-01 "as if UTC").
 *  2. H is cronie's virtualTime: the last local minute all jobs were checked
 *     for.  The daemon is "steady" at a wake t when H == L(t).
 *  3. While steady and no offset change is near, a job fires exactly at the
 *     local minutes that match it, so those stretches are searched on the
 *     calendar instead of minute by minute (search_local).
 *  4. Around an offset change, each wake is stepped by the rules below
 *     (d = (L(t) - H) / 60, in minutes); a wake showing the same local
 *     minute as the previous one does nothing:
 *
 *        d == 1           normal: all jobs matching L(t)           H = L(t)
 *        2 <= d <= 5      small:  all jobs matching any of H+1..L(t)  H = L(t)
 *        6 <= d <= 180    medium: wildcard jobs matching L(t), fixed-time
 *                         jobs matching any of H+1..L(t)          H = L(t)
 *        -180 <= d <= 0   negative: wildcard jobs matching L(t)   H unchanged
 *        otherwise        large: all jobs matching L(t)           H = L(t)
 *
 *  5. Once no offset change happened for 4 hours, the daemon is steady again
 *     (a negative stretch lasts at most 181 minutes), which is how cron_next
 *     finds a known state before after_utc without replaying history.
 */
#include "cron.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Calendar arithmetic on the proleptic Gregorian calendar.            */
/* ------------------------------------------------------------------ */

#define SECS_PER_DAY INT64_C(86400)
/* 400 Gregorian years are exactly 146097 days, so "400 years from now" is
 * the same span wherever it starts. */
#define CRON_HORIZON (INT64_C(146097) * SECS_PER_DAY)
/* A negative wake stretch lasts at most 181 minutes (invariant 5). */
#define STEADY_AFTER (INT64_C(4) * 3600)

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a civil date, and back: the era-based
 * algorithms published by Howard Hinnant ("chrono-compatible low-level date
 * algorithms"), valid for any year that fits. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                         /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y_out, int *m_out, int *d_out)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *d_out = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m_out = m;
    *y_out = yoe + era * 400 + (m <= 2);
}

static int weekday_of_days(int64_t days)
{
    return (int)floor_mod(days + 4, 7);   /* 1970-01-01 was a Thursday */
}

static int64_t year_of(int64_t t)
{
    int64_t y;
    int m, d;
    civil_from_days(floor_div(t, SECS_PER_DAY), &y, &m, &d);
    return y;
}

/* ------------------------------------------------------------------ */
/* Expressions.                                                        */
/* ------------------------------------------------------------------ */

/* cronie's entry flags: a field "is a star" when its text starts with '*'
 * (so "*" and "*\/2" are, "0-59" and "1-31" are not). */
enum {
    STAR_MIN = 1 << 0,
    STAR_HOUR = 1 << 1,
    STAR_DOM = 1 << 2,
    STAR_DOW = 1 << 3,
};

struct cron_expr {
    uint64_t minutes;   /* bit n = minute n */
    uint32_t hours;     /* bit n = hour n */
    uint32_t doms;      /* bit n = day n, 1-31 */
    uint32_t months;    /* bit n = month n, 1-12 */
    uint32_t dows;      /* bit n = weekday n, 0-6, Sunday 0 (7 folded in) */
    unsigned flags;
    char *text;
};

enum field_id { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, N_FIELDS };

static const char *const month_names[] = {
    "jan", "feb", "mar", "apr", "may", "jun",
    "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {
    "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field_spec {
    const char *name;
    int lo, hi;                  /* values accepted; day-of-week takes 7 too */
    int max_step;                /* the number of distinct values */
    const char *const *names;    /* 3-letter names, or NULL */
    int first_named;             /* value of names[0] */
    const char *takes;           /* for messages */
} field_specs[N_FIELDS] = {
    {"minute", 0, 59, 60, NULL, 0, "0-59"},
    {"hour", 0, 23, 24, NULL, 0, "0-23"},
    {"day-of-month", 1, 31, 31, NULL, 0, "1-31"},
    {"month", 1, 12, 12, month_names, 1, "1-12 or jan-dec"},
    {"day-of-week", 0, 7, 7, dow_names, 0, "0-7 (0 and 7 are sunday) or sun-sat"},
};

static const char *const full_month_names[] = {
    "january", "february", "march", "april", "may", "june", "july",
    "august", "september", "october", "november", "december", NULL};
static const char *const full_dow_names[] = {
    "sunday", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", NULL};

struct parser {
    const char *text;
    mc_error *err;
    int column;      /* of the first error; 0 = none */
};

static bool is_blank(char c) { return c == ' ' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static char to_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The expression as it is quoted in messages: one line, printable, short. */
static void quote_text(const char *text, char *buf, size_t size)
{
    size_t n = 0, i = 0;
    for (; text[i] != '\0' && n + 4 < size && i < 60; i++) {
        unsigned char c = (unsigned char)text[i];
        buf[n++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    if (text[i] != '\0' && n + 4 < size) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
}

/* A token of the expression quoted in messages. */
static void quote_span(const char *s, size_t len, char *buf, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"') {
            buf[n++] = (char)c;
        } else {
            if (n + 8 >= size)
                break;
            n += (size_t)snprintf(buf + n, size - n, "\\x%02x", c);
        }
    }
    buf[n] = '\0';
}

static int parse_fail(struct parser *ps, const char *at, const char *fmt, ...)
    MC_PRINTF(3, 4);

static int parse_fail(struct parser *ps, const char *at, const char *fmt, ...)
{
    if (ps->column == 0)
        ps->column = (int)(at - ps->text) + 1;
    char what[256], shown[80];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    quote_text(ps->text, shown, sizeof shown);
    mc_error_set(ps->err, MC_EXIT_CONFIG, "cron expression \"%s\": column %d: %s",
                 shown, ps->column, what);
    mc_error_hint(ps->err,
                  "five fields: minute hour day-of-month month day-of-week, "
                  "or @hourly, @daily, @weekly, @monthly, @yearly; "
                  "see docs/scheduling.md");
    return -1;
}

static int find_name(const char *const *names, const char *word)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], word) == 0)
            return i;
    return -1;
}

/* Explains a word that is not a name this field takes. */
static int bad_name(struct parser *ps, const struct field_spec *f,
                    enum field_id id, const char *at, const char *word,
                    size_t len)
{
    char shown[64];
    quote_span(at, len, shown, sizeof shown);
    if (strcmp(word, "l") == 0 || strcmp(word, "w") == 0 || strcmp(word, "lw") == 0)
        return parse_fail(ps, at, "\"%s\" is Quartz syntax, not cron; "
                          "it is not supported", shown);
    if (id == F_MONTH && find_name(dow_names, word) >= 0)
        return parse_fail(ps, at, "\"%s\" is a day-of-week name; the month "
                          "field takes %s", shown, f->takes);
    if (id == F_DOW && find_name(month_names, word) >= 0)
        return parse_fail(ps, at, "\"%s\" is a month name; the day-of-week "
                          "field takes %s", shown, f->takes);
    if (!f->names)
        return parse_fail(ps, at, "names such as \"%s\" are not allowed in the "
                          "%s field, which takes %s", shown, f->name, f->takes);
    const char *const *full = id == F_MONTH ? full_month_names : full_dow_names;
    if (len > 3) {
        /* "monday", "tues", "january": point at the 3-letter form. */
        char three[4] = {word[0], word[1], word[2], '\0'};
        int i = find_name(f->names, three);
        if (i >= 0 || find_name(full, word) >= 0)
            return parse_fail(ps, at, "full or long names such as \"%s\" are not "
                              "supported; write \"%s\"", shown,
                              i >= 0 ? f->names[i] : three);
    }
    return parse_fail(ps, at, "unknown %s name \"%s\"; the field takes %s",
                      f->name, shown, f->takes);
}

/* Quartz extensions that may follow a value: "5L", "15W", "1#2". */
static bool is_quartz_suffix(char c)
{
    return c == '#' || c == 'L' || c == 'l' || c == 'W' || c == 'w';
}

/* One value (number or name) at *pp; end is the end of the field. */
static int parse_value(struct parser *ps, enum field_id id, const char **pp,
                       const char *end, int *value_out)
{
    const struct field_spec *f = &field_specs[id];
    const char *p = *pp, *start = p;
    if (p == end || *p == ',')
        return parse_fail(ps, p, "missing value in the %s field", f->name);
    if (*p == '?')
        return parse_fail(ps, p, "\"?\" is Quartz syntax, not cron; "
                          "write \"*\"");
    if (is_digit(*p)) {
        long v = 0;
        while (p < end && is_digit(*p)) {
            if (v < 100000)       /* saturate: it is out of range anyway */
                v = v * 10 + (*p - '0');
            p++;
        }
        if (p < end && is_quartz_suffix(*p)) {
            char shown[64];
            const char *q = p;
            while (q < end && *q != ',')
                q++;
            quote_span(start, (size_t)(q - start), shown, sizeof shown);
            return parse_fail(ps, start, "\"%s\" is Quartz syntax, not cron; "
                              "it is not supported", shown);
        }
        if (v < f->lo || v > f->hi)
            return parse_fail(ps, start, "%s %ld is out of range; the field "
                              "takes %s", f->name, v, f->takes);
        *value_out = (int)v;
        *pp = p;
        return 0;
    }
    if (is_alpha(*p)) {
        char word[16];
        size_t len = 0;
        while (p < end && is_alpha(*p)) {
            if (len + 1 < sizeof word)
                word[len] = to_lower(*p);
            len++;
            p++;
        }
        word[len < sizeof word ? len : sizeof word - 1] = '\0';
        if (p < end && *p == '#')
            return parse_fail(ps, start, "\"#\" (nth weekday) is Quartz syntax, "
                              "not cron; it is not supported");
        int i = f->names && len == 3 ? find_name(f->names, word) : -1;
        if (i < 0)
            return bad_name(ps, f, id, start, word, len);
        *value_out = f->first_named + i;
        *pp = p;
        return 0;
    }
    char shown[16];
    quote_span(p, 1, shown, sizeof shown);
    if (*p == '#')
        return parse_fail(ps, p, "\"#\" (nth weekday) is Quartz syntax, not "
                          "cron; it is not supported");
    return parse_fail(ps, p, "unexpected \"%s\" in the %s field", shown, f->name);
}

/* The step after a '/' at *pp (which points past the '/'). */
static int parse_step(struct parser *ps, enum field_id id, const char **pp,
                      const char *end, int *step_out)
{
    const struct field_spec *f = &field_specs[id];
    const char *p = *pp, *start = p;
    if (p == end || !is_digit(*p))
        return parse_fail(ps, p, "a step must be a number, as in \"*/15\"");
    long v = 0;
    while (p < end && is_digit(*p)) {
        if (v < 100000)
            v = v * 10 + (*p - '0');
        p++;
    }
    if (v == 0)
        return parse_fail(ps, start, "a step of 0 never advances; the step "
                          "must be 1 or more");
    if (v > f->max_step)
        return parse_fail(ps, start, "step %ld is larger than the %s field's "
                          "%d values", v, f->name, f->max_step);
    *step_out = (int)v;
    *pp = p;
    return 0;
}

/* The item from its start through the digits of the step after the '/' at
 * slash, quoted for a message. */
static void quote_through_step(const char *item, const char *slash, const char *end,
                               char *shown, size_t n)
{
    const char *q = slash + 1;
    while (q < end && is_digit(*q))
        q++;
    quote_span(item, (size_t)(q - item), shown, n);
}

/*
 * One field, text [s, end).  Grammar (cronie's, less its "~" random ranges):
 *   field := item { "," item }
 *   item  := "*" [ "/" step ] | value [ "-" value [ "/" step ] ]
 *   value := digits | three-letter name (month and day-of-week fields)
 */
static int parse_field(struct parser *ps, enum field_id id, const char *s,
                       const char *end, uint64_t *bits_out)
{
    const struct field_spec *f = &field_specs[id];
    uint64_t bits = 0;
    const char *p = s;
    for (;;) {
        const char *item = p;
        int lo, hi, step = 1;
        if (p < end && *p == '*') {
            lo = f->lo;
            hi = f->hi;
            p++;
            if (p < end && *p == '/') {
                p++;
                if (parse_step(ps, id, &p, end, &step) < 0)
                    return -1;
            }
        } else {
            if (parse_value(ps, id, &p, end, &lo) < 0)
                return -1;
            hi = lo;
            if (p < end && *p == '-') {
                p++;
                if (parse_value(ps, id, &p, end, &hi) < 0)
                    return -1;
                /* "sat-sun", "fri-0": a weekday range may end on Sunday
                 * written as 0, as cronie allows. */
                bool to_sunday_0 = id == F_DOW && hi == 0 && lo > 0;
                if (to_sunday_0)
                    hi = 7;
                if (lo > hi) {
                    char shown[64];
                    quote_span(item, (size_t)(p - item), shown, sizeof shown);
                    return parse_fail(ps, item, "range \"%s\" is reversed; "
                                      "write the smaller value first", shown);
                }
                if (p < end && *p == '/') {
                    /* A step over such a range ("fri-0/2") has no one
                     * reading: counted from Friday through 7 it is Friday
                     * and Sunday, while a cron that keeps Sunday as 0 finds
                     * the range reversed and never runs the job. Refused
                     * rather than guessed (docs/scheduling.md). */
                    if (to_sunday_0) {
                        char shown[64];
                        quote_through_step(item, p, end, shown, sizeof shown);
                        return parse_fail(ps, item, "\"%s\": a step over a weekday range "
                                          "that ends on Sunday written as 0 is read "
                                          "differently by cron implementations; list "
                                          "the days instead (as in \"fri,sun\")", shown);
                    }
                    p++;
                    if (parse_step(ps, id, &p, end, &step) < 0)
                        return -1;
                }
            } else if (p < end && *p == '/') {
                char shown[64];
                quote_through_step(item, p, end, shown, sizeof shown);
                return parse_fail(ps, item, "\"%s\": a step needs a range or "
                                  "\"*\" before it, as in \"%d-%d/...\" or "
                                  "\"*/...\"", shown, lo, f->hi);
            }
        }
        for (int v = lo; v <= hi; v += step)
            bits |= UINT64_C(1) << v;
        if (p == end)
            break;
        if (*p != ',') {
            char shown[16];
            quote_span(p, 1, shown, sizeof shown);
            if (*p == '?' || *p == '#' || is_quartz_suffix(*p))
                return parse_fail(ps, p, "\"%s\" is Quartz syntax, not cron; "
                                  "it is not supported", shown);
            return parse_fail(ps, p, "unexpected \"%s\" in the %s field",
                              shown, f->name);
        }
        p++;
        if (p == end || *p == ',')
            return parse_fail(ps, p, "empty element in the %s field's list",
                              f->name);
    }
    *bits_out = bits;
    return 0;
}

/* The largest day each month can have, leap years included. */
static int max_days(int m)
{
    return m == 2 ? 29 : days_in_month(2001, m);
}

/* With the AND rule (either day field a star), an expression whose
 * day-of-month values exist in none of its months can never fire; with the
 * OR rule every month has every weekday, so it always can.  Every real date
 * falls on every weekday at least once in any 40 years (Feb 29 on a given
 * weekday is the longest wait, across a non-leap century year), so this is
 * the only way a parsed expression can be empty. */
static bool days_possible(const cron_expr *e)
{
    if (!(e->flags & (STAR_DOM | STAR_DOW)))
        return true;
    for (int m = 1; m <= 12; m++) {
        if (!(e->months >> m & 1))
            continue;
        for (int d = 1; d <= max_days(m); d++)
            if (e->doms >> d & 1)
                return true;
    }
    return false;
}

static const struct macro {
    const char *name;
    const char *fields;
} macros[] = {
    /* cronie sets only HR_STAR (for @hourly) and DOW_STAR/DOM_STAR; the
     * five-field forms below give exactly those flags. */
    {"hourly", "0 * * * *"},
    {"daily", "0 0 * * *"},
    {"midnight", "0 0 * * *"},
    {"weekly", "0 0 * * 0"},
    {"monthly", "0 0 1 * *"},
    {"yearly", "0 0 1 1 *"},
    {"annually", "0 0 1 1 *"},
};

static int parse_fields(struct parser *ps, const char *text, const char *p,
                        cron_expr *e);

static int parse_macro(struct parser *ps, const char *at, cron_expr *e)
{
    const char *p = at + 1;
    char word[16];
    size_t len = 0;
    while (*p && !is_blank(*p)) {
        if (len + 1 < sizeof word)
            word[len] = to_lower(*p);
        len++;
        p++;
    }
    word[len < sizeof word ? len : sizeof word - 1] = '\0';
    char shown[64];
    quote_span(at, (size_t)(p - at), shown, sizeof shown);
    const struct macro *m = NULL;
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
        if (len < sizeof word && strcmp(word, macros[i].name) == 0)
            m = &macros[i];
    if (!m) {
        if (strcmp(word, "reboot") == 0)
            return parse_fail(ps, at, "@reboot has no times, so it cannot "
                              "schedule a crawl");
        return parse_fail(ps, at, "unknown macro \"%s\"; known are @hourly, "
                          "@daily, @midnight, @weekly, @monthly, @yearly, "
                          "@annually", shown);
    }
    while (is_blank(*p))
        p++;
    if (*p) {
        char rest[64];
        quote_span(p, strlen(p), rest, sizeof rest);
        return parse_fail(ps, p, "unexpected \"%s\" after %s", rest, shown);
    }
    struct parser inner = {m->fields, NULL, 0};
    return parse_fields(&inner, m->fields, m->fields, e);
}

static int parse_fields(struct parser *ps, const char *text, const char *p,
                        cron_expr *e)
{
    const char *starts[N_FIELDS + 3], *ends[N_FIELDS + 3];
    int n = 0;
    while (*p) {
        if (is_blank(*p)) {
            p++;
            continue;
        }
        const char *s = p;
        while (*p && !is_blank(*p))
            p++;
        if (n < N_FIELDS + 3) {
            starts[n] = s;
            ends[n] = p;
        }
        n++;
    }
    if (n > N_FIELDS)
        return parse_fail(ps, starts[N_FIELDS], "%d fields; cron expressions "
                          "have five (minute hour day-of-month month "
                          "day-of-week): seconds and year fields are not "
                          "supported", n);
    if (n < N_FIELDS)
        return parse_fail(ps, text + strlen(text), "%d field%s; cron "
                          "expressions have five (minute hour day-of-month "
                          "month day-of-week)", n, n == 1 ? "" : "s");
    uint64_t bits[N_FIELDS];
    for (int i = 0; i < N_FIELDS; i++)
        if (parse_field(ps, (enum field_id)i, starts[i], ends[i], &bits[i]) < 0)
            return -1;
    e->minutes = bits[F_MINUTE];
    e->hours = (uint32_t)bits[F_HOUR];
    e->doms = (uint32_t)bits[F_DOM];
    e->months = (uint32_t)bits[F_MONTH];
    /* 0 and 7 are both Sunday. */
    e->dows = (uint32_t)((bits[F_DOW] | bits[F_DOW] >> 7) & 0x7f);
    e->flags = 0;
    if (*starts[F_MINUTE] == '*')
        e->flags |= STAR_MIN;
    if (*starts[F_HOUR] == '*')
        e->flags |= STAR_HOUR;
    if (*starts[F_DOM] == '*')
        e->flags |= STAR_DOM;
    if (*starts[F_DOW] == '*')
        e->flags |= STAR_DOW;
    if (!days_possible(e)) {
        char dom[64], month[64];
        quote_span(starts[F_DOM], (size_t)(ends[F_DOM] - starts[F_DOM]),
                   dom, sizeof dom);
        quote_span(starts[F_MONTH], (size_t)(ends[F_MONTH] - starts[F_MONTH]),
                   month, sizeof month);
        return parse_fail(ps, starts[F_DOM], "day-of-month \"%s\" never occurs "
                          "in month \"%s\", so the expression can never fire",
                          dom, month);
    }
    return 0;
}

int cron_parse_at(const char *text, cron_expr **expr_out, int *column_out,
                  mc_error *err)
{
    *expr_out = NULL;
    if (column_out)
        *column_out = 0;
    if (!text)
        return mc_error_set(err, MC_EXIT_CONFIG, "cron expression is missing");
    struct parser ps = {text, err, 0};
    /* Long enough for any sane list; the cap keeps messages bounded. */
    if (strlen(text) > 1000) {
        ps.column = 1001;
        parse_fail(&ps, text, "longer than 1000 characters");
        goto fail;
    }
    const char *p = text;
    while (is_blank(*p))
        p++;
    cron_expr e = {0};
    int rc;
    if (*p == '\0')
        rc = parse_fail(&ps, p, "empty cron expression");
    else if (*p == '@')
        rc = parse_macro(&ps, p, &e);
    else
        rc = parse_fields(&ps, text, p, &e);
    if (rc < 0)
        goto fail;
    cron_expr *out = mc_malloc(sizeof *out);
    *out = e;
    out->text = mc_strdup(text);
    *expr_out = out;
    return 0;
fail:
    if (column_out)
        *column_out = ps.column;
    return -1;
}

int cron_parse(const char *text, cron_expr **expr_out, mc_error *err)
{
    return cron_parse_at(text, expr_out, NULL, err);
}

void cron_free(cron_expr *expr)
{
    if (!expr)
        return;
    free(expr->text);
    free(expr);
}

const char *cron_text(const cron_expr *expr)
{
    return expr->text;
}

bool cron_is_wildcard(const cron_expr *expr)
{
    return (expr->flags & (STAR_MIN | STAR_HOUR)) != 0;
}

/* cronie's day rule: when either day field is a star both must match,
 * otherwise either may. */
static bool day_matches(const cron_expr *e, int dom, int wday)
{
    bool dom_ok = e->doms >> dom & 1, dow_ok = e->dows >> wday & 1;
    if (e->flags & (STAR_DOM | STAR_DOW))
        return dom_ok && dow_ok;
    return dom_ok || dow_ok;
}

/* Does the job match local minute v (seconds, minute-aligned)? */
static bool matches_local(const cron_expr *e, int64_t v)
{
    int64_t days = floor_div(v, SECS_PER_DAY);
    int64_t sod = v - days * SECS_PER_DAY;
    int64_t y;
    int m, d;
    if (!(e->hours >> (sod / 3600) & 1) || !(e->minutes >> (sod % 3600 / 60) & 1))
        return false;
    civil_from_days(days, &y, &m, &d);
    return (e->months >> m & 1) && day_matches(e, d, weekday_of_days(days));
}

static int next_bit(uint64_t mask, int from)
{
    if (from > 63)
        return -1;
    mask = mask >> from << from;
    return mask ? __builtin_ctzll(mask) : -1;
}

/* Finds the first local minute in [lo, hi] that matches (lo is
 * minute-aligned; times before 1970 are negative, so "not found" is the
 * return value, not a sentinel time).  Whole months and days are skipped,
 * so a search across years costs at most a few hundred thousand cheap
 * steps. */
static bool search_local(const cron_expr *e, int64_t lo, int64_t hi,
                         int64_t *found_out)
{
    if (lo > hi)
        return false;
    int64_t day = floor_div(lo, SECS_PER_DAY);
    int64_t last_day = floor_div(hi, SECS_PER_DAY);
    int64_t sod = lo - day * SECS_PER_DAY;
    int hour = (int)(sod / 3600), minute = (int)(sod % 3600 / 60);
    while (day <= last_day) {
        int64_t y;
        int m, d;
        civil_from_days(day, &y, &m, &d);
        if (!(e->months >> m & 1)) {
            day = days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1);
            hour = minute = 0;
            continue;
        }
        if (day_matches(e, d, weekday_of_days(day))) {
            for (int h = next_bit(e->hours, hour); h >= 0;
                 h = next_bit(e->hours, h + 1)) {
                int mi = next_bit(e->minutes, h == hour ? minute : 0);
                if (mi >= 0) {
                    *found_out = day * SECS_PER_DAY + h * 3600 + mi * 60;
                    return *found_out <= hi;
                }
            }
        }
        day++;
        hour = minute = 0;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Time zones.                                                         */
/* ------------------------------------------------------------------ */

struct tz_type {
    int32_t utoff;       /* seconds east of UTC */
    bool isdst;
    char abbr[16];
};

/* A POSIX TZ rule date: Jn (1-365, Feb 29 never counted), n (0-365,
 * counted), or Mm.w.d (day d of week w of month m, w = 5 the last). */
enum rule_kind { RULE_J1, RULE_J0, RULE_M };
struct tz_rule {
    enum rule_kind kind;
    int day, week, month;
    int32_t secs;        /* local time of day, -167h..167h (RFC 8536 v3) */
};

struct cron_tz {
    char *name;
    size_t n_trans;
    int64_t *trans;      /* strictly ascending */
    uint8_t *trans_type;
    size_t n_types;
    struct tz_type *types;
    /* The footer rule governs instants at and after the last transition
     * (all instants when there are none). */
    bool has_footer, footer_dst;
    struct tz_type std, dst;
    struct tz_rule start, end;
};

struct tz_event {
    int64_t at;
    bool dst;           /* the state from at on */
};

static int64_t rule_local(int64_t y, const struct tz_rule *r)
{
    int64_t day;
    switch (r->kind) {
    case RULE_J1:
        day = days_from_civil(y, 1, 1) + r->day - 1 + (is_leap(y) && r->day >= 60);
        break;
    case RULE_J0:
        day = days_from_civil(y, 1, 1) + r->day;
        break;
    default: {
        int64_t first = days_from_civil(y, r->month, 1);
        int d = 1 + (r->day - weekday_of_days(first) + 7) % 7 + 7 * (r->week - 1);
        while (d > days_in_month(y, r->month))
            d -= 7;
        day = first + d - 1;
        break;
    }
    }
    return day * SECS_PER_DAY + r->secs;
}

/*
 * The footer's DST changes in year y, in order of the rule (start, end),
 * which is time order unless the end comes first (southern-hemisphere DST
 * across the new year).  As in tzcode, a year whose DST stretch is empty or
 * a whole year long has no changes and carries the previous state over; a
 * rule with no changes in any year is permanent DST (posix_parse turns it
 * into a fixed offset).
 */
static int footer_year(const cron_tz *tz, int64_t y, struct tz_event ev[2])
{
    int64_t s = rule_local(y, &tz->start) - tz->std.utoff;
    int64_t e = rule_local(y, &tz->end) - tz->dst.utoff;
    int64_t year_secs = (is_leap(y) ? 366 : 365) * SECS_PER_DAY;
    if (e < s) {
        ev[0] = (struct tz_event){e, false};
        ev[1] = (struct tz_event){s, true};
        return 2;
    }
    if (s < e && e - s < year_secs) {
        ev[0] = (struct tz_event){s, true};
        ev[1] = (struct tz_event){e, false};
        return 2;
    }
    return 0;
}

/* Rule dates lie in their year give or take 167 hours and a UTC offset. */
#define YEAR_SLOP (INT64_C(10) * SECS_PER_DAY)

/* The state set by the last change at or before t.  Changes of adjacent
 * years can interleave when rule times reach +-167 hours, so the latest is
 * taken over every year that could hold it; the rule repeats every 400
 * years and has changes in some year, so 401 years back always finds one. */
static bool footer_dst_at(const cron_tz *tz, int64_t t)
{
    if (!tz->footer_dst)
        return false;
    int64_t y = year_of(t), best = INT64_MIN;
    bool dst = false;
    for (int64_t yy = y + 1; yy >= y - 401; yy--) {
        if (best != INT64_MIN &&
            days_from_civil(yy, 12, 31) * SECS_PER_DAY + YEAR_SLOP < best)
            break;
        struct tz_event ev[2];
        int n = footer_year(tz, yy, ev);
        /* Later years and later rule entries win ties, as they come later
         * in tzcode's transition table. */
        for (int i = n - 1; i >= 0; i--)
            if (ev[i].at <= t && ev[i].at > best) {
                best = ev[i].at;
                dst = ev[i].dst;
            }
    }
    return dst;
}

/* The first footer change after t, or INT64_MAX if none before limit. */
static int64_t footer_next(const cron_tz *tz, int64_t t, int64_t limit)
{
    if (!tz->footer_dst)
        return INT64_MAX;
    int64_t best = INT64_MAX;
    for (int64_t yy = year_of(t) - 1;; yy++) {
        int64_t jan1 = days_from_civil(yy, 1, 1) * SECS_PER_DAY;
        if (jan1 - YEAR_SLOP > best || jan1 - YEAR_SLOP > limit)
            break;
        struct tz_event ev[2];
        int n = footer_year(tz, yy, ev);
        for (int i = 0; i < n; i++)
            if (ev[i].at > t && ev[i].at < best)
                best = ev[i].at;
    }
    return best;
}

/* The last footer change at or before t and after floor, or INT64_MIN. */
static int64_t footer_prev(const cron_tz *tz, int64_t t, int64_t floor)
{
    if (!tz->footer_dst)
        return INT64_MIN;
    int64_t best = INT64_MIN;
    for (int64_t yy = year_of(t) + 1;; yy--) {
        int64_t dec31 = days_from_civil(yy, 12, 31) * SECS_PER_DAY;
        if (dec31 + YEAR_SLOP < best || dec31 + YEAR_SLOP < floor)
            break;
        struct tz_event ev[2];
        int n = footer_year(tz, yy, ev);
        for (int i = 0; i < n; i++)
            if (ev[i].at <= t && ev[i].at > floor && ev[i].at > best)
                best = ev[i].at;
    }
    return best;
}

/* Index of the last transition at or before t; -1 if none. */
static ptrdiff_t trans_index(const cron_tz *tz, int64_t t)
{
    size_t lo = 0, hi = tz->n_trans;   /* answer in [lo, hi) + 1 */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

static const struct tz_type *type_at(const cron_tz *tz, int64_t t)
{
    if (tz->has_footer && (tz->n_trans == 0 || t >= tz->trans[tz->n_trans - 1]))
        return footer_dst_at(tz, t) ? &tz->dst : &tz->std;
    ptrdiff_t i = trans_index(tz, t);
    /* Before the first transition, type 0 (RFC 8536 section 3.2). */
    return &tz->types[i < 0 ? 0 : tz->trans_type[i]];
}

/* The first instant after t at which the offset may change; INT64_MAX if
 * none up to limit.  A change of abbreviation only is harmless here. */
static int64_t next_transition(const cron_tz *tz, int64_t t, int64_t limit)
{
    if (tz->n_trans > 0 && t < tz->trans[tz->n_trans - 1])
        return tz->trans[trans_index(tz, t) + 1];
    return tz->has_footer ? footer_next(tz, t, limit) : INT64_MAX;
}

/* The last such instant at or before t; INT64_MIN if none. */
static int64_t prev_transition(const cron_tz *tz, int64_t t)
{
    if (tz->has_footer) {
        int64_t floor = tz->n_trans ? tz->trans[tz->n_trans - 1]
                                    : CRON_TIME_MIN - CRON_HORIZON;
        int64_t p = footer_prev(tz, t, floor);
        if (p != INT64_MIN)
            return p;
    }
    ptrdiff_t i = trans_index(tz, t);
    return i < 0 ? INT64_MIN : tz->trans[i];
}

/* --- POSIX TZ strings: std offset [dst [offset] [,start[/time],end[/time]]] */

static bool posix_name(const char **pp, char out[16])
{
    const char *p = *pp;
    size_t n = 0;
    if (*p == '<') {
        p++;
        while (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-') {
            if (n >= 15)
                return false;
            out[n++] = *p++;
        }
        if (*p != '>')
            return false;
        p++;
    } else {
        while (is_alpha(*p)) {
            if (n >= 15)
                return false;
            out[n++] = *p++;
        }
    }
    if (n < 3)
        return false;
    out[n] = '\0';
    *pp = p;
    return true;
}

static bool posix_number(const char **pp, int max, int *out)
{
    const char *p = *pp;
    int v = 0;
    if (!is_digit(*p))
        return false;
    while (is_digit(*p)) {
        v = v * 10 + (*p++ - '0');
        if (v > max)
            return false;
    }
    *out = v;
    *pp = p;
    return true;
}

/* [+|-]hh[:mm[:ss]] with hh up to max_hours. */
static bool posix_time(const char **pp, int max_hours, int32_t *out)
{
    const char *p = *pp;
    int sign = 1, h, m = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!posix_number(&p, max_hours, &h))
        return false;
    if (*p == ':') {
        p++;
        if (!posix_number(&p, 59, &m))
            return false;
        if (*p == ':') {
            p++;
            if (!posix_number(&p, 59, &s))
                return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    *pp = p;
    return true;
}

static bool posix_rule(const char **pp, struct tz_rule *r)
{
    const char *p = *pp;
    if (*p == 'J') {
        p++;
        r->kind = RULE_J1;
        if (!posix_number(&p, 365, &r->day) || r->day < 1)
            return false;
    } else if (*p == 'M') {
        p++;
        r->kind = RULE_M;
        if (!posix_number(&p, 12, &r->month) || r->month < 1 || *p++ != '.' ||
            !posix_number(&p, 5, &r->week) || r->week < 1 || *p++ != '.' ||
            !posix_number(&p, 6, &r->day))
            return false;
    } else {
        r->kind = RULE_J0;
        if (!posix_number(&p, 365, &r->day))
            return false;
    }
    r->secs = 7200;    /* 02:00 unless given */
    if (*p == '/') {
        p++;
        /* RFC 8536 3.3.1: hours may range over -167..167. */
        if (!posix_time(&p, 167, &r->secs))
            return false;
    }
    *pp = p;
    return true;
}

/* Fills the footer part of tz from rule; false if it is malformed. */
static bool posix_parse(cron_tz *tz, const char *rule)
{
    const char *p = rule;
    int32_t off;
    if (!posix_name(&p, tz->std.abbr) || !posix_time(&p, 24, &off))
        return false;
    tz->std.utoff = -off;   /* POSIX offsets count west */
    tz->std.isdst = false;
    tz->has_footer = true;
    tz->footer_dst = false;
    if (*p == '\0')
        return true;
    if (!posix_name(&p, tz->dst.abbr))
        return false;
    tz->dst.isdst = true;
    tz->dst.utoff = tz->std.utoff + 3600;
    if (*p == '+' || *p == '-' || is_digit(*p)) {
        if (!posix_time(&p, 24, &off))
            return false;
        tz->dst.utoff = -off;
    }
    if (*p == '\0') {
        /* No rule: tzcode's default, the US rules since 2007. */
        tz->start = (struct tz_rule){RULE_M, 0, 2, 3, 7200};
        tz->end = (struct tz_rule){RULE_M, 0, 1, 11, 7200};
    } else if (*p++ != ',' || !posix_rule(&p, &tz->start) || *p++ != ',' ||
               !posix_rule(&p, &tz->end) || *p != '\0') {
        return false;
    }
    tz->footer_dst = true;
    /* No change in a whole 400-year cycle means DST all year, as tzcode
     * reads "EST5EDT,0/0,J365/25": a fixed offset. */
    for (int64_t y = 2000; y < 2400; y++) {
        struct tz_event ev[2];
        if (footer_year(tz, y, ev) > 0)
            return true;
    }
    tz->std = tz->dst;
    tz->footer_dst = false;
    return true;
}

/* --- TZif (RFC 8536), versions 1 to 4 */

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static const char *tzif_header(const unsigned char *d, size_t n, int *version,
                               struct tzif_counts *c)
{
    if (n < 44 || memcmp(d, "TZif", 4) != 0)
        return "no TZif header";
    *version = d[4] == 0 ? 1 : d[4] >= '2' ? d[4] - '0' : -1;
    if (*version < 0)
        return "unknown TZif version";
    c->isut = be32(d + 20);
    c->isstd = be32(d + 24);
    c->leap = be32(d + 28);
    c->time = be32(d + 32);
    c->type = be32(d + 36);
    c->chars = be32(d + 40);
    /* Bounds far above any real zone keep the size arithmetic exact. */
    if (c->time > 100000 || c->type == 0 || c->type > 256 || c->chars == 0 ||
        c->chars > 65536 || c->leap > 100000 ||
        (c->isstd != 0 && c->isstd != c->type) ||
        (c->isut != 0 && c->isut != c->type))
        return "inconsistent counts in the TZif header";
    return NULL;
}

static size_t tzif_block_len(const struct tzif_counts *c, size_t time_size)
{
    return c->time * time_size + c->time + c->type * (size_t)6 + c->chars +
           c->leap * (time_size + 4) + c->isstd + c->isut;
}

/* Reads one data block (time_size 4 for v1, 8 for v2+) into tz. */
static const char *tzif_block(cron_tz *tz, const unsigned char *d,
                              const struct tzif_counts *c, size_t time_size)
{
    if (c->leap != 0)
        return "zones with leap seconds (the right/ tree) are not supported";
    tz->n_trans = c->time;
    tz->trans = mc_calloc(c->time ? c->time : 1, sizeof *tz->trans);
    tz->trans_type = mc_calloc(c->time ? c->time : 1, 1);
    for (size_t i = 0; i < c->time; i++) {
        const unsigned char *p = d + i * time_size;
        tz->trans[i] = time_size == 8 ? be64(p) : (int64_t)(int32_t)be32(p);
        /* tzdata's earliest is -2^59 ("big bang"); far beyond that the
         * offset arithmetic could overflow. */
        if (tz->trans[i] < -(INT64_C(1) << 61) || tz->trans[i] > (INT64_C(1) << 61))
            return "transition time out of range";
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
            return "transition times not ascending";
    }
    d += c->time * time_size;
    for (size_t i = 0; i < c->time; i++) {
        if (d[i] >= c->type)
            return "transition to a type that does not exist";
        tz->trans_type[i] = d[i];
    }
    d += c->time;
    const unsigned char *chars = d + c->type * (size_t)6;
    tz->n_types = c->type;
    tz->types = mc_calloc(c->type, sizeof *tz->types);
    for (size_t i = 0; i < c->type; i++) {
        const unsigned char *p = d + i * 6;
        int32_t utoff = (int32_t)be32(p);
        /* RFC 8536 3.2: -89999..93599 (about -25h..+26h). */
        if (utoff < -89999 || utoff > 93599)
            return "utc offset out of range";
        if (p[4] > 1)
            return "bad isdst flag";
        if (p[5] >= c->chars)
            return "abbreviation index out of range";
        tz->types[i].utoff = utoff;
        tz->types[i].isdst = p[4];
        size_t k = 0;
        for (size_t j = p[5]; j < c->chars && chars[j] && k < 15; j++)
            tz->types[i].abbr[k++] = (char)chars[j];
        tz->types[i].abbr[k] = '\0';
    }
    return NULL;
}

static const char *tzif_parse(cron_tz *tz, const unsigned char *d, size_t n)
{
    int version;
    struct tzif_counts c;
    const char *why = tzif_header(d, n, &version, &c);
    if (why)
        return why;
    size_t v1 = tzif_block_len(&c, 4);
    if (n - 44 < v1)
        return "truncated";
    if (version == 1)
        return tzif_block(tz, d + 44, &c, 4);
    /* Version 2+: the 64-bit block and the footer are what count. */
    d += 44 + v1;
    n -= 44 + v1;
    int version2;
    if ((why = tzif_header(d, n, &version2, &c)))
        return why;
    size_t v2 = tzif_block_len(&c, 8);
    if (n - 44 < v2)
        return "truncated";
    if ((why = tzif_block(tz, d + 44, &c, 8)))
        return why;
    d += 44 + v2;
    n -= 44 + v2;
    if (n < 2 || d[0] != '\n')
        return "missing TZ string footer";
    const unsigned char *nl = memchr(d + 1, '\n', n - 1);
    if (!nl)
        return "unterminated TZ string footer";
    size_t len = (size_t)(nl - d - 1);
    if (len == 0)
        return NULL;   /* empty footer: the last type lasts forever */
    if (len > 255 || memchr(d + 1, '\0', len))
        return "bad TZ string footer";
    char rule[256];
    memcpy(rule, d + 1, len);
    rule[len] = '\0';
    if (!posix_parse(tz, rule))
        return "bad TZ string footer";
    return NULL;
}

static cron_tz *tz_new(const char *name)
{
    cron_tz *tz = mc_calloc(1, sizeof *tz);
    tz->name = mc_strdup(name ? name : "");
    return tz;
}

static cron_tz *tz_utc(void)
{
    cron_tz *tz = tz_new("UTC");
    tz->n_types = 1;
    tz->types = mc_calloc(1, sizeof *tz->types);
    strcpy(tz->types[0].abbr, "UTC");
    return tz;
}

void cron_tz_free(cron_tz *tz)
{
    if (!tz)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->trans_type);
    free(tz->types);
    free(tz);
}

int cron_tz_from_tzif(const char *name, const void *data, size_t size,
                      cron_tz **tz_out, mc_error *err)
{
    *tz_out = NULL;
    cron_tz *tz = tz_new(name);
    const char *why = tzif_parse(tz, data, size);
    if (why) {
        cron_tz_free(tz);
        return mc_error_set(err, MC_EXIT_CONFIG, "time zone \"%s\": not a valid "
                            "TZif file: %s", name ? name : "", why);
    }
    *tz_out = tz;
    return 0;
}

int cron_tz_from_posix(const char *name, const char *rule, cron_tz **tz_out,
                       mc_error *err)
{
    *tz_out = NULL;
    cron_tz *tz = tz_new(name ? name : rule);
    if (!rule || strlen(rule) > 255 || !posix_parse(tz, rule)) {
        cron_tz_free(tz);
        return mc_error_set(err, MC_EXIT_CONFIG, "time zone \"%s\": bad POSIX "
                            "TZ rule", name ? name : rule ? rule : "");
    }
    tz->n_types = 1;
    tz->types = mc_calloc(1, sizeof *tz->types);
    tz->types[0] = tz->std;
    *tz_out = tz;
    return 0;
}

/* IANA names are relative paths of letters, digits and "/_+-." that never
 * climb out of the zoneinfo directory. */
static const char *tz_name_problem(const char *name)
{
    size_t n = strlen(name);
    if (n == 0)
        return "empty";
    if (n > 200)
        return "too long";
    if (name[0] == '/')
        return "absolute paths are not zone names";
    if (strstr(name, ".."))
        return "\"..\" is not allowed";
    if (strstr(name, "//") || name[n - 1] == '/' || name[0] == '.')
        return "not a zone name";
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!is_alpha(c) && !is_digit(c) && c != '/' && c != '_' && c != '+' &&
            c != '-' && c != '.')
            return "unexpected character";
    }
    /* Files of the zoneinfo directory that are not zones of the database:
     * each would load, and each would mean something else than it says. */
    if (strcmp(name, "localtime") == 0)
        return "not an IANA zone name: \"localtime\" is whatever zone the machine is set "
               "to, and a schedule must not change with it";
    if (strcmp(name, "posixrules") == 0)
        return "not an IANA zone name: \"posixrules\" is the default rule for POSIX TZ "
               "strings, not a place";
    if (strcmp(name, "Factory") == 0)
        return "not an IANA zone name: \"Factory\" is the placeholder zone of an "
               "unconfigured machine";
    if (strncmp(name, "posix/", 6) == 0 || strncmp(name, "right/", 6) == 0)
        return "not an IANA zone name: the posix/ and right/ trees are copies of the "
               "database (right/ with leap seconds); write the name without the prefix";
    return NULL;
}

static const char *tz_dir(void)
{
    const char *dir = getenv("TZDIR");
    return dir && *dir ? dir : "/usr/share/zoneinfo";
}

uint64_t cron_tz_file_signature(const char *name)
{
    if (!name || strcmp(name, "UTC") == 0 || tz_name_problem(name))
        return 0;
    char *path = mc_asprintf("%s/%s", tz_dir(), name);
    struct stat st;
    int rc = stat(path, &st);
    free(path);
    if (rc != 0)
        return 0;
    /* only equality matters */
    const uint64_t parts[] = {(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
                              (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec};
    uint64_t h = mc_hash_bytes(MC_HASH_INIT, parts, sizeof parts);
    return h ? h : 1;
}

int cron_tz_load(const char *name, cron_tz **tz_out, mc_error *err)
{
    *tz_out = NULL;
    if (!name)
        name = "";
    if (strcmp(name, "UTC") == 0) {
        *tz_out = tz_utc();
        return 0;
    }
    const char *why = tz_name_problem(name);
    if (why) {
        mc_error_set(err, MC_EXIT_CONFIG, "time zone \"%.200s\": %s", name, why);
        mc_error_hint(err, "use an IANA zone name such as Europe/Berlin or UTC");
        return -1;
    }
    const char *dir = tz_dir();
    char *path = mc_asprintf("%s/%s", dir, name);
    int rc = -1;
    unsigned char *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            mc_error_set(err, MC_EXIT_CONFIG, "unknown time zone \"%s\"", name);
            mc_error_hint(err, "zone names are case-sensitive IANA names such "
                          "as Europe/Berlin; the list is in %s", dir);
        } else {
            mc_error_set(err, MC_EXIT_CONFIG, "time zone \"%s\": cannot open "
                         "%s: %s", name, path, strerror(errno));
        }
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        mc_error_set(err, MC_EXIT_CONFIG, "unknown time zone \"%s\": %s is not "
                     "a zone file", name, path);
        goto out;
    }
    if (st.st_size > 1 << 20) {
        mc_error_set(err, MC_EXIT_CONFIG, "time zone \"%s\": %s is too large "
                     "for a zone file", name, path);
        goto out;
    }
    size_t size = (size_t)st.st_size, got = 0;
    data = mc_malloc(size ? size : 1);
    while (got < size) {
        ssize_t r = read(fd, data + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            mc_error_set(err, MC_EXIT_CONFIG, "time zone \"%s\": cannot read "
                         "%s: %s", name, path, r < 0 ? strerror(errno) : "short read");
            goto out;
        }
        got += (size_t)r;
    }
    rc = cron_tz_from_tzif(name, data, size, tz_out, err);
out:
    if (fd >= 0)
        close(fd);
    free(data);
    free(path);
    return rc;
}

const char *cron_tz_name(const cron_tz *tz)
{
    return tz->name;
}

int cron_tz_offset(const cron_tz *tz, int64_t utc)
{
    return type_at(tz, utc)->utoff;
}

static int64_t clamp_time(int64_t t)
{
    return t < CRON_TIME_MIN ? CRON_TIME_MIN : t > CRON_TIME_MAX ? CRON_TIME_MAX : t;
}

void cron_tz_local(const cron_tz *tz, int64_t utc, cron_local *out)
{
    utc = clamp_time(utc);
    const struct tz_type *ty = type_at(tz, utc);
    int64_t local = utc + ty->utoff;
    int64_t days = floor_div(local, SECS_PER_DAY), sod = local - days * SECS_PER_DAY;
    int64_t y;
    civil_from_days(days, &y, &out->month, &out->day);
    out->year = (int)y;
    out->hour = (int)(sod / 3600);
    out->minute = (int)(sod % 3600 / 60);
    out->second = (int)(sod % 60);
    out->wday = weekday_of_days(days);
    out->utoff = ty->utoff;
    out->isdst = ty->isdst;
    memcpy(out->abbr, ty->abbr, sizeof out->abbr);
}

int64_t cron_tz_from_local(const cron_tz *tz, int64_t local)
{
    /* Offsets stay within +-26 hours, so only the segments between two
     * offset changes in that window can show `local`.  The first segment
     * that does wins; only if none does (it lies in a gap) does the end of
     * the first gap that swallows it.  A gap can swallow a time that a
     * later step back shows after all, hence the two passes in one walk. */
    local = clamp_time(local);
    int64_t hi = local + 26 * 3600, gap_end = INT64_MAX;
    for (int64_t start = local - 26 * 3600;;) {
        int64_t T = next_transition(tz, start, hi);
        int64_t end = T < hi ? T : hi;
        int64_t o = type_at(tz, start)->utoff;
        if (local - o >= start && local - o < end)
            return local - o;
        if (T >= hi)
            return gap_end != INT64_MAX ? gap_end : local - o;
        if (gap_end == INT64_MAX && local >= T + o &&
            local < T + type_at(tz, T)->utoff)
            gap_end = T;
        start = T;
    }
}

int cron_format_local(const cron_tz *tz, int64_t utc, char *buf, size_t size)
{
    cron_local l;
    cron_tz_local(tz, utc, &l);
    int a = l.utoff < 0 ? -l.utoff : l.utoff;
    char off[16];
    if (a % 60)
        snprintf(off, sizeof off, "%c%02d:%02d:%02d", l.utoff < 0 ? '-' : '+',
                 a / 3600, a / 60 % 60, a % 60);
    else
        snprintf(off, sizeof off, "%c%02d:%02d", l.utoff < 0 ? '-' : '+',
                 a / 3600, a / 60 % 60);
    return snprintf(buf, size, "%04d-%02d-%02d %02d:%02d:%02d%s%s (%s)",
                    l.year, l.month, l.day, l.hour, l.minute, l.second,
                    l.abbr[0] ? " " : "", l.abbr, off);
}

/* ------------------------------------------------------------------ */
/* The next fire time: a replay of cronie's main loop (see the top).   */
/* ------------------------------------------------------------------ */

/* The wake after t, given T, the first possible offset change after t. */
static int64_t next_wake(const cron_tz *tz, int64_t t, int64_t T)
{
    if (t + 60 < T)
        return t + 60;
    return T + floor_mod(-(T + type_at(tz, T)->utoff), 60);
}

/* One wake of the daemon: does the job start at local minute L, given the
 * virtual time *H before it?  Updates *H as cronie updates virtualTime. */
static bool step_wake(const cron_expr *e, int64_t L, int64_t *H)
{
    int64_t d = (L - *H) / 60;
    bool wild = cron_is_wildcard(e);
    bool fire = false;
    if (d == 1 || d > 180 || d < -180) {
        fire = matches_local(e, L);                    /* normal or large */
        *H = L;
    } else if (d >= 2 && d <= 5) {
        for (int64_t v = *H + 60; v <= L && !fire; v += 60)
            fire = matches_local(e, v);                /* small: catch up all */
        *H = L;
    } else if (d >= 6) {
        fire = wild && matches_local(e, L);            /* medium */
        for (int64_t v = *H + 60; v <= L && !fire && !wild; v += 60)
            fire = matches_local(e, v);
        *H = L;
    } else {
        fire = wild && matches_local(e, L);            /* negative */
    }
    return fire;
}

int64_t cron_next(const cron_expr *e, const cron_tz *tz, int64_t after)
{
    if (!e || !tz || after < CRON_TIME_MIN || after > CRON_TIME_MAX)
        return CRON_NEVER;
    int64_t limit = after + CRON_HORIZON;
    if (limit > CRON_TIME_MAX)
        limit = CRON_TIME_MAX;

    /* A steady wake at or before after (invariant 5). */
    int64_t s = after;
    for (;;) {
        int64_t T = prev_transition(tz, s);
        if (T == INT64_MIN || s - T > STEADY_AFTER)
            break;
        s = T - 1;
    }
    int64_t o = type_at(tz, s)->utoff;
    int64_t t = s - floor_mod(s + o, 60);
    int64_t H = t + o;
    int64_t R = H;    /* cronie's timeRunning: the local minute of the last wake */

    for (;;) {
        if (t > limit)
            return CRON_NEVER;
        int64_t T = next_transition(tz, t, limit + SECS_PER_DAY);
        o = type_at(tz, t)->utoff;
        if (H == t + o) {
            /* Steady: search the calendar up to the next offset change. */
            int64_t lo = floor_div(after + o, 60) * 60 + 60;
            if (lo < t + o + 60)
                lo = t + o + 60;
            int64_t hi = (T > limit ? limit : T - 1) + o;
            int64_t m;
            if (search_local(e, lo, hi, &m))
                return m - o;
            if (T > limit)
                return CRON_NEVER;
            int64_t last = T - 1 - floor_mod(T - 1 + o, 60);
            if (last > t) {
                t = last;
                H = R = t + o;
            }
        }
        int64_t t2 = next_wake(tz, t, T);
        int64_t L2 = t2 + type_at(tz, t2)->utoff;
        t = t2;
        /* cronie sleeps on until the local minute differs from the last
         * wake's, so a clock set back by one minute wakes nothing. */
        if (L2 == R)
            continue;
        R = L2;
        if (step_wake(e, L2, &H) && t2 > after)
            return t2 <= limit ? t2 : CRON_NEVER;
    }
}
