/*
 * A whole session on the real conn layer — SMTP, submission, LMTP,
 * POP3 or IMAP: per input a fresh event loop, I/O pool and queue, one end of a
 * socketpair handed to the protocol through conn_start() (as the listener
 * does after accept), the input written into the other end in pieces so
 * the session's framing sees partial lines, then the write side shut and
 * the loop run until the session has ended. Replies are read and thrown
 * away. For POP3 and IMAP, alice@example.org's Maildir holds three messages (dots
 * at line starts, LF line ends, an empty one) at the start of each run.
 *
 * Input: byte 0 picks the piece size (low 6 bits, +1), the SMTP listener
 * (bit 7: submission, AUTH required) and the keeper (bit 6: gone, every
 * password check fails at once; else a stand-in on the keeper socket that
 * knows one password, "secret", for every user); byte 1's low two bits the
 * protocol (0: SMTP as byte 0 says; 1: LMTP; 2: POP3; 3: IMAP); the rest is
 * what the client sends.
 *
 * Not covered: TLS (no tls: STARTTLS is not offered), the keeper process
 * itself, a 535 after its delay, the idle timeout and the deadlines (the
 * client closes once the session is quiet: a timer would cost a second).
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/fileio.h"
#include "common/iopool.h"
#include "common/log.h"
#include "config/config.h"
#include "net/conn.h"
#include "net/listener.h"
#include "auth/authsvc.h"
#include "privsep/keeper_client.h"
#include "proto/keeper_msg.h"
#include "queue/queue.h"
#include "imap/imap_server.h"
#include "pop3/pop3_server.h"
#include "route/directory.h"
#include "smtp/smtp_server.h"

/* Loop slices before giving up on a session that never ends. */
#define MAX_ITERATIONS 20000
#define QUIET_SLICES 4000
#define SLICE_USEC 300

static char data_dir[64];
static struct config cfg;
static struct directory *dir;
static bool trace;              /* FUZZ_TRACE set: replies to stderr */

static const char users[] =
    "alice@example.org:{PLAIN}secret::::\n"
    "bob@example.org:{PLAIN}secret::::\n"
    "postmaster@example.org:{PLAIN}secret::::\n";
static const char aliases[] =
    "info: alice@example.org, bob@example.org\n"
    "abuse: postmaster@example.org\n";

/* Removes files only: the queue's directories stay for the next run. */
static int
rm_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_F || flag == FTW_SL)
		unlink(path);
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

static void
cleanup(void)
{
	directory_free(&dir);
	if (data_dir[0]) {
		nftw(data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		rmdir(data_dir);
	}
}

/* Once per process: the configuration, the directory, a data_dir. */
static void
init(void)
{
	struct buf text = BUF_INIT, errs = BUF_INIT;
	FILE *u, *a;

	signal(SIGPIPE, SIG_IGN);
	trace = getenv("FUZZ_TRACE") != NULL;
	/* Quiet unless tracing: the dead keeper alone logs an error per run. */
	log_init("fuzz", trace ? LOG_LVL_DEBUG : (enum log_level)(LOG_LVL_ERR + 1), 0);
	/* tmpfs where there is one: a commit's fsync costs nothing. */
	snprintf(data_dir, sizeof(data_dir), "/dev/shm/tern-fuzz-XXXXXX");
	if (mkdtemp(data_dir) == NULL) {
		snprintf(data_dir, sizeof(data_dir), "/tmp/tern-fuzz-XXXXXX");
		if (mkdtemp(data_dir) == NULL)
			abort();
	}
	atexit(cleanup);
	config_defaults(&cfg);
	buf_printf(&text,
	    "hostname mx.example.org\n"
	    "data_dir %s\n"
	    "domains example.org example.com\n"
	    "sandbox no\n"
	    "listen smtp 127.0.0.1:25\n"
	    "listen submission 127.0.0.1:587\n"
	    "max_message_size 1024\n"
	    "max_recipients 3\n"
	    "max_command_length 512\n"
	    "max_line_length 200\n"
	    "max_received_headers 3\n"
	    "idle_timeout 1s\n"
	    "data_timeout 1s\n"
	    "session_deadline 2s\n"
	    "data_deadline 1s\n"
	    "max_errors 5\n"
	    "max_junk_commands 5\n"
	    "io_threads 1\n"
	    "auth_cleartext_loopback yes\n"
	    "auth_max_failures 3\n"
	    "auth_max_account_failures 2\n"
	    "submission_max_recipients 2\n"
	    "submission_check_from yes\n"
	    "reject_own_domain_sender yes\n"
	    "relay_networks 10.0.0.0/8\n", data_dir);
	if (config_parse(&cfg, text.data, text.len, "fuzz", &errs) == -1) {
		fprintf(stderr, "config: %s", buf_cstr(&errs));
		abort();
	}
	u = fmemopen((void *)users, sizeof(users) - 1, "r");
	a = fmemopen((void *)aliases, sizeof(aliases) - 1, "r");
	if (u == NULL || a == NULL ||
	    (dir = directory_load_files(u, "users", a, "aliases", &errs)) == NULL) {
		fprintf(stderr, "directory: %s", buf_cstr(&errs));
		abort();
	}
	fclose(u);
	fclose(a);
	buf_release(&text);
	buf_release(&errs);
}

/* The client's end: writes the input in pieces, reads the replies. */
struct client {
	int fd;
	const uint8_t *data;
	size_t len, off, piece;
	size_t replies;      /* octets read */
	bool shut;           /* write side shut */
	struct event *rev, *wev;
};

static void
on_client_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	char tmp[4096];
	ssize_t n;

	(void)what;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0) {
		cl->replies += (size_t)n;
		if (trace)
			fwrite(tmp, 1, (size_t)n, stderr);
	}
	if (n == 0)
		event_del(cl->rev);   /* the server closed */
}

static void
on_client_write(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	size_t n = cl->len - cl->off;
	ssize_t w;

	(void)what;
	if (n > cl->piece)
		n = cl->piece;
	if (n > 0 && (w = send(fd, cl->data + cl->off, n, MSG_NOSIGNAL)) > 0)
		cl->off += (size_t)w;
	else if (n > 0 && errno != EAGAIN && errno != EINTR)
		cl->off = cl->len;    /* the server is gone */
	if (cl->off < cl->len)
		event_add(cl->wev, NULL);
}

/* The keeper's side: one request per packet, answered at once. */
static void
on_keeper_request(evutil_socket_t fd, short what, void *arg)
{
	uint8_t in[KEEPER_MSG_MAX], out[KEEPER_MSG_MAX];
	struct keeper_msg m;
	uint32_t status;
	ssize_t n;
	size_t len;

	(void)what;
	(void)arg;
	while ((n = recv(fd, in, sizeof(in), MSG_DONTWAIT)) > 0) {
		if (keeper_msg_decode_request(in, (size_t)n, &m) == -1)
			continue;
		if (m.type != KEEPER_AUTH)
			status = KEEPER_TEMP;
		else
			status = strcmp(m.pass, "secret") == 0 ? KEEPER_OK : KEEPER_FAIL;
		if ((len = keeper_msg_encode(out, m.type, status, m.id, NULL, 0)) > 0)
			(void)send(fd, out, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

static void
run_slice(struct event_base *base, long usec)
{
	struct timeval tv = { 0, usec };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* alice's Maildir as a POP3 run starts with it. */
static void
seed_maildir(void)
{
	static const char *const msgs[] = {
		"Subject: one\r\n\r\n.\r\n..two\r\n.\r\nend\r\n",
		"Subject: lf\n\nbare\nline ends\n",
		"",
	};
	static const char *const subs[] = { "new", "cur", "tmp" };
	char path[256];
	size_t i;
	FILE *f;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/mail/example.org/alice/%s", data_dir, subs[i]);
		if (fileio_mkdirs(path) == -1)
			abort();
	}
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		snprintf(path, sizeof(path), "%s/mail/example.org/alice/new/%zu.M1P1.fuzz,S=%zu",
		    data_dir, 1000 + i, strlen(msgs[i]));
		if ((f = fopen(path, "w")) == NULL)
			abort();
		fputs(msgs[i], f);
		fclose(f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct smtp_server_env env = { 0 };
	struct pop3_server_env penv = { 0 };
	struct imap_server_env ienv = { 0 };
	struct listener_conf lc = { 0 };
	struct conn_peer peer = { 0 };
	struct client cl = { 0 };
	struct event_base *base;
	struct iopool *pool;
	struct keeper_client *keeper;
	struct authsvc *auth;
	struct event *kev = NULL;
	struct buf errs = BUF_INIT;
	int sv[2], kv[2], i, quiet = 0;
	size_t last = 0;

	int proto;

	if (size < 2)
		return 0;
	if (!ready) {
		init();
		ready = true;
	}
	if ((base = event_base_new()) == NULL ||
	    (pool = iopool_new(base, cfg.io_threads)) == NULL)
		abort();
	if ((env.queue = queue_open(base, pool, &cfg, &errs)) == NULL) {
		fprintf(stderr, "queue: %s", buf_cstr(&errs));
		abort();
	}
	queue_set_directory(env.queue, dir);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, kv) == -1)
		abort();
	if (data[0] & 0x40) {
		close(kv[1]);   /* gone: keeper_auth fails, AUTH answers 454 */
		kv[1] = -1;
	} else if ((kev = event_new(base, kv[1], EV_READ | EV_PERSIST, on_keeper_request,
	    NULL)) == NULL || event_add(kev, NULL) == -1)
		abort();
	if ((keeper = keeper_client_new(base, kv[0], NULL, NULL)) == NULL ||
	    (auth = authsvc_new(base, &cfg, &(struct authsvc_backend){
	    .check = keeper_auth_check, .ctx = &keeper })) == NULL)
		abort();
	env.base = base;
	env.cfg = &cfg;
	env.dir = dir;
	env.auth = auth;
	env.pool = pool;
	snprintf(env.mailroot, sizeof(env.mailroot), "%s/mail", data_dir);
	proto = data[1] & 3;
	lc.proto = proto == 1 ? &lmtp_server_proto : proto == 2 ? &pop3_server_proto :
	    proto == 3 ? &imap_server_proto : &smtp_server_proto;
	lc.env = &env;
	if (proto == 2) {
		penv.base = base;
		penv.cfg = &cfg;
		penv.pool = pool;
		penv.auth = auth;
		penv.store.hostname = cfg.hostname;
		penv.store.lock_timeout = 1;
		snprintf(penv.mailroot, sizeof(penv.mailroot), "%s/mail", data_dir);
		lc.env = &penv;
		seed_maildir();
	}
	if (proto == 3) {
		ienv.base = base;
		ienv.cfg = &cfg;
		ienv.pool = pool;
		ienv.auth = auth;
		ienv.dir = dir;
		ienv.store.hostname = cfg.hostname;
		ienv.store.lock_timeout = 1;
		snprintf(ienv.mailroot, sizeof(ienv.mailroot), "%s/mail", data_dir);
		lc.env = &ienv;
		seed_maildir();
	}
	lc.tls_mode = LISTENER_TLS_NONE;
	lc.auth_required = (data[0] & 0x80) != 0;
	lc.service = lc.auth_required ? "submission" : "smtp";
	lc.host = "127.0.0.1";
	lc.port = lc.auth_required ? 587 : 25;
	/* Loopback, so cleartext AUTH is allowed to reach the keeper. */
	peer.family = AF_INET;
	peer.port = 40000;
	peer.addr[0] = 127;
	peer.addr[3] = 1;
	snprintf(peer.ip, sizeof(peer.ip), "127.0.0.1");

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	evutil_make_socket_nonblocking(sv[0]);
	evutil_make_socket_nonblocking(sv[1]);
	cl.fd = sv[1];
	cl.data = data + 2;
	cl.len = size - 2;
	cl.piece = (size_t)(data[0] & 0x3f) + 1;
	cl.rev = event_new(base, cl.fd, EV_READ | EV_PERSIST, on_client_read, &cl);
	cl.wev = event_new(base, cl.fd, EV_WRITE, on_client_write, &cl);
	if (cl.rev == NULL || cl.wev == NULL)
		abort();
	event_add(cl.rev, NULL);
	event_add(cl.wev, NULL);
	/* As the listener after accept; the limit key was never counted, and
	 * releasing an uncounted key does nothing. */
	conn_start(base, sv[0], &peer, &lc, NULL, "127.0.0.1");

	/* Everything written and answered as far as it will be (the pool
	 * idle, no new reply for a few slices), or too long: then the client
	 * closes, and the session must end. */
	for (i = 0; i < MAX_ITERATIONS && conn_count() > 0; i++) {
		run_slice(base, SLICE_USEC);
		if (cl.shut)
			continue;
		if (i < QUIET_SLICES && (cl.off < cl.len || iopool_pending(pool) > 0 ||
		    cl.replies != last)) {
			last = cl.replies;
			quiet = 0;
			continue;
		}
		if (++quiet >= 3 || i >= QUIET_SLICES) {
			shutdown(cl.fd, SHUT_WR);
			cl.shut = true;
		}
	}
	if (conn_count() > 0) {
		fprintf(stderr, "fuzz_smtp_session: the session did not end\n");
		abort();
	}
	on_client_read(cl.fd, EV_READ, &cl);

	smtp_server_close_all();
	queue_stop(env.queue);
	for (i = 0; i < MAX_ITERATIONS && iopool_pending(pool) > 0; i++)
		run_slice(base, SLICE_USEC);
	keeper_client_free(&keeper);
	authsvc_free(&auth);
	if (kev) {
		event_free(kev);
		close(kv[1]);
	}
	iopool_free(&pool);
	queue_free(&env.queue);
	event_free(cl.rev);
	event_free(cl.wev);
	close(cl.fd);
	event_base_free(base);
	buf_release(&errs);
	/* Messages committed by this run: the next starts from an empty queue. */
	nftw(data_dir, rm_file, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
