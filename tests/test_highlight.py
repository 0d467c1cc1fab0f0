"""The mail-log lexer: which parts of real lines become which tokens (no Textual involved)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import SAMPLES

from mailtui import highlight
from mailtui.highlight import MailLogLexer, token_spans


def tokens(line: str) -> dict:
    """text → token for every non-plain token of the line."""
    return {line[start:end]: token for start, end, token in token_spans(line)}


SEED = (SAMPLES / "seeds" / "postfix-book.log").read_text(encoding="utf-8").splitlines()


def test_syslog_header_and_queue_id():
    found = tokens(SEED[1])
    assert found["util-ubuntu"] is highlight.HOST
    assert found["postfix/smtpd"] is highlight.PROGRAM
    assert found["16325"] is highlight.PID
    assert found["307DF802B3"] is highlight.QUEUE_ID
    assert found["172.20.63.1"] is highlight.IP
    assert highlight.TIMESTAMP in found.values()  # "Feb\xa0 3 01:01:12": NBSP as in the seed


def test_delivery_line_status_dsn_address_relay():
    found = tokens(SEED[5])
    assert found["<billy@evil.example>"] is highlight.ADDRESS
    assert found["10.14.168.11"] is highlight.IP
    assert found["2.0.0"] is highlight.DSN
    assert found["sent"] is highlight.STATUS_OK
    assert found["status"] is highlight.KEY


@pytest.mark.parametrize(
    ("body", "word", "token"),
    [
        ("status=deferred", "deferred", highlight.STATUS_WARN),
        ("status=bounced", "bounced", highlight.STATUS_BAD),
        ("reject: RCPT from x", "reject", highlight.STATUS_BAD),
        ("stat=Sent", "Sent", highlight.STATUS_OK),
        ("status=expired", "expired", highlight.STATUS_WARN),
        ("Blocked SPAM", "Blocked", highlight.STATUS_BAD),
    ],
)
def test_status_words(body, word, token):
    found = tokens(f"Mar 11 09:00:00 mx1 postfix/smtp[1]: ABCDEF1234: {body} (x)")
    assert found[word] is token


def test_sendmail_exchange_and_rfc5424():
    sendmail = (SAMPLES / "seeds" / "sendmail-book.log").read_text(encoding="utf-8").splitlines()[0]
    assert tokens(sendmail)["s1KJ39AQ014274"] is highlight.QUEUE_ID
    row = "2014-02-21T01:38:46.806Z,10.0.2.15,WIN,10.0.2.15,WIN,,SMTP,DELIVER,1,<a@b.example>,,bob@example.com,250 2.0.0 ok"
    found = tokens(row)
    assert found["2014-02-21T01:38:46.806Z"] is highlight.TIMESTAMP
    assert found["DELIVER"] is highlight.STATUS_OK
    assert found["bob@example.com"] is highlight.ADDRESS
    rfc = "<22>1 2024-03-11T09:00:01.5+01:00 mx3 postfix/smtpd 4242 - - 6A7B8C9D0E: client=x[198.51.100.7]"
    found = tokens(rfc)
    assert found["mx3"] is highlight.HOST
    assert found["6A7B8C9D0E"] is highlight.QUEUE_ID


def test_warning_is_not_a_queue_id():
    found = tokens("Mar 11 09:00:00 mx1 postfix/smtpd[1]: warning: hostname x does not resolve")
    assert "warning" not in found or found["warning"] is not highlight.QUEUE_ID


def test_spans_cover_the_text_exactly_and_hostile_text_is_harmless():
    line = "Mar 11 09:00:00 mx1 postfix/cleanup[1]: ABCDEF1234: info: header Subject: [bold]x[/bold] [/foo] \x1b[31mred"
    for start, end, _ in token_spans(line):
        assert 0 <= start < end <= len(line)
    text = "".join(value for _, _, value in MailLogLexer().get_tokens_unprocessed(line))
    assert text == line


def test_domain_module_imports_no_textual_or_rich():
    code = "import sys, mailtui.highlight; print(any(m.split('.')[0] in ('textual', 'rich') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
