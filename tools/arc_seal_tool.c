/*
 * tern-arcseal: seals a message with tern's ARC code (src/policy/
 * arc_seal.h), for the tests that check tern's seals with another
 * implementation (tests/integration/test_arc_dkimpy.py). Not installed.
 *
 *   tern-arcseal KEY.pem DOMAIN SELECTOR AUTHRES [CV] < message > sealed
 *
 * KEY.pem: an RSA or Ed25519 private key (as `ternctl dkim keygen` makes);
 * AUTHRES: the new AAR's payload, "authserv-id; results"; CV: the chain's
 * status on arrival, none (the default), pass or fail. The message (CRLF)
 * is read from stdin, and written to stdout with the new set on top;
 * t= is the time now. Exit status 0, or 1 with the reason on stderr.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "policy/arc.h"
#include "policy/arc_seal.h"
#include "policy/dkim_sign.h"

static int
usage(void)
{
	fprintf(stderr, "usage: tern-arcseal KEY.pem DOMAIN SELECTOR AUTHRES "
	    "[none|pass|fail] < message\n");
	return 1;
}

int
main(int argc, char **argv)
{
	struct dkim_key key;
	struct buf msg = BUF_INIT, set = BUF_INIT, errs = BUF_INIT;
	enum arc_cv cv = ARC_NONE;
	int rc = 1;

	if (argc != 5 && argc != 6)
		return usage();
	if (argc == 6) {
		if (strcmp(argv[5], "pass") == 0)
			cv = ARC_PASS;
		else if (strcmp(argv[5], "fail") == 0)
			cv = ARC_FAIL;
		else if (strcmp(argv[5], "none") != 0)
			return usage();
	}
	if (dkim_key_load(&key, argv[2], argv[3], argv[1], &errs) != 0) {
		fputs(buf_cstr(&errs), stderr);
		buf_release(&errs);
		return 1;
	}
	if (buf_append_stream(&msg, stdin) != 0) {
		fprintf(stderr, "tern-arcseal: reading the message failed\n");
		goto out;
	}
	if (arc_seal(key.domain, key.selector,
	    EVP_PKEY_get_base_id(key.pkey) == EVP_PKEY_ED25519, msg.data ? msg.data : "",
	    msg.len, cv, argv[4], (int64_t)time(NULL), arc_sign_pkey, key.pkey,
	    &set) != 0) {
		fprintf(stderr, "tern-arcseal: not sealed (cv does not fit the message, "
		    "over 50 sets, or a bad argument)\n");
		goto out;
	}
	if (fwrite(set.data, 1, set.len, stdout) != set.len ||
	    (msg.len > 0 && fwrite(msg.data, 1, msg.len, stdout) != msg.len) ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "tern-arcseal: writing failed\n");
		goto out;
	}
	rc = 0;
out:
	dkim_key_release(&key);
	buf_release(&msg);
	buf_release(&set);
	buf_release(&errs);
	return rc;
}
