/*
 * sockaddr: socket addresses as text (see sockaddr.h).
 */
#include "sockaddr.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "str.h"

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

int
sockaddr_unix(struct sockaddr_un *sun, const char *path, int *dirfd)
{
	char dir[4096];
	const char *name, *slash;
	int fd;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	*dirfd = -1;
	if (str_copy(sun->sun_path, sizeof(sun->sun_path), path) != -1)
		return 0;
	/* The kernel resolves the name like any path, so a magic link to
	 * the directory stands for the directory's own long name. */
	if ((slash = strrchr(path, '/')) == NULL || slash[1] == '\0' ||
	    (size_t)(slash - path) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	name = slash + 1;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if ((fd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (snprintf(sun->sun_path, sizeof(sun->sun_path), "/proc/self/fd/%d/%s", fd, name) >=
	    (int)sizeof(sun->sun_path)) {
		close(fd);
		errno = ENAMETOOLONG;
		return -1;
	}
	*dirfd = fd;
	return 0;
}
