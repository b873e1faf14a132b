/*
 * json.h — writing JSON text into an mc_buf without building a tree.  The
 * crawler writes change values, reports and catalogs this way; jansson is
 * used where JSON is read back (and by the tests).  Strings from the
 * warehouse may be invalid UTF-8 (SQL_ASCII databases): invalid bytes are
 * written as U+FFFD so the output always parses.
 */
#ifndef MC_JSON_H
#define MC_JSON_H

#include "mc_base.h"

/* A JSON string literal for s, or null when s is NULL. */
void json_put_str(mc_buf *b, const char *s);
/* A JSON string literal that is also safe inside an HTML <script> element
 * or attribute: ASCII only.  < > & ' become \u003c \u003e \u0026 \u0027,
 * every control character and DEL \u00XX (but \n \r \t, \" and \\ as
 * usual), every non-ASCII character \uXXXX (a surrogate pair above
 * U+FFFF, so U+2028/2029 too), invalid UTF-8 \ufffd.  Hex digits are lower
 * case.  NULL gives null.  The docs site's search index is written with it. */
void json_put_str_script(mc_buf *b, const char *s);
/* "key": with a leading comma unless first; returns false afterwards, so
 * "first = json_put_key(b, first, "x")" threads the flag. */
bool json_put_key(mc_buf *b, bool first, const char *key);
void json_put_kv_str(mc_buf *b, bool *first, const char *key, const char *s);
void json_put_kv_int(mc_buf *b, bool *first, const char *key, int64_t v);
void json_put_kv_bool(mc_buf *b, bool *first, const char *key, bool v);
/* Embeds an already-serialised JSON text (NULL -> null). */
void json_put_kv_raw(mc_buf *b, bool *first, const char *key, const char *json);
void json_put_kv_num(mc_buf *b, bool *first, const char *key, double v);
/* A JSON array of the n strings (NULL entries as null). */
void json_put_str_array(mc_buf *b, char *const *items, size_t n);

#endif
