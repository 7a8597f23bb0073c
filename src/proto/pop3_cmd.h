/*
 * pop3_cmd: POP3 command lines (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS,
 * RFC 5034 AUTH, RFC 6856 UTF8 and LANG). Pure: no session, no I/O.
 * One line without its CRLF in, the verb and its parsed arguments out, or
 * an error the session turns into "-ERR".
 */
#ifndef TERN_POP3_CMD_H
#define TERN_POP3_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pop3_verb {
	POP3_CMD_UNKNOWN = 0,
	POP3_CMD_USER, POP3_CMD_PASS, POP3_CMD_QUIT, POP3_CMD_STAT,
	POP3_CMD_LIST, POP3_CMD_RETR, POP3_CMD_DELE, POP3_CMD_NOOP,
	POP3_CMD_RSET, POP3_CMD_TOP, POP3_CMD_UIDL, POP3_CMD_CAPA,
	POP3_CMD_STLS, POP3_CMD_AUTH, POP3_CMD_UTF8, POP3_CMD_APOP,
	POP3_CMD_LANG,
};

enum pop3_cmd_err {
	POP3_CMD_OK = 0,
	POP3_CMD_E_UNKNOWN,   /* -ERR unknown command */
	POP3_CMD_E_SYNTAX,    /* -ERR: an argument missing, one too many, or malformed */
	POP3_CMD_E_NUMBER,    /* -ERR: not a message number (or TOP line count) */
	POP3_CMD_E_TOO_LONG,  /* -ERR: the line or an argument is over its limit */
	POP3_CMD_E_BAD_CHAR,  /* -ERR: NUL, CR or LF inside the line */
};

/* RFC 2449 §4: a command line is at most 255 octets with its CRLF, and
 * an argument at most 40. */
#define POP3_CMD_LINE_MAX 255
#define POP3_CMD_ARG_MAX 40
/* Message numbers and TOP's count: RFC 1939 sets no bound; this one fits
 * an int wherever the session puts them. */
#define POP3_MSG_MAX 2147483647u

struct pop3_cmd_limits {
	size_t max_line;   /* the whole line with its CRLF, as RFC 2449 counts */
	size_t max_arg;    /* one argument; PASS and AUTH's initial response
	                      are held to max_line alone */
};

struct pop3_cmd {
	enum pop3_verb verb;
	bool has_msg;        /* RETR, DELE, TOP; LIST and UIDL when given one */
	uint32_t msg;        /* 1..POP3_MSG_MAX when has_msg */
	uint32_t top_lines;  /* TOP: body lines, 0..POP3_MSG_MAX */
	/*
	 * Text arguments point into the line and are not NUL-terminated.
	 * arg: USER and APOP the name; PASS the password (the rest of the
	 * line); LANG the language range; AUTH the mechanism. NULL when the
	 * command has none (LANG and AUTH may come bare).
	 * arg2: APOP the digest; AUTH the initial response, NULL when none
	 * was sent and length 0 (not NULL) for "=", which RFC 5034 §4 uses
	 * for an empty one; sasl_server_start() takes it as it is.
	 */
	const char *arg;
	size_t arglen;
	const char *arg2;
	size_t arg2len;
};

/* Fills limits with the RFC 2449 values. */
void pop3_cmd_limits_default(struct pop3_cmd_limits *lim);

/*
 * Parses "VERB[ SP arg[ SP arg]]" (no CRLF; the line need not be
 * NUL-terminated). Verbs are case-insensitive. Trailing spaces are
 * dropped, except in PASS, whose argument is the rest of the line (RFC
 * 1939 §7 lets a server take spaces as part of the password). On an
 * error, out->verb still tells the command when it was known.
 */
enum pop3_cmd_err pop3_cmd_parse(const char *line, size_t len,
    const struct pop3_cmd_limits *lim, struct pop3_cmd *out);

#endif
