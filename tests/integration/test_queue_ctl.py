"""ternctl queue, status and reload against a running ternd, through its
control socket (docs/operations.md, "Queue tools").

Messages stay in the queue because their domain is routed to a port
where nothing listens (connection refused: a deferral) and the first
retry is an hour away; each test acts on them and checks what ternctl
prints, what the log records (every action, with the uid that asked) and
what reaches the disk and the sender.
"""
import json
import os
import smtplib
import stat
import time
import subprocess

import pytest

from tern_harness import TERNCTL, free_port, t

FAR = "nowhere.example"


def ternctl(tn, *args, user=None, stdin=None):
    cmd = [str(TERNCTL), "-c", str(tn.config_path), *args]
    if user:
        cmd = ["setpriv", "--reuid", user, "--regid", "nogroup", "--clear-groups", *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=t(30), input=stdin)
    return p.returncode, p.stdout, p.stderr


def queue_json(tn):
    rc, out, err = ternctl(tn, "queue", "list", "--json")
    assert rc == 0, err
    return {m["id"]: m for m in json.loads(out)}


@pytest.fixture
def stuck(tern_factory):
    """A ternd with three messages deferred for an hour, from a local
    sender (alice, who gets the bounces) relayed by a trusted client."""
    tn = tern_factory(relay_networks="127.0.0.0/8", retry_initial="1h", retry_max="2h",
                      route="%s 127.0.0.1:%d" % (FAR, free_port()),
                      reject_own_domain_sender="no")
    with smtplib.SMTP("127.0.0.1", tn.port, timeout=t(10)) as s:
        for i in range(3):
            s.sendmail("alice@example.test", ["r%d@%s" % (i, FAR)],
                       "Subject: stuck %d\r\nMessage-ID: <stuck%d@example.test>\r\n\r\n"
                       "body %d\r\n" % (i, i, i))
    tn.wait_for_log(r"status=deferred", count=3)
    # The deferral is logged before the attempt has put the message back
    # in the schedule: wait for the queue to say so too.
    for _ in range(int(t(200))):
        if all(m["state"] == "deferred" for m in queue_json(tn).values()):
            break
        time.sleep(0.05)
    return tn


def test_list_show_and_filters(stuck):
    q = queue_json(stuck)
    assert len(q) == 3
    for m in q.values():
        assert m["state"] == "deferred" and m["attempts"] == 1
        assert m["sender"] == "alice@example.test"
        r, = m["recipients"]
        assert r["state"] == "pending" and r["address"].endswith("@" + FAR)
        assert "Connection refused" in r["last_error"]

    rc, out, _ = ternctl(stuck, "queue", "list")
    assert rc == 0 and "-- 3 messages" in out and "last error: connect to" in out
    rc, out, _ = ternctl(stuck, "queue", "list", "--ids", "--to", "r1@" + FAR)
    assert rc == 0 and len(out.split()) == 1
    one = out.strip()
    rc, out, _ = ternctl(stuck, "queue", "list", "--ids", "--from", "nobody@example.test")
    assert rc == 0 and out == ""
    rc, out, _ = ternctl(stuck, "queue", "list", "--ids", "--older-than", "1h")
    assert rc == 0 and out == ""

    rc, out, _ = ternctl(stuck, "queue", "show", one)
    assert rc == 0 and "Subject: stuck 1" in out and "body 1" not in out
    rc, out, _ = ternctl(stuck, "queue", "show", one, "--body")
    assert rc == 0 and "body 1" in out
    rc, _, err = ternctl(stuck, "queue", "show", "0000000000000000")
    assert rc == 1 and "not in the queue" in err


def test_hold_release_delete_bounce_flush(stuck):
    a, b, c = sorted(queue_json(stuck))

    rc, out, _ = ternctl(stuck, "queue", "hold", a)
    assert rc == 0 and out == "%s: held\n" % a
    rc, out, _ = ternctl(stuck, "queue", "hold", a)
    assert "nothing to do" in out
    rc, out, _ = ternctl(stuck, "queue", "flush", a)
    assert "release it first" in out
    assert (stuck.queue_dir / "hold" / a).exists()

    # A hold outlives a restart; the rest of the queue is unchanged.
    stuck.restart()
    assert queue_json(stuck)[a]["state"] == "hold"
    before = stuck.log_count(r"id=%s event=delivery" % a)
    rc, out, _ = ternctl(stuck, "queue", "release", a)
    assert rc == 0 and "released" in out
    stuck.wait_for_log(r"id=%s event=delivery" % a, count=before + 1)
    assert not (stuck.queue_dir / "hold" / a).exists()

    # delete: gone without a word to the sender; bounce: a DSN to alice.
    rc, out, _ = ternctl(stuck, "queue", "delete", a)
    assert rc == 0 and "deleted" in out
    stuck.wait_for_log(r"id=%s event=removed" % a)
    rc, out, _ = ternctl(stuck, "queue", "bounce", "-", stdin=b + "\n")
    assert rc == 0 and "returned to the sender" in out
    stuck.wait_for_log(r"id=%s event=removed" % b)
    msgs = stuck.wait_for_messages("alice", 1)
    assert b"returned to the sender by the postmaster" in msgs[0]
    assert b"r1@" + FAR.encode() in msgs[0] or b"r0@" + FAR.encode() in msgs[0] \
        or b"r2@" + FAR.encode() in msgs[0]
    assert a not in stuck.queue_files() and b not in stuck.queue_files()

    # flush a domain: the last one is tried again at once.
    n = stuck.log_count(r"id=%s event=delivery" % c)
    rc, out, _ = ternctl(stuck, "queue", "flush", "--domain", FAR)
    assert rc == 0 and out == "1 message due now\n"
    stuck.wait_for_log(r"id=%s event=delivery" % c, count=n + 1)
    assert queue_json(stuck)[c]["attempts"] >= 2

    rc, out, _ = ternctl(stuck, "queue", "delete", "0000000000000000")
    assert rc == 1 and "not in the queue" in out
    log = stuck.log
    for line in ("id=%s event=admin action=hold uid=0" % a,
                 "id=%s event=admin action=release uid=0" % a,
                 "id=%s event=admin action=deleted" % a,
                 "id=%s event=admin action=bounce uid=0" % b,
                 "event=flush domain=%s messages=1 uid=0" % FAR):
        assert line in log, line


def test_status_reload_and_who_may(stuck):
    rc, out, _ = ternctl(stuck, "status")
    assert rc == 0
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert fields["queue-messages"] == "3" and fields["queue-deferred"] == "3"
    assert fields["hostname"] == "mx.example.test"
    assert "smtp" in fields["listening"] and str(stuck.port) in fields["listening"]

    rc, out, _ = ternctl(stuck, "reload")
    assert rc == 0 and "reloaded" in out
    stuck.wait_for_log(r"event=reload-requested uid=0")
    (stuck.data_dir / "users").write_text("not an address\n")
    rc, out, err = ternctl(stuck, "reload")
    assert rc == 1 and "users" in err
    (stuck.data_dir / "users").write_text("alice@example.test\n")

    # The socket is the owner's; with its mode opened up, ternd itself
    # still answers nobody else.
    sock = stuck.data_dir / "control.sock"
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    os.chmod(stuck.root, 0o755)
    os.chmod(stuck.config_path, 0o644)
    rc, _, err = ternctl(stuck, "queue", "list", user="nobody")
    assert rc == 1 and "Permission denied" in err
    os.chmod(sock, 0o666)
    rc, _, err = ternctl(stuck, "queue", "delete", "-", user="nobody", stdin="x\n")
    assert rc == 1 and "permission denied" in err
    assert len(queue_json(stuck)) == 3

    stuck.stop()
    rc, _, err = ternctl(stuck, "status")
    assert rc == 1 and "is ternd running?" in err


def test_delete_during_delivery_waits_for_the_attempt(tern_factory):
    """A delete asked for while the message is being delivered is carried
    out when that attempt ends: the attempt's outcome is logged first, and
    the sender hears nothing."""
    from relayenv import Peer

    port = free_port()
    peer = Peer("127.0.0.1", port, "slow.example").start()
    try:
        peer.data_delay = t(2.0)
        peer.data_reply = "451 4.3.0 try again later"
        tn = tern_factory(relay_networks="127.0.0.0/8", retry_initial="1h", retry_max="2h",
                          route="slow.example 127.0.0.1:%d" % port,
                          reject_own_domain_sender="no")
        with smtplib.SMTP("127.0.0.1", tn.port, timeout=t(10)) as s:
            s.sendmail("alice@example.test", ["x@slow.example"], "Subject: slow\r\n\r\nx\r\n")
        tn.wait_for_log(r"event=queued")
        (mid, m), = queue_json(tn).items()
        for _ in range(int(t(100))):
            if queue_json(tn)[mid]["state"] == "delivering" and peer.data_started:
                break
            time.sleep(0.05)
        rc, out, _ = ternctl(tn, "queue", "delete", mid)
        assert rc == 0 and out == "%s: being delivered: deleted when this attempt ends\n" % mid
        assert queue_json(tn)[mid]["state"] == "deleting"
        tn.wait_for_log(r"id=%s event=removed" % mid, timeout=t(15))
        log = tn.log
        deferred = log.index("id=%s event=delivery to=<x@slow.example>" % mid)
        assert "status=deferred" in log[deferred:].splitlines()[0]
        assert deferred < log.index("id=%s event=admin action=deleted" % mid)
        assert "event=dsn" not in log and not tn.message_files("alice")
    finally:
        peer.stop()


def test_control_socket_under_a_deep_data_dir(tern_factory, tmp_path):
    """A data_dir deep enough that data_dir/control.sock passes sun_path's
    108 octets (a build tree on a CI runner was enough): ternd still
    listens and ternctl still reaches it, both through the directory."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    tn = tern_factory(data_dir=deep / "data")
    sock = tn.data_dir / "control.sock"
    assert len(str(sock)) > 108 and sock.is_socket()
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    rc, out, err = ternctl(tn, "status")
    assert rc == 0, err
    assert "queue-messages" in out
