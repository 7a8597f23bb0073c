"""DATA content: byte-exact round trips, dot-stuffing, 8-bit and UTF-8
(RFC 5321 §4.5.2, RFC 6152, RFC 6531)."""
import re

import pytest

from tern_harness import HOSTNAME, split_delivered, stuff

UTF8_USER = "ünïcode@example.test"


def transact(c, sender="s@example.net", rcpts=("alice@example.test",), params=""):
    assert c.cmd("MAIL FROM:<%s>%s" % (sender, (" " + params) if params else ""))[0] == 250
    for r in rcpts:
        code, l = c.cmd("RCPT TO:<%s>" % r)
        assert code == 250, l
    assert c.cmd("DATA")[0] == 354


def roundtrip(tern, body, params="", user="alice"):
    c = tern.raw()
    c.ehlo()
    transact(c, rcpts=("%s@example.test" % user,), params=params)
    c.send(stuff(body))
    code, l = c.reply()
    assert code == 250, l
    c.close()
    m, = tern.wait_for_messages(user, 1)
    return split_delivered(m)[3]


def test_byte_exact_roundtrip(tern):
    body = (b"From: A <a@example.net>\r\n"
            b"To: alice@example.test\r\n"
            b"Subject: exact  \t \r\n"
            b"X-Folded: one\r\n\ttwo\r\n"
            b"\r\n"
            b".\r\n"
            b"..\r\n"
            b"...three dots\r\n"
            b".leading\r\n"
            b" .space first\r\n"
            b"\r\n"
            b"\r\n"
            b"trailing spaces   \r\n"
            b"\ttab\r\n"
            + b"L" * 998 + b"\r\n"
            b"end without blank\r\n")
    assert roundtrip(tern, body) == body


def test_wire_dot_stuffing_is_removed(tern):
    c = tern.raw()
    c.ehlo()
    transact(c)
    c.send(b"Subject: dots\r\n\r\n..\r\n...\r\n..x\r\n.y\r\n.\r\n")
    assert c.reply()[0] == 250
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    # A leading dot is removed whether or not the client meant to stuff it.
    assert split_delivered(m)[3] == b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\ny\r\n"


def test_smtplib_roundtrip_with_dots(tern):
    body = b"Subject: smtplib dots\r\n\r\n.\r\n.hidden\r\n..\r\nok\r\n"
    s = tern.smtp()
    assert s.sendmail("s@example.net", ["bob@example.test"], body) == {}
    s.quit()
    m, = tern.wait_for_messages("bob", 1)
    assert split_delivered(m)[3] == body


def test_end_of_data_split_across_packets(tern):
    c = tern.raw()
    c.ehlo()
    transact(c)
    for piece in (b"Subject: split\r\n\r\nbody\r", b"\n", b".", b"\r"):
        c.send(piece)
        c.no_reply(0.05)
    c.send(b"\n")
    assert c.reply()[0] == 250
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == b"Subject: split\r\n\r\nbody\r\n"


def test_empty_message(tern):
    c = tern.raw()
    c.ehlo()
    transact(c)
    c.send(b".\r\n")
    code, l = c.reply()
    assert code in (250, 550, 554), l
    assert c.cmd("NOOP")[0] == 250
    c.close()


def test_received_header(tern):
    c = tern.raw()
    c.cmd("EHLO weird(name)\\x")
    transact(c)
    c.send(b"Subject: r\r\n\r\nx\r\n.\r\n")
    code, l = c.reply()
    qid = l[0].rsplit(" ", 1)[1]
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    received = split_delivered(m)[2].decode()
    # HELO name sanitized so it cannot break out of the comment syntax
    first = received.split("\r\n")[0]
    assert first.startswith("Received: from weird?name??x ([127.0.0.1])"), received
    assert "by %s (tern) with ESMTP id %s" % (HOSTNAME, qid) in received
    assert re.search(r";\r\n\t\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n$", received), received


def test_8bit_body(tern):
    body = (b"Subject: 8bit\r\nContent-Type: text/plain; charset=latin1\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n"
            + bytes(range(0x80, 0x100)) + b"\r\n"
            b"caf\xe9 na\xefve \xff\xfe\r\n")
    assert roundtrip(tern, body, params="BODY=8BITMIME") == body


def test_8bit_all_octets_except_line_ends(tern):
    octets = bytes(b for b in range(1, 256) if b not in (10, 13))
    body = b"Subject: octets\r\n\r\n" + octets + b"\r\n" + octets[::-1] + b"\r\n"
    assert roundtrip(tern, body, params="BODY=8BITMIME") == body


def test_utf8_body(tern):
    body = ("Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "\r\nGrüße, 世界, 🙂\r\n.ünicode leading dot\r\n").encode()
    assert roundtrip(tern, body, params="BODY=8BITMIME SMTPUTF8") == body


def test_body_7bit_param(tern):
    body = b"Subject: 7\r\n\r\nplain\r\n"
    assert roundtrip(tern, body, params="BODY=7BIT") == body


def test_utf8_headers_and_sender(tern):
    c = tern.raw()
    c.ehlo()
    sender = "jöhn@exämple.net"
    transact(c, sender=sender, params="SMTPUTF8 BODY=8BITMIME")
    body = "From: Jöhn <jöhn@exämple.net>\r\nSubject: ünïcode\r\n\r\nhi\r\n".encode()
    c.send(stuff(body))
    code, l = c.reply()
    assert code == 250, l
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    rp, dt, received, rest = split_delivered(m)
    assert rp == sender.encode()
    assert rest == body
    assert b"with UTF8SMTP id" in received
    tern.settle()
    assert "proto=UTF8SMTP" in tern.log


def test_utf8_recipient_syntax_ok_but_unknown(tern):
    c = tern.raw()
    c.ehlo()
    # (An outside sender: reject_own_domain_sender refuses our domains.)
    assert c.cmd("MAIL FROM:<sënder@exämple.net> SMTPUTF8")[0] == 250
    code, l = c.cmd("RCPT TO:<%s>" % UTF8_USER)
    assert code == 550 and l[0].startswith("550 5.1.1"), l
    code, l = c.cmd("RCPT TO:<ünïcode@exämple.test>")
    assert code == 550 and l[0].startswith("550 5.7.1"), l
    c.close()


def test_utf8_address_without_smtputf8(tern):
    c = tern.raw()
    c.ehlo()
    code, l = c.cmd("MAIL FROM:<%s>" % UTF8_USER)
    assert code == 553 and l[0].startswith("553 5.6.7"), l
    assert c.cmd("MAIL FROM:<plain@example.net>")[0] == 250
    code, l = c.cmd("RCPT TO:<%s>" % UTF8_USER)
    assert code == 553 and l[0].startswith("553 5.6.7"), l
    code, l = c.cmd("RCPT TO:<alice@exämple.test>")
    assert code == 553 and l[0].startswith("553 5.6.7"), l
    c.close()


def test_smtputf8_needs_ehlo(tern):
    c = tern.raw()
    assert c.cmd("HELO old.example.net")[0] == 250
    code, l = c.cmd("MAIL FROM:<%s> SMTPUTF8" % UTF8_USER)
    assert code in (555, 553, 501), l
    c.close()


@pytest.mark.parametrize("addr", [b"\xff\xfe@example.test", b"a\xc3@example.test",
                                  b"\xc0\xaf@example.test", b"\xed\xa0\x80@example.test"])
def test_invalid_utf8_address(tern, addr):
    c = tern.raw()
    c.ehlo()
    code, l = c.cmd(b"MAIL FROM:<" + addr + b"> SMTPUTF8")
    assert code == 501, l
    c.close()


def test_bare_lf_in_data_refused(tern):
    c = tern.raw()
    c.ehlo()
    transact(c)
    c.send(b"Subject: lf\r\n\r\nline one\nline two\r\n.\r\n")
    code, l = c.reply()
    assert code == 550 and l[0].startswith("550 5.5.2"), l
    assert c.cmd("NOOP")[0] == 250
    c.close()
    tern.settle()
    assert tern.messages("alice") == []


def test_bare_cr_in_data_refused(tern):
    c = tern.raw()
    c.ehlo()
    transact(c)
    c.send(b"Subject: cr\r\n\r\nline one\rline two\r\n.\r\n")
    code, l = c.reply()
    assert code == 550 and l[0].startswith("550 5.5.2"), l
    c.close()
    tern.settle()
    assert tern.messages("alice") == []


def test_bare_cr_before_final_crlf(tern):
    c = tern.raw()
    c.ehlo()
    transact(c)
    c.send(b"Subject: cr\r\n\r\nline\r\r\n.\r\n")
    code, l = c.reply()
    assert code == 550 and l[0].startswith("550 5.5.2"), l
    c.close()


def test_data_timeout_setting_does_not_cut_active_transfer(tern_factory):
    tern = tern_factory(data_timeout="1s")
    import time
    c = tern.raw()
    c.ehlo()
    transact(c)
    c.send(b"Subject: slow\r\n\r\n")
    for i in range(4):
        time.sleep(0.6)
        c.send(b"line %d\r\n" % i)
    c.send(b".\r\n")
    code, l = c.reply()
    assert code == 250, l
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[3].endswith(b"line 3\r\n")
