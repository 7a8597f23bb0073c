"""Configuration checking (ternd -n, ternctl check) and reloading (SIGHUP)."""
import os
import signal
import subprocess

import pytest

from tern_harness import TERNCTL, TERND, Tern, t


def run(*cmd):
    p = subprocess.run([str(c) for c in cmd], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=t(30))
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


@pytest.fixture
def files(tmp_path):
    """A written (not started) configuration."""
    return Tern(tmp_path / "cfg")


def checkers(conf):
    yield "ternd -n", (TERND, "-n", "-c", conf)
    if os.access(str(TERNCTL), os.X_OK):
        yield "ternctl check", (TERNCTL, "check", conf)


def test_valid_config(files):
    for name, cmd in checkers(files.config_path):
        rc, out = run(*cmd)
        assert rc == 0, (name, out)


@pytest.mark.parametrize("line,words", [
    ("frobnicate yes", ["unknown key", "frobnicate"]),
    ("max_recipients 0", ["max_recipients"]),
    ("max_message_size lots", ["max_message_size"]),
    ("idle_timeout 5x", ["idle_timeout"]),
    ("log_debug maybe", ["log_debug"]),
    ("listen smtp 127.0.0.1:99999", ["listen"]),
    ("listen imap4 127.0.0.1:143", ["listen"]),
    ("max_errors", ["max_errors"]),
    ("route example.net lmtp:unix:relative", ["route", "absolute"]),
    ("route example.net lmtp:127.0.0.1:0", ["route", "port"]),
    ("local_transport 127.0.0.1:24", ["local_transport", "lmtp:unix:PATH"]),
    ("local_transport lmtp:unix:/" + "s" * 120, ["local_transport", "absolute"]),
])
def test_bad_config_line(files, line, words):
    text = files.config_path.read_text()
    files.config_path.write_text(text + line + "\n")
    lineno = len(text.splitlines()) + 1
    for name, cmd in checkers(files.config_path):
        rc, out = run(*cmd)
        assert rc != 0, (name, out)
        assert "%s:%d:" % (files.config_path, lineno) in out, (name, out)
        for w in words:
            assert w in out, (name, w, out)


def test_check_shows_transports(files):
    files.config_path.write_text(files.config_path.read_text() +
                                 "route example.net lmtp:127.0.0.1:2424\n"
                                 "route Other.Example [::1]:2525\n"
                                 "route * smarthost.example\n"
                                 "local_transport lmtp:unix:/run/dovecot/lmtp\n")
    for name, cmd in checkers(files.config_path):
        rc, out = run(*cmd)
        assert rc == 0, (name, out)
    rc, out = run(TERNCTL, "check", files.config_path)
    assert out.splitlines()[1:] == [
        "route example.net lmtp:127.0.0.1:2424",
        "route other.example [::1]:2525",
        "route * smarthost.example:25",
        "local_transport lmtp:unix:/run/dovecot/lmtp",
    ], out
    # Without local_transport: tern's own Maildirs.
    files.write_files()
    rc, out = run(TERNCTL, "check", files.config_path)
    assert rc == 0 and out.splitlines()[-1] == "local_transport maildir", out


def test_bad_users_file(files):
    (files.data_dir / "users").write_text("alice@example.test\nnot-an-address\n")
    for name, cmd in checkers(files.config_path):
        rc, out = run(*cmd)
        assert rc != 0, (name, out)
        assert "users:2:" in out, (name, out)


def test_bad_quota_in_users_file(files):
    (files.data_dir / "users").write_text("alice@example.test:::::::quota=1G\n"
                                          "bob@example.test:::::::quota_rule=*:storage=10%\n")
    for name, cmd in checkers(files.config_path):
        rc, out = run(*cmd)
        assert rc != 0, (name, out)
        assert "users:2: 'quota_rule=*:storage=10%'" in out and "users:1:" not in out, (name, out)
    files.config_path.write_text(files.config_path.read_text() + "quota_default lots\n")
    for name, cmd in checkers(files.config_path):
        rc, out = run(*cmd)
        assert rc != 0 and "quota_default" in out, (name, out)


def test_ternd_refuses_to_start_with_bad_config(files):
    files.config_path.write_text(files.config_path.read_text() + "bogus_key 1\n")
    p = subprocess.run([str(TERND), "-c", str(files.config_path)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=t(30))
    assert p.returncode != 0
    assert b"bogus_key" in p.stdout


def test_sighup_reloads_users(tern):
    s = tern.smtp()
    s.docmd("MAIL FROM:<a@example.net>")
    assert s.docmd("RCPT TO:<carol@example.test>")[0] == 550
    s.quit()
    (tern.data_dir / "users").write_text("postmaster@example.test\nalice@example.test\n"
                                         "bob@example.test\ncarol@example.test\n")
    tern.proc.send_signal(signal.SIGHUP)
    tern.wait_for_log(r"event=reloaded")
    s = tern.smtp()
    assert s.sendmail("a@example.net", ["carol@example.test"], b"Subject: hup\r\n\r\nx\r\n") == {}
    s.quit()
    tern.wait_for_messages("carol", 1)


def test_sighup_with_broken_users_keeps_old(tern):
    (tern.data_dir / "users").write_text("broken line without at\n")
    tern.proc.send_signal(signal.SIGHUP)
    tern.wait_for_log(r"event=reload-failed")
    s = tern.smtp()
    assert s.sendmail("a@example.net", ["alice@example.test"], b"Subject: hup\r\n\r\nx\r\n") == {}
    s.quit()
    tern.wait_for_messages("alice", 1)
