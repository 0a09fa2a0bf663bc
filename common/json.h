/*
 * json.h - JSON string escaping, one copy for every lblab program that writes JSON (lbtop --json,
 * lbtrace --json, backend-sim's answers and log). The text escaped is untrusted (request paths,
 * header values, captured bytes), so the output must be valid JSON whatever the input:
 *   " and \ are escaped, \n \r \t get their short escapes, other control bytes and DEL become
 *   \u00XX; valid UTF-8 is kept as it is; a byte that is not part of valid UTF-8 becomes \u00XX
 *   of its value.
 * The escaper writes through a small callback so that it serves a FILE, a growable buffer or
 * anything else without copying.
 */
#ifndef LBLAB_JSON_H
#define LBLAB_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Where escaped text goes: called with consecutive runs of output (len may be 0). */
typedef void json_sink_fn(void *ctx, const char *p, size_t len);

/* Escapes s[0..n) as the inside of a JSON string (no quotes) into sink. */
void json_escape(const char *s, size_t n, json_sink_fn *sink, void *ctx);

/* Writes the NUL-terminated s as a JSON string, quotes included, to out; NULL is written as "". */
void json_write_string(FILE *out, const char *s);

/* Writes lead as it is (the punctuation and key before a value, e.g. ",\"path\":"), then s as
 * json_write_string() does: one member of an object per call. */
void json_write_member(FILE *out, const char *lead, const char *s);

#endif
