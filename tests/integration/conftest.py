"""Fixtures for the integration tests: a ternd per test.

    def test_x(tern):                 # default instance, started
        s = tern.smtp()               # smtplib.SMTP after EHLO
        c = tern.raw()                # RawClient after the greeting
        tern.wait_for_messages("alice", 1)

    def test_y(tern_factory):         # custom settings
        tern = tern_factory(max_recipients=3)

Each instance has its own data_dir under tmp_path, a free loopback port,
users postmaster/alice/bob@example.test and the alias "team: alice, bob".
The machinery (and the fixtures themselves) live in tern_harness.py, which
tests/durability shares. On teardown every instance gets SIGTERM and must
exit 0 with no sanitizer report in its log.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tern_harness import BUILD, SANITIZED, tern, tern_factory  # noqa: E402,F401


def pytest_report_header(config):
    return "tern binaries: %s%s" % (BUILD, " (sanitized)" if SANITIZED else "")
