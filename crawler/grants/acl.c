/*
 * acl.c — what `check` needs from the grants module besides the plan: the
 * one statement that fixes each problem it finds (in the server's dialect,
 * through the same quoting as the plan), and reading the ACL text of
 * pg_default_acl (grants.h).  No connection: the unit tests drive it.
 */
#include "grants.h"
#include "sql_scan.h"

#include <stdlib.h>
#include <string.h>

/* ---- fixes for check ------------------------------------------------------ */

/* "... TO GROUP "g";" / "... TO "g_role";" after prefix; NULL when a name
 * cannot be written. */
static char *fix_sql(grants_dialect d, const char *user, const char *group, mc_buf *b)
{
    char *role = grants_group_role(d, user, group);
    mc_buf_puts(b, d == GRANTS_REDSHIFT ? " TO GROUP " : " TO ");
    int rc = grants_quote_ident(b, d, role);
    free(role);
    mc_buf_putc(b, ';');
    if (rc != 0) {
        mc_buf_free(b);
        return NULL;
    }
    return mc_buf_steal(b);
}

char *grants_fix_usage(grants_dialect d, const char *user, const char *group, const char *schema)
{
    mc_buf b = {0};
    mc_buf_puts(&b, "GRANT USAGE ON SCHEMA ");
    if (grants_quote_ident(&b, d, schema) != 0) {
        mc_buf_free(&b);
        return NULL;
    }
    return fix_sql(d, user, group, &b);
}

char *grants_fix_select(grants_dialect d, const char *user, const char *group, const char *schema)
{
    mc_buf b = {0};
    mc_buf_puts(&b, "GRANT SELECT ON ALL TABLES IN SCHEMA ");
    if (grants_quote_ident(&b, d, schema) != 0) {
        mc_buf_free(&b);
        return NULL;
    }
    return fix_sql(d, user, group, &b);
}

char *grants_fix_default(grants_dialect d, const char *user, const char *group,
                         const char *owner, const char *schema)
{
    mc_buf b = {0};
    mc_buf_printf(&b, "ALTER DEFAULT PRIVILEGES FOR %s ", d == GRANTS_REDSHIFT ? "USER" : "ROLE");
    int rc = grants_quote_ident(&b, d, owner);
    mc_buf_puts(&b, " IN SCHEMA ");
    rc |= grants_quote_ident(&b, d, schema);
    mc_buf_puts(&b, " GRANT SELECT ON TABLES");
    if (rc != 0) {
        mc_buf_free(&b);
        return NULL;
    }
    return fix_sql(d, user, group, &b);
}

char *grants_fix_member(grants_dialect d, const char *user, const char *group)
{
    char *role = grants_group_role(d, user, group);
    mc_buf b = {0};
    int rc;
    if (d == GRANTS_REDSHIFT) {
        mc_buf_puts(&b, "ALTER GROUP ");
        rc = grants_quote_ident(&b, d, role);
        mc_buf_puts(&b, " ADD USER ");
        rc |= grants_quote_ident(&b, d, user);
    } else {
        mc_buf_puts(&b, "GRANT ");
        rc = grants_quote_ident(&b, d, role);
        mc_buf_puts(&b, " TO ");
        rc |= grants_quote_ident(&b, d, user);
    }
    mc_buf_putc(&b, ';');
    free(role);
    if (rc != 0) {
        mc_buf_free(&b);
        return NULL;
    }
    return mc_buf_steal(&b);
}

/* ---- ACL text ------------------------------------------------------------- */

/* One aclitem: [group ]grantee=privileges/grantor, the grantee quoted
 * with "" for a quote when it is not a plain word, empty for PUBLIC: the
 * grantee is an SQL identifier up to the '=' (mc_sql_scan_ident).  An
 * unclosed quote, or anything but '=' after a quoted name, grants nothing. */
static bool item_allows(const char *item, const char *const *names, const bool *groups,
                        size_t n_names)
{
    bool group = false;
    if (strncmp(item, "group ", 6) == 0) {
        group = true;
        item += 6;
    }
    mc_buf name = {0};
    const char *p = item;
    if (mc_sql_scan_ident(&p, "=", 0, &name) != 0) {
        mc_buf_free(&name);
        return false;
    }
    bool allows = false;
    if (*p == '=') {
        p++;
        size_t n = strcspn(p, "/");
        bool select = memchr(p, 'r', n) != NULL;
        if (select && name.len == 0 && !group) {
            allows = true; /* PUBLIC */
        } else if (select) {
            for (size_t i = 0; i < n_names && !allows; i++)
                allows = (groups ? groups[i] : false) == group &&
                         strcmp(names[i], mc_buf_str(&name)) == 0;
        }
    }
    mc_buf_free(&name);
    return allows;
}

bool grants_acl_allows_select(const char *acl, const char *const *names, const bool *groups,
                              size_t n_names)
{
    if (!acl || *acl != '{')
        return false;
    const char *p = acl + 1;
    bool allows = false;
    while (*p && *p != '}' && !allows) {
        mc_buf item = {0};
        if (*p == '"') {
            /* array element quoting: backslash escapes the next character */
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                mc_buf_putc(&item, *p++);
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',' && *p != '}')
                mc_buf_putc(&item, *p++);
        }
        allows = item_allows(mc_buf_str(&item), names, groups, n_names);
        mc_buf_free(&item);
        if (*p == ',')
            p++;
    }
    return allows;
}
