"""Shared machinery for the outbound-delivery tests (test_relay_*.py).

A plain module, not a conftest: the relay tests import it. It provides

- Unbound: a real unbound on a free loopback port serving a test zone
  (everything under ZONE is local data; a name without data is
  NXDOMAIN; selected domains can be made to SERVFAIL);
- Peer: an aiosmtpd server on 127.0.0.N (or ::1) that records what it
  receives (with the MAIL parameters), can refuse chosen recipients (or
  MAIL, or the end of DATA) with any reply, can sleep in DATA or hang up
  there, counts its SMTP sessions and the most connections it had open at
  once, and can be stopped and started again on the same address; it can
  leave SMTPUTF8 out of its EHLO, offer STARTTLS only to refuse it, or
  do STARTTLS for real;
  RawPeer: a listener that only sends a given greeting (554/421) and
  hangs up;
- Ternd: a ternd process with its own data_dir, config and log, with log
  parsing helpers and the teardown checks (SIGTERM exits 0; no sanitizer
  report in the log);
- RelayEnv and the `relay` fixture tying them together per test, with one
  TCP port shared by every server of the test, so that DNS-found MX hosts
  (ternd's smtp_port) and the ternds themselves live on 127.0.0.N:PORT.

Binaries come from $TERN_BUILD (default /work/main/build). With
TERN_SANITIZED=1 the waits are longer.

Remote domains live under ZONE ("example."), not under "test.": see ZONE.
Other helpers' modules (subenv.py) use free_port, wait_until, dns_query,
UNBOUND, Unbound and Peer; keep those signatures.
"""

import asyncio
import email
import os
import random
import re
import signal
import smtplib
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from tern_harness import free_port, reachable_by_tern  # noqa: F401  (free_port: for the tests)
from aiosmtpd.smtp import SMTP

BUILD = Path(os.environ.get("TERN_BUILD", "/work/main/build"))
SANITIZED = os.environ.get("TERN_SANITIZED") == "1"
UNBOUND = "/usr/sbin/unbound"
# The DNS zone of the remote domains. Not "test.": libunbound (in ternd)
# answers names under test., invalid., onion., localhost. and home.arpa.
# from its built-in RFC 6761 local zones (NXDOMAIN) and never asks the
# configured resolver.
ZONE = "example"
# Every wait is bounded; sanitized binaries get more time.
SLOW = 3.0 if SANITIZED else 1.0
SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer")

_rng = random.Random()


# ------------------------------------------------------------ utilities --

def wait_until(pred, timeout, what="condition", interval=0.02):
    """Polls pred() until it returns something true; fails after timeout
    seconds (times SLOW). Returns pred's value."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout * SLOW, what))
        time.sleep(interval)


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def make_msg(subject="test", body="hello\r\n", msgid=None, headers=(), sender="alice@example.test",
             to="someone@example.net"):
    """A small RFC 5322 message with CRLF line ends, as bytes."""
    msgid = msgid or "<%x.%x@client.test>" % (int(time.time() * 1e6), _rng.getrandbits(32))
    lines = list(headers) + [
        "From: <%s>" % sender,
        "To: <%s>" % to,
        "Subject: %s" % subject,
        "Message-ID: %s" % msgid,
        "Date: Mon, 01 Jan 2024 00:00:00 +0000",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def send(host, port, sender, rcpts, msg, mail_options=(), rcpt_options=(), source=None,
         timeout=15):
    """One transaction over a fresh connection. Returns sendmail's dict of
    refused recipients; raises smtplib errors as smtplib does."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    with smtplib.SMTP(host, port, local_hostname="client.test", timeout=timeout * SLOW,
                      source_address=(source, 0) if source else None) as s:
        return s.sendmail(sender, list(rcpts), msg, list(mail_options), list(rcpt_options))


# ------------------------------------------------------------------ DNS --

def dns_query(port, name, qtype, timeout=1.0):
    """One raw UDP query to 127.0.0.1:port; returns (rcode, answer count)."""
    qid = _rng.randrange(65536)
    pkt = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    pkt += b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split("."))
    pkt += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(pkt, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
    finally:
        s.close()
    flags, _qd, an = struct.unpack(">HHH", data[2:8])
    return flags & 0xF, an


class Unbound:
    """unbound serving `records` (local-data strings such as
    "a.example. MX 10 mx1.a.example.") for the zone `zone` (ZONE); any
    other name under it is NXDOMAIN. `local_data` are whole unbound lines
    (e.g. "local-data: '... TXT \"..\"'", which cannot be put in the
    double quotes `records` get). Each domain in `servfail` is forwarded to
    a closed port with short timeouts, so lookups under it SERVFAIL."""

    def __init__(self, workdir, records, servfail=(), zone=ZONE, local_data=()):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        dead = free_port()
        conf = [
            "server:",
            "  interface: 127.0.0.1@%d" % self.port,
            "  port: %d" % self.port,
            "  do-daemonize: no",
            '  chroot: ""',
            '  username: ""',
            '  pidfile: ""',
            '  directory: "%s"' % self.dir,
            '  logfile: ""',
            "  use-syslog: no",
            "  verbosity: 1",
            "  do-ip6: no",
            "  access-control: 127.0.0.0/8 allow",
            '  module-config: "iterator"',
            "  do-not-query-localhost: no",
            "  infra-cache-max-rtt: 200",
            "  outbound-msg-retry: 1",
            '  local-zone: "%s." static' % zone,
        ]
        conf += ["  " + line for line in local_data]
        for d in servfail:
            conf.append('  local-zone: "%s." transparent' % d.rstrip("."))
        for r in records:
            conf.append('  local-data: "%s"' % r)
        for d in servfail:
            conf += ["forward-zone:", '  name: "%s."' % d.rstrip("."),
                     "  forward-addr: 127.0.0.1@%d" % dead]
        self.conf = self.dir / "unbound.conf"
        self.conf.write_text("\n".join(conf) + "\n")
        self.log = self.dir / "unbound.log"
        with open(self.log, "wb") as lf:
            self.proc = subprocess.Popen([UNBOUND, "-d", "-c", str(self.conf)],
                                         stdout=lf, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("unbound exited: %s" % self.log.read_text())
            try:
                dns_query(self.port, "ready." + zone, 1, timeout=0.2)
                return True
            except OSError:
                return False
        wait_until(ready, 10, "unbound to answer")

    @property
    def resolver(self):
        return "127.0.0.1@%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# ---------------------------------------------------------------- peers --

class Received:
    """One message a peer accepted."""

    def __init__(self, mail_from, rcpt_tos, content, session, mail_options=()):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.content = content
        self.session = session
        self.mail_options = list(mail_options)   # as given on MAIL, e.g. "BODY=8BITMIME"
        self.msg = email.message_from_bytes(content)

    @property
    def msgid(self):
        return self.msg["Message-ID"]

    def __repr__(self):
        return "<Received from=%s to=%s id=%s>" % (self.mail_from, self.rcpt_tos, self.msgid)


class _Handler:
    def __init__(self, peer):
        self.peer = peer

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.peer._session_started(session)
        session.host_name = hostname
        if self.peer.starttls_reply:
            # Offered, to be refused (see _CountingSMTP.smtp_STARTTLS).
            responses.insert(len(responses) - 1, "250-STARTTLS")
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self.peer._session_started(session)
        session.host_name = hostname
        return "250 %s" % server.hostname

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.peer.lock:
            reply = self.peer.mail_reply
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.peer.lock:
            reply = self.peer.rcpt_replies.get(address.lower())
            self.peer.rcpt_log.append(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        p = self.peer
        if p.data_delay:
            with p.lock:
                p.data_started += 1
            await asyncio.sleep(p.data_delay)
        with p.lock:
            if p.drop_in_data > 0:
                # Hang up instead of answering the final dot.
                p.drop_in_data -= 1
                server.transport.close()
                return "421 4.3.0 (not seen: the connection is gone)"
            reply = p.data_reply
            if not reply:
                p.messages.append(Received(envelope.mail_from, envelope.rcpt_tos,
                                           envelope.original_content or envelope.content,
                                           id(session), envelope.mail_options))
        return reply or "250 2.0.0 Ok: queued"


class _CountingSMTP(SMTP):
    """Tracks how many connections are open at once."""

    def __init__(self, peer, *args, **kwargs):
        self._peer = peer
        super().__init__(*args, **kwargs)

    def connection_made(self, transport):
        with self._peer.lock:
            self._peer.active += 1
            self._peer.max_active = max(self._peer.max_active, self._peer.active)
        super().connection_made(transport)

    def connection_lost(self, error):
        with self._peer.lock:
            self._peer.active -= 1
        super().connection_lost(error)

    async def smtp_STARTTLS(self, arg):
        with self._peer.lock:
            self._peer.starttls_seen += 1
            reply = self._peer.starttls_reply
        if reply:
            await self.push(reply)
            return
        await super().smtp_STARTTLS(arg)


class _PeerController(Controller):
    def __init__(self, peer, *args, **kwargs):
        self._peer = peer
        super().__init__(*args, **kwargs)

    def factory(self):
        return _CountingSMTP(self._peer, self.handler, **self.SMTP_kwargs)


class Peer:
    """An SMTP server at ip:port (aiosmtpd: no PIPELINING, no DSN; SIZE,
    8BITMIME and, unless smtputf8=False, SMTPUTF8) whose EHLO/greeting
    name is `name`.

    rcpt_replies maps a lower-case recipient to the reply its RCPT gets
    (e.g. "550 5.1.1 no such user"); mail_reply / data_reply override MAIL
    and the end of DATA; data_delay sleeps in DATA. Change them any time
    (under .lock, or with set_rcpt); drop_in_data > 0 hangs up at the
    final dot instead of answering, that many times. With starttls_reply
    (e.g. "454 4.7.0 TLS not available") EHLO offers STARTTLS and STARTTLS
    gets that reply; starttls_seen counts the STARTTLS commands. size_limit
    sets the SIZE it announces (aiosmtpd's default is 32 MiB; 0: no SIZE
    keyword at all). With
    tls_context (an ssl.SSLContext for a server) STARTTLS is offered and
    really done."""

    def __init__(self, ip, port, name, smtputf8=True, starttls_reply=None, size_limit=None,
                 tls_context=None):
        self.ip, self.port, self.name = ip, port, name
        self.tls_context = tls_context
        self.smtputf8 = smtputf8
        self.size_limit = size_limit
        self.starttls_reply = starttls_reply
        self.starttls_seen = 0
        self.lock = threading.Lock()
        self.messages = []
        self.rcpt_log = []
        self.rcpt_replies = {}
        self.mail_reply = None
        self.data_reply = None
        self.data_delay = 0.0
        self.drop_in_data = 0        # hang up at the final dot this many times
        self.data_started = 0
        self.sessions = 0            # EHLO/HELO seen: one per SMTP session
        self.active = 0              # TCP connections open now
        self.max_active = 0
        self._seen = set()
        self.controller = None

    def _session_started(self, session):
        with self.lock:
            if id(session) not in self._seen:
                self._seen.add(id(session))
                self.sessions += 1

    def set_rcpt(self, addr, reply):
        with self.lock:
            if reply is None:
                self.rcpt_replies.pop(addr.lower(), None)
            else:
                self.rcpt_replies[addr.lower()] = reply

    def start(self):
        assert self.controller is None
        # A Controller cannot be restarted: a new one each time.
        self.controller = _PeerController(self, _Handler(self), hostname=self.ip, port=self.port,
                                          server_hostname=self.name, ready_timeout=10 * SLOW,
                                          enable_SMTPUTF8=self.smtputf8,
                                          **({"data_size_limit": self.size_limit}
                                             if self.size_limit is not None else {}),
                                          **({"tls_context": self.tls_context}
                                             if self.tls_context else {}))
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def running(self):
        return self.controller is not None

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def wait_messages(self, n, timeout=10):
        """Waits until at least n messages arrived; returns them all."""
        return wait_until(lambda: len(self.messages) >= n and self.snapshot(), timeout,
                          "%d message(s) at %s (have %d)" % (n, self.name, len(self.messages)))

    def __repr__(self):
        return "<Peer %s %s:%d>" % (self.name, self.ip, self.port)


class RawPeer:
    """A bare TCP listener at ip:port that greets every connection with
    `greeting` (e.g. "554 5.3.2 no service") and hangs up after the
    client's next line or a second. Counts connections."""

    def __init__(self, ip, port, greeting):
        self.greeting = greeting
        self.connections = 0
        self.lines = []
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._halt.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            with c:
                try:
                    c.settimeout(1.0)
                    c.sendall(self.greeting.encode() + b"\r\n")
                    data = c.recv(1024)
                    if data:
                        self.lines.append(data.decode(errors="replace").strip())
                except OSError:
                    pass

    def stop(self):
        self._halt.set()
        self._thread.join(5)
        self.sock.close()


# ---------------------------------------------------------------- ternd --

_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def _unquote(v):
    if not v.startswith('"'):
        return v
    v = v[1:-1]
    return re.sub(r'\\(x[0-9A-Fa-f]{2}|.)',
                  lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "x" and len(m.group(1)) == 3
                  else m.group(1), v)


def parse_log_line(line):
    """The key=value fields of one ternd log line, values unquoted."""
    i = line.find("]: ")
    body = line[i + 3:] if i != -1 else line
    return {k: _unquote(v) for k, v in _KV.findall(body)}


class Ternd:
    """One ternd: its config, data_dir and log under env.tmp/<name>/."""

    def __init__(self, env, name, hostname, ip="127.0.0.1", domains=("example.test",),
                 users=("alice@example.test", "postmaster@example.test"), aliases=None,
                 relay_networks="127.0.0.0/8", routes=(), resolver=True, options=None):
        self.env = env
        self.name = name
        self.hostname = hostname
        self.ip = ip
        self.port = env.port
        self.dir = env.tmp / name
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        reachable_by_tern(self.data_dir)
        (self.data_dir / "users").write_text("".join(u + "\n" for u in users))
        (self.data_dir / "aliases").write_text(
            "".join("%s: %s\n" % (k, v) for k, v in (aliases or {}).items()))
        opts = {
            "retry_initial": "1s",
            "retry_max": "2s",
            "queue_lifetime": "60s",
            "smtp_connect_timeout": "5s",
            "smtp_idle_timeout": "10s",
            "smtp_port": str(env.port),
        }
        opts.update(options or {})
        lines = [
            "hostname %s" % hostname,
            "data_dir %s" % self.data_dir,
            "domains %s" % " ".join(domains),
            "listen smtp %s:%d" % (ip, self.port),
        ]
        if relay_networks:
            lines.append("relay_networks %s" % relay_networks)
        for dom, hop in routes:
            lines.append("route %s %s" % (dom, hop))
        if resolver is True:
            assert env.dns is not None, "start env.dns() before a ternd that resolves"
            lines.append("resolver %s" % env.dns.resolver)
        elif resolver:
            lines.append("resolver %s" % resolver)
        lines += ["%s %s" % kv for kv in opts.items() if kv[1] is not None]
        self.conf = self.dir / "ternd.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.log_path = self.dir / "ternd.log"
        self.proc = None
        self._log_start = 0
        self.runs = 0
        self.problems = []          # from runs that ended in kill9()

    # -- process --

    def start(self):
        assert self.proc is None, "ternd %s is running" % self.name
        reachable_by_tern(self.data_dir)   # a later pytest run may have reset it
        envv = dict(os.environ)
        envv.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        envv.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        with open(self.log_path, "ab") as lf:
            self._log_start = lf.tell()
            self.proc = subprocess.Popen([str(BUILD / "ternd"), "-c", str(self.conf)],
                                         stdout=lf, stderr=subprocess.STDOUT, env=envv)
        self.runs += 1

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("ternd %s exited with %s:\n%s" % (
                    self.name, self.proc.returncode, self.log_text()))
            return "event=started" in self.log_text(since_start=True)
        wait_until(ready, 10, "ternd %s to start" % self.name)
        return self

    def stop(self):
        """SIGTERM; returns a list of problems (empty when it exited 0 with
        a clean log), including those of earlier runs not yet reported.
        Calling it again, or on a stopped ternd, is harmless."""
        problems, self.problems = self.problems, []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                problems.append("ternd %s did not exit within %.0fs of SIGTERM" % (self.name, 15 * SLOW))
            else:
                if self.proc.returncode != 0:
                    problems.append("ternd %s exited %s after SIGTERM" % (self.name, self.proc.returncode))
        else:
            problems.append("ternd %s had exited by itself with %s" % (self.name, self.proc.returncode))
        problems += self.sanitizer_problems()
        self.proc = None
        return problems

    def kill9(self):
        """SIGKILL (a crash); what the log had so far is still checked."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.problems += self.sanitizer_problems()
        self.proc = None

    def sanitizer_problems(self):
        text = self.log_text(since_start=True)
        return ["ternd %s log has %r:\n%s" % (self.name, m, text[-6000:])
                for m in SANITIZER_MARKERS if m in text]

    # -- log --

    def log_text(self, since_start=False):
        try:
            with open(self.log_path, "rb") as f:
                if since_start:
                    f.seek(self._log_start)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def events(self, event=None, **match):
        """Parsed log lines (all runs), filtered by event and exact field
        values."""
        out = []
        for line in self.log_text().splitlines():
            if "event=" not in line:
                continue
            f = parse_log_line(line)
            if event is not None and f.get("event") != event:
                continue
            if all(f.get(k) == v for k, v in match.items()):
                out.append(f)
        return out

    def wait_event(self, event, timeout=10, count=1, **match):
        """Waits for at least `count` matching log events; returns them."""
        return wait_until(lambda: len(self.events(event, **match)) >= count and
                          self.events(event, **match), timeout,
                          "%d x event=%s %s in ternd %s log" % (count, event, match, self.name))

    def deliveries(self, **match):
        return self.events("delivery", **match)

    def queued_id(self, since=0):
        """Queue id of the latest queued message."""
        ev = self.events("queued")
        assert ev, "nothing queued"
        return ev[-1]["id"]

    def wait_removed(self, qid, timeout=10):
        return self.wait_event("removed", timeout, id=qid)

    # -- mailboxes --

    def maildir(self, addr):
        local, domain = addr.split("@")
        return self.data_dir / "mail" / domain / local

    def mail(self, addr):
        """Files in the mailbox's new/, oldest name first."""
        d = self.maildir(addr) / "new"
        return sorted(d.iterdir()) if d.is_dir() else []

    def wait_mail(self, addr, n=1, timeout=10):
        return wait_until(lambda: len(self.mail(addr)) >= n and self.mail(addr), timeout,
                          "%d message(s) in %s's maildir at %s" % (n, addr, self.name))

    def all_mail(self):
        root = self.data_dir / "mail"
        return sorted(p for p in root.glob("*/*/new/*")) if root.is_dir() else []

    # -- client --

    def send(self, sender, rcpts, msg=None, **kw):
        if msg is None:
            msg = make_msg(sender=sender or "mailer-daemon@client.test",
                           to=rcpts if isinstance(rcpts, str) else rcpts[0])
        return send(self.ip, self.port, sender, rcpts, msg, **kw)

    def smtp(self, source=None):
        """A connected, EHLO'd smtplib client (caller closes it)."""
        s = smtplib.SMTP(self.ip, self.port, local_hostname="client.test", timeout=15 * SLOW,
                         source_address=(source, 0) if source else None)
        s.ehlo()
        return s


# ----------------------------------------------------------------- DSNs --

class Dsn:
    """A parsed RFC 3464 report."""

    def __init__(self, raw):
        self.raw = raw
        self.msg = email.message_from_bytes(raw)
        m = self.msg
        assert m.get_content_type() == "multipart/report", m.get_content_type()
        assert m.get_param("report-type") == "delivery-status", m.get_param("report-type")
        self.parts = m.get_payload()
        assert len(self.parts) in (2, 3), [p.get_content_type() for p in self.parts]
        self.text = self.parts[0].get_payload(decode=True).decode("utf-8", "replace")
        status = self.parts[1]
        assert status.get_content_type() == "message/delivery-status", status.get_content_type()
        blocks = status.get_payload()
        assert isinstance(blocks, list) and len(blocks) >= 2, blocks
        self.per_message = blocks[0]
        self.recipients = blocks[1:]
        self.returned = self.parts[2] if len(self.parts) == 3 else None

    def rcpt(self, addr):
        """The per-recipient block whose Final-Recipient is addr."""
        for b in self.recipients:
            fr = b["Final-Recipient"] or ""
            if fr.split(";", 1)[-1].strip().lower() == addr.lower():
                return b
        raise AssertionError("no per-recipient block for %s in:\n%s" % (addr, self.raw.decode(errors="replace")))

    def final_recipients(self):
        return sorted((b["Final-Recipient"] or "").split(";", 1)[-1].strip().lower()
                      for b in self.recipients)


def read_dsn(path):
    return Dsn(Path(path).read_bytes())


# ------------------------------------------------------------ the env --

class RelayEnv:
    """Everything one test starts; close() stops it all and reports
    problems found on the way (sanitizer output, bad exit codes)."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.port = free_port()
        self.dns = None
        self.peers = []
        self.ternds = []

    def start_dns(self, records, servfail=()):
        assert self.dns is None
        self.dns = Unbound(self.tmp / "unbound", records, servfail)
        return self.dns

    def raw_peer(self, ip, greeting):
        p = RawPeer(ip, self.port, greeting)
        self.peers.append(p)
        return p

    def peer(self, ip, name=None, start=True, **kw):
        p = Peer(ip, self.port, name or "peer-%s.example.net" % ip.replace(":", "-").replace(".", "-"),
                 **kw)
        self.peers.append(p)
        if start:
            p.start()
        return p

    def ternd(self, name="a", hostname=None, start=True, **kw):
        t = Ternd(self, name, hostname or "tern-%s.test" % name, **kw)
        self.ternds.append(t)
        if start:
            t.start()
        return t

    def close(self):
        problems = []
        for t in self.ternds:
            try:
                problems += t.stop()
            except Exception as e:  # keep stopping the rest
                problems.append("stopping ternd %s: %r" % (t.name, e))
        for p in self.peers:
            try:
                p.stop()
            except Exception as e:
                problems.append("stopping %r: %r" % (p, e))
        if self.dns:
            self.dns.stop()
        return problems


@pytest.fixture
def relay(tmp_path):
    env = RelayEnv(tmp_path)
    try:
        yield env
    finally:
        problems = env.close()
    if problems:
        pytest.fail("teardown problems:\n" + "\n".join(problems), pytrace=False)
