"""TLS: STARTTLS (RFC 3207) and implicit TLS (RFC 8314) with openssl
s_client and raw sockets. TLS 1.2 and 1.3 only; commands pipelined behind
STARTTLS are thrown away (CVE-2011-0411); the self-signed certificate
ternd makes on first start is valid for its hostname.
"""
import os
import re
import signal
import ssl
import subprocess
import time
import warnings

import pytest

from subenv import (ALICE, HOSTNAME, BioTls, SubRaw, make_msg, no_verify_ctx, plain_b64,  # noqa: F401
                    PASSWORDS, starttls, sub, sub_factory, tool)
from tern_harness import split_delivered, t


def s_client(args, input_text, timeout=20):
    openssl = tool("openssl")
    p = subprocess.run([openssl, "s_client", "-ign_eof", "-nocommands", "-crlf"] + args,
                       input=input_text.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=t(timeout))
    return p.returncode, p.stdout.decode("utf-8", "replace")


def negotiated(out):
    """The protocol s_client reports, or None when no cipher was agreed."""
    m = re.search(r"^New, (\S+), Cipher is (\S+)", out, re.M)
    if not m or m.group(2) == "(NONE)":
        return None
    return m.group(1)


# ---------------------------------------------------------- handshakes --

@pytest.mark.parametrize("port_kind", ["submission", "smtp"])
def test_openssl_starttls_verified(sub, port_kind):
    port = sub.sub_port if port_kind == "submission" else sub.port
    rc, out = s_client(["-connect", "127.0.0.1:%d" % port, "-starttls", "smtp",
                        "-CAfile", str(sub.cert_path), "-verify_hostname", HOSTNAME,
                        "-verify_return_error"],
                       "EHLO client.example.net\nQUIT\n")
    # (s_client's exit code is not checked: see test_quit_closes_tls_cleanly.)
    assert negotiated(out) in ("TLSv1.3", "TLSv1.2"), out
    assert "Verify return code: 0 (ok)" in out, out
    # After TLS: AUTH offered (RFC 4954 §4), STARTTLS no longer.
    post = out[out.index("Hello client.example.net"):]
    assert "250-AUTH PLAIN LOGIN" in post, out
    assert "STARTTLS" not in post, out
    assert "221 2.0.0" in post, out
    sub.wait_for_log(r"event=tls client=127\.0\.0\.1 tls=\"TLSv1\.[23] ")


def test_openssl_smtps_verified(sub):
    rc, out = s_client(["-connect", "127.0.0.1:%d" % sub.smtps_port,
                        "-CAfile", str(sub.cert_path), "-verify_hostname", HOSTNAME,
                        "-verify_return_error"],
                       "EHLO client.example.net\nQUIT\n")
    assert negotiated(out) in ("TLSv1.3", "TLSv1.2"), out
    assert "Verify return code: 0 (ok)" in out, out
    assert "220 %s ESMTP" % HOSTNAME in out, out
    assert "250-AUTH PLAIN LOGIN" in out and "250-STARTTLS" not in out, out
    assert "221 2.0.0" in out, out


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
@pytest.mark.parametrize("port_kind", ["submission", "smtps"])
def test_tls12_and_tls13_accepted(sub, port_kind, version):
    args = ["-connect", "127.0.0.1:%d" % (sub.sub_port if port_kind == "submission"
                                          else sub.smtps_port), version]
    if port_kind == "submission":
        args += ["-starttls", "smtp"]
    rc, out = s_client(args, "NOOP\nQUIT\n")
    assert negotiated(out) == {"-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}[version], out
    assert "250 2.0.0" in out and "221 2.0.0" in out, out


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
@pytest.mark.parametrize("port_kind", ["submission", "smtp", "smtps"])
def test_old_tls_refused(sub, port_kind, version):
    port = {"submission": sub.sub_port, "smtp": sub.port, "smtps": sub.smtps_port}[port_kind]
    # SECLEVEL=0: the client is willing; refusing is the server's doing.
    args = ["-connect", "127.0.0.1:%d" % port, version, "-cipher", "DEFAULT:@SECLEVEL=0"]
    if port_kind != "smtps":
        args += ["-starttls", "smtp"]
    before = sub.log_count(r"event=tls-failed")
    rc, out = s_client(args, "NOOP\nQUIT\n")
    assert rc != 0, out
    assert negotiated(out) is None, out
    # (As a reply at a line's start: "221" alone turns up in s_client's
    # Start Time, an epoch second, in some hours of the day.)
    assert "250 2.0.0" not in out and not re.search(r"^221[ -]", out, re.M), out
    sub.wait_for_log(r"event=tls-failed client=127\.0\.0\.1 reason=\"[^\"]*(unsupported protocol|version)",
                     count=before + 1)
    # The server is fine afterwards.
    c = sub.raw_tls()
    c.cmd_expect("NOOP", 250)
    c.close()


def test_python_client_limited_to_tls11_refused(sub):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as e:
        pytest.skip("this Python/OpenSSL cannot offer TLS 1.1: %s" % e)
    c = SubRaw(sub.smtps_port, t(10))
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            starttls(c, ctx)
            c.reply()
    finally:
        c.close()


def test_self_signed_certificate_generated(sub_factory):
    """Without tls_cert/tls_key, ternd makes a pair for its hostname in
    data_dir/tls/ on first start and keeps it over a restart."""
    tern = sub_factory(tls_cert=None, tls_key=None)
    cert = tern.data_dir / "tls" / "cert.pem"
    assert cert.is_file() and (tern.data_dir / "tls" / "key.pem").is_file()
    assert (tern.data_dir / "tls" / "key.pem").stat().st_mode & 0o077 == 0, "key readable by others"
    tern.wait_for_log(r"event=tls-self-signed ")
    ctx = ssl.create_default_context(cafile=str(cert))   # verifies chain and name
    for port, implicit in ((tern.smtps_port, True), (tern.sub_port, False)):
        c = SubRaw(port, t(10))
        try:
            if not implicit:
                c.expect(220)
                c.ehlo()
                c.cmd_expect("STARTTLS", 220)
            starttls(c, ctx, server_hostname=HOSTNAME)
            if implicit:
                c.expect(220)
            c.ehlo()
            assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
            c.cmd_expect("QUIT", 221)
        finally:
            c.close()
    pem = cert.read_bytes()
    tern.restart()
    assert cert.read_bytes() == pem
    assert tern.log_count(r"event=tls-self-signed ") == 1


# --------------------------------------------------------- STARTTLS use --

@pytest.mark.parametrize("port_kind", ["smtp", "submission"])
def test_starttls_pipelined_commands_discarded(sub, port_kind):
    """CVE-2011-0411: a MAIL sent in the clear behind STARTTLS, in the
    same packet, must not be executed inside the TLS session."""
    port = sub.port if port_kind == "smtp" else sub.sub_port
    # Port 25 without AUTH: a sender outside our domains
    # (reject_own_domain_sender).
    sender = "alice@example.test" if port_kind == "submission" else "someone@example.net"
    c = SubRaw(port, t(10))
    try:
        c.expect(220)
        c.ehlo()
        c.send(b"STARTTLS\r\nMAIL FROM:<%s>\r\nRCPT TO:<alice@example.test>\r\n" % sender.encode())
        c.expect(220)
        c.no_reply(0.3)                 # nothing more in the clear
        starttls(c)
        c.ehlo()
        if port_kind == "submission":
            c.cmd_expect("AUTH PLAIN " + plain_b64(ALICE, PASSWORDS[ALICE]), 235)
        # Had the MAIL survived, this would be 250 (or 503 nested MAIL).
        c.cmd_expect("RCPT TO:<alice@example.test>", 503, "Need MAIL")
        c.cmd_expect("MAIL FROM:<%s>" % sender, 250)
        c.cmd_expect("RSET", 250)
        c.cmd_expect("QUIT", 221)
    finally:
        c.close()
    found = sub.wait_for_log(r"event=starttls-discard octets=(\d+)")
    assert int(found[-1]) == len(b"MAIL FROM:<%s>\r\nRCPT TO:<alice@example.test>\r\n" % sender.encode())
    sub.settle()
    assert sub.messages("alice") == []


def test_data_timeout_after_starttls(sub_factory):
    """A client that stalls in the middle of DATA after STARTTLS gets the
    421 of the data timeout, as in the clear. TLS's filter ran its write
    timeout (armed with the 354) whether or not anything waited, so it
    fired before the read timeout, which the client's octets had pushed
    on, and the connection went as a "write timeout" without a reply."""
    sub = sub_factory(idle_timeout="30s", data_timeout="2s")
    c = SubRaw(sub.port, t(10))
    try:
        c.expect(220)
        c.ehlo()
        c.cmd_expect("STARTTLS", 220)
        starttls(c)
        c.ehlo()
        c.cmd_expect("MAIL FROM:<s@example.net>", 250)
        c.cmd_expect("RCPT TO:<alice@example.test>", 250)
        c.cmd_expect("DATA", 354)
        time.sleep(0.5)
        c.send(b"Subject: stalled\r\n\r\nhalf")
        code, lines = c.reply(timeout=t(10))
        assert code == 421 and lines[0].startswith("421 4.4.2"), lines
    finally:
        c.close()
    assert sub.log_count(r"reason=\"?write timeout") == 0
    sub.settle()
    assert sub.messages("alice") == []


def test_starttls_then_plaintext_garbage_is_not_a_command(sub):
    """Octets sent in the clear after STARTTLS (no handshake) are not
    taken as SMTP: the session ends with a TLS failure, not a reply."""
    c = SubRaw(sub.sub_port, t(10))
    try:
        c.expect(220)
        c.ehlo()
        c.cmd_expect("STARTTLS", 220)
        c.send(b"MAIL FROM:<alice@example.test>\r\n")
        rest = c.expect_closed()
        assert b"250" not in rest and b"530" not in rest, rest
    finally:
        c.close()
    sub.wait_for_log(r"event=tls-failed ")


def test_command_sent_with_tls_finished_sees_tls(sub):
    """The first command may travel with the client's TLS Finished (msmtp
    with GnuTLS does that). It must be handled as inside TLS: EHLO offers
    AUTH and no STARTTLS, and AUTH works."""
    c = SubRaw(sub.sub_port, t(10))
    sock = c.sock
    try:
        c.expect(220)
        c.ehlo()
        c.cmd_expect("STARTTLS", 220)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3   # client Finished goes last
        tls = BioTls(sock, ctx, timeout=t(10)).handshake()
        tls.send(b"EHLO client.example.net\r\n")        # Finished + EHLO in one write
        code, lines = tls.reply()
        assert code == 250, lines
        assert "250-AUTH PLAIN LOGIN" in lines, lines
        assert not any("STARTTLS" in l for l in lines), lines
        tls.send(("AUTH PLAIN %s\r\n" % plain_b64(ALICE, PASSWORDS[ALICE])).encode())
        code, lines = tls.reply()
        assert code == 235, lines
        tls.send(b"QUIT\r\n")
        assert tls.reply()[0] == 221
    finally:
        sock.close()
    assert sub.log_count(r"event=tls client=") == 1


@pytest.mark.parametrize("port_kind", ["submission", "smtps"])
def test_quit_closes_tls_cleanly(sub, port_kind):
    """RFC 8446 §6.1: a TLS session ends with close_notify, sent after the
    last reply (221), before the TCP close."""
    ctx = no_verify_ctx()
    # Python ignores a missing close_notify by default; this test does not.
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    c = SubRaw(sub.sub_port if port_kind == "submission" else sub.smtps_port, t(10))
    try:
        if port_kind == "submission":
            c.expect(220)
            c.ehlo()
            c.cmd_expect("STARTTLS", 220)
            starttls(c, ctx)
        else:
            starttls(c, ctx)
            c.expect(220)
        c.ehlo()
        # Pipelined: every reply comes before the close_notify.
        c.send(b"NOOP\r\nQUIT\r\n")
        assert c.reply()[0] == 250
        assert c.reply()[0] == 221
        c.sock.settimeout(t(5))
        # A clean TLS close reads as EOF; a bare TCP close is an SSLEOFError.
        assert c.buf == b"" and c.sock.recv(100) == b""
    finally:
        c.close()


def test_starttls_twice_and_with_argument(sub):
    c = sub.raw_sub()
    try:
        c.ehlo()
        c.cmd_expect("STARTTLS now", 501)
        c.cmd_expect("STARTTLS", 220)
        starttls(c)
        # RFC 3207 §4.2: the state is reset; EHLO again first.
        c.cmd_expect("MAIL FROM:<alice@example.test>", 503)
        lines = c.ehlo()
        assert not any("STARTTLS" in l for l in lines), lines
        c.cmd_expect("STARTTLS", 503)
        c.cmd_expect("NOOP", 250)
    finally:
        c.close()


def test_plaintext_client_on_smtps_port(sub):
    """The smtps port speaks TLS from the first octet: a cleartext client
    gets no SMTP greeting and no reply."""
    c = SubRaw(sub.smtps_port, t(10))
    try:
        c.send(b"EHLO client.example.net\r\n")
        rest = c.expect_closed()
        assert b"220" not in rest and b"250" not in rest, rest
    finally:
        c.close()
    sub.wait_for_log(r"event=tls-failed client=127\.0\.0\.1")


def test_received_esmtps_on_mx_port(sub):
    """STARTTLS on the MX port without AUTH: Received says ESMTPS and
    names the TLS version and cipher."""
    c = SubRaw(sub.port, t(10))
    try:
        c.expect(220)
        c.ehlo()
        c.cmd_expect("STARTTLS", 220)
        starttls(c)
        lines = c.ehlo()
        # The MX port offers AUTH only under TLS, too.
        assert "250-AUTH PLAIN LOGIN" in lines, lines
        code, l = c.send_message("someone@example.net", [ALICE],
                                 make_msg(sender="someone@example.net", to=ALICE) + b".\r\n")
        assert code == 250, l
        c.cmd_expect("QUIT", 221)
    finally:
        c.close()
    m, = sub.wait_for_messages("alice", 1)
    _, _, received, _ = split_delivered(m)
    assert b" with ESMTPS id " in received, received
    assert re.search(rb"\(TLSv1\.[23] [A-Z0-9_-]+\)", received), received


def make_cert(cert, key, cn):
    openssl = tool("openssl")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + cn],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True, timeout=t(30))
    return ssl.PEM_cert_to_DER_cert(cert.read_text())


def served_cert(tern):
    c = tern.raw_smtps()
    try:
        return c.sock.getpeercert(binary_form=True)
    finally:
        c.close()


def test_certificate_reloaded_on_sighup(sub_factory, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    first = make_cert(cert, key, HOSTNAME)
    tern = sub_factory(tls_cert=str(cert), tls_key=str(key))
    assert served_cert(tern) == first
    # A session open across the reload keeps working.
    c = tern.raw_tls(user=ALICE)
    second = make_cert(cert, key, HOSTNAME)
    assert second != first
    tern.reload()
    try:
        c.cmd_expect("MAIL FROM:<alice@example.test>", 250)
        c.cmd_expect("RSET", 250)
    finally:
        c.close()
    assert served_cert(tern) == second
    # A broken pair is refused and the running one kept.
    key.write_text("not a key\n")
    before = tern.log_count(r"event=tls-reload-failed")
    os.kill(tern.pid, signal.SIGHUP)
    tern.wait_for_log(r"event=tls-reload-failed", count=before + 1)
    assert served_cert(tern) == second
