/*
 * mime_decode: the decoders IMAP needs for BINARY[] (RFC 3516) and
 * SEARCH (RFC 9051 §6.4.4): base64 and quoted-printable bodies
 * (RFC 2045 §6.7, §6.8), streaming and tolerant as mail demands (what
 * cannot be decoded is skipped or kept, never an error that loses the
 * rest), and RFC 2047 encoded words in header values to UTF-8 through
 * iconv. Pure: bytes in, bytes out into a buf.
 */
#ifndef TERN_MIME_DECODE_H
#define TERN_MIME_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

/* base64: octets outside the alphabet (line ends, garbage) are skipped
 * and counted; "=" ends the data, what follows is ignored. */
struct b64_dec {
	uint32_t acc;
	unsigned nbits;
	bool ended;          /* padding seen */
	uint64_t skipped;    /* octets that were not base64 (line ends too) */
};

void b64_dec_init(struct b64_dec *d);
/* 0, or -1 when out cannot grow. Any chunking gives the same output. */
int b64_dec_feed(struct b64_dec *d, const char *in, size_t n, struct buf *out);

/* quoted-printable: "=XY" decoded (hex in either case), "=" at a line's
 * end (after optional WSP) a soft line break, WSP at a line's end
 * dropped (RFC 2045 §6.7 rule 3), an "=" that starts no valid escape
 * kept as it stands. Line ends are kept as they are. */
#define QP_WSP_MAX 64
struct qp_dec {
	int state;
	char hex;                  /* the first digit after "=" */
	char wsp[QP_WSP_MAX];      /* WSP held until the line goes on */
	size_t nwsp;
	bool cr;                   /* a CR held: a line end if LF follows */
};

void qp_dec_init(struct qp_dec *d);
int qp_dec_feed(struct qp_dec *d, const char *in, size_t n, struct buf *out);
/* The input is over, which ends the last line: its trailing WSP and a
 * final "=" go; a held CR or "=X" goes out as it stood. */
int qp_dec_finish(struct qp_dec *d, struct buf *out);

/*
 * A header value with its RFC 2047 encoded words decoded, as UTF-8 into
 * out: WSP between two encoded words dropped (§6.2), the octets of
 * adjacent words in one charset joined before conversion (a character
 * may be split across words), octets a charset cannot convert made
 * U+FFFD. An encoded word in a charset iconv does not know, or that is
 * malformed, stays as it stands. Other text is copied. 0 or -1 (memory).
 */
int mime_decode_words(const char *in, size_t n, struct buf *out);

#endif
