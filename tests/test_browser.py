"""The feeds as people see them: headless Chromium on the preview server, at a feed's URL (its page
for people, or where no page was published the feed view) and the feed directory."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import feedparser
import html5lib
import pytest
from lxml import html as lxml_html

from browser import ARTEFACTS, SIZES, run_chromium
from harness import Journal

pytestmark = pytest.mark.usefixtures("chromium")


@pytest.fixture
def server(example: Journal) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "newswire", "--config", str(example.config_path), "serve",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={"NEWSWIRE_QUIET_SERVE": "1", "PATH": "/usr/bin:/bin"} | dict(__import__("os").environ))
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the preview server did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _chromium(*args: str, tmp: Path) -> str:
    return run_chromium(*args, tmp=tmp)[0]


def _without_pages(example: Journal) -> None:
    """The output as a host without pages for people has it (an older publish): feeds and directory only."""
    for page in [example.feeds / "journal.html", *(p for p in example.feeds.rglob("*/index.html"))]:
        page.unlink()


@pytest.mark.parametrize("page", ["atom.xml", "labels/border-security/rss.xml", "authors/jmorton/feed.json"])
def test_a_browser_at_a_feed_url_shows_its_page_with_the_entries_in_order(example: Journal, server: str,
                                                                          tmp_path: Path, page: str) -> None:
    out, console = run_chromium("--virtual-time-budget=3000", "--dump-dom", server + page, tmp=tmp_path)
    assert console == [], console
    dom = lxml_html.fromstring(out)
    source = feedparser.parse((example.feeds / page.replace("feed.json", "atom.xml")).read_bytes())
    shown = [(" ".join(a.text_content().split()), a.get("href")) for a in dom.xpath("//article/h3/a")]
    assert shown == [(e.title, e.link) for e in source.entries] and shown, shown
    assert dom.xpath("string(//h1)") == source.feed.title
    addresses = dom.xpath("//section[@class='subscribe']//code/text()")
    assert [a.rsplit("/", 1)[-1] for a in addresses] == ["atom.xml", "rss.xml", "feed.json"]
    name = "journal" if page == "atom.xml" else page.rpartition("/")[0].replace("/", "-")
    for size, window in SIZES.items():
        shot = ARTEFACTS / "served" / f"{name}-{size}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        run_chromium(f"--screenshot={shot}", f"--window-size={window}", server + page, tmp=tmp_path)
        assert shot.stat().st_size > 5_000


def _newest_titles(example: Journal, n: int = 3) -> list[str]:
    return [e.title for e in feedparser.parse((example.feeds / "atom.xml").read_bytes()).entries[:n]]


@pytest.mark.parametrize("page", ["atom.xml", "rss.xml", "labels/border-security/atom.xml"])
def test_feed_view_renders_the_newest_entries(example: Journal, server: str, tmp_path: Path, page: str) -> None:
    _without_pages(example)
    dom = lxml_html.fromstring(_chromium("--dump-dom", server + page, tmp=tmp_path))
    shown = [" ".join(h.text_content().split()) for h in dom.xpath("//h2[@class='entry-title']")]
    source = feedparser.parse((example.feeds / page).read_bytes())
    assert shown[:3] == [e.title for e in source.entries[:3]]
    assert dom.xpath("string(//h1[@id='feed-title'])") == source.feed.title
    assert dom.xpath("string(//input[@aria-label='Feed address']/@value)").endswith(page)
    shot = tmp_path / f"feed-view-{page.replace('/', '-')}.png"
    _chromium(f"--screenshot={shot}", "--window-size=1000,1400", server + page, tmp=tmp_path)
    assert shot.stat().st_size > 10_000


def _articles(dom: lxml_html.HtmlElement) -> list[str]:
    return [" ".join(a.text_content().split()) for a in dom.xpath("//article")]


def test_atom_and_rss_views_show_each_entry_alike(example: Journal, server: str, tmp_path: Path) -> None:
    """The same entry looks the same in either view: title, date (one format), author and summary."""
    _without_pages(example)
    views = {page: lxml_html.fromstring(_chromium("--dump-dom", server + page, tmp=tmp_path))
             for page in ("atom.xml", "rss.xml")}
    atom, rss = _articles(views["atom.xml"]), _articles(views["rss.xml"])
    assert atom == rss and len(atom) == len(feedparser.parse((example.feeds / "atom.xml").read_bytes()).entries)
    source = feedparser.parse((example.feeds / "atom.xml").read_bytes()).entries
    for article, entry in zip(views["rss.xml"].xpath("//article"), source):
        shown = " ".join(article.xpath("string(.//div[@class='meta'])").split())
        assert shown.startswith(entry.published[:10] + " · "), shown  # the date as written, in its own zone
        assert " ".join(article.xpath("string(p)").split()) == " ".join(entry.summary.split())


def test_feed_view_speaks_the_journal_language(example: Journal, server: str, tmp_path: Path) -> None:
    example.write_config(example.config_path.read_text().replace("language: en", "language: fr-CA"))
    example.cli("publish", check=True)
    _without_pages(example)
    for page in ("atom.xml", "rss.xml", "labels/border-security/rss.xml"):
        dom = lxml_html.fromstring(_chromium("--dump-dom", server + page, tmp=tmp_path))
        assert dom.get("lang") == "fr-CA", page


def test_directory_lists_every_feed_with_counts(example: Journal, server: str, tmp_path: Path) -> None:
    dom = lxml_html.fromstring(_chromium("--dump-dom", server, tmp=tmp_path))
    text = " ".join(dom.text_content().split())
    for title in ("Leadership Journal", "John Morton, U.S. Immigration and Customs Enforcement",
                  "Border Security", "Cash Smuggling"):
        assert title in text
    assert "posts" in text
    hrefs = dom.xpath("//a/@href")
    assert "atom.xml" in hrefs and "labels/border-security/feed.json" in hrefs
    # Authors by the name they sign with, not by their keys in the config.
    authors = [" ".join(n.text_content().split()) for n in dom.xpath("//section[h2='Authors']//strong")]
    assert authors[0].startswith("Janet Napolitano") and authors[-1].startswith("W. Craig Fugate"), authors
    assert authors == sorted(authors, key=str.casefold)
    alternates = dom.xpath("//link[@rel='alternate']/@type")
    assert set(alternates) == {"application/atom+xml", "application/rss+xml", "application/feed+json"}
    shot = tmp_path / "feed-directory-phone.png"
    _chromium(f"--screenshot={shot}", "--window-size=390,844", server, tmp=tmp_path)  # a phone's viewport
    assert shot.stat().st_size > 10_000


def test_directory_is_valid_html(example: Journal) -> None:
    parser = html5lib.HTMLParser(strict=True)
    parser.parse((example.feeds / "index.html").read_bytes())  # raises on any parse error
    page = (example.feeds / "index.html").read_text()
    assert '<meta name="viewport"' in page
