"""Fixtures: a journal in a temporary folder, and the repository's example journal, published."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

import pgcluster
from browser import CHROMIUM, MISSING, REQUIRED
from harness import CONFIG, ROOT, Journal

# CI replays the same examples every time (HYPOTHESIS_PROFILE=ci, set by .ci/run), so a new
# finding cannot turn a landing red by chance; a plain `make test` explores new ones each run.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_backends: run each test of the module on SQLite and on PostgreSQL "
                            "(the ``journal`` fixture's store)")
    config.addinivalue_line("markers", "sqlite_only: in a both_backends module, a test of what only a SQLite "
                            "store can hold (one an older newswire wrote, say)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """In a module marked ``both_backends``, every test that has a journal runs once per backend."""
    if ("backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends")
            and not metafunc.definition.get_closest_marker("sqlite_only")):
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The journal's store: SQLite, unless the module runs on both (see ``pytest_generate_tests``)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.Cluster]:
    """One throwaway PostgreSQL server for the session (see ``pgcluster``): skipped without the
    binaries, unless the environment requires the PostgreSQL tests (CI does)."""
    if not pgcluster.available():
        if pgcluster.REQUIRED:
            pytest.fail(f"NEWSWIRE_POSTGRES_TESTS=required, but {pgcluster.MISSING}")
        pytest.skip(pgcluster.MISSING)
    cluster = pgcluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def make_journal(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Callable[[str], Journal]:
    """Makes another journal in the folder ``name``, its store on the same backend as ``journal``'s."""
    def make(name: str) -> Journal:
        url = request.getfixturevalue("pg_cluster").fresh() if backend == "postgresql" else None
        j = Journal(tmp_path / name, url)
        j.root.mkdir()
        j.write_config(CONFIG)
        j.content.mkdir()
        return j

    return make


@pytest.fixture
def journal(make_journal: Callable[[str], Journal]) -> Journal:
    return make_journal("journal")


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
