"""LMTP server (RFC 2033): `listen lmtp HOST:PORT` and `listen lmtp
unix:PATH`. LHLO only; unknown mailboxes refused at RCPT; after DATA (or
BDAT LAST) one reply per accepted RCPT, each given once that recipient's
copy is in its Maildir; refusals of the message repeated per recipient.
Clients: swaks --protocol LMTP (TCP and --socket), Python's smtplib.LMTP
for the session, raw sockets for the exact reply sequence."""
import os
import smtplib
import socket
import subprocess

import pytest

from subenv import SubTern, sub_factory  # noqa: F401
from tern_harness import RawClient, t
import relayenv


@pytest.fixture
def lmtp(sub_factory, tmp_path):
    port = relayenv.free_port()
    sock = tmp_path / "s" / "lmtp.sock"
    sock.parent.mkdir()
    inst = sub_factory(extra=["listen lmtp 127.0.0.1:%d" % port,
                              "listen lmtp unix:%s" % sock],
                       max_message_size="2000")
    inst.lmtp_port = port
    inst.lmtp_sock = str(sock)
    return inst


class LmtpRaw(RawClient):
    def __init__(self, port=None, path=None, timeout=10):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""


def session(inst, unix=False):
    c = LmtpRaw(None if unix else inst.lmtp_port, inst.lmtp_sock if unix else None, t(10))
    code, lines = c.reply()
    assert code == 220 and "LMTP" in lines[0], lines
    code, lines = c.cmd("LHLO client.example.net")
    assert code == 250 and "PIPELINING" in " ".join(lines) and "AUTH" not in " ".join(lines)
    return c


def new_files(inst, user):
    d = inst.maildir(user) / "new"
    return sorted(d.iterdir()) if d.is_dir() else []


@pytest.mark.parametrize("unix", [False, True])
def test_one_reply_per_recipient(lmtp, unix):
    c = session(lmtp, unix)
    try:
        c.send(b"MAIL FROM:<sender@example.net>\r\n"
               b"RCPT TO:<alice@example.test>\r\n"
               b"RCPT TO:<nobody@example.test>\r\n"
               b"RCPT TO:<x@elsewhere.example>\r\n"
               b"RCPT TO:<team@example.test>\r\n"
               b"DATA\r\n")
        got = [c.reply() for _ in range(6)]
        assert got[0][0] == 250
        assert got[1][0] == 250
        assert got[2][0] == 550 and "5.1.1" in got[2][1][0]
        assert got[3][0] == 550          # never a relay
        assert got[4][0] == 250          # an alias: alice (again) and bob
        assert got[5][0] == 354
        c.send(b"Subject: lmtp\r\n\r\nhello\r\n.\r\n")
        # One reply for each accepted RCPT, in order: alice, team.
        r1, r2 = c.reply(), c.reply()
        assert r1[0] == 250 and "<alice@example.test>" in r1[1][0], r1
        assert r2[0] == 250 and "<team@example.test>" in r2[1][0], r2
        # Both copies are in the Maildirs before the replies.
        assert len(new_files(lmtp, "alice")) == 1 and len(new_files(lmtp, "bob")) == 1
        body = new_files(lmtp, "bob")[0].read_bytes()
        assert body.startswith(b"Return-Path: <sender@example.net>\r\nDelivered-To: bob@example.test\r\n")
        assert b"with LMTP" in body and body.endswith(b"Subject: lmtp\r\n\r\nhello\r\n")
        if unix:
            assert b"(local socket)" in body
        c.cmd_expect = None
        code, _ = c.cmd("QUIT")
        assert code == 221
    finally:
        c.close()
    lmtp.wait_for_log(r"event=delivery to=<bob@example\.test> orig_to=<team@example\.test> relay=local")


def test_refusal_repeated_per_recipient(lmtp):
    c = session(lmtp)
    try:
        c.send(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.test>\r\n"
               b"RCPT TO:<bob@example.test>\r\nDATA\r\n")
        assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
        c.send(b"Subject: big\r\n\r\n" + b"x" * 3000 + b"\r\n.\r\n")
        assert [c.reply()[0] for _ in range(2)] == [552, 552]
        # The session goes on.
        code, _ = c.cmd("NOOP")
        assert code == 250
    finally:
        c.close()
    assert new_files(lmtp, "alice") == []


def test_lhlo_only(lmtp):
    c = LmtpRaw(lmtp.lmtp_port, timeout=t(10))
    try:
        c.reply()
        assert c.cmd("EHLO x")[0] == 500
        assert c.cmd("HELO x")[0] == 500
        assert c.cmd("MAIL FROM:<a@b.example>")[0] == 503
        assert c.cmd("LHLO x")[0] == 250
        c.send(b"MAIL FROM:<a@example.net>\r\nDATA\r\n")
        assert c.reply()[0] == 250
        assert c.reply()[0] == 503      # RFC 2033 §4.2: no valid recipients
    finally:
        c.close()
    # And LHLO is not SMTP.
    s = lmtp.raw()
    try:
        assert s.cmd("LHLO x")[0] == 500
    finally:
        s.close()


def test_bdat_last(lmtp):
    c = session(lmtp)
    try:
        body = b"Subject: chunks\r\n\r\npart\r\n"
        c.send(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.test>\r\n"
               b"RCPT TO:<bob@example.test>\r\nBDAT %d LAST\r\n" % len(body) + body)
        assert [c.reply()[0] for _ in range(3)] == [250, 250, 250]
        assert [c.reply()[0] for _ in range(2)] == [250, 250]
    finally:
        c.close()
    assert new_files(lmtp, "alice")[0].read_bytes().endswith(body)


def test_smtplib_lmtp_over_unix(lmtp):
    with smtplib.LMTP(lmtp.lmtp_sock, timeout=t(10)) as s:
        refused = s.sendmail("sender@example.net", ["alice@example.test"],
                             b"Subject: py\r\n\r\nvia smtplib\r\n")
        assert refused == {}
    assert new_files(lmtp, "alice")[0].read_bytes().endswith(b"via smtplib\r\n")


@pytest.mark.parametrize("unix", [False, True])
def test_swaks_lmtp(lmtp, unix):
    where = ["--socket", lmtp.lmtp_sock] if unix else ["--server", "127.0.0.1:%d" % lmtp.lmtp_port]
    p = subprocess.run(["swaks", "--protocol", "LMTP", *where,
                        "--from", "s@example.net",
                        "--to", "alice@example.test,nobody@example.test,bob@example.test",
                        "--header", "Subject: swaks lmtp", "--body", "via swaks"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=t(30))
    out = p.stdout.decode()
    assert "<** 550 5.1.1" in out, out
    assert out.count("<~  250 2.0.0 <") == 2 or out.count("<-  250 2.0.0 <") == 2, out
    assert len(new_files(lmtp, "alice")) == 1 and len(new_files(lmtp, "bob")) == 1
