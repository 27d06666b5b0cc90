#include "autoconfig.h"

#include "kafka/offsets.h"

#include "infra/alloc.h"
#include "infra/log.h"

#include <stdlib.h>
#include <string.h>

struct Partition {
	char *topic;
	int32_t partition;
	bool assigned;
	uint64_t gen;
	int64_t max_done;	/* highest settled offset, -1: none */
	int64_t handed_out;	/* last committable offset handed out, -1: none */
	int64_t *flight;	/* offsets in flight, ascending */
	int nflight, capflight;
};

struct KOffsets {
	struct Partition *parts;
	int nparts, capparts;
	uint64_t next_gen;
};

struct KOffsets *koffsets_new(void)
{
	struct KOffsets *o = xcalloc(1, sizeof(*o));

	o->next_gen = 1;
	return o;
}

void koffsets_free(struct KOffsets *o)
{
	if (!o)
		return;
	for (int i = 0; i < o->nparts; i++) {
		free(o->parts[i].topic);
		free(o->parts[i].flight);
	}
	free(o->parts);
	free(o);
}

static struct Partition *find(const struct KOffsets *o, const char *topic, int32_t partition)
{
	for (int i = 0; i < o->nparts; i++) {
		if (o->parts[i].partition == partition && strcmp(o->parts[i].topic, topic) == 0)
			return &o->parts[i];
	}
	return NULL;
}

static struct Partition *find_or_add(struct KOffsets *o, const char *topic, int32_t partition)
{
	struct Partition *p = find(o, topic, partition);

	if (p)
		return p;
	if (o->nparts == o->capparts) {
		o->capparts = o->capparts ? o->capparts * 2 : 8;
		o->parts = xrealloc(o->parts, (size_t)o->capparts * sizeof(*o->parts));
	}
	p = &o->parts[o->nparts++];
	memset(p, 0, sizeof(*p));
	p->topic = xstrdup(topic);
	p->partition = partition;
	return p;
}

static void reset(struct Partition *p)
{
	p->nflight = 0;
	p->max_done = -1;
	p->handed_out = -1;
}

void koffsets_assign(struct KOffsets *o, const char *topic, int32_t partition)
{
	struct Partition *p = find_or_add(o, topic, partition);

	reset(p);
	p->assigned = true;
	p->gen = o->next_gen++;
}

void koffsets_revoke(struct KOffsets *o, const char *topic, int32_t partition)
{
	struct Partition *p = find(o, topic, partition);

	if (!p)
		return;
	reset(p);
	p->assigned = false;
	p->gen = 0;
}

/* Insert keeping the array ascending; offsets nearly always arrive in order. */
static void flight_insert(struct Partition *p, int64_t offset)
{
	int i = p->nflight;

	if (p->nflight == p->capflight) {
		p->capflight = p->capflight ? p->capflight * 2 : 64;
		p->flight = xrealloc(p->flight, (size_t)p->capflight * sizeof(*p->flight));
	}
	while (i > 0 && p->flight[i - 1] > offset) {
		p->flight[i] = p->flight[i - 1];
		i--;
	}
	p->flight[i] = offset;
	p->nflight++;
}

static int flight_find(const struct Partition *p, int64_t offset)
{
	int lo = 0, hi = p->nflight - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (p->flight[mid] == offset)
			return mid;
		if (p->flight[mid] < offset)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

uint64_t koffsets_add(struct KOffsets *o, const char *topic, int32_t partition, int64_t offset)
{
	struct Partition *p = find(o, topic, partition);

	if (!p || !p->assigned)
		return 0;
	flight_insert(p, offset);
	return p->gen;
}

bool koffsets_done(struct KOffsets *o, const char *topic, int32_t partition, int64_t offset, uint64_t gen)
{
	struct Partition *p = find(o, topic, partition);
	int i;

	if (!p || !p->assigned || p->gen != gen || (i = flight_find(p, offset)) < 0)
		return false;
	memmove(&p->flight[i], &p->flight[i + 1], (size_t)(p->nflight - i - 1) * sizeof(*p->flight));
	p->nflight--;
	if (offset > p->max_done)
		p->max_done = offset;
	return true;
}

bool koffsets_current(const struct KOffsets *o, const char *topic, int32_t partition, uint64_t gen)
{
	const struct Partition *p = find(o, topic, partition);

	return p && p->assigned && p->gen == gen;
}

static int64_t committable(const struct Partition *p)
{
	if (p->nflight > 0)
		return p->flight[0];
	return p->max_done >= 0 ? p->max_done + 1 : -1;
}

int koffsets_collect(struct KOffsets *o, const char *topic, int32_t partition, koffsets_commit_cb cb, void *arg)
{
	int n = 0;

	for (int i = 0; i < o->nparts; i++) {
		struct Partition *p = &o->parts[i];
		int64_t c = committable(p);

		if (topic && (p->partition != partition || strcmp(p->topic, topic) != 0))
			continue;
		if (!p->assigned || c < 0 || c <= p->handed_out || (p->max_done < 0))
			continue;
		p->handed_out = c;
		cb(p->topic, p->partition, c, arg);
		n++;
	}
	return n;
}

int koffsets_in_flight(const struct KOffsets *o)
{
	int n = 0;

	for (int i = 0; i < o->nparts; i++)
		n += o->parts[i].nflight;
	return n;
}
