"""A real Dovecot (Debian's 2.3) beside tern, for the retrieval tests and
the benchmarks: POP3, IMAP and LMTP on loopback, reading and writing the
same Maildirs as ternd.

- DovecotEnv(tmpdir, mail_root, users): its own dovecot.conf (nothing from
  /etc/dovecot), run directory, state directory and log under tmpdir;
  Maildirs at mail_root/<domain>/<local>/, tern's layout
  (data_dir/mail); passdb = tern's users file as it is (a Dovecot
  passwd-file), userdb = static. start() waits for the three greetings,
  stop() leaves no Dovecot process behind (it checks every process of the
  session the master was started in).
- clients: deliver() through LMTP (one reply per recipient), pop3()/imap()
  logged in, pop3_messages()/imap_messages(), doveadm(), fetch(), uids(),
  force_resync(), mailbox_status(), read_uidlist();
- the `dovecot_factory` fixture: dovecot_factory(...) -> a started
  DovecotEnv, stopped on teardown, which fails if a Dovecot process is left
  or the log has an Error/Fatal/Panic line;
- a command line for the benchmarks:
      /usr/bin/python3 tests/integration/dovecotenv.py --serve DIR
  prints key=value lines (ports, pid, paths) and runs until SIGTERM/SIGINT.

Run as root (as the tests are), Dovecot runs as the user `tern`, the
owner of ternd's Maildirs: the master and all its processes, so nothing of
it has root and every file it writes belongs to tern. Run as anyone else,
it runs as that user. Every wait is bounded and stretched by
TERN_SANITIZED=1.
"""
import atexit
import grp
import imaplib
import os
import poplib
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

from tern_harness import (DOMAIN, HOSTNAME, Tern, reachable_by_tern,  # noqa: E402
                          shared_tls_settings, t)
import relayenv  # noqa: E402
# The test users and their passwords (SubTern's users file has them as
# {PLAIN} lines).
from subenv import PASSWORDS  # noqa: E402

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
# Log lines that mean something went wrong in Dovecot.
LOG_PROBLEMS = re.compile(r"\b(Panic|Fatal|Error): ")
# Services whose default is a chroot, which only root can do.
CHROOTED = ("anvil", "imap-login", "pop3-login", "submission-login", "ipc", "old-stats",
            "aggregator", "director", "imap-urlauth-login")
# Socket paths (sun_path) are at most 107 octets; the longest name Dovecot
# puts in its base_dir is "token-login/imap-urlauth".
BASE_DIR_MAX = 107 - len("/token-login/imap-urlauth")
# What may appear unquoted in a path in dovecot.conf (no %, $, blanks, and
# no colon, which separates mail_location's fields).
SAFE_PATH = re.compile(r"[A-Za-z0-9_./+@=,-]+")


class DovecotError(AssertionError):
    pass


def run_as_user():
    """The account Dovecot runs as: `tern` under root, else ourselves."""
    if os.geteuid() == 0:
        try:
            return pwd.getpwnam("tern")
        except KeyError:
            raise DovecotError("no user `tern` (make deps creates it): as root, Dovecot "
                               "runs as the owner of ternd's Maildirs") from None
    return pwd.getpwuid(os.geteuid())


def _users_lines(users):
    """users as passwd-file lines and the passwords they make known."""
    if isinstance(users, dict):
        return ["%s:{PLAIN}%s" % kv for kv in users.items()], dict(users)
    lines = list(users)
    known = {}
    for l in lines:
        user, _, rest = l.partition(":")
        if rest.startswith("{PLAIN}"):
            known[user] = rest[len("{PLAIN}"):].split(":", 1)[0]
    return lines, known


def _greeting(port, prefix, timeout):
    """True once 127.0.0.1:port answers with a line starting with prefix."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(512)
                if not chunk:
                    return False
                buf += chunk
            return buf.startswith(prefix)
    except OSError:
        return False


def _session_pids(sid):
    """Live processes (zombies excepted) of session sid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path("/proc", d, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ...": comm may hold anything.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 3 and fields[0] != "Z" and int(fields[3]) == sid:
            out.append(int(d))
    return out


class DovecotEnv:
    """One Dovecot: its files under tmpdir, its processes, its clients.

    users: a path to a users file in tern's format (e.g. a Tern's
    data_dir / "users", used as it is: it must be readable by the user
    Dovecot runs as), or passwd-file lines, or {address: password}
    (written to tmpdir/users as {PLAIN}). passwords: the passwords the
    client helpers log in with (those of {PLAIN} lines are known).
    ssl: False (ssl = no), or True: STARTTLS on the POP3 and IMAP ports
    and implicit TLS on pop3s_port/imaps_port with the harness's
    certificate for mx.example.test (cert_path).
    save_crlf: Dovecot writes messages with CRLF line ends, as ternd does
    (mail_save_crlf = yes); by default it writes LF, as Dovecots do.
    extra: configuration lines appended as they are."""

    def __init__(self, tmpdir, mail_root, users, passwords=None, ssl=False, save_crlf=False,
                 extra=()):
        self.dir = Path(tmpdir).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.mail_root = Path(mail_root).resolve()
        self.user = run_as_user()
        self.ssl = ssl
        self.save_crlf = save_crlf
        self.extra = list(extra)
        self.conf = self.dir / "dovecot.conf"
        self.log_path = self.dir / "dovecot.log"
        self.state_dir = self.dir / "state"
        self._short_run = None      # a directory under /tmp when tmpdir is too deep
        self.base_dir = self.dir / "run"
        if len(str(self.base_dir)) > BASE_DIR_MAX:
            self._short_run = Path(tempfile.mkdtemp(prefix="tern-dovecot-"))
            self.base_dir = self._short_run / "run"
        if isinstance(users, (str, os.PathLike)):
            self.users_file = Path(users).resolve()
            self.passwords = {}
        else:
            lines, self.passwords = _users_lines(users)
            self.users_file = self.dir / "users"
            self.users_file.write_text("".join(l + "\n" for l in lines))
            self._own(self.users_file, 0o600)
        self.passwords.update(passwords or {})
        for p in (self.dir, self.base_dir.parent, self.mail_root, self.users_file):
            if not SAFE_PATH.fullmatch(str(p)):
                raise DovecotError("path %r has characters dovecot.conf would take as "
                                   "syntax or variables" % str(p))
        self.proc = None
        self.sid = None
        self.exits = []           # (how, returncode) of every stopped master
        self._retried = set()     # log lines of starts retried on new ports
        self.allow_errors = False
        self.new_ports()
        self._prepare()
        atexit.register(self._atexit)

    # ------------------------------------------------------------ files --
    def _own(self, path, mode):
        """path belongs to the user Dovecot runs as, with mode."""
        if os.geteuid() == 0:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)
        os.chmod(path, mode)

    def _prepare(self):
        reachable_by_tern(self.dir)
        for d in (self.base_dir, self.state_dir):
            d.mkdir(parents=True, exist_ok=True)
            self._own(d, 0o755)
        if self._short_run is not None:
            self._own(self._short_run, 0o755)
            link = self.dir / "run"
            if not link.is_symlink():
                link.symlink_to(self.base_dir)
        self.log_path.touch()
        self._own(self.log_path, 0o644)
        if self.ssl:
            pair = shared_tls_settings()
            if not pair:
                raise DovecotError("no test certificate (openssl missing?)")
            tls = self.dir / "tls"
            tls.mkdir(exist_ok=True)
            self._own(tls, 0o700)
            self.cert_path, self.key_path = tls / "cert.pem", tls / "key.pem"
            shutil.copyfile(pair["tls_cert"], self.cert_path)
            shutil.copyfile(pair["tls_key"], self.key_path)
            self._own(self.cert_path, 0o644)
            self._own(self.key_path, 0o600)
        # The Maildirs' root: tern's data_dir/mail is the run_as user's;
        # one made here is too (as ternd makes it: 0700).
        if not self.mail_root.is_dir():
            self.mail_root.mkdir(parents=True)
            self._own(self.mail_root, 0o700)
        elif os.geteuid() == 0 and self.mail_root.stat().st_uid != self.user.pw_uid:
            os.chown(self.mail_root, self.user.pw_uid, self.user.pw_gid)
        reachable_by_tern(self.mail_root)
        reachable_by_tern(self.users_file.parent)

    def new_ports(self):
        """Ports outside the ephemeral range (relayenv.free_port), so that
        no client's outgoing connection can take one before Dovecot binds."""
        self.lmtp_port = relayenv.free_port()
        self.pop3_port = relayenv.free_port()
        self.imap_port = relayenv.free_port()
        self.pop3s_port = relayenv.free_port() if self.ssl else 0
        self.imaps_port = relayenv.free_port() if self.ssl else 0

    def config_text(self):
        u = self.user
        lines = [
            "# written by tests/integration/dovecotenv.py: the whole configuration,",
            "# nothing from /etc/dovecot; listeners on loopback only.",
            "protocols = imap pop3 lmtp",
            "listen = 127.0.0.1",
            "base_dir = %s" % self.base_dir,
            "state_dir = %s" % self.state_dir,
            "instance_name = tern-dovecot",
            "log_path = %s" % self.log_path,
            'log_timestamp = "%Y-%m-%d %H:%M:%S "',
            "hostname = %s" % HOSTNAME,
            "postmaster_address = postmaster@%s" % DOMAIN,
            "# Unprivileged: every process runs as the owner of ternd's Maildirs.",
            "default_internal_user = %s" % u.pw_name,
            "default_internal_group = %s" % _group_name(u.pw_gid),
            "default_login_user = %s" % u.pw_name,
            "mail_uid = %s" % u.pw_name,
            "mail_gid = %s" % _group_name(u.pw_gid),
            "first_valid_uid = %d" % u.pw_uid,
            "first_valid_gid = %d" % u.pw_gid,
            "# tern's layout: <data_dir>/mail/<domain>/<local>/{cur,new,tmp}",
            "mail_location = maildir:%s/%%d/%%n" % self.mail_root,
            "mail_save_crlf = %s" % ("yes" if self.save_crlf else "no"),
            "auth_mechanisms = plain login",
            "disable_plaintext_auth = no",
            "auth_verbose = yes",
            "# tern's users file is a passwd-file; a hash without {SCHEME} is",
            "# crypt(3) there too. Its lines have no uid/gid: the userdb is static.",
            "passdb {",
            "  driver = passwd-file",
            "  args = scheme=CRYPT %s" % self.users_file,
            "}",
            "userdb {",
            "  driver = static",
            "  args = uid=%s gid=%s" % (u.pw_name, _group_name(u.pw_gid)),
            "}",
        ]
        if self.ssl:
            lines += ["ssl = yes", "ssl_cert = <%s" % self.cert_path,
                      "ssl_key = <%s" % self.key_path]
        else:
            lines.append("ssl = no")
        lines += _service("imap-login", [("imap", self.imap_port), ("imaps", self.imaps_port)])
        lines += _service("pop3-login", [("pop3", self.pop3_port), ("pop3s", self.pop3s_port)])
        lines += _service("lmtp", [("lmtp", self.lmtp_port)], chroot=False)
        for s in CHROOTED:
            if s not in ("imap-login", "pop3-login"):
                lines += ["service %s {" % s, "  chroot =", "}"]
        return "\n".join(lines + self.extra) + "\n"

    def write_config(self):
        self.conf.write_text(self.config_text())
        os.chmod(self.conf, 0o644)

    # -------------------------------------------------------------- log --
    # Tern's log helpers: all they need is self.log_path.
    log = Tern.log
    log_tail = Tern.log_tail
    log_count = Tern.log_count
    wait_for_log = Tern.wait_for_log

    def problems(self):
        """The log's Error, Fatal and Panic lines (but those of a start
        retried on other ports)."""
        return [l for l in self.log.splitlines()
                if LOG_PROBLEMS.search(l) and l not in self._retried]

    # ---------------------------------------------------------- process --
    def _popen_kw(self):
        kw = {"env": {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.dir)}}
        if "TZ" in os.environ:
            kw["env"]["TZ"] = os.environ["TZ"]
        if os.geteuid() == 0:
            kw.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        return kw

    def start(self, timeout=10):
        """Starts the master in the foreground in its own session and waits
        for the LMTP, POP3 and IMAP greetings. A port taken meanwhile (by
        another test run) means new ports and another try."""
        assert self.proc is None, "already running"
        self._check_users_file()
        for attempt in range(6):
            self.write_config()
            logf = open(self.log_path, "ab")
            try:
                self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)],
                                             stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                             start_new_session=True, cwd=str(self.dir),
                                             **self._popen_kw())
            finally:
                logf.close()
            self.sid = self.proc.pid
            try:
                self._wait_ready(timeout)
                return self
            except DovecotError as e:
                if "Address already in use" not in str(e) or attempt == 5:
                    raise
                # Not this instance's fault: forget this attempt's traces.
                self.exits = [x for x in self.exits if x[0] != "start"]
                self._retried.update(self.problems())
                time.sleep(0.2 * (attempt + 1))   # whatever holds them may pass
                self.new_ports()

    def _wait_ready(self, timeout):
        want = [(self.lmtp_port, b"220 "), (self.pop3_port, b"+OK"), (self.imap_port, b"* OK")]
        if self.ssl:
            want.append((self.imaps_port, None))
            want.append((self.pop3s_port, None))
        deadline = time.monotonic() + t(timeout)
        while want:
            rc = self.proc.poll()
            if rc is not None:
                self.exits.append(("start", rc))
                self.proc = None
                self._reap_session()
                raise DovecotError("dovecot exited with %s during startup:\n%s"
                                   % (rc, self.log_tail()))
            if time.monotonic() > deadline:
                try:
                    self.stop()
                except DovecotError:
                    pass
                raise DovecotError("dovecot did not answer on %s within %.1fs:\n%s"
                                   % ([p for p, _ in want], t(timeout), self.log_tail()))
            port, prefix = want[0]
            if prefix is None:   # TLS: a connection is enough
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    ok = True
                except OSError:
                    ok = False
            else:
                ok = _greeting(port, prefix, 1)
            if ok:
                want.pop(0)
            else:
                time.sleep(0.02)

    def _check_users_file(self):
        """Dovecot reads the users file as self.user: say so plainly rather
        than with an auth failure later."""
        st = self.users_file.stat()
        if st.st_uid == self.user.pw_uid:
            bit = 0o400
        elif st.st_gid == self.user.pw_gid:
            bit = 0o040
        else:
            bit = 0o004
        if not st.st_mode & bit:
            raise DovecotError("%s (mode %o, uid %d, gid %d) cannot be read by %s, the user "
                               "Dovecot runs as: give it that group and mode 0640, as for any "
                               "Dovecot passwd-file" % (self.users_file, st.st_mode & 0o7777,
                                                        st.st_uid, st.st_gid, self.user.pw_name))

    pid = Tern.pid            # the master's; None when stopped
    running = Tern.running

    def processes(self):
        """pids of every live process Dovecot has (its master's session)."""
        return _session_pids(self.sid) if self.sid else []

    def stop(self, timeout=15, reap_timeout=5):
        """SIGTERM to the master, then waits until no process of its
        session is left (reap_timeout); returns the master's exit code.
        Raises if the master or a child had to be killed."""
        if self.proc is None:
            self._reap_session(reap_timeout)
            return None
        p, self.proc = self.proc, None
        how = "died"              # before it was asked to stop
        if p.poll() is None:
            how = "sigterm"
            p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=t(timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
            self.exits.append(("stop-timeout", p.returncode))
            self._reap_session(reap_timeout)
            raise DovecotError("dovecot did not exit within %.1fs of SIGTERM:\n%s"
                               % (t(timeout), self.log_tail()))
        self.exits.append((how, rc))
        self._reap_session(reap_timeout)
        return rc

    def _reap_session(self, timeout=5):
        """Waits for the master's children to end; kills (by pid) any that
        are still there after timeout, and raises."""
        if self.sid is None:
            return
        deadline = time.monotonic() + t(timeout)
        left = self.processes()
        while left and time.monotonic() < deadline:
            time.sleep(0.02)
            left = self.processes()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + t(5)
        while left and self.processes() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.sid = None
        if left:
            self.exits.append(("leftover", left))
            raise DovecotError("dovecot processes left after the master ended: %s" % left)

    def _atexit(self):
        """A last resort for a caller that never stopped this instance."""
        try:
            if self.proc is not None or self.sid is not None:
                self.stop()
        except Exception:
            pass
        self._remove_short_run()

    def _remove_short_run(self):
        if self._short_run is not None and self.proc is None:
            shutil.rmtree(self._short_run, ignore_errors=True)

    def close(self, allow_errors=None):
        """Teardown: stop; fails on a non-zero exit, a process left behind
        or (unless allow_errors, default self.allow_errors) an
        Error/Fatal/Panic line in the log."""
        if allow_errors is None:
            allow_errors = self.allow_errors
        problems = []
        try:
            self.stop()
        except DovecotError as e:
            problems.append(str(e))
        self._remove_short_run()
        for how, rc in self.exits:
            if how != "sigterm" or rc != 0:
                problems.append("dovecot %s: %s" % (how, rc))
        if not allow_errors:
            problems += self.problems()
        if problems:
            raise DovecotError("\n".join(problems) + "\n--- %s ---\n%s"
                               % (self.log_path, self.log_tail(40)))

    # ---------------------------------------------------------- mailboxes --
    def maildir(self, user):
        local, domain = user.rsplit("@", 1)
        return self.mail_root / domain / local

    def read_uidlist(self, user):
        """dovecot-uidlist of user's INBOX: ({header key: value}, {uid: base
        file name}). The header's V is the UIDVALIDITY, N the next UID."""
        text = (self.maildir(user) / "dovecot-uidlist").read_text()
        first, *rest = text.splitlines()
        version, *fields = first.split()
        assert version == "3", "dovecot-uidlist version %r" % version
        header = {f[0]: f[1:] for f in fields}
        uids = {}
        for l in rest:
            if not l:
                continue
            head, _, name = l.partition(" :")
            uids[int(head.split()[0])] = name
        return header, uids

    # ---------------------------------------------------------- clients --
    def lmtp(self, timeout=10):
        """smtplib.LMTP connected (LHLO is sent by its first command)."""
        return smtplib.LMTP("127.0.0.1", self.lmtp_port, local_hostname="lmtp-client.example.test",
                            timeout=t(timeout))

    def deliver(self, rcpts, msg, sender="sender@example.net", timeout=10):
        """One LMTP transaction: {recipient: (code, text)} with the RCPT
        reply of each refused recipient and the DATA reply of each accepted
        one (LMTP answers DATA once per accepted recipient, in order)."""
        if isinstance(rcpts, str):
            rcpts = [rcpts]
        if isinstance(msg, str):
            msg = msg.encode()
        out = {}
        s = self.lmtp(timeout)
        try:
            s.ehlo_or_helo_if_needed()
            code, text = s.mail(sender)
            if code != 250:
                raise DovecotError("LMTP MAIL: %d %r" % (code, text))
            accepted = []
            for r in rcpts:
                code, text = s.rcpt(r)
                if code == 250:
                    accepted.append(r)
                else:
                    out[r] = (code, text.decode(errors="replace"))
            if accepted:
                code, text = s.data(msg)
                out[accepted[0]] = (code, text.decode(errors="replace"))
                for r in accepted[1:]:
                    code, text = s.getreply()
                    out[r] = (code, text.decode(errors="replace"))
            s.quit()
        finally:
            s.close()
        return out

    def deliver_ok(self, rcpts, msg, **kw):
        """deliver() that requires every recipient to get 250."""
        out = self.deliver(rcpts, msg, **kw)
        bad = {r: v for r, v in out.items() if v[0] != 250}
        if bad:
            raise DovecotError("LMTP refused %s\n%s" % (bad, self.log_tail()))
        return out

    def _password(self, user, password):
        if password is not None:
            return password
        try:
            return self.passwords[user]
        except KeyError:
            raise DovecotError("no password known for %s: pass password=" % user) from None

    def client_ctx(self):
        """A TLS context that trusts exactly the certificate served (for
        mx.example.test, which is not the name connected to)."""
        if not self.ssl:
            raise DovecotError("TLS asked of a DovecotEnv without ssl=True")
        ctx = ssl.create_default_context(cafile=str(self.cert_path))
        ctx.check_hostname = False
        return ctx

    def pop3(self, user, password=None, tls=None, timeout=10):
        """poplib logged in (USER/PASS); tls: None, "starttls" (STLS) or
        "implicit" (pop3s_port)."""
        if tls == "implicit":
            c = poplib.POP3_SSL("127.0.0.1", self.pop3s_port, timeout=t(timeout),
                                context=self.client_ctx())
        else:
            c = poplib.POP3("127.0.0.1", self.pop3_port, timeout=t(timeout))
            if tls == "starttls":
                c.stls(context=self.client_ctx())
        try:
            c.user(user)
            c.pass_(self._password(user, password))
        except BaseException:
            c.close()
            raise
        return c

    def imap(self, user, password=None, tls=None, timeout=10):
        """imaplib logged in (LOGIN); tls as for pop3()."""
        if tls == "implicit":
            c = imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, timeout=t(timeout),
                                  ssl_context=self.client_ctx())
        else:
            c = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=t(timeout))
            if tls == "starttls":
                c.starttls(ssl_context=self.client_ctx())
        try:
            c.login(user, self._password(user, password))
        except BaseException:
            _imap_drop(c)
            raise
        return c

    def pop3_messages(self, user, password=None, **kw):
        """Every message of user's maildrop through POP3 RETR, as CRLF
        bytes, in POP3 order (nothing deleted)."""
        c = self.pop3(user, password, **kw)
        try:
            count, _ = c.stat()
            out = []
            for i in range(1, count + 1):
                _, lines, _ = c.retr(i)
                out.append(b"".join(l + b"\r\n" for l in lines))
            c.quit()
            return out
        finally:
            c.close()

    def imap_messages(self, user, password=None, mailbox="INBOX", **kw):
        """[(uid, bytes)] of a mailbox through IMAP UID FETCH BODY.PEEK[]
        (flags untouched), in UID order."""
        c = self.imap(user, password, **kw)
        try:
            typ, _ = c.select(mailbox, readonly=True)
            if typ != "OK":
                raise DovecotError("IMAP SELECT %s: %s" % (mailbox, typ))
            typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
            if typ != "OK":
                raise DovecotError("IMAP UID FETCH: %s %r" % (typ, data))
            out = []
            for item in data:
                if isinstance(item, tuple):
                    m = re.search(rb"\bUID (\d+)", item[0])
                    assert m, item[0]
                    out.append((int(m.group(1)), item[1]))
        except BaseException:
            _imap_drop(c)
            raise
        c.logout()
        return sorted(out)

    # ---------------------------------------------------------- doveadm --
    def doveadm(self, *args, check=True, timeout=30):
        """doveadm -c <our conf> args..., as the user Dovecot runs as;
        returns (rc, stdout, stderr). check: raise on a non-zero exit."""
        p = subprocess.run([DOVEADM, "-c", str(self.conf)] + [str(a) for a in args],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=t(timeout), cwd=str(self.dir),
                           **self._popen_kw())
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        if check and p.returncode != 0:
            raise DovecotError("doveadm %s: exit %d\n%s%s" % (" ".join(map(str, args)),
                                                             p.returncode, out, err))
        return p.returncode, out, err

    def fetch(self, user, fields="uid guid", query=("mailbox", "INBOX", "all")):
        """doveadm fetch: one {field: value} per message."""
        _, out, _ = self.doveadm("-f", "tab", "fetch", "-u", user, fields, *query)
        lines = out.splitlines()
        if not lines:
            return []
        names = lines[0].split("\t")
        return [dict(zip(names, l.split("\t"))) for l in lines[1:]]

    def uids(self, user, mailbox="INBOX"):
        return [int(m["uid"]) for m in self.fetch(user, "uid", ("mailbox", mailbox, "all"))]

    def force_resync(self, user, mailbox="INBOX"):
        """A full sync of the Maildir: files added or removed behind
        Dovecot's back (by ternd) reach dovecot-uidlist and the index."""
        self.doveadm("force-resync", "-u", user, mailbox)

    def mailbox_status(self, user, fields="messages uidnext uidvalidity", mailbox="INBOX"):
        _, out, _ = self.doveadm("-f", "tab", "mailbox", "status", "-u", user, fields, mailbox)
        names, values = out.splitlines()[:2]
        return {k: int(v) if v.isdigit() else v
                for k, v in zip(names.split("\t"), values.split("\t"))}


def _imap_drop(c):
    """Closes an imaplib connection without a LOGOUT (on an error)."""
    try:
        c.shutdown()
    except OSError:
        pass


def _group_name(gid):
    return grp.getgrgid(gid).gr_name


def _service(name, listeners, chroot=True):
    """A service block: inet listeners on loopback (port 0: disabled)."""
    out = ["service %s {" % name]
    if chroot:
        out.append("  chroot =")
    for lname, port in listeners:
        out += ["  inet_listener %s {" % lname, "    address = 127.0.0.1",
                "    port = %d" % port, "  }"]
    return out + ["}"]


# ------------------------------------------------------------- fixtures --

@pytest.fixture
def dovecot_factory(tmp_path):
    """dovecot_factory(mail_root=None, users=None, tern=None, start=True,
    name=None, allow_errors=False, **kw) -> a DovecotEnv (started unless
    start=False). tern=<a Tern>: its Maildirs (data_dir/mail) and its
    users file, with subenv's passwords known. Without it: mail_root
    defaults to <tmp>/<name>/mail and users to PASSWORDS. Teardown stops
    every instance, and fails if one left a process, did not exit 0 or
    logged an Error/Fatal/Panic (allow_errors=True for a test that makes
    Dovecot complain)."""
    for prog in (DOVECOT, DOVEADM):
        if not os.access(prog, os.X_OK):
            pytest.fail("%s is missing: `make deps` installs dovecot-core, -pop3d, -imapd, "
                        "-lmtpd" % prog, pytrace=False)
    made = []

    def make(mail_root=None, users=None, tern=None, start=True, name=None,
             allow_errors=False, **kw):
        root = tmp_path / (name or ("dovecot%d" % len(made)))
        if tern is not None:
            mail_root = mail_root or tern.data_dir / "mail"
            users = users if users is not None else tern.data_dir / "users"
            kw.setdefault("passwords", PASSWORDS)
        env = DovecotEnv(root, mail_root or root / "mail",
                         PASSWORDS if users is None else users, **kw)
        env.allow_errors = allow_errors
        made.append(env)
        if start:
            env.start()
        return env

    yield make
    errors = []
    for env in made:
        try:
            env.close(env.allow_errors)
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("dovecot teardown:\n" + "\n\n".join(errors), pytrace=False)


# ---------------------------------------------------------- command line --

def serve(argv=None):
    """--serve DIR: a Dovecot for the benchmarks until SIGTERM or SIGINT."""
    import argparse
    ap = argparse.ArgumentParser(
        prog="dovecotenv.py",
        description="Run Dovecot (LMTP, POP3, IMAP on 127.0.0.1) the way the tests do; "
                    "prints key=value lines, then 'ready', and runs until SIGTERM/SIGINT.")
    ap.add_argument("--serve", metavar="DIR", required=True,
                    help="configuration, run directory and log go here")
    ap.add_argument("--mail-root", metavar="DIR",
                    help="Maildirs at DIR/<domain>/<local> (default DIR/mail)")
    ap.add_argument("--users", metavar="FILE",
                    help="tern's users file (default: the test users, {PLAIN})")
    ap.add_argument("--ssl", action="store_true",
                    help="STARTTLS and imaps/pop3s with the test certificate")
    ap.add_argument("--set", metavar="LINE", action="append", default=[],
                    help="a configuration line appended as is (repeatable), e.g. "
                         "'service imap-login {' 'service_count = 0' '}'")
    a = ap.parse_args(argv)
    root = Path(a.serve)
    env = DovecotEnv(root, a.mail_root or root / "mail", a.users or PASSWORDS,
                     ssl=a.ssl, extra=a.set)
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.append(1))
    env.start()
    info = [("lmtp_port", env.lmtp_port), ("pop3_port", env.pop3_port),
            ("imap_port", env.imap_port)]
    if a.ssl:
        info += [("pop3s_port", env.pop3s_port), ("imaps_port", env.imaps_port),
                 ("cert", env.cert_path)]
    info += [("pid", env.pid), ("conf", env.conf), ("log", env.log_path),
             ("mail_root", env.mail_root)]
    print("\n".join("%s=%s" % kv for kv in info) + "\nready", flush=True)
    rc = 0
    while not stop:
        if not env.running():
            print("dovecot exited:\n" + env.log_tail(), file=sys.stderr)
            rc = 1
            break
        time.sleep(0.2)
    try:
        env.close(allow_errors=True)
    except DovecotError as e:
        print(e, file=sys.stderr)
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(serve())
