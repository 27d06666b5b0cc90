/*
 * The queue knobs every consumer shares (queue.* in the configuration).
 */
#ifndef CHARGEGATE_QUEUE_SETTINGS_H
#define CHARGEGATE_QUEUE_SETTINGS_H

#include <stdint.h>

struct QueueSettings {
	int batch_size;
	int64_t lease_ms;
	int max_attempts;
	int64_t poll_ms;
};

#endif
