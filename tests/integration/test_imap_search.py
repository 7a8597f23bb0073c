"""IMAP SEARCH (flags, dates, sizes, HEADER/BODY/TEXT, a UTF-8 CHARSET
search in base64 and quoted-printable bodies and in an encoded-word
Subject, OR/NOT, sequence sets, UID SEARCH), ESEARCH RETURN (MIN MAX COUNT
ALL), SORT and THREAD, on one mailbox of seven messages APPENDed with
known dates, flags and sizes."""
import base64

import pytest

from imapenv import (ALICE, append, appenduid, dovecot_differs, imap_factory,  # noqa: F401
                     imap_server, search_ids, seq_to_list, session)

REVS = [1, pytest.param(2, marks=dovecot_differs("no IMAP4rev2"))]


def b64_body(s):
    return base64.encodebytes(s.encode()).replace(b"\n", b"\r\n")


# (subject header, extra headers, body, flags, internal date, Date:)
MESSAGES = [
    ("Lunch on Friday", ["From: Ann <ann@example.net>", "To: alice@example.test"],
     b"Shall we meet at noon?\r\n", ["\\Seen"], "01-Feb-2024 12:00:00 +0000",
     "Thu, 01 Feb 2024 12:00:00 +0000"),
    ("=?UTF-8?Q?Stra=C3=9Fenfest_im_M=C3=A4rz?=", ["From: Bob <bob@example.net>",
                                                  "To: alice@example.test"],
     b"Plain ASCII body about the street party.\r\n", ["\\Flagged"],
     "05-Feb-2024 08:00:00 +0000", "Mon, 05 Feb 2024 08:00:00 +0000"),
    ("Base64 greeting", ["From: Carl <carl@example.org>", "To: alice@example.test",
                         "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                         "Content-Transfer-Encoding: base64"],
     b64_body("Herzliche Gr\u00fc\u00dfe aus D\u00fcsseldorf\r\n"), [],
     "10-Feb-2024 09:00:00 +0000", "Sat, 10 Feb 2024 09:00:00 +0000"),
    ("QP note", ["From: Dora <dora@example.org>", "To: bob@example.test",
                 "Cc: alice@example.test", "MIME-Version: 1.0",
                 "Content-Type: text/plain; charset=utf-8",
                 "Content-Transfer-Encoding: quoted-printable"],
     b"Caf=C3=A9 cr=C3=A8me br=C3=BBl=C3=A9e, s'il vous pla=C3=AEt\r\n",
     ["\\Seen", "\\Answered"], "15-Feb-2024 10:00:00 +0000",
     "Thu, 15 Feb 2024 10:00:00 +0000"),
    ("Re: Lunch on Friday", ["From: Alice <alice@example.test>", "To: ann@example.net",
                             "In-Reply-To: <m1@example.net>", "References: <m1@example.net>"],
     b"Yes, noon is fine.\r\n", ["\\Seen", "$Work"], "20-Feb-2024 11:00:00 +0000",
     "Tue, 20 Feb 2024 11:00:00 +0000"),
    ("Big attachment", ["From: Ann <ann@example.net>", "To: alice@example.test",
                        "X-Priority: 1"],
     b"z" * 76 + b"\r\n" + (b"0123456789" * 7 + b"\r\n") * 300, ["\\Deleted"],
     "25-Feb-2024 07:00:00 +0000", "Sun, 25 Feb 2024 07:00:00 +0000"),
    ("Re: Re: Lunch on Friday", ["From: Ann <ann@example.net>", "To: alice@example.test",
                                 "In-Reply-To: <m5@example.net>",
                                 "References: <m1@example.net> <m5@example.net>"],
     b"See you there.\r\n", [], "01-Mar-2024 12:00:00 +0000",
     "Fri, 01 Mar 2024 12:00:00 +0000"),
]


def build(i):
    subj, headers, body, flags, idate, date = MESSAGES[i]
    head = ["Subject: " + subj, "Date: " + date, "Message-ID: <m%d@example.net>" % (i + 1)]
    return ("\r\n".join(head + headers) + "\r\n\r\n").encode() + body


@pytest.fixture
def box(imap_server):
    """imap_server with alice's INBOX holding MESSAGES (numbers 1-7) and
    a session on it: (peer, ImapRaw, [UIDs])."""
    c = session(imap_server)
    uids = []
    for i, m in enumerate(MESSAGES):
        _, (uid,) = appenduid(append(c, "INBOX", build(i), flags=m[3], date=m[4]))
        uids.append(uid)
    c.ok("SELECT INBOX")
    return imap_server, c, uids


def search(c, criteria, uid=False):
    r = c.ok(("UID " if uid else "") + "SEARCH " + criteria)
    return search_ids(r)


CASES = [
    ("ALL", [1, 2, 3, 4, 5, 6, 7]),
    ("SEEN", [1, 4, 5]),
    ("UNSEEN", [2, 3, 6, 7]),
    ("FLAGGED", [2]),
    ("ANSWERED", [4]),
    ("DELETED", [6]),
    ("UNDELETED", [1, 2, 3, 4, 5, 7]),
    ("KEYWORD $Work", [5]),
    ("UNKEYWORD $Work", [1, 2, 3, 4, 6, 7]),
    ("BEFORE 10-Feb-2024", [1, 2]),
    ("ON 10-Feb-2024", [3]),
    ("SINCE 20-Feb-2024", [5, 6, 7]),
    ("SENTBEFORE 05-Feb-2024", [1]),
    ("SENTON 15-Feb-2024", [4]),
    ("SENTSINCE 25-Feb-2024", [6, 7]),
    ("LARGER 10000", [6]),
    ("FROM ann", [1, 6, 7]),
    ("TO bob@example.test", [4]),
    ("CC alice", [4]),
    ('SUBJECT "lunch on"', [1, 5, 7]),
    ('HEADER X-Priority ""', [6]),
    ("HEADER In-Reply-To m5@example.net", [7]),
    ("BODY noon", [1, 5]),
    ("TEXT noon", [1, 5]),
    ("TEXT carl@example.org", [3]),           # TEXT covers the header too
    ("BODY carl@example.org", []),
    ("OR FLAGGED ANSWERED", [2, 4]),
    ("NOT SEEN NOT DELETED", [2, 3, 7]),
    ("OR (FROM ann SEEN) KEYWORD $Work", [1, 5]),
    ("2:4", [2, 3, 4]),
    ("5:* UNSEEN", [6, 7]),
    ("1,3,5 SEEN", [1, 5]),
    ("SUBJECT fest", [2]),                    # in the decoded encoded-word
]


@pytest.mark.parametrize("rev", REVS)
def test_search_keys(box, rev):
    peer, c, uids = box
    if rev == 2:
        r = c.ok("ENABLE IMAP4rev2")
        assert r.named("ENABLED") and r.named("ENABLED")[0][2].upper() == "IMAP4REV2"
        # IMAP4rev2 answers SEARCH with ESEARCH (search_ids reads both).
    for criteria, want in CASES:
        assert search(c, criteria) == want, criteria
    # SMALLER / LARGER at the exact sizes (strictly smaller / larger).
    sizes = [len(build(i)) for i in range(len(MESSAGES))]
    for n in sorted(set(sizes)):
        assert search(c, "SMALLER %d" % n) == [i + 1 for i, s in enumerate(sizes) if s < n]
        assert search(c, "LARGER %d" % n) == [i + 1 for i, s in enumerate(sizes) if s > n]
    # UID SEARCH: UIDs.
    assert search(c, "UID %d:%d" % (uids[1], uids[2]), uid=True) == uids[1:3]
    assert search(c, "FLAGGED", uid=True) == [uids[1]]


def test_search_charset_utf8(box):
    """Non-ASCII search strings (CHARSET UTF-8, as a literal): matched in
    decoded base64 and quoted-printable bodies and in an RFC 2047
    Subject, case-insensitively."""
    peer, c, uids = box

    def utf8(key, s):
        b = s.encode()
        r = c.command_lit(["SEARCH CHARSET UTF-8 %s {%d}" % (key, len(b)), b, ""])
        assert r.status == "OK", r
        return search_ids(r)

    assert utf8("BODY", "Grüße") == [3]            # base64 body
    assert utf8("BODY", "DÜSSELDORF") == [3]       # case-insensitive
    assert utf8("BODY", "crème brûlée") == [4]     # quoted-printable body
    assert utf8("TEXT", "café") == [4]
    assert utf8("SUBJECT", "Straßenfest") == [2]    # encoded-word
    assert utf8("SUBJECT", "märz") == [2]
    assert utf8("BODY", "Gr\u00fc\u00dfe aus K\u00f6ln") == []
    # An unknown charset: NO [BADCHARSET].
    r = c.command("SEARCH CHARSET X-NO-SUCH-CHARSET BODY x")
    assert r.status == "NO" and "BADCHARSET" in r.text, r


def test_esearch_return(box):
    """ESEARCH (RFC 4731): SEARCH RETURN (MIN MAX COUNT ALL)."""
    peer, c, uids = box
    r = c.ok("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
    es = r.named("ESEARCH")
    assert len(es) == 1 and r.named("SEARCH") == []
    items = es[0][2:]
    if isinstance(items[0], list):           # (TAG "...")
        assert items[0][0].upper() == "TAG"
        items = items[1:]
    d = {items[i].upper(): items[i + 1] for i in range(0, len(items), 2)}
    assert d["MIN"] == "2" and d["MAX"] == "7" and d["COUNT"] == "4"
    assert seq_to_list(d["ALL"]) == [2, 3, 6, 7]
    # UID SEARCH RETURN (): ALL, in UIDs, with UID marked.
    r = c.ok("UID SEARCH RETURN () FLAGGED")
    es = r.named("ESEARCH")[0]
    assert "UID" in [x.upper() for x in es[2:] if isinstance(x, str)]
    assert search_ids(r) == [uids[1]]
    # Nothing found: no ALL, COUNT 0.
    r = c.ok("SEARCH RETURN (COUNT ALL MIN) SUBJECT nothing-like-this")
    items = [x for x in r.named("ESEARCH")[0][2:] if not isinstance(x, list)]
    assert [x.upper() if isinstance(x, str) else x for x in items] == ["COUNT", "0"]
    # imaplib's search() in a plain session (no ESEARCH there).
    i = peer.login(ALICE)
    i.select("INBOX", readonly=True)
    typ, data = i.search(None, "FLAGGED")
    assert data == [b"2"]
    i.logout()


def test_sort(box):
    """SORT (RFC 5256)."""
    peer, c, uids = box

    def sort(keys, criteria="ALL", uid=False):
        r = c.ok("%sSORT (%s) UTF-8 %s" % ("UID " if uid else "", keys, criteria))
        s = r.named("SORT")
        assert len(s) == 1
        return [int(x) for x in s[0][2:]]

    assert sort("ARRIVAL") == [1, 2, 3, 4, 5, 6, 7]
    assert sort("REVERSE ARRIVAL") == [7, 6, 5, 4, 3, 2, 1]
    assert sort("DATE") == [1, 2, 3, 4, 5, 6, 7]
    assert sort("REVERSE SIZE")[0] == 6
    # SUBJECT: the base subject (Re: and encoded-words undone), ties by
    # message number: "Base64 greeting", "Big attachment", "Lunch on
    # Friday" x3, "QP note", "Straßenfest im März".
    assert sort("SUBJECT") == [3, 6, 1, 5, 7, 4, 2]
    assert sort("FROM") == [5, 1, 6, 7, 2, 3, 4]      # alice ann ann ann bob carl dora
    assert sort("SUBJECT", "UNSEEN") == [3, 6, 7, 2]
    assert sort("ARRIVAL", uid=True) == uids


def test_thread(box):
    """THREAD (RFC 5256): REFERENCES links 1 <- 5 <- 7; ORDEREDSUBJECT
    groups by base subject."""
    peer, c, uids = box
    r = c.ok("THREAD REFERENCES UTF-8 ALL")
    th = r.named("THREAD")
    assert len(th) == 1
    threads = th[0][2:]
    assert ["1", "5", "7"] in threads or ["1", ["5", "7"]] in threads or \
        ["1", "5", ["7"]] in threads, threads
    flat = sorted(int(x) for t_ in threads for x in flatten(t_))
    assert flat == [1, 2, 3, 4, 5, 6, 7]
    assert sum(1 for t_ in threads if len(flatten(t_)) == 1) == 4
    r = c.ok("THREAD ORDEREDSUBJECT UTF-8 ALL")
    threads = r.named("THREAD")[0][2:]
    lunch = [t_ for t_ in threads if "1" in flatten(t_)][0]
    assert sorted(flatten(lunch)) == ["1", "5", "7"]
    # UID THREAD.
    r = c.ok("UID THREAD REFERENCES UTF-8 ALL")
    flat = sorted(int(x) for t_ in r.named("THREAD")[0][2:] for x in flatten(t_))
    assert flat == uids


def flatten(x):
    if isinstance(x, list):
        return [y for z in x for y in flatten(z)]
    return [x]
