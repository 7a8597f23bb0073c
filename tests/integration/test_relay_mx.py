"""Outbound delivery through DNS: MX order and fallback, implicit MX, null
MX, NXDOMAIN, SERVFAIL (RFC 5321 §5.1, RFC 7505)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from relayenv import have_ipv6_loopback, make_msg, read_dsn, relay  # noqa: E402,F401  (relay: the fixture)

ALICE = "alice@example.test"

# Two MX hosts at different preferences; the less preferred one first in
# the zone, so that order in the answer does not decide.
PRIO = [
    "prio.example. MX 20 mx2.prio.example.",
    "prio.example. MX 10 mx1.prio.example.",
    "mx1.prio.example. A 127.0.0.2",
    "mx2.prio.example. A 127.0.0.3",
]


def _msgs(n, tag):
    return [make_msg(subject="%s %d" % (tag, i), msgid="<%s-%d@client.test>" % (tag, i))
            for i in range(n)]


def test_mx_preference_order(relay):
    relay.start_dns(PRIO)
    mx1 = relay.peer("127.0.0.2", "mx1.prio.example")
    mx2 = relay.peer("127.0.0.3", "mx2.prio.example")
    t = relay.ternd()
    for m in _msgs(5, "prio"):
        t.send(ALICE, "bob@prio.example", m)
    got = mx1.wait_messages(5)
    t.wait_event("removed", count=5)
    assert len(got) == 5
    assert mx2.snapshot() == [] and mx2.sessions == 0
    for r in got:
        assert r.mail_from == ALICE and r.rcpt_tos == ["bob@prio.example"]
    sent = t.deliveries(status="sent")
    assert len(sent) == 5
    assert all(d["relay"] == "mx1.prio.example[127.0.0.2]:%d" % relay.port for d in sent), sent


def test_first_mx_down_next_receives(relay):
    relay.start_dns(PRIO)
    relay.peer("127.0.0.2", "mx1.prio.example", start=False)
    mx2 = relay.peer("127.0.0.3", "mx2.prio.example")
    t = relay.ternd()
    t.send(ALICE, "bob@prio.example", make_msg(msgid="<down1@client.test>"))
    got = mx2.wait_messages(1)
    assert got[0].msgid == "<down1@client.test>"
    d = t.wait_event("delivery", status="sent")[0]
    assert d["relay"].startswith("mx2.prio.example[127.0.0.3]")
    assert d["dsn"].startswith("2.")
    # A refused connection is not a deferral of the message.
    assert t.deliveries(status="deferred") == []


@pytest.mark.parametrize("greeting", ["554 5.3.2 mx1 does not serve you", "421 4.3.2 mx1 is busy"])
def test_first_mx_refusing_greeting_next_receives(relay, greeting):
    relay.start_dns(PRIO)
    mx1 = relay.raw_peer("127.0.0.2", greeting)
    mx2 = relay.peer("127.0.0.3", "mx2.prio.example")
    t = relay.ternd()
    t.send(ALICE, "bob@prio.example", make_msg(msgid="<greet@client.test>"))
    assert [r.msgid for r in mx2.wait_messages(1)] == ["<greet@client.test>"]
    d = t.wait_event("delivery", status="sent")[0]
    assert d["relay"].startswith("mx2.prio.example[127.0.0.3]")
    assert mx1.connections >= 1
    # Nothing of a transaction was tried at the refusing host.
    assert not any(l.upper().startswith(("EHLO", "HELO", "MAIL")) for l in mx1.lines), mx1.lines
    assert t.deliveries(status="deferred") == [] and t.deliveries(status="bounced") == []


def test_all_mx_down_deferred_then_delivered(relay):
    relay.start_dns(PRIO)
    mx1 = relay.peer("127.0.0.2", "mx1.prio.example", start=False)
    relay.peer("127.0.0.3", "mx2.prio.example", start=False)
    t = relay.ternd()
    t.send(ALICE, "bob@prio.example", make_msg(msgid="<later@client.test>"))
    d = t.wait_event("delivery", status="deferred")[0]
    assert d["dsn"].startswith("4."), d
    assert d["to"] == "<bob@prio.example>"
    assert t.deliveries(status="bounced") == []
    mx1.start()
    got = mx1.wait_messages(1, timeout=10)
    assert [r.msgid for r in got] == ["<later@client.test>"]
    t.wait_event("delivery", status="sent")
    t.wait_event("removed")
    # Deferred, not failed: no notification.
    assert t.events("dsn") == [] and t.mail(ALICE) == []


def test_equal_preference_both_used(relay):
    relay.start_dns([
        "eq.example. MX 10 mxa.eq.example.",
        "eq.example. MX 10 mxb.eq.example.",
        "mxa.eq.example. A 127.0.0.2",
        "mxb.eq.example. A 127.0.0.3",
    ])
    a = relay.peer("127.0.0.2", "mxa.eq.example")
    b = relay.peer("127.0.0.3", "mxb.eq.example")
    t = relay.ternd()
    n = 24
    for i, m in enumerate(_msgs(n, "eq")):
        t.send(ALICE, "bob@eq.example", m)
        # One at a time, so that every message gets its own MX shuffle.
        t.wait_event("removed", count=i + 1)
    na, nb = len(a.snapshot()), len(b.snapshot())
    assert na + nb == n
    # Each gets about half; fewer than 3 of 24 has odds below 1e-4.
    assert na >= 3 and nb >= 3, (na, nb)


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback")
def test_aaaa_tried_before_a(relay):
    relay.start_dns([
        "six.example. MX 10 mx.six.example.",
        "mx.six.example. AAAA ::1",
        "mx.six.example. A 127.0.0.2",
    ])
    v6 = relay.peer("::1", "mx6.six.example")
    v4 = relay.peer("127.0.0.2", "mx4.six.example")
    t = relay.ternd()
    t.send(ALICE, "bob@six.example", make_msg(msgid="<six1@client.test>"))
    assert [r.msgid for r in v6.wait_messages(1)] == ["<six1@client.test>"]
    t.wait_event("removed")
    assert v4.snapshot() == []
    # IPv6 address down: the A record is next.
    v6.stop()
    t.send(ALICE, "bob@six.example", make_msg(msgid="<six2@client.test>"))
    assert [r.msgid for r in v4.wait_messages(1)] == ["<six2@client.test>"]
    t.wait_event("removed", count=2)


def test_unresolvable_mx_host_skipped(relay):
    # The preferred MX host has no address at all (NXDOMAIN): next host.
    relay.start_dns([
        "gap.example. MX 5 ghost.gap.example.",
        "gap.example. MX 10 mx.gap.example.",
        "mx.gap.example. A 127.0.0.3",
    ])
    p = relay.peer("127.0.0.3", "mx.gap.example")
    t = relay.ternd()
    t.send(ALICE, "bob@gap.example", make_msg(msgid="<gap@client.test>"))
    assert [r.msgid for r in p.wait_messages(1)] == ["<gap@client.test>"]
    t.wait_event("delivery", status="sent")


def test_implicit_mx(relay):
    relay.start_dns(["imp.example. A 127.0.0.2"])
    p = relay.peer("127.0.0.2", "imp.example")
    t = relay.ternd()
    t.send(ALICE, "carol@imp.example", make_msg(msgid="<imp@client.test>"))
    got = p.wait_messages(1)
    assert got[0].rcpt_tos == ["carol@imp.example"]
    d = t.wait_event("delivery", status="sent")[0]
    assert d["relay"].startswith("imp.example[127.0.0.2]")


def _bounce_dsn(t, status, rcpt):
    """Waits for the bounce of rcpt; returns the DSN in alice's Maildir."""
    d = t.wait_event("delivery", to="<%s>" % rcpt, status="bounced")[0]
    assert d["dsn"] == status, d
    t.wait_event("dsn")
    files = t.wait_mail(ALICE)
    assert len(files) == 1, files
    dsn = read_dsn(files[0])
    b = dsn.rcpt(rcpt)
    assert b["Action"] == "failed"
    assert b["Status"] == status
    return dsn, d


def test_null_mx_bounces_5_1_10(relay):
    relay.start_dns(["nomail.example. MX 0 ."])
    t = relay.ternd()
    body = "line one\r\n.dot line\r\n"
    t.send(ALICE, "dave@nomail.example", make_msg(subject="to null mx", body=body,
                                                  msgid="<nullmx@client.test>"))
    dsn, d = _bounce_dsn(t, "5.1.10", "dave@nomail.example")
    assert "null MX" in d["detail"]
    raw = t.mail(ALICE)[0].read_bytes()
    # The DSN comes from the null sender, to the original sender.
    assert raw.startswith(b"Return-Path: <>\r\n"), raw[:200]
    assert dsn.msg["To"] == "<%s>" % ALICE
    assert dsn.msg["Auto-Submitted"].startswith("auto-replied")
    assert "Reporting-MTA" in dsn.per_message
    assert "nomail.example" in dsn.text
    # RET=FULL by default: the whole original comes back.
    assert dsn.returned.get_content_type() == "message/rfc822"
    inner = dsn.returned.get_payload()[0]
    assert inner["Message-ID"] == "<nullmx@client.test>"
    assert b".dot line" in raw
    t.wait_removed(d["id"])


def test_nxdomain_bounces_5_1_2(relay):
    relay.start_dns(["other.example. A 127.0.0.2"])
    t = relay.ternd()
    t.send(ALICE, "erin@nowhere.example", make_msg(msgid="<nx@client.test>"))
    dsn, d = _bounce_dsn(t, "5.1.2", "erin@nowhere.example")
    assert "nowhere.example" in d["detail"]
    assert "Diagnostic-Code" in dsn.rcpt("erin@nowhere.example")


def test_servfail_is_deferred_not_bounced(relay):
    relay.start_dns(["ok.example. A 127.0.0.2"], servfail=["broken.example"])
    t = relay.ternd()
    t.send(ALICE, "frank@broken.example", make_msg(msgid="<sf@client.test>"))
    # The first attempt and at least one retry (retry_initial 1s).
    ev = t.wait_event("delivery", count=2, timeout=15, to="<frank@broken.example>")
    for d in ev:
        assert d["status"] == "deferred", d
        assert d["dsn"] == "4.4.3", d
    assert t.deliveries(status="bounced") == []
    assert t.events("dsn") == [] and t.mail(ALICE) == []
    assert t.events("removed") == []
