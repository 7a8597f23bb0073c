/*
 * spf_record: the SPF record grammar and the macro language (RFC 7208
 * §4.5, §4.6, §5, §6, §7), apart from any DNS. Pure and fuzzed: it splits
 * a record into terms, checks each term's syntax (domain-spec, dual CIDR,
 * ip4/ip6 networks, macro-strings), and expands macros from values the
 * evaluator (proto/spf.c) supplies.
 */
#ifndef TERN_SPF_RECORD_H
#define TERN_SPF_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest SPF record text we evaluate (its TXT strings joined). A
 * longer one is a permerror: it could not even be sent over plain UDP. */
#define SPF_RECORD_MAX 4096
/* What a domain target keeps of its expansion: the last 253 octets are
 * all RFC 7208 §7.3 ever uses, plus room to find a label boundary. */
#define SPF_TARGET_MAX 512

enum spf_kind {
	SPF_T_ALL,
	SPF_T_INCLUDE,
	SPF_T_A,
	SPF_T_MX,
	SPF_T_PTR,
	SPF_T_IP4,
	SPF_T_IP6,
	SPF_T_EXISTS,
	SPF_T_REDIRECT,      /* modifiers from here on */
	SPF_T_EXP,
	SPF_T_UNKNOWN_MOD,   /* name=macro-string, checked and ignored */
};

/* One term, pointing into the record text. */
struct spf_term {
	enum spf_kind kind;
	char qual;            /* '+', '-', '~' or '?'; '+' when not written */
	const char *text;     /* the whole term as written */
	size_t textlen;
	const char *spec;     /* domain-spec / macro-string; NULL if absent */
	size_t speclen;
	int cidr4, cidr6;     /* prefix lengths; -1 when not written */
	uint8_t net[16];      /* ip4 (4 octets) or ip6 network */
};

/* Flags for the macro functions. */
#define SPF_MACRO_EXP    0x1  /* explanation text: c r t and SP allowed */
#define SPF_MACRO_DOMAIN 0x2  /* a domain-spec: must end as domain-end */

/*
 * A selected record (§4.5): "v=spf1" in any case, then SP or the end.
 * Only this prefix is looked at; the rest may be anything.
 */
bool spf_record_is_spf(const char *txt, size_t len);

/*
 * The next term of rec[0..len) from *pos (start at 0: the version is
 * skipped). 1 with *t filled and *pos moved on, 0 at the end, -1 on a
 * syntax error with a short printable reason in why[whysize].
 */
int spf_record_next(const char *rec, size_t len, size_t *pos,
    struct spf_term *t, char *why, size_t whysize);

/* 0 if s[0..n) is valid under flags (SPF_MACRO_DOMAIN: also non-empty
 * and ending as ABNF domain-end), else -1. */
int spf_macro_check(const char *s, size_t n, int flags);

/* Whether s[0..n) (already checked) expands macro letter `letter`. */
bool spf_macro_uses(const char *s, size_t n, char letter);

/* The values of the macro letters, by lowercase letter; NULL = unset. */
struct spf_macros {
	const char *val[26];
};

/*
 * Expands s[0..n) (already checked) into out[outsize] (NUL-terminated).
 * With SPF_MACRO_DOMAIN the result is a target name (§7.3): a trailing dot
 * dropped and, when longer than 253 octets, labels cut from the left
 * until it fits; only the tail is kept on the way, so any length works.
 * Otherwise (explanation text) the head is kept and the rest cut at
 * outsize - 1. Returns 0, or -1 if a letter used has no value.
 */
int spf_macro_expand(const char *s, size_t n, const struct spf_macros *m,
    int flags, char *out, size_t outsize);

/* A <domain> check_host() accepts (§4.3): spf_target_ok, two labels or
 * more, the last a toplabel (so no address literal, no bare number). */
bool spf_domain_ok(const char *name);

/* A name a DNS query can carry: labels 1..63, at most 253 octets, no
 * trailing dot (spf_macro_expand removed it). */
bool spf_target_ok(const char *name);

#endif
