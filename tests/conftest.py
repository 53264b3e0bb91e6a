"""Fixtures: a journal in a temporary folder, and the repository's example journal, published."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from browser import CHROMIUM, MISSING, REQUIRED
from harness import CONFIG, ROOT, Journal

# CI replays the same examples every time (HYPOTHESIS_PROFILE=ci, set by .ci/run), so a new
# finding cannot turn a landing red by chance; a plain `make test` explores new ones each run.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal")
    j.root.mkdir()
    j.write_config(CONFIG)
    j.content.mkdir()
    return j


@pytest.fixture
def example(journal: Journal) -> Journal:
    """The example journal of the repository (content/ and config.yaml), published."""
    shutil.rmtree(journal.content)
    shutil.copytree(ROOT / "content", journal.content)
    journal.write_config((ROOT / "config.yaml").read_text())
    journal.cli("publish", check=True)
    return journal


@pytest.fixture
def chromium() -> str:
    """Chromium for a browser test (``pytestmark = pytest.mark.usefixtures("chromium")``): the test is
    skipped without it, unless the environment requires the browser tests (see ``browser``)."""
    if CHROMIUM:
        return CHROMIUM
    if REQUIRED:
        pytest.fail(f"NEWSWIRE_BROWSER_TESTS=required, but {MISSING}")
    pytest.skip(MISSING)
