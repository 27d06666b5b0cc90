/*
 * chargegated: the daemon.  Wiring only -- every concern lives in a module.
 */
#include "autoconfig.h"

#include "infra/config.h"
#include "infra/httpserver.h"
#include "infra/log.h"
#include "infra/metrics.h"
#include "infra/migrate.h"
#include "infra/pgpool.h"
#include "infra/sdnotify.h"
#include "queue/pgtransport.h"
#include "queue/relay.h"
#include "queue/retention.h"
#include "queue/transport.h"
#include "request/api.h"
#include "request/ingest.h"

#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRAIN_TIMEOUT_MS 10000

extern char **environ;

struct Daemon {
	const char *config_path;
	struct Config cfg;
	struct event_base *base;
	struct PgPool *pool;
	struct PgPool *queue_pool;
	struct Transport *transport;
	struct Relay *relays[3];
	struct Retention *retention;
	struct Ingest *ingest;
	struct Api *api;
	struct HttpServer *http;
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

static void load_config_or_die(struct Daemon *d)
{
	char err[1024];

	if (!config_load(&d->cfg, d->config_path, environ, err, sizeof(err))) {
		fprintf(stderr, "chargegated: %s\n", err);
		config_free(&d->cfg);
		exit(1);
	}
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

static void check_startup_config(const struct Config *cfg)
{
	if (!cfg->database_url || !*cfg->database_url)
		fatal("database.url is not set: set it in the configuration file or in CHARGEGATE_DATABASE_URL");
	if (strcmp(cfg->transport_kind, "kafka") == 0)
		fatal("transport.kind = kafka needs the Kafka module, which this build does not have: "
		      "rebuild with ./configure --enable-kafka (or install the chargegate-kafka package)");
}

/* Blocking, once, before the loop starts: refuse a schema that is behind. */
static void check_schema(const struct Config *cfg)
{
	PGconn *conn = PQconnectdb(cfg->database_url);
	char err[1024];
	int v;

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, sizeof(err), "%s", PQerrorMessage(conn));
		PQfinish(conn);
		err[strcspn(err, "\n")] = '\0';
		fatal("could not connect to the database to check its schema: %s", err);
	}
	v = migrate_current_version(conn, err, sizeof(err));
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

static const char *const outboxes[3] = {
	"charging_session_request_outbox",
	"authorization_decision_callback_outbox",
	"callback_delivery_outbox",
};

static int busy_work(const struct Daemon *d)
{
	int n = httpserver_pending(d->http) + ingest_pending(d->ingest);

	for (int i = 0; i < 3; i++)
		n += relay_busy(d->relays[i]);
	return n;
}

static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct Daemon *d = arg;
	int pending = busy_work(d);

	d->drain_ticks++;
	if (pending == 0 || d->drain_ticks * 50 >= DRAIN_TIMEOUT_MS) {
		if (pending)
			log_warning("drain timed out with %d requests unanswered", pending);
		event_base_loopexit(d->base, NULL);
	}
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct Daemon *d = arg;
	struct timeval tick = { 0, 50000 };

	if (d->draining) {
		log_warning("second signal %d: exiting without waiting", (int)sig);
		event_base_loopbreak(d->base);
		return;
	}
	d->draining = true;
	sdnotify_send("STOPPING=1");
	log_info("signal %d: draining (stop accepting, answer what is in flight)", (int)sig);
	httpserver_stop_accepting(d->http);
	d->drain_timer = event_new(d->base, -1, EV_PERSIST, drain_tick, d);
	if (!d->drain_timer || event_add(d->drain_timer, &tick) != 0)
		fatal("could not arm the drain timer");
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	struct Daemon *d = arg;
	struct Config fresh;
	char err[1024];

	sdnotify_send("RELOADING=1");
	if (!config_load(&fresh, d->config_path, environ, err, sizeof(err))) {
		log_error("reload failed, keeping the running configuration: %s", err);
		config_free(&fresh);
		sdnotify_send("READY=1");
		return;
	}
	apply_log_settings(&fresh);
	config_free(&d->cfg);
	d->cfg = fresh;
	log_info("configuration reloaded: log settings applied; other changes take effect at restart");
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

	t->ops->notify(t, "outbox:charging_session_request_outbox");
}

static void daemon_setup(struct Daemon *d)
{
	char err[1024];

	d->base = event_base_new();
	if (!d->base)
		fatal("could not create the event loop");
	signal(SIGPIPE, SIG_IGN);
	d->sigterm = add_signal(d, SIGTERM, on_stop_signal);
	d->sigint = add_signal(d, SIGINT, on_stop_signal);
	d->sighup = add_signal(d, SIGHUP, on_sighup);
	d->pool = pgpool_new(d->base, "api", d->cfg.database_url, d->cfg.database_pool_size);
	d->queue_pool = pgpool_new(d->base, "queue", d->cfg.database_url, d->cfg.database_pool_size);
	d->transport = pgtransport_new(d->base, d->queue_pool, d->cfg.database_url, d->cfg.queue_listen);
	if (d->cfg.relay_enabled) {
		for (int i = 0; i < 3; i++)
			d->relays[i] = relay_new(d->base, d->transport, outboxes[i], d->cfg.queue_batch_size,
						 d->cfg.queue_poll_interval_ms);
		d->retention = retention_new(d->base, d->queue_pool, d->cfg.queue_retention_ms);
	}
	d->ingest = ingest_new(d->base, d->pool, d->cfg.ingest_batch_size, d->cfg.ingest_batch_wait_ms,
			       d->cfg.database_pool_size > 1 ? d->cfg.database_pool_size - 1 : 1);
	ingest_on_commit(d->ingest, wake_request_relay, d->transport);
	d->api = api_new(d->pool, d->ingest, CHARGEGATE_SCHEMA_VERSION);
	if (d->cfg.http_enabled) {
		d->http = httpserver_new(d->base, d->cfg.http_listen, d->cfg.http_max_connections, api_handle, d->api,
					 err, sizeof(err));
		if (!d->http)
			fatal("%s", err);
	}
}

static void daemon_cleanup(struct Daemon *d)
{
	httpserver_free(d->http);
	ingest_free(d->ingest);
	api_free(d->api);
	/* pools first: their failed callbacks still reach live relays and consumers */
	pgpool_free(d->pool);
	pgpool_free(d->queue_pool);
	for (int i = 0; i < 3; i++)
		relay_free(d->relays[i]);
	retention_free(d->retention);
	d->transport->ops->free(d->transport);
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

	parse_args(&d, argc, argv);
	load_config_or_die(&d);
	apply_log_settings(&d.cfg);
	check_startup_config(&d.cfg);
	check_schema(&d.cfg);
	daemon_setup(&d);
	log_info("chargegated %s started", PACKAGE_VERSION);
	sdnotify_send("READY=1");
	if (event_base_dispatch(d.base) < 0)
		log_error("the event loop failed");
	log_info("chargegated stopped");
	daemon_cleanup(&d);
	return 0;
}
