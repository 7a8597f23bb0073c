"""Inbound checks end to end (issue 13): a ternd with check_spf,
check_dkim, check_dmarc and check_sender_domain on, its DNS a real unbound
serving a test zone, mail sent with smtplib from loopback addresses that
play the sending hosts. What is checked: the Authentication-Results and
Received-SPF fields on delivered mail (parsed by python3-authheaders, an
independent reader), DKIM verdicts (RSA and Ed25519) against dkimpy's own,
SPF of HELO on its own, DMARC reject and quarantine (into .Junk, direct and
queued), several From domains and fields, forged Authentication-Results
removed (held and rewritten messages both), auth=pass for submission,
the sender-domain replies (5.1.8, 5.7.27, 4.4.3), a DNS blocklist at
RCPT, DMARC aggregate reports sent from a finished day, and ARC: dkimpy's
chains verified (a trusted sealer lifting DMARC's reject) and tern's seal
on forwarded mail verified by dkimpy.
"""
import smtplib
import subprocess
import time

import pytest

dkim = pytest.importorskip("dkim")
authres = pytest.importorskip("authres")

import relayenv  # noqa: E402
from subenv import ALICE, PASSWORDS, dkim_dnsfunc, sub_factory  # noqa: E402,F401
from subenv import txt_local_data as txt  # noqa: E402
from relayenv import SLOW, relay, wait_until  # noqa: E402,F401  (relay: the fixture)

HOST = "mx.tern.test"          # ternd's hostname, so its authserv-id
LOCAL = "alice@example.test"
GOOD_IP = "127.0.0.1"          # allowed by the zone's SPF records
BAD_IP = "127.0.0.7"           # allowed by none


class ZoneDns(relayenv.Unbound):
    """unbound serving local-data lines for the zone example.; names under
    tempfail.example. SERVFAIL (forwarded to a closed port)."""

    def __init__(self, workdir, local_data):
        super().__init__(workdir, (), servfail=("tempfail.example",), zone="example",
                         local_data=local_data)

    def dnsfunc(self):
        """What dkimpy asks DNS with: this server."""
        return dkim_dnsfunc(self.port)


def ed25519_keypair():
    """An Ed25519 key for dkimpy (base64 seed) and its DNS record (RFC 8463)."""
    import base64
    import nacl.signing
    sk = nacl.signing.SigningKey.generate()
    return (base64.b64encode(bytes(sk)),
            "v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(sk.verify_key)).decode())


def keypair(tmp):
    """An RSA key for dkimpy and its DNS record."""
    priv = tmp / "dkim.key"
    subprocess.run(["openssl", "genrsa", "-out", str(priv), "2048"], check=True,
                   capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", str(priv), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    import base64
    return priv.read_bytes(), "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()


@pytest.fixture
def checks(relay, tmp_path):
    key, record = keypair(tmp_path)
    edkey, edrecord = ed25519_keypair()
    data = [
        txt("ed._domainkey.dk.example.", edrecord),
        # SPF: which hosts send for each domain
        txt("spf.example.", "v=spf1 ip4:127.0.0.1 -all"),
        "local-data: 'spf.example. IN MX 10 mx.spf.example.'",
        txt("soft.example.", "v=spf1 ip4:127.0.0.1 ~all"),
        "local-data: 'soft.example. IN MX 10 mx.soft.example.'",
        # DMARC p=reject, aligned SPF from 127.0.0.1 only
        txt("strict.example.", "v=spf1 ip4:127.0.0.1 -all"),
        "local-data: 'strict.example. IN MX 10 mx.strict.example.'",
        txt("_dmarc.strict.example.", "v=DMARC1; p=reject; aspf=r"),
        # DMARC p=quarantine
        txt("quar.example.", "v=spf1 -all"),
        "local-data: 'quar.example. IN MX 10 mx.quar.example.'",
        txt("_dmarc.quar.example.", "v=DMARC1; p=quarantine"),
        # DKIM key of dk.example (and DMARC p=reject: DKIM alone passes it)
        txt("sel._domainkey.dk.example.", record),
        "local-data: 'dk.example. IN MX 10 mx.dk.example.'",
        txt("_dmarc.dk.example.", "v=DMARC1; p=reject"),
        # a null MX, and a blocklist listing 127.0.0.66
        "local-data: 'nomail.example. IN MX 0 .'",
        "local-data: '66.0.0.127.bl.example. IN A 127.0.0.2'",
        txt("66.0.0.127.bl.example.", "Listed: see http://bl.example/66"),
        # for the HELO identity
        txt("helo.example.", "v=spf1 ip4:127.0.0.1 -all"),
    ]
    dns = ZoneDns(tmp_path / "unbound", data)
    relay.dns = dns
    t = relay.ternd(hostname=HOST, relay_networks=None, options={
        "check_spf": "yes", "check_dkim": "yes", "check_dmarc": "yes",
        "check_sender_domain": "yes", "dnsbl": "bl.example", "verify_timeout": "5s",
    })
    t.dns = dns
    t.dkim_key = key
    t.ed_key = edkey
    return t


def sendmsg(t, sender, msg, source=GOOD_IP, helo="client.example", rcpt=LOCAL):
    with smtplib.SMTP(t.ip, t.port, local_hostname=helo, timeout=15 * SLOW,
                      source_address=(source, 0)) as s:
        return s.sendmail(sender, [rcpt], msg)


def message(sender_hdr, subject="check", body="hello\r\n", extra=()):
    lines = list(extra) + [
        "From: %s" % sender_hdr,
        "To: <%s>" % LOCAL,
        "Subject: %s" % subject,
        "Message-ID: <%x@client.example>" % int(time.time() * 1e9),
        "Date: Mon, 01 Jan 2024 00:00:00 +0000",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def delivered(t, n=1):
    """The message that made the mailbox hold n (names do not sort by
    time when the microseconds gain a digit: the one not seen before)."""
    seen = t.__dict__.setdefault("seen", set())
    files = t.wait_mail(LOCAL, n)
    new = [f for f in files if f not in seen]
    assert len(new) == 1, new
    seen.add(new[0])
    return new[0].read_bytes()


def header_block(raw):
    return raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")


def our_authres(raw):
    """Our Authentication-Results field, parsed by python3-authheaders."""
    import email
    msg = email.message_from_bytes(raw)
    fields = msg.get_all("Authentication-Results") or []
    ours = [f for f in fields if f.strip().lower().startswith(HOST)]
    assert len(ours) == 1, fields
    return authres.AuthenticationResultsHeader.parse("Authentication-Results: " + ours[0])


def result_of(ar, method):
    got = [r for r in ar.results if r.method == method]
    return got[0] if got else None


def test_spf_pass_and_fail_are_recorded(checks):
    sendmsg(checks, "a@spf.example", message("<a@spf.example>"))
    raw = delivered(checks)
    ar = our_authres(raw)
    assert result_of(ar, "spf").result == "pass"
    assert "Received-SPF: pass" in header_block(raw)
    # the fields sit above our Received field
    h = header_block(raw)
    assert h.index("Authentication-Results:") < h.index("Received: from")
    sendmsg(checks, "a@spf.example", message("<a@spf.example>"), source=BAD_IP)
    raw = delivered(checks, 2)
    assert result_of(our_authres(raw), "spf").result == "fail"
    sendmsg(checks, "a@soft.example", message("<a@soft.example>"), source=BAD_IP)
    raw = delivered(checks, 3)
    assert result_of(our_authres(raw), "spf").result == "softfail"


def test_null_sender_checks_helo(checks):
    sendmsg(checks, "", message("<postmaster@helo.example>"), helo="helo.example")
    raw = delivered(checks)
    spf = result_of(our_authres(raw), "spf")
    assert spf.result == "pass"
    assert "smtp.helo=helo.example" in header_block(raw).replace("\r\n\t", " ")


def signed(t, msg, domain="dk.example", ed=False):
    if ed:
        return dkim.sign(msg, b"ed", domain.encode(), t.ed_key,
                         signature_algorithm=b"ed25519-sha256",
                         include_headers=[b"from", b"to", b"subject"]) + msg
    return dkim.sign(msg, b"sel", domain.encode(), t.dkim_key,
                     include_headers=[b"from", b"to", b"subject", b"date", b"message-id"]) + msg


def test_dkim_pass_fail_and_dmarc_by_dkim(checks):
    # From BAD_IP SPF fails (no SPF record: none), DKIM passes and aligns:
    # DMARC passes despite p=reject.
    msg = signed(checks, message("<x@dk.example>"))
    sendmsg(checks, "x@dk.example", msg, source=BAD_IP)
    raw = delivered(checks)
    ar = our_authres(raw)
    assert result_of(ar, "dkim").result == "pass"
    assert result_of(ar, "dmarc").result == "pass"
    # dkimpy agrees on what was delivered
    assert dkim.verify(raw, dnsfunc=checks.dns.dnsfunc())
    # A body changed on the way fails DKIM; DMARC then fails: rejected.
    tampered = msg.replace(b"hello", b"HELLO")
    with pytest.raises(smtplib.SMTPDataError) as e:
        sendmsg(checks, "x@dk.example", tampered, source=BAD_IP)
    assert e.value.smtp_code == 550 and b"5.7.1" in e.value.smtp_error
    assert len(checks.mail(LOCAL)) == 1


def test_dmarc_reject_and_spf_alignment(checks):
    with pytest.raises(smtplib.SMTPDataError) as e:
        sendmsg(checks, "a@strict.example", message("<a@strict.example>"), source=BAD_IP)
    assert e.value.smtp_code == 550 and b"5.7.1" in e.value.smtp_error
    # From 127.0.0.1 SPF passes for strict.example and aligns.
    sendmsg(checks, "a@strict.example", message("<a@strict.example>"))
    raw = delivered(checks)
    assert result_of(our_authres(raw), "dmarc").result == "pass"
    # SPF passes for spf.example but From says strict.example: not aligned.
    with pytest.raises(smtplib.SMTPDataError):
        sendmsg(checks, "a@spf.example", message("<boss@strict.example>"))
    assert checks.events("check", check="message")


def test_dmarc_quarantine_marks(checks):
    sendmsg(checks, "a@quar.example", message("<a@quar.example>"), source=BAD_IP)
    raw = delivered(checks)
    assert result_of(our_authres(raw), "dmarc").result == "fail"
    assert "X-Tern-Quarantine:" in header_block(raw)


def test_quarantine_goes_to_junk(checks):
    """With a Junk folder (Maildir++ .Junk, as the IMAP server makes it),
    quarantined mail lands there: delivered direct (one recipient) and
    from the queue (two); a mailbox without one gets it in the inbox; a
    client's own X-Tern-Quarantine field moves nothing."""
    from tern_harness import give_to_tern
    sendmsg(checks, "a@spf.example", message("<a@spf.example>"))   # ternd makes the Maildir
    delivered(checks)
    junk = checks.maildir(LOCAL) / ".Junk"
    junk.mkdir()
    give_to_tern(junk)
    for d in ("cur", "new", "tmp"):
        (junk / d).mkdir()
        give_to_tern(junk / d)
    pm = "postmaster@example.test"

    def junk_count():
        return len(list((junk / "new").iterdir()))
    sendmsg(checks, "a@quar.example", message("<a@quar.example>"), source=BAD_IP)
    wait_until(lambda: junk_count() == 1, 10, "the direct delivery in .Junk")
    with smtplib.SMTP(checks.ip, checks.port, local_hostname="client.example",
                      timeout=15 * SLOW, source_address=(BAD_IP, 0)) as c:
        c.sendmail("a@quar.example", [LOCAL, pm], message("<a@quar.example>"))
    wait_until(lambda: junk_count() == 2, 10, "the queued delivery in .Junk")
    raw = checks.wait_mail(pm, 1)[0].read_bytes()
    assert "X-Tern-Quarantine:" in header_block(raw)
    assert len(checks.mail(LOCAL)) == 1
    # Not quarantined (SPF passes, aligned): the forged field stays inert.
    sendmsg(checks, "a@spf.example", message("<a@spf.example>",
            extra=["X-Tern-Quarantine: forged"]))
    delivered(checks)
    with smtplib.SMTP(checks.ip, checks.port, local_hostname="client.example",
                      timeout=15 * SLOW) as c:
        c.sendmail("a@spf.example", [LOCAL, pm], message("<a@spf.example>",
                   extra=["X-Tern-Quarantine: forged"]))
    checks.wait_mail(pm, 2)
    wait_until(lambda: len(checks.mail(LOCAL)) == 3, 10, "the inbox deliveries")
    assert junk_count() == 2


@pytest.mark.parametrize("size", [200, 300000])
def test_forged_authres_removed(checks, size):
    forged = ["Authentication-Results: %s; spf=pass smtp.mailfrom=bank.example" % HOST,
              "Authentication-Results: (comment) %s (x); dkim=pass" % HOST.upper(),
              "Authentication-Results: other.example; spf=pass"]
    body = ("x" * 70 + "\r\n") * (size // 72)
    sendmsg(checks, "a@spf.example", message("<a@spf.example>", body=body, extra=forged))
    raw = delivered(checks)
    h = header_block(raw)
    assert "bank.example" not in h and "dkim=pass" not in h
    assert "Authentication-Results: other.example; spf=pass" in h
    assert result_of(our_authres(raw), "spf").result == "pass"
    assert raw.endswith(body.encode())
    assert checks.events("forged-authres")


def test_sender_domain_checks(checks):
    def mail_reply(sender):
        with smtplib.SMTP(checks.ip, checks.port, local_hostname="client.example",
                          timeout=15 * SLOW) as s:
            s.ehlo()
            return s.mail(sender)
    code, text = mail_reply("a@nx.example")
    assert code == 550 and text.startswith(b"5.1.8"), text
    code, text = mail_reply("a@nomail.example")
    assert code == 550 and text.startswith(b"5.7.27"), text
    code, text = mail_reply("a@host.tempfail.example")
    assert code == 451 and text.startswith(b"4.4.3"), text
    code, text = mail_reply("a@spf.example")
    assert code == 250


def test_dnsbl_refuses_at_rcpt(checks):
    with smtplib.SMTP(checks.ip, checks.port, local_hostname="client.example",
                      timeout=15 * SLOW, source_address=("127.0.0.66", 0)) as s:
        s.ehlo()
        assert s.mail("a@spf.example")[0] == 250
        code, text = s.rcpt(LOCAL)
        assert code == 554 and text.startswith(b"5.7.1"), text
        assert b"Listed: see http://bl.example/66" in text
    # another address passes
    sendmsg(checks, "a@spf.example", message("<a@spf.example>"))
    delivered(checks)


def test_dkim_ed25519_and_two_signatures(checks):
    # RFC 8463: an Ed25519 signature on top of an RSA one; both verify.
    msg = signed(checks, signed(checks, message("<x@dk.example>")), ed=True)
    sendmsg(checks, "x@dk.example", msg, source=BAD_IP)
    raw = delivered(checks)
    ar = our_authres(raw)
    dk = [r for r in ar.results if r.method == "dkim"]
    assert [r.result for r in dk] == ["pass", "pass"], str(ar)
    assert result_of(ar, "dmarc").result == "pass"
    assert dkim.verify(raw, dnsfunc=checks.dns.dnsfunc())


def test_helo_checked_on_its_own(checks):
    sendmsg(checks, "a@spf.example", message("<a@spf.example>"), helo="helo.example")
    ar = our_authres(delivered(checks))
    spf = [(r.result, {p.type + "." + p.name: p.value for p in r.properties})
           for r in ar.results if r.method == "spf"]
    assert spf == [("pass", {"smtp.mailfrom": "spf.example"}),
                   ("pass", {"smtp.helo": "helo.example"})], spf
    sendmsg(checks, "a@spf.example", message("<a@spf.example>"), helo="helo.example",
            source=BAD_IP)
    ar = our_authres(delivered(checks, 2))
    assert [r.result for r in ar.results if r.method == "spf"] == ["fail", "fail"]


def test_from_with_several_domains_and_several_fields(checks):
    # One From field, two domains: each is checked; strict.example fails
    # its p=reject (SPF passed for spf.example only): refused.
    with pytest.raises(smtplib.SMTPDataError) as e:
        sendmsg(checks, "a@spf.example", message("<a@spf.example>, <boss@strict.example>"))
    assert e.value.smtp_code == 550 and b"strict.example" in e.value.smtp_error
    # Two From fields: refused whatever they say.
    with pytest.raises(smtplib.SMTPDataError) as e:
        sendmsg(checks, "a@spf.example", message("<a@spf.example>",
                                                 extra=["From: <a@spf.example>"]))
    assert e.value.smtp_code == 550 and b"several From" in e.value.smtp_error
    # Neither domain fails: spf.example has no DMARC record (none),
    # dk.example's DKIM signature aligns (pass). Delivered.
    msg = signed(checks, message("<a@spf.example>, <x@dk.example>"))
    sendmsg(checks, "a@spf.example", msg)
    ar = our_authres(delivered(checks))
    assert [r.result for r in ar.results if r.method == "dmarc"] == ["none", "pass"], str(ar)


def test_submission_gets_auth_pass(sub_factory):
    t = sub_factory(check_spf="yes", check_dkim="yes", check_dmarc="yes",
                    authserv_id="mx.tern.test")
    s = t.submission(ALICE, PASSWORDS[ALICE])
    try:
        s.sendmail(ALICE, [ALICE], message("<%s>" % ALICE, extra=[
            "Authentication-Results: mx.tern.test; dkim=pass header.d=bank.example"]))
        s.quit()
    finally:
        s.close()
    raw = t.wait_for_messages(ALICE, 1)[0]
    ar = our_authres(raw)
    assert [(r.method, r.result) for r in ar.results] == [("auth", "pass")], str(ar)
    assert "smtp.auth=alice@example.test" in header_block(raw).replace("\r\n\t", " ")
    assert "bank.example" not in header_block(raw)


def test_dmarc_aggregate_reports(relay, tmp_path):
    """Results recorded per message, then a finished day's file becomes
    RFC 9990 reports in the queue: to an rua inside the policy domain, to
    an outside one that publishes its authorization, not to one that does
    not; the day is marked sent."""
    import datetime
    import email
    import gzip
    import xml.etree.ElementTree as ET
    data = [
        txt("rep.example.", "v=spf1 ip4:127.0.0.1 -all"),
        "local-data: 'rep.example. IN MX 10 mx.rep.example.'",
        txt("_dmarc.rep.example.", "v=DMARC1; p=quarantine; "
            "rua=mailto:agg@reports.rep.example,mailto:reports@rua.example,mailto:nope@noauth.example"),
        txt("rep.example._report._dmarc.rua.example.", "v=DMARC1"),
    ]
    dns = ZoneDns(tmp_path / "unbound", data)
    relay.dns = dns
    users = ("alice@example.test", "postmaster@example.test", "agg@reports.rep.example",
             "reports@rua.example", "nope@noauth.example")
    t = relay.ternd(hostname=HOST, relay_networks=None, users=users,
                    domains=("example.test", "reports.rep.example", "rua.example", "noauth.example"),
                    options={"check_spf": "yes", "check_dkim": "yes", "check_dmarc": "yes",
                             "dmarc_reports": "yes", "dmarc_report_from": "dmarc@example.test",
                             "dmarc_report_org": "Tern Test", "verify_timeout": "5s"})
    # Two pass (SPF aligned), one fails from another address: quarantined.
    sendmsg(t, "a@rep.example", message("<a@rep.example>"))
    sendmsg(t, "a@rep.example", message("<b@rep.example>"))
    sendmsg(t, "a@rep.example", message("<a@rep.example>"), source=BAD_IP)
    t.wait_mail(LOCAL, 3)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    log = t.data_dir / "dmarc" / ("%s.log" % today)
    assert len(log.read_text().splitlines()) == 3
    # ternctl reads what the daemon wrote
    out = subprocess.run([str(relayenv.BUILD / "ternctl"), "-c", str(t.conf), "dmarc", "report",
                          "--day", str(today)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "rep.example" in out.stdout, out.stdout + out.stderr
    # The day ends (as far as tern can tell): yesterday's file, restart.
    assert t.stop() == []
    yesterday = today - datetime.timedelta(days=1)
    log.rename(t.data_dir / "dmarc" / ("%s.log" % yesterday))
    t.start()
    wait_until(lambda: (t.data_dir / "dmarc" / ("%s.sent" % yesterday)).exists(), 20,
               "the day to be reported")
    got = {}
    for rcpt in ("agg@reports.rep.example", "reports@rua.example"):
        raw = t.wait_mail(rcpt, 1)[0].read_bytes()
        msg = email.message_from_bytes(raw)
        subject = msg["Subject"].replace("\r\n", "").replace("\n", "")   # unfolded
        assert subject.startswith("Report Domain: rep.example Submitter: %s" % HOST), subject
        parts = [p for p in msg.walk() if p.get_content_type() == "application/gzip"]
        assert len(parts) == 1
        assert parts[0].get_filename().startswith("%s!rep.example!" % HOST)
        got[rcpt] = ET.fromstring(gzip.decompress(parts[0].get_payload(decode=True)))
    assert not t.mail("nope@noauth.example")
    assert t.events("dmarc-report-skipped", to="nope@noauth.example")
    root = got["agg@reports.rep.example"]
    assert root.tag == "{urn:ietf:params:xml:ns:dmarc-2.0}feedback", root.tag
    for el in root.iter():                  # the namespace, once checked
        el.tag = el.tag.split("}")[-1]
    assert root.find("report_metadata/org_name").text == "Tern Test"
    pol = root.find("policy_published")
    assert pol.find("domain").text == "rep.example"
    assert pol.find("p").text == "quarantine"
    counts = {}
    for rec in root.findall("record"):
        row = rec.find("row")
        counts[(row.find("source_ip").text, row.find("policy_evaluated/disposition").text)] = \
            int(row.find("count").text)
    assert counts == {(GOOD_IP, "none"): 2, (BAD_IP, "quarantine"): 1}, counts
    for el in got["reports@rua.example"].iter():
        el.tag = el.tag.split("}")[-1]
    assert ET.tostring(got["reports@rua.example"]) == ET.tostring(root)


def arc_sealed(msg, key, sealer, srv_id, results):
    """msg as a forwarder (sealer) would pass it on: its own
    Authentication-Results, then its ARC set made by dkimpy."""
    ar = ("Authentication-Results: %s; %s\r\n" % (srv_id, results)).encode()
    sealed = ar + msg
    fields = dkim.arc_sign(sealed, b"sel", sealer.encode(), key, srv_id.encode())
    return b"".join(fields) + sealed


def test_arc_chain_and_trusted_sealer(relay, tmp_path):
    """A message forwarded by list.example, which broke SPF for
    strict.example (p=reject) and sealed its verdicts: arc=pass; the
    DMARC fail is overridden only because list.example is a trusted
    sealer; a tampered chain fails and the message is refused."""
    key, record = keypair(tmp_path)
    data = [
        txt("strict.example.", "v=spf1 ip4:127.0.0.1 -all"),
        "local-data: 'strict.example. IN MX 10 mx.strict.example.'",
        txt("_dmarc.strict.example.", "v=DMARC1; p=reject"),
        txt("sel._domainkey.list.example.", record),
        txt("sel._domainkey.other.example.", record),
    ]
    dns = ZoneDns(tmp_path / "unbound", data)
    relay.dns = dns
    t = relay.ternd(hostname=HOST, relay_networks=None, options={
        "check_spf": "yes", "check_dkim": "yes", "check_dmarc": "yes", "check_arc": "yes",
        "arc_trusted_sealer": "list.example", "verify_timeout": "5s"})
    orig = message("<boss@strict.example>")
    msg = arc_sealed(orig, key, "list.example", "mx.list.example",
                     "spf=pass smtp.mailfrom=strict.example; dmarc=pass header.from=strict.example")
    sendmsg(t, "boss@strict.example", msg, source=BAD_IP)
    raw = delivered(t)
    ar = our_authres(raw)
    assert result_of(ar, "arc").result == "pass", str(ar)
    assert result_of(ar, "dmarc").result == "fail"
    assert "arc-override" in header_block(raw)
    # dkimpy agrees on the chain as delivered
    cv, _, why = dkim.arc_verify(raw, dnsfunc=dns.dnsfunc())
    assert cv == b"pass", why
    # The same from a sealer nobody trusts: DMARC's reject stands.
    msg = arc_sealed(orig, key, "other.example", "mx.other.example", "spf=pass")
    with pytest.raises(smtplib.SMTPDataError) as e:
        sendmsg(t, "boss@strict.example", msg, source=BAD_IP)
    assert e.value.smtp_code == 550
    # A chain whose body changed after the seal fails (and is refused).
    msg = arc_sealed(orig, key, "list.example", "mx.list.example", "spf=pass")
    with pytest.raises(smtplib.SMTPDataError):
        sendmsg(t, "boss@strict.example", msg.replace(b"hello", b"HELLO"), source=BAD_IP)


def test_forwarded_mail_is_sealed(relay, tmp_path):
    """An alias to a remote address: the message leaves with tern's ARC
    set over its verdicts, which dkimpy verifies at the next hop."""
    key_path = tmp_path / "seal.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key_path), "2048"], check=True,
                   capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", str(key_path), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    import base64
    data = [
        txt("spf.example.", "v=spf1 ip4:127.0.0.1 -all"),
        "local-data: 'spf.example. IN MX 10 mx.spf.example.'",
        txt("seal._domainkey.fwd.example.", "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()),
    ]
    dns = ZoneDns(tmp_path / "unbound", data)
    relay.dns = dns
    peer = relay.peer("127.0.0.2")
    key_path.chmod(0o644)
    t = relay.ternd(hostname=HOST, relay_networks=None,
                    aliases={"list": "someone@example.net"},
                    routes=[("example.net", "127.0.0.2:%d" % relay.port)],
                    options={"check_spf": "yes", "check_dkim": "yes", "check_dmarc": "yes",
                             "check_arc": "yes", "arc_seal": "fwd.example",
                             "dkim_key": "fwd.example seal %s" % key_path,
                             "verify_timeout": "5s"})
    sendmsg(t, "a@spf.example", message("<a@spf.example>"), rcpt="list@example.test")
    got = peer.wait_messages(1)[0]
    raw = got.content if isinstance(got.content, bytes) else got.content.encode()
    h = header_block(raw)
    assert h.startswith("ARC-Seal: i=1; "), h[:200]
    assert "ARC-Authentication-Results: i=1; %s;" % HOST in h.replace("\r\n\t", " ")
    assert "spf=pass" in h
    cv, _, why = dkim.arc_verify(raw, dnsfunc=dns.dnsfunc())
    assert cv == b"pass", why
