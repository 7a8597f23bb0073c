/*
 * fuzz_queue_state: the state file's reader. Whatever it reads must
 * encode again and read back to the same outcomes, schedule and warning;
 * and it never reads past the bytes given (ASan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "queue/queue_state.h"

#define NRCPTS 16

static void
make_env(struct envelope *env)
{
	size_t i;

	memset(env, 0, sizeof(*env));
	for (i = 0; i < NRCPTS; i++)
		CHECK(envelope_add_rcpt(env, "r@example.org", "r@example.org", "",
		    0, true) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool tried[NRCPTS] = { true, true, true, true, true, true, true,
	    true, true, true, true, true, true, true, true, true };
	struct envelope a, b;
	struct queue_state st, st2;
	struct buf out = BUF_INIT;
	struct queue_state_update u;
	size_t i;
	int rc;

	make_env(&a);
	make_env(&b);
	rc = queue_state_decode((const char *)data, size, &a, &st);
	CHECK(rc == 0 || rc == -1);
	CHECK(rc == 0 ? st.version <= QUEUE_STATE_VERSION :
	    st.version > QUEUE_STATE_VERSION);
	u = (struct queue_state_update){ .new_file = true, .env = &a,
	    .tried = tried, .next_try = st.next_try, .attempts = st.attempts,
	    .warned = st.warned, .now = 1764057992 };
	CHECK(queue_state_encode(&u, &out) == 0);
	CHECK(queue_state_decode(out.data, out.len, &b, &st2) == 0);
	CHECK(st2.version == QUEUE_STATE_VERSION);
	CHECK(st2.next_try == st.next_try && st2.attempts == st.attempts);
	CHECK(st2.warned == st.warned);
	for (i = 0; i < NRCPTS; i++)
		CHECK(a.rcpts[i].state == b.rcpts[i].state);
	buf_release(&out);
	envelope_clear(&a);
	envelope_clear(&b);
	return 0;
}
