"""Outbound ESMTP extensions: what the peer offers in EHLO survives a
refused STARTTLS (RFC 3207 §4: 454 leaves the session in the clear), and
SMTPUTF8 is asked for only when the message needs it (RFC 6531 §3.2): a
non-ASCII envelope address or header; SIZE= goes only to a peer that
offered SIZE. A message that merely came with
SMTPUTF8 goes to a peer without it; one that needs it bounces 5.6.7."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from relayenv import SLOW, make_msg, read_dsn, relay  # noqa: E402,F401  (relay: the fixture)

ALICE = "alice@example.test"
REFUSED = "454 4.7.0 TLS not available due to temporary reason"


def settle(seconds=0.5):
    time.sleep(seconds * min(SLOW, 2))


def routed(relay, domain, ip="127.0.0.2", **peer_kw):
    """A peer at ip and a ternd with a static route for domain to it."""
    p = relay.peer(ip, "mx.%s" % domain, **peer_kw)
    t = relay.ternd(routes=[(domain, "%s:%d" % (ip, relay.port))], resolver=None)
    return p, t


def opts(received):
    return [o.upper() for o in received.mail_options]


def bounced_5_6_7(t, rcpt):
    """rcpt bounced with 5.6.7, and the sender got a DSN saying so."""
    ev = t.wait_event("delivery", to="<%s>" % rcpt)[0]
    assert (ev["status"], ev["dsn"]) == ("bounced", "5.6.7"), ev
    assert "SMTPUTF8" in ev["detail"], ev
    files = t.wait_mail(ALICE)
    dsn = read_dsn(files[-1])
    assert len(dsn.recipients) == 1
    b = dsn.recipients[0]
    # (Read raw: a UTF-8 Final-Recipient is not a str to the email module.)
    assert rcpt.encode() in files[-1].read_bytes()
    assert b["Action"] == "failed" and b["Status"] == "5.6.7", b
    return ev


# ------------------------------------------------- STARTTLS refused ------

def test_starttls_refused_keeps_the_peer_extensions(relay):
    p, t = routed(relay, "notls.example", starttls_reply=REFUSED)
    # 8-bit body: needs 8BITMIME, which the peer offered before STARTTLS.
    body8 = "Gr\u00fc\u00dfe aus K\u00f6ln\r\n"
    t.send(ALICE, "x@notls.example", make_msg(body=body8, msgid="<eight@client.test>"),
           mail_options=["BODY=8BITMIME"])
    got = p.wait_messages(1)[0]
    assert got.msgid == "<eight@client.test>"
    assert got.content.endswith(body8.encode())
    o = opts(got)
    assert "BODY=8BITMIME" in o, o
    assert any(x.startswith("SIZE=") for x in o), o
    ev = t.wait_event("delivery", to="<x@notls.example>")[0]
    assert ev["status"] == "sent", ev
    t.wait_removed(ev["id"])

    # A UTF-8 recipient: needs SMTPUTF8, also offered before STARTTLS.
    rcpt = "j\u00f6rg@notls.example"
    t.send(ALICE, rcpt, make_msg(to=rcpt, body=body8, msgid="<utf8@client.test>"),
           mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    got = p.wait_messages(2)[1]
    assert got.msgid == "<utf8@client.test>"
    assert got.rcpt_tos == [rcpt]
    assert "SMTPUTF8" in opts(got), opts(got)
    ev = t.wait_event("delivery", to="<%s>" % rcpt)[0]
    assert ev["status"] == "sent", ev
    # STARTTLS was asked for, refused, and the mail went in the clear.
    assert p.starttls_seen >= 1
    assert ev.get("tls", "none") == "none", ev
    settle(0.3)
    assert t.mail(ALICE) == [], "a bounce came back"
    assert len(p.snapshot()) == 2


def test_starttls_refused_size_limit_still_applies(relay):
    # SIZE from the EHLO before STARTTLS counts: a message over the
    # peer's limit fails 5.3.4 here, without being sent.
    p, t = routed(relay, "small.example", starttls_reply=REFUSED, size_limit=2000)
    t.send(ALICE, "big@small.example", make_msg(body=("y" * 70 + "\r\n") * 40))
    ev = t.wait_event("delivery", to="<big@small.example>")[0]
    assert (ev["status"], ev["dsn"]) == ("bounced", "5.3.4"), ev
    assert p.starttls_seen >= 1
    assert p.snapshot() == []
    assert p.rcpt_log == [], "the message was offered in spite of SIZE"


def test_no_size_parameter_to_a_peer_without_size(relay):
    # RFC 1870 §5: SIZE= only to a server whose EHLO offered SIZE (an
    # LMTP server such as Dovecot's refuses it with 555 5.5.4).
    p, t = routed(relay, "nosize.example", size_limit=0)
    t.send(ALICE, "x@nosize.example", make_msg(msgid="<nosize@client.test>"))
    got = p.wait_messages(1)[0]
    assert got.msgid == "<nosize@client.test>"
    assert not any(o.startswith("SIZE") for o in opts(got)), opts(got)
    ev = t.wait_event("delivery", to="<x@nosize.example>")[0]
    assert ev["status"] == "sent", ev


# ------------------------------------------------------ SMTPUTF8 need ----

def test_ascii_message_with_smtputf8_goes_to_a_peer_without_it(relay):
    p, t = routed(relay, "plain.example", smtputf8=False)
    msg = make_msg(msgid="<ascii@client.test>", body="plain ASCII\r\n")
    t.send(ALICE, "x@plain.example", msg, mail_options=["SMTPUTF8"])
    got = p.wait_messages(1)[0]
    assert got.msgid == "<ascii@client.test>"
    assert got.content.endswith(msg.split(b"\r\n\r\n", 1)[1])
    assert "SMTPUTF8" not in opts(got), opts(got)
    ev = t.wait_event("delivery", to="<x@plain.example>")[0]
    assert ev["status"] == "sent", ev
    # An 8-bit body needs 8BITMIME only, not SMTPUTF8.
    body8 = "K\u00f6ln\r\n"
    t.send(ALICE, "y@plain.example", make_msg(msgid="<body8@client.test>", body=body8),
           mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    got = p.wait_messages(2)[1]
    assert got.msgid == "<body8@client.test>"
    assert got.content.endswith(body8.encode())
    assert opts(got).count("SMTPUTF8") == 0 and "BODY=8BITMIME" in opts(got), opts(got)
    settle(0.3)
    assert t.mail(ALICE) == [], "a bounce came back"


def test_utf8_recipient_to_a_peer_without_smtputf8_bounces_5_6_7(relay):
    p, t = routed(relay, "plain.example", smtputf8=False)
    rcpt = "j\u00f6rg@plain.example"
    t.send(ALICE, rcpt, make_msg(msgid="<needs@client.test>"), mail_options=["SMTPUTF8"])
    bounced_5_6_7(t, rcpt)
    settle(0.3)
    assert p.snapshot() == [] and p.rcpt_log == []


def test_utf8_header_to_a_peer_without_smtputf8_bounces_5_6_7(relay):
    # ASCII envelope, UTF-8 Subject (RFC 6532): the header needs it.
    p, t = routed(relay, "plain.example", smtputf8=False)
    t.send(ALICE, "x@plain.example", make_msg(subject="Gr\u00fc\u00dfe", msgid="<hdr@client.test>"),
           mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    bounced_5_6_7(t, "x@plain.example")
    settle(0.3)
    assert p.snapshot() == [] and p.rcpt_log == []


def test_utf8_late_in_a_long_header_is_found(relay):
    # A header longer than one 64 KiB read, the UTF-8 field at its end;
    # and the same length all ASCII, with an 8-bit body, goes through.
    p, t = routed(relay, "plain.example", smtputf8=False)
    filler = ["X-Filler-%04d: %s" % (i, "f" * 900) for i in range(90)]
    t.send(ALICE, "x@plain.example",
           make_msg(headers=filler + ["X-Late: sp\u00e4t"], msgid="<late@client.test>"),
           mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    bounced_5_6_7(t, "x@plain.example")
    body8 = "sp\u00e4t\r\n"
    t.send(ALICE, "y@plain.example", make_msg(headers=filler, body=body8, msgid="<long@client.test>"),
           mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    got = p.wait_messages(1)[0]
    assert got.msgid == "<long@client.test>"
    assert got.content.endswith(body8.encode())
    assert "SMTPUTF8" not in opts(got)
    assert p.rcpt_log == ["y@plain.example"]
