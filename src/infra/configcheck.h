/*
 * What config_load cannot check by itself: rules across keys, and values
 * that only their own module can parse (callback networks, signing
 * secrets).  The daemon refuses to start on these, and chargegatectl
 * check-config reports them the same way, so a file that passes the check
 * does not fail at start for a reason the file holds.  (Whether the Kafka
 * module of transport.kind = kafka can be loaded is asked of src/kafka/ by
 * both programs: infra cannot see it.)
 */
#ifndef CHARGEGATE_CONFIGCHECK_H
#define CHARGEGATE_CONFIGCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "infra/config.h"

struct AddrPolicy;
struct SigningKey;

/* What the callback sender reads (DESIGN §5): rebuilt on reload. */
struct CallbackPolicy {
	struct AddrPolicy *policy;
	struct SigningKey *key, *previous_key;
};

/* Builds it from cfg; false with err naming the key and the reason. */
bool callback_policy_build(const struct Config *cfg, struct CallbackPolicy *out, char *err, size_t errsize);
void callback_policy_free(struct CallbackPolicy *p);

/* False with err naming the key and the reason. */
bool config_check_startup(const struct Config *cfg, char *err, size_t errsize);

#endif
