/*
 * chargegated: the daemon.  Wiring only -- every concern lives in a module:
 * the API and group commit (request/), the relays and consumers (queue/),
 * the authorization worker (authorization/), callback delivery and retries
 * (notification/), the request status consumers (request/), and the
 * operators' status page (admin/).
 */
#include "autoconfig.h"

#include "admin/admin.h"
#include "authorization/worker.h"
#include "infra/addrpolicy.h"
#include "infra/config.h"
#include "infra/configcheck.h"
#include "infra/httpserver.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/migrate.h"
#include "infra/pgpool.h"
#include "infra/pooler.h"
#include "infra/redact.h"
#include "infra/sdnotify.h"
#include "infra/signing.h"
#include "notification/retry.h"
#include "notification/failurenotice.h"
#include "notification/sender.h"
#include "queue/consumer.h"
#include "queue/pgtransport.h"
#include "queue/queuestats.h"
#include "queue/relay.h"
#include "queue/retention.h"
#include "queue/topology.h"
#include "queue/settings.h"
#include "queue/transport.h"
#include "kafka/loader.h"
#include "request/api.h"
#include "request/apikeys.h"
#include "request/ingest.h"
#include "request/status.h"

#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRAIN_TIMEOUT_MS 10000
/* Draining counts unfinished work this often: a stop ends at most 50 ms after its last piece of work. */
#define DRAIN_TICK_MS 50
/* A kept-alive client may wait this long between requests (nginx's default is 75 s). */
#define HTTP_IDLE_TIMEOUT_MS 60000
/* The status page's reads queue behind each other rather than take connections from the work. */
#define ADMIN_POOL_SIZE 1

extern char **environ;

struct Daemon {
	const char *config_path;
	struct Config cfg;
	struct event_base *base;
	struct PgPool *pool, *queue_pool;
	struct Transport *transport;
	struct QueueSettings qs;
	struct Relay *relays[NTOPICS];
	struct Retention *retention;
	struct QueueStats *queuestats;	/* backlog gauges for /metrics */
	struct CallbackPolicy cb;
	struct SenderSettings sender_settings;
	struct FailureNoticeSettings notice_settings;
	struct AuthzWorker *authz;
	struct Sender *sender;
	struct RetryScheduler *retry;
	struct FailureNotices *notices;
	struct RequestStatus *status;
	struct Ingest *ingest;
	struct Api *api;
	struct ApiKeys *keys;	/* NULL: http.api_keys off */
	struct HttpServer *http;
	struct PgPool *admin_pool;
	struct Admin *admin;	/* NULL: admin.listen = off, or its address could not be used */
	double admin_up;	/* chargegate_status_page_up */
	struct event *sigterm, *sigint, *sighup, *drain_timer;
	bool draining;
	int drain_ticks;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: chargegated [-c FILE]\n"
		"  -c, --config FILE   configuration file (INI); CHARGEGATE_<SECTION>_<KEY> overrides it\n"
		"      --help-config   print every configuration key with its default\n"
		"  -V, --version       print the version\n"
		"  -h, --help          this text\n");
}

static void apply_log_settings(const struct Config *cfg)
{
	enum LogLevel level = LOG_LVL_INFO;
	enum LogFormat format = LOG_FMT_TEXT;

	/* config_load has validated both already */
	log_parse_level(cfg->log_level, &level);
	log_parse_format(cfg->log_format, &format);
	log_setup(level, format);
}

static void sender_settings_fill(struct Daemon *d)
{
	d->sender_settings = (struct SenderSettings){
		.concurrency = d->cfg.callback_concurrency,
		.per_destination = d->cfg.callback_per_destination_concurrency,
		.circuit_failures = d->cfg.callback_circuit_failures,
		.circuit_cooldown_ms = d->cfg.callback_circuit_cooldown_ms,
		.timeout_ms = d->cfg.callback_timeout_ms,
		.schedule_ms = d->cfg.callback_retry_schedule_ms,
		.schedule_len = d->cfg.callback_retry_schedule_len,
		.max_retry_after_ms = d->cfg.callback_max_retry_after_ms,
		.policy = d->cb.policy,
		.key = d->cb.key,
		.previous_key = d->cb.previous_key,
	};
	d->notice_settings = (struct FailureNoticeSettings){
		.url = d->cfg.callback_failure_url,
		.timeout_ms = d->cfg.callback_timeout_ms,
		.schedule_ms = d->cfg.callback_retry_schedule_ms,
		.schedule_len = d->cfg.callback_retry_schedule_len,
		.max_retry_after_ms = d->cfg.callback_max_retry_after_ms,
		.max_in_flight = d->cfg.callback_per_destination_concurrency,
		.key = d->cb.key,
		.previous_key = d->cb.previous_key,
	};
}

static void check_startup_config(struct Daemon *d)
{
	char err[512];

	if (!config_check_startup(&d->cfg, err, sizeof(err)))
		fatal("%s", err);
	if (strcmp(d->cfg.transport_kind, "kafka") == 0 && !transport_kafka_available(err, sizeof(err)))
		fatal("%s", err);
	if (!callback_policy_build(&d->cfg, &d->cb, err, sizeof(err)))
		fatal("%s", err);
}

/* What a pooler in between changes (doc/operations.md, "Behind PgBouncer"). */
static void report_pooler(const struct Config *cfg, PGconn *conn)
{
	char detail[512] = "";

	switch (pooler_detect(conn, cfg->database_url, detail, sizeof(detail))) {
	case POOLER_NONE:
		if (*detail)
			log_warning("database: %s", detail);
		return;
	case POOLER_SESSION:
		log_info("database: connected through a pooler in session mode, or a proxy (%s): LISTEN and the "
			 "session timeouts work as without it", detail);
		return;
	case POOLER_TRANSACTION:
		if (cfg->queue_listen)
			log_warning("database: connected through a pooler in transaction mode (%s): LISTEN wake-ups "
				    "never arrive through it, so work waits for queue.poll_interval: set "
				    "queue.listen = false",
				    detail);
		else
			log_info("database: connected through a pooler in transaction mode (%s): queue.listen = false, "
				 "wake-ups by polling every queue.poll_interval",
				 detail);
		log_warning("database: behind transaction pooling the session timeouts chargegate sets on connect "
			    "(statement_timeout, lock_timeout) reach only the server connection that got them: set "
			    "them on the role too (ALTER ROLE ... SET, see doc/operations.md)");
		return;
	}
}

/* Blocking, once, before the loop starts: refuse a schema that is behind. */
static void check_schema(const struct Config *cfg)
{
	PGconn *conn = PQconnectdb(cfg->database_url);
	char err[1024];
	int v;

	if (PQstatus(conn) != CONNECTION_OK) {
		redact_conninfo(err, sizeof(err), PQerrorMessage(conn), cfg->database_url);
		PQfinish(conn);
		err[strcspn(err, "\n")] = '\0';
		fatal("could not connect to the database to check its schema: %s", err);
	}
	report_pooler(cfg, conn);
	v = migrate_current_version(conn, err, sizeof(err));
	if (v >= CHARGEGATE_SCHEMA_VERSION && !topology_check(conn, err, sizeof(err))) {
		PQfinish(conn);
		fatal("%s", err);
	}
	PQfinish(conn);
	if (v < 0)
		fatal("%s", err);
	if (v < CHARGEGATE_SCHEMA_VERSION)
		fatal("the database schema is at version %d but this chargegated needs version %d: "
		      "run \"chargegatectl migrate\" first",
		      v, CHARGEGATE_SCHEMA_VERSION);
	if (v > CHARGEGATE_SCHEMA_VERSION)
		log_warning("the database schema (version %d) is newer than this chargegated expects (%d)", v,
			    CHARGEGATE_SCHEMA_VERSION);
}

static int busy_work(const struct Daemon *d)
{
	int n = httpserver_pending(d->http) + admin_pending(d->admin) + ingest_pending(d->ingest) +
		authz_worker_busy(d->authz) + sender_busy(d->sender) + retry_scheduler_busy(d->retry) +
		failure_notices_busy(d->notices) + request_status_busy(d->status);

	for (int i = 0; i < NTOPICS; i++)
		n += relay_busy(d->relays[i]);
	return n;
}

static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct Daemon *d = arg;
	int pending = busy_work(d);

	d->drain_ticks++;
	if (pending == 0 || d->drain_ticks * DRAIN_TICK_MS >= DRAIN_TIMEOUT_MS) {
		if (pending)
			log_warning("drain timed out with %d pieces of work unfinished (their leases will expire and "
				    "another daemon, or this one after a restart, finishes them)",
				    pending);
		event_base_loopexit(d->base, NULL);
	}
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct Daemon *d = arg;
	struct timeval tick = { 0, DRAIN_TICK_MS * 1000 };

	if (d->draining) {
		log_warning("second signal %d: exiting without waiting", (int)sig);
		event_base_loopbreak(d->base);
		return;
	}
	d->draining = true;
	sdnotify_send("STOPPING=1");
	log_info("signal %d: draining (stop accepting, finish what is in flight)", (int)sig);
	httpserver_stop_accepting(d->http);
	admin_stop_accepting(d->admin);
	consumer_stop_all();
	relay_stop_all();
	sender_stop(d->sender);
	d->drain_timer = event_new(d->base, -1, EV_PERSIST, drain_tick, d);
	if (!d->drain_timer || event_add(d->drain_timer, &tick) != 0)
		fatal("could not arm the drain timer");
}

/* SIGHUP: reloadable keys take effect; anything else keeps the running configuration. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	struct Daemon *d = arg;
	struct Config fresh;
	struct CallbackPolicy cb;
	char err[1024];

	sdnotify_send("RELOADING=1");
	if (!config_load(&fresh, d->config_path, environ, err, sizeof(err)) ||
	    !config_reload_allowed(&d->cfg, &fresh, err, sizeof(err)) ||
	    !callback_policy_build(&fresh, &cb, err, sizeof(err))) {
		log_error("reload failed, keeping the running configuration: %s", err);
		config_free(&fresh);
		sdnotify_send("READY=1");
		return;
	}
	apply_log_settings(&fresh);
	callback_policy_free(&d->cb);
	d->cb = cb;
	config_free(&d->cfg);
	d->cfg = fresh;
	sender_settings_fill(d);
	sender_reconfigure(d->sender);
	ingest_set_batch_wait(d->ingest, d->cfg.ingest_batch_wait_ms);
	log_info("configuration reloaded");
	sdnotify_send("READY=1");
}

static struct event *add_signal(struct Daemon *d, int sig, event_callback_fn cb)
{
	struct event *ev = evsignal_new(d->base, sig, cb, d);

	if (!ev || event_add(ev, NULL) != 0)
		fatal("could not install the handler for signal %d", sig);
	return ev;
}

/* New requests committed: wake the relay here and, by NOTIFY, in other daemons. */
static void wake_request_relay(void *arg)
{
	struct Transport *t = arg;
	char channel[TRANSPORT_CHANNEL_SIZE];

	transport_channel(CHANNEL_OUTBOX, topology_outbox(TOPIC_CHARGING_SESSION_REQUEST), channel);
	t->ops->notify(t, channel);
}

/* transport.kind = kafka: the module (src/kafka/, loaded on demand) or a clear refusal. */
static struct Transport *kafka_transport(struct Daemon *d)
{
	const struct Config *c = &d->cfg;
	struct KafkaSettings ks = {
		.abi = KAFKA_MODULE_ABI,
		.bootstrap_servers = c->kafka_bootstrap_servers,
		.topic_prefix = c->kafka_topic_prefix,
		.nproperties = c->kafka_properties_len,
		.property_names = c->kafka_property_names,
		.property_values = c->kafka_property_values,
		.listen = c->queue_listen,
		.lease_ms = c->queue_lease_ms,
	};
	char err[1024];
	struct Transport *t = transport_load_kafka(d->base, d->queue_pool, &ks, err, sizeof(err));

	if (!t)
		fatal("%s", err);
	return t;
}

static void setup_queue(struct Daemon *d)
{
	d->qs = (struct QueueSettings){ d->cfg.queue_batch_size, d->cfg.queue_lease_ms, d->cfg.queue_max_attempts,
					d->cfg.queue_poll_interval_ms };
	d->queue_pool = pgpool_new(d->base, "queue", d->cfg.database_url, d->cfg.database_pool_size,
				    d->cfg.database_query_timeout_ms);
	d->queuestats = queuestats_new(d->base, d->queue_pool);
	if (strcmp(d->cfg.transport_kind, "kafka") == 0)
		d->transport = kafka_transport(d);
	else
		d->transport = pgtransport_new(d->base, d->queue_pool, d->cfg.queue_listen);
	if (!d->cfg.relay_enabled)
		return;
	for (int i = 0; i < NTOPICS; i++)
		d->relays[i] = relay_new(d->base, d->transport, topology_outbox((enum TopicId)i), d->cfg.queue_batch_size,
					 d->cfg.queue_poll_interval_ms);
}

/* Retention is its own duty: a host without relays (or consumers) may still hold it. */
static void setup_retention(struct Daemon *d)
{
	struct RetentionPolicy p[2] = {
		{ "queue", RETENTION_QUEUE_SQL, d->cfg.queue_retention_ms, RETENTION_QUEUE_LIMIT },
		{ "requests", RETENTION_REQUESTS_SQL, d->cfg.request_retention_ms, RETENTION_REQUESTS_LIMIT },
	};

	if (!d->cfg.retention_enabled)
		return;
	d->retention = retention_new(d->base, d->queue_pool, p, d->cfg.request_retention_ms > 0 ? 2 : 1);
}

static void setup_contexts(struct Daemon *d)
{
	if (!d->cfg.consumers_enabled)
		return;
	sender_settings_fill(d);
	/* each with its own connections and capacity: one never waits for the other */
	d->authz = authz_worker_new(d->base, d->transport, &d->qs, d->cfg.authorization_url,
				    d->cfg.authorization_timeout_ms, d->cfg.authorization_concurrency);
	d->sender = sender_new(d->base, d->transport, d->queue_pool, &d->qs, &d->sender_settings);
	d->retry = retry_scheduler_new(d->base, d->transport, &d->qs);
	d->notices = failure_notices_new(d->base, d->transport, d->queue_pool, &d->qs, &d->notice_settings);
	d->status = request_status_new(d->base, d->transport, &d->qs);
}

/* http.api_keys = auto: keys unless only this host can connect (DESIGN §3). */
static bool api_keys_required(const struct Config *cfg)
{
	bool loopback = httpserver_listen_is_loopback(cfg->http_listen);
	bool on = strcmp(cfg->http_api_keys, "required") == 0 ||
		  (strcmp(cfg->http_api_keys, "auto") == 0 && !loopback);

	if (on)
		log_info("http: API keys required on /v1 (http.api_keys = %s%s)", cfg->http_api_keys,
			 strcmp(cfg->http_api_keys, "auto") == 0 ? ", and http.listen is not a loopback address" : "");
	else if (strcmp(cfg->http_api_keys, "off") == 0 && !loopback)
		log_warning("http: http.api_keys = off while listening on %s: anyone who reaches it can submit and read "
			 "requests", cfg->http_listen);
	else
		log_info("http: API keys off (http.api_keys = %s, listening on loopback %s)", cfg->http_api_keys,
			 cfg->http_listen);
	return on;
}

/*
 * Group commits may use every connection of the API pool but one: status
 * reads (GET /v1/charging-sessions/{id}), /readyz and the API-key refresh
 * share the pool and must not queue behind a burst of POSTs.
 */
static int ingest_connections(int pool_size)
{
	return pool_size > 1 ? pool_size - 1 : 1;
}

/* The operator set admin.listen to http.listen: the page is served by the API's listener. */
static bool admin_shares_api(const struct Config *cfg)
{
	return cfg->http_enabled && config_admin_enabled(cfg) && strcmp(cfg->admin_listen, cfg->http_listen) == 0;
}

/*
 * The API's handler when it shares its listener with the status page
 * (d->admin is set by setup_admin, after the listener but before the loop
 * dispatches anything).
 */
static void api_or_page(struct HttpExchange *x, void *arg)
{
	struct Daemon *d = arg;

	if (admin_owns_path(httpx_path(x)))
		admin_serve(x, d->admin);
	else
		api_handle(x, d->api);
}

static void setup_api(struct Daemon *d)
{
	char err[1024];
	struct HttpLimits limits;

	if (!d->cfg.http_enabled)
		return;
	d->pool = pgpool_new(d->base, "api", d->cfg.database_url, d->cfg.database_pool_size,
			     d->cfg.database_query_timeout_ms);
	d->ingest = ingest_new(d->base, d->pool, d->cfg.ingest_batch_size, d->cfg.ingest_batch_wait_ms,
			       d->cfg.database_query_timeout_ms, ingest_connections(d->cfg.database_pool_size));
	ingest_on_commit(d->ingest, wake_request_relay, d->transport);
	if (api_keys_required(&d->cfg))
		d->keys = apikeys_new(d->base, d->pool);
	d->api = api_new(d->pool, d->ingest, d->keys, CHARGEGATE_SCHEMA_VERSION);
	limits = (struct HttpLimits){
		.max_connections = d->cfg.http_max_connections,
		.request_timeout_ms = d->cfg.http_request_timeout_ms,
		.idle_timeout_ms = HTTP_IDLE_TIMEOUT_MS,
		.max_body = API_MAX_BODY,
	};
	if (admin_shares_api(&d->cfg))
		d->http = httpserver_new(d->base, d->cfg.http_listen, &limits, api_or_page, d, err, sizeof(err));
	else
		d->http = httpserver_new(d->base, d->cfg.http_listen, &limits, api_handle, d->api, err, sizeof(err));
	if (!d->http)
		fatal("%s", err);
}

/*
 * The operators' status page, on its own address and connection
 * (admin.listen), or on the API's listener when the operator set it so.
 * The page is optional and the API is not: an address it cannot use is
 * logged and counted, and the daemon runs without the page.
 */
static void setup_admin(struct Daemon *d)
{
	char err[1024];

	if (!config_admin_enabled(&d->cfg))
		return;
	if (!httpserver_listen_valid(d->cfg.admin_listen, err, sizeof(err)))
		fatal("admin.listen: %s", err);
	metrics_gauge_value("chargegate_status_page_up", NULL,
			    "1 when the status page (admin.listen) is served, 0 when its address could not be used.",
			    &d->admin_up);
	d->admin_pool = pgpool_new(d->base, "admin", d->cfg.database_url, ADMIN_POOL_SIZE,
				   d->cfg.database_query_timeout_ms);
	if (admin_shares_api(&d->cfg)) {
		d->admin = admin_new_shared(d->admin_pool, d->cfg.admin_listen);
		d->admin_up = 1;
		log_warning("admin: the status page is on the API's address %s (admin.listen = http.listen): "
			    "it needs no API key, so everyone who reaches the API sees request ids, station ids and "
			    "callback URLs at /ui", d->cfg.admin_listen);
		return;
	}
	d->admin = admin_new(d->base, d->admin_pool, d->cfg.admin_listen, d->cfg.http_request_timeout_ms, err,
			     sizeof(err));
	if (!d->admin) {
		log_error("admin.listen: %s: the status page is off, the daemon runs without it "
			  "(chargegate_status_page_up is 0)", err);
		pgpool_free(d->admin_pool);
		d->admin_pool = NULL;
		return;
	}
	d->admin_up = 1;
	log_info("admin: status page on http://%s/ui (admin.listen)", d->cfg.admin_listen);
	if (!httpserver_listen_is_loopback(d->cfg.admin_listen))
		log_warning("admin: the status page needs no API key and admin.listen (%s) is not a loopback address: "
			    "anyone who reaches it sees request ids, station ids and callback URLs",
			    d->cfg.admin_listen);
}

static void daemon_setup(struct Daemon *d)
{
	struct event_config *ec = event_config_new();

	/* coalesce the add/remove pairs evhttp makes per request into fewer epoll_ctl calls */
	if (!ec || event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) != 0)
		fatal("could not configure the event loop");
	d->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!d->base)
		fatal("could not create the event loop");
	signal(SIGPIPE, SIG_IGN);
	d->sigterm = add_signal(d, SIGTERM, on_stop_signal);
	d->sigint = add_signal(d, SIGINT, on_stop_signal);
	d->sighup = add_signal(d, SIGHUP, on_sighup);
	setup_queue(d);
	setup_retention(d);
	setup_contexts(d);
	/* the API first: a port the page's listener would take from it stops the API, not the page */
	setup_api(d);
	setup_admin(d);
}

static void daemon_cleanup(struct Daemon *d)
{
	/*
	 * What is still in flight (after a drain timeout or a second signal)
	 * fails now; the order lets every failure callback reach a live owner:
	 * the HTTP calls and the pools before the components they call back,
	 * the API's pool and the group commit before the server they answer on.
	 */
	authz_worker_cancel(d->authz);
	sender_cancel(d->sender);
	failure_notices_cancel(d->notices);
	pgpool_free(d->pool);
	ingest_free(d->ingest);
	api_free(d->api);
	apikeys_free(d->keys);
	httpserver_free(d->http);
	pgpool_free(d->admin_pool);
	admin_free(d->admin);
	pgpool_free(d->queue_pool);
	authz_worker_free(d->authz);
	sender_free(d->sender);
	retry_scheduler_free(d->retry);
	failure_notices_free(d->notices);
	request_status_free(d->status);
	for (int i = 0; i < NTOPICS; i++)
		relay_free(d->relays[i]);
	retention_free(d->retention);
	queuestats_free(d->queuestats);
	d->transport->ops->free(d->transport);
	callback_policy_free(&d->cb);
	event_free(d->sigterm);
	event_free(d->sigint);
	event_free(d->sighup);
	if (d->drain_timer)
		event_free(d->drain_timer);
	event_base_free(d->base);
	metrics_cleanup();
	config_free(&d->cfg);
}

static void parse_args(struct Daemon *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "help-config", no_argument, NULL, 'H' },
		{ "version", no_argument, NULL, 'V' },	    { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d->config_path = optarg;
			break;
		case 'H':
			config_print_sample(stdout);
			exit(0);
		case 'V':
			printf("chargegated %s (schema version %d)\n", PACKAGE_VERSION, CHARGEGATE_SCHEMA_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chargegated: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	struct Daemon d = { 0 };
	char err[1024];

	parse_args(&d, argc, argv);
	if (!config_load(&d.cfg, d.config_path, environ, err, sizeof(err))) {
		fprintf(stderr, "chargegated: %s\n", err);
		config_free(&d.cfg);
		return 1;
	}
	apply_log_settings(&d.cfg);
	check_startup_config(&d);
	check_schema(&d.cfg);
	daemon_setup(&d);
	log_info("chargegated %s started (api %s, relays %s, consumers %s, retention %s, transport %s)",
		 PACKAGE_VERSION, d.cfg.http_enabled ? "on" : "off", d.cfg.relay_enabled ? "on" : "off",
		 d.cfg.consumers_enabled ? "on" : "off", d.cfg.retention_enabled ? "on" : "off",
		 d.transport->ops->name);
	sdnotify_send("READY=1");
	if (event_base_dispatch(d.base) < 0)
		log_error("the event loop failed");
	log_info("chargegated stopped");
	daemon_cleanup(&d);
	return 0;
}
