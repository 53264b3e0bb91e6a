"""The pages as people see them: headless Chromium loads a feed page, a label page, a post page
and the home page from a loopback server, with screenshots at desktop and phone widths kept in
tests/artefacts/pages/ (not committed)."""

from __future__ import annotations

import functools
import http.server
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import html as lxml_html

from newswire.config import Config, FeedsConfig, JournalConfig, PathsConfig
from newswire.model import Author, Label, Post
from newswire.pages import Links, Page, feed_page, home_page, post_page, read_back, render
from newswire.plan import author_feed, journal_feed, label_feed
from newswire.render import Site, entry_view, feed_view

from browser import ARTEFACTS, SIZES, run_chromium

ARTEFACTS = ARTEFACTS / "pages"
FORMATS = ("atom", "rss", "json")
LONG = "Supercalifragilisticexpialidocious-and-then-some-more-words-without-any-break-at-all-in-them"


pytestmark = pytest.mark.usefixtures("chromium")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Served:
    base: str
    root: Path
    pages: dict[str, Page]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A journal's pages, rendered and read back, served on 127.0.0.1 (its site_url and feeds_url)."""
    root = tmp_path_factory.mktemp("site")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(base, root, _publish(base, root))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _publish(base: str, root: Path) -> dict[str, Page]:
    journal = JournalConfig(title="Leadership Journal", site_url=base, feeds_url=base + "feeds/",
                            id_authority="journal.example.gov", id_date="2009", language="en",
                            subtitle="News and views from the Department's leaders", timezone="America/New_York")
    config = Config(Path("config.yaml"), journal, (), FeedsConfig(), PathsConfig(Path("s"), Path("c"), Path("o")))
    morton = Author("jmorton", "John Morton", "U.S. Immigration and Customs Enforcement")
    border, long = Label("Border Security", "border-security"), Label(LONG, "long")
    posts = []
    for n in range(6, 0, -1):  # newest first, as a feed holds them
        when = datetime(2010, 1, 1, 15, tzinfo=UTC) + timedelta(days=n)
        posts.append(Post(journal.tag(f"post/{n}"), f"p{n}.md", f"post-{n}", f"Post number {n}: {LONG}" if n == 5
                          else f"Post number {n}", f"<p>Paragraph of post {n}, {LONG}.</p><pre>code line {LONG}</pre>"
                          f"<table><tr><td>{LONG}</td><td>{LONG}</td></tr></table>", "", morton,
                          (border, long) if n % 2 else (border,), when, when, journal.post_url(f"post-{n}", when), "h"))
    feeds = (journal_feed(config), author_feed(config, morton, "jmorton"), label_feed(config, border),
             label_feed(config, long))
    site, links = Site(journal), Links(journal, feeds, FORMATS)

    def view(feed_index: int, shown: list[Post]) -> Page:
        fv = feed_view(feeds[feed_index], [entry_view(p, site) for p in shown], site, FORMATS, pages=1)
        return feed_page(fv, shown, site, links)

    journal_fv = feed_view(feeds[0], [entry_view(p, site) for p in posts], site, FORMATS)
    pages = {"feed": view(0, posts), "label": view(3, posts[1::2]), "post": post_page(posts[1], site, links),
             "home": home_page(journal_fv, posts[:3], site, links)}
    for name, page in pages.items():
        data = render(page)
        assert read_back(data, page) == [], name
        target = root / ("" if name in ("post", "home") else "feeds") / page.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (root / "frame.html").write_text(FRAME)
    return pages


# Loads a page in a 360 px wide frame and writes, once it has loaded, how wide its content is.
FRAME = """<!DOCTYPE html><html><head><title>frame</title></head><body>
<iframe id="f" style="width:360px;height:740px;border:0"></iframe>
<script>
const f = document.getElementById("f");
f.onload = () => { const d = f.contentDocument.documentElement;
  document.body.dataset.widths = d.scrollWidth + " " + d.clientWidth; };
f.src = decodeURIComponent(location.hash.slice(1));
</script></body></html>"""


def _url(site: Served, name: str) -> str:
    page = site.pages[name]
    return site.base + ("" if name in ("post", "home") else "feeds/") + page.path


@pytest.mark.parametrize("name", ["feed", "label", "post", "home"])
def test_a_page_renders_its_entries_in_order_without_console_errors(site: Served, tmp_path: Path, name: str) -> None:
    out, console = run_chromium("--virtual-time-budget=3000", "--dump-dom", _url(site, name), tmp=tmp_path)
    assert console == [], console  # nothing blocked by the page's policy, no script errors
    dom = lxml_html.fromstring(out)
    page = site.pages[name]
    if page.post:
        assert dom.xpath("string(//article/h1)") == page.post.title
        assert LONG in dom.xpath("string(//div[@class='body'])")
    else:
        shown = [" ".join(a.text_content().split()) for a in dom.xpath("//article/h3/a")]
        assert shown == [item.title for item in page.items] and len(shown) >= 3
        # the script ran under the policy: each address has its copy button
        assert len(dom.xpath("//button[@data-copy][not(@hidden)]")) == len(FORMATS)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for size, window in SIZES.items():
        shot = ARTEFACTS / f"{name}-{size}.png"
        run_chromium(f"--screenshot={shot}", f"--window-size={window}", _url(site, name), tmp=tmp_path)
        assert shot.stat().st_size > 5_000
        print(f"screenshot: {shot}")


@pytest.mark.parametrize("name", ["feed", "label", "post", "home"])
def test_a_page_fits_a_phone_without_sideways_scrolling(site: Served, tmp_path: Path, name: str) -> None:
    out, _ = run_chromium("--virtual-time-budget=3000", "--dump-dom", f"{site.base}frame.html#{_url(site, name)}",
                       tmp=tmp_path)
    widths = lxml_html.fromstring(out).xpath("string(//body/@data-widths)")
    scroll, client = map(int, widths.split())
    assert client == 360 and scroll <= client, widths


def test_the_console_check_sees_errors(site: Served, tmp_path: Path) -> None:
    """The check above can fail: a page whose script throws is caught."""
    (site.root / "broken.html").write_text("<!DOCTYPE html><title>x</title><script>undefinedCall()</script>")
    _, console = run_chromium("--dump-dom", site.base + "broken.html", tmp=tmp_path)
    assert any("undefinedCall" in line for line in console), console


def test_dark_mode_is_used_when_asked_for(site: Served, tmp_path: Path) -> None:
    shot = ARTEFACTS / "feed-phone-dark.png"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    run_chromium(f"--screenshot={shot}", "--window-size=360,740", "--blink-settings=preferredColorScheme=0",
              _url(site, "feed"), tmp=tmp_path)
    light = tmp_path / "feed-phone-light.png"
    run_chromium(f"--screenshot={light}", "--window-size=360,740", _url(site, "feed"), tmp=tmp_path)
    assert _corner(shot) != _corner(light)


def _corner(png: Path) -> bytes:
    """The first pixels of a screenshot's image data: enough to tell a dark page from a light one."""
    data = png.read_bytes()
    chunks, i = b"", 8
    while i < len(data):
        length = int.from_bytes(data[i:i + 4], "big")
        if data[i + 4:i + 8] == b"IDAT":
            chunks += data[i + 8:i + 8 + length]
        i += 12 + length
    return zlib.decompress(chunks)[:40]
