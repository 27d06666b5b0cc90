/*
 * libFuzzer target for the configuration (src/infra/config.c): the input's
 * first half is a configuration file, the second half environment lines
 * ("NAME=value" separated by newlines, each given a CHARGEGATE_ prefix).
 * Any input loads or fails with a reason (a file one with its line),
 * never a crash or a leak.
 */
#include "autoconfig.h"

#include "infra/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENV 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut = size / 2;
	int fd = memfd_create("chargegate-fuzz.conf", 0);
	char path[64], err[1024] = "", *env_text, *envp[MAX_ENV + 1], *save = NULL;
	struct Config cfg;
	int n = 0;

	if (fd < 0 || write(fd, data, cut) != (ssize_t)cut)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	env_text = malloc(size - cut + 1);
	if (!env_text)
		abort();
	memcpy(env_text, data + cut, size - cut);
	env_text[size - cut] = '\0';
	for (char *line = strtok_r(env_text, "\n", &save); line && n < MAX_ENV; line = strtok_r(NULL, "\n", &save)) {
		if (asprintf(&envp[n], "CHARGEGATE_%s", line) < 0)
			abort();
		n++;
	}
	envp[n] = NULL;
	if (!config_load(&cfg, path, envp, err, sizeof(err)) && !err[0])
		abort();
	config_free(&cfg);
	for (int i = 0; i < n; i++)
		free(envp[i]);
	free(env_text);
	close(fd);
	return 0;
}
