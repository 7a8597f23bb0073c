"""One Maildir, two servers: ternd and a real Dovecot 2.3 (dovecotenv.py)
read and write the same mailboxes, and clients see one set of UIDs,
sizes, contents and flags whichever server answers.

(a) tern delivers and gives the UIDs at a POP3 login; Dovecot's IMAP
    and doveadm report the same UIDs and UIDVALIDITY, and Dovecot's POP3
    UIDL, LIST and RETR give what tern's do;
(b) Dovecot delivers (LMTP, stored with LF line ends) and gives the UIDs
    (IMAP); tern's POP3 gives the same UIDLs, serves the LF files with
    CRLF, and its LIST sizes are what RETR sends and what Dovecot says;
(c) an expunge in one server is gone in the other, and no UID is given
    twice, whoever delivers next;
(d) a message tern's POP3 retrieved and kept is \\Seen in Dovecot's IMAP;
    one it only listed or TOP'd is not;
(e) messages nobody has given a UID yet get them in the same order from
    both: by arrival time, microseconds as numbers.
"""
import os
import re

import pytest

from dovecotenv import dovecot_factory, run_as_user  # noqa: F401
from retrenv import body_of, deliver_in_order, mail_factory, uidlist_records  # noqa: F401
from subenv import ALICE, BOB

DOTS = (b"From: <sender@example.net>\r\nSubject: dots %d\r\n\r\n"
        b".\r\n..\r\n.leading\r\nmiddle\r\n.\r\nend\r\n")


def msg(i):
    return (b"From: <sender@example.net>\r\nSubject: msg %d\r\n\r\nbody %d\r\n" % (i, i)
            + b"." * (i % 3) + b"\r\n")


def subject(blob):
    m = re.search(rb"^Subject: (.*?)\r?$", blob, re.M)
    assert m, blob[:300]
    return m.group(1).decode()


def pop3_view(client):
    """[(number, UIDL, LIST size, RETR octets)] of a logged-in poplib,
    which is then closed without QUIT: nothing is deleted or flagged."""
    try:
        sizes = {int(n): int(s) for n, s in (l.split() for l in client.list()[1])}
        uidls = {int(n): u.decode() for n, u in (l.split() for l in client.uidl()[1])}
        assert sorted(sizes) == sorted(uidls)
        out = []
        for n in sorted(sizes):
            resp, lines, octets = client.retr(n)
            blob = body_of(lines)
            # The size LIST announces is what the client gets (RFC 1939
            # §11), and so is the one in RETR's +OK line.
            assert octets == len(blob) == sizes[n], (n, octets, len(blob), sizes[n])
            assert resp == b"+OK %d octets" % sizes[n], resp
            out.append((n, uidls[n], sizes[n], blob))
        return out
    finally:
        client.close()


def imap_state(dc, user):
    """(UIDVALIDITY, {uid: (flags, octets)}) through Dovecot's IMAP, with
    BODY.PEEK (no flag changes)."""
    c = dc.imap(user)
    try:
        typ, _ = c.select("INBOX", readonly=True)
        assert typ == "OK"
        uidvalidity = int(c.untagged_responses["UIDVALIDITY"][0])
        typ, data = c.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
        assert typ == "OK", data
        out = {}
        for item in data:
            if isinstance(item, tuple):
                uid = int(re.search(rb"\bUID (\d+)", item[0]).group(1))
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split()
                out[uid] = (set(flags), item[1])
        return uidvalidity, out
    finally:
        c.logout()


def uidl(uid, uidvalidity):
    return "%08x%08x" % (uid, uidvalidity)


@pytest.fixture
def pair(mail_factory, dovecot_factory):
    mt = mail_factory()
    dc = dovecot_factory(tern=mt)
    return mt, dc


# ------------------------------------------------------------------ (a) --

def test_tern_gives_uids_dovecot_agrees(pair):
    mt, dc = pair
    sent = deliver_in_order(mt, ALICE, [msg(1), DOTS % 2, msg(3)])
    ours = pop3_view(mt.pop3(ALICE))
    v, n, recs = uidlist_records(mt, ALICE)
    assert sorted(recs) == [1, 2, 3] and n == 4
    assert [u for _, u, _, _ in ours] == [uidl(i, v) for i in (1, 2, 3)]
    for (_, _, _, blob), body in zip(ours, sent):
        assert blob.endswith(body)

    # Dovecot reads tern's dovecot-uidlist: the same UIDs and UIDVALIDITY.
    uidvalidity, imap = imap_state(dc, ALICE)
    assert uidvalidity == v and sorted(imap) == [1, 2, 3]
    assert [int(m["uid"]) for m in dc.fetch(ALICE, "uid")] == [1, 2, 3]
    status = dc.mailbox_status(ALICE)
    assert status["uidvalidity"] == v and status["uidnext"] == 4
    for _, u, _, blob in ours:
        assert imap[int(u[:8], 16)][1] == blob
    # Dovecot's POP3: the same UIDL (its default format is tern's), the
    # same sizes and octets for each message.
    assert pop3_view(dc.pop3(ALICE)) == ours


# ------------------------------------------------------------------ (b) --

def test_dovecot_gives_uids_tern_agrees(pair):
    mt, dc = pair
    sent = [msg(1), DOTS % 2, msg(3) + b"no line end at the end"]
    for body in sent:
        dc.deliver_ok([BOB], body)
    uidvalidity, imap = imap_state(dc, BOB)
    assert sorted(imap) == [1, 2, 3]
    # Dovecot stores LF (mail_save_crlf = no).
    box = mt.maildir(BOB)
    files = [p for d in ("new", "cur") for p in (box / d).iterdir()]
    assert len(files) == 3 and all(b"\r" not in p.read_bytes() for p in files)

    ours = pop3_view(mt.pop3(BOB))
    assert [u for _, u, _, _ in ours] == [uidl(i, uidvalidity) for i in (1, 2, 3)]
    # Served with CRLF, byte-stuffed and unstuffed back; sizes are CRLF
    # sizes (pop3_view checks them against RETR), as Dovecot's are.
    for (_, u, size, blob), body in zip(ours, sent):
        uid = int(u[:8], 16)
        assert blob == imap[uid][1] == imap[uid][1].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert blob.endswith(body if body.endswith(b"\r\n") else body + b"\r\n")
    assert pop3_view(dc.pop3(BOB)) == ours
    # tern kept Dovecot's records and UIDVALIDITY.
    v, _, recs = uidlist_records(mt, BOB)
    assert v == uidvalidity and sorted(recs) == [1, 2, 3]


# ------------------------------------------------------------------ (c) --

def test_expunge_in_either_server_and_no_uid_twice(pair):
    mt, dc = pair
    given = {}          # uid -> Subject: every UID ever seen, by either server

    def seen_by_both(user):
        """tern's view, then Dovecot's: the same UIDs for the same
        messages, and every UID keeps its message for good. Returns
        {uid: POP3 message number}."""
        ours = pop3_view(mt.pop3(user))
        v, imap = imap_state(dc, user)
        tern_uids = {int(u[:8], 16): subject(blob) for _, u, _, blob in ours}
        dc_uids = {uid: subject(blob) for uid, (_, blob) in imap.items()}
        assert tern_uids == dc_uids
        assert all(u[8:] == "%08x" % v for _, u, _, _ in ours)
        for uid, subj in tern_uids.items():
            assert given.setdefault(uid, subj) == subj, "UID %d given twice" % uid
        return {int(u[:8], 16): n for n, u, _, _ in ours}

    deliver_in_order(mt, ALICE, [msg(1), msg(2), msg(3)])
    assert sorted(seen_by_both(ALICE)) == [1, 2, 3]      # tern gave them
    dc.deliver_ok([ALICE], msg(4))                        # Dovecot gives 4
    numbers = seen_by_both(ALICE)
    assert given == {1: "msg 1", 2: "msg 2", 3: "msg 3", 4: "msg 4"}

    # tern's POP3 deletes UID 2 (DELE, QUIT): Dovecot no longer has it.
    p = mt.pop3(ALICE)
    p.dele(numbers[2])
    assert p.quit().startswith(b"+OK")
    mt.wait_for_log(r"event=pop3-expunged user=alice@example\.test messages=1")
    assert dc.uids(ALICE) == [1, 3, 4]
    assert sorted(seen_by_both(ALICE)) == [1, 3, 4]

    # Dovecot expunges UID 4 (the last: its number must not come back) and
    # UID 1; tern no longer lists them.
    dc.doveadm("expunge", "-u", ALICE, "mailbox", "INBOX", "uid", "1,4")
    assert dc.uids(ALICE) == [3]
    ours = pop3_view(mt.pop3(ALICE))
    assert [(u[:8], subject(b)) for _, u, _, b in ours] == [("00000003", "msg 3")]

    # New mail through both: fresh UIDs, above every one given.
    deliver_in_order(mt, ALICE, [msg(5)])
    assert sorted(seen_by_both(ALICE)) == [3, 5]
    dc.deliver_ok([ALICE], msg(6))
    deliver_in_order(mt, ALICE, [msg(7)])
    assert sorted(seen_by_both(ALICE)) == [3, 5, 6, 7]
    assert given == {i: "msg %d" % i for i in range(1, 8)}


# ------------------------------------------------------------------ (d) --

def test_retrieved_and_kept_is_seen_in_dovecot(pair):
    mt, dc = pair
    deliver_in_order(mt, BOB, [msg(i) for i in (1, 2, 3, 4)])
    p = mt.pop3(BOB)
    p.retr(1)
    p.top(2, 0)          # TOP is not a retrieval
    p.retr(3)
    p.dele(3)            # retrieved, then deleted
    p.list()
    assert p.quit().startswith(b"+OK")
    mt.wait_for_log(r"event=pop3-expunged user=bob@example\.test messages=1")
    _, imap = imap_state(dc, BOB)
    flags = {uid: f for uid, (f, _) in imap.items()}
    assert flags == {1: {"\\Seen"}, 2: set(), 4: set()}
    # And the other way: what Dovecot's POP3 retrieved is \Seen in tern's
    # Maildir names, and tern keeps the flag when it marks its own.
    d = dc.pop3(BOB)
    d.retr(3)            # now message 3 is UID 4
    d.quit()
    names = {n.split(":")[0]: n for n in os.listdir(mt.maildir(BOB) / "cur")}
    _, _, recs = uidlist_records(mt, BOB)
    assert names[recs[4]].endswith(":2,S") and names[recs[1]].endswith(":2,S")
    assert names[recs[2]].endswith(":2,")


# ------------------------------------------------------------------ (e) --

def test_new_messages_numbered_in_arrival_order_as_dovecot(pair):
    """Files nobody has given a UID get them in arrival order: the time in
    their names, as numbers. The microseconds are not zero-padded, so the
    names' text order differs (M99999 sorts after M100000 as text).
    Dovecot numbers one copy, tern another: the same UIDs for the same
    names. (Within one microsecond tern goes by its Q counter's value,
    where Dovecot, which writes no Q, compares the rest as text: the unit
    test has Q9 before Q10.)"""
    mt, dc = pair
    names = ["1700000000.M100000P7Q1.mx.example.test,S=%d",
             "1700000000.M99999P7Q2.mx.example.test,S=%d",
             "1699999999.M999999P7Q3.mx.example.test,S=%d",
             "1700000000.M100000P7Q5.mx.example.test,S=%d",
             "1700000000.M100000P7Q4.mx.example.test,S=%d",
             "1700000001.M5P7.vm,S=%d,W=%d"]
    arrival = [2, 1, 0, 4, 3, 5]          # indexes into names, oldest first
    owner = run_as_user()
    for user in (ALICE, BOB):
        # Both Maildirs made by a login, then filled by hand.
        mt.pop3(user).quit()
        new = mt.maildir(user) / "new"
        for i, name in enumerate(names):
            body = b"Subject: file %d\r\n\r\nx\r\n" % i
            fname = name % ((len(body),) * name.count("%d"))
            (new / fname).write_bytes(body)
            os.chown(new / fname, owner.pw_uid, owner.pw_gid)
    dc.force_resync(ALICE)            # Dovecot numbers alice's copy
    ours = pop3_view(mt.pop3(BOB))    # tern numbers bob's
    dovecot_order = [subject(b) for _, (_, b) in sorted(imap_state(dc, ALICE)[1].items())]
    assert [subject(b) for _, _, _, b in ours] == dovecot_order == \
        ["file %d" % i for i in arrival]
    _, dc_recs = dc.read_uidlist(ALICE)
    _, _, tern_recs = uidlist_records(mt, BOB)
    assert dc_recs == tern_recs
