"""Pages for people, published: every feed and archive page gets its page beside its documents,
verified before it is written, put in place, checked and removed like the documents, and
rendered again only when what it shows changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from lxml import html as lxml_html

import newswire.pages
from newswire.job import check_published, publish
from newswire.model import Problem

from harness import CONFIG, Journal

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FEEDS_URL = "https://journal.test/feeds/"


def _journal(journal: Journal, posts: int = 8, entries: int = 3) -> None:
    journal.write_config(CONFIG.replace("entries: 25", f"entries: {entries}"))
    for i in range(posts):
        journal.post(f"p{i:02d}", title=f"Post {i:02d}", date=(datetime(2009, 1, 1, 9) + timedelta(days=i)).isoformat(),
                     labels=("Border Security",) if i % 2 else ("Cyber",))


def _page(journal: Journal, rel: str) -> lxml_html.HtmlElement:
    return lxml_html.fromstring((journal.feeds / rel).read_bytes())


def _links(page: lxml_html.HtmlElement) -> list[tuple[str, str]]:
    return [(a.text_content(), a.get("href")) for a in page.findall(".//section[@class='posts']/article/h3/a")]


def _local(url: str) -> str:
    assert url.startswith(FEEDS_URL), url
    return url.removeprefix(FEEDS_URL)


def test_every_feed_and_archive_page_has_a_page_listing_its_documents_entries_in_order(journal: Journal) -> None:
    _journal(journal)
    assert publish(journal.config(), now=NOW).ok
    documents = sorted(p.relative_to(journal.feeds).parent.as_posix() for p in journal.feeds.rglob("atom.xml"))
    assert "archive/2" in documents and "labels/cyber/archive/1" in documents
    for folder in documents:
        page = "journal.html" if folder == "." else f"{folder}/index.html"
        atom = feedparser.parse((journal.feeds / folder / "atom.xml").read_bytes())
        assert _links(_page(journal, page)) == [(e.title, e.link) for e in atom.entries], page
    # The pages follow the documents' RFC 5005 chain: from the journal's page to its oldest.
    seen, page = [], "journal.html"
    for _ in range(10):
        seen.append(page)
        older = _page(journal, page).find(".//nav[@class='pager']/a[@rel='prev-archive']")
        if older is None:
            break
        page = _local(older.get("href"))
    assert seen == ["journal.html", "archive/2/index.html", "archive/1/index.html"]
    # Entries link their labels' and authors' pages, which exist.
    linked = {_local(a.get("href")) for a in _page(journal, "journal.html").iter("a")
              if a.get("href", "").startswith(FEEDS_URL) and a.get("href").endswith(".html")}
    assert {"labels/cyber/index.html", "authors/jmorton/index.html"} <= linked
    assert all((journal.feeds / rel).is_file() for rel in linked), linked


def test_a_page_that_does_not_read_back_names_its_feed_and_field_and_is_not_written(
        journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    _journal(journal)
    real = newswire.pages.read_back

    def fail_one(data: bytes, expected: newswire.pages.Page) -> list[Problem]:
        if expected.path == "labels/cyber/index.html":
            return [Problem(expected.path, "", "subtitle", expected.subtitle, "something else")]
        return real(data, expected)

    monkeypatch.setattr(newswire.pages, "read_back", fail_one)
    report = publish(journal.config(), now=NOW)
    assert not report.ok
    assert [(r.path, r.feed, [p.field for p in r.problems]) for r in report.failed] == [
        ("labels/cyber/index.html", "labels/cyber", ["subtitle"])]
    assert not (journal.feeds / "labels/cyber/index.html").exists()
    assert (journal.feeds / "labels/cyber/atom.xml").is_file() and (journal.feeds / "journal.html").is_file()
    monkeypatch.setattr(newswire.pages, "read_back", real)
    retry = publish(journal.config(), now=NOW + timedelta(hours=1))
    assert retry.ok and [r.path for r in retry.results if r.status == "written"] == ["labels/cyber/index.html"]


def test_a_page_is_rendered_again_only_when_its_feed_or_the_feeds_it_links_changed(journal: Journal) -> None:
    _journal(journal)
    assert publish(journal.config(), now=NOW).ok
    pages = {p: p.stat().st_mtime_ns for p in journal.feeds.rglob("*.html")}
    # An edit to one Cyber post: its label's, author's and journal's pages that hold it, nothing else.
    journal.post("p06", title="Post 06, corrected", date=(datetime(2009, 1, 7, 9)).isoformat(), labels=("Cyber",))
    report = publish(journal.config(), now=NOW + timedelta(hours=1))
    written = sorted(r.path for r in report.results if r.status == "written" and r.path.endswith(".html"))
    assert written == ["authors/jmorton/index.html", "journal.html", "labels/cyber/index.html"]
    assert all(p.stat().st_mtime_ns == when for p, when in pages.items()
               if p.relative_to(journal.feeds).as_posix() not in written)
    # Fewer formats: every page's subscribe box and autodiscovery change.
    journal.write_config(CONFIG.replace("entries: 25", "entries: 3").replace("[atom, rss, json]", "[atom, rss]"))
    report = publish(journal.config(), now=NOW + timedelta(hours=2))
    assert report.ok
    assert all(b"feed.json" not in p.read_bytes() for p in journal.feeds.rglob("*/index.html"))
    assert b"feed.json" not in (journal.feeds / "journal.html").read_bytes()


def test_pages_are_checked_by_verify_restored_by_publish_and_removed_with_their_feed(journal: Journal) -> None:
    _journal(journal)
    assert publish(journal.config(), now=NOW).ok
    good = (journal.feeds / "labels/cyber/index.html").read_bytes()
    (journal.feeds / "labels/cyber/index.html").write_bytes(good.replace(b"Post 06", b"Post 66"))
    (journal.feeds / "journal.html").unlink()
    check = journal.cli("verify")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "labels/cyber/index.html" in check.stdout + check.stderr and "journal.html" in check.stdout + check.stderr
    assert sorted(r.path for r in check_published(journal.config(), now=NOW).failed) == [
        "journal.html", "labels/cyber/index.html"]
    dry = publish(journal.config(), now=NOW, dry_run=True)
    assert not (journal.feeds / "journal.html").exists() and dry.ok
    assert publish(journal.config(), now=NOW).ok
    assert (journal.feeds / "labels/cyber/index.html").read_bytes() == good
    assert (journal.feeds / "journal.html").is_file()
    assert journal.cli("verify").returncode == 0
    # Every Cyber post relabelled: the label's feed goes, and its pages with it.
    for i in range(0, 8, 2):
        journal.post(f"p{i:02d}", title=f"Post {i:02d}", date=(datetime(2009, 1, 1, 9) + timedelta(days=i)).isoformat(),
                     labels=("Border Security",))
    assert publish(journal.config(), now=NOW + timedelta(hours=1)).ok
    assert not (journal.feeds / "labels/cyber").exists()
    assert b"labels/cyber/" not in (journal.feeds / "journal.html").read_bytes()
