#!/usr/bin/python3
"""mkmaildirs.py — the mailboxes of bench/retrieval.sh, made once per sitting.

    mkmaildirs.py ROOT DOMAIN FORMAT FIRST COUNT MESSAGES SIZE [HOST]

makes Maildirs ROOT/DOMAIN/<local>/{new,cur,tmp} for the users FORMAT % k,
k = FIRST .. FIRST+COUNT-1 (FORMAT is a local part, e.g. u%03d), each with
MESSAGES messages of exactly SIZE octets in new/, as delivery leaves them
(nobody has read them; no dovecot-uidlist, no index):

- named as tern's delivery names them, <secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>,
  with arrival times a minute apart over the last weeks (mtime set to match);
- stored with CRLF line ends, as tern stores them;
- headers a real delivery has (Return-Path, Delivered-To, Received, ...),
  then text lines of at most 78 octets; no line starts with "." (so a
  POP3 size is the same whether stuffed dots are counted or not).

Deterministic: the same arguments make the same bytes.
"""
import os
import random
import sys
import time

WORDS = ("the quick brown fox jumps over a lazy dog mail server retrieval benchmark "
         "message body text line maildir dovecot tern pop3 lmtp delivery queue "
         "octets client session login user folder index cache sync").split()


def message(rng, user, domain, k, when, size):
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))
    sender = "sender%d@example.net" % rng.randrange(1000)
    head = (
        "Return-Path: <%s>\r\n"
        "Delivered-To: %s@%s\r\n"
        "Received: from client.example.net (client.example.net [192.0.2.%d])\r\n"
        "\tby bench.test (tern) with ESMTPS id %08X%04X\r\n"
        "\tfor <%s@%s>; %s\r\n"
        "From: Sender %d <%s>\r\n"
        "To: <%s@%s>\r\n"
        "Subject: retrieval benchmark, message %d\r\n"
        "Date: %s\r\n"
        "Message-ID: <%d.%d.%s@example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n" % (sender, user, domain, rng.randrange(1, 255), int(when), k, user, domain,
                  date, k, sender, user, domain, k, date, int(when), k, user)).encode()
    left = size - len(head)
    if left < 8:
        raise SystemExit("mkmaildirs: SIZE %d is too small for the headers" % size)
    body = []
    while left > 0:
        # A line of words, 3 octets at least ("x\r\n"), at most 78 with CRLF.
        n = min(left, rng.randrange(40, 79))
        if 0 < left - n < 3:        # the rest must still make a line
            n = left - 3 if left - 3 >= 3 else left
        text = ""
        while len(text) < n - 2:
            text += rng.choice(WORDS) + " "
        text = text[:n - 2].rstrip() or "x"
        text = text.ljust(n - 2, "x")
        body.append(text.encode() + b"\r\n")
        left -= n
    data = head + b"".join(body)
    assert len(data) == size, (len(data), size)
    return data


def main(argv):
    if len(argv) not in (8, 9):
        raise SystemExit(__doc__)
    root, domain, fmt = argv[1], argv[2], argv[3]
    first, count, nmsgs, size = (int(a) for a in argv[4:8])
    host = argv[8] if len(argv) > 8 else "bench.test"
    start = int(time.time()) - 60 * nmsgs - 86400 * 7
    for u in range(first, first + count):
        local = fmt % u
        rng = random.Random("%s@%s" % (local, domain))
        box = os.path.join(root, domain, local)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(box, sub), mode=0o700, exist_ok=True)
        for k in range(nmsgs):
            when = start + 60 * k + rng.randrange(30)
            usec = rng.randrange(1000000)
            name = "%d.M%dP%dQ%d.%s,S=%d" % (when, usec, 4242, k, host, size)
            path = os.path.join(box, "new", name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, message(rng, local, domain, k, when, size))
            finally:
                os.close(fd)
            os.utime(path, (when, when))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
