#include "autoconfig.h"

#include "queue/transport.h"

#include <stdlib.h>

void transport_free_messages(struct QueueMessage *msgs, int n)
{
	for (int i = 0; i < n; i++)
		free(msgs[i].payload);
	free(msgs);
}
