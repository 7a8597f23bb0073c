#!/usr/bin/python3
"""mkimapmail.py — realistic mixed mailboxes for bench/imap/imapbench.sh.

    mkimapmail.py ROOT DOMAIN FORMAT FIRST COUNT MESSAGES [SEED]

makes Maildirs ROOT/DOMAIN/<local>/{new,cur,tmp} for the users FORMAT % k
(k = FIRST .. FIRST+COUNT-1), each with MESSAGES messages of mixed mail,
as a mailbox looks after some use (no dovecot-uidlist, no index):

- 60% plain text (1-12 KiB of lines), 20% multipart/alternative (text and
  HTML), 8% multipart/mixed with a base64 attachment (8-64 KiB), 12%
  replies (Re:, In-Reply-To, References to an earlier message), some with
  quoted-printable UTF-8 bodies and RFC 2047 subjects;
- 70% read (cur/, :2,S), 5% flagged, the newest 30% unread in new/;
- named as tern's delivery names them, CRLF line ends, mtime = arrival;
- the word "zebra" in about 1% of the bodies (the SEARCH benchmark's
  needle).

Deterministic: the same arguments make the same octets.
"""
import base64
import os
import random
import sys
import time

WORDS = ("the quick brown fox jumps over a lazy dog meeting report budget project "
         "schedule review draft please find attached thanks regards update team "
         "release server mail client folder invoice order shipment quarter plan "
         "notes agenda minutes call friday monday tomorrow deadline status").split()
NAMES = ["Ann Example", "Bob Jones", "Carla Diaz", "Dmitri Ivanov", "Eve Martin",
         "Fatima Khan", "Gustav Öberg", "Hélène Dubois", "Ian Wright", "Jun Tanaka"]


def words(rnd, n):
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def text_lines(rnd, octets, needle):
    """Lines of words, about octets long; needle: one has "zebra"."""
    out, n = [], 0
    while n < octets:
        line = words(rnd, rnd.randrange(6, 13))
        out.append(line)
        n += len(line) + 2
    if needle:
        out[rnd.randrange(len(out))] += " zebra"
    return "\r\n".join(out) + "\r\n"


def encoded_word(s):
    return "=?UTF-8?B?%s?=" % base64.b64encode(s.encode()).decode()


def message(rnd, k, user, domain, when, subjects):
    name = rnd.choice(NAMES)
    addr = name.split()[0].lower().replace("é", "e").replace("ö", "o") + "@example.net"
    frm = '"%s" <%s>' % (name, addr) if name.isascii() else "%s <%s>" % (
        encoded_word(name), addr)
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))
    kind = rnd.random()
    subject = "%s %s" % (words(rnd, rnd.randrange(2, 6)).capitalize(), k)
    head = ["Return-Path: <%s>" % addr, "Delivered-To: %s@%s" % (user, domain),
            "Received: from mx.example.net (mx.example.net [192.0.2.%d])" % rnd.randrange(1, 255),
            "\tby bench.test (tern) with ESMTPS id %08X%04X" % (when, k % 65536),
            "\tfor <%s@%s>; %s" % (user, domain, date),
            "From: %s" % frm, "To: <%s@%s>" % (user, domain), "Date: %s" % date,
            "Message-ID: <%d.%d@example.net>" % (k, when)]
    if kind < 0.12 and subjects:
        parent_k, parent_subj = rnd.choice(subjects)
        subject = "Re: " + parent_subj
        head += ["In-Reply-To: <%d.parent@example.net>" % parent_k,
                 "References: <%d.parent@example.net>" % parent_k]
    elif rnd.random() < 0.1:
        subject = encoded_word("Grüße zum Thema %s" % k)
    subjects.append((k, subject))
    head.append("Subject: %s" % subject)
    head.append("MIME-Version: 1.0")
    size = int(min(12288, max(800, rnd.lognormvariate(7.6, 0.6))))
    body_text = text_lines(rnd, size, rnd.random() < 0.01)
    if kind < 0.6:
        if rnd.random() < 0.15:
            head += ["Content-Type: text/plain; charset=utf-8",
                     "Content-Transfer-Encoding: quoted-printable"]
            body = body_text.replace("the ", "th=C3=A9 ")
        else:
            head += ["Content-Type: text/plain; charset=us-ascii"]
            body = body_text
    elif kind < 0.92:
        b = "alt%08x" % rnd.randrange(1 << 32)
        head.append('Content-Type: multipart/alternative; boundary="%s"' % b)
        html = "<html><body><p>" + body_text.replace("\r\n", "</p>\r\n<p>") + "</p></body></html>"
        body = ("--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s\r\n"
                "--%s\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n%s\r\n--%s--\r\n"
                % (b, body_text, b, html, b))
    else:
        b = "mix%08x" % rnd.randrange(1 << 32)
        head.append('Content-Type: multipart/mixed; boundary="%s"' % b)
        blob = rnd.randbytes(rnd.randrange(8192, 65536))
        att = base64.encodebytes(blob).decode().replace("\n", "\r\n")
        body = ("--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s\r\n"
                "--%s\r\nContent-Type: application/pdf; name=\"doc%d.pdf\"\r\n"
                "Content-Transfer-Encoding: base64\r\n"
                "Content-Disposition: attachment; filename=\"doc%d.pdf\"\r\n\r\n%s--%s--\r\n"
                % (b, body_text, b, k, k, att, b))
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def main(argv):
    if len(argv) not in (7, 8):
        raise SystemExit(__doc__)
    root, domain, fmt = argv[1], argv[2], argv[3]
    first, count, nmsgs = (int(a) for a in argv[4:7])
    seed = argv[7] if len(argv) > 7 else "imap"
    start = int(time.time()) - 60 * nmsgs - 86400 * 7
    for u in range(first, first + count):
        local = fmt % u if "%" in fmt else fmt
        rnd = random.Random("%s/%s@%s/%d" % (seed, local, domain, nmsgs))
        box = os.path.join(root, domain, local)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(box, sub), mode=0o700, exist_ok=True)
        subjects = []
        for k in range(nmsgs):
            when = start + 60 * k + rnd.randrange(30)
            data = message(rnd, k, local, domain, when, subjects)
            if len(subjects) > 50:
                subjects.pop(0)
            base = "%d.M%dP%dQ%d.bench.test,S=%d" % (when, rnd.randrange(1000000), 4242, k,
                                                     len(data))
            if k >= nmsgs * 0.7:
                path = os.path.join(box, "new", base)
            else:
                flags = "S" + ("F" if rnd.random() < 0.05 else "")
                path = os.path.join(box, "cur", base + ":2," + "".join(sorted(flags)))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.utime(path, (when, when))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
