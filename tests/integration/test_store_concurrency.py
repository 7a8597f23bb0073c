"""The mailbox store under concurrent use: SMTP deliveries while POP3
sessions of several users read and delete, logging in and out over and
over; a second login of the same user ([IN-USE]) while the first streams
a large message; and Dovecot changing the Maildir under an open tern
session (a message expunged: RETR answers -ERR and the session goes on;
a message renamed by a flag change: still found, and its flags kept);
and the uidlist lock of a process that died, broken at once by tern and
by Dovecot, where a live holder is waited for."""
import os
import poplib
import random
import re
import smtplib
import socket
import threading
import time

import pytest

from dovecotenv import dovecot_factory, run_as_user  # noqa: F401
from retrenv import body_of, dead_pid, deliver_in_order, mail_factory, mt  # noqa: F401
from subenv import ALICE, BOB, PASSWORDS, no_verify_ctx
from tern_harness import t

PM = "postmaster@example.test"
TOKEN = re.compile(rb"^Subject: token (\S+)\r$", re.M)


def token_of(blob):
    m = TOKEN.search(blob)
    assert m, blob[:300]
    return m.group(1).decode()


def tokened(token, size=0):
    pad = b"".join(b"line %d of %s\r\n" % (i, token.encode()) for i in range(size // 20))
    return b"From: <s@example.net>\r\nSubject: token %s\r\n\r\n%s.dot\r\nend\r\n" % (
        token.encode(), pad)


class Sender(threading.Thread):
    """Sends tokened messages to rcpt over one SMTP connection; acked holds
    the tokens answered 250."""

    def __init__(self, mt, rcpt, n, prefix):
        super().__init__(daemon=True)
        self.mt, self.rcpt, self.n, self.prefix = mt, rcpt, n, prefix
        self.acked = []
        self.error = None

    def run(self):
        rnd = random.Random(self.prefix)
        try:
            with smtplib.SMTP("127.0.0.1", self.mt.port, timeout=t(20)) as s:
                for i in range(self.n):
                    token = "%s%d" % (self.prefix, i)
                    s.sendmail("s@example.net", [self.rcpt], tokened(token, rnd.choice((0, 0, 3000))))
                    self.acked.append(token)
        except Exception as e:      # reported by the test
            self.error = e


class Reader(threading.Thread):
    """A POP3 client that tracks UIDLs, as fetchmail and getmail do: each
    session lists the UIDLs, RETRs those it has not seen, DELEs some of
    them, checks that a few it kept still hold the same message (TOP), and
    QUITs; then again, until told to stop and nothing new is left."""

    def __init__(self, mt, user, seed):
        super().__init__(daemon=True)
        self.mt, self.user = mt, user
        self.rnd = random.Random(seed)
        self.seen = {}          # UIDL -> token
        self.deleted = set()    # UIDLs deleted by a QUIT answered +OK
        self.dups = []          # a token seen under a second UIDL
        self.problems = []
        self.sessions = 0
        self.stop = threading.Event()
        self.error = None

    def session(self):
        p = self.mt.pop3(self.user, timeout=20)
        got = 0
        try:
            listing = {int(n): u.decode() for n, u in (l.split() for l in p.uidl()[1])}
            dele = []
            for n, u in sorted(listing.items()):
                if u in self.deleted:
                    self.problems.append("%s listed after its deletion" % u)
                if u in self.seen:
                    # Kept from an earlier session: the same message.
                    if self.rnd.random() < 0.1:
                        _, lines, _ = p.top(n, 0)
                        if token_of(body_of(lines)) != self.seen[u]:
                            self.problems.append("UIDL %s now names %s, was %s" % (
                                u, token_of(body_of(lines)), self.seen[u]))
                    continue
                _, lines, octets = p.retr(n)
                blob = body_of(lines)
                token = token_of(blob)
                if token in self.seen.values():
                    self.dups.append(token)
                self.seen[u] = token
                got += 1
                if self.rnd.random() < 0.5:
                    p.dele(n)
                    dele.append(u)
            resp = p.quit()
            if resp.startswith(b"+OK"):
                self.deleted.update(dele)
            self.sessions += 1
            return got
        finally:
            p.close()

    def run(self):
        try:
            while True:
                got = self.session()
                if self.stop.is_set() and got == 0:
                    return
                time.sleep(self.rnd.uniform(0, 0.05))
        except Exception as e:
            self.error = e


def test_deliveries_while_users_read_and_delete(mt):
    """200 messages to alice and 60 each to bob and postmaster, sent while
    a UIDL-tracking reader per user logs in and out: every message is
    seen exactly once, none is lost, and a UIDL never changes meaning."""
    counts = {ALICE: 200, BOB: 60, PM: 60}
    senders = [Sender(mt, u, n, "%s-" % u.split("@")[0]) for u, n in counts.items()]
    readers = [Reader(mt, u, i) for i, u in enumerate(counts)]
    for th in readers + senders:
        th.start()
    for s in senders:
        s.join(timeout=t(60))
        assert not s.is_alive() and s.error is None, s.error
    mt.settle()
    for r in readers:
        r.stop.set()
    for r in readers:
        r.join(timeout=t(60))
        assert not r.is_alive(), "%s: reader hung" % r.user
    for s, r in zip(senders, readers):
        assert r.error is None, "%s: %r" % (r.user, r.error)
        assert r.problems == [] and r.dups == [], (r.problems[:5], r.dups[:5])
        assert len(s.acked) == counts[r.user]
        assert sorted(r.seen.values()) == sorted(s.acked), r.user
        assert r.sessions > 3, (r.user, r.sessions)
        # What was not deleted is still there, under the same UIDLs.
        left = set(mt.uidls(r.user).values())
        assert left == set(r.seen) - r.deleted
    assert mt.log_count(r"event=pop3-login ") == sum(r.sessions for r in readers) + 3


def test_second_login_in_use_while_the_first_streams(mt):
    """alice's first session is in the middle of a 4 MB RETR (the client
    reads slowly); a second login gets [IN-USE], deliveries to alice go on,
    and after the QUIT the next login sees everything."""
    big, = deliver_in_order(mt, ALICE, [tokened("big", 4 << 20)])
    c = poplib.POP3_SSL("127.0.0.1", mt.pop3s_port, timeout=t(20),
                        context=no_verify_ctx())
    c.user(ALICE)
    c.pass_(PASSWORDS[ALICE])
    c._putcmd("RETR 1")
    first = c._getline()[0]
    assert first.startswith(b"+OK")
    c._getline()                      # one line: the stream has begun
    b = mt.pop3()
    try:
        b.user(ALICE)
        with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
            b.pass_(PASSWORDS[ALICE])
        # bob's maildrop is not alice's
        b.user(BOB)
        b.pass_(PASSWORDS[BOB])
        b.quit()
    finally:
        b.close()
    later = deliver_in_order(mt, ALICE, [tokened("later-%d" % i) for i in range(3)])
    lines = []
    while True:
        line, _ = c._getline()
        if line == b".":
            break
        lines.append(line[1:] if line.startswith(b"..") else line)
    assert body_of(lines).endswith(big)
    assert c.quit().startswith(b"+OK")
    p = mt.pop3(ALICE)
    try:
        tokens = [token_of(body_of(p.retr(n)[1])) for n in range(1, p.stat()[0] + 1)]
        assert tokens == ["big"] + ["later-%d" % i for i in range(3)]
        assert [token_of(x) for x in later] == tokens[1:]
    finally:
        p.quit()


def test_dovecot_expunges_and_renames_under_an_open_session(mail_factory, dovecot_factory):
    mt = mail_factory()
    dc = dovecot_factory(tern=mt)
    sent = deliver_in_order(mt, ALICE, [tokened("m%d" % i) for i in range(1, 5)]
                            + [tokened("m5", 2 << 20)])
    p = mt.pop3(ALICE)          # UIDs 1-5 given, sizes known
    try:
        uidls = {int(n): u.decode() for n, u in (l.split() for l in p.uidl()[1])}
        assert dc.uids(ALICE) == [1, 2, 3, 4, 5]
        dc.doveadm("expunge", "-u", ALICE, "mailbox", "INBOX", "uid", "2")
        # Flags set in Dovecot rename the file: tern finds it by its base.
        dc.doveadm("flags", "add", "-u", ALICE, "\\Answered", "mailbox", "INBOX", "uid", "3")
        with pytest.raises(poplib.error_proto, match=r"-ERR .*[Mm]essage 2 has gone"):
            p.retr(2)
        # The session goes on.
        assert body_of(p.retr(1)[1]).endswith(sent[0])
        assert body_of(p.retr(3)[1]).endswith(sent[2])
        # Renamed again after tern last opened it: QUIT's \Seen must not
        # undo Dovecot's flags.
        dc.doveadm("flags", "add", "-u", ALICE, "\\Flagged", "mailbox", "INBOX", "uid", "3")
        p.dele(2)               # gone already: nothing to do at UPDATE
        p.dele(4)
        # Expunged while its RETR streams: the open file is read to the end.
        p._putcmd("RETR 5")
        assert p._getline()[0].startswith(b"+OK")
        dc.doveadm("expunge", "-u", ALICE, "mailbox", "INBOX", "uid", "5")
        lines = []
        while True:
            line, _ = p._getline()
            if line == b".":
                break
            lines.append(line[1:] if line.startswith(b"..") else line)
        assert body_of(lines).endswith(sent[4])
        assert p.stat()[0] == 3
        assert p.quit().startswith(b"+OK")
    finally:
        p.close()
    mt.wait_for_log(r"event=pop3-expunged user=alice@example\.test messages=2")
    mt.check_alive()
    # Left: UID 1 (retrieved: \Seen) and UID 3 (retrieved, and \Answered
    # and \Flagged from Dovecot: all three).
    p = mt.pop3(ALICE)
    try:
        assert {int(n): u.decode() for n, u in (l.split() for l in p.uidl()[1])} == \
            {1: uidls[1], 2: uidls[3]}
    finally:
        p.quit()
    flags = {int(m["uid"]): set(m["flags"].split()) for m in dc.fetch(ALICE, "uid flags")}
    assert flags == {1: {"\\Seen"}, 3: {"\\Seen", "\\Answered", "\\Flagged"}}


def test_uidlist_lock_of_a_dead_process(mail_factory, dovecot_factory):
    """A lock holds "<pid>:<host>" while it is taken, as Dovecot's dotlocks
    do: one left by a process of this host that died (ternd after a
    kill -9) is broken at once, by tern and by Dovecot, instead of after
    the two minutes a lock without a holder gets; a live holder's lock is
    waited for."""
    mt = mail_factory()
    dc = dovecot_factory(tern=mt)
    deliver_in_order(mt, ALICE, [tokened("a")])
    uidls = mt.uidls(ALICE)
    lock = mt.maildir(ALICE) / "dovecot-uidlist.lock"
    owner = run_as_user()

    def put_lock(pid, host=socket.gethostname(), age=0):
        lock.write_text("%d:%s" % (pid, host))
        os.chown(lock, owner.pw_uid, owner.pw_gid)
        if age:
            then = time.time() - age
            os.utime(lock, (then, then))

    pid = dead_pid()
    put_lock(pid)
    started = time.monotonic()
    assert mt.uidls(ALICE) == uidls
    assert time.monotonic() - started < t(2)
    mt.wait_for_log(r'event=mailbox-lock-broken path="[^"]*/alice/dovecot-uidlist\.lock" '
                    r"age=\d+ dead_pid=%d" % pid)
    assert not lock.exists()

    # Dovecot reads the holder of a lock older than two seconds.
    put_lock(dead_pid(), age=5)
    started = time.monotonic()
    dc.force_resync(ALICE)
    assert time.monotonic() - started < t(5)
    assert not lock.exists() and dc.uids(ALICE) == [1]

    # A live holder (this test), or a dead one of another host (whose pid
    # means nothing here): waited for, until the lock goes, by a login
    # that has something to change. (One that finds the folder as its
    # tern-index says takes no lock: new/ is touched to make it look.)
    for holder in (os.getpid(), None):
        if holder is None:
            put_lock(dead_pid(), host="elsewhere.example.net")
        else:
            put_lock(holder)
        os.utime(mt.maildir(ALICE) / "new")
        threading.Timer(1.0, lock.unlink).start()
        started = time.monotonic()
        assert mt.uidls(ALICE) == uidls
        assert time.monotonic() - started >= 0.9
    assert mt.log_count(r"event=mailbox-lock-broken") == 1
