/*
 * test_config.c — the configuration loader (crawler/config.c): every class
 * of bad input with the exact position and message a user sees, the
 * secret sources, defaults, and the starter file.  No network; the only
 * programs run are false(1) and printf(1), as password commands.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "config.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static mc_error err;

/* Loads text as "t.yml"; the cfg on success, NULL (and err set) on error. */
static cfg *load(const char *text)
{
    cfg *c = NULL;
    mc_error_clear(&err);
    int rc = cfg_load_string("t.yml", text, strlen(text), &c, &err);
    if (rc == 0) {
        cr_assert_not_null(c);
        cr_assert_eq(err.code, 0);
    } else {
        cr_assert_null(c);
    }
    return c;
}

/* The load fails with exactly this message; with this hint, or (hint NULL)
 * at least some hint, since every error says what to do next. */
static void expect_error(const char *text, const char *message, const char *hint)
{
    cfg *c = load(text);
    cr_assert_null(c, "loaded, expected: %s", message);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    cr_assert_str_eq(err.message, message);
    if (hint)
        cr_assert_str_eq(err.hint, hint);
    else
        cr_assert_neq(err.hint[0], '\0', "no hint for: %s", err.message);
}

/* A valid datastore to which each test appends the key under test, at
 * the datastore's indentation (4 spaces), from line 5 on. */
#define DS                                                                     \
    "datastores:\n"                                                            \
    "  - name: analytics\n"                                                    \
    "    host: db.example.com\n"                                               \
    "    database: dev\n"

/* A private directory for tests that need real files; removed by the
 * test's own cleanup of the names it created. */
static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mc-test-config-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static char *tmp_path(const char *name)
{
    return mc_asprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

/* ---- the full example and defaults --------------------------------------- */

static const char spec_example[] =
    "store: ./catalog.db                 # SQLite catalog; created on first use\n"
    "defaults:\n"
    "  timezone: UTC\n"
    "  connect_timeout: 10s\n"
    "  statement_timeout: 5m\n"
    "datastores:\n"
    "  - name: analytics                 # [a-z0-9_-]+, unique\n"
    "    host: examplecluster.abc123.us-east-1.redshift.amazonaws.com\n"
    "    port: 5439                      # default 5439\n"
    "    database: dev\n"
    "    user: metamapper\n"
    "    password: ${env:REDSHIFT_PASSWORD}        # or ${file:/run/secrets/pw}; or:\n"
    "    # password_command: [vault, kv, get, -field=password, secret/redshift]\n"
    "    sslmode: require                # libpq sslmode\n"
    "    schemas: { include: [public, \"sales_*\"], exclude: [\"tmp_*\"] }\n"
    "    containers: { exclude: [\"*_bak\", \"*_tmp\"] }\n"
    "    tunnel:                         # omit for a direct connection\n"
    "      host: bastion.example.com\n"
    "      port: 22\n"
    "      user: ec2-user\n"
    "      private_key: ~/.ssh/id_ed25519\n"
    "      passphrase: ${env:BASTION_KEY_PASSPHRASE}\n"
    "      agent: false                  # use ssh-agent instead of a key file\n"
    "      known_hosts: ~/.ssh/known_hosts\n"
    "      host_key_policy: strict       # strict | accept-new (never \"off\")\n"
    "      jump: []                      # further hops\n"
    "    schedule: \"0 */6 * * *\"         # cron, 5 fields or a macro\n"
    "    timezone: Europe/Berlin\n"
    "    fail_safe: { max_removed_pct: 20 }   # refuse to record mass removals\n"
    "alerts:\n"
    "  - name: slack\n"
    "    on: [container_removed, field_removed, field_changed]   # default all\n"
    "    match: [\"analytics.public.*\"]\n"
    "    webhook: https://hooks.slack.com/services/...           # POST JSON\n"
    "  - name: log\n"
    "    file: /var/log/metacrawl/changes.jsonl                   # append JSON lines\n"
    "  - name: page\n"
    "    command: [/usr/local/bin/notify, --team, data]           # JSON on stdin\n";

Test(config, spec_example_loads)
{
    setenv("HOME", "/home/crawler", 1);
    setenv("REDSHIFT_PASSWORD", "pw", 1);
    setenv("BASTION_KEY_PASSPHRASE", "pp", 1);
    cfg *c = load(spec_example);
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_str_eq(c->path, "t.yml");
    cr_assert_str_eq(c->store, "./catalog.db");
    cr_assert_str_eq(c->timezone, "UTC");
    cr_assert_eq(c->connect_timeout_s, 10);
    cr_assert_eq(c->statement_timeout_ms, 300000);

    cr_assert_eq(c->n_datastores, 1);
    const cfg_datastore *d = cfg_find_datastore(c, "analytics");
    cr_assert_eq(d, &c->datastores[0]);
    cr_assert_null(cfg_find_datastore(c, "other"));
    cr_assert_str_eq(d->host, "examplecluster.abc123.us-east-1.redshift.amazonaws.com");
    cr_assert_eq(d->port, 5439);
    cr_assert_str_eq(d->database, "dev");
    cr_assert_str_eq(d->user, "metamapper");
    cr_assert_eq(d->password.kind, CFG_SECRET_ENV);
    cr_assert_str_eq(d->password.ref, "REDSHIFT_PASSWORD");
    cr_assert_eq(d->password.pos.line, 12);
    cr_assert_eq(d->password.pos.column, 5);
    cr_assert_str_eq(d->sslmode, "require");
    cr_assert_eq(d->schemas.n_include, 2);
    cr_assert_str_eq(d->schemas.include[1], "sales_*");
    cr_assert_null(d->schemas.include[2]);
    cr_assert_eq(d->schemas.n_exclude, 1);
    cr_assert_eq(d->containers.n_include, 0);
    cr_assert_eq(d->containers.n_exclude, 2);
    cr_assert(cfg_globs_match(&d->schemas, "sales_eu"));
    cr_assert_not(cfg_globs_match(&d->schemas, "tmp_x"));
    cr_assert_not(cfg_globs_match(&d->schemas, "finance"));
    cr_assert(cfg_globs_match(&d->containers, "orders"));
    cr_assert_not(cfg_globs_match(&d->containers, "orders_bak"));

    const cfg_tunnel *t = &d->tunnel;
    cr_assert(t->present);
    cr_assert_str_eq(t->first.host, "bastion.example.com");
    cr_assert_eq(t->first.port, 22);
    cr_assert_str_eq(t->first.user, "ec2-user");
    cr_assert_str_eq(t->first.private_key, "/home/crawler/.ssh/id_ed25519");
    cr_assert_eq(t->first.passphrase.kind, CFG_SECRET_ENV);
    cr_assert_eq(t->first.password.kind, CFG_SECRET_NONE);
    cr_assert_not(t->first.agent);
    cr_assert_str_eq(t->first.known_hosts, "/home/crawler/.ssh/known_hosts");
    cr_assert_eq(t->first.host_key_policy, CFG_HOST_KEY_STRICT);
    cr_assert_eq(t->first.pos.line, 18);
    cr_assert_eq(t->first.pos.column, 7);
    cr_assert_eq(t->n_jump, 0);
    cr_assert_eq(t->keepalive_s, 30);

    cr_assert_str_eq(d->schedule, "0 */6 * * *");
    cr_assert_eq(d->schedule_pos.line, 27);
    cr_assert_eq(d->schedule_pos.column, 16);
    cr_assert_str_eq(d->timezone, "Europe/Berlin");
    cr_assert_float_eq(d->max_removed_pct, 20.0, 1e-9);
    cr_assert_eq(d->connect_timeout_s, 10);
    cr_assert_eq(d->statement_timeout_ms, 300000);
    cr_assert_eq(d->pos.line, 7);
    cr_assert_eq(d->pos.column, 5);

    cr_assert_eq(c->n_alerts, 3);
    const cfg_alert *a = &c->alerts[0];
    cr_assert_str_eq(a->name, "slack");
    cr_assert_eq(a->on_mask, (1u << MC_CONTAINER_REMOVED) | (1u << MC_FIELD_REMOVED) |
                                 (1u << MC_FIELD_CHANGED));
    cr_assert_eq(a->n_match, 1);
    cr_assert_str_eq(a->match[0], "analytics.public.*");
    cr_assert_str_eq(a->webhook, "https://hooks.slack.com/services/...");
    cr_assert_str_eq(a->format, "json");
    cr_assert_eq(a->timeout_s, 10);
    cr_assert_not(a->breaking_only);
    cr_assert_str_eq(c->alerts[1].file, "/var/log/metacrawl/changes.jsonl");
    cr_assert_eq(c->alerts[1].on_mask, (1u << MC_CHANGE__COUNT) - 1);
    cr_assert_null(c->alerts[1].format);
    cr_assert_eq(c->alerts[2].n_command, 3);
    cr_assert_str_eq(c->alerts[2].command[0], "/usr/local/bin/notify");
    cr_assert_null(c->alerts[2].command[3]);
    cfg_free(c);
}

Test(config, defaults_applied)
{
    cfg *c = load(DS "alerts:\n  - name: hook\n    webhook: https://example.com/x\n");
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_str_eq(c->store, "./catalog.db");
    cr_assert_str_eq(c->timezone, "UTC");
    cr_assert_eq(c->connect_timeout_s, 10);
    cr_assert_eq(c->statement_timeout_ms, 300000);
    const cfg_datastore *d = &c->datastores[0];
    cr_assert_eq(d->port, 5439);
    cr_assert_str_eq(d->user, "metamapper");
    cr_assert_eq(d->password.kind, CFG_SECRET_NONE); /* libpq's own */
    cr_assert_null(d->sslmode);                      /* libpq's own / PGSSLMODE */
    cr_assert_null(d->schedule);
    cr_assert_str_eq(d->timezone, "UTC");
    cr_assert_eq(d->connect_timeout_s, 10);
    cr_assert_eq(d->statement_timeout_ms, 300000);
    cr_assert_eq(c->max_runtime_s, 3600);
    cr_assert_eq(d->max_runtime_s, 3600);
    cr_assert_float_eq(d->max_removed_pct, 20.0, 1e-9);
    cr_assert_not(d->tunnel.present);
    cr_assert_null(d->schemas.include);
    cr_assert(cfg_globs_match(&d->schemas, "anything"));
    const cfg_alert *a = &c->alerts[0];
    cr_assert_eq(a->on_mask, (1u << MC_CHANGE__COUNT) - 1);
    cr_assert_str_eq(a->format, "json");
    cr_assert_eq(a->timeout_s, 10);
    cfg_free(c);
}

Test(config, defaults_inherited_and_overridden)
{
    cfg *c = load("defaults:\n"
                  "  timezone: America/New_York\n"
                  "  connect_timeout: 30\n"
                  "  statement_timeout: 1h\n"
                  "  max_runtime: 2h\n"
                  DS
                  "  - name: other\n"
                  "    host: h\n"
                  "    database: d\n"
                  "    timezone: Asia/Tokyo\n"
                  "    connect_timeout: 1500ms\n"
                  "    statement_timeout: 0\n"
                  "    max_runtime: 0\n");
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_str_eq(c->datastores[0].timezone, "America/New_York");
    cr_assert_eq(c->datastores[0].connect_timeout_s, 30);
    cr_assert_eq(c->datastores[0].statement_timeout_ms, 3600000);
    cr_assert_str_eq(c->datastores[1].timezone, "Asia/Tokyo");
    cr_assert_eq(c->datastores[1].connect_timeout_s, 2); /* whole seconds, rounded up */
    cr_assert_eq(c->datastores[1].statement_timeout_ms, 0);
    cr_assert_eq(c->datastores[0].max_runtime_s, 7200);
    cr_assert_eq(c->datastores[1].max_runtime_s, 0);
    cfg_free(c);
}

Test(config, durations)
{
    cr_assert_eq(cfg_parse_duration_ms("10s"), 10000);
    cr_assert_eq(cfg_parse_duration_ms("5m"), 300000);
    cr_assert_eq(cfg_parse_duration_ms("1h"), 3600000);
    cr_assert_eq(cfg_parse_duration_ms("250ms"), 250);
    cr_assert_eq(cfg_parse_duration_ms("2d"), 172800000);
    cr_assert_eq(cfg_parse_duration_ms("45"), 45000);
    cr_assert_eq(cfg_parse_duration_ms("0"), 0);
    cr_assert_eq(cfg_parse_duration_ms("1h30m"), 5400000);
    cr_assert_eq(cfg_parse_duration_ms(""), -1);
    cr_assert_eq(cfg_parse_duration_ms(NULL), -1);
    cr_assert_eq(cfg_parse_duration_ms("s"), -1);
    cr_assert_eq(cfg_parse_duration_ms("10 s"), -1);
    cr_assert_eq(cfg_parse_duration_ms("1.5s"), -1);
    cr_assert_eq(cfg_parse_duration_ms("-5s"), -1);
    cr_assert_eq(cfg_parse_duration_ms("10x"), -1);
    cr_assert_eq(cfg_parse_duration_ms("99999999999999999999d"), -1);

    cfg *c = load(DS "    tunnel:\n"
                     "      host: b\n"
                     "      user: u\n"
                     "      agent: yes\n"
                     "      keepalive: 1m\n");
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_eq(c->datastores[0].tunnel.keepalive_s, 60);
    cr_assert(c->datastores[0].tunnel.first.agent);
    cfg_free(c);
}

Test(config, tilde_expansion)
{
    setenv("HOME", "/home/crawler/", 1); /* a trailing slash is not doubled */
    cfg *c = load("store: ~/metacrawl/catalog.db\n"
                  DS "    tunnel:\n"
                  "      host: b\n"
                  "      user: u\n"
                  "      private_key: ~/.ssh/id_ed25519\n"
                  "      jump:\n"
                  "        - host: c\n"
                  "          user: v\n"
                  "          private_key: /etc/keys/hop\n"
                  "          known_hosts: ~/hops_known\n"
                  "alerts:\n"
                  "  - name: log\n"
                  "    file: ~/changes.jsonl\n");
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_str_eq(c->store, "/home/crawler/metacrawl/catalog.db");
    const cfg_tunnel *t = &c->datastores[0].tunnel;
    cr_assert_str_eq(t->first.private_key, "/home/crawler/.ssh/id_ed25519");
    cr_assert_str_eq(t->first.known_hosts, "/home/crawler/.ssh/known_hosts");
    cr_assert_eq(t->n_jump, 1);
    cr_assert_str_eq(t->jump[0].host, "c");
    cr_assert_eq(t->jump[0].port, 22);
    cr_assert_str_eq(t->jump[0].private_key, "/etc/keys/hop");
    cr_assert_str_eq(t->jump[0].known_hosts, "/home/crawler/hops_known");
    cr_assert_eq(t->jump[0].pos.line, 11);
    cr_assert_eq(t->jump[0].pos.column, 11);
    cr_assert_str_eq(c->alerts[0].file, "/home/crawler/changes.jsonl");
    cfg_free(c);

    expect_error(DS "    tunnel:\n      host: b\n      user: u\n      private_key: ~bob/.ssh/id\n",
                 "t.yml:8:20: '~user' paths are not supported in 'private_key'",
                 "write the full path, or ~/ for your own home");
    unsetenv("HOME");
    expect_error(DS "    tunnel:\n      host: b\n      user: u\n      private_key: ~/.ssh/id\n",
                 "t.yml:8:20: cannot expand '~' in 'private_key': HOME is not set",
                 "write the full path");
}

/* ---- unknown, missing, duplicate keys ------------------------------------ */

Test(config, unknown_key_with_suggestion)
{
    expect_error(DS "    hots: db.example.com\n",
                 "t.yml:5:5: unknown key 'hots' in a datastore", "did you mean 'host'?");
    expect_error(DS "    Port: 5439\n", "t.yml:5:5: unknown key 'Port' in a datastore",
                 "did you mean 'port'?");
    expect_error(DS "    password-command: [x]\n",
                 "t.yml:5:5: unknown key 'password-command' in a datastore",
                 "did you mean 'password_command'?");
    expect_error(DS "    tunnel:\n      host: b\n      usr: u\n",
                 "t.yml:7:7: unknown key 'usr' in 'tunnel'", "did you mean 'user'?");
    expect_error(DS "    schemas: { includes: [public] }\n",
                 "t.yml:5:16: unknown key 'includes' in 'schemas'", "did you mean 'include'?");
    expect_error("datastore:\n  - name: a\n", "t.yml:1:1: unknown key 'datastore' at the top level",
                 "did you mean 'datastores'?");
}

Test(config, unknown_key_without_suggestion)
{
    expect_error("store: x\nversion: 2\n", "t.yml:2:1: unknown key 'version' at the top level",
                 "the keys here are: store, defaults, datastores, alerts, scheduler");
    expect_error("defaults:\n  retries: 3\n", "t.yml:2:3: unknown key 'retries' in 'defaults'",
                 "the keys here are: timezone, connect_timeout, statement_timeout, max_runtime, "
                 "stale_after");
    /* A hop has no jump or keepalive of its own. */
    expect_error(DS "    tunnel:\n      host: b\n      user: u\n      agent: true\n"
                    "      jump:\n        - host: c\n          user: v\n          keepalive: 5s\n",
                 "t.yml:12:11: unknown key 'keepalive' in a jump hop", NULL);
}

Test(config, missing_required_key)
{
    expect_error("datastores:\n  - name: analytics\n    database: dev\n",
                 "t.yml:2:5: missing required key 'host' in datastore 'analytics'",
                 "add 'host: ...'; docs/configuration.md describes every key");
    expect_error("datastores:\n  - host: h\n    database: dev\n",
                 "t.yml:2:5: missing required key 'name' in a datastore", NULL);
    expect_error(DS "    tunnel:\n      host: b\n      agent: true\n",
                 "t.yml:6:7: missing required key 'user' in 'tunnel'", NULL);
    /* A key with no value at all: reported at the key. */
    expect_error(DS "    tunnel:\n", "t.yml:5:5: missing required key 'host' in 'tunnel'", NULL);
    expect_error("alerts:\n  - file: /tmp/x\n", "t.yml:2:5: missing required key 'name' in an alert",
                 NULL);
}

Test(config, duplicate_key)
{
    expect_error(DS "    port: 5439\n    port: 5440\n",
                 "t.yml:6:5: duplicate key 'port' (the first is at line 5, column 5)",
                 "a key may appear once in a mapping; remove one of them");
    expect_error("store: a\nstore: b\n",
                 "t.yml:2:1: duplicate key 'store' (the first is at line 1, column 1)", NULL);
}

/* ---- wrong types and values ------------------------------------------------ */

Test(config, wrong_type)
{
    expect_error(DS "    port: abc\n", "t.yml:5:11: expected an integer for 'port', got 'abc'",
                 "write a whole number, without quotes or units");
    expect_error(DS "    port: 5439.5\n", "t.yml:5:11: expected an integer for 'port', got '5439.5'",
                 NULL);
    expect_error(DS "    port: [5439]\n", "t.yml:5:11: expected an integer for 'port', got a list",
                 NULL);
    expect_error(DS "    port: 70000\n", "t.yml:5:11: 'port' must be between 1 and 65535, got 70000",
                 "remove 'port' to get the default, 5439");
    expect_error(DS "    schemas: { include: public }\n",
                 "t.yml:5:25: expected a list for 'include', got 'public'",
                 "write a list: [a, b] on one line, or one '- item' per line");
    expect_error(DS "    schemas: [public]\n",
                 "t.yml:5:14: expected a mapping for 'schemas', got a list", NULL);
    expect_error("datastores: analytics\n",
                 "t.yml:1:13: expected a list for 'datastores', got 'analytics'", NULL);
    expect_error("datastores:\n  - analytics\n",
                 "t.yml:2:5: expected a mapping for each item of 'datastores', got 'analytics'",
                 NULL);
    expect_error(DS "    schedule: { cron: x }\n",
                 "t.yml:5:15: expected a string for 'schedule', got a mapping", NULL);
    expect_error(DS "    schedule:\n", "t.yml:5:5: 'schedule' has no value",
                 "write a value after 'schedule:', or remove the key");
    expect_error(DS "    user: \"\"\n", "t.yml:5:11: 'user' is empty", NULL);
    expect_error(DS "    tunnel:\n      host: b\n      user: u\n      agent: maybe\n",
                 "t.yml:8:14: expected true or false for 'agent', got 'maybe'",
                 "write true or false (yes/no and on/off work too)");
    expect_error(DS "    statement_timeout: soon\n",
                 "t.yml:5:24: expected a duration for 'statement_timeout', got 'soon'",
                 "write a number and a unit: 250ms, 10s, 5m, 1h, 2d (a bare number is seconds)");
    expect_error(DS "    connect_timeout: 2h\n",
                 "t.yml:5:22: 'connect_timeout' must be between 1s and 1h, got '2h'", NULL);
    expect_error(DS "    fail_safe: { max_removed_pct: 150 }\n",
                 "t.yml:5:35: 'max_removed_pct' must be between 0 and 100, got '150'",
                 "remove 'max_removed_pct' to get the default, 20");
    expect_error(DS "    sslmode: requre\n",
                 "t.yml:5:14: expected one of disable, allow, prefer, require, verify-ca, "
                 "verify-full for 'sslmode', got 'requre'",
                 "did you mean 'require'?");
    expect_error(DS "    name2: x\n    host2: y\n", "t.yml:5:5: unknown key 'name2' in a datastore",
                 "did you mean 'name'?");
}

/* A value quoted back is cut short and kept on one line. */
Test(config, long_values_are_shortened_in_messages)
{
    static const char prefix[] = "t.yml:5:11: expected an integer for 'port', got 'aaaaaaaaaa";
    cr_assert_null(load(DS "    port: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"));
    cr_assert_eq(strncmp(err.message, prefix, sizeof prefix - 1), 0, "%s", err.message);
    size_t len = strlen(err.message);
    cr_assert_lt(len, 120);
    cr_assert_str_eq(err.message + len - 4, "...'");

    cr_assert_null(load(DS "    port: \"12\\n34\"\n"));
    cr_assert_str_eq(err.message, "t.yml:5:11: expected an integer for 'port', got '12?34'");
}

Test(config, duplicate_datastore_name)
{
    expect_error(DS "  - name: analytics\n    host: other\n    database: dev\n",
                 "t.yml:5:11: duplicate datastore name 'analytics' (the first is at line 2, column 11)",
                 "datastore names must be unique; rename one of them");
    expect_error("alerts:\n  - name: a\n    file: /x\n  - name: a\n    file: /y\n",
                 "t.yml:4:11: duplicate alert name 'a' (the first is at line 2, column 11)", NULL);
}

Test(config, invalid_datastore_name)
{
    expect_error("datastores:\n  - name: Analytics DB\n    host: h\n    database: d\n",
                 "t.yml:2:11: invalid datastore name 'Analytics DB': use lower-case letters, "
                 "digits, '_' and '-'",
                 NULL);
    expect_error("datastores:\n  - name: \"\"\n    host: h\n    database: d\n",
                 "t.yml:2:11: invalid datastore name '': use lower-case letters, digits, '_' and '-'",
                 NULL);
    cfg *c = load("datastores:\n  - name: dw_2-eu\n    host: h\n    database: d\n");
    cr_assert_not_null(c, "%s", err.message);
    cfg_free(c);
}

Test(config, bad_glob)
{
    expect_error(DS "    schemas: { include: [public, \"sales_[ab\"] }\n",
                 "t.yml:5:34: bad glob 'sales_[ab' in 'include': '[' without a closing ']'",
                 "globs use * ? [abc] [a-z] [!x]; a backslash makes the next character literal");
    expect_error("alerts:\n  - name: a\n    file: /x\n    match: [\"x\\\\\"]\n",
                 "t.yml:4:13: bad glob 'x\\' in 'match': pattern ends with a lone backslash", NULL);
}

/* ---- files that are not a config ---------------------------------------- */

Test(config, empty_file)
{
    expect_error("", "t.yml:1:1: the configuration file is empty",
                 "run `metacrawl init` to write a commented starter file");
    expect_error("# nothing here yet\n\n", "t.yml:1:1: the configuration file is empty", NULL);
    expect_error("---\n", "t.yml:1:1: the configuration file is empty", NULL);
}

Test(config, not_yaml)
{
    expect_error("store: ./catalog.db\ndatastores: [a, b\n",
                 "t.yml:3:1: not valid YAML: did not find expected ',' or ']' "
                 "(while parsing a flow sequence at line 2)",
                 NULL);
    expect_error("store: x\n  defaults: y\n",
                 "t.yml:2:11: not valid YAML: mapping values are not allowed in this context", NULL);
    /* Tabs: libyaml's message does not say so, the hint does. */
    expect_error("datastores:\n\t- name: a\n",
                 "t.yml:2:1: not valid YAML: found character that cannot start any token "
                 "(while scanning for the next token at line 2)",
                 "YAML does not allow tabs for indentation; indent with spaces");
    /* Not text at all. */
    expect_error("store: x\nkey: \"\xc3\x28\"\n",
                 "t.yml:2:8: not a YAML text file: invalid trailing UTF-8 octet", NULL);
    static const char binary[] = "\x7f" "ELF\x02\x01\x01\x00\x00";
    cfg *c = NULL;
    mc_error_clear(&err);
    cr_assert_eq(cfg_load_string("t.yml", binary, sizeof binary - 1, &c, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    cr_assert_str_eq(err.message, "t.yml:1:1: not a YAML text file: control characters are not allowed");
}

Test(config, top_level_not_a_mapping)
{
    expect_error("- name: analytics\n",
                 "t.yml:1:1: the top level must be a mapping of keys (store, defaults, datastores, "
                 "alerts), got a list",
                 "is this the right file? `metacrawl init` writes a starter file");
    expect_error("hello world\n",
                 "t.yml:1:1: the top level must be a mapping of keys (store, defaults, datastores, "
                 "alerts), got 'hello world'",
                 NULL);
}

Test(config, second_document)
{
    expect_error("store: a\n---\nstore: b\n",
                 "t.yml:3:1: a second YAML document; the configuration is one document", NULL);
}

Test(config, nonexistent_file)
{
    make_tmpdir();
    char *path = tmp_path("metacrawl.yml");
    cfg *c = NULL;
    mc_error_clear(&err);
    cr_assert_eq(cfg_load(path, &c, &err), -1);
    cr_assert_null(c);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    char *want = mc_asprintf("%s: cannot read the configuration: no such file or directory", path);
    cr_assert_str_eq(err.message, want);
    cr_assert(strstr(err.hint, "metacrawl init") && strstr(err.hint, "-c FILE"), "%s", err.hint);
    free(want);

    /* A directory is not a config file either. */
    mc_error_clear(&err);
    cr_assert_eq(cfg_load(tmpdir, &c, &err), -1);
    cr_assert(strstr(err.message, "it is a directory"), "%s", err.message);
    free(path);
    rmdir(tmpdir);
}

Test(config, real_file_names_itself_in_errors)
{
    make_tmpdir();
    char *path = tmp_path("metacrawl.yml");
    write_file(path, DS "    port: abc\n", 0600);
    cfg *c = NULL;
    mc_error_clear(&err);
    cr_assert_eq(cfg_load(path, &c, &err), -1);
    char *want = mc_asprintf("%s:5:11: expected an integer for 'port', got 'abc'", path);
    cr_assert_str_eq(err.message, want);
    free(want);

    write_file(path, "", 0600);
    mc_error_clear(&err);
    cr_assert_eq(cfg_load(path, &c, &err), -1);
    want = mc_asprintf("%s:1:1: the configuration file is empty", path);
    cr_assert_str_eq(err.message, want);
    free(want);

    write_file(path, DS, 0600);
    mc_error_clear(&err);
    cr_assert_eq(cfg_load(path, &c, &err), 0, "%s", err.message);
    cr_assert_str_eq(c->path, path);
    cfg_free(c);
    unlink(path);
    free(path);
    rmdir(tmpdir);
}

/* A literal secret in a file others can read loads, with a warning. */
Test(config, literal_secret_in_readable_file_warns, .init = cr_redirect_stderr)
{
    make_tmpdir();
    char *path = tmp_path("metacrawl.yml");
    write_file(path, DS "    password: literal-pw\n", 0644);
    cfg *c = NULL;
    mc_error_clear(&err);
    cr_assert_eq(cfg_load(path, &c, &err), 0, "%s", err.message);
    cfg_free(c);
    write_file(path, DS "    password: literal-pw\n", 0600);
    cr_assert_eq(cfg_load(path, &c, &err), 0, "%s", err.message); /* private: no warning */
    cfg_free(c);
    fflush(stderr);
    char *want = mc_asprintf("metacrawl: warning: %s holds a literal secret and other users can "
                             "read it; chmod 600 it, or use ${env:NAME} or ${file:PATH}\n",
                             path);
    cr_assert_stderr_eq_str(want);
    free(want);
    unlink(path);
    free(path);
    rmdir(tmpdir);
}

/* ---- tunnels ---------------------------------------------------------------- */

Test(config, host_key_policy_cannot_be_off)
{
    static const char *const offs[] = {"off", "no", "false", "none", "insecure", "ignore",
                                       "disabled", "accept-all", "Off", "NO"};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        char *text = mc_asprintf(DS "    tunnel:\n      host: b\n      user: u\n      agent: true\n"
                                    "      host_key_policy: %s\n", offs[i]);
        char *want = mc_asprintf("t.yml:9:24: host key verification cannot be switched off: "
                                 "'host_key_policy' is strict or accept-new, got '%s'", offs[i]);
        expect_error(text, want,
                     "accept-new records the key of a host seen for the first time and still "
                     "refuses a changed one; or add the host's key to known_hosts "
                     "(ssh-keyscan HOST, then compare its fingerprint)");
        free(text);
        free(want);
    }
    expect_error(DS "    tunnel:\n      host: b\n      user: u\n      agent: true\n"
                    "      host_key_policy: accept_new\n",
                 "t.yml:9:24: expected strict or accept-new for 'host_key_policy', got 'accept_new'",
                 "did you mean 'accept-new'?");
    expect_error(DS "    tunnel:\n      host: b\n      user: u\n      agent: true\n"
                    "      host_key_policy: paranoid\n",
                 "t.yml:9:24: expected strict or accept-new for 'host_key_policy', got 'paranoid'",
                 "strict checks known_hosts; accept-new also records the key of a host seen for "
                 "the first time");
    cfg *c = load(DS "    tunnel:\n      host: b\n      user: u\n      agent: true\n"
                     "      host_key_policy: accept-new\n");
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_eq(c->datastores[0].tunnel.first.host_key_policy, CFG_HOST_KEY_ACCEPT_NEW);
    cfg_free(c);
}

Test(config, tunnel_needs_authentication)
{
    expect_error(DS "    tunnel:\n      host: bastion\n      user: u\n",
                 "t.yml:6:7: no way to authenticate to ssh host 'bastion'",
                 "set private_key, agent: true (use ssh-agent) or password");
    expect_error(DS "    tunnel:\n      host: b\n      user: u\n      agent: true\n"
                    "      jump:\n        - { host: hop2, user: v }\n",
                 "t.yml:10:11: no way to authenticate to ssh host 'hop2'", NULL);
    setenv("PP", "x", 1);
    expect_error(DS "    tunnel:\n      host: b\n      user: u\n      agent: true\n"
                    "      passphrase: ${env:PP}\n",
                 "t.yml:9:7: 'passphrase' is set but 'private_key' is not", NULL);
}

/* ---- secrets ---------------------------------------------------------------- */

Test(config, unset_variable)
{
    unsetenv("MC_TEST_UNSET");
    expect_error(DS "    password: ${env:MC_TEST_UNSET}\n",
                 "t.yml:5:5: environment variable MC_TEST_UNSET is not set",
                 "export MC_TEST_UNSET before running metacrawl (for cron or systemd, set it in "
                 "the job's environment), or use ${file:PATH} or password_command");
    setenv("MC_TEST_EMPTY", "", 1);
    expect_error(DS "    password: ${env:MC_TEST_EMPTY}\n",
                 "t.yml:5:5: environment variable MC_TEST_EMPTY is empty", NULL);
}

Test(config, unreadable_file)
{
    expect_error(DS "    password: ${file:/nonexistent/metacrawl/pw}\n",
                 "t.yml:5:5: cannot read /nonexistent/metacrawl/pw: no such file or directory",
                 "the file must exist and be readable by the user metacrawl runs as");
    expect_error(DS "    password: ${file:/}\n", "t.yml:5:5: cannot read /: it is a directory",
                 NULL);
}

Test(config, unsupported_reference)
{
    /* The value is never quoted back: it might be a literal secret. */
    expect_error(DS "    password: ${vault:hunter2}\n",
                 "t.yml:5:15: 'password' has an unsupported ${...} reference", NULL);
    expect_error(DS "    password: ${env:}\n",
                 "t.yml:5:15: 'password' has an unsupported ${...} reference", NULL);
    expect_error(DS "    password: pre${env:X}\n",
                 "t.yml:5:15: 'password' has an unsupported ${...} reference", NULL);
    expect_error(DS "    password: ${env:X}${env:Y}\n",
                 "t.yml:5:15: 'password' has an unsupported ${...} reference", NULL);
    expect_error(DS "    password: \"\"\n", "t.yml:5:15: 'password' is empty",
                 "an empty secret is never used; remove the key to go without");
    expect_error(DS "    password:\n", "t.yml:5:5: 'password' has no value", NULL);
    expect_error(DS "    password: [vault, read]\n",
                 "t.yml:5:15: expected a string for 'password', got a list",
                 "write ${env:NAME}, ${file:PATH} or the value itself; to run a program, use "
                 "password_command: [argv...]");
}

Test(config, password_and_password_command)
{
    expect_error(DS "    password: ${env:HOME}\n    password_command: [printf, x]\n",
                 "t.yml:6:5: 'password' and 'password_command' cannot both be set",
                 "keep one of them");
    expect_error(DS "    password_command: [printf, x]\n    password: literal\n",
                 "t.yml:6:5: 'password' and 'password_command' cannot both be set", NULL);
    expect_error(DS "    password_command: []\n",
                 "t.yml:5:23: 'password_command' is empty: it needs at least the program to run",
                 NULL);
    expect_error(DS "    password_command: vault\n",
                 "t.yml:5:23: expected a list for 'password_command', got 'vault'", NULL);
}

Test(config, secret_never_in_messages)
{
    static const char secret[] = "hunter2-S3cret";
    /* A literal password, and a mistake elsewhere in the same datastore. */
    cfg *c = load(DS "    password: hunter2-S3cret\n    port: abc\n");
    cr_assert_null(c);
    cr_assert_str_eq(err.message, "t.yml:6:11: expected an integer for 'port', got 'abc'");
    cr_assert_null(strstr(err.message, secret));
    cr_assert_null(strstr(err.hint, secret));
    /* Mistakes in the secret's own value. */
    static const char *const texts[] = {
        DS "    password: ${hunter2-S3cret}\n",
        DS "    password: \"hunter2-S3cret${\"\n",
        DS "    tunnel:\n      host: b\n      user: u\n      password: ${file:hunter2-S3cret\n",
        DS "    password: hunter2-S3cret\n    password_command: [x]\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cr_assert_null(load(texts[i]));
        cr_assert_null(strstr(err.message, secret), "%s", err.message);
        cr_assert_null(strstr(err.hint, secret), "%s", err.hint);
    }
    /* The literal is kept for use, and wiped by cfg_free. */
    c = load(DS "    password: hunter2-S3cret\n");
    cr_assert_not_null(c);
    cr_assert_eq(c->datastores[0].password.kind, CFG_SECRET_LITERAL);
    mc_secret s = {0};
    cr_assert_eq(cfg_secret_resolve(&c->datastores[0].password, &s, &err), 0);
    cr_assert_str_eq(s.value, secret);
    mc_secret_wipe(&s);
    cfg_free(c);
}

Test(config, resolve_env_and_file)
{
    make_tmpdir();
    char *pw = tmp_path("pw");
    write_file(pw, "file-secret\r\n", 0600);
    setenv("MC_TEST_PW", "env-secret", 1);
    setenv("HOME", tmpdir, 1);
    cfg *c = load(DS "    password: ${env:MC_TEST_PW}\n"
                  "  - name: second\n    host: h\n    database: d\n    password: ${file:~/pw}\n");
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_eq(c->datastores[1].password.kind, CFG_SECRET_FILE);
    cr_assert_str_eq(c->datastores[1].password.ref, pw);

    mc_secret s = {0};
    cr_assert_eq(cfg_secret_resolve(&c->datastores[0].password, &s, &err), 0);
    cr_assert_str_eq(s.value, "env-secret");
    cr_assert_eq(s.len, 10);
    cr_assert_eq(cfg_secret_resolve(&c->datastores[1].password, &s, &err), 0, "%s", err.message);
    cr_assert_str_eq(s.value, "file-secret"); /* \r\n trimmed */
    mc_secret_wipe(&s);

    /* Checked again when used: the variable went away, the file emptied. */
    unsetenv("MC_TEST_PW");
    mc_error_clear(&err);
    cr_assert_eq(cfg_secret_resolve(&c->datastores[0].password, &s, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    cr_assert_str_eq(err.message, "t.yml:5:5: environment variable MC_TEST_PW is not set");
    write_file(pw, "\n", 0600);
    mc_error_clear(&err);
    cr_assert_eq(cfg_secret_resolve(&c->datastores[1].password, &s, &err), -1);
    char *want = mc_asprintf("t.yml:9:5: %s is empty", pw);
    cr_assert_str_eq(err.message, want);
    cr_assert_null(s.value);
    free(want);

    /* No password: libpq's own sources apply, nothing is resolved. */
    cfg_secret none = {0};
    cr_assert_eq(cfg_secret_resolve(&none, &s, &err), 0);
    cr_assert_null(s.value);

    cfg_free(c);
    unlink(pw);
    free(pw);
    rmdir(tmpdir);
}

Test(config, password_command)
{
    cfg *c = load(DS "    password_command: [printf, \"s3cret\\n\"]\n"
                  "  - name: failing\n    host: h\n    database: d\n    password_command: [false]\n"
                  "  - name: missing\n    host: h\n    database: d\n"
                  "    password_command: [metacrawl-test-no-such-program]\n"
                  "  - name: silent\n    host: h\n    database: d\n    password_command: [true]\n");
    cr_assert_not_null(c, "%s", err.message);
    const cfg_secret *ok = &c->datastores[0].password;
    cr_assert_eq(ok->kind, CFG_SECRET_COMMAND);
    cr_assert_eq(ok->argc, 2);
    cr_assert_str_eq(ok->argv[0], "printf");
    cr_assert_null(ok->argv[2]);

    mc_secret s = {0};
    mc_error_clear(&err);
    cr_assert_eq(cfg_secret_resolve(ok, &s, &err), 0, "%s", err.message);
    cr_assert_str_eq(s.value, "s3cret"); /* trailing newline trimmed */
    mc_secret_wipe(&s);

    mc_error_clear(&err);
    cr_assert_eq(cfg_secret_resolve(&c->datastores[1].password, &s, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    cr_assert_str_eq(err.message, "t.yml:9:5: command 'false' exited with status 1");
    cr_assert_str_eq(err.hint, "its own message is on stderr above; run it by hand to see");
    cr_assert_null(s.value);

    mc_error_clear(&err);
    cr_assert_eq(cfg_secret_resolve(&c->datastores[2].password, &s, &err), -1);
    cr_assert_str_eq(err.message, "t.yml:13:5: cannot run 'metacrawl-test-no-such-program': "
                                  "no such file or directory");
    cr_assert_str_eq(err.hint, "password_command is run without a shell; is "
                               "'metacrawl-test-no-such-program' installed and on PATH?");

    mc_error_clear(&err);
    cr_assert_eq(cfg_secret_resolve(&c->datastores[3].password, &s, &err), -1);
    cr_assert_str_eq(err.message, "t.yml:17:5: command 'true' printed nothing");
    cfg_free(c);
}

/* ---- group and admin (metacrawl grants) ---------------------------------------- */

Test(config, group_and_admin)
{
    setenv("MC_TEST_ADMIN_PW", "admin-secret", 1);
    cfg *c = load(DS "    admin:\n"
                  "      user: awsuser\n"
                  "      password: ${env:MC_TEST_ADMIN_PW}\n"
                  "  - name: second\n    host: h\n    database: d\n    group: readers\n"
                  "    admin: { user: root, password_command: [printf, pw] }\n"
                  "  - name: third\n    host: h\n    database: d\n");
    cr_assert_not_null(c, "%s", err.message);
    const cfg_datastore *d = &c->datastores[0];
    cr_assert_str_eq(d->group, "metamapper"); /* the default */
    cr_assert(d->admin.present);
    cr_assert_str_eq(d->admin.user, "awsuser");
    cr_assert_eq(d->admin.password.kind, CFG_SECRET_ENV);
    cr_assert_eq(d->admin.pos.line, 6);
    mc_secret s = {0};
    cr_assert_eq(cfg_secret_resolve(&d->admin.password, &s, &err), 0, "%s", err.message);
    cr_assert_str_eq(s.value, "admin-secret");
    mc_secret_wipe(&s);
    d = &c->datastores[1];
    cr_assert_str_eq(d->group, "readers");
    cr_assert_str_eq(d->admin.user, "root");
    cr_assert_eq(d->admin.password.kind, CFG_SECRET_COMMAND);
    cr_assert_str_eq(d->admin.password.argv[0], "printf");
    d = &c->datastores[2];
    cr_assert_not(d->admin.present);
    cr_assert_null(d->admin.user);
    cr_assert_eq(d->admin.password.kind, CFG_SECRET_NONE);
    cfg_free(c);
}

Test(config, admin_password_is_checked_when_used)
{
    /* A crawl never uses the admin's password: an unset variable must not
     * stop it.  grants --apply resolves it, and then it is an error with the
     * key's position, like any other secret. */
    unsetenv("MC_TEST_ADMIN_UNSET");
    cfg *c = load(DS "    admin:\n"
                  "      user: awsuser\n"
                  "      password: ${env:MC_TEST_ADMIN_UNSET}\n");
    cr_assert_not_null(c, "%s", err.message);
    mc_secret s = {0};
    mc_error e = {0};
    cr_assert_neq(cfg_secret_resolve(&c->datastores[0].admin.password, &s, &e), 0);
    cr_assert_eq(e.code, MC_EXIT_CONFIG);
    cr_assert(strstr(e.message, "t.yml:7:") && strstr(e.message, "MC_TEST_ADMIN_UNSET is not set"),
              "%s", e.message);
    cfg_free(c);
}

Test(config, admin_mistakes)
{
    expect_error(DS "    admin:\n      password: x\n",
                 "t.yml:6:7: missing required key 'user' in 'admin'",
                 "add 'user: ...'; docs/configuration.md describes every key");
    expect_error(DS "    admin: { usr: root }\n", "t.yml:5:14: unknown key 'usr' in 'admin'",
                 "did you mean 'user'?");
    expect_error(DS "    admin: { user: root, password: a, password_command: [b] }\n",
                 "t.yml:5:39: 'password' and 'password_command' cannot both be set",
                 "keep one of them");
    /* An unset admin variable is an error when grants --apply resolves it,
     * not at load: admin_password_is_checked_when_used. */
    expect_error(DS "    admin: root\n", "t.yml:5:12: expected a mapping for 'admin', got 'root'",
                 NULL);
    expect_error(DS "    group: \"\"\n", "t.yml:5:12: 'group' is empty", NULL);
    expect_error(DS "    gruop: readers\n", "t.yml:5:5: unknown key 'gruop' in a datastore",
                 "did you mean 'group'?");
}

Test(config, admin_secret_never_in_messages)
{
    static const char secret[] = "adm1n-S3cret";
    cfg *c = load(DS "    admin: { user: root, password: adm1n-S3cret }\n    port: x\n");
    cr_assert_null(c);
    cr_assert_null(strstr(err.message, secret));
    cr_assert_null(strstr(err.hint, secret));
    c = load(DS "    admin: { user: root, password: \"adm1n-S3cret${\" }\n");
    cr_assert_null(c);
    cr_assert_null(strstr(err.message, secret), "%s", err.message);
}

/* ---- alerts ----------------------------------------------------------------- */

Test(config, alert_with_two_sinks)
{
    expect_error("alerts:\n  - name: slack\n    webhook: https://hooks.example.com/x\n"
                 "    file: /var/log/changes.jsonl\n",
                 "t.yml:4:5: alert 'slack' has two sinks, 'webhook' and 'file'",
                 "an alert has exactly one of webhook, file, command; write one alert per sink");
    expect_error("alerts:\n  - name: page\n    command: [notify]\n    webhook: https://x.example\n",
                 "t.yml:4:5: alert 'page' has two sinks, 'command' and 'webhook'", NULL);
    expect_error("alerts:\n  - name: quiet\n    breaking_only: true\n",
                 "t.yml:2:5: alert 'quiet' has no sink",
                 "add one of webhook: URL, file: PATH, command: [argv...]");
    expect_error("alerts:\n  - name: log\n    file: /x\n    format: slack\n",
                 "t.yml:4:5: 'format' applies only to webhook alerts", NULL);
    expect_error("alerts:\n  - name: hook\n    webhook: ftp://example.com/secret-token\n",
                 "t.yml:3:14: 'webhook' must be an http:// or https:// URL", NULL);
    /* a URL the sink would refuse is refused when the file is loaded, and
     * the URL (a credential) is not quoted back */
    expect_error("alerts:\n  - name: hook\n    webhook: http://hooks.example.com/T0/secret\n",
                 "t.yml:3:14: 'webhook': plain http:// is allowed only to a loopback host "
                 "(127.0.0.1, ::1, localhost); use https://",
                 "use an https:// URL; plain http:// only reaches a relay on this machine");
    expect_error("alerts:\n  - name: page\n    command: []\n",
                 "t.yml:3:14: 'command' is empty: it needs at least the program to run", NULL);
}

Test(config, alert_unknown_change_kind)
{
    expect_error("alerts:\n  - name: a\n    on: [container_removed, field_remove]\n    file: /x\n",
                 "t.yml:3:29: unknown change kind 'field_remove' in 'on'",
                 "did you mean 'field_removed'?");
    expect_error("alerts:\n  - name: a\n    on: [table_dropped]\n    file: /x\n",
                 "t.yml:3:10: unknown change kind 'table_dropped' in 'on'",
                 "the change kinds are: schema_added, schema_removed, schema_changed, "
                 "container_added, container_removed, container_renamed, container_changed, "
                 "field_added, field_removed, field_renamed, field_changed, "
                 "datastore_stale, datastore_recovered");
    expect_error("alerts:\n  - name: a\n    on: []\n    file: /x\n", "t.yml:3:9: 'on' is empty",
                 "remove 'on' to be told about every kind of change");
    expect_error("alerts:\n  - name: a\n    on: field_added\n    file: /x\n",
                 "t.yml:3:9: expected a string for 'on', got 'field_added'", NULL);

    cfg *c = load("alerts:\n  - name: a\n    on: [schema_added, field_renamed]\n"
                  "    breaking_only: on\n    timeout: 30s\n    file: /x\n");
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_eq(c->alerts[0].on_mask, (1u << MC_SCHEMA_ADDED) | (1u << MC_FIELD_RENAMED));
    cr_assert(c->alerts[0].breaking_only);
    cr_assert_eq(c->alerts[0].timeout_s, 30);
    cfg_free(c);
}

/* ---- the starter file and the rest of the API ----------------------------- */

Test(config, starter_text_loads)
{
    setenv("REDSHIFT_PASSWORD", "pw", 1);
    const char *text = cfg_starter_text();
    cfg *c = load(text);
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_eq(c->n_datastores, 1);
    cr_assert_str_eq(c->datastores[0].name, "analytics");
    cr_assert_eq(c->datastores[0].password.kind, CFG_SECRET_ENV);
    cr_assert_str_eq(c->datastores[0].password.ref, "REDSHIFT_PASSWORD");
    cr_assert_not(c->datastores[0].tunnel.present);
    cr_assert_str_eq(c->datastores[0].schedule, "0 */6 * * *");
    cr_assert_eq(c->n_alerts, 0);
    cfg_free(c);

    /* Without the variable it says so, at the password line. */
    unsetenv("REDSHIFT_PASSWORD");
    cr_assert_null(load(text));
    cr_assert(strstr(err.message, "environment variable REDSHIFT_PASSWORD is not set"), "%s",
              err.message);
}

/* The commented-out tunnel and alerts blocks are valid once uncommented:
 * from a "# tunnel:" or "# alerts:" line to the end of that comment block,
 * remove the "# " after the indentation. */
Test(config, starter_text_commented_sections_are_valid)
{
    setenv("REDSHIFT_PASSWORD", "pw", 1);
    setenv("BASTION_KEY_PASSPHRASE", "pp", 1);
    setenv("HOME", "/home/crawler", 1);
    mc_buf b = {0};
    bool in_block = false;
    for (const char *p = cfg_starter_text(); *p;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) + 1 : strlen(p);
        const char *hash = p;
        while (*hash == ' ')
            hash++;
        if (!strncmp(hash, "# tunnel:", 9) || !strncmp(hash, "# alerts:", 9))
            in_block = true;
        else if (*hash != '#')
            in_block = false;
        if (in_block) {
            mc_buf_append(&b, p, (size_t)(hash - p));
            mc_buf_append(&b, hash + 2, n - (size_t)(hash - p) - 2);
        } else {
            mc_buf_append(&b, p, n);
        }
        p += n;
    }
    cfg *c = load(mc_buf_str(&b));
    cr_assert_not_null(c, "%s\n%s", err.message, mc_buf_str(&b));
    cr_assert(c->datastores[0].tunnel.present);
    cr_assert_str_eq(c->datastores[0].tunnel.first.private_key, "/home/crawler/.ssh/id_ed25519");
    cr_assert_eq(c->n_alerts, 3);
    cr_assert_str_eq(c->alerts[0].format, "slack");
    cfg_free(c);
    mc_buf_free(&b);
}

Test(config, write_starter_refuses_to_overwrite)
{
    make_tmpdir();
    char *path = tmp_path("metacrawl.yml");
    mc_error_clear(&err);
    cr_assert_eq(cfg_write_starter(path, false, &err), 0, "%s", err.message);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);

    /* What was written is the starter text, and it loads. */
    setenv("REDSHIFT_PASSWORD", "pw", 1);
    cfg *c = NULL;
    cr_assert_eq(cfg_load(path, &c, &err), 0, "%s", err.message);
    cfg_free(c);

    write_file(path, "store: mine.db\n", 0644);
    mc_error_clear(&err);
    cr_assert_eq(cfg_write_starter(path, false, &err), -1);
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
    char *want = mc_asprintf("%s already exists", path);
    cr_assert_str_eq(err.message, want);
    cr_assert(strstr(err.hint, "--force"), "%s", err.hint);
    free(want);
    FILE *f = fopen(path, "r");
    char line[64] = {0};
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    cr_assert_str_eq(line, "store: mine.db\n"); /* untouched */

    mc_error_clear(&err);
    cr_assert_eq(cfg_write_starter(path, true, &err), 0, "%s", err.message);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq((size_t)st.st_size, strlen(cfg_starter_text()));

    unlink(path);
    free(path);
    rmdir(tmpdir);
}

Test(config, default_path)
{
    make_tmpdir();
    char *home = tmp_path("home"), *cwd = tmp_path("work");
    cr_assert_eq(mkdir(home, 0700), 0);
    cr_assert_eq(mkdir(cwd, 0700), 0);
    cr_assert_eq(chdir(cwd), 0);
    setenv("HOME", home, 1);
    unsetenv("XDG_CONFIG_HOME");
    cr_assert_null(cfg_default_path());

    char *dir1 = mc_asprintf("%s/.config", home), *dir2 = mc_asprintf("%s/.config/metacrawl", home);
    char *in_home = mc_asprintf("%s/metacrawl.yml", dir2);
    mkdir(dir1, 0700);
    mkdir(dir2, 0700);
    write_file(in_home, "store: x\n", 0600);
    char *p = cfg_default_path();
    cr_assert_not_null(p);
    cr_assert_str_eq(p, in_home);
    free(p);

    /* A relative XDG_CONFIG_HOME is ignored, as the XDG spec says. */
    setenv("XDG_CONFIG_HOME", "relative", 1);
    p = cfg_default_path();
    cr_assert_str_eq(p, in_home);
    free(p);
    setenv("XDG_CONFIG_HOME", cwd, 1);
    cr_assert_null(cfg_default_path());

    write_file("metacrawl.yml", "store: y\n", 0600);
    p = cfg_default_path();
    cr_assert_str_eq(p, "./metacrawl.yml");
    free(p);

    unlink("metacrawl.yml");
    unlink(in_home);
    rmdir(dir2);
    rmdir(dir1);
    cr_assert_eq(chdir("/"), 0);
    rmdir(cwd);
    rmdir(home);
    rmdir(tmpdir);
    free(in_home);
    free(dir1);
    free(dir2);
    free(home);
    free(cwd);
}

Test(config, globs_match)
{
    char public[] = "public", sales[] = "sales_*", sales_tmp[] = "sales_tmp*";
    char *inc[] = {public, sales, NULL}, *exc[] = {sales_tmp, NULL};
    cfg_globs all = {0};
    cr_assert(cfg_globs_match(&all, "anything"));
    cfg_globs g = {inc, 2, exc, 1};
    cr_assert(cfg_globs_match(&g, "public"));
    cr_assert(cfg_globs_match(&g, "sales_eu"));
    cr_assert_not(cfg_globs_match(&g, "sales_tmp1"));
    cr_assert_not(cfg_globs_match(&g, "publicx"));
    cfg_globs only_exclude = {NULL, 0, exc, 1};
    cr_assert(cfg_globs_match(&only_exclude, "finance"));
    cr_assert_not(cfg_globs_match(&only_exclude, "sales_tmp"));
}

Test(config, free_null)
{
    cfg_free(NULL);
}

/* ---- the openssh and command tunnels ------------------------------------------ */

Test(config, openssh_tunnel_leaves_port_user_and_key_to_ssh_config)
{
    cfg *c = load(DS "    tunnel:\n      via: openssh\n      host: warehouse-bastion\n");
    cr_assert_not_null(c, "%s", err.message);
    const cfg_tunnel *t = &c->datastores[0].tunnel;
    cr_assert_eq(t->via, CFG_TUNNEL_OPENSSH);
    cr_assert_str_eq(t->first.host, "warehouse-bastion");
    cr_assert_eq(t->first.port, 0);
    cr_assert_null(t->first.user);
    cr_assert_null(t->first.private_key);
    cr_assert_null(t->ssh_config);
    cr_assert_eq(t->start_timeout_s, 30);
    cfg_free(c);
    c = load(DS "    tunnel:\n      via: openssh\n      host: b\n      port: 2222\n"
                "      user: ec2-user\n      ssh_config: /etc/metacrawl/ssh_config\n"
                "      ssh: /opt/openssh/bin/ssh\n      start_timeout: 1m\n");
    cr_assert_not_null(c, "%s", err.message);
    t = &c->datastores[0].tunnel;
    cr_assert_eq(t->first.port, 2222);
    cr_assert_str_eq(t->ssh_config, "/etc/metacrawl/ssh_config");
    cr_assert_str_eq(t->ssh, "/opt/openssh/bin/ssh");
    cr_assert_eq(t->start_timeout_s, 60);
    cfg_free(c);
}

Test(config, openssh_tunnel_refuses_what_only_libssh2_does)
{
    setenv("PP", "x", 1);
    expect_error(DS "    tunnel:\n      via: openssh\n      host: b\n      private_key: /k\n"
                    "      passphrase: ${env:PP}\n",
                 "t.yml:9:7: 'passphrase' does not apply to via: openssh",
                 "ssh never prompts here: load the key into ssh-agent (ssh-add) and leave "
                 "passphrase: out");
    expect_error(DS "    tunnel:\n      via: openssh\n      host: b\n      password: x\n",
                 "t.yml:8:7: 'password' does not apply to via: openssh", NULL);
    expect_error(DS "    tunnel:\n      via: openssh\n      host: b\n      agent: true\n",
                 "t.yml:8:7: 'agent' does not apply to via: openssh", NULL);
    expect_error(DS "    tunnel:\n      via: openssh\n      host: b\n"
                    "      jump:\n        - { host: c, user: u, agent: true }\n",
                 "t.yml:8:7: 'jump' does not apply to via: openssh",
                 "write the jump hosts as ProxyJump in ssh_config (or the file ssh_config: "
                 "names); docs/tunnel.md shows how");
    expect_error(DS "    tunnel:\n      host: b\n      user: u\n      agent: true\n"
                    "      ssh_config: /x\n",
                 "t.yml:9:7: 'ssh_config' applies only to via: openssh",
                 "add via: openssh to run the system's ssh, or remove 'ssh_config'");
    expect_error(DS "    tunnel:\n      via: putty\n      host: b\n",
                 "t.yml:6:12: expected libssh2 or openssh for 'via', got 'putty'", NULL);
    expect_error(DS "    tunnel:\n      via: openssh\n",
                 "t.yml:6:7: missing required key 'host' in 'tunnel'", NULL);
}

Test(config, command_tunnel_needs_its_port_and_nothing_else)
{
    cfg *c = load(DS "    tunnel:\n      command: [aws, ssm, start-session, --parameters,"
                     " \"localPortNumber={port},portNumber=5439\"]\n      start_timeout: 45s\n");
    cr_assert_not_null(c, "%s", err.message);
    const cfg_tunnel *t = &c->datastores[0].tunnel;
    cr_assert_eq(t->via, CFG_TUNNEL_COMMAND);
    cr_assert_eq(t->n_command, 5);
    cr_assert_str_eq(t->command[0], "aws");
    cr_assert_eq(t->start_timeout_s, 45);
    cfg_free(c);
    expect_error(DS "    tunnel:\n      command: [aws, ssm, start-session]\n",
                 "t.yml:6:16: the tunnel command has no {port} argument",
                 "metacrawl picks a free local port and puts it where {port} stands, e.g. "
                 "--parameters \"localPortNumber={port}\"");
    expect_error(DS "    tunnel:\n      command: [x, \"{port}\"]\n      host: b\n",
                 "t.yml:7:7: 'host' does not apply to a command tunnel", NULL);
    expect_error(DS "    tunnel:\n      via: openssh\n      command: [x, \"{port}\"]\n",
                 "t.yml:6:7: 'via' does not apply to a command tunnel", NULL);
    cr_assert_null(load(DS "    tunnel:\n      command: []\n"), "an empty command loaded");
    cr_assert_eq(err.code, MC_EXIT_CONFIG);
}

/* ---- databases: -------------------------------------------------------------- */

Test(config, databases_list_and_star)
{
    cfg *c = load(DS "    databases: [sales, \"we\\\"ird/../db.*\"]\n");
    cr_assert_not_null(c, "%s", err.message);
    const cfg_datastore *d = &c->datastores[0];
    cr_assert(cfg_has_databases(d));
    cr_assert_eq(d->n_databases, 2);
    cr_assert_str_eq(d->databases[1], "we\"ird/../db.*");
    cr_assert_eq(d->databases_pos.line, 5);
    /* selection: the recorded %XX form and the name as written */
    char *db = NULL;
    cr_assert_eq(cfg_find_database(c, "analytics/sales", &db), d);
    cr_assert_str_eq(db, "sales");
    free(db);
    cr_assert_eq(cfg_find_database(c, "analytics/we%22ird%2F%2E%2E%2Fdb%2E%2A", &db), d);
    cr_assert_str_eq(db, "we\"ird/../db.*");
    free(db);
    cr_assert_eq(cfg_find_database(c, "analytics/we\"ird/../db.*", &db), d);
    free(db);
    cr_assert_null(cfg_find_database(c, "analytics/other", &db));
    cr_assert_null(db);
    cr_assert_null(cfg_find_database(c, "analytics", &db));
    cfg_datastore t;
    cfg_database_target(d, "we\"ird/../db.*", &t);
    cr_assert_str_eq(t.name, "analytics/we%22ird%2F%2E%2E%2Fdb%2E%2A");
    cr_assert_str_eq(t.database, "we\"ird/../db.*");
    cr_assert(!cfg_has_databases(&t));
    cr_assert_eq(t.parent, d);
    cr_assert_str_eq(t.host, d->host);
    cfg_database_target_free(&t);
    cfg_free(c);

    c = load(DS "    databases: \"*\"\n");
    cr_assert_not_null(c, "%s", err.message);
    cr_assert(c->datastores[0].all_databases);
    /* any database of "*" is selectable; the %XX form is read back */
    cr_assert_not_null(cfg_find_database(c, "analytics/a%20b", &db));
    cr_assert_str_eq(db, "a b");
    free(db);
    cfg_free(c);
}

Test(config, databases_mistakes_name_their_place)
{
    expect_error(DS "    databases: []\n", "t.yml:5:16: 'databases' is empty", NULL);
    expect_error(DS "    databases: all\n",
                 "t.yml:5:16: expected a list of database names or \"*\" for 'databases', "
                 "got 'all'", NULL);
    expect_error(DS "    databases: [a, b, a]\n",
                 "t.yml:5:23: database 'a' is named twice in 'databases'", "remove one of them");
    expect_error(DS "    databases: [a, \"\"]\n",
                 "t.yml:5:20: expected a database name in 'databases', got ''", NULL);
    expect_error(DS "    databases: [a, \"*\"]\n",
                 "t.yml:5:20: \"*\" in a list of 'databases'", NULL);
}

Test(config, database_names_are_escaped_in_datastore_names)
{
    char *n = cfg_database_datastore_name("dw", "Sales-2024_x");
    cr_assert_str_eq(n, "dw/Sales-2024_x");
    free(n);
    n = cfg_database_datastore_name("dw", "a.b c\n%\xc3\xa9");
    cr_assert_str_eq(n, "dw/a%2Eb%20c%0A%25%C3%A9");
    char *back = cfg_database_decode(n + 3);
    cr_assert_str_eq(back, "a.b c\n%\xc3\xa9");
    free(back);
    free(n);
    /* not a form we write: lower-case hex, a kept byte escaped, NUL */
    cr_assert_null(cfg_database_decode("a%2eb"));
    cr_assert_null(cfg_database_decode("%61"));
    cr_assert_null(cfg_database_decode("%00"));
    cr_assert_null(cfg_database_decode("a b"));
}
