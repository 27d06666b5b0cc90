/*
 * json-c helpers: a strict parser for request bodies and a few checked
 * builders for response documents.  Every builder treats running out of
 * memory as fatal, so callers never test their results.
 */
#ifndef CHARGEGATE_JSON_H
#define CHARGEGATE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Objects and arrays are nested at most this deep in a parsed body. */
#define JSON_MAX_DEPTH 32

/*
 * Parse buf[0..len) as one RFC 8259 JSON text whose top level is an
 * object.  Whitespace may surround it; anything else after it, a NUL byte,
 * invalid UTF-8, NaN/Infinity, single quotes and raw control characters in
 * strings are errors.  On success *out holds a new reference (release it
 * with json_object_put).  On failure *out is NULL and err holds a complete
 * sentence such as "body is not valid JSON: unexpected end of data at
 * offset 17" or "body is a JSON array, expected an object".
 */
bool json_parse_object(const char *buf, size_t len, struct json_object **out, char *err, size_t errsize);

/*
 * As json_parse_object, and no object anywhere in it names a member twice
 * (json-c would keep the last one): for answers whose meaning must not
 * depend on which duplicate a reader picks, e.g. the authorization
 * service's decision.
 */
bool json_parse_object_unique(const char *buf, size_t len, struct json_object **out, char *err, size_t errsize);

/* The string member key of obj; NULL when obj is not an object or the
 * member is missing or not a string.  Valid while obj lives. */
const char *json_get_string(struct json_object *obj, const char *key);

/* New empty object / array with one reference. */
struct json_object *json_new_object(void);
struct json_object *json_new_array(void);

/* Set member key of obj, replacing an earlier one.  value may be NULL for
 * JSON null; json_set takes over the caller's reference to val. */
void json_set_string(struct json_object *obj, const char *key, const char *value);
void json_set_int(struct json_object *obj, const char *key, int64_t value);
void json_set(struct json_object *obj, const char *key, struct json_object *val);

/* Append val to array arr, taking over the caller's reference. */
void json_append(struct json_object *arr, struct json_object *val);

/*
 * A JSON string of text from outside (a response body): NUL bytes and
 * invalid UTF-8 become '?', so PostgreSQL's jsonb accepts it.
 */
struct json_object *json_new_string_lossy(const char *s, size_t len);

/* Compact text of obj (no spaces, "/" not escaped), owned by obj and valid
 * until obj changes or is released.  *len_out gets its length if not NULL. */
const char *json_to_text(struct json_object *obj, size_t *len_out);

#endif
