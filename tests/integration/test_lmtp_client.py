"""tern as an LMTP client (RFC 2033): `route DOMAIN lmtp:...` and
`local_transport lmtp:...` against Dovecot's real LMTP (dovecotenv.py),
and against an aiosmtpd LMTP peer whose replies to the data are chosen
per recipient, to check the bookkeeping exactly: after the final dot one
reply per accepted recipient, in RCPT order, each recipient's outcome its
own (2xx delivered, 4xx that recipient alone retried, 5xx that recipient
alone bounced with the server's reply as the diagnostic), and a
connection lost half way keeps the replies already read."""
import smtplib
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP

from dovecotenv import dovecot_factory  # noqa: F401  (the fixture)
from relayenv import Dsn, free_port, parse_log_line
from tern_harness import t, tern_factory  # noqa: F401  (the fixture)

ALICE = "alice@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.test"
POSTMASTER = "postmaster@example.test"
TERN_USERS = [POSTMASTER, ALICE, BOB, CAROL]
# Dovecot's users ({PLAIN}: LMTP only looks them up). Not carol.
DC_PLAIN = {POSTMASTER: "pm", ALICE: "a", BOB: "b"}
# bob over a 1 KiB quota (a userdb field the passdb hands over).
QUOTA_1K = "::::::userdb_quota_rule=*:storage=1K"
QUOTA_PLUGIN = ["mail_plugins = $mail_plugins quota",
                "plugin {", "  quota = maildir:User quota", "}"]


def msg(subject, body="hello\r\n", sender=ALICE, to=ALICE, msgid=None):
    msgid = msgid or "<%s.%x@client.example.net>" % (subject.replace(" ", "-"),
                                                    int(time.time() * 1e6))
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: %s\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\n%s"
            % (sender, to, subject, msgid, body)).encode()


def send(tern, sender, rcpts, data, rcpt_options=()):
    """One transaction from a relay_networks client; refused recipients."""
    with smtplib.SMTP("127.0.0.1", tern.port, local_hostname="client.example.net",
                      timeout=t(15)) as s:
        return s.sendmail(sender, rcpts, data, rcpt_options=list(rcpt_options))


def deliveries(tern, **match):
    """The event=delivery lines of tern's log, parsed, filtered by fields."""
    out = []
    for line in tern.log.splitlines():
        if "event=delivery" in line:
            f = parse_log_line(line)
            if all(f.get(k) == v for k, v in match.items()):
                out.append(f)
    return out


def wait_deliveries(tern, count=1, timeout=15, **match):
    deadline = time.monotonic() + t(timeout)
    while True:
        got = deliveries(tern, **match)
        if len(got) >= count:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("%d delivery line(s) %s, wanted %d\n%s"
                                 % (len(got), match, count, tern.log_tail(40)))
        tern.check_alive()
        time.sleep(0.05)


def dc_mail(dc, user):
    """Message files in Dovecot's Maildir for user (new/ and cur/)."""
    md = dc.maildir(user)
    return sorted(p for sub in ("new", "cur") if (md / sub).is_dir()
                  for p in (md / sub).iterdir())


def wait_dc_mail(dc, user, n, timeout=15):
    deadline = time.monotonic() + t(timeout)
    while len(dc_mail(dc, user)) < n:
        if time.monotonic() > deadline:
            raise AssertionError("%s: %d message(s) in Dovecot, wanted %d\n%s"
                                 % (user, len(dc_mail(dc, user)), n, dc.log_tail()))
        time.sleep(0.05)
    return [p.read_bytes() for p in dc_mail(dc, user)]


def lmtp_tern(tern_factory, transport=None, route=None, **kw):
    """A ternd whose local mail goes to `transport` (local_transport) or
    which routes `route` = (domain, hop); clients on loopback may relay."""
    settings = {"relay_networks": "127.0.0.0/8"}
    if transport:
        settings["local_transport"] = transport
    if route:
        settings["route"] = "%s %s" % route
    settings.update(kw)
    return tern_factory(users=TERN_USERS, **settings)


def local_lmtp(tern_factory, dovecot_factory, unix=False, start_dovecot=True, **dc_kw):
    """A ternd whose local mail goes over LMTP (TCP, or Dovecot's unix
    socket) to a Dovecot with its own Maildirs under the ternd's root."""
    tern = tern_factory(users=TERN_USERS, start=False, relay_networks="127.0.0.0/8")
    dc = dovecot_factory(start=start_dovecot, save_crlf=True,
                         mail_root=tern.root / "dovecot-mail", **dc_kw)
    tern.settings["local_transport"] = ("lmtp:unix:%s" % (dc.base_dir / "lmtp") if unix else
                                        "lmtp:127.0.0.1:%d" % dc.lmtp_port)
    tern.write_files()
    return tern.start(), dc


def tern_maildirs_empty(tern):
    root = tern.data_dir / "mail"
    return [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []


# ------------------------------------------------------- Dovecot: routes --

def test_route_to_dovecot_one_unknown_recipient_bounces_alone(tern_factory, dovecot_factory):
    # Dovecot hosts mailbox.example (ssl=True: its LHLO offers STARTTLS,
    # which tern takes on TCP); tern routes that domain to its LMTP port.
    users = {"alice@mailbox.example": "a", "bob@mailbox.example": "b"}
    dc = dovecot_factory(users=users, ssl=True, save_crlf=True)
    relay = "lmtp:127.0.0.1[127.0.0.1]:%d" % dc.lmtp_port
    tern = lmtp_tern(tern_factory, route=("mailbox.example", "lmtp:127.0.0.1:%d" % dc.lmtp_port))
    rcpts = ["alice@mailbox.example", "carol@mailbox.example", "bob@mailbox.example"]
    body = "first line\r\n.a line with a dot\r\n..two\r\nlast\r\n"
    data = msg("three", body=body, to=rcpts[0])
    assert send(tern, ALICE, rcpts, data) == {}

    sent = wait_deliveries(tern, 2, status="sent", relay=relay)
    bounced = wait_deliveries(tern, 1, status="bounced")
    assert sorted(d["to"] for d in sent) == ["<alice@mailbox.example>", "<bob@mailbox.example>"]
    for d in sent:
        assert d["relay"] == relay, d
        assert d["dsn"] == "2.0.0", d
        assert d["tls"].startswith("TLSv1."), d          # STARTTLS on TCP
        assert "Saved" in d["detail"], d                 # Dovecot's own reply
    b = bounced[0]
    assert (b["to"], b["relay"], b["dsn"]) == ("<carol@mailbox.example>", relay, "5.1.1"), b
    assert b["detail"].startswith("550 5.1.1 "), b
    assert not deliveries(tern, status="deferred"), tern.log_tail()

    # Both mailboxes hold the message as sent, dots undone, under
    # Dovecot's trace fields and tern's Received field.
    for u in ("alice@mailbox.example", "bob@mailbox.example"):
        got = wait_dc_mail(dc, u, 1)
        assert len(got) == 1
        assert got[0].endswith(data), got[0][-300:]
        head = got[0][:-len(data)]
        assert head.startswith(b"Return-Path: <alice@example.test>\r\n"), head
        # Dovecot's Received field says the LMTP session had TLS.
        assert b"(using TLSv1." in head, head
        assert b"by mx.example.test (tern) with ESMTP" in head, head
    assert not dc.maildir("carol@mailbox.example").exists()

    # The sender hears of carol alone, with Dovecot's reply.
    dsn = Dsn(tern.wait_for_messages("alice", 1)[0])
    assert dsn.final_recipients() == ["carol@mailbox.example"]
    r = dsn.rcpt("carol@mailbox.example")
    assert (r["Action"], r["Status"]) == ("failed", "5.1.1"), r
    assert r["Remote-MTA"] == "dns; 127.0.0.1", r
    assert r["Diagnostic-Code"].startswith("smtp; 550 5.1.1 "), r
    assert "carol@mailbox.example" in r["Diagnostic-Code"], r
    assert "host %s said: 550 5.1.1" % relay in dsn.text, dsn.text
    tern.settle()


# ------------------------------------------- Dovecot: local_transport TCP --

def quota_over(tern_factory, dovecot_factory, tempfail):
    """local_transport to a Dovecot where bob has a 1 KiB quota (a full
    mailbox is 552 5.2.2, or 452 4.2.2 with quota_full_tempfail), and
    a 3 KiB message from carol to alice and bob sent."""
    users = ["%s:{PLAIN}%s%s" % (u, p, QUOTA_1K if u == BOB else "")
             for u, p in DC_PLAIN.items()] + ["%s:{PLAIN}c" % CAROL]
    extra = QUOTA_PLUGIN + ["quota_full_tempfail = %s" % ("yes" if tempfail else "no")]
    tern, dc = local_lmtp(tern_factory, dovecot_factory, users=users, extra=extra)
    big = msg("big", body=("y" * 70 + "\r\n") * 40, sender=CAROL)
    assert send(tern, CAROL, [ALICE, BOB], big) == {}
    return tern, dc, big


def test_quota_5xx_bounces_that_recipient_alone(tern_factory, dovecot_factory):
    tern, dc, big = quota_over(tern_factory, dovecot_factory, tempfail=False)

    a = wait_deliveries(tern, 1, to="<%s>" % ALICE)[0]
    b = wait_deliveries(tern, 1, to="<%s>" % BOB)[0]
    assert (a["status"], a["relay"]) == ("sent", "lmtp:127.0.0.1[127.0.0.1]:%d" % dc.lmtp_port), a
    assert (b["status"], b["dsn"]) == ("bounced", "5.2.2"), b
    assert b["detail"].startswith("552 5.2.2 ") and "Quota exceeded" in b["detail"], b
    assert wait_dc_mail(dc, ALICE, 1)[0].endswith(big)
    # The bounce is local mail too: it reaches carol through LMTP.
    dsn = Dsn(wait_dc_mail(dc, CAROL, 1)[0])
    assert dsn.final_recipients() == [BOB]
    r = dsn.rcpt(BOB)
    assert (r["Action"], r["Status"]) == ("failed", "5.2.2"), r
    assert r["Diagnostic-Code"].startswith("smtp; 552 5.2.2 "), r
    tern.settle()
    time.sleep(0.3)
    assert len(dc_mail(dc, ALICE)) == 1 and dc_mail(dc, BOB) == []
    assert len(deliveries(tern, to="<%s>" % ALICE)) == 1
    assert tern_maildirs_empty(tern) == []


def test_quota_4xx_retries_that_recipient_alone(tern_factory, dovecot_factory):
    tern, dc, big = quota_over(tern_factory, dovecot_factory, tempfail=True)

    wait_deliveries(tern, 1, to="<%s>" % ALICE, status="sent")
    d = wait_deliveries(tern, 2, to="<%s>" % BOB, status="deferred")
    assert d[0]["dsn"] == "4.2.2" and d[0]["detail"].startswith("452 4.2.2 "), d[0]
    # Room again (a larger limit: without one, Dovecot keeps the one its
    # maildirsize file remembers): the next retry delivers to bob only.
    lines = dc.users_file.read_text().replace(QUOTA_1K, QUOTA_1K.replace("1K", "10M"))
    dc.users_file.write_text(lines)
    got = wait_dc_mail(dc, BOB, 1)
    assert got[0].endswith(big)
    wait_deliveries(tern, 1, to="<%s>" % BOB, status="sent")
    tern.settle()
    assert len(dc_mail(dc, ALICE)) == 1
    assert len(deliveries(tern, to="<%s>" % ALICE)) == 1
    # A deferral is not worth a notice (NOTIFY unset): carol has nothing.
    assert dc_mail(dc, CAROL) == []


def test_dovecot_stopped_defers_then_delivers(tern_factory, dovecot_factory):
    tern, dc = local_lmtp(tern_factory, dovecot_factory, users=DC_PLAIN, start_dovecot=False)
    data = msg("while away", to=BOB)
    assert send(tern, "someone@example.net", [BOB], data) == {}
    d = wait_deliveries(tern, 2, to="<%s>" % BOB, status="deferred")
    assert d[0]["dsn"] == "4.4.1" and "connect to" in d[0]["detail"], d[0]
    assert d[0]["relay"] == "lmtp:127.0.0.1:%d" % dc.lmtp_port, d[0]
    assert tern.queue_files("msg"), "the message must wait in the queue"
    dc.start()
    got = wait_dc_mail(dc, BOB, 1)
    assert got[0].endswith(data)
    wait_deliveries(tern, 1, to="<%s>" % BOB, status="sent")
    tern.settle()
    assert tern_maildirs_empty(tern) == []


# ------------------------------------------ Dovecot: local_transport unix --

def test_local_transport_unix_socket_takes_all_local_mail(tern_factory, dovecot_factory):
    # ssl=True: Dovecot offers STARTTLS on its unix socket too, and tern
    # must not take it there.
    tern, dc = local_lmtp(tern_factory, dovecot_factory, unix=True, ssl=True,
                          users=dict(DC_PLAIN, **{CAROL: "c"}))
    sock = dc.base_dir / "lmtp"
    assert sock.is_socket(), sock
    relay = "lmtp:unix:%s" % sock

    # One recipient, an alias (team: alice, bob: one LMTP transaction for
    # both), and a success notice asked for (itself local mail, and
    # "delivered").
    one = msg("one", to=BOB)
    team = msg("team", to="team@example.test")
    notify = msg("notify", to=ALICE, sender=CAROL)
    assert send(tern, "someone@example.net", [BOB], one) == {}
    assert send(tern, "someone@example.net", ["team@example.test"], team) == {}
    assert send(tern, CAROL, [ALICE], notify, rcpt_options=["NOTIFY=SUCCESS"]) == {}

    bob = wait_dc_mail(dc, BOB, 2)
    alice = wait_dc_mail(dc, ALICE, 2)
    assert sorted(m.endswith(one) or m.endswith(team) for m in bob) == [True, True]
    assert sorted(m.endswith(team) or m.endswith(notify) for m in alice) == [True, True]
    dsn = Dsn(wait_dc_mail(dc, CAROL, 1)[0])
    r = dsn.rcpt(ALICE)
    assert (r["Action"], r["Status"]) == ("delivered", "2.0.0"), r
    assert r["Remote-MTA"] is None, r          # a socket has no DNS name
    tern.settle()

    sent = deliveries(tern, status="sent")
    assert len(sent) == 5, sent               # bob, team x2, alice, the notice
    for d in sent:
        assert d["relay"] == relay, d
        assert d.get("tls", "none") == "none", d   # no STARTTLS on a unix socket
    # The alias went as one transaction: one queue id, both recipients.
    team_ids = {d["id"] for d in sent if d.get("orig_to") == "<team@example.test>"}
    assert len(team_ids) == 1, sent
    # Dovecot saw its unix socket used, and nothing was written into
    # tern's own Maildirs.
    assert dc.log_count(r"lmtp\(\d+\): Info: Connect from local") >= 1, dc.log_tail()
    assert tern_maildirs_empty(tern) == []


# --------------------------------------------------- aiosmtpd LMTP peer --

class _PeerHandler:
    def __init__(self, peer):
        self.peer = peer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        p = self.peer
        with p.lock:
            p.transactions.append((envelope.mail_from, list(envelope.rcpt_tos),
                                   envelope.original_content))
            replies = [p.replies.get(r.lower(), "250 2.0.0 <%s> Saved" % r)
                       for r in envelope.rcpt_tos]
            drop_after = p.drop_after
            p.drop_after = None
        if drop_after is not None:
            # Some replies, then the connection is gone.
            for r in replies[:drop_after]:
                server._writer.write(r.encode() + b"\r\n")
            await server._writer.drain()
            server.transport.close()
            return "421 4.3.0 (never seen)"
        # RFC 2033 §4.2: one reply per recipient, in RCPT order.
        return "\r\n".join(replies)


class _LmtpController(Controller):
    def factory(self):
        return LMTP(self.handler, **self.SMTP_kwargs)


class LmtpPeer:
    """aiosmtpd's LMTP on 127.0.0.1: every RCPT accepted; the data gets,
    per recipient, replies[rcpt] or 250; drop_after=N writes the first N
    replies and hangs up (once). transactions: (from, rcpts, content)."""

    def __init__(self):
        self.port = free_port()
        self.lock = threading.Lock()
        self.transactions = []
        self.replies = {}
        self.drop_after = None
        self.controller = _LmtpController(_PeerHandler(self), hostname="127.0.0.1",
                                          port=self.port, server_hostname="lmtp.peer.example",
                                          ready_timeout=t(10))
        self.controller.start()

    def snapshot(self):
        with self.lock:
            return list(self.transactions)

    def wait(self, n, timeout=15):
        deadline = time.monotonic() + t(timeout)
        while len(self.snapshot()) < n:
            if time.monotonic() > deadline:
                raise AssertionError("%d LMTP transaction(s), wanted %d" % (len(self.snapshot()), n))
            time.sleep(0.05)
        return self.snapshot()

    def stop(self):
        self.controller.stop()


@pytest.fixture
def lmtp_peer():
    p = LmtpPeer()
    yield p
    p.stop()


def test_peer_250_451_550_each_recipient_on_its_own(tern_factory, lmtp_peer):
    p = lmtp_peer
    x, y, z = "x@lmtp.example", "y@lmtp.example", "z@lmtp.example"
    p.replies = {y: "451 4.2.0 <%s> try later" % y, z: "550 5.1.1 <%s> no such user" % z}
    tern = lmtp_tern(tern_factory, route=("lmtp.example", "lmtp:127.0.0.1:%d" % p.port))
    relay = "lmtp:127.0.0.1[127.0.0.1]:%d" % p.port
    data = msg("per recipient", to=x)
    assert send(tern, ALICE, [x, y, z], data) == {}

    first = p.wait(1)[0]
    assert first[0] == ALICE and first[1] == [x, y, z], first
    assert first[2].endswith(data)
    sx = wait_deliveries(tern, 1, to="<%s>" % x)
    sz = wait_deliveries(tern, 1, to="<%s>" % z)
    sy = wait_deliveries(tern, 1, to="<%s>" % y)
    assert (sx[0]["status"], sx[0]["dsn"], sx[0]["relay"]) == ("sent", "2.0.0", relay), sx
    assert (sy[0]["status"], sy[0]["dsn"], sy[0]["relay"]) == ("deferred", "4.2.0", relay), sy
    assert sy[0]["detail"] == "451 4.2.0 <%s> try later" % y, sy
    assert (sz[0]["status"], sz[0]["dsn"], sz[0]["relay"]) == ("bounced", "5.1.1", relay), sz
    assert sz[0]["detail"] == "550 5.1.1 <%s> no such user" % z, sz

    # The bounce: z alone, the peer's reply as the diagnostic.
    dsn = Dsn(tern.wait_for_messages("alice", 1)[0])
    assert dsn.final_recipients() == [z]
    r = dsn.rcpt(z)
    assert (r["Action"], r["Status"]) == ("failed", "5.1.1"), r
    assert r["Diagnostic-Code"] == "smtp; 550 5.1.1 <%s> no such user" % z, r
    assert r["Remote-MTA"] == "dns; 127.0.0.1", r

    # The retries carry y alone; once the peer takes it, the message is done.
    retry = p.wait(2)[1]
    assert retry[1] == [y], retry
    with p.lock:
        del p.replies[y]
    wait_deliveries(tern, 1, to="<%s>" % y, status="sent")
    tern.settle()
    assert all(tx[1] == [y] for tx in p.snapshot()[1:]), p.snapshot()
    assert len(deliveries(tern, to="<%s>" % x)) == 1
    assert len(deliveries(tern, to="<%s>" % z)) == 1
    assert len(tern.messages("alice")) == 1          # one DSN, no delay notice


def test_peer_hangs_up_after_the_first_reply(tern_factory, lmtp_peer):
    p = lmtp_peer
    x, y, z = "x@lmtp.example", "y@lmtp.example", "z@lmtp.example"
    p.drop_after = 1
    tern = lmtp_tern(tern_factory, route=("lmtp.example", "lmtp:127.0.0.1:%d" % p.port))
    data = msg("hang up", to=x)
    assert send(tern, ALICE, [x, y, z], data) == {}

    # x has its reply: delivered. y and z have none: deferred, retried.
    sx = wait_deliveries(tern, 1, to="<%s>" % x)
    assert (sx[0]["status"], sx[0]["dsn"]) == ("sent", "2.0.0"), sx
    for r in (y, z):
        d = wait_deliveries(tern, 1, to="<%s>" % r)[0]
        assert d["status"] == "deferred" and d["dsn"] == "4.4.2", d
        assert "closed the connection" in d["detail"], d
    txs = p.wait(2)
    assert txs[0][1] == [x, y, z] and txs[1][1] == [y, z], txs
    wait_deliveries(tern, 1, to="<%s>" % y, status="sent")
    wait_deliveries(tern, 1, to="<%s>" % z, status="sent")
    tern.settle()
    assert len(p.snapshot()) == 2, p.snapshot()
    assert len(deliveries(tern, to="<%s>" % x)) == 1
    assert tern.messages("alice") == []             # nothing failed
