"""The publish job's seams: where documents go (a ``Sink``), what an incremental publish
remembers (``memory``), and the one place a feed's folder is named.

The sink here is a second backend written as a test would write one: documents kept as
objects in a folder of their own, every call logged, so that the order a publish calls
a sink in can be read back (archive pages, then main documents, then index pages, then
removals), as an object store needs it.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import newswire.job as job_module
from newswire import memory
from newswire.job import check_published, open_store, publish, publish_digest
from newswire.model import DocumentState, FeedKind, feed_dir
from newswire.plan import Plan
from newswire.sinks import Document, Kind, Placed, Refused
from newswire.writer import digest

from harness import CONFIG, ROOT, Journal

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PAGED = CONFIG.replace("entries: 25", "entries: 2")  # five posts: a main document and two archive pages


@dataclass(frozen=True)
class ObjectSink:
    """Documents as objects: ``root/objects/<path>``, one log line per call (``put KIND path``,
    ``remove path``). A path listed in ``refuse`` is refused, as an upload that failed."""

    root: Path
    refuse: tuple[str, ...] = ()

    @property
    def records(self) -> bool:
        return True

    def recover(self) -> None:
        self._log("recover")

    def put(self, documents: Sequence[Document]) -> list[Placed | Refused]:
        out: list[Placed | Refused] = []
        for doc in documents:
            self._log(f"put {doc.kind.name} {doc.path} {doc.media_type}")
            if doc.path in self.refuse:
                out.append(Refused(doc.path, f"{doc.path}: upload refused"))
                continue
            target = self.root / "objects" / doc.path
            changed = not target.exists() or target.read_bytes() != doc.data
            if changed:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(doc.data)
            out.append(Placed(doc.path, digest(doc.data), len(doc.data), 1, changed))
        return out

    def digest(self, path: str) -> str | None:
        target = self.root / "objects" / path
        return digest(target.read_bytes()) if target.exists() else None

    def as_recorded(self, state: DocumentState) -> bool:
        return self.digest(state.path) == state.sha256

    def remove(self, path: str) -> str | None:
        self._log(f"remove {path}")
        (self.root / "objects" / path).unlink(missing_ok=True)
        return None

    def _log(self, line: str) -> None:
        with open(self.root / "log", "a", encoding="utf-8") as fh:  # workers may call it too
            fh.write(line + "\n")

    def calls(self) -> list[str]:
        log = self.root / "log"
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []

    def objects(self) -> dict[str, bytes]:
        base = self.root / "objects"
        return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def _posts(journal: Journal, count: int = 5, label: str = "Ports") -> None:
    for i in range(count):
        journal.post(f"p{i}", title=f"Post {i}", date=f"2009-0{i + 1}-10T10:00:00Z",
                     labels=(label, "Border Security") if i % 2 else (label,))


@pytest.fixture
def sink(tmp_path: Path) -> ObjectSink:
    (tmp_path / "bucket").mkdir()
    return ObjectSink(tmp_path / "bucket")


# --- the sink -------------------------------------------------------------------------------


def test_a_publish_into_another_sink_puts_the_bytes_a_publish_into_the_folder_writes(
        journal: Journal, sink: ObjectSink, tmp_path: Path) -> None:
    journal.write_config(PAGED)
    _posts(journal)
    assert publish(journal.config(), now=NOW, ping=False, sink=sink).ok
    assert not journal.feeds.exists()  # nothing went to the output folder
    twin = Journal(tmp_path / "twin")
    twin.root.mkdir()
    twin.write_config(PAGED)
    _posts(twin)
    assert publish(twin.config(), now=NOW, ping=False).ok
    assert sink.objects() == twin.files()
    assert "archive/2/atom.xml" in sink.objects()
    media = {line.split()[2]: line.split()[3] for line in sink.calls() if line.startswith("put ")}
    assert (media["atom.xml"], media["labels/ports/feed.json"], media["index.opml"]) == (
        "application/atom+xml;", "application/feed+json;", "text/x-opml;")  # (the charset follows)


def test_a_sink_gets_archive_pages_then_main_documents_then_index_pages_then_removals(
        journal: Journal, sink: ObjectSink) -> None:
    journal.write_config(PAGED)
    _posts(journal)
    assert publish(journal.config(), now=NOW, ping=False, sink=sink).ok
    (sink.root / "log").unlink()
    _posts(journal, label="Harbours")  # every post moves: 'Ports' is gone, every feed changes
    assert publish(journal.config(), now=NOW + timedelta(hours=1), ping=False, sink=sink).ok
    calls = sink.calls()
    puts = [line.split()[1:3] for line in calls if line.startswith("put ")]
    # A new feed's main documents come first, unlinked to its archive, and again once it is in place.
    last = {path: i for i, (_, path) in enumerate(puts)}
    kinds = [kind for i, (kind, path) in enumerate(puts) if last[path] == i]
    assert kinds == sorted(kinds, key=lambda k: Kind[k]) and {"PAGE", "MAIN", "INDEX"} <= set(kinds), calls
    early = sorted(path for i, (kind, path) in enumerate(puts) if last[path] != i)
    assert early == ["labels/harbours/atom.xml", "labels/harbours/feed.json", "labels/harbours/rss.xml"], calls
    removals = [i for i, line in enumerate(calls) if line.startswith("remove ")]
    assert removals and min(removals) > max(i for i, line in enumerate(calls) if line.startswith("put ")), calls
    assert not any(path.startswith("labels/ports/") for path in sink.objects())


def test_what_a_sink_refuses_is_not_recorded_and_the_next_publish_puts_it(journal: Journal, sink: ObjectSink) -> None:
    _posts(journal)
    refusing = ObjectSink(sink.root, refuse=("labels/ports/rss.xml",))
    report = publish(journal.config(), now=NOW, ping=False, sink=refusing)
    assert not report.ok and "labels/ports/rss.xml: upload refused" in report.errors
    with open_store(journal.config()) as store:
        assert "labels/ports/rss.xml" not in store.documents.all() and "labels/ports/atom.xml" in store.documents.all()
        assert memory.load(store) is None  # a failed publish is not built on
    (sink.root / "log").unlink()
    report = publish(journal.config(), now=NOW + timedelta(hours=1), ping=False, sink=sink)
    assert report.ok and [r.path for r in report.results if r.status == "written"] == ["labels/ports/rss.xml"]
    (sink.root / "log").unlink()
    assert publish(journal.config(), now=NOW + timedelta(hours=2), ping=False, sink=sink).written == 0
    assert not any(line.startswith("put ") for line in sink.calls())


# --- the memory ---------------------------------------------------------------------------


def _state(journal: Journal, key: str) -> object:
    with sqlite3.connect(journal.root / "newswire.db") as db:
        return json.loads(db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()[0])


def _set_state(journal: Journal, key: str, text: str) -> None:
    with sqlite3.connect(journal.root / "newswire.db") as db:
        db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, text))


def _planned(monkeypatch: pytest.MonkeyPatch) -> list[Plan]:
    plans: list[Plan] = []
    real = job_module.make_plan
    monkeypatch.setattr(job_module, "make_plan", lambda *args: plans.append(real(*args)) or plans[-1])
    return plans


def test_a_store_holding_the_memory_earlier_versions_wrote_still_skips_unchanged_feeds(
        journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory is written as two state keys in a JSON shape older stores hold; such a store, its
    memory written by hand in that shape, gives an incremental publish that plans only what changed."""
    _posts(journal)
    journal.post("other", title="Other", date="2009-08-01T10:00:00Z", author="napolitano", labels=("Cash",))
    assert publish(journal.config(), now=NOW, ping=False).ok
    written = _state(journal, "published")
    assert isinstance(written, dict) and set(written) == {
        "generation", "settings", "since", "until", "expires", "feeds", "documents"}
    with open_store(journal.config()) as store:
        generation = store.state.generation()
    _set_state(journal, "published", json.dumps({
        "generation": generation, "settings": publish_digest(journal.config()), "since": "2009-08-01T10:00:00Z",
        "until": "9999-01-01T00:00:00Z", "expires": "9999-01-01T00:00:00Z", "feeds": 6, "documents": 21}))
    _set_state(journal, "listings", json.dumps({
        "journal": [6, "2009-08-01T10:00:00Z"], "authors/jmorton": [5, "2009-05-10T10:00:00Z"],
        "authors/napolitano": [1, "2009-08-01T10:00:00Z"], "labels/border-security": [2, "2009-04-10T10:00:00Z"],
        "labels/cash": [1, "2009-08-01T10:00:00Z"], "labels/ports": [5, "2009-05-10T10:00:00Z"]}))
    with open_store(journal.config()) as store:
        last = memory.load(store)
    assert last is not None and last.listings["labels/cash"] == memory.FeedListing(1, "2009-08-01T10:00:00Z")
    plans = _planned(monkeypatch)
    assert publish(journal.config(), now=NOW + timedelta(hours=1), ping=False).written == 0 and plans == []
    journal.post("p0", title="Post 0, retitled", date="2009-01-10T10:00:00Z", labels=("Ports",))
    report = publish(journal.config(), now=NOW + timedelta(hours=2), ping=False)
    assert report.ok and plans[-1].partial
    assert {pf.main.folder for pf in plans[-1].feeds} == {"journal", "authors/jmorton", "labels/ports"}
    assert publish(journal.config(), full=True, now=NOW + timedelta(hours=2), ping=False).written == 0
    assert check_published(journal.config(), now=NOW + timedelta(hours=2)).ok


def test_a_memory_that_cannot_be_read_plans_every_feed_rather_than_failing(
        journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    _posts(journal)
    journal.post("other", title="Other", date="2009-08-01T10:00:00Z", author="napolitano", labels=("Cash",))
    assert publish(journal.config(), now=NOW, ping=False).ok
    listings = _state(journal, "listings")
    assert isinstance(listings, dict)
    _set_state(journal, "listings", json.dumps({**listings, "labels/cash": "not a listing"}))
    plans = _planned(monkeypatch)
    journal.post("p0", title="Post 0, retitled", date="2009-01-10T10:00:00Z", labels=("Ports",))
    report = publish(journal.config(), now=NOW + timedelta(hours=1), ping=False)
    assert report.ok and not plans[-1].partial
    assert publish(journal.config(), full=True, now=NOW + timedelta(hours=1), ping=False).written == 0


# --- a feed's folder ----------------------------------------------------------------------


def test_touched_feeds_come_from_the_store_by_kind_and_slug_and_their_folders_from_one_function(
        journal: Journal) -> None:
    _posts(journal)
    assert publish(journal.config(), now=NOW, ping=False).ok
    journal.post("p1", title="Post 1, retitled", date="2009-02-10T10:00:00Z", labels=("Ports", "Border Security"))
    with open_store(journal.config()) as store:
        from newswire import content

        content.sync(journal.config(), store, NOW)
        _, touched = store.feeds.take_touched()
    assert touched == {("journal", ""), ("author", "jmorton"), ("label", "ports"), ("label", "border-security")}
    assert {feed_dir(FeedKind(kind), slug) for kind, slug in touched} == {
        "", "authors/jmorton", "labels/ports", "labels/border-security"}


def test_no_module_but_the_model_spells_out_a_feed_folder() -> None:
    """Feed folders ('authors/<slug>', 'labels/<slug>', '…/archive/<n>') are named by the model alone."""
    spelled = re.compile(r"""["'](?:/\?)?(?:authors|labels|archive)/""")
    found = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "src" / "newswire").rglob("*.py"))
             if path.name != "model.py"
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if spelled.search(line) and not line.lstrip().startswith("#")]
    assert found == []
