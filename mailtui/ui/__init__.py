"""The terminal UI (Textual). The only package of mailtui that imports Textual or Rich."""

from __future__ import annotations

from typing import Optional, Sequence


def run(paths: Sequence[str], query: str = "", *, fmt: str = "auto", year: Optional[int] = None) -> int:
    """Open the app on `paths` with the list pre-filtered by `query`; returns the exit status."""
    from mailtui.ui.app import make_app

    app = make_app(paths, query, fmt=fmt, year=year)
    app.run()
    return app.return_code or 0
