"""The terminal UI (Textual). The only package of mailtui that imports Textual or Rich."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from mailtui.journal import JournalQuery


def run(
    paths: Sequence[str],
    query: str = "",
    *,
    fmt: str = "auto",
    year: Optional[int] = None,
    follow: bool = True,
    journal: Optional[JournalQuery] = None,
) -> int:
    """Open the app on `paths` (and the systemd journal when `journal` is given) with the list
    pre-filtered by `query`, following the logs as they grow unless `follow` is False; returns
    the exit status."""
    from mailtui.ui.app import make_app

    app = make_app(paths, query, fmt=fmt, year=year, follow=follow, journal=journal)
    app.run()
    return app.return_code or 0
