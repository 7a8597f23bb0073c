/*
 * imap_cmd_int: what the IMAP command parser's files share (imap_cmd.c:
 * the limits, the literal helper, the tree of a command and
 * imap_cmd_parse; imap_cmd_args.c: typed arguments, i.e. mailbox names,
 * sequence sets, flags and FETCH items; imap_cmd_verbs.c: each command's
 * arguments and the table of commands). Private to them.
 */
#ifndef TERN_IMAP_CMD_INT_H
#define TERN_IMAP_CMD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_cmd.h"

/* One malloc'd block per allocation, chained so imap_cmd_free can walk
 * them; a command makes a few dozen at most. */
struct block {
	struct block *next;
	max_align_t data[];
};

struct parser {
	const char *s, *end;   /* the whole command */
	const char *p;
	const char *line;      /* where the current line began */
	const struct imap_cmd_limits *lim;
	struct imap_cmd *c;
	struct imap_node *nodes;
	size_t nnodes, cap;
};

/* mod-sequence-value (RFC 7162 §7): 1..2^63-1; 0 where valzer is allowed. */
#define MODSEQ_MAX ((uint64_t)INT64_MAX)

typedef enum imap_cmd_err (*handler)(struct parser *, const struct imap_node *);

/* A command: its name, whether UID may come before it, its reader. */
struct ic_verb {
	const char *name;
	enum imap_verb verb;
	bool uid;
	handler h;
};
extern const struct ic_verb ic_verbs[];
extern const size_t ic_nverbs;

void * ic_alloc(struct imap_cmd *c, size_t n);
void * ic_alloc_n(struct imap_cmd *c, size_t n, size_t size);
bool ic_is_digit(char c);
char ic_upper(char c);
bool ic_ieq(const struct imap_str *s, const char *kw);
bool ic_iprefix(const char *s, size_t len, const char *kw);
bool ic_is_atom_char(unsigned char c);
bool ic_parse_u64(const char *p, size_t len, uint64_t max, uint64_t *v);
const struct imap_node * ic_node(const struct parser *ps, size_t idx);
const struct imap_node * ic_next(const struct parser *ps, const struct imap_node *n);
bool ic_is_atom(const struct imap_node *n, const char *kw);
bool ic_astring(const struct imap_node *n, struct imap_str *out);
bool ic_number_node(const struct imap_node *n, uint64_t max, uint64_t *v);
enum imap_cmd_err ic_mailbox(struct parser *ps, const struct imap_node *n, struct imap_str *out);
enum imap_cmd_err ic_seqset(struct parser *ps, const struct imap_node *n, struct imap_seqset *out);
enum imap_cmd_err ic_flags(struct parser *ps, const struct imap_node *n, size_t count, struct imap_flags *out);
enum imap_cmd_err ic_fetch_items(struct parser *ps, const struct imap_node *n);
enum imap_cmd_err ic_fetch_mods(struct parser *ps, const struct imap_node *n);

#endif
