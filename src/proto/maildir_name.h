/*
 * maildir_name: the name of a message file in a Maildir, as tern and
 * Dovecot share it (docs/mailbox-formats.md):
 *
 *     <base>[:<info>]
 *     base = <secs>.M<usecs>P<pid>[Q<n>].<host>[,S=<size>][,W=<vsize>]
 *     info = "2," <flags> [ "," <kept as is> ]  |  "1," <kept as is>  |  other
 *
 * flags are the letters D F P R S T (draft, flagged, passed, replied,
 * seen, trashed) and Dovecot's keyword letters a-z, in ASCII order. The
 * base is the message's identity (dovecot-uidlist keys on it); the info
 * changes with every flag change. Pure: bytes in, spans and numbers out;
 * names out into the caller's array.
 */
#ifndef TERN_MAILDIR_NAME_H
#define TERN_MAILDIR_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* NAME_MAX of the filesystems a Maildir lives on. */
#define MAILDIR_NAME_MAX 255

enum maildir_flag {
	MAILDIR_FLAG_DRAFT = 1 << 0,    /* D */
	MAILDIR_FLAG_FLAGGED = 1 << 1,  /* F */
	MAILDIR_FLAG_PASSED = 1 << 2,   /* P */
	MAILDIR_FLAG_REPLIED = 1 << 3,  /* R */
	MAILDIR_FLAG_SEEN = 1 << 4,     /* S */
	MAILDIR_FLAG_TRASHED = 1 << 5,  /* T */
};

enum maildir_info {
	MAILDIR_INFO_NONE,   /* no ':' (a name in tmp/ or new/) */
	MAILDIR_INFO_2,      /* ":2,<flags>[,<tail>]" */
	MAILDIR_INFO_1,      /* ":1,...": experimental info, kept as is */
	MAILDIR_INFO_OTHER,  /* anything else after the ':', kept as is */
};

enum maildir_name_err {
	MAILDIR_NAME_OK = 0,
	MAILDIR_NAME_EMPTY,
	MAILDIR_NAME_TOO_LONG,   /* over MAILDIR_NAME_MAX */
	MAILDIR_NAME_BAD_OCTET,  /* NUL, '/', CR or LF */
	MAILDIR_NAME_HIDDEN,     /* starts with '.': not a message */
	MAILDIR_NAME_NO_BASE,    /* starts with ':' */
};

/* A parsed name; the spans point into the parsed bytes. */
struct maildir_name {
	const char *base;         /* up to the first ':', ",S=" and ",W=" included */
	size_t base_len;
	bool has_size;            /* a well-formed ",S=<digits>" in the base */
	uint64_t size;
	bool has_vsize;           /* ",W=<digits>" */
	uint64_t vsize;
	enum maildir_info info;
	/* MAILDIR_INFO_2 only: */
	unsigned flags;           /* enum maildir_flag */
	uint32_t keywords;        /* bit n: the letter 'a' + n */
	const char *flag_text;    /* the flags as found, up to the ',' or the end */
	size_t flag_text_len;
	const char *tail;         /* from the ',' that ends the flags, or "" */
	size_t tail_len;
	/* MAILDIR_INFO_1 and MAILDIR_INFO_OTHER: everything after the ':' */
	const char *raw;
	size_t raw_len;
};

enum maildir_name_err maildir_name_parse(const char *name, size_t len,
    struct maildir_name *out);

/*
 * Writes n as a name into out[outsize] with a NUL: the base, then for
 * MAILDIR_INFO_2 ":2," and, sorted and each once, the flags, the
 * keywords and the octets of flag_text that are neither (a flag_text
 * letter the fields lack is dropped: flags and keywords say what is
 * set), then the tail; for MAILDIR_INFO_1/OTHER ':' and raw unchanged. Returns the length, or 0 when it does not fit, the base is
 * not a valid one, or flags are set on a name whose info is not
 * MAILDIR_INFO_2 (they would be lost).
 */
size_t maildir_name_build(const struct maildir_name *n, char *out,
    size_t outsize);

/*
 * Arrival order of two bases (or any two names): <0, 0 or >0. Runs of
 * digits compare by their value, the rest octet by octet, so that a base
 * "<secs>.M<usecs>P<pid>Q<n>" sorts by its time, as Dovecot sorts new
 * files before it gives them UIDs (seconds, then microseconds), and
 * tern's deliveries within one microsecond by their counter. Neither
 * number is zero-padded, so plain strcmp puts M99999 after M100000.
 * Names equal but for leading zeros fall back to their octets: a total
 * order, 0 only for equal names.
 */
int maildir_name_arrival_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* The inputs of a new unique base; the caller reads the clock and pid. */
struct maildir_uniq {
	int64_t secs;
	uint32_t usecs;           /* 0..999999 */
	uint64_t pid;
	bool with_seq;            /* "Q<seq>": several deliveries in one microsecond */
	uint64_t seq;
	const char *host;         /* the host name, escaped here */
	size_t host_len;
	bool with_size;           /* ",S=<size>" (the name in new/) */
	uint64_t size;
	bool with_vsize;          /* ",W=<vsize>": the size with CRLF line ends */
	uint64_t vsize;
};

/*
 * "<secs>.M<usecs>P<pid>[Q<seq>].<host>[,S=<size>][,W=<vsize>]" into
 * out[outsize] with a NUL. In the host, '/' becomes "\057" and ':'
 * "\072" (the Maildir convention), and ',' and octets outside 0x21-0x7e
 * become "\ooo" too, so that the host can neither end the base nor
 * fake a ",S=" field. Returns the length, or 0 for an empty host,
 * usecs over 999999, negative secs, or a name that does not fit.
 */
size_t maildir_name_new_base(const struct maildir_uniq *u, char *out,
    size_t outsize);

#endif
