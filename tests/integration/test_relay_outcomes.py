"""Outbound delivery outcomes: static routes and smarthost, per-recipient
verdicts, retries, queue lifetime, DSNs (RFC 3461/3464), bounces of
bounces, relay refusal, mail loops, connection reuse and limits, and a
second ternd as the remote MX."""

import os
import smtplib
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from relayenv import SLOW, make_msg, read_dsn, relay, wait_until  # noqa: E402,F401

ALICE = "alice@example.test"
POSTMASTER = "postmaster@example.test"


def settle(seconds=0.5):
    """Gives ternd time to do something it should not do."""
    time.sleep(seconds * min(SLOW, 2))


def routed(relay, domain="peer.example", ip="127.0.0.2", **kw):
    """A peer at ip and a ternd with a static route for domain to it."""
    p = relay.peer(ip, "mx.%s" % domain)
    routes = list(kw.pop("routes", ())) + [(domain, "%s:%d" % (ip, relay.port))]
    t = relay.ternd(routes=routes, resolver=None, **kw)
    return p, t


def only_dsn(t, addr=ALICE, timeout=10):
    files = t.wait_mail(addr, timeout=timeout)
    assert len(files) == 1, files
    return read_dsn(files[0])


# -------------------------------------------------------- routes ---------

def test_static_route_by_address_and_by_name(relay):
    # No MX for either domain: only the routes can get the mail there.
    relay.start_dns(["relayhost.example. A 127.0.0.3"])
    p1 = relay.peer("127.0.0.2", "literal.peer.example")
    p2 = relay.peer("127.0.0.3", "relayhost.example")
    t = relay.ternd(routes=[("lit.example", "127.0.0.2:%d" % relay.port),
                            ("named.example", "relayhost.example:%d" % relay.port)])
    body = "first\r\n.leading dot\r\n..two dots\r\n.\r\nlast\r\n"
    t.send(ALICE, "x@lit.example", make_msg(body=body, msgid="<lit@client.test>"))
    t.send(ALICE, "y@named.example", make_msg(msgid="<named@client.test>"))
    r1 = p1.wait_messages(1)[0]
    r2 = p2.wait_messages(1)[0]
    assert (r1.mail_from, r1.rcpt_tos, r1.msgid) == (ALICE, ["x@lit.example"], "<lit@client.test>")
    assert (r2.mail_from, r2.rcpt_tos, r2.msgid) == (ALICE, ["y@named.example"], "<named@client.test>")
    # Dot-stuffing undone by the peer: the body arrives unchanged.
    assert r1.content.endswith(body.encode()), r1.content
    # Our own trace header is on top.
    assert r1.content.startswith(b"Received: from client.test"), r1.content[:200]
    assert b"by tern-a.test" in r1.content.split(b"\r\n\r\n")[0]
    assert len(t.wait_event("removed", count=2)) == 2


def test_smarthost_takes_all_non_local_mail(relay):
    relay.start_dns(["dns.example. MX 10 mx.dns.example.", "mx.dns.example. A 127.0.0.2"])
    mx = relay.peer("127.0.0.2", "mx.dns.example")
    smart = relay.peer("127.0.0.3", "smarthost.example")
    special = relay.peer("127.0.0.5", "special.example")
    t = relay.ternd(routes=[("*", "127.0.0.3:%d" % relay.port),
                            ("special.example", "127.0.0.5:%d" % relay.port)])
    t.send(ALICE, ["a@dns.example", "b@other.example"], make_msg(msgid="<smart@client.test>"))
    t.send(ALICE, "c@special.example", make_msg(msgid="<special@client.test>"))
    t.send("someone@client.test", ALICE, make_msg(msgid="<local@client.test>"))
    wait_until(lambda: len(smart.snapshot()) >= 2, 10, "two transactions at the smarthost")
    assert special.wait_messages(1)[0].rcpt_tos == ["c@special.example"]
    t.wait_mail(ALICE)
    settle(0.3)
    got = smart.snapshot()
    # One transaction per recipient domain, both to the smarthost.
    assert sorted(r for m in got for r in m.rcpt_tos) == ["a@dns.example", "b@other.example"]
    assert all(m.msgid == "<smart@client.test>" for m in got)
    assert mx.snapshot() == [] and mx.sessions == 0
    assert len(special.snapshot()) == 1
    assert len(t.mail(ALICE)) == 1


def test_address_literal_domain_goes_to_that_address(relay):
    relay.start_dns([])
    p = relay.peer("127.0.0.2", "literal.example")
    t = relay.ternd()
    t.send(ALICE, "x@[127.0.0.2]", make_msg(msgid="<literal@client.test>"))
    d = t.wait_event("delivery", to="<x@[127.0.0.2]>")[0]
    assert d["status"] == "sent", d
    assert [m.msgid for m in p.wait_messages(1)] == ["<literal@client.test>"]


# ------------------------------------------------ per-recipient verdicts --

def test_mixed_recipient_outcomes(relay):
    p, t = routed(relay, "mixed.example")
    p.set_rcpt("rej@mixed.example", "550 5.1.1 rej: no such user here, says the peer")
    p.set_rcpt("later@mixed.example", "450 4.2.1 later: mailbox busy, try again")
    rcpts = ["ok@mixed.example", "rej@mixed.example", "later@mixed.example"]
    t.send(ALICE, rcpts, make_msg(msgid="<mixed@client.test>"))
    first = p.wait_messages(1)[0]
    assert first.rcpt_tos == ["ok@mixed.example"]
    d = {e["to"]: e for e in t.wait_event("delivery", count=3)}
    assert d["<ok@mixed.example>"]["status"] == "sent"
    assert d["<rej@mixed.example>"]["status"] == "bounced"
    assert d["<rej@mixed.example>"]["dsn"] == "5.1.1"
    assert "no such user here" in d["<rej@mixed.example>"]["detail"]
    assert d["<later@mixed.example>"]["status"] == "deferred"
    assert d["<later@mixed.example>"]["dsn"] == "4.2.1"
    qid = d["<ok@mixed.example>"]["id"]

    dsn = only_dsn(t)
    assert dsn.final_recipients() == ["rej@mixed.example"]
    b = dsn.rcpt("rej@mixed.example")
    assert b["Action"] == "failed" and b["Status"] == "5.1.1"
    assert "no such user here, says the peer" in str(b["Diagnostic-Code"])
    assert str(b["Diagnostic-Code"]).lower().startswith("smtp;")
    assert "127.0.0.2" in str(b["Remote-MTA"])
    assert "no such user here" in dsn.text

    # The peer gives in: the deferred one, and only it, is delivered.
    p.set_rcpt("later@mixed.example", None)
    msgs = p.wait_messages(2, timeout=10)
    t.wait_removed(qid)
    settle(0.3)
    msgs = p.snapshot()
    assert [m.rcpt_tos for m in msgs] == [["ok@mixed.example"], ["later@mixed.example"]]
    assert all(m.msgid == "<mixed@client.test>" for m in msgs)
    assert [e["status"] for e in t.deliveries(to="<later@mixed.example>")][-1] == "sent"
    # Still one notification: the delayed recipient asked for none.
    assert len(t.mail(ALICE)) == 1


def test_mail_from_refused_bounces_every_recipient(relay):
    p, t = routed(relay, "picky.example")
    p.mail_reply = "553 5.7.1 senders like you are not welcome"
    t.send(ALICE, ["a@picky.example", "b@picky.example"], make_msg())
    ev = [t.wait_event("delivery", to="<%s@picky.example>" % u)[0] for u in "ab"]
    assert {e["status"] for e in ev} == {"bounced"}
    dsn = only_dsn(t)
    assert dsn.final_recipients() == ["a@picky.example", "b@picky.example"]
    for b in dsn.recipients:
        assert b["Status"] == "5.7.1"
        assert "not welcome" in str(b["Diagnostic-Code"])
    assert p.snapshot() == []


def test_connection_lost_in_data_is_retried(relay):
    p, t = routed(relay, "flaky.example")
    p.drop_in_data = 1
    t.send(ALICE, "f@flaky.example", make_msg(msgid="<flaky@client.test>"))
    d = t.wait_event("delivery", status="deferred")[0]
    assert d["dsn"].startswith("4."), d
    assert [m.msgid for m in p.wait_messages(1)] == ["<flaky@client.test>"]
    t.wait_removed(d["id"])
    assert [e["status"] for e in t.deliveries()] == ["deferred", "sent"]
    assert t.events("dsn") == []


def test_data_refused_bounces_with_the_remote_words(relay):
    p, t = routed(relay, "strict.example")
    p.data_reply = "554 5.6.0 content rejected by strict policy"
    t.send(ALICE, ["a@strict.example", "b@strict.example"], make_msg())
    ev = [t.wait_event("delivery", to="<%s@strict.example>" % u)[0] for u in "ab"]
    assert [(e["status"], e["dsn"]) for e in ev] == [("bounced", "5.6.0")] * 2
    dsn = only_dsn(t)
    assert dsn.final_recipients() == ["a@strict.example", "b@strict.example"]
    for b in dsn.recipients:
        assert "content rejected by strict policy" in str(b["Diagnostic-Code"])


def test_queue_lifetime_expiry_bounces_4_4_7(relay):
    p, t = routed(relay, "slowpoke.example", options={"queue_lifetime": "3s"})
    p.set_rcpt("stuck@slowpoke.example", "451 4.3.2 stuck: system not accepting messages")
    t0 = time.monotonic()
    t.send(ALICE, "stuck@slowpoke.example", make_msg(msgid="<expire@client.test>"))
    b = t.wait_event("delivery", timeout=15, status="bounced")[0]
    # Arrival is kept in whole seconds (the envelope's arrival field), so
    # the 3 s lifetime can run out up to a second early in real time.
    assert time.monotonic() - t0 >= 1.9
    assert b["dsn"] == "4.4.7", b
    # Retried with backoff: after retry_initial (1s), then twice that.
    tries = [float(e["delay"]) for e in t.deliveries(to="<stuck@slowpoke.example>")]
    assert len(tries) == 3, tries
    assert 0.7 <= tries[1] - tries[0] <= 1.8 * SLOW, tries
    assert 1.6 <= tries[2] - tries[1] <= 2.9 * SLOW, tries
    dsn = only_dsn(t)
    r = dsn.rcpt("stuck@slowpoke.example")
    assert r["Action"] == "failed"
    assert r["Status"] == "4.4.7"
    assert "system not accepting messages" in str(r["Diagnostic-Code"])
    t.wait_removed(b["id"])
    assert p.snapshot() == []


# ------------------------------------------------------------- DSNs -------

def test_notify_never_suppresses_the_bounce(relay):
    p, t = routed(relay, "never.example")
    p.set_rcpt("gone@never.example", "550 5.1.1 gone")
    t.send(ALICE, "gone@never.example", make_msg(), rcpt_options=["NOTIFY=NEVER"])
    b = t.wait_event("delivery", status="bounced")[0]
    t.wait_removed(b["id"])
    settle()
    assert t.events("dsn") == []
    assert t.all_mail() == []


def test_notify_success_to_peer_without_dsn_gives_relayed(relay):
    p, t = routed(relay, "nodsn.example")
    t.send(ALICE, "x@nodsn.example", make_msg(msgid="<relayed@client.test>"),
           mail_options=["ENVID=abc+2Bdef"], rcpt_options=["NOTIFY=SUCCESS"])
    got = p.wait_messages(1)[0]
    # aiosmtpd offers no DSN: nothing of it may be passed on.
    assert not any("NOTIFY" in o or "ORCPT" in o for o in got.rcpt_tos)
    dsn = only_dsn(t)
    b = dsn.rcpt("x@nodsn.example")
    assert b["Action"] == "relayed"
    assert b["Status"].startswith("2.")
    assert dsn.per_message["Original-Envelope-Id"] == "abc+def"
    assert "Undelivered" not in dsn.msg["Subject"]


def test_notify_delay_warns_once_then_delivers(relay):
    p, t = routed(relay, "tardy.example", options={"delay_warning": "1s", "retry_max": "1s"})
    p.set_rcpt("t@tardy.example", "450 4.2.0 t: come back later")
    t.send(ALICE, "t@tardy.example", make_msg(msgid="<tardy@client.test>"),
           rcpt_options=["NOTIFY=DELAY,FAILURE"])
    dsn = only_dsn(t, timeout=10)
    b = dsn.rcpt("t@tardy.example")
    assert b["Action"] == "delayed"
    assert b["Status"].startswith("4.")
    assert "come back later" in str(b["Diagnostic-Code"])
    p.set_rcpt("t@tardy.example", None)
    assert p.wait_messages(1)[0].msgid == "<tardy@client.test>"
    q = t.wait_event("delivery", status="sent", to="<t@tardy.example>")[0]
    t.wait_removed(q["id"])
    settle()
    assert len(t.mail(ALICE)) == 1


def test_ret_hdrs_returns_only_the_header(relay):
    p, t = routed(relay, "hdrs.example")
    p.set_rcpt("no@hdrs.example", "550 5.2.1 mailbox disabled")
    body = "SECRET BODY TEXT\r\n"
    t.send(ALICE, "no@hdrs.example", make_msg(subject="headers only please", body=body),
           mail_options=["RET=HDRS"])
    dsn = only_dsn(t)
    assert dsn.returned is not None
    assert dsn.returned.get_content_type() == "text/rfc822-headers"
    ret = dsn.returned.get_payload()
    assert "Subject: headers only please" in ret
    raw = t.mail(ALICE)[0].read_bytes()
    assert b"SECRET BODY TEXT" not in raw


def test_bounce_from_null_sender_makes_no_dsn(relay):
    p, t = routed(relay, "nul.example")
    p.set_rcpt("rej@nul.example", "550 5.1.1 rej: unknown")
    t.send("", "rej@nul.example", make_msg(sender="MAILER-DAEMON@client.test"))
    b = t.wait_event("delivery", status="bounced")[0]
    assert b["to"] == "<rej@nul.example>"
    t.wait_removed(b["id"])
    settle()
    # Nothing to the (empty) sender; at most a note to the postmaster.
    assert p.snapshot() == [] and p.rcpt_log == ["rej@nul.example"]
    others = [f for f in t.all_mail() if t.maildir(POSTMASTER) not in f.parents]
    assert others == [], others
    for e in t.deliveries():
        assert e["to"] in ("<rej@nul.example>", "<%s>" % POSTMASTER), e
    for f in t.mail(POSTMASTER):
        assert f.read_bytes().startswith(b"Return-Path: <>")


def test_bounce_that_bounces_goes_to_postmaster_only(relay):
    relay.start_dns([])
    p1 = relay.peer("127.0.0.2", "mx.nul.example")
    p2 = relay.peer("127.0.0.3", "mx.far.example")
    t = relay.ternd(routes=[("nul.example", "127.0.0.2:%d" % relay.port),
                            ("far.example", "127.0.0.3:%d" % relay.port)])
    p1.set_rcpt("rej@nul.example", "550 5.1.1 rej: unknown")
    p2.set_rcpt("bob@far.example", "550 5.1.1 bob: gone too")
    t.send("bob@far.example", "rej@nul.example", make_msg(sender="bob@far.example"))
    # The bounce to bob bounces in turn; by the time it leaves the queue
    # the note to the postmaster has been queued (or never will be).
    b = t.wait_event("delivery", to="<bob@far.example>", status="bounced")[0]
    t.wait_removed(b["id"])
    assert len(t.events("dsn")) == 2, t.events("dsn")
    pm = t.wait_mail(POSTMASTER, timeout=3)
    settle(0.3)
    assert len(t.mail(POSTMASTER)) == 1
    dsn = read_dsn(pm[0])
    b = dsn.rcpt("bob@far.example")
    assert b["Action"] == "failed" and b["Status"] == "5.1.1"
    assert "bob: gone too" in str(b["Diagnostic-Code"])
    assert t.all_mail() == pm
    assert p1.snapshot() == [] and p2.snapshot() == []
    # Exactly one try at bob: the failed bounce is not bounced again.
    assert p2.rcpt_log == ["bob@far.example"]


# ------------------------------------------------------- relay policy ----

TRICKS = [
    "x@elsewhere.example",
    "X@ELSEWHERE.EXAMPLE",
    "x%elsewhere.example@example.test",
    "x@elsewhere.example@example.test",
    '"x@elsewhere.example"@example.test',
    "@example.test:x@elsewhere.example",
    "x@elsewhere.example.",
    "x@[127.0.0.2]",
]


def _rcpt(s, addr):
    code, msg = s.docmd("RCPT TO:<%s>" % addr)
    return code, msg.decode(errors="replace")


def test_no_relay_networks_means_no_relaying(relay):
    relay.start_dns(["elsewhere.example. A 127.0.0.2"])
    p = relay.peer("127.0.0.2", "elsewhere.example")
    t = relay.ternd(relay_networks=None)
    with t.smtp() as s:
        # (A sender outside our domains: reject_own_domain_sender.)
        assert s.docmd("MAIL FROM:<someone@example.org>")[0] == 250
        for addr in TRICKS:
            code, msg = _rcpt(s, addr)
            assert 500 <= code < 600, (addr, code, msg)
        code, msg = _rcpt(s, "x@elsewhere.example")
        assert code == 550 and msg.startswith("5.7.1"), msg
        assert "Relay access denied" in msg
        # Its own domains it still takes.
        assert _rcpt(s, ALICE)[0] == 250
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        t.send("", "x@elsewhere.example", make_msg())
    settle(0.3)
    assert p.snapshot() == [] and p.sessions == 0


def test_relay_only_from_relay_networks(relay):
    p, t = routed(relay, "elsewhere.example", relay_networks="127.0.0.1/32")
    with t.smtp(source="127.0.0.5") as s:
        assert s.docmd("MAIL FROM:<someone@example.org>")[0] == 250
        for addr in TRICKS:
            code, msg = _rcpt(s, addr)
            assert 500 <= code < 600, (addr, code, msg)
        code, msg = _rcpt(s, "x@elsewhere.example")
        assert code == 550 and msg.startswith("5.7.1"), msg
        assert _rcpt(s, ALICE)[0] == 250
    # From inside the network the same recipient is fine.
    t.send(ALICE, "x@elsewhere.example", make_msg(msgid="<inside@client.test>"))
    assert [m.msgid for m in p.wait_messages(1)] == ["<inside@client.test>"]
    settle(0.3)
    assert len(p.snapshot()) == 1


# ------------------------------------------------------------ loops ------

def _received(n):
    return ["Received: from hop%d.example (hop%d.example [192.0.2.%d])\r\n\tby hop%d.example; "
            "Mon, 01 Jan 2024 00:00:%02d +0000" % (i, i, i % 250 + 1, i + 1, i % 60) for i in range(n)]


def test_too_many_received_headers_is_a_loop(relay):
    p, t = routed(relay, "far.example")
    with pytest.raises(smtplib.SMTPDataError) as ei:
        t.send(ALICE, "x@far.example", make_msg(headers=_received(101)))
    assert ei.value.smtp_code == 554
    assert ei.value.smtp_error.decode().startswith("5.4.6"), ei.value.smtp_error
    assert "Received" in ei.value.smtp_error.decode()
    settle(0.3)
    assert t.events("queued") == [] and p.snapshot() == []


def test_received_headers_at_the_limit_pass(relay):
    p, t = routed(relay, "far.example")
    # At the limit it still passes, with one more on top.
    t.send(ALICE, "x@far.example", make_msg(headers=_received(100), msgid="<hops@client.test>"))
    got = p.wait_messages(1)[0]
    assert got.msgid == "<hops@client.test>"
    assert len(got.msg.get_all("Received")) == 101
    settle(0.3)
    assert len(p.snapshot()) == 1


def test_mx_pointing_back_at_us_bounces_5_4_6(relay):
    relay.start_dns(["self.example. MX 10 mx.self.example.", "mx.self.example. A 127.0.0.1"])
    t = relay.ternd()
    t.send(ALICE, "x@self.example", make_msg(msgid="<selfloop@client.test>"))
    b = t.wait_event("delivery", status="bounced")[0]
    assert b["dsn"] == "5.4.6", b
    assert "loops back to myself" in b["detail"]
    dsn = only_dsn(t)
    r = dsn.rcpt("x@self.example")
    assert r["Action"] == "failed" and r["Status"] == "5.4.6"
    assert "loops back to myself" in str(r["Diagnostic-Code"]) or "loops back to myself" in dsn.text
    # The loop check refused before any transaction: nothing was queued
    # back to ourselves for x@self.example.
    assert len(t.events("queued")) == 1


def test_forwarding_loop_between_two_ternds_ends(relay):
    relay.start_dns([])
    # A lower hop limit than the default 100, for speed.
    opts = {"max_received_headers": "20"}
    a = relay.ternd("a", routes=[("loop.example", "127.0.0.4:%d" % relay.port)], options=opts)
    b = relay.ternd("b", ip="127.0.0.4", domains=("b.example",), users=("postmaster@b.example",),
                    routes=[("loop.example", "127.0.0.1:%d" % relay.port),
                            ("example.test", "127.0.0.1:%d" % relay.port)], options=opts)
    a.send(ALICE, "x@loop.example", make_msg(msgid="<pingpong@client.test>"))
    bounced = wait_until(lambda: a.deliveries(status="bounced") + b.deliveries(status="bounced"),
                         30, "the loop to be detected")
    assert bounced[0]["dsn"] == "5.4.6", bounced
    dsn = only_dsn(a, timeout=15)
    r = dsn.rcpt("x@loop.example")
    assert r["Status"] == "5.4.6"
    assert "Received" in str(r["Diagnostic-Code"])
    settle(0.5)
    # It stopped: no further hops, and no notification for anybody else.
    n = len(a.events("queued")) + len(b.events("queued"))
    settle(0.5)
    assert len(a.events("queued")) + len(b.events("queued")) == n
    assert 15 <= n <= 25, n
    assert len(a.mail(ALICE)) == 1
    assert b.all_mail() == []


# ------------------------------------------------- connections ------------

def test_connection_reuse(relay):
    p, t = routed(relay, "reuse.example")
    n = 20
    for i in range(n):
        t.send(ALICE, "r@reuse.example", make_msg(subject="reuse %d" % i, msgid="<reuse%d@client.test>" % i))
        t.wait_event("removed", count=i + 1)
    got = p.snapshot()
    assert [m.msgid for m in got] == ["<reuse%d@client.test>" % i for i in range(n)]
    assert p.sessions <= 2, p.sessions
    assert p.max_active <= 2, p.max_active


def test_connection_reuse_over_one_burst(relay):
    p, t = routed(relay, "burst.example")
    with t.smtp() as s:
        for i in range(20):
            s.sendmail(ALICE, ["b@burst.example"], make_msg(msgid="<burst%d@client.test>" % i))
    got = p.wait_messages(20)
    assert sorted(m.msgid for m in got) == sorted("<burst%d@client.test>" % i for i in range(20))
    assert p.sessions < 20, p.sessions


def test_max_outbound_per_dest(relay):
    p, t = routed(relay, "limited.example", options={"max_outbound_per_dest": "2"})
    p.data_delay = 0.3
    with t.smtp() as s:
        for i in range(8):
            s.sendmail(ALICE, ["l@limited.example"], make_msg(msgid="<lim%d@client.test>" % i))
    got = p.wait_messages(8, timeout=20)
    assert len({m.msgid for m in got}) == 8
    assert p.max_active <= 2, p.max_active
    assert p.sessions <= 2, p.sessions


def test_slow_destination_does_not_hold_up_others(relay):
    """Messages for a destination at its connection limit wait in the
    queue, not in delivery slots: mail for another domain goes at once
    even when more are due for the slow one than there are slots
    (io_threads 1, max_outbound 2: six slots)."""
    relay.start_dns([])
    slow = relay.peer("127.0.0.2", "slow.example")
    fast = relay.peer("127.0.0.3", "fast.example")
    slow.data_delay = 2.0
    t = relay.ternd(routes=[("slow.example", "127.0.0.2:%d" % relay.port),
                            ("fast.example", "127.0.0.3:%d" % relay.port)],
                    options={"io_threads": "1", "max_outbound": "2",
                             "max_outbound_per_dest": "1"})
    with t.smtp() as s:
        for i in range(8):
            s.sendmail(ALICE, ["s%d@slow.example" % i], make_msg(msgid="<slow%d@client.test>" % i))
        start = time.monotonic()
        s.sendmail(ALICE, ["f@fast.example"], make_msg(msgid="<fast@client.test>"))
    fast.wait_messages(1, timeout=10)
    assert time.monotonic() - start < 1.5 * SLOW
    got = slow.wait_messages(8, timeout=60)
    assert len({m.msgid for m in got}) == 8
    assert slow.max_active <= 1, slow.max_active


def test_idle_connections_do_not_starve_other_destinations(relay):
    # One outbound connection in all: the idle one to the first peer must
    # make way for a delivery to the second.
    relay.start_dns([])
    p1 = relay.peer("127.0.0.2", "one.example")
    p2 = relay.peer("127.0.0.3", "two.example")
    t = relay.ternd(routes=[("one.example", "127.0.0.2:%d" % relay.port),
                            ("two.example", "127.0.0.3:%d" % relay.port)],
                    options={"max_outbound": "1", "smtp_idle_timeout": "1s"})
    t.send(ALICE, "x@one.example", make_msg(msgid="<one@client.test>"))
    p1.wait_messages(1)
    t.wait_event("removed")
    t.send(ALICE, "y@two.example", make_msg(msgid="<two@client.test>"))
    # At worst after the idle timeout (1s) and a retry.
    got = p2.wait_messages(1, timeout=3)
    assert got[0].msgid == "<two@client.test>"


# ------------------------------------------------- ternd to ternd ---------

def test_second_ternd_as_remote_mx(relay):
    relay.start_dns(["remote.example. MX 10 mx.remote.example.",
                     "mx.remote.example. A 127.0.0.4"])
    a = relay.ternd("a")
    b = relay.ternd("b", ip="127.0.0.4", domains=("remote.example",),
                    users=("bob@remote.example", "postmaster@remote.example"),
                    routes=[("example.test", "127.0.0.1:%d" % relay.port)])
    body = "Hello Bob.\r\n.\r\n..\r\nBye.\r\n"
    a.send(ALICE, "bob@remote.example", make_msg(body=body, msgid="<a2b@client.test>"),
           mail_options=["ENVID=a2b-env"], rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    f = b.wait_mail("bob@remote.example")
    assert len(f) == 1
    raw = f[0].read_bytes()
    assert raw.startswith(b"Return-Path: <alice@example.test>\r\nDelivered-To: bob@remote.example\r\n")
    assert raw.endswith(body.encode())
    hdrs = raw.split(b"\r\n\r\n")[0]
    assert b"by tern-b.test" in hdrs and b"by tern-a.test" in hdrs
    sent = a.wait_event("delivery", status="sent", to="<bob@remote.example>")[0]
    assert sent["relay"] == "mx.remote.example[127.0.0.4]:%d" % relay.port
    # b speaks DSN, so a passes NOTIFY on and b reports the delivery.
    dsn = only_dsn(a)
    r = dsn.rcpt("bob@remote.example")
    assert r["Action"] == "delivered"
    assert r["Status"].startswith("2.")
    assert dsn.per_message["Reporting-MTA"] == "dns; tern-b.test"
    assert dsn.per_message["Original-Envelope-Id"] == "a2b-env"
    settle()
    assert len(a.mail(ALICE)) == 1


def test_pipelined_verdicts_from_a_ternd_peer(relay):
    # b offers PIPELINING: a sends MAIL, every RCPT and DATA at once and
    # must match each reply to its recipient.
    relay.start_dns([])
    a = relay.ternd("a", routes=[("remote.example", "127.0.0.4:%d" % relay.port)])
    b = relay.ternd("b", ip="127.0.0.4", domains=("remote.example",),
                    users=("bob@remote.example", "carol@remote.example",
                           "postmaster@remote.example"))
    rcpts = ["bob@remote.example", "nobody@remote.example", "carol@remote.example",
             "ghost@remote.example"]
    a.send(ALICE, rcpts, make_msg(msgid="<piped@client.test>"))
    assert len(b.wait_mail("bob@remote.example")) == 1
    assert len(b.wait_mail("carol@remote.example")) == 1
    dsn = only_dsn(a)
    assert dsn.final_recipients() == ["ghost@remote.example", "nobody@remote.example"]
    for addr in ("ghost@remote.example", "nobody@remote.example"):
        r = dsn.rcpt(addr)
        assert r["Status"] == "5.1.1"
        assert "<%s>" % addr in str(r["Diagnostic-Code"])
    # The DSN's file is in alice's Maildir a moment before its delivery
    # is logged (the log line follows the sync): wait for the line.
    want = {"<bob@remote.example>": "sent", "<carol@remote.example>": "sent",
            "<nobody@remote.example>": "bounced", "<ghost@remote.example>": "bounced",
            "<alice@example.test>": "sent"}
    wait_until(lambda: len(a.deliveries()) >= len(want), 10, "every delivery logged")
    ev = {e["to"]: e["status"] for e in a.deliveries()}
    assert ev == want, ev
    settle(0.3)
    assert len(b.all_mail()) == 2


def test_large_body_with_dot_lines_arrives_intact(relay):
    p, t = routed(relay, "big.example")
    # Lines of every length up to 997, each starting with a dot, so that
    # dots fall on every position of the 64 KiB pieces ternd streams.
    lines = ["." + "x" * (i % 997) + ("." if i % 3 == 0 else "") for i in range(800)]
    body = "\r\n".join(lines) + "\r\n"
    assert len(body) > 200000
    t.send(ALICE, "big@big.example", make_msg(body=body, msgid="<big@client.test>"))
    got = p.wait_messages(1)[0]
    assert got.content.endswith(body.encode())
    assert got.content.count(b"\r\n.") == ("\r\n" + body).count("\r\n.")
