/*
 * config.c — the configuration's public API beyond loading: freeing a
 * cfg (literal secrets wiped), finding a datastore, matching its globs,
 * the default search path, and the rule for which webhook URLs metacrawl
 * will POST to.
 *
 * The webhook URL rule lives here, not in the alerts module, so that
 * loading a configuration does not depend on the code that delivers
 * alerts; the alerts module calls cfg_webhook_url_problem() before it
 * POSTs.  The URL is taken apart by libcurl's own parser (curl_url), the
 * one the delivery uses, so both read a URL the same way.
 */
#include "config_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

/* ---- freeing -------------------------------------------------------------------- */

static void hop_free(cfg_hop *h)
{
    free(h->host);
    free(h->user);
    free(h->private_key);
    cfgi_secret_free(&h->passphrase);
    cfgi_secret_free(&h->password);
    free(h->known_hosts);
}

void cfg_free(cfg *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_datastores; i++) {
        cfg_datastore *d = &c->datastores[i];
        free(d->name);
        free(d->host);
        free(d->database);
        free(d->user);
        free(d->group);
        cfgi_secret_free(&d->password);
        free(d->iam.cluster_identifier);
        free(d->iam.workgroup);
        free(d->iam.region);
        free(d->iam.db_user);
        cfgi_strv_free(d->iam.db_groups, d->iam.n_db_groups);
        free(d->iam.profile);
        free(d->iam.role_arn);
        cfgi_strv_free(d->credentials_command, d->n_credentials_command);
        free(d->aws_endpoint_url);
        free(d->admin.user);
        cfgi_secret_free(&d->admin.password);
        free(d->sslmode);
        cfgi_strv_free(d->schemas.include, d->schemas.n_include);
        cfgi_strv_free(d->schemas.exclude, d->schemas.n_exclude);
        cfgi_strv_free(d->containers.include, d->containers.n_include);
        cfgi_strv_free(d->containers.exclude, d->containers.n_exclude);
        hop_free(&d->tunnel.first);
        for (size_t h = 0; h < d->tunnel.n_jump; h++)
            hop_free(&d->tunnel.jump[h]);
        free(d->tunnel.jump);
        free(d->tunnel.ssh);
        free(d->tunnel.ssh_config);
        cfgi_strv_free(d->tunnel.command, d->tunnel.n_command);
        free(d->schedule);
        free(d->timezone);
        cfgi_strv_free(d->databases, d->n_databases);
    }
    free(c->datastores);
    for (size_t i = 0; i < c->n_alerts; i++) {
        cfg_alert *a = &c->alerts[i];
        free(a->name);
        cfgi_strv_free(a->match, a->n_match);
        free(a->webhook);
        free(a->file);
        cfgi_strv_free(a->command, a->n_command);
        free(a->format);
    }
    free(c->alerts);
    free(c->store);
    free(c->timezone);
    free(c->path);
    free(c);
}

/* ---- the rest of the API ---------------------------------------------------- */

char *cfg_default_path(void)
{
    if (access("./metacrawl.yml", F_OK) == 0)
        return mc_strdup("./metacrawl.yml");
    /* The XDG base directory spec says a relative value is to be ignored. */
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char *p = NULL;
    if (xdg && xdg[0] == '/')
        p = mc_asprintf("%s/metacrawl/metacrawl.yml", xdg);
    else if (home && *home)
        p = mc_asprintf("%s/.config/metacrawl/metacrawl.yml", home);
    if (p && access(p, F_OK) == 0)
        return p;
    free(p);
    return NULL;
}

const cfg_datastore *cfg_find_datastore(const cfg *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->n_datastores; i++)
        if (!strcmp(c->datastores[i].name, name))
            return &c->datastores[i];
    return NULL;
}

bool cfg_globs_match(const cfg_globs *g, const char *name)
{
    bool in = g->n_include == 0;
    for (size_t i = 0; !in && i < g->n_include; i++)
        in = mc_glob_match(g->include[i], name);
    for (size_t i = 0; in && i < g->n_exclude; i++)
        if (mc_glob_match(g->exclude[i], name))
            in = false;
    return in;
}

/* ---- webhook URLs ----------------------------------------------------------------- */

static bool loopback_name(const char *host)
{
    if (!host)
        return false;
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return true;
    char buf[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        host = buf;
    }
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* The scheme and host of url (malloc'd), or -1 when curl cannot parse it. */
int cfg_url_parts(const char *url, char **scheme, char **host)
{
    *scheme = *host = NULL;
    CURLU *u = curl_url();
    if (!u)
        return -1;
    int ret = -1;
    char *s = NULL, *h = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
        *scheme = mc_strdup(s);
        *host = mc_strdup(h);
        ret = 0;
    }
    curl_free(s);
    curl_free(h);
    curl_url_cleanup(u);
    return ret;
}

const char *cfg_webhook_url_problem(const char *url)
{
    char *scheme, *host;
    if (!url || cfg_url_parts(url, &scheme, &host) < 0)
        return "the webhook URL cannot be parsed";
    const char *why = NULL;
    if (strcasecmp(scheme, "https") == 0)
        why = NULL;
    else if (strcasecmp(scheme, "http") != 0)
        why = "a webhook URL must start with https://";
    else if (!loopback_name(host))
        why = "plain http:// is allowed only to a loopback host (127.0.0.1, "
              "::1, localhost); use https://";
    free(scheme);
    free(host);
    return why;
}
