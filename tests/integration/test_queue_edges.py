"""Durability edges of the queue (the security-hardening issue, 13): what
could cost a duplicate, a delay or a wrong answer, though never a loss.

- A Maildir removed (all of it, or only new/ or tmp/) while ternd runs:
  the cache of known Maildirs must not turn that into 451s until a
  restart; the next message gets 250 and arrives.
- The delay warning (NOTIFY=DELAY) is recorded in the state file, so a
  restart does not send a second one.
- state/ files carry their version (docs/queue.md).
"""
import os
import shutil
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from relayenv import SLOW, make_msg, read_dsn, relay  # noqa: E402,F401
from tern_harness import tern, tern_factory  # noqa: E402,F401

ALICE = "alice@example.test"


def mail(subject):
    return ("From: <x@example.net>\r\nTo: <alice@example.test>\r\n"
            "Subject: %s\r\n\r\nbody of %s\r\n" % (subject, subject)).encode()


@pytest.mark.parametrize("commit_sync", ["syncfs", "fsync"])
@pytest.mark.parametrize("gone", ["new", "tmp", "all"])
def test_removed_maildir_is_made_again(tern_factory, gone, commit_sync):
    tern = tern_factory(commit_sync=commit_sync)
    s = tern.smtp()
    # The first message puts alice's Maildir in the cache.
    s.sendmail("x@example.net", [ALICE], mail("first"))
    tern.wait_for_messages("alice", 1)
    box = tern.maildir("alice")
    shutil.rmtree(box if gone == "all" else box / gone)
    # Over the same connection and over a new one: 250 each time.
    assert s.sendmail("x@example.net", [ALICE], mail("second")) == {}
    s.quit()
    s = tern.smtp()
    assert s.sendmail("x@example.net", [ALICE], mail("third")) == {}
    s.quit()
    # The first message went with new/, if new/ went.
    want = [b"second", b"third"] if gone in ("new", "all") else [b"first", b"second", b"third"]
    got = tern.wait_for_messages("alice", len(want))
    assert sorted(m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in got) == want
    for sub in ("tmp", "new", "cur"):
        assert (box / sub).is_dir(), sub
    assert list((box / "tmp").iterdir()) == []
    # A queued delivery's file is in new/ a moment before its log line.
    tern.wait_for_log(r"event=delivery to=<alice@example\.test> .*status=sent", count=3)
    assert tern.log_count(r"commit failed") == 0, tern.log_tail()
    assert tern.log_count(r"event=delivery to=<alice@example\.test> .*status=sent") == 3


def test_delay_warning_once_across_restart(relay):
    p = relay.peer("127.0.0.2", "mx.tardy.example")
    tn = relay.ternd(routes=[("tardy.example", "127.0.0.2:%d" % relay.port)], resolver=None,
                     options={"delay_warning": "1s", "retry_initial": "1s", "retry_max": "1s"})
    p.set_rcpt("t@tardy.example", "450 4.2.0 t: come back later")
    tn.send(ALICE, "t@tardy.example", make_msg(msgid="<tardy@client.test>"),
            rcpt_options=["NOTIFY=DELAY,FAILURE"])
    f, = tn.wait_mail(ALICE, timeout=10)
    assert read_dsn(f).rcpt("t@tardy.example")["Action"] == "delayed"
    qid = tn.events("delivery", status="deferred")[0]["id"]
    # One more attempt: the one that sent the warning has been recorded.
    tn.wait_event("delivery", count=2, status="deferred", id=qid)
    state = (tn.data_dir / "queue" / "state" / qid).read_text()
    before = len(tn.events("delivery", status="deferred", id=qid))

    assert tn.stop() == []
    tn.start()
    # Retried after the restart, several times, with no second warning.
    tn.wait_event("delivery", count=before + 3, status="deferred", id=qid, timeout=15)
    assert len(tn.events("dsn", id=qid)) == 1
    assert len(tn.mail(ALICE)) == 1
    # What told it: the version line and the "w" record (docs/queue.md).
    assert state.startswith("tern-state 2\n"), state
    assert [l for l in state.splitlines() if l.startswith("w ")], state

    p.set_rcpt("t@tardy.example", None)
    assert p.wait_messages(1)[0].msgid == "<tardy@client.test>"
    tn.wait_removed(qid)
    time.sleep(0.3 * SLOW)
    assert len(tn.mail(ALICE)) == 1
    assert not (tn.data_dir / "queue" / "state" / qid).exists()
    assert not (tn.data_dir / "queue" / "msg" / qid).exists()
