/*
 * dmarc_record: the DMARC policy record, a DKIM-style tag-list in a TXT
 * record at _dmarc.DOMAIN (RFC 9989 §4.7-4.8, with RFC 7489 §6.3's pct,
 * ri and rf for the records still written for it). Pure: text in, struct
 * out; the evaluation is in dmarc.c.
 */
#ifndef TERN_DMARC_RECORD_H
#define TERN_DMARC_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#define DMARC_URILIST_MAX 512    /* rua= / ruf= kept, NUL included */

enum dmarc_policy {
	DMARC_P_UNSET,           /* tag absent */
	DMARC_P_NONE,
	DMARC_P_QUARANTINE,
	DMARC_P_REJECT,
};

/* fo= (RFC 9989 §4.7): which failures a failure report is asked for. */
#define DMARC_FO_0 0x01          /* all mechanisms failed to align (default) */
#define DMARC_FO_1 0x02          /* any mechanism failed to align */
#define DMARC_FO_D 0x04          /* a DKIM signature failed */
#define DMARC_FO_S 0x08          /* SPF failed */

struct dmarc_record {
	enum dmarc_policy p, sp, np;
	bool adkim_strict, aspf_strict;
	int pct;                 /* 0..100, 100 if absent or invalid (RFC 7489) */
	bool testing;            /* t=y */
	int psd;                 /* 'y', 'n', or 0 for absent / "u" */
	char rua[DMARC_URILIST_MAX];   /* as written, "" if absent */
	char ruf[DMARC_URILIST_MAX];
	bool rua_valid;          /* rua= has at least one syntactically valid URI */
	bool rua_cut;            /* rua= did not fit: only whole URIs kept */
	bool ruf_cut;
	unsigned fo;             /* DMARC_FO_*; DMARC_FO_0 if absent or invalid */
	unsigned long ri;        /* RFC 7489 report interval, 86400 if absent */
	bool rf_afrf;            /* RFC 7489 rf= lists "afrf" (the default) */
	/*
	 * p= is present but not a policy, or sp= / np= is not one, and no
	 * valid rua= saves it (RFC 9989 §4.10.1): the record still counts in
	 * the tree walk, but no DMARC processing is applied with it. (With a
	 * valid rua= it is read as p=none, sp and np dropped, and this stays
	 * false.)
	 */
	bool unusable;
	bool bad_tags;           /* some tag was malformed and ignored */
};

/* "none", "quarantine", "reject"; DMARC_P_UNSET gives "none". */
const char *dmarc_policy_name(enum dmarc_policy p);

/*
 * Parses one TXT record's text (character-strings already joined). 0 with
 * *r filled, or -1 if the text is not a DMARC record at all (it does not
 * start with the tag v=DMARC1): such records are ignored (RFC 9989 §4.7).
 * Unknown tags are ignored; a known tag with an invalid value takes its
 * default (§4.8), except p, sp and np (see unusable above). An absent p
 * stays DMARC_P_UNSET and counts as p=none (§4.7). A repeated tag: the
 * first one counts.
 */
int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *r);

#endif
