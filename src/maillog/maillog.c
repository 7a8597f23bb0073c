/*
 * maillog: format mail events (see maillog.h).
 */
#include "maillog.h"

#include <string.h>

#include "../common/buf.h"
#include "../common/log.h"

static void
kv(struct buf *b, const char *key, const char *val)
{
	if (b->len)
		buf_append_char(b, ' ');
	buf_append_str(b, key);
	buf_append_char(b, '=');
	log_append_value(b, val, strlen(val));
}

/* Angle-bracketed address, as Postfix logs it: from=<a@b>. */
static void
kv_addr(struct buf *b, const char *key, const char *addr)
{
	struct buf v = BUF_INIT;

	buf_printf(&v, "<%s>", addr);
	kv(b, key, buf_cstr(&v));
	buf_release(&v);
}

static void
emit(struct buf *b)
{
	log_info("%s", buf_cstr(b));
	buf_release(b);
}

void
maillog_connect(uint64_t sid, const char *ip, int port, const char *service)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "event=connect sid=%llu", (unsigned long long)sid);
	kv(&b, "client", ip);
	buf_printf(&b, " port=%d", port);
	kv(&b, "service", service);
	emit(&b);
}

void
maillog_refused(const char *ip, const char *reason)
{
	struct buf b = BUF_INIT;

	buf_append_str(&b, "event=refused");
	kv(&b, "client", ip);
	kv(&b, "reason", reason);
	emit(&b);
}

void
maillog_disconnect(uint64_t sid, const char *ip, unsigned msgs, unsigned cmds,
    const char *reason)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "event=disconnect sid=%llu", (unsigned long long)sid);
	kv(&b, "client", ip);
	buf_printf(&b, " messages=%u commands=%u", msgs, cmds);
	kv(&b, "reason", reason);
	emit(&b);
}

void
maillog_reject(uint64_t sid, const char *ip, const char *cmd, size_t cmdlen,
    const char *reply)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "event=reject sid=%llu", (unsigned long long)sid);
	kv(&b, "client", ip);
	buf_append_str(&b, " command=");
	/* Only the start of a long line: enough to see what it was. */
	log_append_value(&b, cmd, cmdlen > 200 ? 200 : cmdlen);
	kv(&b, "reply", reply);
	emit(&b);
}

void
maillog_improper_pipelining(uint64_t sid, const char *ip, const char *cmd, size_t cmdlen)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "event=improper-pipelining sid=%llu", (unsigned long long)sid);
	kv(&b, "client", ip);
	buf_append_str(&b, " after=");
	log_append_value(&b, cmd, cmdlen > 200 ? 200 : cmdlen);
	emit(&b);
}

void
maillog_queued(const char *id, uint64_t sid, const char *ip, const char *from,
    uint64_t size, size_t nrcpt, const char *proto, const char *msgid,
    size_t msgid_len)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "id=%s event=queued sid=%llu", id, (unsigned long long)sid);
	kv(&b, "client", ip);
	kv_addr(&b, "from", from);
	buf_printf(&b, " size=%llu nrcpt=%zu", (unsigned long long)size, nrcpt);
	kv(&b, "proto", proto);
	if (msgid) {
		buf_append_str(&b, " msgid=");
		/* From the message: escaped like any peer data. */
		log_append_value(&b, msgid, msgid_len);
	}
	emit(&b);
}

void
maillog_delivery(const char *id, const char *to, const char *orig_to,
    const char *relay, const char *tls, double delay, const char *dsn,
    const char *status, const char *detail)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "id=%s event=delivery", id);
	kv_addr(&b, "to", to);
	if (orig_to && orig_to[0] && strcmp(orig_to, to) != 0)
		kv_addr(&b, "orig_to", orig_to);
	kv(&b, "relay", relay);
	if (tls && tls[0])
		kv(&b, "tls", tls);
	buf_printf(&b, " delay=%.3f", delay);
	kv(&b, "dsn", dsn);
	kv(&b, "status", status);
	kv(&b, "detail", detail);
	emit(&b);
}

void
maillog_removed(const char *id)
{
	log_info("id=%s event=removed", id);
}

void
maillog_admin(const char *id, const char *action, const char *by)
{
	if (by)
		log_info("id=%s event=admin action=%s uid=%s", id, action, by);
	else
		log_info("id=%s event=admin action=%s", id, action);
}

void
maillog_flush(const char *domain, size_t messages, const char *by)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "event=flush");
	kv(&b, "domain", domain ? domain : "*");
	buf_printf(&b, " messages=%zu", messages);
	kv(&b, "uid", by ? by : "-");
	emit(&b);
}

void
maillog_recovered(size_t messages, size_t removed_tmp, size_t corrupt)
{
	log_info("event=queue-recovered messages=%zu incomplete_removed=%zu corrupt=%zu",
	    messages, removed_tmp, corrupt);
}

void
maillog_corrupt(const char *file, const char *why)
{
	struct buf b = BUF_INIT;

	buf_append_str(&b, "event=queue-corrupt");
	kv(&b, "file", file);
	kv(&b, "reason", why);
	log_msg(LOG_LVL_WARN, "%s", buf_cstr(&b));
	buf_release(&b);
}

void
maillog_check(const char *id, uint64_t sid, const char *ip, const char *check,
    const char *result, const char *action)
{
	struct buf b = BUF_INIT;

	if (id[0])
		buf_printf(&b, "id=%s ", id);
	buf_printf(&b, "event=check sid=%llu", (unsigned long long)sid);
	kv(&b, "client", ip);
	kv(&b, "check", check);
	kv(&b, "result", result);
	kv(&b, "action", action);
	emit(&b);
}
