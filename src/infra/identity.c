#include "autoconfig.h"

#include "infra/identity.h"

#include "infra/log.h"

#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

void daemon_identity(char *buf, size_t size)
{
	static bool warned;
	char host[64];	/* as the lease owners have always been cut */

	if (gethostname(host, sizeof(host)) != 0) {
		if (!warned)
			log_warning("gethostname failed; this daemon's leases and circuits are owned by \"localhost\"");
		warned = true;
		snprintf(host, sizeof(host), "localhost");
	}
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, size, "%s:%ld", host, (long)getpid());
}
