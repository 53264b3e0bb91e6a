"""An adversarial campaign over inputs: front matter, titles and labels, bodies, config.

For every bad input the contract is the same (DESIGN.md, "Exit codes", guarantees 3, 6, 7):
- a bad content file is reported as ONE line naming the file and the line, and skipped;
  a bad config exits 2 with ONE line naming the file, the line and the key; never a traceback;
- every document still published is valid (verification passes, feedparser reads Atom and
  RSS without ``bozo``, JSON parses, no character XML cannot carry);
- nothing outside feeds/ and the store is written;
- nothing already stored or published is lost or altered by a rejected input.

Most cases run the library in-process (fast); the CLI is run as a subprocess where the
message on stderr and the exit code are what is being checked.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import unicodedata
from datetime import UTC
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from newswire.config import load_config
from newswire.errors import ConfigError
from newswire.job import PublishReport, check_published, publish

from harness import CONFIG, Journal

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_NS = "{http://purl.org/rss/1.0/modules/content/}encoded"
FEEDS_URL = "https://journal.test/feeds/"
# Characters XML 1.0 cannot carry, plus C1 controls and noncharacters (newswire's own rule).
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
FEED_TOP = {"atom.xml", "rss.xml", "feed.json", "index.html", "index.opml", "feed.xsl", "journal.html", "authors",
            "labels", "archive"}
DOC_NAMES = {"atom.xml", "rss.xml", "feed.json"}


# --------------------------------------------------------------------------------------
# helpers


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process publishes skip fsync (durability is not under test here; it is most of the time).

    Subprocesses (the CLI checks) are unaffected.
    """
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def fm(*lines: str, body: str = "Body text.\n") -> str:
    """A content file: '---' on line 1, then ``lines`` from line 2, '---', ``body``."""
    return "---\n" + "".join(line + "\n" for line in lines) + "---\n" + body


GOOD = ("title: Bad input", "date: 2009-11-07T10:00:00-05:00", "author: jmorton")  # lines 2, 3, 4


def run(journal: Journal, **kw: Any) -> PublishReport:
    return publish(journal.config(), ping=False, **kw)


def errors_of(report: PublishReport) -> list[str]:
    return [str(e) for e in report.sync.errors] if report.sync else []


def _make_good(journal: Journal) -> None:
    """A small journal: two posts by two authors with two labels, published and verified."""
    journal.post("good", title="Good post", date="2009-11-06T10:00:00-05:00", labels=("Border Security",),
                 body="First paragraph.\n\nSecond <em>one</em> &amp; more.")
    journal.post("other", title="Other post", date="2009-11-05T09:00:00-05:00", author="napolitano",
                 labels=("Cash Smuggling", "Border Security"), body="Another body.")
    report = run(journal)
    assert report.ok, (errors_of(report), [str(p) for r in report.failed for p in r.problems])
    assert_valid(journal)


_GOLDEN: dict[str, Path] = {}


@pytest.fixture(scope="module", autouse=True)
def _golden_journal(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The good journal is published once per module; each test starts from a copy of it."""
    journal = Journal(tmp_path_factory.mktemp("golden") / "journal")
    journal.root.mkdir()
    journal.write_config(CONFIG)
    journal.content.mkdir()
    _make_good(journal)
    _GOLDEN["root"] = journal.root


def good_journal(journal: Journal) -> None:
    """Make ``journal`` the published good journal (a copy keeping mtimes, so nothing is re-rendered)."""
    shutil.copytree(_GOLDEN["root"], journal.root, dirs_exist_ok=True, symlinks=True)
    report = run(journal)  # settles the content files' stamps (new inodes); writes no document
    assert report.ok and report.written == 0, report.summary()


def tree(base: Path) -> dict[str, tuple[Any, ...]]:
    """Every file and folder below ``base`` except the output and the store, with its bytes' digest.

    ``base`` is the test's tmp_path (the journal's parent), so a file written beside the
    journal by a path trick shows up too.
    """
    out: dict[str, tuple[Any, ...]] = {}
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base).as_posix()
        if rel == "journal/feeds" or rel.startswith("journal/feeds/") or rel.startswith("journal/newswire.db"):
            continue
        if p.is_symlink():
            out[rel] = ("symlink", str(p.readlink()))
        elif p.is_dir():
            out[rel] = ("dir",)
        else:
            st = p.stat()
            out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns)
    return out


def store_rows(journal: Journal) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(f"file:{journal.root / 'newswire.db'}?mode=ro", uri=True)
    try:
        return {table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                for table in ("posts", "labels", "post_labels", "authors")}
    finally:
        db.close()


def _json_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (_json_strings(k) + _json_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return []


def assert_valid(journal: Journal) -> None:
    """Every published document is valid and inside feeds/; the store agrees with the files."""
    feeds = journal.feeds.resolve()
    assert feeds.is_dir()
    for path in sorted(journal.feeds.rglob("*")):
        assert not path.is_symlink(), path
        assert path.resolve().is_relative_to(feeds), path
        if not path.is_file():
            continue
        data = path.read_bytes()
        rel = path.relative_to(journal.feeds).as_posix()
        if path.suffix == ".xml":
            text = data.decode("utf-8")
            assert not FORBIDDEN.search(text), (rel, FORBIDDEN.search(text))
            parsed = feedparser.parse(data)
            assert not parsed.bozo, (rel, parsed.get("bozo_exception"))
            assert parsed.version.startswith(("atom", "rss")), (rel, parsed.version)
        elif path.suffix == ".json":
            doc = json.loads(data)
            assert doc["version"] == "https://jsonfeed.org/version/1.1", rel
            bad = [s for s in _json_strings(doc) if FORBIDDEN.search(s)]
            assert not bad, (rel, bad[:3])
        elif path.suffix in (".opml", ".xsl"):
            etree.fromstring(data)  # well-formed
        elif path.suffix == ".html":
            assert data.startswith(b"<!DOCTYPE html>"), rel
    report = check_published(journal.config())  # what `newswire verify` does
    assert report.ok, [str(p) for r in report.failed for p in r.problems] + report.errors


def entries(journal: Journal) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Each published document → {entry id: (title, content, date)} read back exactly (lxml / json)."""
    out: dict[str, dict[str, tuple[Any, ...]]] = {}
    for path in sorted(journal.feeds.rglob("*")):
        rel = path.relative_to(journal.feeds).as_posix()
        if path.name == "feed.json":
            doc = json.loads(path.read_bytes())
            out[rel] = {i["id"]: (i.get("title"), i.get("content_html"), i.get("date_published"))
                        for i in doc["items"]}
        elif path.name == "atom.xml":
            root = etree.fromstring(path.read_bytes())
            out[rel] = {e.findtext(f"{ATOM}id"): (e.findtext(f"{ATOM}title"), e.findtext(f"{ATOM}content"),
                                                  e.findtext(f"{ATOM}published"))
                        for e in root.iter(f"{ATOM}entry")}
        elif path.name == "rss.xml":
            root = etree.fromstring(path.read_bytes())
            out[rel] = {i.findtext("guid"): (i.findtext("title"), i.findtext(CONTENT_NS), i.findtext("pubDate"))
                        for i in root.iter("item")}
    return out


def assert_nothing_lost(before: dict[str, dict[str, tuple[Any, ...]]],
                        after: dict[str, dict[str, tuple[Any, ...]]]) -> None:
    for doc, ents in before.items():
        assert doc in after, f"{doc} disappeared"
        for entry_id, value in ents.items():
            assert after[doc].get(entry_id) == value, (doc, entry_id, value, after[doc].get(entry_id))


def json_items(journal: Journal, doc: str = "feed.json") -> list[dict[str, Any]]:
    return json.loads((journal.feeds / doc).read_bytes())["items"]


def assert_one_line(stderr: str, *needles: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# --------------------------------------------------------------------------------------
# 1. front matter that must be rejected: reported with file and line, skipped, nothing altered

_rng = random.Random(20091106)
GARBAGE = bytes(_rng.randrange(256) for _ in range(64 * 1024))

REJECTED: list[tuple[str, str | bytes, int | None, str]] = [
    # (case, file content, line the message must name (None: any; 0: none, the file is refused whole),
    # a regex the message must match)
    ("missing-title", fm(GOOD[1], GOOD[2]), 2, "'title'"),
    ("missing-date", fm(GOOD[0], GOOD[2]), 2, "'date'"),
    ("missing-author", fm(GOOD[0], GOOD[1]), 2, "'author'"),
    ("title-list", fm("title: [a, b]", GOOD[1], GOOD[2]), 2, "'title'"),
    ("title-mapping", fm("title: {a: b}", GOOD[1], GOOD[2]), 2, "'title'"),
    ("title-bool", fm("title: true", GOOD[1], GOOD[2]), 2, "'title'"),
    ("title-binary-tag", fm("title: !!binary aGVsbG8=", GOOD[1], GOOD[2]), 2, "'title'"),
    ("title-empty", fm("title: ''", GOOD[1], GOOD[2]), 2, "'title'"),
    ("title-whitespace", fm('title: "  \\t  "', GOOD[1], GOOD[2]), 2, "'title'"),
    ("title-control-chars-only", fm('title: "\\x01\\x02\\x7f"', GOOD[1], GOOD[2]), 2, "'title'"),
    ("author-list", fm(GOOD[0], GOOD[1], "author: [jmorton]"), 4, "'author'"),
    ("date-epoch-number", fm(GOOD[0], "date: 1257500000", GOOD[2]), 3, "'date'"),
    ("date-float", fm(GOOD[0], "date: 2009.5", GOOD[2]), 3, "'date'"),
    ("date-bool", fm(GOOD[0], "date: true", GOOD[2]), 3, "'date'"),
    ("date-list", fm(GOOD[0], "date: [2009, 11, 6]", GOOD[2]), 3, "'date'"),
    ("date-mapping", fm(GOOD[0], "date: {year: 2009}", GOOD[2]), 3, "'date'"),
    ("date-text", fm(GOOD[0], "date: last tuesday", GOOD[2]), 3, "'date'"),
    ("date-feb-30", fm(GOOD[0], "date: 2009-02-30", GOOD[2]), 3, "'date'"),
    ("date-hour-25", fm(GOOD[0], "date: 2009-11-06T25:00:00", GOOD[2]), 3, "'date'"),
    ("date-month-13", fm(GOOD[0], "date: 2009-13-01", GOOD[2]), 3, "'date'"),
    ("date-offset-25h", fm(GOOD[0], "date: 2009-11-06T10:00:00+25:00", GOOD[2]), 3, "'date'"),
    ("updated-before-date", fm(*GOOD, "updated: 2009-01-01"), 5, "'updated'"),
    ("updated-list", fm(*GOOD, "updated: [1]"), 5, "'updated'"),
    ("labels-mapping", fm(*GOOD, "labels: {a: b}"), 5, "label"),
    ("labels-nested-list", fm(*GOOD, "labels: [ok, [a]]"), 5, "label"),
    ("draft-quoted-yes", fm(*GOOD, 'draft: "yes"'), 5, "'draft'"),
    ("draft-number", fm(*GOOD, "draft: 1"), 5, "'draft'"),
    ("id-with-spaces", fm(*GOOD, "id: two words"), 5, "'id'"),
    ("summary-list", fm(*GOOD, "summary: [a]"), 5, "'summary'"),
    ("unknown-key", fm(*GOOD, "colour: red"), 5, "'colour'"),
    ("duplicate-key", fm(*GOOD, "title: Second title"), 5, "title"),
    ("tab-indentation", fm(GOOD[0], GOOD[1], "\tauthor: jmorton"), 4, "YAML"),
    ("python-object-tag", fm("title: !!python/object/apply:os.system [echo pwned]", GOOD[1], GOOD[2]), 2,
     "'title'|YAML"),
    ("no-closing-dashes", "---\n" + "\n".join(GOOD) + "\nBody text.\n", 5, "never closed"),
    ("no-front-matter", "Just a body.\n", 1, "'---'"),
    ("empty-file", "", 1, "'---'"),
    ("front-matter-a-list", "---\n- a\n- b\n---\nbody\n", 2, "mapping"),
    ("front-matter-a-scalar", "---\nhello\n---\nbody\n", 2, "mapping"),
    ("nul-in-front-matter", fm("title: A\x00B", GOOD[1], GOOD[2]).encode(), 2, "YAML"),
    ("binary-garbage", GARBAGE, None, "UTF-8"),
    ("invalid-utf8-in-body", fm(*GOOD).encode() + b"bytes \xff\xfe here\n", 7, "UTF-8"),
    ("lone-surrogate-in-body", fm(*GOOD).encode() + b"half \xed\xa0\x80 a pair\n", 7, "UTF-8"),
    ("utf16-file", fm(*GOOD).encode("utf-16"), None, "UTF-8"),
    ("larger-than-16mb", fm(*GOOD).encode() + b"x" * (17 * 2**20), 0, "more than the sync.max_file_bytes limit"),
]


def _write(journal: Journal, name: str, data: str | bytes) -> Path:
    path = journal.content / f"{name}.md"
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


@pytest.mark.parametrize("case, data, line, fragment", REJECTED, ids=[c[0] for c in REJECTED])
def test_a_bad_new_file_is_reported_with_its_line_and_changes_nothing(
        journal: Journal, case: str, data: str | bytes, line: int | None, fragment: str) -> None:
    good_journal(journal)
    files, rows = journal.files(), store_rows(journal)
    _write(journal, "bad", data)
    before_tree = tree(journal.root.parent)

    report = run(journal)

    errors = errors_of(report)
    assert len(errors) == 1, errors
    message = errors[0]
    prefix = "bad.md: " if line == 0 else f"bad.md:{line}: " if line is not None else "bad.md:"  # 0: refused unread
    assert message.startswith(prefix), message
    assert re.match(r"bad\.md:(\d+:)? \S", message), message
    assert re.search(fragment, message), message
    assert "\n" not in message and "\r" not in message, message
    assert "Located(" not in message, f"internal repr leaks into the message: {message}"
    assert not report.ok
    # byte-identical documents and store: the (verified) journal published before is untouched
    assert journal.files() == files, "a rejected file changed what is published"
    assert store_rows(journal) == rows, "a rejected file changed the store"
    assert tree(journal.root.parent) == before_tree, "something outside feeds/ and the store was written"


EDITS = ["title-list", "date-feb-30", "tab-indentation", "no-closing-dashes", "binary-garbage",
         "invalid-utf8-in-body", "duplicate-key", "labels-mapping"]


@pytest.mark.parametrize("case", EDITS)
def test_a_bad_edit_of_a_published_post_keeps_the_post_exactly(journal: Journal, case: str) -> None:
    data = next(c[1] for c in REJECTED if c[0] == case)
    good_journal(journal)
    files, rows, published = journal.files(), store_rows(journal), entries(journal)
    _write(journal, "good", data)  # the editor breaks an already published post

    report = run(journal)

    errors = errors_of(report)
    assert len(errors) == 1 and errors[0].startswith("good.md:"), errors
    assert store_rows(journal) == rows, "the stored post was altered or deleted by a rejected edit"
    assert journal.files() == files
    assert_nothing_lost(published, entries(journal))
    assert any(i["title"] == "Good post" for i in json_items(journal))
    assert_valid(journal)


def test_cli_reports_each_bad_file_in_one_line_and_publishes_the_rest(journal: Journal) -> None:
    good_journal(journal)
    published = entries(journal)
    _write(journal, "a-garbage", GARBAGE)
    _write(journal, "b-feb30", fm(GOOD[0], "date: 2009-02-30", GOOD[2]))
    _write(journal, "c-title-list", fm("title: [x, y]", GOOD[1], GOOD[2]))
    _write(journal, "d-unclosed", "---\ntitle: A\n")
    journal.post("e-fresh", title="Fresh post", date="2009-11-08T10:00:00-05:00")
    before_tree = tree(journal.root.parent)

    result = journal.cli("publish", "--no-ping")

    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 4, result.stderr
    assert re.fullmatch(r"newswire: a-garbage\.md:\d+: .*UTF-8.*", lines[0]), lines
    assert lines[1].startswith("newswire: b-feb30.md:3: 'date'"), lines
    assert lines[2].startswith("newswire: c-title-list.md:2: 'title'"), lines
    assert lines[3].startswith("newswire: d-unclosed.md:") and "never closed" in lines[3], lines
    assert len(result.stdout.strip().splitlines()) == 1, result.stdout  # the one summary line
    assert [i["title"] for i in json_items(journal)] == ["Fresh post", "Good post", "Other post"]
    assert_nothing_lost(published, entries(journal))
    assert tree(journal.root.parent) == before_tree
    verify = journal.cli("verify")
    assert verify.returncode == 0, verify.stderr
    assert_valid(journal)


# --------------------------------------------------------------------------------------
# front matter that is odd but fine: accepted, and read the way a user means it

ACCEPTED: list[tuple[str, bytes, str, dict[str, Any]]] = [
    # (case, file bytes, the title that must be published, other expectations)
    ("utf8-bom", ("\ufeff" + fm("title: BOM post", GOOD[1], GOOD[2])).encode(), "BOM post", {}),
    ("crlf", fm("title: CRLF post", GOOD[1], GOOD[2], body="One.\n\nTwo.\n").replace("\n", "\r\n").encode(),
     "CRLF post", {"content": "<p>One.</p>\n<p>Two.</p>"}),
    ("cr-only", fm("title: CR post", GOOD[1], GOOD[2], body="One.\n\nTwo.\n").replace("\n", "\r").encode(),
     "CR post", {"content": "<p>One.</p>\n<p>Two.</p>"}),
    ("bom-and-crlf", ("\ufeff" + fm("title: Both", GOOD[1], GOOD[2])).replace("\n", "\r\n").encode(), "Both", {}),
    ("tab-after-colon", fm("title:\tTabbed", "date:\t2009-11-07T10:00:00-05:00", "author:\tjmorton").encode(),
     "Tabbed", {}),
    ("tab-inside-title", fm('title: "Tab\\there"', GOOD[1], GOOD[2]).encode(), "Tab here", {}),
    ("title-a-number", fm("title: 1984", GOOD[1], GOOD[2]).encode(), "1984", {}),
    ("labels-a-string", fm(*GOOD, "labels: Border Security, Cash").encode(), "Bad input",
     {"tags": ["Border Security, Cash"]}),
    ("empty-labels-ignored", fm(*GOOD, "labels: ['', '  ', ~]").encode(), "Bad input", {"tags": None}),
    ("date-without-zone", fm(GOOD[0], "date: 2009-11-07T10:00:00", GOOD[2]).encode(), "Bad input",
     {"date": "2009-11-07T10:00:00-05:00"}),
    ("date-only", fm(GOOD[0], "date: 2009-07-04", GOOD[2]).encode(), "Bad input",
     {"date": "2009-07-04T00:00:00-04:00"}),
    ("date-with-space", fm(GOOD[0], "date: 2009-11-07 10:00:00", GOOD[2]).encode(), "Bad input",
     {"date": "2009-11-07T10:00:00-05:00"}),
    ("date-utc-z", fm(GOOD[0], "date: 2009-11-07T15:00:00Z", GOOD[2]).encode(), "Bad input",
     {"instant": "2009-11-07T15:00:00+00:00"}),
]


@pytest.mark.parametrize("case, data, title, expect", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_odd_but_valid_front_matter_is_read_as_meant(journal: Journal, case: str, data: bytes, title: str,
                                                    expect: dict[str, Any]) -> None:
    good_journal(journal)
    published = entries(journal)
    _write(journal, "odd", data)
    before_tree = tree(journal.root.parent)

    report = run(journal)

    assert errors_of(report) == [] and report.ok, errors_of(report)
    items = {i["title"]: i for i in json_items(journal)}
    assert title in items, sorted(items)
    item = items[title]
    assert "\r" not in json.dumps(item) and "\ufeff" not in json.dumps(item)
    if "content" in expect:
        assert item["content_html"] == expect["content"]
    if "tags" in expect:
        assert item.get("tags") == expect["tags"]
    if "date" in expect:
        assert item["date_published"] == expect["date"]
    if "instant" in expect:
        from datetime import datetime
        assert datetime.fromisoformat(item["date_published"]) == datetime.fromisoformat(expect["instant"])
    assert_nothing_lost(published, entries(journal))
    assert tree(journal.root.parent) == before_tree
    assert_valid(journal)


@pytest.mark.parametrize("zone, date, utc", [
    ("America/New_York", "2009-11-06T10:00:00", (2009, 11, 6, 15, 0)),
    ("America/New_York", "2009-07-04", (2009, 7, 4, 4, 0)),            # summer time
    ("America/New_York", "2009-03-08T02:30:00", None),                  # in the spring-forward gap
    ("America/New_York", "2009-11-01T01:30:00", None),                  # ambiguous (fall back)
    ("Asia/Kolkata", "2009-11-06T10:00:00", (2009, 11, 6, 4, 30)),
    ("Pacific/Chatham", "2009-11-06T10:00:00", (2009, 11, 5, 20, 15)),  # +13:45 in (southern) summer
])
def test_a_date_without_zone_takes_the_journals_zone_in_every_format(
        journal: Journal, zone: str, date: str, utc: tuple[int, ...] | None) -> None:
    journal.write_config(CONFIG.replace("timezone: America/New_York", f"timezone: {zone}"))
    journal.post("naive", title="Naive", date=date)
    report = run(journal)
    assert report.ok, errors_of(report)
    atom = feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries[0]
    rss = feedparser.parse((journal.feeds / "rss.xml").read_bytes()).entries[0]
    from datetime import datetime
    js = datetime.fromisoformat(json_items(journal)[0]["date_published"]).astimezone(UTC)
    instants = {tuple(atom.published_parsed[:5]), tuple(rss.published_parsed[:5]), js.timetuple()[:5]}
    assert len(instants) == 1, instants  # the same instant in Atom, RSS and JSON
    if utc is not None:
        assert instants == {utc}
    assert_valid(journal)


@pytest.mark.parametrize("date, past", [
    ("0001-01-01", True),                  # the journal's zone had a -04:56:02 LMT offset then
    ("0999-12-31T12:00:00Z", True),        # a year below 1000
    ("0001-01-01T00:30:00+01:00", True),   # before datetime.min in UTC
    ("9999-12-31T23:59:59-05:00", False),  # after datetime.max in UTC
    ("9999-12-31T00:00:00Z", False),       # far future: scheduled, must not break anything
    ("1883-11-18T11:59:59", True),         # New York's last minute of local mean time (seconds in the offset)
])
def test_extreme_dates_are_published_or_reported_but_never_crash_the_publish(journal: Journal, date: str,
                                                                              past: bool) -> None:
    good_journal(journal)
    published = entries(journal)
    _write(journal, "extreme", fm("title: Extreme", f"date: {date}", GOOD[2]))
    journal.post("fresh", title="Fresh post", date="2009-11-08T10:00:00-05:00")

    report = run(journal)        # must not raise
    again = run(journal)         # and must not leave the store in a state that breaks the next publish

    errors = errors_of(report)
    assert all(e.startswith("extreme.md:3: 'date'") for e in errors), errors
    assert errors_of(again) == errors
    titles = [i["title"] for i in json_items(journal)]
    assert "Fresh post" in titles, "a good post was blocked by a bad one"
    if not errors:  # accepted: a past post is in the feeds now, a future one is scheduled (not yet there)
        assert ("Extreme" in titles) == past, (date, titles)
    assert_nothing_lost(published, entries(journal))
    assert_valid(journal)


@pytest.mark.parametrize("filename, data", [
    ("bad-date-0001", fm(GOOD[0], "date: 0001-01-01", GOOD[2])),
    (b"\xff\xfe-latin1-name.md", fm(*GOOD)),                    # a file name that is not UTF-8
    (b"\xff-latin1-name-bad.md", fm("title: [x", GOOD[1])),    # ... and a bad file with such a name
    ("line\nbreak-in-name.md", fm("title: [x", GOOD[1])),       # a file name with a newline
], ids=["date-0001", "non-utf8-name", "non-utf8-name-bad-file", "newline-in-name"])
def test_cli_never_prints_a_traceback_for_hostile_files(journal: Journal, filename: str | bytes, data: str) -> None:
    import os

    good_journal(journal)
    published = entries(journal)
    name = os.fsdecode(filename) if isinstance(filename, bytes) else (
        filename if filename.endswith(".md") else filename + ".md")
    (journal.content / name).write_bytes(data.encode())
    journal.post("fresh", title="Fresh post", date="2009-11-08T10:00:00-05:00")

    result = journal.cli("publish", "--no-ping")

    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode in (0, 1), (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) <= 1, f"one line per bad file:\n{result.stderr}"
    if result.returncode == 1:
        assert len(lines) == 1 and lines[0].startswith("newswire: ") and ".md:" in lines[0], result.stderr
    assert "Fresh post" in [i["title"] for i in json_items(journal)], "a good post was blocked by a bad one"
    assert_nothing_lost(published, entries(journal))
    assert_valid(journal)


def test_duplicate_ids_in_one_run_keep_the_first_and_name_both_files(journal: Journal) -> None:
    good_journal(journal)
    published = entries(journal)
    journal.post("a-first", title="First claimant", id="shared-key")
    journal.post("b-second", title="Second claimant", id="shared-key")  # 'id' is on line 7 (after title, date, author, labels and its item)

    report = run(journal)

    errors = errors_of(report)
    assert len(errors) == 1, errors
    assert errors[0].startswith("b-second.md:7: "), f"the message should point at the 'id' line: {errors[0]}"
    assert "a-first.md" in errors[0] and "tag:journal.test,2009:post/shared-key" in errors[0]
    ids = [i["id"] for i in json_items(journal)]
    assert len(ids) == len(set(ids)), ids
    titles = {i["id"]: i["title"] for i in json_items(journal)}
    assert titles["tag:journal.test,2009:post/shared-key"] == "First claimant"
    assert "Second claimant" not in titles.values()
    assert_nothing_lost(published, entries(journal))
    assert_valid(journal)


@pytest.mark.parametrize("claimed", [
    "tag:journal.test,2009:post/2009-11-06/good-post",   # the generated id of a published post
    "tag:journal.test,2009:post/2009-11-05/other-post",
])
def test_a_new_file_cannot_take_over_a_published_posts_id(journal: Journal, claimed: str) -> None:
    good_journal(journal)
    files, rows = journal.files(), store_rows(journal)
    assert any(i["id"] == claimed for i in json_items(journal))
    journal.post("thief", title="Thief", id=claimed)

    report = run(journal)

    errors = errors_of(report)
    assert len(errors) == 1 and errors[0].startswith("thief.md:") and claimed in errors[0], errors
    assert journal.files() == files and store_rows(journal) == rows
    assert_valid(journal)


def test_a_ten_megabyte_body_is_published_and_valid(journal: Journal) -> None:
    # one document (Atom, journal only) keeps the 10 MB case within a few seconds; the body is one raw
    # HTML block (no blank line), so Markdown passes it through instead of parsing 10 MB of inline text,
    # and long lines with few entities keep feedparser (which verification runs) fast
    journal.write_config(CONFIG.replace("formats: [atom, rss, json]", "formats: [atom]")
                         .replace("  content: full\n", "  content: full\n  authors: false\n  labels: false\n"))
    journal.post("small", title="Small", date="2009-11-05T10:00:00-05:00")
    paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 150 + "&amp; &lt;3\n"
    body = "<div>\n" + paragraph * (10 * 2**20 // len(paragraph) + 1) + "</div>"
    assert len(body) > 10 * 2**20
    journal.post("big", title="Big", date="2009-11-06T10:00:00-05:00", body=body)

    report = run(journal)  # verification reads every document back with feedparser before it is written

    assert report.ok and errors_of(report) == [], (errors_of(report), [str(p) for r in report.failed
                                                                       for p in r.problems])
    assert sorted(journal.files()) == ["atom.xml", "feed.xsl", "index.html", "index.opml", "journal.html"]
    root = etree.fromstring((journal.feeds / "atom.xml").read_bytes(), etree.XMLParser(huge_tree=True))
    got = {e.findtext(f"{ATOM}title"): e.findtext(f"{ATOM}content") for e in root.iter(f"{ATOM}entry")}
    assert list(got) == ["Big", "Small"]
    parsed = feedparser.parse((journal.feeds / "atom.xml").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [e.title for e in parsed.entries] == ["Big", "Small"]
    assert len(got["Big"]) > 10 * 2**20 and got["Big"].count("&amp; &lt;3\n") > 1000


# --------------------------------------------------------------------------------------
# 2. titles, labels and author names: path tricks, reserved names, any script


HOSTILE_NAMES = [
    "../../etc/passwd", "/etc/passwd", "..\\..\\boot.ini", "%2e%2e%2fetc", "~root",
    "CON", "NUL", "com1", "lpt9.txt",
    "index", "index.html", "index.opml", "atom.xml", "rss.xml", "feed.json", "feed.xsl",
    ".", "..", "...", "authors", "labels", "archive",
    "x" * 10_000,
    "مرحبا بالعالم",                        # Arabic (RTL)
    "שלום עולם",                            # Hebrew (RTL)
    "\u202eexe.txt",                       # right-to-left override
    "Ze\u0301\u0301\u0301\u0336lgo\u0489",  # stacked combining marks
    "<script>alert(1)</script>", "a & b ]]> c", "tab\there", "two\nlines",
    "ctrl\x00\x01\x7f\x85chars",
]


def _text(name: str) -> str:
    """What a title or label becomes: control characters dropped, white space folded."""
    return " ".join(FORBIDDEN.sub("", name).split())


def _label_feeds(journal: Journal) -> dict[str, list[str]]:
    """Label feed title → titles of its entries, from every labels/<slug>/feed.json."""
    out = {}
    for path in sorted((journal.feeds / "labels").glob("*/feed.json")):
        doc = json.loads(path.read_bytes())
        out[doc["title"]] = [i["title"] for i in doc["items"]]
    return out


def test_hostile_titles_labels_and_authors_stay_inside_feeds_and_clobber_nothing(journal: Journal) -> None:
    journal.write_config(CONFIG.replace("entries: 25", "entries: 200"))
    for i, name in enumerate(HOSTILE_NAMES):
        author = name if i % 4 == 0 else "jmorton"  # some become new authors with that display name
        journal.post(f"p{i:02d}", title=name, labels=(name,), author=author,
                     date=f"2009-11-06T{i // 60:02d}:{i % 60:02d}:00-05:00")
    before_tree = tree(journal.root.parent)

    report = run(journal)

    assert errors_of(report) == [] and report.ok, errors_of(report)
    assert tree(journal.root.parent) == before_tree, "something was written outside feeds/"
    assert_valid(journal)
    # the layout: only the documented names at the top; a label or author folder is one safe segment
    assert {p.name for p in journal.feeds.iterdir()} <= FEED_TOP
    for path in journal.feeds.rglob("*"):
        rel = path.relative_to(journal.feeds).parts
        if rel[0] in ("labels", "authors") and len(rel) >= 2:
            assert re.fullmatch(r"[^./\\\s]+", rel[1]) and len(rel[1]) <= 100, rel
            if len(rel) == 3:
                assert rel[2] in DOC_NAMES | {"index.html"}, rel  # its documents and its page for people
    # the journal's own documents are still the journal's
    assert (journal.feeds / "index.html").read_bytes().startswith(b"<!DOCTYPE html>")
    assert etree.fromstring((journal.feeds / "index.opml").read_bytes()).tag == "opml"
    assert etree.fromstring((journal.feeds / "feed.xsl").read_bytes()).tag == \
        "{http://www.w3.org/1999/XSL/Transform}stylesheet"
    atom = etree.fromstring((journal.feeds / "atom.xml").read_bytes())
    assert atom.findtext(f"{ATOM}id") == "tag:journal.test,2009:feed"
    assert json.loads((journal.feeds / "feed.json").read_bytes())["title"] == "Test Journal"
    # every title round-trips exactly (JSON carries text as is)
    expected = sorted(_text(n) for n in HOSTILE_NAMES)
    assert sorted(i["title"] for i in json_items(journal)) == expected
    # every label has its own feed holding exactly its post
    feeds = _label_feeds(journal)
    for name in HOSTILE_NAMES:
        assert feeds.get(f"Test Journal: {_text(name)}") == [_text(name)], name
    assert len(feeds) == len(HOSTILE_NAMES)
    # every document of every feed the OPML lists is a file inside feeds/
    urls = journal.listed_documents()
    assert len(urls) == 3 * (1 + len(HOSTILE_NAMES) + len(_authors(journal)))
    from urllib.parse import unquote
    for url in urls:
        assert url.startswith(FEEDS_URL), url
        target = (journal.feeds / unquote(url[len(FEEDS_URL):])).resolve()
        assert target.is_relative_to(journal.feeds.resolve()) and target.is_file(), url


def _authors(journal: Journal) -> list[Path]:
    return sorted(p for p in (journal.feeds / "authors").iterdir() if p.is_dir())


def test_a_label_named_like_a_published_file_does_not_overwrite_it(journal: Journal) -> None:
    good_journal(journal)
    top = {name: data for name, data in journal.files().items() if "/" not in name}
    for i, name in enumerate(["index", "index.html", "atom.xml", "feed.xsl", ".", "..", "authors", "labels"]):
        journal.post(f"r{i}", title=f"Reserved {i}", labels=(name,), date="2009-11-01T10:00:00-05:00")

    report = run(journal)

    assert report.ok, errors_of(report)
    after = journal.files()
    # the top-level documents change only as documents of the journal would (new entries), never into
    # a label's document
    assert after["index.html"].startswith(b"<!DOCTYPE html>")
    assert etree.fromstring(after["atom.xml"]).findtext(f"{ATOM}id") == "tag:journal.test,2009:feed"
    assert after["feed.xsl"] == top["feed.xsl"]
    assert json.loads(after["authors/jmorton/feed.json"])["title"].startswith("Test Journal: John Morton")
    assert not (journal.feeds / "labels" / "index.html").exists()
    assert not (journal.feeds / "labels" / "atom.xml").exists()
    assert len(_label_feeds(journal)) == 2 + 8
    assert_valid(journal)


def test_labels_differing_only_in_case_or_unicode_form_are_one_feed(journal: Journal) -> None:
    variants = {"nfc": "Caf\u00e9", "nfd": "Cafe\u0301", "upper": "CAF\u00c9", "plain": "cafe", "plain-upper": "CAFE"}
    for i, (key, label) in enumerate(variants.items()):
        journal.post(key, title=f"Post {key}", labels=(label,), date=f"2009-11-0{i + 1}T10:00:00-05:00")

    report = run(journal)

    assert report.ok, errors_of(report)
    feeds = _label_feeds(journal)
    # canonically equivalent spellings (NFC/NFD) that differ only in case are the same label
    groups: dict[str, set[str]] = {}
    for key, label in variants.items():
        groups.setdefault(unicodedata.normalize("NFC", label).casefold(), set()).add(f"Post {key}")
    assert len(feeds) in (1, len(groups)), feeds  # accents may be merged too, but never split an equivalence
    for titles in feeds.values():
        members = set(titles)
        assert any(members == g for g in groups.values()) or members == {f"Post {k}" for k in variants}, feeds
    assert_valid(journal)


@pytest.mark.parametrize("label", ["\u200b", "\u200b\u200b", "\ufeff", "\u2060", " \u200b "])
def test_an_invisible_label_is_ignored_like_an_empty_one(journal: Journal, label: str) -> None:
    journal.post("p", title="Post", labels=(label, "", "   ", "Real"))
    report = run(journal)
    assert report.ok, errors_of(report)
    assert list(_label_feeds(journal)) == ["Test Journal: Real"]
    assert json_items(journal)[0]["tags"] == ["Real"]


# --------------------------------------------------------------------------------------
# 3. bodies: markup that is not XML, characters XML cannot carry, scripts

BODIES = [
    ("unclosed-tags", "<div><p>alpha <b>beta <i>gamma", ["alpha", "beta", "gamma"]),
    ("html-entities", "alpha&nbsp;beta &eacute;t&eacute; &copy; &hellip; &mdash; &bogus; &amp;amp; omega",
     ["alpha\u00a0beta", "été", "©", "…", "—", "omega"]),
    ("cdata-end", "alpha ]]> beta <![CDATA[ gamma ]]> delta", ["alpha", "]]>", "delta"]),
    ("c0-c1-controls", "alpha\x00\x01\x08\x0b\x0c\x1b\x7f\x80\x85\x9f\ufffe\uffff\ufdd0beta", ["alpha", "beta"]),
    ("char-refs-to-forbidden", "alpha &#0; &#x1; &#xD800; &#1114112; &#x7f; &#xFFFE; beta", ["alpha", "beta"]),
    ("script-and-handlers", "alpha <script>alert(1)</script> <img src=x onerror=alert(2)> "
                            "<a href='javascript:alert(3)'>beta</a>", ["alpha", "beta"]),
    ("full-html-document", "<html><head><title>t</title></head><body>alpha</body></html> beta", ["alpha"]),
    ("xxe-doctype", "<!DOCTYPE x [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]><x>&xxe;</x> alpha", ["alpha"]),
    ("unclosed-comment", "alpha\n\nbeta <!-- never closed", ["alpha"]),
    ("stray-angles", "alpha < beta && gamma > delta <", ["alpha", "delta"]),
    ("rtl-and-combining", "مرحبا שלום e\u0301\u0302 \u202eoverride alpha", ["مرحبا", "שלום", "alpha"]),
    ("xml-processing-instruction", "<?xml version='1.0'?><?php echo 1 ?> alpha", ["alpha"]),
]


@pytest.mark.parametrize("case, body, words", BODIES, ids=[b[0] for b in BODIES])
def test_hostile_bodies_produce_valid_documents(journal: Journal, case: str, body: str, words: list[str]) -> None:
    good_journal(journal)
    published = entries(journal)
    journal.post("hostile", title=f"Hostile {case}", body=body, date="2009-11-08T10:00:00-05:00")
    before_tree = tree(journal.root.parent)

    report = run(journal)

    assert report.ok, (errors_of(report), [str(p) for r in report.failed for p in r.problems])
    assert_valid(journal)
    assert tree(journal.root.parent) == before_tree
    assert_nothing_lost(published, entries(journal))
    item = next(i for i in json_items(journal) if i["title"] == f"Hostile {case}")
    text = html.unescape(item["content_html"])
    atom = next(e for e in feedparser.parse((journal.feeds / "atom.xml").read_bytes()).entries
                if e.title == f"Hostile {case}")
    atom_text = html.unescape(atom.content[0].value)
    for word in words:
        assert word in text, (word, item["content_html"])
        assert word in atom_text or word == "]]>", (word, atom.content[0].value)
    for path in journal.feeds.rglob("*"):
        if path.is_file():
            assert b"root:x:0:0" not in path.read_bytes(), f"an external entity was expanded into {path}"


# --------------------------------------------------------------------------------------
# 4. config: every key with a wrong type, unknown keys, URLs

CONFIG_FULL = CONFIG + """\
notify:
  websub: [https://hub.test/]
  weblogs: [https://rpc.test/RPC2]
  timeout: 10
  max_attempts: 8
  max_age: 2d
schedule:
  timezone: UTC
  publish: "*/15 * * * *"
  verify: "0 * * * *"
sources:
  - {url: https://partner.test/feed.xml, label: Partners, every: 1h}
fetch: {max_bytes: 100000, timeout: 5, max_redirects: 3}
"""
AUTHORS_BLOCK = ("authors:\n  jmorton: {name: John Morton, affiliation: U.S. Immigration and Customs Enforcement}\n"
                 "  napolitano: {name: Janet Napolitano, affiliation: Secretary of Homeland Security}\n")
JMORTON = "  jmorton: {name: John Morton, affiliation: U.S. Immigration and Customs Enforcement}"
FEEDS_BLOCK = "feeds:\n  formats: [atom, rss, json]\n  entries: 25\n  content: full\n"
PATHS = "paths: {store: newswire.db, content: content, output: feeds}"
SOURCE = "  - {url: https://partner.test/feed.xml, label: Partners, every: 1h}"
FETCH = "fetch: {max_bytes: 100000, timeout: 5, max_redirects: 3}"

BAD_CONFIG: list[tuple[str, str, str, str | None]] = [
    # (old, new, the key the message must name, a fragment it must contain)
    # journal
    ("  title: Test Journal", "  title: [a, b]", "journal.title", "text"),
    ("  title: Test Journal", "  title: {a: b}", "journal.title", "text"),
    ("  title: Test Journal", "  title: '  '", "journal.title", "empty"),
    ("  subtitle: A journal for tests", "  subtitle: [a]", "journal.subtitle", "text"),
    ("  site_url: https://journal.test/", "  site_url: [https://journal.test/]", "journal.site_url", None),
    ("  site_url: https://journal.test/", "  site_url: journal.test/", "journal.site_url", "http"),
    ("  site_url: https://journal.test/", "  site_url: //journal.test/", "journal.site_url", "http"),
    ("  site_url: https://journal.test/", "  site_url: 'javascript:alert(1)//'", "journal.site_url", "http"),
    ("  site_url: https://journal.test/", "  site_url: 'https://[::1/'", "journal.site_url", None),
    ("  site_url: https://journal.test/", "  site_url: 'https://journal.test/a b/'", "journal.site_url", None),
    ("  feeds_url: https://journal.test/feeds/", "  feeds_url: https://journal.test/feeds", "journal.feeds_url",
     "must end with '/'"),
    ("  feeds_url: https://journal.test/feeds/", "  feeds_url: journal.test/feeds/", "journal.feeds_url", "http"),
    ("  feeds_url: https://journal.test/feeds/", "  feeds_url: /feeds/", "journal.feeds_url", "http"),
    ("  feeds_url: https://journal.test/feeds/", "  feeds_url: 'https://journal.test/my feeds/'",
     "journal.feeds_url", None),
    ("  language: en", "  language: [en]", "journal.language", None),
    ("  language: en", "  language: English language", "journal.language", None),
    ("  timezone: America/New_York", "  timezone: [UTC]", "journal.timezone", None),
    ("  timezone: America/New_York", "  timezone: Mars/Olympus", "journal.timezone", "time zone"),
    ("  timezone: America/New_York", "  timezone: ../../../etc/passwd", "journal.timezone", "time zone"),
    ("  id_authority: journal.test", "  id_authority: [x]", "journal.id_authority", None),
    ("  id_authority: journal.test", "  id_authority: two words", "journal.id_authority", "RFC 4151"),
    ('  id_date: "2009"', "  id_date: [2009]", "journal.id_date", None),
    ('  id_date: "2009"', "  id_date: last year", "journal.id_date", "YYYY"),
    ('  id_date: "2009"', "  id_date: 2009-13-45", "journal.id_date", None),
    ("  id_date: \"2009\"", "  id_date: \"2009\"\n  permalink: '{year}/post.html'", "journal.permalink",
     "{slug}"),
    ("  id_date: \"2009\"", "  id_date: \"2009\"\n  permalink: '{nope}/{slug}'", "journal.permalink", None),
    ("  id_date: \"2009\"", "  id_date: \"2009\"\n  colour: red", "journal.colour", "unknown key"),
    # authors
    (AUTHORS_BLOCK, "authors: [jmorton, napolitano]\n", "authors", "mapping"),
    (JMORTON, "  jmorton: [x]", "authors.jmorton", "mapping"),
    (JMORTON, "  jmorton: {name: [x]}", "authors.jmorton.name", "text"),
    (JMORTON, "  jmorton: {affiliation: ICE}", "authors.jmorton.name", "required"),
    (JMORTON, "  jmorton: {name: J, affiliation: [x]}", "authors.jmorton.affiliation", "text"),
    (JMORTON, "  jmorton: {name: J, email: not-an-address}", "authors.jmorton.email", None),
    (JMORTON, "  jmorton: {name: J, uri: example.com/me}", "authors.jmorton.uri", "http"),
    (JMORTON, "  jmorton: {name: J, colour: red}", "authors.jmorton.colour", "unknown key"),
    (JMORTON, "  ../evil: {name: J}", "authors.../evil", None),
    # feeds
    (FEEDS_BLOCK, "feeds: [atom, rss]\n", "feeds", "mapping"),
    ("  formats: [atom, rss, json]", "  formats: 'atom, rss'", "feeds.formats", None),
    ("  formats: [atom, rss, json]", "  formats: 12", "feeds.formats", None),
    ("  formats: [atom, rss, json]", "  formats: {atom: true}", "feeds.formats", None),
    ("  formats: [atom, rss, json]", "  formats: []", "feeds.formats", None),
    ("  formats: [atom, rss, json]", "  formats: [atom, rdf]", "feeds.formats", "'rdf'"),
    ("  entries: 25", "  entries: ten", "feeds.entries", "whole number"),
    ("  entries: 25", "  entries: '25'", "feeds.entries", "whole number"),
    ("  entries: 25", "  entries: 2.5", "feeds.entries", "whole number"),
    ("  entries: 25", "  entries: true", "feeds.entries", "whole number"),
    ("  entries: 25", "  entries: [25]", "feeds.entries", "whole number"),
    ("  entries: 25", "  entries: 0", "feeds.entries", "between"),
    ("  content: full", "  content: [full]", "feeds.content", None),
    ("  content: full", "  content: everything", "feeds.content", "'full' or 'summary'"),
    ("  content: full", "  content: full\n  authors: 'yes'", "feeds.authors", "true or false"),
    ("  content: full", "  content: full\n  labels: 1", "feeds.labels", "true or false"),
    ("  content: full", "  content: full\n  tombstone_days: a month", "feeds.tombstone_days", None),
    ("  content: full", "  content: full\n  label_feeds: [1]", "feeds.label_feeds", "mapping"),
    ("  content: full", "  content: full\n  label_feeds: {entries: x}", "feeds.label_feeds.entries", None),
    ("  content: full", "  content: full\n  label_feeds: {colour: red}", "feeds.label_feeds.colour", "unknown key"),
    ("  content: full", "  content: full\n  colour: red", "feeds.colour", "unknown key"),
    # paths
    (PATHS, "paths: [newswire.db, content, feeds]", "paths", "mapping"),
    (PATHS, "paths: feeds", "paths", "mapping"),
    (PATHS, "paths: {store: [a], content: content, output: feeds}", "paths.store", "text"),
    (PATHS, "paths: {store: newswire.db, content: content, output: true}", "paths.output", "text"),
    (PATHS, "paths: {store: newswire.db, content: content, output: ''}", "paths.output", None),
    (PATHS, "paths: {store: '', content: content, output: feeds}", "paths.store", None),
    (PATHS, "paths: {store: newswire.db, content: content, output: feeds, colour: red}", "paths.colour",
     "unknown key"),
    # notify
    ("  timeout: 10", "  timeout: x", "notify.timeout", "number"),
    ("  timeout: 10", "  timeout: [10]", "notify.timeout", "number"),
    ("  timeout: 10", "  timeout: .nan", "notify.timeout", None),
    ("  timeout: 10", "  timeout: -1", "notify.timeout", None),
    ("  max_attempts: 8", "  max_attempts: eight", "notify.max_attempts", "whole number"),
    ("  max_age: 2d", "  max_age: 2 days", "notify.max_age", "duration"),
    ("  websub: [https://hub.test/]", "  websub: hub.test", "notify.websub", "http"),
    ("  websub: [https://hub.test/]", "  websub: {a: b}", "notify.websub", None),
    ("  websub: [https://hub.test/]", "  websub: [ftp://hub.test/]", "notify.websub", "http"),
    ("  weblogs: [https://rpc.test/RPC2]", "  weblogs: [file:///etc/passwd]", "notify.weblogs", "http"),
    ("  weblogs: [https://rpc.test/RPC2]", "  weblogs: [https://rpc.test/RPC2]\n  webhooks: x", "notify.webhooks",
     None),
    ("  weblogs: [https://rpc.test/RPC2]", "  weblogs: [https://rpc.test/RPC2]\n  webhooks: [x]",
     "notify.webhooks[0]", None),
    ("  weblogs: [https://rpc.test/RPC2]",
     "  weblogs: [https://rpc.test/RPC2]\n  webhooks: [{url: hook.test/x, secret_env: HOME}]",
     "notify.webhooks[0].url", "http"),
    ("  weblogs: [https://rpc.test/RPC2]",
     "  weblogs: [https://rpc.test/RPC2]\n  webhooks: [{url: 'https://hook.test/', secret_env: HOME, colour: 1}]",
     "notify.webhooks[0].colour", "unknown key"),
    ("  max_age: 2d", "  max_age: 2d\n  colour: red", "notify.colour", "unknown key"),
    # schedule
    ("  timezone: UTC", "  timezone: Nowhere/Land", "schedule.timezone", "time zone"),
    ('  publish: "*/15 * * * *"', '  publish: "every 15 minutes"', "schedule.publish", "cron"),
    ('  publish: "*/15 * * * *"', '  publish: "61 * * * *"', "schedule.publish", "cron"),
    ('  publish: "*/15 * * * *"', "  publish: [1]", "schedule.publish", None),
    ('  publish: "*/15 * * * *"', "  publish: 15", "schedule.publish", "cron"),
    ('  verify: "0 * * * *"', '  verify: "x"', "schedule.verify", "cron"),
    ('  verify: "0 * * * *"', '  verify: "0 * * * *"\n  colour: red', "schedule.colour", "unknown key"),
    # sources
    (SOURCE, "  - {url: partner.test/feed.xml}", "sources[0].url", "http"),
    (SOURCE, "  - {url: 'https://partner.test/', every: 0h}", "sources[0].every", "duration"),
    (SOURCE, "  - {url: 'https://partner.test/', label: [x]}", "sources[0].label", "text"),
    (SOURCE, "  - https://partner.test/feed.xml", "sources[0]", "mapping"),
    (SOURCE, "  - {url: 'https://partner.test/', colour: red}", "sources[0].colour", "unknown key"),
    # fetch and the top level
    (FETCH, "fetch: {max_bytes: lots}", "fetch.max_bytes", "whole number"),
    (FETCH, "fetch: {timeout: 0}", "fetch.timeout", None),
    (FETCH, "fetch: {max_redirects: -1}", "fetch.max_redirects", None),
    (FETCH, "fetch: [1]", "fetch", "mapping"),
    (FETCH, "fetch: {colour: red}", "fetch.colour", "unknown key"),
    (FETCH, FETCH + "\ncolour: red", "colour", "unknown key"),
    (FETCH, FETCH + "\nfeeds: {entries: 5}", "feeds", None),  # a second 'feeds:' silently replaced the first
]


def _config_line(text: str, new: str) -> int:
    marker = new.strip().splitlines()[-1].strip()
    return next(i for i, line in enumerate(text.splitlines(), 1) if marker in line)


@pytest.mark.parametrize("old, new, key, fragment", BAD_CONFIG, ids=[f"{c[2]}={c[1].strip().splitlines()[-1][:40]}"
                                                                     for c in BAD_CONFIG])
def test_every_bad_config_value_names_file_line_and_key(journal: Journal, old: str, new: str, key: str,
                                                       fragment: str | None) -> None:
    assert old in CONFIG_FULL, old
    text = CONFIG_FULL.replace(old, new, 1)
    journal.write_config(text)
    if key == "feeds" and "entries: 5" in new:
        line = len(text.splitlines())  # the duplicate 'feeds:' key
    else:
        line = _config_line(text, new)

    with pytest.raises(ConfigError) as info:
        load_config(journal.config_path)

    message = str(info.value)
    if key == "feeds" and "entries: 5" in new:  # a duplicate key may be reported as a YAML error naming it
        assert message.startswith(f"{journal.config_path}:{line}: "), message
        assert "feeds" in message.split(f":{line}: ", 1)[1], message
    else:
        assert message.startswith(f"{journal.config_path}:{line}: {key}: "), message
    if fragment:
        assert fragment in message, message
    assert "\n" not in message, message
    assert "Located(" not in message, f"internal repr leaks into the message: {message}"


def test_the_full_config_used_above_is_valid(journal: Journal) -> None:
    journal.write_config(CONFIG_FULL)
    config = load_config(journal.config_path)
    assert config.notify.websub == ("https://hub.test/",) and config.fetch.max_redirects == 3


def test_formats_as_a_single_string_is_a_list_of_one_or_an_error(journal: Journal) -> None:
    journal.write_config(CONFIG.replace("formats: [atom, rss, json]", "formats: atom"))
    try:
        config = journal.config()
    except ConfigError as exc:
        assert "feeds.formats" in str(exc)
    else:
        assert config.feeds.formats == ("atom",)


def test_without_feeds_url_the_feeds_live_below_the_site(journal: Journal) -> None:
    journal.write_config(CONFIG.replace("  feeds_url: https://journal.test/feeds/\n", ""))
    journal.post("p", title="Post")
    assert run(journal).ok
    atom = etree.fromstring((journal.feeds / "atom.xml").read_bytes())
    self_link = next(link.get("href") for link in atom.iter(f"{ATOM}link") if link.get("rel") == "self")
    assert self_link == "https://journal.test/feeds/atom.xml"
    assert_valid(journal)


@pytest.mark.parametrize("old, new, key", [
    ("entries: 25", "entries: ten", "feeds.entries"),
    ("feeds_url: https://journal.test/feeds/", "feeds_url: https://journal.test/feeds", "journal.feeds_url"),
    ("  language: en", "  language: en\n  colour: red", "journal.colour"),
    ("site_url: https://journal.test/", "site_url: 'https://[::1/'", "journal.site_url"),
    ("paths: {store: newswire.db, content: content, output: feeds}",
     "paths: {store: newswire.db, content: content, output: config.yaml}", "paths.output"),
], ids=["entries-text", "feeds-url-no-slash", "unknown-key", "invalid-ipv6-url", "output-is-a-file"])
def test_cli_bad_config_exits_2_with_one_line_and_touches_nothing(journal: Journal, old: str, new: str,
                                                                 key: str) -> None:
    good_journal(journal)
    files, rows = journal.files(), store_rows(journal)
    (journal.root / ".editor-backup.tmp").write_text("the operator's file")  # must survive any publish
    journal.write_config(CONFIG.replace(old, new))
    before_tree = tree(journal.root.parent)

    result = journal.cli("publish", "--no-ping")

    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    line = assert_one_line(result.stderr, str(journal.config_path), key)
    assert re.match(rf"newswire: {re.escape(str(journal.config_path))}:\d+: {re.escape(key)}: ", line), line
    assert result.stdout == ""
    assert journal.files() == files and store_rows(journal) == rows
    assert tree(journal.root.parent) == before_tree


def test_an_empty_output_path_never_scatters_the_feeds_over_the_journal(journal: Journal) -> None:
    journal.write_config(CONFIG.replace("output: feeds", "output: ''"))
    journal.post("p", title="Post")
    keep = journal.content / ".draft.md.tmp"  # an editor's temporary file beside the posts
    keep.write_text("unsaved work")
    before_tree = tree(journal.root.parent)

    result = journal.cli("publish", "--no-ping")

    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert_one_line(result.stderr, "paths.output")
    assert keep.exists(), "publish deleted a file outside its output folder"
    assert tree(journal.root.parent) == before_tree
    assert not (journal.root / "atom.xml").exists()


# --------------------------------------------------------------------------------------
# YAML aliases: a 'billion laughs' in front matter is refused quickly, like an XML bomb

def _alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for k in range(1, levels):
        lines.append(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]")
    return "\n".join(lines)


def test_a_yaml_alias_bomb_in_front_matter_is_refused_quickly(journal: Journal) -> None:
    good_journal(journal)
    files = journal.files()
    _write(journal, "bomb", fm(*GOOD, "labels: *a8", body="x\n").replace("---\n", "---\n" + _alias_bomb(9) + "\n", 1))
    try:
        result = journal.cli("publish", "--no-ping", timeout=8)
    except subprocess.TimeoutExpired:
        pytest.fail("publish did not finish within 8 s: a 1 KB file with 10**9 YAML alias expansions hangs it")
    assert result.returncode == 1, result.stderr
    assert_one_line(result.stderr, "bomb.md:")
    assert journal.files() == files


def test_a_yaml_alias_bomb_in_the_config_is_refused_quickly(journal: Journal) -> None:
    journal.write_config(CONFIG + "x_bomb_anchor_holder:\n  " + _alias_bomb(9).replace("\n", "\n  ") + "\n")
    try:
        result = journal.cli("publish", "--no-ping", timeout=8)
    except subprocess.TimeoutExpired:
        pytest.fail("publish did not finish within 8 s: the config's YAML aliases are expanded without limit")
    assert result.returncode == 2
    assert_one_line(result.stderr, str(journal.config_path))


# --------------------------------------------------------------------------------------
# Special files in the content folder are refused unread: one line each, every run, and the rest is published

def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _link_to(target: str) -> Any:
    return lambda path: path.symlink_to(target)


def _sparse(size: int) -> Any:
    def make(path: Path) -> None:
        with open(path, "wb") as fh:
            fh.write(fm(*GOOD).encode())
            fh.truncate(size)  # a hole: no disk used, but every byte is read back as zero
    return make


def _socket(path: Path) -> None:
    import socket

    sock = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(path.parent)  # a socket's path is limited to about 100 bytes: bind by its name
    try:
        sock.bind(path.name)
    finally:
        os.chdir(cwd)
        sock.close()


SPECIAL = [
    ("fifo", "fifo.md", _fifo, "fifo.md: is a named pipe (FIFO), not a regular file"),
    ("link-to-dev-zero", "zero.md", _link_to("/dev/zero"), "zero.md: is a character device, not a regular file"),
    ("link-to-itself", "loop.md", _link_to("loop.md"), "loop.md: is a link that leads back to itself (a loop)"),
    ("link-to-its-folder", "again", _link_to("."), "again: is a link to a folder that holds it (a loop); not followed"),
    ("link-to-a-folder-above", "sub/up", _link_to(".."), "sub/up: is a link to a folder that holds it (a loop); not followed"),
    ("one-gigabyte", "huge.md", _sparse(2**30),
     "huge.md: is 1073741824 bytes (1 GB), more than the sync.max_file_bytes limit of 16777216 bytes (16 MB)"),
    ("socket", "socket.md", _socket, "socket.md: is a socket, not a regular file"),
    ("link-to-nothing", "gone.md", _link_to("nowhere.md"), "gone.md: cannot be read: No such file or directory"),
]


@pytest.mark.parametrize("case, name, make, message", SPECIAL, ids=[s[0] for s in SPECIAL])
def test_a_special_file_is_refused_unread_at_every_run_and_the_rest_is_published(
        journal: Journal, case: str, name: str, make: Any, message: str) -> None:
    good_journal(journal)
    published = entries(journal)
    (journal.content / name).parent.mkdir(exist_ok=True)
    make(journal.content / name)
    journal.post("fresh", title="Fresh post", date="2009-11-08T10:00:00-05:00")

    for _ in range(2):  # refused at every run, not remembered as done
        try:
            result = journal.cli("publish", "--no-ping", timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"publish hangs on {name} (holding the journal's lock)")
        assert result.returncode == 1, (result.returncode, result.stderr)
        assert assert_one_line(result.stderr) == f"newswire: {message}"
    assert "Fresh post" in [i["title"] for i in json_items(journal)], "a good post was blocked by a special file"
    assert_nothing_lost(published, entries(journal))
    assert_valid(journal)


@pytest.mark.parametrize("case, name, make, message", [s for s in SPECIAL if s[1].endswith(".md")],
                         ids=[s[0] for s in SPECIAL if s[1].endswith(".md")])
def test_a_published_posts_file_replaced_by_a_special_file_keeps_the_post(
        journal: Journal, case: str, name: str, make: Any, message: str) -> None:
    good_journal(journal)
    files, rows = journal.files(), store_rows(journal)
    (journal.content / "good.md").unlink()
    if name == "loop.md":
        make = _link_to("good.md")
    make(journal.content / "good.md")

    result = journal.cli("publish", "--no-ping", timeout=60)

    assert result.returncode == 1, result.stderr
    assert assert_one_line(result.stderr).startswith("newswire: good.md: ")
    assert store_rows(journal) == rows and journal.files() == files, "the post of a refused file was changed"


def test_a_huge_content_file_is_not_read(journal: Journal) -> None:
    """A 1 GB file is refused on its size: the publish's memory stays far below the file's size."""
    good_journal(journal)
    _sparse(2**30)(journal.content / "huge.md")
    measure = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", measure, sys.executable, "-m", "newswire", "--config",
                             str(journal.config_path), "publish", "--no-ping"],
                            capture_output=True, text=True, timeout=120)
    peak_kib = int(result.stdout.split()[-1])
    assert "huge.md: is 1073741824 bytes" in result.stderr, result.stderr
    assert peak_kib < 300 * 1024, f"publish peaked at {peak_kib // 1024} MB for a 1 GB file it refuses"


def test_a_folder_that_cannot_be_read_keeps_the_posts_below_it(journal: Journal) -> None:
    """As root, the CLI runs without the capabilities that let root open any folder."""
    journal.post("top", title="Top", date="2009-11-01")
    journal.post("sub/below", title="Below", date="2009-11-02")
    journal.post("sub/deeper/more", title="More", date="2009-11-03")
    drop = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []

    def publish_cli() -> subprocess.CompletedProcess[str]:
        return subprocess.run([*drop, sys.executable, "-m", "newswire", "--config", str(journal.config_path),
                               "publish", "--no-ping"], cwd=journal.root, capture_output=True, text=True, timeout=60)

    assert publish_cli().returncode == 0
    rows, files = store_rows(journal)["posts"], journal.files()
    (journal.content / "sub").chmod(0)
    try:
        result = publish_cli()
        assert result.returncode == 1, result.stderr
        assert assert_one_line(result.stderr) == ("newswire: sub: this folder cannot be read (Permission denied); "
                                                  "the posts below it are kept as they are")
        assert store_rows(journal)["posts"] == rows and journal.files() == files
    finally:
        (journal.content / "sub").chmod(0o755)
    result = publish_cli()
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert store_rows(journal)["posts"] == rows and journal.files() == files


IMPORT_SPECIAL = [
    ("fifo", _fifo, "is a named pipe (FIFO), not a regular file"),
    ("dev-zero", _link_to("/dev/zero"), "is a character device, not a regular file"),
    ("folder", lambda path: path.mkdir(), "is a folder, not a regular file"),
    ("larger-than-fetch-max-bytes", _sparse(2**30),
     "is 1073741824 bytes (1 GB), more than the fetch.max_bytes limit of 20971520 bytes (20 MB)"),
    ("missing", lambda path: None, "cannot be read: No such file or directory"),
]


@pytest.mark.parametrize("case, make, message", IMPORT_SPECIAL, ids=[s[0] for s in IMPORT_SPECIAL])
def test_import_of_a_special_local_file_is_refused_unread(journal: Journal, tmp_path: Path, case: str, make: Any,
                                                           message: str) -> None:
    good_journal(journal)
    rows = store_rows(journal)
    source = tmp_path / "source.xml"
    make(source)
    try:
        result = journal.cli("import", str(source), timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"import of a {case} hangs")
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert assert_one_line(result.stderr) == f"newswire: {source}: {message}"
    assert store_rows(journal) == rows


# --------------------------------------------------------------------------------------
# Any label or author name gets a file name that fits

NAME_MAX = 255
WIDE = "\U00020000" * 100  # 100 CJK letters of four bytes each in UTF-8


def _segments_fit(journal: Journal) -> None:
    for path in journal.feeds.rglob("*"):
        name = path.name.encode("utf-8")
        assert len(name) <= NAME_MAX, path


@pytest.mark.parametrize("where", ["label", "author", "title"])
def test_a_name_of_four_byte_letters_gets_a_slug_that_fits(journal: Journal, where: str) -> None:
    journal.post("wide", title=WIDE if where == "title" else "Wide", labels=(WIDE if where == "label" else "Plain",),
                 author=WIDE if where == "author" else "jmorton")

    report = run(journal)

    assert report.ok, errors_of(report) + report.errors + [str(p) for r in report.failed for p in r.problems]
    _segments_fit(journal)
    (item,) = json_items(journal)
    slug = item["url"].rsplit("/", 1)[-1].removesuffix(".html")
    folders = {"label": journal.feeds / "labels", "author": journal.feeds / "authors", "title": None}[where]
    if folders is not None:
        slug = next(p.name for p in folders.iterdir() if p.name not in ("plain", "jmorton", "john-morton"))
    else:
        from urllib.parse import unquote
        slug = unquote(slug)
    assert len(slug.encode("utf-8")) <= 100 and slug.startswith("\U00020000" * 20), slug
    assert_valid(journal)


def test_long_labels_differing_only_at_their_end_get_different_readable_slugs(journal: Journal) -> None:
    head = "Border security and customs enforcement cooperation " * 3
    journal.post("a", title="A", labels=(head + "alpha",))
    journal.post("b", title="B", labels=(head + "beta",), date="2009-11-07")

    report = run(journal)

    assert report.ok, errors_of(report)
    slugs = sorted(p.name for p in (journal.feeds / "labels").iterdir())
    assert len(slugs) == 2 and slugs[0] != slugs[1], slugs
    for slug in slugs:
        assert len(slug.encode("utf-8")) <= 100, slug
        assert re.fullmatch(r"(border-security-and-customs-enforcement-cooperation-?)+[a-z-]*-[0-9a-f]{8}", slug), slug
        assert not slug.endswith("-2")
    words = set(head.lower().split())
    for slug in slugs:  # cut at a word: every word before the hash is whole
        assert set(slug.split("-")[:-1]) <= words, slug
    assert sorted(_label_feeds(journal)) == sorted(f"Test Journal: {head}{end}".strip() for end in ("alpha", "beta"))


def test_a_store_holding_an_overlong_slug_is_mended_on_open(journal: Journal) -> None:
    """A store made before slugs were bounded may hold a label slug no file system takes."""
    journal.post("p", title="P", labels=("Wide",))
    assert run(journal).ok
    db = sqlite3.connect(journal.root / "newswire.db")
    with db:
        db.execute("UPDATE labels SET slug = ?", ("\U00020000" * 80,))  # what slugify gave before: 320 bytes
        db.execute("UPDATE authors SET slug = ? WHERE key = 'jmorton'", ("\U00020001" * 80,))
        # schema 9 had neither the posts' origin (migration 11), the table of shown posts (12), ETags (13),
        # nor the outbox's claims and the content revision (14)
        db.execute("ALTER TABLE posts DROP COLUMN origin")
        db.execute("DROP TABLE shown")
        db.execute("ALTER TABLE documents DROP COLUMN etag")
        db.execute("ALTER TABLE outbox DROP COLUMN claimed_by")
        db.execute("ALTER TABLE outbox DROP COLUMN claimed_until")
        db.execute("DROP TABLE content_revision")
        db.execute("PRAGMA user_version = 9")
    db.close()

    report = run(journal)

    assert report.ok, errors_of(report) + report.errors
    _segments_fit(journal)
    db = sqlite3.connect(journal.root / "newswire.db")
    slugs = [r[0] for r in db.execute("SELECT slug FROM labels UNION ALL SELECT slug FROM authors")]
    db.close()
    assert all(len(s.encode("utf-8")) <= 100 for s in slugs), slugs
    assert_valid(journal)


_NAMES = st.one_of(
    st.text(min_size=1, max_size=40),
    st.text(min_size=1, max_size=4).map(lambda t: t * 70),                     # long, of any script
    st.tuples(st.text(min_size=1, max_size=3), st.text(min_size=1, max_size=3)).map(lambda p: p[0] * 60 + p[1]),
)


@settings(max_examples=300, deadline=None)
@given(name=_NAMES)
def test_any_name_gives_one_safe_path_segment_that_fits(name: str) -> None:
    from newswire.text import slugify

    slug = slugify(name, fallback="label")
    data = slug.encode("utf-8")
    assert 0 < len(data) <= 100 <= NAME_MAX
    assert slug not in (".", "..") and not re.search(r"[/\\.\x00\s]", slug), slug
    assert slugify(slug, fallback="label") == slug, "a slug is its own slug (authors are slugged twice)"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_NAMES, min_size=1, max_size=8))
def test_distinct_labels_and_authors_get_distinct_slugs_that_fit(tmp_path_factory: pytest.TempPathFactory,
                                                                 names: list[str]) -> None:
    from datetime import datetime

    from newswire.model import PostInput
    from newswire.store import SqliteStore
    from newswire.text import label_fold, label_text, one_line

    labels = [label for label in map(label_text, names) if label]
    people = [person for person in map(one_line, names) if person]
    with SqliteStore(tmp_path_factory.mktemp("slugs") / "s.db") as store:
        store.db.execute("INSERT INTO authors (key, name, slug) VALUES ('k', 'K', 'k')")
        when = datetime(2009, 11, 6, tzinfo=UTC)
        store.posts.upsert(PostInput(source="md:p.md", key="p", title="P", body="", author_key="k", published=when,
                                    labels=tuple(labels)), when)
        keys = {store.authors.ensure(person, None) for person in people}
        label_slugs = [r[0] for r in store.db.execute("SELECT slug FROM labels")]
        author_slugs = [r[0] for r in store.db.execute("SELECT slug FROM authors WHERE key != 'k'")]
    assert len(label_slugs) == len({label_fold(label) for label in labels}) == len(set(label_slugs))
    assert len(author_slugs) == len(keys) == len(set(author_slugs))
    for slug in label_slugs + author_slugs:
        assert len(slug.encode("utf-8")) <= NAME_MAX and not re.search(r"[/\\.\x00\s]", slug), slug


def test_a_file_larger_than_its_stat_says_is_read_whole_and_held_to_the_limit() -> None:
    """A file that grows after it was looked at (here one the kernel makes as it is read, whose size
    says 0) is read to its end, and refused once it passes the limit, never read without bound."""
    from newswire.files import Refused, read_limited

    status = Path("/proc/self/status")
    assert os.stat(status).st_size == 0
    data = read_limited(status, 1 << 20, "sync.max_file_bytes")
    assert data.startswith(b"Name:") and b"\nnonvoluntary_ctxt_switches:" in data  # its first line and its last
    with pytest.raises(Refused, match=r"^grew past the sync.max_file_bytes limit of 100 bytes while it was read$"):
        read_limited(status, 100, "sync.max_file_bytes")
