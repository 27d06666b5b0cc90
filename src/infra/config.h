/*
 * chargegate.conf: an INI file plus CHARGEGATE_<SECTION>_<KEY> environment
 * overrides, parsed through one table of keys (config.c) that also drives
 * --help-config and the documentation checks.
 */
#ifndef CHARGEGATE_CONFIG_H
#define CHARGEGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_SCHEDULE 32
#define CONFIG_MAX_NETWORKS 32
#define CONFIG_MAX_KAFKA_PROPERTIES 64

struct Config {
	/* [database] */
	char *database_url;
	int database_pool_size;
	int64_t database_query_timeout_ms;
	/* [http] */
	bool http_enabled;
	char *http_listen;
	int http_max_connections;
	int64_t http_request_timeout_ms;
	char *http_api_keys;		/* auto | required | off */
	/* [admin]: the operators' status page */
	char *admin_listen;	/* "off" or empty: none */
	/* [ingest]: group commit of accepted requests */
	int ingest_batch_size;
	int64_t ingest_batch_wait_ms;
	/* [authorization] */
	char *authorization_url;
	int64_t authorization_timeout_ms;
	int authorization_concurrency;
	/* [callback] */
	int64_t callback_timeout_ms;
	int64_t callback_retry_schedule_ms[CONFIG_MAX_SCHEDULE];
	int callback_retry_schedule_len;
	char *callback_signing_secret;
	char *callback_previous_signing_secret;
	bool callback_allow_private_networks;
	char *callback_allowed_networks[CONFIG_MAX_NETWORKS];
	int callback_allowed_networks_len;
	char *callback_denied_networks[CONFIG_MAX_NETWORKS];
	int callback_denied_networks_len;
	int64_t callback_max_retry_after_ms;
	int callback_concurrency;
	int callback_per_destination_concurrency;
	int callback_circuit_failures;
	int64_t callback_circuit_cooldown_ms;
	char *callback_failure_url;	/* NULL: no failure notifications */
	/* [queue] */
	int64_t queue_lease_ms;
	int64_t queue_poll_interval_ms;
	int queue_max_attempts;
	int64_t queue_retention_ms;
	bool queue_listen;
	int queue_batch_size;
	/* [relay] / [consumers]: role switches */
	bool relay_enabled;
	bool consumers_enabled;
	/* [request] / [retention] */
	int64_t request_retention_ms;
	bool retention_enabled;
	/* [transport] */
	char *transport_kind;
	/* [kafka] */
	char *kafka_bootstrap_servers;
	char *kafka_topic_prefix;
	/* kafka.property.NAME = VALUE (CHARGEGATE_KAFKA_PROPERTY_NAME): librdkafka's NAME */
	char *kafka_property_names[CONFIG_MAX_KAFKA_PROPERTIES];
	char *kafka_property_values[CONFIG_MAX_KAFKA_PROPERTIES];
	int kafka_properties_len;
	/* [log] */
	char *log_level;
	char *log_format;
};

/* Fill cfg with every key's default.  Free with config_free(). */
void config_defaults(struct Config *cfg);

/*
 * Load path (NULL: defaults only), then apply environment overrides from
 * envp (NULL-terminated "NAME=value" strings; pass environ).  On error
 * returns false and writes "FILE:LINE: reason" (or "environment variable
 * NAME: reason") into err; cfg is then left with defaults and must still
 * be freed.
 */
bool config_load(struct Config *cfg, const char *path, char *const *envp, char *err, size_t errsize);

void config_free(struct Config *cfg);

/*
 * Call cb for each variable of envp that config_load applies, with the key
 * it sets ("section.key") and its name (varlen bytes of var); never its
 * value, which may be a secret.
 */
void config_for_each_env_key(char *const *envp, void (*cb)(const char *key, const char *var, size_t varlen, void *arg),
			     void *arg);

/* Is the status page on (admin.listen neither "off" nor empty)? */
bool config_admin_enabled(const struct Config *cfg);

/* Parse "250ms", "5s", "2m", "1h" (also "1d") into milliseconds. */
bool config_parse_duration(const char *s, int64_t *out_ms);
/* "true/false/on/off/yes/no/1/0" */
bool config_parse_bool(const char *s, bool *out);

/* Print every key with its default and help, as a sample config file. */
void config_print_sample(FILE *out);

/*
 * SIGHUP: false (reason in err) when next differs from old in a key that
 * is not reloadable, e.g. "database.url cannot be changed by a reload: ...".
 */
bool config_reload_allowed(const struct Config *old, const struct Config *next, char *err, size_t errsize);

/* Is "section.key" a configuration key? */
bool config_key_exists(const char *section_dot_key);

/* Call cb for every key in table order; deflt is NULL for unset secrets. */
void config_for_each_key(void (*cb)(const char *section, const char *key, const char *deflt,
				    const char *help, void *arg),
			 void *arg);

#endif
