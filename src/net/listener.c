/*
 * listener: listening sockets and the connection limits (see listener.h).
 *
 * The per-IP counts are one hash table of keys shared by every listener
 * (a client's connections to port 25 and 587 count together, as
 * max_connections does). Loop thread only.
 *
 * Out of descriptors (EMFILE, ENFILE) accept() fails and leaves the
 * connection in the backlog, where it makes the listening socket readable
 * again at once: the loop spun at full CPU logging the failure (400,000
 * lines in 3 s). So one descriptor is held back (spare_fd): on that error
 * it is let go, the waiting connection accepted with it, refused as over
 * max_connections and closed, and the descriptor taken again. Every such
 * turn answers one client, and the loop sleeps once the backlog is empty.
 * Another thread may take the descriptor let go first (the I/O pool opens
 * files): then the listener pauses for ACCEPT_PAUSE_SEC, and the spare is
 * taken again whenever one is free.
 */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "../common/limtab.h"
#include "../common/log.h"
#include "../common/sockaddr.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../maillog/maillog.h"
#include "conn.h"

#define IP_BUCKETS 4096
#define ACCEPT_PAUSE_SEC 1

struct listener {
	struct listener_conf conf;
	char host[64];
	char path[108];
	const struct config *cfg;
	struct tls *tls;
	struct event_base *base;
	struct evconnlistener *evl;
	struct event *resume;        /* ends a pause for want of descriptors */
};

struct ip_count {
	char key[LISTENER_KEY_MAX];
	int n;
	struct ip_count *next;
};

static struct ip_count *by_ip[IP_BUCKETS];
static int spare_fd = -1;   /* held back for the refusals at EMFILE */

/* ------------------------------------------------------------ counts ---- */

static unsigned
ip_hash(const char *key)
{
	unsigned h = 2166136261u;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h % IP_BUCKETS;
}

static struct ip_count **
ip_slot(const char *key)
{
	struct ip_count **pp = &by_ip[ip_hash(key)];

	while (*pp && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	return pp;
}

void
listener_release(const char *key)
{
	struct ip_count **pp = ip_slot(key), *c = *pp;

	if (c && --c->n == 0) {
		*pp = c->next;
		free(c);
	}
}

/*
 * The key connections are counted under for max_connections_per_ip: the
 * address for IPv4, the /64 for IPv6, where one client holds the whole
 * /64 and could otherwise open max_connections_per_ip from each address.
 */
static void
limit_key(const struct conn_peer *p, char *out, size_t outsize)
{
	unsigned char pfx[9], a6[16] = { 0 };
	char text[INET6_ADDRSTRLEN];

	if (limtab_addr_prefix(p->family, p->addr, pfx) != 9) {
		if (p->family == AF_INET6 && inet_ntop(AF_INET, p->addr + 12, text, sizeof(text)))
			str_copy(out, outsize, text);   /* IPv4-mapped */
		else
			str_copy(out, outsize, p->ip);
		return;
	}
	memcpy(a6, pfx + 1, 8);
	if (inet_ntop(AF_INET6, a6, text, sizeof(text)) == NULL)
		str_copy(out, outsize, p->ip);
	else
		snprintf(out, outsize, "%s/64", text);
}

/* ------------------------------------------------------------ accept ---- */

static void
spare_take(void)
{
	if (spare_fd == -1)
		spare_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

/*
 * After accept() failed: when for want of a descriptor, the connection
 * that waits, accepted on the spare one; -1 with errno EAGAIN when none
 * waits (accept() says EMFILE before it looks), else with the error. The
 * caller closes it and calls spare_take().
 */
static evutil_socket_t
accept_on_spare(struct evconnlistener *evl, struct sockaddr_storage *ss)
{
	int err = EVUTIL_SOCKET_ERROR();
	socklen_t len = sizeof(*ss);

	if ((err != EMFILE && err != ENFILE) || spare_fd == -1)
		return -1;   /* errno: still accept()'s */
	close(spare_fd);
	spare_fd = -1;
	return accept4(evconnlistener_get_fd(evl), (struct sockaddr *)ss, &len,
	    SOCK_CLOEXEC | SOCK_NONBLOCK);
}

/* The protocol's refusal line (best effort), the close, the log line. */
static void
refuse(struct listener *l, evutil_socket_t fd, const struct conn_peer *peer,
    bool per_ip, const char *reason)
{
	char msg[300];
	int n = l->conf.proto->busy(&l->conf, per_ip, msg, sizeof(msg));

	if (n >= (int)sizeof(msg))
		n = (int)sizeof(msg) - 1;   /* never past the buffer */
	if (n > 0 && send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		(void)0;   /* the client will see the close */
	close(fd);
	maillog_refused(peer->ip, reason);
}

static void
on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listener *l = arg;
	const struct config *cfg = l->cfg;
	struct ip_count **slot;
	struct conn_peer peer;
	char key[LISTENER_KEY_MAX];
	bool all;

	(void)evl;
	(void)salen;
	conn_peer_from(sa, &peer);
	limit_key(&peer, key, sizeof(key));
	slot = ip_slot(key);
	all = conn_count() >= (unsigned)cfg->max_connections;
	/* Clients on a unix socket are local programs (an MTA handing mail
	 * over LMTP), one "address" for all: only the global limit holds. */
	if (all || (peer.family != AF_UNIX && *slot &&
	    (*slot)->n >= cfg->max_connections_per_ip)) {
		refuse(l, fd, &peer, !all, all ? "too many connections" :
		    "too many connections from this address");
		return;
	}
	if (*slot == NULL) {
		if ((*slot = calloc(1, sizeof(**slot))) == NULL) {
			close(fd);
			return;
		}
		str_copy((*slot)->key, sizeof((*slot)->key), key);
	}
	(*slot)->n++;
	if (peer.family != AF_UNIX) {
		int one = 1;

		/* Each reply is handed over whole: sending it at once beats
		 * Nagle, which held a reply's last small write for the ACK
		 * of the one before, a client's delayed ACK later (40 ms at
		 * the end of a two-write IMAP FETCH). */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	conn_start(l->base, fd, &peer, &l->conf, l->tls, key);
}

/* A listener of listener_bind_tcp() (HTTP): out of descriptors, the
 * waiting connection is closed unanswered. */
static void
on_accept_error(struct evconnlistener *evl, void *arg)
{
	struct sockaddr_storage ss;
	evutil_socket_t fd;
	int err;

	(void)arg;

	fd = accept_on_spare(evl, &ss);
	err = errno;
	if (fd != -1)
		close(fd);
	spare_take();
	if (fd == -1 && err != EAGAIN && err != EWOULDBLOCK) {
		errno = err;
		log_warn("accept");
	}
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(l->evl);
}

/* A mail listener: out of descriptors, the waiting connection gets the
 * protocol's refusal, as over max_connections. */
static void
on_listener_error(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	struct timeval tv = { ACCEPT_PAUSE_SEC, 0 };
	struct sockaddr_storage ss;
	struct conn_peer peer;
	evutil_socket_t fd;
	int err;

	fd = accept_on_spare(evl, &ss);
	err = errno;
	if (fd != -1) {
		conn_peer_from((struct sockaddr *)&ss, &peer);
		refuse(l, fd, &peer, false, "out of file descriptors");
		spare_take();   /* the descriptor refuse() closed */
		return;
	}
	spare_take();
	if (err == EAGAIN || err == EWOULDBLOCK)
		return;   /* none waited after all */
	errno = err;
	log_warn("accept");
	if (err != EMFILE && err != ENFILE)
		return;
	/* No spare: the waiting connection would wake the loop at once,
	 * again and again. Let it wait a little. */
	if (l->resume == NULL && (l->resume = evtimer_new(l->base, on_resume, l)) == NULL)
		return;
	evconnlistener_disable(evl);
	evtimer_add(l->resume, &tv);
}

/* ------------------------------------------------------------ setup ----- */

/* A listener on a unix socket (LMTP): a stale socket file from an
 * earlier run is replaced; anyone on the host may connect, as anyone may
 * reach port 25 (LMTP only delivers to local mailboxes). */
static struct listener *
listener_new_unix(struct event_base *base, const struct config *cfg,
    const struct listener_conf *lc)
{
	struct sockaddr_un sun;
	struct listener *l;
	struct stat st;
	int dirfd;

	if (sockaddr_unix(&sun, lc->path, &dirfd) == -1) {
		log_warn("listen unix:%s", lc->path);
		return NULL;
	}
	if (lstat(lc->path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(lc->path);
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		log_warnx("listen unix:%s: out of memory", lc->path);
		if (dirfd != -1)
			close(dirfd);
		return NULL;
	}
	l->conf = *lc;
	str_copy(l->host, sizeof(l->host), "unix");
	str_copy(l->path, sizeof(l->path), lc->path);
	l->conf.host = l->host;
	l->conf.path = l->path;
	l->cfg = cfg;
	l->base = base;
	l->evl = evconnlistener_new_bind(base, on_accept, l, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED, 1024, (struct sockaddr *)&sun,
	    (int)sizeof(sun));
	if (dirfd != -1)
		close(dirfd);
	if (l->evl == NULL) {
		log_warn("listen unix:%s", lc->path);
		free(l);
		return NULL;
	}
	(void)chmod(lc->path, lc->unix_mode ? lc->unix_mode : 0666);
	evconnlistener_set_error_cb(l->evl, on_listener_error);
	spare_take();
	log_info("event=listening service=%s address=unix:%s", lc->service, lc->path);
	return l;
}

struct evconnlistener *
listener_bind_tcp(struct event_base *base, const char *host, int port,
    evconnlistener_cb cb, void *arg)
{
	struct evutil_addrinfo hints = { 0 }, *ai = NULL;
	struct evconnlistener *evl;
	char portstr[16];
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((rc = evutil_getaddrinfo(host, portstr, &hints, &ai)) != 0) {
		log_msg(LOG_LVL_ERR, "listen %s:%d: %s", host, port, evutil_gai_strerror(rc));
		return NULL;
	}
	/* IPv6 alone on an IPv6 socket: "listen smtp [::]:25" beside
	 * "listen smtp 0.0.0.0:25" would otherwise take the IPv4 port too
	 * (Linux's default bindv6only=0) and the second bind would fail. */
	evl = evconnlistener_new_bind(base, cb, arg, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED |
	    (ai->ai_family == AF_INET6 ? LEV_OPT_BIND_IPV6ONLY : 0), 1024,
	    ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (evl == NULL) {
		log_warn("listen %s:%d", host, port);
		return NULL;
	}
	evconnlistener_set_error_cb(evl, on_accept_error);
	spare_take();
	return evl;
}

struct listener *
listener_new(struct event_base *base, const struct config *cfg,
    const struct listener_conf *lc)
{
	struct listener *l;

	if (lc->path)
		return listener_new_unix(base, cfg, lc);
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		log_warnx("listen %s:%d: out of memory", lc->host, lc->port);
		return NULL;
	}
	l->conf = *lc;
	str_copy(l->host, sizeof(l->host), lc->host);
	l->conf.host = l->host;
	l->cfg = cfg;
	l->base = base;
	if ((l->evl = listener_bind_tcp(base, lc->host, lc->port, on_accept, l)) == NULL) {
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->evl, on_listener_error);
	log_info("event=listening service=%s address=%s%s%s:%d", lc->service,
	    strchr(lc->host, ':') ? "[" : "", lc->host, strchr(lc->host, ':') ? "]" : "",
	    lc->port);
	return l;
}

void
listener_enable(struct listener *l, struct tls *tls)
{
	l->tls = tls;
	evconnlistener_enable(l->evl);
}

const struct listener_conf *
listener_conf(const struct listener *l)
{
	return &l->conf;
}

void
listener_set_config(struct listener *l, const struct config *cfg)
{
	l->cfg = cfg;
}

bool
listener_same(const struct listener *l, const struct listener_conf *lc)
{
	if (l->conf.proto != lc->proto || l->conf.env != lc->env ||
	    l->conf.tls_mode != lc->tls_mode || l->conf.auth_required != lc->auth_required ||
	    strcmp(l->conf.service, lc->service) != 0)
		return false;
	if (lc->path != NULL)
		return strcmp(l->path, lc->path) == 0;
	return l->path[0] == '\0' && strcmp(l->host, lc->host) == 0 && l->conf.port == lc->port;
}

void
listener_free(struct listener **lp)
{
	struct listener *l = *lp;

	if (l == NULL)
		return;
	if (l->resume)
		event_free(l->resume);
	evconnlistener_free(l->evl);
	free(l);
	*lp = NULL;
}
