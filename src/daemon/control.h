/*
 * control: the daemon's end of the control socket that ternctl talks to
 * (queue list and actions, status, reload). One request line of escaped
 * words (proto/word.h), answered by lines of words and a last line "ok
 * ..." or "err ...". docs/operations.md, "The control socket", has the
 * protocol. Only root and ternd's own user are answered (SO_PEERCRED).
 */
#ifndef TERN_CONTROL_H
#define TERN_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../net/conn.h"

struct config;
struct directory;
struct listener;
struct queue;

/* ternctl reloads waiting for the outcome; more are refused. */
#define CONTROL_MAX_RELOAD_WAITERS 16

struct control_env {
	struct queue *queue;
	const struct config *cfg;
	struct directory *const *dir;       /* the current one (replaced on reload) */
	struct listener *const *listeners;
	size_t nlisteners;
	time_t started;
	/* Starts a reload (0), or joins the one in flight; -1: cannot. */
	int (*reload)(void *arg, const char *by);
	void *reload_arg;
	uint64_t reload_waiters[CONTROL_MAX_RELOAD_WAITERS];   /* conn ids */
	size_t nreload_waiters;
};

extern const struct conn_proto control_proto;

/* A reload has finished: errors NULL or "" when it worked, else the
 * reasons it was refused; notes what it did not change (settings that
 * need a restart), one per line. Answers every ternctl waiting for it. */
void control_reload_done(struct control_env *env, const char *errors, const char *notes);

#endif
