"""Shared machinery for the integration and durability tests.

Runs a real ternd from $TERN_BUILD (default: <repo>/build) on a free
loopback port with its own data directory, and talks SMTP to it with raw
sockets. Every wait here is bounded; TERN_SANITIZED=1 (an ASan+UBSan build)
stretches the bounds.
"""
import atexit
import hashlib
import os
import random
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("TERN_BUILD") or (REPO / "build")).resolve()
TERND = BUILD / "ternd"
TERNCTL = BUILD / "ternctl"
SANITIZED = os.environ.get("TERN_SANITIZED", "") not in ("", "0")
# Every timeout is multiplied by this.
SLOW = 4.0 if SANITIZED else 1.0

DOMAIN = "example.test"
HOSTNAME = "mx.example.test"
USERS = ["postmaster@example.test", "alice@example.test", "bob@example.test"]
ALIASES = "team: alice, bob\ninfo: alice\n"

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                     "UndefinedBehaviorSanitizer", "ThreadSanitizer")


def t(seconds):
    """A timeout, stretched under sanitizers."""
    return seconds * SLOW


def _bindable(family, kind, host, port):
    try:
        s = socket.socket(family, kind)
    except OSError:          # no IPv6 here: nothing can use it either
        return True
    try:
        # No SO_REUSEADDR: binding the wildcard fails if anything at all
        # uses this port on any address.
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _port_slice():
    """The ports this test process picks from: below the ephemeral range
    (a port the kernel gave us for bind(0) may be its source port for
    someone's connect() before ternd binds it), and under pytest-xdist
    one slice per worker, so that two workers never pick the same port
    between one's check and its server's bind (they did: "Address
    already in use", once in a CI run)."""
    lo, hi = 11000, 32000
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            hi = min(hi, int(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        pass
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if worker.startswith("gw") and worker[2:].isdigit() and count > 1:
        width = (hi - lo) // count
        lo += int(worker[2:]) % count * width
        hi = lo + width
    return lo, hi


_port_rng = random.Random()
_handed = []     # ports free_port() returned lately


def free_port():
    """A port nobody uses on any IPv4 or IPv6 address, TCP or UDP, from
    this process's slice (see _port_slice)."""
    lo, hi = _port_slice()
    for _ in range(500):
        p = _port_rng.randrange(lo, hi)
        # Never the same port twice in a while from this process: two
        # listeners of one ternd given one port would collide on every
        # retry (its listen lines are rewritten by port).
        if p in _handed:
            continue
        if (_bindable(socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0", p) and
                _bindable(socket.AF_INET, socket.SOCK_DGRAM, "0.0.0.0", p) and
                _bindable(socket.AF_INET6, socket.SOCK_STREAM, "::", p)):
            _handed.append(p)
            del _handed[:-2000]
            return p
    raise RuntimeError("no free port")


_tls_pair = None


def shared_tls_settings():
    """tls_cert/tls_key settings pointing at one EC pair made once per test
    run, so that ternd does not generate an RSA key at every start. Empty
    when this ternd has no such keys or openssl is missing."""
    global _tls_pair
    if _tls_pair is None:
        _tls_pair = {}
        try:
            knows = b"tls_cert" in TERND.read_bytes()
        except OSError:
            knows = False
        openssl = shutil.which("openssl")
        if knows and openssl:
            d = tempfile.mkdtemp(prefix="tern-tls-")
            atexit.register(shutil.rmtree, d, True)
            cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
            p = subprocess.run([openssl, "req", "-x509", "-newkey", "ec",
                                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                "-keyout", key, "-out", cert, "-days", "30",
                                "-subj", "/CN=" + HOSTNAME,
                                "-addext", "subjectAltName=DNS:" + HOSTNAME],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60)
            if p.returncode == 0:
                _tls_pair = {"tls_cert": cert, "tls_key": key}
    return dict(_tls_pair)


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def reachable_by_tern(path):
    """Run as root, ternd becomes the user tern (run_as), which must reach
    its data_dir: pytest makes its directories 0700, so let others pass
    through them (search only, no listing) from path up to /tmp."""
    if os.geteuid() != 0:
        return
    for p in [Path(path), *Path(path).parents]:
        if str(p) in ("/", "/tmp"):
            break
        st = os.stat(p)
        if st.st_mode & 0o011 != 0o011:
            os.chmod(p, (st.st_mode & 0o7777) | 0o011)


def give_to_tern(path):
    """A directory a test made inside a data_dir, as root, handed to the
    user ternd runs as (what an administrator does with chown)."""
    if os.geteuid() != 0:
        return
    import pwd
    try:
        u = pwd.getpwnam("tern")
    except KeyError:
        return
    os.chown(path, u.pw_uid, u.pw_gid)


class TernError(AssertionError):
    pass


class Tern:
    """One ternd instance: its files, its process, its mailboxes."""

    def __init__(self, root, data_dir=None, settings=None, users=None,
                 aliases=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir) if data_dir else self.root / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        reachable_by_tern(self.data_dir)
        self.config_path = self.root / "ternd.conf"
        self.log_path = self.root / "ternd.log"
        self.port = free_port()
        self.settings = {
            "hostname": HOSTNAME,
            "data_dir": str(self.data_dir),
            "domains": DOMAIN,
            "users_file": "users",
            "aliases_file": "aliases",
            "idle_timeout": "%ds" % int(t(30)),
            "data_timeout": "%ds" % int(t(30)),
            "retry_initial": "1s",
            "retry_max": "2s",
            "io_threads": "4",
        }
        self.settings.update(shared_tls_settings())
        self.settings.update(settings or {})
        self.users = USERS if users is None else users
        self.aliases = ALIASES if aliases is None else aliases
        self.proc = None
        self.exits = []           # (how, returncode) of every stopped process
        self.ternd = TERND        # the binary start() runs (an installed copy, say)
        self.env = {}             # added to ternd's environment (LD_PRELOAD, say)
        self.write_files()

    # ------------------------------------------------------------ files --
    def write_files(self):
        lines = ["# written by tests/integration/tern_harness.py"]
        for k, v in self.settings.items():
            if v is not None:
                lines.append("%s %s" % (k, v))
        lines.append("listen smtp 127.0.0.1:%d" % self.port)
        self.config_path.write_text("\n".join(lines) + "\n")
        (self.data_dir / "users").write_text("".join(u + "\n" for u in self.users))
        (self.data_dir / "aliases").write_text(self.aliases)

    @property
    def queue_dir(self):
        return self.data_dir / "queue"

    def queue_files(self, sub="msg"):
        d = self.queue_dir / sub
        return sorted(p.name for p in d.iterdir()) if d.is_dir() else []

    def maildir(self, user):
        if "@" not in user:
            user = "%s@%s" % (user, DOMAIN)
        local, domain = user.rsplit("@", 1)
        return self.data_dir / "mail" / domain / local

    def message_files(self, user):
        new = self.maildir(user) / "new"
        if not new.is_dir():
            return []
        return sorted(new.iterdir())

    def messages(self, user):
        out = []
        for p in self.message_files(user):
            try:
                out.append(p.read_bytes())
            except FileNotFoundError:
                pass
        return out

    def wait_for_messages(self, user, n, timeout=10):
        """Waits until user's new/ holds at least n messages; returns them
        (sorted by file name, i.e. by delivery time)."""
        deadline = time.monotonic() + t(timeout)
        while True:
            msgs = self.messages(user)
            if len(msgs) >= n:
                return msgs
            if time.monotonic() > deadline:
                raise TernError("%s: %d message(s) after %.1fs, wanted %d\n--- log tail ---\n%s"
                                % (user, len(msgs), t(timeout), n, self.log_tail()))
            self.check_alive()
            time.sleep(0.02)

    def settle(self, timeout=10):
        """Waits until every queued message is removed from the queue (each
        one delivered or bounced), so mailboxes are final; and its state
        file too, which goes a directory fsync after its message
        (docs/queue.md)."""
        deadline = time.monotonic() + t(timeout)
        while True:
            msgs = self.queue_files("msg")
            if not msgs and not self.queue_files("tmp") and \
                    set(self.queue_files("state")) <= set(msgs):
                return
            if time.monotonic() > deadline:
                raise TernError("queue not empty after %.1fs: %s\n%s"
                                % (t(timeout), self.queue_files("msg"), self.log_tail()))
            time.sleep(0.02)

    # -------------------------------------------------------------- log --
    @property
    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log.splitlines()[-n:])

    def log_count(self, pattern):
        return len(re.findall(pattern, self.log))

    def wait_for_log(self, pattern, count=1, timeout=10):
        deadline = time.monotonic() + t(timeout)
        while True:
            found = re.findall(pattern, self.log)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TernError("log: %r seen %d time(s), wanted %d\n%s"
                                % (pattern, len(found), count, self.log_tail()))
            time.sleep(0.02)

    def sanitizer_reports(self):
        return [l for l in self.log.splitlines()
                if any(m in l for m in SANITIZER_MARKERS)]

    # ---------------------------------------------------------- process --
    def start(self, timeout=10):
        assert self.proc is None, "already running"
        env = dict(os.environ)
        if SANITIZED:
            env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.env)
        before = self.log_count(r"event=started")
        reachable_by_tern(self.data_dir)   # a later pytest run may have reset it
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([str(self.ternd), "-c", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, env=env, cwd=str(self.root))
        finally:
            logf.close()
        deadline = time.monotonic() + t(timeout)
        while self.log_count(r"event=started") <= before:
            rc = self.proc.poll()
            if rc is not None:
                self.exits.append(("start", rc))
                self.proc = None
                raise TernError("ternd exited with %s during startup:\n%s" % (rc, self.log_tail()))
            if time.monotonic() > deadline:
                self.kill9()
                raise TernError("ternd did not start within %.1fs:\n%s" % (t(timeout), self.log_tail()))
            time.sleep(0.01)
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            rc = self.proc.returncode
            self.exits.append(("died", rc))
            self.proc = None
            raise TernError("ternd died (exit %s):\n%s" % (rc, self.log_tail()))

    def stop(self, timeout=15):
        """SIGTERM, wait; returns the exit code (kill -9 after the timeout,
        then raises)."""
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=t(timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
            self.exits.append(("stop-timeout", p.returncode))
            raise TernError("ternd did not exit within %.1fs of SIGTERM:\n%s"
                            % (t(timeout), self.log_tail()))
        self.exits.append(("sigterm", rc))
        return rc

    def kill9(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
        self.exits.append(("sigkill", p.returncode))

    def restart(self, timeout=15):
        rc = self.stop(timeout)
        if rc != 0:
            raise TernError("ternd exited %s on SIGTERM:\n%s" % (rc, self.log_tail()))
        return self.start()

    def close(self):
        """Teardown: stop, then check the exit codes and the log."""
        problems = []
        try:
            self.stop()
        except TernError as e:
            problems.append(str(e))
        for how, rc in self.exits:
            if how == "sigkill":
                continue
            if rc != 0:
                problems.append("ternd exit %s (%s)" % (rc, how))
        reports = self.sanitizer_reports()
        if reports:
            problems.append("sanitizer reports in %s:\n%s" % (self.log_path, "\n".join(reports[:20])))
        if problems:
            raise TernError("\n".join(problems) + "\n--- log tail ---\n" + self.log_tail(60))

    # ---------------------------------------------------------- clients --
    def smtp(self, timeout=10, ehlo=True):
        s = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.example.net",
                         timeout=t(timeout))
        if ehlo:
            code, _ = s.ehlo()
            assert code == 250
        return s

    def raw(self, timeout=10, greeting=True):
        c = RawClient("127.0.0.1", self.port, timeout=t(timeout))
        if greeting:
            code, lines = c.reply()
            assert code == 220, lines
        return c


class RawClient:
    """A socket that speaks SMTP by hand: send bytes, read whole replies."""

    def __init__(self, host, port, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def cmd(self, line):
        """Sends one command line and returns its reply."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return self.reply()

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("no reply within %.1fs (have %r)" % (self.timeout, self.buf[-200:]))
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection (pending %r)" % self.buf)
        self.buf += chunk

    def line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self, timeout=None):
        """One (possibly multi-line) reply: (code, [text lines])."""
        lines = []
        while True:
            l = self.line(timeout).decode("utf-8", "replace")
            if len(l) < 3 or not l[:3].isdigit() or (len(l) > 3 and l[3] not in " -"):
                raise AssertionError("malformed reply line %r" % l)
            lines.append(l)
            if len(l) == 3 or l[3] == " ":
                codes = {x[:3] for x in lines}
                assert len(codes) == 1, "mixed codes in one reply: %r" % lines
                return int(l[:3]), lines

    def replies(self, n, timeout=None):
        return [self.reply(timeout) for _ in range(n)]

    def expect(self, code, text=None, timeout=None):
        c, lines = self.reply(timeout)
        assert c == code, "wanted %d, got %r" % (code, lines)
        if text is not None:
            assert text in lines[-1], "wanted %r in %r" % (text, lines)
        return lines

    def expect_closed(self, timeout=None):
        """Reads until EOF; returns any bytes that came first."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                self._fill(deadline)
            except ConnectionError:
                rest, self.buf = self.buf, b""
                return rest
            except ConnectionResetError:
                rest, self.buf = self.buf, b""
                return rest

    def no_reply(self, wait=0.3):
        """Asserts nothing arrives within wait seconds."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return
        finally:
            self.sock.settimeout(self.timeout)
        raise AssertionError("unexpected data from server: %r" % chunk)

    def ehlo(self, name="client.example.net"):
        code, lines = self.cmd("EHLO " + name)
        assert code == 250, lines
        return lines

    def send_message(self, sender, rcpts, data, mail_params=""):
        """A full DATA transaction; data is sent as is (caller stuffs dots
        and ends with CRLF.CRLF unless it contains it). Returns the final
        (code, lines)."""
        code, lines = self.cmd("MAIL FROM:<%s>%s" % (sender, (" " + mail_params) if mail_params else ""))
        assert code == 250, lines
        for r in rcpts:
            code, lines = self.cmd("RCPT TO:<%s>" % r)
            assert code == 250, lines
        code, lines = self.cmd("DATA")
        assert code == 354, lines
        self.send(data)
        return self.reply()


def meson_install(destdir):
    """`meson install --destdir` of the build under test (what make install
    does after its release build); returns {build file: installed path
    without destdir}."""
    import json
    p = subprocess.run(["meson", "install", "-C", str(BUILD), "--no-rebuild", "--quiet",
                        "--destdir", str(destdir)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=t(120))
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    p = subprocess.run(["meson", "introspect", str(BUILD), "--installed"],
                       capture_output=True, timeout=t(60))
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)


def queue_id_of(lines):
    m = re.search(r"queued as ([0-9A-F]{16})", lines[-1])
    assert m, lines
    return m.group(1)


def split_delivered(blob):
    """Splits a delivered file into (return_path, delivered_to,
    received_header, message). The Received header is the one tern adds
    (three folded lines)."""
    m = re.match(rb"Return-Path: <([^>]*)>\r\nDelivered-To: ([^\r\n]*)\r\n"
                 rb"(Received: from [^\r\n]*\r\n(?:\t[^\r\n]*\r\n)+)", blob)
    assert m, "delivered file does not start with Return-Path/Delivered-To/Received: %r" % blob[:300]
    return m.group(1), m.group(2), m.group(3), blob[m.end():]


def stuff(body):
    """Dot-stuffs CRLF text and appends the end-of-data mark."""
    lines = body.split(b"\r\n")
    out = b"\r\n".join((b"." + l) if l.startswith(b".") else l for l in lines)
    return out + b".\r\n" if body.endswith(b"\r\n") else out + b"\r\n.\r\n"


# ------------------------------------------------------------- fixtures --
# Imported by tests/integration/conftest.py and tests/durability/conftest.py.


@pytest.fixture
def tern_factory(tmp_path):
    """tern_factory(start=True, data_dir=None, users=None, aliases=None,
    name=None, **settings) -> a Tern (started unless start=False).
    settings are config keys. Teardown stops every instance and fails if
    one did not exit 0 on SIGTERM or its log has a sanitizer report."""
    if not os.access(str(TERND), os.X_OK):
        pytest.fail("no ternd at %s: build first (TERN_BUILD=%s)" % (TERND, BUILD), pytrace=False)
    made = []

    def make(start=True, data_dir=None, users=None, aliases=None, name=None, **settings):
        root = tmp_path / (name or ("ternd%d" % len(made)))
        inst = Tern(root, data_dir=data_dir, settings=settings, users=users, aliases=aliases)
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
def tern(tern_factory):
    """A started ternd with the default test configuration."""
    return tern_factory()
