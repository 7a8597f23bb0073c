/*
 * smtp_client_msg: the message as the SMTP client sends it: dot-stuffing
 * the body, and whether a message that came with SMTPUTF8 needs it on
 * the way out. No connection state: the client passes what these need.
 */
#include "smtp_client_msg.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

/*
 * Dot-stuffing (RFC 5321 §4.5.2). A line starts after LF and also after a
 * lone CR: tern's queue holds CRLF only, but a receiver that takes a bare
 * CR (or LF) for a line end would read an unstuffed "\r.\r\n" as the end
 * of the data and the rest as commands. Stuffing there costs a strict
 * receiver one extra dot in a line that contains a bare CR, which no
 * conforming message has.
 */
void
smtp_client_stuff(struct evbuffer *out, bool *at_bol, const char *p, size_t n)
{
	size_t i, start;

	for (i = start = 0; i < n; i++) {
		if (*at_bol && p[i] == '.') {
			evbuffer_add(out, p + start, i - start);
			evbuffer_add(out, ".", 1);
			start = i;
		}
		*at_bol = p[i] == '\n' || p[i] == '\r';
	}
	evbuffer_add(out, p + start, n - start);
}

static bool
has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return true;
	}
	return false;
}

/*
 * Feeds header octets to a search for 8-bit octets before the empty line
 * that ends the header section. *tail holds the last octets seen (start
 * with "\r\n": the message starts a line). Returns 1 for an 8-bit octet
 * in the header, 0 at the header's end, -1 to be fed more.
 */
static int
header_scan(uint32_t *tail, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] >= 0x80)
			return 1;
		*tail = *tail << 8 | (unsigned char)p[i];
		if (*tail == 0x0d0a0d0a)
			return 0;
	}
	return -1;
}

/*
 * Whether a message that came with SMTPUTF8 really needs it (RFC 6531
 * §3.2, §3.4): a non-ASCII address in the envelope, or non-ASCII in the
 * header section (RFC 6532) of what goes out: our DKIM fields, our
 * Received field (it may quote a UTF-8 recipient) and the client's
 * header. An 8-bit body needs only 8BITMIME. The header is read from the
 * queue file here, not recorded on arrival: the envelope block is written
 * before the header arrives, and the scan stops at the header's end.
 * Returns 1, 0, or -1 when the queue file cannot be read.
 */
int
smtp_client_needs_smtputf8(const struct smtp_client_tx *tx)
{
	char in[64 * 1024];
	uint32_t tail = 0x0d0a;
	uint64_t done = 0;
	size_t i;
	int r;

	if (has_8bit(tx->sender, strlen(tx->sender)))
		return 1;
	for (i = 0; i < tx->nrcpt; i++) {
		if (has_8bit(tx->rcpt[i], strlen(tx->rcpt[i])))
			return 1;
	}
	if (tx->prefix_len && (r = header_scan(&tail, tx->prefix, tx->prefix_len)) >= 0)
		return r;
	while (done < tx->len) {
		uint64_t left = tx->len - done;
		size_t want = left < sizeof(in) ? (size_t)left : sizeof(in);
		ssize_t n = pread(tx->fd, in, want, (off_t)(tx->off + done));

		if (n <= 0)
			return -1;
		if ((r = header_scan(&tail, in, (size_t)n)) >= 0)
			return r;
		done += (uint64_t)n;
	}
	return 0;
}
