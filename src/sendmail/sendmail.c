/*
 * tern-sendmail: sendmail(1) for scripts, cron and PHP. It runs as whoever
 * calls it, with no privilege of its own: it reads the message on stdin,
 * writes it as one file into data_dir/maildrop (sticky, writable by all,
 * listable by ternd alone) and exits; ternd's pickup (src/pickup/) queues
 * it, now or when ternd next starts. Who sent it is the file's owner, which
 * the kernel sets, so nothing the caller writes can change it.
 *
 * The file is written under a dot name, fsync'd, renamed to its final name
 * and the file system synced (the directory cannot be opened for an fsync:
 * it is not readable by the caller), so exit status 0 means the message is
 * on stable storage. docs/sendmail.md has the options, the file format and
 * what a crash leaves.
 *
 * -bp, -bi and -q are ternctl's (queue list, reload, queue flush): the
 * program runs ternctl from its own directory or from the install's bindir.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fileio.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../proto/maildrop.h"
#include "../proto/sendmail_bs.h"
#include "../proto/smtp_cmd.h"

#ifndef TERN_BINDIR
#define TERN_BINDIR "/usr/local/sbin"
#endif

enum mode { MODE_SEND, MODE_SMTP, MODE_QUEUE_LIST, MODE_RELOAD, MODE_FLUSH };

struct opts {
	enum mode mode;
	const char *config;     /* -C */
	const char *sender;     /* -f / -r */
	const char *fullname;   /* -F */
	const char *envid;      /* -V */
	unsigned notify;        /* -N */
	int ret;                /* -R */
	bool t, i, verbose;
};

static const char *prog = "tern-sendmail";

static int
fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* -N: "never", or a comma list of success, failure, delay (as Postfix). */
static int
parse_notify(const char *s, unsigned *out)
{
	char tmp[64], *save = NULL, *w;

	if (str_copy(tmp, sizeof(tmp), s) == -1)
		return -1;
	*out = 0;
	for (w = strtok_r(tmp, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
		if (str_ieq(w, "never"))
			*out |= SMTP_NOTIFY_NEVER;
		else if (str_ieq(w, "success"))
			*out |= SMTP_NOTIFY_SUCCESS;
		else if (str_ieq(w, "failure"))
			*out |= SMTP_NOTIFY_FAILURE;
		else if (str_ieq(w, "delay"))
			*out |= SMTP_NOTIFY_DELAY;
		else
			return -1;
	}
	if (*out == 0 || ((*out & SMTP_NOTIFY_NEVER) && *out != SMTP_NOTIFY_NEVER))
		return -1;
	return 0;
}

/* Which options take an argument (attached, -fADDR, or the next word):
 * ours, and those of other sendmails that scripts pass and we ignore. */
static bool
takes_arg(char c)
{
	return strchr("fFrCNRVoOBhLXAep", c) != NULL;
}

/*
 * Options as sendmail(1) has them: flags may be grouped (-ti), an argument
 * attached or in the next word, -- or the first word without a '-' ends
 * them. Returns the index of the first recipient, or -1 (an exit code in
 * *code).
 */
static int
parse_args(int argc, char **argv, struct opts *o, int *code)
{
	int k;

	for (k = 1; k < argc; k++) {
		const char *a = argv[k];
		size_t j;

		if (strcmp(a, "--") == 0)
			return k + 1;
		if (a[0] != '-' || a[1] == '\0')
			return k;
		for (j = 1; a[j]; j++) {
			char c = a[j];
			const char *arg = NULL;

			if (takes_arg(c)) {
				arg = a[j + 1] ? a + j + 1 : (k + 1 < argc ? argv[++k] : NULL);
				if (arg == NULL) {
					*code = fail(EX_USAGE, "option -%c needs an argument", c);
					return -1;
				}
			}
			switch (c) {
			case 't': o->t = true; break;
			case 'i': o->i = true; break;
			case 'v': o->verbose = true; break;
			case 'f': case 'r': o->sender = arg; break;
			case 'F': o->fullname = arg; break;
			case 'C': o->config = arg; break;
			case 'V': o->envid = arg; break;
			case 'N':
				if (parse_notify(arg, &o->notify) == -1) {
					*code = fail(EX_USAGE, "-N %s: never, or success,failure,delay", arg);
					return -1;
				}
				break;
			case 'R':
				o->ret = str_ieq(arg, "full") ? SMTP_RET_FULL :
				    str_ieq(arg, "hdrs") ? SMTP_RET_HDRS : SMTP_RET_UNSET;
				if (o->ret == SMTP_RET_UNSET) {
					*code = fail(EX_USAGE, "-R %s: full or hdrs", arg);
					return -1;
				}
				break;
			case 'o':
				/* -oi is -i; -oem, -odi, -oQ... are other
				 * sendmails' settings, ignored as Postfix does. */
				if (strcmp(arg, "i") == 0)
					o->i = true;
				break;
			case 'b':
				if (a[j + 1] == '\0') {
					*code = fail(EX_USAGE, "-b needs a mode");
					return -1;
				}
				c = a[j + 1];
				if (c == 'm' && a[j + 2] == '\0')
					o->mode = MODE_SEND;
				else if (c == 'p' && a[j + 2] == '\0')
					o->mode = MODE_QUEUE_LIST;
				else if (c == 'i' && a[j + 2] == '\0')
					o->mode = MODE_RELOAD;
				else if (c == 's' && a[j + 2] == '\0')
					o->mode = MODE_SMTP;
				else {
					*code = fail(EX_USAGE, "-%s: mode not supported "
					    "(-bm, -bs, -bp, -bi are)", a + j);
					return -1;
				}
				j = strlen(a) - 1;
				break;
			case 'q':
				/* -q, -q1h: flush now; run at intervals is ternd's. */
				o->mode = MODE_FLUSH;
				j = strlen(a) - 1;
				break;
			case 'I':
				o->mode = MODE_RELOAD;
				break;
			case 'G': case 'U': case 'm': case 'n': case 'x': case 'c':
				break;     /* other sendmails' flags, harmless */
			default:
				if (!takes_arg(c)) {
					*code = fail(EX_USAGE, "unknown option -%c", c);
					return -1;
				}
				break;     /* -B, -O, -h, -L, ... and their argument */
			}
			if (arg)
				break;     /* the argument was the rest of the word */
		}
	}
	return k;
}

/* Runs ternctl ARGS... (from this program's directory, else the install's
 * bindir), with -c CONFIG when one was given. Does not return. */
static int
run_ternctl(const struct opts *o, const char *a1, const char *a2)
{
	char self[PATH_MAX], path[PATH_MAX + 16], *slash;
	const char *argv[6];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	size_t k = 0;

	path[0] = '\0';
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/ternctl", self);
		}
	}
	if (path[0] == '\0' || access(path, X_OK) == -1)
		snprintf(path, sizeof(path), "%s/ternctl", TERN_BINDIR);
	argv[k++] = "ternctl";
	if (o->config) {
		argv[k++] = "-c";
		argv[k++] = o->config;
	}
	argv[k++] = a1;
	argv[k++] = a2;
	argv[k] = NULL;
	execv(path, (char *const *)argv);
	return fail(EX_UNAVAILABLE, "cannot run %s: %s", path, strerror(errno));
}

/* Recipients as given: an unqualified name is a user of this host. */
struct rcpts {
	struct maildrop *md;
	const char *hostname;
	char **owned;       /* the strings md->rcpts points to */
	size_t n;
};

static int
add_rcpt(void *arg, const char *addr)
{
	struct rcpts *r = arg;
	char *a, **grown;
	size_t len = strlen(addr);

	if (len >= 2 && addr[0] == '<' && addr[len - 1] == '>') {
		addr++;
		len -= 2;
	}
	if (len == 0)
		return 0;
	if (r->md->nrcpts == MAILDROP_RCPT_MAX)
		return -1;
	if (memchr(addr, '@', len))
		a = str_dupn(addr, len);
	else if ((a = malloc(len + strlen(r->hostname) + 2)) != NULL)
		sprintf(a, "%.*s@%s", (int)len, addr, r->hostname);
	if (a == NULL || (grown = reallocarray(r->owned, r->n + 1, sizeof(*grown))) == NULL) {
		free(a);
		return -1;
	}
	r->owned = grown;
	r->owned[r->n++] = a;
	return maildrop_add_rcpt(r->md, a);
}

/* Command-line recipients; one word may hold several ("a, b"). */
static int
add_arg_rcpts(struct rcpts *r, char *word)
{
	char *save = NULL, *w;

	for (w = strtok_r(word, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save))
		if (add_rcpt(r, w) == -1)
			return -1;
	return 0;
}

/* Writes the file: a dot name, fsync, the final name, syncfs. The name
 * goes to name[64]. */
static int
drop_file(const char *dir, const struct buf *file, bool verbose, char name[64])
{
	uint8_t rnd[8];
	char tmp[CONFIG_PATH_MAX + 80], final[CONFIG_PATH_MAX + 80];
	int fd, i;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return fail(EX_OSERR, "getrandom: %s", strerror(errno));
	i = snprintf(name, 64, "%lld.%ld.", (long long)time(NULL), (long)getpid());
	for (size_t k = 0; k < sizeof(rnd); k++)
		i += snprintf(name + i, 64 - (size_t)i, "%02x", rnd[k]);
	if (str_fmt(tmp, sizeof(tmp), "%s/.tmp.%s", dir, name) == -1 ||
	    str_fmt(final, sizeof(final), "%s/%s", dir, name) == -1)
		return fail(EX_CONFIG, "data_dir too long");
	/* Readable by ternd (it is no owner of ours); nobody else can list
	 * the directory to find the name. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return fail(errno == ENOENT ? EX_UNAVAILABLE : EX_CANTCREAT,
		    "cannot write into %s: %s%s", dir, strerror(errno),
		    errno == ENOENT ? " (start ternd once: it makes the maildrop)" : "");
	if (fchmod(fd, 0644) == -1 || fileio_write_all(fd, file->data, file->len) == -1 ||
	    fsync(fd) == -1) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return fail(e == ENOSPC || e == EDQUOT ? EX_TEMPFAIL : EX_IOERR,
		    "writing %s: %s", tmp, strerror(e));
	}
	if (rename(tmp, final) == -1 || syncfs(fd) == -1) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return fail(EX_IOERR, "renaming %s: %s", tmp, strerror(e));
	}
	close(fd);
	if (verbose)
		fprintf(stderr, "%s: queued as %s\n", prog, final);
	return EX_OK;
}

/* What the command line says of every message: -F, -V, -N, -R. */
static void
command_line_options(const struct opts *o, struct maildrop *md)
{
	md->fullname = o->fullname ? o->fullname : "";
	md->envid = o->envid ? o->envid : "";
	md->notify = o->notify;
	md->ret = o->ret;
}

/* Encodes md and writes it as a maildrop file named name[64]. */
static int
write_drop(const struct opts *o, const struct config *cfg, const struct maildrop *md,
    char name[64])
{
	struct buf file = BUF_INIT;
	char dir[CONFIG_PATH_MAX + 16];
	int code;

	if (maildrop_encode(md, &file) == -1)
		code = fail(EX_DATAERR, "an address, the -F name or the -V envid cannot be "
		    "written (too long, or control characters)");
	else if (str_fmt(dir, sizeof(dir), "%s/maildrop", cfg->data_dir) == -1)
		code = fail(EX_CONFIG, "data_dir too long");
	else
		code = drop_file(dir, &file, o->verbose, name);
	buf_release(&file);
	return code;
}

static int
send_message(const struct opts *o, const struct config *cfg, char **args, int nargs)
{
	struct maildrop md = { 0 };
	struct rcpts r = { .md = &md, .hostname = cfg->hostname };
	struct maildrop_input in;
	struct buf msg = BUF_INIT, cut = BUF_INIT;
	char sender[MAILDROP_VALUE_MAX + 1], name[64], chunk[65536];
	struct passwd *pw;
	ssize_t n;
	int code = EX_SOFTWARE, k;

	/* The default sender is the caller at this host; -f may name any. */
	if (o->sender) {
		const char *s = o->sender;
		size_t len = strlen(s);

		if (len >= 2 && s[0] == '<' && s[len - 1] == '>')
			s++, len -= 2;
		if (len == 0)
			sender[0] = '\0';
		else if (str_fmt(sender, sizeof(sender), memchr(s, '@', len) ? "%.*s" : "%.*s@%s",
		    (int)len, s, cfg->hostname) == -1) {
			code = fail(EX_USAGE, "sender address too long");
			goto out;
		}
	} else if ((pw = getpwuid(getuid())) == NULL) {
		code = fail(EX_NOUSER, "uid %u has no user name", (unsigned)getuid());
		goto out;
	} else if (str_fmt(sender, sizeof(sender), "%s@%s", pw->pw_name, cfg->hostname) == -1) {
		code = fail(EX_USAGE, "sender address too long");
		goto out;
	}
	md.sender = sender;
	command_line_options(o, &md);
	md.flags = (o->t ? MAILDROP_F_T : 0) | (o->i ? MAILDROP_F_I : 0);
	for (k = 0; k < nargs; k++)
		if (add_arg_rcpts(&r, args[k]) == -1) {
			code = fail(EX_USAGE, "too many recipients (at most %d)", MAILDROP_RCPT_MAX);
			goto out;
		}
	maildrop_input_init(&in, !o->i, cfg->max_line_length);
	while (!in.done && (n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			code = fail(EX_IOERR, "reading the message: %s", strerror(errno));
			goto out;
		}
		if (maildrop_input_feed(&in, chunk, (size_t)n, &msg) == -1) {
			code = fail(EX_OSERR, "out of memory");
			goto out;
		}
		if (cfg->max_message_size && in.size > cfg->max_message_size) {
			code = fail(EX_DATAERR, "message larger than %llu octets",
			    (unsigned long long)cfg->max_message_size);
			goto out;
		}
	}
	if (maildrop_input_end(&in, &msg) == -1) {
		code = fail(EX_OSERR, "out of memory");
		goto out;
	}
	if (in.long_line) {
		code = fail(EX_DATAERR, "a line is longer than %zu octets (max_line_length)",
		    cfg->max_line_length);
		goto out;
	}
	if (o->t) {
		enum maildrop_err e = maildrop_header_rcpts(msg.data ? msg.data : "", msg.len, &cut,
		    add_rcpt, &r);

		if (e != MAILDROP_OK) {
			code = fail(e == MAILDROP_ENOMEM ? EX_OSERR : EX_DATAERR,
			    "-t: reading To/Cc/Bcc: %s", maildrop_strerror(e));
			goto out;
		}
		md.msg = cut.data ? cut.data : "";
		md.msglen = cut.len;
	} else {
		md.msg = msg.data ? msg.data : "";
		md.msglen = msg.len;
	}
	if (md.nrcpts == 0) {
		code = fail(EX_USAGE, "no recipients: name them, or give -t");
		goto out;
	}
	code = write_drop(o, cfg, &md, name);
out:
	for (size_t j = 0; j < r.n; j++)
		free(r.owned[j]);
	free(r.owned);
	maildrop_clear(&md);
	buf_release(&msg);
	buf_release(&cut);
	return code;
}

/* -bs: SMTP on stdin and stdout, each message a maildrop file. */
static int
write_out(struct buf *out)
{
	int rc = fileio_write_all(STDOUT_FILENO, out->data, out->len);

	buf_reset(out);
	return rc;
}

static int
smtp_message(const struct opts *o, const struct config *cfg, struct sendmail_bs *bs)
{
	struct maildrop md = { 0 };
	char name[64];
	int code = EX_OK;

	md.sender = bs->sender;
	command_line_options(o, &md);
	md.msg = bs->msg.data ? bs->msg.data : "";
	md.msglen = bs->msg.len;
	for (size_t k = 0; k < bs->nrcpts && code == EX_OK; k++)
		if (maildrop_add_rcpt(&md, bs->rcpts[k]) == -1)
			code = fail(EX_OSERR, "out of memory");
	if (code == EX_OK)
		code = write_drop(o, cfg, &md, name);
	maildrop_clear(&md);
	switch (code) {
	case EX_OK:
		sendmail_bs_stored(bs, name, 0, NULL, NULL);
		return 0;
	case EX_TEMPFAIL:
		sendmail_bs_stored(bs, NULL, 452, "4.3.1", "Insufficient system storage");
		return 0;
	case EX_DATAERR:
		sendmail_bs_stored(bs, NULL, 554, "5.6.0", "The -F name or -V envid "
		    "cannot be written");
		return 0;
	case EX_OSERR:
		return -1;
	default:       /* the reason is on stderr */
		sendmail_bs_stored(bs, NULL, 451, "4.3.0", "Cannot write into the maildrop");
		return 0;
	}
}

static int
smtp_stdio(const struct opts *o, const struct config *cfg)
{
	struct sendmail_bs bs;
	char chunk[65536];
	int code = EX_OK;

	sendmail_bs_init(&bs, cfg->hostname, cfg->postmaster, cfg->max_message_size, cfg->max_line_length);
	for (;;) {
		ssize_t n;
		size_t off = 0, used;
		int ev = SENDMAIL_BS_MORE;

		if (write_out(&bs.out) == -1) {
			code = fail(EX_IOERR, "writing replies: %s", strerror(errno));
			break;
		}
		if ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) < 0) {
			if (errno == EINTR)
				continue;
			code = fail(EX_IOERR, "reading: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			if (sendmail_bs_in_data(&bs))
				code = fail(EX_DATAERR, "the input ended inside a message, "
				    "which was not sent");
			break;
		}
		while (off < (size_t)n) {
			ev = sendmail_bs_feed(&bs, chunk + off, (size_t)n - off, &used);
			off += used;
			if (ev == -1 || (ev == SENDMAIL_BS_MESSAGE &&
			    smtp_message(o, cfg, &bs) == -1)) {
				code = fail(EX_OSERR, "out of memory");
				goto out;
			}
			if (ev == SENDMAIL_BS_QUIT)
				break;
		}
		if (ev == SENDMAIL_BS_QUIT) {
			if (write_out(&bs.out) == -1)
				code = fail(EX_IOERR, "writing replies: %s", strerror(errno));
			break;
		}
	}
out:
	sendmail_bs_clear(&bs);
	return code;
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct config cfg;
	struct buf errs = BUF_INIT;
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int first, code = EX_USAGE;

	if (strcmp(base, "mailq") == 0)
		o.mode = MODE_QUEUE_LIST;
	else if (strcmp(base, "newaliases") == 0)
		o.mode = MODE_RELOAD;
	if ((first = parse_args(argc, argv, &o, &code)) == -1)
		return code;
	switch (o.mode) {
	case MODE_QUEUE_LIST: return run_ternctl(&o, "queue", "list");
	case MODE_RELOAD: return run_ternctl(&o, "reload", NULL);
	case MODE_FLUSH: return run_ternctl(&o, "queue", "flush");
	case MODE_SEND: case MODE_SMTP: break;
	}
	config_defaults(&cfg);
	if (config_load(&cfg, o.config ? o.config : CONFIG_DEFAULT_PATH, &errs) == -1) {
		fprintf(stderr, "%s", buf_cstr(&errs));
		buf_release(&errs);
		return fail(EX_CONFIG, "cannot read the configuration %s",
		    o.config ? o.config : CONFIG_DEFAULT_PATH);
	}
	buf_release(&errs);
	if (o.mode == MODE_SMTP)
		return smtp_stdio(&o, &cfg);
	return send_message(&o, &cfg, argv + first, argc - first);
}
