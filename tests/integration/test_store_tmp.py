"""tmp/ of a user's Maildir at a POP3 login (docs/mailbox.md, "tmp/"): a
file that no writer will finish goes — one named by a process of this
host that is dead (ternd's own after a kill -9, or another program's
delivery agent: Dovecot's names carry the system's host name, ternd's its
configured one), or anyone's older than 36 hours — and the log says
event=mailbox-tmp-cleaned; a live writer's file, and a young file of
another host, stay. Mail in new/ and cur/ is never touched."""
import os
import socket
import time

from dovecotenv import run_as_user
from retrenv import dead_pid, deliver_in_order, mail_factory, mt  # noqa: F401
from subenv import ALICE

HOUR = 3600


def put(tmp, name, age=0):
    path = tmp / name
    path.write_bytes(b"Subject: half written\r\n")
    owner = run_as_user()
    os.chown(path, owner.pw_uid, owner.pw_gid)
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return name


def test_tmp_cleaned_at_login(mt):
    deliver_in_order(mt, ALICE, [b"Subject: kept\r\n\r\nx\r\n"])
    mt.uidls(ALICE)                    # the first login, with nothing in tmp/
    tmp = mt.maildir(ALICE) / "tmp"
    now = int(time.time())
    ours = "mx.example.test"           # ternd's hostname setting
    system = socket.gethostname()      # what Dovecot's LDA writes
    assert system != ours
    gone = {
        put(tmp, "%d.M1P%dQ1.%s" % (now, dead_pid(), ours)),      # ternd killed
        put(tmp, "%d.M2P%dQ7.%s" % (now, dead_pid(), ours)),
        put(tmp, "%d.M3P%d.%s" % (now, dead_pid(), system)),      # a dead LDA
        put(tmp, "%d.M4P1234.far.example.net" % (now - 40 * HOUR), 37 * HOUR),
        put(tmp, "%d.M5P%dQ1.%s" % (now, os.getpid(), ours), 37 * HOUR),  # old
        put(tmp, "junk-without-a-pid", 37 * HOUR),
    }
    kept = {
        put(tmp, "%d.M6P%dQ1.%s" % (now, os.getpid(), ours)),      # a live writer
        put(tmp, "%d.M7P%d.%s" % (now, os.getpid(), system)),
        put(tmp, "%d.M8P%dQ2.%s" % (now, mt.pid, ours)),           # ternd itself
        put(tmp, "%d.M9P%d.far.example.net" % (now, dead_pid()), 35 * HOUR),  # not ours to judge
        put(tmp, "%d.M10P%dQ1.%s.evil" % (now, dead_pid(), ours)),  # another host
        put(tmp, "junk-young"),
    }
    uidls = mt.uidls(ALICE)
    assert set(os.listdir(tmp)) == kept
    mt.wait_for_log(r"event=mailbox-tmp-cleaned sid=\d+ user=alice@example\.test files=%d\b"
                    % len(gone))
    # The mail itself is untouched.
    assert len(uidls) == 1
    assert mt.uidls(ALICE) == uidls
    # Nothing more to clean: no second line.
    assert mt.log_count(r"event=mailbox-tmp-cleaned") == 1
