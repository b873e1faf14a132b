/*
 * alerts.h — change alerts (SPEC §9; docs/alerts.md is the user's guide).
 *
 * An alerts object turns the config's alerts: into the store's outbox
 * rules, so that store_commit_run queues every recorded change an alert
 * wants in the run's own transaction.  alerts_deliver then sends what is
 * queued, oldest first, in batches, and marks a batch delivered only after
 * its sink accepted it.  A failed batch stays queued with its error for the
 * next crawl or `metacrawl alerts retry`.  Delivery is therefore at least
 * once: a batch is sent again only when the sink's success was not recorded
 * (a crash, or a success that could not be written to the store).
 *
 * The functions under "the pieces" are the filter, the JSON shapes and the
 * three sinks on their own, for the unit tests.
 */
#ifndef MC_ALERTS_H
#define MC_ALERTS_H

#include <stdio.h>

#include "config.h"
#include "store.h"

#define ALERTS_JSON_VERSION 3  /* of the delivery JSON, docs/alerts.md */
#define ALERTS_BATCH_MAX 500   /* changes per delivery */
#define ALERTS_SLACK_LINES 20  /* changes listed in a Slack message */
#define ALERTS_SLACK_IMPACT 10 /* views (and keys) named under a breaking change */
#define ALERTS_WEBHOOK_TRIES 3 /* attempts per webhook delivery in one run */
#define ALERTS_LOCK_WAIT_S 60  /* wait for another process's deliveries */

typedef struct alerts alerts;

/* Sets the outbox rules of st from c's alerts; c and st are borrowed and
 * must outlive the object.  Never fails. */
alerts *alerts_open(const cfg *c, store *st);
/* Clears the store's rules; NULL is a no-op. */
void alerts_close(alerts *a);

/* Delivers the pending deliveries of the configured alerts (of the named
 * ones when n_names > 0), oldest first.  An alert whose delivery failed is
 * not tried again by the same object: a crawl of ten datastores does not
 * wait for a dead webhook ten times.  Failures are recorded in the store
 * and in the outcomes, never returned: returns the number of alerts with a
 * failed delivery so far. */
size_t alerts_deliver(alerts *a, const char *const *names, size_t n_names);

/* What happened to one alert in this process (only alerts that had
 * something to deliver or failed are listed). */
typedef struct alerts_outcome {
    const char *alert;
    const char *sink;     /* "webhook", "file" or "command" */
    int64_t n_delivered;  /* changes delivered by this process */
    int64_t n_pending;    /* still queued after the last attempt */
    const char *error;    /* the last failure; NULL when none */
    int code;             /* exit code of that failure (3, 4 or 6); 0 */
} alerts_outcome;
size_t alerts_n_outcomes(const alerts *a);
const alerts_outcome *alerts_outcome_at(const alerts *a, size_t i);
/* The outcomes as a JSON array (crawl --json's "alerts"). */
void alerts_put_json(const alerts *a, mc_buf *b);
/* Failures on stderr ("metacrawl: error: alert ...: N changes not
 * delivered, kept queued" and a hint); deliveries on out unless NULL.
 * Returns the highest failure code, 0 when none. */
int alerts_report(const alerts *a, FILE *out);

/* ---- the pieces ----------------------------------------------------------- */

/* Whether alert a wants change ch of datastore (docs/alerts.md, "Filters"). */
bool alerts_match(const cfg_alert *a, const char *datastore,
                  const mc_change *ch);
const char *alerts_sink_name(const cfg_alert *a);

/* Change i of l as delivered: docs/changes.md's object with "id" first;
 * with alert non-NULL also "version" and "alert" (a JSON line). */
void alerts_json_change(mc_buf *b, const mc_delivery_list *l, size_t i,
                        const char *alert);
/* {"version":1,"alert":..,"changes":[...]}: command stdin, webhook json. */
void alerts_format_json(mc_buf *b, const char *alert, const mc_delivery_list *l);
/* One self-describing JSON object per change, each ending in "\n". */
void alerts_format_lines(mc_buf *b, const char *alert, const mc_delivery_list *l);
/* {"text": summary + the first ALERTS_SLACK_LINES changes}: webhook slack. */
void alerts_format_slack(mc_buf *b, const char *alert, const mc_delivery_list *l);

/* Appends data (whole lines) to path with one write and fsync; a last line
 * left unfinished by an older crash is ended first.  Created 0600. */
int alerts_append_file(const char *path, const char *data, size_t len,
                       mc_error *err);
/* Runs argv (no shell) with input on stdin, stdout discarded, stderr kept
 * for the error; killed (its process group) after timeout_s.  Success is
 * exit status 0. */
int alerts_run_command(char *const *argv, const char *input, size_t len,
                       int timeout_s, mc_error *err);
/* POSTs body as JSON: TLS verified, redirects refused, up to tries
 * attempts (timeouts, connection errors, 408, 429 and 5xx are retried). */
int alerts_post_webhook(const char *url, const char *body, size_t len,
                        int timeout_s, int tries, mc_error *err);

#endif
