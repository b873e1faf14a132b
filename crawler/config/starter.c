/*
 * starter.c — the commented starter file `metacrawl init` writes, and
 * writing it (0600, never over an existing file unless forced).
 */
#include "config_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the starter file -------------------------------------------------------- */

static const char starter_text[] =
    "# metacrawl.yml: written by `metacrawl init`.\n"
    "# Every key is described in docs/configuration.md.  Durations: 250ms, 10s, 5m,\n"
    "# 1h, 2d (a bare number is seconds).  Secrets come from ${env:NAME},\n"
    "# ${file:PATH} or password_command; they are never printed or stored.\n"
    "\n"
    "# The SQLite catalog, created on first use (relative to the directory\n"
    "# metacrawl runs in; --store overrides it).\n"
    "store: ./catalog.db\n"
    "\n"
    "defaults:\n"
    "  timezone: UTC                 # for schedules; each datastore may override it\n"
    "  connect_timeout: 10s\n"
    "  statement_timeout: 5m\n"
    "  max_runtime: 1h               # a crawl still running then is stopped, the store unchanged\n"
    "\n"
    "datastores:\n"
    "  - name: analytics             # [a-z0-9_-]+, unique: `metacrawl crawl analytics`\n"
    "    host: examplecluster.abc123.us-east-1.redshift.amazonaws.com\n"
    "    port: 5439\n"
    "    database: dev\n"
    "    user: metamapper            # `metacrawl grants analytics` prints the GRANTs it needs\n"
    "    group: metamapper           # the group those GRANTs go to\n"
    "    # export REDSHIFT_PASSWORD first.  Or ${file:/run/secrets/redshift}, or\n"
    "    #   password_command: [vault, kv, get, -field=password, secret/redshift]\n"
    "    # Without a password libpq uses PGPASSWORD or ~/.pgpass.  With AWS, instead\n"
    "    # of a password: ${aws-sm:SECRET#password}, or temporary IAM credentials\n"
    "    # (docs/aws.md):  iam: { cluster_identifier: examplecluster, region: us-east-1 }\n"
    "    password: ${env:REDSHIFT_PASSWORD}\n"
    "    sslmode: require            # verify-full checks the real host name, tunnel or not\n"
    "    schemas: { exclude: [\"tmp_*\"] }   # include: [public, \"sales_*\"] to narrow\n"
    "    containers: { exclude: [\"*_bak\", \"*_tmp\"] }\n"
    "    schedule: \"0 */6 * * *\"       # cron, 5 fields or @daily etc.\n"
    "    fail_safe: { max_removed_pct: 20 }   # hold back mass removals\n"
    "    # The connection `metacrawl grants analytics --apply` runs the GRANTs with.\n"
    "    # admin:\n"
    "    #   user: admin\n"
    "    #   password: ${env:REDSHIFT_ADMIN_PASSWORD}\n"
    "    # Through an SSH bastion; host keys are always verified.\n"
    "    # tunnel:\n"
    "    #   host: bastion.example.com\n"
    "    #   port: 22\n"
    "    #   user: ec2-user\n"
    "    #   private_key: ~/.ssh/id_ed25519\n"
    "    #   passphrase: ${env:BASTION_KEY_PASSPHRASE}\n"
    "    #   agent: false              # true: use ssh-agent instead of a key file\n"
    "    #   known_hosts: ~/.ssh/known_hosts\n"
    "    #   host_key_policy: strict   # strict | accept-new\n"
    "    #   jump: []                  # further hops {host, port, user, private_key, ...}, in "
    "order\n"
    "    #   # Or the system's ssh with your ~/.ssh/config (RSA keys, ProxyJump, SSM):\n"
    "    #   #   via: openssh\n"
    "    #   #   host: warehouse-bastion   # a Host of ~/.ssh/config\n"
    "    #   # Or any program that forwards a local port (docs/tunnel.md: SSM recipes):\n"
    "    #   #   command: [aws, ssm, start-session, ..., --parameters, "
    "\"localPortNumber={port},...\"]\n"
    "\n"
    "# Told about every recorded change that matches.\n"
    "# alerts:\n"
    "#   - name: slack\n"
    "#     on: [container_removed, field_removed, field_changed]   # default: every kind\n"
    "#     match: [\"analytics.public.*\"]\n"
    "#     webhook: https://hooks.slack.com/services/...\n"
    "#     format: slack\n"
    "#   - name: log\n"
    "#     file: /var/log/metacrawl/changes.jsonl                   # JSON lines\n"
    "#   - name: page\n"
    "#     command: [/usr/local/bin/notify, --team, data]           # JSON on stdin\n"
    "\n"
    "# `metacrawl schedule run` only; cron and systemd timers use `run-due`\n"
    "# (`metacrawl schedule crontab` / `schedule systemd` print the lines).\n"
    "# scheduler:\n"
    "#   max_parallel: 2\n"
    "#   shutdown_timeout: 5m\n";

const char *cfg_starter_text(void)
{
    return starter_text;
}

int cfg_write_starter(const char *path, bool force, mc_error *err)
{
    char eb[128];
    /* 0600: the file is where credentials end up if someone writes one in. */
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | (force ? O_TRUNC : O_EXCL),
                  0600);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST) {
            mc_error_set(err, MC_EXIT_CONFIG, "%s already exists", path);
            mc_error_hint(err, "pass --force to overwrite it, or -c FILE to write another file");
        } else {
            mc_error_set(err, MC_EXIT_CONFIG, "cannot create %s: %s", path,
                         cfgi_errtext(e, eb, sizeof eb));
            mc_error_hint(err, "check that the directory exists and is writable, or name "
                               "another file with -c FILE");
        }
        return -1;
    }
    if (force)
        (void)fchmod(fd, 0600); /* an overwritten file keeps its old mode otherwise */
    size_t len = sizeof starter_text - 1, done = 0;
    while (done < len) {
        ssize_t n = write(fd, starter_text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            mc_error_set(err, MC_EXIT_CONFIG, "cannot write %s: %s", path,
                         cfgi_errtext(errno, eb, sizeof eb));
            mc_error_hint(err, "is the disk full?");
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0) {
        mc_error_set(err, MC_EXIT_CONFIG, "cannot write %s: %s", path,
                     cfgi_errtext(errno, eb, sizeof eb));
        mc_error_hint(err, "is the disk full?");
        return -1;
    }
    return 0;
}
