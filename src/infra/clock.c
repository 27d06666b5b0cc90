#include "autoconfig.h"

#include "infra/clock.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int64_t clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timeval clock_timeval(int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	return tv;
}

uint32_t clock_random32(void)
{
	uint32_t r;

	/* the kernel's entropy is not needed here: any spread will do */
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)getpid() ^ (uint32_t)clock_now_ms();
	return r;
}

int64_t clock_jitter_by(int64_t ms, int pct, uint32_t random)
{
	return ms * (100 - pct + (int64_t)(random % (uint32_t)(2 * pct + 1))) / 100;
}

int64_t clock_jitter(int64_t ms, int pct)
{
	return clock_jitter_by(ms, pct, clock_random32());
}
