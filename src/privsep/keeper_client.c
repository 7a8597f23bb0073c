/*
 * keeper_client: requests to the keeper from the loop (keeper_client.h).
 *
 * Packets that the socket cannot take at once wait in a FIFO, sent when it
 * is writable again; the pending requests are a list searched by id
 * (a handful are in flight: password checks and signatures).
 */
#include "keeper_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "../common/log.h"

struct pending {
	uint64_t id;
	keeper_cb cb;
	void *arg;
	struct pending *next;
};

struct outpkt {
	size_t len;
	struct outpkt *next;
	uint8_t data[];
};

struct keeper_client {
	int fd;
	struct event *rev, *wev;
	uint64_t next_id;
	struct pending *pending;
	size_t npending;
	struct outpkt *out_head, **out_tail;
	bool dead;
	void (*on_dead)(void *);
	void *dead_arg;
};

static void
fail_all(struct keeper_client *kc)
{
	struct keeper_reply r = { .status = KEEPER_TEMP, .fds = { -1, -1, -1, -1 } };
	struct pending *p;

	while ((p = kc->pending) != NULL) {
		kc->pending = p->next;
		kc->npending--;
		p->cb(p->arg, &r);
		free(p);
	}
}

static void
drop_output(struct keeper_client *kc)
{
	struct outpkt *o;

	while ((o = kc->out_head) != NULL) {
		kc->out_head = o->next;
		OPENSSL_cleanse(o->data, o->len);
		free(o);
	}
	kc->out_tail = &kc->out_head;
}

static void
became_dead(struct keeper_client *kc)
{
	if (kc->dead)
		return;
	kc->dead = true;
	event_del(kc->rev);
	event_del(kc->wev);
	drop_output(kc);
	log_msg(LOG_LVL_ERR, "event=keeper-gone note=\"the keeper process exited; stopping\"");
	fail_all(kc);
	if (kc->on_dead)
		kc->on_dead(kc->dead_arg);
}

static void
flush_output(struct keeper_client *kc)
{
	struct outpkt *o;

	while ((o = kc->out_head) != NULL) {
		if (send(kc->fd, o->data, o->len, MSG_NOSIGNAL | MSG_DONTWAIT) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				event_add(kc->wev, NULL);
				return;
			}
			became_dead(kc);
			return;
		}
		kc->out_head = o->next;
		if (kc->out_head == NULL)
			kc->out_tail = &kc->out_head;
		OPENSSL_cleanse(o->data, o->len);
		free(o);
	}
}

static void
on_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush_output(arg);
}

static void
dispatch(struct keeper_client *kc, const uint8_t *pkt, size_t n, int *fds, size_t nfds)
{
	struct keeper_reply r = { .fds = { -1, -1, -1, -1, -1 } };
	struct keeper_msg m;
	struct pending **pp, *p;
	size_t i;

	if (keeper_msg_decode_reply(pkt, n, &m) == -1) {
		log_warnx("event=keeper-bad-reply bytes=%zu", n);
		goto close_fds;
	}
	for (pp = &kc->pending; (p = *pp) != NULL; pp = &p->next) {
		if (p->id == m.id)
			break;
	}
	if (p == NULL)
		goto close_fds;
	*pp = p->next;
	kc->npending--;
	r.status = m.status;
	r.payload = m.payload;
	r.len = m.payload_len;
	for (i = 0; i < nfds && i < KEEPER_LOAD_FDS; i++) {
		r.fds[i] = fds[i];
		fds[i] = -1;
	}
	p->cb(p->arg, &r);
	free(p);
close_fds:
	for (i = 0; i < nfds; i++) {
		if (fds[i] != -1)
			close(fds[i]);
	}
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct keeper_client *kc = arg;
	uint8_t pkt[KEEPER_MSG_MAX + 1];

	(void)what;
	for (;;) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * KEEPER_LOAD_FDS)];
		} cm;
		struct iovec iov = { pkt, sizeof(pkt) };
		struct msghdr mh = { 0 };
		struct cmsghdr *c;
		int fds[KEEPER_LOAD_FDS];
		size_t nfds = 0;
		ssize_t n;

		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			became_dead(kc);
			return;
		}
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				size_t k, cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

				for (k = 0; k < cnt; k++) {
					int one;

					memcpy(&one, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
					if (nfds < KEEPER_LOAD_FDS)
						fds[nfds++] = one;
					else
						close(one);
				}
			}
		}
		dispatch(kc, pkt, (size_t)n, fds, nfds);
		if (kc->dead)
			return;
	}
}

struct keeper_client *
keeper_client_new(struct event_base *base, int fd, void (*on_dead)(void *),
    void *dead_arg)
{
	struct keeper_client *kc = calloc(1, sizeof(*kc));

	if (kc == NULL)
		return NULL;
	kc->fd = fd;
	kc->next_id = 1;
	kc->out_tail = &kc->out_head;
	kc->on_dead = on_dead;
	kc->dead_arg = dead_arg;
	evutil_make_socket_nonblocking(fd);
	if ((kc->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, kc)) == NULL ||
	    (kc->wev = event_new(base, fd, EV_WRITE, on_writable, kc)) == NULL ||
	    event_add(kc->rev, NULL) == -1) {
		if (kc->rev)
			event_free(kc->rev);
		free(kc);
		return NULL;
	}
	return kc;
}

void
keeper_client_free(struct keeper_client **kcp)
{
	struct keeper_client *kc = *kcp;

	if (kc == NULL)
		return;
	event_free(kc->rev);
	event_free(kc->wev);
	drop_output(kc);
	kc->dead = true;
	fail_all(kc);
	close(kc->fd);
	free(kc);
	*kcp = NULL;
}

/* Queues one request packet and remembers its callback. */
static int
submit(struct keeper_client *kc, uint32_t type, const void *payload, size_t len,
    keeper_cb cb, void *arg)
{
	struct outpkt *o;
	struct pending *p;

	if (kc->dead || len > KEEPER_MSG_MAX - KEEPER_HDR_LEN)
		return -1;
	if ((o = malloc(sizeof(*o) + KEEPER_HDR_LEN + len)) == NULL)
		return -1;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		free(o);
		return -1;
	}
	p->id = kc->next_id++;
	p->cb = cb;
	p->arg = arg;
	p->next = kc->pending;
	kc->pending = p;
	kc->npending++;
	o->len = keeper_msg_encode(o->data, type, 0, p->id, payload, len);
	o->next = NULL;
	*kc->out_tail = o;
	kc->out_tail = &o->next;
	if (kc->out_head == o)
		flush_output(kc);
	return 0;
}

int
keeper_auth(struct keeper_client *kc, const char *user, const char *pass,
    keeper_cb cb, void *arg)
{
	uint8_t payload[KEEPER_USER_MAX + KEEPER_PASS_MAX + 2];
	size_t ul = strlen(user), pl = strlen(pass);
	int rc;

	if (ul == 0 || ul > KEEPER_USER_MAX || pl > KEEPER_PASS_MAX ||
	    memchr(pass, '\0', pl) != NULL)
		return -1;
	memcpy(payload, user, ul + 1);
	memcpy(payload + ul + 1, pass, pl + 1);
	rc = submit(kc, KEEPER_AUTH, payload, ul + pl + 2, cb, arg);
	OPENSSL_cleanse(payload, sizeof(payload));
	return rc;
}

int
keeper_sign(struct keeper_client *kc, uint32_t key,
    const uint8_t digest[KEEPER_DIGEST_LEN], keeper_cb cb, void *arg)
{
	uint8_t payload[4 + KEEPER_DIGEST_LEN];

	memcpy(payload, &key, 4);
	memcpy(payload + 4, digest, KEEPER_DIGEST_LEN);
	return submit(kc, KEEPER_SIGN, payload, sizeof(payload), cb, arg);
}

int
keeper_load(struct keeper_client *kc, keeper_cb cb, void *arg)
{
	return submit(kc, KEEPER_LOAD, NULL, 0, cb, arg);
}

/* One password check for the auth service, and its reply in its terms. */
struct auth_check_req {
	authsvc_password_cb done;
	void *arg;
};

static void
on_auth_check(void *arg, const struct keeper_reply *r)
{
	struct auth_check_req *req = arg;

	req->done(req->arg, r->status == KEEPER_OK ? AUTHSVC_PASSWORD_GOOD :
	    r->status == KEEPER_TEMP ? AUTHSVC_PASSWORD_TEMP : AUTHSVC_PASSWORD_BAD);
	free(req);
}

int
keeper_auth_check(void *ctx, const char *user, const char *pass,
    authsvc_password_cb done, void *arg)
{
	struct keeper_client *kc = *(struct keeper_client **)ctx;
	struct auth_check_req *req;

	if (kc == NULL || (req = malloc(sizeof(*req))) == NULL)
		return -1;
	req->done = done;
	req->arg = arg;
	if (keeper_auth(kc, user, pass, on_auth_check, req) == -1) {
		free(req);
		return -1;
	}
	return 0;
}

size_t
keeper_pending(const struct keeper_client *kc)
{
	return kc->npending;
}

struct keeper_signer {
	int fd;
	pthread_mutex_t mu;
	uint64_t next_id;
};

struct keeper_signer *
keeper_signer_new(int fd)
{
	struct keeper_signer *ks = calloc(1, sizeof(*ks));
	struct timeval tv = { 10, 0 };

	if (ks == NULL)
		return NULL;
	ks->fd = fd;
	ks->next_id = 1;
	pthread_mutex_init(&ks->mu, NULL);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return ks;
}

void
keeper_signer_free(struct keeper_signer **ksp)
{
	struct keeper_signer *ks = *ksp;

	if (ks == NULL)
		return;
	close(ks->fd);
	pthread_mutex_destroy(&ks->mu);
	free(ks);
	*ksp = NULL;
}

int
keeper_signer_sign(struct keeper_signer *ks, uint32_t key,
    const uint8_t digest[KEEPER_DIGEST_LEN], uint8_t *sig, size_t *siglen)
{
	uint8_t pkt[KEEPER_MSG_MAX + 1], payload[4 + KEEPER_DIGEST_LEN];
	struct keeper_msg m;
	uint64_t id;
	ssize_t n;
	size_t len;
	int rc = -1;

	memcpy(payload, &key, 4);
	memcpy(payload + 4, digest, KEEPER_DIGEST_LEN);
	pthread_mutex_lock(&ks->mu);
	id = ks->next_id++;
	len = keeper_msg_encode(pkt, KEEPER_SIGN, 0, id, payload, sizeof(payload));
	if (send(ks->fd, pkt, len, MSG_NOSIGNAL) != (ssize_t)len)
		goto out;
	/* A reply to an earlier request that timed out is skipped. */
	for (;;) {
		n = recv(ks->fd, pkt, sizeof(pkt), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || keeper_msg_decode_reply(pkt, (size_t)n, &m) == -1)
			goto out;
		if (m.id == id)
			break;
	}
	if (m.type == KEEPER_SIGN && m.status == KEEPER_OK && m.payload_len <= *siglen) {
		memcpy(sig, m.payload, m.payload_len);
		*siglen = m.payload_len;
		rc = 0;
	}
out:
	pthread_mutex_unlock(&ks->mu);
	return rc;
}
