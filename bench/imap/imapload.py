#!/usr/bin/python3
"""imapload.py — the IMAP load generator of bench/imap/imapbench.sh.

One process, asyncio, no parsing beyond what is needed: responses are
read as octets, a literal's length taken from its {n}, and a command is
done at its tagged line. Every mode prints one line of key=value on
stdout (ok, failed, counts, elapsed_s, rates, latencies, cpu_s = this
process's user+sys CPU seconds, so the bench can show the generator is
not the bottleneck); the first error goes to stderr.

  imapload.py fetchall -p PORT -u USER -w PASS [-n EXPECTED]
      login, SELECT INBOX, FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE),
      LOGOUT; checks EXPECTED FETCH responses.
  imapload.py search -p PORT -u USER -w PASS -q 'TEXT word' [-r REPEAT]
      login, SELECT, then SEARCH <q> REPEAT times (one at a time).
  imapload.py mixed -p PORT -U 'm%03d@example.test' -w PASS -c 100 -d SECONDS
      c clients (user U % k, k = 1..c), each repeating sessions for d
      seconds: LOGIN, SELECT INBOX, FETCH of the last 20 headers
      (BODY.PEEK[HEADER]), 5 random bodies (BODY.PEEK[]), STORE +FLAGS on
      3 (\\Seen, \\Flagged), APPEND of one message, \\Deleted + EXPUNGE of
      one, IDLE until 0.2 s pass, LOGOUT. messages_per_s counts headers
      and bodies fetched.
  imapload.py idle -p PORT -U 'i%04d@example.test' -w PASS -c 1000
      c clients log in one after the other, SELECT INBOX, IDLE; prints
      "ready n=N" once all are in, waits until standard input ends, then
      DONE + LOGOUT each.
"""
import argparse
import asyncio
import os
import random
import re
import resource
import sys
import time

LIT = re.compile(rb"\{(\d+)\+?\}\r\n")
FIRST_ERROR = []


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def err(msg):
    if not FIRST_ERROR:
        FIRST_ERROR.append(msg)
        print(msg, file=sys.stderr)


class Conn:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.n = 0
        self.buf = bytearray()
        self.exists = None       # the last "* n EXISTS"

    @classmethod
    async def open(cls, port, timeout):
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port,
                                                              limit=1 << 20), timeout)
        c = cls(r, w)
        line = await c.line()
        if not line.startswith(b"* OK"):
            raise IOError("greeting %r" % line[:100])
        return c

    async def fill(self):
        chunk = await self.r.read(1 << 18)
        if not chunk:
            raise IOError("connection closed")
        self.buf += chunk

    async def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            await self.fill()

    async def command(self, cmd, count=None):
        """Sends TAG cmd; returns (status line, number of untagged lines
        starting with count, if given). Literals are skipped by length."""
        self.n += 1
        tag = b"t%d" % self.n
        self.w.write(tag + b" " + cmd + b"\r\n")
        await self.w.drain()
        return await self.until(tag, count)

    async def until(self, tag, count=None):
        n = 0
        pos = 0
        while True:
            # One response: lines, each ending in a literal's {n} or not.
            i = self.buf.find(b"\r\n", pos)
            if i < 0:
                await self.fill()
                continue
            m = LIT.search(self.buf, max(pos, i - 24), i + 2)
            if m and m.end() == i + 2:
                k = int(m.group(1))
                while len(self.buf) < i + 2 + k:
                    await self.fill()
                pos = i + 2 + k
                continue
            resp = bytes(self.buf[:i])
            del self.buf[:i + 2]
            pos = 0
            if resp.startswith(tag + b" "):
                if not resp[len(tag) + 1:].startswith(b"OK"):
                    raise IOError("%s: %r" % (tag.decode(), resp[:200]))
                return resp, n
            if count is not None and count in resp[:64]:
                n += 1
            if resp.endswith(b" EXISTS") and resp.startswith(b"* "):
                self.exists = int(resp[2:-7])

    async def idle(self):
        """Sends IDLE and waits for its "+"; returns the tag (for DONE)."""
        self.n += 1
        tag = b"t%d" % self.n
        self.w.write(tag + b" IDLE\r\n")
        await self.w.drain()
        line = await self.line()
        if not line.startswith(b"+"):
            raise IOError("IDLE: %r" % line[:100])
        return tag

    async def login(self, user, password):
        await self.command(b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))

    def close(self):
        try:
            self.w.close()
        except Exception:
            pass


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def report(**kv):
    print(" ".join("%s=%s" % (k, ("%.3f" % v) if isinstance(v, float) else v)
                   for k, v in kv.items()), flush=True)


# ------------------------------------------------------------- modes ----

async def fetchall(a):
    t0 = time.monotonic()
    c0 = cpu_s()
    c = await Conn.open(a.port, a.timeout)
    await c.login(a.user, a.password)
    t1 = time.monotonic()
    await c.command(b"SELECT INBOX")
    t2 = time.monotonic()
    _, n = await c.command(b"FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)", count=b" FETCH ")
    t3 = time.monotonic()
    await c.command(b"LOGOUT")
    c.close()
    ok = a.expect is None or n == a.expect
    if not ok:
        err("fetchall: %d FETCH responses, expected %d" % (n, a.expect))
    report(ok=int(ok), messages=n, elapsed_s=t3 - t0, login_ms=1000 * (t1 - t0),
           select_ms=1000 * (t2 - t1), fetch_ms=1000 * (t3 - t2),
           msgs_per_s=n / max(t3 - t0, 1e-9), cpu_s=cpu_s() - c0)
    return 0 if ok else 1


async def search(a):
    c0 = cpu_s()
    c = await Conn.open(a.port, a.timeout)
    await c.login(a.user, a.password)
    await c.command(b"SELECT INBOX")
    lat = []
    hits = None
    t0 = time.monotonic()
    for _ in range(a.repeat):
        s = time.monotonic()
        await c.command(b"SEARCH " + a.query.encode())
        lat.append(time.monotonic() - s)
    el = time.monotonic() - t0
    # The hit count, once, for the record.
    c.n += 1
    tag = b"t%d" % c.n
    c.w.write(tag + b" SEARCH RETURN (COUNT) " + a.query.encode() + b"\r\n")
    await c.w.drain()
    while True:
        line = await c.line()
        m = re.search(rb"COUNT (\d+)", line)
        if m:
            hits = int(m.group(1))
        if line.startswith(tag + b" "):
            break
    await c.command(b"LOGOUT")
    c.close()
    report(ok=1, searches=a.repeat, hits=hits, elapsed_s=el, p50_ms=1000 * pct(lat, 50),
           max_ms=1000 * max(lat), searches_per_s=a.repeat / el, cpu_s=cpu_s() - c0)
    return 0


APPEND_MSG = (b"From: Load <load@example.net>\r\nTo: <user@example.test>\r\n"
              b"Subject: appended by imapload\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
              b"Message-ID: <%d.imapload@example.net>\r\n\r\n" + b"appended body line\r\n" * 40)


async def mixed_client(a, k, stats, deadline):
    user = a.user_fmt % k
    rnd = random.Random(k)
    while time.monotonic() < deadline:
        s0 = time.monotonic()
        c = None
        try:
            c = await Conn.open(a.port, a.timeout)
            await c.login(user, a.password)
            await c.command(b"SELECT INBOX")
            exists = c.exists
            if not exists:
                raise IOError("SELECT: no EXISTS")
            lo = max(1, exists - 19)
            _, h = await c.command(b"FETCH %d:%d (UID FLAGS BODY.PEEK[HEADER])" % (lo, exists),
                                   count=b" FETCH ")
            nb = 0
            for _ in range(5):
                i = rnd.randrange(1, exists + 1)
                _, b = await c.command(b"FETCH %d (BODY.PEEK[])" % i, count=b" FETCH ")
                nb += b
            for _ in range(3):
                i = rnd.randrange(1, exists + 1)
                await c.command(b"STORE %d +FLAGS.SILENT (\\Seen \\Flagged)" % i)
            msg = APPEND_MSG % rnd.randrange(1 << 40)
            c.n += 1
            tag = b"t%d" % c.n
            c.w.write(tag + b" APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
            await c.w.drain()
            await c.until(tag)
            i = rnd.randrange(1, exists + 1)
            await c.command(b"STORE %d +FLAGS.SILENT (\\Deleted)" % i)
            await c.command(b"EXPUNGE")
            tag = await c.idle()
            await asyncio.sleep(0.2)
            c.w.write(b"DONE\r\n")
            await c.w.drain()
            await c.until(tag)
            await c.command(b"LOGOUT")
            stats["sessions"] += 1
            stats["headers"] += h
            stats["bodies"] += nb
            stats["lat"].append(time.monotonic() - s0)
        except (IOError, OSError, asyncio.TimeoutError, ValueError) as e:
            stats["failed"] += 1
            err("client %d (%s): %s" % (k, user, e))
            await asyncio.sleep(0.5)
        finally:
            if c:
                c.close()


async def mixed(a):
    stats = {"sessions": 0, "headers": 0, "bodies": 0, "failed": 0, "lat": []}
    c0 = cpu_s()
    t0 = time.monotonic()
    deadline = t0 + a.duration
    await asyncio.gather(*(mixed_client(a, k, stats, deadline)
                           for k in range(a.first, a.first + a.clients)))
    el = time.monotonic() - t0
    msgs = stats["headers"] + stats["bodies"]
    report(ok=stats["sessions"], failed=stats["failed"], clients=a.clients, sessions=stats["sessions"],
           headers=stats["headers"], bodies=stats["bodies"], messages=msgs, elapsed_s=el,
           msgs_per_s=msgs / el, sessions_per_s=stats["sessions"] / el,
           session_p50_ms=1000 * pct(stats["lat"], 50), session_p99_ms=1000 * pct(stats["lat"], 99),
           cpu_s=cpu_s() - c0)
    return 0 if stats["failed"] == 0 else 1


async def idle(a):
    conns = []
    lat = []
    tags = []
    failed = 0
    for k in range(a.first, a.first + a.clients):
        s = time.monotonic()
        try:
            c = await Conn.open(a.port, a.timeout)
            await c.login(a.user_fmt % k, a.password)
            await c.command(b"SELECT INBOX")
            tag = await c.idle()
            conns.append(c)
            tags.append(tag)
            lat.append(time.monotonic() - s)
        except (IOError, OSError, asyncio.TimeoutError) as e:
            failed += 1
            err("idle client %d: %s" % (k, e))
    print("ready n=%d failed=%d login_p50_ms=%.2f" % (len(conns), failed, 1000 * pct(lat, 50)),
          flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    ok = 0
    for c, tag in zip(conns, tags):
        try:
            c.w.write(b"DONE\r\n")
            await c.w.drain()
            await c.until(tag)
            await c.command(b"LOGOUT")
            ok += 1
        except (IOError, OSError) as e:
            err("idle DONE: %s" % e)
        c.close()
    report(ok=ok, failed=failed + len(conns) - ok, login_p50_ms=1000 * pct(lat, 50))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["fetchall", "search", "mixed", "idle"])
    ap.add_argument("-p", "--port", type=int, required=True)
    ap.add_argument("-u", "--user")
    ap.add_argument("-U", "--user-fmt")
    ap.add_argument("-w", "--password", required=True)
    ap.add_argument("-n", "--expect", type=int)
    ap.add_argument("-q", "--query", default="TEXT benchmark")
    ap.add_argument("-r", "--repeat", type=int, default=5)
    ap.add_argument("-c", "--clients", type=int, default=100)
    ap.add_argument("-f", "--first", type=int, default=1)
    ap.add_argument("-d", "--duration", type=float, default=20)
    ap.add_argument("-T", "--timeout", type=float, default=120)
    a = ap.parse_args()
    os.environ.setdefault("PYTHONASYNCIODEBUG", "0")
    return asyncio.run({"fetchall": fetchall, "search": search, "mixed": mixed,
                        "idle": idle}[a.mode](a))


if __name__ == "__main__":
    sys.exit(main())
