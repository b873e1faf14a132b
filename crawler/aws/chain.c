/*
 * chain.c — where AWS credentials come from, searched in this order (the
 * first source that is configured answers; docs/aws.md, "The credential
 * chain"):
 *
 *   1. environment variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *      AWS_SESSION_TOKEN;
 *   2. the profile (iam.profile, else AWS_PROFILE, else "default") of the
 *      shared files: AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and
 *      AWS_CONFIG_FILE (~/.aws/config, sections "[profile NAME]"), with
 *      static keys, role_arn + source_profile / credential_source (STS
 *      AssumeRole), role_arn + web_identity_token_file, or
 *      credential_process;
 *   3. a web identity token: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *      (EKS IRSA), through STS AssumeRoleWithWebIdentity;
 *   4. the container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      (ECS, under http://169.254.170.2) or _FULL_URI (EKS Pod Identity),
 *      with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or _TOKEN;
 *   5. EC2 instance metadata, IMDSv2 only (a token PUT, then GETs), at
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254),
 *      unless AWS_EC2_METADATA_DISABLED=true.
 *
 * A profile named in the configuration (iam.profile) is used alone: no
 * other source is tried.  With iam.role_arn, whatever the chain found is
 * used to assume that role.  Credentials that expire are cached per
 * process until five minutes before; the cache is wiped at exit.
 */
#include "aws_internal.h"
#include "proc.h"
#include "secret.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <curl/curl.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include <jansson.h>

enum { REFRESH_S = 300, FILE_MAX = 1024 * 1024, ROLE_DEPTH_MAX = 5 };

void awsi_chain_cache_clear(void);

void awsi_creds_free(awsi_creds *c)
{
    free(c->akid);
    mc_secret_wipe(&c->secret);
    mc_secret_wipe(&c->token);
    memset(c, 0, sizeof *c);
}

void awsi_creds_copy(awsi_creds *dst, const awsi_creds *src)
{
    memset(dst, 0, sizeof *dst);
    dst->akid = mc_strdup(src->akid);
    mc_secret_set(&dst->secret, src->secret.value, src->secret.len);
    if (src->token.value)
        mc_secret_set(&dst->token, src->token.value, src->token.len);
    dst->expires_at = src->expires_at;
    memcpy(dst->source, src->source, sizeof dst->source);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

/* ---- the shared files ------------------------------------------------------------- */

typedef struct ini_file {
    char *path;
    mc_secret text; /* the whole file: it holds secret keys */
    bool present;
} ini_file;

static char *home_path(const char *rel)
{
    const char *h = env("HOME");
    return h ? mc_asprintf("%s/%s", h, rel) : NULL;
}

static void ini_load(ini_file *f, const char *env_name, const char *def_rel)
{
    memset(f, 0, sizeof *f);
    const char *p = env(env_name);
    if (p && p[0] == '~' && p[1] == '/')
        f->path = home_path(p + 2);
    else
        f->path = p ? mc_strdup(p) : home_path(def_rel);
    if (!f->path)
        return;
    int e = 0;
    f->present = mc_secret_read_file(f->path, FILE_MAX, &f->text, &e) == MC_SECRET_FILE_OK;
}

static void ini_free(ini_file *f)
{
    free(f->path);
    mc_secret_wipe(&f->text);
}

/*
 * The value of key in section (exact name after trimming), malloc'd, or NULL.
 * Lines: "[section]", "key = value", comments "#" and ";" at line start;
 * indented lines continue a nested setting (s3 = ...) and are skipped.
 */
static char *ini_get(const ini_file *f, const char *section, const char *key, bool *has_section)
{
    if (!f->present)
        return NULL;
    const char *p = f->text.value;
    bool in = false;
    char *found = NULL;
    while (*p && !found) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        const char *s = p, *e = p + n;
        p = eol ? eol + 1 : p + n;
        if (n && (*s == ' ' || *s == '\t'))
            continue;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (s == e || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            const char *a = s + 1, *b = e;
            if (b > a && b[-1] == ']')
                b--;
            while (a < b && isspace((unsigned char)*a))
                a++;
            while (b > a && isspace((unsigned char)b[-1]))
                b--;
            in = (size_t)(b - a) == strlen(section) && !strncmp(a, section, (size_t)(b - a));
            if (in && has_section)
                *has_section = true;
            continue;
        }
        if (!in)
            continue;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq)
            continue;
        const char *ke = eq;
        while (ke > s && isspace((unsigned char)ke[-1]))
            ke--;
        if ((size_t)(ke - s) != strlen(key) || strncasecmp(s, key, (size_t)(ke - s)) != 0)
            continue;
        const char *v = eq + 1;
        while (v < e && isspace((unsigned char)*v))
            v++;
        found = mc_strndup(v, (size_t)(e - v));
    }
    return found;
}

typedef struct profiles {
    ini_file cred, conf;
} profiles;

static void profiles_load(profiles *ps)
{
    ini_load(&ps->cred, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    ini_load(&ps->conf, "AWS_CONFIG_FILE", ".aws/config");
}

static void profiles_free(profiles *ps)
{
    ini_free(&ps->cred);
    ini_free(&ps->conf);
}

/* A profile's key: the credentials file's [NAME] first, then the config
 * file's [profile NAME] ([default] for default). */
static char *prof_get(const profiles *ps, const char *name, const char *key, bool *exists)
{
    char *v = ini_get(&ps->cred, name, key, exists);
    if (v)
        return v;
    char *sect = strcmp(name, "default") ? mc_asprintf("profile %s", name) : mc_strdup(name);
    v = ini_get(&ps->conf, sect, key, exists);
    if (!v && !strcmp(name, "default"))
        v = ini_get(&ps->conf, "profile default", key, exists);
    free(sect);
    return v;
}

static bool prof_secret(const profiles *ps, const char *name, const char *key, mc_secret *out)
{
    char *v = prof_get(ps, name, key, NULL);
    if (!v)
        return false;
    size_t n = strlen(v);
    if (n)
        mc_secret_set(out, v, n);
    explicit_bzero(v, n);
    free(v);
    return n > 0;
}

char *awsi_region(const aws_opts *o)
{
    if (o && o->region)
        return mc_strdup(o->region);
    if (env("AWS_REGION"))
        return mc_strdup(env("AWS_REGION"));
    if (env("AWS_DEFAULT_REGION"))
        return mc_strdup(env("AWS_DEFAULT_REGION"));
    profiles ps;
    profiles_load(&ps);
    const char *name = (o && o->profile) ? o->profile : env("AWS_PROFILE");
    char *r = prof_get(&ps, name ? name : "default", "region", NULL);
    profiles_free(&ps);
    if (r && !*r) {
        free(r);
        r = NULL;
    }
    return r;
}

/* ---- reading credentials out of answers ----------------------------------------------- */

/* {"AccessKeyId","SecretAccessKey","Token"|"SessionToken","Expiration"} */
static bool creds_from_json(json_t *j, awsi_creds *out)
{
    const char *ak = json_string_value(json_object_get(j, "AccessKeyId"));
    json_t *sk = json_object_get(j, "SecretAccessKey");
    json_t *tk = json_object_get(j, "Token");
    if (!tk)
        tk = json_object_get(j, "SessionToken");
    if (!ak || !*ak || !json_is_string(sk) || !json_string_length(sk))
        return false;
    out->akid = mc_strdup(ak);
    mc_secret_set(&out->secret, json_string_value(sk), json_string_length(sk));
    explicit_bzero((char *)(uintptr_t)json_string_value(sk), json_string_length(sk));
    if (json_is_string(tk) && json_string_length(tk)) {
        mc_secret_set(&out->token, json_string_value(tk), json_string_length(tk));
        explicit_bzero((char *)(uintptr_t)json_string_value(tk), json_string_length(tk));
    }
    json_t *e = json_object_get(j, "Expiration");
    out->expires_at = e ? aws_parse_time(json_string_value(e)) : 0;
    if (out->expires_at < 0)
        out->expires_at = 0;
    return true;
}

/* STS's <Credentials> of AssumeRole and AssumeRoleWithWebIdentity. */
static bool creds_from_sts_xml(const char *xml, awsi_creds *out)
{
    out->akid = awsi_xml_text(xml, "AccessKeyId");
    char *exp = awsi_xml_text(xml, "Expiration");
    out->expires_at = aws_parse_time(exp);
    free(exp);
    if (!out->akid || !awsi_xml_secret(xml, "SecretAccessKey", &out->secret) ||
        !awsi_xml_secret(xml, "SessionToken", &out->token) || out->expires_at < 0) {
        awsi_creds_free(out);
        return false;
    }
    return true;
}

/* ---- STS ---------------------------------------------------------------------------------- */

static char *sts_url(const aws_opts *o, const char *region)
{
    if (region)
        return awsi_service_url(o, "sts", region);
    if (o && o->endpoint_url)
        return awsi_service_url(o, "sts", "us-east-1");
    return mc_strdup("https://sts.amazonaws.com/");
}

static int sts_call(const aws_opts *o, const char *region, const awsi_creds *sign,
                    const char *body, const char *what, const char *role_arn,
                    const char *source, awsi_creds *out, mc_error *err)
{
    char *url = sts_url(o, region);
    static const char *const hdrs[] = {
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
    awsi_req q = {.method = "POST", .url = url, .headers = hdrs, .body = body, .sign = sign,
                  .region = region ? region : "us-east-1", .service = "sts", .timeout_s = 20};
    awsi_resp resp;
    int rc = -1;
    if (awsi_http(&q, &resp) != 0) {
        awsi_fail_transport(&resp, what, url, err);
        goto out;
    }
    if (resp.status != 200) {
        char *hint = mc_asprintf("the role's trust policy must let the caller assume %s "
                                 "(sts:AssumeRole%s)", role_arn,
                                 sign ? "" : "WithWebIdentity, with the token's issuer and "
                                             "audience");
        awsi_fail(&resp, what, sign, region, "check the role ARN", hint, err);
        free(hint);
        goto out;
    }
    if (!creds_from_sts_xml(resp.body, out)) {
        mc_error_set(err, MC_EXIT_AUTH, "the answer of %s lacks its Credentials", what);
        mc_error_hint(err, "is aws_endpoint_url pointing at STS?");
        goto out;
    }
    snprintf(out->source, sizeof out->source, "%s", source);
    rc = 0;
out:
    awsi_resp_free(&resp);
    free(url);
    return rc;
}

static int assume_role(const aws_opts *o, const char *region, const awsi_creds *base,
                       const char *role_arn, const char *session, const char *external_id,
                       const char *source, awsi_creds *out, mc_error *err)
{
    mc_buf b = {0};
    awsi_form_put(&b, "Action", "AssumeRole");
    awsi_form_put(&b, "Version", "2011-06-15");
    awsi_form_put(&b, "RoleArn", role_arn);
    awsi_form_put(&b, "RoleSessionName", session ? session : "metacrawl");
    if (external_id)
        awsi_form_put(&b, "ExternalId", external_id);
    char *what = mc_asprintf("sts:AssumeRole of %s", role_arn);
    char *src = mc_asprintf("%s (role %s)", source, role_arn);
    int rc = sts_call(o, region, base, mc_buf_str(&b), what, role_arn, src, out, err);
    mc_buf_free(&b);
    free(what);
    free(src);
    return rc;
}

static int web_identity(const aws_opts *o, const char *region, const char *token_file,
                        const char *role_arn, const char *session, const char *source,
                        awsi_creds *out, mc_error *err)
{
    mc_secret tok = {0};
    int e = 0;
    enum mc_secret_file_status st = mc_secret_read_file(token_file, FILE_MAX, &tok, &e);
    if (st != MC_SECRET_FILE_OK) {
        mc_error why = {0};
        mc_secret_file_error(st, e, token_file, FILE_MAX, MC_EXIT_AUTH, &why);
        mc_error_set(err, MC_EXIT_AUTH, "web identity token: %s", why.message);
        mc_error_hint(err, "AWS_WEB_IDENTITY_TOKEN_FILE (or web_identity_token_file) must name "
                           "the projected service account token; on EKS check the pod's "
                           "service account annotation eks.amazonaws.com/role-arn");
        return -1;
    }
    mc_buf b = {0};
    /* room for the whole body first: a buffer that grew by realloc while
     * holding the token would leave unwiped copies behind */
    b.cap = 3 * (tok.len + strlen(role_arn) + (session ? strlen(session) : 0)) + 256;
    b.data = mc_malloc(b.cap);
    b.data[0] = '\0';
    awsi_form_put(&b, "Action", "AssumeRoleWithWebIdentity");
    awsi_form_put(&b, "Version", "2011-06-15");
    awsi_form_put(&b, "RoleArn", role_arn);
    awsi_form_put(&b, "RoleSessionName", session ? session : "metacrawl");
    awsi_form_put(&b, "WebIdentityToken", tok.value);
    mc_secret_wipe(&tok);
    char *what = mc_asprintf("sts:AssumeRoleWithWebIdentity of %s", role_arn);
    int rc = sts_call(o, region, NULL, mc_buf_str(&b), what, role_arn, source, out, err);
    explicit_bzero(b.data, b.len);
    mc_buf_free(&b);
    free(what);
    return rc;
}

/* ---- container endpoint and instance metadata --------------------------------------------- */

/* https or loopback, or plain http to the ECS/EKS agents' link-local
 * addresses -- judged on the URL as curl parses it (scheme and host exactly,
 * no user part: "http://169.254.170.2:80@elsewhere/" is elsewhere). */
static bool container_host_ok(const char *url)
{
    if (!aws_endpoint_url_problem(url))
        return true; /* https, or http on loopback */
    static const char *const ok[] = {"169.254.170.2", "169.254.170.23", "[fd00:ec2::23]", NULL};
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL;
    bool good = false;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
        strcmp(scheme, "http") == 0) {
        for (size_t i = 0; ok[i] && !good; i++)
            good = strcmp(host, ok[i]) == 0;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(u);
    return good;
}

static int container(const char *url, awsi_creds *out, mc_error *err)
{
    if (!container_host_ok(url)) {
        mc_error_set(err, MC_EXIT_CONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI is neither https "
                     "nor a loopback or ECS/EKS agent address");
        mc_error_hint(err, "AWS SDKs refuse the same; use https:// or the agent's address");
        return -1;
    }
    char *auth = NULL;
    const char *tf = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (tf) {
        mc_secret t = {0};
        int e = 0;
        enum mc_secret_file_status st = mc_secret_read_file(tf, FILE_MAX, &t, &e);
        if (st != MC_SECRET_FILE_OK) {
            mc_error why = {0};
            mc_secret_file_error(st, e, tf, FILE_MAX, MC_EXIT_AUTH, &why);
            mc_error_set(err, MC_EXIT_AUTH, "container credentials: %s", why.message);
            mc_error_hint(err, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE must name the token "
                               "the EKS Pod Identity agent mounted");
            return -1;
        }
        auth = mc_asprintf("Authorization: %s", t.value);
        mc_secret_wipe(&t);
    } else if (env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        auth = mc_asprintf("Authorization: %s", env("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
    }
    awsi_req q = {.method = "GET", .url = url, .secret_header = auth, .timeout_s = 5,
                  .connect_timeout_s = 2};
    awsi_resp resp;
    int rc = -1;
    if (awsi_http(&q, &resp) != 0) {
        awsi_fail_transport(&resp, "credentials from the container endpoint", url, err);
        goto out;
    }
    json_t *j = json_loadb(resp.body, resp.n_body, 0, NULL);
    if (resp.status != 200 || !json_is_object(j) || !creds_from_json(j, out)) {
        char code[96], msg[200];
        awsi_error_parts(&resp, code, sizeof code, msg, sizeof msg);
        mc_error_set(err, MC_EXIT_AUTH, "the container credentials endpoint %s answered HTTP "
                     "%ld without credentials%s%s%s%s", url, resp.status, code[0] ? ": " : "",
                     code, msg[0] ? ": " : "", msg);
        mc_error_hint(err, "check the task role (ECS) or the pod identity association (EKS)");
    } else {
        snprintf(out->source, sizeof out->source, "the container credentials endpoint");
        rc = 0;
    }
    json_decref(j);
out:
    awsi_resp_free(&resp);
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    return rc;
}

/* 1 = no instance metadata here (try nothing else), 0 = credentials, -1 = error. */
static int imds(awsi_creds *out, mc_error *err)
{
    const char *v = env("AWS_EC2_METADATA_DISABLED");
    if (v && !strcasecmp(v, "true"))
        return 1;
    const char *base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!base)
        base = "http://169.254.169.254";
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    char *url = mc_asprintf("%.*s/latest/api/token", (int)bl, base);
    static const char *const ttl[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
    awsi_req q = {.method = "PUT", .url = url, .headers = ttl, .timeout_s = 2,
                  .connect_timeout_s = 1};
    awsi_resp resp;
    int rc = -1;
    char *tokhdr = NULL, *role = NULL;
    if (awsi_http(&q, &resp) != 0 || resp.status != 200 || resp.n_body == 0) {
        rc = 1; /* not on EC2 (or IMDS turned off): the chain ends here */
        goto out;
    }
    tokhdr = mc_asprintf("X-aws-ec2-metadata-token: %s", resp.body);
    awsi_resp_free(&resp);
    free(url);
    url = mc_asprintf("%.*s/latest/meta-data/iam/security-credentials/", (int)bl, base);
    awsi_req q2 = {.method = "GET", .url = url, .secret_header = tokhdr, .timeout_s = 2,
                   .connect_timeout_s = 1};
    if (awsi_http(&q2, &resp) != 0 || resp.status != 200 || resp.n_body == 0) {
        mc_error_set(err, MC_EXIT_AUTH, "the EC2 instance metadata service has no IAM role "
                     "(HTTP %ld from %s)", resp.status, url);
        mc_error_hint(err, "attach an instance profile with a role to the instance");
        goto out;
    }
    size_t rl = strcspn(resp.body, "\r\n");
    role = mc_strndup(resp.body, rl);
    awsi_resp_free(&resp);
    free(url);
    url = mc_asprintf("%.*s/latest/meta-data/iam/security-credentials/%s", (int)bl, base, role);
    q2.url = url;
    if (awsi_http(&q2, &resp) != 0 || resp.status != 200) {
        mc_error_set(err, MC_EXIT_AUTH, "the EC2 instance metadata service gave no credentials "
                     "for role %s (HTTP %ld)", role, resp.status);
        mc_error_hint(err, "check the instance profile in the EC2 console");
        goto out;
    }
    json_t *j = json_loadb(resp.body, resp.n_body, 0, NULL);
    const char *code = json_string_value(json_object_get(j, "Code"));
    if (!json_is_object(j) || (code && strcmp(code, "Success") != 0) || !creds_from_json(j, out)) {
        mc_error_set(err, MC_EXIT_AUTH, "the EC2 instance metadata service answered without "
                     "credentials for role %s", role);
        mc_error_hint(err, "check the instance profile in the EC2 console");
    } else {
        snprintf(out->source, sizeof out->source, "EC2 instance metadata (role %.60s)", role);
        rc = 0;
    }
    json_decref(j);
out:
    awsi_resp_free(&resp);
    free(url);
    free(role);
    if (tokhdr) {
        explicit_bzero(tokhdr, strlen(tokhdr));
        free(tokhdr);
    }
    return rc;
}

/* ---- credential_process ----------------------------------------------------------------- */

static int process(const char *profile, const char *cmdline, awsi_creds *out, mc_error *err)
{
    /* Split on blanks, honouring double quotes: the shape AWS documents. */
    char *copy = mc_strdup(cmdline), *argv[32];
    size_t argc = 0;
    for (char *p = copy; *p && argc < 31;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *start = p, *w = p;
        bool q = false;
        for (; *p && (q || (*p != ' ' && *p != '\t')); p++) {
            if (*p == '"')
                q = !q;
            else
                *w++ = *p;
        }
        if (*p)
            p++;
        *w = '\0';
        argv[argc++] = start;
    }
    argv[argc] = NULL;
    int rc = -1;
    bool too_many = false;
    {
        /* anything left after 31 words would be dropped: refuse instead */
        size_t n = 0;
        bool q = false, in = false;
        for (const char *p = cmdline; *p; p++) {
            bool blank = !q && (*p == ' ' || *p == '\t');
            if (*p == '"')
                q = !q;
            if (!blank && !in)
                n++;
            in = !blank;
        }
        too_many = n > 31;
    }
    if (too_many) {
        free(copy);
        return mc_error_set(err, MC_EXIT_CONFIG,
                            "profile '%s': credential_process has more than 31 words", profile);
    }
    if (argc == 0) {
        mc_error_set(err, MC_EXIT_CONFIG, "profile '%s': credential_process is empty", profile);
        free(copy);
        return -1;
    }
    mc_proc_spec spec = {.argv = argv, .out = MC_PROC_CAPTURE, .err = MC_PROC_INHERIT,
                         .capture_max = 64 * 1024, .kill_on_overflow = true, .secret = true,
                         .timeout_s = 60};
    mc_proc_result res;
    if (mc_proc_run(&spec, &res) != 0 || !res.exited || res.timed_out ||
        !WIFEXITED(res.status) || WEXITSTATUS(res.status) != 0) {
        mc_error_set(err, MC_EXIT_AUTH, "profile '%s': credential_process '%s' failed", profile,
                     argv[0]);
        mc_error_hint(err, "run it by hand as the same user; its own message is on stderr");
        goto out;
    }
    json_t *j = json_loadb(res.out, res.n_out, 0, NULL);
    if (!json_is_object(j) || !creds_from_json(j, out)) {
        mc_error_set(err, MC_EXIT_AUTH, "profile '%s': credential_process '%s' did not print "
                     "{\"Version\": 1, \"AccessKeyId\": ..., \"SecretAccessKey\": ...}", profile,
                     argv[0]);
        mc_error_hint(err, "see AWS's process credential provider for the format");
    } else {
        snprintf(out->source, sizeof out->source, "profile '%.40s' (credential_process)",
                 profile);
        rc = 0;
    }
    json_decref(j);
out:
    mc_proc_result_free(&res);
    free(copy);
    return rc;
}

/* ---- the chain ---------------------------------------------------------------------------- */

static int from_env(awsi_creds *out)
{
    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    if (!ak || !sk)
        return 1;
    out->akid = mc_strdup(ak);
    mc_secret_set(&out->secret, sk, strlen(sk));
    const char *tk = env("AWS_SESSION_TOKEN");
    if (tk)
        mc_secret_set(&out->token, tk, strlen(tk));
    snprintf(out->source, sizeof out->source, "environment variables");
    return 0;
}

static int container_or_imds(awsi_creds *out, mc_error *err);

/* 1 = the profile does not exist, 0 = credentials, -1 = error. */
static int from_profile(const aws_opts *o, const char *region, const profiles *ps,
                        const char *name, int depth, awsi_creds *out, mc_error *err)
{
    bool exists = false;
    char *role = prof_get(ps, name, "role_arn", &exists);
    char *src_prof = prof_get(ps, name, "source_profile", &exists);
    char *cred_src = prof_get(ps, name, "credential_source", &exists);
    char *wit = prof_get(ps, name, "web_identity_token_file", &exists);
    char *ext = prof_get(ps, name, "external_id", &exists);
    char *sess = prof_get(ps, name, "role_session_name", &exists);
    char *akid = prof_get(ps, name, "aws_access_key_id", &exists);
    char *procl = prof_get(ps, name, "credential_process", &exists);
    char *sso = prof_get(ps, name, "sso_session", &exists);
    if (!sso)
        sso = prof_get(ps, name, "sso_start_url", &exists);
    int rc = -1;
    char src[96];
    snprintf(src, sizeof src, "profile '%.40s'", name);
    if (!exists) {
        rc = 1;
        goto out;
    }
    if (depth > ROLE_DEPTH_MAX) {
        mc_error_set(err, MC_EXIT_CONFIG, "profile '%s': source_profile goes more than %d deep",
                     name, ROLE_DEPTH_MAX);
        mc_error_hint(err, "a source_profile loop? check the profiles' source_profile keys");
        goto out;
    }
    if (role) {
        awsi_creds base = {0};
        if (wit) {
            rc = web_identity(o, region, wit, role, sess, src, out, err);
            goto out;
        }
        if (src_prof) {
            /* the source profile's own keys (or its own role) */
            rc = from_profile(o, region, ps, src_prof, depth + 1, &base, err);
            if (rc == 1) {
                mc_error_set(err, MC_EXIT_CONFIG, "profile '%s': source_profile '%s' does not "
                             "exist in %s or %s", name, src_prof, ps->cred.path, ps->conf.path);
                mc_error_hint(err, "add the profile or fix source_profile");
                rc = -1;
            }
        } else if (cred_src && !strcmp(cred_src, "Environment")) {
            rc = from_env(&base);
            if (rc == 1) {
                mc_error_set(err, MC_EXIT_AUTH, "profile '%s': credential_source Environment, "
                             "but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set", name);
                mc_error_hint(err, "export them, or use another credential_source");
                rc = -1;
            }
        } else if (cred_src && (!strcmp(cred_src, "Ec2InstanceMetadata") ||
                                !strcmp(cred_src, "EcsContainer"))) {
            rc = container_or_imds(&base, err);
        } else {
            mc_error_set(err, MC_EXIT_CONFIG, "profile '%s' has role_arn but no source_profile, "
                         "credential_source or web_identity_token_file", name);
            mc_error_hint(err, "say where the credentials that assume the role come from");
            goto out;
        }
        if (rc == 0) {
            rc = assume_role(o, region, &base, role, sess, ext, src, out, err);
        }
        awsi_creds_free(&base);
        goto out;
    }
    if (akid) {
        out->akid = akid;
        akid = NULL;
        if (!prof_secret(ps, name, "aws_secret_access_key", &out->secret)) {
            mc_error_set(err, MC_EXIT_CONFIG, "profile '%s' has aws_access_key_id but no "
                         "aws_secret_access_key", name);
            mc_error_hint(err, "add the secret key to %s", ps->cred.path);
            awsi_creds_free(out);
            goto out;
        }
        prof_secret(ps, name, "aws_session_token", &out->token);
        snprintf(out->source, sizeof out->source, "%s", src);
        rc = 0;
        goto out;
    }
    if (procl) {
        rc = process(name, procl, out, err);
        goto out;
    }
    if (sso) {
        mc_error_set(err, MC_EXIT_CONFIG, "profile '%s' is an IAM Identity Center (SSO) profile; "
                     "metacrawl does not read the SSO token cache", name);
        mc_error_hint(err, "add credential_process = aws configure export-credentials --profile "
                           "%s --format process to a profile of its own, or use "
                           "credentials_command (docs/aws.md, \"A laptop with SSO\")", name);
        goto out;
    }
    /* a profile with settings (region...) but no credentials: not a source */
    rc = 1;
out:
    free(role);
    free(src_prof);
    free(cred_src);
    free(wit);
    free(ext);
    free(sess);
    free(akid);
    free(procl);
    free(sso);
    return rc;
}

static int container_or_imds(awsi_creds *out, mc_error *err)
{
    const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (rel && rel[0] != '/')
        return mc_error_set(err, MC_EXIT_CONFIG,
                            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI does not start with '/'");
    if (rel || full) {
        char *url = rel ? mc_asprintf("http://169.254.170.2%s", rel) : mc_strdup(full);
        int rc = container(url, out, err);
        free(url);
        return rc;
    }
    int rc = imds(out, err);
    if (rc == 1) {
        const char *off = env("AWS_EC2_METADATA_DISABLED");
        mc_error_set(err, MC_EXIT_AUTH, "no AWS credentials found");
        mc_error_hint(err, "searched: AWS_ACCESS_KEY_ID, the profile in ~/.aws, "
                           "AWS_WEB_IDENTITY_TOKEN_FILE, the ECS/EKS container endpoint and "
                           "EC2 instance metadata%s (docs/aws.md, \"The credential chain\")",
                      off && !strcasecmp(off, "true") ? " (turned off by "
                                                        "AWS_EC2_METADATA_DISABLED)" : "");
        return -1;
    }
    return rc;
}

static int chain(const aws_opts *o, const char *region, awsi_creds *out, mc_error *err)
{
    profiles ps;
    profiles_load(&ps);
    int rc;
    if (o->profile) {
        rc = from_profile(o, region, &ps, o->profile, 0, out, err);
        if (rc == 1) {
            mc_error_set(err, MC_EXIT_CONFIG, "AWS profile '%s' has no credentials in %s or %s",
                         o->profile, ps.cred.path ? ps.cred.path : "~/.aws/credentials",
                         ps.conf.path ? ps.conf.path : "~/.aws/config");
            mc_error_hint(err, "check the profile's name (aws configure list-profiles) and the "
                               "HOME metacrawl runs with");
            rc = -1;
        }
        goto out;
    }
    if ((rc = from_env(out)) != 1)
        goto out;
    const char *named = env("AWS_PROFILE");
    rc = from_profile(o, region, &ps, named ? named : "default", 0, out, err);
    if (rc == 1 && named) {
        mc_error_set(err, MC_EXIT_CONFIG, "AWS_PROFILE names profile '%s', which has no "
                     "credentials in %s or %s", named,
                     ps.cred.path ? ps.cred.path : "~/.aws/credentials",
                     ps.conf.path ? ps.conf.path : "~/.aws/config");
        mc_error_hint(err, "unset AWS_PROFILE or fix the profile");
        rc = -1;
    }
    if (rc != 1)
        goto out;
    const char *wit = env("AWS_WEB_IDENTITY_TOKEN_FILE"), *role = env("AWS_ROLE_ARN");
    if (wit && role) {
        rc = web_identity(o, region, wit, role, env("AWS_ROLE_SESSION_NAME"),
                          "a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)", out, err);
        goto out;
    }
    rc = container_or_imds(out, err);
out:
    profiles_free(&ps);
    return rc;
}

/* ---- the cache of AWS credentials ------------------------------------------------------------ */

struct cached_creds {
    char *key;
    awsi_creds c;
};
static pthread_mutex_t chain_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cached_creds *ccache;
static size_t n_ccache;

void awsi_chain_cache_clear(void)
{
    pthread_mutex_lock(&chain_mu);
    for (size_t i = 0; i < n_ccache; i++) {
        free(ccache[i].key);
        awsi_creds_free(&ccache[i].c);
    }
    free(ccache);
    ccache = NULL;
    n_ccache = 0;
    pthread_mutex_unlock(&chain_mu);
}

int awsi_credentials(const aws_opts *o, const char *region, awsi_creds *out, mc_error *err)
{
    memset(out, 0, sizeof *out);
    char *key = mc_asprintf("%s\x1f%s\x1f%s\x1f%s", o->profile ? o->profile : "-",
                            o->role_arn ? o->role_arn : "-", region ? region : "-",
                            o->endpoint_url ? o->endpoint_url : "-");
    bool hit = false;
    pthread_mutex_lock(&chain_mu);
    for (size_t i = 0; i < n_ccache && !hit; i++)
        if (!strcmp(ccache[i].key, key) && ccache[i].c.expires_at - mc_time_now() > REFRESH_S) {
            awsi_creds_copy(out, &ccache[i].c);
            hit = true;
        }
    pthread_mutex_unlock(&chain_mu);
    if (hit) {
        free(key);
        return 0;
    }
    awsi_creds base = {0};
    int rc = chain(o, region, &base, err);
    if (rc == 0 && o->role_arn) {
        rc = assume_role(o, region, &base, o->role_arn, NULL, NULL, base.source, out, err);
        awsi_creds_free(&base);
    } else if (rc == 0) {
        *out = base;
    }
    /* Only credentials that expire are cached: static keys are read again,
     * so a rotated key in the environment or a file is seen at once. */
    if (rc == 0 && out->expires_at > 0) {
        awsi_wipe_at_exit();
        pthread_mutex_lock(&chain_mu);
        struct cached_creds *slot = NULL;
        for (size_t i = 0; i < n_ccache && !slot; i++)
            if (!strcmp(ccache[i].key, key))
                slot = &ccache[i];
        if (slot) {
            awsi_creds_free(&slot->c);
        } else {
            ccache = mc_realloc(ccache, (n_ccache + 1) * sizeof *ccache);
            slot = &ccache[n_ccache++];
            slot->key = mc_strdup(key);
        }
        awsi_creds_copy(&slot->c, out);
        pthread_mutex_unlock(&chain_mu);
    }
    if (rc == 0)
        mc_log(MC_LOG_INFO, "AWS credentials from %s", out->source);
    free(key);
    return rc;
}
