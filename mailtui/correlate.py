"""Group parsed lines into transactions: one queue file's life per (host, instance, queue id).

Postfix queue ids are only unique per host and instance, and short ids are reused once a queue
file is `removed`; smtpd lines without a queue id belong to the session (per pid) that precedes
the first `QID: client=`. Sendmail ids embed time and pid, so (host, id) is enough. Links between
transactions are only *claimed* here (the line that names another queue id); :mod:`mailtui.link`
resolves them once every file is read, because the other side may come later or from another log.
"""

from __future__ import annotations

import re
from sys import intern
from typing import Dict, List, Optional, Tuple

from mailtui.model import Envelope, LineRef, LinkClaim, Recipient, Transaction
from mailtui.parsers import amavis, postfix, replies, sendmail
from mailtui.parsers.postfix import PostfixEvent, split_host_ip
from mailtui.parsers.sendmail import SendmailEvent

#: A queue id seen again this soon after `removed` is a late line of the same file, not a reuse.
LATE_LINE_SECONDS = 120.0
#: A new `client=`/`uid=` this long after the last line of an open id means the id was reused.
REUSE_GAP_SECONDS = 3600.0
_FINAL = frozenset({"sent", "bounced", "expired", "rejected", "discarded"})
_SM_DELAY = re.compile(r"(?:(\d+)\+)?(\d+):(\d\d):(\d\d)")
#: Dovecot's LMTP/LDA saying where a message went: `lmtp(user)<pid><session>: msgid=<m>: saved mail to INBOX`.
_DOVECOT_SAVED = re.compile(
    r"(?:lmtp|lda)\(([^)]*)\)[^ ]*: (?:[\w+/]+: )?(?:sieve: )?msgid=<([^>]*)>: "
    r"(?:saved mail to|stored mail into mailbox) "
)
_MILTERS = ("opendkim", "opendmarc", "mimedefang", "spamass-milter", "clamav-milter", "rspamd", "MailScanner")


class _Session:
    """One smtpd/postscreen connection (per host, tag and pid): lines before and around its mail."""

    __slots__ = ("client", "client_ip", "lines", "transactions")

    def __init__(self, client: Optional[str], client_ip: Optional[str]) -> None:
        self.client = client
        self.client_ip = client_ip
        self.lines: List[LineRef] = []
        self.transactions: List[Transaction] = []


def _sendmail_delay(value: Optional[str]) -> Optional[float]:
    match = _SM_DELAY.match(value or "")
    if match is None:
        return None
    days, hours, minutes, seconds = match.groups()
    return float(int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds))


class Correlator:
    """Feeds on envelopes, one line at a time, in time order per file; yields transactions at the end."""

    def __init__(self) -> None:
        # The tables below have a million entries per GB of log. They are keyed by the id alone,
        # the transaction found telling its host and instance; the rare id also seen on another
        # host or instance goes to a second table keyed by tuples. (Tuples as the only keys cost
        # 56-64 bytes an entry, ~150 MB per GB in all, and a slower hash.)
        #: The latest transaction of each queue id per host and instance, open or closed: one
        #: table, not an open one and a closed one.
        self._latest: Dict[str, Transaction] = {}
        self._latest_elsewhere: Dict[Tuple[str, str, str], Transaction] = {}
        #: The latest transaction of each queue id per host, whatever the instance.
        self._by_qid: Dict[str, Transaction] = {}
        self._by_qid_elsewhere: Dict[Tuple[str, str], Transaction] = {}
        #: The latest transaction of each Message-ID per host (Dovecot's deliveries name it).
        self._by_message_id: Dict[str, Transaction] = {}
        self._by_message_id_elsewhere: Dict[Tuple[str, str], Transaction] = {}
        self._sessions: Dict[Tuple[str, str, Optional[int]], _Session] = {}
        self._all: List[Transaction] = []

    # -- transactions -------------------------------------------------------------------------

    def _new(self, mta: str, host: str, instance: str, qid: str, env: Envelope) -> Transaction:
        host, instance = intern(host), intern(instance)  # also in the keys: one copy, not three
        tx = Transaction(mta, host, instance, qid, env.ts, env.tz, len(self._all))
        self._all.append(tx)
        if qid != "NOQUEUE":
            known = self._latest.get(qid)
            if known is None or _keyed_as(known, mta, host, instance):
                self._latest[qid] = tx
            else:
                self._latest_elsewhere[(host, instance, qid)] = tx
            _put_on_host(self._by_qid, self._by_qid_elsewhere, host, qid, tx)
        return tx

    def _get(
        self, mta: str, host: str, instance: str, qid: str, env: Envelope, starts: bool = False
    ) -> Transaction:
        """The open transaction for this queue id, or a new one (after `removed`, or on reuse)."""
        tx = self._latest.get(qid)
        # _keyed_as, inlined: a call per line costs more than the test
        if tx is not None and (
            tx.server != host or tx.mta != mta or (mta != "sendmail" and tx.instance != instance)
        ):
            tx = self._latest_elsewhere.get((host, instance, qid))
        if tx is None:
            return self._new(mta, host, instance, qid, env)
        # A Sendmail id is never reused: its transaction stays the one for the id after `done`.
        if not tx.removed or tx.mta == "sendmail":
            if starts and tx.client is not None and env.ts - tx.last_seen > REUSE_GAP_SECONDS:
                tx.removed = True
                tx.seal()
                return self._new(mta, host, instance, qid, env)
            return tx
        if not starts and env.ts - tx.last_seen <= LATE_LINE_SECONDS:
            return tx  # a late line of a queue file already removed
        return self._new(mta, host, instance, qid, env)

    def _on_host(self, host: str, qid: str) -> Optional[Transaction]:
        """The latest transaction with this queue id on this host, whatever the instance."""
        return _get_on_host(self._by_qid, self._by_qid_elsewhere, host, qid)

    # -- entry point --------------------------------------------------------------------------

    def feed(self, env: Envelope, ref: LineRef) -> bool:
        """Take one line; True when mailtui understood it (False: counted as unrecognised)."""
        program = env.program
        daemon = postfix.postfix_daemon(program)
        if daemon is not None:
            event = postfix.parse(daemon[1], env.body)
            if event is None:
                return False
            self.feed_postfix(env, ref, daemon[0], daemon[1], event)
            return True
        if program in sendmail.PROGRAMS:
            sm_event = sendmail.parse(env.body)
            if sm_event is None:
                return False
            self._sendmail(env, ref, program, sm_event)
            return True
        if program.startswith("amavis"):
            return self._amavis(env, ref)
        if program == "dovecot" or program.startswith("dovecot/"):
            saved = _DOVECOT_SAVED.match(env.body)
            tx = (
                _get_on_host(self._by_message_id, self._by_message_id_elsewhere, env.host, saved.group(2))
                if saved
                else None
            )
            if tx is not None:
                tx.touch(env.ts, ref)  # the mailbox side of an LMTP delivery: shown with its mail
                return True
            return False
        if program.startswith(_MILTERS):
            qid = env.body.partition(":")[0].strip()
            tx = self._on_host(env.host, qid)
            if tx is not None:
                tx.touch(env.ts, ref)
                return True
        return False

    def add(self, transactions: List[Transaction]) -> None:
        """Take transactions built elsewhere (Exchange message tracking)."""
        for tx in transactions:
            tx.seq = len(self._all)
            self._all.append(tx)

    def transactions_so_far(self) -> List[Transaction]:
        """Every transaction created so far, mail or not (cheap: for progress and snapshots)."""
        return self._all

    def transactions(self) -> List[Transaction]:
        """Every transaction that describes mail (not ids that only appear in housekeeping lines)."""
        return [
            tx for tx in self._all if tx.sender is not None or tx.recipients or tx.message_id or tx.status
        ]

    # -- Postfix ------------------------------------------------------------------------------

    def feed_postfix(
        self, env: Envelope, ref: LineRef, instance: str, daemon: str, event: PostfixEvent
    ) -> None:
        """Take one Postfix line already parsed (by :func:`mailtui.parsers.postfix.parse`, maybe in
        another process: see :mod:`mailtui.parallel`)."""
        kind, qid, data = event
        if not qid:
            self._postfix_session(env, ref, (env.host, env.program, env.pid), kind, data)
            return
        starts = kind in ("client", "pickup")
        tx = self._get("postfix", env.host, instance, qid, env, starts)
        tx.touch(env.ts, ref)
        handler = _POSTFIX_HANDLERS.get(kind)
        if handler is not None:
            handler(self, tx, env, ref, daemon, data)
        if kind == "client":
            session = self._sessions.get((env.host, env.program, env.pid))
            if session is not None:
                tx.lines.extend(session.lines)
                session.transactions.append(tx)

    def _postfix_session(
        self,
        env: Envelope,
        ref: LineRef,
        key: Tuple[str, str, Optional[int]],
        kind: str,
        data: Dict[str, str],
    ) -> None:
        if kind == "connect":
            session = self._sessions[key] = _Session(data["client"] or None, data["client_ip"] or None)
            session.lines.append(ref)
            return
        session = self._sessions.get(key)
        if kind == "smtpd-action":
            self._smtpd_action(env, ref, data, session)
        elif session is not None:
            session.lines.append(ref)
            for tx in session.transactions:
                tx.touch(env.ts, ref)
        if kind == "disconnect":
            self._sessions.pop(key, None)

    def _smtpd_action(
        self, env: Envelope, ref: LineRef, data: Dict[str, str], session: Optional[_Session]
    ) -> None:
        """A `NOQUEUE: reject: ...` (or proxy-accept/discard) with no queue file behind it."""
        action = data["action"]
        if action == "proxy-accept" and "queued_as" in data:
            tx = self._on_host(env.host, data["queued_as"])
            if tx is not None:
                # A before-queue filter: the queue file was made by the reinjection smtpd
                # (client localhost); the real client is this session's.
                tx.touch(env.ts, ref)
                if session is not None:
                    tx.lines.extend(session.lines)
                    session.transactions.append(tx)
                    if tx.client_ip in (None, "127.0.0.1", "::1"):
                        tx.client, tx.client_ip = session.client, session.client_ip
                return
        if not data["client_ip"] and session is not None:
            data["client"], data["client_ip"] = session.client or "", session.client_ip or ""
        if action in ("reject", "defer", "discard", "proxy-reject"):
            tx = self._new("postfix", env.host, "postfix", "NOQUEUE", env)
            tx.touch(env.ts, ref)
            tx.client, tx.client_ip = data["client"] or None, data["client_ip"] or None
            tx.sender = data.get("from", "")
            tx.helo = data.get("helo")
            tx.status = "discarded" if action == "discard" else "rejected"
            tx.reason = data["text"]
            if data.get("to"):
                rcpt = tx.recipient(data["to"])
                _set_outcome(rcpt, tx.status, env, data["text"], replies.dsn_in(data["text"]))
            if session is not None:
                tx.lines.prepend(session.lines)
                session.transactions.append(tx)
            return
        if session is not None:
            session.lines.append(ref)
            for tx in session.transactions:
                tx.touch(env.ts, ref)

    def _pf_client(
        self, tx: Transaction, env: Envelope, ref: LineRef, daemon: str, data: Dict[str, str]
    ) -> None:
        tx.client, tx.client_ip = data["client"] or None, data["client_ip"] or None
        tx.sasl_username = data.get("sasl_username") or tx.sasl_username
        if data.get("orig_queue_id"):
            tx.orig_queue_id = data["orig_queue_id"]
            tx.claims.append(LinkClaim("orig-queue-id", data["orig_queue_id"], "", env.ts, ref))

    def _pf_pickup(
        self, tx: Transaction, env: Envelope, ref: LineRef, daemon: str, data: Dict[str, str]
    ) -> None:
        tx.sender = data["from"]
        tx.client = tx.client or f"local (uid {data['uid']})"

    def _pf_queued(
        self, tx: Transaction, env: Envelope, ref: LineRef, daemon: str, data: Dict[str, str]
    ) -> None:
        tx.sender = data["from"]
        tx.size = int(data["size"])
        tx.nrcpt = int(data["nrcpt"])

    def _pf_qmgr_status(
        self, tx: Transaction, env: Envelope, ref: LineRef, daemon: str, data: Dict[str, str]
    ) -> None:
        tx.sender = data["from"] if tx.sender is None else tx.sender
        if "expired" in data["status"]:
            tx.status = "expired"
            tx.reason = "expired in the queue, returned to sender"
            for rcpt in tx.recipients.values():
                if rcpt.status not in _FINAL:
                    _set_outcome(rcpt, "expired", env, tx.reason, rcpt.dsn)

    def _pf_message_id(
        self, tx: Transaction, env: Envelope, ref: LineRef, daemon: str, data: Dict[str, str]
    ) -> None:
        tx.message_id = data["message_id"] or tx.message_id
        if tx.message_id:
            _put_on_host(self._by_message_id, self._by_message_id_elsewhere, tx.server, tx.message_id, tx)

    def _pf_header(
        self, tx: Transaction, env: Envelope, ref: LineRef, daemon: str, data: Dict[str, str]
    ) -> None:
        action = data["action"]
        if data["name"].lower() == "subject" and not tx.subject:
            tx.subject = data["value"]
        if action in ("reject", "discard"):
            tx.status = "rejected" if action == "reject" else "discarded"
            tx.reason = (
                f"{action}ed by cleanup ({data['part']} {data['name']}): {data.get('text', '')}".rstrip(": ")
            )
        elif action == "hold":
            tx.reason = f"held by cleanup ({data['part']} {data['name']})"
        if data.get("from") is not None and tx.sender is None:
            tx.sender = data["from"]

    def _pf_milter(
        self, tx: Transaction, env: Envelope, ref: LineRef, daemon: str, data: Dict[str, str]
    ) -> None:
        action = data["action"]
        if action in ("reject", "discard"):
            tx.status = "rejected" if action == "reject" else "discarded"
            tx.reason = f"milter-{action}: {data['text']}"
            for rcpt in tx.recipients.values():
                if rcpt.status not in _FINAL:
                    _set_outcome(rcpt, tx.status, env, data["text"], replies.dsn_in(data["text"]))
        if tx.sender is None and "from" in data:
            tx.sender = data["from"]
        if data.get("to"):
            rcpt = tx.recipient(data["to"])
            if tx.status in ("rejected", "discarded"):
                _set_outcome(rcpt, tx.status, env, data["text"], replies.dsn_in(data["text"]))

    def _pf_action(
        self, tx: Transaction, env: Envelope, ref: LineRef, daemon: str, data: Dict[str, str]
    ) -> None:
        """`QID: reject: RCPT from ...`: one recipient refused in an otherwise accepted transaction."""
        if data["action"] not in ("reject", "defer"):
            return
        if data["stage"] == "RCPT" and data.get("to"):
            _set_outcome(
                tx.recipient(data["to"]), "rejected", env, data["text"], replies.dsn_in(data["text"])
            )
        else:
            tx.status = "rejected"
            tx.reason = data["text"]
        if tx.sender is None and "from" in data:
            tx.sender = data["from"]

    def _pf_delivery(
        self, tx: Transaction, env: Envelope, ref: LineRef, daemon: str, data: Dict[str, str]
    ) -> None:
        rcpt = tx.recipient(data["to"], data.get("orig_to"))
        status = data["status"]
        reply = data["reply"]
        if status not in ("sent", "deferred", "bounced", "expired"):
            status = "deferred" if status.startswith("defer") else "bounced"
        if status == "sent" and postfix.is_discard_reply(reply):
            status = "discarded"
        _set_outcome(rcpt, status, env, reply, data.get("dsn"))
        rcpt.relay = data["relay"]
        rcpt.mailer = daemon
        rcpt.delays = data.get("delays")
        if data.get("delay"):
            rcpt.delay = float(data["delay"])
        relay_host, relay_ip = split_host_ip(data["relay"])
        target = relay_ip or relay_host or ""
        if daemon in ("local", "virtual", "pipe"):
            target = ""
        claims = replies.next_hop_claims(reply, target, env.ts, ref)
        if claims:  # most name no next hop: no empty list kept for them
            tx.claims.extend(claims)

    def _pf_notification(
        self, tx: Transaction, env: Envelope, ref: LineRef, daemon: str, data: Dict[str, str]
    ) -> None:
        tx.claims.append(LinkClaim("ndr", data["child"], "", env.ts, ref))

    def _pf_removed(
        self, tx: Transaction, env: Envelope, ref: LineRef, daemon: str, data: Dict[str, str]
    ) -> None:
        if daemon == "postsuper":
            tx.reason = "deleted from the queue by postsuper"
            for rcpt in tx.recipients.values():
                if rcpt.status not in _FINAL:
                    _set_outcome(rcpt, "discarded", env, tx.reason, rcpt.dsn)
            # A queue id seen in nothing but this line says no more than "some file was deleted":
            # it must not become a message of its own (issue 4).
            if not tx.recipients and len(tx.lines) > 1:
                tx.status = "discarded"
        elif data["how"] in ("discarded", "canceled"):
            tx.status = tx.status or ("discarded" if data["how"] == "discarded" else "rejected")
        tx.removed = True
        tx.seal()  # its queue file is gone: pack it now, so a load's peak stays low

    # -- amavis -------------------------------------------------------------------------------

    def _amavis(self, env: Envelope, ref: LineRef) -> bool:
        verdict = amavis.parse(env.body)
        if verdict is None:
            return amavis.is_amavis_line(env.body)
        origin = self._on_host(env.host, verdict.queue_id) if verdict.queue_id else None
        if origin is None and verdict.queued_as:
            origin = self._on_host(env.host, verdict.queued_as[0])
        if origin is None:
            return True
        origin.touch(env.ts, ref)
        origin.message_id = origin.message_id or verdict.message_id
        if verdict.queue_id and origin.queue_id == verdict.queue_id:
            for new_qid in verdict.queued_as:
                origin.claims.append(LinkClaim("amavis", new_qid, "", env.ts, ref))
        if not verdict.passed:
            status = "discarded" if "Discard" in verdict.actions or not verdict.actions else "bounced"
            origin.reason = verdict.reason
            for address in verdict.recipients or list(origin.recipients):
                rcpt = origin.recipient(address)
                if rcpt.status in ("in-queue", "sent", "deferred"):
                    _set_outcome(rcpt, status, env, rcpt.response or verdict.reason, rcpt.dsn)
                rcpt.reason = verdict.reason
            if not origin.recipients:
                origin.status = status
        return True

    # -- Sendmail -----------------------------------------------------------------------------

    def _sendmail(self, env: Envelope, ref: LineRef, program: str, event: SendmailEvent) -> None:
        kind, qid, data = event
        if not qid:
            if kind == "ruleset" and "reject" in data:
                tx = self._new("sendmail", env.host, program, "NOQUEUE", env)
                tx.touch(env.ts, ref)
                self._sm_reject(tx, env, data)
            return
        tx = self._get("sendmail", env.host, "sendmail", qid, env, kind == "from")
        if tx.instance == "sendmail" and program != "sendmail" and len(tx.lines) == 0:
            tx.instance = program
        tx.touch(env.ts, ref)
        if kind == "from":
            self._sm_from(tx, data)
        elif kind == "to":
            self._sm_to(tx, env, ref, data)
        elif kind == "ruleset" and "reject" in data:
            self._sm_reject(tx, env, data)
        elif kind == "rcpt-reject":
            _set_outcome(
                tx.recipient(sendmail.strip_address(data["to"])), "rejected", env, data["text"], None
            )
        elif kind == "child":
            self._sm_child(tx, env, ref, data)
        elif kind == "done":
            tx.removed = True
            tx.seal()

    def _sm_from(self, tx: Transaction, data: Dict[str, str]) -> None:
        tx.sender = sendmail.strip_address(data.get("from", ""))
        if data.get("size", "").isdigit():
            tx.size = int(data["size"])
        if data.get("nrcpts", "").isdigit():
            tx.nrcpt = int(data["nrcpts"])
            if tx.nrcpt == 0 and not tx.recipients:
                tx.status = tx.status or "rejected"
                tx.reason = tx.reason or "no recipient accepted"
        msgid = sendmail.strip_address(data.get("msgid", ""))
        tx.message_id = msgid or tx.message_id
        if "relay" in data:
            tx.client, tx.client_ip = sendmail.parse_relay(data["relay"])

    def _sm_to(self, tx: Transaction, env: Envelope, ref: LineRef, data: Dict[str, str]) -> None:
        stat = data.get("stat")
        relay_host, relay_ip = sendmail.parse_relay(data.get("relay", ""))
        mailer = data.get("mailer")
        if relay_host or relay_ip:
            relay = f"{relay_host or ''}[{relay_ip}]" if relay_ip else relay_host
        else:
            relay = mailer
        target = relay_ip or relay_host or ""
        for address in sendmail.split_addresses(data.get("to", "")):
            rcpt = tx.recipient(address)
            rcpt.mailer = mailer
            rcpt.relay = relay
            rcpt.delay = _sendmail_delay(data.get("delay"))
            if stat is None:
                continue
            status = sendmail.status_of(stat, data.get("dsn"))
            response = stat
            if stat.startswith(("Sent (", "Deferred: ")):
                response = stat.partition(" ")[2].strip("() ") if stat.startswith("Sent") else stat[10:]
            _set_outcome(rcpt, status, env, response, data.get("dsn"))
        if stat:
            tx.claims.extend(replies.next_hop_claims(stat, target, env.ts, ref))

    def _sm_reject(self, tx: Transaction, env: Envelope, data: Dict[str, str]) -> None:
        text = data.get("reject", "")
        ruleset = data.get("ruleset", "")
        host, ip = sendmail.parse_relay(data.get("relay", ""))
        tx.client = tx.client or host
        tx.client_ip = tx.client_ip or ip
        arg1 = sendmail.strip_address(data.get("arg1", ""))
        if ruleset == "check_rcpt" and arg1:
            _set_outcome(tx.recipient(arg1), "rejected", env, text, replies.dsn_in(text))
        elif ruleset == "check_mail" and tx.sender is None:
            tx.sender = arg1
        if not any(r.status not in ("rejected",) for r in tx.recipients.values()):
            tx.status = "rejected"
            tx.reason = text

    def _sm_child(self, tx: Transaction, env: Envelope, ref: LineRef, data: Dict[str, str]) -> None:
        what = data["what"]
        if what == "clone":
            tx.claims.append(LinkClaim("clone", data["child"], "", env.ts, ref))
            return
        tx.claims.append(LinkClaim("dsn", data["child"], "", env.ts, ref))
        if what == "return to sender" and "Cannot send message" in data["text"]:
            tx.reason = data["text"]
            for rcpt in tx.recipients.values():
                if rcpt.status not in _FINAL:
                    _set_outcome(rcpt, "expired", env, data["text"], rcpt.dsn)


def _keyed_as(tx: Transaction, mta: str, host: str, instance: str) -> bool:
    """True when `tx` is the one of (mta, host, instance) for its queue id. A Sendmail transaction is
    looked up as instance "sendmail" whatever program logged it (its instance is the program's
    name once known: see Correlator._sendmail); Sendmail ids are unique per host."""
    return tx.server == host and tx.mta == mta and (mta == "sendmail" or tx.instance == instance)


def _get_on_host(
    table: Dict[str, Transaction], elsewhere: Dict[Tuple[str, str], Transaction], host: str, key: str
) -> Optional[Transaction]:
    """The transaction of `key` on `host` in a table keyed by id (see Correlator.__init__)."""
    tx = table.get(key)
    if tx is not None and tx.server != host:
        return elsewhere.get((host, key))
    return tx


def _put_on_host(
    table: Dict[str, Transaction],
    elsewhere: Dict[Tuple[str, str], Transaction],
    host: str,
    key: str,
    tx: Transaction,
) -> None:
    known = table.get(key)
    if known is None or known.server == host:
        table[key] = tx
    else:
        elsewhere[(host, key)] = tx


def _set_outcome(
    rcpt: Recipient, status: str, env: Envelope, response: Optional[str], dsn: Optional[str]
) -> None:
    """Record a recipient's latest word: the last status line wins (deferred twice, then sent: sent)."""
    if rcpt.ts is not None and env.ts < rcpt.ts and rcpt.status in _FINAL:
        return  # an older retry read after the final word (files merged out of order)
    rcpt.status = status
    rcpt.response = response
    rcpt.dsn = dsn or replies.dsn_in(response or "") or rcpt.dsn
    rcpt.ts = env.ts
    rcpt.final_server = env.host


_POSTFIX_HANDLERS = {
    "client": Correlator._pf_client,
    "pickup": Correlator._pf_pickup,
    "queued": Correlator._pf_queued,
    "qmgr-status": Correlator._pf_qmgr_status,
    "message-id": Correlator._pf_message_id,
    "header": Correlator._pf_header,
    "milter": Correlator._pf_milter,
    "smtpd-action": Correlator._pf_action,
    "delivery": Correlator._pf_delivery,
    "notification": Correlator._pf_notification,
    "removed": Correlator._pf_removed,
}
