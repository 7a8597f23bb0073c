/*
 * fileio: small helpers around write(2) shared by the modules that write
 * files (the queue, Maildir delivery).
 */
#ifndef TERN_FILEIO_H
#define TERN_FILEIO_H

#include <stddef.h>

/* Writes all n octets, retrying short writes and EINTR; 0 or -1 (errno). */
int fileio_write_all(int fd, const void *p, size_t n);

#endif
