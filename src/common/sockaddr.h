/*
 * sockaddr: the one conversion of a socket address to text (through
 * getnameinfo, numeric only: never a DNS lookup).
 */
#ifndef TERN_SOCKADDR_H
#define TERN_SOCKADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Writes the address ("192.0.2.1", "2001:db8::1") into ip and returns the
 * port; "?" and port 0 for a family other than AF_INET and AF_INET6. */
int sockaddr_text(const struct sockaddr *sa, char *ip, size_t ipsize);

#endif
