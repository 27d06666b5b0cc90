#include "autoconfig.h"

#include "infra/json.h"

#include "infra/alloc.h"
#include "infra/log.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static bool is_json_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Bytes that may appear outside strings: structure, numbers, true/false/null. */
static bool is_bare_byte(unsigned char c)
{
	return c != '\0' && (is_json_space(c) || strchr("{}[],:-+.eE0123456789truefalsn", c) != NULL);
}

static size_t utf8_seq_len(const unsigned char *p, size_t n);

static int hex_value(const char *p, size_t n)
{
	int v = 0;

	if (n < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/*
 * The escape at buf[i] ('\'); returns its length, or 0 (with *why) for a
 * \u escape of half a surrogate pair: no code point, whatever a reader
 * would make of it.
 */
static size_t escape_len(const char *buf, size_t i, size_t len, const char **why)
{
	int u, low;

	if (i + 1 >= len || buf[i + 1] != 'u')
		return 2;
	u = hex_value(buf + i + 2, len - i - 2);
	if (u < 0xd800 || u > 0xdfff)
		return 6;
	low = u <= 0xdbff && i + 7 < len && buf[i + 6] == '\\' && buf[i + 7] == 'u'
		      ? hex_value(buf + i + 8, len - i - 8) : -1;
	if (low >= 0xdc00 && low <= 0xdfff)
		return 12;
	*why = "unpaired UTF-16 surrogate escape";
	return 0;
}

/*
 * json-c's strict mode still lets through a few things JSON forbids: NUL
 * (it ends the parse early), raw control characters in strings, single
 * quotes, NaN/Infinity, "1.", and (its UTF-8 check is loose) overlong
 * forms, encoded surrogates, code points above U+10FFFF and unpaired
 * surrogate escapes.  Scan buf[0..len), which json-c has accepted as far
 * as it goes, and return the offset of the first such byte (setting *why),
 * or len when there is none.
 */
static size_t lex_check(const char *buf, size_t len, const char **why)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		size_t n;

		if (c == '\0') {
			*why = "NUL byte";
			return i;
		}
		if (c >= 0x80) {
			if ((n = utf8_seq_len((const unsigned char *)buf + i, len - i)) == 0) {
				*why = "invalid UTF-8";
				return i;
			}
			i += n - 1;
			continue;
		}
		if (in_string) {
			if (c < 0x20) {
				*why = "control character in string";
				return i;
			}
			if (c == '\\') {
				if ((n = escape_len(buf, i, len, why)) == 0)
					return i;
				i += n - 1;
			} else if (c == '"') {
				in_string = false;
			}
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (!is_bare_byte(c)) {
			*why = "unexpected character";
			return i;
		} else if (c == '.' && i + 1 < len && !is_digit((unsigned char)buf[i + 1])) {
			*why = "number expected";
			return i + 1;
		}
	}
	return len;
}

static bool only_space(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!is_json_space((unsigned char)buf[i]))
			return false;
	}
	return true;
}

static struct json_tokener *new_tokener(void)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);

	if (tok == NULL)
		fatal("out of memory creating a json tokener");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	return tok;
}

/*
 * Run json-c over buf.  A bare number or literal at the very end stays
 * "continue" until a delimiter follows, so feed one space to finish it.
 * Returns the value (NULL for JSON null) with *jerr and *pos: the end of
 * the value, or the offset of the error.
 */
static struct json_object *tokenize(const char *buf, size_t len, enum json_tokener_error *jerr, size_t *pos)
{
	struct json_tokener *tok = new_tokener();
	struct json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);

	*jerr = json_tokener_get_error(tok);
	*pos = json_tokener_get_parse_end(tok);
	if (obj == NULL && *jerr == json_tokener_continue && *pos == len) {
		obj = json_tokener_parse_ex(tok, " ", 1);
		*jerr = json_tokener_get_error(tok);
		if (*jerr == json_tokener_continue)
			*jerr = json_tokener_error_parse_eof;
	}
	json_tokener_free(tok);
	return obj;
}

static const char *kind_name(struct json_object *obj)
{
	switch (json_object_get_type(obj)) {
	case json_type_array:
		return "a JSON array";
	case json_type_string:
		return "a JSON string";
	case json_type_int:
	case json_type_double:
		return "a JSON number";
	case json_type_boolean:
		return "a JSON boolean";
	case json_type_null:
		return "JSON null";
	default:
		return "not a JSON object";
	}
}

static bool bad_text(char *err, size_t errsize, const char *why, size_t offset)
{
	snprintf(err, errsize, "body is not valid JSON: %s at offset %zu", why, offset);
	return false;
}

/* Report what json-c found wrong at pos, or what lex_check finds before it. */
static bool check_failed_parse(const char *buf, size_t len, enum json_tokener_error jerr, size_t pos,
			       char *err, size_t errsize)
{
	const char *why = NULL;
	size_t bad = lex_check(buf, pos, &why);

	if (bad < pos)
		return bad_text(err, errsize, why, bad);
	if (pos < len && buf[pos] == '\0')
		return bad_text(err, errsize, "NUL byte", pos); /* json-c: "unexpected end of data" */
	return bad_text(err, errsize, json_tokener_error_desc(jerr), pos);
}

/* json-c accepted buf[0..end): check it and that only whitespace follows. */
static bool check_parsed(const char *buf, size_t len, size_t end, char *err, size_t errsize)
{
	const char *why = NULL;
	size_t bad = lex_check(buf, end, &why);

	if (bad < end)
		return bad_text(err, errsize, why, bad);
	for (size_t i = end; i < len; i++) {
		if (buf[i] == '\0')
			return bad_text(err, errsize, "NUL byte", i);
		if (!is_json_space((unsigned char)buf[i]))
			return bad_text(err, errsize, "unexpected character", i);
	}
	return true;
}

bool json_parse_object(const char *buf, size_t len, struct json_object **out, char *err, size_t errsize)
{
	enum json_tokener_error jerr;
	struct json_object *obj;
	size_t pos;

	*out = NULL;
	if (len > INT_MAX) {
		snprintf(err, errsize, "body is too large to parse");
		return false;
	}
	if (only_space(buf, len)) {
		snprintf(err, errsize, "body is empty");
		return false;
	}
	obj = tokenize(buf, len, &jerr, &pos);
	if (obj == NULL && jerr != json_tokener_success)
		return check_failed_parse(buf, len, jerr, pos, err, errsize);
	if (!check_parsed(buf, len, pos, err, errsize)) {
		json_object_put(obj);
		return false;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(err, errsize, "body is %s, expected an object", kind_name(obj));
		json_object_put(obj);
		return false;
	}
	*out = obj;
	return true;
}

/*
 * Member counts of the objects of a text that json-c accepted, in the
 * order their "{" appear; -1 when more than max.  json-c keeps one member
 * per name (the last value wins), so a text whose counts differ from the
 * parsed tree's named a member twice somewhere.
 */
static int text_member_counts(const char *buf, size_t len, int *counts, int max)
{
	int stack[JSON_MAX_DEPTH + 1];	/* object index, or -1 for an array */
	int depth = 0, n = 0;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if ((c == '{' || c == '[') && depth <= JSON_MAX_DEPTH) {
			if (c == '{' && n == max)
				return -1;
			if (c == '{')
				counts[n] = 0;
			stack[depth++] = c == '{' ? n++ : -1;
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		} else if (c == ':' && depth > 0 && stack[depth - 1] >= 0) {
			counts[stack[depth - 1]]++;
		}
	}
	return n;
}

/* The same counts from the parsed tree, in document (pre-)order. */
static void tree_member_counts(struct json_object *obj, int *counts, int max, int *n)
{
	if (json_object_is_type(obj, json_type_object)) {
		if (*n < max)
			counts[*n] = json_object_object_length(obj);
		(*n)++;
		json_object_object_foreach(obj, key, val) {
			(void)key;
			tree_member_counts(val, counts, max, n);
		}
	} else if (json_object_is_type(obj, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(obj); i++)
			tree_member_counts(json_object_array_get_idx(obj, i), counts, max, n);
	}
}

static bool members_unique(const char *buf, size_t len, struct json_object *obj)
{
	int max = (int)(len / 2) + 1;
	int *text = xmalloc((size_t)max * sizeof(int)), *tree = xmalloc((size_t)max * sizeof(int));
	int ntext, ntree = 0;
	bool same;

	ntext = text_member_counts(buf, len, text, max);
	tree_member_counts(obj, tree, max, &ntree);
	same = ntext == ntree && ntext >= 0 && memcmp(text, tree, (size_t)ntext * sizeof(int)) == 0;
	free(text);
	free(tree);
	return same;
}

bool json_parse_object_unique(const char *buf, size_t len, struct json_object **out, char *err, size_t errsize)
{
	if (!json_parse_object(buf, len, out, err, errsize))
		return false;
	if (members_unique(buf, len, *out))
		return true;
	json_object_put(*out);
	*out = NULL;
	snprintf(err, errsize, "an object in the body names a member twice");
	return false;
}

const char *json_get_string(struct json_object *obj, const char *key)
{
	struct json_object *val;

	if (!json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &val))
		return NULL;
	if (!json_object_is_type(val, json_type_string))
		return NULL;
	return json_object_get_string(val);
}

static struct json_object *checked(struct json_object *obj, const char *what)
{
	if (obj == NULL)
		fatal("out of memory creating a json %s", what);
	return obj;
}

struct json_object *json_new_object(void)
{
	return checked(json_object_new_object(), "object");
}

struct json_object *json_new_array(void)
{
	return checked(json_object_new_array(), "array");
}

void json_set(struct json_object *obj, const char *key, struct json_object *val)
{
	if (json_object_object_add(obj, key, val) != 0)
		fatal("out of memory setting json member \"%s\"", key);
}

void json_set_string(struct json_object *obj, const char *key, const char *value)
{
	json_set(obj, key, value == NULL ? NULL : checked(json_object_new_string(value), "string"));
}

void json_set_int(struct json_object *obj, const char *key, int64_t value)
{
	json_set(obj, key, checked(json_object_new_int64(value), "number"));
}

void json_append(struct json_object *arr, struct json_object *val)
{
	if (json_object_array_add(arr, val) != 0)
		fatal("out of memory appending to a json array");
}

const char *json_to_text(struct json_object *obj, size_t *len_out)
{
	size_t len;
	const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

	if (s == NULL)
		fatal("out of memory serialising json");
	if (len_out != NULL)
		*len_out = len;
	return s;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t len;

	if (p[0] < 0x80)
		return p[0] ? 1 : 0;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	}
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
	    (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;	/* overlong, surrogate or beyond U+10FFFF */
	return len;
}

struct json_object *json_new_string_lossy(const char *s, size_t len)
{
	char *clean = xmalloc(len + 1);
	size_t o = 0;
	struct json_object *obj;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len((const unsigned char *)s + i, len - i);

		if (n == 0) {
			clean[o++] = '?';
			i++;
			continue;
		}
		memcpy(clean + o, s + i, n);
		o += n;
		i += n;
	}
	clean[o] = '\0';
	obj = json_object_new_string_len(clean, (int)o);
	free(clean);
	if (!obj)
		fatal("out of memory");
	return obj;
}
