"""A folder of 100,000 messages: opening it (UIDs for every message, sizes)
is the I/O pool's work, so other sessions on the loop are not held up
while it runs — measured by EHLO round trips and a message accepted over
SMTP meanwhile — and the POP3 client gets every message."""
import os
import threading
import time

from retrenv import mail_factory, mt  # noqa: F401
from subenv import ALICE
from tern_harness import SANITIZED, t

N = 20000 if SANITIZED else 100000


def fill(box, n):
    cur = box / "cur"
    for d in ("new", "cur", "tmp"):
        (box / d).mkdir(parents=True, exist_ok=True)
    body = b"Subject: bulk\r\n\r\nx\r\n"
    for i in range(n):
        name = "%d.M%dP1.bulk.example,S=%d:2,S" % (1700000000 + i, i, len(body))
        fd = os.open(cur / name, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, body)
        os.close(fd)
    uid = os.stat(box.parent.parent).st_uid
    gid = os.stat(box.parent.parent).st_gid
    for root, dirs, files in os.walk(box):
        os.chown(root, uid, gid)
        for f in files:
            os.chown(os.path.join(root, f), uid, gid)


def test_big_folder_does_not_stall_the_loop(mt):
    mt.deliver(ALICE, "Subject: first\r\n\r\nmakes the Maildir\r\n")
    box = mt.maildir(ALICE)
    deadline = time.monotonic() + t(10)
    while not (box / "new").is_dir() or not any((box / "new").iterdir()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    fill(box, N)

    worst = [0.0]
    rounds = [0]
    errors = []
    stop = threading.Event()

    def watch():
        # EHLO round trips: served by the loop alone (NOOP would count
        # as a junk command and end the session).
        try:
            s = mt.smtp()
            try:
                while not stop.is_set():
                    t0 = time.monotonic()
                    assert s.ehlo()[0] == 250
                    worst[0] = max(worst[0], time.monotonic() - t0)
                    rounds[0] += 1
                    time.sleep(0.01)
            finally:
                s.quit()
        except Exception as e:   # noqa: BLE001 - reported below
            errors.append(e)

    w = threading.Thread(target=watch)
    w.start()
    try:
        t0 = time.monotonic()
        p = mt.pop3(ALICE, timeout=300)
        try:
            # Meanwhile a message is accepted: the pool still commits.
            mt.deliver("bob@example.test", "Subject: meanwhile\r\n\r\nx\r\n")
            count, size = p.stat()
            assert count == N + 1
            opened = time.monotonic() - t0
            resp, uidls, _ = p.uidl()
            assert len(uidls) == N + 1
            assert len({u.split()[1] for u in uidls}) == N + 1
        finally:
            p.quit()
    finally:
        stop.set()
        w.join()
    assert not errors, errors
    assert rounds[0] > 10
    assert worst[0] < t(0.5), "an EHLO waited %.3fs while the folder was opened" % worst[0]
    mt.wait_for_log(r"event=pop3-login sid=\d+ client=127\.0\.0\.1 user=alice@example\.test "
                    r"messages=%d" % (N + 1))
    print("opened %d messages in %.2fs; worst EHLO %.3fs of %d" % (N + 1, opened, worst[0], rounds[0]))
