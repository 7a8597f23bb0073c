"""Sessions driven by swaks, a real third-party SMTP client.

swaks 20201014 (Debian 12) has no BDAT/CHUNKING support, so the CHUNKING
test here talks raw SMTP instead.
"""
import shutil
import subprocess

import pytest

from tern_harness import split_delivered, t

SWAKS = shutil.which("swaks") or "/usr/bin/swaks"



def swaks(tern, *args, timeout=20):
    cmd = [SWAKS, "--server", "127.0.0.1", "--port", str(tern.port),
           "--helo", "swaks.example.net", "--from", "sender@example.net",
           "--timeout", str(int(t(10)))] + list(args)
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=t(timeout))
    return p.returncode, p.stdout.decode("utf-8", "replace")


def test_swaks_basic(tern):
    rc, out = swaks(tern, "--to", "alice@example.test")
    assert rc == 0, out
    assert "<-  250 2.0.0 Ok: queued as " in out
    assert "<-  221 2.0.0 Bye" in out
    m, = tern.wait_for_messages("alice", 1)
    rp, dt, received, rest = split_delivered(m)
    assert rp == b"sender@example.net" and dt == b"alice@example.test"
    assert b"Received: from swaks.example.net ([127.0.0.1])" in received
    assert b"X-Mailer: swaks" in rest


def test_swaks_pipelining(tern):
    rc, out = swaks(tern, "--pipeline", "--to", "alice@example.test,bob@example.test")
    assert rc == 0, out
    # swaks sends MAIL, both RCPTs and DATA before reading a reply.
    sent = out.index(" -> MAIL FROM:<sender@example.net>")
    assert out.index(" -> RCPT TO:<alice@example.test>") > sent
    first_reply_after = out.index("<-  250 2.1.0", sent)
    assert out.index(" -> DATA", sent) < first_reply_after, out
    assert "<-  250 2.0.0 Ok: queued as " in out
    tern.wait_for_messages("alice", 1)
    tern.wait_for_messages("bob", 1)


def test_swaks_pipelining_with_rejected_recipient(tern):
    rc, out = swaks(tern, "--pipeline", "--to", "nobody@example.test,bob@example.test")
    assert "<** 550 5.1.1" in out or "<~* 550 5.1.1" in out or "550 5.1.1" in out, out
    assert "Ok: queued as" in out, out
    tern.wait_for_messages("bob", 1)
    tern.settle()
    assert tern.log_count(r"event=delivery") == 1


def test_swaks_helo_protocol(tern):
    rc, out = swaks(tern, "--protocol", "SMTP", "--to", "bob@example.test")
    assert rc == 0, out
    assert " -> HELO swaks.example.net" in out
    m, = tern.wait_for_messages("bob", 1)
    assert b"with SMTP id" in m


def test_swaks_unknown_user(tern):
    rc, out = swaks(tern, "--to", "nobody@example.test")
    assert rc == 24, out    # swaks: no recipient accepted
    assert "550 5.1.1" in out
    tern.settle()
    assert tern.log_count(r"event=queued") == 0


def test_swaks_relay_denied(tern):
    rc, out = swaks(tern, "--to", "someone@elsewhere.test")
    assert rc == 24, out
    assert "550 5.7.1" in out


def test_swaks_quit_after_rcpt(tern):
    rc, out = swaks(tern, "--to", "alice@example.test", "--quit-after", "RCPT")
    assert rc == 0, out
    assert "<-  221" in out
    tern.wait_for_log(r"event=disconnect .*reason=quit")
    tern.settle()
    assert tern.messages("alice") == []


def test_swaks_drop_after_rcpt(tern):
    rc, out = swaks(tern, "--to", "alice@example.test", "--drop-after", "RCPT")
    tern.wait_for_log(r"event=disconnect .*reason=\"?client closed")
    # The server is fine and serves the next client.
    rc, out = swaks(tern, "--to", "alice@example.test")
    assert rc == 0, out
    tern.wait_for_messages("alice", 1)
    tern.settle()
    assert len(tern.messages("alice")) == 1


def test_swaks_drop_after_sending_data(tern):
    # The client hangs up right after the final dot, before the 250: the
    # server may keep or drop the message, but must not keep half of it
    # or fall over.
    rc, out = swaks(tern, "--to", "alice@example.test", "--drop-after-send", "DATA")
    tern.wait_for_log(r"event=disconnect")
    rc, out = swaks(tern, "--to", "bob@example.test")
    assert rc == 0, out
    tern.wait_for_messages("bob", 1)
    tern.settle()
    got = tern.messages("alice")
    assert len(got) <= 1
    for m in got:
        assert split_delivered(m)[3].endswith(b"This is a test mailing\r\n\r\n")


def test_swaks_body_with_dots(tern, tmp_path):
    body = (b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n"
            b"x.\r\n . space dot\r\nlast\r\n")
    f = tmp_path / "msg.eml"
    # swaks ends the data with CRLF "." CRLF itself.
    f.write_bytes(body[:-2])
    rc, out = swaks(tern, "--to", "alice@example.test", "--data", str(f))
    assert rc == 0, out
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == body


def test_swaks_many_recipients_and_headers(tern):
    rc, out = swaks(tern, "--to", "alice@example.test,bob@example.test,team@example.test",
                    "--header", "Subject: swaks headers", "--add-header", "X-Test: 1",
                    "--body", "line one\nline two\n")
    assert rc == 0, out
    a, = tern.wait_for_messages("alice", 1)
    b, = tern.wait_for_messages("bob", 1)
    tern.settle()
    assert len(tern.messages("alice")) == 1 and len(tern.messages("bob")) == 1
    for m in (a, b):
        rest = split_delivered(m)[3]
        assert b"Subject: swaks headers\r\n" in rest
        assert b"X-Test: 1\r\n" in rest
        assert b"\r\n\r\nline one\r\nline two\r\n" in rest


def test_swaks_sequential_sessions(tern):
    for i in range(5):
        rc, out = swaks(tern, "--to", "bob@example.test", "--header", "Subject: seq %d" % i)
        assert rc == 0, out
    tern.wait_for_messages("bob", 5)
    tern.settle()
    assert len(tern.messages("bob")) == 5


def test_chunking_raw(tern):
    """BDAT with a raw client (swaks cannot do it)."""
    c = tern.raw()
    lines = c.ehlo()
    assert "250-CHUNKING" in lines or "250 CHUNKING" in lines
    assert c.cmd("MAIL FROM:<sender@example.net> BODY=8BITMIME")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    part1 = b"Subject: chunks\r\n\r\n"
    part2 = b".not stuffed\r\nend\r\n"
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    code, l = c.reply()
    assert code == 250, l
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    code, l = c.reply()
    assert code == 250 and "queued as" in l[0], l
    assert c.cmd("QUIT")[0] == 221
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == part1 + part2
