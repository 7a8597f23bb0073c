"""Simulated power loss: a crash where the page cache is lost, not just the
process (docs/testing.md, "Simulated power loss"; the model is in
powerloss.py).

One ternd runs under the shim in record mode while a client sends
messages (direct deliveries to one mailbox, queued ones to two, an alias
to two) and ternd delivers them and removes them from the queue. Then,
for crash points along the recording, the disk a power cut there could
leave is rebuilt (synced changes only; every pending name but no
pending data; everything; random mixes with torn writes), a ternd
without the shim starts on it, and:

- it starts (recovery is clean) and empties its queue;
- every message acknowledged before the crash point is in each of its
  mailboxes, byte-exact, at least once;
- every delivered file is some message whole (no torn delivery, even of
  a message that was never acknowledged), and nothing lands in corrupt/.

`make test` replays a sample of the crash points in both commit_sync
modes; TERN_DRILL=1 (`make drills`) replays every distinct state of every
crash point.
"""
import os
import random
import re
import subprocess
import time

import pytest

import powerloss
from tern_harness import BUILD, SANITIZED, TERNCTL, split_delivered, stuff, t

SHIM = BUILD / "libfaultinj.so"
EXHAUSTIVE = os.environ.get("TERN_DRILL", "") not in ("", "0")
# Random mixes per crash point, crash points in make test's sample, and
# recorded runs per scenario (each its own timing, so its own order of the
# pool threads' calls).
RANDOMS = 8 if EXHAUSTIVE else 1
SAMPLE = None if EXHAUSTIVE else 14
ROUNDS = 3 if EXHAUSTIVE else 1
SEED = int(os.environ.get("TERN_POWERLOSS_SEED", "20261202"))

ALICE, BOB = "alice@example.test", "bob@example.test"
QUEUED_AS = re.compile(rb"(?:queued|delivered) as ([0-9A-F]{16})")


def message(token, size):
    line = b"0123456789 abcdefghijklmnopqrstuvwxyz .leading-dot-kept\r\n"
    head = (b"From: s@example.net\r\nSubject: power %s\r\nMessage-ID: <%s@example.net>\r\n\r\n"
            % (token.encode(), token.encode()))
    return head + line * max(1, (size - len(head)) // len(line))


# What a recorded run sends: (token, sender, recipients, size), and where
# each copy must end: mailboxes here, the peer, or a DSN to alice.
LOCAL = [
    ("one", "s@example.net", [ALICE], 2000),
    ("two", "s@example.net", [ALICE, BOB], 5000),
    ("team", "s@example.net", ["team@example.test"], 3000),
    ("big", "s@example.net", [BOB], 150000),
    ("three", "s@example.net", [BOB, ALICE], 1200),
]
# Through the peer: accepted, refused (a bounce to alice), one copy each
# way, and one the peer defers while the run is recorded (state files,
# retries) and accepts in every recovery.
RELAY = [
    ("far-ok", ALICE, ["ok@peer.example"], 3000),
    ("far-bounce", ALICE, ["no@peer.example"], 2500),
    ("far-mixed", ALICE, ["ok@peer.example", BOB], 4000),
    ("far-later", ALICE, ["later@peer.example", "no@peer.example"], 2200),
]
# Through tern-sendmail (as nobody, under the recorder too) and the pickup:
# acknowledged when tern-sendmail exits 0.
PICKUP = [
    ("sm-one", None, [ALICE], 1500),
    ("sm-two", None, [ALICE, BOB], 4000),
    ("sm-big", None, [BOB], 90000),
]
# Through LMTP (tern's LMTP server: straight into the Maildirs), one
# recipient a transaction so that its reply is the whole acknowledgement.
LMTP = [
    ("lm-one", "s@example.net", [ALICE], 1800),
    ("lm-two", "s@example.net", [BOB], 7000),
    ("lm-team", "s@example.net", ["team@example.test"], 2500),
    ("lm-big", "s@example.net", [ALICE], 100000),
]
# Through IMAP (in the clear, so the shim sees the APPENDUID): appended,
# acknowledged by the APPEND's OK (two with a date-time: the internal
# date, the file's mtime, must come through a cut too); then flagged,
# moved and expunged.
IMAP = [
    ("im-one", '"01-Jul-2025 09:30:00 +0000"', None, 2000),
    ("im-two", None, r"(\Seen)", 6000),
    ("im-big", '"24-Dec-2024 18:05:07 +0000"', None, 120000),
    ("im-three", None, None, 1500),
]
# Delivered by SMTP, then read over POP3 and pop-two deleted (DELE, QUIT).
POP3 = [
    ("pop-one", "s@example.net", [ALICE], 2000),
    ("pop-two", "s@example.net", [ALICE], 6000),
    ("pop-big", "s@example.net", [ALICE, BOB], 120000),
    ("pop-three", "s@example.net", [ALICE], 1500),
]
MAILBOX = {ALICE: ["alice"], BOB: ["bob"], "team@example.test": ["alice", "bob"]}


def expected(sender, rcpts):
    """(mailboxes, the peer's recipients by index, bounced) a message owes."""
    boxes, peer, bounced = [], [], False
    for i, r in enumerate(rcpts):
        if r in MAILBOX:
            boxes += [b for b in MAILBOX[r] if b not in boxes]
        elif r.startswith("no@"):
            bounced = True
        else:
            peer.append(i)
    return boxes, peer, bounced


def send(c, sender, rcpts, msg):
    """The queue id of the 250."""
    code, _ = c.cmd("MAIL FROM:<%s>" % sender)
    assert code == 250
    for r in rcpts:
        code, lines = c.cmd("RCPT TO:<%s>" % r)
        assert code == 250, lines
    code, _ = c.cmd("DATA")
    assert code == 354
    c.send(stuff(msg))
    code, lines = c.reply()
    assert code == 250, lines
    m = QUEUED_AS.search(" ".join(lines).encode())
    assert m, lines
    return m.group(1).decode()


def delivered(data_dir):
    """{user: [(name, message bytes)]} of every file in new/ and cur/."""
    out = {}
    for user in ("alice", "bob", "postmaster"):
        box = data_dir / "mail" / "example.test" / user
        msgs = []
        for sub in ("new", "cur"):
            d = box / sub
            if d.is_dir():
                for p in sorted(d.iterdir()):
                    msgs.append((p.name, p.read_bytes()))
        out[user] = msgs
    return out


def maildrop(tn):
    d = tn.data_dir / "maildrop"
    return sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) \
        if d.is_dir() else []


class Run:
    """One scenario: the recorded run, then its crash states replayed on
    the same ternd (same config, its data_dir rebuilt each time)."""

    def __init__(self, tern_factory, tmp_path, scenario, name):
        settings = {"commit_sync": "fsync" if scenario == "local-fsync" else "syncfs"}
        self.scenario = scenario
        self.traffic = {"relay": RELAY, "pickup": PICKUP, "imap": IMAP,
                        "lmtp": LMTP, "pop3": POP3}.get(scenario, LOCAL)
        self.peer = None
        self.gen = None
        self.expunged = set()
        if scenario == "relay":
            from relayenv import Peer, free_port
            port = free_port()
            self.peer = Peer("127.0.0.1", port, "mx.peer.example")
            self.peer.set_rcpt("no@peer.example", "550 5.1.1 no such user here")
            self.peer.set_rcpt("later@peer.example", "451 4.3.0 try again later")
            self.peer.start()
            settings.update({"route": "peer.example 127.0.0.1:%d" % port,
                             "relay_networks": "127.0.0.0/8",
                             "reject_own_domain_sender": "no"})
        if scenario in ("imap", "pop3"):
            from imapenv import IMAP_USERS, ImapTern
            from subenv import instances
            self.gen = instances(tmp_path, ImapTern, default_users=IMAP_USERS)
            self.tn = next(self.gen)(start=False, name=name, auth_cleartext_loopback="yes",
                                     **settings)
        else:
            if scenario == "lmtp":
                from relayenv import free_port
                self.lmtp_port = free_port()
                settings["listen"] = "lmtp 127.0.0.1:%d" % self.lmtp_port
            self.tn = tern_factory(start=False, name=name, **settings)
        # id -> (token, msg, boxes, peer recipients, bounced); a pickup's
        # id is "sendmail-TOKEN" and its msg what tern-sendmail read.
        self.sent = {}

    def close(self):
        if self.peer is not None:
            self.peer.stop()
        if self.gen is not None:
            next(self.gen, None)        # the instances' teardown checks

    def record(self):
        tn = self.tn
        # A first start makes what every start after finds (directories,
        # keys); the snapshot is taken with it on disk.
        tn.start()
        tn.stop()
        os.sync()
        self.snap = powerloss.snapshot(tn.data_dir)
        rec = tn.root / "recording"
        rec.touch(mode=0o666)
        os.chmod(rec, 0o666)        # tern-sendmail runs as nobody
        tn.env = {"LD_PRELOAD": str(SHIM), "TERN_FAULT_DIR": str(tn.data_dir),
                  "TERN_FAULT_RECORD": str(rec)}
        if SANITIZED:
            tn.env["ASAN_OPTIONS"] = "detect_leaks=1:verify_asan_link_order=0"
        tn.start()
        if self.scenario == "pickup":
            self.send_pickup(rec)
        elif self.scenario == "imap":
            self.send_imap()
        else:
            self.send_smtp()
        if self.scenario == "pop3":
            self.pop3_delete()
        if self.peer is not None:
            # Two deferrals of far-later: its state file written, rewritten.
            tn.wait_for_log(r"status=deferred", count=2, timeout=20)
            want = 1
        else:
            want = 0
        deadline = time.monotonic() + t(20)
        while (len(tn.queue_files("msg")) > want or os.listdir(tn.data_dir / "maildrop")) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(tn.queue_files("msg")) == want, tn.log_tail()
        assert tn.stop() == 0
        tn.env = {}
        if self.peer is not None:
            self.peer.set_rcpt("later@peer.example", None)
        self.model = powerloss.Model(self.snap, tn.data_dir, powerloss.read_records(rec))
        assert not self.model.unknown, self.model.unknown[:5]
        assert sorted(self.model.acked) == sorted(self.sent), (self.model.acked, self.sent)

    def send_pickup(self, rec):
        env = dict(os.environ, **self.tn.env)
        for token, _, rcpts, size in self.traffic:
            body = b"".join(b"line %d of %s, kept whole\n" % (i, token.encode())
                            for i in range(size // 24))
            text = (b"To: %s\nSubject: power %s\nMessage-ID: <%s@example.net>\n\n"
                    % (", ".join(rcpts).encode(), token.encode(), token.encode())) + body
            p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                str(BUILD / "tern-sendmail"), "-C", str(self.tn.config_path),
                                "-t", "-i"], input=text, env=env, capture_output=True,
                               timeout=t(30))
            assert p.returncode == 0, p.stderr
            # Acknowledged now: tern-sendmail has exited, its changes are
            # all in the recording before this line.
            with open(rec, "ab") as f:
                f.write(b"K sendmail-%s\n" % token.encode())
            self.sent["sendmail-" + token] = (token, body.replace(b"\n", b"\r\n")) + \
                expected(None, rcpts)

    def imap_login(self):
        import imaplib
        from imapenv import IMAP_PASSWORDS
        c = imaplib.IMAP4("127.0.0.1", self.tn.imap_port, timeout=t(30))
        c.login(ALICE, IMAP_PASSWORDS[ALICE])
        return c

    def send_imap(self):
        c = self.imap_login()
        c.create("Archive")         # NO [ALREADYEXISTS] where it is made at login
        uid = {}
        for token, date, flags, size in self.traffic:
            msg = message(token, size)
            typ, data = c.append("INBOX", flags, date, msg)
            m = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
            assert typ == "OK" and m, data
            key = "A%s.%s" % (m.group(1).decode(), m.group(2).decode())
            uid[token] = m.group(2).decode()
            self.sent[key] = (token, msg, ["alice"], [], False)
        assert c.select("INBOX")[0] == "OK"
        assert c.uid("STORE", uid["im-one"], "+FLAGS", r"(\Flagged)")[0] == "OK"
        assert c.uid("MOVE", uid["im-three"], "Archive")[0] == "OK"
        assert c.uid("STORE", uid["im-two"], "+FLAGS", r"(\Deleted)")[0] == "OK"
        assert c.expunge()[0] == "OK"
        self.expunged.add("im-two")     # may come back after a crash; not checked
        c.logout()

    def pop3_contents(self):
        """Every message alice's POP3 session lists, read whole (RETR)."""
        p = self.tn.pop3(ALICE, timeout=30)
        try:
            n = p.stat()[0]
            return [b"\r\n".join(p.retr(i)[1]) + b"\r\n" for i in range(1, n + 1)]
        finally:
            p.quit()

    def pop3_delete(self):
        """Once alice has her four: a POP3 session reads them all and
        deletes pop-two (DELE, then QUIT's UPDATE state)."""
        deadline = time.monotonic() + t(20)
        while len(delivered(self.tn.data_dir)["alice"]) < 4:
            assert time.monotonic() < deadline, self.tn.log_tail()
            time.sleep(0.05)
        p = self.tn.pop3(ALICE, timeout=30)
        n = p.stat()[0]
        assert n == 4
        gone = [i for i in range(1, n + 1) if b"pop-two" in b"\n".join(p.retr(i)[1])]
        assert len(gone) == 1
        assert p.dele(gone[0]).startswith(b"+OK")
        assert p.quit().startswith(b"+OK")
        self.expunged.add("pop-two")    # may come back after a crash; not checked

    def imap_contents(self):
        """Every message in INBOX and Archive, read back over IMAP: a
        list of (message, its INTERNALDATE)."""
        c = self.imap_login()
        out = []
        try:
            for box in ("INBOX", "Archive"):
                typ, data = c.select(box, readonly=True)
                if box == "Archive" and typ == "NO" and b"NONEXISTENT" in data[0]:
                    continue        # made after the crash point
                assert typ == "OK", (box, data)
                typ, data = c.uid("FETCH", "1:*", "(INTERNALDATE BODY.PEEK[])")
                assert typ == "OK", data
                out += [(d[1], re.search(rb'INTERNALDATE "([^"]*)"', d[0]).group(1).decode())
                        for d in data if isinstance(d, tuple)]
        finally:
            c.logout()
        return out

    def session(self):
        if self.scenario != "lmtp":
            c = self.tn.raw(timeout=t(30))
            c.ehlo()
            return c
        from tern_harness import RawClient
        c = RawClient("127.0.0.1", self.lmtp_port, timeout=t(30))
        assert c.reply()[0] == 220
        assert c.cmd("LHLO client.example.net")[0] == 250
        return c

    def send_smtp(self):
        c = self.session()
        for i, (token, sender, rcpts, size) in enumerate(self.traffic):
            if i == 3:          # a second session for the rest
                c.cmd("QUIT")
                c.close()
                c = self.session()
            msg = message(token, size)
            self.sent[send(c, sender, rcpts, msg)] = (token, msg) + expected(sender, rcpts)
        c.cmd("QUIT")
        c.close()

    def matches(self, key, blob):
        """Whether a delivered file is the message sent as key, whole."""
        token, msg = self.sent[key][:2]
        if key.startswith("sendmail-"):
            return (b"\r\nMessage-ID: <%s@example.net>\r\n" % token.encode()) in blob \
                and blob.endswith(b"\r\n\r\n" + msg)
        return split_delivered(blob)[3] == msg

    def rebooted(self):
        """ternd as after a reboot: in a mount namespace of its own where
        /proc/sys/kernel/random/boot_id is a new one (what the mailbox
        index trusts only within one boot), the same pid (unshare and sh
        exec), so the harness's signals reach it."""
        wrapper = self.tn.root / "ternd-rebooted"
        if not wrapper.exists():
            wrapper.write_text(
                "#!/bin/sh\n"
                "# ternd with a boot_id of its own (test_powerloss.py)\n"
                "exec unshare --mount --propagation private sh -c '\n"
                "  f=$(mktemp) && cat /proc/sys/kernel/random/uuid > \"$f\" &&\n"
                "  mount --bind \"$f\" /proc/sys/kernel/random/boot_id && rm -f \"$f\" &&\n"
                "  exec \"$0\" \"$@\"' %s \"$@\"\n" % self.tn.ternd)
            wrapper.chmod(0o755)
        return wrapper

    def recover_and_check(self, label, k, tree, acked):
        tn = self.tn
        kill9 = label.startswith("kill9")
        powerloss.materialize(tree, str(tn.data_dir), self.snap, rebooted=not kill9)
        real = tn.ternd
        if not kill9:
            tn.ternd = self.rebooted()
        if self.peer is not None:
            with self.peer.lock:
                self.peer.messages.clear()
        tn.start()
        try:
            if self.scenario == "imap":
                held = self.imap_contents()
            elif self.scenario == "pop3":
                held = self.pop3_contents()
            deadline = time.monotonic() + t(10)
            flushed = False
            # The pickup starts on its own after the queue's recovery:
            # wait for the maildrop too (what the recovery must drain).
            while tn.queue_files("msg") or maildrop(tn):
                if time.monotonic() > deadline:
                    if flushed:
                        break
                    # A crash mid-attempt can leave a retry time: now, please.
                    subprocess.run([str(TERNCTL), "-c", str(tn.config_path), "queue", "flush"],
                                   capture_output=True, timeout=t(30))
                    flushed, deadline = True, time.monotonic() + t(10)
                time.sleep(0.03)
        finally:
            tn.stop()
            tn.ternd = real
        left = tn.queue_files("msg") + maildrop(tn)
        assert not left, (label, "still queued after recovery", left, tn.log_tail())
        assert not tn.queue_files("corrupt"), (label, tn.queue_files("corrupt"), tn.log_tail())
        if self.scenario == "imap":
            whole = {v[1] for v in self.sent.values()}
            dates = {}
            for blob, date in held:
                assert blob in whole, (label, "torn message in the mailbox", blob[:200])
                dates.setdefault(blob, set()).add(date)
            asked = {token: date for token, date, _, _ in IMAP}
            for key in acked:
                token, msg = self.sent[key][:2]
                if token not in self.expunged:
                    assert msg in dates, (label, "acknowledged APPEND lost", token, key,
                                          tn.log_tail())
                    if asked[token] is not None:
                        assert dates[msg] == {asked[token].strip('"')}, \
                            (label, "APPEND's date-time lost", token, dates[msg])
            return
        if self.scenario == "pop3":
            # What POP3 shows: whole messages, every acknowledged one
            # that was not deleted.
            for blob in held:
                assert any(self.matches(key, blob) for key in self.sent), \
                    (label, "torn message over POP3", blob[:200])
            for key in acked:
                token, _, boxes = self.sent[key][:3]
                if "alice" in boxes and token not in self.expunged:
                    assert any(self.matches(key, blob) for blob in held), \
                        (label, "acknowledged message not listed by POP3", token, key,
                         tn.log_tail())
        found = delivered(tn.data_dir)
        for user, files in found.items():
            for name, blob in files:
                if blob.startswith(b"Return-Path: <>"):
                    assert b"multipart/report" in blob, (label, "torn DSN", user, name)
                else:
                    assert any(self.matches(key, blob) for key in self.sent), \
                        (label, "torn delivery", user, name)
        at_peer = self.peer.snapshot() if self.peer is not None else []
        for qid in acked:
            token, msg, boxes, peer, bounced = self.sent[qid]
            for b in boxes if token not in self.expunged else []:
                copies = sum(1 for _, blob in found[b]
                             if not blob.startswith(b"Return-Path: <>")
                             and self.matches(qid, blob))
                assert copies >= 1, (label, "acknowledged message lost", token, qid, b,
                                     tn.log_tail())
            if peer and "queue/msg/" + qid not in tree:
                # Gone before the crash: tern removes a message only after
                # the peer's 250 (or a bounce), in the recorded run.
                assert self.model.removed.get("queue/msg/" + qid, len(self.model.points)) <= k, \
                    (label, "acknowledged message gone, never relayed", token, qid)
            elif peer:
                state = tree.get("queue/state/" + qid)
                done = set(re.findall(rb"^d (\d+)\n", state[4], re.M)) if state else set()
                if any(str(i).encode() not in done for i in peer):
                    copies = sum(1 for m in at_peer if m.content.endswith(msg))
                    assert copies >= 1, (label, "acknowledged message not relayed", token, qid)
            if bounced:
                mark = b"<%s@example.net>" % token.encode()
                dsns = sum(1 for _, blob in found["alice"]
                           if blob.startswith(b"Return-Path: <>") and mark in blob)
                assert dsns >= 1, (label, "bounce lost", token, qid, tn.log_tail())


@pytest.mark.skipif(not SHIM.exists(), reason="no libfaultinj.so in the build")
@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("scenario", ["local-syncfs", "local-fsync", "relay", "pickup", "lmtp",
                                      "imap", "pop3"])
def test_power_loss(tern_factory, tmp_path, scenario, round_):
    run = Run(tern_factory, tmp_path, scenario, "power-%s-%d" % (scenario, round_))
    try:
        run.record()
        replay(run, "%s-%d" % (scenario, round_))
    finally:
        run.close()


def replay(run, scenario):
    model = run.model
    rng = random.Random("%d-%s" % (SEED, scenario))
    points = list(range(len(model.points)))
    if SAMPLE is not None and len(points) > SAMPLE:
        # Always the points right after the first acknowledgements and
        # the end; the rest at random.
        must = {len(points) - 1}
        ack_at = [i for i, (*_, n) in enumerate(model.points)
                  if i > 0 and n > model.points[i - 1][-1]]
        must.update(ack_at[:2])
        rest = [p for p in points if p not in must]
        points = sorted(must | set(rng.sample(rest, SAMPLE - len(must))))
    seen = {}
    for k in points:
        for label, tree, acked in model.states(k, RANDOMS, rng):
            key = powerloss.image_key(tree, acked)
            if key not in seen or len(acked) > len(seen[key][3]):
                seen[key] = ("%s@%d" % (label, k), k, tree, acked)
            if label == "everything":
                # The same disk as kill -9 leaves it: no reboot, files
                # dated now (a lock left by the dead ternd is not older
                # than this boot, so only what it holds can break it).
                seen.setdefault(key + "-kill9", ("kill9@%d" % k, k, tree, acked))
    for label, k, tree, acked in seen.values():
        run.recover_and_check(label, k, tree, acked)
    report = os.environ.get("TERN_DRILL_REPORT")
    if report:
        with open(report, "a") as f:
            f.write('{"powerloss": "%s", "records": %d, "points": %d, "states": %d}\n'
                    % (scenario, len(model.points), len(points), len(seen)))
    print("power loss %s: %d records, %d crash points, %d distinct states replayed"
          % (scenario, len(model.points), len(points), len(seen)))


def test_lock_left_by_a_power_cut_is_broken(tmp_path):
    """What the imap scenario found: a power cut can leave a folder's
    dovecot-uidlist.lock empty (its "<pid>:<host>" never synced; a lock is
    not worth an fsync) or naming a pid that is another process's after
    the reboot. Neither rule (dead holder, two minutes untouched) broke it
    at once: a quick reboot left the folder [INUSE] for up to two
    minutes. A lock last changed before this boot is broken at once."""
    import imaplib
    from imapenv import IMAP_PASSWORDS, IMAP_USERS, ImapTern
    from subenv import instances
    gen = instances(tmp_path, ImapTern, default_users=IMAP_USERS)
    try:
        tn = next(gen)(auth_cleartext_loopback="yes")
        msg = message("before-the-cut", 800)
        c = imaplib.IMAP4("127.0.0.1", tn.imap_port, timeout=t(30))
        c.login(ALICE, IMAP_PASSWORDS[ALICE])
        assert c.append("INBOX", None, None, msg)[0] == "OK"
        c.logout()
        tn.stop()
        lock = tn.data_dir / "mail" / "example.test" / "alice" / "dovecot-uidlist.lock"
        for i, content in enumerate((b"", b"1:%s\n" % os.uname().nodename.encode())):
            lock.write_bytes(content)     # pid 1 lives: only the boot rule breaks it
            when = powerloss.boot_time() - 60
            os.utime(lock, (when, when))
            tn.start()
            c = imaplib.IMAP4("127.0.0.1", tn.imap_port, timeout=t(30))
            c.login(ALICE, IMAP_PASSWORDS[ALICE])
            began = time.monotonic()
            typ, data = c.select("INBOX", readonly=True)
            assert typ == "OK", data
            assert time.monotonic() - began < t(5)
            typ, data = c.fetch("1", "(BODY.PEEK[])")
            assert typ == "OK" and data[0][1] == msg
            c.logout()
            tn.wait_for_log(r'event=mailbox-lock-broken [^\n]*reason="made before this boot"',
                            count=i + 1)
            tn.stop()
    finally:
        next(gen, None)
