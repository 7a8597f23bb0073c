/*
 * maildrop: see maildrop.h; the format and its states are in
 * docs/sendmail.md.
 *
 *   file    = "tern-maildrop 1" LF
 *             "sender" SP word LF
 *             [ "fullname" SP word LF ] [ "flags" SP word LF ]
 *             [ "notify" SP word LF ] [ "ret" SP word LF ]
 *             [ "envid" SP word LF ]
 *             1*( "rcpt" SP word LF )
 *             "size" SP 1*DIGIT LF
 *             "data" LF
 *             message           ; exactly size octets, CRLF lines, then EOF
 *
 * A word is word.h's escaped word. The lines come in this order, each once
 * but rcpt: one order is one spelling, and a reader that refuses the rest
 * has nothing to guess.
 */
#include "maildrop.h"

#include <stdlib.h>
#include <string.h>

#include "../common/str.h"
#include "rfc5322.h"
#include "smtp_cmd.h"
#include "word.h"

#define MAGIC "tern-maildrop 1\n"

const char *
maildrop_strerror(enum maildrop_err e)
{
	switch (e) {
	case MAILDROP_OK: return "ok";
	case MAILDROP_EMAGIC: return "not a maildrop file of this version";
	case MAILDROP_ESYNTAX: return "malformed header";
	case MAILDROP_ERCPTS: return "no recipient, or too many";
	case MAILDROP_ESIZE: return "message size wrong or too large";
	case MAILDROP_EEOL: return "bare CR or LF in the message";
	case MAILDROP_ELONG: return "message line too long";
	case MAILDROP_ENOMEM: return "out of memory";
	}
	return "?";
}

int
maildrop_add_rcpt(struct maildrop *md, const char *addr)
{
	if (md->nrcpts == md->rcpt_cap) {
		size_t cap = md->rcpt_cap ? md->rcpt_cap * 2 : 8;
		const char **r = reallocarray(md->rcpts, cap, sizeof(*r));

		if (r == NULL)
			return -1;
		md->rcpts = r;
		md->rcpt_cap = cap;
	}
	md->rcpts[md->nrcpts++] = addr;
	return 0;
}

void
maildrop_clear(struct maildrop *md)
{
	free(md->rcpts);
	memset(md, 0, sizeof(*md));
}

/* ------------------------------------------------------------ values -- */

enum value_kind { V_ADDR, V_NAME, V_ENVID };

/* What each kind of value may hold: an address no control octet (a
 * quoted local part may hold a space), a name neither (it may become a
 * From: field), an ENVID only xtext's printable ASCII. */
static bool
value_ok(const char *s, enum value_kind kind)
{
	size_t i, len = strlen(s);

	if (len > (kind == V_ENVID ? MAILDROP_ENVID_MAX : MAILDROP_VALUE_MAX))
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || (kind == V_ENVID && (c == ' ' || c > 0x7e)))
			return false;
	}
	return true;
}

static const struct {
	unsigned bit;
	const char *name;
} notify_names[] = {
	{ SMTP_NOTIFY_SUCCESS, "success" },
	{ SMTP_NOTIFY_FAILURE, "failure" },
	{ SMTP_NOTIFY_DELAY, "delay" },
	{ SMTP_NOTIFY_NEVER, "never" },
};
#define NNOTIFY (sizeof(notify_names) / sizeof(notify_names[0]))

/* "never" alone, or a list of success, failure, delay, as for -N, in
 * the table's order (one spelling). */
static int
notify_parse(const char *s, unsigned *out)
{
	unsigned v = 0;
	size_t prev = 0;

	while (*s) {
		size_t n = strcspn(s, ","), i;

		for (i = 0; i < NNOTIFY; i++)
			if (strlen(notify_names[i].name) == n &&
			    strncmp(s, notify_names[i].name, n) == 0)
				break;
		if (i == NNOTIFY || (v && i <= prev))
			return -1;
		prev = i;
		v |= notify_names[i].bit;
		s += n;
		if (*s == ',' && *++s == '\0')
			return -1;
	}
	if (v == 0 || ((v & SMTP_NOTIFY_NEVER) && v != SMTP_NOTIFY_NEVER))
		return -1;
	*out = v;
	return 0;
}

/* --------------------------------------------------------- the writer -- */

static int
put_line(struct buf *out, const char *key, const char *value)
{
	if (buf_append_str(out, key) == -1 || buf_append_char(out, ' ') == -1 ||
	    word_put(out, value) == -1)
		return -1;
	return buf_append_char(out, '\n');
}

int
maildrop_encode(const struct maildrop *md, struct buf *out)
{
	char flags[3], notify[32] = "";
	size_t i, nf = 0;

	if (md->nrcpts == 0 || md->nrcpts > MAILDROP_RCPT_MAX ||
	    !value_ok(md->sender, V_ADDR) || !value_ok(md->fullname ? md->fullname : "", V_NAME) ||
	    !value_ok(md->envid ? md->envid : "", V_ENVID))
		return -1;
	if (md->flags & MAILDROP_F_T)
		flags[nf++] = 't';
	if (md->flags & MAILDROP_F_I)
		flags[nf++] = 'i';
	flags[nf] = '\0';
	for (i = 0; i < NNOTIFY; i++)
		if (md->notify & notify_names[i].bit) {
			if (notify[0])
				strcat(notify, ",");
			strcat(notify, notify_names[i].name);
		}
	if (buf_append_str(out, MAGIC) == -1 || put_line(out, "sender", md->sender) == -1 ||
	    (md->fullname && md->fullname[0] && put_line(out, "fullname", md->fullname) == -1) ||
	    (nf && put_line(out, "flags", flags) == -1) ||
	    (notify[0] && put_line(out, "notify", notify) == -1) ||
	    (md->ret && put_line(out, "ret", md->ret == SMTP_RET_HDRS ? "hdrs" : "full") == -1) ||
	    (md->envid && md->envid[0] && put_line(out, "envid", md->envid) == -1))
		return -1;
	for (i = 0; i < md->nrcpts; i++)
		if (md->rcpts[i][0] == '\0' || !value_ok(md->rcpts[i], V_ADDR) ||
		    put_line(out, "rcpt", md->rcpts[i]) == -1)
			return -1;
	if (buf_printf(out, "size %zu\ndata\n", md->msglen) == -1)
		return -1;
	return buf_append(out, md->msg, md->msglen);
}

/* --------------------------------------------------------- the reader -- */

/* The header's lines, in the one order they may come in. */
enum key { K_SENDER, K_FULLNAME, K_FLAGS, K_NOTIFY, K_RET, K_ENVID, K_RCPT, K_SIZE, K_DATA };
static const char *const key_names[] = {
	"sender", "fullname", "flags", "notify", "ret", "envid", "rcpt", "size", "data",
};
#define NKEYS (sizeof(key_names) / sizeof(key_names[0]))

/* The token is word_put's spelling of its value: %XX only for an octet
 * that must be escaped, "-" only alone. A second spelling of a file would
 * be one more thing for a reader to get wrong. */
static bool
canonical_word(const char *tok)
{
	size_t i;

	if (tok[0] == '-')
		return tok[1] == '\0';
	for (i = 0; tok[i]; i++) {
		int hi, lo, c;

		if (tok[i] != '%')
			continue;
		if ((hi = word_hexval(tok[i + 1])) < 0 || (lo = word_hexval(tok[i + 2])) < 0)
			return false;
		c = hi << 4 | lo;
		if (!(c <= 0x20 || c == 0x7f || c == '%' || (i == 0 && c == '-')))
			return false;
		i += 2;
	}
	return true;
}

/* One value of key k into md; -1 when it is out of range. */
static int
take_value(struct maildrop *md, enum key k, const char *v, uint64_t *size)
{
	char *end;
	unsigned long long n;

	switch (k) {
	case K_SENDER:
		md->sender = v;
		return value_ok(v, V_ADDR) ? 0 : -1;
	case K_FULLNAME:
		md->fullname = v;
		return v[0] && value_ok(v, V_NAME) ? 0 : -1;
	case K_FLAGS:
		for (; *v; v++) {
			unsigned bit = *v == 't' ? MAILDROP_F_T : *v == 'i' ? MAILDROP_F_I : 0;

			/* Each once, t before i. */
			if (bit == 0 || md->flags >= bit)
				return -1;
			md->flags |= bit;
		}
		return md->flags ? 0 : -1;
	case K_NOTIFY:
		return notify_parse(v, &md->notify);
	case K_RET:
		md->ret = strcmp(v, "full") == 0 ? SMTP_RET_FULL :
		    strcmp(v, "hdrs") == 0 ? SMTP_RET_HDRS : SMTP_RET_UNSET;
		return md->ret ? 0 : -1;
	case K_ENVID:
		md->envid = v;
		return v[0] && value_ok(v, V_ENVID) ? 0 : -1;
	case K_RCPT:
		return v[0] && value_ok(v, V_ADDR) ? 0 : -1;
	case K_SIZE:
		if (v[0] < '0' || v[0] > '9' || (v[0] == '0' && v[1]))
			return -1;
		n = strtoull(v, &end, 10);
		if (*end || n == ~0ULL)
			return -1;
		*size = n;
		return 0;
	case K_DATA:
		break;
	}
	return -1;
}

/* The message: CRLF lines only, none longer than max_line with its CRLF. */
static enum maildrop_err
check_message(const char *p, size_t len, size_t max_line)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r') {
			if (i + 1 == len || p[i + 1] != '\n')
				return MAILDROP_EEOL;
		} else if (p[i] == '\n') {
			if (i == 0 || p[i - 1] != '\r')
				return MAILDROP_EEOL;
			if (max_line && i + 1 - start > max_line)
				return MAILDROP_ELONG;
			start = i + 1;
		}
	}
	if (max_line && len - start > max_line)
		return MAILDROP_ELONG;
	return MAILDROP_OK;
}

enum maildrop_err
maildrop_decode(char *data, size_t len, uint64_t max_size, size_t max_line,
    struct maildrop *md)
{
	size_t pos = sizeof(MAGIC) - 1;
	uint64_t size = 0;
	int last = -1;

	if (len < pos || memcmp(data, MAGIC, pos) != 0)
		return MAILDROP_EMAGIC;
	md->fullname = md->envid = "";
	for (;;) {
		char *line = data + pos, *nl, *tok[3];
		size_t avail = len - pos, k;
		int n;

		nl = memchr(line, '\n', avail < MAILDROP_HDR_LINE_MAX ? avail : MAILDROP_HDR_LINE_MAX);
		if (nl == NULL || memchr(line, '\0', (size_t)(nl - line)) != NULL)
			return MAILDROP_ESYNTAX;
		*nl = '\0';
		pos += (size_t)(nl - line) + 1;
		n = word_split(line, tok, 3);
		if (n < 1)
			return MAILDROP_ESYNTAX;
		for (k = 0; k < NKEYS; k++)
			if (strcmp(tok[0], key_names[k]) == 0)
				break;
		/* Each key after the last, rcpt again after rcpt. */
		if (k == NKEYS || (int)k < last || ((int)k == last && k != K_RCPT) ||
		    n != (k == K_DATA ? 1 : 2))
			return MAILDROP_ESYNTAX;
		if (k == K_SIZE && md->nrcpts == 0)
			return MAILDROP_ERCPTS;
		if (k == K_DATA) {
			if (last != K_SIZE)
				return MAILDROP_ESYNTAX;
			break;
		}
		if (k != K_SENDER && last == -1)
			return MAILDROP_ESYNTAX;
		if (!canonical_word(tok[1]) || word_get(tok[1]) == NULL || take_value(md, (enum key)k, tok[1], &size) == -1)
			return MAILDROP_ESYNTAX;
		if (k == K_RCPT) {
			if (md->nrcpts == MAILDROP_RCPT_MAX)
				return MAILDROP_ERCPTS;
			if (maildrop_add_rcpt(md, tok[1]) == -1)
				return MAILDROP_ENOMEM;
		}
		last = (int)k;
	}
	if (size != len - pos || (max_size && size > max_size))
		return MAILDROP_ESIZE;
	md->msg = data + pos;
	md->msglen = len - pos;
	return check_message(md->msg, md->msglen, max_line);
}

/* ------------------------------------------------------ the input side -- */

void
maildrop_input_init(struct maildrop_input *in, bool dot_ends, size_t max_line)
{
	memset(in, 0, sizeof(*in));
	in->dot_ends = dot_ends;
	in->max_line = max_line;
}

static int
input_put(struct maildrop_input *in, struct buf *out, const char *p, size_t n)
{
	in->size += n;
	return buf_append(out, p, n);
}

/* The line ends: the lone dot ends the input, any other line gets CRLF. */
static int
input_eol(struct maildrop_input *in, struct buf *out)
{
	if (in->dot) {
		in->done = true;
		return 0;
	}
	in->linelen = 0;
	return input_put(in, out, "\r\n", 2);
}

int
maildrop_input_feed(struct maildrop_input *in, const char *p, size_t n,
    struct buf *out)
{
	size_t i = 0;

	while (i < n && !in->done) {
		size_t run;

		if (in->cr) {
			in->cr = false;
			if (p[i] == '\n') {
				i++;
				continue;
			}
		}
		if (p[i] == '\r' || p[i] == '\n') {
			in->cr = p[i++] == '\r';
			if (input_eol(in, out) == -1)
				return -1;
			continue;
		}
		/* A "." that starts a line is held back until the next octet
		 * says whether it is the lone dot. */
		if (in->dot_ends && in->linelen == 0 && p[i] == '.' && !in->dot) {
			in->dot = true;
			i++;
			continue;
		}
		if (in->dot) {
			in->dot = false;
			in->linelen = 1;
			if (input_put(in, out, ".", 1) == -1)
				return -1;
		}
		for (run = 0; i + run < n && p[i + run] != '\r' && p[i + run] != '\n'; run++)
			;
		in->linelen += run;
		if (in->max_line && in->linelen + 2 > in->max_line)
			in->long_line = true;
		if (input_put(in, out, p + i, run) == -1)
			return -1;
		i += run;
	}
	return 0;
}

int
maildrop_input_end(struct maildrop_input *in, struct buf *out)
{
	if (in->done || in->dot) {
		in->done = true;   /* a "." on the last line, without its end */
		return 0;
	}
	return in->linelen > 0 ? input_eol(in, out) : 0;
}

/* ------------------------------------------------------------------ -t -- */

/* One address being read out of a field's value. */
struct addr_acc {
	char text[MAILDROP_VALUE_MAX + 1];   /* outside comments, unquoted WSP dropped */
	char angle[MAILDROP_VALUE_MAX + 1];  /* inside <...> */
	size_t tlen, alen;
	bool has_angle, too_long;
};

static void
acc_put(char *dst, size_t *len, char c, bool *too_long)
{
	if (*len == MAILDROP_VALUE_MAX)
		*too_long = true;
	else
		dst[(*len)++] = c;
}

/* The item ends: the address in angle brackets, else the rest, if any. */
static int
acc_emit(struct addr_acc *a, int (*rcpt)(void *, const char *), void *arg, int *rc)
{
	const char *addr;

	a->text[a->tlen] = '\0';
	a->angle[a->alen] = '\0';
	addr = a->has_angle ? a->angle : a->text;
	if (a->too_long)
		return -1;
	if (addr[0] && (*rc = rcpt(arg, addr)) != 0)
		return -1;
	memset(a, 0, sizeof(*a));
	return 0;
}

/*
 * The addresses of one To/Cc/Bcc value (RFC 5322 §3.4): items split at
 * commas outside quoted strings, comments, angle brackets and domain
 * literals; a group's "name:" dropped and its ";" an end like a comma.
 * Folding CRLFs are white space.
 */
static enum maildrop_err
value_rcpts(const char *v, size_t len, int (*rcpt)(void *, const char *), void *arg,
    int *rc)
{
	struct addr_acc a = { 0 };
	bool quote = false, angle = false, lit = false;
	int depth = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = v[i];
		char *dst = angle ? a.angle : a.text;
		size_t *dlen = angle ? &a.alen : &a.tlen;

		if (depth) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (quote) {
			/* Kept as written, quotes and quoted pairs too: a
			 * quoted local part is the address's own spelling. */
			if (c == '\\' && i + 1 < len) {
				acc_put(dst, dlen, c, &a.too_long);
				c = v[++i];
			} else if (c == '"')
				quote = false;
			if (c != '\r' && c != '\n')
				acc_put(dst, dlen, c, &a.too_long);
			continue;
		}
		if (c == '"') {
			quote = true;
			acc_put(dst, dlen, c, &a.too_long);
		} else if (c == '(')
			depth = 1;
		else if (lit) {
			lit = c != ']';
			acc_put(dst, dlen, c, &a.too_long);
		} else if (c == '[') {
			lit = true;
			acc_put(dst, dlen, c, &a.too_long);
		} else if (angle) {
			if (c == '>')
				angle = false;
			else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
				acc_put(dst, dlen, c, &a.too_long);
		} else if (c == '<') {
			angle = a.has_angle = true;
			a.alen = 0;
		} else if (c == ',' || c == ';') {
			if (acc_emit(&a, rcpt, arg, rc) == -1)
				return a.too_long ? MAILDROP_ESYNTAX : MAILDROP_OK;
		} else if (c == ':') {
			a.tlen = 0;    /* a group's display name */
			a.too_long = false;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			acc_put(dst, dlen, c, &a.too_long);
	}
	if (acc_emit(&a, rcpt, arg, rc) == -1 && a.too_long)
		return MAILDROP_ESYNTAX;
	return MAILDROP_OK;
}

enum maildrop_err
maildrop_header_rcpts(const char *msg, size_t len, struct buf *out,
    int (*rcpt)(void *arg, const char *addr), void *arg)
{
	size_t pos = 0;
	int rc = 0;

	while (pos < len && rc == 0) {
		size_t end = pos, nlen, colon = 0;
		bool bcc;

		/* One field: its line and the lines that continue it. */
		do {
			const char *nl = memchr(msg + end, '\n', len - end);

			end = nl ? (size_t)(nl - msg) + 1 : len;
		} while (end < len && (msg[end] == ' ' || msg[end] == '\t'));
		if (end - pos <= 2 && (msg[pos] == '\r' || msg[pos] == '\n'))
			break;   /* the empty line: the body follows */
		nlen = rfc5322_field_name(msg + pos, end - pos, &colon);
		bcc = nlen == 3 && str_ieqn(msg + pos, 3, "bcc");
		if ((nlen == 2 && (str_ieqn(msg + pos, 2, "to") || str_ieqn(msg + pos, 2, "cc"))) ||
		    bcc) {
			enum maildrop_err e = value_rcpts(msg + pos + colon + 1, end - pos - colon - 1,
			    rcpt, arg, &rc);

			if (e != MAILDROP_OK)
				return e;
		}
		if (!bcc && buf_append(out, msg + pos, end - pos) == -1)
			return MAILDROP_ENOMEM;
		pos = end;
	}
	if (rc != 0)
		return MAILDROP_ERCPTS;
	return buf_append(out, msg + pos, len - pos) == -1 ? MAILDROP_ENOMEM : MAILDROP_OK;
}
