"""The command line: `mailtui search | trace | stats` (and, without a command, the UI).

Arguments mix paths and query words: an argument that exists as a path, or looks like one
(contains `/`, ends in `.log`, `.gz`...), is a path; `field:value` and other words are the query.
Errors are one line on stderr and a non-zero exit, never a traceback: 2 for bad input (paths,
format, query), 1 for "nothing found" (`trace` with an unknown id).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import sys
from typing import List, Optional, Sequence, Tuple

from mailtui import __version__
from mailtui.model import MailtuiError
from mailtui.sanitize import json_line, visible

#: Where the system's mail log usually is, tried in order when no path is given.
DEFAULT_LOGS = ("/var/log/mail.log", "/var/log/maillog", "/var/log/mail/mail.log")
_PATHLIKE = re.compile(r"[/\\*?]|\.(?:log|gz|bz2|xz|txt|json|\d+)$|^-$|^mail|^MSGTRK", re.IGNORECASE)
_FIELD = re.compile(r"^-?[A-Za-z_]+:")


def split_paths_and_query(args: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Paths first, query words after: existing or path-like arguments are paths."""
    paths: List[str] = []
    words: List[str] = []
    for arg in args:
        if not _FIELD.match(arg) and (os.path.exists(arg) or _PATHLIKE.search(arg)):
            paths.append(arg)
        else:
            words.append(arg)
    return paths, words


class _NothingRead(Exception):
    """No path could be read: the errors are printed already; exit 2."""


def query_text(words: Sequence[str]) -> str:
    """Rebuild the query the user typed from argv words (the shell removed the quotes).

    `since:jan 11` (one argv item) becomes `since:"jan 11"`; a whole query passed as one argument
    (`"from:a to:b"`) is kept as it is.
    """
    parts = []
    for word in words:
        if not re.search(r"\s", word) or re.search(r"\s-?[A-Za-z_]+:\S", word):
            parts.append(word)
            continue
        field, sep, value = word.partition(":")
        escaped = (value if sep else word).replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{field}:"{escaped}"' if sep and _FIELD.match(word) else f'"{escaped}"')
    return " ".join(parts)


class NoMailLogFile(MailtuiError):
    """No path was given and no system mail log file is readable: read the systemd journal
    instead when :func:`mailtui.journal.available` (as the CLI does), else show the message."""


def default_paths() -> List[str]:
    """The system's mail log when no path is given; raises :class:`NoMailLogFile` when none is
    readable (the journal is the fallback: see :func:`default_inputs`)."""
    for path in DEFAULT_LOGS:
        if os.access(path, os.R_OK):
            return [path]
    raise NoMailLogFile(
        "no log given and none of "
        + ", ".join(DEFAULT_LOGS)
        + " is readable; pass a path, e.g. mailtui search /path/to/mail.log"
    )


def default_inputs() -> Tuple[List[str], bool]:
    """What to read when no path is given: (the mail log, False), or ([], True) for the systemd
    journal when no mail log file is readable but journalctl exists. Raises :class:`NoMailLogFile`
    when neither can be read."""
    from mailtui import journal

    try:
        return default_paths(), False
    except NoMailLogFile as error:
        if journal.available():
            return [], True
        raise NoMailLogFile(f"{error} (and journalctl, for the systemd journal, is not installed)") from None


def _add_reading_options(parser: argparse.ArgumentParser) -> None:
    """What to read and how: shared by the commands and the UI."""
    parser.add_argument(
        "--format", default="auto", help="auto (default), syslog, postfix, sendmail, journal, exchange"
    )
    parser.add_argument(
        "--year", type=int, help="year of syslog timestamps that have none (default: from file dates)"
    )
    journal = parser.add_argument_group("systemd journal")
    journal.add_argument(
        "--journal", action="store_true", help="read mail lines from the systemd journal (journalctl)"
    )
    journal.add_argument("--since", metavar="TIME", help="journal entries since TIME (journalctl --since)")
    journal.add_argument("--until", metavar="TIME", help="journal entries until TIME (journalctl --until)")
    journal.add_argument(
        "-D", "--directory", metavar="DIR", help="read the journal files in DIR (journalctl -D)"
    )


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _add_reading_options(common)
    common.add_argument("--json", action="store_true", help="JSON output (one object per line for search)")

    parser = argparse.ArgumentParser(
        prog="mailtui",
        description="Explore mail-server logs (Postfix, Sendmail, Exchange): what happened to this mail?",
    )
    parser.add_argument("--version", action="version", version=f"mailtui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    search = commands.add_parser(
        "search", parents=[common], help="list the mails matching a query",
        description="List traces matching the query, e.g. "
        "mailtui search /var/log/mail.log from:boss@example.com since:today",
    )  # fmt: skip
    search.add_argument(
        "-f", "--follow", action="store_true",
        help="then follow the logs: print each matching mail that is new or changes (Ctrl-C ends)",
    )  # fmt: skip
    search.add_argument(
        "--csv", action="store_true",
        help="CSV output: id, first_seen, last_seen, status, sender, recipients, message_id, subject, size, "
        "client, client_ip, servers, queue_ids",
    )  # fmt: skip
    search.add_argument("args", nargs="*", metavar="PATH|QUERY")
    trace = commands.add_parser("trace", parents=[common], help="one mail's hop chain and raw lines")
    trace.add_argument("args", nargs="+", metavar="[PATH...] ID")
    stats = commands.add_parser("stats", parents=[common], help="summary numbers")
    stats.add_argument("args", nargs="*", metavar="PATH|QUERY")
    return parser


def _open(paths: List[str], options: argparse.Namespace):
    """(loader, session) for the paths, the journal (--journal), or the default log or journal."""
    from mailtui import journal
    from mailtui.session import Loader

    use_journal = bool(getattr(options, "journal", False))
    journal_options = [name for name in ("since", "until", "directory") if getattr(options, name, None)]
    if journal_options and not use_journal and paths:
        raise MailtuiError(f"--{journal_options[0]} is for the journal: add --journal")
    if not paths and not use_journal:
        paths, use_journal = default_inputs()
        if use_journal:
            print("mailtui: no mail log file is readable; reading the systemd journal", file=sys.stderr)
    if use_journal:
        query = journal.JournalQuery(options.since, options.until, options.directory)
        if getattr(options, "follow", False) and options.until:
            raise MailtuiError("--follow and --until do not go together")
        loader = journal.journal_loader(query, paths, fmt=options.format, year=options.year)
        for message in query.warnings:
            print(f"mailtui: {visible(message)}", file=sys.stderr)
    else:
        loader = Loader(paths, fmt=options.format, year=options.year)
    session = loader.run()
    for message in session.errors:
        print(f"mailtui: {visible(message)}", file=sys.stderr)
    if not session.files and session.errors:
        raise _NothingRead()
    return loader, session


def _load(paths: List[str], options: argparse.Namespace):
    return _open(paths, options)[1]


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")


def _cmd_search(options: argparse.Namespace) -> int:
    from mailtui.export import table_header, table_row, trace_json
    from mailtui.query import parse_query

    paths, words = split_paths_and_query(options.args)
    query = parse_query(query_text(words))
    if options.follow:
        _stop_on_sigterm()
    if options.csv and (options.json or options.follow):
        raise MailtuiError("--csv goes with neither --json nor --follow")
    loader, session = _open(paths, options)
    if options.csv:
        return _search_csv(session, query)
    width = shutil.get_terminal_size((160, 24)).columns
    try:
        if not options.json:
            _print(table_header(width))
        for trace in session.search(query):
            if options.json:
                _print(json_line(trace_json(trace, session)))
            else:
                _print(table_row(trace, width))
        if options.follow:
            return _follow(loader, session, query, options, width)
    except KeyboardInterrupt:
        if options.follow:
            return 0  # the way to end --follow
        raise
    return 2 if session.errors else 0


def _search_csv(session, query) -> int:  # type: ignore[no-untyped-def]
    """`search --csv`: the log's text as it is, but glyphs for control characters on a terminal."""
    from mailtui.export import write_csv

    write_csv(session.search(query), sys.stdout, terminal=sys.stdout.isatty())
    return 2 if session.errors else 0


def _stop_on_sigterm() -> None:
    """SIGTERM ends `search --follow` like Ctrl-C: cleanly, exit status 0."""
    import signal

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (tests calling main())
        signal.signal(signal.SIGTERM, stop)


def _follow_signature(trace) -> tuple:  # type: ignore[no-untyped-def]
    """What makes `search --follow` print a trace again: its status, a hop, a recipient's fate."""
    return (
        trace.status,
        tuple((hop.server, hop.queue_id) for hop in trace.hops),
        tuple((rcpt.address, rcpt.status) for rcpt in trace.recipients),
    )


def _follow(loader, session, query, options: argparse.Namespace, width: int) -> int:  # type: ignore[no-untyped-def]
    """`search --follow`: print each matching trace that is new or changed, until Ctrl-C."""
    import time

    from mailtui.export import table_row, trace_json
    from mailtui.follow import POLL_INTERVAL, Follower

    printed = {trace.id: _follow_signature(trace) for trace in session.search(query)}
    sys.stdout.flush()
    follower = Follower(loader, session)
    reported = 0
    try:
        while True:
            for message in follower.notices[reported:]:
                print(f"mailtui: {visible(message)}", file=sys.stderr)
            reported = len(follower.notices)
            time.sleep(POLL_INTERVAL)
            new = follower.poll()
            if new is None:
                continue
            for trace in new.traces:
                if trace.id not in follower.changed or not query.matches(trace):
                    continue
                sig = _follow_signature(trace)
                if printed.get(trace.id) == sig:
                    continue
                printed[trace.id] = sig
                _print(json_line(trace_json(trace, new)) if options.json else table_row(trace, width))
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    finally:
        follower.close()


def _cmd_trace(options: argparse.Namespace) -> int:
    from mailtui.export import trace_json, trace_report

    *rest, ident = options.args
    paths, words = split_paths_and_query(rest)
    if words:
        raise MailtuiError(f"trace takes paths and one id; not a path: {words[0]!r}")
    session = _load(paths, options)
    found = session.find(ident)
    if not found:
        print(
            f"mailtui: no mail with id {visible(ident)!r} (try a queue id, a Message-ID or a trace id)",
            file=sys.stderr,
        )
        return 1
    for trace in found:
        if options.json:
            _print(json_line(trace_json(trace, session, with_text=True)))
        else:
            _print(trace_report(trace, session))
    return 2 if session.errors else 0


def _cmd_stats(options: argparse.Namespace) -> int:
    from mailtui.query import parse_query
    from mailtui.stats import compute_stats, stats_text

    paths, words = split_paths_and_query(options.args)
    query = parse_query(query_text(words))
    session = _load(paths, options)
    stats = compute_stats(session, session.search(query))
    if options.json:
        _print(json_line(stats))
    else:
        # Line by line: a newline inside a log value (journald messages may hold one) must show
        # as a glyph, not start a line of its own that reads like one of ours.
        _print("\n".join(visible(line) for line in stats_text(stats).split("\n")))
    return 2 if session.errors else 0


def _ui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailtui",
        usage="mailtui [--format F] [--year Y] [--no-follow] [--journal [--since T] [--until T] [-D DIR]] "
        "[PATH...] [QUERY...]\n       mailtui {search,trace,stats} ...",
        description="Open the logs in the terminal UI (the system's mail log when no path is given). "
        "Commands for scripts: search, trace, stats (mailtui COMMAND --help).",
    )
    parser.add_argument("--version", action="version", version=f"mailtui {__version__}")
    _add_reading_options(parser)
    parser.add_argument(
        "--no-follow",
        dest="follow",
        action="store_false",
        help="do not follow the logs as they grow (F toggles following in the UI)",
    )
    parser.add_argument("args", nargs="*", metavar="PATH|QUERY")
    return parser


def _cmd_ui(argv: Sequence[str]) -> int:
    options = _ui_parser().parse_args(list(argv))
    paths, words = split_paths_and_query(options.args)
    query = query_text(words)
    from mailtui.query import parse_query

    parse_query(query)  # a bad query is reported before the screen opens
    use_journal = options.journal
    journal_options = [name for name in ("since", "until", "directory") if getattr(options, name)]
    if journal_options and not use_journal and paths:
        raise MailtuiError(f"--{journal_options[0]} is for the journal: add --journal")
    if not paths and not use_journal:
        paths, use_journal = default_inputs()
    journal_query = None
    if use_journal:
        from mailtui import journal

        journal.journalctl()  # without journalctl: the message now, before the screen opens
        journal_query = journal.JournalQuery(options.since, options.until, options.directory)
    from mailtui.ui import run

    return run(
        paths,
        query,
        fmt=options.format,
        year=options.year,
        follow=options.follow,
        journal=journal_query,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `mailtui` command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Log text may hold characters the terminal's encoding cannot show (an ASCII locale): print
    # them as \\x.. escapes instead of dying with UnicodeEncodeError halfway through the output.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        if not args or args[0] not in ("search", "trace", "stats"):
            return _cmd_ui(args)
        parser = _parser()
        # Paths and query words may come after options too (`search mail.log --json to:boss`).
        options, extra = parser.parse_known_args(args)
        if any(item.startswith("-") and item != "-" for item in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        options.args = [*options.args, *extra]
        handler = {"search": _cmd_search, "trace": _cmd_trace, "stats": _cmd_stats}[options.command]
        return handler(options)
    except MailtuiError as error:
        print(f"mailtui: {visible(str(error))}", file=sys.stderr)
        return 2
    except _NothingRead:
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `mailtui search ... | head`: the reader left; that is not an error.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
