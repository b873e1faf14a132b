/*
 * http.c — one HTTP exchange with AWS through libcurl, and the rule for
 * which endpoints metacrawl sends credentials to.
 *
 * Signing is libcurl's (CURLOPT_AWS_SIGV4, "aws:amz:REGION:SERVICE"): it
 * signs the method, path, query, the body's hash and the headers host,
 * content-type and every x-amz-* header we set (libcurl 7.88), so the
 * session token goes in as an X-Amz-Security-Token header that is signed
 * with the rest, as the aws-sig-v4-test-suite's post-sts-header-before
 * case does.  libcurl takes the secret key as the "password" of
 * CURLOPT_PASSWORD and keeps its own copy, which it frees without wiping:
 * out of our reach, like libyaml's scanner buffers (docs/aws.md).
 *
 * The answer goes into one buffer of AWSI_BODY_MAX bytes allocated once
 * (never reallocated, so no copy of a password is left behind) and wiped
 * by awsi_resp_free.  A header list that carried a secret is wiped before
 * libcurl frees it.
 */
#include "aws_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
    awsi_resp *r;
    size_t cap;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t len = size * n;
    if (s->r->n_body + len > s->cap) {
        s->r->too_large = true;
        return 0; /* stops the transfer */
    }
    memcpy(s->r->body + s->r->n_body, p, len);
    s->r->n_body += len;
    s->r->body[s->r->n_body] = '\0';
    return len;
}

static void wipe_slist(struct curl_slist *l)
{
    for (struct curl_slist *i = l; i; i = i->next)
        if (i->data)
            explicit_bzero(i->data, strlen(i->data));
    curl_slist_free_all(l);
}

int awsi_http(const awsi_req *q, awsi_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    pthread_once(&curl_once, curl_init_once);
    resp->body = mc_calloc(1, AWSI_BODY_MAX + 1);
    struct sink s = {resp, AWSI_BODY_MAX};
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(resp->transport, sizeof resp->transport, "libcurl could not start");
        return -1;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = NULL;
    char *sigv4 = NULL;
    char *token_hdr = NULL;
    for (size_t i = 0; q->headers && q->headers[i]; i++)
        hdr = curl_slist_append(hdr, q->headers[i]);
    if (q->secret_header)
        hdr = curl_slist_append(hdr, q->secret_header);
    /* libcurl adds an Accept header and, for a POST, a form content type of
     * its own; nothing else. */
    if (q->sign) {
        if (q->sign->token.value) {
            size_t n = strlen("X-Amz-Security-Token: ") + q->sign->token.len + 1;
            token_hdr = mc_malloc(n);
            snprintf(token_hdr, n, "X-Amz-Security-Token: %s", q->sign->token.value);
            hdr = curl_slist_append(hdr, token_hdr);
            explicit_bzero(token_hdr, n);
            free(token_hdr);
        }
        sigv4 = mc_asprintf("aws:amz:%s:%s", q->region, q->service);
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, q->sign->akid);
        curl_easy_setopt(h, CURLOPT_PASSWORD, q->sign->secret.value);
    }
    curl_easy_setopt(h, CURLOPT_URL, q->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    if (!strcmp(q->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
    } else if (!strcmp(q->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)(q->timeout_s > 0 ? q->timeout_s : 15));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT,
                     (long)(q->connect_timeout_s > 0 ? q->connect_timeout_s : 10));
    /* No redirects: a redirect would carry the signed request elsewhere. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* AWS from here, not via http_proxy */
    curl_easy_setopt(h, CURLOPT_USERAGENT, "metacrawl/" "aws");
    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    if (rc != CURLE_OK && !resp->too_large) {
        snprintf(resp->transport, sizeof resp->transport, "%s",
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
        ret = -1;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        if (resp->too_large) {
            snprintf(resp->transport, sizeof resp->transport,
                     "the answer is larger than %d KiB", AWSI_BODY_MAX / 1024);
            ret = -1;
        }
    }
    curl_easy_cleanup(h);
    wipe_slist(hdr);
    free(sigv4);
    return ret;
}

void awsi_resp_free(awsi_resp *r)
{
    if (r->body) {
        explicit_bzero(r->body, AWSI_BODY_MAX + 1);
        free(r->body);
    }
    r->body = NULL;
    r->n_body = 0;
}

void awsi_form_put(mc_buf *b, const char *name, const char *value)
{
    if (b->len)
        mc_buf_putc(b, '&');
    mc_buf_puts(b, name);
    mc_buf_putc(b, '=');
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
            mc_buf_putc(b, (char)*p);
        else
            mc_buf_printf(b, "%%%02X", *p);
    }
}

/* ---- the endpoint rule ---------------------------------------------------- */

static bool loopback_host(const char *host)
{
    if (!strcasecmp(host, "localhost"))
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    char buf[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        host = buf;
    }
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

const char *aws_endpoint_url_problem(const char *url)
{
    pthread_once(&curl_once, curl_init_once);
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    const char *why = NULL;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        why = "it is not a URL metacrawl can read (write https://HOST[:PORT]/)";
        goto out;
    }
    if (!strcasecmp(scheme, "https"))
        goto out;
    if (strcasecmp(scheme, "http") != 0) {
        why = "only https:// (or http:// to a loopback address) is allowed";
        goto out;
    }
    if (!loopback_host(host))
        why = "plain http:// would send signed requests and credentials in clear; only "
              "loopback hosts (127.0.0.1, ::1, localhost) may use it";
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return why;
}
