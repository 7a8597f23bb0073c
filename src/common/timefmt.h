/*
 * timefmt: the one RFC 5322 §3.3 date-time tern writes ("Tue, 01 Dec 2026
 * 02:35:33 +0000"), for Received, Date and DSN fields. UTC, and English
 * names whatever the locale.
 */
#ifndef TERN_TIMEFMT_H
#define TERN_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define RFC5322_DATE_MAX 32   /* with the NUL */

void rfc5322_date(int64_t t, char *out, size_t outsize);

#endif
