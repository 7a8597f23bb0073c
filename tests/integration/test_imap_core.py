"""The IMAP session's core with Python's imaplib and raw sockets: logging in, the
state, FETCH, STORE, SEARCH, COPY/MOVE, APPEND, IDLE, and bad input
answered and survived. (The wide real-client suites are test_imap_*.py.)"""
import imaplib
import os
import re
import socket
import ssl
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import relayenv  # noqa: E402
from retrenv import MailTern, deliver_in_order, wait_delivered  # noqa: E402
from subenv import PASSWORDS, instances, no_verify_ctx  # noqa: E402
from tern_harness import t  # noqa: E402

USER = "alice@example.test"


class ImapTern(MailTern):
    port_attrs = MailTern.port_attrs + ("imap_port", "imaps_port")

    def __init__(self, root, extra=(), **kw):
        self.imap_port = relayenv.free_port()
        self.imaps_port = relayenv.free_port()
        super().__init__(root, extra=list(extra) + [
            "listen imap 127.0.0.1:%d" % self.imap_port,
            "listen imaps 127.0.0.1:%d" % self.imaps_port], **kw)

    def imap(self, user=USER, password=None, tls=True):
        c = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=t(10))
        if tls:
            c.starttls(ssl_context=no_verify_ctx())
        if user:
            c.login(user, PASSWORDS[user] if password is None else password)
        return c

    def imaps(self, user=USER):
        c = imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, ssl_context=no_verify_ctx(),
                              timeout=t(10))
        if user:
            c.login(user, PASSWORDS[user])
        return c


@pytest.fixture
def it(tmp_path):
    yield from ((yield_inst) for yield_inst in instances(tmp_path, ImapTern))


def msg(subject, body="hello\r\n", extra=""):
    return ("From: Bob <bob@example.net>\r\nTo: alice@example.test\r\nSubject: %s\r\n"
            "Date: Tue, 1 Dec 2026 07:00:00 +0000\r\nMessage-ID: <%s@example.net>\r\n%s\r\n%s"
            % (subject, subject.replace(" ", "."), extra, body))


def test_login_select_fetch(it):
    inst = it()
    deliver_in_order(inst, USER, [msg("one"), msg("two")])
    c = inst.imap()
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"2"]
    typ, data = c.fetch("1:*", "(UID FLAGS RFC822.SIZE ENVELOPE)")
    assert typ == "OK", data
    typ, data = c.fetch("2", "(BODY.PEEK[])")
    assert typ == "OK"
    body = data[0][1]
    assert body.endswith(b"hello\r\n") and b"Subject: two\r\n" in body
    c.logout()



def raw(inst, tls=False):
    """A raw client: (socket file reader, send function)."""
    s = socket.create_connection(("127.0.0.1", inst.imaps_port if tls else inst.imap_port),
                                 timeout=t(10))
    if tls:
        s = no_verify_ctx().wrap_socket(s, server_hostname="localhost")
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    return s, f


def until_tagged(f, tag):
    """Lines up to and including the one tagged tag."""
    lines = []
    while True:
        line = f.readline()
        assert line, "connection closed; got %r" % lines
        lines.append(line)
        if line.startswith(tag + b" "):
            return lines


def test_logindisabled_until_tls(it):
    inst = it()
    c = inst.imap(user=None, tls=False)
    assert "LOGINDISABLED" in c.capabilities and "STARTTLS" in c.capabilities
    assert "AUTH=PLAIN" not in c.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        c.login(USER, PASSWORDS[USER])
    c.starttls(ssl_context=no_verify_ctx())
    typ, caps = c.capability()
    assert b"AUTH=PLAIN" in caps[0] and b"LOGINDISABLED" not in caps[0]
    assert b"STARTTLS" not in caps[0]
    c.login(USER, PASSWORDS[USER])
    typ, caps = c.capability()
    assert b"UIDPLUS" in caps[0] and b"IMAP4rev2" in caps[0]
    c.logout()


def test_authenticate_plain_and_failure(it):
    inst = it()
    c = inst.imaps(user=None)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.authenticate("PLAIN", lambda _: ("\0%s\0wrong" % USER).encode())
    c.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (USER, PASSWORDS[USER])).encode())
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    # SASL-IR: the initial response on the command line.
    s, f = raw(inst, tls=True)
    import base64
    ir = base64.b64encode(("\0%s\0%s" % (USER, PASSWORDS[USER])).encode())
    s.sendall(b"a AUTHENTICATE PLAIN " + ir + b"\r\n")
    assert until_tagged(f, b"a")[-1].startswith(b"a OK [CAPABILITY ")
    s.close()


def test_starttls_discards_pipelined_plaintext(it):
    inst = it()
    s, f = raw(inst)
    s.sendall(b"a STARTTLS\r\nb LOGIN alice@example.test x\r\n")
    assert f.readline().startswith(b"a OK")
    ts = no_verify_ctx().wrap_socket(s, server_hostname="localhost")
    tf = ts.makefile("rb")
    ts.sendall(b"c NOOP\r\n")
    lines = until_tagged(tf, b"c")
    assert not any(l.startswith(b"b ") for l in lines), lines
    ts.close()


def test_bad_input_session_goes_on(it):
    inst = it(extra=["auth_cleartext_loopback yes"])
    deliver_in_order(inst, USER, [msg("one")])
    s, f = raw(inst)
    s.sendall(b'a LOGIN "alice@example.test" "%s"\r\n' % PASSWORDS[USER].encode())
    assert until_tagged(f, b"a")[-1].startswith(b"a OK")
    s.sendall(b"s SELECT INBOX\r\n")
    assert until_tagged(f, b"s")[-1].startswith(b"s OK [READ-WRITE]")
    cases = [
        (b"\r\n", b"* BAD"),
        (b"b1 FROBNICATE\r\n", b"b1 BAD"),
        (b"b2 FETCH 1:x FLAGS\r\n", b"b2 BAD"),
        (b"b3 FETCH 1 (FLAGS\r\n", b"b3 BAD"),
        (b"b4 FETCH 7 FLAGS\r\n", b"b4 BAD"),
        (b"b5 NOOP \x00\r\n", b"b5 BAD"),
        (b"b6 FETCH 1 " + b"(" * 40 + b"FLAGS" + b")" * 40 + b"\r\n", b"b6 BAD"),
        (b"b7 SEARCH CHARSET KOI9-X TEXT x\r\n", b"b7 NO [BADCHARSET"),
        (b"b8 APPEND INBOX {99999999999}\r\n", b"b8 NO [TOOBIG]"),
        (b"b9 APPEND Nonexistent {3+}\r\nabc\r\n", b"b9 NO [TRYCREATE]"),
        (b"c1 COPY 1 Nowhere\r\n", b"c1 NO [TRYCREATE]"),
        (b"c2 STORE 1 +FLAGS (\\Flagged\r\n", b"c2 BAD"),
        # Over the conn's line limit: dropped up to its LF, answered with
        # its tag all the same.
        (b"c3 " + b"x" * 70000 + b"\r\n", b"c3 BAD [TOOBIG]"),
        (b"c6 NOOP " + b"x" * 9000 + b"\r\n", b"c6 BAD"),
        (b"c4 LOGIN a b\r\n", b"c4 BAD"),
        (b"c5 SELECT Nonexistent\r\n", b"c5 NO [NONEXISTENT]"),
    ]
    for line, want in cases:
        s.sendall(line)
        tag = want.split(b" ")[0]
        if tag == b"*":
            while True:
                got = f.readline()
                if got.startswith(b"* BAD"):
                    break
        else:
            got = until_tagged(f, tag)[-1]
        assert got.startswith(want), (line[:40], got)
    # c5's failed SELECT leaves no folder selected (RFC 9051 §6.3.2).
    s.sendall(b"d FETCH 1 FLAGS\r\n")
    assert until_tagged(f, b"d")[-1].startswith(b"d BAD")
    s.sendall(b"e SELECT INBOX\r\ne2 FETCH 1 (UID)\r\n")
    assert until_tagged(f, b"e2")[-1].startswith(b"e2 OK")
    s.close()


def test_literal_over_appendlimit(it):
    inst = it(extra=["auth_cleartext_loopback yes", "max_message_size 100K"])
    s, f = raw(inst)
    s.sendall(b'a LOGIN "%s" "%s"\r\n' % (USER.encode(), PASSWORDS[USER].encode()))
    caps = until_tagged(f, b"a")[-1]
    assert b"APPENDLIMIT=102400" in caps, caps
    # Synchronizing: refused before the octets come.
    s.sendall(b"b APPEND INBOX {200000}\r\n")
    assert until_tagged(f, b"b")[-1].startswith(b"b NO [TOOBIG]")
    # Non-synchronizing: the octets come anyway and are read past, and
    # what follows is a command again.
    s.sendall(b"c APPEND INBOX {200000+}\r\n" + b"z" * 200000 + b"\r\nd NOOP\r\n")
    assert until_tagged(f, b"c")[-1].startswith(b"c NO [TOOBIG]")
    assert until_tagged(f, b"d")[-1].startswith(b"d OK")
    # Within the limit: accepted.
    body = b"Subject: fits\r\n\r\n" + b"q" * 1000 + b"\r\n"
    s.sendall(b"e APPEND INBOX {%d}\r\n" % len(body))
    assert f.readline().startswith(b"+ ")
    s.sendall(body + b"\r\n")
    assert until_tagged(f, b"e")[-1].startswith(b"e OK [APPENDUID ")
    s.close()


def test_literals_and_append_roundtrip(it):
    inst = it()
    c = inst.imap()
    body = (b"From: a@example.net\r\nSubject: 8bit \xc3\xa9\r\n\r\nline one\r\n\r\n.dot\r\n"
            + b"x" * 5000 + b"\r\nend\r\n")
    typ, data = c.append("INBOX", "(\\Flagged)", '"01-Dec-2026 08:00:00 +0100"', body)
    assert typ == "OK" and b"APPENDUID" in data[0], data
    uid = int(data[0].split()[2].rstrip(b"]"))
    c.select("INBOX")
    typ, data = c.uid("FETCH", str(uid), "(BODY.PEEK[] FLAGS INTERNALDATE RFC822.SIZE)")
    assert data[0][1] == body
    rest = data[0][0] + data[1]
    assert b"\\Flagged" in rest and b"RFC822.SIZE %d" % len(body) in rest, rest
    assert b'INTERNALDATE "01-Dec-2026 ' in rest
    c.logout()


def test_smtp_in_body_out_byte_exact(it):
    inst = it()
    sent = msg("exact", body="a line\r\n\r\nanother .line\r\n..two dots\r\n")
    deliver_in_order(inst, USER, [sent])
    box = inst.maildir(USER)
    stored = next(p for d in ("new", "cur") for p in (box / d).iterdir()).read_bytes()
    c = inst.imap()
    c.select("INBOX")
    typ, data = c.fetch("1", "(BODY[] RFC822.SIZE)")
    got = data[0][1]
    assert got == stored.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert got.endswith(sent.encode())
    rest = data[0][0] + data[1]
    assert b"RFC822.SIZE %d" % len(got) in rest
    # BODY[] (not PEEK) set \Seen, and said so.
    assert b"\\Seen" in rest
    c.logout()


def test_examine_is_read_only(it):
    inst = it()
    deliver_in_order(inst, USER, [msg("ro")])
    c = inst.imap()
    typ, data = c.select("INBOX", readonly=True)
    assert typ == "OK"
    c.fetch("1", "(BODY[])")
    typ, data = c.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = c.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO"
    c.logout()


def test_two_sessions_see_each_other(it):
    inst = it()
    deliver_in_order(inst, USER, [msg("a1"), msg("a2"), msg("a3")])
    a, b = inst.imap(), inst.imap()
    a.select("INBOX")
    b.select("INBOX")
    a.store("2", "+FLAGS", "(\\Flagged)")
    b.noop()
    assert b"\\Flagged" in b.response("FETCH")[1][-1]
    a.store("1", "+FLAGS", "(\\Deleted)")
    a.expunge()
    # b is told only at a command that may renumber: not at a FETCH ...
    typ, data = b.fetch("1:3", "(UID)")
    assert b.response("EXPUNGE")[1] == [None]
    # ... but at NOOP.
    b.noop()
    assert b.response("EXPUNGE")[1] == [b"1"]
    typ, data = b.fetch("1:*", "(UID)")
    assert [re.search(rb"UID (\d+)", d).group(1) for d in data] == [b"2", b"3"]
    # A delivery shows up as EXISTS.
    deliver_in_order(inst, USER, [msg("a4")])
    b.noop()
    assert b.response("EXISTS")[1][-1] == b"3"
    a.logout()
    b.logout()


def test_idle_woken_by_delivery(it):
    inst = it()
    deliver_in_order(inst, USER, [msg("i1")])
    s, f = raw(inst, tls=True)
    s.sendall(b'a LOGIN "%s" "%s"\r\nb SELECT INBOX\r\n' % (USER.encode(), PASSWORDS[USER].encode()))
    until_tagged(f, b"b")
    s.sendall(b"c IDLE\r\n")
    assert f.readline().startswith(b"+ ")
    start = time.monotonic()
    inst.deliver(USER, msg("i2"))
    line = f.readline()
    assert line == b"* 2 EXISTS\r\n", line
    assert time.monotonic() - start < t(3)
    s.sendall(b"DONE\r\n")
    assert until_tagged(f, b"c")[-1].startswith(b"c OK")
    s.sendall(b"d LOGOUT\r\n")
    until_tagged(f, b"d")
    s.close()


def test_big_fetch_in_pieces(it):
    inst = it()
    c = inst.imap()
    big = b"Subject: big\r\n\r\n" + (b"y" * 78 + b"\r\n") * 400
    for i in range(60):
        c.append("INBOX", None, None, big)
    c.select("INBOX")
    typ, data = c.fetch("1:*", "(BODY.PEEK[])")
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    assert len(bodies) == 60 and all(b == big for b in bodies)
    c.logout()


def test_user_session_limit(it):
    inst = it(extra=["imap_max_user_sessions 2"])
    a, b = inst.imap(), inst.imap()
    with pytest.raises(imaplib.IMAP4.error, match="LIMIT"):
        inst.imap()
    a.logout()
    c = inst.imap()
    c.logout()
    b.logout()


def test_status_counts_new_mail(it):
    inst = it()
    deliver_in_order(inst, USER, [msg("s1"), msg("s2")])
    c = inst.imap()
    typ, data = c.status("INBOX", "(MESSAGES UNSEEN UIDNEXT RECENT)")
    assert typ == "OK"
    assert re.search(rb"MESSAGES 2 .*UIDNEXT 3 .*UNSEEN 2", data[0]) or \
        re.search(rb"MESSAGES 2 ", data[0]) and b"UNSEEN 2" in data[0] and b"UIDNEXT 3" in data[0], data
    c.logout()
