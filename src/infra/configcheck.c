#include "infra/configcheck.h"

#include <stdio.h>

#include "infra/addrpolicy.h"
#include "infra/httpserver.h"
#include "infra/signing.h"

static bool check_networks(const struct Config *cfg, char *err, size_t errsize)
{
	struct AddrPolicy *p = addrpolicy_new(cfg->callback_allow_private_networks);
	const char *key = "callback.allowed_networks";
	char reason[256];
	bool ok = true;

	for (int i = 0; ok && i < cfg->callback_allowed_networks_len; i++)
		ok = addrpolicy_allow_network(p, cfg->callback_allowed_networks[i], reason, sizeof(reason));
	if (ok)
		key = "callback.denied_networks";
	for (int i = 0; ok && i < cfg->callback_denied_networks_len; i++)
		ok = addrpolicy_deny_network(p, cfg->callback_denied_networks[i], reason, sizeof(reason));
	addrpolicy_free(p);
	if (!ok)
		snprintf(err, errsize, "%s: %s", key, reason);
	return ok;
}

static bool check_secret(const char *key, const char *secret, char *err, size_t errsize)
{
	char reason[256];
	struct SigningKey *k;

	if (!secret)
		return true;
	k = signing_key_new(secret, reason, sizeof(reason));
	if (!k) {
		snprintf(err, errsize, "%s: %s", key, reason);
		return false;
	}
	signing_key_free(k);
	return true;
}

bool config_check_startup(const struct Config *cfg, char *err, size_t errsize)
{
	char reason[256];

	if (!cfg->database_url || !*cfg->database_url) {
		snprintf(err, errsize, "database.url is not set: set it in the configuration file or in "
				       "CHARGEGATE_DATABASE_URL");
		return false;
	}
	if (cfg->consumers_enabled && (!cfg->authorization_url || !*cfg->authorization_url)) {
		snprintf(err, errsize, "authorization.url is not set but consumers are enabled: set it "
				       "(CHARGEGATE_AUTHORIZATION_URL), or set consumers.enabled = false on a host "
				       "that only accepts requests");
		return false;
	}
	if (config_admin_enabled(cfg) && !httpserver_listen_valid(cfg->admin_listen, reason, sizeof(reason))) {
		snprintf(err, errsize, "admin.listen: %s", reason);
		return false;
	}
	return check_networks(cfg, err, errsize) &&
	       check_secret("callback.signing_secret", cfg->callback_signing_secret, err, errsize) &&
	       check_secret("callback.previous_signing_secret", cfg->callback_previous_signing_secret, err, errsize);
}
