"""Shared machinery for the submission, TLS and DKIM tests
(test_submission_*.py, test_tls_*.py, test_dkim.py).

- SubTern: a tern_harness.Tern that also listens for submission (STARTTLS,
  then AUTH) and smtps (implicit TLS), with users that have passwords and
  any extra configuration lines (route, dkim_key, ...);
- the `sub_factory` fixture: sub_factory(**settings) -> a started SubTern,
  stopped on teardown with the harness checks (SIGTERM exits 0, no
  sanitizer report in the log);
- TLS helpers: a client context that does not verify (SubTern.cert_path is
  the certificate served: the harness's shared pair, or the self-signed
  one ternd generates into data_dir/tls/ when tls_cert=None), SubRaw (a
  RawClient from any 127/8 source address) and starttls() to wrap it, and
  BioTls to choose exactly which TLS octets go out in one write;
- the `peers` fixture: relayenv Peers (aiosmtpd remote MX) on 127.0.0.N;
- TxtDns: relayenv's Unbound serving TXT records (DKIM keys) in the zone
  example.test.; dkim_dnsfunc() queries it with dnspython for dkimpy;
- nodemailer_dir(): where `make deps` installed nodemailer.

Every wait is bounded and stretched by TERN_SANITIZED=1.
"""
import base64
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tern_harness import (DOMAIN, HOSTNAME, SANITIZER_MARKERS, TERNCTL, RawClient,  # noqa: E402,F401
                          Tern, TernError, t)
import relayenv  # noqa: E402

# Every mailbox of the default SubTern has a password ({PLAIN}: the
# hashing is tested through ternctl, which writes {CRYPT}$y$ hashes).
PASSWORDS = {
    "alice@example.test": "alice-Secret-1",
    "bob@example.test": "bob pass with spaces",
    "postmaster@example.test": "pm-pw",
}
SUB_USERS = ["%s:{PLAIN}%s" % kv for kv in PASSWORDS.items()]
ALICE, BOB = "alice@example.test", "bob@example.test"


def no_verify_ctx():
    """A TLS client context that accepts any certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def plain_b64(user, password, authzid=""):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, user, password)).encode()).decode()


def b64(s):
    return base64.b64encode(s.encode()).decode()


class SubTern(Tern):
    """A ternd with smtp, submission and smtps listeners."""

    # The listeners' ports, moved together when one was taken at start.
    port_attrs = ("port", "sub_port", "smtps_port")

    def __init__(self, root, extra=(), **kw):
        # Ports outside the ephemeral range (relayenv.free_port), so that a
        # client's outgoing connection cannot take one before ternd binds.
        self.sub_port = relayenv.free_port()
        self.smtps_port = relayenv.free_port()
        while self.smtps_port == self.sub_port:
            self.smtps_port = relayenv.free_port()
        self.extra = list(extra)
        super().__init__(root, **kw)
        self.port = relayenv.free_port()
        while self.port in (self.sub_port, self.smtps_port):
            self.port = relayenv.free_port()
        self.write_files()

    def start(self, timeout=10):
        """Tern.start; if a port was taken meanwhile (by another test run),
        again on new ports (the users and aliases files are left as they
        are)."""
        for attempt in range(6):
            try:
                return super().start(timeout)
            except TernError as e:
                if "Address already in use" not in str(e) or attempt == 5:
                    raise
                time.sleep(0.2 * (attempt + 1))   # whatever holds them may pass
                self.exits = [x for x in self.exits if x[0] != "start"]
                conf = self.config_path.read_text()
                # New ports, all different (from each other and from the
                # old ones), swapped in through placeholders so that no
                # new port can be mistaken for an old one of another line.
                taken = {getattr(self, a) for a in self.port_attrs}
                for i, attr in enumerate(self.port_attrs):
                    conf = conf.replace("127.0.0.1:%d\n" % getattr(self, attr),
                                        "127.0.0.1:@%d@\n" % i)
                for i, attr in enumerate(self.port_attrs):
                    n = relayenv.free_port()
                    while n in taken:
                        n = relayenv.free_port()
                    taken.add(n)
                    setattr(self, attr, n)
                    conf = conf.replace("127.0.0.1:@%d@\n" % i, "127.0.0.1:%d\n" % n)
                self.config_path.write_text(conf)

    def write_files(self):
        super().write_files()
        with open(self.config_path, "a") as f:
            f.write("listen submission 127.0.0.1:%d\n" % self.sub_port)
            f.write("listen smtps 127.0.0.1:%d\n" % self.smtps_port)
            for line in self.extra:
                f.write(line + "\n")

    @property
    def cert_path(self):
        """The certificate ternd serves: tls_cert (the harness shares one
        pair between instances), else the self-signed one it generated."""
        if self.settings.get("tls_cert"):
            return Path(self.settings["tls_cert"])
        return self.data_dir / "tls" / "cert.pem"

    # -- clients --

    def submission(self, user=None, password=None, timeout=10, source=None):
        """smtplib on the submission port, after STARTTLS and EHLO; logged
        in when user is given."""
        s = smtplib.SMTP("127.0.0.1", self.sub_port, local_hostname="client.example.net",
                         timeout=t(timeout), source_address=(source, 0) if source else None)
        try:
            s.starttls(context=no_verify_ctx())
            s.ehlo()
            if user is not None:
                s.login(user, PASSWORDS[user] if password is None else password)
        except BaseException:
            s.close()
            raise
        return s

    def smtps(self, user=None, password=None, timeout=10):
        s = smtplib.SMTP_SSL("127.0.0.1", self.smtps_port, local_hostname="client.example.net",
                             timeout=t(timeout), context=no_verify_ctx())
        try:
            s.ehlo()
            if user is not None:
                s.login(user, PASSWORDS[user] if password is None else password)
        except BaseException:
            s.close()
            raise
        return s

    def raw_sub(self, timeout=10, source=None):
        """RawClient on the submission port after the greeting (cleartext)."""
        c = SubRaw(self.sub_port, t(timeout), source)
        c.expect(220)
        return c

    def raw_tls(self, timeout=10, source=None, user=None):
        """RawClient on the submission port after STARTTLS and EHLO (and
        AUTH PLAIN when user is given)."""
        c = self.raw_sub(timeout, source)
        c.ehlo()
        code, lines = c.cmd("STARTTLS")
        assert code == 220, lines
        starttls(c)
        c.ehlo()
        if user is not None:
            c.cmd_expect("AUTH PLAIN " + plain_b64(user, PASSWORDS[user]), 235)
        return c

    def raw_smtps(self, timeout=10):
        c = SubRaw(self.smtps_port, t(timeout))
        starttls(c)
        c.expect(220)
        return c

    def ternctl(self, *args, input=None, timeout=30):
        p = subprocess.run([str(TERNCTL), "-c", str(self.config_path)] + list(args),
                           input=input.encode() if isinstance(input, str) else input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(timeout))
        err = p.stderr.decode()
        assert not any(m in err for m in SANITIZER_MARKERS), err
        return p.returncode, p.stdout.decode(), err

    def reload(self, timeout=10):
        """SIGHUP; waits for the event=reloaded line it causes."""
        before = self.log_count(r"event=reloaded ")
        os.kill(self.pid, signal.SIGHUP)
        self.wait_for_log(r"event=reloaded ", count=before + 1, timeout=timeout)


class SubRaw(RawClient):
    """tern_harness.RawClient, from a chosen source address, with
    cmd_expect()."""

    def __init__(self, port, timeout=10, source=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.timeout = timeout
        self.buf = b""

    def cmd_expect(self, line, code, text=None):
        got, lines = self.cmd(line)
        assert got == code, "%s: wanted %d, got %r" % (line.split(" ")[0], code, lines)
        if text is not None:
            assert text in lines[-1], "wanted %r in %r" % (text, lines)
        return lines


def starttls(c, ctx=None, server_hostname=None):
    """Wraps a RawClient's socket in TLS (after its 220 to STARTTLS, or at
    once for smtps). Nothing may be buffered from before."""
    assert c.buf == b"", "data after the 220 to STARTTLS: %r" % c.buf
    c.sock.settimeout(c.timeout)
    c.sock = (ctx or no_verify_ctx()).wrap_socket(c.sock, server_hostname=server_hostname)
    c.buf = b""
    return c


def instances(tmp_path, cls, default_users=None):
    """The body of a factory fixture: yields make(start=True, users=None,
    aliases=None, extra=(), name=None, **settings) -> a started cls (a
    SubTern or a subclass) with users default_users (SUB_USERS when
    None); at teardown every instance is stopped with the harness checks
    (SIGTERM exits 0, no sanitizer report), and the test fails if one
    did not pass them."""
    made = []

    def make(start=True, users=None, aliases=None, extra=(), name=None, **settings):
        root = tmp_path / (name or ("ternd%d" % len(made)))
        inst = cls(root, extra=extra, settings=settings,
                   users=(default_users or SUB_USERS) if users is None else users,
                   aliases=aliases)
        made.append(inst)
        if start:
            inst.start()
        return inst

    yield make
    errors = []
    for inst in made:
        try:
            inst.close()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("ternd teardown:\n" + "\n\n".join(errors), pytrace=False)


@pytest.fixture
def sub_factory(tmp_path):
    """sub_factory(start=True, users=None, aliases=None, extra=(), name=None,
    **settings) -> a started SubTern. users default to SUB_USERS."""
    yield from instances(tmp_path, SubTern)


@pytest.fixture
def sub(sub_factory):
    return sub_factory()


# ---------------------------------------------------------------- peers --

@pytest.fixture
def peers():
    """peers(ip) -> a started relayenv.Peer on ip:port (one port for all
    of the test); each is stopped on teardown."""
    made = []
    port = relayenv.free_port()

    def make(ip="127.0.0.2", name=None):
        p = relayenv.Peer(ip, port, name or "mx.example.net")
        made.append(p)
        return p.start()

    make.port = port
    yield make
    for p in made:
        p.stop()


# ------------------------------------------------------------ messages --

def make_msg(sender=ALICE, to="rcpt@example.net", subject="submission test", body="Hello.\r\n",
             headers=(), date=True, msgid=True):
    lines = ["From: <%s>" % sender, "To: <%s>" % to, "Subject: %s" % subject]
    if date:
        lines.append("Date: Mon, 01 Jan 2024 00:00:00 +0000")
    if msgid is True:
        lines.append("Message-ID: <%x.%d@client.example.net>" % (int(time.time() * 1e6), os.getpid()))
    elif msgid:
        lines.append("Message-ID: %s" % msgid)
    lines += list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def header_block(blob):
    """The header section of a message (bytes, up to the empty line)."""
    i = blob.find(b"\r\n\r\n")
    return blob[:i + 2] if i != -1 else blob


def tool(name):
    """Path of an installed client program. A missing one fails the test:
    `make deps` installs every client (tests/preflight.sh checks them)."""
    p = shutil.which(name) or ("/usr/bin/" + name if os.access("/usr/bin/" + name, os.X_OK) else None)
    if p is None:
        pytest.fail("%s is not installed; run `make deps`" % name)
    return p


def run(cmd, timeout=30, input=None, env=None):
    """Runs a client; returns (rc, combined output)."""
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=t(timeout), env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace")


# ------------------------------------------------------------------ DNS --

def txt_local_data(name, text):
    """An unbound local-data line for a TXT record, its text split into
    quoted character-strings of at most 255 octets (RFC 1035 §3.3.14)."""
    chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
    return "local-data: '%s IN TXT %s'" % (name, " ".join('"%s"' % c for c in chunks))


class TxtDns(relayenv.Unbound):
    """relayenv's Unbound serving `local_data`: ready unbound local-data
    lines such as txt_local_data() makes (a TXT record's own quoted
    strings cannot live in the double quotes relayenv puts records in).
    The zone example.test. is local: any other name in it is NXDOMAIN."""

    def __init__(self, workdir, local_data):
        super().__init__(workdir, (), zone=DOMAIN, local_data=local_data)


def dkim_dnsfunc(dns_port, timeout=2):
    """A dnsfunc for dkimpy asking the unbound on 127.0.0.1:dns_port."""
    import dns.message
    import dns.query
    import dns.rdatatype

    def lookup(name, timeout=timeout):
        if isinstance(name, bytes):
            name = name.decode()
        q = dns.message.make_query(name, dns.rdatatype.TXT)
        r = dns.query.udp(q, "127.0.0.1", port=dns_port, timeout=t(timeout))
        for rrset in r.answer:
            for rd in rrset:
                if rd.rdtype == dns.rdatatype.TXT:
                    return b"".join(rd.strings)
        return None
    return lookup


# ------------------------------------------------------------ nodemailer --

NODE_DIR = Path(os.environ.get("TERN_NODE_DIR")
                or Path(__file__).resolve().parents[2] / ".deps" / "node")


def nodemailer_dir():
    """The directory whose node_modules has nodemailer, installed there by
    `make deps` (TERN_NODE_DIR to use another). Missing means a broken
    set-up, so the test fails rather than skips."""
    if not (NODE_DIR / "node_modules" / "nodemailer" / "package.json").is_file():
        pytest.fail("nodemailer is not installed in %s; run `make deps`" % NODE_DIR)
    return NODE_DIR


NODEMAILER_JS = r"""
const nodemailer = require("nodemailer");
const cfg = JSON.parse(process.argv[1]);
const tr = nodemailer.createTransport({
  host: "127.0.0.1", port: cfg.port, secure: cfg.secure, requireTLS: !cfg.secure,
  name: "nodemailer.example.net",
  auth: { user: cfg.user, pass: cfg.pass, method: cfg.method },
  tls: cfg.ca ? { ca: [require("fs").readFileSync(cfg.ca)], servername: cfg.servername }
              : { rejectUnauthorized: false },
  connectionTimeout: cfg.timeout, greetingTimeout: cfg.timeout, socketTimeout: cfg.timeout,
});
tr.sendMail({ from: cfg.from, to: cfg.to, subject: cfg.subject, text: cfg.text })
  .then(info => { console.log("OK " + JSON.stringify(info)); })
  .catch(err => { console.log("ERR " + err.message + " " + (err.response || "")); process.exit(3); });
"""


# ------------------------------------------------- TLS over memory BIOs --

class BioTls:
    """A TLS client over a plain socket driven through memory BIOs, so a
    test decides exactly which octets go out in one write (e.g. the
    client's Finished together with its first command)."""

    def __init__(self, sock, ctx=None, timeout=10):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = (ctx or no_verify_ctx()).wrap_bio(self.inc, self.out, server_side=False)
        self.buf = b""

    def _pull(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.inc.write(chunk)

    def handshake(self):
        """Runs the handshake but keeps the client's last flight (in TLS
        1.3 its Finished) unsent; flush() or send() sends it."""
        while True:
            try:
                self.obj.do_handshake()
                return self
            except ssl.SSLWantReadError:
                pending = self.out.read()
                if pending:
                    self.sock.sendall(pending)
                self._pull()

    def send(self, data):
        """Encrypts data and sends it with whatever handshake octets are
        still pending, in one write."""
        self.obj.write(data)
        self.flush()

    def flush(self):
        pending = self.out.read()
        if pending:
            self.sock.sendall(pending)

    def reply(self):
        """One SMTP reply: (code, lines)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                try:
                    self.buf += self.obj.read(65536)
                except ssl.SSLWantReadError:
                    self.flush()
                    self._pull()
            line, self.buf = self.buf.split(b"\r\n", 1)
            line = line.decode("utf-8", "replace")
            lines.append(line)
            if len(line) < 4 or line[3] == " ":
                return int(line[:3]), lines
