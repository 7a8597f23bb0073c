"""The soak: one ternd under a steady mixed load, sampled as it runs, then
drained and audited (issue 15, part 3).

run_soak(workdir, seconds, ...) starts
- a ternd (imapenv.ImapTern: smtp, submission, pop3, imap listeners) with
  users that have passwords, two aliases, small retry timers and a
  `route` for each of two remote domains;
- two aiosmtpd peers (relayenv.Peer) for those domains that answer each
  RCPT 250, 451 or 550 at random while the load runs, and 250 once it
  stops (so the queue drains);
- load threads, each on a fixed schedule (a late one skips ahead rather
  than bursting): inbound SMTP to local users and aliases, submission
  (STARTTLS + AUTH PLAIN, a connection kept for a few messages) to local
  and remote recipients, a POP3 reader (RETR + DELE) for bob and an IMAP
  reader (UID FETCH, UID STORE \\Deleted, EXPUNGE) for alice;
- a sampler: RSS and open fds of ternd and its keeper, and the queue
  size from `ternctl status`, every `sample_every` seconds, appended to
  samples.csv as it goes.

Every message carries a token (Message-ID <soak-N@soak.test>). A ledger
holds what each accepted (250 after DATA) message must become: a copy per
local mailbox (read by a client, or left in the Maildir), and per remote
recipient either a copy at the peer or a failed DSN to the sender. The
audit after the drain lists what is missing. Nothing here asserts: the
caller (test_soak.py) judges the Report.
"""
import csv
import email
import imaplib
import os
import poplib
import random
import re
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from imapenv import ImapTern  # noqa: E402
from subenv import PASSWORDS, SUB_USERS, no_verify_ctx  # noqa: E402
from tern_harness import TERNCTL, t  # noqa: E402
import relayenv  # noqa: E402

DOMAIN = "example.test"
ALICE, BOB = "alice@example.test", "bob@example.test"
CAROL, PM = "carol@example.test", "postmaster@example.test"
CAROL_PW = "carol-soak-pw"
USERS = SUB_USERS + ["%s:{PLAIN}%s" % (CAROL, CAROL_PW)]
ALIASES = "team: alice, bob\ninfo: carol\n"
# Where an inbound address ends up.
LOCAL_TARGETS = {
    ALICE: {ALICE}, BOB: {BOB}, CAROL: {CAROL}, PM: {PM},
    "team@example.test": {ALICE, BOB}, "info@example.test": {CAROL},
}
REMOTE = ("peer1.example", "peer2.example")
TOKEN = re.compile(rb"<(soak-\d+)@soak\.test>")


class RandomPeer(relayenv.Peer):
    """A relayenv.Peer whose RCPT replies are drawn at random (per
    recipient) while .chaos is set: 2xx, 4xx (retried by ternd) or 5xx
    (a DSN to the sender)."""

    def __init__(self, *a, odds=(0.7, 0.15, 0.15), seed=0, **kw):
        super().__init__(*a, **kw)
        self.chaos = True
        self.odds = odds
        self.rng = random.Random(seed)
        self.replied = {"2xx": 0, "4xx": 0, "5xx": 0}

    def start(self):
        super().start()
        handler = self.controller.handler
        orig = handler.handle_RCPT
        peer = self

        async def handle_RCPT(server, session, envelope, address, rcpt_options):
            with peer.lock:
                kind = "2xx"
                if peer.chaos:
                    x = peer.rng.random()
                    if x >= peer.odds[0]:
                        kind = "4xx" if x < peer.odds[0] + peer.odds[1] else "5xx"
                peer.replied[kind] += 1
            if kind == "4xx":
                return "451 4.3.0 soak: try again later"
            if kind == "5xx":
                return "550 5.1.1 soak: no such user"
            return await orig(server, session, envelope, address, rcpt_options)
        handler.handle_RCPT = handle_RCPT
        return self


class Ledger:
    """What was accepted and what was seen, by token, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.n = 0
        self.expect = {}        # token -> (sender, [recipients as sent])
        self.seen = {}          # token -> {local mailbox | remote rcpt | "dsn:"+rcpt: count}
        self.sent = {}          # kind -> accepted messages
        self.refused = {}       # kind -> transactions that failed (not accepted)
        self.read = {"pop3": 0, "imap": 0}

    def new_token(self):
        with self.lock:
            self.n += 1
            return "soak-%d" % self.n

    def accepted(self, kind, token, sender, rcpts):
        with self.lock:
            self.expect[token] = (sender, list(rcpts))
            self.sent[kind] = self.sent.get(kind, 0) + 1

    def failed(self, kind, why):
        with self.lock:
            self.refused.setdefault(kind, []).append(why)

    def saw(self, token, where):
        with self.lock:
            d = self.seen.setdefault(token, {})
            d[where] = d.get(where, 0) + 1


def message(token, sender, to, size):
    body = "".join("line %d of %s, some text to make it a little longer\r\n" % (i, token)
                   for i in range(max(1, size // 60)))
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: soak %s\r\nMessage-ID: <%s@soak.test>\r\n"
            "Date: Wed, 02 Dec 2026 08:00:00 +0000\r\n\r\n%s" % (sender, to, token, token, body)).encode()


def classify(blob, mailbox, ledger):
    """Records one message read from mailbox (by a client or on disk): an
    ordinary message by its token, a failed DSN by the token of the
    message it returns, for each failed recipient it names."""
    m = email.message_from_bytes(blob)
    if m.get_content_type() == "multipart/report":
        parts = m.get_payload()
        status = parts[1].get_payload() if len(parts) > 1 else []
        toks = TOKEN.findall(parts[2].as_bytes()) if len(parts) > 2 else []
        for blk in status[1:] if isinstance(status, list) else []:
            if (blk.get("Action") or "").strip().lower() != "failed":
                continue
            rcpt = (blk.get("Final-Recipient") or "").split(";", 1)[-1].strip().lower()
            for tok in toks[:1]:
                ledger.saw(tok.decode(), "dsn:" + rcpt)
        return
    tok = TOKEN.search(m.get("Message-ID", "").encode())
    if tok:
        ledger.saw(tok.group(1).decode(), mailbox)


class Soak:
    def __init__(self, workdir, seconds, rate=6.0, sample_every=2.0, seed=1):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.seconds = seconds
        self.rate = rate
        self.sample_every = sample_every
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.stop_load = threading.Event()
        self.stop_sampling = threading.Event()
        self.samples = []
        self.errors = []       # unexpected exceptions in the load threads
        self.csv_path = self.dir / "samples.csv"
        self.port = relayenv.free_port()
        self.peers = [RandomPeer("127.0.0.%d" % (i + 2), self.port, "mx.%s" % d, seed=seed + i)
                      for i, d in enumerate(REMOTE)]
        self.tern = ImapTern(self.dir / "ternd", users=USERS, aliases=ALIASES, extra=[
            "route %s 127.0.0.%d:%d" % (d, i + 2, self.port) for i, d in enumerate(REMOTE)],
            settings={"retry_initial": "1s", "retry_max": "3s", "queue_lifetime": "1h",
                      "smtp_connect_timeout": "5s", "smtp_idle_timeout": "5s"})

    # ------------------------------------------------------------ load --
    def every(self, period, fn):
        """Calls fn on a fixed schedule until the load stops; a call that
        ran late moves the schedule on instead of catching up."""
        nxt = time.monotonic()
        while not self.stop_load.is_set():
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - recorded, judged by the caller
                self.errors.append("%s: %r" % (fn.__name__, e))
            nxt += period
            now = time.monotonic()
            if nxt < now:
                nxt = now
            self.stop_load.wait(nxt - now)

    def inbound(self):
        rcpt = self.rng.choice(sorted(LOCAL_TARGETS))
        tok = self.ledger.new_token()
        sender = "sender%d@example.net" % self.rng.randrange(50)
        try:
            with smtplib.SMTP("127.0.0.1", self.tern.port, local_hostname="client.example.net",
                              timeout=t(30)) as s:
                s.sendmail(sender, [rcpt], message(tok, sender, rcpt, self.rng.randrange(200, 6000)))
        except (smtplib.SMTPException, OSError) as e:
            self.ledger.failed("inbound", repr(e))
            return
        self.ledger.accepted("inbound", tok, sender, [rcpt])

    def submission_session(self):
        """One authenticated session of a few messages (alice or bob),
        each to a local user or to a remote one."""
        user = self.rng.choice([ALICE, BOB])
        n = self.rng.randrange(1, 6)
        try:
            s = smtplib.SMTP("127.0.0.1", self.tern.sub_port, local_hostname="client.example.net",
                             timeout=t(30))
        except OSError as e:
            self.ledger.failed("submission", repr(e))
            return
        try:
            s.starttls(context=no_verify_ctx())
            s.ehlo()
            s.login(user, PASSWORDS[user])
            for i in range(n):
                if i:
                    # the session's messages keep the overall rate
                    if self.stop_load.wait(1.0 / self.sub_rate):
                        break
                if self.rng.random() < 0.25:
                    rcpt = self.rng.choice([ALICE, BOB, CAROL, "team@example.test"])
                else:
                    rcpt = "u%d@%s" % (self.rng.randrange(1000), self.rng.choice(REMOTE))
                tok = self.ledger.new_token()
                try:
                    s.sendmail(user, [rcpt], message(tok, user, rcpt, self.rng.randrange(200, 4000)))
                except smtplib.SMTPException as e:
                    self.ledger.failed("submission", repr(e))
                    continue
                self.ledger.accepted("submission", tok, user, [rcpt])
            s.quit()
        except (smtplib.SMTPException, OSError) as e:
            self.ledger.failed("submission", repr(e))
            s.close()

    def pop3_read(self):
        """bob's maildrop: RETR and DELE everything, QUIT commits."""
        p = poplib.POP3("127.0.0.1", self.tern.pop3_port, timeout=t(30))
        try:
            p.stls(context=no_verify_ctx())
            p.user(BOB)
            p.pass_(PASSWORDS[BOB])
            got = []
            for entry in p.list()[1]:
                num = int(entry.split()[0])
                got.append(b"\r\n".join(p.retr(num)[1]) + b"\r\n")
                p.dele(num)
            p.quit()
        except BaseException:
            p.close()
            raise
        # Only once QUIT made the deletions real is the mail counted read.
        for blob in got:
            classify(blob, BOB, self.ledger)
        self.ledger.read["pop3"] += len(got)

    def imap_read(self):
        """alice's INBOX: UID FETCH what is there, mark exactly those
        \\Deleted, EXPUNGE."""
        c = imaplib.IMAP4("127.0.0.1", self.tern.imap_port, timeout=t(30))
        try:
            c.starttls(ssl_context=no_verify_ctx())
            c.login(ALICE, PASSWORDS[ALICE])
            c.select("INBOX")
            typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[])")
            assert typ == "OK", data
            got = {}
            for item in data:
                if isinstance(item, tuple):
                    m = re.search(rb"UID (\d+)", item[0])
                    got[m.group(1).decode()] = item[1]
            if got:
                typ, data = c.uid("STORE", ",".join(sorted(got, key=int)), "+FLAGS.SILENT",
                                  "(\\Deleted)")
                assert typ == "OK", data
                typ, data = c.expunge()
                assert typ == "OK", data
            c.logout()
        except BaseException:
            try:
                c.shutdown()
            except OSError:
                pass
            raise
        for blob in got.values():
            classify(blob, ALICE, self.ledger)
        self.ledger.read["imap"] += len(got)

    # --------------------------------------------------------- sampling --
    def procs(self):
        """ternd and its children (the keeper)."""
        pids = [self.tern.pid]
        try:
            for task in os.listdir("/proc/%d/task" % self.tern.pid):
                with open("/proc/%d/task/%s/children" % (self.tern.pid, task)) as f:
                    pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return pids

    def sample(self, t0):
        rss = fds = 0
        for pid in self.procs():
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss += int(line.split()[1])
                fds += len(os.listdir("/proc/%d/fd" % pid))
            except OSError:
                pass
        queue = -1
        p = subprocess.run([str(TERNCTL), "-c", str(self.tern.config_path), "status"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(30))
        out = p.stdout.decode()
        m = re.search(r"^queue-messages\s+(\d+)", out, re.M)
        if m:
            queue = int(m.group(1))
        # The network process's allocator: in use vs held free (ternctl
        # status), to tell a growing heap from fragmentation.
        heap = [re.search(r"^%s\s+(\d+)" % k, out, re.M) for k in ("heap-in-use", "heap-free")]
        heap = [int(h.group(1)) // 1024 if h else -1 for h in heap]
        with self.ledger.lock:
            accepted = sum(self.ledger.sent.values())
        row = {"t": round(time.monotonic() - t0, 1), "rss_kb": rss, "fds": fds, "queue": queue,
               "heap_kb": heap[0], "heap_free_kb": heap[1], "accepted": accepted, "phase": "load" if not self.stop_load.is_set() else "drain"}
        self.samples.append(row)
        # written as it goes, so that a run cut short still has its curve
        new = not self.csv_path.exists()
        with open(self.csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        return row

    def sampler(self, t0):
        while not self.stop_sampling.is_set():
            try:
                self.sample(t0)
            except Exception as e:  # noqa: BLE001
                self.errors.append("sampler: %r" % e)
            self.stop_sampling.wait(self.sample_every)

    # ------------------------------------------------------------- run --
    def run(self):
        for p in self.peers:
            p.start()
        self.tern.start()
        t0 = time.monotonic()
        # inbound gets half the rate, submission a third, in messages/s.
        in_rate, self.sub_rate = self.rate / 2, self.rate / 3
        threads = [
            threading.Thread(target=self.sampler, args=(t0,), daemon=True),
            threading.Thread(target=self.every, args=(1.0 / in_rate, self.inbound), daemon=True),
            # a session sends ~3 messages on average, spaced 1/sub_rate apart
            threading.Thread(target=self.every, args=(3.0 / self.sub_rate, self.submission_session),
                             daemon=True),
            threading.Thread(target=self.every, args=(2.0, self.pop3_read), daemon=True),
            threading.Thread(target=self.every, args=(2.5, self.imap_read), daemon=True),
        ]
        for th in threads:
            th.start()
        self.stop_load.wait(self.seconds)
        self.stop_load.set()
        for th in threads[1:]:
            th.join(t(60))
        self.load_seconds = time.monotonic() - t0
        # Drain: the peers take everything now; ternd retries the 4xx ones.
        for p in self.peers:
            with p.lock:
                p.chaos = False
        deadline = time.monotonic() + t(60)
        while time.monotonic() < deadline:
            self.tern.check_alive()
            if not self.tern.queue_files("msg") and not self.tern.queue_files("tmp"):
                break
            time.sleep(0.2)
        self.drained = not self.tern.queue_files("msg")
        self.drain_seconds = time.monotonic() - t0 - self.load_seconds
        self.sample(t0)
        self.stop_sampling.set()
        threads[0].join(t(30))
        # Last reads (the DSNs and messages of the drain), then what is left.
        for fn in (self.pop3_read, self.imap_read):
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                self.errors.append("%s (final): %r" % (fn.__name__, e))
        self.scan_maildirs()
        for p in self.peers:
            for r in p.snapshot():
                tok = TOKEN.search((r.msgid or "").encode())
                if tok:
                    for rcpt in r.rcpt_tos:
                        self.ledger.saw(tok.group(1).decode(), rcpt.lower())
        return Report(self)

    def scan_maildirs(self):
        root = self.tern.data_dir / "mail" / DOMAIN
        for user in (ALICE, BOB, CAROL, PM):
            box = root / user.split("@")[0]
            for sub in ("new", "cur"):
                d = box / sub
                for f in (sorted(d.iterdir()) if d.is_dir() else []):
                    classify(f.read_bytes(), user, self.ledger)

    def close(self):
        """Stops everything; returns the harness's teardown problems."""
        problems = []
        try:
            self.tern.close()
        except AssertionError as e:
            problems.append(str(e))
        for p in self.peers:
            p.stop()
        return problems


def slope(points):
    """Least-squares slope of [(x, y)]."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


class Report:
    """The audit and the curves' figures."""

    def __init__(self, soak):
        L = soak.ledger
        self.csv_path = soak.csv_path
        self.load_seconds = soak.load_seconds
        self.drain_seconds = soak.drain_seconds
        self.drained = soak.drained
        self.errors = list(soak.errors)
        self.sent = dict(L.sent)
        self.refused = {k: len(v) for k, v in L.refused.items()}
        self.refused_examples = {k: v[:3] for k, v in L.refused.items()}
        self.read = dict(L.read)
        self.peer_replies = [dict(p.replied) for p in soak.peers]
        self.lost = []
        self.outcomes = {"local": 0, "peer": 0, "dsn": 0}
        self.duplicates = 0
        for tok, (sender, rcpts) in sorted(L.expect.items()):
            seen = L.seen.get(tok, {})
            self.duplicates += sum(c - 1 for c in seen.values() if c > 1)
            for rcpt in rcpts:
                r = rcpt.lower()
                if r.split("@")[1] == DOMAIN:
                    for box in LOCAL_TARGETS[r]:
                        if box in seen:
                            self.outcomes["local"] += 1
                        else:
                            self.lost.append((tok, rcpt, box))
                elif r in seen:
                    self.outcomes["peer"] += 1
                elif "dsn:" + r in seen:
                    self.outcomes["dsn"] += 1
                else:
                    self.lost.append((tok, rcpt, None))
        load = [s for s in soak.samples if s["phase"] == "load"]
        # warm-up: the first fifth of the load (or 10 s) is left out
        warm = [s for s in load if s["t"] >= max(10.0, 0.2 * soak.load_seconds)]
        self.samples = load
        self.curves = {}
        for key in ("rss_kb", "fds", "queue", "heap_kb", "heap_free_kb"):
            vals = [(s["t"], s[key]) for s in warm]
            third = max(1, len(vals) // 3)
            half = vals[len(vals) // 2:]
            self.curves[key] = {
                "start": load[0][key] if load else None,
                "middle": load[len(load) // 2][key] if load else None,
                "end": load[-1][key] if load else None,
                "first_third_max": max((v for _, v in vals[:third]), default=0),
                "last_third_max": max((v for _, v in vals[-third:]), default=0),
                "slope_per_min": slope(half) * 60.0,
            }
        self.final = soak.samples[-1] if soak.samples else {}

    def summary(self):
        lines = ["load %.0fs, drain %.1fs (%s)" % (self.load_seconds, self.drain_seconds,
                                                   "drained" if self.drained else "NOT drained"),
                 "accepted: %s; refused/failed transactions: %s" % (self.sent, self.refused),
                 "read and deleted: %s; peer RCPT replies: %s" % (self.read, self.peer_replies),
                 "outcomes: %s; duplicates: %d; lost: %d" % (self.outcomes, self.duplicates,
                                                            len(self.lost))]
        for key, c in self.curves.items():
            lines.append("%s: start %s middle %s end %s; first-third max %s, last-third max %s; "
                         "slope over the second half %.1f/min"
                         % (key, c["start"], c["middle"], c["end"], c["first_third_max"],
                            c["last_third_max"], c["slope_per_min"]))
        lines.append("after the drain: %s" % self.final)
        if self.errors:
            lines.append("load errors (%d): %s" % (len(self.errors), self.errors[:5]))
        return "\n".join(lines)


def run_soak(workdir, seconds, rate=6.0, sample_every=2.0, seed=1):
    """Runs one soak; returns (Report, teardown problems)."""
    s = Soak(workdir, seconds, rate=rate, sample_every=sample_every, seed=seed)
    try:
        report = s.run()
    finally:
        problems = s.close()
    return report, problems
