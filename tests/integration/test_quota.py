"""Per-user mail quota (Maildir++ maildirsize, shared with Dovecot):
messages are delivered until the quota is full, the next one is deferred
with 4.2.2 and delivered on a retry once a POP3 DELE+QUIT made room; a
message larger than the whole quota bounces at once with 5.2.2; Dovecot
(quota = maildir) reads the maildirsize tern wrote and counts the same,
and tern reads the one Dovecot wrote and counts the same."""
import re
import smtplib
import time

from dovecotenv import dovecot_factory  # noqa: F401
from retrenv import mail_factory  # noqa: F401
from subenv import ALICE, BOB, PASSWORDS
from tern_harness import t

SENDER = "sender@example.net"


def users(**extra):
    """The test users with their passwords, and extra fields for some."""
    return ["%s:{PLAIN}%s%s" % (u, p, ("::::::" + extra[u]) if u in extra else "")
            for u, p in PASSWORDS.items()]


def send(mt, rcpt, body, sender=SENDER, login=None):
    """One message over SMTP (port 25, or submission as login); returns
    its queue id (from the 250)."""
    if isinstance(body, str):
        body = body.encode()
    if login:
        s = mt.submission(login)
    else:
        s = smtplib.SMTP("127.0.0.1", mt.port, timeout=t(10))
        s.ehlo()
    with s:
        assert s.mail(sender)[0] == 250
        assert s.rcpt(rcpt)[0] == 250
        code, resp = s.data(body)
    assert code == 250, resp
    return re.search(rb"queued as ([0-9A-F]+)", resp).group(1).decode()


def message(n, pad=200, frm=SENDER):
    """A message whose body is pad octets of x in lines of 78."""
    body = "".join("x" * min(76, pad - i) + "\r\n" for i in range(0, pad, 76))
    return "From: <%s>\r\nSubject: quota %d\r\n\r\n%s" % (frm, n, body)


def mail_files(box):
    return sorted(p for sub in ("new", "cur") if (box / sub).is_dir()
                  for p in (box / sub).iterdir())


def size_of(path):
    """The size a Maildir name gives (",S="), as both servers count it."""
    m = re.search(r",S=(\d+)", path.name)
    return int(m.group(1)) if m else path.stat().st_size


def usage(box):
    files = mail_files(box)
    return sum(size_of(p) for p in files), len(files)


def sizefile(box):
    """maildirsize: (header, [(bytes, count) per line], its text)."""
    text = (box / "maildirsize").read_text()
    head, *lines = text.splitlines()
    return head, [tuple(int(x) for x in l.split(" ")) for l in lines], text


def sums(lines):
    return sum(b for b, _ in lines), sum(c for _, c in lines)


def settled_sizefile(mt, box, timeout=10):
    """sizefile() once its sums are what is in the Maildir: a delivery's
    line is appended after the delivery is durable (and after a direct
    delivery's 250), so it may come a moment after the queue is empty."""
    deadline = time.monotonic() + t(timeout)
    while True:
        got = sizefile(box)
        if sums(got[1]) == usage(box):
            return got
        assert time.monotonic() < deadline, (got, usage(box), mt.log_tail(30))
        time.sleep(0.02)


def delivery(mt, qid, status, dsn, to=None):
    """The details of message qid's delivery lines (to one recipient, or
    any) with this status and dsn."""
    return re.findall(r"id=%s event=delivery to=<%s> relay=local delay=[0-9.]+ "
                      r"dsn=%s status=%s detail=\"([^\"]*)\""
                      % (qid, re.escape(to) if to else "[^>]+", re.escape(dsn), status), mt.log)


def wait_delivery(mt, qid, status, dsn, count=1, timeout=15, to=None):
    deadline = time.monotonic() + t(timeout)
    while True:
        found = delivery(mt, qid, status, dsn, to)
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, \
            "%s: no %s %s delivery\n%s" % (qid, status, dsn, mt.log_tail(40))
        mt.check_alive()
        time.sleep(0.02)


def test_over_quota_deferred_then_delivered_after_pop3_dele(mail_factory):
    mt = mail_factory(users=users(**{ALICE: "quota=1K"}))
    box = mt.maildir(ALICE)
    ids, delivered = [], []
    # Messages of about 450 octets as stored: two fit in 1024, the third
    # does not. The first goes through the queue (the Maildir is new),
    # the others straight into the Maildir.
    for n in range(6):
        qid = send(mt, ALICE, message(n))
        ids.append(qid)
        deadline = time.monotonic() + t(10)
        while not delivery(mt, qid, "sent", "2.0.0") and \
                not delivery(mt, qid, "deferred", "4.2.2"):
            assert time.monotonic() < deadline, mt.log_tail(40)
            time.sleep(0.02)
        if delivery(mt, qid, "deferred", "4.2.2"):
            break
        delivered.append(qid)
        settled_sizefile(mt, box)
    assert len(delivered) == 2, (delivered, mt.log_tail(40))
    over = ids[-1]
    # The direct delivery was turned into a queued message, and its
    # attempt says why in the log.
    detail, = wait_delivery(mt, over, "deferred", "4.2.2")
    used, count = usage(box)
    assert count == 2
    assert detail.startswith("mailbox full: %d of 1024 octets used, message of " % used), detail
    assert over in mt.queue_files("msg")
    assert not delivery(mt, over, "sent", "2.0.0")
    # Before saying no on the file's word, the Maildir was counted (the
    # file was a count before the first delivery and one line per
    # delivery) and the count written down.
    mt.wait_for_log(r"event=quota-recalculated path=\"[^\"]*/alice\" reason=recount "
                    r"bytes=%d messages=2" % used)
    assert sizefile(box)[2] == "1024S\n%d 2\n" % used
    # Still too big at the next retries (1 s, 2 s).
    wait_delivery(mt, over, "deferred", "4.2.2", count=2)

    # POP3 DELE + QUIT frees one message's octets...
    p = mt.pop3(ALICE)
    try:
        assert p.stat()[0] == 2
        p.dele(1)
        assert p.quit().startswith(b"+OK")
    finally:
        p.close()
    mt.wait_for_log(r"event=pop3-expunged user=alice@example\.test messages=1")
    freed = used - usage(box)[0]
    _, lines, _ = sizefile(box)
    assert lines[-1] == (-freed, -1), lines
    # ... and a retry delivers the deferred message.
    wait_delivery(mt, over, "sent", "2.0.0")
    mt.settle()
    used, count = usage(box)
    assert count == 2 and used <= 1024
    settled_sizefile(mt, box)
    # Nothing accepted was lost: the one deleted, the other two here.
    bodies = [p.read_bytes() for p in mail_files(box)]
    assert sorted(b.split(b"Subject: ")[1][:7] for b in bodies) == [b"quota 1", b"quota 2"]
    # A user without a quota has no maildirsize and gets everything.
    for n in range(3):
        send(mt, BOB, message(n, pad=600))
    mt.settle()
    assert usage(mt.maildir(BOB))[1] == 3
    assert not (mt.maildir(BOB) / "maildirsize").exists()


def test_larger_than_quota_bounced_at_once(mail_factory):
    mt = mail_factory(users=users(**{ALICE: "userdb_quota_rule=*:bytes=1000"}))
    small = send(mt, ALICE, message(0, pad=10))
    wait_delivery(mt, small, "sent", "2.0.0")
    # Over the quota by itself: no retry can help (RFC 3463 5.2.2). It
    # reaches the Maildir directly, is turned into a queued message, and
    # its first attempt bounces it. The sender is ours: the DSN comes back.
    qid = send(mt, ALICE, message(1, pad=2000, frm=BOB), sender=BOB, login=BOB)
    detail, = wait_delivery(mt, qid, "bounced", "5.2.2")
    assert "larger than the mailbox quota of 1000" in detail, detail
    assert not delivery(mt, qid, "deferred", "4.2.2")
    mt.settle()
    assert usage(mt.maildir(ALICE))[1] == 1
    dsn, = mt.messages(BOB)
    assert b"Status: 5.2.2" in dsn and b"Action: failed" in dsn, dsn[:2000]


def test_one_recipient_over_quota_waits_alone(mail_factory):
    mt = mail_factory(users=users(**{ALICE: "quota=500"}))
    first = send(mt, ALICE, message(0))
    wait_delivery(mt, first, "sent", "2.0.0")
    # To both: bob has it at once, alice's copy waits in the queue. (No
    # SIZE= on MAIL, so the RCPT-time check cannot know it will not fit.)
    with smtplib.SMTP("127.0.0.1", mt.port, timeout=t(10)) as s:
        s.ehlo()
        assert s.mail(SENDER)[0] == 250
        assert s.rcpt(ALICE)[0] == 250 and s.rcpt(BOB)[0] == 250
        assert s.data(message(1).encode())[0] == 250
    qid = mt.wait_for_log(r"id=(\w+) event=queued [^\n]*nrcpt=2")[0]
    wait_delivery(mt, qid, "sent", "2.0.0", to=BOB)
    wait_delivery(mt, qid, "deferred", "4.2.2", count=2, to=ALICE)
    assert len(mt.messages(BOB)) == 1 and qid in mt.queue_files("msg")
    # A larger quota (SIGHUP): the next retry delivers, and maildirsize
    # gets the new limit in its header (counted again: reason=limits).
    (mt.data_dir / "users").write_text("\n".join(users(**{ALICE: "quota=2K"})) + "\n")
    mt.reload()
    wait_delivery(mt, qid, "sent", "2.0.0", to=ALICE)
    mt.settle()
    mt.wait_for_log(r"event=quota-recalculated path=\"[^\"]*/alice\" reason=limits")
    box = mt.maildir(ALICE)
    head, lines, _ = settled_sizefile(mt, box)
    assert head == "2048S" and usage(box)[1] == 2
    assert len(mt.messages(BOB)) == 1   # no second copy for bob


def test_over_quota_bounced_at_queue_lifetime(mail_factory):
    mt = mail_factory(users=users(**{ALICE: "quota=1K"}), queue_lifetime="3s")
    first = send(mt, ALICE, message(0))
    wait_delivery(mt, first, "sent", "2.0.0")
    # Fits the quota, not beside the first: it waits, until its lifetime
    # is over (RFC 3463 4.4.7, the reason kept in the detail).
    qid = send(mt, ALICE, message(1, pad=500, frm=BOB), sender=BOB, login=BOB)
    wait_delivery(mt, qid, "deferred", "4.2.2")
    detail, = wait_delivery(mt, qid, "bounced", "4.4.7")
    assert detail.startswith("mailbox full: ") and "queue lifetime expired" in detail, detail
    mt.settle()
    assert usage(mt.maildir(ALICE))[1] == 1
    dsn, = mt.messages(BOB)
    assert b"Action: failed" in dsn and b"mailbox full" in dsn, dsn[:2000]


DOVECOT_QUOTA = ["mail_plugins = $mail_plugins quota", "plugin {",
                 "  quota = maildir:User quota", "  quota_rule = *:storage=%s", "}"]


def dovecot_quota(rule):
    return [l % rule if "%s" in l else l for l in DOVECOT_QUOTA]


def kb(octets):
    """doveadm quota get's STORAGE: kilobytes, rounded up (Dovecot 2.3.19)."""
    return (octets + 1023) // 1024


def doveadm_quota(dc, user):
    """doveadm quota get: {type: (value, limit)}; STORAGE in kilobytes."""
    _, out, _ = dc.doveadm("-f", "tab", "quota", "get", "-u", user)
    rows = [l.split("\t") for l in out.splitlines()[1:]]
    return {r[1]: (int(r[2]), r[3]) for r in rows}


def test_dovecot_reads_terns_maildirsize(mail_factory, dovecot_factory):
    mt = mail_factory(users=users(**{ALICE: "userdb_quota_rule=*:storage=1M"}))
    box = mt.maildir(ALICE)
    for n in range(4):
        send(mt, ALICE, message(n, pad=100 * n))
    mt.settle()
    used, count = usage(box)
    head, lines, before = settled_sizefile(mt, box)
    # Made as Dovecot makes it: counted before the first delivery, then a
    # line per delivery.
    assert head == "1048576S" and lines[0] == (0, 0) and len(lines) == 5
    assert sums(lines) == (used, count) == (used, 4)

    dc = dovecot_factory(tern=mt, extra=dovecot_quota("1M"))
    q = doveadm_quota(dc, ALICE)
    assert q["STORAGE"] == (kb(used), "1024") and q["MESSAGE"][0] == 4, q
    # Dovecot took the file as it is: not rewritten.
    assert sizefile(box)[2] == before
    # Dovecot's own count writes what tern's writes: the same octets.
    dc.doveadm("quota", "recalc", "-u", ALICE)
    dovecots = sizefile(box)[2]
    assert dovecots == "1048576S\n%d 4\n" % used
    (box / "maildirsize").unlink()
    qid = send(mt, ALICE, message(9))
    wait_delivery(mt, qid, "sent", "2.0.0")
    mt.wait_for_log(r"event=quota-recalculated path=\"[^\"]*/alice\" reason=missing "
                    r"bytes=%d messages=4" % used)
    text = settled_sizefile(mt, box)[2]
    assert text.startswith(dovecots) and len(text.splitlines()) == 3, text
    # And Dovecot agrees with the line tern appended.
    used, count = usage(box)
    q = doveadm_quota(dc, ALICE)
    assert q["STORAGE"][0] == kb(used) and q["MESSAGE"][0] == count == 5, q
    assert sizefile(box)[2] == text


def test_tern_reads_dovecots_maildirsize(mail_factory, dovecot_factory):
    mt = mail_factory(users=users(**{BOB: "userdb_quota_rule=*:storage=2K"}))
    dc = dovecot_factory(tern=mt, extra=dovecot_quota("2K"))
    box = mt.maildir(BOB)
    for n in range(2):
        dc.deliver_ok([BOB], ("Subject: from dovecot %d\r\n\r\n%s\r\n" % (n, "y" * 150)).encode())
    head, lines, dovecots = sizefile(box)
    assert head == "2048S" and sums(lines) == usage(box), (lines, usage(box))
    # tern trusts Dovecot's file and appends its own delivery to it: no
    # count (that would have written the header and one line).
    body = message(1, pad=100)
    qid = send(mt, BOB, body)
    wait_delivery(mt, qid, "sent", "2.0.0")
    mt.settle()
    text = settled_sizefile(mt, box)[2]
    assert text.startswith(dovecots) and len(text.splitlines()) == len(dovecots.splitlines()) + 1
    assert not re.search(r"event=quota-recalculated path=\"[^\"]*/bob\"", mt.log)
    used, count = usage(box)
    assert count == 3
    q = doveadm_quota(dc, BOB)
    assert q["STORAGE"] == (kb(used), "2") and q["MESSAGE"][0] == 3, q
    # The next message would pass 2048 octets: tern says how full the
    # mailbox is, to the octet Dovecot's file says.
    overhead = max(size_of(p) for p in mail_files(box) if b"quota 1" in p.read_bytes()) \
        - len(body)
    big = message(2, pad=2048 - used - overhead + 100)
    qid = send(mt, BOB, big)
    detail, = wait_delivery(mt, qid, "deferred", "4.2.2")
    assert detail.startswith("mailbox full: %d of 2048 octets used" % used), detail
    assert usage(box) == (used, 3)


# ------------------------------------------------------- at RCPT time --

def test_rcpt_refused_when_full_and_when_never_fits(mail_factory):
    """RFC 3463 at RCPT: 452 4.2.2 once the mailbox is full (the client
    keeps the message and tries later), 552 5.2.2 when MAIL's SIZE is more
    than the whole quota; in LMTP the same, per recipient."""
    import relayenv
    from tern_harness import RawClient
    import socket

    lport = relayenv.free_port()
    mt = mail_factory(users=users(**{ALICE: "quota=1K"}),
                      extra=["listen lmtp 127.0.0.1:%d" % lport])
    codes = []
    for i in range(12):
        msg = message(i, pad=600)
        with smtplib.SMTP("127.0.0.1", mt.port, timeout=t(10)) as s:
            s.ehlo()
            assert s.mail(SENDER, ["SIZE=%d" % len(msg)])[0] == 250
            code, text = s.rcpt(ALICE)
            codes.append(code)
            if code != 250:
                assert code == 452 and b"4.2.2" in text, text
                break
            assert s.data(msg)[0] == 250
        # Delivered, or (the usage checked at RCPT fit, the message did
        # not) deferred: either way counted before the next RCPT.
        mt.wait_for_log(r"event=delivery to=<alice@example\.test>", count=i + 1)
    assert codes[-1] == 452 and codes.count(250) >= 1, codes
    # Bigger than the whole quota, by MAIL's SIZE: never.
    with smtplib.SMTP("127.0.0.1", mt.port, timeout=t(10)) as s:
        s.ehlo()
        assert s.mail(SENDER, ["SIZE=5000"])[0] == 250
        code, text = s.rcpt(ALICE)
        assert code == 552 and b"5.2.2" in text, text
        assert s.rcpt(BOB)[0] == 250           # bob has no quota
    # LMTP: the full mailbox is refused at RCPT, the other delivered.
    c = RawClient.__new__(RawClient)
    c.sock = socket.create_connection(("127.0.0.1", lport), timeout=t(10))
    c.timeout = t(10)
    c.buf = b""
    try:
        assert c.reply()[0] == 220
        assert c.cmd("LHLO x")[0] == 250
        c.send(b"MAIL FROM:<s@example.net> SIZE=600\r\nRCPT TO:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
               % (ALICE.encode(), BOB.encode()))
        got = [c.reply() for _ in range(4)]
        assert [g[0] for g in got] == [250, 452, 250, 354], got
        assert "4.2.2" in got[1][1][0]
        c.send(b"Subject: lmtp quota\r\n\r\nx\r\n.\r\n")
        code, lines = c.reply()
        assert code == 250 and BOB in lines[0], lines
    finally:
        c.sock.close()
    mt.wait_for_log(r"event=reject sid=\d+ client=127\.0\.0\.1 command=\"RCPT \(quota\)\" "
                    r"reply=\"452 4\.2\.2")
