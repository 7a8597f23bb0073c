/*
 * rfc5322: a streaming look at a message's header section (RFC 5322 §2.2)
 * as it arrives, without buffering it: counts Received fields for loop
 * detection (RFC 5321 §6.3), notes Message-ID and Date, and keeps the
 * From field for the submission check. Pure.
 *
 * What a header field's name is, is defined here once
 * (rfc5322_field_name): the submission From: check reads the header with
 * it, and the DKIM signer picks the fields it signs with it, so that no
 * field can be a From to one and something else to the other.
 */
#ifndef TERN_RFC5322_H
#define TERN_RFC5322_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest From value (unfolded) the scan keeps. A longer one is not
 * cut: from_long is set and the submission check refuses the message. */
#define RFC5322_FROM_MAX 2048
/* The longest Message-ID value (unfolded, with its blanks) the scan keeps
 * for the log; a longer one is not logged at all rather than cut. */
#define RFC5322_MSGID_MAX 512

struct hdr_scan {
	int state;
	int nstate;            /* inside a field name: see rfc5322.c */
	char name[16];         /* field name so far, lower case, truncated */
	size_t nlen;
	size_t received;       /* Received: fields seen */
	bool has_message_id;
	bool has_date;
	unsigned nfrom;              /* From: fields seen */
	char from[RFC5322_FROM_MAX + 1];  /* the first From: value, unfolded */
	size_t from_len;
	bool from_long;              /* ... was longer than RFC5322_FROM_MAX */
	bool in_from;
	char msgid[RFC5322_MSGID_MAX + 1];  /* the first Message-ID value */
	size_t msgid_len;
	bool msgid_long;
	bool in_msgid;
	bool done;             /* the empty line ending the header was seen */
	unsigned long long pos;      /* octets fed so far */
	unsigned long long end_off;  /* when done: where the empty line starts */
};

void hdr_scan_init(struct hdr_scan *h);
/* Feeds message octets (CRLF line ends) in any chunking. */
void hdr_scan_feed(struct hdr_scan *h, const char *p, size_t n);

/*
 * The first Message-ID field's value, unfolded, without the blanks around
 * it (*len_r its length), for the log; NULL when there is none, it is
 * empty, or it was longer than RFC5322_MSGID_MAX.
 */
const char *hdr_scan_message_id(const struct hdr_scan *h, size_t *len_r);

/* True when the octets fed so far end with a complete line (or none). */
bool hdr_scan_at_line_start(const struct hdr_scan *h);

/*
 * True when the header is not done and the last octet fed is a CR at the
 * start of a line: it may begin the empty line that ends the header (the
 * next octet tells). Fields to add at the end of the header go before it.
 */
bool hdr_scan_cr_pending(const struct hdr_scan *h);

/*
 * The name of a header field: field holds a whole field as it stands in
 * the message, folding CRLFs included. Returns the length of its name
 * (field[0 .. len)), or 0 when it is not a field; *colon_r is then the
 * offset of its colon.
 *
 *   field-name = 1*ftext; ftext = %d33-57 / %d59-126   (RFC 5322 §3.6.8)
 *   obs-optional: field-name *WSP ":"                  (RFC 5322 §4.5)
 *
 * WSP before the colon is the obsolete syntax that readers still accept,
 * and unfolding (§2.2.3) comes first, so a folding CRLF there counts as
 * WSP too. The streaming scan applies this same definition.
 */
size_t rfc5322_field_name(const char *field, size_t len, size_t *colon_r);

enum rfc5322_addr {
	RFC5322_ADDR_END = 0,    /* no more addresses */
	RFC5322_ADDR_OK,         /* one addr-spec in out */
	RFC5322_ADDR_BAD,        /* one that cannot be read in full: too long
	                          * for out, or an unterminated quoted string,
	                          * comment or angle address */
};

/*
 * The addr-specs of a From: value ("Name <a@b>, c@d (comment)"), one per
 * call. *pos starts at 0. Quoted display names and comments are skipped.
 * A caller checking every address stops at RFC5322_ADDR_BAD: what comes
 * after it was not read.
 */
enum rfc5322_addr rfc5322_next_address(const char *value, size_t len,
    size_t *pos, char *out, size_t outsize);

/*
 * A Date: value (RFC 5322 §3.3, with §4.3's obsolete forms: two- and
 * three-digit years, named zones, comments anywhere, a missing second)
 * into seconds since the epoch, UTC. False when it is no date (IMAP
 * SORT and SEARCH SENT* then fall back to the internal date).
 */
bool rfc5322_date_parse(const char *s, size_t len, int64_t *t_r);

#endif
