/*
 * keeper_client: the network process's end of the keeper socket, on the
 * event loop. Each request carries a 64-bit id; its callback runs on the
 * loop when the reply comes (in any order), or with KEEPER_TEMP when the
 * keeper is gone.
 */
#ifndef TERN_KEEPER_CLIENT_H
#define TERN_KEEPER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "../auth/authsvc.h"
#include "../proto/keeper_msg.h"

struct event_base;
struct keeper_client;

/* A reply: status, payload (valid during the call), and for LOAD the
 * descriptors, which the callback owns (-1 when absent). */
struct keeper_reply {
	uint32_t status;
	const uint8_t *payload;
	size_t len;
	int fds[KEEPER_LOAD_FDS];
};
typedef void (*keeper_cb)(void *arg, const struct keeper_reply *r);

/* on_dead runs once when the keeper closes its end. */
struct keeper_client *keeper_client_new(struct event_base *base, int fd,
    void (*on_dead)(void *), void *dead_arg);
/* Fails every pending request with KEEPER_TEMP (callbacks run), closes. */
void keeper_client_free(struct keeper_client **kcp);

/* Each returns 0, or -1 (no memory, too long, keeper gone) without calling cb. */
int keeper_auth(struct keeper_client *kc, const char *user, const char *pass,
    keeper_cb cb, void *arg);
int keeper_sign(struct keeper_client *kc, uint32_t key,
    const uint8_t digest[KEEPER_DIGEST_LEN], keeper_cb cb, void *arg);
int keeper_load(struct keeper_client *kc, keeper_cb cb, void *arg);

/*
 * The auth service's password backend (auth/authsvc.h), answered by the
 * keeper: ctx is the address of the owner's keeper_client pointer, so
 * that a client already freed (NULL) fails the check instead of being
 * used.
 */
int keeper_auth_check(void *ctx, const char *user, const char *pass,
    authsvc_password_cb done, void *arg);

/* Requests sent and not yet answered. */
size_t keeper_pending(const struct keeper_client *kc);

/*
 * keeper_signer: DKIM signatures asked for from I/O threads, blocking, on
 * a socket of their own (one request at a time, under a mutex: a
 * signature takes a millisecond). 0, or -1 when the keeper refused or is
 * gone (after a 10 s timeout at most).
 */
struct keeper_signer;
struct keeper_signer *keeper_signer_new(int fd);
void keeper_signer_free(struct keeper_signer **ksp);
int keeper_signer_sign(struct keeper_signer *ks, uint32_t key,
    const uint8_t digest[KEEPER_DIGEST_LEN], uint8_t *sig, size_t *siglen);

#endif
