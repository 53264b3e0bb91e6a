"""Rendering is pure and deterministic; verification notices any difference."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from newswire.config import JournalConfig
from newswire.formats import FORMATS, document
from newswire.model import Author, Feed, FeedKind, Label, Post
from newswire.render import Site, entry_view, feed_view

JOURNAL = JournalConfig(title="Test Journal", site_url="https://journal.test/", feeds_url="https://journal.test/feeds/",
                        id_authority="journal.test", id_date="2009", timezone="America/New_York")
SITE = Site(JOURNAL, hubs=("https://hub.test/",))
FEED = Feed(FeedKind.JOURNAL, "journal", "", "tag:journal.test,2009:feed", "Test Journal", "Sub")
EST = timezone(timedelta(hours=-5))


def _post(n: int, **changes: object) -> Post:
    when = datetime(2009, 11, n, 10, 30, tzinfo=EST)
    fields: dict[str, object] = dict(
        entry_id=f"tag:journal.test,2009:post/{n}", source=f"md:{n}.md", slug=f"post-{n}", title=f"Post {n}",
        body_html=f"<p>Body {n} with <a href=\"/rel/{n}\">a link</a> &amp; more.</p>", summary="",
        author=Author("jm", "John Morton", "ICE"), labels=(Label("Border", "border"),), published=when,
        updated=when, url=f"https://journal.test/2009/11/post-{n}.html", content_hash="h")
    fields.update(changes)
    return Post(**fields)  # type: ignore[arg-type]


def _document(fmt: str, posts: list[Post]) -> tuple[bytes, object, list]:  # type: ignore[type-arg]
    views = [entry_view(p, SITE) for p in posts]
    fv = feed_view(FEED, views, SITE, ("atom", "rss", "json"))
    return document(FORMATS[fmt], fv, [FORMATS[fmt].entry(v) for v in views]), fv, views


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_rendering_is_deterministic_and_keeps_the_given_order(fmt: str) -> None:
    posts = [_post(3), _post(2), _post(1)]
    first, fv, views = _document(fmt, posts)
    second, _, _ = _document(fmt, posts)
    assert first == second
    assert first.index(b"post/3") < first.index(b"post/2") < first.index(b"post/1")
    assert FORMATS[fmt].read_back(first, fv, views, "x") == []  # type: ignore[arg-type]


def test_no_build_time_anywhere() -> None:
    data, _, _ = _document("rss", [_post(2)])
    assert str(datetime.now().year).encode() not in data
    data, _, _ = _document("atom", [_post(2)])
    assert b"<updated>2009-11-02T10:30:00-05:00</updated>" in data


@pytest.mark.parametrize("fmt, old, new, field", [
    ("atom", b"<title>Post 2</title>", b"<title>Post 9</title>", "title"),
    ("atom", b"post-2.html", b"post-9.html", "link"),
    ("atom", b"<published>2009-11-02T10:30:00-05:00", b"<published>2009-11-02T10:30:00-04:00", "published"),
    ("atom", b'<category term="Border"/>', b"", "labels"),
    ("atom", b"Body 2", b"Body 9", "content"),
    ("rss", b"<dc:creator>John Morton</dc:creator>", b"<dc:creator>Someone</dc:creator>", "author"),
    ("rss", b'rel="hub"', b'rel="via"', "hub links"),
    ("json", b'"Post 2"', b'"Post 9"', "title"),
    ("json", b'"date_modified":"2009-11-02T10:30:00-05:00"', b'"date_modified":"2009-11-02T10:30:00"',
     "date_modified"),
])
def test_verification_names_the_field_that_differs(fmt: str, old: bytes, new: bytes, field: str) -> None:
    data, fv, views = _document(fmt, [_post(2)])
    assert old in data
    problems = FORMATS[fmt].read_back(data.replace(old, new, 1), fv, views, "atom.xml")  # type: ignore[arg-type]
    # named as itself, or (a schema violation) by its path in the document
    assert any(p.field == field or p.field.endswith("/" + field) for p in problems), problems


def test_verification_refuses_relative_links_and_duplicate_ids() -> None:
    post = _post(2)
    data, fv, views = _document("json", [post, post])
    problems = FORMATS["json"].read_back(data, fv, views, "feed.json")  # type: ignore[arg-type]
    assert any(p.field == "entry ids" for p in problems)
    doc = json.loads(data)
    doc["items"][0]["content_html"] = '<a href="/relative">x</a>'
    problems = FORMATS["json"].read_back(json.dumps(doc).encode(), fv, views, "feed.json")  # type: ignore[arg-type]
    assert any(p.field == "content link" for p in problems)


def test_hostile_text_renders_to_valid_documents() -> None:
    nasty = "x\x00y\x0b<script>]]>&nbsp;\u202eRTL\u0301 \ufffe"
    post = _post(2, title=nasty, body_html="<p>" + nasty + "</p>", labels=(Label(nasty, "x"),),
                 author=Author("x", nasty))
    for fmt in ("atom", "rss", "json"):
        data, fv, views = _document(fmt, [post])
        assert FORMATS[fmt].read_back(data, fv, views, "x") == []  # type: ignore[arg-type]
        assert b"\x00" not in data and b"\x0b" not in data


def test_rss_keeps_full_text_in_content_encoded_even_without_a_summary() -> None:
    post = _post(2, body_html='<p><img src="https://journal.test/a.png" alt=""></p>')
    data, fv, views = _document("rss", [post])
    assert views[0].summary == ""  # type: ignore[index]
    assert b"<content:encoded>" in data and b"<description>" not in data.split(b"<item>")[1]
    assert FORMATS["rss"].read_back(data, fv, views, "rss.xml") == []  # type: ignore[arg-type]
    dropped = data.replace(b"&lt;img src=", b"&lt;span data-x=")
    assert any(p.field == "content" for p in FORMATS["rss"].read_back(dropped, fv, views, "rss.xml"))  # type: ignore[arg-type]


# --- how readers read each element ---------------------------------------------------------

TRICKY = "code <b>not bold</b>, a literal &amp; and 5 < 10, R&D, AT&T > ATT"


def _html_text(markup: str) -> str:
    """What a reader that takes ``markup`` as HTML shows: html5lib, as browsers parse it."""
    import html5lib

    return "".join(html5lib.parseFragment(markup, namespaceHTMLElements=False).itertext())


def test_rss_description_is_html_that_shows_the_summary_exactly() -> None:
    """Readers take an item's description as HTML (RSS 2.0 and the RSS Advisory Board profile):
    the plain-text summary is escaped as HTML, so tags, '&' and '<' show as written."""
    import feedparser
    from lxml import etree

    data, fv, views = _document("rss", [_post(2, summary=TRICKY)])
    description = etree.fromstring(data).findtext("channel/item/description")
    assert _html_text(description) == TRICKY
    parsed = feedparser.parse(data)  # a feedparser-based reader, sanitising as it does by default
    assert _html_text(parsed.entries[0].summary) == TRICKY
    assert FORMATS["rss"].read_back(data, fv, views, "rss.xml") == []  # type: ignore[arg-type]


def test_verification_reads_the_rss_description_as_html() -> None:
    """A description holding the summary as raw text (escaped for XML only, as before) reads
    differently as HTML, and verification says so."""
    from html import escape

    data, fv, views = _document("rss", [_post(2, summary=TRICKY)])
    head, item = data.split(b"<item>")
    raw = b"<description>" + escape(TRICKY, quote=False).encode() + b"</description>"
    wrong = head + b"<item>" + re.sub(rb"<description>[^<]*</description>", raw, item)
    assert wrong != data
    problems = FORMATS["rss"].read_back(wrong, fv, views, "rss.xml")  # type: ignore[arg-type]
    assert [p.field for p in problems] == ["summary"], problems


def test_rss_plain_text_uses_hexadecimal_character_references() -> None:
    """The RSS Advisory Board profile: every element of RSS itself but the item's description is
    plain text, and '&', '<' and '>' in it are best written &#x26; &#x3C; &#x3E;, the form the
    most aggregators read right. The description, HTML, is written the same way."""
    post = _post(2, title="AT&T <b>5 < 10</b> > 4", labels=(Label("R&D <x>", "r-d"),), summary=TRICKY)
    feed = Feed(FeedKind.JOURNAL, "journal", "", "tag:journal.test,2009:feed", "Tom & Jerry <3", "News & <views>")
    views = [entry_view(post, SITE)]
    fv = feed_view(feed, views, SITE, ("atom", "rss", "json"))
    data = document(FORMATS["rss"], fv, [FORMATS["rss"].entry(v) for v in views])
    texts = re.findall(rb"<([a-zA-Z]+)(?: [^>]*)?>([^<]*)</\1>", data)  # the elements of RSS itself
    assert {b"title", b"category", b"description"} <= {tag for tag, _ in texts}
    for tag, text in texts:
        assert b"&amp;" not in text and b"&lt;" not in text and b"&gt;" not in text, (tag, text)
    assert b"<title>AT&#x26;T &#x3C;b&#x3E;5 &#x3C; 10&#x3C;/b&#x3E; &#x3E; 4</title>" in data
    assert b"<title>Tom &#x26; Jerry &#x3C;3</title>" in data
    assert b"<description>News &#x26; &#x3C;views&#x3E;</description>" in data
    assert FORMATS["rss"].read_back(data, fv, views, "rss.xml") == []  # type: ignore[arg-type]


# --- namespaces ------------------------------------------------------------------------------

AT_NS = "http://purl.org/atompub/tombstones/1.0"
SCHEMA = "http://schema.org/"


def _declared(data: bytes) -> set[str]:
    from lxml import etree

    return {uri for el in etree.fromstring(data).iter(etree.Element) for uri in el.nsmap.values()}


def _plain_post(n: int) -> Post:
    """A post whose author has no affiliation, so its entry needs no schema: element."""
    return _post(n, author=Author("x", "Someone"))


@pytest.mark.parametrize("fmt", ["atom", "rss"])
@pytest.mark.parametrize("content", ["full", "summary"])
@pytest.mark.parametrize("complete", [True, False])
@pytest.mark.parametrize("tombstones", [False, True])
@pytest.mark.parametrize("affiliated", [False, True])
def test_documents_declare_only_the_namespaces_they_use(fmt: str, content: str, complete: bool, tombstones: bool,
                                                        affiliated: bool) -> None:
    from test_schema import unused_namespaces

    site = Site(JOURNAL, hubs=(), content=content)
    post = _post(2) if affiliated else _plain_post(2)
    views = [entry_view(post, site)]
    stones = [("tag:journal.test,2009:post/gone", datetime(2009, 12, 1, tzinfo=UTC))] if tombstones else []
    fv = feed_view(FEED, views, site, ("atom", "rss", "json"), complete=complete, tombstones=stones)
    data = document(FORMATS[fmt], fv, [FORMATS[fmt].entry(v) for v in views])
    assert unused_namespaces(data) == []
    assert (AT_NS in _declared(data)) == (tombstones and fmt == "atom")
    assert (SCHEMA in _declared(data)) == affiliated
    assert FORMATS[fmt].read_back(data, fv, views, "x") == []  # type: ignore[arg-type]


def test_an_entry_fragment_is_reused_in_documents_that_declare_different_namespaces() -> None:
    """Fragments carry no declarations of their own: one fragment, rendered once, reads the
    same in a document that needs only its namespaces and in one that needs more."""
    for fmt in ("atom", "rss"):
        plain, affiliated = entry_view(_plain_post(2), SITE), entry_view(_post(3), SITE)
        fragment = FORMATS[fmt].entry(plain)
        alone = document(FORMATS[fmt], feed_view(FEED, [plain], SITE, ("atom", "rss", "json")), [fragment])
        fv = feed_view(FEED, [affiliated, plain], SITE, ("atom", "rss", "json"))
        both = document(FORMATS[fmt], fv, [FORMATS[fmt].entry(affiliated), fragment])
        assert fragment in alone and fragment in both
        assert SCHEMA not in _declared(alone) and SCHEMA in _declared(both)
        assert FORMATS[fmt].read_back(both, fv, [affiliated, plain], "x") == []  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_verification_refuses_a_namespace_declared_unused(fmt: str) -> None:
    from newswire.verify import verify_assembled

    views = [entry_view(_plain_post(2), SITE)]
    fv = feed_view(FEED, views, SITE, ("atom", "rss", "json"))
    data = document(FORMATS[fmt], fv, [FORMATS[fmt].entry(v) for v in views])
    root = b"<feed " if fmt == "atom" else b"<rss "
    extra = data.replace(root, root + f'xmlns:at="{AT_NS}" '.encode(), 1)
    assert extra != data
    problems = FORMATS[fmt].read_back(extra, fv, views, "x")  # type: ignore[arg-type]
    assert [p.field for p in problems] == ["namespaces"], problems
    problems = verify_assembled(FORMATS[fmt], extra, FORMATS[fmt].skeleton(fv), fv, views, "x")  # type: ignore[arg-type]
    assert [p.field for p in problems] == ["namespaces"], problems


# --- JSON Feed 1.0 readers -------------------------------------------------------------------


def _author_feed_document(post: Post) -> tuple[bytes, object, list]:  # type: ignore[type-arg]
    feed = Feed(FeedKind.AUTHOR, "jm", "authors/jm", "tag:journal.test,2009:feed/author/jm",
                "Test Journal: John Morton", "Posts by John Morton", author=post.author)
    views = [entry_view(post, SITE)]
    fv = feed_view(feed, views, SITE, ("atom", "rss", "json"))
    return document(FORMATS["json"], fv, [FORMATS["json"].entry(v) for v in views]), fv, views


def test_json_feed_writes_the_1_0_author_beside_authors() -> None:
    """JSON Feed 1.1 keeps ``author`` (deprecated) for readers of 1.0, which read nothing else:
    every item has it, and so has every document that names its authors (an author's feed)."""
    data, _, _ = _document("json", [_post(2)])
    doc = json.loads(data)
    assert "authors" not in doc and "author" not in doc  # the journal's feed has many authors
    item = doc["items"][0]
    assert item["author"] == item["authors"][0] and item["author"]["name"] == "John Morton"
    data, fv, views = _author_feed_document(_post(2))
    doc = json.loads(data)
    assert doc["author"] == doc["authors"][0] and doc["author"]["name"] == "John Morton"
    assert FORMATS["json"].read_back(data, fv, views, "feed.json") == []  # type: ignore[arg-type]


@pytest.mark.parametrize("where", ["item", "feed"])
@pytest.mark.parametrize("how", ["drop", "change"])
def test_verification_checks_the_1_0_author(where: str, how: str) -> None:
    data, fv, views = _author_feed_document(_post(2))
    doc = json.loads(data)
    target = doc["items"][0] if where == "item" else doc
    if how == "drop":
        del target["author"]
    else:
        target["author"] = {"name": "Someone Else"}
    problems = FORMATS["json"].read_back(json.dumps(doc).encode(), fv, views, "feed.json")  # type: ignore[arg-type]
    assert [(p.entry != "", p.field) for p in problems] == [(where == "item", "author")], problems


def test_verification_checks_the_feed_authors() -> None:
    data, fv, views = _author_feed_document(_post(2))
    doc = json.loads(data)
    doc["author"] = {"name": "Someone Else"}
    doc["authors"] = [doc["author"]]
    problems = FORMATS["json"].read_back(json.dumps(doc).encode(), fv, views, "feed.json")  # type: ignore[arg-type]
    assert [p.field for p in problems] == ["authors"], problems


# --- the directory ---------------------------------------------------------------------------


def test_directory_lists_authors_by_the_name_they_sign_with() -> None:
    from newswire.render.index import Listing, html_page, opml

    people = [Author("afugate", "W. Craig Fugate", "FEMA"), Author("jmorton", "John Morton", "ICE"),
              Author("napolitano", "janet Napolitano", "DHS"), Author("zed", "Ángela Álvarez", "")]
    listings = [Listing(FEED, 4, None)] + [
        Listing(Feed(FeedKind.AUTHOR, a.key, f"authors/{a.key}", f"tag:journal.test,2009:feed/author/{a.key}",
                     f"Test Journal: {a.signature}", "", author=a), 1, None) for a in people]
    page = html_page(JOURNAL, listings, ("atom", "rss", "json")).decode()
    shown = re.findall(r"<strong>([^<]*)</strong>", page)[1:]
    assert shown == ["Ángela Álvarez", "janet Napolitano, DHS", "John Morton, ICE", "W. Craig Fugate, FEMA"]
    listed = re.findall(r'authors/(\w+)/atom.xml', opml(JOURNAL, listings, ("atom",)).decode())
    assert listed == ["zed", "napolitano", "jmorton", "afugate"]  # the OPML in the same order


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_a_document_missing_a_namespace_its_entries_use_is_refused(fmt: str) -> None:
    """Splicing fragments without declaring what they use (the skeleton declares no schema:)
    gives a document no parser accepts; both ways of verifying say so."""
    from newswire.verify import verify_assembled

    views = [entry_view(_post(2), SITE)]
    fv = feed_view(FEED, views, SITE, ("atom", "rss", "json"))
    skeleton = FORMATS[fmt].skeleton(fv)
    closing = b"</feed>" if fmt == "atom" else b"</channel>"
    at = skeleton.rindex(closing)
    naive = skeleton[:at] + FORMATS[fmt].entry(views[0]) + b"\n" + skeleton[at:]
    assert SCHEMA not in _declared(skeleton) and b"<schema:affiliation>" in naive
    assert FORMATS[fmt].read_back(naive, fv, views, "x") != []  # type: ignore[arg-type]
    assert verify_assembled(FORMATS[fmt], naive, skeleton, fv, views, "x") != []  # type: ignore[arg-type]
