"""SMTP AUTH (RFC 4954) on the submission port: offered only under TLS,
PLAIN and LOGIN, refusals and their codes, growing delays after failed
logins, the per-address and per-account limits, and their log lines.
"""
import re
import time

import pytest

from subenv import (ALICE, BOB, PASSWORDS, SubRaw, b64, plain_b64, starttls,  # noqa: F401
                    sub, sub_factory)
from relayenv import parse_log_line
from tern_harness import t


def ehlo_keywords(lines):
    return [l[4:] for l in lines[1:]]


# ---------------------------------------------------------- offered when --

@pytest.mark.parametrize("port_kind", ["submission", "smtp"])
def test_auth_offered_only_after_starttls(sub, port_kind):
    c = SubRaw(sub.sub_port if port_kind == "submission" else sub.port, t(10))
    try:
        c.expect(220)
        before = ehlo_keywords(c.ehlo())
        assert "STARTTLS" in before
        assert not any(k.startswith("AUTH") for k in before), before
        c.cmd_expect("STARTTLS", 220)
        starttls(c)
        after = ehlo_keywords(c.ehlo())
        assert "AUTH PLAIN LOGIN" in after, after
        assert "STARTTLS" not in after
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 235, "2.7.0")
        # Once in, AUTH is no longer offered nor allowed.
        again = ehlo_keywords(c.ehlo())
        assert not any(k.startswith("AUTH") for k in again), again
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 503)
    finally:
        c.close()
    sub.wait_for_log(r"event=auth client=127\.0\.0\.1 user=alice@example\.test")


def test_smtps_offers_auth_at_once(sub):
    c = sub.raw_smtps()
    try:
        kw = ehlo_keywords(c.ehlo())
        assert "AUTH PLAIN LOGIN" in kw and "STARTTLS" not in kw, kw
    finally:
        c.close()


@pytest.mark.parametrize("port_kind", ["submission", "smtp"])
def test_auth_in_cleartext_refused_538(sub, port_kind):
    c = SubRaw(sub.sub_port if port_kind == "submission" else sub.port, t(10))
    try:
        c.expect(220)
        c.ehlo()
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 538, "5.7.11")
        c.cmd_expect("AUTH LOGIN", 538, "5.7.11")
        # No password was looked at: neither success nor failure logged.
        c.cmd_expect("NOOP", 250)
    finally:
        c.close()
    assert sub.log_count(r"event=auth(-failed)? ") == 0


def test_auth_cleartext_loopback_allows_local_cleartext(sub_factory):
    tern = sub_factory(auth_cleartext_loopback="yes")
    c = tern.raw_sub()
    try:
        assert "AUTH PLAIN LOGIN" in ehlo_keywords(c.ehlo())
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 235)
        c.cmd_expect("MAIL FROM:<alice@example.test>", 250)
        c.cmd_expect("RSET", 250)
    finally:
        c.close()


# ---------------------------------------------------------- mechanisms --

def test_plain_interactive_and_authzid(sub):
    c = sub.raw_tls()
    try:
        c.cmd_expect("AUTH PLAIN", 334)
        # authzid equal to the login is fine (RFC 4616 §2).
        c.cmd_expect(plain_b64(BOB, PASSWORDS[BOB], authzid=BOB), 235)
    finally:
        c.close()
    sub.wait_for_log(r"event=auth client=127\.0\.0\.1 user=bob@example\.test")


def test_plain_other_authzid_refused(sub):
    c = sub.raw_tls()
    try:
        code, lines = c.cmd("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE], authzid=BOB))
        assert code in (501, 535), lines
        c.cmd_expect("MAIL FROM:<bob@example.test>", 530)
    finally:
        c.close()


def test_login_interactive_and_initial_response(sub):
    c = sub.raw_tls()
    try:
        assert c.cmd_expect("AUTH LOGIN", 334)[-1] == "334 VXNlcm5hbWU6"   # "Username:"
        assert c.cmd_expect(b64(ALICE), 334)[-1] == "334 UGFzc3dvcmQ6"     # "Password:"
        c.cmd_expect(b64(PASSWORDS[ALICE]), 235)
    finally:
        c.close()
    c = sub.raw_tls()
    try:
        c.cmd_expect("AUTH LOGIN " + b64(BOB), 334)
        c.cmd_expect(b64(PASSWORDS[BOB]), 235)
    finally:
        c.close()


def test_user_name_case_insensitive(sub):
    c = sub.raw_tls()
    try:
        c.cmd_expect("AUTH PLAIN " + plain_b64("Alice@Example.TEST", PASSWORDS[ALICE]), 235)
        c.cmd_expect("MAIL FROM:<alice@example.test>", 250)
    finally:
        c.close()


def test_unknown_mechanism_504(sub):
    c = sub.raw_tls()
    try:
        c.cmd_expect("AUTH CRAM-MD5", 504, "5.5.4")
        c.cmd_expect("AUTH XOAUTH2 dGVzdA==", 504)
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 235)
    finally:
        c.close()


def test_malformed_responses_501_session_goes_on(sub):
    c = sub.raw_tls()
    try:
        c.cmd_expect("AUTH PLAIN !!!notbase64!!!", 501, "5.5.2")
        c.cmd_expect("NOOP", 250)
        c.cmd_expect("AUTH PLAIN", 334)
        c.cmd_expect("abc", 501, "5.5.2")                   # bad length
        c.cmd_expect("NOOP", 250)
        c.cmd_expect("AUTH PLAIN " + b64("no-nul-separators"), 501)
        c.cmd_expect("AUTH LOGIN", 334)
        c.cmd_expect("%%%%", 501, "5.5.2")
        c.cmd_expect("NOOP", 250)
        c.cmd_expect("AUTH LOGIN", 334)
        c.cmd_expect(b64(ALICE), 334)
        c.cmd_expect("====", 501)
        # "*" cancels the exchange (RFC 4954 §4).
        c.cmd_expect("AUTH PLAIN", 334)
        c.cmd_expect("*", 501)
        c.cmd_expect("AUTH LOGIN", 334)
        c.cmd_expect("*", 501)
        c.cmd_expect("NOOP", 250)
        # None of these counted as a failed login: no delay, and AUTH works.
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 235)
    finally:
        c.close()
    assert sub.log_count(r"event=auth-failed ") == 0


def test_auth_after_helo_refused(sub):
    c = sub.raw_tls()
    try:
        c.cmd_expect("HELO client.example.net", 250)
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 503)
        c.ehlo()
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 235)
    finally:
        c.close()


def test_auth_during_transaction_refused(sub_factory):
    tern = sub_factory()
    c = SubRaw(tern.port, t(10))     # the MX port: MAIL before AUTH is allowed
    try:
        c.expect(220)
        c.ehlo()
        c.cmd_expect("STARTTLS", 220)
        starttls(c)
        c.ehlo()
        c.cmd_expect("MAIL FROM:<someone@example.net>", 250)
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 503)
    finally:
        c.close()


# ------------------------------------------------------------- failures --

def timed(c, line):
    t0 = time.monotonic()
    code, lines = c.cmd(line)
    return code, lines, time.monotonic() - t0


def test_wrong_password_535_with_growing_delay(sub):
    c = sub.raw_tls(timeout=30)
    try:
        code, lines, d1 = timed(c, "AUTH PLAIN " + plain_b64(ALICE, "wrong-1"))
        assert code == 535 and "5.7.8" in lines[-1], lines
        # LOGIN failures count the same way.
        c.cmd_expect("AUTH LOGIN", 334)
        c.cmd_expect(b64(BOB), 334)
        code, lines, d2 = timed(c, b64("wrong-2"))
        assert code == 535 and "5.7.8" in lines[-1], lines
        assert d1 >= 0.9, d1
        assert d2 >= 1.9 and d2 > d1, (d1, d2)
        # The right password still works (2 failures < auth_max_failures).
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 235)
    finally:
        c.close()
    fails = sub.wait_for_log(r"event=auth-failed client=127\.0\.0\.1 user=(\S+)", count=2)
    assert fails == [ALICE, BOB]
    # The password is never logged.
    assert "wrong-" not in sub.log and PASSWORDS[ALICE] not in sub.log


def test_unknown_user_fails_like_wrong_password(sub):
    c = sub.raw_tls(timeout=20)
    try:
        code, lines, d = timed(c, "AUTH PLAIN " + plain_b64("nobody@example.test", "x"))
        assert code == 535 and "5.7.8" in lines[-1] and d >= 0.9, (lines, d)
    finally:
        c.close()
    sub.wait_for_log(r"event=auth-failed client=127\.0\.0\.1 user=nobody@example\.test")


def test_commands_pipelined_behind_failed_auth_wait(sub):
    """A NOOP sent right behind a failing AUTH is answered after the
    delayed 535, in order."""
    c = sub.raw_tls(timeout=20)
    try:
        c.send("AUTH PLAIN %s\r\nNOOP\r\n" % plain_b64(ALICE, "wrong"))
        code, lines = c.reply()
        assert code == 535, lines
        code, lines = c.reply()
        assert code == 250, lines
    finally:
        c.close()


def test_too_many_failures_from_address_421(sub_factory):
    tern = sub_factory(auth_max_failures="2")
    c = tern.raw_tls(timeout=30)
    try:
        # Different accounts: the address limit, not an account lockout.
        c.cmd_expect("AUTH PLAIN " + plain_b64("x1@example.test", "bad"), 535)
        c.cmd_expect("AUTH PLAIN " + plain_b64("x3@example.test", "bad"), 421, "4.7.0")
        c.expect_closed()
    finally:
        c.close()
    tern.wait_for_log(r"event=auth-failed client=127\.0\.0\.1 user=x3@example\.test")


def test_address_limit_holds_across_connections(sub_factory):
    """Once an address has had auth_max_failures failed logins, it cannot
    log in for the rest of the window, even with a right password on a new
    connection (else the limit would only close connections, and each later
    guess would get its 421 at once, without the delay)."""
    tern = sub_factory(auth_max_failures="2")
    c = tern.raw_tls(timeout=30)
    try:
        c.cmd_expect("AUTH PLAIN " + plain_b64("x1@example.test", "bad"), 535)
        c.cmd_expect("AUTH PLAIN " + plain_b64("x2@example.test", "bad"), 421)
    finally:
        c.close()
    # Same address, right password for another account, within 15 minutes.
    c = tern.raw_tls(timeout=30)
    try:
        code, lines = c.cmd("AUTH PLAIN " + plain_b64(BOB, PASSWORDS[BOB]))
        assert code in (421, 535), "a blocked address logged in: %r" % lines
    finally:
        c.close()
    # Another address is not affected.
    c = tern.raw_tls(timeout=30, source="127.0.0.5")
    try:
        c.cmd_expect("AUTH PLAIN " + plain_b64(BOB, PASSWORDS[BOB]), 235)
    finally:
        c.close()


def test_account_lockout_from_any_address(sub_factory):
    tern = sub_factory(auth_max_failures="2")
    c = tern.raw_tls(timeout=30)
    try:
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, "bad-1"), 535)
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, "bad-2"), 421)
    finally:
        c.close()
    # Another address, the right password: alice is locked for now.
    c = tern.raw_tls(timeout=30, source="127.0.0.3")
    try:
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 535, "5.7.8")
        c.cmd_expect("MAIL FROM:<alice@example.test>", 530)
    finally:
        c.close()
    tern.wait_for_log(r"event=auth-failed client=127\.0\.0\.3 user=alice@example\.test "
                      r"reason=account-locked")
    # Other accounts are not affected.
    c = tern.raw_tls(timeout=30, source="127.0.0.4")
    try:
        c.cmd_expect("AUTH PLAIN " + plain_b64(BOB, PASSWORDS[BOB]), 235)
    finally:
        c.close()


def test_user_name_cannot_forge_log_lines(sub):
    """The SASL user name is the client's: CR LF, spaces or '=' in it must
    not make a second log line or a second client= field (fail2ban reads
    these lines)."""
    forged = "evil\r\nfake event=auth-failed client=203.0.113.9 user=victim"
    c = sub.raw_tls(timeout=20)
    try:
        c.cmd_expect("AUTH PLAIN " + plain_b64(forged, "pw"), 535)
    finally:
        c.close()
    c = sub.raw_tls(timeout=20, source="127.0.0.7")   # its own delay: 1 s
    try:
        c.cmd_expect("AUTH LOGIN " + b64("x client=203.0.113.10"), 334)
        c.cmd_expect(b64("pw"), 535)
    finally:
        c.close()
    sub.wait_for_log(r"event=auth-failed ", count=2)
    lines = [l for l in sub.log.splitlines() if "203.0.113" in l]
    assert len(lines) == 2, lines
    for l in lines:
        assert re.match(r"\S+ ternd\[\d+\]: sid=\d+ event=auth-failed client=127\.0\.0\.[17] "
                        r"user=\"", l), l
        assert parse_log_line(l)["client"] in ("127.0.0.1", "127.0.0.7"), l
    assert parse_log_line(lines[0])["user"] == forged
    assert parse_log_line(lines[1])["user"] == "x client=203.0.113.10"
