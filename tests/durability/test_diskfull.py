"""A full disk: ternd refuses new mail with 452 4.3.1 (RFC 3463 "mail
system full"), keeps the session, keeps what it acknowledged, and delivers
it once space returns.

data_dir is a 2 MiB tmpfs mounted for the test (needs root; skipped
otherwise). The config, log and TLS files live outside it.
"""
import errno
import os
import subprocess

import pytest

from tern_harness import split_delivered, t

MIB = 1024 * 1024


@pytest.fixture
def tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s" % p.stdout.decode(errors="replace").strip())
    try:
        yield mnt
    finally:
        r = subprocess.run(["umount", str(mnt)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], timeout=30)


@pytest.fixture
def full_tern(tmpfs, tern_factory):
    """ternd with its data_dir on the tmpfs (stopped before the unmount:
    tern_factory is set up after tmpfs, so it is torn down first)."""
    return tern_factory(data_dir=tmpfs / "data")


def free_bytes(path):
    st = os.statvfs(str(path))
    return st.f_bavail * st.f_frsize


def fill(path, leave=0):
    """Fills the filesystem of path with a file, then frees `leave`
    octets; returns the file's path."""
    name = path / ("filler%d" % len(list(path.glob("filler*"))))
    fd = os.open(str(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    chunk = b"\0" * 65536
    try:
        while True:
            try:
                n = os.write(fd, chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[:max(1, len(chunk) // 16)]
                continue
            if n < len(chunk):
                chunk = chunk[:max(1, len(chunk) // 16)]
        size = os.lseek(fd, 0, os.SEEK_CUR)
        if leave:
            os.ftruncate(fd, max(0, size - leave))
    finally:
        os.close(fd)
    assert free_bytes(path) < leave + 64 * 1024
    return name


def message(subject, size):
    line = b"d" * 98 + b"\r\n"
    head = b"Subject: %s\r\n\r\n" % subject
    return head + line * ((size - len(head)) // len(line))


def data_transaction(c, rcpts, msg):
    """MAIL, RCPTs, DATA; returns the reply to DATA, or to the end of
    data if DATA was accepted."""
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    for r in rcpts:
        assert c.cmd("RCPT TO:<%s>" % r)[0] == 250
    code, lines = c.cmd("DATA")
    if code != 354:
        return code, lines, "DATA"
    c.send(msg + b".\r\n")
    code, lines = c.reply()
    return code, lines, "end of data"


def test_disk_full(full_tern, tmpfs):
    tern = full_tern
    size = 200 * 1024
    c = tern.raw(timeout=t(30))
    c.ehlo()

    # 0. Mailboxes exist and mail flows.
    for user in ("alice", "bob"):
        code, l, _ = data_transaction(c, ["%s@example.test" % user], message(b"warm-up", 1000))
        assert code == 250, l
    tern.wait_for_messages("alice", 1)
    tern.wait_for_messages("bob", 1)

    # 1. Room for the queue file of a 200 KiB message, not for its two
    #    deliveries: acknowledged, then deferred.
    filler = fill(tmpfs, leave=300 * 1024)
    keep = message(b"acknowledged before the disk filled", size)
    code, l, _ = data_transaction(c, ["alice@example.test", "bob@example.test"], keep)
    assert code == 250, l
    tern.wait_for_log(r"event=delivery .*status=deferred", timeout=10)

    # 2. No room for another such message: 452 4.3.1, nothing kept.
    #    Single recipient (written straight to the Maildir) and two
    #    recipients (via the queue).
    for rcpts in (["alice@example.test"], ["alice@example.test", "bob@example.test"]):
        code, l, where = data_transaction(c, rcpts, message(b"refused when full", size))
        assert code == 452 and l[0].startswith("452 4.3.1"), (rcpts, where, l)
        # The session goes on.
        assert c.cmd("NOOP")[0] == 250

    # 3. Completely full: even a small message is refused, at DATA or at
    #    the end of data.
    filler2 = fill(tmpfs)
    code, l, where = data_transaction(c, ["bob@example.test"], message(b"tiny when full", 500))
    assert code == 452 and l[0].startswith("452 4.3.1"), (where, l)
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("NOOP")[0] == 250
    tern.check_alive()

    # 4. Space returns: the acknowledged message is delivered by the
    #    retries; new mail is accepted again, in the same session.
    os.unlink(str(filler))
    os.unlink(str(filler2))
    got_a = tern.wait_for_messages("alice", 2, timeout=20)
    got_b = tern.wait_for_messages("bob", 2, timeout=20)
    for got in (got_a, got_b):
        bodies = [split_delivered(m)[3] for m in got]
        assert bodies.count(keep) == 1, [b[:60] for b in bodies]
    code, l, _ = data_transaction(c, ["alice@example.test"], message(b"after", size))
    assert code == 250, l
    assert c.cmd("QUIT")[0] == 221
    c.close()
    tern.wait_for_messages("alice", 3)
    tern.settle(timeout=20)

    # Nothing refused was delivered, nothing half-written left behind.
    for user in ("alice", "bob"):
        for m in tern.messages(user):
            assert b"refused when full" not in m and b"tiny when full" not in m
        assert list((tern.maildir(user) / "tmp").iterdir()) == []
    assert tern.queue_files("tmp") == []
    assert tern.queue_files("msg") == []
    assert tern.queue_files("corrupt") == []


def test_disk_full_during_large_message(full_tern, tmpfs):
    """The disk fills while a large message is being received: the rest is
    read and dropped, 452 at the end of data, the session continues."""
    tern = full_tern
    c = tern.raw(timeout=t(30))
    c.ehlo()
    filler = fill(tmpfs, leave=256 * 1024)
    big = message(b"too big for the disk", 1 * MIB)
    code, l, where = data_transaction(c, ["alice@example.test", "bob@example.test"], big)
    assert code == 452 and l[0].startswith("452 4.3.1"), (where, l)
    assert where == "end of data"
    # The partial queue file is gone: the space is free again.
    assert tern.queue_files("tmp") == []
    assert free_bytes(tmpfs) >= 200 * 1024
    small = message(b"fits", 20 * 1024)
    code, l, _ = data_transaction(c, ["alice@example.test", "bob@example.test"], small)
    assert code == 250, l
    c.close()
    tern.wait_for_messages("alice", 1)
    tern.wait_for_messages("bob", 1)
    os.unlink(str(filler))
    tern.settle()
    for user in ("alice", "bob"):
        m, = tern.messages(user)
        assert split_delivered(m)[3] == small


def test_start_on_full_disk(tmpfs, tern_factory):
    """ternd starts (or fails cleanly) on a full disk, and receives once
    there is room."""
    tern = tern_factory(data_dir=tmpfs / "data", start=False)
    filler = fill(tmpfs)
    try:
        tern.start()
    except AssertionError:
        # Refusing to start is acceptable; it must not have crashed.
        assert "AddressSanitizer" not in tern.log
        os.unlink(str(filler))
        tern.exits.clear()
        tern.start()
    else:
        c = tern.raw()
        c.ehlo()
        code, l, _ = data_transaction(c, ["alice@example.test"], message(b"full start", 500))
        assert code == 452, l
        c.close()
        os.unlink(str(filler))
    c = tern.raw()
    c.ehlo()
    code, l, _ = data_transaction(c, ["alice@example.test"], message(b"room now", 500))
    assert code == 250, l
    c.close()
    tern.wait_for_messages("alice", 1)
