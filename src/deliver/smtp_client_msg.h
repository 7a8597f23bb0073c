/*
 * smtp_client_msg: the message octets as smtp_client_tx.c sends them;
 * private to the SMTP client in src/deliver/.
 */
#ifndef TERN_SMTP_CLIENT_MSG_H
#define TERN_SMTP_CLIENT_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "smtp_client.h"

struct evbuffer;

/* Adds n octets of message to out, dot-stuffed; *at_bol says whether the
 * next octet starts a line, and carries that from call to call. */
void smtp_client_stuff(struct evbuffer *out, bool *at_bol, const char *p, size_t n);

/* Whether tx needs SMTPUTF8 on the way out (RFC 6531 §3.2): 1, 0, or -1
 * when its queue file cannot be read. */
int smtp_client_needs_smtputf8(const struct smtp_client_tx *tx);

#endif
