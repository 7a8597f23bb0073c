/*
 * keeper: the process that holds ternd's secrets, so that the process that
 * parses every byte from the network does not. It is forked at startup,
 * before anything listens, and holds:
 *   - the users file with its password hashes (it answers "is this the
 *     password of that user", nothing more);
 *   - the DKIM private keys (it signs a 32-byte digest);
 *   - read access to the configuration's files: on (re)load it hands the
 *     network process descriptors for the users list without hashes, the
 *     aliases, and the TLS certificate and key.
 * It speaks keeper_msg packets over a SOCK_SEQPACKET socketpair, runs as
 * run_as with only CAP_DAC_READ_SEARCH (when started as root), cannot be
 * ptraced, and is Landlocked to reading its files, with no TCP at all.
 * It exits when the network process closes its end.
 */
#ifndef TERN_KEEPER_H
#define TERN_KEEPER_H

#include <sys/types.h>

#include "../common/buf.h"

struct config;
struct sandbox_user;

/*
 * Forks the keeper. The parent gets two sockets, fds[0] for the loop's
 * requests (keeper_client) and fds[1] for the I/O threads' blocking
 * signatures (keeper_signer), and the child's pid; the child never
 * returns. Call it before opening listeners or starting threads. 0, or -1
 * with a reason in errs. conf_file is ternd.conf, whose descriptor every
 * LOAD passes (a reload parses it).
 */
int keeper_spawn(const struct config *cfg, const char *conf_file,
    const struct sandbox_user *u, int fds[2], pid_t *pid_r, struct buf *errs);

#endif
