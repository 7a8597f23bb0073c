"""SMTP sessions with smtplib: commands, sequencing, routing (RFC 5321)."""
import re
import smtplib

import pytest

from tern_harness import HOSTNAME, split_delivered


def msg(subject, body="Hello.\r\n"):
    return ("From: sender@example.net\r\nTo: someone@example.test\r\n"
            "Subject: %s\r\nMessage-ID: <%s@client.example.net>\r\n\r\n%s"
            % (subject, subject.replace(" ", "-"), body)).encode()


def test_greeting(tern):
    c = tern.raw(greeting=False)
    code, lines = c.reply()
    assert code == 220
    assert lines == ["220 %s ESMTP tern" % HOSTNAME]
    c.close()


def test_ehlo_keywords(tern):
    s = tern.smtp(ehlo=False)
    code, text = s.ehlo("client.example.net")
    assert code == 250
    first = text.decode().splitlines()[0]
    assert first.startswith(HOSTNAME)
    assert "client.example.net" in first and "[127.0.0.1]" in first
    for kw in ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes",
               "dsn", "chunking"):
        assert s.has_extn(kw), kw
    assert s.esmtp_features["size"] == str(35 << 20)
    s.quit()


def test_ehlo_size_follows_config(tern_factory):
    tern = tern_factory(max_message_size="64K")
    s = tern.smtp()
    assert s.esmtp_features["size"] == str(64 * 1024)
    s.quit()


def test_helo_then_send(tern):
    s = tern.smtp(ehlo=False)
    code, text = s.helo("old.example.net")
    assert code == 250 and text.decode().endswith(HOSTNAME)
    assert s.docmd("MAIL FROM:<a@example.net>") == (250, b"2.1.0 Ok")
    assert s.docmd("RCPT TO:<alice@example.test>") == (250, b"2.1.5 Ok")
    s.data(msg("helo"))
    s.quit()
    m, = tern.wait_for_messages("alice", 1)
    _, _, received, _ = split_delivered(m)
    assert b"with SMTP id" in received


def test_helo_refuses_esmtp_parameters(tern):
    s = tern.smtp(ehlo=False)
    s.helo("old.example.net")
    code, text = s.docmd("MAIL FROM:<a@example.net> SIZE=100")
    assert code == 555 and text.startswith(b"5.5.4"), (code, text)
    s.quit()


def test_ehlo_without_argument(tern):
    s = tern.smtp(ehlo=False)
    code, text = s.docmd("EHLO")
    assert code == 501 and text.startswith(b"5.5.4")
    code, text = s.docmd("HELO")
    assert code == 501
    s.quit()


def test_simple_message_delivered(tern):
    s = tern.smtp()
    body = msg("simple")
    refused = s.sendmail("sender@example.net", ["alice@example.test"], body)
    assert refused == {}
    s.quit()
    m, = tern.wait_for_messages("alice", 1)
    rp, dt, received, rest = split_delivered(m)
    assert rp == b"sender@example.net"
    assert dt == b"alice@example.test"
    assert received.startswith(b"Received: from client.example.net ([127.0.0.1])\r\n\tby %s (tern) with ESMTP id "
                               % HOSTNAME.encode())
    assert b"\tfor <alice@example.test>;\r\n" in received
    assert rest == body
    tern.settle()
    assert tern.log_count(r"event=queued") == 1
    assert tern.log_count(r"event=delivery .*status=sent") == 1


def test_queued_reply_and_log(tern):
    s = tern.smtp()
    s.docmd("MAIL FROM:<sender@example.net>")
    s.docmd("RCPT TO:<alice@example.test>")
    code, text = s.data(msg("reply"))
    assert code == 250
    text = text.decode()
    assert text.startswith("2.0.0 Ok: queued as ")
    qid = text.rsplit(" ", 1)[1]
    assert len(qid) == 16 and all(c in "0123456789ABCDEF" for c in qid)
    s.quit()
    m, = tern.wait_for_messages("alice", 1)
    tern.wait_for_log(r"id=%s event=delivery .*status=sent" % qid)
    assert "id=%s event=queued" % qid in tern.log
    assert ("with ESMTP id %s" % qid).encode() in m


def test_null_sender(tern):
    s = tern.smtp()
    assert s.sendmail("<>", ["bob@example.test"], msg("bounce")) == {}
    s.quit()
    m, = tern.wait_for_messages("bob", 1)
    assert m.startswith(b"Return-Path: <>\r\nDelivered-To: bob@example.test\r\n")


def test_several_messages_one_session(tern):
    s = tern.smtp()
    for i in range(5):
        s.sendmail("sender@example.net", ["alice@example.test"], msg("multi %d" % i))
    s.quit()
    msgs = tern.wait_for_messages("alice", 5)
    tern.settle()
    assert len(tern.messages("alice")) == 5
    subjects = sorted(split_delivered(m)[3].split(b"\r\n")[2] for m in msgs)
    assert subjects == [b"Subject: multi %d" % i for i in range(5)]


# ---------------------------------------------------------------- sequence --

def test_mail_before_ehlo(tern):
    s = tern.smtp(ehlo=False)
    code, text = s.docmd("MAIL FROM:<a@example.net>")
    assert code == 503 and text.startswith(b"5.5.1"), (code, text)
    s.ehlo()
    assert s.docmd("MAIL FROM:<a@example.net>")[0] == 250
    s.quit()


def test_rcpt_before_mail(tern):
    s = tern.smtp()
    code, text = s.docmd("RCPT TO:<alice@example.test>")
    assert code == 503 and text.startswith(b"5.5.1"), (code, text)
    s.quit()


def test_data_before_rcpt(tern):
    s = tern.smtp()
    code, text = s.docmd("DATA")
    assert code == 503 and text.startswith(b"5.5.1"), (code, text)
    s.docmd("MAIL FROM:<a@example.net>")
    code, text = s.docmd("DATA")
    assert code == 554 and text.startswith(b"5.5.1"), (code, text)
    # Still in the transaction: a good RCPT then DATA works.
    assert s.docmd("RCPT TO:<alice@example.test>")[0] == 250
    assert s.data(msg("after 554"))[0] == 250
    s.quit()
    tern.wait_for_messages("alice", 1)


def test_data_after_only_rejected_rcpts(tern):
    s = tern.smtp()
    s.docmd("MAIL FROM:<a@example.net>")
    assert s.docmd("RCPT TO:<nobody@example.test>")[0] == 550
    code, text = s.docmd("DATA")
    assert code == 554, (code, text)
    s.quit()


def test_nested_mail(tern):
    s = tern.smtp()
    assert s.docmd("MAIL FROM:<a@example.net>")[0] == 250
    code, text = s.docmd("MAIL FROM:<b@example.net>")
    assert code == 503 and text.startswith(b"5.5.1")
    s.quit()


def test_data_with_argument(tern):
    s = tern.smtp()
    s.docmd("MAIL FROM:<a@example.net>")
    s.docmd("RCPT TO:<alice@example.test>")
    code, _ = s.docmd("DATA now")
    assert code == 501
    s.quit()


def test_rset(tern):
    s = tern.smtp()
    assert s.docmd("MAIL FROM:<a@example.net>")[0] == 250
    assert s.docmd("RCPT TO:<alice@example.test>")[0] == 250
    assert s.docmd("RSET") == (250, b"2.0.0 Ok")
    code, _ = s.docmd("RCPT TO:<alice@example.test>")
    assert code == 503
    code, _ = s.docmd("DATA")
    assert code == 503
    # A new transaction after RSET works and the reset one left nothing.
    assert s.sendmail("b@example.net", ["bob@example.test"], msg("after rset")) == {}
    assert s.docmd("RSET")[0] == 250   # RSET outside a transaction is fine
    code, _ = s.docmd("RSET now")
    assert code == 501
    s.quit()
    tern.wait_for_messages("bob", 1)
    tern.settle()
    assert tern.messages("alice") == []


def test_rset_before_ehlo_keeps_state(tern):
    s = tern.smtp(ehlo=False)
    assert s.docmd("RSET")[0] == 250
    assert s.docmd("MAIL FROM:<a@example.net>")[0] == 503
    s.quit()


def test_noop(tern):
    s = tern.smtp(ehlo=False)
    assert s.noop() == (250, b"2.0.0 Ok")
    s.ehlo()
    assert s.docmd("NOOP", "ignored argument")[0] == 250
    s.docmd("MAIL FROM:<a@example.net>")
    assert s.noop()[0] == 250
    # NOOP does not disturb the transaction.
    assert s.docmd("RCPT TO:<alice@example.test>")[0] == 250
    s.quit()


def test_vrfy(tern):
    s = tern.smtp()
    code, text = s.verify("alice@example.test")
    assert code == 252 and text.startswith(b"2.5.2"), (code, text)
    code, text = s.verify("nobody@example.test")
    assert code == 252   # does not reveal who exists
    code, _ = s.docmd("VRFY")
    assert code == 501
    s.quit()


def test_expn_not_available(tern):
    s = tern.smtp()
    code, _ = s.docmd("EXPN team")
    assert code == 502
    s.quit()


def test_help(tern):
    s = tern.smtp()
    code, text = s.docmd("HELP")
    assert code == 214, (code, text)
    assert b"MAIL" in text
    s.quit()


def test_quit(tern):
    c = tern.raw()
    code, lines = c.cmd("QUIT")
    assert code == 221 and lines[0].startswith("221 2.0.0")
    assert c.expect_closed() == b""
    c.close()
    tern.wait_for_log(r"event=disconnect .*reason=quit")


def test_unknown_command(tern):
    s = tern.smtp()
    code, text = s.docmd("FOO bar")
    assert code == 500 and text.startswith(b"5.5."), (code, text)
    code, _ = s.docmd("XYZZY")
    assert code == 500
    assert s.noop()[0] == 250
    s.quit()


def test_commands_case_insensitive(tern):
    c = tern.raw()
    assert c.cmd("ehlo client.example.net")[0] == 250
    assert c.cmd("mail from:<lower@example.net>")[0] == 250
    assert c.cmd("RcPt To:<Alice@Example.Test>")[0] == 250
    assert c.cmd("rcpt TO:<BOB@EXAMPLE.TEST>")[0] == 250
    assert c.cmd("noop")[0] == 250
    assert c.cmd("data")[0] == 354
    c.send(b"Subject: case\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.cmd("rset")[0] == 250
    assert c.cmd("vrfy alice")[0] == 252
    assert c.cmd("Quit")[0] == 221
    c.close()
    a, = tern.wait_for_messages("alice", 1)
    b, = tern.wait_for_messages("bob", 1)
    assert b"Subject: case" in a and b"Subject: case" in b


# ----------------------------------------------------------------- routing --

def test_unknown_user(tern):
    s = tern.smtp()
    s.docmd("MAIL FROM:<a@example.net>")
    code, text = s.docmd("RCPT TO:<nobody@example.test>")
    assert code == 550 and text.startswith(b"5.1.1"), (code, text)
    s.quit()
    assert 'reply="550 5.1.1' in tern.log


def test_unknown_user_with_valid_one(tern):
    s = tern.smtp()
    refused = s.sendmail("a@example.net", ["nobody@example.test", "bob@example.test"], msg("partial"))
    assert list(refused) == ["nobody@example.test"]
    assert refused["nobody@example.test"][0] == 550
    s.quit()
    tern.wait_for_messages("bob", 1)


def test_relay_denied(tern):
    s = tern.smtp()
    # (A sender outside our domains: reject_own_domain_sender refuses ours.)
    s.docmd("MAIL FROM:<someone@example.net>")
    for rcpt in ("bob@other.test", "alice@example.test.evil.net", "alice@sub.example.test",
                 "alice@[127.0.0.1]"):
        code, text = s.docmd("RCPT TO:<%s>" % rcpt)
        assert code == 550 and text.startswith(b"5.7.1"), (rcpt, code, text)
    # source route to a non-local mailbox is still non-local
    code, text = s.docmd("RCPT TO:<@example.test:bob@other.test>")
    assert code == 550 and text.startswith(b"5.7.1"), (code, text)
    code, _ = s.docmd("DATA")
    assert code == 554
    s.quit()


def test_relay_denied_smtplib(tern):
    s = tern.smtp()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
        s.sendmail("someone@example.net", ["x@other.test"], msg("relay"))
    code, text = ei.value.recipients["x@other.test"]
    assert code == 550 and text.startswith(b"5.7.1")
    s.quit()


@pytest.mark.parametrize("rcpt", ["postmaster", "Postmaster", "POSTMASTER",
                                  "postmaster@example.test", "PostMaster@Example.TEST",
                                  "abuse@example.test"])
def test_postmaster_always_accepted(tern, rcpt):
    s = tern.smtp()
    s.docmd("MAIL FROM:<a@example.net>")
    code, text = s.docmd("RCPT TO:<%s>" % rcpt)
    assert code == 250, (rcpt, code, text)
    assert s.data(msg("to postmaster"))[0] == 250
    s.quit()
    m, = tern.wait_for_messages("postmaster", 1)
    assert split_delivered(m)[1] == b"postmaster@example.test"


def test_postmaster_without_users_entry(tern_factory):
    # postmaster is not a user here: it falls back to the configured
    # postmaster, which is a real mailbox.
    tern = tern_factory(users=["alice@example.test", "bob@example.test"], aliases="",
                        postmaster="alice@example.test")
    s = tern.smtp()
    s.docmd("MAIL FROM:<a@example.net>")
    for rcpt in ("postmaster", "postmaster@example.test", "abuse@example.test"):
        code, text = s.docmd("RCPT TO:<%s>" % rcpt)
        assert code == 250, (rcpt, code, text)
    assert s.data(msg("pm fallback"))[0] == 250
    s.quit()
    m, = tern.wait_for_messages("alice", 1)
    tern.settle()
    assert len(tern.messages("alice")) == 1   # three RCPTs, one mailbox, one copy


def test_alias_expands(tern):
    s = tern.smtp()
    assert s.sendmail("a@example.net", ["team@example.test"], msg("team")) == {}
    s.quit()
    a, = tern.wait_for_messages("alice", 1)
    b, = tern.wait_for_messages("bob", 1)
    assert split_delivered(a)[1] == b"alice@example.test"
    assert split_delivered(b)[1] == b"bob@example.test"
    tern.settle()
    assert 'orig_to=<team@example.test>' in tern.log


def test_alias_and_member_get_one_copy(tern):
    s = tern.smtp()
    assert s.sendmail("a@example.net", ["team@example.test", "alice@example.test",
                                        "info@example.test", "ALICE@example.test"],
                      msg("dedup")) == {}
    s.quit()
    tern.wait_for_messages("alice", 1)
    tern.wait_for_messages("bob", 1)
    tern.settle()
    assert len(tern.messages("alice")) == 1
    assert len(tern.messages("bob")) == 1


def test_alias_domain_specific(tern_factory):
    tern = tern_factory(aliases="sales@example.test: bob\nteam: alice, bob\n")
    s = tern.smtp()
    assert s.sendmail("a@example.net", ["sales@example.test"], msg("sales")) == {}
    s.quit()
    tern.wait_for_messages("bob", 1)


def test_alias_loop_refused(tern_factory):
    tern = tern_factory(aliases="ping: pong\npong: ping\n")
    s = tern.smtp()
    s.docmd("MAIL FROM:<a@example.net>")
    code, text = s.docmd("RCPT TO:<ping@example.test>")
    assert code == 550 and text.startswith(b"5.4.6"), (code, text)
    assert s.docmd("RCPT TO:<alice@example.test>")[0] == 250
    s.quit()


@pytest.mark.parametrize("rcpt,user", [("alice+news@example.test", "alice"),
                                       ("bob+a+b@example.test", "bob"),
                                       ("team+x@example.test", "alice")])
def test_subaddress(tern, rcpt, user):
    s = tern.smtp()
    assert s.sendmail("a@example.net", [rcpt], msg("plus")) == {}
    s.quit()
    m, = tern.wait_for_messages(user, 1)
    assert split_delivered(m)[1] == ("%s@example.test" % user).encode()
    assert b"for <%s>" % rcpt.encode() in m


def test_subaddress_unknown_base(tern):
    s = tern.smtp()
    s.docmd("MAIL FROM:<a@example.net>")
    code, text = s.docmd("RCPT TO:<nobody+tag@example.test>")
    assert code == 550 and text.startswith(b"5.1.1")
    code, text = s.docmd("RCPT TO:<+alice@example.test>")
    assert code == 550
    s.quit()


def test_multiple_recipients(tern):
    s = tern.smtp()
    body = msg("many")
    assert s.sendmail("a@example.net", ["alice@example.test", "bob@example.test",
                                        "postmaster@example.test"], body) == {}
    s.quit()
    for u in ("alice", "bob", "postmaster"):
        m, = tern.wait_for_messages(u, 1)
        rp, dt, received, rest = split_delivered(m)
        assert dt == ("%s@example.test" % u).encode()
        assert rest == body
        # RFC 5321 §7.2: no "for" clause that would disclose the others.
        assert b"for <" not in received
    tern.settle()
    assert tern.log_count(r"event=queued") == 1
    assert "nrcpt=3" in tern.log


def test_recipient_domain_case(tern):
    s = tern.smtp()
    assert s.sendmail("a@example.net", ["Bob@EXAMPLE.test"], msg("case")) == {}
    s.quit()
    m, = tern.wait_for_messages("bob", 1)
    assert split_delivered(m)[1] == b"bob@example.test"


# --------------------------------------------------------------- addresses --

@pytest.mark.parametrize("arg", ["FROM:<a@@example.net>", "FROM:<a b@example.net>",
                                 "FROM:a@example.net", "FROM:<a@example.net",
                                 "FROM:<.a@example.net>", "FROM:<a..b@example.net>",
                                 "FROM:<a@-example.net>", "FROM:<a@example..net>"])
def test_bad_sender_syntax(tern, arg):
    s = tern.smtp()
    code, text = s.docmd("MAIL " + arg)
    assert code == 501, (arg, code, text)
    if text.startswith(b"5.1"):
        assert text.startswith(b"5.1.7"), (arg, text)
    s.quit()


def test_bad_sender_syntax_code(tern):
    s = tern.smtp()
    code, text = s.docmd("MAIL FROM:<a@@example.net>")
    assert (code, text[:5]) == (501, b"5.1.7")
    s.quit()


@pytest.mark.parametrize("path", ["<postmaster>", "<PostMaster>", "<@relay.example:postmaster>"])
def test_bare_postmaster_is_not_a_sender(tern, path):
    """RFC 5321 §4.1.1.3: "<Postmaster>" without a domain is a RCPT form
    only; as a reverse-path it would become "postmaster@" (nothing to
    reply to)."""
    c = tern.raw()
    c.ehlo()
    code, lines = c.cmd("MAIL FROM:%s" % path)
    assert code == 501 and lines[-1].startswith("501 5.1.7"), lines
    # the session goes on, and the domain form is a sender like any other
    assert c.cmd("MAIL FROM:<postmaster@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<postmaster>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(msg("after the refusal") + b".\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    c.close()
    m, = tern.wait_for_messages("postmaster", 1)
    assert split_delivered(m)[0] == b"postmaster@example.net"
    tern.wait_for_log(r"event=reject .*command=\"MAIL FROM:%s\" reply=\"501 5\.1\.7" % re.escape(path))
    assert "postmaster@ " not in tern.log and "postmaster@>" not in tern.log


@pytest.mark.parametrize("arg", ["TO:<alice@@example.test>", "TO:<>", "TO:<alice>",
                                 "TO:<alice@example.test", "TO:<a b@example.test>"])
def test_bad_recipient_syntax(tern, arg):
    s = tern.smtp()
    s.docmd("MAIL FROM:<a@example.net>")
    code, text = s.docmd("RCPT " + arg)
    assert code == 501, (arg, code, text)
    s.quit()


def test_bad_recipient_syntax_code(tern):
    s = tern.smtp()
    s.docmd("MAIL FROM:<a@example.net>")
    code, text = s.docmd("RCPT TO:<alice@@example.test>")
    assert (code, text[:5]) == (501, b"5.1.3")
    s.quit()


def test_too_long_addresses(tern):
    s = tern.smtp()
    code, text = s.docmd("MAIL FROM:<%s@example.net>" % ("a" * 65))
    assert code == 553 and text.startswith(b"5.1.7"), (code, text)
    assert s.docmd("MAIL FROM:<%s@example.net>" % ("a" * 64))[0] == 250
    code, text = s.docmd("RCPT TO:<%s@example.test>" % ("a" * 65))
    assert code == 553 and text.startswith(b"5.1.3"), (code, text)
    long_domain = ".".join(["d" * 60] * 5)   # 304 octets
    code, text = s.docmd("RCPT TO:<a@%s>" % long_domain)
    assert code == 553, (code, text)
    path = "a@" + ".".join(["d" * 60] * 4) + ".tst"   # 250 octets: ok domain, long path
    code, text = s.docmd("RCPT TO:<%s%s>" % ("b" * 10, path))
    assert code == 553, (code, text)
    s.quit()


def test_quoted_local_part(tern):
    s = tern.smtp()
    assert s.docmd('MAIL FROM:<"john doe"@example.net>')[0] == 250
    assert s.docmd('RCPT TO:<"alice"@example.test>')[0] == 250
    assert s.data(msg("quoted"))[0] == 250
    s.quit()
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[0] == b'"john doe"@example.net'


def test_unknown_parameters(tern):
    s = tern.smtp()
    code, text = s.docmd("MAIL FROM:<a@example.net> FOO=BAR")
    assert code == 555 and text.startswith(b"5.5.4"), (code, text)
    assert s.docmd("MAIL FROM:<a@example.net>")[0] == 250
    code, text = s.docmd("RCPT TO:<alice@example.test> XYZZY")
    assert code == 555 and text.startswith(b"5.5.4"), (code, text)
    s.quit()


def test_dsn_parameters_accepted(tern_factory):
    # A trusted client: success reports are honoured only for these and
    # for authenticated ones (test_dsn_reflection.py). A local sender: the
    # report stays local.
    tern = tern_factory(relay_networks="127.0.0.0/8")
    s = tern.smtp()
    assert s.docmd("MAIL FROM:<postmaster@example.test> RET=HDRS ENVID=abc+2Bdef BODY=8BITMIME "
                   "SIZE=100")[0] == 250
    assert s.docmd("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE "
                   "ORCPT=rfc822;alice@example.test")[0] == 250
    assert s.docmd("RCPT TO:<bob@example.test> NOTIFY=NEVER")[0] == 250
    code, _ = s.docmd("RCPT TO:<postmaster@example.test> NOTIFY=NEVER,SUCCESS")
    assert code == 501
    assert s.data(msg("dsn"))[0] == 250
    s.quit()
    tern.wait_for_messages("alice", 1)
    tern.wait_for_messages("bob", 1)
    report, = tern.wait_for_messages("postmaster", 1)
    assert b"multipart/report" in report and b"report-type=delivery-status" in report
    assert b"abc+2Bdef" in report or b"abc+def" in report    # ENVID comes back


def test_duplicate_parameter(tern):
    s = tern.smtp()
    code, _ = s.docmd("MAIL FROM:<a@example.net> SIZE=10 SIZE=20")
    assert code == 501
    code, _ = s.docmd("MAIL FROM:<a@example.net> BODY=BINARYMIME")
    assert code == 555
    s.quit()


# ----------------------------------------------------------- session odds --

def test_ehlo_resets_transaction(tern):
    c = tern.raw()
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    c.ehlo("again.example.net")
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 503
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("MAIL FROM:<a@example.net>")[0] == 250
    c.close()


def test_nothing_after_quit(tern):
    c = tern.raw()
    c.send(b"EHLO x.example.net\r\nQUIT\r\nNOOP\r\nMAIL FROM:<a@example.net>\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    assert c.expect_closed() == b""
    c.close()


def test_lenient_spacing(tern):
    c = tern.raw()
    c.ehlo()
    assert c.cmd("MAIL FROM: <a@example.net>")[0] == 250
    assert c.cmd("RCPT TO: <alice@example.test>  ")[0] == 250
    c.close()


@pytest.mark.parametrize("how", ["data", "bdat"])
def test_received_header_loop_limit(tern_factory, how):
    tern = tern_factory(max_received_headers=10)
    c = tern.raw()
    c.ehlo()

    def send(msg):
        assert c.cmd("MAIL FROM:<a@example.net>")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
        if how == "data":
            assert c.cmd("DATA")[0] == 354
            c.send(msg + b".\r\n")
        else:
            c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        return c.reply()

    hop = b"Received: from h%d.example.net by h%d.example.net;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n"
    few = b"".join(hop % (i, i) for i in range(3)) + b"Subject: few\r\n\r\nx\r\n"
    many = b"".join(hop % (i, i) for i in range(20)) + b"Subject: many\r\n\r\nx\r\n"
    in_body = b"Subject: body\r\n\r\n" + b"".join(hop % (i, i) for i in range(20))
    code, l = send(many)
    assert code == 554 and l[0].startswith("554 5.4.6"), l
    code, l = send(few)
    assert code == 250, l
    code, l = send(in_body)
    assert code == 250, l
    c.close()
    tern.wait_for_messages("alice", 2)
    tern.settle()
    for m in tern.messages("alice"):
        assert b"Subject: many" not in m


def test_ipv6_listener(tern_factory):
    import socket as _socket
    try:
        probe = _socket.socket(_socket.AF_INET6)
        probe.bind(("::1", 0))
        port6 = probe.getsockname()[1]
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    tern = tern_factory(listen="smtp [::1]:%d" % port6)
    s = smtplib.SMTP("::1", port6, local_hostname="v6.example.net", timeout=10)
    assert s.sendmail("a@example.net", ["alice@example.test"], msg("over v6")) == {}
    s.quit()
    m, = tern.wait_for_messages("alice", 1)
    # RFC 5321 §4.1.3: an IPv6 address-literal is "[IPv6:...]"
    assert b"Received: from v6.example.net ([IPv6:::1])" in m
    # the IPv4 listener still works alongside
    s = tern.smtp()
    assert s.noop()[0] == 250
    s.quit()
