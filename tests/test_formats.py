"""A feed format is one object in one registry (``newswire.formats.FORMATS``).

A toy format, registered for a test only, is accepted by config, published and verified
(a wrong document is caught by its read-back and never written), served with its media type
and listed on the directory: adding a format takes its object and one line in the registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest

from newswire import check_published, publish
from newswire.errors import ConfigError
from newswire.formats import FORMATS
from newswire.model import Problem
from newswire.render import EntryView, FeedView
from newswire.serve import make_server
from newswire.verify import Checker

from harness import CONFIG, Journal

NOW = datetime(2009, 12, 1, 12, tzinfo=UTC)


class Lines:
    """A toy format: a line with the feed's title and address, then one JSON object per entry.

    ``garble`` makes it render a title containing that word wrong, as a renderer's bug would."""

    name = "lines"
    file_name = "entries.jsonl"
    media_type = "application/x-newswire-lines"
    label = "Lines & more"
    opml_type = "lines1"
    xml = False

    def __init__(self) -> None:
        self.garble = ""
        self.read = 0  # documents read back

    def entry(self, view: EntryView) -> bytes:
        title = view.title.replace(self.garble, "Garbed") if self.garble else view.title
        return json.dumps({"id": view.id, "title": title}).encode()

    def skeleton(self, feed: FeedView) -> bytes:
        return json.dumps({"title": feed.title, "self": feed.self_url(self.name)}).encode() + b"\n"

    def fill(self, skeleton: bytes, fragments: Sequence[bytes]) -> bytes:
        return skeleton + b"".join(f + b"\n" for f in fragments)

    def read_back(self, data: bytes, feed: FeedView, entries: Sequence[EntryView], path: str) -> list[Problem]:
        self.read += 1
        check = Checker(path)
        head, *lines = data.decode("utf-8").splitlines()
        check.same("", "title", feed.title, json.loads(head)["title"])
        check.same("", "self link", feed.self_url(self.name), json.loads(head)["self"])
        items = [json.loads(line) for line in lines]
        check.same("", "entry count", len(entries), len(items))
        for want, got in zip(entries, items):
            check.same(want.id, "id", want.id, got["id"])
            check.same(want.id, "title", want.title, got["title"])
        return check.problems

    def entry_ids(self, data: bytes, check: Checker) -> list[str | None]:
        try:
            return [json.loads(line).get("id") for line in data.decode("utf-8").splitlines()[1:]]
        except (ValueError, AttributeError) as exc:
            raise ValueError(str(exc)) from exc


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Lines:
    """The toy format in the registry for one test (taken out again afterwards)."""
    fmt = Lines()
    monkeypatch.setitem(FORMATS, fmt.name, fmt)
    return fmt


def _configure(journal: Journal, formats: str) -> None:
    journal.write_config(CONFIG.replace("formats: [atom, rss, json]", f"formats: {formats}"))


def test_config_accepts_a_registered_format_and_lists_the_registry_when_refusing(journal: Journal,
                                                                               lines: Lines) -> None:
    _configure(journal, "[atom, lines]")
    assert journal.config().feeds.formats == ("atom", "lines")
    _configure(journal, "[atom, rdf]")
    with pytest.raises(ConfigError, match=r"unknown format 'rdf' \(use atom, rss, json, lines\)$"):
        journal.config()


def test_an_unregistered_format_is_refused(journal: Journal) -> None:
    _configure(journal, "[atom, lines]")
    with pytest.raises(ConfigError, match=r"feeds.formats: unknown format 'lines' \(use atom, rss, json\)$"):
        journal.config()


def test_a_publish_writes_and_verifies_a_registered_format(journal: Journal, lines: Lines) -> None:
    _configure(journal, "[atom, lines]")
    journal.post("one", title="First", date="2009-11-02T10:00:00-05:00")
    journal.post("two", title="Second", date="2009-11-03T10:00:00-05:00", author="napolitano")
    report = publish(journal.config(), now=NOW)
    assert report.ok, report.failed
    files = journal.files()
    assert {"entries.jsonl", "atom.xml", "authors/jmorton/entries.jsonl",
            "labels/border-security/entries.jsonl"} <= set(files)
    head, *items = files["entries.jsonl"].decode().splitlines()
    assert json.loads(head) == {"title": "Test Journal", "self": "https://journal.test/feeds/entries.jsonl"}
    assert [json.loads(i)["title"] for i in items] == ["Second", "First"]
    assert lines.read > 0
    read = lines.read
    assert check_published(journal.config(), now=NOW).ok
    assert lines.read > read  # `newswire verify` reads the format back too


def test_a_failure_in_the_formats_read_back_is_caught_and_nothing_is_written(journal: Journal,
                                                                            lines: Lines) -> None:
    _configure(journal, "[atom, lines]")
    journal.post("one", title="First", date="2009-11-02T10:00:00-05:00")
    assert publish(journal.config(), now=NOW).ok
    before = journal.files()
    lines.garble = "Garbled"
    journal.post("two", title="Garbled news", date="2009-11-03T10:00:00-05:00", labels=("Fresh Label",))
    report = publish(journal.config(), now=NOW)
    assert not report.ok
    assert sorted(r.path for r in report.failed) == [
        "authors/jmorton/entries.jsonl", "entries.jsonl", "labels/fresh-label/entries.jsonl"]
    problems = {(p.entry, p.field, p.expected, p.got) for r in report.failed for p in r.problems}
    assert problems == {("tag:journal.test,2009:post/2009-11-03/garbled-news", "title", "Garbled news", "Garbed news")}, problems
    after = journal.files()
    for path in ("entries.jsonl", "authors/jmorton/entries.jsonl"):
        assert after[path] == before[path]  # the last good version stays
    assert "labels/fresh-label/entries.jsonl" not in after
    assert "labels/fresh-label/atom.xml" in after and after["atom.xml"] != before["atom.xml"]


@pytest.fixture
def served(journal: Journal, lines: Lines) -> Iterator[str]:
    _configure(journal, "[lines, atom]")
    journal.post("one", title="First", date="2009-11-02T10:00:00-05:00")
    assert publish(journal.config(), now=NOW).ok
    server = make_server(journal.config(), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_serve_gives_a_registered_formats_media_type_and_links(served: str) -> None:
    for accept in ("*/*", "application/x-newswire-lines, text/html;q=0.5"):  # a browser would get the feed's page
        request = urllib.request.Request(f"{served}/authors/jmorton/entries.jsonl", headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.headers["Content-Type"] == "application/x-newswire-lines; charset=utf-8"
            assert '<https://journal.test/feeds/authors/jmorton/entries.jsonl>; rel="self"' in answer.headers["Link"]
            assert answer.headers["Vary"] == "Accept"


def test_the_directory_lists_a_registered_format(journal: Journal, lines: Lines) -> None:
    _configure(journal, "[lines, atom]")
    journal.post("one", title="First", date="2009-11-02T10:00:00-05:00")
    assert publish(journal.config(), now=NOW).ok
    page = (journal.feeds / "index.html").read_text()
    assert '<link rel="alternate" type="application/x-newswire-lines" title="Test Journal (Lines &amp; more)" ' \
           'href="https://journal.test/feeds/entries.jsonl">' in page
    assert '<a href="authors/jmorton/entries.jsonl" type="application/x-newswire-lines">Lines &amp; more</a>' in page
    # OPML subscribes readers to the first XML format; with none, to the toy format's documents
    assert 'xmlUrl="https://journal.test/feeds/atom.xml"' in (journal.feeds / "index.opml").read_text()
    _configure(journal, "[lines]")
    assert publish(journal.config(), now=NOW).ok
    outlines = (journal.feeds / "index.opml").read_text()
    assert 'xmlUrl="https://journal.test/feeds/entries.jsonl" htmlUrl="https://journal.test/" version="lines1"' \
        in outlines
    assert not (journal.feeds / "atom.xml").exists()


def test_commands_that_render_nothing_load_no_rendering_library() -> None:
    """The registry is read by every command; the formats' libraries load only when something renders."""
    code = ("import sys, newswire.cli, newswire.serve, newswire.formats; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('feedgen', 'feedparser', 'lxml', 'fastjsonschema')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
