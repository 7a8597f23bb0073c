/*
 * test_maildrop: the maildrop file tern-sendmail writes and the pickup
 * reads (a table of files, each with the error it must give), the
 * conversion of a script's input (fed in pieces of every size) and -t's
 * recipients with Bcc removed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/maildrop.h"
#include "proto/smtp_cmd.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* decode(copy of s) with the limits; the error. */
static enum maildrop_err
decode(const char *s, size_t len, uint64_t max_size, size_t max_line, struct maildrop *md,
    char **copy)
{
	*copy = malloc(len + 1);
	assert_non_null(*copy);
	memcpy(*copy, s, len);
	(*copy)[len] = '\0';
	memset(md, 0, sizeof(*md));
	return maildrop_decode(*copy, len, max_size, max_line, md);
}

static void
test_round_trip(void **state)
{
	struct maildrop md = { 0 }, back;
	struct buf out = BUF_INIT;
	static const char msg[] = "Subject: x\r\n\r\nhello\r\n";
	char *copy;

	(void)state;
	md.sender = "www-data@host.example";
	md.fullname = "Web Server";
	md.flags = MAILDROP_F_T | MAILDROP_F_I;
	md.notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE;
	md.ret = SMTP_RET_HDRS;
	md.envid = "abc123";
	assert_int_equal(maildrop_add_rcpt(&md, "alice@example.test"), 0);
	assert_int_equal(maildrop_add_rcpt(&md, "-odd@example.test"), 0);
	md.msg = msg;
	md.msglen = sizeof(msg) - 1;
	assert_int_equal(maildrop_encode(&md, &out), 0);
	assert_string_equal(buf_cstr(&out),
	    "tern-maildrop 1\n"
	    "sender www-data@host.example\n"
	    "fullname Web%20Server\n"
	    "flags ti\n"
	    "notify success,failure\n"
	    "ret hdrs\n"
	    "envid abc123\n"
	    "rcpt alice@example.test\n"
	    "rcpt %2Dodd@example.test\n"
	    "size 21\n"
	    "data\n"
	    "Subject: x\r\n\r\nhello\r\n");
	assert_int_equal(decode(out.data, out.len, 0, 0, &back, &copy), MAILDROP_OK);
	assert_string_equal(back.sender, md.sender);
	assert_string_equal(back.fullname, md.fullname);
	assert_string_equal(back.envid, md.envid);
	assert_int_equal(back.flags, md.flags);
	assert_int_equal(back.notify, md.notify);
	assert_int_equal(back.ret, md.ret);
	assert_int_equal(back.nrcpts, 2);
	assert_string_equal(back.rcpts[1], "-odd@example.test");
	assert_int_equal(back.msglen, md.msglen);
	assert_memory_equal(back.msg, msg, md.msglen);
	/* The limits: the size and the line. */
	maildrop_clear(&back);
	free(copy);
	assert_int_equal(decode(out.data, out.len, 20, 0, &back, &copy), MAILDROP_ESIZE);
	maildrop_clear(&back);
	free(copy);
	assert_int_equal(decode(out.data, out.len, 0, 11, &back, &copy), MAILDROP_ELONG);
	maildrop_clear(&back);
	free(copy);
	assert_int_equal(decode(out.data, out.len, 21, 12, &back, &copy), MAILDROP_OK);
	maildrop_clear(&back);
	free(copy);
	/* What cannot be written. */
	md.fullname = "a\nb";
	buf_reset(&out);
	assert_int_equal(maildrop_encode(&md, &out), -1);
	md.fullname = "";
	md.envid = "has space";
	assert_int_equal(maildrop_encode(&md, &out), -1);
	md.envid = "";
	md.nrcpts = 0;
	assert_int_equal(maildrop_encode(&md, &out), -1);
	maildrop_clear(&md);
	buf_release(&out);
}

static const struct {
	const char *file;
	enum maildrop_err err;
} files[] = {
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 0\ndata\n", MAILDROP_OK },
	{ "tern-maildrop 1\nsender -\nrcpt c@d\nsize 5\ndata\nx\r\n\r\n", MAILDROP_OK },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nrcpt e@f\nsize 3\ndata\nx\r\n", MAILDROP_OK },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 1\ndata\nx", MAILDROP_OK },
	{ "", MAILDROP_EMAGIC },
	{ "tern-maildrop 2\nsender a@b\n", MAILDROP_EMAGIC },
	{ "tern-queue 1\n", MAILDROP_EMAGIC },
	/* Shape and order. */
	{ "tern-maildrop 1\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nrcpt c@d\nsender a@b\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nsender a@b\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nflags t\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 0\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 0\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nrcpt  c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d x\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 0\ndata x\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nuid 0\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a%0Ab\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a%00b\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a%zzb\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nrcpt -\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nfullname -\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nflags x\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nflags tt\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nnotify never,success\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nnotify success,\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nnotify delay\nrcpt c@d\nsize 0\ndata\n", MAILDROP_OK },
	{ "tern-maildrop 1\nsender a@b\nret both\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nenvid %20\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 01\ndata\nx", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize -1\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 99999999999999999999999\ndata\n", MAILDROP_ESYNTAX },
	/* One spelling. */
	{ "tern-maildrop 1\nsender a%3Db\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender %2Da\nrcpt c@d\nsize 0\ndata\n", MAILDROP_OK },
	{ "tern-maildrop 1\nsender -a\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a%20b\nrcpt c@d\nsize 0\ndata\n", MAILDROP_OK },
	{ "tern-maildrop 1\nsender a@b\nflags it\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	{ "tern-maildrop 1\nsender a@b\nnotify failure,success\nrcpt c@d\nsize 0\ndata\n", MAILDROP_ESYNTAX },
	/* Recipients. */
	{ "tern-maildrop 1\nsender a@b\nsize 0\ndata\n", MAILDROP_ERCPTS },
	/* The message. */
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 2\ndata\nx", MAILDROP_ESIZE },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 0\ndata\nx", MAILDROP_ESIZE },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 2\ndata\nx\n", MAILDROP_EEOL },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 2\ndata\nx\r", MAILDROP_EEOL },
	{ "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 3\ndata\n\rx\n", MAILDROP_EEOL },
};

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(files); i++) {
		struct maildrop md;
		char *copy;
		enum maildrop_err e = decode(files[i].file, strlen(files[i].file), 0, 0, &md, &copy);

		if (e != files[i].err)
			fail_msg("row %zu: %s, wanted %s", i, maildrop_strerror(e),
			    maildrop_strerror(files[i].err));
		maildrop_clear(&md);
		free(copy);
	}
}

/* Every prefix of a good file is refused (the pickup never takes half). */
static void
test_prefixes(void **state)
{
	static const char f[] = "tern-maildrop 1\nsender a@b\nrcpt c@d\nsize 5\ndata\nx\r\n\r\n";
	size_t n;

	(void)state;
	for (n = 0; n < sizeof(f) - 1; n++) {
		struct maildrop md;
		char *copy;

		assert_int_not_equal(decode(f, n, 0, 0, &md, &copy), MAILDROP_OK);
		maildrop_clear(&md);
		free(copy);
	}
}

static void
test_too_many_rcpts(void **state)
{
	struct buf f = BUF_INIT;
	struct maildrop md;
	char *copy;
	size_t i;

	(void)state;
	buf_append_str(&f, "tern-maildrop 1\nsender a@b\n");
	for (i = 0; i < MAILDROP_RCPT_MAX; i++)
		buf_printf(&f, "rcpt r%zu@d\n", i);
	buf_append_str(&f, "size 0\ndata\n");
	assert_int_equal(decode(f.data, f.len, 0, 0, &md, &copy), MAILDROP_OK);
	assert_int_equal(md.nrcpts, MAILDROP_RCPT_MAX);
	maildrop_clear(&md);
	free(copy);
	buf_cut(&f, f.len - strlen("size 0\ndata\n"), 100);
	buf_append_str(&f, "rcpt one@more\nsize 0\ndata\n");
	assert_int_equal(decode(f.data, f.len, 0, 0, &md, &copy), MAILDROP_ERCPTS);
	maildrop_clear(&md);
	free(copy);
	buf_release(&f);
}

static const struct {
	const char *in;
	bool dot_ends;
	const char *out;
	bool long_line;
} inputs[] = {
	{ "a\nb\n", true, "a\r\nb\r\n", false },
	{ "a\r\nb", true, "a\r\nb\r\n", false },
	{ "a\rb\r", true, "a\r\nb\r\n", false },
	{ "a\n.\nb\n", true, "a\r\n", false },
	{ "a\r\n.\r\nb\r\n", true, "a\r\n", false },
	{ "a\n.", true, "a\r\n", false },
	{ "a\n.\nb\n", false, "a\r\n.\r\nb\r\n", false },
	{ "a\n..\n.b\n", true, "a\r\n..\r\n.b\r\n", false },
	{ ".\n", true, "", false },
	{ "", true, "", false },
	{ "\n\n", true, "\r\n\r\n", false },
	{ "12345678\n", true, "12345678\r\n", false },
	{ "123456789\n", true, "123456789\r\n", true },
};

static void
test_input(void **state)
{
	size_t i, piece;

	(void)state;
	for (i = 0; i < NELEM(inputs); i++) {
		size_t len = strlen(inputs[i].in);

		for (piece = 1; piece <= len + 1; piece++) {
			struct maildrop_input in;
			struct buf out = BUF_INIT;
			size_t off;

			maildrop_input_init(&in, inputs[i].dot_ends, 10);
			for (off = 0; off < len; off += piece)
				assert_int_equal(maildrop_input_feed(&in, inputs[i].in + off,
				    len - off < piece ? len - off : piece, &out), 0);
			assert_int_equal(maildrop_input_end(&in, &out), 0);
			if (strcmp(buf_cstr(&out), inputs[i].out) != 0)
				fail_msg("row %zu piece %zu: \"%s\"", i, piece, buf_cstr(&out));
			assert_int_equal(in.size, out.len);
			assert_int_equal(in.long_line, inputs[i].long_line);
			buf_release(&out);
		}
	}
}

static int
collect(void *arg, const char *addr)
{
	struct buf *b = arg;

	return buf_printf(b, "[%s]", addr);
}

static const struct {
	const char *msg;
	const char *rcpts;
	const char *out;
	enum maildrop_err err;
} headers[] = {
	{ "To: a@b\r\nSubject: x\r\n\r\nTo: body@x\r\n", "[a@b]",
	  "To: a@b\r\nSubject: x\r\n\r\nTo: body@x\r\n", MAILDROP_OK },
	{ "to: A <a@b>, \"B, b\" <b@c>\r\nCC: c@d (C)\r\nBcc: e@f,\r\n g@h\r\n\r\nbody\r\n",
	  "[a@b][b@c][c@d][e@f][g@h]", "to: A <a@b>, \"B, b\" <b@c>\r\nCC: c@d (C)\r\n\r\nbody\r\n",
	  MAILDROP_OK },
	{ "To: root\r\nCc: undisclosed-recipients:;\r\n\r\n", "[root]",
	  "To: root\r\nCc: undisclosed-recipients:;\r\n\r\n", MAILDROP_OK },
	{ "To: team: x@y, z@w;, last@l\r\n", "[x@y][z@w][last@l]",
	  "To: team: x@y, z@w;, last@l\r\n", MAILDROP_OK },
	{ "To: \"q x\"@b, u@[IPv6:::1]\r\n", "[\"q x\"@b][u@[IPv6:::1]]",
	  "To: \"q x\"@b, u@[IPv6:::1]\r\n", MAILDROP_OK },
	{ "Resent-To: no@x\r\nX-To: no@y\r\nBcc:\r\n\r\n", "", "Resent-To: no@x\r\nX-To: no@y\r\n\r\n",
	  MAILDROP_OK },
	{ "Subject: no header end", "", "Subject: no header end", MAILDROP_OK },
};

static void
test_header_rcpts(void **state)
{
	struct buf long_to = BUF_INIT, r = BUF_INIT, out = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(headers); i++) {
		enum maildrop_err e = maildrop_header_rcpts(headers[i].msg, strlen(headers[i].msg),
		    &out, collect, &r);

		assert_int_equal(e, headers[i].err);
		if (strcmp(buf_cstr(&r), headers[i].rcpts) != 0 ||
		    strcmp(buf_cstr(&out), headers[i].out) != 0)
			fail_msg("row %zu: %s / %s", i, buf_cstr(&r), buf_cstr(&out));
		buf_reset(&r);
		buf_reset(&out);
	}
	buf_append_str(&long_to, "To: ");
	for (i = 0; i < MAILDROP_VALUE_MAX + 1; i++)
		buf_append_char(&long_to, 'a');
	buf_append_str(&long_to, "@b\r\n\r\n");
	assert_int_equal(maildrop_header_rcpts(long_to.data, long_to.len, &out, collect, &r),
	    MAILDROP_ESYNTAX);
	buf_release(&long_to);
	buf_release(&r);
	buf_release(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_too_many_rcpts),
		cmocka_unit_test(test_input),
		cmocka_unit_test(test_header_rcpts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
