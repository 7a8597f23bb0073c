/*
 * conn: one client connection under a protocol session (SMTP today; POP3,
 * IMAP and LMTP next). A conn owns what every protocol needs the same way:
 * the bufferevent, the peer's address and its text, the TLS state and its
 * description, the idle timeout and the deadlines, output back-pressure,
 * the STARTTLS upgrade (discarding what was pipelined behind it,
 * CVE-2011-0411), and closing after the last reply has been written, with
 * TLS's close_notify after it. Every conn has a 64-bit id in one registry,
 * so async completions of any protocol find their connection by id
 * (conn_find) and a client that went away meanwhile is harmless.
 *
 * The session sits on top through a table of callbacks (struct
 * conn_proto) and a context pointer. A conn is freed only from a libevent
 * callback or conn_resume(), never from inside the session's own input
 * handling: a session that wants to end calls conn_close_after_flush().
 */
#ifndef TERN_NET_CONN_H
#define TERN_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>

#include <event2/util.h>

struct bufferevent;
struct evbuffer;
struct event_base;
struct sockaddr;
struct tls;
struct buf;
struct listener_conf;

/* Replies waiting to be written above which a session stops reading. */
#define CONN_OUTPUT_HIGH (64 * 1024)

enum conn_timer {
	CONN_TIMER_IDLE,        /* nothing read for the idle timeout */
	CONN_TIMER_SESSION,     /* the session's whole-length deadline */
	CONN_TIMER_DATA,        /* the message deadline */
};

enum conn_timer_verdict {
	CONN_TIMER_DONE,        /* handled (usually: final reply, closing) */
	CONN_TIMER_LATER,       /* busy with an async answer: ask again in 1 s */
};

struct conn;

/* The client's end of a connection. */
struct conn_peer {
	int family;                  /* AF_INET, AF_INET6 (0: unknown) */
	int port;
	unsigned char addr[16];      /* 4 or 16 octets used */
	char ip[INET6_ADDRSTRLEN];   /* the text; "unknown" */
};

void conn_peer_from(const struct sockaddr *sa, struct conn_peer *p);

/* A protocol: what a conn calls. ctx is what greet returned. */
struct conn_proto {
	const char *name;
	/* A new connection: make the session and queue the greeting.
	 * NULL: out of memory, the conn is closed. */
	void *(*greet)(struct conn *c, const struct listener_conf *lc);
	/* Input is waiting (or output drained below CONN_OUTPUT_HIGH while
	 * input waits, or conn_resume). */
	void (*input)(void *ctx);
	/* The TLS handshake has finished (optional). */
	void (*tls_ready)(void *ctx);
	/* A timer fired. For CONN_TIMER_IDLE, LATER is not allowed. */
	enum conn_timer_verdict (*timer)(void *ctx, enum conn_timer which);
	/* The conn is going away: log and free the session. */
	void (*closed)(void *ctx, const char *reason);
	/* The line refusing a connection over the limits, with its CRLF. */
	int (*busy)(const struct listener_conf *lc, bool per_ip, char *out,
	    size_t outsize);
};

/* Starts a connection on fd for the listener lc (which has checked the
 * limits and counted it under limit_key: the conn releases that when it
 * goes, or when it cannot start). tls NULL: no TLS. Takes fd. */
struct conn *conn_start(struct event_base *base, evutil_socket_t fd,
    const struct conn_peer *peer, const struct listener_conf *lc, struct tls *tls,
    const char *limit_key);

/* The conn with this id, or NULL when it is gone. */
struct conn *conn_find(uint64_t id);
/* The session of a conn, if it runs proto. */
void *conn_ctx(const struct conn *c, const struct conn_proto *proto);
/* Open connections. */
unsigned conn_count(void);
/* Frees every connection (shutdown). */
void conn_close_all(void);

uint64_t conn_id(const struct conn *c);
const char *conn_ip(const struct conn *c);
int conn_port(const struct conn *c);
int conn_family(const struct conn *c);
const unsigned char *conn_addr(const struct conn *c);   /* 16 octets */
bool conn_tls(const struct conn *c);
bool conn_tls_possible(const struct conn *c);            /* STARTTLS can work */
const char *conn_tls_info(const struct conn *c);

/* What the client sent and the session has not read yet. */
struct evbuffer *conn_input(struct conn *c);
/* Queues octets for the client. */
void conn_write(struct conn *c, const void *data, size_t len);
/* More than CONN_OUTPUT_HIGH waits to be written, counting the session's
 * own unflushed octets: stop reading until it drains. */
bool conn_output_full(struct conn *c, size_t unflushed);
/* Idle timeout for reads and writes, in seconds. */
void conn_set_timeout(struct conn *c, int seconds);
/* Deadline for CONN_TIMER_SESSION or CONN_TIMER_DATA, seconds from now;
 * 0 cancels it. */
void conn_set_deadline(struct conn *c, enum conn_timer which, int seconds);
bool conn_has_deadline(const struct conn *c, enum conn_timer which);

/*
 * STARTTLS (RFC 3207, RFC 2595). When TLS can start, appends ready (the
 * go-ahead) to pending, writes pending (reset after), throws away whatever
 * the client sent behind the command, and starts the handshake.
 * CONN_STARTTLS_UNAVAILABLE: nothing was written; refuse for a temporary
 * reason. CONN_STARTTLS_BROKEN: written, but the connection cannot go on;
 * close it.
 */
enum conn_starttls { CONN_STARTTLS_OK, CONN_STARTTLS_UNAVAILABLE, CONN_STARTTLS_BROKEN };
enum conn_starttls conn_starttls(struct conn *c, struct buf *pending,
    const char *ready, size_t readylen);

/* Reads nothing more; the conn is freed once everything queued (and,
 * under TLS, the close_notify after it) is on the socket. The session's
 * closed callback then gets reason NULL and names the close itself. */
void conn_close_after_flush(struct conn *c);
bool conn_closing(const struct conn *c);

/* Continues a session after an async answer: its input callback, then the
 * close if it asked for one. c may be freed on return. */
void conn_resume(struct conn *c);

#endif
