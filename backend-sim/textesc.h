/*
 * textesc.h - escaping untrusted bytes (request headers, paths) for the HTML page, the JSON
 * answers and the JSON log. Everything backend-sim echoes goes through here, so a header like
 * "<script>" shows as text and a quote cannot end a JSON string early.
 */
#ifndef LBLAB_TEXTESC_H
#define LBLAB_TEXTESC_H

#include <stddef.h>

#include "simbuf.h"

/* Appends s[0..n) with & < > " ' written as entities; control bytes other than tab become
 * U+FFFD's entity so they cannot garble the page. */
void textesc_html(struct simbuf *b, const char *s, size_t n);

/* Appends s[0..n) as the inside of a JSON string, escaped by json_escape() (common/json.h): the
 * output is always valid JSON. */
void textesc_json(struct simbuf *b, const char *s, size_t n);

/* Appends "s" (with the quotes) via textesc_json, or null when s is NULL. */
void textesc_json_string(struct simbuf *b, const char *s, size_t n);

/* Appends lead as it is (the punctuation and key before a value, e.g. ",\"path\":"), then s as
 * textesc_json_string() does: one member of an object per call. */
void textesc_json_member(struct simbuf *b, const char *lead, const char *s, size_t n);

#endif
