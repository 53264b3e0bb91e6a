"""Property tests: whatever text a journal holds, every document newswire renders verifies.

Property A works on the model directly (fast, many examples): posts built from
arbitrary Unicode, markup and entities are rendered in every format, read back by
the verifier with no problem, and rendered again to the same bytes. Property B goes
through Markdown files and a full publish (slow, few examples): the publish is ok,
writes nothing outside feeds/, keeps every label feed inside feeds/labels/, and a
feed reader reads every Atom document cleanly with the titles that were written.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import feedparser
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswire.config import JournalConfig
from newswire.formats import FORMATS as REGISTRY
from newswire.formats import document
from newswire.job import publish
from newswire.model import Author, Feed, FeedKind, Label, Post
from newswire.render import Site, entry_view, feed_view
from newswire.text import clean, one_line, slugify, tag_uri
from newswire.verify import same_text

import harness

FORMATS = ("atom", "rss", "json")

# --- strategies ---------------------------------------------------------------------

# Characters XML cannot carry or that readers handle specially: C0/C1 controls, DEL,
# NEL, noncharacters, BOM, line/paragraph separators.
AWKWARD_CHARS = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\x7f", "\x85", "\x9f", "\ufffe", "\uffff",
                 "\ufdd0", "\ufeff", "\u2028", "\u2029", "\t", "\r", "\n", "\r\n", " ", "\xa0", "\u3000"]
# Markup, CDATA ends, comments and entities, valid and not.
MARKUP = ["<b>", "</b>", "</p>", "<p>", "<script>", "</script>", "<style>", "]]>", "<![CDATA[", "<!--", "-->",
          "&amp;", "&nbsp;", "&#0;", "&#x1;", "&#xD800;", "&lt;", "&", "<", ">", '"', "'", "&bogus;",
          '<a href="/rel">', '<a href="https://ok.test/">', "</a>", '<img src="x.png">', "<br/>", "<?pi?>",
          "<![endif]>", "<!DOCTYPE x>", "<html>", "<body>", "<feed>", "<entry>", "<item>"]
# Right-to-left text, bidi controls, combining marks, zero-width characters, astral characters,
# and text that looks like UTF-8 misread as Latin-1.
SCRIPTS = ["\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627", "\u202e", "\u202a", "\u200f", "\u200e",
           "\u2066", "\u2069", "e\u0301", "\u0301", "\u0336", "\u200b", "\u200d", "\U0001f600", "\U0001d11e",
           "\u0130", "\u00df", "\ufb01", "\u2126", "\u1e9e",
           # UTF-8 read as Latin-1 ("mojibake"), which some readers try to undo.
           "\u00c3\u00a9", "\u00c2\u00a1", "\u00c2\u00a3", "\u00e2\u0080\u0099"]

fragments = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")),
    st.sampled_from(AWKWARD_CHARS),
    st.sampled_from(MARKUP),
    st.sampled_from(SCRIPTS),
)
texts = st.lists(fragments, max_size=6).map("".join)
visible_texts = texts.filter(lambda t: one_line(t) != "")
# A body is often a single awkward piece on its own, as well as any mixture.
bodies = fragments | texts

OFFSETS = [0, 60, -300, -240, 330, 345, -570, 840, -720, 765, 525, 1439, -1439]
zones = st.sampled_from(OFFSETS).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC))


@st.composite
def dates(draw: st.DrawFn) -> tuple[datetime, datetime]:
    """(published, updated): aware, whole seconds, in any offsets, updated not earlier."""
    published = draw(instants)
    later = draw(st.sampled_from([timedelta(0), timedelta(seconds=1), timedelta(hours=5), timedelta(days=400)]))
    return published.astimezone(draw(zones)), (published + later).astimezone(draw(zones))


JOURNAL = JournalConfig(
    title="Test Journal", subtitle="A journal for tests", site_url="https://journal.test/",
    feeds_url="https://journal.test/feeds/", id_authority="journal.test", id_date="2009",
    language="en", timezone="America/New_York",
)


@st.composite
def label_lists(draw: st.DrawFn) -> tuple[Label, ...]:
    """Labels as the store holds them: non-empty, one per case-folded name."""
    names = draw(st.lists(visible_texts, max_size=3))
    out: dict[str, Label] = {}
    for name in names:
        out.setdefault(one_line(name).casefold(), Label(name, slugify(name, fallback="label")))
    return tuple(out.values())


@st.composite
def authors(draw: st.DrawFn) -> Author:
    name = draw(visible_texts)
    return Author(key=slugify(name, fallback="author"), name=name, affiliation=draw(texts),
                  email=draw(st.none() | st.just("someone@journal.test")),
                  uri=draw(st.none() | st.just("https://journal.test/people/x")))


@st.composite
def posts(draw: st.DrawFn, number: int) -> Post:
    title = draw(visible_texts)
    published, updated = draw(dates())
    slug = slugify(title, fallback=f"post-{number}")
    body = clean(draw(bodies))
    return Post(
        entry_id=tag_uri(JOURNAL.id_authority, JOURNAL.id_date, f"post/{published:%Y-%m-%d}/{slug}-{number}"),
        source=f"md:post-{number}.md", slug=slug, title=title, body_html=body, summary=draw(texts),
        author=draw(authors()), labels=draw(label_lists()), published=published, updated=updated,
        url=JOURNAL.post_url(slug, published), content_hash="0" * 64,
    )


@st.composite
def journals(draw: st.DrawFn) -> tuple[Site, Feed, list[Post]]:
    n = draw(st.integers(min_value=0, max_value=4))
    items = [draw(posts(i)) for i in range(n)]
    items.sort(key=lambda p: p.published, reverse=True)
    site = Site(JOURNAL, hubs=draw(st.sampled_from([(), ("https://hub.test/",)])),
                content=draw(st.sampled_from(["full", "summary"])))
    kind = draw(st.sampled_from(list(FeedKind)))
    if kind is FeedKind.AUTHOR:
        author = items[0].author if items else draw(authors())
        feed = Feed(kind, author.key, f"authors/{slugify(author.key)}", JOURNAL.tag("feed/author/x"),
                    f"{JOURNAL.title}: {author.signature}", f"Posts by {author.name} in {JOURNAL.title}",
                    author=author)
    elif kind is FeedKind.LABEL:
        labels = [label for p in items for label in p.labels]
        label = labels[0] if labels else Label(draw(visible_texts), "x")
        feed = Feed(kind, label.slug, f"labels/{label.slug}", JOURNAL.tag(f"feed/label/{label.slug}"),
                    f"{JOURNAL.title}: {label.name}", f"Posts labelled “{label.name}” in {JOURNAL.title}",
                    label=label)
    else:
        feed = Feed(kind, "journal", "", JOURNAL.tag("feed"), JOURNAL.title, JOURNAL.subtitle)
    return site, feed, items


def render(fmt: str, site: Site, feed: Feed, items: list[Post]):
    views = [entry_view(p, site) for p in items]
    fv = feed_view(feed, views, site, FORMATS)
    data = document(REGISTRY[fmt], fv, [REGISTRY[fmt].entry(v) for v in views])
    return data, fv, views


# --- Property A: the model, rendered and read back --------------------------------------


@settings(max_examples=400, deadline=None)
@given(journals())
def test_every_rendered_document_verifies(journal: tuple[Site, Feed, list[Post]]) -> None:
    site, feed, items = journal
    for fmt in FORMATS:
        data, fv, views = render(fmt, site, feed, items)
        problems = REGISTRY[fmt].read_back(data, fv, views, feed.path(fmt))
        assert problems == [], f"{fmt}:\n" + "\n".join(map(str, problems))
        again, _, _ = render(fmt, site, feed, items)
        assert again == data, f"{fmt}: rendering twice gave different bytes"


# --- Property B: Markdown files through a full publish ----------------------------------

NOW = datetime(2100, 1, 1, tzinfo=UTC)
ALLOWED_OUTSIDE = ("newswire.db", "newswire.db-wal", "newswire.db-shm", "newswire.db-journal", "newswire.db.lock")


def all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def fold(text: str) -> str:
    return " ".join(text.split())


def as_feedparser_reads(text: str) -> str:
    """feedparser re-decodes text that is valid UTF-8 once encoded as Latin-1 ('Â¡' → '¡',
    feedparser/mixin.py, ``pop``): a reading of the reader's, made on a correct document."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def as_written(value: str) -> str:
    """``value`` as the front matter ``Journal.post`` writes gives it back (YAML reads a raw NEL
    that PyYAML leaves in a quoted scalar as a line break, so it comes back as a space)."""
    return yaml.safe_load(yaml.safe_dump({"v": value}, allow_unicode=True))["v"]


front_matter_texts = visible_texts.filter(lambda t: one_line(as_written(t)) != "")
# Labels that look like paths, reserved names or nothing at all.
path_like = st.sampled_from(["", " ", "../../etc/passwd", "..", ".", "/", "/etc", "a/../../b", "..\\..\\x",
                             "con", "NUL", "~", ".hidden", "feeds/../..", "%2e%2e%2f"])


@st.composite
def markdown_posts(draw: st.DrawFn) -> dict[str, object]:
    return {
        "title": draw(front_matter_texts),
        "author": draw(st.sampled_from(["jmorton", "napolitano"]) | front_matter_texts),
        "labels": tuple(draw(st.lists(texts | path_like, max_size=3))),
        "body": draw(bodies),
        "date": draw(dates())[0].isoformat(),
    }


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(markdown_posts(), min_size=1, max_size=4))
def test_publishing_any_markdown_gives_clean_feeds(drafts: list[dict[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        journal = harness.Journal(Path(tmp) / "journal")
        journal.root.mkdir()
        journal.write_config(harness.CONFIG)
        journal.content.mkdir()
        for i, draft in enumerate(drafts):
            journal.post(f"post-{i}", **draft)
        before = all_files(journal.root)

        report = publish(journal.config(), now=NOW)

        assert report.ok, "publish failed:\n" + "\n".join(
            [str(p) for r in report.failed for p in r.problems] + report.errors
            + [str(e) for e in (report.sync.errors if report.sync else [])])
        new = all_files(journal.root) - before
        outside = {f for f in new if not f.startswith("feeds/") and f not in ALLOWED_OUTSIDE}
        assert outside == set(), f"written outside feeds/: {sorted(outside)}"

        feeds = journal.feeds.resolve()
        labels_dir = feeds / "labels"
        if labels_dir.exists():
            for folder in labels_dir.iterdir():
                assert folder.is_dir() and not folder.is_symlink(), folder
                assert folder.resolve().parent == labels_dir, folder
        for path in feeds.rglob("*"):
            assert path.resolve().is_relative_to(feeds), path

        expected = sorted(fold(as_feedparser_reads(one_line(as_written(str(d["title"]))))) for d in drafts)
        atoms = sorted(feeds.rglob("atom.xml"))
        assert feeds / "atom.xml" in atoms
        titles_by_id: dict[str, str] = {}
        for path in atoms:
            rel = path.relative_to(feeds).parts
            assert len(rel) in (1, 3) and (len(rel) == 1 or rel[0] in ("authors", "labels")), rel
            parsed = feedparser.parse(path.read_bytes())
            assert parsed.bozo == 0, f"{path}: {parsed.get('bozo_exception')!r}"
            for entry in parsed.entries:
                title = fold(entry.get("title", ""))
                # feedparser re-decodes text that looks like UTF-8 read as Latin-1 ('Â¡' → '¡')
                assert any(same_text(e, title) for e in expected), f"{path}: unexpected entry title {title!r}"
                assert titles_by_id.setdefault(entry.id, title) == title, f"{path}: {entry.id}"
            if len(rel) == 1:
                assert sorted(fold(e.get("title", "")) for e in parsed.entries) == expected
