"""`newswire import` and `newswire pull`, end to end through the CLI.

Every supported source format is imported from a fixture in tests/fixtures/import/
and the store is read back (SQLite's or PostgreSQL's): counts, ids exactly as the source gave them,
titles, published instants, authors, labels and drafts. Then: importing twice changes
nothing, a changed entry is updated under its id, HTML is sanitised, a journal
survives a round trip through its own Atom feed, URL import and `pull` against a
real HTTP server on 127.0.0.1 (conditional GET, 304, 429 + Retry-After), and hostile
inputs (XML bombs, XXE, oversized answers, other schemes, redirects off http(s),
malformed files) are refused with one line and leave the store as it was.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newswire.importer import import_source
from newswire.job import open_store, publish, utcnow

from harness import CONFIG, Journal
from loopback import http_server

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "import"
ATOM_NS = "{http://www.w3.org/2005/Atom}"
CONFIG_AUTHORS = {"jmorton": "John Morton", "napolitano": "Janet Napolitano"}
pytestmark = pytest.mark.both_backends

MB = 1024 * 1024


# --- reading the store and the CLI's answers ---------------------------------------------


def stored(j: Journal) -> dict[str, dict[str, object]]:
    """Every post by entry id: its row, its author's name and its labels in order."""
    if not j.has_store():
        return {}
    labels: dict[int, list[str]] = {}
    for r in j.rows("SELECT pl.post_id, l.name FROM post_labels pl JOIN labels l ON l.id = pl.label_id "
                    "ORDER BY pl.post_id, pl.position"):
        labels.setdefault(r["post_id"], []).append(r["name"])
    return {r["entry_id"]: {**dict(r), "labels": labels.get(r["id"], [])} for r in j.rows(
        "SELECT p.*, a.name AS author_name FROM posts p JOIN authors a ON a.key = p.author_key")}


def authors(j: Journal) -> dict[str, str]:
    if not j.has_store():
        return {}
    return {r[0]: r[1] for r in j.rows("SELECT key, name FROM authors")}


def snapshot(j: Journal) -> dict[str, list[tuple[object, ...]]]:
    """The content tables, row for row (what an import may change)."""
    if not j.has_store():
        return {}
    return {t: sorted((tuple(r) for r in j.rows(f"SELECT * FROM {t}")), key=repr)
            for t in ("posts", "authors", "labels", "post_labels")}


def counts(output: str) -> dict[str, int]:
    """The numbers in an import summary or a pull line."""
    found = {k: int(v) for v, k in re.findall(r"(\d+) (added|updated|unchanged|skipped)", output)}
    return {"added": 0, "updated": 0, "unchanged": 0, "skipped": 0, **found}


def imported(j: Journal, source: str | Path, *args: str) -> dict[str, int]:
    result = j.cli("import", str(source), *args, timeout=60)
    assert result.returncode == 0, f"import failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return counts(result.stdout)


def assert_refused(result: subprocess.CompletedProcess[str], *, code_min: int = 1) -> str:
    """A refusal: exit code >= 1, nothing on stdout, exactly one line on stderr, no traceback."""
    assert result.returncode >= code_min, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    assert result.stdout.strip() == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    assert lines[0].startswith("newswire: "), lines[0]
    return lines[0]


def feed_documents(j: Journal) -> dict[str, bytes]:
    return {k: v for k, v in j.files().items() if k.endswith((".xml", ".json"))}


def setup_import(j: Journal, source: Path) -> None:
    """Import in-process (fast) where the import is set-up, not the thing under test; the CLI is a thin shell."""
    config = j.config()
    with open_store(config) as store:
        import_source(config, store, str(source), utcnow())


def setup_publish(j: Journal) -> None:
    """Publish in-process (fast) where the publish is set-up, not the thing under test."""
    report = publish(j.config(), ping=False)
    assert report.ok, report.errors + [str(p) for r in report.failed for p in r.problems]


def second_journal(tmp_path: Path, name: str = "b") -> Journal:
    b = Journal(tmp_path / name)
    b.root.mkdir()
    b.write_config(CONFIG.replace("https://journal.test/", f"https://{name}.example.test/")
                   .replace("id_authority: journal.test", f"id_authority: {name}.example.test"))
    b.content.mkdir()
    return b


# --- 1. every format imports the right entries ---------------------------------------------

# (entry id, title, published UTC (a str; a tuple of acceptable values; 'prefix*'),
#  updated UTC or None (not checked), author name or None (not checked), labels, draft)
EXPECTED: dict[str, tuple[int, list[tuple[str, str, object, str | None, str | None, list[str], bool]]]] = {
    "atom.xml": (0, [
        ("tag:harbor.example.net,2021:entry/tide-tables", "New tide tables & a revised pilot roster",
         "2021-03-04T07:30:00Z", "2021-03-05T09:00:00Z", "Priya Raman", ["Harbor Operations", "Weather"], False),
        ("urn:uuid:6f0c2a8e-3d41-4c7a-9b1e-2f5d8a9c0e17", "Quai Nord: dredging finished at berth four",
         "2021-02-20T21:45:00Z", "2021-02-20T21:45:00Z", "John Morton", ["Harbor Operations"], False),
        ("https://harbor.example.net/2021/01/ice-notice", "Ice notice for the inner basin",
         "2021-01-12T07:00:00Z", "2021-01-12T07:00:00Z", "Harbor Desk", [], False),
    ]),
    "rss2.xml": (0, [
        ("ferry-bulletin-2020-041", "Winter timetable starts Monday", "2020-10-30T18:00:00Z", None,
         "Tomás Ferreira", ["Timetables", "Winter"], False),
        ("https://ferry.example.org/news/car-deck", "Car deck closed for repairs", "2020-10-14T09:15:00Z", None,
         "Lena Ortiz", ["Vessels"], False),
        ("ferry-bulletin-2020-037", "Café on the upper deck reopens", "2020-10-05T07:00:00Z", None,
         "John Morton", ["Vessels"], False),
    ]),
    # RSS 0.91 items carry no date and no guid: the id is the link, and the only dates
    # the source gives are the channel's pubDate / lastBuildDate.
    "rss091.xml": (0, [
        ("https://quarry-walks.example.org/walks/ridge-loop.html", "Saturday: the ridge loop",
         ("2002-04-01T09:00:00Z", "2002-04-01T10:00:00Z"), None, None, [], False),
        ("https://quarry-walks.example.org/walks/canal.html", "Sunday: along the canal",
         ("2002-04-01T09:00:00Z", "2002-04-01T10:00:00Z"), None, None, [], False),
        ("https://quarry-walks.example.org/notices/boots.html", "Boots for sale",
         ("2002-04-01T09:00:00Z", "2002-04-01T10:00:00Z"), None, None, [], False),
    ]),
    "rss10.rdf": (0, [
        ("https://weather-station.example.org/log/2019/02/gale", "Gale overnight, 61 knots at the mast",
         "2019-02-03T03:05:06Z", None, "Ola Nordmann", ["Storms"], False),
        ("https://weather-station.example.org/log/2019/01/anemometer", "The anemometer has been replaced",
         "2019-01-15T13:00:00Z", None, "Janet Napolitano", ["Instruments"], False),
    ]),
    "feed.json": (0, [
        ("2022-07-14-buoy-12", "Buoy 12 is back online", "2022-07-14T13:20:00Z", "2022-07-15T15:00:00Z",
         "Keiko Tanaka", ["Buoys", "Maintenance"], False),
        ("2022-06-30-summer-hours", "Summer hours at the visitor centre", "2022-06-30T12:00:00Z",
         "2022-06-30T12:00:00Z", "Station Crew", ["Visitors"], False),
        ("urn:uuid:0b7f6a52-9e1d-4c38-8a2f-5d0c1e3b4a69", "An unexpected ñandú on the sea wall",
         "2022-05-01T07:00:00Z", "2022-05-01T07:00:00Z", "Janet Napolitano", ["Visitors", "Wildlife"], False),
    ]),
    # 2 settings + 1 template + 2 comments skipped.
    "blogger.xml": (5, [
        ("tag:blogger.com,1999:blog-7301234567890123456.post-4410000000000000001",
         "The first radishes of the year", "2011-05-02T15:15:00Z", "2011-05-04T02:40:12Z", "Marta Lindqvist",
         ["Vegetables", "Compost"], False),
        ("tag:blogger.com,1999:blog-7301234567890123456.post-4410000000000000002",
         "Building two compost bins from old pallets", "2011-04-18T19:05:00Z", "2011-04-18T19:05:00Z",
         "Marta Lindqvist", ["Trädgård", "Compost"], False),
        ("tag:blogger.com,1999:blog-7301234567890123456.post-4410000000000000003",
         "Half-written: where the beans go next year", "2011-05-10T14:00:00Z", None, "Marta Lindqvist",
         ["Plans"], True),
    ]),
    # page + attachment + trashed post skipped. dc:creator is the login; wp:author maps it to a name.
    "wxr.xml": (3, [
        ("https://lighthouse.example.com/?p=12", "Restoring the Fresnel lens", "2018-09-01T08:00:00Z", None,
         "Hanna Koval", ["Maintenance", "Optics"], False),
        ("https://lighthouse.example.com/?p=15", "The night of the 1953 storm", "2018-08-14T19:30:00Z", None,
         "John Morton", ["Keepers' Stories", "Storms & Shipwrecks"], False),
        ("https://lighthouse.example.com/?p=19", "Draft: painting the gallery rail", "2018-10-02*", None,
         "Hanna Koval", ["Maintenance"], True),
    ]),
}


def _instant_ok(got: str, want: object) -> bool:
    if isinstance(want, tuple):
        return got in want
    if isinstance(want, str) and want.endswith("*"):
        return got.startswith(want[:-1])
    return got == want


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_format_imports_the_right_entries(journal: Journal, name: str) -> None:
    skipped, expected = EXPECTED[name]
    report = imported(journal, FIXTURES / name)
    assert (report["added"], report["skipped"]) == (len(expected), skipped), report

    posts = stored(journal)
    assert sorted(posts) == sorted(e[0] for e in expected), "ids must be kept exactly as the source gave them"
    for entry_id, title, published, updated, _author, labels, draft in expected:
        p = posts[entry_id]
        assert p["title"] == title, entry_id
        assert _instant_ok(p["published"], published), (entry_id, p["published"], published)
        if updated is not None:
            assert p["updated"] == updated, (entry_id, p["updated"], updated)
        assert p["labels"] == labels, entry_id
        assert bool(p["draft"]) is draft, entry_id

    # Authors: known names map to the config's authors, unknown ones are created once.
    known_names = {name: key for key, name in CONFIG_AUTHORS.items()}
    for entry_id, *_, author, _labels, _draft in expected:
        if author is None:
            continue
        p = posts[entry_id]
        assert p["author_name"] == author, (entry_id, p["author_name"], author)
        if author in known_names:
            assert p["author_key"] == known_names[author], entry_id
    names = list(authors(journal).values())
    assert len(names) == len(set(names)), f"an author was created twice: {names}"


@pytest.mark.parametrize("name, draft_id, draft_title, live_id", [
    ("blogger.xml", "tag:blogger.com,1999:blog-7301234567890123456.post-4410000000000000003",
     "where the beans go next year", "tag:blogger.com,1999:blog-7301234567890123456.post-4410000000000000001"),
    ("wxr.xml", "https://lighthouse.example.com/?p=19", "painting the gallery rail",
     "https://lighthouse.example.com/?p=12"),
])
def test_export_drafts_stay_drafts_after_publish(journal: Journal, name: str, draft_id: str, draft_title: str,
                                                 live_id: str) -> None:
    setup_import(journal, FIXTURES / name)
    journal.cli("publish", check=True)
    docs = feed_documents(journal)
    assert any(live_id.encode() in body for body in docs.values())
    for path, body in docs.items():
        assert draft_id.encode() not in body, f"the draft is in {path}"
        assert draft_title.encode() not in body, f"the draft is in {path}"
    assert not (journal.feeds / "labels" / "plans").exists()  # Blogger's draft-only label has no feed
    assert stored(journal)[draft_id]["draft"] == 1


def test_author_and_label_options(journal: Journal) -> None:
    report = imported(journal, FIXTURES / "rss2.xml", "--author", "jmorton", "--label", "Partner News",
                      "--label", "Ferry")
    assert report["added"] == 3
    posts = stored(journal)
    assert {p["author_key"] for p in posts.values()} == {"jmorton"}
    assert posts["ferry-bulletin-2020-041"]["labels"] == ["Timetables", "Winter", "Partner News", "Ferry"]
    assert posts["https://ferry.example.org/news/car-deck"]["labels"] == ["Vessels", "Partner News", "Ferry"]
    assert authors(journal) == CONFIG_AUTHORS, "--author must not create authors"

    # An --author that is not a key in the config is refused, and imports nothing.
    before = snapshot(journal)
    line = assert_refused(journal.cli("import", str(FIXTURES / "atom.xml"), "--author", "nobody"))
    assert "nobody" in line
    assert snapshot(journal) == before


# --- 2. idempotent; a changed entry is updated under its id ---------------------------------


@pytest.mark.parametrize("name", list(EXPECTED))
def test_importing_twice_changes_nothing(journal: Journal, name: str) -> None:
    setup_import(journal, FIXTURES / name)
    before = snapshot(journal)
    again = imported(journal, FIXTURES / name)
    assert (again["added"], again["updated"]) == (0, 0), again
    assert snapshot(journal) == before


# fixture, entry id, replacements to make in a copy, new title, expected new `updated` (None: later than before)
CHANGES = [
    ("atom.xml", "tag:harbor.example.net,2021:entry/tide-tables",
     [("a revised pilot roster", "a longer pilot roster"), ("2021-03-05T11:00:00+02:00", "2021-03-08T09:00:00+02:00"),
      ("every nine days", "every ten days")],
     "New tide tables & a longer pilot roster", "2021-03-08T07:00:00Z"),
    ("rss2.xml", "https://ferry.example.org/news/car-deck",
     [("Car deck closed for repairs", "Car deck closed for repairs until Friday")],
     "Car deck closed for repairs until Friday", None),
    ("blogger.xml", "tag:blogger.com,1999:blog-7301234567890123456.post-4410000000000000001",
     [("The first radishes of the year", "The first radishes (and a beetroot)"),
      ("2011-05-03T19:40:12.345-07:00", "2011-05-06T10:00:00.000-07:00")],
     "The first radishes (and a beetroot)", "2011-05-06T17:00:00Z"),
    ("wxr.xml", "https://lighthouse.example.com/?p=12",
     [("Restoring the Fresnel lens", "Restoring the Fresnel lens, part one"), ("three weekends", "four weekends")],
     "Restoring the Fresnel lens, part one", None),
]


@pytest.mark.parametrize("name, entry_id, edits, new_title, new_updated", CHANGES,
                         ids=[c[0] for c in CHANGES])
def test_entry_changed_at_the_source_is_updated_under_its_id(journal: Journal, tmp_path: Path, name: str,
                                                             entry_id: str, edits: list[tuple[str, str]],
                                                             new_title: str, new_updated: str | None) -> None:
    # The same file, changed in place: only the source that brought an entry may change it (see section 7).
    changed = tmp_path / name
    text = (FIXTURES / name).read_text(encoding="utf-8")
    changed.write_text(text, encoding="utf-8")
    setup_import(journal, changed)
    old = stored(journal)
    for a, b in edits:
        assert a in text, a
        text = text.replace(a, b)
    changed.write_text(text, encoding="utf-8")

    report = imported(journal, changed)
    assert (report["added"], report["updated"]) == (0, 1), report
    new = stored(journal)
    assert sorted(new) == sorted(old)
    p, q = old[entry_id], new[entry_id]
    assert (q["id"], q["entry_id"], q["published"]) == (p["id"], p["entry_id"], p["published"])
    assert q["title"] == new_title
    if new_updated is not None:
        assert q["updated"] == new_updated
    else:
        assert q["updated"] > p["updated"]
    for other in old:
        if other != entry_id:
            assert new[other] == old[other], f"{other} changed although the source did not change it"


# --- 3. sanitised -------------------------------------------------------------------------

# In HTML taken out of the store or a feed: none of these, in any case.
BAD_IN_HTML = ("script", "iframe", "onerror", "onclick", "onload", "javascript", "grabcookies", "display: none",
               "tracker.example.com", "formaction", "<style", "<object", "<embed", "<svg", "<form", "<math")
# In the raw bytes of a published document (where "description" is a legitimate word).
BAD_IN_DOCUMENT = (b"<script", b"&lt;script", b"\\u003cscript", b"iframe", b"onerror", b"onclick", b"onload",
                   b"javascript", b"grabcookies", b"display: none", b"tracker.example.com", b"formaction")


def _assert_clean_html(html: str, where: str) -> None:
    low = html.lower()
    for bad in BAD_IN_HTML:
        assert bad not in low, f"{bad!r} survived sanitising in {where}:\n{html}"
    assert "<p>" in html, where
    assert '<a href="https://pier.example.net/about">' in html, where
    # relative links resolved against the entry's link
    assert 'href="https://pier.example.net/posts/notes/budget.html"' in html, where
    assert '<img src="https://pier.example.net/posts/pictures/pier.jpg"' in html, where
    assert "The next meeting is in July." in html, where


def test_imported_html_is_sanitised(journal: Journal) -> None:
    imported(journal, FIXTURES / "hostile-html.xml")
    entry_id = "tag:pier.example.net,2023:minutes-june"

    shown = journal.cli("post", "show", entry_id, check=True).stdout
    _assert_clean_html(shown.split("\n\n", 1)[1], "post show")
    _assert_clean_html(stored(journal)[entry_id]["body"], "the store")

    setup_publish(journal)
    docs = feed_documents(journal)
    assert "atom.xml" in docs and "feed.json" in docs and "rss.xml" in docs
    for path, data in docs.items():
        low = data.lower()
        for bad in BAD_IN_DOCUMENT:
            assert bad not in low, f"{bad!r} is in the published {path}"
    item = next(i for i in json.loads(docs["feed.json"])["items"] if i["id"] == entry_id)
    _assert_clean_html(item["content_html"], "feed.json")
    atom = etree.fromstring(docs["atom.xml"])
    _assert_clean_html(next(e.findtext(f"{ATOM_NS}content") for e in atom.iter(f"{ATOM_NS}entry")
                            if e.findtext(f"{ATOM_NS}id") == entry_id), "atom.xml")
    rss = etree.fromstring(docs["rss.xml"])
    _assert_clean_html(next(i.findtext("{http://purl.org/rss/1.0/modules/content/}encoded") for i in rss.iter("item")
                            if i.findtext("guid") == entry_id), "rss.xml")


# --- 4. round trip --------------------------------------------------------------------------


def _atom_entries(path: Path) -> dict[str, tuple[object, ...]]:
    parsed = feedparser.parse(path.read_bytes(), sanitize_html=False, resolve_relative_uris=False)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return {e.id: (e.title, tuple(e.published_parsed), tuple(e.updated_parsed), e.author,
                   [t.term for t in e.get("tags", [])]) for e in parsed.entries}


def test_round_trip_through_the_atom_feed(journal: Journal, tmp_path: Path) -> None:
    journal.post("tide-and-time", title="Tide & Time: notes on the ports", date="2009-11-06T10:00:00-05:00",
                 author="jmorton", labels=("Border Security", "Coopération Internationale"),
                 body="Ports & harbours, *briefly*.")
    journal.post("haefen", title="Überprüfung der Häfen — Zwischenstand", date="2009-11-10T08:30:00+01:00",
                 updated="2009-11-12T09:00:00+01:00", author="napolitano", labels=("Ports & Harbors",),
                 body="Ein kurzer Bericht über die Häfen im Norden.")
    journal.post("grid", title="Cyber week <and> the grid", date="2009-10-01T12:00:00+02:00",
                 author="napolitano", labels=("Border Security", "Ports & Harbors"), body="Short & to the point.")
    journal.post("tokyo", title="Café notes from 東京", date="2009-12-01T23:30:00-08:00", author="jmorton",
                 labels=("Coopération Internationale",), body="Green tea, and a long meeting.")
    setup_publish(journal)
    a = _atom_entries(journal.feeds / "atom.xml")
    assert len(a) == 4

    b = second_journal(tmp_path)
    report = imported(b, journal.feeds / "atom.xml")
    assert report["added"] == 4
    b.cli("publish", check=True)
    got = _atom_entries(b.feeds / "atom.xml")
    assert sorted(got) == sorted(a)
    for entry_id, want in a.items():
        assert got[entry_id] == want, entry_id
    assert authors(b) == CONFIG_AUTHORS, "A's authors are B's config authors; none should be created"


# --- 5. URL import and pull against a real server ----------------------------------------------


def partner_rss(items: list[tuple[str, str, str]]) -> bytes:
    """RSS 2.0 whose items have no <link>: relative URLs resolve against the feed's URL."""
    body = "".join(f"""
    <item>
      <guid isPermaLink="false">{guid}</guid>
      <title>{title}</title>
      <pubDate>{date}</pubDate>
      <description>&lt;p&gt;Route notes are &lt;a href="maps/route.html"&gt;here&lt;/a&gt;.
        &lt;img src="/img/{guid}.png" alt="map"&gt;&lt;/p&gt;</description>
    </item>""" for guid, title, date in items)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Partner Trails</title><link>https://partner.example.net/</link>
<description>Shared trail news</description>{body}
</channel></rss>""".encode()


ITEMS = [("partner-1", "Coast path reopened", "Tue, 05 Jan 2021 09:00:00 GMT"),
         ("partner-2", "New bridge over the brook", "Mon, 04 Jan 2021 15:30:00 GMT")]


class Partner:
    """A partner feed on 127.0.0.1: answers with ETag/Last-Modified, 304 when they match, or 429."""

    def __init__(self, server: HTTPServer, path: str = "/feeds/partner.xml", *, lower_case: bool = False):
        self.requests: list[dict[str, str]] = []
        self.body = partner_rss(ITEMS)
        self.mode = "ok"
        self.etag = '"partner-v1"'
        self.last_modified = "Tue, 05 Jan 2021 10:00:00 GMT"
        self.lower = lower_case
        self._lock = threading.Lock()
        server.expect_request(path).respond_with_handler(self.handle)
        self.url = f"http://127.0.0.1:{server.port}{path}"

    def _h(self, name: str) -> str:
        return name.lower() if self.lower else name

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.requests.append({k.lower(): v for k, v in request.headers.items()})
        if self.mode == "429":
            return Response(b"slow down", status=429, headers={self._h("Retry-After"): "120"})
        inm, ims = request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since")
        if (inm is not None and inm == self.etag) or (inm is None and ims is not None and ims == self.last_modified):
            return Response(b"", status=304, headers={self._h("ETag"): self.etag})
        return Response(self.body, status=200, content_type="application/rss+xml",
                        headers={self._h("ETag"): self.etag, self._h("Last-Modified"): self.last_modified})


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    with http_server() as s:
        yield s


def with_source(j: Journal, url: str, extra: str = "") -> None:
    j.write_config(CONFIG + f"sources:\n  - {{url: '{url}', label: Partners, every: 1h}}\n"
                   "fetch: {max_bytes: 1048576, timeout: 5, max_redirects: 3}\n" + extra)


def test_import_from_a_url(journal: Journal, server: HTTPServer) -> None:
    partner = Partner(server)
    report = imported(journal, partner.url, "--label", "Trails")
    assert report["added"] == 2
    posts = stored(journal)
    assert sorted(posts) == ["partner-1", "partner-2"]
    assert posts["partner-1"]["title"] == "Coast path reopened"
    assert posts["partner-1"]["published"] == "2021-01-05T09:00:00Z"
    assert posts["partner-1"]["labels"] == ["Trails"]
    body = posts["partner-1"]["body"]
    # no entry link: relative URLs resolve against the URL the feed came from
    assert f'href="http://127.0.0.1:{server.port}/feeds/maps/route.html"' in body, body
    assert f'src="http://127.0.0.1:{server.port}/img/partner-1.png"' in body, body


def test_pull_conditional_get_304_retry_after_and_publish(journal: Journal, server: HTTPServer) -> None:
    partner = Partner(server)
    with_source(journal, partner.url)

    first = journal.cli("pull")
    assert first.returncode == 0, first.stderr
    assert "imported" in first.stdout and counts(first.stdout)["added"] == 2, first.stdout
    assert "if-none-match" not in partner.requests[0]
    posts = stored(journal)
    assert all("Partners" in p["labels"] for p in posts.values())
    setup_publish(journal)
    assert (journal.feeds / "labels" / "partners" / "atom.xml").read_bytes().count(b"partner-") >= 2
    store_before, files_before = snapshot(journal), journal.files()

    # Conditional GET with the validators the server gave; 304 changes nothing.
    second = journal.cli("pull", "--force")
    assert second.returncode == 0, second.stderr
    assert len(partner.requests) == 2
    assert partner.requests[1].get("if-none-match") == '"partner-v1"'
    assert partner.requests[1].get("if-modified-since") == "Tue, 05 Jan 2021 10:00:00 GMT"
    assert "not modified" in second.stdout, second.stdout
    assert snapshot(journal) == store_before
    setup_publish(journal)
    assert journal.files() == files_before

    # 429 + Retry-After: retry later, and an unforced pull is not due (and does not ask).
    partner.mode = "429"
    third = journal.cli("pull", "--force")
    assert "Traceback" not in third.stderr
    assert "retry later" in third.stdout, (third.stdout, third.stderr)
    asked = len(partner.requests)
    now = datetime.now(UTC)
    fourth = journal.cli("pull")
    assert fourth.returncode == 0
    assert "not due" in fourth.stdout, fourth.stdout
    assert len(partner.requests) == asked, "a pull that is not due must not fetch"
    next_at = re.search(r"next at (\S+)", fourth.stdout)
    assert next_at, fourth.stdout
    wait = (datetime.fromisoformat(next_at.group(1).replace("Z", "+00:00")) - now).total_seconds()
    assert 60 <= wait <= 125, f"Retry-After: 120 should set the next pull ~120 s ahead, got {wait:.0f} s"
    assert snapshot(journal) == store_before

    # New entries at the source reach the feeds at the next publish.
    partner.mode = "ok"
    partner.body = partner_rss([("partner-3", "Ferry timetable for walkers", "Wed, 06 Jan 2021 08:00:00 GMT"),
                                *ITEMS])
    partner.etag, partner.last_modified = '"partner-v2"', "Wed, 06 Jan 2021 08:05:00 GMT"
    fifth = journal.cli("pull", "--force")
    assert fifth.returncode == 0, fifth.stderr
    assert (counts(fifth.stdout)["added"], counts(fifth.stdout)["unchanged"]) == (1, 2), fifth.stdout
    assert b"partner-3" not in (journal.feeds / "atom.xml").read_bytes()
    journal.cli("publish", check=True)
    assert b"partner-3" in (journal.feeds / "atom.xml").read_bytes()
    assert b"partner-3" in (journal.feeds / "labels" / "partners" / "atom.xml").read_bytes()
    assert stored(journal)["partner-3"]["labels"] == ["Partners"]


def test_pull_validators_whatever_the_header_case(journal: Journal, server: HTTPServer) -> None:
    """HTTP header names are case-insensitive (RFC 9110 §5.1); Node apps and proxies often send 'etag'."""
    partner = Partner(server, lower_case=True)
    with_source(journal, partner.url)
    journal.cli("pull", check=True)
    second = journal.cli("pull", "--force")
    assert partner.requests[1].get("if-none-match") == '"partner-v1"', partner.requests[1]
    assert partner.requests[1].get("if-modified-since") == "Tue, 05 Jan 2021 10:00:00 GMT"
    assert "not modified" in second.stdout, second.stdout


def test_pull_retry_after_whatever_the_header_case(journal: Journal, server: HTTPServer) -> None:
    partner = Partner(server, lower_case=True)
    partner.mode = "429"
    with_source(journal, partner.url)
    result = journal.cli("pull")
    assert "retry later" in result.stdout, (result.stdout, result.stderr)


# --- 6. hostile inputs ------------------------------------------------------------------------

ENTRY = """<entry><id>tag:hostile.example,2024:{n}</id><title>{title}</title>
<published>2024-01-01T00:00:00Z</published><content type="html">{content}</content></entry>"""


def billion_laughs() -> str:
    decls = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return ('<?xml version="1.0"?>\n<!DOCTYPE feed [\n' + "\n".join(decls) + "\n]>\n"
            '<feed xmlns="http://www.w3.org/2005/Atom"><id>tag:hostile.example,2024:feed</id><title>t</title>'
            '<updated>2024-01-01T00:00:00Z</updated>'
            + ENTRY.format(n=1, title="&lol9;", content="&lol9;") + "</feed>")


def quadratic_blowup() -> str:
    big = "B" * 100_000
    return ('<?xml version="1.0"?>\n<!DOCTYPE feed [<!ENTITY big "' + big + '">]>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom"><id>tag:hostile.example,2024:feed</id><title>t</title>'
            '<updated>2024-01-01T00:00:00Z</updated>'
            + ENTRY.format(n=1, title="q", content="&big;" * 20_000) + "</feed>")


@pytest.mark.parametrize("bomb", [billion_laughs, quadratic_blowup], ids=["billion-laughs", "quadratic-blowup"])
def test_xml_bombs_are_refused_fast(journal: Journal, tmp_path: Path, bomb) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "bomb.xml"
    source.write_text(bomb(), encoding="utf-8")
    started = time.monotonic()
    result = journal.cli("import", str(source), timeout=30)
    elapsed = time.monotonic() - started
    line = assert_refused(result)
    assert "refused" in line or "entit" in line.lower(), line
    assert elapsed < 5, f"refusing took {elapsed:.1f} s"
    assert stored(journal) == {}


XXE = {
    "general-entity": '<!DOCTYPE feed [<!ENTITY secret SYSTEM "file://{secret}">]>',
    "parameter-entity": '<!DOCTYPE feed [<!ENTITY % ext SYSTEM "file://{dtd}"> %ext;]>',
    "external-dtd": '<!DOCTYPE feed SYSTEM "file://{dtd}">',
}


@pytest.mark.parametrize("variant", list(XXE))
def test_xxe_is_refused_and_the_file_never_leaks(journal: Journal, tmp_path: Path, variant: str) -> None:
    marker = f"XXE-MARKER-{uuid.uuid4().hex}"
    secret = tmp_path / "secret.txt"
    secret.write_text(marker + "\n", encoding="utf-8")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY secret SYSTEM "file://{secret}">', encoding="utf-8")
    source = tmp_path / "xxe.xml"
    source.write_text('<?xml version="1.0"?>\n' + XXE[variant].format(secret=secret, dtd=dtd) + "\n"
                      '<feed xmlns="http://www.w3.org/2005/Atom"><id>tag:hostile.example,2024:feed</id>'
                      "<title>t</title><updated>2024-01-01T00:00:00Z</updated>"
                      + ENTRY.format(n=1, title="Leak &secret;", content="&secret;") + "</feed>", encoding="utf-8")

    result = journal.cli("import", str(source), timeout=30)
    assert_refused(result)
    setup_publish(journal)
    assert stored(journal) == {}
    for text in (result.stdout, result.stderr):
        assert marker not in text
    for f in journal.root.glob("newswire.db*"):
        assert marker.encode() not in f.read_bytes(), f.name
    for path, data in journal.files().items():
        assert marker.encode() not in data, path


@pytest.mark.parametrize("declared", [False, True], ids=["streamed", "content-length"])
def test_answer_over_the_size_limit_is_refused(journal: Journal, server: HTTPServer, declared: bool) -> None:
    total = 50 * MB
    state = {"sent": 0, "done": threading.Event()}

    def body() -> Iterator[bytes]:
        chunk = b"<!-- " + b"x" * (64 * 1024 - 10) + b" -->\n"
        try:
            yield b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">'
            while state["sent"] < total:  # bounded: 800 chunks
                state["sent"] += len(chunk)
                yield chunk
            yield b"</feed>"
        finally:
            state["done"].set()

    def handler(request: Request) -> Response:
        headers = {"Content-Length": str(total + 100)} if declared else {}
        return Response(body(), status=200, content_type="application/atom+xml", headers=headers,
                        direct_passthrough=True)

    server.expect_request("/huge.xml").respond_with_handler(handler)
    journal.write_config(CONFIG + "fetch: {max_bytes: 1048576, timeout: 5}\n")
    result = journal.cli("import", f"http://127.0.0.1:{server.port}/huge.xml", timeout=60)
    line = assert_refused(result)
    assert "1048576" in line and "limit" in line, line
    assert stored(journal) == {}
    state["done"].wait(10)
    assert state["sent"] < total, "the whole 50 MB was sent: the client did not stop reading"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x"])
def test_other_schemes_are_refused(journal: Journal, url: str) -> None:
    line = assert_refused(journal.cli("import", url))
    assert "only http and https" in line, line
    assert "root:" not in line
    assert stored(journal) == {}


@pytest.mark.parametrize("target", ["file:///etc/passwd", "file://{secret}", "ftp://127.0.0.1/x"])
def test_redirect_off_http_is_refused(journal: Journal, server: HTTPServer, tmp_path: Path, target: str) -> None:
    marker = f"REDIRECT-MARKER-{uuid.uuid4().hex}"
    secret = tmp_path / "secret.xml"
    secret.write_text(marker, encoding="utf-8")
    location = target.format(secret=secret)
    server.expect_request("/moved.xml").respond_with_data("", status=302, headers={"Location": location})
    result = journal.cli("import", f"http://127.0.0.1:{server.port}/moved.xml")
    assert_refused(result)
    assert marker not in result.stderr and "root:" not in result.stderr
    assert stored(journal) == {}


def _truncated_atom() -> bytes:
    data = (FIXTURES / "atom.xml").read_bytes()
    return data[: len(data) * 3 // 5]


MALFORMED = {
    "truncated-atom": _truncated_atom,
    "unclosed-tag": lambda: (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">'
                             b"<entry><title>x</entry></feed>"),
    "not-a-feed": lambda: b"<html><body><p>A page, not a feed.</p></body></html>",
    "broken-json": lambda: b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1",',
    "binary": lambda: bytes(range(256)) * 4,
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_source_imports_nothing(journal: Journal, tmp_path: Path, kind: str) -> None:
    setup_import(journal, FIXTURES / "rss10.rdf")
    before = snapshot(journal)
    assert before["posts"]
    source = tmp_path / f"{kind}.xml"
    source.write_bytes(MALFORMED[kind]())
    assert_refused(journal.cli("import", str(source)))
    assert snapshot(journal) == before


# --- 7. an entry from outside changes only what its own source brought ---------------------------


def atom_of(entries: list[tuple[str, str]], *, body: str = "Partner text.") -> str:
    """An Atom feed with these (id, title) entries, dated one day apart."""
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<id>tag:partner.example,2024:feed</id><title>Partner</title><updated>2024-01-09T00:00:00Z</updated>"
            + "".join(f"<entry><id>{entry_id}</id><title>{title}</title><author><name>Mallory</name></author>"
                      f"<published>2024-01-0{n + 1}T00:00:00Z</published><updated>2024-01-0{n + 1}T00:00:00Z</updated>"
                      f'<content type="html">&lt;p&gt;{body} {title}&lt;/p&gt;</content></entry>'
                      for n, (entry_id, title) in enumerate(entries))
            + "</feed>")


def local_post(j: Journal) -> dict[str, object]:
    """One post written in content/, synced; its stored row (with its minted tag id)."""
    j.post("atlas", title="Operation ATLAS", body="The real text.")
    j.cli("sync", check=True)
    [row] = [r for r in stored(j).values() if str(r["source"]).startswith("md:")]
    assert str(row["entry_id"]).startswith("tag:journal.test,2009:post/"), row["entry_id"]
    return row


def problem_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_an_import_never_overwrites_a_post_written_in_content(journal: Journal, tmp_path: Path) -> None:
    """The entry whose id is a local post's minted id is reported and skipped; the rest is imported; the
    local post keeps its title, author and body, and never comes back as a duplicate."""
    row = local_post(journal)
    feed = tmp_path / "partner.xml"
    feed.write_text(atom_of([(str(row["entry_id"]), "Hijacked"), ("tag:partner.example,2024:fine", "Fine")]),
                    encoding="utf-8")

    result = journal.cli("import", str(feed))
    assert result.returncode == 1, (result.stdout, result.stderr)
    [line] = problem_lines(result)
    assert line.startswith("newswire: ") and str(feed) in line and str(row["entry_id"]) in line, line
    assert f"post {row['id']}" in line and "atlas.md" in line, line
    assert counts(result.stdout)["added"] == 1, result.stdout

    posts = stored(journal)
    assert posts[str(row["entry_id"])] == row, "the local post was changed by the import"
    assert posts["tag:partner.example,2024:fine"]["title"] == "Fine"

    journal.cli("publish", check=True)
    assert len(stored(journal)) == 2, f"the local post came back as a duplicate: {sorted(stored(journal))}"
    atom = (journal.feeds / "atom.xml").read_bytes()
    assert atom.count(b"Operation ATLAS") == 1 and b"Hijacked" not in atom


def test_a_pull_never_overwrites_a_post_written_in_content(journal: Journal, server: HTTPServer) -> None:
    row = local_post(journal)
    partner = Partner(server)
    partner.body = atom_of([(str(row["entry_id"]), "Hijacked"), ("tag:partner.example,2024:fine", "Fine")]).encode()
    with_source(journal, partner.url)

    result = journal.cli("pull")
    assert result.returncode == 1, (result.stdout, result.stderr)
    clash = [line for line in problem_lines(result) if str(row["entry_id"]) in line]
    assert len(clash) == 1 and partner.url in clash[0] and "atlas.md" in clash[0], result.stderr
    assert "1 added" in result.stdout, result.stdout
    assert stored(journal)[str(row["entry_id"])] == row
    journal.cli("publish", check=True)
    assert len(stored(journal)) == 2


def two_partners(server: HTTPServer) -> tuple[Partner, Partner]:
    a, b = Partner(server, "/a.xml"), Partner(server, "/b.xml")
    a.body = atom_of([("tag:shared.example,2024:1", "From A"), ("tag:a.example,2024:own", "A alone")]).encode()
    b.body = atom_of([("tag:shared.example,2024:1", "From B"), ("tag:b.example,2024:own", "B alone")]).encode()
    return a, b


def test_a_pull_never_overwrites_an_entry_another_source_brought(journal: Journal, server: HTTPServer) -> None:
    """Two partner feeds carry one id: the first keeps it at every pull; the second's clash is reported,
    and its other entries are pulled."""
    a, b = two_partners(server)
    journal.write_config(CONFIG + f"sources:\n  - {{url: '{a.url}', every: 1h}}\n  - {{url: '{b.url}', every: 1h}}\n")
    for round in range(2):
        a.etag, b.etag = f'"a-{round}"', f'"b-{round}"'  # read afresh each time (no 304)
        result = journal.cli("pull", "--force")
        assert result.returncode == 1, (result.stdout, result.stderr)
        [line] = problem_lines(result)
        assert b.url in line and "tag:shared.example,2024:1" in line and a.url in line, line
        posts = stored(journal)
        assert posts["tag:shared.example,2024:1"]["title"] == "From A"
        assert sorted(posts) == ["tag:a.example,2024:own", "tag:b.example,2024:own", "tag:shared.example,2024:1"]


def test_a_pull_never_overwrites_an_entry_an_import_brought(journal: Journal, server: HTTPServer,
                                                            tmp_path: Path) -> None:
    feed = tmp_path / "export.xml"
    feed.write_text(atom_of([("tag:shared.example,2024:1", "From the export")]), encoding="utf-8")
    imported(journal, feed)
    a, _ = two_partners(server)
    with_source(journal, a.url)
    result = journal.cli("pull")
    assert result.returncode == 1
    [line] = problem_lines(result)
    assert a.url in line and str(feed) in line, line
    assert stored(journal)["tag:shared.example,2024:1"]["title"] == "From the export"
    assert stored(journal)["tag:a.example,2024:own"]["title"] == "A alone"


def test_an_import_of_the_same_file_stays_idempotent_however_it_is_named(journal: Journal) -> None:
    """The same file named relatively (from the journal's folder) and absolutely is one source."""
    feed = journal.root / "partner.xml"
    feed.write_text(atom_of([("tag:partner.example,2024:1", "One"), ("tag:partner.example,2024:2", "Two")]),
                    encoding="utf-8")
    assert imported(journal, "partner.xml")["added"] == 2
    before = snapshot(journal)
    feed.write_text(atom_of([("tag:partner.example,2024:1", "One, again"), ("tag:partner.example,2024:2", "Two")]),
                    encoding="utf-8")
    again = imported(journal, feed.resolve())
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 1, 1), again
    assert stored(journal)["tag:partner.example,2024:1"]["title"] == "One, again"
    feed.write_text(atom_of([("tag:partner.example,2024:1", "One"), ("tag:partner.example,2024:2", "Two")]),
                    encoding="utf-8")
    imported(journal, "./partner.xml")
    assert {k: v for k, v in snapshot(journal).items() if k != "posts"} == \
        {k: v for k, v in before.items() if k != "posts"}
    assert {r["entry_id"]: r["title"] for r in stored(journal).values()} == \
        {"tag:partner.example,2024:1": "One", "tag:partner.example,2024:2": "Two"}


# Who brought the entry first, and who brings it next: (owner, intruder, may the intruder change it?).
# 'file:A' and 'file:B' are two local files, 'url:A' is source A's URL imported by hand, 'pull:A' and
# 'pull:B' are configured sources, 'md' a post in content/ (minted id), 'md-id' one with an explicit id,
# 'legacy' an entry imported before sources were recorded (any outside source may claim it, once).
OWNERSHIP = [
    ("md", "file:A", False), ("md", "pull:A", False), ("md", "url:A", False),
    ("md-id", "file:A", False), ("md-id", "pull:B", False),
    ("file:A", "file:A", True), ("file:A", "file:B", False), ("file:A", "pull:A", False),
    ("pull:A", "pull:A", True), ("pull:A", "url:A", True), ("pull:A", "pull:B", False), ("pull:A", "file:A", False),
    ("url:A", "pull:A", True), ("url:A", "pull:B", False),
    ("legacy", "file:B", True), ("legacy", "pull:B", True),
]


@pytest.mark.parametrize("owner, intruder, allowed", OWNERSHIP, ids=[f"{o}<-{i}" for o, i, _ in OWNERSHIP])
def test_who_may_change_an_entry(journal: Journal, server: HTTPServer, tmp_path: Path, owner: str, intruder: str,
                                 allowed: bool) -> None:
    from newswire.pull import pull

    entry_id = "tag:shared.example,2024:1"
    urls = {"A": Partner(server, "/a.xml"), "B": Partner(server, "/b.xml")}
    files = {"A": tmp_path / "a.xml", "B": tmp_path / "b.xml"}
    # Each source also brings an entry of its own, which it always adds or keeps.
    own = {who: f"tag:own.example,2024:{who}" for who in ("file:A", "file:B", "url:A", "pull:A", "pull:B")}

    def bring(who: str, title: str) -> list[str]:
        kind, _, name = who.partition(":")
        data = atom_of([(entry_id, title), (own[who], f"{who} alone")])
        files[name].write_text(data, encoding="utf-8")
        urls[name].body, urls[name].etag = data.encode(), f'"{title}"'
        if kind == "pull":
            with_source(journal, urls[name].url)
            config = journal.config()
            with open_store(config) as store:
                [result] = pull(config, store, utcnow(), force=True)
            assert result.status == "imported", result.line()
            assert result.report is not None
            return result.report.problems
        config = journal.config()
        with open_store(config) as store:
            return import_source(config, store, str(files[name]) if kind == "file" else urls[name].url,
                                 utcnow()).problems

    if owner in ("md", "md-id"):
        extra = {"id": entry_id} if owner == "md-id" else {}
        journal.post("atlas", title="Owner", **extra)
        journal.cli("sync", check=True)
        entry_id = next(iter(stored(journal)))
    elif owner == "legacy":
        assert bring("file:A", "Owner") == []
        journal.execute("UPDATE posts SET origin = NULL")  # as a store from before origins were kept holds it
    else:
        assert bring(owner, "Owner") == []
    before = stored(journal)[entry_id]

    problems = bring(intruder, "Intruder")
    after = stored(journal)
    assert after[own[intruder]]["title"] == f"{intruder} alone"
    if allowed:
        assert problems == [] and after[entry_id]["title"] == "Intruder"
        assert after[entry_id]["id"] == before["id"]
        if owner == "legacy":  # claimed once: now only that source may change it
            other = "pull:A" if intruder != "pull:A" else "file:A"
            assert len(bring(other, "Third")) == 1 and stored(journal)[entry_id]["title"] == "Intruder"
    else:
        assert len(problems) == 1 and entry_id in problems[0] and f"post {before['id']}" in problems[0], problems
        assert after[entry_id] == before


# --- 8. characters XML cannot carry: settled where text comes in, and never a stuck publish ---------

# What no XML 1.0 document can carry, and what newswire drops with it (C1 controls, noncharacters).
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def json_feed(path: Path, items: list[dict[str, object]]) -> Path:
    """A JSON Feed file; json.dumps writes controls and lone surrogates as \\u escapes, as a hostile feed may."""
    path.write_text(json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": items}),
                    encoding="ascii")
    return path


def stored_strings(j: Journal) -> list[str]:
    return [v for table in ("posts", "authors", "labels") for row in j.rows(f"SELECT * FROM {table}")
            for v in row if isinstance(v, str)]


def test_a_control_character_in_a_json_feed_id_never_stops_publishing(journal: Journal, tmp_path: Path) -> None:
    """The id loses the character at import, the same way at every import (so importing again changes
    nothing), and every publish after it succeeds, its documents verified."""
    feed = json_feed(tmp_path / "feed.json", [
        {"id": "urn:x:\u0001one", "title": "One", "date_published": "2022-01-01T00:00:00Z", "content_html": "<p>1</p>"},
        {"id": "urn:x:two", "title": "Two", "date_published": "2022-01-02T00:00:00Z", "content_html": "<p>2</p>"}])
    assert imported(journal, feed)["added"] == 2
    assert sorted(stored(journal)) == ["urn:x:one", "urn:x:two"]

    result = journal.cli("publish")
    assert result.returncode == 0, (result.stdout, result.stderr)
    ids = [item["id"] for item in json.loads((journal.feeds / "feed.json").read_bytes())["items"]]
    assert ids == ["urn:x:two", "urn:x:one"]
    assert b"<id>urn:x:one</id>" in (journal.feeds / "atom.xml").read_bytes()
    assert journal.cli("verify").returncode == 0

    again = imported(journal, feed)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 2), again


def test_a_lone_surrogate_in_any_field_is_dropped_at_import(journal: Journal, tmp_path: Path) -> None:
    feed = json_feed(tmp_path / "feed.json", [{
        "id": "urn:x:\ud800one", "url": "https://x.example/\udc00p", "title": "Sur\udfffrogate",
        "authors": [{"name": "Ann \ud83d Lee"}], "tags": ["Ta\udbffg"], "date_published": "2022-01-01T00:00:00Z",
        "content_html": "<p>body \ud800 text</p>", "summary": "s\udc00"}])
    result = journal.cli("import", str(feed))
    assert result.returncode == 0 and "Traceback" not in result.stderr, (result.stdout, result.stderr)
    [post] = stored(journal).values()
    assert (post["entry_id"], post["title"], post["author_name"], post["labels"]) == \
        ("urn:x:one", "Surrogate", "Ann Lee", ["Tag"])
    assert not any(XML_FORBIDDEN.search(v) for v in stored_strings(journal))
    assert journal.cli("publish").returncode == 0


@pytest.mark.sqlite_only
def test_a_store_an_older_version_filled_with_controls_still_publishes(journal: Journal, tmp_path: Path) -> None:
    """Strings stored before this rule held (an id, a title, a label, an author's name with controls) are
    cleaned where documents are rendered, so no publish is stuck on them; deleting the post works too."""
    journal.post("atlas", title="Operation ATLAS", labels=("Border Security",))
    imported(journal, json_feed(tmp_path / "feed.json", [
        {"id": "urn:x:partner", "title": "Partner", "date_published": "2022-01-01T00:00:00Z",
         "authors": [{"name": "Ann Lee"}], "content_html": "<p>p</p>"}]))
    journal.cli("sync", check=True)
    journal.execute("UPDATE posts SET entry_id = entry_id || char(1), title = title || char(2, 65535)")
    journal.execute("UPDATE labels SET name = name || char(27)")
    journal.execute("UPDATE authors SET name = name || char(31) WHERE name = 'Ann Lee'")
    result = journal.cli("publish")
    assert result.returncode == 0, (result.stdout, result.stderr)
    atom = (journal.feeds / "atom.xml").read_text(encoding="utf-8")
    assert "<id>urn:x:partner</id>" in atom and "<title>Operation ATLAS</title>" in atom, atom
    assert journal.cli("verify").returncode == 0

    number = journal.cli("post", "show", "urn:x:partner\x01", check=True).stdout
    assert "Partner" in number
    [post_id] = [str(r["id"]) for r in stored(journal).values() if r["entry_id"] == "urn:x:partner\x01"]
    journal.cli("post", "delete", post_id, check=True)
    result = journal.cli("publish")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert 'ref="urn:x:partner"' in (journal.feeds / "atom.xml").read_text(encoding="utf-8")


# Any text at all: every code point (lone surrogates too), and a mix weighted to the troublesome ones.
TROUBLE = "\x00\x01\x08\x0b\x0c\x1b\x1f\x7f\x80\x85\x9f\ud800\udbff\udc00\udfff\ufdd0\ufdef\ufffe\uffff\U0001fffe" \
          "<>&\"' \t\n\r\u2028\u200b\ufeffé"
# Pieces that have broken a parser somewhere: URLs no parser takes, markup ends, deep nesting, references.
PIECES = ["http://[", "//[x]y", "https://x.test/a b", "javascript:alert(1)", "<a href='//[x'>l</a>",
          "<img src=\"http://[\">", "&#1;", "&#xD800;", "]]>", "-->", "<![CDATA[", "<div>" * 300, "\\", "%ZZ"]
ANY_TEXT = st.lists(st.one_of(
    st.text(st.one_of(st.characters(codec=None, exclude_categories=()), st.sampled_from(TROUBLE)), max_size=24),
    st.sampled_from(PIECES)), max_size=3).map("".join)
FIELDS = ("id", "title", "name", "label", "link", "body", "summary", "affiliation")


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _write_sources(j: Journal, f: dict[str, str]) -> tuple[Path, Path]:
    """The same fields as a Markdown post (and one more with only an id), a JSON Feed and an Atom feed."""
    import yaml

    front = {"title": "P " + f["title"], "date": "2009-11-06T10:00:00-05:00", "author": "A " + f["name"],
             "affiliation": f["affiliation"], "labels": [f["label"]], "summary": f["summary"]}
    # A file is UTF-8: a surrogate can reach a body only as a character reference.
    body = "".join(f"&#x{ord(c):x};" if 0xD800 <= ord(c) <= 0xDFFF else c for c in f["body"])
    for name, meta in (("fields", front), ("with-id", {"title": "Id", "date": "2009-11-07", "author": "jmorton",
                                                         "id": f["id"]})):
        (j.content / f"{name}.md").write_text(
            "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + body + "\n", encoding="utf-8")
    json_file = json_feed(j.root.parent / "feed.json", [
        {"id": f["id"], "url": f["link"], "title": f["title"], "authors": [{"name": f["name"]}], "tags": [f["label"]],
         "date_published": "2022-01-01T00:00:00Z", "content_html": f["body"], "summary": f["summary"]},
        {"id": "n:" + f["id"], "title": f["title"], "date_published": "2022-01-02T00:00:00Z",
         "content_text": f["body"]}])
    atom = j.root.parent / "atom.xml"
    atom.write_bytes(atom_of([]).replace("</feed>", "").encode() + (
        f'<entry><id>{_xml_text(f["id"])}</id><title>{_xml_text(f["title"])}</title>'
        f'<link rel="alternate" href="{_xml_text(f["link"])}"/><author><name>{_xml_text(f["name"])}</name></author>'
        f'<category term="{_xml_text(f["label"])}"/><published>2023-01-01T00:00:00Z</published>'
        f'<summary>{_xml_text(f["summary"])}</summary><content type="html">{_xml_text(f["body"])}</content>'
        "</entry></feed>").encode("utf-8", "surrogatepass"))
    return json_file, atom


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({name: ANY_TEXT for name in FIELDS}))
def test_any_text_in_any_field_imports_or_is_refused_in_one_line_and_publishes(fields: dict[str, str]) -> None:
    """Markdown (sync), JSON Feed and Atom (import): each comes in or is refused with one-line messages,
    and the publish after them succeeds with every document verified."""
    from newswire.content import sync
    from newswire.errors import NewswireError
    from newswire.job import check_published

    with tempfile.TemporaryDirectory() as tmp:
        j = Journal(Path(tmp) / "journal")
        j.root.mkdir()
        j.write_config(CONFIG)
        j.content.mkdir()
        sources = _write_sources(j, fields)
        config = j.config()
        messages: list[str] = []
        with open_store(config) as store:
            messages += [str(e) for e in sync(config, store, utcnow()).errors]
            for source in sources:
                try:
                    messages += import_source(config, store, str(source), utcnow()).problems
                except NewswireError as exc:
                    messages.append(str(exc))
        for message in messages:
            assert message and "\n" not in message and "\r" not in message, repr(message)
        report = publish(config, ping=False, sync=False)  # synced above, its messages checked
        assert report.ok, report.errors + [str(p) for r in report.failed for p in r.problems]
        assert report.results and check_published(config).ok
        assert not any(XML_FORBIDDEN.search(v) for v in stored_strings(j))


# --- 9. deep or huge structures: refused, or handled, in bounded time and memory ----------------------


def deep_json(levels: int = 200_000) -> bytes:
    return (b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "deep", '
            b'"date_published": "2022-01-01T00:00:00Z", "title": ' + b"[" * levels + b"]" * levels + b"}]}")


def nested_divs(levels: int = 100_000) -> str:
    return "<div>" * levels + "deep" + "</div>" * levels


def timed_cli(j: Journal, *args: str, limit: float = 20.0) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    result = j.cli(*args, timeout=limit * 3)
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"newswire {' '.join(args)} took {elapsed:.1f} s"
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return result


def test_json_nested_200000_levels_is_refused_in_one_line(journal: Journal, tmp_path: Path) -> None:
    setup_import(journal, FIXTURES / "rss2.xml")
    before = snapshot(journal)
    source = tmp_path / "deep.json"
    source.write_bytes(deep_json())
    line = assert_refused(timed_cli(journal, "import", str(source)))
    assert str(source) in line and "nested" in line, line
    assert snapshot(journal) == before


def test_a_deep_source_fails_alone_and_the_other_sources_are_pulled(journal: Journal, server: HTTPServer) -> None:
    deep = Partner(server, "/deep.json")
    deep.body = deep_json()
    divs = Partner(server, "/divs.json")
    divs.body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "divs", "date_published": "2022-01-01T00:00:00Z", "content_html": nested_divs()},
        {"id": "shallow", "date_published": "2022-01-02T00:00:00Z", "content_html": "<div><p>fine</p></div>"},
    ]}).encode()
    good = Partner(server, "/good.xml")
    journal.write_config(CONFIG + "".join(f"  - {{url: '{p.url}', every: 1h}}\n" for p in (deep, divs, good))
                         .join(["sources:\n", ""]))
    result = timed_cli(journal, "pull")
    assert result.returncode == 1
    assert f"{deep.url}: failed" in result.stderr and "nested" in result.stderr, result.stderr
    assert f"{divs.url}: imported (1 added" in result.stdout, result.stdout
    assert f"{good.url}: imported (2 added" in result.stdout, result.stdout
    [line] = [x for x in result.stderr.splitlines() if "'divs'" in x]
    assert line.startswith(f"newswire: {divs.url}: entry 'divs'") and "nested deeper than 256" in line, line
    assert sorted(stored(journal)) == ["partner-1", "partner-2", "shallow"]


@pytest.mark.parametrize("fmt", ["atom", "json"])
def test_a_body_nested_100000_divs_is_refused_quickly_and_the_rest_imported(journal: Journal, tmp_path: Path,
                                                                          fmt: str) -> None:
    body = nested_divs()
    if fmt == "atom":
        source = tmp_path / "deep.xml"
        source.write_text(atom_of([("tag:deep.example,2024:1", "Deep"), ("tag:deep.example,2024:2", "Shallow")])
                          .replace("Partner text. Deep", _esc(body), 1), encoding="utf-8")
    else:
        source = json_feed(tmp_path / "deep.json", [
            {"id": "tag:deep.example,2024:1", "date_published": "2022-01-01T00:00:00Z", "content_html": body},
            {"id": "tag:deep.example,2024:2", "date_published": "2022-01-02T00:00:00Z", "content_html": "<p>ok</p>"}])
    result = timed_cli(journal, "import", str(source))
    assert result.returncode == 1
    [line] = problem_lines(result)
    assert "'tag:deep.example,2024:1'" in line and "nested deeper than 256 levels" in line, line
    assert sorted(stored(journal)) == ["tag:deep.example,2024:2"]


def _esc(html: str) -> str:
    return html.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_xml_nested_deeper_than_any_feed_is_refused_in_one_line(journal: Journal, tmp_path: Path) -> None:
    source = tmp_path / "deep.xml"
    source.write_text(atom_of([("tag:deep.example,2024:1", "Deep")])
                      .replace("</entry>", "<x:a xmlns:x='urn:x'>" + "<x:a>" * 500_000 + "</x:a>" * 500_000
                               + "</x:a></entry>"), encoding="utf-8")
    line = assert_refused(timed_cli(journal, "import", str(source)))
    assert "nested deeper than 1024 levels" in line, line
    assert stored(journal) == {}


def test_a_markdown_body_nested_100000_divs_is_reported_and_skipped(journal: Journal) -> None:
    """markdown-it passes the HTML through; deeper than parsers can take in bounded time, it is refused at
    sync with the file and line, and the other posts are published (with their relative links made absolute)."""
    journal.post("fine", title="Fine", body='See [the notes](notes.html).')
    journal.post("deep", title="Deep", body=nested_divs() + '\n\n<a href="rel.html">rel</a>')
    result = timed_cli(journal, "publish")
    assert result.returncode == 1
    [line] = problem_lines(result)[:1]
    assert line.startswith("newswire: deep.md:") and "nested deeper than 256 levels" in line, result.stderr
    atom = (journal.feeds / "atom.xml").read_text(encoding="utf-8")
    assert "notes.html" in atom and "Deep" not in atom
    assert 'href="notes.html"' not in atom and 'href="rel.html"' not in atom


def test_more_entries_than_one_source_may_hold_are_refused(journal: Journal, tmp_path: Path) -> None:
    from newswire.importer import MAX_ENTRIES

    source = json_feed(tmp_path / "many.json", [{"id": f"i{n}", "date_published": "2022-01-01T00:00:00Z"}
                                                for n in range(MAX_ENTRIES + 1)])
    line = assert_refused(timed_cli(journal, "import", str(source)))
    assert f"at most {MAX_ENTRIES}" in line, line
    assert stored(journal) == {}


def test_a_huge_attribute_value_is_carried_whole(journal: Journal, tmp_path: Path) -> None:
    """An attribute value over libxml2's 10 MB limit used to end the body there, silently: the text and
    the links after it were lost from the feeds. Now the body is published whole, its links absolute."""
    journal.write_config(CONFIG.replace("formats: [atom, rss, json]", "formats: [json]")
                         + "fetch: {max_bytes: 40000000}\n")
    body = (f'<p>before <a href="https://x.example/{"a" * 10_500_000}">huge</a> after '
            '<a href="rel.html">relative</a></p>')
    source = json_feed(tmp_path / "huge.json", [{"id": "huge", "date_published": "2022-01-01T00:00:00Z",
                                                 "url": "https://x.example/post/", "content_html": body}])
    assert imported(journal, source)["added"] == 1
    result = timed_cli(journal, "publish", limit=60)
    assert result.returncode == 0, result.stderr
    [item] = json.loads((journal.feeds / "feed.json").read_bytes())["items"]
    html = item["content_html"]
    assert len(html) > 10_500_000 and "after" in html, html[-300:]
    assert 'href="https://x.example/post/rel.html"' in html, html[-300:]
