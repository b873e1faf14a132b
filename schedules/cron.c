/*
 * cron.c — the cron engine's expressions: parses five-field cron expressions
 * and macros (with cronie's rules) and computes the next fire time of an
 * expression in a zone.  The zones themselves (TZif files, POSIX TZ rules,
 * loading and validating zone names) are cron_zone.c's; cron_internal.h is
 * what the two files share.  The public API of both is cron.h.
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
#include "cron_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Calendar arithmetic on the proleptic Gregorian calendar.            */
/* ------------------------------------------------------------------ */

/* A negative wake stretch lasts at most 181 minutes (invariant 5). */
#define STEADY_AFTER (INT64_C(4) * 3600)

int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a civil date, and back: the era-based
 * algorithms published by Howard Hinnant ("chrono-compatible low-level date
 * algorithms"), valid for any year that fits. */
int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                         /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
    return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int64_t *y_out, int *m_out, int *d_out)
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

int weekday_of_days(int64_t days)
{
    return (int)floor_mod(days + 4, 7);   /* 1970-01-01 was a Thursday */
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
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c)
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
