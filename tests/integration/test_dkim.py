"""DKIM signing (RFC 6376, RFC 8463): keys made with `ternctl dkim
keygen`, published in a real unbound, and the signatures of mail relayed
through ternd to a remote peer checked with dkimpy: rsa-sha256 and
ed25519-sha256, relaxed/relaxed, on 7-bit, 8-bit and awkward messages.
Only mail of a signing domain from an authenticated user or a
relay_networks client is signed, and only when it leaves.
"""
import re
import smtplib
import time
import subprocess

import pytest

dkim = pytest.importorskip("dkim")
pytest.importorskip("dns.message")

from subenv import (ALICE, BOB, HOSTNAME, PASSWORDS, SUB_USERS, TxtDns,  # noqa: E402,F401
                    dkim_dnsfunc, make_msg, peers, sub_factory, txt_local_data)
from tern_harness import SANITIZER_MARKERS, TERNCTL, free_port, split_delivered, stuff, t  # noqa: E402

CAROL, CAROL_PW = "carol@other.test", "carol-pw"
RELAY_CLIENT = "127.0.0.9"           # in relay_networks
KEYS = [("rsa1", "rsa"), ("ed1", "ed25519")]


class DkimSetup:
    def __init__(self, tern, peer, dns):
        self.tern, self.peer, self.dns = tern, peer, dns
        self.dnsfunc = dkim_dnsfunc(dns.port)

    def signatures(self, content):
        return [v for k, v in dkim.DKIM(content).headers if k.lower() == b"dkim-signature"]

    def verifies(self, content, idx):
        try:
            return dkim.DKIM(content, timeout=int(t(5))).verify(idx=idx, dnsfunc=self.dnsfunc)
        except dkim.DKIMException:
            return False

    def verify_all(self, content):
        """Checks every DKIM-Signature of content; returns their tags."""
        d = dkim.DKIM(content, timeout=int(t(5)))
        sigs = self.signatures(content)
        tags = []
        for i, sig in enumerate(sigs):
            ok = d.verify(idx=i, dnsfunc=self.dnsfunc)
            assert ok, "signature %d does not verify: %r\n%s" % (i, sig, content[:3000])
            tags.append(dkim.util.parse_tag_value(re.sub(rb"\s+", b"", sig)))
        return tags

    def assert_signed_by_both(self, content):
        tags = self.verify_all(content)
        got = sorted((tg[b"s"], tg[b"a"]) for tg in tags)
        assert got == [(b"ed1", b"ed25519-sha256"), (b"rsa1", b"rsa-sha256")], got
        for tg in tags:
            assert tg[b"d"] == b"example.test" and tg[b"c"] == b"relaxed/relaxed", tg
            assert b"from" in tg[b"h"].split(b":"), tg
        return tags


class Keys:
    """Keys made once per module with `ternctl dkim keygen`, and the
    unbound that publishes their TXT records."""

    def __init__(self, root):
        root.mkdir(parents=True, exist_ok=True)
        conf = root / "keygen.conf"
        conf.write_text("hostname %s\ndata_dir %s\ndomains example.test\nlisten smtp 127.0.0.1:%d\n"
                        % (HOSTNAME, root / "data", free_port()))
        self.conf_lines, records = [], []
        for sel, kind in KEYS:
            out = ternctl(conf, "dkim", "keygen", "example.test", sel, kind)
            key = root / "data" / "dkim" / ("example.test.%s.key" % sel)
            assert key.is_file() and key.stat().st_mode & 0o077 == 0, "private key readable by others"
            m = re.search(r"^\s*(dkim_key example\.test %s (\S+))$" % sel, out, re.M)
            assert m and m.group(2) == str(key), out
            self.conf_lines.append(m.group(1))
            m = re.search(r'^\s*(%s\._domainkey\.example\.test\.) IN TXT "([^"]+)"$' % sel, out, re.M)
            assert m, out
            assert m.group(2).startswith("v=DKIM1; k=%s; p=" % kind), m.group(2)
            records.append(txt_local_data(m.group(1), m.group(2)))
        # keygen never overwrites a key.
        pem = (root / "data" / "dkim" / "example.test.ed1.key").read_bytes()
        with pytest.raises(AssertionError):
            ternctl(conf, "dkim", "keygen", "example.test", "ed1", "ed25519")
        assert (root / "data" / "dkim" / "example.test.ed1.key").read_bytes() == pem
        self.dns = TxtDns(root / "unbound", records)


def ternctl(conf, *args):
    p = subprocess.run([str(TERNCTL), "-c", str(conf)] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=t(30))
    err = p.stderr.decode()
    assert not any(m in err for m in SANITIZER_MARKERS), err
    assert p.returncode == 0, err
    return p.stdout.decode()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    k = Keys(tmp_path_factory.mktemp("dkim-keys"))
    try:
        yield k
    finally:
        k.dns.stop()


def make_signer(sub_factory, peers, keys, **settings):
    peer = peers("127.0.0.2")
    users = SUB_USERS + ["%s:{PLAIN}%s" % (CAROL, CAROL_PW)]
    tern = sub_factory(users=users,
                       aliases="team: alice, bob\ninfo: alice\nfwd: someone@example.net\n",
                       domains="example.test other.test",
                       relay_networks="%s/32" % RELAY_CLIENT,
                       extra=["route example.net 127.0.0.2:%d" % peers.port] + keys.conf_lines,
                       **settings)
    return DkimSetup(tern, peer, keys.dns)


@pytest.fixture
def signer(sub_factory, peers, keys):
    return make_signer(sub_factory, peers, keys)


def submit(tern, user, password, rcpts, msg, mail_options=()):
    s = tern.submission(user, password)
    try:
        refused = s.sendmail(user, rcpts, msg, list(mail_options))
        assert refused == {}
        s.quit()
    finally:
        s.close()


def test_published_keys_resolve(signer):
    for sel, kind in KEYS:
        txt = signer.dnsfunc(("%s._domainkey.example.test." % sel).encode())
        assert txt and txt.startswith(b"v=DKIM1; k=%s; p=" % kind.encode()), txt
    assert signer.dnsfunc(b"nope._domainkey.example.test.") is None


def test_7bit_message_signed_rsa_and_ed25519(signer):
    msg = make_msg(to="x@example.net", subject="a folded\r\n\tsubject   with  spaces",
                   msgid="<dkim-7bit@client.example.net>",
                   headers=["Cc: <c1@example.net>", "Cc:   <c2@example.net>  ",
                            "X-Not-Signed: yes", "MIME-Version: 1.0",
                            "Content-Type: text/plain; charset=us-ascii"],
                   body="Plain 7-bit text.\r\nSecond line.\r\n")
    submit(signer.tern, ALICE, PASSWORDS[ALICE], ["x@example.net", BOB], msg)
    got, = signer.peer.wait_messages(1)
    assert got.msgid == "<dkim-7bit@client.example.net>"
    tags = signer.assert_signed_by_both(got.content)
    # Both Cc fields are covered (each named once in h=).
    for tg in tags:
        assert tg[b"h"].split(b":").count(b"cc") == 2, tg[b"h"]
        assert b"x-not-signed" not in tg[b"h"]
    # Tampering breaks it: the check above means something.
    bad = got.content.replace(b"Second line.", b"Second line!")
    assert not any(signer.verifies(bad, i) for i in range(2))
    # The local copy is not signed: DKIM is for mail that leaves.
    m, = signer.tern.wait_for_messages("bob", 1)
    assert b"DKIM-Signature" not in m
    signer.tern.wait_for_log(r"event=delivery to=<x@example\.net> relay=127\.0\.0\.2\S* .*status=sent")


def test_8bit_utf8_message_signed(signer):
    body = ("Grüße aus Köln — ça marche, 日本語のテキスト.\r\n"
            "Zweite Zeile: äöü ÄÖÜ ß €\r\n").encode("utf-8")
    msg = make_msg(to="y@example.net", subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?=",
                   msgid="<dkim-8bit@client.example.net>",
                   headers=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                            "Content-Transfer-Encoding: 8bit"], body="") + body
    submit(signer.tern, ALICE, PASSWORDS[ALICE], ["y@example.net"], msg,
           mail_options=["BODY=8BITMIME"])
    got, = signer.peer.wait_messages(1)
    assert body in got.content, got.content[-400:]
    signer.assert_signed_by_both(got.content)


def test_long_lines_and_whitespace_signed(signer):
    long_line = " ".join("word%03d" % i for i in range(112))          # ~900 octets
    assert 880 <= len(long_line) <= 990
    body = ("First line with trailing blanks   \t \r\n"
            "inner   runs\tof \t whitespace\r\n"
            " \t \r\n"
            "after a blank-only line\r\n"
            "%s\r\n"
            ".a line that starts with a dot\r\n"
            "..and one with two\r\n"
            "\t leading whitespace kept\r\n"
            "\r\n"
            "paragraph after an empty line\r\n"
            "%s   \r\n"
            "   \r\n"
            "\r\n"
            "\r\n" % (long_line, long_line[:850]))
    msg = make_msg(to="z@example.net", subject="long   lines ", msgid="<dkim-long@client.example.net>",
                   headers=["Reply-To:", "Cc:\t<c1@example.net>,\r\n   \t<c2@example.net>   "],
                   body=body)
    submit(signer.tern, ALICE, PASSWORDS[ALICE], ["z@example.net"], msg)
    got, = signer.peer.wait_messages(1)
    # Delivered as sent (dots unstuffed again, blanks kept)...
    assert got.content.endswith(body.encode()), got.content[-300:]
    # ...and both signatures hold.
    signer.assert_signed_by_both(got.content)


def test_message_without_date_and_message_id_signed_after_adding_them(signer):
    msg = make_msg(to="w@example.net", date=False, msgid=False, subject="bare")
    submit(signer.tern, ALICE, PASSWORDS[ALICE], ["w@example.net"], msg)
    got, = signer.peer.wait_messages(1)
    assert got.msg["Date"] and got.msg["Message-ID"]
    for tg in signer.assert_signed_by_both(got.content):
        h = tg[b"h"].split(b":")
        assert b"date" in h and b"message-id" in h, h


def test_relay_networks_client_is_signed(signer):
    msg = make_msg(to="v@example.net", msgid="<dkim-relaynet@client.example.net>")
    with smtplib.SMTP("127.0.0.1", signer.tern.port, local_hostname="app.example.test",
                      timeout=t(10), source_address=(RELAY_CLIENT, 0)) as s:
        assert s.sendmail(ALICE, ["v@example.net"], msg) == {}
    got, = signer.peer.wait_messages(1)
    signer.assert_signed_by_both(got.content)


def test_other_domain_not_signed(signer):
    """carol@other.test logs in and sends out: other.test has no key."""
    msg = make_msg(sender=CAROL, to="u@example.net", msgid="<dkim-other@client.example.net>")
    submit(signer.tern, CAROL, CAROL_PW, ["u@example.net"], msg)
    got, = signer.peer.wait_messages(1)
    assert got.msgid == "<dkim-other@client.example.net>"
    assert signer.signatures(got.content) == []


def test_unauthenticated_outside_mail_not_signed(sub_factory, peers, keys):
    """With reject_own_domain_sender off, anyone can send mail claiming to
    be from alice@example.test to a local address; when an alias forwards
    it out, it must not be signed with example.test's key."""
    signer = make_signer(sub_factory, peers, keys, reject_own_domain_sender="no")
    msg = make_msg(to="fwd@example.test", msgid="<dkim-forged@client.example.net>")
    with smtplib.SMTP("127.0.0.1", signer.tern.port, local_hostname="outside.example.net",
                      timeout=t(10)) as s:
        assert s.sendmail(ALICE, ["fwd@example.test"], msg) == {}
        # And it cannot relay directly.
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            s.sendmail(ALICE, ["someone@example.net"], msg)
    got, = signer.peer.wait_messages(1)
    assert got.msgid == "<dkim-forged@client.example.net>"
    assert got.rcpt_tos == ["someone@example.net"]
    assert signer.signatures(got.content) == []


def test_local_delivery_not_signed(signer):
    msg = make_msg(to=BOB, msgid="<dkim-local@client.example.net>")
    submit(signer.tern, ALICE, PASSWORDS[ALICE], [BOB], msg)
    m, = signer.tern.wait_for_messages("bob", 1)
    rest = split_delivered(m)[3]
    assert b"dkim-local@" in rest and b"DKIM-Signature" not in m
    assert signer.peer.snapshot() == []


def test_raw_submission_8bitmime_parameter(signer):
    """The 8-bit message again, over a raw session so BODY=8BITMIME is
    certainly on MAIL, and the signature survives the relay."""
    body = "Ünïcödé body line — ✓\r\n".encode("utf-8")
    msg = make_msg(to="t@example.net", msgid="<dkim-raw8@client.example.net>",
                   headers=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                            "Content-Transfer-Encoding: 8bit"], body="") + body
    c = signer.tern.raw_tls(user=ALICE)
    try:
        code, lines = c.send_message(ALICE, ["t@example.net"], stuff(msg), mail_params="BODY=8BITMIME")
        assert code == 250, lines
    finally:
        c.close()
    got, = signer.peer.wait_messages(1)
    assert got.content.endswith(body)
    signer.assert_signed_by_both(got.content)


WATCHER = r"""
import smtplib, sys, time
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60)
s.ehlo("watcher.example.net")
print("ready", flush=True)
worst, n, stop = 0.0, 0, sys.argv[2]
import os
# At most 90 NOOPs: max_junk_commands is 100.
while n < 90 and not os.path.exists(stop):
    t0 = time.monotonic()
    assert s.noop()[0] == 250
    worst = max(worst, time.monotonic() - t0)
    n += 1
    time.sleep(0.01)
s.quit()
print("%f %d" % (worst, n), flush=True)
"""


def test_signing_a_large_message_does_not_stall_other_sessions(signer, tmp_path):
    """Reading and hashing a message for DKIM is whole-message work: it runs
    on an I/O thread (and the keeper signs the digest), so while a 30 MiB
    message is signed another session's NOOPs are answered at once. The
    NOOPs come from a process of their own: in this one, the peer's Python
    code, reading the 30 MiB, would hold the interpreter and skew the
    timing."""
    line = b"x" * 998 + b"\r\n"
    body = line * (30 * 1024 * 1024 // len(line))
    msg = make_msg(to="big@example.net", msgid="<dkim-big@client.example.net>") + body
    stop = tmp_path / "stop"
    w = subprocess.Popen(["/usr/bin/python3", "-c", WATCHER, str(signer.tern.port), str(stop)],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert w.stdout.readline().strip() == "ready"
        with smtplib.SMTP("127.0.0.1", signer.tern.port, local_hostname="app.example.test",
                          timeout=t(60), source_address=(RELAY_CLIENT, 0)) as s:
            assert s.sendmail(ALICE, ["big@example.net"], msg) == {}
        # From the 250 until the peer has it: signing, then sending.
        got, = signer.peer.wait_messages(1, timeout=60)
        stop.write_text("")
        worst, n = w.communicate(timeout=t(30))[0].split()
    finally:
        if w.poll() is None:
            w.kill()
    signer.assert_signed_by_both(got.content)
    print("worst NOOP latency %ss over %s NOOPs" % (worst, n))
    assert int(n) >= 5, n
    assert float(worst) < t(0.25), "a NOOP waited %ss while the message was signed" % worst
