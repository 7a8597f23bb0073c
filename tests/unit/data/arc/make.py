#!/usr/bin/python3
"""Makes the ARC fixtures of test_arc: chains sealed by dkimpy's arc_sign
(Debian's python3-dkim; its ARC takes rsa-sha256 only), so that tern's
verifier is checked against another implementation. Run once, from this
directory; the output is committed:

    /usr/bin/python3 make.py

Keys are made only when their files are missing, and every seal carries a
fixed t=, so running it again gives the same files. Writes:

  keys/*.pem      the private keys (RSA 2048, one per sealing domain)
  keys.txt        "NAME<TAB>TXT record" for every key
  *.eml           the messages (CRLF)

Each hop k adds "Authentication-Results: mxK.example; ...; arc=CV" on
top, as a receiver would, and dkimpy seals with that authserv-id: it
takes cv= from the arc= result there. The expected verdicts are in
test_arc.c; dkimpy's own are printed at the end.
"""

import base64
import os
import re

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

T = 1764057992          # t= of every seal made here
HERE = os.path.dirname(os.path.abspath(__file__))

MESSAGE = (
    b"Received: from mail.example.com (mail.example.com [192.0.2.1])\r\n"
    b"\tby mx1.example with ESMTPS; Tue, 25 Nov 2025 08:06:32 +0000\r\n"
    b"From: Joe SixPack <joe@example.com>\r\n"
    b"To: list@lists.example.org\r\n"
    b"Subject:   Is dinner   ready?\r\n"
    b"Date: Tue, 25 Nov 2025 08:06:30 +0000\r\n"
    b"Message-ID: <20251125080630.1234@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hi.\r\n"
    b"\r\n"
    b"We lost the game.  Are you hungry yet?\t \r\n"
    b"\r\n"
    b"Joe.\r\n"
)

# The sealers: hop k is HOPS[(k - 1) % 3].
HOPS = [
    (b"arc", b"example.org", "org"),
    (b"seal", b"lists.example.org", "lists"),
    (b"s2025", b"example.net", "net"),
]


def path(name):
    return os.path.join(HERE, name)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


def rsa_key(name, bits=2048):
    """PEM (PKCS#1) of an RSA key, made once; and its p= value."""
    p = path("keys/" + name + ".pem")
    if not os.path.exists(p):
        k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        with open(p, "wb") as f:
            f.write(k.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()))
    with open(p, "rb") as f:
        pem = f.read()
    k = serialization.load_pem_private_key(pem, password=None)
    spki = k.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, base64.b64encode(spki)


KEYS = {}


def hop(msg, k, cv, keep_ar=True, results=b"spf=pass smtp.mailfrom=example.com"):
    """The message as hop k passes it on: its A-R on top, then its set."""
    sel, dom, name = HOPS[(k - 1) % len(HOPS)]
    srv = b"mx%d.example" % k
    ar = b"Authentication-Results: " + srv + b"; " + results
    if cv != b"none":
        ar += b";\r\n\tarc=" + cv
    m = ar + b"\r\n" + msg
    fields = dkim.arc_sign(m, sel, dom, KEYS[name], srv, timestamp=T)
    if not fields:
        raise SystemExit("dkimpy did not seal hop %d" % k)
    return b"".join(fields) + (m if keep_ar else msg)


def chain(n, **kw):
    m = MESSAGE
    for k in range(1, n + 1):
        m = hop(m, k, b"none" if k == 1 else b"pass", **kw)
    return m


def field_of(m, name, i):
    """The whole field NAME with instance i (folding included)."""
    pat = re.compile(rb"^" + re.escape(name) + rb":[ \t]*i=%d;.*?\r\n(?![ \t])" % i,
                     re.M | re.S | re.I)
    f = pat.search(m)
    if f is None:
        raise SystemExit("no %s i=%d" % (name, i))
    return f.group(0)


def main():
    os.makedirs(path("keys"), exist_ok=True)
    txt = []
    for sel, dom, name in HOPS:
        pem, p = rsa_key(name)
        KEYS[name] = pem
        txt.append((sel + b"._domainkey." + dom, b"v=DKIM1; k=rsa; p=" + p))
    write("keys.txt", b"".join(n + b"\t" + r + b"\n" for n, r in txt))
    records = {n + b".": r for n, r in txt}

    def dns(name, timeout=5):
        return records.get(name)

    out = {}
    out["unsealed.eml"] = MESSAGE
    for n in (1, 2, 3):
        out["pass%d.eml" % n] = chain(n)
    # the most sets there may be, without their A-Rs to keep it short
    out["pass50.eml"] = chain(50, keep_ar=False)

    m2 = chain(2)
    m3 = chain(3)
    # the AAR of set 1 changed: both seals cover it, no AMS does
    aar = field_of(m2, b"ARC-Authentication-Results", 1)
    out["broken_as.eml"] = m2.replace(aar, aar.replace(b"spf=pass", b"spf=fail"))
    # a seal's signature changed (one base64 character)
    seal = field_of(m2, b"ARC-Seal", 1)
    b = seal.index(b"b=") + 10
    bad = seal[:b] + (b"A" if seal[b:b + 1] != b"A" else b"B") + seal[b + 1:]
    out["broken_as_sig.eml"] = m2.replace(seal, bad)
    # the newest AMS broken: a signed field, then the body
    out["broken_ams.eml"] = m2.replace(b"Subject:   Is dinner", b"Subject:   Is lunch")
    out["broken_body.eml"] = m2.replace(b"the game", b"the match")
    # no set 2 in a chain of 3
    m = m3
    for name in (b"ARC-Seal", b"ARC-Message-Signature", b"ARC-Authentication-Results"):
        m = m.replace(field_of(m, name, 2), b"")
    out["missing.eml"] = m
    # the AAR of set 1 twice
    out["duplicate.eml"] = m2.replace(aar, aar + aar)
    # hop 2 found the chain failed; hop 3 (wrongly) says pass
    m = hop(MESSAGE, 1, b"none")
    m = hop(m, 2, b"fail")
    out["cv_fail_newest.eml"] = m
    out["cv_fail_earlier.eml"] = hop(m, 3, b"pass")
    # one set numbered 51
    m = chain(1)
    for name in (b"ARC-Seal", b"ARC-Message-Signature", b"ARC-Authentication-Results"):
        f = field_of(m, name, 1)
        m = m.replace(f, re.sub(rb"i=1;", b"i=51;", f, count=1))
    out["i51.eml"] = m
    # the Subject changed between hops 1 and 2: AMS 1 no longer verifies,
    # the chain does (oldest-pass 2)
    m = hop(MESSAGE, 1, b"none")
    m = m.replace(b"Subject:   Is dinner", b"Subject: [list] Is dinner")
    m = hop(m, 2, b"pass")
    out["oldest_pass.eml"] = hop(m, 3, b"pass")

    for name, data in sorted(out.items()):
        write(name, data)

    # dkimpy's own verdict on what it made, as a check of this script
    for name in sorted(os.listdir(HERE)):
        if not name.endswith(".eml"):
            continue
        with open(path(name), "rb") as f:
            data = f.read()
        cv, res, why = dkim.arc_verify(data, dnsfunc=dns)
        print("%-24s %-6s %s" % (name, cv.decode() if cv else cv, why))


if __name__ == "__main__":
    main()
