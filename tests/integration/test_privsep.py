"""Privilege separation: ternd started as root gives up root for run_as,
the keeper process alone holds the password hashes and DKIM keys, and the
network process can read neither.

The secrets live in a configuration directory outside data_dir, owned by
root with mode 0700, as docs/architecture.md recommends. What the network
process could open is checked by running `setpriv` as its user with no
capabilities (the same credentials, before Landlock narrows them further).
"""
import os
import pwd
import signal
import smtplib
import subprocess
import time

import pytest

from tern_harness import Tern, t

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")

CAP_DAC_READ_SEARCH = 1 << 2


def status(pid):
    """/proc/PID/status as a dict of its fields."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(d))
    return kids


def open_fds(pid):
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass
    return out


@pytest.fixture
def secured(tmp_path):
    """A ternd whose users file and DKIM key sit in a root-only config dir."""
    conf = tmp_path / "etc"
    conf.mkdir()
    os.chmod(conf, 0o700)
    users = conf / "users"
    users.write_text("alice@example.test:{PLAIN}wonderland\nbob@example.test\n")
    os.chmod(users, 0o600)
    key = conf / "dkim.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    inst = Tern(tmp_path / "ternd", settings={
        "users_file": str(users),
        "dkim_key": "example.test sel %s" % key,
        "auth_cleartext_loopback": "yes",
    })
    inst.start()
    yield inst, conf, users, key
    inst.close()


def test_network_process_dropped_root(secured):
    inst, _, _, _ = secured
    tern = pwd.getpwnam("tern")
    st = status(inst.proc.pid)
    assert st["Uid"].split() == [str(tern.pw_uid)] * 4, st["Uid"]
    assert st["Gid"].split() == [str(tern.pw_gid)] * 4, st["Gid"]
    assert st["Groups"].split() in ([], [str(tern.pw_gid)]), st["Groups"]
    for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(st[cap], 16) == 0, (cap, st[cap])
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2", st["Seccomp"]   # filter mode
    assert "event=sandboxed user=tern" in inst.log
    assert "seccomp=on" in inst.log
    # queue/ and mail/ belong to tern; a delivered message too.
    assert os.stat(inst.queue_dir).st_uid == tern.pw_uid
    s = inst.smtp()
    s.sendmail("x@example.net", ["bob@example.test"], b"Subject: hi\r\n\r\nhi\r\n")
    s.quit()
    inst.wait_for_messages("bob", 1)
    box = inst.maildir("bob") / "new"
    assert all(os.stat(p).st_uid == tern.pw_uid for p in box.iterdir())


def test_keeper_holds_the_secrets(secured):
    inst, conf, users, key = secured
    tern = pwd.getpwnam("tern")
    kids = children(inst.proc.pid)
    assert len(kids) == 1, kids
    kst = status(kids[0])
    assert kst["Uid"].split() == [str(tern.pw_uid)] * 4, kst["Uid"]
    # Only the right to read root's files again on reload.
    assert int(kst["CapEff"], 16) == CAP_DAC_READ_SEARCH, kst["CapEff"]
    assert int(kst["CapPrm"], 16) == CAP_DAC_READ_SEARCH, kst["CapPrm"]
    assert kst["NoNewPrivs"] == "1"
    assert kst["Seccomp"] == "2", kst["Seccomp"]
    # The network process holds no descriptor of the secrets...
    fds = open_fds(inst.proc.pid)
    assert not any(str(conf) in p for p in fds), fds
    # ...and its credentials cannot open them.
    for path in (users, key):
        p = subprocess.run(["setpriv", "--reuid", str(tern.pw_uid), "--regid", str(tern.pw_gid),
                            "--clear-groups", "--inh-caps=-all", "cat", str(path)],
                           capture_output=True)
        assert p.returncode != 0 and b"Permission denied" in p.stderr, (path, p)
    # The keeper still answers: AUTH works, with the hash it alone has.
    s = inst.smtp()
    s.login("alice@example.test", "wonderland")
    s.quit()
    s = inst.smtp()
    with pytest.raises(smtplib.SMTPAuthenticationError):
        s.login("alice@example.test", "wrong")
    s.close()


def test_reload_goes_through_the_keeper(secured):
    inst, _, users, _ = secured
    s = inst.smtp()
    code, _ = s.rcpt("carol@example.test") if s.mail("x@example.net")[0] == 250 else (0, b"")
    assert code == 550
    s.quit()
    users.write_text(users.read_text() + "carol@example.test:{PLAIN}c\n")
    before = inst.log_count(r"event=reloaded")
    inst.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + t(10)
    while inst.log_count(r"event=reloaded") <= before:
        assert time.monotonic() < deadline, inst.log_tail()
        time.sleep(0.02)
    s = inst.smtp()
    s.mail("x@example.net")
    assert s.rcpt("carol@example.test")[0] == 250
    s.quit()
    s = inst.smtp()
    s.login("carol@example.test", "c")
    s.quit()


def test_keeper_death_stops_ternd(secured):
    inst, _, _, _ = secured
    kids = children(inst.proc.pid)
    os.kill(kids[0], signal.SIGKILL)
    rc = inst.proc.wait(timeout=t(10))
    p, inst.proc = inst.proc, None
    assert rc == 1, rc
    assert "event=keeper-gone" in inst.log
    inst.exits.append(("sigkill", rc))   # expected: not a teardown failure


def test_sigterm_to_the_whole_group_is_a_clean_stop(secured):
    """A service manager stops a service by sending SIGTERM to every
    process of it: the keeper must not die first and look like a crash."""
    inst, _, _, _ = secured
    kids = children(inst.proc.pid)
    os.kill(kids[0], signal.SIGTERM)
    time.sleep(0.2)
    assert os.path.exists("/proc/%d" % kids[0]), "the keeper died of SIGTERM"
    assert inst.stop() == 0
    deadline = time.monotonic() + t(5)
    while os.path.exists("/proc/%d" % kids[0]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.path.exists("/proc/%d/status" % kids[0]) or \
        status(kids[0]).get("State", "").startswith("Z"), "the keeper outlived ternd"
    assert "keeper-gone" not in inst.log
