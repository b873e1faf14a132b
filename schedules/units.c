/*
 * units.c — the text of the crontab lines and systemd units that
 * `schedule crontab|systemd` print (docs/scheduling.md): absolute paths,
 * quoting for cron and for systemd's command-line rules, the sandboxing of
 * the service, and refusals for paths no unit can carry.
 */
#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

static int check_paths(const sched_install *in, mc_error *err)
{
    const char *paths[] = {in->binary, in->config, in->store_override, in->workdir};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (has_control(paths[i])) {
            mc_error_set(err, MC_EXIT_USAGE, "cannot write the path '%s' into a crontab or "
                                             "unit: it contains a control character",
                         paths[i]);
            mc_error_hint(err, "move the file to a path without newlines or tabs");
            return -1;
        }
    for (size_t i = 0; i < in->n_write_dirs; i++)
        if (has_control(in->write_dirs[i]))
            return mc_error_set(err, MC_EXIT_USAGE, "cannot write the path '%s' into a unit",
                                in->write_dirs[i]);
    return 0;
}

/* sh single quotes; in a crontab command '%' must be written '\%'. */
static void cron_arg(mc_buf *b, const char *s)
{
    mc_buf_putc(b, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            mc_buf_puts(b, "'\\''");
        else if (*p == '%')
            mc_buf_puts(b, "\\%");
        else
            mc_buf_putc(b, *p);
    }
    mc_buf_putc(b, '\'');
}

int sched_crontab_text(mc_buf *b, const sched_install *in, mc_error *err)
{
    if (check_paths(in, err) != 0)
        return -1;
    /* the caller's PATH, each directory once */
    mc_buf path = {0};
    const char *pe = in->path_env && *in->path_env && !has_control(in->path_env)
                         ? in->path_env
                         : "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = pe; *p;) {
        size_t n = strcspn(p, ":");
        bool seen = n == 0;
        for (const char *q = mc_buf_str(&path); !seen && *q;) {
            size_t m = strcspn(q, ":");
            seen = m == n && strncmp(q, p, n) == 0;
            q += m + (q[m] == ':');
        }
        if (!seen) {
            if (path.len)
                mc_buf_putc(&path, ':');
            mc_buf_append(&path, p, n);
        }
        p += n + (p[n] == ':');
    }
    mc_buf_printf(b,
                  "# metacrawl: crawl the datastores of %s when their schedules say so.\n"
                  "# cron starts 'metacrawl run-due' every minute; run-due crawls only what is\n"
                  "# due, catches up once after downtime, and leaves a datastore alone while\n"
                  "# another crawl of it runs (see docs/scheduling.md).  -q: cron mails errors only.\n"
                  "# Install:  (crontab -l 2>/dev/null; %s -c %s schedule crontab) | crontab -\n",
                  in->config, in->binary, in->config);
    if (in->n_env_names) {
        mc_buf_puts(b, "# The configuration reads");
        for (size_t i = 0; i < in->n_env_names; i++)
            mc_buf_printf(b, "%s ${env:%s}", i ? "," : "", in->env_names[i]);
        mc_buf_puts(b, ": cron does not pass on your\n"
                       "# shell's environment.  Set each here (NAME=value, in a crontab only you\n"
                       "# can read) or use ${file:/path} or password_command instead.\n");
    }
    mc_buf_puts(b, "# PATH: where password_command and alert commands are found; it applies to\n"
                   "# the lines below it in this crontab.\n");
    mc_buf_printf(b, "PATH=%s\n", mc_buf_str(&path));
    mc_buf_free(&path);
    mc_buf_puts(b, "* * * * * cd ");
    cron_arg(b, in->workdir);
    mc_buf_puts(b, " && exec ");
    cron_arg(b, in->binary);
    mc_buf_puts(b, " -q -c ");
    cron_arg(b, in->config);
    if (in->store_override) {
        mc_buf_puts(b, " --store ");
        cron_arg(b, in->store_override);
    }
    mc_buf_puts(b, " run-due\n");
    return 0;
}

/* One ExecStart= word: "%" and "$" doubled (specifiers and variables),
 * double quotes when it has blanks, quotes or backslashes. */
static void sd_word(mc_buf *b, const char *s)
{
    bool quote = s[strcspn(s, " \t\"'\\")] != '\0' || !*s;
    if (quote)
        mc_buf_putc(b, '"');
    for (const char *p = s; *p; p++) {
        if (*p == '%')
            mc_buf_puts(b, "%%");
        else if (*p == '$')
            mc_buf_puts(b, "$$");
        else if (quote && (*p == '"' || *p == '\\')) {
            mc_buf_putc(b, '\\');
            mc_buf_putc(b, *p);
        } else
            mc_buf_putc(b, *p);
    }
    if (quote)
        mc_buf_putc(b, '"');
}

/* A path setting (WorkingDirectory=): only specifiers are special. */
static void sd_path(mc_buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '%')
            mc_buf_puts(b, "%%");
        else
            mc_buf_putc(b, *p);
    }
}

static void sd_exec(mc_buf *b, const sched_install *in, const char *const *tail)
{
    mc_buf_puts(b, "ExecStart=");
    sd_word(b, in->binary);
    mc_buf_puts(b, " -c ");
    sd_word(b, in->config);
    if (in->store_override) {
        mc_buf_puts(b, " --store ");
        sd_word(b, in->store_override);
    }
    for (size_t i = 0; tail[i]; i++) {
        mc_buf_putc(b, ' ');
        sd_word(b, tail[i]);
    }
    mc_buf_putc(b, '\n');
}

static bool under_tmp(const char *p)
{
    return p && (strncmp(p, "/tmp/", 5) == 0 || strcmp(p, "/tmp") == 0 ||
                 strncmp(p, "/var/tmp/", 9) == 0 || strcmp(p, "/var/tmp") == 0);
}

static void sd_sandbox(mc_buf *b, const sched_install *in)
{
    bool tmp = under_tmp(in->config) || under_tmp(in->workdir) ||
               under_tmp(in->store_override) || under_tmp(in->binary);
    for (size_t i = 0; i < in->n_write_dirs; i++)
        tmp = tmp || under_tmp(in->write_dirs[i]);
    mc_buf_puts(b, "# Sandboxing: metacrawl needs the network, read access to its configuration\n"
                   "# and keys, and write access to the store's directory (the store, its\n"
                   "# -wal/-shm files, the .locks directory) and to alert files.  Add to\n"
                   "# ReadWritePaths= what a password_command or alert command writes.\n"
                   "NoNewPrivileges=yes\n");
    if (tmp)
        mc_buf_puts(b, "# PrivateTmp=yes would hide the files under /tmp that this setup uses;\n"
                       "# move them elsewhere (/var/lib/metacrawl) and turn it on.\n"
                       "#PrivateTmp=yes\n");
    else
        mc_buf_puts(b, "PrivateTmp=yes\n");
    mc_buf_puts(b, "PrivateDevices=yes\n"
                   "ProtectSystem=strict\n"
                   "ProtectHome=read-only\n");
    if (in->n_write_dirs) {
        mc_buf_puts(b, "ReadWritePaths=");
        for (size_t i = 0; i < in->n_write_dirs; i++) {
            if (i)
                mc_buf_putc(b, ' ');
            /* "-": a directory that does not exist (yet) must not stop the
             * unit from starting */
            struct stat sb;
            if (stat(in->write_dirs[i], &sb) != 0) {
                char *opt = mc_asprintf("-%s", in->write_dirs[i]);
                sd_word(b, opt);
                free(opt);
            } else {
                sd_word(b, in->write_dirs[i]);
            }
        }
        mc_buf_putc(b, '\n');
    }
    mc_buf_puts(b, "ProtectKernelTunables=yes\n"
                   "ProtectKernelModules=yes\n"
                   "ProtectKernelLogs=yes\n"
                   "ProtectControlGroups=yes\n"
                   "RestrictSUIDSGID=yes\n"
                   "RestrictRealtime=yes\n"
                   "LockPersonality=yes\n"
                   "UMask=0077\n");
}

int sched_systemd_service(mc_buf *b, const sched_install *in, bool as_daemon, mc_error *err)
{
    if (check_paths(in, err) != 0)
        return -1;
    const char *unit = as_daemon ? SCHED_UNIT_DAEMON : SCHED_UNIT_RUN_DUE;
    mc_buf_printf(b, "# /etc/systemd/system/%s.service\n", unit);
    if (as_daemon)
        mc_buf_printf(b,
                      "# metacrawl's scheduler for %s: crawls each datastore when its\n"
                      "# schedule says so, at most scheduler.max_parallel at a time.\n"
                      "# 'systemctl reload %s' rereads the configuration (a bad one is\n"
                      "# logged and the running one kept); stop lets running crawls finish\n"
                      "# within scheduler.shutdown_timeout.\n"
                      "# Install:  systemctl daemon-reload && systemctl enable --now %s.service\n",
                      in->config, unit, unit);
    else
        mc_buf_printf(b,
                      "# metacrawl: crawl the datastores of %s that are due.\n"
                      "# Started every minute by %s.timer; run-due decides what is due\n"
                      "# and catches up once after downtime, from the store.\n"
                      "# Install both files, then:\n"
                      "#   systemctl daemon-reload && systemctl enable --now %s.timer\n",
                      in->config, unit, unit);
    mc_buf_puts(b, "[Unit]\n");
    mc_buf_printf(b, "Description=%s\n", as_daemon ? "metacrawl scheduler"
                                                : "metacrawl: crawl the datastores that are due");
    mc_buf_puts(b, "Documentation=man:metacrawl(1)\n"
                   "Wants=network-online.target\n"
                   "After=network-online.target\n"
                   "\n[Service]\n");
    if (as_daemon) {
        mc_buf_puts(b, "Type=exec\n");
    } else {
        mc_buf_puts(b, "Type=oneshot\n"
                       "# A crawl may take longer than the 90 s systemd gives a oneshot by default.\n"
                       "TimeoutStartSec=infinity\n");
    }
    if (in->user)
        mc_buf_printf(b, "User=%s\n", in->user);
    else
        mc_buf_puts(b, "# User=metacrawl   (this runs as root otherwise: create a user that can read\n"
                       "#                   the configuration and write the store)\n");
    mc_buf_puts(b, "WorkingDirectory=");
    sd_path(b, in->workdir);
    mc_buf_putc(b, '\n');
    if (as_daemon) {
        const char *tail[] = {"schedule", "run", NULL};
        sd_exec(b, in, tail);
        mc_buf_puts(b, "ExecReload=/bin/kill -HUP $MAINPID\n"
                       "# SIGTERM to metacrawl only: it lets running crawls finish, and the\n"
                       "# commands they run are not cut off under them.\n"
                       "KillMode=mixed\n");
        mc_buf_printf(b, "TimeoutStopSec=%d\n", in->stop_timeout_s + 30);
        mc_buf_puts(b, "Restart=on-failure\n"
                       "RestartSec=30s\n"
                       "# usage and configuration errors need a person, not a restart\n"
                       "RestartPreventExitStatus=2 3\n");
    } else {
        const char *tail[] = {"run-due", NULL};
        sd_exec(b, in, tail);
    }
    if (in->n_env_names) {
        mc_buf_puts(b, "# The configuration reads");
        for (size_t i = 0; i < in->n_env_names; i++)
            mc_buf_printf(b, "%s ${env:%s}", i ? "," : "", in->env_names[i]);
        mc_buf_puts(b, ": put NAME=value lines\n"
                       "# in a file only root can read and name it here (or use ${file:...}\n"
                       "# with LoadCredential=).\n"
                       "#EnvironmentFile=/etc/metacrawl/metacrawl.env\n");
    }
    sd_sandbox(b, in);
    if (as_daemon)
        mc_buf_puts(b, "\n[Install]\nWantedBy=multi-user.target\n");
    return 0;
}

void sched_systemd_timer(mc_buf *b, const sched_install *in)
{
    mc_buf_printf(b, "# /etc/systemd/system/%s.timer\n", SCHED_UNIT_RUN_DUE);
    mc_buf_printf(b,
                  "# Starts %s.service at the start of every minute for %s.\n"
                  "# No Persistent=: after downtime the next start's run-due catches up, once,\n"
                  "# from the runs in the store; a timer catch-up would add nothing.\n"
                  "# While a run-due still crawls, the service is active and the timer's next\n"
                  "# ticks are skipped: a datastore that falls due meanwhile is crawled (once)\n"
                  "# when it ends.  With long crawls, prefer 'metacrawl schedule systemd\n"
                  "# --scheduler' (one service that crawls in parallel).\n",
                  SCHED_UNIT_RUN_DUE, in->config);
    mc_buf_puts(b, "[Unit]\n"
                   "Description=metacrawl: start run-due every minute\n"
                   "\n[Timer]\n"
                   "OnCalendar=*-*-* *:*:00\n"
                   "# the default AccuracySec=1min would start it anywhere in the minute\n"
                   "AccuracySec=1s\n");
    mc_buf_printf(b, "Unit=%s.service\n", SCHED_UNIT_RUN_DUE);
    mc_buf_puts(b, "\n[Install]\nWantedBy=timers.target\n");
}
