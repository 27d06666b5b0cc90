/*
 * libFuzzer target for the Retry-After parser (src/infra/httpclient.c):
 * any header value gives -1 or a delay of at least 0 ms, never a crash;
 * delay-seconds give exactly that many seconds (capped beyond ten digits).
 */
#include "autoconfig.h"

#include "infra/httpclient.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 1);
	int64_t ms;
	bool digits = size > 0 && size <= 10;

	if (!value)
		abort();
	memcpy(value, data, size);
	value[size] = '\0';
	for (size_t i = 0; i < size; i++)
		digits = digits && isdigit((unsigned char)value[i]);
	ms = httpclient_parse_retry_after(value, (time_t)1764000000);
	if (ms < -1)
		abort();
	if (digits && ms != strtoll(value, NULL, 10) * 1000)
		abort();
	free(value);
	return 0;
}
