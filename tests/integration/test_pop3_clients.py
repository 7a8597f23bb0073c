"""POP3 with the clients people run, from Debian: curl (STLS and POP3S;
LIST, RETR of message N, UIDL, DELE), fetchmail (keep mode twice: UIDL
makes the second run fetch nothing; then delete mode) and getmail6 (POP3S
with the certificate verified, cleartext POP3 on loopback; keep and
delete; its oldmail file of UIDLs).

Every message comes back octet for octet as it was sent over SMTP, after
the trace fields tern adds at delivery: one with dots at line starts, one
of 8-bit text, and one of about 1 MB, which RETR sends in several pieces
(src/pop3/pop3_server.c, RETR_PIECE)."""
import os
import pwd
import random
import re
import shutil
import subprocess

from retrenv import (deliver_in_order, mail_factory, mt, trace_and_body,  # noqa: F401
                     uidlist_records)
from subenv import ALICE, BOB, PASSWORDS, tool
from tern_harness import reachable_by_tern, t

SENDER = "sender@example.net"


def messages():
    """(name, octets as sent, MAIL parameters) of the three test messages."""
    dots = (b"From: <sender@example.net>\r\nSubject: dots\r\n\r\n"
            b".\r\n..\r\n.leading dot\r\n...three\r\nmiddle. dot\r\n. space\r\n\r\n"
            b".\r\nlast line\r\n")
    eight = ("From: <sender@example.net>\r\nSubject: 8-bit caf\u00e9\r\n"
             "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: 8bit\r\n\r\n"
             "h\u00e9llo w\u00f6rld \u20ac \u65e5\u672c\u8a9e\r\n"
             "\u00a0no-break space, \u00df, \u00e6\u00f8\u00e5\r\n").encode()
    rnd = random.Random(1939)
    lines, size = [], 0
    while size < 1 << 20:
        line = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789 ,.-")
                       for _ in range(rnd.randrange(0, 77)))
        if len(lines) % 997 == 5:
            line = "." + line          # a stuffed dot now and then
        lines.append(line)
        size += len(line) + 2
    big = ("From: <sender@example.net>\r\nSubject: one megabyte\r\n\r\n"
           + "\r\n".join(lines) + "\r\n").encode()
    return [("dots", dots, ()), ("8bit", eight, ("BODY=8BITMIME",)), ("1mb", big, ())]


def deliver_all(mt, user):
    """The three messages to user, one after the other; returns what was
    sent, in POP3 order."""
    return [deliver_in_order(mt, user, [body], sender=SENDER, mail_options=opts)[0]
            for _, body, opts in messages()]


def stored_by_number(mt, user):
    """{POP3 message number: the file's octets} through the UIDLs (tern's
    form: UID and UIDVALIDITY in hex) and dovecot-uidlist."""
    uidls = mt.uidls(user)      # a login: the UIDs are given
    _, _, recs = uidlist_records(mt, user)
    box = mt.maildir(user)
    files = {p.name.split(":")[0]: p for d in ("new", "cur") for p in (box / d).iterdir()}
    return {n: files[recs[int(u[:8], 16)]].read_bytes() for n, u in uidls.items()}


def check_retrieved(got, sent, stored, lf=False):
    """got is what a client retrieved: tern's trace fields, then exactly
    what was sent; and exactly the file on disk (with LF line ends if the
    client writes them)."""
    if lf:
        assert b"\r" not in got
        got = got.replace(b"\n", b"\r\n")
    trace, body = trace_and_body(got)
    assert body == sent, "differs at octet %d" % next(
        (i for i, (a, b) in enumerate(zip(body, sent)) if a != b), min(len(body), len(sent)))
    assert got == stored


# ---------------------------------------------------------------- curl --

def curl(*args, check=True):
    """curl, silent but for errors; (exit code, stdout octets)."""
    p = subprocess.run([tool("curl"), "-sS", "-k", "--max-time", str(int(t(30)))] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=t(60))
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stderr)
    return p.returncode, p.stdout


def test_curl_stls_and_pop3s(mt):
    sent = deliver_all(mt, ALICE)
    stored = stored_by_number(mt, ALICE)
    auth = ["-u", "%s:%s" % (ALICE, PASSWORDS[ALICE])]
    stls = "pop3://127.0.0.1:%d/" % mt.pop3_port
    pop3s = "pop3s://127.0.0.1:%d/" % mt.pop3s_port

    # LIST (no message number): the exact sizes, those RETR sends.
    _, listing = curl("--ssl-reqd", *auth, stls)
    assert listing == b"".join(b"%d %d\r\n" % (n, len(stored[n])) for n in (1, 2, 3))
    for n in (1, 2, 3):
        _, got = curl("--ssl-reqd", *auth, stls + str(n))
        check_retrieved(got, sent[n - 1], stored[n])
        # POP3S, and SASL LOGIN instead of curl's default PLAIN.
        _, got = curl("--login-options", "AUTH=LOGIN", *auth, pop3s + str(n))
        check_retrieved(got, sent[n - 1], stored[n])
    uidls = mt.uidls(ALICE)
    _, got = curl("-X", "UIDL", *auth, pop3s)
    assert got == b"".join(b"%d %s\r\n" % (n, u.encode()) for n, u in uidls.items())

    # DELE (-I: no multi-line answer), then curl's QUIT: UPDATE.
    curl("-X", "DELE", "-I", "--ssl-reqd", *auth, stls + "2")
    mt.wait_for_log(r"event=pop3-expunged user=alice@example\.test messages=1")
    assert mt.uidls(ALICE) == {1: uidls[1], 2: uidls[3]}
    _, got = curl(*auth, pop3s + "2")
    check_retrieved(got, sent[2], stored[3])

    # A wrong password: curl's "login denied".
    rc, _ = curl("-u", "%s:wrong" % ALICE, pop3s, check=False)
    assert rc == 67
    mt.wait_for_log(r"event=auth-failed client=127\.0\.0\.1 user=alice@example\.test")


# ----------------------------------------------------------- fetchmail --

MDA = """#!/bin/sh
# One file per message, numbered in the order fetchmail hands them over.
n=$(ls "$1" | wc -l)
exec cat > "$1/$(printf %04d "$n")"
"""


class Fetchmail:
    """fetchmail with its own HOME, rcfile, id file (the UIDLs it has
    seen) and an MDA that stores each message in its own file."""

    def __init__(self, root, mt, user):
        self.root = root
        self.root.mkdir()
        self.out = root / "out"
        self.out.mkdir()
        self.mda = root / "mda.sh"
        self.mda.write_text(MDA)
        self.mda.chmod(0o755)
        self.idfile = root / "fetchids"
        self.mt, self.user = mt, user

    def run(self, keep, tls):
        """One poll; tls: "stls" (sslproto without ssl: STLS) or "pop3s".
        Returns (exit code, the new files' octets, the log)."""
        port = self.mt.pop3_port if tls == "stls" else self.mt.pop3s_port
        rc = self.root / "fetchmailrc"
        rc.write_text("\n".join([
            "set no syslog",
            "poll 127.0.0.1 service %d protocol POP3 uidl auth password" % port,
            '  user "%s" there with password "%s" is root here' % (self.user, PASSWORDS[self.user]),
            "  %ssslproto tls1.2+ no sslcertck" % ("ssl " if tls == "pop3s" else ""),
            "  %s no rewrite no stripcr" % ("keep" if keep else "nokeep fetchall"),
            '  mda "%s %s"' % (self.mda, self.out),
        ]) + "\n")
        rc.chmod(0o600)          # fetchmail refuses a readable rcfile
        before = set(os.listdir(self.out))
        # --invisible: no Received field of fetchmail's own.
        p = subprocess.run([tool("fetchmail"), "-v", "--invisible", "--fetchmailrc", str(rc),
                            "--idfile", str(self.idfile), "--pidfile", str(self.root / "pid")],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=t(60),
                           env={"HOME": str(self.root), "PATH": os.environ["PATH"]},
                           cwd=str(self.root))
        log = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        new = sorted(set(os.listdir(self.out)) - before)
        return p.returncode, [(self.out / f).read_bytes() for f in new], log

    def ids(self):
        """The UIDLs fetchmail keeps for this account."""
        prefix = "%s@127.0.0.1 " % self.user
        return sorted(l[len(prefix):] for l in self.idfile.read_text().splitlines()
                      if l.startswith(prefix))


def test_fetchmail_keep_then_delete(mt, tmp_path):
    sent = deliver_all(mt, ALICE)
    stored = stored_by_number(mt, ALICE)
    fm = Fetchmail(tmp_path / "fetchmail", mt, ALICE)

    rc, got, log = fm.run(keep=True, tls="stls")
    assert rc == 0, log
    assert "POP3> STLS" in log and "POP3< +OK Begin TLS" in log
    assert len(got) == 3, log
    for n in (1, 2, 3):
        check_retrieved(got[n - 1], sent[n - 1], stored[n])
    assert fm.ids() == sorted(mt.uidls(ALICE).values())

    # Again: every UIDL is known, nothing is fetched (exit 1: no mail).
    rc, got, log = fm.run(keep=True, tls="stls")
    assert rc == 1 and got == [], log
    assert "3 messages (3 seen)" in log

    # One more arrives: only it is fetched.
    fourth, = deliver_in_order(mt, ALICE, [b"Subject: fourth\r\n\r\n.x\r\n"], sender=SENDER)
    stored = stored_by_number(mt, ALICE)
    rc, got, log = fm.run(keep=True, tls="pop3s")
    assert rc == 0 and len(got) == 1, log
    check_retrieved(got[0], fourth, stored[4])
    assert len(fm.ids()) == 4

    # Delete mode, everything: retrieved, DELE'd, and gone after QUIT.
    rc, got, log = fm.run(keep=False, tls="pop3s")
    assert rc == 0 and len(got) == 4, log
    for n, body in enumerate(sent + [fourth], 1):
        check_retrieved(got[n - 1], body, stored[n])
    assert "POP3< +OK Logging out, 4 messages deleted" in log
    mt.wait_for_log(r"event=pop3-expunged user=alice@example\.test messages=4")
    assert mt.uidls(ALICE) == {}
    assert os.listdir(mt.maildir(ALICE) / "cur") == []
    rc, got, log = fm.run(keep=False, tls="stls")
    assert rc == 1 and got == [], log


# ------------------------------------------------------------- getmail --

def unprivileged():
    """getmail refuses to deliver as root: run it as nobody then."""
    return pwd.getpwnam("nobody") if os.geteuid() == 0 else None


class Getmail:
    """getmail6 with its own getmaildir (getmailrc, oldmail files) and a
    Maildir destination; run as nobody when the tests run as root."""

    def __init__(self, root, mt, user):
        self.root = root
        self.user = user
        self.mt = mt
        self.dir = root / "getmail"
        self.maildir = root / "Maildir"
        for d in (self.dir, self.maildir / "new", self.maildir / "cur", self.maildir / "tmp"):
            d.mkdir(parents=True)
        # The certificate ternd serves, for getmail to verify.
        self.ca = root / "ca.pem"
        shutil.copyfile(mt.cert_path, self.ca)
        self.runner = unprivileged()
        if self.runner:
            reachable_by_tern(root)
            for p in [root, *root.rglob("*")]:
                os.chown(p, self.runner.pw_uid, self.runner.pw_gid)

    def run(self, ssl, delete, read_all=False):
        """One run; returns (exit code, {file name: octets} new in the
        Maildir, output)."""
        if ssl:
            retriever = ["type = SimplePOP3SSLRetriever", "port = %d" % self.mt.pop3s_port,
                         "ca_certs = %s" % self.ca, "ssl_cert_hostname = mx.example.test"]
        else:
            retriever = ["type = SimplePOP3Retriever", "port = %d" % self.mt.pop3_port]
        rc = self.dir / "getmailrc"
        rc.write_text("\n".join(
            ["[retriever]"] + retriever + [
                "server = 127.0.0.1",
                "username = %s" % self.user,
                "password = %s" % PASSWORDS[self.user],
                "", "[destination]", "type = Maildir", "path = %s/" % self.maildir,
                "", "[options]", "verbose = 2",
                "delete = %s" % ("true" if delete else "false"),
                "read_all = %s" % ("true" if read_all else "false"),
                # No fields of getmail's own: the message as retrieved.
                "delivered_to = false", "received = false"]) + "\n")
        if self.runner:
            os.chown(rc, self.runner.pw_uid, self.runner.pw_gid)
        kw = {}
        if self.runner:
            kw = dict(user=self.runner.pw_uid, group=self.runner.pw_gid, extra_groups=[])
        before = set(os.listdir(self.maildir / "new"))
        p = subprocess.run([tool("getmail"), "--getmaildir", str(self.dir), "--rcfile", "getmailrc"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=t(60),
                           env={"HOME": str(self.root), "PATH": os.environ["PATH"]},
                           cwd=str(self.root), **kw)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        # getmail names its files <secs>.M<usecs>P<pid>Q<n>R<random>.<host>,
        # n counting its deliveries of this run: their order.
        new = sorted(set(os.listdir(self.maildir / "new")) - before,
                     key=lambda f: int(re.search(r"Q(\d+)", f).group(1)))
        return p.returncode, [(self.maildir / "new" / f).read_bytes() for f in new], out

    def oldmail(self, port):
        """The UIDLs getmail remembers for this account and port (lines of
        UIDL NUL time)."""
        f = self.dir / ("oldmail-127.0.0.1-%d-%s" % (port, self.user))
        return sorted(l.split("\0")[0] for l in f.read_text().splitlines() if l)


def test_getmail_keep_then_delete(mail_factory, tmp_path):
    # SimplePOP3Retriever has no STLS: cleartext is allowed on loopback.
    mt = mail_factory(auth_cleartext_loopback="yes")
    sent = deliver_all(mt, BOB)
    stored = stored_by_number(mt, BOB)
    gm = Getmail(tmp_path / "gm", mt, BOB)

    rc, got, out = gm.run(ssl=True, delete=False)
    assert rc == 0 and len(got) == 3, out
    # getmail writes LF line ends.
    for n in (1, 2, 3):
        check_retrieved(got[n - 1], sent[n - 1], stored[n], lf=True)
    uidls = mt.uidls(BOB)
    assert gm.oldmail(mt.pop3s_port) == sorted(uidls.values())
    # RETR'd and kept: \Seen for the next reader (S in the file name).
    names = os.listdir(mt.maildir(BOB) / "cur")
    assert len(names) == 3 and all(n.endswith(":2,S") for n in names), names

    # Again: all three are in the oldmail file, none is retrieved.
    rc, got, out = gm.run(ssl=True, delete=False)
    assert rc == 0 and got == [], out
    assert "0 messages (0 bytes) retrieved, 3 skipped" in out

    # Delete mode in the clear, everything read again: the drop is empty.
    rc, got, out = gm.run(ssl=False, delete=True, read_all=True)
    assert rc == 0 and len(got) == 3, out
    for n in (1, 2, 3):
        check_retrieved(got[n - 1], sent[n - 1], stored[n], lf=True)
    mt.wait_for_log(r"event=pop3-expunged user=bob@example\.test messages=3")
    assert mt.uidls(BOB) == {}
    assert os.listdir(mt.maildir(BOB) / "cur") == []
