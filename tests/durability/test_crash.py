"""Crash safety: kill -9 under load must never lose an acknowledged
message; the queue's recovery handles what a crash (or a bad file) left.

A 250 to end of data means the message is on stable storage (see
docs/queue.md). kill -9 does not lose the page cache, so it cannot test
fsync itself, but it does test that every acknowledged message is either
in a Maildir or in msg/ at every instant, and that recovery copes with
whatever tmp/, msg/, state/ and the Maildirs hold at the moment of death.
"""
import hashlib
import os
import random
import re
import smtplib
import threading
import time

import pytest

from tern_harness import DOMAIN, give_to_tern, split_delivered, t

# (recipients as sent, mailboxes they end up in)
RCPT_SETS = [
    (["alice@example.test"], ["alice"]),                        # direct delivery
    (["bob@example.test"], ["bob"]),
    (["alice@example.test", "bob@example.test"], ["alice", "bob"]),   # via the queue
    (["team@example.test"], ["alice", "bob"]),
    (["postmaster"], ["postmaster"]),
]

TOKEN_RE = re.compile(rb"^Subject: crash-test (\S+)\r$", re.M)


def make_message(token, rnd):
    size = int(min(300000, rnd.lognormvariate(7.5, 1.5)))   # median ~1.8 KB
    lines = []
    n = 0
    while n < size:
        k = rnd.randrange(0, 78)
        line = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789 .-") for _ in range(k))
        lines.append(line)
        n += k + 2
    body = ("From: crash@example.net\r\nTo: someone@example.test\r\n"
            "Subject: crash-test %s\r\nMessage-ID: <%s@crash.example.net>\r\n\r\n" % (token, token)
            + "\r\n".join(lines) + "\r\n").encode()
    return body


class Load:
    """Sender threads that keep sending, reconnecting when ternd dies."""

    def __init__(self, tern, nthreads=4, seed=None):
        self.tern = tern
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.attempted = {}   # token -> (sha256 of message, mailboxes)
        self.sent = {}        # token -> the message itself (to show a damage)
        self.acked = {}       # token -> queue id
        self.failures = 0     # refused/broken transactions (not acked)
        self.seed = seed if seed is not None else random.randrange(1 << 30)
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(nthreads)]

    def start(self):
        for th in self.threads:
            th.start()

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(timeout=t(30))
            assert not th.is_alive(), "sender thread hung"

    def run(self, idx):
        rnd = random.Random(self.seed * 100 + idx)
        seq = 0
        while not self.stop.is_set():
            try:
                s = smtplib.SMTP("127.0.0.1", self.tern.port, local_hostname="crash.example.net",
                                 timeout=t(10))
            except OSError:
                time.sleep(0.02)
                continue
            try:
                s.ehlo()
                while not self.stop.is_set():
                    seq += 1
                    token = "t%d-%d" % (idx, seq)
                    rcpts, boxes = rnd.choice(RCPT_SETS)
                    msg = make_message(token, rnd)
                    with self.lock:
                        self.attempted[token] = (hashlib.sha256(msg).hexdigest(), boxes)
                        self.sent[token] = msg
                    s.mail("crash@example.net")
                    for r in rcpts:
                        code, resp = s.rcpt(r)
                        if code != 250:
                            raise smtplib.SMTPResponseException(code, resp)
                    code, resp = s.data(msg)
                    if code != 250:
                        raise smtplib.SMTPResponseException(code, resp)
                    qid = resp.decode().rsplit(" ", 1)[-1]
                    with self.lock:
                        self.acked[token] = qid
            except (OSError, smtplib.SMTPException, EOFError):
                with self.lock:
                    self.failures += 1
            finally:
                try:
                    s.close()
                except Exception:
                    pass


def mailbox_contents(tern, boxes=("alice", "bob", "postmaster")):
    """{(token, box): count}, checking every file is a complete message."""
    found = {}
    bad = []
    for box in boxes:
        for p in tern.message_files(box):
            blob = p.read_bytes()
            try:
                _, dt, _, msg = split_delivered(blob)
            except AssertionError:
                bad.append((p, blob[:200]))
                continue
            m = TOKEN_RE.search(msg)
            if not m:
                bad.append((p, blob[:200]))
                continue
            found.setdefault(m.group(1).decode(), []).append((box, hashlib.sha256(msg).hexdigest(), p))
    return found, bad


@pytest.mark.parametrize("commit_sync", ["syncfs", "fsync"])
def test_kill9_under_load_loses_nothing(tern_factory, commit_sync):
    """Both commit modes: batched syncfs (the default) and per-file fsync."""
    tern = tern_factory(io_threads=4, commit_sync=commit_sync)
    rnd = random.Random()
    load = Load(tern, nthreads=4)
    print("seed %d" % load.seed)
    load.start()
    kills = 5
    try:
        for i in range(kills):
            time.sleep(rnd.uniform(2.0, 6.0))
            before = len(load.acked)
            tern.kill9()
            time.sleep(rnd.uniform(0.0, 0.3))
            tern.start(timeout=30)
            print("kill %d: %d acknowledged so far" % (i + 1, before))
        time.sleep(1.0)
    finally:
        load.finish()
    acked = dict(load.acked)
    attempted = dict(load.attempted)
    assert len(acked) > 50, "too little load to mean anything: %d" % len(acked)
    assert tern.log_count(r"event=started") == kills + 1

    # Everything still queued gets delivered.
    tern.settle(timeout=60)
    found, bad = mailbox_contents(tern)
    assert not bad, "incomplete or foreign files in Maildirs: %r" % bad[:5]

    lost, dups, wrong = [], [], []
    for token, copies in found.items():
        sha, boxes = attempted[token]
        for box, got_sha, path in copies:
            if got_sha != sha:
                wrong.append((token, box, path))
            if box not in boxes:
                wrong.append((token, box, "unexpected mailbox"))
    for token in acked:
        sha, boxes = attempted[token]
        copies = found.get(token, [])
        for box in boxes:
            n = sum(1 for b, s, _ in copies if b == box and s == sha)
            if n == 0:
                lost.append((token, box, acked[token]))
            elif n > 1:
                dups.append((token, box, n))
    unacked_delivered = sum(1 for tok in found if tok not in acked)
    print("acknowledged %d, attempted %d, not acknowledged but delivered %d, "
          "broken transactions %d, duplicates %d"
          % (len(acked), len(attempted), unacked_delivered, load.failures, len(dups)))
    for d in dups[:20]:
        print("duplicate: token %s in %s x%d" % d)
    assert not wrong, "damaged or misrouted messages: %r" % wrong[:10]
    assert not lost, "acknowledged messages lost (token, mailbox, queue id): %r" % lost[:20]
    # kill -9 keeps the page cache: nothing may be corrupt, nothing left over.
    assert tern.queue_files("corrupt") == []
    assert tern.queue_files("msg") == []


# ----------------------------------------------------- hand-made queue files --

_ID_BASE = (int(time.time() * 1e6) - 10_000_000) << 12


def queue_id(n=0):
    """A valid queue id (16 upper-case hex digits), n-th of this run."""
    return "%016X" % (_ID_BASE + (n << 12))


def envelope(qid, rcpts, sender="seed@example.net", arrival=None):
    lines = ["tern-queue 1", "id " + qid, "arrival %d" % (arrival or int(time.time())),
             "from " + (sender or "-"), "helo seed.example.net", "client 127.0.0.1",
             "proto ESMTP", "envid -", "body 0", "ret 0", "smtputf8 0"]
    for r in rcpts:
        lines.append("rcpt %s %s - 0 1" % (r, r))
    lines.append("end")
    return ("\n".join(lines) + "\n").encode()


def queue_file(qid, rcpts, message, **kw):
    return envelope(qid, rcpts, **kw) + message + b"\nTERN-END %016X\n" % len(message)


def seeded_message(tag):
    return (b"Received: from seed.example.net ([127.0.0.1])\r\n\tby mx.example.test (tern) "
            b"with ESMTP id X;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n"
            b"Subject: seeded %s\r\n\r\nseeded body\r\n.line with dot\r\n" % tag.encode())


def prepare(tern_factory, **kw):
    tern = tern_factory(start=False, **kw)
    for sub in ("tmp", "msg", "state", "corrupt"):
        (tern.queue_dir / sub).mkdir(parents=True, exist_ok=True)
    return tern


def test_preseeded_queue_file_delivered(tern_factory):
    tern = prepare(tern_factory)
    qid = queue_id()
    msg = seeded_message("one")
    (tern.queue_dir / "msg" / qid).write_bytes(queue_file(qid, ["alice@example.test"], msg))
    tern.start()
    m, = tern.wait_for_messages("alice", 1)
    assert m == b"Return-Path: <seed@example.net>\r\nDelivered-To: alice@example.test\r\n" + msg
    tern.settle()
    assert tern.queue_files("msg") == []
    assert "event=queue-recovered messages=1 " in tern.log


def test_preseeded_null_sender_and_two_recipients(tern_factory):
    tern = prepare(tern_factory)
    qid = queue_id()
    msg = seeded_message("two")
    (tern.queue_dir / "msg" / qid).write_bytes(
        queue_file(qid, ["alice@example.test", "bob@example.test"], msg, sender=""))
    tern.start()
    a, = tern.wait_for_messages("alice", 1)
    b, = tern.wait_for_messages("bob", 1)
    assert a == b"Return-Path: <>\r\nDelivered-To: alice@example.test\r\n" + msg
    assert b == b"Return-Path: <>\r\nDelivered-To: bob@example.test\r\n" + msg
    tern.settle()


def test_state_file_skips_delivered_recipients(tern_factory):
    tern = prepare(tern_factory)
    qid = queue_id()
    msg = seeded_message("state")
    (tern.queue_dir / "msg" / qid).write_bytes(
        queue_file(qid, ["alice@example.test", "bob@example.test", "postmaster@example.test"], msg))
    (tern.queue_dir / "state" / qid).write_bytes(b"d 0\nf 2\n")
    tern.start()
    tern.wait_for_messages("bob", 1)
    tern.settle()
    assert tern.messages("alice") == []
    assert tern.messages("postmaster") == []
    assert tern.queue_files("state") == []


def test_torn_state_line_is_ignored(tern_factory):
    """docs/queue.md: "a torn last line is ignored". "d 1" without its
    newline may be the start of "d 12" (or of anything): recipient 1 must
    still get the message. Losing it would lose mail."""
    tern = prepare(tern_factory)
    qid = queue_id()
    msg = seeded_message("torn")
    (tern.queue_dir / "msg" / qid).write_bytes(
        queue_file(qid, ["alice@example.test", "bob@example.test", "postmaster@example.test"], msg))
    (tern.queue_dir / "state" / qid).write_bytes(b"d 0\nd 1")
    tern.start()
    tern.wait_for_messages("postmaster", 1)
    tern.wait_for_messages("bob", 1, timeout=5)
    tern.settle()
    assert tern.messages("alice") == []


def test_orphan_state_file_removed(tern_factory):
    tern = prepare(tern_factory)
    qid = queue_id()
    (tern.queue_dir / "state" / qid).write_bytes(b"d 0\n")
    tern.start()
    assert tern.queue_files("state") == []


def truncations(blob, hdrlen):
    n = len(blob)
    points = {1, 12, hdrlen // 2, hdrlen - 1, hdrlen, hdrlen + 1, hdrlen + 10,
              n - 27, n - 26, n - 10, n - 2, n - 1}
    return sorted(p for p in points if 0 < p < n)


def test_truncated_queue_files_go_to_corrupt(tern_factory):
    tern = prepare(tern_factory)
    msg = seeded_message("truncated")
    good_id = queue_id(0)
    (tern.queue_dir / "msg" / good_id).write_bytes(queue_file(good_id, ["bob@example.test"], msg))
    bad_ids = []
    proto = queue_file(queue_id(1), ["alice@example.test"], msg)
    hdrlen = len(envelope(queue_id(1), ["alice@example.test"]))
    for i, cut in enumerate(truncations(proto, hdrlen)):
        qid = queue_id(100 + i)
        blob = queue_file(qid, ["alice@example.test"], msg)[:cut]
        (tern.queue_dir / "msg" / qid).write_bytes(blob)
        bad_ids.append(qid)
    (tern.queue_dir / "msg" / queue_id(50)).write_bytes(b"")   # empty file
    bad_ids.append(queue_id(50))
    tern.start()
    tern.wait_for_messages("bob", 1)
    tern.settle()
    assert sorted(tern.queue_files("corrupt")) == sorted(bad_ids)
    assert tern.queue_files("msg") == []
    assert tern.messages("alice") == []
    assert "corrupt=%d" % len(bad_ids) in tern.log
    # A restart does not resurrect them.
    tern.restart()
    time.sleep(0.3)
    assert tern.messages("alice") == []


def test_malformed_queue_files_go_to_corrupt(tern_factory):
    tern = prepare(tern_factory)
    msg = seeded_message("malformed")
    msgdir = tern.queue_dir / "msg"
    bad = {}
    # trailer length one too long / one too short
    qid = queue_id(1)
    bad[qid] = envelope(qid, ["alice@example.test"]) + msg + b"\nTERN-END %016X\n" % (len(msg) + 1)
    qid = queue_id(2)
    bad[qid] = envelope(qid, ["alice@example.test"]) + msg + b"\nTERN-END %016X\n" % (len(msg) - 1)
    # id in the envelope is not the file name
    qid = queue_id(3)
    bad[qid] = queue_file(queue_id(4), ["alice@example.test"], msg)
    # unknown version, unknown key, no recipient, lower-case hex in trailer
    qid = queue_id(5)
    bad[qid] = queue_file(qid, ["alice@example.test"], msg).replace(b"tern-queue 1", b"tern-queue 2")
    qid = queue_id(6)
    bad[qid] = queue_file(qid, ["alice@example.test"], msg).replace(b"ret 0\n", b"ret 0\nfrobnicate 1\n")
    qid = queue_id(7)
    bad[qid] = queue_file(qid, [], msg)
    qid = queue_id(8)
    bad[qid] = envelope(qid, ["alice@example.test"]) + msg + b"\nTERN-END %016x\n" % 0xabc
    # not a queue file name
    bad["not-a-queue-id"] = queue_file(queue_id(9), ["alice@example.test"], msg)
    for name, blob in bad.items():
        (msgdir / name).write_bytes(blob)
    tern.start()
    time.sleep(0.5)
    tern.settle()
    assert sorted(tern.queue_files("corrupt")) == sorted(bad)
    assert tern.messages("alice") == []


def test_tmp_files_removed_at_start(tern_factory):
    tern = prepare(tern_factory)
    qid = queue_id()
    msg = seeded_message("tmp")
    # Even a complete-looking file in tmp/ was never acknowledged.
    (tern.queue_dir / "tmp" / qid).write_bytes(queue_file(qid, ["alice@example.test"], msg))
    (tern.queue_dir / "tmp" / queue_id(1)).write_bytes(envelope(queue_id(1), ["alice@example.test"])[:40])
    tern.start()
    assert tern.queue_files("tmp") == []
    assert "incomplete_removed=2" in tern.log
    time.sleep(0.3)
    tern.settle()
    assert tern.messages("alice") == []
    assert tern.queue_files("corrupt") == []


def test_queue_survives_clean_restart(tern_factory):
    """Messages acknowledged just before SIGTERM are delivered, after the
    restart if not before."""
    tern = tern_factory()
    s = tern.smtp()
    for i in range(20):
        s.sendmail("s@example.net", ["alice@example.test", "bob@example.test"],
                   b"Subject: restart %d\r\n\r\nbody\r\n" % i)
    s.quit()
    tern.restart()
    tern.wait_for_messages("alice", 20)
    tern.wait_for_messages("bob", 20)
    tern.settle()
    assert len(tern.messages("alice")) >= 20


def test_sigterm_mid_transaction(tern_factory):
    """SIGTERM while clients are in DATA, in BDAT and idle: exit 0 at
    once, nothing half-received survives, the restart is clean."""
    from tern_harness import RawClient
    tern = tern_factory()
    idle = tern.raw()
    idle.ehlo()
    in_data = tern.raw()
    in_data.ehlo()
    in_data.cmd("MAIL FROM:<s@example.net>")
    in_data.cmd("RCPT TO:<alice@example.test>")
    in_data.cmd("RCPT TO:<bob@example.test>")
    assert in_data.cmd("DATA")[0] == 354
    in_data.send(b"Subject: half\r\n\r\n" + b"x" * 100000)
    in_bdat = tern.raw()
    in_bdat.ehlo()
    in_bdat.cmd("MAIL FROM:<s@example.net>")
    in_bdat.cmd("RCPT TO:<bob@example.test>")
    in_bdat.send(b"BDAT 100000\r\nSubject: half\r\n\r\n" + b"y" * 5000)
    time.sleep(0.3)
    t0 = time.monotonic()
    rc = tern.stop()
    assert rc == 0
    assert time.monotonic() - t0 < t(5)
    for c in (idle, in_data, in_bdat):
        c.expect_closed()
        c.close()
    tern.start()
    assert tern.queue_files("tmp") == []
    time.sleep(0.3)
    tern.settle()
    assert tern.messages("alice") == [] and tern.messages("bob") == []
    for box in ("alice", "bob"):
        tmp = tern.maildir(box) / "tmp"
        assert not tmp.is_dir() or list(tmp.iterdir()) == []


@pytest.mark.parametrize("sender,params", [
    ('"a b%c\\\\d"@example.net', "ENVID=x+2B%25y RET=FULL"),
    ("", ""),
    ("jörg@exämple.net", "SMTPUTF8 BODY=8BITMIME"),
    ("-lead@example.net", "ENVID=-dash"),
], ids=["quoted-percent", "null-sender", "utf8", "leading-dash"])
def test_deferred_message_survives_restart(tern_factory, sender, params):
    """A message waiting for a retry is reloaded from its queue file after a
    restart, odd envelope values and all, and only its pending recipients
    get it."""
    tern = tern_factory()
    # alice's Maildir cannot be created (a file is in the way): deferred.
    block = tern.maildir("alice")
    block.parent.mkdir(parents=True, exist_ok=True)
    give_to_tern(block.parent)
    block.write_bytes(b"not a directory")
    c = tern.raw()
    c.cmd("EHLO odd.example.net")
    code, l = c.cmd("MAIL FROM:<%s>%s" % (sender, (" " + params) if params else ""))
    assert code == 250, l
    assert c.cmd("RCPT TO:<alice@example.test> NOTIFY=NEVER ORCPT=rfc822;Alice+2B1@example.test")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    body = "Subject: odd envelope\r\n\r\nbody ü\r\n".encode()
    c.send(body + b".\r\n")
    code, l = c.reply()
    assert code == 250, l
    c.close()
    tern.wait_for_messages("bob", 1)
    tern.wait_for_log(r"event=delivery to=<alice@example.test>.*status=deferred")
    assert len(tern.queue_files("msg")) == 1
    tern.restart()
    assert tern.queue_files("corrupt") == [], tern.log_tail()
    assert "event=queue-recovered messages=1 " in tern.log
    block.unlink()
    a, = tern.wait_for_messages("alice", 1, timeout=15)
    tern.settle()
    rp, dt, received, msg = split_delivered(a)
    assert rp == sender.encode()
    assert msg == body
    assert len(tern.messages("bob")) == 1      # not delivered again


def test_restart_keeps_the_retry_schedule(tern_factory):
    """After a restart a deferred message waits for its next attempt time,
    which its state file keeps, instead of the whole queue being retried at
    once; and its attempt count carries on."""
    tern = tern_factory(retry_initial="1h", retry_max="2h")
    block = tern.maildir("alice")
    block.parent.mkdir(parents=True, exist_ok=True)
    give_to_tern(block.parent)
    block.write_bytes(b"not a directory")
    c = tern.raw()
    c.cmd("EHLO sched.example.net")
    assert c.cmd("MAIL FROM:<someone@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: later\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 250
    c.close()
    tern.wait_for_log(r"event=delivery to=<alice@example.test>.*status=deferred")
    tern.restart()
    block.unlink()
    time.sleep(2)
    assert tern.messages("alice") == []
    attempts = re.findall(r"event=delivery to=<alice@example.test>", tern.log)
    assert len(attempts) == 1, tern.log_tail()
    assert len(tern.queue_files("msg")) == 1
