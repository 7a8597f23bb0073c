/*
 * smtp_addr: RFC 5321 §4.1.2 paths and mailboxes, with RFC 6531 (SMTPUTF8)
 * extensions. Pure: bytes in, struct or error out.
 */
#ifndef TERN_SMTP_ADDR_H
#define TERN_SMTP_ADDR_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5321 §4.5.3.1: the size limits, in octets. */
#define SMTP_LOCAL_MAX  64
#define SMTP_DOMAIN_MAX 255
#define SMTP_PATH_MAX   256

enum smtp_addr_err {
	SMTP_ADDR_OK = 0,
	SMTP_ADDR_SYNTAX,
	SMTP_ADDR_LOCAL_LONG,
	SMTP_ADDR_DOMAIN_LONG,
	SMTP_ADDR_PATH_LONG,
	SMTP_ADDR_NEED_UTF8,     /* non-ASCII without SMTPUTF8 */
};

struct smtp_path {
	bool null;                          /* "<>" */
	bool utf8;                          /* has non-ASCII octets */
	char local[SMTP_LOCAL_MAX + 1];     /* as on the wire, quotes kept */
	char domain[SMTP_DOMAIN_MAX + 1];   /* empty for RCPT's <postmaster> */
};

/* Which path a command takes; each has its own special form. */
enum smtp_path_kind {
	SMTP_PATH_REVERSE = 1,   /* MAIL: also "<>" (RFC 5321 §4.1.1.2) */
	SMTP_PATH_FORWARD,       /* RCPT: also "<Postmaster>", no domain,
	                          * no source route (RFC 5321 §4.1.1.3) */
};

/*
 * Parses a path starting at s[0] == '<'. kind says which special form is
 * allowed; allow_utf8 accepts non-ASCII (RFC 6531). A source route
 * "@a,@b:" is parsed and dropped (RFC 5321 §4.1.2, C.). On success
 * *consumed_r is the length up to and including '>'.
 */
enum smtp_addr_err smtp_addr_parse_path(const char *s, size_t len,
    enum smtp_path_kind kind, bool allow_utf8, struct smtp_path *out,
    size_t *consumed_r);

/* Parses a bare mailbox "local@domain" (no angle brackets), for config files
 * and ORCPT. The whole of s must be the mailbox. */
enum smtp_addr_err smtp_addr_parse_mailbox(const char *s, size_t len,
    bool allow_utf8, struct smtp_path *out);

/* Unquotes a local part: "\"a b\"" -> "a b"; a dot-string is copied. */
int smtp_addr_unquote_local(const char *local, char *out, size_t outsize);

/* Returns true when s[0..len) is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool smtp_utf8_valid(const char *s, size_t len);

const char *smtp_addr_strerror(enum smtp_addr_err e);

#endif
