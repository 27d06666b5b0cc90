#include "infra/configcheck.h"

#include <stdio.h>
#include <string.h>

#include "infra/addrpolicy.h"
#include "infra/httpserver.h"
#include "infra/signing.h"

static bool add_networks(struct AddrPolicy *p, const struct Config *cfg, char *err, size_t errsize)
{
	char reason[256];

	for (int i = 0; i < cfg->callback_allowed_networks_len; i++) {
		if (!addrpolicy_allow_network(p, cfg->callback_allowed_networks[i], reason, sizeof(reason))) {
			snprintf(err, errsize, "callback.allowed_networks: %s", reason);
			return false;
		}
	}
	for (int i = 0; i < cfg->callback_denied_networks_len; i++) {
		if (!addrpolicy_deny_network(p, cfg->callback_denied_networks[i], reason, sizeof(reason))) {
			snprintf(err, errsize, "callback.denied_networks: %s", reason);
			return false;
		}
	}
	return true;
}

/* *out stays NULL when secret is unset; false with err when it does not parse. */
static bool load_secret(const char *key, const char *secret, struct SigningKey **out, char *err, size_t errsize)
{
	char reason[256];

	if (!secret)
		return true;
	*out = signing_key_new(secret, reason, sizeof(reason));
	if (!*out)
		snprintf(err, errsize, "%s: %s", key, reason);
	return *out != NULL;
}

bool callback_policy_build(const struct Config *cfg, struct CallbackPolicy *out, char *err, size_t errsize)
{
	struct CallbackPolicy p = { addrpolicy_new(cfg->callback_allow_private_networks), NULL, NULL };

	if (add_networks(p.policy, cfg, err, errsize) &&
	    load_secret("callback.signing_secret", cfg->callback_signing_secret, &p.key, err, errsize) &&
	    load_secret("callback.previous_signing_secret", cfg->callback_previous_signing_secret, &p.previous_key,
			err, errsize)) {
		*out = p;
		return true;
	}
	callback_policy_free(&p);
	return false;
}

void callback_policy_free(struct CallbackPolicy *p)
{
	addrpolicy_free(p->policy);
	signing_key_free(p->key);
	signing_key_free(p->previous_key);
	memset(p, 0, sizeof(*p));
}

bool config_check_startup(const struct Config *cfg, char *err, size_t errsize)
{
	struct CallbackPolicy cb;
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
	/* the sender's policy, built as the daemon builds it, then dropped */
	if (!callback_policy_build(cfg, &cb, err, errsize))
		return false;
	callback_policy_free(&cb);
	return true;
}
