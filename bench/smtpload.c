/*
 * smtpload — TLS submission load generator for bench/submission.sh.
 *
 * Every session: connect, EHLO, STARTTLS (or TLS at once with -S), EHLO,
 * AUTH PLAIN, MAIL, RCPT, DATA with one message, QUIT, close. No TLS
 * session resumption: every session is a full handshake. -c threads run
 * sessions back to back (blocking I/O; each thread has one session open)
 * until -n sessions have been started in all.
 *
 *   cc -O2 -o smtpload smtpload.c -lssl -lcrypto -lpthread
 *   smtpload -a 127.0.0.1 -p 587 -c 20 -n 2000 -u user -w pass \
 *            -f from@x -t rcpt@x [-l 4096] [-S] [-T timeout_s] [-v]
 *
 * Prints one line of key=value: ok, failed, elapsed_s, sessions_per_s,
 * latency mean/p50/p90/p99/max in ms (whole session, connect to close),
 * handshake p50/p99 in ms, and the CPU seconds (user+sys) of this
 * process; the first error (if any) goes to stderr.
 */
#include <stdatomic.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "loadgen.h"

static const char *addr = "127.0.0.1", *user, *pass, *from, *rcpt;
static int port = 587, conc = 20, total = 100, bodylen = 4096, smtps, verbose;
static int timeout_s = 30;
static SSL_CTX *ctx;
static char *message;           /* headers + body, CRLF, dot-safe, ends CRLF */
static size_t message_len;
static char auth_b64[1024];

static atomic_int next_session, nok, nfail;
static double *lat, *hs;        /* per session, ms (-1 when failed) */

static double vt0;              /* -v: times are ms since the start */

struct conn {
	int fd;
	SSL *ssl;
	char buf[8192];
	size_t off, len;
	int idx;
};

static void
fail(struct conn *c, const char *fmt, ...)
{
	char who[32];
	va_list ap;

	snprintf(who, sizeof(who), "session %d", c->idx);
	va_start(ap, fmt);
	lg_vfail(who, fmt, ap);
	va_end(ap);
}

static int
c_write(struct conn *c, const char *p, size_t n)
{
	if (c->ssl == NULL)
		return lg_write_all(c->fd, p, n);
	while (n > 0) {
		int w = SSL_write(c->ssl, p, (int)n);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
c_fill(struct conn *c)
{
	size_t room = lg_compact(c->buf, sizeof(c->buf), &c->off, &c->len);
	ssize_t r;

	if (room == 0)
		return -1;
	if (c->ssl)
		r = SSL_read(c->ssl, c->buf + c->len, (int)room);
	else
		r = lg_read(c->fd, c->buf + c->len, room);
	if (r <= 0)
		return -1;
	c->len += (size_t)r;
	return 0;
}

/* Reads one reply (all its lines); returns the code, -1 on error. The
 * last line is copied to last. */
static int
c_reply(struct conn *c, char *last, size_t lastsize)
{
	for (;;) {
		char *nl;

		while ((nl = memchr(c->buf + c->off, '\n', c->len - c->off)) == NULL) {
			if (c_fill(c) == -1)
				return -1;
		}
		size_t n = (size_t)(nl - (c->buf + c->off)) + 1;
		char *line = c->buf + c->off;
		c->off += n;
		if (n < 4)
			return -1;
		if (verbose)
			fprintf(stderr, "%8.2f S: %.*s", (lg_mono() - vt0) * 1000, (int)n, line);
		if (line[3] == ' ' || n == 5) {
			if (last) {
				size_t k = n < lastsize ? n : lastsize - 1;

				memcpy(last, line, k);
				last[k] = '\0';
				if (k && last[k - 1] == '\n')
					last[--k] = '\0';
				if (k && last[k - 1] == '\r')
					last[--k] = '\0';
			}
			return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		}
	}
}

static int
cmd(struct conn *c, const char *line, int want, const char *what)
{
	char last[512] = "";
	int code;

	if (verbose && line)
		fprintf(stderr, "%8.2f C: %s", (lg_mono() - vt0) * 1000, line);
	if (line && c_write(c, line, strlen(line)) == -1) {
		fail(c, "%s: write failed", what);
		return -1;
	}
	code = c_reply(c, last, sizeof(last));
	if (code == -1) {
		fail(c, "%s: connection closed or bad reply", what);
		return -1;
	}
	if (code / 100 != want / 100) {
		fail(c, "%s: %s", what, last);
		return -1;
	}
	return 0;
}

static int
session(int idx, double *handshake_ms)
{
	struct conn c = { .fd = -1, .idx = idx };
	char line[1200];
	int rc = -1;
	double t;

	if ((c.fd = lg_connect(addr, port, timeout_s, line, sizeof(line))) == -1) {
		fail(&c, "%s", line);
		return -1;
	}
	if (!smtps) {
		if (cmd(&c, NULL, 220, "greeting") || cmd(&c, "EHLO client.test\r\n", 250, "EHLO") ||
		    cmd(&c, "STARTTLS\r\n", 220, "STARTTLS"))
			goto out;
		if (c.off != c.len) {
			fail(&c, "data after the STARTTLS reply");
			goto out;
		}
	}
	t = lg_mono();
	if ((c.ssl = SSL_new(ctx)) == NULL || !SSL_set_fd(c.ssl, c.fd) ||
	    SSL_connect(c.ssl) != 1) {
		unsigned long e = ERR_get_error();

		fail(&c, "TLS handshake: %s", e ? ERR_error_string(e, NULL) : "failed");
		goto out;
	}
	*handshake_ms = (lg_mono() - t) * 1000;
	if (verbose)
		fprintf(stderr, "%8.2f TLS: %s %s\n", (lg_mono() - vt0) * 1000, SSL_get_version(c.ssl),
		    SSL_get_cipher_name(c.ssl));
	if ((smtps && cmd(&c, NULL, 220, "greeting")) ||
	    cmd(&c, "EHLO client.test\r\n", 250, "EHLO after TLS"))
		goto out;
	snprintf(line, sizeof(line), "AUTH PLAIN %s\r\n", auth_b64);
	if (cmd(&c, line, 235, "AUTH PLAIN"))
		goto out;
	snprintf(line, sizeof(line), "MAIL FROM:<%s>\r\n", from);
	if (cmd(&c, line, 250, "MAIL"))
		goto out;
	snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", rcpt);
	if (cmd(&c, line, 250, "RCPT") || cmd(&c, "DATA\r\n", 354, "DATA"))
		goto out;
	if (c_write(&c, message, message_len) == -1) {
		fail(&c, "writing the message failed");
		goto out;
	}
	if (cmd(&c, ".\r\n", 250, "end of data") || cmd(&c, "QUIT\r\n", 221, "QUIT"))
		goto out;
	rc = 0;
out:
	if (c.ssl) {
		if (rc == 0)
			SSL_shutdown(c.ssl);
		SSL_free(c.ssl);
	}
	close(c.fd);
	return rc;
}

static void *
worker(void *arg)
{
	(void)arg;
	for (;;) {
		int i = atomic_fetch_add(&next_session, 1);
		double t, h = 0;

		if (i >= total)
			break;
		t = lg_mono();
		if (session(i, &h) == 0) {
			lat[i] = (lg_mono() - t) * 1000;
			hs[i] = h;
			atomic_fetch_add(&nok, 1);
		} else {
			lat[i] = hs[i] = -1;
			atomic_fetch_add(&nfail, 1);
		}
	}
	return NULL;
}

static void
build_message(void)
{
	size_t cap = (size_t)bodylen + 2048, n = 0;
	char date[64];
	time_t now = time(NULL);

	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", gmtime(&now));
	message = malloc(cap);
	n += snprintf(message + n, cap - n,
	    "From: <%s>\r\nTo: <%s>\r\nSubject: submission benchmark\r\n"
	    "Date: %s\r\nMessage-ID: <%ld.%d@client.test>\r\n\r\n",
	    from, rcpt, date, (long)now, (int)getpid());
	/* Body: 76 letters + CRLF per line, up to bodylen octets. */
	size_t body = 0;
	while (body + 78 <= (size_t)bodylen) {
		memset(message + n, 'a' + (char)(body / 78 % 26), 76);
		n += 76;
		message[n++] = '\r';
		message[n++] = '\n';
		body += 78;
	}
	if (body < (size_t)bodylen && (size_t)bodylen - body > 2) {
		size_t k = (size_t)bodylen - body - 2;

		memset(message + n, 'z', k);
		n += k;
		message[n++] = '\r';
		message[n++] = '\n';
	}
	message_len = n;
}

static void
usage(void)
{
	fprintf(stderr, "usage: smtpload -u USER -w PASS -f FROM -t RCPT [-a ADDR] [-p PORT] "
	    "[-c CONC] [-n SESSIONS] [-l BODYLEN] [-S] [-T TIMEOUT] [-v]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	pthread_t *th;
	int ch, i;
	double t0, el;
	char plain[600];
	size_t plen;

	while ((ch = getopt(argc, argv, "a:p:c:n:u:w:f:t:l:ST:v")) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 'n': total = atoi(optarg); break;
		case 'u': user = optarg; break;
		case 'w': pass = optarg; break;
		case 'f': from = optarg; break;
		case 't': rcpt = optarg; break;
		case 'l': bodylen = atoi(optarg); break;
		case 'S': smtps = 1; break;
		case 'T': timeout_s = atoi(optarg); break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	if (!user || !pass || !from || !rcpt || conc < 1 || total < 1 ||
	    strlen(user) + strlen(pass) > 400)
		usage();
	/* AUTH PLAIN: authzid \0 authcid \0 password, base64. */
	plen = (size_t)snprintf(plain, sizeof(plain), "%c%s%c%s", 0, user, 0, pass);
	EVP_EncodeBlock((unsigned char *)auth_b64, (unsigned char *)plain, (int)plen);
	build_message();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return 1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	lat = calloc(total, sizeof(*lat));
	hs = calloc(total, sizeof(*hs));
	th = calloc(conc, sizeof(*th));
	t0 = vt0 = lg_mono();
	for (i = 0; i < conc; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	el = lg_mono() - t0;
	int n = lg_ok_sorted(lat, total), nh = lg_ok_sorted(hs, total);
	double sum = 0;
	for (i = 0; i < n; i++)
		sum += lat[i];
	printf("ok=%d failed=%d elapsed_s=%.3f sessions_per_s=%.1f lat_mean_ms=%.2f "
	    "lat_p50_ms=%.2f lat_p90_ms=%.2f lat_p99_ms=%.2f lat_max_ms=%.2f "
	    "hs_p50_ms=%.2f hs_p99_ms=%.2f cpu_s=%.3f\n",
	    (int)nok, (int)nfail, el, nok / el, n ? sum / n : 0,
	    lg_pct(lat, n, 0.5), lg_pct(lat, n, 0.9), lg_pct(lat, n, 0.99), n ? lat[n - 1] : 0,
	    lg_pct(hs, nh, 0.5), lg_pct(hs, nh, 0.99), lg_cpu_seconds());
	lg_print_error("smtpload");
	return nfail ? 1 : 0;
}
