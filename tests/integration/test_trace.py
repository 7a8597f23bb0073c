"""`ternctl trace`: what happened to a message, read back from a real
ternd's log file (docs/trace.md). One ternd with a static route to an
aiosmtpd peer: a message to a local user, one relayed that the peer
defers (450) and then takes, one the peer refuses (550) whose bounce comes
back to a local sender; each traced by queue id, by address, by @domain
and by Message-ID, in text and JSON."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))

from relayenv import BUILD, SLOW, make_msg, relay, wait_until  # noqa: E402,F401

ALICE = "alice@example.test"
TERNCTL = BUILD / "ternctl"


def routed(relay, domain="peer.example"):
    p = relay.peer("127.0.0.2", "mx.%s" % domain)
    t = relay.ternd(routes=[(domain, "127.0.0.2:%d" % relay.port)], resolver=None)
    return p, t


def trace(t, *args, stdin=None, rc=0):
    """ternctl trace over t's log; the lines it printed (JSON: parsed)."""
    cmd = [str(TERNCTL), "-c", str(t.conf), "trace", *args]
    if stdin is None:
        cmd += ["--log", str(t.log_path)]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=20 * SLOW)
    assert p.returncode == rc, (cmd, p.returncode, p.stderr.decode(errors="replace"))
    out = p.stdout.decode()
    if "--json" in args:
        return [json.loads(l) for l in out.splitlines()]
    return out.splitlines()


def events(lines):
    """The EVENT column of text output."""
    return [l.split()[1] for l in lines]


def test_trace_local_and_relayed_with_retry(relay):
    p, t = routed(relay)
    p.set_rcpt("r@peer.example", "450 4.2.1 r: mailbox busy, try again")
    t.send("one@client.test", ALICE, make_msg(msgid="<local1@client.test>", sender="one@client.test",
                                               to=ALICE))
    t.send("two@client.test", "r@peer.example", make_msg(msgid="<relay1@client.test>",
                                                          sender="two@client.test",
                                                          to="r@peer.example"))
    local = t.wait_event("delivery", status="sent", to="<%s>" % ALICE)[0]["id"]
    relayed = t.wait_event("delivery", status="deferred", to="<r@peer.example>")[0]["id"]
    p.set_rcpt("r@peer.example", None)
    t.wait_removed(relayed)
    t.wait_removed(local)
    assert p.wait_messages(1)[0].msgid == "<relay1@client.test>"

    # By queue id: the session, the acceptance, both attempts, the removal.
    lines = trace(t, relayed)
    ev = events(lines)
    assert ev.count("delivery") == 2, lines
    order = [ev.index("connect"), ev.index("queued"), ev.index("delivery"),
             len(ev) - 1 - ev[::-1].index("delivery"), ev.index("removed")]
    assert order == sorted(order), lines
    text = "\n".join(lines)
    assert "msgid=<relay1@client.test>" in text
    assert "status=deferred" in text and "450 4.2.1 r: mailbox busy" in text
    assert "status=sent" in text and "127.0.0.2" in text
    assert local not in text          # the other message stays out
    assert lines == sorted(lines, key=lambda l: l.split()[0])

    # By recipient address (any case), and by Message-ID: the same message.
    by_rcpt = trace(t, "R@Peer.Example")
    assert by_rcpt == lines
    assert trace(t, "<relay1@client.test>") == lines

    # The local one by its sender and its Message-ID, in JSON.
    js = trace(t, "<local1@client.test>", "--json")
    assert [e["event"] for e in js if e.get("id") == local] == ["queued", "delivery", "removed"]
    assert {e.get("id") for e in js} <= {local, None}
    assert js[0]["event"] == "connect" and js[0]["sid"] == [e for e in js if e["event"] == "queued"][0]["sid"]
    d = [e for e in js if e["event"] == "delivery"][0]
    assert d["to"] == "<%s>" % ALICE and d["relay"] == "local" and d["status"] == "sent"
    assert trace(t, "one@client.test", "--json") == js

    # Nothing for a stranger: exit 1, nothing printed.
    assert trace(t, "nobody@nowhere.test", rc=1) == []


def test_trace_bounce_links_its_notification(relay):
    p, t = routed(relay)
    p.set_rcpt("no@peer.example", "550 5.1.1 no: no such user here")
    t.send(ALICE, "no@peer.example", make_msg(msgid="<bounced1@client.test>", sender=ALICE,
                                              to="no@peer.example"))
    link = t.wait_event("dsn")[0]
    orig, dsn = link["id"], link["dsn_id"]
    t.wait_event("delivery", status="sent", id=dsn)
    t.wait_removed(orig)
    t.wait_removed(dsn)

    # From the log on stdin, by @domain: the bounce, its notification
    # (delivered to the sender's local mailbox), both removals.
    lines = trace(t, "@peer.example", stdin=t.log_path.read_bytes())
    text = "\n".join(lines)
    assert "id=%s" % orig in text and "dsn_id=%s" % dsn in text
    assert "status=bounced" in text and "no such user here" in text
    ids = [l for l in lines if " id=%s " % dsn in l + " "]
    assert [l.split()[1] for l in ids] == ["delivery", "removed"], lines
    ev = events(lines)
    assert ev.index("queued") < ev.index("delivery") < ev.index("dsn"), lines
    # By the notification's own id: its origin line, its delivery, removal.
    assert events(trace(t, dsn)) == ["dsn", "delivery", "removed"]
    # --since after everything: nothing left to show.
    assert trace(t, orig, "--since", "2999-01-01", rc=1) == []
    assert trace(t, orig, "--since", "1h") == lines_of(t, orig)


def lines_of(t, qid):
    return trace(t, qid)
