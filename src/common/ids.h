/*
 * ids: queue ids. 16 hex digits: microseconds since the epoch in the high
 * bits and a counter in the low 12, strictly increasing within a process.
 * Across restarts the clock has moved on; queue files are created O_EXCL, so
 * a collision (clock set back) is caught and a new id taken.
 */
#ifndef TERN_IDS_H
#define TERN_IDS_H

#include <stdint.h>

#define QUEUE_ID_LEN 16

struct ids {
	uint64_t last;
};

/* Writes a new id and its NUL into out[QUEUE_ID_LEN + 1]. */
void ids_next_queue_id(struct ids *ids, char out[QUEUE_ID_LEN + 1]);
int ids_valid_queue_id(const char *s);

#endif
