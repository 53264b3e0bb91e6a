"""The repository as a newcomer gets it: it stands alone, and its tree stays clean.

The checkout is copied (its tracked and unignored files, nothing else) into a folder with
nothing beside it and made a git repository of its own. There the example journal is
published, a test module runs, and ``make clean`` tidies up, as a newcomer would do them;
after each step ``git status`` must show nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ROOT

GIT = shutil.which("git")
MAKE = shutil.which("make")


def _git(cwd: Path, *args: str) -> str:
    env = os.environ | {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    done = subprocess.run([GIT, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def alone(tmp_path: Path) -> Path:
    """A copy of the checkout in a folder that has nothing else in it, committed."""
    if GIT is None or not (ROOT / ".git").exists():
        pytest.fail("these tests need git and a git checkout of newswire")
    listed = _git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    copy = tmp_path / "alone" / "newswire"
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():  # a file deleted in the work tree but still in the index is not there
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / rel)
    _git(copy, "init", "-q")
    _git(copy, "add", "-A")
    _git(copy, "commit", "-q", "-m", "copy")
    return copy


def _dirty(copy: Path) -> list[str]:
    return _git(copy, "status", "--porcelain", "--untracked-files=all").splitlines()


def test_no_tracked_file_is_a_leftover_of_a_run(alone: Path) -> None:
    tracked = _git(alone, "ls-files").splitlines()
    assert [t for t in tracked if t.startswith(("newswire.db", "feeds/", ".venv/")) or "__pycache__" in t] == []


def test_publish_test_and_clean_leave_the_tree_clean(alone: Path) -> None:
    published = subprocess.run([sys.executable, "-m", "newswire", "--config", "config.yaml", "publish"],
                               cwd=alone, capture_output=True, text=True, timeout=120)
    assert published.returncode == 0, published.stderr
    assert (alone / "feeds" / "atom.xml").is_file() and (alone / "newswire.db.lock").exists()
    assert _dirty(alone) == []

    # The schema tests read the RFC 4287 grammar: from the copy, with nothing beside it.
    tested = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "tests/test_schema.py"], cwd=alone, capture_output=True, text=True, timeout=600)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-2000:]
    assert [p.name for p in alone.parent.iterdir()] == ["newswire"]
    assert (alone / ".pytest_cache").exists()
    assert _dirty(alone) == []

    assert MAKE, "make is needed for this test"
    cleaned = subprocess.run([MAKE, "clean"], cwd=alone, capture_output=True, text=True, timeout=60)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not (alone / "feeds").exists() and not (alone / "newswire.db.lock").exists()
    assert _dirty(alone) == []
