"""The journal's own pages (``paths.pages``): each post's page at its permalink, the home page, a
deleted post's page answered 410 Gone, all verified before they are written, recorded, checked and
removed like the feeds' documents, and rendered again only when what they show changed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import feedparser
import pytest
from lxml import html as lxml_html
from test_serve import Served, _start, _stop

import newswire.pages
from newswire.job import check_published, publish
from newswire.model import Problem

from harness import CONFIG, Journal

PAGES = CONFIG.replace("output: feeds}", "output: feeds, pages: site}")
ATLAS = "2009/11/operation-atlas.html"
BORDER = "2009/04/southwest-border.html"


@pytest.fixture
def site(journal: Journal) -> Journal:
    journal.write_config(PAGES)
    journal.post("border", title="Southwest Border", date="2009-04-07T18:05:00-07:00",
                 labels=("Border Security", "International Cooperation"), body="Border text & more.")
    journal.post("atlas", title="Operation ATLAS", date="2009-11-06T10:30:00-05:00", labels=("Border Security",))
    journal.cli("publish", "--no-ping", check=True)
    return journal


def _pages(journal: Journal) -> dict[str, bytes]:
    root = journal.root / "site"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _written(journal: Journal) -> set[str]:
    report = publish(journal.config(), ping=False)
    assert report.ok, report.as_json()
    return {r.path for r in report.results if r.status == "written"}


def test_publish_writes_each_post_s_page_and_the_home_page(site: Journal) -> None:
    assert set(_pages(site)) == {ATLAS, BORDER, "index.html", ".gone.map"}
    page = lxml_html.fromstring(_pages(site)[BORDER])
    assert page.find(".//h1").text_content() == "Southwest Border"
    assert "Border text & more." in page.text_content()
    assert page.find(".//link[@rel='canonical']").get("href") == "https://journal.test/" + BORDER
    feeds = {link.get("href") for link in page.findall(".//link[@rel='alternate']")}
    assert {"https://journal.test/feeds/atom.xml", "https://journal.test/feeds/authors/jmorton/atom.xml",
            "https://journal.test/feeds/labels/international-cooperation/atom.xml"} <= feeds
    home = lxml_html.fromstring(_pages(site)["index.html"])
    assert [a.get("href") for a in home.findall(".//section[@class='posts']/article/h3/a")] == \
        ["https://journal.test/" + ATLAS, "https://journal.test/" + BORDER]
    assert _pages(site)[".gone.map"] == b""
    assert check_published(site.config()).ok


def test_every_entry_link_in_the_feeds_resolves_to_a_page(site: Journal) -> None:
    for name in ("atom.xml", "rss.xml", "feed.json", "labels/border-security/atom.xml"):
        data = (site.feeds / name).read_bytes()
        links = ([item["url"] for item in json.loads(data)["items"]] if name.endswith(".json")
                 else [entry.link for entry in feedparser.parse(data).entries])
        assert links and all(link.removeprefix("https://journal.test/") in _pages(site) for link in links), links


def test_an_edited_post_rewrites_only_its_page_and_the_home_page(site: Journal) -> None:
    site.post("atlas", title="Operation ATLAS", date="2009-11-06T10:30:00-05:00", labels=("Border Security",),
              body="Cash couriers, again.")
    written = {path for path in _written(site) if path.startswith("/")}
    assert written == {"/" + ATLAS, "/index.html"}
    assert b"Cash couriers, again." in _pages(site)[ATLAS]


def test_a_deleted_post_gets_a_gone_page_restored_its_page_back(site: Journal) -> None:
    before = _pages(site)[ATLAS]
    site.cli("post", "delete", "operation-atlas", check=True)
    assert {"/" + ATLAS, "/.gone.map"} <= _written(site)
    page = lxml_html.fromstring(_pages(site)[ATLAS])
    assert page.find(".//meta[@name='robots']").get("content") == "noindex"
    assert "Removed: Operation ATLAS" in page.find(".//title").text_content()
    assert _pages(site)[".gone.map"] == f'"/{ATLAS}" 1;\n'.encode()
    assert check_published(site.config()).ok
    site.cli("post", "restore", "operation-atlas", check=True)
    _written(site)
    assert _pages(site)[ATLAS] == before and _pages(site)[".gone.map"] == b""


def test_a_post_back_to_draft_loses_its_page(site: Journal) -> None:
    site.post("atlas", title="Operation ATLAS", date="2009-11-06T10:30:00-05:00", labels=("Border Security",),
              draft=True)
    _written(site)
    assert ATLAS not in _pages(site) and BORDER in _pages(site)
    assert _pages(site)[".gone.map"] == b""
    assert check_published(site.config()).ok


def test_a_page_that_does_not_read_back_is_not_written(site: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    real = newswire.pages.read_back

    def fail_posts(data: bytes, page: newswire.pages.Page) -> list[Problem]:
        return [Problem(page.path, "", "body", "x", "y")] if page.kind == "post" else real(data, page)

    before = _pages(site)
    site.post("atlas", title="Operation ATLAS", date="2009-11-06T10:30:00-05:00", labels=("Border Security",),
              body="Cash couriers, again.")
    monkeypatch.setattr(newswire.pages, "read_back", fail_posts)
    report = publish(site.config(), ping=False)
    assert not report.ok and [r.path for r in report.failed] == ["/" + ATLAS]
    assert _pages(site)[ATLAS] == before[ATLAS]


def test_a_removed_page_is_missing_for_verify_and_put_back(site: Journal) -> None:
    (site.root / "site" / BORDER).unlink()
    report = check_published(site.config())
    assert [r.path for r in report.failed] == ["/" + BORDER]
    assert "/" + BORDER in _written(site) and (site.root / "site" / BORDER).is_file()


def test_a_dry_run_writes_no_page(journal: Journal) -> None:
    journal.write_config(PAGES)
    journal.post("atlas", title="Operation ATLAS", date="2009-11-06T10:30:00-05:00")
    journal.cli("publish", "--dry-run", "--no-ping", check=True)
    assert not (journal.root / "site").exists()


@pytest.mark.parametrize(("paths", "message"), [
    ("output: feeds, pages: feeds", "site/../feeds is the output folder (paths.output)"),
    ("output: feeds, pages: .", "is or contains the config's folder"),
    ("output: feeds, pages: site, store: site/newswire.db", "is inside the pages folder"),
])
def test_a_pages_folder_that_cannot_be_is_refused(journal: Journal, paths: str, message: str) -> None:
    journal.write_config(CONFIG.replace("paths: {store: newswire.db, content: content, output: feeds}",
                                        "paths: {content: content, " + paths.replace("pages: feeds",
                                                                                   "pages: site/../feeds") + "}"))
    result = journal.cli("publish", "--no-ping")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (journal.root / "feeds").exists() and not (journal.root / "site").exists()


@pytest.fixture
def served_site(site: Journal) -> Iterator[Served]:
    server = _start(site)
    try:
        yield server
    finally:
        _stop(server)


def test_serve_serves_pages_at_the_site_and_feeds_below_feeds_url_and_a_deleted_post_gone(
        served_site: Served) -> None:
    site = served_site.journal
    assert served_site.get("/" + BORDER).status == 200
    assert served_site.get("/").body == _pages(site)["index.html"]
    atom = served_site.get("/feeds/atom.xml", {"Accept": "application/atom+xml"})
    assert atom.status == 200 and atom.body == (site.feeds / "atom.xml").read_bytes()
    assert served_site.get("/.gone.map").status == 404
    assert served_site.get("/atom.xml").status == 404
    site.cli("post", "delete", "operation-atlas", check=True)
    site.cli("publish", "--no-ping", check=True)
    gone = served_site.get("/" + ATLAS)
    assert gone.status == 410 and gone.body == _pages(site)[ATLAS] and b"noindex" in gone.body
    assert served_site.get("/" + BORDER).status == 200

