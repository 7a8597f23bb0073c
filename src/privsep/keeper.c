/*
 * keeper: the secrets process (see keeper.h).
 *
 * Two threads block in recv() on the one SOCK_SEQPACKET socket; each packet
 * is a whole request, so the kernel hands every request to exactly one of
 * them and a slow password hash in one never holds up the other. Replies
 * are single packets too, so the two threads never interleave bytes.
 */
#include "keeper.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../auth/auth.h"
#include "../auth/passwd_table.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../config/config.h"
#include "../policy/dkim_sign.h"
#include "../proto/keeper_msg.h"
#include "../tls/tls.h"
#include "sandbox.h"

/* LeakSanitizer stops the world with ptrace and reads /proc/self: a test
 * build's keeper stays dumpable and may read /proc. Never in a release. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED_BUILD true
#else
#define SANITIZED_BUILD false
#endif

/* The keeper's own state: one per process, owned by keeper_main. */
struct keeper {
	const struct config *cfg;
	int sock;                       /* the loop's requests */
	int sync_sock;                  /* I/O threads' blocking signatures */
	char users_path[CONFIG_PATH_MAX];
	char aliases_path[CONFIG_PATH_MAX];
	char cert_path[CONFIG_PATH_MAX];
	char key_path[CONFIG_PATH_MAX];
	char config_path[CONFIG_PATH_MAX];  /* ternd.conf, for a reload */
	pthread_rwlock_t lock;          /* users, swapped by LOAD */
	struct passwd_table *users;
	struct dkim_key dkim[CONFIG_MAX_DKIM];
	size_t ndkim;
	struct buf dkim_errs;           /* reported by the first LOAD */
};

static void
reply(int sock, uint32_t type, uint32_t status, uint64_t id,
    const void *payload, size_t len, const int *fds, size_t nfds)
{
	uint8_t pkt[KEEPER_MSG_MAX];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * KEEPER_LOAD_FDS)];
	} cm;
	struct iovec iov;
	struct msghdr mh = { 0 };
	size_t n = keeper_msg_encode(pkt, type, status, id, payload, len);

	if (n == 0)
		n = keeper_msg_encode(pkt, type, KEEPER_TEMP, id, NULL, 0);
	iov.iov_base = pkt;
	iov.iov_len = n;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(&cm.h), fds, sizeof(int) * nfds);
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) == -1 && errno == EINTR)
		;
}

static void
do_auth(struct keeper *k, int sock, const struct keeper_msg *m)
{
	char user[KEEPER_USER_MAX + 1];
	const char *stored;
	char *copy = NULL;
	bool known, ok;

	str_copy(user, sizeof(user), m->user);
	str_lower(user);
	pthread_rwlock_rdlock(&k->lock);
	stored = k->users ? passwd_table_password(k->users, user) : NULL;
	known = stored != NULL && stored[0] != '\0';
	if (known)
		copy = str_dup(stored);
	pthread_rwlock_unlock(&k->lock);
	/* An unknown user (or one without a password) costs a hash too
	 * (auth_verify of NULL), so the time of the answer does not tell
	 * which users exist. */
	ok = auth_verify(copy, m->pass) && known;
	if (copy) {
		OPENSSL_cleanse(copy, strlen(copy));
		free(copy);
	}
	reply(sock, KEEPER_AUTH, ok ? KEEPER_OK : KEEPER_FAIL, m->id, NULL, 0, NULL, 0);
}

static void
do_sign(struct keeper *k, int sock, const struct keeper_msg *m)
{
	uint8_t sig[DKIM_SIG_MAX];
	size_t siglen = sizeof(sig);

	if (m->key >= k->ndkim ||
	    dkim_sign_digest(k->dkim[m->key].pkey, m->digest, sig, &siglen) == -1) {
		reply(sock, KEEPER_SIGN, KEEPER_FAIL, m->id, NULL, 0, NULL, 0);
		return;
	}
	reply(sock, KEEPER_SIGN, KEEPER_OK, m->id, sig, siglen, NULL, 0);
}

/* A memfd holding the users without passwords (or nothing), rewound; -1
 * on error. */
static int
memfd_with(const char *name, const struct passwd_table *users_of)
{
	int fd = memfd_create(name, MFD_CLOEXEC), dupfd;
	FILE *f;

	if (fd == -1)
		return -1;
	if (users_of == NULL)
		return fd;   /* empty */
	if ((dupfd = dup(fd)) == -1 || (f = fdopen(dupfd, "w")) == NULL) {
		if (dupfd != -1)
			close(dupfd);
		close(fd);
		return -1;
	}
	if (passwd_table_write_public(users_of, f) == -1) {
		fclose(f);
		close(fd);
		return -1;
	}
	fclose(f);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static void
do_load(struct keeper *k, int sock, const struct keeper_msg *m)
{
	struct buf errs = BUF_INIT;
	struct passwd_table *nt, *old;
	int fds[KEEPER_LOAD_FDS] = { -1, -1, -1, -1, -1 };
	uint8_t kinds[CONFIG_MAX_DKIM];
	size_t i;

	if (k->dkim_errs.len) {
		reply(sock, KEEPER_LOAD, KEEPER_FAIL, m->id, k->dkim_errs.data, k->dkim_errs.len,
		    NULL, 0);
		return;
	}
	/* The aliases are the network process's to read (from the descriptor
	 * passed below): they hold no secret. */
	if ((nt = passwd_table_load(k->users_path, &errs)) == NULL) {
		if (errs.len == 0)
			buf_printf(&errs, "users: out of memory\n");
		reply(sock, KEEPER_LOAD, KEEPER_FAIL, m->id, errs.data, errs.len, NULL, 0);
		buf_release(&errs);
		return;
	}
	if ((fds[0] = memfd_with("users", nt)) == -1 ||
	    ((fds[1] = open(k->aliases_path, O_RDONLY | O_CLOEXEC)) == -1 &&
	     (errno != ENOENT || (fds[1] = memfd_with("aliases", NULL)) == -1))) {
		buf_printf(&errs, "%s: %s\n", fds[0] == -1 ? "users" : k->aliases_path,
		    strerror(errno));
		goto fail;
	}
	if ((fds[2] = open(k->cert_path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (fds[3] = open(k->key_path, O_RDONLY | O_CLOEXEC)) == -1) {
		buf_printf(&errs, "tls: %s: %s\n", fds[2] == -1 ? k->cert_path : k->key_path,
		    strerror(errno));
		goto fail;
	}
	/* The configuration too: a reload parses it in the network process,
	 * which may not open it (root's, or outside its Landlock). */
	if ((fds[4] = open(k->config_path, O_RDONLY | O_CLOEXEC)) == -1) {
		buf_printf(&errs, "%s: %s\n", k->config_path, strerror(errno));
		goto fail;
	}
	pthread_rwlock_wrlock(&k->lock);
	old = k->users;
	k->users = nt;
	pthread_rwlock_unlock(&k->lock);
	passwd_table_free(&old);
	for (i = 0; i < k->ndkim; i++)
		kinds[i] = EVP_PKEY_get_base_id(k->dkim[i].pkey) == EVP_PKEY_ED25519 ?
		    KEEPER_KEY_ED25519 : KEEPER_KEY_RSA;
	reply(sock, KEEPER_LOAD, KEEPER_OK, m->id, kinds, k->ndkim, fds, KEEPER_LOAD_FDS);
	for (i = 0; i < KEEPER_LOAD_FDS; i++)
		close(fds[i]);
	return;
fail:
	passwd_table_free(&nt);
	for (i = 0; i < KEEPER_LOAD_FDS; i++) {
		if (fds[i] != -1)
			close(fds[i]);
	}
	reply(sock, KEEPER_LOAD, KEEPER_FAIL, m->id, errs.data, errs.len, NULL, 0);
	buf_release(&errs);
}

struct server {
	struct keeper *k;
	int sock;
	pthread_t thread;
	bool started;
};

static void *
serve(void *arg)
{
	struct server *sv = arg;
	struct keeper *k = sv->k;
	int sock = sv->sock;
	uint8_t pkt[KEEPER_MSG_MAX + 1];
	struct keeper_msg m;
	ssize_t n;

	for (;;) {
		n = recv(sock, pkt, sizeof(pkt), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;   /* the network process is gone: so are we */
		if (keeper_msg_decode_request(pkt, (size_t)n, &m) == -1) {
			/* Only a compromised or broken peer sends this. */
			log_warnx("event=keeper-bad-request bytes=%zd", n);
			OPENSSL_cleanse(pkt, sizeof(pkt));
			continue;
		}
		switch (m.type) {
		case KEEPER_AUTH: do_auth(k, sock, &m); break;
		case KEEPER_SIGN: do_sign(k, sock, &m); break;
		case KEEPER_LOAD: do_load(k, sock, &m); break;
		}
		OPENSSL_cleanse(pkt, (size_t)n);
	}
	return NULL;
}

/* The parent directory of path, for a Landlock read rule (files are
 * replaced by rename, so the rule cannot be on the file itself). */
static const char *
parent_of(const char *path, char *out, size_t n)
{
	char *slash;

	snprintf(out, n, "%s", path);
	if ((slash = strrchr(out, '/')) == NULL)
		snprintf(out, n, ".");
	else if (slash == out)
		out[1] = '\0';
	else
		*slash = '\0';
	return out;
}

static void
keeper_main(struct keeper *k, const struct sandbox_user *u)
{
	const char *files[5] = { k->users_path, k->aliases_path, k->cert_path, k->key_path,
	    k->config_path };
	char dirs[5][2][PATH_MAX];
	struct sandbox_rules rules = { 0 };
	struct buf errs = BUF_INIT;
	/* Two threads for the loop's requests (password checks are slow),
	 * one for the I/O threads' signatures. */
	struct server sv[3] = { { k, k->sock, 0, false }, { k, k->sock, 0, false },
	    { k, k->sync_sock, 0, false } };
	size_t i;

	/* Signals are for the parent: a terminal's ^C, or a service
	 * manager's SIGTERM to the whole group, must not make the keeper
	 * die first (the parent would take that for a crash). The keeper
	 * ends when the parent closes its end. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "ternd-keeper", 0, 0, 0);
	pthread_rwlock_init(&k->lock, NULL);
	for (i = 0; i < k->cfg->ndkim; i++) {
		if (dkim_key_load(&k->dkim[k->ndkim], k->cfg->dkim[i].domain,
		    k->cfg->dkim[i].selector, k->cfg->dkim[i].path, &k->dkim_errs) == -1)
			break;
		k->ndkim++;
	}
	if (sandbox_drop(u, true, SANITIZED_BUILD, &errs) == -1)
		log_fatal("keeper: %s", buf_cstr(&errs));
	/* Dropping privileges clears the parent-death signal; set it after
	 * (SIGKILL: SIGTERM is ignored). */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* Landlock checks the file a path resolves to: a symlink's target
	 * (certbot's live/NAME/fullchain.pem points into archive/NAME/) needs
	 * a rule of its own. A renewal writes its new files beside the old
	 * ones, so the directory resolved now stays the right one. */
	for (i = 0; i < 5; i++) {
		const char *path = files[i];
		char real[PATH_MAX];

		rules.read[rules.nread++] = parent_of(path, dirs[i][0], sizeof(dirs[i][0]));
		if (realpath(path, real) != NULL &&
		    strcmp(parent_of(real, dirs[i][1], sizeof(dirs[i][1])), dirs[i][0]) != 0)
			rules.read[rules.nread++] = dirs[i][1];
	}
	if (SANITIZED_BUILD)
		rules.read[rules.nread++] = "/proc";   /* LeakSanitizer's thread list */
	rules.restrict_tcp = true;   /* no ports: the keeper never connects */
	if (sandbox_landlock(&rules, &errs) == -1 ||
	    (k->cfg->sandbox && sandbox_seccomp(SANITIZED_BUILD, &errs) == -1))
		log_fatal("keeper: %s", buf_cstr(&errs));

	for (i = 1; i < 3; i++)
		sv[i].started = pthread_create(&sv[i].thread, NULL, serve, &sv[i]) == 0;
	serve(&sv[0]);
	for (i = 1; i < 3; i++) {
		if (sv[i].started)
			pthread_join(sv[i].thread, NULL);
	}
	passwd_table_free(&k->users);
	for (i = 0; i < k->ndkim; i++)
		dkim_key_release(&k->dkim[i]);
	buf_release(&k->dkim_errs);
	buf_release(&errs);
	pthread_rwlock_destroy(&k->lock);
	close(k->sock);
	close(k->sync_sock);
}

int
keeper_spawn(const struct config *cfg, const char *conf_file,
    const struct sandbox_user *u, int fds[2], pid_t *pid_r, struct buf *errs)
{
	static struct keeper k;   /* the child's, set up after fork */
	int sv[2], ss[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		buf_printf(errs, "keeper: socketpair: %s\n", strerror(errno));
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ss) == -1) {
		buf_printf(errs, "keeper: socketpair: %s\n", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if ((pid = fork()) == -1) {
		buf_printf(errs, "keeper: fork: %s\n", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		close(ss[0]);
		close(ss[1]);
		return -1;
	}
	if (pid > 0) {
		close(sv[1]);
		close(ss[1]);
		fds[0] = sv[0];
		fds[1] = ss[0];
		*pid_r = pid;
		return 0;
	}
	close(sv[0]);
	close(ss[0]);
	memset(&k, 0, sizeof(k));
	k.cfg = cfg;
	k.sock = sv[1];
	k.sync_sock = ss[1];
	if (config_path(cfg, cfg->users_file, k.users_path, sizeof(k.users_path)) == -1 ||
	    config_path(cfg, cfg->aliases_file, k.aliases_path, sizeof(k.aliases_path)) == -1)
		log_fatal("keeper: users_file or aliases_file: path too long");
	tls_paths(cfg, k.cert_path, k.key_path, sizeof(k.cert_path));
	if (str_copy(k.config_path, sizeof(k.config_path), conf_file) == -1)
		log_fatal("keeper: %s: path too long", conf_file);
	keeper_main(&k, u);
	exit(0);
}
