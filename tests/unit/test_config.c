/*
 * chargegate.conf parsing: defaults (DESIGN §6), every value type, the
 * environment overrides, and the exact "FILE:LINE: reason" of each error.
 */
#include "infra/config.h"

#include "unit_run.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct TmpConf {
	char path[256];
};

/* Write text to a fresh temporary file. */
static void tmpconf_write(struct TmpConf *t, const char *text)
{
	const char *dir = getenv("TMPDIR");
	FILE *f;
	int fd;

	snprintf(t->path, sizeof(t->path), "%s/test_config.XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(t->path);
	ck_assert_msg(fd >= 0, "mkstemp failed");
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Load text as a config file (and env); returns config_load's answer. */
static bool load_text(struct Config *cfg, const char *text, char *const *envp, char *err, size_t errsize,
		      struct TmpConf *t)
{
	bool ok;

	tmpconf_write(t, text);
	ok = config_load(cfg, t->path, envp, err, errsize);
	unlink(t->path);
	return ok;
}

/* Expect text to fail on line with exactly reason, and cfg to hold the defaults. */
static void expect_error(const char *text, int line, const char *reason)
{
	struct Config cfg;
	struct TmpConf t;
	char err[1024], want[1024];

	ck_assert_msg(!load_text(&cfg, text, NULL, err, sizeof(err), &t), "accepted: %s", text);
	snprintf(want, sizeof(want), "%s:%d: %s", t.path, line, reason);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(cfg.database_pool_size, 4);
	ck_assert_str_eq(cfg.http_listen, "127.0.0.1:8080");
	config_free(&cfg);
}

static void expect_env_error(char *const *envp, const char *message)
{
	struct Config cfg;
	char err[1024];

	ck_assert(!config_load(&cfg, NULL, envp, err, sizeof(err)));
	ck_assert_str_eq(err, message);
	config_free(&cfg);
}

START_TEST(defaults_match_design)
{
	static const int64_t schedule[] = { 1000, 5000, 15000, 30000, 60000 };
	struct Config c;
	char err[256];

	ck_assert(config_load(&c, NULL, NULL, err, sizeof(err)));
	ck_assert_str_eq(c.database_url, "");
	ck_assert_int_eq(c.database_pool_size, 4);
	ck_assert(c.http_enabled);
	ck_assert_str_eq(c.http_listen, "127.0.0.1:8080");
	ck_assert_str_eq(c.admin_listen, "127.0.0.1:8090");
	ck_assert(config_admin_enabled(&c));
	ck_assert_int_eq(c.http_max_connections, 1024);
	ck_assert_int_eq(c.ingest_batch_size, 256);
	ck_assert_int_eq(c.ingest_batch_wait_ms, 0);
	ck_assert_str_eq(c.authorization_url, "");
	ck_assert_int_eq(c.authorization_timeout_ms, 3000);
	ck_assert_int_eq(c.authorization_concurrency, 64);
	ck_assert_int_eq(c.callback_timeout_ms, 5000);
	ck_assert_int_eq(c.callback_retry_schedule_len, 5);
	ck_assert_mem_eq(c.callback_retry_schedule_ms, schedule, sizeof(schedule));
	ck_assert_ptr_null(c.callback_signing_secret);
	ck_assert_ptr_null(c.callback_previous_signing_secret);
	ck_assert(!c.callback_allow_private_networks);
	ck_assert_int_eq(c.callback_allowed_networks_len, 0);
	ck_assert_int_eq(c.callback_max_retry_after_ms, 5 * 60 * 1000);
	ck_assert_int_eq(c.callback_concurrency, 64);
	ck_assert_int_eq(c.queue_lease_ms, 30000);
	ck_assert_int_eq(c.queue_poll_interval_ms, 1000);
	ck_assert_int_eq(c.queue_max_attempts, 10);
	ck_assert_int_eq(c.queue_retention_ms, 24 * 3600 * 1000);
	ck_assert(c.queue_listen);
	ck_assert_int_eq(c.queue_batch_size, 100);
	ck_assert(c.relay_enabled);
	ck_assert(c.consumers_enabled);
	ck_assert_str_eq(c.transport_kind, "postgres");
	ck_assert_str_eq(c.kafka_bootstrap_servers, "");
	ck_assert_str_eq(c.kafka_topic_prefix, "chargegate.");
	ck_assert_str_eq(c.log_level, "info");
	ck_assert_str_eq(c.log_format, "text");
	config_free(&c);
}
END_TEST

START_TEST(config_defaults_equals_loading_nothing)
{
	struct Config a, b;

	config_defaults(&a);
	ck_assert(config_load(&b, NULL, NULL, NULL, 0));
	ck_assert(config_reload_allowed(&a, &b, NULL, 0));
	ck_assert_str_eq(a.log_level, b.log_level);
	config_free(&a);
	config_free(&b);
}
END_TEST

START_TEST(file_sets_every_type)
{
	static const char text[] =
		"\xef\xbb\xbf# comment\n"
		"; another comment\n"
		"\n"
		"[database]\n"
		"  url = host=/var/run/postgresql dbname=cg  \n"
		"pool_size=8\n"
		"[http]\n"
		"enabled = OFF\n"
		"listen = \"[::1]:9090\"\n"
		"[ingest]\n"
		"batch_wait = 3ms\n"
		"[callback]\r\n"
		"timeout = 250ms\r\n"
		"retry_schedule = 2s , 1m,1h\n"
		"signing_secret = whsec_abc=\n"
		"allow_private_networks = Yes\n"
		"allowed_networks = 10.0.0.0/8, fd00::/8,127.0.0.1, 2001:DB8::/32\n"
		"max_retry_after = 1d\n"
		"[ queue ]\n"
		"listen = 0\n"
		"retention = 0s\n"
		"[transport]\n"
		"kind = KAFKA\n"
		"[kafka]\n"
		"topic_prefix = \"\"\n"
		"[log]\n"
		"level = debug\n"
		"format = json\n";
	static const int64_t schedule[] = { 2000, 60000, 3600000 };
	struct Config c;
	struct TmpConf t;
	char err[512];

	ck_assert_msg(load_text(&c, text, NULL, err, sizeof(err), &t), "%s", err);
	ck_assert_str_eq(c.database_url, "host=/var/run/postgresql dbname=cg");
	ck_assert_int_eq(c.database_pool_size, 8);
	ck_assert(!c.http_enabled);
	ck_assert_str_eq(c.http_listen, "[::1]:9090");
	ck_assert_int_eq(c.ingest_batch_wait_ms, 3);
	ck_assert_int_eq(c.callback_timeout_ms, 250);
	ck_assert_int_eq(c.callback_retry_schedule_len, 3);
	ck_assert_mem_eq(c.callback_retry_schedule_ms, schedule, sizeof(schedule));
	ck_assert_str_eq(c.callback_signing_secret, "whsec_abc=");
	ck_assert(c.callback_allow_private_networks);
	ck_assert_int_eq(c.callback_allowed_networks_len, 4);
	ck_assert_str_eq(c.callback_allowed_networks[0], "10.0.0.0/8");
	ck_assert_str_eq(c.callback_allowed_networks[1], "fd00::/8");
	ck_assert_str_eq(c.callback_allowed_networks[2], "127.0.0.1/32");
	ck_assert_str_eq(c.callback_allowed_networks[3], "2001:db8::/32");
	ck_assert_int_eq(c.callback_max_retry_after_ms, 86400000);
	ck_assert(!c.queue_listen);
	ck_assert_int_eq(c.queue_retention_ms, 0);
	ck_assert_str_eq(c.transport_kind, "kafka");
	ck_assert_str_eq(c.kafka_topic_prefix, "");
	ck_assert_str_eq(c.log_level, "debug");
	ck_assert_str_eq(c.log_format, "json");
	/* untouched keys keep their defaults */
	ck_assert_int_eq(c.queue_lease_ms, 30000);
	config_free(&c);
}
END_TEST

START_TEST(empty_values_clear_lists_and_unset_secrets)
{
	struct Config c;
	struct TmpConf t;
	char err[512];

	ck_assert_msg(load_text(&c, "[callback]\nretry_schedule =\nsigning_secret = \"\"\n", NULL, err,
				sizeof(err), &t), "%s", err);
	ck_assert_int_eq(c.callback_retry_schedule_len, 0);
	ck_assert_ptr_null(c.callback_signing_secret);
	config_free(&c);
}
END_TEST

START_TEST(a_section_may_be_reopened)
{
	struct Config c;
	struct TmpConf t;
	char err[512];

	ck_assert_msg(load_text(&c, "[http]\nlisten = :1\n[log]\nlevel = error\n[http]\nenabled = no\n", NULL, err,
				sizeof(err), &t), "%s", err);
	ck_assert_str_eq(c.http_listen, ":1");
	ck_assert(!c.http_enabled);
	config_free(&c);
}
END_TEST

START_TEST(environment_wins_over_file)
{
	char *env[] = {
		"PATH=/usr/bin",
		"CHARGEGATE_DATABASE_URL=dbname=fromenv",
		"CHARGEGATE_CALLBACK_RETRY_SCHEDULE= 10s,20s ",
		"CHARGEGATE_KAFKA_TOPIC_PREFIX=cg-",
		"CHARGEGATE_CALLBACK_SIGNING_SECRET=whsec_env",
		"CHARGEGATE_QUEUE_LISTEN=false",
		NULL,
	};
	struct Config c;
	struct TmpConf t;
	char err[512];

	ck_assert_msg(load_text(&c, "[database]\nurl = dbname=fromfile\npool_size = 2\n"
				    "[callback]\nretry_schedule = 1s\n", env, err, sizeof(err), &t), "%s", err);
	ck_assert_str_eq(c.database_url, "dbname=fromenv");
	ck_assert_int_eq(c.database_pool_size, 2);
	ck_assert_int_eq(c.callback_retry_schedule_len, 2);
	ck_assert_int_eq(c.callback_retry_schedule_ms[1], 20000);
	ck_assert_str_eq(c.kafka_topic_prefix, "cg-");
	ck_assert_str_eq(c.callback_signing_secret, "whsec_env");
	ck_assert(!c.queue_listen);
	config_free(&c);
}
END_TEST

static void collect_env_key(const char *key, const char *var, size_t varlen, void *arg)
{
	char *out = arg;
	size_t used = strlen(out);

	snprintf(out + used, 512 - used, "%s<%.*s;", key, (int)varlen, var);
}

/* What check-config lists: the keys config_load applies, with their variables, never a value. */
START_TEST(environment_keys_are_listed_without_values)
{
	char *env[] = {
		"PATH=/usr/bin",
		"CHARGEGATE_AUTHORIZATION_URL=http://u:s3cret@authz/",
		"CHARGEGATE_KAFKA_MODULE=/x/kafka.so",
		"CHARGEGATE_SQLDIR=/x/sql",
		"CHARGEGATE_KAFKA_PROPERTY_SECURITY_PROTOCOL=ssl",
		"CHARGEGATE_LOG_LEVEL=debug",
		NULL,
	};
	char out[512] = "";

	config_for_each_env_key(env, collect_env_key, out);
	ck_assert_str_eq(out, "authorization.url<CHARGEGATE_AUTHORIZATION_URL;"
			      "kafka.property.security.protocol<CHARGEGATE_KAFKA_PROPERTY_SECURITY_PROTOCOL;"
			      "log.level<CHARGEGATE_LOG_LEVEL;");
	out[0] = '\0';
	config_for_each_env_key(NULL, collect_env_key, out);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(environment_outside_known_sections_is_ignored)
{
	char *env[] = { "CHARGEGATE_CONFIG=/etc/x", "CHARGEGATE_TEST_SLOW=1", "CHARGEGATE_=1",
			"CHARGEGATE_HTTP=1", "chargegate_http_listen=x", NULL };
	struct Config c;
	char err[256];

	ck_assert_msg(config_load(&c, NULL, env, err, sizeof(err)), "%s", err);
	ck_assert_str_eq(c.http_listen, "127.0.0.1:8080");
	config_free(&c);
}
END_TEST

START_TEST(environment_unknown_key_in_known_section_is_an_error)
{
	char *env[] = { "CHARGEGATE_HTTP_PORT=80", NULL };
	char *lower[] = { "CHARGEGATE_HTTP_listen=:80", NULL };

	expect_env_error(env, "environment variable CHARGEGATE_HTTP_PORT: unknown configuration key");
	expect_env_error(lower, "environment variable CHARGEGATE_HTTP_listen: unknown configuration key");
}
END_TEST

START_TEST(environment_malformed_value_is_an_error)
{
	char *env[] = { "CHARGEGATE_CALLBACK_TIMEOUT=5x", NULL };
	char *pool[] = { "CHARGEGATE_DATABASE_POOL_SIZE=0", NULL };

	expect_env_error(env, "environment variable CHARGEGATE_CALLBACK_TIMEOUT: invalid duration \"5x\" for "
			      "callback.timeout: expected a number with unit ms, s, m, h or d");
	expect_env_error(pool, "environment variable CHARGEGATE_DATABASE_POOL_SIZE: invalid integer \"0\" for "
			       "database.pool_size: must be between 1 and 64");
}
END_TEST

START_TEST(environment_error_after_good_file_leaves_defaults)
{
	char *env[] = { "CHARGEGATE_LOG_LEVEL=loud", NULL };
	struct Config c;
	struct TmpConf t;
	char err[512];

	ck_assert(!load_text(&c, "[http]\nlisten = :1\n", env, err, sizeof(err), &t));
	ck_assert_str_eq(err, "environment variable CHARGEGATE_LOG_LEVEL: invalid value \"loud\" for log.level: "
			      "expected one of error, warning, info, debug");
	ck_assert_str_eq(c.http_listen, "127.0.0.1:8080");
	config_free(&c);
}
END_TEST

START_TEST(admin_listen_off_or_empty_disables_the_status_page)
{
	struct Config c;
	struct TmpConf t;
	char err[512];
	char *env[] = { "CHARGEGATE_ADMIN_LISTEN=", NULL };

	ck_assert_msg(load_text(&c, "[admin]\nlisten = off\n", NULL, err, sizeof(err), &t), "%s", err);
	ck_assert(!config_admin_enabled(&c));
	config_free(&c);
	ck_assert_msg(load_text(&c, "[admin]\nlisten = [::1]:9191\n", env, err, sizeof(err), &t), "%s", err);
	ck_assert(!config_admin_enabled(&c));
	config_free(&c);
	ck_assert_msg(load_text(&c, "[admin]\nlisten = [::1]:9191\n", NULL, err, sizeof(err), &t), "%s", err);
	ck_assert(config_admin_enabled(&c));
	ck_assert_str_eq(c.admin_listen, "[::1]:9191");
	config_free(&c);
}
END_TEST

/* DESIGN §6: never the API's address unless the operator sets it so; then the API's listener serves the page */
START_TEST(admin_listen_may_be_the_api_address_when_set_so)
{
	struct Config c;
	struct TmpConf t;
	char err[512];
	char *env[] = { "CHARGEGATE_ADMIN_LISTEN=127.0.0.1:8080", NULL };

	ck_assert_msg(config_load(&c, NULL, env, err, sizeof(err)), "%s", err);
	ck_assert_str_eq(c.admin_listen, "127.0.0.1:8080");
	ck_assert_str_eq(c.http_listen, "127.0.0.1:8080");
	config_free(&c);
	ck_assert_msg(load_text(&c, "[http]\nenabled = false\n", env, err, sizeof(err), &t), "%s", err);
	config_free(&c);
}
END_TEST

START_TEST(missing_file_names_file_and_cause)
{
	struct Config c;
	char err[512];

	ck_assert(!config_load(&c, "/nonexistent/chargegate.conf", NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "could not open config file \"/nonexistent/chargegate.conf\": No such file or directory");
	config_free(&c);
}
END_TEST

START_TEST(unknown_key_is_an_error)
{
	expect_error("[http]\n\nfoo = 1\n", 3, "unknown key \"foo\" in section [http]");
	expect_error("[http]\nurl = x\n", 2, "unknown key \"url\" in section [http]");
}
END_TEST

START_TEST(unknown_section_is_an_error)
{
	expect_error("# c\n[server]\nlisten = x\n", 2, "unknown section [server]");
	expect_error("[HTTP]\n", 1, "unknown section [HTTP]");
}
END_TEST

START_TEST(key_outside_section_is_an_error)
{
	expect_error("listen = :80\n[http]\n", 1, "key \"listen\" outside of any section");
}
END_TEST

START_TEST(duplicate_key_is_an_error)
{
	expect_error("[callback]\ntimeout = 1s\n[http]\n[callback]\ntimeout = 2s\n", 5,
		     "duplicate key \"timeout\" in section [callback]: already set on line 2");
}
END_TEST

START_TEST(same_key_name_in_two_sections_is_not_a_duplicate)
{
	struct Config c;
	struct TmpConf t;
	char err[512];

	ck_assert_msg(load_text(&c, "[authorization]\ntimeout = 1s\n[callback]\ntimeout = 2s\n", NULL, err,
				sizeof(err), &t), "%s", err);
	ck_assert_int_eq(c.authorization_timeout_ms, 1000);
	ck_assert_int_eq(c.callback_timeout_ms, 2000);
	config_free(&c);
}
END_TEST

START_TEST(malformed_lines_are_errors)
{
	expect_error("[http]\nlisten\n", 2, "malformed line \"listen\": expected \"key = value\" or \"[section]\"");
	/* a secret written the YAML way is not echoed back */
	expect_error("[callback]\nsigning_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", 2,
		     "malformed line \"signing_secret ...\": expected \"key = value\" or \"[section]\"");
	expect_error("[http]\n= x\n", 2, "malformed line: missing key before \"=\"");
	expect_error("[http\n", 1, "malformed section header \"[http\": expected \"[name]\"");
	expect_error("[http]\nlisten = \"x\n", 2, "unterminated quoted value");
	expect_error("[http]\nlisten = \"\n", 2, "unterminated quoted value");
}
END_TEST

START_TEST(bad_duration_is_an_error)
{
	expect_error("[callback]\ntimeout = 5x\n", 2,
		     "invalid duration \"5x\" for callback.timeout: expected a number with unit ms, s, m, h or d");
	expect_error("[callback]\ntimeout = 5\n", 2,
		     "invalid duration \"5\" for callback.timeout: expected a number with unit ms, s, m, h or d");
	expect_error("[callback]\ntimeout = -5s\n", 2, "invalid duration \"-5s\" for callback.timeout: must not be negative");
	expect_error("[callback]\ntimeout = 0s\n", 2,
		     "invalid duration \"0s\" for callback.timeout: must be between 1ms and 1h");
	expect_error("[ingest]\nbatch_wait = 2s\n", 2,
		     "invalid duration \"2s\" for ingest.batch_wait: must be between 0ms and 1s");
	expect_error("[queue]\nlease = 99999999999999999999d\n", 2,
		     "invalid duration \"99999999999999999999d\" for queue.lease: must be between 1ms and 1d");
}
END_TEST

START_TEST(bad_bool_is_an_error)
{
	expect_error("[http]\nenabled = maybe\n", 2,
		     "invalid boolean \"maybe\" for http.enabled: expected true, false, on, off, yes, no, 1 or 0");
}
END_TEST

START_TEST(bad_int_is_an_error)
{
	expect_error("[database]\npool_size = four\n", 2,
		     "invalid integer \"four\" for database.pool_size: expected a whole number");
	expect_error("[database]\npool_size = 4k\n", 2,
		     "invalid integer \"4k\" for database.pool_size: expected a whole number");
	expect_error("[database]\npool_size =\n", 2,
		     "invalid integer \"\" for database.pool_size: expected a whole number");
	expect_error("[database]\npool_size = 65\n", 2,
		     "invalid integer \"65\" for database.pool_size: must be between 1 and 64");
	expect_error("[ingest]\nbatch_size = 99999999999999999999999\n", 2,
		     "invalid integer \"99999999999999999999999\" for ingest.batch_size: must be between 1 and 10000");
}
END_TEST

START_TEST(bad_enum_is_an_error)
{
	expect_error("[transport]\nkind = rabbitmq\n", 2,
		     "invalid value \"rabbitmq\" for transport.kind: expected one of postgres, kafka");
	expect_error("[log]\nformat = xml\n", 2, "invalid value \"xml\" for log.format: expected one of text, json");
}
END_TEST

START_TEST(bad_cidr_is_an_error)
{
	expect_error("[callback]\nallowed_networks = 10.0.0.0/8, example.com\n", 2,
		     "invalid network \"example.com\" for callback.allowed_networks: "
		     "expected an IPv4 or IPv6 subnet such as 192.168.0.0/16 or fd00::/8");
	expect_error("[callback]\nallowed_networks = 10.0.0.0/33\n", 2,
		     "invalid network \"10.0.0.0/33\" for callback.allowed_networks: "
		     "prefix length must be a number between 0 and 32");
	expect_error("[callback]\nallowed_networks = fd00::/129\n", 2,
		     "invalid network \"fd00::/129\" for callback.allowed_networks: "
		     "prefix length must be a number between 0 and 128");
	expect_error("[callback]\nallowed_networks = 10.0.0.0/\n", 2,
		     "invalid network \"10.0.0.0/\" for callback.allowed_networks: "
		     "prefix length must be a number between 0 and 32");
	expect_error("[callback]\nallowed_networks = 192.168.1.7/24\n", 2,
		     "invalid network \"192.168.1.7/24\" for callback.allowed_networks: "
		     "address has bits set after the /24 prefix (did you mean 192.168.1.0/24?)");
}
END_TEST

START_TEST(bad_lists_are_errors)
{
	expect_error("[callback]\nretry_schedule = 1s,,5s\n", 2,
		     "invalid list \"1s,,5s\" for callback.retry_schedule: element 2 is empty");
	expect_error("[callback]\nretry_schedule = 1s,\n", 2,
		     "invalid list \"1s,\" for callback.retry_schedule: element 2 is empty");
	expect_error("[callback]\nretry_schedule = 1s, 5\n", 2,
		     "invalid duration \"5\" for callback.retry_schedule: expected a number with unit ms, s, m, h or d");
	expect_error("[callback]\nretry_schedule = 8d\n", 2,
		     "invalid duration \"8d\" for callback.retry_schedule: must be between 0ms and 7d");
}
END_TEST

/* The value is cut short in the message; check the stable parts. */
START_TEST(list_longer_than_capacity_is_an_error)
{
	char text[1024] = "[callback]\nretry_schedule = 1s";
	struct Config c;
	struct TmpConf t;
	char err[1024];

	for (int i = 1; i <= CONFIG_MAX_SCHEDULE; i++)
		strcat(text, ",1s");
	strcat(text, "\n");
	ck_assert(!load_text(&c, text, NULL, err, sizeof(err), &t));
	ck_assert_msg(strstr(err, ":2: invalid list \"1s,1s,") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "...\" for callback.retry_schedule: more than 32 elements") != NULL, "%s", err);
	config_free(&c);
}
END_TEST

START_TEST(list_at_capacity_is_accepted)
{
	char text[1024] = "[callback]\nretry_schedule = 1s";
	struct Config c;
	struct TmpConf t;
	char err[512];

	for (int i = 1; i < CONFIG_MAX_SCHEDULE; i++)
		strcat(text, ",2s");
	strcat(text, "\n");
	ck_assert_msg(load_text(&c, text, NULL, err, sizeof(err), &t), "%s", err);
	ck_assert_int_eq(c.callback_retry_schedule_len, CONFIG_MAX_SCHEDULE);
	ck_assert_int_eq(c.callback_retry_schedule_ms[CONFIG_MAX_SCHEDULE - 1], 2000);
	config_free(&c);
}
END_TEST

START_TEST(failure_leaves_config_freeable_and_free_is_idempotent)
{
	struct Config c;
	struct TmpConf t;
	char err[512];

	ck_assert(!load_text(&c, "[callback]\nallowed_networks = 10.0.0.0/8, ::/0\nsigning_secret = s\n"
				 "[log]\nlevel = loud\n", NULL, err, sizeof(err), &t));
	ck_assert_int_eq(c.callback_allowed_networks_len, 0);
	ck_assert_ptr_null(c.callback_signing_secret);
	config_free(&c);
	config_free(&c);
	ck_assert_ptr_null(c.http_listen);
	ck_assert_int_eq(c.callback_allowed_networks_len, 0);
}
END_TEST

START_TEST(failure_url_is_an_http_url_or_unset)
{
	struct Config c;
	struct TmpConf t;
	char err[512];

	ck_assert_msg(load_text(&c, "[callback]\nfailure_url = https://ops.example.com/failed\n", NULL, err,
				sizeof(err), &t), "%s", err);
	ck_assert_str_eq(c.callback_failure_url, "https://ops.example.com/failed");
	config_free(&c);
	ck_assert_msg(load_text(&c, "[callback]\nfailure_url =\n", NULL, err, sizeof(err), &t), "%s", err);
	ck_assert_ptr_null(c.callback_failure_url);
	config_free(&c);
	expect_error("[callback]\n\nfailure_url = ftp://ops.example.com/failed\n", 3,
		     "invalid URL \"ftp://ops.example.com/failed\" for callback.failure_url: must be an absolute "
		     "http or https URL");
	expect_error("[callback]\nfailure_url = /failed\n", 2,
		     "invalid URL \"/failed\" for callback.failure_url: must be an absolute http or https URL");
}
END_TEST

START_TEST(error_message_sanitizes_value)
{
	expect_error("[http]\nenabled = \x01yes\n", 2,
		     "invalid boolean \"\\x01yes\" for http.enabled: expected true, false, on, off, yes, no, 1 or 0");
}
END_TEST

START_TEST(parse_duration_units_and_limits)
{
	int64_t ms = -1;

	ck_assert(config_parse_duration("250ms", &ms) && ms == 250);
	ck_assert(config_parse_duration("5s", &ms) && ms == 5000);
	ck_assert(config_parse_duration("2m", &ms) && ms == 120000);
	ck_assert(config_parse_duration("1h", &ms) && ms == 3600000);
	ck_assert(config_parse_duration("1d", &ms) && ms == 86400000);
	ck_assert(config_parse_duration("0ms", &ms) && ms == 0);
	ms = -1;
	ck_assert(config_parse_duration("0", &ms) && ms == 0);	/* zero alone needs no unit */
	ck_assert(config_parse_duration("000", &ms) && ms == 0);
	ck_assert(config_parse_duration("9223372036854775807ms", &ms) && ms == INT64_MAX);
	ck_assert(!config_parse_duration("9223372036854775808ms", &ms));
	ck_assert(!config_parse_duration("106751991167301d", &ms));
	ck_assert(!config_parse_duration("", &ms));
	ck_assert(!config_parse_duration("s", &ms));
	ck_assert(!config_parse_duration("5", &ms));
	ck_assert(!config_parse_duration("-5s", &ms));
	ck_assert(!config_parse_duration("+5s", &ms));
	ck_assert(!config_parse_duration("5 s", &ms));
	ck_assert(!config_parse_duration("5S", &ms));
	ck_assert(!config_parse_duration("1.5s", &ms));
	ck_assert(!config_parse_duration("5sec", &ms));
}
END_TEST

START_TEST(parse_bool_spellings)
{
	static const char *const yes[] = { "true", "TRUE", "on", "On", "yes", "1" };
	static const char *const no[] = { "false", "False", "off", "OFF", "no", "0" };
	bool b;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		ck_assert_msg(config_parse_bool(yes[i], &b) && b, "%s", yes[i]);
		ck_assert_msg(config_parse_bool(no[i], &b) && !b, "%s", no[i]);
	}
	ck_assert(!config_parse_bool("", &b));
	ck_assert(!config_parse_bool("2", &b));
	ck_assert(!config_parse_bool("tru", &b));
}
END_TEST

/* The --help-config output is itself a valid file that yields the defaults. */
START_TEST(sample_loads_to_the_defaults)
{
	struct Config loaded, defaults;
	struct TmpConf t;
	char err[512];
	FILE *f;

	tmpconf_write(&t, "");
	f = fopen(t.path, "w");
	ck_assert_ptr_nonnull(f);
	config_print_sample(f);
	fclose(f);
	ck_assert_msg(config_load(&loaded, t.path, NULL, err, sizeof(err)), "%s", err);
	unlink(t.path);
	config_defaults(&defaults);
	ck_assert(config_reload_allowed(&defaults, &loaded, err, sizeof(err)));
	ck_assert_int_eq(loaded.callback_retry_schedule_len, 5);
	ck_assert_int_eq(loaded.ingest_batch_wait_ms, 0);
	config_free(&loaded);
	config_free(&defaults);
}
END_TEST

struct KeyCount {
	int keys;
	int secrets;
	bool sample_mentions_all;
	char sample[16384];
};

static void count_key(const char *section, const char *key, const char *deflt, const char *help, void *arg)
{
	struct KeyCount *kc = arg;
	char name[128], line[128];

	kc->keys++;
	kc->secrets += deflt == NULL;
	snprintf(name, sizeof(name), "%s.%s", section, key);
	ck_assert_msg(config_key_exists(name), "%s", name);
	ck_assert_msg(help && *help, "%s has no help", name);
	snprintf(line, sizeof(line), "\n%s%s =", deflt ? "" : "#", key);
	if (!strstr(kc->sample, line))
		kc->sample_mentions_all = false;
}

START_TEST(key_table_is_introspectable)
{
	static const char *const design_keys[] = {
		"database.url", "http.listen", "authorization.url", "authorization.timeout",
		"callback.timeout", "callback.retry_schedule", "callback.signing_secret",
		"callback.allow_private_networks", "queue.lease", "queue.poll_interval",
		"queue.max_attempts", "queue.retention", "transport.kind", "kafka.bootstrap_servers",
		"kafka.topic_prefix", "log.level", "log.format", "admin.listen",
	};
	struct KeyCount kc = { .sample_mentions_all = true };
	FILE *f = fmemopen(kc.sample, sizeof(kc.sample) - 1, "w");

	ck_assert_ptr_nonnull(f);
	config_print_sample(f);
	fclose(f);
	config_for_each_key(count_key, &kc);
	ck_assert_int_ge(kc.keys, 31);
	ck_assert_int_eq(kc.secrets, 3);	/* unset by default: the two secrets and callback.failure_url */
	ck_assert(kc.sample_mentions_all);
	for (size_t i = 0; i < sizeof(design_keys) / sizeof(design_keys[0]); i++)
		ck_assert_msg(config_key_exists(design_keys[i]), "DESIGN §6 key %s missing", design_keys[i]);
	ck_assert(config_key_exists("callback.allowed_networks"));
	ck_assert(!config_key_exists("callback.nope"));
	ck_assert(!config_key_exists("nope.url"));
	ck_assert(!config_key_exists("database"));
	ck_assert(!config_key_exists("databas.url"));
	ck_assert(!config_key_exists(".url"));
}
END_TEST

START_TEST(reload_rejects_changes_that_need_a_restart)
{
	struct Config old, next;
	char err[256];

	config_defaults(&old);
	config_defaults(&next);
	next.callback_timeout_ms = 1;
	free(next.log_level);
	next.log_level = strdup("debug");
	ck_assert(config_reload_allowed(&old, &next, err, sizeof(err)));
	free(next.database_url);
	next.database_url = strdup("dbname=other");
	ck_assert(!config_reload_allowed(&old, &next, err, sizeof(err)));
	ck_assert_str_eq(err, "database.url cannot be changed by a reload: it needs a restart");
	config_free(&old);
	config_free(&next);
}
END_TEST

/* packaging/chargegate.conf, installed for operators, must load cleanly. */
START_TEST(packaged_config_loads)
{
	const char *top = getenv("top_srcdir");
	char path[1024];
	struct Config c;
	char err[512];

	if (top && *top) {
		snprintf(path, sizeof(path), "%s/packaging/chargegate.conf", top);
	} else {
		const char *me = __FILE__;
		const char *tail = strstr(me, "tests/unit/test_config.c");

		snprintf(path, sizeof(path), "%.*spackaging/chargegate.conf", (int)(tail ? tail - me : 0), me);
	}
	ck_assert_msg(config_load(&c, path, NULL, err, sizeof(err)), "%s", err);
	ck_assert_str_eq(c.http_listen, "127.0.0.1:8080");
	ck_assert_ptr_null(c.callback_signing_secret);
	config_free(&c);
}
END_TEST

/* kafka.property.NAME: passed through to librdkafka (checked there, at start). */
START_TEST(kafka_properties_pass_through)
{
	char *const envp[] = { "CHARGEGATE_KAFKA_PROPERTY_SECURITY_PROTOCOL= SSL ", "CHARGEGATE_KAFKA_PROPERTY_LINGER_MS=7",
			       "CHARGEGATE_KAFKA_MODULE=/elsewhere/kafka.so", NULL };
	struct Config c;
	struct TmpConf t;
	char err[512];

	ck_assert_msg(load_text(&c,
				"[kafka]\n"
				"property.security.protocol = SASL_SSL\n"
				"property.sasl.mechanisms = \"PLAIN\"\n",
				envp, err, sizeof(err), &t),
		      "%s", err);
	ck_assert_int_eq(c.kafka_properties_len, 3);
	ck_assert_str_eq(c.kafka_property_names[0], "security.protocol");
	ck_assert_str_eq(c.kafka_property_values[0], "SSL");	/* the environment wins */
	ck_assert_str_eq(c.kafka_property_names[1], "sasl.mechanisms");
	ck_assert_str_eq(c.kafka_property_values[1], "PLAIN");
	ck_assert_str_eq(c.kafka_property_names[2], "linger.ms");
	ck_assert_str_eq(c.kafka_property_values[2], "7");
	config_free(&c);
	ck_assert_int_eq(c.kafka_properties_len, 0);
}
END_TEST

START_TEST(kafka_property_errors)
{
	char *const bad_env[] = { "CHARGEGATE_KAFKA_PROPERTY_=x", NULL };

	expect_error("[kafka]\nproperty.acks = all\nproperty.acks = 1\n", 3,
		     "duplicate key \"property.acks\" in section [kafka]");
	expect_error("[kafka]\nproperty.a b = 1\n", 2, "invalid librdkafka property name \"a b\" in kafka.property.NAME");
	expect_error("[kafka]\nproperty. = 1\n", 2, "invalid librdkafka property name \"\" in kafka.property.NAME");
	expect_error("[queue]\nproperty.acks = 1\n", 2, "unknown key \"property.acks\" in section [queue]");
	expect_env_error(bad_env, "environment variable CHARGEGATE_KAFKA_PROPERTY_: unknown configuration key");
}
END_TEST

START_TEST(kafka_properties_need_a_restart)
{
	char *const env_a[] = { "CHARGEGATE_KAFKA_PROPERTY_LINGER_MS=5", NULL };
	char *const env_b[] = { "CHARGEGATE_KAFKA_PROPERTY_LINGER_MS=50", NULL };
	struct Config a, b;
	char err[512];

	ck_assert(config_load(&a, NULL, env_a, err, sizeof(err)));
	ck_assert(config_load(&b, NULL, env_a, err, sizeof(err)));
	ck_assert(config_reload_allowed(&a, &b, err, sizeof(err)));
	config_free(&b);
	ck_assert(config_load(&b, NULL, env_b, err, sizeof(err)));
	ck_assert(!config_reload_allowed(&a, &b, err, sizeof(err)));
	ck_assert_str_eq(err, "kafka.property.* cannot be changed by a reload: it needs a restart");
	config_free(&a);
	config_free(&b);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *defaults = tcase_create("defaults");
	TCase *parsing = tcase_create("parsing");
	TCase *env = tcase_create("environment");
	TCase *errors = tcase_create("errors");
	TCase *api = tcase_create("api");

	tcase_add_test(defaults, defaults_match_design);
	tcase_add_test(defaults, config_defaults_equals_loading_nothing);
	tcase_add_test(defaults, sample_loads_to_the_defaults);
	tcase_add_test(defaults, packaged_config_loads);
	suite_add_tcase(s, defaults);

	tcase_add_test(parsing, file_sets_every_type);
	tcase_add_test(parsing, empty_values_clear_lists_and_unset_secrets);
	tcase_add_test(parsing, a_section_may_be_reopened);
	tcase_add_test(parsing, same_key_name_in_two_sections_is_not_a_duplicate);
	tcase_add_test(parsing, list_at_capacity_is_accepted);
	tcase_add_test(parsing, parse_duration_units_and_limits);
	tcase_add_test(parsing, parse_bool_spellings);
	suite_add_tcase(s, parsing);

	tcase_add_test(env, environment_wins_over_file);
	tcase_add_test(env, environment_outside_known_sections_is_ignored);
	tcase_add_test(env, environment_unknown_key_in_known_section_is_an_error);
	tcase_add_test(env, environment_malformed_value_is_an_error);
	tcase_add_test(env, environment_error_after_good_file_leaves_defaults);
	suite_add_tcase(s, env);

	tcase_add_test(errors, missing_file_names_file_and_cause);
	tcase_add_test(errors, admin_listen_off_or_empty_disables_the_status_page);
	tcase_add_test(errors, admin_listen_may_be_the_api_address_when_set_so);
	tcase_add_test(errors, unknown_key_is_an_error);
	tcase_add_test(errors, unknown_section_is_an_error);
	tcase_add_test(errors, key_outside_section_is_an_error);
	tcase_add_test(errors, duplicate_key_is_an_error);
	tcase_add_test(errors, malformed_lines_are_errors);
	tcase_add_test(errors, bad_duration_is_an_error);
	tcase_add_test(errors, bad_bool_is_an_error);
	tcase_add_test(errors, failure_url_is_an_http_url_or_unset);
	tcase_add_test(errors, bad_int_is_an_error);
	tcase_add_test(errors, bad_enum_is_an_error);
	tcase_add_test(errors, bad_cidr_is_an_error);
	tcase_add_test(errors, bad_lists_are_errors);
	tcase_add_test(errors, list_longer_than_capacity_is_an_error);
	tcase_add_test(errors, failure_leaves_config_freeable_and_free_is_idempotent);
	tcase_add_test(errors, error_message_sanitizes_value);
	suite_add_tcase(s, errors);

	tcase_add_test(api, key_table_is_introspectable);
	tcase_add_test(api, reload_rejects_changes_that_need_a_restart);
	tcase_add_test(api, kafka_properties_pass_through);
	tcase_add_test(api, environment_keys_are_listed_without_values);
	tcase_add_test(api, kafka_property_errors);
	tcase_add_test(api, kafka_properties_need_a_restart);
	suite_add_tcase(s, api);
	return s;
}

int main(void)
{
	return unit_run(config_suite());
}
