/*
 * libFuzzer target for the JSON layer (src/infra/json.c): any bytes give a
 * parsed object or an error sentence, never a crash; what parses without
 * duplicate members also parses plainly, and what parses plainly has its
 * duplicates found or not, never both answers.
 */
#include "autoconfig.h"

#include "infra/json.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1), err[256] = "";
	struct json_object *plain = NULL, *unique = NULL;
	bool ok_plain, ok_unique;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	ok_plain = json_parse_object(buf, size, &plain, err, sizeof(err));
	if (!ok_plain && (plain || !err[0]))
		abort();
	err[0] = '\0';
	ok_unique = json_parse_object_unique(buf, size, &unique, err, sizeof(err));
	if (ok_unique && !ok_plain)
		abort();
	if (ok_plain && !ok_unique && !strstr(err, "twice"))
		abort();	/* what parses can only fail for a repeated member */
	if (ok_plain)
		json_to_text(plain, NULL);	/* serialising what was parsed must not crash */
	json_object_put(plain);
	json_object_put(unique);
	free(buf);
	return 0;
}
