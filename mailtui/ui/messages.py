"""Messages the worker threads post back to the UI (the only way they talk to it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Set

from textual.message import Message

from mailtui.model import Trace
from mailtui.session import Progress, Session

if TYPE_CHECKING:  # pragma: no cover
    from mailtui.follow import Follower


class LoadProgress(Message):
    """The loader read a bit more."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress


class SessionReady(Message):
    """A session to show: provisional while loading (``final`` False), then the final one."""

    def __init__(self, session: Session, final: bool) -> None:
        super().__init__()
        self.session = session
        self.final = final


class LoadFailed(Message):
    """The load stopped with an error the user must see."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class FilterApplied(Message):
    """The filter worker's result: the rows to show, in order, and where the cursor goes."""

    def __init__(
        self,
        session: Session,
        query: str,
        sort: str,
        traces: List[Trace],
        cursor: Optional[int],
        seq: int = 0,
        keep_view: bool = False,
    ) -> None:
        super().__init__()
        #: New rows from following: the cursor's row stays where it is on screen.
        self.keep_view = keep_view
        #: Which filter request this answers (older answers are dropped).
        self.seq = seq
        self.session = session
        self.query = query
        self.sort = sort
        self.traces = traces
        self.cursor = cursor


class RawIndexed(Message):
    """The raw log's files were scanned further: all of them (``complete``) or part (progress)."""

    bubble = False

    def __init__(self, complete: bool = True, grown: bool = False) -> None:
        super().__init__()
        self.complete = complete
        #: Following read new lines: the files grew.
        self.grown = grown


class RawSearchProgress(Message):
    """A raw-view search is this far through the files (0 to 1)."""

    def __init__(self, text: str, fraction: float) -> None:
        super().__init__()
        self.text = text
        self.fraction = fraction


class TraceFound(Message):
    """The trace that holds a raw line (None when no trace does)."""

    def __init__(self, trace: Optional[Trace], where: str) -> None:
        super().__init__()
        self.trace = trace
        self.where = where


class SearchResult(Message):
    """A raw-view search result: the matching row, or None."""

    def __init__(self, row: Optional[int], pattern: str) -> None:
        super().__init__()
        self.row = row
        self.pattern = pattern


class FollowPolled(Message):
    """One poll of the follower (thread worker): the new session when the logs changed."""

    def __init__(
        self,
        follower: Optional[Follower],
        session: Optional[Session],
        changed: Set[str],
        removed: Set[str],
        notices: List[str],
    ) -> None:
        super().__init__()
        self.follower = follower
        self.session = session
        #: Ids of traces new or changed in `session`, and of traces gone (merged into another).
        self.changed = changed
        self.removed = removed
        #: The follower's notices not shown yet (rotations, truncations, journalctl ending...).
        self.notices = notices
