/*
 * cron_zone.c — the cron engine's time zones (cron.h): reads IANA zones from
 * TZif files (RFC 8536) and POSIX TZ rule strings, which TZif files carry
 * for times after their last transition; loads a zone by name from TZDIR
 * after validating the name, tells whether a zone's file changed (for the
 * scheduler's reload check), and converts between UTC and local time.
 * cron.c's next-fire search reads zones through cron_internal.h.
 *
 * Time zones are parsed here rather than through setenv("TZ")/localtime()
 * because the scheduler runs many datastores, each in its own zone, on
 * several threads: TZ is process-global state and glibc silently reads an
 * unknown zone as UTC, which would be a config error hidden as a wrong
 * schedule.
 */
#include "cron_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Time zones.                                                         */
/* ------------------------------------------------------------------ */

static int64_t year_of(int64_t t)
{
    int64_t y;
    int m, d;
    civil_from_days(floor_div(t, SECS_PER_DAY), &y, &m, &d);
    return y;
}

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

const struct tz_type *type_at(const cron_tz *tz, int64_t t)
{
    if (tz->has_footer && (tz->n_trans == 0 || t >= tz->trans[tz->n_trans - 1]))
        return footer_dst_at(tz, t) ? &tz->dst : &tz->std;
    ptrdiff_t i = trans_index(tz, t);
    /* Before the first transition, type 0 (RFC 8536 section 3.2). */
    return &tz->types[i < 0 ? 0 : tz->trans_type[i]];
}

/* The first instant after t at which the offset may change; INT64_MAX if
 * none up to limit.  A change of abbreviation only is harmless here. */
int64_t next_transition(const cron_tz *tz, int64_t t, int64_t limit)
{
    if (tz->n_trans > 0 && t < tz->trans[tz->n_trans - 1])
        return tz->trans[trans_index(tz, t) + 1];
    return tz->has_footer ? footer_next(tz, t, limit) : INT64_MAX;
}

/* The last such instant at or before t; INT64_MIN if none. */
int64_t prev_transition(const cron_tz *tz, int64_t t)
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
