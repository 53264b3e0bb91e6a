"""Published bytes do not change by accident.

The example journal and a generated 2,000-post journal are published at a fixed clock and
every file's bytes are digested. The digests, with the ``RENDER_VERSION`` they were made
under, are kept in ``tests/render_digests.json``. A change to the code that changes what is
published must say so: it bumps ``plan.RENDER_VERSION`` (so that every published journal
is re-rendered once) and records the new digests. A refactor must leave them as they are.

To record new digests after a deliberate change: ``NEWSWIRE_UPDATE_DIGESTS=1 make test``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newswire.config import load_config
from newswire.job import publish
from newswire.plan import RENDER_VERSION

from harness import ROOT

DIGESTS = Path(__file__).with_name("render_digests.json")
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
UPDATE = os.environ.get("NEWSWIRE_UPDATE_DIGESTS") == "1"


def _digest(folder: Path) -> str:
    """One digest of every file below ``folder``: its path and its bytes, in path order."""
    total = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        total.update(path.relative_to(folder).as_posix().encode() + b"\0")
        total.update(hashlib.sha256(path.read_bytes()).digest())
    return total.hexdigest()


def _published(root: Path) -> str:
    report = publish(load_config(root / "config.yaml"), now=NOW, ping=False)
    assert report.ok, report.as_json()
    return _digest(root / "feeds")


def _example(root: Path) -> Path:
    shutil.copytree(ROOT / "content", root / "content")
    shutil.copy(ROOT / "config.yaml", root / "config.yaml")
    return root


def _generated(root: Path) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from generate import generate
    finally:
        sys.path.remove(str(ROOT / "bench"))
    generate(root, posts=2000, authors=20, labels=60)
    return root


@pytest.mark.parametrize("name", ["example", "generated-2000"])
def test_published_bytes_change_only_with_the_render_version(name: str, tmp_path: Path) -> None:
    root = (_example if name == "example" else _generated)(tmp_path / name)
    got = _published(root)
    kept = json.loads(DIGESTS.read_text()) if DIGESTS.exists() else {}
    if UPDATE:
        kept[name] = {"render_version": RENDER_VERSION, "digest": got}
        DIGESTS.write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")
    assert name in kept, f"no digest recorded for {name}: run NEWSWIRE_UPDATE_DIGESTS=1 make test"
    recorded = kept[name]
    if got != recorded["digest"]:
        if recorded["render_version"] == RENDER_VERSION:
            pytest.fail(f"{name}: the published bytes changed, but plan.RENDER_VERSION is still "
                        f"{RENDER_VERSION}: bump it, then record the digests with NEWSWIRE_UPDATE_DIGESTS=1")
        pytest.fail(f"{name}: the published bytes changed with RENDER_VERSION {RENDER_VERSION}: record the new "
                    "digests with NEWSWIRE_UPDATE_DIGESTS=1")
    assert recorded["render_version"] == RENDER_VERSION, (
        f"{name}: RENDER_VERSION moved to {RENDER_VERSION} but the bytes did not change: record it with "
        "NEWSWIRE_UPDATE_DIGESTS=1, or leave the version as it was")


def test_the_same_store_publishes_the_same_bytes_in_another_folder(tmp_path: Path) -> None:
    """What the digests rest on: nothing in the bytes depends on where or when (beyond the
    publish's clock) the journal is published."""
    assert _published(_example(tmp_path / "one")) == _published(_example(tmp_path / "two"))
