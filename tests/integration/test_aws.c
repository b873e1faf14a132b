/*
 * test_aws.c — logging in with AWS (docs/aws.md) against the fake AWS of
 * tests/integration/aws/fakeaws.py, which verifies every SigV4 signature
 * with the test's secret keys and answers as AWS documents, and the
 * harness's PostgreSQL, which accepts the database credentials the fake
 * hands out:
 *
 *  - SigV4 itself: AWS's published test vectors (post-x-www-form-urlencoded,
 *    post-sts-header-before) reproduced by the fake's verifier, and a
 *    request signed by libcurl with the vectors' inputs arriving with
 *    exactly the vector's canonical request and Authorization header;
 *  - iam: with a provisioned cluster (XML) and a Serverless workgroup (JSON),
 *    with credentials from each source of the chain: environment variables,
 *    a profile of the credentials file, assume-role through source_profile,
 *    a web identity token, the container endpoint, IMDSv2;
 *  - the cache: two crawls in one process ask AWS once while the password
 *    is fresh, twice when it is about to expire;
 *  - errors: a wrong signature, an expired token, access denied, a cluster
 *    that does not exist, each with AWS's code and what to do;
 *  - ${aws-sm:...} and credentials_command;
 *  - configuration rules: the endpoint override only on https or loopback,
 *    one way to log in.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws_internal.h"
#include "itest.h"

#define SM_ARN "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/redshift"

static const char *const vector_token =
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxf"
    "pSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPk"
    "yQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBA"
    "z+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

/* The fake's configuration: every key of the tests, what exists, and what
 * it hands out; extra (a JSON object) overrides. */
static itest_fakeaws *fake(const char *password, const char *extra)
{
    json_error_t je;
    json_t *c = json_pack_ex(
        &je, 0,
        "{s:{s:{s:s,s:s},s:{s:s,s:n},s:{s:s,s:n},s:{s:s,s:s},s:{s:s,s:s},s:{s:s,s:s},"
        "s:{s:s,s:s},s:{s:s,s:s,s:b},s:{s:s,s:n},s:{s:s,s:n,s:b}},"
        "s:[s],s:[s],s:[s],s:s,s:s,"
        "s:{s:{s:s,s:s,s:s},s:{s:s,s:s,s:s}},"
        "s:s,s:s,s:{s:s,s:s,s:s},s:s,s:{s:s,s:s,s:s}}",
        "keys",
        "AKIAENV", "secret", "env-secret", "token", "env-token",
        "AKIAPROFILE", "secret", "profile-secret", "token",
        "AKIABASE", "secret", "base-secret", "token",
        "ASIAROLE", "secret", "role-secret", "token", "role-token",
        "ASIAWEBID", "secret", "webid-secret", "token", "webid-token",
        "ASIAECS", "secret", "ecs-secret", "token", "ecs-token",
        "ASIAIMDS", "secret", "imds-secret", "token", "imds-token",
        "AKIAEXPIRED", "secret", "old-secret", "token", "old-token", "expired", 1,
        "AKIADENIED", "secret", "denied-secret", "token",
        "AKIDEXAMPLE", "secret", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "token",
        "skew", 0,
        "denied", "AKIADENIED",
        "clusters", "prod-cluster",
        "workgroups", "analytics-wg",
        "db_password", password,
        "serverless_user", "IAMR:wg_crawler",
        "roles",
        "arn:aws:iam::123456789012:role/crawler", "akid", "ASIAROLE", "secret", "role-secret",
        "token", "role-token",
        "arn:aws:iam::123456789012:role/webid", "akid", "ASIAWEBID", "secret", "webid-secret",
        "token", "webid-token",
        "web_token", "eyJhbGciOiJSUzI1NiJ9.fake.jwt",
        "container_auth", "Bearer ecs-auth-token",
        "container_creds", "akid", "ASIAECS", "secret", "ecs-secret", "token", "ecs-token",
        "imds_role", "crawler-instance",
        "imds_creds", "akid", "ASIAIMDS", "secret", "imds-secret", "token", "imds-token");
    cr_assert(c, "json_pack: %s", je.text);
    json_t *secrets = json_object();
    char *doc = itest_strf("{\"username\": \"sm_user\", \"password\": \"%s\", \"port\": 5439}",
                           password);
    json_object_set_new(secrets, "prod/redshift", json_string(doc));
    json_object_set_new(secrets, SM_ARN, json_string(doc));
    json_object_set_new(secrets, "plain", json_string(password));
    json_object_set_new(c, "secrets", secrets);
    if (extra)
        json_object_update(c, itest_parse_json(extra));
    char *text = json_dumps(c, JSON_COMPACT);
    itest_fakeaws *f = itest_fakeaws_start(text);
    free(text);
    json_decref(c);
    return f;
}

/* A database and a login role NAME with PASSWORD on the harness server. */
static char *db_with_role(const char *name, const char *password)
{
    char *db = itest_create_db("aws");
    PGconn *c = itest_connect(db);
    itest_sql(c, "DROP ROLE IF EXISTS \"%s\"; CREATE ROLE \"%s\" LOGIN PASSWORD '%s'", name, name,
              password);
    itest_sql(c, "CREATE TABLE public.orders (id int PRIMARY KEY, total numeric)");
    PQfinish(c);
    return db;
}

/* A unique database user per test: criterion runs tests in parallel and
 * roles are cluster-wide. */
static char *unique(const char *what)
{
    return itest_strf("%s_%d", what, (int)getpid());
}

static const char *const no_aws_env[] = {"AWS_EC2_METADATA_DISABLED=true", NULL};

static itest_result crawl(const char *cfg, const char *const *env)
{
    const char *argv[] = {"--config", cfg, "crawl", NULL};
    return itest_run(argv, env ? env : no_aws_env, NULL);
}

static char *iam_yaml(const itest_fakeaws *f, const char *body)
{
    return itest_strf("    aws_endpoint_url: %s\n    iam:\n%s", f->url, body);
}

/* ---- SigV4 ------------------------------------------------------------------ */

Test(aws, sigv4_verifier_reproduces_the_test_vectors)
{
    char *dir = itest_strf("%s/tests/integration/aws/sigv4", itest_env("MC_SOURCE_ROOT"));
    char *script = itest_strf("%s/tests/integration/aws/fakeaws.py", itest_env("MC_SOURCE_ROOT"));
    const char *argv[] = {script, "--self-test", dir, NULL};
    itest_result r = itest_run_program("python3", argv, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "post-x-www-form-urlencoded: ok"), "%s", r.out);
    cr_assert(strstr(r.out, "post-sts-header-before: ok"), "%s", r.out);
}

/* libcurl signs a request with the vector's inputs; the fake records the
 * canonical request it recomputed from what arrived. */
static void check_vector(const char *name, const char *body, const char *const *headers,
                         bool token)
{
    itest_fakeaws *f = fake("unused", NULL);
    char *url = itest_strf("%s/", f->url);
    awsi_creds c = {.akid = mc_strdup("AKIDEXAMPLE")};
    mc_secret_set(&c.secret, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 40);
    if (token)
        mc_secret_set(&c.token, vector_token, strlen(vector_token));
    awsi_req q = {.method = "POST", .url = url, .headers = headers, .body = body, .sign = &c,
                  .region = "us-east-1", .service = "service", .timeout_s = 10};
    awsi_resp resp;
    cr_assert_eq(awsi_http(&q, &resp), 0, "%s", resp.transport);
    cr_assert_eq(resp.status, 200, "the fake refused the vector: %s", resp.body);
    awsi_resp_free(&resp);
    json_t *e = itest_fakeaws_last(f, "vector");
    cr_assert(e);
    char *dir = itest_strf("%s/tests/integration/aws/sigv4/%s", itest_env("MC_SOURCE_ROOT"), name);
    char *creq = itest_read_file(itest_strf("%s.creq", dir));
    char *authz = itest_read_file(itest_strf("%s.authz", dir));
    cr_assert_str_eq(json_string_value(json_object_get(e, "canonical_request")), creq);
    cr_assert_str_eq(json_string_value(json_object_get(e, "authorization")), authz);
    awsi_creds_free(&c);
}

Test(aws, sigv4_form_post_matches_the_vector)
{
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded",
                       "Host: example.amazonaws.com", "X-Amz-Date: 20150830T123600Z", NULL};
    check_vector("post-x-www-form-urlencoded", "Param1=value1", h, false);
}

Test(aws, sigv4_session_token_is_signed_as_the_vector)
{
    /* No content type in this vector: the one libcurl adds to a POST by
     * itself is not signed. */
    const char *h[] = {"Host: example.amazonaws.com",
                       "X-Amz-Date: 20150830T123600Z", NULL};
    check_vector("post-sts-header-before", "", h, true);
}

/* ---- iam: through each source of the chain ------------------------------------------- */

/* A crawl through the fake, logged in as IAM:<user>: it succeeds, the
 * server saw that user, and the fake was asked once. */
static void crawl_as_iam(const char *const *env, const char *iam_extra, const char *role_note)
{
    char *user = unique("crawler");
    char *dbuser = itest_strf("IAM:%s", user);
    char *pw = itest_strf("pw-%d-Xy&<z", (int)getpid());
    char *db = db_with_role(dbuser, pw);
    itest_fakeaws *f = fake(pw, NULL);
    char *dir = itest_tmpdir();
    char *yaml = iam_yaml(f, itest_strf("      cluster_identifier: prod-cluster\n"
                                        "      region: eu-west-1\n%s",
                                        iam_extra ? iam_extra : ""));
    char *cfg = itest_write_config(dir, db, user, NULL, yaml);
    itest_result r = crawl(cfg, env);
    cr_assert_eq(r.status, 0, "[%s] %s%s", role_note, r.out, r.err);
    cr_assert_gt(itest_count_statements_by(db, dbuser), 0, "no statement as %s", dbuser);
    cr_assert_eq(itest_fakeaws_count(f, "redshift", "GetClusterCredentials", "ok"), 1);
    json_t *last = itest_fakeaws_last(f, "redshift");
    json_t *p = json_object_get(last, "params");
    cr_assert_str_eq(json_string_value(json_object_get(p, "DbUser")), user);
    cr_assert_str_eq(json_string_value(json_object_get(p, "DbName")), db);
    cr_assert_str_eq(json_string_value(json_object_get(p, "ClusterIdentifier")), "prod-cluster");
    /* the password never shows */
    cr_assert_null(strstr(r.out, pw));
    cr_assert_null(strstr(r.err, pw));
}

Test(aws, chain_environment_variables)
{
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=env-secret",
                         "AWS_SESSION_TOKEN=env-token", "AWS_EC2_METADATA_DISABLED=true", NULL};
    crawl_as_iam(env, NULL, "env");
}

Test(aws, chain_profile_of_the_credentials_file)
{
    char *d = itest_tmpdir();
    char *creds = itest_strf("%s/credentials", d);
    itest_write_file(creds, "[default]\naws_access_key_id = AKIANOTTHISONE\n"
                            "aws_secret_access_key = nope\n\n"
                            "# the crawler's keys\n[crawler]\naws_access_key_id = AKIAPROFILE\n"
                            "aws_secret_access_key = profile-secret\n");
    char *e1 = itest_strf("AWS_SHARED_CREDENTIALS_FILE=%s", creds);
    const char *env[] = {e1, "AWS_CONFIG_FILE=/nonexistent", "AWS_EC2_METADATA_DISABLED=true",
                         NULL};
    crawl_as_iam(env, "      profile: crawler\n", "profile");
}

Test(aws, chain_assume_role_through_source_profile)
{
    char *d = itest_tmpdir();
    char *creds = itest_strf("%s/credentials", d), *conf = itest_strf("%s/config", d);
    itest_write_file(creds, "[base]\naws_access_key_id = AKIABASE\n"
                            "aws_secret_access_key = base-secret\n");
    itest_write_file(conf, "[profile crawler]\nrole_arn = arn:aws:iam::123456789012:role/crawler\n"
                           "source_profile = base\nregion = eu-west-1\n");
    char *e1 = itest_strf("AWS_SHARED_CREDENTIALS_FILE=%s", creds);
    char *e2 = itest_strf("AWS_CONFIG_FILE=%s", conf);
    const char *env[] = {e1, e2, "AWS_PROFILE=crawler", "AWS_EC2_METADATA_DISABLED=true", NULL};
    crawl_as_iam(env, NULL, "assume-role");
}

Test(aws, chain_assume_role_is_signed_by_the_source_and_used_after)
{
    char *d = itest_tmpdir();
    char *creds = itest_strf("%s/credentials", d), *conf = itest_strf("%s/config", d);
    itest_write_file(creds, "[base]\naws_access_key_id = AKIABASE\n"
                            "aws_secret_access_key = base-secret\n");
    itest_write_file(conf, "[profile crawler]\nrole_arn = arn:aws:iam::123456789012:role/crawler\n"
                           "source_profile = base\n");
    itest_fakeaws *f = fake("pw-unused", NULL);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, "nodb", "someone", NULL,
                                   iam_yaml(f, "      cluster_identifier: prod-cluster\n"
                                               "      region: eu-west-1\n"
                                               "      profile: crawler\n"));
    char *e1 = itest_strf("AWS_SHARED_CREDENTIALS_FILE=%s", creds);
    char *e2 = itest_strf("AWS_CONFIG_FILE=%s", conf);
    const char *env[] = {e1, e2, "AWS_EC2_METADATA_DISABLED=true", NULL};
    itest_result r = crawl(cfg, env);
    (void)r; /* the database does not exist: only the AWS side is checked */
    json_t *sts = itest_fakeaws_last(f, "sts");
    cr_assert(sts);
    cr_assert_str_eq(json_string_value(json_object_get(sts, "akid")), "AKIABASE");
    cr_assert_str_eq(json_string_value(json_object_get(sts, "outcome")), "ok");
    json_t *rs = itest_fakeaws_last(f, "redshift");
    cr_assert_str_eq(json_string_value(json_object_get(rs, "akid")), "ASIAROLE");
    cr_assert_str_eq(json_string_value(json_object_get(rs, "outcome")), "ok");
}

Test(aws, iam_role_arn_is_assumed_with_the_chain_credentials)
{
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIABASE", "AWS_SECRET_ACCESS_KEY=base-secret",
                         "AWS_EC2_METADATA_DISABLED=true", NULL};
    crawl_as_iam(env, "      role_arn: arn:aws:iam::123456789012:role/crawler\n", "role_arn");
}

Test(aws, chain_container_endpoint_token_file)
{
    itest_fakeaws *meta = fake("unused", NULL);
    char *d = itest_tmpdir();
    char *tok = itest_strf("%s/eks-pod-identity-token", d);
    itest_write_file(tok, "Bearer ecs-auth-token\n");
    char *e1 = itest_strf("AWS_CONTAINER_CREDENTIALS_FULL_URI=%s/ecs-credentials", meta->url);
    char *e2 = itest_strf("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%s", tok);
    /* the file wins over the variable */
    const char *env[] = {e1, e2, "AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong",
                         "AWS_EC2_METADATA_DISABLED=true", NULL};
    crawl_as_iam(env, NULL, "container token file");
}

Test(aws, chain_profile_credential_process)
{
    char *d = itest_tmpdir();
    char *script = itest_strf("%s/export-credentials", d);
    /* what `aws configure export-credentials --format process` prints */
    itest_write_file(script, "#!/bin/sh\nprintf '%s' '{\"Version\": 1, \"AccessKeyId\": "
                             "\"AKIAPROFILE\", \"SecretAccessKey\": \"profile-secret\"}'\n");
    chmod(script, 0755);
    char *conf = itest_strf("%s/config", d);
    itest_write_file(conf, itest_strf("[profile laptop]\ncredential_process = \"%s\" --profile "
                                      "sso\n", script));
    char *e1 = itest_strf("AWS_CONFIG_FILE=%s", conf);
    const char *env[] = {e1, "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
                         "AWS_EC2_METADATA_DISABLED=true", NULL};
    crawl_as_iam(env, "      profile: laptop\n", "credential_process");
}

Test(aws, chain_web_identity_token)
{
    char *d = itest_tmpdir();
    char *tok = itest_strf("%s/token", d);
    itest_write_file(tok, "eyJhbGciOiJSUzI1NiJ9.fake.jwt\n");
    char *e1 = itest_strf("AWS_WEB_IDENTITY_TOKEN_FILE=%s", tok);
    const char *env[] = {e1, "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/webid",
                         "AWS_EC2_METADATA_DISABLED=true", NULL};
    crawl_as_iam(env, NULL, "web identity");
}

Test(aws, chain_container_endpoint)
{
    /* The URL is only known once the fake runs: a second fake serves it. */
    itest_fakeaws *meta = fake("unused", NULL);
    char *e1 = itest_strf("AWS_CONTAINER_CREDENTIALS_FULL_URI=%s/ecs-credentials", meta->url);
    const char *env[] = {e1, "AWS_CONTAINER_AUTHORIZATION_TOKEN=Bearer ecs-auth-token",
                         "AWS_EC2_METADATA_DISABLED=true", NULL};
    crawl_as_iam(env, NULL, "container");
    cr_assert_eq(itest_fakeaws_count(meta, "container", NULL, "ok"), 1);
}

Test(aws, chain_instance_metadata_imdsv2)
{
    itest_fakeaws *meta = fake("unused", NULL);
    char *e1 = itest_strf("AWS_EC2_METADATA_SERVICE_ENDPOINT=%s", meta->url);
    const char *env[] = {e1, "AWS_EC2_METADATA_DISABLED", NULL};
    crawl_as_iam(env, NULL, "imds");
    /* a token first, then the role, then its credentials, all with the token */
    cr_assert_eq(itest_fakeaws_count(meta, "imds", "token", "ok"), 1);
    cr_assert_eq(itest_fakeaws_count(meta, "imds", NULL, "ok"), 3);
    cr_assert_eq(itest_fakeaws_count(meta, "imds", NULL, "unauthorized"), 0);
}

Test(aws, no_credentials_anywhere)
{
    itest_fakeaws *f = fake("unused", NULL);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, "nodb", "x", NULL,
                                   iam_yaml(f, "      cluster_identifier: prod-cluster\n"
                                               "      region: eu-west-1\n"));
    itest_result r = crawl(cfg, NULL);
    cr_assert_eq(r.status, 5, "%s", r.err);
    cr_assert(strstr(r.err, "no AWS credentials found"), "%s", r.err);
    cr_assert(strstr(r.err, "metacrawl.yml:"), "the iam: block's position: %s", r.err);
}

/* ---- Serverless ------------------------------------------------------------------ */

Test(aws, serverless_workgroup)
{
    char *pw = itest_strf("sl-%d", (int)getpid());
    char *db = db_with_role("IAMR:wg_crawler", pw);
    itest_fakeaws *f = fake(pw, NULL);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, "ignored", NULL,
                                   iam_yaml(f, "      workgroup: analytics-wg\n"
                                               "      region: eu-west-1\n"
                                               "      duration: 30m\n"));
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=env-secret",
                         "AWS_SESSION_TOKEN=env-token", "AWS_EC2_METADATA_DISABLED=true", NULL};
    itest_result r = crawl(cfg, env);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_gt(itest_count_statements_by(db, "IAMR:wg_crawler"), 0);
    json_t *e = itest_fakeaws_last(f, "redshift-serverless");
    json_t *p = json_object_get(e, "params");
    cr_assert_str_eq(json_string_value(json_object_get(p, "workgroupName")), "analytics-wg");
    cr_assert_eq(json_integer_value(json_object_get(p, "durationSeconds")), 1800);
}

/* ---- the cache ------------------------------------------------------------------- */

static void two_crawls(const char *extra_fake, long want_calls)
{
    char *user = unique(want_calls == 1 ? "cached" : "refresh");
    char *dbuser = itest_strf("IAM:%s", user);
    char *pw = itest_strf("pw-%d", (int)getpid());
    char *db = db_with_role(dbuser, pw);
    itest_fakeaws *f = fake(pw, extra_fake);
    char *dir = itest_tmpdir();
    char *iam = itest_strf("    aws_endpoint_url: %s\n"
                           "    iam: { cluster_identifier: prod-cluster, region: eu-west-1 }\n",
                           f->url);
    char *second = itest_strf("%s  - name: again\n    host: %s\n    port: %s\n    database: %s\n"
                              "    user: %s\n    sslmode: disable\n%s",
                              iam, itest_env("MC_TEST_PGHOST"), itest_env("MC_TEST_PGPORT"), db,
                              user, iam);
    char *cfg = itest_write_config(dir, db, user, NULL, second);
    const char *argv[] = {"--config", cfg, "crawl", "test", "again", NULL};
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=env-secret",
                         "AWS_SESSION_TOKEN=env-token", "AWS_EC2_METADATA_DISABLED=true", NULL};
    itest_result r = itest_run(argv, env, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_eq(itest_fakeaws_count(f, "redshift", "GetClusterCredentials", "ok"), want_calls);
}

Test(aws, cache_serves_the_second_crawl_while_fresh)
{
    two_crawls("{\"db_expires_in\": 3600}", 1);
}

Test(aws, cache_refreshes_credentials_about_to_expire)
{
    /* 2 minutes left: less than the 5-minute margin, so each connection asks */
    two_crawls("{\"db_expires_in\": 120}", 2);
}

/* ---- errors ------------------------------------------------------------------------ */

static itest_result failing(const char *akid, const char *secret, const char *token,
                            const char *cluster)
{
    itest_fakeaws *f = fake("unused", NULL);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(
        dir, "nodb", "crawler", NULL,
        iam_yaml(f, itest_strf("      cluster_identifier: %s\n      region: eu-west-1\n",
                               cluster)));
    char *e1 = itest_strf("AWS_ACCESS_KEY_ID=%s", akid);
    char *e2 = itest_strf("AWS_SECRET_ACCESS_KEY=%s", secret);
    const char *e3 = token ? itest_strf("AWS_SESSION_TOKEN=%s", token) : "AWS_SESSION_TOKEN";
    const char *env[] = {e1, e2, e3, "AWS_EC2_METADATA_DISABLED=true", NULL};
    return crawl(cfg, env);
}

Test(aws, wrong_signature)
{
    itest_result r = failing("AKIAENV", "not-the-secret", "env-token", "prod-cluster");
    cr_assert_eq(r.status, 5, "%s", r.err);
    cr_assert(strstr(r.err, "SignatureDoesNotMatch"), "%s", r.err);
    cr_assert(strstr(r.err, "secret access key from environment variables"), "%s", r.err);
    cr_assert(strstr(r.err, "AWS_SECRET_ACCESS_KEY"), "the hint: %s", r.err);
    cr_assert_null(strstr(r.err, "not-the-secret"));
}

Test(aws, expired_token)
{
    itest_result r = failing("AKIAEXPIRED", "old-secret", "old-token", "prod-cluster");
    cr_assert_eq(r.status, 5, "%s", r.err);
    cr_assert(strstr(r.err, "ExpiredToken"), "%s", r.err);
    cr_assert(strstr(r.err, "has expired"), "%s", r.err);
    cr_assert(strstr(r.err, "fresh credentials"), "the hint: %s", r.err);
}

Test(aws, access_denied_names_the_permission)
{
    itest_result r = failing("AKIADENIED", "denied-secret", NULL, "prod-cluster");
    cr_assert_eq(r.status, 5, "%s", r.err);
    cr_assert(strstr(r.err, "AccessDenied"), "%s", r.err);
    cr_assert(strstr(r.err, "redshift:GetClusterCredentials"), "%s", r.err);
    cr_assert(strstr(r.err, "dbuser:prod-cluster/crawler"), "the policy hint: %s", r.err);
}

Test(aws, unknown_cluster)
{
    itest_result r = failing("AKIAENV", "env-secret", "env-token", "prod-clustr");
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, "ClusterNotFound"), "%s", r.err);
    cr_assert(strstr(r.err, "cluster_identifier 'prod-clustr'"), "the hint: %s", r.err);
    cr_assert(strstr(r.err, "eu-west-1"), "%s", r.err);
}

/* ---- Secrets Manager and credentials_command ----------------------------------------------- */

static void crawl_with_password_yaml(const char *password_line, const char *user_prefix)
{
    char *user = unique(user_prefix);
    char *pw = itest_strf("sm-%d-secret", (int)getpid());
    char *db = db_with_role(user, pw);
    itest_fakeaws *f = fake(pw, NULL);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, user, NULL,
                                   itest_strf("    aws_endpoint_url: %s\n%s", f->url,
                                              password_line));
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=env-secret",
                         "AWS_SESSION_TOKEN=env-token", "AWS_REGION=eu-west-1",
                         "AWS_EC2_METADATA_DISABLED=true", NULL};
    itest_result r = crawl(cfg, env);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_gt(itest_count_statements_by(db, user), 0);
    cr_assert_eq(itest_fakeaws_count(f, "secretsmanager", "GetSecretValue", "ok"), 1);
}

Test(aws, secrets_manager_json_key)
{
    crawl_with_password_yaml("    password: ${aws-sm:prod/redshift#password}\n", "smkey");
}

Test(aws, secrets_manager_whole_value_by_arn)
{
    crawl_with_password_yaml("    password: ${aws-sm:plain}\n", "smplain");
}

Test(aws, secrets_manager_missing_secret)
{
    itest_fakeaws *f = fake("unused", NULL);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, "nodb", "x", NULL,
                                   itest_strf("    aws_endpoint_url: %s\n"
                                              "    password: ${aws-sm:prod/nothing#password}\n",
                                              f->url));
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=env-secret",
                         "AWS_SESSION_TOKEN=env-token", "AWS_REGION=eu-west-1",
                         "AWS_EC2_METADATA_DISABLED=true", NULL};
    itest_result r = crawl(cfg, env);
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, "ResourceNotFoundException"), "%s", r.err);
    cr_assert(strstr(r.err, "prod/nothing"), "%s", r.err);
    cr_assert(strstr(r.err, "metacrawl.yml:"), "the key's position: %s", r.err);
}

Test(aws, credentials_command_gives_user_and_password)
{
    char *user = unique("cmd");
    char *pw = itest_strf("cmd-%d", (int)getpid());
    char *db = db_with_role(user, pw);
    char *d = itest_tmpdir();
    char *script = itest_strf("%s/creds.sh", d);
    /* the shape `aws redshift get-cluster-credentials --output json` prints */
    itest_write_file(script, itest_strf("#!/bin/sh\nprintf '{\"DbUser\": \"%s\", \"DbPassword\": "
                                        "\"%s\", \"Expiration\": \"2099-01-01T00:00:00Z\"}\\n'\n",
                                        user, pw));
    chmod(script, 0755);
    char *cfg = itest_write_config(d, db, "someone-else", NULL,
                                   itest_strf("    credentials_command: [%s]\n", script));
    itest_result r = crawl(cfg, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_gt(itest_count_statements_by(db, user), 0);
}

Test(aws, credentials_command_expired_output)
{
    char *d = itest_tmpdir();
    char *script = itest_strf("%s/creds.sh", d);
    itest_write_file(script, "#!/bin/sh\necho '{\"user\": \"u\", \"password\": \"p\", "
                             "\"expiration\": \"2001-01-01T00:00:00Z\"}'\n");
    chmod(script, 0755);
    char *cfg = itest_write_config(d, "nodb", "x", NULL,
                                   itest_strf("    credentials_command: [%s]\n", script));
    itest_result r = crawl(cfg, NULL);
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, "expired at 2001-01-01T00:00:00Z"), "%s", r.err);
}

/* ---- configuration rules ------------------------------------------------------------- */

static itest_result with_yaml(const char *yaml)
{
    char *d = itest_tmpdir();
    char *cfg = itest_write_config(d, "nodb", "x", NULL, yaml);
    return crawl(cfg, NULL);
}

Test(aws, endpoint_override_only_https_or_loopback)
{
    itest_result r = with_yaml("    aws_endpoint_url: http://aws.example.com/\n"
                               "    iam: { cluster_identifier: c, region: eu-west-1 }\n");
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, "metacrawl.yml:10:23: 'aws_endpoint_url'"), "%s", r.err);
    cr_assert(strstr(r.err, "loopback"), "%s", r.err);
    r = with_yaml("    aws_endpoint_url: https://vpce-1.redshift.eu-west-1.vpce.amazonaws.com\n"
                  "    iam: { cluster_identifier: c, region: eu-west-1 }\n"
                  "    password: x\n");
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, "'iam' and 'password' cannot both be set"), "https is accepted, "
              "the next rule speaks: %s", r.err);
}

Test(aws, iam_needs_exactly_one_target)
{
    itest_result r = with_yaml("    iam: { region: eu-west-1 }\n");
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, "needs 'cluster_identifier'"), "%s", r.err);
    r = with_yaml("    iam: { workgroup: w, db_user: alice }\n");
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, "'db_user' applies to provisioned clusters"), "%s", r.err);
    r = with_yaml("    iam: { cluster_identifier: c, duration: 5m }\n");
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, "duration"), "%s", r.err);
}

/* ---- check ------------------------------------------------------------------------ */

Test(aws, check_logs_in_with_iam_and_reports_an_aws_refusal)
{
    char *user = unique("checker");
    char *dbuser = itest_strf("IAM:%s", user);
    char *pw = itest_strf("ck-%d", (int)getpid());
    char *db = db_with_role(dbuser, pw);
    itest_fakeaws *f = fake(pw, NULL);
    char *dir = itest_tmpdir();
    char *cfg = itest_write_config(dir, db, user, NULL,
                                   iam_yaml(f, "      cluster_identifier: prod-cluster\n"
                                               "      region: eu-west-1\n"));
    const char *argv[] = {"--config", cfg, "check", "test", NULL};
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=env-secret",
                         "AWS_SESSION_TOKEN=env-token", "AWS_EC2_METADATA_DISABLED=true", NULL};
    itest_result r = itest_run(argv, env, NULL);
    /* (the grants it lacks are check's business: exit 7 here) */
    cr_assert(strstr(r.out, "ok   authenticate: logged in as"), "%s%s", r.out, r.err);
    cr_assert_gt(itest_count_statements_by(db, dbuser), 0);
    const char *denied[] = {"AWS_ACCESS_KEY_ID=AKIADENIED", "AWS_SECRET_ACCESS_KEY=denied-secret",
                            "AWS_EC2_METADATA_DISABLED=true", NULL};
    r = itest_run(argv, denied, NULL);
    cr_assert_eq(r.status, 5, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "AccessDenied") || strstr(r.err, "AccessDenied"), "%s%s", r.out,
              r.err);
}
