/*
 * dns_rdata: the DNS record data tern interprets (RFC 1035 §3.3.9 MX, plus
 * A and AAAA), from libunbound's uncompressed wire-format rdata. Pure.
 */
#ifndef TERN_DNS_RDATA_H
#define TERN_DNS_RDATA_H

#include <stddef.h>

#define DNS_NAME_MAX 255

/*
 * MX RDATA = PREFERENCE (16 bits) EXCHANGE (domain name). Writes the
 * exchange in dotted form without the final dot ("" for the root, which a
 * null MX uses, RFC 7505). Returns 0 or -1 on malformed data.
 */
int dns_rdata_mx(const unsigned char *rd, size_t len, int *pref_r,
    char *name, size_t namesize);

/* A wire-format domain name to dotted text; returns bytes used or -1. */
int dns_name_to_text(const unsigned char *wire, size_t len, char *out,
    size_t outsize);

#endif
