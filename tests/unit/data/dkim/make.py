#!/usr/bin/python3
"""Makes the DKIM fixtures of test_dkim_verify: messages signed by dkimpy
(Debian's python3-dkim, with python3-nacl for ed25519), so that tern's
verifier is checked against another implementation. Run once, from this
directory; the output is committed:

    /usr/bin/python3 make.py

Keys are made only when their files are missing, and the signatures carry
a fixed t=, so running it again gives the same files. Writes:

  keys/*.pem, keys/ed25519.seed   the private keys
  keys.txt                        "NAME<TAB>TXT record" for every key
  *.eml                           the messages (CRLF), signed or changed

rfc8463.eml is RFC 8463 Appendix A (its two signatures of the RFC 6376
example message); its keys are the RFC's and are in keys.txt too.
"""

import base64
import os
import sys
import time

import dkim
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

T = 1764057992          # t= of every signature made here
DOMAIN = b"example.com"
HERE = os.path.dirname(os.path.abspath(__file__))

MESSAGE = (
    b"Received: from mail.example.com (mail.example.com [192.0.2.1])\r\n"
    b"\tby mx.example.net with ESMTPS; Tue, 25 Nov 2025 08:06:32 +0000\r\n"
    b"From: Joe SixPack <joe@example.com>\r\n"
    b"To: Suzie Q <suzie@example.net>,\r\n"
    b"  Bob <bob@example.net>\r\n"
    b"Subject:   Is dinner   ready?\r\n"
    b"Date: Tue, 25 Nov 2025 08:06:30 +0000\r\n"
    b"Message-ID: <20251125080630.1234@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Hi.\r\n"
    b"\r\n"
    b"We lost the game.  Are you hungry yet?\t \r\n"
    b"  Caf\xc3\xa9 at 8?\r\n"
    b"\r\n"
    b"Joe.\r\n"
    b"\r\n"
    b"\r\n"
)

HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
           b"content-type", b"content-transfer-encoding"]


def path(name):
    return os.path.join(HERE, name)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


def rsa_key(name, bits):
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


def ed_key(name):
    """The base64 seed dkimpy signs with, made once; and its p= value."""
    p = path("keys/" + name + ".seed")
    if not os.path.exists(p):
        with open(p, "wb") as f:
            f.write(base64.b64encode(os.urandom(32)) + b"\n")
    with open(p, "rb") as f:
        seed = f.read().strip()
    sk = nacl.signing.SigningKey(seed, encoder=nacl.encoding.Base64Encoder)
    return seed, base64.b64encode(bytes(sk.verify_key))


def sign(msg, selector, key, alg=b"rsa-sha256", canon=(b"relaxed", b"relaxed"),
         headers=HEADERS, identity=None, length=False, domain=DOMAIN):
    """A DKIM-Signature field by dkimpy, at time T."""
    real = time.time
    time.time = lambda: T
    try:
        return dkim.sign(msg, selector, domain, key, identity=identity,
                         canonicalize=canon, signature_algorithm=alg,
                         include_headers=headers, length=length)
    finally:
        time.time = real


def sign_fields(msg, selector, key, extra, alg=b"rsa-sha256"):
    """As sign(), with tags dkimpy does not write (x=): its own header
    builder over the tags given."""
    d = dkim.DKIM(msg, signature_algorithm=alg)
    canon = dkim.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    d.hasher = dkim.HASH_ALGORITHMS[alg]
    h = d.hasher()
    h.update(canon.canonicalize_body(d.body))
    fields = [(b"v", b"1"), (b"a", alg), (b"c", b"relaxed/relaxed"),
              (b"d", DOMAIN), (b"s", selector), (b"t", str(T).encode())]
    fields += extra
    # " : " lets the folding break between names, as dkim.sign() does
    fields += [(b"h", b" : ".join(HEADERS)),
               (b"bh", base64.b64encode(h.digest())), (b"b", b"0" * 60)]
    if alg == b"ed25519-sha256":
        pk = nacl.signing.SigningKey(key, encoder=nacl.encoding.Base64Encoder)
    else:
        pk = dkim.parse_pem_private_key(key)
    return b"DKIM-Signature: " + d.gen_header(fields, HEADERS, canon,
                                              b"DKIM-Signature", pk)


def main():
    os.makedirs(path("keys"), exist_ok=True)
    rsa2048, rsa2048_p = rsa_key("rsa2048", 2048)
    rsa1024, rsa1024_p = rsa_key("rsa1024", 1024)
    rsa512, rsa512_p = rsa_key("rsa512", 512)
    other, other_p = rsa_key("other", 2048)
    ed, ed_p = ed_key("ed25519")

    keys = [
        (b"rsa._domainkey.example.com", b"v=DKIM1; k=rsa; p=" + rsa2048_p),
        (b"rsa1024._domainkey.example.com", b"v=DKIM1; k=rsa; p=" + rsa1024_p),
        (b"rsa512._domainkey.example.com", b"v=DKIM1; k=rsa; p=" + rsa512_p),
        (b"ed._domainkey.example.com", b"v=DKIM1; k=ed25519; p=" + ed_p),
        # "other" signs, but the record published is the 2048-bit key's
        (b"other._domainkey.example.com", b"v=DKIM1; k=rsa; p=" + rsa2048_p),
        # RFC 8463 Appendix A.2
        (b"brisbane._domainkey.football.example.com",
         b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="),
        (b"test._domainkey.football.example.com",
         b"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
         b"iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
         b"DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3I"
         b"p3G+2kryOTIKT+l/K4w3QIDAQAB"),
    ]
    write("keys.txt", b"".join(n + b"\t" + r + b"\n" for n, r in keys))
    txt = {n + b".": r for n, r in keys}

    def dns(name, timeout=5):
        return txt.get(name)

    m = MESSAGE
    out = {}
    for c in ((b"relaxed", b"relaxed"), (b"simple", b"simple"),
              (b"relaxed", b"simple"), (b"simple", b"relaxed")):
        tag = c[0][0:1].decode() + c[1][0:1].decode()
        out["rsa_%s.eml" % tag] = sign(m, b"rsa", rsa2048, canon=c) + m
        out["ed_%s.eml" % tag] = sign(m, b"ed", ed, alg=b"ed25519-sha256", canon=c) + m
    out["rsa1024.eml"] = sign(m, b"rsa1024", rsa1024) + m
    out["identity.eml"] = sign(m, b"rsa", rsa2048, identity=b"joe@news.example.com") + m

    # l=: what is appended after the signed part is not covered
    s = sign(m, b"ed", ed, alg=b"ed25519-sha256", canon=(b"simple", b"simple"),
             length=True)
    out["length.eml"] = s + m
    out["length_appended.eml"] = s + m + b"-- \r\nAppended by a list\r\n"
    out["length_cut.eml"] = s + m.replace(b"Joe.\r\n", b"")

    # several signatures; the one by "other" does not match its record
    out["three.eml"] = (sign(m, b"other", other) +
                        sign(m, b"ed", ed, alg=b"ed25519-sha256") +
                        sign(m, b"rsa", rsa2048, canon=(b"simple", b"simple")) + m)

    # changed in transit
    s = sign(m, b"rsa", rsa2048)
    out["changed_body.eml"] = s + m.replace(b"game", b"GAME")
    out["changed_subject.eml"] = s + m.replace(b"dinner", b"lunch")
    out["refolded.eml"] = s + m.replace(b"To: Suzie Q <suzie@example.net>,\r\n  Bob",
                                        b"To: Suzie Q <suzie@example.net>, Bob")
    s = sign(m, b"rsa", rsa2048, canon=(b"simple", b"simple"))
    out["refolded_simple.eml"] = s + m.replace(
        b"To: Suzie Q <suzie@example.net>,\r\n  Bob", b"To: Suzie Q <suzie@example.net>, Bob")

    # over-signed From, a field signed while absent: neither may be added
    s = sign(m, b"ed", ed, alg=b"ed25519-sha256",
             headers=[b"from", b"subject", b"reply-to", b"from"])
    out["oversigned.eml"] = s + m
    out["oversigned_from_added.eml"] = s + b"From: Mallory <m@example.org>\r\n" + m
    out["oversigned_replyto_added.eml"] = s + m.replace(
        b"MIME-Version", b"Reply-To: m@example.org\r\nMIME-Version")
    # a field added below the signed one: the bottom one is what counts
    s = sign(m, b"ed", ed, alg=b"ed25519-sha256", headers=[b"from", b"subject"])
    out["subject_added_below.eml"] = s + m.replace(
        b"MIME-Version", b"Subject: buy now\r\nMIME-Version")
    out["subject_added_above.eml"] = s + b"Subject: buy now\r\n" + m

    # RFC 8301: no rsa-sha1, no RSA key under 1024 bits
    out["sha1.eml"] = sign(m, b"rsa", rsa2048, alg=b"rsa-sha1") + m
    out["rsa512.eml"] = sign(m, b"rsa512", rsa512) + m

    # x=
    out["expires.eml"] = sign_fields(m, b"ed", ed, [(b"x", str(T + 3600).encode())],
                                     alg=b"ed25519-sha256") + m

    # RFC 8463 Appendix A, as dkimpy's test data carries it (LF → CRLF)
    a = os.path.join(os.path.dirname(dkim.__file__), "tests", "data",
                     "rfc6376.signed.msg")
    if os.path.exists(a):
        with open(a, "rb") as f:
            out["rfc8463.eml"] = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    elif not os.path.exists(path("rfc8463.eml")):
        sys.exit("rfc8463.eml: dkimpy's test data is not installed")

    for name, data in sorted(out.items()):
        write(name, data)

    # dkimpy's own verdict on what it made, as a check of this script
    for name in sorted(os.listdir(HERE)):
        if not name.endswith(".eml"):
            continue
        with open(path(name), "rb") as f:
            data = f.read()
        d = dkim.DKIM(data, minkey=1024)
        n = len([1 for k, v in d.headers if k.lower() == b"dkim-signature"])
        res = []
        for i in range(n):
            try:
                res.append(d.verify(idx=i, dnsfunc=dns))
            except Exception as e:   # dkimpy raises on some of them
                res.append(type(e).__name__)
        print("%-32s %s" % (name, res))


if __name__ == "__main__":
    main()
