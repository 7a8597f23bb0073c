"""Shared machinery for the retrieval tests (test_pop3*.py, the store
tests): MailTern, a SubTern that also serves POP3 (STLS) and POP3S, and
clients for it.

- the `mail_factory` fixture: mail_factory(**settings) -> a started
  MailTern (users with passwords as in subenv), stopped on teardown with
  the harness checks;
- mt.deliver(rcpt, body): one message over SMTP port 25 (smtplib);
- mt.pop3(user): poplib after STLS and login; mt.pop3s(user) the same
  over implicit TLS; mt.uidls(user): {message number: UIDL};
- wait_delivered(mt, user, n); deliver_in_order(mt, user, bodies) (each
  in the Maildir before the next is sent); maildir_messages(mt, user)
  (what is on disk); uidlist_records(mt, user) (dovecot-uidlist as tern
  wrote it); body_of(poplib lines); trace_and_body(retrieved bytes);
  dead_pid().
"""
import os
import poplib
import re
import smtplib
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from subenv import PASSWORDS, SubTern, instances, no_verify_ctx  # noqa: E402
from tern_harness import split_delivered, t  # noqa: E402
import relayenv  # noqa: E402


class MailTern(SubTern):
    port_attrs = SubTern.port_attrs + ("pop3_port", "pop3s_port")

    def __init__(self, root, extra=(), **kw):
        self.pop3_port = relayenv.free_port()
        self.pop3s_port = relayenv.free_port()
        super().__init__(root, extra=list(extra) + [
            "listen pop3 127.0.0.1:%d" % self.pop3_port,
            "listen pop3s 127.0.0.1:%d" % self.pop3s_port], **kw)

    def pop3_plain(self, timeout=10):
        """poplib on the POP3 port, in the clear, after the greeting."""
        return poplib.POP3("127.0.0.1", self.pop3_port, timeout=t(timeout))

    def pop3(self, user=None, password=None, timeout=10):
        """poplib after STLS; logged in with USER/PASS when user is given."""
        p = self.pop3_plain(timeout)
        try:
            p.stls(context=no_verify_ctx())
            if user is not None:
                p.user(user)
                p.pass_(PASSWORDS[user] if password is None else password)
        except BaseException:
            p.close()
            raise
        return p

    def pop3s(self, user=None, password=None, timeout=10):
        p = poplib.POP3_SSL("127.0.0.1", self.pop3s_port, timeout=t(timeout),
                            context=no_verify_ctx())
        try:
            if user is not None:
                p.user(user)
                p.pass_(PASSWORDS[user] if password is None else password)
        except BaseException:
            p.close()
            raise
        return p

    def deliver(self, rcpt, body, sender="sender@example.net", mail_options=()):
        """One message to rcpt over SMTP (port 25's listener); returns the
        octets sent after DATA, as stored after the trace fields.
        mail_options: e.g. ["BODY=8BITMIME"] for 8-bit text."""
        if isinstance(body, str):
            body = body.encode()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=t(10)) as s:
            s.sendmail(sender, [rcpt], body, mail_options=list(mail_options))
        return body

    def uidls(self, user):
        """{message number: UIDL} of user's maildrop (poplib, then QUIT)."""
        p = self.pop3(user)
        try:
            return {int(n): u.decode() for n, u in (l.split() for l in p.uidl()[1])}
        finally:
            p.quit()


def body_of(lines):
    """poplib's lines (dot-unstuffed, no CRLF) -> the message as stored."""
    return b"".join(l + b"\r\n" for l in lines)


def trace_and_body(blob):
    """A message as tern stored it (or a client retrieved it): the trace
    fields tern added at delivery (Return-Path, Delivered-To, Received)
    and the octets the sender sent after DATA."""
    rp, dt, rcvd, body = split_delivered(blob)
    return blob[:len(blob) - len(body)], body


def wait_delivered(mt, user, n, timeout=10):
    """Waits until user's new/ and cur/ hold at least n messages."""
    deadline = time.monotonic() + t(timeout)
    box = mt.maildir(user)
    while True:
        got = sum(len(os.listdir(box / d)) for d in ("new", "cur") if (box / d).is_dir())
        if got >= n:
            return
        assert time.monotonic() < deadline, "%s: %d messages, wanted %d" % (user, got, n)
        time.sleep(0.02)


def deliver_in_order(mt, user, bodies, **kw):
    """Delivers each body to user and waits until it is in the Maildir
    before sending the next: the queue delivers in parallel, so messages
    sent one after the other may land (and get their UIDs) in another
    order. Returns what was sent."""
    box = mt.maildir(user)
    have = sum(len(os.listdir(box / d)) for d in ("new", "cur") if (box / d).is_dir())
    sent = []
    for body in bodies:
        sent.append(mt.deliver(user, body, **kw))
        have += 1
        wait_delivered(mt, user, have)
    return sent


def dead_pid():
    """The pid of a process that has ended (and been reaped): what a
    crashed writer leaves in its Maildir file names and lock files."""
    p = subprocess.Popen(["/bin/true"])
    p.wait()
    return p.pid


def maildir_messages(mt, user):
    """{base name: octets} of every message file in user's new/ and cur/."""
    box = mt.maildir(user)
    out = {}
    for d in ("new", "cur"):
        if not (box / d).is_dir():
            continue
        for p in (box / d).iterdir():
            try:
                out[p.name.split(":")[0]] = p.read_bytes()
            except FileNotFoundError:
                pass     # moved or expunged meanwhile
    return out


def uidlist_records(mt, user):
    """dovecot-uidlist of user's INBOX: (UIDVALIDITY, next UID, {uid: base
    name})."""
    text = (mt.maildir(user) / "dovecot-uidlist").read_text()
    head, *recs = text.splitlines()
    m = re.match(r"3 V(\d+) N(\d+) G([0-9a-f]{32})", head)
    assert m, head
    out = {}
    for r in recs:
        uid, _, name = r.partition(" :") if " :" in r else r.partition(":")
        out[int(uid.split()[0])] = name
    return int(m.group(1)), int(m.group(2)), out


@pytest.fixture
def mail_factory(tmp_path):
    """mail_factory(**as sub_factory) -> a started MailTern."""
    yield from instances(tmp_path, MailTern)


@pytest.fixture
def mt(mail_factory):
    return mail_factory()
