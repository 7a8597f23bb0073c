/*
 * verify: who sent this? The inbound checks of a mail transaction, on the
 * loop, with libunbound through dns_eval's replay model:
 *
 * - at MAIL: the sender domain exists and takes mail (RFC 7505 null MX),
 *   and is on no domain blocklist (verify_sender_domain);
 * - at RCPT: the client address is on no DNS blocklist (verify_dnsbl,
 *   asked once a session, started when it connects);
 * - from MAIL to the end of the message, one struct verify: SPF (RFC 7208)
 *   for MAIL FROM (HELO for <>) runs while the client sends, DKIM
 *   signatures (RFC 6376) are hashed as the message streams in and their
 *   keys fetched once the header has ended, and at the end DMARC (RFC
 *   9989) of the From domain decides; the results become an
 *   Authentication-Results field (RFC 8601) and a Received-SPF field.
 *
 * The evaluations themselves are pure (proto/spf.c, proto/dmarc.c,
 * policy/dkim_verify.c); this module only feeds them and holds the state.
 */
#ifndef TERN_VERIFY_H
#define TERN_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../config/config.h"

struct dns;
struct event_base;

struct verify_env {
	struct event_base *base;
	struct dns *dns;
	const struct config *cfg;
};

/* ------------------------------------------------ MAIL and RCPT checks -- */

enum verify_check {
	VERIFY_OK,
	VERIFY_NXDOMAIN,   /* the sender domain does not exist: 550 5.1.8 */
	VERIFY_NULLMX,     /* it takes no mail (RFC 7505 §4.2): 550 5.7.27 */
	VERIFY_LISTED,     /* on a blocklist: 554 5.7.1, text says which */
	VERIFY_TEMP,       /* DNS failed: 451 4.4.3 */
};

/* cb(cookie, verdict, text) runs later from the loop; text is the list's
 * reply (printable ASCII, may be "") for VERIFY_LISTED. 0 or -1 (ENOMEM). */
typedef void (*verify_check_cb)(uint64_t cookie, enum verify_check v,
    const char *text);
int verify_sender_domain(const struct verify_env *ve, const char *domain,
    verify_check_cb cb, uint64_t cookie);
int verify_dnsbl(const struct verify_env *ve, int family, const uint8_t *addr,
    verify_check_cb cb, uint64_t cookie);

/* The DNSBL query name of an address under zone: "4.3.2.1.zone" or 32
 * nibbles for IPv6 (RFC 5782 §2.1, §2.4). Pure; -1 when out is too small. */
int verify_dnsbl_name(int family, const uint8_t *addr, const char *zone,
    char *out, size_t outsize);

/* ------------------------------------------ one message's verification -- */

struct verify_client {
	int family;               /* AF_INET, AF_INET6; AF_UNIX for a local socket */
	uint8_t addr[16];
	const char *ip;           /* text, as the log has it */
	const char *helo;
	const char *auth_user;    /* logged in (submission): "" if not */
};

struct verify;

/* NULL when no check is configured, or the client is trusted (logged in,
 * or in relay_networks: its mail is ours). */
struct verify *verify_new(const struct verify_env *ve, const struct verify_client *cl,
    const char *sender);
/* Cancels every lookup: no callback runs after this. */
void verify_free(struct verify **vp);

/* The message as the client sent it (CRLF, dot-unstuffed), any chunking. */
void verify_feed(struct verify *v, const char *p, size_t n);

/*
 * The message has ended: done(arg) runs, from the loop, once every check
 * has its answer (or has timed out: a temporary error, recorded as such).
 * hs is the session's scan of the client's header (its From fields), so
 * the header is scanned once.
 */
struct hdr_scan;
void verify_finish(struct verify *v, const struct hdr_scan *hs,
    void (*done)(void *arg), void *arg);

/* After done: fields to put on top of the message ("Name: ...\r\n" each). */
const struct buf *verify_fields(const struct verify *v);
/* After done: what the checks ask for, and why (for the reply and log). */
enum config_action verify_action(const struct verify *v, const char **why);
/* After done: "spf=pass dkim=pass dmarc=pass" for the log. */
const char *verify_summary(const struct verify *v);

#endif
