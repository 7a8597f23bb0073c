"""tern-sendmail and the pickup (docs/sendmail.md): scripts' ways of calling
sendmail(1), run as an unprivileged user (nobody), the messages checked in
the recipients' Maildirs.

    cron:            sendmail -t            (recipients from To/Cc/Bcc, lone dot ends)
    PHP mail():      sendmail -t -i
    git send-email:  sendmail -i -f FROM TO...
    Symfony Mailer:  sendmail -bs           (SMTP on stdin and stdout)
"""
import json
import os
import pwd
import quopri
import smtplib
import socket
import subprocess

import pytest

from tern_harness import BUILD, HOSTNAME, free_port, t

SENDMAIL = BUILD / "tern-sendmail"
NOBODY = pwd.getpwnam("nobody").pw_uid


def sendmail(tern, args, data, user="nobody", check=True):
    """Runs tern-sendmail as user (setpriv; root stays root) with data on stdin."""
    cmd = [str(SENDMAIL), "-C", str(tern.config_path)] + args
    if os.geteuid() == 0 and user != "root":
        cmd = ["setpriv", "--reuid=%s" % user, "--regid=nogroup", "--clear-groups"] + cmd
    p = subprocess.run(cmd, input=data, capture_output=True, timeout=t(10))
    if check:
        assert p.returncode == 0, (p.returncode, p.stderr)
    return p


def maildrop_files(tern):
    return sorted(os.listdir(tern.data_dir / "maildrop"))


def header_of(msg):
    return msg.split(b"\r\n\r\n", 1)[0]


def field(msg, name):
    """The values of a header field (unfolded), first first."""
    out = []
    for line in header_of(msg).replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ").split(b"\r\n"):
        if line.lower().startswith(name.lower() + b":"):
            out.append(line.split(b":", 1)[1].strip())
    return out


pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs tern-sendmail as nobody (needs root)")


def test_cron_style_t(tern):
    """-t: To, Cc and Bcc are the recipients, Bcc is removed, a lone dot
    ends the input; the pickup adds From, Date, Message-ID and a Received
    field with the caller's uid."""
    msg = (b"To: alice@example.test\n"
           b"Cc: Bob <bob@example.test>\n"
           b"Bcc: postmaster@example.test\n"
           b"Subject: Cron <nobody@host> run-parts\n"
           b"\n"
           b"output of the job\n"
           b".\n"
           b"not part of the message\n")
    sendmail(tern, ["-t", "-FCronDaemon", "-oem", "-odi"], msg)
    for user in ("alice", "bob", "postmaster"):
        m = tern.wait_for_messages(user, 1)[0]
        assert b"\r\noutput of the job\r\n" in m and b"not part" not in m
        assert b"Bcc" not in header_of(m)
        assert field(m, b"Received")[0].startswith(b"(from nobody, uid %d)" % NOBODY)
        assert field(m, b"From") == [b'"CronDaemon" <nobody@%s>' % HOSTNAME.encode()]
        assert field(m, b"Return-Path") == [b"<nobody@%s>" % HOSTNAME.encode()]
        assert len(field(m, b"Date")) == 1 and len(field(m, b"Message-ID")) == 1
    tern.wait_for_log(r"event=pickup file=\S+ uid=%d user=nobody from=<nobody@%s> size=\d+ nrcpt=3"
                      % (NOBODY, HOSTNAME))
    assert maildrop_files(tern) == []


def test_php_t_i(tern):
    """PHP's mail(): -t -i, a line holding one dot is text, and the
    message's own Date and Message-ID are kept."""
    msg = (b"To: alice@example.test\r\n"
           b"From: Web <www@example.test>\r\n"
           b"Date: Mon, 1 Dec 2026 10:00:00 +0000\r\n"
           b"Message-ID: <php.1@example.test>\r\n"
           b"Subject: form\r\n"
           b"\r\n"
           b"line\r\n.\r\n..\r\nlast")
    sendmail(tern, ["-t", "-i"], msg)
    m = tern.wait_for_messages("alice", 1)[0]
    assert m.endswith(b"\r\n\r\nline\r\n.\r\n..\r\nlast\r\n")
    assert field(m, b"Message-ID") == [b"<php.1@example.test>"]
    assert field(m, b"From") == [b"Web <www@example.test>"]
    assert len(field(m, b"Date")) == 1


def test_git_send_email(tern):
    """git send-email: sendmail -i -f FROM TO TO with the message on stdin;
    the envelope sender is -f's, the body arrives byte for byte."""
    body = b"".join(b"line %d of the patch\n" % i for i in range(200))
    msg = (b"From: Alice <alice@example.test>\nTo: bob@example.test\n"
           b"Subject: [PATCH] x\n\n" + body)
    sendmail(tern, ["-i", "-f", "alice@example.test", "bob@example.test", "postmaster@example.test"],
             msg)
    for user in ("bob", "postmaster"):
        m = tern.wait_for_messages(user, 1)[0]
        assert field(m, b"Return-Path") == [b"<alice@example.test>"]
        assert m.split(b"\r\n\r\n", 1)[1] == body.replace(b"\n", b"\r\n")
    # Usage errors are the caller's at once, with sysexits codes.
    assert sendmail(tern, [], b"x\n", check=False).returncode == 64        # EX_USAGE
    assert sendmail(tern, ["-bd"], b"", check=False).returncode == 64


def test_git_send_email_itself(tern, tmp_path):
    """git send-email (Debian's git-email) with tern-sendmail as its
    --smtp-server: a patch made by git format-patch reaches the To and Cc
    recipients whole, the envelope sender is --envelope-sender's."""
    home = tmp_path / "home"
    repo = home / "repo"
    repo.mkdir(parents=True)
    env = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    wrapper = tmp_path / "sendmail-as-nobody"
    wrapper.write_text("#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups "
                       "%s -C %s \"$@\"\n" % (SENDMAIL, tern.config_path))
    wrapper.chmod(0o755)

    def git(*args):
        p = subprocess.run(["git", "-C", str(repo)] + list(args), env=env,
                           capture_output=True, timeout=t(30))
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p.stdout

    git("init", "-q")
    git("config", "user.name", "Alice")
    git("config", "user.email", "alice@example.test")
    (repo / "hello.c").write_text("".join("int line%d;\n" % i for i in range(100)))
    git("add", "hello.c")
    git("commit", "-q", "-m", "hello: a hundred lines\n\n.a body line that starts with a dot")
    git("format-patch", "-q", "-1", "-o", str(tmp_path / "out"))
    patch, = (tmp_path / "out").iterdir()
    out = git("send-email", "--smtp-server=%s" % wrapper, "--to=bob@example.test",
              "--cc=postmaster@example.test", "--from=Alice <alice@example.test>",
              "--envelope-sender=alice@example.test", "--confirm=never", "--suppress-cc=all",
              "--no-validate", str(patch))
    assert b"Result: OK" in out, out
    for user in ("bob", "postmaster"):
        m = tern.wait_for_messages(user, 1)[0]
        assert field(m, b"Return-Path") == [b"<alice@example.test>"]
        assert field(m, b"Subject") == [b"[PATCH] hello: a hundred lines"]
        body = m.split(b"\r\n\r\n", 1)[1]
        assert body.startswith(b".a body line that starts with a dot\r\n---\r\n")
        assert b"\r\n+int line99;\r\n" in body
    tern.wait_for_log(r"event=pickup file=\S+ uid=%d user=nobody from=<alice@example.test> "
                      r"size=\d+ nrcpt=2" % NOBODY)


def test_written_while_stopped(tern_factory):
    """Mail written while ternd is down waits in the maildrop and is
    delivered once ternd starts."""
    # bob@HOSTNAME is routed to a closed port, so it stays queued
    # (deferred) whatever the machine's DNS says of the name.
    tern = tern_factory(route="%s 127.0.0.1:%d" % (HOSTNAME, free_port()),
                        retry_initial="1h", retry_max="2h")
    tern.stop()
    sendmail(tern, ["alice@example.test"], b"Subject: while down\n\nhello\n")
    # echo text | sendmail bob: no header at all; the added fields get
    # the empty line that ends them.
    sendmail(tern, ["bob"], b"just text\n", user="root")
    assert len(maildrop_files(tern)) == 2
    tern.start()
    m = tern.wait_for_messages("alice", 1)[0]
    assert b"Subject: while down\r\n" in m and m.endswith(b"\r\n\r\nhello\r\n")
    tern.wait_for_log(r"event=pickup ", count=2)
    # Unqualified: bob@hostname, not a domain of ours here, so it waits in
    # the queue for its route: read the queued copy.
    tern.wait_for_log(r"status=deferred")
    queued = [(tern.queue_dir / "msg" / f).read_bytes() for f in tern.queue_files("msg")]
    queued = [q for q in queued if b"just text" in q]
    assert len(queued) == 1
    q = queued[0]
    assert b"\r\nFrom: <root@%s>\r\n" % HOSTNAME.encode() in q
    assert q.split(b"\r\n\r\n", 1)[1].startswith(b"just text\r\n")
    assert b"(from root, uid 0)" in q
    assert maildrop_files(tern) == []


def test_forged_identity(tern):
    """Nothing the caller writes changes who the pickup says sent it: a
    forged Received field, From and -f leave the uid the file's owner's.
    A file written into the maildrop by hand that is no maildrop file is
    refused and removed."""
    msg = (b"Received: (from root, uid 0)\n\tby %s (tern) with LOCAL id 0000000000000000;\n"
           b"\tMon, 1 Dec 2026 10:00:00 +0000\n"
           b"From: root@example.test\n"
           b"Subject: forged\n\nhi\n" % HOSTNAME.encode())
    sendmail(tern, ["-f", "root@example.test", "alice@example.test"], msg)
    m = tern.wait_for_messages("alice", 1)[0]
    rcvd = field(m, b"Received")
    assert rcvd[0].startswith(b"(from nobody, uid %d)" % NOBODY), rcvd
    assert rcvd[1].startswith(b"(from root, uid 0)")      # the client's own, below ours
    tern.wait_for_log(r"event=pickup file=\S+ uid=%d user=nobody from=<root@example.test>" % NOBODY)
    # By hand, as nobody: garbage, then a well-formed file that claims root.
    drop = tern.data_dir / "maildrop"
    forged = b"uid: 0\r\n\r\nhi\r\n"
    script = ("import os\n"
              "for name, data in ((%r, b'garbage\\n'), (%r, %r)):\n"
              "    fd = os.open(%r + '/.w', os.O_WRONLY | os.O_CREAT, 0o644)\n"
              "    os.write(fd, data); os.close(fd)\n"
              "    os.rename(%r + '/.w', %r + '/' + name)\n"
              % ("bad", "claims-root",
                 b"tern-maildrop 1\nsender root@example.test\nrcpt alice@example.test\n"
                 b"size %d\ndata\n%s" % (len(forged), forged),
                 str(drop), str(drop), str(drop)))
    subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                    "/usr/bin/python3", "-c", script], check=True, timeout=t(10))
    tern.wait_for_log(r"event=pickup-refused file=bad uid=%d reason=" % NOBODY)
    tern.wait_for_log(r"event=pickup file=claims-root uid=%d user=nobody" % NOBODY)
    m2 = tern.wait_for_messages("alice", 2)
    assert any(field(x, b"Received")[0].startswith(b"(from nobody, uid %d)" % NOBODY)
               and b"uid: 0" in x for x in m2)
    tern.settle()
    assert maildrop_files(tern) == []


# ------------------------------------------------------------------ -bs --

SYMFONY_PHP = r"""<?php
require_once '/usr/share/php/Symfony/Component/Mailer/autoload.php';
use Symfony\Component\Mailer\Transport\SendmailTransport;
use Symfony\Component\Mime\Email;
use Symfony\Component\Mime\Address;

$cfg = json_decode($argv[1], true);
$transport = new SendmailTransport($cfg['command']);
$out = [];
foreach ($cfg['messages'] as $m) {
    $e = (new Email())->from($m['from'])->to(...$m['to'])->subject($m['subject'])
        ->text($m['text']);
    if (!empty($m['bcc']))
        $e->bcc(...$m['bcc']);
    $sent = $transport->send($e);
    $out[] = ['id' => $sent->getMessageId(), 'debug' => $sent->getDebug()];
}
$transport = null;   // QUIT
echo json_encode($out), "\n";
"""


def test_symfony_mailer_bs(tern, tmp_path):
    """Symfony Mailer's SendmailTransport (its default is sendmail -bs):
    two messages in one SMTP session on the program's stdin and stdout,
    the second with Bcc, leading dots and 8-bit text; each is a maildrop
    file, picked up as from the calling user."""
    script = tmp_path / "send.php"
    script.write_text(SYMFONY_PHP)
    command = "setpriv --reuid=nobody --regid=nogroup --clear-groups %s -C %s -bs" % (
        SENDMAIL, tern.config_path)
    body2 = ".starts with a dot\n..two dots\nGrüße aus Köln\n.\nend\n"
    cfg = {"command": command, "messages": [
        {"from": "web@example.test", "to": ["alice@example.test"], "subject": "first",
         "text": "Hello from PHP.\n"},
        {"from": "web@example.test", "to": ["bob@example.test"],
         "bcc": ["postmaster@example.test"], "subject": "second", "text": body2},
    ]}
    p = subprocess.run(["php", str(script), json.dumps(cfg)], capture_output=True,
                       timeout=t(30))
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert len(out) == 2
    for o in out:
        assert "250 2.0.0 Ok: queued as" in o["debug"], o["debug"]
    m = tern.wait_for_messages("alice", 1)[0]
    assert field(m, b"Subject") == [b"first"] and b"Hello from PHP." in m
    assert field(m, b"Return-Path") == [b"<web@example.test>"]
    assert field(m, b"Received")[0].startswith(b"(from nobody, uid %d)" % NOBODY)
    for user in ("bob", "postmaster"):
        m = tern.wait_for_messages(user, 1)[0]
        assert field(m, b"Subject") == [b"second"]
        assert b"Bcc" not in header_of(m)
        text = m.split(b"\r\n\r\n", 1)[1]
        # Symfony sends the 8-bit text quoted-printable: the dots come
        # back as written, and the lone "." did not end the message.
        assert quopri.decodestring(text).rstrip(b"\r\n") == \
            body2.replace("\n", "\r\n").encode().rstrip(b"\r\n")
    tern.wait_for_log(r"event=pickup file=\S+ uid=%d user=nobody from=<web@example.test> "
                      r"size=\d+ nrcpt=2" % NOBODY)
    tern.settle()
    assert maildrop_files(tern) == []


class PipeSMTP(smtplib.SMTP):
    """smtplib over one end of a socketpair whose other end is the
    program's stdin and stdout."""

    def __init__(self, sock, **kw):
        self._pipe_sock = sock
        super().__init__(**kw)

    def _get_socket(self, host, port, timeout):
        return self._pipe_sock


def start_bs(tern, *args):
    mine, theirs = socket.socketpair()
    cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
           str(SENDMAIL), "-C", str(tern.config_path), "-bs"] + list(args)
    proc = subprocess.Popen(cmd, stdin=theirs, stdout=theirs, stderr=subprocess.PIPE)
    theirs.close()
    mine.settimeout(t(10))
    s = PipeSMTP(mine, local_hostname="client.example.test")
    s.connect("pipe", 1)
    return s, proc


def test_bs_replies_with_smtplib(tern):
    """sendmail -bs driven by smtplib: what is offered, what is refused
    and why, messages in one session, then QUIT and exit status 0."""
    s, proc = start_bs(tern)
    code, _ = s.ehlo()
    assert code == 250
    assert s.has_extn("pipelining") and s.has_extn("8bitmime") and s.has_extn("size")
    assert not s.has_extn("dsn") and not s.has_extn("starttls") and not s.has_extn("auth")
    assert int(s.esmtp_features["size"]) > 0
    # Refused, each with its reason; the session goes on.
    assert s.rcpt("alice@example.test")[0] == 503                   # no MAIL yet
    assert s.docmd("MAIL FROM:<web@example.test> SIZE=999999999999")[0] == 552
    assert s.docmd("MAIL FROM:<web@example.test> RET=FULL")[0] == 555   # DSN not offered
    assert s.docmd("MAIL FROM:<bad address>")[0] == 501
    assert s.docmd("STARTTLS")[0] == 502
    assert s.docmd("FROB")[0] == 500
    assert s.docmd("DATA")[0] == 503
    assert s.mail("web@example.test")[0] == 250
    assert s.docmd("MAIL FROM:<x@example.test>")[0] == 503          # nested
    assert s.docmd("RCPT TO:<alice@example.test> NOTIFY=NEVER")[0] == 555
    assert s.docmd("RCPT TO:<" + "a" * 600 + "@example.test>")[0] == 500  # line too long
    assert s.rcpt("alice@example.test")[0] == 250
    assert s.rcpt("<postmaster>")[0] == 250
    code, resp = s.data(b"Subject: one\r\n\r\n.leading\r\nbody\r\n")
    assert code == 250 and resp.startswith(b"2.0.0 Ok: queued as "), resp
    # Two more in the same session, the second after RSET.
    assert s.sendmail("<>", ["bob@example.test"], b"Subject: two\r\n\r\nnull sender\r\n") == {}
    s.rset()
    assert s.noop()[0] == 250
    assert s.sendmail("web@example.test", ["bob@example.test"],
                      b"Subject: three\r\n\r\n" + (b"x" * 900 + b"\r\n") * 3) == {}
    assert s.quit()[0] == 221
    assert proc.wait(timeout=t(10)) == 0, proc.stderr.read()
    a = tern.wait_for_messages("alice", 1)[0]
    assert a.endswith(b"\r\n\r\n.leading\r\nbody\r\n")
    assert field(tern.wait_for_messages("postmaster", 1)[0], b"Subject") == [b"one"]
    bob = tern.wait_for_messages("bob", 2)
    assert sorted(field(m, b"Subject")[0] for m in bob) == [b"three", b"two"]
    two = [m for m in bob if field(m, b"Subject") == [b"two"]][0]
    assert field(two, b"Return-Path") == [b"<>"]


def test_bs_lines_too_long_and_cut_off(tern):
    """A message line longer than max_line_length is refused (500 5.5.2)
    and the session goes on; input that ends inside DATA sends nothing
    and exits 65 (EX_DATAERR)."""
    s, proc = start_bs(tern)
    s.ehlo()
    s.mail("web@example.test")
    s.rcpt("alice@example.test")
    code, resp = s.data(b"Subject: long\r\n\r\n" + b"y" * 5000 + b"\r\n")
    assert code == 500 and b"longer than" in resp
    assert s.sendmail("web@example.test", ["alice@example.test"], b"Subject: ok\r\n\r\nok\r\n") == {}
    s.mail("web@example.test")
    s.rcpt("alice@example.test")
    assert s.docmd("DATA")[0] == 354
    s.send(b"Subject: cut\r\n\r\nhalf a mess")
    s.sock.shutdown(socket.SHUT_WR)
    assert proc.wait(timeout=t(10)) == 65
    assert b"ended inside a message" in proc.stderr.read()
    s.close()
    msgs = tern.wait_for_messages("alice", 1)
    tern.settle()
    assert [field(m, b"Subject") for m in tern.wait_for_messages("alice", 1)] == [[b"ok"]]
    assert len(msgs) == 1 and maildrop_files(tern) == []
