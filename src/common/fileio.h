/*
 * fileio: small helpers around files and directories shared by the
 * modules that write them (the queue, Maildir delivery, TLS and DKIM key
 * set-up).
 */
#ifndef TERN_FILEIO_H
#define TERN_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* Writes all n octets, retrying short writes and EINTR; 0 or -1 (errno). */
int fileio_write_all(int fd, const void *p, size_t n);

/* Appends what is left to read of fd to out, retrying EINTR. Returns 0 at
 * end of file, or -1 (errno) with what was read before the error kept. */
int fileio_read_all(int fd, struct buf *out);

/* Copies len octets of src from offset off to the end of dst (kernel
 * copy_file_range, else read and write). 0, or -1 with errno (EIO when
 * src is shorter). */
int fileio_copy_range(int src, off_t off, int dst, uint64_t len);
/* Creates dir and missing parents (mode 0700), fsyncing each parent that
 * gained an entry, so a new directory outlives a crash. Returns 0 (also
 * when it exists) or -1 with errno. */
int fileio_mkdirs(const char *dir);

#endif
