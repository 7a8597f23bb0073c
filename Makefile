# tern: the two commands a newcomer needs are `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
# Debian's python3, which has python3-pytest and python3-aiosmtpd.
PYTHON     ?= /usr/bin/python3
FUZZ_SECONDS ?= 2
# make fuzz-long: seconds per target (one CPU-hour each), targets side by
# side (one per core), nice level, and the cap on each kept corpus.
FUZZ_LONG_SECONDS ?= 3600
FUZZ_LONG_PAR ?= 2
FUZZ_LONG_NICE ?= 0
FUZZ_LONG_LEAST ?=
FUZZ_LONG_TOPUP ?=
# pytest-xdist workers for the integration suites: each test starts its
# own ternd on its own ports. Most of a test's time is waiting (on ternd,
# a peer, a timer), so four side by side keep two cores busy: the suites
# took half the time they took with two (docs/testing.md).
TEST_JOBS ?= 4
# make soak: seconds of steady mixed load (make test runs 120 of them).
SOAK_SECONDS ?= 1800

DEPS = build-essential pkg-config meson ninja-build libevent-dev libssl-dev \
       libunbound-dev libcrypt-dev libcmocka-dev python3 python3-pytest \
       python3-aiosmtpd python3-dkim python3-dnspython swaks msmtp curl \
       python3-nacl unbound clang libclang-rt-14-dev openssl libnet-ssleay-perl \
       nodejs libseccomp-dev dovecot-core dovecot-pop3d dovecot-imapd \
       dovecot-lmtpd fetchmail getmail6 python3-pytest-xdist libunistring-dev \
       zlib1g-dev isync python3-spf python3-dnslib python3-authheaders python3-yaml \
       php-cli php-symfony-mailer git git-email libmailtools-perl
# nodemailer (a client the submission tests drive) and imapflow (an IMAP
# client test_imap_clients.py drives) come from the npm registry.
NODEMAILER = nodemailer@6.10.1
IMAPFLOW   = imapflow@2.10.2
NODE_DIR   = $(abspath .deps/node)

# make install: a release build of its own, installed by meson.
PREFIX         ?= /usr/local
SYSCONFDIR     ?= /etc
LOCALSTATEDIR  ?= /var
DESTDIR        ?=
RELEASE_BUILD  ?= build-release
# 1: /usr/sbin/sendmail, /usr/bin/mailq and /usr/bin/newaliases link to
# tern-sendmail (never over another MTA's files).
SENDMAIL_LINKS ?= 0
RELEASE_OPTS = -Dbuildtype=release -Dwerror=true -Dunit_tests=false -Dfuzz=false \
  -Dprefix=$(PREFIX) -Dsysconfdir=$(SYSCONFDIR) -Dlocalstatedir=$(LOCALSTATEDIR)
SENDMAIL_LINK_PATHS = /usr/sbin/sendmail /usr/bin/mailq /usr/bin/newaliases

.PHONY: all deps test-deps preflight build run test unit integration asan fuzz fuzz-long drills bench soak soak-asan clean \
  release install uninstall

all: build

# Installs what is missing (apt-get; sudo when not root).
deps:
	@missing=$$(for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing:" $$missing; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# Started as root, ternd gives up root for this user (run_as).
	@if [ "$$(id -u)" = 0 ] && ! getent passwd tern >/dev/null; then \
	  echo "creating the system user tern"; \
	  useradd --system --user-group --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin tern; \
	fi

# What only the tests need beyond DEPS: nodemailer and imapflow, from the
# npm registry.
# Debian's nodejs has no npm (NodeSource's brings its own).
test-deps: deps
	@command -v npm >/dev/null || { sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends npm; }
	@[ -f $(NODE_DIR)/node_modules/nodemailer/package.json ] || { \
	  echo "installing: $(NODEMAILER) into $(NODE_DIR)"; mkdir -p $(NODE_DIR) && \
	  npm install --prefix $(NODE_DIR) --no-audit --no-fund --silent $(NODEMAILER); }
	@[ -f $(NODE_DIR)/node_modules/imapflow/package.json ] || { \
	  echo "installing: $(IMAPFLOW) into $(NODE_DIR)"; mkdir -p $(NODE_DIR) && \
	  npm install --prefix $(NODE_DIR) --no-audit --no-fund --silent $(IMAPFLOW); }

# Every outside tool the suites use can do what they ask of it.
preflight: test-deps
	TERN_NODE_DIR=$(NODE_DIR) tests/preflight.sh $(PYTHON)

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# First run writes var/ternd.conf, var/users and var/aliases.
run: build
	@echo "tern: SMTP 127.0.0.1:2525, submission 2587 (STARTTLS+AUTH), SMTPS 2465, POP3 2110 (STLS), POP3S 2995, IMAP 2143 (STARTTLS), IMAPS 2993; data in ./var"
	@echo "tern: mail for postmaster@localhost goes to ./var/mail/localhost/postmaster/new/"
	@echo "tern: try: swaks --server 127.0.0.1:2525 --to postmaster@localhost"
	./$(BUILD)/ternd -c var/ternd.conf --init

unit: build
	$(PYTHON) tests/check_layers.py
	meson test -C $(BUILD) --print-errorlogs

integration: build
	TERN_BUILD=$(abspath $(BUILD)) TERN_NODE_DIR=$(NODE_DIR) $(PYTHON) -m pytest -q -n $(TEST_JOBS) \
	  -p no:cacheprovider --basetemp=$(abspath $(BUILD))/pytest-tmp tests/soak tests/integration tests/durability

# The long soak (docs/testing.md, "Drills"): SOAK_SECONDS of mixed load,
# then the audit; samples in $(BUILD)/soak-tmp/test_soak0/samples.csv.
soak: build
	SOAK_SECONDS=$(SOAK_SECONDS) TERN_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -s \
	  -p no:cacheprovider --basetemp=$(abspath $(BUILD))/soak-tmp tests/soak

# The soak under AddressSanitizer and UBSan: no curve is judged (ASan's
# quarantine only grows), LeakSanitizer's check at ternd's exit and any
# sanitizer report in its log fail it. SOAK_SECONDS as for soak.
soak-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  SOAK_SECONDS=$(SOAK_SECONDS) TERN_BUILD=$(abspath $(ASAN_BUILD)) TERN_SANITIZED=1 \
	  $(PYTHON) -m pytest -q -s -p no:cacheprovider \
	  --basetemp=$(abspath $(ASAN_BUILD))/soak-tmp tests/soak

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(ASAN_BUILD) --print-errorlogs
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  TERN_BUILD=$(abspath $(ASAN_BUILD)) TERN_SANITIZED=1 TERN_NODE_DIR=$(NODE_DIR) \
	  $(PYTHON) -m pytest -q -n $(TEST_JOBS) -p no:cacheprovider \
	  --basetemp=$(abspath $(ASAN_BUILD))/pytest-tmp tests/integration

# Each libFuzzer target runs FUZZ_SECONDS from its seed corpus (new inputs
# go to the build dir, never into fuzz/corpus), two at a time (one per
# core). Skipped without clang.
fuzz: deps
	@if ! command -v clang >/dev/null; then echo "fuzz: clang missing, skipped"; exit 0; fi; \
	[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dunit_tests=false \
	  -Db_sanitize=address,undefined -Db_lundef=false >/dev/null; \
	ninja -C $(FUZZ_BUILD) >/dev/null || exit 1; \
	for t in $(FUZZ_BUILD)/fuzz/fuzz_*; do [ -f "$$t" ] && [ -x "$$t" ] && echo "$$t"; done | \
	  FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) xargs -P 2 -n 1 sh -c ' \
	    n=$$(basename $$0); mkdir -p $$FUZZ_BUILD/corpus/$$n; \
	    dict=""; [ -f fuzz/dict/$$n.dict ] && dict="-dict=fuzz/dict/$$n.dict"; \
	    echo "fuzz: $$n for $${FUZZ_SECONDS}s"; \
	    $$0 -max_total_time=$$FUZZ_SECONDS -print_final_stats=0 $$dict \
	      $$FUZZ_BUILD/corpus/$$n fuzz/corpus/$$n > $$FUZZ_BUILD/$$n.log 2>&1 || \
	      { tail -30 $$FUZZ_BUILD/$$n.log; echo "fuzz: $$n FAILED"; exit 255; }' || \
	  { echo "fuzz: FAILED"; exit 1; }

# The drills at full size (docs/testing.md): the fault drill's exhaustive
# walk, every system call of the commit, delivery, DSN and recovery paths
# failed in turn, and the power-loss drill's every crash point (about 15
# minutes together), then the floods: 10,000 idle connections and a
# slowloris of 2,000. make test runs samples of all three.
drills: build
	TERN_DRILL=1 TERN_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -n $(TEST_JOBS) \
	  -p no:cacheprovider --basetemp=$(abspath $(BUILD))/drills-tmp \
	  tests/durability/test_faults.py tests/durability/test_powerloss.py
	TERN_DRILLS=1 TERN_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -s -p no:cacheprovider \
	  --basetemp=$(abspath $(BUILD))/pytest-drills tests/integration/test_floods.py

# The long run, not part of make test: every target FUZZ_LONG_SECONDS
# from its kept corpus plus a work corpus in the build dir, the work
# corpus minimised (-merge=1) into fuzz/corpus/ (at most 300 files / 2 MiB
# a target), findings copied to fuzz/crashes/ (and the run fails), the
# summary in $(FUZZ_BUILD)/fuzz-long.txt, each target's CPU time added to
# fuzz/ledger.tsv (fuzz/fuzz-hours.sh sums it). FUZZ_LONG_LEAST=N: only
# the N targets with the fewest CPU seconds so far; FUZZ_LONG_TOPUP=1: each
# for what it lacks of one CPU-hour. See fuzz/fuzz-long.sh.
fuzz-long: deps
	@command -v clang >/dev/null || { echo "fuzz-long: clang missing"; exit 1; }
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dunit_tests=false \
	  -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	@ninja -C $(FUZZ_BUILD) >/dev/null
	FUZZ_LONG_SECONDS=$(FUZZ_LONG_SECONDS) FUZZ_LONG_PAR=$(FUZZ_LONG_PAR) FUZZ_LONG_NICE=$(FUZZ_LONG_NICE) \
	  FUZZ_LONG_LEAST=$(FUZZ_LONG_LEAST) FUZZ_LONG_TOPUP=$(FUZZ_LONG_TOPUP) fuzz/fuzz-long.sh $(FUZZ_BUILD)
	@fuzz/fuzz-hours.sh

# Everything: unit and integration tests, the same under ASan+UBSan, fuzzers.
test: preflight unit integration asan fuzz

# The build make install installs: -O3, warnings are errors, the paths
# given above compiled in (the configuration ternd reads without -c is
# $(SYSCONFDIR)/tern/ternd.conf, production data in $(LOCALSTATEDIR)/lib/tern).
release: deps
	@if [ -f $(RELEASE_BUILD)/build.ninja ]; then meson configure $(RELEASE_BUILD) $(RELEASE_OPTS); \
	else meson setup $(RELEASE_BUILD) $(RELEASE_OPTS); fi
	ninja -C $(RELEASE_BUILD)

# ternd and ternctl in $(PREFIX)/sbin, man pages, the systemd unit, the
# sysusers.d and tmpfiles.d snippets, a sample configuration and the
# operations guide (docs/operations.md). Writes no configuration and
# starts nothing.
install: release
	meson install -C $(RELEASE_BUILD) --no-rebuild $(if $(DESTDIR),--destdir "$(DESTDIR)")
	@if [ "$(SENDMAIL_LINKS)" = 1 ]; then \
	  target=$(PREFIX)/sbin/tern-sendmail; \
	  [ -x "$(DESTDIR)$$target" ] || { echo "install: no $$target: tern-sendmail is not built here"; exit 1; }; \
	  for l in $(SENDMAIL_LINK_PATHS); do \
	    if [ -e "$(DESTDIR)$$l" ] && [ "$$(readlink "$(DESTDIR)$$l")" != "$$target" ]; then \
	      echo "install: $$l belongs to another MTA: remove it first (apt-get remove postfix)"; exit 1; fi; \
	    mkdir -p "$$(dirname "$(DESTDIR)$$l")" && ln -sfn "$$target" "$(DESTDIR)$$l" && echo "link $$l -> $$target"; \
	  done; \
	fi
	@echo "tern: installed. First start: $(PREFIX)/sbin/ternd --init=production (writes $(SYSCONFDIR)/tern/ternd.conf),"
	@echo "tern: read it, then: systemctl daemon-reload && systemctl enable --now ternd   (docs/operations.md)"

# Removes what make install put there (meson's own list of it); the
# configuration and the data directory stay.
uninstall:
	@[ -f $(RELEASE_BUILD)/build.ninja ] || { echo "uninstall: no $(RELEASE_BUILD): run make install first"; exit 1; }
	@meson introspect $(RELEASE_BUILD) --installed | $(PYTHON) -c 'import json, sys; \
	  print("\n".join(json.load(sys.stdin).values()))' | while read -r f; do \
	  if [ -e "$(DESTDIR)$$f" ] || [ -L "$(DESTDIR)$$f" ]; then rm -f "$(DESTDIR)$$f" && echo "removed $(DESTDIR)$$f"; fi; \
	done
	@for l in $(SENDMAIL_LINK_PATHS); do \
	  [ "$$(readlink "$(DESTDIR)$$l")" = "$(PREFIX)/sbin/tern-sendmail" ] && rm -f "$(DESTDIR)$$l" && echo "removed $(DESTDIR)$$l"; \
	done; true
	@rmdir "$(DESTDIR)$(PREFIX)/share/doc/tern" 2>/dev/null; true
	@echo "tern: left in place: $(SYSCONFDIR)/tern (configuration, users, keys) and $(LOCALSTATEDIR)/lib/tern (queue, mail)"

bench: build
	bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(RELEASE_BUILD)
