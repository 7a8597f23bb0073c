"""Fault injection at the system calls of the commit, delivery, DSN and
recovery paths: a 250 must mean the message is durable, whichever call
fails (docs/testing.md, "Fault injection"; docs/queue.md).

Each scenario runs once under the shim (tests/faults/faultinj.c) in count
mode to learn the calls it makes below the data_dir; then, for each
chosen call, a fresh ternd runs the scenario with that one call failing,
and the checks below hold:

- the client got 250 or 4xx, never 5xx; a message that got 250 arrives
  complete and byte-exact (after a restart without the shim);
- the server takes the next message, in the same session and a new one;
- after a restart without the shim nothing is left in tmp/ (queue or
  Maildir) nor in corrupt/;
- a file whose fsync (or fdatasync) failed is not fsync'd again: no later
  sync of that path unless it was created anew in between.

`make test` runs a sample (faults_for: about a dozen calls a scenario, on
the files a 250 stands on); TERN_DRILL=1 (`make drills`) walks every call
of every kind.
"""
import json
import os
import re
import time

import pytest

from tern_harness import BUILD, SANITIZED, TernError, split_delivered, t

SHIM = BUILD / "libfaultinj.so"
EXHAUSTIVE = os.environ.get("TERN_DRILL", "") not in ("", "0")
SCENARIOS = ["direct", "queued", "dsn", "recovery", "pickup", "imap"]
if EXHAUSTIVE:
    # commit_sync fsync: the per-file fsync, rename and directory fsync.
    SCENARIOS += ["direct-fsync", "queued-fsync"]
# Each scenario's faults split over this many tests (xdist spreads them).
SHARDS = 1
WRITE_KINDS = ("write", "fsync", "fdatasync", "sync_file_range", "syncfs")
SYNC_KINDS = ("fsync", "fdatasync")

ALICE, BOB = "alice@example.test", "bob@example.test"
LOG_RE = re.compile(r"^(\S+) (\d+) (\d+) (.*?)( FAIL)?$")


def message(token, size=3000):
    line = b"0123456789 abcdefghijklmnopqrstuvwxyz .leading-dot-kept\r\n"
    head = b"From: s@example.net\r\nSubject: fault %s\r\n\r\n" % token.encode()
    return head + line * max(1, (size - len(head)) // len(line))


def stuffed(msg):
    return b"\r\n".join((b"." + l) if l.startswith(b".") else l
                        for l in msg.split(b"\r\n")) + b".\r\n"


def transaction(c, sender, rcpts, msg):
    """(code, lines) of the transaction: the first refusal or the reply
    to the end of data."""
    code, lines = c.cmd("MAIL FROM:<%s>" % sender)
    if code != 250:
        return code, lines
    for r in rcpts:
        code, lines = c.cmd("RCPT TO:<%s>" % r)
        if code != 250:
            c.cmd("RSET")
            return code, lines
    code, lines = c.cmd("DATA")
    if code != 354:
        c.cmd("RSET")
        return code, lines
    c.send(stuffed(msg))
    return c.reply()


def read_log(path):
    out = []
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        m = LOG_RE.match(line)
        if m:
            out.append((m.group(1), int(m.group(2)), m.group(4), bool(m.group(5))))
    return out


class Drill:
    """One scenario run against one ternd with the shim set to one fault
    (or none: count mode)."""

    def __init__(self, tern_factory, tmp_path, scenario, fault, name):
        settings = {}
        self.label = scenario
        if scenario.endswith("-fsync"):
            scenario = scenario[:-len("-fsync")]
            settings["commit_sync"] = "fsync"
        self.scenario = scenario
        self.fault = fault
        self.name = name
        self.peer = None
        self.logfile = tmp_path / ("%s.calls" % name)
        if scenario == "dsn":
            from relayenv import Peer, free_port
            port = free_port()
            self.peer = Peer("127.0.0.1", port, "mx.peer.example")
            self.peer.set_rcpt("x@peer.example", "550 5.1.1 no such user here")
            self.peer.start()
            settings.update({"route": "peer.example 127.0.0.1:%d" % port,
                             "relay_networks": "127.0.0.0/8"})
        self.gen = None
        if scenario == "imap":
            from imapenv import IMAP_USERS, ImapTern
            from subenv import instances
            self.gen = instances(tmp_path, ImapTern, default_users=IMAP_USERS)
            self.tern = next(self.gen)(start=False, name=name, auth_cleartext_loopback="yes",
                                       **settings)
        else:
            self.tern = tern_factory(start=False, name=name, **settings)
        self.sent = {}        # token -> (message, mailboxes, code)

    def shim_env(self, fault):
        env = {"LD_PRELOAD": str(SHIM), "TERN_FAULT_DIR": str(self.tern.data_dir),
               "TERN_FAULT_LOG": str(self.logfile)}
        if fault:
            env["TERN_FAULT"] = fault
        if SANITIZED:
            env["ASAN_OPTIONS"] = "detect_leaks=1:verify_asan_link_order=0"
        return env

    # ------------------------------------------------------------ phases --
    def prepare(self):
        """What must be on disk before the shim's ternd starts."""
        if self.scenario == "recovery":
            self.make_queue()

    def make_queue(self):
        """Two queued messages written as a stopped ternd leaves them: one
        for alice and bob, one for alice and bob of which alice already has
        her copy (a state file), and a torn tmp/ file."""
        q = self.tern.queue_dir
        for sub in ("tmp", "msg", "state"):
            (q / sub).mkdir(parents=True, exist_ok=True)
        base = int(time.time() * 1e6) << 12
        for i, (token, done) in enumerate((("rec-both", False), ("rec-bob", True))):
            qid = "%016X" % (base + i)
            # Delivered as Return-Path, Delivered-To, then this (its
            # Received is what split_delivered takes for tern's).
            body = message(token)
            msg = b"Received: from client.example.net ([127.0.0.1])\r\n\tby mx.example.test\r\n" \
                  b"\tfor <alice@example.test>; Mon, 1 Dec 2026 08:00:00 +0000\r\n" + body
            env = ("tern-queue 1\nid %s\narrival %d\nfrom s@example.net\nhelo client.example.net\n"
                   "client 127.0.0.1\nproto ESMTP\nenvid -\nbody 0\nret 0\nsmtputf8 0\n"
                   "rcpt %s %s - 0 1\nrcpt %s %s - 0 1\nend\n"
                   % (qid, int(time.time()), ALICE, ALICE, BOB, BOB)).encode()
            (q / "msg" / qid).write_bytes(env + msg + b"\nTERN-END %016X\n" % len(msg))
            if done:
                (q / "state" / qid).write_bytes(b"tern-state 2\nd 0\nt 0 1\n")
            self.sent[token] = (body, ["bob"] if done else ["alice", "bob"], 250)
        (q / "tmp" / ("%016X" % (base + 7))).write_bytes(b"tern-queue 1\nid torn")

    def act(self):
        """The scenario's traffic; returns the codes the client got."""
        if self.scenario == "recovery":
            return []
        if self.scenario == "pickup":
            return self.act_pickup()
        if self.scenario == "imap":
            return self.act_imap()
        c = self.tern.raw(timeout=t(30))
        c.ehlo()
        if self.scenario == "direct":
            sender, rcpts, boxes = "s@example.net", [ALICE], ["alice"]
        elif self.scenario == "queued":
            sender, rcpts, boxes = "s@example.net", [ALICE, BOB], ["alice", "bob"]
        else:
            sender, rcpts, boxes = ALICE, ["x@peer.example"], ["alice"]
        msg = message("first")
        code, lines = transaction(c, sender, rcpts, msg)
        assert code == 250 or 400 <= code < 500, (self.fault, lines)
        self.sent["first"] = (msg, boxes, code)
        # dsn: the rest go to bob, so that alice's Maildir is made by her
        # bounce alone, which is then always queued (a direct delivery
        # needs a Maildir already there), the file dsn_faults looks for.
        then = BOB if self.scenario == "dsn" else ALICE
        # The fault hits whichever message makes the Nth call; once spent,
        # mail flows: in the same session and in a new one, and the last
        # message (sent after the others were answered) must get 250.
        conn = c
        for token in ("same-session", "new-session", "last", "after-last"):
            if token == "new-session":
                c.cmd("QUIT")
                c.close()
                conn = self.tern.raw(timeout=t(30))
                conn.ehlo()
            if token == "last":
                mark = len(read_log(self.logfile))
            m = message(token)
            code, lines = transaction(conn, "s@example.net", [then], m)
            assert code == 250 or 400 <= code < 500, (self.fault, token, lines)
            self.sent[token] = (m, [then.split("@")[0]], code)
            if token == "last":
                if code == 250:
                    break
                # Refused only if the fault came while it was being taken
                # (the count run's timing is not this run's).
                assert not any(f for _, _, _, f in read_log(self.logfile)[:mark]), \
                    (self.fault, "the fault was spent, yet", lines)
            elif token == "after-last":
                assert code == 250, (self.fault, token, lines)
        conn.cmd("QUIT")
        conn.close()
        return

    def act_pickup(self):
        """Two messages through tern-sendmail (as nobody, without the
        shim: the faults are ternd's, in the pickup, the commit and the
        deliveries); exit 0 is the acknowledgement."""
        import subprocess
        from tern_harness import BUILD as build
        for token in ("first", "second"):
            body = b"".join(b"line %d of the pickup's %s message\n" % (i, token.encode())
                            for i in range(60))
            text = b"To: alice@example.test\nSubject: fault %s\n\n" % token.encode() + body
            p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                str(build / "tern-sendmail"), "-C", str(self.tern.config_path),
                                "-t", "-i"], input=text, capture_output=True, timeout=t(30))
            assert p.returncode == 0, p.stderr
            self.sent[token] = (body.replace(b"\n", b"\r\n"), ["alice"], 250)
        return []

    def act_imap(self):
        """APPENDs over IMAP (imaplib, in the clear on loopback): OK is the
        acknowledgement, NO a refusal (the client may send it again); a
        fault must give neither a BAD nor a dropped connection, and the
        session goes on. The last APPEND, in a new session, must get OK
        unless the fault came while it was being taken."""
        import imaplib
        from imapenv import IMAP_PASSWORDS

        def session():
            # A fault while LOGIN opens the mailbox (its folders made,
            # its list read) is a NO [UNAVAILABLE]: a refusal the client
            # retries, as a 4xx; the fault is spent by then.
            for _ in range(2):
                c = imaplib.IMAP4("127.0.0.1", self.tern.imap_port, timeout=t(30))
                try:
                    c.login(ALICE, IMAP_PASSWORDS[ALICE])
                    return c
                except imaplib.IMAP4.error as e:
                    assert "[UNAVAILABLE]" in str(e), (self.fault, "LOGIN", str(e))
                    c.shutdown()
            raise AssertionError((self.fault, "LOGIN refused twice"))
        try:
            self._act_imap(session)
        except (imaplib.IMAP4.error, OSError) as e:
            raise AssertionError((self.fault, "IMAP", repr(e)))
        return []

    def _act_imap(self, session):
        c = session()
        for token in ("first", "same-session", "new-session", "last"):
            if token == "new-session":
                c.logout()
                c = session()
            if token == "last":
                mark = len(read_log(self.logfile))
            msg = message(token)
            typ, data = c.append("INBOX", None, None, msg)
            assert typ in ("OK", "NO"), (self.fault, token, data)
            self.sent[token] = (msg, ["alice"], 250 if typ == "OK" else 450)
            if token == "last" and typ != "OK":
                assert not any(f for _, _, _, f in read_log(self.logfile)[:mark]), \
                    (self.fault, "the fault was spent, yet", data)
        c.logout()

    def wait_quiet(self):
        """Until everything acknowledged is delivered, a delivery was
        deferred by the fault (the restart without the shim delivers it:
        recovery tested too, and no waiting for the retry), or a short
        while has passed."""
        deadline = time.monotonic() + t(3)
        while time.monotonic() < deadline:
            self.tern.check_alive()
            if not self.tern.queue_files("msg") and self.delivered_all():
                return
            if re.search(r"status=deferred|event=dsn-failed", self.tern.log):
                time.sleep(0.2)     # let the attempt record its outcome
                return
            time.sleep(0.05)

    def delivered_all(self):
        found = self.found()
        return all(token in found.get(box, {}) for token, (m, boxes, code) in self.sent.items()
                   if code == 250 for box in boxes)

    def found(self):
        """{box: {token: [(message bytes or DSN blob)]}}"""
        out = {}
        for box in ("alice", "bob"):
            got = out.setdefault(box, {})
            blobs = self.tern.messages(box)
            if self.scenario == "imap":     # APPENDs go to cur/
                cur = self.tern.maildir(box) / "cur"
                blobs += [p.read_bytes() for p in sorted(cur.iterdir())] if cur.is_dir() else []
            for blob in blobs:
                m = re.search(rb"^Subject: fault (\S+)\r$", blob, re.M)
                if m:
                    got.setdefault(m.group(1).decode(), []).append(blob)
        return out

    def check_final(self):
        """After a restart without the shim: everything acknowledged is
        there, complete; nothing half-made is left."""
        self.tern.settle(timeout=20)
        found = self.found()
        for token, (msg, boxes, code) in self.sent.items():
            for box in boxes:
                copies = found[box].get(token, [])
                if code != 250:
                    continue    # refused: may still arrive (a duplicate), never required
                assert copies, (self.fault, token, box, "acknowledged but not delivered",
                                self.tern.log_tail())
                for blob in copies:
                    if self.scenario == "dsn" and token == "first":
                        assert b"Content-Type: multipart/report" in blob, blob[:300]
                        assert b"550 5.1.1 no such user here" in blob, blob[:2000]
                    elif self.scenario == "pickup":
                        assert blob.endswith(b"\r\n\r\n" + msg), (self.fault, token, box)
                    elif self.scenario == "imap":
                        assert blob == msg, (self.fault, token, box)
                    else:
                        assert split_delivered(blob)[3] == msg, (self.fault, token, box)
        for box in ("alice", "bob"):
            tmp = self.tern.maildir(box) / "tmp"
            left = sorted(os.listdir(tmp)) if tmp.is_dir() else []
            assert left == [], (self.fault, box, left)
        assert self.tern.queue_files("tmp") == [], self.fault
        assert self.tern.queue_files("corrupt") == [], (self.fault, self.tern.log_tail())
        if self.scenario == "pickup":
            drop = self.tern.data_dir / "maildrop"
            assert sorted(os.listdir(drop)) == [], (self.fault, "left in the maildrop")

    def check_sync_not_retried(self):
        """No fsync/fdatasync of a file after one of it failed, unless the
        path was created again in between. Directories are not held to
        this: a directory's failed fsync fails the commits waiting on it,
        and a later commit's fsync covers its own new name (docs/testing.md)."""
        failed, files = set(), set()
        for kind, _, path, fail in read_log(self.logfile):
            if kind == "open":
                failed.discard(path)
                files.add(path)
            elif kind in SYNC_KINDS and path in files:
                assert path not in failed, (self.fault, "synced again after a failed sync", path)
                if fail:
                    failed.add(path)

    def run(self):
        try:
            self._run()
        finally:
            if self.peer is not None:
                self.peer.stop()
            if self.gen is not None:
                next(self.gen, None)    # the instance's teardown checks

    def _run(self):
        self.prepare()
        self.tern.env = self.shim_env(self.fault)
        self.outcome = {"fault": self.fault, "scenario": self.label}
        try:
            self.tern.start()
        except TernError:
            self.outcome["start"] = "refused"
            # A fault at startup may stop ternd: cleanly, not by a crash.
            assert self.tern.exits and self.tern.exits[-1][1] not in (-6, -11, 134, 139), \
                self.tern.log_tail()
            assert not self.tern.sanitizer_reports(), self.tern.log_tail()
            self.tern.exits.clear()
            self.tern.env = {}
            self.tern.start()
        self.act()
        self.wait_quiet()
        self.outcome["queued_at_stop"] = len(self.tern.queue_files("msg"))
        rc = self.tern.stop()
        if rc != 0:
            # Reported, not failed: an exit code is no durability matter.
            self.outcome["exit"] = rc
        self.check_sync_not_retried()
        # The same data_dir without the shim: recovery, then the retries.
        self.tern.env = {}
        self.tern.exits = [e for e in self.tern.exits if e[1] == 0]
        self.tern.start()
        self.check_final()
        self.tern.stop()        # not left running until the test ends
        found = self.found()
        self.outcome["codes"] = {k: c for k, (_, _, c) in self.sent.items()}
        self.outcome["copies"] = {k: [len(found[b].get(k, [])) for b in boxes]
                                  for k, (_, boxes, _) in self.sent.items()}
        report = os.environ.get("TERN_DRILL_REPORT")
        if report:
            with open(report, "a") as f:
                f.write(json.dumps(self.outcome) + "\n")

    def calls(self):
        return read_log(self.logfile)


def counted(tern_factory, tmp_path, scenario):
    d = Drill(tern_factory, tmp_path, scenario, None, "count")
    d.run()
    return d.calls(), d.tern.log


def dsn_faults(calls, log):
    """The creation and the first write of the DSN's queue file (the calls
    that lost a bounce before dsn.c gave its recipients back to pending)."""
    m = re.search(r"event=dsn dsn_id=([0-9A-F]{16})", log)
    out = []
    for kind, n, path, _ in calls:
        if m and path.endswith("/queue/tmp/" + m.group(1)) and kind in ("open", "write") \
                and kind not in [k for k, _, _ in out]:
            out.append((kind, n, "EIO" if kind == "open" else "ENOSPC"))
    assert len(out) == 2, (m and m.group(0), "the DSN's queue file not in the count log")
    return out


SAMPLE = 8       # make test: faults per scenario (besides the two below)


def faults_for(calls):
    """The faults to inject: [(kind, n, err)]. Exhaustive: every call of
    every kind with EIO, and write/sync kinds with ENOSPC (write: and a
    short write). Sampled: the first call of each kind on each message
    file (a queue or Maildir tmp/ file: where a 250 is made), the next
    two files' creation (a DSN's queue file among them), others evenly
    to SAMPLE; plus a short write and an ENOSPC fsync."""
    if EXHAUSTIVE:
        last = {}
        for kind, n, _, _ in calls:
            last[kind] = max(last.get(kind, 0), n)
        out = []
        for kind in sorted(last):
            for n in range(1, last[kind] + 1):
                out.append((kind, n, "EIO"))
                if kind in WRITE_KINDS:
                    out.append((kind, n, "ENOSPC"))
                if kind == "write":
                    # EINTR: fileio_write_all writes again; EDQUOT: as ENOSPC.
                    out += [(kind, n, "SHORT"), (kind, n, "EINTR"), (kind, n, "EDQUOT")]
                if kind in SYNC_KINDS:
                    out.append((kind, n, "EINTR"))      # a failed sync, as any other
        return out
    # One fault of each kind on a message file, the creation of each
    # queue file (the DSN's among them), then the rest evenly to SAMPLE.
    seen, cands = set(), []
    for kind, n, path, _ in calls:
        if "/tmp/" in path and kind != "close" and (kind, path) not in seen:
            seen.add((kind, path))
            cands.append((kind, n, "EIO"))
    picked = []
    for c in cands:
        if c[0] not in {p[0] for p in picked}:
            picked.append(c)
    picked += [c for c in cands if c[0] == "open" and c not in picked][:2]
    rest = [c for c in cands if c not in picked]
    room = max(0, SAMPLE - len(picked))
    if rest and room:
        step = len(rest) / room
        picked += sorted({rest[int(i * step)] for i in range(room) if int(i * step) < len(rest)},
                         key=rest.index)
    # The unlink of a folder's uidlist lock (imap): once it failed, the
    # lock looked held by another thread and wedged the folder.
    picked += [(kind, n, "EIO") for kind, n, path, _ in calls
               if kind == "unlink" and path.endswith("/dovecot-uidlist.lock")][:1]
    writes = [c for c in cands if c[0] == "write"]
    syncs = [c for c in cands if c[0] == "fsync"]
    if writes:
        picked.append((writes[-1][0], writes[-1][1], "SHORT"))
        picked.append((writes[0][0], writes[0][1], "EINTR"))
        picked.append((writes[-1][0], writes[-1][1], "EDQUOT"))
    if syncs:
        picked.append((syncs[0][0], syncs[0][1], "ENOSPC"))
        picked.append((syncs[-1][0], syncs[-1][1], "EINTR"))
    return picked


@pytest.mark.skipif(not SHIM.exists(), reason="no libfaultinj.so in the build")
@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_faults(tern_factory, tmp_path, scenario, shard):
    calls, log = counted(tern_factory, tmp_path, scenario)
    assert calls, "the shim counted nothing: is LD_PRELOAD honoured?"
    kinds = {}
    for kind, _, _, _ in calls:
        kinds[kind] = kinds.get(kind, 0) + 1
    plan = faults_for(calls)
    if scenario == "dsn":
        plan += [f for f in dsn_faults(calls, log) if f not in plan]
    plan = plan[shard::SHARDS]
    print("%s: calls %s; %d faults in this shard" % (scenario, kinds, len(plan)))
    failures = []
    for i, (kind, n, err) in enumerate(plan):
        spec = "%s:%d:%s" % (kind, n, err)
        d = Drill(tern_factory, tmp_path, scenario, spec, "f%d" % i)
        try:
            d.run()
        except AssertionError as e:
            # The walk goes on to report every failing call at once.
            failures.append("%s: %s" % (spec, str(e)[:1500]))
            if not EXHAUSTIVE:
                raise
            d.tern.kill9()
            d.tern.exits.clear()
            continue
        codes = sorted({c for _, _, c in d.sent.values()})
        print("  %s: codes %s" % (spec, codes))
    assert not failures, "\n\n".join(failures)


def test_failed_state_sync_rewrites_the_file(tern_factory, tmp_path):
    """A deferral's append to state/<id> whose fdatasync fails is not
    synced again as if it had worked: the next attempt writes the whole
    state anew (state/<id>.new, synced, renamed over), and the message is
    still delivered once the peer takes it."""
    from relayenv import Peer, free_port

    port = free_port()
    peer = Peer("127.0.0.1", port, "mx.peer.example")
    peer.data_reply = "451 4.3.0 not now"
    peer.start()
    logs = []
    try:
        def run(fault, name):
            log = tmp_path / ("%s.calls" % name)
            tn = tern_factory(start=False, name=name, retry_initial="1s", retry_max="1s",
                              route="peer.example 127.0.0.1:%d" % port,
                              relay_networks="127.0.0.0/8")
            tn.env = {"LD_PRELOAD": str(SHIM), "TERN_FAULT_DIR": str(tn.data_dir),
                      "TERN_FAULT_LOG": str(log)}
            if fault:
                tn.env["TERN_FAULT"] = fault
            if SANITIZED:
                tn.env["ASAN_OPTIONS"] = "detect_leaks=1:verify_asan_link_order=0"
            tn.start()
            c = tn.raw(timeout=t(30))
            c.ehlo()
            code, lines = transaction(c, ALICE, ["x@peer.example"], message("deferred"))
            assert code == 250, lines
            c.cmd("QUIT")
            c.close()
            return tn, log

        # Count: which fdatasync is the first state file's.
        tn, log = run(None, "count")
        tn.wait_for_log(r"status=deferred", count=2)
        tn.stop()
        syncs = [c for c in read_log(log) if c[0] == "fdatasync"]
        first = next(i for i, c in enumerate(syncs, 1) if "/queue/state/" in c[2])

        tn, log = run("fdatasync:%d:EIO" % first, "fail")
        tn.wait_for_log(r"record recipient state")
        n = tn.log_count(r"status=deferred")
        tn.wait_for_log(r"status=deferred", count=n + 1)
        peer.data_reply = None
        tn.wait_for_log(r"status=sent", timeout=t(20))
        tn.wait_for_log(r"event=removed")
        calls = read_log(log)
        failed = next(i for i, c in enumerate(calls) if c[3])
        path = calls[failed][2]
        assert "/queue/state/" in path and not path.endswith(".new")
        later = calls[failed + 1:]
        renamed = [i for i, c in enumerate(later)
                   if c[0].startswith("rename") and path + ".new" in c[2]]
        assert renamed, "the state was not written anew"
        # Until the new file is renamed over it, the path is the file whose
        # fdatasync failed; after, it is the new one (a later deferral's
        # append to it is synced as usual).
        before = later[:renamed[0]]
        assert not [c for c in before if c[0] in SYNC_KINDS and c[2] == path], \
            "the state file whose fdatasync failed was synced again"
        assert [c for c in before if c[0] == "fdatasync" and c[2] == path + ".new"]
        assert len(peer.snapshot()) == 1
    finally:
        peer.stop()
