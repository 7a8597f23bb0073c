"""The Prometheus endpoint (metrics_listen, docs/metrics.md).

ternd serves GET /metrics on a loopback port; every scrape is read by
curl and checked by a strict parser of the text exposition format 0.0.4
written here (not a Prometheus library: the point is to hold the page to
the grammar, not to be lenient with it). Then the counters must have
moved by exactly what the test did, and requests that are not a scrape
are refused with the right status.
"""
import os
import re
import socket
import ssl
import subprocess
import time

from tern_harness import SANITIZED, TERND, free_port, t

# ----------------------------------------------------- the strict parser --

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABEL = r"%s=%s" % (LABEL_NAME, LABEL_VALUE)
VALUE = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]Inf|NaN"
SAMPLE = re.compile(r"(%s)(?:\{(%s(?:,%s)*)?\})? (%s)\Z" % (NAME, LABEL, LABEL, VALUE))
HELP = re.compile(r"# HELP (%s) (.*)\Z" % NAME)
TYPE = re.compile(r"# TYPE (%s) (counter|gauge|histogram|summary|untyped)\Z" % NAME)
ONE_LABEL = re.compile(r"(%s)=(%s)" % (LABEL_NAME, LABEL_VALUE))


def unescape(v):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v[1:-1])


def family_of(name, types):
    """The family a sample belongs to: itself, or a histogram's."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return name


def parse_exposition(text):
    """Every line is a HELP or TYPE comment or a sample; each family has
    its TYPE before its samples, its samples together, no series twice;
    counters end in _total and never go negative; histogram buckets are
    cumulative, end with le="+Inf" and agree with _count. Returns
    ({(name, ((label, value), ...)): float}, {family: type})."""
    assert text.endswith("\n"), "the page must end with a newline"
    types, helps, samples = {}, {}, {}
    done, current = set(), None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d: %r" % (n, line)
        if line.startswith("#"):
            m = HELP.match(line) or TYPE.match(line)
            assert m, "not a HELP or TYPE comment: " + where
            fam = m.group(1)
            table = helps if line.startswith("# HELP") else types
            assert fam not in table, "second HELP/TYPE: " + where
            assert fam not in done and not any(family_of(k[0], types) == fam for k in samples), \
                "HELP/TYPE after the family's samples: " + where
            table[fam] = m.group(2)
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample: " + where
        name, labels, value = m.group(1), m.group(2), m.group(3)
        fam = family_of(name, types)
        assert fam in types, "sample without a TYPE before it: " + where
        if fam != current:
            assert fam not in done, "family's samples not together: " + where
            if current:
                done.add(current)
            current = fam
        pairs = tuple(sorted((k, unescape(v)) for k, v in ONE_LABEL.findall(labels or "")))
        assert len({k for k, _ in pairs}) == len(pairs), "label twice: " + where
        key = (name, pairs)
        assert key not in samples, "series twice: " + where
        samples[key] = float(value)
        if types[fam] == "counter":
            assert name.endswith("_total") and samples[key] >= 0, "bad counter: " + where
    for fam, typ in types.items():
        assert fam in helps, "no HELP for " + fam
        if typ == "histogram":
            check_histogram(fam, samples)
    return samples, types


def check_histogram(fam, samples):
    series = {}
    for (name, labels), v in samples.items():
        if name == fam + "_bucket":
            rest = tuple(p for p in labels if p[0] != "le")
            le = dict(labels).get("le")
            assert le is not None, "bucket without le: %s %s" % (name, labels)
            series.setdefault(rest, []).append((float(le), le, v))
    assert series, "histogram %s has no buckets" % fam
    for rest, buckets in series.items():
        # In page order, le ascending; as numbers, ascending too.
        order = [b for b in samples if b[0] == fam + "_bucket" and
                 tuple(p for p in b[1] if p[0] != "le") == rest]
        les = [float(dict(b[1])["le"]) for b in order]
        assert les == sorted(les) and len(set(les)) == len(les), "%s: le out of order" % fam
        counts = [samples[b] for b in order]
        assert counts == sorted(counts), "%s: buckets not cumulative: %s" % (fam, counts)
        assert dict(order[-1][1])["le"] == "+Inf", "%s: last bucket is not +Inf" % fam
        assert samples[(fam + "_count", rest)] == counts[-1], "%s: _count != +Inf bucket" % fam
        assert (fam + "_sum", rest) in samples, "%s: no _sum" % fam


# ---------------------------------------------------------------- helpers --

def scrape(port, path="/metrics"):
    """curl's view: (status, headers dict, body)."""
    p = subprocess.run(["curl", "-sS", "-i", "--max-time", str(t(10)),
                        "http://127.0.0.1:%d%s" % (port, path)],
                       capture_output=True, timeout=t(20))
    assert p.returncode == 0, p.stderr
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return status, headers, body.decode()


def metrics(port):
    status, headers, body = scrape(port)
    assert status == 200, (status, body)
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body.encode())
    return parse_exposition(body)[0]


def raw_request(port, data, half_close=False):
    """Sends data (then shuts the sending side, if asked), reads until
    the server closes: the whole response."""
    with socket.create_connection(("127.0.0.1", port), timeout=t(10)) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def status_of(resp):
    return int(resp.split(b" ", 2)[1])


def v(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# ------------------------------------------------------------------ tests --

def test_metrics_count_mail(tern_factory):
    mport = free_port()
    tern = tern_factory(metrics_listen="127.0.0.1:%d" % mport)
    before = metrics(mport)
    assert v(before, "tern_messages_accepted_total") == 0
    assert before[("tern_queue_messages", ())] == 0
    start = before[("tern_start_time_seconds", ())]
    assert abs(start - time.time()) < t(60)

    # One message, over STARTTLS, to a local user: accepted and delivered.
    s = tern.smtp()
    s.starttls(context=ssl._create_unverified_context())
    s.ehlo()
    s.sendmail("sender@example.org", ["alice@example.test"],
               b"Subject: counted\r\n\r\nhello\r\n")
    s.quit()
    # One refused: an unknown user (550 5.1.1), then the client gives up.
    s = tern.smtp()
    s.mail("sender@example.org")
    code, _ = s.rcpt("nobody@example.test")
    assert code == 550
    s.quit()
    tern.wait_for_log(r"event=delivery .*status=sent")
    tern.settle()

    # The sessions gauge drops once ternd has seen both clients close.
    deadline = time.monotonic() + t(5)
    while True:
        after = metrics(mport)
        if v(after, "tern_sessions_active", service="smtp") == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert v(after, "tern_sessions_active", service="smtp") == 0
    moved = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert v(after, "tern_sessions_total", service="smtp") - \
        v(before, "tern_sessions_total", service="smtp") == 2, moved
    assert v(after, "tern_messages_accepted_total") == 1, moved
    assert v(after, "tern_deliveries_total", status="sent", relay="local") == 1, moved
    assert v(after, "tern_smtp_rejections_total", **{"class": "permanent", "reason": "address"}) == 1, moved
    assert sum(val for (name, _), val in after.items()
               if name == "tern_smtp_rejections_total") == tern.log_count(r"event=reject "), moved
    assert sum(val for (name, _), val in after.items()
               if name == "tern_deliveries_total") == 1, moved
    tls = [(labels, val) for (name, labels), val in after.items()
           if name == "tern_tls_handshakes_total"]
    assert len(tls) == 1 and tls[0][1] == 1, tls
    assert dict(tls[0][0])["direction"] == "in" and dict(tls[0][0])["version"].startswith("TLSv1")
    assert after[("tern_queue_commit_duration_seconds_count", ())] >= 1, moved
    assert after[("tern_queue_messages", ())] == 0
    assert after[("tern_uptime_seconds", ())] > 0
    # The network process, as Prometheus's process collector names it:
    # against what /proc says of ternd itself (within a scrape's drift).
    with open("/proc/%d/status" % tern.pid) as f:
        rss = [int(x.split()[1]) * 1024 for x in f if x.startswith("VmRSS:")][0]
    assert 0.5 * rss < after[("process_resident_memory_bytes", ())] < 2 * rss
    fds = len(os.listdir("/proc/%d/fd" % tern.pid))
    assert abs(after[("process_open_fds", ())] - fds) <= 4, (after[("process_open_fds", ())], fds)
    assert after[("process_max_fds", ())] >= fds
    assert after[("process_cpu_seconds_total", ())] > 0
    # Under ASan, malloc is ASan's: glibc's arenas (mallinfo2) stay empty.
    assert 0 < after[("tern_heap_in_use_bytes", ())] < rss or \
        SANITIZED and after[("tern_heap_in_use_bytes", ())] >= 0
    assert after[("tern_heap_free_bytes", ())] >= 0
    # Nothing else moved: no refusals, bounces, DSNs or login failures.
    for k in moved:
        if k[0].startswith("process_") or k[0].startswith("tern_heap_"):
            continue
        assert k[0] in ("tern_sessions_total", "tern_messages_accepted_total",
                        "tern_deliveries_total", "tern_smtp_rejections_total",
                        "tern_tls_handshakes_total", "tern_uptime_seconds",
                        "tern_queue_commit_duration_seconds_bucket",
                        "tern_queue_commit_duration_seconds_sum",
                        "tern_queue_commit_duration_seconds_count"), k


def test_metrics_refuses_other_requests(tern_factory):
    mport = free_port()
    tern_factory(metrics_listen="127.0.0.1:%d" % mport)
    assert scrape(mport, "/")[0] == 404
    assert scrape(mport, "/metrics/x")[0] == 404
    cases = [
        (b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"GET /metrics HTTP/1.1\r\n\r\n", 400),                 # no Host
        (b"GET /metrics HTTP/1.1\nHost: x\n\n", 400),            # bare LF
        (b"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400),     # space before ':'
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", 400),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n", 400),  # TLS to a plain port
        (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.0\r\n\r\n", 414),
        (b"GET /metrics HTTP/1.0\r\n" + b"X-A: b\r\n" * 65 + b"\r\n", 431),
    ]
    for req, want in cases:
        resp = raw_request(mport, req)
        assert status_of(resp) == want, (req[:60], resp[:200])
        assert b"\r\nConnection: close\r\n" in resp
        if want == 405:
            assert b"\r\nAllow: GET, HEAD\r\n" in resp
    # HTTP/1.0 without Host, and HEAD: the page, and only its head.
    # (the client shuts its side after the request, as printf | nc does:
    # the whole page still comes)
    resp = raw_request(mport, b"GET /metrics HTTP/1.0\r\n\r\n", half_close=True)
    head, _, body = resp.partition(b"\r\n\r\n")
    assert status_of(resp) == 200 and body.startswith(b"# HELP tern_")
    assert b"\r\nContent-Length: %d\r\n" % len(body) in head
    resp = raw_request(mport, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(resp) == 200 and resp.endswith(b"\r\n\r\n")
    # A client that sends nothing holds one of the few slots until the
    # deadline, not the endpoint: the others are served meanwhile.
    idle = socket.create_connection(("127.0.0.1", mport), timeout=t(10))
    try:
        assert scrape(mport)[0] == 200
    finally:
        idle.close()


def test_metrics_listen_loopback_only(tmp_path):
    conf = tmp_path / "ternd.conf"
    (tmp_path / "users").write_text("alice@example.test\n")
    (tmp_path / "aliases").write_text("")
    conf.write_text("domains example.test\nlisten smtp 127.0.0.1:%d\ndata_dir %s\n"
                    "users_file %s/users\naliases_file %s/aliases\n"
                    "metrics_listen 0.0.0.0:%d\n"
                    % (free_port(), tmp_path, tmp_path, tmp_path, free_port()))
    p = subprocess.run([str(TERND), "-n", "-c", str(conf)], capture_output=True,
                       text=True, timeout=t(20))
    assert p.returncode != 0 and "not a loopback address" in p.stderr, p.stderr
    with conf.open("a") as f:
        f.write("metrics_listen_any yes\n")
    p = subprocess.run([str(TERND), "-n", "-c", str(conf)], capture_output=True,
                       text=True, timeout=t(20))
    assert p.returncode == 0, p.stderr
