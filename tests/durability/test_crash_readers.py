"""kill -9 of ternd while POP3 clients read, delete and quit, and SMTP
deliveries go on (test_crash.py's Load): after the restarts, every
message acknowledged with 250 is still in its Maildir (new/ or cur/) or
was deleted by a client that DELE'd it and sent QUIT; a deletion whose
QUIT was answered +OK did happen; and no UID of a mailbox ever names two
messages, nor a message two UIDs: dovecot-uidlist is read all along,
across the restarts, and the clients' UIDLs are checked against what
they retrieved before."""
import hashlib
import poplib
import random
import re
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from retrenv import body_of, mail_factory  # noqa: E402,F401
from tern_harness import split_delivered, t  # noqa: E402
from test_crash import TOKEN_RE, Load  # noqa: E402

USERS = {"alice": "alice@example.test", "bob": "bob@example.test",
         "postmaster": "postmaster@example.test"}
BROKEN = (OSError, EOFError, poplib.error_proto)


def token_and_sha(blob):
    """The crash-test token of a retrieved message and the SHA-256 of the
    octets sent over SMTP (after tern's trace fields)."""
    _, _, _, msg = split_delivered(blob)
    m = TOKEN_RE.search(msg)
    assert m, blob[:300]
    return m.group(1).decode(), hashlib.sha256(msg).hexdigest()


def damage(sent, got):
    """Where a retrieved message differs from the one sent, in words."""
    at = next((i for i, (a, b) in enumerate(zip(sent, got)) if a != b), min(len(sent), len(got)))
    return "sent %d octets, got %d, first difference at %d: sent %r, got %r" % (
        len(sent), len(got), at, sent[max(0, at - 40):at + 40], got[max(0, at - 40):at + 40])


def on_disk(mt, box, token, sha):
    """The files of box that hold token, each with its size and whether
    its message is the one sent: tells damage in the store from damage on
    the way out."""
    out = []
    md = mt.maildir(box)
    for d in ("new", "cur"):
        for p in (md / d).iterdir():
            try:
                blob = p.read_bytes()
                got, got_sha = token_and_sha(blob)
            except (OSError, AssertionError):
                continue          # deleted meanwhile, or not a test message
            if got == token:
                out.append("%s/%s %d octets %s" % (d, p.name, len(blob),
                                                  "intact" if got_sha == sha else "DAMAGED"))
    return ", ".join(out) or "none"


class Reader(threading.Thread):
    """A UIDL-tracking POP3 client that carries on through ternd's deaths:
    each session lists, RETRs up to 25 it has not seen (checking each
    whole), re-reads a few old ones with TOP, DELEs some of what it knows
    and QUITs: many short sessions, many UPDATEs for the kills to cut."""

    PER_SESSION = 25

    def __init__(self, mt, box, load, seed):
        super().__init__(daemon=True)
        self.mt, self.box, self.user, self.load = mt, box, USERS[box], load
        self.rnd = random.Random(seed)
        self.seen = {}            # UIDL -> token
        self.confirmed = {}       # UIDL -> token, deleted by a QUIT answered +OK
        self.maybe = {}           # UIDL -> token, DELE'd and QUIT sent, no answer
        self.problems = []
        self.sessions = self.broken = 0
        self.stop = threading.Event()

    def check(self, uidl, token):
        if self.seen.setdefault(uidl, token) != token:
            self.problems.append("UIDL %s named %s, now %s" % (uidl, self.seen[uidl], token))

    def session(self):
        p = self.mt.pop3s(self.user, timeout=5) if self.rnd.random() < 0.5 else \
            self.mt.pop3(self.user, timeout=5)
        quit_sent = False
        dele = {}
        fresh = 0
        try:
            listing = [l.split() for l in p.uidl()[1]]
            for n, u in ((int(a), b.decode()) for a, b in listing):
                if u in self.confirmed:
                    self.problems.append("UIDL %s listed after its QUIT's +OK" % u)
                if u not in self.seen:
                    fresh += 1
                    if fresh > self.PER_SESSION:
                        continue
                    blob = body_of(p.retr(n)[1])
                    token, sha = token_and_sha(blob)
                    if self.load.attempted[token][0] != sha:
                        self.problems.append("%s retrieved damaged: %s; %s; on disk: %s" % (
                            token, damage(self.load.sent[token], split_delivered(blob)[3]),
                            "acknowledged" if token in self.load.acked else "not acknowledged",
                            on_disk(self.mt, self.box, token, self.load.attempted[token][0])))
                    self.check(u, token)
                elif self.rnd.random() < 0.2:
                    lines = p.top(n, 0)[1]
                    self.check(u, TOKEN_RE.search(body_of(lines)).group(1).decode())
                if self.rnd.random() < 0.3:
                    p.dele(n)
                    dele[u] = self.seen[u]
            quit_sent = True
            if p.quit().startswith(b"+OK"):
                self.confirmed.update(dele)
                self.sessions += 1
                return
        except BROKEN:
            self.broken += 1
            if quit_sent:
                self.maybe.update(dele)
        finally:
            p.close()

    def run(self):
        while not self.stop.is_set():
            try:
                self.session()
            except BROKEN:        # no connection, no login: ternd is down
                self.broken += 1
                time.sleep(0.05)
            except Exception as e:
                self.problems.append("reader died: %r" % e)
                return
            time.sleep(self.rnd.uniform(0, 0.03))


class UidlistWatch(threading.Thread):
    """Reads every user's dovecot-uidlist all the time (each read sees one
    whole version: the store replaces it with a rename) and remembers
    every uid -> base and base -> uid it has seen."""

    def __init__(self, mt):
        super().__init__(daemon=True)
        self.mt = mt
        self.uid_base = {b: {} for b in USERS}
        self.base_uid = {b: {} for b in USERS}
        self.validity = {b: set() for b in USERS}
        self.problems = []
        self.reads = 0
        self.stop = threading.Event()

    def look(self):
        for box in USERS:
            try:
                text = (self.mt.maildir(box) / "dovecot-uidlist").read_text()
            except FileNotFoundError:
                continue
            head, *recs = text.splitlines()
            self.validity[box].add(re.match(r"3 V(\d+) ", head).group(1))
            for r in recs:
                uid, _, name = r.partition(" :")
                uid, base = int(uid.split()[0]), name.split(":")[0]
                if self.uid_base[box].setdefault(uid, base) != base:
                    self.problems.append("%s: UID %d named %s, then %s" % (
                        box, uid, self.uid_base[box][uid], base))
                if self.base_uid[box].setdefault(base, uid) != uid:
                    self.problems.append("%s: %s had UID %d, then %d" % (
                        box, base, self.base_uid[box][base], uid))
            self.reads += 1

    def run(self):
        while not self.stop.is_set():
            self.look()
            time.sleep(0.01)


def maildir_tokens(mt, box):
    """{token: copies} of the messages in box's new/ and cur/."""
    out = {}
    md = mt.maildir(box)
    for d in ("new", "cur"):
        for p in (md / d).iterdir():
            token, _ = token_and_sha(p.read_bytes())
            out[token] = out.get(token, 0) + 1
    return out


def test_kill9_while_pop3_clients_read_and_delete(mail_factory):
    mt = mail_factory(io_threads=4)
    rnd = random.Random()
    load = Load(mt, nthreads=2)
    print("seed %d" % load.seed)
    readers = [Reader(mt, box, load, load.seed + i) for i, box in enumerate(USERS)]
    watch = UidlistWatch(mt)
    load.start()
    for th in readers + [watch]:
        th.start()
    kills = 4
    try:
        for i in range(kills):
            time.sleep(rnd.uniform(1.0, 2.5))
            mt.kill9()
            watch.look()          # what the dead one left
            time.sleep(rnd.uniform(0.0, 0.2))
            mt.start(timeout=30)
        time.sleep(1.0)
    finally:
        load.finish()
    mt.settle(timeout=60)
    # A last session of every reader, with no more deaths: all it has not
    # seen is read now, and deletions it had sent are over.
    for r in readers:
        r.stop.set()
    for r in readers:
        r.join(timeout=t(30))
        assert not r.is_alive()
        r.session()
    watch.stop.set()
    watch.join(timeout=t(10))
    watch.look()

    assert len(load.acked) > 50, "too little load to mean anything: %d" % len(load.acked)
    assert mt.log_count(r"event=started") == kills + 1
    problems = watch.problems[:]
    lost = []
    for r in readers:
        problems += ["%s: %s" % (r.box, p) for p in r.problems]
        have = maildir_tokens(mt, r.box)
        deleted = set(r.confirmed.values()) | set(r.maybe.values())
        for token, (sha, boxes) in load.attempted.items():
            if token in load.acked and r.box in boxes:
                if token not in have and token not in deleted:
                    lost.append((r.box, token, load.acked[token]))
        # What the client deleted and saw answered is gone for good.
        left = set(r.mt.uidls(r.user).values())
        problems += ["%s: %s back after its deletion" % (r.box, u)
                     for u in set(r.confirmed) & left]
        assert len(watch.validity[r.box]) == 1, watch.validity[r.box]
        print("%s: %d sessions, %d broken, %d seen, %d deleted (+%d maybe), %d left"
              % (r.box, r.sessions, r.broken, len(r.seen), len(r.confirmed), len(r.maybe),
                 len(left)))
    print("acknowledged %d of %d, uidlist read %d times"
          % (len(load.acked), len(load.attempted), watch.reads))
    assert not problems, problems[:20]
    assert not lost, "acknowledged and never deleted, but gone: %r" % lost[:20]
    assert all(r.sessions > 3 for r in readers), [(r.box, r.sessions) for r in readers]
