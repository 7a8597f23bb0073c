/*
 * config: the one configuration of ternd, read from one file of
 * "key value" lines. Immutable after config_load(); a reload builds a new
 * struct config and swaps it. ternd's configurations live on the heap
 * with a reference count (loop thread only): a session, an outbound
 * connection or a delivery attempt holds the one it started with, so a
 * reload never changes the settings under it.
 */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/buf.h"

/* Where ternd, ternctl and tern-sendmail look without -c (-C); the build sets it (meson's
 * config_path option, else SYSCONFDIR/tern/ternd.conf). */
#ifndef CONFIG_DEFAULT_PATH
#define CONFIG_DEFAULT_PATH "/etc/tern/ternd.conf"
#endif
/* data_dir of a production configuration (LOCALSTATEDIR/lib/tern). */
#ifndef CONFIG_PRODUCTION_DATA_DIR
#define CONFIG_PRODUCTION_DATA_DIR "/var/lib/tern"
#endif

#define CONFIG_MAX_LISTENERS 16
#define CONFIG_MAX_DOMAINS   64
#define CONFIG_PATH_MAX      1024
/* sun_path's size (107 octets and the NUL). */
#define CONFIG_UNIX_PATH_MAX 108

enum listener_kind {
	LISTEN_SMTP, LISTEN_SUBMISSION, LISTEN_SMTPS,
	LISTEN_POP3,        /* STLS offered (RFC 2595) */
	LISTEN_POP3S,       /* implicit TLS (RFC 8314) */
	LISTEN_LMTP,        /* RFC 2033: a mailbox server's delivery port */
	LISTEN_IMAP,        /* STARTTLS offered (RFC 9051 §6.2.1) */
	LISTEN_IMAPS,       /* implicit TLS (RFC 8314) */
};

struct config_listener {
	enum listener_kind kind;
	char host[64];
	int port;
	char path[CONFIG_UNIX_PATH_MAX];  /* "unix:PATH" (LMTP): the socket, else "" */
};

#define CONFIG_MAX_NETWORKS 64
#define CONFIG_MAX_ROUTES   64

#define CONFIG_MAX_DKIM 32
#define CONFIG_MAX_DNSBL 8

/* What a failed inbound check does to the message. */
enum config_action {
	ACTION_NONE,        /* recorded in Authentication-Results only */
	ACTION_QUARANTINE,  /* local mailboxes: into Junk; the rest: marked */
	ACTION_REJECT,      /* 550 5.7.1 at the end of DATA */
};

/* dkim_key DOMAIN SELECTOR FILE */
struct config_dkim {
	char domain[256];
	char selector[64];
	char path[CONFIG_PATH_MAX];
};

/* A network in CIDR notation: relay_networks. */
struct config_network {
	int family;                 /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;
};

/* How mail leaves for a next hop: a route's, or local_transport's. */
enum config_transport_kind {
	TRANSPORT_MAILDIR,     /* local_transport only: tern writes the Maildir */
	TRANSPORT_SMTP,        /* HOST[:PORT] */
	TRANSPORT_LMTP,        /* lmtp:HOST[:PORT] (RFC 2033) */
	TRANSPORT_LMTP_UNIX,   /* lmtp:unix:PATH */
};

struct config_transport {
	enum config_transport_kind kind;
	char host[256];                   /* SMTP, LMTP */
	int port;
	char path[CONFIG_UNIX_PATH_MAX];  /* LMTP_UNIX: the socket */
};

/* route DOMAIN HOST[:PORT] | lmtp:...: a static next hop instead of the
 * MX records; DOMAIN "*" is the smarthost. */
struct config_route {
	char domain[256];
	struct config_transport hop;
};

struct config {
	char hostname[256];
	char data_dir[CONFIG_PATH_MAX];
	char users_file[CONFIG_PATH_MAX];
	char aliases_file[CONFIG_PATH_MAX];
	char control_socket[CONFIG_PATH_MAX];  /* ternctl's way in (relative: to data_dir) */
	char run_as[64];           /* started as root: become this user */
	bool sandbox;              /* Landlock the processes (where the kernel can) */
	char domains[CONFIG_MAX_DOMAINS][256];
	size_t ndomains;
	char postmaster[512];
	struct config_listener listeners[CONFIG_MAX_LISTENERS];
	size_t nlisteners;

	uint64_t max_message_size;
	size_t max_recipients;
	size_t max_line_length;
	size_t max_command_length;
	size_t max_received_headers;
	int max_connections;
	int max_connections_per_ip;
	int idle_timeout;          /* seconds */
	int data_timeout;          /* seconds, between reads inside DATA */
	int max_errors;            /* bad commands before 421 */
	int imap_max_user_sessions; /* IMAP sessions one user may have open at once */
	int max_junk_commands;     /* NOOP/RSET/VRFY/EXPN/HELP before they count as errors */
	int session_deadline;      /* seconds a session may last; 0 = no limit */
	int data_deadline;         /* seconds from DATA/first BDAT to the end; 0 = none */
	int io_threads;
	int retry_initial;         /* seconds */
	int retry_max;             /* seconds */
	int queue_lifetime;        /* seconds */
	bool log_syslog;
	bool log_debug;
	bool direct_delivery;      /* single local recipient: commit = delivery */
	bool commit_syncfs;        /* commit_sync syncfs (batched) vs fsync */
	char tls_cert[CONFIG_PATH_MAX];  /* "" = data_dir/tls/cert.pem (made on first run) */
	char tls_key[CONFIG_PATH_MAX];
	bool smtp_tls;             /* outbound: STARTTLS when offered */
	bool auth_cleartext_loopback;  /* AUTH without TLS from 127/8 and ::1 */
	int auth_max_failures;     /* per client network (/32, /64), 15 min */
	int auth_max_account_failures;  /* per account from one network, 15 min */
	int auth_fail_table_size;  /* counters kept, fixed (LRU eviction) */
	bool reject_own_domain_sender;  /* port 25: our domains only from auth/relay clients */
	int submission_rate_limit; /* messages per user per hour; 0 = none */
	size_t submission_max_recipients;
	bool submission_check_from;  /* From: must belong to the login */
	struct config_dkim dkim[CONFIG_MAX_DKIM];
	size_t ndkim;

	/* outbound */
	struct config_network relay_networks[CONFIG_MAX_NETWORKS];
	size_t nrelay_networks;
	struct config_route routes[CONFIG_MAX_ROUTES];
	size_t nroutes;
	/* Local recipients: Maildir (tern), or LMTP to a mailbox server. */
	struct config_transport local_transport;
	char resolver[256];        /* "" = /etc/resolv.conf; else "IP[@PORT]" */
	int smtp_port;             /* port of MX hosts found in DNS */
	int smtp_connect_timeout;  /* seconds */
	int smtp_idle_timeout;     /* keep an idle outbound connection this long */
	int max_outbound;          /* outbound connections in all */
	int max_outbound_per_dest; /* per destination address */
	int delay_warning;         /* seconds before a NOTIFY=DELAY DSN; 0 = never */

	/* inbound checks (verify/): off unless configured */
	bool check_spf;            /* SPF of MAIL FROM (HELO for <>) */
	bool check_dkim;           /* DKIM signatures on inbound mail */
	bool check_dmarc;          /* DMARC of the From domain (needs SPF and DKIM) */
	bool check_sender_domain;  /* MAIL FROM domain: NXDOMAIN 5.1.8, null MX 5.7.27 */
	char authserv_id[256];     /* Authentication-Results id; "" = hostname */
	int verify_timeout;        /* seconds of DNS one check may take */
	enum config_action dmarc_reject;      /* what p=reject does: reject */
	enum config_action dmarc_quarantine;  /* what p=quarantine does: quarantine */
	bool check_arc;            /* ARC chains (RFC 8617) on inbound mail */
	char arc_trusted[CONFIG_MAX_DNSBL][256];  /* sealers whose pass overrides a DMARC fail */
	size_t narc_trusted;
	char arc_seal[256];        /* seal forwarded mail with this domain's dkim_key; "" = no */
	bool dmarc_reports;        /* record DMARC results, send daily aggregate reports */
	char dmarc_report_from[512];  /* their sender; "" = postmaster */
	char dmarc_report_org[256];   /* the reporting organization; "" = hostname */
	char dnsbl[CONFIG_MAX_DNSBL][256];    /* client address lists (zen.spamhaus.org) */
	size_t ndnsbl;
	char dnsbl_domain[CONFIG_MAX_DNSBL][256];  /* sender domain lists */
	size_t ndnsbl_domain;
	/* mailboxes */
	uint64_t quota_default;    /* octets per user without a quota of their own; 0 = none */

	/* metrics_listen HOST:PORT: the Prometheus endpoint (port 0: off) */
	char metrics_host[64];     /* numeric; loopback unless metrics_listen_any */
	int metrics_port;
	bool metrics_listen_any;   /* allow a non-loopback metrics_listen */
	/* Not a setting: the holders of a config_new() one (config_ref). */
	unsigned refs;
};

/* A heap configuration with the defaults and one reference (the
 * caller's); NULL when out of memory. Freed by config_free() once
 * config_refs() says nobody holds it. */
struct config *config_new(void);
void config_free(struct config **cfgp);
/*
 * A holder's reference (loop thread only). The configuration itself stays
 * read-only: only the count changes. Dropping the last reference does not
 * free: the owner (ternd) frees a retired configuration when no reference
 * and no I/O job is left. A configuration on the stack (tools, tests) may
 * be passed too: its count is never looked at.
 */
const struct config *config_ref(const struct config *cfg);
void config_unref(const struct config *cfg);
unsigned config_refs(const struct config *cfg);

/* True when addr (family AF_INET/AF_INET6, raw bytes) is in relay_networks. */
bool config_relay_allowed(const struct config *cfg, int family,
    const void *addr);
/* The static route for domain (exact, then "*"), or NULL. */
const struct config_route *config_route_for(const struct config *cfg,
    const char *domain);

/* "lmtp:HOST:PORT", "lmtp:unix:PATH", "HOST:PORT" (SMTP) or "maildir",
 * as the configuration writes it; -1 when out is too small. */
int config_transport_text(const struct config_transport *t, char *out,
    size_t outsize);
bool config_transport_is_lmtp(const struct config_transport *t);

/* Fills cfg with the built-in defaults. */
void config_defaults(struct config *cfg);

/*
 * Reads path over the defaults. Every problem is appended to errs as
 * "file:line: text\n"; returns 0 when there were none, else -1.
 */
int config_load(struct config *cfg, const char *path, struct buf *errs);
/* The same from an open file (ternd's reload: the keeper opens it); name
 * is for the errors. */
int config_load_stream(struct config *cfg, FILE *f, const char *name, struct buf *errs);
/* The same from text in memory (pure: what config_load reads; name is for
 * the errors). */
int config_parse(struct config *cfg, const char *text, size_t len, const char *name,
    struct buf *errs);

/* "30", "30s", "5m", "4h", "5d" -> seconds; -1 when malformed. */
int config_parse_duration(const char *s, long long *out);

/* Resolves a path relative to data_dir unless absolute; -1 if too long. */
int config_path(const struct config *cfg, const char *rel, char *out,
    size_t outsize);

bool config_is_local_domain(const struct config *cfg, const char *domain);
/* True when a dkim_key is configured for domain. */
bool config_dkim_domain(const struct config *cfg, const char *domain);

/*
 * A reload (config_reload.c, pure): the settings of next that cannot
 * change in a running ternd (data_dir, run_as, sandbox, io_threads, the
 * keeper's files, ...) are given back their running value from run, and
 * each that differed is named in notes, "KEY: needs a restart,
 * unchanged\n". Returns how many were kept.
 */
size_t config_keep_fixed(const struct config *run, struct config *next, struct buf *notes);

/* The default configuration file that first run writes, for data_dir. */
int config_write_default(const char *path, const char *data_dir);

/* What a production configuration is written for (ternd --init=production). */
struct config_production {
	const char *config_path;   /* named in the comments */
	const char *hostname;
	const char *domains;       /* space-separated */
	const char *data_dir;
	const char *users_file;    /* absolute paths */
	const char *aliases_file;
	const char *tls_cert;
	const char *tls_key;
	bool ipv6;                 /* the host has IPv6: [::] listeners too */
};

/* Writes the production configuration to f: the standard ports on every
 * address, the given files. 0, or -1 when f failed. */
int config_write_production(FILE *f, const struct config_production *p);

#endif
