"""The IMAP session with Python's imaplib: logging in, the folder's
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

