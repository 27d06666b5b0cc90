#include "autoconfig.h"

#include "request/validate.h"

#include "infra/alloc.h"
#include "infra/fields.h"
#include "infra/json.h"
#include "infra/log.h"
#include "infra/url.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_error(struct ValidationResult *res, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_error(struct ValidationResult *res, const char *field, const char *fmt, ...)
{
	struct FieldError *fe;
	va_list ap;

	if (res->nerrors >= VALIDATE_MAX_ERRORS)
		return;
	fe = &res->errors[res->nerrors++];
	snprintf(fe->field, sizeof(fe->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(fe->detail, sizeof(fe->detail), fmt, ap);
	va_end(ap);
}

/* Member name of obj as a string (it may hold NUL bytes: mind *len), or
 * NULL after recording why not. */
static const char *get_string_member(struct json_object *obj, const char *name, size_t *len,
				     struct ValidationResult *res)
{
	struct json_object *val;

	if (!json_object_object_get_ex(obj, name, &val)) {
		add_error(res, name, "is required");
		return NULL;
	}
	if (!json_object_is_type(val, json_type_string)) {
		add_error(res, name, "must be a string");
		return NULL;
	}
	*len = (size_t)json_object_get_string_len(val);
	return json_object_get_string(val);
}

static bool check_station_id(struct json_object *obj, struct StartRequest *req, struct ValidationResult *res)
{
	char detail[sizeof(res->errors[0].detail)];
	size_t len;
	const char *s = get_string_member(obj, "station_id", &len, res);

	if (s == NULL)
		return false;
	if (!field_check_station_id(s, len, detail, sizeof(detail))) {
		add_error(res, "station_id", "%s", detail);
		return false;
	}
	for (size_t i = 0; i < len; i++)
		req->station_id[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
	req->station_id[len] = '\0';
	return true;
}

static bool check_driver_token(struct json_object *obj, const char **token, struct ValidationResult *res)
{
	char detail[sizeof(res->errors[0].detail)];
	size_t len;
	const char *s = get_string_member(obj, "driver_token", &len, res);

	if (s == NULL)
		return false;
	if (!field_check_driver_token(s, len, detail, sizeof(detail))) {
		add_error(res, "driver_token", "%s", detail);
		return false;
	}
	*token = s;
	return true;
}

static bool check_callback_url(struct json_object *obj, const char **url, struct ValidationResult *res)
{
	char detail[sizeof(res->errors[0].detail)];
	size_t len;
	const char *s = get_string_member(obj, "callback_url", &len, res);

	if (s == NULL)
		return false;
	if (!url_check_callback(s, len, NULL, detail, sizeof(detail))) {
		add_error(res, "callback_url", "%s", detail);
		return false;
	}
	*url = s;
	return true;
}

bool validate_start_request(const char *body, size_t len, struct StartRequest *out, struct ValidationResult *res)
{
	char detail[sizeof(res->errors[0].detail)];
	struct StartRequest req;
	struct json_object *obj;
	const char *token = NULL, *url = NULL;
	bool ok;

	memset(&req, 0, sizeof(req));
	memset(res, 0, sizeof(*res));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (!json_parse_object(body, len, &obj, detail, sizeof(detail))) {
		add_error(res, "body", "%s", detail);
		return false;
	}
	ok = check_station_id(obj, &req, res);
	ok = check_driver_token(obj, &token, res) && ok;
	ok = check_callback_url(obj, &url, res) && ok;
	if (ok && out != NULL) {
		*out = req;
		out->driver_token = xstrdup(token);
		out->callback_url = xstrdup(url);
	}
	json_object_put(obj);
	return ok;
}

void start_request_free(struct StartRequest *req)
{
	if (req == NULL)
		return;
	free(req->driver_token);
	free(req->callback_url);
	req->driver_token = NULL;
	req->callback_url = NULL;
}

bool validate_idempotency_key(const char *key, char *err, size_t errsize)
{
	return field_check_idempotency_key(key ? key : "", key ? strlen(key) : 0, err, errsize);
}
