/*
 * chargegate-demo-authz: a small internal authorization service for the
 * quick start and the tests (DESIGN §4).  Decisions come from a rules
 * file; faults (latency, 500, garbage, hang, an answer about another
 * station, a repeated member) can be injected.  Every
 * decision is printed to stdout as one JSON line.  See demo/README.md.
 */
#include "autoconfig.h"

#include "infra/httpserver.h"
#include "infra/alloc.h"
#include "infra/json.h"
#include "infra/log.h"
#include "infra/metrics.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RULE_FIELD 256

enum FailMode { FAIL_500, FAIL_GARBAGE, FAIL_HANG, FAIL_WRONG_ECHO, FAIL_DUPLICATE };

struct Rule {
	struct Rule *next;
	char status[16];	/* allowed | not_allowed | unknown | invalid */
	char station[RULE_FIELD];	/* "*" matches any */
	char token[RULE_FIELD];
	char reason[RULE_FIELD];	/* "" when none */
};

struct Rules {
	struct Rule *head;
	struct Rule dflt;	/* station and token unused */
};

/* An answer waiting for its latency to pass, or hanging. */
struct Parked {
	struct Parked *prev;
	struct Parked *next;
	struct Authz *authz;
	struct HttpExchange *x;
	int code;
	char *content_type;
	char *body;
	struct event ev;
};

struct Authz {
	struct event_base *base;
	struct HttpServer *srv;
	const char *listen;
	const char *rules_path;
	const char *default_status;
	struct Rules rules;
	long latency_ms;
	double fail_rate;
	long fail_first;
	enum FailMode fail_mode;
	unsigned long served;
	struct Parked *parked;
};

/* --- rules ---------------------------------------------------------------------- */

static const char *status_of(const char *word)
{
	static const char *const map[][2] = {
		{ "allow", "allowed" },     { "allowed", "allowed" }, { "deny", "not_allowed" },
		{ "not_allowed", "not_allowed" }, { "unknown", "unknown" }, { "invalid", "invalid" },
		{ "hang", "hang" },	/* no answer at all, until shutdown */
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(word, map[i][0]) == 0)
			return map[i][1];
	}
	return NULL;
}

static void rules_free(struct Rules *r)
{
	while (r->head) {
		struct Rule *next = r->head->next;

		free(r->head);
		r->head = next;
	}
}

static void rules_init(struct Rules *r, const char *default_status)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->dflt.status, sizeof(r->dflt.status), "%s", default_status);
}

/* One line "<decision> <station|*> <token|*> [REASON]" or "default <decision> [REASON]". */
static bool parse_rule_line(char *line, struct Rule *rule, bool *is_default, char *err, size_t errsize)
{
	char *words[5];
	int n = 0;
	const char *status;

	for (char *save = NULL, *w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 5) {
			snprintf(err, errsize, "too many words");
			return false;
		}
		words[n++] = w;
	}
	*is_default = n > 0 && strcmp(words[0], "default") == 0;
	status = n > 1 ? status_of(words[*is_default ? 1 : 0]) : NULL;
	if (!status) {
		snprintf(err, errsize, "expected \"allow|deny|unknown|invalid|hang STATION TOKEN [REASON]\" "
				       "or \"default DECISION [REASON]\"");
		return false;
	}
	memset(rule, 0, sizeof(*rule));
	snprintf(rule->status, sizeof(rule->status), "%s", status);
	if (*is_default) {
		if (n > 3) {
			snprintf(err, errsize, "too many words after default");
			return false;
		}
		snprintf(rule->reason, sizeof(rule->reason), "%s", n == 3 ? words[2] : "");
		return true;
	}
	if (n < 3 || n > 4) {
		snprintf(err, errsize, "expected a station and a token after %s", words[0]);
		return false;
	}
	snprintf(rule->station, sizeof(rule->station), "%s", words[1]);
	snprintf(rule->token, sizeof(rule->token), "%s", words[2]);
	snprintf(rule->reason, sizeof(rule->reason), "%s", n == 4 ? words[3] : "");
	return true;
}

static bool rules_add_line(struct Rules *r, struct Rule ***tail, char *line, char *err, size_t errsize)
{
	struct Rule rule, *copy;
	bool is_default;

	line[strcspn(line, "#")] = '\0';
	if (line[strspn(line, " \t\r\n")] == '\0')
		return true;
	if (!parse_rule_line(line, &rule, &is_default, err, errsize))
		return false;
	if (is_default) {
		r->dflt = rule;
		return true;
	}
	copy = xmalloc(sizeof(*copy));
	*copy = rule;
	**tail = copy;
	*tail = &copy->next;
	return true;
}

static bool rules_load(struct Rules *r, const char *path, const char *default_status)
{
	struct Rule **tail = &r->head;
	char line[1024], err[256];
	FILE *f;
	int lineno = 0;

	rules_init(r, default_status);
	if (!path)
		return true;
	f = fopen(path, "r");
	if (!f) {
		log_error("could not open rules file \"%s\": %s", path, strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!rules_add_line(r, &tail, line, err, sizeof(err))) {
			log_error("%s:%d: %s", path, lineno, err);
			fclose(f);
			rules_free(r);
			return false;
		}
	}
	fclose(f);
	return true;
}

static const struct Rule *rules_match(const struct Rules *r, const char *station, const char *token)
{
	for (const struct Rule *rule = r->head; rule; rule = rule->next) {
		if ((strcmp(rule->station, "*") == 0 || strcasecmp(rule->station, station) == 0) &&
		    (strcmp(rule->token, "*") == 0 || strcmp(rule->token, token) == 0))
			return rule;
	}
	return &r->dflt;
}

/* --- answers ---------------------------------------------------------------------- */

static void print_line(const char *station, const char *token, const char *status, const char *reason,
		       const char *fault)
{
	struct json_object *o = json_new_object();

	json_set_string(o, "station_id", station);
	json_set_string(o, "driver_token", token);
	json_set_string(o, "status", status);
	json_set_string(o, "reason", reason && *reason ? reason : NULL);
	json_set_string(o, "fault", fault);
	printf("%s\n", json_to_text(o, NULL));
	fflush(stdout);
	json_object_put(o);
}

/* The request document (NULL when it does not parse) and its two members. */
static struct json_object *read_request(struct HttpExchange *x, const char **station, const char **token)
{
	struct json_object *req = NULL;
	char err[256];
	size_t len;
	const char *body = httpx_body(x, &len);

	*station = *token = NULL;
	if (!json_parse_object(body, len, &req, err, sizeof(err)))
		return NULL;
	*station = json_get_string(req, "station_id");
	*token = json_get_string(req, "driver_token");
	return req;
}

/* The decision document for the request. */
static char *decide(struct Authz *a, struct HttpExchange *x)
{
	struct json_object *ans = json_new_object();
	const char *station, *token;
	struct json_object *req = read_request(x, &station, &token);
	const struct Rule *rule;
	char *text;

	if (station && token) {
		rule = rules_match(&a->rules, station, token);
		json_set_string(ans, "status", rule->status);
		json_set_string(ans, "station_id", station);
		json_set_string(ans, "driver_token", token);
		if (rule->reason[0])
			json_set_string(ans, "reason", rule->reason);
		print_line(station, token, rule->status, rule->reason, NULL);
	} else {
		json_set_string(ans, "status", "invalid");
		json_set_string(ans, "reason", "BAD_REQUEST");
		print_line(station, token, "invalid", "BAD_REQUEST", NULL);
	}
	text = xstrdup(json_to_text(ans, NULL));
	json_object_put(ans);
	json_object_put(req);
	return text;
}

static void reply_now(struct HttpExchange *x, int code, const char *ctype, const char *body)
{
	struct evbuffer *b = evbuffer_new();

	if (!b || evbuffer_add(b, body, strlen(body)) != 0)
		fatal("out of memory");
	httpx_reply(x, code, ctype, b);
	evbuffer_free(b);
}

static void parked_reply(struct Parked *p)
{
	reply_now(p->x, p->code, p->content_type, p->body);
}

static void parked_free(struct Parked *p)
{
	struct Authz *a = p->authz;

	if (event_del(&p->ev) != 0)
		log_error("could not remove a timer");
	if (p->prev)
		p->prev->next = p->next;
	else
		a->parked = p->next;
	if (p->next)
		p->next->prev = p->prev;
	free(p->content_type);
	free(p->body);
	free(p);
}

static void parked_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Parked *p = arg;

	parked_reply(p);
	parked_free(p);
}

/* Answer after latency_ms (never, when hang). Takes body. */
static void answer(struct Authz *a, struct HttpExchange *x, int code, const char *ctype, char *body, bool hang)
{
	struct Parked *p;
	struct timeval tv = { a->latency_ms / 1000, (a->latency_ms % 1000) * 1000 };

	if (!hang && a->latency_ms <= 0) {
		reply_now(x, code, ctype, body);
		free(body);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->authz = a;
	p->x = x;
	p->code = code;
	p->content_type = xstrdup(ctype);
	p->body = body;
	p->next = a->parked;
	if (a->parked)
		a->parked->prev = p;
	a->parked = p;
	if (evtimer_assign(&p->ev, a->base, parked_timer_cb, p) != 0 || (!hang && evtimer_add(&p->ev, &tv) != 0))
		fatal("could not arm a timer");
}

static bool should_fail(struct Authz *a)
{
	if (a->fail_first > 0 && a->served <= (unsigned long)a->fail_first)
		return true;
	return a->fail_rate > 0 && (double)random() / ((double)RAND_MAX + 1.0) < a->fail_rate;
}

static void fail(struct Authz *a, struct HttpExchange *x)
{
	static const char *const names[] = { [FAIL_500] = "500", [FAIL_GARBAGE] = "garbage", [FAIL_HANG] = "hang",
					     [FAIL_WRONG_ECHO] = "wrong-echo", [FAIL_DUPLICATE] = "duplicate" };
	const char *station, *token;
	struct json_object *req = read_request(x, &station, &token);

	print_line(station, token, NULL, NULL, names[a->fail_mode]);
	json_object_put(req);
	switch (a->fail_mode) {
	case FAIL_500:
		answer(a, x, 500, "text/plain", xstrdup("injected failure\n"), false);
		break;
	case FAIL_GARBAGE:
		answer(a, x, 200, "application/json", xstrdup("{\"status\": allowed!!<html>"), false);
		break;
	case FAIL_HANG:
		answer(a, x, 503, "text/plain", xstrdup("hung request released at shutdown\n"), true);
		break;
	case FAIL_WRONG_ECHO:
		answer(a, x, 200, "application/json",
		       xstrdup("{\"station_id\":\"00000000-0000-4000-8000-000000000000\",\"status\":\"allowed\"}"), false);
		break;
	case FAIL_DUPLICATE:
		answer(a, x, 200, "application/json", xstrdup("{\"status\":\"not_allowed\",\"status\":\"allowed\"}"), false);
		break;
	}
}

/* A "hang" rule matches: no answer (it is printed as a fault). */
static bool rule_hangs(struct Authz *a, struct HttpExchange *x)
{
	const char *station, *token;
	struct json_object *req = read_request(x, &station, &token);
	bool hangs = station && token && strcmp(rules_match(&a->rules, station, token)->status, "hang") == 0;

	if (hangs)
		print_line(station, token, NULL, NULL, "hang");
	json_object_put(req);
	return hangs;
}

static void handle(struct HttpExchange *x, void *arg)
{
	struct Authz *a = arg;

	if (strcmp(httpx_method(x), "GET") == 0 && strcmp(httpx_path(x), "/healthz") == 0) {
		answer(a, x, 200, "application/json", xstrdup("{\"status\":\"ok\"}"), false);
		return;
	}
	if (strcmp(httpx_method(x), "POST") != 0) {
		httpx_problem(x, 405, "method-not-allowed", "Method Not Allowed", "POST a decision request", NULL);
		return;
	}
	a->served++;
	if (should_fail(a)) {
		fail(a, x);
		return;
	}
	if (rule_hangs(a, x)) {
		answer(a, x, 503, "text/plain", xstrdup("hung request released at shutdown\n"), true);
		return;
	}
	answer(a, x, 200, "application/json", decide(a, x), false);
}

/* --- the program -------------------------------------------------------------------- */

/* A test double: generous, but bounded like any server. */
static const struct HttpLimits demo_limits = {
	.max_connections = 4096, .request_timeout_ms = 30000, .idle_timeout_ms = 60000, .max_body = 1024 * 1024,
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: chargegate-demo-authz [--listen HOST:PORT] [--rules FILE] [--default DECISION]\n"
		"                             [--latency MS] [--fail-rate R] [--fail-first N]\n"
		"                             [--fail-mode 500|garbage|hang|wrong-echo|duplicate] [--seed N]\n"
		"Each option can also be set by the environment: DEMO_AUTHZ_LISTEN, DEMO_AUTHZ_RULES,\n"
		"DEMO_AUTHZ_DEFAULT, DEMO_AUTHZ_LATENCY_MS, DEMO_AUTHZ_FAIL_RATE, DEMO_AUTHZ_FAIL_FIRST,\n"
		"DEMO_AUTHZ_FAIL_MODE, DEMO_AUTHZ_SEED.  See demo/README.md.\n");
}

static _Noreturn void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "chargegate-demo-authz: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	exit(2);
}

static long parse_long(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0)
		die_usage("invalid %s", what);
	return v;
}

static void set_option(struct Authz *a, int opt, const char *val)
{
	char *end;

	switch (opt) {
	case 'l': a->listen = val; break;
	case 'r': a->rules_path = val; break;
	case 'd':
		a->default_status = status_of(val);
		if (!a->default_status)
			die_usage("invalid decision \"%s\"", val);
		break;
	case 'L': a->latency_ms = parse_long(val, "latency"); break;
	case 'F': a->fail_first = parse_long(val, "fail-first count"); break;
	case 's': srandom((unsigned)parse_long(val, "seed")); break;
	case 'f':
		errno = 0;
		a->fail_rate = strtod(val, &end);
		if (errno || *end || end == val || a->fail_rate < 0 || a->fail_rate > 1)
			die_usage("invalid fail rate \"%s\" (0..1)", val);
		break;
	case 'm':
		if (strcmp(val, "500") == 0)
			a->fail_mode = FAIL_500;
		else if (strcmp(val, "garbage") == 0)
			a->fail_mode = FAIL_GARBAGE;
		else if (strcmp(val, "hang") == 0)
			a->fail_mode = FAIL_HANG;
		else if (strcmp(val, "wrong-echo") == 0)
			a->fail_mode = FAIL_WRONG_ECHO;
		else if (strcmp(val, "duplicate") == 0)
			a->fail_mode = FAIL_DUPLICATE;
		else
			die_usage("invalid fail mode \"%s\" (500, garbage, hang, wrong-echo or duplicate)", val);
		break;
	}
}

static const struct option long_options[] = {
	{ "listen", required_argument, NULL, 'l' },    { "rules", required_argument, NULL, 'r' },
	{ "default", required_argument, NULL, 'd' },   { "latency", required_argument, NULL, 'L' },
	{ "fail-rate", required_argument, NULL, 'f' }, { "fail-first", required_argument, NULL, 'F' },
	{ "fail-mode", required_argument, NULL, 'm' }, { "seed", required_argument, NULL, 's' },
	{ "help", no_argument, NULL, 'h' },            { NULL, 0, NULL, 0 },
};

static void parse_env(struct Authz *a)
{
	static const struct {
		const char *name;
		int opt;
	} env[] = {
		{ "DEMO_AUTHZ_LISTEN", 'l' },	  { "DEMO_AUTHZ_RULES", 'r' },	   { "DEMO_AUTHZ_DEFAULT", 'd' },
		{ "DEMO_AUTHZ_LATENCY_MS", 'L' }, { "DEMO_AUTHZ_FAIL_RATE", 'f' }, { "DEMO_AUTHZ_FAIL_FIRST", 'F' },
		{ "DEMO_AUTHZ_FAIL_MODE", 'm' },  { "DEMO_AUTHZ_SEED", 's' },
	};

	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		const char *v = getenv(env[i].name);

		if (v && *v)
			set_option(a, env[i].opt, v);
	}
}

static void parse_args(struct Authz *a, int argc, char **argv)
{
	int opt;

	a->listen = "127.0.0.1:8081";
	a->default_status = "not_allowed";
	srandom((unsigned)time(NULL));
	parse_env(a);
	while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			exit(0);
		}
		if (opt == '?') {
			usage(stderr);
			exit(2);
		}
		set_option(a, opt, optarg);
	}
	if (optind < argc)
		die_usage("unexpected argument \"%s\"", argv[optind]);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct Authz *a = arg;
	struct Rules next;

	if (!rules_load(&next, a->rules_path, a->default_status)) {
		log_error("rules not reloaded; keeping the old ones");
		return;
	}
	rules_free(&a->rules);
	a->rules = next;
	log_info("rules reloaded from %s", a->rules_path ? a->rules_path : "(none)");
}

int main(int argc, char **argv)
{
	struct Authz a = { 0 };
	struct event *sigs[3];
	char err[256];

	log_setup(LOG_LVL_INFO, LOG_FMT_TEXT);
	parse_args(&a, argc, argv);
	if (!rules_load(&a.rules, a.rules_path, a.default_status))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	a.base = event_base_new();
	if (!a.base)
		fatal("could not create the event loop");
	a.srv = httpserver_new(a.base, a.listen, &demo_limits, handle, &a, err, sizeof(err));
	if (!a.srv)
		fatal("%s", err);
	sigs[0] = evsignal_new(a.base, SIGTERM, on_stop, a.base);
	sigs[1] = evsignal_new(a.base, SIGINT, on_stop, a.base);
	sigs[2] = evsignal_new(a.base, SIGHUP, on_hup, &a);
	for (int i = 0; i < 3; i++) {
		if (!sigs[i] || event_add(sigs[i], NULL) != 0)
			fatal("could not install the signal handlers");
	}
	event_base_dispatch(a.base);
	while (a.parked) {
		parked_reply(a.parked);
		parked_free(a.parked);
	}
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	httpserver_free(a.srv);
	event_base_free(a.base);
	rules_free(&a.rules);
	metrics_cleanup();
	return 0;
}
