/*
 * quota_rule: a user's mail quota as the users file's extra fields give
 * it (docs/configuration.md), in Dovecot's words or tern's short one:
 *
 *     userdb_quota_rule=*:storage=100M      Dovecot's, as a passdb field
 *     quota_rule=*:storage=100M:messages=1000
 *     quota=100M                            tern's: octets, or none
 *
 * A Dovecot rule is "<mailbox mask>:<limit>[:<limit>...]"; tern keeps the
 * one for the whole mailbox (mask "*", or "?"), where a limit is
 * storage=<size> (no unit: kilobytes, as Dovecot reads it), bytes=<size>
 * (no unit: octets) or messages=<count>; units b k m g t in either case
 * (powers of 1024), 0 meaning no limit. Pure: bytes in, numbers out.
 */
#ifndef TERN_QUOTA_RULE_H
#define TERN_QUOTA_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Dovecot keeps limits in a signed 64-bit int. */
#define QUOTA_RULE_MAX ((uint64_t)INT64_MAX)

struct quota_rule {
	uint64_t bytes;      /* 0: no limit */
	uint64_t messages;   /* 0: no limit */
};

enum quota_rule_err {
	QUOTA_RULE_OK = 0,
	QUOTA_RULE_NOT_OURS,     /* a rule for some folders only, or Dovecot's
	                          * quota backend (quota=maildir:...): ignored */
	QUOTA_RULE_SYNTAX,       /* not <mask>:<name>=<value>[:...] */
	QUOTA_RULE_BAD_NAME,     /* a limit other than storage, bytes, messages */
	QUOTA_RULE_BAD_VALUE,    /* not digits and one unit, or too large */
	QUOTA_RULE_UNSUPPORTED,  /* Dovecot's relative (+, -, %), ignore, backend= */
};

/*
 * A size: digits and at most one unit letter (b k m g t, any case);
 * without a unit, each counts unit octets. At most QUOTA_RULE_MAX after
 * the unit. False for anything else.
 */
bool quota_size_parse(const char *s, size_t len, uint64_t unit, uint64_t *out);

/* A Dovecot quota_rule value. On QUOTA_RULE_OK out holds both limits
 * (one the rule does not name is 0); otherwise out is zeroed. */
enum quota_rule_err quota_rule_parse(const char *s, size_t len,
    struct quota_rule *out);

/* tern's quota=<size> value (no unit: octets; "none" or 0: no quota). A
 * value with a ':' is Dovecot's quota backend setting: QUOTA_RULE_NOT_OURS. */
enum quota_rule_err quota_rule_parse_short(const char *s, size_t len,
    struct quota_rule *out);

/*
 * The quota among a passwd-file entry's extra fields (proto/passwd's
 * "key=value ..."): userdb_quota_rule, quota_rule and quota. The last
 * one that is ours counts, whole; *found_r says whether there was one
 * (a quota=none is one: it overrides the default). On an error
 * bad_r and bad_len_r name the field ("key=value") and out is zeroed.
 */
enum quota_rule_err quota_rule_from_extra(const char *extra, size_t len,
    struct quota_rule *out, bool *found_r, const char **bad_r,
    size_t *bad_len_r);

const char *quota_rule_strerror(enum quota_rule_err e);

#endif
