/*
 * cron.h — the cron engine: five-field cron expressions and macros, IANA
 * time zones read from TZif files, and the next fire time of an expression
 * in a zone, with daylight-saving changes handled the way cronie does.
 *
 * Pure logic: the only I/O is reading one zoneinfo file in cron_tz_load.
 * Both handles are immutable once made, so any number of threads may share
 * them; nothing here touches TZ, tzset() or localtime().  The rules are
 * written down in docs/scheduling.md.
 */
#ifndef MC_CRON_H
#define MC_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mc_base.h"

/* What cron_next returns when nothing fires within 400 years. */
#define CRON_NEVER INT64_C(-1)

/* Instants the engine works with: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define CRON_TIME_MIN INT64_C(-62135596800)
#define CRON_TIME_MAX INT64_C(253402300799)

typedef struct cron_expr cron_expr;
typedef struct cron_tz cron_tz;

/*
 * Parses a cron expression: five fields (minute hour day-of-month month
 * day-of-week) or one of @hourly @daily @midnight @weekly @monthly @yearly
 * @annually.  On error returns -1, *expr_out is NULL and err (MC_EXIT_CONFIG)
 * reads 'cron expression "...": column N: what is wrong', N being the
 * 1-based byte column of the offending token in text.
 */
int cron_parse(const char *text, cron_expr **expr_out, mc_error *err);
/* The same, and on error also stores that column in *column_out (0 when
 * there is none), so a caller can point at it inside a larger file. */
int cron_parse_at(const char *text, cron_expr **expr_out, int *column_out,
                  mc_error *err);
void cron_free(cron_expr *expr);                 /* NULL is a no-op */

/* The text the expression was parsed from; borrowed until cron_free. */
const char *cron_text(const cron_expr *expr);
/* True for a "wildcard" job in cronie's sense (minute or hour field starts
 * with '*', or @hourly): such jobs skip times in a DST gap and run twice in
 * a repeated hour.  Other jobs are "fixed-time".  See docs/scheduling.md. */
bool cron_is_wildcard(const cron_expr *expr);

/*
 * Loads an IANA zone such as "Europe/Berlin" from $TZDIR, else from
 * /usr/share/zoneinfo.  The name must be relative, without "..", and name a
 * TZif file; "UTC" always works, file or not.  An unknown or invalid zone is
 * an error (MC_EXIT_CONFIG): never a silent fallback to UTC.
 */
int cron_tz_load(const char *name, cron_tz **tz_out, mc_error *err);

/* What identifies the file cron_tz_load would read for `name` now (device,
 * inode, size, modification time, folded into one number): a tzdata upgrade
 * that replaces the file changes it. 0 for "UTC" (built in) and for a file
 * that cannot be read. */
uint64_t cron_tz_file_signature(const char *name);
/* Lower level, for tests, tools and fuzzing: a zone from the bytes of a
 * TZif file, or from a POSIX TZ rule string such as
 * "CET-1CEST,M3.5.0,M10.5.0/3".  name is only copied, for messages. */
int cron_tz_from_tzif(const char *name, const void *data, size_t size,
                      cron_tz **tz_out, mc_error *err);
int cron_tz_from_posix(const char *name, const char *rule, cron_tz **tz_out,
                       mc_error *err);
void cron_tz_free(cron_tz *tz);                  /* NULL is a no-op */
/* The name the zone was loaded by; borrowed until cron_tz_free. */
const char *cron_tz_name(const cron_tz *tz);

/* UTC offset in seconds east of Greenwich at instant utc. */
int cron_tz_offset(const cron_tz *tz, int64_t utc);

/* Wall-clock time in a zone.  utc is clamped to CRON_TIME_MIN..MAX. */
typedef struct cron_local {
    int year, month, day;      /* month 1-12, day 1-31 */
    int hour, minute, second;
    int wday;                  /* 0 = Sunday */
    int utoff;                 /* seconds east of UTC */
    bool isdst;
    char abbr[16];             /* "CEST", "+1030"; may be empty */
} cron_local;
void cron_tz_local(const cron_tz *tz, int64_t utc, cron_local *out);

/* The other way: the first instant at which the zone's clocks show local
 * wall time `local` (seconds since 1970-01-01 read as a wall-clock time,
 * e.g. 2026-03-29 02:30 -> 1774751400).  In a repeated hour that is the
 * first pass; for a time the clocks skip, the instant the gap ends. */
int64_t cron_tz_from_local(const cron_tz *tz, int64_t local);

/* "2026-03-29 03:00:00 CEST (+02:00)" into buf; returns what snprintf
 * returns.  CRON_LOCAL_LEN bytes are always enough. */
#define CRON_LOCAL_LEN 64
int cron_format_local(const cron_tz *tz, int64_t utc, char *buf, size_t size);

/*
 * The first instant strictly after after_utc at which a cronie daemon
 * running in zone tz would start the job: unix seconds on a local minute
 * boundary (a UTC minute boundary in every zone with whole-minute offsets,
 * i.e. every zone since the 1970s).  CRON_NEVER when nothing fires within
 * 400 years (146097 days) after after_utc nor before CRON_TIME_MAX, or when
 * after_utc lies outside CRON_TIME_MIN..MAX.
 */
int64_t cron_next(const cron_expr *expr, const cron_tz *tz, int64_t after_utc);

#endif
