"""Message size limits (RFC 1870) and CHUNKING/BDAT (RFC 3030)."""
import time

import pytest

from tern_harness import split_delivered, stuff

LIMIT = 64 * 1024


@pytest.fixture
def small(tern_factory):
    return tern_factory(max_message_size="64K")


def message_of(size, subject=b"sized"):
    """A CRLF message of exactly size octets."""
    head = b"Subject: %s\r\n\r\n" % subject
    line = b"y" * 98 + b"\r\n"
    n = (size - 2 - len(head)) // len(line)
    body = head + line * n
    pad = size - len(body) - 2
    assert pad >= 0
    body += b"z" * pad + b"\r\n"
    assert len(body) == size
    return body


def open_tx(c, rcpt="alice@example.test", params=""):
    assert c.cmd("MAIL FROM:<s@example.net>%s" % ((" " + params) if params else ""))[0] == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt)[0] == 250


# --------------------------------------------------------------- SIZE= -----

def test_size_parameter_at_limit(small):
    c = small.raw()
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.net> SIZE=%d" % LIMIT)[0] == 250
    c.cmd("RSET")
    assert c.cmd("MAIL FROM:<s@example.net> SIZE=0")[0] == 250
    c.close()


def test_size_parameter_over_limit(small):
    c = small.raw()
    c.ehlo()
    code, l = c.cmd("MAIL FROM:<s@example.net> SIZE=%d" % (LIMIT + 1))
    assert code == 552 and l[0].startswith("552 5.3.4"), l
    # No transaction was opened; a new MAIL works.
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 503
    assert c.cmd("MAIL FROM:<s@example.net> SIZE=100")[0] == 250
    c.close()


@pytest.mark.parametrize("value", ["abc", "", "-1", "1e6", "99999999999999999999999"])
def test_size_parameter_syntax(small, value):
    c = small.raw()
    c.ehlo()
    code, l = c.cmd("MAIL FROM:<s@example.net> SIZE=%s" % value)
    assert code in (501, 552), l
    if value != "99999999999999999999999":
        assert code == 501, l
    c.close()


def test_declared_size_too_small_is_not_binding(small):
    # SIZE= is an estimate; the real limit applies to the real data.
    c = small.raw()
    c.ehlo()
    open_tx(c, params="SIZE=10")
    body = message_of(2000)
    assert c.cmd("DATA")[0] == 354
    c.send(stuff(body))
    assert c.reply()[0] == 250
    c.close()
    m, = small.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == body


# ---------------------------------------------------------------- DATA -----

def test_message_at_limit_accepted(small):
    c = small.raw()
    c.ehlo()
    body = message_of(LIMIT)
    open_tx(c)
    assert c.cmd("DATA")[0] == 354
    c.send(stuff(body))
    code, l = c.reply()
    assert code == 250, l
    c.close()
    m, = small.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == body


def test_message_over_limit_refused(small):
    c = small.raw()
    c.ehlo()
    open_tx(c)
    assert c.cmd("DATA")[0] == 354
    c.send(stuff(message_of(LIMIT + 1)))
    code, l = c.reply()
    assert code == 552 and l[0].startswith("552 5.3.4"), l
    # The session goes on: the next transaction is fine.
    assert c.cmd("NOOP")[0] == 250
    open_tx(c, rcpt="bob@example.test")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: after\r\n\r\nok\r\n.\r\n")
    assert c.reply()[0] == 250
    c.close()
    small.wait_for_messages("bob", 1)
    small.settle()
    assert small.messages("alice") == []
    assert small.queue_files("tmp") == []


def test_much_larger_message_refused_after_all_data(small):
    c = small.raw(timeout=30)
    c.ehlo()
    open_tx(c)
    assert c.cmd("DATA")[0] == 354
    # 2 MiB: the server reads (and drops) it all, then answers once.
    c.send(stuff(message_of(2 * 1024 * 1024)))
    code, l = c.reply()
    assert code == 552, l
    c.no_reply(0.2)
    assert c.cmd("QUIT")[0] == 221
    c.close()
    small.settle()
    assert small.messages("alice") == []


def test_oversize_with_smtplib(small):
    import smtplib
    s = small.smtp()
    # smtplib declares SIZE=, so the refusal comes at MAIL.
    with pytest.raises(smtplib.SMTPSenderRefused) as ei:
        s.sendmail("s@example.net", ["alice@example.test"], message_of(LIMIT * 2))
    assert ei.value.smtp_code == 552
    s.quit()


# ---------------------------------------------------------------- BDAT -----

def test_bdat_chunks(tern):
    c = tern.raw()
    c.ehlo()
    open_tx(c)
    parts = [b"Subject: bdat\r\n", b"\r\n", b".starts with a dot\r\n", b"..two\r\n",
             b"\r\n.\r\n", b"tail\r\n"]
    total = 0
    for p in parts:
        c.send(b"BDAT %d\r\n" % len(p) + p)
        total += len(p)
        code, l = c.reply()
        assert code == 250 and l[0].startswith("250 2.0.0"), l
        assert str(total) in l[0]
    code, l = c.cmd("BDAT 0 LAST")
    assert code == 250 and "queued as" in l[0], l
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    # No dot-unstuffing, no end-of-data detection inside chunks.
    assert split_delivered(m)[3] == b"".join(parts)
    tern.settle()
    assert tern.log_count(r"event=queued") == 1


def test_bdat_single_last_chunk(tern):
    c = tern.raw()
    c.ehlo()
    open_tx(c)
    body = b"Subject: one chunk\r\n\r\nbody\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(body) + body)
    code, l = c.reply()
    assert code == 250 and "queued as" in l[0], l
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == body


def test_bdat_zero_last_alone(tern):
    """An empty message via BDAT 0 LAST: the server must answer and stay
    in sync (accepting an empty message is allowed)."""
    c = tern.raw()
    c.ehlo()
    open_tx(c)
    code, l = c.cmd("BDAT 0 LAST")
    assert code in (250, 550, 554), l
    assert c.cmd("NOOP")[0] == 250
    c.close()


def test_bdat_8bit_octets_exact(tern):
    """BDAT octets are stored exactly: 8-bit octets, dots at line starts
    and CRLF.CRLF inside a chunk are just content."""
    c = tern.raw()
    c.ehlo()
    open_tx(c, params="BODY=8BITMIME")
    body = b"Subject: bin\r\n\r\n\xff\xfe\x80 8bit\r\n.\r\n..\r\nend\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(body) + body)
    code, l = c.reply()
    assert code == 250, l
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == body


@pytest.mark.parametrize("body", [b"Subject: lf\r\n\r\nbare\nlf\r\n",
                                  b"Subject: cr\r\n\r\nbare\rcr\r\n",
                                  b"Subject: end\r\n\r\nends with CR\r"],
                         ids=["lf", "cr", "trailing-cr"])
def test_bdat_bare_line_ends_refused(tern, body):
    """Like DATA (RFC 5321 §2.3.8): no bare CR or LF, so that a later hop
    speaking DATA cannot read the message two ways."""
    c = tern.raw()
    c.ehlo()
    open_tx(c, params="BODY=8BITMIME")
    c.send(b"BDAT %d LAST\r\n" % len(body) + body)
    code, l = c.reply()
    assert code == 550 and l[0].startswith("550 5.5.2"), l
    assert c.cmd("NOOP")[0] == 250
    c.close()
    tern.settle()
    assert tern.messages("alice") == []


def test_bdat_crlf_split_across_chunks(tern):
    c = tern.raw()
    c.ehlo()
    open_tx(c)
    for part, last in ((b"Subject: split\r", False), (b"\n\r\nbody\r", False), (b"\n", True)):
        c.send(b"BDAT %d%s\r\n" % (len(part), b" LAST" if last else b"") + part)
        code, l = c.reply()
        assert code == 250, l
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == b"Subject: split\r\n\r\nbody\r\n"


def test_bdat_then_data_refused(tern):
    c = tern.raw()
    c.ehlo()
    open_tx(c)
    c.send(b"BDAT 3\r\nabc")
    assert c.reply()[0] == 250
    code, l = c.cmd("DATA")
    assert code == 503, l
    # the BDAT transaction can still finish
    code, l = c.cmd("BDAT 0 LAST")
    assert code == 250, l
    c.close()


def test_bdat_without_transaction_is_discarded(tern):
    c = tern.raw()
    c.ehlo()
    payload = b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<alice@example.test>\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(payload) + payload)
    code, l = c.reply()
    assert code == 503, l
    # The chunk was skipped, not read as commands.
    c.no_reply(0.3)
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 503
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    # MAIL but no RCPT: 554 and the chunk is skipped too.
    c.send(b"BDAT 5\r\nhello")
    code, l = c.reply()
    assert code == 554, l
    assert c.cmd("NOOP")[0] == 250
    c.close()
    tern.settle()
    assert tern.log_count(r"event=queued") == 0


def test_bdat_bad_syntax_closes(tern):
    c = tern.raw()
    c.ehlo()
    open_tx(c)
    code, l = c.cmd("BDAT abc")
    assert code == 501, l
    c.expect_closed()
    c.close()
    # The server is still fine.
    c = tern.raw()
    c.ehlo()
    c.close()


def test_bdat_over_limit(small):
    c = small.raw()
    c.ehlo()
    open_tx(c)
    chunk = b"a" * 40000
    c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
    assert c.reply()[0] == 250
    c.send(b"BDAT %d\r\n" % len(chunk) + chunk)     # 80000 > 64K
    code, l = c.reply()
    assert code == 552 and l[0].startswith("552 5.3.4"), l
    c.send(b"BDAT 10\r\n" + b"b" * 10)               # still refused
    code, l = c.reply()
    assert code == 552, l
    code, l = c.cmd("BDAT 0 LAST")
    assert code == 552, l
    # The transaction is over; the next one works.
    open_tx(c, rcpt="bob@example.test")
    small_body = b"Subject: ok\r\n\r\nok\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(small_body) + small_body)
    code, l = c.reply()
    assert code == 250, l
    c.close()
    small.wait_for_messages("bob", 1)
    small.settle()
    assert small.messages("alice") == []
    assert small.log_count(r"event=queued") == 1


def test_bdat_single_huge_chunk_declared(small):
    """BDAT announcing far more than the limit: refused after the octets,
    the session stays in sync."""
    c = small.raw(timeout=30)
    c.ehlo()
    open_tx(c)
    n = 1024 * 1024
    c.send(b"BDAT %d LAST\r\n" % n + b"q" * n)
    code, l = c.reply()
    assert code == 552, l
    assert c.cmd("NOOP")[0] == 250
    c.close()
    small.settle()
    assert small.messages("alice") == []


def test_bdat_size_overflow(small):
    """BDAT sizes add up without wrapping: 10 + (2^64 - 10) is not 0. A
    wrapped sum would store an endless chunk past max_message_size."""
    c = small.raw()
    c.ehlo()
    open_tx(c)
    c.send(b"BDAT 10\r\n0123456789")
    assert c.reply()[0] == 250
    c.send(b"BDAT %d\r\n" % (2 ** 64 - 10))
    for _ in range(8):
        c.send(b"x" * 65536)           # 512 KiB of the "chunk"
    time.sleep(0.3)
    stored = sum(p.stat().st_size for p in (small.queue_dir / "tmp").iterdir())
    assert stored <= LIMIT + 4096, "%d octets stored with a 64 KiB limit" % stored
    c.close()
    small.settle()
    assert small.messages("alice") == []


def test_bdat_max_size_value(small):
    c = small.raw()
    c.ehlo()
    open_tx(c)
    # 2^64 - 1 itself, and one more (not a valid 64-bit size at all)
    c.send(b"BDAT %d\r\nabc" % (2 ** 64 - 1))
    c.close()
    c = small.raw()
    c.ehlo()
    open_tx(c)
    code, l = c.cmd("BDAT %d" % (2 ** 64))
    assert code == 501, l
    c.close()
    small.settle()
    assert small.messages("alice") == []


def test_bdat_at_limit(small):
    c = small.raw()
    c.ehlo()
    open_tx(c)
    body = message_of(LIMIT)
    half = len(body) // 2
    c.send(b"BDAT %d\r\n" % half + body[:half])
    assert c.reply()[0] == 250
    c.send(b"BDAT %d LAST\r\n" % (len(body) - half) + body[half:])
    code, l = c.reply()
    assert code == 250, l
    c.close()
    m, = small.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == body


def test_bdat_large_chunks(tern):
    c = tern.raw(timeout=30)
    c.ehlo()
    open_tx(c)
    body = message_of(3 * 1024 * 1024 + 17)
    step = 700 * 1024
    for i in range(0, len(body), step):
        part = body[i:i + step]
        last = i + step >= len(body)
        c.send(b"BDAT %d%s\r\n" % (len(part), b" LAST" if last else b"") + part)
        code, l = c.reply()
        assert code == 250, l
    c.close()
    m, = tern.wait_for_messages("alice", 1, timeout=30)
    assert split_delivered(m)[3] == body


def test_rset_abandons_bdat_transaction(tern):
    c = tern.raw()
    c.ehlo()
    open_tx(c, rcpt="alice@example.test")
    c.cmd("RCPT TO:<bob@example.test>")
    c.send(b"BDAT 5\r\nhello")
    assert c.reply()[0] == 250
    assert len(tern.queue_files("tmp")) == 1       # the message being received
    assert c.cmd("RSET")[0] == 250
    assert tern.queue_files("tmp") == []
    assert c.cmd("BDAT 0 LAST")[0] == 503
    # A new transaction may use DATA again.
    open_tx(c, rcpt="bob@example.test")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: after rset\r\n\r\nok\r\n.\r\n")
    assert c.reply()[0] == 250
    c.close()
    m, = tern.wait_for_messages("bob", 1)
    assert split_delivered(m)[3] == b"Subject: after rset\r\n\r\nok\r\n"
    tern.settle()
    assert tern.messages("alice") == []
