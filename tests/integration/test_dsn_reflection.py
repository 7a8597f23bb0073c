"""Delivery notices as a spam reflector (the security-hardening issue, 2).

An anonymous client on port 25 names a victim as the sender and asks for
a success notice (NOTIFY=SUCCESS) on mail for a local mailbox; a "delivered"
report that returned the whole message would carry its spam to the victim
from our address. So: success and delay notices are never honoured for a
client that neither authenticated nor is in relay_networks, and every
success or delay notice returns the header only, whatever RET says;
failure reports keep RET (docs/architecture.md, Decisions).
"""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from relayenv import SLOW, Dsn, make_msg, read_dsn, relay  # noqa: E402,F401
from subenv import ALICE, BOB, sub_factory  # noqa: E402,F401
from tern_harness import stuff, tern, tern_factory  # noqa: E402,F401

POSTMASTER = "postmaster@example.test"
SPAM = b"BUY CHEAP WATCHES, the body a reflector would carry"


def spam(sender):
    return (b"From: <" + sender.encode() + b">\r\nTo: <postmaster@example.test>\r\n"
            b"Subject: you won\r\n\r\n" + SPAM + b"\r\n")


def quiet(seconds=0.7):
    """Time for ternd to do what it should not."""
    time.sleep(seconds * min(SLOW, 2))


def anonymous_send(tern, sender, rcpt_params, mail_params=""):
    c = tern.raw()
    try:
        c.ehlo()
        code, lines = c.cmd("MAIL FROM:<%s>%s" % (sender, mail_params))
        assert code == 250, lines
        code, lines = c.cmd("RCPT TO:<%s> %s" % (POSTMASTER, rcpt_params))
        assert code == 250, lines
        code, lines = c.cmd("DATA")
        assert code == 354, lines
        c.send(stuff(spam(sender)))
        code, lines = c.reply()
        assert code == 250, lines
        c.cmd("QUIT")
    finally:
        c.close()


@pytest.mark.parametrize("notify", ["NOTIFY=SUCCESS", "NOTIFY=SUCCESS,FAILURE",
                                    "NOTIFY=DELAY,SUCCESS"])
@pytest.mark.parametrize("sender", ["victim@remote.example", "alice@example.test"])
def test_anonymous_success_request_reflects_nothing(tern_factory, sender, notify):
    # relay_networks that do not hold the client: it is a stranger. A
    # forged local sender gets past MAIL only with reject_own_domain_sender
    # off (its default refuses it outright, test_submission_rules.py).
    tern = tern_factory(relay_networks="192.0.2.0/24", reject_own_domain_sender="no")
    anonymous_send(tern, sender, notify, " RET=FULL")
    got, = tern.wait_for_messages("postmaster", 1)
    assert SPAM in got
    tern.wait_for_log(r"event=delivery to=<postmaster@example.test> .*status=sent")
    tern.settle()
    quiet()
    # No notice queued, composed or delivered: not to a remote victim
    # (it would wait in msg/ here, no remote delivery being set up) ...
    assert tern.log_count(r"event=dsn") == 0, tern.log_tail()
    assert tern.queue_files("msg") == []
    # ... nor to a local one.
    assert tern.messages("alice") == []
    assert tern.messages("postmaster") == [got]


def test_anonymous_failure_request_is_kept(tern_factory):
    """NOTIFY=FAILURE from the same client still counts: only success
    and delay notices are dropped, and a delivered message makes none."""
    tern = tern_factory(reject_own_domain_sender="no")
    anonymous_send(tern, "alice@example.test", "NOTIFY=FAILURE")
    tern.wait_for_messages("postmaster", 1)
    tern.settle()
    quiet()
    assert tern.log_count(r"event=dsn") == 0
    assert tern.messages("alice") == []


def check_headers_only(raw, rcpt):
    """A success report for rcpt that returns the header only."""
    dsn = Dsn(raw)
    b = dsn.rcpt(rcpt)
    assert b["Action"] == "delivered"
    assert b["Status"].startswith("2.")
    assert dsn.returned is not None
    assert dsn.returned.get_content_type() == "text/rfc822-headers", dsn.returned.get_content_type()
    assert "Subject: you won" in dsn.returned.get_payload()
    assert SPAM not in raw
    assert b"message/rfc822" not in raw
    return dsn


def test_trusted_client_success_notice_has_headers_only(tern_factory):
    """A relay_networks client may ask for a success notice; it returns
    the header, not the message, even with RET=FULL."""
    tern = tern_factory(relay_networks="127.0.0.0/8")
    anonymous_send(tern, "alice@example.test", "NOTIFY=SUCCESS", " RET=FULL")
    tern.wait_for_messages("postmaster", 1)
    report, = tern.wait_for_messages("alice", 1)
    check_headers_only(report, POSTMASTER)
    assert tern.log_count(r"event=dsn ") == 1


def test_authenticated_success_notice_has_headers_only(sub_factory):
    sub = sub_factory()
    s = sub.submission(ALICE)
    try:
        msg = (b"From: <alice@example.test>\r\nTo: <bob@example.test>\r\n"
               b"Subject: you won\r\nMessage-ID: <succ@client.example.net>\r\n"
               b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\n" + SPAM + b"\r\n")
        s.sendmail(ALICE, [BOB], msg, ["RET=FULL"], ["NOTIFY=SUCCESS"])
    finally:
        s.quit()
    got, = sub.wait_for_messages("bob", 1)
    assert SPAM in got
    report, = sub.wait_for_messages("alice", 1)
    dsn = check_headers_only(report, BOB)
    assert "Message-ID: <succ@client.example.net>" in dsn.returned.get_payload()


def test_delay_notice_has_headers_only(relay):
    p = relay.peer("127.0.0.2", "mx.tardy.example")
    tn = relay.ternd(routes=[("tardy.example", "127.0.0.2:%d" % relay.port)], resolver=None,
                     options={"delay_warning": "1s", "retry_max": "1s"})
    p.set_rcpt("t@tardy.example", "450 4.2.0 t: come back later")
    body = SPAM.decode() + "\r\n"
    tn.send("alice@example.test", "t@tardy.example",
            make_msg(subject="you won", body=body, msgid="<tardy@client.test>"),
            mail_options=["RET=FULL"], rcpt_options=["NOTIFY=DELAY,FAILURE"])
    f, = tn.wait_mail("alice@example.test", timeout=10)
    raw = f.read_bytes()
    dsn = read_dsn(f)
    assert dsn.rcpt("t@tardy.example")["Action"] == "delayed"
    assert dsn.returned.get_content_type() == "text/rfc822-headers"
    assert "Message-ID: <tardy@client.test>" in dsn.returned.get_payload()
    assert SPAM not in raw
    # A failure report still returns the whole message (RET=FULL).
    p.set_rcpt("t@tardy.example", "550 5.1.1 t: gone now")
    f2 = tn.wait_mail("alice@example.test", n=2, timeout=10)[1]
    dsn2 = read_dsn(f2)
    assert dsn2.rcpt("t@tardy.example")["Action"] == "failed"
    assert dsn2.returned.get_content_type() == "message/rfc822"
    assert SPAM in f2.read_bytes()
