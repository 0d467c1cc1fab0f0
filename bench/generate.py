"""Deterministic generator of big, realistic Postfix / Sendmail syslog files for benchmarks.

    python bench/generate.py --size 100M --out /tmp/gen-100M.log [--seed 1]
        [--format postfix|sendmail|mixed] [--start 2023-12-31T18:00] [--rate 1.0]

Classic syslog lines (``Mmm dd hh:mm:ss host tag[pid]: text``, no year, so a range that crosses
New Year rolls over from ``Dec 31`` to ``Jan  1``), all times UTC, never going backwards.
Every message writes its lines into one-second buckets (retries hours or days later included);
a bucket is written once the simulation clock has passed it. What would happen after the last
second stays "in the queue" and is not written. Standard library only; same seed, same bytes.
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
SMCH = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"  # sendmail queue-id alphabet
HOST, SMHOST, MYIP = "mx1", "ns1", "192.0.2.10"
STAMP = "%s %2d %02d:%02d:%02d "
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
         "boss", "sales", "info"]  # fmt: skip
LOCAL = [f"{u}@example.com" for u in USERS]
DOMAINS = ["example.net", "example.org", "partner.example", "shop.example", "news.example", "bank.example",
           "travel.example", "git.example", "lists.example.net", "client.example"]  # fmt: skip
LOCALPARTS = ["anna", "billing", "noreply", "news", "support", "john.smith", "orders", "notifications", "hr",
              "team", "lee"]  # fmt: skip
EXTERNAL = [f"{lp}@{d}" for lp in LOCALPARTS for d in DOMAINS]
SUBJECTS = [
    "Q1 figures", "Invoice %d", "Re: meeting tomorrow", "Your order %d has shipped",
    "[acme/infra] Pull request #%d", "Weekly newsletter %d", "Password reset", "Re: Re: contract %d",
    "Fwd: photos", "Reminder: appointment", "Spring sale: 20%% off", "Build #%d failed",
]  # fmt: skip
KINDS: List[Tuple[str, int]] = [
    ("delivered", 55), ("outbound", 10), ("local", 5), ("rejected", 15), ("deferred_sent", 4),
    ("expired", 1), ("bounced", 3), ("spam", 3), ("postscreen", 2), ("lost", 2),
]  # fmt: skip
# fmt: off
TLS_IN = ("Anonymous TLS connection established from %s: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
    "(256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256")
SUBJ = "%s: info: header Subject: %s from %s; from=<%s> to=<%s> proto=ESMTP helo=<%s>"
QACTIVE = "%s: from=<%s>, size=%d, nrcpt=%d (queue active)"
AMAVIS_OK = ("(%05d-%02d) Passed CLEAN {RelayedInbound}, [%s]:%d [%s] <%s> -> %s, Queue-ID: %s, "
    "Message-ID: %s, mail_id: %015x, Hits: %.3f, size: %d, queued_as: %s, %d ms")
AMAVIS_SPAM = ("(%05d-%02d) Blocked SPAM {DiscardedInbound,Quarantined}, [%s]:%d [%s] <%s> -> <%s>, "
    "quarantine: spam-%s.gz, Queue-ID: %s, Message-ID: %s, mail_id: %s, Hits: %.3f, size: %d, %d ms")
TO_AMAVIS = ("%s: to=<%s>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.3, delays=0.05/0/0.01/1.2, dsn=2.0.0, "
    "status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as %s)")
SPAM_SENT = ("%s: to=<%s>, relay=127.0.0.1[127.0.0.1]:10024, delay=2.4, delays=0.05/0/0.01/2.3, dsn=2.7.0, "
    "status=sent (250 2.7.0 Ok, discarded, id=%05d-%02d - spam)")
LMTP = ("%s: to=<%s>, relay=" + HOST + ".example.com[private/dovecot-lmtp], delay=%s, "
    "delays=%s/0/0.01/0.03, dsn=2.0.0, status=sent (250 2.0.0 <%s> %024x Saved)")
SMTP_SENT = "%s: to=<%s>, relay=%s, delay=%s, delays=%s/0.01/0.4/0.3, dsn=2.0.0, status=sent (250 2.0.0 %s)"
SMTP_BOUNCED = ("%s: to=<%s>, relay=%s, delay=%s, delays=%s/0.01/0.5/0.3, dsn=5.1.1, status=bounced (host "
    "%s said: 550 5.1.1 <%s>: Recipient address rejected: User unknown (in reply to RCPT TO command))")
DEF_TIMEOUT = ("%s: to=<%s>, relay=none, delay=%d, delays=%d/0.01/30/0, dsn=4.4.1, status=deferred "
    "(connect to %s:25: Connection timed out)")
DEF_GREY = ("%s: to=<%s>, relay=%s, delay=%d, delays=%d/0.01/0.4/0.5, dsn=4.7.1, status=deferred (host %s "
    "said: 451 4.7.1 Greylisted, please try again later (in reply to RCPT TO command))")
LOCAL_TO = ("%s: to=<alice@" + HOST + ".example.com>, orig_to=<%s>, relay=local, delay=0.03, "
    "delays=0.02/0/0/0.01, dsn=2.0.0, status=sent (delivered to mailbox)")
REJECTS = ("554 5.7.1 <%(rcpt)s>: Relay access denied",
    "554 5.7.1 Service unavailable; Client host [%(ip)s] blocked using zen.spamhaus.org; "
    "https://www.spamhaus.org/query/ip/%(ip)s",
    "504 5.5.2 <%(helo)s>: Helo command rejected: need fully-qualified hostname",
    "550 5.1.1 <%(rcpt)s>: Recipient address rejected: User unknown in virtual mailbox table",)
NOQUEUE = "NOQUEUE: reject: RCPT from %s: %s; from=<%s> to=<%s> proto=ESMTP helo=<%s>"
SM_FROM = "%s: from=<%s>, size=%d, class=0, nrcpts=1, msgid=<%012x@%s>, proto=ESMTP, daemon=MTA, relay=%s"
SM_TO = "%s: to=<%s>, delay=%s, xdelay=00:00:01, mailer=local, pri=%d, dsn=%s, stat=%s"
SM_DEFER = ("%s: to=<%s>, delay=00:00:30, xdelay=00:00:30, mailer=esmtp, pri=%d, relay=mail2.example.com. "
    "[10.0.0.2], dsn=4.0.0, stat=Deferred: Connection timed out with mail2.example.com.")
SM_REJECT = ("%s: ruleset=check_rcpt, arg1=<victim@example.net>, relay=[203.0.113.66], reject=550 5.7.1 "
    "<victim@example.net>... Relaying denied")
DOVECOT = ("imap-login: Login: user=<%s>, method=PLAIN, rip=203.0.113.%d, lip=%s, mpid=%d, TLS, "
    "session=<%018x>")
KERNEL = "[%d.%06d] [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.%d DST=%s LEN=44 TTL=243 PROTO=TCP SPT=%d DPT=23"
# fmt: on


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
    """Simulates a busy MX (amavis content filter, dovecot LMTP) and writes its log in time order."""

    def __init__(self, seed: int, fmt: str, start: datetime, rate: float) -> None:
        self.rng = r = random.Random(seed)
        self.fmt, self.rate = fmt, rate
        self.epoch0 = int(start.replace(tzinfo=timezone.utc).timestamp())
        self.buckets: Dict[int, List[str]] = {}
        self.flushed = self.epoch0  # every second before this one has been written
        self.counts: Counter[str] = Counter()
        self.inode = r.randrange(0x10000, 0x80000)
        self.reusable: Deque[Tuple[int, str]] = deque()  # (removed at, qid): short ids come back
        self.nextpid = 20000
        sizes = {"smtpd": 24, "cleanup": 4, "smtp": 10, "lmtp": 3, "amavis": 5, "bounce": 2, "local": 2}
        self.pools = {k: [self.newpid() for _ in range(n)] for k, n in sizes.items()}
        self.amavis_seq: Dict[int, int] = {}
        self.last_ip = "198.51.100.1"  # client address of the last smtpd session (for amavis lines)
        self.stamp_cache: Tuple[int, str] = (-1, "")
        kinds, weights = zip(*KINDS)
        self.kind_table = r.choices(kinds, weights, k=4096)
        self.clients = [(f"mail{i}.{DOMAINS[i % len(DOMAINS)]}" if i % 5 else "unknown", f"198.51.100.{i}")
                        for i in range(1, 250)]  # fmt: skip

    # ------------------------------------------------------------------ helpers
    def newpid(self) -> int:
        self.nextpid = self.nextpid + self.rng.randrange(1, 40) if self.nextpid < 4190000 else 3000
        return self.nextpid

    def pid(self, pool: str) -> int:
        """A pid from a pool of long-lived processes; now and then one exits and a new one starts."""
        p = self.pools[pool]
        i = self.rng.randrange(len(p))
        if self.rng.random() < 0.01:
            p[i] = self.newpid()
        return p[i]

    def qid(self, now: int) -> str:
        """Short hex queue id: 5 hex digits of microseconds + inode number; rarely a reused one."""
        if self.reusable and self.reusable[0][0] < now - 60 and self.rng.random() < 0.02:
            return self.reusable.popleft()[1]
        self.inode += self.rng.randrange(1, 9)
        return f"{self.rng.randrange(1000000):05X}{self.inode:X}"

    def removed(self, t: int, q: str) -> None:
        self.e(t, "qmgr", 812, q + ": removed")
        if self.rng.random() < 0.05:
            self.reusable.append((t, q))
            if len(self.reusable) > 2000:
                self.reusable.popleft()

    def e(self, t: int, prog: str, pid: int, text: str) -> None:
        """Emit one Postfix line at second ``t``."""
        self.raw(t, f"{HOST} postfix/{prog}[{pid}]: {text}")

    def raw(self, t: int, line: str) -> None:
        b = self.buckets.get(t)
        if b is None:
            self.buckets[t] = [line]
        else:
            b.append(line)

    def stamp(self, sec: int) -> str:
        if self.stamp_cache[0] != sec:
            d = datetime.fromtimestamp(sec, timezone.utc)
            stamp = STAMP % (MONTHS[d.month - 1], d.day, d.hour, d.minute, d.second)
            self.stamp_cache = (sec, stamp)
        return self.stamp_cache[1]

    def flush(self, upto: int, out: List[str]) -> int:
        """Move the buckets of every second before ``upto`` into ``out``; returns characters added."""
        added = 0
        for sec in range(self.flushed, upto):
            b = self.buckets.pop(sec, None)
            if b:
                ts = self.stamp(sec)
                text = ts + ("\n" + ts).join(b) + "\n"
                out.append(text)
                added += len(text)
        self.flushed = max(self.flushed, upto)
        return added

    def msgid(self, q: str, dom: str) -> str:
        return f"<{self.rng.getrandbits(48):012x}.{q}@{dom}>"

    # ------------------------------------------------------------------ postfix building blocks
    def session(self, t: int, rcpts: List[str], sender: str, submission: bool) -> Tuple[str, str, int, int]:
        """smtpd connect, client=, cleanup, qmgr, disconnect; returns (qid, message-id, size, time)."""
        r, e = self.rng, self.e
        if submission:
            tag, cname, cip = "submission/smtpd", "unknown", f"203.0.113.{r.randrange(100, 200)}"
        else:
            tag = "smtpd"
            cname, cip = self.clients[r.randrange(len(self.clients))]
            port = r.randrange(1024, 65535)
            e(t, "postscreen", 1811, f"CONNECT from [{cip}]:{port} to [{MYIP}]:25")
        client, self.last_ip = f"{cname}[{cip}]", cip
        sp, cl, q = self.pid("smtpd"), self.pid("cleanup"), self.qid(t)
        e(t, tag, sp, "connect from " + client)
        tls = r.random() < 0.7
        if tls:
            e(t, tag, sp, TLS_IN % client)
        t += r.randrange(0, 2)
        sasl = ", sasl_method=PLAIN, sasl_username=" + sender if submission else ""
        e(t, tag, sp, f"{q}: client={client}{sasl}")
        msgid = self.msgid(q, sender.split("@")[-1])
        e(t, "cleanup", cl, f"{q}: message-id={msgid}")
        subj = SUBJECTS[r.randrange(len(SUBJECTS))]
        subj = subj % r.randrange(1000, 99999) if "%d" in subj else subj.replace("%%", "%")
        helo = cip if cname == "unknown" else cname
        e(t, "cleanup", cl, SUBJ % (q, subj, client, sender, rcpts[0], helo))
        size, n = r.randrange(900, 90000), len(rcpts)
        e(t, "qmgr", 812, QACTIVE % (q, sender, size, n))
        auth = "auth=1 " if submission else ""
        tl, c = ("ehlo=2 starttls=1 ", 6) if tls else ("ehlo=1 ", 4)
        cmds = f"{tl}{auth}mail=1 rcpt={n} data=1 quit=1 commands={c + n + bool(auth)}"
        e(t, tag, sp, f"disconnect from {client} {cmds}")
        return q, msgid, size, t

    def lmtp(self, t: int, q: str, rcpts: List[str]) -> None:
        lm = self.pid("lmtp")
        for x in rcpts:
            d = self.rng.randrange(3, 40) / 100
            self.e(t, "lmtp", lm, LMTP % (q, x, fd(d), fd(d * 0.5), x, self.rng.getrandbits(96)))
        self.removed(t, q)

    def ndr(self, t: int, q: str, sender: str) -> None:
        """Non-delivery notification for ``q`` and the NDR's own delivery."""
        n = self.qid(t)
        d = datetime.fromtimestamp(t, timezone.utc)
        mid = f"<{d:%Y%m%d%H%M%S}.{n}@{HOST}.example.com>"
        self.e(t, "cleanup", self.pid("cleanup"), f"{n}: message-id={mid}")
        self.e(t, "bounce", self.pid("bounce"), f"{q}: sender non-delivery notification: {n}")
        self.e(t, "qmgr", 812, QACTIVE % (n, "", self.rng.randrange(2500, 9000), 1))
        self.removed(t, q)
        if sender.endswith("@example.com"):
            self.lmtp(t, n, [sender])
        else:
            relay = f"mx.{sender.split('@')[1]}[198.51.100.40]:25"
            self.e(t + 1, "smtp", self.pid("smtp"), SMTP_SENT % (n, sender, relay, "0.8", "0", "Ok"))
            self.removed(t + 1, n)

    def attempts(self, t: int, q: str, sender: str, rcpt: str, size: int, outcome: str) -> None:
        """Delivery of one outbound recipient: sent, deferred then sent or expired, or bounced."""
        r, e = self.rng, self.e
        host = f"mx.{rcpt.split('@')[1]}[198.51.100.{r.randrange(2, 250)}]"
        relay, t0 = host + ":25", t
        if outcome in ("deferred_sent", "expired"):
            waits = (r.randrange(300, 1200), 1800, 3600, 4000)
            tries = r.randrange(2, 8) if outcome == "deferred_sent" else 1
            if outcome == "expired":  # queued 5 days before this log starts: only its last attempt is here
                t0 = t - 5 * 86400 - r.randrange(3600)
            i = 0
            while tries > 0:
                sp = self.pid("smtp")
                if r.random() < 0.5:
                    e(t + 30, "smtp", sp, f"connect to {host}:25: Connection timed out")
                    e(t + 30, "smtp", sp, DEF_TIMEOUT % (q, rcpt, t + 30 - t0, t - t0, host))
                else:
                    e(t + 1, "smtp", sp, DEF_GREY % (q, rcpt, relay, t + 1 - t0, t - t0, host))
                i, tries = i + 1, tries - 1
                if outcome == "expired":
                    t += 30
                    break
                t += waits[min(i - 1, 3)]
                e(t, "qmgr", 812, QACTIVE % (q, sender, size, 1))
            if outcome == "expired":
                e(t, "qmgr", 812, f"{q}: from=<{sender}>, status=expired, returned to sender")
                self.ndr(t, q, sender)
                return
        sp = self.pid("smtp")
        if outcome == "bounced":
            e(t + 1, "smtp", sp, SMTP_BOUNCED % (q, rcpt, relay, fd(t + 0.9 - t0), "0.05", host, rcpt))
            self.ndr(t + 1, q, sender)
            return
        ok = f"Ok: queued as {r.getrandbits(40):010X}"
        e(t + 1, "smtp", sp, SMTP_SENT % (q, rcpt, relay, fd(t + 0.8 - t0), fd(max(t - t0, 0.05)), ok))
        self.removed(t + 1, q)

    # ------------------------------------------------------------------ message kinds
    def k_delivered(self, t: int) -> None:
        """Inbound: smtpd -> amavis (10024) -> reinjection on 10025 -> dovecot LMTP."""
        r, e = self.rng, self.e
        sender = EXTERNAL[r.randrange(len(EXTERNAL))]
        rcpts = [LOCAL[r.randrange(len(LOCAL))]] if r.random() < 0.9 else r.sample(LOCAL, 2)
        q, msgid, size, t = self.session(t, rcpts, sender, False)
        t += r.randrange(1, 3)
        new, sp2, cl, n = self.qid(t), self.pid("smtpd"), self.pid("cleanup"), len(rcpts)
        e(t, "smtpd", sp2, "connect from localhost[127.0.0.1]")
        e(t, "smtpd", sp2, f"{new}: client=localhost[127.0.0.1], orig_queue_id={q}")
        e(t, "cleanup", cl, f"{new}: message-id={msgid}")
        e(t, "qmgr", 812, QACTIVE % (new, sender, size + 800, n))
        ap = self.pid("amavis")
        seq = self.amavis_seq[ap] = self.amavis_seq.get(ap, 0) + 1
        ip, rl = self.last_ip, ",".join(f"<{x}>" for x in rcpts)
        args = (ap, seq % 100, ip, r.randrange(1024, 65535), ip, sender, rl, q, msgid, r.getrandbits(60))
        text = AMAVIS_OK % (*args, r.uniform(-3, 4.9), size, new, r.randrange(200, 3000))
        self.raw(t, f"{HOST} amavis[{ap}]: {text}")
        sm = self.pid("smtp")
        for x in rcpts:
            e(t, "smtp", sm, TO_AMAVIS % (q, x, new))
        self.removed(t, q)
        cmds = f"ehlo=1 mail=1 rcpt={n} data=1 quit=1 commands={4 + n}"
        e(t, "smtpd", sp2, f"disconnect from localhost[127.0.0.1] {cmds}")
        self.lmtp(t, new, rcpts)

    def k_outbound(self, t: int, outcome: str = "sent") -> None:
        r = self.rng
        sender, rcpt = LOCAL[r.randrange(len(LOCAL))], EXTERNAL[r.randrange(len(EXTERNAL))]
        q, _, size, t = self.session(t, [rcpt], sender, True)
        self.attempts(t + 1, q, sender, rcpt, size, outcome)

    def k_expired(self, t: int) -> None:
        """A message queued before the log starts, retried for the last time and returned to sender."""
        r = self.rng
        q, sender, rcpt = self.qid(t), LOCAL[r.randrange(len(LOCAL))], EXTERNAL[r.randrange(len(EXTERNAL))]
        size = r.randrange(900, 90000)
        self.e(t, "qmgr", 812, QACTIVE % (q, sender, size, 1))
        self.attempts(t, q, sender, rcpt, size, "expired")

    def k_local(self, t: int) -> None:
        r, e = self.rng, self.e
        q, (user, uid) = self.qid(t), (("alice", 1000), ("root", 0), ("www-data", 33))[r.randrange(3)]
        e(t, "pickup", 22950, f"{q}: uid={uid} from=<{user}>")
        d = datetime.fromtimestamp(t, timezone.utc)
        e(t, "cleanup", self.pid("cleanup"), f"{q}: message-id=<{d:%Y%m%d%H%M%S}.{q}@{HOST}.example.com>")
        e(t, "qmgr", 812, QACTIVE % (q, f"{user}@{HOST}.example.com", r.randrange(400, 4000), 1))
        e(t, "local", self.pid("local"), LOCAL_TO % (q, user))
        self.removed(t, q)

    def k_rejected(self, t: int) -> None:
        r, e = self.rng, self.e
        cname, cip = self.clients[r.randrange(len(self.clients))]
        sender, rcpt = EXTERNAL[r.randrange(len(EXTERNAL))], LOCAL[r.randrange(len(LOCAL))]
        sp = self.pid("smtpd")
        why = r.randrange(4)
        helo = "localhost" if why == 2 or cname == "unknown" else cname
        if why == 0:
            rcpt = EXTERNAL[r.randrange(len(EXTERNAL))]
        elif why == 3:
            rcpt = f"nosuch{r.randrange(100)}@example.com"
        client = f"{cname}[{cip}]"
        e(t, "smtpd", sp, "connect from " + client)
        text = REJECTS[why] % {"rcpt": rcpt, "ip": cip, "helo": helo}
        e(t + 1, "smtpd", sp, NOQUEUE % (client, text, sender, rcpt, helo))
        e(t + 1, "smtpd", sp, f"disconnect from {client} ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4")

    def k_spam(self, t: int) -> None:
        r = self.rng
        sender, rcpt = f"winner{r.randrange(999)}@lottery.example", LOCAL[r.randrange(len(LOCAL))]
        q, msgid, size, t = self.session(t, [rcpt], sender, False)
        t += r.randrange(1, 4)
        ap = self.pid("amavis")
        seq = self.amavis_seq[ap] = self.amavis_seq.get(ap, 0) + 1
        mid = f"{r.getrandbits(48):012x}"
        ip = self.last_ip
        args = (ap, seq % 100, ip, r.randrange(1024, 65535), ip, sender, rcpt, mid, q, msgid, mid)
        text = AMAVIS_SPAM % (*args, r.uniform(6.5, 40), size, r.randrange(900, 4000))
        self.raw(t, f"{HOST} amavis[{ap}]: {text}")
        self.e(t, "smtp", self.pid("smtp"), SPAM_SENT % (q, rcpt, ap, seq % 100))
        self.removed(t, q)

    def k_postscreen(self, t: int) -> None:
        ip, port = f"203.0.113.{self.rng.randrange(1, 255)}", self.rng.randrange(1024, 65535)
        self.e(t, "postscreen", 1811, f"CONNECT from [{ip}]:{port} to [{MYIP}]:25")
        self.e(t, "postscreen", 1811, f"PREGREET 11 after 0.07 from [{ip}]:{port}: EHLO User\\r\\n")
        self.e(t + 1, "postscreen", 1811, f"DISCONNECT [{ip}]:{port}")

    def k_lost(self, t: int) -> None:
        cname, cip = self.clients[self.rng.randrange(len(self.clients))]
        sp = self.pid("smtpd")
        self.e(t, "smtpd", sp, f"connect from {cname}[{cip}]")
        self.e(t + 5, "smtpd", sp, f"lost connection after EHLO from {cname}[{cip}]")
        self.e(t + 5, "smtpd", sp, f"disconnect from {cname}[{cip}] ehlo=1 commands=1")

    def sendmail(self, t: int, kind: str) -> None:
        """One Sendmail 8.15 message (receive + local delivery, or a rejected relay attempt)."""
        r = self.rng
        d, pid, dpid = datetime.fromtimestamp(t, timezone.utc), self.newpid(), self.newpid()
        stamp = [SMCH[(d.year - 1900) % 60], SMCH[d.month - 1], SMCH[d.day], SMCH[d.hour], SMCH[d.minute]]
        q = "".join(stamp) + SMCH[d.second] + SMCH[r.randrange(60)] + SMCH[r.randrange(60)] + f"{pid:06d}"
        # Debian's daemon logs as sm-mta, others as sendmail (pid parity: the random stream stays as it was).
        program = "sm-mta" if pid % 2 else "sendmail"
        tag, dtag = f"{SMHOST} {program}[{pid}]: ", f"{SMHOST} {program}[{dpid}]: "
        if kind == "rejected":
            self.raw(t, tag + SM_REJECT % q)
            self.raw(t + 1, tag + f"{q}: lost input channel from [203.0.113.66] to MTA after rcpt")
            return
        sender, rcpt = EXTERNAL[r.randrange(len(EXTERNAL))], LOCAL[r.randrange(len(LOCAL))]
        size = r.randrange(900, 90000)
        dom = sender.split("@")[1]
        self.raw(t, tag + SM_FROM % (q, sender, size, r.getrandbits(48), dom, f"mail.{dom} [198.51.100.7]"))
        t1 = t
        if kind in ("deferred_sent", "expired"):
            self.raw(t + 30, dtag + SM_DEFER % (q, rcpt, 30000 + size))
            t1 = t + 3600
        stat, dsn = ("User unknown", "5.1.1") if kind == "bounced" else ("Sent", "2.0.0")
        self.raw(t1 + 1, dtag + SM_TO % (q, rcpt, hms(t1 + 1 - t), 30000 + size, dsn, stat))

    # ------------------------------------------------------------------ main loop
    def run(self, size: int, write: Callable[[str], None]) -> int:
        r = self.rng
        kinds: Dict[str, Callable[[int], None]] = {
            "delivered": self.k_delivered, "outbound": self.k_outbound, "local": self.k_local,
            "rejected": self.k_rejected, "spam": self.k_spam, "postscreen": self.k_postscreen,
            "lost": self.k_lost, "deferred_sent": lambda s: self.k_outbound(s, "deferred_sent"),
            "expired": self.k_expired,
            "bounced": lambda s: self.k_outbound(s, "bounced"),
        }  # fmt: skip
        out: List[str] = []
        pending = written = n = 0
        t = float(self.epoch0)
        next_cron = self.epoch0 - self.epoch0 % 3600 + 17 * 60
        while written + pending < size:
            t += r.expovariate(self.rate)
            sec = int(t)
            kind = self.kind_table[r.randrange(4096)]
            n += 1
            if self.fmt == "sendmail" or (self.fmt == "mixed" and n % 3 == 0):
                k = kind if kind in ("rejected", "deferred_sent", "bounced") else "delivered"
                self.sendmail(sec, k)
                self.counts["sendmail:" + k] += 1
            else:
                kinds[kind](sec)
                self.counts[kind] += 1
            if r.random() < 0.15:
                pid, sess = self.newpid(), r.getrandbits(72)
                text = DOVECOT % (LOCAL[n % len(LOCAL)], n % 250, MYIP, pid, sess)
                self.raw(sec, f"{HOST} dovecot: {text}")
            if r.random() < 0.01:
                up = sec - self.epoch0 + 86400
                args = (up, r.randrange(1000000), n % 250, MYIP, n % 60000 + 1024)
                self.raw(sec, f"{HOST} kernel: " + KERNEL % args)
            while next_cron <= sec:
                cmd = "(root) CMD (cd / && run-parts --report /etc/cron.hourly)"
                self.raw(next_cron, f"{HOST} CRON[{self.newpid()}]: {cmd}")
                next_cron += 3600
            if sec > self.flushed:
                pending += self.flush(sec, out)
                if pending >= 1 << 22:  # write in ~4 MiB pieces
                    write("".join(out))
                    out.clear()
                    written, pending = written + pending, 0
        pending += self.flush(int(t) + 1, out)
        write("".join(out))
        return written + pending


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate a big, realistic mail log (classic syslog format).")
    ap.add_argument("--size", required=True, help="approximate output size: 500K, 100M, 1G")
    ap.add_argument("--out", required=True, help="output file")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--format", choices=("postfix", "sendmail", "mixed"), default="postfix")
    ap.add_argument("--start", default="2023-12-31T18:00", help="start time, UTC: YYYY-MM-DD[THH:MM]")
    ap.add_argument("--rate", type=float, default=1.0, help="new messages per second (default 1.0)")
    a = ap.parse_args(argv)
    start = datetime.fromisoformat(a.start)
    gen = Generator(a.seed, a.format, start, a.rate)
    t0 = time.perf_counter()
    with open(a.out, "w", encoding="ascii", newline="\n") as f:
        total = gen.run(parse_size(a.size), f.write)
    dt = time.perf_counter() - t0
    end = datetime.fromtimestamp(gen.flushed - 1, timezone.utc)
    print(f"wrote {total:,} bytes to {a.out} in {dt:.2f} s ({total / dt / 1e6:.1f} MB/s), "
          f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M:%S} UTC", file=sys.stderr)  # fmt: skip
    for k, v in sorted(gen.counts.items(), key=lambda kv: -kv[1]):
        print(f"  {k:<22} {v:>10,}", file=sys.stderr)
    print(f"  {'messages':<22} {sum(gen.counts.values()):>10,}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
