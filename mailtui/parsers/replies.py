"""What a next hop's SMTP reply says about where the mail went (CORRELATION.md, cross-system links).

Shared by every MTA's parser: a Postfix `status=sent (...)`, a Sendmail `stat=Sent (...)` and an
Exchange SEND's recipient-status all quote the receiving server's reply, and that reply names the
receiver's own id for the mail.
"""

from __future__ import annotations

import re
from typing import List, Optional

from mailtui.model import LineRef, LinkClaim

#: Postfix (and qmqpd, amavis passing Postfix's reply on): `250 2.0.0 Ok: queued as 307DF802B3`.
QUEUED_AS = re.compile(r"\bqueued as ([0-9A-Za-z]{5,20})\b")
#: Sendmail: `250 2.0.0 j061bXn5000812 Message accepted for delivery`.
ACCEPTED_FOR_DELIVERY = re.compile(r"\b([0-9A-Za-x]{8,9}\d{5,6}) Message accepted for delivery")
#: Exchange / Microsoft 365: `250 2.6.0 <msgid> [InternalId=1058..., Hostname=EX02.corp.example] ...`.
EXCHANGE_INTERNAL = re.compile(r"\[\s*InternalId\s*=\s*(\d+)\s*,\s*Hostname\s*=\s*([^\]\s,]+)\s*\]")
#: Postfix local(8) forwarding through a .forward file: `forwarded as 4F2A1B2C3D`.
FORWARDED_AS = re.compile(r"\bforwarded as ([0-9A-Za-z]{5,20})\b")
#: An enhanced status code anywhere in a reply: `550 5.1.1 ...` → 5.1.1.
DSN_CODE = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")


def dsn_in(text: Optional[str]) -> Optional[str]:
    """The first enhanced status code in a reply text, if any."""
    match = DSN_CODE.search(text) if text else None
    return match.group(1) if match else None


def next_hop_claims(reply: str, relay_host: str, ts: float, ref: LineRef) -> List[LinkClaim]:
    """Claims that the mail continues as another queue id, from a reply text.

    Args:
        reply: the reply as logged.
        relay_host: where the mail was handed (host name or IP; "" for this same host).
        ts: when the reply was logged.
        ref: the line that logged it (the proof of the link).
    """
    # Most replies name no id: substring tests are ten times cheaper than the four searches.
    claims = []
    if "queued as" in reply:
        claims.extend(
            LinkClaim("queued-as", m.group(1), relay_host, ts, ref) for m in QUEUED_AS.finditer(reply)
        )
    if "accepted for delivery" in reply:
        claims.extend(
            LinkClaim("accepted-for-delivery", m.group(1), relay_host, ts, ref)
            for m in ACCEPTED_FOR_DELIVERY.finditer(reply)
        )
    if "nternal" in reply:  # InternalId, any case the regex takes
        claims.extend(
            LinkClaim("exchange-internalid", m.group(1), m.group(2), ts, ref)
            for m in EXCHANGE_INTERNAL.finditer(reply)
        )
    if "forwarded as" in reply:
        claims.extend(
            LinkClaim("forwarded-as", m.group(1), "", ts, ref) for m in FORWARDED_AS.finditer(reply)
        )
    return claims
