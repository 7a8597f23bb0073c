"""Live reload of the whole configuration (ternctl reload, SIGHUP):
listeners added and removed, limits and domains switched, a broken file
refused with file:line, sessions in progress kept on their settings."""
import re
import signal
import socket
import subprocess

import pytest

from tern_harness import TERNCTL, free_port, t, RawClient


def ternctl_reload(tn):
    p = subprocess.run([str(TERNCTL), "-c", str(tn.config_path), "reload"],
                       capture_output=True, text=True, timeout=t(30))
    return p.returncode, p.stdout, p.stderr


def write_config(tn, extra_listens=(), **changes):
    """The harness's file (settings, listen smtp on tn.port) with changes
    and more listen lines."""
    settings = dict(tn.settings)
    settings.update(changes)
    lines = ["%s %s" % (k, v) for k, v in settings.items() if v is not None]
    lines.append("listen smtp 127.0.0.1:%d" % tn.port)
    lines.extend(extra_listens)
    tn.config_path.write_text("\n".join(lines) + "\n")


def ehlo_size(c):
    code, lines = c.cmd("EHLO client.example.net")
    assert code == 250
    sizes = [int(m.group(1)) for m in (re.match(r"250[- ]SIZE (\d+)", ln) for ln in lines) if m]
    assert len(sizes) == 1, lines
    return sizes[0]


def refused(port):
    with socket.socket() as s:
        s.settimeout(t(5))
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
    return False


@pytest.fixture
def tn(tern_factory):
    # log_debug: the retired configurations' release is logged.
    inst = tern_factory(start=False, max_message_size="1000000", log_debug="yes")
    inst.extra_port = free_port()
    write_config(inst, ["listen smtp 127.0.0.1:%d" % inst.extra_port])
    return inst.start()


def test_listeners_and_domains_switch(tn):
    """A new domain and a listener on a new port; another listener gone;
    the first port, and a session open on it, carry on."""
    before = RawClient("127.0.0.1", tn.port, timeout=t(10))
    before.expect(220)
    assert ehlo_size(before) == 1000000
    new_port = free_port()
    (tn.data_dir / "users").write_text("".join(u + "\n" for u in tn.users) + "carol@new.test\n")
    write_config(tn, ["listen smtp 127.0.0.1:%d" % new_port],
                 domains="example.test new.test", io_threads="2")
    rc, out, err = ternctl_reload(tn)
    assert rc == 0, err
    assert "reloaded" in out and "io_threads: needs a restart, unchanged" in out
    tn.wait_for_log(r"event=listener-closed service=smtp address=127.0.0.1:%d" % tn.extra_port)
    assert refused(tn.extra_port)

    with RawClient("127.0.0.1", new_port, timeout=t(10)) as c:
        c.expect(220)
        c.ehlo()
        assert c.send_message("someone@example.net", ["carol@new.test"],
                              b"Subject: new\r\n\r\nhi\r\n.\r\n")[0] == 250
    tn.wait_for_messages("carol@new.test", 1)
    # The old port still works, and so does the session open across the reload.
    with tn.smtp() as s:
        assert s.sendmail("a@example.net", ["alice@example.test"], b"Subject: a\r\n\r\nx\r\n") == {}
    assert before.cmd("NOOP")[0] == 250
    assert before.send_message("b@example.net", ["bob@example.test"],
                               b"Subject: b\r\n\r\ny\r\n.\r\n")[0] == 250
    before.close()
    tn.wait_for_messages("alice", 1)
    tn.wait_for_messages("bob", 1)
    # The old configuration is freed once its last session has gone.
    tn.wait_for_log(r"event=config-freed")


def test_broken_file_is_refused_with_file_and_line(tn):
    write_config(tn, max_message_size="2000000", max_recipients="many")
    rc, out, err = ternctl_reload(tn)
    assert rc == 1
    assert re.search(r"%s:\d+: " % re.escape(str(tn.config_path)), err), err
    assert "max_recipients" in err
    tn.wait_for_log(r"event=reload-failed")
    with RawClient("127.0.0.1", tn.port, timeout=t(10)) as c:
        c.expect(220)
        assert ehlo_size(c) == 1000000
    # The listener the bad file still named is open as before.
    assert not refused(tn.extra_port)

    # A valid file whose new listener cannot be bound is refused whole:
    # the listener it drops stays open, the limit stays.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        write_config(tn, ["listen smtp 127.0.0.1:%d" % port], max_message_size="2000000")
        rc, out, err = ternctl_reload(tn)
    assert rc == 1 and "listen smtp 127.0.0.1:%d: Address already in use" % port in err, err
    assert tn.log_count(r"event=reload-failed") == 2
    assert not refused(tn.extra_port)
    with RawClient("127.0.0.1", tn.port, timeout=t(10)) as c:
        c.expect(220)
        assert ehlo_size(c) == 1000000


def test_session_keeps_its_settings(tn):
    old = RawClient("127.0.0.1", tn.port, timeout=t(10))
    old.expect(220)
    assert ehlo_size(old) == 1000000
    write_config(tn, ["listen smtp 127.0.0.1:%d" % tn.extra_port],
                 max_message_size="2000000", max_recipients="1")
    rc, out, err = ternctl_reload(tn)
    assert rc == 0, err
    with RawClient("127.0.0.1", tn.port, timeout=t(10)) as new:
        new.expect(220)
        assert ehlo_size(new) == 2000000
        assert new.cmd("MAIL FROM:<a@example.net>")[0] == 250
        assert new.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert new.cmd("RCPT TO:<bob@example.test>")[0] == 452
    # The session from before: its SIZE, and room for two recipients.
    assert ehlo_size(old) == 1000000
    assert old.cmd("MAIL FROM:<a@example.net>")[0] == 250
    assert old.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert old.cmd("RCPT TO:<bob@example.test>")[0] == 250
    assert tn.log_count(r"event=config-freed") == 0    # the old session holds it
    old.cmd("QUIT")
    old.close()
    tn.wait_for_log(r"event=config-freed")


def test_sighup_reloads_the_configuration(tern_factory):
    """SIGHUP does what ternctl reload does. An outbound connection kept
    idle across the reload holds the old configuration until it closes."""
    sink = tern_factory(name="sink", hostname="sink.test", domains="far.test",
                        users=["u@far.test"])
    tn = tern_factory(name="a", start=False, max_message_size="1000000", log_debug="yes",
                      relay_networks="127.0.0.0/8", smtp_idle_timeout="1s",
                      route="far.test 127.0.0.1:%d" % sink.port)
    tn.extra_port = free_port()
    write_config(tn, ["listen smtp 127.0.0.1:%d" % tn.extra_port])
    tn.start()
    with tn.smtp() as s:
        assert s.sendmail("a@example.net", ["u@far.test"], b"Subject: 1\r\n\r\nx\r\n") == {}
    tn.wait_for_log(r"status=sent")

    write_config(tn, max_message_size="3000000", data_dir="/nonexistent")
    before = tn.log_count(r"event=reloaded ")
    tn.proc.send_signal(signal.SIGHUP)
    tn.wait_for_log(r"event=reloaded ", count=before + 1)
    assert tn.log_count(r"event=reloaded .*notes=\"data_dir: needs a restart, unchanged") == 1
    assert refused(tn.extra_port)
    with RawClient("127.0.0.1", tn.port, timeout=t(10)) as c:
        c.expect(220)
        assert ehlo_size(c) == 3000000
    # data_dir was kept: mail still lands where it did. The relayed one
    # goes over the connection opened before the reload.
    with tn.smtp() as s:
        assert s.sendmail("a@example.net", ["alice@example.test", "u@far.test"],
                          b"Subject: h\r\n\r\nx\r\n") == {}
    tn.wait_for_messages("alice", 1)
    sink.wait_for_messages("u@far.test", 2)
    tn.wait_for_log(r"event=config-freed")
