"""A hostile next hop: reply text with CR, NUL, escapes, DEL and 8-bit
octets must not reach the DSN tern sends back (a lone CR there would start
a new line in a message tern relays); and a message line with a lone CR
before a dot is dot-stuffed, so that a receiver taking the CR for a line
end cannot read an end of data there (RFC 5321 §4.5.2)."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))

from relayenv import make_msg, read_dsn, relay  # noqa: E402,F401  (relay: the fixture)

ALICE = "alice@example.test"
SPOOF = "MAIL FROM:<spoof@evil.example>"


def routed(relay, domain, ip="127.0.0.2", start=True, **kw):
    p = relay.peer(ip, "mx.%s" % domain, start=start)
    t = relay.ternd(routes=[(domain, "%s:%d" % (ip, relay.port))], resolver=None, **kw)
    return p, t


def assert_clean_message(raw):
    """CRLF only, no control octet but HT, no DEL, no 8-bit octet."""
    assert re.search(rb"\r(?!\n)", raw) is None, "lone CR in %r" % raw
    assert re.search(rb"(?<!\r)\n", raw) is None, "lone LF in %r" % raw
    bad = sorted({b for b in raw if (b < 0x20 and b not in (9, 10, 13)) or b >= 0x7f})
    assert bad == [], "octets %r in %r" % (bad, raw)


def test_hostile_reply_text_is_cleaned_in_the_dsn(relay):
    p, t = routed(relay, "hostile.example")
    reply = ("550 5.1.1 x\r.\r%s\rRCPT TO:<victim@example.test>\x00\x1b[2J\x7f\tend m\u00fcller"
             % SPOOF)
    p.set_rcpt("evil@hostile.example", reply)
    t.send(ALICE, "evil@hostile.example", make_msg(msgid="<hostile@client.test>"))
    ev = t.wait_event("delivery", to="<evil@hostile.example>")[0]
    assert (ev["status"], ev["dsn"]) == ("bounced", "5.1.1"), ev
    assert not re.search(r"[\x00-\x1f\x7f-\U0010ffff]", ev["detail"]), repr(ev["detail"])

    f = t.wait_mail(ALICE)
    assert len(f) == 1
    raw = f[0].read_bytes()
    assert_clean_message(raw)
    dsn = read_dsn(f[0])
    diag = str(dsn.rcpt("evil@hostile.example")["Diagnostic-Code"])
    assert diag.startswith("smtp; 550 5.1.1 x . %s RCPT TO:<victim@example.test>" % SPOOF), diag
    assert "\t" not in diag and diag.endswith("end m??ller"), repr(diag)
    assert ("x . %s" % SPOOF) in dsn.text
    # The spoofed command is text inside one field, never a line of its own.
    assert not any(l.startswith((b"MAIL FROM", b"RCPT TO", b".")) for l in raw.split(b"\r\n")
                   if l != b"."), raw


def test_hostile_multiline_greeting_is_one_line_in_the_dsn(relay):
    # A 554 greeting is worth another host, so it ends in the queue-lifetime
    # DSN as our own words quoting the greeting: one line, cleaned.
    relay.start_dns([])
    rp = relay.raw_peer("127.0.0.2", "554-no service\r\n554-\x1b[1m%s\x00\r\n554 5.3.2 \rgo\x7f away"
                        % SPOOF)
    t = relay.ternd(routes=[("greet.example", "127.0.0.2:%d" % relay.port)],
                    options={"queue_lifetime": "2s"})
    t.send(ALICE, "x@greet.example", make_msg(msgid="<greet@client.test>"))
    b = t.wait_event("delivery", timeout=15, status="bounced")[0]
    assert rp.connections >= 1
    assert b["dsn"] == "4.4.7", b
    f = t.wait_mail(ALICE)
    raw = f[0].read_bytes()
    assert_clean_message(raw)
    diag = str(read_dsn(f[0]).rcpt("x@greet.example")["Diagnostic-Code"])
    assert "greeted with 554 no service  [1m%s  5.3.2  go  away" % SPOOF in diag, repr(diag)


def test_lone_cr_before_a_dot_is_stuffed(relay):
    # tern takes only CRLF from clients, so the lone CR is put into the
    # queued message by hand, as a future path or a bug might.
    p, t = routed(relay, "stuff.example", start=False)
    body = "first\r\nxx.\r\n%s\r\nlast\r\n" % SPOOF
    t.send(ALICE, "s@stuff.example", make_msg(body=body, msgid="<lonecr@client.test>"))
    ev = t.wait_event("delivery", to="<s@stuff.example>", status="deferred")[0]
    assert t.stop() == []
    qf = t.data_dir / "queue" / "msg" / ev["id"]
    data = qf.read_bytes()
    assert data.count(b"xx.\r\n") == 1
    qf.write_bytes(data.replace(b"xx.\r\n", b"x\r.\r\n"))   # same length: trailer still right
    p.start()
    t.start()
    got = p.wait_messages(1)[0]
    assert got.msgid == "<lonecr@client.test>"
    assert got.mail_from == ALICE
    # aiosmtpd unstuffs only after CRLF, so what it keeps is what went on
    # the wire: the dot after the lone CR doubled.
    assert ("first\r\nx\r..\r\n%s\r\nlast\r\n" % SPOOF).encode() in got.content, got.content
    t.wait_event("delivery", to="<s@stuff.example>", status="sent")
    assert len(p.snapshot()) == 1
