/*
 * submission: ownership and rate rules of the submission service (see
 * submission.h).
 */
#include "submission.h"

#include <string.h>

#include "../common/limtab.h"
#include "../common/str.h"
#include "../common/timefmt.h"
#include "../config/config.h"
#include "../proto/rfc5322.h"
#include "../proto/smtp_addr.h"
#include "../route/router.h"

/* Rate counters are keyed by this octet and the login. */
#define KEY_RATE 'R'

bool
submission_sender_owned(const struct config *cfg, const struct directory *dir,
    const char *login, const struct smtp_path *from)
{
	struct route_list rl = { 0 };
	char local[SMTP_LOCAL_MAX + 1];
	bool owned = false;
	size_t i;

	if (smtp_addr_unquote_local(from->local, local, sizeof(local)) == -1)
		return false;
	if (router_expand(cfg, dir, local, from->domain, &rl) == ROUTE_OK) {
		for (i = 0; i < rl.n && !owned; i++)
			owned = rl.dests[i].local && str_ieq(rl.dests[i].address, login);
	}
	route_list_clear(&rl);
	return owned;
}

bool
submission_from_owned(const struct config *cfg, const struct directory *dir,
    const char *login, const struct hdr_scan *hs)
{
	char addr[SMTP_PATH_MAX + 1];
	size_t pos = 0;
	bool any = false;
	enum rfc5322_addr r;

	if (hs->nfrom != 1 || hs->from_long)
		return false;
	while ((r = rfc5322_next_address(hs->from, hs->from_len, &pos, addr,
	    sizeof(addr))) == RFC5322_ADDR_OK) {
		struct smtp_path p;

		any = true;
		if (smtp_addr_parse_mailbox(addr, strlen(addr), true, &p) != SMTP_ADDR_OK ||
		    !submission_sender_owned(cfg, dir, login, &p))
			return false;
	}
	return any && r == RFC5322_ADDR_END;
}

bool
submission_rate_allow(struct limtab *rates, const char *login, unsigned limit, time_t now)
{
	unsigned char key[LIMTAB_KEY_MAX];
	size_t n;

	if (limit == 0 || rates == NULL)
		return true;
	key[0] = KEY_RATE;
	n = strlen(login);
	n = n < LIMTAB_KEY_MAX - 1 ? n : LIMTAB_KEY_MAX - 1;
	memcpy(key + 1, login, n);
	if (limtab_count(rates, key, n + 1, now) >= limit)
		return false;
	limtab_add(rates, key, n + 1, now);
	return true;
}

int
submission_missing_fields(const struct hdr_scan *hs, const char *id, const char *hostname,
    time_t now, struct buf *out)
{
	char date[64];

	if (!hs->has_date) {
		rfc5322_date((int64_t)now, date, sizeof(date));
		if (buf_printf(out, "Date: %s\r\n", date) == -1)
			return -1;
	}
	if (!hs->has_message_id && buf_printf(out, "Message-ID: <%s@%s>\r\n", id, hostname) == -1)
		return -1;
	return 0;
}
