/*
 * hdr_find: finds the header fields of one name in a message as it
 * streams past, noting where each lies and how it begins, so that the
 * caller can remove some afterwards (Authentication-Results fields that
 * claim to be ours, RFC 8601 §5). Pure; no copy of the message is kept.
 */
#ifndef TERN_HDR_FIND_H
#define TERN_HDR_FIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The beginning of a field's value kept for the caller's decision. */
#define HDR_FIND_HEAD 512

struct hdr_found {
	uint64_t off, len;         /* the whole field, its last CRLF included */
	char value[HDR_FIND_HEAD + 1];  /* after the colon, NUL-terminated */
	size_t vlen;
	bool cut;                  /* the value was longer than value[] */
};

struct hdr_find {
	char name[64];             /* the field name sought */
	int state;
	uint64_t pos;              /* octets fed */
	uint64_t start;            /* where the current field began */
	char head[HDR_FIND_HEAD + 80];  /* the current field's first octets */
	size_t hlen;
	bool head_cut;
	bool done;                 /* the header has ended */
	struct hdr_found *found;   /* owned; hdr_find_release frees */
	size_t nfound, cap;
	bool nomem;                /* a field could not be recorded */
};

/* name: the field name, matched without regard to case (as RFC 5322). */
void hdr_find_init(struct hdr_find *f, const char *name);
void hdr_find_feed(struct hdr_find *f, const char *p, size_t n);
/* The message ended: a last field without the empty line after it counts. */
void hdr_find_end(struct hdr_find *f);
void hdr_find_release(struct hdr_find *f);

#endif
