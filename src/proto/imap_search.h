/*
 * imap_search: the arguments of IMAP SEARCH / UID SEARCH (RFC 9051 §6.4.4,
 * RFC 3501 §6.4.4), ESEARCH's RETURN options (RFC 4731, RFC 5182's SAVE
 * and "$"), CONDSTORE's MODSEQ key (RFC 7162 §3.1.5), parsed into a tree
 * and evaluated against one message at a time.
 *
 * Pure: the command grammar hands over the command line's tokens (struct
 * imap_tok: atoms, decoded strings and literals, and the parentheses of
 * groups); the session supplies each message as a struct
 * imap_search_msg, with callbacks for the keys that need the message's
 * decoded text. No I/O, no logging.
 */
#ifndef TERN_IMAP_SEARCH_H
#define TERN_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_cmd.h"

/* One token of a command line, as the command grammar read it. */
enum imap_tok_type {
	IMAP_TOK_ATOM,     /* an atom, or a sequence set: 1:3,7,* */
	IMAP_TOK_STRING,   /* a quoted string or a literal, decoded */
	IMAP_TOK_LPAREN,   /* "(" opening a group */
	IMAP_TOK_RPAREN,   /* ")" closing it */
};

struct imap_tok {
	enum imap_tok_type type;
	const char *s;     /* borrowed; for ATOM and STRING */
	size_t len;
};

/* System flags are imap_cmd.h's IMAP_FLAG_* (one set of bits for the
 * command parser and the search), and "*" is its IMAP_SEQ_STAR. */

/* ESEARCH RETURN options, as bits of imap_search.ret. */
enum {
	IMAP_RET_MIN = 1u << 0,
	IMAP_RET_MAX = 1u << 1,
	IMAP_RET_ALL = 1u << 2,
	IMAP_RET_COUNT = 1u << 3,
	IMAP_RET_SAVE = 1u << 4,
};

enum imap_search_kind {
	IMAP_SK_ALL,
	IMAP_SK_AND,        /* children: every one must match */
	IMAP_SK_OR,         /* two children */
	IMAP_SK_NOT,        /* one child */
	IMAP_SK_FLAG_SET,   /* all flags in .flag set */
	IMAP_SK_FLAG_CLEAR, /* all flags in .flag clear */
	IMAP_SK_NEW,        /* RECENT and not SEEN */
	IMAP_SK_KEYWORD,
	IMAP_SK_UNKEYWORD,
	IMAP_SK_BEFORE, IMAP_SK_ON, IMAP_SK_SINCE,             /* internal date */
	IMAP_SK_SENTBEFORE, IMAP_SK_SENTON, IMAP_SK_SENTSINCE, /* Date: field */
	IMAP_SK_LARGER, IMAP_SK_SMALLER,
	IMAP_SK_SEQ,        /* a sequence set of sequence numbers */
	IMAP_SK_UID,        /* a sequence set of UIDs */
	IMAP_SK_SAVED,      /* "$": the saved result (RFC 5182) */
	IMAP_SK_MODSEQ,
	IMAP_SK_HEADER,     /* .str is the field name (FROM, TO... included) */
	IMAP_SK_BODY,
	IMAP_SK_TEXT,
};

/* A range of a sequence set; IMAP_SEQ_STAR is "*", the largest in use. */
struct imap_seq_range {
	uint32_t lo, hi;   /* as written: lo may be above hi */
};

struct imap_search_node {
	enum imap_search_kind kind;
	int32_t child;     /* first child, -1 if none */
	int32_t next;      /* next sibling, -1 if none */
	uint32_t flag;     /* FLAG_SET / FLAG_CLEAR */
	int32_t day;       /* date keys: days since 1970-01-01 */
	uint64_t num;      /* LARGER, SMALLER, MODSEQ */
	size_t range, nrange; /* SEQ, UID: in imap_search.ranges */
	char *str;         /* owned: keyword or header field name */
	size_t str_len;
	char *needle;      /* owned: HEADER/BODY/TEXT value, case-folded */
	size_t needle_len;
};

struct imap_search_limits {
	size_t max_depth;   /* nesting of NOT, OR and groups */
	size_t max_nodes;
	size_t max_ranges;  /* all sequence sets together */
};

extern const struct imap_search_limits imap_search_default_limits;

struct imap_search {
	struct imap_search_node *nodes;   /* owned; nodes[0] is the root */
	size_t nnodes;
	struct imap_seq_range *ranges;    /* owned */
	size_t nranges;
	uint32_t ret;      /* IMAP_RET_*; 0: plain SEARCH, no RETURN */
	bool esearch;      /* RETURN was given (answer with ESEARCH) */
	bool has_modseq;   /* a MODSEQ key: the answer gets (MODSEQ n) */
};

enum imap_search_err {
	IMAP_SEARCH_OK = 0,
	IMAP_SEARCH_SYNTAX,       /* BAD */
	IMAP_SEARCH_BADCHARSET,   /* NO [BADCHARSET (UTF-8 US-ASCII)] */
	IMAP_SEARCH_BAD_UTF8,     /* a search string that is not UTF-8: BAD */
	IMAP_SEARCH_TOO_DEEP,     /* BAD, over the limits */
	IMAP_SEARCH_TOO_BIG,
	IMAP_SEARCH_NOMEM,
};

/*
 * Parses toks[0..ntoks) (what follows SEARCH or UID SEARCH) into *out.
 * On an error out is empty (nothing to free) and *err_tok_r (if not NULL)
 * is the index of the token at fault. Strings are copied: the tokens may
 * go once this returns.
 */
enum imap_search_err imap_search_parse(const struct imap_tok *toks,
    size_t ntoks, const struct imap_search_limits *lim,
    struct imap_search *out, size_t *err_tok_r);

void imap_search_free(struct imap_search *s);

/* One message, as the session describes it for evaluation. */
struct imap_search_msg {
	uint32_t seq, uid;
	uint32_t max_seq, max_uid;  /* the mailbox's largest: what "*" is */
	uint32_t flags;             /* IMAP_FLAG_* */
	const struct imap_tok *keywords; /* ATOMs; compared ignoring ASCII case */
	size_t nkeywords;
	uint64_t size;              /* RFC822.SIZE */
	int32_t internal_day;       /* days since 1970-01-01 */
	int32_t sent_day;           /* of the Date: field; the session falls
	                             * back to internal_day without one */
	uint64_t modseq;
	bool in_saved;              /* in the saved result ("$") */

	/* Each returns whether the message's decoded text contains the
	 * folded needle (imap_search_match does that part); a HEADER key
	 * with an empty value asks whether the field is there at all. */
	void *ctx;
	bool (*header_contains)(void *ctx, const char *field, size_t field_len,
	    const char *needle, size_t needle_len);
	bool (*body_contains)(void *ctx, const char *needle, size_t needle_len);
	bool (*text_contains)(void *ctx, const char *needle, size_t needle_len);
};

bool imap_search_eval(const struct imap_search *s,
    const struct imap_search_msg *m);

/*
 * Whether text (UTF-8, from the message) contains a needle as
 * imap_search_parse stored it (already folded): a full Unicode case fold
 * of the text, no locale. Text that is not valid UTF-8 is folded in
 * ASCII only.
 */
bool imap_search_match(const char *needle, size_t needle_len,
    const char *text, size_t text_len);

/* The case fold imap_search_match uses, into a new malloc'd string.
 * NULL when s is not UTF-8 or memory runs out. */
char *imap_search_fold(const char *s, size_t len, size_t *out_len);

/* An IMAP date (RFC 9051 date-text: d-Mon-yyyy, day of one or two
 * digits, month in any case) into days since 1970-01-01. */
bool imap_date_parse(const char *s, size_t len, int32_t *day_r);

/* Days since 1970-01-01 of a civil date (no check of its range). */
int32_t imap_days_from_civil(int y, unsigned m, unsigned d);

const char *imap_search_strerror(enum imap_search_err e);

#endif
