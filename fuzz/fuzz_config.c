/*
 * fuzz_config: config_parse (what config_load reads from the file) on
 * arbitrary contents. Every failure must come with a message; success must
 * leave a usable configuration.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "config/config.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	struct buf errs = BUF_INIT;
	size_t i;
	int rc;

	if ((cfg = malloc(sizeof(*cfg))) == NULL)
		return 0;
	config_defaults(cfg);
	rc = config_parse(cfg, (const char *)data, size, "fuzz.conf", &errs);
	if (rc == 0) {
		CHECK(errs.len == 0);
		CHECK(cfg->ndomains > 0 && cfg->ndomains <= CONFIG_MAX_DOMAINS);
		CHECK(cfg->nlisteners > 0 && cfg->nlisteners <= CONFIG_MAX_LISTENERS);
		for (i = 0; i < cfg->nlisteners; i++)
			CHECK(cfg->listeners[i].port >= 1 &&
			    cfg->listeners[i].port <= 65535);
		CHECK(cfg->retry_initial <= cfg->retry_max);
		CHECK(cfg->max_message_size >= 1024);
		CHECK(cfg->idle_timeout >= 1 && cfg->queue_lifetime >= 1);
		CHECK(cfg->postmaster[0] != '\0');
		CHECK(config_is_local_domain(cfg, cfg->domains[0]));
		/* Every next hop is complete, and its text fits what
		 * ternctl check prints it in. */
		for (i = 0; i <= cfg->nroutes; i++) {
			const struct config_transport *t = i < cfg->nroutes ?
			    &cfg->routes[i].hop : &cfg->local_transport;
			char text[300];

			CHECK(config_transport_text(t, text, sizeof(text)) == 0);
			if (t->kind == TRANSPORT_LMTP_UNIX)
				CHECK(t->path[0] == '/');
			else if (t->kind != TRANSPORT_MAILDIR)
				CHECK(t->host[0] != '\0' && t->port >= 1 && t->port <= 65535);
			CHECK((t->kind == TRANSPORT_MAILDIR) == (i == cfg->nroutes &&
			    !config_transport_is_lmtp(t)));
		}
	} else {
		CHECK(rc == -1 && errs.len > 0);
		/* every message is a whole line */
		CHECK(errs.data[errs.len - 1] == '\n');
	}
	free(cfg);
	buf_release(&errs);
	return 0;
}
