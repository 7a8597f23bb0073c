/*
 * sockaddr: socket addresses as text (see sockaddr.h).
 */
#include "sockaddr.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

int
sockaddr_text(const struct sockaddr *sa, char *ip, size_t ipsize)
{
	char port[8];
	socklen_t len;

	if (sa->sa_family == AF_INET)
		len = sizeof(struct sockaddr_in);
	else if (sa->sa_family == AF_INET6)
		len = sizeof(struct sockaddr_in6);
	else
		len = 0;
	if (len == 0 || getnameinfo(sa, len, ip, (socklen_t)ipsize, port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(ip, ipsize, "?");
		return 0;
	}
	return atoi(port);
}
