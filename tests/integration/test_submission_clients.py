"""Authenticated submission by real clients: Python smtplib, swaks, msmtp,
curl and nodemailer, on the submission port (STARTTLS, RFC 6409/3207) and
the smtps port (implicit TLS, RFC 8314), with AUTH PLAIN and LOGIN
(RFC 4954). Each message must arrive (in a local Maildir, or at a remote
peer through a static route) with a Received header saying ESMTPSA.
"""
import json
import os
import shutil
import subprocess

import pytest

from subenv import (ALICE, BOB, HOSTNAME, NODEMAILER_JS, PASSWORDS, header_block,  # noqa: F401
                    make_msg, nodemailer_dir, peers, run, sub, sub_factory, tool)
from tern_harness import split_delivered, t


def delivered(tern, user, n=1):
    """The messages in user's Maildir once there are n; each checked to
    come from an authenticated TLS session."""
    msgs = tern.wait_for_messages(user, n)
    tern.settle()
    out = []
    for m in msgs:
        rp, dt, received, rest = split_delivered(m)
        assert b" with ESMTPSA id " in received, received
        out.append((rp, received, rest))
    return out


def assert_authed(tern, user):
    tern.wait_for_log(r"event=auth client=127\.0\.0\.1 user=%s" % user.replace(".", r"\."))


# --------------------------------------------------------------- smtplib --

@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_smtplib_submission_starttls(sub, mech):
    s = sub.submission()
    try:
        assert s.has_extn("auth") and s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        s.user, s.password = ALICE, PASSWORDS[ALICE]
        code, text = s.auth(mech, getattr(s, "auth_" + mech.lower()))
        assert code == 235, text
        refused = s.sendmail(ALICE, [BOB], make_msg(to=BOB, subject="smtplib " + mech))
        assert refused == {}
        s.quit()
    finally:
        s.close()
    (rp, received, rest), = delivered(sub, BOB)
    assert rp == ALICE.encode()
    assert b"Subject: smtplib " + mech.encode() in rest
    assert_authed(sub, ALICE)


def test_smtplib_smtps_to_remote_peer(sub_factory, peers):
    peer = peers("127.0.0.2", "mx.example.net")
    tern = sub_factory(extra=["route example.net 127.0.0.2:%d" % peers.port])
    s = tern.smtps(ALICE)
    try:
        assert s.sendmail(ALICE, ["someone@example.net"],
                          make_msg(to="someone@example.net", subject="over smtps",
                                   msgid="<smtps-1@client.example.net>")) == {}
        s.quit()
    finally:
        s.close()
    got, = peer.wait_messages(1)
    assert got.mail_from == ALICE and got.rcpt_tos == ["someone@example.net"]
    assert got.msgid == "<smtps-1@client.example.net>"
    rcvd = got.msg.get_all("Received")
    assert any("with ESMTPSA" in r and HOSTNAME in r for r in rcvd), rcvd
    tern.wait_for_log(r"event=delivery .*status=sent")
    assert_authed(tern, ALICE)


# ----------------------------------------------------------------- swaks --

@pytest.mark.parametrize("mode", ["--tls", "--tlsc"])
@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks(sub, mode, mech):
    swaks = tool("swaks")
    port = sub.sub_port if mode == "--tls" else sub.smtps_port
    rc, out = run([swaks, "--server", "127.0.0.1", "--port", str(port), mode,
                   "--auth", mech, "--auth-user", BOB, "--auth-password", PASSWORDS[BOB],
                   "--from", BOB, "--to", ALICE, "--helo", "swaks.example.net",
                   "--header", "Subject: swaks %s %s" % (mode, mech),
                   "--timeout", str(int(t(10)))], timeout=30, input=b"")
    assert rc == 0, out
    assert "235 2.7.0 Authentication successful" in out, out
    assert "Ok: queued as" in out, out
    (rp, received, rest), = delivered(sub, ALICE)
    assert rp == BOB.encode()
    assert b"Received: from swaks.example.net ([127.0.0.1])" in received
    assert ("Subject: swaks %s %s" % (mode, mech)).encode() in rest
    assert_authed(sub, BOB)


# ----------------------------------------------------------------- msmtp --

@pytest.mark.parametrize("kind,auth,verify", [
    ("submission", "plain", False),
    ("submission", "login", True),    # verifies the generated certificate
    ("smtps", "plain", True),
])
def test_msmtp(sub, tmp_path, kind, auth, verify):
    msmtp = tool("msmtp")
    rc_file = tmp_path / "msmtprc"
    lines = [
        "defaults",
        "timeout %d" % int(t(10)),
        "account tern",
        "host 127.0.0.1",
        "port %d" % (sub.sub_port if kind == "submission" else sub.smtps_port),
        "domain msmtp.example.net",
        "from %s" % ALICE,
        "auth %s" % auth,
        "user %s" % ALICE,
        "password %s" % PASSWORDS[ALICE],
        "tls on",
        "tls_starttls %s" % ("on" if kind == "submission" else "off"),
    ]
    if verify:
        # The self-signed certificate is for the configured hostname.
        lines += ["tls_trust_file %s" % sub.cert_path, "tls_host_override %s" % HOSTNAME]
    else:
        lines += ["tls_certcheck off"]
    rc_file.write_text("\n".join(lines) + "\n")
    os.chmod(rc_file, 0o600)   # msmtp refuses a readable file with a password
    msg = make_msg(to=BOB, subject="msmtp %s %s" % (kind, auth))
    rc, out = run([msmtp, "-C", str(rc_file), "-a", "tern", BOB], input=msg, timeout=30)
    assert rc == 0, out
    (rp, received, rest), = delivered(sub, BOB)
    assert rp == ALICE.encode()
    assert b"Received: from msmtp.example.net ([127.0.0.1])" in received
    assert ("Subject: msmtp %s %s" % (kind, auth)).encode() in rest
    assert_authed(sub, ALICE)


# ------------------------------------------------------------------ curl --

@pytest.mark.parametrize("how", ["smtp-ssl-reqd", "smtps", "smtps-cacert-login"])
def test_curl(sub, tmp_path, how):
    curl = tool("curl")
    f = tmp_path / "msg.eml"
    f.write_bytes(make_msg(to=ALICE, subject="curl " + how, sender=BOB))
    args = [curl, "--silent", "--show-error", "--max-time", str(int(t(20))),
            "--mail-from", BOB, "--mail-rcpt", ALICE, "-u", "%s:%s" % (BOB, PASSWORDS[BOB]),
            "-T", str(f)]
    if how == "smtp-ssl-reqd":
        args += ["-k", "--ssl-reqd", "smtp://127.0.0.1:%d/curl.example.net" % sub.sub_port]
    elif how == "smtps":
        args += ["-k", "smtps://127.0.0.1:%d/curl.example.net" % sub.smtps_port]
    else:
        # Verified against the generated certificate, by its name; AUTH LOGIN.
        args += ["--cacert", str(sub.cert_path), "--login-options", "AUTH=LOGIN",
                 "--connect-to", "%s:%d:127.0.0.1:%d" % (HOSTNAME, sub.smtps_port, sub.smtps_port),
                 "smtps://%s:%d/curl.example.net" % (HOSTNAME, sub.smtps_port)]
    # -u puts the password on curl's argv: fine for a throwaway test user.
    rc, out = run(args, timeout=30)
    assert rc == 0, out
    (rp, received, rest), = delivered(sub, ALICE)
    assert rp == BOB.encode()
    assert b"Received: from curl.example.net ([127.0.0.1])" in received
    assert ("Subject: curl " + how).encode() in rest
    assert_authed(sub, BOB)


def test_curl_without_auth_refused_on_submission(sub, tmp_path):
    """curl without -u: MAIL gets 530, nothing is queued."""
    curl = tool("curl")
    f = tmp_path / "msg.eml"
    f.write_bytes(make_msg(to=ALICE))
    rc, out = run([curl, "--silent", "--show-error", "--max-time", str(int(t(20))), "-k",
                   "--ssl-reqd", "--mail-from", ALICE, "--mail-rcpt", ALICE, "-T", str(f),
                   "smtp://127.0.0.1:%d/curl.example.net" % sub.sub_port], timeout=30)
    assert rc != 0, out
    assert "530" in out, out
    sub.wait_for_log(r"event=reject .*reply=\"530 5\.7\.0")
    assert sub.messages("alice") == [] and sub.queue_files() == []


# ------------------------------------------------------------ nodemailer --

@pytest.mark.parametrize("secure,method,verify", [
    (False, "PLAIN", False),
    (True, "LOGIN", True),
])
def test_nodemailer(sub, secure, method, verify):
    d = nodemailer_dir()
    node = shutil.which("node") or "/usr/bin/node"
    cfg = {
        "port": sub.smtps_port if secure else sub.sub_port, "secure": secure,
        "user": ALICE, "pass": PASSWORDS[ALICE], "method": method,
        "from": ALICE, "to": BOB, "subject": "nodemailer %s %s" % (secure, method),
        "text": "Sent by nodemailer.\n", "timeout": int(t(10) * 1000),
    }
    if verify:
        cfg.update(ca=str(sub.cert_path), servername=HOSTNAME)
    p = subprocess.run([node, "-e", NODEMAILER_JS, json.dumps(cfg)], cwd=str(d),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=t(30),
                       env=dict(os.environ, NODE_PATH=str(d / "node_modules")))
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0 and out.startswith("OK "), out
    info = json.loads(out[3:].strip().splitlines()[0])
    assert info["accepted"] == [BOB] and info["response"].startswith("250 "), info
    (rp, received, rest), = delivered(sub, BOB)
    assert rp == ALICE.encode()
    assert b"Received: from nodemailer.example.net ([127.0.0.1])" in received
    hdr = header_block(rest)
    assert ("Subject: nodemailer %s %s" % (secure, method)).encode() in hdr
    assert b"Sent by nodemailer." in rest
    assert_authed(sub, ALICE)
