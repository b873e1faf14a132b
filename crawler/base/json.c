/*
 * json.c — a small JSON text writer (see json.h).  Escaping follows RFC 8259:
 * quote, backslash and control characters are escaped; U+2028/2029 pass as
 * UTF-8; invalid UTF-8 becomes U+FFFD.  json_put_str_script is the stricter
 * form for text inside an HTML <script> (ASCII only, see json.h).
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void json_put_str(mc_buf *b, const char *s)
{
    if (!s) {
        mc_buf_puts(b, "null");
        return;
    }
    mc_buf_putc(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p; /* start of bytes that need no escaping */
    while (*p) {
        unsigned char c = *p;
        const char *esc = NULL;
        char tmp[8];
        size_t n = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            esc = tmp;
        } else if (c >= 0x80) {
            uint32_t cp;
            n = mc_utf8_decode(p, &cp);
            if (n == 0) {
                esc = "\xef\xbf\xbd"; /* U+FFFD */
                n = 1;
            }
        }
        if (esc) {
            mc_buf_append(b, (const char *)run, (size_t)(p - run));
            mc_buf_puts(b, esc);
            p += n;
            run = p;
        } else {
            p += n;
        }
    }
    mc_buf_append(b, (const char *)run, (size_t)(p - run));
    mc_buf_putc(b, '"');
}

void json_put_str_script(mc_buf *b, const char *s)
{
    if (!s) {
        mc_buf_puts(b, "null");
        return;
    }
    mc_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned char c = *p;
        if (c >= 0x80) {
            uint32_t cp;
            size_t n = mc_utf8_decode(p, &cp);
            if (n == 0) {
                cp = 0xfffd;
                n = 1;
            }
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                mc_buf_printf(b, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
            } else {
                mc_buf_printf(b, "\\u%04x", cp);
            }
            p += n;
            continue;
        }
        switch (c) {
        case '"': mc_buf_puts(b, "\\\""); break;
        case '\\': mc_buf_puts(b, "\\\\"); break;
        case '\n': mc_buf_puts(b, "\\n"); break;
        case '\r': mc_buf_puts(b, "\\r"); break;
        case '\t': mc_buf_puts(b, "\\t"); break;
        case '<':
        case '>':
        case '&':
        case '\'': mc_buf_printf(b, "\\u%04x", c); break;
        default:
            if (c < 0x20 || c == 0x7f)
                mc_buf_printf(b, "\\u%04x", c);
            else
                mc_buf_putc(b, (char)c);
        }
        p++;
    }
    mc_buf_putc(b, '"');
}

bool json_put_key(mc_buf *b, bool first, const char *key)
{
    if (!first)
        mc_buf_putc(b, ',');
    json_put_str(b, key);
    mc_buf_putc(b, ':');
    return false;
}

void json_put_kv_str(mc_buf *b, bool *first, const char *key, const char *s)
{
    *first = json_put_key(b, *first, key);
    json_put_str(b, s);
}

void json_put_kv_int(mc_buf *b, bool *first, const char *key, int64_t v)
{
    *first = json_put_key(b, *first, key);
    mc_buf_printf(b, "%lld", (long long)v);
}

void json_put_kv_bool(mc_buf *b, bool *first, const char *key, bool v)
{
    *first = json_put_key(b, *first, key);
    mc_buf_puts(b, v ? "true" : "false");
}

void json_put_kv_raw(mc_buf *b, bool *first, const char *key, const char *json)
{
    *first = json_put_key(b, *first, key);
    mc_buf_puts(b, json ? json : "null");
}

void json_put_kv_num(mc_buf *b, bool *first, const char *key, double v)
{
    *first = json_put_key(b, *first, key);
    if (!isfinite(v))
        mc_buf_puts(b, "null");
    else if (v == (double)(int64_t)v && fabs(v) < 9e15)
        mc_buf_printf(b, "%lld", (long long)v);
    else
        mc_buf_printf(b, "%.17g", v);
}

void json_put_str_array(mc_buf *b, char *const *items, size_t n)
{
    mc_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            mc_buf_putc(b, ',');
        json_put_str(b, items[i]);
    }
    mc_buf_putc(b, ']');
}
