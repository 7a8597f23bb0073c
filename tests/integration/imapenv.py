"""Shared machinery for the IMAP tests (test_imap_*.py and
tests/durability/test_crash_imap.py): one fixture, `imap_server`, that
runs either tern or Dovecot 2.3 behind the same interface, so that every
test is first checked against Dovecot and then runs against tern as it is.

    TERN_IMAP_PEER=tern      (the default) a ternd with `listen imap`
                             (STARTTLS) and `listen imaps` (implicit TLS)
    TERN_IMAP_PEER=dovecot   Debian's Dovecot 2.3 (dovecotenv.py) on the
                             same kind of Maildir, with the same users

The object it yields (an ImapPeer):
- .peer ("tern" | "dovecot"), .host, .port (STARTTLS), .tls_port
  (implicit TLS), .cert_path;
- .deliver(user, octets): one message into user's INBOX (tern: SMTP to
  its port 25 listener; Dovecot: its LMTP), back once it is in the
  Maildir; returns what was sent;
- .maildir(user): the Maildir (INBOX) on disk;
- .login(user): imaplib after STARTTLS and LOGIN; .imaps(user) the same
  over implicit TLS; .plain(): imaplib in the clear, not logged in;
- .raw(tls="starttls"|"implicit"|None, user=None): an ImapRaw (a socket
  that speaks IMAP by hand, literals and all) after the greeting.

Test markers:
- @tern_only("why"): skipped with TERN_IMAP_PEER=dovecot (reads tern's
  log, depends on tern's SMTP, ...);
- @dovecot_differs("why"): a known difference of Dovecot 2.3 from what
  the test asks (e.g. no IMAP4rev2): against Dovecot the test must fail
  (strict xfail), against tern it must pass.

Users: alice and bob of subenv.PASSWORDS, and carol, who has a quota
(userdb_quota_rule in the users file both servers read).

Every wait is bounded and stretched by TERN_SANITIZED=1.
"""
import imaplib
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dovecotenv import DOVECOT, DOVEADM, DovecotEnv  # noqa: E402
from retrenv import MailTern  # noqa: E402
from subenv import ALICE, BOB, PASSWORDS, instances, no_verify_ctx  # noqa: E402,F401
from tern_harness import TERND, t  # noqa: E402
import relayenv  # noqa: E402

PEER = os.environ.get("TERN_IMAP_PEER", "tern")
if PEER not in ("tern", "dovecot"):
    raise RuntimeError("TERN_IMAP_PEER must be tern or dovecot, not %r" % PEER)

CAROL = "carol@example.test"
IMAP_PASSWORDS = dict(PASSWORDS, **{CAROL: "carol-pw-3"})
# carol's quota: 1 MiB (storage= is in kilobytes, as Dovecot reads it).
CAROL_QUOTA_KB = 1024
IMAP_USERS = ["%s:{PLAIN}%s" % kv for kv in PASSWORDS.items()] + [
    "%s:{PLAIN}%s::::::userdb_quota_rule=*:storage=%d" % (CAROL, IMAP_PASSWORDS[CAROL],
                                                        CAROL_QUOTA_KB)]
# The largest message APPEND takes in the Dovecot the tests run (tern has
# its own limit, which it announces as APPENDLIMIT too).
APPEND_LIMIT_MB = 64
# The special-use folders tern makes at the first login (src/mailbox:
# mbox_create_defaults), Dovecot through its namespace below.
SPECIAL_USE = {"Drafts": r"\Drafts", "Sent": r"\Sent", "Trash": r"\Trash",
               "Junk": r"\Junk", "Archive": r"\Archive"}


def tern_only(why):
    return pytest.mark.skipif(PEER != "tern", reason="tern only: " + why)


def dovecot_differs(why):
    return pytest.mark.xfail(PEER == "dovecot", reason="Dovecot 2.3 differs: " + why,
                             strict=True)


# ----------------------------------------------------------------- tern --

class ImapTern(MailTern):
    """MailTern (smtp, submission, smtps, pop3, pop3s) with imap (STARTTLS)
    and imaps (implicit TLS) listeners."""
    port_attrs = MailTern.port_attrs + ("imap_port", "imaps_port")

    def __init__(self, root, extra=(), **kw):
        self.imap_port = relayenv.free_port()
        self.imaps_port = relayenv.free_port()
        super().__init__(root, extra=list(extra) + [
            "listen imap 127.0.0.1:%d" % self.imap_port,
            "listen imaps 127.0.0.1:%d" % self.imaps_port], **kw)


# ----------------------------------------------------------- the peers --

class ImapPeer:
    """What the tests use of a server, whichever it is. Every client it
    makes is closed at teardown, before the server stops (Dovecot's imap
    processes stay while their client does)."""
    host = "127.0.0.1"
    peer = None
    clients = None

    def _keep(self, c):
        if self.clients is None:
            self.clients = []
        self.clients.append(c)
        return c

    def close_clients(self):
        for c in self.clients or ():
            if isinstance(c, ImapRaw):
                c.close()
            else:
                drop(c)
        self.clients = []

    # -- clients --
    def plain(self, timeout=10):
        """imaplib in the clear, after the greeting, not logged in."""
        return self._keep(imaplib.IMAP4(self.host, self.port, timeout=t(timeout)))

    def login(self, user, password=None, timeout=10):
        """imaplib after STARTTLS and LOGIN."""
        c = self.plain(timeout)
        try:
            c.starttls(ssl_context=no_verify_ctx())
            c.login(user, IMAP_PASSWORDS[user] if password is None else password)
        except BaseException:
            drop(c)
            raise
        return c

    def imaps(self, user=None, password=None, timeout=10):
        """imaplib over implicit TLS; logged in when user is given."""
        c = self._keep(imaplib.IMAP4_SSL(self.host, self.tls_port, timeout=t(timeout),
                                         ssl_context=no_verify_ctx()))
        try:
            if user is not None:
                c.login(user, IMAP_PASSWORDS[user] if password is None else password)
        except BaseException:
            drop(c)
            raise
        return c

    def raw(self, tls="starttls", user=None, timeout=10, source=None):
        """ImapRaw after the greeting; tls "starttls" (then STARTTLS),
        "implicit" (the imaps port) or None (cleartext); logged in with
        LOGIN when user is given."""
        c = self._keep(ImapRaw(self.host, self.tls_port if tls == "implicit" else self.port,
                               t(timeout), tls=tls == "implicit", source=source))
        try:
            c.greeting = c.read_response()
            assert c.greeting[:2] == ["*", "OK"], c.greeting
            if tls == "starttls":
                c.ok("STARTTLS")
                c.starttls()
            if user is not None:
                c.ok("LOGIN %s %s" % (quote(user), quote(IMAP_PASSWORDS[user])))
        except BaseException:
            c.close()
            raise
        return c

    def wait_in_maildir(self, user, n, folder=None, timeout=10):
        """Waits until the Maildir (or its .folder) holds n messages."""
        box = self.maildir(user) if folder is None else self.maildir(user) / ("." + folder)
        deadline = time.monotonic() + t(timeout)
        while True:
            got = sum(len(os.listdir(box / d)) for d in ("new", "cur") if (box / d).is_dir())
            if got >= n:
                return got
            assert time.monotonic() < deadline, "%s: %d messages, wanted %d" % (user, got, n)
            time.sleep(0.02)

    def count_in_maildir(self, user):
        box = self.maildir(user)
        return sum(len(os.listdir(box / d)) for d in ("new", "cur") if (box / d).is_dir())


class TernPeer(ImapPeer):
    peer = "tern"

    def __init__(self, tern):
        self.tern = tern
        self.port = tern.imap_port
        self.tls_port = tern.imaps_port
        self.cert_path = tern.cert_path

    def deliver(self, user, body, sender="sender@example.net"):
        if isinstance(body, str):
            body = body.encode()
        have = self.count_in_maildir(user)
        opts = ["BODY=8BITMIME"] if any(b > 127 for b in body) else []
        self.tern.deliver(user, body, sender=sender, mail_options=opts)
        self.wait_in_maildir(user, have + 1)
        return body

    def maildir(self, user):
        return self.tern.maildir(user)

    def crash_restart(self, timeout=30):
        """kill -9 of ternd, then a new start (same ports)."""
        self.tern.kill9()
        self.tern.start(timeout=timeout)
        self.port, self.tls_port = self.tern.imap_port, self.tern.imaps_port


class DovecotPeer(ImapPeer):
    peer = "dovecot"

    def __init__(self, dc):
        self.dc = dc
        self.port = dc.imap_port
        self.tls_port = dc.imaps_port
        self.cert_path = dc.cert_path

    def deliver(self, user, body, sender="sender@example.net"):
        if isinstance(body, str):
            body = body.encode()
        self.dc.deliver_ok(user, body, sender=sender)
        return body

    def maildir(self, user):
        return self.dc.maildir(user)

    def crash_restart(self, timeout=30):
        """kill -9 of every process of Dovecot (master, login, imap, ...),
        then a new start (same ports)."""
        import signal
        dc = self.dc
        for pid in dc.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        dc.proc.wait(timeout=10)
        dc.proc = None
        deadline = time.monotonic() + t(10)
        while dc.processes() and time.monotonic() < deadline:
            time.sleep(0.02)
        dc.sid = None
        dc.start(timeout=timeout)
        self.port, self.tls_port = dc.imap_port, dc.imaps_port


def dovecot_imap_conf():
    """What the IMAP tests ask of Dovecot beyond dovecotenv's defaults,
    to stand where tern stands: Maildir++ folders with '.' as separator
    and the five special-use folders made and subscribed at the first
    login, CRLF files (as ternd writes them), per-user quota from the
    users file, COMPRESS=DEFLATE; no cleartext LOGIN but on a secured
    connection (Dovecot counts a client whose address is the server's
    own as secured, so LOGINDISABLED shows only from another address)."""
    lines = ["disable_plaintext_auth = yes",
             "mail_plugins = $mail_plugins quota",
             "protocol imap {",
             "  mail_plugins = $mail_plugins imap_quota imap_zlib",
             "  mail_max_userip_connections = 1000",
             "}",
             "plugin {",
             "  quota = maildir:User quota",
             "  quota_max_mail_size = %dM" % APPEND_LIMIT_MB,
             "}",
             "namespace inbox {",
             "  inbox = yes",
             "  separator = .",
             "  prefix =",
             ]
    for name, use in SPECIAL_USE.items():
        lines += ["  mailbox %s {" % name, "    special_use = %s" % use,
                  "    auto = subscribe", "  }"]
    return lines + ["}"]


# What a Dovecot stopped right after its start may log: a login process
# that had not yet met its stats process when the master stopped it.
DOVECOT_SHUTDOWN_NOISE = re.compile(r"stats-writer.*Timeout waiting for handshake response")


def _start_tern(tmp_path, settings, extra):
    gen = instances(tmp_path, ImapTern, default_users=IMAP_USERS)
    make = next(gen)
    try:
        inst = make(extra=extra, **settings)
    except BaseException:
        gen.close()
        raise
    return gen, inst


def _dovecot(tmp_path, extra):
    for prog in (DOVECOT, DOVEADM):
        if not os.access(prog, os.X_OK):
            pytest.fail("%s is missing: `make deps` installs dovecot-core, -imapd, -lmtpd"
                        % prog, pytrace=False)
    root = tmp_path / "dovecot"
    dc = DovecotEnv(root, root / "mail", IMAP_USERS, ssl=True, save_crlf=True,
                    extra=dovecot_imap_conf() + list(extra))
    dc.start()
    return dc


@pytest.fixture
def imap_factory(tmp_path):
    """imap_factory(tern=None, dovecot=(), name=None) -> a started
    ImapPeer; tern: settings (config keys) and `extra` lines for ternd,
    dovecot: configuration lines appended to Dovecot's. Teardown runs the
    servers' own checks (tern: exit 0, no sanitizer report; Dovecot: no
    process left, no Error/Fatal/Panic in its log)."""
    made = []

    def make(tern=None, dovecot=(), allow_errors=False):
        sub = tmp_path / ("imap%d" % len(made))
        sub.mkdir()
        if PEER == "tern":
            settings = dict(tern or {})
            extra = settings.pop("extra", ())
            gen, inst = _start_tern(sub, settings, extra)
            peer = TernPeer(inst)
            made.append(("tern", gen, peer))
            return peer
        dc = _dovecot(sub, dovecot)
        dc.allow_errors = allow_errors
        peer = DovecotPeer(dc)
        made.append(("dovecot", dc, peer))
        return peer

    yield make
    errors = []
    for kind, x, peer in made:
        try:
            peer.close_clients()
            if kind == "tern":
                try:
                    next(x)
                except StopIteration:
                    pass
            else:
                x.close(allow_errors=True)
                if not x.allow_errors:
                    bad = [l for l in x.problems() if not DOVECOT_SHUTDOWN_NOISE.search(l)]
                    if bad:
                        errors.append("dovecot log:\n" + "\n".join(bad))
        except BaseException as e:      # pytest.fail is not an Exception
            errors.append(str(e))
    if errors:
        pytest.fail("imap teardown:\n" + "\n\n".join(errors), pytrace=False)


@pytest.fixture
def imap_server(imap_factory):
    """A started server (tern or Dovecot, TERN_IMAP_PEER)."""
    return imap_factory()


# ------------------------------------------------------------ messages --

def drop(c):
    """Closes an imaplib connection without LOGOUT (after an error)."""
    try:
        c.shutdown()
    except OSError:
        pass


def quote(s):
    """An IMAP quoted string."""
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def message(subject="test", body="Hello.\r\n", sender="sender@example.net",
            to="alice@example.test", headers=(), date="Mon, 01 Jan 2024 10:00:00 +0000",
            msgid=None):
    """A small RFC 5322 message as CRLF octets."""
    lines = ["From: Sender <%s>" % sender, "To: <%s>" % to, "Subject: %s" % subject]
    if date:
        lines.append("Date: %s" % date)
    lines.append("Message-ID: %s" % (msgid or "<%s.%d@example.net>" % (
        re.sub(r"[^A-Za-z0-9]", "", subject)[:20] or "m", time.monotonic_ns())))
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def header_prefix_ok(prefix):
    """True when prefix is nothing but header fields (the trace fields a
    server adds at delivery): each line a field or its continuation."""
    if not prefix:
        return True
    if not prefix.endswith(b"\r\n"):
        return False
    for line in prefix[:-2].split(b"\r\n"):
        if not (line[:1] in (b" ", b"\t") or re.match(rb"[!-9;-~]+:", line)):
            return False
    return True


# ------------------------------------------------- raw IMAP over a socket --

class ImapError(AssertionError):
    pass


class Tagged:
    """A command's outcome: status ("OK", "NO", "BAD"), its text (with
    any [code]), and the untagged responses before it (each a parsed
    list, see parse())."""

    def __init__(self, status, text, untagged, raw):
        self.status, self.text, self.untagged, self.raw = status, text, untagged, raw

    def __repr__(self):
        return "<%s %s; %d untagged>" % (self.status, self.text, len(self.untagged))

    def code(self):
        """The response code of the tagged line: "[X ...]" -> "X ..."."""
        m = re.match(r"\[([^\]]*)\]", self.text)
        return m.group(1) if m else None

    def named(self, name):
        """Untagged responses "* NAME ..." (or "* n NAME ...")."""
        name = name.upper()
        out = []
        for r in self.untagged:
            if len(r) > 1 and isinstance(r[1], str) and r[1].upper() == name:
                out.append(r)
            elif len(r) > 2 and isinstance(r[2], str) and r[2].upper() == name:
                out.append(r)
        return out

    def fetches(self):
        """{message number: {ITEM: value}} of the untagged FETCHes (the
        items of several FETCH responses for one message merged)."""
        out = {}
        for r in self.named("FETCH"):
            d = out.setdefault(int(r[1]), {})
            d.update(pairs(r[3]))
        return out


def pairs(lst):
    """[K1, V1, K2, V2 ...] -> {K1.upper(): V1, ...}."""
    assert len(lst) % 2 == 0, lst
    return {lst[i].upper() if isinstance(lst[i], str) else lst[i]: lst[i + 1]
            for i in range(0, len(lst), 2)}


class ImapRaw:
    """A socket that speaks IMAP by hand: commands as sent, responses read
    whole (literals included) and parsed. Optionally over TLS (implicit,
    or after starttls()) and COMPRESS=DEFLATE (compress())."""

    def __init__(self, host, port, timeout=10, tls=False, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.timeout = timeout
        if tls:
            self.sock = no_verify_ctx().wrap_socket(self.sock)
        self.buf = b""
        self.n = 0
        self.inflate = self.deflate = None
        self.greeting = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # -- octets --
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self.deflate is not None:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no response within %.1fs (have %r)" % (self.timeout,
                                                                        self.buf[-300:]))
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection (pending %r)" % self.buf[-300:])
        if self.inflate is not None:
            chunk = self.inflate.decompress(chunk)
        self.buf += chunk

    def read_line(self, timeout=None):
        """One line without its CRLF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_raw(self, timeout=None):
        """One whole response: its octets (literals inline) up to the CRLF
        that ends it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill(deadline)
            line, self.buf = self.buf.split(b"\r\n", 1)
            out += line + b"\r\n"
            m = re.search(rb"~?\{(\d+)\+?\}$", line)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill(deadline)
            out += self.buf[:n]
            self.buf = self.buf[n:]

    def read_response(self, timeout=None):
        return parse(self.read_raw(timeout))

    def no_response(self, wait=0.3, eof_ok=False):
        """Asserts nothing arrives within wait seconds (eof_ok: or that
        the server closes the connection)."""
        if self.buf:
            raise AssertionError("unexpected data from the server: %r" % self.buf)
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return
        finally:
            self.sock.settimeout(self.timeout)
        if chunk == b"" and eof_ok:
            return
        raise AssertionError("unexpected data from the server: %r" % chunk)

    # -- commands --
    def tag(self):
        self.n += 1
        return "a%03d" % self.n

    def command(self, cmd, tag=None, timeout=None):
        """Sends "TAG cmd" and reads up to its tagged response. cmd may be
        octets with literals (LITERAL+ ones: the server does not answer
        "+"); for synchronizing literals use command_lit()."""
        tag = tag or self.tag()
        data = cmd.encode("utf-8") if isinstance(cmd, str) else cmd
        self.send(tag.encode() + b" " + data + b"\r\n")
        return self.until_tagged(tag, timeout)

    def command_lit(self, parts, tag=None, timeout=None):
        """A command with synchronizing literals: parts alternate text
        (ending in "{n}") and literal octets; each literal is sent after
        the server's "+". Returns the Tagged (early when refused)."""
        tag = tag or self.tag()
        first = True
        untagged = []
        for i, p in enumerate(parts):
            p = p.encode("utf-8") if isinstance(p, str) else p
            if i % 2 == 0:
                last = i == len(parts) - 1
                self.send((tag.encode() + b" " if first else b"") + p + (b"\r\n" if last or
                          re.search(rb"\{\d+\}$", p) else b""))
                first = False
                if not last and re.search(rb"\{\d+\}$", p):
                    while True:
                        raw = self.read_raw(timeout)
                        if raw.startswith(b"+"):
                            break
                        r = parse(raw)
                        if r[0] == tag:
                            return Tagged(r[1].upper(), _text_after(raw, 2), untagged, raw)
                        untagged.append(r)
            else:
                self.send(p)
        t_ = self.until_tagged(tag, timeout)
        t_.untagged = untagged + t_.untagged
        return t_

    def until_tagged(self, tag, timeout=None):
        untagged = []
        while True:
            raw = self.read_raw(timeout)
            if raw.startswith(tag.encode() + b" "):
                r = parse(raw)
                return Tagged(r[1].upper(), _text_after(raw, 2), untagged, raw)
            if raw.startswith(b"+"):
                raise ImapError("unexpected continuation %r" % raw)
            untagged.append(parse(raw))

    def ok(self, cmd, **kw):
        r = self.command(cmd, **kw)
        if r.status != "OK":
            raise ImapError("%s: %s %s" % (cmd if isinstance(cmd, str) else cmd[:60],
                                           r.status, r.text))
        return r

    def starttls(self):
        assert self.buf == b"", "octets after the OK to STARTTLS: %r" % self.buf
        self.sock.settimeout(self.timeout)
        self.sock = no_verify_ctx().wrap_socket(self.sock)
        return self

    def compress(self):
        """COMPRESS DEFLATE (RFC 4978): raw deflate both ways from here."""
        self.ok("COMPRESS DEFLATE")
        assert self.buf == b"", self.buf
        self.inflate = zlib.decompressobj(-15)
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)

    def capabilities(self):
        r = self.ok("CAPABILITY")
        caps = r.named("CAPABILITY")
        assert len(caps) == 1, r.untagged
        return {c.upper() for c in caps[0][2:]}

    def logout(self):
        r = self.command("LOGOUT")
        assert r.status == "OK", r
        assert r.named("BYE"), r.untagged
        self.close()


def _text_after(raw, nwords):
    """The text of a status response after its first nwords words."""
    line = raw.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    parts = line.split(" ", nwords)
    return parts[nwords] if len(parts) > nwords else ""


# ---------------------------------------------------- response parsing --

ATOM_END = b" ()\r\n"


def parse(raw):
    """A response's octets -> a list of items: atoms as str (NIL as None),
    quoted strings and literals as bytes, parenthesized lists as lists. A
    "[...]" (response codes, BODY[...] names) stays inside its atom; the
    text after a status word's response code is one str item."""
    items, pos = _parse_list(raw, 0, top=True)
    return items


def _parse_list(raw, pos, top=False):
    out = []
    n = len(raw)
    while pos < n:
        c = raw[pos:pos + 1]
        if c == b" ":
            pos += 1
            continue
        if c == b"\r" and raw[pos:pos + 2] == b"\r\n":
            if top:
                return out, pos + 2
            raise ImapError("unbalanced parenthesis in %r" % raw[:300])
        if c == b")":
            if top:
                raise ImapError("unexpected ) in %r" % raw[:300])
            return out, pos + 1
        if c == b"(":
            sub, pos = _parse_list(raw, pos + 1)
            out.append(sub)
            continue
        if c == b'"':
            s = bytearray()
            pos += 1
            while raw[pos:pos + 1] != b'"':
                if raw[pos:pos + 1] == b"\\":
                    pos += 1
                s += raw[pos:pos + 1]
                pos += 1
                if pos >= n:
                    raise ImapError("unterminated quoted string in %r" % raw[:300])
            out.append(bytes(s))
            pos += 1
            continue
        m = re.compile(rb"~?\{(\d+)\+?\}\r\n").match(raw, pos)
        if m:
            k = int(m.group(1))
            out.append(raw[m.end():m.end() + k])
            pos = m.end() + k
            continue
        # Status responses: after OK/NO/BAD/BYE/PREAUTH and an optional
        # [code], the rest of the line is text.
        if top and len(out) in (1, 2) and isinstance(out[-1], str) and \
                out[-1].upper() in ("OK", "NO", "BAD", "BYE", "PREAUTH") and \
                (len(out) == 2 or out[0] == "+"):
            end = raw.index(b"\r\n", pos)
            text = raw[pos:end].decode("utf-8", "replace")
            m2 = re.match(r"(\[[^\]]*\])\s?(.*)", text, re.S)
            if m2:
                out += [m2.group(1), m2.group(2)]
            else:
                out.append(text)
            return out, end + 2
        # An atom, with any [...] inside it (which may hold spaces and
        # parentheses) and a <partial> after it.
        start = pos
        depth = 0
        while pos < n:
            ch = raw[pos:pos + 1]
            if ch == b"[":
                depth += 1
            elif ch == b"]":
                depth -= 1
            elif depth == 0 and ch in (b" ", b"(", b")", b"\r"):
                break
            pos += 1
        a = raw[start:pos].decode("utf-8", "replace")
        out.append(None if a.upper() == "NIL" else a)
    if top:
        return out, pos
    raise ImapError("unbalanced parenthesis in %r" % raw[:300])


def uid_of(fetch_items):
    return int(fetch_items["UID"])


def flags_of(fetch_items):
    return sorted(fetch_items["FLAGS"])


# ----------------------------------------------------- session helpers --

def session(peer, user=ALICE, rev=1, select=None, **kw):
    """An ImapRaw logged in (STARTTLS, LOGIN); rev=2: ENABLE IMAP4rev2
    first (which must be ENABLED); select: a mailbox to SELECT."""
    c = peer.raw(user=user, **kw)
    if rev == 2:
        r = c.ok("ENABLE IMAP4rev2")
        enabled = {x.upper() for e in r.named("ENABLED") for x in e[2:]}
        assert "IMAP4REV2" in enabled, r.untagged
    if select:
        c.ok("SELECT %s" % quote(select))
    return c


def append(c, box, msg, flags=None, date=None):
    """APPEND with a synchronizing literal; returns the Tagged (OK with
    [APPENDUID v uid] where UIDPLUS is there)."""
    head = "APPEND %s" % quote(box)
    if flags is not None:
        head += " (%s)" % " ".join(flags)
    if date is not None:
        head += ' "%s"' % date
    r = c.command_lit([head + " {%d}" % len(msg), msg, ""])
    return r


def appenduid(r):
    """(UIDVALIDITY, [UIDs]) of an APPEND's [APPENDUID v set]."""
    assert r.status == "OK", r
    m = re.match(r"APPENDUID (\d+) (\S+)$", r.code() or "")
    assert m, r.text
    return int(m.group(1)), seq_to_list(m.group(2))


def seq_to_list(s):
    """"1:3,7" -> [1, 2, 3, 7] (ranges either way round)."""
    out = []
    for part in s.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out += list(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out


def status_codes(r):
    """{CODE: rest} of the untagged OK/NO responses' [codes] and of the
    tagged one."""
    out = {}
    texts = [u[2] for u in r.untagged if len(u) > 2 and isinstance(u[1], str) and
             u[1].upper() in ("OK", "NO", "BAD") and isinstance(u[2], str)]
    texts.append(r.text)
    for t_ in texts:
        m = re.match(r"\[([A-Za-z0-9.-]+)(?: ([^\]]*))?\]", t_)
        if m:
            out[m.group(1).upper()] = m.group(2)
    return out


def exists_of(r):
    e = [int(u[1]) for u in r.named("EXISTS")]
    return e[-1] if e else None


def search_ids(r):
    """The numbers of a SEARCH (or an ESEARCH ALL): a sorted list."""
    out = []
    for u in r.named("SEARCH"):
        out += [int(x) for x in u[2:] if x is not None and x.isdigit()]
    for u in r.named("ESEARCH"):
        items = [x for x in u[2:] if not isinstance(x, list)]
        for i in range(len(items) - 1):
            if isinstance(items[i], str) and items[i].upper() == "ALL":
                out += seq_to_list(items[i + 1])
    return sorted(out)
