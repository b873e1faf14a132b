/*
 * fuzz_cron.c — libFuzzer target for the cron engine.  An input is either
 * a TZif file (it starts with "TZif"), fed to the TZif reader and then
 * searched with a few fixed expressions, or
 *
 *     cron expression [ "\n" POSIX TZ rule ]
 *
 * parsed and, when it parses, searched a few times in that rule's zone or,
 * without one, in a real zone chosen by the input.  Besides the sanitizers,
 * it checks what every caller relies on: fires come strictly after the
 * instant searched from, on a local minute boundary, within 400 years, their
 * local time maps back to an instant no later than them, and an error always
 * says where.
 *
 * Not part of the meson build; see docs/scheduling.md for the commands.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../schedules/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HORIZON (INT64_C(146097) * 86400)

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_cron: invariant broken: %s\n", what);
        abort();
    }
}

/* Searches a few times from a start picked by seed and checks each fire. */
static void walk(const cron_expr *e, const cron_tz *tz, unsigned seed)
{
    static const int64_t starts[] = {
        INT64_C(1774738800),  /* 2026-03-28T23:00Z, before a European gap */
        INT64_C(1792888200),  /* 2026-10-25T00:30Z, inside a repeated hour */
        INT64_C(1775260800),  /* 2026-04-04, the southern hemisphere's autumn */
        0, INT64_C(-1), INT64_C(-2208988800),   /* 1970, 1969, 1900 */
        CRON_TIME_MIN, CRON_TIME_MAX - 3600, CRON_TIME_MAX, CRON_TIME_MAX + 1,
    };
    int64_t t = starts[seed % (sizeof starts / sizeof starts[0])];
    for (int i = 0; i < 4; i++) {
        int64_t next = cron_next(e, tz, t);
        if (next == CRON_NEVER)
            return;
        check(next > t, "fire not after the search start");
        check(next - t <= HORIZON, "fire beyond 400 years");
        check(next <= CRON_TIME_MAX, "fire beyond year 9999");
        int64_t local = next + cron_tz_offset(tz, next);
        check(local % 60 == 0, "fire not on a local minute boundary");
        if (local >= CRON_TIME_MIN && local <= CRON_TIME_MAX) {
            int64_t back = cron_tz_from_local(tz, local);
            check(back <= next && back + cron_tz_offset(tz, back) == local,
                  "local time does not map back to its first instant");
        }
        char buf[CRON_LOCAL_LEN];
        int n = cron_format_local(tz, next, buf, sizeof buf);
        check(n > 0 && (size_t)n < sizeof buf, "local time does not fit");
        t = next;
    }
}

static void fuzz_tzif(const uint8_t *data, size_t size)
{
    static const char *const exprs[] = {"30 2 * * *", "*/15 * * * *", "0 0 29 2 *"};
    cron_tz *tz = NULL;
    mc_error err = {0};
    if (cron_tz_from_tzif("fuzz", data, size, &tz, &err) < 0) {
        check(err.code == MC_EXIT_CONFIG, "tzif error without a config code");
        return;
    }
    for (unsigned i = 0; i < 3; i++) {
        cron_expr *e = NULL;
        check(cron_parse(exprs[i], &e, &err) == 0, "fixed expression rejected");
        walk(e, tz, (unsigned)size + i);
        cron_free(e);
    }
    cron_tz_free(tz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cron_tz *zones[4];
    static int loaded;
    if (!loaded) {
        static const char *const names[] = {
            "UTC", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago"};
        static const char *const rules[] = {
            "UTC0", "CET-1CEST,M3.5.0,M10.5.0/3", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
            "<-04>4<-03>,M9.1.6/24,M4.1.6/24"};
        mc_error err = {0};
        for (int i = 0; i < 4; i++)   /* the rules stand in where tzdata is missing */
            if (cron_tz_load(names[i], &zones[i], &err) < 0)
                cron_tz_from_posix(names[i], rules[i], &zones[i], &err);
        loaded = 1;
    }
    if (size >= 4 && memcmp(data, "TZif", 4) == 0) {
        fuzz_tzif(data, size);
        return 0;
    }
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *rule = memchr(text, '\n', size);
    if (rule)
        *rule++ = '\0';

    cron_expr *e = NULL;
    mc_error err = {0};
    int column = -1;
    if (cron_parse_at(text, &e, &column, &err) < 0) {
        check(e == NULL, "expression returned with an error");
        check(err.code == MC_EXIT_CONFIG, "parse error without a config code");
        check(column >= 1 && (size_t)column <= strlen(text) + 1, "column out of range");
        check(strchr(err.message, '\n') == NULL, "message spans lines");
        free(text);
        return 0;
    }
    check(strcmp(cron_text(e), text) == 0, "text not kept");
    cron_tz *tz = NULL;
    unsigned seed = 0;
    for (size_t i = 0; i < size; i++)
        seed = seed * 31 + data[i];
    if (rule && *rule) {
        if (cron_tz_from_posix(NULL, rule, &tz, &err) == 0) {
            walk(e, tz, seed);
            cron_tz_free(tz);
        }
    } else {
        walk(e, zones[seed % 4], seed / 4);
    }
    cron_free(e);
    free(text);
    return 0;
}
