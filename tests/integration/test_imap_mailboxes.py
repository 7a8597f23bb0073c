"""IMAP mailboxes: SELECT/EXAMINE (their untagged answers), CREATE,
DELETE, RENAME (INBOX too), SUBSCRIBE/UNSUBSCRIBE/LSUB, LIST (* and %,
LIST-EXTENDED selection and return options, SPECIAL-USE, LIST-STATUS),
STATUS (SIZE, HIGHESTMODSEQ), GETQUOTAROOT/GETQUOTA, in both revisions
where they differ. Folders are Maildir++ directories (.Name) of the
user's Maildir, '.' the hierarchy separator, as Dovecot keeps them."""
import re

import pytest

from imapenv import (ALICE, CAROL, CAROL_QUOTA_KB, SPECIAL_USE, append, appenduid,  # noqa: F401
                     dovecot_differs, exists_of, imap_factory, imap_server, message, quote,
                     session, status_codes)

REVS = [1, pytest.param(2, marks=dovecot_differs("no IMAP4rev2"))]


def listed(r, verb="LIST"):
    """{name: set of attributes} of the LIST (or LSUB) responses."""
    out = {}
    for u in r.named(verb):
        name = u[4].decode() if isinstance(u[4], bytes) else u[4]
        assert u[3] == b".", u
        out[name] = {a.upper() for a in u[2]}
    return out


def text(x):
    """An atom (str) or a string (bytes) as str."""
    return x.decode() if isinstance(x, bytes) else x


def deliver3(peer, user=ALICE):
    for i in range(3):
        peer.deliver(user, message("m%d" % i, "body %d\r\n" % i))


# -------------------------------------------------------- SELECT/EXAMINE --

@pytest.mark.parametrize("rev", REVS)
def test_select_and_examine(imap_server, rev):
    deliver3(imap_server)
    c = session(imap_server, rev=rev)
    r = c.ok("SELECT INBOX")
    flags = r.named("FLAGS")
    assert len(flags) == 1
    assert {f.upper() for f in flags[0][2]} >= {"\\ANSWERED", "\\FLAGGED", "\\DELETED",
                                                "\\SEEN", "\\DRAFT"}
    assert exists_of(r) == 3
    codes = status_codes(r)
    assert int(codes["UIDVALIDITY"]) > 0
    assert codes["UIDNEXT"] == "4"
    assert "\\*" in codes["PERMANENTFLAGS"] and "\\Deleted" in codes["PERMANENTFLAGS"]
    assert "READ-WRITE" in codes
    if rev == 1:
        assert [u[1] for u in r.named("RECENT")] in (["3"], ["0"]), r.untagged
    else:
        assert r.named("RECENT") == []
    uidvalidity = codes["UIDVALIDITY"]
    # EXAMINE: the same, read-only; STORE is refused, nothing changes.
    r = c.ok("EXAMINE INBOX")
    codes = status_codes(r)
    assert "READ-ONLY" in codes and codes["UIDVALIDITY"] == uidvalidity
    assert exists_of(r) == 3
    # STORE: NO, or OK with nothing stored (Dovecot: "Store ignored").
    r = c.command("STORE 1 +FLAGS (\\Deleted)")
    assert r.status in ("NO", "OK"), r
    r = c.ok("FETCH 1 (BODY[TEXT])")      # no \Seen from a read-only session
    r = c.ok("FETCH 1 (FLAGS)")
    assert not {"\\Seen", "\\Deleted"} & set(r.fetches()[1]["FLAGS"])
    # SELECT of what does not exist: NO, and nothing is selected any more.
    r = c.command("SELECT nosuchbox")
    assert r.status == "NO", r
    assert c.command("FETCH 1 FLAGS").status == "BAD"
    c.logout()


def test_select_with_imaplib(imap_server):
    deliver3(imap_server)
    i = imap_server.login(ALICE)
    typ, data = i.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    assert i.response("UIDNEXT")[1] == [b"4"]
    assert i.response("UIDVALIDITY")[1][0].isdigit()
    typ, data = i.select("INBOX", readonly=True)
    assert typ == "OK" and data == [b"3"]
    assert i.response("READ-ONLY")[1] == [b""] or i.is_readonly
    i.logout()


# ------------------------------------------------- CREATE/DELETE/RENAME --

def test_create_delete(imap_server):
    c = session(imap_server)
    c.ok("CREATE Projects")
    r = c.command("CREATE Projects")
    assert r.status == "NO", r
    c.ok("CREATE Projects.2024.Q1")
    r = c.ok('LIST "" Projects*')
    got = listed(r)
    assert set(got) == {"Projects", "Projects.2024", "Projects.2024.Q1"}, got
    assert "\\HASCHILDREN" in got["Projects"]
    assert "\\HASNOCHILDREN" in got["Projects.2024.Q1"]
    box = imap_server.maildir(ALICE)
    assert (box / ".Projects.2024.Q1" / "cur").is_dir()
    # A trailing separator: the name without it (RFC 9051 6.3.4).
    c.ok("CREATE Other.")
    assert set(listed(c.ok('LIST "" Other'))) == {"Other"}
    # DELETE: the leaf, then the parent (it has no children left).
    append(c, "Projects.2024.Q1", message("x"))
    c.ok("DELETE Projects.2024.Q1")
    assert not (box / ".Projects.2024.Q1").exists()
    # Projects.2024 may never have been a folder of its own (Maildir++
    # keeps only .Projects.2024.Q1; RFC 9051 6.3.4 says SHOULD create it).
    assert c.command("DELETE Projects.2024").status in ("OK", "NO")
    c.ok("DELETE Projects")
    assert listed(c.ok('LIST "" Projects*')) == {}
    r = c.command("DELETE Projects")
    assert r.status == "NO", r
    # INBOX cannot be deleted.
    r = c.command("DELETE INBOX")
    assert r.status == "NO", r
    # Nor created.
    assert c.command("CREATE INBOX").status == "NO"
    c.logout()


def test_create_utf7_name(imap_server):
    """Non-ASCII names travel in modified UTF-7 (RFC 3501 5.1.3) and are
    stored so on disk (Dovecot's default)."""
    c = session(imap_server)
    c.ok("CREATE R&AOk-sum&AOk-")          # Résumé
    r = c.ok('LIST "" R*')
    assert set(listed(r)) == {"R&AOk-sum&AOk-"}
    assert (imap_server.maildir(ALICE) / ".R&AOk-sum&AOk-").is_dir()
    # Badly encoded: refused.
    assert c.command("CREATE R&Jjo").status in ("NO", "BAD")
    c.logout()


def test_rename(imap_server):
    c = session(imap_server)
    c.ok("CREATE Old")
    c.ok("CREATE Old.Child")
    uidv, uids = appenduid(append(c, "Old", message("kept across the rename")))
    c.ok("RENAME Old New")
    got = listed(c.ok('LIST "" *'))
    assert "New" in got and "New.Child" in got and "Old" not in got and "Old.Child" not in got
    r = c.ok("SELECT New")
    assert exists_of(r) == 1
    r = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"kept across the rename" in r.fetches()[1]["BODY[HEADER.FIELDS (SUBJECT)]"]
    c.ok("UNSELECT")
    # Onto an existing name, or from a missing one: NO.
    c.ok("CREATE Taken")
    assert c.command("RENAME New Taken").status == "NO"
    assert c.command("RENAME Missing Whatever").status == "NO"
    c.logout()


@dovecot_differs("Dovecot's Maildir refuses RENAME INBOX: NO [CANNOT] Renaming INBOX "
                 "isn't supported")
def test_rename_inbox_moves_its_messages(imap_server):
    """RENAME INBOX (RFC 9051 6.3.6): every message moves to the new
    folder, INBOX stays, empty; new mail goes to INBOX."""
    deliver3(imap_server)
    c = session(imap_server)
    c.ok("RENAME INBOX Saved")
    r = c.ok("SELECT Saved")
    assert exists_of(r) == 3
    r = c.ok("FETCH 1:3 (BODY.PEEK[TEXT])")
    assert sorted(v["BODY[TEXT]"] for v in r.fetches().values()) == \
        [b"body 0\r\n", b"body 1\r\n", b"body 2\r\n"]
    r = c.ok("SELECT INBOX")
    assert exists_of(r) == 0
    assert "INBOX" in listed(c.ok('LIST "" INBOX'))
    imap_server.deliver(ALICE, message("after"))
    r = c.ok("NOOP")
    r = c.ok("STATUS INBOX (MESSAGES)")
    assert r.named("STATUS")[0][3] == ["MESSAGES", "1"]
    c.logout()


# ----------------------------------------------------------- SUBSCRIBE --

def test_subscribe_lsub(imap_server):
    c = session(imap_server)
    c.ok("CREATE Lists")
    c.ok("CREATE Lists.Sub")
    c.ok("SUBSCRIBE Lists.Sub")
    r = c.ok('LSUB "" *')
    subs = listed(r, "LSUB")
    assert "Lists.Sub" in subs
    # The special-use folders are subscribed from the start.
    assert set(SPECIAL_USE) <= set(subs), subs
    # LIST (SUBSCRIBED): the same set, with \Subscribed.
    r = c.ok('LIST (SUBSCRIBED) "" *')
    got = listed(r)
    assert set(got) == set(subs)
    assert all("\\SUBSCRIBED" in a for a in got.values())
    # LSUB with %: Lists has no subscription but a subscribed child:
    # \Noselect (RFC 3501 6.3.9).
    r = c.ok('LSUB "" %')
    top = listed(r, "LSUB")
    assert "\\NOSELECT" in top.get("Lists", {"\\NOSELECT"})
    c.ok("UNSUBSCRIBE Lists.Sub")
    assert "Lists.Sub" not in listed(c.ok('LSUB "" *'), "LSUB")
    # A name that does not exist can be subscribed (RFC 3501 6.3.6 says
    # a server may allow it): either OK or NO, and the session goes on.
    assert c.command("SUBSCRIBE Nowhere").status in ("OK", "NO")
    c.logout()


# ---------------------------------------------------------------- LIST --

def make_tree(c):
    for name in ("a", "a.b", "a.b.c", "x"):
        c.ok("CREATE %s" % name)


def test_list_patterns(imap_server):
    c = session(imap_server)
    make_tree(c)
    everything = set(listed(c.ok('LIST "" *')))
    assert everything == {"INBOX", "a", "a.b", "a.b.c", "x"} | set(SPECIAL_USE), everything
    top = set(listed(c.ok('LIST "" %')))
    assert top == {"INBOX", "a", "x"} | set(SPECIAL_USE), top
    assert set(listed(c.ok('LIST "" a.%'))) == {"a.b"}
    assert set(listed(c.ok('LIST "" a.*'))) == {"a.b", "a.b.c"}
    assert set(listed(c.ok('LIST "" %.%'))) == {"a.b"}
    assert set(listed(c.ok('LIST a. %'))) == {"a.b"}
    assert set(listed(c.ok('LIST "" inbox'))) == {"INBOX"}     # INBOX in any case
    assert listed(c.ok('LIST "" nothing*')) == {}
    # "" as pattern: the hierarchy separator and the root.
    r = c.ok('LIST "" ""')
    assert len(r.named("LIST")) == 1
    u = r.named("LIST")[0]
    assert "\\NOSELECT" in {a.upper() for a in u[2]} and u[3] == b"." and u[4] in (b"", "")
    # imaplib's list().
    i = imap_server.login(ALICE)
    typ, data = i.list('""', "a*")
    assert typ == "OK" and len(data) == 3, data
    i.logout()
    c.logout()


def test_list_extended(imap_server):
    """LIST-EXTENDED (RFC 5258): selection options, return options,
    several patterns."""
    c = session(imap_server)
    make_tree(c)
    c.ok("SUBSCRIBE a.b.c")
    # Several patterns at once.
    assert set(listed(c.ok('LIST "" ("a" "x")'))) == {"a", "x"}
    # SUBSCRIBED: only subscribed names; RECURSIVEMATCH with %: a parent
    # of a subscribed folder gets CHILDINFO ("SUBSCRIBED").
    r = c.ok('LIST (SUBSCRIBED) "" a*')
    assert set(listed(r)) == {"a.b.c"}
    r = c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" %')
    a = [u for u in r.named("LIST") if u[4] in (b"a", "a")]
    assert a, r.untagged
    # ("CHILDINFO" ("SUBSCRIBED")): astrings, so atoms or quoted.
    assert len(a[0]) > 5 and text(a[0][5][0]).upper() == "CHILDINFO", a
    assert [text(x).upper() for x in a[0][5][1]] == ["SUBSCRIBED"], a
    # RETURN (CHILDREN SUBSCRIBED).
    got = listed(c.ok('LIST "" * RETURN (CHILDREN SUBSCRIBED)'))
    assert "\\HASCHILDREN" in got["a"] and "\\HASNOCHILDREN" in got["x"]
    assert "\\SUBSCRIBED" in got["a.b.c"] and "\\SUBSCRIBED" not in got["a"]
    # RECURSIVEMATCH alone is BAD (RFC 5258 3.1).
    assert c.command('LIST (RECURSIVEMATCH) "" *').status == "BAD"
    c.logout()


def test_special_use(imap_server):
    """The five special-use folders (RFC 6154) exist from the first login,
    with their attributes, in LIST and in LIST (SPECIAL-USE)."""
    c = session(imap_server)
    got = listed(c.ok('LIST "" *'))
    for name, use in SPECIAL_USE.items():
        assert use.upper() in got[name], (name, got[name])
        # Selectable, and a Maildir++ folder on disk (by then at least:
        # Dovecot makes its auto folders' directories when first used).
        c.ok("SELECT %s" % name)
        assert (imap_server.maildir(ALICE) / ("." + name) / "cur").is_dir()
    assert not any(a & {u.upper() for u in SPECIAL_USE.values()} for n, a in got.items()
                   if n not in SPECIAL_USE)
    r = c.ok('LIST (SPECIAL-USE) "" *')
    assert set(listed(r)) == set(SPECIAL_USE)
    r = c.ok('LIST "" % RETURN (SPECIAL-USE)')
    assert {n for n, a in listed(r).items() if a & {u.upper() for u in SPECIAL_USE.values()}} \
        == set(SPECIAL_USE)
    c.logout()


def test_list_status(imap_server):
    """LIST-STATUS (RFC 5819): a STATUS after each selectable LIST line."""
    deliver3(imap_server)
    c = session(imap_server)
    c.ok("CREATE Empty")
    r = c.ok('LIST "" % RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))')
    names = [u[4].decode() if isinstance(u[4], bytes) else u[4] for u in r.named("LIST")]
    statuses = {}
    for u in r.named("STATUS"):
        name = u[2].decode() if isinstance(u[2], bytes) else u[2]
        statuses[name] = {u[3][i].upper(): int(u[3][i + 1]) for i in range(0, len(u[3]), 2)}
    assert set(statuses) == set(names)
    assert statuses["INBOX"] == {"MESSAGES": 3, "UNSEEN": 3, "UIDNEXT": 4}
    assert statuses["Empty"] == {"MESSAGES": 0, "UNSEEN": 0, "UIDNEXT": 1}
    # Each STATUS follows its LIST.
    kinds = [u[1] for u in r.untagged]
    for i, k in enumerate(kinds):
        if k == "STATUS":
            assert kinds[i - 1] == "LIST"
    c.logout()


# --------------------------------------------------------------- STATUS --

def test_status(imap_server):
    deliver3(imap_server)
    c = session(imap_server)
    c.ok("SELECT INBOX")
    r = c.ok("FETCH 1:* (RFC822.SIZE)")
    total = sum(int(v["RFC822.SIZE"]) for v in r.fetches().values())
    c.ok("STORE 1 +FLAGS (\\Seen)")
    c.ok("UNSELECT")
    r = c.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ)")
    st = r.named("STATUS")
    assert len(st) == 1 and st[0][2] == "INBOX"
    items = {st[0][3][i].upper(): int(st[0][3][i + 1]) for i in range(0, len(st[0][3]), 2)}
    assert items["MESSAGES"] == 3 and items["UIDNEXT"] == 4 and items["UNSEEN"] == 2
    assert items["SIZE"] == total
    assert items["HIGHESTMODSEQ"] >= 1
    assert items["UIDVALIDITY"] > 0
    # STATUS of a missing mailbox: NO.
    assert c.command("STATUS Missing (MESSAGES)").status == "NO"
    # imaplib.
    i = imap_server.login(ALICE)
    typ, data = i.status("INBOX", "(MESSAGES UNSEEN)")
    assert typ == "OK" and data == [b'INBOX (MESSAGES 3 UNSEEN 2)'], data
    i.logout()
    c.logout()


@dovecot_differs("STATUS DELETED is IMAP4rev2's; Dovecot 2.3 has no IMAP4rev2")
def test_status_deleted_rev2(imap_server):
    deliver3(imap_server)
    c = session(imap_server, rev=2, select="INBOX")
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    c.ok("UNSELECT")
    r = c.ok("STATUS INBOX (MESSAGES DELETED)")
    assert r.named("STATUS")[0][3] == ["MESSAGES", "3", "DELETED", "1"]
    c.logout()


# ---------------------------------------------------------------- QUOTA --

def test_quota(imap_server):
    c = session(imap_server, user=CAROL)
    r = c.ok("GETQUOTAROOT INBOX")
    roots = r.named("QUOTAROOT")
    assert len(roots) == 1 and roots[0][2] == "INBOX" and len(roots[0]) == 4, r.untagged
    root = roots[0][3]
    quotas = r.named("QUOTA")
    assert len(quotas) == 1 and quotas[0][2] == root
    assert quotas[0][3] == ["STORAGE", "0", str(CAROL_QUOTA_KB)], quotas
    # 100 KiB in: usage counts it (in KiB, rounded down or up).
    big = message("big", "x" * 78 + "\r\n") + b"y" * 78 * 0 + b"z" * (100 * 1024)
    append(c, "INBOX", big)
    r = c.ok("GETQUOTA %s" % quote(root.decode() if isinstance(root, bytes) else root))
    q = r.named("QUOTA")[0][3]
    assert q[0] == "STORAGE" and q[2] == str(CAROL_QUOTA_KB)
    assert len(big) // 1024 <= int(q[1]) <= len(big) // 1024 + 1, q
    # Over the quota: APPEND is refused, NO [OVERQUOTA] (RFC 9208).
    r = append(c, "INBOX", message("huge", "h" * 1100 * 1024))
    assert r.status == "NO" and "OVERQUOTA" in r.text, r
    c.logout()
