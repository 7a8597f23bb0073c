/* TEMPORARY: see imap_shim.h. */
#include "imap_shim.h"

enum mbox_err
mbox_store(struct mbox *mb, const size_t *idx, size_t n,
    const struct mbox_flag_change *ch, uint64_t unchangedsince,
    bool *modified_r, bool *gone_r)
{
	size_t k;

	(void)unchangedsince;
	for (k = 0; k < n; k++) {
		unsigned add = ch->add, clear = ch->clear;
		enum mbox_err e;

		modified_r[k] = false;
		gone_r[k] = false;
		if (ch->replace) {
			add = ch->add;
			clear = ~ch->add & 0x3f;
		}
		e = mbox_set_flags(mb, idx[k], add, clear);
		if (e == MBOX_NOENT)
			gone_r[k] = true;
		else if (e != MBOX_OK)
			return e;
		else {
			mb->msgs[idx[k]].flags = (mb->msgs[idx[k]].flags | add) & ~clear;
			mb->msgs[idx[k]].modseq = ++mb->highestmodseq;
		}
	}
	return MBOX_OK;
}

int
mbox_keyword(struct mbox *mb, const char *name, size_t len, bool create)
{
	(void)mb; (void)name; (void)len; (void)create;
	return -1;
}

bool
mbox_cache_get(struct mbox *mb, size_t i, enum mbox_cache_field f, struct buf *out)
{
	(void)mb; (void)i; (void)f; (void)out;
	return false;
}

int
mbox_cache_put(struct mbox *mb, size_t i, enum mbox_cache_field f, const char *p, size_t n)
{
	(void)mb; (void)i; (void)f; (void)p; (void)n;
	return 0;
}

void
mbox_cache_flush(struct mbox *mb)
{
	(void)mb;
}
