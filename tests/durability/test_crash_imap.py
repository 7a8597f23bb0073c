"""kill -9 of the IMAP server while clients APPEND, MOVE and EXPUNGE
(tern's ternd, or every process of Dovecot with TERN_IMAP_PEER=dovecot),
four times, the server restarted each time. Afterwards:

- nothing lost: every message whose APPEND was answered OK is in INBOX or
  Archive, whole (its octets' SHA-256), unless a client expunged it (or
  sent the expunge and lost the answer);
- nothing duplicated visibly: no message is in the mailboxes twice (with
  Dovecot, but for a MOVE the crash cut: copy done, expunge not; tern's
  MOVE is one rename); a MOVE answered OK leaves it in Archive alone;
- an expunge answered OK is never undone;
- no UID names two messages, nor a message two UIDs, in any session
  across the restarts (UIDVALIDITY kept)."""
import hashlib
import random
import re
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from imapenv import (ALICE, BOB, ImapError, append, imap_factory, message,  # noqa: E402,F401
                     session, status_codes)
from tern_harness import t  # noqa: E402

BROKEN = (OSError, EOFError, ImapError, ssl.SSLError, socket.timeout, IndexError, KeyError,
          ValueError)
TOKEN = re.compile(rb"X-Token: (\S+)")


def sha(b):
    return hashlib.sha256(b).hexdigest()


class Client(threading.Thread):
    """One user's client: sessions that APPEND a few messages (each with
    its token), MOVE one to Archive by UID, expunge one by UID EXPUNGE,
    and check every UID it sees against what it saw before."""

    def __init__(self, peer, user, seed, name):
        super().__init__(daemon=True)
        self.peer, self.user, self.name = peer, user, name
        self.rnd = random.Random(seed)
        self.n = 0
        self.sent = {}           # token -> sha of the octets APPENDed
        self.acked = set()       # tokens whose APPEND got OK
        self.moved = set()       # tokens whose MOVE got OK
        self.moving = set()      # MOVE sent, no answer
        self.gone = set()        # tokens whose UID EXPUNGE got OK
        self.maybe_gone = set()  # UID EXPUNGE sent, no answer
        self.uids = {"INBOX": {}, "Archive": {}}    # folder -> uid -> token
        self.validity = {}
        self.problems = []
        self.sessions = self.broken = 0
        self.stop = threading.Event()

    def see(self, c, box):
        """Reads box's UIDs and tokens and checks them against before."""
        r = c.ok("EXAMINE %s" % box)
        val = status_codes(r).get("UIDVALIDITY")
        if self.validity.setdefault(box, val) != val:
            self.problems.append("%s: UIDVALIDITY %s, then %s" % (box, self.validity[box], val))
        r = c.ok("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (X-Token)])")
        seen = {}
        for f in r.fetches().values():
            m = TOKEN.search([v for k, v in f.items() if k.upper().startswith("BODY[")][0])
            token = m.group(1).decode() if m else "?"
            uid = int(f["UID"])
            seen[uid] = token
            was = self.uids[box].setdefault(uid, token)
            if was != token:
                self.problems.append("%s UID %d named %s, then %s" % (box, uid, was, token))
        tokens = list(seen.values())
        for tk in set(tokens):
            if tokens.count(tk) > 1:
                self.problems.append("%s holds %s %d times" % (box, tk, tokens.count(tk)))
        return seen

    def session(self):
        c = session(self.peer, user=self.user, timeout=5)
        try:
            self.see(c, "Archive")
            inbox = self.see(c, "INBOX")
            c.ok("SELECT INBOX")
            for _ in range(self.rnd.randrange(1, 4)):
                self.n += 1
                token = "%s-%d" % (self.name, self.n)
                body = message("crash %s" % token, ("%s\r\n" % token) * self.rnd.randrange(1, 2000),
                               headers=["X-Token: %s" % token])
                self.sent[token] = sha(body)
                r = append(c, "INBOX", body)
                if r.status == "OK":
                    self.acked.add(token)
            # Only its own messages: two clients of one user must not move
            # and expunge the same one (an expunge of a UID already moved
            # away is OK too, and would count as an expunge here).
            live = [(u, tk) for u, tk in inbox.items() if tk in self.sent
                    and tk not in self.gone | self.maybe_gone | self.moving | self.moved]
            if live and self.rnd.random() < 0.7:
                uid, tk = self.rnd.choice(live)
                self.moving.add(tk)
                r = c.command("UID MOVE %d Archive" % uid)
                self.moving.discard(tk)
                if r.status == "OK":
                    self.moved.add(tk)
                live.remove((uid, tk))
            if live and self.rnd.random() < 0.5:
                uid, tk = self.rnd.choice(live)
                c.ok("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid)
                self.maybe_gone.add(tk)
                if c.command("UID EXPUNGE %d" % uid).status == "OK":
                    self.gone.add(tk)
                    self.maybe_gone.discard(tk)
            c.command("LOGOUT")
            self.sessions += 1
        finally:
            c.close()

    def run(self):
        while not self.stop.is_set():
            try:
                self.session()
            except BROKEN:
                self.broken += 1
                time.sleep(0.05)
            except Exception as e:
                self.problems.append("client died: %r" % e)
                return
            time.sleep(self.rnd.uniform(0, 0.02))


def final_view(peer, user):
    """{folder: {token: [sha of each copy]}} after the run. Generous
    timeouts: a lock the kill left behind may be waited for until it is
    stale (Dovecot's dotlocks: up to two minutes)."""
    c = session(peer, user=user, timeout=150)
    out = {}
    for box in ("INBOX", "Archive"):
        c.ok("EXAMINE %s" % box, timeout=t(150))
        r = c.ok("UID FETCH 1:* (BODY.PEEK[])", timeout=t(60))
        d = {}
        for f in r.fetches().values():
            blob = f["BODY[]"]
            m = TOKEN.search(blob)
            assert m, blob[:300]
            # The octets APPENDed are the whole message.
            d.setdefault(m.group(1).decode(), []).append(sha(blob))
        out[box] = d
    c.logout()
    return out


def test_kill9_during_append_move_expunge(imap_factory):
    # A killed Dovecot's surviving processes log errors (its anvil is gone).
    peer = imap_factory(tern={"io_threads": 4}, allow_errors=True)
    rnd = random.Random()
    seed = rnd.randrange(1 << 30)
    print("seed %d" % seed)
    clients = [Client(peer, user, seed + i, "c%d" % i)
               for i, user in enumerate((ALICE, BOB, ALICE))]
    # Archive exists (a special-use folder) once each user has logged in.
    for user in (ALICE, BOB):
        session(peer, user=user).logout()
    for cl in clients:
        cl.start()
    kills = 4
    for _ in range(kills):
        time.sleep(rnd.uniform(1.0, 2.5))
        peer.crash_restart()
    time.sleep(1.0)
    for cl in clients:
        cl.stop.set()
    for cl in clients:
        cl.join(timeout=t(30))
        assert not cl.is_alive()

    problems, lost = [], []
    for user in (ALICE, BOB):
        mine = [cl for cl in clients if cl.user == user]
        view = final_view(peer, user)
        for cl in mine:
            problems += ["%s: %s" % (user, p) for p in cl.problems]
            cl.see(session(peer, user=user), "INBOX")
        sent = {tk: s for cl in mine for tk, s in cl.sent.items()}
        acked = set().union(*(cl.acked for cl in mine))
        gone = set().union(*(cl.gone for cl in mine))
        maybe = set().union(*(cl.maybe_gone for cl in mine))
        moved = set().union(*(cl.moved for cl in mine))
        for box, d in view.items():
            for tk, shas in d.items():
                if any(s != sent.get(tk) for s in shas):
                    problems.append("%s %s: %s damaged" % (user, box, tk))
                if tk in gone:
                    problems.append("%s %s: %s is back after its UID EXPUNGE's OK" % (user, box, tk))
                if len(shas) > 1:
                    problems.append("%s %s: %s %d times" % (user, box, tk, len(shas)))
        for tk in moved:
            if tk in view["INBOX"]:
                problems.append("%s: %s still in INBOX after its MOVE's OK" % (user, tk))
            if tk not in view["Archive"] and tk not in gone | maybe:
                problems.append("%s: %s moved, not in Archive" % (user, tk))
        for tk in acked - gone - maybe:
            if tk not in view["INBOX"] and tk not in view["Archive"]:
                lost.append((user, tk))
        both = set(view["INBOX"]) & set(view["Archive"])
        cut = both - moved
        # A MOVE cut by the kill may leave a copy on each side in Dovecot
        # (a copy, then an expunge); tern moves by one rename, so never.
        problems += ["%s: %s in INBOX and Archive" % (user, tk) for tk in both & moved]
        if peer.peer == "tern":
            problems += ["%s: %s in INBOX and Archive after a cut MOVE" % (user, tk)
                         for tk in cut]
        print("%s: %d APPENDs sent, %d answered OK, %d moved (%d in both after a cut MOVE), "
              "%d expunged (+%d maybe), INBOX %d, Archive %d" % (
                  user, len(sent), len(acked), len(moved), len(cut), len(gone), len(maybe),
                  len(view["INBOX"]), len(view["Archive"])))
    for cl in clients:
        print("%s: %d sessions, %d broken" % (cl.user, cl.sessions, cl.broken))
    assert not problems, problems[:20]
    assert not lost, "answered OK and never expunged, but gone: %r" % lost[:20]
    assert sum(len(cl.acked) for cl in clients) > 30, "too little load to mean anything"
    assert all(cl.sessions > 3 for cl in clients), [cl.sessions for cl in clients]
