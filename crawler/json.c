/*
 * json.c — a small JSON text writer (see json.h).  Escaping follows RFC 8259:
 * quote, backslash and control characters are escaped; U+2028/2029 pass as
 * UTF-8; invalid UTF-8 becomes U+FFFD.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned min;
    unsigned cp;
    if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

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
            n = utf8_len(p);
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
