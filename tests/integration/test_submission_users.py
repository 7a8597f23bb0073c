"""Managing submission users with ternctl (passwords from stdin, never on
the command line; yescrypt hashes) and reloading them with SIGHUP."""
import os
import re
import signal

from subenv import ALICE, PASSWORDS, plain_b64, sub, sub_factory  # noqa: F401

CAROL = "carol@example.test"


def try_login(tern, user, password, source):
    """AUTH PLAIN from its own source address (so failures elsewhere do
    not lengthen its delay); returns the reply code."""
    c = tern.raw_tls(timeout=20, source=source)
    try:
        code, lines = c.cmd("AUTH PLAIN " + plain_b64(user, password))
        assert code in (235, 535), lines
        return code
    finally:
        c.close()


def users_file(tern):
    return (tern.data_dir / "users").read_text()


def test_ternctl_user_round_trip_with_reload(sub):
    # add: the password comes from stdin (not a tty), one line.
    rc, out, err = sub.ternctl("user", "add", CAROL, input="carol first pw\n")
    assert rc == 0, err
    line, = [l for l in users_file(sub).splitlines() if l.startswith(CAROL + ":")]
    assert re.fullmatch(r"carol@example\.test:\{CRYPT\}\$y\$[./0-9A-Za-z$]+", line), line
    assert "carol first pw" not in users_file(sub)
    # The other lines are untouched.
    for u, pw in PASSWORDS.items():
        assert "%s:{PLAIN}%s" % (u, pw) in users_file(sub)
    rc, out, err = sub.ternctl("user", "list")
    assert rc == 0, err
    assert set(out.split()) == set(PASSWORDS) | {CAROL}, out

    # Not before a reload...
    assert try_login(sub, CAROL, "carol first pw", "127.0.0.11") == 535
    sub.reload()
    # ...but after it.
    assert try_login(sub, CAROL, "carol first pw", "127.0.0.12") == 235
    sub.wait_for_log(r"event=auth client=127\.0\.0\.12 user=carol@example\.test")

    # passwd: the new one works after the reload, the old one no longer.
    rc, out, err = sub.ternctl("user", "passwd", CAROL, input="carol second pw\n")
    assert rc == 0, err
    sub.reload()
    assert try_login(sub, CAROL, "carol second pw", "127.0.0.13") == 235
    assert try_login(sub, CAROL, "carol first pw", "127.0.0.14") == 535

    # del: gone from the file and, after the reload, from the server.
    rc, out, err = sub.ternctl("user", "del", CAROL)
    assert rc == 0, err
    assert CAROL not in users_file(sub)
    rc, out, err = sub.ternctl("user", "list")
    assert set(out.split()) == set(PASSWORDS), out
    assert try_login(sub, CAROL, "carol second pw", "127.0.0.15") == 235   # not reloaded yet
    sub.reload()
    assert try_login(sub, CAROL, "carol second pw", "127.0.0.16") == 535
    # Everyone else still logs in.
    assert try_login(sub, ALICE, PASSWORDS[ALICE], "127.0.0.17") == 235


def test_ternctl_user_errors(sub):
    before = users_file(sub)
    rc, out, err = sub.ternctl("user", "add", ALICE, input="x\n")
    assert rc != 0 and "exists" in err, (rc, err)
    rc, out, err = sub.ternctl("user", "passwd", CAROL, input="x\n")
    assert rc != 0 and "no user" in err, (rc, err)
    rc, out, err = sub.ternctl("user", "del", CAROL)
    assert rc != 0, (rc, err)
    rc, out, err = sub.ternctl("user", "add", CAROL, input="\n")
    assert rc != 0 and "empty" in err, (rc, err)
    rc, out, err = sub.ternctl("user", "add", CAROL, input="")
    assert rc != 0, (rc, err)
    # A password on the command line is refused: ps(1) would show it.
    rc, out, err = sub.ternctl("user", "add", CAROL, "secret-on-argv", input="x\n")
    assert rc != 0 and "usage" in err, (rc, err)
    rc, out, err = sub.ternctl("user", "add", "no-at-sign", input="x\n")
    assert rc != 0, (rc, err)
    assert users_file(sub) == before
    assert not (sub.data_dir / "users.tmp").exists()


def test_hashed_password_from_ternctl_works_at_start(sub_factory):
    """A user added while ternd is down is there when it starts, and the
    {CRYPT} yescrypt hash is checked by the server."""
    tern = sub_factory(start=False)
    rc, out, err = tern.ternctl("user", "add", CAROL, input="pw: with colon\n")
    assert rc == 0, err
    tern.start()
    assert try_login(tern, CAROL, "pw: with colon", "127.0.0.21") == 235
    assert try_login(tern, CAROL, "pw: with colon ", "127.0.0.22") == 535


def test_reload_with_broken_users_file_keeps_old_users(sub):
    (sub.data_dir / "users").write_text("this is : not a valid line\x00\n")
    before = sub.log_count(r"event=reload-failed")
    os.kill(sub.pid, signal.SIGHUP)
    sub.wait_for_log(r"event=reload-failed", count=before + 1)
    assert try_login(sub, ALICE, PASSWORDS[ALICE], "127.0.0.31") == 235
