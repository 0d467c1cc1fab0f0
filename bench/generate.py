"""Deterministic generator of big, realistic Postfix / Sendmail syslog files for benchmarks.

    python bench/generate.py --size 100M --out /tmp/gen-100M.log [--seed 1]
        [--format postfix|sendmail|mixed] [--start 2023-12-31T18:00] [--rate 1.0]

Classic syslog lines (``Mmm dd hh:mm:ss host tag[pid]: text``, no year, so a range that crosses
New Year rolls over from ``Dec 31`` to ``Jan  1``). Timestamps never go backwards. Lines are
produced into one-second buckets: every message writes its lines into the buckets of the seconds
they happen in (retries hours or days later included) and a bucket is written out once the
simulation clock has passed it. Standard library only; the same seed gives the same bytes.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter, deque
from datetime import datetime, timezone
from typing import Callable, Deque, Dict, List, Tuple

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SMCH = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"  # sendmail queue id alphabet
HOST, SMHOST, MYIP = "mx1", "ns1", "192.0.2.10"
LOCAL_USERS = [
    f"{n}@example.com"
    for n in (
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "frank",
        "grace",
        "heidi",
        "ivan",
        "judy",
        "mallory",
        "boss",
        "sales",
        "info",
    )
]
EXT_DOMAINS = [
    "example.net",
    "example.org",
    "partner.example",
    "shop.example",
    "news.example",
    "bank.example",
    "travel.example",
    "git.example",
    "lists.example.net",
    "client.example",
]
EXT_LOCALS = [
    "anna",
    "billing",
    "noreply",
    "news",
    "support",
    "john.smith",
    "m.rossi",
    "orders",
    "notifications",
    "hr",
    "team",
    "events",
    "no-reply",
    "info",
    "lee",
]
SUBJECTS = [
    "Q1 figures",
    "Invoice {n}",
    "Re: meeting tomorrow",
    "Your order {n} has shipped",
    "[acme/infra] Pull request #{n}",
    "Weekly newsletter",
    "Password reset",
    "Re: Re: contract",
    "Fwd: photos",
    "Reminder: appointment",
    "Spring sale: 20% off",
    "Build #{n} failed",
    "Team lunch",
    "Statement for account {n}",
]
TLS_IN = (
    "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
    "server-signature RSA-PSS (2048 bits) server-digest SHA256"
)
# Mix of message kinds (weights in percent).
KINDS: List[Tuple[str, int]] = [
    ("delivered", 55),
    ("outbound", 10),
    ("local", 5),
    ("rejected", 15),
    ("deferred_sent", 4),
    ("expired", 1),
    ("bounced", 3),
    ("spam", 3),
    ("postscreen", 2),
    ("lost", 2),
]

Line = str  # "host tag[pid]: text", the timestamp is added when the bucket is written


def parse_size(text: str) -> int:
    """Parse ``100M``, ``1G``, ``512K`` or a plain byte count."""
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B")
    if text and text[-1] in mult:
        return int(float(text[:-1]) * mult[text[-1]])
    return int(text)


def fd(v: float) -> str:
    """Format a delay the way Postfix does (``0.07``, ``1.3``, ``12``)."""
    if v >= 10:
        return str(int(v + 0.5))
    s = (f"{v:.1f}" if v >= 1 else f"{v:.2f}").rstrip("0").rstrip(".")
    return s or "0"


def hms(sec: int) -> str:
    """Sendmail ``delay=`` format: ``HH:MM:SS`` or ``D+HH:MM:SS``."""
    d, r = divmod(sec, 86400)
    base = f"{r // 3600:02d}:{r % 3600 // 60:02d}:{r % 60:02d}"
    return f"{d}+{base}" if d else base


class Generator:
    """Simulates a busy MX and writes its log in time order."""

    def __init__(self, seed: int, fmt: str, start: datetime, rate: float) -> None:
        self.rng = random.Random(seed)
        self.fmt, self.rate = fmt, rate
        self.epoch0 = int(start.replace(tzinfo=timezone.utc).timestamp())
        self.buckets: Dict[int, List[Line]] = {}
        self.flushed = self.epoch0  # every second below this one has been written
        self.counts: Counter[str] = Counter()
        self.inode = self.rng.randrange(0x10000, 0x80000)
        self.reusable: Deque[Tuple[int, str]] = deque()  # (removed at, qid) for queue-id reuse
        self.nextpid = 20000
        self.pools = {
            k: [self._pid() for _ in range(n)]
            for k, n in (
                ("smtpd", 24),
                ("cleanup", 4),
                ("smtp", 10),
                ("lmtp", 3),
                ("amavis", 5),
                ("bounce", 2),
                ("sm", 6),
            )
        }
        self.amavis_seq: Dict[int, int] = {}
        self.ts_cache: Tuple[int, str] = (-1, "")
        kinds, weights = zip(*KINDS)
        self.kind_list = self.rng.choices(kinds, weights, k=4096)  # precomputed draw table
        self.ext = [f"{lp}@{d}" for lp in EXT_LOCALS for d in EXT_DOMAINS]
        self.clients = [
            (f"mail{i}.{d}" if i % 5 else "unknown", f"198.51.100.{i}" if i < 200 else f"203.0.113.{i - 200}")
            for i, d in ((i, EXT_DOMAINS[i % len(EXT_DOMAINS)]) for i in range(1, 254))
        ]

    # ------------------------------------------------------------------ helpers
    def _pid(self) -> int:
        self.nextpid += self.rng.randrange(1, 40)
        if self.nextpid > 4194000:
            self.nextpid = 3000
        return self.nextpid

    def pid(self, pool: str) -> int:
        p = self.pools[pool]
        i = self.rng.randrange(len(p))
        if self.rng.random() < 0.01:  # a process exits (max_use / idle), master spawns a new one
            p[i] = self._pid()
        return p[i]

    def qid(self, now: int) -> str:
        if self.reusable and self.reusable[0][0] < now - 60 and self.rng.random() < 0.02:
            return self.reusable.popleft()[1]  # short queue ids come back after `removed`
        self.inode += self.rng.randrange(1, 9)
        return f"{self.rng.randrange(1000000):05X}{self.inode:X}"

    def removed(self, t: int, q: str) -> None:
        if self.rng.random() < 0.05:
            self.reusable.append((t, q))
            if len(self.reusable) > 2000:
                self.reusable.popleft()

    def emit(self, t: int, line: Line) -> None:
        b = self.buckets.get(t)
        if b is None:
            self.buckets[t] = [line]
        else:
            b.append(line)

    def stamp(self, sec: int) -> str:
        if self.ts_cache[0] != sec:
            d = datetime.fromtimestamp(sec, timezone.utc)
            self.ts_cache = (
                sec,
                f"{MONTHS[d.month - 1]} {d.day:2d} {d.hour:02d}:{d.minute:02d}:{d.second:02d} ",
            )
        return self.ts_cache[1]

    def flush(self, upto: int, out: List[str]) -> int:
        """Move every bucket older than ``upto`` into ``out`` (as text); returns the characters added."""
        buckets, stamp, added = self.buckets, self.stamp, 0
        for sec in range(self.flushed, upto):
            b = buckets.pop(sec, None)
            if b:
                ts = stamp(sec)
                text = ts + ("\n" + ts).join(b) + "\n"
                out.append(text)
                added += len(text)
        self.flushed = max(self.flushed, upto)
        return added

    # ------------------------------------------------------------------ postfix pieces
    def pf(self, tag: str, pid: int, text: str) -> Line:
        return f"{HOST} postfix/{tag}[{pid}]: {text}"

    def session(self, t: int, rcpts: List[str], sender: str, submission: bool) -> Tuple[str, str, int, int]:
        """smtpd connect + client= + cleanup + qmgr + disconnect; returns (qid, msgid, size, t)."""
        r, emit, pf = self.rng, self.emit, self.pf
        if submission:
            tag, cname, cip = "submission/smtpd", "unknown", f"203.0.113.{r.randrange(100, 200)}"
        else:
            tag = "smtpd"
            cname, cip = self.clients[r.randrange(len(self.clients))]
            emit(
                t,
                f"{HOST} postfix/postscreen[{self.pools['smtpd'][0] - 1}]: CONNECT from [{cip}]:"
                f"{r.randrange(1024, 65535)} to [{MYIP}]:25",
            )
        client = f"{cname}[{cip}]"
        sp, cl = self.pid("smtpd"), self.pid("cleanup")
        q = self.qid(t)
        emit(t, pf(tag, sp, f"connect from {client}"))
        tls = r.random() < 0.7
        if tls:
            emit(t, pf(tag, sp, f"Anonymous TLS connection established from {client}: {TLS_IN}"))
        t += r.randrange(0, 2)
        sasl = f", sasl_method=PLAIN, sasl_username={sender}" if submission else ""
        emit(t, pf(tag, sp, f"{q}: client={client}{sasl}"))
        msgid = f"<{r.getrandbits(48):012x}.{q}@{sender.split('@')[-1]}>"
        emit(t, pf("cleanup", cl, f"{q}: message-id={msgid}"))
        subj = SUBJECTS[r.randrange(len(SUBJECTS))].format(n=r.randrange(1000, 99999))
        emit(
            t,
            pf(
                "cleanup",
                cl,
                f"{q}: info: header Subject: {subj} from {client}; from=<{sender}> "
                f"to=<{rcpts[0]}> proto=ESMTP helo=<{cname if cname != 'unknown' else cip}>",
            ),
        )
        size = r.randrange(900, 90000)
        n = len(rcpts)
        emit(t, pf("qmgr", 812, f"{q}: from=<{sender}>, size={size}, nrcpt={n} (queue active)"))
        cmds = (
            f"ehlo=2 starttls=1 mail=1 rcpt={n} data=1 quit=1 commands={6 + n}"
            if tls
            else f"ehlo=1 mail=1 rcpt={n} data=1 quit=1 commands={4 + n}"
        )
        emit(t, pf(tag, sp, f"disconnect from {client} {cmds}"))
        return q, msgid, size, t

    def deliver_lmtp(self, t: int, q: str, rcpts: List[str], delay: float) -> None:
        lm = self.pid("lmtp")
        for r_ in rcpts:
            sess = f"{self.rng.getrandbits(96):024x}"
            self.emit(
                t,
                self.pf(
                    "lmtp",
                    lm,
                    f"{q}: to=<{r_}>, relay={HOST}.example.com[private/dovecot-lmtp], "
                    f"delay={fd(delay)}, delays={fd(delay * 0.6)}/0/0.01/0.03, dsn=2.0.0, "
                    f"status=sent (250 2.0.0 <{r_}> {sess} Saved)",
                ),
            )
        self.emit(t, self.pf("qmgr", 812, f"{q}: removed"))
        self.removed(t, q)

    def ndr(self, t: int, q: str, sender: str) -> None:
        n = self.qid(t)
        dt = datetime.fromtimestamp(t, timezone.utc)
        self.emit(
            t,
            self.pf(
                "cleanup", self.pid("cleanup"), f"{n}: message-id=<{dt:%Y%m%d%H%M%S}.{n}@{HOST}.example.com>"
            ),
        )
        self.emit(t, self.pf("bounce", self.pid("bounce"), f"{q}: sender non-delivery notification: {n}"))
        self.emit(
            t,
            self.pf(
                "qmgr", 812, f"{n}: from=<>, size={self.rng.randrange(2500, 9000)}, nrcpt=1 (queue active)"
            ),
        )
        self.emit(t, self.pf("qmgr", 812, f"{q}: removed"))
        self.removed(t, q)
        if sender.endswith("@example.com"):
            self.deliver_lmtp(t, n, [sender], 0.05)
        else:
            self.emit(
                t + 1,
                self.pf(
                    "smtp",
                    self.pid("smtp"),
                    f"{n}: to=<{sender}>, relay=mx.{sender.split('@')[1]}"
                    f"[198.51.100.40]:25, delay=0.8, delays=0/0.01/0.4/0.39, "
                    "dsn=2.0.0, status=sent (250 2.0.0 Ok)",
                ),
            )
            self.emit(t + 1, self.pf("qmgr", 812, f"{n}: removed"))

    # ------------------------------------------------------------------ message kinds
    def k_delivered(self, t: int) -> None:
        r = self.rng
        sender = self.ext[r.randrange(len(self.ext))]
        rcpts = [LOCAL_USERS[r.randrange(len(LOCAL_USERS))]] if r.random() < 0.9 else r.sample(LOCAL_USERS, 2)
        q, msgid, size, t = self.session(t, rcpts, sender, False)
        t += r.randrange(1, 3)
        new = self.qid(t)
        sp2, cl = self.pid("smtpd"), self.pid("cleanup")
        emit, pf = self.emit, self.pf
        emit(t, pf("smtpd", sp2, "connect from localhost[127.0.0.1]"))
        emit(t, pf("smtpd", sp2, f"{new}: client=localhost[127.0.0.1], orig_queue_id={q}"))
        emit(t, pf("cleanup", cl, f"{new}: message-id={msgid}"))
        emit(
            t,
            pf("qmgr", 812, f"{new}: from=<{sender}>, size={size + 800}, nrcpt={len(rcpts)} (queue active)"),
        )
        ap = self.pid("amavis")
        seq = self.amavis_seq[ap] = self.amavis_seq.get(ap, 0) + 1
        hits = f"{r.uniform(-3, 4.9):.3f}"
        rl = ",".join(f"<{x}>" for x in rcpts)
        emit(
            t,
            f"{HOST} amavis[{ap}]: ({ap:05d}-{seq % 100:02d}) Passed CLEAN {{RelayedInbound}}, [198.51.100.1]:"
            f"{r.randrange(1024, 65535)} [198.51.100.1] <{sender}> -> {rl}, Queue-ID: {q}, Message-ID: "
            f"{msgid}, mail_id: {r.getrandbits(60):015x}, Hits: {hits}, size: {size}, queued_as: {new}, "
            f"{r.randrange(200, 3000)} ms",
        )
        sm = self.pid("smtp")
        for x in rcpts:
            emit(
                t,
                pf(
                    "smtp",
                    sm,
                    f"{q}: to=<{x}>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.3, "
                    "delays=0.05/0/0.01/1.2, dsn=2.0.0, status=sent (250 2.0.0 from "
                    f"MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as {new})",
                ),
            )
        emit(t, pf("qmgr", 812, f"{q}: removed"))
        self.removed(t, q)
        emit(
            t,
            pf(
                "smtpd",
                sp2,
                f"disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt={len(rcpts)} data=1 "
                f"quit=1 commands={4 + len(rcpts)}",
            ),
        )
        self.deliver_lmtp(t, new, rcpts, 0.05)

    def outbound_attempts(self, t: int, q: str, sender: str, rcpt: str, size: int, outcome: str) -> None:
        """Delivery attempts of one outbound recipient: sent / deferred* then sent or expired / bounced."""
        r, emit, pf = self.rng, self.emit, self.pf
        dom = rcpt.split("@")[1]
        relay = f"mx.{dom}[198.51.100.{r.randrange(2, 250)}]:25"
        t0 = t
        if outcome in ("deferred_sent", "expired"):
            waits = [r.randrange(300, 1200), 1800, 3600, 4000, 4000, 4000, 4000, 4000]
            tries = r.randrange(2, 8) if outcome == "deferred_sent" else 10**9
            i = 0
            while tries > 0 and t - t0 < 5 * 86400:
                sp = self.pid("smtp")
                if r.random() < 0.5:
                    emit(t + 30, pf("smtp", sp, f"connect to {relay[:-3]}:25: Connection timed out"))
                    emit(
                        t + 30,
                        pf(
                            "smtp",
                            sp,
                            f"{q}: to=<{rcpt}>, relay=none, delay={t + 30 - t0}, delays="
                            f"{t - t0}/0.01/30/0, dsn=4.4.1, status=deferred (connect to "
                            f"{relay[:-3]}:25: Connection timed out)",
                        ),
                    )
                else:
                    emit(
                        t + 1,
                        pf(
                            "smtp",
                            sp,
                            f"{q}: to=<{rcpt}>, relay={relay}, delay={t + 1 - t0}, delays="
                            f"{t - t0}/0.01/0.4/0.5, dsn=4.7.1, status=deferred (host "
                            f"{relay[:-3]} said: 451 4.7.1 Greylisted, please try again later "
                            "(in reply to RCPT TO command))",
                        ),
                    )
                t += waits[min(i, len(waits) - 1)]
                i += 1
                tries -= 1
                emit(t, pf("qmgr", 812, f"{q}: from=<{sender}>, size={size}, nrcpt=1 (queue active)"))
            if outcome == "expired":
                emit(t, pf("qmgr", 812, f"{q}: from=<{sender}>, status=expired, returned to sender"))
                self.ndr(t, q, sender)
                return
        sp = self.pid("smtp")
        if outcome == "bounced":
            emit(
                t + 1,
                pf(
                    "smtp",
                    sp,
                    f"{q}: to=<{rcpt}>, relay={relay}, delay={fd(t + 0.9 - t0)}, delays=0.05/0.01/"
                    f"0.5/0.3, dsn=5.1.1, status=bounced (host {relay[:-3]} said: 550 5.1.1 <{rcpt}>: "
                    "Recipient address rejected: User unknown (in reply to RCPT TO command))",
                ),
            )
            self.ndr(t + 1, q, sender)
            return
        emit(
            t + 1,
            pf(
                "smtp",
                sp,
                f"{q}: to=<{rcpt}>, relay={relay}, delay={fd(t + 0.8 - t0)}, delays=0.05/0.01/0.4/"
                f"0.3, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "
                f"{r.getrandbits(40):010X})",
            ),
        )
        emit(t + 1, pf("qmgr", 812, f"{q}: removed"))
        self.removed(t + 1, q)

    def k_outbound(self, t: int, outcome: str = "sent") -> None:
        r = self.rng
        sender = LOCAL_USERS[r.randrange(len(LOCAL_USERS))]
        rcpt = self.ext[r.randrange(len(self.ext))]
        q, _, size, t = self.session(t, [rcpt], sender, True)
        self.outbound_attempts(t + 1, q, sender, rcpt, size, outcome)

    def k_local(self, t: int) -> None:
        r, emit, pf = self.rng, self.emit, self.pf
        q = self.qid(t)
        user = ("alice", "root", "www-data", "backup")[r.randrange(4)]
        uid = {"alice": 1000, "root": 0, "www-data": 33, "backup": 34}[user]
        emit(t, pf("pickup", 22950, f"{q}: uid={uid} from=<{user}>"))
        dt = datetime.fromtimestamp(t, timezone.utc)
        emit(
            t,
            pf("cleanup", self.pid("cleanup"), f"{q}: message-id=<{dt:%Y%m%d%H%M%S}.{q}@{HOST}.example.com>"),
        )
        emit(
            t,
            pf(
                "qmgr",
                812,
                f"{q}: from=<{user}@{HOST}.example.com>, size={r.randrange(400, 4000)}, "
                "nrcpt=1 (queue active)",
            ),
        )
        emit(
            t,
            pf(
                "local",
                self.pid("lmtp") + 1,
                f"{q}: to=<alice@{HOST}.example.com>, orig_to=<root>, relay=local, "
                "delay=0.03, delays=0.02/0/0/0.01, dsn=2.0.0, status=sent "
                "(delivered to mailbox)",
            ),
        )
        emit(t, pf("qmgr", 812, f"{q}: removed"))
        self.removed(t, q)

    def k_rejected(self, t: int) -> None:
        r, emit, pf = self.rng, self.emit, self.pf
        cname, cip = self.clients[r.randrange(len(self.clients))]
        sp = self.pid("smtpd")
        sender = self.ext[r.randrange(len(self.ext))]
        rc = LOCAL_USERS[r.randrange(len(LOCAL_USERS))]
        helo = cname if cname != "unknown" else "localhost"
        why = r.randrange(4)
        if why == 0:
            rc = self.ext[r.randrange(len(self.ext))]
            text = f"554 5.7.1 <{rc}>: Relay access denied"
        elif why == 1:
            text = (
                f"554 5.7.1 Service unavailable; Client host [{cip}] blocked using zen.spamhaus.org; "
                f"https://www.spamhaus.org/query/ip/{cip}"
            )
        elif why == 2:
            helo = "localhost"
            text = "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname"
        else:
            rc = f"nosuch{r.randrange(100)}@example.com"
            text = f"550 5.1.1 <{rc}>: Recipient address rejected: User unknown in virtual mailbox table"
        client = f"{cname}[{cip}]"
        emit(t, pf("smtpd", sp, f"connect from {client}"))
        emit(
            t + 1,
            pf(
                "smtpd",
                sp,
                f"NOQUEUE: reject: RCPT from {client}: {text}; from=<{sender}> to=<{rc}> "
                f"proto=ESMTP helo=<{helo}>",
            ),
        )
        emit(t + 1, pf("smtpd", sp, f"disconnect from {client} ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4"))

    def k_spam(self, t: int) -> None:
        r = self.rng
        sender = f"winner{r.randrange(999)}@lottery.example"
        rc = LOCAL_USERS[r.randrange(len(LOCAL_USERS))]
        q, msgid, size, t = self.session(t, [rc], sender, False)
        t += r.randrange(1, 4)
        ap = self.pid("amavis")
        seq = self.amavis_seq[ap] = self.amavis_seq.get(ap, 0) + 1
        mid = f"{r.getrandbits(60):015x}"
        self.emit(
            t,
            f"{HOST} amavis[{ap}]: ({ap:05d}-{seq % 100:02d}) Blocked SPAM {{DiscardedInbound,Quarantined}}, "
            f"[203.0.113.45]:52311 [203.0.113.45] <{sender}> -> <{rc}>, quarantine: spam-{mid}.gz, "
            f"Queue-ID: {q}, Message-ID: {msgid}, mail_id: {mid}, Hits: {r.uniform(6.5, 40):.3f}, "
            f"size: {size}, 2345 ms",
        )
        self.emit(
            t,
            self.pf(
                "smtp",
                self.pid("smtp"),
                f"{q}: to=<{rc}>, relay=127.0.0.1[127.0.0.1]:10024, delay=2.4, "
                f"delays=0.05/0/0.01/2.3, dsn=2.7.0, status=sent (250 2.7.0 Ok, "
                f"discarded, id={ap:05d}-{seq % 100:02d} - spam)",
            ),
        )
        self.emit(t, self.pf("qmgr", 812, f"{q}: removed"))
        self.removed(t, q)

    def k_postscreen(self, t: int) -> None:
        ip = f"203.0.113.{self.rng.randrange(1, 255)}"
        port = self.rng.randrange(1024, 65535)
        ps = f"{HOST} postfix/postscreen[{self.pools['smtpd'][0] - 1}]: "
        self.emit(t, f"{ps}CONNECT from [{ip}]:{port} to [{MYIP}]:25")
        self.emit(t, f"{ps}PREGREET 11 after 0.07 from [{ip}]:{port}: EHLO User\\r\\n")
        self.emit(t + 1, f"{ps}DISCONNECT [{ip}]:{port}")

    def k_lost(self, t: int) -> None:
        cname, cip = self.clients[self.rng.randrange(len(self.clients))]
        sp = self.pid("smtpd")
        self.emit(t, self.pf("smtpd", sp, f"connect from {cname}[{cip}]"))
        self.emit(t + 5, self.pf("smtpd", sp, f"lost connection after EHLO from {cname}[{cip}]"))
        self.emit(t + 5, self.pf("smtpd", sp, f"disconnect from {cname}[{cip}] ehlo=1 commands=1"))

    # ------------------------------------------------------------------ sendmail
    def sendmail(self, t: int, kind: str) -> None:
        r, emit = self.rng, self.emit
        d = datetime.fromtimestamp(t, timezone.utc)
        pid = self._pid()
        q = (
            SMCH[(d.year - 1900) % 60]
            + SMCH[d.month - 1]
            + SMCH[d.day]
            + SMCH[d.hour]
            + SMCH[d.minute]
            + SMCH[d.second]
            + SMCH[r.randrange(60)]
            + SMCH[r.randrange(60)]
            + f"{pid:06d}"
        )
        tag = f"{SMHOST} sendmail[{pid}]: "
        if kind == "rejected":
            emit(
                t,
                f"{tag}{q}: ruleset=check_rcpt, arg1=<victim@example.net>, relay=[203.0.113.66], "
                "reject=550 5.7.1 <victim@example.net>... Relaying denied",
            )
            emit(t + 1, f"{tag}{q}: lost input channel from [203.0.113.66] to MTA after rcpt")
            return
        sender = self.ext[r.randrange(len(self.ext))]
        rc = LOCAL_USERS[r.randrange(len(LOCAL_USERS))]
        size = r.randrange(900, 90000)
        emit(
            t,
            f"{tag}{q}: from=<{sender}>, size={size}, class=0, nrcpts=1, msgid=<{r.getrandbits(48):012x}@"
            f"{sender.split('@')[1]}>, proto=ESMTP, daemon=MTA, relay=mail.{sender.split('@')[1]} [198.51.100.7]",
        )
        dpid = self._pid()
        if kind in ("deferred_sent", "expired"):
            emit(
                t + 30,
                f"{SMHOST} sendmail[{dpid}]: {q}: to=<{rc}>, delay=00:00:30, xdelay=00:00:30, "
                f"mailer=esmtp, pri={30000 + size}, relay=mail2.example.com. [10.0.0.2], dsn=4.0.0, "
                "stat=Deferred: Connection timed out with mail2.example.com.",
            )
            t += 3600
        stat = "User unknown" if kind == "bounced" else "Sent"
        dsn = "5.1.1" if kind == "bounced" else "2.0.0"
        emit(
            t + 1,
            f"{SMHOST} sendmail[{dpid}]: {q}: to=<{rc}>, delay={hms(t + 1 - int(d.timestamp()))}, "
            f"xdelay=00:00:01, mailer=local, pri={30000 + size}, dsn={dsn}, stat={stat}",
        )

    # ------------------------------------------------------------------ main loop
    def run(self, size: int, write: Callable[[str], None]) -> int:
        r = self.rng
        out: List[str] = []
        pending = written = 0
        t = float(self.epoch0)
        kinds = {
            "delivered": self.k_delivered,
            "outbound": self.k_outbound,
            "local": self.k_local,
            "rejected": self.k_rejected,
            "spam": self.k_spam,
            "postscreen": self.k_postscreen,
            "lost": self.k_lost,
            "deferred_sent": lambda s: self.k_outbound(s, "deferred_sent"),
            "expired": lambda s: self.k_outbound(s, "expired"),
            "bounced": lambda s: self.k_outbound(s, "bounced"),
        }
        next_cron = self.epoch0 - self.epoch0 % 3600 + 17 * 60
        n = 0
        while written + pending < size:
            t += r.expovariate(self.rate)
            sec = int(t)
            kind = self.kind_list[n & 4095] if n & 4096 == 0 else self.kind_list[r.randrange(4096)]
            n += 1
            use_sm = self.fmt == "sendmail" or (self.fmt == "mixed" and n % 3 == 0)
            if use_sm:
                k = kind if kind in ("rejected", "deferred_sent", "expired", "bounced") else "delivered"
                self.sendmail(sec, k)
                self.counts[f"sendmail:{k}"] += 1
            else:
                kinds[kind](sec)
                self.counts[kind] += 1
            if r.random() < 0.15:
                self.emit(
                    sec,
                    f"{HOST} dovecot: imap-login: Login: user=<{LOCAL_USERS[n % len(LOCAL_USERS)]}>, "
                    f"method=PLAIN, rip=203.0.113.{n % 250}, lip={MYIP}, mpid={self._pid()}, TLS, "
                    f"session=<{r.getrandbits(72):018x}>",
                )
            if r.random() < 0.01:
                self.emit(
                    sec,
                    f"{HOST} kernel: [{(sec - self.epoch0) + 86400:.6f}] [UFW BLOCK] IN=eth0 OUT= "
                    f"SRC=203.0.113.{n % 250} DST={MYIP} LEN=44 TTL=243 PROTO=TCP SPT={n % 60000 + 1024} DPT=23",
                )
            while next_cron <= sec:
                self.emit(
                    next_cron,
                    f"{HOST} CRON[{self._pid()}]: (root) CMD (cd / && run-parts --report /etc/cron.hourly)",
                )
                next_cron += 3600
            if sec > self.flushed:
                pending += self.flush(sec, out)
                if pending >= 1 << 22:  # write in ~4 MiB pieces
                    write("".join(out))
                    out.clear()
                    written += pending
                    pending = 0
        # End of the file: what happens after the last second stays in the queue (never logged here).
        self.flush(int(t) + 1, out)
        chunk = "".join(out)
        write(chunk)
        return written + len(chunk)


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", required=True, help="approximate output size: 500K, 100M, 1G")
    ap.add_argument("--out", required=True, help="output file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=("postfix", "sendmail", "mixed"), default="postfix")
    ap.add_argument("--start", default="2023-12-31T18:00", help="start time (UTC), YYYY-MM-DD[THH:MM]")
    ap.add_argument("--rate", type=float, default=1.0, help="new messages per second (default 1.0)")
    a = ap.parse_args(argv)
    start = datetime.fromisoformat(a.start)
    gen = Generator(a.seed, a.format, start, a.rate)
    t0 = time.perf_counter()
    with open(a.out, "w", encoding="ascii", newline="\n", buffering=1 << 22) as f:
        total = gen.run(parse_size(a.size), f.write)
    dt = time.perf_counter() - t0
    end = datetime.fromtimestamp(gen.flushed - 1, timezone.utc)
    print(
        f"wrote {total:,} bytes to {a.out} in {dt:.2f} s ({total / dt / 1e6:.1f} MB/s), "
        f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M:%S} UTC",
        file=sys.stderr,
    )
    for k, v in sorted(gen.counts.items(), key=lambda kv: -kv[1]):
        print(f"  {k:<22} {v:>10,}", file=sys.stderr)
    print(f"  {'messages':<22} {sum(gen.counts.values()):>10,}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
