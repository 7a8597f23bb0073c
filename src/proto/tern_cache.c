/*
 * tern_cache: tern-cache records (see tern_cache.h).
 */
#include "tern_cache.h"

#include <string.h>

#include "tern_index.h"

static const char MAGIC[4] = { 'T', 'C', 'R', '1' };

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* The checksum of the record's first 16 octets, base and data, as one
 * run: the three pieces copied into a small window in turn would cost
 * a copy of the data, so each piece is summed and the sums mixed. */
static uint64_t
rec_sum(const unsigned char *hdr16, const char *base, size_t base_len, const char *data,
    size_t data_len)
{
	uint64_t s[3];

	s[0] = tern_index_sum(hdr16, 16);
	s[1] = tern_index_sum(base, base_len);
	s[2] = tern_index_sum(data, data_len);
	return tern_index_sum(s, sizeof(s));
}

/* The record's first 16 octets: magic, lengths, uid, field. */
static void
fill_hdr16(unsigned char *hdr, const struct tern_cache_rec *r)
{
	memcpy(hdr, MAGIC, 4);
	put32(hdr + 4, (uint32_t)r->data_len);
	put32(hdr + 8, r->uid);
	hdr[12] = (unsigned char)r->field;
	hdr[13] = (unsigned char)r->base_len;
	hdr[14] = hdr[15] = 0;
}

int
tern_cache_rec_encode(const struct tern_cache_rec *r, struct buf *out)
{
	unsigned char hdr[TERN_CACHE_REC_HDR];
	uint64_t sum;
	size_t i;

	if (r->field >= TERN_CACHE_FIELDS || r->base_len == 0 || r->base_len > 255 ||
	    r->data_len > TERN_CACHE_DATA_MAX || r->uid == 0)
		return -1;
	fill_hdr16(hdr, r);
	sum = rec_sum(hdr, r->base, r->base_len, r->data, r->data_len);
	for (i = 0; i < 8; i++)
		hdr[16 + i] = (unsigned char)(sum >> (8 * i));
	if (buf_reserve(out, sizeof(hdr) + r->base_len + r->data_len) == -1 ||
	    buf_append(out, hdr, sizeof(hdr)) == -1 ||
	    buf_append(out, r->base, r->base_len) == -1 ||
	    buf_append(out, r->data, r->data_len) == -1)
		return -1;
	return 0;
}

size_t
tern_cache_rec_size(const char *hdr)
{
	const unsigned char *h = (const unsigned char *)hdr;
	uint32_t data_len = get32(h + 4);

	if (memcmp(h, MAGIC, 4) != 0 || h[12] >= TERN_CACHE_FIELDS || h[13] == 0 ||
	    h[14] != 0 || h[15] != 0 || data_len > TERN_CACHE_DATA_MAX || get32(h + 8) == 0)
		return 0;
	return TERN_CACHE_REC_HDR + h[13] + (size_t)data_len;
}

size_t
tern_cache_rec_read(const char *p, size_t avail, struct tern_cache_rec *r)
{
	const unsigned char *h = (const unsigned char *)p;
	size_t need, i;

	if (avail < TERN_CACHE_REC_HDR || (need = tern_cache_rec_size(p)) == 0 || need > avail)
		return 0;
	r->data_len = get32(h + 4);
	r->uid = get32(h + 8);
	r->field = h[12];
	r->base_len = h[13];
	for (r->sum = 0, i = 0; i < 8; i++)
		r->sum |= (uint64_t)h[16 + i] << (8 * i);
	r->base = p + TERN_CACHE_REC_HDR;
	r->data = r->base + r->base_len;
	return need;
}

bool
tern_cache_rec_ok(const struct tern_cache_rec *r)
{
	unsigned char hdr[16];

	fill_hdr16(hdr, r);
	return rec_sum(hdr, r->base, r->base_len, r->data, r->data_len) == r->sum;
}
