"""IMAP sessions (RFC 9051 and 3501) before any mailbox is selected:
greeting, CAPABILITY, NOOP, LOGOUT, STARTTLS (and the plaintext pipelined
after it, which must be discarded), LOGINDISABLED, LOGIN and AUTHENTICATE
PLAIN (with SASL-IR and without), ENABLE, ID, NAMESPACE, COMPRESS=DEFLATE,
and malformed commands: each gets BAD (or NO) and the session goes on.

Driven with imaplib (Debian's Python) and, where a client cannot produce
the octets, a raw socket (imapenv.ImapRaw). Runs against tern or Dovecot
(TERN_IMAP_PEER, see imapenv.py)."""
import base64
import imaplib
import socket
import ssl

import pytest

from imapenv import (ALICE, BOB, IMAP_PASSWORDS, PEER, dovecot_differs, imap_factory,  # noqa: F401
                     imap_server, no_verify_ctx, quote, session)
from tern_harness import t

# A source address other than the server's: Dovecot counts a client whose
# address is its own (127.0.0.1 -> 127.0.0.1) as secured and offers
# cleartext LOGIN to it; from 127.0.0.2 both servers must refuse it.
OTHER = "127.0.0.2"


def plain_ir(user, password=None, authzid=""):
    password = IMAP_PASSWORDS[user] if password is None else password
    return base64.b64encode(("%s\0%s\0%s" % (authzid, user, password)).encode()).decode()


# -------------------------------------------------------- capabilities --

def test_greeting_capability_noop_logout(imap_server):
    c = imap_server.raw(tls=None, source=OTHER)
    # The greeting is * OK (with the capabilities in a response code, as
    # both do: then clients need no CAPABILITY command).
    assert c.greeting[:2] == ["*", "OK"]
    before = c.capabilities()
    assert "IMAP4REV1" in before
    assert "STARTTLS" in before
    assert "LOGINDISABLED" in before
    assert not any(x.startswith("AUTH=") for x in before), before
    if c.greeting[2].startswith("[CAPABILITY "):
        assert {x.upper() for x in c.greeting[2][1:-1].split()[1:]} == before
    r = c.ok("NOOP")
    assert r.untagged == []
    c.ok("STARTTLS")
    c.starttls()
    after = c.capabilities()
    assert "STARTTLS" not in after and "LOGINDISABLED" not in after
    assert "AUTH=PLAIN" in after
    c.ok("LOGIN %s %s" % (quote(ALICE), quote(IMAP_PASSWORDS[ALICE])))
    authed = c.capabilities()
    for cap in ("IMAP4REV1", "ENABLE", "IDLE", "NAMESPACE", "UIDPLUS", "MOVE", "CONDSTORE",
                "QRESYNC", "ESEARCH", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
                "BINARY", "MULTIAPPEND", "UNSELECT", "ID", "SORT", "THREAD=REFERENCES",
                "QUOTA", "COMPRESS=DEFLATE", "STATUS=SIZE", "SASL-IR", "LITERAL+"):
        assert cap in authed, (cap, sorted(authed))
    c.ok("NOOP")
    # LOGOUT: untagged BYE, the tagged OK, then the server closes.
    r = c.command("LOGOUT")
    assert r.status == "OK" and r.named("BYE"), r.untagged
    with pytest.raises((ConnectionError, OSError)):
        c.read_raw(timeout=t(5))


@dovecot_differs("no IMAP4rev2 (Dovecot 2.3 is an IMAP4rev1 server)")
def test_imap4rev2_offered(imap_server):
    c = session(imap_server)
    assert "IMAP4REV2" in c.capabilities()
    c.logout()


def test_implicit_tls_port(imap_server):
    c = imap_server.raw(tls="implicit")
    caps = c.capabilities()
    assert "STARTTLS" not in caps and "LOGINDISABLED" not in caps
    assert "AUTH=PLAIN" in caps
    c.ok("LOGIN %s %s" % (quote(BOB), quote(IMAP_PASSWORDS[BOB])))
    c.logout()
    # And imaplib's IMAP4_SSL.
    i = imap_server.imaps(ALICE)
    assert i.noop()[0] == "OK"
    assert i.logout()[0] == "BYE"


# ------------------------------------------------------------ STARTTLS --

def starttls_with_plaintext_after(imap_server):
    """STARTTLS with two more commands in the same packet; returns the
    ImapRaw after the OK to STARTTLS, nothing answered in the clear."""
    c = imap_server.raw(tls=None, source=OTHER)
    c.send(b"a1 STARTTLS\r\nb1 CAPABILITY\r\nb2 LOGIN alice@example.test x\r\n")
    r = c.until_tagged("a1")
    assert r.status == "OK", r
    # Nothing else may come in the clear (the server must not answer b1).
    assert c.buf == b""
    c.no_response(0.3, eof_ok=True)
    return c


def test_starttls_pipelined_plaintext_never_answered(imap_server):
    """Commands sent in the clear after STARTTLS, in the same packet,
    must not be run inside the TLS session (the STARTTLS injection of
    CVE-2011-0411's kind): either the server drops them and the
    handshake goes on, or the handshake fails on them; never an answer."""
    c = starttls_with_plaintext_after(imap_server)
    try:
        c.starttls()
    except (ssl.SSLError, ConnectionError):
        return
    r = c.command("CAPABILITY", tag="c1")
    assert b"b1 " not in r.raw and b"b2 " not in r.raw, r.raw


@dovecot_differs("Dovecot takes the plaintext after STARTTLS as the start of the TLS "
                 "handshake, which then fails: the connection is lost")
def test_starttls_discards_pipelined_plaintext(imap_server):
    """The plaintext is discarded and the TLS session is a fresh one."""
    c = starttls_with_plaintext_after(imap_server)
    c.starttls()
    r = c.command("CAPABILITY", tag="c1")
    assert r.status == "OK"
    assert b"b1 " not in r.raw and all(u[0] == "*" for u in r.untagged), r.untagged
    c.no_response(0.3)
    # The session is a fresh, not authenticated one.
    r = c.command("SELECT INBOX", tag="c2")
    assert r.status == "BAD", r
    c.ok("LOGIN %s %s" % (quote(ALICE), quote(IMAP_PASSWORDS[ALICE])))
    c.logout()


def test_starttls_refused_inside_tls(imap_server):
    c = imap_server.raw(tls="starttls")
    r = c.command("STARTTLS")
    assert r.status in ("BAD", "NO"), r
    c.ok("NOOP")
    c.logout()
    c = imap_server.raw(tls="implicit")
    assert c.command("STARTTLS").status in ("BAD", "NO")
    c.ok("NOOP")


def test_logindisabled_before_tls(imap_server):
    c = imap_server.raw(tls=None, source=OTHER)
    assert "LOGINDISABLED" in c.capabilities()
    r = c.command("LOGIN %s %s" % (quote(ALICE), quote(IMAP_PASSWORDS[ALICE])))
    assert r.status in ("NO", "BAD"), r
    r = c.command("AUTHENTICATE PLAIN " + plain_ir(ALICE))
    assert r.status in ("NO", "BAD"), r
    # Still not logged in, and still able to STARTTLS and log in.
    assert c.command("SELECT INBOX").status == "BAD"
    c.ok("STARTTLS")
    c.starttls()
    c.ok("LOGIN %s %s" % (quote(ALICE), quote(IMAP_PASSWORDS[ALICE])))
    c.ok("SELECT INBOX")
    c.logout()


# ---------------------------------------------------------------- login --

def test_login_with_imaplib(imap_server):
    c = imap_server.plain()
    c.starttls(ssl_context=no_verify_ctx())
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login(ALICE, "wrong")
    assert "AUTHENTICATIONFAILED" in str(e.value) or "failed" in str(e.value).lower()
    assert c.state == "NONAUTH"
    # The session goes on: a second try with the right password.
    typ, data = c.login(ALICE, IMAP_PASSWORDS[ALICE])
    assert typ == "OK"
    assert c.state == "AUTH"
    # A password with spaces goes as a quoted string.
    d = imap_server.login(BOB)
    assert d.noop()[0] == "OK"
    d.logout()
    # LOGIN in the authenticated state is a BAD.
    r = session(imap_server).command("LOGIN %s %s" % (quote(ALICE),
                                                      quote(IMAP_PASSWORDS[ALICE])))
    assert r.status == "BAD", r
    c.logout()


def test_authenticate_plain_with_and_without_sasl_ir(imap_server):
    # SASL-IR (RFC 4959): the credentials on the command line.
    c = imap_server.raw()
    assert "SASL-IR" in c.capabilities()
    r = c.ok("AUTHENTICATE PLAIN " + plain_ir(ALICE))
    c.ok("SELECT INBOX")
    c.logout()
    # Without: an empty "+" challenge, then the response line.
    c = imap_server.raw()
    c.send(b"x1 AUTHENTICATE PLAIN\r\n")
    cont = c.read_raw()
    assert cont.startswith(b"+"), cont
    c.send(plain_ir(BOB).encode() + b"\r\n")
    r = c.until_tagged("x1")
    assert r.status == "OK", r
    c.logout()
    # imaplib's authenticate() (no SASL-IR).
    i = imap_server.plain()
    i.starttls(ssl_context=no_verify_ctx())
    typ, _ = i.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (ALICE,
                                                             IMAP_PASSWORDS[ALICE])).encode())
    assert typ == "OK" and i.state == "AUTH"
    i.logout()


def test_authenticate_failures(imap_server):
    c = imap_server.raw()
    r = c.command("AUTHENTICATE PLAIN " + plain_ir(ALICE, "wrong"))
    assert r.status == "NO", r
    # Cancelled with "*" (RFC 9051 6.2.2): BAD.
    c.send(b"x2 AUTHENTICATE PLAIN\r\n")
    assert c.read_raw().startswith(b"+")
    c.send(b"*\r\n")
    r = c.until_tagged("x2")
    assert r.status == "BAD", r
    # Not base64.
    r = c.command("AUTHENTICATE PLAIN !!!notbase64")
    assert r.status in ("BAD", "NO"), r
    # An unknown mechanism.
    r = c.command("AUTHENTICATE X-UNKNOWN-MECH")
    assert r.status in ("NO", "BAD"), r
    # Then a good one.
    c.ok("AUTHENTICATE PLAIN " + plain_ir(ALICE))
    c.logout()


# ---------------------------------------------- ENABLE, ID, NAMESPACE --

@dovecot_differs("Dovecot's login process takes ENABLE before authentication and "
                 "enables the extensions after the login")
def test_enable_before_login_is_bad(imap_server):
    # Only in the authenticated state (RFC 5161 3.1, RFC 9051 6.3.1).
    c = imap_server.raw()
    assert c.command("ENABLE CONDSTORE").status == "BAD"
    c.ok("NOOP")


def test_enable(imap_server):
    c = imap_server.raw(user=ALICE)
    r = c.ok("ENABLE CONDSTORE X-NOT-A-THING")
    enabled = [x.upper() for e in r.named("ENABLED") for x in e[2:]]
    assert enabled == ["CONDSTORE"], r.untagged
    # Again: OK (listed again or not: RFC 5161 leaves it open).
    r = c.ok("ENABLE CONDSTORE")
    assert [x.upper() for e in r.named("ENABLED") for x in e[2:]] in ([], ["CONDSTORE"])
    r = c.ok("ENABLE QRESYNC")
    assert [x.upper() for e in r.named("ENABLED") for x in e[2:]] == ["QRESYNC"]
    c.logout()
    # imaplib's enable().
    i = imap_server.login(BOB)
    typ, data = i.enable("CONDSTORE")
    assert typ == "OK", data
    assert i.untagged_responses.pop("ENABLED") == [b"CONDSTORE"]
    i.logout()


@dovecot_differs("no IMAP4rev2 to ENABLE")
def test_enable_imap4rev2_with_imaplib(imap_server):
    i = imap_server.login(ALICE)
    typ, data = i.enable("IMAP4rev2")
    assert typ == "OK", data
    assert [d.upper() for d in i.untagged_responses.pop("ENABLED")] == [b"IMAP4REV2"]
    assert i.select("INBOX")[0] == "OK"
    # RFC 9051: no RECENT in the SELECT answer any more.
    assert "RECENT" not in i.untagged_responses or i.untagged_responses["RECENT"] == []
    i.logout()


def test_id(imap_server):
    c = session(imap_server)
    r = c.ok('ID ("name" "pytest" "version" "1.0")')
    ids = r.named("ID")
    assert len(ids) == 1, r.untagged
    # NIL or a list of field/value pairs.
    assert ids[0][2] is None or (isinstance(ids[0][2], list) and len(ids[0][2]) % 2 == 0)
    c.ok("ID NIL")
    # Before login too (RFC 2971 allows it in any state).
    d = imap_server.raw()
    d.ok("ID NIL")
    c.logout()


def test_namespace(imap_server):
    c = session(imap_server)
    r = c.ok("NAMESPACE")
    ns = r.named("NAMESPACE")
    # One personal namespace, prefix "" and separator "." (Maildir++), no
    # other users' and no shared ones.
    assert ns == [["*", "NAMESPACE", [[b"", b"."]], None, None]], ns
    i = imap_server.login(BOB)
    typ, data = i.namespace()
    assert typ == "OK" and data == [b'(("" ".")) NIL NIL'], data
    i.logout()
    c.logout()


# ------------------------------------------------------------ COMPRESS --

def test_compress_deflate(imap_server):
    imap_server.deliver(ALICE, b"From: <a@example.net>\r\nSubject: squeezed\r\n\r\n"
                        + b"compressible line of text\r\n" * 400)
    c = session(imap_server)
    assert "COMPRESS=DEFLATE" in c.capabilities()
    c.compress()
    # Everything from here on is raw deflate (RFC 1951, wbits -15) both ways.
    r = c.ok("SELECT INBOX")
    assert any(u[1:3] == ["1", "EXISTS"] for u in r.untagged), r.untagged
    r = c.ok("FETCH 1 (BODY.PEEK[TEXT])")
    assert r.fetches()[1]["BODY[TEXT]"] == b"compressible line of text\r\n" * 400
    # Once only (RFC 4978: NO [COMPRESSIONACTIVE]).
    r = c.command("COMPRESS DEFLATE")
    assert r.status == "NO" and "COMPRESSIONACTIVE" in r.text, r
    c.ok("NOOP")
    c.logout()


def test_compress_before_login_refused(imap_server):
    c = imap_server.raw()
    assert c.command("COMPRESS DEFLATE").status == "BAD"
    c.ok("NOOP")


# ---------------------------------------------------- malformed input --

# (what is sent, the statuses allowed). Each on a session logged in with
# INBOX selected; after each, NOOP and FETCH must still work (none of them
# is a SELECT, which leaves the selected state even when it fails).
MALFORMED = {
    "bad tag": (b"a+b NOOP", ("*", "BAD")),
    "untagged command": (b"* NOOP", ("*", "BAD")),
    "empty line": (b"", ("*", "BAD")),
    "unknown command": (b"t1 FROBNICATE x", ("t1", "BAD")),
    "bad sequence set": (b"t2 FETCH 1:x FLAGS", ("t2", "BAD")),
    "sequence number zero": (b"t3 FETCH 0 FLAGS", ("t3", "BAD")),
    "empty sequence set element": (b"t4 FETCH 1,,2 FLAGS", ("t4", "BAD")),
    "unbalanced open parenthesis": (b"t5 FETCH 1 (FLAGS UID", ("t5", "BAD")),
    "unbalanced close parenthesis": (b"t6 FETCH 1 FLAGS)", ("t6", "BAD")),
    "unknown fetch item": (b"t7 FETCH 1 (FLAGS NOTANITEM)", ("t7", "BAD")),
    "missing argument": (b"t8 STATUS INBOX", ("t8", "BAD")),
    "unterminated quoted string": (b't9 STATUS "INBOX (MESSAGES)', ("t9", "BAD")),
    "NUL in an atom": (b"u1 STATUS IN\x00BOX (MESSAGES)", ("u1", "BAD")),
    "NUL in a quoted string": (b'u2 STATUS "IN\x00BOX" (MESSAGES)', ("u2", "BAD")),
    "8-bit in an atom": (b"u3 STATUS IN\xffBOX (MESSAGES)", ("u3", "BAD", "NO")),
    "line too long": (b"u4 STATUS " + b"x" * 200000 + b" (MESSAGES)", ("u4", "BAD")),
    "command line too long": (b"u5 STATUS INBOX (" + b"MESSAGES " * 20000 + b")",
                              ("u5", "BAD")),
    "store with an unknown item": (b"u6 STORE 1 +FLAGZ (\\Seen)", ("u6", "BAD")),
    "search with an unknown key": (b"u7 SEARCH NOTAKEY", ("u7", "BAD")),
    "uid with an unknown command": (b"u8 UID FROB 1", ("u8", "BAD")),
    "bad date": (b"u9 SEARCH SINCE 32-Foo-2024", ("u9", "BAD")),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_command_gets_bad_and_session_goes_on(imap_server, case):
    imap_server.deliver(ALICE, b"From: <a@example.net>\r\nSubject: one\r\n\r\nbody\r\n")
    c = session(imap_server, select="INBOX")
    data, (tag, *statuses) = MALFORMED[case]
    c.send(data + b"\r\n")
    raw = c.read_raw(timeout=t(10))
    while raw.startswith(b"* ") and tag != "*" and not raw.startswith(b"* BAD"):
        raw = c.read_raw(timeout=t(10))     # untagged news before the answer
    words = raw.split(b" ", 2)
    assert words[0].decode() == tag and words[1].decode() in statuses, raw[:300]
    # The session goes on, in the same state.
    r = c.ok("NOOP")
    r = c.ok("FETCH 1 (UID)")
    assert 1 in r.fetches()
    c.logout()


def test_literal_too_big_is_refused_before_the_continuation(imap_server):
    """A synchronizing literal larger than the server takes: NO or BAD,
    and no "+": the client sends nothing more and the
    session goes on."""
    c = session(imap_server)
    c.send(b"big APPEND INBOX {4000000000}\r\n")
    raw = c.read_raw()
    assert not raw.startswith(b"+"), raw
    # (The response code is checked by the APPENDLIMIT test below.)
    assert raw.startswith(b"big BAD") or raw.startswith(b"big NO "), raw
    c.ok("NOOP")
    c.ok("SELECT INBOX")
    c.logout()


@dovecot_differs("Dovecot answers an APPEND over its limit with NO [LIMIT], "
                 "not RFC 7889's NO [TOOBIG]")
def test_append_over_appendlimit_is_toobig(imap_server):
    c = session(imap_server)
    caps = c.capabilities()
    limit = [x for x in caps if x.startswith("APPENDLIMIT")]
    assert limit, sorted(caps)
    n = int(limit[0].split("=")[1]) + 1 if "=" in limit[0] else 1 << 40
    c.send(b"big APPEND INBOX {%d}\r\n" % n)
    raw = c.read_raw()
    assert raw.startswith(b"big NO [TOOBIG]"), raw
    c.ok("NOOP")
    c.logout()


def test_commands_in_the_wrong_state(imap_server):
    c = imap_server.raw()
    # Not authenticated: SELECT, FETCH are BAD (two only: a server may
    # hang up on a client that keeps sending bad commands, Dovecot does
    # at the third before a login).
    for cmd in ("SELECT INBOX", "FETCH 1 FLAGS"):
        assert c.command(cmd).status == "BAD", cmd
    c.ok("LOGIN %s %s" % (quote(ALICE), quote(IMAP_PASSWORDS[ALICE])))
    # Authenticated, nothing selected: FETCH, STORE, EXPUNGE, CLOSE are BAD.
    for cmd in ("FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "EXPUNGE", "CLOSE", "UID FETCH 1 UID"):
        assert c.command(cmd).status == "BAD", cmd
    c.ok("NOOP")
    c.logout()


def test_server_closes_after_logout_only(imap_server):
    """A client that just disconnects: the server must cope (and the
    next client gets in)."""
    c = session(imap_server, select="INBOX")
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    d = session(imap_server, select="INBOX")
    d.logout()
    # A TLS client that drops in the middle of the handshake.
    s = socket.create_connection((imap_server.host, imap_server.tls_port), timeout=t(5))
    s.send(b"\x16\x03\x01\x00\x05hello")
    s.close()
    e = imap_server.raw(tls="implicit", user=ALICE)
    e.logout()
    with pytest.raises(ssl.SSLError):
        no_verify_ctx().wrap_socket(socket.create_connection(
            (imap_server.host, imap_server.port), timeout=t(5)))
