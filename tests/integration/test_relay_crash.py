"""Crashes and stops while outbound deliveries are in flight: every message
ternd acknowledged reaches the peer at least once (duplicates allowed and
counted), and SIGTERM mid-delivery is a clean exit."""

import collections
import os
import smtplib
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402

from relayenv import SANITIZED, SLOW, make_msg, relay, wait_until  # noqa: E402,F401

ALICE = "alice@example.test"


class Sender(threading.Thread):
    """Sends one message per connection until told to stop or ternd goes
    away; remembers which Message-IDs got their 250."""

    def __init__(self, t, rcpt, tag, limit=200):
        super().__init__(daemon=True)
        self.t, self.rcpt, self.tag, self.limit = t, rcpt, tag, limit
        self.acked = []
        self.errors = []
        self.halt = threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set() and i < self.limit:
            mid = "<%s-%d@client.test>" % (self.tag, i)
            i += 1
            try:
                self.t.send(ALICE, self.rcpt, make_msg(subject="crash %d" % i, msgid=mid), timeout=5)
            except (OSError, smtplib.SMTPException) as e:
                self.errors.append((mid, repr(e)))
                return
            self.acked.append(mid)


def _report(peer, acked):
    counts = collections.Counter(m.msgid for m in peer.snapshot())
    dups = {k: v for k, v in counts.items() if v > 1}
    missing = [m for m in acked if m not in counts]
    print("acknowledged=%d received=%d distinct=%d duplicates=%s missing=%s" % (
        len(acked), sum(counts.values()), len(counts), dups, missing))
    return counts, dups, missing


def test_kill9_during_deliveries_loses_nothing(relay):
    relay.start_dns([])
    p = relay.peer("127.0.0.2", "slow.example")
    p.data_delay = 0.5
    t = relay.ternd(routes=[("slow.example", "127.0.0.2:%d" % relay.port)])
    acked = []
    for rnd in range(2):
        s = Sender(t, "s@slow.example", "r%d" % rnd, limit=30)
        s.start()
        # Kill once new messages were acknowledged and several deliveries
        # sit in the peer's DATA.
        start = p.data_started
        wait_until(lambda: len(s.acked) >= 3 and p.data_started >= start + 4, 10,
                   "acknowledged messages and deliveries in flight")
        t.kill9()
        s.halt.set()
        s.join(10 * SLOW)
        assert not s.is_alive()
        acked += s.acked
        assert s.acked, "nothing was acknowledged before the kill"
        t.start()
        rec = t.wait_event("queue-recovered", count=rnd + 1)[-1]
        print("round %d: acked %d, recovered %s" % (rnd, len(s.acked), rec))
    wait_until(lambda: set(acked) <= {m.msgid for m in p.snapshot()}, 20,
               "every acknowledged message at the peer")
    counts, dups, missing = _report(p, acked)
    assert missing == []
    # Everything delivered leaves the queue.
    qdir = t.data_dir / "queue" / "msg"
    wait_until(lambda: not any(qdir.iterdir()), 15, "the queue to empty")
    # Extras are redeliveries, or messages whose 250 the kill cut off.
    for mid in counts:
        assert mid.startswith("<r0-") or mid.startswith("<r1-"), mid


def test_sigterm_with_deliveries_in_flight_and_waiting(relay):
    relay.start_dns([])
    p = relay.peer("127.0.0.2", "slow.example")
    p.data_delay = 1.0
    # One connection per destination: the rest of the deliveries wait.
    t = relay.ternd(routes=[("slow.example", "127.0.0.2:%d" % relay.port)],
                    options={"max_outbound_per_dest": "1"})
    mids = ["<term%d@client.test>" % i for i in range(4)]
    for m in mids:
        t.send(ALICE, "s@slow.example", make_msg(msgid=m))
    wait_until(lambda: p.data_started >= 1, 10, "a delivery in DATA")
    problems = t.stop()
    assert problems == [], "\n".join(problems)
    p.data_delay = 0
    t.start()
    wait_until(lambda: set(mids) <= {m.msgid for m in p.snapshot()}, 20,
               "every message after the restart")
    counts, dups, missing = _report(p, mids)
    assert missing == []
