"""The RFC 7208 test suite (openspf.org, release 2014.04, as Debian's
python3-spf ships it) against `ternctl spf`.

Each scenario's zonedata is served by a dnslib server on 127.0.0.1 (UDP and
TCP, a free port; one for the module, its zone swapped per scenario), read
the way the suite's own driver (pyspf's testspf.py) reads it:
  - "SPF" records are served as type 99 and, when the name has no "TXT"
    entry at all, as TXT too ("TXT: NONE" means none, and no copy);
  - a list of strings is one TXT record of several character-strings
    (an empty list, illegal on the wire, one empty string);
  - TIMEOUT answers SERVFAIL for the types not listed before it (a quick
    temperror: a silent server would only make unbound wait);
  - a name absent is NXDOMAIN (SERVFAIL under "error."), a name present
    without the type NOERROR/NODATA; CNAMEs are followed in the answer.
One `ternctl spf --batch` per scenario checks all its tests; each test is
one pytest case. ternctl comes from $TERN_BUILD (default: build/).

The suite's "DEFAULT" explanation is the one its driver sets for a fail
without exp=; ternctl reports no explanation then, so it is expected empty.
"""
import gzip
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer

SUITE = Path("/usr/share/doc/python3-spf/rfc7208-tests.yml.gz")
REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("TERN_BUILD") or (REPO / "build")).resolve()
TERNCTL = BUILD / "ternctl"
CNAME_CHAIN_MAX = 8


def load_scenarios():
    if not SUITE.exists():
        return []
    with gzip.open(SUITE, "rb") as f:
        return [s for s in yaml.safe_load_all(f) if s]


SCENARIOS = load_scenarios()


def labels(name):
    """A zone name as a tuple of lowercased label bytes (no root dot)."""
    name = name.rstrip(".")
    if not name:
        return ()
    return tuple(l.encode("utf-8").lower() for l in name.split("."))


def dnslabel(name):
    return DNSLabel([l.encode("utf-8") for l in name.rstrip(".").split(".")] if name.rstrip(".") else [])


def load_zone(zonedata):
    """name labels -> list of ("TYPE", value) and "TIMEOUT", in order."""
    zone = {}
    for name, items in (zonedata or {}).items():
        recs, copies, copy = [], [], True
        for m in items:
            if isinstance(m, str):
                recs.append(m)
                continue
            for t, v in m.items():
                if t in ("TXT", "SPF") and isinstance(v, str):
                    v = (v,)
                if t == "TXT":
                    copy = False
                elif t == "SPF":
                    copies.append(("TXT", v))
                if v != ("NONE",):
                    recs.append((t, v))
        if copy:
            recs.extend(copies)
        zone[labels(name)] = recs
    return zone


def txt_rdata(strings):
    """TXT rdata of the strings, each cut in pieces of 255. No strings at
    all (the suite's null-text) is not legal rdata (RFC 1035 §3.3.14: one
    or more character-strings) and libunbound drops the whole answer for
    it, so it goes out as one empty string: the same text once joined."""
    if not strings:
        return TXT([b""])
    out = []
    for s in strings:
        b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        if not b:
            out.append(b"")
        while b:
            out.append(b[:255])
            b = b[255:]
    return TXT(out)


def make_rr(owner, t, v):
    if t == "A":
        return RR(owner, QTYPE.A, rdata=A(v), ttl=300)
    if t == "AAAA":
        return RR(owner, QTYPE.AAAA, rdata=AAAA(v), ttl=300)
    if t == "MX":
        return RR(owner, QTYPE.MX, rdata=MX(dnslabel(str(v[1])), int(v[0])), ttl=300)
    if t == "PTR":
        return RR(owner, QTYPE.PTR, rdata=PTR(dnslabel(v)), ttl=300)
    if t == "CNAME":
        return RR(owner, QTYPE.CNAME, rdata=CNAME(dnslabel(v)), ttl=300)
    if t == "TXT":
        return RR(owner, QTYPE.TXT, rdata=txt_rdata(v), ttl=300)
    if t == "SPF":
        return RR(owner, 99, rdata=txt_rdata(v), ttl=300)
    raise ValueError("record type %s" % t)


class ZoneResolver(BaseResolver):
    def __init__(self, zone):
        self.zone = zone

    def lookup(self, owner, qtype, reply, depth):
        """Adds owner's records of qtype to reply; returns an RCODE."""
        recs = self.zone.get(tuple(l.lower() for l in owner.label))
        if recs is None:
            if owner.label and owner.label[0].lower() == b"error":
                return RCODE.SERVFAIL
            return RCODE.NXDOMAIN
        seen = False
        for r in recs:
            if r == "TIMEOUT":
                if not seen:
                    return RCODE.SERVFAIL
                break
            t, v = r
            if t == qtype:
                seen = True
                reply.add_answer(make_rr(owner, t, v))
            elif t == "CNAME" and qtype != "CNAME":
                reply.add_answer(make_rr(owner, t, v))
                if depth >= CNAME_CHAIN_MAX:
                    return RCODE.NOERROR
                return self.lookup(dnslabel(v), qtype, reply, depth + 1)
        return RCODE.NOERROR

    def resolve(self, request, handler):
        reply = request.reply()
        reply.header.aa = 1
        q = request.q
        qtype = QTYPE.get(q.qtype, str(q.qtype))
        reply.header.rcode = self.lookup(q.qname, qtype, reply, 0)
        if reply.header.rcode == RCODE.SERVFAIL:
            reply.rr = []
        return reply


def start_dns(resolver):
    """UDP and TCP servers on one free port of 127.0.0.1 (daemon threads:
    they end with the test process)."""
    quiet = DNSLogger("-recv,-send,-request,-reply,-truncated,-error,-data")
    for _ in range(20):
        udp = DNSServer(resolver, address="127.0.0.1", port=0, logger=quiet)
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(resolver, address="127.0.0.1", port=port, tcp=True, logger=quiet)
        except OSError:
            udp.server.server_close()
            continue
        udp.start_thread()
        tcp.start_thread()
        return port, (udp, tcp)
    raise RuntimeError("no free port for the DNS server")


def field(v):
    return "" if v is None else str(v)


_results = {}
_dns = {}


def dns_for(zone):
    """The one server pair of the module, now serving zone: each scenario
    runs a ternctl of its own, so no resolver cache carries over."""
    if "port" not in _dns:
        _dns["resolver"] = ZoneResolver({})
        _dns["port"], _dns["servers"] = start_dns(_dns["resolver"])
    _dns["resolver"].zone = zone
    return _dns["port"]


def scenario_results(index):
    """{test name: (result, explanation)} from one ternctl run."""
    if index in _results:
        return _results[index]
    scenario = SCENARIOS[index]
    names = sorted(scenario["tests"])
    lines = []
    for name in names:
        t = scenario["tests"][name]
        lines.append("%s\t%s\t%s\n" % (field(t["host"]), field(t.get("helo")),
                                       field(t.get("mailfrom"))))
    port = dns_for(load_zone(scenario.get("zonedata")))
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.run(
            [str(TERNCTL), "spf", "--batch", "--test-zones", "--timeout", "10",
             "--resolver", "127.0.0.1@%d" % port],
            input="".join(lines).encode("utf-8"), capture_output=True,
            cwd=cwd, timeout=120)
    out = proc.stdout.decode("utf-8", "replace").split("\n")
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert len(out) >= len(names), proc.stdout
    res = {}
    for name, line in zip(names, out):
        result, _, explanation = line.partition("\t")
        res[name] = (result, explanation)
    _results[index] = res
    return res


def cases():
    for i, s in enumerate(SCENARIOS):
        for name in sorted(s["tests"]):
            yield pytest.param(i, name, id="%s/%s" % (s["description"], name))


@pytest.mark.skipif(not SUITE.exists(), reason="python3-spf's rfc7208-tests.yml.gz not installed")
@pytest.mark.parametrize("index,name", list(cases()))
def test_rfc7208(index, name):
    if not TERNCTL.exists():
        pytest.fail("no ternctl at %s: build first" % TERNCTL, pytrace=False)
    t = SCENARIOS[index]["tests"][name]
    result, explanation = scenario_results(index)[name]
    want = t["result"] if isinstance(t["result"], list) else [t["result"]]
    assert result in want, "got %s, want %s (spec %s)" % (result, " or ".join(want), t.get("spec"))
    if "explanation" in t:
        exp = "" if t["explanation"] == "DEFAULT" else t["explanation"]
        assert explanation == exp


def test_suite_size():
    """All the suite's tests are here (203 in the 2014.04 release)."""
    if not SUITE.exists():
        pytest.skip("python3-spf's rfc7208-tests.yml.gz not installed")
    assert sum(len(s["tests"]) for s in SCENARIOS) == 203
