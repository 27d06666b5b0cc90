/*
 * chargegate-demo-receiver: a callback receiver for the quick start and
 * the tests (DESIGN §5).  It accepts POST on any path, checks the
 * Standard Webhooks signature when given secrets, prints one JSON line per
 * callback, and can answer with injected failures.  GET /received lists
 * everything received.  See demo/README.md.
 */
#include "autoconfig.h"

#include "infra/httpserver.h"
#include "infra/alloc.h"
#include "infra/json.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/signing.h"

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
#include <sys/time.h>
#include <time.h>

#define MAX_SECRETS 4
#define MAX_RECEIVED 100000

struct Receiver;

/* An answer held back by --delay. */
struct Delayed {
	struct Delayed *prev;
	struct Delayed *next;
	struct Receiver *rcv;
	struct HttpExchange *x;
	int code;
	struct event ev;
};

struct Receiver {
	struct event_base *base;
	struct HttpServer *srv;
	const char *listen;
	struct SigningKey *keys[MAX_SECRETS];
	int nkeys;
	long fail_first;
	int status;		/* 0: 200 unless failing first attempts */
	long retry_after;	/* -1: no Retry-After */
	long delay_ms;
	bool require_signature;
	struct json_object *received;	/* array of entries */
	struct json_object *attempts;	/* webhook-id -> attempts so far */
	struct Delayed *delayed;
};

/* --- answers ------------------------------------------------------------------------ */

static void reply(struct Receiver *r, struct HttpExchange *x, int code)
{
	struct json_object *doc = json_new_object();
	char ra[32];

	json_set_int(doc, "status", code);
	json_set_string(doc, "result", code >= 200 && code <= 299 ? "received" : "refused");
	if ((code < 200 || code > 299) && r->retry_after >= 0) {
		snprintf(ra, sizeof(ra), "%ld", r->retry_after);
		httpx_add_header(x, "Retry-After", ra);
	}
	httpx_reply_json(x, code, "application/json", doc);
	json_object_put(doc);
}

static void delayed_free(struct Delayed *d)
{
	struct Receiver *r = d->rcv;

	if (event_del(&d->ev) != 0)
		log_error("could not remove a timer");
	if (d->prev)
		d->prev->next = d->next;
	else
		r->delayed = d->next;
	if (d->next)
		d->next->prev = d->prev;
	free(d);
}

static void delayed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct Delayed *d = arg;

	reply(d->rcv, d->x, d->code);
	delayed_free(d);
}

static void reply_later(struct Receiver *r, struct HttpExchange *x, int code)
{
	struct Delayed *d = xcalloc(1, sizeof(*d));
	struct timeval tv = { r->delay_ms / 1000, (r->delay_ms % 1000) * 1000 };

	d->rcv = r;
	d->x = x;
	d->code = code;
	d->next = r->delayed;
	if (r->delayed)
		r->delayed->prev = d;
	r->delayed = d;
	if (evtimer_assign(&d->ev, r->base, delayed_cb, d) != 0 || evtimer_add(&d->ev, &tv) != 0)
		fatal("could not arm a timer");
}

/* --- one callback ---------------------------------------------------------------------- */

static int next_attempt(struct Receiver *r, const char *id)
{
	struct json_object *n = NULL;
	int attempt = 1;

	if (json_object_object_get_ex(r->attempts, id, &n))
		attempt = json_object_get_int(n) + 1;
	json_set_int(r->attempts, id, attempt);
	return attempt;
}

/* true, false, or JSON null when no secret was given */
static struct json_object *signature_verdict(struct Receiver *r, const char *id, const char *ts, const char *sig,
					     const char *body, size_t len)
{
	struct json_object *b;
	bool ok;

	if (r->nkeys == 0)
		return NULL;
	ok = id && ts && sig &&
	     signing_verify(sig, (const struct SigningKey *const *)r->keys, r->nkeys, id, ts, body, len);
	b = json_object_new_boolean(ok);
	if (!b)
		fatal("out of memory");
	return b;
}

static int64_t now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void set_body(struct json_object *entry, const char *body, size_t len)
{
	struct json_object *doc = NULL;
	char err[256];

	if (json_parse_object(body, len, &doc, err, sizeof(err))) {
		json_set(entry, "body", doc);
		return;
	}
	doc = json_object_new_string_len(body, (int)len);
	if (!doc)
		fatal("out of memory");
	json_set(entry, "body", doc);
	json_set_string(entry, "body_error", err);
}

static int choose_status(const struct Receiver *r, struct json_object *valid, int attempt)
{
	if (r->require_signature && (!valid || !json_object_get_boolean(valid)))
		return 401;
	if (r->status)
		return r->status;
	if (attempt <= r->fail_first)
		return 500;
	return 200;
}

static void record(struct Receiver *r, struct json_object *entry)
{
	printf("%s\n", json_to_text(entry, NULL));
	fflush(stdout);
	if (json_object_array_length(r->received) < MAX_RECEIVED)
		json_append(r->received, entry);
	else
		json_object_put(entry);
}

static void on_callback(struct Receiver *r, struct HttpExchange *x)
{
	const char *id = httpx_header(x, "webhook-id");
	const char *ts = httpx_header(x, "webhook-timestamp");
	const char *sig = httpx_header(x, "webhook-signature");
	const char *ctype = httpx_header(x, "Content-Type");
	struct json_object *entry = json_new_object();
	struct json_object *valid;
	size_t len;
	const char *body = httpx_body(x, &len);
	int attempt = next_attempt(r, id ? id : "");
	int code;

	valid = signature_verdict(r, id, ts, sig, body, len);
	code = choose_status(r, valid, attempt);
	json_set_int(entry, "received_at_ms", now_ms());
	json_set_string(entry, "path", httpx_path(x));
	json_set_string(entry, "webhook_id", id);
	json_set_string(entry, "webhook_timestamp", ts);
	json_set_string(entry, "webhook_signature", sig);
	json_set(entry, "signature_valid", valid);
	json_set_string(entry, "content_type", ctype);
	json_set_int(entry, "attempt", attempt);
	json_set_int(entry, "answered", code);
	set_body(entry, body, len);
	record(r, entry);
	if (r->delay_ms > 0)
		reply_later(r, x, code);
	else
		reply(r, x, code);
}

static void handle(struct HttpExchange *x, void *arg)
{
	struct Receiver *r = arg;
	const char *m = httpx_method(x), *path = httpx_path(x);

	if (strcmp(m, "POST") == 0) {
		on_callback(r, x);
	} else if (strcmp(m, "GET") == 0 && strcmp(path, "/received") == 0) {
		httpx_reply_json(x, 200, "application/json", r->received);
	} else if (strcmp(m, "DELETE") == 0 && strcmp(path, "/received") == 0) {
		json_object_put(r->received);
		json_object_put(r->attempts);
		r->received = json_new_array();
		r->attempts = json_new_object();
		httpx_reply(x, 204, NULL, NULL);
	} else if (strcmp(m, "GET") == 0 && strcmp(path, "/healthz") == 0) {
		struct json_object *ok = json_new_object();

		json_set_string(ok, "status", "ok");
		httpx_reply_json(x, 200, "application/json", ok);
		json_object_put(ok);
	} else {
		httpx_problem(x, 404, "not-found", "Not Found",
			      "POST callbacks to any path; GET /received, DELETE /received, GET /healthz", NULL);
	}
}

/* --- the program --------------------------------------------------------------------------- */

/* A test double: generous, but bounded like any server. */
static const struct HttpLimits demo_limits = {
	.max_connections = 4096, .request_timeout_ms = 30000, .idle_timeout_ms = 60000, .max_body = 1024 * 1024,
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: chargegate-demo-receiver [--listen HOST:PORT] [--secret SECRET]...\n"
		"                                [--require-signature] [--fail-first N]\n"
		"                                [--status CODE] [--retry-after SECONDS] [--delay MS]\n"
		"See demo/README.md.\n");
}

static _Noreturn void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "chargegate-demo-receiver: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	exit(2);
}

static long parse_long(const char *s, const char *what, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		die_usage("invalid %s", what);
	return v;
}

static void add_secret(struct Receiver *r, const char *secret)
{
	char err[256];

	if (r->nkeys == MAX_SECRETS)
		die_usage("at most %d secrets", MAX_SECRETS);
	r->keys[r->nkeys] = signing_key_new(secret, err, sizeof(err));
	if (!r->keys[r->nkeys])
		die_usage("%s", err);
	r->nkeys++;
}

static const struct option long_options[] = {
	{ "listen", required_argument, NULL, 'l' },	{ "secret", required_argument, NULL, 's' },
	{ "fail-first", required_argument, NULL, 'F' }, { "status", required_argument, NULL, 'S' },
	{ "retry-after", required_argument, NULL, 'R' }, { "delay", required_argument, NULL, 'D' },
	{ "require-signature", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void parse_args(struct Receiver *r, int argc, char **argv)
{
	int opt;

	r->listen = "127.0.0.1:8082";
	r->retry_after = -1;
	while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'l': r->listen = optarg; break;
		case 's': add_secret(r, optarg); break;
		case 'F': r->fail_first = parse_long(optarg, "--fail-first count", 0, 1000000); break;
		case 'S': r->status = (int)parse_long(optarg, "--status code", 100, 599); break;
		case 'R': r->retry_after = parse_long(optarg, "--retry-after seconds", 0, 100000000); break;
		case 'D': r->delay_ms = parse_long(optarg, "--delay", 0, 3600000); break;
		case 'q': r->require_signature = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument \"%s\"", argv[optind]);
	if (r->require_signature && r->nkeys == 0)
		die_usage("%s needs at least one --secret", "--require-signature");
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
	struct Receiver r = { 0 };
	struct event *sigs[2];
	char err[256];

	log_setup(LOG_LVL_INFO, LOG_FMT_TEXT);
	parse_args(&r, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	r.received = json_new_array();
	r.attempts = json_new_object();
	r.base = event_base_new();
	if (!r.base)
		fatal("could not create the event loop");
	r.srv = httpserver_new(r.base, r.listen, &demo_limits, handle, &r, err, sizeof(err));
	if (!r.srv)
		fatal("%s", err);
	sigs[0] = evsignal_new(r.base, SIGTERM, on_stop, r.base);
	sigs[1] = evsignal_new(r.base, SIGINT, on_stop, r.base);
	for (int i = 0; i < 2; i++) {
		if (!sigs[i] || event_add(sigs[i], NULL) != 0)
			fatal("could not install the signal handlers");
	}
	event_base_dispatch(r.base);
	while (r.delayed) {
		reply(&r, r.delayed->x, 503);
		delayed_free(r.delayed);
	}
	for (int i = 0; i < 2; i++)
		event_free(sigs[i]);
	httpserver_free(r.srv);
	event_base_free(r.base);
	for (int i = 0; i < r.nkeys; i++)
		signing_key_free(r.keys[i]);
	json_object_put(r.received);
	json_object_put(r.attempts);
	metrics_cleanup();
	return 0;
}
