/*
 * conn: one client connection under a protocol session (SMTP today; POP3,
 * IMAP and LMTP next). A conn owns what every protocol needs the same way:
 * the bufferevent, the peer's address and its text, the TLS state and its
 * description, the idle timeout and the deadlines, output back-pressure,
 * the STARTTLS upgrade (discarding what was pipelined behind it,
 * CVE-2011-0411), compression (IMAP COMPRESS=DEFLATE), and closing after
 * the last reply has been written, with TLS's close_notify after it.
 * Every conn has a 64-bit id in one registry, so async completions of any
 * protocol find their connection by id (conn_find) and a client that went
 * away meanwhile is harmless.
 *
 * The session sits on top through a table of callbacks (struct
 * conn_proto) and a context pointer. The conn frames the input into lines
 * (proto/line: the limit, skip-to-LF recovery) or passes it raw, and calls
 * the session's handler for each; the handler's conn_step says whether to
 * read on, wait for an async answer (conn_resume), or close. A conn is
 * freed only from a libevent callback or conn_resume(), never from inside
 * a handler.
 */
#ifndef TERN_NET_CONN_H
#define TERN_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <sys/types.h>

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

/*
 * What a protocol's handler did with a line or with raw octets. The conn
 * reads on after DONE; after PENDING it reads nothing until the async
 * answer calls conn_resume() (a timer waits too: a 421 before the 250 it
 * is waiting for would make the client send the message again); after
 * CLOSE it closes once the final reply is written.
 */
enum conn_step {
	CONN_DONE,
	CONN_WAIT,      /* raw mode: nothing to do until more octets arrive */
	CONN_PENDING,
	CONN_CLOSE,
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
	/* One complete line of at most the line limit (conn_set_line_max),
	 * its LF taken off and a NUL put there; a CR before it is left for
	 * the protocol's own policy (line_check). The line is the handler's
	 * to change or wipe. line NULL: a line over the limit, dropped up to
	 * its LF (the handler refuses it). */
	enum conn_step (*line)(void *ctx, char *line, size_t len);
	/* Raw mode (conn_raw_begin): n octets at p as they came, n > 0;
	 * *used_r says how many were taken. In counted mode the conn passes
	 * no more than the count and, once it is reached, leaves raw mode
	 * and calls raw once more with n == 0. */
	enum conn_step (*raw)(void *ctx, const char *p, size_t n, size_t *used_r);
	/* The TLS handshake has finished (optional). */
	void (*tls_ready)(void *ctx);
	/* Everything written so far has been taken by the client (optional):
	 * a session streaming a large response (POP3 RETR) sends its next
	 * piece, so memory per client stays one piece. CONN_CLOSE ends the
	 * connection. */
	enum conn_step (*writable)(void *ctx);
	/* A timer fired while no handler is pending: the session says why
	 * and returns CONN_CLOSE (or DONE to go on). */
	enum conn_step (*timer)(void *ctx, enum conn_timer which);
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
/* The uid of the process at the other end of a unix socket (SO_PEERCRED,
 * as it was at connect time); -1 when not known. */
int conn_peer_uid(const struct conn *c, uid_t *uid_r);
bool conn_tls_possible(const struct conn *c);            /* STARTTLS can work (not on implicit TLS) */
const char *conn_tls_info(const struct conn *c);
/* Whether a password may cross this connection (RFC 4954 §4, RFC 2595
 * §3.1): under TLS, or from loopback (127/8, ::1) when cleartext_loopback
 * (auth_cleartext_loopback) allows it. The one rule every protocol's
 * login follows. */
bool conn_password_ok(const struct conn *c, bool cleartext_loopback);

/* Queues octets for the client. Above CONN_OUTPUT_HIGH waiting to be
 * written, the conn reads nothing more until the client has taken them. */
void conn_write(struct conn *c, const void *data, size_t len);
/* Octets queued for the client and not yet on the socket (every layer). */
size_t conn_output_waiting(struct conn *c);
/* The client has sent octets no handler has had yet. */
bool conn_input_pending(struct conn *c);
/* Within the line handler's call for a line over the limit (line NULL):
 * the first octets of that line, at most CONN_LONG_LINE_KEEP. */
#define CONN_LONG_LINE_KEEP 256
const char *conn_long_line(const struct conn *c, size_t *len_r);
/* The longest line, LF included (default 512, RFC 5321 §4.5.3.1.4). */
void conn_set_line_max(struct conn *c, size_t max);
/* Raw mode: the protocol's raw handler gets the octets that follow, until
 * conn_raw_end(); counted mode (BDAT chunks, IMAP literals): n octets,
 * then back to lines by itself. */
void conn_raw_begin(struct conn *c);
void conn_raw_count(struct conn *c, uint64_t n);
void conn_raw_end(struct conn *c);
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
 * reason (also after COMPRESS: TLS goes below compression, never
 * above). CONN_STARTTLS_BROKEN: written, but the connection cannot go
 * on; close it.
 */
enum conn_starttls { CONN_STARTTLS_OK, CONN_STARTTLS_UNAVAILABLE, CONN_STARTTLS_BROKEN };
enum conn_starttls conn_starttls(struct conn *c, struct buf *pending,
    const char *ready, size_t readylen);

/*
 * COMPRESS=DEFLATE (RFC 4978): from now on everything is deflated both
 * ways (over TLS when TLS is on), for the rest of the connection. What
 * was queued before the call (the tagged OK) goes out as it is; octets
 * the client sent behind the command are taken as compressed. The line
 * limit, raw mode, back-pressure, timeouts and closing work as before,
 * on the inflated octets. A handler asks conn_compressed() first (NO
 * [COMPRESSIONACTIVE]), writes its OK, calls this and returns CONN_DONE.
 * -1: already compressing or closing, or out of memory; nothing changed,
 * but the client has the OK and compresses: the handler returns
 * CONN_CLOSE.
 */
int conn_compress_start(struct conn *c);
bool conn_compressed(const struct conn *c);

/* Octets held in the conn's buffers, every layer (what has been read but
 * not handled, inflated or not; what waits to be written, deflated or
 * not, and under TLS encrypted). */
void conn_buffered(struct conn *c, size_t *in_r, size_t *out_r);

/* A handler returned CONN_CLOSE: the conn reads nothing more and is freed
 * once everything queued (and, under TLS, the close_notify after it) is
 * on the socket. The session's closed callback then gets reason NULL and
 * names the close itself. */
bool conn_closing(const struct conn *c);

/* The async answer a handler returned PENDING for has been given: step
 * is what came of it (DONE: read on; CLOSE: close after the reply). c may
 * be freed on return. */
void conn_resume(struct conn *c, enum conn_step step);

#endif
