#!/usr/bin/env bash
# Before any suite runs: check that every outside tool the tests use can do
# what the tests ask of it, and name the Debian package (a DEPS entry in the
# Makefile) when it cannot. A missing capability must fail here, loudly,
# rather than as a skipped test or a confusing failure deep in a suite.
#
#   tests/preflight.sh [PYTHON]      (default /usr/bin/python3)
set -u
PY=${1:-/usr/bin/python3}
NODE_DIR=${TERN_NODE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.deps/node}
fail=0

bad() {  # bad WHAT PACKAGE
	echo "preflight: FAIL: $1 (install: $2; \`make deps\` does)" >&2
	fail=1
}
ok() { echo "preflight: ok: $1"; }

have() { command -v "$1" >/dev/null 2>&1; }

# Python and the modules the suites import.
if [ -x "$PY" ]; then
	for m in pytest:python3-pytest xdist:python3-pytest-xdist aiosmtpd:python3-aiosmtpd dkim:python3-dkim \
	         dns.resolver:python3-dnspython nacl:python3-nacl; do
		mod=${m%%:*} pkg=${m#*:}
		if "$PY" -c "import $mod" 2>/dev/null; then ok "python $mod"; else bad "$PY cannot import $mod" "$pkg"; fi
	done
else
	bad "$PY missing" python3
fi

# swaks: plain SMTP, TLS (Net::SSLeay is only a Recommends) and AUTH.
if have swaks; then
	sup=$(swaks --support 2>&1)
	grep -q '^=== TLS supported' <<<"$sup" && ok "swaks TLS" || bad "swaks cannot do TLS" libnet-ssleay-perl
	grep -q '^=== Basic AUTH supported' <<<"$sup" && ok "swaks AUTH" || bad "swaks cannot do AUTH" swaks
else
	bad "swaks missing" swaks
fi

# msmtp with its TLS library.
if have msmtp; then
	msmtp --version 2>&1 | grep -qi 'TLS/SSL library: *\(GnuTLS\|OpenSSL\)' \
		&& ok "msmtp TLS" || bad "msmtp has no TLS library" msmtp
else
	bad "msmtp missing" msmtp
fi

# curl speaking SMTP and SMTPS, POP3 and POP3S.
if have curl; then
	v=$(curl -V 2>&1)
	grep -q '^Protocols:.* smtps\b' <<<"$v" && grep -q '^Protocols:.* smtp\b' <<<"$v" \
		&& ok "curl smtp+smtps" || bad "curl lacks smtp/smtps" curl
	grep -q '^Protocols:.* pop3s\b' <<<"$v" && grep -q '^Protocols:.* pop3\b' <<<"$v" \
		&& ok "curl pop3+pop3s" || bad "curl lacks pop3/pop3s" curl
else
	bad "curl missing" curl
fi

# fetchmail with TLS (STLS and POP3S), and getmail6 (its Python 3 core
# with the POP3 and POP3-over-TLS retrievers).
if have fetchmail; then
	fetchmail --version 2>&1 | grep -q '^This is fetchmail release 6\..*+SSL' \
		&& ok "fetchmail TLS" || bad "fetchmail 6 with SSL missing" fetchmail
else
	bad "fetchmail missing" fetchmail
fi
if have getmail && getmail --version 2>&1 | grep -q '^getmail 6\.' &&
   /usr/bin/python3 -c 'from getmailcore.retrievers import SimplePOP3Retriever, SimplePOP3SSLRetriever' 2>/dev/null; then
	ok "getmail6"
else
	bad "getmail 6 (getmail6) missing" getmail6
fi

# openssl s_client and certificate generation.
have openssl && ok "openssl" || bad "openssl missing" openssl

# unbound serving the test zones (the tests run the daemon themselves).
{ have unbound || [ -x /usr/sbin/unbound ]; } && ok "unbound" || bad "unbound missing" unbound

# Dovecot 2.3 with its three protocols (tests/integration/dovecotenv.py
# runs it itself, unprivileged; its configuration is 2.3's syntax).
if [ -x /usr/sbin/dovecot ] && have doveadm; then
	v=$(/usr/sbin/dovecot --version 2>/dev/null)
	case $v in
	2.3.*) ok "dovecot $v" ;;
	*) bad "dovecot is ${v:-unknown}, the tests need 2.3" dovecot-core ;;
	esac
	for p in imap:dovecot-imapd pop3:dovecot-pop3d lmtp:dovecot-lmtpd; do
		[ -x "/usr/lib/dovecot/${p%%:*}" ] && ok "dovecot ${p%%:*}" || bad "dovecot without ${p%%:*}" "${p#*:}"
	done
else
	bad "dovecot or doveadm missing" dovecot-core
fi

# node with nodemailer, installed by `make deps` into .deps/node.
if have node; then
	if (cd "$NODE_DIR" 2>/dev/null && node -e 'require("nodemailer")' 2>/dev/null); then
		ok "node nodemailer"
	else
		bad "nodemailer not installed in $NODE_DIR" "npm install nodemailer"
	fi
else
	bad "node missing" nodejs
fi

# PHP with Symfony Mailer (test_sendmail.py drives sendmail -bs with it).
if have php; then
	if php -r "require '/usr/share/php/Symfony/Component/Mailer/autoload.php';
	    exit(class_exists('Symfony\\Component\\Mailer\\Transport\\SendmailTransport') ? 0 : 1);" 2>/dev/null; then
		ok "php Symfony Mailer"
	else
		bad "php cannot load Symfony Mailer" php-symfony-mailer
	fi
else
	bad "php missing" php-cli
fi

# git send-email (git-email; Mail::Address is only its Recommends).
if have git && git send-email --help >/dev/null 2>&1; then
	if perl -MMail::Address -e 1 2>/dev/null; then
		ok "git send-email"
	else
		bad "git send-email lacks Mail::Address" libmailtools-perl
	fi
else
	bad "git send-email missing" git-email
fi

# clang with libFuzzer and the sanitizer runtimes (the fuzz targets).
if have clang; then
	t=$(mktemp -d)
	printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n){(void)d;(void)n;return 0;}\n' > "$t/f.c"
	if clang -fsanitize=fuzzer,address,undefined -o "$t/f" "$t/f.c" 2>"$t/err" && "$t/f" -runs=1 >/dev/null 2>&1; then
		ok "clang libFuzzer+ASan+UBSan"
	else
		bad "clang cannot build a fuzzer: $(head -c 200 "$t/err")" libclang-rt-14-dev
	fi
	rm -rf "$t"
else
	bad "clang missing" clang
fi

if [ $fail -ne 0 ]; then
	echo "preflight: some tools the tests need are missing; run \`make deps\`" >&2
	exit 1
fi
echo "preflight: every tool the suites use is here"
