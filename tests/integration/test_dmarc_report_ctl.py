"""ternctl dmarc report: a day's DMARC results file (docs/dmarc-reports.md),
written here line by line in its documented format, shown as a summary
and as RFC 9990 XML reports that xml.etree must parse."""
import calendar
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("TERN_BUILD") or (REPO / "build")).resolve()
TERNCTL = BUILD / "ternctl"
NS = {"d": "urn:ietf:params:xml:ns:dmarc-2.0"}
DAY = "2026-01-01"
BEGIN = calendar.timegm((2026, 1, 1, 0, 0, 0))


def esc(value):
    """A field value: octets outside 0x21..0x7e, and backslash, as \\xHH."""
    if isinstance(value, str):
        value = value.encode()
    return "".join(chr(c) if 0x21 <= c <= 0x7E and c != 0x5C else "\\x%02x" % c
                   for c in value)


def line(ip="192.0.2.1", header_from="example.org", envelope_from="example.org",
         policy_domain="example.org", p="reject", sp="", np="", adkim="r", aspf="r",
         pct=100, testing="n", disposition="none", reason="none", dmarc="pass",
         dkim_aligned="pass", spf_aligned="pass", spf_domain="example.org",
         scope="mfrom", spf="pass", rua="mailto:dmarc@example.org",
         dkim=(("example.org", "s1", "pass"),), when=BEGIN + 3600):
    fields = ["tern-dmarc-1", str(when), ip, header_from, envelope_from,
              policy_domain, p, sp, np, adkim, aspf, str(pct), testing,
              disposition, reason, dmarc, dkim_aligned, spf_aligned, spf_domain,
              scope, spf, rua, str(len(dkim))]
    for d in dkim:
        fields += list(d)
    return "\t".join(esc(f) for f in fields) + "\n"


@pytest.fixture
def conf(tmp_path):
    if not os.access(str(TERNCTL), os.X_OK):
        pytest.fail("no ternctl at %s: build first (TERN_BUILD=%s)" % (TERNCTL, BUILD),
                    pytrace=False)
    data = tmp_path / "data"
    (data / "dmarc").mkdir(parents=True)
    path = tmp_path / "ternd.conf"
    path.write_text("hostname mx.example.test\n"
                    "data_dir %s\n"
                    "domains example.test\n"
                    "listen smtp 127.0.0.1:2525\n" % data)
    return path, data / "dmarc"


def ternctl(conf, *args):
    p = subprocess.run([str(TERNCTL), "-c", str(conf), "dmarc", "report", *args],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def documents(out):
    """The XML reports, one <?xml ...?> each, parsed."""
    docs = ["<?xml" + d for d in out.split("<?xml")[1:]]
    assert "".join(docs) == out
    return [ET.fromstring(d.encode()) for d in docs]


def write_day(dmarc_dir, text, day=DAY):
    (dmarc_dir / ("%s.log" % day)).write_bytes(text.encode() if isinstance(text, str) else text)


HOSTILE_FROM = b"evil<&>\"'\x01\t.example\xff"


def sample(dmarc_dir):
    text = (line() * 3
            + line(ip="2001:DB8::0:7", disposition="reject", dmarc="fail",
                   dkim_aligned="fail", spf_aligned="fail", spf="fail",
                   dkim=(("example.org", "s1", "fail"), ("esp.example", "k1", "pass")))
            + line(policy_domain="other.example", header_from="sub.other.example",
                   p="quarantine", sp="none", adkim="s", testing="y",
                   rua="mailto:r@other.example!10m", dkim=())
            + line(policy_domain="other.example", header_from=HOSTILE_FROM,
                   envelope_from="", p="quarantine", sp="none", adkim="s", testing="y",
                   dmarc="fail", dkim_aligned="fail", spf_aligned="fail",
                   disposition="none", reason="policy_test_mode", scope="helo",
                   spf_domain="helo.example", spf="softfail", dkim=())
            + "tern-dmarc-1\tnot a line\n"
            + line()[:-1].replace("\t1\texample.org", "\t2\texample.org") + "\n"
            + line(ip="192.0.2.99")[:50])           # torn by a crash
    write_day(dmarc_dir, text)


def test_no_file(conf):
    path, _ = conf
    rc, out, err = ternctl(path, "--day", DAY)
    assert rc == 0, err
    assert out == "no DMARC results for %s\n" % DAY


def test_bad_arguments(conf):
    path, _ = conf
    for args in (["--day", "2026-02-30"], ["--day", "26-01-01"], ["--day"],
                 ["--frob"], ["--day", "2026-1-01"]):
        rc, out, err = ternctl(path, *args)
        assert rc == 2, (args, out, err)
    p = subprocess.run([str(TERNCTL), "-c", str(path), "dmarc", "send"],
                       capture_output=True, timeout=30)
    assert p.returncode == 2


def test_summary(conf):
    path, dmarc_dir = conf
    sample(dmarc_dir)
    rc, out, err = ternctl(path, "--day", DAY)
    assert rc == 0, err
    assert "2 malformed lines skipped" in err
    assert "incomplete last line" in err
    blocks = re.split(r"\n(?=\S)", out.strip())
    assert [b.split(":")[0] for b in blocks] == ["example.org", "other.example"]
    ex, other = blocks
    assert ex.splitlines()[0] == "example.org: 4 messages in 2 rows"
    assert "p=reject sp=- np=- adkim=r aspf=r pct=100 t=n" in ex
    assert "rua: mailto:dmarc@example.org" in ex
    rows = [r.split() for r in ex.splitlines()[4:]]
    assert rows == [["192.0.2.1", "3", "none", "pass", "pass", "example.org"],
                    ["2001:db8::7", "1", "reject", "fail", "fail", "example.org"]]
    assert other.splitlines()[0] == "other.example: 2 messages in 2 rows"
    # text from the file reaches the terminal escaped
    assert "evil<&>\"'\\x01\\x09.example\\xff" in other
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out)
    # one domain, any case
    rc, out2, _ = ternctl(path, "--day", DAY, "--domain", "OTHER.example")
    assert rc == 0 and out2.strip() == other
    rc, out3, _ = ternctl(path, "--day", DAY, "--domain", "nowhere.example")
    assert rc == 0 and out3 == "no DMARC results for nowhere.example on %s\n" % DAY


def test_xml(conf):
    path, dmarc_dir = conf
    sample(dmarc_dir)
    rc, out, err = ternctl(path, "--day", DAY, "--xml")
    assert rc == 0, err
    docs = documents(out)
    assert len(docs) == 2
    for doc in docs:
        assert doc.tag == "{%s}feedback" % NS["d"]
        assert doc.findtext("d:version", namespaces=NS) == "1.0"
        md = doc.find("d:report_metadata", NS)
        assert md.findtext("d:org_name", namespaces=NS) == "mx.example.test"
        assert md.findtext("d:email", namespaces=NS) == "postmaster@example.test"
        assert re.fullmatch(r"[A-Za-z0-9]+", md.findtext("d:report_id", namespaces=NS))
        assert md.findtext("d:date_range/d:begin", namespaces=NS) == str(BEGIN)
        assert md.findtext("d:date_range/d:end", namespaces=NS) == str(BEGIN + 86399)
        # the order RFC 9990 requires of the first-level elements
        assert [c.tag.split("}")[1] for c in doc][:3] == \
            ["version", "report_metadata", "policy_published"]
        assert {c.tag.split("}")[1] for c in list(doc)[3:]} == {"record"}

    ex, other = docs
    pp = ex.find("d:policy_published", NS)
    assert [(c.tag.split("}")[1], c.text) for c in pp] == [
        ("domain", "example.org"), ("discovery_method", "treewalk"), ("p", "reject"),
        ("sp", "reject"), ("np", "reject"), ("adkim", "r"), ("aspf", "r"),
        ("testing", "n")]
    recs = ex.findall("d:record", NS)
    assert sum(int(r.findtext("d:row/d:count", namespaces=NS)) for r in recs) == 4
    r0, r1 = recs
    assert r0.findtext("d:row/d:source_ip", namespaces=NS) == "192.0.2.1"
    assert r0.findtext("d:row/d:count", namespaces=NS) == "3"
    assert r1.findtext("d:row/d:source_ip", namespaces=NS) == "2001:db8::7"
    pe = r1.find("d:row/d:policy_evaluated", NS)
    assert [(c.tag.split("}")[1], c.text) for c in pe] == [
        ("disposition", "reject"), ("dkim", "fail"), ("spf", "fail")]
    # the passing signature first (RFC 9990's order), then the failed one
    assert [(d.findtext("d:domain", namespaces=NS), d.findtext("d:result", namespaces=NS))
            for d in r1.findall("d:auth_results/d:dkim", NS)] == \
        [("esp.example", "pass"), ("example.org", "fail")]
    spf = r1.find("d:auth_results/d:spf", NS)
    assert [(c.tag.split("}")[1], c.text) for c in spf] == [
        ("domain", "example.org"), ("scope", "mfrom"), ("result", "fail")]

    pp = other.find("d:policy_published", NS)
    assert pp.findtext("d:p", namespaces=NS) == "quarantine"
    assert pp.findtext("d:sp", namespaces=NS) == "none"
    assert pp.findtext("d:np", namespaces=NS) == "none"
    assert pp.findtext("d:adkim", namespaces=NS) == "s"
    assert pp.findtext("d:testing", namespaces=NS) == "y"
    hostile = [r for r in other.findall("d:record", NS)
               if r.findtext("d:row/d:policy_evaluated/d:reason/d:type", namespaces=NS)]
    assert len(hostile) == 1
    h = hostile[0]
    assert h.findtext("d:row/d:policy_evaluated/d:reason/d:type", namespaces=NS) == \
        "policy_test_mode"
    # markup escaped, TAB kept, what XML cannot hold replaced by U+FFFD
    assert h.findtext("d:identifiers/d:header_from", namespaces=NS) == \
        "evil<&>\"'\ufffd\t.example\ufffd"
    assert h.findtext("d:identifiers/d:envelope_from", namespaces=NS) in ("", None)
    assert h.find("d:auth_results/d:dkim", NS) is None
    assert h.findtext("d:auth_results/d:spf/d:scope", namespaces=NS) == "helo"

    # one domain
    rc, out, _ = ternctl(path, "--day", DAY, "--xml", "--domain", "other.example")
    assert rc == 0
    (doc,) = documents(out)
    assert doc.findtext("d:policy_published/d:domain", namespaces=NS) == "other.example"


def test_today_by_default(conf):
    path, dmarc_dir = conf
    import time
    today = time.strftime("%Y-%m-%d", time.gmtime())
    write_day(dmarc_dir, line(when=int(time.time())), day=today)
    rc, out, err = ternctl(path)
    assert rc == 0, err
    assert out.startswith("example.org: 1 message in 1 row\n"), out
