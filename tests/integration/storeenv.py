"""The mailbox store without ternd: tern-storetool (tools/storetool.c)
run as the user that owns the mail (`tern` under root, as ternd and the
test Dovecot run), on Maildirs the tests make by hand.

- storetool(*args) -> (the JSON it printed, its stderr); check=False to
  get (returncode, stdout, stderr) instead;
- make_folder(path), put(folder, sub, name, body): a Maildir and its
  files, owned by that user;
- backdate(folder, seconds): new/, cur/ and dovecot-uidlist as if nothing
  had touched them for that long (the store trusts what it saw of a
  directory only a second after its mtime).
"""
import json
import os
import subprocess
import time

from dovecotenv import run_as_user
from tern_harness import BUILD, reachable_by_tern, t

STORETOOL = BUILD / "tern-storetool"


def _as_owner():
    u = run_as_user()

    def drop():
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(u.pw_gid)
            os.setuid(u.pw_uid)
    return drop


def storetool(*args, check=True, timeout=60):
    p = subprocess.run([str(STORETOOL)] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=t(timeout), preexec_fn=_as_owner())
    out, err = p.stdout.decode(), p.stderr.decode()
    if not check:
        return p.returncode, out, err
    assert p.returncode == 0, "tern-storetool %s: exit %d\n%s%s" % (
        " ".join(map(str, args)), p.returncode, out, err)
    return json.loads(out), err


def own(path):
    if os.geteuid() == 0:
        u = run_as_user()
        os.chown(path, u.pw_uid, u.pw_gid)


def make_folder(path):
    path.mkdir(parents=True, exist_ok=True)
    reachable_by_tern(path)
    for sub in ("", "new", "cur", "tmp"):
        d = path / sub if sub else path
        d.mkdir(parents=True, exist_ok=True)
        own(d)
    return path


def put(folder, sub, name, body):
    p = folder / sub / name
    p.write_bytes(body if isinstance(body, bytes) else body.encode())
    own(p)
    return p


def backdate(folder, seconds=10):
    then = time.time() - seconds
    for name in ("new", "cur", "dovecot-uidlist"):
        p = folder / name
        if p.exists():
            os.utime(p, (then, then))
