/*
 * escape.c — the site's escapers (site.h): HTML and XML text and attributes,
 * JavaScript string literals, inline Markdown, and the file-name form of a
 * name (site_file_name) with its fragment-id twin (put_id).  Every string from
 * the warehouse reaches a page through one of these (invariant 1 in site.c).
 */
#include "site_internal.h"
#include "report.h"

#include <stdio.h>
#include <string.h>

/* ---- escapers (site.h) -------------------------------------------------------- */

/* HTML and XML share one escaper, the one the pipeline reports use too
 * (report.h): its five entities are valid in both. */
void site_html_escape(mc_buf *b, const char *s)
{
    report_xml_escape(b, s);
}

void site_xml_escape(mc_buf *b, const char *s)
{
    report_xml_escape(b, s);
}

void site_md_escape(mc_buf *b, const char *s)
{
    report_md_escape(b, s);
}

static bool keep_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* con.html is a device on Windows, whatever the extension. */
static bool windows_device(const char *name)
{
    static const char *const fixed[] = {"con", "prn", "aux", "nul"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(name, fixed[i]) == 0)
            return true;
    return (strncmp(name, "com", 3) == 0 || strncmp(name, "lpt", 3) == 0) &&
           name[3] >= '0' && name[3] <= '9' && name[4] == '\0';
}

#define FILE_NAME_MAX 200 /* longer forms are cut to FILE_NAME_CUT + a hash */
#define FILE_NAME_CUT 180

void site_file_name(mc_buf *b, const char *name)
{
    if (!name || !*name) {
        mc_buf_putc(b, '-'); /* no other name gives a lone '-' */
        return;
    }
    const unsigned char *p = (const unsigned char *)name;
    bool device = windows_device(name);
    size_t len = 0;
    for (size_t i = 0; p[i]; i++)
        len += keep_byte(p[i]) && !(i == 0 && device) ? 1 : 3;
    size_t limit = len > FILE_NAME_MAX ? FILE_NAME_CUT : len, used = 0;
    for (size_t i = 0; p[i]; i++) {
        bool keep = keep_byte(p[i]) && !(i == 0 && device);
        if (used + (keep ? 1 : 3) > limit)
            break;
        if (keep)
            mc_buf_putc(b, (char)p[i]);
        else
            mc_buf_printf(b, "-%02x", p[i]);
        used += keep ? 1 : 3;
    }
    if (len > FILE_NAME_MAX) /* "-z" never appears in a plain form */
        mc_buf_printf(b, "-z%016llx", (unsigned long long)mc_hash_str(MC_HASH_INIT, name));
}

/* A fragment id for a name: the file-name form of the name with invalid
 * UTF-8 replaced and never cut, which assets/search.js computes the same
 * way from the index's (decoded) strings. */
void put_id(mc_buf *b, const char *prefix, const char *name)
{
    mc_buf_puts(b, prefix);
    if (!name || !*name) {
        mc_buf_putc(b, '-');
        return;
    }
    for (const unsigned char *p = (const unsigned char *)name; *p;) {
        uint32_t cp;
        size_t n = *p >= 0x80 ? mc_utf8_decode(p, &cp) : 1;
        const unsigned char *bytes = p;
        if (n == 0) {
            bytes = (const unsigned char *)U_FFFD;
            n = 3;
            p++;
        } else {
            p += n;
        }
        for (size_t i = 0; i < n; i++) {
            if (keep_byte(bytes[i]))
                mc_buf_putc(b, (char)bytes[i]);
            else
                mc_buf_printf(b, "-%02x", bytes[i]);
        }
    }
}

char *file_name(const char *name)
{
    mc_buf b = {0};
    site_file_name(&b, name);
    return mc_buf_steal(&b);
}
