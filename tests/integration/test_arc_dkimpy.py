"""ARC seals made by tern (src/policy/arc_seal.c, through the
tern-arcseal tool) checked by another implementation: dkimpy's
arc_verify, with keys from a dict instead of DNS. One hop by tern; a
second hop by tern on top of a chain dkimpy sealed, and the other way
round; two tern hops. dkimpy's ARC takes rsa-sha256 only, so the keys are
RSA (tern's Ed25519 seals are checked by tern itself, in test_arc.c).
No ternd is started.
"""
import base64
import subprocess
import time

import pytest

dkim = pytest.importorskip("dkim")
pytest.importorskip("authres")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")

from tern_harness import BUILD  # noqa: E402

ARCSEAL = BUILD / "tern-arcseal"

MESSAGE = (
    b"Received: from mail.example.com (mail.example.com [192.0.2.1])\r\n"
    b"\tby mx1.example with ESMTPS; Tue, 25 Nov 2025 08:06:32 +0000\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;\r\n"
    b"\ts=x; h=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
    b"\tb=AAAA\r\n"
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
    b"\r\n"
)

# (selector, domain) of each sealer
TERN1 = (b"arc", b"tern.example")
TERN2 = (b"arc2", b"relay.example")
PY = (b"seal", b"lists.example.org")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """An RSA key per sealer: its PEM file, its PEM text, and the TXT
    records dkimpy looks up."""
    if not ARCSEAL.exists():
        pytest.skip("no %s: build first" % ARCSEAL)
    root = tmp_path_factory.mktemp("arckeys")
    out, records = {}, {}
    for sel, dom in (TERN1, TERN2, PY):
        k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = k.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption())
        path = root / (dom.decode() + ".pem")
        path.write_bytes(pem)
        spki = k.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
        records[sel + b"._domainkey." + dom + b"."] = (
            b"v=DKIM1; k=rsa; p=" + base64.b64encode(spki))
        out[(sel, dom)] = (path, pem)
    out["dns"] = lambda name, timeout=5: records.get(name)
    return out


def tern_seal(keys, msg, who, authres, cv="none"):
    path = keys[who][0]
    p = subprocess.run([str(ARCSEAL), str(path), who[1].decode(), who[0].decode(),
                        authres, cv], input=msg, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.endswith(msg)
    return p.stdout


def py_seal(keys, msg, who, srv, cv):
    ar = b"Authentication-Results: " + srv + b"; spf=pass smtp.mailfrom=example.com"
    if cv != b"none":
        ar += b"; arc=" + cv
    m = ar + b"\r\n" + msg
    fields = dkim.arc_sign(m, who[0], who[1], keys[who][1], srv, timestamp=int(time.time()))
    assert fields, "dkimpy did not seal"
    return b"".join(fields) + m


def assert_pass(keys, msg, n):
    cv, results, why = dkim.arc_verify(msg, dnsfunc=keys["dns"])
    assert cv == b"pass", (cv, why, msg[:4000])
    assert [r["instance"] for r in results] == list(range(n, 0, -1))
    assert all(r["as-valid"] for r in results), results
    assert results[0]["ams-valid"], results
    return results


def test_one_hop(keys):
    m = tern_seal(keys, MESSAGE, TERN1, "mx.tern.example; spf=pass smtp.mailfrom=example.com")
    r = assert_pass(keys, m, 1)
    assert r[0]["as-domain"] == b"tern.example" and r[0]["cv"] == b"none"
    assert r[0]["aar-value"].startswith(b"i=1; mx.tern.example; spf=pass")


def test_one_hop_folded_authres(keys):
    m = tern_seal(keys, MESSAGE, TERN1,
                  "mx.tern.example;\r\n\tspf=pass smtp.mailfrom=example.com;\r\n\tdkim=fail")
    assert_pass(keys, m, 1)


def test_second_hop_over_dkimpy(keys):
    m = py_seal(keys, MESSAGE, PY, b"mx1.lists.example.org", b"none")
    assert_pass(keys, m, 1)
    m = tern_seal(keys, m, TERN1, "mx.tern.example; arc=pass", "pass")
    r = assert_pass(keys, m, 2)
    assert r[0]["cv"] == b"pass" and r[1]["as-domain"] == b"lists.example.org"


def test_dkimpy_over_tern(keys):
    m = tern_seal(keys, MESSAGE, TERN1, "mx.tern.example; spf=pass smtp.mailfrom=example.com")
    m = py_seal(keys, m, PY, b"mx2.lists.example.org", b"pass")
    assert_pass(keys, m, 2)


def test_two_tern_hops(keys):
    m = tern_seal(keys, MESSAGE, TERN1, "mx.tern.example; spf=pass smtp.mailfrom=example.com")
    m = tern_seal(keys, m, TERN2, "mx.relay.example; arc=pass", "pass")
    r = assert_pass(keys, m, 2)
    assert r[0]["as-domain"] == b"relay.example"


def test_changed_after_sealing(keys):
    """dkimpy notices what tern's seal covers being changed."""
    m = tern_seal(keys, MESSAGE, TERN1, "mx.tern.example; spf=pass smtp.mailfrom=example.com")
    cv, _, _ = dkim.arc_verify(m.replace(b"the game", b"the match"), dnsfunc=keys["dns"])
    assert cv == b"fail"
    cv, _, _ = dkim.arc_verify(m.replace(b"spf=pass smtp", b"spf=fail smtp"),
                               dnsfunc=keys["dns"])
    assert cv == b"fail"


def test_refused(keys):
    """cv=pass with no chain is refused, and the message left alone."""
    p = subprocess.run([str(ARCSEAL), str(keys[TERN1][0]), "tern.example", "arc",
                        "mx.tern.example; arc=pass", "pass"], input=MESSAGE,
                       capture_output=True, timeout=30)
    assert p.returncode == 1 and p.stdout == b"" and b"not sealed" in p.stderr
