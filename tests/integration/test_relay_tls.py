"""Outbound STARTTLS that completes (RFC 3207): the handshake is done over
the same connection, the session starts again with EHLO (§4.2), the
message goes through the TLS layer dot-stuffed as in the clear, and the
delivery line names the TLS version and cipher and whether the peer's
certificate was verified (a self-signed one is not: opportunistic TLS
goes on). The swap to TLS is the code the server's STARTTLS shares
(src/tls/tls_bev.c)."""

import os
import re
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))

from relayenv import make_msg, relay  # noqa: E402,F401  (relay: the fixture)

ALICE = "alice@example.test"


def server_context(tmp_path):
    """A TLS server context with a fresh self-signed certificate."""
    cert, key = tmp_path / "peer.crt", tmp_path / "peer.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mx.tls.example", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def test_starttls_to_the_peer(relay, tmp_path):
    p = relay.peer("127.0.0.2", "mx.tls.example", tls_context=server_context(tmp_path))
    t = relay.ternd(routes=[("tls.example", "127.0.0.2:%d" % relay.port)], resolver=None)
    body = "first\r\n.a line with a leading dot\r\n..two\r\n.\r\nlast\r\n"
    t.send(ALICE, "x@tls.example", make_msg(to="x@tls.example", body=body,
                                             msgid="<tls@client.test>"))
    got = p.wait_messages(1)[0]
    assert got.msgid == "<tls@client.test>"
    assert got.rcpt_tos == ["x@tls.example"]
    # The dots came through unstuffed by the peer: the stuffing was right.
    assert body.encode() in got.content.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    assert p.starttls_seen == 1
    ev = t.wait_event("delivery", to="<x@tls.example>")[0]
    assert ev["status"] == "sent", ev
    assert re.fullmatch(r"TLSv1\.[23] \S+ verified=no", ev.get("tls", "")), ev
    t.wait_removed(ev["id"])
