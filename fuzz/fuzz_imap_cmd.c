/*
 * fuzz_imap_cmd: IMAP commands as the session assembles them. The input
 * is split into lines at CRLF; each line goes through imap_cmd_literal()
 * as the session would, and where it announces a literal that many octets
 * are taken as they are, so literals arrive the way they do on the wire.
 * The assembled command, in a buffer exactly its size, is parsed, and a
 * parsed command must hold: a tag, a verb, every pointer inside the input
 * or the parser's own memory, sequence sets sorted and merged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "proto/imap_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_set(const struct imap_seqset *s)
{
	size_t i;

	if (s->saved)
		CHECK(s->n == 0);
	for (i = 0; i < s->n; i++) {
		CHECK(s->r[i].lo >= 1 && s->r[i].lo <= s->r[i].hi);
		/* merged: a gap of at least one between neighbours */
		if (i > 0)
			CHECK(s->r[i - 1].hi != IMAP_SEQ_STAR &&
			    s->r[i - 1].hi + 1 < s->r[i].lo);
	}
}

static void
check(const char *s, size_t size, const struct imap_cmd *c)
{
	size_t i;

	CHECK(c->tag.p == s && c->tag.len > 0 && c->tag.len < size);
	CHECK(c->verb != IMAP_CMD_UNKNOWN);
	CHECK(c->nnodes >= c->nargs);
	for (i = 0; i < c->nnodes; i++) {
		const struct imap_node *n = &c->nodes[i];

		if (n->type == IMAP_NODE_ATOM || n->type == IMAP_NODE_LITERAL)
			CHECK(n->s.p >= s && n->s.p + n->s.len <= s + size);
		if (n->type == IMAP_NODE_LIST)
			CHECK(n->count == 0 ? n->child == IMAP_NODE_NONE : n->child < c->nnodes);
		CHECK(n->next == IMAP_NODE_NONE || (n->next > i && n->next < c->nnodes));
	}
	check_set(&c->seq);
	check_set(&c->select.known_uids);
	check_set(&c->select.match_seq);
	check_set(&c->select.match_uids);
	if (c->mailbox.p)
		CHECK(c->mailbox.p[c->mailbox.len] == '\0');
	for (i = 0; i < c->fetch.n; i++) {
		const struct imap_fetch_att *a = &c->fetch.att[i];

		for (size_t k = 0; k < a->nparts; k++)
			CHECK(a->part[k] >= 1);
		if (a->partial)
			CHECK(a->count >= 1);
	}
	for (i = 0; i < c->nappend; i++)
		CHECK(c->append[i].data.p >= s &&
		    c->append[i].data.p + c->append[i].data.len <= s + size);
	if (c->verb == IMAP_CMD_FETCH)
		CHECK(c->fetch.n >= 1);
	if (c->verb == IMAP_CMD_APPEND)
		CHECK(c->nappend >= 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_cmd_limits lim;
	struct imap_literal l;
	struct imap_cmd c;
	const char *in = (const char *)data;
	char *cmd;
	size_t pos = 0, len = 0;
	enum imap_cmd_err e;

	imap_cmd_limits_default(&lim);
	lim.max_literal = 4096;
	lim.max_depth = 8;
	lim.max_ranges = 64;
	if ((cmd = malloc(size ? size : 1)) == NULL)
		return 0;
	/* Assemble as the session does: a line, then a literal's octets. */
	while (pos < size) {
		const char *crlf = memmem(in + pos, size - pos, "\r\n", 2);
		size_t ll = crlf ? (size_t)(crlf - (in + pos)) : size - pos;

		e = imap_cmd_literal(in + pos, ll, len, &lim, &l);
		memcpy(cmd + len, in + pos, ll);
		len += ll;
		pos += ll;
		if (crlf == NULL || e != IMAP_CMD_OK || !l.present)
			break;
		if (l.size > size - pos - 2)
			l.size = size - pos - 2;
		memcpy(cmd + len, in + pos, 2 + l.size);
		len += 2 + l.size;
		pos += 2 + l.size;
	}
	/* Only the assembled part, in a buffer of its own size. */
	char *exact = malloc(len ? len : 1);

	if (exact != NULL) {
		memcpy(exact, cmd, len);
		e = imap_cmd_parse(exact, len, &lim, &c);
		if (e == IMAP_CMD_OK)
			check(exact, len, &c);
		else if (e != IMAP_CMD_E_NO_TAG)
			CHECK(c.tag.p == exact && c.nodes == NULL && c.seq.r == NULL);
		imap_cmd_free(&c);
		free(exact);
	}
	free(cmd);
	return 0;
}
