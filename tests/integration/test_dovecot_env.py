"""The Dovecot harness itself (dovecotenv.py): Dovecot starts unprivileged
on loopback, delivers through LMTP into tern's Maildir layout as the user
tern, POP3 and IMAP read the mail back, doveadm sees the UIDs, ternd and
Dovecot share Maildirs and the users file, and nothing of Dovecot is left
running afterwards."""
import os
import poplib
import selectors
import signal
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from dovecotenv import (DOVECOT, DovecotError, _session_pids, dovecot_factory,  # noqa: F401
                        run_as_user)
from subenv import ALICE, BOB, PASSWORDS, SUB_USERS, make_msg
from tern_harness import TERNCTL, t, tern_factory  # noqa: F401

CAROL = "carol@example.test"
HERE = Path(__file__).resolve().parent


def alive(pid):
    """pid runs (a zombie waiting for init to reap it does not)."""
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def comm(pid):
    """pid's command name, or None once it has gone: Dovecot's short-lived
    helpers can exit between the listing of the session and this read."""
    try:
        return Path("/proc/%d/comm" % pid).read_text().rstrip("\n")
    except OSError:
        return None


def files_under(d):
    return sorted(p for p in Path(d).rglob("*") if p.is_file())


def message_files(maildir):
    return sorted(p for sub in ("new", "cur") for p in (maildir / sub).iterdir())


def test_lmtp_pop3_imap_on_terns_layout(dovecot_factory):
    dc = dovecot_factory()
    uid = run_as_user().pw_uid
    assert Path(DOVECOT).is_file()
    # The master and its children run in one session, none of them as root.
    pids = dc.processes()
    assert dc.pid in pids and len(pids) >= 4, pids
    owners = set()
    for p in pids:
        try:
            owners.add(os.stat("/proc/%d" % p).st_uid)
        except FileNotFoundError:
            pass     # a child that finished its job meanwhile
    assert owners == {uid}

    msg = make_msg(subject="through Dovecot LMTP", body="line one\r\n.a dot line\r\n")
    out = dc.deliver([ALICE, "nobody@example.test", BOB], msg)
    assert out["nobody@example.test"][0] == 550 and "5.1.1" in out["nobody@example.test"][1]
    assert out[ALICE][0] == 250 and out[BOB][0] == 250, out

    # tern's layout: <mail_root>/<domain>/<local>/{cur,new,tmp}, all of it
    # the run_as user's (tern when run as root), with Dovecot's uidlist.
    md = dc.mail_root / "example.test" / "alice"
    assert md == dc.maildir(ALICE)
    for sub in ("cur", "new", "tmp"):
        assert (md / sub).is_dir()
    delivered, = message_files(md)
    assert delivered.parent.name == "new"
    assert (md / "dovecot-uidlist").is_file()
    # Dovecot made this Maildir, and marks it as Maildir++ marks subfolders.
    assert (md / "maildirfolder").is_file()
    assert {p.stat().st_uid for p in [md, *md.rglob("*")]} == {uid}
    on_disk = delivered.read_bytes()
    header, uids = dc.read_uidlist(ALICE)
    assert uids == {1: delivered.name}, uids

    # POP3 and IMAP give back the message as delivered: Dovecot's
    # Return-Path and Received, then the octets sent (dot line unstuffed).
    # On disk Dovecot keeps LF line ends (mail_save_crlf = no, its default),
    # where ternd writes CRLF: a Maildir shared with Dovecot holds both.
    popped, = dc.pop3_messages(ALICE)
    assert popped.startswith(b"Return-Path: <sender@example.net>\r\nReceived: ")
    assert popped.endswith(msg) and on_disk == popped.replace(b"\r\n", b"\n")
    (imap_uid, fetched), = dc.imap_messages(BOB)
    assert imap_uid == 1 and fetched.endswith(msg)
    assert dc.uids(ALICE) == [1] == dc.uids(BOB)
    status = dc.mailbox_status(ALICE)
    assert status["messages"] == 1 and header["V"] == str(status["uidvalidity"])

    # Stop: the master exits 0 and takes every process of its session along.
    pids = dc.processes()
    started = time.monotonic()
    assert dc.stop() == 0
    assert time.monotonic() - started < t(5)
    assert not [p for p in pids if alive(p)]
    assert not dc.problems(), dc.problems()


def test_processes_left_by_a_dead_master_are_killed(dovecot_factory):
    """A Dovecot process that outlives its master (here: the master killed
    with SIGKILL while a child is stopped with SIGSTOP, so it cannot act on
    its master's death) is found by its session, killed, and reported."""
    dc = dovecot_factory()
    master = dc.pid
    deadline = time.monotonic() + t(10)
    while not (stats := [p for p in dc.processes() if comm(p) == "stats"]):
        assert time.monotonic() < deadline, "no stats process in Dovecot's session"
        time.sleep(0.05)
    stuck, = stats
    os.kill(stuck, signal.SIGSTOP)
    dc.proc.kill()
    dc.proc.wait(timeout=10)
    with pytest.raises(DovecotError, match="processes left after the master ended") as e:
        dc.stop(reap_timeout=0.5)
    assert str(stuck) in str(e.value)
    assert not alive(stuck) and _session_pids(master) == []
    assert dc.exits[0] == ("died", -signal.SIGKILL) and dc.exits[1][0] == "leftover"
    dc.exits.clear()   # seen: the teardown has nothing more to report


def test_shares_ternds_maildirs_and_users_file(tern_factory, dovecot_factory):
    """ternd delivers, then Dovecot, then ternd again into one Maildir;
    Dovecot logs users in from tern's users file, including a yescrypt
    hash made by ternctl."""
    tern = tern_factory(start=False, users=SUB_USERS)
    p = subprocess.run([str(TERNCTL), "-c", str(tern.config_path), "user", "add", CAROL],
                       input=b"carol: yescrypt pw\n", capture_output=True, timeout=t(30))
    assert p.returncode == 0, p.stderr
    users = tern.data_dir / "users"
    assert "%s:{CRYPT}$y$" % CAROL in users.read_text()
    if os.geteuid() == 0:
        # ternctl writes it root-only; Dovecot (as tern) reads it like any
        # passwd-file of its own: the group of its user, mode 0640.
        with pytest.raises(DovecotError, match="cannot be read by"):
            dovecot_factory(tern=tern, name="unreadable")
        os.chown(users, 0, run_as_user().pw_gid)
        os.chmod(users, 0o640)
    tern.start()
    dc = dovecot_factory(tern=tern)
    assert dc.mail_root == tern.data_dir / "mail" and dc.users_file == users

    first = make_msg(subject="first, by ternd")
    with tern.smtp() as s:
        s.sendmail("someone@example.net", [ALICE, CAROL], first)
    tern.wait_for_messages("alice", 1)
    tern.wait_for_messages("carol", 1)
    md = tern.maildir("alice")
    assert md == dc.maildir(ALICE)
    (uid1, got), = dc.imap_messages(ALICE)
    assert uid1 == 1 and got == tern.messages("alice")[0] and got.endswith(first)

    second = make_msg(subject="second, by Dovecot")
    dc.deliver_ok([ALICE], second)
    third = make_msg(subject="third, by ternd")
    with tern.smtp() as s:
        s.sendmail("someone@example.net", [ALICE], third)
    tern.settle()
    assert len(message_files(md)) == 3
    # The file ternd added behind Dovecot's back gets the next UID.
    dc.force_resync(ALICE)
    assert dc.uids(ALICE) == [1, 2, 3]
    _, uidlist = dc.read_uidlist(ALICE)
    assert len(uidlist) == 3
    popped = dc.pop3_messages(ALICE)
    assert [m.endswith(x) for m, x in zip(popped, (first, second, third))] == [True] * 3

    # Passwords from tern's users file: {PLAIN} and ternctl's {CRYPT}$y$.
    assert len(dc.pop3_messages(BOB, PASSWORDS[BOB])) == 0
    (_, carols), = dc.imap_messages(CAROL, "carol: yescrypt pw")
    assert carols.endswith(first)
    # ternd made these Maildirs: Dovecot used them without marking them.
    assert not (md / "maildirfolder").exists()
    # Nothing in the shared Maildirs that ternd (as tern) could not use.
    uid = run_as_user().pw_uid
    for d in (md, tern.maildir("carol")):
        assert {q.stat().st_uid for q in [d, *files_under(d)]} == {uid}


def test_ssl_with_the_test_certificate(dovecot_factory):
    dc = dovecot_factory(ssl=True)
    msg = make_msg(subject="over TLS")
    dc.deliver_ok([ALICE], msg)
    # The client trusts only the harness's certificate: verified, not ignored.
    popped, = dc.pop3_messages(ALICE, tls="starttls")
    assert popped.endswith(msg)
    (_, got), = dc.imap_messages(ALICE, tls="implicit")
    assert got.endswith(msg)
    c = dc.imap(ALICE, tls="starttls")
    try:
        assert c.sock.version().startswith("TLSv1.")
    finally:
        c.logout()
    dc.wait_for_log(r"pop3-login: Info: Login: user=<alice@example\.test>.*, TLS")


def test_serve_command_line(tmp_path):
    """The benchmarks' mode: --serve prints the ports, serves LMTP, POP3
    and IMAP until SIGTERM, then exits 0 leaving no Dovecot process."""
    p = subprocess.Popen(["/usr/bin/python3", str(HERE / "dovecotenv.py"), "--serve",
                          str(tmp_path / "serve")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    info = {}
    try:
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + t(20)
        buf = b""
        while b"ready\n" not in buf:
            left = deadline - time.monotonic()
            assert left > 0 and sel.select(left), "no 'ready' from --serve: %r" % buf
            chunk = os.read(p.stdout.fileno(), 4096)
            assert chunk, "--serve exited: %r %r" % (buf, p.stderr.read())
            buf += chunk
        for line in buf.decode().splitlines():
            k, sep, v = line.partition("=")
            if sep:
                info[k] = v
        assert {"lmtp_port", "pop3_port", "imap_port", "pid", "conf", "log"} <= set(info)

        msg = make_msg(subject="served")
        with smtplib.LMTP("127.0.0.1", int(info["lmtp_port"]), timeout=t(10)) as s:
            assert s.sendmail("bench@example.net", [ALICE], msg) == {}
        c = poplib.POP3("127.0.0.1", int(info["pop3_port"]), timeout=t(10))
        c.user(ALICE)
        c.pass_(PASSWORDS[ALICE])
        assert c.stat()[0] == 1
        c.quit()
        assert (tmp_path / "serve" / "mail" / "example.test" / "alice" / "dovecot-uidlist").is_file()

        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=t(20)) == 0, p.stderr.read()
        assert _session_pids(int(info["pid"])) == []
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
        if "pid" in info:   # a killed --serve cannot stop its Dovecot
            for pid in _session_pids(int(info["pid"])):
                os.kill(pid, signal.SIGKILL)
