"""The store's per-folder index (tern-index: MODSEQs, keywords, the fast
sync) on real Maildirs, through tern-storetool (storeenv.py), and with a
real Dovecot 2.3 on the same Maildir (dovecotenv.py):

(a) a flag renamed from outside (a shell's os.rename) gets a MODSEQ above
    every one before; so does one renamed in the same clock tick as the
    sync that looked last (the directory's mtime does not move);
(b) a lost, torn, zeroed or foreign index is rebuilt, its HIGHESTMODSEQ
    above every one handed out before;
(c) a sync that finds the folder as its index says lists nothing (fast),
    cold; a delivery into new/ or an expunge by someone else is seen;
(d) keywords both ways with Dovecot: its STORE +FLAGS ($Forwarded) is a
    keyword of tern's message, with Dovecot's dovecot-keywords; one tern
    sets is in Dovecot's FETCH FLAGS, and Dovecot uses tern's letter;
(e) 100,000 messages: the full sync, the cold fast sync (a new session,
    the index there) and the warm one timed; the cold one under 2 s.
"""
import os
import re
import time

from dovecotenv import dovecot_factory  # noqa: F401
from storeenv import backdate, make_folder, put, storetool
from subenv import ALICE
from tern_harness import SANITIZED, t


def msg(i):
    return "Subject: %d\r\n\r\nbody %d\r\n" % (i, i)


def folder_of(tmp_path, n=3):
    box = make_folder(tmp_path / "box")
    for i in range(1, n + 1):
        put(box, "new", "17000000%02d.M%dP1.test" % (i, i), msg(i))
    return box


def by_uid(state):
    return {m["uid"]: m for m in state["msgs"]}


def rename_flags(box, name, flags):
    base = name.split(":")[0]
    os.rename(box / "cur" / name, box / "cur" / ("%s:2,%s" % (base, flags)))


# ------------------------------------------------------------------ (a) --

def test_outside_rename_gets_a_new_modseq(tmp_path):
    box = folder_of(tmp_path)
    first, _ = storetool("sync", box)
    assert [m["uid"] for m in first["msgs"]] == [1, 2, 3]
    hms = first["highestmodseq"]
    assert all(m["modseq"] == hms for m in first["msgs"])
    rename_flags(box, by_uid(first)[2]["name"], "S")
    second, _ = storetool("sync", box)
    m = by_uid(second)
    assert m[2]["flags"] == ["\\Seen"] and m[2]["modseq"] > hms
    assert m[1]["modseq"] == m[3]["modseq"] == hms
    assert second["highestmodseq"] == m[2]["modseq"]
    # Again, in the same clock tick as that sync's look at cur/ (the
    # rename leaves the mtime it saw: put back, as a coarse clock would).
    st = os.stat(box / "cur")
    rename_flags(box, m[3]["name"], "FS")
    os.utime(box / "cur", ns=(st.st_atime_ns, st.st_mtime_ns))
    third, _ = storetool("sync", box)
    assert not third["fast"]
    m3 = by_uid(third)[3]
    assert m3["flags"] == ["\\Flagged", "\\Seen"] and m3["modseq"] > second["highestmodseq"]
    # Nothing changed since: the same MODSEQs, whoever asks.
    assert storetool("sync", box)[0]["highestmodseq"] == third["highestmodseq"]


# ------------------------------------------------------------------ (b) --

def test_lost_or_damaged_index_rebuilt_above(tmp_path):
    box = folder_of(tmp_path)
    storetool("sync", box)
    # A few changes, so that HIGHESTMODSEQ is past the first floor.
    state, _ = storetool("store", box, "1,2", "+", "\\Seen")
    seen = [state["highestmodseq"]]
    index = box / "tern-index"
    good = index.read_bytes()

    def damage_and_sync(how, reason):
        how()
        state, err = storetool("sync", box)
        assert state["highestmodseq"] > max(seen), how
        assert state["vanished_floor"] == state["highestmodseq"]
        assert state["vanished"] == []
        assert all(m["modseq"] == state["highestmodseq"] for m in state["msgs"])
        assert [m["uid"] for m in state["msgs"]] == [1, 2, 3]
        assert by_uid(state)[1]["flags"] == ["\\Seen"]
        if reason:
            assert re.search(r"event=mailbox-index-rebuilt dir=\"[^\"]*/box\" reason=%s" % reason,
                             err), err
        seen.append(state["highestmodseq"])

    damage_and_sync(lambda: index.unlink(), None)
    damage_and_sync(lambda: index.write_bytes(index.read_bytes()[:len(good) // 2]), "torn")
    damage_and_sync(lambda: index.write_bytes(b"\0" * len(good)), "foreign")
    damage_and_sync(lambda: index.write_bytes(b"garbage\n" * 50), "foreign")
    damage_and_sync(lambda: index.write_bytes(good.replace(b"tern-index 1", b"tern-index 9")),
                    "version")


# ------------------------------------------------------------------ (c) --

def test_fast_sync_and_what_ends_it(tmp_path):
    box = folder_of(tmp_path)
    storetool("sync", box)
    backdate(box)
    state, _ = storetool("sync", box)
    assert not state["fast"]           # the stats moved: looked again
    hms = state["highestmodseq"]
    state, _ = storetool("sync", box)  # a new session: the index alone
    assert state["fast"] and state["messages"] == 3 and state["highestmodseq"] == hms
    # A delivery: new/ changed.
    put(box, "new", "1700000099.M99P1.test", msg(4))
    state, _ = storetool("sync", box)
    assert not state["fast"] and state["new_uids"] == 1
    assert by_uid(state)[4]["modseq"] > hms and by_uid(state)[4]["recent"]
    # An unlink by someone else: vanished at a new MODSEQ.
    backdate(box)
    storetool("sync", box)
    assert storetool("sync", box)[0]["fast"]
    name = by_uid(state)[2]["name"]
    os.unlink(box / "cur" / name)
    state, _ = storetool("sync", box)
    assert not state["fast"] and sorted(by_uid(state)) == [1, 3, 4]
    assert state["vanished"] == [[2, 2, state["highestmodseq"]]]


# ------------------------------------------------------------------ (d) --

def imap_flags(dc, user):
    """{uid: set of flags} through Dovecot's IMAP (EXAMINE: nothing changed)."""
    c = dc.imap(user)
    try:
        typ, _ = c.select("INBOX", readonly=True)
        assert typ == "OK"
        typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
        assert typ == "OK", data
        out = {}
        for item in data:
            m = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)", item)
            assert m, item
            uid = int(m.group(1) or m.group(4))
            out[uid] = set((m.group(2) or m.group(3) or b"").decode().split())
        return out
    finally:
        c.logout()


def test_keywords_both_ways_with_dovecot(dovecot_factory):
    dc = dovecot_factory()
    for i in (1, 2, 3):
        dc.deliver_ok([ALICE], msg(i).encode())
    box = dc.maildir(ALICE)
    c = dc.imap(ALICE)
    try:
        assert c.select("INBOX")[0] == "OK"
        typ, data = c.uid("STORE", "1", "+FLAGS", "($Forwarded)")
        assert typ == "OK", data
    finally:
        c.logout()
    # Dovecot's file and letter, as docs/mailbox-formats.md says.
    assert (box / "dovecot-keywords").read_bytes() == b"0 $Forwarded\n"
    assert [n for n in os.listdir(box / "cur") if n.endswith(",a")]
    state, _ = storetool("sync", box)
    assert state["keywords"][0] == "$Forwarded"
    m = by_uid(state)
    assert m[1]["flags"] == ["$Forwarded"] and m[2]["flags"] == []
    ms1 = m[1]["modseq"]

    # tern makes a keyword (in the same second as Dovecot's write: it must
    # leave a later mtime second, or Dovecot would not read the file again)
    # and sets it, with one Dovecot knows.
    state, _ = storetool("store", box, "2", "+", "$Label1", "$Forwarded")
    assert state["results"][0]["modseq"] > ms1
    assert (box / "dovecot-keywords").read_bytes() == b"0 $Forwarded\n1 $Label1\n"
    names = os.listdir(box / "cur")
    assert [n for n in names if n.endswith(":2,ab")], names
    flags = imap_flags(dc, ALICE)
    assert flags[1] == {"$Forwarded"}
    assert flags[2] == {"$Forwarded", "$Label1"}
    assert flags[3] == set()
    # Dovecot uses tern's letter for tern's keyword.
    c = dc.imap(ALICE)
    try:
        assert c.select("INBOX")[0] == "OK"
        typ, data = c.uid("STORE", "3", "+FLAGS", "($label1 \\Seen)")
        assert typ == "OK", data
    finally:
        c.logout()
    assert (box / "dovecot-keywords").read_bytes() == b"0 $Forwarded\n1 $Label1\n"
    state, _ = storetool("sync", box)
    assert by_uid(state)[3]["flags"] == ["\\Seen", "$Label1"]
    # A keyword removed by tern is gone in Dovecot too.
    storetool("store", box, "2", "-", "$Forwarded")
    assert imap_flags(dc, ALICE)[2] == {"$Label1"}


# ------------------------------------------------------------------ (e) --

N = 20000 if SANITIZED else 100000


def test_100k_messages_timed(tmp_path):
    box = make_folder(tmp_path / "big")
    body = b"Subject: bulk\r\n\r\nx\r\n"
    cur = str(box / "cur")
    for i in range(N):
        name = "%d.M%dP1.bulk.example,S=%d,W=%d:2,S" % (1700000000 + i, i, len(body), len(body))
        fd = os.open(os.path.join(cur, name), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, body)
        os.close(fd)
    if os.geteuid() == 0:
        os.system("chown -R tern: %s" % box)
    t0 = time.monotonic()
    first, _ = storetool("sync", "-q", box, timeout=600)
    rebuild = time.monotonic() - t0
    assert first["messages"] == N
    backdate(box)
    timed, _ = storetool("time", box, 3, timeout=600)   # full (the stats moved), then warm
    full = timed["cold_ms"]
    assert not timed["cold_fast"] and all(w["fast"] for w in timed["warm"])
    timed, _ = storetool("time", box, 3, timeout=600)   # a new session: the index alone
    assert timed["cold_fast"] and timed["messages"] == N
    cold = timed["cold_ms"]
    warm = max(w["ms"] for w in timed["warm"])
    print("%d messages: first sync %.0f ms, full sync %.0f ms, cold fast %.1f ms, "
          "warm %.3f ms" % (N, rebuild * 1000, full, cold, warm))
    assert cold < t(2) * 1000
    assert warm < t(0.1) * 1000
