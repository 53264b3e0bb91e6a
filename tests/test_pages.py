"""Pages for people: each feed's page, a post's page, the home page and a deleted post's page,
rendered from the model, read back strictly, and checked for what people need of them."""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import html5lib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html

from newswire.config import Config, FeedsConfig, JournalConfig, PathsConfig
from newswire.model import Author, Feed, Label, Post
from newswire.pages import (
    JOURNAL_PAGE,
    Links,
    Page,
    feed_page,
    gone_page,
    home_page,
    page_path,
    post_page,
    post_path,
    read_back,
    render,
)
from newswire.pages.html import CSP, SCRIPT, STYLE
from newswire.pages.readback import as_etree, parse
from newswire.plan import author_feed, journal_feed, label_feed
from newswire.render import Site, entry_view, feed_view

FORMATS = ("atom", "rss", "json")
JOURNAL = JournalConfig(title="Leadership Journal", site_url="https://journal.example.gov/",
                        feeds_url="https://journal.example.gov/feeds/", id_authority="journal.example.gov",
                        id_date="2009", subtitle="News and views from the Department's leaders", language="en",
                        timezone="America/New_York")
MORTON = Author("jmorton", "John Morton", "U.S. Immigration and Customs Enforcement")
FUGATE = Author("afugate", "W. Craig Fugate", "Federal Emergency Management Agency")
BORDER = Label("Border Security", "border-security")
CASH = Label("Cash Smuggling", "cash-smuggling")


def _config(journal: JournalConfig = JOURNAL) -> Config:
    return Config(Path("config.yaml"), journal, (), FeedsConfig(), PathsConfig(Path("s.db"), Path("c"), Path("o")))


def _post(n: int, title: str = "", author: Author = MORTON, labels: tuple[Label, ...] = (BORDER,),
          journal: JournalConfig = JOURNAL, body: str = "", **changes: object) -> Post:
    published = datetime(2010, 1, 1, 15, tzinfo=UTC) + timedelta(days=n)
    slug = f"post-{n}"
    post = Post(entry_id=journal.tag(f"post/{n}"), source=f"{slug}.md", slug=slug, title=title or f"Post number {n}",
                body_html=body or f"<p>The first paragraph of post {n}.</p><p>More.</p>", summary="", author=author,
                labels=labels, published=published, updated=published, url=journal.post_url(slug, published),
                content_hash=f"h{n}")
    return replace(post, **changes)


class World:
    """A journal's feeds and posts, newest first, as the pages are made from them."""

    def __init__(self, posts: list[Post], journal: JournalConfig = JOURNAL, authors: bool = True) -> None:
        config = _config(journal)
        self.site = Site(journal)
        self.journal = journal_feed(config)
        self.morton = author_feed(config, MORTON, "jmorton")
        self.border = label_feed(config, BORDER)
        self.cash = label_feed(config, CASH)
        feeds = (self.journal, *((self.morton,) if authors else ()), self.border, self.cash)
        self.links = Links(journal, feeds, FORMATS)
        self.posts = posts

    def page(self, feed: Feed | None = None, posts: list[Post] | None = None, **paging: int) -> Page:
        feed = feed or self.journal
        posts = self.posts if posts is None else posts
        main = paging.pop("main", 0)
        shown = feed.archive(paging["page"]) if paging.get("page") else feed
        fv = feed_view(shown, [entry_view(p, self.site) for p in posts], self.site, FORMATS,
                       main=feed if main or paging else None, **paging)
        return feed_page(fv, posts, self.site, self.links)

    def home(self) -> Page:
        fv = feed_view(self.journal, [entry_view(p, self.site) for p in self.posts], self.site, FORMATS)
        return home_page(fv, self.posts, self.site, self.links)


@pytest.fixture
def world() -> World:
    return World([_post(3, labels=(BORDER, CASH)), _post(2, author=FUGATE, labels=()), _post(1)])


def _dom(data: bytes) -> lxml_html.HtmlElement:
    return lxml_html.fromstring(data)


def _all_pages(world: World) -> dict[str, Page]:
    deleted = _post(9, deleted_at=datetime(2011, 5, 1, 2, tzinfo=UTC))
    return {"journal": world.page(), "author": world.page(world.morton, world.posts[2:]),
            "label": world.page(world.border, [world.posts[0], world.posts[2]]), "home": world.home(),
            "post": post_page(world.posts[0], world.site, world.links),
            "gone": gone_page(deleted, world.site, world.links)}


# --- rendering and reading back -----------------------------------------------------


def test_every_page_reads_back_as_it_was_made(world: World) -> None:
    for name, page in _all_pages(world).items():
        data = render(page)
        html5lib.HTMLParser(strict=True).parse(data)  # raises on any parse error
        assert read_back(data, page) == [], name
        assert render(page) == data, name  # pure: the same page, the same bytes


def test_a_feed_page_shows_the_feed_and_its_entries(world: World) -> None:
    page = world.page(world.morton, world.posts[2:])
    dom = _dom(render(page))
    assert dom.xpath("string(//h1)") == "Leadership Journal: John Morton, U.S. Immigration and Customs Enforcement"
    assert dom.xpath("string(//p[@class='subtitle'])").startswith("Posts by John Morton")
    assert dom.xpath("string(//p[@class='byline'])") == "U.S. Immigration and Customs Enforcement"
    (entry,) = dom.xpath("//article")
    assert entry.xpath("string(h3/a/@href)") == "https://journal.example.gov/2010/01/post-1.html"
    assert entry.xpath("string(.//p[@class='summary'])") == "The first paragraph of post 1."
    assert entry.xpath("string(.//a[@class='author']/@href)") == "https://journal.example.gov/feeds/authors/jmorton/index.html"
    assert entry.xpath(".//a[@class='label']/@href") == ["https://journal.example.gov/feeds/labels/border-security/index.html"]
    # the subscribe box: each format's address as text, and autodiscovery of each
    assert dom.xpath("//section[@class='subscribe']//code/text()") == [
        f"https://journal.example.gov/feeds/authors/jmorton/{name}" for name in ("atom.xml", "rss.xml", "feed.json")]
    assert dom.xpath("//link[@rel='alternate']/@type") == [
        "application/atom+xml", "application/rss+xml", "application/feed+json"]
    assert dom.xpath("//button[@data-copy]/@hidden") == ["", "", ""]  # shown only by the script
    assert page.path == "authors/jmorton/index.html"


def test_the_journal_page_does_not_take_the_feed_directory_s_name(world: World) -> None:
    assert page_path(world.journal) == JOURNAL_PAGE == "journal.html"
    assert page_path(world.journal.archive(2)) == "archive/2/index.html"
    assert page_path(world.border) == "labels/border-security/index.html"


def test_dates_are_shown_in_the_journal_s_time_zone(world: World) -> None:
    late = _post(5, published=datetime(2010, 3, 1, 3, 30, tzinfo=UTC))  # still February in New York
    dom = _dom(render(world.page(posts=[late])))
    assert dom.xpath("string(//article//time/@datetime)") == "2010-02-28T22:30:00-05:00"
    assert dom.xpath("string(//article//time)") == "2010-02-28"


def test_an_author_or_label_without_a_feed_is_named_without_a_link() -> None:
    world = World([_post(1, labels=(Label("Orphan", "orphan"),))], authors=False)
    dom = _dom(render(world.page()))
    assert dom.xpath("//article//span[@class='author']/text()") == ["John Morton, U.S. Immigration and Customs Enforcement"]
    assert dom.xpath("//article//span[@class='label']/text()") == ["Orphan"]
    assert dom.xpath("//article//a[@class='label']") == []


def test_pages_follow_the_rfc_5005_archive_chain(world: World) -> None:
    main = world.page(world.border, pages=2)
    assert [(rel, link.href) for rel, link in main.pager] == [
        ("prev-archive", "https://journal.example.gov/feeds/labels/border-security/archive/2/index.html")]
    first = world.page(world.border, page=1, pages=2)
    assert first.path == "labels/border-security/archive/1/index.html"
    assert [(rel, link.href) for rel, link in first.pager] == [
        ("current", "https://journal.example.gov/feeds/labels/border-security/index.html"),
        ("next-archive", "https://journal.example.gov/feeds/labels/border-security/archive/2/index.html")]
    newest = world.page(page=2, pages=2)
    assert [(rel, link.href) for rel, link in newest.pager] == [
        ("current", "https://journal.example.gov/feeds/journal.html"),
        ("prev-archive", "https://journal.example.gov/feeds/archive/1/index.html")]
    dom = _dom(render(newest))
    assert dom.xpath("//nav[@class='pager']/a/@rel") == ["current", "prev-archive"]
    assert read_back(render(newest), newest) == []


def test_the_home_page_leads_to_the_journal_s_feed_page(world: World) -> None:
    page = world.home()
    assert (page.path, page.canonical) == ("index.html", "https://journal.example.gov/")
    dom = _dom(render(page))
    assert dom.xpath("string(//h1)") == "Leadership Journal"
    assert [" ".join(t.split()) for t in dom.xpath("//article/h3/a/text()")] == ["Post number 3", "Post number 2",
                                                                                "Post number 1"]
    assert dom.xpath("//nav[@class='pager']/a/@href") == ["https://journal.example.gov/feeds/journal.html"]


def test_a_post_page_has_its_body_feeds_and_canonical_address(world: World) -> None:
    post = replace(world.posts[0], body_html='<p>Read <a href="other.html">this</a>.</p><pre>\n\ncode</pre>',
                   updated=world.posts[0].published + timedelta(days=2))
    page = post_page(post, world.site, world.links)
    assert page.path == post_path(JOURNAL, post.url) == "2010/01/post-3.html"
    data = render(page)
    assert read_back(data, page) == []
    dom = _dom(data)
    assert dom.xpath("string(//link[@rel='canonical']/@href)") == post.url
    assert dom.xpath("string(//div[@class='body']//a/@href)") == "https://journal.example.gov/2010/01/other.html"
    assert dom.xpath("string(//article//time[@class='updated']/@datetime)") == "2010-01-06T10:00:00-05:00"
    titles = dom.xpath("//link[@rel='alternate']/@title")
    assert titles[::3] == ["Leadership Journal (Atom)",
                           "Leadership Journal: John Morton, U.S. Immigration and Customs Enforcement (Atom)",
                           "Leadership Journal: Border Security (Atom)", "Leadership Journal: Cash Smuggling (Atom)"]
    assert dom.xpath("//script") == []  # nothing to copy, nothing to run


def test_a_post_elsewhere_has_no_page_path() -> None:
    assert post_path(JOURNAL, "https://other.example/2010/01/x.html") is None
    assert post_path(JOURNAL, "https://journal.example.gov/2010/%E2%9C%93/") == "2010/✓/index.html"
    assert post_path(JOURNAL, "https://journal.example.gov/a/../../etc/passwd") is None


def test_a_deleted_post_s_page_says_it_is_gone(world: World) -> None:
    page = _all_pages(world)["gone"]
    dom = _dom(render(page))
    assert dom.xpath("string(//meta[@name='robots']/@content)") == "noindex"
    assert dom.xpath("string(//h1)") == "Post number 9"
    assert "This post was removed on 2011-04-30" in " ".join(dom.xpath("string(//main)").split())
    assert dom.xpath("string(//time[@class='gone']/@datetime)") == "2011-04-30T22:00:00-04:00"
    assert read_back(render(page), page) == []


# --- read-back catches every kind of difference -------------------------------------


def _problems(page: Page, rendered: Page) -> list[tuple[str, str]]:
    return [(p.field, p.entry) for p in read_back(render(rendered), page)]


def test_read_back_catches_a_wrong_title(world: World) -> None:
    page = world.page()
    items = list(page.items)
    items[1] = replace(items[1], title="Another title")
    assert _problems(page, replace(page, items=tuple(items))) == [("title", page.items[1].id)]
    assert _problems(page, replace(page, heading="Other journal")) == [("h1", "")]


def test_read_back_catches_a_missing_entry(world: World) -> None:
    page = world.page()
    found = _problems(page, replace(page, items=page.items[:2]))
    assert found == [("entries", "")]


def test_read_back_catches_a_reordered_list(world: World) -> None:
    page = world.page()
    found = _problems(page, replace(page, items=page.items[::-1]))
    assert ("title", page.items[0].id) in found and ("link", page.items[0].id) in found


def test_read_back_catches_each_field_of_an_entry(world: World) -> None:
    page = world.page()
    item = page.items[0]
    changes = {"link": {"link": "https://elsewhere.example/"}, "published": {"published": item.published + timedelta(1)},
               "author": {"author": replace(item.author, text="Someone")}, "labels": {"labels": item.labels[:1]},
               "summary": {"summary": "Other words."}}
    for name, change in changes.items():
        altered = replace(page, items=(replace(item, **change), *page.items[1:]))
        assert _problems(page, altered) == [(name, item.id)], name


def test_read_back_catches_the_page_s_own_fields(world: World) -> None:
    page = world.page(world.border, pages=2)
    assert _problems(page, replace(page, language="fr")) == [("lang", "")]
    assert _problems(page, replace(page, alternates=page.alternates[:2])) == [("alternates", "")]
    assert _problems(page, replace(page, subscribe=page.subscribe[1:])) == [("subscribe", "")]
    assert _problems(page, replace(page, pager=())) == [("pager", "")]
    assert _problems(page, replace(page, canonical="")) == [("canonical", "")]
    post = post_page(world.posts[0], world.site, world.links)
    assert _problems(post, replace(post, body="<p>Other.</p>")) == [("body", "")]
    assert _problems(post, replace(post, post=replace(post.post, labels=()))) == [("labels", post.post.id)]


def test_read_back_catches_a_malformed_page(world: World) -> None:
    page = world.page()
    data = render(page)
    for broken in (data.replace(b"</h3>", b"</h2>", 1), data.replace(b"<!DOCTYPE html>\n", b""),
                   data.replace(b"<p class=\"summary\"", b"<p class=summary\"", 1), b"\x00" + data):
        found = read_back(broken, page)
        assert [p.field for p in found] == ["html"], broken[:80]
        assert "line" in found[0].got


def _canonical(root: ET.Element) -> bytes:
    """A tree as text, without the white space between the page's <html>, <head> and <body> tags,
    which the two parsers place differently and no fact is read from."""
    for el in (root, root.find("head"), root.find("body")):
        assert el is not None
        if not (el.text or "").strip():
            el.text = None
        el.tail = None
        if len(el) and not (el[-1].tail or "").strip():
            el[-1].tail = None
    return ET.tostring(root)


def _html5lib_tree(data: bytes) -> bytes:
    parser = html5lib.HTMLParser(tree=html5lib.getTreeBuilder("etree"), strict=True, namespaceHTMLElements=False)
    return _canonical(parser.parse(data))


def _fast_tree(data: bytes) -> bytes:
    return _canonical(as_etree(parse(data, authored=False)))


def test_the_fast_read_back_tree_is_the_one_the_html_standard_gives(world: World) -> None:
    """Pages without an author's markup are read from lxml's tree; it is html5lib's, the standard's
    reference parser, element for element, text for text, hostile values and all."""
    label, author = Label(HOSTILE, "hostile"), Author("jmorton", HOSTILE, RTL)
    hostile = _post(4, title=HOSTILE, author=author, labels=(label,), summary=HOSTILE + " \U0001fffe")
    pages = [*_all_pages(world).values(), World([hostile, _post(1, title=RTL)]).page(),
             gone_page(replace(hostile, deleted_at=datetime(2011, 5, 1, 2, tzinfo=UTC)), world.site, world.links)]
    for page in pages:
        data = render(page)
        if not page.body:
            assert _fast_tree(data) == _html5lib_tree(data), page.path
        assert read_back(data, page) == []


@pytest.mark.parametrize("body", ["<b><p>bold paragraph</p></b>", '<p>a<svg><circle r="1"/></svg></p>'])
def test_a_body_is_read_back_by_the_standard_s_rules(world: World, body: str) -> None:
    """Sound HTML that libxml2 builds another tree for: a page with a body is read by html5lib."""
    page = post_page(replace(world.posts[0], body_html=body), world.site, world.links)
    data = render(page)
    assert _fast_tree(data) != _html5lib_tree(data)
    assert read_back(data, page) == []
    assert [p.field for p in read_back(data, replace(page, body=page.body.replace("<p>", "<p>x")))] == ["body"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(['<', '>', '&', '"', "'", "a", " ", "\n", "\u00a0", "\u202e", "\x00", "\x07",
                                 "\ufdd0", "&amp;", "</title>", "<b>", "<!--", "-->", "\U0001f600"]), max_size=30))
def test_any_title_or_summary_gives_the_same_tree_to_both_parsers(world: World, parts: list[str]) -> None:
    text = "".join(parts)
    post = replace(world.posts[0], title=text or "t", summary=text, author=Author("jmorton", text or "n", text))
    page = World([post, *world.posts[1:]]).page()
    data = render(page)
    assert _fast_tree(data) == _html5lib_tree(data)
    assert read_back(data, page) == []


# --- what people need: structure, accessibility, looks --------------------------------


def test_each_page_has_landmarks_one_h1_and_headings_in_order(world: World) -> None:
    for name, page in _all_pages(world).items():
        dom = _dom(render(page))
        assert dom.get("lang") == "en", name
        for landmark in ("header", "main", "footer", "nav"):
            assert len(dom.xpath(f"//{landmark}")) >= 1, (name, landmark)
        assert len(dom.xpath("//main")) == 1
        levels = [int(h.tag[1]) for h in dom.xpath("//h1|//h2|//h3|//h4|//h5|//h6")]
        assert levels.count(1) == 1 and levels[0] == 1, (name, levels)
        assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), (name, levels)
        assert dom.xpath("//meta[@name='viewport']/@content") == ["width=device-width, initial-scale=1"]


def test_the_journal_s_language_is_the_page_s() -> None:
    journal = replace(JOURNAL, language="fr-CA")
    world = World([_post(1, journal=journal)], journal=journal)
    for page in (world.page(), world.home(), post_page(world.posts[0], world.site, world.links)):
        assert _dom(render(page)).get("lang") == "fr-CA"


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _palettes() -> dict[str, dict[str, str]]:
    light = dict(re.findall(r"--([a-z]+):(#[0-9a-f]{6})", STYLE.split("@media")[0]))
    dark_block = re.search(r"prefers-color-scheme:dark\)\{:root\{([^}]*)\}", STYLE)
    assert dark_block
    return {"light": light, "dark": dict(re.findall(r"--([a-z]+):(#[0-9a-f]{6})", dark_block.group(1)))}


def test_text_has_enough_contrast_in_light_and_dark() -> None:
    """WCAG AA: 4.5:1 for every text colour on every background it is drawn on."""
    palettes = _palettes()
    for scheme, colours in palettes.items():
        assert set(colours) == {"bg", "fg", "muted", "link", "surface", "border"}, scheme
        for text in ("fg", "muted", "link"):
            for background in ("bg", "surface"):
                ratio = _contrast(colours[text], colours[background])
                assert ratio >= 4.5, f"{scheme}: {text} on {background}: {ratio:.2f}"
    assert _contrast("#777777", "#ffffff") < 4.5  # the check can fail: a grey too light for text


def test_the_style_reads_well_on_any_screen_and_on_paper() -> None:
    assert "system-ui" in STYLE and "max-width:42rem" in STYLE  # system fonts, about 70 characters a line
    assert "@media (prefers-color-scheme:dark)" in STYLE and "@media print" in STYLE
    assert "overflow-wrap:anywhere" in STYLE  # long feed addresses wrap on a phone
    assert not re.search(r"url\(|@import", STYLE)  # nothing fetched


def test_pages_fetch_nothing_and_run_only_their_own_script(world: World) -> None:
    for name, page in _all_pages(world).items():
        dom = _dom(render(page))
        assert dom.xpath("//script/@src|//img/@src|//link[@rel='stylesheet']|//link[@rel='icon']|//iframe") == [], name
        for script in dom.xpath("//script"):
            digest = base64.b64encode(hashlib.sha256(script.text.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in CSP and script.text == SCRIPT
        assert dom.xpath("string(//meta[@http-equiv='Content-Security-Policy']/@content)") == CSP
        assert dom.xpath("//*[@onclick or @onfocus or @onload]") == []  # no inline handlers: CSP would block them
    assert "default-src 'none'" in CSP and "unsafe-inline" not in CSP.split("style-src")[0]


HOSTILE = '<script>alert("x")</script> & "quotes" \'single\' </title><b>'
RTL = "أمن الحدود"


def test_hostile_values_are_text(world: World) -> None:
    label = Label(HOSTILE, "hostile")
    author = Author("jmorton", HOSTILE, RTL)
    post = _post(4, title=HOSTILE, author=author, labels=(label,), summary=HOSTILE + " \U0001fffe")
    world = World([post, _post(1, title=RTL)])
    for page in (world.page(), post_page(post, world.site, world.links)):
        data = render(page)
        assert read_back(data, page) == []
        dom = _dom(data)
        assert dom.xpath("//script[contains(., 'alert')]|//b") == []
        assert HOSTILE in dom.xpath("string(//title)") + dom.xpath("string(//h1)") + dom.xpath("string(//h3)")
    dom = _dom(render(world.page()))
    assert dom.xpath("//h3[a[text()=$t]]/@dir", t=RTL) == ["auto"]  # a right-to-left title runs right to left
    assert dom.xpath("string(//article[1]//p[@class='summary'])") == HOSTILE  # the noncharacter HTML forbids is gone


def test_a_body_is_well_formed_wherever_it_ends(world: World) -> None:
    body = "<p>Open <b>bold <i>both</p><table>stray<tr><td>cell</table><div>unclosed"
    post = replace(world.posts[0], body_html=body)
    page = post_page(post, world.site, world.links)
    data = render(page)
    html5lib.HTMLParser(strict=True).parse(data)
    assert read_back(data, page) == []
    assert _dom(data).xpath("count(//footer)") == 1  # the body did not swallow the rest of the page


def test_a_body_s_headings_stay_below_the_post_s_title(world: World) -> None:
    post = replace(world.posts[0], body_html="<h1>Part one</h1><p>a</p><h2>Detail</h2><h6>Small</h6>")
    page = post_page(post, world.site, world.links)
    data = render(page)
    assert read_back(data, page) == []
    dom = _dom(data)
    assert [h.tag for h in dom.xpath("//h1|//h2|//h3|//h4|//h5|//h6")] == ["h1", "h2", "h3", "h6"]
    assert dom.xpath("string(//h1)") == "Post number 3"
