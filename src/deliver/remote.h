/*
 * remote: delivery to other servers. For one message and one recipient
 * domain it finds the next hops (a static route from the configuration, or
 * the domain's MX hosts in DNS, or its address as an implicit MX), tries
 * them in order over SMTP, and reports a courier_result per recipient.
 * A route (or the job itself, for local_transport) may name an LMTP
 * server instead, on TCP or a unix socket: the same client in LMTP mode,
 * no MX lookup. Idle connections are kept for the next message to the
 * same address.
 */
#ifndef TERN_REMOTE_H
#define TERN_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/envelope.h"
#include "courier.h"

struct config;
struct config_transport;
struct dns;
struct event_base;
struct remote;

struct remote_job {
	const struct envelope *env;     /* read-only until done */
	const char *domain;
	/* Where to: NULL for the domain's route or MX hosts; else this
	 * transport (local_transport's LMTP), whatever the domain. */
	const struct config_transport *transport;
	const size_t *idx;              /* recipients of env for this domain */
	size_t n;
	struct courier_result *res;     /* indexed like env->rcpts */
	int fd;                         /* the queue file, open for reading */
	uint64_t off, len;              /* the message in it */
	const char *prefix;             /* DKIM-Signature fields, or NULL */
	size_t prefix_len;
	void (*done)(void *arg);        /* runs from the loop */
	void *arg;
	void *owner;                    /* the caller's, untouched */
};

struct tls;
struct remote *remote_new(struct event_base *base, const struct config *cfg,
    struct dns *dns, struct tls *tls);
/* A reload's configuration: limits, routes and the listeners (for loop
 * detection) for jobs from now on; open connections keep theirs. */
void remote_set_config(struct remote *r, const struct config *cfg);
void remote_free(struct remote **rp);
/* Starts a delivery; job->done runs once every recipient has a result. */
void remote_deliver(struct remote *r, struct remote_job *job);
/* Deliveries to domain running now; at max_outbound_per_dest the queue
 * holds further messages for it back (so they cannot crowd out others). */
bool remote_domain_saturated(const struct remote *r, const char *domain);

/* Connections open, active or idle. */
int remote_connections(const struct remote *r);

#endif
