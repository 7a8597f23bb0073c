/*
 * ids: unique queue ids (see ids.h).
 */
#include "ids.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void
ids_next_queue_id(struct ids *ids, char out[QUEUE_ID_LEN + 1])
{
	struct timespec ts;
	uint64_t v;

	clock_gettime(CLOCK_REALTIME, &ts);
	v = ((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u) << 12;
	if (v <= ids->last)
		v = ids->last + 1;
	ids->last = v;
	snprintf(out, QUEUE_ID_LEN + 1, "%016llX", (unsigned long long)v);
}

int
ids_valid_queue_id(const char *s)
{
	size_t i;

	if (strlen(s) != QUEUE_ID_LEN)
		return 0;
	for (i = 0; i < QUEUE_ID_LEN; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	}
	return 1;
}
