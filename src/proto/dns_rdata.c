/*
 * dns_rdata: decode MX rdata and domain names (see the header).
 * Labels are length-prefixed (RFC 1035 §3.1); compression pointers cannot
 * occur in libunbound's results and are refused, as are labels with octets
 * a host name may not contain, so nothing odd reaches a log or a connect.
 */
#include "dns_rdata.h"

int
dns_name_to_text(const unsigned char *wire, size_t len, char *out,
    size_t outsize)
{
	size_t i = 0, o = 0;

	if (outsize == 0)
		return -1;
	for (;;) {
		size_t l, k;

		if (i >= len)
			return -1;
		l = wire[i++];
		if (l == 0)
			break;
		if (l > 63 || i + l > len)
			return -1;
		if (o > 0) {
			if (o + 1 >= outsize)
				return -1;
			out[o++] = '.';
		}
		for (k = 0; k < l; k++) {
			unsigned char c = wire[i + k];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_'))
				return -1;
			if (o + 1 >= outsize || o >= DNS_NAME_MAX)
				return -1;
			out[o++] = (char)c;
		}
		i += l;
	}
	out[o] = '\0';
	return (int)i;
}

int
dns_rdata_mx(const unsigned char *rd, size_t len, int *pref_r, char *name,
    size_t namesize)
{
	int used;

	if (len < 3)
		return -1;
	*pref_r = rd[0] << 8 | rd[1];
	if ((used = dns_name_to_text(rd + 2, len - 2, name, namesize)) < 0 ||
	    (size_t)used != len - 2)
		return -1;
	return 0;
}
