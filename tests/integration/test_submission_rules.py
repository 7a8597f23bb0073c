"""The message submission rules (RFC 6409) once logged in: AUTH before
MAIL, the sender must belong to the login, authenticated users may relay,
trace and the headers a submission server adds, the per-user rate limit
and recipient limit.
"""
import re
import smtplib

import pytest

from subenv import (ALICE, BOB, HOSTNAME, PASSWORDS, SubRaw, header_block, make_msg,  # noqa: F401
                    peers, plain_b64, sub, sub_factory)
from subenv import starttls
from tern_harness import split_delivered, stuff, t


def route_to(peers):
    return ["route example.net 127.0.0.2:%d" % peers.port]


# ---------------------------------------------------------- AUTH first --

@pytest.mark.parametrize("port_kind", ["submission", "smtps"])
def test_mail_without_auth_530(sub, port_kind):
    c = sub.raw_tls() if port_kind == "submission" else sub.raw_smtps()
    try:
        if port_kind == "smtps":
            c.ehlo()
        c.cmd_expect("MAIL FROM:<alice@example.test>", 530, "5.7.0")
        c.cmd_expect("MAIL FROM:<>", 530)
        c.cmd_expect("RCPT TO:<alice@example.test>", 503)
        # Authenticating then makes MAIL work in the same session.
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 235)
        c.cmd_expect("MAIL FROM:<alice@example.test>", 250)
    finally:
        c.close()
    sub.wait_for_log(r"event=reject .*reply=\"530 5\.7\.0")


def test_mail_without_auth_530_even_in_cleartext(sub):
    c = sub.raw_sub()
    try:
        c.ehlo()
        c.cmd_expect("MAIL FROM:<alice@example.test>", 530, "5.7.0")
    finally:
        c.close()


def test_smtplib_without_login_refused(sub):
    s = sub.submission()
    try:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail(ALICE, [BOB], make_msg(to=BOB))
        assert e.value.smtp_code == 530
    finally:
        s.close()
    sub.settle()
    assert sub.messages("bob") == []


# ---------------------------------------------------- sender ownership --

@pytest.mark.parametrize("sender", [
    "alice@example.test",
    "ALICE@Example.Test",
    "alice+lists@example.test",      # subaddress of the login
    "info@example.test",             # alias delivering to alice only
    "team@example.test",             # alias delivering to alice (and bob)
    "postmaster@example.test",       # not hers: the postmaster mailbox
])
def test_sender_ownership(sub, sender):
    owned = sender.lower() != "postmaster@example.test"
    c = sub.raw_tls(user=ALICE)
    try:
        code, lines = c.cmd("MAIL FROM:<%s>" % sender)
        if owned:
            assert code == 250, lines
        else:
            assert code == 553 and "5.7.1" in lines[-1], lines
    finally:
        c.close()


@pytest.mark.parametrize("sender", ["bob@example.test", "alice@example.net",
                                    "alice@mx.example.test", "bob+alice@example.test",
                                    "nobody@example.test"])
def test_cannot_send_as_someone_else_553(sub, sender):
    c = sub.raw_tls(user=ALICE)
    try:
        c.cmd_expect("MAIL FROM:<%s>" % sender, 553, "5.7.1")
        c.cmd_expect("RCPT TO:<bob@example.test>", 503)
        # The session goes on; the own address works.
        c.cmd_expect("MAIL FROM:<alice@example.test>", 250)
    finally:
        c.close()


def test_smtplib_send_as_other_user_refused(sub):
    s = sub.submission(BOB)
    try:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail(ALICE, [BOB], make_msg(sender=ALICE, to=BOB))
        assert e.value.smtp_code == 553
        assert b"not owned" in e.value.smtp_error
    finally:
        s.close()
    sub.settle()
    assert sub.messages("bob") == []


def test_mail_auth_parameter_accepted(sub):
    """RFC 4954 §5: MAIL may carry AUTH=; clients such as Outlook send it."""
    c = sub.raw_tls(user=ALICE)
    try:
        c.cmd_expect("MAIL FROM:<alice@example.test> AUTH=<>", 250)
        c.cmd_expect("RSET", 250)
        c.cmd_expect("MAIL FROM:<alice@example.test> AUTH=alice@example.test", 250)
    finally:
        c.close()


def test_null_sender_allowed_when_authenticated(sub):
    c = sub.raw_tls(user=ALICE)
    try:
        code, lines = c.send_message("", [BOB], stuff(make_msg(to=BOB)))
        assert code == 250, lines
    finally:
        c.close()
    sub.wait_for_messages("bob", 1)


# ------------------------------------------------------------ relaying --

# ------------------------------------------- our domains on port 25 --

def port25(tern, source=None):
    c = SubRaw(tern.port, t(10), source)
    c.expect(220)
    c.ehlo()
    return c


@pytest.mark.parametrize("sender", ["alice@example.test", "nobody@EXAMPLE.TEST",
                                    "x@other.test"])
def test_own_domain_sender_on_port25_refused(sub_factory, sender):
    """reject_own_domain_sender (default yes): an anonymous client outside
    relay_networks cannot use one of our domains as sender on port 25."""
    tern = sub_factory(domains="example.test other.test")
    c = port25(tern)
    try:
        c.cmd_expect("MAIL FROM:<%s>" % sender, 550, "5.7.1")
        # Others are fine, the session goes on.
        c.cmd_expect("MAIL FROM:<someone@example.net>", 250)
        c.cmd_expect("RCPT TO:<alice@example.test>", 250)
        c.cmd_expect("RSET", 250)
        c.cmd_expect("MAIL FROM:<>", 250)     # bounces come from anyone
    finally:
        c.close()
    tern.wait_for_log(r"event=reject .*550 5\.7\.1")


def test_own_domain_sender_allowed_when_trusted(sub_factory):
    """A relay_networks client and an authenticated one may; and
    reject_own_domain_sender no restores the old behaviour."""
    tern = sub_factory(relay_networks="127.0.0.9/32")
    c = port25(tern, "127.0.0.9")
    try:
        c.cmd_expect("MAIL FROM:<alice@example.test>", 250)
    finally:
        c.close()
    c = port25(tern, "127.0.0.10")
    try:
        c.cmd_expect("MAIL FROM:<alice@example.test>", 550, "5.7.1")
        c.cmd_expect("STARTTLS", 220)
        starttls(c)
        c.ehlo()
        c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 235)
        c.cmd_expect("MAIL FROM:<alice@example.test>", 250)
        c.cmd_expect("RCPT TO:<bob@example.test>", 250)
        c.cmd_expect("DATA", 354)
        c.send(make_msg(to=BOB) + b".\r\n")
        c.expect(250)
    finally:
        c.close()
    tern.wait_for_messages("bob", 1)
    off = sub_factory(reject_own_domain_sender="no")
    c = port25(off)
    try:
        c.cmd_expect("MAIL FROM:<alice@example.test>", 250)
    finally:
        c.close()


def test_authenticated_user_relays_to_any_domain(sub_factory, peers):
    peer = peers("127.0.0.2")
    tern = sub_factory(extra=route_to(peers))
    s = tern.submission(ALICE)
    try:
        assert s.sendmail(ALICE, ["x@example.net", BOB],
                          make_msg(to="x@example.net", msgid="<relay-1@client.example.net>")) == {}
    finally:
        s.close()
    got, = peer.wait_messages(1)
    assert got.rcpt_tos == ["x@example.net"] and got.mail_from == ALICE
    assert got.msgid == "<relay-1@client.example.net>"
    tern.wait_for_messages("bob", 1)
    # The same server refuses to relay for an anonymous client (whose
    # sender is not in our domains: reject_own_domain_sender).
    c = SubRaw(tern.port, t(10))
    try:
        c.expect(220)
        c.ehlo()
        c.cmd_expect("MAIL FROM:<someone@example.org>", 250)
        c.cmd_expect("RCPT TO:<x@example.net>", 550, "5.7.1")
    finally:
        c.close()


# The From: check and the DKIM signer read a header the same way (one
# definition of a field name, proto/rfc5322.c), and what the check cannot
# read in full it refuses rather than reads in part.
FOLDED_COMMENT = "(" + "\r\n ".join(["x" * 70] * 16) + ")"     # ~1150 octets
LONGER_COMMENT = "(" + "\r\n ".join(["x" * 70] * 40) + ")"     # over 2048


@pytest.mark.parametrize("fields,ok", [
    (['From: <alice@example.test>'], True),
    (['From: Alice <alice+news@example.test>'], True),
    (['From: <bob@example.test>'], False),
    (['From: <alice@example.test>, <bob@example.test>'], False),
    # obsolete syntax (RFC 5322 §4.5.2 obs-from): WSP before the colon is still From
    (['From : <alice@example.test>'], True),
    (['From\t: Alice <alice@example.test>'], True),
    (['From : "CEO" <ceo@example.test>', 'From: <alice@example.test>'], False),
    (['From: <alice@example.test>', 'From : "CEO" <ceo@example.test>'], False),
    (['FROM  :<bob@example.test>', 'From: <alice@example.test>'], False),
    # the name's WSP may be folded (unfolding comes first, RFC 5322 §2.2.3)
    (['From\r\n : <bob@example.test>', 'From: <alice@example.test>'], False),
    # exactly one From (RFC 5322 §3.6)
    (['From: <alice@example.test>', 'From: <alice@example.test>'], False),
    # every address of the list, every address of a group
    (['From: <alice@example.test>, Bob <bob@example.test>'], False),
    (['From: Us: <alice@example.test>, <bob@example.test>;'], False),
    (['From: Us: <alice@example.test>, alice+x@example.test;'], True),
    (['From: no address at all'], False),
    # a value longer than the check reads (folded, every line short)
    (['From: <alice@example.test>, ' + FOLDED_COMMENT + ' <bob@example.test>'], False),
    (['From: ' + FOLDED_COMMENT + ' <alice@example.test>'], True),
    (['From: ' + LONGER_COMMENT + ' <alice@example.test>'], False),
    # an address too long for a path (RFC 5321 §4.5.3.1.3) is not the end
    (['From: <alice@example.test>, <' + "b" * 300 + '@example.test>, <bob@example.test>'], False),
    (['From: <alice@example.test>, <' + "b" * 300 + '@example.test>'], False),
    # unterminated quoted string, comment or angle address
    (['From: <alice@example.test>, "<bob@example.test>'], False),
    (['From: <alice@example.test>, (<bob@example.test>'], False),
    (['From: <alice@example.test>, <bob@example.test'], False),
])
def test_from_field_must_belong_to_login(sub, fields, ok):
    hdr = "\r\n".join(fields).encode()
    msg = make_msg(to=BOB).replace(b"From: <alice@example.test>", hdr)
    c = sub.raw_tls(user=ALICE)
    try:
        code, lines = c.send_message(ALICE, [BOB], stuff(msg))
        if ok:
            assert code == 250, lines
        else:
            assert code == 550 and "5.7.1" in lines[-1], lines
        # the session goes on
        c.cmd_expect("NOOP", 250)
    finally:
        c.close()
    sub.settle()
    assert len(sub.messages("bob")) == (1 if ok else 0)
    if not ok:
        sub.wait_for_log(r"event=reject .*reply=\"550 5\.7\.1 From: header")


# ------------------------------------------------- trace and headers --

def delivered_one(tern, user):
    m, = tern.wait_for_messages(user, 1)
    tern.settle()
    return split_delivered(m)


def test_received_says_esmtpsa_with_tls_details(sub):
    c = sub.raw_tls(user=ALICE)
    try:
        code, lines = c.send_message(ALICE, [BOB], stuff(make_msg(to=BOB)))
        assert code == 250, lines
        qid = re.search(r"queued as ([0-9A-F]+)", lines[-1]).group(1)
    finally:
        c.close()
    _, _, received, _ = delivered_one(sub, "bob")
    text = received.decode()
    assert text.startswith("Received: from client.example.net ([127.0.0.1])\r\n"), text
    assert "by %s (tern) with ESMTPSA id %s" % (HOSTNAME, qid) in text, text
    assert re.search(r"\(TLSv1\.[23] [A-Z0-9_-]+\)", text), text
    assert "for <bob@example.test>" in text, text
    # The login name is not disclosed in the trace.
    assert "alice" not in text
    sub.wait_for_log(r"id=%s event=queued .*proto=ESMTPSA" % qid)


def test_received_says_esmtpsa_on_smtps(sub):
    s = sub.smtps(ALICE)
    try:
        s.sendmail(ALICE, [BOB], make_msg(to=BOB))
    finally:
        s.close()
    _, _, received, _ = delivered_one(sub, "bob")
    assert b" with ESMTPSA id " in received, received


def test_date_and_message_id_added_when_missing(sub):
    c = sub.raw_tls(user=ALICE)
    try:
        code, lines = c.send_message(ALICE, [BOB], stuff(make_msg(to=BOB, date=False, msgid=False,
                                                                  subject="bare")))
        assert code == 250, lines
        qid = re.search(r"queued as ([0-9A-F]+)", lines[-1]).group(1)
    finally:
        c.close()
    _, _, _, msg = delivered_one(sub, "bob")
    hdr = header_block(msg)
    assert len(re.findall(rb"(?im)^Date: ", hdr)) == 1, hdr
    assert re.search(rb"(?m)^Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n", hdr), hdr
    assert re.findall(rb"(?im)^Message-ID: (.*)\r\n", hdr) == [("<%s@%s>" % (qid, HOSTNAME)).encode()]
    # Added to the header, the body untouched.
    assert msg.endswith(b"\r\n\r\nHello.\r\n"), msg
    assert b"Subject: bare\r\n" in hdr


def test_only_the_missing_one_is_added(sub):
    c = sub.raw_tls(user=ALICE)
    try:
        m1 = make_msg(to=BOB, msgid="<mine@client.example.net>", date=False)
        m2 = make_msg(to=BOB, msgid=False, date=True)
        for m in (m1, m2):
            code, lines = c.send_message(ALICE, [BOB], stuff(m))
            assert code == 250, lines
    finally:
        c.close()
    msgs = sub.wait_for_messages("bob", 2)
    sub.settle()
    hdrs = sorted((header_block(split_delivered(m)[3]) for m in msgs),
                  key=lambda h: b"mine@" not in h)
    assert re.findall(rb"(?im)^Message-ID: (.*)\r\n", hdrs[0]) == [b"<mine@client.example.net>"]
    assert len(re.findall(rb"(?im)^Date: ", hdrs[0])) == 1
    assert re.findall(rb"(?im)^Date: (.*)\r\n", hdrs[1]) == [b"Mon, 01 Jan 2024 00:00:00 +0000"]
    assert len(re.findall(rb"(?im)^Message-ID: ", hdrs[1])) == 1


def test_headers_added_with_bdat(sub):
    c = sub.raw_tls(user=ALICE)
    try:
        c.cmd_expect("MAIL FROM:<alice@example.test>", 250)
        c.cmd_expect("RCPT TO:<bob@example.test>", 250)
        body = make_msg(to=BOB, date=False, msgid=False, subject="chunked")
        c.send(b"BDAT %d LAST\r\n" % len(body) + body)
        assert c.reply()[0] == 250
    finally:
        c.close()
    _, _, _, msg = delivered_one(sub, "bob")
    hdr = header_block(msg)
    assert len(re.findall(rb"(?im)^Date: ", hdr)) == 1, hdr
    assert len(re.findall(rb"(?im)^Message-ID: ", hdr)) == 1, hdr


@pytest.mark.parametrize("chunks", [
    # the trigger: the first chunk ends between the CR and the LF
    # of the empty line that ends the header
    [b"From: <alice@example.test>\r\n\r", b"\nhi\r\n"],
    [b"From: <alice@example.test>\r\n", b"\r", b"\n", b"hi\r\n"],
    [b"From: <alice@example.test>\r", b"\n\r", b"\nhi\r\n"],
    [b"From: <alice@example.test>\r\n\r", b"", b"\nhi\r\n"],
])
def test_headers_added_with_bdat_split_in_the_empty_line(sub, chunks):
    c = sub.raw_tls(user=ALICE)
    try:
        c.cmd_expect("MAIL FROM:<alice@example.test>", 250)
        c.cmd_expect("RCPT TO:<bob@example.test>", 250)
        for i, ch in enumerate(chunks):
            last = i == len(chunks) - 1
            c.send(b"BDAT %d%s\r\n" % (len(ch), b" LAST" if last else b"") + ch)
            code, lines = c.reply()
            assert code == 250, (i, lines)
        qid = re.search(r"queued as ([0-9A-F]+)", lines[-1]).group(1)
    finally:
        c.close()
    _, _, _, msg = delivered_one(sub, "bob")
    m = re.fullmatch(rb"From: <alice@example\.test>\r\n"
                     rb"Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n"
                     rb"Message-ID: <([^>]*)>\r\n"
                     rb"\r\nhi\r\n", msg)
    assert m, msg
    assert m.group(1) == ("%s@%s" % (qid, HOSTNAME)).encode()
    assert "write:" not in sub.log


def test_headers_added_to_a_message_without_body(sub):
    """A message may be all header (RFC 5322 §3.5: the body is optional)."""
    c = sub.raw_tls(user=ALICE)
    try:
        code, lines = c.send_message(ALICE, [BOB],
                                     b"From: <alice@example.test>\r\nSubject: no body\r\n.\r\n")
        assert code == 250, lines
    finally:
        c.close()
    _, _, _, msg = delivered_one(sub, "bob")
    assert len(re.findall(rb"(?im)^Date: ", msg)) == 1, msg
    assert len(re.findall(rb"(?im)^Message-ID: ", msg)) == 1, msg


def test_mx_port_adds_no_headers(sub):
    """Only submissions get Date/Message-ID (RFC 6409 §8); mail arriving
    from outside is stored as sent."""
    c = SubRaw(sub.port, t(10))
    try:
        c.expect(220)
        c.ehlo()
        code, lines = c.send_message("someone@example.net", [BOB],
                                     stuff(make_msg(sender="someone@example.net", to=BOB,
                                                    date=False, msgid=False)))
        assert code == 250, lines
    finally:
        c.close()
    _, _, received, msg = delivered_one(sub, "bob")
    assert b" with ESMTP id " in received
    assert not re.search(rb"(?im)^(Date|Message-ID): ", header_block(msg)), msg


# -------------------------------------------------------------- limits --

def test_rate_limit_per_user(sub_factory):
    tern = sub_factory(submission_rate_limit="2")
    c = tern.raw_tls(user=ALICE)
    try:
        for i in range(2):
            code, lines = c.send_message(ALICE, [BOB], stuff(make_msg(to=BOB, subject="r%d" % i)))
            assert code == 250, lines
        c.cmd_expect("MAIL FROM:<alice@example.test>", 450, "4.7.1")
        c.cmd_expect("NOOP", 250)
    finally:
        c.close()
    # The count is per user, across sessions.
    c = tern.raw_tls(user=ALICE)
    try:
        c.cmd_expect("MAIL FROM:<alice+x@example.test>", 450, "4.7.1")
    finally:
        c.close()
    c = tern.raw_tls(user=BOB)
    try:
        code, lines = c.send_message(BOB, [ALICE], stuff(make_msg(sender=BOB, to=ALICE)))
        assert code == 250, lines
    finally:
        c.close()
    tern.wait_for_log(r"event=rate-limited user=alice@example\.test client=127\.0\.0\.1 limit=2/h")
    tern.wait_for_messages("bob", 2)
    tern.wait_for_messages("alice", 1)


def test_submission_max_recipients(sub_factory):
    tern = sub_factory(submission_max_recipients="2")
    c = tern.raw_tls(user=ALICE)
    try:
        c.cmd_expect("MAIL FROM:<alice@example.test>", 250)
        c.cmd_expect("RCPT TO:<bob@example.test>", 250)
        c.cmd_expect("RCPT TO:<postmaster@example.test>", 250)
        c.cmd_expect("RCPT TO:<alice@example.test>", 452, "4.5.3")
        c.cmd_expect("DATA", 354)
        c.send(stuff(make_msg(to=BOB)))
        assert c.reply()[0] == 250
    finally:
        c.close()
    tern.wait_for_messages("bob", 1)
    tern.wait_for_messages("postmaster", 1)
    tern.settle()
    assert tern.messages("alice") == []
    # The limit is for authenticated users; the MX port has its own.
    c = SubRaw(tern.port, t(10))
    try:
        c.expect(220)
        c.ehlo()
        c.cmd_expect("MAIL FROM:<x@example.net>", 250)
        for r in ("bob", "postmaster", "alice"):
            c.cmd_expect("RCPT TO:<%s@example.test>" % r, 250)
    finally:
        c.close()
