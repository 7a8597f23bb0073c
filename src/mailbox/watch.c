/*
 * watch: folder change notices on the loop (see watch.h).
 *
 * The registry below is the one place this state lives: the inotify
 * descriptor and its event, and the watched folders, each with the two
 * inotify watches of its new/ and cur/ and the sessions watching it. A
 * batch of events marks folders; once the batch is read, every watcher
 * of a marked folder is called, each at most once, by cookie (copied
 * first: a callback may remove watchers, its own or others').
 */
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <event2/event.h>

#include "../common/log.h"
#include "../common/str.h"
#include "store.h"

#define WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR)

struct folder {
	char dir[MBOX_PATH_MAX];
	int wd[2];                   /* new/, cur/ */
	bool marked;
	struct mbox_watch *watchers;
	struct folder *next;
};

struct mbox_watch {
	struct folder *f;
	mbox_watch_cb cb;
	uint64_t cookie;
	struct mbox_watch *next;
};

static struct {
	int fd;                      /* -1: no inotify */
	struct event *ev;
	struct folder *folders;
} reg = { .fd = -1 };

static struct folder *
folder_of_wd(int wd)
{
	struct folder *f;

	for (f = reg.folders; f; f = f->next) {
		if (f->wd[0] == wd || f->wd[1] == wd)
			return f;
	}
	return NULL;
}

static void
notify_marked(void)
{
	for (;;) {
		struct mbox_watch *w;
		struct folder *f;
		struct { mbox_watch_cb cb; uint64_t cookie; } *calls;
		size_t n = 0, i;

		for (f = reg.folders; f && !f->marked; f = f->next)
			;
		if (f == NULL)
			return;
		f->marked = false;
		for (w = f->watchers; w; w = w->next)
			n++;
		if ((calls = calloc(n ? n : 1, sizeof(*calls))) == NULL) {
			log_warnx("mailbox: out of memory telling sessions of a change");
			continue;
		}
		for (w = f->watchers, i = 0; w; w = w->next, i++) {
			calls[i].cb = w->cb;
			calls[i].cookie = w->cookie;
		}
		/* Called after the copy: a callback may change the lists
		 * (and free f); the next folder is looked for from the start. */
		for (i = 0; i < n; i++)
			calls[i].cb(calls[i].cookie);
		free(calls);
	}
}

static void
folder_drop(struct folder *f)
{
	struct folder **fp;

	(void)inotify_rm_watch(reg.fd, f->wd[0]);
	(void)inotify_rm_watch(reg.fd, f->wd[1]);
	for (fp = &reg.folders; *fp && *fp != f; fp = &(*fp)->next)
		;
	if (*fp)
		*fp = f->next;
	free(f);
}

static void
on_inotify(evutil_socket_t fd, short what, void *arg)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)what;
	(void)arg;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			struct folder *f;

			if (e->mask & IN_Q_OVERFLOW) {
				/* Events were lost: everyone looks again. */
				for (f = reg.folders; f; f = f->next)
					f->marked = true;
			} else if ((f = folder_of_wd(e->wd)) != NULL)
				f->marked = true;
			p += sizeof(*e) + e->len;
		}
	}
	notify_marked();
}

int
mbox_watch_init(struct event_base *base)
{
	if (reg.fd != -1)
		return 0;
	if ((reg.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		log_warn("mailbox: inotify (sessions will see changes at their next command)");
		return -1;
	}
	if ((reg.ev = event_new(base, reg.fd, EV_READ | EV_PERSIST, on_inotify, NULL)) == NULL ||
	    event_add(reg.ev, NULL) == -1) {
		if (reg.ev)
			event_free(reg.ev);
		reg.ev = NULL;
		close(reg.fd);
		reg.fd = -1;
		return -1;
	}
	return 0;
}

void
mbox_watch_shutdown(void)
{
	while (reg.folders) {
		struct folder *f = reg.folders;

		while (f->watchers) {
			struct mbox_watch *w = f->watchers;

			f->watchers = w->next;
			free(w);
		}
		reg.folders = f->next;
		free(f);
	}
	if (reg.ev)
		event_free(reg.ev);
	reg.ev = NULL;
	if (reg.fd != -1)
		close(reg.fd);
	reg.fd = -1;
}

static struct folder *
folder_get(const char *dir)
{
	static const char *const subs[] = { "new", "cur" };
	char path[MBOX_PATH_MAX];
	struct folder *f;
	size_t k;

	for (f = reg.folders; f; f = f->next) {
		if (strcmp(f->dir, dir) == 0)
			return f;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL || str_copy(f->dir, sizeof(f->dir), dir) == -1) {
		free(f);
		return NULL;
	}
	for (k = 0; k < 2; k++) {
		if (str_fmt(path, sizeof(path), "%s/%s", dir, subs[k]) == -1 ||
		    (f->wd[k] = inotify_add_watch(reg.fd, path, WATCH_MASK)) == -1) {
			if (k == 1)
				(void)inotify_rm_watch(reg.fd, f->wd[0]);
			free(f);
			return NULL;
		}
	}
	f->next = reg.folders;
	reg.folders = f;
	return f;
}

struct mbox_watch *
mbox_watch_add(const char *dir, mbox_watch_cb cb, uint64_t cookie)
{
	struct mbox_watch *w;
	struct folder *f;

	if (reg.fd == -1 || (f = folder_get(dir)) == NULL)
		return NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		if (f->watchers == NULL)
			folder_drop(f);
		return NULL;
	}
	w->f = f;
	w->cb = cb;
	w->cookie = cookie;
	w->next = f->watchers;
	f->watchers = w;
	return w;
}

void
mbox_watch_remove(struct mbox_watch **wp)
{
	struct mbox_watch *w = *wp, **pp;
	struct folder *f;

	if (w == NULL)
		return;
	*wp = NULL;
	f = w->f;
	for (pp = &f->watchers; *pp && *pp != w; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = w->next;
	free(w);
	if (f->watchers != NULL)
		return;
	/* The last watcher: the folder is no longer watched. */
	folder_drop(f);
}
