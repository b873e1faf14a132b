/*
 * cron_internal.h — for schedules/cron.c and schedules/cron_zone.c only:
 * the calendar arithmetic both use (defined in cron.c), the character
 * classes the expression and POSIX TZ parsers share, and the zone lookups
 * cron.c's next-fire search needs (defined in cron_zone.c).  Everything
 * else includes cron.h.
 */
#ifndef MC_CRON_INTERNAL_H
#define MC_CRON_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cron.h"

#define SECS_PER_DAY INT64_C(86400)
/* 400 Gregorian years are exactly 146097 days, so "400 years from now" is
 * the same span wherever it starts. */
#define CRON_HORIZON (INT64_C(146097) * SECS_PER_DAY)

/* ---- calendar arithmetic on the proleptic Gregorian calendar (cron.c) ---- */

int64_t floor_div(int64_t a, int64_t b);
bool is_leap(int64_t y);
int days_in_month(int64_t y, int m);
/* Days since 1970-01-01 of a civil date, and back. */
int64_t days_from_civil(int64_t y, int m, int d);
void civil_from_days(int64_t z, int64_t *y_out, int *m_out, int *d_out);
/* 0 = Sunday. */
int weekday_of_days(int64_t days);

/* ASCII only, whatever the locale. */
bool is_digit(char c);
bool is_alpha(char c);

/* ---- zones (cron_zone.c) ---- */

struct tz_type {
    int32_t utoff;       /* seconds east of UTC */
    bool isdst;
    char abbr[16];
};

/* The local time type in effect at t. */
const struct tz_type *type_at(const cron_tz *tz, int64_t t);
/* The first offset change after t (limit when none comes before it), and the
 * last one at or before t (INT64_MIN when none). */
int64_t next_transition(const cron_tz *tz, int64_t t, int64_t limit);
int64_t prev_transition(const cron_tz *tz, int64_t t);

#endif
