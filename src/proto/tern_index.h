/*
 * tern_index: the per-folder index file `tern-index` of the mailbox store
 * (docs/mailbox-formats.md has the format, docs/mailbox.md the steps and
 * a crash analysis). It keeps what a sync learned so that the next one
 * need not list the folder or read dovecot-uidlist: per message its UID,
 * file name, sizes, internal date and MODSEQ (RFC 7162); per folder the
 * UIDVALIDITY, HIGHESTMODSEQ, the UIDs expunged and when, and how new/,
 * cur/ and dovecot-uidlist looked when it was written.
 *
 *     tern-index 1
 *     V<uidvalidity> N<uidnext> M<highestmodseq> F<vanished floor> C<msgs> X<ranges> B<boot> G<gen>
 *     new <valid> <ino> <size> <mtime ns> <checked ns>
 *     cur ...
 *     uidlist ...
 *     m <uid> <modseq> <size> <vsize|-> <date> <n|c> <-|P<uidl>> <file name>
 *     x <lo> <hi> <modseq>
 *     end <checksum: 16 hex digits, of everything before this line>
 *
 * Changes made without a sync (STORE, EXPUNGE) are appended to the
 * index's log, `tern-index.log`, which names the index it follows by its
 * generation (G) and is folded into the next index a sync writes:
 *
 *     tern-index-log 1 G<gen>
 *     s <uid> <modseq> <n|c> <file name>    a message's new name and MODSEQ
 *     x <lo> <hi> <modseq>                  UIDs expunged
 *
 * Pure: bytes in, a struct out (spans into the bytes); struct to bytes.
 * Nothing in it is needed for correctness: a file that does not read
 * (torn, another version, another program's) is rebuilt by the store.
 */
#ifndef TERN_TERN_INDEX_H
#define TERN_TERN_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

#define TERN_INDEX_MAGIC "tern-index"
#define TERN_INDEX_LOG_MAGIC "tern-index-log"
#define TERN_INDEX_VERSION 1
#define TERN_INDEX_VSIZE_UNKNOWN UINT64_MAX

/* What a stat said of new/, cur/ or dovecot-uidlist, and when. */
enum { TERN_INDEX_NEW, TERN_INDEX_CUR, TERN_INDEX_UIDLIST, TERN_INDEX_NSTAT };
struct tern_index_stat {
	bool valid;           /* false: look again whatever the stat says */
	uint64_t ino;
	uint64_t size;
	int64_t mtime_ns;     /* since the epoch */
	int64_t check_ns;     /* when the stat was taken */
};

struct tern_index_msg {
	uint32_t uid;
	bool in_new;
	uint64_t modseq;
	uint64_t size;
	uint64_t vsize;       /* TERN_INDEX_VSIZE_UNKNOWN: never read */
	int64_t date;         /* the internal date, seconds */
	const char *uidl;     /* a migrated POP3 UIDL, or NULL */
	size_t uidl_len;
	const char *name;     /* the file name, flags included */
	size_t name_len;
	/* Filled by the parser from the name (ignored by the encoder): */
	size_t base_len;
	unsigned flags;       /* enum maildir_flag */
	uint32_t keywords;
};

struct tern_index_range {
	uint32_t lo, hi;      /* UIDs lo..hi expunged */
	uint64_t modseq;      /* at this MODSEQ */
};

#define TERN_INDEX_BOOT_LEN 32

struct tern_index {
	/* The system's boot id (32 hex digits) when it was written, "" for
	 * unknown: an index from before a reboot may be older than what was
	 * handed out (it is written without fsync). */
	char boot[TERN_INDEX_BOOT_LEN + 1];
	uint64_t gen;         /* chosen at random by each writer: its log names it */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint64_t vanished_floor;
	struct tern_index_stat st[TERN_INDEX_NSTAT];
	/* Ascending by uid. Parsed: owned by the struct (tern_index_clear),
	 * names and UIDLs pointing into the parsed bytes. */
	struct tern_index_msg *msgs;
	size_t nmsgs;
	/* Ascending by lo, disjoint. */
	struct tern_index_range *vanished;
	size_t nvanished;
};

struct tern_index_limits {
	size_t msgs_max;
	size_t vanished_max;
};
#define TERN_INDEX_LIMITS_DEFAULT { .msgs_max = 10000000, .vanished_max = 100000 }

enum tern_index_err {
	TERN_INDEX_OK = 0,
	TERN_INDEX_ERR_FOREIGN,   /* not a tern-index file */
	TERN_INDEX_ERR_VERSION,   /* another version */
	TERN_INDEX_ERR_TORN,      /* no end line, or the checksum differs */
	TERN_INDEX_ERR_HEADER,    /* the header or a stat line does not read */
	TERN_INDEX_ERR_MSG,       /* a message line does not read, or breaks a rule */
	TERN_INDEX_ERR_RANGE,     /* a vanished line does not read, or breaks a rule */
	TERN_INDEX_ERR_COUNT,     /* not the C and X lines the header says */
	TERN_INDEX_ERR_TOO_MANY,  /* over the limits */
	TERN_INDEX_ERR_NOMEM,
};

/*
 * Reads a whole file. The rules (a file that breaks one is not used):
 * 0 < uid < uidnext, ascending; 1 <= modseq <= highestmodseq; a name
 * that maildir_name_parse takes; a UIDL of 1-70 octets 0x21-0x7e;
 * ranges lo <= hi < uidnext, ascending and disjoint, 1 <= modseq <=
 * highestmodseq; floor <= highestmodseq; uidvalidity, uidnext and
 * highestmodseq not 0; a boot id of 32 lower-case hex digits, or "-". ix is cleared first; clear it after, either way.
 */
enum tern_index_err tern_index_parse(const char *data, size_t len,
    const struct tern_index_limits *lim, struct tern_index *ix);

/* The file of ix, appended to out: 0, or -1 when out of memory or ix
 * breaks a rule above (it would not read back). */
int tern_index_encode(const struct tern_index *ix, struct buf *out);

void tern_index_clear(struct tern_index *ix);

/* A POP3 UIDL as the index (and RFC 1939 §7) takes it: 1 to 70 octets
 * 0x21-0x7E. */
bool tern_index_uidl_ok(const char *p, size_t n);

/* A record of the log. */
struct tern_index_logrec {
	char kind;            /* 's': uid has name and modseq now; 'x': uid..hi expunged */
	uint32_t uid, hi;
	uint64_t modseq;
	bool in_new;
	const char *name;     /* 's': spans into the bytes */
	size_t name_len;
	/* Filled by the parser from the name: */
	size_t base_len;
	unsigned flags;
	uint32_t keywords;
};

/* Reads a log: TERN_INDEX_ERR_FOREIGN when it is not the log of the
 * index of generation gen (ignore it); a last line without its LF (an
 * append cut short) is not read; any other line that does not read is
 * TERN_INDEX_ERR_MSG (the index and its log cannot be trusted). More
 * than max records: TERN_INDEX_ERR_TOO_MANY. *recs_r is the caller's to
 * free. */
enum tern_index_err tern_index_log_parse(const char *data, size_t len, uint64_t gen,
    size_t max, struct tern_index_logrec **recs_r, size_t *n_r);
/* The first line of the log of generation gen, appended to out. */
int tern_index_log_header(uint64_t gen, struct buf *out);
/* One record's line appended to out; -1 when it would not read back. */
int tern_index_log_encode(const struct tern_index_logrec *r, struct buf *out);

/* A 64-bit checksum of n octets (tern-index and tern-cache use it to
 * tell a torn write): not cryptographic, just quick. */
uint64_t tern_index_sum(const void *p, size_t n);

#endif
