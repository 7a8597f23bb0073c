/*
 * smtp_reply: reply formatting (see smtp_reply.h).
 */
#include "smtp_reply.h"

#include <stdarg.h>

void
smtp_reply_format(struct buf *out, int code, const char *esc, const char *fmt,
    ...)
{
	va_list ap;

	buf_printf(out, "%03d %s ", code, esc);
	va_start(ap, fmt);
	buf_vprintf(out, fmt, ap);
	va_end(ap);
	buf_append(out, "\r\n", 2);
}

void
smtp_reply_line(struct buf *out, int code, int last, const char *text)
{
	buf_printf(out, "%03d%c%s\r\n", code, last ? ' ' : '-', text);
}
