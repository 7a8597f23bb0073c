/*
 * TEMPORARY: the store operations of the index work (h/imapindex), until
 * it is merged; then store.h declares them and this file goes.
 */
#ifndef TERN_IMAP_SHIM_H
#define TERN_IMAP_SHIM_H

#include "../common/buf.h"
#include "../mailbox/store.h"

struct mbox_flag_change {
	bool replace;
	unsigned add, clear;
	uint32_t kw_add, kw_clear;
};
enum mbox_err mbox_store(struct mbox *mb, const size_t *idx, size_t n,
    const struct mbox_flag_change *ch, uint64_t unchangedsince,
    bool *modified_r, bool *gone_r);
int mbox_keyword(struct mbox *mb, const char *name, size_t len, bool create);
enum mbox_cache_field { MBOX_CACHE_ENVELOPE, MBOX_CACHE_BODYSTRUCTURE, MBOX_CACHE_BODY,
	MBOX_CACHE_HEADERS };
bool mbox_cache_get(struct mbox *mb, size_t i, enum mbox_cache_field f, struct buf *out);
int mbox_cache_put(struct mbox *mb, size_t i, enum mbox_cache_field f, const char *p, size_t n);
void mbox_cache_flush(struct mbox *mb);

#endif
