/*
 * rfc5322: a streaming look at a message's header section (RFC 5322 §2.2)
 * as it arrives, without buffering it: counts Received fields for loop
 * detection (RFC 5321 §6.3) and notes Message-ID and Date. Pure.
 */
#ifndef TERN_RFC5322_H
#define TERN_RFC5322_H

#include <stdbool.h>
#include <stddef.h>

struct hdr_scan {
	int state;
	char name[16];         /* field name so far, lower case, truncated */
	size_t nlen;
	size_t received;       /* Received: fields seen */
	bool has_message_id;
	bool has_date;
	unsigned nfrom;              /* From: fields seen */
	char from[1000];             /* the first From: value, unfolded, truncated */
	size_t from_len;
	bool in_from;
	bool done;             /* the empty line ending the header was seen */
	unsigned long long pos;      /* octets fed so far */
	unsigned long long end_off;  /* when done: where the empty line starts */
};

void hdr_scan_init(struct hdr_scan *h);
/* Feeds message octets (CRLF line ends) in any chunking. */
void hdr_scan_feed(struct hdr_scan *h, const char *p, size_t n);

/* True when the octets fed so far end with a complete line (or none). */
bool hdr_scan_at_line_start(const struct hdr_scan *h);

/*
 * The addr-specs of a From: value ("Name <a@b>, c@d (comment)"), one per
 * call: writes the next into out and returns true, or returns false at the
 * end. *pos starts at 0. Quoted display names and comments are skipped.
 */
bool rfc5322_next_address(const char *value, size_t len, size_t *pos,
    char *out, size_t outsize);

#endif
