/*
 * smtp_cmd: SMTP command lines and the ESMTP parameters of MAIL and RCPT
 * (RFC 5321 §4.1, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3030 BDAT,
 * RFC 6531 SMTPUTF8, RFC 3461 DSN). Pure: no session, no I/O.
 */
#ifndef TERN_SMTP_CMD_H
#define TERN_SMTP_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp_addr.h"

enum smtp_verb {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO, SMTP_CMD_EHLO, SMTP_CMD_LHLO, SMTP_CMD_MAIL,
	SMTP_CMD_RCPT, SMTP_CMD_DATA, SMTP_CMD_BDAT, SMTP_CMD_RSET,
	SMTP_CMD_NOOP, SMTP_CMD_QUIT, SMTP_CMD_VRFY, SMTP_CMD_EXPN,
	SMTP_CMD_HELP, SMTP_CMD_STARTTLS, SMTP_CMD_AUTH,
};

enum smtp_cmd_err {
	SMTP_CMD_OK = 0,
	SMTP_CMD_E_VERB,          /* 500 5.5.1 unrecognized command */
	SMTP_CMD_E_SYNTAX,        /* 501 5.5.4 syntax error in arguments */
	SMTP_CMD_E_BAD_CHAR,      /* 500 5.5.2 NUL, bare CR or LF in the line */
	SMTP_CMD_E_PATH,          /* 501/553: see path_err */
	SMTP_CMD_E_PARAM_UNKNOWN, /* 555 5.5.4 */
	SMTP_CMD_E_PARAM_SYNTAX,  /* 501 5.5.4 */
};

struct smtp_cmd {
	enum smtp_verb verb;
	const char *arg;     /* points into the line; after the verb and one SP */
	size_t arglen;
};

enum smtp_body { SMTP_BODY_7BIT = 0, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_UNSET = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

#define SMTP_NOTIFY_SUCCESS 0x1
#define SMTP_NOTIFY_FAILURE 0x2
#define SMTP_NOTIFY_DELAY   0x4
#define SMTP_NOTIFY_NEVER   0x8

/* RFC 3461 §4.4: ENVID at most 100 characters; §4.2: ORCPT at most 500. */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500

struct smtp_mail_params {
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	char envid[SMTP_ENVID_MAX + 1];    /* xtext as received; "" if none */
	char auth[SMTP_PATH_MAX + 1];      /* AUTH= xtext as received; "" if none */
};

struct smtp_rcpt_params {
	unsigned notify;                   /* SMTP_NOTIFY_*; 0 = not given */
	char orcpt[SMTP_ORCPT_MAX + 1];    /* "rfc822;xtext" as received; "" */
};

/* Splits "VERB[ SP args]" (no CRLF). Verbs are case-insensitive. */
enum smtp_cmd_err smtp_cmd_parse(const char *line, size_t len,
    struct smtp_cmd *out);

/*
 * MAIL arguments: "FROM:" Reverse-path [SP Mail-parameters]. One space after
 * the colon is tolerated (common clients send it). On SMTP_CMD_E_PATH,
 * *path_err_r says why.
 */
enum smtp_cmd_err smtp_cmd_parse_mail(const char *arg, size_t len,
    struct smtp_path *from, struct smtp_mail_params *p,
    enum smtp_addr_err *path_err_r);

/* RCPT arguments: "TO:" Forward-path [SP Rcpt-parameters]. */
enum smtp_cmd_err smtp_cmd_parse_rcpt(const char *arg, size_t len,
    bool allow_utf8, struct smtp_path *to, struct smtp_rcpt_params *p,
    enum smtp_addr_err *path_err_r);

/* BDAT arguments: chunk-size [SP "LAST"]. */
enum smtp_cmd_err smtp_cmd_parse_bdat(const char *arg, size_t len,
    uint64_t *size_r, bool *last_r);

/* RFC 3461 §4: xtext = *( xchar / hexchar ). */
bool smtp_xtext_valid(const char *s, size_t len);

#endif
