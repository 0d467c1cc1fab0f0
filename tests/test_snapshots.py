"""Snapshot tests (pytest-textual-snapshot) of the main screens, with the steps the screenshots use.

Update after a reviewed change: `.venv/bin/python -m pytest tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest
from conftest import ROOT

from mailtui.ui.screenshots import SHOTS, SIZE, sample_app


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the header shows the paths as given: `samples/...`


@pytest.mark.parametrize("name", list(SHOTS))
def test_screen(name, snap_compare):
    assert snap_compare(sample_app(), terminal_size=SIZE, run_before=SHOTS[name])


def test_narrow_list(snap_compare):
    assert snap_compare(sample_app(), terminal_size=(80, 24), run_before=SHOTS["filtered"])


def test_narrow_overview(snap_compare):
    assert snap_compare(sample_app(), terminal_size=(80, 24), run_before=SHOTS["overview"])
