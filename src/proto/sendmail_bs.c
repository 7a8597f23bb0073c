/*
 * sendmail_bs: the SMTP dialogue of `sendmail -bs` (see the header).
 *
 * What is offered: PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES. Not
 * DSN (one maildrop file has one NOTIFY for all its recipients; -N, -R
 * and -V on the command line still apply), not SMTPUTF8, STARTTLS, AUTH
 * or CHUNKING: a parameter or command of those is refused as not offered.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../common/str.h"
#include "sendmail_bs.h"
#include "smtp_cmd.h"

enum { ST_CMD, ST_DATA, ST_QUIT };

/* DATA, where the line so far is: nothing yet, ".", ".\r", or more. */
enum { D_START, D_DOT, D_DOTCR, D_MID };

/* Replies go to out; running out of memory there ends the session at the
 * next return of sendmail_bs_feed. */
static void out_printf(struct sendmail_bs *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
out_printf(struct sendmail_bs *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (buf_vprintf(&s->out, fmt, ap) == -1)
		s->oom = true;
	va_end(ap);
}

static void
reply(struct sendmail_bs *s, int code, const char *esc, const char *text)
{
	out_printf(s, "%d %s %s\r\n", code, esc, text);
}

static void
tx_end(struct sendmail_bs *s)
{
	for (size_t k = 0; k < s->nrcpts; k++)
		free(s->rcpts[k]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->sender[0] = '\0';
	s->in_tx = false;
	s->too_big = false;
	buf_release(&s->msg);
}

void
sendmail_bs_init(struct sendmail_bs *s, const char *hostname, const char *postmaster,
    uint64_t max_size, size_t max_line)
{
	memset(s, 0, sizeof(*s));
	s->hostname = hostname;
	s->postmaster = postmaster;
	s->max_size = max_size;
	s->max_line = max_line;
	s->state = ST_CMD;
	out_printf(s, "220 %s ESMTP tern (sendmail -bs)\r\n", hostname);
}

void
sendmail_bs_clear(struct sendmail_bs *s)
{
	tx_end(s);
	buf_release(&s->out);
}

bool
sendmail_bs_in_data(const struct sendmail_bs *s)
{
	return s->state == ST_DATA;
}

/* "local@domain", or "" for <>; RCPT's <postmaster> is the configured one. */
static int
path_string(const struct sendmail_bs *s, const struct smtp_path *p, char *out, size_t size)
{
	if (p->null) {
		out[0] = '\0';
		return 0;
	}
	if (p->domain[0] == '\0')
		return s->postmaster[0] ? str_copy(out, size, s->postmaster) :
		    str_fmt(out, size, "%s@%s", p->local, s->hostname);
	return str_fmt(out, size, "%s@%s", p->local, p->domain);
}

/* MAIL's or RCPT's arguments did not parse (e, and pe for a path): why. */
static void
args_refused(struct sendmail_bs *s, enum smtp_cmd_err e, enum smtp_addr_err pe, bool mail)
{
	if (e == SMTP_CMD_E_PATH && pe == SMTP_ADDR_NEED_UTF8)
		reply(s, 553, "5.6.7", "Non-ASCII address: SMTPUTF8 is not offered here");
	else if (e == SMTP_CMD_E_PATH)
		reply(s, 501, mail ? "5.1.7" : "5.1.3", mail ? "Bad sender address syntax" :
		    "Bad recipient address syntax");
	else if (e == SMTP_CMD_E_SYNTAX)
		reply(s, 501, "5.5.4", mail ? "Syntax: MAIL FROM:<address>" :
		    "Syntax: RCPT TO:<address>");
	else if (e == SMTP_CMD_E_PARAM_UNKNOWN)
		reply(s, 555, "5.5.4", "Unsupported parameter");
	else
		reply(s, 501, "5.5.4", "Syntax error in parameters");
}

static void
cmd_hello(struct sendmail_bs *s, const struct smtp_cmd *c)
{
	if (c->arglen == 0) {
		reply(s, 501, "5.5.4", c->verb == SMTP_CMD_EHLO ? "Syntax: EHLO hostname" :
		    "Syntax: HELO hostname");
		return;
	}
	tx_end(s);     /* RFC 5321 §4.1.4: as RSET */
	s->greeted = true;
	if (c->verb == SMTP_CMD_HELO) {
		out_printf(s, "250 %s\r\n", s->hostname);
		return;
	}
	out_printf(s, "250-%s\r\n250-PIPELINING\r\n", s->hostname);
	if (s->max_size)
		out_printf(s, "250-SIZE %llu\r\n", (unsigned long long)s->max_size);
	else
		out_printf(s, "%s", "250-SIZE\r\n");
	out_printf(s, "%s", "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n");
}

static void
cmd_mail(struct sendmail_bs *s, const struct smtp_cmd *c)
{
	struct smtp_path from;
	struct smtp_mail_params p;
	enum smtp_addr_err pe = SMTP_ADDR_OK;
	enum smtp_cmd_err e;

	if (!s->greeted) {
		reply(s, 503, "5.5.1", "Send HELO or EHLO first");
		return;
	}
	if (s->in_tx) {
		reply(s, 503, "5.5.1", "Nested MAIL command");
		return;
	}
	e = smtp_cmd_parse_mail(c->arg, c->arglen, &from, &p, &pe);
	if (e != SMTP_CMD_OK) {
		args_refused(s, e, pe, true);
		return;
	}
	/* Only what EHLO offered. */
	if (p.body == SMTP_BODY_BINARYMIME || p.smtputf8 || p.ret != SMTP_RET_UNSET ||
	    p.envid[0] || p.auth[0]) {
		reply(s, 555, "5.5.4", "Unsupported parameter");
		return;
	}
	if (p.has_size && s->max_size && p.size > s->max_size) {
		reply(s, 552, "5.3.4", "Message size exceeds fixed maximum message size");
		return;
	}
	if (path_string(s, &from, s->sender, sizeof(s->sender)) == -1) {
		reply(s, 501, "5.1.7", "Bad sender address syntax");
		return;
	}
	s->in_tx = true;
	reply(s, 250, "2.1.0", "Ok");
}

static void
cmd_rcpt(struct sendmail_bs *s, const struct smtp_cmd *c)
{
	struct smtp_path to;
	struct smtp_rcpt_params p;
	enum smtp_addr_err pe = SMTP_ADDR_OK;
	enum smtp_cmd_err e;
	char addr[SMTP_PATH_MAX + 1], *copy, **grown;

	if (!s->in_tx) {
		reply(s, 503, "5.5.1", "Need MAIL before RCPT");
		return;
	}
	e = smtp_cmd_parse_rcpt(c->arg, c->arglen, false, &to, &p, &pe);
	if (e != SMTP_CMD_OK) {
		args_refused(s, e, pe, false);
		return;
	}
	if (p.notify || p.orcpt[0]) {
		reply(s, 555, "5.5.4", "Unsupported parameter (DSN is not offered here)");
		return;
	}
	if (s->nrcpts == MAILDROP_RCPT_MAX) {
		reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	if (path_string(s, &to, addr, sizeof(addr)) == -1) {
		reply(s, 501, "5.1.3", "Bad recipient address syntax");
		return;
	}
	if ((copy = str_dup(addr)) == NULL ||
	    (grown = reallocarray(s->rcpts, s->nrcpts + 1, sizeof(*grown))) == NULL) {
		free(copy);
		reply(s, 452, "4.3.1", "Out of memory");
		return;
	}
	s->rcpts = grown;
	s->rcpts[s->nrcpts++] = copy;
	reply(s, 250, "2.1.5", "Ok");
}

static void
cmd_data(struct sendmail_bs *s, const struct smtp_cmd *c)
{
	if (c->arglen) {
		reply(s, 501, "5.5.4", "Syntax: DATA");
		return;
	}
	if (!s->in_tx) {
		reply(s, 503, "5.5.1", "Need MAIL command");
		return;
	}
	if (s->nrcpts == 0) {
		reply(s, 554, "5.5.1", "No valid recipients");
		return;
	}
	s->state = ST_DATA;
	s->dstate = D_START;
	s->too_big = false;
	buf_reset(&s->msg);
	maildrop_input_init(&s->in, false, s->max_line);
	out_printf(s, "%s", "354 End data with <CR><LF>.<CR><LF>\r\n");
}

/* One command line, without its line end. */
static void
command(struct sendmail_bs *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	enum smtp_cmd_err e = smtp_cmd_parse(line, len, &c);

	if (e == SMTP_CMD_E_BAD_CHAR) {
		reply(s, 500, "5.5.2", "Syntax error: NUL or bare CR in the command");
		return;
	}
	if (e != SMTP_CMD_OK) {
		reply(s, 500, "5.5.1", "Command unrecognized");
		return;
	}
	switch (c.verb) {
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
		cmd_hello(s, &c);
		break;
	case SMTP_CMD_MAIL:
		cmd_mail(s, &c);
		break;
	case SMTP_CMD_RCPT:
		cmd_rcpt(s, &c);
		break;
	case SMTP_CMD_DATA:
		cmd_data(s, &c);
		break;
	case SMTP_CMD_RSET:
		tx_end(s);
		reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTP_CMD_NOOP:
		reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTP_CMD_QUIT:
		reply(s, 221, "2.0.0", "Bye");
		s->state = ST_QUIT;
		break;
	case SMTP_CMD_HELP:
		reply(s, 214, "2.0.0", "See sendmail(1) and RFC 5321");
		break;
	case SMTP_CMD_VRFY:
		reply(s, 252, "2.5.0", "Cannot VRFY user; try RCPT");
		break;
	case SMTP_CMD_UNKNOWN:
		reply(s, 500, "5.5.1", "Command unrecognized");
		break;
	default:       /* EXPN, LHLO, BDAT, STARTTLS, AUTH */
		reply(s, 502, "5.5.1", "Command not implemented");
		break;
	}
}

/* Command bytes: lines end at LF, a CR before it dropped. */
static size_t
feed_commands(struct sendmail_bs *s, const char *in, size_t n)
{
	size_t i = 0;

	while (i < n && s->state == ST_CMD) {
		const char *lf = memchr(in + i, '\n', n - i);
		size_t k = lf ? (size_t)(lf - (in + i)) : n - i;

		if (!s->skip) {
			if (s->linelen + k > SENDMAIL_BS_LINE_MAX - 2)
				s->skip = true;    /* no room for it and its CRLF */
			else {
				memcpy(s->line + s->linelen, in + i, k);
				s->linelen += k;
			}
		}
		i += k;
		if (lf == NULL)
			break;
		i++;
		if (s->skip)
			reply(s, 500, "5.5.2", "Line too long");
		else {
			size_t len = s->linelen;

			if (len && s->line[len - 1] == '\r')
				len--;
			s->line[len] = '\0';
			command(s, s->line, len);
		}
		s->skip = false;
		s->linelen = 0;
	}
	return i;
}

static int
store(struct sendmail_bs *s, const char *p, size_t n)
{
	if (s->too_big)
		return 0;
	if (maildrop_input_feed(&s->in, p, n, &s->msg) == -1)
		return -1;
	if (s->max_size && s->in.size > s->max_size) {
		s->too_big = true;     /* read on to the end, keep nothing */
		buf_release(&s->msg);
	}
	return 0;
}

/*
 * Message bytes up to the lone dot. Returns the octets used, which is less
 * than n only when the end was found (state back to ST_CMD, *end set), or
 * (size_t)-1 when out of memory.
 */
static size_t
feed_data(struct sendmail_bs *s, const char *in, size_t n, bool *end)
{
	size_t i = 0;

	*end = false;
	while (i < n) {
		char c = in[i];

		if (s->dstate == D_START && c == '.') {
			s->dstate = D_DOT;
			i++;
			continue;
		}
		if (s->dstate == D_DOT || s->dstate == D_DOTCR) {
			if (c == '\n') {
				*end = true;
				return i + 1;
			}
			if (c == '\r' && s->dstate == D_DOT) {
				s->dstate = D_DOTCR;
				i++;
				continue;
			}
			/* A dot-stuffed line: the dot goes, a held CR stays. */
			if (s->dstate == D_DOTCR && store(s, "\r", 1) == -1)
				return (size_t)-1;
		}
		s->dstate = D_MID;

		const char *lf = memchr(in + i, '\n', n - i);
		size_t k = lf ? (size_t)(lf - (in + i)) + 1 : n - i;

		if (store(s, in + i, k) == -1)
			return (size_t)-1;
		i += k;
		if (lf)
			s->dstate = D_START;
	}
	return i;
}

int
sendmail_bs_feed(struct sendmail_bs *s, const char *in, size_t n, size_t *used_r)
{
	size_t i = 0;

	*used_r = 0;
	while (i < n) {
		if (s->state == ST_QUIT)
			break;
		if (s->state == ST_CMD) {
			i += feed_commands(s, in + i, n - i);
			continue;
		}

		bool end;
		size_t k = feed_data(s, in + i, n - i, &end);

		if (k == (size_t)-1)
			return -1;
		i += k;
		if (!end)
			continue;
		s->state = ST_CMD;
		if (maildrop_input_end(&s->in, &s->msg) == -1)
			return -1;
		if (s->too_big)
			reply(s, 552, "5.3.4", "Message size exceeds fixed maximum message size");
		else if (s->in.long_line) {
			out_printf(s, "500 5.5.2 Message contains a line longer "
			    "than %zu octets\r\n", s->max_line);
		} else {
			*used_r = i;
			return SENDMAIL_BS_MESSAGE;
		}
		tx_end(s);
	}
	*used_r = i;
	if (s->oom)
		return -1;
	return s->state == ST_QUIT ? SENDMAIL_BS_QUIT : SENDMAIL_BS_MORE;
}

void
sendmail_bs_stored(struct sendmail_bs *s, const char *id, int code, const char *esc,
    const char *why)
{
	if (id)
		out_printf(s, "250 2.0.0 Ok: queued as %s\r\n", id);
	else
		reply(s, code, esc, why);
	tx_end(s);
}
