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
 * The report is data (check_report) and JSON here; the checklist as
 * terminal text is the command's (crawler/cli/cmd_check.c).
 */
#include "grants.h"
#include "crawl.h"
#include "discover.h"
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

typedef struct check_ctx {
    const cfg_datastore *ds;
    check_report *r;
    /* Where libpq connects.  A tunnel's steps point it at the local end of
     * the tunnel (hostaddr 127.0.0.1, the local port) and keep host, so
     * TLS and .pgpass still see the warehouse's name. */
    disc_target target;
    tunnel *tun;               /* open from the tunnel step to the end */
    /* The database connection is made once: through a tunnel by the
     * forwarding step (the first connection is what tests forwarding),
     * else by the database step, which reports it either way. */
    bool connect_tried;
    int connect_rc;
    mc_error connect_err;
    disc_session *sess;
    grants_dialect dialect;
} check_ctx;

static check_item *add_item(check_ctx *x, const char *step, const char *schema,
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

/* A name as people read it: bare when it is a plain lower-case word, else
 * as a quoted identifier (control characters escaped, so it is safe on a
 * terminal and unambiguous in a list). */
static void put_name(mc_buf *b, const char *name)
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
    put_name(&b, name);
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

/* The fix for an error from a catalog statement. */
static char *query_fix(check_ctx *x, const char *msg)
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
    return ds->tunnel.present ? 1 + ds->tunnel.n_jump : 0;
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
static int step_tunnel(check_ctx *x)
{
    const cfg_datastore *ds = x->ds;
    size_t n = check_n_hops(ds);
    tunnel_progress p = {0, TUNNEL_STEP_REACH};
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
                it = add_item(x, hop_steps[w], NULL, CHECK_OK, 0, hop_ok_message(ds, h, w),
                              NULL);
            else if (h == fail_hop && w == fail_step)
                it = add_item(x, hop_steps[w], NULL, CHECK_FAIL,
                              err.code ? err.code : MC_EXIT_CONNECT,
                              tunnel_message(ds, err.message),
                              err.hint[0] ? mc_strdup(err.hint) : NULL);
            else if (h < fail_hop || (h == fail_hop && w < fail_step))
                it = add_item(x, hop_steps[w], NULL, CHECK_SKIP, 0,
                              mc_strdup("not tried: the problem below stops the tunnel "
                                        "before it connects"),
                              NULL);
            else
                it = add_item(x, hop_steps[w], NULL, CHECK_SKIP, 0,
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
        add_item(x, "tunnel_forwarding", NULL, CHECK_SKIP, 0,
                 mc_strdup("not tried without a database password"), NULL);
        return 0;
    }
    if (rc != 0 && tunnel_failed(x->tun, &why)) {
        add_item(x, "tunnel_forwarding", NULL, CHECK_FAIL, why.code ? why.code : MC_EXIT_CONNECT,
                 tunnel_message(x->ds, why.message), why.hint[0] ? mc_strdup(why.hint) : NULL);
        return -1;
    }
    /* The connection is made (or refused by the database itself): nobody
     * else may use the port. */
    tunnel_seal(x->tun);
    size_t n = check_n_hops(x->ds);
    add_item(x, "tunnel_forwarding", NULL, CHECK_OK, 0,
             n == 1 ? mc_strdup("the bastion opened a connection to it")
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
        add_item(x, "reach", NULL, CHECK_OK, 0, answers(x), NULL);
        add_item(x, "authenticate", NULL, CHECK_OK, 0,
                 mc_asprintf("logged in as %s to database %s", user, x->ds->database), NULL);
    } else if (err.code == MC_EXIT_CONFIG) {
        /* The password's source failed (unset variable, unreadable file,
         * failing command): nothing was sent to the server. */
        add_item(x, "reach", NULL, CHECK_SKIP, 0, mc_strdup("not tried without a password"),
                 NULL);
        add_item(x, "authenticate", NULL, CHECK_FAIL, MC_EXIT_CONFIG, mc_strdup(err.message),
                 mc_strdup(err.hint));
    } else {
        char *fix = connect_fix(x->ds, err.message);
        if (!fix)
            fix = mc_strdup(err.hint[0] ? err.hint : "check host, port and the network path");
        if (err.code == MC_EXIT_AUTH) {
            add_item(x, "reach", NULL, CHECK_OK, 0, answers(x), NULL);
            add_item(x, "authenticate", NULL, CHECK_FAIL, MC_EXIT_AUTH, mc_strdup(err.message),
                     fix);
        } else {
            add_item(x, "reach", NULL, CHECK_FAIL, err.code ? err.code : MC_EXIT_CONNECT,
                     mc_strdup(err.message), fix);
            add_item(x, "authenticate", NULL, CHECK_SKIP, 0, mc_strdup("not tried"), NULL);
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
        add_item(x, "server", NULL, CHECK_FAIL, err.code ? err.code : MC_EXIT_CONNECT,
                 mc_strdup(err.message), mc_strdup(err.hint));
        return -1;
    }
    x->r->dialect = mc_strdup(disc_dialect(x->sess));
    x->r->server_version = mc_strdup(disc_server_version(x->sess));
    int d = grants_dialect_parse(x->r->dialect);
    x->dialect = d < 0 ? GRANTS_POSTGRESQL : (grants_dialect)d;
    add_item(x, "server", NULL, CHECK_OK, 0,
             mc_asprintf("%s (%s dialect)", x->r->server_version, x->r->dialect), NULL);
    return 0;
}

/* ---- the catalog step ----------------------------------------------------------- */

static const char pg_schemas_sql[] =
    "SELECT n.nspname AS name, pg_catalog.has_schema_privilege(n.oid, 'USAGE') AS usable "
    "FROM pg_catalog.pg_namespace n "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";
/* @SCHEMAS@: the schemas in scope, as escaped literals (the relation
 * query reads only them). */
static const char pg_relations_sql[] =
    "SELECT n.nspname AS schema, c.relname AS name, "
    "pg_catalog.pg_get_userbyid(c.relowner) AS owner, "
    "pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition "
    "AND n.nspname IN (@SCHEMAS@)";
/* Every role the user holds the privileges of (itself included). */
static const char pg_members_sql[] =
    "SELECT r.rolname AS name, false AS is_group, "
    "r.rolsuper AND r.rolname = current_user AS super "
    "FROM pg_catalog.pg_roles r "
    "WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')";
static const char pg_default_acl_sql[] =
    "SELECT pg_catalog.pg_get_userbyid(d.defaclrole) AS owner, n.nspname AS schema, "
    "d.defaclacl AS acl "
    "FROM pg_catalog.pg_default_acl d "
    "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace "
    "WHERE d.defaclobjtype = 'r'";

/* Redshift: oids, not names, in the privilege functions (HAS_SCHEMA_PRIVILEGE
 * and HAS_TABLE_PRIVILEGE, both leader-node functions, here only over
 * catalog tables).  A name would be parsed as an identifier, and with
 * enable_case_sensitive_identifier off (the default) even a quoted one is
 * folded to lower case, so a mixed-case relation is not found and the whole
 * statement fails.  has_table_privilege only where the schema is usable, as
 * before: without USAGE the answer is "not tested".  The relation query
 * reads only the schemas in scope.  Catalog objects unqualified, as AWS
 * writes them and discover.c's Redshift dialect does. */
static const char rs_schemas_sql[] =
    "SELECT n.nspname AS name, has_schema_privilege(n.oid, 'USAGE') AS usable, "
    "COALESCE(es.eskind, 0) AS eskind "
    "FROM pg_namespace n LEFT JOIN pg_external_schema es ON es.esoid = n.oid "
    "WHERE n.nspname <> 'information_schema' AND substr(n.nspname, 1, 3) <> 'pg_'";
static const char rs_relations_sql[] =
    "SELECT n.nspname AS schema, c.relname AS name, "
    "pg_get_userbyid(c.relowner) AS owner, "
    "CASE WHEN has_schema_privilege(n.oid, 'USAGE') "
    "THEN has_table_privilege(c.oid, 'SELECT') END AS readable "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'v', 'm') AND substr(c.relname, 1, 8) <> 'mv_tbl__' "
    "AND n.nspname IN (@SCHEMAS@)";
static const char rs_members_sql[] =
    "SELECT u.usename AS name, false AS is_group, u.usesuper AS super "
    "FROM pg_user u WHERE u.usename = current_user "
    "UNION ALL "
    "SELECT g.groname, true, false FROM pg_group g, pg_user u "
    "WHERE u.usename = current_user AND u.usesysid = ANY (g.grolist)";
/* Redshift shows a non-superuser only its own rows of pg_default_acl. */
static const char rs_default_acl_sql[] =
    "SELECT pg_get_userbyid(d.defacluser) AS owner, n.nspname AS schema, "
    "d.defaclacl AS acl "
    "FROM pg_default_acl d "
    "LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace "
    "WHERE d.defaclobjtype = 'r'";

typedef struct schema_state {
    char *name;
    bool usable;
    int eskind; /* Redshift external schema kind, 0 = local */
    int64_t n_tables, n_unreadable, n_unknown;
    char *unreadable[CHECK_MAX_NAMES];
    size_t n_names;
    char **owners; /* sorted, distinct */
    size_t n_owners;
} schema_state;

typedef struct relation {
    const char *schema, *name, *owner; /* in the relation query's result */
    int readable;                      /* 1, 0, -1 unknown */
} relation;

static int cmp_schema_state(const void *a, const void *b)
{
    return strcmp(((const schema_state *)a)->name, ((const schema_state *)b)->name);
}

static int cmp_relation(const void *a, const void *b)
{
    const relation *x = a, *y = b;
    int c = strcmp(x->schema, y->schema);
    return c ? c : strcmp(x->name, y->name);
}

static schema_state *find_schema(schema_state *s, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s[mid].name, name);
        if (c == 0)
            return &s[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void add_owner(schema_state *s, const char *owner)
{
    for (size_t i = 0; i < s->n_owners; i++)
        if (strcmp(s->owners[i], owner) == 0)
            return;
    size_t at = 0;
    while (at < s->n_owners && strcmp(s->owners[at], owner) < 0)
        at++;
    s->owners = mc_realloc(s->owners, (s->n_owners + 1) * sizeof *s->owners);
    memmove(s->owners + at + 1, s->owners + at, (s->n_owners - at) * sizeof *s->owners);
    s->owners[at] = mc_strdup(owner);
    s->n_owners++;
}

/* One catalog statement; on failure a "catalog" item with the fix. */
static pg_result *catalog_query(check_ctx *x, const char *what, const char *sql)
{
    pg_session *pg = disc_pg(x->sess);
    x->r->n_queries++;
    pg_result *res = pg_query(pg, what, sql, NULL);
    if (res)
        return res;
    const pg_failure *f = pg_last_failure(pg);
    const char *line = f->message;
    bool perm = strcmp(f->sqlstate, "42501") == 0;
    mc_error why = {0};
    if (tunnel_failed(x->tun, &why)) {
        /* The tunnel broke under the statement: its error is the cause. */
        add_item(x, "catalog", NULL, CHECK_FAIL, why.code ? why.code : MC_EXIT_CONNECT,
                 mc_asprintf("the %s failed: %s", what, why.message),
                 why.hint[0] ? mc_strdup(why.hint) : NULL);
        return NULL;
    }
    char *fix = query_fix(x, line);
    if (!fix)
        fix = mc_strdup(f->lost
                            ? "the connection was lost; run check again"
                            : "run with -vv to see the statement, and report it if the server "
                              "should support it");
    add_item(x, "catalog", NULL, CHECK_FAIL, perm ? MC_EXIT_AUTH : MC_EXIT_CONNECT,
             mc_asprintf("the %s failed: %s", what, line), fix);
    return NULL;
}

static void free_schemas(schema_state *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].name);
        for (size_t k = 0; k < s[i].n_names; k++)
            free(s[i].unreadable[k]);
        for (size_t k = 0; k < s[i].n_owners; k++)
            free(s[i].owners[k]);
        free(s[i].owners);
    }
    free(s);
}

/* "a, b, c" of up to max names (display form), "and N more" after. */
static void put_name_list(mc_buf *b, const char *const *names, size_t n, int64_t total)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            mc_buf_puts(b, ", ");
        put_name(b, names[i]);
    }
    if (total > (int64_t)n)
        mc_buf_printf(b, " and %lld more", (long long)(total - (int64_t)n));
}

static void set_names(check_item *it, const char *const *names, size_t n)
{
    if (n > CHECK_MAX_NAMES)
        n = CHECK_MAX_NAMES;
    it->names = mc_calloc(n + 1, sizeof *it->names);
    for (size_t i = 0; i < n; i++)
        it->names[i] = mc_strdup(names[i]);
    it->n_names = n;
}

/* Membership: the names the crawler holds privileges through. */
typedef struct members {
    const char **names;
    bool *groups;
    size_t n;
    bool super;
} members;

static bool member_of(const members *m, const char *name, bool group)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->groups[i] == group && strcmp(m->names[i], name) == 0)
            return true;
    return false;
}

static void evaluate_default_acl(check_ctx *x, schema_state *s, const members *m,
                                 const pg_result *acl)
{
    const cfg_datastore *ds = x->ds;
    bool rs = x->dialect == GRANTS_REDSHIFT;
    char *shown = check_name_text(s->name);
    if (s->n_owners == 0) {
        add_item(x, "default_privileges", s->name, CHECK_OK, 0,
                 mc_strdup("no owners to cover yet"), NULL);
        free(shown);
        return;
    }
    const char **uncovered = mc_calloc(s->n_owners + 1, sizeof *uncovered);
    size_t n_uncovered = 0;
    for (size_t i = 0; i < s->n_owners; i++) {
        const char *owner = s->owners[i];
        /* Its own tables, or a role it is a member of: readable anyway. */
        bool covered = m->super || member_of(m, owner, false);
        for (int row = 0; acl && !covered && row < pg_result_rows(acl); row++) {
            if (pg_result_null(acl, row, 0) || strcmp(pg_result_text(acl, row, 0), owner) != 0)
                continue;
            if (!pg_result_null(acl, row, 1) && strcmp(pg_result_text(acl, row, 1), s->name) != 0)
                continue; /* another schema's; NULL schema = every schema */
            covered = grants_acl_allows_select(pg_result_text(acl, row, 2),
                                               (const char *const *)m->names, m->groups, m->n);
        }
        if (!covered)
            uncovered[n_uncovered++] = owner;
    }
    mc_buf msg = {0};
    if (n_uncovered == 0) {
        mc_buf_puts(&msg, "future tables of ");
        put_name_list(&msg, (const char *const *)s->owners, s->n_owners, (int64_t)s->n_owners);
        mc_buf_puts(&msg, " will be readable");
        check_item *it = add_item(x, "default_privileges", s->name, CHECK_OK, 0,
                                  mc_buf_steal(&msg), NULL);
        it->count = 0;
        it->total = (int64_t)s->n_owners;
    } else if (rs && !m->super) {
        mc_buf_puts(&msg, "not tested: Redshift shows other users' default privileges only to "
                          "superusers (owners here: ");
        put_name_list(&msg, (const char *const *)s->owners, s->n_owners, (int64_t)s->n_owners);
        mc_buf_putc(&msg, ')');
        check_item *it = add_item(x, "default_privileges", s->name, CHECK_SKIP, 0,
                                  mc_buf_steal(&msg),
                                  mc_asprintf("`metacrawl grants %s --apply` sets them for "
                                              "every owner; re-running it is safe",
                                              ds->name));
        it->total = (int64_t)s->n_owners;
    } else {
        mc_buf fix = {0};
        mc_buf_puts(&msg, "future tables of ");
        put_name_list(&msg, uncovered, n_uncovered, (int64_t)n_uncovered);
        mc_buf_printf(&msg, " will not be readable: no default privileges for %s",
                      n_uncovered == 1 ? "that owner" : "those owners");
        for (size_t i = 0; i < n_uncovered; i++) {
            char *sql = grants_fix_default(x->dialect, ds->user, ds->group, uncovered[i], s->name);
            if (sql) {
                if (fix.len)
                    mc_buf_putc(&fix, '\n');
                mc_buf_puts(&fix, sql);
                free(sql);
            }
        }
        check_item *it = add_item(x, "default_privileges", s->name, CHECK_FAIL, MC_EXIT_PARTIAL,
                                  mc_buf_steal(&msg), mc_buf_steal(&fix));
        it->count = (int64_t)n_uncovered;
        it->total = (int64_t)s->n_owners;
        set_names(it, uncovered, n_uncovered);
    }
    free(uncovered);
    free(shown);
}

static int step_catalog(check_ctx *x)
{
    const cfg_datastore *ds = x->ds;
    bool rs = x->dialect == GRANTS_REDSHIFT;
    pg_result *sch = NULL, *rel = NULL, *mem = NULL, *acl = NULL;
    schema_state *schemas = NULL;
    size_t n_schemas = 0;
    relation *rels = NULL;
    members m = {0};
    int rc = -1;

    char timeout[64];
    snprintf(timeout, sizeof timeout, "SET statement_timeout TO %d",
             ds->statement_timeout_ms > 0 ? ds->statement_timeout_ms : 300000);
    pg_result *set = catalog_query(x, "statement timeout", timeout);
    if (!set)
        goto out;
    pg_result_free(set);
    if (rs) {
        /* Names the server folds are compared as the catalog holds them
         * with this on; the privilege functions get oids and do not depend
         * on it.  Older releases without the setting go on without it. */
        x->r->n_queries++;
        pg_exec(disc_pg(x->sess), "case-sensitive identifiers",
                "SET enable_case_sensitive_identifier TO true", NULL);
    }
    if (!(sch = catalog_query(x, "schema query", rs ? rs_schemas_sql : pg_schemas_sql)))
        goto out;
    {
        /* the relation query reads only the schemas in scope */
        mc_buf in = {0};
        for (int i = 0; i < pg_result_rows(sch); i++) {
            const char *name = pg_result_text(sch, i, 0);
            if (disc_is_system_schema(name) || !cfg_globs_match(&ds->schemas, name))
                continue;
            char *lit = pg_escape_literal(disc_pg(x->sess), name);
            mc_buf_printf(&in, "%s%s", in.len ? ", " : "", lit ? lit : "NULL");
            free(lit);
        }
        mc_buf sql = {0};
        const char *tmpl = rs ? rs_relations_sql : pg_relations_sql;
        const char *at = strstr(tmpl, "@SCHEMAS@");
        mc_buf_append(&sql, tmpl, (size_t)(at - tmpl));
        mc_buf_puts(&sql, in.len ? mc_buf_str(&in) : "NULL");
        mc_buf_puts(&sql, at + strlen("@SCHEMAS@"));
        rel = catalog_query(x, "relation query", mc_buf_str(&sql));
        mc_buf_free(&sql);
        mc_buf_free(&in);
    }
    if (!rel ||
        !(mem = catalog_query(x, "membership query", rs ? rs_members_sql : pg_members_sql)) ||
        !(acl = catalog_query(x, "default privilege query",
                              rs ? rs_default_acl_sql : pg_default_acl_sql)))
        goto out;
    rc = 0;

    /* Schemas in scope, sorted for lookups. */
    schemas = mc_calloc((size_t)pg_result_rows(sch) + 1, sizeof *schemas);
    for (int i = 0; i < pg_result_rows(sch); i++) {
        const char *name = pg_result_text(sch, i, 0);
        if (disc_is_system_schema(name) || !cfg_globs_match(&ds->schemas, name))
            continue;
        schemas[n_schemas].name = mc_strdup(name);
        schemas[n_schemas].usable = pg_result_bool(sch, i, 1);
        if (pg_result_columns(sch) > 2)
            schemas[n_schemas].eskind = (int)pg_result_int(sch, i, 2);
        n_schemas++;
    }
    qsort(schemas, n_schemas, sizeof *schemas, cmp_schema_state);

    /* Relations in scope, sorted so the names listed are the first ones. */
    int nr = pg_result_rows(rel);
    rels = mc_calloc((size_t)nr + 1, sizeof *rels);
    size_t n_rels = 0;
    for (int i = 0; i < nr; i++) {
        relation rr = {pg_result_text(rel, i, 0), pg_result_text(rel, i, 1),
                       pg_result_null(rel, i, 2) ? NULL : pg_result_text(rel, i, 2),
                       pg_result_null(rel, i, 3) ? -1 : pg_result_bool(rel, i, 3)};
        if (!find_schema(schemas, n_schemas, rr.schema) ||
            !cfg_globs_match(&ds->containers, rr.name))
            continue;
        rels[n_rels++] = rr;
    }
    qsort(rels, n_rels, sizeof *rels, cmp_relation);
    for (size_t i = 0; i < n_rels; i++) {
        schema_state *s = find_schema(schemas, n_schemas, rels[i].schema);
        if (!s)
            continue; /* cannot happen: filtered above */
        s->n_tables++;
        if (rels[i].owner)
            add_owner(s, rels[i].owner);
        if (rels[i].readable < 0) {
            s->n_unknown++;
        } else if (rels[i].readable == 0) {
            if (s->n_names < CHECK_MAX_NAMES)
                s->unreadable[s->n_names++] = mc_strdup(rels[i].name);
            s->n_unreadable++;
        }
    }

    int nm = pg_result_rows(mem);
    m.names = mc_calloc((size_t)nm + 1, sizeof *m.names);
    m.groups = mc_calloc((size_t)nm + 1, sizeof *m.groups);
    for (int i = 0; i < nm; i++) {
        m.names[m.n] = pg_result_text(mem, i, 0);
        m.groups[m.n] = pg_result_bool(mem, i, 1);
        m.super |= pg_result_bool(mem, i, 2);
        m.n++;
    }

    /* The group the grants go to. */
    char *role = grants_group_role(x->dialect, ds->user, ds->group);
    char *role_shown = check_name_text(role);
    if (m.super || member_of(&m, role, rs))
        add_item(x, "group", NULL, CHECK_OK, 0,
                 mc_asprintf(m.super ? "superuser (every privilege; a crawler needs far fewer)"
                                     : "member of %s %s",
                             rs ? "group" : "role", role_shown),
                 NULL);
    else
        add_item(x, "group", NULL, CHECK_WARN, 0,
                 mc_asprintf("not a member of %s %s, which `metacrawl grants %s` grants to",
                             rs ? "group" : "role", role_shown, ds->name),
                 grants_fix_member(x->dialect, ds->user, ds->group));
    free(role_shown);
    free(role);

    mc_buf list = {0};
    char **names = mc_calloc(n_schemas + 1, sizeof *names);
    for (size_t i = 0; i < n_schemas; i++)
        names[i] = schemas[i].name;
    if (n_schemas == 0) {
        add_item(x, "schemas", NULL, CHECK_WARN, 0,
                 mc_strdup("no schemas in scope: a crawl would find nothing"),
                 mc_strdup("check schemas: include/exclude in the config (system schemas are "
                           "never crawled)"));
    } else {
        mc_buf_printf(&list, "%zu in scope: ", n_schemas);
        put_name_list(&list, (const char *const *)names, n_schemas < CHECK_MAX_NAMES ? n_schemas : CHECK_MAX_NAMES,
                      (int64_t)n_schemas);
        check_item *it = add_item(x, "schemas", NULL, CHECK_OK, 0, mc_buf_steal(&list), NULL);
        it->total = (int64_t)n_schemas;
        set_names(it, (const char *const *)names, n_schemas);
    }
    free(names);

    for (size_t i = 0; i < n_schemas; i++) {
        schema_state *s = &schemas[i];
        if (s->usable)
            add_item(x, "usage", s->name, CHECK_OK, 0,
                     s->eskind ? mc_asprintf("USAGE (external schema: %s)",
                                             grants_external_kind_name(s->eskind)
                                                 ? grants_external_kind_name(s->eskind)
                                                 : "of a kind AWS has not documented")
                               : mc_strdup("USAGE"),
                     NULL);
        else
            add_item(x, "usage", s->name, CHECK_FAIL, MC_EXIT_PARTIAL,
                     mc_strdup("no USAGE: a crawl reports \"permission denied for schema\" and "
                               "reads nothing in it"),
                     grants_fix_usage(x->dialect, ds->user, ds->group, s->name));
        check_item *it;
        if (s->n_tables == 0) {
            it = add_item(x, "select", s->name, CHECK_OK, 0, mc_strdup("no tables"), NULL);
        } else if (s->n_unknown > 0 && s->n_unreadable == 0) {
            it = add_item(x, "select", s->name, CHECK_SKIP, 0,
                          mc_asprintf("not tested on %lld tables without USAGE on the schema",
                                      (long long)s->n_unknown),
                          NULL);
        } else if (s->n_unreadable == 0) {
            it = add_item(x, "select", s->name, CHECK_OK, 0,
                          mc_asprintf("SELECT on every table and view (%lld)",
                                      (long long)s->n_tables),
                          NULL);
        } else {
            mc_buf msg = {0};
            mc_buf_printf(&msg, "no SELECT on %lld of %lld tables and views: ",
                          (long long)s->n_unreadable, (long long)s->n_tables);
            put_name_list(&msg, (const char *const *)s->unreadable, s->n_names < 5 ? s->n_names : 5, s->n_unreadable);
            it = add_item(x, "select", s->name, CHECK_FAIL, MC_EXIT_PARTIAL, mc_buf_steal(&msg),
                          grants_fix_select(x->dialect, ds->user, ds->group, s->name));
            set_names(it, (const char *const *)s->unreadable, s->n_names);
        }
        it->count = s->n_unreadable;
        it->total = s->n_tables;
        evaluate_default_acl(x, s, &m, acl);
    }
out:
    free(m.names);
    free(m.groups);
    free(rels);
    free_schemas(schemas, n_schemas);
    pg_result_free(sch);
    pg_result_free(rel);
    pg_result_free(mem);
    pg_result_free(acl);
    return rc;
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
    {NULL, step_catalog, {"catalog", NULL}},
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
                add_item(&x, st->skips[k], NULL, CHECK_SKIP, 0,
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
