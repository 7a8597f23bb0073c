/*
 * smtp_reply: every SMTP reply tern sends is built here, as a basic code, an
 * RFC 3463 enhanced status code and text (RFC 2034: the enhanced code on
 * every line when ENHANCEDSTATUSCODES is in use; tern always uses it).
 */
#ifndef TERN_SMTP_REPLY_H
#define TERN_SMTP_REPLY_H

#include "../common/buf.h"

/* Enhanced status codes tern uses, named by their RFC 3463 meaning. */
#define ESC_OK               "2.0.0"
#define ESC_SENDER_OK        "2.1.0"
#define ESC_RCPT_OK          "2.1.5"
#define ESC_VRFY_CANNOT      "2.5.2"   /* RFC 5321 §3.5.3 */
#define ESC_BAD_DEST         "5.1.1"
#define ESC_BAD_DEST_SYNTAX  "5.1.3"
#define ESC_BAD_SENDER_SYNTAX "5.1.7"
#define ESC_MSG_TOO_BIG      "5.3.4"
#define ESC_SYSTEM_FULL      "4.3.1"
#define ESC_SYSTEM_ERROR     "4.3.0"
#define ESC_TIMEOUT          "4.4.2"
#define ESC_LOOP             "5.4.6"
#define ESC_INVALID_CMD      "5.5.1"
#define ESC_SYNTAX           "5.5.2"
#define ESC_BAD_ARGS         "5.5.4"
#define ESC_TOO_MANY_RCPTS   "4.5.3"
#define ESC_NOT_ALLOWED      "5.7.1"
#define ESC_POLICY_TEMP      "4.7.0"
#define ESC_UTF8_REQUIRED    "5.6.7"   /* RFC 6531 §3.5 */

/* Appends "code esc text\r\n"; text must not contain CR or LF. */
void smtp_reply_format(struct buf *out, int code, const char *esc,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Appends one line of a multi-line reply: "code-text" or "code text". */
void smtp_reply_line(struct buf *out, int code, int last, const char *text);

#endif
