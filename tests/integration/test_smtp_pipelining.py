"""PIPELINING (RFC 2920) with raw sockets: many commands in one write,
replies in order."""
import threading
import time

from tern_harness import queue_id_of, split_delivered


def test_mail_rcpt_data_in_one_write(tern):
    c = tern.raw()
    c.ehlo()
    c.send(b"MAIL FROM:<sender@example.net>\r\n"
           b"RCPT TO:<alice@example.test>\r\n"
           b"RCPT TO:<nobody@example.test>\r\n"
           b"RCPT TO:<bob@example.test>\r\n"
           b"RCPT TO:<x@other.test>\r\n"
           b"DATA\r\n")
    got = [c.reply()[1][0] for _ in range(6)]
    assert got[0].startswith("250 2.1.0")
    assert got[1].startswith("250 2.1.5")
    assert got[2].startswith("550 5.1.1") and "nobody@example.test" in got[2]
    assert got[3].startswith("250 2.1.5")
    assert got[4].startswith("550 5.7.1")
    assert got[5].startswith("354")
    c.send(b"Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    code, l = c.reply()
    assert code == 250 and "queued as" in l[0]
    assert c.reply()[0] == 221
    assert c.expect_closed() == b""
    c.close()
    a, = tern.wait_for_messages("alice", 1)
    tern.wait_for_messages("bob", 1)
    assert split_delivered(a)[3] == b"Subject: pipelined\r\n\r\nbody\r\n"
    # A group that ends at DATA, with the body sent after 354: proper.
    assert tern.log_count(r"event=improper-pipelining") == 0


def test_everything_in_one_write(tern):
    """EHLO to QUIT, two messages, in one send. A client must not send the
    body before 354 (RFC 2920 §3.1), but a server that reads ahead must
    still keep commands and data apart."""
    c = tern.raw()
    c.send(b"EHLO client.example.net\r\n"
           b"MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
           b"Subject: one\r\n\r\nfirst\r\n.\r\n"
           b"RSET\r\n"
           b"MAIL FROM:<b@example.net>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
           b"Subject: two\r\n\r\nsecond\r\nMAIL FROM:<in-body@example.net>\r\n.\r\n"
           b"NOOP\r\nQUIT\r\n")
    code, lines = c.reply()
    assert code == 250 and len(lines) > 1          # EHLO
    codes = [c.reply()[0] for _ in range(10)]
    assert codes == [250, 250, 354, 250, 250, 250, 250, 354, 250, 250], codes
    assert c.reply()[0] == 221
    c.close()
    a, = tern.wait_for_messages("alice", 1)
    b, = tern.wait_for_messages("bob", 1)
    assert split_delivered(a)[3] == b"Subject: one\r\n\r\nfirst\r\n"
    assert split_delivered(b)[3] == b"Subject: two\r\n\r\nsecond\r\nMAIL FROM:<in-body@example.net>\r\n"
    tern.settle()
    assert tern.log_count(r"event=queued") == 2
    # EHLO ends a group (RFC 2920 §3.1): what came behind it is logged,
    # once per session, and still served.
    assert tern.log_count(r'event=improper-pipelining sid=\d+ client=127\.0\.0\.1 '
                          r'after="?EHLO client\.example\.net') == 1


def test_replies_in_order_with_errors(tern):
    c = tern.raw()
    c.ehlo()
    c.send(b"RCPT TO:<alice@example.test>\r\n"      # 503: no MAIL
           b"MAIL FROM:<a@example.net>\r\n"          # 250
           b"MAIL FROM:<a@example.net>\r\n"          # 503: nested
           b"RCPT TO:<nobody@example.test>\r\n"      # 550
           b"DATA\r\n"                               # 554: no valid rcpt
           b"VRFY bob\r\n"                           # 252
           b"RSET\r\n"                               # 250
           b"NOOP\r\n")                              # 250
    codes = [c.reply()[0] for _ in range(8)]
    assert codes == [503, 250, 503, 550, 554, 252, 250, 250], codes
    c.close()


def test_many_transactions_pipelined(tern):
    n = 20
    c = tern.raw()
    c.ehlo()
    batch = b""
    for i in range(n):
        batch += (b"MAIL FROM:<s%d@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
                  b"Subject: batch %d\r\n\r\nbody %d\r\n.\r\n" % (i, i, i))
    batch += b"QUIT\r\n"
    c.send(batch)
    ids = []
    for i in range(n):
        assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
        code, l = c.reply()
        assert code == 250, l
        ids.append(queue_id_of(l))
    assert c.reply()[0] == 221
    c.close()
    assert len(set(ids)) == n
    msgs = tern.wait_for_messages("alice", n)
    tern.settle()
    subjects = sorted(int(split_delivered(m)[3].split(b"\r\n")[0].split()[-1]) for m in msgs)
    assert subjects == list(range(n))


def test_large_pipelined_batch_over_read_watermark(tern):
    """About 2 MiB of pipelined transactions: more than the server buffers
    while a commit is pending, so reading has to stop and resume."""
    n, size = 40, 50 * 1024
    line = b"x" * 78 + b"\r\n"
    body = line * (size // len(line))
    batch = b""
    for i in range(n):
        batch += (b"MAIL FROM:<s@example.net>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                  b"Subject: big %d\r\n\r\n" % i) + body + b".\r\n"
    batch += b"QUIT\r\n"
    c = tern.raw(timeout=30)
    c.ehlo()
    err = []

    def writer():
        try:
            c.send(batch)
        except OSError as e:   # pragma: no cover - reported below
            err.append(e)

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    codes = [c.reply()[0] for _ in range(4 * n + 1)]
    w.join(timeout=30)
    assert not err, err
    assert codes == [250, 250, 354, 250] * n + [221], codes
    c.close()
    msgs = tern.wait_for_messages("bob", n, timeout=60)
    for m in msgs:
        assert split_delivered(m)[3].endswith(body)


def test_trickled_bytes(tern):
    """One byte per write: command framing must not depend on packets."""
    c = tern.raw()
    data = (b"EHLO slow.example.net\r\nMAIL FROM:<a@example.net>\r\n"
            b"RCPT TO:<alice@example.test>\r\nDATA\r\n")
    for i in range(len(data)):
        c.send(data[i:i + 1])
        if i % 16 == 0:
            time.sleep(0.001)
    c.reply()
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    msg = b"Subject: trickle\r\n\r\n.dot\r\nend\r\n"
    wire = b"Subject: trickle\r\n\r\n..dot\r\nend\r\n.\r\n"
    for i in range(len(wire)):
        c.send(wire[i:i + 1])
    code, l = c.reply()
    assert code == 250, l
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == msg


def test_pipelined_bdat(tern):
    c = tern.raw()
    c.ehlo()
    a, b = b"Subject: bdat pipe\r\n\r\n", b"hello\r\n"
    c.send(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.test>\r\n"
           b"BDAT %d\r\n%sBDAT %d LAST\r\n%sNOOP\r\n" % (len(a), a, len(b), b))
    codes = [c.reply() for _ in range(5)]
    assert [x[0] for x in codes] == [250, 250, 250, 250, 250], codes
    assert "queued as" in codes[3][1][0]
    c.close()
    m, = tern.wait_for_messages("alice", 1)
    assert split_delivered(m)[3] == a + b


def test_commands_after_data_end_in_same_packet(tern):
    """The reply to end-of-data comes before the replies to what follows."""
    c = tern.raw()
    c.ehlo()
    c.send(b"MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b"Subject: x\r\n\r\ny\r\n.\r\nMAIL FROM:<b@example.net>\r\nRCPT TO:<bob@example.test>\r\nVRFY x\r\n")
    r = [c.reply() for _ in range(4)]
    assert [x[0] for x in r] == [250, 250, 250, 252]
    assert "queued as" in r[0][1][0]
    c.close()


def test_concurrent_sessions_exactly_once(tern):
    """20 clients at once, direct and queued deliveries mixed: every
    message arrives exactly once, byte for byte, in the right mailboxes."""
    import hashlib
    import random
    import smtplib

    sent = {}
    errors = []
    lock = threading.Lock()

    def client(i):
        rnd = random.Random(i)
        try:
            s = smtplib.SMTP("127.0.0.1", tern.port, local_hostname="c%d.example.net" % i,
                             timeout=30)
            for k in range(10):
                token = b"c%d-%d" % (i, k)
                body = (b"Subject: " + token + b"\r\n\r\n" +
                        b"".join(b"%d %s\r\n" % (n, token * rnd.randrange(1, 20))
                                 for n in range(rnd.randrange(1, 400))))
                rcpts = rnd.choice([["alice@example.test"], ["bob@example.test"],
                                    ["alice@example.test", "bob@example.test"]])
                assert s.sendmail("c@example.net", rcpts, body) == {}
                with lock:
                    sent[token] = (hashlib.sha256(body).hexdigest(),
                                   sorted(r.split("@")[0] for r in rcpts))
            s.quit()
        except Exception as e:   # reported below
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    assert len(sent) == 200
    want = {"alice": 0, "bob": 0}
    for sha, boxes in sent.values():
        for b in boxes:
            want[b] += 1
    got = {}
    for box in ("alice", "bob"):
        msgs = tern.wait_for_messages(box, want[box], timeout=60)
        for m in msgs:
            body = split_delivered(m)[3]
            token = body.split(b"\r\n", 1)[0].split(b" ")[1]
            got.setdefault(token, []).append((box, hashlib.sha256(body).hexdigest()))
    tern.settle()
    for token, (sha, boxes) in sent.items():
        copies = got.get(token, [])
        assert sorted(b for b, _ in copies) == boxes, (token, copies)
        assert all(s == sha for _, s in copies), token
    assert len(tern.messages("alice")) == want["alice"]
    assert len(tern.messages("bob")) == want["bob"]
