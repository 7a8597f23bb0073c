"""make install and production mode (docs/operations.md).

The build under test is installed with `meson install --destdir`, which is
what `make install` does after its release build (a release build of its
own would take minutes on this machine). The installed programs then
write a production configuration, check it, and, moved to loopback
ports, serve mail with a certificate laid out as certbot lays it out.
"""
import os
import re
import shutil
import smtplib
import ssl
import subprocess
from pathlib import Path

import pytest

from tern_harness import TERND, free_port, meson_install, t

SERVICES = {"smtp": 25, "submission": 587, "smtps": 465, "pop3": 110,
            "pop3s": 995, "imap": 143, "imaps": 993}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(destdir, {path relative to /: file under destdir}) of one install."""
    dest = tmp_path_factory.mktemp("destdir")
    files = meson_install(dest)
    return dest, {p.lstrip("/"): dest / p.lstrip("/") for p in files.values()}


def find(installed, suffix):
    """The installed file whose path ends in suffix, and its path
    without the destdir."""
    _, files = installed
    hits = [(rel, f) for rel, f in files.items() if rel.endswith(suffix)]
    assert len(hits) == 1, "%s: %r" % (suffix, sorted(files))
    return hits[0][1], "/" + hits[0][0]


def run(args, **kw):
    p = subprocess.run([str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=t(60), **kw)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def default_config_path(ternd):
    _, _, err = run([ternd, "--help"])
    m = re.search(r"-c FILE +configuration file \(default (\S+)\)", err)
    assert m, err
    return m.group(1)


def init_production(installed, root):
    ternd, _ = find(installed, "sbin/ternd")
    conf = root / "etc" / "tern" / "ternd.conf"
    rc, _, err = run([ternd, "--init=production", "-c", conf])
    assert rc == 0, err
    return conf


def test_install_files(installed):
    """Everything make install promises is there, with the build's paths."""
    for suffix in ("sbin/ternd", "sbin/ternctl", "man8/ternd.8", "man8/ternctl.8",
                   "man5/ternd.conf.5", "lib/systemd/system/ternd.service",
                   "lib/sysusers.d/tern.conf", "lib/tmpfiles.d/tern.conf",
                   "doc/tern/ternd.conf.sample", "doc/tern/operations.md"):
        f, _ = find(installed, suffix)
        assert f.is_file() and f.stat().st_size > 0, suffix
    ternd, ternd_path = find(installed, "sbin/ternd")
    ternctl, _ = find(installed, "sbin/ternctl")
    assert os.access(ternd, os.X_OK) and os.access(ternctl, os.X_OK)
    conf_path = default_config_path(ternd)
    _, _, err = run([ternctl])
    assert "defaults to %s" % conf_path in err

    unit = find(installed, "ternd.service")[0].read_text()
    assert "ExecStart=%s -c %s\n" % (ternd_path, conf_path) in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
    caps = re.search(r"^CapabilityBoundingSet=(.*)$", unit, re.M).group(1).split()
    assert sorted(caps) == ["CAP_CHOWN", "CAP_DAC_READ_SEARCH", "CAP_NET_BIND_SERVICE",
                            "CAP_SETGID", "CAP_SETUID"]
    sample = find(installed, "ternd.conf.sample")[0].read_text()
    rc, out, _ = run([ternd, "--sample-config"])
    assert rc == 0 and out == sample
    data_dir = re.search(r"^data_dir\s+(\S+)", sample, re.M).group(1)
    assert "ReadWritePaths=%s\n" % data_dir in unit
    assert re.search(r"^d %s\s+0755 root root" % re.escape(data_dir),
                     find(installed, "tmpfiles.d/tern.conf")[0].read_text(), re.M)
    assert re.search(r"^u tern ", find(installed, "sysusers.d/tern.conf")[0].read_text(), re.M)
    for page in ("man8/ternd.8", "man8/ternctl.8", "man5/ternd.conf.5"):
        assert conf_path in find(installed, page)[0].read_text(), page


def test_init_production(installed, tmp_path):
    """--init=production writes a configuration ternctl accepts, with the
    standard ports on every address, and never overwrites one."""
    ternctl, _ = find(installed, "sbin/ternctl")
    conf = init_production(installed, tmp_path)
    etc = conf.parent
    assert (etc / "users").stat().st_mode & 0o777 == 0o600
    assert (etc / "tls" / "privkey.pem").stat().st_mode & 0o777 == 0o600
    assert (etc / "tls" / "fullchain.pem").is_file()
    text = conf.read_text()
    for service, port in SERVICES.items():
        assert re.search(r"^listen %s +0\.0\.0\.0:%d\b" % (service, port), text, re.M), service
        assert re.search(r"^(# )?listen %s +\[::\]:%d\b" % (service, port), text, re.M), service
    assert re.search(r"^users_file\s+%s\b" % re.escape(str(etc / "users")), text, re.M)
    assert re.search(r"^tls_cert\s+%s\b" % re.escape(str(etc / "tls" / "fullchain.pem")),
                     text, re.M)
    host = re.search(r"^hostname\s+(\S+)", text, re.M).group(1)
    assert "postmaster@%s\n" % host in (etc / "users").read_text()
    rc, out, err = run([ternctl, "-c", conf, "check"])
    assert rc == 0, err
    listeners = len(re.findall(r"^listen ", text, re.M))
    assert listeners in (7, 14)
    assert "1 users, %d listeners" % listeners in out

    conf.write_text(text + "# mine\n")
    ternd, _ = find(installed, "sbin/ternd")
    rc, _, err = run([ternd, "--init=production", "-c", conf])
    assert rc == 0 and "left as it is" in err
    assert conf.read_text() == text + "# mine\n"


def test_unit_verifies(installed, tmp_path):
    """systemd-analyze accepts the unit (run against the destdir's ternd)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    dest, _ = installed
    unit = find(installed, "ternd.service")[0].read_text()
    _, ternd_path = find(installed, "sbin/ternd")
    copy = tmp_path / "ternd.service"
    copy.write_text(unit.replace(ternd_path, str(dest) + ternd_path))
    rc, out, err = run([analyze, "verify", "--man=no", copy])
    # A bad value is a warning with exit 0: no output at all is the pass.
    assert rc == 0 and out.strip() == "" and err.strip() == "", out + err


def make_cert(path_cert, path_key, host):
    rc, _, err = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path_key,
                      "-out", path_cert, "-days", "30", "-subj", "/CN=" + host])
    assert rc == 0, err
    return ssl.PEM_cert_to_DER_cert(Path(path_cert).read_text())


def certbot_layout(root, host, n):
    """certbot's files: live/HOST/*.pem link to archive/HOST/*N.pem (its
    directories are root's, 0700); returns the served certificate (DER)."""
    archive, live = root / "archive" / host, root / "live" / host
    for d in (archive, live):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        os.chmod(d.parent, 0o700)
    der = make_cert(archive / ("fullchain%d.pem" % n), archive / ("privkey%d.pem" % n), host)
    for name in ("fullchain", "privkey"):
        link = live / (name + ".pem")
        tmp = live / (name + ".pem.new")
        tmp.symlink_to("../../archive/%s/%s%d.pem" % (host, name, n))
        os.replace(tmp, link)
    return der


def served_cert(port, host):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.net", timeout=t(10))
    try:
        s.starttls(context=ctx)
        return s.sock.getpeercert(binary_form=True), s
    except BaseException:
        s.close()
        raise


def test_production_serves(installed, tern_factory, tmp_path):
    """The production configuration moved to loopback ports starts as root,
    takes a message over STARTTLS with a certbot-style symlinked
    certificate (the keeper's Landlock rules follow the links), and takes a
    renewed one on SIGHUP."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    ternd, _ = find(installed, "sbin/ternd")
    conf = init_production(installed, tmp_path / "prod")
    text = conf.read_text()
    host = re.search(r"^hostname\s+(\S+)", text, re.M).group(1)
    le = tmp_path / "letsencrypt"
    first = certbot_layout(le, host, 1)
    inst = tern_factory(start=False)
    ports = {s: free_port() for s in SERVICES}
    text = re.sub(r"^(# )?listen .*\n", "", text, flags=re.M)
    text = re.sub(r"^data_dir .*$", "data_dir %s" % inst.data_dir, text, flags=re.M)
    text = re.sub(r"^tls_cert .*$", "tls_cert %s" % (le / "live" / host / "fullchain.pem"),
                  text, flags=re.M)
    text = re.sub(r"^tls_key .*$", "tls_key %s" % (le / "live" / host / "privkey.pem"),
                  text, flags=re.M)
    text += "".join("listen %s 127.0.0.1:%d\n" % sp for sp in ports.items())
    conf.write_text(text)
    inst.config_path, inst.ternd, inst.port = conf, ternd, ports["smtp"]
    inst.start()
    assert sorted(re.findall(r"event=listening service=(\w+) address=127\.0\.0\.1:", inst.log)) \
        == sorted(SERVICES)

    der, s = served_cert(ports["smtp"], host)
    with s:
        assert der == first
        s.ehlo("client.example.net")
        s.sendmail("someone@example.net", ["postmaster@" + host],
                   b"Subject: first\r\n\r\nhello from the install test\r\n")
    msgs = inst.wait_for_messages("postmaster@" + host, 1)
    assert b"hello from the install test" in msgs[0]

    # A renewal: new files in archive/, the links moved, a reload.
    second = certbot_layout(le, host, 2)
    os.kill(inst.pid, 1)
    inst.wait_for_log(r"event=reloaded")
    assert "reload-failed" not in inst.log
    der, s = served_cert(ports["submission"], host)
    s.close()
    assert der == second


def test_init_development(tmp_path):
    """--init (what make run does) writes a configuration that checks,
    a users file readable by its owner only (password hashes go there;
    it is created 0600, not chmod'ed after), and aliases; a second --init
    keeps them."""
    conf = tmp_path / "etc" / "ternd.conf"
    old = os.umask(0o022)
    try:
        rc, out, err = run([TERND, "--init", "-n", "-c", conf])
    finally:
        os.umask(old)
    assert rc == 0 and out == "%s: ok\n" % conf, err
    users, aliases = conf.parent / "users", conf.parent / "aliases"
    assert users.stat().st_mode & 0o777 == 0o600
    assert "postmaster@localhost" in users.read_text()
    assert "abuse: postmaster" in aliases.read_text()
    users.write_text("postmaster@localhost\nkept@localhost\n")
    rc, _, err = run([TERND, "--init", "-n", "-c", conf])
    assert rc == 0, err
    assert "kept@localhost" in users.read_text()
