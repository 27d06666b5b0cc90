/*
 * chargegate.conf: one table of keys drives parsing, defaults, validation,
 * environment overrides, the sample file and the documentation checks
 * (tests/unit/check_config_docs.sh greps the CF_* lines of the table).
 */
#include "infra/config.h"

#include "infra/alloc.h"
#include "infra/log.h"
#include "infra/url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define MS_SECOND INT64_C(1000)
#define MS_MINUTE (60 * MS_SECOND)
#define MS_HOUR (60 * MS_MINUTE)
#define MS_DAY (24 * MS_HOUR)

#define ENV_PREFIX "CHARGEGATE_"

enum CfType {
	CF_TYPE_STRING,		/* char *, never NULL once loaded */
	CF_TYPE_SECRET,		/* char *, NULL when unset; value never echoed */
	CF_TYPE_INT,		/* int within [min, max] */
	CF_TYPE_BOOL,		/* bool */
	CF_TYPE_DURATION,	/* int64_t milliseconds within [min, max] */
	CF_TYPE_DURATION_LIST,	/* int64_t[] + int count; elements within [min, max] */
	CF_TYPE_STRING_LIST,	/* char *[] + int count; elements checked by check() */
	CF_TYPE_ENUM,		/* char *, one of allowed[] */
	CF_TYPE_URL,		/* char *, NULL when unset; an absolute http(s) URL (url_check_callback) */
};

/*
 * Checks one list element; on success writes its canonical form to canon,
 * otherwise the cause (ending a "invalid X for KEY: " message) to why.
 */
typedef bool (*CfCheck)(const char *elem, char *canon, size_t canonsize, char *reason, size_t reasonsize);

struct CfKey {
	const char *section;
	const char *key;
	enum CfType type;
	const char *deflt;		/* as text; NULL: unset */
	bool reloadable;		/* may change on SIGHUP */
	const char *help;		/* one line */
	size_t offset;			/* the field in struct Config */
	size_t len_offset;		/* lists: the int element count */
	int64_t min, max;		/* ints, durations, duration-list elements */
	int max_items;			/* lists: capacity of the array */
	const char *const *allowed;	/* enums: NULL-terminated */
	CfCheck check;			/* string lists */
	const char *elem_name;		/* string lists: "network" in messages */
};

/* offsetof() that fails to compile when the field has another type. */
#define FIELD(f, T) (offsetof(struct Config, f) + 0 * sizeof(char[_Generic(((struct Config *)0)->f, T: 1)]))
#define CAPACITY(f) ((int)ARRAY_LEN(((struct Config *)0)->f))

#define RELOAD true
#define RESTART false

#define CF_STR(sec, key, def, reload, f, help) \
	{ sec, key, CF_TYPE_STRING, def, reload, help, .offset = FIELD(f, char *) }
#define CF_SECRET(sec, key, reload, f, help) \
	{ sec, key, CF_TYPE_SECRET, NULL, reload, help, .offset = FIELD(f, char *) }
#define CF_INT(sec, key, def, lo, hi, reload, f, help) \
	{ sec, key, CF_TYPE_INT, def, reload, help, .offset = FIELD(f, int), .min = (lo), .max = (hi) }
#define CF_BOOL(sec, key, def, reload, f, help) \
	{ sec, key, CF_TYPE_BOOL, def, reload, help, .offset = FIELD(f, bool) }
#define CF_DUR(sec, key, def, lo, hi, reload, f, help) \
	{ sec, key, CF_TYPE_DURATION, def, reload, help, .offset = FIELD(f, int64_t), \
	  .min = (lo), .max = (hi) }
#define CF_DURLIST(sec, key, def, lo, hi, reload, f, n, help) \
	{ sec, key, CF_TYPE_DURATION_LIST, def, reload, help, .offset = FIELD(f, int64_t *), \
	  .len_offset = FIELD(n, int), .min = (lo), .max = (hi), .max_items = CAPACITY(f) }
#define CF_STRLIST(sec, key, def, chk, what, reload, f, n, help) \
	{ sec, key, CF_TYPE_STRING_LIST, def, reload, help, .offset = FIELD(f, char **), \
	  .len_offset = FIELD(n, int), .max_items = CAPACITY(f), .check = (chk), .elem_name = (what) }
#define CF_URL(sec, key, reload, f, help) \
	{ sec, key, CF_TYPE_URL, NULL, reload, help, .offset = FIELD(f, char *) }
#define CF_ENUM(sec, key, def, values, reload, f, help) \
	{ sec, key, CF_TYPE_ENUM, def, reload, help, .offset = FIELD(f, char *), .allowed = (values) }

static const char *const transport_kinds[] = { "postgres", "kafka", NULL };
static const char *const api_key_modes[] = { "auto", "required", "off", NULL };
static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };
static const char *const log_formats[] = { "text", "json", NULL };

static bool check_cidr(const char *elem, char *canon, size_t canonsize, char *reason, size_t reasonsize);

/* Ordered by section: the sample file and the docs follow this order. */
static const struct CfKey keys[] = {
	CF_STR("database", "url", "", RESTART, database_url,
	       "libpq connection string (key=value pairs or a postgresql:// URI); required by the daemon"),
	CF_INT("database", "pool_size", "4", 1, 64, RESTART, database_pool_size,
	       "PostgreSQL connections of each of the daemon's two pools (the API's, the queue's); one more "
	       "LISTENs"),
	CF_DUR("database", "query_timeout", "5s", 100, MS_HOUR, RESTART, database_query_timeout_ms,
	       "a statement or transaction not done by then is cancelled (the API answers 503); also bounds "
	       "connecting"),

	CF_BOOL("http", "enabled", "true", RESTART, http_enabled,
		"serve the HTTP API; false leaves this daemon to relays and consumers"),
	CF_STR("http", "listen", "127.0.0.1:8080", RESTART, http_listen,
	       "address and port of the HTTP API (host:port, [ipv6]:port)"),
	CF_INT("http", "max_connections", "1024", 1, 1000000, RESTART, http_max_connections,
	       "open HTTP connections, idle ones included; further ones are answered 503 and closed at once"),
	CF_DUR("http", "request_timeout", "10s", 1, MS_HOUR, RESTART, http_request_timeout_ms,
	       "a whole request (headers and body) must arrive within this time, else 408"),
	CF_ENUM("http", "api_keys", "auto", api_key_modes, RESTART, http_api_keys,
		"Authorization: Bearer <key> on /v1: required, off, or auto (required unless http.listen is a "
		"loopback address)"),

	CF_STR("admin", "listen", "127.0.0.1:8090", RESTART, admin_listen,
	       "address and port of the operators' status page (/ui) and /metrics (host:port, [ipv6]:port); "
	       "off or empty: none"),

	CF_INT("ingest", "batch_size", "256", 1, 10000, RESTART, ingest_batch_size,
	       "most accepted requests grouped into one transaction"),
	CF_DUR("ingest", "batch_wait", "0ms", 0, MS_SECOND, RELOAD, ingest_batch_wait_ms,
	       "longest an accepted request waits to be grouped into a transaction"),

	CF_STR("authorization", "url", "", RESTART, authorization_url,
	       "URL of the internal authorization service, called with POST"),
	CF_DUR("authorization", "timeout", "3s", 1, MS_HOUR, RESTART, authorization_timeout_ms,
	       "no answer within this time makes the decision unknown"),
	CF_INT("authorization", "concurrency", "64", 1, 10000, RESTART, authorization_concurrency,
	       "authorization requests in flight at once"),

	CF_DUR("callback", "timeout", "5s", 1, MS_HOUR, RELOAD, callback_timeout_ms,
	       "time allowed for one delivery attempt"),
	CF_DURLIST("callback", "retry_schedule", "1s,5s,15s,30s,60s", 0, 7 * MS_DAY, RELOAD,
		   callback_retry_schedule_ms, callback_retry_schedule_len,
		   "delays before attempts 2, 3, ... (with +/-20% jitter); empty: no retries"),
	CF_SECRET("callback", "signing_secret", RELOAD, callback_signing_secret,
		  "Standard Webhooks signing secret (whsec_...); unset: callbacks are not signed"),
	CF_SECRET("callback", "previous_signing_secret", RELOAD, callback_previous_signing_secret,
		  "during a key rotation, the old secret; its signature is sent alongside"),
	CF_BOOL("callback", "allow_private_networks", "false", RELOAD, callback_allow_private_networks,
		"allow callbacks to loopback, private, link-local and other blocked addresses"),
	CF_STRLIST("callback", "allowed_networks", "", check_cidr, "network", RELOAD,
		   callback_allowed_networks, callback_allowed_networks_len,
		   "subnets (CIDR, IPv4 or IPv6) callbacks may reach although they are blocked"),
	CF_STRLIST("callback", "denied_networks", "", check_cidr, "network", RELOAD,
		   callback_denied_networks, callback_denied_networks_len,
		   "subnets (CIDR, IPv4 or IPv6) callbacks may never reach, whatever else allows them"),
	CF_DUR("callback", "max_retry_after", "5m", 0, MS_DAY, RELOAD, callback_max_retry_after_ms,
	       "cap on the delay a Retry-After header of a 429 or 503 answer may ask for"),
	CF_INT("callback", "concurrency", "64", 1, 10000, RESTART, callback_concurrency,
	       "callback deliveries in flight at once, all destinations together"),
	CF_INT("callback", "per_destination_concurrency", "8", 1, 10000, RELOAD, callback_per_destination_concurrency,
	       "callback deliveries in flight at once to one destination (scheme, host, port)"),
	CF_INT("callback", "circuit_failures", "5", 1, 1000, RELOAD, callback_circuit_failures,
	       "consecutive failed deliveries to a destination that pause it"),
	CF_DUR("callback", "circuit_cooldown", "30s", 1, MS_DAY, RELOAD, callback_circuit_cooldown_ms,
	       "how long a paused destination waits before one probe delivery decides whether it is healthy"),
	CF_URL("callback", "failure_url", RELOAD, callback_failure_url,
	       "operator endpoint (http or https URL) that receives a signed CallbackDeliveryFailed summary when "
	       "a request becomes delivery_failed; unset: none is sent"),

	CF_DUR("queue", "lease", "30s", 1, MS_DAY, RESTART, queue_lease_ms,
	       "how long a claimed message stays with its consumer before another daemon may take it"),
	CF_DUR("queue", "poll_interval", "1s", 1, MS_HOUR, RESTART, queue_poll_interval_ms,
	       "fallback poll when no notification arrives"),
	CF_INT("queue", "max_attempts", "10", 1, 1000000, RESTART, queue_max_attempts,
	       "handler failures before a message becomes a dead letter"),
	CF_DUR("queue", "retention", "24h", 0, 3650 * MS_DAY, RESTART, queue_retention_ms,
	       "how long published outbox rows, topic messages and handled event ids are kept once done"),
	CF_BOOL("queue", "listen", "true", RESTART, queue_listen,
		"wake up on LISTEN/NOTIFY; false polls only (for PgBouncer transaction pooling)"),
	CF_INT("queue", "batch_size", "100", 1, 10000, RESTART, queue_batch_size,
	       "most messages claimed, published or acknowledged in one batch"),

	CF_BOOL("relay", "enabled", "true", RESTART, relay_enabled,
		"run the outbox relays in this daemon"),

	CF_BOOL("consumers", "enabled", "true", RESTART, consumers_enabled,
		"run the consumers (authorization worker, callback delivery) in this daemon"),

	CF_DUR("request", "retention", "30d", 0, 3650 * MS_DAY, RESTART, request_retention_ms,
	       "finished requests (delivered, delivery_failed) unchanged this long are deleted with their audit "
	       "rows, delivery attempts and idempotency keys; 0 keeps them"),
	CF_BOOL("retention", "enabled", "true", RESTART, retention_enabled,
		"this daemon applies queue.retention and request.retention (one daemon at a time does the "
		"requests)"),

	CF_ENUM("transport", "kind", "postgres", transport_kinds, RESTART, transport_kind,
		"message transport: postgres, or kafka when built with --enable-kafka"),

	CF_STR("kafka", "bootstrap_servers", "", RESTART, kafka_bootstrap_servers,
	       "Kafka brokers as host:port[,host:port...] (transport.kind = kafka)"),
	CF_STR("kafka", "topic_prefix", "chargegate.", RESTART, kafka_topic_prefix,
	       "prefix of the Kafka topic names"),

	CF_ENUM("log", "level", "info", log_levels, RELOAD, log_level,
		"least severe messages logged: error, warning, info or debug"),
	CF_ENUM("log", "format", "text", log_formats, RELOAD, log_format,
		"text for people, json for one JSON object per line"),
};

#define NKEYS ARRAY_LEN(keys)

/*
 * Names starting with CHARGEGATE_ that are not configuration keys although
 * their second word is a section name.  (Names whose second word is not a
 * section, e.g. CHARGEGATE_TEST_X, are ignored anyway.)
 */
static const char *const env_not_config[] = { "CHARGEGATE_KAFKA_MODULE", NULL };

/*
 * A dynamic family of keys: "property.NAME = VALUE" in [kafka] passes NAME
 * to librdkafka (checked by the Kafka module at start, with librdkafka's
 * own message); CHARGEGATE_KAFKA_PROPERTY_NAME sets it too, with the
 * underscores of NAME read as dots (security_protocol: security.protocol).
 */
#define KAFKA_PROPERTY_SECTION "kafka"
#define KAFKA_PROPERTY_PREFIX "property."
#define KAFKA_PROPERTY_ENV ENV_PREFIX "KAFKA_PROPERTY_"

/* --- error text ------------------------------------------------------------ */

struct Why {
	char msg[512];
};

static bool why(struct Why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record the reason in w and return false, so callers can "return why(...)". */
static bool why(struct Why *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	return false;
}

/* Untrusted text, made printable and short, for an error message. */
static const char *shown(char *buf, size_t bufsize, const char *text)
{
	return log_sanitize(buf, bufsize, text, strlen(text));
}

static void format_ms(int64_t ms, char *buf, size_t bufsize)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = { { "d", MS_DAY }, { "h", MS_HOUR }, { "m", MS_MINUTE }, { "s", MS_SECOND } };

	for (size_t i = 0; i < ARRAY_LEN(units); i++) {
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(buf, bufsize, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
			return;
		}
	}
	snprintf(buf, bufsize, "%" PRId64 "ms", ms);
}

/* --- small helpers ----------------------------------------------------------- */

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

static void *field_ptr(struct Config *cfg, size_t offset)
{
	return (char *)cfg + offset;
}

static const void *field_cptr(const struct Config *cfg, size_t offset)
{
	return (const char *)cfg + offset;
}

static void key_name(const struct CfKey *k, char *buf, size_t bufsize)
{
	snprintf(buf, bufsize, "%s.%s", k->section, k->key);
}

static const struct CfKey *find_key(const char *section, const char *key)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
			return &keys[i];
	}
	return NULL;
}

/* The table's spelling of a section, or NULL when there is no such section. */
static const char *find_section(const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strlen(keys[i].section) == len && strncmp(keys[i].section, name, len) == 0)
			return keys[i].section;
	}
	return NULL;
}

/* --- scalar parsers ---------------------------------------------------------- */

enum DurParse { DUR_OK, DUR_SYNTAX, DUR_NEGATIVE, DUR_OVERFLOW };

static enum DurParse parse_duration(const char *s, int64_t *out_ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = { { "ms", 1 }, { "s", MS_SECOND }, { "m", MS_MINUTE }, { "h", MS_HOUR }, { "d", MS_DAY } };
	int64_t n = 0;
	bool overflow = false;
	const char *p = s;

	if (*p == '-')
		return DUR_NEGATIVE;
	if (!isdigit((unsigned char)*p))
		return DUR_SYNTAX;
	for (; isdigit((unsigned char)*p); p++) {
		int digit = *p - '0';

		if (n > (INT64_MAX - digit) / 10)
			overflow = true;
		else
			n = n * 10 + digit;
	}
	/* zero needs no unit: "request.retention = 0" keeps requests (DESIGN §6) */
	if (*p == '\0' && n == 0 && !overflow && p > s) {
		*out_ms = 0;
		return DUR_OK;
	}
	for (size_t i = 0; i < ARRAY_LEN(units); i++) {
		if (strcmp(p, units[i].unit) != 0)
			continue;
		if (overflow || n > INT64_MAX / units[i].ms)
			return DUR_OVERFLOW;
		*out_ms = n * units[i].ms;
		return DUR_OK;
	}
	return DUR_SYNTAX;
}

bool config_parse_duration(const char *s, int64_t *out_ms)
{
	return parse_duration(s, out_ms) == DUR_OK;
}

bool config_parse_bool(const char *s, bool *out)
{
	static const char *const truths[] = { "true", "on", "yes", "1" };
	static const char *const lies[] = { "false", "off", "no", "0" };

	for (size_t i = 0; i < ARRAY_LEN(truths); i++) {
		if (strcasecmp(s, truths[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, lies[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* A duration within the key's range, or false with the reason in w. */
static bool duration_value(const struct CfKey *k, const char *s, int64_t *out, struct Why *w)
{
	char name[96], val[96], lo[32], hi[32];
	enum DurParse r = parse_duration(s, out);

	if (r == DUR_OK && *out >= k->min && *out <= k->max)
		return true;
	key_name(k, name, sizeof(name));
	shown(val, sizeof(val), s);
	if (r == DUR_SYNTAX)
		return why(w, "invalid duration \"%s\" for %s: expected a number with unit ms, s, m, h or d",
			   val, name);
	if (r == DUR_NEGATIVE)
		return why(w, "invalid duration \"%s\" for %s: must not be negative", val, name);
	format_ms(k->min, lo, sizeof(lo));
	format_ms(k->max, hi, sizeof(hi));
	return why(w, "invalid duration \"%s\" for %s: must be between %s and %s", val, name, lo, hi);
}

/* --- CIDR subnets -------------------------------------------------------------- */

static bool parse_prefix_len(const char *s, int bits, int *out)
{
	int n = 0;

	if (!*s || strlen(s) > 3)
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return false;
		n = n * 10 + (*s - '0');
	}
	if (n > bits)
		return false;
	*out = n;
	return true;
}

/* Clear the bits after the prefix; true when some were set. */
static bool mask_host_bits(unsigned char *addr, int bits, int prefix)
{
	bool had = false;

	for (int i = prefix; i < bits; i++) {
		unsigned char bit = (unsigned char)(0x80u >> (i % 8));

		if (addr[i / 8] & bit) {
			had = true;
			addr[i / 8] &= (unsigned char)~bit;
		}
	}
	return had;
}

static bool check_cidr(const char *elem, char *canon, size_t canonsize, char *reason, size_t reasonsize)
{
	char host[INET6_ADDRSTRLEN + 1], text[INET6_ADDRSTRLEN];
	unsigned char addr[16];
	const char *slash = strchr(elem, '/');
	size_t hostlen = slash ? (size_t)(slash - elem) : strlen(elem);
	int af = AF_INET, bits = 32, prefix;

	if (hostlen >= sizeof(host))
		hostlen = sizeof(host) - 1;
	memcpy(host, elem, hostlen);
	host[hostlen] = '\0';
	if (inet_pton(AF_INET, host, addr) != 1) {
		af = AF_INET6;
		bits = 128;
		if (inet_pton(AF_INET6, host, addr) != 1) {
			snprintf(reason, reasonsize, "expected an IPv4 or IPv6 subnet such as 192.168.0.0/16 or fd00::/8");
			return false;
		}
	}
	prefix = bits;
	if (slash && !parse_prefix_len(slash + 1, bits, &prefix)) {
		snprintf(reason, reasonsize, "prefix length must be a number between 0 and %d", bits);
		return false;
	}
	if (mask_host_bits(addr, bits, prefix)) {
		inet_ntop(af, addr, text, sizeof(text));
		snprintf(reason, reasonsize, "address has bits set after the /%d prefix (did you mean %s/%d?)",
			 prefix, text, prefix);
		return false;
	}
	inet_ntop(af, addr, text, sizeof(text));
	snprintf(canon, canonsize, "%s/%d", text, prefix);
	return true;
}

/* --- setting one key ------------------------------------------------------------ */

static void replace_string(char **slot, const char *value)
{
	char *copy = value ? xstrdup(value) : NULL;

	free(*slot);
	*slot = copy;
}

static bool set_string(struct Config *cfg, const struct CfKey *k, const char *value, struct Why *w)
{
	(void)w;
	replace_string(field_ptr(cfg, k->offset), value);
	return true;
}

/* An empty secret means "unset". */
static bool set_secret(struct Config *cfg, const struct CfKey *k, const char *value, struct Why *w)
{
	(void)w;
	replace_string(field_ptr(cfg, k->offset), *value ? value : NULL);
	return true;
}

/* An empty URL means "unset"; any other must be one a callback could have (DESIGN §3). */
static bool set_url(struct Config *cfg, const struct CfKey *k, const char *value, struct Why *w)
{
	char reason[256], name[96], val[96];

	if (*value && !url_check_callback(value, strlen(value), NULL, reason, sizeof(reason))) {
		key_name(k, name, sizeof(name));
		return why(w, "invalid URL \"%s\" for %s: %s", shown(val, sizeof(val), value), name, reason);
	}
	replace_string(field_ptr(cfg, k->offset), *value ? value : NULL);
	return true;
}

static bool set_int(struct Config *cfg, const struct CfKey *k, const char *value, struct Why *w)
{
	char name[96], val[96];
	char *end;
	long long n;

	errno = 0;
	n = strtoll(value, &end, 10);
	if (end != value && *end == '\0' && errno == 0 && n >= k->min && n <= k->max) {
		*(int *)field_ptr(cfg, k->offset) = (int)n;
		return true;
	}
	key_name(k, name, sizeof(name));
	shown(val, sizeof(val), value);
	if (end == value || *end != '\0' || isspace((unsigned char)*value))
		return why(w, "invalid integer \"%s\" for %s: expected a whole number", val, name);
	return why(w, "invalid integer \"%s\" for %s: must be between %" PRId64 " and %" PRId64,
		   val, name, k->min, k->max);
}

static bool set_bool(struct Config *cfg, const struct CfKey *k, const char *value, struct Why *w)
{
	char name[96], val[96];

	if (config_parse_bool(value, field_ptr(cfg, k->offset)))
		return true;
	key_name(k, name, sizeof(name));
	return why(w, "invalid boolean \"%s\" for %s: expected true, false, on, off, yes, no, 1 or 0",
		   shown(val, sizeof(val), value), name);
}

static bool set_duration(struct Config *cfg, const struct CfKey *k, const char *value, struct Why *w)
{
	int64_t ms;

	if (!duration_value(k, value, &ms, w))
		return false;
	*(int64_t *)field_ptr(cfg, k->offset) = ms;
	return true;
}

static bool set_enum(struct Config *cfg, const struct CfKey *k, const char *value, struct Why *w)
{
	char name[96], val[96], choices[256] = "";

	for (const char *const *a = k->allowed; *a; a++) {
		if (strcasecmp(value, *a) == 0) {
			replace_string(field_ptr(cfg, k->offset), *a);
			return true;
		}
	}
	for (const char *const *a = k->allowed; *a; a++) {
		strncat(choices, a == k->allowed ? "" : ", ", sizeof(choices) - strlen(choices) - 1);
		strncat(choices, *a, sizeof(choices) - strlen(choices) - 1);
	}
	key_name(k, name, sizeof(name));
	return why(w, "invalid value \"%s\" for %s: expected one of %s",
		   shown(val, sizeof(val), value), name, choices);
}

/*
 * Split a comma-separated list in place into at most max trimmed,
 * non-empty elements.  Returns the count, or -1 with the reason in w.
 */
static int split_list(const struct CfKey *k, char *s, char **elems, int max, struct Why *w)
{
	char name[96], val[96];
	int n = 0;

	key_name(k, name, sizeof(name));
	shown(val, sizeof(val), s);
	if (*trim(s) == '\0')
		return 0;
	for (char *next = s; next; n++) {
		char *elem = next;

		next = strchr(next, ',');
		if (next)
			*next++ = '\0';
		if (n == max) {
			why(w, "invalid list \"%s\" for %s: more than %d elements", val, name, max);
			return -1;
		}
		elems[n] = trim(elem);
		if (*elems[n] == '\0') {
			why(w, "invalid list \"%s\" for %s: element %d is empty", val, name, n + 1);
			return -1;
		}
	}
	return n;
}

static bool set_duration_list(struct Config *cfg, const struct CfKey *k, const char *value, struct Why *w)
{
	int64_t ms[CONFIG_MAX_SCHEDULE > CONFIG_MAX_NETWORKS ? CONFIG_MAX_SCHEDULE : CONFIG_MAX_NETWORKS];
	char *elems[ARRAY_LEN(ms)];
	char *copy = xstrdup(value);
	int max = k->max_items < (int)ARRAY_LEN(ms) ? k->max_items : (int)ARRAY_LEN(ms);
	int n = split_list(k, copy, elems, max, w);
	bool ok = n >= 0;

	for (int i = 0; ok && i < n; i++)
		ok = duration_value(k, elems[i], &ms[i], w);
	if (ok) {
		memcpy(field_ptr(cfg, k->offset), ms, (size_t)n * sizeof(ms[0]));
		*(int *)field_ptr(cfg, k->len_offset) = n;
	}
	free(copy);
	return ok;
}

static void free_string_list(char **list, int *len)
{
	for (int i = 0; i < *len; i++) {
		free(list[i]);
		list[i] = NULL;
	}
	*len = 0;
}

/* One element of a string list, checked and made canonical, in *out. */
static bool list_element(const struct CfKey *k, const char *elem, char **out, struct Why *w)
{
	char canon[64], reason[256], name[96], val[96];

	if (!k->check) {
		*out = xstrdup(elem);
		return true;
	}
	if (k->check(elem, canon, sizeof(canon), reason, sizeof(reason))) {
		*out = xstrdup(canon);
		return true;
	}
	key_name(k, name, sizeof(name));
	return why(w, "invalid %s \"%s\" for %s: %s", k->elem_name ? k->elem_name : "element",
		   shown(val, sizeof(val), elem), name, reason);
}

static bool set_string_list(struct Config *cfg, const struct CfKey *k, const char *value, struct Why *w)
{
	char *elems[CONFIG_MAX_SCHEDULE > CONFIG_MAX_NETWORKS ? CONFIG_MAX_SCHEDULE : CONFIG_MAX_NETWORKS];
	char *fresh[ARRAY_LEN(elems)];
	char *copy = xstrdup(value);
	int max = k->max_items < (int)ARRAY_LEN(elems) ? k->max_items : (int)ARRAY_LEN(elems);
	int n = split_list(k, copy, elems, max, w);
	int done = 0;
	bool ok = n >= 0;
	char **list = field_ptr(cfg, k->offset);
	int *len = field_ptr(cfg, k->len_offset);

	while (ok && done < n && (ok = list_element(k, elems[done], &fresh[done], w)))
		done++;
	if (ok) {
		free_string_list(list, len);
		memcpy(list, fresh, (size_t)n * sizeof(fresh[0]));
		*len = n;
	} else {
		free_string_list(fresh, &done);
	}
	free(copy);
	return ok;
}

static bool set_value(struct Config *cfg, const struct CfKey *k, const char *value, struct Why *w)
{
	switch (k->type) {
	case CF_TYPE_STRING:
		return set_string(cfg, k, value, w);
	case CF_TYPE_SECRET:
		return set_secret(cfg, k, value, w);
	case CF_TYPE_INT:
		return set_int(cfg, k, value, w);
	case CF_TYPE_BOOL:
		return set_bool(cfg, k, value, w);
	case CF_TYPE_DURATION:
		return set_duration(cfg, k, value, w);
	case CF_TYPE_DURATION_LIST:
		return set_duration_list(cfg, k, value, w);
	case CF_TYPE_STRING_LIST:
		return set_string_list(cfg, k, value, w);
	case CF_TYPE_ENUM:
		return set_enum(cfg, k, value, w);
	case CF_TYPE_URL:
		return set_url(cfg, k, value, w);
	}
	return why(w, "internal error: key %s.%s has an unknown type", k->section, k->key);
}

/* --- kafka.property.NAME ------------------------------------------------------------ */

static bool kafka_property_name_ok(const char *name)
{
	if (!*name)
		return false;
	for (const char *c = name; *c; c++) {
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-')
			return false;
	}
	return true;
}

static int kafka_property_index(const struct Config *cfg, const char *name)
{
	for (int i = 0; i < cfg->kafka_properties_len; i++) {
		if (strcmp(cfg->kafka_property_names[i], name) == 0)
			return i;
	}
	return -1;
}

/* Set (or, with replace, overwrite) one property; false with the reason in w. */
static bool set_kafka_property(struct Config *cfg, const char *name, const char *value, bool replace,
			       struct Why *w)
{
	char val[96];
	int i = kafka_property_index(cfg, name);

	if (!kafka_property_name_ok(name))
		return why(w, "invalid librdkafka property name \"%s\" in kafka.property.NAME",
			   shown(val, sizeof(val), name));
	if (i >= 0 && !replace)
		return why(w, "duplicate key \"property.%s\" in section [kafka]", name);
	if (i < 0 && cfg->kafka_properties_len == CONFIG_MAX_KAFKA_PROPERTIES)
		return why(w, "more than %d kafka.property.* keys", CONFIG_MAX_KAFKA_PROPERTIES);
	if (i < 0) {
		i = cfg->kafka_properties_len++;
		cfg->kafka_property_names[i] = xstrdup(name);
		cfg->kafka_property_values[i] = NULL;
	}
	replace_string(&cfg->kafka_property_values[i], value);
	return true;
}

static void free_kafka_properties(struct Config *cfg)
{
	for (int i = 0; i < cfg->kafka_properties_len; i++) {
		free(cfg->kafka_property_names[i]);
		free(cfg->kafka_property_values[i]);
		cfg->kafka_property_names[i] = cfg->kafka_property_values[i] = NULL;
	}
	cfg->kafka_properties_len = 0;
}

static bool kafka_properties_eq(const struct Config *a, const struct Config *b)
{
	if (a->kafka_properties_len != b->kafka_properties_len)
		return false;
	for (int i = 0; i < a->kafka_properties_len; i++) {
		int j = kafka_property_index(b, a->kafka_property_names[i]);

		if (j < 0 || strcmp(a->kafka_property_values[i], b->kafka_property_values[j]) != 0)
			return false;
	}
	return true;
}

/* --- defaults and freeing ----------------------------------------------------------- */

void config_defaults(struct Config *cfg)
{
	struct Why w;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].deflt && !set_value(cfg, &keys[i], keys[i].deflt, &w))
			fatal("config: built-in default of %s.%s is invalid: %s",
			      keys[i].section, keys[i].key, w.msg);
	}
}

void config_free(struct Config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct CfKey *k = &keys[i];

		switch (k->type) {
		case CF_TYPE_STRING:
		case CF_TYPE_SECRET:
		case CF_TYPE_ENUM:
		case CF_TYPE_URL:
			replace_string(field_ptr(cfg, k->offset), NULL);
			break;
		case CF_TYPE_STRING_LIST:
			free_string_list(field_ptr(cfg, k->offset), field_ptr(cfg, k->len_offset));
			break;
		case CF_TYPE_DURATION_LIST:
			*(int *)field_ptr(cfg, k->len_offset) = 0;
			break;
		default:
			break;
		}
	}
	free_kafka_properties(cfg);
}

/* --- the INI file ------------------------------------------------------------------ */

struct Parser {
	struct Config *cfg;
	const char *path;
	int lineno;
	const char *section;	/* the table's spelling; NULL before the first header */
	int seen[NKEYS];	/* line that set each key, 0: not yet */
	struct Why why;
};

static bool parse_section(struct Parser *p, char *s)
{
	char val[96];
	size_t len = strlen(s);
	char *name;

	if (len < 2 || s[len - 1] != ']')
		return why(&p->why, "malformed section header \"%s\": expected \"[name]\"",
			   shown(val, sizeof(val), s));
	s[len - 1] = '\0';
	name = trim(s + 1);
	p->section = find_section(name, strlen(name));
	if (!p->section)
		return why(&p->why, "unknown section [%s]", shown(val, sizeof(val), name));
	return true;
}

/* Strip one pair of double quotes around the value; no escapes. */
static bool unquote(struct Parser *p, char **value)
{
	size_t len = strlen(*value);

	if (**value != '"')
		return true;
	if (len < 2 || (*value)[len - 1] != '"')
		return why(&p->why, "unterminated quoted value");
	(*value)[len - 1] = '\0';
	(*value)++;
	return true;
}

static bool parse_assignment(struct Parser *p, char *s)
{
	char val[96];
	char *eq = strchr(s, '=');
	char *key, *value;
	const struct CfKey *k;

	/* only its first word: the rest may be a secret written as "signing_secret: whsec_..." */
	if (!eq)
		return why(&p->why, "malformed line \"%s%s\": expected \"key = value\" or \"[section]\"",
			   log_sanitize(val, sizeof(val), s, strcspn(s, " \t:")), s[strcspn(s, " \t:")] ? " ..." : "");
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	if (*key == '\0')
		return why(&p->why, "malformed line: missing key before \"=\"");
	if (!p->section)
		return why(&p->why, "key \"%s\" outside of any section", shown(val, sizeof(val), key));
	k = find_key(p->section, key);
	if (!k && strcmp(p->section, KAFKA_PROPERTY_SECTION) == 0 &&
	    strncmp(key, KAFKA_PROPERTY_PREFIX, strlen(KAFKA_PROPERTY_PREFIX)) == 0)
		return unquote(p, &value) &&
		       set_kafka_property(p->cfg, key + strlen(KAFKA_PROPERTY_PREFIX), value, false, &p->why);
	if (!k)
		return why(&p->why, "unknown key \"%s\" in section [%s]", shown(val, sizeof(val), key), p->section);
	if (p->seen[k - keys])
		return why(&p->why, "duplicate key \"%s\" in section [%s]: already set on line %d",
			   key, p->section, p->seen[k - keys]);
	p->seen[k - keys] = p->lineno;
	return unquote(p, &value) && set_value(p->cfg, k, value, &p->why);
}

static bool parse_line(struct Parser *p, char *line, size_t len)
{
	char *s;

	if (strlen(line) != len)
		return why(&p->why, "line contains a NUL byte");
	if (p->lineno == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
		line += 3;	/* UTF-8 byte order mark */
	s = trim(line);
	if (*s == '\0' || *s == '#' || *s == ';')
		return true;
	if (*s == '[')
		return parse_section(p, s);
	return parse_assignment(p, s);
}

static bool read_lines(struct Parser *p, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	bool ok = true;

	while (ok && (len = getline(&line, &cap, f)) >= 0) {
		p->lineno++;
		ok = parse_line(p, line, (size_t)len);
	}
	if (ok && ferror(f)) {
		p->lineno = 0;
		why(&p->why, "could not read config file \"%s\": %s", p->path, strerror(errno));
		ok = false;
	}
	free(line);
	return ok;
}

static bool load_file(struct Config *cfg, const char *path, char *err, size_t errsize)
{
	struct Parser *p;
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f) {
		snprintf(err, errsize, "could not open config file \"%s\": %s", path, strerror(errno));
		return false;
	}
	p = xcalloc(1, sizeof(*p));
	p->cfg = cfg;
	p->path = path;
	ok = read_lines(p, f);
	if (!ok && p->lineno > 0)
		snprintf(err, errsize, "%s:%d: %s", path, p->lineno, p->why.msg);
	else if (!ok)
		snprintf(err, errsize, "%s", p->why.msg);
	fclose(f);
	free(p);
	return ok;
}

/* --- the environment -------------------------------------------------------------- */

/* Does lower (a table name) upper-cased equal the len bytes at upper? */
static bool upper_eq(const char *lower, const char *upper, size_t len)
{
	if (strlen(lower) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (toupper((unsigned char)lower[i]) != upper[i])
			return false;
	}
	return true;
}

static bool env_ignored(const char *name, size_t len)
{
	for (const char *const *n = env_not_config; *n; n++) {
		if (strlen(*n) == len && strncmp(*n, name, len) == 0)
			return true;
	}
	return false;
}

/*
 * The key a CHARGEGATE_SECTION_KEY name (len bytes) sets.  Returns false
 * when the name is not configuration (no such section); *k is NULL when
 * the section exists but the key does not.
 */
static bool env_key(const char *name, size_t len, const struct CfKey **k)
{
	const char *rest = name + strlen(ENV_PREFIX);
	size_t restlen = len - strlen(ENV_PREFIX);
	bool section_found = false;

	*k = NULL;
	for (size_t i = 0; i < NKEYS; i++) {
		size_t slen = strlen(keys[i].section);

		if (restlen <= slen || rest[slen] != '_' || !upper_eq(keys[i].section, rest, slen))
			continue;
		section_found = true;
		if (upper_eq(keys[i].key, rest + slen + 1, restlen - slen - 1)) {
			*k = &keys[i];
			break;
		}
	}
	return section_found;
}

/* CHARGEGATE_KAFKA_PROPERTY_SECURITY_PROTOCOL=x sets kafka.property.security.protocol. */
static bool apply_env_kafka_property(struct Config *cfg, const char *entry, size_t len, char *err, size_t errsize)
{
	size_t plen = strlen(KAFKA_PROPERTY_ENV);
	char *name = xstrdup(entry + plen), *value = xstrdup(entry + len + 1);
	struct Why w;
	bool ok;

	name[len - plen] = '\0';
	for (char *c = name; *c; c++)
		*c = *c == '_' ? '.' : (char)tolower((unsigned char)*c);
	ok = set_kafka_property(cfg, name, trim(value), true, &w);
	if (!ok)
		snprintf(err, errsize, "environment variable %.*s: %s", (int)len, entry, w.msg);
	free(name);
	free(value);
	return ok;
}

static bool apply_env(struct Config *cfg, const char *entry, char *err, size_t errsize)
{
	const char *eq = strchr(entry, '=');
	size_t len = eq ? (size_t)(eq - entry) : 0;
	const struct CfKey *k;
	struct Why w;
	char *value;
	bool ok;

	if (!eq || strncmp(entry, ENV_PREFIX, strlen(ENV_PREFIX)) != 0 || env_ignored(entry, len))
		return true;
	if (len > strlen(KAFKA_PROPERTY_ENV) && strncmp(entry, KAFKA_PROPERTY_ENV, strlen(KAFKA_PROPERTY_ENV)) == 0)
		return apply_env_kafka_property(cfg, entry, len, err, errsize);
	if (!env_key(entry, len, &k))
		return true;
	if (!k) {
		snprintf(err, errsize, "environment variable %.*s: unknown configuration key", (int)len, entry);
		return false;
	}
	value = xstrdup(eq + 1);
	ok = set_value(cfg, k, trim(value), &w);
	free(value);
	if (!ok)
		snprintf(err, errsize, "environment variable %.*s: %s", (int)len, entry, w.msg);
	return ok;
}

static bool load_env(struct Config *cfg, char *const *envp, char *err, size_t errsize)
{
	for (; *envp; envp++) {
		if (!apply_env(cfg, *envp, err, errsize))
			return false;
	}
	return true;
}

/* The key an applied variable sets, into buf; false for a variable config_load ignores. */
static bool env_entry_key(const char *entry, char *buf, size_t bufsize)
{
	const char *eq = strchr(entry, '=');
	size_t len = eq ? (size_t)(eq - entry) : 0, plen = strlen(KAFKA_PROPERTY_ENV);
	const struct CfKey *k;

	if (!eq || strncmp(entry, ENV_PREFIX, strlen(ENV_PREFIX)) != 0 || env_ignored(entry, len))
		return false;
	if (len > plen && strncmp(entry, KAFKA_PROPERTY_ENV, plen) == 0) {
		/* read as apply_env_kafka_property reads it */
		const char *prefix = KAFKA_PROPERTY_SECTION "." KAFKA_PROPERTY_PREFIX;

		snprintf(buf, bufsize, "%s%.*s", prefix, (int)(len - plen), entry + plen);
		for (char *c = buf + strlen(prefix); c < buf + bufsize && *c; c++)
			*c = *c == '_' ? '.' : (char)tolower((unsigned char)*c);
		return true;
	}
	if (!env_key(entry, len, &k) || !k)
		return false;
	snprintf(buf, bufsize, "%s.%s", k->section, k->key);
	return true;
}

void config_for_each_env_key(char *const *envp, void (*cb)(const char *key, const char *var, size_t varlen, void *arg),
			     void *arg)
{
	char key[256];

	for (; envp && *envp; envp++) {
		if (env_entry_key(*envp, key, sizeof(key)))
			cb(key, *envp, (size_t)(strchr(*envp, '=') - *envp), arg);
	}
}

bool config_admin_enabled(const struct Config *cfg)
{
	return cfg->admin_listen && *cfg->admin_listen && strcmp(cfg->admin_listen, "off") != 0;
}

bool config_load(struct Config *cfg, const char *path, char *const *envp, char *err, size_t errsize)
{
	char scratch[1];

	if (!err || errsize == 0) {
		err = scratch;
		errsize = sizeof(scratch);
	}
	err[0] = '\0';
	config_defaults(cfg);
	if ((path && !load_file(cfg, path, err, errsize)) || (envp && !load_env(cfg, envp, err, errsize))) {
		config_free(cfg);
		config_defaults(cfg);
		return false;
	}
	return true;
}

/* --- reload ------------------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool string_lists_eq(const struct CfKey *k, const struct Config *a, const struct Config *b)
{
	char *const *la = field_cptr(a, k->offset);
	char *const *lb = field_cptr(b, k->offset);
	int n = *(const int *)field_cptr(a, k->len_offset);

	if (n != *(const int *)field_cptr(b, k->len_offset))
		return false;
	for (int i = 0; i < n; i++) {
		if (!str_eq(la[i], lb[i]))
			return false;
	}
	return true;
}

static bool duration_lists_eq(const struct CfKey *k, const struct Config *a, const struct Config *b)
{
	int n = *(const int *)field_cptr(a, k->len_offset);

	return n == *(const int *)field_cptr(b, k->len_offset) &&
	       memcmp(field_cptr(a, k->offset), field_cptr(b, k->offset), (size_t)n * sizeof(int64_t)) == 0;
}

static bool values_eq(const struct CfKey *k, const struct Config *a, const struct Config *b)
{
	const void *fa = field_cptr(a, k->offset), *fb = field_cptr(b, k->offset);

	switch (k->type) {
	case CF_TYPE_STRING:
	case CF_TYPE_SECRET:
	case CF_TYPE_ENUM:
	case CF_TYPE_URL:
		return str_eq(*(char *const *)fa, *(char *const *)fb);
	case CF_TYPE_INT:
		return *(const int *)fa == *(const int *)fb;
	case CF_TYPE_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case CF_TYPE_DURATION:
		return *(const int64_t *)fa == *(const int64_t *)fb;
	case CF_TYPE_DURATION_LIST:
		return duration_lists_eq(k, a, b);
	case CF_TYPE_STRING_LIST:
		return string_lists_eq(k, a, b);
	}
	return false;
}

bool config_reload_allowed(const struct Config *old, const struct Config *next, char *err, size_t errsize)
{
	if (!kafka_properties_eq(old, next)) {
		if (err && errsize)
			snprintf(err, errsize, "kafka.property.* cannot be changed by a reload: it needs a restart");
		return false;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].reloadable || values_eq(&keys[i], old, next))
			continue;
		if (err && errsize)
			snprintf(err, errsize, "%s.%s cannot be changed by a reload: it needs a restart",
				 keys[i].section, keys[i].key);
		return false;
	}
	return true;
}

/* --- introspection -------------------------------------------------------------------- */

bool config_key_exists(const char *section_dot_key)
{
	const char *dot = strchr(section_dot_key, '.');
	const char *section;

	if (!dot)
		return false;
	section = find_section(section_dot_key, (size_t)(dot - section_dot_key));
	return section && find_key(section, dot + 1) != NULL;
}

void config_for_each_key(void (*cb)(const char *section, const char *key, const char *deflt,
				    const char *help, void *arg),
			 void *arg)
{
	for (size_t i = 0; i < NKEYS; i++)
		cb(keys[i].section, keys[i].key, keys[i].deflt, keys[i].help, arg);
}

static void describe_range(const struct CfKey *k, const char *what, char *buf, size_t bufsize)
{
	char lo[32], hi[32];

	format_ms(k->min, lo, sizeof(lo));
	format_ms(k->max, hi, sizeof(hi));
	snprintf(buf, bufsize, "%s %s..%s", what, lo, hi);
}

static void describe_type(const struct CfKey *k, char *buf, size_t bufsize)
{
	switch (k->type) {
	case CF_TYPE_STRING:
		snprintf(buf, bufsize, "string");
		break;
	case CF_TYPE_SECRET:
		snprintf(buf, bufsize, "secret string, unset by default");
		break;
	case CF_TYPE_URL:
		snprintf(buf, bufsize, "http or https URL, unset by default");
		break;
	case CF_TYPE_INT:
		snprintf(buf, bufsize, "integer %" PRId64 "..%" PRId64, k->min, k->max);
		break;
	case CF_TYPE_BOOL:
		snprintf(buf, bufsize, "boolean");
		break;
	case CF_TYPE_DURATION:
		describe_range(k, "duration", buf, bufsize);
		break;
	case CF_TYPE_DURATION_LIST:
		describe_range(k, "list of durations", buf, bufsize);
		snprintf(buf + strlen(buf), bufsize - strlen(buf), ", at most %d", k->max_items);
		break;
	case CF_TYPE_STRING_LIST:
		snprintf(buf, bufsize, "list of %ss, at most %d", k->elem_name ? k->elem_name : "string",
			 k->max_items);
		break;
	case CF_TYPE_ENUM:
		snprintf(buf, bufsize, "one of");
		for (const char *const *a = k->allowed; *a; a++)
			snprintf(buf + strlen(buf), bufsize - strlen(buf), "%s %s", a == k->allowed ? "" : ",", *a);
		break;
	}
}

static void print_key(FILE *out, const struct CfKey *k)
{
	char type[160];

	describe_type(k, type, sizeof(type));
	fprintf(out, "\n# %s\n# (%s; %s)\n", k->help, type,
		k->reloadable ? "applied on reload" : "needs a restart");
	if (!k->deflt)
		fprintf(out, "#%s =\n", k->key);
	else if (*k->deflt)
		fprintf(out, "%s = %s\n", k->key, k->deflt);
	else
		fprintf(out, "%s =\n", k->key);
}

/* What a section has beyond its table keys. */
static void print_section_extra(FILE *out, const char *section)
{
	if (!section || strcmp(section, KAFKA_PROPERTY_SECTION) != 0)
		return;
	fprintf(out, "\n# Any librdkafka property, passed through as property.NAME = VALUE\n"
		     "# (CHARGEGATE_KAFKA_PROPERTY_NAME with dots as underscores); a\n"
		     "# \"producer.\" or \"consumer.\" before NAME limits it to one of them.\n"
		     "# Bad ones are refused at start with librdkafka's message.\n"
		     "# (needs a restart)\n"
		     "#property.security.protocol = SASL_SSL\n");
}

void config_print_sample(FILE *out)
{
	const char *section = NULL;

	fprintf(out, "# chargegate.conf: \"key = value\" lines under [section] headers.\n"
		     "# Every key may be overridden by the environment variable\n"
		     "# CHARGEGATE_<SECTION>_<KEY> (upper case), e.g. CHARGEGATE_DATABASE_URL.\n"
		     "# Durations carry a unit (ms, s, m, h, d); booleans are true/false\n"
		     "# (also on/off, yes/no, 1/0); lists are comma-separated.\n");
	for (size_t i = 0; i < NKEYS; i++) {
		if (!section || strcmp(section, keys[i].section) != 0) {
			print_section_extra(out, section);
			section = keys[i].section;
			fprintf(out, "\n[%s]\n", section);
		}
		print_key(out, &keys[i]);
	}
	print_section_extra(out, section);
}
