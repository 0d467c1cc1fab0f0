"""Years read from queue ids that encode their creation time, for logs whose file dates lie."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import write_log

from mailtui.timehints import first_line_year

ANTON = "Jan 11 11:45:49 ns1 sendmail[28022]: j0BGjkc28022: from=boss@example.com, size=376597, class=0, nrcpts=1, msgid=Pine.LNX.4.61.0501111145450.17081@boss.example.com, proto=SMTP, daemon=MTA, relay=esafe1.example.com[10.211.15.69] (may be forged)"
BOOK = "Feb 20 14:03:13 mail sendmail[14274]: s1KJ39AQ014274: from=<billy@evil.example>, size=7779, class=-30, nrcpts=1, msgid=<x@phx.gbl>, proto=ESMTP, daemon=MTA, relay=mail.evil.example [10.14.168.11]"
LONG = "Mar 11 09:45:13 mx1 postfix-out/qmgr[60]: 4TtX213dSnzWt0C: from=<bob@example.com>, size=100, nrcpt=1 (queue active)"


def test_sendmail_ids_give_the_year_modulo_60_counted_from_1900():
    assert first_line_year([ANTON], around=2026) == 2005
    assert first_line_year([BOOK], around=2026) == 2014
    assert first_line_year([BOOK], around=2014) == 2014


def test_postfix_long_ids_give_the_epoch_second():
    assert (
        first_line_year(["Mar 11 09:00:00 mx1 postfix/smtpd[1]: connect from x[1.2.3.4]", LONG], around=2030)
        == 2024
    )


def test_a_new_year_between_the_first_line_and_the_proof():
    december = "Dec 31 23:59:00 mx1 postfix/smtpd[1]: connect from x[1.2.3.4]"
    january = "Jan  1 00:00:05 mx1 postfix/qmgr[60]: 4TtX213dSnzWt0C: removed"
    # The id says March 2024, far from Jan 1: no year is trusted from it.
    assert first_line_year([december, january], around=2026) is None
    sendmail_jan = "Jan  1 00:00:05 ns1 sm-mta[1]: o01005xx000001: from=<a@b.c>, size=1, class=0, nrcpts=1"
    assert first_line_year([december, sendmail_jan], around=2026) == 2009  # 'o' = 110 → 2010; Dec is 2009


def test_short_ids_and_plain_lines_say_nothing():
    assert (
        first_line_year(["Feb  3 01:01:12 util-ubuntu postfix/qmgr[1482]: 307DF802B3: removed"], 2026) is None
    )
    assert first_line_year(["not a log line", ""], 2026) is None


def test_cli_dates_a_copied_sendmail_log_by_its_queue_ids(tmp_path):
    log = write_log(tmp_path, "maillog", ANTON + "\n")  # mtime 2024: the content says 2005
    result = subprocess.run(
        [sys.executable, "-m", "mailtui", "search", str(log), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["first_seen"].startswith("2005-01-11T11:45:49")


def test_a_next_hops_long_id_in_a_reply_tells_the_year_too():
    line = "Mar 11 09:37:22 mx1 postfix/smtp[1]: 8A4B3C2D1E: to=<a@b.example>, relay=mx.b.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4TtX213dSnzWt0C)"
    assert first_line_year([line], around=2030) == 2024
