#include "autoconfig.h"

#include "queue/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTBOX_PREFIX "outbox:"
#define TOPIC_PREFIX "topic:"

void transport_free_messages(struct QueueMessage *msgs, int n)
{
	for (int i = 0; i < n; i++)
		free(msgs[i].payload);
	free(msgs);
}

void transport_channel(enum ChannelKind kind, const char *name, char out[TRANSPORT_CHANNEL_SIZE])
{
	snprintf(out, TRANSPORT_CHANNEL_SIZE, "%s%s", kind == CHANNEL_OUTBOX ? OUTBOX_PREFIX : TOPIC_PREFIX, name);
}

bool transport_channel_parse(const char *channel, enum ChannelKind *kind, const char **name)
{
	if (strncmp(channel, OUTBOX_PREFIX, strlen(OUTBOX_PREFIX)) == 0) {
		*kind = CHANNEL_OUTBOX;
		*name = channel + strlen(OUTBOX_PREFIX);
		return true;
	}
	if (strncmp(channel, TOPIC_PREFIX, strlen(TOPIC_PREFIX)) == 0) {
		*kind = CHANNEL_TOPIC;
		*name = channel + strlen(TOPIC_PREFIX);
		return true;
	}
	return false;
}
