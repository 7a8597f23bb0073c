/*
 * sockaddr: the one conversion of a socket address to text (through
 * getnameinfo, numeric only: never a DNS lookup), and the address of a
 * unix socket whose path may be longer than sun_path.
 */
#ifndef TERN_SOCKADDR_H
#define TERN_SOCKADDR_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Writes the address ("192.0.2.1", "2001:db8::1") into ip and returns the
 * port; "?" and port 0 for a family other than AF_INET and AF_INET6. */
int sockaddr_text(const struct sockaddr *sa, char *ip, size_t ipsize);

/* Fills sun for the unix socket at path, for bind(2) or connect(2). A
 * path too long for sun_path (108 octets: a data_dir deep in a build tree
 * is enough) is reached through its directory, opened O_PATH and named
 * /proc/self/fd/N/NAME; *dirfd is then that descriptor, which the caller
 * closes after the bind or connect, else -1. Returns -1 (errno
 * ENAMETOOLONG, or open's) when neither way fits. */
int sockaddr_unix(struct sockaddr_un *sun, const char *path, int *dirfd);

#endif
