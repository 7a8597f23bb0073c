"""IMAP with the clients people run: mbsync/isync (two-way sync with a
local Maildir), curl (imap:// with STARTTLS, imaps://: LIST, FETCH by UID,
APPEND), fetchmail and getmail6 (IMAP and IMAPS, keep and delete),
imapflow (Node; from the npm registry, see the Makefile's test-deps) and
neomutt/mutt when installed. Each runs with its own HOME and
configuration under tmp, against tern or Dovecot (imapenv.py)."""
import json
import os
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from imapenv import (ALICE, BOB, IMAP_PASSWORDS, PEER, appenduid, append,  # noqa: F401
                     header_prefix_ok, imap_factory, imap_server, message, session)
from subenv import NODE_DIR, tool
from test_pop3_clients import MDA, curl  # the same curl and fetchmail MDA as for POP3
from tern_harness import reachable_by_tern, t


def mixed_messages():
    """Three messages: dots at line starts, 8-bit text, about 300 KB."""
    dots = message("dots", ".\r\n..\r\n.leading dot\r\nmiddle. dot\r\n.\r\nlast line\r\n")
    eight = message("8-bit caf\u00e9", "h\u00e9llo w\u00f6rld \u20ac \u65e5\u672c\u8a9e\r\n",
                    headers=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                             "Content-Transfer-Encoding: 8bit"])
    big = message("big", "".join("line %06d of the big one, with some text\r\n" % i
                                 for i in range(7000)))
    return [dots, eight, big]


def deliver_all(peer, user):
    return [peer.deliver(user, m) for m in mixed_messages()]


def server_view(peer, user, box="INBOX"):
    """{UID: (flags set, BODY[] octets)} through a raw session."""
    c = session(peer, user=user)
    c.ok("EXAMINE %s" % box)
    r = c.ok("UID FETCH 1:* (UID FLAGS BODY.PEEK[])")
    c.logout()
    return {int(v["UID"]): (set(v["FLAGS"]) - {"\\Recent"}, v["BODY[]"])
            for v in r.fetches().values()}


def same_message(got, sent, lf=False):
    """got is sent after the server's trace fields (and, for a client
    that writes LF line ends, with LF)."""
    if lf:
        assert b"\r" not in got
        got = got.replace(b"\n", b"\r\n")
    assert got.endswith(sent), got[-200:]
    assert header_prefix_ok(got[:len(got) - len(sent)]), got[:400]


def run(cmd, env_home, timeout=60, **kw):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=t(timeout),
                       env={"HOME": str(env_home), "PATH": os.environ["PATH"]},
                       cwd=str(env_home), **kw)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


# ---------------------------------------------------------------- curl --

def test_curl_imap_starttls_and_imaps(imap_server, tmp_path):
    sent = deliver_all(imap_server, ALICE)
    view = server_view(imap_server, ALICE)
    uids = sorted(view)
    auth = ["-u", "%s:%s" % (ALICE, IMAP_PASSWORDS[ALICE])]
    stls = "imap://127.0.0.1:%d/" % imap_server.port
    imaps = "imaps://127.0.0.1:%d/" % imap_server.tls_port
    # LIST: curl prints the LIST responses.
    _, out = curl("--ssl-reqd", *auth, stls)
    names = re.findall(rb'^\* LIST \([^)]*\) "\." "?([^"\r\n]+)"?\r$', out, re.M)
    assert {b"INBOX", b"Sent", b"Drafts", b"Trash"} <= set(names), out
    # A message by UID, both ways in: the octets the server holds.
    for uid, body in zip(uids, sent):
        _, got = curl("--ssl-reqd", *auth, stls + "INBOX;UID=%d" % uid)
        assert got == view[uid][1]
        same_message(got, body)
        _, got = curl(*auth, imaps + "INBOX;UID=%d" % uid)
        assert got == view[uid][1]
    # FETCH by UID leaves no \Seen? curl uses BODY[] (not PEEK): \Seen.
    assert "\\Seen" in server_view(imap_server, ALICE)[uids[0]][0]
    # Upload: APPEND.
    up = tmp_path / "up.eml"
    up.write_bytes(message("uploaded by curl", "curl body\r\n"))
    curl("--ssl-reqd", *auth, "-T", str(up), stls + "Sent")
    sentbox = server_view(imap_server, ALICE, "Sent")
    assert [b for _, b in sentbox.values()] == [up.read_bytes()]
    curl(*auth, "-T", str(up), imaps + "INBOX")
    assert len(server_view(imap_server, ALICE)) == 4
    # A custom command: SEARCH.
    _, out = curl(*auth, "-X", "SEARCH SUBJECT dots", imaps + "INBOX")
    assert re.search(rb"^\* SEARCH 1\r$", out, re.M), out
    # A wrong password: curl's "login denied" (67).
    rc, _ = curl("-u", "%s:wrong" % ALICE, imaps, check=False)
    assert rc == 67


# -------------------------------------------------------------- mbsync --

# The name in the servers' test certificate. mbsync checks it against the
# host it connects to, even for a certificate it is told to trust, so it
# connects to this name, which a private /etc/hosts gives 127.0.0.1.
CERT_HOST = "mx.example.test"


def with_cert_host(root, cmd):
    """cmd run in its own mount namespace where /etc/hosts says
    CERT_HOST is 127.0.0.1 (root only: unshare and mount)."""
    if os.geteuid() != 0:
        pytest.skip("mbsync needs the certificate's host name to resolve: a private "
                    "/etc/hosts, which takes root")
    hosts = root / "hosts"
    hosts.write_text("127.0.0.1 localhost %s\n" % CERT_HOST)
    return [tool("unshare"), "--mount", "--propagation", "private", "--", "sh", "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)] + cmd


class Mbsync:
    def __init__(self, root, peer, user, tls="IMAPS"):
        self.root = root
        root.mkdir()
        self.local = root / "mail"
        self.local.mkdir()
        shutil.copyfile(peer.cert_path, root / "cert.pem")
        port = peer.tls_port if tls == "IMAPS" else peer.port
        self.rc = root / "mbsyncrc"
        self.rc.write_text("\n".join([
            "IMAPAccount acc", "Host %s" % CERT_HOST, "Port %d" % port, "User %s" % user,
            'Pass "%s"' % IMAP_PASSWORDS[user].replace('"', '\\"'),
            "SSLType %s" % tls, "CertificateFile %s" % (root / "cert.pem"),
            "SystemCertificates no", "Timeout %d" % int(t(20)),
            "", "IMAPStore remote", "Account acc",
            "", "MaildirStore local", "Path %s/" % self.local, "Inbox %s/INBOX" % self.local,
            "SubFolders Verbatim",
            "", "Channel ch", "Far :remote:", "Near :local:", "Patterns INBOX Projects",
            "Create Both", "Expunge Both", "SyncState *", "Sync All", ""]))

    def run(self):
        rc, out = run(with_cert_host(self.root, [tool("mbsync"), "-V", "-c", str(self.rc), "ch"]),
                      self.root, timeout=120)
        assert rc == 0, out
        return out

    def files(self, box="INBOX"):
        """{path: octets} of the local folder, as the server would have
        them (see norm)."""
        d = self.local / box
        return {p: norm(p.read_bytes()) for sub in ("new", "cur") if (d / sub).is_dir()
                for p in (d / sub).iterdir()}


def norm(b):
    """mbsync's copy of a message -> the server's: mbsync writes LF line
    ends locally and adds an X-TUID field (to find the UID of what it
    uploads) to messages in both directions."""
    if b"\r\n" not in b:
        b = b.replace(b"\n", b"\r\n")
    return re.sub(rb"(?m)^X-TUID: [^\r\n]*\r\n", b"", b, count=1)


def server_norm(view):
    return sorted(norm(b) for _, b in view.values())


@pytest.mark.parametrize("tls", ["IMAPS", "STARTTLS"])
def test_mbsync_two_way(imap_server, tmp_path, tls):
    sent = deliver_all(imap_server, BOB)
    ms = Mbsync(tmp_path / "mbsync", imap_server, BOB, tls)
    # Download: every message, byte for byte as the server has it.
    ms.run()
    local = ms.files()
    view = server_view(imap_server, BOB)
    assert sorted(local.values()) == server_norm(view)
    for body in sent:
        assert any(got.endswith(body) for got in local.values())
    # A flag set locally (F = \Flagged in the file name) goes up.
    path = sorted(local)[0]
    base, _, info = path.name.partition(":2,")
    flagged = path.with_name(base + ":2," + "".join(sorted(info + "F")))
    path.rename(flagged)
    which = local[path]
    # A new message written locally goes up.
    new = message("written locally", "from the near side\r\n", sender=BOB)
    (ms.local / "INBOX" / "new" / ("%d.local1.host" % time.time())).write_bytes(new)
    ms.run()
    view = server_view(imap_server, BOB)
    assert any(norm(b) == which and "\\Flagged" in f for f, b in view.values()), view
    assert any(norm(b) == new for _, b in view.values())
    assert len(view) == 4
    # Expunge both ways: locally (T = trashed, then Expunge), and on the
    # server (\Deleted + EXPUNGE).
    local = ms.files()
    victim = [p for p, b in local.items() if b == new][0]
    base, _, info = victim.name.partition(":2,")
    victim.rename(victim.with_name(base + ":2," + "".join(sorted(info + "T"))))
    c = session(imap_server, user=BOB, select="INBOX")
    r = c.ok("SEARCH SUBJECT dots")
    n = r.named("SEARCH")[0][2]
    c.ok("STORE %s +FLAGS.SILENT (\\Deleted)" % n)
    c.ok("EXPUNGE")
    c.logout()
    ms.run()
    view = server_view(imap_server, BOB)
    assert len(view) == 2 and not any(norm(b) == new for _, b in view.values())
    local = ms.files()
    assert sorted(local.values()) == server_norm(view)
    # A local folder that the server lacks is created there (Create Both).
    for sub in ("cur", "new", "tmp"):
        (ms.local / "Projects" / sub).mkdir(parents=True)
    (ms.local / "Projects" / "new" / "1.x.host").write_bytes(message("in a new folder"))
    ms.run()
    c = session(imap_server, user=BOB)
    r = c.ok("STATUS Projects (MESSAGES)")
    assert r.named("STATUS")[0][3] == ["MESSAGES", "1"]
    c.logout()


# ----------------------------------------------------------- fetchmail --

class Fetchmail:
    def __init__(self, root, peer, user):
        self.root, self.peer, self.user = root, peer, user
        root.mkdir()
        self.out = root / "out"
        self.out.mkdir()
        self.mda = root / "mda.sh"
        self.mda.write_text(MDA)
        self.mda.chmod(0o755)

    def run(self, keep, tls):
        port = self.peer.port if tls == "starttls" else self.peer.tls_port
        rc = self.root / "fetchmailrc"
        rc.write_text("\n".join([
            "set no syslog",
            "poll 127.0.0.1 service %d protocol IMAP auth password" % port,
            '  user "%s" there with password "%s" is root here' % (self.user,
                                                                  IMAP_PASSWORDS[self.user]),
            "  %ssslproto tls1.2+ no sslcertck" % ("ssl " if tls == "imaps" else ""),
            "  %s no rewrite no stripcr" % ("keep" if keep else "nokeep fetchall"),
            '  mda "%s %s"' % (self.mda, self.out),
        ]) + "\n")
        rc.chmod(0o600)
        before = set(os.listdir(self.out))
        code, log = run([tool("fetchmail"), "-v", "--invisible", "--fetchmailrc", str(rc),
                         "--idfile", str(self.root / "ids"), "--pidfile",
                         str(self.root / "pid")], self.root)
        new = sorted(set(os.listdir(self.out)) - before)
        return code, [(self.out / f).read_bytes() for f in new], log


def test_fetchmail_imap_keep_then_delete(imap_server, tmp_path):
    sent = deliver_all(imap_server, ALICE)
    fm = Fetchmail(tmp_path / "fetchmail", imap_server, ALICE)
    rc, got, log = fm.run(keep=True, tls="starttls")
    assert rc == 0 and len(got) == 3, log
    assert "IMAP> A0002 STARTTLS" in log or "STARTTLS" in log
    for g, s in zip(got, sent):
        same_message(g, s)
    # Kept and now \Seen: the next keep run fetches nothing (exit 1).
    rc, got, log = fm.run(keep=True, tls="imaps")
    assert rc == 1 and got == [], log
    view = server_view(imap_server, ALICE)
    assert len(view) == 3 and all("\\Seen" in f for f, _ in view.values())
    # Delete mode: everything (fetchall), then gone from the server.
    rc, got, log = fm.run(keep=False, tls="imaps")
    assert rc == 0 and len(got) == 3, log
    for g, s in zip(got, sent):
        same_message(g, s)
    assert server_view(imap_server, ALICE) == {}


# ------------------------------------------------------------- getmail --

class Getmail:
    def __init__(self, root, peer, user):
        self.root, self.peer, self.user = root, peer, user
        self.dir = root / "getmail"
        self.maildir = root / "Maildir"
        for d in (self.dir, self.maildir / "new", self.maildir / "cur", self.maildir / "tmp"):
            d.mkdir(parents=True)
        self.ca = root / "ca.pem"
        shutil.copyfile(peer.cert_path, self.ca)
        self.runner = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        if self.runner:
            reachable_by_tern(root)
            for p in [root, *root.rglob("*")]:
                os.chown(p, self.runner.pw_uid, self.runner.pw_gid)

    def run(self, ssl, delete):
        if ssl:
            retriever = ["type = SimpleIMAPSSLRetriever", "port = %d" % self.peer.tls_port,
                         "ca_certs = %s" % self.ca, "ssl_cert_hostname = mx.example.test"]
        else:
            retriever = ["type = SimpleIMAPRetriever", "port = %d" % self.peer.port]
        rc = self.dir / "getmailrc"
        rc.write_text("\n".join(["[retriever]"] + retriever + [
            "server = 127.0.0.1", "username = %s" % self.user,
            "password = %s" % IMAP_PASSWORDS[self.user], "mailboxes = ('INBOX',)",
            "record_mailbox = false",
            "", "[destination]", "type = Maildir", "path = %s/" % self.maildir,
            "", "[options]", "verbose = 2", "delete = %s" % ("true" if delete else "false"),
            "read_all = false", "delivered_to = false", "received = false"]) + "\n")
        kw = {}
        if self.runner:
            os.chown(rc, self.runner.pw_uid, self.runner.pw_gid)
            kw = dict(user=self.runner.pw_uid, group=self.runner.pw_gid, extra_groups=[])
        before = set(os.listdir(self.maildir / "new"))
        code, out = run([tool("getmail"), "--getmaildir", str(self.dir), "--rcfile",
                         "getmailrc"], self.root, **kw)
        new = sorted(set(os.listdir(self.maildir / "new")) - before,
                     key=lambda f: int(re.search(r"Q(\d+)", f).group(1)))
        return code, [(self.maildir / "new" / f).read_bytes() for f in new], out


def test_getmail_imap_keep_then_delete(imap_factory, tmp_path):
    # SimpleIMAPRetriever has no STARTTLS: cleartext LOGIN on loopback.
    peer = imap_factory(tern={"auth_cleartext_loopback": "yes"})
    sent = deliver_all(peer, BOB)
    gm = Getmail(tmp_path / "gm", peer, BOB)
    rc, got, out = gm.run(ssl=True, delete=False)
    assert rc == 0 and len(got) == 3, out
    for g, s in zip(got, sent):
        same_message(g, s, lf=True)          # getmail writes LF line ends
    # Again: getmail remembers the UIDs it has (oldmail), nothing new.
    rc, got, out = gm.run(ssl=True, delete=False)
    assert rc == 0 and got == [], out
    assert len(server_view(peer, BOB)) == 3
    # One more arrives: over IMAPS it alone is retrieved.
    fourth = peer.deliver(BOB, message("fourth", "4\r\n"))
    rc, got, out = gm.run(ssl=True, delete=False)
    assert rc == 0 and len(got) == 1, out
    same_message(got[0], fourth, lf=True)
    # Delete mode in the clear (getmail's memory is per server and port:
    # all four are new to it): all retrieved, then gone from the server.
    rc, got, out = gm.run(ssl=False, delete=True)
    assert rc == 0 and len(got) == 4, out
    for g, s in zip(got, sent + [fourth]):
        same_message(g, s, lf=True)
    assert server_view(peer, BOB) == {}


# ------------------------------------------------------------ imapflow --

IMAPFLOW_JS = r"""
const { ImapFlow } = require("imapflow");
const net = require("net");
const cfg = JSON.parse(process.argv[2]);
const out = {};
(async () => {
  const client = new ImapFlow({
    host: "127.0.0.1", port: cfg.port, secure: true, logger: false,
    tls: { rejectUnauthorized: false },
    auth: { user: cfg.user, pass: cfg.pass },
    socketTimeout: cfg.timeout, greetingTimeout: cfg.timeout,
  });
  await client.connect();
  out.enabled = Array.from(client.enabled || []);
  out.capabilities = Array.from(client.capabilities.keys());
  out.list = (await client.list()).map(b => [b.path, b.specialUse || null]);
  const box = await client.mailboxOpen("INBOX");
  out.exists = box.exists;
  out.uidValidity = String(box.uidValidity);
  out.messages = [];
  for await (const m of client.fetch("1:*", { uid: true, flags: true, envelope: true,
                                              source: true, size: true })) {
    out.messages.push({ uid: m.uid, flags: Array.from(m.flags), subject: m.envelope.subject,
                        from: m.envelope.from.map(a => a.address), size: m.size,
                        source: m.source.toString("base64") });
  }
  await client.messageFlagsAdd({ seq: "1" }, ["\\Flagged", "$Imapflow"]);
  out.moved = await client.messageMove({ seq: "2" }, "Archive");
  out.appended = await client.append("INBOX", Buffer.from(cfg.append, "base64"), ["\\Seen"]);
  // IDLE until a message arrives: the test delivers one once it reads
  // "idling" on stdout.
  const woken = new Promise(resolve => client.on("exists", d => resolve(d)));
  const idle = client.idle();
  process.stdout.write("idling\n");
  const t0 = Date.now();
  const ev = await Promise.race([woken, new Promise(r => setTimeout(() => r(null), cfg.timeout))]);
  out.idle = ev ? { count: ev.count, ms: Date.now() - t0 } : null;
  await client.logout();
  process.stdout.write("RESULT " + JSON.stringify(out,
    (k, v) => typeof v === "bigint" ? String(v) : v) + "\n",
    () => process.exit(0));   // the IDLE race's timer would keep node up for its length
})().catch(err => { process.stdout.write("ERR " + err.message + "\n"); process.exit(3); });
"""


def imapflow_dir():
    """Where `make test-deps` installs imapflow (TERN_NODE_DIR). Missing:
    the test is skipped, saying so (it is fetched from the npm registry,
    which not every machine reaches)."""
    if not (NODE_DIR / "node_modules" / "imapflow" / "package.json").is_file():
        pytest.skip("imapflow is not installed in %s (`make test-deps` installs it from the "
                    "npm registry)" % NODE_DIR)
    return NODE_DIR


def test_imapflow(imap_server, tmp_path):
    d = imapflow_dir()
    sent = deliver_all(imap_server, ALICE)
    extra = message("appended by imapflow", "append\r\n")
    cfg = {"port": imap_server.tls_port, "user": ALICE, "pass": IMAP_PASSWORDS[ALICE],
           "timeout": int(t(20) * 1000), "append": __import__("base64").b64encode(extra).decode()}
    script = tmp_path / "flow.js"
    script.write_text(IMAPFLOW_JS)
    p = subprocess.Popen([tool("node"), str(script), json.dumps(cfg)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=str(d),
                         env={"PATH": os.environ["PATH"], "NODE_PATH": str(d / "node_modules"),
                              "HOME": str(tmp_path)})
    try:
        line = p.stdout.readline()
        assert line == b"idling\n", line + p.stdout.read() + p.stderr.read()
        imap_server.deliver(ALICE, message("wakes imapflow"))
        outs, errs = p.communicate(timeout=t(60))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    m = re.search(rb"^RESULT (.*)$", outs, re.M)
    assert m, outs + errs
    res = json.loads(m.group(1))
    # imapflow turns on what the server offers of these.
    enabled = {e.upper() for e in res["enabled"]}
    assert "CONDSTORE" in enabled
    caps = {c.upper() for c in res["capabilities"]}
    if "IMAP4REV2" in caps:
        assert "IMAP4REV2" in enabled
    if "UTF8=ACCEPT" in caps:
        assert "UTF8=ACCEPT" in enabled
    assert {"INBOX", "Sent", "Archive"} <= {b[0] for b in res["list"]}
    assert ["Sent", "\\Sent"] in res["list"]
    assert res["exists"] == 3
    import base64
    for msg, body in zip(res["messages"], sent):
        src = base64.b64decode(msg["source"])
        same_message(src, body)
        assert msg["size"] == len(src)
    assert res["messages"][0]["subject"] == "dots"
    assert res["moved"]
    assert res["appended"]["uid"] > 0
    assert res["idle"] and res["idle"]["ms"] < t(1500), res["idle"]
    view = server_view(imap_server, ALICE)
    flags = [f for f, b in view.values() if b.endswith(sent[0])][0]
    assert {"\\Flagged", "$Imapflow"} <= flags
    assert any(b == extra and "\\Seen" in f for f, b in view.values())
    assert len(server_view(imap_server, ALICE, "Archive")) == 1


# ---------------------------------------------------------- neomutt/mutt --

def test_mutt_reads_and_deletes(imap_server, tmp_path):
    prog = shutil.which("neomutt") or shutil.which("mutt")
    if prog is None:
        pytest.skip("neither neomutt nor mutt is installed (not a DEPS client)")
    sent = deliver_all(imap_server, ALICE)
    rc_file = tmp_path / "muttrc"
    rc_file.write_text("\n".join([
        "set imap_user = %s" % ALICE, "set imap_pass = '%s'" % IMAP_PASSWORDS[ALICE],
        "set ssl_verify_host = no", "set ssl_verify_dates = no",
        "set certificate_file = %s" % (tmp_path / "certs"),
        "set folder = imaps://127.0.0.1:%d/" % imap_server.tls_port,
        "set spoolfile = +INBOX", "set delete = yes", "set confirmappend = no",
        "set imap_check_subscribed = no", "set mail_check = 0"]) + "\n")
    (tmp_path / "certs").write_bytes(Path(imap_server.cert_path).read_bytes())
    # Batch: delete every message, sync, quit.
    code, out = run([prog, "-n", "-F", str(rc_file), "-e",
                     'push "<delete-pattern>~A<enter><sync-mailbox><quit>"'], tmp_path)
    assert code == 0, out
    assert server_view(imap_server, ALICE) == {}
    assert len(sent) == 3
