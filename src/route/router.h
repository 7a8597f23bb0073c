/*
 * router: where a recipient goes. Expands aliases and +subaddresses at RCPT
 * time (as OpenSMTPD does), so the queue holds final mailboxes and the
 * original recipient is kept beside each for DSNs.
 */
#ifndef TERN_ROUTER_H
#define TERN_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "../config/config.h"
#include "directory.h"

#define ROUTE_MAX_EXPANSION 1000
#define ROUTE_MAX_DEPTH     8

enum route_status {
	ROUTE_OK,            /* out holds one or more destinations */
	ROUTE_UNKNOWN_USER,  /* 550 5.1.1 */
	ROUTE_NOT_LOCAL,     /* the domain is not ours: relaying */
	ROUTE_LOOP,          /* alias loop or too deep: 550 5.4.6 */
	ROUTE_TOO_MANY,      /* expansion too large: 452 4.5.3 */
	ROUTE_NOMEM,
};

struct route_dest {
	char *address;       /* "local@domain", lower case; owned */
	bool local;
};

struct route_list {
	struct route_dest *dests;
	size_t n, cap;
};

/* local is unquoted (smtp_addr_unquote_local); domain as received. */
enum route_status router_expand(const struct config *cfg,
    const struct directory *dir, const char *local, const char *domain,
    struct route_list *out);

void route_list_clear(struct route_list *l);
/* Adds a destination (copied) unless already there. */
enum route_status route_list_add(struct route_list *l, const char *address,
    bool local);

#endif
