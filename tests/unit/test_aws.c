/*
 * test_aws.c — the pure parts of crawler/aws and the AWS keys of the
 * configuration: AWS's time stamps, the few XML elements read out of an
 * answer (entities, markup that is not ours), AWS error answers,
 * credentials_command's JSON shapes, the endpoint rule, and the iam: /
 * credentials_command / aws_endpoint_url / ${aws-sm:...} keys with the
 * positions and messages a user sees.  No network (the requests themselves
 * are tests/integration/test_aws.c's).
 */
#include <criterion/criterion.h>

#include "aws_internal.h"
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(aws_time, iso_and_epoch)
{
    cr_assert_eq(aws_parse_time("2016-12-08T21:13:09.148Z"), 1481231589);
    cr_assert_eq(aws_parse_time("2016-12-08T21:13:09Z"), 1481231589);
    cr_assert_eq(aws_parse_time("2016-12-08T22:13:09+01:00"), 1481231589);
    cr_assert_eq(aws_parse_time("1481231589"), 1481231589);
    cr_assert_eq(aws_parse_time("1481231589.5"), 1481231589);
    cr_assert_eq(aws_parse_time("2016-12-08 21:13:09"), -1);
    cr_assert_eq(aws_parse_time("2016-13-08T21:13:09Z"), -1);
    cr_assert_eq(aws_parse_time("2016-12-08T21:13:09Zjunk"), -1);
    cr_assert_eq(aws_parse_time(""), -1);
    cr_assert_eq(aws_parse_time(NULL), -1);
}

Test(aws_xml, reads_only_the_named_element)
{
    const char *xml =
        "<GetClusterCredentialsResponse xmlns=\"http://redshift.amazonaws.com/doc/2012-12-01/\">"
        "<GetClusterCredentialsResult><DbUser>IAM:alice</DbUser>"
        "<Expiration>2016-12-08T21:13:09.148Z</Expiration>"
        "<DbPassword>a&amp;b&lt;c&#62;d&#x27;</DbPassword></GetClusterCredentialsResult>"
        "</GetClusterCredentialsResponse>";
    char *u = awsi_xml_text(xml, "DbUser");
    cr_assert_str_eq(u, "IAM:alice");
    free(u);
    mc_secret pw = {0};
    cr_assert(awsi_xml_secret(xml, "DbPassword", &pw));
    cr_assert_str_eq(pw.value, "a&b<c>d'");
    mc_secret_wipe(&pw);
    cr_assert_null(awsi_xml_text(xml, "Missing"));
}

Test(aws_xml, refuses_markup_and_bad_entities)
{
    cr_assert_null(awsi_xml_text("<A><B>x</B></A>", "A"), "nested markup is not a value");
    cr_assert_null(awsi_xml_text("<A><![CDATA[x]]></A>", "A"));
    cr_assert_null(awsi_xml_text("<A>x&bogus;y</A>", "A"));
    cr_assert_null(awsi_xml_text("<A>x&#0;y</A>", "A"));
    cr_assert_null(awsi_xml_text("<A>x&#xe9;</A>", "A"), "non-ASCII references are refused");
    cr_assert_null(awsi_xml_text("<A>unterminated", "A"));
    mc_secret s = {0};
    cr_assert_not(awsi_xml_secret("<P></P>", "P", &s), "an empty password is never used");
}

Test(aws_errors, xml_and_json_answers)
{
    char code[64], msg[64];
    char xml[] = "<ErrorResponse><Error><Type>Sender</Type><Code>ClusterNotFound</Code>"
                 "<Message>Cluster x not found.\x01</Message></Error></ErrorResponse>";
    awsi_resp r = {.status = 404, .body = xml, .n_body = sizeof xml - 1};
    awsi_error_parts(&r, code, sizeof code, msg, sizeof msg);
    cr_assert_str_eq(code, "ClusterNotFound");
    cr_assert_str_eq(msg, "Cluster x not found.?", "control characters are not shown");
    char js[] = "{\"__type\":\"com.amazonaws.secretsmanager#ResourceNotFoundException\","
                "\"Message\":\"can't find it\"}";
    awsi_resp j = {.status = 400, .body = js, .n_body = sizeof js - 1};
    awsi_error_parts(&j, code, sizeof code, msg, sizeof msg);
    cr_assert_str_eq(code, "ResourceNotFoundException");
    cr_assert_str_eq(msg, "can't find it");
}

Test(aws_login_json, the_three_shapes)
{
    aws_db_login l;
    const char *own = "{\"user\":\"alice\",\"password\":\"p1\",\"expiration\":\"2099-01-01T00:00:00Z\"}";
    cr_assert_null(aws_parse_login_json(own, strlen(own), &l));
    cr_assert_str_eq(l.user, "alice");
    cr_assert_str_eq(l.password.value, "p1");
    cr_assert_eq(l.expires_at, 4070908800);
    aws_db_login_free(&l);
    const char *cli = "{\"DbUser\":\"IAM:bob\",\"Expiration\":\"2099-01-01T00:00:00Z\","
                      "\"DbPassword\":\"p2\"}";
    cr_assert_null(aws_parse_login_json(cli, strlen(cli), &l));
    cr_assert_str_eq(l.user, "IAM:bob");
    aws_db_login_free(&l);
    const char *sl = "{\"dbUser\":\"IAMR:r\",\"dbPassword\":\"p3\",\"expiration\":4070908800}";
    cr_assert_null(aws_parse_login_json(sl, strlen(sl), &l));
    cr_assert_eq(l.expires_at, 4070908800);
    aws_db_login_free(&l);
    const char *none = "{\"user\":\"alice\"}";
    cr_assert_not_null(aws_parse_login_json(none, strlen(none), &l));
    cr_assert_not_null(aws_parse_login_json("secret", 6, &l));
    const char *bad = "{\"user\":\"a\",\"password\":\"b\",\"expiration\":\"tomorrow\"}";
    cr_assert_not_null(aws_parse_login_json(bad, strlen(bad), &l));
}

Test(aws_endpoint, https_or_loopback_only)
{
    cr_assert_null(aws_endpoint_url_problem("https://vpce-1.redshift.eu-west-1.vpce.amazonaws.com"));
    cr_assert_null(aws_endpoint_url_problem("http://127.0.0.1:4566"));
    cr_assert_null(aws_endpoint_url_problem("http://127.9.9.9/"));
    cr_assert_null(aws_endpoint_url_problem("http://[::1]:4566/"));
    cr_assert_null(aws_endpoint_url_problem("http://localhost:4566"));
    cr_assert_not_null(aws_endpoint_url_problem("http://aws.example.com/"));
    cr_assert_not_null(aws_endpoint_url_problem("http://10.0.0.1/"));
    cr_assert_not_null(aws_endpoint_url_problem("ftp://127.0.0.1/"));
    cr_assert_not_null(aws_endpoint_url_problem("not a url"));
}

/* ---- the configuration keys ------------------------------------------------- */

static mc_error err;

static cfg *load(const char *datastore_extra)
{
    char *text = NULL;
    cr_assert(asprintf(&text, "datastores:\n  - name: a\n    host: h\n    database: dev\n%s",
                       datastore_extra) > 0);
    cfg *c = NULL;
    mc_error_clear(&err);
    cfg_load_string("t.yml", text, strlen(text), &c, &err);
    free(text);
    return c;
}

Test(aws_config, iam_block)
{
    cfg *c = load("    iam:\n      cluster_identifier: prod\n      region: eu-west-1\n"
                  "      db_groups: [readers, etl]\n      auto_create: true\n"
                  "      duration: 30m\n      role_arn: arn:aws:iam::1:role/r\n");
    cr_assert_not_null(c, "%s", err.message);
    const cfg_iam *m = &c->datastores[0].iam;
    cr_assert(m->present);
    cr_assert_str_eq(m->cluster_identifier, "prod");
    cr_assert_eq(m->n_db_groups, 2);
    cr_assert_str_eq(m->db_groups[1], "etl");
    cr_assert(m->auto_create);
    cr_assert_eq(m->duration_s, 1800);
    cr_assert_str_eq(m->role_arn, "arn:aws:iam::1:role/r");
    cfg_free(c);
}

Test(aws_config, iam_mistakes)
{
    cr_assert_null(load("    iam: { cluster_identifier: a, workgroup: b }\n"));
    cr_assert_str_eq(err.message, "t.yml:5:35: 'iam' has both 'cluster_identifier' and 'workgroup'");
    cr_assert_null(load("    iam: { workgroup: b, auto_create: true }\n"));
    cr_assert_str_eq(err.message,
                     "t.yml:5:26: 'auto_create' applies to provisioned clusters, not to a "
                     "Serverless workgroup");
    cr_assert_null(load("    iam: { cluster_identifier: a, duration: 2h }\n"));
    cr_assert(strstr(err.message, "duration"), "%s", err.message);
    cr_assert_null(load("    iam: { cluster_identifer: a }\n"));
    cr_assert(strstr(err.hint, "cluster_identifier"), "did you mean: %s", err.hint);
}

Test(aws_config, one_way_to_log_in)
{
    cr_assert_null(load("    password: x\n    iam: { cluster_identifier: a }\n"));
    cr_assert_str_eq(err.message, "t.yml:6:5: 'password' and 'iam' cannot both be set");
    cr_assert_null(load("    credentials_command: [x]\n    password_command: [y]\n"));
    cr_assert_str_eq(err.message,
                     "t.yml:6:5: 'credentials_command' and 'password_command' cannot both be set");
    cfg *c = load("    credentials_command: [get-login, --json]\n");
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_eq(c->datastores[0].n_credentials_command, 2);
    cr_assert_eq(c->datastores[0].credentials_command_pos.line, 5);
    cfg_free(c);
}

Test(aws_config, endpoint_url_rule)
{
    cr_assert_null(load("    aws_endpoint_url: http://10.1.2.3:4566\n"));
    cr_assert(strstr(err.message, "t.yml:5:23: 'aws_endpoint_url'"), "%s", err.message);
    cfg *c = load("    aws_endpoint_url: http://127.0.0.1:4566\n");
    cr_assert_not_null(c, "%s", err.message);
    cfg_free(c);
}

Test(aws_config, secrets_manager_references)
{
    cfg *c = load("    password: ${aws-sm:prod/redshift#password}\n"
                  "    aws_endpoint_url: https://sm.example.com\n"
                  "    iam: { cluster_identifier: x }\n");
    cr_assert_null(c, "iam and password together are refused");
    c = load("    password: ${aws-sm:arn:aws:secretsmanager:eu-west-1:1:secret:p-AbCdEf}\n"
             "    aws_endpoint_url: https://sm.example.com\n");
    cr_assert_not_null(c, "%s", err.message);
    const cfg_secret *s = &c->datastores[0].password;
    cr_assert_eq(s->kind, CFG_SECRET_AWS_SM);
    cr_assert_str_eq(s->ref, "arn:aws:secretsmanager:eu-west-1:1:secret:p-AbCdEf");
    cr_assert_null(s->json_key);
    cr_assert_str_eq(s->aws_endpoint_url, "https://sm.example.com");
    cfg_free(c);
    c = load("    password: ${aws-sm:prod/redshift#password}\n");
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_str_eq(c->datastores[0].password.ref, "prod/redshift");
    cr_assert_str_eq(c->datastores[0].password.json_key, "password");
    cfg_free(c);
    cr_assert_null(load("    password: ${aws-sm:#password}\n"));
    cr_assert(strstr(err.message, "needs a secret id"), "%s", err.message);
    cr_assert_null(load("    password: ${aws-sm:prod#}\n"));
    cr_assert(strstr(err.message, "after '#', a key"), "%s", err.message);
}
