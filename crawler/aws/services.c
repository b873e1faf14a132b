/*
 * services.c — the AWS calls metacrawl makes for a datastore: Redshift
 * GetClusterCredentials (Query API, XML answer), Redshift Serverless
 * GetCredentials and Secrets Manager GetSecretValue (JSON 1.1), the
 * per-process cache of database logins, and the errors users see.
 *
 * XML is not parsed: an answer is searched for the first <Tag>...</Tag> of
 * the few elements needed (DbUser, DbPassword, Expiration; Code and Message
 * of an error), bounded by the answer, with entities decoded.  That is all
 * of AWS's Query protocol metacrawl reads, and it reads nothing else.
 *
 * Cache (invariants):
 *  1. An entry is keyed by everything that changes the answer (service,
 *     cluster or workgroup, user, database, groups, auto_create, duration,
 *     region, profile, role, endpoint).
 *  2. It is served while more than AWSI_REFRESH_S remain before it expires;
 *     after that the next connection asks AWS again.
 *  3. Replaced and forgotten entries are wiped; aws_cache_clear wipes all
 *     (registered with atexit the first time anything is cached).
 */
#include "aws_internal.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

enum { AWSI_REFRESH_S = 300 };

/* ---- time --------------------------------------------------------------- */

int64_t aws_parse_time(const char *t)
{
    if (!t || !*t)
        return -1;
    const char *p = t;
    bool digits = true;
    for (const char *q = t; *q; q++)
        if (!isdigit((unsigned char)*q) && *q != '.')
            digits = false;
    if (digits) {
        char *end;
        double v = strtod(t, &end);
        return (*end || !isfinite(v) || v < 0 || v > 1e11) ? -1 : (int64_t)v;
    }
    struct tm tm = {0};
    int n = 0;
    if (sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6 || n != 19)
        return -1;
    p += n;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &k) != 2 || k != 5)
            return -1;
        off = (hh * 60 + mm) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) - off;
}

/* ---- XML elements ----------------------------------------------------------- */

/* Decodes XML text [s, s+n) into out (at least n+1 bytes); false on a bad
 * entity.  Entities only shrink text, so out never overflows. */
static bool xml_decode(const char *s, size_t n, char *out, size_t *n_out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            out[o++] = s[i++];
            continue;
        }
        const char *semi = memchr(s + i, ';', n - i);
        if (!semi || semi - (s + i) > 10)
            return false;
        size_t len = (size_t)(semi - (s + i)) + 1;
        static const struct { const char *e; char c; } ents[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;
        for (size_t k = 0; k < 5 && !done; k++)
            if (len == strlen(ents[k].e) && !memcmp(s + i, ents[k].e, len))
                out[o++] = ents[k].c, done = true;
        if (!done && s[i + 1] == '#') {
            unsigned long cp;
            char *end;
            if (s[i + 2] == 'x')
                cp = strtoul(s + i + 3, &end, 16);
            else
                cp = strtoul(s + i + 2, &end, 10);
            if (end != semi || cp == 0 || cp > 0x7f)
                return false; /* AWS's passwords and keys are ASCII */
            out[o++] = (char)cp;
            done = true;
        }
        if (!done)
            return false;
        i += len;
    }
    out[o] = '\0';
    *n_out = o;
    return true;
}

/* [*start, *start + *n) is the text of the first <tag>...</tag>. */
static bool xml_find(const char *xml, const char *tag, const char **start, size_t *n)
{
    if (!xml)
        return false;
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(xml, open);
    if (!a)
        return false;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b || memchr(a, '<', (size_t)(b - a)))
        return false; /* nested markup or CDATA: not one of ours */
    *start = a;
    *n = (size_t)(b - a);
    return true;
}

char *awsi_xml_text(const char *xml, const char *tag)
{
    const char *s;
    size_t n, m;
    if (!xml_find(xml, tag, &s, &n))
        return NULL;
    char *out = mc_malloc(n + 1);
    if (!xml_decode(s, n, out, &m)) {
        free(out);
        return NULL;
    }
    return out;
}

bool awsi_xml_secret(const char *xml, const char *tag, mc_secret *out)
{
    const char *s;
    size_t n, m;
    if (!xml_find(xml, tag, &s, &n) || n == 0)
        return false;
    char *tmp = mc_malloc(n + 1);
    bool ok = xml_decode(s, n, tmp, &m) && m > 0;
    if (ok)
        mc_secret_set(out, tmp, m);
    explicit_bzero(tmp, n + 1);
    free(tmp);
    return ok;
}

/* ---- errors ------------------------------------------------------------------ */

/* Printable ASCII of s into out, cut at n-1 bytes: AWS's text is shown to users. */
static void printable(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; s && *s && o + 1 < n; s++)
        out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    out[o] = '\0';
}

void awsi_error_parts(const awsi_resp *r, char *code, size_t n_code, char *msg, size_t n_msg)
{
    code[0] = msg[0] = '\0';
    if (!r->body || !r->n_body)
        return;
    const char *b = r->body;
    while (isspace((unsigned char)*b))
        b++;
    if (*b == '<') {
        char *c = awsi_xml_text(b, "Code"), *m = awsi_xml_text(b, "Message");
        printable(c, code, n_code);
        printable(m, msg, n_msg);
        free(c);
        free(m);
        return;
    }
    json_t *j = json_loadb(r->body, r->n_body, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    const char *c = json_string_value(json_object_get(j, "__type"));
    if (!c)
        c = json_string_value(json_object_get(j, "code"));
    if (!c)
        c = json_string_value(json_object_get(j, "Code"));
    const char *m = json_string_value(json_object_get(j, "message"));
    if (!m)
        m = json_string_value(json_object_get(j, "Message"));
    if (c && strchr(c, '#'))
        c = strrchr(c, '#') + 1; /* "com.amazon...#ResourceNotFoundException" */
    printable(c, code, n_code);
    printable(m, msg, n_msg);
    json_decref(j);
}

static bool code_is(const char *code, const char *const *names)
{
    for (; *names; names++)
        if (!strcmp(code, *names))
            return true;
    return false;
}

int awsi_fail_transport(const awsi_resp *r, const char *what, const char *url, mc_error *err)
{
    char t[256];
    printable(r->transport, t, sizeof t);
    mc_error_set(err, MC_EXIT_CONNECT, "cannot reach AWS for %s at %s: %s", what, url, t);
    if (strstr(t, "resolve"))
        mc_error_hint(err, "is the region right? AWS endpoints are SERVICE.REGION.amazonaws.com, "
                           "e.g. us-east-1; a private network needs a VPC endpoint "
                           "(aws_endpoint_url)");
    else
        mc_error_hint(err, "check the network path to AWS (proxy, VPC endpoint, security "
                           "groups); metacrawl does not use http_proxy for AWS");
    return -1;
}

int awsi_fail(const awsi_resp *r, const char *what, const awsi_creds *c, const char *region,
              const char *not_found_hint, const char *denied_hint, mc_error *err)
{
    char code[96], msg[300];
    awsi_error_parts(r, code, sizeof code, msg, sizeof msg);
    const char *src = c ? c->source : "no credentials";
    static const char *const expired[] = {"ExpiredToken", "ExpiredTokenException",
                                          "RequestExpired", NULL};
    static const char *const bad_key[] = {"InvalidClientTokenId", "UnrecognizedClientException",
                                          "InvalidAccessKeyId", "InvalidToken", NULL};
    static const char *const bad_sig[] = {"SignatureDoesNotMatch", "IncompleteSignature",
                                          "InvalidSignatureException", NULL};
    static const char *const denied[] = {"AccessDenied", "AccessDeniedException",
                                         "UnauthorizedOperation", "AuthorizationError",
                                         "UnauthorizedException", NULL};
    static const char *const missing[] = {"ClusterNotFound", "ClusterNotFoundFault",
                                          "ResourceNotFoundException", "ResourceNotFound",
                                          "NoSuchEntity", NULL};
    const char *shown = code[0] ? code : "no error code";
    if (code[0] && code_is(code, expired)) {
        mc_error_set(err, MC_EXIT_AUTH, "AWS refused %s: %s: the session token from %s has "
                     "expired", what, code, src);
        mc_error_hint(err, "get fresh credentials (aws sso login, a new AWS_SESSION_TOKEN, or "
                           "let the instance or task role provide them) and run again");
    } else if (code[0] && code_is(code, bad_key)) {
        mc_error_set(err, MC_EXIT_AUTH, "AWS refused %s: %s: the access key id from %s is not "
                     "known to AWS", what, code, src);
        mc_error_hint(err, "the key was deleted or belongs to another partition; check "
                           "AWS_ACCESS_KEY_ID or the profile's aws_access_key_id");
    } else if (code[0] && code_is(code, bad_sig)) {
        mc_error_set(err, MC_EXIT_AUTH, "AWS refused %s: %s: the secret access key from %s "
                     "does not match its key id", what, code, src);
        mc_error_hint(err, "check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key "
                           "(and that the clock is right)");
    } else if ((code[0] && code_is(code, denied)) || (!code[0] && r->status == 403)) {
        mc_error_set(err, MC_EXIT_AUTH, "AWS denied %s to the identity from %s: %s%s%s", what,
                     src, shown, msg[0] ? ": " : "", msg);
        mc_error_hint(err, "%s", denied_hint);
    } else if (code[0] && code_is(code, missing)) {
        mc_error_set(err, MC_EXIT_CONFIG, "AWS found nothing for %s in region %s: %s%s%s", what,
                     region ? region : "?", code, msg[0] ? ": " : "", msg);
        mc_error_hint(err, "%s", not_found_hint);
    } else {
        mc_error_set(err, r->status >= 500 ? MC_EXIT_CONNECT : MC_EXIT_AUTH,
                     "AWS refused %s (HTTP %ld): %s%s%s", what, r->status, shown,
                     msg[0] ? ": " : "", msg);
        mc_error_hint(err, "%s", r->status >= 500 ? "AWS had a problem; try again later"
                                                  : "see AWS's message; docs/aws.md lists what "
                                                    "each setting needs");
    }
    return -1;
}

/* ---- regions and endpoints --------------------------------------------------- */

char *awsi_service_url(const aws_opts *o, const char *host_prefix, const char *region)
{
    if (o && o->endpoint_url) {
        size_t n = strlen(o->endpoint_url);
        return mc_asprintf("%s%s", o->endpoint_url,
                           n && o->endpoint_url[n - 1] == '/' ? "" : "/");
    }
    bool cn = !strncmp(region, "cn-", 3);
    return mc_asprintf("https://%s.%s.amazonaws.com%s/", host_prefix, region, cn ? ".cn" : "");
}

/* A region is letters, digits and '-': it goes into a host name and a scope. */
static bool region_ok(const char *r)
{
    if (!r || !*r || strlen(r) > 40)
        return false;
    for (; *r; r++)
        if (!(islower((unsigned char)*r) || isdigit((unsigned char)*r) || *r == '-'))
            return false;
    return true;
}

static int need_region(const aws_opts *o, const char *what, char **out, mc_error *err)
{
    *out = awsi_region(o);
    if (!*out) {
        mc_error_set(err, MC_EXIT_CONFIG, "no AWS region for %s", what);
        mc_error_hint(err, "set region: in the iam: block, or AWS_REGION, or region = in the "
                           "profile of ~/.aws/config");
        return -1;
    }
    if (!region_ok(*out)) {
        mc_error_set(err, MC_EXIT_CONFIG, "the AWS region for %s is not a region name", what);
        mc_error_hint(err, "a region is lower-case letters, digits and '-', e.g. eu-west-1");
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* ---- the login cache -------------------------------------------------------------- */

struct cached_login {
    char *key;
    char *user;
    mc_secret password;
    int64_t expires_at;
};
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cached_login *cache;
static size_t n_cache;

void awsi_chain_cache_clear(void);
static void register_wipe(void)
{
    atexit(aws_cache_clear);
}

void aws_cache_clear(void)
{
    pthread_mutex_lock(&cache_mu);
    for (size_t i = 0; i < n_cache; i++) {
        free(cache[i].key);
        free(cache[i].user);
        mc_secret_wipe(&cache[i].password);
    }
    free(cache);
    cache = NULL;
    n_cache = 0;
    pthread_mutex_unlock(&cache_mu);
    awsi_chain_cache_clear();
}

static bool cache_get(const char *key, aws_db_login *out)
{
    bool hit = false;
    pthread_mutex_lock(&cache_mu);
    for (size_t i = 0; i < n_cache; i++) {
        struct cached_login *c = &cache[i];
        if (strcmp(c->key, key) != 0)
            continue;
        if (c->expires_at - mc_time_now() > AWSI_REFRESH_S) {
            out->user = mc_strdup(c->user);
            mc_secret_set(&out->password, c->password.value, c->password.len);
            out->expires_at = c->expires_at;
            out->cached = true;
            hit = true;
        }
        break;
    }
    pthread_mutex_unlock(&cache_mu);
    return hit;
}

/* Both caches are wiped at exit: registered once, by whichever caches first. */
void awsi_wipe_at_exit(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_wipe);
}

static void cache_put(const char *key, const aws_db_login *l)
{
    if (l->expires_at <= 0)
        return;
    awsi_wipe_at_exit();
    pthread_mutex_lock(&cache_mu);
    struct cached_login *slot = NULL;
    for (size_t i = 0; i < n_cache && !slot; i++)
        if (!strcmp(cache[i].key, key))
            slot = &cache[i];
    if (slot) {
        free(slot->user);
        mc_secret_wipe(&slot->password);
    } else {
        cache = mc_realloc(cache, (n_cache + 1) * sizeof *cache);
        slot = &cache[n_cache++];
        slot->key = mc_strdup(key);
    }
    slot->user = mc_strdup(l->user);
    memset(&slot->password, 0, sizeof slot->password);
    mc_secret_set(&slot->password, l->password.value, l->password.len);
    slot->expires_at = l->expires_at;
    pthread_mutex_unlock(&cache_mu);
}

static char *login_key(const aws_opts *o, const aws_db_request *r, const char *region)
{
    mc_buf k = {0};
#define KEYPART(s) (mc_buf_puts(&k, (s) ? (s) : "-"), mc_buf_putc(&k, '\x1f'))
    KEYPART(r->cluster_identifier);
    KEYPART(r->workgroup);
    KEYPART(r->db_user);
    KEYPART(r->db_name);
    for (size_t i = 0; i < r->n_db_groups; i++)
        KEYPART(r->db_groups[i]);
    mc_buf_printf(&k, "%d\x1f%d\x1f", r->auto_create, r->duration_s);
    KEYPART(region);
    KEYPART(o->profile);
    KEYPART(o->role_arn);
    KEYPART(o->endpoint_url);
#undef KEYPART
    return mc_buf_steal(&k);
}

void aws_db_login_free(aws_db_login *l)
{
    free(l->user);
    l->user = NULL;
    mc_secret_wipe(&l->password);
}

/* ---- Redshift: GetClusterCredentials ---------------------------------------------- */

static int provisioned(const aws_opts *o, const aws_db_request *r, const char *region,
                       const awsi_creds *c, aws_db_login *out, mc_error *err)
{
    mc_buf body = {0};
    awsi_form_put(&body, "Action", "GetClusterCredentials");
    awsi_form_put(&body, "Version", "2012-12-01");
    awsi_form_put(&body, "ClusterIdentifier", r->cluster_identifier);
    awsi_form_put(&body, "DbUser", r->db_user);
    if (r->db_name)
        awsi_form_put(&body, "DbName", r->db_name);
    if (r->auto_create)
        awsi_form_put(&body, "AutoCreate", "true");
    for (size_t i = 0; i < r->n_db_groups; i++) {
        char name[48];
        snprintf(name, sizeof name, "DbGroups.DbGroup.%zu", i + 1);
        awsi_form_put(&body, name, r->db_groups[i]);
    }
    if (r->duration_s > 0) {
        char d[16];
        snprintf(d, sizeof d, "%d", r->duration_s);
        awsi_form_put(&body, "DurationSeconds", d);
    }
    char *url = awsi_service_url(o, "redshift", region);
    static const char *const hdrs[] = {
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
    awsi_req q = {.method = "POST", .url = url, .headers = hdrs, .body = mc_buf_str(&body),
                  .sign = c, .region = region, .service = "redshift", .timeout_s = 20};
    awsi_resp resp;
    char *what = mc_asprintf("redshift:GetClusterCredentials for cluster '%s'",
                             r->cluster_identifier);
    int rc = -1;
    if (awsi_http(&q, &resp) != 0) {
        awsi_fail_transport(&resp, what, url, err);
        goto out;
    }
    if (resp.status != 200) {
        char *dbname = r->db_name ? mc_asprintf(" and dbname:%s/%s", r->cluster_identifier,
                                                r->db_name)
                                  : mc_strdup("");
        char *hint = mc_asprintf(
            "allow redshift:GetClusterCredentials on arn:aws:redshift:%s:ACCOUNT:dbuser:%s/%s%s%s"
            " (docs/aws.md has the whole policy)", region, r->cluster_identifier, r->db_user,
            dbname, r->n_db_groups ? ", and redshift:JoinGroup on its dbgroup ARNs" : "");
        free(dbname);
        char *nf = mc_asprintf("check cluster_identifier '%s' (as in the console, case "
                               "sensitive) and that the cluster is in region %s",
                               r->cluster_identifier, region);
        awsi_fail(&resp, what, c, region, nf, hint, err);
        free(hint);
        free(nf);
        goto out;
    }
    out->user = awsi_xml_text(resp.body, "DbUser");
    char *exp = awsi_xml_text(resp.body, "Expiration");
    out->expires_at = aws_parse_time(exp);
    free(exp);
    if (!out->user || !*out->user || !awsi_xml_secret(resp.body, "DbPassword", &out->password) ||
        out->expires_at < 0) {
        aws_db_login_free(out);
        mc_error_set(err, MC_EXIT_AUTH, "the answer of %s lacks DbUser, DbPassword or "
                     "Expiration", what);
        mc_error_hint(err, "is aws_endpoint_url pointing at Redshift?");
        goto out;
    }
    rc = 0;
out:
    awsi_resp_free(&resp);
    mc_buf_free(&body);
    free(url);
    free(what);
    return rc;
}

/* ---- Redshift Serverless: GetCredentials ------------------------------------------- */

/* A JSON 1.1 call: POST with X-Amz-Target; *answer_out is the parsed object. */
static int json_call(const aws_opts *o, const char *host, const char *service,
                     const char *target, const char *region, const awsi_creds *c, json_t *req,
                     const char *what, const char *nf_hint, const char *denied_hint,
                     json_t **answer_out, mc_error *err)
{
    *answer_out = NULL;
    char *body = json_dumps(req, JSON_COMPACT);
    char *url = awsi_service_url(o, host, region);
    char *tgt = mc_asprintf("X-Amz-Target: %s", target);
    const char *hdrs[] = {"Content-Type: application/x-amz-json-1.1", tgt, NULL};
    awsi_req q = {.method = "POST", .url = url, .headers = hdrs, .body = body, .sign = c,
                  .region = region, .service = service, .timeout_s = 20};
    awsi_resp resp;
    int rc = -1;
    if (awsi_http(&q, &resp) != 0) {
        awsi_fail_transport(&resp, what, url, err);
        goto out;
    }
    if (resp.status != 200) {
        awsi_fail(&resp, what, c, region, nf_hint, denied_hint, err);
        goto out;
    }
    json_error_t je;
    *answer_out = json_loadb(resp.body, resp.n_body, 0, &je);
    if (!json_is_object(*answer_out)) {
        json_decref(*answer_out);
        *answer_out = NULL;
        mc_error_set(err, MC_EXIT_AUTH, "the answer of %s is not a JSON object", what);
        mc_error_hint(err, "is aws_endpoint_url pointing at the right service?");
        goto out;
    }
    rc = 0;
out:
    awsi_resp_free(&resp);
    free(body);
    free(url);
    free(tgt);
    return rc;
}

/* A string member into a secret, then the member wiped inside jansson's copy. */
static bool json_take_secret(json_t *obj, const char *key, mc_secret *out)
{
    json_t *v = json_object_get(obj, key);
    const char *s = json_string_value(v);
    if (!s || !*s)
        return false;
    size_t n = json_string_length(v);
    mc_secret_set(out, s, n);
    explicit_bzero((char *)(uintptr_t)s, n);
    return true;
}

static int64_t json_time(json_t *v)
{
    if (json_is_number(v)) {
        double d = json_number_value(v);
        return (d > 0 && d < 1e11) ? (int64_t)d : -1;
    }
    return aws_parse_time(json_string_value(v));
}

static int serverless(const aws_opts *o, const aws_db_request *r, const char *region,
                      const awsi_creds *c, aws_db_login *out, mc_error *err)
{
    json_t *req = json_object();
    json_object_set_new(req, "workgroupName", json_string(r->workgroup));
    if (r->db_name)
        json_object_set_new(req, "dbName", json_string(r->db_name));
    if (r->duration_s > 0)
        json_object_set_new(req, "durationSeconds", json_integer(r->duration_s));
    char *what = mc_asprintf("redshift-serverless:GetCredentials for workgroup '%s'",
                             r->workgroup);
    char *nf = mc_asprintf("check workgroup '%s' and that it is in region %s", r->workgroup,
                           region);
    char *denied = mc_asprintf("allow redshift-serverless:GetCredentials on "
                               "arn:aws:redshift-serverless:%s:ACCOUNT:workgroup/WORKGROUP-ID "
                               "(docs/aws.md has the whole policy)", region);
    json_t *ans = NULL;
    int rc = json_call(o, "redshift-serverless", "redshift-serverless",
                       "RedshiftServerless.GetCredentials", region, c, req, what, nf, denied,
                       &ans, err);
    if (rc == 0) {
        const char *u = json_string_value(json_object_get(ans, "dbUser"));
        out->user = mc_strdup(u);
        out->expires_at = json_time(json_object_get(ans, "expiration"));
        if (!u || !*u || !json_take_secret(ans, "dbPassword", &out->password) ||
            out->expires_at < 0) {
            aws_db_login_free(out);
            mc_error_set(err, MC_EXIT_AUTH, "the answer of %s lacks dbUser, dbPassword or "
                         "expiration", what);
            mc_error_hint(err, "is aws_endpoint_url pointing at Redshift Serverless?");
            rc = -1;
        }
    }
    json_decref(ans);
    json_decref(req);
    free(what);
    free(nf);
    free(denied);
    return rc;
}

int aws_db_credentials(const aws_opts *o, const aws_db_request *r, aws_db_login *out,
                       mc_error *err)
{
    memset(out, 0, sizeof *out);
    mc_secret_guard_process();
    const char *what = r->workgroup ? "Redshift Serverless" : "Redshift";
    char *region = NULL;
    if (need_region(o, what, &region, err) != 0)
        return -1;
    char *key = login_key(o, r, region);
    int rc = 0;
    if (cache_get(key, out))
        goto out;
    awsi_creds c = {0};
    if ((rc = awsi_credentials(o, region, &c, err)) == 0) {
        rc = r->workgroup ? serverless(o, r, region, &c, out, err)
                          : provisioned(o, r, region, &c, out, err);
        awsi_creds_free(&c);
    }
    if (rc == 0)
        cache_put(key, out);
    if (rc == 0 && mc_log_threshold >= MC_LOG_INFO) {
        char until[21];
        mc_time_iso(out->expires_at, until);
        mc_log(MC_LOG_INFO, "%s: temporary credentials for %s until %s", what, out->user, until);
    }
out:
    free(key);
    free(region);
    return rc;
}

/* ---- Secrets Manager ----------------------------------------------------------------- */

int aws_secret_value(const aws_opts *o, const char *secret_id, const char *json_key,
                     mc_secret *out, mc_error *err)
{
    mc_secret_guard_process();
    char *region = NULL;
    /* arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME — the ARN's region wins. */
    if (!strncmp(secret_id, "arn:", 4)) {
        const char *p = secret_id;
        for (int i = 0; i < 3 && p; i++)
            p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
        const char *e = p ? strchr(p, ':') : NULL;
        if (e && e > p)
            region = mc_strndup(p, (size_t)(e - p));
        if (region && !region_ok(region)) {
            free(region);
            region = NULL;
        }
    }
    if (!region && need_region(o, "Secrets Manager", &region, err) != 0)
        return -1;
    awsi_creds c = {0};
    if (awsi_credentials(o, region, &c, err) != 0) {
        free(region);
        return -1;
    }
    json_t *req = json_object();
    json_object_set_new(req, "SecretId", json_string(secret_id));
    char *what = mc_asprintf("secretsmanager:GetSecretValue for secret '%s'", secret_id);
    char *nf = mc_asprintf("check the secret's name or ARN and that it is in region %s", region);
    char *denied = mc_asprintf("allow secretsmanager:GetSecretValue on "
                               "arn:aws:secretsmanager:%s:ACCOUNT:secret:NAME-* (and "
                               "kms:Decrypt on its key when it is a customer managed key)",
                               region);
    json_t *ans = NULL;
    int rc = json_call(o, "secretsmanager", "secretsmanager", "secretsmanager.GetSecretValue",
                       region, &c, req, what, nf, denied, &ans, err);
    if (rc != 0)
        goto out;
    json_t *sv = json_object_get(ans, "SecretString");
    if (!json_is_string(sv) || json_string_length(sv) == 0) {
        mc_error_set(err, MC_EXIT_CONFIG, "%s holds no SecretString", what);
        mc_error_hint(err, "binary secrets are not supported; store the value as a string");
        rc = -1;
        goto out;
    }
    if (!json_key) {
        json_take_secret(ans, "SecretString", out);
        goto out;
    }
    json_t *inner = json_loadb(json_string_value(sv), json_string_length(sv), 0, NULL);
    json_t *v = json_object_get(inner, json_key);
    if (!json_is_object(inner)) {
        mc_error_set(err, MC_EXIT_CONFIG, "%s is not a JSON object, so it has no key '%s'",
                     what, json_key);
        mc_error_hint(err, "write ${aws-sm:%s} for the whole value", secret_id);
        rc = -1;
    } else if (json_is_string(v) && json_string_length(v) > 0) {
        json_take_secret(inner, json_key, out);
    } else if (json_is_integer(v)) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        mc_secret_set(out, num, strlen(num));
        explicit_bzero(num, sizeof num);
    } else {
        mc_error_set(err, MC_EXIT_CONFIG, "%s has no non-empty string under key '%s'", what,
                     json_key);
        mc_error_hint(err, "the keys of the secret are shown in the Secrets Manager console; "
                           "the key is case sensitive");
        rc = -1;
    }
    /* jansson's copy of the whole secret string, then the inner object's. */
    explicit_bzero((char *)(uintptr_t)json_string_value(sv), json_string_length(sv));
    json_decref(inner);
out:
    json_decref(ans);
    json_decref(req);
    awsi_creds_free(&c);
    free(region);
    free(what);
    free(nf);
    free(denied);
    return rc;
}

/* ---- credentials_command output --------------------------------------------------------- */

const char *aws_parse_login_json(const char *text, size_t len, aws_db_login *out)
{
    memset(out, 0, sizeof *out);
    json_t *j = json_loadb(text, len, 0, NULL);
    const char *why = NULL;
    if (!json_is_object(j)) {
        why = "its output is not a JSON object";
        goto out;
    }
    static const char *const users[] = {"user", "DbUser", "dbUser"};
    static const char *const pws[] = {"password", "DbPassword", "dbPassword"};
    static const char *const exps[] = {"expiration", "Expiration"};
    const char *u = NULL;
    for (size_t i = 0; i < 3 && !u; i++)
        u = json_string_value(json_object_get(j, users[i]));
    bool have_pw = false;
    for (size_t i = 0; i < 3 && !have_pw; i++)
        have_pw = json_take_secret(j, pws[i], &out->password);
    if (!u || !*u || !have_pw) {
        why = "its JSON lacks a non-empty \"user\" or \"password\" string";
        goto out;
    }
    out->user = mc_strdup(u);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_object_get(j, exps[i]);
        if (!e || json_is_null(e))
            continue;
        out->expires_at = json_time(e);
        if (out->expires_at < 0)
            why = "its \"expiration\" is neither an ISO 8601 time nor seconds since 1970";
        break;
    }
out:
    if (why)
        aws_db_login_free(out);
    json_decref(j);
    return why;
}
