"""IMAP sessions that see each other: two sessions on one folder see each
other's EXPUNGE and flag changes and a delivery (at NOOP, and within a
second in IDLE); CONDSTORE (SELECT (CONDSTORE), FETCH (CHANGEDSINCE)) and
QRESYNC (SELECT (QRESYNC ...) -> VANISHED (EARLIER) and the changed
FETCHes; UID FETCH ... (CHANGEDSINCE n VANISHED))."""
import time

import pytest

from imapenv import (ALICE, dovecot_differs, exists_of, imap_factory, imap_server,  # noqa: F401
                     message, seq_to_list, session, status_codes)
from tern_harness import t

REVS = [1, pytest.param(2, marks=dovecot_differs("no IMAP4rev2"))]


def deliver(peer, n, user=ALICE):
    for i in range(n):
        peer.deliver(user, message("sync %d" % i, "body %d\r\n" % i))


def uids_of(c):
    return sorted(int(v["UID"]) for v in c.ok("UID FETCH 1:* (UID)").fetches().values())


@pytest.mark.parametrize("rev", REVS)
def test_two_sessions_see_each_other_at_noop(imap_server, rev):
    deliver(imap_server, 3)
    a = session(imap_server, rev=rev, select="INBOX")
    b = session(imap_server, rev=rev, select="INBOX")
    # Flags set by b: a hears of them at its next command.
    b.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    r = a.ok("NOOP")
    f = r.fetches()
    assert 2 in f and "\\Flagged" in f[2]["FLAGS"], r.untagged
    # b expunges message 1: a gets "* 1 EXPUNGE".
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    r = a.ok("NOOP")
    assert [u[1] for u in r.named("EXPUNGE")] == ["1"], r.untagged
    # A delivery: EXISTS.
    imap_server.deliver(ALICE, message("new one"))
    deadline = time.monotonic() + t(5)
    while True:
        r = a.ok("NOOP")
        if exists_of(r) is not None:
            break
        assert time.monotonic() < deadline, "no EXISTS after a delivery"
        time.sleep(0.1)
    assert exists_of(r) == 3
    # Both see the same UIDs and flags (b once it has heard of the news).
    assert exists_of(b.ok("NOOP")) == 3
    assert uids_of(a) == uids_of(b)
    fa = a.ok("FETCH 1:* (FLAGS)").fetches()
    fb = b.ok("FETCH 1:* (FLAGS)").fetches()
    assert {n: set(v["FLAGS"]) - {"\\Recent"} for n, v in fa.items()} == \
        {n: set(v["FLAGS"]) - {"\\Recent"} for n, v in fb.items()}
    a.logout()
    b.logout()


def idle_start(c):
    c.send(b"i1 IDLE\r\n")
    line = c.read_raw()
    assert line.startswith(b"+"), line


def idle_wait(c, pred, within=1.0):
    """Reads untagged responses during IDLE until pred(response) is true;
    fails if that takes more than within seconds."""
    t0 = time.monotonic()
    seen = []
    while True:
        left = t0 + t(within) - time.monotonic()
        assert left > 0, "nothing matching within %.1fs: %r" % (within, seen)
        try:
            r = c.read_response(timeout=left)
        except OSError:
            raise AssertionError("nothing matching within %.1fs: %r" % (within, seen))
        seen.append(r)
        if pred(r):
            return time.monotonic() - t0, seen


def idle_done(c):
    c.send(b"DONE\r\n")
    r = c.until_tagged("i1")
    assert r.status == "OK", r
    return r


def test_idle_woken_by_delivery_store_and_expunge(imap_server):
    deliver(imap_server, 2)
    a = session(imap_server, select="INBOX")
    b = session(imap_server, select="INBOX")
    assert "IDLE" in a.capabilities()
    idle_start(a)
    a.no_response(0.3)
    # A delivery: EXISTS within a second.
    imap_server.deliver(ALICE, message("wake up"))
    took, _ = idle_wait(a, lambda r: r[2:3] == ["EXISTS"] and r[1] == "3")
    # Another session's STORE: FETCH (FLAGS) within a second.
    b.ok("NOOP")
    b.ok("STORE 1 +FLAGS.SILENT (\\Seen \\Flagged)")
    idle_wait(a, lambda r: r[2:3] == ["FETCH"] and r[1] == "1"
              and "\\Flagged" in dict(zip(r[3][::2], r[3][1::2])).get("FLAGS", []))
    # Another session's EXPUNGE: EXPUNGE within a second.
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    idle_wait(a, lambda r: r[2:3] == ["EXPUNGE"] and r[1] == "2")
    idle_done(a)
    assert exists_of(a.ok("SELECT INBOX")) == 2
    a.logout()
    b.logout()


def test_idle_in_both_revisions_and_done_only(imap_server):
    """Only DONE ends IDLE; anything else is not a command (RFC 2177:
    the server may answer BAD); an empty mailbox idles too."""
    a = session(imap_server, select="INBOX")
    idle_start(a)
    a.send(b"DONE\r\n")
    r = a.until_tagged("i1")
    assert r.status == "OK"
    # An IDLE with nothing selected is allowed (authenticated state).
    a.ok("UNSELECT")
    idle_start(a)
    idle_done(a)
    a.logout()


# ------------------------------------------------------------ CONDSTORE --

def test_condstore_changedsince(imap_server):
    deliver(imap_server, 4)
    c = session(imap_server)
    r = c.ok("SELECT INBOX (CONDSTORE)")
    h0 = int(status_codes(r)["HIGHESTMODSEQ"])
    c.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    c.ok("STORE 4 +FLAGS.SILENT ($Label2)")
    r = c.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % h0)
    f = r.fetches()
    assert sorted(f) == [2, 4], f
    assert all(int(v["MODSEQ"][0]) > h0 for v in f.values())
    # HIGHESTMODSEQ grew, and STATUS says so.
    c.ok("UNSELECT")
    r = c.ok("STATUS INBOX (HIGHESTMODSEQ)")
    h1 = int(r.named("STATUS")[0][3][1])
    assert h1 >= max(int(v["MODSEQ"][0]) for v in f.values())
    r = c.ok("EXAMINE INBOX (CONDSTORE)")
    assert int(status_codes(r)["HIGHESTMODSEQ"]) == h1
    # SEARCH MODSEQ.
    r = c.ok("SEARCH MODSEQ %d" % (h0 + 1))
    ids = [int(x) for x in r.named("SEARCH")[0][2:] if isinstance(x, str) and x.isdigit()]
    assert ids == [2, 4], r.untagged
    c.logout()


def test_qresync(imap_server):
    deliver(imap_server, 5)
    c = session(imap_server)
    c.ok("ENABLE QRESYNC")
    r = c.ok("SELECT INBOX")
    codes = status_codes(r)
    uidvalidity, h0 = int(codes["UIDVALIDITY"]), int(codes["HIGHESTMODSEQ"])
    uids = uids_of(c)
    c.logout()
    # Meanwhile another session flags message 2 and expunges 3 and 5.
    b = session(imap_server, select="INBOX")
    b.ok("STORE 2 +FLAGS.SILENT (\\Answered)")
    b.ok("STORE 3,5 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    b.logout()
    # Resynchronising: VANISHED (EARLIER) for the expunged UIDs and a
    # FETCH (UID FLAGS MODSEQ) for the changed one, in the SELECT.
    c = session(imap_server)
    c.ok("ENABLE QRESYNC")
    r = c.ok("SELECT INBOX (QRESYNC (%d %d))" % (uidvalidity, h0))
    vanished = [u for u in r.untagged if u[1:2] == ["VANISHED"]]
    assert len(vanished) == 1 and vanished[0][2] == ["EARLIER"], r.untagged
    assert seq_to_list(vanished[0][3]) == [uids[2], uids[4]]
    f = r.fetches()
    assert [int(v["UID"]) for v in f.values()] == [uids[1]], f
    assert "\\Answered" in f[2]["FLAGS"] and int(f[2]["MODSEQ"][0]) > h0
    # With known UIDs: only those are reported on.
    c.ok("UNSELECT")
    r = c.ok("SELECT INBOX (QRESYNC (%d %d %d:%d))" % (uidvalidity, h0, uids[0], uids[2]))
    vanished = [u for u in r.untagged if u[1:2] == ["VANISHED"]]
    assert seq_to_list(vanished[0][3]) == [uids[2]]
    # UID FETCH ... (CHANGEDSINCE n VANISHED).
    r = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % h0)
    vanished = [u for u in r.untagged if u[1:2] == ["VANISHED"]]
    assert vanished and vanished[0][2] == ["EARLIER"]
    assert seq_to_list(vanished[0][3]) == [uids[2], uids[4]]
    assert [int(v["UID"]) for v in r.fetches().values()] == [uids[1]]
    # In a QRESYNC session, an expunge is VANISHED, not EXPUNGE.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    r = c.ok("EXPUNGE")
    assert r.named("EXPUNGE") == []
    vanished = [u for u in r.untagged if u[1:2] == ["VANISHED"]]
    assert seq_to_list(vanished[0][2]) == [uids[0]], r.untagged
    # A wrong UIDVALIDITY: a plain SELECT, nothing vanished.
    c.ok("UNSELECT")
    r = c.ok("SELECT INBOX (QRESYNC (%d %d))" % (uidvalidity + 1, h0))
    assert not [u for u in r.untagged if u[1:2] == ["VANISHED"]]
    c.logout()
