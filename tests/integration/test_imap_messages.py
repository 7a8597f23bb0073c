"""IMAP messages: APPEND (flags, date, MULTIAPPEND, APPENDUID, LITERAL+),
byte-exact round trips (delivered, appended: 8-bit, 5 MB), FETCH (every
item), STORE (+FLAGS, -FLAGS, FLAGS, .SILENT, keywords, UNCHANGEDSINCE),
COPY/MOVE with COPYUID, the UID variants, EXPUNGE, UID EXPUNGE, CLOSE,
UNSELECT, CHECK."""
import base64
import calendar
import random
import re
import time

import pytest

from imapenv import (ALICE, BOB, append, appenduid, dovecot_differs, exists_of,  # noqa: F401
                     header_prefix_ok, imap_factory, imap_server, message, quote, seq_to_list,
                     session, status_codes, tern_only)
from tern_harness import t

REVS = [1, pytest.param(2, marks=dovecot_differs("no IMAP4rev2"))]

ATTACHMENT = bytes(range(256)) * 3
ATTACHMENT_B64 = base64.encodebytes(ATTACHMENT).replace(b"\n", b"\r\n")
HTML = b"<p>Hello, <b>world</b></p>"
MIXED = (b'From: "Ann Example" <ann@example.net>\r\n'
         b"To: Bob <bob@example.test>, carol@example.test\r\n"
         b"Cc: <cc@example.net>\r\n"
         b"Subject: Report for Q1\r\n"
         b"Date: Tue, 02 Jan 2024 09:30:00 +0100\r\n"
         b"Message-ID: <part.1@example.net>\r\n"
         b"In-Reply-To: <parent@example.net>\r\n"
         b"MIME-Version: 1.0\r\n"
         b'Content-Type: multipart/mixed; boundary="outer"\r\n'
         b"\r\n"
         b"This is a preamble.\r\n"
         b"--outer\r\n"
         b'Content-Type: multipart/alternative; boundary="inner"\r\n'
         b"\r\n"
         b"--inner\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: quoted-printable\r\n"
         b"\r\n"
         b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln\r\n"
         b"--inner\r\n"
         b"Content-Type: text/html; charset=utf-8\r\n"
         b"\r\n" + HTML + b"\r\n"
         b"--inner--\r\n"
         b"--outer\r\n"
         b'Content-Type: application/octet-stream; name="data.bin"\r\n'
         b"Content-Transfer-Encoding: base64\r\n"
         b'Content-Disposition: attachment; filename="data.bin"\r\n'
         b"\r\n" + ATTACHMENT_B64 +
         b"--outer--\r\n")


def item(f, prefix):
    """The value of the one FETCH item whose name starts with prefix
    (case-insensitively: servers may echo HEADER.FIELDS names as given)."""
    keys = [k for k in f if isinstance(k, str) and k.upper().startswith(prefix.upper())]
    assert len(keys) == 1, (prefix, list(f))
    return f[keys[0]]


def text(x):
    return x.decode() if isinstance(x, bytes) else x


def imap_time(s):
    """An INTERNALDATE ("02-Jan-2024 09:30:00 +0100") as a Unix time."""
    m = re.match(r" ?(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$", s)
    assert m, s
    mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec"].index(m.group(2)) + 1
    utc = calendar.timegm((int(m.group(3)), mon, int(m.group(1)), int(m.group(4)),
                           int(m.group(5)), int(m.group(6))))
    off = (int(m.group(8)) * 60 + int(m.group(9))) * 60
    return utc - off if m.group(7) == "+" else utc + off


def files_of(box):
    return [p for d in ("new", "cur") for p in (box / d).iterdir()]


# -------------------------------------------------------------- APPEND --

def test_append_flags_date_appenduid(imap_server):
    c = session(imap_server)
    r = append(c, "INBOX", message("flagged"), flags=["\\Seen", "\\Flagged", "$Work"],
               date="02-Jan-2024 09:30:00 +0100")
    uidvalidity, (uid,) = appenduid(r)
    r = c.ok("SELECT INBOX")
    assert status_codes(r)["UIDVALIDITY"] == str(uidvalidity)
    r = c.ok("UID FETCH %d (UID FLAGS INTERNALDATE)" % uid)
    f = r.fetches()[1]
    assert int(f["UID"]) == uid
    assert {"\\Seen", "\\Flagged", "$Work"} <= set(f["FLAGS"]), f
    assert imap_time(text(f["INTERNALDATE"])) == imap_time("02-Jan-2024 09:30:00 +0100")
    # The selected session learns of its own APPEND (EXISTS).
    r = append(c, "INBOX", message("second"))
    _, (uid2,) = appenduid(r)
    assert uid2 == uid + 1
    r = c.ok("NOOP")
    assert exists_of(r) in (None, 2)
    assert exists_of(c.ok("SELECT INBOX")) == 2
    c.logout()


def test_append_multiappend_and_literal_plus(imap_server):
    c = session(imap_server)
    caps = c.capabilities()
    assert "MULTIAPPEND" in caps and "LITERAL+" in caps
    m1, m2, m3 = message("one"), message("two"), message("three")
    # MULTIAPPEND (RFC 3502): several messages in one command, each with
    # its own flags; APPENDUID gives the set.
    r = c.command_lit(["APPEND INBOX (\\Seen) {%d}" % len(m1), m1,
                       " (\\Draft) {%d}" % len(m2), m2, ""])
    uidvalidity, uids = appenduid(r)
    assert len(uids) == 2
    # LITERAL+ (RFC 7888): the literal follows at once, no "+" waited for.
    r = c.command(b"APPEND INBOX {%d+}\r\n" % len(m3) + m3)
    _, (uid3,) = appenduid(r)
    assert uid3 == uids[-1] + 1
    c.ok("SELECT INBOX")
    r = c.ok("FETCH 1:3 (FLAGS BODY.PEEK[])")
    f = r.fetches()
    assert [f[i]["BODY[]"] for i in (1, 2, 3)] == [m1, m2, m3]
    assert "\\Seen" in f[1]["FLAGS"] and "\\Draft" in f[2]["FLAGS"]
    c.logout()


def test_append_to_missing_folder_trycreate(imap_server):
    c = session(imap_server)
    r = append(c, "Nowhere", message("lost"))
    assert r.status == "NO" and "TRYCREATE" in r.text, r
    # An empty message is refused or stored; a zero-octet literal does
    # not break the session.
    r = c.command_lit(["APPEND INBOX {0}", b"", ""])
    assert r.status in ("OK", "NO", "BAD"), r
    c.ok("NOOP")
    c.logout()


def test_append_with_imaplib(imap_server):
    i = imap_server.login(BOB)
    msg = message("imaplib append", to=BOB)
    typ, data = i.append("INBOX", "(\\Seen)", imaplib_time(), msg)
    assert typ == "OK" and b"APPENDUID" in data[0], data
    i.select("INBOX")
    typ, data = i.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == msg
    i.logout()


def imaplib_time():
    import imaplib
    return imaplib.Time2Internaldate(time.time())


# ---------------------------------------------------- byte-exact trips --

def eight_bit():
    return ("From: <sender@example.net>\r\nTo: <alice@example.test>\r\n"
            "Subject: 8-bit caf\u00e9\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "h\u00e9llo w\u00f6rld \u20ac \u65e5\u672c\u8a9e\r\n"
            "\u00a0no-break space, \u00df, \u00e6\u00f8\u00e5\r\n"
            ".\r\n..\r\n.leading dot\r\n"
            "trailing spaces   \r\n\ttab\r\n\r\n\r\n").encode()


def big_message(size=5 << 20, seed=5):
    rnd = random.Random(seed)
    lines, n = [], 0
    while n < size:
        line = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789 .,-") for _ in
                       range(rnd.randrange(0, 998 if rnd.random() < 0.01 else 77)))
        lines.append(line)
        n += len(line) + 2
    return ("From: <sender@example.net>\r\nSubject: five megabytes\r\n\r\n"
            + "\r\n".join(lines) + "\r\n").encode()


def test_delivered_message_comes_out_byte_exact(imap_server):
    """In by SMTP (tern) or LMTP (Dovecot), out of BODY[]: the server's
    trace fields, then exactly the octets sent, CRLF line ends, equal to
    the file in the Maildir; RFC822.SIZE is its length."""
    sent = [imap_server.deliver(ALICE, eight_bit()),
            imap_server.deliver(ALICE, message("plain one", "line\r\n.\r\n..dots\r\n"))]
    c = session(imap_server, select="INBOX")
    r = c.ok("FETCH 1:2 (BODY.PEEK[] RFC822.SIZE)")
    files = {p.read_bytes() for p in files_of(imap_server.maildir(ALICE))}
    for n, body in ((1, sent[0]), (2, sent[1])):
        got = r.fetches()[n]["BODY[]"]
        assert got.endswith(body), got[-300:]
        assert header_prefix_ok(got[:len(got) - len(body)]), got[:500]
        assert int(r.fetches()[n]["RFC822.SIZE"]) == len(got)
        assert got in files
    c.logout()


@tern_only("SMTP's DATA (dot-stuffed) and BDAT into ternd")
def test_smtp_data_and_bdat_come_out_of_imap_byte_exact(imap_server):
    """What SMTP carries, dot-stuffed in DATA or in BDAT chunks, is what
    IMAP gives back, after tern's trace fields."""
    import smtplib
    body = eight_bit() + b".\r\n.x\r\n"
    tern = imap_server.tern
    with smtplib.SMTP("127.0.0.1", tern.port, timeout=t(10)) as s:
        s.sendmail("sender@example.net", [ALICE], body, mail_options=["BODY=8BITMIME"])
    imap_server.wait_in_maildir(ALICE, 1)
    c = tern.raw()
    c.ehlo()
    code, _ = c.cmd("MAIL FROM:<sender@example.net> BODY=8BITMIME")
    assert code == 250
    assert c.cmd("RCPT TO:<%s>" % ALICE)[0] == 250
    half = len(body) // 2
    c.send(b"BDAT %d\r\n" % half + body[:half])
    assert c.reply()[0] == 250
    c.send(b"BDAT %d LAST\r\n" % (len(body) - half) + body[half:])
    assert c.reply()[0] == 250
    c.close()
    imap_server.wait_in_maildir(ALICE, 2)
    i = session(imap_server, select="INBOX")
    f = i.ok("FETCH 1:2 (BODY.PEEK[])").fetches()
    for n in (1, 2):
        got = f[n]["BODY[]"]
        assert got.endswith(body) and header_prefix_ok(got[:len(got) - len(body)]), got[-200:]
    i.logout()


@pytest.mark.parametrize("kind", ["8bit", "5mb"])
def test_append_then_fetch_byte_exact(imap_server, kind):
    msg = eight_bit() if kind == "8bit" else big_message()
    c = session(imap_server, timeout=60)
    _, (uid,) = appenduid(append(c, "INBOX", msg))
    c.ok("SELECT INBOX")
    r = c.ok("UID FETCH %d (RFC822.SIZE BODY.PEEK[])" % uid)
    f = r.fetches()[1]
    assert int(f["RFC822.SIZE"]) == len(msg)
    assert f["BODY[]"] == msg, "differs at octet %d" % next(
        (i for i, (a, b) in enumerate(zip(f["BODY[]"], msg)) if a != b), len(msg))
    # On disk: the same octets (both servers store CRLF here).
    assert [p.read_bytes() for p in files_of(imap_server.maildir(ALICE))] == [msg]
    # In pieces (partial fetches), as clients do for large messages.
    got = b""
    while len(got) < len(msg):
        r = c.ok("UID FETCH %d (BODY.PEEK[]<%d.%d>)" % (uid, len(got), 1 << 20))
        got += item(r.fetches()[1], "BODY[]<")
    assert got == msg
    c.logout()


# --------------------------------------------------------------- FETCH --

@pytest.mark.parametrize("rev", REVS)
def test_fetch_every_item(imap_server, rev):
    c = session(imap_server, rev=rev)
    r = append(c, "INBOX", MIXED, flags=["\\Flagged"], date="02-Jan-2024 09:30:00 +0100")
    _, (uid,) = appenduid(r)
    c.ok("SELECT INBOX")
    r = c.ok("FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
    f = r.fetches()[1]
    assert int(f["UID"]) == uid
    assert f["FLAGS"] == ["\\Flagged"] or set(f["FLAGS"]) == {"\\Flagged", "\\Recent"}
    assert imap_time(text(f["INTERNALDATE"])) == imap_time("02-Jan-2024 09:30:00 +0100")
    assert int(f["RFC822.SIZE"]) == len(MIXED)
    env = f["ENVELOPE"]
    assert env[0] == b"Tue, 02 Jan 2024 09:30:00 +0100"
    assert env[1] == b"Report for Q1"
    assert env[2] == [[b"Ann Example", None, b"ann", b"example.net"]]
    assert env[3] == env[2] and env[4] == env[2]          # sender, reply-to
    assert env[5] == [[b"Bob", None, b"bob", b"example.test"],
                      [None, None, b"carol", b"example.test"]]
    assert env[6] == [[None, None, b"cc", b"example.net"]]
    assert env[7] is None
    assert env[8] == b"<parent@example.net>"
    assert env[9] == b"<part.1@example.net>"

    r = c.ok("FETCH 1 (BODYSTRUCTURE BODY)")
    f = r.fetches()[1]
    bs, b = f["BODYSTRUCTURE"], f["BODY"]
    # multipart/mixed of (multipart/alternative of text/plain, text/html)
    # and application/octet-stream.
    assert text(bs[2]).upper() == "MIXED" and text(b[2]).upper() == "MIXED"
    alt, att = bs[0], bs[1]
    assert text(alt[2]).upper() == "ALTERNATIVE"
    plain, html = alt[0], alt[1]
    assert [text(x).upper() for x in plain[:2]] == ["TEXT", "PLAIN"]
    assert [text(x).lower() for x in plain[2]] == ["charset", "utf-8"]
    assert text(plain[5]).upper() == "QUOTED-PRINTABLE"
    # Size and lines of the part's body, whose last CRLF belongs to the
    # boundary that follows: one line without a line end, 0 lines.
    assert int(plain[6]) == len(b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln") and int(plain[7]) == 0
    assert [text(x).upper() for x in html[:2]] == ["TEXT", "HTML"] and int(html[6]) == len(HTML)
    assert [text(x).upper() for x in att[:2]] == ["APPLICATION", "OCTET-STREAM"]
    assert text(att[5]).upper() == "BASE64" and int(att[6]) == len(ATTACHMENT_B64) - 2
    # Extension data: the boundary parameter, the disposition.
    assert [text(x).lower() for x in bs[3]] == ["boundary", "outer"]
    assert text(att[8][0]).lower() == "attachment"
    # BODY has no extension data.
    assert len(b) == 3 and len(b[1]) == 7

    hdr_fields = b"From: \"Ann Example\" <ann@example.net>\r\nSubject: Report for Q1\r\n\r\n"
    r = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject From)] BODY.PEEK[HEADER] "
             "BODY.PEEK[TEXT] BODY.PEEK[1.2] BODY.PEEK[1.1] BODY.PEEK[1.MIME] "
             "BODY.PEEK[2.MIME] BODY.PEEK[]<0.100> BODY.PEEK[HEADER.FIELDS.NOT (To Cc)])")
    f = r.fetches()[1]
    head, _, body = MIXED.partition(b"\r\n\r\n")
    assert item(f, "BODY[HEADER.FIELDS (") == hdr_fields
    assert f["BODY[HEADER]"] == head + b"\r\n\r\n"
    assert f["BODY[TEXT]"] == body
    assert f["BODY[1.2]"] == HTML
    assert f["BODY[1.1]"] == b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln"
    assert f["BODY[1.MIME]"] == b'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
    assert f["BODY[2.MIME]"] == (b'Content-Type: application/octet-stream; name="data.bin"\r\n'
                                 b"Content-Transfer-Encoding: base64\r\n"
                                 b'Content-Disposition: attachment; filename="data.bin"\r\n\r\n')
    assert f["BODY[]<0>"] == MIXED[:100]
    notto = item(f, "BODY[HEADER.FIELDS.NOT")
    assert not re.search(rb"^(To|Cc):", notto, re.M) and b"\r\nIn-Reply-To: " in notto
    assert notto == b"".join(l + b"\r\n" for l in head.split(b"\r\n")
                             if not re.match(rb"(To|Cc):", l)) + b"\r\n"

    # BINARY (RFC 3516): the decoded content and its size.
    r = c.ok("FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[1.1] BINARY.SIZE[1.1])")
    f = r.fetches()[1]
    assert f["BINARY[2]"] == ATTACHMENT
    assert int(f["BINARY.SIZE[2]"]) == len(ATTACHMENT)
    assert f["BINARY[1.1]"] == "Grüße aus Köln".encode()
    assert int(f["BINARY.SIZE[1.1]"]) == len("Grüße aus Köln".encode())
    # A partial of a section.
    r = c.ok("FETCH 1 (BODY.PEEK[2]<4.10>)")
    assert r.fetches()[1]["BODY[2]<4>"] == ATTACHMENT_B64[4:14]
    # A partial beyond the end: empty.
    r = c.ok("FETCH 1 (BODY.PEEK[1.2]<1000.10>)")
    assert r.fetches()[1]["BODY[1.2]<1000>"] == b""
    # A part that does not exist: empty (RFC 9051 6.4.5), not an error.
    r = c.command("FETCH 1 (BODY.PEEK[9])")
    assert r.status == "OK" and r.fetches()[1]["BODY[9]"] in (b"", None), r

    # MODSEQ (CONDSTORE, enabled by asking for it).
    r = c.ok("FETCH 1 (MODSEQ)")
    assert int(r.fetches()[1]["MODSEQ"][0]) >= 1
    # Non-PEEK BODY[] sets \Seen and says so.
    assert "\\Seen" not in c.ok("FETCH 1 (FLAGS)").fetches()[1]["FLAGS"]
    r = c.ok("FETCH 1 (BODY[])")
    f = r.fetches()[1]
    assert f["BODY[]"] == MIXED and "\\Seen" in f["FLAGS"], f.keys()
    # The macros.
    r = c.ok("FETCH 1 FULL")
    assert {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"} <= set(r.fetches()[1])
    c.logout()


def test_fetch_with_imaplib_and_rfc822(imap_server):
    imap_server.deliver(ALICE, MIXED)
    i = imap_server.login(ALICE)
    i.select("INBOX")
    typ, data = i.fetch("1", "(RFC822.HEADER RFC822.TEXT)")
    assert typ == "OK"
    got = [d[1] for d in data if isinstance(d, tuple)]
    assert got[1] == MIXED.partition(b"\r\n\r\n")[2]
    assert got[0].endswith(MIXED.partition(b"\r\n\r\n")[0] + b"\r\n\r\n")
    typ, data = i.uid("FETCH", "1:*", "(UID RFC822)")
    assert data[0][1].endswith(MIXED)
    i.logout()


# --------------------------------------------------------------- STORE --

@pytest.mark.parametrize("rev", REVS)
def test_store(imap_server, rev):
    for n in range(3):
        imap_server.deliver(ALICE, message("store %d" % n))
    c = session(imap_server, rev=rev, select="INBOX")

    def flags(r, n):
        return set(r.fetches()[n]["FLAGS"]) - {"\\Recent"}

    r = c.ok("STORE 1 +FLAGS (\\Flagged $Work)")
    assert flags(r, 1) == {"\\Flagged", "$Work"}
    r = c.ok("STORE 1 -FLAGS (\\Flagged)")
    assert flags(r, 1) == {"$Work"}
    r = c.ok("STORE 1:2 FLAGS (\\Answered \\Seen)")
    assert flags(r, 1) == flags(r, 2) == {"\\Answered", "\\Seen"}
    # .SILENT: no FETCH for the message changed.
    r = c.ok("STORE 3 +FLAGS.SILENT (\\Draft)")
    assert 3 not in r.fetches()
    assert flags(c.ok("FETCH 3 FLAGS"), 3) == {"\\Draft"}
    # A new keyword shows up in FLAGS and is permanent.
    r = c.ok("STORE 2 +FLAGS ($Label1)")
    assert "$Label1" in flags(r, 2)
    r = c.ok("SELECT INBOX")
    assert "$Label1" in r.named("FLAGS")[0][2]
    # The flags are in the Maildir file names (info 2,<letters>).
    names = sorted(p.name for p in files_of(imap_server.maildir(ALICE)))
    assert sum(n.endswith(":2,RS") or n.endswith(",RS") for n in names) == 1, names
    assert sum(re.search(r":2,[a-z]*D", n) is not None for n in names) == 1, names
    # UID STORE.
    r = c.ok("UID FETCH 1:* (UID)")
    uids = sorted(int(v["UID"]) for v in r.fetches().values())
    r = c.ok("UID STORE %d +FLAGS (\\Deleted)" % uids[2])
    assert int(r.fetches()[3]["UID"]) == uids[2]
    c.logout()


def test_store_unchangedsince_modified(imap_server):
    for n in range(2):
        imap_server.deliver(ALICE, message("condstore %d" % n))
    c = session(imap_server)
    r = c.ok("SELECT INBOX (CONDSTORE)")
    assert "HIGHESTMODSEQ" in status_codes(r)
    r = c.ok("FETCH 1:2 (MODSEQ)")
    m1 = int(r.fetches()[1]["MODSEQ"][0])
    c.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    m2 = int(c.ok("FETCH 2 (MODSEQ)").fetches()[2]["MODSEQ"][0])
    assert m2 > m1
    # Message 1 is unchanged since m1, message 2 is not: only 1 is stored,
    # and the OK says [MODIFIED 2].
    r = c.command("STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % m1)
    assert r.status == "OK" and status_codes(r).get("MODIFIED") == "2", r
    f = c.ok("FETCH 1:2 (FLAGS MODSEQ)").fetches()
    assert "\\Seen" in f[1]["FLAGS"] and "\\Seen" not in f[2]["FLAGS"]
    assert int(f[1]["MODSEQ"][0]) > m2
    # UID STORE: [MODIFIED uid].
    uid2 = int(c.ok("FETCH 2 (UID)").fetches()[2]["UID"])
    r = c.command("UID STORE %d (UNCHANGEDSINCE %d) -FLAGS (\\Flagged)" % (uid2, m1))
    assert status_codes(r).get("MODIFIED") == str(uid2), r
    c.logout()


# ----------------------------------------------------------- COPY/MOVE --

def test_copy_and_move(imap_server):
    for n in range(4):
        imap_server.deliver(ALICE, message("copy %d" % n, "body %d\r\n" % n))
    c = session(imap_server, select="INBOX")
    uids = sorted(int(v["UID"]) for v in c.ok("FETCH 1:* (UID)").fetches().values())
    c.ok("STORE 1 +FLAGS.SILENT (\\Flagged $Keep)")
    # COPY: COPYUID (RFC 4315) with the source and destination UIDs.
    r = c.ok("COPY 1:2 Trash")
    m = re.match(r"COPYUID (\d+) (\S+) (\S+)$", status_codes(r) and
                 "COPYUID " + status_codes(r)["COPYUID"])
    assert m, r.text
    assert seq_to_list(m.group(2)) == uids[:2]
    dest = seq_to_list(m.group(3))
    r = c.ok("STATUS Trash (MESSAGES UIDVALIDITY)")
    st = r.named("STATUS")[0][3]
    assert st[1] == "2" and st[3] == m.group(1)
    # The copies keep their flags and octets.
    c.ok("EXAMINE Trash")
    f = c.ok("UID FETCH %d (FLAGS BODY.PEEK[TEXT])" % dest[0]).fetches()[1]
    assert {"\\Flagged", "$Keep"} <= set(f["FLAGS"]) and f["BODY[TEXT]"] == b"body 0\r\n"
    c.ok("SELECT INBOX")
    # UID COPY.
    r = c.ok("UID COPY %d Archive" % uids[3])
    assert status_codes(r)["COPYUID"].split()[1] == str(uids[3])
    # MOVE (RFC 6851): COPYUID, then the EXPUNGE of the source.
    r = c.ok("MOVE 2 Junk")
    codes = status_codes(r)
    assert codes["COPYUID"].split()[1] == str(uids[1]), r
    assert [u[1] for u in r.named("EXPUNGE")] == ["2"], r.untagged
    # UID MOVE.
    r = c.ok("UID MOVE %d Junk" % uids[0])
    assert [u[1] for u in r.named("EXPUNGE")] == ["1"], r.untagged
    r = c.ok("UID FETCH 1:* (UID)")
    assert sorted(int(v["UID"]) for v in r.fetches().values()) == [uids[2], uids[3]]
    assert c.ok("STATUS Junk (MESSAGES)").named("STATUS")[0][3] == ["MESSAGES", "2"]
    # To a missing folder: NO [TRYCREATE], nothing moves.
    r = c.command("COPY 1 Missing")
    assert r.status == "NO" and "TRYCREATE" in r.text
    r = c.command("MOVE 1 Missing")
    assert r.status == "NO" and "TRYCREATE" in r.text
    assert exists_of(c.ok("SELECT INBOX")) == 2
    c.logout()


# ------------------------------------------- EXPUNGE, CLOSE, UNSELECT --

def test_expunge_close_unselect_check(imap_server):
    for n in range(5):
        imap_server.deliver(ALICE, message("exp %d" % n))
    c = session(imap_server, select="INBOX")
    uids = sorted(int(v["UID"]) for v in c.ok("FETCH 1:* (UID)").fetches().values())
    c.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    c.ok("CHECK")
    # UNSELECT does not expunge.
    c.ok("UNSELECT")
    assert exists_of(c.ok("SELECT INBOX")) == 5
    # EXPUNGE: one untagged EXPUNGE per message, each number as it is at
    # that moment (4 then 2, or 2 then 3).
    r = c.ok("EXPUNGE")
    got = [int(u[1]) for u in r.named("EXPUNGE")]
    assert got in ([4, 2], [2, 3]), got
    r = c.ok("UID FETCH 1:* (UID)")
    assert sorted(int(v["UID"]) for v in r.fetches().values()) == [uids[0], uids[2], uids[4]]
    # UID EXPUNGE (UIDPLUS): only the UIDs given, though more are \Deleted.
    c.ok("UID STORE %d,%d +FLAGS.SILENT (\\Deleted)" % (uids[0], uids[2]))
    r = c.ok("UID EXPUNGE %d" % uids[2])
    assert [u[1] for u in r.named("EXPUNGE")] == ["2"]
    r = c.ok("UID FETCH 1:* (UID FLAGS)")
    left = {int(v["UID"]): v["FLAGS"] for v in r.fetches().values()}
    assert sorted(left) == [uids[0], uids[4]] and "\\Deleted" in left[uids[0]]
    # CLOSE expunges \Deleted silently and leaves the selected state.
    r = c.ok("CLOSE")
    assert r.named("EXPUNGE") == []
    assert c.command("FETCH 1 FLAGS").status == "BAD"
    r = c.ok("SELECT INBOX")
    assert exists_of(r) == 1
    # CLOSE of a read-only mailbox expunges nothing.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXAMINE INBOX")
    c.ok("CLOSE")
    assert exists_of(c.ok("SELECT INBOX")) == 1
    assert len(files_of(imap_server.maildir(ALICE))) == 1
    c.logout()


def test_expunge_with_imaplib(imap_server):
    for n in range(3):
        imap_server.deliver(BOB, message("imaplib exp %d" % n, to=BOB))
    i = imap_server.login(BOB)
    i.select("INBOX")
    i.store("1:2", "+FLAGS", "\\Deleted")
    typ, data = i.expunge()
    assert typ == "OK" and sorted(data) in ([b"1", b"1"], [b"1", b"2"]), data
    typ, data = i.search(None, "ALL")
    assert data == [b"1"]
    i.close()
    i.logout()


def test_sequence_sets_and_star(imap_server):
    for n in range(5):
        imap_server.deliver(ALICE, message("seq %d" % n))
    c = session(imap_server, select="INBOX")
    assert sorted(c.ok("FETCH 2:4 (UID)").fetches()) == [2, 3, 4]
    assert sorted(c.ok("FETCH 4:2 (UID)").fetches()) == [2, 3, 4]
    assert sorted(c.ok("FETCH 1,3,5 (UID)").fetches()) == [1, 3, 5]
    assert sorted(c.ok("FETCH *:4 (UID)").fetches()) == [4, 5]
    assert sorted(c.ok("FETCH * (UID)").fetches()) == [5]
    # UID ranges past the end: the last message for "*", none for others.
    top = int(c.ok("FETCH 5 (UID)").fetches()[5]["UID"])
    assert sorted(c.ok("UID FETCH %d:* (UID)" % (top + 10)).fetches()) == [5]
    r = c.ok("UID FETCH %d (UID)" % (top + 10))
    assert r.fetches() == {}
    # A message number past the end: BAD (RFC 9051 6.4.5's "invalid").
    assert c.command("FETCH 9 (UID)").status in ("BAD", "NO")
    c.logout()
