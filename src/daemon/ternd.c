/*
 * ternd: the mail daemon. main() reads the configuration, forks the keeper
 * (the process that holds the password hashes and DKIM keys), binds the
 * listeners, gives up root and sandboxes itself, opens the queue
 * (recovering what a crash left) and runs the one event loop. It owns the
 * only process-wide state, struct ternd, and passes pieces of it down.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "../auth/authsvc.h"
#include "../common/buf.h"
#include "../common/limtab.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../deliver/remote.h"
#include "../dns/dns.h"
#include "control.h"
#include "dmarc_send.h"
#include "metrics_endpoint.h"
#include "../net/http_serve.h"
#include "init_production.h"
#include "../net/listener.h"
#include "../pickup/pickup.h"
#include "../policy/submission.h"
#include "../queue/queue.h"
#include "../route/directory.h"
#include "../pop3/pop3_server.h"
#include "../imap/imap_server.h"
#include "../mailbox/watch.h"
#include "../smtp/smtp_server.h"
#include "../privsep/keeper.h"
#include "../privsep/keeper_client.h"
#include "../privsep/sandbox.h"
#include "../tls/tls.h"
#include "../common/iopool.h"

/* LeakSanitizer stops the world with ptrace: a test build keeps it. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED_BUILD true
#else
#define SANITIZED_BUILD false
#endif

/* A configuration a reload replaced, freed once nothing holds it. */
struct retired {
	struct config *cfg;
	struct retired *next;
};

struct ternd {
	struct config *cfg;             /* the running one; ternd holds a reference */
	struct retired *retired;        /* replaced ones still held */
	struct event *reaper;           /* frees them (every second while any) */
	const char *config_path;
	struct event_base *base;
	struct iopool *pool;
	struct keeper_client *keeper;   /* the loop's requests to the keeper */
	struct keeper_signer *signer;   /* the I/O threads' DKIM signatures */
	pid_t keeper_pid;
	struct sandbox_user user;
	bool loading;                   /* a LOAD is in flight */
	bool keeper_dead;
	struct queue *queue;
	struct directory *dir;
	struct dns *dns;
	struct dmarc_sender *dmarc;     /* daily DMARC reports, if on */
	struct pickup *pickup;          /* tern-sendmail's maildrop */
	struct remote *remote;
	struct tls *tls;
	uint8_t dkim_kinds[CONFIG_MAX_DKIM];
	struct authsvc *auth;           /* login checks for every protocol */
	struct limtab *rates;           /* submission_rate_limit's counters */
	struct smtp_server_env smtp_env;
	struct pop3_server_env pop3_env;
	struct imap_server_env imap_env;
	struct listener *listeners[CONFIG_MAX_LISTENERS];
	size_t nlisteners;              /* bound: cfg->nlisteners once started */
	bool started;                   /* the loop runs: a LOAD is a reload */
	uint16_t sandbox_ports[SANDBOX_MAX_PORTS];   /* the TCP ports Landlock lets us */
	size_t nsandbox_ports;          /* connect to; 0: not restricted */
	char mailhost[256];             /* host name in Maildir file names (at start) */
	struct listener *control_listener;
	struct control_env control;
	struct http_serve *metrics;     /* metrics_listen's endpoint, if configured */
	struct event *sig_term, *sig_int, *sig_hup;
};

static void
usage(void)
{
	fprintf(stderr, "usage: ternd [-n] [-c config] [--init[=production]] [--sample-config]\n"
	    "  -c FILE  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
	    "  -n       check the configuration and exit\n"
	    "  --init   on first run, write a development configuration (loopback,\n"
	    "           ports 2525...), users and aliases file under the configuration's\n"
	    "           directory, then start\n"
	    "  --init=production\n"
	    "           write a production configuration (ports 25, 587, 465, 110, 995,\n"
	    "           143, 993 on every address; data in " CONFIG_PRODUCTION_DATA_DIR "),\n"
	    "           users, aliases and a self-signed certificate beside it, each\n"
	    "           unless it exists, and exit\n"
	    "  --sample-config\n"
	    "           print a production configuration with example names and exit\n");
	exit(2);
}

static struct directory *
load_directory(const struct config *cfg, struct buf *errs)
{
	char users[CONFIG_PATH_MAX], aliases[CONFIG_PATH_MAX];
	struct directory *d;

	if (config_path(cfg, cfg->users_file, users, sizeof(users)) == -1 ||
	    config_path(cfg, cfg->aliases_file, aliases, sizeof(aliases)) == -1) {
		buf_printf(errs, "users_file or aliases_file: path too long\n");
		return NULL;
	}
	if ((d = directory_load(users, aliases, errs)) != NULL)
		directory_set_quota_default(d, cfg->quota_default);
	return d;
}

/* Writes the first-run files that do not exist yet. */
static int
init_files(const char *config_path)
{
	char dir[CONFIG_PATH_MAX], path[CONFIG_PATH_MAX + 32], *slash;
	FILE *f;
	int fd;

	snprintf(dir, sizeof(dir), "%s", config_path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "ternd: mkdir %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (access(config_path, F_OK) == 0)
		return 0;
	if (config_write_default(config_path, dir) == -1) {
		fprintf(stderr, "ternd: write %s: %s\n", config_path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/users", dir);
	/* Password hashes go in here: owner only, from its creation (the
	 * mode comes with the inode; no window, nothing to lose to a cut). */
	if (access(path, F_OK) != 0 && (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) != -1) {
		if ((f = fdopen(fd, "w")) == NULL) {
			fprintf(stderr, "ternd: write %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		fprintf(f, "# One mailbox per line: user@domain[:{SCHEME}hash]\n"
		    "# (Dovecot passwd-file format). Set a password with\n"
		    "#   ternctl -c %s user passwd postmaster@localhost\n"
		    "postmaster@localhost\n", config_path);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/aliases", dir);
	if (access(path, F_OK) != 0 && (f = fopen(path, "w")) != NULL) {
		fprintf(f, "# name: target, target   (a name without @ applies to every local domain)\n"
		    "abuse: postmaster\nroot: postmaster\n");
		fclose(f);
	}
	fprintf(stderr, "ternd: wrote a default configuration to %s\n", config_path);
	return 0;
}

/* How a configured listener is served. */
static void
listener_conf_of(struct ternd *d, const struct config_listener *cl, struct listener_conf *lc)
{
	bool pop3 = cl->kind == LISTEN_POP3 || cl->kind == LISTEN_POP3S;
	bool imap = cl->kind == LISTEN_IMAP || cl->kind == LISTEN_IMAPS;
	static const char *const services[] = {
		[LISTEN_SMTP] = "smtp", [LISTEN_SUBMISSION] = "submission",
		[LISTEN_SMTPS] = "smtps", [LISTEN_POP3] = "pop3", [LISTEN_POP3S] = "pop3s",
		[LISTEN_LMTP] = "lmtp", [LISTEN_IMAP] = "imap", [LISTEN_IMAPS] = "imaps",
	};

	*lc = (struct listener_conf){
		.proto = pop3 ? &pop3_server_proto : imap ? &imap_server_proto :
		    cl->kind == LISTEN_LMTP ? &lmtp_server_proto : &smtp_server_proto,
		.env = pop3 ? (void *)&d->pop3_env : imap ? (void *)&d->imap_env :
		    (void *)&d->smtp_env,
		.tls_mode = cl->kind == LISTEN_SMTPS || cl->kind == LISTEN_POP3S ||
		    cl->kind == LISTEN_IMAPS ? LISTENER_TLS_IMPLICIT : LISTENER_TLS_STARTTLS,
		.auth_required = cl->kind == LISTEN_SUBMISSION || cl->kind == LISTEN_SMTPS,
		.service = services[cl->kind],
		.host = cl->host,
		.port = cl->port,
		.path = cl->path[0] ? cl->path : NULL,
	};
}

/*
 * cfg's listeners into out[], bound but not yet accepting. On a reload a
 * running listener that listens where cfg says is taken over as it is
 * (its connections and its queue of unaccepted ones are not touched);
 * fresh[i] says which were bound here. On a failure the fresh ones are
 * closed again, the running ones are untouched, and errs says why.
 */
static int
bind_listeners(struct ternd *d, const struct config *cfg, struct listener **out,
    bool *fresh, struct buf *errs)
{
	size_t i, j, k;

	for (i = 0; i < cfg->nlisteners; i++) {
		const struct config_listener *cl = &cfg->listeners[i];
		struct listener_conf lc;
		bool taken;

		listener_conf_of(d, cl, &lc);
		out[i] = NULL;
		fresh[i] = false;
		for (j = 0; out[i] == NULL && j < d->nlisteners; j++) {
			for (taken = false, k = 0; k < i; k++)
				taken = taken || out[k] == d->listeners[j];
			if (!taken && listener_same(d->listeners[j], &lc))
				out[i] = d->listeners[j];
		}
		if (out[i] != NULL)
			continue;
		if ((out[i] = listener_new(d->base, cfg, &lc)) == NULL) {
			int err = errno;

			if (cl->path[0])
				buf_printf(errs, "listen %s unix:%s: %s", lc.service, cl->path,
				    strerror(err));
			else
				buf_printf(errs, "listen %s %s:%d: %s%s", lc.service, cl->host,
				    cl->port, strerror(err), d->nlisteners > 0 && cl->port < 1024 &&
				    d->user.change ? " (a port below 1024 needs a restart: ternd "
				    "has given up root)" : "");
			while (i-- > 0) {
				if (fresh[i])
					listener_free(&out[i]);
			}
			return -1;
		}
		fresh[i] = true;
	}
	return 0;
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct ternd *d = arg;

	(void)what;
	log_info("event=stopping signal=%d", (int)sig);
	event_base_loopexit(d->base, NULL);
}

/* A multi-line error text as one log value: lines joined by "; ". */
static void
one_line(const struct buf *in, struct buf *out)
{
	size_t i;

	for (i = 0; i < in->len; i++) {
		if (in->data[i] != '\n')
			buf_append_char(out, in->data[i]);
		else if (i + 1 < in->len)
			buf_append_str(out, "; ");
	}
}

/* Frees the retired configurations nothing holds any more: no session,
 * connection, attempt or check has a reference, and no I/O job (which
 * may have read one through its owner) is in flight. */
static void
reap_retired(evutil_socket_t fd, short what, void *arg)
{
	struct ternd *d = arg;
	struct retired **pp = &d->retired, *r;
	struct timeval second = { 1, 0 };

	(void)fd;
	(void)what;
	while ((r = *pp) != NULL) {
		if (config_refs(r->cfg) == 0 && iopool_pending(d->pool) == 0) {
			*pp = r->next;
			log_debug("event=config-freed");
			config_free(&r->cfg);
			free(r);
		} else
			pp = &r->next;
	}
	if (d->retired != NULL)
		evtimer_add(d->reaper, &second);
}

/* Every TCP port cfg connects to is one the sandbox lets us (Landlock's
 * rules were made at start, from the configuration then). */
static int
check_ports(const struct ternd *d, const struct config *cfg, struct buf *errs)
{
	const struct config_transport *t[CONFIG_MAX_ROUTES + 1];
	size_t i, j, n = 0;
	int bad = 0;

	if (d->nsandbox_ports == 0)
		return 0;
	for (i = 0; i < cfg->nroutes; i++)
		t[n++] = &cfg->routes[i].hop;
	t[n++] = &cfg->local_transport;
	for (i = 0; i <= n; i++) {
		int port = i < n ? t[i]->port : cfg->smtp_port;
		bool ok = false;

		if (i < n && t[i]->kind != TRANSPORT_SMTP && t[i]->kind != TRANSPORT_LMTP)
			continue;
		for (j = 0; j < d->nsandbox_ports; j++)
			ok = ok || d->sandbox_ports[j] == port;
		if (!ok) {
			buf_printf(errs, "%s: port %d: the sandbox only lets ternd connect to "
			    "the ports configured at start: needs a restart\n",
			    i < n ? (t[i] == &cfg->local_transport ? "local_transport" : "route") :
			    "smtp_port", port);
			bad = -1;
		}
	}
	return bad;
}

/* The new configuration's listeners replace the running ones: the fresh
 * ones start accepting, the ones it no longer has are closed (their
 * sessions go on: a conn does not need its listener). */
static void
switch_listeners(struct ternd *d, struct listener **nl, const bool *fresh, size_t n)
{
	size_t i, j;
	bool kept;

	for (j = 0; j < d->nlisteners; j++) {
		for (kept = false, i = 0; i < n; i++)
			kept = kept || nl[i] == d->listeners[j];
		if (!kept) {
			const struct listener_conf *lc = listener_conf(d->listeners[j]);

			if (lc->path)
				log_info("event=listener-closed service=%s address=unix:%s",
				    lc->service, lc->path);
			else
				log_info("event=listener-closed service=%s address=%s:%d",
				    lc->service, lc->host, lc->port);
			listener_free(&d->listeners[j]);
		}
	}
	for (i = 0; i < n; i++) {
		d->listeners[i] = nl[i];
		listener_set_config(nl[i], d->cfg);
		if (fresh[i])
			listener_enable(nl[i], d->tls);
	}
	for (; i < CONFIG_MAX_LISTENERS; i++)
		d->listeners[i] = NULL;
	d->nlisteners = n;
	d->control.nlisteners = n;
}

/* Everything long-lived reads next from now on; the running one retires. */
static void
switch_config(struct ternd *d, struct config *next)
{
	struct retired *r = calloc(1, sizeof(*r));
	struct timeval second = { 1, 0 };

	if (r == NULL)
		log_fatal("reload: out of memory");
	r->cfg = d->cfg;
	r->next = d->retired;
	d->retired = r;
	config_unref(d->cfg);
	d->cfg = next;
	d->smtp_env.cfg = next;
	d->pop3_env.cfg = next;
	d->imap_env.cfg = next;
	d->control.cfg = next;
	/* The control socket's listener reads max_connections on accept. */
	listener_set_config(d->control_listener, next);
	queue_set_config(d->queue, next);
	remote_set_config(d->remote, next);
	authsvc_set_config(d->auth, next);
	dmarc_sender_set_config(d->dmarc, next);
	pickup_set_config(d->pickup, next);
	if (next->submission_rate_limit > 0 && d->rates == NULL &&
	    (d->rates = limtab_new((size_t)next->auth_fail_table_size,
	    SUBMISSION_RATE_WINDOW)) == NULL)
		log_warnx("event=reload note=\"out of memory: no submission rate limit\"");
	d->smtp_env.rates = d->rates;
	evtimer_add(d->reaper, &second);
}

/*
 * What the keeper sends on (re)load: the users without their hashes, the
 * aliases, the TLS certificate and key and ternd.conf, as descriptors (the
 * network process may not open those files itself). At startup it
 * installs the first three; on a reload it also parses the configuration
 * and switches to it all or nothing: on any error the running one stays.
 */
static void
on_loaded(void *arg, const struct keeper_reply *r)
{
	struct ternd *d = arg;
	struct buf errs = BUF_INIT, tls_errs = BUF_INIT, notes = BUF_INIT, text = BUF_INIT;
	struct directory *nd = NULL;
	struct config *next = NULL;
	const struct config *use = d->cfg;
	struct listener *nl[CONFIG_MAX_LISTENERS];
	bool fresh[CONFIG_MAX_LISTENERS];
	size_t i, nnl = 0, added = 0;
	FILE *uf = NULL, *af = NULL, *cf = NULL;

	d->loading = false;
	if (r->status != KEEPER_OK) {
		buf_append(&errs, r->payload, r->len);
		if (r->status == KEEPER_TEMP)
			buf_printf(&errs, "the keeper did not answer");
		goto out;
	}
	if (d->started) {
		if ((next = config_new()) == NULL) {
			buf_printf(&errs, "out of memory");
			goto out;
		}
		if (r->fds[4] == -1 || (cf = fdopen(r->fds[4], "r")) == NULL) {
			buf_printf(&errs, "keeper: no configuration file");
			goto out;
		}
		if (config_load_stream(next, cf, d->config_path, &errs) == -1)
			goto out;
		config_keep_fixed(d->cfg, next, &notes);
		/* Added listeners are bound before anything is switched. */
		if (check_ports(d, next, &errs) == -1 ||
		    bind_listeners(d, next, nl, fresh, &errs) == -1)
			goto out;
		nnl = next->nlisteners;
		use = next;
	}
	if (r->len != use->ndkim) {
		buf_printf(&errs, "keeper: %zu DKIM keys, configured %zu", r->len, use->ndkim);
		goto out;
	}
	if ((uf = fdopen(r->fds[0], "r")) == NULL || (af = fdopen(r->fds[1], "r")) == NULL) {
		buf_printf(&errs, "keeper: no users or aliases");
		goto out;
	}
	if ((nd = directory_load_files(uf, use->users_file, af, use->aliases_file,
	    &errs)) == NULL)
		goto out;
	memcpy(d->dkim_kinds, r->payload, r->len);
	directory_set_quota_default(nd, use->quota_default);
	if (d->tls == NULL)
		d->tls = tls_new(r->fds[2], r->fds[3], &errs);
	else if (tls_reload(d->tls, r->fds[2], r->fds[3], &tls_errs) == -1)
		log_warnx("event=tls-reload-failed errors=\"%s\"", buf_cstr(&tls_errs));
	buf_reset(&errs);
	directory_free(&d->dir);
	d->dir = nd;
	d->smtp_env.dir = nd;
	d->imap_env.dir = nd;
	if (d->queue)
		queue_set_directory(d->queue, nd);
	if (next != NULL) {
		for (i = 0; i < nnl; i++)
			added += fresh[i];
		switch_config(d, next);
		next = NULL;
		switch_listeners(d, nl, fresh, nnl);
		nnl = 0;
	}
out:
	if (nnl > 0 && errs.len) {
		/* Refused after binding: the fresh listeners go again. */
		for (i = 0; i < nnl; i++) {
			if (fresh[i])
				listener_free(&nl[i]);
		}
	}
	config_free(&next);
	one_line(&errs, &text);
	/* At startup the errors are the startup's (it stops), and the users
	 * are counted in event=started: "reloaded" is for a reload only. */
	if (errs.len)
		log_warnx("event=%s errors=\"%s\"", d->started ? "reload-failed" : "load-failed",
		    buf_cstr(&text));
	else if (d->started) {
		buf_reset(&text);
		one_line(&notes, &text);
		log_info("event=reloaded users=%zu listeners=%zu added=%zu%s%s%s",
		    directory_user_count(d->dir), d->nlisteners, added,
		    text.len ? " notes=\"" : "", buf_cstr(&text), text.len ? "\"" : "");
	}
	if (uf)
		fclose(uf);
	else if (r->fds[0] != -1)
		close(r->fds[0]);
	if (af)
		fclose(af);
	else if (r->fds[1] != -1)
		close(r->fds[1]);
	if (cf)
		fclose(cf);
	else if (r->fds[4] != -1)
		close(r->fds[4]);
	for (i = 2; i < 4; i++) {
		if (r->fds[i] != -1)
			close(r->fds[i]);
	}
	/* ternctl reload hears what the log says. */
	if (tls_errs.len && !errs.len)
		buf_printf(&notes, "TLS certificate not reloaded: %s\n", buf_cstr(&tls_errs));
	control_reload_done(&d->control, buf_cstr(&errs), buf_cstr(&notes));
	buf_release(&text);
	buf_release(&notes);
	buf_release(&tls_errs);
	buf_release(&errs);
}

/* SIGHUP and ternctl reload: the whole configuration again, with the
 * users and aliases files and the TLS certificate (the keeper opens them
 * all and hands them over). A reload in flight is joined. */
static int
start_reload(void *arg, const char *by)
{
	struct ternd *d = arg;

	(void)by;
	if (!d->loading)
		d->loading = keeper_load(d->keeper, on_loaded, d) == 0;
	return d->loading ? 0 : -1;
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	if (start_reload(arg, "signal") == -1)
		log_warnx("event=reload-failed errors=\"the keeper took no request\"");
}

/* The control socket (ternctl): bound as root, then given to run_as,
 * owner only; the session also checks who connects (SO_PEERCRED). */
static int
bind_control(struct ternd *d, struct buf *errs)
{
	char path[CONFIG_PATH_MAX];
	struct listener_conf lc = {
		.proto = &control_proto,
		.env = &d->control,
		.tls_mode = LISTENER_TLS_NONE,
		.service = "control",
		.path = path,
		.unix_mode = 0600,
	};

	if (config_path(d->cfg, d->cfg->control_socket, path, sizeof(path)) == -1) {
		buf_printf(errs, "control_socket: path too long");
		return -1;
	}
	if ((d->control_listener = listener_new(d->base, d->cfg, &lc)) == NULL) {
		buf_printf(errs, "control_socket %s: cannot listen (see above)", path);
		return -1;
	}
	if (sandbox_chown(&d->user, path, false) == -1) {
		buf_printf(errs, "chown %s to %s: %s", path, d->user.name, strerror(errno));
		return -1;
	}
	d->control = (struct control_env){
		.cfg = d->cfg,
		.dir = &d->dir,
		.listeners = d->listeners,
		.nlisteners = d->cfg->nlisteners,
		.started = time(NULL),
		.reload = start_reload,
		.reload_arg = d,
	};
	return 0;
}

/* The keeper is gone: no password checks, no signatures. Stop cleanly and
 * let the service manager start both again. */
static void
on_keeper_dead(void *arg)
{
	struct ternd *d = arg;

	d->keeper_dead = true;
	event_base_loopexit(d->base, NULL);
}

/*
 * As root: the directories the network process writes (queue/, mail/)
 * exist and belong to run_as. An installation that ran as root before is
 * given away whole, once; queue/ is checked entry by entry every start
 * (recovery reads every file of it anyway).
 */
static int
prepare_data_dir(const struct ternd *d, struct buf *errs)
{
	static const char *const subdirs[] = { "queue", "mail", "dmarc" };
	char path[CONFIG_PATH_MAX + 16];
	struct stat st;
	size_t i;

	if (!d->user.change)
		return 0;
	if (mkdir(d->cfg->data_dir, 0755) == -1 && errno != EEXIST) {
		buf_printf(errs, "mkdir %s: %s\n", d->cfg->data_dir, strerror(errno));
		return -1;
	}
	/* run_as must pass through data_dir to queue/ and mail/ (search
	 * only: it still cannot list it or read root's files in it). The
	 * first-run layout makes it 0700, with the config inside. */
	if (stat(d->cfg->data_dir, &st) == 0 && st.st_uid != d->user.uid &&
	    !(st.st_mode & S_IXOTH) && chmod(d->cfg->data_dir, (st.st_mode & 07777) | S_IXOTH) == 0)
		log_info("event=chmod path=%s mode=%o note=\"search for run_as\"", d->cfg->data_dir,
		    (unsigned)((st.st_mode & 07777) | S_IXOTH));
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		bool whole;

		snprintf(path, sizeof(path), "%s/%s", d->cfg->data_dir, subdirs[i]);
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			buf_printf(errs, "mkdir %s: %s\n", path, strerror(errno));
			return -1;
		}
		whole = i == 0 || (stat(path, &st) == 0 && st.st_uid != d->user.uid);
		if (sandbox_chown(&d->user, path, whole) == -1) {
			buf_printf(errs, "chown %s to %s: %s\n", path, d->user.name, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* data_dir/maildrop for tern-sendmail (pickup_prepare), also when ternd
 * is not started as root. */
static int
prepare_maildrop(const struct ternd *d, struct buf *errs)
{
	if (pickup_prepare(d->cfg->data_dir, d->user.change, d->user.uid, d->user.gid) == 0)
		return 0;
	buf_printf(errs, "%s/maildrop: %s\n", d->cfg->data_dir, strerror(errno));
	return -1;
}

/* A route's or local_transport's way out through the fence: its TCP
 * port, or the directory of its unix socket. Landlock (ABI 7 and before)
 * does not govern connect() to a named socket; the directory, not the
 * socket, is named because a restarted server makes a new socket inode.
 * dirs[] holds the directory names the rules point to. */
static void
sandbox_transport(const struct config_transport *t, struct sandbox_rules *r,
    char dirs[][CONFIG_UNIX_PATH_MAX], size_t *ndirs)
{
	char *slash;

	if ((t->kind == TRANSPORT_SMTP || t->kind == TRANSPORT_LMTP) &&
	    r->nports < SANDBOX_MAX_PORTS)
		r->ports[r->nports++] = (unsigned short)t->port;
	if (t->kind != TRANSPORT_LMTP_UNIX || r->nread == SANDBOX_MAX_PATHS)
		return;
	str_copy(dirs[*ndirs], CONFIG_UNIX_PATH_MAX, t->path);
	if ((slash = strrchr(dirs[*ndirs], '/')) != NULL && slash != dirs[*ndirs])
		*slash = '\0';
	r->read[r->nread++] = dirs[(*ndirs)++];
}

/* Landlock for the network process: write below queue/, mail/ and dmarc/, read the
 * system's files (resolver, CA certificates, time zones), TCP connections
 * only to the ports mail and DNS go to. */
static int
sandbox_network(struct ternd *d, struct buf *errs)
{
	struct sandbox_rules r = { 0 };
	char queue[CONFIG_PATH_MAX + 16], mail[CONFIG_PATH_MAX + 16], dmarc[CONFIG_PATH_MAX + 16];
	char maildrop[CONFIG_PATH_MAX + 16];
	char sockdirs[SANDBOX_MAX_PATHS][CONFIG_UNIX_PATH_MAX];
	size_t i, nsockdirs = 0;
	int abi;

	snprintf(queue, sizeof(queue), "%s/queue", d->cfg->data_dir);
	snprintf(mail, sizeof(mail), "%s/mail", d->cfg->data_dir);
	r.write[r.nwrite++] = queue;
	r.write[r.nwrite++] = mail;
	/* The DMARC results files (verify/dmarc_log.c, daemon/dmarc_send.c). */
	snprintf(dmarc, sizeof(dmarc), "%s/dmarc", d->cfg->data_dir);
	if (mkdir(dmarc, 0750) == 0 || errno == EEXIST)
		r.write[r.nwrite++] = dmarc;
	/* The pickup lists, reads and removes tern-sendmail's files
	 * (Landlock's read right does not cover removing). */
	snprintf(maildrop, sizeof(maildrop), "%s/maildrop", d->cfg->data_dir);
	r.write[r.nwrite++] = maildrop;
	r.write[r.nwrite++] = "/dev/null";
	r.read[r.nread++] = "/etc";
	r.read[r.nread++] = "/usr";
	r.read[r.nread++] = "/lib";
	r.read[r.nread++] = "/lib64";
	r.read[r.nread++] = "/proc";
	r.read[r.nread++] = "/sys/devices/system/cpu";
	r.read[r.nread++] = "/dev/urandom";
	r.restrict_tcp = true;
	r.ports[r.nports++] = (unsigned short)d->cfg->smtp_port;
	r.ports[r.nports++] = 53;
	{
		const char *at = strchr(d->cfg->resolver, '@');

		if (at)
			r.ports[r.nports++] = (unsigned short)atoi(at + 1);
	}
	for (i = 0; i < d->cfg->nroutes; i++)
		sandbox_transport(&d->cfg->routes[i].hop, &r, sockdirs, &nsockdirs);
	sandbox_transport(&d->cfg->local_transport, &r, sockdirs, &nsockdirs);
	if ((abi = sandbox_landlock(&r, errs)) >= 4) {
		/* TCP connections are fenced (ABI 4): a reload may not add ports. */
		memcpy(d->sandbox_ports, r.ports, sizeof(r.ports[0]) * r.nports);
		d->nsandbox_ports = r.nports;
	}
	return abi;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "init", optional_argument, NULL, 'I' },
		{ "sample-config", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct ternd d;
	struct retired *r;
	struct buf errs = BUF_INIT;
	int ch, check_only = 0, init = 0, rc = 1;
	size_t i;

	memset(&d, 0, sizeof(d));
	d.config_path = CONFIG_DEFAULT_PATH;
	while ((ch = getopt_long(argc, argv, "c:n", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': d.config_path = optarg; break;
		case 'n': check_only = 1; break;
		case 'I':
			if (optarg && strcmp(optarg, "production") != 0)
				usage();
			init = optarg ? 2 : 1;
			break;
		case 'S': return init_production_sample(stdout) == 0 ? 0 : 1;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	/* Production: write, and let the administrator read it before the
	 * first start. */
	if (init == 2)
		return init_production(d.config_path) == 0 ? 0 : 1;
	if (init && init_files(d.config_path) == -1)
		return 1;
	if ((d.cfg = config_new()) == NULL) {
		fprintf(stderr, "ternd: out of memory\n");
		return 1;
	}
	if (config_load(d.cfg, d.config_path, &errs) == -1 ||
	    (d.dir = load_directory(d.cfg, &errs)) == NULL) {
		fprintf(stderr, "%s", buf_cstr(&errs));
		buf_release(&errs);
		config_free(&d.cfg);
		return 1;
	}
	/* The keeper reads the users file from now on; this copy, hashes and
	 * all, was only the check. */
	directory_free(&d.dir);
	if (check_only) {
		printf("%s: ok\n", d.config_path);
		config_free(&d.cfg);
		return 0;
	}
	log_init("ternd", d.cfg->log_debug ? LOG_LVL_DEBUG : LOG_LVL_INFO, d.cfg->log_syslog);
	signal(SIGPIPE, SIG_IGN);
	/* Every connection is a descriptor: take all the kernel allows. */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	/* As root: who to become, the directories to give it, the first-run
	 * certificate; then the keeper, before any listener or thread. */
	{
		int kfds[2];

		if (sandbox_user_lookup(d.cfg->run_as, &d.user, &errs) == -1 ||
		    prepare_data_dir(&d, &errs) == -1 ||
		    prepare_maildrop(&d, &errs) == -1 ||
		    tls_ensure_cert(d.cfg, &errs) == -1 ||
		    keeper_spawn(d.cfg, d.config_path, &d.user, kfds, &d.keeper_pid, &errs) == -1) {
			log_msg(LOG_LVL_ERR, "%s", buf_cstr(&errs));
			buf_release(&errs);
			return 1;
		}
		if ((d.base = event_base_new()) == NULL ||
		    (d.keeper = keeper_client_new(d.base, kfds[0], on_keeper_dead, &d)) == NULL ||
		    (d.signer = keeper_signer_new(kfds[1])) == NULL)
			log_fatal("startup: out of memory");
	}
	{
		bool fresh[CONFIG_MAX_LISTENERS];

		if (bind_listeners(&d, d.cfg, d.listeners, fresh, &errs) == -1) {
			log_msg(LOG_LVL_ERR, "%s", buf_cstr(&errs));
			goto out;
		}
		d.nlisteners = d.cfg->nlisteners;
	}
	if (metrics_endpoint_bind(d.base, d.cfg, &d.queue, &d.metrics) == -1)
		goto out;
	if (bind_control(&d, &errs) == -1) {
		log_msg(LOG_LVL_ERR, "%s", buf_cstr(&errs));
		goto out;
	}
	if ((d.dns = dns_new(d.base, d.cfg, &errs)) == NULL) {
		log_msg(LOG_LVL_ERR, "%s", errs.len ? buf_cstr(&errs) : "out of memory");
		goto out;
	}
	/* Users, aliases and the certificate, from the keeper. */
	d.loading = keeper_load(d.keeper, on_loaded, &d) == 0;
	while (d.loading && !d.keeper_dead)
		event_base_loop(d.base, EVLOOP_ONCE);
	if (d.dir == NULL || d.tls == NULL) {
		log_msg(LOG_LVL_ERR, "startup: the keeper could not load the users, aliases, "
		    "DKIM keys or TLS certificate (see above)");
		goto out;
	}
	/* Give up root, then fence the process in, before any thread starts
	 * (Landlock binds the calling thread and those it makes later). */
	{
		int abi = 0, sc = 0;

		if (sandbox_drop(&d.user, false, true, &errs) == -1 ||
		    (d.cfg->sandbox && (abi = sandbox_network(&d, &errs)) == -1) ||
		    (d.cfg->sandbox && (sc = sandbox_seccomp(SANITIZED_BUILD, &errs)) == -1)) {
			log_msg(LOG_LVL_ERR, "sandbox: %s%s", buf_cstr(&errs), d.user.change ?
			    " (every directory above data_dir must be searchable by run_as)" : "");
			goto out;
		}
		log_info("event=sandboxed user=%s uid=%u landlock=%s%d seccomp=%s keeper_pid=%ld",
		    d.user.change ? d.user.name : "unchanged", (unsigned)getuid(),
		    abi > 0 ? "abi" : "off", abi, sc > 0 ? "on" : "off", (long)d.keeper_pid);
	}
	if ((d.pool = iopool_new(d.base, d.cfg->io_threads)) == NULL)
		log_fatal("startup: out of memory");
	if ((d.queue = queue_open(d.base, d.pool, d.cfg, &errs)) == NULL) {
		log_msg(LOG_LVL_ERR, "queue: %s", buf_cstr(&errs));
		goto out;
	}
	if ((d.remote = remote_new(d.base, d.cfg, d.dns, d.tls)) == NULL) {
		log_msg(LOG_LVL_ERR, "out of memory");
		goto out;
	}
	queue_set_dkim(d.queue, d.signer, d.dkim_kinds, d.cfg->ndkim);
	queue_set_remote(d.queue, d.remote);
	queue_set_directory(d.queue, d.dir);
	d.dmarc = dmarc_sender_new(d.base, d.pool, d.queue, d.dns, d.cfg);
	d.smtp_env.base = d.base;
	d.smtp_env.cfg = d.cfg;
	d.smtp_env.dir = d.dir;
	d.smtp_env.queue = d.queue;
	d.auth = authsvc_new(d.base, d.cfg,
	    &(struct authsvc_backend){ .check = keeper_auth_check, .ctx = &d.keeper });
	if (d.auth == NULL || (d.cfg->submission_rate_limit > 0 &&
	    (d.rates = limtab_new((size_t)d.cfg->auth_fail_table_size, SUBMISSION_RATE_WINDOW)) == NULL)) {
		log_msg(LOG_LVL_ERR, "out of memory");
		goto out;
	}
	d.smtp_env.auth = d.auth;
	d.smtp_env.rates = d.rates;
	d.smtp_env.pool = d.pool;
	d.smtp_env.dns = d.dns;
	d.pop3_env.base = d.base;
	d.pop3_env.cfg = d.cfg;
	d.pop3_env.pool = d.pool;
	d.pop3_env.auth = d.auth;
	/* Maildir file names keep the host name of the start: the I/O
	 * threads read it, and a reload must not change it under them. */
	str_copy(d.mailhost, sizeof(d.mailhost), d.cfg->hostname);
	d.pop3_env.store.hostname = d.mailhost;
	d.pop3_env.store.lock_timeout = 10;
	d.imap_env.base = d.base;
	d.imap_env.cfg = d.cfg;
	d.imap_env.pool = d.pool;
	d.imap_env.auth = d.auth;
	d.imap_env.dir = d.dir;
	d.imap_env.store = d.pop3_env.store;
	if (mbox_watch_init(d.base) == -1)
		log_warnx("event=watch-unavailable: IMAP IDLE sees changes at the next command only");
	if (str_fmt(d.pop3_env.mailroot, sizeof(d.pop3_env.mailroot), "%s/mail",
	    d.cfg->data_dir) == -1 ||
	    str_fmt(d.smtp_env.mailroot, sizeof(d.smtp_env.mailroot), "%s/mail",
	    d.cfg->data_dir) == -1 ||
	    str_fmt(d.imap_env.mailroot, sizeof(d.imap_env.mailroot), "%s/mail",
	    d.cfg->data_dir) == -1) {
		log_msg(LOG_LVL_ERR, "data_dir too long");
		goto out;
	}
	for (i = 0; i < d.cfg->nlisteners; i++)
		listener_enable(d.listeners[i], d.tls);
	d.control.queue = d.queue;
	listener_enable(d.control_listener, NULL);
	if (d.metrics)
		http_serve_enable(d.metrics);
	if (queue_recover(d.queue) == -1) {
		log_warn("queue: recovery");
		goto out;
	}
	/* After the recovery: what tern-sendmail left while we were down
	 * joins the queue now. */
	if ((d.pickup = pickup_new(d.base, d.pool, d.queue, d.cfg)) == NULL)
		log_warnx("event=pickup-unavailable: tern-sendmail's files wait in %s/maildrop",
		    d.cfg->data_dir);
	d.sig_term = evsignal_new(d.base, SIGTERM, on_stop, &d);
	d.sig_int = evsignal_new(d.base, SIGINT, on_stop, &d);
	d.sig_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
	event_add(d.sig_term, NULL);
	event_add(d.sig_int, NULL);
	event_add(d.sig_hup, NULL);
	if ((d.reaper = evtimer_new(d.base, reap_retired, &d)) == NULL)
		log_fatal("startup: out of memory");
	d.started = true;
	log_info("event=started hostname=%s data_dir=%s users=%zu queued=%zu",
	    d.cfg->hostname, d.cfg->data_dir, directory_user_count(d.dir),
	    queue_count(d.queue));
	event_base_dispatch(d.base);
	rc = d.keeper_dead ? 1 : 0;
out:
	for (i = 0; i < d.nlisteners; i++)
		listener_free(&d.listeners[i]);
	listener_free(&d.control_listener);
	http_serve_free(&d.metrics);
	smtp_server_close_all();
	/* Let running jobs complete so every message is back in memory. */
	pickup_stop(d.pickup);
	if (d.queue)
		queue_stop(d.queue);
	while (d.pool && iopool_pending(d.pool) > 0)
		event_base_loop(d.base, EVLOOP_ONCE);
	dmarc_sender_free(&d.dmarc);
	pickup_free(&d.pickup);
	/* Closing our ends stops the keeper; pending requests fail first. */
	keeper_client_free(&d.keeper);
	/* After the keeper: its failed checks have come back to the service. */
	authsvc_free(&d.auth);
	limtab_free(&d.rates);
	iopool_free(&d.pool);
	mbox_watch_shutdown();
	keeper_signer_free(&d.signer);
	if (d.keeper_pid > 0)
		waitpid(d.keeper_pid, NULL, 0);
	remote_free(&d.remote);
	queue_free(&d.queue);
	dns_free(&d.dns);
	tls_free(&d.tls);
	if (d.sig_term) event_free(d.sig_term);
	if (d.sig_int) event_free(d.sig_int);
	if (d.sig_hup) event_free(d.sig_hup);
	if (d.reaper) event_free(d.reaper);
	/* Everything that held a configuration is gone. */
	while ((r = d.retired) != NULL) {
		d.retired = r->next;
		config_free(&r->cfg);
		free(r);
	}
	config_free(&d.cfg);
	directory_free(&d.dir);
	if (d.base)
		event_base_free(d.base);
	buf_release(&errs);
	return rc;
}
