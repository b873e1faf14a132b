/*
 * check.c — `metacrawl check` (grants.h): each datastore tested step by step, the way
 * a person would debug a crawler that sees nothing, with the fix for every
 * failed step (the troubleshooting table of docs/redshift-setup.md).
 *
 * The steps are a table (below, `steps`); each adds items to the report
 * and says whether the steps after it can run.  When one cannot, the
 * items the later steps would have produced are listed as skipped, so the
 * checklist always has the same shape.  The catalog step sends a constant
 * number of statements — SET, then schemas, relations, memberships and
 * default ACLs, whatever the number of schemas — and does the rest in C.
 * On Redshift those statements touch only leader-node catalog tables with
 * leader-node functions (has_schema_privilege, has_table_privilege),
 * never SVV views or user tables.
 *
 * With a tunnel: the tunnel's rows come first: per hop reach, host key and
 * auth (one tunnel_open, whose progress says where it stopped), then the
 * forwarding, which the database connection itself tests.
 *
 * Exit codes (SPEC §2; docs/commands.md): 4 when the database (or the
 * tunnel) cannot be reached, 5 when it (or a hop's sshd) refuses the login
 * or the catalog cannot be read, 7 when the user is in but some schema in scope lacks
 * USAGE, some table lacks SELECT, or some owner's future tables will not
 * be readable; 0 when every step passed.  Warnings change nothing.
 *
 * The catalog step is catalog.c.  The report is data (check_report) and
 * JSON here; the checklist as terminal text is the command's
 * (crawler/cli/cmd_check.c).
 */
#include "grants_internal.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *check_status_name(check_status s)
{
    static const char *const names[] = {"ok", "warn", "skip", "fail"};
    return names[s];
}

/* ---- the report ------------------------------------------------------------- */

check_item *check_add_item(check_ctx *x, const char *step, const char *schema,
                           check_status status, int code, char *message, char *fix)
{
    check_report *r = x->r;
    r->items = mc_realloc(r->items, (r->n_items + 1) * sizeof *r->items);
    check_item *it = &r->items[r->n_items++];
    memset(it, 0, sizeof *it);
    it->step = mc_strdup(step);
    it->schema = mc_strdup(schema);
    it->status = status;
    it->code = status == CHECK_FAIL ? code : 0;
    it->message = message;
    it->fix = fix;
    it->count = it->total = -1;
    if (status == CHECK_FAIL && code > r->exit_code)
        r->exit_code = code;
    return it;
}

void check_report_free(check_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_items; i++) {
        check_item *it = &r->items[i];
        free(it->step);
        free(it->schema);
        free(it->message);
        free(it->fix);
        for (size_t k = 0; k < it->n_names; k++)
            free(it->names[k]);
        free(it->names);
    }
    free(r->items);
    free(r->dialect);
    free(r->server_version);
    memset(r, 0, sizeof *r);
}

void check_put_name(mc_buf *b, const char *name)
{
    bool plain = name[0] && !(name[0] >= '0' && name[0] <= '9');
    for (const char *p = name; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (plain)
        mc_buf_puts(b, name);
    else
        grants_quote_ident(b, GRANTS_POSTGRESQL, name);
}

char *check_name_text(const char *name)
{
    mc_buf b = {0};
    check_put_name(&b, name);
    return mc_buf_steal(&b);
}

/* ---- what failures mean ------------------------------------------------------ */

static bool has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/*
 * The fix for a connection failure, from the server's or libpq's message:
 * the rows of the troubleshooting table.  NULL when none applies (the
 * error's own hint is used then).
 */
static char *connect_fix(const cfg_datastore *ds, const char *msg)
{
    if (has(msg, "password authentication failed") || has(msg, "no password supplied") ||
        has(msg, "SCRAM authentication"))
        return mc_asprintf("verify the user and password (password:, password_command, "
                           "PGPASSWORD or ~/.pgpass), and that user '%s' exists: `metacrawl "
                           "grants %s` prints the SQL that creates it",
                           ds->user, ds->name);
    if (has(msg, "role \"") && has(msg, "does not exist"))
        return mc_asprintf("user '%s' does not exist: `metacrawl grants %s` prints the SQL "
                           "that creates it (--apply runs it), or fix user: in the config",
                           ds->user, ds->name);
    if (has(msg, "database \"") && has(msg, "does not exist"))
        return mc_strdup("fix database: in the config; the server has no such database");
    if (has(msg, "pg_hba.conf"))
        return mc_strdup("the server refuses this user from this address: add a pg_hba.conf "
                         "line for it (PostgreSQL), or check the user's connection limits");
    if (has(msg, "could not translate host name") || has(msg, "Name or service not known") ||
        has(msg, "Temporary failure in name resolution") || has(msg, "nodename nor servname"))
        return mc_asprintf("host '%s' does not resolve: check host: (for Redshift the cluster "
                           "endpoint, without :5439 and the database); a private endpoint "
                           "resolves only inside its VPC: connect through a tunnel: "
                           "(docs/tunnel.md)",
                           ds->host);
    if (has(msg, "Connection refused"))
        return mc_asprintf("nothing accepts connections at %s:%d: check port: (Redshift "
                           "listens on 5439), that the cluster is available (not paused or "
                           "resizing), and that its security group has an inbound rule for "
                           "TCP %d from this host",
                           ds->host, ds->port, ds->port);
    if (has(msg, "timeout expired") || has(msg, "timed out") || has(msg, "No route to host") ||
        has(msg, "Network is unreachable"))
        return mc_asprintf("no answer from %s:%d: the cluster's security group needs an "
                           "inbound rule for TCP %d from this host's address; a cluster that "
                           "is not publicly accessible answers only inside its VPC (use a "
                           "tunnel:, docs/tunnel.md); a paused cluster does not answer",
                           ds->host, ds->port, ds->port);
    if (has(msg, "SSL") || has(msg, "certificate"))
        return mc_strdup("TLS failed: check sslmode: and, for verify-ca/verify-full, "
                         "PGSSLROOTCERT (the Redshift CA bundle) or ~/.postgresql/root.crt");
    return NULL;
}

char *check_query_fix(const check_ctx *x, const char *msg)
{
    const cfg_datastore *ds = x->ds;
    if (has(msg, "permission denied for schema"))
        return mc_asprintf("GRANT USAGE ON SCHEMA to the crawler's group: `metacrawl grants %s` "
                           "prints it for every schema in scope",
                           ds->name);
    if (has(msg, "permission denied for relation") || has(msg, "permission denied for table") ||
        has(msg, "permission denied for view"))
        return mc_asprintf("GRANT SELECT ON ALL TABLES IN SCHEMA to the crawler's group: "
                           "`metacrawl grants %s` prints it",
                           ds->name);
    if (has(msg, "permission denied to create") || has(msg, "permission denied for database"))
        return mc_strdup("metacrawl creates nothing; this comes from a session setting or "
                         "another tool: GRANT CREATE (or TEMP) ON the schema or database to "
                         "the user that needs it");
    if (has(msg, "permission denied"))
        return mc_asprintf("the crawler user lacks a privilege: `metacrawl grants %s` prints "
                           "the grants it needs",
                           ds->name);
    return NULL;
}

/* ---- the tunnel's steps ---------------------------------------------------------- */

static bool has_tunnel(const cfg_datastore *ds)
{
    return ds->tunnel.present;
}

size_t check_n_hops(const cfg_datastore *ds)
{
    if (!ds->tunnel.present || ds->tunnel.via == CFG_TUNNEL_COMMAND)
        return 0;
    return ds->tunnel.via == CFG_TUNNEL_OPENSSH ? 1 : 1 + ds->tunnel.n_jump;
}

/* HOP is 1-based: 1 is the tunnel: block, 2 the first jump: entry. */
const cfg_hop *check_hop(const cfg_datastore *ds, size_t hop)
{
    return hop <= 1 ? &ds->tunnel.first : &ds->tunnel.jump[hop - 2];
}

/* The rows of each hop, in the order tunnel_open goes through them. */
static const char *const hop_steps[3] = {"tunnel_reach", "tunnel_host_key", "tunnel_auth"};
static const char *const hop_step_labels[3] = {"reach", "host key", "auth"};

static bool is_hop_step(const char *step, int *which)
{
    for (int w = 0; w < 3; w++)
        if (strcmp(step, hop_steps[w]) == 0) {
            if (which)
                *which = w;
            return true;
        }
    return false;
}

/* The tunnel's messages start with "datastore 'NAME': "; the checklist
 * names the datastore once, at the top. */
static char *tunnel_message(const cfg_datastore *ds, const char *msg)
{
    char *prefix = mc_asprintf("datastore '%s': ", ds->name);
    size_t n = strlen(prefix);
    char *out = mc_strdup(strncmp(msg, prefix, n) == 0 ? msg + n : msg);
    free(prefix);
    return out;
}

static char *hop_ok_message(const cfg_datastore *ds, size_t hop, int which)
{
    const cfg_hop *h = check_hop(ds, hop);
    if (ds->tunnel.via == CFG_TUNNEL_OPENSSH) {
        if (which == 0)
            return mc_strdup("ssh connected (by the route ssh_config gives: ProxyJump, "
                             "ProxyCommand) and the SSH handshake is done");
        if (which == 1)
            return mc_asprintf("every host's key verified against %s (StrictHostKeyChecking "
                               "%s, whatever ssh_config says)",
                               h->known_hosts,
                               h->host_key_policy == CFG_HOST_KEY_ACCEPT_NEW ? "accept-new"
                                                                             : "yes");
        return h->user ? mc_asprintf("logged in as %s", h->user)
                       : mc_strdup("logged in (as the user ssh_config names)");
    }
    if (which == 0)
        return hop == 1 ? mc_strdup("connected; SSH handshake done")
                        : mc_asprintf("connected through hop %zu; SSH handshake done", hop - 1);
    if (which == 1)
        return h->host_key_policy == CFG_HOST_KEY_ACCEPT_NEW
                   ? mc_asprintf("known in %s, or recorded there now (host_key_policy: "
                                 "accept-new)",
                                 h->known_hosts)
                   : mc_asprintf("matches %s", h->known_hosts);
    return mc_asprintf("logged in as %s", h->user);
}

/*
 * What tunnel_open checks before it connects anywhere — a way to
 * authenticate on every hop, key files this libssh2 can use, a passphrase
 * for an encrypted key — run first here, so that such a failure is not
 * shown after reach and host key rows that were never tried.  Only whether
 * a secret is set matters: none is resolved.
 */
static int tunnel_preflight(const cfg_datastore *ds, tunnel_progress *p, mc_error *err)
{
    static char set[] = "";
    size_t n = check_n_hops(ds);
    tunnel_hop *hops = mc_calloc(n, sizeof *hops);
    for (size_t i = 0; i < n; i++) {
        const cfg_hop *c = check_hop(ds, i + 1);
        hops[i] = (tunnel_hop){
            .host = c->host,
            .port = c->port,
            .user = c->user,
            .private_key = c->private_key,
            .agent = c->agent,
            .known_hosts = c->known_hosts,
        };
        if (c->passphrase.kind != CFG_SECRET_NONE)
            hops[i].passphrase.value = set;
        if (c->password.kind != CFG_SECRET_NONE)
            hops[i].password.value = set;
    }
    tunnel_opts o = {.hops = hops, .n_hops = n, .progress = p};
    int rc = tunnel_validate(&o, err);
    free(hops);
    return rc;
}

/*
 * Every hop: reach (TCP, or a channel of the hop before, and the SSH
 * handshake), host key (known_hosts), auth.  One tunnel_open does them all;
 * its progress says which hop and step failed: the rows before it passed,
 * the ones after it were not tried.  A failure before any connection (an
 * unusable key file, a secret that cannot be read, an ssh-agent without a
 * usable key) leaves the reach and host key rows of its hop untried.
 */
/*
 * The openssh and command tunnels: one more row before the hop's, the
 * program (ssh found and its version; the command started and its port
 * open).  openssh then has the three rows of its one host, decided by what
 * ssh said; a command has none: whatever it crosses is its own business.
 */
static int step_tunnel_program(check_ctx *x)
{
    const cfg_datastore *ds = x->ds;
    bool ssh = ds->tunnel.via == CFG_TUNNEL_OPENSSH;
    tunnel_progress p = {.hop = 0, .step = TUNNEL_STEP_PROGRAM};
    mc_error err = {0};
    int rc = crawl_tunnel_open(ds, 4, &p, &x->tun, &err);
    char *fix = err.hint[0] ? mc_strdup(err.hint) : NULL;
    if (rc != 0 && p.step == TUNNEL_STEP_PROGRAM)
        check_add_item(x, "tunnel_program", NULL, CHECK_FAIL,
                       err.code ? err.code : MC_EXIT_CONNECT, tunnel_message(ds, err.message),
                       fix);
    else if (ssh)
        check_add_item(x, "tunnel_program", NULL, CHECK_OK, 0,
                       mc_asprintf("found %s", p.program), NULL);
    else
        check_add_item(x, "tunnel_program", NULL, CHECK_OK, 0, mc_strdup(p.program), NULL);
    if (ssh) {
        int fail_step = rc == 0 || p.step == TUNNEL_STEP_PROGRAM ? -1
                        : p.step == TUNNEL_STEP_HOST_KEY         ? 1
                        : p.step == TUNNEL_STEP_AUTH             ? 2
                                                                 : 0;
        for (int w = 0; w < 3; w++) {
            check_item *it;
            if (rc == 0 || (fail_step >= 0 && w < fail_step))
                it = check_add_item(x, hop_steps[w], NULL, CHECK_OK, 0, hop_ok_message(ds, 1, w),
                                    NULL);
            else if (w == fail_step)
                it = check_add_item(x, hop_steps[w], NULL, CHECK_FAIL,
                                    err.code ? err.code : MC_EXIT_CONNECT,
                                    tunnel_message(ds, err.message), fix ? mc_strdup(fix) : NULL);
            else
                it = check_add_item(x, hop_steps[w], NULL, CHECK_SKIP, 0,
                                    mc_strdup("not tested: an earlier step failed"), NULL);
            it->hop = 1;
        }
        if (fail_step >= 0)
            free(fix);
    }
    if (rc == 0)
        x->target = crawl_target(ds, x->tun);
    return rc;
}

static int step_tunnel(check_ctx *x)
{
    const cfg_datastore *ds = x->ds;
    if (ds->tunnel.via != CFG_TUNNEL_LIBSSH2)
        return step_tunnel_program(x);
    size_t n = check_n_hops(ds);
    tunnel_progress p = {.hop = 0, .step = TUNNEL_STEP_REACH};
    mc_error err = {0};
    bool unconnected = false; /* no hop was reached */
    int rc = tunnel_preflight(ds, &p, &err);
    if (rc != 0) {
        unconnected = true;
    } else {
        rc = crawl_tunnel_open(ds, 4, &p, &x->tun, &err);
        /* tunnel_open returns a configuration error only before connecting:
         * a key file it cannot read, a passphrase or password whose source
         * fails. */
        unconnected = rc != 0 && err.code == MC_EXIT_CONFIG;
    }
    /* ssh-agent is asked for its keys before its hop is reached. */
    bool hop_unreached = rc != 0 && p.step == TUNNEL_STEP_AUTH &&
                         (has(err.message, "cannot use ssh-agent") ||
                          has(err.message, "cannot list the keys of ssh-agent") ||
                          has(err.message, "ssh-agent holds no key"));
    size_t fail_hop = (size_t)p.hop + 1;
    int fail_step = p.step == TUNNEL_STEP_REACH ? 0 : p.step == TUNNEL_STEP_HOST_KEY ? 1 : 2;
    for (size_t h = 1; h <= n; h++)
        for (int w = 0; w < 3; w++) {
            check_item *it;
            if (rc == 0 || (h < fail_hop && !unconnected) ||
                (h == fail_hop && w < fail_step && !unconnected && !hop_unreached))
                it = check_add_item(x, hop_steps[w], NULL, CHECK_OK, 0, hop_ok_message(ds, h, w),
                                    NULL);
            else if (h == fail_hop && w == fail_step)
                it = check_add_item(x, hop_steps[w], NULL, CHECK_FAIL,
                                    err.code ? err.code : MC_EXIT_CONNECT,
                                    tunnel_message(ds, err.message),
                                    err.hint[0] ? mc_strdup(err.hint) : NULL);
            else if (h < fail_hop || (h == fail_hop && w < fail_step))
                it = check_add_item(x, hop_steps[w], NULL, CHECK_SKIP, 0,
                                    mc_strdup("not tried: the problem below stops the tunnel "
                                              "before it connects"),
                                    NULL);
            else
                it = check_add_item(x, hop_steps[w], NULL, CHECK_SKIP, 0,
                                    mc_strdup("not tested: an earlier step failed"), NULL);
            it->hop = h;
        }
    if (rc == 0)
        x->target = crawl_target(ds, x->tun);
    return rc;
}

/* ---- the database connection ------------------------------------------------------ */

/* "HOST:PORT answers", and through which path. */
static char *answers(const check_ctx *x)
{
    return mc_asprintf("%s:%d answers%s", x->ds->host, x->ds->port,
                       x->tun ? " through the tunnel" : "");
}

/* Connects once (see check_ctx).  Through a tunnel, libpq saw the local
 * port: its message gets the real one back. */
static int db_connect(check_ctx *x)
{
    if (x->connect_tried)
        return x->connect_rc;
    x->connect_tried = true;
    mc_error *err = &x->connect_err;
    x->connect_rc = disc_connect(x->ds, &x->target, &x->sess, err);
    if (x->connect_rc != 0)
        crawl_tunnel_address(x->ds, x->tun, err);
    return x->connect_rc;
}

/*
 * Forwarding: the last hop opens a direct-tcpip connection to the
 * warehouse when libpq connects, so the database connection is made here.
 * When it failed because of the tunnel (forwarding refused, the warehouse
 * unreachable from the bastion, the tunnel lost), that is this row's
 * failure; any other failure is the database's, reported by the next step.
 */
static int step_forwarding(check_ctx *x)
{
    int rc = db_connect(x);
    mc_error why = {0};
    if (rc != 0 && x->connect_err.code == MC_EXIT_CONFIG) {
        /* The database password's source failed: no connection was made. */
        check_add_item(x, "tunnel_forwarding", NULL, CHECK_SKIP, 0,
                       mc_strdup("not tried without a database password"), NULL);
        return 0;
    }
    if (rc != 0 && tunnel_failed(x->tun, &why)) {
        check_add_item(x, "tunnel_forwarding", NULL, CHECK_FAIL,
                       why.code ? why.code : MC_EXIT_CONNECT, tunnel_message(x->ds, why.message),
                       why.hint[0] ? mc_strdup(why.hint) : NULL);
        return -1;
    }
    /* The connection is made (or refused by the database itself): nobody
     * else may use the port. */
    tunnel_seal(x->tun);
    size_t n = check_n_hops(x->ds);
    check_add_item(x, "tunnel_forwarding", NULL, CHECK_OK, 0,
                   n == 0   ? mc_strdup("the command's port led to it")
                   : n == 1 ? mc_strdup("the bastion opened a connection to it")
                            : mc_asprintf("hop %zu opened a connection to it", n),
                   NULL);
    return 0;
}

/* Reach and log in: one libpq connection, so both answers come from it. */
static int step_database(check_ctx *x)
{
    int rc = db_connect(x);
    mc_error err = x->connect_err;
    char *user = check_name_text(x->ds->user);
    if (rc == 0) {
        check_add_item(x, "reach", NULL, CHECK_OK, 0, answers(x), NULL);
        check_add_item(x, "authenticate", NULL, CHECK_OK, 0,
                       mc_asprintf("logged in as %s to database %s", user, x->ds->database), NULL);
    } else if (err.code == MC_EXIT_CONFIG) {
        /* The password's source failed (unset variable, unreadable file,
         * failing command): nothing was sent to the server. */
        check_add_item(x, "reach", NULL, CHECK_SKIP, 0, mc_strdup("not tried without a password"),
                       NULL);
        check_add_item(x, "authenticate", NULL, CHECK_FAIL, MC_EXIT_CONFIG, mc_strdup(err.message),
                       mc_strdup(err.hint));
    } else {
        char *fix = connect_fix(x->ds, err.message);
        if (!fix)
            fix = mc_strdup(err.hint[0] ? err.hint : "check host, port and the network path");
        if (err.code == MC_EXIT_AUTH) {
            check_add_item(x, "reach", NULL, CHECK_OK, 0, answers(x), NULL);
            check_add_item(x, "authenticate", NULL, CHECK_FAIL, MC_EXIT_AUTH,
                           mc_strdup(err.message), fix);
        } else {
            check_add_item(x, "reach", NULL, CHECK_FAIL, err.code ? err.code : MC_EXIT_CONNECT,
                           mc_strdup(err.message), fix);
            check_add_item(x, "authenticate", NULL, CHECK_SKIP, 0, mc_strdup("not tried"), NULL);
        }
    }
    free(user);
    return rc;
}

static int step_server(check_ctx *x)
{
    mc_error err = {0};
    if (disc_detect(x->sess, &err) != 0) {
        crawl_tunnel_explain(x->tun, &err);
        check_add_item(x, "server", NULL, CHECK_FAIL, err.code ? err.code : MC_EXIT_CONNECT,
                       mc_strdup(err.message), mc_strdup(err.hint));
        return -1;
    }
    x->r->dialect = mc_strdup(disc_dialect(x->sess));
    x->r->server_version = mc_strdup(disc_server_version(x->sess));
    int d = grants_dialect_parse(x->r->dialect);
    x->dialect = d < 0 ? GRANTS_POSTGRESQL : (grants_dialect)d;
    check_add_item(x, "server", NULL, CHECK_OK, 0,
                   mc_asprintf("%s (%s dialect)", x->r->server_version, x->r->dialect), NULL);
    return 0;
}

/*
 * Table facts (docs/lineage.md, "Table facts"): whether the crawler can
 * read them, with the statement a crawl uses, and which grant makes them
 * readable.  Never a failure: the crawl records the catalog without them.
 * Its statement runs last, in autocommit, like the crawl's.
 */
static int step_facts(check_ctx *x)
{
    disc_facts_outcome o;
    disc_facts_probe(x->sess, x->ds, &o);
    x->r->n_queries++;
    bool rs = x->dialect == GRANTS_REDSHIFT;
    if (o.status == DISC_FACTS_READ) {
        check_add_item(x, "facts", NULL, CHECK_OK, 0,
                       rs ? mc_strdup("table facts readable: svv_table_info (size, skew, "
                                      "unsorted, stats_off) and row estimates")
                          : mc_strdup("table facts readable: pg_class, pg_stat_all_tables and "
                                      "pg_total_relation_size need no grant"),
                       NULL);
    } else {
        char *role = NULL;
        if (rs && o.fix) {
            mc_buf b = {0};
            mc_buf_puts(&b, "GRANT ROLE sys:monitor TO ");
            mc_buf_put_sql_ident(&b, x->ds->user ? x->ds->user : "metamapper");
            mc_buf_putc(&b, ';');
            role = mc_buf_steal(&b);
        }
        char *fix = o.fix ? mc_asprintf("%s%s%s (the crawl works without table facts; "
                                        "docs/lineage.md, \"Table facts\")", o.fix,
                                        role ? " or, with roles, " : "", role ? role : "")
                          : mc_strdup("the crawl works without table facts; the next crawl "
                                      "tries again");
        free(role);
        check_add_item(x, "facts", NULL, CHECK_WARN, 0,
                       mc_asprintf("table facts not readable (%s): crawls record the catalog "
                                   "without them", o.why ? o.why : "?"),
                       fix);
    }
    disc_facts_outcome_free(&o);
    return 0;
}

/*
 * The steps, in order.  A step adds its items and returns 0 when the
 * steps after it can run; when it returns -1, the items named in `skips`
 * of every later step are added as skipped.  A step whose `applies` is
 * false for the datastore is left out altogether.
 *
 * A datastore with a tunnel: gets the tunnel's own steps in front of
 * "database": every hop reached, its host key verified, authenticated
 * (step_tunnel, which adds its own rows, skipped ones included), then the
 * forwarding, tested by the database connection itself.  They leave
 * x->target pointing at the tunnel's local end and the tunnel open until
 * check_datastore returns.
 */
typedef struct check_step {
    bool (*applies)(const cfg_datastore *ds); /* NULL: always */
    int (*run)(check_ctx *x);
    const char *skips[3];                     /* the items it would add */
} check_step;

static const check_step steps[] = {
    {has_tunnel, step_tunnel, {NULL}},
    {has_tunnel, step_forwarding, {"tunnel_forwarding", NULL}},
    {NULL, step_database, {"reach", "authenticate", NULL}},
    {NULL, step_server, {"server", NULL}},
    {NULL, check_step_catalog, {"catalog", NULL}},
    {NULL, step_facts, {"facts", NULL}},
    {NULL, check_step_datashares, {NULL}}, /* datashares.c: Redshift producers only */
};

void check_datastore(const cfg_datastore *ds, check_report *out)
{
    memset(out, 0, sizeof *out);
    out->ds = ds;
    check_ctx x = {.ds = ds, .r = out, .target = {ds->host, NULL, ds->port}};
    bool stopped = false;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        const check_step *st = &steps[i];
        if (st->applies && !st->applies(ds))
            continue;
        if (stopped) {
            for (size_t k = 0; k < 3 && st->skips[k]; k++)
                check_add_item(&x, st->skips[k], NULL, CHECK_SKIP, 0,
                               mc_strdup("not tested: an earlier step failed"), NULL);
            continue;
        }
        if (st->run(&x) != 0)
            stopped = true;
    }
    /* The session first: its goodbye still travels through the tunnel. */
    disc_close(x.sess);
    tunnel_close(x.tun);
}

/* ---- the report as text and JSON ------------------------------------------------ */

/* A tunnel item's address: its hop's host:port, or the warehouse's for the
 * forwarding.  NULL for every other item. */
static char *item_address(const cfg_datastore *ds, const check_item *it)
{
    if (it->hop > 0 && it->hop <= check_n_hops(ds)) {
        const cfg_hop *h = check_hop(ds, it->hop);
        if (h->port == 0) /* via: openssh, the port left to ssh_config */
            return mc_strdup(h->host);
        return mc_asprintf("%s:%d", h->host, h->port);
    }
    if (strcmp(it->step, "tunnel_forwarding") == 0)
        return mc_asprintf("%s:%d", ds->host, ds->port);
    return NULL;
}

/* What a datastore-wide item is called in the checklist: its step, or for
 * the tunnel "tunnel hop 1 (bastion:22) host key", "tunnel forwarding to
 * warehouse:5439". */
char *check_item_label(const cfg_datastore *ds, const check_item *it)
{
    char *addr = item_address(ds, it);
    int w = 0;
    char *label;
    if (addr && is_hop_step(it->step, &w))
        label = mc_asprintf("tunnel hop %zu (%s) %s", it->hop, addr, hop_step_labels[w]);
    else if (addr)
        label = mc_asprintf("tunnel forwarding to %s", addr);
    else if (strcmp(it->step, "tunnel_program") == 0)
        label = mc_strdup(ds->tunnel.via == CFG_TUNNEL_OPENSSH ? "tunnel ssh" : "tunnel command");
    else
        label = mc_strdup(it->step);
    free(addr);
    return label;
}

void check_report_json(mc_buf *b, const check_report *r)
{
    const cfg_datastore *ds = r->ds;
    bool first = true;
    mc_buf_putc(b, '{');
    json_put_kv_str(b, &first, "datastore", ds->name);
    json_put_kv_int(b, &first, "exit_code", r->exit_code);
    json_put_kv_bool(b, &first, "ok", r->exit_code == 0);
    json_put_kv_str(b, &first, "host", ds->host);
    json_put_kv_int(b, &first, "port", ds->port);
    json_put_kv_str(b, &first, "database", ds->database);
    json_put_kv_str(b, &first, "user", ds->user);
    json_put_kv_str(b, &first, "dialect", r->dialect);
    json_put_kv_str(b, &first, "server_version", r->server_version);
    json_put_kv_int(b, &first, "queries", r->n_queries);
    first = json_put_key(b, first, "steps");
    mc_buf_putc(b, '[');
    for (size_t i = 0; i < r->n_items; i++) {
        const check_item *it = &r->items[i];
        bool f2 = true;
        if (i)
            mc_buf_putc(b, ',');
        mc_buf_putc(b, '{');
        json_put_kv_str(b, &f2, "step", it->step);
        json_put_kv_str(b, &f2, "schema", it->schema);
        if (it->hop > 0)
            json_put_kv_int(b, &f2, "hop", (int64_t)it->hop);
        else
            json_put_kv_raw(b, &f2, "hop", NULL);
        char *addr = item_address(ds, it);
        json_put_kv_str(b, &f2, "address", addr);
        free(addr);
        json_put_kv_str(b, &f2, "status", check_status_name(it->status));
        json_put_kv_int(b, &f2, "code", it->code);
        json_put_kv_str(b, &f2, "message", it->message);
        json_put_kv_str(b, &f2, "fix", it->fix);
        if (it->count >= 0)
            json_put_kv_int(b, &f2, "count", it->count);
        else
            json_put_kv_raw(b, &f2, "count", NULL);
        if (it->total >= 0)
            json_put_kv_int(b, &f2, "total", it->total);
        else
            json_put_kv_raw(b, &f2, "total", NULL);
        f2 = json_put_key(b, f2, "names");
        mc_buf_putc(b, '[');
        for (size_t k = 0; k < it->n_names; k++) {
            if (k)
                mc_buf_putc(b, ',');
            json_put_str(b, it->names[k]);
        }
        mc_buf_putc(b, ']');
        mc_buf_putc(b, '}');
    }
    mc_buf_puts(b, "]}");
}
