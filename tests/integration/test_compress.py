"""IMAP COMPRESS=DEFLATE (RFC 4978) with a raw socket (imapenv's ImapRaw)
and Python's zlib (raw deflate, wbits=-15, a sync flush after each
command): LOGIN, COMPRESS DEFLATE, then NOOP, SELECT INBOX, FETCH 1 BODY[]
of a 1 MB message and LOGOUT compressed, in the clear, over imaps and
after STARTTLS; a command pipelined behind COMPRESS; a line that inflates
to 64 MiB (refused, ternd's memory unmoved, the session goes on); corrupt
input (the connection ends). COMPRESS twice and before a login are in
test_imap_session.py.

Run against Dovecot 2.3 and its imap_zlib with TERN_IMAP_PEER=dovecot
(imapenv.py), which is how the tests themselves were checked; the checks
of ternd's log and memory are tern's alone.
"""
import os
import re
import sys
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from imapenv import ALICE, dovecot_differs, exists_of, imap_factory  # noqa: E402,F401
from tern_harness import SANITIZED, t  # noqa: E402


def big_message(size=1 << 20):
    """A text message of about size octets (compressible as mail is)."""
    head = ("From: Bob <bob@example.net>\r\nTo: %s\r\nSubject: big\r\n"
            "Date: Tue, 1 Dec 2026 07:00:00 +0000\r\nMessage-ID: <big@example.net>\r\n\r\n"
            % ALICE).encode()
    lines, n, i = [head], len(head), 0
    while n < size:
        line = ("%06d The quick brown fox %d jumps over the lazy dog, %x times.\r\n"
                % (i, i * 7919 % 10007, i * 31)).encode()
        lines.append(line)
        n += len(line)
        i += 1
    return b"".join(lines)


class Counted:
    """A socket that counts the octets it reads (after COMPRESS: the
    compressed ones)."""

    def __init__(self, sock):
        self.sock = sock
        self.got = 0

    def recv(self, n):
        data = self.sock.recv(n)
        self.got += len(data)
        return data

    def __getattr__(self, name):
        return getattr(self.sock, name)


def compress(c, behind=b""):
    """COMPRESS DEFLATE on an ImapRaw; behind: a command sent compressed
    in the same write (RFC 4978 §3 has the client wait for the OK, but a
    server must not lose it). Returns the counting socket."""
    tag = c.tag()
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    wire = tag.encode() + b" COMPRESS DEFLATE\r\n"
    if behind:
        wire += deflate.compress(behind) + deflate.flush(zlib.Z_SYNC_FLUSH)
    c.sock.sendall(wire)
    r = c.until_tagged(tag)
    assert r.status == "OK", r
    # The OK came as it is; whatever followed it in the same read did not.
    c.inflate = zlib.decompressobj(-15)
    c.buf = c.inflate.decompress(c.buf)
    c.deflate = deflate
    c.sock = Counted(c.sock)
    return c.sock


def tern_log_compress(peer):
    """tern's event=compress line at the close, as a dict of its octets."""
    line = peer.tern.wait_for_log(r"event=compress client=\S+ in=\d+ .*")[-1]
    return {k: int(v) for k, v in re.findall(r"\b(in|in_plain|out_plain|out)=(\d+)", line)}


def session(peer, tls):
    sent = peer.deliver(ALICE, big_message())
    c = peer.raw(tls=tls, user=ALICE, timeout=20)
    counted = compress(c)
    c.ok("NOOP")
    assert exists_of(c.ok("SELECT INBOX")) == 1
    body = c.ok("FETCH 1 BODY[]", timeout=t(30)).fetches()[1]["BODY[]"]
    assert body.endswith(sent) and len(body) >= 1 << 20
    # It did compress: the 1 MB came in well under a third of it.
    assert counted.got < len(body) / 3, (counted.got, len(body))
    c.logout()
    if peer.peer == "tern":
        got = tern_log_compress(peer)
        assert got["out_plain"] > len(body) and got["out"] <= counted.got, got
        assert got["in"] > 0 and got["in_plain"] > 0, got


def test_compress_cleartext(imap_factory):
    session(imap_factory(tern={"auth_cleartext_loopback": "yes"}), tls=None)


def test_compress_imaps(imap_factory):
    session(imap_factory(), tls="implicit")


def test_compress_after_starttls(imap_factory):
    session(imap_factory(), tls="starttls")


@dovecot_differs("a command sent behind COMPRESS waits until more input comes")
def test_command_behind_compress(imap_factory):
    """NOOP sent compressed in the same write as COMPRESS is answered:
    it is already below the filter when compression starts."""
    c = imap_factory().raw(user=ALICE, timeout=5)
    compress(c, behind=b"b1 NOOP\r\n")
    assert c.until_tagged("b1").status == "OK"
    c.logout()


def memory_kib(peer):
    """ternd's peak resident memory so far (a peak freed again would not
    show in VmRSS)."""
    status = open("/proc/%d/status" % peer.tern.pid).read()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))


def test_line_bomb(imap_factory):
    """A line of 64 MiB in about 64 KiB: refused as too long without
    being held in memory, and the session goes on."""
    peer = imap_factory()
    c = peer.raw(user=ALICE)
    compress(c)
    before = memory_kib(peer) if peer.peer == "tern" else None
    tag = c.tag()
    chunk = b"x" * (1 << 20)
    wire = [c.deflate.compress(tag.encode() + b" EXAMINE ")]
    wire += [c.deflate.compress(chunk) for _ in range(64)]
    wire.append(c.deflate.compress(b"\r\n") + c.deflate.flush(zlib.Z_SYNC_FLUSH))
    bomb = b"".join(wire)
    assert len(bomb) < 128 * 1024
    c.sock.sendall(bomb)
    r = c.until_tagged(tag)
    assert r.status == "BAD", r
    if before is not None and not SANITIZED:
        # ternd reads 4 KiB at a time (4 MiB once inflated): held to its
        # input watermark (256 KiB) the peak barely moves. (ASan keeps
        # freed memory in quarantine: no measure there.)
        after = memory_kib(peer)
        assert after - before < 2048, (before, after)
    c.ok("NOOP")
    c.logout()


def test_corrupt_input(imap_factory):
    """Octets that are no deflate stream: the server hangs up."""
    peer = imap_factory()
    c = peer.raw(user=ALICE)
    compress(c)
    c.sock.sendall(b"\xff" * 16)
    with pytest.raises(ConnectionError):
        while True:
            c.read_raw()
    if peer.peer == "tern":
        peer.tern.wait_for_log(r"event=compress-failed")
        peer.tern.wait_for_log(r"event=disconnect .*reason=\"compression error\"")
