"""POP3 (RFC 1939, 2449, 2595, 5034) with Python's poplib and raw sockets:
login rules, every command, exact sizes, dot-stuffing, UIDLs in Dovecot's
form kept in dovecot-uidlist, UPDATE only on QUIT, [IN-USE], pipelining,
and bad input answered with -ERR while the session goes on."""
import base64
import os
import poplib
import re
import socket

import pytest

from retrenv import (MailTern, body_of, deliver_in_order, mail_factory, mt,  # noqa: F401
                     uidlist_records, wait_delivered)
from subenv import ALICE, BOB, PASSWORDS, no_verify_ctx
from tern_harness import t


def stored_tail(msg, sent):
    """The message as retrieved ends with what was sent (after the trace
    fields tern adds at delivery)."""
    assert msg.endswith(sent), (msg[-200:], sent[-200:])


# ------------------------------------------------------------ the basics --

def test_stat_list_uidl_retr_dele_quit(mt):
    # One after the other: the queue delivers in parallel, and the order
    # of arrival in the Maildir is the order of the UIDs.
    sent = deliver_in_order(mt, ALICE, ["Subject: m%d\r\n\r\nbody %d\r\n" % (i, i)
                                        for i in range(3)])
    p = mt.pop3(ALICE)
    try:
        count, size = p.stat()
        assert count == 3
        resp, listing, _ = p.list()
        sizes = [int(l.split()[1]) for l in listing]
        assert [int(l.split()[0]) for l in listing] == [1, 2, 3]
        assert sum(sizes) == size
        resp, uidls, _ = p.uidl()
        uidl = {int(a): b.decode() for a, b in (l.split() for l in uidls)}
        v, n, recs = uidlist_records(mt, ALICE)
        assert n == 4 and sorted(recs) == [1, 2, 3]
        # Dovecot's default pop3_uidl_format: %08Xu%08Xv, lower-case hex
        assert uidl == {i: "%08x%08x" % (i, v) for i in (1, 2, 3)}
        for i in (1, 2, 3):
            resp, lines, octets = p.retr(i)
            assert resp.startswith(b"+OK")
            stored_tail(body_of(lines), sent[i - 1])
            # LIST's size is what RETR sent (poplib's octets count the
            # lines as sent, CRLF included).
            assert octets == sizes[i - 1]
        p.dele(2)
        with pytest.raises(poplib.error_proto, match="deleted"):
            p.retr(2)
        assert p.stat()[0] == 2
        assert p.quit().startswith(b"+OK")
    finally:
        p.close()
    mt.wait_for_log(r"event=pop3-expunged user=alice@example\.test messages=1")
    # Gone from the disk; the others were moved to cur/ and are \Seen.
    box = mt.maildir(ALICE)
    names = sorted(os.listdir(box / "cur"))
    assert len(names) == 2 and not os.listdir(box / "new")
    assert all(n.endswith(":2,S") for n in names), names
    # The same UIDs next time; the deleted one's is not reused.
    p = mt.pop3(ALICE)
    try:
        uidls = [l.split()[1].decode() for l in p.uidl()[1]]
        assert uidls == ["%08x%08x" % (1, v), "%08x%08x" % (3, v)]
        mt.deliver(ALICE, "Subject: later\r\n\r\nx\r\n")
    finally:
        p.quit()
    wait_delivered(mt, ALICE, 3)
    p = mt.pop3(ALICE)
    try:
        uidls = [l.split()[1].decode() for l in p.uidl()[1]]
        assert uidls[-1] == "%08x%08x" % (4, v)
    finally:
        p.quit()


def test_pop3s_and_top(mt):
    sent = mt.deliver(BOB, "Subject: top\r\nX-A: 1\r\n\r\nl1\r\nl2\r\nl3\r\n")
    wait_delivered(mt, BOB, 1)
    p = mt.pop3s(BOB)
    try:
        resp, lines, _ = p.top(1, 2)
        text = body_of(lines)
        assert text.endswith(b"X-A: 1\r\n\r\nl1\r\nl2\r\n"), text
        resp, lines, _ = p.top(1, 0)
        assert body_of(lines).endswith(b"X-A: 1\r\n\r\n")
        resp, lines, _ = p.retr(1)
        stored_tail(body_of(lines), sent)
    finally:
        p.quit()


def test_dot_stuffing_and_exact_sizes(mt):
    body = (b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle.\r\n"
            b". space\r\n\r\n.\r\n")
    mt.deliver(ALICE, body)
    wait_delivered(mt, ALICE, 1)
    c = raw_login(mt, ALICE)
    try:
        c.send(b"LIST 1\r\n")
        size = int(c.line().split()[2])
        c.send(b"RETR 1\r\n")
        first = c.line()
        assert first.startswith(b"+OK")
        wire = c.until_dot()
        assert b"\r\n...\r\n" in wire and b"\r\n..leading\r\n" in wire
        unstuffed = re.sub(rb"(?m)^\.", b"", wire)
        assert unstuffed.endswith(body)
        # The size announced is that of the message the client ends up
        # with: the stuffed dots "must not be counted" (RFC 1939 §11).
        assert len(unstuffed) == size < len(wire)
        assert first == b"+OK %d octets\r\n" % size
    finally:
        c.close()


def test_sizes_read_once_and_kept_in_the_uidlist(mt):
    """The size LIST announces (CR LF line ends, RFC 1939 §11) is read
    from each message once, at the login that gives it its UID, and kept
    in dovecot-uidlist's W field (where Dovecot keeps the same virtual
    size): later logins read no message — they announce what W says."""
    deliver_in_order(mt, ALICE, ["Subject: w%d\r\n\r\n%s\r\n" % (i, "x" * (10 * i))
                                 for i in range(1, 3)])
    p = mt.pop3(ALICE)
    sizes = [int(l.split()[1]) for l in p.list()[1]]
    p.quit()
    path = mt.maildir(ALICE) / "dovecot-uidlist"
    recs = path.read_text().splitlines()[1:]
    assert [int(re.search(r" W(\d+)", r).group(1)) for r in recs] == sizes, recs
    # A W field is believed: change one, and LIST says it.
    path.write_text(path.read_text().replace(" W%d " % sizes[0], " W12345 ", 1))
    p = mt.pop3(ALICE)
    try:
        assert [int(l.split()[1]) for l in p.list()[1]] == [12345, sizes[1]]
    finally:
        p.quit()


def test_migrated_uidl_kept(mt):
    """A POP3 UIDL kept in dovecot-uidlist's P field (what a migration
    from another server leaves, and Dovecot serves) is served as it is."""
    mt.deliver(ALICE, "Subject: old\r\n\r\nx\r\n")
    mt.deliver(ALICE, "Subject: new\r\n\r\ny\r\n")
    wait_delivered(mt, ALICE, 2)
    mt.pop3(ALICE).quit()          # UIDs 1 and 2 now
    path = mt.maildir(ALICE) / "dovecot-uidlist"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace("1 ", "1 P" + "UID-from-courier.42 ", 1)
    path.write_text("\n".join(lines) + "\n")
    p = mt.pop3(ALICE)
    try:
        uidls = [l.split()[1].decode() for l in p.uidl()[1]]
        v = uidlist_records(mt, ALICE)[0]
        assert uidls == ["UID-from-courier.42", "%08x%08x" % (2, v)]
    finally:
        p.quit()
    # Kept across tern's own rewrite of the list.
    assert "PUID-from-courier.42" in path.read_text()


# -------------------------------------------------------- login rules ----

def test_capa_and_cleartext_refused(mt):
    p = mt.pop3_plain()
    try:
        caps = p.capa()
        assert "STLS" in caps and "USER" not in caps and "SASL" not in caps
        for k in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "UTF8"):
            assert k in caps, caps
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            p.user(ALICE)
        p.stls(context=no_verify_ctx())
        caps = p.capa()
        assert "USER" in caps and caps["SASL"] == ["PLAIN", "LOGIN"] and "STLS" not in caps
        p.user(ALICE)
        p.pass_(PASSWORDS[ALICE])
        assert p.stat() == (0, 0)
    finally:
        p.quit()


def test_cleartext_on_loopback_when_allowed(mail_factory):
    mt = mail_factory(auth_cleartext_loopback="yes")
    p = mt.pop3_plain()
    try:
        p.user(BOB)
        p.pass_(PASSWORDS[BOB])
        assert p.stat()[0] == 0
    finally:
        p.quit()


def test_auth_plain_login_and_failures(mt):
    p = mt.pop3()
    try:
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            p.user(ALICE)
            p.pass_("wrong")
        # SASL-IR (RFC 5034 §4)
        ir = base64.b64encode(b"\0" + ALICE.encode() + b"\0" + PASSWORDS[ALICE].encode())
        assert p._shortcmd("AUTH PLAIN " + ir.decode()).startswith(b"+OK")
        assert p.stat()[0] == 0
    finally:
        p.quit()
    mt.wait_for_log(r"event=auth-failed client=127\.0\.0\.1 user=alice@example\.test")
    mt.wait_for_log(r"event=pop3-login sid=\d+ client=127\.0\.0\.1 user=alice@example\.test")
    assert "wrong" not in mt.log and PASSWORDS[ALICE] not in mt.log
    # AUTH LOGIN, challenge by challenge
    c = raw_tls(mt)
    try:
        c.send(b"AUTH LOGIN\r\n")
        assert c.line().startswith(b"+ ")
        c.send(base64.b64encode(BOB.encode()) + b"\r\n")
        assert c.line().startswith(b"+ ")
        c.send(base64.b64encode(PASSWORDS[BOB].encode()) + b"\r\n")
        assert c.line().startswith(b"+OK")
        # A cancelled exchange: -ERR, and the session goes on.
        c.send(b"STAT\r\n")
        assert c.line().startswith(b"+OK 0 0")
    finally:
        c.close()


def test_in_use(mt):
    a = mt.pop3(ALICE)
    try:
        b = mt.pop3()
        try:
            b.user(ALICE)
            with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
                b.pass_(PASSWORDS[ALICE])
        finally:
            b.close()
    finally:
        a.quit()
    b = mt.pop3(ALICE)    # free again
    b.quit()


# ---------------------------------------------------- UPDATE semantics --

def test_no_quit_no_deletion_and_rset(mt):
    for i in range(2):
        mt.deliver(ALICE, "Subject: k%d\r\n\r\nx\r\n" % i)
    wait_delivered(mt, ALICE, 2)
    p = mt.pop3(ALICE)
    p.dele(1)
    p.close()           # no QUIT: RFC 1939 §6, nothing is deleted
    p = mt.pop3(ALICE)
    try:
        assert p.stat()[0] == 2
        p.dele(1)
        p.dele(2)
        assert p.stat()[0] == 0
        p.rset()
        assert p.stat()[0] == 2
    finally:
        p.quit()
    p = mt.pop3(ALICE)
    try:
        assert p.stat()[0] == 2
    finally:
        p.quit()


def test_expunge_journal_is_finished_after_a_crash(mt):
    """A QUIT's deletions are journalled first (tern-expunge); a journal
    left by a crash is completed by the next login, never half-applied."""
    for i in range(3):
        mt.deliver(ALICE, "Subject: j%d\r\n\r\nx\r\n" % i)
    wait_delivered(mt, ALICE, 3)
    p = mt.pop3(ALICE)
    p.quit()                       # all three in cur/ with UIDs now
    box = mt.maildir(ALICE)
    # UIDs 1 and 3 by their names in dovecot-uidlist (the names' text
    # order is not the arrival order: M99999 sorts after M100000).
    _, _, recs = uidlist_records(mt, ALICE)
    by_base = {n.split(":")[0]: n for n in os.listdir(box / "cur")}
    journal = box / "tern-expunge"
    journal.write_text("cur/%s\ncur/%s\n" % (by_base[recs[1].split(":")[0]],
                                              by_base[recs[3].split(":")[0]]))
    os.chown(journal, os.stat(box).st_uid, os.stat(box).st_gid)
    p = mt.pop3(ALICE)
    try:
        assert p.stat()[0] == 1
        v, _, recs = uidlist_records(mt, ALICE)
        assert list(recs) == [2]
    finally:
        p.quit()
    assert not journal.exists()
    mt.wait_for_log(r"event=mailbox-expunge-replayed")


# ------------------------------------------------------- bad input -----

def test_bad_commands_get_err_and_session_goes_on(mt):
    mt.deliver(ALICE, "Subject: b\r\n\r\nx\r\n")
    wait_delivered(mt, ALICE, 1)
    c = raw_tls(mt)
    try:
        for bad, err in [(b"FOO", b"-ERR"), (b"STAT", b"-ERR"), (b"RETR 1", b"-ERR"),
                         (b"USER", b"-ERR"), (b"PASS x", b"-ERR"),
                         (b"X" * 9000, b"-ERR")]:
            c.send(bad + b"\r\n")
            assert c.line().startswith(err), bad[:20]
        c.send(b"USER %s\r\nPASS %s\r\n" % (ALICE.encode(), PASSWORDS[ALICE].encode()))
        assert c.line().startswith(b"+OK")
        assert c.line().startswith(b"+OK")
        for bad in [b"RETR 0", b"RETR 2", b"RETR -1", b"RETR 99999999999",
                    b"RETR x", b"DELE", b"TOP 1", b"LIST 1 2", b"RETR 1\x00"]:
            c.send(bad + b"\r\n")
            assert c.line().startswith(b"-ERR"), bad
        c.send(b"STAT\r\n")
        assert c.line() == b"+OK 1 %d\r\n" % mt_size(c)
    finally:
        c.close()


def mt_size(c):
    c.send(b"LIST 1\r\n")
    return int(c.line().split()[2])


def test_pipelined_commands(mt):
    for i in range(3):
        mt.deliver(BOB, "Subject: p%d\r\n\r\nbody\r\n" % i)
    wait_delivered(mt, BOB, 3)
    c = raw_tls(mt)
    try:
        c.send(b"USER %s\r\nPASS %s\r\nSTAT\r\nRETR 1\r\nRETR 2\r\nDELE 3\r\nUIDL 3\r\nQUIT\r\n"
               % (BOB.encode(), PASSWORDS[BOB].encode()))
        assert c.line().startswith(b"+OK")          # USER
        assert c.line().startswith(b"+OK")          # PASS
        assert c.line().startswith(b"+OK 3 ")       # STAT
        for _ in range(2):
            assert c.line().startswith(b"+OK")
            assert b"body" in c.until_dot()
        assert c.line().startswith(b"+OK")          # DELE
        assert c.line().startswith(b"-ERR")         # UIDL of a deleted one
        assert c.line().startswith(b"+OK")          # QUIT
    finally:
        c.close()


# ------------------------------------------------------------- helpers --

class Raw:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, b):
        self.sock.sendall(b)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        l, _, self.buf = self.buf.partition(b"\r\n")
        return l + b"\r\n"

    def until_dot(self):
        out = b""
        while True:
            l = self.line()
            if l == b".\r\n":
                return out
            out += l

    def close(self):
        self.sock.close()


def raw_tls(mt):
    s = socket.create_connection(("127.0.0.1", mt.pop3_port), timeout=t(10))
    c = Raw(s)
    assert c.line().startswith(b"+OK")
    c.send(b"STLS\r\n")
    assert c.line().startswith(b"+OK")
    c.sock = no_verify_ctx().wrap_socket(s)
    return c


def raw_login(mt, user):
    c = raw_tls(mt)
    c.send(b"USER %s\r\n" % user.encode())
    assert c.line().startswith(b"+OK")
    c.send(b"PASS %s\r\n" % PASSWORDS[user].encode())
    assert c.line().startswith(b"+OK")
    return c
