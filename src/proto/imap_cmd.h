/*
 * imap_cmd: IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) commands, with
 * the extensions tern serves (UIDPLUS, MOVE, IDLE, LITERAL+/-, SASL-IR,
 * ENABLE, CONDSTORE/QRESYNC, LIST-EXTENDED/-STATUS, SPECIAL-USE,
 * STATUS=SIZE, UTF8=ACCEPT, QUOTA, NAMESPACE, UNSELECT, ID,
 * COMPRESS=DEFLATE, SORT/THREAD, MULTIAPPEND, APPENDLIMIT, BINARY).
 * Pure: no session, no I/O, no logging.
 *
 * The session reads a line, asks imap_cmd_literal() whether it announces
 * a literal, and if so (after "+ " for a synchronizing one) reads that
 * many raw octets and the next line, appending all of it. The finished
 * command -- lines joined with each literal's "{n}\r\n" and its octets
 * inline, the last line without its CRLF -- goes to imap_cmd_parse(),
 * which gives a tree of the arguments and, per command, their meaning.
 */
#ifndef TERN_IMAP_CMD_H
#define TERN_IMAP_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imap_verb {
	IMAP_CMD_UNKNOWN = 0,
	IMAP_CMD_CAPABILITY, IMAP_CMD_NOOP, IMAP_CMD_LOGOUT, IMAP_CMD_STARTTLS,
	IMAP_CMD_AUTHENTICATE, IMAP_CMD_LOGIN, IMAP_CMD_ENABLE, IMAP_CMD_SELECT,
	IMAP_CMD_EXAMINE, IMAP_CMD_CREATE, IMAP_CMD_DELETE, IMAP_CMD_RENAME,
	IMAP_CMD_SUBSCRIBE, IMAP_CMD_UNSUBSCRIBE, IMAP_CMD_LIST, IMAP_CMD_LSUB,
	IMAP_CMD_NAMESPACE, IMAP_CMD_STATUS, IMAP_CMD_APPEND, IMAP_CMD_IDLE,
	IMAP_CMD_CHECK, IMAP_CMD_CLOSE, IMAP_CMD_UNSELECT, IMAP_CMD_EXPUNGE,
	IMAP_CMD_SEARCH, IMAP_CMD_FETCH, IMAP_CMD_STORE, IMAP_CMD_COPY,
	IMAP_CMD_MOVE, IMAP_CMD_ID, IMAP_CMD_SORT, IMAP_CMD_THREAD,
	IMAP_CMD_COMPRESS, IMAP_CMD_GETQUOTA, IMAP_CMD_GETQUOTAROOT,
	IMAP_CMD_SETQUOTA,
};

/* What the session answers: imap_cmd_err_is_no() says which are NO. */
enum imap_cmd_err {
	IMAP_CMD_OK = 0,
	IMAP_CMD_E_NO_TAG,     /* "* BAD": no tag could be read */
	IMAP_CMD_E_UNKNOWN,    /* BAD: not a command */
	IMAP_CMD_E_SYNTAX,     /* BAD: arguments missing, extra or malformed */
	IMAP_CMD_E_BAD_CHAR,   /* BAD: NUL, or CR/LF outside a literal */
	IMAP_CMD_E_8BIT,       /* BAD: 8-bit octet in a tag or atom */
	IMAP_CMD_E_DEPTH,      /* BAD: parenthesized lists nested too deep */
	IMAP_CMD_E_SEQSET,     /* BAD: not a sequence set, or 0 in one */
	IMAP_CMD_E_NUMBER,     /* BAD: a number out of its range */
	IMAP_CMD_E_TOO_MANY,   /* BAD: more arguments or ranges than the limits */
	IMAP_CMD_E_TOO_LONG,   /* BAD: a line or the whole command over its limit */
	IMAP_CMD_E_LITERAL_TOO_BIG, /* NO [TOOBIG]: a literal over max_literal */
	IMAP_CMD_E_MAILBOX,    /* NO: a mailbox name that is not valid mUTF-7/UTF-8 */
};

bool imap_cmd_err_is_no(enum imap_cmd_err e);

struct imap_cmd_limits {
	size_t max_line;        /* one line without CRLF, literal octets not counted */
	size_t max_command;     /* everything: lines, CRLFs and literal octets */
	uint64_t max_literal;   /* one literal (APPENDLIMIT) */
	uint64_t max_nonsync;   /* a {n+} literal; LITERAL- (RFC 7888) is 4096 */
	unsigned max_depth;     /* nesting of ( ) */
	size_t max_nodes;       /* argument tree nodes */
	size_t max_ranges;      /* ranges in one sequence set, before merging */
	bool utf8;              /* UTF8=ACCEPT enabled: names are UTF-8, not mUTF-7 */
};

/* 8 KiB lines (RFC 7162 §4 asks for at least that), 64 MiB commands and
 * literals, LITERAL+ (no non-sync bound), depth 16, 100000 nodes and ranges. */
void imap_cmd_limits_default(struct imap_cmd_limits *lim);

struct imap_literal {
	bool present;
	bool sync;       /* "{n}": the session sends "+ " first */
	bool literal8;   /* "~{n}" (RFC 3516) */
	uint64_t size;
};

/*
 * Does this line (no CRLF) end in a literal announcement outside a quoted
 * string, after a space or "(" (or at the start of a continuation)?
 * so_far is what the command holds before this line. E_TOO_LONG and
 * E_LITERAL_TOO_BIG still fill out: for a non-synchronizing literal the
 * octets are coming anyway and the session must read past them (or close).
 */
enum imap_cmd_err imap_cmd_literal(const char *line, size_t len, size_t so_far,
    const struct imap_cmd_limits *lim, struct imap_literal *out);

/* The tag of a line, for replying to a command whose literal was refused
 * before it was complete. false when there is none. */
bool imap_cmd_tag(const char *line, size_t len, const char **tag, size_t *taglen);

/* "DONE", which ends IDLE (RFC 2177), any case. */
bool imap_cmd_is_done(const char *line, size_t len);

struct imap_str {
	const char *p;   /* NULL when absent */
	size_t len;
};

#define IMAP_NODE_NONE SIZE_MAX

enum imap_node_type {
	IMAP_NODE_ATOM,     /* also NIL, numbers, sequence sets, flags, BODY[...]<...> */
	IMAP_NODE_QUOTED,   /* unescaped */
	IMAP_NODE_LITERAL,
	IMAP_NODE_LIST,
};

struct imap_node {
	enum imap_node_type type;
	bool nonsync, literal8;  /* LITERAL */
	struct imap_str s;       /* ATOM, QUOTED, LITERAL */
	size_t child;            /* LIST: first child */
	size_t next;             /* next sibling */
	size_t count;            /* LIST: children */
};

/* "*" as the caller resolves it: the largest number or UID in use. */
#define IMAP_SEQ_STAR UINT32_MAX

struct imap_range {
	uint32_t lo, hi;   /* lo <= hi, either may be IMAP_SEQ_STAR */
};

/* Sorted by lo, overlapping and adjacent ranges merged. The caller
 * resolves IMAP_SEQ_STAR (then "7:*" with 5 messages means 5:7). */
struct imap_seqset {
	const struct imap_range *r;
	size_t n;
	bool saved;   /* "$" (RFC 5182): the last saved SEARCH result */
};

enum {
	IMAP_FLAG_SEEN = 1u << 0, IMAP_FLAG_ANSWERED = 1u << 1,
	IMAP_FLAG_FLAGGED = 1u << 2, IMAP_FLAG_DELETED = 1u << 3,
	IMAP_FLAG_DRAFT = 1u << 4, IMAP_FLAG_RECENT = 1u << 5,
};

struct imap_flags {
	unsigned sys;                 /* IMAP_FLAG_* */
	const struct imap_str *kw;    /* keywords and other \flag-extensions */
	size_t nkw;
};

enum imap_fetch_kind {
	IMAP_FETCH_ENVELOPE, IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_RFC822, IMAP_FETCH_RFC822_HEADER, IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_RFC822_TEXT, IMAP_FETCH_BODY, IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_UID, IMAP_FETCH_MODSEQ,
	IMAP_FETCH_BODY_SECTION,   /* BODY[...] and BODY.PEEK[...] */
	IMAP_FETCH_BINARY,         /* BINARY[...] and BINARY.PEEK[...] */
	IMAP_FETCH_BINARY_SIZE,
};

enum imap_section_text {
	IMAP_SEC_NONE,     /* BODY[] or BODY[1.2] */
	IMAP_SEC_HEADER, IMAP_SEC_HEADER_FIELDS, IMAP_SEC_HEADER_FIELDS_NOT,
	IMAP_SEC_TEXT, IMAP_SEC_MIME,
};

struct imap_fetch_att {
	enum imap_fetch_kind kind;
	bool peek;
	const uint32_t *part;          /* section part numbers, each >= 1 */
	size_t nparts;
	enum imap_section_text text;
	const struct imap_str *fields; /* HEADER.FIELDS[.NOT] names */
	size_t nfields;
	bool partial;
	uint32_t offset, count;        /* <offset.count>, count >= 1 */
};

enum {
	IMAP_STATUS_MESSAGES = 1u << 0, IMAP_STATUS_RECENT = 1u << 1,
	IMAP_STATUS_UIDNEXT = 1u << 2, IMAP_STATUS_UIDVALIDITY = 1u << 3,
	IMAP_STATUS_UNSEEN = 1u << 4, IMAP_STATUS_DELETED = 1u << 5,
	IMAP_STATUS_SIZE = 1u << 6, IMAP_STATUS_HIGHESTMODSEQ = 1u << 7,
	IMAP_STATUS_APPENDLIMIT = 1u << 8,
};

enum {
	IMAP_LIST_SEL_SUBSCRIBED = 1u << 0, IMAP_LIST_SEL_REMOTE = 1u << 1,
	IMAP_LIST_SEL_RECURSIVEMATCH = 1u << 2, IMAP_LIST_SEL_SPECIAL_USE = 1u << 3,
	IMAP_LIST_RET_SUBSCRIBED = 1u << 8, IMAP_LIST_RET_CHILDREN = 1u << 9,
	IMAP_LIST_RET_SPECIAL_USE = 1u << 10, IMAP_LIST_RET_STATUS = 1u << 11,
};

enum imap_store_op { IMAP_STORE_REPLACE, IMAP_STORE_ADD, IMAP_STORE_REMOVE };

struct imap_append_msg {
	struct imap_flags flags;
	struct imap_str date;      /* date-time as sent, without quotes */
	struct imap_str data;      /* the literal's octets */
	bool literal8;
};

struct imap_cmd {
	struct imap_str tag;       /* into the input; set whenever it was read */
	enum imap_verb verb;       /* set whenever it was known */
	bool uid;                  /* UID COPY/MOVE/FETCH/SEARCH/STORE/EXPUNGE/SORT/THREAD */

	/* Every argument after the command name: nodes[first] and its
	 * siblings. SEARCH, SORT, THREAD, ENABLE, ID and SETQUOTA are left
	 * here for their own parsers. */
	const struct imap_node *nodes;
	size_t nnodes, first, nargs;

	/* FETCH STORE COPY MOVE, UID EXPUNGE */
	struct imap_seqset seq;
	/* UTF-8 (decoded from mUTF-7 unless lim->utf8), NUL-terminated, INBOX
	 * in any case made "INBOX". SELECT EXAMINE CREATE DELETE RENAME (both)
	 * SUBSCRIBE UNSUBSCRIBE STATUS APPEND COPY MOVE GETQUOTAROOT; LIST and
	 * LSUB: the reference. */
	struct imap_str mailbox, mailbox2;
	/* LOGIN user and password; AUTHENTICATE mechanism and initial
	 * response (arg2.p != NULL with len 0 for "="); COMPRESS mechanism;
	 * GETQUOTA and SETQUOTA the quota root. */
	struct imap_str arg1, arg2;

	struct {
		bool condstore, qresync;
		uint32_t uidvalidity;
		uint64_t modseq;
		struct imap_seqset known_uids, match_seq, match_uids;
	} select;
	struct {
		const struct imap_fetch_att *att;
		size_t n;
		bool changedsince_set, vanished;
		uint64_t changedsince;
	} fetch;
	struct {
		enum imap_store_op op;
		bool silent, unchangedsince_set;
		uint64_t unchangedsince;
		struct imap_flags flags;
	} store;
	const struct imap_append_msg *append;
	size_t nappend;
	unsigned status;           /* STATUS items; LIST RETURN (STATUS (...)) */
	struct {
		unsigned opts;     /* IMAP_LIST_* */
		const struct imap_str *patterns;  /* decoded like mailboxes */
		size_t npatterns;
	} list;

	void *arena_;              /* private: what imap_cmd_free() releases */
};

/*
 * Parses one complete command (see the top of this file). Keywords are
 * case-insensitive. On an error out->tag and out->verb say what was known,
 * and nothing needs freeing beyond imap_cmd_free(), which is always safe
 * to call once parse returned.
 */
enum imap_cmd_err imap_cmd_parse(const char *cmd, size_t len,
    const struct imap_cmd_limits *lim, struct imap_cmd *out);
void imap_cmd_free(struct imap_cmd *c);

#endif
