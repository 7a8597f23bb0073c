"""Shared machinery for the retrieval tests (test_pop3*.py, the store
tests): MailTern, a SubTern that also serves POP3 (STLS) and POP3S, and
clients for it.

- the `mail_factory` fixture: mail_factory(**settings) -> a started
  MailTern (users with passwords as in subenv), stopped on teardown with
  the harness checks;
- deliver(mt, rcpt, body): one message over SMTP port 25 (smtplib);
- pop3(mt, user): poplib after STLS and login; pop3s(mt, user) the same
  over implicit TLS.
"""
import os
import poplib
import smtplib
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from subenv import PASSWORDS, SUB_USERS, SubTern, no_verify_ctx  # noqa: E402
from tern_harness import t  # noqa: E402
import relayenv  # noqa: E402


class MailTern(SubTern):
    port_attrs = SubTern.port_attrs + ("pop3_port", "pop3s_port")

    def __init__(self, root, extra=(), **kw):
        self.pop3_port = relayenv.free_port()
        self.pop3s_port = relayenv.free_port()
        super().__init__(root, extra=list(extra) + [
            "listen pop3 127.0.0.1:%d" % self.pop3_port,
            "listen pop3s 127.0.0.1:%d" % self.pop3s_port], **kw)

    def pop3_plain(self, timeout=10):
        """poplib on the POP3 port, in the clear, after the greeting."""
        return poplib.POP3("127.0.0.1", self.pop3_port, timeout=t(timeout))

    def pop3(self, user=None, password=None, timeout=10):
        """poplib after STLS; logged in with USER/PASS when user is given."""
        p = self.pop3_plain(timeout)
        try:
            p.stls(context=no_verify_ctx())
            if user is not None:
                p.user(user)
                p.pass_(PASSWORDS[user] if password is None else password)
        except BaseException:
            p.close()
            raise
        return p

    def pop3s(self, user=None, password=None, timeout=10):
        p = poplib.POP3_SSL("127.0.0.1", self.pop3s_port, timeout=t(timeout),
                            context=no_verify_ctx())
        try:
            if user is not None:
                p.user(user)
                p.pass_(PASSWORDS[user] if password is None else password)
        except BaseException:
            p.close()
            raise
        return p

    def deliver(self, rcpt, body, sender="sender@example.net"):
        """One message to rcpt over SMTP (port 25's listener); returns the
        octets sent after DATA, as stored after the trace fields."""
        if isinstance(body, str):
            body = body.encode()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=t(10)) as s:
            s.sendmail(sender, [rcpt], body)
        return body


@pytest.fixture
def mail_factory(tmp_path):
    made = []

    def make(start=True, users=None, aliases=None, extra=(), name=None, **settings):
        root = tmp_path / (name or ("ternd%d" % len(made)))
        inst = MailTern(root, extra=extra, settings=settings,
                        users=SUB_USERS if users is None else users, aliases=aliases)
        made.append(inst)
        if start:
            inst.start()
        return inst

    yield make
    errors = []
    for inst in made:
        try:
            inst.close()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("ternd teardown:\n" + "\n\n".join(errors), pytrace=False)


@pytest.fixture
def mt(mail_factory):
    return mail_factory()
