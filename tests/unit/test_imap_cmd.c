/*
 * test_imap_cmd: IMAP commands (RFC 9051, RFC 3501 and extensions).
 * A table of command lines as clients send them (RFC examples, Python's
 * imaplib, mbsync, Thunderbird) with the verb or error each must give;
 * then what the typed fields hold for the commands that have them; the
 * literal announcement helper; and literal-carrying commands assembled
 * the way the session does, for every size of every literal position.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/imap_cmd.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct cmd_case {
	const char *line;
	enum imap_cmd_err err;
	enum imap_verb verb;   /* checked on errors too */
	const char *tag;       /* NULL: "a1" unless err is E_NO_TAG */
};

#define OK IMAP_CMD_OK
#define V(x) IMAP_CMD_##x

static const struct cmd_case cases[] = {
	/* commands without arguments, any case */
	{ "a1 CAPABILITY", OK, V(CAPABILITY), NULL },
	{ "a1 capability", OK, V(CAPABILITY), NULL },
	{ "a1 NOOP", OK, V(NOOP), NULL },
	{ "a1 LOGOUT", OK, V(LOGOUT), NULL },
	{ "a1 STARTTLS", OK, V(STARTTLS), NULL },
	{ "a1 NAMESPACE", OK, V(NAMESPACE), NULL },
	{ "a1 IDLE", OK, V(IDLE), NULL },
	{ "a1 CHECK", OK, V(CHECK), NULL },
	{ "a1 CLOSE", OK, V(CLOSE), NULL },
	{ "a1 UNSELECT", OK, V(UNSELECT), NULL },
	{ "a1 EXPUNGE", OK, V(EXPUNGE), NULL },
	{ "a1 NOOP ", OK, V(NOOP), NULL },
	{ "a1 NOOP x", IMAP_CMD_E_SYNTAX, V(NOOP), NULL },
	{ "a1 CLOSE ()", IMAP_CMD_E_SYNTAX, V(CLOSE), NULL },
	/* tags: imaplib's, Thunderbird's, mbsync's */
	{ "KDFE1 NOOP", OK, V(NOOP), "KDFE1" },
	{ "7 NOOP", OK, V(NOOP), "7" },
	{ "A001.x] NOOP", OK, V(NOOP), "A001.x]" },
	{ "+a NOOP", IMAP_CMD_E_NO_TAG, V(UNKNOWN), NULL },
	{ "a*b NOOP", IMAP_CMD_E_NO_TAG, V(UNKNOWN), NULL },
	{ "NOOP", IMAP_CMD_E_NO_TAG, V(UNKNOWN), NULL },
	{ "", IMAP_CMD_E_NO_TAG, V(UNKNOWN), NULL },
	{ " a1 NOOP", IMAP_CMD_E_NO_TAG, V(UNKNOWN), NULL },
	{ "t\xc3\xa9 NOOP", IMAP_CMD_E_NO_TAG, V(UNKNOWN), NULL },
	{ "a1 ", IMAP_CMD_E_UNKNOWN, V(UNKNOWN), NULL },
	{ "a1  NOOP", IMAP_CMD_E_UNKNOWN, V(UNKNOWN), NULL },
	{ "a1 FOO", IMAP_CMD_E_UNKNOWN, V(UNKNOWN), NULL },
	{ "a1 NOOP2", IMAP_CMD_E_UNKNOWN, V(UNKNOWN), NULL },
	{ "a1 UID LIST \"\" *", IMAP_CMD_E_UNKNOWN, V(UNKNOWN), NULL },
	{ "a1 UID", IMAP_CMD_E_UNKNOWN, V(UNKNOWN), NULL },
	/* login and SASL */
	{ "a1 LOGIN SMITH SESAME", OK, V(LOGIN), NULL },
	{ "a1 LOGIN \"user@example.org\" \"pa ss\\\"w\\\\d\"", OK, V(LOGIN), NULL },
	{ "a1 LOGIN {4+}\r\nuser {4+}\r\npass", OK, V(LOGIN), NULL },
	{ "a1 LOGIN user", IMAP_CMD_E_SYNTAX, V(LOGIN), NULL },
	{ "a1 LOGIN user pass x", IMAP_CMD_E_SYNTAX, V(LOGIN), NULL },
	{ "a1 LOGIN (user) pass", IMAP_CMD_E_SYNTAX, V(LOGIN), NULL },
	{ "a1 LOGIN \"user pass", IMAP_CMD_E_SYNTAX, V(LOGIN), NULL },
	{ "a1 LOGIN \"us\\er\" pass", IMAP_CMD_E_SYNTAX, V(LOGIN), NULL },
	{ "a1 LOGIN us\xc3\xa9r pass", IMAP_CMD_E_8BIT, V(LOGIN), NULL },
	{ "a1 LOGIN \"us\xc3\xa9r\" pass", OK, V(LOGIN), NULL },
	{ "a1 LOGIN user\tx pass", IMAP_CMD_E_BAD_CHAR, V(LOGIN), NULL },
	{ "a1 LOGIN \"user\0\" pass", IMAP_CMD_E_SYNTAX, V(LOGIN), NULL },
	{ "a1 AUTHENTICATE PLAIN", OK, V(AUTHENTICATE), NULL },
	{ "a1 AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=", OK, V(AUTHENTICATE), NULL },
	{ "a1 AUTHENTICATE PLAIN =", OK, V(AUTHENTICATE), NULL },
	{ "a1 authenticate xoauth2 dXNlcj1", OK, V(AUTHENTICATE), NULL },
	{ "a1 AUTHENTICATE", IMAP_CMD_E_SYNTAX, V(AUTHENTICATE), NULL },
	{ "a1 AUTHENTICATE PL@IN", IMAP_CMD_E_SYNTAX, V(AUTHENTICATE), NULL },
	{ "a1 AUTHENTICATE PLAIN a b", IMAP_CMD_E_SYNTAX, V(AUTHENTICATE), NULL },
	{ "a1 ENABLE IMAP4rev2", OK, V(ENABLE), NULL },
	{ "a1 ENABLE CONDSTORE QRESYNC UTF8=ACCEPT", OK, V(ENABLE), NULL },
	{ "a1 ENABLE", IMAP_CMD_E_SYNTAX, V(ENABLE), NULL },
	{ "a1 ENABLE (X)", IMAP_CMD_E_SYNTAX, V(ENABLE), NULL },
	/* mailboxes */
	{ "a1 SELECT INBOX", OK, V(SELECT), NULL },
	{ "a1 SELECT \"INBOX\" (CONDSTORE)", OK, V(SELECT), NULL },
	{ "a1 EXAMINE blurdybloop", OK, V(EXAMINE), NULL },
	{ "a1 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
	  OK, V(SELECT), NULL },
	{ "a1 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 "
	  "(1:20 500:600)))", OK, V(SELECT), NULL },
	{ "a1 SELECT INBOX (QRESYNC (0 1))", IMAP_CMD_E_NUMBER, V(SELECT), NULL },
	{ "a1 SELECT INBOX (QRESYNC (1))", IMAP_CMD_E_SYNTAX, V(SELECT), NULL },
	{ "a1 SELECT INBOX (QRESYNC (1 9223372036854775808))", IMAP_CMD_E_NUMBER,
	  V(SELECT), NULL },
	{ "a1 SELECT INBOX (FOO)", IMAP_CMD_E_SYNTAX, V(SELECT), NULL },
	{ "a1 SELECT INBOX (CONDSTORE CONDSTORE)", IMAP_CMD_E_SYNTAX, V(SELECT), NULL },
	{ "a1 SELECT INBOX ()", IMAP_CMD_E_SYNTAX, V(SELECT), NULL },
	{ "a1 SELECT", IMAP_CMD_E_SYNTAX, V(SELECT), NULL },
	{ "a1 SELECT &AOk", IMAP_CMD_E_MAILBOX, V(SELECT), NULL },
	{ "a1 SELECT \"a\x01\"", IMAP_CMD_E_MAILBOX, V(SELECT), NULL },
	{ "a1 CREATE owatagusiam/", OK, V(CREATE), NULL },
	{ "a1 CREATE MySpecial (USE (\\Drafts \\Sent))", OK, V(CREATE), NULL },
	{ "a1 DELETE blurdybloop", OK, V(DELETE), NULL },
	{ "a1 DELETE", IMAP_CMD_E_SYNTAX, V(DELETE), NULL },
	{ "a1 RENAME blurdybloop sarasoop", OK, V(RENAME), NULL },
	{ "a1 RENAME blurdybloop", IMAP_CMD_E_SYNTAX, V(RENAME), NULL },
	{ "a1 SUBSCRIBE #news.comp.mail.mime", OK, V(SUBSCRIBE), NULL },
	{ "a1 UNSUBSCRIBE #news.comp.mail.mime", OK, V(UNSUBSCRIBE), NULL },
	{ "a1 LIST \"\" \"\"", OK, V(LIST), NULL },
	{ "a1 LIST \"\" *", OK, V(LIST), NULL },
	{ "a1 LIST #news.comp.mail.misc \"\"", OK, V(LIST), NULL },
	{ "a1 LIST ~/Mail/ %", OK, V(LIST), NULL },
	{ "a1 LIST (SUBSCRIBED) \"\" \"*\"", OK, V(LIST), NULL },
	{ "a1 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %", OK, V(LIST), NULL },
	{ "a1 LIST (RECURSIVEMATCH) \"\" %", IMAP_CMD_E_SYNTAX, V(LIST), NULL },
	{ "a1 LIST () \"\" (INBOX Drafts \"Sent Items\")", OK, V(LIST), NULL },
	{ "a1 LIST \"\" % RETURN (CHILDREN SPECIAL-USE)", OK, V(LIST), NULL },
	{ "a1 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN SIZE))", OK, V(LIST), NULL },
	{ "a1 LIST \"\" % RETURN (STATUS)", IMAP_CMD_E_SYNTAX, V(LIST), NULL },
	{ "a1 LIST \"\" % RETURN", IMAP_CMD_E_SYNTAX, V(LIST), NULL },
	{ "a1 LIST \"\" % RETURN (FOO)", IMAP_CMD_E_SYNTAX, V(LIST), NULL },
	{ "a1 LIST \"\"", IMAP_CMD_E_SYNTAX, V(LIST), NULL },
	{ "a1 LSUB \"#news.\" \"comp.mail.*\"", OK, V(LSUB), NULL },
	{ "a1 LSUB \"\" (a b)", IMAP_CMD_E_SYNTAX, V(LSUB), NULL },
	{ "a1 STATUS blurdybloop (UIDNEXT MESSAGES)", OK, V(STATUS), NULL },
	{ "a1 STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE "
	  "HIGHESTMODSEQ APPENDLIMIT)", OK, V(STATUS), NULL },
	{ "a1 STATUS INBOX ()", IMAP_CMD_E_SYNTAX, V(STATUS), NULL },
	{ "a1 STATUS INBOX (FOO)", IMAP_CMD_E_SYNTAX, V(STATUS), NULL },
	{ "a1 STATUS INBOX MESSAGES", IMAP_CMD_E_SYNTAX, V(STATUS), NULL },
	{ "a1 GETQUOTAROOT INBOX", OK, V(GETQUOTAROOT), NULL },
	{ "a1 GETQUOTA \"\"", OK, V(GETQUOTA), NULL },
	{ "a1 SETQUOTA \"\" (STORAGE 512)", OK, V(SETQUOTA), NULL },
	{ "a1 SETQUOTA \"\" (STORAGE)", IMAP_CMD_E_SYNTAX, V(SETQUOTA), NULL },
	{ "a1 SETQUOTA \"\" (STORAGE x)", IMAP_CMD_E_NUMBER, V(SETQUOTA), NULL },
	/* APPEND */
	{ "A003 APPEND saved-messages (\\Seen) {5}\r\nhello", OK, V(APPEND), "A003" },
	{ "a1 APPEND INBOX {0}\r\n", OK, V(APPEND), NULL },
	{ "a1 APPEND INBOX (\\Seen $Forwarded) \" 7-Feb-1994 22:43:04 -0800\" {2+}\r\nhi",
	  OK, V(APPEND), NULL },
	{ "a1 APPEND INBOX \"07-Feb-1994 22:43:04 +0100\" ~{3}\r\na\0b", OK, V(APPEND), NULL },
	{ "a1 APPEND INBOX {1}\r\na (\\Draft) {1}\r\nb", OK, V(APPEND), NULL },
	{ "a1 APPEND INBOX {1}\r\na {1}\r\nb {1}\r\nc", OK, V(APPEND), NULL },
	{ "a1 APPEND INBOX", IMAP_CMD_E_SYNTAX, V(APPEND), NULL },
	{ "a1 APPEND INBOX hello", IMAP_CMD_E_SYNTAX, V(APPEND), NULL },
	{ "a1 APPEND INBOX \"hello\"", IMAP_CMD_E_SYNTAX, V(APPEND), NULL },
	{ "a1 APPEND INBOX \"7-Feb-1994 22:43:04 -0800\" {1}\r\na", IMAP_CMD_E_SYNTAX,
	  V(APPEND), NULL },
	{ "a1 APPEND INBOX \"07-Fox-1994 22:43:04 -0800\" {1}\r\na", IMAP_CMD_E_SYNTAX,
	  V(APPEND), NULL },
	{ "a1 APPEND INBOX (\\*) {1}\r\na", IMAP_CMD_E_SYNTAX, V(APPEND), NULL },
	{ "a1 APPEND INBOX (\\Seen {1}\r\na", IMAP_CMD_E_SYNTAX, V(APPEND), NULL },
	{ "a1 APPEND INBOX {5}\r\nhel", IMAP_CMD_E_SYNTAX, V(APPEND), NULL },
	{ "a1 APPEND INBOX {5}\nhello", IMAP_CMD_E_SYNTAX, V(APPEND), NULL },
	{ "a1 APPEND INBOX {1}\r\nab", IMAP_CMD_E_SYNTAX, V(APPEND), NULL },
	{ "a1 APPEND INBOX {1}\r\na{1}\r\nb", IMAP_CMD_E_SYNTAX, V(APPEND), NULL },
	{ "a1 APPEND INBOX {99999999999999999999}\r\n", IMAP_CMD_E_SYNTAX, V(APPEND), NULL },
	{ "a1 APPEND INBOX {999999999}\r\n", IMAP_CMD_E_LITERAL_TOO_BIG, V(APPEND), NULL },
	{ "a1 APPEND INBOX x{1}\r\na", IMAP_CMD_E_SYNTAX, V(APPEND), NULL },
	/* SEARCH, SORT, THREAD: kept as tokens */
	{ "a1 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"", OK, V(SEARCH), NULL },
	{ "a1 UID SEARCH RETURN (MIN MAX) CHARSET UTF-8 TEXT {4+}\r\n\xe2\x82\xac!",
	  OK, V(SEARCH), NULL },
	{ "a1 SEARCH OR (SUBJECT a FROM b) ((DELETED))", OK, V(SEARCH), NULL },
	{ "a1 SEARCH", IMAP_CMD_E_SYNTAX, V(SEARCH), NULL },
	{ "a1 SEARCH (a", IMAP_CMD_E_SYNTAX, V(SEARCH), NULL },
	{ "a1 SEARCH a)", IMAP_CMD_E_SYNTAX, V(SEARCH), NULL },
	{ "a1 SEARCH ((((((((((((((((((ALL))))))))))))))))))", IMAP_CMD_E_DEPTH,
	  V(SEARCH), NULL },
	{ "a1 SEARCH (((((((((((((((ALL)))))))))))))))", OK, V(SEARCH), NULL },
	{ "a1 UID SORT (REVERSE DATE) UTF-8 ALL", OK, V(SORT), NULL },
	{ "a1 THREAD REFERENCES UTF-8 SINCE 5-MAR-2000", OK, V(THREAD), NULL },
	{ "a1 SORT (DATE) UTF-8", IMAP_CMD_E_SYNTAX, V(SORT), NULL },
	/* FETCH */
	{ "a1 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])", OK, V(FETCH), NULL },
	{ "a1 FETCH 1 ALL", OK, V(FETCH), NULL },
	{ "a1 FETCH 1:* FAST", OK, V(FETCH), NULL },
	{ "a1 FETCH 1 full", OK, V(FETCH), NULL },
	{ "a1 FETCH 1 (ALL)", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 BODY[]", OK, V(FETCH), NULL },
	{ "a1 UID FETCH 1:* (UID FLAGS RFC822.SIZE)", OK, V(FETCH), NULL },
	{ "a1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)", OK, V(FETCH), NULL },
	{ "a1 FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)", IMAP_CMD_E_SYNTAX,
	  V(FETCH), NULL },
	{ "a1 FETCH 1:* (FLAGS) (VANISHED)", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 (FLAGS) (CHANGEDSINCE)", IMAP_CMD_E_NUMBER, V(FETCH), NULL },
	{ "a1 FETCH 1 (FLAGS) (CHANGEDSINCE 1) x", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 (BODY.PEEK[1.2.MIME] BODY[1.TEXT]<0.2048> BINARY.PEEK[1.2] "
	  "BINARY.SIZE[1] BINARY[]<5.10> BODYSTRUCTURE ENVELOPE INTERNALDATE MODSEQ "
	  "RFC822 RFC822.HEADER RFC822.TEXT BODY)", OK, V(FETCH), NULL },
	{ "a1 FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (\"Received\" X-Spam)])", OK,
	  V(FETCH), NULL },
	{ "a1 FETCH 1 BODY[MIME]", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 BODY[0]", IMAP_CMD_E_NUMBER, V(FETCH), NULL },
	{ "a1 FETCH 1 BODY[1.]", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 BODY[HEADER.FIELDS ()]", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 BODY[HEADER.FIELDS]", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 BODY[FOO]", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 BODY[TEXT]<0.0>", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 BODY[TEXT]<0>", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 BODY[TEXT", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 BINARY[TEXT]", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 BINARY.SIZE[1]<0.5>", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 (FLAGS FOO)", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1 ()", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	{ "a1 FETCH 1", IMAP_CMD_E_SYNTAX, V(FETCH), NULL },
	/* sequence sets */
	{ "a1 FETCH 0 FLAGS", IMAP_CMD_E_SEQSET, V(FETCH), NULL },
	{ "a1 FETCH 01 FLAGS", IMAP_CMD_E_SEQSET, V(FETCH), NULL },
	{ "a1 FETCH 1: FLAGS", IMAP_CMD_E_SEQSET, V(FETCH), NULL },
	{ "a1 FETCH :1 FLAGS", IMAP_CMD_E_SEQSET, V(FETCH), NULL },
	{ "a1 FETCH 1,,2 FLAGS", IMAP_CMD_E_SEQSET, V(FETCH), NULL },
	{ "a1 FETCH 1, FLAGS", IMAP_CMD_E_SEQSET, V(FETCH), NULL },
	{ "a1 FETCH 1:2:3 FLAGS", IMAP_CMD_E_SEQSET, V(FETCH), NULL },
	{ "a1 FETCH 4294967296 FLAGS", IMAP_CMD_E_SEQSET, V(FETCH), NULL },
	{ "a1 FETCH 4294967295 FLAGS", OK, V(FETCH), NULL },
	{ "a1 FETCH -1 FLAGS", IMAP_CMD_E_SEQSET, V(FETCH), NULL },
	{ "a1 FETCH \"1\" FLAGS", IMAP_CMD_E_SEQSET, V(FETCH), NULL },
	{ "a1 FETCH $ FLAGS", OK, V(FETCH), NULL },
	{ "a1 FETCH $,1 FLAGS", IMAP_CMD_E_SEQSET, V(FETCH), NULL },
	/* STORE, COPY, MOVE, EXPUNGE */
	{ "A003 STORE 2:4 +FLAGS (\\Deleted)", OK, V(STORE), "A003" },
	{ "a1 STORE 1 FLAGS.SILENT (\\Seen \\Answered $Label1)", OK, V(STORE), NULL },
	{ "a1 UID STORE 7 -FLAGS.SILENT \\Seen \\Flagged", OK, V(STORE), NULL },
	{ "a1 STORE 1:3 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)", OK,
	  V(STORE), NULL },
	{ "a1 STORE 1 FLAGS ()", OK, V(STORE), NULL },
	{ "a1 STORE 1 +FLAGS", IMAP_CMD_E_SYNTAX, V(STORE), NULL },
	{ "a1 STORE 1 *FLAGS (\\Seen)", IMAP_CMD_E_SYNTAX, V(STORE), NULL },
	{ "a1 STORE 1 FLAGS (\\Seen) x", IMAP_CMD_E_SYNTAX, V(STORE), NULL },
	{ "a1 STORE 1 FLAGS (\"x\")", IMAP_CMD_E_SYNTAX, V(STORE), NULL },
	{ "a1 STORE 1 (UNCHANGEDSINCE) FLAGS (\\Seen)", IMAP_CMD_E_SYNTAX, V(STORE), NULL },
	{ "a1 STORE 1 (UNCHANGEDSINCE x) FLAGS (\\Seen)", IMAP_CMD_E_NUMBER, V(STORE), NULL },
	{ "a1 COPY 2:4 MEETING", OK, V(COPY), NULL },
	{ "a1 UID MOVE 42:69 foo", OK, V(MOVE), NULL },
	{ "a1 MOVE 1 \"Gel&APY-schte Elemente\"", OK, V(MOVE), NULL },
	{ "a1 COPY 1", IMAP_CMD_E_SYNTAX, V(COPY), NULL },
	{ "a1 UID EXPUNGE 3000:3002", OK, V(EXPUNGE), NULL },
	{ "a1 UID EXPUNGE", IMAP_CMD_E_SYNTAX, V(EXPUNGE), NULL },
	{ "a1 EXPUNGE 1", IMAP_CMD_E_SYNTAX, V(EXPUNGE), NULL },
	/* ID, COMPRESS */
	{ "a1 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" NIL)", OK, V(ID), NULL },
	{ "a1 ID NIL", OK, V(ID), NULL },
	{ "a1 ID (\"name\")", IMAP_CMD_E_SYNTAX, V(ID), NULL },
	{ "a1 ID", IMAP_CMD_E_SYNTAX, V(ID), NULL },
	{ "a1 COMPRESS DEFLATE", OK, V(COMPRESS), NULL },
	{ "a1 COMPRESS", IMAP_CMD_E_SYNTAX, V(COMPRESS), NULL },
	/* bad octets */
	{ "a1 SELECT INBOX\r\n", IMAP_CMD_E_BAD_CHAR, V(SELECT), NULL },
	{ "a1 SELECT IN\rBOX", IMAP_CMD_E_BAD_CHAR, V(SELECT), NULL },
	{ "a1 SELECT \"IN\nBOX\"", IMAP_CMD_E_BAD_CHAR, V(SELECT), NULL },
	{ "a1 SELECT Entw\xc3\xbcrfe", IMAP_CMD_E_8BIT, V(SELECT), NULL },
	{ "a1 SELECT IN\x7f", IMAP_CMD_E_BAD_CHAR, V(SELECT), NULL },
	{ "a1 SELECT (INBOX", IMAP_CMD_E_SYNTAX, V(SELECT), NULL },
	{ "a1 SELECT INBOX)", IMAP_CMD_E_SYNTAX, V(SELECT), NULL },
	{ "a1 SELECT INBOX\"x\"", IMAP_CMD_E_SYNTAX, V(SELECT), NULL },
	{ "a1 SELECT (a)(b)", IMAP_CMD_E_SYNTAX, V(SELECT), NULL },
};

static void
default_limits(struct imap_cmd_limits *lim)
{
	imap_cmd_limits_default(lim);
	lim->max_literal = 1000;
}

static size_t
case_len(const char *s)
{
	/* rows with an embedded NUL: the literal "a\0b" and "user\0" */
	if (strstr(s, "~{3}\r\na") != NULL)
		return strlen(s) + 2;
	return strlen(s);
}

static void
test_table(void **state)
{
	struct imap_cmd_limits lim;
	struct imap_cmd c;
	size_t i;

	(void)state;
	default_limits(&lim);
	for (i = 0; i < NELEM(cases); i++) {
		const struct cmd_case *t = &cases[i];
		const char *tag = t->tag ? t->tag : "a1";
		enum imap_cmd_err e = imap_cmd_parse(t->line, case_len(t->line), &lim, &c);

		if (e != t->err || c.verb != t->verb)
			print_error("case %zu \"%s\": err %d verb %d\n", i, t->line,
			    (int)e, (int)c.verb);
		assert_int_equal(e, t->err);
		assert_int_equal(c.verb, t->verb);
		if (t->err == IMAP_CMD_E_NO_TAG) {
			assert_null(c.tag.p);
		} else {
			assert_int_equal(c.tag.len, strlen(tag));
			assert_memory_equal(c.tag.p, tag, c.tag.len);
		}
		if (e != IMAP_CMD_OK)
			assert_true(c.nodes == NULL && c.seq.r == NULL && c.mailbox.p == NULL);
		imap_cmd_free(&c);
	}
}

static struct imap_cmd
parse_ok(const char *s)
{
	struct imap_cmd_limits lim;
	struct imap_cmd c;

	enum imap_cmd_err e;

	default_limits(&lim);
	if ((e = imap_cmd_parse(s, strlen(s), &lim, &c)) != IMAP_CMD_OK)
		print_error("\"%s\"\n", s);
	assert_int_equal(e, IMAP_CMD_OK);
	return c;
}

static void
check_set(const struct imap_seqset *s, const uint32_t *pairs, size_t n)
{
	size_t i;

	assert_int_equal(s->n, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(s->r[i].lo, pairs[2 * i]);
		assert_int_equal(s->r[i].hi, pairs[2 * i + 1]);
	}
}

static void
test_seqset(void **state)
{
	static const struct {
		const char *set;
		uint32_t r[8];
		size_t n;
	} sets[] = {
		{ "1", { 1, 1 }, 1 },
		{ "1:*", { 1, IMAP_SEQ_STAR }, 1 },
		{ "*", { IMAP_SEQ_STAR, IMAP_SEQ_STAR }, 1 },
		{ "*:4", { 4, IMAP_SEQ_STAR }, 1 },
		{ "4:2", { 2, 4 }, 1 },
		{ "5,1,3", { 1, 1, 3, 3, 5, 5 }, 3 },
		{ "1,2,3,4", { 1, 4 }, 1 },
		{ "2:4,3:9,20", { 2, 9, 20, 20 }, 2 },
		{ "10:*,1:3,5", { 1, 3, 5, 5, 10, IMAP_SEQ_STAR }, 3 },
		{ "7,*,3:1", { 1, 3, 7, 7, IMAP_SEQ_STAR, IMAP_SEQ_STAR }, 3 },
		{ "1:*,5,9:12", { 1, IMAP_SEQ_STAR }, 1 },
		{ "4294967294,4294967295", { 4294967294u, 4294967295u }, 1 },
	};
	struct imap_cmd_limits lim;
	struct imap_cmd c;
	char line[128];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(sets); i++) {
		snprintf(line, sizeof(line), "a1 UID FETCH %s FLAGS", sets[i].set);
		c = parse_ok(line);
		assert_true(c.uid);
		check_set(&c.seq, sets[i].r, sets[i].n);
		imap_cmd_free(&c);
	}
	c = parse_ok("a1 COPY $ Trash");
	assert_true(c.seq.saved);
	assert_int_equal(c.seq.n, 0);
	imap_cmd_free(&c);

	/* the range limit counts what was sent, before merging */
	default_limits(&lim);
	lim.max_ranges = 3;
	assert_int_equal(imap_cmd_parse("a1 FETCH 1,2,3 FLAGS", 20, &lim, &c), IMAP_CMD_OK);
	imap_cmd_free(&c);
	assert_int_equal(imap_cmd_parse("a1 FETCH 1,2,3,4 FLAGS", 22, &lim, &c),
	    IMAP_CMD_E_TOO_MANY);
	imap_cmd_free(&c);
}

static void
test_fetch(void **state)
{
	struct imap_cmd c;
	const struct imap_fetch_att *a;

	(void)state;
	c = parse_ok("a1 fetch 1 full");
	assert_int_equal(c.fetch.n, 5);
	assert_int_equal(c.fetch.att[0].kind, IMAP_FETCH_FLAGS);
	assert_int_equal(c.fetch.att[3].kind, IMAP_FETCH_ENVELOPE);
	assert_int_equal(c.fetch.att[4].kind, IMAP_FETCH_BODY);
	imap_cmd_free(&c);

	c = parse_ok("a1 UID FETCH 1:* (BODY.PEEK[1.2.HEADER.FIELDS.NOT (\"X-A\" x-b)]"
	    "<10.200> binary[3] BINARY.SIZE[] BODY[2.MIME]) (CHANGEDSINCE 9 VANISHED)");
	assert_int_equal(c.fetch.n, 4);
	a = &c.fetch.att[0];
	assert_int_equal(a->kind, IMAP_FETCH_BODY_SECTION);
	assert_true(a->peek);
	assert_int_equal(a->nparts, 2);
	assert_int_equal(a->part[0], 1);
	assert_int_equal(a->part[1], 2);
	assert_int_equal(a->text, IMAP_SEC_HEADER_FIELDS_NOT);
	assert_int_equal(a->nfields, 2);
	assert_memory_equal(a->fields[0].p, "X-A", 3);
	assert_memory_equal(a->fields[1].p, "x-b", 3);
	assert_true(a->partial);
	assert_int_equal(a->offset, 10);
	assert_int_equal(a->count, 200);
	a = &c.fetch.att[1];
	assert_int_equal(a->kind, IMAP_FETCH_BINARY);
	assert_false(a->peek);
	assert_int_equal(a->nparts, 1);
	assert_int_equal(a->part[0], 3);
	assert_int_equal(c.fetch.att[2].kind, IMAP_FETCH_BINARY_SIZE);
	assert_int_equal(c.fetch.att[2].nparts, 0);
	assert_int_equal(c.fetch.att[3].text, IMAP_SEC_MIME);
	assert_true(c.fetch.changedsince_set && c.fetch.vanished);
	assert_int_equal(c.fetch.changedsince, 9);
	imap_cmd_free(&c);
}

static void
test_store_append_select(void **state)
{
	static const uint32_t known[] = { 41, 211, 214, 541 };
	static const uint32_t mseq[] = { 1, 20 }, muid[] = { 500, 600 };
	struct imap_cmd c;

	(void)state;
	c = parse_ok("a1 UID STORE 1:3 (UNCHANGEDSINCE 320162338) -FLAGS.SILENT "
	    "(\\Deleted \\seen $Junk \\Custom)");
	assert_int_equal(c.store.op, IMAP_STORE_REMOVE);
	assert_true(c.store.silent && c.store.unchangedsince_set);
	assert_int_equal(c.store.unchangedsince, 320162338);
	assert_int_equal(c.store.flags.sys, IMAP_FLAG_DELETED | IMAP_FLAG_SEEN);
	assert_int_equal(c.store.flags.nkw, 2);
	assert_memory_equal(c.store.flags.kw[0].p, "$Junk", 5);
	assert_memory_equal(c.store.flags.kw[1].p, "\\Custom", 7);
	imap_cmd_free(&c);

	c = parse_ok("a1 APPEND \"Entw&APw-rfe\" {5+}\r\nhello");
	assert_string_equal(c.mailbox.p, "Entw\xc3\xbcrfe");
	assert_int_equal(c.nappend, 1);
	assert_int_equal(c.append[0].flags.sys, 0);
	assert_null(c.append[0].date.p);
	imap_cmd_free(&c);

	{
		struct imap_cmd_limits lim;
		static const char m[] = "a1 APPEND inbox (\\Draft) \"14-Jul-2026 02:44:25 -0700\" "
		    "{5+}\r\nhello ~{2}\r\n\0x";

		default_limits(&lim);
		assert_int_equal(imap_cmd_parse(m, sizeof(m) - 1, &lim, &c), IMAP_CMD_OK);
		assert_string_equal(c.mailbox.p, "INBOX");
		assert_int_equal(c.nappend, 2);
		assert_int_equal(c.append[0].flags.sys, IMAP_FLAG_DRAFT);
		assert_int_equal(c.append[0].date.len, 26);
		assert_int_equal(c.append[0].data.len, 5);
		assert_memory_equal(c.append[0].data.p, "hello", 5);
		assert_false(c.append[0].literal8);
		assert_true(c.append[1].literal8);
		assert_null(c.append[1].date.p);
		assert_memory_equal(c.append[1].data.p, "\0x", 2);
		imap_cmd_free(&c);
	}

	c = parse_ok("a1 SELECT INBOX (QRESYNC (67890007 90060115194045000 "
	    "41:211,214:541 (1:20 500:600)))");
	assert_true(c.select.qresync && !c.select.condstore);
	assert_int_equal(c.select.uidvalidity, 67890007);
	assert_int_equal(c.select.modseq, 90060115194045000ull);
	check_set(&c.select.known_uids, known, 2);
	check_set(&c.select.match_seq, mseq, 1);
	check_set(&c.select.match_uids, muid, 1);
	imap_cmd_free(&c);

	c = parse_ok("a1 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"&ZeVnLIqe-/%\") "
	    "RETURN (CHILDREN STATUS (MESSAGES UIDNEXT))");
	assert_int_equal(c.list.opts, IMAP_LIST_SEL_SUBSCRIBED |
	    IMAP_LIST_SEL_RECURSIVEMATCH | IMAP_LIST_RET_CHILDREN | IMAP_LIST_RET_STATUS);
	assert_int_equal(c.status, IMAP_STATUS_MESSAGES | IMAP_STATUS_UIDNEXT);
	assert_int_equal(c.mailbox.len, 0);
	assert_int_equal(c.list.npatterns, 2);
	assert_string_equal(c.list.patterns[1].p, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/%");
	imap_cmd_free(&c);

	c = parse_ok("a1 LOGIN \"a\\\"b\\\\c\" {3}\r\nx y");
	assert_int_equal(c.arg1.len, 5);
	assert_memory_equal(c.arg1.p, "a\"b\\c", 5);
	assert_int_equal(c.arg2.len, 3);
	assert_memory_equal(c.arg2.p, "x y", 3);
	imap_cmd_free(&c);

	c = parse_ok("a1 AUTHENTICATE PLAIN =");
	assert_non_null(c.arg2.p);
	assert_int_equal(c.arg2.len, 0);
	imap_cmd_free(&c);
}

/* Mailbox names as UTF-8 once UTF8=ACCEPT is on (RFC 6855). */
static void
test_utf8(void **state)
{
	struct imap_cmd_limits lim;
	struct imap_cmd c;
	static const char ok[] = "a1 SELECT \"Entw\xc3\xbcrfe\"";
	static const char bad[] = "a1 SELECT \"Entw\xfcrfe\"";

	(void)state;
	default_limits(&lim);
	assert_int_equal(imap_cmd_parse(ok, strlen(ok), &lim, &c), IMAP_CMD_E_MAILBOX);
	assert_true(imap_cmd_err_is_no(IMAP_CMD_E_MAILBOX));
	imap_cmd_free(&c);
	lim.utf8 = true;
	assert_int_equal(imap_cmd_parse(ok, strlen(ok), &lim, &c), IMAP_CMD_OK);
	assert_string_equal(c.mailbox.p, "Entw\xc3\xbcrfe");
	imap_cmd_free(&c);
	assert_int_equal(imap_cmd_parse(bad, strlen(bad), &lim, &c), IMAP_CMD_E_MAILBOX);
	imap_cmd_free(&c);
}

static void
test_limits(void **state)
{
	struct imap_cmd_limits lim;
	struct imap_cmd c;
	char buf[300];

	(void)state;
	default_limits(&lim);
	lim.max_line = 20;
	/* "a1 SELECT " + 10 = 20: fits; one more does not */
	snprintf(buf, sizeof(buf), "a1 SELECT %s", "aaaaaaaaaa");
	assert_int_equal(imap_cmd_parse(buf, strlen(buf), &lim, &c), IMAP_CMD_OK);
	imap_cmd_free(&c);
	snprintf(buf, sizeof(buf), "a1 SELECT %s", "aaaaaaaaaaa");
	assert_int_equal(imap_cmd_parse(buf, strlen(buf), &lim, &c), IMAP_CMD_E_TOO_LONG);
	assert_int_equal(c.verb, IMAP_CMD_SELECT);
	imap_cmd_free(&c);
	/* each line counts alone: a literal's octets are not in it */
	snprintf(buf, sizeof(buf), "a1 LOGIN {30}\r\n%s x", "123456789012345678901234567890");
	assert_int_equal(imap_cmd_parse(buf, strlen(buf), &lim, &c), IMAP_CMD_OK);
	imap_cmd_free(&c);
	lim.max_line = 8192;
	lim.max_command = 20;
	snprintf(buf, sizeof(buf), "a1 SELECT %s", "aaaaaaaaaaa");
	assert_int_equal(imap_cmd_parse(buf, strlen(buf), &lim, &c), IMAP_CMD_E_TOO_LONG);
	imap_cmd_free(&c);

	default_limits(&lim);
	lim.max_depth = 2;
	assert_int_equal(imap_cmd_parse("a1 SEARCH ((a))", 15, &lim, &c), IMAP_CMD_OK);
	imap_cmd_free(&c);
	assert_int_equal(imap_cmd_parse("a1 SEARCH (((a)))", 17, &lim, &c), IMAP_CMD_E_DEPTH);
	imap_cmd_free(&c);
	lim.max_nodes = 3;
	assert_int_equal(imap_cmd_parse("a1 SEARCH a b c", 15, &lim, &c), IMAP_CMD_OK);
	imap_cmd_free(&c);
	assert_int_equal(imap_cmd_parse("a1 SEARCH a b c d", 17, &lim, &c),
	    IMAP_CMD_E_TOO_MANY);
	imap_cmd_free(&c);
	default_limits(&lim);
	lim.max_nonsync = 4;
	assert_int_equal(imap_cmd_parse("a1 LOGIN {4+}\r\nabcd x", 21, &lim, &c), IMAP_CMD_OK);
	imap_cmd_free(&c);
	assert_int_equal(imap_cmd_parse("a1 LOGIN {5+}\r\nabcde x", 22, &lim, &c),
	    IMAP_CMD_E_LITERAL_TOO_BIG);
	imap_cmd_free(&c);
	assert_int_equal(imap_cmd_parse("a1 LOGIN {5}\r\nabcde x", 21, &lim, &c), IMAP_CMD_OK);
	imap_cmd_free(&c);
}

static void
test_literal_helper(void **state)
{
	static const struct {
		const char *line;
		enum imap_cmd_err err;
		bool present, sync, literal8;
		uint64_t size;
	} lc[] = {
		{ "a1 APPEND INBOX {310}", OK, true, true, false, 310 },
		{ "a1 APPEND INBOX (\\Seen) {0+}", OK, true, false, false, 0 },
		{ "a1 APPEND INBOX ~{12}", OK, true, true, true, 12 },
		{ "a1 APPEND INBOX ~{12+}", OK, true, false, true, 12 },
		{ "a1 LOGIN {4}", OK, true, true, false, 4 },
		{ " {4}", OK, true, true, false, 4 },       /* a continuation */
		{ "{4}", OK, true, true, false, 4 },
		{ "a1 SEARCH ({4}", OK, true, true, false, 4 },
		{ "a1 LOGIN \"{4}\"", OK, false, false, false, 0 },
		{ "a1 LOGIN \"a {4}", OK, false, false, false, 0 },
		{ "a1 LOGIN \"a\\\" {4}", OK, false, false, false, 0 },
		{ "a1 LOGIN \"a\\\\\" {4}", OK, true, true, false, 4 },
		{ "a1 LOGIN x{4}", OK, false, false, false, 0 },
		{ "a1 LOGIN {}", OK, false, false, false, 0 },
		{ "a1 LOGIN {+}", OK, false, false, false, 0 },
		{ "a1 LOGIN {x}", OK, false, false, false, 0 },
		{ "a1 LOGIN {4} x", OK, false, false, false, 0 },
		{ "a1 NOOP", OK, false, false, false, 0 },
		{ "}", OK, false, false, false, 0 },
		{ "", OK, false, false, false, 0 },
		{ "a1 APPEND INBOX {1001}", IMAP_CMD_E_LITERAL_TOO_BIG, true, true, false, 1001 },
		{ "a1 APPEND INBOX {1001+}", IMAP_CMD_E_LITERAL_TOO_BIG, true, false, false, 1001 },
		{ "a1 APPEND INBOX {99999999999999999999}", OK, false, false, false, 0 },
	};
	struct imap_cmd_limits lim;
	struct imap_literal l;
	const char *tag;
	size_t i, taglen;

	(void)state;
	default_limits(&lim);
	for (i = 0; i < NELEM(lc); i++) {
		enum imap_cmd_err e = imap_cmd_literal(lc[i].line, strlen(lc[i].line), 0,
		    &lim, &l);

		if (e != lc[i].err || l.present != lc[i].present)
			print_error("literal case %zu \"%s\"\n", i, lc[i].line);
		assert_int_equal(e, lc[i].err);
		assert_int_equal(l.present, lc[i].present);
		assert_int_equal(l.sync, lc[i].sync);
		assert_int_equal(l.literal8, lc[i].literal8);
		assert_int_equal(l.size, lc[i].size);
	}
	/* the whole command: so_far + this line + CRLF + the octets */
	lim.max_command = 100;
	assert_int_equal(imap_cmd_literal("a1 LOGIN {85}", 13, 0, &lim, &l), OK);
	assert_int_equal(imap_cmd_literal("a1 LOGIN {85}", 13, 1, &lim, &l),
	    IMAP_CMD_E_TOO_LONG);
	assert_int_equal(imap_cmd_literal(" {1}", 4, 95, &lim, &l), IMAP_CMD_E_TOO_LONG);
	assert_int_equal(imap_cmd_literal(" {1}", 4, 200, &lim, &l), IMAP_CMD_E_TOO_LONG);
	lim.max_line = 12;
	assert_int_equal(imap_cmd_literal("a1 LOGIN {85}", 13, 0, &lim, &l),
	    IMAP_CMD_E_TOO_LONG);

	assert_true(imap_cmd_tag("A0001 APPEND x {5}", 18, &tag, &taglen));
	assert_int_equal(taglen, 5);
	assert_false(imap_cmd_tag("A0001", 5, &tag, &taglen));
	assert_false(imap_cmd_tag("+ x", 3, &tag, &taglen));
	assert_true(imap_cmd_is_done("done", 4));
	assert_true(imap_cmd_is_done("DONE", 4));
	assert_false(imap_cmd_is_done("DONE ", 5));
	assert_false(imap_cmd_is_done("DON", 3));
}

/*
 * A command assembled as the session does it: each line asked about its
 * literal, the octets appended; every literal size 0..40 in each of
 * three places, and the result parsed.
 */
static void
test_literal_assembly(void **state)
{
	struct imap_cmd_limits lim;
	struct imap_literal l;
	struct imap_cmd c;
	char cmd[512], body[41];
	size_t n, pos, len;

	(void)state;
	default_limits(&lim);
	for (n = 0; n <= 40; n++) {
		for (pos = 0; pos < n; pos++)
			body[pos] = (char)("a\r\n\"(){} \0\\"[pos % 11]);
		for (pos = 0; pos < 3; pos++) {
			const char *pre[] = { "a1 LOGIN ", "a1 APPEND INBOX (\\Seen) ",
			    "a1 UID SEARCH CHARSET UTF-8 SUBJECT " };
			const char *post[] = { " pw", "", " UNSEEN" };
			int k = snprintf(cmd, sizeof(cmd), "%s{%zu}", pre[pos], n);

			len = (size_t)k;
			assert_int_equal(imap_cmd_literal(cmd, len, 0, &lim, &l), OK);
			assert_true(l.present && l.sync && l.size == n);
			memcpy(cmd + len, "\r\n", 2);
			memcpy(cmd + len + 2, body, n);
			len += 2 + n;
			memcpy(cmd + len, post[pos], strlen(post[pos]));
			len += strlen(post[pos]);
			assert_int_equal(imap_cmd_literal(cmd + len - strlen(post[pos]),
			    strlen(post[pos]), len, &lim, &l), OK);
			assert_false(l.present);
			if (pos == 0 && n == 0) {
				/* an empty user name is still an astring */
				assert_int_equal(imap_cmd_parse(cmd, len, &lim, &c), OK);
				imap_cmd_free(&c);
				continue;
			}
			assert_int_equal(imap_cmd_parse(cmd, len, &lim, &c), OK);
			if (pos == 0) {
				assert_int_equal(c.arg1.len, n);
				assert_memory_equal(c.arg1.p, body, n);
			} else if (pos == 1) {
				assert_int_equal(c.append[0].data.len, n);
				assert_memory_equal(c.append[0].data.p, body, n);
			} else {
				assert_int_equal(c.nargs, 5);
			}
			/* cut short anywhere in the literal: a syntax error */
			imap_cmd_free(&c);
			if (n > 0) {
				size_t cut = len - strlen(post[pos]) - 1;

				assert_int_equal(imap_cmd_parse(cmd, cut, &lim, &c),
				    IMAP_CMD_E_SYNTAX);
				imap_cmd_free(&c);
			}
		}
	}
}

/* Every prefix of a table row is parsed without reading past its end
 * (the copy is exactly that long, so ASan would see it). */
static void
test_prefixes(void **state)
{
	struct imap_cmd_limits lim;
	struct imap_cmd c;
	size_t i, k, n;

	(void)state;
	default_limits(&lim);
	for (i = 0; i < NELEM(cases); i++) {
		n = case_len(cases[i].line);
		for (k = 0; k <= n; k++) {
			char *p = malloc(k ? k : 1);

			assert_non_null(p);
			memcpy(p, cases[i].line, k);
			(void)imap_cmd_parse(p, k, &lim, &c);
			imap_cmd_free(&c);
			free(p);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_seqset),
		cmocka_unit_test(test_fetch),
		cmocka_unit_test(test_store_append_select),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_literal_helper),
		cmocka_unit_test(test_literal_assembly),
		cmocka_unit_test(test_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
