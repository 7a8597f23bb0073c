"""SMTP smuggling (SEC Consult, December 2023; CVE-2023-51764/51765/51766).

A client hides a second transaction behind a non-standard end-of-data
sequence, hoping the receiver ends the message there while some other hop
does not. tern must never take any of them as the end of data: the whole
thing, smuggled commands included, is one message, and because it contains
bare CR or LF that message is refused with 550 5.5.2 once the real
CRLF.CRLF arrives. No second message may ever be queued, and the session
must go on normally.
"""
import time

import pytest

from tern_harness import split_delivered

SEQUENCES = {
    "lf.lf": b"\n.\n",
    "lf.crlf": b"\n.\r\n",
    "crlf.lf": b"\r\n.\n",
    "crlf.cr": b"\r\n.\r",
    "cr.cr": b"\r.\r",
    "cr.crlf": b"\r.\r\n",
    "lf.cr": b"\n.\r",
    "cr.lf": b"\r.\n",
    "crlf.crcrlf": b"\r\n.\r\r\n",
    "lfcr.crlf": b"\n\r.\r\n",
}

SMUGGLED = (b"MAIL FROM:<admin@example.test>\r\n"
            b"RCPT TO:<bob@example.test>\r\n"
            b"DATA\r\n"
            b"From: admin@example.test\r\n"
            b"Subject: SMUGGLED\r\n"
            b"\r\n"
            b"smuggled body\r\n")


def open_data(c):
    assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354


def check_session_goes_on(tern, c):
    """After the refusal: a normal message in the same session works, and
    the only message ever queued or delivered is that one."""
    assert c.cmd("NOOP")[0] == 250
    open_data(c)
    c.send(b"Subject: legit\r\n\r\nlegit body\r\n.\r\n")
    code, l = c.reply()
    assert code == 250, l
    assert c.cmd("QUIT")[0] == 221
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == b"Subject: legit\r\n\r\nlegit body\r\n"
    tern.settle()
    assert tern.messages("bob") == []
    assert len(tern.messages("alice")) == 1
    assert tern.log_count(r"event=queued") == 1
    assert "SMUGGLED" not in tern.log


@pytest.mark.parametrize("seq", list(SEQUENCES.values()), ids=list(SEQUENCES))
@pytest.mark.parametrize("mode", ["one-write", "split-after-seq", "bytewise-seq"])
def test_smuggling_sequence(tern, seq, mode):
    c = tern.raw()
    c.ehlo()
    open_data(c)
    first = b"From: sender@example.net\r\nSubject: first\r\n\r\nfirst body"
    if mode == "one-write":
        c.send(first + seq + SMUGGLED + b"\r\n.\r\n")
    elif mode == "split-after-seq":
        c.send(first + seq)
        # Nothing may come back: the fake end is not an end.
        c.no_reply(0.1)
        c.send(SMUGGLED)
        c.no_reply(0.05)
        c.send(b"\r\n.\r\n")
    else:
        c.send(first)
        for i in range(len(seq)):
            c.send(seq[i:i + 1])
            time.sleep(0.01)
        c.no_reply(0.1)
        c.send(SMUGGLED + b"\r\n.\r\n")
    code, lines = c.reply()
    assert code == 550 and lines[0].startswith("550 5.5.2"), lines
    # Exactly one reply: the smuggled commands were data, not commands.
    c.no_reply(0.1)
    check_session_goes_on(tern, c)


@pytest.mark.parametrize("seq", list(SEQUENCES.values()), ids=list(SEQUENCES))
def test_smuggling_with_pipelined_commands_after_fake_end(tern, seq):
    """Fake end, smuggled transaction with its own (proper) end, then more
    commands: all of it up to the first real CRLF.CRLF is one refused
    message; what follows are real commands."""
    c = tern.raw()
    c.ehlo()
    open_data(c)
    c.send(b"Subject: first\r\n\r\nx" + seq + SMUGGLED + b".\r\nNOOP\r\n")
    code, lines = c.reply()
    # SMUGGLED ends with CRLF, so ".\r\n" after it is the real end.
    assert code == 550 and lines[0].startswith("550 5.5.2"), lines
    code, lines = c.reply()
    assert code == 250, lines       # the NOOP
    c.no_reply(0.2)
    check_session_goes_on(tern, c)


def test_nul_before_dot(tern):
    """"\\r\\n\\x00.\\r\\n" (a NUL that some servers strip) is not an end."""
    c = tern.raw()
    c.ehlo()
    open_data(c)
    c.send(b"Subject: first\r\n\r\nx\r\n\x00.\r\n" + SMUGGLED + b".\r\n")
    code, lines = c.reply()
    c.no_reply(0.2)
    if code == 250:
        # Accepted as one message: the smuggled text is its body.
        m, = tern.wait_for_messages("alice", 1)
        assert split_delivered(m)[3].endswith(SMUGGLED)
    else:
        assert code >= 500, lines
    assert c.cmd("QUIT")[0] == 221
    c.close()
    tern.settle()
    assert tern.messages("bob") == []
    assert tern.log_count(r"event=queued") <= 1


def test_proper_dot_lines_are_not_smuggling(tern):
    """Dot-stuffed lines that look like an end are content."""
    c = tern.raw()
    c.ehlo()
    open_data(c)
    c.send(b"Subject: ok\r\n\r\nx\r\n..\r\n" + SMUGGLED.replace(b"\r\nMAIL", b"\r\n.MAIL") + b".\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == b"Subject: ok\r\n\r\nx\r\n.\r\n" + SMUGGLED
    tern.settle()
    assert tern.messages("bob") == []


@pytest.mark.parametrize("seq", [b"\n.\n", b"\r\n.\r\n", b"\r.\r"], ids=["lf", "crlf", "cr"])
def test_bdat_content_cannot_end_early(tern, seq):
    """Inside a BDAT chunk an end-of-data sequence is just octets: nothing
    smuggled can become a command or a second message."""
    c = tern.raw()
    c.ehlo()
    assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    chunk = b"Subject: bdat\r\n\r\nx" + seq + SMUGGLED
    c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    code, lines = c.reply()
    c.no_reply(0.2)
    if seq == b"\r\n.\r\n":
        assert code == 250, lines
    else:
        # Bare CR/LF: refused just like in DATA, for the same reason (a
        # later hop speaking DATA would see the fake end).
        assert code == 550 and lines[0].startswith("550 5.5.2"), lines
    assert c.cmd("QUIT")[0] == 221
    c.close()
    tern.settle()
    assert tern.messages("bob") == []
    assert tern.log_count(r"event=queued") <= 1
    for m in tern.messages("alice"):
        assert split_delivered(m)[3] == chunk
