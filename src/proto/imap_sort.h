/*
 * imap_sort: IMAP SORT and THREAD (RFC 5256, DISPLAYFROM/DISPLAYTO of
 * RFC 5957) over an array of message descriptors the session fills from
 * the messages' headers; the THREAD response's body written into a buf.
 * Pure: no I/O, no logging.
 *
 * The array's order is the mailbox's sequence order: it breaks ties, as
 * RFC 5256 asks, and SORT answers with indexes into it.
 */
#ifndef TERN_IMAP_SORT_H
#define TERN_IMAP_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "imap_search.h"

/* One message. Strings are borrowed, UTF-8 (encoded words decoded),
 * NULL or empty when the message has no such field. */
struct imap_msgdesc {
	uint32_t id;          /* what THREAD prints: sequence number or UID */
	int64_t arrival;      /* internal date, seconds */
	int64_t date;         /* Date: field, seconds; the session falls back
	                       * to the internal date without one */
	uint64_t size;
	const char *subject; size_t subject_len;
	const char *message_id; size_t message_id_len;   /* raw field */
	const char *references; size_t references_len;   /* raw field */
	const char *in_reply_to; size_t in_reply_to_len; /* raw field */
	/* RFC 5256 addr-mailbox of the first address, and RFC 5957's
	 * display name (or that mailbox when there is none) */
	const char *from; size_t from_len;
	const char *to; size_t to_len;
	const char *cc; size_t cc_len;
	const char *display_from; size_t display_from_len;
	const char *display_to; size_t display_to_len;
};

enum imap_sort_key {
	IMAP_SORT_ARRIVAL,
	IMAP_SORT_CC,
	IMAP_SORT_DATE,
	IMAP_SORT_FROM,
	IMAP_SORT_SIZE,
	IMAP_SORT_SUBJECT,
	IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM,
	IMAP_SORT_DISPLAYTO,
};

#define IMAP_SORT_MAX_CRIT 16

struct imap_sort_crit {
	enum imap_sort_key key;
	bool reverse;
};

/*
 * The sort program "(" [REVERSE] key *(SP [REVERSE] key) ")" from toks
 * (the parenthesized list only). Returns the number of criteria, or -1
 * on a syntax error (a REVERSE without a key, an unknown key, more than
 * IMAP_SORT_MAX_CRIT) with *err_tok_r the token at fault.
 */
int imap_sort_parse(const struct imap_tok *toks, size_t ntoks,
    struct imap_sort_crit crit[IMAP_SORT_MAX_CRIT], size_t *consumed_r,
    size_t *err_tok_r);

/* Orders msgs by crit into order_r (n indexes into msgs). -1 when
 * memory runs out. */
int imap_sort(const struct imap_msgdesc *msgs, size_t n,
    const struct imap_sort_crit *crit, size_t ncrit, size_t *order_r);

/*
 * RFC 5256 §2.1 base subject of subj (decoded UTF-8): whitespace
 * collapsed, "(fwd)" trailers, "Re:"/"Fw:"/"Fwd:" leaders with their
 * "[blob]"s and "[fwd: ...]" wrappers removed, then case-folded for the
 * i;unicode-casemap comparison. A new malloc'd string (its length in
 * *len_r), NULL when memory runs out. *reply_r (if not NULL) says
 * whether anything of a reply or forward was removed.
 */
char *imap_base_subject(const char *subj, size_t len, size_t *len_r,
    bool *reply_r);

enum imap_thread_alg {
	IMAP_THREAD_ORDEREDSUBJECT,
	IMAP_THREAD_REFERENCES,
};

/* "ORDEREDSUBJECT" or "REFERENCES", any case. */
bool imap_thread_alg_parse(const char *s, size_t len, enum imap_thread_alg *r);

/*
 * Threads msgs and appends the THREAD response's data, e.g.
 * "(3 6 (4 23)(44 7 96))", to out (nothing for no messages); every
 * message appears in it exactly once. -1 when memory runs out.
 */
int imap_thread(const struct imap_msgdesc *msgs, size_t n,
    enum imap_thread_alg alg, struct buf *out);

#endif
