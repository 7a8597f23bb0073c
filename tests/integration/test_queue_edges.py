"""Durability edges of the queue (the security-hardening issue, 13): what
could cost a duplicate, a delay or a wrong answer, though never a loss.

- A Maildir removed (all of it, or only new/ or tmp/) while ternd runs:
  the cache of known Maildirs must not turn that into 451s until a
  restart; the next message gets 250 and arrives.
"""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

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
    assert tern.log_count(r"commit failed") == 0, tern.log_tail()
    assert tern.log_count(r"event=delivery to=<alice@example\.test> .*status=sent") == 3
